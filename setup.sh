#!/bin/sh
# setup.sh - install what is missing (Debian 12 packages), build, then either
# run the example workflow on this machine or run the whole test suite.
#
#   ./setup.sh demo    # build and run examples/scripthut.lua's "diamond" workflow
#   ./setup.sh test    # build and run the whole suite (ctest), the browser test, plus the
#                      # AddressSanitizer + UBSan build of it
#   ./setup.sh build   # just install and build
#
# Runs as root without prompts (CI has no standard input); as another user it
# uses sudo only when packages are actually missing.
set -eu

cd "$(dirname "$0")"

BUILD_PACKAGES="build-essential cmake pkg-config liblua5.4-dev lua-cjson-dev libssh2-1-dev
libcurl4-openssl-dev libcivetweb-dev libjansson-dev libssl-dev libsqlite3-dev libedit-dev"
TEST_PACKAGES="libcmocka-dev bats lua5.4 lua-busted jq sqlite3 tmux python3 python3-venv
clang-format shellcheck zsh fish groff-base"
# The `browser` test (tests/browser/): Debian's chromium, driven by playwright-core from npm.
# Node and npm come from Debian only when the machine has none (e.g. NodeSource's nodejs
# already brings npm).
BROWSER_PACKAGES="chromium"
command -v node >/dev/null 2>&1 || BROWSER_PACKAGES="$BROWSER_PACKAGES nodejs"
command -v npm >/dev/null 2>&1 || BROWSER_PACKAGES="$BROWSER_PACKAGES npm"
# The `testbed` tests (a real Slurm + sshd on 127.0.0.1): tests/testbed/testbed-up.sh installs
# these when missing (add slurmdbd mariadb-server with TESTBED_ACCOUNTING=1).
TESTBED_PACKAGES="slurmctld slurmd slurm-client munge openssh-server openssh-client"

missing_packages() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || printf '%s ' "$p"
    done
}

install_packages() {
    missing=$(missing_packages "$@")
    [ -z "$missing" ] && return 0
    echo "setup.sh: installing Debian packages: $missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
}

build() {
    dir=$1
    shift
    cmake -S . -B "$dir" -DSCRIPTHUT_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}

jobs=$(nproc)
# The package lists are words separated by blanks: split on purpose.
# shellcheck disable=SC2086
case "${1:-demo}" in
build)
    install_packages $BUILD_PACKAGES $TEST_PACKAGES
    build build
    ;;
demo)
    install_packages $BUILD_PACKAGES $TEST_PACKAGES
    build build
    ./build/scripthut --config examples/scripthut.lua workflow run diamond --watch
    ;;
test)
    install_packages $BUILD_PACKAGES $TEST_PACKAGES $BROWSER_PACKAGES
    build build
    install_packages $TESTBED_PACKAGES
    # Everything but the browser and slow tests; the testbed (a real Slurm and
    # sshd on 127.0.0.1, tests/testbed/README.md) is brought up by ctest itself.
    (cd build && ctest --output-on-failure -j "$jobs" -LE 'browser|slow')
    # The dashboard in a real browser, on its own (chromium wants the cores); its
    # screenshots land in build/tests/browser-artifacts/.
    (cd build && ctest --output-on-failure -L browser)
    # The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DSCRIPTHUT_SANITIZE=ON
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j "$jobs" -L 'unit|integration')
    ;;
*)
    echo "usage: ./setup.sh [demo|test|build]" >&2
    exit 2
    ;;
esac

# helpers.bash - shared setup of the testbed bats files that drive scripthut
# against the real Slurm + sshd (slurm.bats, proxyjump.bats, backend_status.bats,
# stacks.bats):
# a temp HOME and data dir per test, a scratch dir in the test user's home,
# and the config of a Slurm backend reached over ssh.

load ../integration/helpers.bash

setup_file() {
    : "${TESTBED_SSH_HOST:?run through tests/testbed/with-env.sh}"
}

setup() {
    TEST_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/scripthut-testbed.XXXXXX")"
    export HOME="$TEST_ROOT/home"
    export XDG_CONFIG_HOME="$HOME/.config"
    export XDG_DATA_HOME="$HOME/.local/share"
    WORK="$TEST_ROOT/work"
    mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$WORK"
    unset SCRIPTHUT_SERVER SCRIPTHUT_LUA_PATH
    cd "$WORK" || return 1
    THOME="$(getent passwd "$TESTBED_SSH_USER" | cut -d: -f6)"
    RDIR="$THOME/t-$(basename "$TEST_ROOT")"
    install -d -o "$TESTBED_SSH_USER" "$RDIR"
}

teardown() {
    cd / || true
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" daemon stop >/dev/null 2>&1 || true
    kill_leftovers
    # Jobs this test left behind: only those working in this test's dir
    # (other helpers' jobs share the queue).
    local ids
    ids="$(squeue --noheader --user="$TESTBED_SSH_USER" --format='%i %Z' 2>/dev/null |
        awk -v d="$RDIR" 'index($2, d) == 1 {print $1}')"
    # shellcheck disable=SC2086 # one id per word
    [ -z "$ids" ] || scancel $ids 2>/dev/null || true
    rm -rf "$TEST_ROOT" "$RDIR"
}

# testbed_config SSH_FIELDS BACKEND_FIELDS: a Slurm backend "hpc" with these
# extra fields (each list ending in a comma, or empty), then the workflows read
# from stdin.
testbed_config() {
    {
        printf 'backend "hpc" { type = "slurm", %s ssh = {\n' "$2"
        printf '  host = "%s", port = %s, user = "%s",\n' "$TESTBED_SSH_HOST" \
            "$TESTBED_SSH_PORT" "$TESTBED_SSH_USER"
        printf '  key_path = "%s", known_hosts = "%s", %s\n} }\n' "$TESTBED_SSH_KEY" \
            "$TESTBED_SSH_KNOWN_HOSTS" "$1"
        printf 'settings { poll_interval = 1 }\n'
        cat
    } > "$WORK/scripthut.lua"
}

# config [SSH_FIELDS]: the same with the backend's defaults.
config() {
    testbed_config "${1:-}" ""
}

shc() {
    sh --config "$WORK/scripthut.lua" "$@"
}

run_workflow() {
    run shc workflow run "$1" --watch --json
    # shellcheck disable=SC2034,SC2154 # RUN_ID is for the tests; output is bats' run's
    RUN_ID="$(printf '%s\n' "$output" | head -n 1 | jq -r '.run_id // .id' 2>/dev/null)"
}

task_field() { # RUN TASK FIELD
    shc run view "$1" --json | jq -r --arg t "$2" ".items[] | select(.task.id == \$t) | .$3"
}

# True once `backend status hpc --json` matches the jq filter.
hpc_status_matches() {
    shc backend status hpc --json 2>/dev/null | jq -e "$1" >/dev/null
}

# Direct-tcpip requests the bastion's sshd has logged so far.
bastion_tunnels() {
    grep -c server_request_direct_tcpip "$TESTBED_BASTION_LOG" || true
}

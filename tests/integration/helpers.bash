# helpers.bash - shared setup for the end-to-end CLI tests (bats 1.8).
#
# Each test runs in its own temp dir outside the repo, with HOME,
# XDG_CONFIG_HOME and XDG_DATA_HOME inside it (so config discovery, the data
# dir and ~ all point there), and stops any engine and task it started.
# Every command and every wait is bounded: a broken engine fails a test, it
# never hangs the suite.
#
# Needs: SCRIPTHUT_BIN (the built binary), jq (apt package `jq`), timeout.

bats_require_minimum_version 1.5.0

: "${SCRIPTHUT_BIN:?set SCRIPTHUT_BIN to the scripthut binary}"
export BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-180}"

# Seconds any single scripthut invocation may take (watchers included).
SH_TIMEOUT="${SH_TIMEOUT:-90}"

setup() {
    TEST_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/scripthut-cli.XXXXXX")"
    TEST_ROOT="$(cd "$TEST_ROOT" && pwd -P)"
    export HOME="$TEST_ROOT/home"
    export XDG_CONFIG_HOME="$HOME/.config"
    export XDG_DATA_HOME="$HOME/.local/share"
    WORK="$TEST_ROOT/work"
    mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$WORK"
    unset SCRIPTHUT_SERVER SCRIPTHUT_LUA_PATH
    cd "$WORK" || return 1
}

teardown() {
    cd / || true
    "$SCRIPTHUT_BIN" daemon stop >/dev/null 2>&1 || true
    kill_leftovers
    rm -rf "$TEST_ROOT"
}

# Kills processes still working inside this test's dir (engine, tasks):
# targeted by their cwd, never by a name pattern.  One find reads every
# process's cwd: a readlink per process costs seconds on a loaded machine.
kill_leftovers() {
    local pids=() link pid
    while IFS= read -r link; do
        pid=${link#/proc/}
        pid=${pid%/cwd}
        [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] || [ "$pid" = "$PPID" ] || pids+=("$pid")
    done < <(find /proc/[0-9]*/cwd -maxdepth 0 \( -lname "$TEST_ROOT" -o -lname "$TEST_ROOT/*" \) \
        2>/dev/null)
    [ "${#pids[@]}" -eq 0 ] && return 0
    echo "# teardown: killing leftover processes ${pids[*]}" >&3
    kill -TERM "${pids[@]}" 2>/dev/null || true
    sleep 0.5
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# The binary under test, always with a deadline (a watcher that never ends
# gets SIGTERM, releases the engine and exits).
sh() {
    timeout --kill-after=5 "$SH_TIMEOUT" "$SCRIPTHUT_BIN" "$@"
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds;
# fails with a message after SECONDS.
wait_for() {
    local limit="$1"; shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out after ${limit}s waiting for: $*" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Prints what the last `run` captured; called by the assertions on failure.
# shellcheck disable=SC2154 # status and output: set by bats' run
show_output() {
    echo "--- status: $status"
    echo "--- stdout:"
    printf '%s\n' "$output"
    if [ -n "${stderr+x}" ]; then
        echo "--- stderr:"
        printf '%s\n' "$stderr"
    fi
}

assert_status() {
    if [ "$status" -ne "$1" ]; then
        echo "expected exit status $1"
        show_output
        return 1
    fi
}

assert_contains() {
    if [[ "$output" != *"$1"* ]]; then
        echo "expected stdout to contain: $1"
        show_output
        return 1
    fi
}

assert_stderr_contains() {
    if [[ "${stderr-}" != *"$1"* ]]; then
        echo "expected stderr to contain: $1"
        show_output
        return 1
    fi
}

# run_field ID JQ_FILTER: a field of `run view ID --json`.
run_field() {
    sh run view "$1" --json | jq -r "$2"
}

# True once run ID has the given status.
run_has_status() {
    [ "$(run_field "$1" .status 2>/dev/null)" = "$2" ]
}

# True once the task of run ID has the given status.
task_has_status() {
    [ "$(sh run view "$1" --json 2>/dev/null |
        jq -r --arg t "$2" '.items[] | select(.task.id == $t) | .status')" = "$3" ]
}

# Submits COMMAND as a task (extra flags after it) and prints the run id.
submit_task() {
    sh task run --json "$@" | jq -r .id
}

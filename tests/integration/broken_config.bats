#!/usr/bin/env bats
# broken_config.bats - a config that does not load never locks a user out of
# the runs already going (docs/cli.md, "Broken config"): the commands that
# need only the settings (run list/view/watch/logs/cancel/delete, daemon,
# status) take them from the user file evaluated alone, warn in one line
# naming the error and the data dir used, and refuse when the settings
# themselves cannot be established.

load helpers

USER_CONFIG() {
    echo "$XDG_CONFIG_HOME/scripthut/config.lua"
}

# A running task printing "started" then sleeping; prints the run id.
running_run() {
    sh task run "echo started; sleep 120" --id long "$@" >/dev/null
    local id
    id=$(sh run list --json | jq -r '.runs[0].id')
    wait_for 60 log_has "$id" long started
    echo "$id"
}

log_has() {
    sh run logs "$1" "$2" 2>/dev/null | grep -q "$3"
}

@test "a syntax error in the project file: run view, logs and cancel of a running run still work" {
    local id
    id=$(running_run)
    printf 'workflow "sweep" {\n  tasks = { { id = "a", command = "true" } }\n' >scripthut.lua
    local warning="Warning: the config does not load: $WORK/scripthut.lua:3:"
    local dir="data dir $XDG_DATA_HOME/scripthut"

    run --separate-stderr sh run view "$id"
    assert_status 0
    assert_contains "Run $id"
    assert_contains "running"
    assert_stderr_contains "$warning"
    assert_stderr_contains "using the default settings ($dir)"
    # shellcheck disable=SC2154 # stderr: set by bats' run --separate-stderr
    [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { show_output; false; }

    run --separate-stderr sh run logs "$id" long
    assert_status 0
    [ "$output" = started ] || { show_output; false; }
    assert_stderr_contains "$warning"

    run --separate-stderr sh run list --json
    assert_status 0
    echo "$output" | jq -e --arg id "$id" '.runs[0].id == $id' >/dev/null || { show_output; false; }

    run --separate-stderr sh daemon status
    assert_status 0
    assert_contains "Engine running"

    run --separate-stderr sh status
    assert_status 0
    assert_contains "! $WORK/scripthut.lua:3:"
    assert_contains "Data dir:  $XDG_DATA_HOME/scripthut"
    assert_contains "Runs:      1 (running=1)"

    # What needs the workflows still says why it cannot run.
    run --separate-stderr sh workflow list
    assert_status 1
    assert_stderr_contains "Error: $WORK/scripthut.lua:3:"

    run --separate-stderr sh run cancel "$id"
    assert_status 0
    assert_contains "Cancelled run $id"
    assert_stderr_contains "$warning"
    [ "$(sh run view "$id" --json 2>/dev/null | jq -r .status)" = cancelled ]
}

@test "the settings come from the user file alone when only the project file is broken" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    echo 'settings { data_dir = "~/runs-here" }' >"$(USER_CONFIG)"
    sh task run "true" --id t --watch >/dev/null
    echo 'workflow "broken" {' >scripthut.lua
    run --separate-stderr sh run list
    assert_status 0
    assert_contains "_adhoc/t"
    assert_stderr_contains "using the settings of $(USER_CONFIG) (data dir $HOME/runs-here)"
}

@test "a broken settings block: the settings commands refuse with a clear message" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    echo 'settings { data_dir = 42 }' >"$(USER_CONFIG)"
    local cmd
    for cmd in "run list" "run view abc" "run logs abc t" "run cancel abc" "daemon status"; do
        # shellcheck disable=SC2086
        run --separate-stderr sh $cmd
        assert_status 1
        assert_stderr_contains "Error: cannot establish the settings (data dir, server): $(USER_CONFIG):1: settings: data_dir must be a path"
        [ -z "$output" ] || { show_output; false; }
    done
    run --separate-stderr sh status
    assert_status 0
    assert_contains "! cannot establish the settings (data dir, server)"
}

@test "a project file that declares settings and does not parse: refused, not the defaults" {
    printf 'settings { data_dir = "./runs" }\nworkflow "x" {\n' >scripthut.lua
    run --separate-stderr sh run list
    assert_status 1
    assert_stderr_contains "Error: cannot establish the settings (data dir, server): $WORK/scripthut.lua:3:"
}

@test "cancelling a run whose backend's definition is the broken part says which definition it uses" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { }\nbackend "mine" { type = "local" }\n' >"$(USER_CONFIG)"
    local id
    id=$(running_run --backend mine)
    printf 'settings { }\nbackend "mine" { type = "local", max_concurrent = "many" }\n' \
        >"$(USER_CONFIG)"
    run --separate-stderr sh run cancel "$id"
    assert_status 0
    assert_contains "Cancelled run $id"
    assert_stderr_contains "Warning: the config does not load: $(USER_CONFIG):2: backend \"mine\""
    assert_stderr_contains "Note: run $id is on backend \"mine\", the broken part of the config; the cancel reaches it through the definition the run was submitted with"
    [ "$(sh run view "$id" --json 2>/dev/null | jq -r .status)" = cancelled ]
}

#!/usr/bin/env bats
# lua.bats - `scripthut lua`: scripts' exit statuses, the scripthut module from
# the command line, the examples in examples/lua/, and the interactive prompt
# driven through a pseudo-terminal (tmux).  docs/lua-api.md.

load helpers

# This file's teardown also stops the tmux server of the prompt tests.
eval "helpers_$(declare -f teardown)"
teardown() {
    teardown_repl
    helpers_teardown
}

EXAMPLES="$SCRIPTHUT_SOURCE_DIR/examples/lua"

# --- exit statuses -----------------------------------------------------------

@test "a script's exit status follows os.exit, and an error exits 1 with a traceback" {
    run sh lua -e 'os.exit(3)'
    assert_status 3
    run sh lua -e 'os.exit(true)'
    assert_status 0
    run sh lua -e 'os.exit(false)'
    assert_status 1

    run --separate-stderr sh lua -e 'local function f() error("boom") end f()'
    assert_status 1
    assert_stderr_contains "boom"
    assert_stderr_contains "stack traceback"

    echo 'x = = 1' >bad.lua
    run --separate-stderr sh lua bad.lua
    assert_status 1
    assert_stderr_contains "bad.lua:1:"

    run sh lua <<<'os.exit(5)'
    assert_status 5
}

@test "scripts get the scripthut module as a global and through require" {
    run sh lua -e 'print(scripthut == require "scripthut", (scripthut.server()))'
    assert_status 0
    [ "$output" = "$(printf 'true\tlocal')" ] || { show_output; false; }

    run sh lua <<<'print(type(scripthut.submit))'
    assert_status 0
    [ "$output" = function ] || { show_output; false; }
}

@test "lua --config chooses the config the module uses" {
    cat >other.lua <<'LUA'
workflow "only-here" { tasks = { { id = "t", command = "true" } } }
LUA
    run sh lua --config other.lua -e 'print(scripthut.config().workflows[1].name)'
    assert_status 0
    [ "$output" = only-here ] || { show_output; false; }
}

@test "the config sandbox does not get the scripthut module" {
    cat >scripthut.lua <<'LUA'
workflow "w" { tasks = function() return { { id = "t", command = tostring(require "scripthut") } } end }
LUA
    run --separate-stderr sh workflow view w
    assert_status 1
    assert_stderr_contains "not available in config files"
}

@test "a script submits, watches and reads logs; failures come back as nil, message" {
    cat >flow.lua <<'LUA'
local run = assert(scripthut.submit({ id = "hi", command = "echo hi there" }, { watch = true }))
io.write(run.status, " ", scripthut.logs(run.id, "hi"))
local none, err, status = scripthut.run("missing")
print(none, err, status)
LUA
    run sh lua flow.lua
    assert_status 0
    assert_contains "completed hi there"
    assert_contains "Run 'missing' not found	404"
}

# --- the examples ------------------------------------------------------------

@test "example: a parameter sweep with a final aggregation step" {
    run sh lua "$EXAMPLES/sweep.lua" 4 "$WORK/results"
    assert_status 0
    assert_contains "5 tasks"
    assert_contains "sum of squares: 30"
}

@test "example: resubmit the failed tasks of a run" {
    run sh lua -e '
      local run = scripthut.submit({
        { id = "prep", command = "true" },
        { id = "check", command = "test -f ready", deps = { "prep" }, working_dir = arg[1] },
        { id = "report", command = "echo reported", deps = { "check" } },
      }, { name = "nightly", watch = true })
      print(run.id, run.status)' "$WORK"
    assert_status 0
    local id="${output%%$'\t'*}"
    assert_contains "failed"

    touch "$WORK/ready"
    run sh lua "$EXAMPLES/resubmit_failed.lua" "$id"
    assert_status 0
    assert_contains "resubmitting 2 task(s)"
    assert_contains "completed"
    new_id="$(sh run list --json | jq -r '.runs[0].id')"
    [ "$(run_field "$new_id" '[.items[].task.id] | join(",")')" = "check,report" ]

    run sh lua "$EXAMPLES/resubmit_failed.lua" "$new_id"
    assert_status 0
    assert_contains "no failed tasks"
}

@test "example: install all stacks on all backends and wait" {
    cat >scripthut.lua <<'LUA'
stack "tools" { prep = "true" }
LUA
    run sh lua "$EXAMPLES/install_stacks.lua"
    assert_status 0
    assert_contains "installing tools on local"
    assert_contains "completed"
}

# --- the interactive prompt --------------------------------------------------

TMUX_SOCKET=""

tmux_() { tmux -S "$TMUX_SOCKET" "$@"; }
pane() { tmux_ capture-pane -p -J -S -500 -t repl; }
pane_has() { pane | grep -qF -- "$1"; }
type_line() {
    tmux_ send-keys -t repl -l -- "$1"
    tmux_ send-keys -t repl Enter
}
expect_pane() {
    wait_for 30 pane_has "$1" || {
        echo "--- pane:"
        pane
        return 1
    }
}

start_repl() {
    command -v tmux >/dev/null || skip "tmux is not installed (Debian package tmux)"
    TMUX_SOCKET="$TEST_ROOT/tmux.sock"
    # The session keeps the pane open after the REPL exits, to read its status.
    tmux_ -f /dev/null new-session -d -s repl -x 160 -y 50 -c "$WORK" \
        "env HOME='$HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' XDG_DATA_HOME='$XDG_DATA_HOME' \
         '$SCRIPTHUT_BIN' lua; echo REPL_EXIT=\$?; exec sleep 120"
    expect_pane "Ctrl-D exits"
}

teardown_repl() {
    if [ -n "$TMUX_SOCKET" ]; then
        tmux_ kill-server 2>/dev/null || true
        TMUX_SOCKET=""
    fi
}

@test "the prompt: multi-line input, pretty results, errors keep the session, completion, history" {
    start_repl
    type_line 'function double(n)'
    expect_pane '>> '
    type_line 'return { n = n, twice = n * 2, nested = { z = 1, a = 2 } }'
    type_line 'end'
    type_line 'double(21)'
    expect_pane '{ n = 21, nested = { a = 2, z = 1 }, twice = 42 }'

    type_line 'error("boom")'
    expect_pane 'stdin:1: boom'
    expect_pane 'stack traceback'
    type_line 'double(50).twice + 1'
    expect_pane '101'

    type_line 'local t = { 1, "two" }; t.self = t; return t'
    expect_pane '{ 1, "two", self = <cycle: <root>> }'

    tmux_ send-keys -t repl -l 'scripthut.su'
    tmux_ send-keys -t repl Tab
    expect_pane '> scripthut.submit'
    tmux_ send-keys -t repl C-u

    tmux_ send-keys -t repl C-d
    expect_pane 'REPL_EXIT=0'
    teardown_repl
    grep -qF 'double(21)' "$XDG_DATA_HOME/scripthut/lua_history"
}

@test "the prompt runs the scripthut module and exits with os.exit's status" {
    start_repl
    type_line 'r = scripthut.submit({ id = "t", command = "echo from-repl" }, { watch = true })'
    type_line 'r.status, scripthut.logs(r.id, "t")'
    # (tmux shows the tab between the two results as spaces)
    expect_pane '"completed"'
    expect_pane '"from-repl\n"'
    type_line 'os.exit(7)'
    expect_pane 'REPL_EXIT=7'
    teardown_repl
}

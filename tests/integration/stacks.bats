#!/usr/bin/env bats
# stacks.bats - stacks end to end on the local backend (docs/stacks.md):
# install as a run, the fast path, rebuild, failures, concurrent installs,
# tasks that use a stack, gc, and the errors a user meets.

load helpers

# A config with a real python venv (no index: the requirements file is
# empty) and a few small stacks under ~/stacks.
write_config() {
    : > "$WORK/requirements.txt"
    cat > "$WORK/scripthut.lua" <<'EOF'
local venv = require "stacks.python_venv"
stack "py" (venv { requirements = "requirements.txt", pip_args = { "--no-index" },
                   cache_dir = "~/stacks" })
stack "tools" {
  cache_dir = "~/stacks",
  prep = 'echo "$RANDOM" > built-at; echo tool > tool.txt',
  init = 'export TOOL_FILE="$STACK_DIR/tool.txt"',
}
stack "flaky" { cache_dir = "~/stacks", prep = 'test -f "$HOME/fixed" || { echo "not fixed yet" >&2; exit 3; }' }
stack "slow" { cache_dir = "~/stacks", prep = 'sleep 2; echo built >> "$HOME/builds"' }
stack "my \"odd\" stack's" { cache_dir = "~/my stacks", prep = [[echo ok > "it's.txt"]] }
stack "gpu" { backends = { "local" }, prep = "true", cpus = 2, memory = "8G", partition = "gpu" }
EOF
}

hash_of() {
    sh stack list --json | jq -r --arg n "$1" '.stacks[] | select(.name == $n) | .hash'
}

install_log() {
    local run="$1" name="$2"
    sh run logs "$run" "install-$(hash_of "$name" | cut -c1-8)"
}

@test "install python_venv: the first install builds, the second takes the fast path" {
    write_config
    run sh stack install py
    assert_status 0
    assert_contains "Install submitted as run"
    assert_contains "(workflow '_stack/py' on local)"
    local h8; h8="$(hash_of py | cut -c1-8)"
    assert_contains "scripthut run logs"
    assert_contains "install-$h8"
    local first; first="$(sh run list --json | jq -r '.runs[0].id')"
    wait_for 60 run_has_status "$first" completed
    run install_log "$first" py
    assert_contains "installed at $HOME/stacks/py/"
    [ -x "$HOME/stacks/py/$(hash_of py)/venv/bin/python" ]

    run sh stack install py --watch
    assert_status 0
    local second; second="$(sh run list --json | jq -r '.runs[0].id')"
    run install_log "$second" py
    assert_contains "already ready"
    run sh run list --json
    [ "$(echo "$output" | jq '[.runs[] | select(.workflow_name == "_stack/py" and .status == "completed")] | length')" = 2 ]

    run sh stack check py
    assert_status 0
    assert_contains "ready"
}

@test "the install task carries the stack's resources; an unset partition is omitted" {
    write_config
    run sh stack install gpu --json
    assert_status 0
    local id; id="$(echo "$output" | jq -r .id)"
    [ "$(echo "$output" | jq -r .workflow_name)" = "_stack/gpu" ]
    run sh run view "$id" --json
    echo "$output" | jq -e '.items[0].task | .name == "stack/gpu" and .cpus == 2 and .memory == "8G" and .partition == "gpu"' >/dev/null || { show_output; false; }
    run sh stack install tools --json
    id="$(echo "$output" | jq -r .id)"
    run sh run view "$id" --json
    echo "$output" | jq -e '.items[0].task | .partition == null and .time_limit == "1:00:00"' >/dev/null || { show_output; false; }
}

@test "--rebuild builds a ready stack again" {
    write_config
    run sh stack install tools --watch
    assert_status 0
    run sh stack install tools --rebuild --watch
    assert_status 0
    local id; id="$(sh run list --json | jq -r '.runs[0].id')"
    run install_log "$id" tools
    assert_contains "installed at"
}

@test "a failing prep fails the run, check says installing, install --rebuild recovers" {
    write_config
    run sh stack install flaky --watch
    assert_status 1
    local id; id="$(sh run list --json | jq -r '.runs[0].id')"
    [ "$(run_field "$id" .status)" = failed ]
    run sh stack check flaky
    assert_status 1
    assert_contains "installing"
    assert_contains ".ready sentinel is missing"
    touch "$HOME/fixed"
    run sh stack install flaky --rebuild --watch
    assert_status 0
    run sh stack check flaky
    assert_status 0
    assert_contains "ready"
}

@test "two concurrent installs of one hash build once; the second waits, then takes the fast path" {
    write_config
    local a b
    a="$(sh stack install slow --json | jq -r .id)"
    b="$(sh stack install slow --json | jq -r .id)"
    wait_for 60 run_has_status "$a" completed
    wait_for 60 run_has_status "$b" completed
    [ "$(wc -l < "$HOME/builds")" -eq 1 ]
    run sh stack check slow
    assert_status 0
}

@test "a task that uses a stack gets an install task in front and sees its init" {
    write_config
    local id
    # shellcheck disable=SC2016 # $TOOL_FILE is the task's (the stack's init sets it)
    id="$(echo '{"id": "use", "command": "cat \"$TOOL_FILE\"", "env": [{"stacks": ["tools"]}]}' |
        sh task run --from-stdin --json | jq -r .id)"
    wait_for 60 run_has_status "$id" completed
    run sh run view "$id" --json
    echo "$output" | jq -e --arg t "install-$(hash_of tools | cut -c1-8)" \
        '[.items[].task.id] == [$t, "use"] and (.items[1].task.dependencies | index($t)) != null' \
        >/dev/null || { show_output; false; }
    run sh run logs "$id" use
    assert_contains "tool"
    # Ready now: the next run has no install task.
    # shellcheck disable=SC2016 # $TOOL_FILE is the task's
    id="$(echo '{"id": "again", "command": "cat \"$TOOL_FILE\"", "env": [{"stacks": ["tools"]}]}' |
        sh task run --from-stdin --json | jq -r .id)"
    [ "$(run_field "$id" .task_count)" = 1 ]
    wait_for 60 run_has_status "$id" completed
}

@test "a stack named under an if guard that does not hold gets no install task" {
    write_config
    local id
    # shellcheck disable=SC2016 # $TOOL_FILE is the task's (set only if the stack's init ran)
    id="$(echo '{"id": "use", "command": "echo \"tool=${TOOL_FILE:-none}\"",
                 "env": [{"if": {"WANT_TOOLS": "1"}, "stacks": ["tools"]}]}' |
        sh task run --from-stdin --json | jq -r .id)"
    [ "$(run_field "$id" .task_count)" = 1 ]
    wait_for 60 run_has_status "$id" completed
    run sh run logs "$id" use
    assert_contains "tool=none"
    [ ! -d "$HOME/stacks/tools/$(hash_of tools)" ]
    # The same guard, made true by an earlier rule: the install comes back.
    # shellcheck disable=SC2016 # $TOOL_FILE is the task's
    id="$(echo '{"id": "use", "command": "cat \"$TOOL_FILE\"",
                 "env": [{"set": {"WANT_TOOLS": "1"}}, {"if": {"WANT_TOOLS": "1"}, "stacks": ["tools"]}]}' |
        sh task run --from-stdin --json | jq -r .id)"
    [ "$(run_field "$id" .task_count)" = 2 ]
    wait_for 60 run_has_status "$id" completed
}

@test "a task on a backend its stack does not list is refused, and nothing is stored" {
    write_config
    cat >> "$WORK/scripthut.lua" <<'EOF'
backend "bench" { type = "noop" }
stack "benchonly" { backends = { "bench" }, prep = "true" }
EOF
    run --separate-stderr sh task run --from-stdin <<'EOF'
{"id": "use", "command": "true", "env": [{"stacks": ["benchonly"]}]}
EOF
    assert_status 1
    assert_stderr_contains "Task 'use' uses stack 'benchonly', which is only for backends bench, not 'local'"
    run sh run list --json
    echo "$output" | jq -e '.runs | length == 0' >/dev/null || { show_output; false; }
}

@test "gc removes old hash dirs and keeps the current one" {
    write_config
    run sh stack install tools --watch
    assert_status 0
    local old; old="$(hash_of tools)"
    sed -i 's/echo tool > tool.txt/echo tool v2 > tool.txt/' "$WORK/scripthut.lua"
    run sh stack install tools --watch
    assert_status 0
    local new; new="$(hash_of tools)"
    [ "$old" != "$new" ]
    run sh stack gc tools --dry-run
    assert_status 0
    assert_contains "would remove"
    [ -d "$HOME/stacks/tools/$old" ]
    run sh stack gc tools
    assert_status 0
    assert_contains "removed"
    [ ! -d "$HOME/stacks/tools/$old" ]
    [ -f "$HOME/stacks/tools/$new/.ready" ]
    run sh stack check tools
    assert_status 0
}

@test "gc never removes a hash an active run uses" {
    write_config
    run sh stack install tools --watch
    assert_status 0
    local old; old="$(hash_of tools)"
    local id
    id="$(echo '{"id": "long", "command": "sleep 60", "env": [{"stacks": ["tools"]}]}' |
        sh task run --from-stdin --json | jq -r .id)"
    wait_for 30 task_has_status "$id" long running
    sed -i 's/echo tool > tool.txt/echo tool v2 > tool.txt/' "$WORK/scripthut.lua"
    run sh stack install tools --watch
    assert_status 0
    run sh stack gc tools
    assert_status 0
    assert_contains "used by active run $id"
    [ -d "$HOME/stacks/tools/$old" ]
    sh run cancel "$id" >/dev/null
}

@test "names with spaces and quotes install into the right directory" {
    write_config
    run sh stack install "my \"odd\" stack's" --watch
    assert_status 0
    local h; h="$(hash_of "my \"odd\" stack's")"
    [ -f "$HOME/my stacks/my \"odd\" stack's/$h/it's.txt" ]
    run sh stack check "my \"odd\" stack's"
    assert_status 0
    run sh stack delete "my \"odd\" stack's"
    assert_status 0
    [ ! -e "$HOME/my stacks/my \"odd\" stack's" ]
}

@test "errors: unknown stack lists the known ones; bad backends store nothing" {
    write_config
    run --separate-stderr sh stack install nope
    assert_status 2
    assert_stderr_contains "Stack 'nope' not found (known stacks: py, tools, flaky"
    run --separate-stderr sh stack check nope
    assert_status 2
    run --separate-stderr sh stack install tools --backend nowhere
    assert_status 1
    assert_stderr_contains "Backend 'nowhere' not found in config"
    cat >> "$WORK/scripthut.lua" <<'EOF'
backend "bench" { type = "noop" }
EOF
    run --separate-stderr sh stack install gpu --backend bench
    assert_status 1
    assert_stderr_contains "Stack 'gpu' does not list backend 'bench'"
    run --separate-stderr sh stack install tools --backend bench
    assert_status 1
    assert_stderr_contains "Backend 'bench' (noop) is not available for stacks"
    run sh run list --json
    echo "$output" | jq -e '.runs | length == 0' >/dev/null || { show_output; false; }
}

@test "an overridden stack module owns both halves of the check: its script and its parser" {
    write_config
    mkdir -p "$XDG_CONFIG_HOME/scripthut/lua/scripthut"
    cat > "$XDG_CONFIG_HOME/scripthut/lua/scripthut/stack.lua" <<'EOF'
local M = {}
function M.check_script(stack)
  return "echo 'verdict: held by 99 node7'; echo 'note to stderr' >&2\n"
end
function M.parse_check(stdout, stderr, status, stack)
  local holder = stdout:match("by (%d+ %w+)")
  return { state = "ready", hash = stack.hash, path = "/elsewhere/" .. stack.name,
           last_built = require("scripthut.util").null, size_bytes = 7, locked = true,
           lock_holder = holder, error = stderr:gsub("\n$", "") .. " / exit " .. status }
end
return M
EOF
    run sh stack check tools --json
    assert_status 0
    echo "$output" | jq -e --arg h "$(hash_of tools)" '.checks[0].status |
        .state == "ready" and .hash == $h and .path == "/elsewhere/tools" and .size_bytes == 7
        and .locked == true and .lock_holder == "99 node7" and .error == "note to stderr / exit 0"' \
        >/dev/null || { show_output; false; }
    # A parser that breaks the contract is reported, not trusted.
    sed -i 's/state = "ready"/state = "great"/' "$XDG_CONFIG_HOME/scripthut/lua/scripthut/stack.lua"
    run sh stack check tools --json
    echo "$output" | jq -e '.checks[0].status.state == "missing" and
        (.checks[0].status.error | contains("parse_check returned no state of ready, installing or missing"))' \
        >/dev/null || { show_output; false; }
}

#!/usr/bin/env bats
# stacks.bats - stacks on a real Slurm reached through a real sshd, as the
# test user (docs/stacks.md): the install is a Slurm job of a one-task run
# `_stack/<name>`, check/delete are ssh commands, tasks on Slurm use the
# stack, a missing stack gets one install task in front of its users, and
# two installs of one hash build once.
#
# Needs the TESTBED_* variables (with-env.sh) and the testbed up.  Every
# stack lives under this test's dir in the test user's home, so the tests
# read what the jobs built directly.

load helpers

# The testbed backend (job logs under RDIR too) and the stacks:
#   py     the real stacks.python_venv (`python3 -m venv`, no download)
#   tools  a prep that writes a script into the stack dir; init puts it on PATH
#          (its cache_dir starts with ~: the test user's home, for the ssh
#          commands and the Slurm job alike)
#   gated  a prep that holds the build (and its lock) until RDIR/go exists
#   broken a prep that fails
write_config() {
    sed -e "s|@RDIR@|$RDIR|g" -e "s|@RNAME@|${RDIR##*/}|g" > "$WORK/scripthut.lua" <<'EOF'
local venv = require "stacks.python_venv"
stack "py" (venv { backends = { "hpc" }, cache_dir = "@RDIR@/stacks", memory = "200M" })
stack "broken" {
  backends = { "hpc" }, cache_dir = "@RDIR@/stacks", memory = "100M",
  prep = 'echo "no compiler here" >&2; exit 3',
}
stack "tools" {
  cache_dir = "~/@RNAME@/stacks", memory = "100M",
  prep = [[
    mkdir bin
    printf '#!/bin/sh\necho "tool ran from $0"\n' > bin/tool
    chmod +x bin/tool
    echo tools >> @RDIR@/builds
  ]],
  init = 'export PATH="$STACK_DIR/bin:$PATH"',
}
stack "gated" {
  backends = { "hpc" }, cache_dir = "@RDIR@/stacks", memory = "100M",
  prep = [[
    echo gated >> @RDIR@/builds
    touch @RDIR@/started
    while [ ! -e @RDIR@/go ]; do sleep 0.2; done
  ]],
}
EOF
    cat >> "$WORK/scripthut.lua" <<EOF
backend "hpc" { type = "slurm", log_dir = "$RDIR/logs", ssh = {
  host = "$TESTBED_SSH_HOST", port = $TESTBED_SSH_PORT, user = "$TESTBED_SSH_USER",
  key_path = "$TESTBED_SSH_KEY", known_hosts = "$TESTBED_SSH_KNOWN_HOSTS",
} }
settings { poll_interval = 1 }
EOF
    cat >> "$WORK/scripthut.lua"
}

# Stops the engine first (it could submit more), then cancels the Slurm jobs
# of this test's runs: their names carry the run id (sh-<run>-<task>-<n>);
# other helpers' jobs share the queue.
teardown() {
    local runs r ids=""
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" daemon stop >/dev/null 2>&1 || true
    runs="$(shc run list --json 2>/dev/null | jq -r '.runs[].id' 2>/dev/null || true)"
    for r in $runs; do
        ids="$ids $(squeue --noheader --user="$TESTBED_SSH_USER" --format='%i %j' 2>/dev/null |
            awk -v p="sh-$r-" 'index($2, p) == 1 {print $1}')"
    done
    # shellcheck disable=SC2086 # one id per word
    [ -z "${ids// /}" ] || scancel $ids 2>/dev/null || true
    cd / || true
    kill_leftovers
    rm -rf "$TEST_ROOT" "$RDIR"
}

hash_of() {
    shc stack list --json | jq -r --arg n "$1" '.stacks[] | select(.name == $n) | .hash'
}

# The state `stack check NAME --backend hpc` reports over ssh.
state_of() {
    shc stack check "$1" --backend hpc --json | jq -r '.checks[0].status.state'
}

install_log() { # RUN STACK
    shc run logs "$1" "install-$(hash_of "$2" | cut -c1-8)"
}

log_has() { # RUN STACK TEXT
    [[ "$(install_log "$1" "$2" 2>/dev/null)" == *"$3"* ]]
}

# How many Slurm jobs (any state slurmctld still knows) have this name.
jobs_named() {
    squeue --noheader --states=all --user="$TESTBED_SSH_USER" --name="$1" -o %i | wc -l
}

builds_of() {
    grep -cx "$1" "$RDIR/builds" 2>/dev/null || true
}

@test "python_venv installs as a Slurm job of run _stack/py; check says ready; a task on Slurm runs in the venv" {
    write_config <<'EOF'
workflow "use" { backend = "hpc", env = { stacks = { "py" } }, tasks = {
  { id = "where", memory = "100M", command = [[
    echo "dir=$STACK_DIR"
    command -v python
    python -c 'import sys; print("prefix=" + sys.prefix)'
  ]] },
} }
EOF
    [ "$(state_of py)" = missing ]
    run shc stack install py --watch --json
    assert_status 0
    local id h h8
    id="$(shc run list --json | jq -r '.runs[0].id')"
    h="$(hash_of py)"
    h8="${h:0:8}"
    run shc run view "$id" --json
    echo "$output" | jq -e --arg t "install-$h8" '.workflow_name == "_stack/py" and
        .backend_name == "hpc" and .status == "completed" and
        ([.items[].task.id] == [$t]) and .items[0].task.name == "stack/py" and
        .items[0].task.memory == "200M" and (.items[0].job_id | tostring | test("^[0-9]+$"))' \
        >/dev/null || { show_output; false; }
    # It ran as a Slurm job (by its tag) and built as the test user.
    [ "$(jobs_named "sh-$id-install-$h8-1")" = 1 ]
    [ -x "$RDIR/stacks/py/$h/venv/bin/python" ]
    [ "$(stat -c %U "$RDIR/stacks/py/$h/.ready")" = "$TESTBED_SSH_USER" ]
    run install_log "$id" py
    assert_contains "Stack py installed at $RDIR/stacks/py/$h (hash $h)"

    run shc stack check py
    assert_status 0
    assert_contains "ready"
    [ "$(state_of py)" = ready ]

    # The workflow has the stack ready: no install task, the venv is active.
    run_workflow use
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(shc run view "$RUN_ID" --json | jq -c '[.items[].task.id]')" = '["where"]' ]
    run shc run logs "$RUN_ID" where
    assert_contains "dir=$RDIR/stacks/py/$h"
    assert_contains "$RDIR/stacks/py/$h/venv/bin/python"
    assert_contains "prefix=$RDIR/stacks/py/$h/venv"
}

@test "a second install of a ready stack on Slurm is a no-op: the fast path, nothing rebuilt" {
    write_config </dev/null
    run shc stack install tools --backend hpc --watch
    assert_status 0
    local h; h="$(hash_of tools)"
    # A rebuild would remove the hash dir, and this with it.
    touch "$RDIR/stacks/tools/$h/kept"
    run shc stack install tools --backend hpc --watch --json
    assert_status 0
    local id; id="$(shc run list --json | jq -r '.runs[0].id')"
    [ "$(run_field "$id" .workflow_name)" = "_stack/tools" ]
    [ "$(run_field "$id" .status)" = completed ]
    run install_log "$id" tools
    assert_contains "Stack tools already ready at $RDIR/stacks/tools/$h"
    [ -e "$RDIR/stacks/tools/$h/kept" ]
    [ "$(builds_of tools)" = 1 ]
}

@test "stack delete on Slurm's machine removes the stack; check then says missing" {
    write_config </dev/null
    run shc stack install tools --backend hpc --watch
    assert_status 0
    [ "$(state_of tools)" = ready ]
    run shc stack delete tools --backend hpc --json
    assert_status 0
    echo "$output" | jq -e '.deleted[0].backend == "hpc" and .deleted[0].status.state == "missing"' \
        >/dev/null || { show_output; false; }
    [ ! -e "$RDIR/stacks/tools" ]
    run shc stack check tools --backend hpc
    assert_status 1
    assert_contains "missing"
}

@test "tasks on Slurm that use a missing stack get one install task in front, then run the tool" {
    write_config <<'EOF'
workflow "three" { backend = "hpc", tasks = {
  { id = "t1", memory = "100M", command = "tool", env = { stacks = { "tools" } } },
  { id = "t2", memory = "100M", command = "tool", env = { stacks = { "tools" } } },
  { id = "t3", memory = "100M", command = "tool", env = { stacks = { "tools" } } },
  { id = "plain", memory = "100M", command = "echo no stack" },
} }
EOF
    [ "$(state_of tools)" = missing ]
    run_workflow three
    [ "$status" -eq 0 ] || { show_output; false; }
    local h t; h="$(hash_of tools)"; t="install-${h:0:8}"
    run shc run view "$RUN_ID" --json
    echo "$output" | jq -e --arg t "$t" '.status == "completed" and
        ([.items[].task.id] == [$t, "t1", "t2", "t3", "plain"]) and
        ([.items[] | select(.task.id | test("^t[0-9]$")) | .task.dependencies | index($t) != null]
          == [true, true, true]) and
        ((.items[] | select(.task.id == "plain") | .task.dependencies // []) | index($t) == null)' \
        >/dev/null || { show_output; false; }
    [ "$(jobs_named "sh-$RUN_ID-$t-1")" = 1 ]
    [ "$(builds_of tools)" = 1 ]
    for task in t1 t2 t3; do
        run shc run logs "$RUN_ID" "$task"
        assert_contains "tool ran from $RDIR/stacks/tools/$h/bin/tool"
    done
    [ "$(state_of tools)" = ready ]
    # Ready now: the next run of the same workflow has no install task.
    run_workflow three
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(run_field "$RUN_ID" .task_count)" = 4 ]
    [ "$(builds_of tools)" = 1 ]
}

@test "two installs of one stack on Slurm at once: the second waits for the lock, then takes the fast path" {
    write_config </dev/null
    local a b h
    h="$(hash_of gated)"
    a="$(shc stack install gated --json | jq -r .id)"
    wait_for 60 test -e "$RDIR/started"
    # The first holds the lock while its prep waits for RDIR/go.
    [ -d "$RDIR/stacks/gated/$h.lock" ]
    [ "$(shc stack check gated --json | jq -r '.checks[0].status | "\(.state) \(.locked)"')" = "installing true" ]
    b="$(shc stack install gated --json | jq -r .id)"
    wait_for 60 log_has "$b" gated "Waiting for another install of stack gated"
    touch "$RDIR/go"
    wait_for 60 run_has_status "$a" completed
    wait_for 60 run_has_status "$b" completed
    run install_log "$a" gated
    assert_contains "Stack gated installed at"
    run install_log "$b" gated
    assert_contains "Stack gated already ready at"
    [ "$(builds_of gated)" = 1 ]
    [ ! -e "$RDIR/stacks/gated/$h.lock" ]
    [ "$(state_of gated)" = ready ]
}

@test "a cancelled install on Slurm releases its lock; the next install cleans up and builds" {
    write_config </dev/null
    local a h
    h="$(hash_of gated)"
    a="$(shc stack install gated --json | jq -r .id)"
    wait_for 60 test -e "$RDIR/started"
    run shc run cancel "$a"
    assert_status 0
    wait_for 60 run_has_status "$a" cancelled
    # scancel's TERM ran the script's traps: the lock is gone, the
    # half-built directory is left for the next install to clean up.
    wait_for 30 test ! -e "$RDIR/stacks/gated/$h.lock"
    [ "$(shc stack check gated --json | jq -r '.checks[0].status | "\(.state) \(.locked)"')" = "installing false" ]
    touch "$RDIR/go"
    run shc stack install gated --watch
    assert_status 0
    [ "$(builds_of gated)" = 2 ]
    [ "$(state_of gated)" = ready ]
}

@test "an install that fails on Slurm fails its run; tasks that use the stack never run" {
    write_config <<'EOF'
workflow "needs" { backend = "hpc", tasks = {
  { id = "user", memory = "100M", command = "echo ran > ran.txt", working_dir = "@RDIR@",
    env = { stacks = { "broken" } } },
} }
EOF
    sed -i "s|@RDIR@|$RDIR|g" "$WORK/scripthut.lua"
    run shc stack install broken --watch
    assert_status 1
    local id h; id="$(shc run list --json | jq -r '.runs[0].id')"
    h="$(hash_of broken)"
    [ "$(run_field "$id" .status)" = failed ]
    run shc run logs "$id" "install-${h:0:8}" --error
    assert_contains "no compiler here"
    run shc stack check broken
    assert_status 1
    assert_contains "installing"
    [ ! -e "$RDIR/stacks/broken/$h.lock" ]
    # Still not ready: the workflow gets the install in front again, and
    # its task is never submitted.
    run_workflow needs
    [ "$status" -ne 0 ] || { show_output; false; }
    [ "$(task_field "$RUN_ID" "install-${h:0:8}" status)" = failed ]
    [ "$(task_field "$RUN_ID" user status)" = dep_failed ]
    [ ! -e "$RDIR/ran.txt" ]
}

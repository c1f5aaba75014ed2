#!/usr/bin/env bats
# slurm.bats - workflows on a real Slurm reached through a real sshd (the
# testbed, tests/testbed/README.md): what a user does, end to end.
#
# Needs the TESTBED_* variables (with-env.sh) and the testbed up (the ctest
# fixture).  Jobs run as $TESTBED_SSH_USER on this machine, so the tests read
# the files they write directly under that user's home.

# Per-test HOME/data dir, the test user's scratch dir $RDIR, config, shc,
# run_workflow and task_field come from helpers.bash.
# Each @test runs in its own subshell; a variable set in one is read only
# within that test.
# shellcheck disable=SC2030,SC2031
load helpers.bash

# How many Slurm jobs (of any state still known to slurmctld) carry NAME.
jobs_named() {
    squeue --noheader --states=all --user="$TESTBED_SSH_USER" --name="$1" -o %i | wc -l
}

@test "a single task runs on Slurm through ssh and its log comes back" {
    config <<EOF
workflow "one" { backend = "hpc", tasks = {
  { id = "hello", working_dir = "$RDIR", memory = "100M", command = "echo hello from \$(hostname); pwd" },
} }
EOF
    run_workflow one
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(task_field "$RUN_ID" hello status)" = completed ]
    run shc run logs "$RUN_ID" hello
    [[ "$output" == *"hello from"* ]] || { show_output; false; }
    [[ "$output" == *"$RDIR"* ]] || { show_output; false; }
}

@test "a diamond DAG runs in dependency order" {
    config <<EOF
workflow "diamond" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "echo a >> order" },
  { id = "b", deps = {"a"}, working_dir = "$RDIR", memory = "100M", command = "sleep 1; echo b >> order" },
  { id = "c", deps = {"a"}, working_dir = "$RDIR", memory = "100M", command = "echo c >> order" },
  { id = "d", deps = {"b", "c"}, working_dir = "$RDIR", memory = "100M", command = "echo d >> order" },
} }
EOF
    run_workflow diamond
    [ "$status" -eq 0 ] || { show_output; false; }
    [ "$(head -n 1 "$RDIR/order")" = a ]
    [ "$(tail -n 1 "$RDIR/order")" = d ]
    [ "$(wc -l < "$RDIR/order")" -eq 4 ]
}

@test "a task exiting 3 fails with exit code 3 and its dependent is dep_failed" {
    config <<EOF
workflow "bad" { backend = "hpc", tasks = {
  { id = "boom", working_dir = "$RDIR", memory = "100M", command = "echo oops >&2; exit 3" },
  { id = "after", deps = {"boom"}, working_dir = "$RDIR", memory = "100M", command = "touch ran" },
} }
EOF
    run_workflow bad
    [ "$status" -ne 0 ]
    [ "$(task_field "$RUN_ID" boom status)" = failed ]
    [ "$(task_field "$RUN_ID" boom exit_code)" = 3 ]
    [ "$(task_field "$RUN_ID" after status)" = dep_failed ]
    [ ! -e "$RDIR/ran" ]
}

@test "sbatch rejecting a partition fails that task alone, with sbatch's message" {
    config <<EOF
workflow "mixed" { backend = "hpc", tasks = {
  { id = "good", working_dir = "$RDIR", memory = "100M", command = "true" },
  { id = "nope", working_dir = "$RDIR", memory = "100M", partition = "nope", command = "true" },
} }
EOF
    run_workflow mixed
    [ "$(task_field "$RUN_ID" good status)" = completed ]
    [ "$(task_field "$RUN_ID" nope status)" = failed ]
    [[ "$(task_field "$RUN_ID" nope error)" == *"invalid partition"* ]] || {
        shc run view "$RUN_ID" --json; false; }
}

@test "cancel stops a running and a pending job" {
    config <<EOF
workflow "hogs" { backend = "hpc", tasks = {
  { id = "one", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
  { id = "two", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
} }
EOF
    # Both need the node's 2 CPUs: one runs, the other pends (Resources).
    run shc workflow run hogs --json
    [ "$status" -eq 0 ] || { show_output; false; }
    RUN_ID="$(printf '%s' "$output" | jq -r '.run_id // .id')"
    wait_for 60 task_has_status_any "$RUN_ID" running
    run shc run cancel "$RUN_ID"
    [ "$status" -eq 0 ] || { show_output; false; }
    wait_for 60 run_has_status_c "$RUN_ID" cancelled
    [ "$(task_field "$RUN_ID" one status)" = cancelled ]
    [ "$(task_field "$RUN_ID" two status)" = cancelled ]
    for t in one two; do
        id="$(task_field "$RUN_ID" "$t" job_id)"
        wait_for 30 slurm_state_is "$id" CANCELLED
    done
}

task_has_status_any() { # RUN STATUS: some task has it
    shc run view "$1" --json 2>/dev/null | jq -e --arg s "$2" '[.items[] | select(.status == $s)] | length > 0' >/dev/null
}
run_has_status_c() {
    [ "$(shc run view "$1" --json 2>/dev/null | jq -r .status)" = "$2" ]
}
slurm_state_is() { # JOBID STATE
    [ "$(squeue --noheader --states=all -j "$1" -o %T 2>/dev/null)" = "$2" ]
}

# The queued task's pending_reason equals what squeue says for its job now.
queued_reason_matches_squeue() { # RUN TASK
    local detail reason job now
    detail="$(shc run view "$1" --json 2>/dev/null)" || return 1
    reason="$(printf '%s' "$detail" | jq -r --arg t "$2" \
        '.items[] | select(.task.id == $t and .status == "queued") | .pending_reason // empty')"
    job="$(printf '%s' "$detail" | jq -r --arg t "$2" '.items[] | select(.task.id == $t) | .job_id')"
    [ -n "$reason" ] || return 1
    now="$(squeue --noheader -j "$job" -o %r 2>/dev/null)"
    [ "$reason" = "$now" ]
}

@test "a job waiting in Slurm carries squeue's reason (%r) verbatim; a running one none" {
    config <<EOF
workflow "hogs" { backend = "hpc", tasks = {
  { id = "one", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
  { id = "two", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
} }
EOF
    run shc workflow run hogs --json
    [ "$status" -eq 0 ] || { show_output; false; }
    RUN_ID="$(printf '%s' "$output" | jq -r '.run_id // .id')"
    wait_for 60 task_has_status_any "$RUN_ID" running
    waiting=two
    [ "$(task_field "$RUN_ID" one status)" = running ] || waiting=one
    # Resources or Priority, as squeue has it (other tests share the queue).
    wait_for 60 queued_reason_matches_squeue "$RUN_ID" "$waiting"
    running=one
    [ "$waiting" = one ] && running=two
    [ "$(task_field "$RUN_ID" "$running" pending_reason)" = null ]
    run shc run cancel "$RUN_ID"
    [ "$status" -eq 0 ] || { show_output; false; }
    wait_for 60 run_has_status_c "$RUN_ID" cancelled
    [ "$(task_field "$RUN_ID" "$waiting" pending_reason)" = null ]
}

@test "kill -9 of scripthut mid-run, then a restart: nothing lost or submitted twice" {
    config <<EOF
workflow "crashy" { backend = "hpc", tasks = {
  { id = "first", working_dir = "$RDIR", memory = "100M", command = "echo run >> first.count; sleep 3" },
  { id = "second", deps = {"first"}, working_dir = "$RDIR", memory = "100M", command = "echo run >> second.count" },
  { id = "third", deps = {"first"}, working_dir = "$RDIR", memory = "100M", command = "echo run >> third.count" },
} }
EOF
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" workflow run crashy --watch --json > watch.out 2>&1 &
    watcher=$!
    wait_for 60 test -s "$RDIR/first.count"
    kill -9 "$watcher"
    wait "$watcher" 2>/dev/null || true
    RUN_ID="$(head -n 1 watch.out | jq -r '.run_id // .id')"
    run shc run watch "$RUN_ID" --exit-status --json
    [ "$status" -eq 0 ] || { show_output; false; }
    for t in first second third; do
        [ "$(wc -l < "$RDIR/$t.count")" -eq 1 ]
        [ "$(jobs_named "sh-$RUN_ID-$t-1")" -eq 1 ]
    done
}

@test "the ssh connection killed mid-run: scripthut reconnects and nothing is marked failed" {
    config <<EOF
workflow "steady" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "sleep 6; echo a > a.done" },
  { id = "b", working_dir = "$RDIR", memory = "100M", command = "sleep 6; echo b > b.done" },
  { id = "c", deps = {"a", "b"}, working_dir = "$RDIR", memory = "100M", command = "echo c > c.done" },
} }
EOF
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" workflow run steady --watch --json > watch.out 2>&1 &
    watcher=$!
    wait_for 60 grep -q '"running"\|-> running' watch.out
    "$SCRIPTHUT_SOURCE_DIR/tests/testbed/kill-ssh-sessions.sh"
    sleep 2
    "$SCRIPTHUT_SOURCE_DIR/tests/testbed/kill-ssh-sessions.sh"
    timeout 120 tail --pid="$watcher" -f /dev/null || true
    wait "$watcher"
    rc=$?
    RUN_ID="$(head -n 1 watch.out | jq -r '.run_id // .id')"
    [ "$rc" -eq 0 ] || { cat watch.out; false; }
    [ -e "$RDIR/c.done" ]
    [ "$(shc run view "$RUN_ID" --json | jq -r .status)" = completed ]
}

@test "a task hitting its time limit ends as TIMEOUT" {
    # Slurm limits are whole minutes, checked about every 30 s: ~80 s.
    config <<EOF
workflow "slow" { backend = "hpc", tasks = {
  { id = "late", working_dir = "$RDIR", memory = "100M", time_limit = "1", command = "sleep 300" },
} }
EOF
    SH_TIMEOUT=240 run_workflow slow
    [ "$(task_field "$RUN_ID" late status)" = failed ]
    [[ "$(task_field "$RUN_ID" late error)" == *TIMEOUT* ]] || { shc run view "$RUN_ID" --json; false; }
}

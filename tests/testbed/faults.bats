#!/usr/bin/env bats
# faults.bats - faults injected while scripthut drives a real Slurm through a
# real sshd (tests/testbed/README.md): the engine killed -9 at random points,
# squeue failing, squeue hanging past the command timeout.  What must hold:
# every task ends in its true state, each task's job is submitted exactly
# once (counted by its tag in Slurm's own records), no completed task runs
# again (each task appends a line to a file), and a failing squeue changes
# no task's state and is reported.
#
# FAULTS_QUICK=1 (the CI subset, label testbed): 3 kills instead of 10.  FAULTS_SEED fixes
# the random kill points (the seed is printed).  Other helpers' jobs may be
# in the queue: everything is filtered by this run's tags.

# Per-test HOME/data dir, $RDIR, shc, task_field and the teardown that
# cancels this test's leftover jobs come from helpers.bash.
load helpers.bash

FAULTS="$SCRIPTHUT_SOURCE_DIR/tests/testbed/faults"

eval "$(declare -f teardown | sed '1s/teardown/testbed_teardown/')"

teardown() {
    restore_squeue
    testbed_teardown
}

# The squeue stand-in, first on the test user's login-shell PATH.
install_squeue() {
    install -D -o "$TESTBED_SSH_USER" -m 755 "$FAULTS/squeue" "$THOME/bin/squeue"
    install -d -o "$TESTBED_SSH_USER" "$THOME/.scripthut-faults"
    squeue_mode pass
}
squeue_mode() {
    echo "$1" > "$THOME/.scripthut-faults/squeue-mode"
    chown "$TESTBED_SSH_USER" "$THOME/.scripthut-faults/squeue-mode"
}
restore_squeue() {
    [ -n "${THOME:-}" ] || return 0
    rm -f "${THOME:?}/bin/squeue"
    rmdir "$THOME/bin" 2>/dev/null || true
    rm -rf "${THOME:?}/.scripthut-faults"
}

# config [login_shell]: the testbed backend plus the workflows on stdin.  A
# scheduler query may take 8 s (query_timeout), so the hang test is quick.
config() {
    testbed_config "" "login_shell = ${1:-false}, query_timeout = 8,"
}

run_status() {
    shc run view "$1" --json 2>/dev/null | jq -r .status
}

# Every job Slurm still knows (MinJobAge=300 keeps finished ones) whose
# name is this run's tag for TASK: "sh-RUN-TASK-ATTEMPT".
jobs_of_task() { # RUN TASK
    squeue --noheader --states=all --user="$TESTBED_SSH_USER" -o %j |
        grep -c -- "^sh-$1-$2-[0-9]*\$" || true
}

statuses() { # RUN: "task=status ..." sorted
    shc run view "$1" --json | jq -r '[.items[] | "\(.task.id)=\(.status)"] | sort | join(" ")'
}

# Waits until Slurm says every job of the run has ended (squeue's own view,
# read as root with the real squeue).
slurm_jobs_ended() { # RUN
    local states
    states="$(squeue --noheader --states=all --user="$TESTBED_SSH_USER" -o '%j %T' |
        awk -v p="sh-$1-" 'index($1, p) == 1 { print $2 }')"
    [ -n "$states" ] && ! printf '%s\n' "$states" | grep -qv '^COMPLETED$'
}

# Kills the engine (a `run watch` that holds the engine lock) with SIGKILL
# at random points, restarting it after each, until N kills hit a live run.
@test "kill -9 of the engine at random points: each job submitted once, nothing re-run" {
    local kills_wanted=10
    [ "${FAULTS_QUICK:-0}" = 1 ] && kills_wanted=3
    local seed="${FAULTS_SEED:-$$}"
    RANDOM="$seed"
    echo "# kill points seed: FAULTS_SEED=$seed" >&3
    # 12 tasks in three waves, two at a time; the last one waits for a gate
    # the test opens after the kills, so the run cannot end before them.
    {
        echo 'workflow "crashy" { backend = "hpc", max_concurrent = 2, tasks = {'
        for i in $(seq 1 11); do
            deps=""
            [ "$i" -gt 4 ] && deps="deps = { \"t$((i - 4))\" },"
            echo "  { id = \"t$i\", $deps working_dir = \"$RDIR\", memory = \"100M\", command = \"echo run >> t$i.count; sleep 1\" },"
        done
        echo "  { id = \"t12\", working_dir = \"$RDIR\", memory = \"100M\", command = \"while [ ! -e gate ]; do sleep 0.5; done; echo run >> t12.count\" },"
        echo '} }'
    } | config
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" workflow run crashy --watch --json \
        > watch.0 2>&1 &
    local watcher=$! kills=0 points=()
    wait_for 60 test -s watch.0
    RUN_ID="$(head -n 1 watch.0 | jq -r '.run_id // .id')"
    [ -n "$RUN_ID" ] && [ "$RUN_ID" != null ] || { cat watch.0; false; }
    while [ "$kills" -lt "$kills_wanted" ]; do
        # 0.2 .. 3.0 s into this engine's life
        local ms=$((200 + RANDOM % 2800))
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        kill -0 "$watcher" 2>/dev/null || { cat "watch.$kills"; false; }
        kill -9 "$watcher"
        wait "$watcher" 2>/dev/null || true
        kills=$((kills + 1))
        points+=("${ms}ms:$(statuses "$RUN_ID" | tr ' ' ',')")
        "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" run watch "$RUN_ID" --json \
            > "watch.$kills" 2>&1 &
        watcher=$!
    done
    printf '# kill point %s\n' "${points[@]}" >&3
    touch "$RDIR/gate"
    chown "$TESTBED_SSH_USER" "$RDIR/gate"
    timeout 180 tail --pid="$watcher" -f /dev/null || true
    wait "$watcher" || true
    [ "$(run_status "$RUN_ID")" = completed ] || { statuses "$RUN_ID"; cat watch.*; false; }
    # Twelve jobs carry this run's tags, and slurmctld accepted each job id
    # the store holds exactly once.
    local total
    total="$(squeue --noheader --states=all --user="$TESTBED_SSH_USER" -o %j | grep -c "^sh-$RUN_ID-")"
    [ "$total" -eq 12 ] || { echo "$total jobs for 12 tasks"; false; }
    for i in $(seq 1 12); do
        local jid
        jid="$(task_field "$RUN_ID" "t$i" job_id)"
        [ "$(grep -c "_slurm_rpc_submit_batch_job: JobId=$jid " "$TESTBED_DIR/log/slurmctld.log")" -eq 1 ]
        [ "$(squeue --noheader --states=all -j "$jid" -o %j)" = "sh-$RUN_ID-t$i-1" ]
    done
    for i in $(seq 1 12); do
        [ "$(task_field "$RUN_ID" "t$i" status)" = completed ]
        [ "$(wc -l < "$RDIR/t$i.count")" -eq 1 ] || { echo "t$i ran $(wc -l < "$RDIR/t$i.count") times"; false; }
        [ "$(jobs_of_task "$RUN_ID" "t$i")" -eq 1 ] || {
            echo "t$i: $(jobs_of_task "$RUN_ID" "t$i") jobs in Slurm"; false; }
        # One attempt in the store, with one job id.
        [ "$(shc run view "$RUN_ID" --json | jq -r --arg t "t$i" \
            '.items[] | select(.task.id == $t) | "\(.attempt) \(.attempts | length)"')" = "1 1" ] || {
            shc run view "$RUN_ID" --json | jq ".items[] | select(.task.id == \"t$i\")"; false; }
    done
}

# The engine under `run watch`, its log in watch.log.
start_watcher() { # RUN_OR_WORKFLOW_ARGS...
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" "$@" --watch --json > watch.log 2>&1 &
    watcher=$!
}

finish_and_check() { # N
    timeout 180 tail --pid="$watcher" -f /dev/null || true
    wait "$watcher"
    local rc=$?
    RUN_ID="$(head -n 1 watch.log | jq -r '.run_id // .id')"
    [ "$rc" -eq 0 ] || { cat watch.log; false; }
    [ "$(run_status "$RUN_ID")" = completed ]
    for i in $(seq 1 "$1"); do
        [ "$(wc -l < "$RDIR/t$i.count")" -eq 1 ]
        [ "$(jobs_of_task "$RUN_ID" "t$i")" -eq 1 ]
    done
}

@test "squeue failing: no task changes state, the error is logged, the run ends once it is back" {
    install_squeue
    config true <<EOF
workflow "steady" { backend = "hpc", tasks = {
  { id = "t1", working_dir = "$RDIR", memory = "100M", command = "echo run >> t1.count; sleep 4" },
  { id = "t2", working_dir = "$RDIR", memory = "100M", command = "echo run >> t2.count; sleep 4" },
} }
EOF
    start_watcher workflow run steady
    wait_for 60 test -s "$RDIR/t1.count"
    wait_for 60 test -s "$RDIR/t2.count"
    RUN_ID="$(head -n 1 watch.log | jq -r '.run_id // .id')"
    squeue_mode fail
    # The first failure logged: every poll from now on fails.
    wait_for 60 grep -q 'squeue failed' watch.log
    before="$(statuses "$RUN_ID")"
    # The jobs end in Slurm while scripthut cannot see it: nothing may move.
    wait_for 60 slurm_jobs_ended "$RUN_ID"
    local seen
    seen="$(grep -c 'squeue failed' watch.log || true)"
    wait_for 60 bash -c "[ \"\$(grep -c 'squeue failed' watch.log)\" -ge $((seen + 3)) ]"
    [ "$(statuses "$RUN_ID")" = "$before" ] || { echo "before: $before"; statuses "$RUN_ID"; false; }
    grep -q "Unable to contact slurm controller" watch.log || { cat watch.log; false; }
    squeue_mode pass
    finish_and_check 2
}

@test "squeue hanging past the command timeout: reported as a timeout, the run ends once it answers" {
    install_squeue
    config true <<EOF
workflow "steady" { backend = "hpc", tasks = {
  { id = "t1", working_dir = "$RDIR", memory = "100M", command = "echo run >> t1.count; sleep 2" },
} }
EOF
    start_watcher workflow run steady
    wait_for 60 test -s "$RDIR/t1.count"
    RUN_ID="$(head -n 1 watch.log | jq -r '.run_id // .id')"
    squeue_mode hang
    before="$(statuses "$RUN_ID")"
    wait_for 150 grep -q 'squeue timed out' watch.log
    [ "$(statuses "$RUN_ID")" = "$before" ] || { echo "before: $before"; statuses "$RUN_ID"; false; }
    squeue_mode pass
    finish_and_check 1
}

#!/usr/bin/env bats
# accounting.bats - the Slurm backend's sacct path on a real slurmdbd: jobs
# that ended are finalised from ONE batched sacct per tick, with the exit code
# and state accounting recorded, and a job purged from slurmctld while
# scripthut was down is finalised from sacct alone (no scontrol).
#
# Needs the testbed brought up with accounting (MariaDB + slurmdbd):
#     TESTBED_ACCOUNTING=1 tests/testbed/testbed-up.sh
#     tests/testbed/with-env.sh bats tests/testbed/accounting.bats
# Without it those tests skip (sacct says "accounting storage is disabled"),
# and the last one checks the scontrol fallback instead (ctest:
# testbed.accounting, labels testbed;slow, switches the testbed to accounting
# and back; testbed.sacct_fallback runs the last test on the default testbed).
# With accounting, about 8 minutes: the time-limit job takes ~80 s (Slurm limits are whole
# minutes) and the purge test waits for slurmctld to forget a finished job
# (MinJobAge 300 s, purged by a pass that runs about once a minute).

# Each @test runs in its own subshell; a variable set in one is read only
# within that test.
# shellcheck disable=SC2030,SC2031
load helpers.bash
# The purge test waits up to ~6 minutes (helpers.bash sets 180 s per test).
export BATS_TEST_TIMEOUT=600

# sacct as the test user, through the testbed's sshd (its SLURM_CONF).
user_sacct() {
    # the options are words; the command runs there, built here on purpose
    # shellcheck disable=SC2086,SC2029
    ssh $TESTBED_SSH_OPTS "$TESTBED_SSH_USER@$TESTBED_SSH_HOST" "TZ=UTC sacct $*"
}

setup_file() {
    : "${TESTBED_SSH_HOST:?run through tests/testbed/with-env.sh}"
    local err
    if err="$(user_sacct --noheader --jobs=1 2>&1)"; then
        export ACCOUNTING_ERR=""
    else
        export ACCOUNTING_ERR="${err%%$'\n'*}"
    fi
}

# Skips the test unless sacct works (the testbed came up with accounting).
# Any other sacct error (ssh, slurmdbd down) fails rather than skips.
need_accounting() {
    [ -n "$ACCOUNTING_ERR" ] || return 0
    [[ "$ACCOUNTING_ERR" == *"accounting storage is disabled"* ]] || {
        echo "sacct failed: $ACCOUNTING_ERR" >&2
        return 1
    }
    skip "no accounting on this testbed ($ACCOUNTING_ERR): bring it up with TESTBED_ACCOUNTING=1 tests/testbed/testbed-up.sh"
}

# The job line of JOBID in sacct: "State|ExitCode".
sacct_job() {
    user_sacct --noheader --parsable2 --allocations --format=State,ExitCode --jobs="$1"
}

# The descriptions of the commands in the backend's command log.
command_log() {
    shc backend status hpc --json | jq -r '.transport.log[].command'
}

job_purged() { # JOBID: slurmctld no longer knows it
    ! scontrol show job "$1" >/dev/null 2>&1
}

@test "ended jobs are finalised as sacct records them: exit 0, exit 3, a signal" {
    need_accounting
    config <<EOF
workflow "ends" { backend = "hpc", tasks = {
  { id = "ok", working_dir = "$RDIR", memory = "100M", command = "echo fine" },
  { id = "three", working_dir = "$RDIR", memory = "100M", command = "exit 3" },
  { id = "killed", working_dir = "$RDIR", memory = "100M", command = "kill -9 \$\$" },
} }
EOF
    run_workflow ends
    [ "$status" -ne 0 ] || { show_output; false; }
    # The engine never fell back: accounting was there.
    [[ "$output" != *"accounting is not available"* ]] || { show_output; false; }
    shc run view "$RUN_ID" --json > view.json
    field() { jq -r --arg t "$1" ".items[] | select(.task.id == \$t) | .$2" view.json; }
    [ "$(field ok status)" = completed ] || { cat view.json; false; }
    [ "$(field ok exit_code)" = 0 ]
    [ "$(field three status)" = failed ]
    [ "$(field three exit_code)" = 3 ]
    [ "$(field killed status)" = failed ]
    [[ "$(field killed error)" == *"signal 9"* ]] || { cat view.json; false; }
    # What scripthut reported is what accounting recorded.
    [ "$(sacct_job "$(field ok job_id)")" = "COMPLETED|0:0" ]
    [ "$(sacct_job "$(field three job_id)")" = "FAILED|3:0" ]
    [ "$(sacct_job "$(field killed job_id)")" = "FAILED|0:9" ]
    # sacct was asked (scontrol may be too, for a job whose end record had
    # not reached slurmdbd yet: that is asynchronous).
    command_log > cmds
    grep -q '# sacct$' cmds || { cat cmds; false; }
}

@test "a job hitting its time limit is TIMEOUT from sacct" {
    need_accounting
    # Slurm limits are whole minutes, checked about every 30 s: ~80 s.
    config <<EOF
workflow "slow" { backend = "hpc", tasks = {
  { id = "late", working_dir = "$RDIR", memory = "100M", time_limit = "1", command = "sleep 300" },
} }
EOF
    SH_TIMEOUT=240 run_workflow slow
    [ "$status" -ne 0 ] || { show_output; false; }
    [[ "$output" != *"accounting is not available"* ]] || { show_output; false; }
    [ "$(task_field "$RUN_ID" late status)" = failed ]
    [[ "$(task_field "$RUN_ID" late error)" == *TIMEOUT* ]] || { shc run view "$RUN_ID" --json; false; }
    [[ "$(sacct_job "$(task_field "$RUN_ID" late job_id)")" == TIMEOUT\|* ]]
}

@test "a cancelled pending job is cancelled in sacct and in the run" {
    need_accounting
    config <<EOF
workflow "later" { backend = "hpc", tasks = {
  { id = "hog", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
  { id = "waits", working_dir = "$RDIR", cpus = 2, memory = "100M", command = "sleep 120" },
} }
EOF
    run shc workflow run later --json
    [ "$status" -eq 0 ] || { show_output; false; }
    RUN_ID="$(printf '%s' "$output" | jq -r '.run_id // .id')"
    wait_for 60 task_running "$RUN_ID"
    run shc run cancel "$RUN_ID"
    [ "$status" -eq 0 ] || { show_output; false; }
    wait_for 60 run_status_is "$RUN_ID" cancelled
    for t in hog waits; do
        [ "$(task_field "$RUN_ID" "$t" status)" = cancelled ]
        id="$(task_field "$RUN_ID" "$t" job_id)"
        wait_for 30 sacct_cancelled "$id"
    done
}

task_running() {
    shc run view "$1" --json 2>/dev/null | jq -e '[.items[] | select(.status == "running")] | length > 0' >/dev/null
}
run_status_is() {
    [ "$(shc run view "$1" --json 2>/dev/null | jq -r .status)" = "$2" ]
}
sacct_cancelled() {
    [[ "$(sacct_job "$1")" == CANCELLED* ]]
}

@test "a job that ended and left slurmctld while scripthut was down is finalised from sacct" {
    need_accounting
    # Without accounting this job would be lost: scontrol forgets it after
    # MinJobAge.  Up to ~6 minutes of waiting for the purge.
    config <<EOF
workflow "gone" { backend = "hpc", tasks = {
  { id = "quick", working_dir = "$RDIR", memory = "100M", command = "sleep 5; exit 4" },
} }
EOF
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" workflow run gone --watch --json > watch.out 2>&1 &
    watcher=$!
    wait_for 60 grep -q '"running"\|-> running' watch.out
    kill -9 "$watcher"
    wait "$watcher" 2>/dev/null || true
    RUN_ID="$(head -n 1 watch.out | jq -r '.run_id // .id')"
    id="$(task_field "$RUN_ID" quick job_id)"
    [ -n "$id" ] && [ "$id" != null ]
    wait_for 480 job_purged "$id"
    SH_TIMEOUT=120 run shc run watch "$RUN_ID" --exit-status --json
    [ "$status" -ne 0 ] || { show_output; false; }
    [[ "$output" != *"accounting is not available"* ]] || { show_output; false; }
    [ "$(task_field "$RUN_ID" quick status)" = failed ]
    [ "$(task_field "$RUN_ID" quick exit_code)" = 4 ]
    [ "$(task_field "$RUN_ID" quick job_id)" = "$id" ] # not submitted again
    [ "$(sacct_job "$id")" = "FAILED|4:0" ]
    # Only sacct could tell, and nothing else was asked.
    command_log > cmds
    grep -q '# sacct$' cmds || { cat cmds; false; }
    ! grep -q 'scontrol' cmds || { cat cmds; false; }
}

@test "without accounting the backend says so once and reads ended jobs from scontrol" {
    [ -n "$ACCOUNTING_ERR" ] || skip "sacct works here: this is the no-accounting case"
    [[ "$ACCOUNTING_ERR" == *"accounting storage is disabled"* ]]
    config <<EOF
workflow "fallback" { backend = "hpc", tasks = {
  { id = "ok", working_dir = "$RDIR", memory = "100M", command = "true" },
  { id = "three", working_dir = "$RDIR", memory = "100M", command = "sleep 2; exit 3" },
} }
EOF
    run_workflow fallback
    [ "$status" -ne 0 ] || { show_output; false; }
    [ "$(grep -c 'Slurm accounting is not available' <<<"$output")" -eq 1 ] || { show_output; false; }
    [ "$(task_field "$RUN_ID" ok status)" = completed ]
    [ "$(task_field "$RUN_ID" three status)" = failed ]
    [ "$(task_field "$RUN_ID" three exit_code)" = 3 ]
    command_log > cmds
    [ "$(grep -c '# sacct$' cmds)" -eq 1 ] || { cat cmds; false; } # asked once, never again
    grep -q '# scontrol show job$' cmds || { cat cmds; false; }
}

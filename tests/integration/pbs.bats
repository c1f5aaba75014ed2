#!/usr/bin/env bats
# pbs.bats - a workflow on a `pbs` backend end to end through the real
# binary: the engine, the PBS job script template, the batched qsub, the
# qstat/qstat -x polling and the exit codes.  No PBS server runs here: qsub,
# qstat, qdel, qselect and tracejob are tests/unit/data/pbs/fake_pbs.sh, whose
# qsub (FAKE_PBS_RUN=1) runs each job at once and files its history record.

load helpers

setup_file() {
    : "${SCRIPTHUT_SOURCE_DIR:?set SCRIPTHUT_SOURCE_DIR to the source tree}"
}

# Puts the fake PBS commands first on PATH (state under the test dir).
fake_pbs() {
    FAKE_BIN="$TEST_ROOT/fakebin"
    export FAKE_PBS_STATE="$TEST_ROOT/pbs-state" FAKE_PBS_RUN=1
    mkdir -p "$FAKE_BIN" "$FAKE_PBS_STATE"
    for c in qsub qstat qdel qselect tracejob; do
        ln -s "$SCRIPTHUT_SOURCE_DIR/tests/unit/data/pbs/fake_pbs.sh" "$FAKE_BIN/$c"
    done
    export PATH="$FAKE_BIN:$PATH"
}

@test "a workflow on a pbs backend runs through qsub and qstat and keeps the exit codes" {
    fake_pbs
    cat > "$WORK/scripthut.lua" <<EOF2
settings { poll_interval = 1 }
backend "hpc" { type = "pbs", queue = "workq", account = "proj" }
workflow "w" { backend = "hpc", tasks = {
  { id = "a", cpus = 2, memory = "4G", time_limit = "1:30:00", working_dir = "$WORK",
    command = "echo from-a; echo \"\$PBS_JOBID\" > jobid" },
  { id = "b", deps = { "a" }, working_dir = "$WORK", command = "echo oops >&2; exit 3" },
}, }
EOF2
    run sh workflow run w --watch --json
    printf '%s\n' "$output" | tail -n 1 > "$WORK/detail.json"
    [ "$(jq -r .status "$WORK/detail.json")" = failed ] || { show_output; false; }
    [ "$(jq -r '.items[] | select(.task.id == "a") | .status' "$WORK/detail.json")" = completed ]
    [ "$(jq -r '.items[] | select(.task.id == "b") | .status' "$WORK/detail.json")" = failed ]
    [ "$(jq -r '.items[] | select(.task.id == "b") | .exit_code' "$WORK/detail.json")" = 3 ]
    # the job ran as a PBS job, in its working dir
    [ "$(cat "$WORK/jobid")" = 100.fakepbs ]
    # the script qsub received carries the task's resources in PBS Pro form
    grep -qx '#PBS -q workq' "$FAKE_PBS_STATE/script.100"
    grep -qx '#PBS -A proj' "$FAKE_PBS_STATE/script.100"
    grep -qx '#PBS -l select=1:ncpus=2:mem=4gb' "$FAKE_PBS_STATE/script.100"
    grep -qx '#PBS -l walltime=01:30:00' "$FAKE_PBS_STATE/script.100"
    bash -n "$FAKE_PBS_STATE/script.100"
    # the tag is the job name, and the logs are where `run logs` reads them
    grep -q '^qsub -N sh-' "$FAKE_PBS_STATE/calls"
    local id
    id="$(jq -r .id "$WORK/detail.json")"
    run sh run logs "$id" a
    assert_contains from-a
}

@test "a pbs backend with flavor torque sends nodes=1:ppn=N and reads C jobs from qstat -f" {
    fake_pbs
    export FAKE_PBS_TORQUE=1
    cat > "$WORK/scripthut.lua" <<EOF2
settings { poll_interval = 1 }
backend "hpc" { type = "pbs", flavor = "torque" }
workflow "w" { backend = "hpc", tasks = {
  { id = "a", cpus = 3, memory = "512M", working_dir = "$WORK", command = "true" },
}, }
EOF2
    run sh workflow run w --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    grep -qx '#PBS -l nodes=1:ppn=3' "$FAKE_PBS_STATE/script.100"
    grep -qx '#PBS -l mem=512mb' "$FAKE_PBS_STATE/script.100"
    run ! grep -q '^qstat -x' "$FAKE_PBS_STATE/calls"
}

@test "backend list shows a pbs backend and a bad flavor is a config error" {
    cat > "$WORK/scripthut.lua" <<'EOF2'
backend "hpc" { type = "pbs", queue = "workq", ssh = { host = "login.example", user = "me" } }
EOF2
    run sh backend list
    assert_status 0
    assert_contains pbs
    cat > "$WORK/scripthut.lua" <<'EOF2'
backend "hpc" { type = "pbs", flavor = "lsf" }
EOF2
    run --separate-stderr sh backend list
    [ "$status" -ne 0 ] || { show_output; false; }
    assert_stderr_contains 'flavor must be one of "pbspro", "torque", got "lsf"'
}

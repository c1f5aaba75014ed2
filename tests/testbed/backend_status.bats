#!/usr/bin/env bats
# backend_status.bats - `backend status` / `backend list` of a Slurm backend
# over ssh, while the detached engine (another process) runs a task and after
# it: connection state, counters, the command log, queue depth, sinfo; and a
# backend whose port is closed shows its error.

load helpers.bash

@test "while a task runs over SSH, backend status shows the live connection, counters and log" {
    config "" <<EOF
workflow "slow" { backend = "hpc", tasks = {
  { id = "nap", working_dir = "$RDIR", memory = "100M", command = "sleep 60" },
} }
EOF
    run shc workflow run slow --json
    [ "$status" -eq 0 ] || { show_output; false; }
    id="$(printf '%s\n' "$output" | jq -r '.run_id // .id')"
    wait_for 60 hpc_status_matches '.live and .active_jobs == 1'
    run shc backend status hpc --json
    echo "$output" | jq -e '
        .transport.state == "connected" and .connected == true
        and .transport.counters.commands > 0 and .transport.counters.failed == 0
        and .transport.counters.stdout_bytes > 0 and (.transport.last_command_at | type) == "string"
        and (.transport.log | length) > 0 and (.transport.log[0].command | type) == "string"
        and .transport.last_error == null
        and .cluster.nodes >= 1 and .cluster.cpus_total >= 1
        and any(.cluster.partitions[]; .name == "debug" and .default)' >/dev/null ||
        { show_output; false; }
    run shc backend status hpc
    assert_status 0
    assert_contains "hpc (slurm): connected"
    assert_contains "recent commands (newest first):"
    assert_contains "partition:     debug*: up"
    assert_contains "exit 0   sh -s # squeue"
    run shc backend list
    [[ "$output" =~ hpc\ +slurm\ +connected\ +1\  ]] || { show_output; false; }
    shc run cancel "$id" >/dev/null
    wait_for 60 run_has_status_c "$id" cancelled
}

run_has_status_c() {
    [ "$(shc run view "$1" --json 2>/dev/null | jq -r .status)" = "$2" ]
}

@test "after a workflow ran with --watch, backend status shows what it did and that no engine runs" {
    config "" <<EOF
workflow "one" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "echo hi" },
} }
EOF
    run_workflow one
    [ "$status" -eq 0 ] || { show_output; false; }
    run shc backend status hpc --json
    echo "$output" | jq -e '.live == false and (.note | startswith("engine not running, last seen"))
        and .transport.counters.commands > 0 and (.transport.log | length) > 0' >/dev/null ||
        { show_output; false; }
    # Scripts travel on stdin and are never logged.
    run ! grep -rq "echo hi" "$XDG_DATA_HOME/scripthut/backends/"
}

@test "a backend pointed at a closed port shows the connection error" {
    config "" <<EOF
workflow "never" { backend = "hpc", tasks = {
  { id = "a", working_dir = "$RDIR", memory = "100M", command = "true" },
} }
EOF
    sed -i "s/port = $TESTBED_SSH_PORT/port = 1/" "$WORK/scripthut.lua"
    run shc workflow run never --json
    [ "$status" -eq 0 ] || { show_output; false; }
    id="$(printf '%s\n' "$output" | jq -r '.run_id // .id')"
    wait_for 60 hpc_status_matches '.transport.last_error // "" | test("cannot connect")'
    run shc backend status hpc --json
    echo "$output" | jq -e '.connected == false and .transport.state == "disconnected"
        and .transport.counters.connect_failures > 0' >/dev/null || { show_output; false; }
    run shc backend list
    assert_contains "cannot connect"
    shc run cancel "$id" >/dev/null
}

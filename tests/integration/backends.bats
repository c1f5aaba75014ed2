#!/usr/bin/env bats
# backends.bats - `backend list` and `backend status` on this machine: what
# the engine (the detached daemon, another process) last saw of each backend,
# and an honest "engine not running" once it is gone.

load helpers.bash

# True once `backend status local --json` matches the jq filter.
status_matches() {
    sh backend status local --json 2>/dev/null | jq -e "$1" >/dev/null
}

@test "backend status shows the detached engine's queue depth while a task runs" {
    id="$(submit_task 'sleep 30')"
    wait_for 30 task_has_status "$id" "$(sh run view "$id" --json | jq -r '.items[0].task.id')" running
    wait_for 30 status_matches '.live == true and .engine_running == true and .active_jobs == 1
        and (.last_seen | type) == "string" and (has("note") | not)'
    run sh backend status local
    assert_status 0
    assert_contains "local (local): ready"
    assert_contains "active jobs:   1 (max"
    run sh backend list
    assert_status 0
    [[ "${lines[1]}" =~ ^local\ +local\ +ready\ +1\  ]] || { show_output; false; }
    sh run cancel "$id" >/dev/null
    wait_for 30 status_matches '.active_jobs == 0'
}

@test "after the engine exits, backend status says when it was last seen" {
    id="$(submit_task 'true')"
    wait_for 30 run_has_status "$id" completed
    sh daemon stop >/dev/null 2>&1 || true
    wait_for 30 status_matches '.engine_running == false'
    run sh backend status local --json
    assert_status 0
    echo "$output" | jq -e '.live == false and (.note | startswith("engine not running, last seen 20"))
        and .active_jobs == 0' >/dev/null || { show_output; false; }
    run sh backend status
    assert_status 0
    assert_contains "engine not running, last seen"
}

@test "backend status of an unknown backend names the known ones" {
    run --separate-stderr sh backend status nope
    assert_status 1
    assert_stderr_contains "unknown backend 'nope' (known: local)"
}

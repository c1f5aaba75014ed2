#!/usr/bin/env bats
# api.bats - the REST API of `scripthut serve` against the real server on a
# loopback port: every endpoint, every error code, the token rules, SSE with
# resume, and bad input (docs/api.md).

load helpers
load server_helpers

write_config() {
    cat >"$WORK/scripthut.lua" <<LUA
workflow "pair" {
  description = "two tasks",
  tasks = {
    { id = "one", command = "echo one", working_dir = "$WORK" },
    { id = "two", command = "echo two", deps = { "one" }, working_dir = "$WORK" },
  },
}
LUA
}

# --- health, backends, openapi ---------------------------------------------------

@test "health reports the loaded config, the engine and the backends" {
    start_server
    req GET /api/v1/health
    assert_code 200
    assert_jq '.status == "ok" and .config_loaded == true and .config_error == null'
    assert_jq '.engine.running == true'
    assert_jq '.backends | map(.name) | index("local") != null'
}

@test "backends lists the configured backends" {
    start_server
    req GET /api/v1/backends
    assert_code 200
    assert_jq '.backends[] | select(.name == "local") | .type == "local" and .connected == true'
}

@test "openapi.json is served and is an OpenAPI 3 document" {
    start_server
    req GET /api/v1/openapi.json
    assert_code 200
    assert_jq '.openapi | startswith("3.")'
    assert_jq '.paths["/runs/{run_id}/cancel"].post != null'
}

@test "the dashboard is served from the binary; unknown files are 404 without listing" {
    start_server
    req_bare GET /
    assert_code 200
    [[ "$BODY" == *"<html"* || "$BODY" == *"<!doctype html"* ]] || { echo "$BODY"; false; }
    req_bare GET /no/such/file.js
    assert_code 404
    req_bare GET /..%2f..%2fetc/passwd
    assert_code 404
}

# --- submissions and runs ---------------------------------------------------------

@test "POST /tasks/run returns the pending summary at once and the run completes" {
    start_server
    id="$(submit_api 'sleep 0.5; echo hello' greet)"
    [ -n "$id" ] && [ "$id" != null ]
    req GET "/api/v1/runs/$id"
    assert_jq '.workflow_name == "_adhoc/greet" and .task_count == 1'
    wait_for 20 api_run_has_status "$id" completed
    req GET "/api/v1/runs/$id/tasks/greet/logs"
    assert_code 200
    assert_jq '.content == "hello\n" and .type == "output" and .task_id == "greet"'
}

@test "POST /tasks/run validates its payload" {
    start_server
    req POST /api/v1/tasks/run -d '{"task": {"id": "x", "command": "true"}}'
    assert_code 422
    assert_jq '.detail | contains("backend")'
    req POST /api/v1/tasks/run -d '{"task": "echo", "backend": "local"}'
    assert_code 422
    req POST /api/v1/tasks/run -d '{"task": {"id": "x"}, "backend": "local"}'
    assert_code 422
    assert_jq '.detail | contains("command")'
    req POST /api/v1/tasks/run -d '{"task": {"id": "x", "command": "true"}, "backend": "nope"}'
    assert_code 422
    assert_jq '.detail | contains("Backend '"'"'nope'"'"' not found")'
}

@test "run list filters by workflow and limits, newest first" {
    start_server
    a="$(submit_api 'true' a)"
    submit_api 'true' b >/dev/null
    c="$(submit_api 'true' b)"
    req GET '/api/v1/runs?limit=2'
    assert_code 200
    assert_jq '.runs | length == 2'
    assert_jq ".runs[0].id == \"$c\""
    req GET '/api/v1/runs?workflow=_adhoc/a'
    assert_jq ".runs | length == 1 and .[0].id == \"$a\""
    req GET '/api/v1/runs?limit=abc'
    assert_code 422
    req GET '/api/v1/runs?limit=-1'
    assert_code 422
}

@test "unknown runs and tasks are 404" {
    start_server
    req GET /api/v1/runs/deadbeef
    assert_code 404
    assert_jq '.detail == "Run '"'"'deadbeef'"'"' not found"'
    req POST /api/v1/runs/deadbeef/cancel
    assert_code 404
    req POST /api/v1/runs/deadbeef/rerun
    assert_code 404
    req DELETE /api/v1/runs/deadbeef
    assert_code 404
    req GET /api/v1/runs/deadbeef/events
    assert_code 404
    id="$(submit_api 'true' t)"
    req GET "/api/v1/runs/$id/tasks/nope/logs"
    assert_code 404
}

@test "logs: type, tail, and errors" {
    start_server
    id="$(submit_api 'printf "1\n2\n3\n"; echo oops >&2' t)"
    wait_for 20 api_run_has_status "$id" completed
    req GET "/api/v1/runs/$id/tasks/t/logs?tail=2"
    assert_jq '.content == "2\n3\n"'
    req GET "/api/v1/runs/$id/tasks/t/logs?type=error"
    assert_jq '.content == "oops\n" and .type == "error"'
    req GET "/api/v1/runs/$id/tasks/t/logs?type=script"
    assert_code 422
    req GET "/api/v1/runs/$id/tasks/t/logs?tail=x"
    assert_code 422
}

@test "logs follow streams the output over SSE and ends with the task" {
    start_server
    id="$(submit_api 'echo first; sleep 1; echo second' t)"
    run timeout 20 curl -sN "${AUTH[@]}" "$URL/api/v1/runs/$id/tasks/t/logs?follow=true"
    assert_status 0
    [[ "$output" == *"event: log"* ]] || { show_output; false; }
    [[ "$output" == *'first\n'* ]] && [[ "$output" == *'second\n'* ]] || { show_output; false; }
    [[ "$output" == *'event: end'*'"status":"completed"'* ]] || { show_output; false; }
}

@test "cancel stops a running task; the reply carries run_id, cancelled and the summary" {
    start_server
    id="$(submit_api 'sleep 60' t)"
    wait_for 20 api_run_has_status "$id" running
    req POST "/api/v1/runs/$id/cancel?wait=15"
    assert_code 200
    assert_jq ".run_id == \"$id\" and .cancelled == true and .status == \"cancelled\""
    req POST "/api/v1/runs/$id/cancel?wait=99"
    assert_code 422
}

@test "rerun and delete refuse an active run (409) and work on a finished one" {
    start_server
    id="$(submit_api 'sleep 60' t)"
    wait_for 20 api_run_has_status "$id" running
    req POST "/api/v1/runs/$id/rerun"
    assert_code 409
    req DELETE "/api/v1/runs/$id"
    assert_code 409
    req POST "/api/v1/runs/$id/cancel?wait=15"
    req POST "/api/v1/runs/$id/rerun?failed_only=true"
    assert_code 200
    new="$(printf '%s' "$BODY" | jq -r .id)"
    [ "$new" != "$id" ]
    assert_jq '.rerun_of == "'"$id"'"'
    req POST "/api/v1/runs/$id/rerun?failed_only=maybe"
    assert_code 422
    req DELETE "/api/v1/runs/$id"
    assert_code 200
    assert_jq ".id == \"$id\" and .deleted == true"
    req GET "/api/v1/runs/$id"
    assert_code 404
    req POST "/api/v1/runs/$new/cancel?wait=15"
}

@test "run events lists transitions after a sequence number" {
    start_server
    id="$(submit_api 'true' t)"
    wait_for 20 api_run_has_status "$id" completed
    req GET "/api/v1/runs/$id/events"
    assert_code 200
    assert_jq '.events | map(.to) | index("completed") != null'
    last="$(printf '%s' "$BODY" | jq .last_seq)"
    req GET "/api/v1/runs/$id/events?after=$last"
    assert_jq '.events == []'
}

# --- workflows ------------------------------------------------------------------------

@test "workflows: list, dry-run view, run, and unknown names" {
    write_config
    start_server
    req GET /api/v1/workflows
    assert_code 200
    assert_jq '.workflows | map(.name) == ["pair"]'
    req GET /api/v1/workflows/pair
    assert_code 200
    assert_jq '.task_count == 2 and (.scripts | length == 2)'
    req POST /api/v1/workflows/pair/run
    assert_code 200
    id="$(printf '%s' "$BODY" | jq -r .id)"
    assert_jq '.workflow_name == "pair" and .task_count == 2'
    wait_for 20 api_run_has_status "$id" completed
    req GET /api/v1/workflows/nope
    assert_code 404
    req POST /api/v1/workflows/nope/run
    assert_code 404
    req POST '/api/v1/workflows/pair/run?backend=nope'
    assert_code 422
}

@test "a workflow the server does not define runs from a resolved task list" {
    start_server
    req POST /api/v1/workflows/mine/run -d '{"tasks": [{"id": "a", "command": "true"},
        {"id": "b", "command": "true", "deps": ["a"]}], "backend": "local"}'
    assert_code 200
    assert_jq '.workflow_name == "mine" and .task_count == 2'
    req POST /api/v1/workflows/mine/run -d '{"tasks": [{"id": "a", "command": "true", "deps": ["a"]}]}'
    assert_code 422
}

# --- events (SSE) -------------------------------------------------------------------------

@test "events streams new transitions live, and Last-Event-ID resumes after a given event" {
    start_server
    timeout 6 curl -sN "${AUTH[@]}" "$URL/api/v1/events" >"$TEST_ROOT/live.txt" &
    sleep 0.5
    id="$(submit_api 'true' t)"
    wait_for 20 api_run_has_status "$id" completed
    wait_for 10 grep -q '"to":"completed"' "$TEST_ROOT/live.txt"
    grep -q "^event: task" "$TEST_ROOT/live.txt"
    grep -q "^event: run" "$TEST_ROOT/live.txt"
    req GET "/api/v1/runs/$id/events"
    first="$(printf '%s' "$BODY" | jq '.events[0].seq')"
    total="$(printf '%s' "$BODY" | jq '.events | length')"
    run timeout 3 curl -sN "${AUTH[@]}" -H "Last-Event-ID: $first" "$URL/api/v1/events"
    ids="$(printf '%s\n' "$output" | sed -n 's/^id: //p')"
    [ "$(printf '%s\n' "$ids" | head -n 1)" = "$((first + 1))" ] || { show_output; false; }
    [ "$(printf '%s\n' "$ids" | wc -l)" = "$((total - 1))" ] || { show_output; false; }
    run timeout 3 curl -sN "${AUTH[@]}" "$URL/api/v1/events?last_event_id=$first&run_id=$id"
    [ "$(printf '%s\n' "$output" | grep -c '^id: ')" = "$((total - 1))" ] || { show_output; false; }
    req GET "/api/v1/events?last_event_id=x"
    assert_code 422
}

@test "event streams are capped below the worker count (503 past the cap)" {
    start_server --threads 6
    timeout 8 curl -sN "${AUTH[@]}" "$URL/api/v1/events" >/dev/null &
    timeout 8 curl -sN "${AUTH[@]}" "$URL/api/v1/events" >/dev/null &
    sleep 1
    req GET /api/v1/events
    assert_code 503
    assert_jq '.detail | contains("too many event streams")'
    req GET /api/v1/health
    assert_code 200
}

# --- bad input ------------------------------------------------------------------------------

@test "malformed, non-object, truncated and huge bodies are refused" {
    start_server
    req POST /api/v1/tasks/run -d '{"task": '
    assert_code 422
    assert_jq '.detail | startswith("invalid JSON body")'
    req POST /api/v1/tasks/run -d '[1, 2]'
    assert_code 422
    req POST /api/v1/tasks/run -d ''
    assert_code 422
    req POST /api/v1/tasks/run -d '{"a": 1, "a": 2}'
    assert_code 422
    head -c 9000000 /dev/zero | tr '\0' ' ' >"$TEST_ROOT/huge.json"
    req POST /api/v1/tasks/run --data-binary @"$TEST_ROOT/huge.json"
    assert_code 413
    req POST /api/v1/tasks/run -H 'Transfer-Encoding: chunked' -d '{}'
    [[ "$CODE" == 411 || "$CODE" == 422 ]] || { echo "$CODE $BODY"; false; }
}

@test "odd methods and unknown paths get 405 and 404" {
    start_server
    req PUT /api/v1/runs
    assert_code 405
    assert_jq '.detail == "Method Not Allowed"'
    req PATCH /api/v1/runs/deadbeef
    assert_code 405
    req POST /api/v1/health
    assert_code 405
    req GET /api/v1/nope
    assert_code 404
    assert_jq '.detail == "Not Found"'
    req GET /api/v1/runs/a/b/c/d/e
    assert_code 404
    req GET /api/v1//runs
    assert_code 404
}

@test "path traversal in every path parameter is refused" {
    write_config
    start_server
    id="$(submit_api 'true' t)"
    for path in "/api/v1/runs/.." "/api/v1/runs/%2e%2e" "/api/v1/runs/..%2F..%2Fetc" \
                "/api/v1/runs/$id/tasks/..%2F..%2Fpasswd/logs" "/api/v1/runs/$id/tasks/%2e%2e/logs" \
                "/api/v1/runs/a%5Cb" "/api/v1/runs/a%00b" "/api/v1/workflows/..%2Fpair" \
                "/api/v1/workflows/%2e" ; do
        req_bare GET "$path" --path-as-is
        [ "$CODE" = 422 ] || { echo "$path -> $CODE $BODY"; false; }
    done
    req POST "/api/v1/runs/..%2F$id/cancel"
    assert_code 422
    req POST "/api/v1/workflows/..%2Fpair/run"
    assert_code 422
}

# --- security -----------------------------------------------------------------------------------

@test "mutating calls with a body need Content-Type: application/json, and a matching Origin" {
    start_server
    id="$(submit_api 'sleep 30' t)"
    req_bare POST "/api/v1/runs/$id/cancel" -d '{}'
    assert_code 415
    req_bare POST "/api/v1/runs/$id/cancel" -H 'Content-Type: text/plain'
    assert_code 415
    req_bare DELETE "/api/v1/runs/$id" -H 'Content-Type: application/x-www-form-urlencoded'
    assert_code 415
    req POST "/api/v1/runs/$id/cancel" -H 'Origin: http://evil.example'
    assert_code 403
    req POST "/api/v1/runs/$id/cancel?wait=15" -H "Origin: http://127.0.0.1:$SERVER_PORT"
    assert_code 200
}

@test "without a token only loopback Host names are answered (DNS rebinding)" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { api_token = false }\n' >"$XDG_CONFIG_HOME/scripthut/config.lua"
    start_server
    req GET /api/v1/runs -H 'Host: attacker.example'
    assert_code 403
    req GET /api/v1/runs -H "Host: attacker.example:$SERVER_PORT"
    assert_code 403
    req GET /api/v1/runs -H "Host: localhost:$SERVER_PORT"
    assert_code 200
}

@test "with an API token every API call needs the bearer token or the session cookie" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    req GET /api/v1/runs
    assert_code 401
    req GET /api/v1/health
    assert_code 401
    req GET /api/v1/runs -H 'Authorization: Bearer wrong'
    assert_code 401
    req GET /api/v1/runs -H 'Authorization: Bearer s3cret'
    assert_code 200
    req GET /api/v1/session
    assert_jq '.auth_required == true and .authenticated == false'
    req POST /api/v1/session -d '{"token": "wrong"}'
    assert_code 401
    req POST /api/v1/session -d '{"token": "s3cret"}' -c "$TEST_ROOT/cookies"
    assert_code 200
    grep -q scripthut_session "$TEST_ROOT/cookies"
    run ! grep -q s3cret "$TEST_ROOT/cookies"
    req GET /api/v1/runs -b "$TEST_ROOT/cookies"
    assert_code 200
    req GET /api/v1/runs -b "scripthut_session_$SERVER_PORT=forged"
    assert_code 401
    # The dashboard's files hold no data and load without the token.
    req_bare GET /
    assert_code 200
}

@test "the token may come from settings.api_token" {
    cat >"$XDG_CONFIG_HOME/scripthut/config.lua" 2>/dev/null || mkdir -p "$XDG_CONFIG_HOME/scripthut"
    cat >"$XDG_CONFIG_HOME/scripthut/config.lua" <<'LUA'
settings { api_token = "from-config" }
LUA
    start_server
    req GET /api/v1/runs
    assert_code 401
    req GET /api/v1/runs -H 'Authorization: Bearer from-config'
    assert_code 200
}

@test "a non-loopback bind without a token is refused with an explanation" {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { api_token = false }\n' >"$XDG_CONFIG_HOME/scripthut/config.lua"
    run --separate-stderr timeout 10 "$SCRIPTHUT_BIN" serve --host 0.0.0.0 --port 0
    assert_status 1
    assert_stderr_contains "without an API token"
    assert_stderr_contains "api_token"
}

# --- lifecycle ---------------------------------------------------------------------------------------

@test "a broken config starts the server degraded: health says why, the rest is 503" {
    cat >"$WORK/scripthut.lua" <<'LUA'
backend "broken" { type = "no-such-type" }
LUA
    start_server
    req GET /api/v1/health
    assert_code 200
    assert_jq '.config_loaded == false and (.config_error | contains("scripthut.lua"))'
    req GET /api/v1/runs
    assert_code 503
    assert_jq '.detail | startswith("Config not loaded")'
    req GET /api/v1/backends
    assert_code 200
    assert_jq '.backends == []'
}

@test "a second server on the same data dir says another engine holds it" {
    start_server
    run --separate-stderr timeout 10 "$SCRIPTHUT_BIN" serve --port 0
    assert_status 1
    assert_stderr_contains "another scripthut engine (pid $SERVER_PID)"
}

@test "SIGTERM shuts down cleanly and hands active runs to the detached engine" {
    start_server
    id="$(submit_api 'sleep 2; echo done' t)"
    wait_for 20 api_run_has_status "$id" running
    stop_server
    [ "$SERVER_STATUS" = 0 ] || { cat "$SERVER_ERR"; false; }
    wait_for 30 run_has_status "$id" completed
}

# --- stacks ----------------------------------------------------------------------------------------

@test "stacks: list, check, install (returns at once), delete, gc, and unknown names" {
    cat >"$WORK/scripthut.lua" <<LUA
stack "quick" { backends = { "local" }, cache_dir = "$TEST_ROOT/stacks", prep = "sleep 1" }
LUA
    start_server
    req GET /api/v1/stacks
    assert_code 200
    assert_jq '.stacks | map(.name) == ["quick"]'
    req GET /api/v1/stacks/quick/check
    assert_code 200
    assert_jq '.checks[0].status.state == "missing"'
    req POST '/api/v1/stacks/quick/install?backend=local'
    assert_code 200
    id="$(printf '%s' "$BODY" | jq -r .id)"
    assert_jq '.workflow_name == "_stack/quick" and .status == "pending"'
    wait_for 30 api_run_has_status "$id" completed
    req GET /api/v1/stacks/check
    assert_jq '.checks[0].status.state == "ready"'
    # One backend asked: the status object itself, as the original's clients read it.
    req GET '/api/v1/stacks/quick/check?backend=local'
    assert_code 200
    assert_jq '.name == "quick" and .backend == "local" and .state == "ready" and
        (.hash | test("^[0-9a-f]{12}$")) and .locked == false and .note == null and .error == null'
    req GET '/api/v1/stacks/quick/check?backend=nope'
    assert_code 422
    assert_jq '.detail | startswith("Backend '"'"'nope'"'"' not found in config")'
    req POST '/api/v1/stacks/gc?dry_run=true'
    assert_code 200
    req DELETE '/api/v1/stacks/quick?backend=local'
    assert_code 200
    req GET /api/v1/stacks/nope/check
    assert_code 404
    req POST /api/v1/stacks/nope/install
    assert_code 404
    req POST '/api/v1/stacks/quick/install?rebuild=perhaps'
    assert_code 422
}

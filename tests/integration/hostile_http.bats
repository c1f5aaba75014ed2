#!/usr/bin/env bats
# hostile_http.bats - the HTTP server against what an attacker on a shared
# machine sends (issue 17: items 1, 2, 4, 5, 6, 14, 16, 19; issue 12: the
# request guard), each replayed against the real server.  Every test here
# fails on the server as it was before these fixes (docs/security.md, "The
# server").

# Each @test runs in its own subshell; a variable set in one is read only
# within that test.
# shellcheck disable=SC2030,SC2031
load helpers
load server_helpers

user_config() {
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf '%s\n' "$1" >"$XDG_CONFIG_HOME/scripthut/config.lua"
}

server_alive() {
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server died:"; cat "$SERVER_ERR"; return 1; }
}

# --- item 1: nested JSON ----------------------------------------------------------

@test "deeply nested JSON is refused before parsing; the server lives on" {
    start_server
    python3 -c 'print("[" * 1000)' >"$TEST_ROOT/nested.json"
    req POST /api/v1/tasks/run --data-binary @"$TEST_ROOT/nested.json"
    assert_code 422
    assert_jq '.detail | contains("deeper than 64")'
    python3 -c 'print("{\"task\": " * 5000)' >"$TEST_ROOT/nested2.json"
    req POST /api/v1/workflows/w/run --data-binary @"$TEST_ROOT/nested2.json"
    assert_code 422
    server_alive
    req GET /api/v1/health
    assert_code 200
}

@test "the login route parses no nested body either (it is reached without credentials)" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    python3 -c 'print("[" * 1000)' >"$TEST_ROOT/nested.json"
    req POST /api/v1/session --data-binary @"$TEST_ROOT/nested.json"
    assert_code 422
    server_alive
    # Origin is checked before the body is read.
    req POST /api/v1/session -H 'Origin: http://evil.example' --data-binary @"$TEST_ROOT/nested.json"
    assert_code 403
    server_alive
}

# --- item 2: secure by default -------------------------------------------------------

@test "a server without a configured token makes one, keeps it private, and refuses requests without it" {
    start_server
    token_file="$XDG_DATA_HOME/scripthut/api_token"
    [ -f "$token_file" ] || { cat "$SERVER_OUT"; false; }
    [ "$(stat -c %a "$token_file")" = 600 ]
    grep -q "^API token: $token_file (new)$" "$SERVER_OUT"
    [ ${#SERVER_TOKEN} -eq 64 ]
    # Another user of the machine has no token: nothing runs.
    payload="$(jq -cn --arg wd "$WORK" '{task: {id: "x", command: "touch pwned", working_dir: $wd},
        backend: "local"}')"
    req_anon POST /api/v1/tasks/run -H 'Content-Type: application/json' -d "$payload"
    assert_code 401
    req_anon GET /api/v1/runs
    assert_code 401
    req GET /api/v1/runs
    assert_code 200
    assert_jq '.runs == []'
    [ ! -e "$WORK/pwned" ]
}

@test "the token is never regenerated: a restart reads the same file" {
    start_server
    first="$SERVER_TOKEN"
    [ ${#first} -eq 64 ] || { cat "$SERVER_OUT"; false; }
    stop_server
    start_server
    [ "$SERVER_TOKEN" = "$first" ]
    run ! grep -q "(new)" "$SERVER_OUT"
}

@test "the CLI and the Lua API of the same account read the token from the data dir" {
    start_server
    req_anon GET /api/v1/runs
    assert_code 401
    run sh --server "$URL" run list
    assert_status 0
    assert_contains "No runs"
    cat >"$TEST_ROOT/list.lua" <<'LUA'
local runs = assert(scripthut.runs())
print("runs: " .. #runs)
LUA
    SCRIPTHUT_SERVER="$URL" run sh lua "$TEST_ROOT/list.lua"
    assert_status 0
    assert_contains "runs: 0"
    # A server elsewhere never gets this machine's token.
    run --separate-stderr sh --server "http://127.0.0.1:1" run list
    assert_status 1
}

@test "settings.api_token = false is an explicit opt-out that warns" {
    user_config 'settings { api_token = false }'
    start_server
    grep -q "warning: settings.api_token = false" "$SERVER_ERR"
    [ ! -e "$XDG_DATA_HOME/scripthut/api_token" ]
    req_anon GET /api/v1/runs
    assert_code 200
    user_config 'settings { api_token = true }'
    run --separate-stderr sh workflow list
    assert_status 1
    assert_stderr_contains "api_token must be a non-empty string (or false"
}

@test "a token file other users can read is refused with what to do" {
    mkdir -p "$XDG_DATA_HOME/scripthut"
    printf 'known-to-others\n' >"$XDG_DATA_HOME/scripthut/api_token"
    chmod 644 "$XDG_DATA_HOME/scripthut/api_token"
    run --separate-stderr timeout 10 "$SCRIPTHUT_BIN" serve --port 0
    assert_status 1
    assert_stderr_contains "can be read by other users (mode 0644)"
    assert_stderr_contains "delete it"
}

@test "the dashboard's login link works once and sets a session cookie" {
    start_server
    [ -n "$LOGIN_URL" ] || { cat "$SERVER_OUT"; false; }
    run curl -sS -m 30 -o /dev/null -w '%{http_code} %{redirect_url}' -c "$TEST_ROOT/jar" "$LOGIN_URL"
    [ "$output" = "303 $URL/" ] || { show_output; false; }
    req_anon GET /api/v1/runs -b "$TEST_ROOT/jar"
    assert_code 200
    req_anon GET /api/v1/session -b "$TEST_ROOT/jar"
    assert_jq '.auth_required == true and .authenticated == true'
    run curl -sS -m 30 -o /dev/null -w '%{http_code}' "$LOGIN_URL"
    [ "$output" = 403 ] || { show_output; false; }
}

# --- issue 12: what the original's client sends, what browsers send ------------------------

@test "the original's client: Cloudflare Access headers carry the token; bodyless POSTs need no type" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    AUTH=(-H 'Authorization: Bearer s3cret')
    id="$(submit_api 'sleep 60' t)"
    [ -n "$id" ] && [ "$id" != null ]
    # As spec'd: CL0, no Content-Type, CF-Access-Client-Id + Secret.
    req_anon POST "/api/v1/runs/$id/cancel?wait=15" -H 'Content-Length: 0' \
        -H 'CF-Access-Client-Id: scripthut' -H 'CF-Access-Client-Secret: s3cret'
    assert_code 200
    assert_jq '.cancelled == true'
    req_anon POST "/api/v1/runs/$id/rerun" -H 'Content-Length: 0' -H 'cf-access-token: s3cret'
    assert_code 200
    rerun_id="$(printf '%s' "$BODY" | jq -r .id)"
    req_anon POST "/api/v1/runs/$rerun_id/cancel?wait=15" -H 'cf-access-token: s3cret'
    assert_code 200
    req_anon DELETE "/api/v1/runs/$rerun_id" -H 'CF-Access-Client-Id: scripthut' \
        -H 'CF-Access-Client-Secret: s3cret'
    assert_code 200
    req_anon GET /api/v1/runs -H 'CF-Access-Client-Id: scripthut' -H 'CF-Access-Client-Secret: nope'
    assert_code 401
}

@test "our CLI with SCRIPTHUT_CF_CLIENT_SECRET set to the token works as the original's would" {
    start_server
    [ -n "$SERVER_TOKEN" ] || { cat "$SERVER_OUT"; false; }
    SCRIPTHUT_CF_CLIENT_ID=scripthut SCRIPTHUT_CF_CLIENT_SECRET="$SERVER_TOKEN" \
        HOME="$TEST_ROOT/elsewhere" XDG_DATA_HOME="$TEST_ROOT/elsewhere/data" \
        run sh --server "$URL" run list
    assert_status 0
    assert_contains "No runs"
}

@test "requests from other sites are refused: form POST, no-cors fetch, text/plain body" {
    start_server
    id="$(submit_api 'sleep 60' t)"
    # A cross-site form POST.
    req POST "/api/v1/runs/$id/cancel" -H 'Origin: https://evil.example' \
        -H 'Sec-Fetch-Site: cross-site' -H 'Content-Type: application/x-www-form-urlencoded' -d 'a=1'
    assert_code 403
    # A no-cors fetch: Origin set, no content type, no body.
    req_bare POST "/api/v1/runs/$id/cancel" -H 'Origin: https://evil.example' \
        -H 'Sec-Fetch-Site: cross-site'
    assert_code 403
    req_bare POST "/api/v1/runs/$id/cancel" -H 'Origin: null'
    assert_code 403
    req_bare DELETE "/api/v1/runs/$id" -H 'Sec-Fetch-Site: same-site'
    assert_code 403
    # A text/plain body (what a form with enctype=text/plain sends).
    req_bare POST /api/v1/tasks/run -H 'Content-Type: text/plain' -d '{"task": {}}'
    assert_code 415
    req_bare POST /api/v1/tasks/run --data-binary '{"task": {}}' -H 'Content-Type:'
    assert_code 415
    api_run_has_status "$id" running
    req_bare POST "/api/v1/runs/$id/cancel?wait=15" -H "Origin: $URL" -H 'Sec-Fetch-Site: same-origin'
    assert_code 200
}

# --- item 14: session cookies ------------------------------------------------------------------

login() {
    req_anon POST /api/v1/session -H 'Content-Type: application/json' \
        -d "{\"token\": \"$1\"}" -c "$TEST_ROOT/jar" -D "$TEST_ROOT/headers"
}

@test "a session cookie is an expiring HMAC under a per-server secret, never a hash of the token" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    login s3cret
    assert_code 200
    grep -qi "^Set-Cookie: scripthut_session_$SERVER_PORT=.*Max-Age=86400" "$TEST_ROOT/headers" \
        || { cat "$TEST_ROOT/headers"; false; }
    req_anon GET /api/v1/runs -b "$TEST_ROOT/jar"
    assert_code 200
    # The old cookie was sha256("scripthut-session:" token): anyone with the
    # token's hash was logged in forever.
    old="$(printf 'scripthut-session:s3cret' | sha256sum | cut -d' ' -f1)"
    req_anon GET /api/v1/runs -b "scripthut_session=$old; scripthut_session_$SERVER_PORT=$old"
    assert_code 401
    # A restart draws a new secret: every session ends.
    stop_server
    SCRIPTHUT_API_TOKEN=s3cret start_server
    req_anon GET /api/v1/runs -b "$TEST_ROOT/jar"
    assert_code 401
}

@test "logging out revokes the session on the server, not only in the browser" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    login s3cret
    name="$(awk '$6 ~ /^scripthut_session/ { print $6 }' "$TEST_ROOT/jar")"
    cookie="$(awk '$6 ~ /^scripthut_session/ { print $7 }' "$TEST_ROOT/jar")"
    [ -n "$cookie" ]
    req_anon GET /api/v1/runs -b "$name=$cookie"
    assert_code 200
    req_anon DELETE /api/v1/session -b "$name=$cookie"
    assert_code 200
    req_anon GET /api/v1/runs -b "$name=$cookie"
    assert_code 401
}

@test "failed logins are rate limited (429 with Retry-After); an open session keeps working" {
    SCRIPTHUT_API_TOKEN=s3cret start_server
    login s3cret
    # The bucket refills with time, so on a slow machine it takes more than 10
    # guesses to empty it: guess until refused (at most 100).
    codes=""
    for _ in $(seq 1 100); do
        req_anon POST /api/v1/session -H 'Content-Type: application/json' -d '{"token": "guess"}' \
            -D "$TEST_ROOT/refused"
        codes="$codes $CODE"
        [ "$CODE" != 429 ] || break
    done
    [[ "$codes" == *429 ]] || { echo "codes:$codes"; false; }
    [[ "$codes" != *" 200"* ]] || { echo "codes:$codes"; false; }
    grep -q '^Retry-After: [0-9]' "$TEST_ROOT/refused" || { cat "$TEST_ROOT/refused"; false; }
    req_anon GET /api/v1/runs -b "$TEST_ROOT/jar"
    assert_code 200
    # The bucket refills: the right token gets through again.
    wait_for 60 token_accepted_again
}

token_accepted_again() {
    req_anon GET /api/v1/runs -H 'Authorization: Bearer s3cret'
    [ "$CODE" = 200 ]
}

# --- item 16, item 19: odd ids and event ids ---------------------------------------------------

@test "an id that is not UTF-8 is a 422 with a whole JSON body" {
    start_server
    req GET '/api/v1/runs/%ff%fe'
    assert_code 422
    assert_jq '.detail | contains("invalid path parameter")'
    req GET '/api/v1/runs/ok%ff/tasks/t/logs'
    assert_code 422
}

@test "an event id that overflows is refused, not taken as the largest number" {
    start_server
    req GET '/api/v1/events?last_event_id=99999999999999999999' -m 5
    assert_code 422
    assert_jq '.detail | contains("Last-Event-ID")'
    req GET /api/v1/events -H 'Last-Event-ID: 9223372036854775808' -m 5
    assert_code 422
}

@test "a refused event stream closes its connection instead of holding a worker" {
    start_server --threads 6
    timeout 20 curl -sN "${AUTH[@]}" "$URL/api/v1/events" >/dev/null &
    timeout 20 curl -sN "${AUTH[@]}" "$URL/api/v1/events" >/dev/null &
    wait_for 20 stream_refused
    # One curl, two requests: the second needs a new connection.
    run curl -sS -m 30 "${AUTH[@]}" -o /dev/null -o /dev/null \
        -w '%{http_code} %{num_connects}\n' "$URL/api/v1/events" "$URL/api/v1/health"
    [ "$(printf '%s\n' "$output" | head -1)" = "503 1" ] || { show_output; false; }
    [ "$(printf '%s\n' "$output" | tail -1)" = "200 1" ] || { show_output; false; }
}

stream_refused() {
    req GET /api/v1/events -m 5
    [ "$CODE" = 503 ]
}

# server_helpers.bash - start `scripthut serve` for a test and talk to it.
#
# Load after helpers.bash.  The server listens on 127.0.0.1 on a port the
# kernel picks (--port 0; read back from its "serving" line), runs from the
# test's own dir with the test's HOME, and is stopped with SIGTERM (then
# SIGKILL) by teardown.  Requests go through curl with a deadline.

eval "$(declare -f teardown | sed '1s/teardown/base_teardown/')"

teardown() {
    stop_server
    base_teardown
}

# start_server [serve flags...]: starts the server and sets SERVER_PID,
# SERVER_PORT, URL, and SERVER_TOKEN and LOGIN_URL when the server made or
# read its token in the data dir (not when SCRIPTHUT_API_TOKEN or
# settings.api_token gave it).  Fails (printing the server's stderr) if it
# does not come up within 15 s.
start_server() {
    SERVER_OUT="$TEST_ROOT/server.out"
    SERVER_ERR="$TEST_ROOT/server.err"
    "$SCRIPTHUT_BIN" serve --port 0 "$@" >"$SERVER_OUT" 2>"$SERVER_ERR" &
    SERVER_PID=$!
    if ! wait_for 15 server_listening; then
        echo "--- server stderr:"; cat "$SERVER_ERR"
        return 1
    fi
    SERVER_PORT="$(sed -n 's|^scripthut serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$SERVER_OUT")"
    URL="http://127.0.0.1:$SERVER_PORT"
    # shellcheck disable=SC2034 # LOGIN_URL is read by the tests
    LOGIN_URL="$(sed -n 's|^Dashboard login.*: \(http://.*\)$|\1|p' "$SERVER_OUT")"
    local token_file
    token_file="$(sed -n 's|^API token: \(.*/api_token\)\( (new)\)\{0,1\}$|\1|p' "$SERVER_OUT")"
    SERVER_TOKEN=
    [ -z "$token_file" ] || SERVER_TOKEN="$(cat "$token_file")"
    AUTH=()
    [ -z "$SERVER_TOKEN" ] || AUTH=(-H "Authorization: Bearer $SERVER_TOKEN")
}

server_listening() {
    kill -0 "$SERVER_PID" 2>/dev/null || return 2
    grep -q "serving http://" "$SERVER_OUT" 2>/dev/null
}

# stop_server: SIGTERM, wait up to 10 s, then SIGKILL.  Sets SERVER_STATUS.
# shellcheck disable=SC2034 # SERVER_STATUS is read by the tests
stop_server() {
    [ -n "${SERVER_PID:-}" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    SERVER_STATUS=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_STATUS=$?
    SERVER_PID=
}

# req METHOD PATH [curl args...]: sets CODE (HTTP status) and BODY.  JSON
# content type on every request, and the server's token (SERVER_TOKEN, as
# AUTH) when it has one from the data dir.
req() {
    local method="$1" path="$2"; shift 2
    local out="$TEST_ROOT/resp.body"
    CODE="$(curl -sS -m 30 -o "$out" -w '%{http_code}' -X "$method" \
        -H 'Content-Type: application/json' "${AUTH[@]}" "$@" "$URL$path")" || CODE=000
    BODY="$(cat "$out" 2>/dev/null)"
}

# Like req, without the default Content-Type.
req_bare() {
    local method="$1" path="$2"; shift 2
    local out="$TEST_ROOT/resp.body"
    CODE="$(curl -sS -m 30 -o "$out" -w '%{http_code}' -X "$method" "${AUTH[@]}" "$@" \
        "$URL$path")" || CODE=000
    BODY="$(cat "$out" 2>/dev/null)"
}

# Like req_bare, without credentials.
req_anon() {
    local method="$1" path="$2"; shift 2
    local out="$TEST_ROOT/resp.body"
    CODE="$(curl -sS -m 30 -o "$out" -w '%{http_code}' -X "$method" "$@" "$URL$path")" || CODE=000
    BODY="$(cat "$out" 2>/dev/null)"
}

assert_code() {
    if [ "$CODE" != "$1" ]; then
        echo "expected HTTP $1, got $CODE: $BODY"
        return 1
    fi
}

# assert_jq FILTER: the body satisfies the jq boolean filter.
assert_jq() {
    if ! printf '%s' "$BODY" | jq -e "$1" >/dev/null; then
        echo "body does not satisfy $1: $BODY"
        return 1
    fi
}

# submit_api COMMAND [TASK_ID]: POST /tasks/run on the local backend; prints the run id.
submit_api() {
    local body
    body="$(jq -cn --arg c "$1" --arg id "${2:-t}" --arg wd "$WORK" \
        '{task: {id: $id, command: $c, working_dir: $wd}, backend: "local"}')"
    req POST /api/v1/tasks/run -d "$body"
    printf '%s' "$BODY" | jq -r .id
}

api_run_status() {
    req GET "/api/v1/runs/$1"
    printf '%s' "$BODY" | jq -r .status
}

api_run_has_status() {
    [ "$(api_run_status "$1")" = "$2" ]
}

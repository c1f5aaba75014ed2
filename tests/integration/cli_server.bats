#!/usr/bin/env bats
# cli_server.bats - the CLI in server mode (--server URL / SCRIPTHUT_SERVER /
# settings.cli_server) against a real `scripthut serve`: the same commands
# print the same things as in local mode (docs/cli.md, "Server mode").

# Each @test runs in its own subshell; a variable set in one is read only
# within that test.
# shellcheck disable=SC2030,SC2031
load helpers
load server_helpers

write_config() {
    cat >"$WORK/scripthut.lua" <<LUA
workflow "pair" {
  description = "two tasks",
  tasks = {
    { id = "one", command = "printf 'one\\\\n1\\\\n2\\\\n'", working_dir = "$WORK" },
    { id = "two", command = "echo two; echo warn >&2", deps = { "one" }, working_dir = "$WORK" },
  },
}
LUA
}

# same_in_both_modes ARGS...: the command prints the same stdout and stderr
# and exits the same way locally and through the server.
same_in_both_modes() {
    local lo ls=0 le so ss=0 se
    set -o pipefail
    # Job scripts carry their render time: the one line allowed to differ.
    lo="$(sh --server local "$@" 2>"$TEST_ROOT/l.err" | sed 's/SCRIPTHUT_CREATED_AT=[^"\]*/SCRIPTHUT_CREATED_AT=T/')" || ls=$?
    so="$(sh --server "$URL" "$@" 2>"$TEST_ROOT/s.err" | sed 's/SCRIPTHUT_CREATED_AT=[^"\]*/SCRIPTHUT_CREATED_AT=T/')" || ss=$?
    le="$(cat "$TEST_ROOT/l.err")"; se="$(cat "$TEST_ROOT/s.err")"
    if [ "$lo" != "$so" ] || [ "$ls" != "$ss" ] || [ "$le" != "$se" ]; then
        echo "differs: scripthut $*"
        echo "--- local ($ls):"; printf '%s\n' "$lo" "$le"
        echo "--- server ($ss):"; printf '%s\n' "$so" "$se"
        return 1
    fi
}

@test "workflow run --watch through the server follows the run to the end" {
    write_config
    start_server
    run sh --server "$URL" workflow run pair --watch
    assert_status 0
    assert_contains "completed"
    run sh --server "$URL" run list --json
    [ "$(printf '%s' "$output" | jq -r '.runs[0].status')" = completed ] || { show_output; false; }
}

@test "read commands print the same in local and server mode" {
    write_config
    start_server
    id="$(sh --server "$URL" workflow run pair --json | jq -r .id)"
    run sh --server "$URL" run watch "$id" --exit-status
    assert_status 0
    tid="$(sh --server "$URL" task run 'echo adhoc' --json | jq -r .id)"
    run sh --server "$URL" run watch "$tid" --exit-status
    assert_status 0
    same_in_both_modes run list
    same_in_both_modes run list --json
    same_in_both_modes run list --workflow pair --limit 1
    same_in_both_modes run view "$id"
    same_in_both_modes run view "$id" --json
    same_in_both_modes run logs "$id" one
    same_in_both_modes run logs "$id" one --tail 1
    same_in_both_modes run logs "$id" two --error --json
    same_in_both_modes backend list
    same_in_both_modes backend list --json
    same_in_both_modes workflow list
    same_in_both_modes workflow list --json
    same_in_both_modes workflow view pair --scripts
    same_in_both_modes workflow view pair --json
}

@test "errors print the same one line in both modes" {
    write_config
    start_server
    same_in_both_modes run view deadbeef
    same_in_both_modes run logs deadbeef one
    same_in_both_modes workflow run nope
    same_in_both_modes task run true --backend nope
    run --separate-stderr sh --server "$URL" run view deadbeef
    assert_status 1
    # shellcheck disable=SC2154 # stderr: set by bats' run --separate-stderr
    [ "$stderr" = "Error: Run 'deadbeef' not found" ] || { show_output; false; }
}

@test "an unreachable server gives one friendly Error line" {
    run --separate-stderr sh --server http://127.0.0.1:1 run list
    assert_status 1
    [ "$(printf '%s\n' "$stderr" | wc -l)" = 1 ] || { show_output; false; }
    assert_stderr_contains "Error: could not reach the server at http://127.0.0.1:1/api/v1"
    run --separate-stderr sh --server ftp://example.invalid run list
    assert_status 1
    assert_stderr_contains "must start with http:// or https://"
}

@test "the server comes from --server, SCRIPTHUT_SERVER or settings.cli_server; 'local' forces local" {
    start_server
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { cli_server = "%s" }\n' "$URL" >"$XDG_CONFIG_HOME/scripthut/config.lua"
    run sh status --json
    assert_status 0
    printf '%s' "$output" | jq -e --arg u "$URL" '.server == $u and .server_source == "settings.cli_server"
        and .engine.running == true' >/dev/null || { show_output; false; }
    run sh status
    assert_contains "Server:    $URL (settings.cli_server)"
    SCRIPTHUT_SERVER="$URL" run sh status --json
    printf '%s' "$output" | jq -e '.server_source == "SCRIPTHUT_SERVER"' >/dev/null || { show_output; false; }
    run sh --server local status --json
    printf '%s' "$output" | jq -e '.server == "local"' >/dev/null || { show_output; false; }
    run --separate-stderr sh daemon status
    assert_status 1
    assert_stderr_contains "use --server local"
}

@test "submissions return at once; cancel and rerun work through the server" {
    start_server
    export SCRIPTHUT_SERVER="$URL"
    id="$(submit_task 'sleep 60' --id s)"
    [ "$(run_field "$id" .status)" != completed ]
    wait_for 20 task_has_status "$id" s running
    run sh run cancel "$id"
    assert_status 0
    [ "$output" = "Cancelled run $id" ] || { show_output; false; }
    run sh run rerun "$id" --json
    assert_status 0
    new="$(printf '%s' "$output" | jq -r .id)"
    run sh run cancel "$new" --json
    assert_status 0
    printf '%s' "$output" | jq -e --arg id "$new" '.id == $id and .status == "cancelled" and (has("run_id") | not)' \
        >/dev/null || { show_output; false; }
    run sh run delete "$id"
    assert_status 0
    assert_contains "Deleted run $id"
}

@test "run logs --follow works through the server" {
    start_server
    export SCRIPTHUT_SERVER="$URL"
    id="$(submit_task 'echo a; sleep 1; echo b' --id f)"
    run sh run logs "$id" f --follow --interval 0.2
    assert_status 0
    [ "$output" = "$(printf 'a\nb')" ] || { show_output; false; }
}

@test "a workflow only the client defines is evaluated by the CLI and sent resolved" {
    printf 'settings { poll_interval = 1 }\n' >"$TEST_ROOT/server.lua"
    start_server --config "$TEST_ROOT/server.lua"
    write_config
    req GET /api/v1/workflows
    assert_jq '.workflows == []'
    run sh --server "$URL" workflow run pair --watch
    assert_status 0
    assert_contains "completed"
    req GET '/api/v1/runs?workflow=pair'
    assert_jq '.runs | length == 1 and .[0].task_count == 2'
}

@test "workflow view of a workflow only the client defines previews it from the client's config" {
    printf 'settings { poll_interval = 1 }\n' >"$TEST_ROOT/server.lua"
    start_server --config "$TEST_ROOT/server.lua"
    write_config
    run sh --server "$URL" workflow view pair --json
    assert_status 0
    [ "$(printf '%s' "$output" | jq -r '[.tasks[].id] | join(",")')" = "one,two" ] || { show_output; false; }
    run --separate-stderr sh --server "$URL" workflow view nosuch
    assert_status 1
    assert_stderr_contains "Workflow 'nosuch' not found"
}

@test "stack install of a stack only the client defines sends its resolved install task" {
    printf 'settings { poll_interval = 1 }\n' >"$TEST_ROOT/server.lua"
    start_server --config "$TEST_ROOT/server.lua"
    cat >"$WORK/scripthut.lua" <<LUA
stack "mine" { backends = { "local" }, cache_dir = "$TEST_ROOT/stacks", prep = "echo built > built.txt" }
LUA
    id="$(sh --server "$URL" stack install mine --json | jq -r .id)"
    [ -n "$id" ] && [ "$id" != null ]
    run sh --server "$URL" run watch "$id" --exit-status
    assert_status 0
    req GET "/api/v1/runs/$id"
    assert_jq '.workflow_name == "_stack/mine" and (.items | length) == 1'
    [ -n "$(find "$TEST_ROOT/stacks/mine" -name built.txt)" ] || { ls -R "$TEST_ROOT/stacks"; false; }
    run --separate-stderr sh --server "$URL" stack install nosuch
    assert_status 2
    assert_stderr_contains "Stack 'nosuch' not found"
}

@test "the bearer token comes from SCRIPTHUT_API_TOKEN or settings.cli_auth" {
    SCRIPTHUT_API_TOKEN=tok start_server
    run --separate-stderr sh --server "$URL" run list
    assert_status 1
    assert_stderr_contains "Error: Not authenticated"
    SCRIPTHUT_API_TOKEN=tok run sh --server "$URL" run list
    assert_status 0
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { cli_auth = { token = "tok" } }\n' >"$XDG_CONFIG_HOME/scripthut/config.lua"
    run sh --server "$URL" run list
    assert_status 0
}

@test "--token wins over SCRIPTHUT_API_TOKEN, which wins over settings.cli_auth" {
    SCRIPTHUT_API_TOKEN=tok start_server
    mkdir -p "$XDG_CONFIG_HOME/scripthut"
    printf 'settings { cli_auth = { token = "stale" } }\n' >"$XDG_CONFIG_HOME/scripthut/config.lua"
    run --separate-stderr sh --server "$URL" run list
    assert_status 1
    assert_stderr_contains "Error: Not authenticated"
    SCRIPTHUT_API_TOKEN=wrong run sh --server "$URL" --token tok run list
    assert_status 0
    SCRIPTHUT_API_TOKEN=tok run sh run list --server "$URL" --token=wrong
    assert_status 1
    SCRIPTHUT_API_TOKEN=tok run sh --server "$URL" run list
    assert_status 0
}

@test "Cloudflare Access credentials from flags or the environment are sent as headers" {
    # A recorder standing in for Cloudflare's edge: it writes the headers it
    # received and answers like the API would.
    cat >"$TEST_ROOT/recorder.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "a") as f:
            for k in ("CF-Access-Client-Id", "CF-Access-Client-Secret", "cf-access-token"):
                f.write("%s=%s\n" % (k, self.headers.get(k)))
        body = json.dumps({"runs": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.handle_request()
PY
    coproc REC { python3 "$TEST_ROOT/recorder.py" "$TEST_ROOT/headers"; }
    read -r port <&"${REC[0]}"
    SCRIPTHUT_CF_CLIENT_SECRET=env-secret run sh --server "http://127.0.0.1:$port" \
        --cf-client-id flag-id --cf-access-token flag-jwt run list
    assert_status 0
    wait "$REC_PID" || true
    run cat "$TEST_ROOT/headers"
    assert_contains "CF-Access-Client-Id=flag-id"
    assert_contains "CF-Access-Client-Secret=env-secret"
    assert_contains "cf-access-token=flag-jwt"
}

@test "the seed: stack install through the server returns at once; run watch follows it" {
    cat >"$WORK/scripthut.lua" <<LUA
stack "slow" { backends = { "local" }, cache_dir = "$TEST_ROOT/stacks", prep = "sleep 2; echo built" }
LUA
    start_server
    id="$(sh stack install slow --backend local --server "$URL" --json | jq -r .id)"
    [ -n "$id" ] && [ "$id" != null ]
    status_now="$(sh --server "$URL" run view "$id" --json | jq -r '.items[0].status')"
    case "$status_now" in pending|submitting|submitted|queued|running) ;;
        *) echo "install already $status_now"; false ;; esac
    run sh run watch "$id" --exit-status --server "$URL"
    assert_status 0
    run sh stack check slow --server "$URL"
    assert_status 0
    assert_contains "ready"
    same_in_both_modes stack list
}

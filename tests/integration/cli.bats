#!/usr/bin/env bats
# cli.bats - the command-line surface end to end, on the local backend: what a
# user types, what they see, and the exit codes (docs/cli.md).

load helpers

# The id of the newest run.
newest_run() {
    sh run list --json | jq -r '.runs[0].id'
}

# --- help, version, transport ----------------------------------------------

@test "--version prints the version" {
    run sh --version
    assert_status 0
    [[ "$output" =~ ^scripthut\ [0-9a-z.]+ ]] || { show_output; false; }
}

@test "--help lists the commands and exit codes" {
    run sh --help
    assert_status 0
    assert_contains "task run"
    assert_contains "run watch"
    assert_contains "130 interrupted"
}

@test "a noun's --help lists its commands, a leaf's --help its flags" {
    run sh run --help
    assert_status 0
    assert_contains "run logs"
    run sh run logs --help
    assert_status 0
    assert_contains "--follow"
    assert_contains "--config PATH"
}

@test "--server local forces local mode whatever SCRIPTHUT_SERVER says" {
    SCRIPTHUT_SERVER=http://127.0.0.1:1 run --separate-stderr sh run list
    assert_status 1
    assert_stderr_contains "Error: could not reach the server at http://127.0.0.1:1"
    SCRIPTHUT_SERVER=http://127.0.0.1:1 run sh run list --server local
    assert_status 0
}

@test "global flags work before the noun" {
    run --separate-stderr sh --json run list
    assert_status 0
    echo "$output" | jq -e '.runs | length == 0' >/dev/null || { show_output; false; }
}

# --- usage errors ----------------------------------------------------------

@test "usage errors exit 2 and say what was wrong" {
    run --separate-stderr sh frobnicate
    assert_status 2
    assert_stderr_contains "unknown command 'frobnicate'"

    run --separate-stderr sh run list --bogus
    assert_status 2
    assert_stderr_contains "unknown flag --bogus"

    run --separate-stderr sh run view
    assert_status 2
    assert_stderr_contains "missing argument"

    run --separate-stderr sh run list --limit abc
    assert_status 2
    assert_stderr_contains "--limit: expected an integer"

    run --separate-stderr sh run watch x --interval 0
    assert_status 2
    assert_stderr_contains "--interval"

    run --separate-stderr sh run logs x t --tail
    assert_status 2
    assert_stderr_contains "--tail needs a value"

    run --separate-stderr sh run
    assert_status 2
    assert_stderr_contains "missing command after 'run'"
}

@test "task run usage errors exit 2" {
    run --separate-stderr sh task run
    assert_status 2
    assert_stderr_contains "Provide a command argument"

    run --separate-stderr sh task run "echo hi" --from-stdin </dev/null
    assert_status 2
    assert_stderr_contains "Specify exactly one of"

    run --separate-stderr sh task run "echo hi" --env NOEQUALS --dry-run
    assert_status 2
    assert_stderr_contains "--env value 'NOEQUALS' must be KEY=VALUE"

    run --separate-stderr sh task run "echo hi" --cpus zero --dry-run
    assert_status 2
    assert_stderr_contains "--cpus"
}

@test "an unknown run is an error with exit 1" {
    for verb in view cancel delete watch; do
        run --separate-stderr sh run "$verb" nope
        assert_status 1
        assert_stderr_contains "Error: Run 'nope' not found"
    done
    run --separate-stderr sh run logs nope task
    assert_status 1
    assert_stderr_contains "Error: Run 'nope' not found"
}

# --- task run --------------------------------------------------------------

@test "task run --dry-run prints the task and backend and touches nothing" {
    run --separate-stderr sh task run "echo hi" --id t1 --cpus 2 --memory 1G --env A=1 \
        --env ' B =x=y' --retries 2 --dry-run
    assert_status 0
    echo "$output" | jq -e '
        .backend == "local" and .task.id == "t1" and .task.command == "echo hi"
        and .task.cpus == 2 and .task.memory == "1G" and .task.retries == 2
        and .task.env[-1].set == {"A": "1", "B": "x=y"}' >/dev/null || { show_output; false; }
    [ ! -e "$XDG_DATA_HOME/scripthut" ] || { echo "dry run created the data dir"; false; }
}

@test "task run --dry-run defaults the id and reads --from-stdin" {
    run sh task run --dry-run --from-stdin <<<'{"command": "true", "cpus": 3}'
    assert_status 0
    echo "$output" | jq -e '.task.id == "task" and .task.cpus == 3' >/dev/null ||
        { show_output; false; }
}

@test "task run --watch runs the task and run logs shows its output" {
    run --separate-stderr sh task run "echo hi" --watch
    assert_status 0
    assert_contains "completed"
    id="$(newest_run)"
    run sh run logs "$id" task
    assert_status 0
    [ "$output" = "hi" ] || { show_output; false; }
}

@test "task run without --watch prints the submitted block with the commands to follow" {
    run --separate-stderr sh task run "echo later" --id later
    assert_status 0
    assert_contains "Submitted run"
    assert_contains "scripthut run watch"
    assert_contains "scripthut run logs"
    id="$(newest_run)"
    wait_for 60 run_has_status "$id" completed
}

@test "task run --json --watch prints JSON Lines ending with the run detail" {
    run --separate-stderr sh task run "echo json" --json --watch
    assert_status 0
    while IFS= read -r line; do
        echo "$line" | jq -e . >/dev/null || { echo "not JSON: $line"; show_output; false; }
    done <<<"$output"
    last="$(tail -n 1 <<<"$output")"
    echo "$last" | jq -e '.status == "completed" and (.items | length) == 1' >/dev/null ||
        { show_output; false; }
    first="$(head -n 1 <<<"$output")"
    echo "$first" | jq -e 'has("seq")' >/dev/null || { show_output; false; }
}

@test "a failing task makes --watch exit non-zero and run view shows exit code 3" {
    run --separate-stderr sh task run "exit 3" --watch
    [ "$status" -ne 0 ] || { show_output; false; }
    id="$(newest_run)"
    run sh run view "$id" --json
    assert_status 0
    echo "$output" | jq -e '.status == "failed" and .items[0].exit_code == 3' >/dev/null ||
        { show_output; false; }
    run sh run view "$id"
    assert_status 0
    assert_contains "failed"
    [[ "$output" =~ task\ +failed\ +3 ]] || { show_output; false; }
}

@test "run watch --exit-status exits 1 for a failed run, 0 without it" {
    sh task run "exit 3" --watch >/dev/null 2>&1 || true
    id="$(newest_run)"
    run sh run watch "$id"
    assert_status 0
    run sh run watch "$id" --exit-status
    assert_status 1
}

@test "--inline-script runs a script file intact, even one containing the delimiter" {
    cat >script.sh <<'SCRIPT'
echo "first $((1 + 1))"
cat <<'EOF'
SCRIPTHUT_SCRIPT_EOF
'quoted' "double" $HOME
EOF
exit 0
SCRIPT
    run --separate-stderr sh task run --inline-script script.sh --id inl --watch
    assert_status 0
    id="$(newest_run)"
    run sh run logs "$id" inl
    assert_status 0
    expected="first 2
SCRIPTHUT_SCRIPT_EOF
'quoted' \"double\" \$HOME"
    [ "$output" = "$expected" ] || { echo "expected: $expected"; show_output; false; }
}

@test "--inline-script honours the script's #! interpreter" {
    # With #!/bin/cat the "script" prints itself: proof the interpreter ran it.
    printf '#!/bin/cat\nhello from cat\n' >cat.txt
    run --separate-stderr sh task run --inline-script cat.txt --id cat --watch
    assert_status 0
    run sh run logs "$(newest_run)" cat
    [ "$output" = "$(printf '#!/bin/cat\nhello from cat')" ] || { show_output; false; }
}

@test "shell metacharacters in ids, commands and env values arrive intact" {
    odd_id="odd id;\$(x)'q\""
    # the $ and backticks are the point: they must reach the task unexpanded
    # shellcheck disable=SC2016
    run --separate-stderr sh task run 'printf "%s|%s\n" "$X" "it'\''s $((6*7))"' \
        --id "$odd_id" --env 'X=a b"c$d `e` \f' --watch
    assert_status 0
    id="$(newest_run)"
    run sh run logs "$id" "$odd_id"
    assert_status 0
    # shellcheck disable=SC2016
    [ "$output" = 'a b"c$d `e` \f|it'\''s 42' ] || { show_output; false; }
    run sh run view "$id" --json
    echo "$output" | jq -e --arg id "$odd_id" '.items[0].task.id == $id' >/dev/null ||
        { show_output; false; }
}

# --- run list / view / logs --------------------------------------------------

@test "run list prints a table and --json the API shape" {
    run sh run list
    assert_status 0
    [ "$output" = "No runs found." ] || { show_output; false; }

    sh task run "true" --id one --watch >/dev/null
    sh task run "true" --id two --watch >/dev/null
    run sh run list
    assert_status 0
    [[ "${lines[0]}" =~ ^ID\ +STATUS\ +PROGRESS\ +WORKFLOW\ +BACKEND\ +CREATED$ ]] ||
        { show_output; false; }
    [[ "${lines[1]}" =~ completed\ +1/1\ +_adhoc/two\ +local ]] || { show_output; false; }

    run sh run list --json
    assert_status 0
    echo "$output" | jq -e '(.runs | length) == 2 and .runs[0].workflow_name == "_adhoc/two"
        and .runs[0].task_count == 1 and .runs[0].completed_count == 1' >/dev/null ||
        { show_output; false; }

    run sh run list --limit 1 --json
    echo "$output" | jq -e '(.runs | length) == 1' >/dev/null || { show_output; false; }
    run sh run list --workflow _adhoc/one --json
    echo "$output" | jq -e '(.runs | length) == 1 and .runs[0].workflow_name == "_adhoc/one"' \
        >/dev/null || { show_output; false; }
}

@test "run view shows the header and the task table" {
    sh task run "echo x" --id viewme --watch >/dev/null
    id="$(newest_run)"
    run sh run view "$id"
    assert_status 0
    [ "${lines[0]}" = "Run $id (_adhoc/viewme)" ] || { show_output; false; }
    assert_contains "status:   completed"
    assert_contains "tasks:    1/1 complete"
    assert_contains "TASK"
    run sh run view "$id" --json
    echo "$output" | jq -e --arg id "$id" '.id == $id and (.items[0] | has("attempt"))' \
        >/dev/null || { show_output; false; }
}

@test "run logs --tail and --error select lines and the stream" {
    sh task run 'for i in 1 2 3 4 5; do echo out$i; done; echo oops >&2' --id t --watch \
        >/dev/null
    id="$(newest_run)"
    run sh run logs "$id" t --tail 2
    assert_status 0
    [ "$output" = "$(printf 'out4\nout5')" ] || { show_output; false; }
    run sh run logs "$id" t --error
    [ "$output" = "oops" ] || { show_output; false; }
    run --separate-stderr sh run logs "$id" nosuchtask
    assert_status 1
    assert_stderr_contains "Error:"
}

@test "run logs --follow prints output as it appears until the task ends" {
    # shellcheck disable=SC2016 # $i belongs to the task's shell
    id="$(submit_task 'for i in 1 2 3; do echo line$i; sleep 0.4; done' --id slow)"
    run sh run logs "$id" slow --follow --interval 0.2
    assert_status 0
    [ "$output" = "$(printf 'line1\nline2\nline3')" ] || { show_output; false; }
}

# --- cancel, rerun, delete ---------------------------------------------------

@test "run cancel stops a running task and the run ends cancelled" {
    id="$(submit_task "sleep 60" --id sleeper)"
    [ -n "$id" ] && [ "$id" != null ] || { echo "no run id"; false; }
    wait_for 30 task_has_status "$id" sleeper running

    run --separate-stderr sh run delete "$id"
    assert_status 1   # an active run cannot be deleted

    run --separate-stderr sh run cancel "$id"
    assert_status 0
    assert_contains "$id"
    wait_for 30 run_has_status "$id" cancelled
    run sh run view "$id" --json
    echo "$output" | jq -e '.items[0].status == "cancelled"' >/dev/null || { show_output; false; }
}

@test "run rerun starts a new run of the same tasks" {
    # Fails the first time, succeeds the second.
    sh task run 'test -e marker || { touch marker; exit 1; }' --id flaky \
        --working-dir "$WORK" --watch >/dev/null 2>&1 || true
    first="$(newest_run)"
    [ "$(run_field "$first" .status)" = failed ] || { sh run view "$first"; false; }

    run --separate-stderr sh run rerun "$first" --watch --json
    assert_status 0
    second="$(tail -n 1 <<<"$output" | jq -r .id)"
    [ "$second" != "$first" ] || { show_output; false; }
    [ "$(run_field "$second" .status)" = completed ]
}

@test "run rerun without --watch prints the submitted block" {
    sh task run "true" --id again --watch >/dev/null
    first="$(newest_run)"
    run --separate-stderr sh run rerun "$first" --failed-only
    assert_status 0
    assert_contains "Submitted run"
    second="$(newest_run)"
    wait_for 60 run_has_status "$second" completed
}

@test "run delete removes a finished run" {
    sh task run "true" --watch >/dev/null
    id="$(newest_run)"
    run sh run delete "$id"
    assert_status 0
    assert_contains "Deleted run $id"
    run --separate-stderr sh run view "$id"
    assert_status 1
    assert_stderr_contains "Error: Run '$id' not found"
}

# --- workflows from scripthut.lua --------------------------------------------

write_diamond_config() {
    cat >scripthut.lua <<LUA
workflow "diamond" {
  description = "a, then b and c, then d",
  tasks = {
    { id = "a", command = "echo a >> order.txt", working_dir = "$WORK" },
    { id = "b", command = "sleep 0.3; echo b >> order.txt", deps = { "a" }, working_dir = "$WORK" },
    { id = "c", command = "echo c >> order.txt", deps = { "a" }, working_dir = "$WORK" },
    { id = "d", command = "echo d >> order.txt", deps = { "b", "c" }, working_dir = "$WORK" },
  },
}
LUA
}

@test "workflow list and view show a workflow from scripthut.lua" {
    write_diamond_config
    run --separate-stderr sh workflow list
    assert_status 0
    assert_contains "diamond"
    run sh workflow list --json
    echo "$output" | jq -e '[.workflows[].name] == ["diamond"]' >/dev/null || { show_output; false; }

    run --separate-stderr sh workflow view diamond
    assert_status 0
    assert_contains "b,c"
    run sh workflow view diamond --json
    echo "$output" | jq -e '.task_count == 4' >/dev/null || { show_output; false; }
    [ ! -e order.txt ] || { echo "view ran tasks"; false; }

    run --separate-stderr sh workflow view nosuch
    assert_status 1
    assert_stderr_contains "nosuch"
}

@test "workflow run --watch runs a diamond DAG in dependency order" {
    write_diamond_config
    run --separate-stderr sh workflow run diamond --watch
    assert_status 0
    mapfile -t order <order.txt
    [ "${#order[@]}" -eq 4 ] && [ "${order[0]}" = a ] && [ "${order[3]}" = d ] ||
        { cat order.txt; false; }
    middle="$(printf '%s\n' "${order[1]}" "${order[2]}" | sort | tr -d '\n')"
    [ "$middle" = bc ] || { cat order.txt; false; }
    run sh run list --json
    echo "$output" | jq -e '.runs[0].workflow_name == "diamond" and .runs[0].status == "completed"' \
        >/dev/null || { show_output; false; }
}

@test "workflow run without --watch returns at once with the run summary" {
    write_diamond_config
    run --separate-stderr sh workflow run diamond --json
    assert_status 0
    id="$(echo "$output" | jq -r .id)"
    echo "$output" | jq -e '.task_count == 4' >/dev/null || { show_output; false; }
    wait_for 60 run_has_status "$id" completed
}

@test "a config with a validation error exits 1 naming file:line" {
    cat >scripthut.lua <<'LUA'
-- a backend of a type that does not exist
backend "broken" { type = "no-such-type" }
LUA
    # A command that needs the whole config (run list needs only the settings
    # and runs on with a warning: broken_config.bats).
    run --separate-stderr sh workflow list
    assert_status 1
    # shellcheck disable=SC2154 # stderr: set by bats' run --separate-stderr
    [[ "$stderr" =~ ^Error:\ .*scripthut\.lua:[0-9]+ ]] || { show_output; false; }
}

# --- backends, status, daemon, lua ---------------------------------------------

@test "backend list shows the built-in local backend" {
    run sh backend list
    assert_status 0
    [[ "${lines[0]}" =~ ^NAME\ +TYPE\ +STATUS\ +ACTIVE\ +MAX_CONCURRENT\ +LAST\ ERROR ]] || { show_output; false; }
    assert_contains "local"
    run sh backend list --json
    echo "$output" | jq -e 'any(.backends[]; .name == "local" and .type == "local")' \
        >/dev/null || { show_output; false; }
}

@test "status reports version, data dir, engine, backends and runs" {
    run --separate-stderr sh status --json
    assert_status 0
    echo "$output" | jq -e '(.version | type) == "string" and (.data_dir | type) == "string"
        and .server == "local" and any(.backends[]; .name == "local")
        and (.runs.total | type) == "number"' >/dev/null || { show_output; false; }
    run sh status
    assert_status 0
    assert_contains "Data dir:"
    assert_contains "Engine:"
}

@test "daemon status reports whether the engine runs; stop is safe when idle" {
    run sh daemon status --json
    assert_status 0
    echo "$output" | jq -e '(.running | type) == "boolean"' >/dev/null || { show_output; false; }
    run sh daemon stop
    assert_status 0
    assert_contains "not running"
}

@test "lua runs -e code, a file with arguments, and a piped script" {
    run sh lua -e 'print(1 + 1)'
    assert_status 0
    [ "$output" = 2 ] || { show_output; false; }

    echo 'print(arg[1], #arg)' >args.lua
    run sh lua args.lua first --json
    assert_status 0
    [ "$output" = "$(printf 'first\t2')" ] || { show_output; false; }

    run sh lua <<<'print("piped")'
    assert_status 0
    [ "$output" = piped ] || { show_output; false; }

    run sh lua -e 'os.exit(4)'
    assert_status 4
}

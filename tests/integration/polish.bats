#!/usr/bin/env bats
# polish.bats - what a user sees, item by item, after the CLI polish: each
# test is one numbered item of the polish issue, written as the commands a
# user types and what they now print.

load helpers

# --- 14: help, examples, "did you mean", topics --------------------------------

@test "14: a mistyped command or flag suggests the nearest one, exit 2" {
    run --separate-stderr sh rnu list
    assert_status 2
    assert_stderr_contains "unknown command 'rnu'; did you mean 'run list'?"

    run --separate-stderr sh run lsit
    assert_status 2
    assert_stderr_contains "unknown command 'run lsit'; did you mean 'run list'?"

    run --separate-stderr sh stauts
    assert_status 2
    assert_stderr_contains "did you mean 'status'?"

    run --separate-stderr sh task run "true" --wach
    assert_status 2
    assert_stderr_contains "unknown flag --wach; did you mean --watch?"
}

@test "14: help TOPIC prints each topic; an unknown one suggests and lists them" {
    local topic
    for topic in config tasks env stacks backends sources server; do
        run --separate-stderr sh help "$topic"
        assert_status 0
        [ "${#output}" -gt 200 ] || { echo "topic $topic is short"; show_output; false; }
    done
    run --separate-stderr sh help env
    assert_contains "include"
    assert_contains "More: docs/configuration.md"

    run --separate-stderr sh help confg
    assert_status 2
    assert_stderr_contains "did you mean 'config'?"
    assert_stderr_contains "topics: config, tasks, env, stacks, backends, sources, server"

    run --separate-stderr sh help run logs
    assert_status 0
    assert_contains "Usage: scripthut run logs"
}

@test "14: --help has examples and ends with man scripthut; serve --help lists only its flags" {
    run --separate-stderr sh --help
    assert_status 0
    assert_contains "Examples:"
    assert_contains "Help topics (scripthut help TOPIC):"
    [ "$(printf '%s\n' "$output" | tail -n 1)" = "Everything else: man scripthut" ] || {
        show_output
        false
    }

    run --separate-stderr sh workflow run --help
    assert_contains "Examples:"
    assert_contains "scripthut workflow run sweep --watch"

    run --separate-stderr sh serve --help
    assert_status 0
    assert_contains "--port P"
    assert_contains "--config PATH"
    for flag in --json --server --token --no-color; do
        [[ "$output" != *"$flag"* ]] || { echo "serve --help lists $flag"; show_output; false; }
    done
    run --separate-stderr sh serve --json
    assert_status 2
    assert_stderr_contains "serve does not take --json"
    run --separate-stderr sh --server http://127.0.0.1:9 serve
    assert_status 2
    assert_stderr_contains "serve does not take --server"
}

@test "14: the man page has the help topics; completions offer them after help" {
    run sh __gen man
    assert_status 0
    assert_contains ".SH HELP TOPICS"
    assert_contains ".SS stacks"
    run bash --norc --noprofile -c '
        source <("$1" completion bash)
        COMP_WORDS=(scripthut help st); COMP_CWORD=2; COMPREPLY=()
        _scripthut
        printf "%s\n" "${COMPREPLY[@]}"' bash "$SCRIPTHUT_BIN"
    assert_status 0
    assert_contains "stacks"
    assert_contains "status"
    assert_contains "stack"
}

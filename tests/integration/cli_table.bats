#!/usr/bin/env bats
# cli_table.bats - the command table (src/cli/cli_table.c) and everything made
# from it agree: docs/cli.md's generated section, the man page, and what bash,
# zsh and fish really complete (each shell driven as a user's shell would be:
# bash through COMP_WORDS, fish through `complete -C`, zsh in a tmux pane).
# The table itself comes from `scripthut __gen json`.

load helpers

setup_file() {
    export BATS_TEST_TIMEOUT=300
    TABLE_JSON="$(mktemp "${TMPDIR:-/tmp}/scripthut-table.XXXXXX")"
    export TABLE_JSON
    "$SCRIPTHUT_BIN" __gen json >"$TABLE_JSON"
}

teardown_file() {
    rm -f "$TABLE_JSON"
}

# The table as JSON.
table() {
    cat "$TABLE_JSON"
}

# The commands a user sees: "run logs", "status", ...
listed_commands() {
    table | jq -r '.commands[] | select(.hidden | not) | .command'
}

# The flags completion offers for a command, one a line, sorted: its own and
# the common ones (the credential flags are typed, not completed).
expected_flags() {
    table | jq -r --arg c "$1" '.commands[] | select(.command == $c) | .flags[]
        | select(.section != "credential") | if .name then "--" + .name else "-" + .short end' |
        sort
}

# A bin dir whose `scripthut` is the binary under test, for the shells.
bin_on_path() {
    mkdir -p "$TEST_ROOT/bin"
    ln -sf "$SCRIPTHUT_BIN" "$TEST_ROOT/bin/scripthut"
    export PATH="$TEST_ROOT/bin:$PATH"
}

# bash_complete WORD...: what the bash completion offers for the last word,
# sorted, one a line.
bash_complete() {
    bash --norc --noprofile -c '
        source <(scripthut completion bash)
        complete -p scripthut >/dev/null || exit 3
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
        _scripthut
        printf "%s\n" "${COMPREPLY[@]}"' bash "$@" | sed '/^$/d' | sort
}

# fish_complete LINE: what fish offers (the words, without descriptions).
fish_complete() {
    # shellcheck disable=SC2016 # $argv is fish's
    fish --no-config -c 'source (scripthut completion fish | psub); complete -C $argv[1]' "$1" |
        cut -f1 | sort
}

# A finished one-task run with task id `t1`; prints its id.
finished_run() {
    sh task run "echo hi" --id t1 --watch >/dev/null
    sh run list --json | jq -r '.runs[0].id'
}

@test "docs/cli.md's generated section is the table's" {
    local doc="$SCRIPTHUT_SOURCE_DIR/docs/cli.md"
    run diff <(sed -n '/^<!-- BEGIN generated/,/^<!-- END generated -->/p' "$doc") \
        <("$SCRIPTHUT_BIN" __gen docs)
    [ "$status" -eq 0 ] || {
        echo "docs/cli.md differs from 'scripthut __gen docs' (regenerate the section):"
        echo "$output"
        false
    }
}

@test "every flag docs/cli.md names is in the table" {
    local doc="$SCRIPTHUT_SOURCE_DIR/docs/cli.md" unknown
    # Quoted strings are commands of the user's own (`"python3 train.py --lr 0.1"`),
    # `cmake ...` is not ours.
    # shellcheck disable=SC2016 # backquotes of Markdown, not a command
    unknown=$(comm -23 <(sed 's/"[^"]*"//g; s/`cmake[^`]*`//g' "$doc" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u) \
        <(table | jq -r '[.commands[].flags[], .global_flags[]][] | select(.name)
            | "--" + .name' | sort -u))
    [ -z "$unknown" ] || { echo "docs/cli.md names flags the CLI does not have: $unknown"; false; }
}

@test "the man page is the table's: every command and flag, no roff warnings" {
    local page="$SCRIPTHUT_BUILD_DIR/generated/scripthut.1"
    cmp "$page" <("$SCRIPTHUT_BIN" __gen man)
    run groff -man -Tutf8 -ww -z "$page"
    [ "$status" -eq 0 ] && [ -z "$output" ] || { show_output; false; }
    local text c f
    text=$(groff -man -Tascii -P-cbou -rLL=200n "$page")
    while read -r c; do
        [[ "$text" == *"scripthut $c"* ]] || { echo "man page lacks: scripthut $c"; false; }
        while read -r f; do
            [[ "$text" == *"$f"* ]] || { echo "man page lacks $f of $c"; false; }
        done < <(expected_flags "$c")
    done < <(listed_commands)
}

@test "the build's completion files are the table's" {
    cmp "$SCRIPTHUT_BUILD_DIR/generated/scripthut.bash" <("$SCRIPTHUT_BIN" completion bash)
    cmp "$SCRIPTHUT_BUILD_DIR/generated/_scripthut" <("$SCRIPTHUT_BIN" completion zsh)
    cmp "$SCRIPTHUT_BUILD_DIR/generated/scripthut.fish" <("$SCRIPTHUT_BIN" completion fish)
    if command -v shellcheck >/dev/null; then
        run shellcheck -s bash "$SCRIPTHUT_BUILD_DIR/generated/scripthut.bash"
        [ "$status" -eq 0 ] || { show_output; false; }
    fi
    run --separate-stderr sh completion tcsh
    assert_status 2
    assert_stderr_contains "expected bash, zsh or fish"
}

@test "bash completes every command's flags, the nouns and the verbs, as the table says" {
    bin_on_path
    local c words
    while read -r c; do
        read -ra words <<<"$c"
        run diff <(bash_complete scripthut "${words[@]}" -) <(expected_flags "$c")
        [ "$status" -eq 0 ] || { echo "bash, $c:"; show_output; false; }
    done < <(listed_commands)
    run bash_complete scripthut ""
    [ "$output" = "$(listed_commands | cut -d' ' -f1 | sort -u)" ] || { show_output; false; }
    run bash_complete scripthut run ""
    [ "$output" = "$(listed_commands | awk '$1 == "run" { print $2 }' | sort)" ] ||
        { show_output; false; }
}

@test "bash completes run ids, then the run's task ids, workflows and stacks" {
    bin_on_path
    cat >scripthut.lua <<'EOF'
workflow "sweep" { tasks = { { id = "a", command = "true" } } }
stack "tools" { prep = "true" }
EOF
    local id
    id=$(finished_run)
    run bash_complete scripthut run logs ""
    [ "$output" = "$id" ] || { show_output; false; }
    run bash_complete scripthut run logs "$id" ""
    [ "$output" = t1 ] || { show_output; false; }
    run bash_complete scripthut run logs --tail 5 "$id" t
    [ "$output" = t1 ] || { show_output; false; }
    run bash_complete scripthut workflow run ""
    [ "$output" = sweep ] || { show_output; false; }
    run bash_complete scripthut stack install ""
    [ "$output" = tools ] || { show_output; false; }
    # --config typed on the line is the config asked: here, one without workflows.
    echo 'settings { }' >other.lua
    run bash_complete scripthut --config other.lua workflow run ""
    [ -z "$output" ] || { show_output; false; }
}

@test "fish completes every command's flags and a run's task ids" {
    command -v fish >/dev/null || skip "fish is not installed (Debian package fish)"
    bin_on_path
    local c
    while read -r c; do
        run diff <(fish_complete "scripthut $c --") \
            <(expected_flags "$c" | grep -- '^--')
        [ "$status" -eq 0 ] || { echo "fish, $c:"; show_output; false; }
    done < <(listed_commands)
    run fish_complete "scripthut run "
    [ "$output" = "$(listed_commands | awk '$1 == "run" { print $2 }' | sort)" ] ||
        { show_output; false; }
    local id
    id=$(finished_run)
    run fish_complete "scripthut run view "
    [ "$output" = "$id" ] || { show_output; false; }
    run fish_complete "scripthut run logs $id "
    [ "$output" = t1 ] || { show_output; false; }
}

# --- zsh: an interactive shell in a tmux pane ---------------------------------

tmux_() {
    tmux -S "$TMUX_SOCKET" "$@"
}

pane() {
    tmux_ capture-pane -p -t zsh
}

pane_has() {
    pane | grep -qF -- "$1"
}

expect_pane() {
    wait_for 60 pane_has "$1" || {
        echo "--- pane:"
        pane
        return 1
    }
}

teardown() {
    [ -n "${TMUX_SOCKET:-}" ] && tmux_ kill-server 2>/dev/null
    cd / || true
    "$SCRIPTHUT_BIN" daemon stop >/dev/null 2>&1 || true
    kill_leftovers
    rm -rf "$TEST_ROOT"
}

@test "zsh completes a command's flags with their help, and a run's task ids" {
    command -v zsh >/dev/null || skip "zsh is not installed (Debian package zsh)"
    command -v tmux >/dev/null || skip "tmux is not installed (Debian package tmux)"
    bin_on_path
    local id
    id=$(finished_run)
    mkdir -p "$TEST_ROOT/zsh/functions"
    "$SCRIPTHUT_BIN" completion zsh >"$TEST_ROOT/zsh/functions/_scripthut"
    cat >"$TEST_ROOT/zsh/.zshrc" <<EOF
fpath=("$TEST_ROOT/zsh/functions" \$fpath)
autoload -Uz compinit && compinit -u -D
LISTMAX=1000
PROMPT='READY%% '
EOF
    TMUX_SOCKET="$TEST_ROOT/tmux.sock"
    tmux_ -f /dev/null new-session -d -s zsh -x 200 -y 50 -c "$WORK" \
        "env PATH='$PATH' HOME='$HOME' XDG_CONFIG_HOME='$XDG_CONFIG_HOME' \
         XDG_DATA_HOME='$XDG_DATA_HOME' ZDOTDIR='$TEST_ROOT/zsh' zsh -d -i"
    expect_pane "READY%"
    tmux_ send-keys -t zsh 'scripthut run logs --' Tab
    local f
    while read -r f; do
        expect_pane "$f"
    done < <(expected_flags "run logs" | grep -- '^--')
    expect_pane "only the last N lines"
    tmux_ send-keys -t zsh C-u "scripthut run logs $id " Tab
    expect_pane "scripthut run logs $id t1"
}

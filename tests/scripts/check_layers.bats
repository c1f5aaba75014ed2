#!/usr/bin/env bats
# check_layers.bats - scripts/check-layers.sh itself, on a copy of src/ and
# docs/: the tree passes; an upward include, a header the table does not
# list, a folder the table does not know and an allow-list entry no longer
# needed each fail with a line naming the file; the table is read from
# docs/architecture.md.

setup() {
    ROOT="$(mktemp -d "${TMPDIR:-/tmp}/scripthut-layers.XXXXXX")"
    cp -R "$SCRIPTHUT_SOURCE_DIR/src" "$SCRIPTHUT_SOURCE_DIR/docs" "$ROOT/"
    mkdir "$ROOT/scripts"
    cp "$SCRIPTHUT_SOURCE_DIR/scripts/check-layers.sh" "$ROOT/scripts/"
    CHECK="$ROOT/scripts/check-layers.sh"
}

teardown() {
    rm -rf "$ROOT"
}

@test "the tree passes" {
    run "$CHECK" "$ROOT"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "an upward include fails, naming the file, the header and the rule" {
    echo '#include "cli/cli.h"' >>"$ROOT/src/core/engine.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *'src/core/engine.c: includes "cli/cli.h": core may not include cli/'* ]] ||
        { echo "$output"; false; }
}

@test "an include sideways fails too" {
    echo '#include "backend/backend.h"' >>"$ROOT/src/lua/host.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *'src/lua/host.c: includes "backend/backend.h"'* ]] || { echo "$output"; false; }
}

@test "a folder allowed only some headers may not include the others" {
    echo '#include "lua/host_private.h"' >>"$ROOT/src/script/repl.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *'src/script/repl.c: includes "lua/host_private.h"'* ]] || { echo "$output"; false; }
}

@test "a folder missing from the table fails" {
    mkdir "$ROOT/src/extra"
    echo 'int extra;' >"$ROOT/src/extra/extra.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *"src/extra/extra.c: src/extra is not in the layer table"* ]] || { echo "$output"; false; }
}

@test "the table is read from docs/architecture.md" {
    # Without model/ in lua/'s row, the host's include of model/model.h is refused.
    # shellcheck disable=SC2016 # the backticks are the document's markdown
    sed -i '/^| `lua\/` |/s/`model\/`/—/' "$ROOT/docs/architecture.md"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *'src/lua/host_jobs.c: includes "model/model.h": lua may not include model/'* ]] ||
        { echo "$output"; false; }
}

@test "an allow-list entry that no longer matches an include must be deleted" {
    sed -i 's|^allowed_for_now=($|&\n    "src/core/engine.c cli/cli.h"|' "$CHECK"
    echo '#include "cli/cli.h"' >>"$ROOT/src/core/engine.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    sed -i '$d' "$ROOT/src/core/engine.c"
    run "$CHECK" "$ROOT"
    [ "$status" -eq 1 ]
    [[ "$output" == *'"src/core/engine.c cli/cli.h" is allowed for now but no longer included'* ]] ||
        { echo "$output"; false; }
}

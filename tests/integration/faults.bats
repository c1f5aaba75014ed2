#!/usr/bin/env bats
# faults.bats - the store under faults, on the local backend: a data dir on
# a full disk, a torn WAL tail after kill -9, a database file that is not a
# database.  What must hold: a clear error that names the file, no crash, a
# store that still opens, and a run that finishes with every task run once.
#
# The full-disk test mounts a 2 MiB tmpfs and needs root (CI runs as root);
# it is skipped otherwise.

load helpers

# Writes scripthut.lua in the work dir from stdin.
config() {
    cat > "$WORK/scripthut.lua"
}

teardown() {
    cd / || true
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" daemon stop >/dev/null 2>&1 || true
    kill_leftovers
    if [ -n "${MOUNTED:-}" ]; then
        umount "$MOUNTED" 2>/dev/null || umount -l "$MOUNTED" 2>/dev/null || true
    fi
    rm -rf "$TEST_ROOT"
}

shc() {
    sh --config "$WORK/scripthut.lua" "$@"
}

# Refused the way the CLI refuses (exit 1 with an error), not by a crash, a
# sanitizer report (ASan/LSan exit 1 or 23 with a report) or a signal.
failed_cleanly() {
    [ "$status" -eq 1 ] || { echo "exit status $status: expected 1"; show_output; false; }
    [[ "$output${stderr-}" != *Sanitizer* ]] || { show_output; false; }
}

# Each task appends a line to its own file: a count of 1 proves it ran once.
counting_workflow() { # NAME N SLEEP
    echo "workflow \"$1\" { tasks = {"
    for i in $(seq 1 "$2"); do
        echo "  { id = \"t$i\", working_dir = \"$WORK\", command = \"echo run >> t$i.count; sleep $3; touch t$i.done\" },"
    done
    echo "} }"
}

every_task_ran_once() { # N
    for i in $(seq 1 "$1"); do
        [ "$(wc -l < "$WORK/t$i.count")" -eq 1 ] || { echo "t$i ran $(wc -l < "$WORK/t$i.count") times"; false; }
    done
}

@test "a data dir on a full disk: a clear error naming the store, tasks that end meanwhile are not lost" {
    [ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
    DATA="$TEST_ROOT/data"
    mkdir -p "$DATA"
    mount -t tmpfs -o size=2m tmpfs "$DATA"
    MOUNTED="$DATA"
    {
        echo "settings { data_dir = \"$DATA\", poll_interval = 1 }"
        counting_workflow slow 2 2
        counting_workflow more 1 0
    } | config
    run shc workflow run slow --json
    [ "$status" -eq 0 ] || { show_output; false; }
    RUN_ID="$(printf '%s' "$output" | jq -r '.run_id // .id')"
    wait_for 30 test -s "$WORK/t1.count"
    wait_for 30 test -s "$WORK/t2.count"
    # Fill the disk (dd stops at ENOSPC), then ask for more work.
    dd if=/dev/zero of="$DATA/filler" bs=64k >/dev/null 2>&1 || true
    run ! shc workflow run more --json
    failed_cleanly
    [[ "$output" == *"database or disk is full"* ]] || { show_output; false; }
    [[ "$output" == *"$DATA/scripthut.db"* ]] || { show_output; false; }
    # The tasks end while the disk is full: their exit status cannot be
    # written yet, which must not read as a crash once space is back (their
    # wrappers wait for it).  Three polls pass; the store stays readable.
    wait_for 30 test -e "$WORK/t1.done"
    wait_for 30 test -e "$WORK/t2.done"
    sleep 3
    run shc run view "$RUN_ID" --json
    [ "$status" -eq 0 ] || { show_output; false; }
    # Space back: the store lists the run, the run ends completed.
    rm -f "$DATA/filler"
    run shc run list --json
    [ "$status" -eq 0 ] || { show_output; false; }
    [[ "$output" == *"$RUN_ID"* ]] || { show_output; false; }
    run shc run watch "$RUN_ID" --exit-status --json
    [ "$status" -eq 0 ] || { show_output; false; }
    every_task_ran_once 2
    run shc workflow run more --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
}

@test "a torn WAL tail after kill -9: the store opens and the run finishes, each task once" {
    {
        echo "settings { poll_interval = 1 }"
        counting_workflow torn 6 2
    } | config
    "$SCRIPTHUT_BIN" --config "$WORK/scripthut.lua" workflow run torn --watch --json > watch.out 2>&1 &
    watcher=$!
    wait_for 30 test -s "$WORK/t1.count"
    kill -9 "$watcher"
    wait "$watcher" 2>/dev/null || true
    RUN_ID="$(head -n 1 watch.out | jq -r '.run_id // .id')"
    [ -n "$RUN_ID" ] && [ "$RUN_ID" != null ] || { cat watch.out; false; }
    wal="$XDG_DATA_HOME/scripthut/scripthut.db-wal"
    size="$(stat -c %s "$wal")"
    [ "$size" -gt 100 ] || { echo "no WAL to tear ($size bytes)"; false; }
    # A torn last frame: the tail cut off and the bytes before it garbled.
    truncate -s $((size - 37)) "$wal"
    printf 'torn-torn-torn-torn' | dd of="$wal" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
    run shc run list --json
    [ "$status" -eq 0 ] || { show_output; false; }
    [[ "$output" == *"$RUN_ID"* ]] || { show_output; false; }
    run shc run watch "$RUN_ID" --exit-status --json
    [ "$status" -eq 0 ] || { show_output; false; }
    every_task_ran_once 6
}

@test "a database file that is not a database: a clear error naming the file, no crash" {
    echo 'settings { poll_interval = 1 }' | config
    mkdir -p "$XDG_DATA_HOME/scripthut"
    db="$XDG_DATA_HOME/scripthut/scripthut.db"
    head -c 16384 /dev/urandom > "$db"
    for cmd in "run list --json" "task run true --json" "run view nope --json"; do
        # shellcheck disable=SC2086
        run ! --separate-stderr shc $cmd
        failed_cleanly
        [[ "$stderr" == *"$db"* ]] || { show_output; false; }
        [[ "$stderr" == *"not a database"* ]] || { show_output; false; }
    done
}

@test "a store header torn mid-write (first page cut short): a clear error naming the file" {
    echo 'settings { poll_interval = 1 }' | config
    run shc task run true --watch --json
    [ "$status" -eq 0 ] || { show_output; false; }
    db="$XDG_DATA_HOME/scripthut/scripthut.db"
    rm -f "$db-wal" "$db-shm"
    printf 'SQLite format 3\000garbage' | dd of="$db" bs=1 conv=notrunc 2>/dev/null
    dd if=/dev/urandom of="$db" bs=1 seek=16 count=84 conv=notrunc 2>/dev/null
    run ! --separate-stderr shc run list --json
    failed_cleanly
    [[ "$stderr" == *"$db"* ]] || { show_output; false; }
}

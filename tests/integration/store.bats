#!/usr/bin/env bats
# store.bats - the SQLite store shared by processes: a command that writes
# while another process is in the middle of a write transaction (the engine's
# tick, a submission) waits for it instead of failing with "database is
# locked".

load helpers

# hold_write_lock: another process (the sqlite3 shell) opens a write
# transaction on the store and keeps it until $TEST_ROOT/release exists (at
# most 120 s); returns once the transaction is open.
hold_write_lock() {
    cat >"$TEST_ROOT/hold.sh" <<EOF
touch '$TEST_ROOT/holding'
i=0
while [ ! -e '$TEST_ROOT/release' ] && [ "\$i" -lt 2400 ]; do sleep 0.05; i=\$((i + 1)); done
EOF
    sqlite3 "$XDG_DATA_HOME/scripthut/scripthut.db" >"$TEST_ROOT/holder.out" 2>&1 <<SQL &
.timeout 60000
BEGIN IMMEDIATE;
.system sh '$TEST_ROOT/hold.sh'
COMMIT;
SQL
    HOLDER=$!
    wait_for 30 test -e "$TEST_ROOT/holding"
}

# True once the store said (at debug level) that this command waits for
# another connection's lock, or once the command has ended.
waiting_or_done() {
    grep -q "waiting for another connection's lock" "$TEST_ROOT/cancel.err" 2>/dev/null ||
        ! kill -0 "$1" 2>/dev/null
}

@test "run cancel waits for another process's write transaction instead of failing" {
    id="$(submit_task 'sleep 60' --id sleeper)"
    wait_for 30 run_has_status "$id" running
    hold_write_lock
    SCRIPTHUT_LOG=debug timeout 90 "$SCRIPTHUT_BIN" run cancel "$id" \
        >"$TEST_ROOT/cancel.out" 2>"$TEST_ROOT/cancel.err" &
    canceller=$!
    wait_for 60 waiting_or_done "$canceller"
    touch "$TEST_ROOT/release"
    status=0
    wait "$canceller" || status=$?
    wait "$HOLDER"
    if [ "$status" -ne 0 ]; then
        echo "run cancel exited $status:"
        cat "$TEST_ROOT/cancel.err"
        false
    fi
    grep -q "waiting for another connection's lock" "$TEST_ROOT/cancel.err"
    wait_for 30 run_has_status "$id" cancelled
}

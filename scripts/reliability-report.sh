#!/usr/bin/env bash
# reliability-report.sh - measures how scripthut holds up against bad input
# and faults, and writes the figures to docs/reliability.md:
#
#   1. every libFuzzer target in tests/fuzz/ for SECONDS each (Clang build
#      with -DSCRIPTHUT_FUZZ=ON): executions, corpus size, crashes;
#   2. the fault-injection tests: tests/integration/faults.bats (local
#      backend: full disk, torn WAL, corrupt database) and, when the testbed
#      is up, tests/testbed/faults.bats (real Slurm: kill -9 of the engine at
#      random points, squeue failing and hanging);
#   3. the counts: bad inputs tried, faults injected and survived.
#
# Usage: scripts/reliability-report.sh [--seconds N] [--fuzz-build DIR]
#            [--build DIR] [--quick] [--reuse] [--out FILE]
#   --seconds N       fuzzing time per target (default 120)
#   --fuzz-build DIR  Clang fuzz build (default build-fuzz)
#   --build DIR       normal build with the scripthut binary (default build)
#   --quick           the testbed faults' CI subset (FAULTS_QUICK=1)
#   --reuse           do not run anything: read the logs of the last run
#   --out FILE        default docs/reliability.md
# Raw logs go to <build>/reliability/.  The testbed is never brought down.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_PER_TARGET=120
FUZZ_BUILD="$SRC/build-fuzz"
BUILD="$SRC/build"
QUICK=0
REUSE=0
OUT="$SRC/docs/reliability.md"
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --fuzz-build) FUZZ_BUILD="$(cd "$2" && pwd)"; shift 2 ;;
    --build) BUILD="$(cd "$2" && pwd)"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --reuse) REUSE=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "reliability-report: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
LOGS="$BUILD/reliability"
mkdir -p "$LOGS"

# --- 1. fuzzing -------------------------------------------------------------------

fuzz_target() { # NAME: runs it, leaves NAME.log and NAME.rc
    local name="$1" corpus="${1#fuzz_}"
    local bin="$FUZZ_BUILD/tests/$name" scratch="$LOGS/corpus-$corpus"
    if [ ! -x "$bin" ]; then
        echo "not built" > "$LOGS/$name.log"
        echo skip > "$LOGS/$name.rc"
        return
    fi
    rm -rf "$scratch" "$LOGS/artifacts-$corpus"
    mkdir -p "$scratch" "$LOGS/artifacts-$corpus"
    echo "fuzzing $name for ${SECONDS_PER_TARGET}s" >&2
    local rc=0
    "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$LOGS/artifacts-$corpus/" \
        "$scratch" "$SRC/tests/fuzz/corpus/$corpus" > "$LOGS/$name.log" 2>&1 || rc=$?
    echo "$rc" > "$LOGS/$name.rc"
}

stat_of() { # LOG KEY
    sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

# --- 2. fault tests ----------------------------------------------------------------

run_bats() { # NAME FILE [ENV...]: TAP output in NAME.tap
    local name="$1" file="$2"
    shift 2
    echo "running $file" >&2
    env SCRIPTHUT_BIN="$BUILD/scripthut" SCRIPTHUT_SOURCE_DIR="$SRC" "$@" \
        bats --tap "$file" > "$LOGS/$name.tap" 2>&1 || true
}

testbed_up() {
    [ -f "${TESTBED_DIR:-/tmp/scripthut-testbed}/testbed.env" ] &&
        [ -f "${TESTBED_DIR:-/tmp/scripthut-testbed}/run/slurmctld.pid" ]
}

if [ "$REUSE" = 0 ]; then
    for src in "$SRC"/tests/fuzz/fuzz_*.c; do
        fuzz_target "$(basename "$src" .c)"
    done
    [ -x "$BUILD/scripthut" ] || { echo "no $BUILD/scripthut: build first" >&2; exit 1; }
    run_bats integration-faults "$SRC/tests/integration/faults.bats"
    if testbed_up; then
        run_bats testbed-faults "$SRC/tests/testbed/faults.bats" FAULTS_QUICK="$QUICK" \
            "$SRC/tests/testbed/with-env.sh"
    else
        echo "testbed not up: tests/testbed/faults.bats not run" > "$LOGS/testbed-faults.tap"
    fi
    date -u +%Y-%m-%d > "$LOGS/date"
fi

# --- 3. the report --------------------------------------------------------------------

tap_count() { # FILE PATTERN
    [ -f "$1" ] || { echo 0; return; }
    grep -c "$2" "$1" || true
}

fuzz_rows=""
total_execs=0 total_corpus=0 total_crashes=0 targets=0
for src in "$SRC"/tests/fuzz/fuzz_*.c; do
    name="$(basename "$src" .c)"
    corpus="${name#fuzz_}"
    seeds="$(find "$SRC/tests/fuzz/corpus/$corpus" -type f | wc -l)"
    total_corpus=$((total_corpus + seeds))
    log="$LOGS/$name.log"
    rc="$(cat "$LOGS/$name.rc" 2>/dev/null || echo skip)"
    if [ "$rc" = skip ] || [ ! -f "$log" ]; then
        fuzz_rows+="| \`$name\` | $seeds | not run | - | - |"$'\n'
        continue
    fi
    targets=$((targets + 1))
    execs="$(stat_of "$log" number_of_executed_units)"
    rate="$(stat_of "$log" average_exec_per_sec)"
    crashes="$(find "$LOGS/artifacts-$corpus" -type f 2>/dev/null | wc -l)"
    [ "$rc" = 0 ] || [ "$crashes" -gt 0 ] || crashes=1
    total_execs=$((total_execs + ${execs:-0}))
    total_crashes=$((total_crashes + crashes))
    fuzz_rows+="| \`$name\` | $seeds | ${execs:-0} | ${rate:-0} | $crashes |"$'\n'
done

fault_rows=""
faults_injected=0 faults_survived=0
for f in integration-faults testbed-faults; do
    tap="$LOGS/$f.tap"
    ok="$(tap_count "$tap" '^ok [0-9]* [^#]*$')"
    skipped="$(tap_count "$tap" '^ok .*# skip')"
    failed="$(tap_count "$tap" '^not ok')"
    kills="$(tap_count "$tap" '^# kill point [0-9]')"
    # Each test injects one fault; the kill test one per kill point.
    injected=$((ok + failed))
    survived=$ok
    if [ "$kills" -gt 0 ]; then
        injected=$((injected + kills - 1))
        grep -q '^ok [0-9]* kill -9' "$tap" && survived=$((survived + kills - 1))
    fi
    faults_injected=$((faults_injected + injected))
    faults_survived=$((faults_survived + survived))
    file="tests/${f%-faults}/faults.bats"
    if [ -f "$tap" ] && grep -q '^1\.\.' "$tap"; then
        fault_rows+="| \`$file\` | $ok | $failed | $skipped | $kills | $injected | $survived |"$'\n'
    else
        fault_rows+="| \`$file\` | not run: $(head -n 1 "$tap" 2>/dev/null || echo 'no log') | | | | | |"$'\n'
    fi
done

tests_listed="$(grep -h '^ok\|^not ok' "$LOGS"/*-faults.tap 2>/dev/null |
    sed 's/^\(not \)\{0,1\}ok [0-9]* /- /; s/ # skip.*/ (skipped)/' || true)"

commit="$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)"
day="$(cat "$LOGS/date" 2>/dev/null || date -u +%Y-%m-%d)"

mkdir -p "$(dirname "$OUT")"
cat > "$OUT" <<EOF
# Reliability

Generated by \`scripts/reliability-report.sh\` on $day (commit $commit, $(nproc) cores);
do not edit by hand: run the script again. It fuzzes every target in \`tests/fuzz/\` with
libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer, runs the fault-injection
tests, and counts what they tried.

## Summary

| | |
|---|---|
| fuzz targets run | $targets, ${SECONDS_PER_TARGET} s each |
| inputs executed | $total_execs |
| seed and regression inputs checked in | $total_corpus (replayed by every normal build, label \`fuzz\`) |
| crashes or property failures in this run | $total_crashes |
| faults injected | $faults_injected |
| faults survived (the test's checks held) | $faults_survived |

## Fuzzing

Each target feeds arbitrary bytes to code that reads what the outside world sends: a
workflow document, a config file, a shell value, Slurm's answers over SSH, an HTTP request
(\`tests/fuzz/README.md\` says what must hold for each). A crash found is fixed and its input
kept in \`tests/fuzz/corpus/<target>/\` as a regression.

| target | corpus files | executions | per second | crashes |
|---|---|---|---|---|
$fuzz_rows
## Faults

| file | passed | failed | skipped | kill points | faults injected | survived |
|---|---|---|---|---|---|---|
$fault_rows
Each test injects one fault (a full disk, a torn WAL, a corrupt database file, squeue
failing, squeue hanging past the backend's query_timeout), except the kill test, which kills
the engine with SIGKILL at random points of one 12-task Slurm workflow (its seed is printed,
\`FAULTS_SEED\` replays it) and checks that each task's job was submitted exactly once
(job names in squeue, job ids in the slurmctld log), that no finished task ran again, and
that every task ends completed.

$tests_listed

## Bugs these found

- \`src/backend/local_wrapper.c\` (full disk, \`tests/integration/faults.bats\`): a task that
  ended while the data dir was full could not write its exit status; its wrapper exited
  anyway, and once space came back the engine read "wrapper gone, no result" as a crash and
  failed a task that had succeeded. The wrapper now stays alive and retries while the error
  is ENOSPC/EDQUOT (at most a day), so the task shows as running until it can be recorded.
- \`src/http/router.c\` (\`fuzz_http_request\`): the API prefix check accepted \`/api/v1runs/x\`
  as \`/api/v1/runs/x\`; the prefix now ends at a segment boundary. Regression input:
  \`tests/fuzz/corpus/http_request/regression_prefix_without_slash\`.
- \`tests/fuzz/fuzz_shell_quote.c\` (the harness, not the quoting): libFuzzer's \`-timeout\`
  SIGALRM interrupted the read of the shell's output, and the short read passed for a
  quoting failure. The read now resumes after EINTR. Input kept:
  \`tests/fuzz/corpus/shell_quote/regression_read_interrupted_by_sigalrm\`.
EOF
echo "wrote $OUT" >&2

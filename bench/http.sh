#!/bin/bash
# bench/http.sh BUILD_DIR - prints figures for the server issue's targets.
# Not a test: nothing is asserted.  Needs the wrk, sqlite3 and curl packages.
#
#  1. GET /api/v1/runs?limit=20 over a store of 10,000 runs, with wrk on
#     loopback: requests/s and p99            (target: >= 10,000 req/s on 2 cores)
#  2. server RSS idle and under that load     (target: idle < 15 MB)
#  3. POST /api/v1/stacks/NAME/install to its response, mean and max of 50
#                                             (target: < 10 ms)
set -euo pipefail

BIN="$(cd "${1:-build}" && pwd)/scripthut"
DURATION="${BENCH_HTTP_SECONDS:-10}"
CONNECTIONS="${BENCH_HTTP_CONNECTIONS:-32}"
ROOT="$(mktemp -d /tmp/scripthut-bench-http.XXXXXX)"
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; fi
    "$BIN" daemon stop >/dev/null 2>&1 || true
    sleep 1  # the install tasks' wrappers finish and leave their job dirs
    rm -rf "$ROOT" 2>/dev/null || true
}
trap cleanup EXIT
export HOME="$ROOT/home" XDG_CONFIG_HOME="$ROOT/home/.config" XDG_DATA_HOME="$ROOT/home/.local/share"
mkdir -p "$XDG_CONFIG_HOME/scripthut" "$ROOT/work"
cd "$ROOT/work"

cat > scripthut.lua <<LUA
backend "fake" { type = "noop", max_concurrent = 100000 }
stack "tool" { backends = { "local" }, cache_dir = "$ROOT/stacks", prep = "true" }
LUA

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# A store of 10,000 finished runs of 3 tasks, written directly (the shape
# bench/run.sh uses for `run list`), all within the last day so that the
# server's retention pruning keeps them.
"$BIN" run list > /dev/null
db="$XDG_DATA_HOME/scripthut/scripthut.db"
sqlite3 "$db" <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO runs (id, workflow_name, backend_name, created_at, finished_at, status, log_dir,
                  context, task_count)
SELECT printf('z%07x', i), 'bench/' || (i % 50), 'fake',
       (strftime('%s', 'now') - 20000 + i) * 1000000,
       (strftime('%s', 'now') - 20000 + i) * 1000000 + 500000,
       'completed', '/nonexistent', '{}', 3 FROM n;
INSERT INTO tasks (run_id, idx, task_id, definition, state)
SELECT r.id, k.k, 't' || k.k, '{"id":"t","command":"true"}', 'completed'
FROM runs r, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) k WHERE r.id LIKE 'z%';
SQL

"$BIN" serve --port 0 > server.out 2> server.err &
SERVER=$!
for _ in $(seq 100); do grep -q "serving http://" server.out 2>/dev/null && break; sleep 0.1; done
URL="$(sed -n 's|.*\(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' server.out)"
[ -n "$URL" ] || { cat server.err; exit 1; }
curl -sf "$URL/api/v1/runs?limit=20" > /dev/null
sleep 1
idle=$(rss_kb "$SERVER")

echo "== 1. GET /api/v1/runs?limit=20, 10,000 runs stored (wrk -t2 -c$CONNECTIONS -d${DURATION}s)"
echo "runs stored:        $(sqlite3 "$db" 'select count(*) from runs')"
peak=0
( while kill -0 "$SERVER" 2>/dev/null; do rss_kb "$SERVER"; sleep 0.5; done ) > rss.txt &
sampler=$!
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$URL/api/v1/runs?limit=20" > wrk.txt
kill "$sampler" 2>/dev/null || true
peak=$(sort -n rss.txt | tail -n 1)
echo "requests/s:         $(awk '/^Requests\/sec/ { print $2 }' wrk.txt)"
echo "latency p50 / p99:  $(awk '$1 == "50%" { a = $2 } $1 == "99%" { b = $2 } END { print a " / " b }' wrk.txt)"
echo "errors:             $(grep -E 'Non-2xx|Socket errors' wrk.txt || echo none)"

echo "== 2. server RSS"
echo "idle (after start): $((idle / 1024)) MB ($idle kB)"
echo "under load (peak):  $((peak / 1024)) MB ($peak kB)"
sleep 2
echo "idle after load:    $(( $(rss_kb "$SERVER") / 1024 )) MB"

echo "== 3. POST /api/v1/stacks/tool/install to the response (50 installs, rebuild)"
for _ in $(seq 50); do
    curl -s -o /dev/null -w '%{time_total}\n' -X POST -H 'Content-Type: application/json' \
        -d '{}' "$URL/api/v1/stacks/tool/install?rebuild=true"
done > install.txt
awk '{ s += $1; if ($1 > m) m = $1 } END { printf "mean %.2f ms, max %.2f ms\n", s / NR * 1000, m * 1000 }' install.txt

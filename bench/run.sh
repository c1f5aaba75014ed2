#!/bin/bash
# bench/run.sh BUILD_DIR - prints figures for the core issue's targets.
# Not a test: nothing is asserted.  Needs the sqlite3 and time packages.
#
#  1. a 100,000-task workflow (1,000 groups of 100, wildcard deps, plus
#     aggregators) on the noop backend: time to validate and store it, time
#     to run it through the scheduler, peak RSS   (target: < 2 s, < 300 MB)
#  2. 1,000 trivial local tasks end to end          (target: < 10 s)
#  3. `scripthut run list` with 10,000 runs stored  (target: < 20 ms)
set -euo pipefail

BIN="$(cd "${1:-build}" && pwd)/scripthut"
ROOT="$(mktemp -d /tmp/scripthut-bench.XXXXXX)"
trap '"$BIN" daemon stop >/dev/null 2>&1 || true; rm -rf "$ROOT"' EXIT
export HOME="$ROOT/home" XDG_CONFIG_HOME="$ROOT/home/.config" XDG_DATA_HOME="$ROOT/home/.local/share"
mkdir -p "$XDG_CONFIG_HOME/scripthut" "$ROOT/work"
cd "$ROOT/work"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
iso_to_epoch() { date -d "$1" +%s.%N; }

cat > "$XDG_CONFIG_HOME/scripthut/config.lua" <<'LUA'
backend "fake" { type = "noop", max_concurrent = 200000 }
backend "local" { type = "local", max_concurrent = 64, max_cpus = 64 }
LUA
cat > scripthut.lua <<'LUA'
workflow "big" {
  backend = "fake",
  tasks = function()
    local t, n = {}, 0
    for g = 1, 1000 do
      n = n + 1; t[n] = { id = "setup." .. g, command = "true" }
      for j = 1, 99 do
        n = n + 1; t[n] = { id = ("g%d.t%d"):format(g, j), command = "true", deps = { "setup." .. g } }
      end
      n = n + 1; t[n] = { id = "agg." .. g, command = "true", deps = { ("g%d.*"):format(g) } }
    end
    n = n + 1; t[n] = { id = "report", command = "true", deps = { "agg.*" } }
    return t
  end,
}
workflow "thousand" {
  tasks = function()
    local t = {}
    for i = 1, 1000 do t[i] = { id = "t" .. i, command = "true" } end
    return t
  end,
}
LUA

echo "== 1. 100,000-task workflow on the noop backend"
# The engine runs in the foreground here, so its time and peak RSS are its
# own.  The submission runs while this script holds the engine lock, so it
# starts no detached engine; the engine starts once it is done (an engine
# started first would exit, idle, if the submission took over 3 s).
data="$XDG_DATA_HOME/scripthut"
mkdir -p "$data"
exec 9>"$data/engine.lock"
flock 9
t0=$(now)
/usr/bin/time -f "%M" -o submit-rss.txt "$BIN" workflow run big --json > big.json
t1=$(now)
exec 9>&-
/usr/bin/time -f "%M" -o engine-rss.txt "$BIN" daemon run --data-dir "$data"
id=$(jq -r .id big.json)
"$BIN" run view "$id" --json > big-detail.json
created=$(jq -r .created_at big-detail.json)
finished=$(jq -r .finished_at big-detail.json)
echo "tasks:                      $(jq .task_count big.json) ($(jq -r .status big-detail.json))"
echo "submit (Lua config, validate, store): $(secs "$t0" "$t1") s, peak RSS $(( $(cat submit-rss.txt) / 1024 )) MB"
echo "engine (load, schedule, finish all):  $(secs "$(iso_to_epoch "$created")" "$(iso_to_epoch "$finished")") s, peak RSS $(( $(cat engine-rss.txt) / 1024 )) MB"

echo "== 2. 1,000 trivial local tasks"
t0=$(now)
"$BIN" workflow run thousand --watch --json > thousand.jsonl
t1=$(now)
echo "status:                 $(tail -n 1 thousand.jsonl | jq -r .status)"
echo "end to end:             $(secs "$t0" "$t1") s"

echo "== 3. run list with 10,000 runs in the store"
db="$XDG_DATA_HOME/scripthut/scripthut.db"
sqlite3 "$db" <<'SQL'
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO runs (id, workflow_name, backend_name, created_at, finished_at, status, log_dir,
                  context, task_count)
SELECT printf('z%07x', i), 'bench/' || (i % 50), 'fake', 1700000000000000 + i * 1000000,
       1700000000500000 + i * 1000000, 'completed', '/nonexistent', '{}', 3 FROM n;
INSERT INTO tasks (run_id, idx, task_id, definition, state)
SELECT r.id, k.k, 't' || k.k, '{"id":"t","command":"true"}', 'completed'
FROM runs r, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2) k WHERE r.id LIKE 'z%';
SQL
"$BIN" run list > /dev/null  # warm the page cache
t0=$(now)
for _ in $(seq 20); do "$BIN" run list > /dev/null; done
t1=$(now)
echo "runs stored:            $(sqlite3 "$db" 'select count(*) from runs')"
echo "run list (mean of 20):  $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 20 * 1000 }') ms (whole process)"

#!/bin/bash
# bench/soak.sh BUILD_DIR [SECONDS] - the server under a steady load: 10,000
# short tasks on the local backend (100 runs of 100) submitted through the
# API while two clients poll it; samples the server's RSS, open file
# descriptors and threads every 5 s and prints how much they grew.
# Bounded: stops after SECONDS (default 600) even if work remains.
# Figures, not a test.  Loopback only.
set -euo pipefail

BIN="$(cd "${1:-build}" && pwd)/scripthut"
LIMIT="${2:-600}"
ROOT="$(mktemp -d /tmp/scripthut-soak.XXXXXX)"
export HOME="$ROOT/home" XDG_CONFIG_HOME="$ROOT/home/.config" XDG_DATA_HOME="$ROOT/home/.local/share"
mkdir -p "$XDG_CONFIG_HOME/scripthut" "$ROOT/work"
cd "$ROOT/work"
cat > "$XDG_CONFIG_HOME/scripthut/config.lua" <<'LUA'
settings { poll_interval = 1 }
backend "local" { type = "local", max_concurrent = 16 }
LUA
cat > scripthut.lua <<'LUA'
workflow "soak" { tasks = function()
  local t = {}
  for i = 1, 100 do t[i] = { id = "t" .. i, command = "true" } end
  return t
end }
LUA

SCRIPTHUT_LOG="${SCRIPTHUT_LOG:-warn}" "$BIN" serve --port 0 > server.out 2> server.err &
server=$!
pollers=()
cleanup() {
    kill "${pollers[@]}" 2>/dev/null || true
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    "$BIN" daemon stop >/dev/null 2>&1 || true
    rm -rf "$ROOT"
}
trap cleanup EXIT
for _ in $(seq 50); do grep -q "serving http://" server.out 2>/dev/null && break; sleep 0.2; done
URL="$(sed -n 's|.*\(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' server.out)"
[ -n "$URL" ] || { cat server.err; exit 1; }
echo "server $URL (pid $server), limit ${LIMIT}s"

sample() { # prints: seconds rss_kb fds threads
    local rss fds thr
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$server/status")
    thr=$(awk '/^Threads/ { print $2 }' "/proc/$server/status")
    fds=$(ls "/proc/$server/fd" | wc -l)
    echo "$((SECONDS - start)) $rss $fds $thr"
}

poll_loop() {
    while :; do
        curl -s -m 10 "$URL/api/v1/runs?limit=20" > /dev/null || true
        curl -s -m 10 "$URL/api/v1/health" > /dev/null || true
    done
}
start=$SECONDS
poll_loop & pollers+=($!)
poll_loop & pollers+=($!)

echo "   t(s)   RSS(kB)   fds  threads  runs done"
submitted=0
next_sample=0
while [ $((SECONDS - start)) -lt "$LIMIT" ]; do
    if [ "$submitted" -lt 100 ]; then
        "$BIN" workflow run soak --server "$URL" --json > /dev/null
        submitted=$((submitted + 1))
    fi
    if [ $((SECONDS - start)) -ge "$next_sample" ]; then
        done_runs=$(curl -s -m 10 "$URL/api/v1/runs?limit=0" | jq '[.runs[] | select(.status == "completed")] | length')
        read -r t rss fds thr < <(sample)
        printf '%7d %9d %5d %8d %10d\n' "$t" "$rss" "$fds" "$thr" "$done_runs" | tee -a samples.txt
        next_sample=$((next_sample + 5))
        [ "$submitted" -ge 100 ] && [ "$done_runs" -ge 100 ] && break
    fi
    [ "$submitted" -ge 100 ] && sleep 1
done

first=$(sed -n 2p samples.txt)   # after the first batch: warm caches
last=$(tail -n 1 samples.txt)
echo "tasks completed: $(( $(echo "$last" | awk '{ print $5 }') * 100 )) of 10000 in $(echo "$last" | awk '{ print $1 }') s"
echo "growth from t=$(echo "$first" | awk '{ print $1 }')s to the end:" \
     "RSS $(( $(echo "$last" | awk '{ print $2 }') - $(echo "$first" | awk '{ print $2 }') )) kB," \
     "fds $(( $(echo "$last" | awk '{ print $3 }') - $(echo "$first" | awk '{ print $3 }') )),"\
     "threads $(( $(echo "$last" | awk '{ print $4 }') - $(echo "$first" | awk '{ print $4 }') ))"

#!/bin/bash
# slurm_ticks.sh BUILD_DIR [TASKS] - SSH round trips of the Slurm backend on
# the testbed (real sshd + Slurm on 127.0.0.1; needs root, brings it up with
# tests/testbed/testbed-up.sh).
#
# Submits TASKS (default 200) sleeping tasks as one workflow on the Slurm
# backend over SSH with the detached engine, then reads what the engine
# recorded (`backend status --json`: counters and the command log, where each
# command is labelled "sh -s # squeue", "# sacct", "# submitting with sbatch",
# "# sinfo", ...) and prints:
#   - round trips to submit all TASKS ready tasks;
#   - SSH commands per tick while the jobs are queued/running, split by kind;
# beside the Python original's figures.  Cancels its jobs at the end.
#
# Figures, not a test: it exits 0 whatever the numbers are.
set -euo pipefail

BUILD="${1:?usage: bench/slurm_ticks.sh BUILD_DIR [TASKS]}"
TASKS="${2:-200}"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$(cd "$BUILD" && pwd)/scripthut"
[ -x "$BIN" ] || { echo "no scripthut binary in $BUILD" >&2; exit 1; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 1; }

"$SRC/tests/testbed/testbed-up.sh" >/dev/null
set -a
# shellcheck disable=SC1091
. "${TESTBED_DIR:-/tmp/scripthut-testbed}/testbed.env"
set +a

ROOT="$(mktemp -d /tmp/scripthut-bench-slurm.XXXXXX)"
export HOME="$ROOT/home" XDG_CONFIG_HOME="$ROOT/home/.config" XDG_DATA_HOME="$ROOT/home/.local/share"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
THOME="$(getent passwd "$TESTBED_SSH_USER" | cut -d: -f6)"
RDIR="$THOME/bench-$(basename "$ROOT")"
install -d -o "$TESTBED_SSH_USER" "$RDIR"
CFG="$ROOT/scripthut.lua"
cat > "$CFG" <<EOF
backend "hpc" { type = "slurm", max_concurrent = $TASKS, ssh = {
  host = "$TESTBED_SSH_HOST", port = $TESTBED_SSH_PORT, user = "$TESTBED_SSH_USER",
  key_path = "$TESTBED_SSH_KEY", known_hosts = "$TESTBED_SSH_KNOWN_HOSTS" } }
settings { poll_interval = 1 }
workflow "many" { backend = "hpc", max_concurrent = $TASKS, tasks = function()
  local t = {}
  for i = 1, $TASKS do
    t[#t + 1] = { id = "s" .. i, working_dir = "$RDIR", memory = "10M", command = "sleep 2" }
  end
  return t
end }
EOF
shc() { timeout 120 "$BIN" --config "$CFG" "$@"; }

RUN_ID=""
cleanup() {
    if [ -n "$RUN_ID" ]; then shc run cancel "$RUN_ID" >/dev/null 2>&1 || true; fi
    # Only this run's jobs: their names carry the run id.
    local ids
    ids="$(squeue --noheader --user="$TESTBED_SSH_USER" --format='%i %j' 2>/dev/null |
        awk -v r="$RUN_ID" 'r != "" && index($2, "sh-" r) == 1 {print $1}')"
    # shellcheck disable=SC2086 # one id per word
    [ -z "$ids" ] || scancel $ids 2>/dev/null || true
    shc daemon stop >/dev/null 2>&1 || true
    rm -rf "$ROOT" "$RDIR"
}
trap cleanup EXIT

status_json() { shc backend status hpc --json; }

RUN_ID="$(shc workflow run many --json | jq -r '.run_id // .id')"
# Wait until every task has a job id (none pending/submitting).
for _ in $(seq 1 600); do
    left="$(shc run view "$RUN_ID" --json |
        jq '[.items[] | select(.status == "pending" or .status == "submitting")] | length')"
    [ "$left" = 0 ] && break
    sleep 0.2
done
[ "$left" = 0 ] || { echo "not all tasks were submitted in 120 s" >&2; exit 1; }
S1="$(status_json)"
# Let the engine poll for a while with the jobs queued, running, finishing.
sleep "${BENCH_OBSERVE_S:-20}"
S2="$(status_json)"

kinds() { # JSON: counts of the log's commands by their label
    jq -r '[.transport.log[].command | sub("^[^#]*# ?"; "")] | group_by(.) |
           map("\(length) x \(.[0])") | join(", ")' <<<"$1"
}
submits="$(jq '[.transport.log[] | select(.command | test("# submitting"))] | length' <<<"$S1")"
total1="$(jq '.transport.counters.commands' <<<"$S1")"
logged1="$(jq '.transport.log | length' <<<"$S1")"
c1="$total1"
c2="$(jq '.transport.counters.commands' <<<"$S2")"
# The log keeps the last 50 commands: per tick = commands / squeue polls in it.
polls="$(jq '[.transport.log[] | select(.command | test("# squeue$"))] | length' <<<"$S2")"
finals="$(jq '[.transport.log[] | select(.command | test("# (sacct|scontrol show job)$"))] | length' <<<"$S2")"
inlog="$(jq '.transport.log | length' <<<"$S2")"
completed="$(shc run view "$RUN_ID" --json | jq '[.items[] | select(.status == "completed")] | length')"

echo "slurm_ticks: $TASKS tasks on the testbed's Slurm over SSH (poll_interval 1 s)"
echo
printf '%-52s %-14s %s\n' "what" "scripthut" "Python original (spec)"
printf '%-52s %-14s %s\n' "round trips to submit $TASKS ready tasks" \
    "$submits sbatch$( [ "$logged1" -lt 50 ] && echo "; $total1 in all" )" "2-3 per task (${TASKS}x: $((TASKS * 2))-$((TASKS * 3)))"
if [ "$polls" -gt 0 ]; then
    printf '%-52s %-14s %s\n' "SSH commands per polling tick (last $inlog commands)" \
        "$(awk -v a="$inlog" -v b="$polls" 'BEGIN {printf "%.2f", a / b}')" "about 8"
fi
printf '%-52s %-14s %s\n' "  of which status queries (squeue) per tick" "1" "1 (+ sinfo, sshare, df ... every tick)"
printf '%-52s %-14s %s\n' "  accounting queries (sacct/scontrol) in those ticks" "$finals in $polls ticks" "1 per finished job"
echo
echo "commands before/after the ${BENCH_OBSERVE_S:-20} s window: $c1 -> $c2; $completed of $TASKS tasks completed by then"
echo "at submission: $(kinds "$S1")"
echo "while polling: $(kinds "$S2")"

#!/bin/bash
# fake_pbs.sh - a stand-in for qsub, qstat, qdel, qselect and tracejob (linked
# under those names) for tests/unit/test_pbs_backend.c: no PBS server runs
# here.  It answers in the captured formats of this directory, from files in
# $FAKE_PBS_STATE that the test writes:
#   queue.<seq>    the `qstat -f` record of a job still in the queue
#   history.<seq>  its record once finished (PBS Pro `qstat -x -f`)
#   trace.<seq>    what tracejob prints for it
#   down           every command fails as if the server were unreachable
#   garble         qstat prints a record cut off before its job_state
#   silent         qstat fails (exit 1) without a word
#   die            qsub queues the job, then kills the shell that ran it (a
#                  connection lost in the middle of a batch submission)
# With FAKE_PBS_RUN=1, qsub also runs the job at once (bash, in $HOME, stdout
# and stderr to its -o/-e files) and files its history record with the exit
# status, as a PBS Pro server with job_history_enable would (with
# FAKE_PBS_TORQUE=1: a C record left in the queue, as Torque does): for
# end-to-end tests of the real binary (tests/integration/pbs.bats).
# Every call is appended to $FAKE_PBS_STATE/calls.
st=${FAKE_PBS_STATE:?}
cmd=${0##*/}
echo "$cmd $*" >>"$st/calls"
if [ -e "$st/down" ]; then
    echo "$cmd: cannot connect to server fakepbs (errno=111)" >&2
    exit 1
fi
seq_of() { echo "${1%%.*}"; }
case $cmd in
qsub)
    name=STDIN
    out=/dev/null
    err=/dev/null
    while [ $# -gt 0 ]; do
        case $1 in
        -N) name=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        -e) err=$2; shift 2 ;;
        *) shift ;;
        esac
    done
    n=$(cat "$st/next" 2>/dev/null || echo 100)
    cat >"$st/script.$n"
    if grep -q REJECT_ME "$st/script.$n"; then
        echo "qsub: Unknown queue" >&2
        exit 1
    fi
    echo $((n + 1)) >"$st/next"
    printf '%s\n' "$name" >"$st/name.$n"
    if [ -n "${FAKE_PBS_RUN:-}" ]; then
        (cd "$HOME" && PBS_JOBID="$n.fakepbs" bash "$st/script.$n" >"$out" 2>"$err" </dev/null)
        rc=$?
        now=$(date -u '+%a %b %d %H:%M:%S %Y')
        if [ -n "${FAKE_PBS_TORQUE:-}" ]; then # Torque: a C record, kept in the queue
            printf 'Job Id: %s.fakepbs\n    Job_Name = %s\n    job_state = C\n    start_time = %s\n    exit_status = %s\n' \
                "$n" "$name" "$now" "$rc" >"$st/queue.$n"
        else
            printf 'Job Id: %s.fakepbs\n    Job_Name = %s\n    job_state = F\n    substate = 92\n    stime = %s\n    Exit_status = %s\n' \
                "$n" "$name" "$now" "$rc" >"$st/history.$n"
        fi
    fi
    printf '%s.fakepbs\n' "$n"
    if [ -e "$st/die" ]; then
        rm -f "$st/die"
        kill -9 "$PPID"
    fi
    ;;
qstat)
    hist=0
    ids=()
    for a in "$@"; do
        case $a in
        -x) hist=1 ;;
        -f) ;;
        *) ids+=("$a") ;;
        esac
    done
    [ -e "$st/silent" ] && exit 1
    if [ -e "$st/garble" ]; then
        printf 'Job Id: %s\n    Job_Name = x\n' "${ids[0]}"
        exit 0
    fi
    rc=0
    for id in "${ids[@]}"; do
        s=$(seq_of "$id")
        if [ -e "$st/queue.$s" ]; then
            cat "$st/queue.$s"; echo
        elif [ $hist = 1 ] && [ -e "$st/history.$s" ]; then
            cat "$st/history.$s"; echo
        elif [ -e "$st/history.$s" ]; then
            echo "qstat: $id Job has finished, use -x or -H to obtain historical job information" >&2
            rc=35
        else
            echo "qstat: Unknown Job Id $id" >&2
            rc=153
        fi
    done
    exit $rc
    ;;
qdel)
    s=$(seq_of "$1")
    if [ -e "$st/queue.$s" ]; then
        rm "$st/queue.$s"
        printf 'Job Id: %s\n    job_state = F\n    substate = 91\n' "$1" >"$st/history.$s"
        exit 0
    fi
    if [ -e "$st/history.$s" ]; then
        echo "qdel: Job has finished $1" >&2
        exit 35
    fi
    echo "qdel: Unknown Job Id $1" >&2
    exit 153
    ;;
qselect)
    name=
    while [ $# -gt 0 ]; do
        case $1 in
        -N) name=$2; shift 2 ;;
        *) shift ;;
        esac
    done
    for f in "$st"/name.*; do
        [ -e "$f" ] && [ "$(cat "$f")" = "$name" ] && echo "${f##*.}.fakepbs"
    done
    exit 0
    ;;
tracejob)
    s=$(seq_of "${*: -1}")
    [ -e "$st/trace.$s" ] && cat "$st/trace.$s"
    exit 0
    ;;
esac

#!/bin/bash
# testbed-down.sh - stops what testbed-up.sh started, by pid file only (never
# by process name).  The state dir is kept (job ids continue) unless --purge.
set -uo pipefail

DIR="${TESTBED_DIR:-/tmp/scripthut-testbed}"

alive() {
    local pid st
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    st="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ "$st" != Z ] # a zombie is dead (this sandbox's init reaps late)
}

stop() {
    local f=$1 pid
    alive "$f" || { rm -f "$f"; return 0; }
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null
    local end=$((SECONDS + 15))
    while alive "$f" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if alive "$f"; then
        echo "testbed-down: $f ($pid) ignored SIGTERM; SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$f"
}

stop "$DIR/run/sshd.pid"
stop "$DIR/run/sshd-bastion.pid"
stop "$DIR/run/slurmd.pid"
stop "$DIR/run/slurmctld.pid"
stop "$DIR/run/slurmdbd.pid"
stop "$DIR/mysql/mysqld.pid"
stop "$DIR/munge/munged.pid"
if [ "${1:-}" = --purge ]; then
    [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$DIR/etc/slurm.conf" ] &&
        rm -f /etc/slurm/slurm.conf
    rm -rf "$DIR"
fi
exit 0

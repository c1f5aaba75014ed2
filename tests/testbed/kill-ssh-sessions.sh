#!/bin/bash
# kill-ssh-sessions.sh [PIDFILE] - kills every connection the testbed's sshd
# is serving (the listener's children and grandchildren, found from its pid
# file; the listener itself keeps running): what a dropped SSH connection
# looks like.  PIDFILE: another sshd's (the bastion's: run/sshd-bastion.pid).
DIR="${TESTBED_DIR:-/tmp/scripthut-testbed}"
listener="$(cat "${1:-$DIR/run/sshd.pid}")" || exit 1
for child in $(pgrep -P "$listener"); do
    pkill -KILL -P "$child"
    kill -KILL "$child" 2>/dev/null
done
exit 0

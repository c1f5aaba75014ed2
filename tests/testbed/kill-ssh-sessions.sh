#!/bin/bash
# kill-ssh-sessions.sh - kills every connection the testbed's sshd is serving
# (the listener's children and grandchildren, found from its pid file; the
# listener itself keeps running): what a dropped SSH connection looks like.
DIR="${TESTBED_DIR:-/tmp/scripthut-testbed}"
listener="$(cat "$DIR/run/sshd.pid")" || exit 1
for child in $(pgrep -P "$listener"); do
    pkill -KILL -P "$child"
    kill -KILL "$child" 2>/dev/null
done
exit 0

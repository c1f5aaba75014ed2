#!/bin/bash
# with-accounting.sh CMD... - runs CMD (through with-env.sh) on the testbed
# switched to accounting (MariaDB + slurmdbd, so that sacct works), then
# switches it back to how the environment asks for it (TESTBED_ACCOUNTING,
# default 0) and exits with CMD's status.  For the ctest entry of
# accounting.bats: the shared fixture brings the testbed up without
# accounting, and the other testbed tests expect it that way.  Each switch
# restarts slurmctld and slurmd (slurm.conf changes); MariaDB and slurmdbd
# stay up until testbed-down.sh.  Run as root.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
TESTBED_ACCOUNTING=1 "$HERE/testbed-up.sh" >/dev/null || {
    echo "with-accounting.sh: bringing up accounting failed" >&2
    exit 1
}
"$HERE/with-env.sh" "$@"
rc=$?
"$HERE/testbed-up.sh" >/dev/null || {
    echo "with-accounting.sh: switching the testbed back failed" >&2
    [ "$rc" -ne 0 ] || rc=1
}
exit "$rc"

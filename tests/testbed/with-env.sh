#!/bin/bash
# with-env.sh CMD... - runs CMD with the testbed's connection details
# (testbed.env, written by testbed-up.sh) in the environment.
set -eu
DIR="${TESTBED_DIR:-/tmp/scripthut-testbed}"
[ -r "$DIR/testbed.env" ] || { echo "with-env.sh: $DIR/testbed.env missing: is the testbed up?" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$DIR/testbed.env"
set +a
exec "$@"

#!/usr/bin/env bash
# check-format.sh - fails when a C file under src/ or tests/ is not formatted
# as .clang-format says (docs/architecture.md, "Tools").  Fix with
# `clang-format -i FILE`.
#
# Usage: scripts/check-format.sh [REPO_ROOT] [CLANG_FORMAT]
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
clang_format=${2:-clang-format}
cd "$root"
# the fuzz corpora are inputs, not our code
find src tests -type f \( -name '*.c' -o -name '*.h' \) -not -path 'tests/fuzz/corpus/*' -print0 |
    sort -z | xargs -0 "$clang_format" --dry-run -Werror

#!/usr/bin/env bash
# check-shell.sh - runs shellcheck over the repository's shell scripts: *.sh,
# *.bash, *.bats and files whose first line names sh or bash.  A finding is
# fixed, or silenced at its line with a `# shellcheck disable=SCnnnn` comment
# that says why.  Build trees inside the checkout (build*/) are skipped.
#
# Usage: scripts/check-shell.sh [REPO_ROOT] [SHELLCHECK]
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
shellcheck=${2:-shellcheck}
cd "$root"
files=()
while IFS= read -r -d '' f; do
    case "$f" in
    *.sh | *.bash | *.bats) files+=("$f") ;;
    *)
        first=
        IFS= read -r first <"$f" 2>/dev/null || true
        if [[ "$first" =~ ^#!.*[/\ ](ba)?sh([[:space:]]|$) ]]; then
            files+=("$f")
        fi
        ;;
    esac
done < <(find . \( -path ./.git -o -path './build*' -o -name node_modules -o -path ./tests/fuzz/corpus \) \
    -prune -o -type f -not -name '*.md' -print0 | sort -z)
if [[ ${#files[@]} -eq 0 ]]; then
    echo "check-shell: no shell scripts found under $root" >&2
    exit 1
fi
# -x: follow `source`d helpers; warnings and errors fail, style notes too.
"$shellcheck" -x "${files[@]}"

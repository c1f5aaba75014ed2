#!/usr/bin/env bash
# check-layers.sh - fails on an `#include "..."` under src/ that the layer
# table of docs/architecture.md ("Allowed includes") does not allow.
#
# The table is read from the document itself, so the page and the check cannot
# disagree.  Each row names a folder (or main.c) and what it may include: a
# folder (`client/`), or, when the entry lists headers in parentheses, only
# those headers (`lua/` (`host.h` and ... `lua/host_module.h`)).  Besides its
# row, every folder may include its own headers and util/'s.
#
# Usage: scripts/check-layers.sh [REPO_ROOT]   (default: the script's repo)
# Exit 0 when every include is allowed, 1 with one line per offending include.
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
doc="$root/docs/architecture.md"

# Includes the table does not allow yet, each removed by a named step of the
# redesign (docs/architecture.md, "Status of this plan").  An entry that no
# longer matches an include is an error: delete it when its step lands.
# Format: "FILE HEADER".
allowed_for_now=(
    # `scripthut lua` makes its host in cli/: removed when script/ takes the
    # host's creation (script.h).
    "src/cli/cmd_lua.c lua/host.h"
)

if [[ ! -f "$doc" ]]; then
    echo "check-layers: $doc not found" >&2
    exit 1
fi

# The rules: lines "FROM TARGET", TARGET a folder ("client/") or a header
# ("lua/host.h").  FROM is a folder name without the slash, or "main.c".
rules=$(awk '
    /^Allowed includes/ { intable = 1; next }
    intable && /^\|/ {
        n = split($0, cell, "|")
        from = cell[2]; gsub(/[ `\/]/, "", from)
        if (from == "folder" || from ~ /^-+$/) next
        print from, "-"; rows++
        # split the second cell at commas outside parentheses
        s = cell[3]; depth = 0; item = ""; nitems = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "(") depth++
            if (c == ")") depth--
            if (c == "," && depth == 0) { items[++nitems] = item; item = ""; continue }
            item = item c
        }
        items[++nitems] = item
        for (k = 1; k <= nitems; k++) {
            it = items[k]
            if (!match(it, /`[^`]*`/)) continue
            folder = substr(it, RSTART + 1, RLENGTH - 2)
            if (folder !~ /\/$/) continue
            rest = substr(it, RSTART + RLENGTH)
            files = 0
            if (match(rest, /\(.*\)/)) {
                paren = substr(rest, RSTART, RLENGTH)
                while (match(paren, /`[^`]*\.h`/)) {
                    f = substr(paren, RSTART + 1, RLENGTH - 2)
                    paren = substr(paren, RSTART + RLENGTH)
                    if (f !~ /\//) f = folder f
                    print from, f; files++
                }
            }
            if (!files) print from, folder
        }
        next
    }
    intable && !/^\|/ && rows { exit }
' "$doc")

if [[ -z "$rules" ]]; then
    echo "check-layers: no \"Allowed includes\" table in $doc" >&2
    exit 1
fi

declare -A has_row=() allowed=() used_exception=()
while read -r from target; do
    has_row[$from]=1
    allowed["$from $target"]=1
done <<<"$rules"
has_row[util]=1 # util/ includes only itself
for entry in "${allowed_for_now[@]}"; do
    used_exception[$entry]=0
done

status=0
cd "$root"
while IFS= read -r -d '' file; do
    rel=${file#src/}
    if [[ "$rel" == */* ]]; then from=${rel%%/*}; else from=$rel; fi
    if [[ -z "${has_row[$from]:-}" ]]; then
        echo "$file: src/$from is not in the layer table of docs/architecture.md" >&2
        status=1
        continue
    fi
    while IFS= read -r line; do
        [[ "$line" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
        inc=${BASH_REMATCH[1]}
        [[ "$inc" == */* ]] || continue # a header next to the file
        folder=${inc%%/*}
        if [[ "$folder" == "$from" || "$folder" == util ]] ||
            [[ -n "${allowed["$from $folder/"]:-}" || -n "${allowed["$from $inc"]:-}" ]]; then
            continue
        fi
        if [[ -n "${used_exception["$file $inc"]:-}" ]]; then
            used_exception["$file $inc"]=1
            continue
        fi
        echo "$file: includes \"$inc\": $from may not include $folder/ (docs/architecture.md, Layers)" >&2
        status=1
    done <"$file"
done < <(find src -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

for entry in "${allowed_for_now[@]}"; do
    if [[ "${used_exception[$entry]}" == 0 ]]; then
        echo "scripts/check-layers.sh: \"$entry\" is allowed for now but no longer included: delete the entry" >&2
        status=1
    fi
done
exit "$status"

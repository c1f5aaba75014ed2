# bash completion for scripthut (installed as .../bash-completion/completions/scripthut).
# Completes nouns, verbs and flags; workflow names and recent run ids are
# asked of scripthut itself (local, quick; errors are ignored).
# COMPREPLY=($(compgen ...)) splits compgen's words on purpose, the usual
# idiom: none of the words it completes contains a blank.
# shellcheck disable=SC2207

_scripthut_flags() {
    local common="--config --json --server --help"
    case "$1" in
    "task run")
        echo "--from-file --from-stdin --inline-script --backend --id --name --run-name --cpus
              --memory --time --partition --gres --image --working-dir --env --retries
              --retry-delay --dry-run --watch --interval $common" ;;
    "workflow view") echo "--backend --scripts $common" ;;
    "workflow run") echo "--backend --watch --interval $common" ;;
    "run list") echo "--limit --workflow $common" ;;
    "run watch") echo "--interval --exit-status $common" ;;
    "run rerun") echo "--failed-only --watch --interval $common" ;;
    "run logs") echo "--error --tail --follow --interval $common" ;;
    "stack check" | "stack delete") echo "--backend $common" ;;
    "stack install") echo "--backend --rebuild --watch --interval $common" ;;
    "stack gc") echo "--dry-run $common" ;;
    "lua") echo "-e --help" ;;
    *) echo "$common" ;;
    esac
}

_scripthut_workflows() {
    scripthut workflow list 2>/dev/null | awk 'NR > 1 && !/^No workflows/ { print $1 }'
}

_scripthut_stacks() {
    scripthut stack list 2>/dev/null | awk 'NR > 1 && !/^No stacks/ { print $1 }'
}

_scripthut_runs() {
    scripthut run list --limit 30 2>/dev/null | awk 'NR > 1 && !/^No runs/ { print $1 }'
}

_scripthut() {
    local cur prev words cword
    _init_completion -n = 2>/dev/null || {
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD - 1]}"
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }

    # Find the noun and verb, skipping global flags and their values.
    local i noun="" verb="" npos=0
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
        --config | -c | --server) ((i++)) ;;
        -*) ;;
        *)
            if [ -z "$noun" ]; then noun="${words[i]}"
            elif [ -z "$verb" ]; then verb="${words[i]}"
            else ((npos++)); fi ;;
        esac
    done

    case "$prev" in
    --config | -c | --from-file | --inline-script)
        COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --working-dir)
        COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --server | --id | --name | --run-name | --cpus | --memory | --time | --partition | --gres | \
        --image | --env | --retries | --retry-delay | --interval | --limit | --tail | -e)
        return ;;
    --backend)
        COMPREPLY=($(compgen -W "$(scripthut backend list 2>/dev/null | awk 'NR > 1 { print $1 }')" -- "$cur"))
        return ;;
    --workflow)
        COMPREPLY=($(compgen -W "$(_scripthut_workflows)" -- "$cur")); return ;;
    esac

    if [ -z "$noun" ]; then
        COMPREPLY=($(compgen -W "task workflow run stack backend status daemon lua --config --json
                                 --server --help --version" -- "$cur"))
        return
    fi
    local verbs=""
    case "$noun" in
    task) verbs="run" ;;
    workflow) verbs="list view run" ;;
    run) verbs="list view watch cancel rerun delete logs" ;;
    stack) verbs="list check install delete gc" ;;
    backend) verbs="list" ;;
    daemon) verbs="status start stop" ;;
    status) verb="-" ;;
    lua) COMPREPLY=($(compgen -f -- "$cur")); [ "$cur" = "-" ] && COMPREPLY=(-e); return ;;
    esac
    if [ -z "$verb" ]; then
        COMPREPLY=($(compgen -W "$verbs --help" -- "$cur"))
        return
    fi
    local leaf="$noun $verb"
    [ "$noun" = status ] && leaf="status"
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_scripthut_flags "$leaf")" -- "$cur"))
        return
    fi
    case "$leaf" in
    "workflow view" | "workflow run")
        [ "$npos" -eq 0 ] && COMPREPLY=($(compgen -W "$(_scripthut_workflows)" -- "$cur")) ;;
    "run view" | "run watch" | "run cancel" | "run rerun" | "run delete" | "run logs")
        [ "$npos" -eq 0 ] && COMPREPLY=($(compgen -W "$(_scripthut_runs)" -- "$cur")) ;;
    "task run")
        COMPREPLY=($(compgen -c -- "$cur")) ;;
    "stack check" | "stack install" | "stack delete" | "stack gc")
        [ "$npos" -eq 0 ] && COMPREPLY=($(compgen -W "$(_scripthut_stacks)" -- "$cur")) ;;
    esac
}

complete -F _scripthut scripthut

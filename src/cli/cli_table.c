/* cli_table.c - every command and every flag of `scripthut`, declared once.
 *
 * getopt options (cli_args.c), `--help`, the shell completions, the man page
 * and the flag reference of docs/cli.md (cli_gen.c) are all made from these
 * two tables; tests/integration/cli_table.bats fails when a generated file or
 * a shell's completion disagrees with them.  Adding a flag: one CLI_FLAGS
 * entry, one line in each command that takes it, and its handling in the
 * command's flag function. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "util/sbuf.h"
#include "util/suggest.h"

const cli_flag CLI_FLAGS[F_COUNT] = {
    [F_CONFIG] = {"config", 'c', "PATH", "load exactly this config file (default: discovery)",
                  CK_FILE, CS_COMMON, NULL},
    [F_JSON] = {"json", 0, NULL, "print JSON (the API's shapes) instead of text", CK_TEXT,
                CS_COMMON, NULL},
    [F_SERVER] = {"server", 0, "URL", "talk to a scripthut server ('local': this machine)", CK_TEXT,
                  CS_COMMON, "SCRIPTHUT_SERVER"},
    [F_TOKEN] = {"token", 0, "T", "bearer token", CK_TEXT, CS_CREDENTIAL, "SCRIPTHUT_API_TOKEN"},
    [F_CF_CLIENT_ID] = {"cf-client-id", 0, "ID", "Cloudflare Access service token id", CK_TEXT,
                        CS_CREDENTIAL, "SCRIPTHUT_CF_CLIENT_ID"},
    [F_CF_CLIENT_SECRET] = {"cf-client-secret", 0, "S", "Cloudflare Access service token secret",
                            CK_TEXT, CS_CREDENTIAL, "SCRIPTHUT_CF_CLIENT_SECRET"},
    [F_CF_ACCESS_TOKEN] = {"cf-access-token", 0, "T", "Cloudflare Access token", CK_TEXT,
                           CS_CREDENTIAL, "SCRIPTHUT_CF_ACCESS_TOKEN"},
    [F_HELP] = {"help", 'h', NULL, "show this help", CK_TEXT, CS_COMMON, NULL},
    [F_NO_COLOR] = {"no-color", 0, NULL, "no colour (colour is used only on a terminal)", CK_TEXT,
                    CS_COMMON, "NO_COLOR"},
    [F_VERSION] = {"version", 'V', NULL, "print the version", CK_TEXT, CS_GLOBAL, NULL},

    [F_WATCH] = {"watch", 0, NULL, "follow the run until it ends; exit 1 unless completed"},
    [F_INTERVAL] = {"interval", 0, "S", "seconds between refreshes while watching (default 2)"},

    [F_FROM_FILE] = {"from-file", 0, "PATH", "task definition from a JSON object in PATH", CK_FILE},
    [F_FROM_STDIN] = {"from-stdin", 0, NULL, "task definition from a JSON object on stdin"},
    [F_INLINE_SCRIPT] = {"inline-script", 0, "PATH", "embed the script file PATH as the command",
                         CK_FILE},
    [F_ID] = {"id", 0, "ID", "task id (default: task)"},
    [F_NAME] = {"name", 0, "N", "display name (default: the id)"},
    [F_RUN_NAME] = {"run-name", 0, "L", "run label (default: _adhoc/<id>)"},
    [F_CPUS] = {"cpus", 0, "N", "CPUs the task needs"},
    [F_MEMORY] = {"memory", 0, "M", "memory the task needs (4G)"},
    [F_TIME] = {"time", 0, "T", "time limit (1:00:00)"},
    [F_PARTITION] = {"partition", 0, "P", "scheduler partition"},
    [F_GRES] = {"gres", 0, "G", "generic resources (gpu:1)"},
    [F_IMAGE] = {"image", 0, "I", "container image"},
    [F_WORKING_DIR] = {"working-dir", 0, "D", "directory the task runs in (default: ~)", CK_DIR},
    [F_ENV] = {"env", 0, "KEY=VALUE", "set an environment variable (repeatable)"},
    [F_RETRIES] = {"retries", 0, "N", "retry a failed task up to N times"},
    [F_RETRY_DELAY] = {"retry-delay", 0, "S", "seconds between attempts"},

    [F_BACKEND] = {"backend", 0, "B", "backend to use", CK_BACKEND},
    [F_DRY_RUN] = {"dry-run", 0, NULL, "only say what would be done"},
    [F_SCRIPTS] = {"scripts", 0, NULL, "also print each task's job script"},
    [F_LIMIT] = {"limit", 0, "N", "show at most N runs (default 20; 0 = all)"},
    [F_WORKFLOW] = {"workflow", 0, "W", "only runs of workflow W", CK_WORKFLOW},
    [F_EXIT_STATUS] = {"exit-status", 0, NULL, "exit 1 unless the run completed"},
    [F_FAILED_ONLY] = {"failed-only", 0, NULL, "keep completed tasks; rerun only the others"},
    [F_ERROR] = {"error", 0, NULL, "the task's stderr instead of its stdout"},
    [F_TAIL] = {"tail", 0, "N", "only the last N lines"},
    [F_FOLLOW] = {"follow", 'f', NULL, "keep printing new output until the task ends"},
    [F_REBUILD] = {"rebuild", 0, NULL, "build again even if it is ready"},
    [F_DATA_DIR] = {"data-dir", 0, "D", "drive this data dir's runs, without any config", CK_DIR},
    [F_POLL_INTERVAL] = {"poll-interval", 0, "S", "seconds between scheduler polls (default 60)"},
    [F_RETENTION_DAYS] = {"retention-days", 0, "N", "days finished runs are kept (default 30)"},
    [F_HOST] = {"host", 0, "H", "address to listen on (default: settings.server_host, 127.0.0.1)"},
    [F_PORT] = {"port", 0, "P", "port (default: settings.server_port, 8000; 0 = any free port)"},
    [F_THREADS] = {"threads", 0, "N", "worker threads (default 16)"},
    [F_EVAL] = {NULL, 'e', "CODE", "run CODE instead of a file"},
};

const cli_cmd CLI_COMMANDS[] = {
    {
        "task",
        "run",
        cmd_task_run,
        "run one ad-hoc task",
        CLI_NEEDS_CONFIG,
        .args = {{"COMMAND", CK_COMMAND, true}},
        .arg_note = " (quote it as one argument)",
        .flags = {{F_BACKEND, "backend to run on (default: local)"},
                  {F_ID, NULL},
                  {F_NAME, NULL},
                  {F_RUN_NAME, NULL},
                  {F_FROM_FILE, NULL},
                  {F_FROM_STDIN, NULL},
                  {F_INLINE_SCRIPT, NULL},
                  {F_CPUS, NULL},
                  {F_MEMORY, NULL},
                  {F_TIME, NULL},
                  {F_PARTITION, NULL},
                  {F_GRES, NULL},
                  {F_IMAGE, NULL},
                  {F_WORKING_DIR, NULL},
                  {F_ENV, NULL},
                  {F_RETRIES, NULL},
                  {F_RETRY_DELAY, NULL},
                  {F_DRY_RUN, "print the task and backend as JSON; submit nothing"},
                  CLI_WATCH_FLAGS},
        .json = true,
        .synopsis =
            "task run [COMMAND] [--from-file PATH | --from-stdin | --inline-script PATH] [flags]",
        .examples =
            "scripthut task run \"python3 train.py --lr 0.1\" --cpus 4 --memory 8G --watch\n"
            "scripthut task run --inline-script job.sh --env DATASET=small --id prep\n"
            "echo '{\"id\": \"t\", \"command\": \"make test\"}' | scripthut task run "
            "--from-stdin --json\n",
    },
    {
        "workflow",
        "list",
        cmd_workflow_list,
        "list the workflows defined in the config",
        CLI_NEEDS_CONFIG,
        .json = true,
        .examples = "scripthut workflow list\n"
                    "scripthut workflow list --json | jq -r '.workflows[].name'\n",
    },
    {
        "workflow",
        "view",
        cmd_workflow_view,
        "show a workflow's tasks without running it",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_WORKFLOW}},
        .flags = {{F_BACKEND, "render for this backend instead of the workflow's"},
                  {F_SCRIPTS, NULL}},
        .json = true,
        .examples = "scripthut workflow view sweep\n"
                    "scripthut workflow view sweep --backend hpc --scripts\n",
    },
    {
        "workflow",
        "run",
        cmd_workflow_run,
        "run a workflow",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_WORKFLOW}},
        .flags = {{F_BACKEND, "run on this backend instead of the workflow's"}, CLI_WATCH_FLAGS},
        .json = true,
        .examples = "scripthut workflow run sweep --watch\n"
                    "scripthut workflow run sweep --backend local\n",
    },
    {
        "run",
        "list",
        cmd_run_list,
        "list runs, newest first",
        CLI_NEEDS_SETTINGS,
        .flags = {{F_LIMIT, NULL}, {F_WORKFLOW, NULL}},
        .json = true,
    },
    {
        "run",
        "view",
        cmd_run_view,
        "show a run and its tasks",
        CLI_NEEDS_SETTINGS,
        .args = {{"RUN_ID", CK_RUN}},
        .json = true,
        .notes = "(RUN_ID: the id, or a unique prefix of at least 4 characters)\n",
        .examples = "scripthut run view 1a2b\n"
                    "scripthut run view 1a2b3c4d --json | jq '.items[] | select(.status == "
                    "\"failed\")'\n",
    },
    {
        "run",
        "watch",
        cmd_run_watch,
        "follow a run until it ends",
        CLI_NEEDS_SETTINGS,
        .args = {{"RUN_ID", CK_RUN}},
        .flags = {{F_INTERVAL, "seconds between refreshes (default 2)"}, {F_EXIT_STATUS, NULL}},
        .json = true,
        .examples = "scripthut run watch 1a2b --exit-status && echo done\n",
    },
    {
        "run",
        "cancel",
        cmd_run_cancel,
        "cancel a run's pending and running tasks",
        CLI_NEEDS_SETTINGS,
        .args = {{"RUN_ID", CK_RUN}},
        .json = true,
        .examples = "scripthut run cancel 1a2b\n",
    },
    {
        "run",
        "rerun",
        cmd_run_rerun,
        "run a finished run's tasks again as a new run",
        CLI_NEEDS_CONFIG,
        .args = {{"RUN_ID", CK_RUN}},
        .flags = {{F_FAILED_ONLY, NULL}, CLI_WATCH_FLAGS},
        .json = true,
        .examples = "scripthut run rerun 1a2b --failed-only --watch\n",
    },
    {
        "run",
        "delete",
        cmd_run_delete,
        "delete a finished run and its local logs",
        CLI_NEEDS_SETTINGS,
        .args = {{"RUN_ID", CK_RUN}},
        .json = true,
        .examples = "scripthut run delete 1a2b\n",
    },
    {
        "run",
        "logs",
        cmd_run_logs,
        "print a task's output",
        CLI_NEEDS_SETTINGS,
        .args = {{"RUN_ID", CK_RUN}, {"TASK", CK_TASK}},
        .flags = {{F_ERROR, NULL},
                  {F_TAIL, NULL},
                  {F_FOLLOW, NULL},
                  {F_INTERVAL, "seconds between checks with --follow (default 2)"}},
        .json = true,
        .examples = "scripthut run logs 1a2b3c4d sim.2 --error --tail 50\n"
                    "scripthut run logs 1a2b3c4d train -f\n",
    },
    {
        "backend",
        "list",
        cmd_backend_list,
        "list backends: status, active jobs, last error",
        CLI_NEEDS_CONFIG,
        .json = true,
        .examples = "scripthut backend list\n",
    },
    {
        "backend",
        "status",
        cmd_backend_status,
        "a backend's connection, counters, recent commands and cluster info",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_BACKEND, true}},
        .json = true,
        .examples = "scripthut backend status hpc\n",
    },
    {
        "stack",
        "list",
        cmd_stack_list,
        "list the stacks of the config with their hashes",
        CLI_NEEDS_CONFIG,
        .json = true,
        .examples = "scripthut stack list\n",
    },
    {
        "stack",
        "check",
        cmd_stack_check,
        "is a stack built on its backends? (exit 1 unless all ready)",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_STACK, true}},
        .flags = {{F_BACKEND, "only this backend (default: the stack's backends)"}},
        .json = true,
        .examples = "scripthut stack check\n"
                    "scripthut stack check ml --backend hpc\n",
    },
    {
        "stack",
        "install",
        cmd_stack_install,
        "build a stack, as a one-task run",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_STACK}},
        .flags = {{F_BACKEND, "backend to build on (default: the stack's only backend, or local)"},
                  {F_REBUILD, NULL},
                  CLI_WATCH_FLAGS},
        .json = true,
        .examples = "scripthut stack install ml --watch\n"
                    "scripthut stack install ml --backend hpc --rebuild\n",
    },
    {
        "stack",
        "delete",
        cmd_stack_delete,
        "remove every built hash of a stack",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_STACK}},
        .flags = {{F_BACKEND, "only this backend (default: the stack's backends)"}},
        .json = true,
        .examples = "scripthut stack delete ml --backend local\n",
    },
    {
        "stack",
        "gc",
        cmd_stack_gc,
        "remove old hash dirs, keeping the current one and those active runs use",
        CLI_NEEDS_CONFIG,
        .args = {{"NAME", CK_STACK, true}},
        .flags = {{F_DRY_RUN, "only say what would be removed"}},
        .json = true,
        .examples = "scripthut stack gc --dry-run\n"
                    "scripthut stack gc ml\n",
    },
    {
        "status",
        NULL,
        cmd_status,
        "version, config files, data dir, engine and runs",
        CLI_NEEDS_SETTINGS,
        .json = true,
        .examples = "scripthut status\n"
                    "scripthut --server http://127.0.0.1:8000 status\n",
    },
    {
        "daemon",
        "status",
        cmd_daemon_status,
        "is the background engine running?",
        CLI_NEEDS_SETTINGS,
        .json = true,
        .examples = "scripthut daemon status\n",
    },
    {
        "daemon",
        "start",
        cmd_daemon_start,
        "start the background engine if work is waiting",
        CLI_NEEDS_SETTINGS,
        .json = true,
    },
    {
        "daemon",
        "stop",
        cmd_daemon_stop,
        "stop the background engine",
        CLI_NEEDS_SETTINGS,
        .json = true,
    },
    {
        "daemon",
        "run",
        cmd_daemon_run,
        "run the engine in the foreground (used internally)",
        CLI_NEEDS_SETTINGS,
        .flags = {{F_DATA_DIR, NULL}, {F_POLL_INTERVAL, NULL}, {F_RETENTION_DAYS, NULL}},
        .hidden = true,
    },
    {
        "serve",
        NULL,
        cmd_serve,
        "serve the REST API and dashboard, and drive the engine",
        CLI_NEEDS_CONFIG,
        .flags = {{F_HOST, NULL}, {F_PORT, NULL}, {F_THREADS, NULL}},
        .no_server = true,
        .examples = "scripthut serve\n"
                    "scripthut serve --port 0   # any free port; the address is printed\n",
    },
    {
        "lua",
        NULL,
        cmd_lua,
        "Lua prompt, or run a Lua script, with the scripthut module (docs/lua-api.md)",
        CLI_NEEDS_NOTHING,
        .args = {{"FILE", CK_FILE, true}},
        .flags = {{F_EVAL, NULL},
                  {F_CONFIG, "the config the scripthut module uses"},
                  {F_SERVER, "the server the scripthut module talks to"}},
        .no_common = true,
        .stop_at_arg = true,
        .synopsis = "lua [FILE [ARGS...]] | lua -e CODE [ARGS...]",
        .notes = "(with no FILE: the interactive prompt on a terminal, else a script from stdin)\n",
        .examples = "scripthut lua\n"
                    "scripthut lua -e 'for _, r in ipairs(scripthut.runs()) do print(r.id) end'\n",
    },
    {
        "completion",
        NULL,
        cmd_completion,
        "print the bash, zsh or fish completion script",
        CLI_NEEDS_NOTHING,
        .args = {{"SHELL", CK_SHELL}},
        .examples = "source <(scripthut completion bash)\n"
                    "scripthut completion fish > ~/.config/fish/completions/scripthut.fish\n",
    },
    {
        "help",
        NULL,
        cmd_help,
        "a help topic, or a command's help",
        CLI_NEEDS_NOTHING,
        .args = {{"TOPIC", CK_TOPIC, true}, {"VERB", CK_TEXT, true}},
        .synopsis = "help [TOPIC | COMMAND [VERB]]",
        .examples = "scripthut help config\n"
                    "scripthut help run logs\n",
    },
    {
        "__complete",
        NULL,
        cmd_complete,
        "names for the shell completions: runs, a run's tasks, workflows, stacks, backends",
        CLI_NEEDS_SETTINGS,
        .args = {{"KIND", CK_TEXT}, {"RUN_ID", CK_RUN, true}},
        .hidden = true,
    },
    {
        "__gen",
        NULL,
        cmd_gen,
        "write what the build makes from this table: man, docs, json, bash, zsh, fish",
        CLI_NEEDS_NOTHING,
        .args = {{"WHAT", CK_TEXT}, {"FILE", CK_FILE, true}},
        .hidden = true,
    },
};
const size_t CLI_NCOMMANDS = sizeof CLI_COMMANDS / sizeof CLI_COMMANDS[0];

const cli_cmd *cli_find_command(const char *noun, const char *verb)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (strcmp(cmd->noun, noun) != 0)
            continue;
        if (!cmd->verb || (verb && strcmp(cmd->verb, verb) == 0))
            return cmd;
    }
    return NULL;
}

bool cli_noun_exists(const char *noun)
{
    for (size_t i = 0; i < CLI_NCOMMANDS; i++)
        if (strcmp(CLI_COMMANDS[i].noun, noun) == 0)
            return true;
    return false;
}

const char *cli_use_help(const cli_use *u)
{
    return u->help ? u->help : CLI_FLAGS[u->id].help;
}

char *cli_usage(const cli_cmd *cmd)
{
    if (cmd->synopsis)
        return xstrdup(cmd->synopsis);
    sbuf b = SBUF_INIT;
    char name[64];
    sbuf_puts(&b, cli_cmd_name(cmd, name, sizeof name));
    for (size_t i = 0; i < CLI_MAX_ARGS && cmd->args[i].name; i++)
        sbuf_printf(&b, cmd->args[i].optional ? " [%s]" : " %s", cmd->args[i].name);
    for (const cli_use *u = cmd->flags; u->id != F_END; u++) {
        const cli_flag *f = &CLI_FLAGS[u->id];
        sbuf_puts(&b, " [");
        if (f->short_name && f->name)
            sbuf_printf(&b, "-%c|--%s", f->short_name, f->name);
        else if (f->name)
            sbuf_printf(&b, "--%s", f->name);
        else
            sbuf_printf(&b, "-%c", f->short_name);
        if (f->value)
            sbuf_printf(&b, " %s", f->value);
        sbuf_putc(&b, ']');
    }
    if (cmd->json)
        sbuf_puts(&b, " [--json]");
    return sbuf_detach(&b);
}

bool cli_flag_applies(const cli_cmd *cmd, cli_flag_id id)
{
    for (const cli_use *u = cmd->flags; u->id != F_END; u++)
        if (u->id == id)
            return true;
    if (id == F_HELP)
        return true;
    cli_section section = CLI_FLAGS[id].section;
    if (cmd->no_common || (section != CS_COMMON && section != CS_CREDENTIAL))
        return false;
    bool reads_config = cmd->needs != CLI_NEEDS_NOTHING;
    bool reaches_server = reads_config && !cmd->no_server;
    if (section == CS_CREDENTIAL)
        return reaches_server;
    switch (id) {
    case F_JSON: return cmd->json;
    case F_CONFIG: return reads_config;
    case F_SERVER: return reaches_server;
    case F_NO_COLOR: return reaches_server;
    default: return true;
    }
}

/* --- "did you mean" -------------------------------------------------------- */

const char *cli_suggest_noun(const char *typed)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < CLI_NCOMMANDS && n < 64; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (cmd->hidden || (n && !strcmp(names[n - 1], cmd->noun)))
            continue;
        names[n++] = cmd->noun;
    }
    return suggest_closest(typed, names, n);
}

const char *cli_suggest_verb(const char *noun, const char *typed)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < CLI_NCOMMANDS && n < 64; i++) {
        const cli_cmd *cmd = &CLI_COMMANDS[i];
        if (!cmd->hidden && cmd->verb && !strcmp(cmd->noun, noun))
            names[n++] = cmd->verb;
    }
    return suggest_closest(typed, names, n);
}

const char *cli_suggest_flag(const cli_cmd *cmd, const char *typed, char *buf, size_t size)
{
    const char *names[F_COUNT];
    size_t n = 0;
    for (int id = F_END + 1; id < F_COUNT; id++)
        if (CLI_FLAGS[id].name && cli_flag_applies(cmd, (cli_flag_id)id))
            names[n++] = CLI_FLAGS[id].name;
    while (*typed == '-')
        typed++;
    const char *best = suggest_closest(typed, names, n);
    if (!best)
        return NULL;
    snprintf(buf, size, "--%s", best);
    return buf;
}

/* cli_main.c - `scripthut [global flags] <noun> <verb> [flags]`: the command
 * table, global flags, help and --version.  Each leaf parses its own flags. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

#define COMMON_HELP                                                                                \
    "  -c, --config PATH   load exactly this config file (default: discovery)\n"                   \
    "      --json          print JSON (the API's shapes) instead of text\n"                        \
    "      --server URL    talk to a scripthut server ('local': this machine)\n"                   \
    "  -h, --help          show this help\n"

static const cli_cmd COMMANDS[] = {
    {"task", "run", cmd_task_run,
     "task run [COMMAND] [--from-file PATH | --from-stdin | --inline-script PATH] [flags]",
     "run one ad-hoc task",
     "      --backend B         backend to run on (default: local)\n"
     "      --id ID             task id (default: task)\n"
     "      --name N            display name (default: the id)\n"
     "      --run-name L        run label (default: _adhoc/<id>)\n"
     "      --from-file PATH    task definition from a JSON object in PATH\n"
     "      --from-stdin        task definition from a JSON object on stdin\n"
     "      --inline-script PATH  embed the script file PATH as the command\n"
     "      --cpus N  --memory M  --time T  --partition P  --gres G  --image I\n"
     "      --working-dir D     directory the task runs in (default: ~)\n"
     "      --env KEY=VALUE     set an environment variable (repeatable)\n"
     "      --retries N         retry a failed task up to N times\n"
     "      --retry-delay S     seconds between attempts\n"
     "      --dry-run           print the task and backend as JSON; submit nothing\n"
     "      --watch             follow the run until it ends; exit 1 unless completed\n"
     "      --interval S        seconds between refreshes while watching (default 2)\n",
     false},
    {"workflow", "list", cmd_workflow_list, "workflow list [--json]",
     "list the workflows defined in the config", NULL, false},
    {"workflow", "view", cmd_workflow_view, "workflow view NAME [--backend B] [--scripts] [--json]",
     "show a workflow's tasks without running it",
     "      --backend B         render for this backend instead of the workflow's\n"
     "      --scripts           also print each task's job script\n",
     false},
    {"workflow", "run", cmd_workflow_run,
     "workflow run NAME [--backend B] [--watch] [--interval S] [--json]", "run a workflow",
     "      --backend B         run on this backend instead of the workflow's\n"
     "      --watch             follow the run until it ends; exit 1 unless completed\n"
     "      --interval S        seconds between refreshes while watching (default 2)\n",
     false},
    {"run", "list", cmd_run_list, "run list [--limit N] [--workflow W] [--json]",
     "list runs, newest first",
     "      --limit N           show at most N runs (default 20; 0 = all)\n"
     "      --workflow W        only runs of workflow W\n",
     false},
    {"run", "view", cmd_run_view, "run view RUN_ID [--json]", "show a run and its tasks", NULL,
     false},
    {"run", "watch", cmd_run_watch, "run watch RUN_ID [--interval S] [--exit-status] [--json]",
     "follow a run until it ends",
     "      --interval S        seconds between refreshes (default 2)\n"
     "      --exit-status       exit 1 unless the run completed\n",
     false},
    {"run", "cancel", cmd_run_cancel, "run cancel RUN_ID [--json]",
     "cancel a run's pending and running tasks", NULL, false},
    {"run", "rerun", cmd_run_rerun,
     "run rerun RUN_ID [--failed-only] [--watch] [--interval S] [--json]",
     "run a finished run's tasks again as a new run",
     "      --failed-only       keep completed tasks; rerun only the others\n"
     "      --watch             follow the new run until it ends\n"
     "      --interval S        seconds between refreshes while watching (default 2)\n",
     false},
    {"run", "delete", cmd_run_delete, "run delete RUN_ID [--json]",
     "delete a finished run and its local logs", NULL, false},
    {"run", "logs", cmd_run_logs,
     "run logs RUN_ID TASK [--error] [--tail N] [--follow] [--interval S] [--json]",
     "print a task's output",
     "      --error             the task's stderr instead of its stdout\n"
     "      --tail N            only the last N lines\n"
     "  -f, --follow            keep printing new output until the task ends\n"
     "      --interval S        seconds between checks with --follow (default 2)\n",
     false},
    {"backend", "list", cmd_backend_list, "backend list [--json]",
     "list backends: status, active jobs, last error", NULL, false},
    {"backend", "status", cmd_backend_status, "backend status [NAME] [--json]",
     "a backend's connection, counters, recent commands and cluster info", NULL, false},
    {"stack", "list", cmd_stack_list, "stack list [--json]",
     "list the stacks of the config with their hashes", NULL, false},
    {"stack", "check", cmd_stack_check, "stack check [NAME] [--backend B] [--json]",
     "is a stack built on its backends? (exit 1 unless all ready)",
     "      --backend B         only this backend (default: the stack's backends)\n", false},
    {"stack", "install", cmd_stack_install,
     "stack install NAME [--backend B] [--rebuild] [--watch] [--interval S] [--json]",
     "build a stack, as a one-task run",
     "      --backend B         backend to build on (default: the stack's only backend, or local)\n"
     "      --rebuild           build again even if it is ready\n"
     "      --watch             follow the install until it ends; exit 1 unless completed\n"
     "      --interval S        seconds between refreshes while watching (default 2)\n",
     false},
    {"stack", "delete", cmd_stack_delete, "stack delete NAME [--backend B] [--json]",
     "remove every built hash of a stack",
     "      --backend B         only this backend (default: the stack's backends)\n", false},
    {"stack", "gc", cmd_stack_gc, "stack gc [NAME] [--dry-run] [--json]",
     "remove old hash dirs, keeping the current one and those active runs use",
     "      --dry-run           only say what would be removed\n", false},
    {"status", NULL, cmd_status, "status [--json]",
     "version, config files, data dir, engine and runs", NULL, false},
    {"daemon", "status", cmd_daemon_status, "daemon status [--json]",
     "is the background engine running?", NULL, false},
    {"daemon", "start", cmd_daemon_start, "daemon start [--json]",
     "start the background engine if work is waiting", NULL, false},
    {"daemon", "stop", cmd_daemon_stop, "daemon stop [--json]", "stop the background engine", NULL,
     false},
    {"daemon", "run", cmd_daemon_run, "daemon run [--data-dir D]",
     "run the engine in the foreground (used internally)", NULL, true},
    {"serve", NULL, cmd_serve, "serve [--host H] [--port P] [--threads N]",
     "serve the REST API and dashboard, and drive the engine",
     "      --host H            address to listen on (default: settings.server_host, 127.0.0.1)\n"
     "      --port P            port (default: settings.server_port, 8000; 0 = any free port)\n"
     "      --threads N         worker threads (default 16)\n",
     false},
    {"lua", NULL, cmd_lua, "lua [FILE [ARGS...]] | lua -e CODE [ARGS...]",
     "Lua prompt, or run a Lua script, with the scripthut module (docs/lua-api.md)",
     "  -e CODE                 run CODE instead of a file\n"
     "  -c, --config PATH       the config the scripthut module uses\n"
     "      --server URL        the server the scripthut module talks to\n"
     "  (with no FILE: the interactive prompt on a terminal, else a script from stdin)\n",
     false},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

void cli_print_leaf_help(const cli_cmd *cmd, FILE *f)
{
    fprintf(f, "Usage: scripthut %s\n\n  %s\n\nFlags:\n", cmd->usage, cmd->summary);
    if (cmd->help)
        fputs(cmd->help, f);
    if (strcmp(cmd->noun, "lua") != 0)
        fputs(COMMON_HELP, f);
}

static void print_command_list(FILE *f, const char *noun)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cli_cmd *cmd = &COMMANDS[i];
        if (cmd->hidden || (noun && strcmp(cmd->noun, noun) != 0))
            continue;
        char name[64];
        fprintf(f, "  %-18s %s\n", cli_cmd_name(cmd, name, sizeof name), cmd->summary);
    }
}

static void print_main_help(FILE *f)
{
    fputs("scripthut - run task workflows on this machine or a cluster, and follow them.\n\n"
          "Usage: scripthut [--config PATH] [--json] [--server URL] <command> [flags]\n"
          "       scripthut <command> --help\n\n"
          "Commands:\n",
          f);
    print_command_list(f, NULL);
    fputs(
        "\nGlobal flags (also accepted after the command):\n" COMMON_HELP
        "  -V, --version       print the version\n\n"
        "Server credentials (flag, else environment variable, else settings.cli_auth;\n"
        "flags are visible to other users in `ps`: prefer the variables):\n"
        "      --token T             bearer token (SCRIPTHUT_API_TOKEN)\n"
        "      --cf-client-id ID     Cloudflare Access service token id (SCRIPTHUT_CF_CLIENT_ID)\n"
        "      --cf-client-secret S  its secret (SCRIPTHUT_CF_CLIENT_SECRET)\n"
        "      --cf-access-token T   Cloudflare Access token (SCRIPTHUT_CF_ACCESS_TOKEN)\n\n"
        "Exit codes: 0 ok, 1 error, 2 usage error, 130 interrupted.\n"
        "Docs: docs/cli.md\n",
        f);
}

static void print_noun_help(const char *noun, FILE *f)
{
    fprintf(f, "Usage: scripthut %s <command> [flags]\n\nCommands:\n", noun);
    print_command_list(f, noun);
    fprintf(f, "\nRun 'scripthut %s <command> --help' for a command's flags.\n", noun);
}

static bool noun_exists(const char *noun)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].noun, noun) == 0)
            return true;
    return false;
}

static const cli_cmd *find_command(const char *noun, const char *verb)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cli_cmd *cmd = &COMMANDS[i];
        if (strcmp(cmd->noun, noun) != 0)
            continue;
        if (!cmd->verb || (verb && strcmp(cmd->verb, verb) == 0))
            return cmd;
    }
    return NULL;
}

static bool is_help_flag(const char *s)
{
    return s && (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0 || strcmp(s, "help") == 0);
}

/* Global flags before the noun.  Returns the index of the noun, or -1 with
 * *rc set (help, version, or a usage error). */
/* The global flags that take a value, and where each one goes. */
static const char **global_value_slot(cli_ctx *c, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } flags[] = {
        {"--config", offsetof(client_options, config_path)},
        {"-c", offsetof(client_options, config_path)},
        {"--server", offsetof(client_options, server)},
        {"--token", offsetof(client_options, token)},
        {"--cf-client-id", offsetof(client_options, cf_client_id)},
        {"--cf-client-secret", offsetof(client_options, cf_client_secret)},
        {"--cf-access-token", offsetof(client_options, cf_access_token)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strcmp(name, flags[i].name))
            return (const char **)((char *)&c->opts + flags[i].offset);
    return NULL;
}

static int parse_global_flags(cli_ctx *c, int argc, char **argv, int *rc)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        char name[64];
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), a);
        const char **slot = global_value_slot(c, name);
        if (slot) {
            if (eq && a[1] == '-') {
                *slot = eq + 1;
            } else if (i + 1 >= argc) {
                cli_error("flag %s needs a value (see: scripthut --help)", a);
                *rc = EXIT_USAGE;
                return -1;
            } else {
                *slot = argv[++i];
            }
        } else if (!strcmp(a, "--json")) {
            c->json = true;
        } else if (is_help_flag(a)) {
            print_main_help(stdout);
            *rc = EXIT_OK;
            return -1;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("scripthut %s\n", SCRIPTHUT_VERSION);
            *rc = EXIT_OK;
            return -1;
        } else {
            cli_error("unknown flag %s (see: scripthut --help)", a);
            *rc = EXIT_USAGE;
            return -1;
        }
    }
    if (i >= argc) {
        print_main_help(stderr);
        cli_error("missing command");
        *rc = EXIT_USAGE;
        return -1;
    }
    return i;
}

/* Commands of the Python tool or of DESIGN §1 that this build does not
 * have yet: say so instead of "unknown command". */
static bool is_planned_noun(const char *noun)
{
    (void)noun; /* none left: every planned noun has landed */
    return false;
}

static int dispatch(cli_ctx *c, int argc, char **argv, int at)
{
    const char *noun = argv[at];
    if (is_help_flag(noun)) {
        if (at + 1 < argc && noun_exists(argv[at + 1])) {
            print_noun_help(argv[at + 1], stdout);
            return EXIT_OK;
        }
        print_main_help(stdout);
        return EXIT_OK;
    }
    if (is_planned_noun(noun)) {
        cli_error("'scripthut %s' is not available in this build yet", noun);
        return EXIT_ERROR;
    }
    if (!noun_exists(noun)) {
        cli_error("unknown command '%s' (see: scripthut --help)", noun);
        return EXIT_USAGE;
    }
    const char *verb = at + 1 < argc ? argv[at + 1] : NULL;
    const cli_cmd *cmd = find_command(noun, verb);
    if (cmd && !cmd->verb) /* one-word command: its argv starts at the noun */
        return c->cmd = cmd, cmd->run(c, argc - at, argv + at);
    if (!verb || is_help_flag(verb)) {
        print_noun_help(noun, verb ? stdout : stderr);
        if (verb)
            return EXIT_OK;
        cli_error("missing command after '%s'", noun);
        return EXIT_USAGE;
    }
    if (!cmd) {
        cli_error("unknown command '%s %s' (see: scripthut %s --help)", noun, verb, noun);
        return EXIT_USAGE;
    }
    c->cmd = cmd;
    return cmd->run(c, argc - at - 1, argv + at + 1);
}

int cli_connect(cli_ctx *c)
{
    if (c->client)
        return 0;
    sh_err e = SH_ERR_INIT;
    if (client_open(&c->opts, &c->client, &e) != 0)
        return cli_fail(&e);
    return 0;
}

int cli_main(int argc, char **argv)
{
    cli_ctx c = {0};
    int rc = EXIT_OK;
    int at = parse_global_flags(&c, argc, argv, &rc);
    if (at < 0)
        return rc;
    rc = dispatch(&c, argc, argv, at);
    client_close(c.client);
    fflush(stdout);
    return rc;
}

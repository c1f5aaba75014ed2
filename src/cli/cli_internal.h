/* cli_internal.h - what the files of src/cli share: the per-invocation
 * context, the command table entry, flag helpers, and the printers.
 *
 * Layout: cli_main.c dispatches `scripthut <noun> <verb>` to one cmd_*.c
 * function per leaf command; every leaf parses its own flags with
 * getopt_long (plus the common ones, CLI_COMMON_OPTIONS), talks to the
 * service only through client.h, and prints through output.c or watch.c. */
#ifndef SCRIPTHUT_CLI_CLI_INTERNAL_H
#define SCRIPTHUT_CLI_CLI_INTERNAL_H
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "client/client.h"
#include "util/err.h"

struct cli_client;

/* One leaf command.  `run` gets argv starting at the verb (argv[0] is the
 * verb, or the noun for one-word commands) so getopt_long works unchanged. */
typedef struct cli_ctx cli_ctx;
typedef struct cli_cmd {
    const char *noun;
    const char *verb; /* NULL for one-word commands (`status`) */
    int (*run)(cli_ctx *c, int argc, char **argv);
    const char *usage;   /* after "scripthut ": "run list [--limit N] ..." */
    const char *summary; /* one line for the command list */
    const char *help;    /* flag descriptions, one per line, may be NULL */
    bool hidden;         /* not listed in help (daemon run) */
} cli_cmd;

struct cli_ctx {
    client_options opts;       /* --config, --server and the credential flags */
    bool json;                 /* --json */
    const cli_cmd *cmd;        /* the leaf being run (for --help and messages) */
    struct cli_client *client; /* opened on first use by cli_client_get */
};

/* --- flags (cli_args.c) ------------------------------------------------ */

/* Option values for long-only common flags (outside the char range). */
enum {
    OPT_JSON = 1000,
    OPT_SERVER,
    OPT_TOKEN,
    OPT_CF_CLIENT_ID,
    OPT_CF_CLIENT_SECRET,
    OPT_CF_ACCESS_TOKEN,
    OPT_FIRST_LEAF = 1100
};

/* Every leaf accepts these, before or after its positionals. */
#define CLI_COMMON_OPTIONS                                                                         \
    {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, OPT_JSON},               \
        {"server", required_argument, NULL, OPT_SERVER},                                           \
        {"token", required_argument, NULL, OPT_TOKEN},                                             \
        {"cf-client-id", required_argument, NULL, OPT_CF_CLIENT_ID},                               \
        {"cf-client-secret", required_argument, NULL, OPT_CF_CLIENT_SECRET},                       \
        {"cf-access-token", required_argument, NULL, OPT_CF_ACCESS_TOKEN},                         \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
/* Short-option prefix for getopt_long: ':' first so a missing argument is
 * reported as ':' (we print our own messages). */
#define CLI_COMMON_SHORT ":c:h"

/* Returned by cli_common_flag when parsing should continue. */
enum {
    CLI_CONTINUE = -1
};

/* Starts a getopt_long pass over a leaf's argv (resets getopt's state). */
void cli_getopt_begin(void);
/* Handles a common flag, `--help` (prints the leaf's help, returns 0) or a
 * getopt error (prints it, returns EXIT_USAGE).  CLI_CONTINUE otherwise. */
int cli_common_flag(cli_ctx *c, int opt, char **argv);

/* Checks the number of positionals left after getopt (argv[optind..]);
 * `names` is for the message ("RUN_ID TASK").  0 or EXIT_USAGE. */
int cli_positionals(cli_ctx *c, int argc, char **argv, int min, int max, const char *names);

/* The whole parse for a leaf with only the common flags: CLI_CONTINUE with
 * the positionals at argv[optind..], or the exit code to return. */
int cli_parse_no_flags(cli_ctx *c, int argc, char **argv, int min, int max, const char *names);

/* Number parsing for flag values: 0, or prints "--flag: expected ..." and
 * returns EXIT_USAGE. */
int cli_parse_int(cli_ctx *c, const char *flag, const char *s, long min, long *out);
int cli_parse_seconds(cli_ctx *c, const char *flag, const char *s, bool allow_zero, double *out);

/* `Error: ...` on stderr. cli_usage_error adds a pointer to --help and
 * returns EXIT_USAGE; cli_fail prints e and returns its exit code. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const sh_err *e);
/* The one mapping from an error to an exit code (see util/err.h). */
int cli_exit_code_for(const sh_err *e);

/* "run list" / "status": the leaf's name for messages. */
const char *cli_cmd_name(const cli_cmd *cmd, char *buf, size_t size);

/* --- interruption (cli_args.c) ----------------------------------------- */

/* Installs SIGINT/SIGTERM handlers without SA_RESTART so blocking waits
 * return early with EINTR; the loops then clean up (release the engine). */
void cli_signals_install(void);
bool cli_interrupted(void);
int cli_interrupt_exit_code(void); /* 130 for SIGINT, 128+n otherwise */
/* Sleeps up to ms; returns early when interrupted. */
void cli_sleep_ms(int ms);

/* --- help and connection (cli_main.c) ---------------------------------- */

/* Opens the transport on first use (c->client).  0, or prints the error and
 * returns the exit code. */
int cli_connect(cli_ctx *c);

void cli_print_leaf_help(const cli_cmd *cmd, FILE *f);

/* --- leaf commands (cmd_*.c) ------------------------------------------- */

int cmd_task_run(cli_ctx *c, int argc, char **argv);
int cmd_workflow_list(cli_ctx *c, int argc, char **argv);
int cmd_workflow_view(cli_ctx *c, int argc, char **argv);
int cmd_workflow_run(cli_ctx *c, int argc, char **argv);
int cmd_run_list(cli_ctx *c, int argc, char **argv);
int cmd_run_view(cli_ctx *c, int argc, char **argv);
int cmd_run_watch(cli_ctx *c, int argc, char **argv);
int cmd_run_cancel(cli_ctx *c, int argc, char **argv);
int cmd_run_rerun(cli_ctx *c, int argc, char **argv);
int cmd_run_delete(cli_ctx *c, int argc, char **argv);
int cmd_run_logs(cli_ctx *c, int argc, char **argv);
int cmd_backend_list(cli_ctx *c, int argc, char **argv);
int cmd_backend_status(cli_ctx *c, int argc, char **argv);
int cmd_status(cli_ctx *c, int argc, char **argv);
int cmd_daemon_status(cli_ctx *c, int argc, char **argv);
int cmd_daemon_start(cli_ctx *c, int argc, char **argv);
int cmd_daemon_stop(cli_ctx *c, int argc, char **argv);
int cmd_daemon_run(cli_ctx *c, int argc, char **argv);
int cmd_lua(cli_ctx *c, int argc, char **argv);
int cmd_stack_list(cli_ctx *c, int argc, char **argv);
int cmd_stack_check(cli_ctx *c, int argc, char **argv);
int cmd_stack_install(cli_ctx *c, int argc, char **argv);
int cmd_stack_delete(cli_ctx *c, int argc, char **argv);
int cmd_stack_gc(cli_ctx *c, int argc, char **argv);
int cmd_serve(cli_ctx *c, int argc, char **argv);

/* --- after a submission (cmd_run.c) ------------------------------------ */

/* Prints the summary (JSON or the "run submitted" block) or, with watch,
 * follows the run to its end.  `task_hint` is the task id to show in the
 * `run logs` hint (NULL: a placeholder).  Returns the exit code. */
int cli_after_submit(cli_ctx *c, json_t *summary, const char *task_hint, bool watch,
                     int interval_ms);

#endif

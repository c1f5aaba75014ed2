/* cli_internal.h - what the files of src/cli share: the command table, the
 * per-invocation context, flag helpers, and the printers.
 *
 * Layout: cli_table.c declares every command and flag; cli_main.c dispatches
 * `scripthut <noun> <verb>` to one cmd_*.c function per leaf command; every
 * leaf parses its flags with cli_parse (getopt_long over its table entry),
 * talks to the service only through client.h, and prints through output.c
 * or watch.c.  cli_gen.c turns the table into help, completions, the man page
 * and docs. */
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

/* --- the command table (cli_table.c) -------------------------------------
 *
 * Every command and every flag is declared once, in cli_table.c.  From that
 * table come the getopt options of each command (cli_parse), `--help`, the
 * bash, zsh and fish completions, the man page and the flag reference of
 * docs/cli.md (cli_gen.c); tests/integration/cli_table.bats checks that the
 * generated files and the shells agree with it. */

/* Every flag of every command.  A flag used by several commands (--backend,
 * --interval) is one entry; a command may word its help differently. */
typedef enum cli_flag_id {
    F_END = 0, /* terminates a command's flag list */
    /* common: accepted by every command, before or after its arguments */
    F_CONFIG,
    F_JSON,
    F_SERVER,
    F_TOKEN,
    F_CF_CLIENT_ID,
    F_CF_CLIENT_SECRET,
    F_CF_ACCESS_TOKEN,
    F_HELP,
    F_NO_COLOR,
    F_VERSION, /* before the command only */
    /* the watch group: --watch and its --interval, parsed once into cli_ctx */
    F_WATCH,
    F_INTERVAL,
    /* task run */
    F_FROM_FILE,
    F_FROM_STDIN,
    F_INLINE_SCRIPT,
    F_ID,
    F_NAME,
    F_RUN_NAME,
    F_CPUS,
    F_MEMORY,
    F_TIME,
    F_PARTITION,
    F_GRES,
    F_IMAGE,
    F_WORKING_DIR,
    F_ENV,
    F_RETRIES,
    F_RETRY_DELAY,
    /* the others */
    F_BACKEND,
    F_DRY_RUN,
    F_SCRIPTS,
    F_LIMIT,
    F_WORKFLOW,
    F_EXIT_STATUS,
    F_FAILED_ONLY,
    F_ERROR,
    F_TAIL,
    F_FOLLOW,
    F_REBUILD,
    F_DATA_DIR,
    F_POLL_INTERVAL,
    F_RETENTION_DAYS,
    F_HOST,
    F_PORT,
    F_THREADS,
    F_EVAL,
    F_COUNT
} cli_flag_id;

/* What a flag's value or a positional argument is, for completion. */
typedef enum cli_kind {
    CK_TEXT = 0, /* free text: nothing to offer */
    CK_FILE,
    CK_DIR,
    CK_COMMAND,  /* a shell command */
    CK_WORKFLOW, /* a workflow of the config */
    CK_RUN,      /* a run id */
    CK_TASK,     /* a task id of the run given before it */
    CK_STACK,
    CK_BACKEND,
    CK_SHELL, /* bash, zsh or fish */
    CK_TOPIC, /* a help topic or a noun */
} cli_kind;

/* Where a flag is listed in help, the man page and docs/cli.md. */
typedef enum cli_section {
    CS_COMMAND = 0, /* a command's own flag */
    CS_COMMON,      /* every command's: --config, --json, --server, --help */
    CS_CREDENTIAL,  /* every command's, listed under "Server credentials" */
    CS_GLOBAL,      /* before the command only (--version) */
} cli_section;

typedef struct cli_flag {
    const char *name;  /* long name, without "--" */
    char short_name;   /* 'c' for -c, or 0 */
    const char *value; /* the value's placeholder ("PATH"), or NULL for a switch */
    const char *help;  /* one line */
    cli_kind complete; /* what completes the value */
    cli_section section;
    const char *env; /* the environment variable that also sets it, or NULL */
} cli_flag;

/* A flag as one command uses it: `help` rewords the flag's own, or NULL. */
typedef struct cli_use {
    cli_flag_id id;
    const char *help;
} cli_use;

/* The watch group, shared by every command that can follow a run. */
#define CLI_WATCH_FLAGS                                                                            \
    {F_WATCH, NULL},                                                                               \
    {                                                                                              \
        F_INTERVAL, NULL                                                                           \
    }

typedef struct cli_arg {
    const char *name; /* "RUN_ID" */
    cli_kind complete;
    bool optional; /* [NAME] */
} cli_arg;

/* What a command needs before it can run (shared with the start-up work of
 * docs/architecture.md): nothing; the settings (data dir, server, auth),
 * which may come from the user file alone when the project file does not
 * load; or the whole configuration. */
typedef enum cli_needs {
    CLI_NEEDS_NOTHING = 0,
    CLI_NEEDS_SETTINGS,
    CLI_NEEDS_CONFIG,
} cli_needs;

#define CLI_MAX_ARGS 2
#define CLI_MAX_FLAGS 24

/* One command.  `run` gets argv starting at the verb (argv[0] is the verb, or
 * the noun for one-word commands) so getopt_long works unchanged. */
typedef struct cli_ctx cli_ctx;
typedef struct cli_cmd {
    const char *noun;
    const char *verb; /* NULL for one-word commands (`status`) */
    int (*run)(cli_ctx *c, int argc, char **argv);
    const char *summary; /* one line for the command list */
    cli_needs needs;     /* what it loads before running */
    cli_arg args[CLI_MAX_ARGS];
    const char *arg_note;         /* appended to the argument names in "missing argument" */
    cli_use flags[CLI_MAX_FLAGS]; /* its own flags, F_END terminated */
    bool json;                    /* --json changes its output: [--json] in the usage */
    bool no_common;               /* takes only its own flags (lua) */
    bool stop_at_arg;             /* flags end at the first argument (lua FILE ARGS...) */
    bool no_server;               /* runs here only: no --server nor credentials (serve) */
    const char *synopsis; /* the usage after "scripthut ", when the generated one will not do */
    const char *notes;    /* lines printed after the flags in --help, or NULL */
    const char *examples; /* example command lines, one per line, or NULL */
    bool hidden;          /* not listed in help nor completed (daemon run) */
} cli_cmd;

extern const cli_flag CLI_FLAGS[F_COUNT];
extern const cli_cmd CLI_COMMANDS[];
extern const size_t CLI_NCOMMANDS;

/* Whether a common flag applies to cmd (the command's own flags always do):
 * --json only where it changes the output, --config only where a config is
 * read, --server and the credentials only where a server can answer,
 * --no-color only where text is printed for a person. */
bool cli_flag_applies(const cli_cmd *cmd, cli_flag_id id);

/* The help topics of `scripthut help TOPIC` (cli_topics.c): also a section of
 * the man page and completed after `help`. */
typedef struct cli_topic {
    const char *name;    /* "config" */
    const char *summary; /* one line for the list */
    const char *text;    /* the topic, lines of at most 80 columns */
} cli_topic;
extern const cli_topic CLI_TOPICS[];
extern const size_t CLI_NTOPICS;
const cli_topic *cli_find_topic(const char *name);

/* "did you mean": the nearest listed noun to a mistyped one, the nearest
 * verb of noun, the nearest long flag cmd accepts ("--watch"), or NULL. */
const char *cli_suggest_noun(const char *typed);
const char *cli_suggest_verb(const char *noun, const char *typed);
const char *cli_suggest_flag(const cli_cmd *cmd, const char *typed, char *buf, size_t size);

/* The command `noun verb` (verb ignored for one-word commands), or NULL. */
const cli_cmd *cli_find_command(const char *noun, const char *verb);
bool cli_noun_exists(const char *noun);
/* A command's help for a flag: its own wording, else the flag's. */
const char *cli_use_help(const cli_use *u);
/* "run logs RUN_ID TASK [--error] ... [--json]": the usage after "scripthut ". */
char *cli_usage(const cli_cmd *cmd);

/* --- the per-invocation context ------------------------------------------ */

struct cli_ctx {
    client_options opts;       /* --config, --server and the credential flags */
    bool json;                 /* --json */
    bool watch;                /* --watch */
    int interval_ms;           /* --interval (default WATCH_DEFAULT_INTERVAL_MS) */
    const cli_cmd *cmd;        /* the leaf being run (for --help and messages) */
    struct cli_client *client; /* opened on first use by cli_client_get */
};

/* --- flags (cli_args.c) ------------------------------------------------ */

/* Returned by the parsers when parsing should continue. */
enum {
    CLI_CONTINUE = -1
};

/* A command's handler for its own flags: CLI_CONTINUE, or the exit code. */
typedef int (*cli_flag_fn)(cli_ctx *c, cli_flag_id id, const char *value, void *arg);

/* Parses argv (starting at the verb) against c->cmd's flags: the common and
 * watch flags land in c, the command's own go to on_flag (may be NULL when it
 * has none), then the positionals are checked against the table.  Returns
 * CLI_CONTINUE with the positionals at argv[optind..], or the exit code
 * (a usage error, or 0 after --help). */
int cli_parse(cli_ctx *c, int argc, char **argv, cli_flag_fn on_flag, void *arg);

/* Applies a common flag's value to c (also for the global flags before the
 * noun).  false when id is not a common flag that takes a value or --json. */
bool cli_set_common(cli_ctx *c, cli_flag_id id, const char *value);

/* Number parsing for flag values: 0, or prints "--flag: expected ..." and
 * returns EXIT_USAGE. */
int cli_parse_int(cli_ctx *c, const char *flag, const char *s, long min, long *out);
int cli_parse_seconds(cli_ctx *c, const char *flag, const char *s, bool allow_zero, double *out);

/* `Error: ...` on stderr. cli_usage_error adds a pointer to --help and
 * returns EXIT_USAGE; cli_fail prints e and returns its exit code. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(cli_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const sh_err *e);

/* "run list" / "status": the leaf's name for messages. */
const char *cli_cmd_name(const cli_cmd *cmd, char *buf, size_t size);

/* --- interruption (cli_args.c) ----------------------------------------- */

/* Installs SIGINT/SIGTERM handlers without SA_RESTART so blocking waits
 * return early with EINTR; the loops then clean up (release the engine). */
void cli_signals_install(void);
bool cli_interrupted(void);
int cli_interrupt_exit_code(void); /* 130 for SIGINT, 128+n otherwise */

/* --- connection (cli_main.c) --------------------------------------------- */

/* Opens the transport on first use (c->client).  0, or prints the error and
 * returns the exit code. */
int cli_connect(cli_ctx *c);

/* --- help and generated files (cli_gen.c) --------------------------------- */

void cli_print_leaf_help(const cli_cmd *cmd, FILE *f);
void cli_print_main_help(FILE *f);
void cli_print_noun_help(const char *noun, FILE *f);

/* The markers around the generated section of docs/cli.md. */
#define CLI_DOCS_BEGIN                                                                             \
    "<!-- BEGIN generated by `scripthut __gen docs` from src/cli/cli_table.c: edit the table, "    \
    "not this section -->"
#define CLI_DOCS_END "<!-- END generated -->"

/* Writes `what` (man, docs, json, bash, zsh, fish) made from the table to
 * out; -1 for an unknown `what`. */
int cli_generate(const char *what, FILE *out);
void cli_gen_bash(FILE *out); /* cli_complete.c */
void cli_gen_zsh(FILE *out);
void cli_gen_fish(FILE *out);
/* "file", "run", ...: a kind's name in the scripts and __complete. */
const char *cli_kind_name(cli_kind k);
/* A command's flags as --help and completion list them: its own, then the
 * common ones (with the credential ones if asked), then --help.  ids and
 * helps need CLI_MAX_FLAGS + F_COUNT entries; returns the count. */
size_t cli_command_flags(const cli_cmd *cmd, cli_flag_id *ids, const char **helps,
                         bool with_credentials);

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
int cmd_completion(cli_ctx *c, int argc, char **argv);
int cmd_complete(cli_ctx *c, int argc, char **argv);
int cmd_gen(cli_ctx *c, int argc, char **argv);
int cmd_help(cli_ctx *c, int argc, char **argv);

/* --- after a submission (cmd_run.c) ------------------------------------ */

/* Prints the summary (JSON or the "run submitted" block) or, with watch,
 * follows the run to its end.  `task_hint` is the task id to show in the
 * `run logs` hint (NULL: a placeholder).  Returns the exit code. */
int cli_after_submit(cli_ctx *c, json_t *summary, const char *task_hint, bool watch,
                     int interval_ms);

#endif

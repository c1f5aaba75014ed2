/* cli_args.c - parsing a command's flags from its table entry (cli_parse:
 * getopt_long options built from cli_table.c; the common and watch flags are
 * handled here, once), number parsing, error printing and exit codes, and
 * Ctrl-C handling for the waiting loops. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "cli/output.h"
#include "cli/watch.h"
#include "util/sbuf.h"

const char *cli_cmd_name(const cli_cmd *cmd, char *buf, size_t size)
{
    if (!cmd)
        snprintf(buf, size, "scripthut");
    else if (cmd->verb)
        snprintf(buf, size, "%s %s", cmd->noun, cmd->verb);
    else
        snprintf(buf, size, "%s", cmd->noun);
    return buf;
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(cli_ctx *c, const char *fmt, ...)
{
    char msg[1024], name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_error("%s (see: scripthut %s --help)", msg, cli_cmd_name(c->cmd, name, sizeof name));
    return EXIT_USAGE;
}

int cli_fail(const sh_err *e)
{
    if (cli_interrupted())
        return cli_interrupt_exit_code();
    cli_error("%s", e->msg[0] ? e->msg : "unknown error");
    return EXIT_ERROR;
}

/* The flag getopt choked on, as the user typed it. */
static const char *offending_flag(char **argv, char *buf, size_t size)
{
    const char *last = optind > 0 ? argv[optind - 1] : "";
    /* A long flag (unknown, or missing its value) is the last element getopt
     * looked at; a short one is named by optopt. */
    if (strncmp(last, "--", 2) == 0 || optopt <= 0 || optopt >= 128)
        snprintf(buf, size, "%s", last);
    else
        snprintf(buf, size, "-%c", optopt);
    char *eq = strchr(buf, '=');
    if (eq && buf[1] == '-')
        *eq = '\0';
    return buf;
}

bool cli_set_common(cli_ctx *c, cli_flag_id id, const char *value)
{
    switch (id) {
    case F_CONFIG: c->opts.config_path = value; return true;
    case F_JSON: c->json = true; return true;
    case F_SERVER: c->opts.server = value; return true;
    case F_TOKEN: c->opts.token = value; return true;
    case F_CF_CLIENT_ID: c->opts.cf_client_id = value; return true;
    case F_CF_CLIENT_SECRET: c->opts.cf_client_secret = value; return true;
    case F_CF_ACCESS_TOKEN: c->opts.cf_access_token = value; return true;
    case F_NO_COLOR: out_color_disable(); return true;
    default: return false;
    }
}

/* getopt's value for a flag: its short letter, else OPT_BASE + its id. */
enum {
    OPT_BASE = 1000
};

static int opt_value(cli_flag_id id)
{
    return CLI_FLAGS[id].short_name ? CLI_FLAGS[id].short_name : OPT_BASE + (int)id;
}

/* The flags getopt accepts for cmd: its own, then (unless no_common) the
 * common and credential ones; -h/--help always. */
typedef struct opt_table {
    struct option longs[CLI_MAX_FLAGS + F_COUNT + 1];
    char shorts[2 * (CLI_MAX_FLAGS + F_COUNT) + 3];
    cli_flag_id ids[CLI_MAX_FLAGS + F_COUNT];
    size_t n;
} opt_table;

static void opt_add(opt_table *t, cli_flag_id id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ids[i] == id)
            return;
    const cli_flag *f = &CLI_FLAGS[id];
    t->ids[t->n] = id;
    if (f->name) {
        size_t nl = 0;
        while (t->longs[nl].name)
            nl++;
        t->longs[nl] = (struct option){f->name, f->value ? required_argument : no_argument, NULL,
                                       opt_value(id)};
    }
    if (f->short_name) {
        size_t len = strlen(t->shorts);
        t->shorts[len++] = f->short_name;
        if (f->value)
            t->shorts[len++] = ':';
        t->shorts[len] = '\0';
    }
    t->n++;
}

static void opt_table_build(const cli_cmd *cmd, opt_table *t)
{
    memset(t, 0, sizeof *t);
    /* '+': stop at the first argument; ':' first: a missing value is
     * reported as ':' (we print our own messages). */
    strcpy(t->shorts, cmd->stop_at_arg ? "+:" : ":");
    for (const cli_use *u = cmd->flags; u->id != F_END; u++)
        opt_add(t, u->id);
    for (int id = F_END + 1; id < F_COUNT && !cmd->no_common; id++)
        if (CLI_FLAGS[id].section == CS_COMMON || CLI_FLAGS[id].section == CS_CREDENTIAL)
            opt_add(t, (cli_flag_id)id);
    opt_add(t, F_HELP);
}

static cli_flag_id opt_id(const opt_table *t, int opt)
{
    for (size_t i = 0; i < t->n; i++)
        if (opt_value(t->ids[i]) == opt)
            return t->ids[i];
    return F_END;
}

/* The watch group: --watch, and --interval wherever a command takes it. */
static int watch_flag(cli_ctx *c, cli_flag_id id, const char *value)
{
    if (id == F_WATCH) {
        c->watch = true;
        return CLI_CONTINUE;
    }
    double secs = 0;
    int rc = cli_parse_seconds(c, "--interval", value, false, &secs);
    if (rc != 0)
        return rc;
    c->interval_ms = (int)(secs * 1000);
    return CLI_CONTINUE;
}

/* Positionals left after getopt (argv[optind..]) against the table. */
static int check_positionals(cli_ctx *c, int argc, char **argv)
{
    const cli_cmd *cmd = c->cmd;
    int min = 0, max = 0;
    sbuf names = SBUF_INIT;
    for (size_t i = 0; i < CLI_MAX_ARGS && cmd->args[i].name; i++) {
        max++;
        if (!cmd->args[i].optional) {
            min++;
            sbuf_printf(&names, "%s%s", i ? " " : "", cmd->args[i].name);
        }
    }
    if (cmd->arg_note)
        sbuf_puts(&names, cmd->arg_note);
    int n = argc - optind, rc = 0;
    if (cmd->stop_at_arg)
        max = n; /* FILE ARGS...: the script's */
    if (n < min)
        rc = cli_usage_error(c, "missing argument: expected %s", sbuf_cstr(&names));
    else if (n > max)
        rc = cli_usage_error(c, "unexpected argument '%s'", argv[optind + max]);
    sbuf_free(&names);
    return rc;
}

static int unknown_flag(cli_ctx *c, const char *typed)
{
    char buf[64];
    const char *near = typed[0] == '-' && typed[1] == '-'
                           ? cli_suggest_flag(c->cmd, typed, buf, sizeof buf)
                           : NULL;
    if (near)
        return cli_usage_error(c, "unknown flag %s; did you mean %s?", typed, near);
    return cli_usage_error(c, "unknown flag %s", typed);
}

int cli_parse(cli_ctx *c, int argc, char **argv, cli_flag_fn on_flag, void *arg)
{
    opt_table t;
    opt_table_build(c->cmd, &t);
    if (!c->interval_ms)
        c->interval_ms = WATCH_DEFAULT_INTERVAL_MS;
    optind = 0; /* GNU: 0 also resets getopt's internal state */
    opterr = 0; /* we print our own messages */
    int opt, rc = CLI_CONTINUE;
    char flag[128];
    while (rc == CLI_CONTINUE && (opt = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
        cli_flag_id id = opt_id(&t, opt);
        if (opt == ':')
            rc = cli_usage_error(c, "flag %s needs a value",
                                 offending_flag(argv, flag, sizeof flag));
        else if (opt == '?' || id == F_END)
            rc = unknown_flag(c, offending_flag(argv, flag, sizeof flag));
        else if (!cli_flag_applies(c->cmd, id))
            rc = cli_usage_error(c, "%s does not take --%s",
                                 cli_cmd_name(c->cmd, flag, sizeof flag), CLI_FLAGS[id].name);
        else if (id == F_HELP)
            cli_print_leaf_help(c->cmd, stdout), rc = EXIT_OK;
        else if (id == F_WATCH || id == F_INTERVAL)
            rc = watch_flag(c, id, optarg);
        else if (CLI_FLAGS[id].section == CS_COMMAND && on_flag)
            rc = on_flag(c, id, optarg, arg);
        else if (!cli_set_common(c, id, optarg))
            rc = cli_usage_error(c, "unhandled flag --%s", CLI_FLAGS[id].name);
    }
    if (rc != CLI_CONTINUE)
        return rc;
    rc = check_positionals(c, argc, argv);
    return rc ? rc : CLI_CONTINUE;
}

int cli_parse_int(cli_ctx *c, const char *flag, const char *s, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > 1000000000L)
        return cli_usage_error(c, "%s: expected an integer >= %ld, got '%s'", flag, min, s);
    *out = v;
    return 0;
}

int cli_parse_seconds(cli_ctx *c, const char *flag, const char *s, bool allow_zero, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    bool ok = !errno && end != s && *end == '\0' && isfinite(v) && v <= 86400.0 * 365;
    if (!ok || v < 0 || (!allow_zero && v == 0))
        return cli_usage_error(c, "%s: expected a %s number of seconds, got '%s'", flag,
                               allow_zero ? "non-negative" : "positive", s);
    *out = v;
    return 0;
}

/* --- interruption -------------------------------------------------------- */

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking wait must return with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void)
{
    return g_signal != 0;
}

int cli_interrupt_exit_code(void)
{
    return g_signal == SIGINT || g_signal == 0 ? EXIT_INTERRUPTED : 128 + g_signal;
}

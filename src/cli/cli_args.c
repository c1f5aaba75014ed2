/* cli_args.c - flag helpers shared by every leaf command: the common flags,
 * getopt error messages, number parsing, error printing and exit codes, and
 * Ctrl-C handling for the waiting loops. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_internal.h"

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

int cli_exit_code_for(const sh_err *e)
{
    if (cli_interrupted())
        return cli_interrupt_exit_code();
    return e && e->status == SH_OK ? EXIT_OK : EXIT_ERROR;
}

int cli_fail(const sh_err *e)
{
    if (cli_interrupted())
        return cli_interrupt_exit_code();
    cli_error("%s", e->msg[0] ? e->msg : "unknown error");
    return EXIT_ERROR;
}

void cli_getopt_begin(void)
{
    optind = 0; /* GNU: 0 also resets getopt's internal state */
    opterr = 0; /* we print our own messages */
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

int cli_common_flag(cli_ctx *c, int opt, char **argv)
{
    char flag[128];
    switch (opt) {
    case 'c': c->opts.config_path = optarg; return CLI_CONTINUE;
    case OPT_JSON: c->json = true; return CLI_CONTINUE;
    case OPT_SERVER: c->opts.server = optarg; return CLI_CONTINUE;
    case OPT_TOKEN: c->opts.token = optarg; return CLI_CONTINUE;
    case OPT_CF_CLIENT_ID: c->opts.cf_client_id = optarg; return CLI_CONTINUE;
    case OPT_CF_CLIENT_SECRET: c->opts.cf_client_secret = optarg; return CLI_CONTINUE;
    case OPT_CF_ACCESS_TOKEN: c->opts.cf_access_token = optarg; return CLI_CONTINUE;
    case 'h': cli_print_leaf_help(c->cmd, stdout); return EXIT_OK;
    case ':':
        return cli_usage_error(c, "flag %s needs a value", offending_flag(argv, flag, sizeof flag));
    case '?': return cli_usage_error(c, "unknown flag %s", offending_flag(argv, flag, sizeof flag));
    default: return cli_usage_error(c, "unhandled flag (%d)", opt);
    }
}

int cli_positionals(cli_ctx *c, int argc, char **argv, int min, int max, const char *names)
{
    int n = argc - optind;
    if (n < min)
        return cli_usage_error(c, "missing argument: expected %s", names);
    if (max >= 0 && n > max)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind + max]);
    return 0;
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

void cli_sleep_ms(int ms)
{
    if (ms <= 0 || cli_interrupted())
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR on Ctrl-C: the caller checks cli_interrupted */
}

int cli_parse_no_flags(cli_ctx *c, int argc, char **argv, int min, int max, const char *names)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1)
        if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE)
            return rc;
    rc = cli_positionals(c, argc, argv, min, max, names);
    return rc ? rc : CLI_CONTINUE;
}

/* cmd_daemon.c - `scripthut daemon status|start|stop`, and the hidden
 * `daemon run` that the detached engine executes (docs/cli.md, "Who runs the
 * work"): one engine per data dir, started on demand, exiting when nothing is
 * active.  The daemon operations are local mode's: server mode refuses them. */
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"

/* How long `daemon stop` waits for the engine to exit. */
#define DAEMON_STOP_WAIT_MS 10000

static void print_daemon_status(json_t *st)
{
    const char *dir = out_str(st, "data_dir");
    sbuf b = SBUF_INIT;
    if (json_is_true(json_object_get(st, "running"))) {
        sbuf_printf(&b, "Engine running (pid %lld), %lld active run(s); data dir ",
                    out_int(st, "pid", 0), out_int(st, "active_runs", 0));
    } else {
        sbuf_printf(&b, "Engine not running, %lld active run(s); data dir ",
                    out_int(st, "active_runs", 0));
    }
    out_cell(&b, dir, 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_free(&b);
}

/* Prints the engine's status (JSON or a line). */
static int report_status(cli_ctx *c)
{
    json_t *st = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->daemon_status(c->client, &st, &e) != 0)
        return cli_fail(&e);
    if (c->json)
        out_json(st, false);
    else
        print_daemon_status(st);
    json_decref(st);
    return EXIT_OK;
}

int cmd_daemon_status(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 0, 0, "");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    return report_status(c);
}

int cmd_daemon_start(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 0, 0, "");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->daemon_start(c->client, &e) != 0)
        return cli_fail(&e);
    return report_status(c);
}

int cmd_daemon_stop(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 0, 0, "");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->daemon_stop(c->client, DAEMON_STOP_WAIT_MS, &e) != 0)
        return cli_fail(&e);
    return report_status(c);
}

/* The detached engine: `daemon run [--data-dir D --poll-interval S
 * --retention-days N]`, started by svc_engine_ensure.  With --data-dir it
 * needs no config: each run carries the context it was submitted with, and
 * the engine may start outside any project. */
int cmd_daemon_run(cli_ctx *c, int argc, char **argv)
{
    enum {
        OPT_DATA_DIR = OPT_FIRST_LEAF,
        OPT_POLL,
        OPT_RETENTION
    };
    static const struct option opts[] = {{"data-dir", required_argument, NULL, OPT_DATA_DIR},
                                         {"poll-interval", required_argument, NULL, OPT_POLL},
                                         {"retention-days", required_argument, NULL, OPT_RETENTION},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    const char *data_dir = NULL;
    double poll_interval = 60;
    long retention_days = 30;
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        if (opt == OPT_DATA_DIR) {
            data_dir = optarg;
        } else if (opt == OPT_POLL) {
            char *end = NULL;
            poll_interval = strtod(optarg, &end);
            if (!end || *end || poll_interval < 1)
                return cli_usage_error(c, "--poll-interval must be a number of seconds >= 1");
        } else if (opt == OPT_RETENTION) {
            char *end = NULL;
            retention_days = strtol(optarg, &end, 10);
            if (!end || *end || retention_days < 0)
                return cli_usage_error(c, "--retention-days must be a whole number >= 0");
        } else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if ((rc = cli_positionals(c, argc, argv, 0, 0, "")) != 0)
        return rc;
    sh_err e = SH_ERR_INIT;
    if (client_run_engine(c->opts.config_path, data_dir, poll_interval, (int)retention_days, &e) !=
        0)
        return cli_fail(&e);
    return EXIT_OK;
}

/* cmd_daemon.c - `scripthut daemon status|start|stop`, and the hidden
 * `daemon run` that the detached engine executes (docs/cli.md, "Who runs the
 * work"): one engine per data dir, started on demand, exiting when nothing is
 * active.  The daemon operations are local mode's: server mode refuses them. */
#include <stdlib.h>
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
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    return report_status(c);
}

int cmd_daemon_start(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->daemon_start(c->client, &e) != 0)
        return cli_fail(&e);
    return report_status(c);
}

int cmd_daemon_stop(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
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
typedef struct daemon_run_opts {
    const char *data_dir;
    double poll_interval;
    long retention_days;
} daemon_run_opts;

static int daemon_run_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    daemon_run_opts *o = arg;
    char *end = NULL;
    if (id == F_DATA_DIR) {
        o->data_dir = value;
    } else if (id == F_POLL_INTERVAL) {
        o->poll_interval = strtod(value, &end);
        if (!end || *end || o->poll_interval < 1)
            return cli_usage_error(c, "--poll-interval must be a number of seconds >= 1");
    } else {
        o->retention_days = strtol(value, &end, 10);
        if (!end || *end || o->retention_days < 0)
            return cli_usage_error(c, "--retention-days must be a whole number >= 0");
    }
    return CLI_CONTINUE;
}

int cmd_daemon_run(cli_ctx *c, int argc, char **argv)
{
    daemon_run_opts o = {NULL, 60, 30};
    int rc = cli_parse(c, argc, argv, daemon_run_flag, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    const char *data_dir = o.data_dir;
    double poll_interval = o.poll_interval;
    long retention_days = o.retention_days;
    sh_err e = SH_ERR_INIT;
    if (client_run_engine(c->opts.config_path, data_dir, poll_interval, (int)retention_days, &e) !=
        0)
        return cli_fail(&e);
    return EXIT_OK;
}

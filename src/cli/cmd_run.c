/* cmd_run.c - `scripthut run list|view|watch|cancel|rerun|delete`, and what
 * every submission prints (cli_after_submit).  `run logs` is in cmd_logs.c. */
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "cli/watch.h"

#define RUN_LIST_DEFAULT_LIMIT 20

/* Prints a JSON result in --json mode, or hands it to the human printer. */
static int print_result(cli_ctx *c, json_t *v, void (*human)(json_t *))
{
    if (c->json)
        out_json(v, false);
    else
        human(v);
    json_decref(v);
    return EXIT_OK;
}

int cli_after_submit(cli_ctx *c, json_t *summary, const char *task_hint, bool watch,
                     int interval_ms)
{
    if (!watch) {
        if (c->json)
            out_json(summary, false);
        else
            out_submitted(summary, task_hint);
        return EXIT_OK;
    }
    const char *id = out_str(summary, "id");
    if (!c->json) {
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, "Submitted run ");
        out_cell(&b, id, 0, false);
        sbuf_puts(&b, " (workflow '");
        out_cell(&b, out_str(summary, "workflow_name"), 0, false);
        sbuf_puts(&b, "')");
        out_line(stdout, sbuf_cstr(&b), 0);
        sbuf_free(&b);
        fflush(stdout);
    }
    char status[32] = "";
    int rc = watch_run(c, id ? id : "", interval_ms, status, sizeof status);
    if (rc != EXIT_OK)
        return rc;
    /* --watch is for scripts: success means the work succeeded. */
    return strcmp(status, "completed") == 0 ? EXIT_OK : EXIT_ERROR;
}

int cmd_run_list(cli_ctx *c, int argc, char **argv)
{
    enum {
        OPT_LIMIT = OPT_FIRST_LEAF,
        OPT_WORKFLOW
    };
    static const struct option opts[] = {{"limit", required_argument, NULL, OPT_LIMIT},
                                         {"workflow", required_argument, NULL, OPT_WORKFLOW},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    long limit = RUN_LIST_DEFAULT_LIMIT;
    const char *workflow = NULL;
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        if (opt == OPT_LIMIT) {
            /* 0 or negative: no limit, as in the original. */
            if ((rc = cli_parse_int(c, "--limit", optarg, -1000000000L, &limit)) != 0)
                return rc;
        } else if (opt == OPT_WORKFLOW) {
            workflow = optarg;
        } else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if ((rc = cli_positionals(c, argc, argv, 0, 0, "")) != 0 || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_list(c->client, limit > 0 ? (int)limit : 0, workflow, &out, &e) != 0)
        return cli_fail(&e);
    if (c->json)
        out_json(out, false);
    else
        out_run_table(json_object_get(out, "runs"));
    json_decref(out);
    return EXIT_OK;
}

int cmd_run_view(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 1, 1, "RUN_ID");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *detail = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_detail(c->client, argv[optind], &detail, &e) != 0)
        return cli_fail(&e);
    return print_result(c, detail, out_run_view);
}

int cmd_run_watch(cli_ctx *c, int argc, char **argv)
{
    enum {
        OPT_INTERVAL = OPT_FIRST_LEAF,
        OPT_EXIT_STATUS
    };
    static const struct option opts[] = {{"interval", required_argument, NULL, OPT_INTERVAL},
                                         {"exit-status", no_argument, NULL, OPT_EXIT_STATUS},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    double interval = WATCH_DEFAULT_INTERVAL_MS / 1000.0;
    bool exit_status = false;
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        if (opt == OPT_INTERVAL) {
            if ((rc = cli_parse_seconds(c, "--interval", optarg, false, &interval)) != 0)
                return rc;
        } else if (opt == OPT_EXIT_STATUS) {
            exit_status = true;
        } else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if ((rc = cli_positionals(c, argc, argv, 1, 1, "RUN_ID")) != 0 || (rc = cli_connect(c)) != 0)
        return rc;
    char status[32] = "";
    rc = watch_run(c, argv[optind], (int)(interval * 1000), status, sizeof status);
    if (rc != EXIT_OK)
        return rc;
    return exit_status && strcmp(status, "completed") != 0 ? EXIT_ERROR : EXIT_OK;
}

int cmd_run_cancel(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 1, 1, "RUN_ID");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *id = argv[optind];
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_cancel(c->client, id, &summary, &e) != 0)
        return cli_fail(&e);
    if (c->json) {
        out_json(summary, false);
    } else {
        const char *status = out_str(summary, "status");
        if (status && strcmp(status, "cancelled") == 0)
            printf("Cancelled run %s\n", id);
        else
            printf("Cancel requested for run %s (status: %s)\n", id, status ? status : "?");
    }
    json_decref(summary);
    return EXIT_OK;
}

int cmd_run_rerun(cli_ctx *c, int argc, char **argv)
{
    enum {
        OPT_FAILED_ONLY = OPT_FIRST_LEAF,
        OPT_WATCH,
        OPT_INTERVAL
    };
    static const struct option opts[] = {{"failed-only", no_argument, NULL, OPT_FAILED_ONLY},
                                         {"watch", no_argument, NULL, OPT_WATCH},
                                         {"interval", required_argument, NULL, OPT_INTERVAL},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    bool failed_only = false, watch = false;
    double interval = WATCH_DEFAULT_INTERVAL_MS / 1000.0;
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        if (opt == OPT_FAILED_ONLY) {
            failed_only = true;
        } else if (opt == OPT_WATCH) {
            watch = true;
        } else if (opt == OPT_INTERVAL) {
            if ((rc = cli_parse_seconds(c, "--interval", optarg, false, &interval)) != 0)
                return rc;
        } else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if ((rc = cli_positionals(c, argc, argv, 1, 1, "RUN_ID")) != 0 || (rc = cli_connect(c)) != 0)
        return rc;
    if (watch) /* become the engine before the run exists, so we drive it */
        c->client->ops->engine_acquire(c->client);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_rerun(c->client, argv[optind], failed_only, &summary, &e) != 0)
        return cli_fail(&e);
    rc = cli_after_submit(c, summary, NULL, watch, (int)(interval * 1000));
    json_decref(summary);
    return rc;
}

int cmd_run_delete(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 1, 1, "RUN_ID");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *id = argv[optind];
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_delete(c->client, id, &e) != 0)
        return cli_fail(&e);
    if (c->json) {
        json_t *out = json_pack("{s:s,s:b}", "id", id, "deleted", 1);
        out_json(out, false);
        json_decref(out);
    } else {
        printf("Deleted run %s\n", id);
    }
    return EXIT_OK;
}

/* cmd_run.c - `scripthut run list|view|watch|cancel|rerun|delete`, and what
 * every submission prints (cli_after_submit).  `run logs` is in cmd_logs.c. */
#include <stdlib.h>
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

typedef struct run_list_opts {
    long limit;
    const char *workflow;
} run_list_opts;

static int run_list_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    run_list_opts *o = arg;
    if (id == F_WORKFLOW) {
        o->workflow = value;
        return CLI_CONTINUE;
    }
    /* --limit: 0 or negative: no limit, as in the original. */
    int rc = cli_parse_int(c, "--limit", value, -1000000000L, &o->limit);
    return rc ? rc : CLI_CONTINUE;
}

int cmd_run_list(cli_ctx *c, int argc, char **argv)
{
    run_list_opts o = {RUN_LIST_DEFAULT_LIMIT, NULL};
    int rc = cli_parse(c, argc, argv, run_list_flag, &o);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    long limit = o.limit;
    const char *workflow = o.workflow;
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
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *detail = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_detail(c->client, argv[optind], &detail, &e) != 0)
        return cli_fail(&e);
    return print_result(c, detail, out_run_view);
}

static int exit_status_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    *(bool *)arg = true; /* --exit-status */
    return CLI_CONTINUE;
}

int cmd_run_watch(cli_ctx *c, int argc, char **argv)
{
    bool exit_status = false;
    int rc = cli_parse(c, argc, argv, exit_status_flag, &exit_status);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    char status[32] = "";
    rc = watch_run(c, argv[optind], c->interval_ms, status, sizeof status);
    if (rc != EXIT_OK)
        return rc;
    return exit_status && strcmp(status, "completed") != 0 ? EXIT_ERROR : EXIT_OK;
}

/* A cancel with a config that does not load: when the broken part is the
 * run's backend, say that the cancel goes through the definition the run
 * was submitted with (the engine keeps it with the run), not the edited one. */
static void note_broken_backend(cli_ctx *c, json_t *summary)
{
    const char *why = client_config_fallback(c->client, NULL);
    const char *backend = out_str(summary, "backend_name");
    if (!why || !backend || !strcmp(backend, "local"))
        return;
    char *needle = xasprintf("backend \"%s\"", backend);
    if (strstr(why, needle))
        fprintf(stderr,
                "Note: run %s is on backend \"%s\", the broken part of the config; the "
                "cancel reaches it through the definition the run was submitted with\n",
                out_str(summary, "id") ? out_str(summary, "id") : "?", backend);
    free(needle);
}

int cmd_run_cancel(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *id = argv[optind];
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_cancel(c->client, id, &summary, &e) != 0)
        return cli_fail(&e);
    note_broken_backend(c, summary);
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

static int failed_only_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    *(bool *)arg = true; /* --failed-only */
    return CLI_CONTINUE;
}

int cmd_run_rerun(cli_ctx *c, int argc, char **argv)
{
    bool failed_only = false;
    int rc = cli_parse(c, argc, argv, failed_only_flag, &failed_only);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    if (c->watch) /* become the engine before the run exists, so we drive it */
        c->client->ops->engine_acquire(c->client);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_rerun(c->client, argv[optind], failed_only, &summary, &e) != 0)
        return cli_fail(&e);
    rc = cli_after_submit(c, summary, NULL, c->watch, c->interval_ms);
    json_decref(summary);
    return rc;
}

int cmd_run_delete(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
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

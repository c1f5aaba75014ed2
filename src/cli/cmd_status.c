/* cmd_status.c - `scripthut status`: what this CLI would use and whether it
 * works: version, transport, config files, data dir, engine, backends, runs.
 * A broken config is reported, not fatal: this is the command to run when
 * something is wrong.  Exit 0 whenever the report was printed. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "core/service.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

/* [{"name","type","defined_at","connected","active_jobs","last_error"}]: the
 * config merged with what the engine last saw (svc_backend_list). */
static json_t *local_backends(svc *s)
{
    json_t *list = json_array(), *all = NULL;
    sh_err e = SH_ERR_INIT;
    if (svc_backend_list(s, &all, &e) != 0)
        return list;
    size_t i;
    json_t *be;
    json_array_foreach(json_object_get(all, "backends"), i, be)
    {
        json_t *tr = json_object_get(be, "transport");
        json_array_append_new(
            list, json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "name", json_object_get(be, "name"),
                            "type", json_object_get(be, "type"), "defined_at",
                            json_object_get(be, "defined_at"), "connected",
                            json_object_get(be, "connected"), "active_jobs",
                            json_object_get(be, "active_jobs"), "last_error",
                            json_is_object(tr) ? json_object_get(tr, "last_error") : NULL));
    }
    json_decref(all);
    return list;
}

/* {"total": n, "by_status": {...}} over all runs. */
static json_t *run_counts(cli_client *cl, json_t *report)
{
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (client_run_list(cl, 0, NULL, &out, &e) != 0) {
        json_object_set_new(report, "runs_error", json_string(e.msg));
        return json_null();
    }
    json_t *runs = json_object_get(out, "runs"), *by = json_object();
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        const char *st = out_str(run, "status");
        if (st)
            json_object_set_new(by, st, json_integer(out_int(by, st, 0) + 1));
    }
    json_t *counts =
        json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(runs), "by_status", by);
    json_decref(out);
    return counts;
}

/* Server mode: what the server says about itself (GET /api/v1/health). */
static json_t *server_report(cli_ctx *c, json_t *r)
{
    json_t *health = NULL;
    sh_err e = SH_ERR_INIT;
    if (client_health(c->client, &health, &e) != 0) {
        json_object_set_new(r, "config_error", json_string(e.msg));
        return r;
    }
    json_object_set(r, "config_error", json_object_get(health, "config_error"));
    json_object_set(r, "data_dir", json_object_get(health, "data_dir"));
    json_object_set(r, "engine", json_object_get(health, "engine"));
    json_object_set(r, "backends", json_object_get(health, "backends"));
    json_decref(health);
    json_object_set_new(r, "runs", run_counts(c->client, r));
    return r;
}

static json_t *build_report(cli_ctx *c)
{
    json_t *r = json_pack("{s:s,s:n,s:n,s:n,s:n,s:n,s:n,s:[],s:n}", "version", SCRIPTHUT_VERSION,
                          "server", "server_source", "config_files", "config_error", "data_dir",
                          "engine", "backends", "runs");
    sh_err e = SH_ERR_INIT;
    if (client_open(&c->opts, &c->client, &e) != 0) {
        json_object_set_new(r, "config_error", json_string(e.msg));
        return r;
    }
    svc *s = client_local_service(c->client);
    json_object_set_new(r, "server", json_string(client_server(c->client)));
    json_object_set_new(r, "server_source", json_string(client_server_source(c->client)));
    if (!s)
        return server_report(c, r);
    json_object_set(r, "config_files", json_object_get(svc_config(s), "files"));
    json_object_set_new(r, "data_dir", json_string(svc_data_dir(s)));
    json_t *engine = NULL;
    if (svc_daemon_status(s, &engine, &e) == 0)
        json_object_set_new(r, "engine", engine);
    json_object_set_new(r, "backends", local_backends(s));
    json_object_set_new(r, "runs", run_counts(c->client, r));
    return r;
}

/* "Label:     value" lines, labels padded to 11 columns. */
static void print_field(const char *label, const char *value)
{
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "%-11s", label);
    out_cell(&b, value ? value : "(none)", 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_free(&b);
}

static void print_config_files(json_t *files)
{
    const char *explicit_path = out_str(files, "explicit");
    if (explicit_path) {
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "%s  (--config)", explicit_path);
        print_field("Config:", sbuf_cstr(&b));
        sbuf_free(&b);
        return;
    }
    const char *user = out_str(files, "user"), *project = out_str(files, "project");
    char *u = xasprintf("user=%s", user ? user : "(none)");
    char *p = xasprintf("project=%s", project ? project : "(none)");
    print_field("Config:", u);
    print_field("", p);
    free(u);
    free(p);
}

static void print_report(json_t *r)
{
    printf("scripthut %s\n\n", out_str(r, "version"));
    print_config_files(json_object_get(r, "config_files"));
    const char *err = out_str(r, "config_error");
    if (err) {
        char *line = xasprintf("! %s", err);
        print_field("", line);
        free(line);
        return;
    }
    print_field("Data dir:", out_str(r, "data_dir"));
    char *server = xasprintf("%s (%s)", out_str(r, "server"), out_str(r, "server_source"));
    print_field("Server:", server);
    free(server);

    json_t *engine = json_object_get(r, "engine");
    char *eng = json_is_true(json_object_get(engine, "running"))
                    ? xasprintf("running (pid %lld)", out_int(engine, "pid", 0))
                    : xstrdup(engine ? "not running" : "unknown");
    print_field("Engine:", eng);
    free(eng);

    sbuf b = SBUF_INIT;
    size_t i;
    json_t *be;
    json_array_foreach(json_object_get(r, "backends"), i, be) sbuf_printf(
        &b, "%s%s (%s%s)", i ? ", " : "", out_str(be, "name") ? out_str(be, "name") : "?",
        out_str(be, "type") ? out_str(be, "type") : "?",
        json_is_false(json_object_get(be, "connected")) ? ", not connected" : "");
    print_field("Backends:", sbuf_cstr(&b));

    json_t *runs = json_object_get(r, "runs");
    sbuf_reset(&b);
    sbuf_printf(&b, "%lld", out_int(runs, "total", 0));
    if (json_object_size(json_object_get(runs, "by_status")) > 0) {
        sbuf_puts(&b, " (");
        out_status_counts(&b, json_object_get(runs, "by_status"));
        sbuf_putc(&b, ')');
    }
    print_field("Runs:", sbuf_cstr(&b));
    sbuf_free(&b);
}

int cmd_status(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 0, 0, "");
    if (rc != CLI_CONTINUE)
        return rc;
    json_t *report = build_report(c);
    if (c->json)
        out_json(report, false);
    else
        print_report(report);
    json_decref(report);
    return EXIT_OK;
}

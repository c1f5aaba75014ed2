/* cmd_status.c - `scripthut status`: what this CLI would use and whether it
 * works: version, transport, config files, data dir, engine, backends, runs.
 * A broken config is reported, not fatal: this is the command to run when
 * something is wrong.  When only the project file is broken, the rest comes
 * from the settings alone (as for every command that needs no more).  Exit 0
 * whenever the report was printed. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

/* {"total": n, "by_status": {...}} over all runs. */
static json_t *run_counts(cli_client *cl, json_t *report)
{
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (cl->ops->run_list(cl, 0, NULL, &out, &e) != 0) {
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

static json_t *build_report(cli_ctx *c)
{
    json_t *r = json_pack("{s:s,s:n,s:n,s:n,s:n,s:n,s:n,s:[],s:n}", "version", SCRIPTHUT_VERSION,
                          "server", "server_source", "config_files", "config_error", "data_dir",
                          "engine", "backends", "runs");
    sh_err e = SH_ERR_INIT;
    /* A config that does not load is reported, with what the settings alone
     * still show (the data dir, the engine, the runs). */
    c->opts.settings_suffice = true;
    if (client_open(&c->opts, &c->client, &e) != 0) {
        json_object_set_new(r, "config_error", json_string(e.msg));
        return r;
    }
    json_object_set_new(r, "server", json_string(client_server(c->client)));
    json_object_set_new(r, "server_source", json_string(client_server_source(c->client)));
    /* local mode: this machine; server mode: the server's health */
    json_t *info = NULL;
    if (c->client->ops->status(c->client, &info, &e) != 0) {
        json_object_set_new(r, "config_error", json_string(e.msg));
        return r;
    }
    const char *keys[] = {"config_files", "config_error", "data_dir", "engine", "backends"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(info, keys[i]);
        if (v)
            json_object_set(r, keys[i], v);
    }
    json_decref(info);
    const char *fallback = client_config_fallback(c->client, NULL);
    if (fallback) /* only the settings loaded: say why */
        json_object_set_new(r, "config_error", json_string(fallback));
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
        if (!out_str(r, "data_dir") && !json_is_object(json_object_get(r, "engine")))
            return; /* not even the settings: nothing more to say */
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
    int rc = cli_parse(c, argc, argv, NULL, NULL);
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

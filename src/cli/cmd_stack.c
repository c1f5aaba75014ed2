/* cmd_stack.c - `scripthut stack list|check|install|delete|gc` (docs/stacks.md,
 * spec/original-cli-api.md §5.13-5.16).
 *
 * Exit codes follow the original: 2 for an unknown stack name, 1 when a
 * check/delete/gc row is not ready or carries a note, 0 otherwise; `check
 * --json` always exits 0 so its output can go straight to jq. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "cli/watch.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

typedef struct stack_opts {
    const char *backend;
    bool rebuild, dry_run;
    const char *name; /* the positional, or NULL */
} stack_opts;

/* --backend, --rebuild, --dry-run: the table says which verb takes which. */
static int stack_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    stack_opts *o = arg;
    switch (id) {
    case F_BACKEND: o->backend = value; break;
    case F_REBUILD: o->rebuild = true; break;
    case F_DRY_RUN: o->dry_run = true; break;
    default: return cli_usage_error(c, "unhandled flag --%s", CLI_FLAGS[id].name);
    }
    return CLI_CONTINUE;
}

/* Flags and the optional or required NAME (as the table says), then the
 * connection.  CLI_CONTINUE, or the exit code. */
static int parse_stack_args(cli_ctx *c, int argc, char **argv, stack_opts *o)
{
    int rc = cli_parse(c, argc, argv, stack_flag, o);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    o->name = optind < argc ? argv[optind] : NULL;
    return CLI_CONTINUE;
}

/* An unknown stack is a usage error (exit 2), as in the original. */
static int stack_fail(const sh_err *e)
{
    int rc = cli_fail(e);
    return rc == EXIT_ERROR && e->status == SH_ENOTFOUND && !strncmp(e->msg, "Stack '", 7)
               ? EXIT_USAGE
               : rc;
}

/* --- formats ------------------------------------------------------------ */

/* "42s ago", "5m ago", "3h ago", "2d ago", or "-". */
static void format_age(const char *iso, char *buf, size_t size)
{
    int64_t us;
    if (!iso || time_parse_iso(iso, &us) != 0) {
        snprintf(buf, size, "-");
        return;
    }
    long long s = (time_now_us() - us) / 1000000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, size, "%llds ago", s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm ago", s / 60);
    else if (s < 86400)
        snprintf(buf, size, "%lldh ago", s / 3600);
    else
        snprintf(buf, size, "%lldd ago", s / 86400);
}

/* "512B", "1.5K" ... "2.0T", or "-". */
static void format_size(json_t *bytes, char *buf, size_t size)
{
    if (!json_is_integer(bytes)) {
        snprintf(buf, size, "-");
        return;
    }
    double v = (double)json_integer_value(bytes);
    if (v < 1024) {
        snprintf(buf, size, "%.0fB", v);
        return;
    }
    const char *units = "KMGT";
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f%c", v, units[u]);
}

static void print_status_table(json_t *rows)
{
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "%-20s %-20s %-12s %-14s %-12s %-8s %s", "STACK", "BACKEND", "STATE", "HASH",
                "BUILT", "SIZE", "NOTE");
    out_line(stdout, sbuf_cstr(&b), 0);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        json_t *st = json_object_get(r, "status");
        char built[32] = "-", size[32] = "-";
        if (json_is_object(st)) {
            format_age(out_str(st, "last_built"), built, sizeof built);
            format_size(json_object_get(st, "size_bytes"), size, sizeof size);
        }
        sbuf_reset(&b);
        out_cell(&b, out_str(r, "stack"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(r, "backend"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(st, "state"), 12, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(st, "hash"), 14, true);
        sbuf_printf(&b, " %-12s %-8s ", built, size);
        out_cell(&b, out_str(r, "note") ? out_str(r, "note") : "", 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&b);
}

static void append_joined(sbuf *b, json_t *list)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        sbuf_printf(b, "%s%s", i ? "," : "", json_string_value(v));
    }
}

static void print_stack_list(json_t *stacks)
{
    sbuf b = SBUF_INIT, cell = SBUF_INIT;
    sbuf_printf(&b, "%-20s %-14s %-30s %-30s %s", "NAME", "HASH", "BACKENDS", "INPUTS",
                "DEFINED AT");
    out_line(stdout, sbuf_cstr(&b), 0);
    size_t i;
    json_t *st;
    json_array_foreach(stacks, i, st)
    {
        sbuf_reset(&b);
        out_cell(&b, out_str(st, "name"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(st, "hash"), 14, true);
        sbuf_putc(&b, ' ');
        sbuf_reset(&cell);
        json_t *backends = json_object_get(st, "backends");
        if (json_array_size(backends))
            append_joined(&cell, backends);
        else
            sbuf_puts(&cell, "(all)");
        out_cell(&b, sbuf_cstr(&cell), 30, true);
        sbuf_putc(&b, ' ');
        sbuf_reset(&cell);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(st, "inputs"), k, v)
        {
            sbuf_printf(&cell, "%s%s=%s", cell.len ? "," : "", k, json_string_value(v));
        }
        out_cell(&b, cell.len ? sbuf_cstr(&cell) : "-", 30, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(st, "defined_at"), 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&cell);
    sbuf_free(&b);
}

/* --- verbs -------------------------------------------------------------- */

int cmd_stack_list(cli_ctx *c, int argc, char **argv)
{
    stack_opts o = {0};
    int rc = parse_stack_args(c, argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->stack_list(c->client, &out, &e) != 0)
        return stack_fail(&e);
    json_t *stacks = json_object_get(out, "stacks");
    if (c->json)
        out_json(out, false);
    else if (json_array_size(stacks) == 0)
        puts("No stacks configured.");
    else
        print_stack_list(stacks);
    json_decref(out);
    return EXIT_OK;
}

static bool row_ready(json_t *r)
{
    const char *state = out_str(json_object_get(r, "status"), "state");
    return state && !strcmp(state, "ready");
}

/* The rows of a check reply in either shape: {"checks": [rows]}, or one
 * stack's status object (GET /stacks/{name}/check?backend=B of this server
 * and of the original) made into a row.  New reference. */
static json_t *check_rows(json_t *out, const char *name)
{
    json_t *rows = json_object_get(out, "checks");
    if (json_is_array(rows))
        return json_incref(rows);
    if (!json_is_object(out) || !json_object_get(out, "state"))
        return json_array();
    json_t *status = json_deep_copy(out);
    json_t *note = json_incref(json_object_get(status, "note"));
    json_object_del(status, "note");
    const char *stack = out_str(out, "name") ? out_str(out, "name") : name;
    const char *backend = out_str(out, "backend");
    json_t *row = json_pack("{s:s?,s:s?,s:o,s:o?}", "stack", stack, "backend", backend, "status",
                            status, "note", note);
    if (!row)
        return json_array();
    if (!json_object_get(row, "note") && out_str(out, "error"))
        json_object_set(row, "note", json_object_get(out, "error"));
    return json_pack("[o]", row);
}

int cmd_stack_check(cli_ctx *c, int argc, char **argv)
{
    stack_opts o = {0};
    int rc = parse_stack_args(c, argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->stack_check(c->client, o.name, o.backend, &out, &e) != 0)
        return stack_fail(&e);
    json_t *rows = check_rows(out, o.name);
    rc = EXIT_OK;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (!row_ready(r))
            rc = EXIT_ERROR;
    }
    if (c->json) {
        /* one shape whichever the server answered with */
        json_t *all = json_pack("{s:O}", "checks", rows);
        out_json(all, false);
        json_decref(all);
        rc = EXIT_OK;
    } else if (json_array_size(rows) == 0) {
        puts("No stacks configured.");
    } else {
        print_status_table(rows);
    }
    json_decref(rows);
    json_decref(out);
    return rc;
}

/* The install task's id (install-<hash8>), read back from the run. */
static char *install_task_id(cli_ctx *c, const char *run_id)
{
    json_t *detail = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->run_detail(c->client, run_id, &detail, &e) != 0)
        return NULL;
    json_t *task = json_object_get(json_array_get(json_object_get(detail, "items"), 0), "task");
    char *id = out_str(task, "id") ? xstrdup(out_str(task, "id")) : NULL;
    json_decref(detail);
    return id;
}

static void print_install_submitted(json_t *summary, const char *task_id)
{
    const char *id = out_str(summary, "id");
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "Install submitted as run ");
    out_cell(&b, id, 0, false);
    sbuf_puts(&b, " (workflow '");
    out_cell(&b, out_str(summary, "workflow_name"), 0, false);
    sbuf_puts(&b, "' on ");
    out_cell(&b, out_str(summary, "backend_name"), 0, false);
    sbuf_puts(&b, ").");
    out_line(stdout, sbuf_cstr(&b), 0);
    /* Commands to paste: quote what the shell would split. */
    char *qid = shell_quote(id ? id : "");
    char *qtask = shell_quote(task_id ? task_id : "TASK");
    printf("  scripthut run watch %s --exit-status   # wait until done\n", qid);
    printf("  scripthut run logs %s %s   # its output\n", qid, qtask);
    free(qid);
    free(qtask);
    sbuf_free(&b);
}

int cmd_stack_install(cli_ctx *c, int argc, char **argv)
{
    stack_opts o = {0};
    int rc = parse_stack_args(c, argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    if (c->watch) /* become the engine first, so this process drives the install */
        c->client->ops->engine_acquire(c->client);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->stack_install(c->client, o.name, o.backend, o.rebuild, &summary, &e) != 0)
        return stack_fail(&e);
    if (c->watch || c->json) {
        rc = cli_after_submit(c, summary, NULL, c->watch, c->interval_ms);
    } else {
        char *task_id = install_task_id(c, out_str(summary, "id"));
        print_install_submitted(summary, task_id);
        free(task_id);
        rc = EXIT_OK;
    }
    json_decref(summary);
    return rc;
}

/* Rows of delete and gc carry a "note" only when that stack/backend failed. */
static int rows_exit_code(json_t *rows)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        if (out_str(r, "note"))
            return EXIT_ERROR;
    }
    return EXIT_OK;
}

int cmd_stack_delete(cli_ctx *c, int argc, char **argv)
{
    stack_opts o = {0};
    int rc = parse_stack_args(c, argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->stack_delete(c->client, o.name, o.backend, &out, &e) != 0)
        return stack_fail(&e);
    json_t *rows = json_object_get(out, "deleted");
    rc = rows_exit_code(rows);
    if (c->json)
        out_json(out, false);
    else
        print_status_table(rows);
    json_decref(out);
    return rc;
}

static void print_gc_table(json_t *rows)
{
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "%-20s %-20s %-14s %-14s %s", "STACK", "BACKEND", "HASH", "ACTION", "REASON");
    out_line(stdout, sbuf_cstr(&b), 0);
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        sbuf_reset(&b);
        out_cell(&b, out_str(r, "stack"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(r, "backend"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(r, "hash"), 14, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(r, "action") ? out_str(r, "action") : "error", 14, true);
        sbuf_putc(&b, ' ');
        const char *why = out_str(r, "reason") ? out_str(r, "reason") : out_str(r, "note");
        out_cell(&b, why ? why : "", 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&b);
}

int cmd_stack_gc(cli_ctx *c, int argc, char **argv)
{
    stack_opts o = {0};
    int rc = parse_stack_args(c, argc, argv, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->stack_gc(c->client, o.name, o.dry_run, &out, &e) != 0)
        return stack_fail(&e);
    json_t *rows = json_object_get(out, "gc");
    rc = rows_exit_code(rows);
    if (c->json)
        out_json(out, false);
    else if (json_array_size(rows) == 0)
        puts("Nothing to collect.");
    else
        print_gc_table(rows);
    json_decref(out);
    return rc;
}

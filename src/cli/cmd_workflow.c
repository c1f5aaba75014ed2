/* cmd_workflow.c - `scripthut workflow list|view|run`: the workflows the
 * config defines (`workflow "name" { ... }` in scripthut.lua). */
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "cli/watch.h"

static void print_workflow_table(json_t *workflows)
{
    if (json_array_size(workflows) == 0) {
        puts("No workflows defined (add workflow \"name\" { ... } to scripthut.lua).");
        return;
    }
    printf("%-24s %-14s %-9s %s\n", "NAME", "BACKEND", "TASKS", "DESCRIPTION");
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *wf;
    json_array_foreach(workflows, i, wf)
    {
        sbuf_reset(&b);
        out_cell(&b, out_str(wf, "name"), 24, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(wf, "backend"), 14, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(wf, "tasks_source"), 9, false);
        sbuf_putc(&b, ' ');
        const char *desc = out_str(wf, "description");
        out_cell(&b, desc && *desc ? desc : "", 0, false);
        while (b.len && b.data[b.len - 1] == ' ')
            b.data[--b.len] = '\0';
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&b);
}

int cmd_workflow_list(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->workflow_list(c->client, &out, &e) != 0)
        return cli_fail(&e);
    if (c->json)
        out_json(out, false);
    else
        print_workflow_table(json_object_get(out, "workflows"));
    json_decref(out);
    return EXIT_OK;
}

/* "a, b, c" for a task's dependency list. */
static void append_deps(sbuf *b, json_t *task)
{
    json_t *deps = json_object_get(task, "dependencies");
    if (!deps)
        deps = json_object_get(task, "deps");
    if (json_array_size(deps) == 0) {
        sbuf_putc(b, '-');
        return;
    }
    size_t i;
    json_t *d;
    json_array_foreach(deps, i, d)
    {
        if (i)
            sbuf_puts(b, ",");
        out_cell(b, json_string_value(d), 0, false);
    }
}

static void print_view_task(sbuf *b, json_t *task)
{
    char cpus[24] = "-";
    json_t *v = json_object_get(task, "cpus");
    if (json_is_integer(v))
        snprintf(cpus, sizeof cpus, "%lld", (long long)json_integer_value(v));
    sbuf_reset(b);
    sbuf_puts(b, "  ");
    out_cell(b, out_str(task, "id"), 22, true);
    sbuf_putc(b, ' ');
    out_cell(b, cpus, 4, false);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(task, "memory"), 6, false);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(task, "time_limit"), 10, false);
    sbuf_putc(b, ' ');
    sbuf b2 = SBUF_INIT;
    append_deps(&b2, task);
    out_cell(b, sbuf_cstr(&b2), 20, true);
    sbuf_free(&b2);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(task, "command"), 0, false);
    out_line(stdout, sbuf_cstr(b), 0);
}

static void print_workflow_view(json_t *view, bool scripts)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "Workflow ");
    out_cell(&b, out_str(view, "name"), 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_reset(&b);
    sbuf_puts(&b, "  backend: ");
    out_cell(&b, out_str(view, "backend"), 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    printf("  tasks:   %lld\n", out_int(view, "task_count", 0));

    json_t *tasks = json_object_get(view, "tasks");
    if (json_array_size(tasks) > 0) {
        printf("\n  %-22s %-4s %-6s %-10s %-20s %s\n", "TASK", "CPUS", "MEM", "TIME", "DEPS",
               "COMMAND");
        size_t i;
        json_t *task;
        json_array_foreach(tasks, i, task) print_view_task(&b, task);
    }
    if (scripts) {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(view, "scripts"), i, s)
        {
            sbuf_reset(&b);
            sbuf_puts(&b, "\n--- script for ");
            out_cell(&b, out_str(s, "task_id"), 0, false);
            sbuf_puts(&b, " ---");
            out_line(stdout, sbuf_cstr(&b), 0);
            const char *text = out_str(s, "script");
            fputs(text ? text : "", stdout); /* verbatim: it is what will run */
        }
    }
    sbuf_free(&b);
}

typedef struct workflow_opts {
    const char *backend;
    bool scripts;
} workflow_opts;

/* --backend (view, run) and --scripts (view). */
static int workflow_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    workflow_opts *o = arg;
    if (id == F_BACKEND)
        o->backend = value;
    else
        o->scripts = true;
    return CLI_CONTINUE;
}

int cmd_workflow_view(cli_ctx *c, int argc, char **argv)
{
    workflow_opts o = {0};
    int rc = cli_parse(c, argc, argv, workflow_flag, &o);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *backend = o.backend;
    bool scripts = o.scripts;
    json_t *view = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->workflow_view(c->client, argv[optind], backend, &view, &e) != 0)
        return cli_fail(&e);
    if (c->json)
        out_json(view, false);
    else
        print_workflow_view(view, scripts);
    json_decref(view);
    return EXIT_OK;
}

int cmd_workflow_run(cli_ctx *c, int argc, char **argv)
{
    workflow_opts o = {0};
    int rc = cli_parse(c, argc, argv, workflow_flag, &o);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *backend = o.backend;
    if (c->watch) /* become the engine before the run exists, so we drive it */
        c->client->ops->engine_acquire(c->client);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->workflow_run(c->client, argv[optind], backend, &summary, &e) != 0)
        return cli_fail(&e);
    rc = cli_after_submit(c, summary, NULL, c->watch, c->interval_ms);
    json_decref(summary);
    return rc;
}

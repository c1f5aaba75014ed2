/* cmd_backend.c - `scripthut backend list` and `backend status [NAME]`: the
 * configured backends (the built-in `local` one included) merged with what
 * the engine last saw of them: connection state, last error, queue depth,
 * command counters, the recent commands and cluster info (sinfo).
 *
 * The engine may be another process (the detached daemon or a server): what
 * is shown comes from its snapshot, and says so when that engine is gone. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"

#define STATUS_LOG_LINES 10 /* commands shown by `backend status` (--json: all kept) */

/* "connected", "disconnected", "ready" (local, nothing to connect), or
 * "unknown" when no live engine vouches for it. */
static const char *status_word(json_t *be)
{
    json_t *tr = json_object_get(be, "transport");
    bool live = json_is_true(json_object_get(be, "live"));
    const char *type = out_str(be, "type");
    if (type && !strcmp(type, "local"))
        return "ready"; /* this machine: nothing to connect to */
    if (!json_is_object(tr))
        return json_is_true(json_object_get(be, "connected")) ? "ready" : "unknown";
    if (!live)
        return "unknown";
    const char *st = out_str(tr, "state");
    return st ? st : "unknown";
}

static void print_table(json_t *backends)
{
    if (json_array_size(backends) == 0) {
        puts("No backends configured.");
        return;
    }
    printf("%-20s %-8s %-18s %6s %-14s %s\n", "NAME", "TYPE", "STATUS", "ACTIVE", "MAX_CONCURRENT",
           "LAST ERROR / NOTE");
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *be;
    json_array_foreach(backends, i, be)
    {
        char num[24], max[24] = "-";
        snprintf(num, sizeof num, "%6lld", out_int(be, "active_jobs", 0));
        if (json_is_integer(json_object_get(be, "max_concurrent")))
            snprintf(max, sizeof max, "%lld", out_int(be, "max_concurrent", 0));
        json_t *tr = json_object_get(be, "transport");
        const char *tail = out_str(be, "note");
        if (!tail && json_is_object(tr))
            tail = out_str(tr, "last_error");
        sbuf_reset(&b);
        out_cell(&b, out_str(be, "name"), 20, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(be, "type"), 8, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, status_word(be), 18, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, num, 6, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, max, 14, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, tail ? tail : "", 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&b);
}

static void field(const char *label, const char *value)
{
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "  %-14s ", label);
    out_cell(&b, value, 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_free(&b);
}

static void print_transport(json_t *tr)
{
    char line[512];
    snprintf(line, sizeof line, "%s@%s:%lld%s%s", out_str(tr, "user") ? out_str(tr, "user") : "?",
             out_str(tr, "host") ? out_str(tr, "host") : "?", out_int(tr, "port", 22),
             out_str(tr, "proxy_jump") ? " via ProxyJump " : "",
             out_str(tr, "proxy_jump") ? out_str(tr, "proxy_jump") : "");
    field("ssh:", line);
    if (out_str(tr, "connected_since"))
        field("connected at:", out_str(tr, "connected_since"));
    json_t *c = json_object_get(tr, "counters");
    snprintf(line, sizeof line,
             "%lld run, %lld failed, %lld timed out; %lld connects (%lld failed), %lld drops",
             out_int(c, "commands", 0), out_int(c, "failed", 0), out_int(c, "timeouts", 0),
             out_int(c, "connects", 0), out_int(c, "connect_failures", 0), out_int(c, "drops", 0));
    field("commands:", line);
    snprintf(line, sizeof line, "%lld sent (stdin), %lld received (stdout), %lld (stderr)",
             out_int(c, "stdin_bytes", 0), out_int(c, "stdout_bytes", 0),
             out_int(c, "stderr_bytes", 0));
    field("bytes:", line);
    field("last command:", out_str(tr, "last_command_at"));
    field("last error:", out_str(tr, "last_error") ? out_str(tr, "last_error") : "none");
    json_t *log = json_object_get(tr, "log");
    if (json_array_size(log) == 0)
        return;
    printf("  recent commands (newest first):\n");
    size_t i;
    json_t *le;
    json_array_foreach(log, i, le)
    {
        if (i >= STATUS_LOG_LINES)
            break;
        char how[64];
        if (out_str(le, "error"))
            snprintf(how, sizeof how, "error");
        else
            snprintf(how, sizeof how, "exit %lld", out_int(le, "exit_status", -1));
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "    %s %6lld ms  %-8s ", out_str(le, "at") ? out_str(le, "at") : "-",
                    out_int(le, "duration_ms", 0), how);
        out_cell(&b, out_str(le, "command"), 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
        sbuf_free(&b);
    }
}

static void print_cluster(json_t *cl)
{
    char line[256];
    snprintf(line, sizeof line,
             "%lld nodes: %lld idle, %lld mixed, %lld allocated, %lld down; "
             "%lld/%lld CPUs allocated",
             out_int(cl, "nodes", 0), out_int(cl, "nodes_idle", 0), out_int(cl, "nodes_mixed", 0),
             out_int(cl, "nodes_alloc", 0), out_int(cl, "nodes_down", 0),
             out_int(cl, "cpus_alloc", 0), out_int(cl, "cpus_total", 0));
    field("cluster:", line);
    if (out_str(cl, "updated_at"))
        field("sinfo at:", out_str(cl, "updated_at"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(cl, "partitions"), i, p)
    {
        snprintf(line, sizeof line, "%s%s: %s, %lld nodes (%lld idle), %lld/%lld CPUs allocated",
                 out_str(p, "name") ? out_str(p, "name") : "?",
                 json_is_true(json_object_get(p, "default")) ? "*" : "",
                 out_str(p, "state") ? out_str(p, "state") : "?", out_int(p, "nodes", 0),
                 out_int(p, "nodes_idle", 0), out_int(p, "cpus_alloc", 0),
                 out_int(p, "cpus_total", 0));
        field("partition:", line);
    }
}

static void print_status(json_t *be)
{
    printf("%s (%s): %s\n", out_str(be, "name"), out_str(be, "type"), status_word(be));
    if (out_str(be, "note"))
        field("note:", out_str(be, "note"));
    else
        field("last seen:", out_str(be, "last_seen"));
    char line[128];
    if (json_is_integer(json_object_get(be, "max_concurrent")))
        snprintf(line, sizeof line, "%lld (max %lld)", out_int(be, "active_jobs", 0),
                 out_int(be, "max_concurrent", 0));
    else
        snprintf(line, sizeof line, "%lld", out_int(be, "active_jobs", 0));
    field("active jobs:", line);
    json_t *tr = json_object_get(be, "transport");
    if (json_is_object(tr) && !strcmp(out_str(tr, "kind") ? out_str(tr, "kind") : "", "ssh"))
        print_transport(tr);
    json_t *cl = json_object_get(be, "cluster");
    if (json_is_object(cl))
        print_cluster(cl);
}

static int fetch(cli_ctx *c, json_t **out)
{
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->backend_list(c->client, out, &e) != 0)
        return cli_fail(&e);
    return 0;
}

int cmd_backend_list(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *out = NULL;
    if ((rc = fetch(c, &out)) != 0)
        return rc;
    if (c->json)
        out_json(out, false);
    else
        print_table(json_object_get(out, "backends"));
    json_decref(out);
    return EXIT_OK;
}

int cmd_backend_status(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, NULL, NULL);
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    const char *name = optind < argc ? argv[optind] : NULL;
    json_t *out = NULL;
    if ((rc = fetch(c, &out)) != 0)
        return rc;
    json_t *all = json_object_get(out, "backends"), *picked = json_array();
    size_t i;
    json_t *be;
    json_array_foreach(
        all, i, be) if (!name || !strcmp(out_str(be, "name") ? out_str(be, "name") : "", name))
        json_array_append(picked, be);
    if (name && json_array_size(picked) == 0) {
        sh_err e = SH_ERR_INIT;
        sbuf known = SBUF_INIT;
        json_array_foreach(all, i, be)
            sbuf_printf(&known, "%s%s", i ? ", " : "", out_str(be, "name"));
        sh_err_set(&e, SH_ENOTFOUND, "unknown backend '%s' (known: %s)", name,
                   known.len ? sbuf_cstr(&known) : "(none)");
        sbuf_free(&known);
        json_decref(picked);
        json_decref(out);
        return cli_fail(&e);
    }
    if (c->json) {
        json_t *doc =
            name ? json_incref(json_array_get(picked, 0)) : json_pack("{s:O}", "backends", picked);
        out_json(doc, false);
        json_decref(doc);
    } else {
        json_array_foreach(picked, i, be)
        {
            if (i)
                putchar('\n');
            print_status(be);
        }
    }
    json_decref(picked);
    json_decref(out);
    return EXIT_OK;
}

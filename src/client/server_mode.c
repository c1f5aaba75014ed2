/* server_mode.c - the client in server mode: each operation of client.h
 * against a scripthut server (docs/api.md), returning the same JSON as local
 * mode so commands print the same thing either way. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client_internal.h"
#include "client/remote.h"
#include "core/api_token.h"
#include "core/service.h"
#include "lua/host.h"
#include "util/sbuf.h"

typedef struct remote_client {
    cli_client base;
    remote *rm;
    /* The client's own config, to resolve names only it defines (docs/cli.md,
     * "Server mode").  NULL when it did not load (config_error says why). */
    struct host *host;
    json_t *config;
    char *config_error;
    char *config_path; /* --config as given (NULL: discovery) */
    /* A service over the client's own config, opened on first need, for
     * previews and installs of names only the client defines. */
    svc *own;
} remote_client;

static remote_client *rc_of(cli_client *cl)
{
    return (remote_client *)cl;
}

/* A request path with escaped segments: seg may be NULL to stop early. */
static char *path3(const char *a, const char *seg1, const char *b, const char *seg2, const char *c)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, a);
    if (seg1) {
        char *s = remote_escape(seg1);
        sbuf_puts(&p, s);
        free(s);
    }
    if (b)
        sbuf_puts(&p, b);
    if (seg2) {
        char *s = remote_escape(seg2);
        sbuf_puts(&p, s);
        free(s);
    }
    if (c)
        sbuf_puts(&p, c);
    return sbuf_detach(&p);
}

/* Appends "?k=v" or "&k=v" (value escaped); NULL values are skipped. */
static void query_add(sbuf *p, const char *key, const char *value)
{
    if (!value)
        return;
    char *v = remote_escape(value);
    sbuf_printf(p, "%c%s=%s", strchr(sbuf_cstr(p), '?') ? '&' : '?', key, v);
    free(v);
}

static int get(cli_client *cl, char *path, json_t **out, sh_err *e)
{
    int rc = remote_call(rc_of(cl)->rm, "GET", path, NULL, out, e);
    free(path);
    return rc;
}

static int send_json(cli_client *cl, const char *method, char *path, json_t *body, json_t **out,
                     sh_err *e)
{
    int rc = remote_call(rc_of(cl)->rm, method, path, body, out, e);
    free(path);
    return rc;
}

/* --- submissions --------------------------------------------------------------- */

/* The body for a resolved task list: {"tasks", "env", "env_groups"} of the
 * workflow document plus backend and the extra fields. */
static json_t *submission_body(json_t *doc, const char *backend)
{
    json_t *body = json_object();
    const char *keys[] = {"tasks", "env", "env_groups"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(doc, keys[i]))
            json_object_set(body, keys[i], json_object_get(doc, keys[i]));
    if (backend)
        json_object_set_new(body, "backend", json_string(backend));
    return body;
}

static int sm_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                     json_t **summary, sh_err *e)
{
    json_t *body = submission_body(doc, backend);
    json_object_set_new(body, "run_name", json_string(run_name));
    int rc = send_json(cl, "POST", xstrdup("/tasks/run"), body, summary, e);
    json_decref(body);
    return rc;
}

static json_t *local_workflow(cli_client *cl, const char *name)
{
    size_t i;
    json_t *wf;
    json_array_foreach(json_object_get(rc_of(cl)->config, "workflows"), i, wf)
    {
        const char *n = json_string_value(json_object_get(wf, "name"));
        if (n && !strcmp(n, name))
            return wf;
    }
    return NULL;
}

static bool is_unknown_workflow(const sh_err *e)
{
    return e->status == SH_ENOTFOUND && !strncmp(e->msg, "Workflow '", 10);
}

static bool is_unknown_stack(const sh_err *e)
{
    return e->status == SH_ENOTFOUND && !strncmp(e->msg, "Stack '", 7);
}

static bool own_config_defines(cli_client *cl, const char *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(rc_of(cl)->config, list), i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && !strcmp(n, name))
            return true;
    }
    return false;
}

/* The service over the client's own config (names only the client defines
 * are evaluated here: docs/cli.md, "Server mode").  NULL when it cannot be opened; the server's
 * error in *e then stands. */
static svc *own_service(cli_client *cl)
{
    remote_client *rc = rc_of(cl);
    if (!rc->own) {
        sh_err ignored = SH_ERR_INIT;
        if (svc_open(rc->config_path, &rc->own, &ignored) != 0)
            rc->own = NULL;
    }
    return rc->own;
}

/* A name the server does not know but our own config defines is evaluated
 * here and sent as a resolved task list (docs/cli.md, "Server mode"). */
static int run_client_workflow(cli_client *cl, json_t *wf, const char *name, const char *backend,
                               json_t **summary, sh_err *e)
{
    json_t *doc = NULL;
    if (host_workflow_document(rc_of(cl)->host, name, &doc, e) != 0)
        return -1;
    if (!backend)
        backend = json_string_value(json_object_get(wf, "backend"));
    json_t *body = submission_body(doc, backend ? backend : "local");
    json_t *mc = json_object_get(wf, "max_concurrent");
    if (json_is_integer(mc))
        json_object_set(body, "max_concurrent", mc);
    int rc =
        send_json(cl, "POST", path3("/workflows/", name, "/run", NULL, NULL), body, summary, e);
    json_decref(body);
    json_decref(doc);
    return rc;
}

static int sm_workflow_run(cli_client *cl, const char *name, const char *backend, json_t **summary,
                           sh_err *e)
{
    sbuf p = SBUF_INIT;
    char *base = path3("/workflows/", name, "/run", NULL, NULL);
    sbuf_puts(&p, base);
    free(base);
    query_add(&p, "backend", backend);
    json_t *empty = json_object();
    int rc = send_json(cl, "POST", sbuf_detach(&p), empty, summary, e);
    json_decref(empty);
    json_t *wf =
        rc != 0 && is_unknown_workflow(e) && rc_of(cl)->host ? local_workflow(cl, name) : NULL;
    if (!wf)
        return rc;
    *e = (sh_err)SH_ERR_INIT;
    return run_client_workflow(cl, wf, name, backend, summary, e);
}

static int sm_workflow_list(cli_client *cl, json_t **out, sh_err *e)
{
    return get(cl, xstrdup("/workflows"), out, e);
}

static int sm_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                            sh_err *e)
{
    sbuf p = SBUF_INIT;
    char *base = path3("/workflows/", name, NULL, NULL, NULL);
    sbuf_puts(&p, base);
    free(base);
    query_add(&p, "backend", backend);
    int rc = get(cl, sbuf_detach(&p), out, e);
    svc *own = rc != 0 && is_unknown_workflow(e) && own_config_defines(cl, "workflows", name)
                   ? own_service(cl)
                   : NULL;
    if (!own)
        return rc;
    *e = (sh_err)SH_ERR_INIT;
    return svc_workflow_view(own, name, backend, out, e);
}

/* --- runs ------------------------------------------------------------------------ */

static int sm_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "/runs");
    char n[24];
    snprintf(n, sizeof n, "%d", limit > 0 ? limit : 0);
    query_add(&p, "limit", n);
    query_add(&p, "workflow", workflow);
    return get(cl, sbuf_detach(&p), out, e);
}

static int sm_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e)
{
    return get(cl, path3("/runs/", run_id, NULL, NULL, NULL), out, e);
}

static int sm_run_cancel(cli_client *cl, const char *run_id, json_t **summary, sh_err *e)
{
    char *base = path3("/runs/", run_id, "/cancel", NULL, NULL);
    char *path = xasprintf("%s?wait=%d", base, CLIENT_CANCEL_WAIT_MS / 1000);
    free(base);
    json_t *empty = json_object();
    int rc = send_json(cl, "POST", path, empty, summary, e);
    json_decref(empty);
    if (rc == 0) { /* the summary, as local mode returns it */
        json_object_del(*summary, "run_id");
        json_object_del(*summary, "cancelled");
    }
    return rc;
}

static int sm_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                        sh_err *e)
{
    char *base = path3("/runs/", run_id, "/rerun", NULL, NULL);
    char *path = xasprintf("%s?failed_only=%s", base, failed_only ? "true" : "false");
    free(base);
    json_t *empty = json_object();
    int rc = send_json(cl, "POST", path, empty, summary, e);
    json_decref(empty);
    return rc;
}

static int sm_run_delete(cli_client *cl, const char *run_id, sh_err *e)
{
    json_t *out = NULL;
    int rc = send_json(cl, "DELETE", path3("/runs/", run_id, NULL, NULL, NULL), NULL, &out, e);
    json_decref(out);
    return rc;
}

static int sm_run_events(cli_client *cl, const char *run_id, long long after, json_t **out,
                         sh_err *e)
{
    char *base = path3("/runs/", run_id, "/events", NULL, NULL);
    char *path = xasprintf("%s?after=%lld", base, after);
    free(base);
    return get(cl, path, out, e);
}

static int sm_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                       long tail_lines, char **content, sh_err *e)
{
    char *base = path3("/runs/", run_id, "/tasks/", task_id, "/logs");
    char *path = xasprintf("%s?type=%s&tail=%ld", base, error_log ? "error" : "output",
                           tail_lines > 0 ? tail_lines : 0);
    free(base);
    json_t *out = NULL;
    if (get(cl, path, &out, e) != 0)
        return -1;
    const char *text = json_string_value(json_object_get(out, "content"));
    *content = xstrdup(text ? text : "");
    json_decref(out);
    return 0;
}

static int sm_backend_list(cli_client *cl, json_t **out, sh_err *e)
{
    return get(cl, xstrdup("/backends"), out, e);
}

/* `status`: what the server says about itself. */
static int sm_status(cli_client *cl, json_t **out, sh_err *e)
{
    return get(cl, xstrdup("/health"), out, e);
}

/* --- stacks ------------------------------------------------------------------------ */

static int sm_stack_list(cli_client *cl, json_t **out, sh_err *e)
{
    return get(cl, xstrdup("/stacks"), out, e);
}

static int sm_stack_check(cli_client *cl, const char *name, const char *backend, json_t **out,
                          sh_err *e)
{
    sbuf p = SBUF_INIT;
    char *base = name ? path3("/stacks/", name, "/check", NULL, NULL) : xstrdup("/stacks/check");
    sbuf_puts(&p, base);
    free(base);
    query_add(&p, "backend", backend);
    return get(cl, sbuf_detach(&p), out, e);
}

static int sm_stack_install(cli_client *cl, const char *name, const char *backend, bool rebuild,
                            json_t **summary, sh_err *e)
{
    sbuf p = SBUF_INIT;
    char *base = path3("/stacks/", name, "/install", NULL, NULL);
    sbuf_puts(&p, base);
    free(base);
    query_add(&p, "backend", backend);
    query_add(&p, "rebuild", rebuild ? "true" : "false");
    json_t *empty = json_object();
    int rc = send_json(cl, "POST", sbuf_detach(&p), empty, summary, e);
    json_decref(empty);
    svc *own = rc != 0 && is_unknown_stack(e) && own_config_defines(cl, "stacks", name)
                   ? own_service(cl)
                   : NULL;
    if (!own)
        return rc;
    /* The install task, built from our definition, goes as a plain task run. */
    *e = (sh_err)SH_ERR_INIT;
    json_t *doc = NULL;
    char *run_name = NULL, *used = NULL;
    if (svc_stack_install_doc(own, name, backend, rebuild, &doc, &run_name, &used, e) != 0)
        return -1;
    rc = sm_submit(cl, run_name, used, doc, summary, e);
    json_decref(doc);
    free(run_name);
    free(used);
    return rc;
}

static int sm_stack_delete(cli_client *cl, const char *name, const char *backend, json_t **out,
                           sh_err *e)
{
    sbuf p = SBUF_INIT;
    char *base = path3("/stacks/", name, NULL, NULL, NULL);
    sbuf_puts(&p, base);
    free(base);
    query_add(&p, "backend", backend);
    return send_json(cl, "DELETE", sbuf_detach(&p), NULL, out, e);
}

static int sm_stack_gc(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "/stacks/gc");
    query_add(&p, "name", name);
    query_add(&p, "dry_run", dry_run ? "true" : "false");
    json_t *empty = json_object();
    int rc = send_json(cl, "POST", sbuf_detach(&p), empty, out, e);
    json_decref(empty);
    return rc;
}

/* --- what only local mode does ------------------------------------------------------ */

static int sm_config(cli_client *cl, json_t **out, sh_err *e)
{
    return sh_err_set(e, SH_EUNAVAIL, "config() is not available in server mode yet");
}

static int sm_exec(cli_client *cl, const char *backend, const char *command, int timeout_ms,
                   exec_result *r, sh_err *e)
{
    return sh_err_set(e, SH_EUNAVAIL, "not available in server mode");
}

static int sm_stack_script(cli_client *cl, const char *name, bool rebuild, char **script, sh_err *e)
{
    return sh_err_set(e, SH_EUNAVAIL, "not available in server mode");
}

/* `daemon` commands are about this machine's engine. */
static int sm_daemon_refused(sh_err *e)
{
    return sh_err_set(e, SH_EUNAVAIL,
                      "daemon commands manage this machine's engine; use --server local");
}

static int sm_daemon_status(cli_client *cl, json_t **out, sh_err *e)
{
    return sm_daemon_refused(e);
}

static int sm_daemon_start(cli_client *cl, sh_err *e)
{
    return sm_daemon_refused(e);
}

static int sm_daemon_stop(cli_client *cl, int wait_ms, sh_err *e)
{
    return sm_daemon_refused(e);
}

/* --- the engine is the server's ------------------------------------------------------ */

static void sm_engine_acquire(cli_client *cl)
{
}

/* Waiting is a sleep (EINTR ends it). */
static int sm_engine_wait(cli_client *cl, int max_wait_ms, sh_err *e)
{
    if (poll(NULL, 0, max_wait_ms) < 0 && errno != EINTR)
        return sh_err_set(e, SH_EINTERNAL, "poll: %s", strerror(errno));
    return 0;
}

static void sm_engine_release(cli_client *cl)
{
}

static void sm_close(cli_client *cl)
{
    remote_client *rc = rc_of(cl);
    if (rc->own)
        svc_close(rc->own);
    free(rc->config_path);
    remote_free(rc->rm);
    json_decref(rc->config);
    host_free(rc->host);
    free(rc->config_error);
    free(rc->base.server);
    free(rc);
}

static const struct client_ops server_ops = {
    .close = sm_close,
    .submit = sm_submit,
    .workflow_run = sm_workflow_run,
    .workflow_list = sm_workflow_list,
    .workflow_view = sm_workflow_view,
    .run_list = sm_run_list,
    .run_detail = sm_run_detail,
    .run_cancel = sm_run_cancel,
    .run_rerun = sm_run_rerun,
    .run_delete = sm_run_delete,
    .run_events = sm_run_events,
    .task_log = sm_task_log,
    .backend_list = sm_backend_list,
    .stack_list = sm_stack_list,
    .stack_check = sm_stack_check,
    .stack_install = sm_stack_install,
    .stack_delete = sm_stack_delete,
    .stack_gc = sm_stack_gc,
    .status = sm_status,
    .exec = sm_exec,
    .config = sm_config,
    .stack_script = sm_stack_script,
    .daemon_status = sm_daemon_status,
    .daemon_start = sm_daemon_start,
    .daemon_stop = sm_daemon_stop,
    .engine_acquire = sm_engine_acquire,
    .engine_wait = sm_engine_wait,
    .engine_release = sm_engine_release,
};

static json_t *settings_of(json_t *config)
{
    return json_object_get(config, "settings");
}

/* A flag, else an environment variable, else settings.cli_auth.<key>, else
 * NULL. */
static const char *auth_value(const char *flag, json_t *config, const char *env, const char *key)
{
    if (flag && *flag)
        return flag;
    const char *v = getenv(env);
    if (v && *v)
        return v;
    return json_string_value(
        json_object_get(json_object_get(settings_of(config), "cli_auth"), key));
}

/* Whether a server URL names this machine's loopback interface. */
static bool url_is_loopback(const char *url)
{
    const char *name = strstr(url, "://");
    if (!name)
        return false;
    name += 3;
    size_t n = strcspn(name, ":/?#");
    if (name[0] == '[')
        return !strncmp(name, "[::1]", 5);
    return (n == 9 && !strncasecmp(name, "localhost", 9)) || !strncmp(name, "127.", 4);
}

/* With no token given, a server on this machine is asked with the one its
 * `serve` keeps in the data dir (core/api_token.h): the same account's
 * server.  A server elsewhere never gets it.  NULL when there is none. */
static char *data_dir_token(json_t *config, const char *url)
{
    if (!url_is_loopback(url))
        return NULL;
    const char *dd = json_string_value(json_object_get(settings_of(config), "data_dir"));
    char *dir = dd ? xstrdup(dd) : api_token_default_data_dir();
    char *token = NULL;
    sh_err ignored = SH_ERR_INIT;
    if (dir && api_token_read(dir, &token, &ignored) != 0)
        token = NULL;
    free(dir);
    return token;
}

/* The client's own config is loaded for its settings (auth) and the names
 * only it defines; failing to load it is not fatal here. */
int server_client_open(const client_options *o, const char *url, const char *source,
                       cli_client **out, sh_err *e)
{
    remote_client *rc = xcalloc(1, sizeof *rc);
    rc->base.ops = &server_ops;
    rc->base.source = source;
    sh_err ce = SH_ERR_INIT;
    rc->host = host_new(&ce);
    if (rc->host && host_load_config(rc->host, o->config_path, &rc->config, &ce) != 0)
        rc->config = NULL;
    if (!rc->config)
        rc->config_error = xstrdup(ce.msg);
    rc->config_path = o->config_path ? xstrdup(o->config_path) : NULL;
    json_t *cfg = rc->config;
    remote_auth auth = {
        .token = auth_value(o->token, cfg, "SCRIPTHUT_API_TOKEN", "token"),
        .cf_client_id = auth_value(o->cf_client_id, cfg, "SCRIPTHUT_CF_CLIENT_ID", "cf_client_id"),
        .cf_client_secret =
            auth_value(o->cf_client_secret, cfg, "SCRIPTHUT_CF_CLIENT_SECRET", "cf_client_secret"),
        .cf_access_token =
            auth_value(o->cf_access_token, cfg, "SCRIPTHUT_CF_ACCESS_TOKEN", "cf_access_token"),
    };
    char *file_token = NULL;
    if (!auth.token) {
        /* A config that does not load may still give its settings (data_dir). */
        json_t *settings_only = NULL;
        sh_err ignored = SH_ERR_INIT;
        if (!cfg && rc->host &&
            host_load_settings(rc->host, o->config_path, &settings_only, &ignored) != 0)
            settings_only = NULL;
        auth.token = file_token = data_dir_token(cfg ? cfg : settings_only, url);
        json_decref(settings_only);
    }
    rc->rm = remote_new(url, &auth, e);
    free(file_token);
    if (!rc->rm) {
        sm_close(&rc->base);
        return -1;
    }
    rc->base.server = xstrdup(url);
    *out = &rc->base;
    return 0;
}

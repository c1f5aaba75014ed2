/* client.c - transport resolution, and local mode: each call forwards to the
 * in-process service, or (server mode) to server_mode.c over HTTP. */
#include "client/client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "core/service.h"
#include "lua/host.h"
#include "util/sbuf.h"

/* How long `run cancel` waits for the engine to act on the request. */
#define CLIENT_CANCEL_WAIT_MS 15000

static bool is_local_keyword(const char *s)
{
    return s == NULL || *s == '\0' || strcmp(s, "local") == 0;
}

static json_t *settings_of(json_t *config)
{
    return json_object_get(config, "settings");
}

/* settings.cli_server of a loaded config, or NULL. */
static const char *config_cli_server(json_t *config)
{
    return json_string_value(json_object_get(settings_of(config), "cli_server"));
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

/* Server mode: the client's own config is loaded for its settings (auth)
 * and the names only it defines; failing to load it is not fatal here. */
static int open_server_mode(cli_client *cl, const client_options *o, const char *url, sh_err *e)
{
    sh_err ce = SH_ERR_INIT;
    cl->host = host_new(&ce);
    if (cl->host && host_load_config(cl->host, o->config_path, &cl->config, &ce) != 0)
        cl->config = NULL;
    if (!cl->config)
        cl->config_error = xstrdup(ce.msg);
    cl->config_path = o->config_path ? xstrdup(o->config_path) : NULL;
    json_t *cfg = cl->config;
    remote_auth auth = {
        .token = auth_value(o->token, cfg, "SCRIPTHUT_API_TOKEN", "token"),
        .cf_client_id = auth_value(o->cf_client_id, cfg, "SCRIPTHUT_CF_CLIENT_ID", "cf_client_id"),
        .cf_client_secret =
            auth_value(o->cf_client_secret, cfg, "SCRIPTHUT_CF_CLIENT_SECRET", "cf_client_secret"),
        .cf_access_token =
            auth_value(o->cf_access_token, cfg, "SCRIPTHUT_CF_ACCESS_TOKEN", "cf_access_token"),
    };
    cl->rm = remote_new(url, &auth, e);
    if (!cl->rm)
        return -1;
    cl->server = xstrdup(url);
    return 0;
}

int client_open(const client_options *o, cli_client **out, sh_err *e)
{
    const char *chosen = o->server, *source = "--server";
    if (!chosen) {
        chosen = getenv("SCRIPTHUT_SERVER");
        source = "SCRIPTHUT_SERVER";
    }
    cli_client *cl = xcalloc(1, sizeof *cl);
    if (chosen && *chosen && !is_local_keyword(chosen)) {
        cl->source = source;
        if (open_server_mode(cl, o, chosen, e) != 0) {
            client_close(cl);
            return -1;
        }
        *out = cl;
        return 0;
    }
    svc *s = NULL;
    if (svc_open(o->config_path, &s, e) != 0) {
        client_close(cl);
        return -1;
    }
    /* The config's choice applies only when neither the flag nor the
     * environment said anything (an explicit "local" wins). */
    if (!chosen || !*chosen) {
        const char *from_config = config_cli_server(svc_config(s));
        if (!is_local_keyword(from_config)) {
            char *url = xstrdup(from_config);
            svc_close(s);
            cl->source = "settings.cli_server";
            int rc = open_server_mode(cl, o, url, e);
            free(url);
            if (rc != 0) {
                client_close(cl);
                return -1;
            }
            *out = cl;
            return 0;
        }
        source = "default";
    }
    cl->local = s;
    cl->server = xstrdup("local");
    cl->source = source;
    *out = cl;
    return 0;
}

void client_close(cli_client *cl)
{
    if (!cl)
        return;
    client_engine_release(cl);
    if (cl->local)
        svc_close(cl->local);
    if (cl->own)
        svc_close(cl->own);
    free(cl->config_path);
    remote_free(cl->rm);
    json_decref(cl->config);
    host_free(cl->host);
    free(cl->config_error);
    free(cl->server);
    free(cl);
}

const char *client_server(const cli_client *cl)
{
    return cl->server;
}
const char *client_server_source(const cli_client *cl)
{
    return cl->source;
}
struct svc *client_local_service(cli_client *cl)
{
    return cl->local;
}

int client_health(cli_client *cl, json_t **out, sh_err *e)
{
    if (!cl->rm)
        return sh_err_set(e, SH_EINVAL, "health is a server-mode call");
    return sm_health(cl, out, e);
}

int client_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                  json_t **summary, sh_err *e)
{
    if (cl->rm)
        return sm_submit(cl, run_name, backend, doc, summary, e);
    /* max_concurrent 0: no per-run cap beyond the backend's. */
    return svc_submit(cl->local, run_name, backend, doc, 0, summary, e);
}

int client_workflow_run(cli_client *cl, const char *name, const char *backend, json_t **summary,
                        sh_err *e)
{
    if (cl->rm)
        return sm_workflow_run(cl, name, backend, summary, e);
    return svc_workflow_run(cl->local, name, backend, summary, e);
}

int client_workflow_list(cli_client *cl, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_workflow_list(cl, out, e);
    return svc_workflow_list(cl->local, out, e);
}

int client_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                         sh_err *e)
{
    if (cl->rm)
        return sm_workflow_view(cl, name, backend, out, e);
    return svc_workflow_view(cl->local, name, backend, out, e);
}

int client_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_run_list(cl, limit, workflow, out, e);
    return svc_run_list(cl->local, limit, workflow, out, e);
}

int client_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_run_detail(cl, run_id, out, e);
    return svc_run_detail(cl->local, run_id, out, e);
}

int client_run_cancel(cli_client *cl, const char *run_id, json_t **summary, sh_err *e)
{
    if (cl->rm)
        return sm_run_cancel(cl, run_id, CLIENT_CANCEL_WAIT_MS, summary, e);
    return svc_run_cancel(cl->local, run_id, CLIENT_CANCEL_WAIT_MS, summary, e);
}

int client_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                     sh_err *e)
{
    if (cl->rm)
        return sm_run_rerun(cl, run_id, failed_only, summary, e);
    return svc_run_rerun(cl->local, run_id, failed_only, summary, e);
}

int client_run_delete(cli_client *cl, const char *run_id, sh_err *e)
{
    if (cl->rm)
        return sm_run_delete(cl, run_id, e);
    return svc_run_delete(cl->local, run_id, e);
}

int client_run_events(cli_client *cl, const char *run_id, long long after, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_run_events(cl, run_id, after, out, e);
    return svc_run_events(cl->local, run_id, after, out, e);
}

int client_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                    long tail_lines, char **content, sh_err *e)
{
    if (cl->rm)
        return sm_task_log(cl, run_id, task_id, error_log, tail_lines, content, e);
    return svc_task_log(cl->local, run_id, task_id, error_log ? "error" : "output", tail_lines,
                        content, e);
}

int client_backend_list(cli_client *cl, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_backend_list(cl, out, e);
    return svc_backend_list(cl->local, out, e);
}

int client_stack_list(cli_client *cl, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_stack_list(cl, out, e);
    return svc_stack_list(cl->local, out, e);
}

int client_stack_check(cli_client *cl, const char *name, const char *backend, json_t **out,
                       sh_err *e)
{
    if (cl->rm)
        return sm_stack_check(cl, name, backend, out, e);
    return svc_stack_check(cl->local, name, backend, out, e);
}

int client_stack_install(cli_client *cl, const char *name, const char *backend, bool rebuild,
                         json_t **summary, sh_err *e)
{
    if (cl->rm)
        return sm_stack_install(cl, name, backend, rebuild, summary, e);
    return svc_stack_install(cl->local, name, backend, rebuild, summary, e);
}

int client_stack_delete(cli_client *cl, const char *name, const char *backend, json_t **out,
                        sh_err *e)
{
    if (cl->rm)
        return sm_stack_delete(cl, name, backend, out, e);
    return svc_stack_delete(cl->local, name, backend, out, e);
}

int client_stack_gc(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e)
{
    if (cl->rm)
        return sm_stack_gc(cl, name, dry_run, out, e);
    return svc_stack_gc(cl->local, name, dry_run, out, e);
}

void client_engine_acquire(cli_client *cl)
{
    if (cl->engine_requested || cl->rm)
        return;
    cl->engine_requested = true;
    /* Not holding the lock is fine: another engine (serve, the detached
     * engine, another --watch) processes the run and we only observe. */
    svc_engine_acquire(cl->local);
}

int client_engine_wait(cli_client *cl, int max_wait_ms, sh_err *e)
{
    if (cl->rm) { /* the server is the engine: waiting is a sleep (EINTR ends it) */
        if (poll(NULL, 0, max_wait_ms) < 0 && errno != EINTR)
            return sh_err_set(e, SH_EINTERNAL, "poll: %s", strerror(errno));
        return 0;
    }
    return svc_engine_step(cl->local, max_wait_ms, e);
}

void client_engine_release(cli_client *cl)
{
    if (!cl->engine_requested)
        return;
    cl->engine_requested = false;
    svc_engine_release(cl->local);
}

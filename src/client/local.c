/* local.c - the client in local mode: each operation of client.h performed
 * on the service (core/service.h) in this process. */
#include <stdlib.h>

#include "client/client_internal.h"
#include "core/service.h"
#include "util/sbuf.h"

typedef struct local_client {
    cli_client base;
    svc *s;
    bool engine_requested; /* engine_acquire was called */
} local_client;

static svc *svc_of(cli_client *cl)
{
    return ((local_client *)cl)->s;
}

static void local_engine_release(cli_client *cl)
{
    local_client *lc = (local_client *)cl;
    if (!lc->engine_requested)
        return;
    lc->engine_requested = false;
    svc_engine_release(lc->s);
}

static void local_close(cli_client *cl)
{
    local_client *lc = (local_client *)cl;
    local_engine_release(cl);
    svc_close(lc->s);
    free(lc->base.server);
    free(lc);
}

/* --- runs and workflows --------------------------------------------------------- */

static int local_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                        json_t **summary, sh_err *e)
{
    /* max_concurrent 0: no per-run cap beyond the backend's. */
    return svc_submit(svc_of(cl), run_name, backend, doc, 0, summary, e);
}

static int local_workflow_run(cli_client *cl, const char *name, const char *backend,
                              json_t **summary, sh_err *e)
{
    return svc_workflow_run(svc_of(cl), name, backend, summary, e);
}

static int local_workflow_list(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_workflow_list(svc_of(cl), out, e);
}

static int local_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                               sh_err *e)
{
    return svc_workflow_view(svc_of(cl), name, backend, out, e);
}

static int local_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e)
{
    return svc_run_list(svc_of(cl), limit, workflow, out, e);
}

static int local_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e)
{
    return svc_run_detail(svc_of(cl), run_id, out, e);
}

static int local_run_cancel(cli_client *cl, const char *run_id, json_t **summary, sh_err *e)
{
    return svc_run_cancel(svc_of(cl), run_id, CLIENT_CANCEL_WAIT_MS, summary, e);
}

static int local_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                           sh_err *e)
{
    return svc_run_rerun(svc_of(cl), run_id, failed_only, summary, e);
}

static int local_run_delete(cli_client *cl, const char *run_id, sh_err *e)
{
    return svc_run_delete(svc_of(cl), run_id, e);
}

static int local_run_events(cli_client *cl, const char *run_id, long long after, json_t **out,
                            sh_err *e)
{
    return svc_run_events(svc_of(cl), run_id, after, out, e);
}

static int local_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                          long tail_lines, char **content, sh_err *e)
{
    return svc_task_log(svc_of(cl), run_id, task_id, error_log ? "error" : "output", tail_lines,
                        content, e);
}

static int local_backend_list(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_backend_list(svc_of(cl), out, e);
}

/* --- stacks ------------------------------------------------------------------------ */

static int local_stack_list(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_stack_list(svc_of(cl), out, e);
}

static int local_stack_check(cli_client *cl, const char *name, const char *backend, json_t **out,
                             sh_err *e)
{
    return svc_stack_check(svc_of(cl), name, backend, out, e);
}

static int local_stack_install(cli_client *cl, const char *name, const char *backend, bool rebuild,
                               json_t **summary, sh_err *e)
{
    return svc_stack_install(svc_of(cl), name, backend, rebuild, summary, e);
}

static int local_stack_delete(cli_client *cl, const char *name, const char *backend, json_t **out,
                              sh_err *e)
{
    return svc_stack_delete(svc_of(cl), name, backend, out, e);
}

static int local_stack_gc(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e)
{
    return svc_stack_gc(svc_of(cl), name, dry_run, out, e);
}

static int local_stack_script(cli_client *cl, const char *name, bool rebuild, char **script,
                              sh_err *e)
{
    return svc_stack_script(svc_of(cl), name, rebuild, script, e);
}

/* --- this machine ------------------------------------------------------------------ */

/* [{"name","type","defined_at","connected","active_jobs","last_error"}]: the
 * config merged with what the engine last saw (svc_backend_list); empty when
 * that fails. */
static json_t *status_backends(svc *s)
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

/* Never fails: what cannot be learnt is left out. */
static int local_status(cli_client *cl, json_t **out, sh_err *e)
{
    svc *s = svc_of(cl);
    json_t *info = json_object();
    json_t *files = json_object_get(svc_config(s), "files");
    if (files)
        json_object_set(info, "config_files", files);
    json_object_set_new(info, "data_dir", json_string(svc_data_dir(s)));
    json_t *engine = NULL;
    sh_err ignored = SH_ERR_INIT;
    if (svc_daemon_status(s, &engine, &ignored) == 0)
        json_object_set_new(info, "engine", engine);
    json_object_set_new(info, "backends", status_backends(s));
    *out = info;
    return 0;
}

static int local_exec(cli_client *cl, const char *backend, const char *command, int timeout_ms,
                      exec_result *r, sh_err *e)
{
    return svc_backend_exec(svc_of(cl), backend, command, timeout_ms, r, e);
}

static int local_config(cli_client *cl, json_t **out, sh_err *e)
{
    *out = json_incref(svc_config(svc_of(cl)));
    return 0;
}

static int local_daemon_status(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_daemon_status(svc_of(cl), out, e);
}

static int local_daemon_start(cli_client *cl, sh_err *e)
{
    return svc_engine_ensure(svc_of(cl), e);
}

static int local_daemon_stop(cli_client *cl, int wait_ms, sh_err *e)
{
    return svc_daemon_stop(svc_of(cl), wait_ms, e);
}

/* --- engine participation --------------------------------------------------------- */

static void local_engine_acquire(cli_client *cl)
{
    local_client *lc = (local_client *)cl;
    if (lc->engine_requested)
        return;
    lc->engine_requested = true;
    /* Not holding the lock is fine: another engine (serve, the detached
     * engine, another --watch) processes the run and we only observe. */
    svc_engine_acquire(lc->s);
}

static int local_engine_wait(cli_client *cl, int max_wait_ms, sh_err *e)
{
    return svc_engine_step(svc_of(cl), max_wait_ms, e);
}

static const struct client_ops local_ops = {
    .close = local_close,
    .submit = local_submit,
    .workflow_run = local_workflow_run,
    .workflow_list = local_workflow_list,
    .workflow_view = local_workflow_view,
    .run_list = local_run_list,
    .run_detail = local_run_detail,
    .run_cancel = local_run_cancel,
    .run_rerun = local_run_rerun,
    .run_delete = local_run_delete,
    .run_events = local_run_events,
    .task_log = local_task_log,
    .backend_list = local_backend_list,
    .stack_list = local_stack_list,
    .stack_check = local_stack_check,
    .stack_install = local_stack_install,
    .stack_delete = local_stack_delete,
    .stack_gc = local_stack_gc,
    .status = local_status,
    .exec = local_exec,
    .config = local_config,
    .stack_script = local_stack_script,
    .daemon_status = local_daemon_status,
    .daemon_start = local_daemon_start,
    .daemon_stop = local_daemon_stop,
    .engine_acquire = local_engine_acquire,
    .engine_wait = local_engine_wait,
    .engine_release = local_engine_release,
};

cli_client *local_client_new(struct svc *s, const char *source)
{
    local_client *lc = xcalloc(1, sizeof *lc);
    lc->base.ops = &local_ops;
    lc->base.server = xstrdup("local");
    lc->base.source = source;
    lc->s = s;
    return &lc->base;
}

int client_run_engine(const char *config_path, const char *data_dir, double poll_interval,
                      int retention_days, sh_err *e)
{
    svc *s = NULL;
    int opened = data_dir ? svc_open_engine_only(data_dir, poll_interval, retention_days, &s, e)
                          : svc_open(config_path, &s, e);
    if (opened != 0)
        return -1;
    int rc = svc_daemon_run(s, e);
    svc_close(s);
    return rc;
}

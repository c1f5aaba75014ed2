/* api.c - the /api/v1 routes (docs/api.md): a table of method + pattern ->
 * handler, path parameters checked once in the router, and handlers that call
 * the service the router hands them (r->svc) and reply in its JSON shapes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/service.h"
#include "http/http_internal.h"
#include "util/sbuf.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

/* The longest a cancel request may wait for the engine to act. */
#define CANCEL_MAX_WAIT_S 30

/* Replies with the result of a service call: out on success, the error
 * otherwise. */
static int reply_result(http_req *r, int rc, json_t *out, const sh_err *e)
{
    if (rc != 0)
        return http_reply_sh_err(r, e);
    return http_reply_json(r, 200, out);
}

/* The whole handler of a read that takes no parameters: the call on the
 * service the router handed over, the reply. */
static int reply_read(http_req *r, svc *s, int (*read)(svc *, json_t **, sh_err *))
{
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    int rc = read(s, &out, &e);
    return reply_result(r, rc, out, &e);
}

/* --- health, backends, session, openapi -------------------------------------- */

static json_t *health_backends(http_req *r)
{
    json_t *out = json_array();
    if (r->srv->config_error)
        return out;
    sh_err e = SH_ERR_INIT;
    svc *s = http_thread_service(r, &e);
    json_t *list = NULL;
    if (!s || svc_backend_list(s, &list, &e) != 0)
        return out;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(list, "backends"), i, b) json_array_append_new(
        out, json_pack("{s:O?,s:O?,s:O?}", "name", json_object_get(b, "name"), "type",
                       json_object_get(b, "type"), "connected", json_object_get(b, "connected")));
    json_decref(list);
    return out;
}

static int api_health(http_req *r)
{
    http_server *srv = r->srv;
    return http_reply_json(r, 200,
                           json_pack("{s:s,s:s,s:b,s:s?,s:s?,s:{s:b,s:I},s:o}", "status", "ok",
                                     "version", SCRIPTHUT_VERSION, "config_loaded",
                                     srv->config_error == NULL, "config_error", srv->config_error,
                                     "data_dir", srv->data_dir, "engine", "running",
                                     srv->engine_running, "pid", (json_int_t)getpid(), "backends",
                                     health_backends(r)));
}

/* Answers in degraded mode too (an empty list), so the router does not
 * hand it a service: it opens the thread's own. */
static int api_backends(http_req *r)
{
    if (r->srv->config_error)
        return http_reply_json(r, 200, json_pack("{s:[]}", "backends"));
    sh_err e = SH_ERR_INIT;
    svc *s = http_thread_service(r, &e);
    if (!s)
        return http_reply_sh_err(r, &e);
    return reply_read(r, s, svc_backend_list);
}

/* --- runs ---------------------------------------------------------------------- */

static int api_runs_list(http_req *r)
{
    long long limit;
    int rc = http_query_int(r, "limit", 0, 0, 1000000, &limit);
    if (rc)
        return rc;
    char *workflow = http_query(r, "workflow");
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_run_list(r->svc, (int)limit, workflow && *workflow ? workflow : NULL, &out, &e);
    free(workflow);
    return reply_result(r, rc, out, &e);
}

static int api_run_detail(http_req *r)
{
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    int rc = svc_run_detail(r->svc, r->params[0], &out, &e);
    return reply_result(r, rc, out, &e);
}

static int api_run_cancel(http_req *r)
{
    long long wait_s;
    int rc = http_query_int(r, "wait", 0, 0, CANCEL_MAX_WAIT_S, &wait_s);
    if (rc)
        return rc;
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    if (svc_run_cancel(r->svc, r->params[0], (int)wait_s * 1000, &summary, &e) != 0)
        return http_reply_sh_err(r, &e);
    http_notify_change(r->srv);
    /* The original's {"run_id", "cancelled": true}, plus the run summary. */
    json_object_set_new(summary, "run_id", json_string(r->params[0]));
    json_object_set_new(summary, "cancelled", json_true());
    return http_reply_json(r, 200, summary);
}

static int api_run_rerun(http_req *r)
{
    bool failed_only;
    int rc = http_query_bool(r, "failed_only", false, &failed_only);
    if (rc)
        return rc;
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_run_rerun(r->svc, r->params[0], failed_only, &summary, &e);
    if (rc == 0)
        http_notify_change(r->srv);
    return reply_result(r, rc, summary, &e);
}

static int api_run_delete(http_req *r)
{
    sh_err e = SH_ERR_INIT;
    if (svc_run_delete(r->svc, r->params[0], &e) != 0)
        return http_reply_sh_err(r, &e);
    http_notify_change(r->srv);
    return http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", r->params[0], "deleted", 1));
}

static int api_run_events(http_req *r)
{
    long long after;
    int rc = http_query_int(r, "after", 0, 0, (long long)1 << 62, &after);
    if (rc)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_run_events(r->svc, r->params[0], after, &out, &e);
    return reply_result(r, rc, out, &e);
}

static int api_task_logs(http_req *r)
{
    char *type = http_query(r, "type");
    const char *which = type ? type : "output";
    long long tail;
    bool follow;
    int rc = 0;
    if (strcmp(which, "output") && strcmp(which, "error"))
        rc = http_reply_error(r, 422, "query parameter 'type' must be 'output' or 'error'");
    if (!rc)
        rc = http_query_int(r, "tail", 0, 0, 100000000, &tail);
    if (!rc)
        rc = http_query_bool(r, "follow", false, &follow);
    if (rc) {
        free(type);
        return rc;
    }
    if (follow) {
        rc = http_sse_task_log(r, r->params[0], r->params[1], which);
        free(type);
        return rc;
    }
    char *content = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_task_log(r->svc, r->params[0], r->params[1], which, (long)tail, &content, &e);
    if (rc != 0) {
        free(type);
        return http_reply_sh_err(r, &e);
    }
    json_t *out = json_pack("{s:s,s:s,s:s,s:s?}", "run_id", r->params[0], "task_id", r->params[1],
                            "type", which, "content", content);
    if (!out) /* not UTF-8: JSON cannot carry it as a string */
        out = json_pack("{s:s,s:s,s:s,s:n}", "run_id", r->params[0], "task_id", r->params[1],
                        "type", which, "content");
    free(content);
    free(type);
    return http_reply_json(r, 200, out);
}

/* --- submissions ---------------------------------------------------------------- */

/* The workflow document of a submission body: {"tasks": [...]} from "task"
 * (one object, the original's shape) or "tasks" (a resolved list), with
 * "env" and "env_groups" when given.  NULL after replying 422. */
static json_t *body_document(http_req *r, json_t *body, int *rc)
{
    json_t *task = json_object_get(body, "task"), *tasks = json_object_get(body, "tasks");
    json_t *doc = NULL;
    if (json_is_object(task) && !tasks)
        doc = json_pack("{s:[O]}", "tasks", task);
    else if (json_is_array(tasks) && !task)
        doc = json_pack("{s:O}", "tasks", tasks);
    if (!doc) {
        *rc = http_reply_error(r, 422,
                               "payload must contain 'task' (dict) or 'tasks' (list) "
                               "and 'backend' (str)");
        return NULL;
    }
    const char *keys[] = {"env", "env_groups"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(body, keys[i]))
            json_object_set(doc, keys[i], json_object_get(body, keys[i]));
    return doc;
}

/* "max_concurrent" of a body: absent/null -> 0 (no cap); else a positive
 * integer.  -1 after replying 422. */
static int body_max_concurrent(http_req *r, json_t *body, int *rc)
{
    json_t *mc = json_object_get(body, "max_concurrent");
    if (!mc || json_is_null(mc))
        return 0;
    if (!json_is_integer(mc) || json_integer_value(mc) < 0 || json_integer_value(mc) > 1000000) {
        *rc = http_reply_error(r, 422, "'max_concurrent' must be a non-negative integer");
        return -1;
    }
    return (int)json_integer_value(mc);
}

static int submit_body(http_req *r, json_t *body, const char *label, const char *backend)
{
    int rc = 0;
    json_t *doc = body_document(r, body, &rc);
    if (!doc)
        return rc;
    int max_concurrent = body_max_concurrent(r, body, &rc);
    if (max_concurrent < 0) {
        json_decref(doc);
        return rc;
    }
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_submit(r->svc, label, backend, doc, max_concurrent, &summary, &e);
    json_decref(doc);
    if (rc == 0)
        http_notify_change(r->srv);
    return reply_result(r, rc, summary, &e);
}

static int api_tasks_run(http_req *r)
{
    json_t *body = NULL;
    int rc = http_read_json_body(r, false, &body);
    if (rc)
        return rc;
    const char *backend = json_string_value(json_object_get(body, "backend"));
    json_t *run_name = json_object_get(body, "run_name");
    if (!backend || !*backend ||
        (run_name && !json_is_null(run_name) &&
         (!json_is_string(run_name) || !*json_string_value(run_name)))) {
        json_decref(body);
        return http_reply_error(r, 422,
                                "payload must contain 'task' (dict) and 'backend' (str); "
                                "'run_name' must be a non-empty string when given");
    }
    json_t *task = json_object_get(body, "task");
    const char *id = json_string_value(json_object_get(task, "id"));
    char *label = json_is_string(run_name) ? xstrdup(json_string_value(run_name))
                                           : xasprintf("_adhoc/%s", id ? id : "task");
    rc = submit_body(r, body, label, backend);
    free(label);
    json_decref(body);
    return rc;
}

/* --- workflows ------------------------------------------------------------------- */

static int api_workflows_list(http_req *r)
{
    return reply_read(r, r->svc, svc_workflow_list);
}

static int api_workflow_view(http_req *r)
{
    char *backend = http_query(r, "backend");
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    int rc =
        svc_workflow_view(r->svc, r->params[0], backend && *backend ? backend : NULL, &out, &e);
    free(backend);
    return reply_result(r, rc, out, &e);
}

/* POST /workflows/{name}/run: the server's definition, or (DESIGN §1) the
 * client's resolved task list in the body when only the client defines it. */
static int api_workflow_run(http_req *r)
{
    json_t *body = NULL;
    int rc = http_read_json_body(r, true, &body);
    if (rc)
        return rc;
    char *backend = http_query(r, "backend");
    const char *chosen = backend && *backend ? backend : NULL;
    if (!chosen)
        chosen = json_string_value(json_object_get(body, "backend"));
    if (body && (json_object_get(body, "tasks") || json_object_get(body, "task"))) {
        rc = submit_body(r, body, r->params[0], chosen ? chosen : "local");
    } else {
        json_t *summary = NULL;
        sh_err e = SH_ERR_INIT;
        rc = svc_workflow_run(r->svc, r->params[0], chosen, &summary, &e);
        if (rc == 0)
            http_notify_change(r->srv);
        rc = reply_result(r, rc, summary, &e);
    }
    free(backend);
    json_decref(body);
    return rc;
}

/* --- stacks (core/service.h, svc_stack_*) -------------------------------------------- */

static int api_stacks_list(http_req *r)
{
    return reply_read(r, r->svc, svc_stack_list);
}

/* ?backend= (NULL when absent or empty; caller frees). */
static char *query_backend(http_req *r)
{
    char *b = http_query(r, "backend");
    if (b && !*b) {
        free(b);
        b = NULL;
    }
    return b;
}

/* GET /stacks/{name}/check?backend=B: the status object itself, the
 * original's shape (its clients read it); without a backend, and for GET
 * /stacks/check, {"checks": [rows]} over every backend (docs/api.md). */
static int api_stack_check(http_req *r)
{
    char *backend = query_backend(r);
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    int rc = r->nparams && backend
                 ? svc_stack_check_on(r->svc, r->params[0], backend, &out, &e)
                 : svc_stack_check(r->svc, r->nparams ? r->params[0] : NULL, backend, &out, &e);
    free(backend);
    return reply_result(r, rc, out, &e);
}

/* Returns the new run's summary at once; the install proceeds as a run. */
static int api_stack_install(http_req *r)
{
    bool rebuild;
    int rc = http_query_bool(r, "rebuild", false, &rebuild);
    if (rc)
        return rc;
    char *backend = query_backend(r);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_stack_install(r->svc, r->params[0], backend, rebuild, &summary, &e);
    free(backend);
    if (rc == 0)
        http_notify_change(r->srv);
    return reply_result(r, rc, summary, &e);
}

static int api_stack_delete(http_req *r)
{
    char *backend = query_backend(r);
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    /* One backend: also the original's {"name", "backend"} and an error when
     * the removal failed, which its client would otherwise show as done. */
    int rc = backend ? svc_stack_delete_on(r->svc, r->params[0], backend, &out, &e)
                     : svc_stack_delete(r->svc, r->params[0], backend, &out, &e);
    free(backend);
    return reply_result(r, rc, out, &e);
}

static int api_stacks_gc(http_req *r)
{
    bool dry_run;
    int rc = http_query_bool(r, "dry_run", false, &dry_run);
    if (rc)
        return rc;
    char *name = http_query(r, "name");
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    rc = svc_stack_gc(r->svc, name && *name ? name : NULL, dry_run, &out, &e);
    free(name);
    return reply_result(r, rc, out, &e);
}

/* --- what the original has and this server does not --------------------------------- */

/* Its clients get a 404 that says so, not "Not Found" (which reads as an
 * older server): docs/api.md, "Differences from the original". */
static int not_supported(http_req *r, const char *feature)
{
    return http_reply_error(r, 404, "not supported by this server: %s", feature);
}

static int api_run_manifest(http_req *r)
{
    return not_supported(r, "run manifest");
}

static int api_task_probe(http_req *r)
{
    return not_supported(r, "task probe");
}

static int api_disk(http_req *r)
{
    return not_supported(r, "disk");
}

/* --- the table ---------------------------------------------------------------------- */

const http_route http_api_routes[] = {
    {"GET", "/health", api_health, false},
    {"GET", "/openapi.json", http_openapi, false},
    {"GET", "/session", http_session_status, false},
    {"POST", "/session", http_session_login, false},
    {"DELETE", "/session", http_session_logout, false},
    {"GET", "/backends", api_backends, false},
    {"GET", "/events", http_sse_events, true},
    {"GET", "/runs", api_runs_list, true},
    {"GET", "/runs/{run_id}", api_run_detail, true},
    {"DELETE", "/runs/{run_id}", api_run_delete, true},
    {"POST", "/runs/{run_id}/cancel", api_run_cancel, true},
    {"POST", "/runs/{run_id}/rerun", api_run_rerun, true},
    {"GET", "/runs/{run_id}/events", api_run_events, true},
    {"GET", "/runs/{run_id}/tasks/{task_id}/logs", api_task_logs, true},
    {"GET", "/runs/{run_id}/tasks/{task_id}/manifest", api_run_manifest, false},
    {"POST", "/tasks/run", api_tasks_run, true},
    {"POST", "/tasks/probe", api_task_probe, false},
    {"GET", "/disk", api_disk, false},
    {"POST", "/disk/scan", api_disk, false},
    {"POST", "/disk/clean", api_disk, false},
    {"GET", "/workflows", api_workflows_list, true},
    {"GET", "/workflows/{name}", api_workflow_view, true},
    {"POST", "/workflows/{name}/run", api_workflow_run, true},
    {"GET", "/stacks", api_stacks_list, true},
    {"POST", "/stacks/gc", api_stacks_gc, true},
    {"GET", "/stacks/check", api_stack_check, true},
    {"GET", "/stacks/{name}/check", api_stack_check, true},
    {"POST", "/stacks/{name}/install", api_stack_install, true},
    {"DELETE", "/stacks/{name}", api_stack_delete, true},
    {NULL, NULL, NULL, false},
};

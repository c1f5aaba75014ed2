/* service.c - user-facing operations over the config, the store and the
 * engine; shared by the CLI (local mode), the API and the Lua module. */
#include "core/service.h"
#include "core/service_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "model/dag.h"
#include "core/engine.h"
#include "model/model.h"
#include "model/stack.h"
#include "core/store.h"
#include "lua/host.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *settings(svc *s)
{
    return json_object_get(s->config, "settings");
}

static int svc_init_store(svc *s, sh_err *e)
{
    if (store_open(s->data_dir, &s->st, e) < 0)
        return -1;
    return 0;
}

typedef int (*config_loader)(struct host *h, const char *explicit_path, json_t **config, sh_err *e);

static int svc_open_with(config_loader load, const char *explicit_config, svc **out, sh_err *e)
{
    svc *s = xcalloc(1, sizeof *s);
    s->lock_fd = -1;
    s->host = host_new(e);
    if (!s->host)
        goto fail;
    if (load(s->host, explicit_config, &s->config, e) < 0)
        goto fail;
    /* Stacks get their identity hash here, so every run's frozen context
     * (and env.lua's STACK_DIR) carries it. */
    stack_hash_all(json_object_get(s->config, "stacks"), false);
    const char *dd = jstr(settings(s), "data_dir");
    if (!dd)
        dd = "~/.local/share/scripthut";
    s->data_dir = fs_absolute(dd, NULL);
    json_t *pi = json_object_get(settings(s), "poll_interval");
    s->poll_interval = json_is_number(pi) ? json_number_value(pi) : 60;
    json_t *rd = json_object_get(settings(s), "retention_days");
    s->retention_days = json_is_integer(rd) ? (int)json_integer_value(rd) : 30;
    if (svc_init_store(s, e) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    svc_close(s);
    return -1;
}

int svc_open(const char *explicit_config, svc **out, sh_err *e)
{
    return svc_open_with(host_load_config, explicit_config, out, e);
}

int svc_open_settings(const char *explicit_config, svc **out, sh_err *e)
{
    return svc_open_with(host_load_settings, explicit_config, out, e);
}

int svc_open_engine_only(const char *data_dir, double poll_interval, int retention_days, svc **out,
                         sh_err *e)
{
    svc *s = xcalloc(1, sizeof *s);
    s->lock_fd = -1;
    s->host = host_new(e);
    if (!s->host)
        goto fail;
    s->config = json_object();
    s->data_dir = fs_absolute(data_dir, NULL);
    s->poll_interval = poll_interval;
    s->retention_days = retention_days;
    if (svc_init_store(s, e) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    svc_close(s);
    return -1;
}

void svc_close(svc *s)
{
    if (!s)
        return;
    if (s->en || s->lock_fd >= 0)
        svc_engine_release(s);
    store_close(s->st);
    host_free(s->host);
    json_decref(s->config);
    free(s->data_dir);
    free(s);
}

json_t *svc_config(svc *s)
{
    return s->config;
}
struct host *svc_host(svc *s)
{
    return s->host;
}
const char *svc_data_dir(svc *s)
{
    return s->data_dir;
}

/* Every public operation ends through here so no statement keeps a read
 * transaction open between calls. */
int svc_done(svc *s, int rc)
{
    if (s->st)
        store_release(s->st);
    return rc;
}

/* --- config lookups --------------------------------------------------------- */

json_t *svc_find_named(json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!strcmp(jstr(v, "name") ? jstr(v, "name") : "", name))
            return v;
    }
    return NULL;
}

char *svc_known_names(json_t *list)
{
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        sbuf_printf(&b, "%s%s", i ? ", " : "", jstr(v, "name"));
    }
    if (!b.len)
        sbuf_puts(&b, "(none)");
    return sbuf_detach(&b);
}

json_t *svc_find_backend(svc *s, const char *name, sh_err *e)
{
    json_t *backends = json_object_get(s->config, "backends");
    json_t *b = svc_find_named(backends, name);
    if (b)
        return b;
    char *known = svc_known_names(backends);
    sh_err_set(e, SH_EINVAL, "Backend '%s' not found in config (known backends: %s)", name, known);
    free(known);
    return NULL;
}

/* The run's frozen context: everything the engine needs later, so the engine
 * does not depend on which config file the submitting process loaded. */
json_t *svc_run_context(svc *s, json_t *bcfg, json_t *doc_env, json_t *doc_groups)
{
    json_t *groups = json_object();
    json_object_update(groups, json_object_get(bcfg, "env_groups"));
    json_object_update(groups, json_object_get(s->config, "env_groups"));
    if (doc_groups)
        json_object_update(groups, doc_groups);
    json_t *stacks = json_object();
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(s->config, "stacks"), i, st)
    {
        json_object_set(stacks, jstr(st, "name"), st);
    }
    json_t *benv = json_object_get(bcfg, "env");
    json_t *senv = json_object_get(s->config, "env");
    json_t *env = json_object();
    json_object_set_new(env, "backend", benv ? json_incref(benv) : json_array());
    json_object_set_new(env, "server", senv ? json_incref(senv) : json_array());
    json_object_set_new(env, "workflow", doc_env ? json_incref(doc_env) : json_array());
    return json_pack("{s:O,s:o,s:o,s:o}", "backend", bcfg, "env", env, "env_groups", groups,
                     "stacks", stacks);
}

/* --- submission --------------------------------------------------------------- */

static int insert_with_new_id(svc *s, store_run_new *r, task_def *tasks, size_t n, const bool *keep,
                              char **run_id, sh_err *e)
{
    char id[9];
    for (int attempt = 0; attempt < 5; attempt++) {
        store_new_run_id(id);
        r->id = id;
        free((char *)r->log_dir);
        r->log_dir = xasprintf("%s/logs/%s", s->data_dir, id);
        sh_err ie = SH_ERR_INIT;
        if (store_insert_run(s->st, r, tasks, n, keep, run_id, &ie) == 0)
            return 0;
        if (!strstr(ie.msg, "UNIQUE")) {
            *e = ie;
            return -1;
        }
    }
    return sh_err_set(e, SH_EINTERNAL, "could not allocate a unique run id");
}

static int submit_tasks(svc *s, const char *workflow_name, const char *backend_name,
                        task_def *tasks, size_t n, json_t *doc_env, json_t *doc_groups,
                        int max_concurrent, const bool *keep, const char *rerun_of,
                        json_t *frozen_context, json_t **summary, sh_err *e)
{
    if (n == 0)
        return sh_err_set(e, SH_EINVAL, "No tasks for workflow '%s'", workflow_name);
    json_t *ctx = frozen_context ? json_incref(frozen_context) : NULL;
    if (!ctx) {
        json_t *bcfg = svc_find_backend(s, backend_name, e);
        if (!bcfg)
            return -1;
        sh_err be = SH_ERR_INIT;
        backend *probe = backend_create(backend_name, bcfg, s->data_dir, &be);
        if (!probe)
            return sh_err_set(e, SH_EINVAL, "Backend '%s' is not available: %s", backend_name,
                              be.msg);
        backend_destroy(probe);
        ctx = svc_run_context(s, bcfg, doc_env, doc_groups);
    }
    store_run_new r = {
        .workflow_name = workflow_name,
        .backend_name = backend_name,
        .created_at = time_now_us(),
        .max_concurrent = max_concurrent,
        .account = jstr(json_object_get(ctx, "backend"), "account"),
        .context = ctx,
        .rerun_of = rerun_of,
    };
    char *run_id = NULL;
    int rc = insert_with_new_id(s, &r, tasks, n, keep, &run_id, e);
    free((char *)r.log_dir);
    json_decref(ctx);
    if (rc < 0)
        return -1;
    rc = store_run_summary_json(s->st, run_id, summary, e);
    free(run_id);
    store_release(s->st);
    /* Submissions wake the engine at once (or start the detached one). */
    if (rc == 0 && svc_engine_ensure(s, e) < 0) {
        json_decref(*summary);
        *summary = NULL;
        return -1;
    }
    return rc;
}

int svc_submit(svc *s, const char *workflow_name, const char *backend_name, json_t *doc,
               int max_concurrent, json_t **summary, sh_err *e)
{
    task_def *tasks = NULL;
    size_t n = 0;
    json_t *doc_env = NULL, *doc_groups = NULL, *normal = NULL, *with_installs = NULL;
    char *where = xasprintf("workflow '%s'", workflow_name);
    int rc = host_env_normalize_document(s->host, doc, where, &normal, e);
    if (rc == 0)
        rc = svc_stack_add_installs(s, workflow_name, backend_name, normal, &with_installs, e);
    if (rc == 0)
        rc = workflow_doc_parse(with_installs ? with_installs : normal, where, &tasks, &n, &doc_env,
                                &doc_groups, e);
    free(where);
    json_decref(normal);
    json_decref(with_installs);
    if (rc < 0)
        return svc_done(s, -1);
    rc = dag_expand_and_validate(tasks, n, 0, e);
    if (rc == 0)
        rc = submit_tasks(s, workflow_name, backend_name, tasks, n, doc_env, doc_groups,
                          max_concurrent, NULL, NULL, NULL, summary, e);
    task_def_free_array(tasks, n);
    json_decref(doc_env);
    json_decref(doc_groups);
    return svc_done(s, rc);
}

static json_t *find_workflow(svc *s, const char *name, sh_err *e)
{
    json_t *wfs = json_object_get(s->config, "workflows");
    json_t *wf = svc_find_named(wfs, name);
    if (!wf) {
        char *known = svc_known_names(wfs);
        sh_err_set(e, SH_ENOTFOUND, "Workflow '%s' not found (known workflows: %s)", name, known);
        free(known);
    }
    return wf;
}

static const char *workflow_backend(json_t *wf, const char *override)
{
    if (override)
        return override;
    return jstr(wf, "backend") ? jstr(wf, "backend") : "local";
}

int svc_workflow_run(svc *s, const char *name, const char *backend_override, json_t **summary,
                     sh_err *e)
{
    json_t *wf = find_workflow(s, name, e);
    if (!wf)
        return svc_done(s, -1);
    json_t *doc = NULL;
    if (host_workflow_document(s->host, name, &doc, e) < 0)
        return svc_done(s, -1);
    json_t *mc = json_object_get(wf, "max_concurrent");
    int rc = svc_submit(s, name, workflow_backend(wf, backend_override), doc,
                        json_is_integer(mc) ? (int)json_integer_value(mc) : 0, summary, e);
    json_decref(doc);
    return rc;
}

int svc_workflow_list(svc *s, json_t **out, sh_err *e)
{
    (void)e;
    json_t *list = json_array();
    size_t i;
    json_t *wf;
    json_array_foreach(json_object_get(s->config, "workflows"), i, wf)
    {
        json_array_append_new(list, json_deep_copy(wf));
    }
    *out = json_pack("{s:o}", "workflows", list);
    return 0;
}

int svc_workflow_view(svc *s, const char *name, const char *backend_override, json_t **out,
                      sh_err *e)
{
    json_t *wf = find_workflow(s, name, e);
    if (!wf)
        return svc_done(s, -1);
    const char *backend_name = workflow_backend(wf, backend_override);
    json_t *bcfg = svc_find_backend(s, backend_name, e);
    if (!bcfg)
        return svc_done(s, -1);
    json_t *doc = NULL;
    if (host_workflow_document(s->host, name, &doc, e) < 0)
        return svc_done(s, -1);
    task_def *tasks = NULL;
    size_t n = 0;
    json_t *doc_env = NULL, *doc_groups = NULL, *normal = NULL;
    char *where = xasprintf("workflow '%s'", name);
    int rc = host_env_normalize_document(s->host, doc, where, &normal, e);
    if (rc == 0)
        rc = workflow_doc_parse(normal, where, &tasks, &n, &doc_env, &doc_groups, e);
    free(where);
    json_decref(normal);
    json_decref(doc);
    if (rc < 0)
        return svc_done(s, -1);
    if (n == 0)
        rc = sh_err_set(e, SH_EINVAL, "No tasks for workflow '%s'", name);
    if (rc == 0)
        rc = dag_expand_and_validate(tasks, n, 0, e);
    json_t *ctx = rc == 0 ? svc_run_context(s, bcfg, doc_env, doc_groups) : NULL;
    json_t *jobs = json_array(), *task_list = json_array();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *t = task_def_to_json(&tasks[i]);
        json_array_append(task_list, t);
        char *enc = fs_encode_name(tasks[i].id);
        char *outp = xasprintf("%s/logs/preview/%s.out", s->data_dir, enc);
        char *errp = xasprintf("%s/logs/preview/%s.err", s->data_dir, enc);
        char *tag = xasprintf("sh-preview-%s-1", tasks[i].id);
        json_array_append_new(jobs, json_pack("{s:s,s:o,s:s,s:i,s:s,s:s}", "run_id", "preview",
                                              "task", t, "tag", tag, "attempt", 1, "out_path", outp,
                                              "err_path", errp));
        free(enc);
        free(outp);
        free(errp);
        free(tag);
    }
    json_t *scripts = json_array();
    if (rc == 0) {
        json_t *runctx = json_object();
        json_object_set(runctx, "backend", bcfg);
        char now[ISO8601_LEN];
        time_format_iso(time_now_us(), now);
        json_object_set_new(runctx, "seed",
                            json_pack("[[s,s],[s,s],[s,s],[s,s]]", "SCRIPTHUT_BACKEND",
                                      backend_name, "SCRIPTHUT_WORKFLOW", name, "SCRIPTHUT_RUN_ID",
                                      "preview", "SCRIPTHUT_CREATED_AT", now));
        json_object_set(runctx, "env", json_object_get(ctx, "env"));
        json_object_set(runctx, "env_groups", json_object_get(ctx, "env_groups"));
        json_object_set(runctx, "stacks", json_object_get(ctx, "stacks"));
        json_t *batch = json_pack("{s:{s:o},s:O}", "runs", "preview", runctx, "jobs", jobs);
        json_t *results = NULL;
        rc = host_prepare_jobs(s->host, batch, &results, e);
        json_decref(batch);
        size_t i;
        json_t *res;
        json_array_foreach(results, i, res)
        {
            json_t *item = json_object();
            json_object_set_new(item, "task_id", json_string(tasks[i].id));
            json_object_set(item, "script", json_object_get(res, "script"));
            json_object_set(item, "warnings", json_object_get(res, "warnings"));
            json_object_set(item, "error", json_object_get(res, "error"));
            json_array_append_new(scripts, item);
        }
        json_decref(results);
    }
    if (rc == 0)
        *out = json_pack("{s:s,s:s,s:I,s:O,s:O}", "name", name, "backend", backend_name,
                         "task_count", (json_int_t)n, "tasks", task_list, "scripts", scripts);
    json_decref(jobs);
    json_decref(task_list);
    json_decref(scripts);
    json_decref(ctx);
    json_decref(doc_env);
    json_decref(doc_groups);
    task_def_free_array(tasks, n);
    return svc_done(s, rc);
}

/* --- runs ------------------------------------------------------------------------ */

int svc_run_list(svc *s, int limit, const char *workflow, json_t **out, sh_err *e)
{
    return svc_done(s, store_run_list_json(s->st, limit, workflow, out, e));
}

int svc_run_detail(svc *s, const char *run_id, json_t **out, sh_err *e)
{
    return svc_done(s, store_run_detail_json(s->st, run_id, out, e));
}

static bool status_active(const char *status)
{
    return status && (!strcmp(status, "pending") || !strcmp(status, "running"));
}

int svc_run_cancel(svc *s, const char *run_id, int wait_ms, json_t **summary, sh_err *e)
{
    if (store_request_cancel(s->st, run_id, e) < 0)
        return svc_done(s, -1);
    store_release(s->st);
    if (svc_engine_ensure(s, e) < 0)
        return svc_done(s, -1);
    int64_t deadline = time_monotonic_ms() + wait_ms;
    for (;;) {
        if (s->en) {
            sh_err te = SH_ERR_INIT;
            if (engine_tick(s->en, &te) < 0)
                log_warn("%s", te.msg);
        }
        store_run_info info;
        if (store_run_info_get(s->st, run_id, &info, e) < 0)
            return svc_done(s, -1);
        bool active = status_active(info.status);
        store_run_info_free(&info);
        store_release(s->st);
        if (!active || time_monotonic_ms() >= deadline)
            break;
        poll(NULL, 0, 100);
    }
    return svc_done(s, store_run_summary_json(s->st, run_id, summary, e));
}

int svc_run_rerun(svc *s, const char *run_id, bool failed_only, json_t **summary, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(s->st, run_id, &info, e) < 0)
        return svc_done(s, -1);
    int rc = -1;
    json_t *defs = NULL, *states = NULL, *gen = NULL;
    task_def *tasks = NULL;
    bool *keep = NULL;
    size_t n = 0;
    if (status_active(info.status)) {
        sh_err_set(e, SH_ECONFLICT,
                   "Cannot rerun run %s while it is still active (status %s): cancel it first",
                   run_id, info.status);
        goto out;
    }
    if (store_run_tasks(s->st, run_id, &defs, &states, &gen, e) < 0)
        goto out;
    size_t total = json_array_size(defs);
    tasks = xcalloc(total ? total : 1, sizeof *tasks);
    keep = xcalloc(total ? total : 1, sizeof *keep);
    for (size_t i = 0; i < total; i++) {
        long long g = json_integer_value(json_array_get(gen, i));
        bool generator_kept =
            g >= 0 && failed_only &&
            !strcmp(json_string_value(json_array_get(states, (size_t)g)), "completed");
        /* Generated tasks come back when their generator runs again; keep
         * them only when the generator itself is kept. */
        if (g >= 0 && !generator_kept)
            continue;
        if (task_def_from_json(json_array_get(defs, i), "stored task", &tasks[n], e) < 0)
            goto out;
        keep[n] = failed_only && !strcmp(json_string_value(json_array_get(states, i)), "completed");
        n++;
    }
    rc = submit_tasks(s, info.workflow_name, info.backend_name, tasks, n, NULL, NULL,
                      info.max_concurrent, keep, run_id, info.context, summary, e);
out:
    task_def_free_array(tasks, n);
    free(keep);
    json_decref(defs);
    json_decref(states);
    json_decref(gen);
    store_run_info_free(&info);
    return svc_done(s, rc);
}

int svc_run_delete(svc *s, const char *run_id, sh_err *e)
{
    if (store_delete_run(s->st, run_id, e) < 0)
        return svc_done(s, -1);
    /* Only our own log dir is removed: custom output_file paths belong to the user. */
    char *logs = xasprintf("%s/logs/%s", s->data_dir, run_id);
    fs_remove_tree(logs);
    free(logs);
    return svc_done(s, 0);
}

int svc_run_events(svc *s, const char *run_id, long long after, json_t **out, sh_err *e)
{
    if (run_id) {
        json_t *sum;
        if (store_run_summary_json(s->st, run_id, &sum, e) < 0)
            return svc_done(s, -1);
        json_decref(sum);
    }
    return svc_done(s, store_events_json(s->st, run_id, after, out, e));
}

int svc_events_last_seq(svc *s, long long *out, sh_err *e)
{
    return svc_done(s, store_events_last_seq(s->st, out, e));
}

/* Keeps the last `lines` lines of text (a trailing newline does not count as
 * an extra empty line). */
static char *last_lines(char *text, size_t len, long lines)
{
    size_t end = len;
    if (end && text[end - 1] == '\n')
        end--;
    long seen = 0;
    size_t i = end;
    while (i > 0) {
        if (text[i - 1] == '\n' && ++seen == lines)
            break;
        i--;
    }
    char *out = xstrdup(text + i);
    free(text);
    return out;
}

int svc_task_log(svc *s, const char *run_id, const char *task_id, const char *which,
                 long tail_lines, char **content, sh_err *e)
{
    if (strcmp(which, "output") && strcmp(which, "error"))
        return sh_err_set(e, SH_EINVAL, "Invalid log type '%s': use output or error", which);
    char *outp = NULL, *errp = NULL, *state = NULL;
    if (store_task_log_paths(s->st, run_id, task_id, &outp, &errp, &state, e) < 0)
        return svc_done(s, -1);
    store_run_info info;
    if (store_run_info_get(s->st, run_id, &info, e) < 0) {
        free(outp);
        free(errp);
        free(state);
        return svc_done(s, -1);
    }
    const char *path = !strcmp(which, "output") ? outp : errp;
    int rc = -1;
    backend *b =
        backend_create(info.backend_name, json_object_get(info.context, "backend"), s->data_dir, e);
    if (b) {
        char *text = NULL;
        size_t len = 0;
        /* Grow the window until it holds enough lines (or the whole file). */
        size_t window = tail_lines > 0 ? (size_t)tail_lines * 256 + 4096 : 0;
        for (;;) {
            sh_err re = SH_ERR_INIT;
            rc = b->ops->read_log(b, path, window, &text, &len, &re);
            if (rc < 0) {
                if (re.status == SH_ENOTFOUND) {
                    /* Not written yet (queued task) or already cleaned up. */
                    text = xstrdup("");
                    len = 0;
                    rc = 0;
                } else {
                    *e = re;
                }
                break;
            }
            size_t nl = 0;
            for (size_t i = 0; i < len; i++)
                nl += text[i] == '\n';
            if (!window || len < window || (long)nl > tail_lines)
                break;
            free(text);
            text = NULL;
            window *= 4;
        }
        if (rc == 0)
            *content = tail_lines > 0 ? last_lines(text, len, tail_lines) : text;
        backend_destroy(b);
    }
    store_run_info_free(&info);
    free(outp);
    free(errp);
    free(state);
    return svc_done(s, rc);
}

/* --- engine ownership --------------------------------------------------------------- */

int svc_engine_ensure(svc *s, sh_err *e)
{
    if (s->en)
        return 0; /* we are the engine */
    if (engine_wake(s->data_dir) == 0)
        return 0;
    if (engine_lock_holder(s->data_dir) != 0)
        return 0; /* starting up: it will find the new work on its first tick */
    return engine_spawn_detached(s->data_dir, s->poll_interval, s->retention_days, e);
}

static int become_engine(svc *s, sh_err *e)
{
    engine_opts o = {s->data_dir, s->poll_interval, s->retention_days};
    s->en = engine_new(s->st, s->host, &o, e);
    if (!s->en) {
        engine_lock_release(s->lock_fd, s->data_dir);
        s->lock_fd = -1;
        return -1;
    }
    return 0;
}

bool svc_engine_acquire(svc *s)
{
    if (s->en)
        return true;
    s->lock_fd = engine_lock_acquire(s->data_dir);
    if (s->lock_fd < 0)
        return false;
    sh_err e = SH_ERR_INIT;
    if (become_engine(s, &e) < 0) {
        log_warn("%s", e.msg);
        return false;
    }
    return true;
}

int svc_set_cache_kb(svc *s, int kb, sh_err *e)
{
    return store_set_cache_kb(s->st, kb, e);
}

int svc_engine_step(svc *s, int max_wait_ms, sh_err *e)
{
    if (!s->en) {
        /* Not the engine: make sure one runs (it may have exited). */
        if (engine_lock_holder(s->data_dir) == 0 && !svc_engine_acquire(s))
            svc_engine_ensure(s, e);
    }
    if (s->en) {
        if (engine_tick(s->en, e) < 0)
            return svc_done(s, -1);
        int interrupted = engine_wait(s->en, max_wait_ms);
        if (!interrupted && engine_tick(s->en, e) < 0)
            return svc_done(s, -1);
        return svc_done(s, 0);
    }
    if (poll(NULL, 0, max_wait_ms) < 0 && errno == EINTR)
        return svc_done(s, 0);
    return svc_done(s, 0);
}

void svc_engine_release(svc *s)
{
    if (!s->en && s->lock_fd < 0)
        return;
    engine_free(s->en);
    s->en = NULL;
    engine_lock_release(s->lock_fd, s->data_dir);
    s->lock_fd = -1;
    long active = 0;
    sh_err e = SH_ERR_INIT;
    if (store_count_active_runs(s->st, &active, &e) == 0 && active > 0 &&
        engine_spawn_detached(s->data_dir, s->poll_interval, s->retention_days, &e) < 0)
        log_warn("%s", e.msg);
    store_release(s->st);
}

int svc_daemon_status(svc *s, json_t **out, sh_err *e)
{
    long active = 0;
    if (store_count_active_runs(s->st, &active, e) < 0)
        return svc_done(s, -1);
    pid_t pid = engine_lock_holder(s->data_dir);
    *out = json_pack("{s:b,s:o,s:s,s:i}", "running", pid != 0, "pid",
                     pid > 0 ? json_integer(pid) : json_null(), "data_dir", s->data_dir,
                     "active_runs", (int)active);
    return svc_done(s, 0);
}

int svc_daemon_stop(svc *s, int wait_ms, sh_err *e)
{
    pid_t pid = engine_lock_holder(s->data_dir);
    if (pid == 0)
        return 0;
    if (pid < 0 || kill(pid, SIGTERM) < 0)
        return sh_err_set(e, SH_EINTERNAL, "cannot signal the engine (pid %ld): %s", (long)pid,
                          strerror(errno));
    int64_t deadline = time_monotonic_ms() + wait_ms;
    while (engine_lock_holder(s->data_dir) != 0) {
        if (time_monotonic_ms() >= deadline)
            return sh_err_set(e, SH_EINTERNAL, "the engine (pid %ld) did not stop within %d ms",
                              (long)pid, wait_ms);
        poll(NULL, 0, 50);
    }
    return 0;
}

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Gives up the engine when idle.  The order matters: close the wake-up FIFO,
 * release the lock, then look at the store once more.  A submitter that
 * committed before that last look is seen here (and we take the engine
 * back); one that commits after it finds no engine and starts a new one.
 * Returns true when we are the engine again. */
static bool daemon_hand_back(svc *s)
{
    engine_free(s->en);
    s->en = NULL;
    engine_lock_release(s->lock_fd, s->data_dir);
    s->lock_fd = -1;
    long active = 0;
    sh_err e = SH_ERR_INIT;
    if (store_count_active_runs(s->st, &active, &e) < 0 || active == 0) {
        store_release(s->st);
        return false;
    }
    store_release(s->st);
    return svc_engine_acquire(s);
}

/* How long the detached engine lingers with nothing to do before exiting. */
#define DAEMON_IDLE_EXIT_MS 3000

int svc_daemon_run(svc *s, sh_err *e)
{
    if (!svc_engine_acquire(s)) {
        log_info("another engine already drives %s", s->data_dir);
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    log_info("engine started for %s (pid %ld)", s->data_dir, (long)getpid());
    int64_t idle_since = -1;
    int rc = 0;
    while (!g_stop) {
        if (engine_tick(s->en, e) < 0) {
            log_error("%s", e->msg);
            poll(NULL, 0, 1000); /* store trouble (disk full?): retry, slowly */
        }
        store_release(s->st);
        if (engine_active_runs(s->en) == 0) {
            if (idle_since < 0)
                idle_since = time_monotonic_ms();
            if (time_monotonic_ms() - idle_since >= DAEMON_IDLE_EXIT_MS) {
                if (!daemon_hand_back(s))
                    break;
                idle_since = -1;
                continue;
            }
        } else {
            idle_since = -1;
        }
        engine_wait(s->en, engine_active_runs(s->en) ? 60000 : 500);
    }
    log_info("engine stopping");
    if (s->en) {
        engine_free(s->en);
        s->en = NULL;
        engine_lock_release(s->lock_fd, s->data_dir);
        s->lock_fd = -1;
    }
    return rc;
}

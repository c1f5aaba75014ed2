/* engine_load.c - picking up runs from the store, reconciling `submitting`
 * tasks after a crash, and cancel requests. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- loading runs ------------------------------------------------------------ */

static ebackend *get_backend(engine *en, const char *name, json_t *config, sh_err *e)
{
    for (size_t i = 0; i < en->nbes; i++)
        if (!strcmp(en->bes[i]->name, name))
            return en->bes[i];
    if (!json_is_object(config))
        config = json_pack("{s:s,s:s}", "name", name, "type", "local");
    else
        json_incref(config);
    backend *b = backend_create(name, config, en->data_dir, e);
    if (!b) {
        json_decref(config);
        return NULL;
    }
    ebackend *eb = xcalloc(1, sizeof *eb);
    eb->name = xstrdup(name);
    eb->b = b;
    json_t *cap = json_object_get(config, "max_concurrent");
    eb->cap = json_is_integer(cap) && json_integer_value(cap) > 0 ? (int)json_integer_value(cap)
                                                                  : DEFAULT_BACKEND_CAP;
    json_t *mc = json_object_get(config, "max_cpus");
    eb->max_cpus = json_is_integer(mc) ? (int)json_integer_value(mc) : 0;
    const char *type = eng_jstr(config, "type");
    eb->local = type && !strcmp(type, "local");
    json_decref(config);
    en->bes = xrealloc(en->bes, (en->nbes + 1) * sizeof *en->bes);
    en->bes[en->nbes++] = eb;
    return eb;
}

static erun *find_run(engine *en, const char *id)
{
    for (size_t i = 0; i < en->nruns; i++)
        if (!strcmp(en->runs[i]->id, id))
            return en->runs[i];
    return NULL;
}

static char *dup_or_null(const char *v)
{
    return v ? xstrdup(v) : NULL;
}

/* store_run_load_tasks' callback: appends one stored task to the run. */
static int load_task(void *arg, size_t idx, const char *definition, const store_task_row *row,
                     sh_err *e)
{
    erun *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->t = xrealloc(r->t, r->cap * sizeof *r->t);
    }
    etask *t = &r->t[r->n];
    memset(t, 0, sizeof *t);
    json_t *obj = definition ? json_loads(definition, 0, NULL) : NULL;
    int ok = obj ? task_def_from_json(obj, "stored task", &t->def, e) : -1;
    json_decref(obj);
    if (ok < 0)
        return sh_err_prefix(e, "run %s: task %zu is unreadable", r->id, idx);
    r->n++;
    t->state = row->state;
    t->attempt = row->attempt;
    t->job_id = dup_or_null(row->job_id);
    t->tag = dup_or_null(row->tag);
    t->submitted_at = row->submitted_at;
    t->started_at = row->started_at;
    t->finished_at = row->finished_at;
    t->has_exit = row->has_exit;
    t->exit_code = row->exit_code;
    t->error = dup_or_null(row->error);
    t->retry_at = row->retry_at;
    t->sched_state = dup_or_null(row->sched_state);
    t->pending_reason = dup_or_null(row->pending_reason);
    t->out_path = dup_or_null(row->out_path);
    t->err_path = dup_or_null(row->err_path);
    t->generated_by = row->generated_by;
    return 0;
}

static erun *load_run(engine *en, const char *id, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(en->st, id, &info, e) < 0)
        return NULL;
    erun *r = xcalloc(1, sizeof *r);
    r->id = info.id;
    r->workflow = info.workflow_name;
    r->backend_name = info.backend_name;
    r->created_at = info.created_at;
    r->max_concurrent = info.max_concurrent;
    r->log_dir = info.log_dir;
    r->context = info.context;
    r->cancel_requested = info.cancel_requested;
    free(info.status);
    if (store_run_load_tasks(en->st, r->id, load_task, r, e) < 0 || eng_erun_index(r, e) < 0) {
        eng_erun_free(r);
        return NULL;
    }
    r->be = get_backend(en, r->backend_name, json_object_get(r->context, "backend"), e);
    if (!r->be) {
        sh_err_prefix(e, "run %s", r->id);
        eng_erun_free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (task_state_is_active(r->t[i].state)) {
            int cpus = r->t[i].def.cpus;
            if (r->be->max_cpus && cpus > r->be->max_cpus)
                cpus = r->be->max_cpus;
            r->active++;
            r->be->active++;
            r->be->active_cpus += cpus;
        }
    }
    r->status = RS_PENDING;
    return r;
}

/* After a crash a task may be `submitting`: the backend may or may not have
 * the job.  Ask it by tag; adopt the job or resubmit the same attempt. */
int eng_reconcile_submitting(engine *en, erun *r, sh_err *e)
{
    for (size_t i = 0; i < r->n; i++) {
        etask *t = &r->t[i];
        if (t->state != TS_SUBMITTING)
            continue;
        char *job_id = NULL;
        sh_err be = SH_ERR_INIT;
        int found = r->be->b->ops->find_by_tag(r->be->b, t->tag, &job_id, &be);
        if (found < 0) {
            log_warn("run %s task %s: cannot ask backend %s about job tag %s yet: %s", r->id,
                     t->def.id, r->be->name, t->tag, be.msg);
            continue; /* try again next tick; the task keeps its slot */
        }
        if (found) {
            eng_set_str(&t->job_id, job_id);
            free(job_id);
            if (!t->submitted_at)
                t->submitted_at = time_now_us();
            char *detail = xasprintf("adopted job %s after restart (tag %s)", t->job_id, t->tag);
            int rc = eng_transition(en, r, i, TS_SUBMITTED, detail, e);
            free(detail);
            if (rc < 0)
                return -1;
        } else {
            t->attempt--;
            eng_set_str(&t->tag, NULL);
            t->submitted_at = 0;
            if (eng_transition(en, r, i, TS_PENDING,
                               "not found at the backend after restart; "
                               "will submit again",
                               e) < 0)
                return -1;
        }
    }
    return 0;
}

typedef struct sync_walk {
    engine *en;
    json_t *fresh; /* ids of active runs not loaded yet */
} sync_walk;

/* store_runs_active's callback: a loaded run takes its cancel flag, an
 * unknown one is loaded after the walk. */
static int sync_run(void *arg, const char *id, bool cancel_requested)
{
    sync_walk *w = arg;
    erun *r = find_run(w->en, id);
    if (r)
        r->cancel_requested |= cancel_requested;
    else
        json_array_append_new(w->fresh, json_string(id));
    return 0;
}

int eng_sync_runs(engine *en, sh_err *e)
{
    sync_walk w = {en, json_array()};
    json_t *fresh = w.fresh;
    if (store_runs_active(en->st, sync_run, &w, e) < 0) {
        json_decref(fresh);
        return -1;
    }
    size_t k;
    json_t *v;
    json_array_foreach(fresh, k, v)
    {
        sh_err le = SH_ERR_INIT;
        erun *r = load_run(en, json_string_value(v), &le);
        if (!r) {
            /* A run we cannot load must not stop the others: fail it, with
             * the reason on every unfinished task. */
            log_error("%s", le.msg);
            if (store_run_fail(en->st, json_string_value(v), le.msg, e) < 0) {
                json_decref(fresh);
                return -1;
            }
            continue;
        }
        if (en->nruns == en->caprun) {
            en->caprun = en->caprun ? en->caprun * 2 : 8;
            en->runs = xrealloc(en->runs, en->caprun * sizeof *en->runs);
        }
        en->runs[en->nruns++] = r;
        r->touched = true;
        if (eng_reconcile_submitting(en, r, e) < 0) {
            json_decref(fresh);
            return -1;
        }
        en->need_poll = true;
    }
    json_decref(fresh);
    return 0;
}

/* --- cancel --------------------------------------------------------------------- */

int eng_cancel_run(engine *en, erun *r, sh_err *e)
{
    for (size_t i = 0; i < r->n; i++) {
        etask *t = &r->t[i];
        if (task_state_is_terminal(t->state))
            continue;
        if (task_state_is_active(t->state) && t->job_id) {
            job_ref ref = {t->job_id, t->tag};
            sh_err ce = SH_ERR_INIT;
            if (r->be->b->ops->cancel(r->be->b, &ref, &ce) < 0) {
                log_warn("run %s task %s: cancelling job %s failed: %s (will retry)", r->id,
                         t->def.id, t->job_id, ce.msg);
                continue; /* keep it active; the next tick tries again */
            }
        } else if (t->state == TS_SUBMITTING) {
            continue; /* reconciled first, cancelled on a later tick */
        }
        if (eng_finish_task(en, r, i, TS_CANCELLED, "Cancelled", NULL, e) < 0)
            return -1;
    }
    bool any_left = false;
    for (size_t i = 0; i < r->n; i++)
        any_left |= !task_state_is_terminal(r->t[i].state);
    r->cancel_done = !any_left;
    return 0;
}

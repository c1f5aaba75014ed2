/* engine_load.c - picking up runs from the store, reconciling `submitting`
 * tasks after a crash, and cancel requests. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- loading runs ------------------------------------------------------------ */

static const char SQL_ACTIVE_RUNS[] =
    "SELECT id, cancel_requested FROM runs WHERE status IN ('pending', 'running')";
static const char SQL_LOAD_RUN[] =
    "SELECT workflow_name, backend_name, created_at, max_concurrent, log_dir, context,"
    " cancel_requested FROM runs WHERE id = ?1";
static const char SQL_LOAD_TASKS[] =
    "SELECT idx, definition, state, attempt, job_id, tag, submitted_at, started_at,"
    " finished_at, exit_code, error, retry_at, scheduler_state, out_path, err_path,"
    " generated_by FROM tasks WHERE run_id = ?1 ORDER BY idx";

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? xstrdup((const char *)v) : NULL;
}

static int64_t col_time(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

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

static int load_tasks(engine *en, erun *r, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(en->st, SQL_LOAD_TASKS, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->t = xrealloc(r->t, r->cap * sizeof *r->t);
        }
        etask *t = &r->t[r->n];
        memset(t, 0, sizeof *t);
        const char *def = (const char *)sqlite3_column_text(s, 1);
        json_t *obj = def ? json_loads(def, 0, NULL) : NULL;
        int ok = obj ? task_def_from_json(obj, "stored task", &t->def, e) : -1;
        json_decref(obj);
        if (ok < 0)
            return sh_err_prefix(e, "run %s: task %d is unreadable", r->id,
                                 sqlite3_column_int(s, 0));
        r->n++;
        task_state_parse((const char *)sqlite3_column_text(s, 2), &t->state);
        t->attempt = sqlite3_column_int(s, 3);
        t->job_id = col_dup(s, 4);
        t->tag = col_dup(s, 5);
        t->submitted_at = col_time(s, 6);
        t->started_at = col_time(s, 7);
        t->finished_at = col_time(s, 8);
        t->has_exit = sqlite3_column_type(s, 9) != SQLITE_NULL;
        t->exit_code = sqlite3_column_int(s, 9);
        t->error = col_dup(s, 10);
        t->retry_at = col_time(s, 11);
        t->sched_state = col_dup(s, 12);
        t->out_path = col_dup(s, 13);
        t->err_path = col_dup(s, 14);
        t->generated_by =
            sqlite3_column_type(s, 15) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 15);
    }
    if (rc != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: loading tasks of run %s: %s", r->id,
                          sqlite3_errmsg(store_db(en->st)));
    return 0;
}

static erun *load_run(engine *en, const char *id, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(en->st, SQL_LOAD_RUN, e);
    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sh_err_set(e, SH_ENOTFOUND, "Run '%s' not found", id);
        return NULL;
    }
    erun *r = xcalloc(1, sizeof *r);
    r->id = xstrdup(id);
    r->workflow = col_dup(s, 0);
    r->backend_name = col_dup(s, 1);
    r->created_at = sqlite3_column_int64(s, 2);
    r->max_concurrent = sqlite3_column_type(s, 3) == SQLITE_NULL ? 0 : sqlite3_column_int(s, 3);
    r->log_dir = col_dup(s, 4);
    const char *ctx = (const char *)sqlite3_column_text(s, 5);
    r->context = ctx ? json_loads(ctx, 0, NULL) : NULL;
    if (!r->context)
        r->context = json_object();
    r->cancel_requested = sqlite3_column_int(s, 6) != 0;
    sqlite3_reset(s);
    if (load_tasks(en, r, e) < 0 || eng_erun_index(r, e) < 0) {
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

static const char SQL_FAIL_RUN_TASKS[] =
    "UPDATE tasks SET state='failed', error=?2, finished_at=?3 WHERE run_id=?1"
    " AND state NOT IN ('completed', 'failed', 'dep_failed', 'cancelled')";
static const char SQL_FAIL_RUN[] = "UPDATE runs SET status='failed', finished_at=?2 WHERE id=?1";

static int fail_unloadable_run(engine *en, const char *id, const char *why, sh_err *e)
{
    int64_t now = time_now_us();
    sqlite3_stmt *s = store_stmt(en->st, SQL_FAIL_RUN_TASKS, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, why, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: %s", sqlite3_errmsg(store_db(en->st)));
    s = store_stmt(en->st, SQL_FAIL_RUN, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, now);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: %s", sqlite3_errmsg(store_db(en->st)));
    return store_add_event(en->st, now, id, NULL, "pending", "failed", why, e);
}

int eng_sync_runs(engine *en, sh_err *e)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store_db(en->st), SQL_ACTIVE_RUNS, -1, &s, NULL) != SQLITE_OK)
        return sh_err_set(e, SH_EINTERNAL, "store: %s", sqlite3_errmsg(store_db(en->st)));
    json_t *fresh = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        erun *r = find_run(en, id);
        if (r)
            r->cancel_requested |= sqlite3_column_int(s, 1) != 0;
        else
            json_array_append_new(fresh, json_string(id));
    }
    sqlite3_finalize(s);
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
            if (fail_unloadable_run(en, json_string_value(v), le.msg, e) < 0) {
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

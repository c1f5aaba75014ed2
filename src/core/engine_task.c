/* engine_task.c - one task's state transitions, with their events, attempt
 * records and persistence. */
#include "core/engine_internal.h"

#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- persistence of one task ----------------------------------------------- */

static const char SQL_UPDATE_TASK[] =
    "UPDATE tasks SET state=?3, attempt=?4, job_id=?5, tag=?6, submitted_at=?7,"
    " started_at=?8, finished_at=?9, exit_code=?10, error=?11, retry_at=?12,"
    " scheduler_state=?13, out_path=?14, err_path=?15 WHERE run_id=?1 AND idx=?2";
static const char SQL_INSERT_ATTEMPT[] =
    "INSERT OR REPLACE INTO attempts (run_id, idx, attempt, tag, job_id, state,"
    " submitted_at, started_at, finished_at, exit_code, error, out_path, err_path)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

/* SQLITE_STATIC: the strings are the task's own and outlive the step that
 * uses them (the statement is reset and rebound before the next use). */
void eng_bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

void eng_bind_opt_time(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

int eng_flush_task(engine *en, erun *r, size_t i, sh_err *e)
{
    etask *t = &r->t[i];
    sqlite3_stmt *s = store_stmt(en->st, SQL_UPDATE_TASK, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
    sqlite3_bind_text(s, 3, task_state_name(t->state), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, t->attempt);
    eng_bind_opt_text(s, 5, t->job_id);
    eng_bind_opt_text(s, 6, t->tag);
    eng_bind_opt_time(s, 7, t->submitted_at);
    eng_bind_opt_time(s, 8, t->started_at);
    eng_bind_opt_time(s, 9, t->finished_at);
    if (t->has_exit)
        sqlite3_bind_int(s, 10, t->exit_code);
    else
        sqlite3_bind_null(s, 10);
    eng_bind_opt_text(s, 11, t->error);
    eng_bind_opt_time(s, 12, t->retry_at);
    eng_bind_opt_text(s, 13, t->sched_state);
    eng_bind_opt_text(s, 14, t->out_path);
    eng_bind_opt_text(s, 15, t->err_path);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: updating task %s of run %s: %s", t->def.id,
                          r->id, sqlite3_errmsg(store_db(en->st)));
    t->dirty = false;
    return 0;
}

/* Records an attempt when it ends.  The attempt in flight lives in the task
 * row (the run detail shows it from there): one write per attempt, not two. */
int eng_save_attempt(engine *en, erun *r, size_t i, task_state attempt_state, sh_err *e)
{
    etask *t = &r->t[i];
    if (!t->tag || t->attempt <= 0)
        return 0;
    sqlite3_stmt *s = store_stmt(en->st, SQL_INSERT_ATTEMPT, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
    sqlite3_bind_int(s, 3, t->attempt);
    sqlite3_bind_text(s, 4, t->tag, -1, SQLITE_TRANSIENT);
    eng_bind_opt_text(s, 5, t->job_id);
    sqlite3_bind_text(s, 6, task_state_name(attempt_state), -1, SQLITE_STATIC);
    eng_bind_opt_time(s, 7, t->submitted_at);
    eng_bind_opt_time(s, 8, t->started_at);
    eng_bind_opt_time(s, 9, t->finished_at);
    if (t->has_exit)
        sqlite3_bind_int(s, 10, t->exit_code);
    else
        sqlite3_bind_null(s, 10);
    eng_bind_opt_text(s, 11, t->error);
    eng_bind_opt_text(s, 12, t->out_path);
    eng_bind_opt_text(s, 13, t->err_path);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: recording attempt %d of task %s: %s", t->attempt,
                          t->def.id, sqlite3_errmsg(store_db(en->st)));
    return 0;
}

/* Every state change goes through here: the task, its dependents' counters
 * and an event in the tick's transaction. */
int eng_transition(engine *en, erun *r, size_t i, task_state to, const char *detail, sh_err *e)
{
    etask *t = &r->t[i];
    task_state from = t->state;
    if (from == to)
        return 0;
    bool was_active = task_state_is_active(from), now_active = task_state_is_active(to);
    int cpus = t->def.cpus;
    if (r->be && r->be->max_cpus && cpus > r->be->max_cpus)
        cpus = r->be->max_cpus;
    if (was_active && !now_active) {
        r->active--;
        if (r->be) {
            r->be->active--;
            r->be->active_cpus -= cpus;
        }
    } else if (!was_active && now_active) {
        r->active++;
        if (r->be) {
            r->be->active++;
            r->be->active_cpus += cpus;
        }
    }
    t->state = to;
    if (!t->dirty) {
        if (r->ndirty == r->capdirty) {
            r->capdirty = r->capdirty ? r->capdirty * 2 : 64;
            r->dirty = xrealloc(r->dirty, r->capdirty * sizeof *r->dirty);
        }
        r->dirty[r->ndirty++] = (uint32_t)i;
        t->dirty = true;
    }
    r->touched = true;
    if (to == TS_COMPLETED || from == TS_COMPLETED) {
        for (uint32_t k = r->roff[i]; k < r->roff[i + 1]; k++) {
            etask *dep = &r->t[r->ridx[k]];
            if (to == TS_COMPLETED)
                dep->unmet--;
            else
                dep->unmet++;
        }
    }
    (void)e;
    /* Queued: written with the tick's other events in multi-row INSERTs
     * before the transaction commits (store_commit). */
    store_queue_event(en->st, time_now_us(), r->id, t->def.id, task_state_name(from),
                      task_state_name(to), detail);
    return 0;
}

/* Ends the current attempt in a terminal (or retry) state. */
int eng_finish_task(engine *en, erun *r, size_t i, task_state to, const char *error,
                    const char *detail, sh_err *e)
{
    etask *t = &r->t[i];
    int64_t now = time_now_us();
    if (!t->finished_at)
        t->finished_at = now;
    if (!t->started_at && t->submitted_at)
        t->started_at = t->submitted_at;
    eng_set_str(&t->error, error);
    if (eng_save_attempt(en, r, i, to, e) < 0)
        return -1;
    return eng_transition(en, r, i, to, detail ? detail : error, e);
}

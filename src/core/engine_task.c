/* engine_task.c - one task's state transitions, with their events, attempt
 * records and persistence. */
#include "core/engine_internal.h"

#include <string.h>

#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- persistence of one task ----------------------------------------------- */

/* The task's row as the store keeps it, with `state` as given. */
static store_task_row task_row(const etask *t, task_state state)
{
    return (store_task_row){
        .state = state,
        .attempt = t->attempt,
        .job_id = t->job_id,
        .tag = t->tag,
        .error = t->error,
        .sched_state = t->sched_state,
        .out_path = t->out_path,
        .err_path = t->err_path,
        .submitted_at = t->submitted_at,
        .started_at = t->started_at,
        .finished_at = t->finished_at,
        .retry_at = t->retry_at,
        .has_exit = t->has_exit,
        .exit_code = t->exit_code,
        .generated_by = t->generated_by,
        .pending_reason = t->pending_reason,
    };
}

int eng_flush_task(engine *en, erun *r, size_t i, sh_err *e)
{
    etask *t = &r->t[i];
    store_task_row row = task_row(t, t->state);
    if (store_task_update(en->st, r->id, i, &row, e) < 0)
        return sh_err_prefix(e, "task %s of run %s", t->def.id, r->id);
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
    store_task_row row = task_row(t, attempt_state);
    if (store_attempt_save(en->st, r->id, i, &row, e) < 0)
        return sh_err_prefix(e, "attempt %d of task %s", t->attempt, t->def.id);
    return 0;
}

static void mark_dirty(erun *r, size_t i)
{
    etask *t = &r->t[i];
    if (t->dirty)
        return;
    if (r->ndirty == r->capdirty) {
        r->capdirty = r->capdirty ? r->capdirty * 2 : 64;
        r->dirty = xrealloc(r->dirty, r->capdirty * sizeof *r->dirty);
    }
    r->dirty[r->ndirty++] = (uint32_t)i;
    t->dirty = true;
}

void eng_set_pending_reason(erun *r, size_t i, const char *reason)
{
    etask *t = &r->t[i];
    if (reason && !*reason)
        reason = NULL;
    if (t->pending_reason == reason ||
        (t->pending_reason && reason && !strcmp(t->pending_reason, reason)))
        return;
    eng_set_str(&t->pending_reason, reason);
    mark_dirty(r, i);
}

/* Every state change goes through here: the task, its dependents' counters
 * and an event in the tick's transaction. */
int eng_transition(engine *en, erun *r, size_t i, task_state to, const char *detail, sh_err *e)
{
    etask *t = &r->t[i];
    task_state from = t->state;
    if (from == to)
        return 0;
    /* A reason belongs to the wait it explains: a task that moves on has
     * none until the engine or the scheduler gives it one again (the row
     * is written for the transition anyway). */
    if (to != TS_QUEUED)
        eng_set_str(&t->pending_reason, NULL);
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
    mark_dirty(r, i);
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

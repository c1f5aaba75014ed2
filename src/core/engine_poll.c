/* engine_poll.c - one status query per backend per tick, what its answers
 * mean for each task (retries included), the dep_failed cascade, and the
 * backend snapshots that `backend list/status` read. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <unistd.h>

#include "core/backend_snapshot.h"

#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- polling -------------------------------------------------------------------- */

static bool should_retry(const etask *t, const job_status *js)
{
    return js->retryable && !js->cancelled && t->attempt <= t->def.retries;
}

static int apply_finished(engine *en, erun *r, size_t i, const job_status *js, sh_err *e)
{
    etask *t = &r->t[i];
    if (js->started_us)
        t->started_at = js->started_us;
    if (js->finished_us)
        t->finished_at = js->finished_us;
    t->has_exit = js->exit_code >= 0;
    t->exit_code = js->exit_code;
    eng_set_str(&t->sched_state, js->scheduler_state[0] ? js->scheduler_state : NULL);
    if (js->success) {
        if (eng_finish_task(en, r, i, TS_COMPLETED, NULL,
                            js->reason[0] ? js->reason : "exit code 0", e) < 0)
            return -1;
        if (t->def.generates_source) {
            char *why = NULL;
            int rc = eng_append_generated(en, r, i, &why, e);
            if (rc < 0)
                return -1;
            if (rc > 0) {
                /* The task ran, but what it generated is unusable: fail it
                 * visibly rather than lose the tasks silently. */
                eng_set_str(&t->error, why);
                int frc = eng_transition(en, r, i, TS_FAILED, why, e);
                free(why);
                if (frc < 0)
                    return -1;
            }
        }
        return 0;
    }
    if (js->cancelled)
        return eng_finish_task(en, r, i, TS_CANCELLED, "Cancelled", NULL, e);
    const char *reason = js->reason[0] ? js->reason : "failed";
    if (should_retry(t, js)) {
        char *err = xasprintf("attempt %d failed: %s", t->attempt, reason);
        if (eng_save_attempt(en, r, i, TS_FAILED, e) < 0) {
            free(err);
            return -1;
        }
        eng_set_str(&t->error, err);
        t->retry_at = time_now_us() + (int64_t)(t->def.retry_delay * 1e6);
        char *detail = xasprintf("%s; retry %d of %d in %gs", err, t->attempt, t->def.retries,
                                 t->def.retry_delay);
        free(err);
        int rc = eng_transition(en, r, i, TS_PENDING, detail, e);
        free(detail);
        /* Now, with the transition's write, rather than in a second write
         * by eng_hold_reasons later in the tick. */
        char *why = eng_retry_reason(t->retry_at);
        eng_set_pending_reason(r, i, why);
        free(why);
        return rc;
    }
    return eng_finish_task(en, r, i, TS_FAILED, reason, NULL, e);
}

static int apply_status(engine *en, erun *r, size_t i, const job_status *js, sh_err *e)
{
    etask *t = &r->t[i];
    switch (js->phase) {
    case JOB_UNKNOWN: return 0;
    case JOB_QUEUED:
        if (t->state == TS_SUBMITTED && eng_transition(en, r, i, TS_QUEUED, NULL, e) < 0)
            return -1;
        if (t->state == TS_QUEUED) /* the scheduler's words, verbatim */
            eng_set_pending_reason(r, i, js->pending_reason);
        return 0;
    case JOB_RUNNING:
        if (t->state == TS_RUNNING)
            return 0;
        t->started_at = js->started_us ? js->started_us : time_now_us();
        return eng_transition(en, r, i, TS_RUNNING, NULL, e);
    case JOB_FINISHED: return apply_finished(en, r, i, js, e);
    case JOB_LOST:
        t->has_exit = false;
        return eng_finish_task(en, r, i, TS_FAILED, js->reason[0] ? js->reason : "job lost", NULL,
                               e);
    }
    return 0;
}

typedef struct poll_slot {
    erun *r;
    size_t i;
} poll_slot;

int eng_poll_backend(engine *en, ebackend *eb, sh_err *e)
{
    size_t n = 0, cap = 0;
    poll_slot *slots = NULL;
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (r->be != eb || !r->active)
            continue;
        for (size_t i = 0; i < r->n; i++) {
            etask *t = &r->t[i];
            if (!task_state_is_active(t->state) || t->state == TS_SUBMITTING || !t->job_id)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                slots = xrealloc(slots, cap * sizeof *slots);
            }
            slots[n].r = r;
            slots[n++].i = i;
        }
    }
    if (!n) {
        free(slots);
        return 0;
    }
    job_ref *refs = xmalloc(n * sizeof *refs);
    job_status *out = xcalloc(n, sizeof *out);
    for (size_t k = 0; k < n; k++) {
        etask *t = &slots[k].r->t[slots[k].i];
        refs[k].job_id = t->job_id;
        refs[k].tag = t->tag;
    }
    sh_err pe = SH_ERR_INIT;
    int rc = 0;
    if (eb->b->ops->poll(eb->b, n, refs, out, &pe) < 0) {
        /* A failed status query is a transport problem, never "all jobs
         * finished": change nothing and try again next tick. */
        log_warn("backend %s: status query failed: %s", eb->name, pe.msg);
    } else {
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = apply_status(en, slots[k].r, slots[k].i, &out[k], e);
    }
    free(refs);
    free(out);
    free(slots);
    return rc;
}

/* --- cascade and readiness ------------------------------------------------------- */

int eng_cascade(engine *en, erun *r, sh_err *e)
{
    /* Worklist over reverse edges: each task is visited once per change. */
    size_t *work = xmalloc((r->n ? r->n : 1) * sizeof *work);
    size_t nw = 0;
    for (size_t i = 0; i < r->n; i++)
        if (eng_blocks_dependents(r->t[i].state))
            work[nw++] = i;
    int rc = 0;
    while (nw && rc == 0) {
        size_t d = work[--nw];
        for (uint32_t k = r->roff[d]; k < r->roff[d + 1] && rc == 0; k++) {
            size_t c = r->ridx[k];
            if (r->t[c].state != TS_PENDING)
                continue;
            char *err = xasprintf("Dependency '%s' %s", r->t[d].def.id,
                                  r->t[d].state == TS_CANCELLED ? "was cancelled" : "failed");
            rc = eng_finish_task(en, r, c, TS_DEP_FAILED, err, NULL, e);
            free(err);
            work[nw++] = c;
        }
    }
    free(work);
    return rc;
}

bool eng_task_ready(const etask *t, int64_t now)
{
    return t->state == TS_PENDING && t->unmet == 0 && t->retry_at <= now;
}

/* --- snapshots for `backend list/status` ------------------------------------------ */

void eng_snapshot_backends(engine *en)
{
    for (size_t b = 0; b < en->nbes; b++) {
        ebackend *eb = en->bes[b];
        json_t *snap = backend_describe(eb->b);
        json_object_set_new(snap, "active_jobs", json_integer((json_int_t)eb->active));
        json_object_set_new(snap, "engine_pid", json_integer((json_int_t)getpid()));
        if (backend_snapshot_write(en->data_dir, eb->name, snap, &eb->snapshot) < 0)
            log_debug("backend %s: cannot write its snapshot under %s/backends", eb->name,
                      en->data_dir);
        json_decref(snap);
    }
}

/* noop.c - a backend whose jobs succeed at once without running anything.
 *
 * For benchmarks of the engine and the store (bench/), and for dry
 * experiments with a workflow's shape: `backend "fake" { type = "noop" }`.
 * Every job finishes successfully on the first poll after its submission,
 * unless a test set a fault (noop.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/noop.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- test-only faults (noop.h) --------------------------------------------- */

#define MAX_JOB_FAULTS 64

static struct {
    struct {
        char task_id[128];
        int attempt; /* 0: any */
        noop_outcome outcome;
        int exit_code;
    } jobs[MAX_JOB_FAULTS];
    int njobs;
    int submits_left, polls_left;
    long submit_calls, poll_calls;
} g_faults;

void noop_fault_job(const char *task_id, int attempt, noop_outcome outcome, int exit_code)
{
    int i = 0;
    while (i < g_faults.njobs &&
           (strcmp(g_faults.jobs[i].task_id, task_id) || g_faults.jobs[i].attempt != attempt))
        i++;
    if (i == MAX_JOB_FAULTS)
        abort(); /* a test's mistake: more faults than any test needs */
    if (i == g_faults.njobs)
        g_faults.njobs++;
    snprintf(g_faults.jobs[i].task_id, sizeof g_faults.jobs[i].task_id, "%s", task_id);
    g_faults.jobs[i].attempt = attempt;
    g_faults.jobs[i].outcome = outcome;
    g_faults.jobs[i].exit_code = exit_code;
}

void noop_fault_submits(int calls)
{
    g_faults.submits_left = calls;
}

void noop_fault_polls(int calls)
{
    g_faults.polls_left = calls;
}

long noop_submit_calls(void)
{
    return g_faults.submit_calls;
}

long noop_poll_calls(void)
{
    return g_faults.poll_calls;
}

void noop_fault_reset(void)
{
    memset(&g_faults, 0, sizeof g_faults);
}

/* The task id (not terminated: *len bytes) and attempt in a job's tag,
 * sh-<run>-<task>-<attempt> (run ids have no '-'); NULL if it is not one. */
static const char *tag_task(const char *tag, size_t *len, int *attempt)
{
    const char *task = tag && !strncmp(tag, "sh-", 3) ? strchr(tag + 3, '-') : NULL;
    const char *last = task ? strrchr(tag, '-') : NULL;
    if (!task || last <= task)
        return NULL;
    *len = (size_t)(last - task - 1);
    *attempt = atoi(last + 1);
    return task + 1;
}

/* The fault for a job's tag: the task's fault for that attempt, else the
 * one for every attempt; false when none. */
static bool job_fault(const char *tag, noop_outcome *outcome, int *exit_code)
{
    size_t len;
    int attempt, best = -1;
    const char *task = g_faults.njobs ? tag_task(tag, &len, &attempt) : NULL;
    for (int i = 0; task && i < g_faults.njobs; i++) {
        if (strlen(g_faults.jobs[i].task_id) != len || strncmp(g_faults.jobs[i].task_id, task, len))
            continue;
        if (g_faults.jobs[i].attempt == attempt)
            best = i;
        else if (g_faults.jobs[i].attempt == 0 && best < 0)
            best = i;
    }
    if (best < 0)
        return false;
    *outcome = g_faults.jobs[best].outcome;
    *exit_code = g_faults.jobs[best].exit_code;
    return true;
}

/* --- the backend ------------------------------------------------------------- */

typedef struct noop_state {
    unsigned long long next_id;
    long unavailable_left; /* config unavailable_submits: calls still to fail */
} noop_state;

static int noop_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    noop_state *st = b->impl;
    (void)jobs;
    g_faults.submit_calls++;
    bool unreachable = g_faults.submits_left > 0 || st->unavailable_left > 0;
    if (g_faults.submits_left > 0)
        g_faults.submits_left--;
    else if (st->unavailable_left > 0)
        st->unavailable_left--;
    if (unreachable) {
        for (size_t i = 0; i < n; i++)
            sh_err_set(&errs[i], SH_EUNAVAIL, "backend %s: unreachable (injected fault)", b->name);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        job_ids[i] = xasprintf("%llu", ++st->next_id);
    return 0;
}

static int noop_poll(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e)
{
    g_faults.poll_calls++;
    if (g_faults.polls_left > 0) {
        g_faults.polls_left--;
        return sh_err_set(e, SH_EUNAVAIL, "backend %s: status query failed (injected fault)",
                          b->name);
    }
    int64_t now = time_now_us();
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        noop_outcome outcome = NOOP_SUCCEED;
        int code = 0;
        job_fault(refs[i].tag, &outcome, &code);
        switch (outcome) {
        case NOOP_RUN:
            out[i].phase = JOB_RUNNING;
            out[i].started_us = now;
            continue;
        case NOOP_LOST:
            out[i].phase = JOB_LOST;
            out[i].exit_code = -1;
            snprintf(out[i].reason, sizeof out[i].reason, "job lost (injected fault)");
            continue;
        case NOOP_SUCCEED:
        case NOOP_EXIT: break;
        }
        out[i].phase = JOB_FINISHED;
        out[i].success = code == 0;
        out[i].retryable = code != 0;
        out[i].exit_code = code;
        if (code)
            snprintf(out[i].reason, sizeof out[i].reason, "exit code %d", code);
        out[i].started_us = now;
        out[i].finished_us = now;
    }
    return 0;
}

static int noop_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    (void)b;
    (void)ref;
    (void)e;
    return 0;
}

static int noop_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
{
    (void)b;
    (void)tag;
    (void)job_id;
    (void)e;
    return 0;
}

static int noop_read(backend *b, const char *path, size_t tail, char **out, size_t *len, sh_err *e)
{
    (void)b;
    (void)tail;
    (void)out;
    (void)len;
    return sh_err_set(e, SH_ENOTFOUND, "%s: the noop backend writes no files", path);
}

static int noop_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return noop_read(b, path, 0, out, len, e);
}

static void noop_destroy(backend *b)
{
    free(b->impl);
    b->impl = NULL;
}

static const struct backend_ops NOOP_OPS = {
    .type = "noop",
    .submit = noop_submit,
    .poll = noop_poll,
    .cancel = noop_cancel,
    .find_by_tag = noop_find_by_tag,
    .read_log = noop_read,
    .read_file = noop_read_file,
    .destroy = noop_destroy,
};

int backend_noop_init(backend *b, sh_err *e)
{
    (void)e;
    b->ops = &NOOP_OPS;
    noop_state *st = xcalloc(1, sizeof(noop_state));
    json_t *faults = json_object_get(b->config, "unavailable_submits");
    st->unavailable_left = json_is_integer(faults) ? (long)json_integer_value(faults) : 0;
    b->impl = st;
    return 0;
}

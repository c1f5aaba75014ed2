/* engine_submit.c - choosing ready tasks fairly across runs within the caps,
 * preparing their scripts, and submitting them exactly once. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "lua/host.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- submission ------------------------------------------------------------------ */

typedef struct pick {
    erun *r;
    size_t i;
} pick;

static char *log_path(const erun *r, const etask *t, const char *ext, const char *custom)
{
    if (custom && *custom)
        return eng_task_path(t, custom);
    char *name = fs_encode_name(t->def.id);
    char *p = t->attempt > 1 ? xasprintf("%s/%s.%d.%s", r->log_dir, name, t->attempt, ext)
                             : xasprintf("%s/%s.%s", r->log_dir, name, ext);
    free(name);
    return p;
}

static json_t *seed_for(const erun *r)
{
    char created[ISO8601_LEN];
    time_format_iso(r->created_at, created);
    return json_pack("[[s,s],[s,s],[s,s],[s,s]]", "SCRIPTHUT_BACKEND", r->backend_name,
                     "SCRIPTHUT_WORKFLOW", r->workflow, "SCRIPTHUT_RUN_ID", r->id,
                     "SCRIPTHUT_CREATED_AT", created);
}

static json_t *run_prepare_context(const erun *r)
{
    json_t *c = json_object();
    json_object_set(c, "backend", json_object_get(r->context, "backend"));
    json_object_set_new(c, "seed", seed_for(r));
    json_t *env = json_object_get(r->context, "env");
    json_object_set_new(c, "env", env ? json_incref(env) : json_object());
    json_t *groups = json_object_get(r->context, "env_groups");
    json_object_set_new(c, "env_groups", groups ? json_incref(groups) : json_object());
    json_t *stacks = json_object_get(r->context, "stacks");
    json_object_set_new(c, "stacks", stacks ? json_incref(stacks) : json_object());
    return c;
}

/* Chooses ready tasks for one backend: round-robin over runs, one task per
 * run per turn, so a big run cannot starve a small one. */
static size_t choose(engine *en, ebackend *eb, int64_t now, pick **out)
{
    size_t cap = 0, n = 0;
    pick *picks = NULL;
    size_t nr = en->nruns;
    size_t *cursor = xcalloc(nr ? nr : 1, sizeof *cursor);
    size_t *taken = xcalloc(nr ? nr : 1, sizeof *taken);
    for (size_t k = 0; k < nr; k++)
        cursor[k] = en->runs[k]->scan_from;
    size_t bslots = eb->active < (size_t)eb->cap ? (size_t)eb->cap - eb->active : 0;
    int cpus_used = eb->active_cpus;
    bool progress = true;
    size_t last_served = SIZE_MAX;
    while (bslots > 0 && progress) {
        progress = false;
        for (size_t step = 0; step < nr && bslots > 0; step++) {
            size_t k = (en->rr + step) % nr;
            erun *r = en->runs[k];
            if (r->be != eb || r->cancel_requested)
                continue;
            if (r->max_concurrent > 0 && r->active + taken[k] >= (size_t)r->max_concurrent)
                continue;
            while (cursor[k] < r->n && !eng_task_ready(&r->t[cursor[k]], now))
                cursor[k]++;
            if (cursor[k] >= r->n)
                continue;
            etask *t = &r->t[cursor[k]];
            int cpus = t->def.cpus;
            if (eb->max_cpus) {
                if (cpus > eb->max_cpus)
                    cpus = eb->max_cpus;
                if (cpus_used + cpus > eb->max_cpus)
                    continue; /* not enough free cpus now; try other runs */
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                picks = xrealloc(picks, cap * sizeof *picks);
            }
            picks[n].r = r;
            picks[n++].i = cursor[k]++;
            taken[k]++;
            cpus_used += cpus;
            bslots--;
            progress = true;
            last_served = k;
        }
    }
    free(cursor);
    free(taken);
    /* The next turn starts after the run served last: when one slot frees
     * at a time, runs take turns instead of the first run taking them all. */
    if (last_served != SIZE_MAX)
        en->rr = last_served + 1;
    *out = picks;
    return n;
}

/* Renders scripts for the picked tasks (one Lua call), marks each either
 * submitting (with its tag and log paths) or failed.  res[k] receives the
 * script of picks[k] (NULL when it failed). */
static int prepare_picks(engine *en, pick *picks, size_t n, host_job_result *res, sh_err *e)
{
    json_t *runs = json_object();
    host_job *jobs = xcalloc(n ? n : 1, sizeof *jobs);
    for (size_t k = 0; k < n; k++) {
        erun *r = picks[k].r;
        etask *t = &r->t[picks[k].i];
        t->attempt++;
        char *tag = xasprintf("sh-%s-%s-%d", r->id, t->def.id, t->attempt);
        eng_set_str(&t->tag, tag);
        free(tag);
        free(t->out_path);
        free(t->err_path);
        t->out_path = log_path(r, t, "out", t->def.output_file);
        t->err_path = log_path(r, t, "err", t->def.error_file);
        if (!json_object_get(runs, r->id))
            json_object_set_new(runs, r->id, run_prepare_context(r));
        jobs[k] = (host_job){r->id, &t->def, t->tag, t->attempt, t->out_path, t->err_path};
    }
    sh_err he = SH_ERR_INIT;
    int64_t t0 = time_monotonic_ms();
    int hrc = host_prepare_job_list(en->host, runs, jobs, n, res, &he);
    log_debug("host_prepare_jobs: %zu jobs in %lld ms", n, (long long)(time_monotonic_ms() - t0));
    json_decref(runs);
    free(jobs);
    for (size_t k = 0; k < n; k++) {
        erun *r = picks[k].r;
        size_t i = picks[k].i;
        etask *t = &r->t[i];
        for (size_t w = 0; w < res[k].nwarnings; w++)
            store_queue_event(en->st, time_now_us(), r->id, t->def.id, NULL, "warning",
                              res[k].warnings[w]);
        if (!res[k].script) {
            const char *why = hrc < 0 ? he.msg : res[k].error;
            char *err = xasprintf("preparing the job script failed: %s", why ? why : "no script");
            int rc = eng_finish_task(en, r, i, TS_FAILED, err, NULL, e);
            free(err);
            if (rc < 0)
                return -1;
            continue;
        }
        t->submitted_at = 0;
        t->started_at = 0;
        t->finished_at = 0;
        t->has_exit = false;
        eng_set_str(&t->job_id, NULL);
        eng_set_str(&t->sched_state, NULL);
        if (eng_transition(en, r, i, TS_SUBMITTING, t->tag, e) < 0)
            return -1;
    }
    return 0;
}

static int64_t parse_limit(const char *limit)
{
    int64_t secs = 0;
    if (!limit || !*limit || time_parse_duration(limit, &secs) < 0)
        return 0;
    return secs;
}

static int submit_picks(engine *en, ebackend *eb, pick *picks, size_t n, const host_job_result *res,
                        sh_err *e)
{
    job_spec *specs = xcalloc(n ? n : 1, sizeof *specs);
    size_t *which = xmalloc((n ? n : 1) * sizeof *which);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const char *script = res[k].script;
        if (!script)
            continue;
        erun *r = picks[k].r;
        etask *t = &r->t[picks[k].i];
        if (!r->log_dir_made) {
            if (fs_mkdir_p(r->log_dir, 0700) < 0)
                log_warn("run %s: cannot create log dir %s: %s", r->id, r->log_dir,
                         strerror(errno));
            else
                r->log_dir_made = true;
        }
        job_spec *js = &specs[m];
        js->tag = t->tag;
        js->run_id = r->id;
        js->task_id = t->def.id;
        js->attempt = t->attempt;
        js->script = script;
        js->working_dir = t->def.working_dir ? t->def.working_dir : "~";
        js->out_path = t->out_path;
        js->err_path = t->err_path;
        js->cpus = t->def.cpus;
        js->time_limit_s = parse_limit(t->def.time_limit);
        which[m++] = k;
    }
    char **ids = xcalloc(m ? m : 1, sizeof *ids);
    sh_err *errs = xcalloc(m ? m : 1, sizeof *errs);
    if (m)
        eb->b->ops->submit(eb->b, m, specs, ids, errs);
    int rc = 0;
    int64_t now = time_now_us();
    for (size_t j = 0; j < m && rc == 0; j++) {
        erun *r = picks[which[j]].r;
        size_t i = picks[which[j]].i;
        etask *t = &r->t[i];
        if (ids[j]) {
            eng_set_str(&t->job_id, ids[j]);
            t->submitted_at = now;
            char *detail = xasprintf("job %s", ids[j]);
            rc = eng_transition(en, r, i, TS_SUBMITTED, detail, e);
            free(detail);
        } else if (errs[j].status == SH_EUNAVAIL) {
            /* The backend could not be reached or answered mid-way: the job
             * may or may not be queued.  Keep the task `submitting`; later
             * ticks ask the backend by tag (adopt it, or submit it again). */
            log_warn("run %s task %s: submission interrupted (%s); will reconcile by tag %s", r->id,
                     t->def.id, errs[j].msg, t->tag);
            r->needs_reconcile = true;
        } else {
            char *err = xasprintf("submission failed: %s", errs[j].msg);
            rc = eng_finish_task(en, r, i, TS_FAILED, err, NULL, e);
            free(err);
        }
    }
    for (size_t j = 0; j < m; j++)
        free(ids[j]);
    free(ids);
    free(errs);
    free(specs);
    free(which);
    return rc;
}

/* Jobs prepared and submitted together.  Bounds the memory of one round
 * (scripts, Lua tables, JSON) whatever the size of the run. */
#define SUBMIT_CHUNK 2000

/* Prepares and submits picks[0..n) of one backend in two transactions. */
static int submit_chunk(engine *en, ebackend *eb, pick *picks, size_t n, sh_err *e)
{
    host_job_result *res = xcalloc(n ? n : 1, sizeof *res);
    int64_t t0 = time_monotonic_ms();
    /* Phase 1: mark submitting and commit before the backend sees the job,
     * so a crash between the two is reconciled by tag. */
    int rc = prepare_picks(en, picks, n, res, e);
    int64_t t1 = time_monotonic_ms();
    if (rc == 0 && (eng_flush_all(en, e) < 0 || store_commit(en->st, e) < 0))
        rc = -1;
    int64_t t2 = time_monotonic_ms();
    if (rc == 0)
        rc = store_begin(en->st, e);
    if (rc == 0)
        rc = submit_picks(en, eb, picks, n, res, e);
    log_debug("backend %s: %zu jobs: prepare %lld ms, mark submitting %lld ms, submit %lld ms",
              eb->name, n, (long long)(t1 - t0), (long long)(t2 - t1),
              (long long)(time_monotonic_ms() - t2));
    for (size_t k = 0; k < n; k++)
        host_job_result_free(&res[k]);
    free(res);
    return rc;
}

/* --- why the others wait ------------------------------------------------------------ */

char *eng_retry_reason(int64_t retry_at_us)
{
    char when[ISO8601_LEN];
    return xasprintf(PENDING_RETRY, time_format_iso(retry_at_us, when));
}

/* The cap that holds a ready task of run r back, or NULL when none does. */
static char *cap_reason(const erun *r, const ebackend *eb, const etask *t)
{
    if (r->max_concurrent > 0 && r->active >= (size_t)r->max_concurrent)
        return xasprintf(PENDING_RUN_CAP, r->max_concurrent);
    if (eb->active >= (size_t)eb->cap)
        return xasprintf(PENDING_BACKEND_CAP, eb->cap);
    if (eb->max_cpus) {
        int cpus = t->def.cpus > eb->max_cpus ? eb->max_cpus : t->def.cpus;
        if (eb->active_cpus + cpus > eb->max_cpus)
            return xasprintf(PENDING_BACKEND_CPUS, eb->max_cpus);
    }
    return NULL;
}

/* One pass over the pending tasks after the submissions: each one that still
 * waits says why.  Most ticks change no reason, and eng_set_pending_reason
 * writes nothing then; tasks with dependencies were stored with theirs. */
void eng_hold_reasons(engine *en, ebackend *eb, int64_t now)
{
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (r->be != eb || r->cancel_requested)
            continue;
        for (size_t i = r->scan_from; i < r->n; i++) {
            etask *t = &r->t[i];
            if (t->state != TS_PENDING)
                continue;
            char *why = NULL;
            if (t->unmet)
                why = xstrdup(PENDING_DEPENDENCIES);
            else if (t->retry_at > now)
                why = eng_retry_reason(t->retry_at);
            else
                why = cap_reason(r, eb, t);
            eng_set_pending_reason(r, i, why);
            free(why);
        }
    }
}

int eng_tick_submit(engine *en, sh_err *e)
{
    int64_t now = time_now_us();
    for (size_t b = 0; b < en->nbes; b++) {
        ebackend *eb = en->bes[b];
        pick *picks = NULL;
        size_t n = choose(en, eb, now, &picks);
        int rc = 0;
        for (size_t off = 0; off < n && rc == 0; off += SUBMIT_CHUNK) {
            size_t len = n - off < SUBMIT_CHUNK ? n - off : SUBMIT_CHUNK;
            rc = submit_chunk(en, eb, picks + off, len, e);
            if (rc == 0 && off + len < n)
                rc = eng_flush_all(en, e) < 0 || store_commit(en->st, e) < 0 ||
                             store_begin(en->st, e) < 0
                         ? -1
                         : 0;
        }
        free(picks);
        if (rc < 0)
            return -1;
        eng_hold_reasons(en, eb, now);
        if (n)
            en->need_poll = true;
    }
    return 0;
}

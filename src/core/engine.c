/* engine.c - the run engine's lifecycle, ticks and waiting.  See engine.h
 * and engine_internal.h for how the engine's files divide the work. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- signals ---------------------------------------------------------------- */

static int g_sig_pipe_w = -1;

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    if (g_sig_pipe_w >= 0) {
        ssize_t n = write(g_sig_pipe_w, "c", 1);
        (void)n;
    }
    errno = saved;
}

/* --- small helpers ---------------------------------------------------------- */

void eng_set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

const char *eng_jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void eng_etask_free(etask *t)
{
    task_def_free(&t->def);
    free(t->job_id);
    free(t->tag);
    free(t->out_path);
    free(t->err_path);
    free(t->error);
    free(t->sched_state);
    free(t->pending_reason);
}

void eng_erun_free(erun *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        eng_etask_free(&r->t[i]);
    free(r->t);
    dag_index_free(&r->dag);
    free(r->roff);
    free(r->ridx);
    free(r->depp);
    free(r->ndep);
    free(r->dirty);
    free(r->id);
    free(r->workflow);
    free(r->backend_name);
    free(r->log_dir);
    json_decref(r->context);
    free(r);
}

/* A path a task names (generates_source, output_file): absolute or ~ as
 * given, anything else relative to the task's working dir.  Caller frees. */
char *eng_task_path(const etask *t, const char *p)
{
    if (p[0] == '/' || p[0] == '~')
        return fs_expand_home(p);
    char *wd = fs_expand_home(t->def.working_dir ? t->def.working_dir : "~");
    char *full = xasprintf("%s/%s", wd, p);
    free(wd);
    return full;
}

bool eng_blocks_dependents(task_state s)
{
    return s == TS_FAILED || s == TS_DEP_FAILED || s == TS_CANCELLED;
}

/* Rebuilds forward/reverse indices and unmet counts (after load or append). */
int eng_erun_index(erun *r, sh_err *e)
{
    task_def *defs = xmalloc((r->n ? r->n : 1) * sizeof *defs);
    for (size_t i = 0; i < r->n; i++)
        defs[i] = r->t[i].def;
    dag_index_free(&r->dag);
    int rc = dag_index_build(defs, r->n, &r->dag, e);
    free(defs);
    if (rc < 0)
        return -1;
    free(r->roff);
    free(r->ridx);
    free(r->depp);
    free(r->ndep);
    size_t edges = r->dag.off[r->n];
    r->roff = xcalloc(r->n + 1, sizeof *r->roff);
    r->ridx = xmalloc((edges ? edges : 1) * sizeof *r->ridx);
    r->depp = xmalloc((r->n ? r->n : 1) * sizeof *r->depp);
    r->ndep = xmalloc((r->n ? r->n : 1) * sizeof *r->ndep);
    for (size_t i = 0; i < edges; i++)
        r->roff[r->dag.idx[i] + 1]++;
    for (size_t i = 0; i < r->n; i++)
        r->roff[i + 1] += r->roff[i];
    uint32_t *fill = xcalloc(r->n + 1, sizeof *fill);
    for (size_t i = 0; i < r->n; i++) {
        r->depp[i] = r->dag.idx + r->dag.off[i];
        r->ndep[i] = r->dag.off[i + 1] - r->dag.off[i];
        uint32_t unmet = 0;
        for (uint32_t k = r->dag.off[i]; k < r->dag.off[i + 1]; k++) {
            uint32_t d = r->dag.idx[k];
            r->ridx[r->roff[d] + fill[d]++] = (uint32_t)i;
            if (r->t[d].state != TS_COMPLETED)
                unmet++;
        }
        r->t[i].unmet = unmet;
    }
    free(fill);
    return 0;
}

/* --- run status and flushing ----------------------------------------------------- */

int eng_flush_run(engine *en, erun *r, sh_err *e)
{
    /* The dirty list, not a scan: a 100k-task run is flushed after every
     * submission chunk. */
    for (size_t k = 0; k < r->ndirty; k++)
        if (r->t[r->dirty[k]].dirty && eng_flush_task(en, r, r->dirty[k], e) < 0)
            return -1;
    r->ndirty = 0;
    while (r->scan_from < r->n && task_state_is_terminal(r->t[r->scan_from].state))
        r->scan_from++;
    if (!r->touched)
        return 0;
    task_state *states = xmalloc((r->n ? r->n : 1) * sizeof *states);
    for (size_t i = 0; i < r->n; i++)
        states[i] = r->t[i].state;
    run_status before = r->status;
    r->status = run_status_derive(r->n, states, r->depp, r->ndep, r->cancel_requested);
    free(states);
    if (store_run_update(en->st, r->id, r->status,
                         run_status_is_terminal(r->status) ? time_now_us() : 0, r->n,
                         r->context_dirty ? r->context : NULL, e) < 0)
        return sh_err_prefix(e, "run %s", r->id);
    r->context_dirty = false;
    if (before != r->status)
        store_queue_event(en->st, time_now_us(), r->id, NULL, run_status_name(before),
                          run_status_name(r->status), NULL);
    r->touched = false;
    return 0;
}

int eng_flush_all(engine *en, sh_err *e)
{
    for (size_t k = 0; k < en->nruns; k++)
        if (eng_flush_run(en, en->runs[k], e) < 0)
            return -1;
    return 0;
}

static void evict_finished(engine *en)
{
    size_t w = 0;
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (run_status_is_terminal(r->status) && !r->active)
            eng_erun_free(r);
        else
            en->runs[w++] = r;
    }
    en->nruns = w;
}

/* --- retention ------------------------------------------------------------------- */

static void prune(engine *en)
{
    int64_t now = time_now_us();
    if (en->retention_days <= 0 || now - en->last_prune_us < PRUNE_EVERY_US)
        return;
    en->last_prune_us = now;
    sh_err e = SH_ERR_INIT;
    json_t *ids = NULL;
    if (store_expired_runs(en->st, now - (int64_t)en->retention_days * 86400 * 1000000, &ids, &e) <
        0) {
        log_warn("pruning old runs: %s", e.msg);
        return;
    }
    size_t k;
    json_t *v;
    json_array_foreach(ids, k, v)
    {
        const char *id = json_string_value(v);
        char *logs = xasprintf("%s/logs/%s", en->data_dir, id);
        if (store_delete_run(en->st, id, &e) == 0)
            fs_remove_tree(logs);
        else
            log_warn("pruning run %s: %s", id, e.msg);
        free(logs);
    }
    json_decref(ids);
}

/* --- the tick -------------------------------------------------------------------- */

static bool poll_due(engine *en)
{
    int64_t now = time_monotonic_ms();
    int64_t interval = (int64_t)(en->poll_interval * 1000);
    for (size_t b = 0; b < en->nbes; b++)
        if (en->bes[b]->local && en->bes[b]->active && interval > LOCAL_POLL_MS)
            interval = LOCAL_POLL_MS;
    return en->need_poll || now - en->last_poll_ms >= interval;
}

static int tick_observe(engine *en, sh_err *e)
{
    if (eng_sync_runs(en, e) < 0)
        return -1;
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (r->needs_reconcile) {
            r->needs_reconcile = false;
            if (eng_reconcile_submitting(en, r, e) < 0)
                return -1;
            for (size_t i = 0; i < r->n; i++)
                r->needs_reconcile |= r->t[i].state == TS_SUBMITTING;
        }
        if (r->cancel_requested && !r->cancel_done && eng_cancel_run(en, r, e) < 0)
            return -1;
    }
    if (poll_due(en)) {
        en->need_poll = false;
        en->last_poll_ms = time_monotonic_ms();
        for (size_t b = 0; b < en->nbes; b++)
            if (eng_poll_backend(en, en->bes[b], e) < 0)
                return -1;
    }
    for (size_t k = 0; k < en->nruns; k++)
        if (eng_cascade(en, en->runs[k], e) < 0)
            return -1;
    return 0;
}

int engine_tick(engine *en, sh_err *e)
{
    int64_t t0 = time_monotonic_ms();
    if (store_begin(en->st, e) < 0)
        return -1;
    int rc = tick_observe(en, e);
    int64_t t1 = time_monotonic_ms();
    if (rc == 0)
        rc = eng_tick_submit(en, e);
    int64_t t2 = time_monotonic_ms();
    if (rc == 0)
        rc = eng_flush_all(en, e);
    if (rc == 0)
        rc = store_commit(en->st, e);
    log_debug("tick: observe %lld ms, submit %lld ms, flush+commit %lld ms", (long long)(t1 - t0),
              (long long)(t2 - t1), (long long)(time_monotonic_ms() - t2));
    if (rc < 0) {
        store_rollback(en->st);
        store_release(en->st);
        /* In-memory state may now be ahead of the store: reload from it. */
        for (size_t k = 0; k < en->nruns; k++)
            eng_erun_free(en->runs[k]);
        en->nruns = 0;
        for (size_t b = 0; b < en->nbes; b++) {
            en->bes[b]->active = 0;
            en->bes[b]->active_cpus = 0;
        }
        return -1;
    }
    store_release(en->st);
    evict_finished(en);
    prune(en);
    store_release(en->st);
    eng_snapshot_backends(en);
    /* Between ticks nothing needs the big cache, yet a page cache only
     * grows: a long-lived engine (`scripthut serve`) would keep a copy of
     * its database up to ENGINE_CACHE_KB (the soak saw RSS follow the
     * database file, +13 MB over 10,000 tasks).  The pages dropped stay in
     * the OS page cache. */
    store_trim_cache(en->st, ENGINE_IDLE_CACHE_KB, ENGINE_CACHE_KB);
    return 0;
}

/* --- waiting ---------------------------------------------------------------------- */

static int64_t next_due_ms(engine *en)
{
    /* Set after submissions and job exits: look at the backends right away
     * rather than a whole poll interval later. */
    if (en->need_poll)
        return 0;
    int64_t now_us = time_now_us();
    int64_t best = -1;
    int64_t interval = (int64_t)(en->poll_interval * 1000);
    bool any_active = false;
    for (size_t b = 0; b < en->nbes; b++) {
        if (!en->bes[b]->active)
            continue;
        any_active = true;
        if (en->bes[b]->local && interval > LOCAL_POLL_MS)
            interval = LOCAL_POLL_MS;
    }
    if (any_active) {
        int64_t left = en->last_poll_ms + interval - time_monotonic_ms();
        best = left < 0 ? 0 : left;
    }
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        for (size_t i = r->scan_from; i < r->n; i++) {
            etask *t = &r->t[i];
            if (t->state == TS_PENDING && t->retry_at > now_us && t->unmet == 0) {
                int64_t left = (t->retry_at - now_us) / 1000 + 1;
                if (best < 0 || left < best)
                    best = left;
            }
        }
    }
    return best;
}

int engine_wait(engine *en, int max_ms)
{
    int64_t due = next_due_ms(en);
    int timeout = max_ms;
    if (due >= 0 && due < timeout)
        timeout = (int)due;
    struct pollfd fds[2] = {{en->fifo_fd, POLLIN, 0}, {en->sig_pipe[0], POLLIN, 0}};
    int rc = poll(fds, 2, timeout < 0 ? 0 : timeout);
    int interrupted = rc < 0 && errno == EINTR;
    char buf[256];
    if (rc > 0 && (fds[0].revents & POLLIN))
        while (read(en->fifo_fd, buf, sizeof buf) > 0) {
        }
    if (rc > 0 && (fds[1].revents & POLLIN)) {
        while (read(en->sig_pipe[0], buf, sizeof buf) > 0) {
        }
        en->need_poll = true; /* a job wrapper exited */
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    return interrupted;
}

size_t engine_active_runs(engine *en)
{
    return en->nruns;
}

/* --- lifecycle -------------------------------------------------------------------- */

static int open_fifo(const char *data_dir)
{
    char *path = xasprintf("%s/engine.wake", data_dir);
    if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
        free(path);
        return -1;
    }
    /* O_RDWR keeps a writer open ourselves, so poll never sees a hang-up. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    free(path);
    return fd;
}

engine *engine_new(store *st, struct host *h, const engine_opts *o, sh_err *e)
{
    engine *en = xcalloc(1, sizeof *en);
    en->st = st;
    en->host = h;
    en->data_dir = xstrdup(o->data_dir);
    en->poll_interval = o->poll_interval >= 1 ? o->poll_interval : 1;
    en->retention_days = o->retention_days;
    en->need_poll = true;
    en->fifo_fd = open_fifo(o->data_dir);
    if (en->fifo_fd < 0 || pipe2(en->sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        sh_err_set(e, SH_EINTERNAL, "engine: cannot set up wake-ups in %s: %s", o->data_dir,
                   strerror(errno));
        if (en->fifo_fd >= 0)
            close(en->fifo_fd);
        free(en->data_dir);
        free(en);
        return NULL;
    }
    g_sig_pipe_w = en->sig_pipe[1];
    /* The engine rewrites every task row several times over a run, and a
     * tick's transaction can touch a whole 100k-task run.  SQLite's default
     * 2 MB page cache would spill dirty pages to the WAL mid-transaction and
     * read back what it just evicted: a 100k-task run wrote each page ~12
     * times.  The cache only grows as pages are used. */
    sh_err ce = SH_ERR_INIT;
    if (store_set_cache_kb(st, ENGINE_CACHE_KB, &ce) < 0)
        log_warn("engine: %s", ce.msg);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    return en;
}

void engine_free(engine *en)
{
    if (!en)
        return;
    for (size_t k = 0; k < en->nruns; k++)
        eng_erun_free(en->runs[k]);
    free(en->runs);
    for (size_t b = 0; b < en->nbes; b++) {
        backend_destroy(en->bes[b]->b);
        free(en->bes[b]->name);
        free(en->bes[b]->snapshot);
        free(en->bes[b]);
    }
    free(en->bes);
    signal(SIGCHLD, SIG_DFL);
    g_sig_pipe_w = -1;
    close(en->fifo_fd);
    close(en->sig_pipe[0]);
    close(en->sig_pipe[1]);
    free(en->data_dir);
    free(en);
}

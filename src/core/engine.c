/* engine.c - the run engine: state machine, fair submission, polling,
 * retries, cancel, generates_source and crash recovery.  See engine.h. */
#include "core/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/dag.h"
#include "core/model.h"
#include "lua/host.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define DEFAULT_BACKEND_CAP 100
#define PRUNE_EVERY_US (3600LL * 1000000)
/* Local jobs the engine did not spawn (adopted after a restart) send no
 * SIGCHLD, so the local backend is polled at least this often. */
#define LOCAL_POLL_MS 1000

typedef struct etask {
    task_def def;
    task_state state;
    int attempt;
    char *job_id, *tag, *out_path, *err_path, *error, *sched_state;
    int64_t submitted_at, started_at, finished_at, retry_at;
    int exit_code;
    bool has_exit;
    int generated_by;
    uint32_t unmet;    /* deps not yet completed */
    bool dirty;
} etask;

typedef struct erun {
    char *id, *workflow, *backend_name, *log_dir;
    int64_t created_at;
    int max_concurrent;
    json_t *context;
    bool cancel_requested, cancel_done;
    etask *t;
    size_t n, cap;
    dag_index dag;
    uint32_t *roff, *ridx;          /* reverse deps: dependents of i */
    const uint32_t **depp;          /* for run_status_derive */
    uint32_t *ndep;
    size_t active;
    size_t scan_from;
    run_status status;
    struct ebackend *be;
    bool touched, context_dirty;
    bool log_dir_made;
} erun;

typedef struct ebackend {
    char *name;
    backend *b;
    int cap;          /* max_concurrent */
    int max_cpus;     /* 0: not counted */
    size_t active;
    int active_cpus;
    bool local;
} ebackend;

struct engine {
    store *st;
    struct host *host;
    char *data_dir;
    double poll_interval;
    int retention_days;
    erun **runs;
    size_t nruns, caprun;
    ebackend **bes;
    size_t nbes;
    size_t rr;                /* where the next round-robin turn starts */
    int64_t last_poll_ms;
    int64_t last_prune_us;
    int fifo_fd;
    int sig_pipe[2];
    bool need_poll;
};

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

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void etask_free(etask *t)
{
    task_def_free(&t->def);
    free(t->job_id);
    free(t->tag);
    free(t->out_path);
    free(t->err_path);
    free(t->error);
    free(t->sched_state);
}

static void erun_free(erun *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        etask_free(&r->t[i]);
    free(r->t);
    dag_index_free(&r->dag);
    free(r->roff);
    free(r->ridx);
    free(r->depp);
    free(r->ndep);
    free(r->id);
    free(r->workflow);
    free(r->backend_name);
    free(r->log_dir);
    json_decref(r->context);
    free(r);
}

static bool blocks_dependents(task_state s)
{
    return s == TS_FAILED || s == TS_DEP_FAILED || s == TS_CANCELLED;
}

/* Rebuilds forward/reverse indices and unmet counts (after load or append). */
static int erun_index(erun *r, sh_err *e)
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

/* --- persistence of one task ----------------------------------------------- */

static const char SQL_UPDATE_TASK[] =
    "UPDATE tasks SET state=?3, attempt=?4, job_id=?5, tag=?6, submitted_at=?7,"
    " started_at=?8, finished_at=?9, exit_code=?10, error=?11, retry_at=?12,"
    " scheduler_state=?13, out_path=?14, err_path=?15 WHERE run_id=?1 AND idx=?2";
static const char SQL_INSERT_ATTEMPT[] =
    "INSERT OR REPLACE INTO attempts (run_id, idx, attempt, tag, job_id, state,"
    " submitted_at, started_at, finished_at, exit_code, error, out_path, err_path)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char SQL_UPDATE_RUN[] =
    "UPDATE runs SET status=?2, finished_at=?3, context=coalesce(?4, context),"
    " task_count=?5 WHERE id=?1";
static const char SQL_INSERT_GENERATED[] =
    "INSERT INTO tasks (run_id, idx, task_id, definition, state, generated_by)"
    " VALUES (?1, ?2, ?3, ?4, 'pending', ?5)";

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static void bind_opt_time(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static int flush_task(engine *en, erun *r, size_t i, sh_err *e)
{
    etask *t = &r->t[i];
    sqlite3_stmt *s = store_stmt(en->st, SQL_UPDATE_TASK, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
    sqlite3_bind_text(s, 3, task_state_name(t->state), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, t->attempt);
    bind_opt_text(s, 5, t->job_id);
    bind_opt_text(s, 6, t->tag);
    bind_opt_time(s, 7, t->submitted_at);
    bind_opt_time(s, 8, t->started_at);
    bind_opt_time(s, 9, t->finished_at);
    if (t->has_exit)
        sqlite3_bind_int(s, 10, t->exit_code);
    else
        sqlite3_bind_null(s, 10);
    bind_opt_text(s, 11, t->error);
    bind_opt_time(s, 12, t->retry_at);
    bind_opt_text(s, 13, t->sched_state);
    bind_opt_text(s, 14, t->out_path);
    bind_opt_text(s, 15, t->err_path);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: updating task %s of run %s: %s", t->def.id,
                          r->id, sqlite3_errmsg(store_db(en->st)));
    t->dirty = false;
    return 0;
}

/* Records an attempt when it ends.  The attempt in flight lives in the task
 * row (the run detail shows it from there): one write per attempt, not two. */
static int save_attempt(engine *en, erun *r, size_t i, task_state attempt_state, sh_err *e)
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
    bind_opt_text(s, 5, t->job_id);
    sqlite3_bind_text(s, 6, task_state_name(attempt_state), -1, SQLITE_STATIC);
    bind_opt_time(s, 7, t->submitted_at);
    bind_opt_time(s, 8, t->started_at);
    bind_opt_time(s, 9, t->finished_at);
    if (t->has_exit)
        sqlite3_bind_int(s, 10, t->exit_code);
    else
        sqlite3_bind_null(s, 10);
    bind_opt_text(s, 11, t->error);
    bind_opt_text(s, 12, t->out_path);
    bind_opt_text(s, 13, t->err_path);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: recording attempt %d of task %s: %s",
                          t->attempt, t->def.id, sqlite3_errmsg(store_db(en->st)));
    return 0;
}

/* Every state change goes through here: the task, its dependents' counters
 * and an event in the tick's transaction. */
static int transition(engine *en, erun *r, size_t i, task_state to, const char *detail,
                      sh_err *e)
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
    t->dirty = true;
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
    return store_add_event(en->st, time_now_us(), r->id, t->def.id, task_state_name(from),
                           task_state_name(to), detail, e);
}

/* Ends the current attempt in a terminal (or retry) state. */
static int finish_task(engine *en, erun *r, size_t i, task_state to, const char *error,
                       const char *detail, sh_err *e)
{
    etask *t = &r->t[i];
    int64_t now = time_now_us();
    if (!t->finished_at)
        t->finished_at = now;
    if (!t->started_at && t->submitted_at)
        t->started_at = t->submitted_at;
    set_str(&t->error, error);
    if (save_attempt(en, r, i, to, e) < 0)
        return -1;
    return transition(en, r, i, to, detail ? detail : error, e);
}

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
    const char *type = jstr(config, "type");
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
        t->generated_by = sqlite3_column_type(s, 15) == SQLITE_NULL ? -1
                                                                    : sqlite3_column_int(s, 15);
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
    if (load_tasks(en, r, e) < 0 || erun_index(r, e) < 0) {
        erun_free(r);
        return NULL;
    }
    r->be = get_backend(en, r->backend_name, json_object_get(r->context, "backend"), e);
    if (!r->be) {
        sh_err_prefix(e, "run %s", r->id);
        erun_free(r);
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
static int reconcile_submitting(engine *en, erun *r, sh_err *e)
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
            set_str(&t->job_id, job_id);
            free(job_id);
            if (!t->submitted_at)
                t->submitted_at = time_now_us();
            char *detail = xasprintf("adopted job %s after restart (tag %s)", t->job_id, t->tag);
            int rc = transition(en, r, i, TS_SUBMITTED, detail, e);
            free(detail);
            if (rc < 0)
                return -1;
        } else {
            t->attempt--;
            set_str(&t->tag, NULL);
            t->submitted_at = 0;
            if (transition(en, r, i, TS_PENDING, "not found at the backend after restart; "
                                                 "will submit again", e) < 0)
                return -1;
        }
    }
    return 0;
}

static const char SQL_FAIL_RUN_TASKS[] =
    "UPDATE tasks SET state='failed', error=?2, finished_at=?3 WHERE run_id=?1"
    " AND state NOT IN ('completed', 'failed', 'dep_failed', 'cancelled')";
static const char SQL_FAIL_RUN[] =
    "UPDATE runs SET status='failed', finished_at=?2 WHERE id=?1";

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

static int sync_runs(engine *en, sh_err *e)
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
        if (reconcile_submitting(en, r, e) < 0) {
            json_decref(fresh);
            return -1;
        }
        en->need_poll = true;
    }
    json_decref(fresh);
    return 0;
}

/* --- cancel --------------------------------------------------------------------- */

static int cancel_run(engine *en, erun *r, sh_err *e)
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
        if (finish_task(en, r, i, TS_CANCELLED, "Cancelled", NULL, e) < 0)
            return -1;
    }
    bool any_left = false;
    for (size_t i = 0; i < r->n; i++)
        any_left |= !task_state_is_terminal(r->t[i].state);
    r->cancel_done = !any_left;
    return 0;
}

/* --- generates_source ----------------------------------------------------------- */

static char *generated_path(const etask *t)
{
    const char *p = t->def.generates_source;
    if (p[0] == '/' || p[0] == '~')
        return fs_expand_home(p);
    char *wd = fs_expand_home(t->def.working_dir ? t->def.working_dir : "~");
    char *full = xasprintf("%s/%s", wd, p);
    free(wd);
    return full;
}

static void merge_doc_env(erun *r, json_t *doc_env, json_t *doc_groups)
{
    json_t *env = json_object_get(r->context, "env");
    if (!json_is_object(env)) {
        env = json_object();
        json_object_set_new(r->context, "env", env);
    }
    json_t *wf = json_object_get(env, "workflow");
    if (!json_is_array(wf)) {
        wf = json_array();
        json_object_set_new(env, "workflow", wf);
    }
    json_array_extend(wf, doc_env);
    json_t *groups = json_object_get(r->context, "env_groups");
    if (!json_is_object(groups)) {
        groups = json_object();
        json_object_set_new(r->context, "env_groups", groups);
    }
    json_object_update(groups, doc_groups);
    r->context_dirty = true;
}

static int insert_generated(engine *en, erun *r, size_t first, size_t gen, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(en->st, SQL_INSERT_GENERATED, e);
    if (!s)
        return -1;
    for (size_t i = first; i < r->n; i++) {
        json_t *def = task_def_to_json(&r->t[i].def);
        char *text = json_dumps(def, JSON_COMPACT);
        json_decref(def);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_text(s, 3, r->t[i].def.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, text, -1, free);
        sqlite3_bind_int64(s, 5, (sqlite3_int64)gen);
        if (sqlite3_step(s) != SQLITE_DONE)
            return sh_err_set(e, SH_EINTERNAL, "store: appending generated task %s: %s",
                              r->t[i].def.id, sqlite3_errmsg(store_db(en->st)));
        if (store_add_event(en->st, time_now_us(), r->id, r->t[i].def.id, NULL, "pending",
                            "generated", e) < 0)
            return -1;
    }
    return 0;
}

/* Reads and validates the generator's file; on success appends its tasks as a
 * batch.  Returns 0 (appended), 1 (bad file: *why set), -1 (store error). */
static int append_generated(engine *en, erun *r, size_t gen, char **why, sh_err *e)
{
    char *path = generated_path(&r->t[gen]);
    char *text = NULL;
    size_t len = 0;
    sh_err re = SH_ERR_INIT;
    if (r->be->b->ops->read_file(r->be->b, path, &text, &len, &re) < 0) {
        *why = xasprintf("generates_source %s: %s", path, re.msg);
        free(path);
        return 1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!doc) {
        *why = xasprintf("generates_source %s: invalid JSON at line %d: %s", path, jerr.line,
                         jerr.text);
        free(path);
        return 1;
    }
    task_def *fresh = NULL;
    size_t nfresh = 0;
    json_t *doc_env = NULL, *doc_groups = NULL;
    char *where = xasprintf("generates_source %s", path);
    sh_err ve = SH_ERR_INIT;
    int rc = workflow_doc_parse(doc, where, &fresh, &nfresh, &doc_env, &doc_groups, &ve);
    json_decref(doc);
    free(where);
    if (rc < 0) {
        *why = xasprintf("generates_source %s: %s", path, ve.msg);
        free(path);
        return 1;
    }
    /* Validate old + new together; only the new tasks are expanded. */
    size_t total = r->n + nfresh;
    task_def *all = xmalloc((total ? total : 1) * sizeof *all);
    for (size_t i = 0; i < r->n; i++)
        all[i] = r->t[i].def;
    memcpy(all + r->n, fresh, nfresh * sizeof *fresh);
    if (dag_expand_and_validate(all, total, r->n, &ve) < 0) {
        *why = xasprintf("generates_source %s: %s", path, ve.msg);
        free(all);
        task_def_free_array(fresh, nfresh);
        json_decref(doc_env);
        json_decref(doc_groups);
        free(path);
        return 1;
    }
    /* Generated tasks work where their generator worked: "~" (the default)
     * becomes the generator's dir, relative dirs are taken from it. */
    const char *base = r->t[gen].def.working_dir ? r->t[gen].def.working_dir : "~";
    for (size_t i = r->n; i < total; i++) {
        char *wd = all[i].working_dir;
        if (!wd || !strcmp(wd, "~")) {
            set_str(&all[i].working_dir, base);
        } else if (wd[0] != '/' && wd[0] != '~') {
            char *joined = xasprintf("%s/%s", base, wd);
            free(all[i].working_dir);
            all[i].working_dir = joined;
        }
    }
    size_t first = r->n;
    if (total > r->cap) {
        r->cap = total;
        r->t = xrealloc(r->t, r->cap * sizeof *r->t);
    }
    for (size_t i = first; i < total; i++) {
        memset(&r->t[i], 0, sizeof r->t[i]);
        r->t[i].def = all[i];
        r->t[i].generated_by = (int)gen;
    }
    r->n = total;
    free(all);
    free(fresh); /* the defs now belong to the run's tasks */
    merge_doc_env(r, doc_env, doc_groups);
    json_decref(doc_env);
    json_decref(doc_groups);
    free(path);
    if (erun_index(r, e) < 0)
        return -1;
    r->touched = true;
    return insert_generated(en, r, first, gen, e);
}

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
    set_str(&t->sched_state, js->scheduler_state[0] ? js->scheduler_state : NULL);
    if (js->success) {
        if (finish_task(en, r, i, TS_COMPLETED, NULL, js->reason[0] ? js->reason : "exit code 0",
                        e) < 0)
            return -1;
        if (t->def.generates_source) {
            char *why = NULL;
            int rc = append_generated(en, r, i, &why, e);
            if (rc < 0)
                return -1;
            if (rc > 0) {
                /* The task ran, but what it generated is unusable: fail it
                 * visibly rather than lose the tasks silently. */
                set_str(&t->error, why);
                int frc = transition(en, r, i, TS_FAILED, why, e);
                free(why);
                if (frc < 0)
                    return -1;
            }
        }
        return 0;
    }
    if (js->cancelled)
        return finish_task(en, r, i, TS_CANCELLED, "Cancelled", NULL, e);
    const char *reason = js->reason[0] ? js->reason : "failed";
    if (should_retry(t, js)) {
        char *err = xasprintf("attempt %d failed: %s", t->attempt, reason);
        if (save_attempt(en, r, i, TS_FAILED, e) < 0) {
            free(err);
            return -1;
        }
        set_str(&t->error, err);
        t->retry_at = time_now_us() + (int64_t)(t->def.retry_delay * 1e6);
        char *detail = xasprintf("%s; retry %d of %d in %gs", err, t->attempt, t->def.retries,
                                 t->def.retry_delay);
        free(err);
        int rc = transition(en, r, i, TS_PENDING, detail, e);
        free(detail);
        return rc;
    }
    return finish_task(en, r, i, TS_FAILED, reason, NULL, e);
}

static int apply_status(engine *en, erun *r, size_t i, const job_status *js, sh_err *e)
{
    etask *t = &r->t[i];
    switch (js->phase) {
    case JOB_UNKNOWN:
        return 0;
    case JOB_QUEUED:
        return t->state == TS_SUBMITTED ? transition(en, r, i, TS_QUEUED, NULL, e) : 0;
    case JOB_RUNNING:
        if (t->state == TS_RUNNING)
            return 0;
        t->started_at = js->started_us ? js->started_us : time_now_us();
        return transition(en, r, i, TS_RUNNING, NULL, e);
    case JOB_FINISHED:
        return apply_finished(en, r, i, js, e);
    case JOB_LOST:
        t->has_exit = false;
        return finish_task(en, r, i, TS_FAILED, js->reason[0] ? js->reason : "job lost", NULL, e);
    }
    return 0;
}

typedef struct poll_slot {
    erun *r;
    size_t i;
} poll_slot;

static int poll_backend(engine *en, ebackend *eb, sh_err *e)
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

static int cascade(engine *en, erun *r, sh_err *e)
{
    /* Worklist over reverse edges: each task is visited once per change. */
    size_t *work = xmalloc((r->n ? r->n : 1) * sizeof *work);
    size_t nw = 0;
    for (size_t i = 0; i < r->n; i++)
        if (blocks_dependents(r->t[i].state))
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
            rc = finish_task(en, r, c, TS_DEP_FAILED, err, NULL, e);
            free(err);
            work[nw++] = c;
        }
    }
    free(work);
    return rc;
}

static bool task_ready(const etask *t, int64_t now)
{
    return t->state == TS_PENDING && t->unmet == 0 && t->retry_at <= now;
}

/* --- submission ------------------------------------------------------------------ */

typedef struct pick {
    erun *r;
    size_t i;
} pick;

static char *log_path(const erun *r, const etask *t, const char *ext, const char *custom)
{
    if (custom && *custom) {
        if (custom[0] == '/' || custom[0] == '~')
            return fs_expand_home(custom);
        char *wd = fs_expand_home(t->def.working_dir ? t->def.working_dir : "~");
        char *p = xasprintf("%s/%s", wd, custom);
        free(wd);
        return p;
    }
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
            while (cursor[k] < r->n && !task_ready(&r->t[cursor[k]], now))
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

static json_t *job_json(const erun *r, const etask *t)
{
    json_t *task = task_def_to_json(&t->def);
    return json_pack("{s:s,s:o,s:s,s:i,s:s,s:s}", "run_id", r->id, "task", task, "tag", t->tag,
                     "attempt", t->attempt, "out_path", t->out_path, "err_path", t->err_path);
}

/* Renders scripts for the picked tasks (one Lua call), marks each either
 * submitting (with its tag and log paths) or failed. */
static int prepare_picks(engine *en, pick *picks, size_t n, json_t **scripts, sh_err *e)
{
    json_t *runs = json_object();
    json_t *jobs = json_array();
    for (size_t k = 0; k < n; k++) {
        erun *r = picks[k].r;
        etask *t = &r->t[picks[k].i];
        t->attempt++;
        char *tag = xasprintf("sh-%s-%s-%d", r->id, t->def.id, t->attempt);
        set_str(&t->tag, tag);
        free(tag);
        free(t->out_path);
        free(t->err_path);
        t->out_path = log_path(r, t, "out", t->def.output_file);
        t->err_path = log_path(r, t, "err", t->def.error_file);
        if (!json_object_get(runs, r->id))
            json_object_set_new(runs, r->id, run_prepare_context(r));
        json_array_append_new(jobs, job_json(r, t));
    }
    json_t *batch = json_pack("{s:o,s:o,s:b}", "runs", runs, "jobs", jobs, "with_env", 0);
    json_t *results = NULL;
    sh_err he = SH_ERR_INIT;
    int64_t t0 = time_monotonic_ms();
    int hrc = host_prepare_jobs(en->host, batch, &results, &he);
    log_debug("host_prepare_jobs: %zu jobs in %lld ms", n, (long long)(time_monotonic_ms() - t0));
    json_decref(batch);
    *scripts = json_array();
    for (size_t k = 0; k < n; k++) {
        erun *r = picks[k].r;
        size_t i = picks[k].i;
        etask *t = &r->t[i];
        json_t *res = hrc == 0 ? json_array_get(results, k) : NULL;
        const char *script = jstr(res, "script");
        json_t *warns = json_object_get(res, "warnings");
        size_t w;
        json_t *wv;
        json_array_foreach(warns, w, wv)
        {
            if (store_add_event(en->st, time_now_us(), r->id, t->def.id, NULL, "warning",
                                json_string_value(wv), e) < 0)
                goto fail;
        }
        if (!script) {
            const char *why = hrc < 0 ? he.msg : jstr(res, "error");
            char *err = xasprintf("preparing the job script failed: %s", why ? why : "no script");
            int rc = finish_task(en, r, i, TS_FAILED, err, NULL, e);
            free(err);
            json_array_append_new(*scripts, json_null());
            if (rc < 0)
                goto fail;
            continue;
        }
        json_array_append_new(*scripts, json_string(script));
        t->submitted_at = 0;
        t->started_at = 0;
        t->finished_at = 0;
        t->has_exit = false;
        set_str(&t->job_id, NULL);
        set_str(&t->sched_state, NULL);
        if (transition(en, r, i, TS_SUBMITTING, t->tag, e) < 0)
            goto fail;
    }
    json_decref(results);
    return 0;
fail:
    json_decref(results);
    return -1;
}

static int64_t parse_limit(const char *limit)
{
    int64_t secs = 0;
    if (!limit || !*limit || time_parse_duration(limit, &secs) < 0)
        return 0;
    return secs;
}

static int submit_picks(engine *en, ebackend *eb, pick *picks, size_t n, json_t *scripts,
                        sh_err *e)
{
    job_spec *specs = xcalloc(n ? n : 1, sizeof *specs);
    size_t *which = xmalloc((n ? n : 1) * sizeof *which);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const char *script = json_string_value(json_array_get(scripts, k));
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
            set_str(&t->job_id, ids[j]);
            t->submitted_at = now;
            char *detail = xasprintf("job %s", ids[j]);
            rc = transition(en, r, i, TS_SUBMITTED, detail, e);
            free(detail);
        } else {
            char *err = xasprintf("submission failed: %s", errs[j].msg);
            rc = finish_task(en, r, i, TS_FAILED, err, NULL, e);
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

/* --- run status and flushing ----------------------------------------------------- */

static int flush_run(engine *en, erun *r, sh_err *e)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].dirty && flush_task(en, r, i, e) < 0)
            return -1;
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
    sqlite3_stmt *s = store_stmt(en->st, SQL_UPDATE_RUN, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, run_status_name(r->status), -1, SQLITE_STATIC);
    if (run_status_is_terminal(r->status))
        sqlite3_bind_int64(s, 3, time_now_us());
    else
        sqlite3_bind_null(s, 3);
    char *ctx = r->context_dirty ? json_dumps(r->context, JSON_COMPACT) : NULL;
    if (ctx)
        sqlite3_bind_text(s, 4, ctx, -1, free);
    else
        sqlite3_bind_null(s, 4);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)r->n);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sh_err_set(e, SH_EINTERNAL, "store: updating run %s: %s", r->id,
                          sqlite3_errmsg(store_db(en->st)));
    r->context_dirty = false;
    if (before != r->status &&
        store_add_event(en->st, time_now_us(), r->id, NULL, run_status_name(before),
                        run_status_name(r->status), NULL, e) < 0)
        return -1;
    r->touched = false;
    return 0;
}

static int flush_all(engine *en, sh_err *e)
{
    for (size_t k = 0; k < en->nruns; k++)
        if (flush_run(en, en->runs[k], e) < 0)
            return -1;
    return 0;
}

static void evict_finished(engine *en)
{
    size_t w = 0;
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (run_status_is_terminal(r->status) && !r->active)
            erun_free(r);
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
    if (store_expired_runs(en->st, now - (int64_t)en->retention_days * 86400 * 1000000, &ids,
                           &e) < 0) {
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
    if (sync_runs(en, e) < 0)
        return -1;
    for (size_t k = 0; k < en->nruns; k++) {
        erun *r = en->runs[k];
        if (r->cancel_requested && !r->cancel_done && cancel_run(en, r, e) < 0)
            return -1;
    }
    if (poll_due(en)) {
        en->need_poll = false;
        en->last_poll_ms = time_monotonic_ms();
        for (size_t b = 0; b < en->nbes; b++)
            if (poll_backend(en, en->bes[b], e) < 0)
                return -1;
    }
    for (size_t k = 0; k < en->nruns; k++)
        if (cascade(en, en->runs[k], e) < 0)
            return -1;
    return 0;
}

/* Jobs prepared and submitted together.  Bounds the memory of one round
 * (scripts, Lua tables, JSON) whatever the size of the run. */
#define SUBMIT_CHUNK 2000

/* Prepares and submits picks[0..n) of one backend in two transactions. */
static int submit_chunk(engine *en, ebackend *eb, pick *picks, size_t n, sh_err *e)
{
    json_t *scripts = NULL;
    int64_t t0 = time_monotonic_ms();
    /* Phase 1: mark submitting and commit before the backend sees the job,
     * so a crash between the two is reconciled by tag. */
    if (prepare_picks(en, picks, n, &scripts, e) < 0) {
        json_decref(scripts);
        return -1;
    }
    int64_t t1 = time_monotonic_ms();
    if (flush_all(en, e) < 0 || store_commit(en->st, e) < 0) {
        json_decref(scripts);
        return -1;
    }
    int64_t t2 = time_monotonic_ms();
    int rc = store_begin(en->st, e);
    if (rc == 0)
        rc = submit_picks(en, eb, picks, n, scripts, e);
    log_debug("backend %s: %zu jobs: prepare %lld ms, mark submitting %lld ms, submit %lld ms",
              eb->name, n, (long long)(t1 - t0), (long long)(t2 - t1),
              (long long)(time_monotonic_ms() - t2));
    json_decref(scripts);
    return rc;
}

static int tick_submit(engine *en, sh_err *e)
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
                rc = flush_all(en, e) < 0 || store_commit(en->st, e) < 0 ||
                             store_begin(en->st, e) < 0
                         ? -1
                         : 0;
        }
        free(picks);
        if (rc < 0)
            return -1;
        if (n)
            en->need_poll = true;
    }
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
        rc = tick_submit(en, e);
    int64_t t2 = time_monotonic_ms();
    if (rc == 0)
        rc = flush_all(en, e);
    if (rc == 0)
        rc = store_commit(en->st, e);
    log_debug("tick: observe %lld ms, submit %lld ms, flush+commit %lld ms",
              (long long)(t1 - t0), (long long)(t2 - t1), (long long)(time_monotonic_ms() - t2));
    if (rc < 0) {
        store_rollback(en->st);
        store_release(en->st);
        /* In-memory state may now be ahead of the store: reload from it. */
        for (size_t k = 0; k < en->nruns; k++)
            erun_free(en->runs[k]);
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
        erun_free(en->runs[k]);
    free(en->runs);
    for (size_t b = 0; b < en->nbes; b++) {
        backend_destroy(en->bes[b]->b);
        free(en->bes[b]->name);
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

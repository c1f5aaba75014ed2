/* engine_internal.h - what the engine's files share: its in-memory model of
 * the active runs and the functions that change it.  engine.c: lifecycle,
 * ticks and waiting; engine_task.c: one task's transitions and their
 * persistence; engine_load.c: loading runs, crash reconciliation, cancel;
 * engine_poll.c: status queries, dep_failed cascade, retries;
 * engine_generate.c: generates_source; engine_submit.c: fair submission. */
#ifndef SCRIPTHUT_CORE_ENGINE_INTERNAL_H
#define SCRIPTHUT_CORE_ENGINE_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "model/dag.h"
#include "core/engine.h"
#include "model/model.h"

#define DEFAULT_BACKEND_CAP 100
#define PRUNE_EVERY_US (3600LL * 1000000)
/* Local jobs the engine did not spawn (adopted after a restart) send no
 * SIGCHLD, so the local backend is polled at least this often. */
#define LOCAL_POLL_MS 1000
/* The engine connection's SQLite page cache (engine.c, engine_new). */
#define ENGINE_CACHE_KB (64 * 1024)
/* What the cache is cut back to after each tick (engine.c, trim). */
#define ENGINE_IDLE_CACHE_KB 4096

typedef struct etask {
    task_def def;
    task_state state;
    int attempt;
    char *job_id, *tag, *out_path, *err_path, *error, *sched_state;
    char *pending_reason; /* as stored: written only when it changes */
    int64_t submitted_at, started_at, finished_at, retry_at;
    int exit_code;
    bool has_exit;
    int generated_by;
    uint32_t unmet; /* deps not yet completed */
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
    uint32_t *roff, *ridx; /* reverse deps: dependents of i */
    const uint32_t **depp; /* for run_status_derive */
    uint32_t *ndep;
    uint32_t *dirty; /* tasks to write at the next flush, in change order */
    size_t ndirty, capdirty;
    size_t active;
    size_t scan_from;
    run_status status;
    struct ebackend *be;
    bool touched, context_dirty;
    bool log_dir_made;
    bool needs_reconcile; /* tasks left `submitting` by an interrupted submission */
} erun;

typedef struct ebackend {
    char *name;
    backend *b;
    int cap;      /* max_concurrent */
    int max_cpus; /* 0: not counted */
    size_t active;
    int active_cpus;
    bool local;
    char *snapshot; /* the last snapshot written (engine_poll.c, core/backend_snapshot.h) */
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
    size_t rr; /* where the next round-robin turn starts */
    int64_t last_poll_ms;
    int64_t last_prune_us;
    int fifo_fd;
    int sig_pipe[2];
    bool need_poll;
};

void eng_set_str(char **dst, const char *v);
const char *eng_jstr(json_t *o, const char *key);
void eng_etask_free(etask *t);
void eng_erun_free(erun *r);
char *eng_task_path(const etask *t, const char *p);
bool eng_blocks_dependents(task_state s);
int eng_erun_index(erun *r, sh_err *e);
int eng_flush_task(engine *en, erun *r, size_t i, sh_err *e);
int eng_save_attempt(engine *en, erun *r, size_t i, task_state attempt_state, sh_err *e);
int eng_transition(engine *en, erun *r, size_t i, task_state to, const char *detail, sh_err *e);
/* Sets why task i waits (NULL: it does not); marks the task for the next
 * flush only when the reason changed. */
void eng_set_pending_reason(erun *r, size_t i, const char *reason);
/* Gives every task of eb's runs that still waits after this tick's
 * submissions the reason it waits (engine_submit.c). */
void eng_hold_reasons(engine *en, ebackend *eb, int64_t now);
/* "retry at <UTC time>" for a retry due at retry_at_us (caller frees). */
char *eng_retry_reason(int64_t retry_at_us);
int eng_finish_task(engine *en, erun *r, size_t i, task_state to, const char *error,
                    const char *detail, sh_err *e);
int eng_sync_runs(engine *en, sh_err *e);
int eng_reconcile_submitting(engine *en, erun *r, sh_err *e);
int eng_cancel_run(engine *en, erun *r, sh_err *e);
int eng_append_generated(engine *en, erun *r, size_t gen, char **why, sh_err *e);
int eng_poll_backend(engine *en, ebackend *eb, sh_err *e);
/* Writes each backend's snapshot for `backend list/status` when it changed. */
void eng_snapshot_backends(engine *en);
int eng_cascade(engine *en, erun *r, sh_err *e);
bool eng_task_ready(const etask *t, int64_t now);
int eng_flush_run(engine *en, erun *r, sh_err *e);
int eng_flush_all(engine *en, sh_err *e);
int eng_tick_submit(engine *en, sh_err *e);

#endif

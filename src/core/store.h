/* store.h - the SQLite store: runs, tasks, attempts and the append-only event
 * log.  One connection per process or thread.
 *
 * The store owns every SQL statement and the schema (docs/architecture.md):
 * callers use the functions below and never see SQLite.  Each function
 * resets its statements before it returns, so no call leaves a read
 * transaction open (which would pin the connection to an old snapshot and
 * make its next write fail at once instead of waiting for the lock).
 *
 * The engine is the only writer of task state; other processes insert runs,
 * flag cancel requests and delete finished runs.  Queries that the CLI and
 * the API share (run list, run detail, events) return JSON in the API's
 * shapes.
 *
 * Files: store.c (connection, transactions, statement cache), store_schema.c
 * (the numbered migrations), store_runs.c (runs and their queries),
 * store_events.c (the event log), store_engine.c (the engine's reads and
 * writes); store_internal.h is what they share. */
#ifndef SCRIPTHUT_CORE_STORE_H
#define SCRIPTHUT_CORE_STORE_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

/* The number of steps in the migration list (store_schema.c). */
#define STORE_SCHEMA_VERSION 2

typedef struct store store;

/* Opens (creating and migrating) <data_dir>/scripthut.db. WAL on local disks;
 * the rollback journal on NFS/Lustre/other network filesystems (said once on
 * stderr). */
int store_open(const char *data_dir, store **out, sh_err *e);
void store_close(store *st);

int store_begin(store *st, sh_err *e); /* BEGIN IMMEDIATE */
/* Writes the queued events (store_queue_event), then commits. */
int store_commit(store *st, sh_err *e);
/* Rolls back and drops the queued events. */
void store_rollback(store *st);

/* Resets every cached statement: a safety net at the end of an operation
 * (every function already resets its own). */
void store_release(store *st);

/* How many times this connection has waited for another one's lock (each
 * wait lasts at most 10 s before the statement fails with "database is
 * locked").  Thread-safe. */
long store_busy_waits(store *st);

/* The connection's page cache limit, in KiB. */
int store_set_cache_kb(store *st, int kb, sh_err *e);
/* When the page cache holds more than keep_kb, cuts it back to its keep_kb
 * most recently used pages (lowering the limit frees the rest), then sets
 * the limit to limit_kb again.  Failures are only logged. */
void store_trim_cache(store *st, int keep_kb, int limit_kb);
/* Bytes the connection's page cache holds now. */
long store_cache_used_bytes(store *st);

/* A new run to insert. */
typedef struct store_run_new {
    const char *id; /* NULL: generate one */
    const char *workflow_name;
    const char *backend_name;
    int64_t created_at;
    int max_concurrent; /* <= 0: no per-run cap */
    const char *log_dir;
    const char *account;
    json_t *context; /* backend config, env layers, groups, stacks, seed */
    const char *rerun_of;
    const char *source_name; /* the source the run came from, or NULL */
} store_run_new;

/* Inserts a run with its tasks (all pending, or keep_completed[i] marks task i
 * as completed, copied from an earlier run), plus a "created" event, in one
 * transaction.  *run_id receives the id (caller frees). */
int store_insert_run(store *st, const store_run_new *r, const task_def *tasks, size_t n,
                     const bool *keep_completed, char **run_id, sh_err *e);

/* Appends one event; inside the caller's transaction. */
int store_add_event(store *st, int64_t ts, const char *run_id, const char *task_id,
                    const char *from, const char *to, const char *detail, sh_err *e);

/* Queues an event (strings copied) to be written with the transaction's
 * other queued events in multi-row INSERTs, by store_flush_events, the next
 * store_add_event or store_commit, in the order they were queued.  The
 * engine queues every transition: ~3 events per task, 300k for a 100k-task
 * run, cost a statement each before. */
void store_queue_event(store *st, int64_t ts, const char *run_id, const char *task_id,
                       const char *from, const char *to, const char *detail);
int store_flush_events(store *st, sh_err *e);

/* JSON queries (API shapes). */
int store_run_summary_json(store *st, const char *run_id, json_t **out, sh_err *e);
int store_run_list_json(store *st, int limit, const char *workflow, json_t **out, sh_err *e);
int store_run_detail_json(store *st, const char *run_id, json_t **out, sh_err *e);
int store_events_json(store *st, const char *run_id, long long after, json_t **out, sh_err *e);
/* The sequence number of the newest event (0 when there is none). */
int store_events_last_seq(store *st, long long *out, sh_err *e);

/* Run fields used by the service. 404 if unknown. Caller frees strings / decrefs. */
typedef struct store_run_info {
    char *id, *workflow_name, *backend_name, *log_dir, *status;
    int64_t created_at;
    int max_concurrent; /* 0: no per-run cap */
    json_t *context;
    bool cancel_requested;
} store_run_info;
int store_run_info_get(store *st, const char *run_id, store_run_info *out, sh_err *e);
void store_run_info_free(store_run_info *r);

/* Task definitions of a run in order, with their states and generator
 * indices (-1 when not generated). */
int store_run_tasks(store *st, const char *run_id, json_t **defs, json_t **states,
                    json_t **generated_by, sh_err *e);

/* Where a task's logs are (the latest attempt's files).  404 for an unknown
 * run/task; 422 "Task has not been submitted yet". Caller frees. */
int store_task_log_paths(store *st, const char *run_id, const char *task_id, char **out_path,
                         char **err_path, char **state, sh_err *e);

int store_request_cancel(store *st, const char *run_id, sh_err *e);
/* Deletes a terminal run (409 when active). */
int store_delete_run(store *st, const char *run_id, sh_err *e);
/* Ids of terminal runs finished before `before_us` (caller decrefs). */
int store_expired_runs(store *st, int64_t before_us, json_t **ids, sh_err *e);
int store_count_active_runs(store *st, long *n, sh_err *e);

/* --- the engine's reads and writes (store_engine.c) ------------------------- */

/* Calls fn for each active (pending or running) run, with its cancel flag.
 * fn must not call the store; a non-zero return stops the walk and is
 * returned. */
int store_runs_active(store *st, int (*fn)(void *arg, const char *run_id, bool cancel_requested),
                      void *arg, sh_err *e);

/* A task's fields that change as it runs: one row of the tasks table, or of
 * the attempts table (where `state` is how the attempt ended).  Times are
 * microseconds since the epoch, 0 when unset; strings NULL when unset. */
typedef struct store_task_row {
    task_state state;
    int attempt;
    const char *job_id, *tag, *error, *sched_state, *out_path, *err_path;
    const char *pending_reason; /* why a pending or queued task waits, or NULL */
    int64_t submitted_at, started_at, finished_at, retry_at;
    bool has_exit;
    int exit_code;
    int generated_by; /* the generator's index, -1 when none (read only) */
} store_task_row;

/* Calls fn for each task of a run in index order, with its stored definition
 * (JSON text) and its row.  The strings are valid during the call only; fn
 * must not call the store.  A non-zero return stops the walk and is
 * returned. */
int store_run_load_tasks(store *st, const char *run_id,
                         int (*fn)(void *arg, size_t idx, const char *definition,
                                   const store_task_row *row, sh_err *e),
                         void *arg, sh_err *e);

/* Writes task idx's row; inside the caller's transaction. */
int store_task_update(store *st, const char *run_id, size_t idx, const store_task_row *row,
                      sh_err *e);
/* Records (or replaces) an attempt of task idx when it ends. */
int store_attempt_save(store *st, const char *run_id, size_t idx, const store_task_row *row,
                       sh_err *e);
/* Appends a generated task (pending) at index idx, generated by task
 * `generator`. */
int store_task_insert_generated(store *st, const char *run_id, size_t idx, const task_def *def,
                                size_t generator, sh_err *e);
/* A run's status, finished time (0: not finished), task count, and its
 * context when it changed (NULL: keep the stored one). */
int store_run_update(store *st, const char *run_id, run_status status, int64_t finished_at,
                     size_t task_count, json_t *context, sh_err *e);
/* Fails a run the engine cannot load: every unfinished task failed with
 * `why`, the run failed, and an event saying why. */
int store_run_fail(store *st, const char *run_id, const char *why, sh_err *e);

/* 8 lowercase hex characters from the system's CSPRNG. */
void store_new_run_id(char out[9]);

#endif

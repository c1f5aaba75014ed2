/* store.h - the SQLite store: runs, tasks, attempts and the append-only event
 * log (DESIGN §4).  One connection per process or thread.
 *
 * The engine is the only writer of task state; other processes insert runs,
 * flag cancel requests and delete finished runs.  Queries that the CLI and
 * the API share (run list, run detail, events) live here and return JSON in
 * the API's shapes. */
#ifndef SCRIPTHUT_CORE_STORE_H
#define SCRIPTHUT_CORE_STORE_H
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

#define STORE_SCHEMA_VERSION 1

typedef struct store store;

/* Opens (creating and migrating) <data_dir>/scripthut.db. WAL on local disks;
 * the rollback journal on NFS/Lustre/other network filesystems (said once on
 * stderr). */
int store_open(const char *data_dir, store **out, sh_err *e);
void store_close(store *st);
sqlite3 *store_db(store *st);
const char *store_journal_mode(store *st);

int store_begin(store *st, sh_err *e); /* BEGIN IMMEDIATE */
/* Writes the queued events (store_queue_event), then commits. */
int store_commit(store *st, sh_err *e);
/* Rolls back and drops the queued events. */
void store_rollback(store *st);

/* Resets every cached statement.  A statement left mid-result holds a read
 * transaction open, which would pin this connection to an old snapshot (and
 * block WAL checkpoints): call this when an operation is done. */
void store_release(store *st);

/* How many times this connection has waited for another one's lock (each
 * wait lasts at most 10 s before the statement fails with "database is
 * locked").  Thread-safe. */
long store_busy_waits(store *st);

/* Runs one SQL statement with no result rows. */
int store_exec(store *st, const char *sql, sh_err *e);
/* The connection's page cache limit, in KiB. */
int store_set_cache_kb(store *st, int kb, sh_err *e);
/* When the page cache holds more than keep_kb, cuts it back to its keep_kb
 * most recently used pages (lowering the limit frees the rest), then sets
 * the limit to limit_kb again.  Failures are only logged. */
void store_trim_cache(store *st, int keep_kb, int limit_kb);
/* Prepares a cached statement (finalised by store_close). */
sqlite3_stmt *store_stmt(store *st, const char *sql, sh_err *e);

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
    int max_concurrent;
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

/* 8 lowercase hex characters from the system's CSPRNG. */
void store_new_run_id(char out[9]);

#endif

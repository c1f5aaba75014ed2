/* store_schema.c - the schema, as one numbered list of migrations.
 *
 * Each entry upgrades the database from user_version i to i + 1 in one
 * transaction.  Never edit a released entry: append a new one (and raise
 * STORE_SCHEMA_VERSION in store.h).  Issues that add columns append their
 * steps here in the order they land. */
#include "core/store_internal.h"

#include <stdio.h>

const char *const store_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  workflow_name TEXT NOT NULL,"
    "  backend_name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  status TEXT NOT NULL,"
    "  max_concurrent INTEGER,"
    "  log_dir TEXT NOT NULL,"
    "  account TEXT,"
    "  context TEXT NOT NULL,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  rerun_of TEXT,"
    "  task_count INTEGER NOT NULL);"
    "CREATE INDEX runs_by_created ON runs(created_at DESC);"
    "CREATE INDEX runs_by_status ON runs(status);"
    "CREATE TABLE tasks ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  task_id TEXT NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  job_id TEXT,"
    "  tag TEXT,"
    "  submitted_at INTEGER, started_at INTEGER, finished_at INTEGER,"
    "  exit_code INTEGER,"
    "  error TEXT,"
    "  retry_at INTEGER,"
    "  scheduler_state TEXT,"
    "  out_path TEXT, err_path TEXT,"
    "  generated_by INTEGER,"
    "  PRIMARY KEY (run_id, idx)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX tasks_by_id ON tasks(run_id, task_id);"
    "CREATE INDEX tasks_by_state ON tasks(run_id, state);"
    "CREATE TABLE attempts ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  job_id TEXT,"
    "  state TEXT NOT NULL,"
    "  submitted_at INTEGER, started_at INTEGER, finished_at INTEGER,"
    "  exit_code INTEGER,"
    "  error TEXT,"
    "  out_path TEXT, err_path TEXT,"
    "  PRIMARY KEY (run_id, idx, attempt)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  run_id TEXT NOT NULL,"
    "  task_id TEXT,"
    "  from_state TEXT,"
    "  to_state TEXT NOT NULL,"
    "  detail TEXT);"
    "CREATE INDEX events_by_run ON events(run_id, seq);",
    /* 1 -> 2: the original's run summary field (the source a run came from,
     * set by sources) and why a task waits (docs/api.md, "pending_reason") */
    "ALTER TABLE runs ADD COLUMN source_name TEXT;"
    "ALTER TABLE tasks ADD COLUMN pending_reason TEXT;",
};

_Static_assert(sizeof store_migrations / sizeof store_migrations[0] == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION (store.h) is the number of migrations");

int store_migrate(store *st, sh_err *e)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return store_db_error(st, e, "reading schema version");
    int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    if (version > STORE_SCHEMA_VERSION)
        return sh_err_set(e, SH_EINTERNAL,
                          "store %s has schema version %d, newer than this scripthut "
                          "understands (%d): upgrade scripthut",
                          st->path, version, STORE_SCHEMA_VERSION);
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", v + 1);
        if (store_exec(st, "BEGIN IMMEDIATE", e) < 0)
            return -1;
        if (store_exec(st, store_migrations[v], e) < 0 || store_exec(st, set, e) < 0) {
            store_rollback(st);
            return sh_err_prefix(e, "migrating the store to version %d", v + 1);
        }
        if (store_exec(st, "COMMIT", e) < 0)
            return -1;
    }
    return 0;
}

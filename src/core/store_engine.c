/* store_engine.c - what the run engine reads and writes: the active runs,
 * a run's tasks, task rows and attempts as they change, generated tasks, the
 * run's status, and failing a run it cannot load.  All inside the engine's
 * tick transaction (store_begin/store_commit). */
#include "core/store_internal.h"

#include <string.h>

static const char SQL_ACTIVE_RUNS[] =
    "SELECT id, cancel_requested FROM runs WHERE status IN ('pending', 'running')";

int store_runs_active(store *st, int (*fn)(void *arg, const char *run_id, bool cancel_requested),
                      void *arg, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_ACTIVE_RUNS, e);
    if (!s)
        return -1;
    int rc = SQLITE_DONE, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW)
        stop = fn(arg, col_text(s, 0), sqlite3_column_int(s, 1) != 0);
    if (!stop && rc != SQLITE_DONE)
        stop = store_db_error(st, e, "listing active runs");
    sqlite3_reset(s);
    return stop;
}

static const char SQL_LOAD_TASKS[] =
    "SELECT idx, definition, state, attempt, job_id, tag, submitted_at, started_at,"
    " finished_at, exit_code, error, retry_at, scheduler_state, out_path, err_path,"
    " generated_by, pending_reason FROM tasks WHERE run_id = ?1 ORDER BY idx";

int store_run_load_tasks(store *st, const char *run_id,
                         int (*fn)(void *arg, size_t idx, const char *definition,
                                   const store_task_row *row, sh_err *e),
                         void *arg, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_LOAD_TASKS, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    int rc = SQLITE_DONE, stop = 0;
    while (!stop && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        store_task_row row = {
            .attempt = sqlite3_column_int(s, 3),
            .job_id = col_text(s, 4),
            .tag = col_text(s, 5),
            .submitted_at = col_time(s, 6),
            .started_at = col_time(s, 7),
            .finished_at = col_time(s, 8),
            .has_exit = !col_is_null(s, 9),
            .exit_code = sqlite3_column_int(s, 9),
            .error = col_text(s, 10),
            .retry_at = col_time(s, 11),
            .sched_state = col_text(s, 12),
            .out_path = col_text(s, 13),
            .err_path = col_text(s, 14),
            .generated_by = (int)col_int_or(s, 15, -1),
            .pending_reason = col_text(s, 16),
        };
        task_state_parse(col_text(s, 2), &row.state);
        stop = fn(arg, (size_t)sqlite3_column_int64(s, 0), col_text(s, 1), &row, e);
    }
    if (!stop && rc != SQLITE_DONE) {
        char *what = xasprintf("loading tasks of run %s", run_id);
        stop = store_db_error(st, e, what);
        free(what);
    }
    sqlite3_reset(s);
    return stop;
}

static const char SQL_UPDATE_TASK[] =
    "UPDATE tasks SET state=?3, attempt=?4, job_id=?5, tag=?6, submitted_at=?7,"
    " started_at=?8, finished_at=?9, exit_code=?10, error=?11, retry_at=?12,"
    " scheduler_state=?13, out_path=?14, err_path=?15, pending_reason=?16"
    " WHERE run_id=?1 AND idx=?2";

int store_task_update(store *st, const char *run_id, size_t idx, const store_task_row *row,
                      sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_UPDATE_TASK, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_int(s, 2, (int64_t)idx);
    bind_text(s, 3, task_state_name(row->state));
    bind_int(s, 4, row->attempt);
    bind_text(s, 5, row->job_id);
    bind_text(s, 6, row->tag);
    bind_time(s, 7, row->submitted_at);
    bind_time(s, 8, row->started_at);
    bind_time(s, 9, row->finished_at);
    bind_opt_int(s, 10, row->has_exit, row->exit_code);
    bind_text(s, 11, row->error);
    bind_time(s, 12, row->retry_at);
    bind_text(s, 13, row->sched_state);
    bind_text(s, 14, row->out_path);
    bind_text(s, 15, row->err_path);
    bind_text(s, 16, row->pending_reason);
    return store_step_done(st, s, "updating a task", e);
}

static const char SQL_INSERT_ATTEMPT[] =
    "INSERT OR REPLACE INTO attempts (run_id, idx, attempt, tag, job_id, state,"
    " submitted_at, started_at, finished_at, exit_code, error, out_path, err_path)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

int store_attempt_save(store *st, const char *run_id, size_t idx, const store_task_row *row,
                       sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_ATTEMPT, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_int(s, 2, (int64_t)idx);
    bind_int(s, 3, row->attempt);
    bind_text(s, 4, row->tag);
    bind_text(s, 5, row->job_id);
    bind_text(s, 6, task_state_name(row->state));
    bind_time(s, 7, row->submitted_at);
    bind_time(s, 8, row->started_at);
    bind_time(s, 9, row->finished_at);
    bind_opt_int(s, 10, row->has_exit, row->exit_code);
    bind_text(s, 11, row->error);
    bind_text(s, 12, row->out_path);
    bind_text(s, 13, row->err_path);
    return store_step_done(st, s, "recording an attempt", e);
}

static const char SQL_INSERT_GENERATED[] =
    "INSERT INTO tasks (run_id, idx, task_id, definition, state, generated_by, pending_reason)"
    " VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)";

int store_task_insert_generated(store *st, const char *run_id, size_t idx, const task_def *def,
                                size_t generator, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_GENERATED, e);
    if (!s)
        return -1;
    json_t *obj = task_def_to_json(def);
    bind_text(s, 1, run_id);
    bind_int(s, 2, (int64_t)idx);
    bind_text(s, 3, def->id);
    bind_owned_text(s, 4, json_dumps(obj, JSON_COMPACT));
    bind_int(s, 5, (int64_t)generator);
    bind_text(s, 6, def->ndeps ? PENDING_DEPENDENCIES : NULL);
    json_decref(obj);
    return store_step_done(st, s, "appending a generated task", e);
}

static const char SQL_UPDATE_RUN[] =
    "UPDATE runs SET status=?2, finished_at=?3, context=coalesce(?4, context),"
    " task_count=?5 WHERE id=?1";

int store_run_update(store *st, const char *run_id, run_status status, int64_t finished_at,
                     size_t task_count, json_t *context, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_UPDATE_RUN, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_text(s, 2, run_status_name(status));
    bind_time(s, 3, finished_at);
    bind_owned_text(s, 4, context ? json_dumps(context, JSON_COMPACT) : NULL);
    bind_int(s, 5, (int64_t)task_count);
    return store_step_done(st, s, "updating a run", e);
}

static const char SQL_FAIL_RUN_TASKS[] =
    "UPDATE tasks SET state='failed', error=?2, finished_at=?3 WHERE run_id=?1"
    " AND state NOT IN ('completed', 'failed', 'dep_failed', 'cancelled')";
static const char SQL_FAIL_RUN[] = "UPDATE runs SET status='failed', finished_at=?2 WHERE id=?1";

int store_run_fail(store *st, const char *run_id, const char *why, sh_err *e)
{
    int64_t now = time_now_us();
    sqlite3_stmt *s = store_stmt(st, SQL_FAIL_RUN_TASKS, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_text(s, 2, why);
    bind_int(s, 3, now);
    if (store_step_done(st, s, "failing the tasks of a run", e) < 0)
        return -1;
    s = store_stmt(st, SQL_FAIL_RUN, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_int(s, 2, now);
    if (store_step_done(st, s, "failing a run", e) < 0)
        return -1;
    return store_add_event(st, now, run_id, NULL, "pending", "failed", why, e);
}

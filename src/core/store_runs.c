/* store_runs.c - runs: inserting them with their tasks, the queries the CLI
 * and the API share (summaries, list, detail, task logs), cancel requests,
 * deletion and retention. */
#include "core/store_internal.h"

#include <stdio.h>
#include <string.h>

/* --- inserting runs ------------------------------------------------------- */

static const char SQL_INSERT_RUN[] =
    "INSERT INTO runs (id, workflow_name, backend_name, created_at, status, max_concurrent,"
    " log_dir, account, context, rerun_of, task_count, source_name)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char SQL_INSERT_TASK[] =
    "INSERT INTO tasks (run_id, idx, task_id, definition, state, finished_at, error,"
    " pending_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_RUN_EXISTS[] = "SELECT 1 FROM runs WHERE id = ?1";

static int insert_tasks(store *st, const char *run_id, const task_def *tasks, size_t n,
                        const bool *keep_completed, const char *rerun_of, int64_t now, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_TASK, e);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *def = task_def_to_json(&tasks[i]);
        char *text = json_dumps(def, JSON_COMPACT);
        json_decref(def);
        bool kept = keep_completed && keep_completed[i];
        bind_text(s, 1, run_id);
        bind_int(s, 2, (int64_t)i);
        bind_text(s, 3, tasks[i].id);
        bind_owned_text(s, 4, text);
        bind_text(s, 5, kept ? "completed" : "pending");
        bind_time(s, 6, kept ? now : 0);
        bind_owned_text(
            s, 7, kept ? xasprintf("kept: completed in run %s", rerun_of ? rerun_of : "?") : NULL);
        /* Known now, so the engine need not write it: a task with
         * dependencies waits for them. */
        bind_text(s, 8, !kept && tasks[i].ndeps ? PENDING_DEPENDENCIES : NULL);
        if (store_step_done(st, s, "inserting a task", e) < 0)
            return -1;
    }
    return 0;
}

int store_insert_run(store *st, const store_run_new *r, const task_def *tasks, size_t n,
                     const bool *keep_completed, char **run_id, sh_err *e)
{
    char id[9];
    if (store_begin(st, e) < 0)
        return -1;
    if (r->id) {
        snprintf(id, sizeof id, "%s", r->id);
    } else {
        sqlite3_stmt *q = store_stmt(st, SQL_RUN_EXISTS, e);
        if (!q)
            goto fail;
        int rc;
        do {
            store_new_run_id(id);
            sqlite3_reset(q);
            bind_text(q, 1, id);
        } while ((rc = sqlite3_step(q)) == SQLITE_ROW);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE) {
            store_db_error(st, e, "choosing a run id");
            goto fail;
        }
    }
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_RUN, e);
    if (!s)
        goto fail;
    char *ctx = json_dumps(r->context, JSON_COMPACT);
    bind_text(s, 1, id);
    bind_text(s, 2, r->workflow_name);
    bind_text(s, 3, r->backend_name);
    bind_int(s, 4, r->created_at);
    bind_text(s, 5, n ? "pending" : "completed");
    bind_opt_int(s, 6, r->max_concurrent > 0, r->max_concurrent);
    bind_text(s, 7, r->log_dir);
    bind_text(s, 8, r->account);
    bind_owned_text(s, 9, ctx ? ctx : xstrdup("{}"));
    bind_text(s, 10, r->rerun_of);
    bind_int(s, 11, (int64_t)n);
    bind_text(s, 12, r->source_name);
    if (store_step_done(st, s, "inserting a run", e) < 0)
        goto fail;
    if (insert_tasks(st, id, tasks, n, keep_completed, r->rerun_of, r->created_at, e) < 0)
        goto fail;
    char *detail = xasprintf("%zu tasks on backend %s", n, r->backend_name);
    int rc = store_add_event(st, r->created_at, id, NULL, NULL, "created", detail, e);
    free(detail);
    if (rc < 0 || store_commit(st, e) < 0)
        goto fail;
    *run_id = xstrdup(id);
    return 0;
fail:
    store_rollback(st);
    return -1;
}

/* --- run summaries and details ------------------------------------------- */

static const char SQL_RUN_ROW[] =
    "SELECT id, workflow_name, backend_name, created_at, status, task_count, finished_at,"
    " cancel_requested, rerun_of, max_concurrent, log_dir, account, source_name"
    " FROM runs WHERE id = ?1";
static const char SQL_STATE_COUNTS[] =
    "SELECT state, count(*) FROM tasks WHERE run_id = ?1 GROUP BY state";

/* Builds the summary from a row of SQL_RUN_ROW's columns (same column order
 * in the list query). */
static json_t *summary_from_row(store *st, sqlite3_stmt *row, sh_err *e)
{
    sqlite3_stmt *c = store_stmt(st, SQL_STATE_COUNTS, e);
    if (!c)
        return NULL;
    bind_text(c, 1, col_text(row, 0));
    long long by_state[TS__COUNT] = {0};
    while (sqlite3_step(c) == SQLITE_ROW) {
        task_state ts;
        if (task_state_parse(col_text(c, 0), &ts) == 0)
            by_state[ts] = sqlite3_column_int64(c, 1);
    }
    sqlite3_reset(c);
    json_t *counts = json_object();
    long long terminal = 0, submitted = 0;
    for (int s = 0; s < TS__COUNT; s++) {
        if (!by_state[s])
            continue;
        json_object_set_new(counts, task_state_name((task_state)s), json_integer(by_state[s]));
        if (task_state_is_terminal((task_state)s))
            terminal += by_state[s];
        if (s != TS_PENDING)
            submitted += by_state[s];
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", col_text_json(row, 0));
    json_object_set_new(o, "workflow_name", col_text_json(row, 1));
    json_object_set_new(o, "backend_name", col_text_json(row, 2));
    json_object_set_new(o, "created_at", col_time_json(row, 3));
    json_object_set_new(o, "status", col_text_json(row, 4));
    json_object_set_new(o, "task_count", col_int_json(row, 5));
    json_object_set_new(o, "completed_count", json_integer(terminal));
    json_object_set_new(o, "submitted_count", json_integer(submitted));
    json_object_set_new(o, "status_counts", counts);
    json_object_set_new(o, "source_name", col_text_json(row, 12));
    json_object_set_new(o, "finished_at", col_time_json(row, 6));
    json_object_set_new(o, "cancel_requested", json_boolean(sqlite3_column_int(row, 7)));
    json_object_set_new(o, "rerun_of", col_text_json(row, 8));
    json_object_set_new(o, "max_concurrent", col_int_json(row, 9));
    return o;
}

int store_run_summary_json(store *st, const char *run_id, json_t **out, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_ROW, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    int rc = store_step_row(st, s, "reading a run", e);
    if (rc <= 0)
        return rc < 0 ? -1 : sh_err_set(e, SH_ENOTFOUND, "Run '%s' not found", run_id);
    *out = summary_from_row(st, s, e);
    sqlite3_reset(s);
    return *out ? 0 : -1;
}

static const char SQL_LIST_RUNS[] =
    "SELECT id, workflow_name, backend_name, created_at, status, task_count, finished_at,"
    " cancel_requested, rerun_of, max_concurrent, log_dir, account, source_name"
    " FROM runs WHERE (?2 IS NULL OR workflow_name = ?2)"
    " ORDER BY created_at DESC, id LIMIT ?1";

int store_run_list_json(store *st, int limit, const char *workflow, json_t **out, sh_err *e)
{
    /* Cached like every statement (preparing it was 16% of a `GET /runs`
     * under load): its cursor stays open while summary_from_row runs other
     * cached statements, which is fine as none of them is this one. */
    sqlite3_stmt *s = store_stmt(st, SQL_LIST_RUNS, e);
    if (!s)
        return -1;
    bind_int(s, 1, limit > 0 ? limit : -1);
    bind_text(s, 2, workflow);
    json_t *runs = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *sum = summary_from_row(st, s, e);
        if (!sum) {
            sqlite3_reset(s);
            json_decref(runs);
            return -1;
        }
        json_array_append_new(runs, sum);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(runs);
        return store_db_error(st, e, "listing runs");
    }
    *out = json_pack("{s:o}", "runs", runs);
    return 0;
}

static const char SQL_ITEMS[] =
    "SELECT idx, definition, state, job_id, submitted_at, started_at, finished_at, error,"
    " scheduler_state, attempt, exit_code, out_path, err_path, tag, retry_at, generated_by,"
    " pending_reason FROM tasks WHERE run_id = ?1 ORDER BY idx";
static const char SQL_ATTEMPTS[] =
    "SELECT idx, attempt, tag, job_id, state, submitted_at, started_at, finished_at,"
    " exit_code, error, out_path, err_path FROM attempts WHERE run_id = ?1"
    " ORDER BY idx, attempt";

/* Where an attempt's fields are in a row: the attempts table and the task
 * row (for the attempt in flight) hold the same fields in other columns. */
typedef struct attempt_cols {
    int attempt, tag, job_id, status, submitted, started, finished, exit_code, error, out, err;
} attempt_cols;

static json_t *attempt_from_row(sqlite3_stmt *s, const attempt_cols *c)
{
    json_t *a = json_object();
    json_object_set_new(a, "attempt", col_int_json(s, c->attempt));
    json_object_set_new(a, "tag", col_text_json(s, c->tag));
    json_object_set_new(a, "job_id", col_text_json(s, c->job_id));
    json_object_set_new(a, "status", col_text_json(s, c->status));
    json_object_set_new(a, "submitted_at", col_time_json(s, c->submitted));
    json_object_set_new(a, "started_at", col_time_json(s, c->started));
    json_object_set_new(a, "finished_at", col_time_json(s, c->finished));
    json_object_set_new(a, "exit_code", col_int_json(s, c->exit_code));
    json_object_set_new(a, "error", col_text_json(s, c->error));
    json_object_set_new(a, "output_path", col_text_json(s, c->out));
    json_object_set_new(a, "error_path", col_text_json(s, c->err));
    return a;
}

static const attempt_cols ATTEMPT_TABLE_COLS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const attempt_cols TASK_ROW_COLS = {9, 13, 3, 2, 4, 5, 6, 10, 7, 11, 12};

static json_t *attempts_by_task(store *st, const char *run_id, size_t n, sh_err *e)
{
    json_t *per = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(per, json_array());
    sqlite3_stmt *s = store_stmt(st, SQL_ATTEMPTS, e);
    if (!s) {
        json_decref(per);
        return NULL;
    }
    bind_text(s, 1, run_id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t idx = (size_t)sqlite3_column_int64(s, 0);
        if (idx >= n)
            continue;
        json_t *a = attempt_from_row(s, &ATTEMPT_TABLE_COLS);
        json_array_append_new(json_array_get(per, idx), a);
    }
    sqlite3_reset(s);
    return per;
}

/* The attempt in flight is not in the attempts table yet (rows are written
 * when an attempt ends): show it from the task row. */
static json_t *current_attempt(sqlite3_stmt *s, json_t *attempts)
{
    int attempt = sqlite3_column_int(s, 9);
    json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
    if (attempt <= 0 || (last && json_integer_value(json_object_get(last, "attempt")) >= attempt))
        return NULL;
    return attempt_from_row(s, &TASK_ROW_COLS);
}

static json_t *item_from_row(sqlite3_stmt *s, json_t *attempts)
{
    json_t *item = json_object();
    const char *def = col_text(s, 1);
    json_t *task = def ? json_loads(def, 0, NULL) : NULL;
    json_object_set_new(item, "task", task ? task : json_null());
    json_object_set_new(item, "status", col_text_json(s, 2));
    json_object_set_new(item, "job_id", col_text_json(s, 3));
    json_object_set_new(item, "submitted_at", col_time_json(s, 4));
    json_object_set_new(item, "started_at", col_time_json(s, 5));
    json_object_set_new(item, "finished_at", col_time_json(s, 6));
    json_object_set_new(item, "error", col_text_json(s, 7));
    json_object_set_new(item, "submit_script", json_null());
    json_object_set_new(item, "submit_output", json_null());
    json_object_set_new(item, "cpu_efficiency", json_null());
    json_object_set_new(item, "max_rss", json_null());
    json_object_set_new(item, "scheduler_state", col_text_json(s, 8));
    json_object_set_new(item, "pending_reason", col_text_json(s, 16));
    json_object_set_new(item, "attempt", col_int_json(s, 9));
    json_object_set_new(item, "exit_code", col_int_json(s, 10));
    json_object_set_new(item, "output_path", col_text_json(s, 11));
    json_object_set_new(item, "error_path", col_text_json(s, 12));
    json_object_set_new(item, "tag", col_text_json(s, 13));
    json_object_set_new(item, "retry_at", col_time_json(s, 14));
    json_object_set_new(item, "generated_by", col_int_json(s, 15));
    json_t *list = attempts ? json_copy(attempts) : json_array();
    json_t *current = current_attempt(s, list);
    if (current)
        json_array_append_new(list, current);
    json_object_set_new(item, "attempts", list);
    return item;
}

int store_run_detail_json(store *st, const char *run_id, json_t **out, sh_err *e)
{
    json_t *d;
    if (store_run_summary_json(st, run_id, &d, e) < 0)
        return -1;
    size_t n = (size_t)json_integer_value(json_object_get(d, "task_count"));
    json_t *attempts = attempts_by_task(st, run_id, n + 1024, e);
    if (!attempts) {
        json_decref(d);
        return -1;
    }
    sqlite3_stmt *s = store_stmt(st, SQL_ITEMS, e);
    if (!s) {
        json_decref(d);
        json_decref(attempts);
        return -1;
    }
    bind_text(s, 1, run_id);
    json_t *items = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t idx = (size_t)sqlite3_column_int64(s, 0);
        json_array_append_new(items, item_from_row(s, json_array_get(attempts, idx)));
    }
    sqlite3_reset(s);
    json_decref(attempts);
    json_object_set_new(d, "items", items);

    sqlite3_stmt *r = store_stmt(st, SQL_RUN_ROW, e);
    if (r) {
        bind_text(r, 1, run_id);
        if (sqlite3_step(r) == SQLITE_ROW) {
            json_object_set_new(d, "log_dir", col_text_json(r, 10));
            json_object_set_new(d, "account", col_text_json(r, 11));
        }
        sqlite3_reset(r);
    }
    json_object_set_new(d, "commit_hash", json_null());
    json_object_set_new(d, "git_repo", json_null());
    json_object_set_new(d, "git_branch", json_null());
    *out = d;
    return 0;
}

/* --- smaller queries ------------------------------------------------------ */

static const char SQL_RUN_INFO[] =
    "SELECT id, workflow_name, backend_name, log_dir, status, max_concurrent, context,"
    " cancel_requested, created_at FROM runs WHERE id = ?1";

int store_run_info_get(store *st, const char *run_id, store_run_info *out, sh_err *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_INFO, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    int rc = store_step_row(st, s, "reading a run", e);
    if (rc <= 0)
        return rc < 0 ? -1 : sh_err_set(e, SH_ENOTFOUND, "Run '%s' not found", run_id);
    out->id = col_strdup(s, 0);
    out->workflow_name = col_strdup(s, 1);
    out->backend_name = col_strdup(s, 2);
    out->log_dir = col_strdup(s, 3);
    out->status = col_strdup(s, 4);
    out->max_concurrent = (int)col_int_or(s, 5, 0);
    out->context = col_object(s, 6);
    out->cancel_requested = sqlite3_column_int(s, 7) != 0;
    out->created_at = sqlite3_column_int64(s, 8);
    /* Reset, not left on its row: a statement mid-result keeps a read
     * transaction open, and the BEGIN IMMEDIATE of a cancel or a delete
     * that follows on this connection then fails at once with "database
     * is locked" while another connection writes, instead of waiting. */
    sqlite3_reset(s);
    return 0;
}

void store_run_info_free(store_run_info *r)
{
    free(r->id);
    free(r->workflow_name);
    free(r->backend_name);
    free(r->log_dir);
    free(r->status);
    json_decref(r->context);
    memset(r, 0, sizeof *r);
}

static const char SQL_RUN_TASKS[] =
    "SELECT definition, state, generated_by FROM tasks WHERE run_id = ?1 ORDER BY idx";

int store_run_tasks(store *st, const char *run_id, json_t **defs, json_t **states,
                    json_t **generated_by, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_TASKS, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    *defs = json_array();
    *states = json_array();
    *generated_by = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        json_array_append_new(*defs, col_object(s, 0));
        json_array_append_new(*states, col_text_json(s, 1));
        json_array_append_new(*generated_by, json_integer(col_int_or(s, 2, -1)));
    }
    sqlite3_reset(s);
    return 0;
}

static const char SQL_TASK_LOGS[] =
    "SELECT out_path, err_path, state FROM tasks WHERE run_id = ?1 AND task_id = ?2";

int store_task_log_paths(store *st, const char *run_id, const char *task_id, char **out_path,
                         char **err_path, char **state, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    store_run_info_free(&info);
    sqlite3_stmt *s = store_stmt(st, SQL_TASK_LOGS, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_text(s, 2, task_id);
    int rc = store_step_row(st, s, "reading a task", e);
    if (rc <= 0)
        return rc < 0
                   ? -1
                   : sh_err_set(e, SH_ENOTFOUND, "Task '%s' not found in run %s", task_id, run_id);
    *out_path = col_strdup(s, 0);
    *err_path = col_strdup(s, 1);
    *state = col_strdup(s, 2);
    sqlite3_reset(s);
    if (!*out_path && !*err_path) {
        sh_err_set(e, SH_EINVAL, "Task has not been submitted yet (task '%s' is %s)", task_id,
                   *state);
        free(*state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static const char SQL_CANCEL[] = "UPDATE runs SET cancel_requested = 1 WHERE id = ?1";

int store_request_cancel(store *st, const char *run_id, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    bool terminal = strcmp(info.status, "pending") && strcmp(info.status, "running");
    store_run_info_free(&info);
    if (terminal)
        return 0; /* nothing to cancel; not an error */
    if (store_begin(st, e) < 0)
        return -1;
    sqlite3_stmt *s = store_stmt(st, SQL_CANCEL, e);
    if (!s)
        goto fail;
    bind_text(s, 1, run_id);
    if (store_step_done(st, s, "requesting a cancel", e) < 0)
        goto fail;
    if (store_add_event(st, time_now_us(), run_id, NULL, NULL, "cancel_requested", NULL, e) < 0 ||
        store_commit(st, e) < 0)
        goto fail;
    return 0;
fail:
    store_rollback(st);
    return -1;
}

static const char SQL_DELETE_RUN[] = "DELETE FROM runs WHERE id = ?1";
static const char SQL_DELETE_EVENTS[] = "DELETE FROM events WHERE run_id = ?1";

int store_delete_run(store *st, const char *run_id, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    bool active = !strcmp(info.status, "pending") || !strcmp(info.status, "running");
    store_run_info_free(&info);
    if (active)
        return sh_err_set(e, SH_ECONFLICT,
                          "Run '%s' is still active: cancel it first (scripthut run cancel %s)",
                          run_id, run_id);
    if (store_begin(st, e) < 0)
        return -1;
    const char *sqls[] = {SQL_DELETE_EVENTS, SQL_DELETE_RUN};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = store_stmt(st, sqls[i], e);
        if (!s)
            goto fail;
        bind_text(s, 1, run_id);
        if (store_step_done(st, s, "deleting a run", e) < 0)
            goto fail;
    }
    return store_commit(st, e);
fail:
    store_rollback(st);
    return -1;
}

static const char SQL_EXPIRED[] = "SELECT id FROM runs WHERE status NOT IN ('pending', 'running')"
                                  " AND finished_at IS NOT NULL AND finished_at < ?1";

int store_expired_runs(store *st, int64_t before_us, json_t **ids, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_EXPIRED, e);
    if (!s)
        return -1;
    bind_int(s, 1, before_us);
    *ids = json_array();
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(*ids, col_text_json(s, 0));
    sqlite3_reset(s);
    return 0;
}

static const char SQL_COUNT_ACTIVE[] =
    "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')";

int store_count_active_runs(store *st, long *n, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_COUNT_ACTIVE, e);
    if (!s)
        return -1;
    *n = sqlite3_step(s) == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return 0;
}

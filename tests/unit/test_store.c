/* test_store.c - the SQLite store (src/core/store*.c) on a real database
 * file in the shared fixture's data dir (fixture.h): the migrations (from
 * an empty database and from each older version), the queries the CLI and
 * API share, the engine's reads and writes, the event queue, and writes
 * that wait for another connection's transaction.  States only the engine
 * would write are set up with SQL through a connection of the test's own. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "model/model.h"
#include "core/store.h"
#include "core/store_internal.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#include "fixture.h"

/* Bound of every wait: generous, tests run on loaded machines. */
#define WAIT_MS 60000

typedef struct fixture {
    fx_env *env;
    store *st;
} fixture;

static store *open_store(const fx_env *env)
{
    store *st = NULL;
    sh_err e = SH_ERR_INIT;
    if (store_open(env->data_dir, &st, &e) != 0)
        fail_msg("store_open: %s", e.msg);
    return st;
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("store");
    f->st = open_store(f->env);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    fx_free(f->env);
    free(f);
    return 0;
}

/* Inserts a run of the given task ids (task i > 0 depends on nothing) on
 * a noop backend; keep[i] (may be NULL) keeps task i as completed from
 * rerun_of.  Returns its id. */
static char *insert_rerun(store *st, const char *workflow, const char *const *ids, size_t n,
                          const bool *keep, const char *rerun_of, int64_t created_at)
{
    task_def *tasks = xcalloc(n, sizeof *tasks);
    sh_err e = SH_ERR_INIT;
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_pack("{s:s,s:s}", "id", ids[i], "command", "true");
        if (task_def_from_json(obj, "test task", &tasks[i], &e) != 0)
            fail_msg("task_def_from_json: %s", e.msg);
        json_decref(obj);
    }
    json_t *ctx = json_pack("{s:{s:s,s:s}}", "backend", "name", "nb", "type", "noop");
    store_run_new r = {.workflow_name = workflow,
                       .backend_name = "nb",
                       .created_at = created_at,
                       .log_dir = "/nonexistent/logs",
                       .account = "acct",
                       .context = ctx,
                       .rerun_of = rerun_of};
    char *id = NULL;
    if (store_insert_run(st, &r, tasks, n, keep, &id, &e) != 0)
        fail_msg("store_insert_run: %s", e.msg);
    json_decref(ctx);
    task_def_free_array(tasks, n);
    return id;
}

static char *insert_run(store *st, const char *const *ids, size_t n)
{
    return insert_rerun(st, "w", ids, n, NULL, NULL, time_now_us());
}

/* Runs SQL on the database file through a connection of the test's own
 * (for states only the engine would write). */
static void exec_sql(const fx_env *env, const char *sql)
{
    char *path = xasprintf("%s/scripthut.db", env->data_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, WAIT_MS);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    free(path);
}

/* --- writes while another connection writes (issue 17, item 3) ------------- */

typedef int (*run_op)(store *st, const char *run_id, sh_err *e);

typedef struct op_call {
    run_op op;
    store *st;
    const char *run_id;
    int rc;
    sh_err e;
    atomic_bool done;
} op_call;

static void *op_thread(void *arg)
{
    op_call *c = arg;
    c->rc = c->op(c->st, c->run_id, &c->e);
    atomic_store(&c->done, true);
    return NULL;
}

static bool op_waiting_or_done(void *arg)
{
    op_call *c = arg;
    return atomic_load(&c->done) || store_busy_waits(c->st) > 0;
}

/* Calls op(st, run_id) while another connection (the engine's, in a tick)
 * holds a write transaction, and ends that transaction once op waits for
 * it.  Fails when op gives up at once instead of waiting. */
static void call_during_another_write(fixture *f, run_op op, const char *run_id)
{
    store *engine = open_store(f->env);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_begin(engine, &e), 0);
    op_call c = {.op = op, .st = f->st, .run_id = run_id, .e = SH_ERR_INIT};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, op_thread, &c), 0);
    assert_true(fx_wait_until(op_waiting_or_done, &c, WAIT_MS));
    bool finished_first = atomic_load(&c.done);
    assert_int_equal(store_commit(engine, &e), 0);
    pthread_join(th, NULL);
    store_close(engine);
    if (c.rc != 0)
        fail_msg("%s: %s",
                 finished_first ? "gave up without waiting for the other write" : "failed",
                 c.e.msg);
}

static void cancel_waits_for_another_connections_write(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a", "b"};
    char *run_id = insert_run(f->st, ids, 2);
    call_during_another_write(f, store_request_cancel, run_id);
    store_run_info info;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_run_info_get(f->st, run_id, &info, &e), 0);
    assert_true(info.cancel_requested);
    store_run_info_free(&info);
    free(run_id);
}

static void delete_waits_for_another_connections_write(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a"};
    char *run_id = insert_run(f->st, ids, 1);
    exec_sql(f->env, "UPDATE runs SET status = 'cancelled', finished_at = 1;"
                     "UPDATE tasks SET state = 'cancelled'");
    call_during_another_write(f, store_delete_run, run_id);
    store_run_info info;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_run_info_get(f->st, run_id, &info, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(run_id);
}

/* --- migrations ---------------------------------------------------------------- */

static sqlite3 *open_raw(const fx_env *env)
{
    char *path = xasprintf("%s/scripthut.db", env->data_dir);
    assert_int_equal(fs_mkdir_p(env->data_dir, 0700), 0);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, WAIT_MS);
    free(path);
    return db;
}

static int user_version(const fx_env *env)
{
    sqlite3 *db = open_raw(env);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* A database file at schema version v, made by the first v migrations. */
static void make_database_at(const fx_env *env, int v)
{
    sqlite3 *db = open_raw(env);
    for (int i = 0; i < v; i++) {
        char *msg = NULL;
        if (sqlite3_exec(db, store_migrations[i], NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("migration %d: %s", i + 1, msg);
    }
    char *set = xasprintf("PRAGMA user_version = %d", v);
    assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    free(set);
    sqlite3_close(db);
}

static void an_empty_data_dir_gets_the_current_schema(void **state)
{
    fixture *f = *state; /* setup opened the store on an empty data dir */
    assert_int_equal(user_version(f->env), STORE_SCHEMA_VERSION);
    const char *ids[] = {"a"};
    char *id = insert_run(f->st, ids, 1);
    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_run_summary_json(f->st, id, &sum, &e), 0);
    assert_string_equal(json_string_value(json_object_get(sum, "status")), "pending");
    json_decref(sum);
    free(id);
    /* Opening again changes nothing. */
    store *again = open_store(f->env);
    store_close(again);
    assert_int_equal(user_version(f->env), STORE_SCHEMA_VERSION);
}

static void every_older_version_migrates_to_the_current_one(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    f->st = NULL;
    /* When a migration is added, give its older version rows here and check
     * they read back after the upgrade. */
    for (int v = 0; v < STORE_SCHEMA_VERSION; v++) {
        fx_env *env = fx_new("store-migrate");
        make_database_at(env, v);
        assert_int_equal(user_version(env), v);
        store *st = open_store(env);
        assert_int_equal(user_version(env), STORE_SCHEMA_VERSION);
        const char *ids[] = {"a", "b"};
        char *id = insert_run(st, ids, 2);
        json_t *d = NULL;
        sh_err e = SH_ERR_INIT;
        assert_int_equal(store_run_detail_json(st, id, &d, &e), 0);
        assert_int_equal(json_array_size(json_object_get(d, "items")), 2);
        json_decref(d);
        free(id);
        store_close(st);
        fx_free(env);
    }
}

/* Version 2 added runs.source_name and tasks.pending_reason: a run stored
 * by version 1 reads back with both null. */
static void a_version_1_run_reads_back_after_the_upgrade(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    f->st = NULL;
    fx_env *env = fx_new("store-v1");
    make_database_at(env, 1);
    sqlite3 *db = open_raw(env);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO runs (id, workflow_name, backend_name, created_at,"
                                  " status, log_dir, context, task_count) VALUES ('0000abcd', 'w',"
                                  " 'local', 1, 'pending', '/l', '{}', 1);"
                                  "INSERT INTO tasks (run_id, idx, task_id, definition, state)"
                                  " VALUES ('0000abcd', 0, 'a', '{\"id\":\"a\"}', 'pending')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    store *st = open_store(env);
    json_t *d = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_run_detail_json(st, "0000abcd", &d, &e), 0);
    assert_true(json_is_null(json_object_get(d, "source_name")));
    json_t *it = json_array_get(json_object_get(d, "items"), 0);
    assert_true(json_is_null(json_object_get(it, "pending_reason")));
    json_decref(d);
    store_close(st);
    fx_free(env);
}

static void a_newer_database_is_refused_with_a_clear_error(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    f->st = NULL;
    sqlite3 *db = open_raw(f->env);
    char *set = xasprintf("PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
    assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    free(set);
    sqlite3_close(db);
    store *st = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_open(f->env->data_dir, &st, &e), -1);
    assert_null(st);
    char *want = xasprintf("has schema version %d, newer than this scripthut understands (%d): "
                           "upgrade scripthut",
                           STORE_SCHEMA_VERSION + 1, STORE_SCHEMA_VERSION);
    assert_non_null(strstr(e.msg, want));
    free(want);
}

static void a_failed_migration_is_rolled_back(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    f->st = NULL;
    fx_env *env = fx_new("store-migrate");
    /* A version-0 file that already has a table the first migration makes. */
    sqlite3 *db = open_raw(env);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE events (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store *st = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_open(env->data_dir, &st, &e), -1);
    assert_non_null(strstr(e.msg, "migrating the store to version 1"));
    assert_int_equal(user_version(env), 0);
    /* Nothing of the failed step is left. */
    db = open_raw(env);
    assert_int_not_equal(sqlite3_exec(db, "SELECT 1 FROM runs", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    fx_free(env);
}

/* --- runs and their queries -------------------------------------------------- */

static void a_new_run_is_pending_with_its_tasks_in_order_and_a_created_event(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"first", "second", "third"};
    char *id = insert_run(f->st, ids, 3);
    assert_int_equal(strlen(id), 8);
    sh_err e = SH_ERR_INIT;
    json_t *sum = NULL;
    assert_int_equal(store_run_summary_json(f->st, id, &sum, &e), 0);
    assert_string_equal(json_string_value(json_object_get(sum, "id")), id);
    assert_string_equal(json_string_value(json_object_get(sum, "workflow_name")), "w");
    assert_string_equal(json_string_value(json_object_get(sum, "backend_name")), "nb");
    assert_string_equal(json_string_value(json_object_get(sum, "status")), "pending");
    assert_int_equal(json_integer_value(json_object_get(sum, "task_count")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "completed_count")), 0);
    assert_int_equal(json_integer_value(json_object_get(sum, "submitted_count")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(sum, "status_counts"), "pending")), 3);
    assert_true(json_is_null(json_object_get(sum, "finished_at")));
    assert_true(json_is_null(json_object_get(sum, "max_concurrent")));
    json_decref(sum);

    json_t *d = NULL;
    assert_int_equal(store_run_detail_json(f->st, id, &d, &e), 0);
    json_t *items = json_object_get(d, "items");
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *it = json_array_get(items, i);
        assert_string_equal(json_string_value(json_object_get(json_object_get(it, "task"), "id")),
                            ids[i]);
        assert_string_equal(json_string_value(json_object_get(it, "status")), "pending");
        assert_int_equal(json_array_size(json_object_get(it, "attempts")), 0);
    }
    assert_string_equal(json_string_value(json_object_get(d, "log_dir")), "/nonexistent/logs");
    assert_string_equal(json_string_value(json_object_get(d, "account")), "acct");
    json_decref(d);

    json_t *ev = NULL;
    assert_int_equal(store_events_json(f->st, id, 0, &ev, &e), 0);
    json_t *events = json_object_get(ev, "events");
    assert_int_equal(json_array_size(events), 1);
    json_t *created = json_array_get(events, 0);
    assert_string_equal(json_string_value(json_object_get(created, "to")), "created");
    assert_string_equal(json_string_value(json_object_get(created, "detail")),
                        "3 tasks on backend nb");
    long long last = 0;
    assert_int_equal(store_events_last_seq(f->st, &last, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "last_seq")), last);
    json_decref(ev);
    /* Nothing after the last one. */
    assert_int_equal(store_events_json(f->st, id, last, &ev, &e), 0);
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 0);
    json_decref(ev);
    free(id);
}

static void unknown_runs_and_tasks_are_not_found(void **state)
{
    fixture *f = *state;
    sh_err e = SH_ERR_INIT;
    json_t *out = NULL;
    assert_int_equal(store_run_summary_json(f->st, "nope", &out, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    assert_string_equal(e.msg, "Run 'nope' not found");
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_run_detail_json(f->st, "nope", &out, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_request_cancel(f->st, "nope", &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_delete_run(f->st, "nope", &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);

    const char *ids[] = {"a"};
    char *id = insert_run(f->st, ids, 1);
    char *o = NULL, *er = NULL, *stt = NULL;
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_task_log_paths(f->st, id, "zz", &o, &er, &stt, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    char *want = xasprintf("Task 'zz' not found in run %s", id);
    assert_string_equal(e.msg, want);
    free(want);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_task_log_paths(f->st, id, "a", &o, &er, &stt, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, "Task has not been submitted yet (task 'a' is pending)");
    free(id);
}

static void the_run_list_is_newest_first_filtered_and_limited(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a"};
    char *old = insert_rerun(f->st, "alpha", ids, 1, NULL, NULL, 1000);
    char *mid = insert_rerun(f->st, "beta", ids, 1, NULL, NULL, 2000);
    char *new = insert_rerun(f->st, "alpha", ids, 1, NULL, NULL, 3000);
    sh_err e = SH_ERR_INIT;
    json_t *out = NULL;
    assert_int_equal(store_run_list_json(f->st, 0, NULL, &out, &e), 0);
    json_t *runs = json_object_get(out, "runs");
    assert_int_equal(json_array_size(runs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "id")), new);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "id")), mid);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 2), "id")), old);
    json_decref(out);
    assert_int_equal(store_run_list_json(f->st, 1, "alpha", &out, &e), 0);
    runs = json_object_get(out, "runs");
    assert_int_equal(json_array_size(runs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "id")), new);
    json_decref(out);
    assert_int_equal(store_run_list_json(f->st, 0, "gamma", &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "runs")), 0);
    json_decref(out);
    long active = 0;
    assert_int_equal(store_count_active_runs(f->st, &active, &e), 0);
    assert_int_equal(active, 3);
    free(old);
    free(mid);
    free(new);
}

static void a_rerun_keeps_the_completed_tasks_it_is_given(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a", "b"};
    char *first = insert_run(f->st, ids, 2);
    bool keep[] = {true, false};
    char *again = insert_rerun(f->st, "w", ids, 2, keep, first, time_now_us());
    sh_err e = SH_ERR_INIT;
    json_t *defs = NULL, *states = NULL, *gen = NULL;
    assert_int_equal(store_run_tasks(f->st, again, &defs, &states, &gen, &e), 0);
    assert_string_equal(json_string_value(json_array_get(states, 0)), "completed");
    assert_string_equal(json_string_value(json_array_get(states, 1)), "pending");
    assert_string_equal(json_string_value(json_object_get(json_array_get(defs, 1), "id")), "b");
    assert_int_equal(json_integer_value(json_array_get(gen, 0)), -1);
    json_decref(defs);
    json_decref(states);
    json_decref(gen);
    json_t *d = NULL;
    assert_int_equal(store_run_detail_json(f->st, again, &d, &e), 0);
    assert_string_equal(json_string_value(json_object_get(d, "rerun_of")), first);
    char *note = xasprintf("kept: completed in run %s", first);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(d, "items"), 0), "error")),
        note);
    free(note);
    json_decref(d);
    free(first);
    free(again);
}

static void cancel_flags_an_active_run_once_and_ignores_a_finished_one(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a"};
    char *id = insert_run(f->st, ids, 1);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_request_cancel(f->st, id, &e), 0);
    store_run_info info;
    assert_int_equal(store_run_info_get(f->st, id, &info, &e), 0);
    assert_true(info.cancel_requested);
    store_run_info_free(&info);
    exec_sql(f->env, "UPDATE runs SET status = 'cancelled'");
    long long before = 0, after = 0;
    assert_int_equal(store_events_last_seq(f->st, &before, &e), 0);
    assert_int_equal(store_request_cancel(f->st, id, &e), 0);
    assert_int_equal(store_events_last_seq(f->st, &after, &e), 0);
    assert_int_equal(before, after); /* no second cancel_requested event */
    free(id);
}

static void delete_refuses_an_active_run_and_removes_a_finished_one_with_its_events(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a"};
    char *id = insert_run(f->st, ids, 1);
    char *other = insert_run(f->st, ids, 1);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_delete_run(f->st, id, &e), -1);
    assert_int_equal(e.status, SH_ECONFLICT);
    char *want =
        xasprintf("Run '%s' is still active: cancel it first (scripthut run cancel %s)", id, id);
    assert_string_equal(e.msg, want);
    free(want);
    char *sql =
        xasprintf("UPDATE runs SET status = 'completed', finished_at = 5 WHERE id = '%s'", id);
    exec_sql(f->env, sql);
    free(sql);
    json_t *expired = NULL;
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(store_expired_runs(f->st, 6, &expired, &e), 0);
    assert_int_equal(json_array_size(expired), 1);
    assert_string_equal(json_string_value(json_array_get(expired, 0)), id);
    json_decref(expired);
    assert_int_equal(store_expired_runs(f->st, 5, &expired, &e), 0);
    assert_int_equal(json_array_size(expired), 0);
    json_decref(expired);

    assert_int_equal(store_delete_run(f->st, id, &e), 0);
    json_t *ev = NULL;
    assert_int_equal(store_events_json(f->st, id, 0, &ev, &e), 0);
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 0);
    json_decref(ev);
    assert_int_equal(store_events_json(f->st, other, 0, &ev, &e), 0);
    assert_int_equal(json_array_size(json_object_get(ev, "events")), 1);
    json_decref(ev);
    json_t *defs = NULL, *states = NULL, *gen = NULL;
    assert_int_equal(store_run_tasks(f->st, id, &defs, &states, &gen, &e), 0);
    assert_int_equal(json_array_size(defs), 0); /* the tasks went with the run */
    json_decref(defs);
    json_decref(states);
    json_decref(gen);
    free(id);
    free(other);
}

/* --- the engine's reads and writes --------------------------------------------- */

static int count_active(void *arg, const char *run_id, bool cancel_requested)
{
    (void)run_id;
    (void)cancel_requested;
    return ++*(int *)arg >= 2 ? 7 : 0; /* stops the walk at the second run */
}

typedef struct loaded {
    size_t n;
    store_task_row rows[4];
    char *jobs[4];
    char defs[4][64];
} loaded;

static int load_one(void *arg, size_t idx, const char *definition, const store_task_row *row,
                    sh_err *e)
{
    (void)e;
    loaded *l = arg;
    assert_int_equal(idx, l->n);
    l->rows[l->n] = *row;
    l->jobs[l->n] = row->job_id ? xstrdup(row->job_id) : NULL;
    json_t *d = json_loads(definition, 0, NULL);
    snprintf(l->defs[l->n], sizeof l->defs[l->n], "%s",
             json_string_value(json_object_get(d, "id")));
    json_decref(d);
    l->n++;
    return 0;
}

static void task_rows_attempts_and_generated_tasks_round_trip(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"gen", "t"};
    char *id = insert_run(f->st, ids, 2);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_begin(f->st, &e), 0);
    store_task_row failed = {.state = TS_FAILED,
                             .attempt = 1,
                             .job_id = "11",
                             .tag = "sh-x-t-1",
                             .error = "exit code 3",
                             .submitted_at = 1000000,
                             .started_at = 2000000,
                             .finished_at = 3000000,
                             .has_exit = true,
                             .exit_code = 3,
                             .out_path = "/l/t.out",
                             .err_path = "/l/t.err"};
    assert_int_equal(store_attempt_save(f->st, id, 1, &failed, &e), 0);
    store_task_row running = {.state = TS_RUNNING,
                              .attempt = 2,
                              .job_id = "12",
                              .tag = "sh-x-t-2",
                              .sched_state = "RUNNING",
                              .submitted_at = 4000000,
                              .started_at = 5000000,
                              .retry_at = 3500000,
                              .out_path = "/l/t.2.out",
                              .err_path = "/l/t.2.err"};
    assert_int_equal(store_task_update(f->st, id, 1, &running, &e), 0);
    task_def def;
    json_t *obj = json_pack("{s:s,s:s}", "id", "child", "command", "true");
    assert_int_equal(task_def_from_json(obj, "test", &def, &e), 0);
    json_decref(obj);
    assert_int_equal(store_task_insert_generated(f->st, id, 2, &def, 0, &e), 0);
    task_def_free(&def);
    json_t *ctx = json_pack("{s:s}", "marker", "new");
    assert_int_equal(store_run_update(f->st, id, RS_RUNNING, 0, 3, ctx, &e), 0);
    json_decref(ctx);
    assert_int_equal(store_commit(f->st, &e), 0);

    json_t *d = NULL;
    assert_int_equal(store_run_detail_json(f->st, id, &d, &e), 0);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "running");
    assert_int_equal(json_integer_value(json_object_get(d, "task_count")), 3);
    json_t *t = json_array_get(json_object_get(d, "items"), 1);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "running");
    assert_string_equal(json_string_value(json_object_get(t, "scheduler_state")), "RUNNING");
    assert_true(json_is_null(json_object_get(t, "exit_code")));
    /* The ended attempt from its table, the one in flight from the row. */
    json_t *attempts = json_object_get(t, "attempts");
    assert_int_equal(json_array_size(attempts), 2);
    json_t *a1 = json_array_get(attempts, 0), *a2 = json_array_get(attempts, 1);
    assert_string_equal(json_string_value(json_object_get(a1, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(a1, "exit_code")), 3);
    assert_string_equal(json_string_value(json_object_get(a1, "error")), "exit code 3");
    assert_string_equal(json_string_value(json_object_get(a2, "job_id")), "12");
    assert_string_equal(json_string_value(json_object_get(a2, "status")), "running");
    json_t *child = json_array_get(json_object_get(d, "items"), 2);
    assert_int_equal(json_integer_value(json_object_get(child, "generated_by")), 0);
    assert_string_equal(json_string_value(json_object_get(child, "status")), "pending");
    json_decref(d);

    store_run_info info;
    assert_int_equal(store_run_info_get(f->st, id, &info, &e), 0);
    assert_string_equal(json_string_value(json_object_get(info.context, "marker")), "new");
    store_run_info_free(&info);

    loaded l = {0};
    assert_int_equal(store_run_load_tasks(f->st, id, load_one, &l, &e), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.defs[1], "t");
    assert_string_equal(l.defs[2], "child");
    assert_int_equal(l.rows[0].state, TS_PENDING);
    assert_int_equal(l.rows[0].generated_by, -1);
    assert_int_equal(l.rows[1].state, TS_RUNNING);
    assert_int_equal(l.rows[1].attempt, 2);
    assert_string_equal(l.jobs[1], "12");
    assert_int_equal(l.rows[1].started_at, 5000000);
    assert_int_equal(l.rows[1].retry_at, 3500000);
    assert_int_equal(l.rows[1].finished_at, 0);
    assert_false(l.rows[1].has_exit);
    assert_int_equal(l.rows[2].generated_by, 0);
    for (size_t i = 0; i < l.n; i++)
        free(l.jobs[i]);

    /* A second run: the walk over active runs stops when told to. */
    char *other = insert_run(f->st, ids, 2);
    int seen = 0;
    assert_int_equal(store_runs_active(f->st, count_active, &seen, &e), 7);
    assert_int_equal(seen, 2);
    free(other);
    free(id);
}

static void failing_an_unloadable_run_fails_its_unfinished_tasks(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"done", "left"};
    char *id = insert_run(f->st, ids, 2);
    exec_sql(f->env, "UPDATE tasks SET state = 'completed' WHERE task_id = 'done'");
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_begin(f->st, &e), 0);
    assert_int_equal(store_run_fail(f->st, id, "task 1 is unreadable", &e), 0);
    assert_int_equal(store_commit(f->st, &e), 0);
    json_t *d = NULL;
    assert_int_equal(store_run_detail_json(f->st, id, &d, &e), 0);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "failed");
    assert_false(json_is_null(json_object_get(d, "finished_at")));
    json_t *items = json_object_get(d, "items");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "status")),
                        "completed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "status")),
                        "failed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "error")),
                        "task 1 is unreadable");
    json_decref(d);
    long active = 1;
    assert_int_equal(store_count_active_runs(f->st, &active, &e), 0);
    assert_int_equal(active, 0);
    free(id);
}

/* --- the event queue -------------------------------------------------------------- */

static void queued_events_are_written_in_order_at_commit_and_dropped_by_rollback(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"a"};
    char *id = insert_run(f->st, ids, 1);
    sh_err e = SH_ERR_INIT;
    /* More than one multi-row INSERT's worth, with NULLs and a single event
     * in between that must keep its place. */
    assert_int_equal(store_begin(f->st, &e), 0);
    for (int i = 0; i < 150; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "n%d", i);
        store_queue_event(f->st, 1000 + i, id, i % 2 ? "a" : NULL, NULL, "x", detail);
        if (i == 99)
            assert_int_equal(store_add_event(f->st, 5, id, NULL, NULL, "direct", NULL, &e), 0);
    }
    assert_int_equal(store_commit(f->st, &e), 0);
    json_t *ev = NULL;
    assert_int_equal(store_events_json(f->st, id, 0, &ev, &e), 0);
    json_t *events = json_object_get(ev, "events");
    assert_int_equal(json_array_size(events), 1 + 151); /* created, 150 queued, 1 direct */
    for (int i = 0; i < 150; i++) {
        json_t *x = json_array_get(events, (size_t)(1 + i + (i > 99)));
        char detail[32];
        snprintf(detail, sizeof detail, "n%d", i);
        assert_string_equal(json_string_value(json_object_get(x, "detail")), detail);
        assert_int_equal(json_is_null(json_object_get(x, "task_id")), i % 2 == 0);
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 101), "to")),
                        "direct");
    long long last = 0;
    assert_int_equal(store_events_last_seq(f->st, &last, &e), 0);
    json_decref(ev);

    assert_int_equal(store_begin(f->st, &e), 0);
    store_queue_event(f->st, 1, id, NULL, NULL, "lost", NULL);
    store_rollback(f->st);
    assert_int_equal(store_begin(f->st, &e), 0);
    assert_int_equal(store_commit(f->st, &e), 0);
    long long now_last = 0;
    assert_int_equal(store_events_last_seq(f->st, &now_last, &e), 0);
    assert_int_equal(now_last, last);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cancel_waits_for_another_connections_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delete_waits_for_another_connections_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_empty_data_dir_gets_the_current_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(every_older_version_migrates_to_the_current_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_version_1_run_reads_back_after_the_upgrade, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_newer_database_is_refused_with_a_clear_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_migration_is_rolled_back, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_new_run_is_pending_with_its_tasks_in_order_and_a_created_event, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_runs_and_tasks_are_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(the_run_list_is_newest_first_filtered_and_limited, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_rerun_keeps_the_completed_tasks_it_is_given, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_flags_an_active_run_once_and_ignores_a_finished_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            delete_refuses_an_active_run_and_removes_a_finished_one_with_its_events, setup,
            teardown),
        cmocka_unit_test_setup_teardown(task_rows_attempts_and_generated_tasks_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failing_an_unloadable_run_fails_its_unfinished_tasks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            queued_events_are_written_in_order_at_commit_and_dropped_by_rollback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

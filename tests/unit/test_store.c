/* test_store.c - the SQLite store (src/core/store*.c) on a real database
 * file in the shared fixture's data dir (fixture.h). */
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

/* Inserts a run of the given task ids on a noop backend; returns its id. */
static char *insert_run(store *st, const char *const *ids, size_t n)
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
    store_run_new r = {.workflow_name = "w",
                       .backend_name = "nb",
                       .created_at = time_now_us(),
                       .log_dir = "/nonexistent/logs",
                       .context = ctx};
    char *id = NULL;
    if (store_insert_run(st, &r, tasks, n, NULL, &id, &e) != 0)
        fail_msg("store_insert_run: %s", e.msg);
    json_decref(ctx);
    task_def_free_array(tasks, n);
    return id;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cancel_waits_for_another_connections_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delete_waits_for_another_connections_write, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

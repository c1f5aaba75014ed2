/* test_engine.c - the run engine (src/core/engine*.c), tick by tick, on the
 * noop backend with the faults of backend/noop.h: jobs that fail with an
 * exit code, get lost or keep running, status queries and submissions that
 * fail.  Real store file, real Lua host (job scripts are rendered), in the
 * shared fixture (fixture.h).  Between ticks the test waits as the engine
 * does (engine_wait: until the next tick is due), never a fixed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "backend/noop.h"
#include "model/dag.h"
#include "core/engine.h"
#include "model/model.h"
#include "core/store.h"
#include "lua/host.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#include "fixture.h"

/* Ticks any test may take before it is a failure (each tick waits at most
 * for the engine's next due time, a second or so). */
#define MAX_TICKS 500

typedef struct fixture {
    fx_env *env;
    store *st;
    struct host *h;
    engine *en;
} fixture;

static engine *new_engine(fixture *f)
{
    sh_err e = SH_ERR_INIT;
    engine_opts o = {f->env->data_dir, 1, 0};
    engine *en = engine_new(f->st, f->h, &o, &e);
    if (!en)
        fail_msg("engine_new: %s", e.msg);
    return en;
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("engine");
    noop_fault_reset();
    sh_err e = SH_ERR_INIT;
    if (store_open(f->env->data_dir, &f->st, &e) != 0)
        fail_msg("store_open: %s", e.msg);
    f->h = host_new(&e);
    if (!f->h)
        fail_msg("host_new: %s", e.msg);
    f->en = new_engine(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    engine_free(f->en);
    host_free(f->h);
    store_close(f->st);
    fx_free(f->env);
    noop_fault_reset();
    free(f);
    return 0;
}

/* Submits a run of the tasks in `tasks_json` (an array of task objects) on
 * the noop backend "nb" with the given per-run cap (0: none) and the
 * backend's cap (the first run on "nb" sets it); returns the run's id. */
static char *submit_on(fixture *f, const char *tasks_json, int max_concurrent, int backend_cap)
{
    json_error_t je;
    json_t *doc = json_loads(tasks_json, 0, &je);
    if (!doc)
        fail_msg("test tasks do not parse: %s", je.text);
    task_def *tasks = NULL;
    size_t n = 0;
    json_t *denv = NULL, *dgroups = NULL;
    sh_err e = SH_ERR_INIT;
    if (workflow_doc_parse(doc, "test", &tasks, &n, &denv, &dgroups, &e) != 0 ||
        dag_expand_and_validate(tasks, n, 0, &e) != 0)
        fail_msg("tasks: %s", e.msg);
    json_t *ctx = json_pack("{s:{s:s,s:s,s:i}}", "backend", "name", "nb", "type", "noop",
                            "max_concurrent", backend_cap);
    char *log_dir = fx_path(f->env, "data/logs/run");
    store_run_new r = {.workflow_name = "w",
                       .backend_name = "nb",
                       .created_at = time_now_us(),
                       .max_concurrent = max_concurrent,
                       .log_dir = log_dir,
                       .context = ctx};
    char *id = NULL;
    if (store_insert_run(f->st, &r, tasks, n, NULL, &id, &e) != 0)
        fail_msg("store_insert_run: %s", e.msg);
    free(log_dir);
    json_decref(ctx);
    json_decref(doc);
    json_decref(denv);
    json_decref(dgroups);
    task_def_free_array(tasks, n);
    return id;
}

static char *submit(fixture *f, const char *tasks_json, int max_concurrent)
{
    return submit_on(f, tasks_json, max_concurrent, 100);
}

static void tick(fixture *f)
{
    sh_err e = SH_ERR_INIT;
    if (engine_tick(f->en, &e) != 0)
        fail_msg("engine_tick: %s", e.msg);
}

static json_t *detail(fixture *f, const char *run_id)
{
    json_t *d = NULL;
    sh_err e = SH_ERR_INIT;
    if (store_run_detail_json(f->st, run_id, &d, &e) != 0)
        fail_msg("run detail: %s", e.msg);
    return d;
}

static const char *run_status_of(json_t *d)
{
    return json_string_value(json_object_get(d, "status"));
}

static json_t *item(json_t *d, const char *task_id)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(d, "items"), i, it)
    {
        if (!strcmp(json_string_value(json_object_get(json_object_get(it, "task"), "id")), task_id))
            return it;
    }
    fail_msg("no task %s in the run", task_id);
    return NULL;
}

static const char *task_status(json_t *d, const char *task_id)
{
    return json_string_value(json_object_get(item(d, task_id), "status"));
}

static long long task_int(json_t *d, const char *task_id, const char *key)
{
    return json_integer_value(json_object_get(item(d, task_id), key));
}

static const char *task_str(json_t *d, const char *task_id, const char *key)
{
    return json_string_value(json_object_get(item(d, task_id), key));
}

typedef bool (*run_pred)(json_t *detail, const void *arg);

/* Ticks (waiting as the engine does between ticks) until pred holds for the
 * run's detail; returns that detail (caller decrefs). */
static json_t *tick_until(fixture *f, const char *run_id, run_pred pred, const void *arg)
{
    for (int i = 0; i < MAX_TICKS; i++) {
        tick(f);
        json_t *d = detail(f, run_id);
        if (pred(d, arg))
            return d;
        json_decref(d);
        engine_wait(f->en, 2000);
    }
    fail_msg("run %s: condition not reached in %d ticks", run_id, MAX_TICKS);
    return NULL;
}

static bool run_finished(json_t *d, const void *arg)
{
    (void)arg;
    const char *s = run_status_of(d);
    return strcmp(s, "pending") && strcmp(s, "running");
}

typedef struct task_is {
    const char *task, *status;
} task_is;

static bool task_reached(json_t *d, const void *arg)
{
    const task_is *w = arg;
    return !strcmp(task_status(d, w->task), w->status);
}

static json_t *run_to_end(fixture *f, const char *run_id)
{
    return tick_until(f, run_id, run_finished, NULL);
}

/* The `to` states of the events of one task, in order, as "a,b,c". */
static char *task_events(fixture *f, const char *run_id, const char *task_id)
{
    json_t *ev = NULL;
    sh_err e = SH_ERR_INIT;
    if (store_events_json(f->st, run_id, 0, &ev, &e) != 0)
        fail_msg("events: %s", e.msg);
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(ev, "events"), i, x)
    {
        const char *t = json_string_value(json_object_get(x, "task_id"));
        if (t && !strcmp(t, task_id))
            sbuf_printf(&b, "%s%s", b.len ? "," : "", json_string_value(json_object_get(x, "to")));
    }
    json_decref(ev);
    return b.len ? sbuf_detach(&b) : xstrdup("");
}

/* Index of the first event of run_id matching task/to (-1 when none). */
static long event_index(fixture *f, const char *run_id, const char *task_id, const char *to)
{
    json_t *ev = NULL;
    sh_err e = SH_ERR_INIT;
    if (store_events_json(f->st, run_id, 0, &ev, &e) != 0)
        fail_msg("events: %s", e.msg);
    long found = -1;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(ev, "events"), i, x)
    {
        const char *t = json_string_value(json_object_get(x, "task_id"));
        if (found < 0 && t && !strcmp(t, task_id) &&
            !strcmp(json_string_value(json_object_get(x, "to")), to))
            found = (long)i;
    }
    json_decref(ev);
    return found;
}

/* --- tests -------------------------------------------------------------------- */

static void a_dag_runs_to_completion_in_dependency_order(void **state)
{
    fixture *f = *state;
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"true\"},"
                      " {\"id\":\"b\",\"command\":\"true\",\"deps\":[\"a\"]},"
                      " {\"id\":\"c\",\"command\":\"true\",\"deps\":[\"a\",\"b\"]}]",
                      0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(run_status_of(d), "completed");
    for (const char *const *t = (const char *const[]){"a", "b", "c", NULL}; *t; t++) {
        assert_string_equal(task_status(d, *t), "completed");
        assert_int_equal(task_int(d, *t, "attempt"), 1);
        assert_int_equal(task_int(d, *t, "exit_code"), 0);
        char *ev = task_events(f, id, *t);
        assert_string_equal(ev, "submitting,submitted,completed");
        free(ev);
    }
    /* b is submitted only once a has completed, c once b has. */
    assert_true(event_index(f, id, "a", "completed") < event_index(f, id, "b", "submitting"));
    assert_true(event_index(f, id, "b", "completed") < event_index(f, id, "c", "submitting"));
    assert_int_equal(engine_active_runs(f->en), 0);
    json_decref(d);
    free(id);
}

static void a_nonzero_exit_fails_the_task_and_its_dependents(void **state)
{
    fixture *f = *state;
    noop_fault_job("b", 0, NOOP_EXIT, 3);
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"true\"},"
                      " {\"id\":\"b\",\"command\":\"false\",\"deps\":[\"a\"]},"
                      " {\"id\":\"c\",\"command\":\"true\",\"deps\":[\"b\"]},"
                      " {\"id\":\"d\",\"command\":\"true\"}]",
                      0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(run_status_of(d), "failed");
    assert_string_equal(task_status(d, "a"), "completed");
    assert_string_equal(task_status(d, "b"), "failed");
    assert_int_equal(task_int(d, "b", "exit_code"), 3);
    assert_string_equal(task_str(d, "b", "error"), "exit code 3");
    assert_string_equal(task_status(d, "c"), "dep_failed");
    assert_string_equal(task_str(d, "c", "error"), "Dependency 'b' failed");
    assert_string_equal(task_status(d, "d"), "completed");
    json_decref(d);
    free(id);
}

static void a_failed_attempt_is_retried_and_recorded(void **state)
{
    fixture *f = *state;
    noop_fault_job("t", 1, NOOP_EXIT, 7);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\",\"retries\":1}]", 0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(run_status_of(d), "completed");
    assert_string_equal(task_status(d, "t"), "completed");
    assert_int_equal(task_int(d, "t", "attempt"), 2);
    json_t *attempts = json_object_get(item(d, "t"), "attempts");
    assert_int_equal(json_array_size(attempts), 2);
    json_t *first = json_array_get(attempts, 0), *second = json_array_get(attempts, 1);
    assert_int_equal(json_integer_value(json_object_get(first, "attempt")), 1);
    assert_string_equal(json_string_value(json_object_get(first, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(first, "exit_code")), 7);
    assert_int_equal(json_integer_value(json_object_get(second, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(second, "status")), "completed");
    /* Each attempt has its own tag and log file. */
    assert_string_not_equal(json_string_value(json_object_get(first, "tag")),
                            json_string_value(json_object_get(second, "tag")));
    assert_string_not_equal(json_string_value(json_object_get(first, "output_path")),
                            json_string_value(json_object_get(second, "output_path")));
    char *ev = task_events(f, id, "t");
    assert_string_equal(ev, "submitting,submitted,pending,submitting,submitted,completed");
    free(ev);
    json_decref(d);
    free(id);
}

static void retries_run_out_and_the_last_failure_stands(void **state)
{
    fixture *f = *state;
    noop_fault_job("t", 0, NOOP_EXIT, 2);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\",\"retries\":2}]", 0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(task_status(d, "t"), "failed");
    assert_int_equal(task_int(d, "t", "attempt"), 3);
    assert_int_equal(json_array_size(json_object_get(item(d, "t"), "attempts")), 3);
    assert_string_equal(run_status_of(d), "failed");
    json_decref(d);
    free(id);
}

static void a_lost_job_fails_its_task_without_an_exit_code(void **state)
{
    fixture *f = *state;
    noop_fault_job("t", 0, NOOP_LOST, 0);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\",\"retries\":3}]", 0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(task_status(d, "t"), "failed");
    assert_string_equal(task_str(d, "t", "error"), "job lost (injected fault)");
    assert_true(json_is_null(json_object_get(item(d, "t"), "exit_code")));
    /* Lost is not a failure of the task: no retry. */
    assert_int_equal(task_int(d, "t", "attempt"), 1);
    json_decref(d);
    free(id);
}

static bool polls_at_least(long n)
{
    return noop_poll_calls() >= n;
}

static void a_failed_status_query_changes_no_task(void **state)
{
    fixture *f = *state;
    noop_fault_polls(1);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\"}]", 0);
    /* The tick that submits polls at once, and that query fails. */
    for (int i = 0; i < MAX_TICKS && !polls_at_least(1); i++) {
        tick(f);
        engine_wait(f->en, 2000);
    }
    assert_true(polls_at_least(1));
    json_t *d = detail(f, id);
    assert_string_equal(task_status(d, "t"), "submitted");
    json_decref(d);
    d = run_to_end(f, id);
    assert_string_equal(task_status(d, "t"), "completed");
    assert_int_equal(task_int(d, "t", "attempt"), 1);
    assert_true(noop_poll_calls() >= 2);
    json_decref(d);
    free(id);
}

static void an_unreachable_backend_leaves_the_task_submitting_then_submits_it_again(void **state)
{
    fixture *f = *state;
    noop_fault_submits(1);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\"}]", 0);
    tick(f);
    json_t *d = detail(f, id);
    /* Whether the job reached the backend is unknown: neither submitted nor
     * failed. */
    assert_string_equal(task_status(d, "t"), "submitting");
    assert_true(json_is_null(json_object_get(item(d, "t"), "job_id")));
    json_decref(d);
    d = run_to_end(f, id);
    assert_string_equal(task_status(d, "t"), "completed");
    /* The noop backend has no job with that tag: the same attempt again. */
    assert_int_equal(task_int(d, "t", "attempt"), 1);
    char *ev = task_events(f, id, "t");
    assert_string_equal(ev, "submitting,pending,submitting,submitted,completed");
    free(ev);
    json_decref(d);
    free(id);
}

static void cancel_ends_running_jobs_and_the_run(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"x\"},"
                      " {\"id\":\"b\",\"command\":\"x\",\"deps\":[\"a\"]}]",
                      0);
    json_decref(tick_until(f, id, task_reached, &(task_is){"a", "running"}));
    sh_err e = SH_ERR_INIT;
    assert_int_equal(store_request_cancel(f->st, id, &e), 0);
    json_t *d = run_to_end(f, id);
    assert_string_equal(run_status_of(d), "cancelled");
    assert_string_equal(task_status(d, "a"), "cancelled");
    assert_string_equal(task_status(d, "b"), "cancelled");
    assert_true(json_is_true(json_object_get(d, "cancel_requested")));
    json_decref(d);
    free(id);
}

static bool all_completed(json_t *d, const void *arg)
{
    (void)arg;
    return !strcmp(run_status_of(d), "completed");
}

static int active_tasks(json_t *d)
{
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(d, "items"), i, it)
    {
        task_state s;
        if (task_state_parse(json_string_value(json_object_get(it, "status")), &s) == 0 &&
            task_state_is_active(s))
            n++;
    }
    return n;
}

static bool two_active(json_t *d, const void *arg)
{
    (void)arg;
    return active_tasks(d) == 2;
}

static void a_runs_cap_bounds_its_active_tasks(void **state)
{
    fixture *f = *state;
    const char *ids[] = {"t1", "t2", "t3", "t4", "t5"};
    for (size_t i = 0; i < 5; i++)
        noop_fault_job(ids[i], 0, NOOP_RUN, 0);
    char *id = submit(f,
                      "[{\"id\":\"t1\",\"command\":\"x\"},{\"id\":\"t2\",\"command\":\"x\"},"
                      " {\"id\":\"t3\",\"command\":\"x\"},{\"id\":\"t4\",\"command\":\"x\"},"
                      " {\"id\":\"t5\",\"command\":\"x\"}]",
                      2);
    json_t *d = tick_until(f, id, two_active, NULL);
    json_decref(d);
    /* More ticks do not submit more while both keep running. */
    for (int i = 0; i < 3; i++) {
        tick(f);
        d = detail(f, id);
        assert_int_equal(active_tasks(d), 2);
        json_decref(d);
    }
    noop_fault_reset();
    for (int i = 0; i < MAX_TICKS; i++) {
        tick(f);
        d = detail(f, id);
        assert_true(active_tasks(d) <= 2);
        bool done = all_completed(d, NULL);
        json_decref(d);
        if (done)
            break;
        engine_wait(f->en, 2000);
    }
    d = detail(f, id);
    assert_string_equal(run_status_of(d), "completed");
    json_decref(d);
    free(id);
}

static void a_new_engine_takes_over_running_jobs_from_the_store(void **state)
{
    fixture *f = *state;
    noop_fault_job("t", 0, NOOP_RUN, 0);
    char *id = submit(f, "[{\"id\":\"t\",\"command\":\"x\"}]", 0);
    json_decref(tick_until(f, id, task_reached, &(task_is){"t", "running"}));
    /* The engine goes away (a restart) with its job still running. */
    engine_free(f->en);
    f->en = new_engine(f);
    noop_fault_reset();
    json_t *d = run_to_end(f, id);
    assert_string_equal(task_status(d, "t"), "completed");
    /* Polled and adopted, not submitted again. */
    assert_int_equal(task_int(d, "t", "attempt"), 1);
    assert_int_equal(noop_submit_calls(), 0);
    json_decref(d);
    free(id);
}

static void a_run_the_engine_cannot_load_fails_with_the_reason(void **state)
{
    fixture *f = *state;
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"x\"},"
                      " {\"id\":\"b\",\"command\":\"x\"}]",
                      0);
    /* A stored definition that no longer validates. */
    char *path = xasprintf("%s/scripthut.db", f->env->data_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE tasks SET definition = '{\"id\":\"b\",\"cpus\":0}'"
                                  " WHERE task_id = 'b'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    free(path);
    tick(f);
    json_t *d = detail(f, id);
    assert_string_equal(run_status_of(d), "failed");
    for (const char *const *t = (const char *const[]){"a", "b", NULL}; *t; t++) {
        assert_string_equal(task_status(d, *t), "failed");
        assert_non_null(strstr(task_str(d, *t, "error"), "task 1 is unreadable"));
    }
    json_decref(d);
    assert_int_equal(noop_submit_calls(), 0);
    free(id);
}

static void runs_on_one_backend_take_turns(void **state)
{
    fixture *f = *state;
    /* Two runs of held jobs on a backend with two slots and no run caps. */
    const char *held[] = {"x1", "x2", "x3", "y1", "y2", "y3"};
    for (size_t i = 0; i < 6; i++)
        noop_fault_job(held[i], 0, NOOP_RUN, 0);
    char *r1 = submit_on(f,
                         "[{\"id\":\"x1\",\"command\":\"x\"},{\"id\":\"x2\",\"command\":\"x\"},"
                         " {\"id\":\"x3\",\"command\":\"x\"}]",
                         0, 2);
    char *r2 = submit_on(f,
                         "[{\"id\":\"y1\",\"command\":\"x\"},{\"id\":\"y2\",\"command\":\"x\"},"
                         " {\"id\":\"y3\",\"command\":\"x\"}]",
                         0, 2);
    tick(f);
    /* One slot each: the first run did not take both. */
    json_t *d1 = detail(f, r1), *d2 = detail(f, r2);
    assert_int_equal(active_tasks(d1), 1);
    assert_int_equal(active_tasks(d2), 1);
    json_decref(d1);
    json_decref(d2);
    free(r1);
    free(r2);
}

/* How many commits other connections made to the store: SQLite's
 * data_version, read on a connection of the test's own. */
static long long store_commits(fixture *f, sqlite3 *db)
{
    (void)f;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static const char *reason_of(json_t *d, const char *task_id)
{
    return task_str(d, task_id, "pending_reason");
}

static void waiting_tasks_say_why(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    noop_fault_job("c", 0, NOOP_RUN, 0);
    /* One slot in the run: a takes it; b waits for a; c for the slot. */
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"x\"},"
                      " {\"id\":\"b\",\"command\":\"x\",\"deps\":[\"a\"]},"
                      " {\"id\":\"c\",\"command\":\"x\"}]",
                      1);
    json_t *d = detail(f, id);
    assert_string_equal(reason_of(d, "b"), "dependencies"); /* stored with the run */
    assert_null(reason_of(d, "a"));
    json_decref(d);
    d = tick_until(f, id, task_reached, &(task_is){"a", "running"});
    assert_null(reason_of(d, "a"));
    assert_string_equal(reason_of(d, "b"), "dependencies");
    assert_string_equal(reason_of(d, "c"), "run max_concurrent (1)");
    json_decref(d);
    /* a ends: b, ready now and first in order, takes the slot and loses its
     * reason; c still waits for the slot. */
    noop_fault_job("b", 0, NOOP_RUN, 0);
    noop_fault_job("a", 0, NOOP_SUCCEED, 0);
    d = tick_until(f, id, task_reached, &(task_is){"b", "running"});
    assert_null(reason_of(d, "b"));
    assert_string_equal(task_status(d, "c"), "pending");
    assert_string_equal(reason_of(d, "c"), "run max_concurrent (1)");
    json_decref(d);
    noop_fault_reset();
    d = run_to_end(f, id);
    assert_null(reason_of(d, "c"));
    json_decref(d);
    free(id);
}

static void the_backend_cap_and_a_retry_delay_are_reasons_too(void **state)
{
    fixture *f = *state;
    noop_fault_job("x", 0, NOOP_RUN, 0);
    noop_fault_job("r", 1, NOOP_EXIT, 3);
    char *r1 = submit_on(f, "[{\"id\":\"x\",\"command\":\"x\"}]", 0, 1);
    tick(f);
    char *r2 = submit_on(f, "[{\"id\":\"y\",\"command\":\"x\"}]", 0, 1);
    tick(f);
    json_t *d = detail(f, r2);
    assert_string_equal(task_status(d, "y"), "pending");
    assert_string_equal(reason_of(d, "y"), "backend max_concurrent (1)");
    json_decref(d);
    noop_fault_job("x", 0, NOOP_SUCCEED, 0);
    json_decref(run_to_end(f, r2));
    /* A failed attempt waiting for its retry delay says until when. */
    char *r3 =
        submit_on(f, "[{\"id\":\"r\",\"command\":\"x\",\"retries\":1,\"retry_delay\":3600}]", 0, 1);
    d = tick_until(f, r3, task_reached, &(task_is){"r", "pending"});
    if (!reason_of(d, "r") || strncmp(reason_of(d, "r"), "retry at 20", 11) != 0)
        fail_msg("retry reason: %s", reason_of(d, "r") ? reason_of(d, "r") : "(null)");
    json_decref(d);
    free(r1);
    free(r2);
    free(r3);
}

static void a_tick_that_changes_nothing_writes_nothing(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = submit(f,
                      "[{\"id\":\"a\",\"command\":\"x\"},{\"id\":\"b\",\"command\":\"x\"},"
                      " {\"id\":\"c\",\"command\":\"x\",\"deps\":[\"b\"]}]",
                      1);
    json_decref(tick_until(f, id, task_reached, &(task_is){"a", "running"}));
    tick(f); /* reasons settle */
    char *path = xasprintf("%s/scripthut.db", f->env->data_dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    long long before = store_commits(f, db);
    for (int i = 0; i < 3; i++)
        tick(f);
    /* Same reasons, same states: no commit changed the database. */
    assert_int_equal(store_commits(f, db), before);
    sqlite3_close(db);
    free(path);
    json_t *d = detail(f, id);
    assert_string_equal(reason_of(d, "b"), "run max_concurrent (1)");
    assert_string_equal(reason_of(d, "c"), "dependencies");
    json_decref(d);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_dag_runs_to_completion_in_dependency_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_nonzero_exit_fails_the_task_and_its_dependents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_attempt_is_retried_and_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(retries_run_out_and_the_last_failure_stands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_lost_job_fails_its_task_without_an_exit_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_status_query_changes_no_task, setup, teardown),
        cmocka_unit_test_setup_teardown(
            an_unreachable_backend_leaves_the_task_submitting_then_submits_it_again, setup,
            teardown),
        cmocka_unit_test_setup_teardown(cancel_ends_running_jobs_and_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(a_runs_cap_bounds_its_active_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_engine_takes_over_running_jobs_from_the_store, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_run_the_engine_cannot_load_fails_with_the_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(runs_on_one_backend_take_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(waiting_tasks_say_why, setup, teardown),
        cmocka_unit_test_setup_teardown(the_backend_cap_and_a_retry_delay_are_reasons_too, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_tick_that_changes_nothing_writes_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

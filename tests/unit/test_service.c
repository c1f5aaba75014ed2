/* test_service.c - the operations behind every face (src/core/service.c):
 * submit, cancel, rerun, delete, events, logs and daemon status through the
 * svc_* functions, with a real config file, store and Lua host on a temp
 * data dir (fixture.h), on the noop backend and its test-only faults
 * (backend/noop.h).
 *
 * Each test makes its service the engine before submitting: a submission
 * from a process that is not the engine starts the detached engine as
 * /proc/self/exe, which here is this test binary (main() returns at once
 * when started that way). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/noop.h"
#include "core/service.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#include "fixture.h"

/* Engine steps a test may take before it is a failure. */
#define MAX_STEPS 500

typedef struct fixture {
    fx_env *env;
    svc *s;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("service");
    noop_fault_reset();
    char *text = xasprintf("settings { data_dir = '%s', poll_interval = 1 }\n"
                           "backend 'nb' { type = 'noop' }\n"
                           "workflow 'pair' { backend = 'nb', tasks = {\n"
                           "  { id = 'a', command = 'true' },\n"
                           "  { id = 'b', command = 'true', deps = { 'a' } },\n"
                           "} }\n",
                           f->env->data_dir);
    char *path = fx_write(f->env, "scripthut.lua", text);
    sh_err e = SH_ERR_INIT;
    if (svc_open(path, &f->s, &e) != 0)
        fail_msg("svc_open: %s", e.msg);
    free(path);
    free(text);
    assert_true(svc_engine_acquire(f->s));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    svc_close(f->s);
    fx_free(f->env);
    noop_fault_reset();
    free(f);
    return 0;
}

static char *run_workflow(fixture *f, const char *name)
{
    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    if (svc_workflow_run(f->s, name, NULL, &sum, &e) != 0)
        fail_msg("workflow run %s: %s", name, e.msg);
    char *id = xstrdup(json_string_value(json_object_get(sum, "id")));
    json_decref(sum);
    return id;
}

static json_t *detail(fixture *f, const char *id)
{
    json_t *d = NULL;
    sh_err e = SH_ERR_INIT;
    if (svc_run_detail(f->s, id, &d, &e) != 0)
        fail_msg("run detail %s: %s", id, e.msg);
    return d;
}

static const char *status_of(json_t *d)
{
    return json_string_value(json_object_get(d, "status"));
}

static const char *task_status(json_t *d, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(d, "items"), i), "status"));
}

/* Steps the engine until run id's status is `want` (or, want NULL, until it
 * is finished); returns the detail. */
static json_t *step_until(fixture *f, const char *id, const char *want)
{
    for (int i = 0; i < MAX_STEPS; i++) {
        json_t *d = detail(f, id);
        const char *st = status_of(d);
        if (want ? !strcmp(st, want) : strcmp(st, "pending") && strcmp(st, "running"))
            return d;
        json_decref(d);
        sh_err e = SH_ERR_INIT;
        if (svc_engine_step(f->s, 1000, &e) != 0)
            fail_msg("engine step: %s", e.msg);
    }
    fail_msg("run %s did not reach %s", id, want ? want : "an end");
    return NULL;
}

/* --- tests -------------------------------------------------------------------- */

static void a_workflow_runs_to_completion_and_is_listed(void **state)
{
    fixture *f = *state;
    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_workflow_run(f->s, "pair", NULL, &sum, &e), 0);
    assert_string_equal(json_string_value(json_object_get(sum, "status")), "pending");
    assert_string_equal(json_string_value(json_object_get(sum, "workflow_name")), "pair");
    assert_string_equal(json_string_value(json_object_get(sum, "backend_name")), "nb");
    assert_int_equal(json_integer_value(json_object_get(sum, "task_count")), 2);
    char *id = xstrdup(json_string_value(json_object_get(sum, "id")));
    json_decref(sum);
    json_t *d = step_until(f, id, NULL);
    assert_string_equal(status_of(d), "completed");
    char *logs = xasprintf("%s/logs/%s", f->env->data_dir, id);
    assert_string_equal(json_string_value(json_object_get(d, "log_dir")), logs);
    free(logs);
    json_decref(d);

    json_t *list = NULL;
    assert_int_equal(svc_run_list(f->s, 10, "pair", &list, &e), 0);
    json_t *runs = json_object_get(list, "runs");
    assert_int_equal(json_array_size(runs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "id")), id);
    json_decref(list);

    json_t *ev = NULL;
    assert_int_equal(svc_run_events(f->s, id, 0, &ev, &e), 0);
    json_t *events = json_object_get(ev, "events");
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 0), "to")),
                        "created");
    json_t *last = json_array_get(events, json_array_size(events) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "to")), "completed");
    assert_true(json_is_null(json_object_get(last, "task_id"))); /* the run's own */
    long long seq = 0;
    assert_int_equal(svc_events_last_seq(f->s, &seq, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "last_seq")), seq);
    json_decref(ev);
    free(id);
}

static void bad_submissions_are_refused_before_anything_is_stored(void **state)
{
    fixture *f = *state;
    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_workflow_run(f->s, "nope", NULL, &sum, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    assert_string_equal(e.msg, "Workflow 'nope' not found (known workflows: pair)");

    json_t *cycle = json_loads("{\"tasks\":[{\"id\":\"x\",\"command\":\"true\",\"deps\":[\"y\"]},"
                               "{\"id\":\"y\",\"command\":\"true\",\"deps\":[\"x\"]}]}",
                               0, NULL);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_submit(f->s, "cyc", "nb", cycle, 0, &sum, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    json_decref(cycle);

    json_t *one = json_loads("{\"tasks\":[{\"id\":\"x\",\"command\":\"true\"}]}", 0, NULL);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_submit(f->s, "w", "zz", one, 0, &sum, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    assert_non_null(strstr(e.msg, "Backend 'zz' not found in config (known backends: "));
    json_decref(one);

    json_t *empty = json_loads("{\"tasks\":[]}", 0, NULL);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_submit(f->s, "w", "nb", empty, 0, &sum, &e), -1);
    assert_string_equal(e.msg, "No tasks for workflow 'w'");
    json_decref(empty);

    json_t *list = NULL;
    assert_int_equal(svc_run_list(f->s, 0, NULL, &list, &e), 0);
    assert_int_equal(json_array_size(json_object_get(list, "runs")), 0);
    json_decref(list);
}

static void cancel_waits_for_the_engine_and_returns_the_cancelled_summary(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = run_workflow(f, "pair");
    json_t *d = NULL;
    for (int i = 0; i < MAX_STEPS; i++) {
        d = detail(f, id);
        if (!strcmp(task_status(d, 0), "running"))
            break;
        json_decref(d);
        d = NULL;
        sh_err e = SH_ERR_INIT;
        assert_int_equal(svc_engine_step(f->s, 1000, &e), 0);
    }
    assert_non_null(d);
    json_decref(d);
    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_run_cancel(f->s, id, 60000, &sum, &e), 0);
    assert_string_equal(json_string_value(json_object_get(sum, "status")), "cancelled");
    assert_true(json_is_true(json_object_get(sum, "cancel_requested")));
    json_decref(sum);
    /* Cancelling a finished run is not an error. */
    assert_int_equal(svc_run_cancel(f->s, id, 0, &sum, &e), 0);
    assert_string_equal(json_string_value(json_object_get(sum, "status")), "cancelled");
    json_decref(sum);
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_run_cancel(f->s, "nope", 0, &sum, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(id);
}

static void rerun_of_failed_tasks_keeps_the_completed_ones(void **state)
{
    fixture *f = *state;
    noop_fault_job("b", 0, NOOP_EXIT, 1);
    char *id = run_workflow(f, "pair");
    json_t *d = step_until(f, id, NULL);
    assert_string_equal(status_of(d), "failed");
    json_decref(d);
    noop_fault_reset();

    json_t *sum = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_run_rerun(f->s, id, true, &sum, &e), 0);
    char *again = xstrdup(json_string_value(json_object_get(sum, "id")));
    assert_string_equal(json_string_value(json_object_get(sum, "rerun_of")), id);
    json_decref(sum);
    d = detail(f, again);
    assert_string_equal(task_status(d, 0), "completed"); /* kept */
    assert_string_equal(task_status(d, 1), "pending");
    json_decref(d);
    /* The new run is active: a rerun of it is refused. */
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_run_rerun(f->s, again, false, &sum, &e), -1);
    assert_int_equal(e.status, SH_ECONFLICT);
    d = step_until(f, again, NULL);
    assert_string_equal(status_of(d), "completed");
    json_decref(d);
    free(id);
    free(again);
}

static void delete_refuses_an_active_run_and_removes_a_finished_one_and_its_logs(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = run_workflow(f, "pair");
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_run_delete(f->s, id, &e), -1);
    assert_int_equal(e.status, SH_ECONFLICT);
    noop_fault_reset();
    json_decref(step_until(f, id, "completed"));
    char *logs = xasprintf("%s/logs/%s", f->env->data_dir, id);
    assert_true(fs_exists(logs)); /* made by the engine at submission */
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_run_delete(f->s, id, &e), 0);
    assert_false(fs_exists(logs));
    json_t *d = NULL;
    assert_int_equal(svc_run_detail(f->s, id, &d, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    e = (sh_err)SH_ERR_INIT;
    json_t *ev = NULL;
    assert_int_equal(svc_run_events(f->s, id, 0, &ev, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(logs);
    free(id);
}

static void task_logs_name_what_is_wrong(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = run_workflow(f, "pair");
    char *content = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_task_log(f->s, id, "a", "stdout", 0, &content, &e), -1);
    assert_string_equal(e.msg, "Invalid log type 'stdout': use output or error");
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_task_log(f->s, id, "b", "output", 0, &content, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, "Task has not been submitted yet (task 'b' is pending)");
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_task_log(f->s, id, "zz", "output", 0, &content, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    /* Once submitted: the noop backend writes no log, which reads as empty. */
    for (int i = 0; i < MAX_STEPS; i++) {
        json_t *d = detail(f, id);
        bool submitted = strcmp(task_status(d, 0), "pending") != 0;
        json_decref(d);
        if (submitted)
            break;
        assert_int_equal(svc_engine_step(f->s, 1000, &e), 0);
    }
    e = (sh_err)SH_ERR_INIT;
    assert_int_equal(svc_task_log(f->s, id, "a", "error", 5, &content, &e), 0);
    assert_string_equal(content, "");
    free(content);
    noop_fault_reset();
    json_decref(step_until(f, id, NULL));
    free(id);
}

static void daemon_status_names_this_process_as_the_engine(void **state)
{
    fixture *f = *state;
    noop_fault_job("a", 0, NOOP_RUN, 0);
    char *id = run_workflow(f, "pair");
    json_t *st = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(svc_daemon_status(f->s, &st, &e), 0);
    assert_true(json_is_true(json_object_get(st, "running")));
    assert_int_equal(json_integer_value(json_object_get(st, "pid")), getpid());
    assert_string_equal(json_string_value(json_object_get(st, "data_dir")), f->env->data_dir);
    assert_int_equal(json_integer_value(json_object_get(st, "active_runs")), 1);
    json_decref(st);
    noop_fault_reset();
    json_decref(step_until(f, id, NULL));
    assert_int_equal(svc_daemon_status(f->s, &st, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "active_runs")), 0);
    json_decref(st);
    free(id);
}

int main(int argc, char **argv)
{
    (void)argv;
    /* Started as "daemon run ..." by a detached-engine spawn: never run the
     * tests again from there (each run would spawn the next). */
    if (argc > 1)
        return 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_workflow_runs_to_completion_and_is_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_submissions_are_refused_before_anything_is_stored,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            cancel_waits_for_the_engine_and_returns_the_cancelled_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(rerun_of_failed_tasks_keeps_the_completed_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            delete_refuses_an_active_run_and_removes_a_finished_one_and_its_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(task_logs_name_what_is_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(daemon_status_names_this_process_as_the_engine, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

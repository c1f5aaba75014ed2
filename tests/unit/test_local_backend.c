/* test_local_backend.c - the local backend with real processes.
 *
 * Each test runs in the shared fixture (fixture.h: a temp HOME with a data
 * dir), and runs the real job wrapper: SCRIPTHUT_SELF_EXE points the backend at the
 * scripthut binary (SCRIPTHUT_BIN, set by ctest), since this test binary has
 * no `__job-wrapper` command.  Waits poll with short sleeps up to a bounded
 * deadline and assert on outcomes, never on timing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "backend/local_spool.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#include "fixture.h"

#define WAIT_DEADLINE_MS 30000
#define MAX_JOBS 64

typedef struct fixture {
    fx_env *env;
    const char *root; /* the fixture's temp dir, also HOME */
    const char *data_dir;
    backend *b;
    job_ref jobs[MAX_JOBS]; /* submitted, cancelled at teardown */
    size_t njobs;
} fixture;

/* --- helpers -------------------------------------------------------------- */

/* The engine reaps its children elsewhere; here the test is the parent of
 * every wrapper (and, as subreaper, of orphaned tasks). */
static void reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static backend *new_backend(const char *data_dir)
{
    json_t *config = json_pack("{s:s, s:s}", "name", "local", "type", "local");
    sh_err e = SH_ERR_INIT;
    backend *b = backend_create("local", config, data_dir, &e);
    json_decref(config);
    if (!b)
        fail_msg("backend_create: %s", e.msg);
    return b;
}

static int setup(void **state)
{
    const char *bin = getenv("SCRIPTHUT_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "SCRIPTHUT_BIN is not set (run through ctest)\n");
        return -1;
    }
    setenv("SCRIPTHUT_SELF_EXE", bin, 1);
    fixture *fx = xcalloc(1, sizeof *fx);
    fx->env = fx_new("local-test");
    fx->root = fx->env->root;
    fx->data_dir = fx->env->data_dir;
    fx->b = new_backend(fx->data_dir);
    *state = fx;
    return 0;
}

/* Teardown's wait: no assertions, just a bounded wait for the end. */
static void wait_until_inactive(backend *b, const job_ref *ref)
{
    int64_t deadline = time_monotonic_ms() + WAIT_DEADLINE_MS;
    while (time_monotonic_ms() < deadline) {
        job_status st;
        sh_err e = SH_ERR_INIT;
        reap_children();
        if (b->ops->poll(b, 1, ref, &st, &e) == 0 && st.phase != JOB_RUNNING &&
            st.phase != JOB_QUEUED)
            return;
        sleep_ms(50);
    }
}

static int teardown(void **state)
{
    fixture *fx = *state;
    /* Never leave a sleep 30 behind, whatever the test did. */
    for (size_t i = 0; i < fx->njobs; i++) {
        sh_err e = SH_ERR_INIT;
        fx->b->ops->cancel(fx->b, &fx->jobs[i], &e);
    }
    for (size_t i = 0; i < fx->njobs; i++) {
        wait_until_inactive(fx->b, &fx->jobs[i]);
        free((char *)fx->jobs[i].job_id);
        free((char *)fx->jobs[i].tag);
    }
    reap_children();
    backend_destroy(fx->b);
    fx_free(fx->env);
    free(fx);
    return 0;
}

typedef struct spec_buf {
    job_spec spec;
    char *out_path;
    char *err_path;
} spec_buf;

static void spec_init(fixture *fx, spec_buf *s, const char *tag, const char *script)
{
    char *name = fs_encode_name(tag);
    s->out_path = xasprintf("%s/logs/%s.out", fx->root, name);
    s->err_path = xasprintf("%s/logs/%s.err", fx->root, name);
    free(name);
    s->spec = (job_spec){.tag = tag,
                         .run_id = "r1",
                         .task_id = "t1",
                         .attempt = 1,
                         .script = script,
                         .working_dir = fx->root,
                         .out_path = s->out_path,
                         .err_path = s->err_path,
                         .cpus = 1};
}

static void spec_free(spec_buf *s)
{
    free(s->out_path);
    free(s->err_path);
}

/* Submits one job and remembers it for teardown; returns its ref. */
static job_ref submit(fixture *fx, const job_spec *spec)
{
    char *id = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->submit(fx->b, 1, spec, &id, &e), 0);
    if (!id)
        fail_msg("submit %s: %s", spec->tag, e.msg);
    assert_true(fx->njobs < MAX_JOBS);
    job_ref ref = {xstrdup(id), xstrdup(spec->tag)};
    fx->jobs[fx->njobs++] = ref;
    free(id);
    return ref;
}

static job_status poll_once(fixture *fx, job_ref ref)
{
    job_status st;
    sh_err e = SH_ERR_INIT;
    reap_children();
    assert_int_equal(fx->b->ops->poll(fx->b, 1, &ref, &st, &e), 0);
    return st;
}

static job_status wait_for_phase(fixture *fx, job_ref ref, job_phase want)
{
    int64_t deadline = time_monotonic_ms() + WAIT_DEADLINE_MS;
    for (;;) {
        job_status st = poll_once(fx, ref);
        if (st.phase == want)
            return st;
        if (time_monotonic_ms() > deadline)
            fail_msg("job %s: still in phase %d, wanted %d (%s)", ref.tag, st.phase, want,
                     st.reason);
        sleep_ms(50);
    }
}

static job_status wait_finished(fixture *fx, job_ref ref)
{
    return wait_for_phase(fx, ref, JOB_FINISHED);
}

static char *job_dir_of(fixture *fx, const char *tag)
{
    char *name = fs_encode_name(tag);
    char *dir = xasprintf("%s/local/jobs/%s", fx->data_dir, name);
    free(name);
    return dir;
}

static pid_t job_pgid(fixture *fx, const char *tag)
{
    char *dir = job_dir_of(fx, tag);
    int64_t pgid = 0;
    /* The wrapper writes pgid right after forking: wait for it. */
    int64_t deadline = time_monotonic_ms() + WAIT_DEADLINE_MS;
    while (local_spool_read_int(dir, LOCAL_PGID_FILE, &pgid) < 0 && time_monotonic_ms() < deadline)
        sleep_ms(20);
    free(dir);
    assert_true(pgid > 0);
    return (pid_t)pgid;
}

static bool file_exists(void *path)
{
    return access(path, F_OK) == 0;
}

static bool group_gone(pid_t pgid)
{
    reap_children();
    return kill(-pgid, 0) < 0 && errno == ESRCH;
}

static char *read_log(fixture *fx, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    sh_err e = SH_ERR_INIT;
    if (fx->b->ops->read_log(fx->b, path, 0, &text, &len, &e) < 0)
        fail_msg("read_log %s: %s", path, e.msg);
    return text;
}

static size_t count_lines(const char *path)
{
    char *text = NULL;
    if (fs_read_file(path, &text, NULL) < 0)
        return 0;
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

/* --- tests ---------------------------------------------------------------- */

static void job_exiting_zero_finishes_successfully_with_timings_and_logs(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-ok-1", "echo to-stdout\necho to-stderr >&2\nexit 0\n");
    job_ref ref = submit(fx, &s.spec);
    job_status st = wait_finished(fx, ref);
    assert_true(st.success);
    assert_false(st.cancelled);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(st.term_signal, 0);
    assert_string_equal(st.scheduler_state, "COMPLETED");
    assert_true(st.started_us > 0);
    assert_true(st.finished_us >= st.started_us);
    char *out = read_log(fx, s.out_path), *err = read_log(fx, s.err_path);
    assert_string_equal(out, "to-stdout\n");
    assert_string_equal(err, "to-stderr\n");
    free(out);
    free(err);
    spec_free(&s);
}

/* Regression: the engine submits a batch and polls it at once.  posix_spawn
 * returns before the kernel has set up the new program's arguments, so
 * /proc/<pid>/cmdline can read empty for a wrapper that is about to run; such
 * a poll once reported the job LOST.  Seen through the engine in 1 of 300 to
 * 1 of 4,000 short jobs (caught with /proc/<pid>/stat showing comm "exe",
 * zero CPU time, empty cmdline); this test hits that window only rarely, so
 * a regression shows up as an occasional failure here and in bench/soak.sh. */
#define BATCH 16
static void a_batch_polled_at_once_after_submission_is_never_lost(void **state)
{
    fixture *fx = *state;
    for (int round = 0; round < 3; round++) {
        spec_buf bufs[BATCH];
        job_spec specs[BATCH];
        char tags[BATCH][32];
        for (int i = 0; i < BATCH; i++) {
            snprintf(tags[i], sizeof tags[i], "sh-r1-b%d-%d", round, i);
            spec_init(fx, &bufs[i], tags[i], "exit 0\n");
            specs[i] = bufs[i].spec;
        }
        char *ids[BATCH] = {0};
        sh_err errs[BATCH];
        memset(errs, 0, sizeof errs);
        assert_int_equal(fx->b->ops->submit(fx->b, BATCH, specs, ids, errs), 0);
        job_ref refs[BATCH];
        for (int i = 0; i < BATCH; i++) {
            if (!ids[i])
                fail_msg("submit %s: %s", tags[i], errs[i].msg);
            refs[i] = (job_ref){ids[i], tags[i]};
        }
        job_status st[BATCH];
        sh_err e = SH_ERR_INIT;
        for (int k = 0; k < 50; k++) {
            assert_int_equal(fx->b->ops->poll(fx->b, BATCH, refs, st, &e), 0);
            for (int i = 0; i < BATCH; i++)
                if (st[i].phase == JOB_LOST)
                    fail_msg("job %s reported lost right after submission: %s", tags[i],
                             st[i].reason);
        }
        for (int i = 0; i < BATCH; i++) {
            job_status done = wait_finished(fx, refs[i]);
            assert_true(done.success);
            free(ids[i]);
            spec_free(&bufs[i]);
        }
    }
}

static void job_exiting_three_fails_with_exit_code_and_is_retryable(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-fail-1", "exit 3\n");
    job_status st = wait_finished(fx, submit(fx, &s.spec));
    assert_false(st.success);
    assert_true(st.retryable);
    assert_false(st.cancelled);
    assert_int_equal(st.exit_code, 3);
    assert_string_equal(st.reason, "exit code 3");
    assert_string_equal(st.scheduler_state, "FAILED");
    spec_free(&s);
}

static void time_limit_kills_the_group_and_reports_timeout(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-slow-1", "sleep 30 &\nsleep 30\n");
    s.spec.time_limit_s = 1;
    job_ref ref = submit(fx, &s.spec);
    pid_t pgid = job_pgid(fx, ref.tag);
    job_status st = wait_finished(fx, ref);
    assert_false(st.success);
    assert_true(st.retryable);
    assert_false(st.cancelled);
    assert_string_equal(st.reason, "TIMEOUT");
    assert_string_equal(st.scheduler_state, "TIMEOUT");
    assert_true(group_gone(pgid));
    spec_free(&s);
}

static void cancel_kills_the_task_and_its_children(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-cancel-1", "sleep 30 & sleep 30; wait\n");
    job_ref ref = submit(fx, &s.spec);
    job_status st = wait_for_phase(fx, ref, JOB_RUNNING);
    assert_true(st.started_us > 0);
    pid_t pgid = job_pgid(fx, ref.tag);
    assert_int_equal(kill(-pgid, 0), 0);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->cancel(fx->b, &ref, &e), 0);
    st = wait_finished(fx, ref);
    assert_true(st.cancelled);
    assert_false(st.success);
    assert_false(st.retryable);
    assert_string_equal(st.scheduler_state, "CANCELLED");
    assert_true(group_gone(pgid));
    /* idempotent: cancelling a finished job is fine */
    assert_int_equal(fx->b->ops->cancel(fx->b, &ref, &e), 0);
    spec_free(&s);
}

static void cancel_right_after_submit_is_recorded_as_cancelled(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-early-1", "sleep 30\n");
    job_ref ref = submit(fx, &s.spec);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->cancel(fx->b, &ref, &e), 0);
    job_status st = wait_finished(fx, ref);
    assert_true(st.cancelled);
    assert_false(st.retryable);
    spec_free(&s);
}

static void task_ignoring_sigterm_is_killed_after_the_grace_period(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    /* An ignored signal stays ignored across exec, so sleep ignores it too.
     * The cancel waits for the marker: a TERM that came before the `trap`
     * would end the shell with signal 15, which is not what is tested. */
    char *marker = xasprintf("%s/trap-set", fx->root);
    char *script = xasprintf("trap '' TERM\ntouch '%s'\nsleep 30\n", marker);
    spec_init(fx, &s, "sh-r1-stubborn-1", script);
    job_ref ref = submit(fx, &s.spec);
    wait_for_phase(fx, ref, JOB_RUNNING);
    assert_true(fx_wait_until(file_exists, marker, WAIT_DEADLINE_MS));
    pid_t pgid = job_pgid(fx, ref.tag);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->cancel(fx->b, &ref, &e), 0);
    job_status st = wait_finished(fx, ref);
    assert_true(st.cancelled);
    assert_int_equal(st.term_signal, SIGKILL);
    assert_true(group_gone(pgid));
    spec_free(&s);
    free(script);
    free(marker);
}

static void submitting_a_tag_twice_runs_the_job_once(void **state)
{
    fixture *fx = *state;
    char *marker = xasprintf("%s/runs.txt", fx->root);
    char *script = xasprintf("echo run >> '%s'\n", marker);
    spec_buf s;
    spec_init(fx, &s, "sh-r1-once-1", script);
    job_ref first = submit(fx, &s.spec);
    job_ref second = submit(fx, &s.spec);
    assert_string_equal(first.job_id, second.job_id);
    wait_finished(fx, first);
    job_ref third = submit(fx, &s.spec); /* after it finished, too */
    assert_string_equal(first.job_id, third.job_id);
    assert_int_equal(count_lines(marker), 1);
    spec_free(&s);
    free(script);
    free(marker);
}

static void find_by_tag_adopts_a_submitted_job(void **state)
{
    fixture *fx = *state;
    char *id = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->find_by_tag(fx->b, "sh-r1-adopt-1", &id, &e), 0);
    assert_null(id);
    spec_buf s;
    spec_init(fx, &s, "sh-r1-adopt-1", "true\n");
    job_ref ref = submit(fx, &s.spec);
    assert_int_equal(fx->b->ops->find_by_tag(fx->b, "sh-r1-adopt-1", &id, &e), 1);
    assert_string_equal(id, ref.job_id);
    free(id);
    spec_free(&s);
}

static void a_restarted_backend_sees_the_finished_job(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-restart-1", "exit 5\n");
    job_ref ref = submit(fx, &s.spec);
    wait_finished(fx, ref);
    backend_destroy(fx->b);
    fx->b = new_backend(fx->data_dir);
    job_status st = poll_once(fx, ref);
    assert_int_equal(st.phase, JOB_FINISHED);
    assert_int_equal(st.exit_code, 5);
    spec_free(&s);
}

static void shell_metacharacters_in_tags_and_paths_are_carried_safely(void **state)
{
    fixture *fx = *state;
    const char *tag = "sh-r 1-it's \"$HOME\" `x`\n;rm -rf /-1";
    char *wd = xasprintf("%s/dir with 'quotes' \"$HOME\" $(x) and\nnewline", fx->root);
    assert_int_equal(fs_mkdir_p(wd, 0755), 0);
    spec_buf s;
    spec_init(fx, &s, tag, "pwd\n");
    free(s.out_path);
    s.out_path = xasprintf("%s/out 'log' $x\n.txt", wd);
    s.spec.out_path = s.out_path;
    s.spec.working_dir = wd;
    job_ref ref = submit(fx, &s.spec);
    job_status st = wait_finished(fx, ref);
    assert_true(st.success);
    char *out = read_log(fx, s.out_path);
    char *want = xasprintf("%s\n", wd);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(wd);
    spec_free(&s);
}

static void working_dir_tilde_is_home(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-home-1", "pwd\n");
    s.spec.working_dir = "~";
    job_status st = wait_finished(fx, submit(fx, &s.spec));
    assert_true(st.success);
    char *out = read_log(fx, s.out_path);
    char *want = xasprintf("%s\n", fx->root);
    assert_string_equal(out, want);
    free(want);
    free(out);
    spec_free(&s);
}

static void missing_working_dir_fails_with_a_message_in_the_err_log(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-nowd-1", "echo should-not-run\n");
    s.spec.working_dir = "/nonexistent/scripthut-test-dir";
    job_status st = wait_finished(fx, submit(fx, &s.spec));
    assert_false(st.success);
    assert_true(st.retryable);
    assert_int_equal(st.exit_code, 127);
    assert_non_null(strstr(st.reason, "/nonexistent/scripthut-test-dir"));
    char *err = read_log(fx, s.err_path);
    assert_non_null(strstr(err, "working directory"));
    free(err);
    spec_free(&s);
}

/* Decision: a wrapper killed with SIGKILL can never record how the task
 * ended.  While the task's group still runs, poll says RUNNING (so a retry
 * never starts a second copy beside it); once the group is gone it is LOST.
 * Cancel kills the orphaned group directly. */
static void killed_wrapper_reports_running_while_the_task_lives_then_lost(void **state)
{
    fixture *fx = *state;
    spec_buf s;
    spec_init(fx, &s, "sh-r1-orphan-1", "sleep 30\n");
    job_ref ref = submit(fx, &s.spec);
    wait_for_phase(fx, ref, JOB_RUNNING);
    pid_t pgid = job_pgid(fx, ref.tag);
    pid_t wrapper = (pid_t)atol(ref.job_id);
    assert_int_equal(kill(wrapper, SIGKILL), 0);
    waitpid(wrapper, NULL, 0);
    job_status st = poll_once(fx, ref);
    assert_int_equal(st.phase, JOB_RUNNING);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->cancel(fx->b, &ref, &e), 0);
    st = wait_for_phase(fx, ref, JOB_LOST);
    assert_non_null(strstr(st.reason, "disappeared"));
    int64_t deadline = time_monotonic_ms() + WAIT_DEADLINE_MS;
    while (!group_gone(pgid) && time_monotonic_ms() < deadline)
        sleep_ms(20);
    assert_true(group_gone(pgid));
    spec_free(&s);
}

static void polling_a_tag_that_was_never_submitted_reports_lost(void **state)
{
    fixture *fx = *state;
    job_ref ref = {"12345", "sh-r1-never-1"};
    job_status st = poll_once(fx, ref);
    assert_int_equal(st.phase, JOB_LOST);
}

static void read_log_of_a_missing_file_is_not_found(void **state)
{
    fixture *fx = *state;
    char *path = xasprintf("%s/nope.log", fx->root);
    char *text = NULL;
    size_t len = 0;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->read_log(fx->b, path, 0, &text, &len, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    assert_int_equal(fx->b->ops->read_file(fx->b, path, &text, &len, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(path);
}

static void read_log_returns_the_tail(void **state)
{
    fixture *fx = *state;
    char *path = xasprintf("%s/some.log", fx->root);
    assert_int_equal(fs_write_atomic(path, "line1\nline2\n", 12, 0644), 0);
    char *text = NULL;
    size_t len = 0;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(fx->b->ops->read_log(fx->b, path, 6, &text, &len, &e), 0);
    assert_string_equal(text, "line2\n");
    assert_int_equal(len, 6);
    free(text);
    free(path);
}

static void unknown_backend_types_are_refused(void **state)
{
    (void)state;
    sh_err e = SH_ERR_INIT;
    json_t *bogus = json_pack("{s:s}", "type", "kubernetes");
    assert_null(backend_create("k", bogus, "/tmp", &e));
    assert_int_equal(e.status, SH_EINVAL);
    assert_non_null(strstr(e.msg, "kubernetes"));
    json_decref(bogus);
}

int main(void)
{
    /* Orphaned tasks (wrapper killed) are re-parented to us and reaped here. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(job_exiting_zero_finishes_successfully_with_timings_and_logs),
        T(job_exiting_three_fails_with_exit_code_and_is_retryable),
        T(a_batch_polled_at_once_after_submission_is_never_lost),
        T(time_limit_kills_the_group_and_reports_timeout),
        T(cancel_kills_the_task_and_its_children),
        T(cancel_right_after_submit_is_recorded_as_cancelled),
        T(task_ignoring_sigterm_is_killed_after_the_grace_period),
        T(submitting_a_tag_twice_runs_the_job_once),
        T(find_by_tag_adopts_a_submitted_job),
        T(a_restarted_backend_sees_the_finished_job),
        T(shell_metacharacters_in_tags_and_paths_are_carried_safely),
        T(working_dir_tilde_is_home),
        T(missing_working_dir_fails_with_a_message_in_the_err_log),
        T(killed_wrapper_reports_running_while_the_task_lives_then_lost),
        T(polling_a_tag_that_was_never_submitted_reports_lost),
        T(read_log_of_a_missing_file_is_not_found),
        T(read_log_returns_the_tail),
        cmocka_unit_test(unknown_backend_types_are_refused),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

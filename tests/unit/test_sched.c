/* test_sched.c - the scheduler core the Slurm and PBS backends share
 * (src/backend/sched.c), under a scheduler of the test's own: a sched_kind
 * whose submit and cancel tools are small shell scripts in the fixture's
 * temp dir (fixture.h), run through the real local transport and the real
 * batch submission driver.  What is checked is the core's own work: config,
 * remote log paths, one record per job in a batch, reconciling a broken
 * submission by job name, cancel and find-by-tag, logs, the missing-job
 * timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/sched.h"
#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#include "fixture.h"

/* --- the test's scheduler --------------------------------------------------------- */

/* fakesub --name=NAME --out=PATH --err=PATH < script: saves the script as
 * $STATE/NAME.script and prints "Submitted batch job N"; names say how to
 * misbehave: *reject* exits 1 with a message, *noid* prints no id, *die*
 * kills the submission shell (a dropped connection). */
static const char FAKESUB[] =
    "#!/bin/sh\n"
    "for a in \"$@\"; do case \"$a\" in --name=*) name=${a#--name=} ;; esac; done\n"
    "case \"$name\" in\n"
    "  *reject*) echo \"bad job: $name\" >&2; exit 1 ;;\n"
    "  *noid*) echo hello; exit 0 ;;\n"
    "  *die*) kill -9 $PPID; exit 0 ;;\n"
    "esac\n"
    "cat > \"$STATE/$name.script\"\n"
    "n=$(cat \"$STATE/next\" 2>/dev/null || echo 100); echo $((n + 1)) > \"$STATE/next\"\n"
    "echo \"Submitted batch job $n\"\n";

/* fakecancel ID: "gone" is already finished (the tool says so and exits 1),
 * "stuck" cannot be cancelled, anything else is recorded. */
static const char FAKECANCEL[] = "#!/bin/sh\n"
                                 "case \"$1\" in\n"
                                 "  gone) echo \"Unknown Job Id $1\" >&2; exit 1 ;;\n"
                                 "  stuck) echo 'permission denied' >&2; exit 2 ;;\n"
                                 "esac\n"
                                 "echo \"$1\" >> \"$STATE/cancelled\"\n";

/* What lookup_names finds: job names with their ids, or a failure. */
static struct {
    const char *names[4];
    const char *ids[4];
    bool fail;
    int calls;
} g_queue;

static int parse_id(const char *out, char *id, size_t size)
{
    const char *p = strstr(out ? out : "", "Submitted batch job ");
    if (!p)
        return -1;
    p += strlen("Submitted batch job ");
    size_t n = strcspn(p, "\n");
    if (!n || n >= size)
        return -1;
    memcpy(id, p, n);
    id[n] = '\0';
    return 0;
}

static char *tag_name(const char *tag)
{
    return xasprintf("n-%s", tag);
}

static int lookup_names(backend *b, size_t n, char *const *names, char **ids, sh_err *e)
{
    (void)b;
    g_queue.calls++;
    if (g_queue.fail)
        return sh_err_set(e, SH_EUNAVAIL, "queue unreachable");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 4 && g_queue.names[k]; k++)
            if (!strcmp(names[i], g_queue.names[k]))
                ids[i] = xstrdup(g_queue.ids[k]);
    return 0;
}

static bool cancel_gone(const char *err, char *why, size_t why_size)
{
    (void)why;
    (void)why_size;
    return err && strstr(err, "Unknown Job Id");
}

typedef struct fake_impl {
    sched_base base; /* first, as sched.h requires */
} fake_impl;

typedef struct fixture {
    fx_env *env;
    char *state_dir;
    char *submit_prefix, *cancel_tool;
    sched_kind kind;
    backend b;
    fake_impl impl;
} fixture;

static void init_backend(fixture *f, json_t *config)
{
    memset(&f->b, 0, sizeof f->b);
    memset(&f->impl, 0, sizeof f->impl);
    f->b.name = "fake";
    f->b.config = config;
    f->b.data_dir = f->env->data_dir;
    f->b.impl = &f->impl;
    sh_err e = SH_ERR_INIT;
    if (sched_init(&f->b, &f->impl.base, &f->kind, &e) != 0)
        fail_msg("sched_init: %s", e.msg);
}

static void free_backend(fixture *f)
{
    sched_free(&f->impl.base);
    transport_free(f->b.tr);
    json_decref(f->b.config);
    f->b.tr = NULL;
    f->b.config = NULL;
}

static char *write_tool(fixture *f, const char *name, const char *text)
{
    char *path = fx_write(f->env, name, text);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("sched");
    f->state_dir = fx_path(f->env, "state");
    assert_int_equal(fs_mkdir_p(f->state_dir, 0755), 0);
    setenv("STATE", f->state_dir, 1);
    char *sub = write_tool(f, "fakesub", FAKESUB);
    f->submit_prefix = xasprintf("%s --name=", sub);
    free(sub);
    f->cancel_tool = write_tool(f, "fakecancel", FAKECANCEL);
    f->kind = (sched_kind){.submit_tool = "fakesub",
                           .submit_prefix = f->submit_prefix,
                           .out_option = " --out=",
                           .err_option = " --err=",
                           .parse_submit_id = parse_id,
                           .tag_name = tag_name,
                           .lookup_names = lookup_names,
                           .cancel_tool = f->cancel_tool,
                           .cancel_gone = cancel_gone};
    memset(&g_queue, 0, sizeof g_queue);
    init_backend(f, json_object());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free_backend(f);
    unsetenv("STATE");
    fx_free(f->env);
    free(f->state_dir);
    free(f->submit_prefix);
    free(f->cancel_tool);
    free(f);
    return 0;
}

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (fs_read_file(path, &data, &len) != 0)
        fail_msg("cannot read %s", path);
    return data;
}

/* A job of run r1 for task `task`, logging under the data dir. */
static job_spec job(fixture *f, const char *task, const char *script, char *bufs[3])
{
    bufs[0] = xasprintf("sh-r1-%s-1", task);
    bufs[1] = xasprintf("%s/logs/r1/%s.out", f->env->data_dir, task);
    bufs[2] = xasprintf("%s/logs/r1/%s.err", f->env->data_dir, task);
    return (job_spec){.tag = bufs[0],
                      .run_id = "r1",
                      .task_id = task,
                      .attempt = 1,
                      .script = script,
                      .working_dir = "~",
                      .out_path = bufs[1],
                      .err_path = bufs[2],
                      .cpus = 1};
}

/* --- config and paths ---------------------------------------------------------------- */

static void init_reads_log_dir_shell_and_query_timeout(void **state)
{
    fixture *f = *state;
    sched_base *s = &f->impl.base;
    assert_string_equal(s->log_dir, "~/.scripthut/logs");
    char *logs = xasprintf("%s/logs/", f->env->data_dir);
    assert_string_equal(s->local_logs, logs);
    free(logs);
    assert_string_equal(s->shell, "sh -s");
    assert_false(s->remote);
    assert_int_equal(sched_query_timeout_ms(&f->b), SCHED_QUERY_TIMEOUT_MS);
    assert_non_null(f->b.tr);
    free_backend(f);

    init_backend(f, json_pack("{s:s,s:b,s:i}", "log_dir", "/scratch/logs", "login_shell", 1,
                              "query_timeout", 5));
    assert_string_equal(s->log_dir, "/scratch/logs");
    assert_string_equal(s->shell, "bash -l -s");
    assert_int_equal(sched_query_timeout_ms(&f->b), 5000);
    free_backend(f);

    /* Out of range: the default, not a zero or a day-long wait. */
    int bad[] = {0, -3, 86401};
    for (size_t i = 0; i < 3; i++) {
        init_backend(f, json_pack("{s:i}", "query_timeout", bad[i]));
        assert_int_equal(sched_query_timeout_ms(&f->b), SCHED_QUERY_TIMEOUT_MS);
        free_backend(f);
    }
    init_backend(f, json_object());
}

static void only_run_logs_map_to_the_clusters_log_dir(void **state)
{
    fixture *f = *state;
    char *local = xasprintf("%s/logs/r1/t.out", f->env->data_dir);
    char *p = sched_remote_path(&f->b, local);
    assert_string_equal(p, local); /* not remote: the same file */
    free(p);
    f->impl.base.remote = true;
    free(f->impl.base.log_dir);
    f->impl.base.log_dir = xstrdup("/remote/logs");
    p = sched_remote_path(&f->b, local);
    assert_string_equal(p, "/remote/logs/r1/t.out");
    free(p);
    p = sched_remote_path(&f->b, "/home/u/custom.out");
    assert_string_equal(p, "/home/u/custom.out");
    free(p);
    f->impl.base.remote = false;
    free(local);
}

static void first_line_is_cut_to_size(void **state)
{
    (void)state;
    char buf[8];
    sched_first_line("first\nsecond", buf, sizeof buf);
    assert_string_equal(buf, "first");
    sched_first_line(NULL, buf, sizeof buf);
    assert_string_equal(buf, "");
    sched_first_line("a long first line", buf, 4);
    assert_string_equal(buf, "a l");
}

/* --- scripts ---------------------------------------------------------------------- */

static void a_script_that_hangs_times_out_as_unavailable(void **state)
{
    fixture *f = *state;
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(sched_run_script(&f->b, "squeue", "sleep 30\n", 1000, &r, &e), -1);
    assert_int_equal(e.status, SH_EUNAVAIL);
    assert_string_equal(e.msg, "backend 'fake': squeue timed out after 1 s");
}

static void the_label_of_a_script_never_reaches_the_shell_as_code(void **state)
{
    fixture *f = *state;
    char *marker = fx_path(f->env, "pwned");
    char *what = xasprintf("x; touch %s $(touch %s) `touch %s`", marker, marker, marker);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(sched_run_script(&f->b, what, "echo ok\n", 30000, &r, &e), 0);
    assert_string_equal(r.out, "ok\n");
    exec_result_free(&r);
    assert_false(fs_exists(marker));
    free(what);
    free(marker);
}

/* --- submission ----------------------------------------------------------------------- */

static void a_batch_reports_each_job_alone_and_delivers_scripts_intact(void **state)
{
    fixture *f = *state;
    const char *script = "#!/bin/bash\necho 'quoted' \"$HOME\" `x` $(y)\nEOF\n\\\n";
    char *b0[3], *b1[3], *b2[3];
    job_spec jobs[3] = {job(f, "ok", script, b0), job(f, "reject", "true\n", b1),
                        job(f, "noid", "true\n", b2)};
    char *ids[3] = {NULL, NULL, NULL};
    sh_err errs[3] = {SH_ERR_INIT, SH_ERR_INIT, SH_ERR_INIT};
    assert_int_equal(sched_submit(&f->b, 3, jobs, ids, errs), 0);
    assert_string_equal(ids[0], "100");
    assert_int_equal(errs[0].status, 0);
    assert_null(ids[1]);
    assert_int_equal(errs[1].status, SH_EINVAL);
    assert_string_equal(
        errs[1].msg,
        "backend 'fake': fakesub rejected the job (exit 1): bad job: n-sh-r1-reject-1");
    assert_null(ids[2]);
    assert_int_equal(errs[2].status, SH_EINTERNAL);
    assert_string_equal(errs[2].msg,
                        "backend 'fake': fakesub printed no job id: hello (task noid)");
    char *saved = xasprintf("%s/n-sh-r1-ok-1.script", f->state_dir);
    char *got = read_text(saved);
    assert_string_equal(got, script);
    free(got);
    free(saved);
    /* The log dirs exist before the scheduler needs them. */
    char *dir = xasprintf("%s/logs/r1", f->env->data_dir);
    assert_true(fs_exists(dir));
    free(dir);
    assert_int_equal(g_queue.calls, 0); /* every job was accounted for */
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free(b0[i]);
        free(b1[i]);
        free(b2[i]);
    }
}

static void a_broken_submission_is_reconciled_by_job_name(void **state)
{
    fixture *f = *state;
    /* The shell dies at the second job: it did reach the queue (the lookup
     * finds it by name); the third did not. */
    g_queue.names[0] = "n-sh-r1-die-1";
    g_queue.ids[0] = "77";
    char *b0[3], *b1[3], *b2[3];
    job_spec jobs[3] = {job(f, "first", "true\n", b0), job(f, "die", "true\n", b1),
                        job(f, "third", "true\n", b2)};
    char *ids[3] = {NULL, NULL, NULL};
    sh_err errs[3] = {SH_ERR_INIT, SH_ERR_INIT, SH_ERR_INIT};
    assert_int_equal(sched_submit(&f->b, 3, jobs, ids, errs), 0);
    assert_string_equal(ids[0], "100");
    assert_string_equal(ids[1], "77");
    assert_int_equal(errs[1].status, 0);
    assert_null(ids[2]);
    assert_int_equal(errs[2].status, SH_EUNAVAIL);
    assert_non_null(strstr(errs[2].msg, "the job is not in the queue"));
    assert_int_equal(g_queue.calls, 1); /* one lookup for both unknown jobs */
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        ids[i] = NULL;
        errs[i] = (sh_err)SH_ERR_INIT;
    }

    /* When the queue cannot be asked either, nothing is decided. */
    g_queue.fail = true;
    job_spec more[2] = {jobs[1], jobs[2]};
    assert_int_equal(sched_submit(&f->b, 2, more, ids, errs), 0);
    for (int i = 0; i < 2; i++) {
        assert_null(ids[i]);
        assert_int_equal(errs[i].status, SH_EUNAVAIL);
        assert_non_null(strstr(errs[i].msg,
                               "whether the job reached the queue is unknown (queue unreachable)"));
    }
    for (int i = 0; i < 3; i++) {
        free(b0[i]);
        free(b1[i]);
        free(b2[i]);
    }
}

/* --- cancel, find by tag, logs ------------------------------------------------------------ */

static void cancel_is_idempotent_and_reports_a_real_refusal(void **state)
{
    fixture *f = *state;
    sh_err e = SH_ERR_INIT;
    job_ref ok = {"101", "sh-r1-t-1"}, gone = {"gone", "sh-r1-g-1"}, stuck = {"stuck", "sh-r1-s-1"};
    assert_int_equal(sched_cancel(&f->b, &ok, &e), 0);
    char *path = xasprintf("%s/cancelled", f->state_dir);
    char *got = read_text(path);
    assert_string_equal(got, "101\n");
    free(got);
    free(path);
    assert_int_equal(sched_cancel(&f->b, &gone, &e), 0);
    assert_int_equal(sched_cancel(&f->b, &stuck, &e), -1);
    char *want =
        xasprintf("backend 'fake': %s stuck failed (exit 2): permission denied", f->cancel_tool);
    assert_string_equal(e.msg, want);
    free(want);
}

static void find_by_tag_looks_the_job_name_up(void **state)
{
    fixture *f = *state;
    g_queue.names[0] = "n-sh-r1-t-2";
    g_queue.ids[0] = "55";
    char *id = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(sched_find_by_tag(&f->b, "sh-r1-t-2", &id, &e), 1);
    assert_string_equal(id, "55");
    free(id);
    id = NULL;
    assert_int_equal(sched_find_by_tag(&f->b, "sh-r1-t-3", &id, &e), 0);
    assert_null(id);
    g_queue.fail = true;
    assert_int_equal(sched_find_by_tag(&f->b, "sh-r1-t-2", &id, &e), -1);
    assert_string_equal(e.msg, "queue unreachable");
}

static void logs_are_read_whole_or_by_tail(void **state)
{
    fixture *f = *state;
    char *path = fx_write(f->env, "data/logs/r1/t.out", "line one\nline two\n");
    char *out = NULL;
    size_t len = 0;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(sched_read_log(&f->b, path, 9, &out, &len, &e), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(out, "line two\n", 9);
    free(out);
    assert_int_equal(sched_read_file(&f->b, path, &out, &len, &e), 0);
    assert_int_equal(len, 18);
    free(out);
    char *missing = fx_path(f->env, "data/logs/r1/none.out");
    assert_int_equal(sched_read_log(&f->b, missing, 0, &out, &len, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(missing);
    free(path);
}

/* --- the missing-job timer ------------------------------------------------------------------ */

static void a_missing_job_is_lost_only_after_the_grace_period(void **state)
{
    fixture *f = *state;
    sched_base *s = &f->impl.base;
    assert_false(sched_missing_lost(&f->b, "9")); /* starts the clock */
    assert_false(sched_missing_lost(&f->b, "9"));
    assert_int_equal(s->nmissing, 1);
    /* Seen again: forgotten, the clock starts over next time. */
    sched_missing_forget(&f->b, "9");
    assert_int_equal(s->nmissing, 0);
    assert_false(sched_missing_lost(&f->b, "9"));
    /* Missing for the whole grace period (its start moved back rather than
     * waiting two minutes): lost, and forgotten. */
    s->missing[0].since_ms = time_monotonic_ms() - SCHED_LOST_AFTER_MS;
    assert_true(sched_missing_lost(&f->b, "9"));
    assert_int_equal(s->nmissing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(init_reads_log_dir_shell_and_query_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_run_logs_map_to_the_clusters_log_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(first_line_is_cut_to_size, setup, teardown),
        cmocka_unit_test_setup_teardown(a_script_that_hangs_times_out_as_unavailable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_label_of_a_script_never_reaches_the_shell_as_code,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_batch_reports_each_job_alone_and_delivers_scripts_intact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_broken_submission_is_reconciled_by_job_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_is_idempotent_and_reports_a_real_refusal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(find_by_tag_looks_the_job_name_up, setup, teardown),
        cmocka_unit_test_setup_teardown(logs_are_read_whole_or_by_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_job_is_lost_only_after_the_grace_period, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

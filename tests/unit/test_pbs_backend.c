/* test_pbs_backend.c - the PBS backend (src/backend/pbs.c) through the real
 * local transport, against tests/unit/data/pbs/fake_pbs.sh linked as qsub,
 * qstat, qdel, qselect and tracejob (no PBS server runs here: the fake
 * answers in the captured formats, from files each test writes).  What is
 * checked is the backend's own work: the commands it runs and how often,
 * the batch submission, how answers become task states, and that a failed
 * or garbled query changes nothing. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#include "fixture.h"

typedef struct fixture {
    fx_env *env;
    char *state_dir;
    const char *data_dir;
    backend *b;
} fixture;

static void write_state(fixture *f, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", f->state_dir, name);
    if (fs_write_atomic(path, text, strlen(text), 0644) < 0)
        fail_msg("cannot write %s", path);
    free(path);
}

static char *read_state(fixture *f, const char *name)
{
    char *path = xasprintf("%s/%s", f->state_dir, name);
    char *text = NULL;
    size_t len = 0;
    if (fs_read_file(path, &text, &len) < 0)
        text = xstrdup("");
    free(path);
    return text;
}

/* How many calls of the fake started with prefix ("qstat -f ", "qsub "). */
static int calls(fixture *f, const char *prefix)
{
    char *log = read_state(f, "calls");
    int n = 0;
    size_t pl = strlen(prefix);
    for (char *p = log; *p;) {
        size_t len = strcspn(p, "\n");
        if (len >= pl && !strncmp(p, prefix, pl))
            n++;
        p += len + (p[len] == '\n');
    }
    free(log);
    return n;
}

static backend *new_backend(fixture *f, const char *flavor)
{
    json_t *config = json_pack("{s:s, s:s}", "type", "pbs", "flavor", flavor);
    sh_err e = SH_ERR_INIT;
    backend *b = backend_create("hpc", config, f->data_dir, &e);
    json_decref(config);
    if (!b)
        fail_msg("backend_create: %s", e.msg);
    return b;
}

static int setup_flavor(void **state, const char *flavor)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("pbs");
    f->state_dir = fx_path(f->env, "state");
    f->data_dir = f->env->data_dir;
    char *bin = fx_path(f->env, "bin");
    fs_mkdir_p(f->state_dir, 0755);
    fs_mkdir_p(f->data_dir, 0755);
    fs_mkdir_p(bin, 0755);
    const char *src = getenv("SCRIPTHUT_SOURCE_DIR");
    char *fake = xasprintf("%s/tests/unit/data/pbs/fake_pbs.sh", src ? src : ".");
    const char *names[] = {"qsub", "qstat", "qdel", "qselect", "tracejob"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *link = xasprintf("%s/%s", bin, names[i]);
        if (symlink(fake, link) < 0)
            return -1;
        free(link);
    }
    const char *path = getenv("PATH");
    char *new_path = xasprintf("%s:%s", bin, path ? path : "/usr/bin:/bin");
    setenv("PATH", new_path, 1);
    setenv("FAKE_PBS_STATE", f->state_dir, 1);
    setenv("TMPDIR", f->env->root, 1); /* a killed submission shell leaves its temp dir */
    free(new_path);
    free(fake);
    free(bin);
    f->b = new_backend(f, flavor);
    *state = f;
    return 0;
}

static int setup_pro(void **state)
{
    return setup_flavor(state, "pbspro");
}

static int setup_torque(void **state)
{
    return setup_flavor(state, "torque");
}

static int teardown(void **state)
{
    fixture *f = *state;
    backend_destroy(f->b);
    fx_free(f->env);
    free(f->state_dir);
    free(f);
    return 0;
}

static job_spec spec(fixture *f, const char *task, const char *script, char *bufs[2])
{
    bufs[0] = xasprintf("%s/logs/r1/%s.out", f->data_dir, task);
    bufs[1] = xasprintf("%s/logs/r1/%s.err", f->data_dir, task);
    char *tag = xasprintf("sh-r1-%s-1", task);
    job_spec j = {.tag = tag,
                  .run_id = "r1",
                  .task_id = task,
                  .attempt = 1,
                  .script = script,
                  .working_dir = "~",
                  .out_path = bufs[0],
                  .err_path = bufs[1],
                  .cpus = 1};
    return j;
}

static void free_spec(job_spec *j, char *bufs[2])
{
    free((char *)j->tag);
    free(bufs[0]);
    free(bufs[1]);
}

/* Submits one job and returns its id (caller frees). */
static char *submit_one(fixture *f, const char *task)
{
    char *bufs[2];
    job_spec j = spec(f, task, "#!/bin/bash\ntrue\n", bufs);
    char *id = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->submit(f->b, 1, &j, &id, &e), 0);
    if (!id)
        fail_msg("submit: %s", e.msg);
    free_spec(&j, bufs);
    return id;
}

/* --- submit ---------------------------------------------------------------------------- */

static void batch_submit_returns_ids_in_order_and_a_rejected_job_fails_alone(void **state)
{
    fixture *f = *state;
    const char *scripts[3] = {"#!/bin/bash\necho 'a' \"$HOME\"\n", "#!/bin/bash\nREJECT_ME\n",
                              "#!/bin/bash\n#PBS -l select=1:ncpus=2\nexit 4"};
    const char *tasks[3] = {"a", "b", "c/d e"};
    job_spec jobs[3];
    char *bufs[3][2];
    for (int i = 0; i < 3; i++)
        jobs[i] = spec(f, tasks[i], scripts[i], bufs[i]);
    char *ids[3] = {0};
    sh_err errs[3] = {SH_ERR_INIT, SH_ERR_INIT, SH_ERR_INIT};
    assert_int_equal(f->b->ops->submit(f->b, 3, jobs, ids, errs), 0);
    assert_string_equal(ids[0], "100.fakepbs");
    assert_null(ids[1]);
    assert_string_equal(errs[1].msg,
                        "backend 'hpc': qsub rejected the job (exit 1): qsub: Unknown queue");
    assert_string_equal(ids[2], "101.fakepbs");
    /* one remote shell for the batch, one qsub per job */
    assert_int_equal(calls(f, "qsub "), 3);
    /* the scripts reached qsub byte for byte (a final newline added) */
    char *s0 = read_state(f, "script.100"), *s2 = read_state(f, "script.101");
    assert_string_equal(s0, scripts[0]);
    assert_string_equal(s2, "#!/bin/bash\n#PBS -l select=1:ncpus=2\nexit 4\n");
    /* the tag is the job name (encoded to a safe name) */
    char *n0 = read_state(f, "name.100"), *n2 = read_state(f, "name.101");
    assert_string_equal(n0, "sh-r1-a-1\n");
    assert_string_equal(n2, "sh-r1-c+2Fd+20e-1\n"); /* PBS names take no '/', ' ' or '%' */
    /* the log dirs exist before the job could write there */
    char *logdir = xasprintf("%s/logs/r1", f->data_dir);
    assert_true(fs_exists(logdir));
    free(logdir);
    free(s0);
    free(s2);
    free(n0);
    free(n2);
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free_spec(&jobs[i], bufs[i]);
    }
}

static void unreachable_server_fails_every_job_of_the_batch(void **state)
{
    fixture *f = *state;
    write_state(f, "down", "");
    char *bufs[2];
    job_spec j = spec(f, "a", "true\n", bufs);
    char *id = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->submit(f->b, 1, &j, &id, &e), 0);
    assert_null(id);
    assert_non_null(strstr(e.msg, "cannot connect to server fakepbs"));
    free_spec(&j, bufs);
}

static void batch_cut_off_mid_way_adopts_the_queued_job_and_fails_the_rest(void **state)
{
    fixture *f = *state;
    write_state(f, "die", ""); /* the first qsub queues its job, then the shell dies */
    job_spec jobs[3];
    char *bufs[3][2];
    const char *tasks[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        jobs[i] = spec(f, tasks[i], "true\n", bufs[i]);
    char *ids[3] = {0};
    sh_err errs[3] = {SH_ERR_INIT, SH_ERR_INIT, SH_ERR_INIT};
    assert_int_equal(f->b->ops->submit(f->b, 3, jobs, ids, errs), 0);
    assert_string_equal(ids[0], "100.fakepbs"); /* found by its tag, not submitted twice */
    assert_int_equal(calls(f, "qsub "), 1);
    for (int i = 1; i < 3; i++) {
        assert_null(ids[i]);
        assert_string_equal(errs[i].msg, "the submission shell ended before reporting every job; "
                                         "the job is not in the queue");
    }
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free_spec(&jobs[i], bufs[i]);
    }
}

/* --- poll ------------------------------------------------------------------------------- */

static void poll_uses_one_qstat_and_one_history_query_for_all_jobs(void **state)
{
    fixture *f = *state;
    char *ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = submit_one(f, (const char *[]){"a", "b", "c", "d"}[i]);
    write_state(f, "queue.100",
                "Job Id: 100.fakepbs\n    job_state = R\n"
                "    stime = Wed Feb 11 10:00:00 2026\n");
    write_state(f, "queue.101", "Job Id: 101.fakepbs\n    job_state = Q\n");
    write_state(f, "history.102",
                "Job Id: 102.fakepbs\n    job_state = F\n    substate = 92\n"
                "    stime = Wed Feb 11 10:00:00 2026\n    Exit_status = 0\n");
    write_state(f, "history.103",
                "Job Id: 103.fakepbs\n    job_state = F\n    substate = 93\n"
                "    stime = Wed Feb 11 10:00:00 2026\n    Exit_status = 2\n");
    job_ref refs[4];
    for (int i = 0; i < 4; i++)
        refs[i] = (job_ref){ids[i], "t"};
    job_status out[4];
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 4, refs, out, &e), 0);
    assert_int_equal(out[0].phase, JOB_RUNNING);
    assert_int_equal(out[0].started_us, INT64_C(1770804000) * 1000000);
    assert_int_equal(out[1].phase, JOB_QUEUED);
    assert_int_equal(out[2].phase, JOB_FINISHED);
    assert_true(out[2].success);
    assert_int_equal(out[3].phase, JOB_FINISHED);
    assert_int_equal(out[3].exit_code, 2);
    assert_true(out[3].retryable);
    assert_int_equal(calls(f, "qstat -f "), 1);
    assert_int_equal(calls(f, "qstat -x -f "), 1);
    assert_int_equal(calls(f, "tracejob"), 0);
    for (int i = 0; i < 4; i++)
        free(ids[i]);
}

static void job_with_no_record_anywhere_is_not_finished_yet(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), 0);
    assert_int_equal(out.phase, JOB_UNKNOWN); /* evidence first; LOST only much later */
    assert_int_equal(calls(f, "tracejob"), 1);
    free(id);
}

static void tracejob_is_the_evidence_when_history_has_no_record(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "trace.100",
                "Job: 100.fakepbs\n\n02/11/2026 10:00:01  S    Job Run at request of Scheduler\n"
                "02/11/2026 10:02:11  S    Exit_status=7 resources_used.walltime=00:02:10\n");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), 0);
    assert_int_equal(out.phase, JOB_FINISHED);
    assert_int_equal(out.exit_code, 7);
    free(id);
}

static void failed_qstat_returns_minus_one_and_changes_nothing(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "down", "");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), -1);
    assert_non_null(strstr(e.msg, "qstat -f failed"));
    assert_non_null(strstr(e.msg, "cannot connect to server fakepbs"));
    free(id);
}

static void qstat_failing_without_a_message_returns_minus_one(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "silent", "");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), -1);
    assert_non_null(strstr(e.msg, "qstat -f failed (exit 123): no error message"));
    free(id);
}

static void garbled_qstat_output_returns_minus_one(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "garble", "");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), -1);
    assert_non_null(strstr(e.msg, "unreadable qstat -f output"));
    free(id);
}

static void torque_reads_completed_jobs_from_the_queue_without_history(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "queue.100",
                "Job Id: 100.fakepbs.cluster.edu\n    job_state = C\n"
                "    start_time = Wed Feb 11 10:00:01 2026\n"
                "    exit_status = 265\n");
    job_ref ref = {id, "t"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), 0);
    assert_int_equal(out.phase, JOB_FINISHED);
    assert_string_equal(out.reason, "killed by signal 9");
    assert_int_equal(calls(f, "qstat -x"), 0); /* Torque's -x is XML, not history */
    free(id);
}

/* --- cancel and find ------------------------------------------------------------------- */

static void cancel_is_idempotent(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    write_state(f, "queue.100", "Job Id: 100.fakepbs\n    job_state = R\n");
    job_ref ref = {id, "t"};
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->cancel(f->b, &ref, &e), 0); /* running: deleted */
    assert_int_equal(f->b->ops->cancel(f->b, &ref, &e), 0); /* finished: nothing to do */
    job_ref unknown = {"999.fakepbs", "t"};
    assert_int_equal(f->b->ops->cancel(f->b, &unknown, &e), 0); /* unknown: nothing to do */
    write_state(f, "down", "");
    assert_int_equal(f->b->ops->cancel(f->b, &ref, &e), -1);
    assert_non_null(strstr(e.msg, "qdel 100.fakepbs failed"));
    free(id);
}

static void find_by_tag_adopts_a_submitted_job(void **state)
{
    fixture *f = *state;
    char *id = submit_one(f, "a");
    char *found = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->find_by_tag(f->b, "sh-r1-a-1", &found, &e), 1);
    assert_string_equal(found, id);
    free(found);
    found = NULL;
    assert_int_equal(f->b->ops->find_by_tag(f->b, "sh-r1-zzz-1", &found, &e), 0);
    assert_null(found);
    assert_int_equal(calls(f, "qselect -x -u "), 2);
    write_state(f, "down", "");
    assert_int_equal(f->b->ops->find_by_tag(f->b, "sh-r1-a-1", &found, &e), -1);
    free(id);
}

/* --- the command log -------------------------------------------------------------------- */

/* A transport that writes down each command it is asked to run, then runs
 * it with the real local transport it wraps. */
typedef struct recorder {
    transport *inner;
    sbuf commands;
} recorder;

static int recorder_exec(transport *t, const char *command, const char *stdin_data,
                         size_t stdin_len, int timeout_ms, exec_result *r, sh_err *e)
{
    recorder *rec = t->impl;
    sbuf_printf(&rec->commands, "%s\n", command);
    return rec->inner->ops->exec(rec->inner, command, stdin_data, stdin_len, timeout_ms, r, e);
}

static int recorder_read_file(transport *t, const char *path, size_t tail_bytes, char **out,
                              size_t *len, sh_err *e)
{
    recorder *rec = t->impl;
    return rec->inner->ops->read_file(rec->inner, path, tail_bytes, out, len, e);
}

static void recorder_destroy(transport *t)
{
    recorder *rec = t->impl;
    transport_free(rec->inner);
    sbuf_free(&rec->commands);
    free(rec);
}

static const struct transport_ops recorder_ops = {
    .kind = "recorder",
    .exec = recorder_exec,
    .read_file = recorder_read_file,
    .destroy = recorder_destroy,
};

static recorder *record_commands(backend *b)
{
    recorder *rec = xcalloc(1, sizeof *rec);
    rec->inner = b->tr;
    transport *t = xcalloc(1, sizeof *t);
    t->ops = &recorder_ops;
    t->impl = rec;
    b->tr = t;
    return rec;
}

static void every_query_names_itself_in_the_command_log(void **state)
{
    fixture *f = *state;
    recorder *rec = record_commands(f->b);
    char *id = submit_one(f, "a"); /* no queue record: gone, so history and tracejob too */
    job_ref ref = {id, "sh-r1-a-1"};
    job_status out;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(f->b->ops->poll(f->b, 1, &ref, &out, &e), 0);
    assert_int_equal(f->b->ops->cancel(f->b, &ref, &e), 0);
    char *found = NULL;
    assert_int_equal(f->b->ops->find_by_tag(f->b, "sh-r1-a-1", &found, &e), 1);
    assert_string_equal(sbuf_cstr(&rec->commands), "sh -s # submitting with qsub\n"
                                                   "sh -s # qstat -f\n"
                                                   "sh -s # qstat -x -f\n"
                                                   "sh -s # tracejob\n"
                                                   "sh -s # qdel\n"
                                                   "sh -s # looking up jobs by tag _qselect -N_\n");
    free(found);
    free(id);
}

static void unknown_flavor_is_refused_at_creation(void **state)
{
    fixture *f = *state;
    json_t *config = json_pack("{s:s, s:s}", "type", "pbs", "flavor", "sge");
    sh_err e = SH_ERR_INIT;
    assert_null(backend_create("x", config, f->data_dir, &e));
    assert_string_equal(e.msg, "backend 'x': flavor must be \"pbspro\" or \"torque\", got \"sge\"");
    json_decref(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            batch_submit_returns_ids_in_order_and_a_rejected_job_fails_alone, setup_pro, teardown),
        cmocka_unit_test_setup_teardown(unreachable_server_fails_every_job_of_the_batch, setup_pro,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            batch_cut_off_mid_way_adopts_the_queued_job_and_fails_the_rest, setup_pro, teardown),
        cmocka_unit_test_setup_teardown(poll_uses_one_qstat_and_one_history_query_for_all_jobs,
                                        setup_pro, teardown),
        cmocka_unit_test_setup_teardown(job_with_no_record_anywhere_is_not_finished_yet, setup_pro,
                                        teardown),
        cmocka_unit_test_setup_teardown(tracejob_is_the_evidence_when_history_has_no_record,
                                        setup_pro, teardown),
        cmocka_unit_test_setup_teardown(failed_qstat_returns_minus_one_and_changes_nothing,
                                        setup_pro, teardown),
        cmocka_unit_test_setup_teardown(qstat_failing_without_a_message_returns_minus_one,
                                        setup_pro, teardown),
        cmocka_unit_test_setup_teardown(garbled_qstat_output_returns_minus_one, setup_pro,
                                        teardown),
        cmocka_unit_test_setup_teardown(torque_reads_completed_jobs_from_the_queue_without_history,
                                        setup_torque, teardown),
        cmocka_unit_test_setup_teardown(cancel_is_idempotent, setup_pro, teardown),
        cmocka_unit_test_setup_teardown(find_by_tag_adopts_a_submitted_job, setup_pro, teardown),
        cmocka_unit_test_setup_teardown(every_query_names_itself_in_the_command_log, setup_pro,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_flavor_is_refused_at_creation, setup_pro, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

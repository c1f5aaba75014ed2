/* test_pbs_parse.c - reading PBS Pro and Torque output
 * (src/backend/pbs_parse.c) on captured outputs in tests/unit/data/pbs/,
 * written in the shape of the PBS Pro / Torque documentation and public job
 * logs (no PBS server runs here), including the odd ones: values wrapped
 * onto tab-indented continuation lines, array ids, server suffixes,
 * truncated and garbled output, missing Exit_status, signals and limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/pbs_parse.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

static char *fixture(const char *name)
{
    const char *src = getenv("SCRIPTHUT_SOURCE_DIR");
    char *path = xasprintf("%s/tests/unit/data/pbs/%s", src ? src : ".", name);
    char *text = NULL;
    size_t len = 0;
    if (fs_read_file(path, &text, &len) < 0)
        fail_msg("cannot read fixture %s", path);
    free(path);
    return text;
}

/* Parses a fixture; the caller frees *jobs. */
static size_t parse_fixture(const char *name, pbs_job **jobs)
{
    char *text = fixture(name);
    size_t n = 0;
    assert_int_equal(pbs_parse_qstat_full(text, jobs, &n), 0);
    free(text);
    return n;
}

static const pbs_job *by_id(const pbs_job *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].id, id))
            return &v[i];
    fail_msg("no job %s", id);
    return NULL;
}

static job_status status_in(const char *fixture_name, const char *id, pbs_flavor flavor)
{
    pbs_job *jobs;
    size_t n = parse_fixture(fixture_name, &jobs);
    job_status s;
    pbs_job_to_status(by_id(jobs, n, id), flavor, &s);
    free(jobs);
    return s;
}

/* --- states ------------------------------------------------------------------------------ */

static void every_job_state_letter_has_a_class(void **state)
{
    (void)state;
    const char *queued = "QHWTM", *running = "RESUB", *ended = "FCX";
    for (const char *p = queued; *p; p++)
        assert_int_equal(pbs_state_lookup((char[]){*p, 0})->cls, PBS_QUEUED);
    for (const char *p = running; *p; p++)
        assert_int_equal(pbs_state_lookup((char[]){*p, 0})->cls, PBS_RUNNING);
    for (const char *p = ended; *p; p++)
        assert_int_equal(pbs_state_lookup((char[]){*p, 0})->cls, PBS_ENDED);
    assert_int_equal(pbs_state_lookup(" r ")->cls, PBS_RUNNING);
}

static void unknown_or_long_state_words_change_nothing(void **state)
{
    (void)state;
    assert_int_equal(pbs_state_lookup("Z")->cls, PBS_UNKNOWN_STATE);
    assert_int_equal(pbs_state_lookup("RUNNING")->cls, PBS_UNKNOWN_STATE);
    assert_int_equal(pbs_state_lookup("")->cls, PBS_UNKNOWN_STATE);
    assert_int_equal(pbs_state_lookup(NULL)->cls, PBS_UNKNOWN_STATE);
    pbs_job j = {.state = "Z", .substate = -1};
    job_status s;
    pbs_job_to_status(&j, PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_UNKNOWN);
}

static void flavors_are_pbspro_by_default_and_torque(void **state)
{
    (void)state;
    pbs_flavor f = PBS_FLAVOR_TORQUE;
    assert_int_equal(pbs_flavor_parse(NULL, &f), 0);
    assert_int_equal(f, PBS_FLAVOR_PRO);
    assert_int_equal(pbs_flavor_parse("torque", &f), 0);
    assert_int_equal(f, PBS_FLAVOR_TORQUE);
    assert_int_equal(pbs_flavor_parse("sge", &f), -1);
}

/* --- qstat -f ---------------------------------------------------------------------------- */

static void qstat_f_reads_active_jobs_and_their_times(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n = parse_fixture("pbspro_qstat_f_active.txt", &jobs);
    assert_int_equal(n, 3);
    const pbs_job *r = by_id(jobs, n, "1001.pbs01");
    assert_string_equal(r->name, "sh-r1-sim.1-1");
    assert_string_equal(r->state, "R");
    assert_int_equal(r->substate, 42);
    assert_false(r->have_exit);
    assert_int_equal(r->walltime_used_s, 302);
    assert_int_equal(r->walltime_limit_s, 7200);
    assert_int_equal(r->start_us, INT64_C(1770804000) * 1000000);
    assert_int_equal(r->end_us, 0); /* mtime of a running job is not its end */
    job_status s;
    pbs_job_to_status(r, PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_RUNNING);
    assert_string_equal(s.scheduler_state, "RUNNING");
    assert_string_equal(s.pending_reason, ""); /* a running job waits for nothing */
    pbs_job_to_status(by_id(jobs, n, "1002.pbs01"), PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_QUEUED);
    /* why it waits: the scheduler's comment verbatim, rejoined */
    assert_string_equal(s.pending_reason,
                        "Not Running: Insufficient amount of resource: ncpus (R: 1 A: 0 T: 2048)");
    pbs_job_to_status(by_id(jobs, n, "1003.pbs01"), PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_QUEUED);
    assert_string_equal(s.scheduler_state, "HELD");
    free(jobs);
}

static void wrapped_job_name_is_rejoined_from_its_tab_continuation(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n = parse_fixture("pbspro_qstat_f_active.txt", &jobs);
    assert_string_equal(by_id(jobs, n, "1002.pbs01")->name,
                        "sh-run-2026-02-11-parameter-sweep-with-a-long-name.point-0042.retry-3");
    /* the wrapped values before job_state (Variable_List) did not swallow it */
    assert_string_equal(by_id(jobs, n, "1002.pbs01")->state, "Q");
    free(jobs);
}

static void continuation_that_looks_like_an_attribute_stays_in_its_value(void **state)
{
    (void)state;
    /* A tab-continued chunk "job_state = F" is still part of comment. */
    const char *text = "Job Id: 5.s\n"
                       "    comment = a very long comment that ends in\n"
                       "\t job_state = F\n"
                       "    job_state = R\n";
    pbs_job *jobs;
    size_t n;
    assert_int_equal(pbs_parse_qstat_full(text, &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].state, "R");
    free(jobs);
}

static void torque_records_with_lowercase_exit_status_and_suffixes(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n = parse_fixture("torque_qstat_f.txt", &jobs);
    assert_int_equal(n, 5);
    const pbs_job *ok = by_id(jobs, n, "2001.torque01.cluster.edu");
    assert_true(ok->have_exit);
    assert_int_equal(ok->exit_status, 0);
    assert_int_equal(ok->end_us, INT64_C(1770804015) * 1000000);   /* comp_time */
    assert_int_equal(ok->start_us, INT64_C(1770804001) * 1000000); /* start_time */
    /* an epoch start_time (some Torque versions) */
    assert_int_equal(by_id(jobs, n, "2004.torque01.cluster.edu")->start_us,
                     INT64_C(1770804000) * 1000000);
    job_status s;
    pbs_job_to_status(ok, PBS_FLAVOR_TORQUE, &s);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.success);
    assert_int_equal(s.exit_code, 0);
    assert_string_equal(s.reason, "exit code 0");
    free(jobs);
}

static void truncated_record_without_job_state_is_garbled(void **state)
{
    (void)state;
    char *text = fixture("truncated_qstat_f.txt");
    pbs_job *jobs = (pbs_job *)1;
    size_t n = 7;
    assert_int_equal(pbs_parse_qstat_full(text, &jobs, &n), -1);
    assert_null(jobs);
    assert_int_equal(n, 0);
    free(text);
}

static void record_without_a_job_id_is_garbled(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n;
    assert_int_equal(pbs_parse_qstat_full("Job Id: \n    job_state = R\n", &jobs, &n), -1);
    assert_int_equal(pbs_parse_qstat_full("Job Id: garbage\n    job_state = R\n", &jobs, &n), -1);
}

static void empty_output_and_login_noise_are_no_jobs(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n = 9;
    assert_int_equal(pbs_parse_qstat_full("", &jobs, &n), 0);
    assert_int_equal(n, 0);
    free(jobs);
    assert_int_equal(pbs_parse_qstat_full("Welcome to the cluster!\n\nmodule: loaded\n", &jobs, &n),
                     0);
    assert_int_equal(n, 0);
    free(jobs);
    assert_int_equal(pbs_parse_qstat_full(NULL, &jobs, &n), 0);
    free(jobs);
}

static void windows_line_endings_are_read(void **state)
{
    (void)state;
    pbs_job *jobs;
    size_t n;
    assert_int_equal(pbs_parse_qstat_full(
                         "Job Id: 7.s\r\n    job_state = F\r\n    Exit_status = 4\r\n", &jobs, &n),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].state, "F");
    assert_int_equal(jobs[0].exit_status, 4);
    free(jobs);
}

/* --- how a job ended ---------------------------------------------------------------------- */

static void finished_exit_zero_is_success_with_times(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1001.pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.success);
    assert_string_equal(s.scheduler_state, "COMPLETED");
    assert_int_equal(s.started_us, INT64_C(1770804000) * 1000000);
    assert_int_equal(s.finished_us, INT64_C(1770804602) * 1000000); /* obittime */
}

static void exit_status_three_is_a_retryable_failure(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1004.pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_false(s.success);
    assert_true(s.retryable);
    assert_false(s.cancelled);
    assert_int_equal(s.exit_code, 3);
    assert_string_equal(s.reason, "exit code 3");
    /* mtime is the end of an ended job without obittime */
    assert_int_equal(s.finished_us, INT64_C(1770804003) * 1000000);
}

static void signal_kill_at_the_walltime_limit_is_timeout(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1005.pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_string_equal(s.reason, "TIMEOUT");
    assert_string_equal(s.scheduler_state, "TIMEOUT");
    assert_true(s.retryable);
    assert_false(s.cancelled);
    assert_int_equal(s.term_signal, 15);
}

static void exit_271_with_substate_91_is_cancelled_not_timeout(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1006.pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.cancelled);
    assert_false(s.success);
    assert_string_equal(s.scheduler_state, "CANCELLED");
}

static void pbspro_minus_29_is_timeout_and_minus_27_out_of_memory(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1007.pbs01", PBS_FLAVOR_PRO);
    assert_string_equal(s.reason, "TIMEOUT");
    assert_false(s.cancelled); /* the original called -29 a cancellation */
    assert_true(s.retryable);
    s = status_in("pbspro_qstat_xf_finished.txt", "1008.pbs01", PBS_FLAVOR_PRO);
    assert_string_equal(s.reason, "OUT_OF_MEMORY");
    assert_true(s.retryable);
    assert_int_equal(s.exit_code, -1);
}

static void deleted_before_it_ran_without_exit_status_is_cancelled(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1009.pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.cancelled);
    s = status_in("torque_qstat_f.txt", "2005.torque01.cluster.edu", PBS_FLAVOR_TORQUE);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.cancelled);
    assert_int_equal(s.finished_us, INT64_C(1770804015) * 1000000);
}

static void started_job_ended_without_exit_status_is_a_failure(void **state)
{
    (void)state;
    pbs_job j = {.state = "F",
                 .substate = -1,
                 .start_us = 1000000,
                 .walltime_used_s = -1,
                 .walltime_limit_s = -1};
    job_status s;
    pbs_job_to_status(&j, PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_false(s.success);
    assert_false(s.cancelled);
    assert_true(s.retryable);
    assert_string_equal(s.reason, "finished without an exit status");
}

static void exit_265_below_the_limit_is_killed_by_signal_9(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1010.pbs01", PBS_FLAVOR_PRO);
    assert_string_equal(s.reason, "killed by signal 9");
    assert_int_equal(s.term_signal, 9);
    assert_int_equal(s.exit_code, -1);
    assert_true(s.retryable);
}

static void negative_exec_failure_is_retryable(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1011.pbs01", PBS_FLAVOR_PRO);
    assert_string_equal(s.scheduler_state, "EXEC_FAILED");
    assert_string_equal(s.reason, "PBS could not run the job (Exit_status -1)");
    assert_true(s.retryable);
}

static void torque_negative_codes_use_torque_numbers(void **state)
{
    (void)state;
    job_status s = status_in("torque_qstat_f.txt", "2002.torque01.cluster.edu", PBS_FLAVOR_TORQUE);
    assert_string_equal(s.reason, "TIMEOUT");
    s = status_in("torque_qstat_f.txt", "2003.torque01.cluster.edu", PBS_FLAVOR_TORQUE);
    assert_string_equal(s.reason, "OUT_OF_MEMORY");
    /* the same -11 on PBS Pro is JOB_EXEC_RERUN, not a walltime kill */
    pbs_job j = {.state = "F",
                 .substate = -1,
                 .have_exit = true,
                 .exit_status = -11,
                 .walltime_used_s = -1,
                 .walltime_limit_s = -1};
    pbs_job_to_status(&j, PBS_FLAVOR_PRO, &s);
    assert_string_equal(s.scheduler_state, "EXEC_FAILED");
}

static void exit_zero_at_the_walltime_limit_is_still_success(void **state)
{
    (void)state;
    pbs_job j = {.state = "F",
                 .substate = 92,
                 .have_exit = true,
                 .exit_status = 0,
                 .walltime_used_s = 60,
                 .walltime_limit_s = 60};
    job_status s;
    pbs_job_to_status(&j, PBS_FLAVOR_PRO, &s);
    assert_true(s.success); /* the original called this WALLTIME_EXCEEDED */
}

static void array_ids_parse_and_subjob_expired_is_ended(void **state)
{
    (void)state;
    job_status s = status_in("pbspro_qstat_xf_finished.txt", "1012[3].pbs01", PBS_FLAVOR_PRO);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_true(s.success);
}

/* --- tracejob ----------------------------------------------------------------------------- */

static void tracejob_gives_exit_status_deletion_and_walltime(void **state)
{
    (void)state;
    char *text = fixture("tracejob_pbspro.txt");
    pbs_job *jobs;
    size_t n = pbs_parse_tracejob(text, &jobs);
    free(text);
    assert_int_equal(n, 3); /* 3003: "Couldn't find Job Id" is no evidence */
    job_status s;
    pbs_job_to_status(by_id(jobs, n, "3001.pbs01"), PBS_FLAVOR_PRO, &s);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_int_equal(s.exit_code, 2);
    pbs_job_to_status(by_id(jobs, n, "3002.pbs01"), PBS_FLAVOR_PRO, &s);
    assert_true(s.cancelled);
    pbs_job_to_status(by_id(jobs, n, "3004.pbs01"), PBS_FLAVOR_PRO, &s);
    assert_string_equal(s.reason, "TIMEOUT");
    free(jobs);
}

static void tracejob_of_nothing_is_no_evidence(void **state)
{
    (void)state;
    pbs_job *jobs;
    assert_int_equal(pbs_parse_tracejob("", &jobs), 0);
    free(jobs);
    assert_int_equal(pbs_parse_tracejob("Exit_status=0\n@@job bogus\nExit_status=0\n", &jobs), 0);
    free(jobs);
}

/* --- ids and messages ---------------------------------------------------------------------- */

static void qsub_ids_with_suffixes_and_arrays(void **state)
{
    (void)state;
    char id[128];
    assert_int_equal(pbs_parse_qsub_id("1234.pbs01\n", id, sizeof id), 0);
    assert_string_equal(id, "1234.pbs01");
    assert_int_equal(pbs_parse_qsub_id("\n99999\n", id, sizeof id), 0);
    assert_string_equal(id, "99999");
    assert_int_equal(pbs_parse_qsub_id("123[].pbs01.cluster.edu\n", id, sizeof id), 0);
    assert_string_equal(id, "123[].pbs01.cluster.edu");
    assert_int_equal(pbs_parse_qsub_id("123[4].s\r\n", id, sizeof id), 0);
    assert_string_equal(id, "123[4].s");
}

static void qsub_warnings_are_never_taken_for_an_id(void **state)
{
    (void)state;
    char id[16];
    assert_int_equal(pbs_parse_qsub_id("qsub: warning 15007 in line 3\n1234.s\n", id, sizeof id),
                     0);
    assert_string_equal(id, "1234.s");
    assert_int_equal(pbs_parse_qsub_id("qsub: warning 15007 in line 3\n", id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id("12 jobs\n", id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id("", id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id(NULL, id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id("123[x].s\n", id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id("1234.s;rm\n", id, sizeof id), -1);
    assert_int_equal(pbs_parse_qsub_id("12345678901234567890.server\n", id, sizeof id), -1);
}

static void job_ids_are_validated_and_shortened(void **state)
{
    (void)state;
    assert_true(pbs_job_id_valid("1234.pbs01"));
    assert_true(pbs_job_id_valid("12[3].pbs-01.example_x"));
    assert_false(pbs_job_id_valid("1234.pbs01 5"));
    assert_false(pbs_job_id_valid("$(reboot)"));
    assert_false(pbs_job_id_valid(""));
    assert_false(pbs_job_id_valid(NULL));
    char s[32];
    pbs_short_id("1234.pbs01.cluster.edu", s, sizeof s);
    assert_string_equal(s, "1234");
    pbs_short_id("12[3].pbs01", s, sizeof s);
    assert_string_equal(s, "12[3]");
    pbs_short_id("99", s, sizeof s);
    assert_string_equal(s, "99");
}

static void gone_messages_are_told_from_failures(void **state)
{
    (void)state;
    assert_true(pbs_is_gone_message("qstat: Unknown Job Id 1234.pbs01"));
    assert_true(pbs_is_gone_message(
        "qstat: 1234.pbs01 Job has finished, use -x or -H to obtain historical job information"));
    assert_true(pbs_is_gone_message("qdel: Invalid state for job - COMPLETE 2001.torque01"));
    assert_true(pbs_is_gone_message("qdel: Request invalid for state of job 1234.pbs01"));
    assert_false(pbs_is_gone_message("Connection refused"));
    assert_false(pbs_is_gone_message("qstat: cannot connect to server pbs01 (errno=111)"));
    assert_false(pbs_is_gone_message("sh: 1: qstat: not found"));
}

static void durations_and_times(void **state)
{
    (void)state;
    assert_int_equal(pbs_parse_duration("01:02:03"), 3723);
    assert_int_equal(pbs_parse_duration("100:00:00"), 360000);
    assert_int_equal(pbs_parse_duration("05:07"), 307);
    assert_int_equal(pbs_parse_duration("3600"), 3600);
    assert_int_equal(pbs_parse_duration("1:2:3:4"), -1);
    assert_int_equal(pbs_parse_duration("abc"), -1);
    assert_int_equal(pbs_parse_duration(""), -1);
    assert_int_equal(pbs_parse_time("Wed Feb 11 10:00:00 2026"), INT64_C(1770804000) * 1000000);
    assert_int_equal(pbs_parse_time("1770804000"), INT64_C(1770804000) * 1000000);
    assert_int_equal(pbs_parse_time("--"), 0);
    assert_int_equal(pbs_parse_time("Wed Feb 11 10:00:00 2026 trailing"), 0);
    assert_int_equal(pbs_parse_time(""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_job_state_letter_has_a_class),
        cmocka_unit_test(unknown_or_long_state_words_change_nothing),
        cmocka_unit_test(flavors_are_pbspro_by_default_and_torque),
        cmocka_unit_test(qstat_f_reads_active_jobs_and_their_times),
        cmocka_unit_test(wrapped_job_name_is_rejoined_from_its_tab_continuation),
        cmocka_unit_test(continuation_that_looks_like_an_attribute_stays_in_its_value),
        cmocka_unit_test(torque_records_with_lowercase_exit_status_and_suffixes),
        cmocka_unit_test(truncated_record_without_job_state_is_garbled),
        cmocka_unit_test(record_without_a_job_id_is_garbled),
        cmocka_unit_test(empty_output_and_login_noise_are_no_jobs),
        cmocka_unit_test(windows_line_endings_are_read),
        cmocka_unit_test(finished_exit_zero_is_success_with_times),
        cmocka_unit_test(exit_status_three_is_a_retryable_failure),
        cmocka_unit_test(signal_kill_at_the_walltime_limit_is_timeout),
        cmocka_unit_test(exit_271_with_substate_91_is_cancelled_not_timeout),
        cmocka_unit_test(pbspro_minus_29_is_timeout_and_minus_27_out_of_memory),
        cmocka_unit_test(deleted_before_it_ran_without_exit_status_is_cancelled),
        cmocka_unit_test(started_job_ended_without_exit_status_is_a_failure),
        cmocka_unit_test(exit_265_below_the_limit_is_killed_by_signal_9),
        cmocka_unit_test(negative_exec_failure_is_retryable),
        cmocka_unit_test(torque_negative_codes_use_torque_numbers),
        cmocka_unit_test(exit_zero_at_the_walltime_limit_is_still_success),
        cmocka_unit_test(array_ids_parse_and_subjob_expired_is_ended),
        cmocka_unit_test(tracejob_gives_exit_status_deletion_and_walltime),
        cmocka_unit_test(tracejob_of_nothing_is_no_evidence),
        cmocka_unit_test(qsub_ids_with_suffixes_and_arrays),
        cmocka_unit_test(qsub_warnings_are_never_taken_for_an_id),
        cmocka_unit_test(job_ids_are_validated_and_shortened),
        cmocka_unit_test(gone_messages_are_told_from_failures),
        cmocka_unit_test(durations_and_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

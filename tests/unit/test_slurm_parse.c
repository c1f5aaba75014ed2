/* test_slurm_parse.c - reading Slurm's output (src/backend/slurm_parse.c) and
 * the batch submission driver (src/backend/submit_driver.c), on outputs
 * captured from Slurm 22.05 (the testbed) and from the original's tests,
 * including the odd ones: names cut to the column width, array ids, step
 * lines, "CANCELLED by <uid>", garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/slurm_parse.h"
#include "backend/submit_driver.h"

static job_status status_of(const char *state, int exit_code, int sig)
{
    slurm_final f = {0};
    strcpy(f.state, state);
    f.exit_code = exit_code;
    f.term_signal = sig;
    job_status s;
    slurm_final_to_status(&f, &s);
    return s;
}

/* --- states ---------------------------------------------------------------------------- */

static void truncated_out_of_memory_maps_to_a_retryable_failure(void **state)
{
    (void)state;
    const slurm_state *st = slurm_state_lookup("OUT_OF_ME+");
    assert_string_equal(st->name, "OUT_OF_MEMORY");
    assert_int_equal(st->cls, SLURM_ENDED_FAILED);
    assert_true(st->retryable);
    assert_string_equal(slurm_state_lookup("OUT_OF_MEMORY")->name, "OUT_OF_MEMORY");
    assert_string_equal(slurm_state_lookup("OOM")->name, "OUT_OF_MEMORY");
}

static void cancelled_by_uid_and_cut_cancelled_are_cancelled(void **state)
{
    (void)state;
    assert_int_equal(slurm_state_lookup("CANCELLED by 1001")->cls, SLURM_ENDED_CANCELLED);
    assert_int_equal(slurm_state_lookup("CANCELLED+")->cls, SLURM_ENDED_CANCELLED);
    assert_int_equal(slurm_state_lookup("CA")->cls, SLURM_ENDED_CANCELLED);
}

static void short_codes_and_active_states_are_known(void **state)
{
    (void)state;
    assert_int_equal(slurm_state_lookup("PD")->cls, SLURM_QUEUED);
    assert_int_equal(slurm_state_lookup("PENDING")->cls, SLURM_QUEUED);
    assert_int_equal(slurm_state_lookup("REQUEUED")->cls, SLURM_QUEUED);
    assert_int_equal(slurm_state_lookup("CONFIGURING")->cls, SLURM_QUEUED);
    assert_int_equal(slurm_state_lookup("R")->cls, SLURM_RUNNING);
    assert_int_equal(slurm_state_lookup("COMPLETING")->cls, SLURM_RUNNING);
    assert_int_equal(slurm_state_lookup("SUSPENDED")->cls, SLURM_RUNNING);
    assert_int_equal(slurm_state_lookup("completed")->cls, SLURM_ENDED_OK);
    assert_int_equal(slurm_state_lookup("BLARGH")->cls, SLURM_UNKNOWN_STATE);
    assert_int_equal(slurm_state_lookup("")->cls, SLURM_UNKNOWN_STATE);
    assert_int_equal(slurm_state_lookup(NULL)->cls, SLURM_UNKNOWN_STATE);
}

static void every_terminal_failure_state_is_terminal_and_retryable_per_design(void **state)
{
    (void)state;
    const char *retryable[] = {"FAILED",    "TIMEOUT",   "OUT_OF_MEMORY",
                               "NODE_FAIL", "PREEMPTED", "BOOT_FAIL"};
    for (size_t i = 0; i < sizeof retryable / sizeof retryable[0]; i++) {
        job_status s = status_of(retryable[i], 0, 0);
        assert_int_equal(s.phase, JOB_FINISHED);
        assert_false(s.success);
        assert_true(s.retryable);
    }
    job_status dl = status_of("DEADLINE", 0, 0);
    assert_int_equal(dl.phase, JOB_FINISHED);
    assert_false(dl.success);
    assert_false(dl.retryable);
    job_status ca = status_of("CANCELLED", 0, 15);
    assert_true(ca.cancelled);
    assert_false(ca.retryable);
}

static void completed_with_a_non_zero_exit_is_a_failure(void **state)
{
    (void)state;
    job_status s = status_of("COMPLETED", 2, 0);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_false(s.success);
    assert_true(s.retryable);
    assert_int_equal(s.exit_code, 2);
    assert_string_equal(s.reason, "exit code 2");
    s = status_of("COMPLETED", 0, 9);
    assert_false(s.success);
    assert_string_equal(s.reason, "killed by signal 9");
    s = status_of("COMPLETED", 0, 0);
    assert_true(s.success);
    assert_int_equal(s.exit_code, 0);
}

static void a_timeout_reports_the_state_not_slurms_exit_artefact(void **state)
{
    (void)state;
    job_status s = status_of("TIMEOUT", 0, 15);
    assert_string_equal(s.reason, "TIMEOUT");
    assert_string_equal(s.scheduler_state, "TIMEOUT");
    assert_int_equal(s.exit_code, -1);
}

/* --- squeue ------------------------------------------------------------------------------ */

static void squeue_rows_captured_from_the_testbed_parse(void **state)
{
    (void)state;
    slurm_queue_row r;
    assert_int_equal(slurm_parse_squeue_line("4|CANCELLED|2026-11-24T19:32:31|None", &r), 0);
    assert_string_equal(r.id, "4");
    assert_string_equal(r.state, "CANCELLED");
    assert_int_equal(r.start_us, INT64_C(1795548751) * 1000000);
    assert_int_equal(slurm_parse_squeue_line("5|PENDING|N/A|Resources", &r), 0);
    assert_int_equal(r.start_us, 0);
    assert_string_equal(r.reason, "Resources");
    /* Array jobs: the element id; a pending array shows its range. */
    assert_int_equal(slurm_parse_squeue_line("1234_7|RUNNING|2026-01-02T03:04:05|vm", &r), 0);
    assert_string_equal(r.id, "1234_7");
    assert_int_equal(slurm_parse_squeue_line("1234_[8-20%4]|PENDING|N/A|JobArrayTaskLimit", &r), 0);
    assert_string_equal(r.id, "1234_[8-20%4]");
}

static void garbage_squeue_lines_are_not_rows(void **state)
{
    (void)state;
    slurm_queue_row r;
    assert_int_equal(slurm_parse_squeue_line("", &r), -1);
    assert_int_equal(slurm_parse_squeue_line("slurm_load_jobs error: Invalid job id specified", &r),
                     -1);
    assert_int_equal(slurm_parse_squeue_line("12|RUNN", &r), -1); /* cut off mid-line */
    assert_int_equal(slurm_parse_squeue_line("JOBID|STATE|START_TIME|REASON", &r), -1);
}

/* --- sacct ------------------------------------------------------------------------------------ */

static const slurm_final *find(const slurm_final *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].id, id))
            return &v[i];
    fail_msg("no job %s", id);
    return NULL;
}

static void sacct_batch_step_out_of_memory_wins_in_either_order(void **state)
{
    (void)state;
    const char *orders[] = {
        "7|COMPLETED|0:0|2026-01-02T03:00:00|2026-01-02T03:05:00\n"
        "7.batch|OUT_OF_MEMORY|0:125|2026-01-02T03:00:00|2026-01-02T03:05:00\n"
        "7.extern|COMPLETED|0:0|2026-01-02T03:00:00|2026-01-02T03:05:00\n",
        "7.batch|OUT_OF_ME+|0:125|2026-01-02T03:00:00|2026-01-02T03:05:00\n"
        "7|COMPLETED|0:0|2026-01-02T03:00:00|2026-01-02T03:05:00\n",
    };
    for (int k = 0; k < 2; k++) {
        slurm_final *v;
        size_t n = slurm_parse_sacct(orders[k], &v);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].state, "OUT_OF_MEMORY");
        job_status s;
        slurm_final_to_status(&v[0], &s);
        assert_false(s.success);
        assert_true(s.retryable);
        assert_string_equal(s.reason, "OUT_OF_MEMORY");
        free(v);
    }
}

static void sacct_cases_from_the_testbed_table(void **state)
{
    (void)state;
    const char *text = "10|COMPLETED|0:0|2026-11-24T19:31:38|2026-11-24T19:31:39\n"
                       "10.batch|COMPLETED|0:0|2026-11-24T19:31:38|2026-11-24T19:31:39\n"
                       "11|FAILED|3:0|2026-11-24T19:31:41|2026-11-24T19:31:41\n"
                       "11.batch|FAILED|3:0|2026-11-24T19:31:41|2026-11-24T19:31:41\n"
                       "12|CANCELLED by 1001|0:0|2026-11-24T19:32:31|2026-11-24T19:32:32\n"
                       "12.batch|CANCELLED|0:15|2026-11-24T19:32:31|2026-11-24T19:32:32\n"
                       "13|TIMEOUT|0:0|2026-11-24T19:40:00|2026-11-24T19:41:19\n"
                       "13.batch|CANCELLED|0:15|2026-11-24T19:40:00|2026-11-24T19:41:24\n"
                       "14|COMPLETED|0:0|2026-11-24T19:50:00|2026-11-24T19:50:01\n"
                       "14.batch|COMPLETED|1:0|2026-11-24T19:50:00|2026-11-24T19:50:01\n"
                       "15|PENDING|0:0|Unknown|Unknown\n"
                       "16.batch|COMPLETED|0:0|2026-11-24T19:50:00|2026-11-24T19:50:01\n";
    slurm_final *v;
    size_t n = slurm_parse_sacct(text, &v);
    assert_int_equal(n, 6); /* 16 has only a step row: not final yet */
    job_status s;
    slurm_final_to_status(find(v, n, "10"), &s);
    assert_true(s.success);
    assert_int_equal(s.finished_us, INT64_C(1795548699) * 1000000);
    slurm_final_to_status(find(v, n, "11"), &s);
    assert_int_equal(s.exit_code, 3);
    assert_string_equal(s.reason, "exit code 3");
    slurm_final_to_status(find(v, n, "12"), &s);
    assert_true(s.cancelled);
    slurm_final_to_status(find(v, n, "13"), &s);
    assert_string_equal(s.reason, "TIMEOUT");
    assert_false(s.cancelled);
    /* A script failure masked as COMPLETED (e.g. `solve | tee` without pipefail) */
    slurm_final_to_status(find(v, n, "14"), &s);
    assert_false(s.success);
    assert_int_equal(s.exit_code, 1);
    slurm_final_to_status(find(v, n, "15"), &s);
    assert_int_equal(s.phase, JOB_QUEUED);
    free(v);
}

/* Captured on the testbed with slurmdbd (TESTBED_ACCOUNTING=1), as the test
 * user: `TZ=UTC sacct --noheader --parsable2 --format=JobIDRaw,State,ExitCode,
 * Start,End --jobs=528,...,533,99999` (99999 unknown: no row, exit 0).
 * 530 is `kill -9 $$` (job FAILED, .batch CANCELLED by the signal); 531 and
 * 532 were cancelled while pending (no step rows, Start = End = the cancel);
 * 533 is `srun false; exit 0` (a failed .0 step under a script that
 * succeeded); the job line has no .extern here (no PrologFlags=Contain). */
static void sacct_real_slurmdbd_output_signal_pending_cancel_and_failed_step(void **state)
{
    (void)state;
    const char *text = "528|COMPLETED|0:0|2026-11-26T01:47:39|2026-11-26T01:47:39\n"
                       "528.batch|COMPLETED|0:0|2026-11-26T01:47:39|2026-11-26T01:47:39\n"
                       "529|FAILED|3:0|2026-11-26T01:47:39|2026-11-26T01:47:39\n"
                       "529.batch|FAILED|3:0|2026-11-26T01:47:39|2026-11-26T01:47:39\n"
                       "530|FAILED|0:9|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "530.batch|CANCELLED|0:9|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "531|CANCELLED by 1001|0:0|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "532|CANCELLED by 1001|0:0|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "533|COMPLETED|0:0|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "533.batch|COMPLETED|0:0|2026-11-26T01:47:42|2026-11-26T01:47:42\n"
                       "533.0|FAILED|1:0|2026-11-26T01:47:42|2026-11-26T01:47:42\n";
    slurm_final *v;
    size_t n = slurm_parse_sacct(text, &v);
    assert_int_equal(n, 6);
    job_status s;
    slurm_final_to_status(find(v, n, "528"), &s);
    assert_true(s.success);
    slurm_final_to_status(find(v, n, "529"), &s);
    assert_false(s.success);
    assert_int_equal(s.exit_code, 3);
    /* The .batch step's CANCELLED (the signal) does not turn it into a cancel. */
    slurm_final_to_status(find(v, n, "530"), &s);
    assert_int_equal(s.phase, JOB_FINISHED);
    assert_false(s.success);
    assert_false(s.cancelled);
    assert_int_equal(s.term_signal, 9);
    assert_string_equal(s.reason, "killed by signal 9");
    slurm_final_to_status(find(v, n, "531"), &s);
    assert_true(s.cancelled);
    slurm_final_to_status(find(v, n, "532"), &s);
    assert_true(s.cancelled);
    /* A failed srun step under a script that exited 0: the script's status
     * is the task's. */
    slurm_final_to_status(find(v, n, "533"), &s);
    assert_true(s.success);
    free(v);
}

/* The same testbed with PrologFlags=Contain (TESTBED_ACCOUNTING=1): every
 * job has an .extern step, COMPLETED 0:0 and ending after the others, even
 * for a failed or cancelled job.  It must not hide how the script ended. */
static void sacct_real_extern_steps_change_nothing(void **state)
{
    (void)state;
    const char *text = "578|COMPLETED|0:0|2026-11-26T02:11:46|2026-11-26T02:11:46\n"
                       "578.batch|COMPLETED|0:0|2026-11-26T02:11:46|2026-11-26T02:11:46\n"
                       "578.extern|COMPLETED|0:0|2026-11-26T02:11:46|2026-11-26T02:11:47\n"
                       "579|FAILED|3:0|2026-11-26T02:11:46|2026-11-26T02:11:46\n"
                       "579.batch|FAILED|3:0|2026-11-26T02:11:46|2026-11-26T02:11:46\n"
                       "579.extern|COMPLETED|0:0|2026-11-26T02:11:46|2026-11-26T02:11:47\n"
                       "580|CANCELLED by 1001|0:0|2026-11-26T02:11:47|2026-11-26T02:11:50\n"
                       "580.batch|CANCELLED|0:15|2026-11-26T02:11:47|2026-11-26T02:11:50\n"
                       "580.extern|COMPLETED|0:0|2026-11-26T02:11:47|2026-11-26T02:11:50\n";
    slurm_final *v;
    size_t n = slurm_parse_sacct(text, &v);
    assert_int_equal(n, 3);
    job_status s;
    slurm_final_to_status(find(v, n, "578"), &s);
    assert_true(s.success);
    /* The job line's end, not the .extern step's one second later. */
    assert_int_equal(s.finished_us, find(v, n, "578")->end_us);
    assert_int_equal(find(v, n, "578")->end_us, slurm_parse_time("2026-11-26T02:11:46"));
    slurm_final_to_status(find(v, n, "579"), &s);
    assert_false(s.success);
    assert_int_equal(s.exit_code, 3);
    assert_string_equal(s.reason, "exit code 3");
    slurm_final_to_status(find(v, n, "580"), &s);
    assert_true(s.cancelled);
    free(v);
}

static void sacct_garbage_and_empty_output_give_no_records(void **state)
{
    (void)state;
    slurm_final *v;
    assert_int_equal(slurm_parse_sacct("", &v), 0);
    free(v);
    assert_int_equal(slurm_parse_sacct("sacct: error: Problem talking to the database\n|||\n", &v),
                     0);
    free(v);
    assert_int_equal(slurm_parse_sacct("20|COMPLETED|garbage|x|y\n", &v), 1);
    job_status s;
    slurm_final_to_status(&v[0], &s);
    assert_true(s.success); /* never invent a failure from a parse glitch */
    free(v);
}

static void exit_codes_parse_strictly(void **state)
{
    (void)state;
    int c, sig;
    assert_int_equal(slurm_parse_exit_code("137:0", &c, &sig), 0);
    assert_int_equal(c, 137);
    assert_int_equal(slurm_parse_exit_code("0:9", &c, &sig), 0);
    assert_int_equal(sig, 9);
    assert_int_equal(slurm_parse_exit_code("1", &c, &sig), -1);
    assert_int_equal(slurm_parse_exit_code("", &c, &sig), -1);
    assert_int_equal(slurm_parse_exit_code("a:b", &c, &sig), -1);
}

/* --- scontrol ----------------------------------------------------------------------------- */

static void scontrol_records_captured_from_the_testbed_parse(void **state)
{
    (void)state;
    const char *text =
        "JobId=4 JobName=sh-43471e2a-one-1 UserId=hpctest(1001) GroupId=hpctest(1001) "
        "MCS_label=N/A Priority=4294901756 Nice=0 Account=(null) QOS=(null) JobState=CANCELLED "
        "Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 "
        "RunTime=00:00:01 TimeLimit=01:00:00 TimeMin=N/A SubmitTime=2026-11-24T19:32:31 "
        "EligibleTime=2026-11-24T19:32:31 StartTime=2026-11-24T19:32:31 "
        "EndTime=2026-11-24T19:32:32 Deadline=N/A Partition=debug\n"
        "JobId=9 JobName=x UserId=hpctest(1001) JobState=FAILED Reason=NonZeroExitCode "
        "ExitCode=3:0 StartTime=2026-11-24T19:31:41 EndTime=2026-11-24T19:31:41 "
        "Command=(null) WorkDir=/home/hpctest/a dir with spaces\n"
        "slurm_load_jobs error: Invalid job id specified\n";
    slurm_final *v;
    size_t n = slurm_parse_scontrol(text, &v);
    assert_int_equal(n, 2);
    job_status s;
    slurm_final_to_status(find(v, n, "4"), &s);
    assert_true(s.cancelled);
    slurm_final_to_status(find(v, n, "9"), &s);
    assert_int_equal(s.exit_code, 3);
    assert_false(s.success);
    free(v);
}

/* --- sbatch and the driver ------------------------------------------------------------------- */

static void sbatch_parsable_ids(void **state)
{
    (void)state;
    char id[64];
    assert_int_equal(slurm_parse_sbatch_id("123\n", id, sizeof id), 0);
    assert_string_equal(id, "123");
    assert_int_equal(slurm_parse_sbatch_id("456;cluster2\n", id, sizeof id), 0);
    assert_string_equal(id, "456");
    assert_int_equal(slurm_parse_sbatch_id("Submitted batch job 7\n", id, sizeof id), -1);
    assert_int_equal(slurm_parse_sbatch_id("", id, sizeof id), -1);
}

static void the_driver_sends_scripts_verbatim_under_an_unused_delimiter(void **state)
{
    (void)state;
    const char *cmds[] = {"sbatch --parsable", "sbatch --parsable"};
    const char *scripts[] = {"#!/bin/bash\necho 'quoted' \"$HOME\" `x`\n",
                             "#!/bin/bash\necho no newline at the end"};
    char *d = submit_driver_build(2, cmds, scripts, "mkdir -p logs");
    assert_non_null(strstr(d, "echo 'quoted' \"$HOME\" `x`\n"));
    assert_non_null(strstr(d, "mkdir -p logs\n"));
    const char *delim = strstr(d, "<<'SCRIPTHUT_EOF_");
    assert_non_null(delim);
    free(d);
}

static void driver_records_come_back_per_job_and_noise_is_ignored(void **state)
{
    (void)state;
    const char *out = "Welcome to the cluster!\n"
                      "@@scripthut-submit 0 0\n"
                      "o 101\n"
                      "@@scripthut-submit 1 1\n"
                      "e sbatch: error: invalid partition specified: nope\n"
                      "e sbatch: error: Batch job submission failed: Invalid partition name "
                      "specified\n"
                      "@@scripthut-submit 2 0\n"
                      "o 103;other\n"
                      "e sbatch: warning: something\n"
                      "@@scripthut-submit end\n";
    submit_record recs[4] = {0};
    assert_int_equal(submit_driver_parse(out, 4, recs), 3);
    assert_string_equal(recs[0].out, "101\n");
    assert_int_equal(recs[1].rc, 1);
    assert_non_null(strstr(recs[1].err, "invalid partition"));
    assert_string_equal(recs[2].out, "103;other\n");
    assert_string_equal(recs[2].err, "sbatch: warning: something\n");
    assert_false(recs[3].seen); /* the shell died before it: unknown */
    submit_records_free(4, recs);
}

/* `sinfo --noheader --Node --format=SLURM_SINFO_FORMAT`: the testbed's line,
 * then a larger cluster (node n3 in two partitions, flags on states). */
static void sinfo_nodes_and_partitions_are_counted_once_per_node(void **state)
{
    (void)state;
    json_t *one = slurm_parse_sinfo("vm|debug*|up|idle|0/2/0/2\n");
    assert_int_equal(json_integer_value(json_object_get(one, "nodes")), 1);
    assert_int_equal(json_integer_value(json_object_get(one, "nodes_idle")), 1);
    assert_int_equal(json_integer_value(json_object_get(one, "cpus_total")), 2);
    json_t *p = json_array_get(json_object_get(one, "partitions"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "debug");
    assert_true(json_is_true(json_object_get(p, "default")));
    assert_string_equal(json_string_value(json_object_get(p, "state")), "up");
    json_decref(one);

    const char *text = "n1|compute*|up|alloc|48/0/0/48\n"
                       "n2|compute*|up|mix|20/28/0/48\n"
                       "n3|compute*|up|idle~|0/48/0/48\n"
                       "n3|long|up|idle~|0/48/0/48\n"
                       "n4|long|up|down*|0/0/48/48\n"
                       "n5|long|up|drain|0/0/48/48\n"
                       "n6|gpu|down|idle*|0/0/8/8\n"
                       "garbage line\n"
                       "n7|gpu|up|comp|8/0/0/8\n";
    json_t *c = slurm_parse_sinfo(text);
    assert_int_equal(json_integer_value(json_object_get(c, "nodes")), 7);
    assert_int_equal(json_integer_value(json_object_get(c, "nodes_idle")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "nodes_mixed")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "nodes_alloc")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "nodes_down")), 3);
    assert_int_equal(json_integer_value(json_object_get(c, "cpus_alloc")), 76);
    assert_int_equal(json_integer_value(json_object_get(c, "cpus_total")), 256);
    json_t *parts = json_object_get(c, "partitions");
    assert_int_equal(json_array_size(parts), 3);
    json_t *lng = json_array_get(parts, 1);
    assert_string_equal(json_string_value(json_object_get(lng, "name")), "long");
    assert_false(json_is_true(json_object_get(lng, "default")));
    assert_int_equal(json_integer_value(json_object_get(lng, "nodes")), 3);
    assert_int_equal(json_integer_value(json_object_get(lng, "nodes_down")), 2);
    json_t *gpu = json_array_get(parts, 2);
    assert_string_equal(json_string_value(json_object_get(gpu, "state")), "down");
    json_decref(c);
}

static void sinfo_empty_or_failed_output_gives_an_empty_cluster(void **state)
{
    (void)state;
    json_t *c = slurm_parse_sinfo("");
    assert_int_equal(json_integer_value(json_object_get(c, "nodes")), 0);
    assert_int_equal(json_array_size(json_object_get(c, "partitions")), 0);
    json_decref(c);
    c = slurm_parse_sinfo(NULL);
    assert_int_equal(json_integer_value(json_object_get(c, "cpus_total")), 0);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(truncated_out_of_memory_maps_to_a_retryable_failure),
        cmocka_unit_test(cancelled_by_uid_and_cut_cancelled_are_cancelled),
        cmocka_unit_test(short_codes_and_active_states_are_known),
        cmocka_unit_test(every_terminal_failure_state_is_terminal_and_retryable_per_design),
        cmocka_unit_test(completed_with_a_non_zero_exit_is_a_failure),
        cmocka_unit_test(a_timeout_reports_the_state_not_slurms_exit_artefact),
        cmocka_unit_test(squeue_rows_captured_from_the_testbed_parse),
        cmocka_unit_test(garbage_squeue_lines_are_not_rows),
        cmocka_unit_test(sacct_batch_step_out_of_memory_wins_in_either_order),
        cmocka_unit_test(sacct_cases_from_the_testbed_table),
        cmocka_unit_test(sacct_real_slurmdbd_output_signal_pending_cancel_and_failed_step),
        cmocka_unit_test(sacct_real_extern_steps_change_nothing),
        cmocka_unit_test(sacct_garbage_and_empty_output_give_no_records),
        cmocka_unit_test(exit_codes_parse_strictly),
        cmocka_unit_test(scontrol_records_captured_from_the_testbed_parse),
        cmocka_unit_test(sbatch_parsable_ids),
        cmocka_unit_test(the_driver_sends_scripts_verbatim_under_an_unused_delimiter),
        cmocka_unit_test(driver_records_come_back_per_job_and_noise_is_ignored),
        cmocka_unit_test(sinfo_nodes_and_partitions_are_counted_once_per_node),
        cmocka_unit_test(sinfo_empty_or_failed_output_gives_an_empty_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* noop.h - test-only faults of the noop backend (backend/noop.c).
 *
 * The engine's unit tests (tests/unit/test_engine.c) drive engine ticks on
 * the noop backend and use these to make its calls fail and its jobs fail,
 * vanish or keep running.  No configuration reaches them: only C code linked
 * with the core can set them.  They are process-wide (every noop backend
 * sees them) and not thread-safe: set them between ticks.  By default, and
 * after noop_fault_reset(), every job succeeds on the first poll after its
 * submission. */
#ifndef SCRIPTHUT_BACKEND_NOOP_H
#define SCRIPTHUT_BACKEND_NOOP_H

typedef enum noop_outcome {
    NOOP_SUCCEED = 0, /* finished, exit code 0 */
    NOOP_EXIT,        /* finished with the given exit code (non-zero: a retryable failure) */
    NOOP_LOST,        /* gone without evidence of how it ended (JOB_LOST) */
    NOOP_RUN,         /* still running at every poll (until the fault is replaced) */
} noop_outcome;

/* What the job of task `task_id` reports when polled, for attempt `attempt`
 * (0: every attempt without a fault of its own).  Read at each poll, so a
 * later call changes a job already submitted.  The task is found from the
 * job's tag (sh-<run>-<task>-<attempt>, backend.h). */
void noop_fault_job(const char *task_id, int attempt, noop_outcome outcome, int exit_code);
/* The next `calls` submit calls fail as if the backend were unreachable
 * (SH_EUNAVAIL for every job: nothing submitted). */
void noop_fault_submits(int calls);
/* The next `calls` poll calls fail (the status query "could not run"). */
void noop_fault_polls(int calls);
/* How many submit and poll calls every noop backend has received. */
long noop_submit_calls(void);
long noop_poll_calls(void);
void noop_fault_reset(void);

#endif

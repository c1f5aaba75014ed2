/* pbs_parse.h - reading the answers of PBS Pro and Torque: `qstat -f` /
 * `qstat -x -f` records (with their wrapped continuation lines), `tracejob`
 * output, `qsub` and `qselect` job ids, and the one table that maps a PBS
 * job_state letter and an Exit_status to what they mean for a task.  Pure
 * functions over text, tested on captured outputs
 * (tests/unit/test_pbs_parse.c, tests/unit/data/pbs/). */
#ifndef SCRIPTHUT_BACKEND_PBS_PARSE_H
#define SCRIPTHUT_BACKEND_PBS_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* The two PBS families differ in resource syntax (select= vs nodes=:ppn=),
 * in history (PBS Pro keeps finished jobs for `qstat -x`, Torque shows them
 * as C for keep_completed seconds) and in their negative exit statuses. */
typedef enum pbs_flavor {
    PBS_FLAVOR_PRO = 0, /* PBS Professional / OpenPBS (the default) */
    PBS_FLAVOR_TORQUE,
} pbs_flavor;

/* "pbspro" / "torque" -> 0 and *out; -1 for anything else. */
int pbs_flavor_parse(const char *s, pbs_flavor *out);

typedef enum pbs_class {
    PBS_UNKNOWN_STATE = 0, /* a letter we do not know: change nothing */
    PBS_QUEUED,            /* Q, H, W, T, M: not started */
    PBS_RUNNING,           /* R, E, S, U, B: started, not ended */
    PBS_ENDED,             /* F, C, X: ended; Exit_status says how */
} pbs_class;

typedef struct pbs_state {
    char letter;
    const char *name; /* "QUEUED", "HELD", "RUNNING", "FINISHED", ... */
    pbs_class cls;
} pbs_state;

/* Looks up a job_state as qstat prints it ("R", " F ").  Never NULL: an
 * unknown letter gives a state of class PBS_UNKNOWN_STATE. */
const pbs_state *pbs_state_lookup(const char *raw);

/* PBS Pro's substate of a finished job that was deleted (qdel). */
#define PBS_SUBSTATE_TERMINATED 91

/* One job as `qstat -f` (or tracejob) describes it. */
typedef struct pbs_job {
    char id[128];   /* as printed: "1234.pbs01", "123[4].pbs01" */
    char name[256]; /* Job_Name; "" when absent */
    char state[8];  /* job_state letter; "" when absent */
    int substate;   /* -1 when absent */
    bool have_exit;
    int exit_status;          /* Exit_status (PBS Pro) / exit_status (Torque) */
    bool deleted;             /* substate 91, or tracejob says it was deleted */
    int64_t walltime_used_s;  /* resources_used.walltime; -1 when absent */
    int64_t walltime_limit_s; /* Resource_List.walltime; -1 when absent */
    int64_t start_us, end_us; /* 0 when absent */
    char comment[256];        /* the scheduler's comment ("Not Running: ..."); "" when absent */
} pbs_job;

/* Parses `qstat -f` / `qstat -x -f` output (run with TZ=UTC, so times are
 * UTC).  A record starts at "Job Id: ID"; attributes are "    key = value";
 * a value too long for a line continues on the next line after a tab, and is
 * rejoined.  Lines outside a record (a login shell's noise) are ignored.
 * Returns 0 with *out (caller frees) and *n, or -1 when the text is garbled:
 * a record without an id or without a job_state (cut off mid-way). */
int pbs_parse_qstat_full(const char *text, pbs_job **out, size_t *n);

/* Parses the output of `echo "@@job ID"; tracejob ID` for several ids: the
 * "Exit_status=N" line (with resources_used.walltime and
 * Resource_List.walltime on it) and "deleted at request of".  Returns the
 * number of jobs with an Exit_status or a deletion (state set to "F");
 * caller frees *out. */
size_t pbs_parse_tracejob(const char *text, pbs_job **out);

/* Fills a job_status from a job: its state's class, and for an ended job
 * the Exit_status (0 success; 1..255 the script's exit code; >= 256 killed
 * by signal N-256; negative: PBS could not run it, or killed it for a limit,
 * per flavor), walltime used >= limit (TIMEOUT) and a deletion (cancelled). */
void pbs_job_to_status(const pbs_job *j, pbs_flavor flavor, job_status *out);

/* The job id qsub printed ("1234.pbs01", "1234", "123[].pbs01") into id:
 * the last line of its stdout that is exactly a job id, so a warning or a
 * login banner before it is skipped; 0, or -1 when no line is (never the
 * first digits found anywhere). */
int pbs_parse_qsub_id(const char *out, char *id, size_t id_size);

/* True when s is a job id we may pass to a shell or xargs unquoted
 * (digits, then [index], then .server of [A-Za-z0-9._-]). */
bool pbs_job_id_valid(const char *s);

/* The id without its server suffix ("1234.pbs01" -> "1234", "12[3].s" ->
 * "12[3]"): qsub and qstat may name the server differently (short and fully
 * qualified), the sequence number is the same.  dst may be id (in place). */
void pbs_short_id(const char *id, char *dst, size_t size);

/* True when a qstat/qdel error line says only that the job is unknown or
 * already finished ("Unknown Job Id", "Job has finished", "Invalid state
 * for job - COMPLETE"): that is news about the job, not a failed query. */
bool pbs_is_gone_message(const char *line);

/* "HH:MM:SS", "MM:SS" or plain seconds -> seconds; -1 for anything else. */
int64_t pbs_parse_duration(const char *s);

/* "Wed Feb 12 10:00:00 2026" (UTC: qstat runs with TZ=UTC) or epoch
 * seconds -> µs; 0 for empty or garbage. */
int64_t pbs_parse_time(const char *s);

#endif

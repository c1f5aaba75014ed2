/* slurm_parse.h - reading Slurm's answers: squeue rows, sacct rows (job and
 * step lines), `scontrol -o show job` records, and the one table that maps a
 * Slurm state to what it means for a task.  Pure functions over text, tested
 * on captured outputs (tests/unit/test_slurm_parse.c). */
#ifndef SCRIPTHUT_BACKEND_SLURM_PARSE_H
#define SCRIPTHUT_BACKEND_SLURM_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backend/backend.h"

typedef enum slurm_class {
    SLURM_UNKNOWN_STATE = 0, /* a word we do not know: change nothing */
    SLURM_QUEUED,            /* PENDING, REQUEUED, ...: not started */
    SLURM_RUNNING,           /* RUNNING, COMPLETING, SUSPENDED, ...: started, not ended */
    SLURM_ENDED_OK,          /* COMPLETED (still check the exit code) */
    SLURM_ENDED_FAILED,      /* FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ... */
    SLURM_ENDED_CANCELLED,   /* CANCELLED (by a user or an admin) */
} slurm_class;

typedef struct slurm_state {
    const char *name; /* canonical: "OUT_OF_MEMORY" for "OUT_OF_ME+" and "OOM" */
    slurm_class cls;
    bool retryable; /* DESIGN §5: task retries apply */
} slurm_state;

/* Looks up a state as squeue (%T or %t), sacct or scontrol print it: full
 * names, short codes, names cut to the column width with a '+'
 * ("OUT_OF_ME+", "CANCELLED+") and "CANCELLED by 1001".  Never NULL: an
 * unknown word gives a state of class SLURM_UNKNOWN_STATE. */
const slurm_state *slurm_state_lookup(const char *raw);

/* One row of `squeue --noheader --format=%i|%T|%S|%r`. */
typedef struct slurm_queue_row {
    char id[64];
    char state[40];
    int64_t start_us; /* 0 when N/A */
    char reason[128];
} slurm_queue_row;

#define SLURM_SQUEUE_FORMAT "%i|%T|%S|%r"

/* Parses one line; 0, or -1 for a line that is not a row (too few fields,
 * empty id). */
int slurm_parse_squeue_line(const char *line, slurm_queue_row *row);

/* How one job ended, merged from its sacct rows (job line + .batch/.extern/.N
 * steps) or from one scontrol record. */
typedef struct slurm_final {
    char id[64];
    char state[40]; /* canonical name after merging */
    int exit_code;  /* -1 unknown */
    int term_signal;
    int64_t start_us, end_us;
    bool have_job_row; /* sacct: the job line itself was seen */
} slurm_final;

#define SLURM_SACCT_FORMAT "JobIDRaw,State,ExitCode,Start,End"

/* Parses `sacct --noheader --parsable2 --format=SLURM_SACCT_FORMAT` output.
 * Step rows count toward their job: a failing .batch step (OUT_OF_MEMORY,
 * non-zero exit) makes a COMPLETED job failed, whatever the line order.
 * Returns the number of jobs in *out (caller frees). */
size_t slurm_parse_sacct(const char *text, slurm_final **out);

/* Parses `scontrol -o show job` output (one record per line). */
size_t slurm_parse_scontrol(const char *text, slurm_final **out);

/* "a:b" (exit status : signal) -> 0, or -1 when not of that shape. */
int slurm_parse_exit_code(const char *s, int *exit_code, int *signal);

/* "2026-01-02T03:04:05" (UTC: we run the commands with TZ=UTC) -> µs; 0 for
 * Unknown, N/A, None, empty or garbage. */
int64_t slurm_parse_time(const char *s);

/* Fills a job_status from how a job ended.  COMPLETED with a non-zero exit
 * code or a signal is a failure (a masked failure is still a failure). */
void slurm_final_to_status(const slurm_final *f, job_status *out);

/* The job id in `sbatch --parsable` output ("123" or "123;cluster"), into id;
 * 0, or -1 when the first line is not a job id. */
int slurm_parse_sbatch_id(const char *out, char *id, size_t id_size);

/* Cluster info for `backend status`: one line per node and partition from
 * `sinfo --noheader --Node --format=SLURM_SINFO_FORMAT` (node, partition
 * with '*' for the default, availability, compact state, CPUs as
 * allocated/idle/other/total).  Returns {"nodes", "nodes_idle",
 * "nodes_mixed", "nodes_alloc", "nodes_down", "cpus_alloc", "cpus_idle",
 * "cpus_total", "partitions": [{"name", "default", "state", "nodes",
 * "nodes_idle", "nodes_mixed", "nodes_alloc", "nodes_down", "cpus_alloc",
 * "cpus_idle", "cpus_total"}]}; a node in several partitions counts once in
 * the totals.  Lines that are not rows are skipped.  Caller owns it. */
#define SLURM_SINFO_FORMAT "%N|%P|%a|%t|%C"
json_t *slurm_parse_sinfo(const char *text);

#endif

/* sched.h - what the batch-scheduler backends (slurm.c, pbs.c) share and
 * neither scheduler is about: the transport (SSH, or local on a login node),
 * running a command script with the remote shell, where run logs live on the
 * cluster, the batched submission with its reconciliation after a broken
 * connection, cancel, find-by-tag, log reading, and the timer that turns a
 * job missing everywhere into JOB_LOST.
 *
 * A backend describes its scheduler in a sched_kind (the submit command, how
 * to read a job id from its output, how a tag becomes a job name, how to
 * look jobs up by name, how to cancel) and puts a sched_base FIRST in its
 * impl struct: the functions here read b->impl as a sched_base.  The ops
 * submit, cancel, find_by_tag, read_log and read_file of both backends are
 * the sched_ ones; poll, the heart of each scheduler, stays in its file. */
#ifndef SCRIPTHUT_BACKEND_SCHED_H
#define SCRIPTHUT_BACKEND_SCHED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "transport/transport.h"

/* Every query (status, accounting, lookup, cancel) may take this long unless
 * the backend's query_timeout says otherwise. */
#define SCHED_QUERY_TIMEOUT_MS 60000
/* A job gone from the queue with no record anywhere is LOST only after this
 * long: accounting and job history are written asynchronously (sacct learns
 * of jobs 1-3 s late), and we never call a job finished without evidence of
 * how it ended. */
#define SCHED_LOST_AFTER_MS (120 * 1000)

typedef struct sched_kind {
    /* The submit command up to the job name ("sbatch --parsable
     * --job-name="), then the options that name the stdout and stderr files
     * (" --output=", " --error=").  The tool's name ("sbatch") is what
     * submission errors name. */
    const char *submit_tool;
    const char *submit_prefix;
    const char *out_option;
    const char *err_option;
    /* The job id in the submit command's stdout: 0, or -1 when there is none. */
    int (*parse_submit_id)(const char *out, char *id, size_t size);
    /* The job name that carries a tag (caller frees). */
    char *(*tag_name)(const char *tag);
    /* Ids of jobs named names[0..n): ids[i] set when found, left NULL when
     * not.  -1 with e when the scheduler could not be asked. */
    int (*lookup_names)(backend *b, size_t n, char *const *names, char **ids, sh_err *e);
    /* The cancel command ("scancel"), given one quoted job id. */
    const char *cancel_tool;
    /* Optional: whether a cancel that exited non-zero only says the job is
     * already gone (then it is done); when not, why is what to report.  NULL:
     * every non-zero exit fails, with the first line of stderr. */
    bool (*cancel_gone)(const char *err, char *why, size_t why_size);
} sched_kind;

typedef struct sched_missing {
    char *id;
    int64_t since_ms;
} sched_missing;

typedef struct sched_base {
    const sched_kind *kind;
    bool remote;            /* over SSH: logs live under log_dir on the cluster */
    char *log_dir;          /* remote root for the run log dirs */
    char *local_logs;       /* <data_dir>/logs/, the prefix mapped to log_dir */
    const char *shell;      /* remote shell running our command scripts */
    int query_timeout_ms;   /* query_timeout, or SCHED_QUERY_TIMEOUT_MS */
    sched_missing *missing; /* jobs missing from the queue and every record */
    size_t nmissing;
} sched_base;

/* Opens the transport (backend_sched_transport) and fills base from the
 * config (ssh, log_dir, login_shell).  -1 with e when the transport cannot
 * be set up; base is then untouched. */
int sched_init(backend *b, sched_base *base, const sched_kind *kind, sh_err *e);
/* Frees what sched_init and the missing-job timer allocated (not base). */
void sched_free(sched_base *base);

/* Runs a command script with the remote shell, the script on stdin, as
 * "sh -s # <what>" so the command log names the query.  -1 with e naming the
 * backend and what was run when it could not run or timed out. */
int sched_run_script(backend *b, const char *what, const char *script, int timeout_ms,
                     exec_result *r, sh_err *e);

/* How long one scheduler query may take (the backend's query_timeout). */
int sched_query_timeout_ms(backend *b);

/* The first line of s (NULL is ""), cut to size. */
void sched_first_line(const char *s, char *dst, size_t size);

/* Where a log file the engine names locally lives on the cluster (caller
 * frees). */
char *sched_remote_path(backend *b, const char *path);

/* The missing-job timer: forget a job that was seen (queue or a record);
 * sched_missing_lost() starts the clock the first time and is true (and
 * forgets the job) once it has been missing for SCHED_LOST_AFTER_MS. */
void sched_missing_forget(backend *b, const char *id);
bool sched_missing_lost(backend *b, const char *id);

/* backend_ops shared by Slurm and PBS. */
int sched_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs);
int sched_cancel(backend *b, const job_ref *ref, sh_err *e);
int sched_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e);
int sched_read_log(backend *b, const char *path, size_t tail_bytes, char **out, size_t *len,
                   sh_err *e);
int sched_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e);

#endif

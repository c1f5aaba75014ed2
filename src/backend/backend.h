/* backend.h - the interface every backend implements (local, noop; slurm and
 * pbs over a transport).  The engine talks to backends only through this.
 *
 * Rules every backend follows (DESIGN §5):
 *  - submit() is given a tag (sh-<run>-<task>-<attempt>) that it records with
 *    the job (job name, comment, or a spool dir), so find_by_tag() can adopt a
 *    job after a crash between submit and bookkeeping;
 *  - poll() asks about all active jobs at once (one query per tick), and a
 *    failed query returns -1 so the engine changes no task's state;
 *  - a job that is gone is JOB_FINISHED only with evidence of how it ended
 *    (exit-code file, accounting); otherwise it is JOB_LOST. */
#ifndef SCRIPTHUT_BACKEND_BACKEND_H
#define SCRIPTHUT_BACKEND_BACKEND_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct transport;

typedef struct job_spec {
    const char *tag; /* sh-<run>-<task>-<attempt>, unique per attempt */
    const char *run_id;
    const char *task_id;
    int attempt;             /* 1-based */
    const char *script;      /* the complete job script (rendered by Lua) */
    const char *working_dir; /* as given by the task ("~" allowed) */
    const char *out_path;    /* stdout log file (absolute) */
    const char *err_path;    /* stderr log file (absolute) */
    int cpus;
    int64_t time_limit_s; /* 0 = no limit */
} job_spec;

typedef struct job_ref {
    const char *job_id;
    const char *tag;
} job_ref;

typedef enum job_phase {
    JOB_UNKNOWN = 0, /* no information this tick: change nothing */
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_FINISHED, /* ended, with evidence: see success/exit_code/reason */
    JOB_LOST,     /* gone without any evidence of how it ended */
} job_phase;

typedef struct job_status {
    job_phase phase;
    bool success;             /* FINISHED: exit code 0 and no signal/timeout */
    bool retryable;           /* FINISHED && !success: a failure that task retries apply to */
    bool cancelled;           /* FINISHED: ended because it was cancelled */
    int exit_code;            /* -1 when unknown */
    int term_signal;          /* 0 when none */
    char reason[256];         /* "exit code 3", "TIMEOUT", "killed by signal 9", "OUT_OF_MEMORY" */
    char scheduler_state[32]; /* raw scheduler/terminal state when known ("COMPLETED", "TIMEOUT") */
    char pending_reason[256]; /* QUEUED: why, in the scheduler's words (squeue %r, PBS comment) */
    int64_t started_us;       /* 0 when unknown */
    int64_t finished_us;      /* 0 when unknown */
} job_status;

typedef struct backend backend;

struct backend_ops {
    const char *type;
    /* Submits n jobs.  For each i either job_ids[i] is set (caller frees) or
     * errs[i].status is non-zero.  Returns 0, or -1 when the backend could
     * not be reached at all (then nothing was submitted and every errs[i] is
     * set). */
    int (*submit)(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs);
    /* One status query for n jobs; out[i] for refs[i].  -1 = the query failed:
     * the caller must not change any task's state. */
    int (*poll)(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e);
    /* Cancels one job (idempotent: an already finished job is not an error). */
    int (*cancel)(backend *b, const job_ref *ref, sh_err *e);
    /* After a crash: 1 and *job_id if a job with this tag exists, 0 if none,
     * -1 if the backend could not be asked. */
    int (*find_by_tag)(backend *b, const char *tag, char **job_id, sh_err *e);
    /* Reads a task's log file (local path or over the transport); tail_bytes
     * 0 = whole file.  -1 with e->status SH_ENOTFOUND when the file is absent. */
    int (*read_log)(backend *b, const char *path, size_t tail_bytes, char **out, size_t *len,
                    sh_err *e);
    /* Reads a small file a task produced (generates_source). */
    int (*read_file)(backend *b, const char *path, char **out, size_t *len, sh_err *e);
    void (*destroy)(backend *b);
    /* Optional: adds backend-specific fields to backend_describe's object
     * (Slurm: "cluster", from sinfo on its own slower timer).  Engine thread. */
    void (*describe)(backend *b, json_t *out);
};

struct backend {
    const struct backend_ops *ops;
    char *name;
    json_t *config; /* the backend's normalised config object (owned reference) */
    char *data_dir; /* scripthut's data dir (spool for the local backend) */
    /* The machine the jobs run on, for direct commands (stack check, delete,
     * gc); owned, freed by backend_destroy.  NULL when there is none (noop). */
    struct transport *tr;
    void *impl;
};

/* Creates the backend described by config (its "type" selects the ops).
 * NULL with e set for an unknown type or a bad config. */
backend *backend_create(const char *name, json_t *config, const char *data_dir, sh_err *e);
void backend_destroy(backend *b);

/* The machine the backend's jobs run on, for direct commands (stack check,
 * delete, gc), or NULL when it has none (noop).  Owned by the backend. */
struct transport *backend_transport(backend *b);

/* For `backend list --json` / the dashboard: name, type, connected, and the
 * transport's own description (SSH: state, last error, counters, command
 * log).  Meaningful on the engine's live instance.  Caller owns the result. */
json_t *backend_describe(backend *b);

/* Constructors of the implementations (backend_create dispatches to these). */
int backend_local_init(backend *b, sh_err *e);
int backend_noop_init(backend *b, sh_err *e); /* jobs succeed at once: benchmarks */
int backend_slurm_init(backend *b, sh_err *e);
int backend_pbs_init(backend *b, sh_err *e); /* PBS Pro / Torque (backend/pbs.c) */
/* Slurm/PBS: b->tr is SSH when the config has "ssh", else local (scripthut
 * runs on the login node). */
int backend_sched_transport(backend *b, sh_err *e);

/* Entry point of the hidden `scripthut __job-wrapper JOBDIR` command that the
 * local backend spawns around each job (see backend/local.c). */
int local_job_wrapper_main(int argc, char **argv);

#endif

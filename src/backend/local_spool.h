/* local_spool.h - the on-disk contract between the local backend (local.c,
 * running inside the engine) and the job wrapper (local_wrapper.c, its own
 * process that outlives the engine).
 *
 * One directory per job attempt: <data_dir>/local/jobs/<fs_encode_name(tag)>/
 *
 *   job.json       written by submit: what to run (script, logs, working dir,
 *                  time limit, cpus, login_shell)
 *   script.sh      written by submit (0700): the rendered job script
 *   pid            the wrapper's pid (= the job id); written by submit after
 *                  spawning and by the wrapper when it starts, so a crash of
 *                  the engine right after the spawn still leaves it recorded
 *   pgid           written by the wrapper after forking the task: the task's
 *                  process group (its leader is /bin/bash running script.sh)
 *   started_at_us  written by the wrapper just before forking the task
 *   result.json    written by the wrapper after the task's group is gone:
 *                  the only evidence that the job finished
 *
 * Every file is written with fs_write_atomic, so a reader sees either nothing
 * or the whole file.  The engine keeps no state about a local job besides the
 * tag and the job id, so a restarted engine re-adopts running jobs from here. */
#ifndef SCRIPTHUT_BACKEND_LOCAL_SPOOL_H
#define SCRIPTHUT_BACKEND_LOCAL_SPOOL_H
#include <stdint.h>

#define LOCAL_JOB_FILE "job.json"
#define LOCAL_SCRIPT_FILE "script.sh"
#define LOCAL_PID_FILE "pid"
#define LOCAL_PGID_FILE "pgid"
#define LOCAL_STARTED_FILE "started_at_us"
#define LOCAL_RESULT_FILE "result.json"

/* argv[1] of the wrapper process; also how poll recognises a live wrapper in
 * /proc/<pid>/cmdline (together with the job dir in argv[2]). */
#define LOCAL_WRAPPER_ARG "__job-wrapper"

/* Time between SIGTERM and SIGKILL on timeout or cancel. */
#define LOCAL_KILL_GRACE_MS 5000

/* "<jobdir>/<file>". Caller frees. */
char *local_spool_path(const char *jobdir, const char *file);

/* Writes a decimal integer file atomically. 0 or -1 (errno). */
int local_spool_write_int(const char *jobdir, const char *file, int64_t value);

/* Reads a decimal integer file. 0, or -1 with errno (ENOENT when absent,
 * EINVAL when it does not hold a number). */
int local_spool_read_int(const char *jobdir, const char *file, int64_t *value);

#endif

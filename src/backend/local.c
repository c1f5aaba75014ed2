/* local.c - the built-in local backend: jobs are processes on this machine.
 *
 * Each job attempt gets a spool directory (layout in local_spool.h) and a
 * wrapper process (`scripthut __job-wrapper JOBDIR`, local_wrapper.c) that
 * runs the script in its own process group, enforces the time limit and
 * writes result.json when the job ends.  The job id is the wrapper's pid.
 *
 * Everything the backend knows it reads back from the spool and /proc, never
 * from waitpid(): the engine that polls may not be the process that spawned
 * the job (it may have been restarted), so files are the only evidence.
 *
 * cpus are a concurrency weight the engine enforces with the backend's
 * max_cpus; memory is not enforced locally. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, close_range, POSIX_SPAWN_SETSID, addclosefrom_np */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/local_spool.h"
#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"

extern char **environ;

typedef struct local_backend {
    char *jobs_dir; /* <data_dir>/local/jobs, absolute */
    char *self_exe; /* the scripthut binary that hosts the wrapper */
    bool login_shell;
} local_backend;

static local_backend *impl_of(backend *b)
{
    return (local_backend *)b->impl;
}

static char *job_dir(const local_backend *lb, const char *tag)
{
    char *name = fs_encode_name(tag);
    char *dir = xasprintf("%s/%s", lb->jobs_dir, name);
    free(name);
    return dir;
}

static char *format_job_id(int64_t pid)
{
    return xasprintf("%" PRId64, pid);
}

static pid_t parse_job_id(const char *job_id)
{
    if (!job_id || !*job_id)
        return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(job_id, &end, 10);
    if (errno || *end || v <= 0 || v > INT32_MAX)
        return 0;
    return (pid_t)v;
}

/* --- identifying our processes -------------------------------------------- */

/* Parses the fields after the "(comm)" of /proc/<pid>/stat. */
static bool proc_stat_fields(const char *pid_name, char *state, long *ppid, long *pgrp,
                             long *session)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/stat", pid_name);
    char *text = NULL;
    if (fs_read_file(path, &text, NULL) < 0)
        return false;
    const char *close_paren = strrchr(text, ')');
    bool ok =
        close_paren && sscanf(close_paren + 1, " %c %ld %ld %ld", state, ppid, pgrp, session) == 4;
    free(text);
    return ok;
}

/* True when pid is alive and is the wrapper of jobdir.  Checking the command
 * line, not just kill(pid, 0), is what makes a recycled pid harmless.  A
 * zombie has an empty cmdline, so a wrapper that died and was not yet reaped
 * counts as gone, which is what it is. */
static bool wrapper_alive(pid_t pid, const char *jobdir)
{
    if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    char *cmdline = NULL;
    size_t len = 0;
    if (fs_read_file(path, &cmdline, &len) < 0)
        return false;
    if (len == 0) {
        /* Empty: a zombie, or a wrapper we spawned a moment ago.  posix_spawn
         * returns at exec's point of no return, before the kernel has set up
         * the new argument area, so a poll right after a submission can see
         * an empty cmdline on a wrapper that is about to run. */
        free(cmdline);
        char name[32], state = 0;
        long ppid = 0, pgrp = 0, session = 0;
        snprintf(name, sizeof name, "%ld", (long)pid);
        return proc_stat_fields(name, &state, &ppid, &pgrp, &session) && state != 'Z' &&
               ppid == (long)getpid();
    }
    /* argv[0] is "scripthut" (or whatever); argv[1] and argv[2] identify us. */
    const char *args[3] = {NULL, NULL, NULL};
    size_t off = 0;
    for (int i = 0; i < 3 && off < len; i++) {
        args[i] = cmdline + off;
        off += strlen(cmdline + off) + 1;
    }
    bool ours = args[1] && args[2] && strcmp(args[1], LOCAL_WRAPPER_ARG) == 0 &&
                strcmp(args[2], jobdir) == 0;
    free(cmdline);
    return ours;
}

/* True when the task's process group still has a live (non-zombie) member in
 * the wrapper's session.  Only asked when the wrapper itself is gone, so the
 * /proc scan is rare; it ignores zombies (nobody may reap orphans in a
 * container) and a recycled group id (different session). */
static bool task_group_alive(pid_t pgid, pid_t session)
{
    if (pgid <= 0 || (kill(-pgid, 0) < 0 && errno == ESRCH))
        return false;
    DIR *d = opendir("/proc");
    if (!d)
        return true; /* no /proc: trust kill() */
    bool alive = false;
    struct dirent *ent;
    while (!alive && (ent = readdir(d)) != NULL) {
        if (ent->d_name[0] < '1' || ent->d_name[0] > '9')
            continue;
        char state;
        long pgrp, sid;
        long ppid = 0;
        if (proc_stat_fields(ent->d_name, &state, &ppid, &pgrp, &sid))
            alive = pgrp == pgid && sid == session && state != 'Z' && state != 'X';
    }
    closedir(d);
    return alive;
}

/* --- submit --------------------------------------------------------------- */

static int write_job_files(const char *jobdir, const job_spec *job, bool login_shell, sh_err *e)
{
    char *script_path = local_spool_path(jobdir, LOCAL_SCRIPT_FILE);
    if (fs_write_atomic(script_path, job->script, strlen(job->script), 0700) < 0) {
        sh_err_set(e, SH_EINTERNAL, "cannot write %s: %s", script_path, strerror(errno));
        free(script_path);
        return -1;
    }
    const char *wd = job->working_dir && *job->working_dir ? job->working_dir : "~";
    json_t *spec = json_pack(
        "{s:s, s:s?, s:s?, s:i, s:s, s:s, s:s, s:s, s:I, s:i, s:b}", "tag", job->tag, "run_id",
        job->run_id, "task_id", job->task_id, "attempt", job->attempt, "script", script_path,
        "working_dir", wd, "out_path", job->out_path, "err_path", job->err_path, "time_limit_s",
        (json_int_t)job->time_limit_s, "cpus", job->cpus, "login_shell", login_shell);
    free(script_path);
    char *text = json_dumps(spec, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(spec);
    char *path = local_spool_path(jobdir, LOCAL_JOB_FILE);
    int rc = fs_write_atomic(path, text, strlen(text), 0600);
    if (rc < 0)
        sh_err_set(e, SH_EINTERNAL, "cannot write %s: %s", path, strerror(errno));
    free(path);
    free(text);
    return rc;
}

/* Starts `self_exe __job-wrapper JOBDIR` in a new session, stdio on /dev/null,
 * no inherited file descriptors, default signal dispositions, and the signals
 * the wrapper collects with sigtimedwait already blocked (so a cancel sent
 * right after submit is queued, not fatal). */
static int spawn_wrapper(const local_backend *lb, const char *jobdir, pid_t *pid, sh_err *e)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t blocked, defaults;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGCHLD);
    sigfillset(&defaults);
    posix_spawnattr_setsigmask(&attr, &blocked);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    char *argv[] = {"scripthut", LOCAL_WRAPPER_ARG, (char *)jobdir, NULL};
    int rc = posix_spawn(pid, lb->self_exe, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return sh_err_set(e, SH_EINTERNAL, "cannot start the job wrapper %s: %s", lb->self_exe,
                          strerror(rc));
    return 0;
}

static int check_job_spec(const job_spec *job, sh_err *e)
{
    if (!job->tag || !*job->tag)
        return sh_err_set(e, SH_EINVAL, "job has no tag");
    if (!job->script || !job->out_path || !job->err_path)
        return sh_err_set(e, SH_EINVAL, "job %s: script, out_path and err_path are required",
                          job->tag);
    return 0;
}

/* Submits one job; an existing spool dir with a recorded pid means this tag
 * was already submitted (the engine crashed before bookkeeping), so its id is
 * returned and nothing new runs.  A dir without a pid is a submit that died
 * before spawning: it is rewritten and the job started. */
static int local_submit_one(const local_backend *lb, const job_spec *job, char **job_id, sh_err *e)
{
    if (check_job_spec(job, e) < 0)
        return -1;
    char *jobdir = job_dir(lb, job->tag);
    int64_t pid = 0;
    if (mkdir(jobdir, 0700) < 0) {
        if (errno != EEXIST) {
            sh_err_set(e, SH_EINTERNAL, "cannot create %s: %s", jobdir, strerror(errno));
            goto fail;
        }
        if (local_spool_read_int(jobdir, LOCAL_PID_FILE, &pid) == 0 && pid > 0) {
            log_info("local: job %s already submitted as %" PRId64, job->tag, pid);
            *job_id = format_job_id(pid);
            free(jobdir);
            return 0;
        }
    }
    if (write_job_files(jobdir, job, lb->login_shell, e) < 0)
        goto fail;
    pid_t spawned;
    if (spawn_wrapper(lb, jobdir, &spawned, e) < 0)
        goto fail;
    /* The wrapper records itself too; this copy covers the gap before it runs. */
    if (local_spool_write_int(jobdir, LOCAL_PID_FILE, spawned) < 0)
        log_warn("local: job %s: cannot record pid in %s: %s", job->tag, jobdir, strerror(errno));
    *job_id = format_job_id(spawned);
    free(jobdir);
    return 0;
fail:
    sh_err_prefix(e, "local backend: job %s", job->tag ? job->tag : "(no tag)");
    free(jobdir);
    return -1;
}

static int local_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    local_backend *lb = impl_of(b);
    if (fs_mkdir_p(lb->jobs_dir, 0700) < 0) {
        int saved = errno;
        for (size_t i = 0; i < n; i++) {
            job_ids[i] = NULL;
            sh_err_set(&errs[i], SH_EUNAVAIL, "local backend %s: cannot create spool dir %s: %s",
                       b->name, lb->jobs_dir, strerror(saved));
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        job_ids[i] = NULL;
        errs[i].status = SH_OK;
        errs[i].msg[0] = '\0';
        local_submit_one(lb, &jobs[i], &job_ids[i], &errs[i]);
    }
    return 0;
}

/* --- poll ----------------------------------------------------------------- */

static void set_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* Maps a result.json onto a job_status (the one place that decides what a
 * local job's ending means). */
static void status_from_result(json_t *root, job_status *out)
{
    json_t *err = json_object_get(root, "error");
    out->phase = JOB_FINISHED;
    out->exit_code = (int)json_integer_value(json_object_get(root, "exit_code"));
    out->term_signal = (int)json_integer_value(json_object_get(root, "signal"));
    out->started_us = json_integer_value(json_object_get(root, "started_at_us"));
    out->finished_us = json_integer_value(json_object_get(root, "finished_at_us"));
    out->cancelled = json_is_true(json_object_get(root, "cancelled"));
    bool timed_out = json_is_true(json_object_get(root, "timed_out"));
    out->success = !out->cancelled && !timed_out && !json_is_string(err) && out->exit_code == 0 &&
                   out->term_signal == 0;
    out->retryable = !out->success && !out->cancelled;
    if (out->cancelled) {
        set_text(out->reason, sizeof out->reason, "cancelled");
        set_text(out->scheduler_state, sizeof out->scheduler_state, "CANCELLED");
    } else if (timed_out) {
        set_text(out->reason, sizeof out->reason, "TIMEOUT");
        set_text(out->scheduler_state, sizeof out->scheduler_state, "TIMEOUT");
    } else if (json_is_string(err)) {
        set_text(out->reason, sizeof out->reason, json_string_value(err));
        set_text(out->scheduler_state, sizeof out->scheduler_state, "FAILED");
    } else if (out->term_signal) {
        snprintf(out->reason, sizeof out->reason, "killed by signal %d", out->term_signal);
        set_text(out->scheduler_state, sizeof out->scheduler_state, "FAILED");
    } else if (out->exit_code != 0) {
        snprintf(out->reason, sizeof out->reason, "exit code %d", out->exit_code);
        set_text(out->scheduler_state, sizeof out->scheduler_state, "FAILED");
    } else {
        set_text(out->scheduler_state, sizeof out->scheduler_state, "COMPLETED");
    }
}

/* 1 = finished (out filled), 0 = no result yet, -1 = result unreadable (out
 * is LOST with the reason). */
static int read_result(const char *jobdir, job_status *out)
{
    char *path = local_spool_path(jobdir, LOCAL_RESULT_FILE);
    if (!fs_exists(path)) {
        free(path);
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!json_is_object(root)) {
        out->phase = JOB_LOST;
        snprintf(out->reason, sizeof out->reason, "unreadable %s: %s", path,
                 root ? "not an object" : jerr.text);
        json_decref(root);
        free(path);
        return -1;
    }
    status_from_result(root, out);
    json_decref(root);
    free(path);
    return 1;
}

static void poll_one(const local_backend *lb, const job_ref *ref, job_status *out)
{
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    if (!ref->tag || !*ref->tag) {
        set_text(out->reason, sizeof out->reason, "job has no tag: cannot find its spool");
        return; /* JOB_UNKNOWN */
    }
    char *jobdir = job_dir(lb, ref->tag);
    pid_t pid = parse_job_id(ref->job_id);
    int64_t recorded = 0;
    if (!pid && local_spool_read_int(jobdir, LOCAL_PID_FILE, &recorded) == 0)
        pid = (pid_t)recorded;
    int64_t started = 0, pgid = 0;
    if (read_result(jobdir, out) != 0)
        goto done;
    if (!fs_exists(jobdir)) {
        out->phase = JOB_LOST;
        snprintf(out->reason, sizeof out->reason, "the job's spool directory %s is missing",
                 jobdir);
        goto done;
    }
    if (wrapper_alive(pid, jobdir)) {
        bool has_started = local_spool_read_int(jobdir, LOCAL_STARTED_FILE, &started) == 0;
        out->phase = has_started ? JOB_RUNNING : JOB_QUEUED;
        out->started_us = has_started ? started : 0;
        goto done;
    }
    /* The wrapper may have written the result and exited since we looked. */
    if (read_result(jobdir, out) != 0)
        goto done;
    /* Wrapper gone without a result, but the task still runs (wrapper killed
     * with SIGKILL): report it running rather than letting a retry start a
     * second copy beside it.  It becomes LOST when the group is gone. */
    if (local_spool_read_int(jobdir, LOCAL_PGID_FILE, &pgid) == 0 &&
        task_group_alive((pid_t)pgid, pid)) {
        out->phase = JOB_RUNNING;
        if (local_spool_read_int(jobdir, LOCAL_STARTED_FILE, &started) == 0)
            out->started_us = started;
        goto done;
    }
    out->phase = JOB_LOST;
    set_text(out->reason, sizeof out->reason,
             "the job's wrapper process disappeared without recording an exit status "
             "(machine reboot or kill -9?)");
done:
    free(jobdir);
}

static int local_poll(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e)
{
    local_backend *lb = impl_of(b);
    /* A missing spool means lost jobs (answered per job); an unreadable one
     * means we know nothing this tick. */
    if (access(lb->jobs_dir, R_OK | X_OK) < 0 && errno != ENOENT)
        return sh_err_set(e, SH_EUNAVAIL, "local backend %s: cannot read spool dir %s: %s", b->name,
                          lb->jobs_dir, strerror(errno));
    for (size_t i = 0; i < n; i++)
        poll_one(lb, &refs[i], &out[i]);
    return 0;
}

/* --- cancel, adoption, files ---------------------------------------------- */

/* SIGTERM to the wrapper, which forwards it to the task's group and escalates
 * to SIGKILL after the grace period, then records the job as cancelled.  With
 * the wrapper gone nobody can escalate or record anything, so an orphaned
 * group is killed outright (poll then reports the job LOST). */
static int local_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    local_backend *lb = impl_of(b);
    if (!ref->tag || !*ref->tag)
        return sh_err_set(e, SH_EINVAL, "local backend %s: cannot cancel job %s without its tag",
                          b->name, ref->job_id ? ref->job_id : "?");
    char *jobdir = job_dir(lb, ref->tag);
    char *result = local_spool_path(jobdir, LOCAL_RESULT_FILE);
    pid_t pid = parse_job_id(ref->job_id);
    int64_t recorded = 0, pgid = 0;
    if (!pid && local_spool_read_int(jobdir, LOCAL_PID_FILE, &recorded) == 0)
        pid = (pid_t)recorded;
    if (fs_exists(result)) {
        /* already finished */
    } else if (wrapper_alive(pid, jobdir)) {
        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
            log_warn("local: cancel of job %s (%s): kill: %s", ref->tag, ref->job_id,
                     strerror(errno));
    } else if (local_spool_read_int(jobdir, LOCAL_PGID_FILE, &pgid) == 0 &&
               task_group_alive((pid_t)pgid, pid)) {
        kill(-(pid_t)pgid, SIGKILL);
    }
    free(result);
    free(jobdir);
    return 0;
}

static int local_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
{
    local_backend *lb = impl_of(b);
    char *jobdir = job_dir(lb, tag);
    int64_t pid = 0;
    int found = 0;
    *job_id = NULL;
    if (local_spool_read_int(jobdir, LOCAL_PID_FILE, &pid) == 0) {
        if (pid > 0) {
            *job_id = format_job_id(pid);
            found = 1;
        }
    } else if (errno != ENOENT && errno != ENOTDIR && errno != EINVAL) {
        sh_err_set(e, SH_EUNAVAIL, "local backend %s: cannot read the spool of %s (%s): %s",
                   b->name, tag, jobdir, strerror(errno));
        found = -1;
    }
    free(jobdir);
    return found;
}

static int read_local_file(const char *path, size_t tail_bytes, char **out, size_t *len, sh_err *e)
{
    if (fs_read_tail(path, tail_bytes, out, len) == 0)
        return 0;
    if (errno == ENOENT || errno == ENOTDIR)
        return sh_err_set(e, SH_ENOTFOUND, "file %s does not exist", path);
    return sh_err_set(e, SH_EINTERNAL, "cannot read %s: %s", path, strerror(errno));
}

static int local_read_log(backend *b, const char *path, size_t tail_bytes, char **out, size_t *len,
                          sh_err *e)
{
    return read_local_file(path, tail_bytes, out, len, e);
}

static int local_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return read_local_file(path, 0, out, len, e);
}

static void local_destroy(backend *b)
{
    local_backend *lb = impl_of(b);
    if (!lb)
        return;
    free(lb->jobs_dir);
    free(lb->self_exe);
    free(lb);
    b->impl = NULL;
}

static const struct backend_ops local_ops = {
    .type = "local",
    .submit = local_submit,
    .poll = local_poll,
    .cancel = local_cancel,
    .find_by_tag = local_find_by_tag,
    .read_log = local_read_log,
    .read_file = local_read_file,
    .destroy = local_destroy,
};

int backend_local_init(backend *b, sh_err *e)
{
    if (!b->data_dir || !*b->data_dir)
        return sh_err_set(e, SH_EINVAL, "local backend %s: no data dir", b->name);
    local_backend *lb = xcalloc(1, sizeof *lb);
    char *data_dir = fs_absolute(b->data_dir, NULL);
    lb->jobs_dir = xasprintf("%s/local/jobs", data_dir);
    free(data_dir);
    /* Tests run a test binary, not scripthut, so they point this at the real one. */
    const char *self = getenv("SCRIPTHUT_SELF_EXE");
    lb->self_exe = xstrdup(self && *self ? self : "/proc/self/exe");
    lb->login_shell = json_is_true(json_object_get(b->config, "login_shell"));
    b->impl = lb;
    b->ops = &local_ops;
    b->tr = transport_local_new();
    return 0;
}

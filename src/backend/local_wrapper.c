/* local_wrapper.c - `scripthut __job-wrapper JOBDIR`: the small supervisor the
 * local backend starts around each job.
 *
 * Why a wrapper process instead of running the script directly from the
 * engine: the job must outlive the engine (a restarted engine re-adopts it
 * from the spool), a Ctrl-C in the user's terminal must never reach it, its
 * time limit must be enforced while no engine runs, and how it ended must be
 * written down by someone who can waitpid() it.  The wrapper is that someone:
 *
 *   1. setsid (new session, no controlling terminal), record its pid;
 *   2. fork the task: a new process group running /bin/bash script.sh with
 *      stdout/stderr appended to the task's log files;
 *   3. wait, enforcing the time limit, and turning SIGTERM/SIGINT to itself
 *      (how the backend cancels) into SIGTERM to the task's group, SIGKILL
 *      after a grace period;
 *   4. SIGKILL what is left of the group, then write result.json.
 *
 * Signals are never handled asynchronously: they stay blocked (the backend
 * spawns the wrapper with them blocked, so a cancel that arrives before the
 * wrapper is ready is not lost) and are collected with sigtimedwait. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, close_range, POSIX_SPAWN_SETSID, addclosefrom_np */
#endif
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "backend/backend.h"
#include "backend/local_spool.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* How long to wait for SIGKILLed stragglers to be reaped before writing the
 * result anyway (a process that left the group with setsid is not ours). */
#define STRAGGLER_REAP_MS 2000

/* Exit code of a task that could not be started (like a shell's "not found"). */
#define TASK_START_FAILED 127

typedef struct wrapper_job {
    char *script_path;
    char *working_dir; /* "~" already expanded */
    char *out_path;
    char *err_path;
    int64_t time_limit_s;
    bool login_shell;
} wrapper_job;

typedef struct wrapper_result {
    int exit_code;   /* -1 when the task was killed by a signal or never ran */
    int term_signal; /* 0 when none */
    bool timed_out;
    bool cancelled;
    int64_t started_at_us;
    int64_t finished_at_us;
    char error[1024]; /* why the task could not be started; "" when it could */
} wrapper_result;

static void wrapper_job_free(wrapper_job *job)
{
    free(job->script_path);
    free(job->working_dir);
    free(job->out_path);
    free(job->err_path);
}

static int load_job(const char *jobdir, wrapper_job *job, char *err, size_t errlen)
{
    char *path = local_spool_path(jobdir, LOCAL_JOB_FILE);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "cannot read %s: %s", path, jerr.text);
        free(path);
        return -1;
    }
    const char *script = NULL, *wd = NULL, *out = NULL, *errp = NULL;
    json_int_t limit = 0;
    int login = 0;
    if (json_unpack_ex(root, &jerr, 0, "{s:s, s:s, s:s, s:s, s?I, s?b}", "script", &script,
                       "working_dir", &wd, "out_path", &out, "err_path", &errp, "time_limit_s",
                       &limit, "login_shell", &login) < 0) {
        snprintf(err, errlen, "invalid %s: %s", path, jerr.text);
        json_decref(root);
        free(path);
        return -1;
    }
    job->script_path = xstrdup(script);
    job->working_dir = fs_expand_home(wd);
    job->out_path = xstrdup(out);
    job->err_path = xstrdup(errp);
    job->time_limit_s = limit;
    job->login_shell = login != 0;
    json_decref(root);
    free(path);
    return 0;
}

/* --- the task child (between fork and exec) ------------------------------- */

/* Tells the wrapper why the task could not start (the pipe is close-on-exec,
 * so EOF without a message means exec succeeded) and exits. */
static void __attribute__((noreturn, format(printf, 2, 3)))
child_fail(int errpipe, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof msg - 1)
        n = (int)sizeof msg - 1;
    /* fd 2 is the err log once it is open; before that it is /dev/null. */
    ssize_t ignored = write(2, "scripthut: ", 11);
    ignored = write(2, msg, (size_t)n);
    ignored = write(2, "\n", 1);
    ignored = write(errpipe, msg, (size_t)n);
    (void)ignored;
    _exit(TASK_START_FAILED);
}

static void child_reset_signals(void)
{
    static const int sigs[] = {SIGINT,  SIGQUIT, SIGTERM, SIGHUP,  SIGPIPE,
                               SIGCHLD, SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_open_log(int target_fd, const char *path, int errpipe)
{
    char *dir = fs_dirname(path);
    if (fs_mkdir_p(dir, 0755) < 0)
        child_fail(errpipe, "cannot create the log directory '%s': %s", dir, strerror(errno));
    free(dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        child_fail(errpipe, "cannot open the log file '%s': %s", path, strerror(errno));
    if (dup2(fd, target_fd) < 0)
        child_fail(errpipe, "dup2 of '%s': %s", path, strerror(errno));
    close(fd);
}

static void __attribute__((noreturn)) run_task_child(const wrapper_job *job, int errpipe)
{
    /* Own process group: the unit that timeouts and cancels kill. */
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0)
        child_fail(errpipe, "cannot open /dev/null: %s", strerror(errno));
    close(devnull);
    child_open_log(1, job->out_path, errpipe);
    child_open_log(2, job->err_path, errpipe);
    if (chdir(job->working_dir) < 0)
        child_fail(errpipe, "cannot change to the working directory '%s': %s", job->working_dir,
                   strerror(errno));
    /* Unblock last: a cancel that is already pending now kills us, as it should. */
    child_reset_signals();
    char *argv[4];
    int i = 0;
    argv[i++] = "bash";
    if (job->login_shell)
        argv[i++] = "-l";
    argv[i++] = job->script_path;
    argv[i] = NULL;
    execv("/bin/bash", argv);
    child_fail(errpipe, "cannot execute /bin/bash: %s", strerror(errno));
}

/* --- supervision ---------------------------------------------------------- */

typedef struct supervisor {
    pid_t child;
    pid_t pgid;
    sigset_t waited;           /* blocked signals collected with sigtimedwait */
    int64_t limit_deadline_ms; /* 0 = no time limit */
    int64_t kill_deadline_ms;  /* 0 = not stopping */
    bool killed;
    wrapper_result *res;
} supervisor;

static void begin_stop(supervisor *s, int64_t now_ms)
{
    if (s->kill_deadline_ms)
        return;
    kill(-s->pgid, SIGTERM);
    s->kill_deadline_ms = now_ms + LOCAL_KILL_GRACE_MS;
}

/* Reaps every exited child (the task, and, since we are a subreaper, orphans
 * of the task).  Returns true once the task itself has been reaped. */
static bool reap_children(supervisor *s, bool *task_done)
{
    for (;;) {
        int status;
        pid_t r = waitpid(-1, &status, WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECHILD && !*task_done) {
            /* Reaped behind our back (SIGCHLD ignored): the status is lost. */
            snprintf(s->res->error, sizeof s->res->error,
                     "the task's exit status was lost (SIGCHLD ignored?)");
            *task_done = true;
        }
        if (r <= 0)
            return *task_done;
        if (r != s->child)
            continue;
        *task_done = true;
        if (WIFEXITED(status)) {
            s->res->exit_code = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            s->res->exit_code = -1;
            s->res->term_signal = WTERMSIG(status);
        }
    }
}

static int64_t next_wakeup_ms(const supervisor *s, int64_t now_ms)
{
    /* Wake at least once a second: a lost SIGCHLD must not hang us. */
    int64_t wake = now_ms + 1000;
    if (s->limit_deadline_ms && !s->kill_deadline_ms && s->limit_deadline_ms < wake)
        wake = s->limit_deadline_ms;
    if (s->kill_deadline_ms && !s->killed && s->kill_deadline_ms < wake)
        wake = s->kill_deadline_ms;
    return wake > now_ms ? wake - now_ms : 0;
}

static void supervise(supervisor *s)
{
    bool task_done = false;
    while (!reap_children(s, &task_done)) {
        int64_t now = time_monotonic_ms();
        if (s->limit_deadline_ms && !s->kill_deadline_ms && now >= s->limit_deadline_ms) {
            s->res->timed_out = true;
            begin_stop(s, now);
        }
        if (s->kill_deadline_ms && !s->killed && now >= s->kill_deadline_ms) {
            kill(-s->pgid, SIGKILL);
            s->killed = true;
        }
        int64_t wait_ms = next_wakeup_ms(s, now);
        struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&s->waited, NULL, &ts);
        if ((sig == SIGTERM || sig == SIGINT) && !s->kill_deadline_ms) {
            s->res->cancelled = true;
            begin_stop(s, time_monotonic_ms());
        }
        /* SIGCHLD, SIGHUP, EAGAIN (timeout), EINTR: just loop. */
    }
}

/* The task's leader is gone; whatever else is left in its group would run on
 * unsupervised (and keep the log files open), so it goes too.  We are the
 * subreaper of those processes, so they are reaped here and the group is
 * really empty when the result says the job finished. */
static void kill_stragglers(pid_t pgid)
{
    if (kill(-pgid, SIGKILL) < 0)
        return;
    int64_t deadline = time_monotonic_ms() + STRAGGLER_REAP_MS;
    while (time_monotonic_ms() < deadline) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (kill(-pgid, 0) < 0 && errno == ESRCH)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int write_result(const char *jobdir, const wrapper_result *res)
{
    json_t *root = json_pack("{s:i, s:i, s:b, s:b, s:I, s:I}", "exit_code", res->exit_code,
                             "signal", res->term_signal, "timed_out", res->timed_out, "cancelled",
                             res->cancelled, "started_at_us", (json_int_t)res->started_at_us,
                             "finished_at_us", (json_int_t)res->finished_at_us);
    if (res->error[0])
        json_object_set_new(root, "error", json_string(res->error));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    char *path = local_spool_path(jobdir, LOCAL_RESULT_FILE);
    int rc = fs_write_atomic(path, text, strlen(text), 0644);
    int saved = errno;
    free(path);
    free(text);
    errno = saved;
    return rc;
}

/* A full disk (or quota) must not turn a finished task into a lost one: the
 * engine reads "wrapper gone, no result" as a crash and fails the task.  So
 * the wrapper stays alive (the task shows as running) and retries until
 * space comes back, for at most a day. */
#define RESULT_RETRY_INTERVAL_S 1
#define RESULT_RETRY_MAX_MS (24LL * 3600 * 1000)

static int write_result_patiently(const char *jobdir, const wrapper_result *res)
{
    long long deadline = (long long)time_monotonic_ms() + RESULT_RETRY_MAX_MS;
    for (;;) {
        if (write_result(jobdir, res) == 0)
            return 0;
        if ((errno != ENOSPC && errno != EDQUOT) || (long long)time_monotonic_ms() > deadline)
            return -1;
        struct timespec ts = {RESULT_RETRY_INTERVAL_S, 0};
        nanosleep(&ts, NULL);
    }
}

/* Reads the child's start-failure message (empty when exec succeeded). */
static void read_start_error(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
}

/* Forks the task and records its group.  -1 with res->error set on failure. */
static int start_task(const char *jobdir, const wrapper_job *job, supervisor *s)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(s->res->error, sizeof s->res->error, "cannot start the task: pipe: %s",
                 strerror(errno));
        return -1;
    }
    s->res->started_at_us = time_now_us();
    local_spool_write_int(jobdir, LOCAL_STARTED_FILE, s->res->started_at_us);
    pid_t child = fork();
    if (child < 0) {
        snprintf(s->res->error, sizeof s->res->error, "cannot start the task: fork: %s",
                 strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (child == 0) {
        close(pipefd[0]);
        run_task_child(job, pipefd[1]);
    }
    close(pipefd[1]);
    /* Also from this side, so kill(-pgid) works no matter who runs first. */
    setpgid(child, child);
    s->child = child;
    s->pgid = child;
    local_spool_write_int(jobdir, LOCAL_PGID_FILE, child);
    read_start_error(pipefd[0], s->res->error, sizeof s->res->error);
    close(pipefd[0]);
    return 0;
}

static void block_wrapper_signals(sigset_t *set)
{
    /* An inherited SIG_IGN would make the kernel reap the task for us and
     * lose its exit status. */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
    sigprocmask(SIG_BLOCK, set, NULL);
}

static void detach_from_caller(void)
{
    /* The backend spawns us with POSIX_SPAWN_SETSID already; when run by hand
     * setsid makes Ctrl-C in that terminal unable to reach the task. */
    setsid();
#ifdef __linux__
    /* Orphans of the task are re-parented to us, so we can reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Nothing of the engine's (database, sockets) may leak into the task. */
    close_range(3, ~0U, 0);
#endif
}

int local_job_wrapper_main(int argc, char **argv)
{
    if (argc != 2 || !argv[1][0]) {
        fprintf(stderr, "usage: scripthut %s JOBDIR\n", LOCAL_WRAPPER_ARG);
        return 2;
    }
    const char *jobdir = argv[1];
    sigset_t waited;
    block_wrapper_signals(&waited);
    detach_from_caller();
    local_spool_write_int(jobdir, LOCAL_PID_FILE, getpid());

    wrapper_result res = {.exit_code = -1};
    wrapper_job job = {0};
    supervisor s = {.waited = waited, .res = &res};
    if (load_job(jobdir, &job, res.error, sizeof res.error) == 0 &&
        start_task(jobdir, &job, &s) == 0) {
        if (job.time_limit_s > 0)
            s.limit_deadline_ms = time_monotonic_ms() + job.time_limit_s * 1000;
        supervise(&s);
        kill_stragglers(s.pgid);
    }
    if (!res.started_at_us)
        res.started_at_us = time_now_us();
    res.finished_at_us = time_now_us();
    wrapper_job_free(&job);
    return write_result_patiently(jobdir, &res) == 0 ? 0 : 1;
}

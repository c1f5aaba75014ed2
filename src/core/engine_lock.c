/* engine_lock.c - who drives the engine for a data dir, and how to wake it.
 *
 * The lock is an flock on <data_dir>/engine.lock (the data dir is local to
 * the machine that runs scripthut).  Wake-ups travel through a FIFO,
 * <data_dir>/engine.wake: the engine keeps it open for reading; a writer that
 * finds no reader (ENXIO) knows no engine is running. */
#include "core/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/sbuf.h"

extern char **environ;

static char *data_path(const char *data_dir, const char *name)
{
    return xasprintf("%s/%s", data_dir, name);
}

int engine_lock_acquire(const char *data_dir)
{
    if (fs_mkdir_p(data_dir, 0700) < 0)
        return -1;
    char *path = data_path(data_dir, "engine.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
        /* the pid is informational; the flock is what counts */
    }
    return fd;
}

void engine_lock_release(int fd, const char *data_dir)
{
    if (fd < 0)
        return;
    if (ftruncate(fd, 0) < 0) {
        /* informational only */
    }
    (void)data_dir;
    close(fd);
}

pid_t engine_lock_holder(const char *data_dir)
{
    char *path = data_path(data_dir, "engine.lock");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return 0;
    pid_t holder = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
        char buf[32] = {0};
        if (pread(fd, buf, sizeof buf - 1, 0) > 0)
            holder = (pid_t)atol(buf);
        if (holder <= 0)
            holder = -1; /* held, pid not yet written */
    }
    close(fd);
    return holder;
}

int engine_wake(const char *data_dir)
{
    char *path = data_path(data_dir, "engine.wake");
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return -1;
    /* EAGAIN means the pipe is full of wake-ups already: as good as a write. */
    ssize_t n = write(fd, "w", 1);
    close(fd);
    return n == 1 || errno == EAGAIN ? 0 : -1;
}

static const char *self_exe(void)
{
    const char *over = getenv("SCRIPTHUT_SELF_EXE");
    return over && *over ? over : "/proc/self/exe";
}

int engine_spawn_detached(const char *data_dir, double poll_interval, int retention_days, sh_err *e)
{
    char *log_path = data_path(data_dir, "engine.log");
    char interval[32], retention[32];
    snprintf(interval, sizeof interval, "%g", poll_interval);
    snprintf(retention, sizeof retention, "%d", retention_days);
    char *argv[] = {"scripthut",  "daemon",           "run",
                    "--data-dir", (char *)data_dir,   "--poll-interval",
                    interval,     "--retention-days", retention,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&attr);
    /* Its own session: the detached engine must not die with the caller's
     * terminal (Ctrl-C, hang-up). */
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid;
    int rc = posix_spawn(&pid, self_exe(), &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(log_path);
    if (rc != 0)
        return sh_err_set(e, SH_EINTERNAL, "cannot start the detached engine: %s", strerror(rc));
    return 0;
}

/* local.c - the transport to this machine: commands run under /bin/sh -c in
 * a process group of their own, files are read and written directly.
 *
 * The command's stdin is fed from memory and its stdout/stderr are captured
 * separately through one poll() loop, so a child that fills one pipe while we
 * write the other can never deadlock us.  On timeout the whole process group
 * is killed (a prep's `sleep` or a compiler must not outlive it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

extern char **environ;

void transport_free(transport *t)
{
    if (t && t->ops && t->ops->destroy)
        t->ops->destroy(t);
    free(t);
}

int transport_exec(transport *t, const char *command, const char *stdin_data, size_t stdin_len,
                   int timeout_ms, exec_result *r, sh_err *e)
{
    return t->ops->exec(t, command, stdin_data, stdin_len, timeout_ms, r, e);
}

/* --- spawning ----------------------------------------------------------- */

typedef struct local_child {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* our ends; -1 once closed */
} local_child;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int local_spawn(const char *command, local_child *c, sh_err *e)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        int saved = errno;
        for (int i = 0; i < 2; i++) {
            close_fd(&in[i]);
            close_fd(&out[i]);
            close_fd(&err[i]);
        }
        return sh_err_set(e, SH_EINTERNAL, "local transport: pipe: %s", strerror(saved));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_init(&attr);
    /* Its own process group, so a timeout can kill everything it started;
     * default signal dispositions, whatever the CLI installed. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    int rc = posix_spawn(&c->pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    if (rc != 0) {
        close_fd(&c->in_fd);
        close_fd(&c->out_fd);
        close_fd(&c->err_fd);
        return sh_err_set(e, SH_EINTERNAL, "local transport: cannot start /bin/sh: %s",
                          strerror(rc));
    }
    return 0;
}

/* Reads what is available on *fd into b; closes it at end of file. */
static void drain(int *fd, sbuf *b)
{
    char chunk[16384];
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n > 0)
        sbuf_append(b, chunk, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fd);
}

/* Writes the next part of stdin; closes it when all is written or the child
 * stopped reading (EPIPE: not our error, the exit status tells). */
static void feed(int *fd, const char *data, size_t len, size_t *off)
{
    ssize_t n = write(*fd, data + *off, len - *off);
    if (n > 0)
        *off += (size_t)n;
    else if (n < 0 && errno != EINTR && errno != EAGAIN)
        close_fd(fd);
    if (*off >= len)
        close_fd(fd);
}

/* Moves data until both outputs are closed or the deadline passes.
 * Returns false on timeout. */
static bool pump(local_child *c, const char *in, size_t in_len, int64_t deadline_ms, sbuf *out,
                 sbuf *err)
{
    size_t off = 0;
    if (!in || in_len == 0)
        close_fd(&c->in_fd);
    else
        fcntl(c->in_fd, F_SETFL, fcntl(c->in_fd, F_GETFL) | O_NONBLOCK);
    while (c->out_fd >= 0 || c->err_fd >= 0) {
        struct pollfd p[3] = {
            {c->out_fd, POLLIN, 0}, {c->err_fd, POLLIN, 0}, {c->in_fd, POLLOUT, 0}};
        int wait_ms = -1;
        if (deadline_ms) {
            int64_t left = deadline_ms - time_monotonic_ms();
            if (left <= 0)
                return false;
            wait_ms = left > 1000000 ? 1000000 : (int)left;
        }
        int n = poll(p, 3, wait_ms);
        if (n < 0 && errno != EINTR)
            return true; /* cannot wait on pipes: let waitpid decide */
        if (n <= 0)
            continue;
        if (p[0].revents)
            drain(&c->out_fd, out);
        if (p[1].revents)
            drain(&c->err_fd, err);
        if (p[2].revents & (POLLERR | POLLHUP))
            close_fd(&c->in_fd);
        else if (p[2].revents & POLLOUT)
            feed(&c->in_fd, in, in_len, &off);
    }
    return true;
}

static void local_result(int status, bool timed_out, exec_result *r)
{
    r->timed_out = timed_out;
    if (!timed_out && WIFEXITED(status)) {
        r->exit_status = WEXITSTATUS(status);
    } else {
        r->exit_status = -1;
        r->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
}

static int local_exec(transport *t, const char *command, const char *stdin_data, size_t stdin_len,
                      int timeout_ms, exec_result *r, sh_err *e)
{
    (void)t;
    memset(r, 0, sizeof *r);
    local_child c = {0, -1, -1, -1};
    if (local_spawn(command, &c, e) < 0)
        return -1;
    /* A child that exits without reading its stdin must not kill us: block
     * SIGPIPE in this thread (not process-wide: the server has threads) and
     * swallow the one our write raised. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    int64_t deadline = timeout_ms > 0 ? time_monotonic_ms() + timeout_ms : 0;
    sbuf out = SBUF_INIT, err = SBUF_INIT;
    bool finished = pump(&c, stdin_data, stdin_len, deadline, &out, &err);
    if (!finished)
        kill(-c.pid, SIGKILL);
    close_fd(&c.in_fd);
    close_fd(&c.out_fd);
    close_fd(&c.err_fd);
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR)
        ;
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    local_result(status, !finished, r);
    r->out_len = out.len;
    r->err_len = err.len;
    r->out = out.data ? sbuf_detach(&out) : xstrdup("");
    r->err = err.data ? sbuf_detach(&err) : xstrdup("");
    return 0;
}

/* --- files ---------------------------------------------------------------- */

static int local_read_file(transport *t, const char *path, size_t tail_bytes, char **out,
                           size_t *len, sh_err *e)
{
    (void)t;
    char *p = fs_expand_home(path);
    int rc = fs_read_tail(p, tail_bytes, out, len);
    int saved = errno;
    free(p);
    if (rc == 0)
        return 0;
    return sh_err_set(e, saved == ENOENT ? SH_ENOTFOUND : SH_EINTERNAL, "cannot read %s: %s", path,
                      strerror(saved));
}

static int local_write_file(transport *t, const char *path, const char *data, size_t len, int mode,
                            sh_err *e)
{
    (void)t;
    char *p = fs_expand_home(path);
    char *dir = fs_dirname(p);
    int rc = fs_mkdir_p(dir, 0755);
    if (rc == 0)
        rc = fs_write_atomic(p, data, len, (mode_t)mode);
    int saved = errno;
    free(dir);
    free(p);
    if (rc == 0)
        return 0;
    return sh_err_set(e, SH_EINTERNAL, "cannot write %s: %s", path, strerror(saved));
}

static json_t *local_describe(transport *t)
{
    (void)t;
    return json_pack("{s:s,s:s}", "kind", "local", "state", "connected");
}

static void local_destroy(transport *t)
{
    (void)t;
}

static const struct transport_ops local_transport_ops = {
    .kind = "local",
    .exec = local_exec,
    .read_file = local_read_file,
    .write_file = local_write_file,
    .describe = local_describe,
    .destroy = local_destroy,
};

transport *transport_local_new(void)
{
    transport *t = xcalloc(1, sizeof *t);
    t->ops = &local_transport_ops;
    return t;
}

/* ssh.c - the SSH transport's operations: exec over one reused session,
 * files through cat/tail/mv on the remote side, reconnect with backoff, and a
 * command log for `backend list --json`.
 *
 * One mutex serialises the session (libssh2 sessions are not thread-safe and
 * the engine, the HTTP server and a CLI may share a backend).  A command that
 * fails because the session went stale between commands (the server dropped
 * us while idle) is retried once on a fresh session, but only when the
 * failure happened before the command reached the server: a command that may
 * have run is never run twice (sbatch!). */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport/ssh_config.h"
#include "transport/ssh_internal.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define SSH_LOG_SIZE 50     /* commands kept for `backend list --json` */
#define SSH_LOG_CMD_MAX 240 /* characters of a command kept in the log */
#define SSH_BACKOFF_MAX_MS 60000
#define SSH_EXIT_NOT_FOUND 44 /* our read_file's "no such file" exit status */

typedef struct ssh_log_entry {
    int64_t at_us;
    int64_t duration_ms;
    char command[SSH_LOG_CMD_MAX + 4];
    int exit_status;
    int term_signal;
    bool timed_out;
    char error[256];
    size_t in_bytes, out_bytes, err_bytes;
} ssh_log_entry;

typedef struct ssh_transport {
    ssh_settings s; /* strings owned (see settings_copy) */
    pthread_mutex_t mu;
    ssh_conn c;
    bool connected, ever_connected;
    int64_t connected_since_us;
    char last_error[1024];
    int64_t last_error_us;
    int64_t retry_at_ms; /* no connection attempt before this (backoff) */
    int backoff_ms;
    /* counters */
    long commands, failed, timeouts, connects, connect_failures, drops;
    long long stdin_bytes, stdout_bytes, stderr_bytes;
    int64_t last_command_us;
    ssh_log_entry log[SSH_LOG_SIZE];
    size_t log_next, log_count;
} ssh_transport;

/* --- settings ----------------------------------------------------------------------- */

static void settings_copy(ssh_settings *dst, const ssh_settings *src)
{
    *dst = *src;
    dst->label = xstrdup(src->label ? src->label : "?");
    dst->host = xstrdup(src->host);
    dst->host_alias = xstrdup(src->host_alias ? src->host_alias : src->host);
    dst->user = xstrdup(src->user);
    dst->key_path = xstrdup(src->key_path);
    dst->passphrase_env = xstrdup(src->passphrase_env);
    dst->known_hosts = xstrdup(src->known_hosts);
    dst->jump = xstrdup(src->jump);
    if (dst->port <= 0)
        dst->port = 22;
    if (dst->connect_timeout_ms <= 0)
        dst->connect_timeout_ms = 15000;
}

static void settings_free(ssh_settings *s)
{
    free((char *)s->label);
    free((char *)s->host);
    free((char *)s->host_alias);
    free((char *)s->user);
    free((char *)s->key_path);
    free((char *)s->passphrase_env);
    free((char *)s->known_hosts);
    free((char *)s->jump);
}

/* --- the command log ------------------------------------------------------------------ */

/* Only the command line is kept: scripts and file contents travel on stdin
 * and are never logged (they may hold tokens or keys). */
static void log_command(ssh_transport *st, const char *cmd, int64_t started_ms, size_t in_bytes,
                        const exec_result *r, const char *error)
{
    ssh_log_entry *le = &st->log[st->log_next];
    st->log_next = (st->log_next + 1) % SSH_LOG_SIZE;
    if (st->log_count < SSH_LOG_SIZE)
        st->log_count++;
    memset(le, 0, sizeof *le);
    le->at_us = st->last_command_us = time_now_us();
    st->stdin_bytes += (long long)in_bytes;
    if (r) {
        st->stdout_bytes += (long long)r->out_len;
        st->stderr_bytes += (long long)r->err_len;
    }
    le->duration_ms = time_monotonic_ms() - started_ms;
    size_t n = strlen(cmd);
    memcpy(le->command, cmd, n > SSH_LOG_CMD_MAX ? SSH_LOG_CMD_MAX : n);
    if (n > SSH_LOG_CMD_MAX)
        strcpy(le->command + SSH_LOG_CMD_MAX, "...");
    le->in_bytes = in_bytes;
    if (r) {
        le->exit_status = r->exit_status;
        le->term_signal = r->term_signal;
        le->timed_out = r->timed_out;
        le->out_bytes = r->out_len;
        le->err_bytes = r->err_len;
    } else {
        le->exit_status = -1;
    }
    if (error)
        snprintf(le->error, sizeof le->error, "%s", error);
}

static void remember_error(ssh_transport *st, const char *msg)
{
    snprintf(st->last_error, sizeof st->last_error, "%s", msg);
    st->last_error_us = time_now_us();
}

/* --- connection management ---------------------------------------------------------- */

static void drop_session(ssh_transport *st, const char *why)
{
    if (!st->connected)
        return;
    ssh_conn_close(&st->c);
    st->connected = false;
    st->drops++;
    log_warn("backend %s: ssh %s: session closed (%s); a new one opens on the next command",
             st->s.label, ssh_where(&st->s), why);
}

/* True when the kernel already knows the peer closed the connection (sshd
 * restarted or killed): then we reconnect before sending anything, rather
 * than start a command on a dead session and not know whether it ran. */
static bool socket_closed_by_peer(int sock)
{
    struct pollfd p = {sock, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLERR | POLLHUP))
        return true;
    char c;
    ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int ensure_connected(ssh_transport *st, sh_err *e)
{
    if (st->connected && socket_closed_by_peer(st->c.sock))
        drop_session(st, "the server closed the connection");
    if (st->connected)
        return 0;
    int64_t now = time_monotonic_ms();
    if (now < st->retry_at_ms)
        return sh_err_set(e, SH_EUNAVAIL, "%s (next connection attempt in %lld s)", st->last_error,
                          (long long)((st->retry_at_ms - now + 999) / 1000));
    if (ssh_conn_open(&st->s, now + st->s.connect_timeout_ms, &st->c, e) < 0) {
        st->connect_failures++;
        /* Back off 1, 2, 4 ... 60 s: a host that is down or refuses our key
         * is not hammered every tick, and the engine stays responsive. */
        st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : 1000;
        if (st->backoff_ms > SSH_BACKOFF_MAX_MS)
            st->backoff_ms = SSH_BACKOFF_MAX_MS;
        st->retry_at_ms = time_monotonic_ms() + st->backoff_ms;
        remember_error(st, e->msg);
        return -1;
    }
    if (st->ever_connected)
        log_info("backend %s: ssh %s: reconnected", st->s.label, ssh_where(&st->s));
    st->connected = st->ever_connected = true;
    st->connects++;
    st->backoff_ms = 0;
    st->retry_at_ms = 0;
    st->connected_since_us = time_now_us();
    return 0;
}

/* --- exec ------------------------------------------------------------------------------ */

typedef enum run_outcome {
    RUN_DONE,      /* the command ran; r is filled */
    RUN_TIMED_OUT, /* deadline passed; r has what arrived */
    RUN_STALE,     /* failed before the command reached the server: safe to retry */
    RUN_BROKEN,    /* the session failed while the command may have run */
} run_outcome;

static const char *sess_error(ssh_transport *st)
{
    char *msg = NULL;
    libssh2_session_last_error(st->c.sess, &msg, NULL, 0);
    return msg && *msg ? msg : "connection error";
}

static LIBSSH2_CHANNEL *open_channel(ssh_transport *st, int64_t deadline)
{
    LIBSSH2_CHANNEL *ch;
    while (!(ch = libssh2_channel_open_session(st->c.sess)) &&
           libssh2_session_last_errno(st->c.sess) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(st->c.sess, st->c.sock, deadline) < 0)
            break;
    return ch;
}

/* Moves stdin in and stdout/stderr out until the remote side closes its
 * output.  0, 1 on timeout, -1 on a session error. */
static int pump_channel(ssh_transport *st, LIBSSH2_CHANNEL *ch, const char *in, size_t in_len,
                        int64_t deadline, sbuf *out, sbuf *err)
{
    LIBSSH2_SESSION *sess = st->c.sess;
    size_t off = 0;
    bool eof_sent = false;
    char buf[32768];
    for (;;) {
        bool progress = false;
        bool remote_eof = libssh2_channel_eof(ch);
        if (!remote_eof && off < in_len) {
            ssize_t n = libssh2_channel_write(ch, in + off, in_len - off);
            if (n > 0) {
                off += (size_t)n;
                progress = true;
            } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
                return -1;
            }
        }
        if (!eof_sent && (off >= in_len || remote_eof)) {
            int rc = libssh2_channel_send_eof(ch);
            if (rc == 0)
                eof_sent = true;
            else if (rc != LIBSSH2_ERROR_EAGAIN && !remote_eof)
                return -1;
            else if (remote_eof)
                eof_sent = true; /* the peer is done; nothing more to send */
        }
        ssize_t n1, n2;
        while ((n1 = libssh2_channel_read(ch, buf, sizeof buf)) > 0) {
            sbuf_append(out, buf, (size_t)n1);
            progress = true;
        }
        while ((n2 = libssh2_channel_read_stderr(ch, buf, sizeof buf)) > 0) {
            sbuf_append(err, buf, (size_t)n2);
            progress = true;
        }
        if ((n1 < 0 && n1 != LIBSSH2_ERROR_EAGAIN) || (n2 < 0 && n2 != LIBSSH2_ERROR_EAGAIN))
            return -1;
        if (remote_eof && n1 == 0 && n2 == 0)
            return 0;
        if (libssh2_channel_eof(ch) && n1 <= 0 && n2 <= 0 && !progress)
            continue; /* drain once more after EOF */
        if (!progress && ssh_conn_wait(sess, st->c.sock, deadline) < 0)
            return 1;
    }
}

/* Closes the channel (bounded) and reads how the command ended. */
static bool finish_channel(ssh_transport *st, LIBSSH2_CHANNEL *ch, int64_t limit, bool want_status,
                           exec_result *r)
{
    LIBSSH2_SESSION *sess = st->c.sess;
    int rc;
    bool ok = true;
    while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(sess, st->c.sock, limit) < 0)
            break;
    if (rc == 0)
        while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
            if (ssh_conn_wait(sess, st->c.sock, limit) < 0)
                break;
    if (rc != 0)
        ok = false;
    if (want_status) {
        char *sig = NULL;
        size_t siglen = 0;
        libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL);
        if (sig) {
            r->exit_status = -1;
            r->term_signal = ssh_signal_number(sig);
            libssh2_free(sess, sig);
        } else {
            r->exit_status = libssh2_channel_get_exit_status(ch);
        }
    }
    while ((rc = libssh2_channel_free(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(sess, st->c.sock, limit) < 0)
            break;
    return ok;
}

static run_outcome run_once(ssh_transport *st, const char *cmd, const char *in, size_t in_len,
                            int64_t deadline, exec_result *r, char *why, size_t why_len)
{
    LIBSSH2_CHANNEL *ch = open_channel(st, deadline);
    if (!ch) {
        snprintf(why, why_len, "cannot open a channel: %s", sess_error(st));
        return RUN_STALE;
    }
    int rc;
    while ((rc = libssh2_channel_exec(ch, cmd)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(st->c.sess, st->c.sock, deadline) < 0)
            break;
    if (rc == LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED) {
        /* The server said no: the command did not start. */
        snprintf(why, why_len, "the server refused to start the command: %s", sess_error(st));
        libssh2_channel_free(ch);
        return RUN_STALE;
    }
    if (rc != 0) {
        snprintf(why, why_len, "cannot start the command: %s",
                 rc == LIBSSH2_ERROR_EAGAIN ? "timed out" : sess_error(st));
        libssh2_channel_free(ch);
        return RUN_BROKEN;
    }
    sbuf out = SBUF_INIT, err = SBUF_INIT;
    int p = pump_channel(st, ch, in, in_len, deadline, &out, &err);
    run_outcome outcome = RUN_DONE;
    if (p < 0) {
        snprintf(why, why_len, "connection lost during the command: %s", sess_error(st));
        outcome = RUN_BROKEN;
        libssh2_channel_free(ch);
    } else {
        /* After a timeout, give the close a second; the deadline is gone. */
        int64_t limit = p == 1 ? time_monotonic_ms() + 1000 : time_monotonic_ms() + 10000;
        bool closed = finish_channel(st, ch, limit, p == 0, r);
        if (p == 1) {
            outcome = RUN_TIMED_OUT;
            r->timed_out = true;
            r->exit_status = -1;
            if (!closed)
                snprintf(why, why_len, "the channel of a timed-out command did not close");
        } else if (!closed) {
            /* The output is complete but the exit status may not be: treat
             * as a broken session rather than invent a status. */
            snprintf(why, why_len, "connection lost while closing the command: %s", sess_error(st));
            outcome = RUN_BROKEN;
        }
    }
    r->out_len = out.len;
    r->err_len = err.len;
    r->out = out.data ? sbuf_detach(&out) : xstrdup("");
    r->err = err.data ? sbuf_detach(&err) : xstrdup("");
    return outcome;
}

static int ssh_exec(transport *t, const char *command, const char *stdin_data, size_t stdin_len,
                    int timeout_ms, exec_result *r, sh_err *e)
{
    ssh_transport *st = t->impl;
    memset(r, 0, sizeof *r);
    if (!stdin_data)
        stdin_len = 0;
    pthread_mutex_lock(&st->mu);
    int64_t started = time_monotonic_ms();
    if (timeout_ms <= 0)
        timeout_ms = st->s.command_timeout_ms;
    int64_t deadline = timeout_ms > 0 ? started + timeout_ms : 0;
    st->commands++;
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure_connected(st, e) < 0) {
            log_command(st, command, started, stdin_len, NULL, e->msg);
            break;
        }
        char why[512] = "";
        run_outcome o = run_once(st, command, stdin_data, stdin_len, deadline, r, why, sizeof why);
        if (o == RUN_DONE || o == RUN_TIMED_OUT) {
            if (o == RUN_TIMED_OUT) {
                st->timeouts++;
                if (why[0])
                    drop_session(st, why);
            }
            log_command(st, command, started, stdin_len, r,
                        o == RUN_TIMED_OUT ? "timed out" : NULL);
            rc = 0;
            break;
        }
        exec_result_free(r);
        memset(r, 0, sizeof *r);
        drop_session(st, why);
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': ssh %s: %s (command: %.80s)", st->s.label,
                   ssh_where(&st->s), why, command);
        remember_error(st, e->msg);
        if (o == RUN_BROKEN || attempt == 1) {
            log_command(st, command, started, stdin_len, NULL, why);
            break;
        }
        /* RUN_STALE: the command never reached the server; one retry. */
    }
    if (rc < 0)
        st->failed++;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* --- files ------------------------------------------------------------------------------ */

static int ssh_read_file(transport *t, const char *path, size_t tail_bytes, char **out, size_t *len,
                         sh_err *e)
{
    ssh_transport *st = t->impl;
    char *q = shell_quote_path_expand_prefix(path);
    char *cmd = tail_bytes ? xasprintf("f=%s; [ -e \"$f\" ] || exit %d; exec tail -c %zu -- \"$f\"",
                                       q, SSH_EXIT_NOT_FOUND, tail_bytes)
                           : xasprintf("f=%s; [ -e \"$f\" ] || exit %d; exec cat -- \"$f\"", q,
                                       SSH_EXIT_NOT_FOUND);
    free(q);
    exec_result r;
    int rc = ssh_exec(t, cmd, NULL, 0, 0, &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    if (r.exit_status == 0) {
        *out = r.out;
        *len = r.out_len;
        r.out = NULL;
        exec_result_free(&r);
        return 0;
    }
    if (r.exit_status == SSH_EXIT_NOT_FOUND)
        sh_err_set(e, SH_ENOTFOUND, "%s: no such file on %s (backend '%s')", path, st->s.host,
                   st->s.label);
    else
        sh_err_set(e, SH_EINTERNAL, "cannot read %s on %s (backend '%s'): %s%s", path, st->s.host,
                   st->s.label, r.timed_out ? "timed out " : "", r.err ? r.err : "");
    exec_result_free(&r);
    return -1;
}

static int ssh_write_file(transport *t, const char *path, const char *data, size_t len, int mode,
                          sh_err *e)
{
    ssh_transport *st = t->impl;
    char *q = shell_quote_path_expand_prefix(path);
    /* Temp file + rename: a reader sees the old or the new content. */
    char *cmd = xasprintf("f=%s; d=$(dirname -- \"$f\") && mkdir -p -- \"$d\" && "
                          "t=\"$f.tmp.$$\" && cat > \"$t\" && chmod %o \"$t\" && "
                          "mv -f -- \"$t\" \"$f\"",
                          q, (unsigned)mode);
    free(q);
    exec_result r;
    int rc = ssh_exec(t, cmd, data, len, 0, &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    if (r.exit_status != 0)
        rc = sh_err_set(e, SH_EINTERNAL, "cannot write %s on %s (backend '%s'): %s", path,
                        st->s.host, st->s.label, r.err ? r.err : "");
    exec_result_free(&r);
    return rc;
}

/* --- describe ------------------------------------------------------------------------- */

static json_t *iso_or_null(int64_t us)
{
    char buf[ISO8601_LEN];
    return us ? json_string(time_format_iso(us, buf)) : json_null();
}

static json_t *ssh_describe(transport *t)
{
    ssh_transport *st = t->impl;
    pthread_mutex_lock(&st->mu);
    const char *state = st->connected                                  ? "connected"
                        : !st->ever_connected && !st->connect_failures ? "not connected yet"
                                                                       : "disconnected";
    json_t *log = json_array();
    for (size_t k = 0; k < st->log_count; k++) {
        size_t i = (st->log_next + SSH_LOG_SIZE - 1 - k) % SSH_LOG_SIZE; /* newest first */
        ssh_log_entry *le = &st->log[i];
        json_t *o =
            json_pack("{s:o,s:s,s:I,s:b}", "at", iso_or_null(le->at_us), "command", le->command,
                      "duration_ms", (json_int_t)le->duration_ms, "timed_out", le->timed_out);
        json_object_set_new(o, "exit_status",
                            le->error[0] && !le->timed_out ? json_null()
                                                           : json_integer(le->exit_status));
        if (le->term_signal)
            json_object_set_new(o, "signal", json_integer(le->term_signal));
        if (le->error[0])
            json_object_set_new(o, "error", json_string(le->error));
        json_object_set_new(o, "stdin_bytes", json_integer((json_int_t)le->in_bytes));
        json_object_set_new(o, "stdout_bytes", json_integer((json_int_t)le->out_bytes));
        json_object_set_new(o, "stderr_bytes", json_integer((json_int_t)le->err_bytes));
        json_array_append_new(log, o);
    }
    json_t *d = json_pack("{s:s,s:s,s:s,s:i,s:s,s:b}", "kind", "ssh", "state", state, "host",
                          st->s.host, "port", st->s.port, "user", st->s.user ? st->s.user : "",
                          "host_key_check", st->s.check_host_key);
    json_object_set_new(d, "connected_since",
                        st->connected ? iso_or_null(st->connected_since_us) : json_null());
    json_object_set_new(d, "last_error",
                        st->last_error[0] ? json_string(st->last_error) : json_null());
    json_object_set_new(d, "last_error_at", iso_or_null(st->last_error_us));
    if (st->s.jump)
        json_object_set_new(d, "proxy_jump", json_string(st->s.jump));
    json_t *counters =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "commands", (json_int_t)st->commands, "failed",
                  (json_int_t)st->failed, "timeouts", (json_int_t)st->timeouts, "connects",
                  (json_int_t)st->connects, "connect_failures", (json_int_t)st->connect_failures,
                  "drops", (json_int_t)st->drops);
    json_object_set_new(counters, "stdin_bytes", json_integer(st->stdin_bytes));
    json_object_set_new(counters, "stdout_bytes", json_integer(st->stdout_bytes));
    json_object_set_new(counters, "stderr_bytes", json_integer(st->stderr_bytes));
    json_object_set_new(d, "counters", counters);
    json_object_set_new(d, "last_command_at", iso_or_null(st->last_command_us));
    json_object_set_new(d, "log", log);
    pthread_mutex_unlock(&st->mu);
    return d;
}

static void ssh_destroy(transport *t)
{
    ssh_transport *st = t->impl;
    if (!st)
        return;
    if (st->connected)
        ssh_conn_close(&st->c);
    pthread_mutex_destroy(&st->mu);
    settings_free(&st->s);
    free(st);
    t->impl = NULL;
}

static const struct transport_ops ssh_transport_ops = {
    .kind = "ssh",
    .exec = ssh_exec,
    .read_file = ssh_read_file,
    .write_file = ssh_write_file,
    .describe = ssh_describe,
    .destroy = ssh_destroy,
};

transport *transport_ssh_new(const ssh_settings *s)
{
    ssh_global_init();
    ssh_transport *st = xcalloc(1, sizeof *st);
    settings_copy(&st->s, s);
    st->c = (ssh_conn)SSH_CONN_INIT;
    pthread_mutex_init(&st->mu, NULL);
    transport *t = xcalloc(1, sizeof *t);
    t->ops = &ssh_transport_ops;
    t->impl = st;
    return t;
}

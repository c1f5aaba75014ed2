/* ssh_jump.c - ProxyJump through one bastion: an authenticated session to the
 * bastion, a direct-tcpip channel through it to the target's sshd, and a pump
 * thread that moves bytes between that channel and one end of a socketpair.
 *
 * Why a socketpair and a thread: a libssh2 session needs a socket to run
 * over, and the target session (ssh.c) must not know it is tunnelled.  The
 * target session gets the other end of the socketpair and works exactly as
 * over TCP; the pump owns the bastion session after setup (libssh2 sessions
 * are not thread-safe, so nobody else touches it until the pump is joined).
 *
 * Shutdown and failures: when the target side closes its end, the pump sends
 * EOF on the channel and stops; when the bastion or the channel fails (the
 * bastion was killed, the network dropped), the pump shuts its end down, so
 * the target session sees a closed socket and ssh.c reconnects, rebuilding
 * both hops. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/ssh_config.h"
#include "transport/ssh_internal.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define PUMP_BUF 65536
#define PUMP_POLL_MS 500 /* how often the pump checks the stop flag and keepalives */

typedef struct pump_buf {
    char data[PUMP_BUF];
    size_t off, len;
} pump_buf;

typedef struct pump_state {
    ssh_conn *c;
    pump_buf to_chan;   /* read from the socketpair, not yet written to the channel */
    pump_buf from_chan; /* read from the channel, not yet written to the socketpair */
    bool local_eof;     /* the target session closed its end */
    bool remote_eof;    /* the channel said EOF (the target's sshd closed) */
    bool eof_sent;
    bool failed;
} pump_state;

static bool stop_requested(ssh_conn *c)
{
    return __atomic_load_n(&c->pump_stop, __ATOMIC_ACQUIRE) != 0;
}

/* Socketpair -> channel.  Returns true when something moved. */
static bool pump_outbound(pump_state *ps)
{
    ssh_conn *c = ps->c;
    bool moved = false;
    pump_buf *b = &ps->to_chan;
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (!ps->local_eof && b->len < PUMP_BUF) {
        ssize_t n = read(c->pump_fd, b->data + b->len, PUMP_BUF - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            moved = true;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            ps->local_eof = true;
            moved = true;
        }
    }
    while (b->off < b->len) {
        ssize_t n = libssh2_channel_write(c->jump_chan, b->data + b->off, b->len - b->off);
        if (n == LIBSSH2_ERROR_EAGAIN)
            break;
        if (n < 0) {
            ps->failed = true;
            return true;
        }
        b->off += (size_t)n;
        moved = true;
    }
    if (ps->local_eof && b->off == b->len && !ps->eof_sent) {
        int rc = libssh2_channel_send_eof(c->jump_chan);
        if (rc == 0 || rc != LIBSSH2_ERROR_EAGAIN)
            ps->eof_sent = true;
    }
    return moved;
}

/* Channel -> socketpair. */
static bool pump_inbound(pump_state *ps)
{
    ssh_conn *c = ps->c;
    bool moved = false;
    pump_buf *b = &ps->from_chan;
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    while (b->len < PUMP_BUF) {
        ssize_t n = libssh2_channel_read(c->jump_chan, b->data + b->len, PUMP_BUF - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            moved = true;
            continue;
        }
        if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
            ps->failed = true;
        else if (n == 0 && libssh2_channel_eof(c->jump_chan))
            ps->remote_eof = true;
        break;
    }
    while (b->off < b->len) {
        ssize_t n = write(c->pump_fd, b->data + b->off, b->len - b->off);
        if (n > 0) {
            b->off += (size_t)n;
            moved = true;
        } else {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                ps->local_eof = ps->failed = true;
            break;
        }
    }
    return moved;
}

static void pump_wait(pump_state *ps)
{
    ssh_conn *c = ps->c;
    struct pollfd p[2] = {{c->jump_sock, POLLIN, 0}, {c->pump_fd, 0, 0}};
    if (libssh2_session_block_directions(c->jump_sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p[0].events |= POLLOUT;
    if (!ps->local_eof && ps->to_chan.len < PUMP_BUF)
        p[1].events |= POLLIN;
    if (ps->from_chan.off < ps->from_chan.len)
        p[1].events |= POLLOUT;
    poll(p, 2, PUMP_POLL_MS);
    int next;
    libssh2_keepalive_send(c->jump_sess, &next);
}

static void *pump_main(void *arg)
{
    pump_state *ps = arg;
    ssh_conn *c = ps->c;
    while (!stop_requested(c) && !ps->failed) {
        bool moved = pump_outbound(ps);
        moved |= pump_inbound(ps);
        bool drained = ps->from_chan.off == ps->from_chan.len;
        if (ps->remote_eof && drained)
            break; /* the target's sshd is done: nothing more can arrive */
        if (ps->local_eof && ps->eof_sent && drained)
            break; /* the target session closed its end */
        if (!moved)
            pump_wait(ps);
    }
    /* Either way the target session must see the end at once. */
    shutdown(c->pump_fd, SHUT_RDWR);
    free(ps);
    return NULL;
}

/* --- setup ----------------------------------------------------------------------------- */

static int jump_fail(sh_err *e, const ssh_settings *s, const char *fmt, const char *detail)
{
    char what[800];
    snprintf(what, sizeof what, fmt, detail);
    return sh_err_set(e, SH_EUNAVAIL, "backend '%s': ssh %s@%s:%d via ProxyJump %s: %s", s->label,
                      s->user, s->host, s->port, s->jump, what);
}

/* The bastion's settings: the target's, with the jump's host, port and user
 * (the target's user when the jump names none). */
static int bastion_settings(const ssh_settings *s, ssh_settings *b, char **user, char **host,
                            sh_err *e)
{
    if (strchr(s->jump, ','))
        return jump_fail(e, s, "%s",
                         "more than one jump host is not supported; use a single bastion, or "
                         "open a tunnel to the last hop yourself (ssh -L) and point ssh.host/port "
                         "at it");
    int port = 0;
    if (ssh_parse_jump(s->jump, user, host, &port) < 0)
        return jump_fail(e, s, "%s", "cannot read the jump host: expected [user@]host[:port]");
    *b = *s;
    b->host = b->host_alias = *host;
    b->port = port > 0 ? port : 22;
    if (*user)
        b->user = *user;
    b->jump = NULL;
    b->bastion = true;
    return 0;
}

static int open_tunnel(const ssh_settings *s, const ssh_settings *b, int64_t deadline, ssh_conn *c,
                       sh_err *e)
{
    LIBSSH2_CHANNEL *ch;
    while (
        !(ch = libssh2_channel_direct_tcpip_ex(c->jump_sess, s->host, s->port, "127.0.0.1", 22)) &&
        libssh2_session_last_errno(c->jump_sess) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(c->jump_sess, c->jump_sock, deadline) < 0)
            break;
    if (ch) {
        c->jump_chan = ch;
        return 0;
    }
    char *msg = NULL;
    int err = libssh2_session_last_error(c->jump_sess, &msg, NULL, 0);
    char what[700];
    if (err == LIBSSH2_ERROR_EAGAIN)
        snprintf(what, sizeof what, "timed out opening a tunnel through %s", ssh_where(b));
    else
        snprintf(what, sizeof what,
                 "%s refused to open a tunnel to %s:%d (%s); the bastion's sshd must allow "
                 "TCP forwarding (AllowTcpForwarding) to that host and port",
                 ssh_where(b), s->host, s->port, msg && *msg ? msg : "no reason given");
    return jump_fail(e, s, "%s", what);
}

static int start_pump(ssh_conn *c, const ssh_settings *s, sh_err *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return jump_fail(e, s, "cannot create a socketpair: %s", strerror(errno));
    c->sock = sv[0];
    c->pump_fd = sv[1];
    pump_state *ps = xcalloc(1, sizeof *ps);
    ps->c = c;
    __atomic_store_n(&c->pump_stop, 0, __ATOMIC_RELEASE);
    int rc = pthread_create(&c->pump, NULL, pump_main, ps);
    if (rc != 0) {
        free(ps);
        return jump_fail(e, s, "cannot start the tunnel thread: %s", strerror(rc));
    }
    c->pump_running = true;
    return 0;
}

int ssh_jump_open(const ssh_settings *s, int64_t deadline, ssh_conn *c, sh_err *e)
{
    char *user = NULL, *host = NULL;
    ssh_settings b;
    int rc = bastion_settings(s, &b, &user, &host, e);
    if (rc == 0)
        rc = ssh_tcp_connect(&b, deadline, &c->jump_sock, e);
    if (rc == 0 && ssh_open_session(&b, c->jump_sock, deadline, &c->jump_sess, e) < 0) {
        c->jump_sess = NULL;
        rc = -1;
    }
    if (rc == 0)
        rc = open_tunnel(s, &b, deadline, c, e);
    if (rc == 0)
        rc = start_pump(c, s, e);
    free(user);
    free(host);
    if (rc < 0)
        ssh_jump_close(c);
    return rc;
}

void ssh_jump_close(ssh_conn *c)
{
    if (c->pump_running) {
        __atomic_store_n(&c->pump_stop, 1, __ATOMIC_RELEASE);
        pthread_join(c->pump, NULL);
        c->pump_running = false;
    }
    if (c->jump_chan) {
        /* Bounded: the bastion may be gone; its session is freed right after. */
        int64_t deadline = time_monotonic_ms() + 300;
        while (libssh2_channel_free(c->jump_chan) == LIBSSH2_ERROR_EAGAIN)
            if (ssh_conn_wait(c->jump_sess, c->jump_sock, deadline) < 0)
                break;
        c->jump_chan = NULL;
    }
    if (c->jump_sess) {
        int64_t deadline = time_monotonic_ms() + 300;
        while (libssh2_session_disconnect(c->jump_sess, "scripthut: closing") ==
               LIBSSH2_ERROR_EAGAIN)
            if (ssh_conn_wait(c->jump_sess, c->jump_sock, deadline) < 0)
                break;
        ssh_free_session(c->jump_sess, c->jump_sock);
        c->jump_sess = NULL;
    }
    if (c->jump_sock >= 0)
        close(c->jump_sock);
    c->jump_sock = -1;
    if (c->pump_fd >= 0)
        close(c->pump_fd);
    c->pump_fd = -1;
}

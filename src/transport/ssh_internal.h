/* ssh_internal.h - what the SSH transport's files share: a connected session
 * (ssh_conn.c: TCP, handshake, host key check, authentication, ProxyJump)
 * used by the transport operations (ssh.c).
 *
 * libssh2 runs in non-blocking mode everywhere, and every wait goes through
 * ssh_conn_wait with a deadline: a stalled server or network can delay a
 * command only up to its timeout, never hang the engine. */
#ifndef SCRIPTHUT_TRANSPORT_SSH_INTERNAL_H
#define SCRIPTHUT_TRANSPORT_SSH_INTERNAL_H
#include <libssh2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "transport/ssh.h"

typedef struct ssh_conn {
    int sock; /* the session's socket (a socketpair end with ProxyJump) */
    LIBSSH2_SESSION *sess;
    /* ProxyJump: the bastion session and the direct-tcpip channel through it,
     * shuttled to/from `sock` by a pump thread. */
    int jump_sock;
    LIBSSH2_SESSION *jump_sess;
    LIBSSH2_CHANNEL *jump_chan;
    int pump_fd; /* the other end of the socketpair */
    pthread_t pump;
    bool pump_running;
    int pump_stop; /* set (atomically) by ssh_jump_close */
} ssh_conn;

#define SSH_CONN_INIT                                                                              \
    {                                                                                              \
        -1, NULL, -1, NULL, NULL, -1, 0, false, 0                                                  \
    }

/* The steps of ssh_conn_open, shared with ssh_jump.c (the bastion hop is
 * opened the same way as the target: same auth and known_hosts rules). */
int ssh_tcp_connect(const ssh_settings *s, int64_t deadline_ms, int *out, sh_err *e);
int ssh_open_session(const ssh_settings *s, int sock, int64_t deadline_ms, LIBSSH2_SESSION **out,
                     sh_err *e);
void ssh_free_session(LIBSSH2_SESSION *sess, int sock);

/* ProxyJump (ssh_jump.c): connects and authenticates to the bastion named by
 * s->jump, opens a direct-tcpip channel to s->host:s->port through it, and
 * starts the pump thread; c->sock is then the socketpair end the target
 * session runs over.  ssh_jump_close stops the pump and closes the bastion
 * (a no-op without a jump); call it after the target session is freed. */
int ssh_jump_open(const ssh_settings *s, int64_t deadline_ms, ssh_conn *c, sh_err *e);
void ssh_jump_close(ssh_conn *c);

/* Opens an authenticated session before deadline_ms (monotonic).  On failure
 * everything is released and e names the backend, host and step. */
int ssh_conn_open(const ssh_settings *s, int64_t deadline_ms, ssh_conn *c, sh_err *e);
void ssh_conn_close(ssh_conn *c);

/* Waits until libssh2 can make progress on the session's socket, or the
 * deadline passes (-1).  Sends keepalives that are due. */
int ssh_conn_wait(LIBSSH2_SESSION *sess, int sock, int64_t deadline_ms);

/* "user@host:port" for messages (static buffer per thread). */
const char *ssh_where(const ssh_settings *s);

void ssh_global_init(void);

#endif

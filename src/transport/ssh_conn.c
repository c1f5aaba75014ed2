/* ssh_conn.c - opening an authenticated SSH session: TCP connect with a
 * deadline, handshake, host key check against known_hosts, public-key
 * authentication (key file, then ssh-agent).
 *
 * Every step is bounded by the caller's deadline (non-blocking libssh2 plus
 * poll), and every failure message names the backend, user@host:port and the
 * step, with what to do about it. */
#include "transport/ssh_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/ssh_config.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;

static void ssh_init_once(void)
{
    libssh2_init(0);
}

void ssh_global_init(void)
{
    pthread_once(&ssh_once, ssh_init_once);
}

const char *ssh_where(const ssh_settings *s)
{
    static __thread char buf[512];
    snprintf(buf, sizeof buf, "%s%s@%s:%d", s->bastion ? "ProxyJump bastion " : "",
             s->user ? s->user : "?", s->host, s->port);
    return buf;
}

static int fail(sh_err *e, const ssh_settings *s, const char *fmt, const char *detail)
{
    char what[700];
    snprintf(what, sizeof what, fmt, detail ? detail : "");
    return sh_err_set(e, SH_EUNAVAIL, "backend '%s': ssh %s: %s", s->label, ssh_where(s), what);
}

static const char *session_error(LIBSSH2_SESSION *sess)
{
    char *msg = NULL;
    libssh2_session_last_error(sess, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown libssh2 error";
}

/* --- waiting -------------------------------------------------------------------------- */

int ssh_conn_wait(LIBSSH2_SESSION *sess, int sock, int64_t deadline_ms)
{
    int left_ms = 1000;
    if (deadline_ms) {
        int64_t left = deadline_ms - time_monotonic_ms();
        if (left <= 0)
            return -1;
        if (left < left_ms)
            left_ms = (int)left;
    }
    int dirs = libssh2_session_block_directions(sess);
    struct pollfd p = {sock, 0, 0};
    if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    poll(&p, 1, left_ms);
    int next;
    libssh2_keepalive_send(sess, &next);
    return 0;
}

#define AGAIN(call, sess, sock, deadline, rc)                                                      \
    do {                                                                                           \
        while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN)                                            \
            if (ssh_conn_wait((sess), (sock), (deadline)) < 0)                                     \
                break;                                                                             \
    } while (0)

/* --- TCP -------------------------------------------------------------------------------- */

int ssh_tcp_connect(const ssh_settings *s, int64_t deadline, int *out, sh_err *e)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(s->host, port, &hints, &res);
    if (gai != 0)
        return fail(e, s, "cannot resolve the host name: %s", gai_strerror(gai));
    int last_errno = 0, fd = -1;
    bool timed_out = false;
    for (struct addrinfo *a = res; a && fd < 0 && !timed_out; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int64_t left = deadline - time_monotonic_ms();
            int n = left > 0 ? poll(&p, 1, (int)left) : 0;
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (n == 0)
                timed_out = true;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            errno = soerr;
        }
        if (timed_out || errno) {
            last_errno = errno;
            close(fd);
            fd = -1;
        }
        errno = 0;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out)
            return fail(e, s, "connection timed out (%s)", "is the host reachable?");
        return fail(e, s, "cannot connect: %s", strerror(last_errno ? last_errno : ECONNREFUSED));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    *out = fd;
    return 0;
}

/* --- host keys --------------------------------------------------------------------------- */

static const struct {
    const char *method;
    int kh_type;
} hostkey_types[] = {
    {"ssh-ed25519", LIBSSH2_KNOWNHOST_KEY_ED25519},
    {"ecdsa-sha2-nistp256", LIBSSH2_KNOWNHOST_KEY_ECDSA_256},
    {"ecdsa-sha2-nistp384", LIBSSH2_KNOWNHOST_KEY_ECDSA_384},
    {"ecdsa-sha2-nistp521", LIBSSH2_KNOWNHOST_KEY_ECDSA_521},
    {"ssh-rsa", LIBSSH2_KNOWNHOST_KEY_SSHRSA},
};
#define N_HOSTKEY_TYPES (sizeof hostkey_types / sizeof hostkey_types[0])

static int kh_type_of_session_key(int t)
{
    switch (t) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
    }
}

/* Prefers the host key types known_hosts already holds for this host, as
 * OpenSSH does: otherwise a server offering ECDSA first would be "unknown"
 * although its ed25519 key is listed.  A lookup with a dummy key answers
 * MISMATCH exactly when an entry of that type exists (hashed names too). */
static void prefer_known_hostkeys(LIBSSH2_SESSION *sess, LIBSSH2_KNOWNHOSTS *kh,
                                  const ssh_settings *s)
{
    sbuf known = SBUF_INIT, rest = SBUF_INIT;
    for (size_t i = 0; i < N_HOSTKEY_TYPES; i++) {
        struct libssh2_knownhost *found = NULL;
        int r = kh ? libssh2_knownhost_checkp(kh, s->host, s->port, "x", 1,
                                              LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                                  LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                                  hostkey_types[i].kh_type,
                                              &found)
                   : LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
        sbuf *dst = r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ? &known : &rest;
        if (dst->len)
            sbuf_putc(dst, ',');
        sbuf_puts(dst, hostkey_types[i].method);
    }
    if (known.len && rest.len)
        sbuf_putc(&known, ',');
    sbuf_puts(&known, sbuf_cstr(&rest));
    libssh2_session_method_pref(sess, LIBSSH2_METHOD_HOSTKEY, sbuf_cstr(&known));
    sbuf_free(&known);
    sbuf_free(&rest);
}

static void fingerprint(LIBSSH2_SESSION *sess, char *out, size_t n)
{
    const unsigned char *h =
        (const unsigned char *)libssh2_hostkey_hash(sess, LIBSSH2_HOSTKEY_HASH_SHA256);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!h || n < 52) {
        snprintf(out, n, "(unknown)");
        return;
    }
    size_t o = (size_t)snprintf(out, n, "SHA256:");
    for (int i = 0; i < 32; i += 3) {
        uint32_t v = (uint32_t)h[i] << 16 | (i + 1 < 32 ? (uint32_t)h[i + 1] << 8 : 0) |
                     (i + 2 < 32 ? h[i + 2] : 0);
        int chars = i + 2 < 32 ? 4 : i + 1 < 32 ? 3 : 2; /* OpenSSH omits the padding */
        for (int k = 0; k < chars; k++)
            out[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
}

static const char *hostkey_name(int type)
{
    for (size_t i = 0; i < N_HOSTKEY_TYPES; i++)
        if (hostkey_types[i].kh_type == kh_type_of_session_key(type))
            return hostkey_types[i].method;
    return "unknown";
}

static int check_host_key(LIBSSH2_SESSION *sess, LIBSSH2_KNOWNHOSTS *kh, bool loaded,
                          const ssh_settings *s, sh_err *e)
{
    size_t len = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(sess, &len, &type);
    if (!key)
        return fail(e, s, "the server sent no host key%s", "");
    char fp[80], detail[600];
    fingerprint(sess, fp, sizeof fp);
    struct libssh2_knownhost *found = NULL;
    int r = loaded ? libssh2_knownhost_checkp(kh, s->host, s->port, key, len,
                                              LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                                  LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                                  kh_type_of_session_key(type),
                                              &found)
                   : LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
    if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
        return 0;
    if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
        snprintf(detail, sizeof detail,
                 "the %s host key (%s) does NOT match the one recorded in %s: someone may be "
                 "intercepting the connection, or the server was reinstalled; check with the "
                 "administrators, then remove the old entry (ssh-keygen -R) and add the new one",
                 hostkey_name(type), fp, s->known_hosts);
        return fail(e, s, "host key verification failed: %s", detail);
    }
    snprintf(detail, sizeof detail,
             "the host's %s key (%s) is not in %s%s; verify the fingerprint, then add it "
             "(e.g. ssh -p %d %s once, or ssh-keyscan), or set ssh.strict_host_key_checking = "
             "false to skip the check (not recommended)",
             hostkey_name(type), fp, s->known_hosts, loaded ? "" : " (file missing or unreadable)",
             s->port, s->host);
    return fail(e, s, "host key verification failed: %s", detail);
}

/* --- authentication ------------------------------------------------------------------- */

static int auth_key_file(LIBSSH2_SESSION *sess, int sock, int64_t deadline, const ssh_settings *s,
                         sbuf *why)
{
    char *text = NULL;
    size_t len = 0;
    if (fs_read_file(s->key_path, &text, &len) < 0) {
        sbuf_printf(why, "cannot read key %s: %s; ", s->key_path, strerror(errno));
        return -1;
    }
    ssh_key_type t = ssh_private_key_type(text, len);
    free(text);
    if (t == SSH_KEY_RSA || t == SSH_KEY_DSA) {
        sbuf_printf(why,
                    "key %s is an %s key, which cannot be used: this libssh2 (1.10) signs only "
                    "with ssh-rsa/SHA-1, which OpenSSH >= 8.8 refuses; create an ed25519 key "
                    "(ssh-keygen -t ed25519) and add it to the server's authorized_keys; ",
                    s->key_path, t == SSH_KEY_RSA ? "RSA" : "DSA");
        return -2; /* the user's explicit key can never work: say so, don't try others */
    }
    const char *pass = s->passphrase_env ? getenv(s->passphrase_env) : NULL;
    int rc;
    AGAIN(libssh2_userauth_publickey_fromfile_ex(sess, s->user, (unsigned)strlen(s->user), NULL,
                                                 s->key_path, pass),
          sess, sock, deadline, rc);
    if (rc == 0)
        return 0;
    if (rc == LIBSSH2_ERROR_EAGAIN)
        sbuf_printf(why, "timed out authenticating with key %s; ", s->key_path);
    else if (rc == LIBSSH2_ERROR_FILE)
        sbuf_printf(why,
                    "cannot load key %s (%s): if it is encrypted, put its passphrase in the "
                    "environment variable named by ssh.passphrase_env; ",
                    s->key_path, session_error(sess));
    else
        sbuf_printf(why,
                    "the server refused key %s (%s); is its .pub in ~/.ssh/authorized_keys "
                    "of %s?; ",
                    s->key_path, session_error(sess), s->user);
    if (s->passphrase_env && !pass && rc == LIBSSH2_ERROR_FILE)
        sbuf_printf(why, "%s is not set; ", s->passphrase_env);
    return -1;
}

static int auth_agent(LIBSSH2_SESSION *sess, int sock, int64_t deadline, const ssh_settings *s,
                      sbuf *why)
{
    if (!getenv("SSH_AUTH_SOCK"))
        return -1;
    LIBSSH2_AGENT *agent = libssh2_agent_init(sess);
    if (!agent || libssh2_agent_connect(agent) != 0 || libssh2_agent_list_identities(agent) != 0) {
        sbuf_printf(why, "cannot use ssh-agent at $SSH_AUTH_SOCK; ");
        if (agent)
            libssh2_agent_free(agent);
        return -1;
    }
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int result = -1, tried = 0, skipped_rsa = 0;
    while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
        prev = id;
        if (id->blob_len > 11 && !memcmp(id->blob + 4, "ssh-rsa", 7)) {
            skipped_rsa++; /* would be offered as ssh-rsa/SHA-1 and refused */
            continue;
        }
        tried++;
        int rc;
        AGAIN(libssh2_agent_userauth(agent, s->user, id), sess, sock, deadline, rc);
        if (rc == 0) {
            result = 0;
            break;
        }
        if (rc == LIBSSH2_ERROR_EAGAIN)
            break;
    }
    if (result < 0)
        sbuf_printf(why, "ssh-agent: %d key(s) refused%s; ", tried,
                    skipped_rsa ? " (RSA keys skipped: libssh2 1.10 cannot use them)" : "");
    libssh2_agent_disconnect(agent);
    libssh2_agent_free(agent);
    return result;
}

static int authenticate(LIBSSH2_SESSION *sess, int sock, int64_t deadline, const ssh_settings *s,
                        sh_err *e)
{
    char *methods;
    while (!(methods = libssh2_userauth_list(sess, s->user, (unsigned)strlen(s->user))) &&
           libssh2_session_last_errno(sess) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_conn_wait(sess, sock, deadline) < 0)
            return fail(e, s, "timed out waiting for the server's login methods%s", "");
    if (!methods) {
        if (libssh2_userauth_authenticated(sess))
            return 0;
        return fail(e, s, "cannot list login methods: %s", session_error(sess));
    }
    if (!strstr(methods, "publickey"))
        return fail(e, s,
                    "the server accepts only '%s'; scripthut logs in with a key only "
                    "(password and keyboard-interactive/MFA prompts are not supported): "
                    "authorise an ed25519 key for this account (ssh.key_path), or load one "
                    "into an ssh-agent (SSH_AUTH_SOCK; a ControlMaster socket cannot be used)",
                    methods);
    sbuf why = SBUF_INIT;
    int rc = -1;
    if (s->key_path)
        rc = auth_key_file(sess, sock, deadline, s, &why);
    if (rc == -1 && s->use_agent)
        rc = auth_agent(sess, sock, deadline, s, &why);
    if (rc == 0) {
        sbuf_free(&why);
        return 0;
    }
    if (!why.len)
        sbuf_puts(&why, "no key configured and no ssh-agent available; ");
    why.data[why.len - 2] = '\0';
    fail(e, s, "authentication failed: %s", why.data);
    sbuf_free(&why);
    return -1;
}

/* --- sessions --------------------------------------------------------------------------- */

/* libssh2_session_free may want to send (channel closes) and, non-blocking,
 * return EAGAIN without freeing.  With the socket shut down every send fails
 * at once, so the loop ends and nothing leaks or blocks. */
void ssh_free_session(LIBSSH2_SESSION *sess, int sock)
{
    if (sock >= 0)
        shutdown(sock, SHUT_RDWR);
    for (int i = 0; i < 100 && libssh2_session_free(sess) == LIBSSH2_ERROR_EAGAIN; i++)
        ;
}

int ssh_open_session(const ssh_settings *s, int sock, int64_t deadline, LIBSSH2_SESSION **out,
                     sh_err *e)
{
    LIBSSH2_SESSION *sess = libssh2_session_init();
    if (!sess)
        return fail(e, s, "cannot create an SSH session%s", "");
    libssh2_session_set_blocking(sess, 0);
    LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(sess);
    bool loaded =
        kh && s->known_hosts &&
        libssh2_knownhost_readfile(kh, s->known_hosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) >= 0;
    prefer_known_hostkeys(sess, loaded ? kh : NULL, s);
    int rc;
    AGAIN(libssh2_session_handshake(sess, sock), sess, sock, deadline, rc);
    if (rc != 0) {
        if (rc == LIBSSH2_ERROR_EAGAIN)
            fail(e, s, "timed out in the SSH handshake%s", "");
        else
            fail(e, s, "SSH handshake failed: %s", session_error(sess));
    } else if (s->check_host_key) {
        rc = check_host_key(sess, kh, loaded, s, e);
    }
    if (kh)
        libssh2_knownhost_free(kh);
    if (rc == 0)
        rc = authenticate(sess, sock, deadline, s, e);
    if (rc != 0) {
        ssh_free_session(sess, sock);
        return -1;
    }
    if (s->keepalive_s > 0)
        libssh2_keepalive_config(sess, 1, (unsigned)s->keepalive_s);
    *out = sess;
    return 0;
}

int ssh_conn_open(const ssh_settings *s, int64_t deadline, ssh_conn *c, sh_err *e)
{
    ssh_global_init();
    *c = (ssh_conn)SSH_CONN_INIT;
    if (!s->user || !*s->user)
        return fail(e, s, "no user name: set ssh.user or User in ~/.ssh/config%s", "");
    if (s->jump) {
        if (ssh_jump_open(s, deadline, c, e) < 0) {
            ssh_conn_close(c);
            return -1;
        }
    } else if (ssh_tcp_connect(s, deadline, &c->sock, e) < 0) {
        return -1;
    }
    if (ssh_open_session(s, c->sock, deadline, &c->sess, e) < 0) {
        c->sess = NULL;
        ssh_conn_close(c);
        return -1;
    }
    return 0;
}

void ssh_conn_close(ssh_conn *c)
{
    if (c->sess) {
        /* Best effort and bounded: the peer may be gone already. */
        int64_t deadline = time_monotonic_ms() + 500;
        int rc;
        AGAIN(libssh2_session_disconnect(c->sess, "scripthut: closing"), c->sess, c->sock, deadline,
              rc);
        (void)rc;
        ssh_free_session(c->sess, c->sock);
    }
    if (c->sock >= 0)
        close(c->sock);
    c->sess = NULL;
    c->sock = -1;
    ssh_jump_close(c); /* after the target session: its goodbye goes through the tunnel */
    *c = (ssh_conn)SSH_CONN_INIT;
}

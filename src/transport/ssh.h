/* ssh.h - the SSH transport (libssh2): commands and files on a remote login
 * node over one session per backend, reconnected with backoff after a drop.
 *
 * Authentication is by public key only (a key file, ed25519 or ECDSA,
 * optionally encrypted with a passphrase taken from an environment variable;
 * or ssh-agent).  RSA keys are refused up front: Debian's libssh2 1.10 can
 * only sign with ssh-rsa (SHA-1), which OpenSSH >= 8.8 rejects, so the login
 * would fail with an unhelpful "authentication failed".  The server's host
 * key is checked against known_hosts unless that is explicitly turned off.
 *
 * ProxyJump: one bastion, reached with the same user/key/known_hosts rules
 * (its own host key checked), then a direct-tcpip channel to the target;
 * a multi-hop list is refused with an explanation. */
#ifndef SCRIPTHUT_TRANSPORT_SSH_H
#define SCRIPTHUT_TRANSPORT_SSH_H
#include <jansson.h>
#include <stdbool.h>

#include "transport/transport.h"

typedef struct ssh_settings {
    const char *label;      /* the backend's name, for messages */
    const char *host;       /* address to connect to (after ~/.ssh/config HostName) */
    const char *host_alias; /* what the user wrote (for messages); may equal host */
    int port;
    const char *user;
    const char *key_path;       /* NULL: agent only */
    const char *passphrase_env; /* name of the env var holding the key's passphrase */
    bool use_agent;             /* try ssh-agent identities (SSH_AUTH_SOCK) */
    const char *known_hosts;
    bool check_host_key; /* false only when the config says so explicitly */
    const char *jump;    /* ProxyJump "[user@]host[:port]", or NULL */
    int connect_timeout_ms;
    int command_timeout_ms; /* default per-command limit when exec gets 0 */
    int keepalive_s;
    bool bastion; /* internal: these settings are a ProxyJump hop (messages) */
} ssh_settings;

/* Creates the transport; it connects on first use.  The settings are copied. */
transport *transport_ssh_new(const ssh_settings *s);

/* Builds the settings from a backend's normalised "ssh" config object, filling
 * what it leaves unset from ~/.ssh/config (HostName, User, Port, IdentityFile,
 * ProxyJump), then creates the transport.  NULL with e set when the config
 * cannot work (no user, unreadable settings). */
transport *transport_ssh_from_config(const char *backend_name, json_t *ssh, sh_err *e);

#endif

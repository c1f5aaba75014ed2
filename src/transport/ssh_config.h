/* ssh_config.h - the pure parts of the SSH transport: reading the user's
 * ~/.ssh/config for one host, and telling a private key's type from its file
 * (so an RSA key is refused with an explanation before it fails obscurely).
 *
 * Nothing here touches the network; everything is unit-tested on text. */
#ifndef SCRIPTHUT_TRANSPORT_SSH_CONFIG_H
#define SCRIPTHUT_TRANSPORT_SSH_CONFIG_H
#include <stddef.h>

/* What ~/.ssh/config says about one host (NULL / 0 when it says nothing).
 * Like OpenSSH, the first value found for a keyword wins. */
typedef struct ssh_host_config {
    char *hostname;
    char *user;
    int port;
    char *identity_file; /* "~" and "%d" expanded, "%h" -> the host, "%u" -> user */
    char *proxy_jump;    /* "[user@]host[:port]"; "none" is returned as NULL */
} ssh_host_config;

/* Looks up `host` (the alias the user wrote) in the text of an ssh_config
 * file.  Supports Host blocks with patterns (*, ?, !negation, several per
 * line), "Match all", "key value" and "key=value" forms, comments.  Include
 * and other Match criteria are ignored (documented).  home is used for ~ and
 * %d. */
void ssh_config_lookup(const char *text, const char *host, const char *home, ssh_host_config *out);
void ssh_host_config_free(ssh_host_config *c);

/* OpenSSH-style glob: '*' any run, '?' one character. */
int ssh_pattern_match(const char *pattern, const char *s);

/* Splits "[user@]host[:port]" (the first hop of a ProxyJump list). Returns 0,
 * or -1 when it is empty or the port is not a number.  Caller frees. */
int ssh_parse_jump(const char *spec, char **user, char **host, int *port);

typedef enum ssh_key_type {
    SSH_KEY_UNKNOWN = 0,
    SSH_KEY_RSA,
    SSH_KEY_DSA,
    SSH_KEY_ED25519,
    SSH_KEY_ECDSA,
} ssh_key_type;

/* The type of a private key, from its text: PEM headers ("BEGIN RSA PRIVATE
 * KEY") or the public part of an "openssh-key-v1" file (readable even when
 * the key is encrypted).  SSH_KEY_UNKNOWN when it cannot tell. */
ssh_key_type ssh_private_key_type(const char *text, size_t len);

/* "ed25519", "rsa", ... for messages. */
const char *ssh_key_type_name(ssh_key_type t);

/* Signal name from an SSH exit-signal message ("KILL", "SIGTERM") -> number;
 * 0 when unknown. */
int ssh_signal_number(const char *name);

#endif

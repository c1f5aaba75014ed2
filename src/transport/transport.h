/* transport.h - how scripthut runs commands and moves files on a machine:
 * this one (posix_spawn) or a remote login node (SSH, libssh2).
 *
 * Scripts travel on stdin, never interpolated into a command line; values
 * that reach the remote shell are quoted with shell_quote (util/quote.h).
 * exec returns -1 only when the command could not be run at all (connection
 * refused, spawn failure): a command that ran and failed is 0 with a
 * non-zero exit_status. */
#ifndef SCRIPTHUT_TRANSPORT_TRANSPORT_H
#define SCRIPTHUT_TRANSPORT_TRANSPORT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/exec_result.h"

typedef struct transport transport;

struct transport_ops {
    const char *kind; /* "local", "ssh" */
    /* Runs `command` with /bin/sh -c (remote: the login shell of the user),
     * feeding stdin_data (may be NULL), for at most timeout_ms (0 = none). */
    int (*exec)(transport *t, const char *command, const char *stdin_data, size_t stdin_len,
                int timeout_ms, exec_result *r, sh_err *e);
    /* Reads a file (tail_bytes 0 = whole); SH_ENOTFOUND when absent. */
    int (*read_file)(transport *t, const char *path, size_t tail_bytes, char **out, size_t *len,
                     sh_err *e);
    /* Writes a file atomically (temp + rename), creating parent dirs. */
    int (*write_file)(transport *t, const char *path, const char *data, size_t len, int mode,
                      sh_err *e);
    /* JSON describing the connection for `backend list --json`: state, last
     * error, command log.  May be NULL. */
    json_t *(*describe)(transport *t);
    void (*destroy)(transport *t);
};

struct transport {
    const struct transport_ops *ops;
    void *impl;
};

transport *transport_local_new(void);
void transport_free(transport *t);

/* t->ops->exec: how code outside transport/ runs a command on the machine. */
int transport_exec(transport *t, const char *command, const char *stdin_data, size_t stdin_len,
                   int timeout_ms, exec_result *r, sh_err *e);

#endif

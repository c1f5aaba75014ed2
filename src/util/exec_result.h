/* exec_result.h - what a command run on a machine gave back: the type the
 * transports fill (transport/transport.h), the service passes on
 * (svc_backend_exec) and the scripting API hands to Lua (exec), defined once
 * here because every layer between them carries it. */
#ifndef SCRIPTHUT_UTIL_EXEC_RESULT_H
#define SCRIPTHUT_UTIL_EXEC_RESULT_H
#include <stdbool.h>
#include <stddef.h>

typedef struct exec_result {
    int exit_status; /* -1 when killed by a signal or timed out */
    int term_signal; /* 0 when none */
    bool timed_out;
    char *out; /* stdout, NUL-terminated (may contain NULs; see out_len) */
    size_t out_len;
    char *err; /* stderr */
    size_t err_len;
} exec_result;

/* Frees the buffers (r may be NULL); r can be filled again. */
void exec_result_free(exec_result *r);

#endif

/* err.h - errors as values: a status (HTTP-like) and a message with context.
 *
 * Every operation that can fail for a user-visible reason fills an sh_err.  The
 * status doubles as the API's HTTP code (404 unknown run, 422 invalid input,
 * 409 conflict, 500 surprise) and is mapped to CLI exit codes in one place
 * (cli_fail, src/cli/cli_args.c). */
#ifndef SCRIPTHUT_UTIL_ERR_H
#define SCRIPTHUT_UTIL_ERR_H

enum {
    SH_OK = 0,
    SH_EINVAL = 422,    /* invalid input: bad JSON, unknown field, cycle, ... */
    SH_ENOTFOUND = 404, /* unknown run, task, workflow, stack, backend */
    SH_ECONFLICT = 409, /* e.g. rerun of an active run */
    SH_EUNAVAIL = 503,  /* backend or engine not available */
    SH_EINTERNAL = 500, /* I/O, SQLite, out of memory */
};

typedef struct sh_err {
    int status;
    char msg[1024];
} sh_err;

#define SH_ERR_INIT                                                                                \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Sets status and a printf-formatted message; returns -1 so callers can
 * `return sh_err_set(e, ...)`.  A NULL e is allowed. */
int sh_err_set(sh_err *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context: "ctx: old message". */
int sh_err_prefix(sh_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

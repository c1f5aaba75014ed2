#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sh_err_set(sh_err *e, int status, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int sh_err_prefix(sh_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char ctx[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* ctx (< 512 bytes) always fits; the old message fills what is left */
    size_t used = (size_t)snprintf(e->msg, sizeof e->msg, "%s: ", ctx);
    size_t len = strnlen(old, sizeof e->msg - 1 - used);
    memcpy(e->msg + used, old, len);
    e->msg[used + len] = '\0';
    return -1;
}

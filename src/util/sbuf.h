/* sbuf.h - a growable, always NUL-terminated byte buffer.
 * Allocation failure aborts (xmalloc policy): scripthut cannot do anything
 * useful without memory, and checking every append would hide the logic. */
#ifndef SCRIPTHUT_UTIL_SBUF_H
#define SCRIPTHUT_UTIL_SBUF_H
#include <stddef.h>

typedef struct sbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} sbuf;

#define SBUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sbuf_append(sbuf *b, const char *s, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_putc(sbuf *b, char c);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_reset(sbuf *b);       /* length 0, keeps the memory */
const char *sbuf_cstr(sbuf *b); /* "" for an empty buffer, never NULL */
char *sbuf_detach(sbuf *b);     /* caller owns the string; buffer becomes empty */
void sbuf_free(sbuf *b);

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s); /* NULL -> NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

/* utf8.c - see utf8.h.  The well-formed sequences are those of Unicode's
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF. */
#include "util/utf8.h"

#include <string.h>

#include "util/sbuf.h"

/* The length of the well-formed sequence at s[0..avail), 0 when it is
 * ill-formed, or -(the bytes it still needs) when it is a valid prefix cut
 * short by avail. */
static int sequence_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= avail)
            return -(need - i);
        unsigned char b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 0;
    }
    return need;
}

size_t utf8_complete_prefix(const char *s, size_t len)
{
    /* A cut sequence starts at most 3 bytes before the end. */
    size_t start = len > 3 ? len - 3 : 0;
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0xC2 || c > 0xF4)
            continue;
        if (sequence_length((const unsigned char *)s + i, len - i) < 0)
            return i;
    }
    return len;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] == 0)
            return false;
        int n = sequence_length(p + i, len - i);
        if (n <= 0)
            return false;
        i += (size_t)n;
    }
    return true;
}

char *utf8_sanitize(const char *s, size_t len, size_t *replaced)
{
    const unsigned char *p = (const unsigned char *)s;
    sbuf b = SBUF_INIT;
    size_t bad = 0;
    size_t run = 0; /* start of the current run of good bytes */
    for (size_t i = 0; i < len;) {
        int n = p[i] ? sequence_length(p + i, len - i) : 0;
        if (n > 0) {
            i += (size_t)n;
            continue;
        }
        sbuf_append(&b, s + run, i - run);
        sbuf_append(&b, "\xEF\xBF\xBD", 3);
        bad++;
        run = ++i;
    }
    sbuf_append(&b, s + run, len - run);
    if (replaced)
        *replaced = bad;
    return b.data ? sbuf_detach(&b) : xstrdup("");
}

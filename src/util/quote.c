#include "util/quote.h"

#include <string.h>

/* ASCII only, independent of the locale: in a UTF-8 locale isalnum() may
 * accept bytes >= 0x80, which must be quoted. */
static int is_ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_safe_char(unsigned char c)
{
    return is_ascii_alnum(c) || (c && strchr("_./:=@%+,-", c) != NULL);
}

void shell_quote_append(sbuf *out, const char *s)
{
    if (!*s) {
        sbuf_puts(out, "''");
        return;
    }
    const char *p = s;
    while (*p && is_safe_char((unsigned char)*p))
        p++;
    if (!*p) {
        sbuf_puts(out, s);
        return;
    }
    sbuf_putc(out, '\'');
    for (p = s; *p; p++) {
        if (*p == '\'')
            sbuf_puts(out, "'\\''");
        else
            sbuf_putc(out, *p);
    }
    sbuf_putc(out, '\'');
}

char *shell_quote(const char *s)
{
    sbuf b = SBUF_INIT;
    shell_quote_append(&b, s);
    return sbuf_detach(&b);
}

static size_t var_name_len(const char *s)
{
    size_t n = 0;
    unsigned char c0 = (unsigned char)s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_'))
        return 0;
    while (is_ascii_alnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

char *shell_quote_path_expand_prefix(const char *s)
{
    sbuf b = SBUF_INIT;
    const char *rest = s;
    if (s[0] == '~' && (s[1] == '\0' || s[1] == '/')) {
        sbuf_puts(&b, "\"$HOME\"");
        rest = s + 1;
    } else if (s[0] == '$' && s[1] == '{') {
        size_t n = var_name_len(s + 2);
        if (n && s[2 + n] == '}') {
            sbuf_printf(&b, "\"${%.*s}\"", (int)n, s + 2);
            rest = s + 3 + n;
        }
    } else if (s[0] == '$') {
        size_t n = var_name_len(s + 1);
        if (n) {
            sbuf_printf(&b, "\"${%.*s}\"", (int)n, s + 1);
            rest = s + 1 + n;
        }
    }
    if (*rest || b.len == 0)
        shell_quote_append(&b, rest);
    return sbuf_detach(&b);
}

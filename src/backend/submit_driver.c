/* submit_driver.c - one remote shell for a batch of submissions (see
 * submit_driver.h). */
#include "backend/submit_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/sbuf.h"

#define RECORD_MARK "@@scripthut-submit "

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void random_delimiter(char *buf, size_t size, size_t n, const char *const *scripts)
{
    for (;;) {
        unsigned char r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            for (size_t i = 0; i < sizeof r; i++)
                r[i] = (unsigned char)rand();
        snprintf(buf, size, "SCRIPTHUT_EOF_%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
                 r[3], r[4], r[5], r[6], r[7]);
        bool clash = false;
        for (size_t i = 0; i < n && !clash; i++)
            clash = has_line(scripts[i], buf);
        if (!clash)
            return;
    }
}

char *submit_driver_build(size_t n, const char *const *commands, const char *const *scripts,
                          const char *prelude)
{
    char delim[64];
    random_delimiter(delim, sizeof delim, n, scripts);
    sbuf b = SBUF_INIT;
    /* Outputs go to files first: a submit command's output must not mix with
     * the records, and a record is written only once the command is done. */
    sbuf_puts(&b, "d=$(mktemp -d \"${TMPDIR:-/tmp}/scripthut-submit.XXXXXX\") || exit 97\n"
                  "trap 'rm -rf \"$d\"' EXIT\n");
    if (prelude && *prelude)
        sbuf_printf(&b, "%s\n", prelude);
    for (size_t i = 0; i < n; i++) {
        const char *s = scripts[i];
        size_t len = strlen(s);
        sbuf_printf(&b, "%s >\"$d/o\" 2>\"$d/e\" <<'%s'\n", commands[i], delim);
        sbuf_puts(&b, s);
        if (len == 0 || s[len - 1] != '\n')
            sbuf_putc(&b, '\n');
        sbuf_printf(&b, "%s\n", delim);
        sbuf_printf(&b,
                    "echo \"" RECORD_MARK "%zu $?\"; sed 's/^/o /' \"$d/o\"; "
                    "sed 's/^/e /' \"$d/e\"\n",
                    i);
    }
    sbuf_puts(&b, "echo \"" RECORD_MARK "end\"\n");
    return sbuf_detach(&b);
}

size_t submit_driver_parse(const char *text, size_t n, submit_record *recs)
{
    size_t seen = 0;
    submit_record *cur = NULL;
    sbuf out = SBUF_INIT, err = SBUF_INIT;
    const char *p = text ? text : "";
    while (*p) {
        size_t len = strcspn(p, "\n");
        const char *line = p;
        p += len + (p[len] == '\n');
        bool mark =
            len >= sizeof RECORD_MARK - 1 && !strncmp(line, RECORD_MARK, sizeof RECORD_MARK - 1);
        if (mark || !cur) {
            if (cur) {
                cur->out = sbuf_detach(&out);
                cur->err = sbuf_detach(&err);
                cur = NULL;
            }
            if (!mark)
                continue; /* login-shell noise before the first record */
            char *end;
            const char *num = line + sizeof RECORD_MARK - 1;
            unsigned long idx = strtoul(num, &end, 10);
            if (end == num || *end != ' ' || idx >= n || recs[idx].seen)
                continue;
            long rc = strtol(end + 1, &end, 10);
            cur = &recs[idx];
            cur->seen = true;
            cur->rc = (int)rc;
            seen++;
            continue;
        }
        if (len >= 2 && line[1] == ' ' && (line[0] == 'o' || line[0] == 'e')) {
            sbuf *dst = line[0] == 'o' ? &out : &err;
            sbuf_append(dst, line + 2, len - 2);
            sbuf_putc(dst, '\n');
        }
    }
    if (cur) {
        cur->out = sbuf_detach(&out);
        cur->err = sbuf_detach(&err);
    }
    sbuf_free(&out);
    sbuf_free(&err);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].seen && !recs[i].out)
            recs[i].out = xstrdup("");
        if (recs[i].seen && !recs[i].err)
            recs[i].err = xstrdup("");
    }
    return seen;
}

void submit_records_free(size_t n, submit_record *recs)
{
    for (size_t i = 0; i < n; i++) {
        free(recs[i].out);
        free(recs[i].err);
        recs[i].out = recs[i].err = NULL;
    }
}

/* fuzz_shell_quote.c - the property of the one quoting function: a quoted
 * string given to `sh -c 'printf %s ARG'` comes back byte-identical.  NUL
 * bytes cannot be in a C string (or an argument), so the input stops there. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/quote.h"
#include "util/sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = xstrndup((const char *)data, size);
    size_t len = strlen(s);
    char *quoted = shell_quote(s);
    char *path = shell_quote_path_expand_prefix(s); /* must not crash either */
    char *cmd = xasprintf("printf %%s %s", quoted);
    FILE *p = popen(cmd, "r");
    if (!p)
        abort();
    sbuf out = SBUF_INIT;
    char buf[4096];
    /* libFuzzer's -timeout is a SIGALRM every few seconds, installed without
     * SA_RESTART: a read it interrupts is not the end of the output (that
     * once passed for a quoting failure). */
    for (;;) {
        size_t n = fread(buf, 1, sizeof buf, p);
        sbuf_append(&out, buf, n);
        if (n > 0)
            continue;
        if (ferror(p) && errno == EINTR) {
            clearerr(p);
            continue;
        }
        break;
    }
    int status = pclose(p);
    if (status != 0 || out.len != len || memcmp(sbuf_cstr(&out), s, len) != 0) {
        fprintf(stderr, "shell_quote round trip failed for %zu bytes: quoted as %s\n", len, quoted);
        abort();
    }
    sbuf_free(&out);
    free(cmd);
    free(path);
    free(quoted);
    free(s);
    return 0;
}

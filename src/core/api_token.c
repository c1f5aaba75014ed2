/* api_token.c - see api_token.h. */
#include "core/api_token.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/sbuf.h"

#define TOKEN_BYTES 32
#define TOKEN_FILE_MAX 4096

char *api_token_default_data_dir(void)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/scripthut", xdg);
    const char *home = getenv("HOME");
    return home && *home ? xasprintf("%s/.local/share/scripthut", home) : NULL;
}

/* The token is the file's first line, without surrounding blanks; it must
 * be printable ASCII without spaces (it travels in HTTP headers). */
static int parse_token(const char *path, char *text, char **token, sh_err *e)
{
    char *start = text;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t n = strcspn(start, "\r\n");
    while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
        n--;
    if (n == 0)
        return sh_err_set(e, SH_EINTERNAL,
                          "%s is empty: delete it and start `scripthut serve` again to make a "
                          "new token",
                          path);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)start[i] <= 0x20 || (unsigned char)start[i] >= 0x7f)
            return sh_err_set(e, SH_EINTERNAL,
                              "%s: a token is printable ASCII without spaces (it is sent in "
                              "HTTP headers)",
                              path);
    *token = xstrndup(start, n);
    return 0;
}

int api_token_read(const char *data_dir, char **token, sh_err *e)
{
    *token = NULL;
    char *path = xasprintf("%s/%s", data_dir, API_TOKEN_FILE);
    int rc = -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 && errno == ENOENT) {
        rc = 1;
    } else if (fd < 0) {
        sh_err_set(e, SH_EINTERNAL, "cannot read the API token %s: %s", path,
                   errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        sh_err_set(e, SH_EINTERNAL,
                   "the API token %s is not a regular file of yours: delete it and start "
                   "`scripthut serve` again to make a new token",
                   path);
    } else if (st.st_mode & 077) {
        sh_err_set(e, SH_EINTERNAL,
                   "the API token %s can be read by other users (mode %04o), so its token may "
                   "be known: delete it and start `scripthut serve` again to make a new token "
                   "(or `chmod 600` it if no one else could have read it)",
                   path, (unsigned)(st.st_mode & 07777));
    } else {
        char buf[TOKEN_FILE_MAX + 1];
        ssize_t n = read(fd, buf, TOKEN_FILE_MAX);
        if (n < 0) {
            sh_err_set(e, SH_EINTERNAL, "cannot read the API token %s: %s", path, strerror(errno));
        } else {
            buf[n] = '\0';
            rc = parse_token(path, buf, token, e) == 0 ? 0 : -1;
        }
        OPENSSL_cleanse(buf, sizeof buf);
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

/* Writes a new token to a private temporary file and links it into place:
 * link() never replaces, so of two servers starting at once one token wins
 * and both read it.  0, or -1 with e set. */
static int create_token(const char *data_dir, sh_err *e)
{
    unsigned char raw[TOKEN_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return sh_err_set(e, SH_EINTERNAL, "cannot make an API token: no randomness");
    char text[2 * TOKEN_BYTES + 2];
    for (size_t i = 0; i < TOKEN_BYTES; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    strcat(text, "\n");
    OPENSSL_cleanse(raw, sizeof raw);
    char *path = xasprintf("%s/%s", data_dir, API_TOKEN_FILE);
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && fchmod(fd, 0600) == 0 &&
        write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0 &&
        (link(tmp, path) == 0 || errno == EEXIST))
        rc = 0;
    else
        sh_err_set(e, SH_EINTERNAL, "cannot write the API token %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    OPENSSL_cleanse(text, sizeof text);
    free(tmp);
    free(path);
    return rc;
}

int api_token_ensure(const char *data_dir, char **token, bool *created, sh_err *e)
{
    if (created)
        *created = false;
    int rc = api_token_read(data_dir, token, e);
    if (rc != 1)
        return rc;
    if (fs_mkdir_p(data_dir, 0700) < 0)
        return sh_err_set(e, SH_EINTERNAL, "cannot create the data dir %s: %s", data_dir,
                          strerror(errno));
    if (create_token(data_dir, e) < 0)
        return -1;
    rc = api_token_read(data_dir, token, e);
    if (rc == 1)
        return sh_err_set(e, SH_EINTERNAL, "the API token %s/%s vanished as it was made", data_dir,
                          API_TOKEN_FILE);
    if (rc == 0 && created)
        *created = true;
    return rc;
}

/* nftw is an XSI extension. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sbuf.h"

int fs_read_tail(const char *path, size_t max_bytes, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    if (max_bytes && (size_t)st.st_size > max_bytes)
        lseek(fd, st.st_size - (off_t)max_bytes, SEEK_SET);
    sbuf b = SBUF_INIT;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            sbuf_free(&b);
            close(fd);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        sbuf_append(&b, chunk, (size_t)n);
        if (max_bytes && b.len >= max_bytes)
            break;
    }
    close(fd);
    if (len)
        *len = b.len;
    *out = sbuf_detach(&b);
    return 0;
}

int fs_read_file(const char *path, char **out, size_t *len)
{
    return fs_read_tail(path, 0, out, len);
}

int fs_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
    /* pid + a counter: two threads of one process writing the same path
     * must not share (and truncate) one temporary file */
    static atomic_ulong seq;
    char *tmp = xasprintf("%s.tmp.%ld.%lu", path, (long)getpid(), atomic_fetch_add(&seq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    free(tmp);
    return 0;
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    errno = saved;
    return -1;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            int saved = errno;
            free(p);
            errno = saved;
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, mode) < 0) {
        struct stat st;
        if (errno != EEXIST || stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
            if (errno == EEXIST)
                errno = ENOTDIR;
            rc = -1;
        }
    }
    free(p);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path)
{
    if (!fs_exists(path))
        return 0;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

char *fs_expand_home(const char *path)
{
    if (path[0] == '~' && (path[1] == '\0' || path[1] == '/')) {
        const char *home = getenv("HOME");
        return xasprintf("%s%s", home ? home : "", path + 1);
    }
    return xstrdup(path);
}

char *fs_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

char *fs_absolute(const char *path, const char *base_dir)
{
    sbuf raw = SBUF_INIT;
    char *expanded = fs_expand_home(path);
    if (expanded[0] == '/') {
        sbuf_puts(&raw, expanded);
    } else {
        char cwd[4096];
        const char *base = base_dir;
        if (!base)
            base = getcwd(cwd, sizeof cwd) ? cwd : ".";
        sbuf_printf(&raw, "%s/%s", base, expanded);
    }
    free(expanded);
    /* normalise: drop "." and empty segments, resolve ".." lexically */
    char *src = sbuf_detach(&raw);
    size_t nseg = 0, cap = 16;
    char **seg = xmalloc(cap * sizeof *seg);
    char *save = NULL;
    for (char *tok = strtok_r(src, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            if (nseg)
                nseg--;
            continue;
        }
        if (nseg == cap)
            seg = xrealloc(seg, (cap *= 2) * sizeof *seg);
        seg[nseg++] = tok;
    }
    sbuf out = SBUF_INIT;
    for (size_t i = 0; i < nseg; i++)
        sbuf_printf(&out, "/%s", seg[i]);
    if (!nseg)
        sbuf_putc(&out, '/');
    free(seg);
    free(src);
    return sbuf_detach(&out);
}

char *fs_encode_name(const char *s)
{
    sbuf b = SBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
                   (*p == '.' && p != (const unsigned char *)s);
        if (safe)
            sbuf_putc(&b, (char)*p);
        else
            sbuf_printf(&b, "%%%02X", *p);
    }
    if (!b.len)
        sbuf_puts(&b, "%00");
    return sbuf_detach(&b);
}

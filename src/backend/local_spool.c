/* local_spool.c - small file helpers shared by the local backend and its
 * job wrapper (see local_spool.h for the layout). */
#include "backend/local_spool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/fsutil.h"
#include "util/sbuf.h"

char *local_spool_path(const char *jobdir, const char *file)
{
    return xasprintf("%s/%s", jobdir, file);
}

int local_spool_write_int(const char *jobdir, const char *file, int64_t value)
{
    char *path = local_spool_path(jobdir, file);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64 "\n", value);
    int rc = fs_write_atomic(path, buf, (size_t)n, 0644);
    int saved = errno;
    free(path);
    errno = saved;
    return rc;
}

int local_spool_read_int(const char *jobdir, const char *file, int64_t *value)
{
    char *path = local_spool_path(jobdir, file);
    char *text = NULL;
    int rc = fs_read_file(path, &text, NULL);
    int saved = errno;
    free(path);
    if (rc < 0) {
        errno = saved;
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    int bad = errno != 0 || end == text || (*end != '\0' && *end != '\n');
    free(text);
    if (bad) {
        errno = EINVAL;
        return -1;
    }
    *value = (int64_t)v;
    return 0;
}

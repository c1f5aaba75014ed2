/* fsutil.h - small filesystem helpers: read whole files, atomic writes,
 * mkdir -p, home/tilde expansion, and a reversible filename encoding. */
#ifndef SCRIPTHUT_UTIL_FSUTIL_H
#define SCRIPTHUT_UTIL_FSUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Reads a whole file; *out is NUL-terminated, *len (if given) excludes the NUL.
 * Returns 0, or -1 with errno set. */
int fs_read_file(const char *path, char **out, size_t *len);

/* Reads at most the last max_bytes of a file (the whole file if 0). */
int fs_read_tail(const char *path, size_t max_bytes, char **out, size_t *len);

/* Writes data to path.tmp.<pid>.<n>, fsyncs, renames over path: readers see the
 * old or the new content, never a torn file.  Returns 0 or -1 (errno). */
int fs_write_atomic(const char *path, const char *data, size_t len, mode_t mode);

/* mkdir -p with the given mode for created directories. 0 or -1 (errno). */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf of a directory tree (no symlink following). 0 or -1 (errno). */
int fs_remove_tree(const char *path);

bool fs_exists(const char *path);

/* "~" or "~/x" -> "$HOME/x"; anything else is copied. Caller frees. */
char *fs_expand_home(const char *path);

/* Directory part of a path ("a/b/c" -> "a/b", "c" -> "."). Caller frees. */
char *fs_dirname(const char *path);

/* Absolute, normalised form of path relative to base_dir (or the cwd when
 * base_dir is NULL); does not touch the filesystem. Caller frees. */
char *fs_absolute(const char *path, const char *base_dir);

/* Encodes an arbitrary string (task ids may hold '/', spaces, quotes) as a
 * safe file name: bytes outside [A-Za-z0-9._-] become %XX; a leading '.'
 * becomes %2E. Reversible, so distinct ids never share a file. Caller frees. */
char *fs_encode_name(const char *s);

#endif

/* fixture.h - the one temporary environment the C unit tests run in.
 *
 * fx_new() makes a fresh mkdtemp directory (its realpath) and makes it HOME
 * and the cwd, sets XDG_CONFIG_HOME to <root>/.config and unsets
 * XDG_DATA_HOME, so nothing of the real ~ is read or written; a test that
 * needs a data dir uses <root>/data (data_dir, created on demand by
 * whatever opens it).  fx_free() goes back to the old cwd and removes the
 * tree.  Failures inside fail the current test (cmocka). */
#ifndef SCRIPTHUT_TESTS_FIXTURE_H
#define SCRIPTHUT_TESTS_FIXTURE_H
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fx_env {
    char root[PATH_MAX]; /* the temp dir: HOME and the cwd */
    char *config_home;   /* <root>/.config: XDG_CONFIG_HOME */
    char *data_dir;      /* <root>/data */
    char old_cwd[PATH_MAX];
} fx_env;

/* name goes into the directory's name (/tmp/scripthut-<name>-XXXXXX). */
fx_env *fx_new(const char *name);
void fx_free(fx_env *f);

/* <root>/<rel>; caller frees. */
char *fx_path(const fx_env *f, const char *rel);
/* Writes <root>/<rel> (creating its directories); returns its absolute
 * path (caller frees). */
char *fx_write(const fx_env *f, const char *rel, const char *text);

/* Waits until cond(arg) is true, checking every few milliseconds, at most
 * timeout_ms (generous: tests run on loaded machines).  Returns whether it
 * became true.  For waiting on events, never on fixed times. */
bool fx_wait_until(bool (*cond)(void *arg), void *arg, int64_t timeout_ms);

#endif

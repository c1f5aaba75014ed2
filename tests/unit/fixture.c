/* fixture.c - the shared temporary environment of the C unit tests
 * (fixture.h). */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

fx_env *fx_new(const char *name)
{
    fx_env *f = xcalloc(1, sizeof *f);
    char *tmpl = xasprintf("/tmp/scripthut-%s-XXXXXX", name);
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp %s failed", tmpl);
    if (!realpath(tmpl, f->root))
        fail_msg("realpath %s failed", tmpl);
    free(tmpl);
    if (!getcwd(f->old_cwd, sizeof f->old_cwd))
        fail_msg("getcwd failed");
    if (chdir(f->root) != 0)
        fail_msg("chdir %s failed", f->root);
    f->config_home = xasprintf("%s/.config", f->root);
    f->data_dir = xasprintf("%s/data", f->root);
    setenv("HOME", f->root, 1);
    setenv("XDG_CONFIG_HOME", f->config_home, 1);
    unsetenv("XDG_DATA_HOME");
    return f;
}

void fx_free(fx_env *f)
{
    if (!f)
        return;
    if (chdir(f->old_cwd) != 0)
        fail_msg("chdir %s failed", f->old_cwd);
    fs_remove_tree(f->root);
    free(f->config_home);
    free(f->data_dir);
    free(f);
}

char *fx_path(const fx_env *f, const char *rel)
{
    return xasprintf("%s/%s", f->root, rel);
}

char *fx_write(const fx_env *f, const char *rel, const char *text)
{
    char *path = fx_path(f, rel);
    char *dir = fs_dirname(path);
    if (fs_mkdir_p(dir, 0755) != 0)
        fail_msg("cannot create %s", dir);
    free(dir);
    if (fs_write_atomic(path, text, strlen(text), 0644) != 0)
        fail_msg("cannot write %s", path);
    return path;
}

bool fx_wait_until(bool (*cond)(void *arg), void *arg, int64_t timeout_ms)
{
    int64_t deadline = time_monotonic_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (time_monotonic_ms() >= deadline)
            return false;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

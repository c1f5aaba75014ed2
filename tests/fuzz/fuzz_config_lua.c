/* fuzz_config_lua.c - a config file with arbitrary content: the loader must
 * answer with a config or a file:line error, within its instruction and
 * memory limits, never crash or hang (the limits are lowered here so a
 * runaway input ends fast). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lua/host.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

static char *g_dir;

static void remove_dir(void)
{
    fs_remove_tree(g_dir);
    free(g_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir) {
        char tmpl[] = "/tmp/scripthut-fuzz-config.XXXXXX";
        if (!mkdtemp(tmpl))
            abort();
        g_dir = xstrdup(tmpl);
        atexit(remove_dir);
        setenv("HOME", g_dir, 1);
        setenv("XDG_CONFIG_HOME", g_dir, 1);
        setenv("SCRIPTHUT_LUA_INSTRUCTION_LIMIT", "200000", 1);
        setenv("SCRIPTHUT_LUA_MEMORY_LIMIT_MB", "64", 1);
    }
    char *path = xasprintf("%s/scripthut.lua", g_dir);
    if (fs_write_atomic(path, (const char *)data, size, 0600) < 0)
        abort();
    sh_err e = SH_ERR_INIT;
    host *h = host_new(&e);
    if (!h)
        abort();
    json_t *config = NULL;
    if (host_load_config(h, path, &config, &e) == 0)
        json_decref(config);
    host_free(h);
    unlink(path);
    free(path);
    return 0;
}

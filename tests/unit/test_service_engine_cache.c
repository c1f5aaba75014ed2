/* test_service_engine_cache.c - the engine's SQLite page cache is cut back
 * after each engine tick, so a long-lived engine (`scripthut
 * serve`) does not end up holding a copy of its database in memory.
 * Real config, real store file, the noop backend. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/service_internal.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#include "fixture.h"

/* Matches ENGINE_IDLE_CACHE_KB in engine_internal.h, plus the pages of the
 * statements still prepared (a few); the engine's own limit is 64 MB. */
#define IDLE_CACHE_LIMIT_BYTES (5 * 1024 * 1024)

static fx_env *env;

static int setup(void **state)
{
    (void)state;
    env = fx_new("cache");
    /* 3,000 tasks with 2 kB commands: one run whose ticks read far more
     * than the idle cache (16 MB of cache without the trim). */
    char *text =
        xasprintf("settings { data_dir = '%s', poll_interval = 1 }\n"
                  "backend 'nb' { type = 'noop' }\n"
                  "workflow 'big' { backend = 'nb', tasks = function()\n"
                  "  local t = {}\n"
                  "  for i = 1, 3000 do\n"
                  "    t[i] = { id = 't' .. i, command = 'echo ' .. string.rep('x', 2048) }\n"
                  "  end\n"
                  "  return t\n"
                  "end }\n",
                  env->data_dir);
    free(fx_write(env, "scripthut.lua", text));
    free(text);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_free(env);
    env = NULL;
    return 0;
}

static long cache_used(svc *s)
{
    return store_cache_used_bytes(s->st);
}

static void engine_page_cache_is_cut_back_between_steps(void **state)
{
    (void)state;
    char *config = fx_path(env, "scripthut.lua");
    svc *s = NULL;
    sh_err e = SH_ERR_INIT;
    int orc = svc_open(config, &s, &e);
    free(config);
    if (orc != 0)
        fail_msg("svc_open: %s", e.msg);
    /* Be the engine before submitting: otherwise the submission starts a
     * detached engine as /proc/self/exe, which here is this test binary. */
    assert_true(svc_engine_acquire(s));
    json_t *summary = NULL;
    if (svc_workflow_run(s, "big", NULL, &summary, &e) != 0)
        fail_msg("workflow run: %s", e.msg);
    json_decref(summary);

    int steps = 0;
    long worst = 0;
    const char *status = "";
    json_t *runs = NULL;
    while (steps++ < 5000) {
        if (svc_engine_step(s, 0, &e) != 0)
            fail_msg("engine step: %s", e.msg);
        long used = cache_used(s);
        if (used > worst)
            worst = used;
        json_decref(runs);
        assert_int_equal(svc_run_list(s, 1, NULL, &runs, &e), 0);
        status = json_string_value(
            json_object_get(json_array_get(json_object_get(runs, "runs"), 0), "status"));
        if (status && !strcmp(status, "completed"))
            break;
    }
    assert_string_equal(status, "completed");
    json_decref(runs);
    if (worst > IDLE_CACHE_LIMIT_BYTES)
        fail_msg("the engine's page cache held %ld bytes after a step (limit %d)", worst,
                 IDLE_CACHE_LIMIT_BYTES);
    svc_close(s);
}

int main(int argc, char **argv)
{
    (void)argv;
    /* Started as "daemon run ..." by a detached-engine spawn: never run the
     * tests again from there (each run would spawn the next). */
    if (argc > 1)
        return 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(engine_page_cache_is_cut_back_between_steps, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

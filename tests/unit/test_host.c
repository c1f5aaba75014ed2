/* test_host.c - the C <-> Lua boundary (lua/host.h): value conversion both
 * ways, config loading and its sandbox and limits, workflow documents, job
 * preparation, user overrides.
 *
 * Each test runs in the shared fixture (fixture.h): its own temp dir, which
 * is also HOME, XDG_CONFIG_HOME's parent and the cwd. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "model/model.h"
#include "lua/host.h"
#include "lua/host_private.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#include "fixture.h"

/* ---- fixtures ------------------------------------------------------------ */

typedef struct fixture {
    fx_env *env;
    host *h;
} fixture;

static const char *const LIMIT_VARS[] = {"SCRIPTHUT_LUA_INSTRUCTION_LIMIT",
                                         "SCRIPTHUT_LUA_MEMORY_LIMIT_MB", "SCRIPTHUT_LUA_PATH"};

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("test-host");
    for (size_t i = 0; i < sizeof LIMIT_VARS / sizeof *LIMIT_VARS; i++)
        unsetenv(LIMIT_VARS[i]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    host_free(f->h);
    fx_free(f->env);
    for (size_t i = 0; i < sizeof LIMIT_VARS / sizeof *LIMIT_VARS; i++)
        unsetenv(LIMIT_VARS[i]);
    free(f);
    return 0;
}

/* Writes root/rel (creating directories) and returns its absolute path. */
static char *write_file(fixture *f, const char *rel, const char *text)
{
    return fx_write(f->env, rel, text);
}

static host *new_host(fixture *f)
{
    sh_err e = SH_ERR_INIT;
    f->h = host_new(&e);
    if (!f->h)
        fail_msg("host_new: %s", e.msg);
    return f->h;
}

static json_t *load_ok(fixture *f, const char *explicit_path)
{
    json_t *cfg = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_load_config(f->h ? f->h : new_host(f), explicit_path, &cfg, &e) != 0)
        fail_msg("host_load_config: %s", e.msg);
    return cfg;
}

/* Loading must fail; returns the error (status and message). */
static sh_err load_fails(fixture *f, const char *explicit_path)
{
    json_t *cfg = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(host_load_config(f->h ? f->h : new_host(f), explicit_path, &cfg, &e), -1);
    assert_null(cfg);
    return e;
}

/* Writes scripthut.lua in the cwd and loads it; must fail. */
static sh_err project_fails(fixture *f, const char *text)
{
    free(write_file(f, "scripthut.lua", text));
    return load_fails(f, NULL);
}

#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        if (!strstr((haystack), (needle)))                                                         \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (haystack));                           \
    } while (0)

static json_t *parse_json(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON '%s': %s", text, je.text);
    return v;
}

static void assert_json_equal(json_t *got, const char *expected_text)
{
    json_t *expected = parse_json(expected_text);
    if (!json_equal(got, expected)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s, expected %s", g, expected_text);
    }
    json_decref(expected);
}

/* ---- conversion ---------------------------------------------------------- */

/* A bare state with the marker metatables, for the converter alone. */
static lua_State *conversion_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "scripthut.util", luaopen_scripthut_util, 1);
    lua_pop(L, 1);
    return L;
}

static json_t *lua_to_json(lua_State *L, const char *expr, sh_err *e)
{
    char *code = xasprintf("local util = require 'scripthut.util'; return %s", expr);
    if (luaL_dostring(L, code) != LUA_OK)
        fail_msg("lua: %s", lua_tostring(L, -1));
    free(code);
    json_t *v = luajson_to(L, -1, "value", e);
    lua_pop(L, 1);
    return v;
}

static void converts(const char *expr, const char *expected)
{
    lua_State *L = conversion_state();
    sh_err e = SH_ERR_INIT;
    json_t *v = lua_to_json(L, expr, &e);
    if (!v)
        fail_msg("%s: %s", expr, e.msg);
    assert_json_equal(v, expected);
    json_decref(v);
    lua_close(L);
}

static void conversion_fails(const char *expr, const char *expected_msg)
{
    lua_State *L = conversion_state();
    sh_err e = SH_ERR_INIT;
    json_t *v = lua_to_json(L, expr, &e);
    assert_null(v);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, expected_msg);
    lua_close(L);
}

static void lua_values_convert_to_json(void **state)
{
    (void)state;
    converts("{1, 2.5, 'x', true, false}", "[1, 2.5, \"x\", true, false]");
    converts("{a = {b = {c = 1}}}", "{\"a\": {\"b\": {\"c\": 1}}}");
    converts("{}", "[]");
    converts("util.object()", "{}");
    converts("{x = util.null}", "{\"x\": null}");
    converts("util.ordered{{'Z', '1'}, {'A', '2'}}", "{\"Z\": \"1\", \"A\": \"2\"}");
}

static void lua_integers_stay_integers(void **state)
{
    (void)state;
    lua_State *L = conversion_state();
    sh_err e = SH_ERR_INIT;
    json_t *v = lua_to_json(L, "{9007199254740993, 3.0}", &e);
    assert_true(json_is_integer(json_array_get(v, 0)));
    assert_true(json_integer_value(json_array_get(v, 0)) == 9007199254740993LL);
    assert_true(json_is_real(json_array_get(v, 1)));
    json_decref(v);
    lua_close(L);
}

static void lua_object_keys_come_out_sorted(void **state)
{
    (void)state;
    lua_State *L = conversion_state();
    sh_err e = SH_ERR_INIT;
    json_t *v = lua_to_json(L, "{zeta = 1, alpha = 2, mid = 3}", &e);
    char *text = json_dumps(v, JSON_COMPACT);
    assert_string_equal(text, "{\"alpha\":2,\"mid\":3,\"zeta\":1}");
    free(text);
    json_decref(v);
    lua_close(L);
}

static void lua_values_without_json_form_are_errors_naming_the_path(void **state)
{
    (void)state;
    conversion_fails("{tasks = {{id = 'a'}, {id = print}}}",
                     "value: tasks[2].id: cannot convert a function to JSON");
    conversion_fails("{env = {[true] = 'x', y = 1}}",
                     "value: env: map keys must be strings, got a boolean key");
    conversion_fails("{env = {[1.5] = 'x'}}", "value: env: map keys must be strings, got a "
                                              "number key");
    conversion_fails("{1, 2, x = 3}", "value: table mixes list entries and named fields");
    conversion_fails("{list = {1, nil, 3}}", "value: list: sparse array (a list with holes)");
    conversion_fails("{x = 0/0}", "value: x: NaN and infinity have no JSON form");
    lua_State *L = conversion_state();
    sh_err e = SH_ERR_INIT;
    assert_null(lua_to_json(L, "(function() local t = {}; t.self = t; return t end)()", &e));
    assert_contains(e.msg, "nested too deeply (does a table contain itself?)");
    lua_close(L);
}

/* The converter knows no key names: which objects arrive as ordered pair
 * lists is the answer of the loader in the registry, asked once (the host's
 * asks scripthut.env). */
static int ordered_keys_for_test(lua_State *L)
{
    lua_newtable(L);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "steps");
    return 1;
}

static void json_objects_are_ordered_only_under_the_names_the_loader_gives(void **state)
{
    (void)state;
    lua_State *L = conversion_state();
    json_t *v = parse_json("{\"set\": {\"Z\": \"1\", \"A\": \"2\"},"
                           " \"steps\": {\"Z\": \"1\", \"A\": \"2\"}}");
    luajson_push(L, v); /* no loader: nothing is ordered */
    lua_setglobal(L, "plain");
    lua_pushcfunction(L, ordered_keys_for_test);
    lua_setfield(L, LUA_REGISTRYINDEX, LUAJSON_ORDERED_KEYS_LOADER);
    luajson_push(L, v);
    lua_setglobal(L, "doc");
    json_decref(v);
    if (luaL_dostring(
            L, "local util = require 'scripthut.util'\n"
               "assert(not util.is_ordered(plain.set) and not util.is_ordered(plain.steps))\n"
               "assert(not util.is_ordered(doc.set))\n"
               "assert(util.is_ordered(doc.steps) and doc.steps[1][1] == 'Z')") != LUA_OK)
        fail_msg("lua: %s", lua_tostring(L, -1));
    lua_close(L);
}

/* In the host, the names are scripthut.env.ORDERED_FIELDS: an override of
 * the module changes them. */
static void ordered_fields_of_env_lua_decide_what_keeps_its_json_order(void **state)
{
    fixture *f = *state;
    free(write_file(f, "lua/scripthut/env.lua", "return { ORDERED_FIELDS = { 'steps' } }\n"));
    free(write_file(
        f, "lua/probe.lua",
        "local util = require 'scripthut.util'\n"
        "local v = util.json_decode('{\"set\": {\"Z\": \"1\"}, \"steps\": {\"Z\": \"1\"}}')\n"
        "assert(util.is_ordered(v.steps) and not util.is_ordered(v.set))\n"));
    char *dir = xasprintf("%s/lua", f->env->root);
    setenv("SCRIPTHUT_LUA_PATH", dir, 1);
    char *probe = xasprintf("%s/probe.lua", dir);
    free(dir);
    new_host(f);
    char *argv[] = {probe};
    assert_int_equal(host_run_script(f->h, probe, NULL, 1, argv), 0);
    free(probe);
}

/* JSON -> Lua -> JSON through the real host: objects (even empty ones),
 * nulls, integers and the order of set/append survive. */
static void json_round_trips_through_lua(void **state)
{
    fixture *f = *state;
    char *tpl =
        write_file(f, "lua/scripthut/templates/echo.lua",
                   "local util = require 'scripthut.util'\n"
                   "return { render = function(job) return util.json_encode(job.task) end }\n");
    free(tpl);
    char *dir = xasprintf("%s/lua", f->env->root);
    setenv("SCRIPTHUT_LUA_PATH", dir, 1);
    free(dir);
    new_host(f);
    const char *task = "{\"id\":\"t\",\"command\":\"true\",\"cpus\":4,\"gres\":null,"
                       "\"meta\":{},\"deps\":[],\"env\":[{\"set\":{\"Z\":\"1\",\"A\":\"2\"}}]}";
    char *batch_text = xasprintf(
        "{\"runs\": {\"r1\": {\"backend\": {\"name\": \"b\", \"type\": \"echo\"}, \"seed\": [],"
        " \"env\": {}, \"env_groups\": {}, \"stacks\": {}}},"
        " \"jobs\": [{\"run_id\": \"r1\", \"task\": %s, \"tag\": \"x\", \"attempt\": 1}]}",
        task);
    json_t *batch = parse_json(batch_text);
    free(batch_text);
    json_t *results = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_prepare_jobs(f->h, batch, &results, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    const char *script = json_string_value(json_object_get(json_array_get(results, 0), "script"));
    assert_non_null(script);
    /* keys of objects sorted by the converter; set keeps its own order */
    assert_string_equal(script, "{\"command\":\"true\",\"cpus\":4,\"deps\":[],"
                                "\"env\":[{\"set\":{\"Z\":\"1\",\"A\":\"2\"}}],\"gres\":null,"
                                "\"id\":\"t\",\"meta\":{}}");
    json_decref(results);
    json_decref(batch);
}

/* ---- config loading ------------------------------------------------------ */

static void no_config_gives_defaults_and_the_local_backend(void **state)
{
    fixture *f = *state;
    json_t *cfg = load_ok(f, NULL);
    json_t *settings = json_object_get(cfg, "settings");
    char *data_dir = xasprintf("%s/.local/share/scripthut", f->env->root);
    assert_string_equal(json_string_value(json_object_get(settings, "data_dir")), data_dir);
    free(data_dir);
    assert_int_equal(json_integer_value(json_object_get(settings, "poll_interval")), 60);
    json_t *backends = json_object_get(cfg, "backends");
    assert_int_equal(json_array_size(backends), 1);
    json_t *local = json_array_get(backends, 0);
    assert_string_equal(json_string_value(json_object_get(local, "name")), "local");
    assert_string_equal(json_string_value(json_object_get(local, "defined_at")), "(built-in)");
    assert_true(json_is_object(json_object_get(local, "partition_map")));
    assert_true(json_is_object(json_object_get(cfg, "env_groups")));
    assert_true(json_is_array(json_object_get(cfg, "workflows")));
    assert_true(json_is_null(json_object_get(json_object_get(cfg, "files"), "project")));
    json_decref(cfg);
}

static void project_file_is_found_by_walking_up(void **state)
{
    fixture *f = *state;
    char *path = write_file(f, "scripthut.lua", "workflow 'w' { tasks = {} }\n");
    char *sub = xasprintf("%s/a/b", f->env->root);
    assert_int_equal(fs_mkdir_p(sub, 0755), 0);
    assert_int_equal(chdir(sub), 0);
    json_t *cfg = load_ok(f, NULL);
    json_t *files = json_object_get(cfg, "files");
    assert_string_equal(json_string_value(json_object_get(files, "project")), path);
    json_t *wf = json_array_get(json_object_get(cfg, "workflows"), 0);
    char *at = xasprintf("%s:1", path);
    assert_string_equal(json_string_value(json_object_get(wf, "defined_at")), at);
    free(at);
    free(sub);
    free(path);
    json_decref(cfg);
}

static void explicit_config_that_does_not_exist_is_404(void **state)
{
    fixture *f = *state;
    sh_err e = load_fails(f, "nope/scripthut.lua");
    assert_int_equal(e.status, SH_ENOTFOUND);
    assert_string_equal(e.msg, "Config file not found: nope/scripthut.lua");
}

static void validation_error_names_file_line_and_field(void **state)
{
    fixture *f = *state;
    sh_err e = project_fails(f, "\n"
                                "backend \"hpc\" {\n"
                                "  type = \"slurm\", max_concurrent = \"ten\",\n"
                                "  ssh = { host = \"h\", user = \"u\" },\n"
                                "}\n");
    char *expected = xasprintf("%s/scripthut.lua:2: backend \"hpc\": max_concurrent must be a "
                               "positive integer, got \"ten\"",
                               f->env->root);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, expected);
    free(expected);
}

static void runtime_error_in_config_shows_file_and_line(void **state)
{
    fixture *f = *state;
    sh_err e = project_fails(f, "local x\nx.y = 1\n");
    char *expected = xasprintf("%s/scripthut.lua:2: attempt to index a nil value", f->env->root);
    assert_contains(e.msg, expected);
    assert_contains(e.msg, "stack traceback");
    free(expected);
}

static void sandbox_has_no_process_or_file_writing_functions(void **state)
{
    fixture *f = *state;
    free(write_file(f, "scripthut.lua",
                    "assert(os.execute == nil and os.remove == nil and os.exit == nil)\n"
                    "assert(io.popen == nil and debug == nil and package == nil)\n"
                    "assert(string.dump == nil and dofile == nil and loadfile == nil)\n"
                    "assert(not pcall(io.open, 'x', 'w'))\n"
                    "assert(getmetatable('') == nil)\n"
                    "assert(load('return _G')() == _G)\n"));
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
}

static void sandbox_refuses_require_of_standard_modules(void **state)
{
    fixture *f = *state;
    sh_err e = project_fails(f, "local os = require 'os'\n");
    assert_contains(e.msg, "scripthut.lua:1: module 'os' is not available in config files");
}

static void config_that_loops_forever_hits_the_instruction_limit(void **state)
{
    fixture *f = *state;
    setenv("SCRIPTHUT_LUA_INSTRUCTION_LIMIT", "100000", 1);
    sh_err e = project_fails(f, "while true do end\n");
    char *expected = xasprintf("%s/scripthut.lua: config exceeded the instruction limit "
                               "(100000 instructions, stopped at %s/scripthut.lua:1)",
                               f->env->root, f->env->root);
    assert_int_equal(e.status, SH_EINVAL);
    assert_contains(e.msg, expected);
    free(expected);
}

static void instruction_limit_cannot_be_swallowed_by_pcall(void **state)
{
    fixture *f = *state;
    setenv("SCRIPTHUT_LUA_INSTRUCTION_LIMIT", "100000", 1);
    sh_err e = project_fails(f, "while true do pcall(function() while true do end end) end\n");
    assert_contains(e.msg, "config exceeded the instruction limit (100000 instructions");
}

static void config_that_allocates_too_much_hits_the_memory_limit(void **state)
{
    fixture *f = *state;
    setenv("SCRIPTHUT_LUA_MEMORY_LIMIT_MB", "8", 1);
    sh_err e = project_fails(f, "local t = {}\n"
                                "for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end\n");
    char *expected =
        xasprintf("%s/scripthut.lua: config exceeded the memory limit (8 MB)", f->env->root);
    assert_contains(e.msg, expected);
    free(expected);
    /* the host stays usable: the garbage was collected and the limit lifted */
    free(write_file(f, "scripthut.lua", "workflow 'w' { tasks = {} }\n"));
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
}

static void project_file_may_not_define_backends_when_a_user_file_exists(void **state)
{
    fixture *f = *state;
    char *user = write_file(f, ".config/scripthut/config.lua", "settings { poll_interval = 5 }\n");
    sh_err e = project_fails(f, "backend 'hpc' { type = 'local' }\n");
    char *expected = xasprintf("%s/scripthut.lua:1: backend \"hpc\": backends belong in the user "
                               "config (%s), not in a project file",
                               f->env->root, user);
    assert_contains(e.msg, expected);
    free(expected);
    free(user);
}

static void user_and_project_files_are_layered(void **state)
{
    fixture *f = *state;
    free(write_file(f, ".config/scripthut/config.lua",
                    "settings { poll_interval = 5 }\n"
                    "backend 'hpc' { type = 'local', max_cpus = 2 }\n"
                    "stack 'a' { init = 'user a' }\n"
                    "stack 'b' { init = 'user b' }\n"
                    "env { set = { U = '1' } }\n"));
    free(write_file(f, "scripthut.lua",
                    "stack 'a' { init = 'project a' }\n"
                    "stack 'c' { init = 'project c' }\n"
                    "env { set = { P = '1' } }\n"
                    "workflow 'w' { backend = 'hpc', tasks = {} }\n"));
    json_t *cfg = load_ok(f, NULL);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(cfg, "settings"), "poll_interval")), 5);
    json_t *stacks = json_object_get(cfg, "stacks");
    assert_int_equal(json_array_size(stacks), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(stacks, 0), "init")),
                        "project a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stacks, 2), "name")), "c");
    assert_json_equal(json_object_get(cfg, "env"),
                      "[{\"set\": {\"U\": \"1\"}}, {\"set\": {\"P\": \"1\"}}]");
    json_decref(cfg);
}

/* ---- workflow documents -------------------------------------------------- */

static json_t *document(fixture *f, const char *name, sh_err *e)
{
    json_t *doc = NULL;
    if (host_workflow_document(f->h, name, &doc, e) != 0)
        return NULL;
    return doc;
}

static void workflow_tasks_from_function_table_and_file(void **state)
{
    fixture *f = *state;
    free(write_file(f, "flows/w.json",
                    "{\"tasks\": [{\"id\": \"f1\", \"command\": \"x\"}],"
                    " \"env\": [{\"set\": {\"B\": \"2\", \"A\": \"1\"}}],"
                    " \"env_groups\": {\"g\": []}}"));
    free(
        write_file(f, "scripthut.lua",
                   "workflow 'fn' { env = { set = { W = '1' } }, tasks = function()\n"
                   "  local t = {}\n"
                   "  for i = 1, 3 do t[#t + 1] = { id = 'sim.' .. i, command = 'run ' .. i } end\n"
                   "  return t\n"
                   "end }\n"
                   "workflow 'tbl' { tasks = { { id = 'a', command = 'x', deps = {} } } }\n"
                   "workflow 'file' { tasks = 'flows/w.json' }\n"));
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
    sh_err e = SH_ERR_INIT;
    json_t *doc = document(f, "fn", &e);
    assert_non_null(doc);
    assert_json_equal(doc, "{\"tasks\": [{\"id\": \"sim.1\", \"command\": \"run 1\"},"
                           " {\"id\": \"sim.2\", \"command\": \"run 2\"},"
                           " {\"id\": \"sim.3\", \"command\": \"run 3\"}],"
                           " \"env\": [{\"set\": {\"W\": \"1\"}}], \"env_groups\": {}}");
    json_decref(doc);
    doc = document(f, "tbl", &e);
    assert_json_equal(doc, "{\"tasks\": [{\"id\": \"a\", \"command\": \"x\", \"deps\": []}],"
                           " \"env\": [], \"env_groups\": {}}");
    json_decref(doc);
    doc = document(f, "file", &e);
    assert_non_null(doc);
    assert_json_equal(doc, "{\"tasks\": [{\"id\": \"f1\", \"command\": \"x\"}],"
                           " \"env\": [{\"set\": {\"B\": \"2\", \"A\": \"1\"}}],"
                           " \"env_groups\": {\"g\": []}}");
    /* the file's set order is kept */
    char *text = json_dumps(json_object_get(doc, "env"), JSON_COMPACT);
    assert_string_equal(text, "[{\"set\":{\"B\":\"2\",\"A\":\"1\"}}]");
    free(text);
    json_decref(doc);
}

static void unknown_workflow_is_404_listing_the_known_ones(void **state)
{
    fixture *f = *state;
    free(write_file(f, "scripthut.lua",
                    "workflow 'b' { tasks = {} }\nworkflow 'a' { tasks = {} }\n"));
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
    sh_err e = SH_ERR_INIT;
    assert_null(document(f, "zzz", &e));
    assert_int_equal(e.status, SH_ENOTFOUND);
    assert_string_equal(e.msg, "unknown workflow \"zzz\"; known workflows: a, b");
}

static void workflow_function_runs_under_the_instruction_limit(void **state)
{
    fixture *f = *state;
    setenv("SCRIPTHUT_LUA_INSTRUCTION_LIMIT", "100000", 1);
    char *path = write_file(f, "scripthut.lua",
                            "workflow 'w' { tasks = function()\n"
                            "  while true do end\n"
                            "end }\n");
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
    sh_err e = SH_ERR_INIT;
    assert_null(document(f, "w", &e));
    char *expected = xasprintf("workflow \"w\" (%s:1): config exceeded the instruction limit "
                               "(100000 instructions, stopped at %s:2)",
                               path, path);
    assert_contains(e.msg, expected);
    free(expected);
    free(path);
}

static void workflow_returning_a_function_value_names_the_task(void **state)
{
    fixture *f = *state;
    free(write_file(
        f, "scripthut.lua",
        "workflow 'w' { tasks = function() return { { id = 'a', command = print } } end }\n"));
    json_t *cfg = load_ok(f, NULL);
    json_decref(cfg);
    sh_err e = SH_ERR_INIT;
    assert_null(document(f, "w", &e));
    assert_string_equal(e.msg,
                        "workflow \"w\": tasks[1].command: cannot convert a function to JSON");
}

/* ---- jobs ---------------------------------------------------------------- */

static void prepare_jobs_renders_local_scripts_with_resolved_env(void **state)
{
    fixture *f = *state;
    new_host(f);
    json_t *batch = parse_json(
        "{\"runs\": {\"r1\": {\"backend\": {\"name\": \"local\", \"type\": \"local\"},"
        "  \"seed\": [[\"SCRIPTHUT_RUN_ID\", \"r1\"]],"
        "  \"env\": {\"backend\": [], \"server\": [{\"set\": {\"A\": \"it's\"}}], \"workflow\": "
        "[]},"
        "  \"env_groups\": {}, \"stacks\": {}}},"
        " \"jobs\": [{\"run_id\": \"r1\", \"task\": {\"id\": \"t\", \"command\": \"echo hi\"},"
        "            \"tag\": \"sh-r1-t-1\", \"attempt\": 1},"
        "           {\"run_id\": \"r1\", \"task\": {\"id\": \"u\", \"command\": \"true\","
        "            \"env\": [{\"stacks\": [\"nope\"]}]}, \"tag\": \"sh-r1-u-1\", \"attempt\": "
        "1}]}");
    json_t *results = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_prepare_jobs(f->h, batch, &results, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    assert_int_equal(json_array_size(results), 2);
    json_t *first = json_array_get(results, 0);
    const char *script = json_string_value(json_object_get(first, "script"));
    assert_contains(script, "#!/bin/bash\n");
    assert_contains(script, "export SCRIPTHUT_RUN_ID=r1\nexport A='it'\\''s'\n");
    assert_contains(script, "\necho hi\n");
    assert_json_equal(json_object_get(first, "env"),
                      "[[\"SCRIPTHUT_RUN_ID\", \"r1\"], [\"A\", \"it's\"]]");
    json_t *second = json_array_get(results, 1);
    assert_contains(json_string_value(json_object_get(second, "error")),
                    "stack 'nope' referenced from task but not defined");
    json_decref(results);
    json_decref(batch);
}

static void user_override_module_wins_over_the_builtin(void **state)
{
    fixture *f = *state;
    free(write_file(f, ".config/scripthut/lua/scripthut/templates/local.lua",
                    "return { render = function(job) return 'custom ' .. job.task.id end }\n"));
    new_host(f);
    json_t *batch = parse_json(
        "{\"runs\": {\"r\": {\"backend\": {\"name\": \"local\", \"type\": \"local\"}, \"seed\": [],"
        " \"env\": {}, \"env_groups\": {}, \"stacks\": {}}},"
        " \"jobs\": [{\"run_id\": \"r\", \"task\": {\"id\": \"t\", \"command\": \"x\"}}]}");
    json_t *results = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_prepare_jobs(f->h, batch, &results, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    assert_string_equal(json_string_value(json_object_get(json_array_get(results, 0), "script")),
                        "custom t");
    json_decref(results);
    json_decref(batch);
}

/* A template that prints everything it was given, tables with sorted keys,
 * number subtypes, nulls and which marker metatable each table carries. */
static const char DUMP_TEMPLATE[] =
    "local mts, nmt = {}, 0\n"
    "local function dump(v, out)\n"
    "  if type(v) ~= 'table' then\n"
    "    if type(v) == 'number' then out[#out+1] = math.type(v) .. ':' .. tostring(v)\n"
    "    elseif type(v) == 'userdata' then out[#out+1] = 'null:' .. tostring(v == nil)\n"
    "    else out[#out+1] = type(v) .. ':' .. tostring(v) end\n"
    "    return\n"
    "  end\n"
    "  local mt = getmetatable(v)\n"
    "  if mt and not mts[mt] then nmt = nmt + 1; mts[mt] = nmt end\n"
    "  out[#out+1] = '{mt' .. tostring(mt and mts[mt] or 0) .. ' #' .. #v\n"
    "  local keys = {}\n"
    "  for k in pairs(v) do keys[#keys+1] = k end\n"
    "  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n"
    "  for _, k in ipairs(keys) do out[#out+1] = ' ' .. tostring(k) .. '='; dump(v[k], out) end\n"
    "  out[#out+1] = '}'\n"
    "end\n"
    "return { render = function(job)\n"
    "  mts, nmt = {}, 0\n"
    "  local out = {}\n"
    "  dump(job, out)\n"
    "  return table.concat(out)\n"
    "end }\n";

static const char RUNS_JSON[] =
    "{\"r1\": {\"backend\": {\"name\": \"local\", \"type\": \"local\"},"
    " \"seed\": [[\"SCRIPTHUT_RUN_ID\", \"r1\"]], \"env\": {}, \"env_groups\": {},"
    " \"stacks\": {}}}";

static const char *const TASKS_JSON[] = {
    "{\"id\": \"full\", \"name\": \"Full one\", \"command\": \"echo hi\","
    " \"working_dir\": \"/tmp\", \"partition\": \"p\", \"cpus\": 3, \"memory\": \"2G\","
    " \"time_limit\": \"0:10:00\", \"deps\": [\"a\", \"b\"], \"output_file\": \"o.txt\","
    " \"error_file\": \"e.txt\", \"gres\": \"gpu:1\", \"image\": \"img\", \"retries\": 2,"
    " \"retry_delay\": 1.5, \"generates_source\": \"more.json\","
    " \"env\": [{\"set\": {\"Z\": \"1\", \"A\": \"2\"}}, {\"append\": {\"P\": \"/x\"}}]}",
    "{\"id\": \"bare\", \"command\": \"true\"}",
};

/* The engine's direct path (host_prepare_job_list) hands templates exactly
 * the tables of the JSON path (task_def_to_json through host_prepare_jobs). */
static void prepare_job_list_gives_templates_the_same_tables_as_the_json_path(void **state)
{
    fixture *f = *state;
    free(write_file(f, ".config/scripthut/lua/scripthut/templates/local.lua", DUMP_TEMPLATE));
    new_host(f);
    size_t n = sizeof TASKS_JSON / sizeof *TASKS_JSON;
    task_def defs[2];
    host_job jobs[2];
    json_t *jarr = json_array();
    sh_err e = SH_ERR_INIT;
    for (size_t i = 0; i < n; i++) {
        json_t *obj = parse_json(TASKS_JSON[i]);
        if (task_def_from_json(obj, "test", &defs[i], &e) < 0)
            fail_msg("task %zu: %s", i, e.msg);
        json_decref(obj);
        jobs[i] = (host_job){"r1",       &defs[i], i ? "sh-r1-bare-1" : "sh-r1-full-2",
                             (int)i + 1, "/l/out", "/l/err"};
        json_array_append_new(jarr, json_pack("{s:s,s:o,s:s,s:i,s:s,s:s}", "run_id", "r1", "task",
                                              task_def_to_json(&defs[i]), "tag", jobs[i].tag,
                                              "attempt", jobs[i].attempt, "out_path", "/l/out",
                                              "err_path", "/l/err"));
    }
    json_t *runs = parse_json(RUNS_JSON);
    json_t *batch = json_pack("{s:O,s:o,s:b}", "runs", runs, "jobs", jarr, "with_env", 0);
    json_t *results = NULL;
    if (host_prepare_jobs(f->h, batch, &results, &e) != 0)
        fail_msg("prepare: %s", e.msg);
    host_job_result res[2];
    if (host_prepare_job_list(f->h, runs, jobs, n, res, &e) != 0)
        fail_msg("prepare_job_list: %s", e.msg);
    for (size_t i = 0; i < n; i++) {
        const char *want = json_string_value(json_object_get(json_array_get(results, i), "script"));
        assert_non_null(want);
        assert_non_null(res[i].script);
        assert_string_equal(res[i].script, want);
        host_job_result_free(&res[i]);
        task_def_free(&defs[i]);
    }
    assert_contains(json_string_value(json_object_get(json_array_get(results, 0), "script")),
                    " retry_delay=float:1.5");
    json_decref(results);
    json_decref(batch);
    json_decref(runs);
}

/* Errors and env warnings come back per job from the direct path too. */
static void prepare_job_list_returns_errors_and_warnings_per_job(void **state)
{
    fixture *f = *state;
    new_host(f);
    task_def defs[2];
    sh_err e = SH_ERR_INIT;
    const char *texts[] = {
        "{\"id\": \"t\", \"command\": \"echo hi\", \"env\": [{\"set\": {\"X\": \"${NOPE}\"}}]}",
        "{\"id\": \"u\", \"command\": \"true\", \"env\": [{\"stacks\": [\"nope\"]}]}"};
    host_job jobs[2];
    for (size_t i = 0; i < 2; i++) {
        json_t *obj = parse_json(texts[i]);
        if (task_def_from_json(obj, "test", &defs[i], &e) < 0)
            fail_msg("task %zu: %s", i, e.msg);
        json_decref(obj);
        jobs[i] = (host_job){"r1", &defs[i], "tag", 1, "/l/out", "/l/err"};
    }
    json_t *runs = parse_json(RUNS_JSON);
    host_job_result res[2];
    if (host_prepare_job_list(f->h, runs, jobs, 2, res, &e) != 0)
        fail_msg("prepare_job_list: %s", e.msg);
    assert_non_null(res[0].script);
    assert_contains(res[0].script, "\necho hi\n");
    assert_int_equal(res[0].nwarnings, 1);
    assert_contains(res[0].warnings[0], "${NOPE} undefined");
    assert_null(res[1].script);
    assert_contains(res[1].error, "stack 'nope' referenced from task but not defined");
    for (size_t i = 0; i < 2; i++) {
        host_job_result_free(&res[i]);
        task_def_free(&defs[i]);
    }
    json_decref(runs);
}

/* ---- env rules ----------------------------------------------------------- */

/* host_env_normalize_document must fail on `doc` with exactly `expected`. */
static void env_doc_fails(fixture *f, const char *doc_text, const char *expected)
{
    json_t *doc = parse_json(doc_text), *out = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(host_env_normalize_document(f->h, doc, "flow.json", &out, &e), -1);
    assert_null(out);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, expected);
    json_decref(doc);
}

/* Env rules are validated once, by lua/scripthut/env.lua: the messages C
 * used to write itself are Lua's now, with 1-based indices. */
static void env_rules_are_validated_in_lua_with_one_based_indices(void **state)
{
    fixture *f = *state;
    new_host(f);
    env_doc_fails(f, "{\"tasks\": [], \"env\": [\"set X=1\"]}",
                  "flow.json: env[1] must be a table, got \"set X=1\"");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{}, {\"unset\": [\"X\"]}]}",
                  "flow.json: env[2]: unknown field \"unset\" (did you mean \"set\"?)");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"set\": {\"N\": 4}}]}",
                  "flow.json: env[1].set.N must be a string, got 4");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"append\": [\"PATH\"]}]}",
                  "flow.json: env[1].append[1] must be a {KEY, value} pair, got \"PATH\"");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"set\": {\"MY VAR\": \"x\"}}]}",
                  "flow.json: env[1].set: \"MY VAR\" is not a valid environment variable name");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"if\": {\"A\": 1}}]}",
                  "flow.json: env[1].if.A must be a string or a list of strings, got 1");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"if_\": {\"A\": [\"x\", 2]}}]}",
                  "flow.json: env[1].if.A must be a list of strings (item 2 is 2)");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"if\": \"A=1\"}]}",
                  "flow.json: env[1].if must be a table of KEY = value or {values}, got \"A=1\"");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"stacks\": [\"ml\", \"\"]}]}",
                  "flow.json: env[1].stacks[2] must be a non-empty name");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"init\": [\"a\"]}]}",
                  "flow.json: env[1].init must be a string, got a table");
    env_doc_fails(f, "{\"tasks\": [], \"env\": [{\"if\": {}, \"if_\": {}}]}",
                  "flow.json: env[1]: give either 'if' or 'if_', not both");
    env_doc_fails(f, "{\"tasks\": [], \"env_groups\": {\"g\": [{\"init\": 3}]}}",
                  "flow.json: env_groups.g[1].init must be a string, got 3");
    env_doc_fails(f, "{\"tasks\": [], \"env_groups\": [\"g\"]}",
                  "flow.json: env_groups must be a table of group name = rules, got a table");
    /* a task's rules are named as C names its other fields */
    env_doc_fails(f,
                  "[{\"id\": \"a\", \"command\": \"x\"},"
                  " {\"id\": \"b\", \"command\": \"x\", \"env\": [{}, {\"sett\": {}}]}]",
                  "flow.json: tasks[2]: Task 'b': env[2]: unknown field \"sett\" (did you mean "
                  "\"set\"?)");
}

/* The stored form: fields in the order if, include, stacks, set, append,
 * init; if_ renamed; null and empty fields gone; set/append in the order
 * written; one rule where a list is expected is a list of one. */
static void env_rules_are_normalised_into_their_stored_form(void **state)
{
    fixture *f = *state;
    new_host(f);
    json_t *doc = parse_json(
        "{\"title\": \"t\", \"env\": {\"set\": {\"X\": \"1\"}},"
        " \"env_groups\": {\"gpu\": [{\"if_\": {}, \"init\": \"module load cuda\"}]},"
        " \"tasks\": [{\"id\": \"a\", \"command\": \"x\"},"
        " {\"id\": \"b\", \"command\": \"y\", \"env\": [{\"init\": \"module load x\","
        " \"set\": {\"B\": \"2\", \"A\": \"1\"}, \"include\": [], \"append\": {},"
        " \"stacks\": null, \"if_\": {\"HOST\": [\"h1\", \"h2\"]}}, {\"include\": \"gpu\"}]}]}");
    char *before = json_dumps(doc, JSON_COMPACT);
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_env_normalize_document(f->h, doc, "flow.json", &out, &e) != 0)
        fail_msg("normalize: %s", e.msg);
    char *got = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(
        got, "{\"title\":\"t\",\"env\":[{\"set\":{\"X\":\"1\"}}],"
             "\"env_groups\":{\"gpu\":[{\"init\":\"module load cuda\"}]},"
             "\"tasks\":[{\"id\":\"a\",\"command\":\"x\"},{\"id\":\"b\",\"command\":\"y\","
             "\"env\":[{\"if\":{\"HOST\":[\"h1\",\"h2\"]},\"set\":{\"B\":\"2\",\"A\":\"1\"},"
             "\"init\":\"module load x\"},{\"include\":[\"gpu\"]}]}]}");
    /* the input is not changed; a task without env is shared */
    char *after = json_dumps(doc, JSON_COMPACT);
    assert_string_equal(before, after);
    assert_ptr_equal(json_array_get(json_object_get(out, "tasks"), 0),
                     json_array_get(json_object_get(doc, "tasks"), 0));
    free(before);
    free(after);
    free(got);
    json_decref(out);
    json_decref(doc);
}

/* Which stacks a run uses is the walk env resolution does: a stack named
 * under a guard that does not hold is not used. */
static void stacks_of_run_follow_includes_and_honour_guards(void **state)
{
    fixture *f = *state;
    new_host(f);
    json_t *run = parse_json(
        "{\"backend\": {\"name\": \"local\", \"type\": \"local\"},"
        " \"seed\": [[\"SCRIPTHUT_BACKEND\", \"local\"]],"
        " \"env\": {\"backend\": [], \"server\": [{\"include\": [\"base\"]}],"
        "          \"workflow\": [{\"if\": {\"SCRIPTHUT_BACKEND\": \"hpc\"}, \"stacks\": "
        "[\"hpc\"]}]},"
        " \"env_groups\": {\"base\": [{\"stacks\": [\"tools\"]}, {\"set\": {\"GPU\": \"1\"}}]},"
        " \"stacks\": {\"tools\": {}, \"ml\": {}, \"hpc\": {}}}");
    json_t *rules = parse_json("[[{\"if\": {\"GPU\": \"1\"}, \"stacks\": [\"ml\"]}],"
                               " [{\"if\": {\"GPU\": \"0\"}, \"stacks\": [\"ml\"]},"
                               "  {\"stacks\": [\"undefined\"]}]]");
    json_t *used = NULL;
    sh_err e = SH_ERR_INIT;
    if (host_env_stacks_of_run(f->h, run, rules, &used, &e) != 0)
        fail_msg("stacks_of_run: %s", e.msg);
    assert_json_equal(used, "{\"run\": [\"tools\"], \"tasks\": [[\"tools\", \"ml\"],"
                            " [\"tools\", \"undefined\"]]}");
    json_decref(used);
    json_decref(rules);
    json_decref(run);
}

/* ---- scripts ------------------------------------------------------------- */

static void script_gets_arg_and_errors_return_1(void **state)
{
    fixture *f = *state;
    new_host(f);
    char *argv[] = {"-e", "one", "two"};
    assert_int_equal(
        host_run_script(f->h, NULL,
                        "assert(arg[0] == '-e' and arg[1] == 'one' and arg[2] == 'two')\n"
                        "assert(select('#', ...) == 2)\n"
                        "assert(os.execute ~= nil)\n",
                        3, argv),
        0);
    assert_int_equal(host_run_script(f->h, NULL, "error('expected failure')", 1, argv), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lua_values_convert_to_json),
        cmocka_unit_test(lua_integers_stay_integers),
        cmocka_unit_test(lua_object_keys_come_out_sorted),
        cmocka_unit_test(lua_values_without_json_form_are_errors_naming_the_path),
        cmocka_unit_test(json_objects_are_ordered_only_under_the_names_the_loader_gives),
        cmocka_unit_test_setup_teardown(ordered_fields_of_env_lua_decide_what_keeps_its_json_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(json_round_trips_through_lua, setup, teardown),
        cmocka_unit_test_setup_teardown(no_config_gives_defaults_and_the_local_backend, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(project_file_is_found_by_walking_up, setup, teardown),
        cmocka_unit_test_setup_teardown(explicit_config_that_does_not_exist_is_404, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(validation_error_names_file_line_and_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(runtime_error_in_config_shows_file_and_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sandbox_has_no_process_or_file_writing_functions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sandbox_refuses_require_of_standard_modules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(config_that_loops_forever_hits_the_instruction_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(instruction_limit_cannot_be_swallowed_by_pcall, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(config_that_allocates_too_much_hits_the_memory_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            project_file_may_not_define_backends_when_a_user_file_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(user_and_project_files_are_layered, setup, teardown),
        cmocka_unit_test_setup_teardown(workflow_tasks_from_function_table_and_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_workflow_is_404_listing_the_known_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(workflow_function_runs_under_the_instruction_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(workflow_returning_a_function_value_names_the_task, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(prepare_jobs_renders_local_scripts_with_resolved_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(user_override_module_wins_over_the_builtin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            prepare_job_list_gives_templates_the_same_tables_as_the_json_path, setup, teardown),
        cmocka_unit_test_setup_teardown(prepare_job_list_returns_errors_and_warnings_per_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(env_rules_are_validated_in_lua_with_one_based_indices,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(env_rules_are_normalised_into_their_stored_form, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stacks_of_run_follow_includes_and_honour_guards, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(script_gets_arg_and_errors_return_1, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

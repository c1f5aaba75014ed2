/* mod_scripthut.c - module `scripthut`: the Lua API of `scripthut lua` (the
 * REPL and user scripts; never the config sandbox).
 *
 * The C half is a table of primitives over the client layer (client.h), so a
 * script gets local mode or server mode exactly as the CLI does, with the same
 * JSON results.  lua/scripthut/api.lua builds the public module from them
 * (argument shapes, watch, stacks) — see docs/lua-api.md.
 *
 * The connection is opened on first use, once per Lua state, and owned by a
 * userdata in the registry whose __gc/__close closes it: a Lua error can leak
 * neither the store nor the engine lock.
 *
 * Error channels (DESIGN §2): a runtime failure returns nil, message, status
 * (the API's HTTP-like status); misuse (a wrong argument type) raises. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "lua/host.h"
#include "lua/host_module.h"
#include "script/script.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#ifndef SCRIPTHUT_VERSION
#define SCRIPTHUT_VERSION "dev"
#endif

#define API_CONN_MT "scripthut.connection"
#define API_CONN_KEY "scripthut.open_connection"   /* registry: the open connection */
#define API_OPTIONS_KEY "scripthut.client_options" /* registry: {config=, server=} */
#define API_EXEC_RESULT_MT "scripthut.exec_result"

typedef struct api_conn {
    cli_client *cl;
} api_conn;

/* ---- the connection ----------------------------------------------------- */

static int api_conn_close(lua_State *L)
{
    api_conn *c = luaL_checkudata(L, 1, API_CONN_MT);
    client_close(c->cl); /* releases the engine if held */
    c->cl = NULL;
    return 0;
}

/* The client of this Lua state, connecting on first use with the options
 * script_enable recorded.  NULL with e set when connecting fails; the
 * next call tries again (the user may have fixed the config meanwhile). */
static cli_client *api_client(lua_State *L, sh_err *e)
{
    lua_getfield(L, LUA_REGISTRYINDEX, API_CONN_KEY);
    api_conn *c = luaL_testudata(L, -1, API_CONN_MT);
    lua_pop(L, 1);
    if (c && c->cl)
        return c->cl;
    lua_getfield(L, LUA_REGISTRYINDEX, API_OPTIONS_KEY); // opts
    lua_getfield(L, -1, "config");
    lua_getfield(L, -2, "server"); // opts config server
    /* The userdata exists before the connection does, so a memory error
     * after client_open cannot leak it. */
    c = lua_newuserdatauv(L, sizeof *c, 0); // opts config server conn
    c->cl = NULL;
    luaL_setmetatable(L, API_CONN_MT);
    client_options o = {.config_path = lua_tostring(L, -3), .server = lua_tostring(L, -2)};
    if (client_open(&o, &c->cl, e) != 0) {
        lua_pop(L, 4);
        return NULL;
    }
    lua_setfield(L, LUA_REGISTRYINDEX, API_CONN_KEY); // opts config server
    lua_pop(L, 3);
    return c->cl;
}

/* ---- results ------------------------------------------------------------ */

static int api_fail(lua_State *L, const sh_err *e)
{
    lua_pushnil(L);
    lua_pushstring(L, e->msg[0] ? e->msg : "unknown error");
    lua_pushinteger(L, e->status ? e->status : SH_EINTERNAL);
    return 3;
}

/* A copy of v whose objects have no null members: Lua scripts test fields
 * with `if run.finished_at then`, and JSON null (a lightuserdata) is truthy.
 * Nulls inside arrays stay (as json.null) so positions do not shift. */
static json_t *api_without_nulls(json_t *v)
{
    const char *key;
    json_t *x, *out;
    size_t i;
    if (json_is_object(v)) {
        out = json_object();
        json_object_foreach(v, key, x) if (!json_is_null(x))
            json_object_set_new(out, key, api_without_nulls(x));
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach(v, i, x) json_array_append_new(out, api_without_nulls(x));
        return out;
    }
    return json_incref(v);
}

/* Pushes v (a reference the caller gives up; `field` selects a member, may
 * be NULL) as a plain Lua value.  Returns 1. */
static int api_push_result(lua_State *L, json_t *v, const char *field)
{
    json_t *plain = api_without_nulls(field ? json_object_get(v, field) : v);
    json_decref(v);
    json_t **box = util_json_box(L, plain); // box
    luajson_push(L, plain);                 // box value
    json_decref(plain);
    *box = NULL;
    lua_remove(L, -2); // value
    return 1;
}

/* ---- argument helpers (misuse raises) ------------------------------------ */

/* Field `name` of the options table at idx (absent or nil table: fallback). */
static const char *api_opt_string(lua_State *L, int idx, const char *name, const char *fallback)
{
    if (lua_isnoneornil(L, idx))
        return fallback;
    lua_getfield(L, idx, name);
    const char *s = fallback;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "option '%s' must be a string, not a %s", name, luaL_typename(L, -1));
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: the options table holds it */
    return s;
}

static lua_Integer api_opt_integer(lua_State *L, int idx, const char *name, lua_Integer fallback)
{
    if (lua_isnoneornil(L, idx))
        return fallback;
    lua_getfield(L, idx, name);
    lua_Integer n = fallback;
    if (!lua_isnil(L, -1)) {
        int isnum = 0;
        n = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "option '%s' must be an integer, not a %s", name, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return n;
}

static bool api_opt_bool(lua_State *L, int idx, const char *name)
{
    if (lua_isnoneornil(L, idx))
        return false;
    lua_getfield(L, idx, name);
    bool yes = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return yes;
}

static void api_check_options(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx))
        luaL_checktype(L, idx, LUA_TTABLE);
}

/* Every primitive starts like this: connect, or return nil, err. */
#define API_CLIENT(L, cl, e)                                                                       \
    sh_err e = SH_ERR_INIT;                                                                        \
    cli_client *cl = api_client(L, &e);                                                            \
    if (!cl)                                                                                       \
    return api_fail(L, &e)

/* ---- primitives ---------------------------------------------------------- */

/* core.server() -> "local" | URL, source */
static int api_server(lua_State *L)
{
    API_CLIENT(L, cl, e);
    lua_pushstring(L, client_server(cl));
    lua_pushstring(L, client_server_source(cl));
    return 2;
}

/* core.config() -> the normalised configuration (docs/config-json.md) */
static int api_config(lua_State *L)
{
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->config(cl, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.backends() -> list of backends */
static int api_backends(lua_State *L)
{
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->backend_list(cl, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, "backends");
}

/* core.runs([{limit=, workflow=}]) -> list of run summaries, newest first */
static int api_runs(lua_State *L)
{
    api_check_options(L, 1);
    lua_Integer limit = api_opt_integer(L, 1, "limit", 20);
    const char *workflow = api_opt_string(L, 1, "workflow", NULL);
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->run_list(cl, limit < 0 ? 0 : (int)limit, workflow, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, "runs");
}

/* core.run(id) -> run detail */
static int api_run(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->run_detail(cl, id, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.cancel(id) -> run summary */
static int api_cancel(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->run_cancel(cl, id, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.rerun(id [, {failed_only=}]) -> summary of the new run */
static int api_rerun(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    api_check_options(L, 2);
    bool failed_only = api_opt_bool(L, 2, "failed_only");
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->run_rerun(cl, id, failed_only, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.logs(id, task [, {error=, tail=}]) -> text */
static int api_logs(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    const char *task = luaL_checkstring(L, 2);
    api_check_options(L, 3);
    bool error_log = api_opt_bool(L, 3, "error");
    lua_Integer tail = api_opt_integer(L, 3, "tail", 0);
    API_CLIENT(L, cl, e);
    char *content = NULL;
    if (cl->ops->task_log(cl, id, task, error_log, (long)tail, &content, &e) != 0)
        return api_fail(L, &e);
    lua_pushstring(L, content ? content : "");
    free(content);
    return 1;
}

/* core.events(id, after) -> {events = {...}, last_seq = n} */
static int api_events(lua_State *L)
{
    const char *id = luaL_checkstring(L, 1);
    lua_Integer after = luaL_optinteger(L, 2, 0);
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->run_events(cl, id, after, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.submit(run_name, backend, document) -> run summary.  The document is
 * {"tasks": [...], "env": [...], "env_groups": {...}} (docs/config-json.md). */
static int api_submit(lua_State *L)
{
    const char *run_name = luaL_checkstring(L, 1);
    const char *backend_name = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    sh_err conv = SH_ERR_INIT;
    json_t *doc = luajson_to(L, 3, "tasks", &conv);
    if (!doc)
        return luaL_error(L, "%s", conv.msg); /* a function in a task: misuse */
    json_t **box = util_json_box(L, doc);     /* until the call returns */
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    int rc = cl->ops->submit(cl, run_name, backend_name, doc, &out, &e);
    json_decref(doc);
    *box = NULL;
    if (rc != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.workflow_run(name [, backend]) -> run summary */
static int api_workflow_run(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *backend_name = luaL_optstring(L, 2, NULL);
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->workflow_run(cl, name, backend_name, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.engine_acquire() -> true | nil, err.  Drives the engine (when no other
 * process does) while this state waits; api.lua counts nested holders. */
static int api_engine_acquire(lua_State *L)
{
    API_CLIENT(L, cl, e);
    cl->ops->engine_acquire(cl);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.engine_wait(ms) -> true | nil, err: returns early when something
 * changed. */
static int api_engine_wait(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    API_CLIENT(L, cl, e);
    if (cl->ops->engine_wait(cl, ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms, &e) != 0)
        return api_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
}

static int api_engine_release(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, API_CONN_KEY);
    api_conn *c = luaL_testudata(L, -1, API_CONN_MT);
    if (c && c->cl)
        c->cl->ops->engine_release(c->cl);
    return 0;
}

/* core.now_ms() -> a monotonic clock, for timeouts */
static int api_now_ms(lua_State *L)
{
    lua_pushinteger(L, time_monotonic_ms());
    return 1;
}

/* ---- exec --------------------------------------------------------------- */

static int api_exec_result_gc(lua_State *L)
{
    exec_result_free(luaL_checkudata(L, 1, API_EXEC_RESULT_MT));
    return 0;
}

static void api_push_exec_result(lua_State *L, const exec_result *r)
{
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, r->exit_status);
    lua_setfield(L, -2, "exit_status");
    lua_pushlstring(L, r->out ? r->out : "", r->out ? r->out_len : 0);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, r->err ? r->err : "", r->err ? r->err_len : 0);
    lua_setfield(L, -2, "stderr");
    if (r->term_signal) {
        lua_pushinteger(L, r->term_signal);
        lua_setfield(L, -2, "signal");
    }
    if (r->timed_out) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "timed_out");
    }
}

/* core.exec(backend, command [, {timeout=seconds}]) ->
 * {exit_status=, stdout=, stderr=, signal=?, timed_out=?}, on the backend's
 * own transport (this machine, or its login node over SSH). */
static int api_exec(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *command = luaL_checkstring(L, 2);
    api_check_options(L, 3);
    lua_Integer timeout = api_opt_integer(L, 3, "timeout", 0);
    API_CLIENT(L, cl, e);
    /* the result lives in a userdata, so a memory error while building the
     * table cannot leak its buffers */
    exec_result *r = lua_newuserdatauv(L, sizeof *r, 0); // r
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, API_EXEC_RESULT_MT);
    if (cl->ops->exec(cl, name, command, timeout > 0 ? (int)(timeout * 1000) : 0, r, &e) != 0)
        return api_fail(L, &e);
    api_push_exec_result(L, r); // r result
    return 1;
}

/* core.stack_list() -> {stacks = {...}} (each with its hash), any mode */
static int api_stack_list(lua_State *L)
{
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->stack_list(cl, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.install(name [, {backend=, rebuild=}]) -> summary of the install run */
static int api_install(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    api_check_options(L, 2);
    const char *backend_name = NULL;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "backend");
        backend_name = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the options table */
    }
    bool rebuild = api_opt_bool(L, 2, "rebuild");
    API_CLIENT(L, cl, e);
    json_t *out = NULL;
    if (cl->ops->stack_install(cl, name, backend_name, rebuild, &out, &e) != 0)
        return api_fail(L, &e);
    return api_push_result(L, out, NULL);
}

/* core.stack_script(name [, {rebuild=}]) -> the install script (local mode) */
static int api_stack_script(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    api_check_options(L, 2);
    bool rebuild = api_opt_bool(L, 2, "rebuild");
    API_CLIENT(L, cl, e);
    char *script = NULL;
    if (cl->ops->stack_script(cl, name, rebuild, &script, &e) != 0)
        return api_fail(L, &e);
    lua_pushstring(L, script);
    free(script);
    return 1;
}

/* ---- the module --------------------------------------------------------- */

static const luaL_Reg api_primitives[] = {
    {"server", api_server},
    {"config", api_config},
    {"backends", api_backends},
    {"runs", api_runs},
    {"run", api_run},
    {"cancel", api_cancel},
    {"rerun", api_rerun},
    {"logs", api_logs},
    {"events", api_events},
    {"submit", api_submit},
    {"workflow_run", api_workflow_run},
    {"engine_acquire", api_engine_acquire},
    {"engine_wait", api_engine_wait},
    {"engine_release", api_engine_release},
    {"now_ms", api_now_ms},
    {"exec", api_exec},
    {"stack_list", api_stack_list},
    {"install", api_install},
    {"stack_script", api_stack_script},
    {NULL, NULL},
};

static int luaopen_scripthut(lua_State *L)
{
    if (luaL_newmetatable(L, API_CONN_MT)) {
        lua_pushcfunction(L, api_conn_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, api_conn_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, API_EXEC_RESULT_MT)) {
        lua_pushcfunction(L, api_exec_result_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "scripthut.api");
    lua_call(L, 1, 1);              // build
    luaL_newlib(L, api_primitives); // build core
    lua_pushstring(L, SCRIPTHUT_VERSION);
    lua_setfield(L, -2, "version");
    lua_call(L, 1, 1); // module
    return 1;
}

/* Called by `scripthut lua` (never for config hosts): records how to
 * connect, and preloads the module as `require "scripthut"` and the global
 * `scripthut`. */
int script_enable(host *h, const char *config_path, const char *server, sh_err *e)
{
    lua_State *L = host_state(h);
    lua_createtable(L, 0, 2);
    if (config_path) {
        lua_pushstring(L, config_path);
        lua_setfield(L, -2, "config");
    }
    if (server) {
        lua_pushstring(L, server);
        lua_setfield(L, -2, "server");
    }
    lua_setfield(L, LUA_REGISTRYINDEX, API_OPTIONS_KEY);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_scripthut);
    lua_setfield(L, -2, "scripthut");
    lua_pop(L, 1);
    lua_pushcfunction(L, host_msgh);
    lua_getglobal(L, "require");
    lua_pushstring(L, "scripthut");
    if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
        sh_err_set(e, SH_EINTERNAL, "cannot load the scripthut module: %s", lua_tostring(L, -1));
        lua_pop(L, 2);
        return -1;
    }
    lua_setglobal(L, "scripthut");
    lua_pop(L, 1);
    return 0;
}

/* mod_runtime.c - module scripthut.runtime: what the Lua side of the host
 * needs to know about the host itself.
 *
 * The config sandbox (lua/scripthut/config.lua) loads modules into its own
 * environment, so it needs the embedded sources and the user override path;
 * and it tells the host what it is evaluating, so an instruction or memory
 * limit error can name the file. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "lua/embedded.h"
#include "lua/host_private.h"

/* runtime.embedded_source(name) -> source, chunkname | nil */
static int runtime_embedded_source(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const struct embedded_module *m = embedded_lua_modules; m->name; m++) {
        if (strcmp(m->name, name) == 0) {
            lua_pushlstring(L, m->source, m->len);
            lua_pushstring(L, m->chunk);
            return 2;
        }
    }
    lua_pushnil(L);
    return 1;
}

/* runtime.embedded_modules() -> sorted list of built-in module names */
static int runtime_embedded_modules(lua_State *L)
{
    lua_newtable(L);
    lua_Integer i = 0;
    for (const struct embedded_module *m = embedded_lua_modules; m->name; m++) {
        lua_pushstring(L, m->name);
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

/* runtime.user_path() -> "dir/?.lua;dir/?/init.lua;..." of the user override
 * directories ($SCRIPTHUT_LUA_PATH, then $XDG_CONFIG_HOME/scripthut/lua). */
static int runtime_user_path(lua_State *L)
{
    struct host *h = host_from_state(L);
    lua_pushstring(L, h->user_path ? h->user_path : "");
    return 1;
}

/* runtime.set_context(what): names the file (or workflow) being evaluated in
 * limit errors. */
static int runtime_set_context(lua_State *L)
{
    struct host *h = host_from_state(L);
    const char *what = luaL_checkstring(L, 1);
    snprintf(h->context, sizeof h->context, "%s", what);
    return 0;
}

/* runtime.limit_exceeded() -> true once the sandboxed call in progress went
 * over its instruction limit: the sandbox's pcall rethrows then, so config
 * code cannot swallow the limit error and keep looping. */
static int runtime_limit_exceeded(lua_State *L)
{
    lua_pushboolean(L, host_from_state(L)->instr_exceeded);
    return 1;
}

static const luaL_Reg runtime_functions[] = {
    {"limit_exceeded", runtime_limit_exceeded},     {"embedded_source", runtime_embedded_source},
    {"embedded_modules", runtime_embedded_modules}, {"user_path", runtime_user_path},
    {"set_context", runtime_set_context},           {NULL, NULL},
};

int luaopen_scripthut_runtime(lua_State *L)
{
    luaL_newlib(L, runtime_functions);
    return 1;
}

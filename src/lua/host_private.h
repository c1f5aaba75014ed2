/* host_private.h - what the files of src/lua/ share, and nothing else sees.
 *
 * The host struct (its allocator budget and instruction limit are read by the
 * Lua modules implemented in C), the protected call into a module, and the
 * luaopen_* functions of the C modules.  The JSON <-> Lua conversion and the
 * message handler are in host_module.h: the scripting API (src/script/) uses
 * them too. */
#ifndef SCRIPTHUT_LUA_HOST_PRIVATE_H
#define SCRIPTHUT_LUA_HOST_PRIVATE_H
#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "lua/host_module.h"
#include "util/err.h"

#define LUAJSON_OBJECT_MT "scripthut.json_object"
#define LUAJSON_ORDERED_MT "scripthut.json_ordered"
#define LUAJSON_ORDERED_KEYS "scripthut.json_ordered_keys"
#define LUAJSON_ORDERED_KEYS_LOADER "scripthut.json_ordered_keys_loader"
#define LUA_ERROR_MT "scripthut.error"

struct host {
    lua_State *L;
    /* allocator budget: mem_limit 0 = unlimited */
    size_t mem_used;
    size_t mem_limit;
    bool mem_exceeded;
    /* instruction limit of the sandboxed call in progress (0 = none) */
    long long instr_limit;
    long long instr_count;
    bool instr_exceeded;
    /* limits for sandboxed calls: env var overrides, else settings */
    long long cfg_instr_limit;
    size_t cfg_mem_limit_mb;
    bool instr_from_env;
    bool mem_from_env;
    /* what the sandbox is evaluating, for limit errors ("/p/scripthut.lua") */
    char context[512];
    char limit_msg[1024];
    int loaded_ref;  /* registry ref of the loaded config (LUA_NOREF until loaded) */
    char *user_path; /* package.path template of the user override dirs */
};

/* The host owning L (stored as the allocator's userdata). */
struct host *host_from_state(lua_State *L);

/* Creates the marker metatables in the registry (idempotent). */
void luajson_init(lua_State *L);

/* One call into a Lua module: require(mod)[fn](ref?, args..., pushed...). */
struct invoke {
    const char *mod;
    const char *fn;
    int ref;      /* registry ref pushed as the first argument, or LUA_NOREF */
    json_t *args; /* array of further arguments, or NULL */
    /* Optional: pushes more arguments straight from C structs and returns
     * how many (host_jobs.c); runs in protected mode. */
    int (*push_args)(lua_State *L, void *ud);
    /* Optional: reads the result (at the top of the stack) into C while
     * still in protected mode; may raise. */
    void (*take_result)(lua_State *L, void *ud);
    void *ud;
};

/* Calls inv in protected mode with a traceback handler; on success leaves its
 * one result on the stack and returns 0.  `sandboxed` applies the
 * instruction and memory limits (host.c). */
int host_invoke(struct host *h, struct invoke *inv, bool sandboxed, int default_status, sh_err *e);

int luaopen_scripthut_util(lua_State *L);
int luaopen_scripthut_runtime(lua_State *L);

#endif

/* host_module.h - what a Lua module written in C outside src/lua/ (the
 * scripting API in src/script/) needs from the host, and nothing more: the
 * host's lua_State, the message handler for lua_pcall, and the JSON <-> Lua
 * conversion.  The host's own modules see more (host_private.h).
 *
 * JSON conventions (see docs/configuration.md, "Lua and JSON values"):
 *   - JSON null <-> the lightuserdata NULL (`util.null`, the same value as
 *     cjson.null).
 *   - A Lua table whose keys are exactly 1..n (n >= 1) is an array; an empty
 *     table is an empty array unless it carries the object marker metatable
 *     (`util.object(t)`), then it is `{}`.  Other tables are objects whose keys
 *     must be strings; they are emitted in sorted key order, so iteration order
 *     never leaks into the output.
 *   - A table with the ordered marker (`util.ordered(pairs)`) holds a list of
 *     {key, value} pairs and becomes an object with keys in list order (env
 *     rule `set`/`append`, whose order is significant).
 *   - JSON objects arrive in Lua with the object marker, so `{}` survives a
 *     round trip; objects under a member whose name is in the ordered-keys
 *     set arrive as ordered pair lists, so their key order does too.  The
 *     converter knows no names: the set comes from the function in the
 *     registry under LUAJSON_ORDERED_KEYS_LOADER (the host installs one that
 *     returns scripthut.env's ORDERED_FIELDS: `set` and `append`, whose order
 *     is significant) and is kept under LUAJSON_ORDERED_KEYS (host_private.h). */
#ifndef SCRIPTHUT_LUA_HOST_MODULE_H
#define SCRIPTHUT_LUA_HOST_MODULE_H
#include <jansson.h>
#include <lua.h>

#include "lua/host.h"
#include "util/err.h"

/* The Lua state of h. */
lua_State *host_state(host *h);

/* Message handler for lua_pcall: error objects pass through, anything else
 * gets a traceback (host.c). */
int host_msgh(lua_State *L);

/* Pushes v as a Lua value (conventions above).  May raise a Lua error (memory):
 * call in protected mode. */
void luajson_push(lua_State *L, json_t *v);

/* Converts the value at idx to JSON.  `root` names the value in error messages
 * ("workflow \"sweep\""); errors name the path inside it ("tasks[3].cpus").
 * Never raises a Lua error.  Returns a new reference or NULL with e set. */
json_t *luajson_to(lua_State *L, int idx, const char *root, sh_err *e);

/* A userdata owning v until a conversion to Lua is done (it decrefs *box on
 * __gc), so a memory error in the middle cannot leak v; set *box = NULL once
 * v is released (mod_util.c). */
json_t **util_json_box(lua_State *L, json_t *v);

#endif

/* mod_util.c - module scripthut.util: the C helpers Lua code needs.
 *
 * Shell quoting (THE quoting function, src/util/quote.c, so Lua templates and
 * C code can never disagree), JSON through jansson with the conventions of
 * host_private.h, error objects that carry a status, and small path helpers.
 * Every function here is safe inside the config sandbox: nothing runs a
 * process or writes a file. */
#include <errno.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua/host_private.h"
#include "util/fsutil.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/suggest.h"

/* A string argument without NUL bytes: C strings cannot hold them, and no
 * shell word or path can contain one anyway. */
static const char *util_check_cstring(lua_State *L, int arg)
{
    size_t len;
    const char *s = luaL_checklstring(L, arg, &len);
    if (strlen(s) != len)
        luaL_argerror(L, arg, "string contains a NUL byte");
    return s;
}

/* Pushes a C string owned by the caller, then frees it. */
static int util_push_owned(lua_State *L, char *s)
{
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int util_shell_quote(lua_State *L)
{
    return util_push_owned(L, shell_quote(util_check_cstring(L, 1)));
}

static int util_shell_quote_path(lua_State *L)
{
    return util_push_owned(L, shell_quote_path_expand_prefix(util_check_cstring(L, 1)));
}

/* util.closest(name, candidates) -> the candidate a typo of `name` most
 * likely meant, or nil (src/util/suggest.c: the rule C messages use too).
 * Strings holding a NUL byte are never suggested. */
static int util_closest(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (strlen(name) != len) {
        lua_pushnil(L);
        return 1;
    }
    size_t n = lua_rawlen(L, 2), k = 0;
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i);
        size_t clen;
        const char *c = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &clen) : NULL;
        lua_pop(L, 1); /* the string stays alive: the table holds it */
        if (c && strlen(c) == clen)
            names[k++] = c;
    }
    const char *best = suggest_closest(name, names, k);
    if (best)
        lua_pushstring(L, best);
    else
        lua_pushnil(L);
    return 1;
}

/* util.object([t]) -> t marked as a JSON object (an empty one stays `{}`). */
static int util_object(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_setmetatable(L, LUAJSON_OBJECT_MT);
    return 1;
}

/* util.ordered([pairs]) -> pairs marked as an ordered JSON object. */
static int util_ordered(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_setmetatable(L, LUAJSON_ORDERED_MT);
    return 1;
}

static int util_has_mt(lua_State *L, const char *name)
{
    int yes = 0;
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, name);
        yes = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, yes);
    return 1;
}

static int util_is_object(lua_State *L)
{
    return util_has_mt(L, LUAJSON_OBJECT_MT);
}
static int util_is_ordered(lua_State *L)
{
    return util_has_mt(L, LUAJSON_ORDERED_MT);
}

/* A userdata owning a jansson value until the conversion is done, so a
 * memory error in the middle cannot leak it. */
#define UTIL_JSON_BOX_MT "scripthut.json_box"

static int util_json_box_gc(lua_State *L)
{
    json_t **box = luaL_checkudata(L, 1, UTIL_JSON_BOX_MT);
    json_decref(*box);
    *box = NULL;
    return 0;
}

json_t **util_json_box(lua_State *L, json_t *v)
{
    json_t **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = v;
    luaL_setmetatable(L, UTIL_JSON_BOX_MT);
    return box;
}

/* util.json_decode(text) -> value | nil, "line L column C: message" */
static int util_json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_t **box = util_json_box(L, NULL); // box
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    *box = v;
    if (!v) {
        lua_pushnil(L);
        lua_pushfstring(L, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return 2;
    }
    luajson_push(L, v); // box value
    json_decref(v);
    *box = NULL;
    return 1;
}

/* util.json_encode(value [, pretty]) -> text | nil, message */
static int util_json_encode(lua_State *L)
{
    sh_err e = SH_ERR_INIT;
    json_t *v = luajson_to(L, 1, "value", &e);
    if (!v) {
        lua_pushnil(L);
        lua_pushstring(L, e.msg);
        return 2;
    }
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
    if (lua_toboolean(L, 2))
        flags = JSON_ENCODE_ANY | JSON_INDENT(2);
    char *text = json_dumps(v, flags);
    json_decref(v);
    if (!text) {
        lua_pushnil(L);
        lua_pushstring(L, "cannot encode value as JSON");
        return 2;
    }
    return util_push_owned(L, text);
}

/* util.error(message [, status]) -> an error object {message=, status=}.
 * Raised by config validation: the host shows its message alone (no
 * traceback) and uses its status (default 422). */
static int util_error(lua_State *L)
{
    luaL_checkstring(L, 1);
    lua_Integer status = luaL_optinteger(L, 2, SH_EINVAL);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    luaL_setmetatable(L, LUA_ERROR_MT);
    return 1;
}

/* util.raise(message [, status]): error(util.error(message, status)) */
static int util_raise(lua_State *L)
{
    util_error(L);
    return lua_error(L);
}

static int util_is_error(lua_State *L)
{
    return util_has_mt(L, LUA_ERROR_MT);
}

static int util_error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

static int util_expand_home(lua_State *L)
{
    return util_push_owned(L, fs_expand_home(util_check_cstring(L, 1)));
}

/* util.absolute(path [, base_dir]): "~" expanded, relative to base_dir (or
 * the cwd), normalised lexically. */
static int util_absolute(lua_State *L)
{
    const char *path = util_check_cstring(L, 1);
    const char *base = lua_isnoneornil(L, 2) ? NULL : util_check_cstring(L, 2);
    return util_push_owned(L, fs_absolute(path, base));
}

static int util_dirname(lua_State *L)
{
    return util_push_owned(L, fs_dirname(util_check_cstring(L, 1)));
}

static int util_file_exists(lua_State *L)
{
    lua_pushboolean(L, fs_exists(util_check_cstring(L, 1)));
    return 1;
}

static int util_getcwd(lua_State *L)
{
    char buf[4096];
    if (!getcwd(buf, sizeof buf)) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushstring(L, buf);
    return 1;
}

static int util_nproc(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static const luaL_Reg util_functions[] = {
    {"shell_quote", util_shell_quote},
    {"shell_quote_path", util_shell_quote_path},
    {"closest", util_closest},
    {"object", util_object},
    {"ordered", util_ordered},
    {"is_object", util_is_object},
    {"is_ordered", util_is_ordered},
    {"json_decode", util_json_decode},
    {"json_encode", util_json_encode},
    {"error", util_error},
    {"raise", util_raise},
    {"is_error", util_is_error},
    {"expand_home", util_expand_home},
    {"absolute", util_absolute},
    {"dirname", util_dirname},
    {"file_exists", util_file_exists},
    {"getcwd", util_getcwd},
    {"nproc", util_nproc},
    {NULL, NULL},
};

int luaopen_scripthut_util(lua_State *L)
{
    luajson_init(L);
    if (luaL_newmetatable(L, LUA_ERROR_MT)) {
        lua_pushcfunction(L, util_error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, UTIL_JSON_BOX_MT)) {
        lua_pushcfunction(L, util_json_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, util_functions);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    return 1;
}

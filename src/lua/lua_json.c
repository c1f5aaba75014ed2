/* lua_json.c - direct conversion between Lua values and jansson values.
 *
 * No JSON text in between: a million-task workflow would otherwise be
 * serialised and parsed once more for nothing.  The conventions (null, empty
 * tables, ordered objects) are described in host_private.h. */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lua/host_private.h"
#include "util/sbuf.h"

#define LUAJSON_MAX_DEPTH 200

void luajson_init(lua_State *L)
{
    luaL_newmetatable(L, LUAJSON_OBJECT_MT);
    lua_pop(L, 1);
    luaL_newmetatable(L, LUAJSON_ORDERED_MT);
    lua_pop(L, 1);
}

/* ---- JSON -> Lua ------------------------------------------------------- */

static void push_value(lua_State *L, json_t *v, bool ordered_object, int keys);

/* Pushes the set {name = true} of the member names whose object values
 * arrive as ordered pair lists, and returns its index; 0 (nothing pushed)
 * when there is no such set.  Which names those are is not this file's
 * business: the function in the registry under LUAJSON_ORDERED_KEYS_LOADER
 * says it, once; its answer is kept under LUAJSON_ORDERED_KEYS. */
static int push_ordered_keys(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, LUAJSON_ORDERED_KEYS) == LUA_TTABLE)
        return lua_gettop(L);
    lua_pop(L, 1);
    if (lua_getfield(L, LUA_REGISTRYINDEX, LUAJSON_ORDERED_KEYS_LOADER) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return 0;
    }
    lua_call(L, 0, 1); // keys
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LUAJSON_ORDERED_KEYS);
    return lua_gettop(L);
}

/* Whether the key at the top of the stack is in the set at `keys`. */
static bool key_is_ordered(lua_State *L, int keys)
{
    if (!keys)
        return false;
    lua_pushvalue(L, -1);
    bool yes = lua_rawget(L, keys) != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return yes;
}

/* {k1: v1, ...} -> {{k1, v1}, ...} with the ordered marker */
static void push_ordered(lua_State *L, json_t *obj, int keys)
{
    lua_createtable(L, (int)json_object_size(obj), 0); // list
    lua_Integer i = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        lua_createtable(L, 2, 0); // list pair
        lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
        lua_rawseti(L, -2, 1);
        push_value(L, json_object_iter_value(it), false, keys);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, ++i); // list
    }
    luaL_setmetatable(L, LUAJSON_ORDERED_MT);
}

static void push_object(lua_State *L, json_t *obj, int keys)
{
    lua_createtable(L, 0, (int)json_object_size(obj)); // tbl
    const char *key;
    json_t *val;
    void *iter = json_object_iter(obj);
    for (; iter; iter = json_object_iter_next(obj, iter)) {
        key = json_object_iter_key(iter);
        size_t klen = json_object_iter_key_len(iter);
        val = json_object_iter_value(iter);
        lua_pushlstring(L, key, klen);                     // tbl key
        push_value(L, val, key_is_ordered(L, keys), keys); // tbl key value
        lua_rawset(L, -3);                                 // tbl
    }
    luaL_setmetatable(L, LUAJSON_OBJECT_MT);
}

static void push_value(lua_State *L, json_t *v, bool ordered_object, int keys)
{
    luaL_checkstack(L, 4, "JSON value nested too deeply");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (ordered_object)
            push_ordered(L, v, keys);
        else
            push_object(L, v, keys);
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_value(L, json_array_get(v, i), false, keys);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    case JSON_NULL: lua_pushlightuserdata(L, NULL); break;
    }
}

void luajson_push(lua_State *L, json_t *v)
{
    if (!v) {
        lua_pushlightuserdata(L, NULL);
        return;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        push_value(L, v, false, 0);
        return;
    }
    int keys = push_ordered_keys(L); // keys?
    push_value(L, v, false, keys);   // keys? value
    if (keys)
        lua_remove(L, keys); // value
}

/* ---- Lua -> JSON ------------------------------------------------------- */

typedef struct conv {
    lua_State *L;
    sbuf path; /* "tasks[3].env" */
    const char *root;
    int depth;
    sh_err *e;
} conv;

static json_t *conv_value(conv *c, int idx);

static json_t *conv_fail(conv *c, const char *fmt, const char *detail)
{
    char problem[256];
    snprintf(problem, sizeof problem, fmt, detail);
    const char *path = sbuf_cstr(&c->path);
    if (c->path.len > 240) /* a table that contains itself: keep the ends */
        sh_err_set(c->e, SH_EINVAL, "%s: %.80s...%s: %s", c->root, path, path + c->path.len - 120,
                   problem);
    else if (c->path.len)
        sh_err_set(c->e, SH_EINVAL, "%s: %s: %s", c->root, path, problem);
    else
        sh_err_set(c->e, SH_EINVAL, "%s: %s", c->root, problem);
    return NULL;
}

static void path_push_index(conv *c, lua_Integer i)
{
    sbuf_printf(&c->path, "[%lld]", (long long)i);
}

static void path_push_key(conv *c, const char *k, size_t len)
{
    if (c->path.len)
        sbuf_putc(&c->path, '.');
    sbuf_append(&c->path, k, len);
}

static void path_pop(conv *c, size_t len)
{
    c->path.len = len;
    if (c->path.data)
        c->path.data[len] = '\0';
}

static bool has_metatable(lua_State *L, int idx, const char *name)
{
    if (!lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, name);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

enum table_kind {
    TK_ARRAY,
    TK_OBJECT,
    TK_BAD
};

/* Array when the keys are exactly 1..n (n >= 1) or the table is empty and
 * unmarked; object when every key is a string. */
static enum table_kind classify(conv *c, int idx, size_t *count)
{
    lua_State *L = c->L;
    size_t n = 0, nstr = 0, nint = 0;
    lua_Integer max = 0;
    const char *other = NULL; /* type of a key that is neither */
    lua_pushnil(L);
    while (lua_next(L, idx)) { // key value
        n++;
        if (lua_type(L, -2) == LUA_TSTRING) {
            nstr++;
        } else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
            nint++;
            if (lua_tointeger(L, -2) > max)
                max = lua_tointeger(L, -2);
        } else {
            other = luaL_typename(L, -2);
        }
        lua_pop(L, 1); // key
    }
    *count = n;
    if (n == 0)
        return has_metatable(L, idx, LUAJSON_OBJECT_MT) ? TK_OBJECT : TK_ARRAY;
    if (nint == n && (size_t)max == n)
        return TK_ARRAY;
    if (nstr == n)
        return TK_OBJECT;
    if (other)
        conv_fail(c, "map keys must be strings, got a %s key", other);
    else if (nstr)
        conv_fail(c, "%s", "table mixes list entries and named fields");
    else
        conv_fail(c, "%s", "sparse array (a list with holes)");
    return TK_BAD;
}

static json_t *conv_array(conv *c, int idx, size_t n)
{
    json_t *arr = json_array();
    size_t base = c->path.len;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(c->L, idx, (lua_Integer)i);
        path_push_index(c, (lua_Integer)i);
        json_t *v = conv_value(c, lua_gettop(c->L));
        path_pop(c, base);
        lua_pop(c->L, 1);
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, v);
    }
    return arr;
}

struct lkey {
    const char *s;
    size_t len;
};

static int lkey_cmp(const void *a, const void *b)
{
    const struct lkey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->s, y->s, n);
    if (r)
        return r;
    return (x->len > y->len) - (x->len < y->len);
}

static json_t *conv_set_member(conv *c, json_t *obj, const char *k, size_t klen, int vidx)
{
    size_t base = c->path.len;
    path_push_key(c, k, klen);
    json_t *v = conv_value(c, vidx);
    path_pop(c, base);
    if (!v)
        return NULL;
    json_object_setn_new(obj, k, klen, v);
    return obj;
}

/* Keys sorted: Lua's iteration order must not leak into stored JSON. The key
 * strings stay alive because the table (on the stack) references them. */
static json_t *conv_object(conv *c, int idx, size_t n)
{
    lua_State *L = c->L;
    struct lkey *keys = xcalloc(n ? n : 1, sizeof *keys);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        keys[k].s = lua_tolstring(L, -2, &keys[k].len); /* a string: no conversion */
        k++;
        lua_pop(L, 1);
    }
    qsort(keys, k, sizeof *keys, lkey_cmp);
    json_t *obj = json_object();
    for (size_t i = 0; i < k && obj; i++) {
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        if (!conv_set_member(c, obj, keys[i].s, keys[i].len, lua_gettop(L))) {
            json_decref(obj);
            obj = NULL;
        }
        lua_pop(L, 1);
    }
    free(keys);
    return obj;
}

/* The pair at the top of the stack -> obj[k] = v; pops nothing. */
static json_t *conv_pair(conv *c, json_t *obj, lua_Integer i)
{
    lua_State *L = c->L;
    int pair = lua_gettop(L);
    if (lua_type(L, pair) == LUA_TTABLE) {
        lua_rawgeti(L, pair, 1); // pair key
        lua_rawgeti(L, pair, 2); // pair key value
        if (lua_type(L, pair + 1) == LUA_TSTRING) {
            size_t klen;
            const char *k = lua_tolstring(L, pair + 1, &klen);
            return conv_set_member(c, obj, k, klen, pair + 2);
        }
    }
    size_t base = c->path.len;
    path_push_index(c, i);
    conv_fail(c, "%s", "expected a {key, value} pair with a string key");
    path_pop(c, base);
    return NULL;
}

/* {{k, v}, ...} with the ordered marker -> {k: v, ...} in list order */
static json_t *conv_ordered(conv *c, int idx)
{
    lua_State *L = c->L;
    int top = lua_gettop(L);
    json_t *obj = json_object();
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n && obj; i++) {
        lua_rawgeti(L, idx, i); // pair
        if (!conv_pair(c, obj, i)) {
            json_decref(obj);
            obj = NULL;
        }
        lua_settop(L, top);
    }
    return obj;
}

static json_t *conv_table(conv *c, int idx)
{
    if (c->depth >= LUAJSON_MAX_DEPTH)
        return conv_fail(c, "%s", "nested too deeply (does a table contain itself?)");
    if (!lua_checkstack(c->L, 8))
        return conv_fail(c, "%s", "nested too deeply for the Lua stack");
    c->depth++;
    json_t *out = NULL;
    size_t n;
    if (has_metatable(c->L, idx, LUAJSON_ORDERED_MT)) {
        out = conv_ordered(c, idx);
    } else {
        switch (classify(c, idx, &n)) {
        case TK_ARRAY: out = conv_array(c, idx, n); break;
        case TK_OBJECT: out = conv_object(c, idx, n); break;
        case TK_BAD: out = NULL; break;
        }
    }
    c->depth--;
    return out;
}

static json_t *conv_value(conv *c, int idx)
{
    lua_State *L = c->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return json_null();
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx)))
            return conv_fail(c, "%s", "NaN and infinity have no JSON form");
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *str = json_stringn(s, len);
        return str ? str : conv_fail(c, "%s", "string is not valid UTF-8");
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL)
            return json_null();
        return conv_fail(c, "%s", "cannot convert a light userdata to JSON");
    case LUA_TTABLE: return conv_table(c, lua_absindex(L, idx));
    default: return conv_fail(c, "cannot convert a %s to JSON", lua_typename(L, lua_type(L, idx)));
    }
}

json_t *luajson_to(lua_State *L, int idx, const char *root, sh_err *e)
{
    conv c = {L, SBUF_INIT, root ? root : "value", 0, e};
    int top = lua_gettop(L);
    json_t *v = conv_value(&c, lua_absindex(L, idx));
    lua_settop(L, top);
    sbuf_free(&c.path);
    return v;
}

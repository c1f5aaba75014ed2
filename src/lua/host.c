/* host.c - the Lua host: one lua_State, its budgeted allocator, the module
 * loaders, and every call from C into Lua (host.h).
 *
 * Each call into Lua goes through host_invoke: a protected call of a small C
 * trampoline that requires a module and calls one of its functions, with a
 * traceback message handler.  Config evaluation (host_load_config,
 * host_workflow_document) additionally runs under an instruction limit (a
 * count hook) and a memory budget (the allocator), so a config that loops or
 * allocates forever fails with a clear error instead of hanging the server. */
#include "lua/host.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/embedded.h"
#include "lua/host_private.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"

#define HOST_DEFAULT_INSTRUCTION_LIMIT 1000000000LL
#define HOST_DEFAULT_MEMORY_LIMIT_MB 2048
#define HOST_HOOK_STEP 1000
#define HOST_REQUIRE_KEY "scripthut.require"

lua_State *host_state(host *h)
{
    return h->L;
}

struct host *host_from_state(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* ---- allocator with a budget ------------------------------------------- */

/* Only growth can fail: Lua requires shrinking and freeing to succeed.  When
 * ptr is NULL, osize encodes the object type, not a size. */
static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct host *h = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        h->mem_used -= old;
        return NULL;
    }
    if (h->mem_limit && nsize > old && h->mem_used - old + nsize > h->mem_limit) {
        h->mem_exceeded = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        h->mem_used = h->mem_used - old + nsize;
    return p;
}

/* ---- instruction limit ------------------------------------------------- */

static void host_count_hook(lua_State *L, lua_Debug *ar)
{
    struct host *h = host_from_state(L);
    h->instr_count += HOST_HOOK_STEP;
    if (h->instr_count <= h->instr_limit)
        return;
    /* Raise again on every later step too, so a sandboxed pcall cannot
     * swallow the error and keep looping. */
    if (!h->instr_exceeded) {
        h->instr_exceeded = true;
        char where[200] = "";
        if (lua_getinfo(L, "Sl", ar) && ar->source[0] == '@' && ar->currentline > 0)
            snprintf(where, sizeof where, ", stopped at %.150s:%d", ar->source + 1,
                     ar->currentline);
        snprintf(h->limit_msg, sizeof h->limit_msg,
                 "%s%sconfig exceeded the instruction limit (%lld instructions%s); raise "
                 "settings.lua_instruction_limit or SCRIPTHUT_LUA_INSTRUCTION_LIMIT if this "
                 "is expected",
                 h->context, h->context[0] ? ": " : "", h->instr_limit, where);
    }
    lua_pushstring(L, h->limit_msg);
    lua_error(L);
}

static void host_limits_begin(struct host *h)
{
    h->instr_count = 0;
    h->instr_exceeded = false;
    h->mem_exceeded = false;
    h->context[0] = '\0';
    h->instr_limit = h->cfg_instr_limit;
    int step = h->instr_limit < HOST_HOOK_STEP ? (int)h->instr_limit : HOST_HOOK_STEP;
    lua_sethook(h->L, host_count_hook, LUA_MASKCOUNT, step > 0 ? step : 1);
    h->mem_limit = h->cfg_mem_limit_mb * 1024 * 1024;
    /* the budget is for the config's own allocations: count what the host
     * already holds as free */
    if (h->mem_limit)
        h->mem_limit += h->mem_used;
}

static void host_limits_end(struct host *h)
{
    lua_sethook(h->L, NULL, 0, 0);
    h->instr_limit = 0;
    h->mem_limit = 0;
}

static long long host_env_positive(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n <= 0) {
        log_warn("ignoring %s=%s: not a positive integer", name, v);
        return 0;
    }
    return n;
}

static void host_limits_from_env(struct host *h)
{
    long long instr = host_env_positive("SCRIPTHUT_LUA_INSTRUCTION_LIMIT");
    long long mem = host_env_positive("SCRIPTHUT_LUA_MEMORY_LIMIT_MB");
    h->instr_from_env = instr > 0;
    h->mem_from_env = mem > 0;
    h->cfg_instr_limit = instr > 0 ? instr : HOST_DEFAULT_INSTRUCTION_LIMIT;
    h->cfg_mem_limit_mb = mem > 0 ? (size_t)mem : HOST_DEFAULT_MEMORY_LIMIT_MB;
}

/* settings.lua_* of a loaded config apply to later sandboxed calls, unless
 * the environment overrides them. */
static void host_limits_from_settings(struct host *h, json_t *config)
{
    json_t *settings = json_object_get(config, "settings");
    json_t *instr = json_object_get(settings, "lua_instruction_limit");
    json_t *mem = json_object_get(settings, "lua_memory_limit_mb");
    if (!h->instr_from_env && json_is_integer(instr) && json_integer_value(instr) > 0)
        h->cfg_instr_limit = json_integer_value(instr);
    if (!h->mem_from_env && json_is_integer(mem) && json_integer_value(mem) > 0)
        h->cfg_mem_limit_mb = (size_t)json_integer_value(mem);
}

/* ---- module loading ---------------------------------------------------- */

/* package.preload loader of an embedded module: upvalue 1 is its entry. */
static int host_embedded_loader(lua_State *L)
{
    const struct embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
    if (luaL_loadbufferx(L, m->source, m->len, m->chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_pushstring(L, m->chunk + 1);
    lua_call(L, 2, 1);
    return 1;
}

/* A searcher placed before package.preload, so a module in a user override
 * directory wins over the built-in of the same name. */
static int host_user_searcher(lua_State *L)
{
    struct host *h = host_from_state(L);
    const char *name = luaL_checkstring(L, 1);
    if (!h->user_path || !*h->user_path) {
        lua_pushstring(L, "no user override directories");
        return 1;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "package");
    lua_getfield(L, -1, "searchpath"); // loaded package searchpath
    lua_pushstring(L, name);
    lua_pushstring(L, h->user_path);
    lua_call(L, 2, 2); // loaded package file|nil err
    if (lua_isnil(L, -2))
        return 1; /* the "no file ..." list */
    const char *file = lua_tostring(L, -2);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushstring(L, file); // ... loader file
    return 2;
}

static void host_install_searcher(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers"); // package searchers
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = n; i >= 1; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, host_user_searcher);
    lua_rawseti(L, -2, 1);
    lua_pop(L, 2);
}

static void host_register_preload(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); // preload
    for (const struct embedded_module *m = embedded_lua_modules; m->name; m++) {
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, host_embedded_loader, 1);
        lua_setfield(L, -2, m->name);
    }
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pushcfunction(L, luaopen_scripthut_util);
    lua_setfield(L, -2, "scripthut.util");
    lua_pushcfunction(L, luaopen_scripthut_runtime);
    lua_setfield(L, -2, "scripthut.runtime");
    lua_pop(L, 1);
}

/* User dirs first, then the default path (LUA_PATH or the system one), so
 * installed libraries (busted in /usr/share/lua/5.4) still load. */
static void host_set_package_path(lua_State *L, const char *user_path)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    if (user_path && *user_path) {
        lua_pushfstring(L, "%s;%s", user_path, lua_tostring(L, -1));
        lua_setfield(L, -3, "path");
    }
    lua_pop(L, 2);
}

/* The converter's ordered-keys set (host_private.h), from the module that
 * owns env rules: {name = true} for each name of scripthut.env.ORDERED_FIELDS. */
static int host_ordered_keys_loader(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, HOST_REQUIRE_KEY);
    lua_pushstring(L, "scripthut.env");
    lua_call(L, 1, 1);                     // env
    lua_getfield(L, -1, "ORDERED_FIELDS"); // env fields
    lua_newtable(L);                       // env fields set
    if (lua_istable(L, -2)) {
        for (lua_Integer i = 1; lua_rawgeti(L, -2, i) == LUA_TSTRING; i++) { // ... name
            lua_pushboolean(L, 1);
            lua_rawset(L, -3); // env fields set
        }
        lua_pop(L, 1); // the value that ended the list
    }
    return 1;
}

static int host_setup(lua_State *L)
{
    struct host *h = host_from_state(L);
    luaL_openlibs(L);
    host_register_preload(L);
    luaL_requiref(L, "scripthut.util", luaopen_scripthut_util, 0); /* marker metatables */
    lua_pop(L, 1);
    host_set_package_path(L, h->user_path);
    host_install_searcher(L);
    lua_getglobal(L, "require");
    lua_setfield(L, LUA_REGISTRYINDEX, HOST_REQUIRE_KEY);
    lua_pushcfunction(L, host_ordered_keys_loader);
    lua_setfield(L, LUA_REGISTRYINDEX, LUAJSON_ORDERED_KEYS_LOADER);
    return 0;
}

/* "$SCRIPTHUT_LUA_PATH entries;$XDG_CONFIG_HOME/scripthut/lua" as a
 * package.path template.  An entry holding '?' is a template already. */
static void host_path_add_dir(sbuf *b, const char *dir, size_t len)
{
    if (!len)
        return;
    if (b->len)
        sbuf_putc(b, ';');
    if (memchr(dir, '?', len))
        sbuf_append(b, dir, len);
    else
        sbuf_printf(b, "%.*s/?.lua;%.*s/?/init.lua", (int)len, dir, (int)len, dir);
}

static char *host_config_home(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && xdg[0] == '/')
        return xstrdup(xdg);
    const char *home = getenv("HOME");
    return home && *home ? xasprintf("%s/.config", home) : NULL;
}

static char *host_build_user_path(void)
{
    sbuf b = SBUF_INIT;
    const char *env = getenv("SCRIPTHUT_LUA_PATH");
    for (const char *p = env; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        host_path_add_dir(&b, p, len);
        p = colon ? colon + 1 : p + len;
    }
    char *home = host_config_home();
    if (home) {
        char *dir = xasprintf("%s/scripthut/lua", home);
        host_path_add_dir(&b, dir, strlen(dir));
        free(dir);
        free(home);
    }
    return sbuf_detach(&b);
}

host *host_new(sh_err *e)
{
    struct host *h = xcalloc(1, sizeof *h);
    h->loaded_ref = LUA_NOREF;
    host_limits_from_env(h);
    h->user_path = host_build_user_path();
    h->L = lua_newstate(host_alloc, h);
    if (!h->L) {
        host_free(h);
        sh_err_set(e, SH_EINTERNAL, "cannot create a Lua state: out of memory");
        return NULL;
    }
    lua_pushcfunction(h->L, host_setup);
    if (lua_pcall(h->L, 0, 0, 0) != LUA_OK) {
        sh_err_set(e, SH_EINTERNAL, "cannot initialise Lua: %s", lua_tostring(h->L, -1));
        host_free(h);
        return NULL;
    }
    return h;
}

void host_free(host *h)
{
    if (!h)
        return;
    if (h->L)
        lua_close(h->L);
    free(h->user_path);
    free(h);
}

/* ---- protected calls --------------------------------------------------- */

static bool host_is_error_object(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return false;
    luaL_getmetatable(L, LUA_ERROR_MT);
    bool yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

/* Message handler: error objects (validation errors) pass through without a
 * traceback; anything else gets one. */
int host_msgh(lua_State *L)
{
    if (host_is_error_object(L, 1))
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Fills e from the error value at the top of the stack (not popped). */
static void host_error_from_lua(struct host *h, int rc, int default_status, sh_err *e)
{
    lua_State *L = h->L;
    if (h->instr_exceeded) {
        sh_err_set(e, SH_EINVAL, "%s", h->limit_msg);
        return;
    }
    const char *msg = lua_tostring(L, -1);
    bool oom = rc == LUA_ERRMEM || rc == LUA_ERRERR || (msg && strstr(msg, "not enough memory"));
    if (h->mem_exceeded && oom) {
        sh_err_set(e, SH_EINVAL,
                   "%s%sconfig exceeded the memory limit (%zu MB); raise "
                   "settings.lua_memory_limit_mb or SCRIPTHUT_LUA_MEMORY_LIMIT_MB if this is "
                   "expected",
                   h->context, h->context[0] ? ": " : "", h->cfg_mem_limit_mb);
        return;
    }
    if (host_is_error_object(L, -1)) {
        lua_getfield(L, -1, "status");
        lua_getfield(L, -2, "message");
        int status = lua_isinteger(L, -2) ? (int)lua_tointeger(L, -2) : default_status;
        sh_err_set(e, status, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        lua_pop(L, 2);
        return;
    }
    sh_err_set(e, rc == LUA_ERRMEM ? SH_EINTERNAL : default_status, "%s",
               msg ? msg : "unknown Lua error");
}

/* One call into a Lua module: require(mod)[fn](ref?, args...). */

static int host_invoke_trampoline(lua_State *L)
{
    struct invoke *inv = lua_touserdata(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, HOST_REQUIRE_KEY);
    lua_pushstring(L, inv->mod);
    lua_call(L, 1, 1);            // inv module
    lua_getfield(L, -1, inv->fn); // inv module fn
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "module %s has no function %s", inv->mod, inv->fn);
    int nargs = 0;
    if (inv->ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, inv->ref);
        nargs++;
    }
    for (size_t i = 0; i < json_array_size(inv->args); i++) {
        luajson_push(L, json_array_get(inv->args, i));
        nargs++;
    }
    if (inv->push_args)
        nargs += inv->push_args(L, inv->ud);
    lua_call(L, nargs, 1); // inv module result
    if (inv->take_result)
        inv->take_result(L, inv->ud);
    return 1;
}

/* Calls inv; on success leaves its one result on the stack and returns 0.
 * `sandboxed` applies the instruction and memory limits. */
int host_invoke(struct host *h, struct invoke *inv, bool sandboxed, int default_status, sh_err *e)
{
    lua_State *L = h->L;
    lua_pushcfunction(L, host_msgh); // msgh
    int msgh = lua_gettop(L);
    lua_pushcfunction(L, host_invoke_trampoline);
    lua_pushlightuserdata(L, inv); // msgh tramp inv
    if (sandboxed)
        host_limits_begin(h);
    int rc = lua_pcall(L, 1, 1, msgh); // msgh result|err
    if (sandboxed)
        host_limits_end(h);
    lua_remove(L, msgh); // result|err
    if (rc == LUA_OK && !(sandboxed && h->instr_exceeded))
        return 0;
    host_error_from_lua(h, rc, default_status, e);
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return -1;
}

/* ---- configuration ----------------------------------------------------- */

static bool host_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *host_find_user_config(void)
{
    char *home = host_config_home();
    if (!home)
        return NULL;
    char *path = xasprintf("%s/scripthut/config.lua", home);
    free(home);
    if (host_is_file(path))
        return path;
    free(path);
    return NULL;
}

static bool host_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* scripthut.lua in the current directory or the nearest ancestor. */
static char *host_find_project_config(const char *user_file)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    char *dir = xstrdup(cwd);
    for (;;) {
        char *path = xasprintf("%s%sscripthut.lua", dir, strcmp(dir, "/") ? "/" : "");
        if (host_is_file(path)) {
            free(dir);
            if (host_same_file(path, user_file)) {
                free(path);
                return NULL;
            }
            return path;
        }
        free(path);
        if (strcmp(dir, "/") == 0)
            break;
        char *parent = fs_dirname(dir);
        free(dir);
        dir = parent;
    }
    free(dir);
    return NULL;
}

static json_t *host_path_or_null(const char *path)
{
    return path ? json_string(path) : json_null();
}

/* Keeps the loaded config (at the top of the stack) for host_workflow_document. */
static void host_keep_loaded(struct host *h)
{
    luaL_unref(h->L, LUA_REGISTRYINDEX, h->loaded_ref);
    h->loaded_ref = luaL_ref(h->L, LUA_REGISTRYINDEX);
}

/* Runs scripthut.config's `fn` (load or load_settings) over the config files. */
static int host_load(host *h, const char *fn, const char *explicit_path, json_t **config, sh_err *e)
{
    *config = NULL;
    char *explicit_abs = NULL, *user = NULL, *project = NULL;
    if (explicit_path) {
        if (!host_is_file(explicit_path))
            return sh_err_set(e, SH_ENOTFOUND, "Config file not found: %s", explicit_path);
        explicit_abs = fs_absolute(explicit_path, NULL);
    } else {
        user = host_find_user_config();
        project = host_find_project_config(user);
    }
    json_t *files =
        json_pack("{s:o, s:o, s:o}", "explicit", host_path_or_null(explicit_abs), "user",
                  host_path_or_null(user), "project", host_path_or_null(project));
    json_t *args = json_pack("[o]", files);
    free(explicit_abs);
    free(user);
    free(project);

    struct invoke inv = {.mod = "scripthut.config", .fn = fn, .ref = LUA_NOREF, .args = args};
    int rc = host_invoke(h, &inv, true, SH_EINVAL, e);
    json_decref(args);
    if (rc)
        return -1;
    int top = lua_gettop(h->L);
    lua_getfield(h->L, -1, "config"); // loaded config
    *config = luajson_to(h->L, -1, "config", e);
    lua_settop(h->L, top); // loaded
    if (!*config) {
        lua_pop(h->L, 1);
        return -1;
    }
    host_keep_loaded(h);
    host_limits_from_settings(h, *config);
    return 0;
}

int host_load_config(host *h, const char *explicit_path, json_t **config, sh_err *e)
{
    return host_load(h, "load", explicit_path, config, e);
}

int host_load_settings(host *h, const char *explicit_path, json_t **config, sh_err *e)
{
    return host_load(h, "load_settings", explicit_path, config, e);
}

int host_workflow_document(host *h, const char *name, json_t **doc, sh_err *e)
{
    *doc = NULL;
    if (h->loaded_ref == LUA_NOREF)
        return sh_err_set(e, SH_EINTERNAL, "workflow \"%s\": no configuration loaded", name);
    json_t *args = json_pack("[s]", name);
    struct invoke inv = {
        .mod = "scripthut.config", .fn = "workflow_document", .ref = h->loaded_ref, .args = args};
    int rc = host_invoke(h, &inv, true, SH_EINVAL, e);
    json_decref(args);
    if (rc)
        return -1;
    char root[300];
    snprintf(root, sizeof root, "workflow \"%s\"", name);
    *doc = luajson_to(h->L, -1, root, e);
    lua_pop(h->L, 1);
    lua_gc(h->L, LUA_GCCOLLECT, 0);
    return *doc ? 0 : -1;
}

int host_prepare_jobs(host *h, json_t *batch, json_t **results, sh_err *e)
{
    *results = NULL;
    json_t *args = json_pack("[O]", batch);
    struct invoke inv = {.mod = "scripthut.jobs", .fn = "prepare", .ref = LUA_NOREF, .args = args};
    int rc = host_invoke(h, &inv, false, SH_EINTERNAL, e);
    json_decref(args);
    if (rc)
        return -1;
    *results = luajson_to(h->L, -1, "prepared jobs", e);
    lua_pop(h->L, 1);
    lua_gc(h->L, LUA_GCCOLLECT, 0);
    return *results ? 0 : -1;
}

/* ---- env rules --------------------------------------------------------- */

struct env_doc {
    json_t *doc_env, *doc_groups;
    json_t *tasks;    /* the document's task list (borrowed) */
    size_t *with_env; /* indices of the tasks that have an env */
    size_t n_with_env;
    const char *where;
    json_t *env, *groups, *task_envs; /* the results (owned) */
    sh_err *e;
};

/* An id fit to name the task in a message, as model.c names it. */
static const char *host_task_label(json_t *task)
{
    const char *id = json_string_value(json_object_get(task, "id"));
    if (!id || !*id)
        return "?";
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "?";
    return id;
}

/* normalize_document's arguments: {env =, env_groups =, tasks = {{index =,
 * id =, env =}, ...}}, where. */
static int host_push_env_doc(lua_State *L, void *ud)
{
    struct env_doc *d = ud;
    lua_createtable(L, 0, 3); // doc
    luajson_push(L, d->doc_env);
    lua_setfield(L, -2, "env");
    luajson_push(L, d->doc_groups);
    lua_setfield(L, -2, "env_groups");
    lua_createtable(L, (int)d->n_with_env, 0); // doc tasks
    for (size_t k = 0; k < d->n_with_env; k++) {
        json_t *t = json_array_get(d->tasks, d->with_env[k]);
        lua_createtable(L, 0, 3); // doc tasks task
        lua_pushinteger(L, (lua_Integer)d->with_env[k] + 1);
        lua_setfield(L, -2, "index");
        lua_pushstring(L, host_task_label(t));
        lua_setfield(L, -2, "id");
        luajson_push(L, json_object_get(t, "env"));
        lua_setfield(L, -2, "env");
        lua_rawseti(L, -2, (lua_Integer)k + 1); // doc tasks
    }
    lua_setfield(L, -2, "tasks"); // doc
    lua_pushstring(L, d->where ? d->where : "");
    return 2;
}

/* Converts field `key` of the result table at the top; raises on failure
 * (the message is in d->e). */
static json_t *host_take_field(lua_State *L, const char *key, struct env_doc *d)
{
    lua_getfield(L, -1, key);
    json_t *v = luajson_to(L, -1, "scripthut.env.normalize_document", d->e);
    lua_pop(L, 1);
    if (!v)
        luaL_error(L, "%s", d->e->msg);
    return v;
}

static void host_take_env_doc(lua_State *L, void *ud)
{
    struct env_doc *d = ud;
    luaL_checktype(L, -1, LUA_TTABLE);
    d->env = host_take_field(L, "env", d);
    d->groups = host_take_field(L, "env_groups", d);
    d->task_envs = host_take_field(L, "tasks", d);
    if (!json_is_array(d->env) || !json_is_object(d->groups) || !json_is_array(d->task_envs) ||
        json_array_size(d->task_envs) != d->n_with_env)
        luaL_error(L, "scripthut.env.normalize_document returned a document of another shape");
}

/* The document with its env parts replaced by d's results.  Tasks without an
 * env are shared with the input. */
static json_t *host_env_doc_result(json_t *doc, struct env_doc *d)
{
    json_t *tasks = d->tasks;
    if (d->n_with_env) {
        tasks = json_array();
        size_t i, k = 0;
        json_t *t;
        json_array_foreach(d->tasks, i, t)
        {
            if (k < d->n_with_env && d->with_env[k] == i) {
                t = json_copy(t);
                json_object_set(t, "env", json_array_get(d->task_envs, k++));
                json_array_append_new(tasks, t);
            } else {
                json_array_append(tasks, t);
            }
        }
    } else {
        json_incref(tasks);
    }
    if (json_is_array(doc))
        return tasks;
    json_t *out = json_copy(doc);
    json_object_set_new(out, "tasks", tasks);
    json_object_set(out, "env", d->env);
    json_object_set(out, "env_groups", d->groups);
    return out;
}

int host_env_normalize_document(host *h, json_t *doc, const char *where, json_t **out, sh_err *e)
{
    *out = NULL;
    json_t *tasks = json_is_object(doc) ? json_object_get(doc, "tasks") : doc;
    if (!json_is_array(tasks)) {
        *out = json_incref(doc);
        return 0;
    }
    struct env_doc d = {.tasks = tasks, .where = where, .e = e};
    if (json_is_object(doc)) {
        d.doc_env = json_object_get(doc, "env");
        d.doc_groups = json_object_get(doc, "env_groups");
    }
    d.with_env = xcalloc(json_array_size(tasks) ? json_array_size(tasks) : 1, sizeof *d.with_env);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        json_t *env = json_object_get(t, "env");
        if (env && !json_is_null(env))
            d.with_env[d.n_with_env++] = i;
    }
    struct invoke inv = {.mod = "scripthut.env",
                         .fn = "normalize_document",
                         .ref = LUA_NOREF,
                         .push_args = host_push_env_doc,
                         .take_result = host_take_env_doc,
                         .ud = &d};
    int rc = host_invoke(h, &inv, false, SH_EINVAL, e);
    if (rc == 0) {
        lua_pop(h->L, 1);
        *out = host_env_doc_result(doc, &d);
    }
    json_decref(d.env);
    json_decref(d.groups);
    json_decref(d.task_envs);
    free(d.with_env);
    lua_gc(h->L, LUA_GCCOLLECT, 0);
    return rc;
}

int host_env_stacks_of_run(host *h, json_t *run, json_t *task_rules, json_t **used, sh_err *e)
{
    *used = NULL;
    json_t *args = json_pack("[O,O]", run, task_rules);
    struct invoke inv = {
        .mod = "scripthut.env", .fn = "stacks_of_run", .ref = LUA_NOREF, .args = args};
    int rc = host_invoke(h, &inv, false, SH_EINTERNAL, e);
    json_decref(args);
    if (rc)
        return -1;
    *used = luajson_to(h->L, -1, "scripthut.env.stacks_of_run", e);
    lua_pop(h->L, 1);
    if (*used &&
        (!json_is_array(json_object_get(*used, "run")) ||
         json_array_size(json_object_get(*used, "tasks")) != json_array_size(task_rules))) {
        json_decref(*used);
        *used = NULL;
        sh_err_set(e, SH_EINTERNAL,
                   "scripthut.env.stacks_of_run returned no {run = {...}, tasks = {...}}");
    }
    return *used ? 0 : -1;
}

int host_stack_script(host *h, const char *fn, json_t *args, char **script, sh_err *e)
{
    *script = NULL;
    struct invoke inv = {.mod = "scripthut.stack", .fn = fn, .ref = LUA_NOREF, .args = args};
    if (host_invoke(h, &inv, false, SH_EINTERNAL, e))
        return -1;
    const char *text = lua_tostring(h->L, -1);
    if (text)
        *script = xstrdup(text);
    else
        sh_err_set(e, SH_EINTERNAL, "scripthut.stack.%s returned %s, expected the script text", fn,
                   luaL_typename(h->L, -1));
    lua_pop(h->L, 1);
    return *script ? 0 : -1;
}

struct check_output {
    const char *out, *err;
    size_t out_len, err_len;
    int status;
    json_t *stack;
};

/* parse_check's arguments: the output as raw bytes (it may not be UTF-8). */
static int host_push_check_output(lua_State *L, void *ud)
{
    const struct check_output *c = ud;
    lua_pushlstring(L, c->out ? c->out : "", c->out ? c->out_len : 0);
    lua_pushlstring(L, c->err ? c->err : "", c->err ? c->err_len : 0);
    lua_pushinteger(L, c->status);
    luajson_push(L, c->stack);
    return 4;
}

/* The state is what core decides on (install or not, the exit code of
 * `stack check`): an override must say one of the three. */
static int host_check_status_shape(json_t *st, sh_err *e)
{
    const char *state = json_string_value(json_object_get(st, "state"));
    if (state &&
        (!strcmp(state, "ready") || !strcmp(state, "installing") || !strcmp(state, "missing")))
        return 0;
    return sh_err_set(e, SH_EINTERNAL,
                      "scripthut.stack.parse_check returned no state of ready, installing or "
                      "missing; it must return {state = ..., hash = ..., ...}");
}

int host_stack_parse_check(host *h, json_t *stack, const char *out, size_t out_len, const char *err,
                           size_t err_len, int status, json_t **status_obj, sh_err *e)
{
    *status_obj = NULL;
    struct check_output c = {out, err, out_len, err_len, status, stack};
    struct invoke inv = {.mod = "scripthut.stack",
                         .fn = "parse_check",
                         .ref = LUA_NOREF,
                         .push_args = host_push_check_output,
                         .ud = &c};
    if (host_invoke(h, &inv, false, SH_EINTERNAL, e))
        return -1;
    json_t *st =
        lua_istable(h->L, -1) ? luajson_to(h->L, -1, "scripthut.stack.parse_check", e) : NULL;
    if (!lua_istable(h->L, -1))
        sh_err_set(e, SH_EINTERNAL, "scripthut.stack.parse_check returned %s, expected a table",
                   luaL_typename(h->L, -1));
    lua_pop(h->L, 1);
    if (st && host_check_status_shape(st, e) < 0) {
        json_decref(st);
        st = NULL;
    }
    *status_obj = st;
    return st ? 0 : -1;
}

/* ---- scripts ----------------------------------------------------------- */

struct script {
    const char *path;
    const char *code;
    int argc;
    char **argv;
};

/* Loads and runs the script with the global `arg` as the standalone lua
 * interpreter sets it (arg[0] = argv[0], the script's name; arg[1..] = the
 * rest), the arguments argv[1..] also passed as `...`. */
static int host_script_trampoline(lua_State *L)
{
    struct script *s = lua_touserdata(L, 1);
    const char *chunkname =
        s->argc > 0 && strcmp(s->argv[0], "-") == 0 ? "=stdin" : "=(command line)";
    int rc = s->path ? luaL_loadfilex(L, s->path, NULL)
                     : luaL_loadbufferx(L, s->code, strlen(s->code), chunkname, "t");
    if (rc != LUA_OK) {
        lua_getfield(L, LUA_REGISTRYINDEX, HOST_REQUIRE_KEY);
        lua_pushstring(L, "scripthut.util");
        lua_call(L, 1, 1);
        lua_getfield(L, -1, "raise");
        lua_pushvalue(L, -3);
        lua_pushinteger(L, SH_EINVAL);
        lua_call(L, 2, 0); /* raises: no traceback */
    }
    lua_createtable(L, s->argc, 1);
    lua_pushstring(L, s->argc > 0 ? s->argv[0] : s->path ? s->path : "-e");
    lua_rawseti(L, -2, 0);
    for (int i = 1; i < s->argc; i++) {
        lua_pushstring(L, s->argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    luaL_checkstack(L, s->argc, "too many script arguments");
    for (int i = 1; i < s->argc; i++)
        lua_pushstring(L, s->argv[i]);
    lua_call(L, s->argc > 0 ? s->argc - 1 : 0, 0);
    return 0;
}

int host_run_script(host *h, const char *path, const char *code, int argc, char **argv)
{
    lua_State *L = h->L;
    struct script s = {path, code ? code : "", argc, argv};
    lua_pushcfunction(L, host_msgh);
    lua_pushcfunction(L, host_script_trampoline);
    lua_pushlightuserdata(L, &s);
    int rc = lua_pcall(L, 1, 0, -3);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (!msg && host_is_error_object(L, -1)) {
            lua_getfield(L, -1, "message");
            msg = lua_tostring(L, -1);
        }
        fprintf(stderr, "scripthut lua: %s\n", msg ? msg : "error");
        fflush(stderr);
    }
    lua_settop(L, 0);
    return rc == LUA_OK ? 0 : 1;
}

/* host_jobs.c - the engine's path into scripthut.jobs.prepare: jobs pushed
 * into Lua straight from the engine's task definitions, scripts read straight
 * back (host_prepare_job_list in host.h).
 *
 * The tables are built exactly as luajson_push(task_def_to_json(t)) builds
 * them (same keys, value types, insertion order and marker metatables), so a
 * template, built-in or the user's, cannot tell the two paths apart;
 * tests/unit/test_host.c checks that they agree. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "lua/host.h"
#include "lua/host_private.h"
#include "util/sbuf.h"

struct job_call {
    json_t *runs;
    const host_job *jobs;
    size_t n;
    host_job_result *out;
};

static void push_str_or_null(lua_State *L, const char *s)
{
    if (s)
        lua_pushstring(L, s);
    else
        lua_pushlightuserdata(L, NULL);
}

static void set_str(lua_State *L, const char *key, const char *s)
{
    push_str_or_null(L, s);
    lua_setfield(L, -2, key);
}

/* The table of task_def_to_json(t), in its key order. */
static void push_task(lua_State *L, const task_def *t)
{
    luaL_checkstack(L, 6, "pushing a task");
    lua_createtable(L, 0, 18); // task
    set_str(L, "id", t->id);
    set_str(L, "name", t->name ? t->name : t->id);
    set_str(L, "command", t->command ? t->command : "");
    set_str(L, "working_dir", t->working_dir);
    set_str(L, "partition", t->partition);
    lua_pushinteger(L, t->cpus);
    lua_setfield(L, -2, "cpus");
    set_str(L, "memory", t->memory);
    set_str(L, "time_limit", t->time_limit);
    lua_createtable(L, (int)t->ndeps, 0); // task deps
    for (size_t i = 0; i < t->ndeps; i++) {
        lua_pushstring(L, t->deps[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "dependencies"); // task
    set_str(L, "generates_source", t->generates_source);
    set_str(L, "output_file", t->output_file);
    set_str(L, "error_file", t->error_file);
    if (t->env)
        luajson_push(L, t->env);
    else
        lua_createtable(L, 0, 0);
    lua_setfield(L, -2, "env");
    set_str(L, "gres", t->gres);
    set_str(L, "image", t->image);
    lua_pushinteger(L, t->retries);
    lua_setfield(L, -2, "retries");
    lua_pushnumber(L, t->retry_delay);
    lua_setfield(L, -2, "retry_delay");
    luaL_setmetatable(L, LUAJSON_OBJECT_MT);
}

static void push_job(lua_State *L, const char *run_id, const host_job *j)
{
    lua_createtable(L, 0, 6); // job
    set_str(L, "run_id", run_id);
    push_task(L, j->task);       // job task
    lua_setfield(L, -2, "task"); // job
    set_str(L, "tag", j->tag);
    lua_pushinteger(L, j->attempt);
    lua_setfield(L, -2, "attempt");
    set_str(L, "out_path", j->out_path);
    set_str(L, "err_path", j->err_path);
    luaL_setmetatable(L, LUAJSON_OBJECT_MT);
}

/* Pushes the one argument of jobs.prepare: {runs =, jobs =, with_env = false}. */
static int push_batch(lua_State *L, void *ud)
{
    struct job_call *c = ud;
    lua_createtable(L, 0, 3); // batch
    luajson_push(L, c->runs);
    lua_setfield(L, -2, "runs");
    lua_createtable(L, (int)c->n, 0); // batch jobs
    for (size_t i = 0; i < c->n; i++) {
        push_job(L, c->jobs[i].run_id, &c->jobs[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "jobs"); // batch
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "with_env");
    luaL_setmetatable(L, LUAJSON_OBJECT_MT);
    return 1;
}

/* A string field of the table at the top, copied (NULL when not a string). */
static char *raw_string(lua_State *L, const char *key)
{
    lua_pushstring(L, key);
    lua_rawget(L, -2);
    char *v = lua_type(L, -1) == LUA_TSTRING ? xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return v;
}

/* Reads the list jobs.prepare returned into c->out (protected mode: whatever
 * was copied before an error is freed by the caller). */
static void take_results(lua_State *L, void *ud)
{
    struct job_call *c = ud;
    if (!lua_istable(L, -1))
        luaL_error(L, "scripthut.jobs.prepare returned %s, expected a list of results",
                   luaL_typename(L, -1));
    for (size_t i = 0; i < c->n; i++) {
        host_job_result *r = &c->out[i];
        lua_rawgeti(L, -1, (lua_Integer)i + 1); // results res
        if (lua_istable(L, -1)) {
            r->script = raw_string(L, "script");
            r->error = raw_string(L, "error");
            lua_pushstring(L, "warnings");
            lua_rawget(L, -2); // results res warns
            if (lua_istable(L, -1)) {
                size_t nw = lua_rawlen(L, -1);
                r->warnings = xcalloc(nw ? nw : 1, sizeof *r->warnings);
                for (size_t w = 0; w < nw; w++) {
                    lua_rawgeti(L, -1, (lua_Integer)w + 1);
                    if (lua_type(L, -1) == LUA_TSTRING)
                        r->warnings[r->nwarnings++] = xstrdup(lua_tostring(L, -1));
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1); // results res
        }
        lua_pop(L, 1); // results
    }
}

int host_prepare_job_list(host *h, json_t *runs, const host_job *jobs, size_t n,
                          host_job_result *out, sh_err *e)
{
    memset(out, 0, n * sizeof *out);
    struct job_call c = {runs, jobs, n, out};
    struct invoke inv = {.mod = "scripthut.jobs",
                         .fn = "prepare",
                         .ref = LUA_NOREF,
                         .push_args = push_batch,
                         .take_result = take_results,
                         .ud = &c};
    int rc = host_invoke(h, &inv, false, SH_EINTERNAL, e);
    if (rc == 0)
        lua_pop(h->L, 1);
    lua_gc(h->L, LUA_GCCOLLECT, 0);
    if (rc < 0)
        for (size_t i = 0; i < n; i++)
            host_job_result_free(&out[i]);
    return rc;
}

void host_job_result_free(host_job_result *r)
{
    free(r->script);
    free(r->error);
    for (size_t w = 0; w < r->nwarnings; w++)
        free(r->warnings[w]);
    free(r->warnings);
    memset(r, 0, sizeof *r);
}

/* repl.c - the interactive prompt of `scripthut lua` (script_repl in script.h).
 *
 * Line editing and history come from libedit through its readline-compatible
 * interface.  A line is first tried as an expression (`return LINE`), then
 * as statements; a chunk whose syntax error is at <eof> is incomplete and the
 * prompt asks for more (the approach of lua.c).  Results are printed with
 * scripthut.pretty; an error prints its traceback and the session goes on.
 *
 * Ctrl-C while code runs stops it with an error (a hook set from the signal
 * handler, as lua.c does) instead of killing the session. */
#include <editline/readline.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/host.h"
#include "lua/host_module.h"
#include "script/script.h"
#include "util/sbuf.h"

#define REPL_PROMPT "> "
#define REPL_CONTINUE_PROMPT ">> "
#define REPL_HISTORY_MAX 1000
#define REPL_CHUNKNAME "=stdin"
#define REPL_EOF_MARK "<eof>"

/* readline's completion callback has no user data: the state being edited.
 * One REPL per process. */
static lua_State *repl_state;

/* ---- Ctrl-C while code runs --------------------------------------------- */

static void repl_stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* lua_sethook is the one Lua call that is safe in a signal handler. */
static void repl_on_sigint(int sig)
{
    (void)sig;
    lua_sethook(repl_state, repl_stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* ---- completion ---------------------------------------------------------- */

/* Pushes the value named by the dotted path `path` (len bytes, e.g.
 * "scripthut" or "scripthut.json"), walking from the globals with raw gets
 * (and __index tables), so completing never runs user code.  Pushes nil when
 * some part is not a table. */
static void repl_push_path(lua_State *L, const char *path, size_t len)
{
    lua_pushglobaltable(L);
    const char *p = path, *end = path + len;
    while (p < end && !lua_isnil(L, -1)) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *stop = dot ? dot : end;
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_pushnil(L);
            break;
        }
        lua_pushlstring(L, p, (size_t)(stop - p));
        lua_rawget(L, -2);
        lua_remove(L, -2);
        p = dot ? dot + 1 : end;
    }
}

static bool repl_is_identifier(const char *s)
{
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* Appends to the list at `out` "prefix + key" for every identifier key of the
 * table at `t` that starts with `partial`. */
static void repl_add_keys(lua_State *L, int t, int out, const char *prefix, size_t prefix_len,
                          const char *partial)
{
    size_t plen = strlen(partial);
    lua_pushnil(L);          // key
    while (lua_next(L, t)) { // key value
        lua_pop(L, 1);       // key
        if (lua_type(L, -1) != LUA_TSTRING)
            continue;
        const char *key = lua_tostring(L, -1);
        if (strncmp(key, partial, plen) != 0 || !repl_is_identifier(key))
            continue;
        lua_pushlstring(L, prefix, prefix_len);
        lua_pushvalue(L, -2);
        lua_concat(L, 2); // key match
        lua_rawseti(L, out, (lua_Integer)lua_rawlen(L, out) + 1);
    }
}

/* The candidates for `text` as a sorted Lua list at the top of the stack.
 * Runs in protected mode (repl_candidates_protected). */
static int repl_candidates(lua_State *L)
{
    const char *text = lua_touserdata(L, 1);
    const char *dot = strrchr(text, '.');
    size_t prefix_len = dot ? (size_t)(dot - text) + 1 : 0;
    lua_newtable(L); // text out
    int out = lua_gettop(L);
    if (dot)
        repl_push_path(L, text, (size_t)(dot - text)); // text out tbl
    else
        lua_pushglobaltable(L);
    int t = lua_gettop(L);
    if (lua_type(L, t) == LUA_TTABLE) {
        repl_add_keys(L, t, out, text, prefix_len, text + prefix_len);
        /* fields reached through an __index table (objects' methods) */
        if (lua_getmetatable(L, t) && lua_getfield(L, -1, "__index") == LUA_TTABLE)
            repl_add_keys(L, lua_gettop(L), out, text, prefix_len, text + prefix_len);
    }
    lua_settop(L, out);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, out);
    lua_call(L, 1, 0);
    lua_settop(L, out);
    return 1;
}

static char **repl_matches;
static size_t repl_match_count, repl_match_next;

static void repl_matches_clear(void)
{
    for (size_t i = repl_match_next; i < repl_match_count; i++)
        free(repl_matches[i]);
    free(repl_matches);
    repl_matches = NULL;
    repl_match_count = repl_match_next = 0;
}

/* readline's generator: state 0 computes the list, later calls hand out one
 * match each (readline frees them). */
static char *repl_generator(const char *text, int state)
{
    lua_State *L = repl_state;
    if (state == 0) {
        repl_matches_clear();
        int top = lua_gettop(L);
        lua_pushcfunction(L, repl_candidates);
        lua_pushlightuserdata(L, (void *)text);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
            size_t n = lua_rawlen(L, -1);
            repl_matches = xcalloc(n + 1, sizeof *repl_matches);
            for (size_t i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, (lua_Integer)i);
                /* skip duplicates (a key both in the table and its __index) */
                const char *m = lua_tostring(L, -1);
                if (m &&
                    (repl_match_count == 0 || strcmp(repl_matches[repl_match_count - 1], m) != 0))
                    repl_matches[repl_match_count++] = xstrdup(m);
                lua_pop(L, 1);
            }
        }
        lua_settop(L, top);
    }
    if (repl_match_next >= repl_match_count)
        return NULL;
    return repl_matches[repl_match_next++];
}

static char **repl_complete(const char *text, int start, int end)
{
    (void)start, (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    return rl_completion_matches(text, repl_generator);
}

/* ---- evaluation ---------------------------------------------------------- */

/* 1 when the chunk failed to compile only because it ended too early. */
static bool repl_incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return false;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    size_t mark = sizeof REPL_EOF_MARK - 1;
    return msg && len >= mark && strcmp(msg + len - mark, REPL_EOF_MARK) == 0;
}

/* Compiles the buffer: as `return BUF` (an expression) when that compiles,
 * else as statements.  Leaves the function or the error message on the
 * stack. */
static int repl_compile(lua_State *L, const char *buf)
{
    const char *code = lua_pushfstring(L, "return %s;", buf);
    int status = luaL_loadbuffer(L, code, strlen(code), REPL_CHUNKNAME);
    lua_remove(L, -2);
    if (status == LUA_OK)
        return status;
    lua_pop(L, 1);
    return luaL_loadbuffer(L, buf, strlen(buf), REPL_CHUNKNAME);
}

/* Prints each value in [first, top] with scripthut.pretty, tab-separated. */
static void repl_print_results(lua_State *L, int first)
{
    int top = lua_gettop(L);
    if (top < first)
        return;
    lua_pushcfunction(L, host_msgh);
    int msgh = lua_gettop(L);
    for (int i = first; i <= top; i++) {
        lua_getglobal(L, "require");
        lua_pushstring(L, "scripthut.pretty");
        if (lua_pcall(L, 1, 1, msgh) == LUA_OK) {
            lua_pushvalue(L, i);
            lua_pcall(L, 1, 1, msgh);
        }
        const char *text = lua_tostring(L, -1);
        fputs(i > first ? "\t" : "", stdout);
        fputs(text ? text : "(cannot print this value)", stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    lua_settop(L, first - 1);
}

static void repl_print_error(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    if (!msg && luaL_callmeta(L, -1, "__tostring"))
        msg = lua_tostring(L, -1);
    fprintf(stderr, "%s\n", msg ? msg : "(error object without a message)");
    fflush(stderr);
}

/* Runs the compiled chunk at the top; prints its results or its error. */
static void repl_run(lua_State *L)
{
    int base = lua_gettop(L); /* the chunk */
    lua_pushcfunction(L, host_msgh);
    lua_insert(L, base);
    struct sigaction sa = {0}, old;
    sa.sa_handler = repl_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int status = lua_pcall(L, 0, LUA_MULTRET, base);
    sigaction(SIGINT, &old, NULL);
    lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    if (status == LUA_OK)
        repl_print_results(L, base);
    else
        repl_print_error(L);
    lua_settop(L, base - 1);
}

/* ---- the loop ------------------------------------------------------------ */

static void repl_history_add(const char *line, const char *history_path)
{
    if (!*line)
        return;
    add_history(line);
    if (history_path)
        write_history(history_path);
}

int script_repl(host *h, const char *history_path)
{
    lua_State *L = host_state(h);
    repl_state = L;
    rl_readline_name = "scripthut";
    rl_attempted_completion_function = repl_complete;
    rl_completion_append_character = '\0';
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,[+-*/%^~#";
    using_history();
    stifle_history(REPL_HISTORY_MAX);
    if (history_path)
        read_history(history_path);
    printf("scripthut %s, %s. The scripthut module is loaded: scripthut.<TAB> lists it; "
           "Ctrl-D exits.\n",
           SCRIPTHUT_VERSION, LUA_RELEASE);
    fflush(stdout);

    sbuf chunk = SBUF_INIT;
    char *line;
    while ((line = readline(chunk.len ? REPL_CONTINUE_PROMPT : REPL_PROMPT)) != NULL) {
        repl_history_add(line, history_path);
        if (chunk.len)
            sbuf_putc(&chunk, '\n');
        /* lua.c's shorthand: "=expr" prints expr */
        sbuf_puts(&chunk, chunk.len == 0 && line[0] == '=' ? line + 1 : line);
        free(line);
        int status = repl_compile(L, sbuf_cstr(&chunk));
        if (repl_incomplete(L, status)) {
            lua_pop(L, 1);
            continue;
        }
        if (status == LUA_OK)
            repl_run(L);
        else {
            repl_print_error(L);
            lua_pop(L, 1);
        }
        sbuf_reset(&chunk);
        lua_gc(L, LUA_GCSTEP, 0);
    }
    fputc('\n', stdout);
    sbuf_free(&chunk);
    repl_matches_clear();
    clear_history();
    repl_state = NULL;
    return 0;
}

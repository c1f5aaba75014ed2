/* cmd_lua.c - `scripthut lua [FILE [ARGS...]] | lua -e CODE [ARGS...]`: run a
 * Lua script unsandboxed with the scripthut module available (script.h); with
 * no script on a terminal, the interactive prompt (script_repl).
 *
 * The script gets `arg` as the standalone lua interpreter sets it: arg[0] is
 * the script ("-e" for code, "-" for stdin), arg[1..] its arguments.  Flags
 * stop at the script name, so `scripthut lua x.lua --json` passes --json to
 * the script. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "lua/host.h"
#include "script/script.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#define LUA_HISTORY_FILE "lua_history"

/* Reads all of stdin (a piped script). NULL on a read error. */
static char *read_stdin(void)
{
    sbuf b = SBUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        sbuf_append(&b, chunk, n);
    if (ferror(stdin)) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_detach(&b);
}

/* A host with the scripthut module connected the way this command line
 * says (--config, --server), or NULL after printing the error. */
static host *script_host(cli_ctx *c)
{
    sh_err e = SH_ERR_INIT;
    host *h = host_new(&e);
    if (h && script_enable(h, c->opts.config_path, c->opts.server, &e) != 0) {
        host_free(h);
        h = NULL;
    }
    if (!h)
        cli_fail(&e);
    return h;
}

static int run_script(cli_ctx *c, const char *path, const char *code, int argc, char **argv)
{
    host *h = script_host(c);
    if (!h)
        return EXIT_ERROR;
    int status = host_run_script(h, path, code, argc, argv);
    host_free(h);
    fflush(stdout);
    return status;
}

/* The data dir of the config (settings.data_dir), or the default one when
 * the config does not load: the prompt must start even with a broken
 * config, which is often why one opens it. */
static char *data_dir_for_history(const char *config_path)
{
    sh_err e = SH_ERR_INIT;
    json_t *config = NULL;
    char *dir = NULL;
    host *h = host_new(&e);
    if (h && host_load_config(h, config_path, &config, &e) == 0) {
        const char *d =
            json_string_value(json_object_get(json_object_get(config, "settings"), "data_dir"));
        dir = d ? fs_expand_home(d) : NULL;
    }
    json_decref(config);
    host_free(h);
    if (dir)
        return dir;
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/scripthut", xdg);
    const char *home = getenv("HOME");
    return home && *home ? xasprintf("%s/.local/share/scripthut", home) : NULL;
}

static int run_repl(cli_ctx *c)
{
    char *dir = data_dir_for_history(c->opts.config_path);
    char *history = NULL;
    if (dir && fs_mkdir_p(dir, 0700) == 0)
        history = xasprintf("%s/%s", dir, LUA_HISTORY_FILE);
    free(dir);
    host *h = script_host(c);
    int status = h ? script_repl(h, history) : EXIT_ERROR;
    host_free(h);
    free(history);
    fflush(stdout);
    return status;
}

static int lua_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    *(const char **)arg = value; /* -e CODE */
    return CLI_CONTINUE;
}

int cmd_lua(cli_ctx *c, int argc, char **argv)
{
    const char *code = NULL;
    /* Flags stop at the script (the table's stop_at_arg): the rest are its. */
    int rc = cli_parse(c, argc, argv, lua_flag, &code);
    if (rc != CLI_CONTINUE)
        return rc;
    int nargs = argc - optind;
    char **args = argv + optind;
    if (code) {
        /* argv[optind - 1] is the CODE value; present it as "-e" like lua does. */
        char *script_argv0 = "-e";
        char **sargv = xcalloc((size_t)nargs + 2, sizeof *sargv);
        sargv[0] = script_argv0;
        for (int i = 0; i < nargs; i++)
            sargv[i + 1] = args[i];
        rc = run_script(c, NULL, code, nargs + 1, sargv);
        free(sargv);
        return rc;
    }
    if (nargs > 0)
        return run_script(c, args[0], NULL, nargs, args);
    if (isatty(STDIN_FILENO))
        return run_repl(c);
    char *script = read_stdin();
    if (!script) {
        cli_error("lua: cannot read the script from stdin");
        return EXIT_ERROR;
    }
    char *stdin_argv[] = {"-", NULL};
    rc = run_script(c, NULL, script, 1, stdin_argv);
    free(script);
    return rc;
}

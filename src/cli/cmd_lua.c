/* cmd_lua.c - `scripthut lua [FILE [ARGS...]] | lua -e CODE [ARGS...]`: run a
 * Lua script unsandboxed with the scripthut module available (host.h).
 *
 * The script gets `arg` as the standalone lua interpreter sets it: arg[0] is
 * the script ("-e" for code, "-" for stdin), arg[1..] its arguments.  Flags
 * stop at the script name, so `scripthut lua x.lua --json` passes --json to
 * the script. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "lua/host.h"
#include "util/sbuf.h"

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

static int run_script(const char *path, const char *code, int argc, char **argv)
{
    sh_err e = SH_ERR_INIT;
    host *h = host_new(&e);
    if (!h)
        return cli_fail(&e);
    int status = host_run_script(h, path, code, argc, argv);
    host_free(h);
    fflush(stdout);
    return status;
}

int cmd_lua(cli_ctx *c, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    const char *code = NULL;
    int opt, rc;
    cli_getopt_begin();
    /* '+': stop at the first non-flag, the script; the rest is its args. */
    while ((opt = getopt_long(argc, argv, "+:e:h", opts, NULL)) != -1) {
        if (opt == 'e')
            code = optarg;
        else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE)
            return rc;
    }
    int nargs = argc - optind;
    char **args = argv + optind;
    if (code) {
        /* argv[optind - 1] is the CODE value; present it as "-e" like lua does. */
        char *script_argv0 = "-e";
        char **sargv = xcalloc((size_t)nargs + 2, sizeof *sargv);
        sargv[0] = script_argv0;
        for (int i = 0; i < nargs; i++)
            sargv[i + 1] = args[i];
        rc = run_script(NULL, code, nargs + 1, sargv);
        free(sargv);
        return rc;
    }
    if (nargs > 0)
        return run_script(args[0], NULL, nargs, args);
    if (isatty(STDIN_FILENO)) {
        cli_error("the interactive Lua prompt is not available yet; run a script with "
                  "'scripthut lua FILE [ARGS...]', 'scripthut lua -e CODE', or pipe one in");
        return EXIT_ERROR;
    }
    char *script = read_stdin();
    if (!script) {
        cli_error("lua: cannot read the script from stdin");
        return EXIT_ERROR;
    }
    char *stdin_argv[] = {"-", NULL};
    rc = run_script(NULL, script, 1, stdin_argv);
    free(script);
    return rc;
}

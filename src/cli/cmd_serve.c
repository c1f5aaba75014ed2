/* cmd_serve.c - `scripthut serve [--host H] [--port P]`: the REST API, the
 * dashboard and the engine in one process (src/http/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "http/http.h"

static void print_ready(const char *host, int port, void *arg)
{
    const char *data_dir = arg;
    (void)data_dir;
    /* Tests start the server on port 0 and read the port from this line. */
    printf("scripthut serving http://%s%s%s:%d/ (Ctrl-C to stop)\n",
           host[0] != '[' && strchr(host, ':') ? "[" : "", host,
           host[0] != '[' && strchr(host, ':') ? "]" : "", port);
    fflush(stdout);
}

int cmd_serve(cli_ctx *c, int argc, char **argv)
{
    enum {
        OPT_HOST = OPT_FIRST_LEAF,
        OPT_PORT,
        OPT_THREADS
    };
    static const struct option opts[] = {{"host", required_argument, NULL, OPT_HOST},
                                         {"port", required_argument, NULL, OPT_PORT},
                                         {"threads", required_argument, NULL, OPT_THREADS},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    http_serve_opts o = {.port = -1, .on_ready = print_ready};
    long n;
    int opt, rc;
    cli_getopt_begin();
    while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, opts, NULL)) != -1) {
        if (opt == OPT_HOST) {
            o.host = optarg;
        } else if (opt == OPT_PORT) {
            if ((rc = cli_parse_int(c, "--port", optarg, 0, &n)) != 0)
                return rc;
            if (n > 65535)
                return cli_usage_error(c, "--port: expected 0..65535, got %ld", n);
            o.port = (int)n;
        } else if (opt == OPT_THREADS) {
            if ((rc = cli_parse_int(c, "--threads", optarg, 2, &n)) != 0)
                return rc;
            o.threads = n > 256 ? 256 : (int)n;
        } else if ((rc = cli_common_flag(c, opt, argv)) != CLI_CONTINUE) {
            return rc;
        }
    }
    if ((rc = cli_positionals(c, argc, argv, 0, 0, "")) != 0)
        return rc;
    o.config_path = c->opts.config_path;
    sh_err e = SH_ERR_INIT;
    if (http_serve(&o, &e) != 0)
        return cli_fail(&e);
    return EXIT_OK;
}

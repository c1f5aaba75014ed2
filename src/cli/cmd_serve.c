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

static int serve_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    http_serve_opts *o = arg;
    long n;
    int rc;
    if (id == F_HOST) {
        o->host = value;
    } else if (id == F_PORT) {
        if ((rc = cli_parse_int(c, "--port", value, 0, &n)) != 0)
            return rc;
        if (n > 65535)
            return cli_usage_error(c, "--port: expected 0..65535, got %ld", n);
        o->port = (int)n;
    } else {
        if ((rc = cli_parse_int(c, "--threads", value, 2, &n)) != 0)
            return rc;
        o->threads = n > 256 ? 256 : (int)n;
    }
    return CLI_CONTINUE;
}

int cmd_serve(cli_ctx *c, int argc, char **argv)
{
    http_serve_opts o = {.port = -1, .on_ready = print_ready};
    int rc = cli_parse(c, argc, argv, serve_flag, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    o.config_path = c->opts.config_path;
    sh_err e = SH_ERR_INIT;
    if (http_serve(&o, &e) != 0)
        return cli_fail(&e);
    return EXIT_OK;
}

/* cmd_backend.c - `scripthut backend list`: the configured backends (the
 * built-in `local` one included) and whether they are reachable. */
#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"

int cmd_backend_list(cli_ctx *c, int argc, char **argv)
{
    int rc = cli_parse_no_flags(c, argc, argv, 0, 0, "");
    if (rc != CLI_CONTINUE || (rc = cli_connect(c)) != 0)
        return rc;
    json_t *out = NULL;
    sh_err e = SH_ERR_INIT;
    if (client_backend_list(c->client, &out, &e) != 0)
        return cli_fail(&e);
    if (c->json)
        out_json(out, false);
    else
        out_backend_table(json_object_get(out, "backends"));
    json_decref(out);
    return EXIT_OK;
}

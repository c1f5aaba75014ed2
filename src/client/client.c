/* client.c - which implementation of client.h serves this invocation: local
 * (local.c) or a server (server_mode.c). */
#include "client/client.h"

#include <stdlib.h>
#include <string.h>

#include "client/client_internal.h"
#include "core/service.h"
#include "util/sbuf.h"

static bool is_local_keyword(const char *s)
{
    return s == NULL || *s == '\0' || strcmp(s, "local") == 0;
}

/* settings.cli_server of a loaded config, or NULL. */
static const char *config_cli_server(json_t *config)
{
    return json_string_value(json_object_get(json_object_get(config, "settings"), "cli_server"));
}

int client_open(const client_options *o, cli_client **out, sh_err *e)
{
    const char *chosen = o->server, *source = "--server";
    if (!chosen) {
        chosen = getenv("SCRIPTHUT_SERVER");
        source = "SCRIPTHUT_SERVER";
    }
    if (chosen && *chosen && !is_local_keyword(chosen))
        return server_client_open(o, chosen, source, out, e);
    svc *s = NULL;
    if (svc_open(o->config_path, &s, e) != 0)
        return -1;
    /* The config's choice applies only when neither the flag nor the
     * environment said anything (an explicit "local" wins). */
    if (!chosen || !*chosen) {
        const char *from_config = config_cli_server(svc_config(s));
        if (!is_local_keyword(from_config)) {
            char *url = xstrdup(from_config);
            svc_close(s);
            int rc = server_client_open(o, url, "settings.cli_server", out, e);
            free(url);
            return rc;
        }
        source = "default";
    }
    *out = local_client_new(s, source);
    return 0;
}

void client_close(cli_client *cl)
{
    if (cl)
        cl->ops->close(cl);
}

const char *client_server(const cli_client *cl)
{
    return cl->server;
}

const char *client_server_source(const cli_client *cl)
{
    return cl->source;
}

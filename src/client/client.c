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

/* Why only the settings were loaded, and where they came from. */
typedef struct fallback {
    char *why;           /* the config's load error */
    char *settings_file; /* NULL: the defaults */
    char *data_dir;
} fallback;

/* After svc_open failed with *e: the service over the settings alone.  On
 * failure *e says why the settings cannot be established. */
static int open_settings_only(const client_options *o, svc **s, fallback *fb, sh_err *e)
{
    char *why = xstrdup(e->msg);
    *e = (sh_err)SH_ERR_INIT;
    if (svc_open_settings(o->config_path, s, e) != 0) {
        free(why);
        return -1;
    }
    fb->why = why;
    const char *file =
        json_string_value(json_object_get(json_object_get(svc_config(*s), "files"), "settings"));
    fb->settings_file = file ? xstrdup(file) : NULL;
    fb->data_dir = xstrdup(svc_data_dir(*s));
    return 0;
}

/* Hands the fallback's strings to the client (or frees them on failure). */
static int with_fallback(int rc, cli_client **out, fallback *fb)
{
    if (rc == 0) {
        (*out)->fallback_error = fb->why;
        (*out)->settings_file = fb->settings_file;
        (*out)->fallback_data_dir = fb->data_dir;
        return 0;
    }
    free(fb->why);
    free(fb->settings_file);
    free(fb->data_dir);
    return rc;
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
    fallback fb = {0};
    if (svc_open(o->config_path, &s, e) != 0 &&
        (!o->settings_suffice || open_settings_only(o, &s, &fb, e) != 0))
        return -1;
    /* The config's choice applies only when neither the flag nor the
     * environment said anything (an explicit "local" wins). */
    if (!chosen || !*chosen) {
        const char *from_config = config_cli_server(svc_config(s));
        if (!is_local_keyword(from_config)) {
            char *url = xstrdup(from_config);
            svc_close(s);
            free(fb.data_dir); /* the server's data dir is the server's */
            fb.data_dir = NULL;
            int rc = server_client_open(o, url, "settings.cli_server", out, e);
            free(url);
            return with_fallback(rc, out, &fb);
        }
        source = "default";
    }
    *out = local_client_new(s, source);
    return with_fallback(0, out, &fb);
}

void client_close(cli_client *cl)
{
    if (!cl)
        return;
    free(cl->fallback_error);
    free(cl->settings_file);
    free(cl->fallback_data_dir);
    cl->ops->close(cl);
}

const char *client_config_fallback(const cli_client *cl, const char **settings_file)
{
    if (settings_file)
        *settings_file = cl->settings_file;
    return cl->fallback_error;
}

const char *client_data_dir(const cli_client *cl)
{
    return cl->fallback_data_dir;
}

const char *client_server(const cli_client *cl)
{
    return cl->server;
}

const char *client_server_source(const cli_client *cl)
{
    return cl->source;
}

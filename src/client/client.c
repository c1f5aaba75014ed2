/* client.c - transport resolution, and local mode: each call forwards to the
 * in-process service.  A server transport slots in by filling `remote` and
 * adding its branch to each function below. */
#include "client/client.h"

#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "util/sbuf.h"

/* How long `run cancel` waits for the engine to act on the request. */
#define CLIENT_CANCEL_WAIT_MS 15000

struct cli_client {
    svc *local;            /* local mode; NULL in server mode */
    char *server;          /* "local" or the URL */
    const char *source;    /* where `server` came from */
    bool engine_requested; /* client_engine_acquire was called */
};

static bool is_local_keyword(const char *s)
{
    return s == NULL || *s == '\0' || strcmp(s, "local") == 0;
}

static int server_unavailable(const char *url, const char *source, sh_err *e)
{
    return sh_err_set(e, SH_EUNAVAIL,
                      "server mode is not available yet (%s from %s); use --server local", url,
                      source);
}

/* settings.cli_server of the loaded config, or NULL. */
static const char *config_cli_server(svc *s)
{
    json_t *settings = json_object_get(svc_config(s), "settings");
    return json_string_value(json_object_get(settings, "cli_server"));
}

int client_open(const char *config_path, const char *server_flag, cli_client **out, sh_err *e)
{
    const char *chosen = server_flag, *source = "--server";
    if (!chosen) {
        chosen = getenv("SCRIPTHUT_SERVER");
        source = "SCRIPTHUT_SERVER";
    }
    if (chosen && *chosen && !is_local_keyword(chosen))
        return server_unavailable(chosen, source, e);

    svc *s = NULL;
    if (svc_open(config_path, &s, e) != 0)
        return -1;
    /* The config's choice applies only when neither the flag nor the
     * environment said anything (an explicit "local" wins). */
    if (!chosen || !*chosen) {
        const char *from_config = config_cli_server(s);
        if (!is_local_keyword(from_config)) {
            server_unavailable(from_config, "settings.cli_server", e);
            svc_close(s);
            return -1;
        }
        source = "default";
    }
    cli_client *cl = xcalloc(1, sizeof *cl);
    cl->local = s;
    cl->server = xstrdup("local");
    cl->source = source;
    *out = cl;
    return 0;
}

void client_close(cli_client *cl)
{
    if (!cl)
        return;
    client_engine_release(cl);
    if (cl->local)
        svc_close(cl->local);
    free(cl->server);
    free(cl);
}

const char *client_server(const cli_client *cl) { return cl->server; }
const char *client_server_source(const cli_client *cl) { return cl->source; }
struct svc *client_local_service(cli_client *cl) { return cl->local; }

int client_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                  json_t **summary, sh_err *e)
{
    /* max_concurrent 0: no per-run cap beyond the backend's. */
    return svc_submit(cl->local, run_name, backend, doc, 0, summary, e);
}

int client_workflow_run(cli_client *cl, const char *name, const char *backend,
                        json_t **summary, sh_err *e)
{
    return svc_workflow_run(cl->local, name, backend, summary, e);
}

int client_workflow_list(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_workflow_list(cl->local, out, e);
}

int client_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                         sh_err *e)
{
    return svc_workflow_view(cl->local, name, backend, out, e);
}

int client_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e)
{
    return svc_run_list(cl->local, limit, workflow, out, e);
}

int client_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e)
{
    return svc_run_detail(cl->local, run_id, out, e);
}

int client_run_cancel(cli_client *cl, const char *run_id, json_t **summary, sh_err *e)
{
    return svc_run_cancel(cl->local, run_id, CLIENT_CANCEL_WAIT_MS, summary, e);
}

int client_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                     sh_err *e)
{
    return svc_run_rerun(cl->local, run_id, failed_only, summary, e);
}

int client_run_delete(cli_client *cl, const char *run_id, sh_err *e)
{
    return svc_run_delete(cl->local, run_id, e);
}

int client_run_events(cli_client *cl, const char *run_id, long long after, json_t **out,
                      sh_err *e)
{
    return svc_run_events(cl->local, run_id, after, out, e);
}

int client_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                    long tail_lines, char **content, sh_err *e)
{
    return svc_task_log(cl->local, run_id, task_id, error_log ? "error" : "output", tail_lines,
                        content, e);
}

int client_backend_list(cli_client *cl, json_t **out, sh_err *e)
{
    return svc_backend_list(cl->local, out, e);
}

void client_engine_acquire(cli_client *cl)
{
    if (cl->engine_requested)
        return;
    cl->engine_requested = true;
    /* Not holding the lock is fine: another engine (serve, the detached
     * engine, another --watch) processes the run and we only observe. */
    svc_engine_acquire(cl->local);
}

int client_engine_wait(cli_client *cl, int max_wait_ms, sh_err *e)
{
    return svc_engine_step(cl->local, max_wait_ms, e);
}

void client_engine_release(cli_client *cl)
{
    if (!cl->engine_requested)
        return;
    cl->engine_requested = false;
    svc_engine_release(cl->local);
}

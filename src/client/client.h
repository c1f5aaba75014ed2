/* client.h - what the CLI commands call to reach scripthut: the transport.
 *
 * The transport is chosen once per invocation (DESIGN §1): --server URL, then
 * $SCRIPTHUT_SERVER, then settings.cli_server, then local; `--server local`
 * forces local.  Local mode forwards each call to the service (core/service.h)
 * in process.  Server mode (libcurl against /api/v1, server_mode.c) makes the
 * same calls over HTTP; names only the client's config defines are resolved
 * here and sent resolved (DESIGN §1).
 *
 * Every call returns 0, or -1 with e set; JSON results are new references in
 * the API's shapes (spec/original-cli-api.md §7), so commands never care which
 * transport answered. */
#ifndef SCRIPTHUT_CLI_CLIENT_H
#define SCRIPTHUT_CLI_CLIENT_H
#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

typedef struct cli_client cli_client;
struct svc;

/* How to reach scripthut, as the command line gave it (every field may be
 * NULL).  Each credential given here wins over its environment variable
 * (SCRIPTHUT_API_TOKEN, SCRIPTHUT_CF_CLIENT_ID, SCRIPTHUT_CF_CLIENT_SECRET,
 * SCRIPTHUT_CF_ACCESS_TOKEN), which wins over settings.cli_auth. */
typedef struct client_options {
    const char *config_path;      /* --config, or NULL for discovery */
    const char *server;           /* --server */
    const char *token;            /* --token: bearer token */
    const char *cf_client_id;     /* --cf-client-id: Cloudflare Access service token */
    const char *cf_client_secret; /* --cf-client-secret */
    const char *cf_access_token;  /* --cf-access-token: a user's Access JWT */
} client_options;

/* Resolves the transport and connects (local: loads the config and opens the
 * store). */
int client_open(const client_options *opts, cli_client **out, sh_err *e);
void client_close(cli_client *cl); /* releases the engine if held */

/* "local" or the server URL, and where the choice came from
 * ("--server", "SCRIPTHUT_SERVER", "settings.cli_server", "default"). */
const char *client_server(const cli_client *cl);
const char *client_server_source(const cli_client *cl);
/* Local mode only (NULL otherwise): the service, for status/daemon. */
struct svc *client_local_service(cli_client *cl);

int client_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                  json_t **summary, sh_err *e);
int client_workflow_run(cli_client *cl, const char *name, const char *backend, json_t **summary,
                        sh_err *e);
int client_workflow_list(cli_client *cl, json_t **out, sh_err *e);
int client_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                         sh_err *e);
int client_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e);
int client_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e);
int client_run_cancel(cli_client *cl, const char *run_id, json_t **summary, sh_err *e);
int client_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                     sh_err *e);
int client_run_delete(cli_client *cl, const char *run_id, sh_err *e);
int client_run_events(cli_client *cl, const char *run_id, long long after, json_t **out, sh_err *e);
int client_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                    long tail_lines, char **content, sh_err *e);
int client_backend_list(cli_client *cl, json_t **out, sh_err *e);
/* Server mode only: GET /api/v1/health (for `status`). */
int client_health(cli_client *cl, json_t **out, sh_err *e);

/* Stacks (core/service.h, svc_stack_*). */
int client_stack_list(cli_client *cl, json_t **out, sh_err *e);
int client_stack_check(cli_client *cl, const char *name, const char *backend, json_t **out,
                       sh_err *e);
int client_stack_install(cli_client *cl, const char *name, const char *backend, bool rebuild,
                         json_t **summary, sh_err *e);
int client_stack_delete(cli_client *cl, const char *name, const char *backend, json_t **out,
                        sh_err *e);
int client_stack_gc(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e);

/* Engine participation for --watch / --follow.  Local mode: try to become the
 * engine (idempotent), run its ticks while waiting, and release at the end
 * (which hands active runs to the detached engine).  Server mode: the server
 * is the engine, so waiting is just a sleep. */
void client_engine_acquire(cli_client *cl);
int client_engine_wait(cli_client *cl, int max_wait_ms, sh_err *e);
void client_engine_release(cli_client *cl);

#endif

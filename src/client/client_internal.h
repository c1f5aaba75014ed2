/* client_internal.h - what client.c (transport choice, local mode) and
 * server_mode.c (the same calls over HTTP) share. */
#ifndef SCRIPTHUT_CLIENT_INTERNAL_H
#define SCRIPTHUT_CLIENT_INTERNAL_H
#include "client/client.h"
#include "client/remote.h"

struct host;
struct svc;

struct cli_client {
    struct svc *local; /* local mode; NULL in server mode */
    remote *rm;        /* server mode; NULL in local mode */
    /* Server mode: the client's own config, to resolve names only it defines
     * (DESIGN §1).  NULL when it did not load (config_error says why). */
    struct host *host;
    json_t *config;
    char *config_error;
    char *config_path; /* server mode: --config as given (NULL: discovery) */
    /* Server mode: a service over the client's own config, opened on first
     * need, for previews and installs of names only the client defines. */
    struct svc *own;
    char *server;          /* "local" or the URL */
    const char *source;    /* where `server` came from */
    bool engine_requested; /* client_engine_acquire was called */
};

/* server_mode.c: each call of client.h over HTTP. */
int sm_submit(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
              json_t **summary, sh_err *e);
int sm_workflow_run(cli_client *cl, const char *name, const char *backend, json_t **summary,
                    sh_err *e);
int sm_workflow_list(cli_client *cl, json_t **out, sh_err *e);
int sm_workflow_view(cli_client *cl, const char *name, const char *backend, json_t **out,
                     sh_err *e);
int sm_run_list(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e);
int sm_run_detail(cli_client *cl, const char *run_id, json_t **out, sh_err *e);
int sm_run_cancel(cli_client *cl, const char *run_id, int wait_ms, json_t **summary, sh_err *e);
int sm_run_rerun(cli_client *cl, const char *run_id, bool failed_only, json_t **summary, sh_err *e);
int sm_run_delete(cli_client *cl, const char *run_id, sh_err *e);
int sm_run_events(cli_client *cl, const char *run_id, long long after, json_t **out, sh_err *e);
int sm_task_log(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                long tail_lines, char **content, sh_err *e);
int sm_backend_list(cli_client *cl, json_t **out, sh_err *e);
int sm_health(cli_client *cl, json_t **out, sh_err *e);
int sm_stack_list(cli_client *cl, json_t **out, sh_err *e);
int sm_stack_check(cli_client *cl, const char *name, const char *backend, json_t **out, sh_err *e);
int sm_stack_install(cli_client *cl, const char *name, const char *backend, bool rebuild,
                     json_t **summary, sh_err *e);
int sm_stack_delete(cli_client *cl, const char *name, const char *backend, json_t **out, sh_err *e);
int sm_stack_gc(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e);

#endif

/* client.h - how the faces (cli/, script/) reach scripthut: one table of
 * operations, two implementations (docs/architecture.md, "Layers").
 *
 * The implementation is chosen once per invocation (docs/cli.md, "Server
 * mode"): --server URL, then $SCRIPTHUT_SERVER, then settings.cli_server,
 * then local; `--server local` forces local.  Local mode (local.c) performs
 * each operation on the service (core/service.h) in process.  Server mode
 * (server_mode.c: libcurl against /api/v1) performs the same operations over
 * HTTP; names only the client's own config defines are resolved here and
 * sent resolved.
 *
 * An operation is called through the table, as backends are:
 * cl->ops->run_list(cl, ...).  Each returns 0, or -1 with e set; JSON results
 * are new references in the API's shapes (docs/api.md), so a face never
 * cares which implementation answered. */
#ifndef SCRIPTHUT_CLIENT_CLIENT_H
#define SCRIPTHUT_CLIENT_CLIENT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/exec_result.h"

typedef struct cli_client cli_client;

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
    /* The command needs only the settings (data dir, server, auth): when the
     * config does not load, open with the settings alone (svc_open_settings)
     * and say so through client_config_fallback. */
    bool settings_suffice;
} client_options;

struct client_ops {
    /* Releases the engine if held, then everything the client owns. */
    void (*close)(cli_client *cl);

    /* --- runs and workflows (docs/api.md) --- */
    int (*submit)(cli_client *cl, const char *run_name, const char *backend, json_t *doc,
                  json_t **summary, sh_err *e);
    int (*workflow_run)(cli_client *cl, const char *name, const char *backend, json_t **summary,
                        sh_err *e);
    int (*workflow_list)(cli_client *cl, json_t **out, sh_err *e);
    int (*workflow_view)(cli_client *cl, const char *name, const char *backend, json_t **out,
                         sh_err *e);
    int (*run_list)(cli_client *cl, int limit, const char *workflow, json_t **out, sh_err *e);
    int (*run_detail)(cli_client *cl, const char *run_id, json_t **out, sh_err *e);
    /* Waits a while for the engine to act on the request. */
    int (*run_cancel)(cli_client *cl, const char *run_id, json_t **summary, sh_err *e);
    int (*run_rerun)(cli_client *cl, const char *run_id, bool failed_only, json_t **summary,
                     sh_err *e);
    int (*run_delete)(cli_client *cl, const char *run_id, sh_err *e);
    int (*run_events)(cli_client *cl, const char *run_id, long long after, json_t **out, sh_err *e);
    int (*task_log)(cli_client *cl, const char *run_id, const char *task_id, bool error_log,
                    long tail_lines, char **content, sh_err *e);
    int (*backend_list)(cli_client *cl, json_t **out, sh_err *e);

    /* --- stacks (docs/stacks.md) --- */
    int (*stack_list)(cli_client *cl, json_t **out, sh_err *e);
    int (*stack_check)(cli_client *cl, const char *name, const char *backend, json_t **out,
                       sh_err *e);
    int (*stack_install)(cli_client *cl, const char *name, const char *backend, bool rebuild,
                         json_t **summary, sh_err *e);
    int (*stack_delete)(cli_client *cl, const char *name, const char *backend, json_t **out,
                        sh_err *e);
    int (*stack_gc)(cli_client *cl, const char *name, bool dry_run, json_t **out, sh_err *e);

    /* --- what `status` reports: {"config_files"?, "config_error"?, "data_dir",
     * "engine"?: {"running", "pid"}, "backends": [{"name", "type", "connected",
     * ...}]}; server mode: the server's GET /api/v1/health --- */
    int (*status)(cli_client *cl, json_t **out, sh_err *e);

    /* --- local mode only (server mode: SH_EUNAVAIL, a message saying so) --- */
    /* The normalised configuration (docs/config-json.md). */
    int (*config)(cli_client *cl, json_t **out, sh_err *e);
    /* Runs command on backend's machine (this one, or its login node over
     * SSH); timeout_ms 0 = none.  r is filled on success. */
    int (*exec)(cli_client *cl, const char *backend, const char *command, int timeout_ms,
                exec_result *r, sh_err *e);
    /* The install script `stack install NAME [--rebuild]` would run. */
    int (*stack_script)(cli_client *cl, const char *name, bool rebuild, char **script, sh_err *e);
    /* This machine's engine: {"running", "pid", "data_dir", "active_runs"};
     * start it when nothing runs it; stop it, waiting up to wait_ms. */
    int (*daemon_status)(cli_client *cl, json_t **out, sh_err *e);
    int (*daemon_start)(cli_client *cl, sh_err *e);
    int (*daemon_stop)(cli_client *cl, int wait_ms, sh_err *e);

    /* --- engine participation for --watch / --follow.  Local mode: try to
     * become the engine (idempotent), run its ticks while waiting, and release
     * at the end (which hands active runs to the detached engine).  Server
     * mode: the server is the engine, so waiting is just a sleep. --- */
    void (*engine_acquire)(cli_client *cl);
    int (*engine_wait)(cli_client *cl, int max_wait_ms, sh_err *e);
    void (*engine_release)(cli_client *cl);
};

/* What every client is; the implementations keep more behind it. */
struct cli_client {
    const struct client_ops *ops;
    char *server;       /* "local" or the URL */
    const char *source; /* where `server` came from */
    /* client_options.settings_suffice and the config did not load: why, the
     * file the settings came from (NULL: the defaults) and, in local mode,
     * the data dir they name.  All NULL otherwise. */
    char *fallback_error;
    char *settings_file;
    char *fallback_data_dir;
};

/* Chooses the implementation and connects (local: loads the config and opens
 * the store). */
int client_open(const client_options *opts, cli_client **out, sh_err *e);
void client_close(cli_client *cl); /* NULL is fine */

/* The config's load error when only its settings were loaded
 * (settings_suffice), else NULL; *settings_file: the file they came from, or
 * NULL for the defaults. */
const char *client_config_fallback(const cli_client *cl, const char **settings_file);
/* The data dir the settings-only fallback uses (NULL without a fallback, and
 * in server mode). */
const char *client_data_dir(const cli_client *cl);

/* "local" or the server URL, and where the choice came from
 * ("--server", "SCRIPTHUT_SERVER", "settings.cli_server", "default"). */
const char *client_server(const cli_client *cl);
const char *client_server_source(const cli_client *cl);

/* The detached engine (`daemon run`): opens the store of data_dir without a
 * config (each run carries the context it was submitted with), or, when
 * data_dir is NULL, the config's, and runs the engine in the foreground until
 * nothing is active. */
int client_run_engine(const char *config_path, const char *data_dir, double poll_interval,
                      int retention_days, sh_err *e);

#endif

/* http_internal.h - what the files of src/http share: the server state, the
 * per-request context, the route table, and the reply helpers.
 *
 * Layout: server.c owns the lifecycle (civetweb, the engine thread, one
 * service per worker thread, signals); guard.c decides whether a request may
 * proceed (token, Host, Origin, content type); session.c keeps the
 * dashboard's sessions and the failed-login limit; router.c picks the route
 * and hands its handler the thread's service; api.c maps
 * /api/v1 routes to the service (core/service.h); sse.c streams events and
 * logs; assets.c serves the dashboard and the OpenAPI document compiled into
 * the binary.  Nothing here touches a lua_State: the service does. */
#ifndef SCRIPTHUT_HTTP_INTERNAL_H
#define SCRIPTHUT_HTTP_INTERNAL_H
#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "util/err.h"

struct svc;

/* Limits.  Bodies are small JSON documents (a task, a resolved workflow): a
 * million-task workflow should be submitted by name, not pasted. */
#define HTTP_MAX_BODY (8 * 1024 * 1024)
#define HTTP_MAX_LOGIN_BODY 4096
/* Parsers recurse once per level; util/json_depth.h checks it first. */
#define HTTP_MAX_JSON_DEPTH 64
#define HTTP_MAX_HEADER_BYTES "16384"
/* How long a client may take to send its request head, and its body: a
 * client that trickles holds a worker that long at most. */
#define HTTP_REQUEST_TIMEOUT_MS "10000"
#define HTTP_BODY_DEADLINE_MS 10000
#define HTTP_DEFAULT_THREADS 16
/* Workers kept free for ordinary requests however many streams are open. */
#define HTTP_SSE_RESERVED_THREADS 4
/* The cookie is named "<this>_<port>". */
#define HTTP_SESSION_COOKIE "scripthut_session"
#define HTTP_SESSION_TTL_S (24 * 3600)
#define HTTP_MAX_SESSIONS 256
/* Failed authentications: a burst, then one per refill interval. */
#define HTTP_LOGIN_BURST 10
#define HTTP_LOGIN_REFILL_MS 6000

/* Sessions, the login link's code and the failed-login bucket (session.c). */
typedef struct http_auth http_auth;

typedef struct http_server {
    struct mg_context *ctx;
    char *config_path;  /* --config, or NULL for discovery */
    char *config_error; /* non-NULL: degraded mode (broken config) */
    char *data_dir;
    char *host;
    int port;         /* the bound port (after an ephemeral bind) */
    char *token;      /* NULL: no authentication (settings.api_token = false) */
    char *token_file; /* <data_dir>/api_token when the token came from there */
    bool token_created;
    http_auth *auth;
    bool loopback;
    int threads;
    int sse_max;
    atomic_int sse_clients;
    atomic_bool stopping;

    /* "Something may have changed": bumped by the engine thread after each
     * step and by submissions; SSE streams wait on it. */
    pthread_mutex_t mu;
    pthread_cond_t changed;
    unsigned long long generation;

    struct svc *engine_svc; /* owned by the engine thread while it runs */
    pthread_t engine_thread;
    bool engine_running;
} http_server;

#define HTTP_MAX_PARAMS 4

typedef struct http_req {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    http_server *srv;
    const char *method;
    char *params[HTTP_MAX_PARAMS]; /* decoded path parameters, in order (the
                                      router's decision owns them) */
    int nparams;
    bool cookie_auth; /* authenticated by the session cookie */
    /* This worker thread's service, handed over by the router for the
     * routes that need one (needs_service); NULL for the others. */
    struct svc *svc;
} http_req;

typedef int (*http_handler)(http_req *r);

typedef struct http_route {
    const char *method;
    const char *pattern; /* "/runs/{id}/cancel", relative to /api/v1 */
    http_handler handler;
    bool needs_service; /* the router hands the handler r->svc; 503 without one */
} http_route;

/* The /api/v1 route table (api.c), terminated by a NULL method; the OpenAPI
 * test checks it against openapi.json. */
extern const http_route http_api_routes[];

/* --- router.c: the civetweb handlers ------------------------------------ */

int http_api_handler(struct mg_connection *conn, void *cbdata);  /* /api/v1 */
int http_root_handler(struct mg_connection *conn, void *cbdata); /* the rest */

/* --- server.c ------------------------------------------------------------ */

/* This worker thread's service, opened on first use.  NULL with e set (503)
 * when the config cannot be loaded. */
struct svc *http_thread_service(http_req *r, sh_err *e);
/* Wakes SSE streams (and the engine, through the service's wake-up). */
void http_notify_change(http_server *srv);
/* Waits until the generation moves past *seen or timeout_ms passes. */
void http_wait_change(http_server *srv, unsigned long long *seen, int timeout_ms);

/* --- reply helpers (reply.c) ------------------------------------------------ */

/* Sends v (steals the reference) with status. Returns status. */
int http_reply_json(http_req *r, int status, json_t *v);
/* {"detail": msg} */
int http_reply_error(http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The error of a failed service call: its status (500 when unset) and message. */
int http_reply_sh_err(http_req *r, const sh_err *e);
int http_reply_raw(struct mg_connection *conn, int status, const char *content_type,
                   const char *body, size_t len, const char *extra_headers);

/* Query parameter `name` (decoded, caller frees), or NULL when absent. */
char *http_query(http_req *r, const char *name);
/* The same from a query string (NULL: none). */
char *http_query_value(const char *query_string, const char *name);
/* Integer query parameter: 0 ok (*out set or dflt), or replies 422 and
 * returns the status. */
int http_query_int(http_req *r, const char *name, long long dflt, long long min, long long max,
                   long long *out);
/* Boolean: true/false/1/0/yes/no/on/off.  0 ok, or replies 422. */
int http_query_bool(http_req *r, const char *name, bool dflt, bool *out);
/* The pure halves of the above (no reply): 0 ok, -1 when v is not an
 * integer in [min, max] / not a boolean word. */
int http_parse_int(const char *v, long long min, long long max, long long *out);
int http_parse_bool(const char *v, bool *out);
/* A request body as a JSON object: 0 with *out owned by the caller, or -1
 * with msg set. */
int http_parse_json_object(const char *buf, size_t len, json_t **out, char *msg, size_t msg_size);
/* Reads and parses a JSON object body.  0 ok (*out owned by caller, NULL when
 * there was no body and allow_empty), else replies (413/422) and returns the
 * status. */
int http_read_json_body(http_req *r, bool allow_empty, json_t **out);
/* A request header, or NULL. */
const char *http_header(http_req *r, const char *name);

/* --- the decision before any handler runs (router.c, guard.c) ----------------
 *
 * Pure: a request head in, a decision out, no civetweb connection.  The
 * civetweb handlers build the head, send the decision's error or call the
 * handler; tests/fuzz/fuzz_http_request.c feeds heads directly. */

/* The parts of a request the checks look at; header values NULL when absent. */
typedef struct http_request_head {
    const char *method;
    const char *uri; /* raw: "." / ".." segments and %2F still there */
    const char *host;
    const char *origin;
    const char *content_type;
    const char *authorization;
    const char *cf_client_secret; /* CF-Access-Client-Secret */
    const char *cf_access_token;  /* cf-access-token */
    const char *cookie;
    const char *sec_fetch_site;
    const char *transfer_encoding;
    long long content_length; /* -1: no Content-Length header */
} http_request_head;

typedef struct http_decision {
    int status;            /* 0: call route->handler */
    char detail[1200];     /* the error's message when status != 0 */
    bool www_authenticate; /* a 401 that asks for a bearer token */
    int retry_after;       /* a 429: seconds to wait */
    const http_route *route;
    char *params[HTTP_MAX_PARAMS]; /* decoded and checked path parameters (owned) */
    int nparams;
    bool cookie_auth; /* authenticated by the session cookie */
} http_decision;

/* Everything before an /api/v1 handler: guard, route, method, mutation
 * rules, path parameters, degraded mode.  Free with http_decision_free. */
void http_decide_api(const http_server *srv, const http_request_head *h, http_decision *d);
void http_decision_free(http_decision *d);
/* Sends d's error ({"detail": ...}, WWW-Authenticate on a 401). Returns its status. */
int http_reply_decision(struct mg_connection *conn, const http_decision *d);

/* --- guard.c ------------------------------------------------------------------ */

/* Who may ask: Host (without a token) and, for the API, the token or the
 * session cookie.  0 to proceed, or the error status with d->detail set. */
int http_guard_check(const http_server *srv, const http_request_head *h, bool api,
                     http_decision *d);
/* How a mutating call must be made: not from another site (Origin,
 * Sec-Fetch-Site), and a body only as JSON.  0 to proceed, or the error
 * status with d->detail set. */
int http_guard_mutation_check(const http_request_head *h, http_decision *d);
/* Whether the request has a body: a Transfer-Encoding, or Content-Length > 0. */
bool http_request_has_body(const http_request_head *h);
/* Whether one of the credential headers holds the server's token. */
bool http_credentials_ok(const http_server *srv, const char *authorization, const char *cf_secret,
                         const char *cf_token);

/* --- session.c ---------------------------------------------------------------- */

http_auth *http_auth_new(void);
void http_auth_free(http_auth *a);
/* The one-time code of the login link printed at start ("" once used). */
const char *http_auth_login_code(http_auth *a);
/* Takes the login code: true (once) when code is it. */
bool http_auth_take_login_code(http_auth *a, const char *code);
/* A new session's cookie value (caller frees); now in Unix seconds. */
char *http_auth_issue(http_auth *a, long long now);
bool http_auth_session_valid(http_auth *a, const char *value, long long now);
void http_auth_revoke(http_auth *a, const char *value, long long now);
/* Seconds to wait before credentials are looked at again (0: go ahead). */
int http_auth_blocked(http_auth *a, int64_t now_ms);
/* Records a failed authentication. */
void http_auth_failed(http_auth *a, int64_t now_ms);
/* Whether the Cookie header holds a live session of this server. */
bool http_auth_cookie_ok(const http_server *srv, const char *cookies);
/* POST /api/v1/session (token in the body -> cookie), DELETE to log out. */
int http_session_login(http_req *r);
int http_session_logout(http_req *r);
/* GET /api/v1/session: {"auth_required", "authenticated"}. */
int http_session_status(http_req *r);
/* GET /login?code=...: the one-time login link. */
int http_login_link(struct mg_connection *conn, http_server *srv, const char *query);
/* Constant-time string comparison. */
bool http_secure_equal(const char *a, const char *b);
/* Whether an address string names the loopback interface. */
bool http_is_loopback_host(const char *host);

/* --- sse.c -------------------------------------------------------------------- */

int http_sse_events(http_req *r);
int http_sse_task_log(http_req *r, const char *run_id, const char *task_id, const char *which);

/* --- assets.c -------------------------------------------------------------------- */

/* The dashboard and static files; 404 for anything else outside /api/v1. */
int http_serve_asset(struct mg_connection *conn, const char *path);
int http_openapi(http_req *r);
/* The embedded OpenAPI document (for tests): text and length. */
const char *http_openapi_text(size_t *len);

#endif

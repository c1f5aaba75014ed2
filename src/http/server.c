/* server.c - the life of `scripthut serve`.
 *
 * Threads: civetweb's workers answer requests, each with its own service
 * (svc is not thread-safe; one per thread, opened on first use and closed
 * when the worker exits); one engine thread holds the data dir's engine lock
 * and drives the runs; the main thread only waits for SIGINT/SIGTERM.
 * Submissions made by workers wake the engine through the data dir's FIFO,
 * exactly as a CLI in another process would.
 *
 * Shutdown: stop accepting, let in-flight requests finish (SSE streams
 * notice within a second), stop the engine thread, and release the lock; a
 * run still active is handed to the detached engine, so nothing is lost.
 *
 * A config that does not load does not stop the server: it starts without
 * an engine ("degraded"), /api/v1/health reports the error, and calls that
 * need the config answer 503. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/api_token.h"
#include "core/engine.h"
#include "core/service.h"
#include "http/http_internal.h"
#include "util/log.h"
#include "util/sbuf.h"

#define DEFAULT_PORT 8000
#define DEFAULT_HOST "127.0.0.1"
/* Longest engine sleep between ticks: wake-ups (submissions, cancels, job
 * exits) cut it short, so this only bounds timers. */
#define ENGINE_STEP_MS 5000

/* --- per-thread services ------------------------------------------------------ */

/* Each worker has its own store connection.  SQLite's default page cache
 * (2 MB per connection) only grows, so 16 workers could come to hold 32 MB
 * of pages as the database grows, for requests that each read a few (a page
 * of runs, one run, new events); what they drop stays in the OS page cache. */
#define HTTP_WORKER_CACHE_KB 256

typedef struct http_thread {
    svc *s;
} http_thread;

static void *on_thread_start(const struct mg_context *ctx, int thread_type)
{
    (void)ctx;
    /* 1 = a worker thread (0 is the master, 2 the timer thread). */
    return thread_type == 1 ? xcalloc(1, sizeof(http_thread)) : NULL;
}

static void on_thread_exit(const struct mg_context *ctx, int thread_type, void *ptr)
{
    (void)ctx;
    (void)thread_type;
    http_thread *t = ptr;
    if (!t)
        return;
    svc_close(t->s);
    free(t);
}

svc *http_thread_service(http_req *r, sh_err *e)
{
    http_thread *t = mg_get_thread_pointer(r->conn);
    if (!t) {
        sh_err_set(e, SH_EINTERNAL, "no service for this thread");
        return NULL;
    }
    if (t->s)
        return t->s;
    if (svc_open(r->srv->config_path, &t->s, e) != 0) {
        t->s = NULL;
        sh_err_prefix(e, "Config not loaded");
        e->status = SH_EUNAVAIL;
        return NULL;
    }
    sh_err ce = SH_ERR_INIT;
    if (svc_set_cache_kb(t->s, HTTP_WORKER_CACHE_KB, &ce) < 0)
        log_warn("http: %s", ce.msg);
    return t->s;
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn("http: %s", message);
    return 1;
}

/* --- change notification ----------------------------------------------------------- */

void http_notify_change(http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->generation++;
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->mu);
}

void http_wait_change(http_server *srv, unsigned long long *seen, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->generation == *seen && !atomic_load(&srv->stopping))
        if (pthread_cond_timedwait(&srv->changed, &srv->mu, &deadline) == ETIMEDOUT)
            break;
    *seen = srv->generation;
    pthread_mutex_unlock(&srv->mu);
}

/* --- the engine thread --------------------------------------------------------------- */

static void *engine_main(void *arg)
{
    http_server *srv = arg;
    while (!atomic_load(&srv->stopping)) {
        sh_err e = SH_ERR_INIT;
        if (svc_engine_step(srv->engine_svc, ENGINE_STEP_MS, &e) < 0) {
            log_error("engine: %s", e.msg);
            unsigned long long seen = srv->generation;
            http_wait_change(srv, &seen, 1000); /* store trouble: retry, slowly */
        }
        http_notify_change(srv);
    }
    return NULL;
}

/* --- settings ---------------------------------------------------------------------- */

static json_t *settings_of(svc *s)
{
    return s ? json_object_get(svc_config(s), "settings") : NULL;
}

/* The token: SCRIPTHUT_API_TOKEN, else settings.api_token, else (unless
 * settings.api_token = false) the data dir's api_token file, made on the
 * first start (core/api_token.h).  A server whose config does not load uses
 * the default data dir's file, as its clients then do. */
static int choose_token(http_server *srv, json_t *settings, sh_err *e)
{
    const char *env = getenv("SCRIPTHUT_API_TOKEN");
    json_t *setting = json_object_get(settings, "api_token");
    if (env && *env) {
        srv->token = xstrdup(env);
        return 0;
    }
    if (json_is_string(setting)) {
        srv->token = xstrdup(json_string_value(setting));
        return 0;
    }
    if (json_is_false(setting))
        return 0;
    char *dir = srv->data_dir ? xstrdup(srv->data_dir) : api_token_default_data_dir();
    if (!dir)
        return sh_err_set(e, SH_EINVAL,
                          "no data dir for the API token (HOME is not set): set "
                          "settings.data_dir or settings.api_token");
    int rc = api_token_ensure(dir, &srv->token, &srv->token_created, e);
    if (rc == 0)
        srv->token_file = xasprintf("%s/%s", dir, API_TOKEN_FILE);
    free(dir);
    return rc;
}

static int choose_endpoint(http_server *srv, const http_serve_opts *o, svc *s, sh_err *e)
{
    json_t *settings = settings_of(s);
    const char *host = o->host;
    if (!host)
        host = json_string_value(json_object_get(settings, "server_host"));
    srv->host = xstrdup(host ? host : DEFAULT_HOST);
    srv->port = o->port;
    if (srv->port < 0) {
        json_t *p = json_object_get(settings, "server_port");
        srv->port = json_is_integer(p) ? (int)json_integer_value(p) : DEFAULT_PORT;
    }
    srv->loopback = http_is_loopback_host(srv->host);
    if (choose_token(srv, settings, e) < 0)
        return -1;
    if (!srv->loopback && !srv->token)
        return sh_err_set(e, SH_EINVAL,
                          "refusing to listen on %s without an API token (settings.api_token = "
                          "false): anyone who can reach this machine could run commands on it.  "
                          "Remove `api_token = false` so clients must send the token, or keep "
                          "the default --host 127.0.0.1",
                          srv->host);
    return 0;
}

/* What `serve` prints once it listens, before the "serving" line (which
 * tests wait for): where the token is and the dashboard's one-time login
 * link, or a warning when there is no token. */
static void print_access(http_server *srv)
{
    if (!srv->token) {
        fprintf(stderr, "warning: settings.api_token = false: this server asks for no token, so "
                        "any user of this machine can run commands as you through it "
                        "(docs/security.md)\n");
        return;
    }
    if (srv->token_file)
        printf("API token: %s%s\n", srv->token_file, srv->token_created ? " (new)" : "");
    const char *host = srv->loopback ? srv->host : "127.0.0.1";
    bool v6 = strchr(host, ':') && host[0] != '[';
    printf("Dashboard login (the link works once): http://%s%s%s:%d/login?code=%s\n", v6 ? "[" : "",
           host, v6 ? "]" : "", srv->port, http_auth_login_code(srv->auth));
    fflush(stdout);
}

/* --- civetweb ------------------------------------------------------------------------ */

static int start_civetweb(http_server *srv, sh_err *e)
{
    char ports[320], threads[16];
    bool v6 = strchr(srv->host, ':') != NULL;
    snprintf(ports, sizeof ports, v6 ? "[%s]:%d" : "%s:%d", srv->host, srv->port);
    snprintf(threads, sizeof threads, "%d", srv->threads);
    const char *options[] = {"listening_ports", ports, "num_threads", threads, "request_timeout_ms",
                             HTTP_REQUEST_TIMEOUT_MS, "max_request_size", HTTP_MAX_HEADER_BYTES,
                             "enable_keep_alive", "yes", "keep_alive_timeout_ms", "5000",
                             /* Replies go out as headers then body: without
                              * TCP_NODELAY, Nagle + delayed ACK hold each
                              * keep-alive reply ~40 ms (measured: 22 req/s
                              * on one connection). */
                             "tcp_nodelay", "1", "decode_url", "no", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.init_thread = on_thread_start;
    cb.exit_thread = on_thread_exit;
    cb.log_message = on_log_message;
    char errtxt[256] = "";
    struct mg_init_data init = {
        .callbacks = &cb, .user_data = srv, .configuration_options = options};
    struct mg_error_data err = {.text = errtxt, .text_buffer_size = sizeof errtxt};
    srv->ctx = mg_start2(&init, &err);
    if (!srv->ctx)
        return sh_err_set(e, SH_EUNAVAIL, "cannot listen on %s: %s", ports,
                          errtxt[0] ? errtxt : "unknown error");
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(srv->ctx, 4, sp);
    if (n > 0)
        srv->port = sp[0].port;
    mg_set_request_handler(srv->ctx, "/api/v1", http_api_handler, srv);
    mg_set_request_handler(srv->ctx, "**", http_root_handler, srv);
    return 0;
}

/* --- serve ----------------------------------------------------------------------------- */

static int engine_start(http_server *srv, sh_err *e)
{
    svc *s = srv->engine_svc;
    if (!svc_engine_acquire(s)) {
        pid_t holder = engine_lock_holder(svc_data_dir(s));
        return sh_err_set(e, SH_ECONFLICT,
                          "another scripthut engine (pid %ld) already drives %s: a `--watch` or "
                          "the detached engine.  Wait for its runs to finish or stop it with "
                          "`scripthut daemon stop`, then start the server again",
                          (long)holder, svc_data_dir(s));
    }
    if (pthread_create(&srv->engine_thread, NULL, engine_main, srv) != 0) {
        svc_engine_release(s);
        return sh_err_set(e, SH_EINTERNAL, "cannot start the engine thread");
    }
    srv->engine_running = true;
    return 0;
}

static void server_free(http_server *srv)
{
    svc_close(srv->engine_svc);
    free(srv->config_path);
    free(srv->config_error);
    free(srv->data_dir);
    free(srv->host);
    free(srv->token);
    free(srv->token_file);
    http_auth_free(srv->auth);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->changed);
}

static void shutdown_server(http_server *srv)
{
    atomic_store(&srv->stopping, true);
    http_notify_change(srv);
    if (srv->ctx)
        mg_stop(srv->ctx); /* waits for in-flight requests */
    srv->ctx = NULL;
    if (srv->engine_running) {
        engine_wake(srv->data_dir);
        pthread_join(srv->engine_thread, NULL);
        srv->engine_running = false;
        /* Hands still-active runs to the detached engine. */
        svc_engine_release(srv->engine_svc);
    }
}

int http_serve(const http_serve_opts *o, sh_err *e)
{
    http_server srv;
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.mu, NULL);
    pthread_cond_init(&srv.changed, NULL);
    srv.config_path = xstrdup(o->config_path);
    srv.auth = http_auth_new();
    srv.threads = o->threads > 0 ? o->threads : HTTP_DEFAULT_THREADS;
    srv.sse_max = srv.threads - HTTP_SSE_RESERVED_THREADS;
    if (srv.sse_max < 1)
        srv.sse_max = 1;

    /* SIGINT/SIGTERM are taken with sigwait below: block them (and SIGPIPE)
     * before any thread starts so every thread inherits the mask.  Jobs and
     * the detached engine are spawned with an explicit empty mask. */
    sigset_t stop_signals, blocked;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    blocked = stop_signals;
    sigaddset(&blocked, SIGPIPE);
    sigset_t old_mask;
    pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);

    sh_err ce = SH_ERR_INIT;
    if (svc_open(o->config_path, &srv.engine_svc, &ce) != 0) {
        srv.engine_svc = NULL;
        srv.config_error = xstrdup(ce.msg);
        log_error("config not loaded, serving in degraded mode: %s", ce.msg);
    } else {
        srv.data_dir = xstrdup(svc_data_dir(srv.engine_svc));
    }
    int rc = choose_endpoint(&srv, o, srv.engine_svc, e);
    if (rc == 0 && srv.engine_svc)
        rc = engine_start(&srv, e);
    if (rc == 0 && start_civetweb(&srv, e) != 0)
        rc = -1;
    if (rc == 0) {
        print_access(&srv);
        if (o->on_ready)
            o->on_ready(srv.host, srv.port, o->arg);
        int sig = 0;
        sigwait(&stop_signals, &sig);
        log_info("signal %d: shutting down", sig);
    }
    shutdown_server(&srv);
    server_free(&srv);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}

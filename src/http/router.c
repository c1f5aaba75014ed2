/* router.c - from a civetweb request to a handler: the guard, route
 * matching with path parameters, 404/405, and degraded mode.
 *
 * All of that is decided by http_decide_api, a pure function of the request
 * head (no civetweb connection): the civetweb handlers below only build the
 * head, then send the refusal or call the handler, and
 * tests/fuzz/fuzz_http_request.c feeds the decision directly.
 *
 * Path parameters are decoded and checked once here, for every route: no empty, "." or
 * ".." segment, no slash or backslash (civetweb has already decoded %2F), no
 * control bytes, valid UTF-8, at most 256 bytes.  Run and task ids are looked up in the
 * store, never used as paths, but a parameter that looks like a path is
 * refused before any handler sees it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"
#include "util/sbuf.h"
#include "util/utf8.h"

#define API_PREFIX "/api/v1"
#define MAX_SEGMENTS 16
#define MAX_PARAM_LEN 256

/* Splits "/a/b/c" into at most MAX_SEGMENTS pointers into buf (modified).
 * Returns the count, or -1 when there are too many or an empty segment
 * appears in the middle ("//"). A single trailing slash is tolerated. */
static int split_path(char *buf, char **seg)
{
    int n = 0;
    char *p = buf;
    if (*p == '/')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        char *slash = strchr(p, '/');
        if (n == MAX_SEGMENTS)
            return -1;
        seg[n++] = p;
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
        if (!*p)
            break; /* trailing slash */
    }
    for (int i = 0; i < n; i++)
        if (!*seg[i])
            return -1;
    return n;
}

static bool param_is_safe(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > MAX_PARAM_LEN || !strcmp(p, ".") || !strcmp(p, "..") ||
        !utf8_valid(p, len))
        return false;
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\' || *c == '/')
            return false;
    return true;
}

/* Whether route pattern matches the segments; fills params on a match. */
static bool route_matches(const char *pattern, char **seg, int nseg, char **params,
                          int *nparams_out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", pattern);
    char *pseg[MAX_SEGMENTS];
    int np = split_path(buf, pseg);
    if (np != nseg)
        return false;
    int nparams = 0;
    for (int i = 0; i < np; i++) {
        if (pseg[i][0] == '{') {
            if (nparams < HTTP_MAX_PARAMS)
                params[nparams++] = seg[i];
        } else if (strcmp(pseg[i], seg[i]) != 0) {
            return false;
        }
    }
    *nparams_out = nparams;
    return true;
}

static int fail(http_decision *d, int status, const char *msg)
{
    snprintf(d->detail, sizeof d->detail, "%s", msg);
    return d->status = status;
}

/* Route, method, mutation rules and path parameters of a path below /api/v1. */
static int decide_route(const http_server *srv, const http_request_head *h, const char *path,
                        http_decision *d)
{
    char *buf = xstrdup(path);
    char *seg[MAX_SEGMENTS];
    int nseg = split_path(buf, seg);
    char *raw[HTTP_MAX_PARAMS] = {0};
    int nraw = 0;
    bool path_known = false;
    for (const http_route *rt = nseg < 0 ? NULL : http_api_routes; rt && rt->method; rt++) {
        int n = 0;
        if (!route_matches(rt->pattern, seg, nseg, raw, &n))
            continue;
        path_known = true;
        if (!strcmp(rt->method, h->method) ||
            (!strcmp(rt->method, "GET") && !strcmp(h->method, "HEAD"))) {
            d->route = rt;
            nraw = n;
            break;
        }
    }
    int rc = 0;
    if (!d->route)
        rc = path_known ? fail(d, 405, "Method Not Allowed") : fail(d, 404, "Not Found");
    else
        rc = http_guard_mutation_check(h, d);
    /* decode_url is off, so %2F inside a parameter arrives here encoded and
     * is refused after decoding instead of splitting the path. */
    for (int i = 0; !rc && i < nraw; i++) {
        size_t len = strlen(raw[i]);
        char *decoded = xmalloc(len + 1);
        int n = mg_url_decode(raw[i], (int)len, decoded, (int)len + 1, 0);
        d->params[d->nparams++] = decoded;
        if (n < 0 || strlen(decoded) != (size_t)n || !param_is_safe(decoded))
            rc = fail(d, 422,
                      "invalid path parameter: ids may not be empty, '.', "
                      "'..', or hold slashes, control characters or invalid UTF-8");
    }
    if (!rc && d->route->needs_service && srv->config_error) {
        snprintf(d->detail, sizeof d->detail, "Config not loaded: %s", srv->config_error);
        rc = d->status = 503;
    }
    free(buf);
    return rc;
}

void http_decide_api(const http_server *srv, const http_request_head *h, http_decision *d)
{
    memset(d, 0, sizeof *d);
    if (http_guard_check(srv, h, true, d))
        return;
    /* "/api/v1runs" is not below /api/v1: the prefix ends at a segment. */
    size_t plen = strlen(API_PREFIX);
    if (!h->uri || strncmp(h->uri, API_PREFIX, plen) != 0 ||
        (h->uri[plen] != '/' && h->uri[plen] != '\0')) {
        fail(d, 404, "Not Found");
        return;
    }
    decide_route(srv, h, h->uri + strlen(API_PREFIX), d);
}

void http_decision_free(http_decision *d)
{
    for (int i = 0; i < d->nparams; i++)
        free(d->params[i]);
    d->nparams = 0;
}

int http_reply_decision(struct mg_connection *conn, const http_decision *d)
{
    json_t *v = json_pack("{s:s}", "detail", d->detail);
    char *body = v ? json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(v);
    const char *text = body ? body : "{\"detail\":\"request refused\"}";
    char extra[96] = "";
    if (d->www_authenticate)
        snprintf(extra, sizeof extra, "WWW-Authenticate: Bearer\r\n");
    if (d->retry_after > 0)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "Retry-After: %d\r\n",
                 d->retry_after);
    /* A refused client gets its answer and the connection closes: it does
     * not keep a worker waiting for its next request. */
    if (d->status == 401 || d->status == 403 || d->status == 429) {
        mg_disable_connection_keep_alive(conn);
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), "Connection: close\r\n");
    }
    int rc = http_reply_raw(conn, d->status, "application/json", text, strlen(text),
                            extra[0] ? extra : NULL);
    free(body);
    return rc;
}

static http_request_head request_head(struct mg_connection *conn, const struct mg_request_info *ri)
{
    /* local_uri_raw keeps "." and ".." segments, so traversal attempts reach
     * the parameter check instead of being silently normalised away. */
    return (http_request_head){
        .method = ri->request_method,
        .uri = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri,
        .host = mg_get_header(conn, "Host"),
        .origin = mg_get_header(conn, "Origin"),
        .content_type = mg_get_header(conn, "Content-Type"),
        .authorization = mg_get_header(conn, "Authorization"),
        .cf_client_secret = mg_get_header(conn, "CF-Access-Client-Secret"),
        .cf_access_token = mg_get_header(conn, "cf-access-token"),
        .cookie = mg_get_header(conn, "Cookie"),
        .sec_fetch_site = mg_get_header(conn, "Sec-Fetch-Site"),
        .transfer_encoding = mg_get_header(conn, "Transfer-Encoding"),
        .content_length = ri->content_length,
    };
}

int http_api_handler(struct mg_connection *conn, void *cbdata)
{
    http_req r = {.conn = conn, .ri = mg_get_request_info(conn), .srv = cbdata};
    r.method = r.ri->request_method;
    http_request_head h = request_head(conn, r.ri);
    http_decision d;
    http_decide_api(r.srv, &h, &d);
    int rc;
    if (d.status) {
        rc = http_reply_decision(conn, &d);
    } else {
        r.nparams = d.nparams;
        for (int i = 0; i < d.nparams; i++)
            r.params[i] = d.params[i];
        r.cookie_auth = d.cookie_auth;
        sh_err e = SH_ERR_INIT;
        if (d.route->needs_service && !(r.svc = http_thread_service(&r, &e)))
            rc = http_reply_sh_err(&r, &e);
        else
            rc = d.route->handler(&r);
    }
    http_decision_free(&d);
    return rc;
}

int http_root_handler(struct mg_connection *conn, void *cbdata)
{
    http_req r = {.conn = conn, .ri = mg_get_request_info(conn), .srv = cbdata};
    r.method = r.ri->request_method;
    http_request_head h = request_head(conn, r.ri);
    http_decision d = {0};
    if (http_guard_check(r.srv, &h, false, &d))
        return http_reply_decision(conn, &d);
    if (strcmp(r.method, "GET") != 0 && strcmp(r.method, "HEAD") != 0)
        return http_reply_error(&r, 405, "Method Not Allowed");
    const char *uri = r.ri->local_uri ? r.ri->local_uri : "/";
    if (!strcmp(uri, "/login"))
        return http_login_link(conn, r.srv, r.ri->query_string);
    return http_serve_asset(conn, uri);
}

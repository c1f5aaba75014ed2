/* router.c - from a civetweb request to a handler: the guard, route
 * matching with path parameters, 404/405, and degraded mode.
 *
 * Path parameters are decoded and checked once here, for every route: no empty, "." or
 * ".." segment, no slash or backslash (civetweb has already decoded %2F), no
 * control bytes, at most 256 bytes.  Run and task ids are looked up in the
 * store, never used as paths, but a parameter that looks like a path is
 * refused before any handler sees it. */
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"
#include "util/sbuf.h"

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
    if (len == 0 || len > MAX_PARAM_LEN || !strcmp(p, ".") || !strcmp(p, ".."))
        return false;
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\' || *c == '/')
            return false;
    return true;
}

/* Whether route pattern matches the segments; fills params on a match. */
static bool route_matches(const char *pattern, char **seg, int nseg, http_req *r)
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
                r->params[nparams++] = seg[i];
        } else if (strcmp(pseg[i], seg[i]) != 0) {
            return false;
        }
    }
    r->nparams = nparams;
    return true;
}

static int dispatch(http_req *r, const char *path)
{
    char *buf = xstrdup(path);
    char *seg[MAX_SEGMENTS];
    int nseg = split_path(buf, seg);
    int rc;
    if (nseg < 0) {
        rc = http_reply_error(r, 404, "Not Found");
        goto out;
    }
    const http_route *found = NULL;
    bool path_known = false;
    for (const http_route *rt = http_api_routes; rt->method; rt++) {
        if (!route_matches(rt->pattern, seg, nseg, r))
            continue;
        path_known = true;
        if (!strcmp(rt->method, r->method) ||
            (!strcmp(rt->method, "GET") && !strcmp(r->method, "HEAD"))) {
            found = rt;
            break;
        }
    }
    if (!found) {
        r->nparams = 0;
        rc = path_known ? http_reply_error(r, 405, "Method Not Allowed")
                        : http_reply_error(r, 404, "Not Found");
        goto out;
    }
    if ((rc = http_guard_mutation(r)) != 0)
        goto out;
    /* decode_url is off, so %2F inside a parameter arrives here encoded and
     * is refused after decoding instead of splitting the path. */
    for (int i = 0; i < r->nparams; i++) {
        size_t len = strlen(r->params[i]);
        char *decoded = xmalloc(len + 1);
        int n = mg_url_decode(r->params[i], (int)len, decoded, (int)len + 1, 0);
        r->params[i] = decoded;
        r->owned[i] = decoded;
        if (n < 0 || strlen(decoded) != (size_t)n || !param_is_safe(decoded)) {
            rc = http_reply_error(r, 422, "invalid path parameter: ids may not be empty, '.', "
                                          "'..', or hold slashes or control characters");
            goto out;
        }
    }
    if (found->needs_service && r->srv->config_error) {
        rc = http_reply_error(r, 503, "Config not loaded: %s", r->srv->config_error);
        goto out;
    }
    rc = found->handler(r);
out:
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(r->owned[i]);
    free(buf);
    return rc;
}

int http_api_handler(struct mg_connection *conn, void *cbdata)
{
    http_req r = {.conn = conn, .ri = mg_get_request_info(conn), .srv = cbdata};
    r.method = r.ri->request_method;
    /* local_uri_raw keeps "." and ".." segments, so traversal attempts reach
     * the parameter check instead of being silently normalised away. */
    const char *uri = r.ri->local_uri_raw ? r.ri->local_uri_raw : r.ri->local_uri;
    int rc = http_guard(&r, true);
    if (rc)
        return rc;
    if (!uri || strncmp(uri, API_PREFIX, strlen(API_PREFIX)) != 0)
        return http_reply_error(&r, 404, "Not Found");
    return dispatch(&r, uri + strlen(API_PREFIX));
}

int http_root_handler(struct mg_connection *conn, void *cbdata)
{
    http_req r = {.conn = conn, .ri = mg_get_request_info(conn), .srv = cbdata};
    r.method = r.ri->request_method;
    int rc = http_guard(&r, false);
    if (rc)
        return rc;
    if (strcmp(r.method, "GET") != 0 && strcmp(r.method, "HEAD") != 0)
        return http_reply_error(&r, 405, "Method Not Allowed");
    const char *uri = r.ri->local_uri ? r.ri->local_uri : "/";
    return http_serve_asset(conn, uri);
}

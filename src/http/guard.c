/* guard.c - who may talk to the server, and how (docs/security.md, "The
 * server").  Everything here is decided from the request head, before any
 * body is read.
 *
 * - The server has a token unless settings.api_token = false: every API call
 *   needs it, as `Authorization: Bearer TOKEN`, as `CF-Access-Client-Secret:
 *   TOKEN` or `cf-access-token: TOKEN` (how the original's client sends
 *   credentials), or the dashboard's session cookie (session.c).  Failed
 *   attempts are limited (session.c).
 * - Without a token the server only listens on loopback, and the Host header
 *   must name it: a web page that rebinds its own DNS name to 127.0.0.1 sends
 *   its own name as Host and is refused (DNS rebinding).
 * - A mutating call is refused when the browser says it comes from another
 *   site: an `Origin` that is not this server (`Origin: null` included), or
 *   `Sec-Fetch-Site: cross-site` / `same-site` (CSRF).  A call with a body
 *   must send it as `Content-Type: application/json`, which a cross-site
 *   form cannot do without a CORS preflight, which we never grant; a call
 *   without one (the original's client POSTs so) needs no Content-Type, but
 *   a non-JSON one is still refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

bool http_secure_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool http_is_loopback_host(const char *host)
{
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "::1") ||
           !strcmp(host, "[::1]") || !strncmp(host, "127.", 4);
}

static const char *bearer_value(const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    const char *given = auth + 7;
    while (*given == ' ')
        given++;
    return given;
}

/* What the credential headers of a request say: none sent, one of them is
 * the token, or some were sent and none is. */
typedef enum {
    CREDENTIALS_NONE,
    CREDENTIALS_OK,
    CREDENTIALS_WRONG
} credentials;

static credentials check_credentials(const char *token, const char *authorization,
                                     const char *cf_secret, const char *cf_token)
{
    const char *given[] = {bearer_value(authorization), cf_secret, cf_token};
    credentials c = CREDENTIALS_NONE;
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++) {
        if (!given[i])
            continue;
        if (http_secure_equal(given[i], token))
            return CREDENTIALS_OK;
        c = CREDENTIALS_WRONG;
    }
    return c;
}

bool http_credentials_ok(const http_server *srv, const char *authorization, const char *cf_secret,
                         const char *cf_token)
{
    return srv->token &&
           check_credentials(srv->token, authorization, cf_secret, cf_token) == CREDENTIALS_OK;
}

/* "host:port" forms this server answers to when unauthenticated. */
static bool host_allowed(const http_server *srv, const char *host_header)
{
    const char *names[] = {"127.0.0.1", "localhost", "[::1]", srv->host};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char with_port[300];
        snprintf(with_port, sizeof with_port, "%s:%d", names[i], srv->port);
        if (!strcasecmp(host_header, with_port))
            return true;
        if (srv->port == 80 && !strcasecmp(host_header, names[i]))
            return true;
    }
    return false;
}

static bool is_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* Origin "scheme://host[:port]" must name the Host the request was sent to;
 * "null" (a sandboxed frame, a file: page) names nothing. */
static bool origin_matches(const char *origin, const char *host_header)
{
    if (!host_header)
        return false;
    const char *p = strstr(origin, "://");
    if (!p)
        return false;
    return !strcasecmp(p + 3, host_header);
}

bool http_request_has_body(const http_request_head *h)
{
    return (h->transfer_encoding && *h->transfer_encoding) || h->content_length > 0;
}

static bool is_json_type(const char *ct)
{
    return !strncasecmp(ct, "application/json", 16) &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/* The error names the header value it refuses; bytes that are not printable
 * ASCII become '?' so the reply is valid JSON whatever a client sent. */
static int refuse(http_decision *d, int status, const char *fmt, const char *arg)
{
    char shown[256];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)arg; *c && n < sizeof shown - 1; c++)
        shown[n++] = *c >= 0x20 && *c < 0x7f ? (char)*c : '?';
    shown[n] = '\0';
    snprintf(d->detail, sizeof d->detail, fmt, shown);
    return d->status = status;
}

/* With a token: the session cookie, else the credential headers, within the
 * limit on failed attempts. */
static int check_token(const http_server *srv, const http_request_head *h, http_decision *d)
{
    if (http_auth_cookie_ok(srv, h->cookie)) {
        d->cookie_auth = true;
        return 0;
    }
    if (!h->authorization && !h->cf_client_secret && !h->cf_access_token) {
        d->www_authenticate = true;
        return refuse(d, 401, "%s",
                      "Not authenticated: send 'Authorization: Bearer <token>' (the token is in "
                      "the file api_token of the server's data dir, or settings.api_token)");
    }
    int64_t now = time_monotonic_ms();
    int wait_s = http_auth_blocked(srv->auth, now);
    if (wait_s) {
        d->retry_after = wait_s;
        snprintf(d->detail, sizeof d->detail,
                 "too many failed logins: wait %d s before sending credentials again", wait_s);
        return d->status = 429;
    }
    if (check_credentials(srv->token, h->authorization, h->cf_client_secret, h->cf_access_token) ==
        CREDENTIALS_OK)
        return 0;
    http_auth_failed(srv->auth, now);
    d->www_authenticate = true;
    return refuse(d, 401, "%s", "Not authenticated: wrong token");
}

int http_guard_check(const http_server *srv, const http_request_head *h, bool api, http_decision *d)
{
    if (!srv->token && (!h->host || !host_allowed(srv, h->host)))
        return refuse(d, 403,
                      "Host '%s' is not this server: without an API token the server "
                      "only answers to its loopback address",
                      h->host ? h->host : "");
    if (!api || !srv->token)
        return 0;
    /* /session is how a browser gets its cookie: it looks at credentials itself. */
    if (h->uri && !strcmp(h->uri, "/api/v1/session"))
        return 0;
    return check_token(srv, h, d);
}

int http_guard_mutation_check(const http_request_head *h, http_decision *d)
{
    if (!is_mutating(h->method))
        return 0;
    if (h->origin && !origin_matches(h->origin, h->host))
        return refuse(d, 403,
                      "Origin '%s' is not this server: requests from other sites are refused",
                      h->origin);
    const char *site = h->sec_fetch_site;
    if (site && (!strcasecmp(site, "cross-site") || !strcasecmp(site, "same-site")))
        return refuse(d, 403,
                      "requests from other sites are refused (the browser sent "
                      "'Sec-Fetch-Site: %s')",
                      site);
    if (h->content_type ? !is_json_type(h->content_type) : http_request_has_body(h))
        return refuse(d, 415,
                      "%s requests with a body need 'Content-Type: application/json' (a request "
                      "without a body needs none)",
                      h->method);
    return 0;
}

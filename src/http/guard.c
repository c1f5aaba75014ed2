/* guard.c - who may talk to the server, and how (DESIGN §8).
 *
 * - With a token (settings.api_token or SCRIPTHUT_API_TOKEN) every API call
 *   needs `Authorization: Bearer TOKEN` or the dashboard's session cookie.
 * - Without one the server only listens on loopback, and the Host header must
 *   name it: a web page that rebinds its own DNS name to 127.0.0.1 sends its
 *   own name as Host and is refused (DNS rebinding).
 * - Mutating calls need Content-Type: application/json (a cross-site form
 *   cannot send that without a CORS preflight, which we never grant) and, when
 *   the browser sends Origin, an Origin naming this server (CSRF).
 * The session cookie holds a digest of the token, never the token itself. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "util/sbuf.h"

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

/* hex(SHA-256("scripthut-session:" token)), 64 chars + NUL. */
static void session_value(const char *token, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char *msg = xasprintf("scripthut-session:%s", token);
    EVP_Digest(msg, strlen(msg), md, &mdlen, EVP_sha256(), NULL);
    free(msg);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool has_valid_cookie(const char *cookies, const char *token)
{
    if (!cookies)
        return false;
    char value[128];
    if (mg_get_cookie(cookies, HTTP_SESSION_COOKIE, value, sizeof value) < 0)
        return false;
    char expected[65];
    session_value(token, expected);
    return http_secure_equal(value, expected);
}

static bool has_valid_bearer(const char *auth, const char *token)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    while (*given == ' ')
        given++;
    return http_secure_equal(given, token);
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

/* Origin "scheme://host[:port]" must name the Host the request was sent to. */
static bool origin_matches(const char *origin, const char *host_header)
{
    if (!host_header)
        return false;
    const char *p = strstr(origin, "://");
    if (!p)
        return false;
    return !strcasecmp(p + 3, host_header);
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

int http_guard_check(const http_server *srv, const http_request_head *h, bool api, http_decision *d)
{
    if (!srv->token && (!h->host || !host_allowed(srv, h->host)))
        return refuse(d, 403,
                      "Host '%s' is not this server: without an API token the server "
                      "only answers to its loopback address",
                      h->host ? h->host : "");
    if (!api)
        return 0;
    bool session_route = h->uri && !strcmp(h->uri, "/api/v1/session");
    if (srv->token && !session_route) {
        if (has_valid_bearer(h->authorization, srv->token)) {
            d->cookie_auth = false;
        } else if (has_valid_cookie(h->cookie, srv->token)) {
            d->cookie_auth = true;
        } else {
            d->www_authenticate = true;
            return refuse(d, 401, "%s",
                          "Not authenticated: send 'Authorization: Bearer <token>' "
                          "(settings.api_token)");
        }
    }
    return 0;
}

int http_guard_mutation_check(const http_request_head *h, http_decision *d)
{
    if (!is_mutating(h->method))
        return 0;
    const char *ct = h->content_type;
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return refuse(d, 415, "%s requests need 'Content-Type: application/json'", h->method);
    if (h->origin && !origin_matches(h->origin, h->host))
        return refuse(d, 403, "Origin '%s' does not match this server", h->origin);
    return 0;
}

int http_session_login(http_req *r)
{
    if (!r->srv->token)
        return http_reply_json(r, 200,
                               json_pack("{s:b,s:b}", "auth_required", 0, "authenticated", 1));
    json_t *body = NULL;
    int rc = http_read_json_body(r, false, &body);
    if (rc)
        return rc;
    const char *given = json_string_value(json_object_get(body, "token"));
    bool ok = given && http_secure_equal(given, r->srv->token);
    json_decref(body);
    if (!ok)
        return http_reply_error(r, 401, "wrong token");
    char value[65];
    session_value(r->srv->token, value);
    char *headers = xasprintf("Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict\r\n",
                              HTTP_SESSION_COOKIE, value);
    const char *reply = "{\"auth_required\":true,\"authenticated\":true}";
    http_reply_raw(r->conn, 200, "application/json", reply, strlen(reply), headers);
    free(headers);
    return 200;
}

int http_session_status(http_req *r)
{
    /* The guard lets /session through without credentials; look at them here
     * only to tell the dashboard whether it must ask for the token. */
    bool required = r->srv->token != NULL;
    bool authenticated = !required ||
                         has_valid_bearer(http_header(r, "Authorization"), r->srv->token) ||
                         has_valid_cookie(http_header(r, "Cookie"), r->srv->token);
    return http_reply_json(
        r, 200, json_pack("{s:b,s:b}", "auth_required", required, "authenticated", authenticated));
}

int http_session_logout(http_req *r)
{
    const char *reply = "{\"authenticated\":false}";
    http_reply_raw(r->conn, 200, "application/json", reply, strlen(reply),
                   "Set-Cookie: " HTTP_SESSION_COOKIE
                   "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n");
    return 200;
}

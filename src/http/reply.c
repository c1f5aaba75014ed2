/* reply.c - JSON replies, errors as {"detail": ...}, query parameters and
 * request bodies with limits. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "util/json_depth.h"
#include "util/sbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 303: return "See Other";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

/* Security headers on every response: the dashboard is same-origin only and
 * never framed; nothing is cached (state changes every second). */
#define COMMON_HEADERS                                                                             \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "X-Frame-Options: DENY\r\n"                                                                    \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Cache-Control: no-store\r\n"

int http_reply_raw(struct mg_connection *conn, int status, const char *content_type,
                   const char *body, size_t len, const char *extra_headers)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %zu\r\n" COMMON_HEADERS "%s"
              "\r\n",
              status, status_text(status), content_type, len, extra_headers ? extra_headers : "");
    if (len)
        mg_write(conn, body, len);
    return status;
}

int http_reply_json(http_req *r, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(v);
    if (!text) {
        static const char failed[] = "{\"detail\":\"cannot encode the reply\"}";
        return http_reply_raw(r->conn, 500, "application/json", failed, sizeof failed - 1, NULL);
    }
    size_t len = strlen(text);
    int rc = http_reply_raw(r->conn, status, "application/json", text, len, NULL);
    free(text);
    return rc;
}

int http_reply_error(http_req *r, int status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages quote what a client sent (an id, a name): invalid UTF-8 in
     * them becomes U+FFFD, so the reply is still JSON. */
    char *text = utf8_sanitize(msg, strlen(msg), NULL);
    int rc = http_reply_json(r, status, json_pack("{s:s}", "detail", text));
    free(text);
    return rc;
}

int http_reply_sh_err(http_req *r, const sh_err *e)
{
    int status = e->status >= 400 && e->status <= 599 ? e->status : 500;
    return http_reply_error(r, status, "%s", e->msg[0] ? e->msg : "internal error");
}

const char *http_header(http_req *r, const char *name)
{
    return mg_get_header(r->conn, name);
}

char *http_query(http_req *r, const char *name)
{
    return http_query_value(r->ri->query_string, name);
}

char *http_query_value(const char *qs, const char *name)
{
    if (!qs)
        return NULL;
    size_t qlen = strlen(qs);
    char *buf = xmalloc(qlen + 1);
    int n = mg_get_var(qs, qlen, name, buf, qlen + 1);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int http_parse_int(const char *v, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || !end || *end != '\0' || errno != 0 || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int http_parse_bool(const char *v, bool *out)
{
    static const char *truthy[] = {"true", "1", "yes", "on"};
    static const char *falsy[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, truthy[i]) || !strcasecmp(v, falsy[i])) {
            *out = !strcasecmp(v, truthy[i]);
            return 0;
        }
    }
    return -1;
}

int http_query_int(http_req *r, const char *name, long long dflt, long long min, long long max,
                   long long *out)
{
    char *v = http_query(r, name);
    *out = dflt;
    if (!v)
        return 0;
    int rc = http_parse_int(v, min, max, out);
    free(v);
    if (rc)
        return http_reply_error(r, 422, "query parameter '%s' must be an integer in [%lld, %lld]",
                                name, min, max);
    return 0;
}

int http_query_bool(http_req *r, const char *name, bool dflt, bool *out)
{
    char *v = http_query(r, name);
    *out = dflt;
    if (!v)
        return 0;
    int rc = http_parse_bool(v, out);
    free(v);
    if (rc)
        return http_reply_error(r, 422, "query parameter '%s' must be a boolean (true/false)",
                                name);
    return 0;
}

int http_parse_json_object(const char *buf, size_t len, json_t **out, char *msg, size_t msg_size)
{
    *out = NULL;
    if (json_nests_deeper_than(buf, len, HTTP_MAX_JSON_DEPTH)) {
        snprintf(msg, msg_size, "invalid JSON body: arrays and objects nest deeper than %d levels",
                 HTTP_MAX_JSON_DEPTH);
        return -1;
    }
    json_error_t je;
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(msg, msg_size, "invalid JSON body: %s (line %d, column %d)", je.text, je.line,
                 je.column);
        return -1;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(msg, msg_size, "request body must be a JSON object");
        return -1;
    }
    *out = v;
    return 0;
}

int http_read_json_body(http_req *r, bool allow_empty, json_t **out)
{
    *out = NULL;
    long long len = r->ri->content_length;
    if (len > HTTP_MAX_BODY)
        return http_reply_error(r, 413, "request body too large (limit %d bytes)", HTTP_MAX_BODY);
    if (len <= 0) {
        const char *te = http_header(r, "Transfer-Encoding");
        if (te && *te)
            return http_reply_error(r, 411, "a Content-Length is required");
        if (allow_empty)
            return 0;
        return http_reply_error(r, 422, "request body must be a JSON object");
    }
    /* Each mg_read waits at most request_timeout_ms; the body as a whole
     * gets HTTP_BODY_DEADLINE_MS, so a client that trickles its bytes does
     * not hold the worker for long. */
    char *buf = xmalloc((size_t)len + 1);
    size_t got = 0;
    int64_t deadline = time_monotonic_ms() + HTTP_BODY_DEADLINE_MS;
    bool late = false;
    while (got < (size_t)len) {
        if (time_monotonic_ms() > deadline) {
            late = true;
            break;
        }
        int n = mg_read(r->conn, buf + got, (size_t)len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (got != (size_t)len) {
        free(buf);
        mg_disable_connection_keep_alive(r->conn);
        return http_reply_error(r, late ? 408 : 422, "request body %s (%zu of %lld bytes in %d s)",
                                late ? "too slow" : "truncated", got, len,
                                HTTP_BODY_DEADLINE_MS / 1000);
    }
    char msg[400];
    int rc = http_parse_json_object(buf, got, out, msg, sizeof msg);
    free(buf);
    if (rc)
        return http_reply_error(r, 422, "%s", msg);
    return 0;
}

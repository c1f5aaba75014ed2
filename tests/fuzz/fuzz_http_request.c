/* fuzz_http_request.c - every check a request meets before an /api/v1
 * handler runs (src/http/router.c, guard.c), and the query-string and body
 * parsers the handlers use (src/http/reply.c), fed without a server through
 * their pure entry points: http_decide_api, http_query_value,
 * http_parse_int/bool, http_parse_json_object.
 *
 * Input: one byte of server setup (token or not, degraded or not, port 80
 * or not), then a request as text:
 *
 *     METHOD /api/v1/path?query\n
 *     Header: value\n ...
 *     \n
 *     body
 *
 * What must hold, besides no crash or leak: a request that gets through has
 * a route of its method, path parameters that are safe ids, a Host naming
 * this server (no token) or credentials (token), and for a mutating call no
 * sign of another site (Origin, Sec-Fetch-Site) and a JSON content type when
 * it has a body or names a type; a refusal has a known status and a message
 * that encodes as JSON. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "util/sbuf.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http_request: property failed: %s (line %d)\n", #cond,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TOKEN "s3cret-token"

static const char *const query_names[] = {
    "limit",    "wait",    "failed_only", "after",   "type", "tail",   "follow",
    "workflow", "backend", "rebuild",     "dry_run", "name", "run_id", "last_event_id"};

typedef struct parsed {
    char *text; /* owns everything below */
    http_request_head head;
    const char *query;
    const char *body;
    size_t body_len;
} parsed;

static char *next_line(char **p)
{
    if (!*p)
        return NULL;
    char *line = *p;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = NULL;
    }
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
        line[n - 1] = '\0';
    return line;
}

/* The first of each header wins, as with mg_get_header. */
static void set_header(http_request_head *h, const char *name, const char *value)
{
    static const struct {
        const char *name;
        size_t offset;
    } known[] = {
        {"Host", offsetof(http_request_head, host)},
        {"Origin", offsetof(http_request_head, origin)},
        {"Content-Type", offsetof(http_request_head, content_type)},
        {"Authorization", offsetof(http_request_head, authorization)},
        {"CF-Access-Client-Secret", offsetof(http_request_head, cf_client_secret)},
        {"cf-access-token", offsetof(http_request_head, cf_access_token)},
        {"Cookie", offsetof(http_request_head, cookie)},
        {"Sec-Fetch-Site", offsetof(http_request_head, sec_fetch_site)},
        {"Transfer-Encoding", offsetof(http_request_head, transfer_encoding)},
    };
    if (!strcasecmp(name, "Content-Length") && h->content_length < 0) {
        h->content_length = strtoll(value, NULL, 10);
        return;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char **slot = (const char **)((char *)h + known[i].offset);
        if (!strcasecmp(name, known[i].name) && !*slot)
            *slot = value;
    }
}

static void parse_request(const uint8_t *data, size_t size, parsed *r)
{
    memset(r, 0, sizeof *r);
    r->head.content_length = -1;
    r->text = xmalloc(size + 1);
    memcpy(r->text, data, size);
    r->text[size] = '\0';
    /* The body may hold NUL bytes; the head stops at the first one. */
    char *cut = strstr(r->text, "\n\n");
    if (cut) {
        *cut = '\0';
        r->body = cut + 2;
        r->body_len = size - (size_t)(r->body - r->text);
    }
    char *p = r->text;
    char *line = next_line(&p);
    char *sp = strchr(line, ' ');
    if (sp) {
        *sp = '\0';
        r->head.uri = sp + 1;
        char *q = strchr(sp + 1, '?');
        if (q) {
            *q = '\0';
            r->query = q + 1;
        }
    }
    r->head.method = line;
    while ((line = next_line(&p))) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ')
            value++;
        set_header(&r->head, line, value);
    }
}

static void check_encodable(const char *msg)
{
    CHECK(msg[0] != '\0');
    json_t *v = json_pack("{s:s}", "detail", msg);
    CHECK(v != NULL);
    json_decref(v);
}

static bool host_is_this_server(const http_server *srv, const char *host)
{
    if (!host)
        return false;
    const char *names[] = {"127.0.0.1", "localhost", "[::1]", srv->host};
    for (size_t i = 0; i < 4; i++) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s:%d", names[i], srv->port);
        if (!strcasecmp(host, buf) || (srv->port == 80 && !strcasecmp(host, names[i])))
            return true;
    }
    return false;
}

static bool param_is_an_id(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > 256 || !strcmp(p, ".") || !strcmp(p, ".."))
        return false;
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '/' || *c == '\\')
            return false;
    return true;
}

static void check_accepted(const http_server *srv, const http_request_head *h,
                           const http_decision *d)
{
    const http_route *rt = d->route;
    CHECK(rt != NULL);
    CHECK(!strcmp(rt->method, h->method) ||
          (!strcmp(rt->method, "GET") && !strcmp(h->method, "HEAD")));
    CHECK(!strncmp(h->uri, "/api/v1/", 8));
    int braces = 0;
    for (const char *c = rt->pattern; *c; c++)
        braces += *c == '{';
    CHECK(d->nparams == braces);
    for (int i = 0; i < d->nparams; i++)
        CHECK(param_is_an_id(d->params[i]));
    if (!srv->token)
        CHECK(host_is_this_server(srv, h->host));
    else if (strcmp(h->uri, "/api/v1/session") != 0)
        CHECK((h->authorization && strstr(h->authorization, TOKEN)) ||
              (h->cf_client_secret && !strcmp(h->cf_client_secret, TOKEN)) ||
              (h->cf_access_token && !strcmp(h->cf_access_token, TOKEN)));
    bool mutating =
        strcmp(h->method, "GET") && strcmp(h->method, "HEAD") && strcmp(h->method, "OPTIONS");
    if (mutating) {
        if (h->content_type || http_request_has_body(h))
            CHECK(h->content_type && !strncasecmp(h->content_type, "application/json", 16));
        if (h->origin) {
            const char *scheme_end = strstr(h->origin, "://");
            CHECK(scheme_end && h->host && !strcasecmp(scheme_end + 3, h->host));
        }
        CHECK(!h->sec_fetch_site || (strcasecmp(h->sec_fetch_site, "cross-site") &&
                                     strcasecmp(h->sec_fetch_site, "same-site")));
    }
    if (rt->needs_service)
        CHECK(srv->config_error == NULL);
}

static void fuzz_query(const char *query)
{
    for (size_t i = 0; i < sizeof query_names / sizeof query_names[0]; i++) {
        char *v = http_query_value(query, query_names[i]);
        if (!v)
            continue;
        CHECK(query != NULL);
        long long n = -1;
        if (http_parse_int(v, 0, 1000000, &n) == 0)
            CHECK(n >= 0 && n <= 1000000);
        bool b = false;
        if (http_parse_bool(v, &b) == 0)
            CHECK(strlen(v) <= 5);
        free(v);
    }
}

static void fuzz_body(const char *body, size_t len)
{
    json_t *obj = NULL;
    char msg[400] = "";
    if (http_parse_json_object(body, len, &obj, msg, sizeof msg) == 0) {
        CHECK(json_is_object(obj));
        json_decref(obj);
    } else {
        CHECK(obj == NULL);
        check_encodable(msg);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    uint8_t setup = data[0];
    http_server srv;
    memset(&srv, 0, sizeof srv);
    static char token[] = TOKEN, config_error[] = "scripthut.lua:3: broken";
    static char loopback[] = "127.0.0.1", any[] = "0.0.0.0";
    srv.token = (setup & 1) ? token : NULL;
    srv.config_error = (setup & 2) ? config_error : NULL;
    srv.port = (setup & 4) ? 80 : 8000;
    srv.host = (setup & 8) ? any : loopback;
    /* Sessions only from the fuzzer's own cookies: none is ever issued, so a
     * Cookie header never authenticates here. */
    srv.auth = http_auth_new();

    parsed r;
    parse_request(data + 1, size - 1, &r);
    if (r.head.uri) {
        http_decision d;
        http_decide_api(&srv, &r.head, &d);
        static const int known[] = {0, 401, 403, 404, 405, 415, 422, 429, 503};
        bool status_known = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            status_known |= d.status == known[i];
        CHECK(status_known);
        if (d.status)
            check_encodable(d.detail);
        else
            check_accepted(&srv, &r.head, &d);
        CHECK(d.www_authenticate == (d.status == 401));
        CHECK((d.retry_after > 0) == (d.status == 429));
        http_decision_free(&d);
    }
    fuzz_query(r.query);
    if (r.body)
        fuzz_body(r.body, r.body_len);
    free(r.text);
    http_auth_free(srv.auth);
    return 0;
}

/* session.c - the dashboard's sessions, the one-time login link, and the
 * limit on failed logins (docs/security.md, "The server").
 *
 * A browser never holds the API token.  It trades the token (POST
 * /api/v1/session) or the login link `serve` prints at start (GET
 * /login?code=...) for a session cookie
 *
 *     <id>.<expiry>.<mac>
 *
 * id: 128 random bits (hex); expiry: Unix seconds; mac: HMAC-SHA256 of
 * "<id>.<expiry>" under a secret of 256 random bits drawn when the server
 * starts.  The server also keeps the ids it issued: logging out forgets one,
 * and a restart forgets them all together with the secret, so a changed
 * token (the token is read at start) revokes every session.  A forged,
 * expired or forgotten cookie is simply not a session.
 *
 * Every failed authentication (a wrong token in a login, a bearer or
 * Cloudflare header, a wrong login code) takes one from a bucket of
 * HTTP_LOGIN_BURST that refills by one every HTTP_LOGIN_REFILL_MS; while
 * it is empty, credentials are not even looked at: 429 with Retry-After.
 * All local users connect from 127.0.0.1, so the bucket is one for the
 * server, not one per address.  Session cookies are still checked while it
 * is empty (guessing one is hopeless), so an open dashboard keeps working. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http_internal.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define SESSION_ID_BYTES 16
#define SESSION_ID_HEX (2 * SESSION_ID_BYTES)
#define SESSION_MAC_HEX 64
#define LOGIN_CODE_BYTES 24

typedef struct session {
    char id[SESSION_ID_HEX + 1];
    long long expiry; /* Unix seconds; 0: free slot */
} session;

struct http_auth {
    pthread_mutex_t mu;
    unsigned char secret[32];
    session sessions[HTTP_MAX_SESSIONS];
    char login_code[2 * LOGIN_CODE_BYTES + 1]; /* "" once used */
    int login_tokens;                          /* what is left of the bucket */
    int64_t refilled_ms;                       /* monotonic time of the last refill */
};

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Random bytes as hex.  Without randomness there is no safe token, cookie
 * or login code: stop rather than make a guessable one. */
static void random_hex(size_t n, char *out)
{
    unsigned char buf[64];
    if (n > sizeof buf || RAND_bytes(buf, (int)n) != 1) {
        fprintf(stderr, "scripthut: the system's random generator failed\n");
        abort();
    }
    hex(buf, n, out);
    OPENSSL_cleanse(buf, sizeof buf);
}

http_auth *http_auth_new(void)
{
    http_auth *a = xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    if (RAND_bytes(a->secret, sizeof a->secret) != 1) {
        fprintf(stderr, "scripthut: the system's random generator failed\n");
        abort();
    }
    random_hex(LOGIN_CODE_BYTES, a->login_code);
    a->login_tokens = HTTP_LOGIN_BURST;
    a->refilled_ms = time_monotonic_ms();
    return a;
}

void http_auth_free(http_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

const char *http_auth_login_code(http_auth *a)
{
    return a->login_code;
}

/* --- cookies ------------------------------------------------------------------ */

static void session_mac(const http_auth *a, const char *id, long long expiry,
                        char out[SESSION_MAC_HEX + 1])
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%s.%lld", id, expiry);
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), a->secret, sizeof a->secret, (const unsigned char *)msg, (size_t)n, md,
         &mdlen);
    hex(md, sizeof md, out);
}

char *http_auth_issue(http_auth *a, long long now)
{
    char id[SESSION_ID_HEX + 1];
    random_hex(SESSION_ID_BYTES, id);
    long long expiry = now + HTTP_SESSION_TTL_S;
    pthread_mutex_lock(&a->mu);
    /* A free or expired slot, else the one that expires first. */
    session *slot = &a->sessions[0];
    for (size_t i = 0; i < HTTP_MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (s->expiry <= now) {
            slot = s;
            break;
        }
        if (s->expiry < slot->expiry)
            slot = s;
    }
    memcpy(slot->id, id, sizeof id);
    slot->expiry = expiry;
    pthread_mutex_unlock(&a->mu);
    char mac[SESSION_MAC_HEX + 1];
    session_mac(a, id, expiry, mac);
    return xasprintf("%s.%lld.%s", id, expiry, mac);
}

/* Splits "<id>.<expiry>.<mac>"; false when it is not of that shape. */
static bool parse_cookie(const char *value, char id[SESSION_ID_HEX + 1], long long *expiry,
                         const char **mac)
{
    const char *dot1 = strchr(value, '.');
    if (!dot1 || dot1 - value != SESSION_ID_HEX)
        return false;
    const char *dot2 = strchr(dot1 + 1, '.');
    if (!dot2 || dot2 == dot1 + 1 || dot2 - dot1 > 20)
        return false;
    long long n = 0;
    for (const char *p = dot1 + 1; p < dot2; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (*p - '0');
    }
    if (strlen(dot2 + 1) != SESSION_MAC_HEX)
        return false;
    memcpy(id, value, SESSION_ID_HEX);
    id[SESSION_ID_HEX] = '\0';
    *expiry = n;
    *mac = dot2 + 1;
    return true;
}

/* The slot of a live session named by a cookie value, or NULL.  Caller
 * holds a->mu. */
static session *find_session(http_auth *a, const char *value, long long now)
{
    char id[SESSION_ID_HEX + 1], expected[SESSION_MAC_HEX + 1];
    long long expiry;
    const char *mac;
    if (!parse_cookie(value, id, &expiry, &mac) || expiry <= now)
        return NULL;
    session_mac(a, id, expiry, expected);
    if (CRYPTO_memcmp(expected, mac, SESSION_MAC_HEX) != 0)
        return NULL;
    for (size_t i = 0; i < HTTP_MAX_SESSIONS; i++) {
        session *s = &a->sessions[i];
        if (s->expiry == expiry && !strcmp(s->id, id))
            return s;
    }
    return NULL;
}

bool http_auth_session_valid(http_auth *a, const char *value, long long now)
{
    pthread_mutex_lock(&a->mu);
    bool ok = find_session(a, value, now) != NULL;
    pthread_mutex_unlock(&a->mu);
    return ok;
}

void http_auth_revoke(http_auth *a, const char *value, long long now)
{
    pthread_mutex_lock(&a->mu);
    session *s = find_session(a, value, now);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&a->mu);
}

/* --- the failed-login bucket ----------------------------------------------------- */

static void refill(http_auth *a, int64_t now_ms)
{
    int64_t steps = (now_ms - a->refilled_ms) / HTTP_LOGIN_REFILL_MS;
    if (steps <= 0)
        return;
    a->refilled_ms += steps * HTTP_LOGIN_REFILL_MS;
    a->login_tokens = steps >= HTTP_LOGIN_BURST - a->login_tokens ? HTTP_LOGIN_BURST
                                                                  : a->login_tokens + (int)steps;
}

int http_auth_blocked(http_auth *a, int64_t now_ms)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    refill(a, now_ms);
    int wait_s = 0;
    if (a->login_tokens <= 0) {
        wait_s = (int)((a->refilled_ms + HTTP_LOGIN_REFILL_MS - now_ms + 999) / 1000);
        if (wait_s < 1)
            wait_s = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return wait_s;
}

void http_auth_failed(http_auth *a, int64_t now_ms)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    refill(a, now_ms);
    if (a->login_tokens > 0)
        a->login_tokens--;
    pthread_mutex_unlock(&a->mu);
}

bool http_auth_take_login_code(http_auth *a, const char *code)
{
    pthread_mutex_lock(&a->mu);
    bool ok = a->login_code[0] && code && strlen(code) == strlen(a->login_code) &&
              CRYPTO_memcmp(code, a->login_code, strlen(code)) == 0;
    if (ok)
        a->login_code[0] = '\0';
    pthread_mutex_unlock(&a->mu);
    return ok;
}

/* --- the handlers ------------------------------------------------------------------ */

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* Cookies belong to a host, not to a port: two servers on 127.0.0.1 would
 * overwrite each other's cookie, so the name carries the port. */
static void cookie_name(const http_server *srv, char out[64])
{
    snprintf(out, 64, "%s_%d", HTTP_SESSION_COOKIE, srv->port);
}

/* The session cookie of a request, or NULL (caller frees). */
static char *request_cookie(const http_server *srv, const char *cookies)
{
    if (!cookies)
        return NULL;
    char name[64], value[160];
    cookie_name(srv, name);
    if (mg_get_cookie(cookies, name, value, sizeof value) < 0)
        return NULL;
    return xstrdup(value);
}

bool http_auth_cookie_ok(const http_server *srv, const char *cookies)
{
    char *value = srv->auth ? request_cookie(srv, cookies) : NULL;
    bool ok = value && http_auth_session_valid(srv->auth, value, now_s());
    free(value);
    return ok;
}

static char *set_cookie_header(const http_server *srv)
{
    char name[64];
    cookie_name(srv, name);
    char *value = http_auth_issue(srv->auth, now_s());
    char *header = xasprintf("Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d\r\n",
                             name, value, HTTP_SESSION_TTL_S);
    free(value);
    return header;
}

static int reply_too_many_logins(struct mg_connection *conn, int wait_s)
{
    http_decision d = {.status = 429, .retry_after = wait_s};
    snprintf(d.detail, sizeof d.detail,
             "too many failed logins: wait %d s (failed attempts are limited to one every %d s "
             "after %d)",
             wait_s, HTTP_LOGIN_REFILL_MS / 1000, HTTP_LOGIN_BURST);
    return http_reply_decision(conn, &d);
}

int http_session_login(http_req *r)
{
    if (!r->srv->token)
        return http_reply_json(r, 200,
                               json_pack("{s:b,s:b}", "auth_required", 0, "authenticated", 1));
    int wait_s = http_auth_blocked(r->srv->auth, time_monotonic_ms());
    if (wait_s)
        return reply_too_many_logins(r->conn, wait_s);
    if (r->ri->content_length > HTTP_MAX_LOGIN_BODY) {
        mg_disable_connection_keep_alive(r->conn);
        return http_reply_error(r, 413, "a login body is {\"token\": \"...\"} (at most %d bytes)",
                                HTTP_MAX_LOGIN_BODY);
    }
    json_t *body = NULL;
    int rc = http_read_json_body(r, false, &body);
    if (rc)
        return rc;
    const char *given = json_string_value(json_object_get(body, "token"));
    bool ok = given && http_secure_equal(given, r->srv->token);
    json_decref(body);
    if (!ok) {
        http_auth_failed(r->srv->auth, time_monotonic_ms());
        mg_disable_connection_keep_alive(r->conn);
        return http_reply_error(r, 401, "wrong token");
    }
    char *headers = set_cookie_header(r->srv);
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
    bool authenticated = !required || http_auth_cookie_ok(r->srv, http_header(r, "Cookie")) ||
                         http_credentials_ok(r->srv, http_header(r, "Authorization"),
                                             http_header(r, "CF-Access-Client-Secret"),
                                             http_header(r, "cf-access-token"));
    return http_reply_json(
        r, 200, json_pack("{s:b,s:b}", "auth_required", required, "authenticated", authenticated));
}

int http_session_logout(http_req *r)
{
    char *value = r->srv->auth ? request_cookie(r->srv, http_header(r, "Cookie")) : NULL;
    if (value)
        http_auth_revoke(r->srv->auth, value, now_s());
    free(value);
    char name[64];
    cookie_name(r->srv, name);
    char *header =
        xasprintf("Set-Cookie: %s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n", name);
    const char *reply = "{\"authenticated\":false}";
    http_reply_raw(r->conn, 200, "application/json", reply, strlen(reply), header);
    free(header);
    return 200;
}

/* GET /login?code=...: the link printed at start, good once.  The code is
 * taken, a session cookie set, and the browser sent to the dashboard. */
int http_login_link(struct mg_connection *conn, http_server *srv, const char *query)
{
    mg_disable_connection_keep_alive(conn);
    if (!srv->token) {
        http_reply_raw(conn, 303, "text/plain", "", 0, "Location: /\r\n");
        return 303;
    }
    int wait_s = http_auth_blocked(srv->auth, time_monotonic_ms());
    if (wait_s)
        return reply_too_many_logins(conn, wait_s);
    char *code = http_query_value(query, "code");
    bool ok = http_auth_take_login_code(srv->auth, code);
    free(code);
    if (!ok) {
        http_auth_failed(srv->auth, time_monotonic_ms());
        static const char msg[] =
            "This login link was already used, or is not this server's.  Sign in with the API "
            "token instead: it is in the file api_token of the server's data dir.\n";
        http_reply_raw(conn, 403, "text/plain; charset=utf-8", msg, sizeof msg - 1, NULL);
        return 403;
    }
    char *cookie = set_cookie_header(srv);
    char *headers = xasprintf("%sLocation: /\r\n", cookie);
    http_reply_raw(conn, 303, "text/plain", "", 0, headers);
    free(headers);
    free(cookie);
    return 303;
}

/* test_http_api.c - the API's route table and its OpenAPI document
 * (/api/v1/openapi.json) describe the same endpoints, the guard's small
 * pure helpers, and the decision taken before any handler runs
 * (http_decide_api; tests/fuzz/fuzz_http_request.c fuzzes it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#include "http/http_internal.h"

static json_t *openapi_paths(void)
{
    size_t len = 0;
    const char *text = http_openapi_text(&len);
    assert_non_null(text);
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc)
        fail_msg("openapi.json does not parse: %s (line %d)", je.text, je.line);
    json_t *paths = json_incref(json_object_get(doc, "paths"));
    json_decref(doc);
    assert_true(json_is_object(paths));
    return paths;
}

static void lower(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

static void every_route_is_documented_in_openapi(void **state)
{
    (void)state;
    json_t *paths = openapi_paths();
    for (const http_route *rt = http_api_routes; rt->method; rt++) {
        char method[16];
        lower(rt->method, method, sizeof method);
        json_t *item = json_object_get(paths, rt->pattern);
        if (!item || !json_object_get(item, method))
            fail_msg("route %s %s is missing from web/openapi.json", rt->method, rt->pattern);
    }
    json_decref(paths);
}

static void every_documented_operation_has_a_route(void **state)
{
    (void)state;
    static const char *methods[] = {"get", "post", "put", "patch", "delete"};
    json_t *paths = openapi_paths();
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            if (!json_object_get(item, methods[m]))
                continue;
            bool found = false;
            for (const http_route *rt = http_api_routes; rt->method && !found; rt++)
                found = !strcasecmp(rt->method, methods[m]) && !strcmp(rt->pattern, path);
            if (!found)
                fail_msg("openapi.json documents %s %s, which the server does not route",
                         methods[m], path);
        }
    }
    json_decref(paths);
}

static void secure_equal_compares_whole_strings(void **state)
{
    (void)state;
    assert_true(http_secure_equal("s3cret", "s3cret"));
    assert_false(http_secure_equal("s3cret", "s3cre"));
    assert_false(http_secure_equal("s3cret", "s3cret!"));
    assert_false(http_secure_equal("", "x"));
    assert_true(http_secure_equal("", ""));
}

static void loopback_hosts_are_recognised(void **state)
{
    (void)state;
    assert_true(http_is_loopback_host("127.0.0.1"));
    assert_true(http_is_loopback_host("127.0.0.2"));
    assert_true(http_is_loopback_host("localhost"));
    assert_true(http_is_loopback_host("::1"));
    assert_false(http_is_loopback_host("0.0.0.0"));
    assert_false(http_is_loopback_host("192.168.1.5"));
    assert_false(http_is_loopback_host("::"));
}

/* --- the decision before a handler ------------------------------------------------ */

/* A server's state for the decision; its sessions are freed by
 * done_server. */
static http_server test_server(char *token)
{
    static char host[] = "127.0.0.1";
    http_server srv;
    memset(&srv, 0, sizeof srv);
    srv.host = host;
    srv.port = 8000;
    srv.token = token;
    srv.auth = http_auth_new();
    return srv;
}

static void done_server(http_server *srv)
{
    http_auth_free(srv->auth);
    srv->auth = NULL;
}

static int decide(http_server *srv, const char *method, const char *uri, http_decision *d)
{
    http_request_head h = {
        .method = method, .uri = uri, .host = "127.0.0.1:8000", .content_type = "application/json"};
    http_decide_api(srv, &h, d);
    return d->status;
}

static void a_run_path_reaches_its_route_with_the_decoded_id(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    http_decision d;
    assert_int_equal(decide(&srv, "GET", "/api/v1/runs/ab%2Dc", &d), 0);
    assert_string_equal(d.route->pattern, "/runs/{run_id}");
    assert_int_equal(d.nparams, 1);
    assert_string_equal(d.params[0], "ab-c");
    http_decision_free(&d);
    done_server(&srv);
}

static void the_api_prefix_ends_at_a_segment_boundary(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    http_decision d;
    /* Found by fuzz_http_request: "/api/v1runs/x" was routed as "/api/v1/runs/x". */
    assert_int_equal(decide(&srv, "GET", "/api/v1runs/x", &d), 404);
    http_decision_free(&d);
    assert_int_equal(decide(&srv, "GET", "/api/v1", &d), 404);
    http_decision_free(&d);
    done_server(&srv);
}

static void path_parameters_that_look_like_paths_are_refused(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    /* %ff%fe (issue 17 item 16): not UTF-8, so no JSON message could quote it. */
    const char *bad[] = {"/api/v1/runs/..",    "/api/v1/runs/a%2Fb", "/api/v1/runs/%2E%2E",
                         "/api/v1/runs/a%00b", "/api/v1/runs/a%5Cb", "/api/v1/runs/%ff%fe"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_decision d;
        assert_int_equal(decide(&srv, "GET", bad[i], &d), 422);
        http_decision_free(&d);
    }
    done_server(&srv);
}

static void mutations_need_json_and_a_matching_origin(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    http_request_head h = {.method = "POST",
                           .uri = "/api/v1/runs/r1/cancel",
                           .host = "127.0.0.1:8000",
                           .content_type = "application/x-www-form-urlencoded",
                           .content_length = 3};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 415);
    http_decision_free(&d);
    h.content_type = "application/json; charset=utf-8";
    h.origin = "http://evil.example";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 403);
    http_decision_free(&d);
    h.origin = "http://127.0.0.1:8000";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    http_decision_free(&d);
    done_server(&srv);
}

/* Issue 12: the original's client POSTs without a body and without a
 * Content-Type; what browsers send across sites is refused instead. */
static int decide_mutation(const char *content_type, long long length, const char *te,
                           const char *origin, const char *site)
{
    http_server srv = test_server(NULL);
    http_request_head h = {.method = "POST",
                           .uri = "/api/v1/runs/r1/cancel",
                           .host = "127.0.0.1:8000",
                           .content_type = content_type,
                           .content_length = length,
                           .transfer_encoding = te,
                           .origin = origin,
                           .sec_fetch_site = site};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    http_decision_free(&d);
    done_server(&srv);
    return d.status;
}

static void a_mutation_without_a_body_needs_no_content_type(void **state)
{
    (void)state;
    assert_int_equal(decide_mutation(NULL, -1, NULL, NULL, NULL), 0);
    assert_int_equal(decide_mutation(NULL, 0, NULL, NULL, NULL), 0);
    assert_int_equal(decide_mutation(NULL, -1, NULL, NULL, "same-origin"), 0);
    assert_int_equal(decide_mutation(NULL, -1, NULL, NULL, "none"), 0);
    assert_int_equal(decide_mutation(NULL, -1, NULL, "http://127.0.0.1:8000", NULL), 0);
}

static void a_body_needs_json_whatever_else_is_sent(void **state)
{
    (void)state;
    assert_int_equal(decide_mutation(NULL, 2, NULL, NULL, NULL), 415);
    assert_int_equal(decide_mutation(NULL, -1, "chunked", NULL, NULL), 415);
    assert_int_equal(decide_mutation("text/plain", 2, NULL, NULL, NULL), 415);
    /* A non-JSON type is refused even without a body. */
    assert_int_equal(decide_mutation("text/plain", -1, NULL, NULL, NULL), 415);
    assert_int_equal(decide_mutation("application/jsonx", 2, NULL, NULL, NULL), 415);
    assert_int_equal(decide_mutation("application/json", 2, NULL, NULL, NULL), 0);
}

static void requests_from_other_sites_are_refused(void **state)
{
    (void)state;
    /* a cross-site form POST */
    assert_int_equal(decide_mutation("application/x-www-form-urlencoded", 0, NULL,
                                     "https://evil.example", "cross-site"),
                     403);
    /* a no-cors fetch: Origin set, no content type, no body */
    assert_int_equal(decide_mutation(NULL, -1, NULL, "https://evil.example", "cross-site"), 403);
    assert_int_equal(decide_mutation(NULL, -1, NULL, "null", NULL), 403);
    assert_int_equal(decide_mutation(NULL, -1, NULL, "http://127.0.0.1:9999", NULL), 403);
    /* without an Origin, Sec-Fetch-Site alone decides */
    assert_int_equal(decide_mutation(NULL, -1, NULL, NULL, "cross-site"), 403);
    assert_int_equal(decide_mutation(NULL, -1, NULL, NULL, "same-site"), 403);
}

static void without_a_token_only_the_loopback_host_is_answered(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    http_request_head h = {.method = "GET", .uri = "/api/v1/runs", .host = "evil.example:8000"};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 403);
    http_decision_free(&d);
    h.host = "\xff\xfe:8000"; /* echoed in the message, which must stay valid JSON */
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 403);
    json_t *msg = json_pack("{s:s}", "detail", d.detail);
    assert_non_null(msg);
    json_decref(msg);
    http_decision_free(&d);
    done_server(&srv);
}

static void with_a_token_a_call_needs_the_bearer_token(void **state)
{
    (void)state;
    char token[] = "s3cret";
    http_server srv = test_server(token);
    http_request_head h = {.method = "GET", .uri = "/api/v1/runs", .host = "cluster.example"};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 401);
    assert_true(d.www_authenticate);
    http_decision_free(&d);
    h.authorization = "Bearer s3cret";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    assert_false(d.cookie_auth);
    http_decision_free(&d);
    done_server(&srv);
}

/* Issue 12: the original's client sends Cloudflare Access headers only. */
static void the_token_is_also_accepted_as_a_cloudflare_access_header(void **state)
{
    (void)state;
    char token[] = "s3cret";
    http_server srv = test_server(token);
    http_request_head h = {.method = "GET",
                           .uri = "/api/v1/runs",
                           .host = "127.0.0.1:8000",
                           .cf_client_secret = "s3cret"};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    http_decision_free(&d);
    h.cf_client_secret = NULL;
    h.cf_access_token = "s3cret";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    http_decision_free(&d);
    h.cf_access_token = "s3cre";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 401);
    http_decision_free(&d);
    done_server(&srv);
}

static char *cookie_header(const char *value)
{
    char *h = malloc(strlen(value) + 64);
    sprintf(h, "other=1; " HTTP_SESSION_COOKIE "_8000=%s", value);
    return h;
}

static void a_session_cookie_is_good_until_it_expires_or_is_revoked(void **state)
{
    (void)state;
    char token[] = "s3cret";
    http_server srv = test_server(token);
    long long now = 1700000000;
    char *value = http_auth_issue(srv.auth, now);
    assert_true(http_auth_session_valid(srv.auth, value, now + 60));
    assert_false(http_auth_session_valid(srv.auth, value, now + HTTP_SESSION_TTL_S));
    /* Any change to the value, the expiry included, breaks its MAC. */
    char *forged = strdup(value);
    char *expiry = strchr(forged, '.') + 1;
    expiry[0] = expiry[0] == '9' ? '8' : '9';
    assert_false(http_auth_session_valid(srv.auth, forged, now + 60));
    free(forged);
    assert_false(http_auth_session_valid(srv.auth, "0123456789abcdef0123456789abcdef.1.x", now));
    /* Another server (another secret) does not know it: a restart revokes. */
    http_auth *other = http_auth_new();
    assert_false(http_auth_session_valid(other, value, now + 60));
    http_auth_free(other);
    http_auth_revoke(srv.auth, value, now + 60);
    assert_false(http_auth_session_valid(srv.auth, value, now + 60));
    free(value);
    done_server(&srv);
}

static void a_live_session_cookie_authenticates_an_api_call(void **state)
{
    (void)state;
    char token[] = "s3cret";
    http_server srv = test_server(token);
    char *value = http_auth_issue(srv.auth, (long long)time(NULL));
    char *cookies = cookie_header(value);
    http_request_head h = {
        .method = "GET", .uri = "/api/v1/runs", .host = "127.0.0.1:8000", .cookie = cookies};
    http_decision d;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    assert_true(d.cookie_auth);
    http_decision_free(&d);
    free(cookies);
    free(value);
    done_server(&srv);
}

static void failed_logins_are_limited_but_open_sessions_keep_working(void **state)
{
    (void)state;
    char token[] = "s3cret";
    http_server srv = test_server(token);
    char *value = http_auth_issue(srv.auth, (long long)time(NULL));
    char *cookies = cookie_header(value);
    http_request_head h = {.method = "GET",
                           .uri = "/api/v1/runs",
                           .host = "127.0.0.1:8000",
                           .authorization = "Bearer guess"};
    http_decision d;
    for (int i = 0; i < HTTP_LOGIN_BURST; i++) {
        http_decide_api(&srv, &h, &d);
        assert_int_equal(d.status, 401);
        http_decision_free(&d);
    }
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 429);
    assert_true(d.retry_after > 0);
    http_decision_free(&d);
    /* While blocked, even the right token is not looked at... */
    h.authorization = "Bearer s3cret";
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 429);
    http_decision_free(&d);
    /* ...but a session cookie still is. */
    h.authorization = NULL;
    h.cookie = cookies;
    http_decide_api(&srv, &h, &d);
    assert_int_equal(d.status, 0);
    http_decision_free(&d);
    free(cookies);
    free(value);
    done_server(&srv);
}

static void the_login_code_works_once(void **state)
{
    (void)state;
    http_auth *a = http_auth_new();
    char *code = strdup(http_auth_login_code(a));
    assert_int_equal(strlen(code), 48);
    assert_false(http_auth_take_login_code(a, "nope"));
    assert_false(http_auth_take_login_code(a, NULL));
    assert_true(http_auth_take_login_code(a, code));
    assert_false(http_auth_take_login_code(a, code));
    assert_false(http_auth_take_login_code(a, ""));
    free(code);
    http_auth_free(a);
}

static void query_and_body_parsers_accept_only_their_shapes(void **state)
{
    (void)state;
    long long n = 0;
    assert_int_equal(http_parse_int("42", 0, 100, &n), 0);
    assert_int_equal(n, 42);
    assert_int_equal(http_parse_int("101", 0, 100, &n), -1);
    assert_int_equal(http_parse_int("4x", 0, 100, &n), -1);
    assert_int_equal(http_parse_int("", 0, 100, &n), -1);
    bool b = false;
    assert_int_equal(http_parse_bool("YES", &b), 0);
    assert_true(b);
    assert_int_equal(http_parse_bool("off", &b), 0);
    assert_false(b);
    assert_int_equal(http_parse_bool("maybe", &b), -1);
    char *v = http_query_value("a=1&limit=%32%30&b", "limit");
    assert_string_equal(v, "20");
    free(v);
    assert_null(http_query_value("a=1", "limit"));
    json_t *obj = NULL;
    char msg[400];
    assert_int_equal(http_parse_json_object("{\"a\":1}", 7, &obj, msg, sizeof msg), 0);
    json_decref(obj);
    assert_int_equal(http_parse_json_object("[1]", 3, &obj, msg, sizeof msg), -1);
    assert_int_equal(http_parse_json_object("{\"a\":1,\"a\":2}", 13, &obj, msg, sizeof msg), -1);
    assert_null(obj);
}

/* Issue 17 item 1: 1000 '[' crashed a worker inside jansson. */
static void a_body_nested_deeper_than_the_limit_is_refused_before_parsing(void **state)
{
    (void)state;
    char deep[2 * HTTP_MAX_JSON_DEPTH + 16];
    size_t n = 0;
    for (int i = 0; i < HTTP_MAX_JSON_DEPTH - 1; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    char *ok_text = NULL;
    /* {"a": [[...]]}: exactly the limit */
    size_t len = strlen("{\"a\":") + 2 * (HTTP_MAX_JSON_DEPTH - 1) + 1;
    ok_text = malloc(len + 1);
    strcpy(ok_text, "{\"a\":");
    strcat(ok_text, deep);
    for (int i = 0; i < HTTP_MAX_JSON_DEPTH - 1; i++)
        strcat(ok_text, "]");
    strcat(ok_text, "}");
    json_t *obj = NULL;
    char msg[400];
    assert_int_equal(http_parse_json_object(ok_text, strlen(ok_text), &obj, msg, sizeof msg), 0);
    json_decref(obj);
    free(ok_text);
    size_t big = 100000;
    char *bomb = malloc(big);
    memset(bomb, '[', big);
    assert_int_equal(http_parse_json_object(bomb, big, &obj, msg, sizeof msg), -1);
    assert_null(obj);
    assert_non_null(strstr(msg, "deeper than 64"));
    free(bomb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_documented_in_openapi),
        cmocka_unit_test(every_documented_operation_has_a_route),
        cmocka_unit_test(secure_equal_compares_whole_strings),
        cmocka_unit_test(loopback_hosts_are_recognised),
        cmocka_unit_test(a_run_path_reaches_its_route_with_the_decoded_id),
        cmocka_unit_test(the_api_prefix_ends_at_a_segment_boundary),
        cmocka_unit_test(path_parameters_that_look_like_paths_are_refused),
        cmocka_unit_test(mutations_need_json_and_a_matching_origin),
        cmocka_unit_test(a_mutation_without_a_body_needs_no_content_type),
        cmocka_unit_test(a_body_needs_json_whatever_else_is_sent),
        cmocka_unit_test(requests_from_other_sites_are_refused),
        cmocka_unit_test(without_a_token_only_the_loopback_host_is_answered),
        cmocka_unit_test(with_a_token_a_call_needs_the_bearer_token),
        cmocka_unit_test(the_token_is_also_accepted_as_a_cloudflare_access_header),
        cmocka_unit_test(a_session_cookie_is_good_until_it_expires_or_is_revoked),
        cmocka_unit_test(a_live_session_cookie_authenticates_an_api_call),
        cmocka_unit_test(failed_logins_are_limited_but_open_sessions_keep_working),
        cmocka_unit_test(the_login_code_works_once),
        cmocka_unit_test(query_and_body_parsers_accept_only_their_shapes),
        cmocka_unit_test(a_body_nested_deeper_than_the_limit_is_refused_before_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

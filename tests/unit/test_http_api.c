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

static http_server test_server(char *token)
{
    static char host[] = "127.0.0.1";
    http_server srv;
    memset(&srv, 0, sizeof srv);
    srv.host = host;
    srv.port = 8000;
    srv.token = token;
    return srv;
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
}

static void path_parameters_that_look_like_paths_are_refused(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    const char *bad[] = {"/api/v1/runs/..", "/api/v1/runs/a%2Fb", "/api/v1/runs/%2E%2E",
                         "/api/v1/runs/a%00b", "/api/v1/runs/a%5Cb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_decision d;
        assert_int_equal(decide(&srv, "GET", bad[i], &d), 422);
        http_decision_free(&d);
    }
}

static void mutations_need_json_and_a_matching_origin(void **state)
{
    (void)state;
    http_server srv = test_server(NULL);
    http_request_head h = {.method = "POST",
                           .uri = "/api/v1/runs/r1/cancel",
                           .host = "127.0.0.1:8000",
                           .content_type = "application/x-www-form-urlencoded"};
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
        cmocka_unit_test(without_a_token_only_the_loopback_host_is_answered),
        cmocka_unit_test(with_a_token_a_call_needs_the_bearer_token),
        cmocka_unit_test(query_and_body_parsers_accept_only_their_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

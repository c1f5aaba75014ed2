/* test_http_api.c - the API's route table and its OpenAPI document
 * (/api/v1/openapi.json) describe the same endpoints, and the guard's small
 * pure helpers. */
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
    json_object_foreach(paths, path, item) {
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_documented_in_openapi),
        cmocka_unit_test(every_documented_operation_has_a_route),
        cmocka_unit_test(secure_equal_compares_whole_strings),
        cmocka_unit_test(loopback_hosts_are_recognised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

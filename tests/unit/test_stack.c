/* test_stack.c - the stack identity hash (src/model/stack.c) against the
 * original tool's vectors (spec/original-engine.md §9.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/stack.h"
#include "util/fsutil.h"
#include "util/sbuf.h"

#include "fixture.h"

static void hash_of(json_t *stack, char out[STACK_HASH_LEN + 1])
{
    stack_hash(stack, out, NULL);
    json_decref(stack);
}

static void name_and_prep_only_matches_the_original(void **state)
{
    char h[STACK_HASH_LEN + 1];
    hash_of(json_pack("{s:s,s:s}", "name", "x", "prep", "p"), h);
    assert_string_equal(h, "9ff9af8e28ec");
}

static void inputs_are_hashed_in_key_order(void **state)
{
    char h[STACK_HASH_LEN + 1];
    hash_of(
        json_pack("{s:s,s:s,s:{s:s,s:s}}", "name", "x", "prep", "p", "inputs", "b", "2", "a", "1"),
        h);
    assert_string_equal(h, "f6ea683390e3");
}

static void resources_init_and_cache_dir_do_not_change_the_hash(void **state)
{
    char h[STACK_HASH_LEN + 1];
    hash_of(json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:[]}", "name", "x", "prep", "p", "init",
                      "source x", "cpus", 8, "memory", "32G", "cache_dir", "/scratch",
                      "input_files"),
            h);
    assert_string_equal(h, "9ff9af8e28ec");
}

static void prep_whitespace_matters(void **state)
{
    char h[STACK_HASH_LEN + 1];
    hash_of(json_pack("{s:s,s:s}", "name", "x", "prep", "p\n"), h);
    assert_string_not_equal(h, "9ff9af8e28ec");
}

static void missing_input_file_hashes_as_missing_and_is_reported(void **state)
{
    fx_env *env = fx_new("stack-test");
    char *path = fx_path(env, "requirements.txt");
    json_t *stack = json_pack("{s:s,s:s,s:[s]}", "name", "x", "prep", "p", "input_files", path);
    json_t *missing = json_array();
    char absent[STACK_HASH_LEN + 1], present[STACK_HASH_LEN + 1], changed[STACK_HASH_LEN + 1];
    stack_hash(stack, absent, missing);
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), path);

    /* A file whose contents are literally "<missing>" hashes like an absent
     * one: that is the original's algorithm, kept for compatibility. */
    assert_int_equal(fs_write_atomic(path, "<missing>", 9, 0644), 0);
    stack_hash(stack, present, NULL);
    assert_string_equal(absent, present);
    assert_int_equal(fs_write_atomic(path, "numpy\n", 6, 0644), 0);
    stack_hash(stack, changed, NULL);
    assert_string_not_equal(absent, changed);

    json_decref(missing);
    json_decref(stack);
    fx_free(env);
    free(path);
}

static void hash_all_sets_a_hash_field_on_every_stack(void **state)
{
    json_t *stacks = json_pack("[{s:s,s:s},{s:s,s:s,s:{s:s,s:s}}]", "name", "x", "prep", "p",
                               "name", "x", "prep", "p", "inputs", "a", "1", "b", "2");
    stack_hash_all(stacks, false);
    assert_string_equal(json_string_value(json_object_get(json_array_get(stacks, 0), "hash")),
                        "9ff9af8e28ec");
    assert_string_equal(json_string_value(json_object_get(json_array_get(stacks, 1), "hash")),
                        "f6ea683390e3");
    json_decref(stacks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(name_and_prep_only_matches_the_original),
        cmocka_unit_test(inputs_are_hashed_in_key_order),
        cmocka_unit_test(resources_init_and_cache_dir_do_not_change_the_hash),
        cmocka_unit_test(prep_whitespace_matters),
        cmocka_unit_test(missing_input_file_hashes_as_missing_and_is_reported),
        cmocka_unit_test(hash_all_sets_a_hash_field_on_every_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

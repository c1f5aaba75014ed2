/* test_api_token.c - the server's token file (src/core/api_token.c): made
 * once, private, never regenerated, refused when others could read it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/api_token.h"
#include "util/sbuf.h"

#include "fixture.h"

static int setup(void **state)
{
    *state = fx_new("api-token");
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void the_first_start_makes_a_private_token_that_is_then_kept(void **state)
{
    fx_env *f = *state;
    char *dir = fx_path(f, "data/sub");
    char *token = NULL, *again = NULL;
    bool created = false;
    sh_err e = SH_ERR_INIT;
    umask(0); /* whatever the umask */
    assert_int_equal(api_token_ensure(dir, &token, &created, &e), 0);
    umask(022);
    assert_true(created);
    assert_int_equal(strlen(token), 64);
    char *path = xasprintf("%s/api_token", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    assert_int_equal(api_token_ensure(dir, &again, &created, &e), 0);
    assert_false(created);
    assert_string_equal(token, again);
    free(again);
    assert_int_equal(api_token_read(dir, &again, &e), 0);
    assert_string_equal(token, again);
    free(again);
    free(path);
    free(token);
    free(dir);
}

static void a_missing_file_is_not_an_error_for_a_reader(void **state)
{
    fx_env *f = *state;
    char *dir = fx_path(f, "nothing-here");
    char *token = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(api_token_read(dir, &token, &e), 1);
    assert_null(token);
    free(dir);
}

static void a_token_file_others_can_read_is_refused_not_used(void **state)
{
    fx_env *f = *state;
    char *path = fx_write(f, "data/api_token", "hand-written-token\n");
    chmod(path, 0644);
    char *dir = fx_path(f, "data");
    char *token = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(api_token_ensure(dir, &token, NULL, &e), -1);
    assert_null(token);
    assert_non_null(strstr(e.msg, "can be read by other users (mode 0644)"));
    chmod(path, 0600);
    assert_int_equal(api_token_ensure(dir, &token, NULL, &e), 0);
    assert_string_equal(token, "hand-written-token");
    free(token);
    free(dir);
    free(path);
}

static void an_empty_or_linked_token_file_is_refused(void **state)
{
    fx_env *f = *state;
    char *path = fx_write(f, "data/api_token", "  \n");
    chmod(path, 0600);
    char *dir = fx_path(f, "data");
    char *token = NULL;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(api_token_ensure(dir, &token, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "is empty"));
    unlink(path);
    char *target = fx_write(f, "elsewhere", "token\n");
    chmod(target, 0600);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(api_token_read(dir, &token, &e), -1);
    assert_non_null(strstr(e.msg, "symbolic link"));
    free(target);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_first_start_makes_a_private_token_that_is_then_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_file_is_not_an_error_for_a_reader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_token_file_others_can_read_is_refused_not_used, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_empty_or_linked_token_file_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

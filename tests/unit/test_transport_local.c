/* test_transport_local.c - running commands on this machine
 * (src/transport/local.c): output capture, stdin, exit status, signals,
 * timeouts that kill the whole process group, and file access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/transport.h"
#include "util/sbuf.h"

#include "fixture.h"

typedef struct fixture {
    fx_env *env;
    transport *t;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    f->env = fx_new("transport-test");
    f->t = transport_local_new();
    *state = f;
    return f->t ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    transport_free(f->t);
    fx_free(f->env);
    free(f);
    return 0;
}

static void run(void **state, const char *cmd, const char *in, int timeout_ms, exec_result *r)
{
    transport *t = ((fixture *)*state)->t;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(t->ops->exec(t, cmd, in, in ? strlen(in) : 0, timeout_ms, r, &e), 0);
}

static void stdout_and_stderr_are_captured_separately(void **state)
{
    exec_result r;
    run(state, "echo out; echo err >&2", NULL, 10000, &r);
    assert_int_equal(r.exit_status, 0);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    assert_false(r.timed_out);
    exec_result_free(&r);
}

static void stdin_is_fed_to_the_command(void **state)
{
    exec_result r;
    run(state, "sh -s", "echo \"from stdin: $((1 + 2))\"\n", 10000, &r);
    assert_int_equal(r.exit_status, 0);
    assert_string_equal(r.out, "from stdin: 3\n");
    exec_result_free(&r);
}

static void large_stdin_and_output_do_not_deadlock(void **state)
{
    /* More than a pipe buffer in both directions at once. */
    size_t n = 1 << 20;
    char *big = xmalloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    exec_result r;
    run(state, "cat; head -c 300000 /dev/zero >&2", big, 30000, &r);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(r.out_len, n);
    assert_int_equal(r.err_len, 300000);
    exec_result_free(&r);
    free(big);
}

static void a_command_that_ignores_stdin_is_not_an_error(void **state)
{
    size_t n = 1 << 20;
    char *big = xmalloc(n + 1);
    memset(big, 'y', n);
    big[n] = '\0';
    exec_result r;
    run(state, "exit 0", big, 10000, &r);
    assert_int_equal(r.exit_status, 0);
    exec_result_free(&r);
    free(big);
}

static void exit_status_and_signal_are_reported(void **state)
{
    exec_result r;
    run(state, "exit 3", NULL, 10000, &r);
    assert_int_equal(r.exit_status, 3);
    assert_int_equal(r.term_signal, 0);
    exec_result_free(&r);
    run(state, "kill -TERM $$", NULL, 10000, &r);
    assert_int_equal(r.exit_status, -1);
    assert_int_equal(r.term_signal, 15);
    exec_result_free(&r);
}

static void timeout_kills_the_whole_process_group(void **state)
{
    const char *tmpl = ((fixture *)*state)->env->root;
    /* The grandchild would write its marker after the timeout if it
     * survived the kill. */
    char *cmd = xasprintf("(sleep 2; touch %s/survived) & sleep 30", tmpl);
    exec_result r;
    run(state, cmd, NULL, 300, &r);
    assert_true(r.timed_out);
    assert_int_equal(r.exit_status, -1);
    exec_result_free(&r);
    sleep(3);
    char *marker = xasprintf("%s/survived", tmpl);
    assert_int_not_equal(access(marker, F_OK), 0);
    free(marker);
    free(cmd);
}

static void files_are_written_atomically_and_read_back(void **state)
{
    transport *t = ((fixture *)*state)->t;
    const char *tmpl = ((fixture *)*state)->env->root;
    char *path = xasprintf("%s/sub/dir/f.txt", tmpl);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(t->ops->write_file(t, path, "hello world", 11, 0644, &e), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(t->ops->read_file(t, path, 5, &data, &len, &e), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "world", 5);
    free(data);
    char *missing = xasprintf("%s/nope", tmpl);
    assert_int_equal(t->ops->read_file(t, missing, 0, &data, &len, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    free(missing);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stdout_and_stderr_are_captured_separately, setup, teardown),
        cmocka_unit_test_setup_teardown(stdin_is_fed_to_the_command, setup, teardown),
        cmocka_unit_test_setup_teardown(large_stdin_and_output_do_not_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(a_command_that_ignores_stdin_is_not_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(exit_status_and_signal_are_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_kills_the_whole_process_group, setup, teardown),
        cmocka_unit_test_setup_teardown(files_are_written_atomically_and_read_back, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

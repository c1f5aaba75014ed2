/* test_ssh_transport.c - the SSH transport (src/transport/ssh*.c) against the
 * testbed's real sshd on 127.0.0.1: output, stdin, exit status and signals,
 * timeouts, files, reconnect after the connection is killed, and the refusals
 * (unknown or changed host key, RSA key, wrong key, nothing listening);
 * ProxyJump through the testbed's second sshd (the bastion on
 * TESTBED_BASTION_PORT): exec through the tunnel, the bastion's own host key,
 * a bastion that forbids forwarding, a multi-hop list, a killed bastion.
 *
 * Needs the TESTBED_* variables of testbed.env (the ctest fixture sets them). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/ssh.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

static char scratch[256];

static ssh_settings testbed_settings(void)
{
    ssh_settings s = {0};
    s.label = "testbed";
    s.host = getenv("TESTBED_SSH_HOST");
    s.port = atoi(getenv("TESTBED_SSH_PORT"));
    s.user = getenv("TESTBED_SSH_USER");
    s.key_path = getenv("TESTBED_SSH_KEY");
    s.known_hosts = getenv("TESTBED_SSH_KNOWN_HOSTS");
    s.check_host_key = true;
    s.connect_timeout_ms = 10000;
    s.command_timeout_ms = 30000;
    s.keepalive_s = 30;
    return s;
}

static int setup(void **state)
{
    if (!getenv("TESTBED_SSH_HOST")) {
        fprintf(stderr, "TESTBED_SSH_* not set: run tests/testbed/testbed-up.sh and source "
                        "testbed.env\n");
        return -1;
    }
    ssh_settings s = testbed_settings();
    *state = transport_ssh_new(&s);
    return 0;
}

static int teardown(void **state)
{
    transport_free(*state);
    return 0;
}

static int run_cmd(transport *t, const char *cmd, const char *in, int timeout_ms, exec_result *r,
                   sh_err *e)
{
    return t->ops->exec(t, cmd, in, in ? strlen(in) : 0, timeout_ms, r, e);
}

static void stdout_and_stderr_come_back_separately(void **state)
{
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(*state, "echo out; echo err >&2; exit 3", NULL, 0, &r, &e), 0);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    assert_int_equal(r.exit_status, 3);
    assert_false(r.timed_out);
    exec_result_free(&r);
}

static void stdin_is_fed_and_large_output_is_complete(void **state)
{
    sbuf in = SBUF_INIT;
    for (int i = 0; i < 20000; i++)
        sbuf_printf(&in, "line %d with some padding to make it longer\n", i);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(*state, "cat; cat /dev/zero | head -c 1000000 | tr '\\0' x >&2",
                             in.data, 0, &r, &e),
                     0);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(r.out_len, in.len);
    assert_memory_equal(r.out, in.data, in.len);
    assert_int_equal(r.err_len, 1000000);
    exec_result_free(&r);
    sbuf_free(&in);
}

static void a_signal_is_reported(void **state)
{
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(*state, "kill -KILL $$", NULL, 0, &r, &e), 0);
    assert_int_equal(r.exit_status, -1);
    assert_int_equal(r.term_signal, 9);
    exec_result_free(&r);
}

static void a_slow_command_times_out_and_the_session_survives(void **state)
{
    exec_result r;
    sh_err e = SH_ERR_INIT;
    int64_t t0 = time_monotonic_ms();
    assert_int_equal(run_cmd(*state, "echo started; sleep 20", NULL, 800, &r, &e), 0);
    assert_true(r.timed_out);
    assert_true(time_monotonic_ms() - t0 < 5000);
    exec_result_free(&r);
    assert_int_equal(run_cmd(*state, "echo again", NULL, 0, &r, &e), 0);
    assert_string_equal(r.out, "again\n");
    exec_result_free(&r);
}

static void files_are_written_atomically_and_read_back(void **state)
{
    transport *t = *state;
    sh_err e = SH_ERR_INIT;
    const char *path = "~/scripthut-test/sub dir/it's.txt";
    assert_int_equal(t->ops->write_file(t, path, "hello\nworld\n", 12, 0600, &e), 0);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(t->ops->read_file(t, path, 0, &out, &len, &e), 0);
    assert_string_equal(out, "hello\nworld\n");
    free(out);
    assert_int_equal(t->ops->read_file(t, path, 6, &out, &len, &e), 0);
    assert_string_equal(out, "world\n");
    free(out);
    assert_int_equal(t->ops->read_file(t, "~/scripthut-test/absent", 0, &out, &len, &e), -1);
    assert_int_equal(e.status, SH_ENOTFOUND);
    exec_result r;
    run_cmd(t, "rm -rf ~/scripthut-test", NULL, 0, &r, &e);
    exec_result_free(&r);
}

/* Kills the sshd processes serving our connections (the listener's children
 * and theirs, found from its pid file): what a dropped connection looks like. */
static void kill_sessions_of(const char *pidfile)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/tests/testbed/kill-ssh-sessions.sh %s",
             getenv("SCRIPTHUT_SOURCE_DIR"), pidfile ? pidfile : "");
    assert_int_equal(system(cmd) >= 0, 1);
    usleep(200000);
}

static void kill_sshd_sessions(void)
{
    kill_sessions_of(NULL);
}

static void a_killed_connection_is_reopened_transparently(void **state)
{
    transport *t = *state;
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(t, "true", NULL, 0, &r, &e), 0);
    exec_result_free(&r);
    kill_sshd_sessions();
    /* The session went stale between commands: retried on a new one. */
    assert_int_equal(run_cmd(t, "echo back", NULL, 0, &r, &e), 0);
    assert_string_equal(r.out, "back\n");
    exec_result_free(&r);
    json_t *d = t->ops->describe(t);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "connected");
    json_t *c = json_object_get(d, "counters");
    assert_true(json_integer_value(json_object_get(c, "connects")) >= 2);
    assert_true(json_integer_value(json_object_get(c, "drops")) >= 1);
    assert_true(json_array_size(json_object_get(d, "log")) >= 2);
    json_decref(d);
}

static void the_command_log_keeps_commands_but_never_stdin(void **state)
{
    transport *t = *state;
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(t, "cat >/dev/null", "SECRET-TOKEN", 0, &r, &e), 0);
    exec_result_free(&r);
    json_t *d = t->ops->describe(t);
    char *text = json_dumps(d, 0);
    assert_null(strstr(text, "SECRET-TOKEN"));
    json_t *newest = json_array_get(json_object_get(d, "log"), 0);
    assert_string_equal(json_string_value(json_object_get(newest, "command")), "cat >/dev/null");
    assert_int_equal(json_integer_value(json_object_get(newest, "stdin_bytes")), 12);
    free(text);
    json_decref(d);
}

static void expect_connect_error(ssh_settings *s, const char *needle)
{
    transport *t = transport_ssh_new(s);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(t, "true", NULL, 0, &r, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("expected '%s' in: %s", needle, e.msg);
    assert_non_null(strstr(e.msg, "backend 'testbed'"));
    /* The next attempt waits (backoff) and says so, without connecting. */
    int64_t t0 = time_monotonic_ms();
    assert_int_equal(run_cmd(t, "true", NULL, 0, &r, &e), -1);
    assert_non_null(strstr(e.msg, "next connection attempt in"));
    assert_true(time_monotonic_ms() - t0 < 200);
    transport_free(t);
}

static void an_unknown_host_key_is_refused_naming_file_and_fingerprint(void **state)
{
    (void)state;
    snprintf(scratch, sizeof scratch, "%s/empty_known_hosts", getenv("TESTBED_DIR"));
    fs_write_atomic(scratch, "", 0, 0600);
    ssh_settings s = testbed_settings();
    s.known_hosts = scratch;
    expect_connect_error(&s, "SHA256:");
    expect_connect_error(&s, scratch);
    expect_connect_error(&s, "is not in");
}

static void a_changed_host_key_is_refused(void **state)
{
    (void)state;
    char *kh = xasprintf("%s/other_known_hosts", getenv("TESTBED_DIR"));
    char *cmd = xasprintf("rm -f %s/otherkey*; ssh-keygen -q -t ed25519 -N '' -f %s/otherkey && "
                          "echo \"[127.0.0.1]:%s $(cut -d' ' -f1,2 %s/otherkey.pub)\" > %s",
                          getenv("TESTBED_DIR"), getenv("TESTBED_DIR"), getenv("TESTBED_SSH_PORT"),
                          getenv("TESTBED_DIR"), kh);
    assert_int_equal(system(cmd), 0);
    ssh_settings s = testbed_settings();
    s.known_hosts = kh;
    expect_connect_error(&s, "does NOT match");
    free(cmd);
    free(kh);
}

static void turning_the_host_key_check_off_is_explicit(void **state)
{
    (void)state;
    ssh_settings s = testbed_settings();
    s.known_hosts = "/nonexistent/known_hosts";
    s.check_host_key = false;
    transport *t = transport_ssh_new(&s);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(t, "echo ok", NULL, 0, &r, &e), 0);
    assert_string_equal(r.out, "ok\n");
    exec_result_free(&r);
    transport_free(t);
}

static void an_rsa_key_is_refused_with_the_reason(void **state)
{
    (void)state;
    char *key = xasprintf("%s/rsakey", getenv("TESTBED_DIR"));
    char *cmd =
        xasprintf("rm -f %s %s.pub; ssh-keygen -q -t rsa -b 2048 -N '' -f %s", key, key, key);
    assert_int_equal(system(cmd), 0);
    ssh_settings s = testbed_settings();
    s.key_path = key;
    expect_connect_error(&s, "RSA key");
    expect_connect_error(&s, "ed25519");
    free(cmd);
    free(key);
}

static void a_key_the_server_does_not_know_is_refused(void **state)
{
    (void)state;
    ssh_settings s = testbed_settings();
    char *key = xasprintf("%s/otherkey", getenv("TESTBED_DIR"));
    s.key_path = key;
    expect_connect_error(&s, "refused key");
    free(key);
}

static void nothing_listening_is_a_clear_error(void **state)
{
    (void)state;
    ssh_settings s = testbed_settings();
    s.port = 1; /* 127.0.0.1:1: nothing listens there */
    expect_connect_error(&s, "cannot connect");
}

/* --- ProxyJump ------------------------------------------------------------------------- */

static char jump_spec[128];

static ssh_settings jump_settings(void)
{
    ssh_settings s = testbed_settings();
    snprintf(jump_spec, sizeof jump_spec, "%s@127.0.0.1:%s", getenv("TESTBED_SSH_USER"),
             getenv("TESTBED_BASTION_PORT"));
    s.jump = jump_spec;
    return s;
}

/* Lines of the bastion's sshd log that record a direct-tcpip request. */
static int bastion_tunnel_requests(void)
{
    char *text = NULL;
    size_t len = 0;
    if (fs_read_file(getenv("TESTBED_BASTION_LOG"), &text, &len) < 0)
        return -1;
    int n = 0;
    for (const char *p = text; (p = strstr(p, "server_request_direct_tcpip")); p++)
        n++;
    free(text);
    return n;
}

static void commands_run_through_a_proxyjump_bastion(void **state)
{
    (void)state;
    int before = bastion_tunnel_requests();
    ssh_settings s = jump_settings();
    transport *t = transport_ssh_new(&s);
    sbuf in = SBUF_INIT;
    for (int i = 0; i < 30000; i++)
        sbuf_printf(&in, "line %d through the tunnel\n", i);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    if (run_cmd(t, "cat; echo err >&2; exit 4", in.data, 0, &r, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(r.exit_status, 4);
    assert_int_equal(r.out_len, in.len);
    assert_memory_equal(r.out, in.data, in.len);
    assert_string_equal(r.err, "err\n");
    exec_result_free(&r);
    assert_int_equal(run_cmd(t, "echo second", NULL, 0, &r, &e), 0);
    assert_string_equal(r.out, "second\n");
    exec_result_free(&r);
    /* The bastion opened exactly one tunnel: both commands used one session. */
    assert_int_equal(bastion_tunnel_requests(), before + 1);
    json_t *d = t->ops->describe(t);
    assert_string_equal(json_string_value(json_object_get(d, "proxy_jump")), jump_spec);
    json_decref(d);
    transport_free(t);
    sbuf_free(&in);
}

static void an_unknown_bastion_host_key_is_refused_naming_the_bastion(void **state)
{
    (void)state;
    /* known_hosts with the target's key only. */
    snprintf(scratch, sizeof scratch, "%s/target_only_known_hosts", getenv("TESTBED_DIR"));
    char *cmd = xasprintf("grep -F '[127.0.0.1]:%s ' %s > %s", getenv("TESTBED_SSH_PORT"),
                          getenv("TESTBED_SSH_KNOWN_HOSTS"), scratch);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    ssh_settings s = jump_settings();
    s.known_hosts = scratch;
    expect_connect_error(&s, "ProxyJump bastion");
    char port[32];
    snprintf(port, sizeof port, "127.0.0.1:%s", getenv("TESTBED_BASTION_PORT"));
    expect_connect_error(&s, port);
    expect_connect_error(&s, "is not in");
}

static void a_bastion_that_forbids_forwarding_is_a_clear_error(void **state)
{
    (void)state;
    /* The target sshd itself has AllowTcpForwarding no: use it as the bastion. */
    ssh_settings s = testbed_settings();
    snprintf(jump_spec, sizeof jump_spec, "127.0.0.1:%s", getenv("TESTBED_SSH_PORT"));
    s.jump = jump_spec;
    expect_connect_error(&s, "refused to open a tunnel");
    expect_connect_error(&s, "AllowTcpForwarding");
}

static void a_multi_hop_proxyjump_is_refused_with_what_to_do(void **state)
{
    (void)state;
    ssh_settings s = testbed_settings();
    s.jump = "first.example:22,second.example:22";
    expect_connect_error(&s, "more than one jump host is not supported");
}

static void a_killed_bastion_connection_is_rebuilt_through_both_hops(void **state)
{
    (void)state;
    ssh_settings s = jump_settings();
    transport *t = transport_ssh_new(&s);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(run_cmd(t, "echo one", NULL, 0, &r, &e), 0);
    exec_result_free(&r);
    int before = bastion_tunnel_requests();
    char *pidfile = xasprintf("%s/run/sshd-bastion.pid", getenv("TESTBED_DIR"));
    kill_sessions_of(pidfile);
    free(pidfile);
    if (run_cmd(t, "echo two", NULL, 0, &r, &e) != 0)
        fail_msg("%s", e.msg);
    assert_string_equal(r.out, "two\n");
    exec_result_free(&r);
    assert_int_equal(bastion_tunnel_requests(), before + 1);
    json_t *d = t->ops->describe(t);
    json_t *c = json_object_get(d, "counters");
    assert_int_equal(json_integer_value(json_object_get(c, "connects")), 2);
    assert_int_equal(json_integer_value(json_object_get(c, "drops")), 1);
    json_decref(d);
    transport_free(t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stdout_and_stderr_come_back_separately),
        cmocka_unit_test(stdin_is_fed_and_large_output_is_complete),
        cmocka_unit_test(a_signal_is_reported),
        cmocka_unit_test(a_slow_command_times_out_and_the_session_survives),
        cmocka_unit_test(files_are_written_atomically_and_read_back),
        cmocka_unit_test(a_killed_connection_is_reopened_transparently),
        cmocka_unit_test(the_command_log_keeps_commands_but_never_stdin),
        cmocka_unit_test(an_unknown_host_key_is_refused_naming_file_and_fingerprint),
        cmocka_unit_test(a_changed_host_key_is_refused),
        cmocka_unit_test(turning_the_host_key_check_off_is_explicit),
        cmocka_unit_test(an_rsa_key_is_refused_with_the_reason),
        cmocka_unit_test(a_key_the_server_does_not_know_is_refused),
        cmocka_unit_test(nothing_listening_is_a_clear_error),
        cmocka_unit_test(commands_run_through_a_proxyjump_bastion),
        cmocka_unit_test(an_unknown_bastion_host_key_is_refused_naming_the_bastion),
        cmocka_unit_test(a_bastion_that_forbids_forwarding_is_a_clear_error),
        cmocka_unit_test(a_multi_hop_proxyjump_is_refused_with_what_to_do),
        cmocka_unit_test(a_killed_bastion_connection_is_rebuilt_through_both_hops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

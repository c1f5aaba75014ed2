/* test_ssh_config.c - the SSH transport's pure parts (src/transport/ssh_config.c):
 * ~/.ssh/config lookup, ProxyJump specs, private key types, signal names; and
 * how a backend's normalised "ssh" object becomes settings (ssh_settings.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/ssh.h"
#include "transport/ssh_config.h"

static const char config_text[] = "# global defaults come first\n"
                                  "ServerAliveInterval 30\n"
                                  "\n"
                                  "Host hpc hpc-login\n"
                                  "    HostName login01.cluster.example.edu\n"
                                  "    User alice\n"
                                  "    Port=2200\n"
                                  "    IdentityFile ~/.ssh/id_hpc_%h\n"
                                  "    ProxyJump bob@bastion.example.edu:2222\n"
                                  "\n"
                                  "Host *.internal !secret.internal\n"
                                  "    User ops\n"
                                  "\n"
                                  "Host *\n"
                                  "    User fallback\n"
                                  "    Port 22\n"
                                  "    IdentityFile \"%d/.ssh/id_ed25519\"\n";

static void a_host_alias_gets_its_block_and_the_first_value_wins(void **state)
{
    (void)state;
    ssh_host_config c;
    ssh_config_lookup(config_text, "hpc", "/home/me", &c);
    assert_string_equal(c.hostname, "login01.cluster.example.edu");
    assert_string_equal(c.user, "alice");
    assert_int_equal(c.port, 2200);
    assert_string_equal(c.identity_file, "/home/me/.ssh/id_hpc_hpc");
    assert_string_equal(c.proxy_jump, "bob@bastion.example.edu:2222");
    ssh_host_config_free(&c);
}

static void patterns_negation_and_the_catch_all(void **state)
{
    (void)state;
    ssh_host_config c;
    ssh_config_lookup(config_text, "db.internal", "/home/me", &c);
    assert_string_equal(c.user, "ops");
    assert_null(c.hostname);
    assert_string_equal(c.identity_file, "/home/me/.ssh/id_ed25519");
    ssh_host_config_free(&c);
    ssh_config_lookup(config_text, "secret.internal", "/home/me", &c);
    assert_string_equal(c.user, "fallback");
    assert_int_equal(c.port, 22);
    ssh_host_config_free(&c);
    ssh_config_lookup(NULL, "x", "/h", &c);
    assert_null(c.user);
    ssh_host_config_free(&c);
}

static void proxy_jump_specs(void **state)
{
    (void)state;
    char *user, *host;
    int port;
    assert_int_equal(ssh_parse_jump("bob@bastion:2222,second", &user, &host, &port), 0);
    assert_string_equal(user, "bob");
    assert_string_equal(host, "bastion");
    assert_int_equal(port, 2222);
    free(user);
    free(host);
    assert_int_equal(ssh_parse_jump("bastion", &user, &host, &port), 0);
    assert_null(user);
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(ssh_parse_jump("bastion:http", &user, &host, &port), -1);
    assert_int_equal(ssh_parse_jump("", &user, &host, &port), -1);
}

static void glob_patterns(void **state)
{
    (void)state;
    assert_true(ssh_pattern_match("*.edu", "login.cluster.edu"));
    assert_true(ssh_pattern_match("node??", "node01"));
    assert_false(ssh_pattern_match("node??", "node1"));
    assert_true(ssh_pattern_match("*", ""));
    assert_false(ssh_pattern_match("a*b", "acd"));
}

/* Real keys (ssh-keygen 9.2): an encrypted ed25519 key (passphrase 'secret
 * pass', generated for this test only) whose public half the openssh-key-v1
 * container holds in the clear, and an unencrypted ECDSA key. */
static const char ed25519_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCRNFJPhA\n"
    "tTUrxRoIE2elTEAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIALZvZPdGwK/w27B\n"
    "wi+RuBFit+UulEM47PR1pVgmTiXVAAAAkHkSRffpo0SfPINx0RGUVUhbqRJ2UrIfkSWvg9\n"
    "lmECx8NLWisrth/KOT+cP1S6tRZAZCs0Y8v5jrQ+XKSAyMMR8/87XyZnqL46XsIYBpSLsM\n"
    "jrtMcuCQJLJIgfmN6yrQTP8PTXyy+UiaqZat7az/4X/mUI4DpXBix+z9B6lQNY0Aujr+A4\n"
    "UtFwNWbPoFVb0wHA==\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static const char ecdsa_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS\n"
    "1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQSUTJlab6RSPDJpzGaBwSQXJGAyplG9\n"
    "kX90g0q1PnbRvW3OEyOptH2+lhZMlPm/qjPJvD9+w+ehWpO/D8liCAVLAAAAoMrQdOLK0H\n"
    "TiAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJRMmVpvpFI8MmnM\n"
    "ZoHBJBckYDKmUb2Rf3SDSrU+dtG9bc4TI6m0fb6WFkyU+b+qM8m8P37D56Fak78PyWIIBU\n"
    "sAAAAhAOO9nhiEHB5T15Z01wlBPFjSENHInNaGWCMPGaUz6ImtAAAAAAECAwQFBgc=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static void key_types_are_read_from_the_file(void **state)
{
    (void)state;
    assert_int_equal(ssh_private_key_type(ed25519_key, strlen(ed25519_key)), SSH_KEY_ED25519);
    assert_int_equal(ssh_private_key_type(ecdsa_key, strlen(ecdsa_key)), SSH_KEY_ECDSA);
    const char pem_rsa[] =
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n";
    assert_int_equal(ssh_private_key_type(pem_rsa, strlen(pem_rsa)), SSH_KEY_RSA);
    const char pem_ec[] = "-----BEGIN EC PRIVATE KEY-----\nMHc...\n";
    assert_int_equal(ssh_private_key_type(pem_ec, strlen(pem_ec)), SSH_KEY_ECDSA);
    assert_int_equal(ssh_private_key_type("garbage", 7), SSH_KEY_UNKNOWN);
    const char cut[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n";
    assert_int_equal(ssh_private_key_type(cut, strlen(cut)), SSH_KEY_UNKNOWN);
}

static void signal_names(void **state)
{
    (void)state;
    assert_int_equal(ssh_signal_number("KILL"), 9);
    assert_int_equal(ssh_signal_number("SIGTERM"), 15);
    assert_int_equal(ssh_signal_number("WHAT"), 0);
    assert_int_equal(ssh_signal_number(NULL), 0);
}

/* The defaults of scripthut's ssh settings live in lua/scripthut/config.lua;
 * the transport reads the normalised values and has none of its own. */
static void ssh_settings_come_only_from_the_normalised_config(void **state)
{
    (void)state;
    setenv("HOME", "/nonexistent-scripthut-test-home", 1);
    json_t *ssh = json_pack("{s:s,s:s,s:b,s:b,s:i,s:i,s:i}", "host", "login", "known_hosts",
                            "/k/known_hosts", "use_agent", 1, "strict_host_key_checking", 1,
                            "connect_timeout", 15, "command_timeout", 120, "keepalive", 30);
    sh_err e = SH_ERR_INIT;
    transport *t = transport_ssh_from_config("hpc", ssh, &e);
    assert_non_null(t);
    transport_free(t);
    json_object_del(ssh, "keepalive");
    t = transport_ssh_from_config("hpc", ssh, &e);
    assert_null(t);
    assert_int_equal(e.status, SH_EINTERNAL);
    assert_string_equal(e.msg, "backend 'hpc': ssh.keepalive is missing from the normalised "
                               "config (lua/scripthut/config.lua fills it)");
    json_decref(ssh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_host_alias_gets_its_block_and_the_first_value_wins),
        cmocka_unit_test(patterns_negation_and_the_catch_all),
        cmocka_unit_test(proxy_jump_specs),
        cmocka_unit_test(glob_patterns),
        cmocka_unit_test(key_types_are_read_from_the_file),
        cmocka_unit_test(signal_names),
        cmocka_unit_test(ssh_settings_come_only_from_the_normalised_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

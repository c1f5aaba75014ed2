/* test_util.c - the small helpers everything else trusts: shell quoting,
 * file names and paths, atomic writes, time formats, the hash map, the
 * string buffer and error values (src/util). */
#include <errno.h>
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

#include "util/err.h"
#include "util/fsutil.h"
#include "util/json_depth.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/strmap.h"
#include "util/suggest.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#include "fixture.h"

/* ---- shell quoting --------------------------------------------------------- */

/* What `sh` makes of `printf %s <word>`: the word after the shell's own
 * parsing, quote removal and expansion. */
static char *shell_eval_word(const char *word)
{
    char *cmd = xasprintf("printf %%s %s", word);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    sbuf out = SBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        sbuf_append(&out, buf, n);
    assert_int_equal(pclose(p), 0);
    return sbuf_detach(&out);
}

static void assert_shell_round_trip(const char *s)
{
    char *quoted = shell_quote(s);
    char *back = shell_eval_word(quoted);
    if (strcmp(back, s) != 0)
        fail_msg("shell_quote(%s) = %s came back as %s", s, quoted, back);
    free(back);
    free(quoted);
}

static void shell_quote_survives_sh_for_tricky_strings(void **state)
{
    static const char *const tricky[] = {
        "",
        " ",
        "a b",
        "  lead and trail  ",
        "it's",
        "'",
        "''",
        "\"",
        "say \"hi\"",
        "$HOME",
        "${HOME}",
        "$(id)",
        "`id`",
        "\\",
        "a\\nb",
        "\\'",
        "line1\nline2",
        "\n",
        "\t",
        "*",
        "?",
        "[a-z]*",
        "~",
        "~/x",
        "a;b",
        "a&&b",
        "a|b",
        "<in",
        ">out",
        "#comment",
        "!",
        "!!",
        "{a,b}",
        "-n",
        "--",
        "x=1",
        "é",
        "日本語",
        "emoji 😀",
        "%s%d",
        "a'b\"c$d`e\\f",
        "\x7f",
        "\x01\x02",
    };
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++)
        assert_shell_round_trip(tricky[i]);
}

static void shell_quote_survives_sh_for_random_bytes(void **state)
{
    srand(12345);
    char s[33];
    for (int round = 0; round < 200; round++) {
        size_t len = 1 + (size_t)rand() % 32;
        for (size_t i = 0; i < len; i++)
            s[i] = (char)(1 + rand() % 255);
        s[len] = '\0';
        assert_shell_round_trip(s);
    }
}

static void shell_quote_leaves_plain_words_bare(void **state)
{
    char *q = shell_quote("sim.1/out-2_x:y=z@h%+,");
    assert_string_equal(q, "sim.1/out-2_x:y=z@h%+,");
    free(q);
    q = shell_quote("");
    assert_string_equal(q, "''");
    free(q);
    q = shell_quote("it's");
    assert_string_equal(q, "'it'\\''s'");
    free(q);
    q = shell_quote("caf\xc3\xa9"); /* non-ASCII is always quoted */
    assert_string_equal(q, "'caf\xc3\xa9'");
    free(q);
}

static void assert_expand_prefix(const char *in, const char *expected)
{
    char *q = shell_quote_path_expand_prefix(in);
    assert_string_equal(q, expected);
    free(q);
}

static void path_prefix_quoting_leaves_home_and_variables_to_the_shell(void **state)
{
    assert_expand_prefix("~", "\"$HOME\"");
    assert_expand_prefix("~/x y", "\"$HOME\"'/x y'");
    assert_expand_prefix("$SCRATCH/a b", "\"${SCRATCH}\"'/a b'");
    assert_expand_prefix("${SCRATCH}/x", "\"${SCRATCH}\"/x");
    assert_expand_prefix("$SCRATCH", "\"${SCRATCH}\"");
    assert_expand_prefix("$1x", "'$1x'"); /* not a variable name */
    assert_expand_prefix("${1}/x", "'${1}/x'");
    assert_expand_prefix("${A/x", "'${A/x'");     /* unterminated */
    assert_expand_prefix("~user/x", "'~user/x'"); /* only the user's own home */
    assert_expand_prefix("/abs/it's", "'/abs/it'\\''s'");
    assert_expand_prefix("/plain/path", "/plain/path");
    assert_expand_prefix("", "''");
    assert_expand_prefix("a/~/b", "'a/~/b'");
}

static void path_prefix_quoting_expands_once_in_sh(void **state)
{
    setenv("SCRATCH", "/scr atch/$X", 1);
    setenv("HOME", "/home/m e", 1);
    const char *cases[][2] = {
        {"~/x y", "/home/m e/x y"},
        {"$SCRATCH/a b", "/scr atch/$X/a b"},
        {"${SCRATCH}/it's", "/scr atch/$X/it's"},
        {"$1x", "$1x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = shell_quote_path_expand_prefix(cases[i][0]);
        char *got = shell_eval_word(q);
        assert_string_equal(got, cases[i][1]);
        free(got);
        free(q);
    }
}

/* ---- file names and paths -------------------------------------------------- */

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *decode_name(const char *s)
{
    if (strcmp(s, "%00") == 0)
        return xstrdup("");
    sbuf b = SBUF_INIT;
    for (; *s; s++) {
        if (*s == '%') {
            assert_true(hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0);
            sbuf_putc(&b, (char)(hex_value(s[1]) * 16 + hex_value(s[2])));
            s += 2;
        } else {
            sbuf_putc(&b, *s);
        }
    }
    return sbuf_detach(&b);
}

static void encoded_names_are_safe_unique_and_reversible(void **state)
{
    static const char *const ids[] = {
        "sim.1", "a/b", "a%2Fb", "a b", "it's", ".", "..",   ".hidden",          "a.",  "-",
        "%",     "%25", "",      "é",   "A",    "a", "x\ny", "../../etc/passwd", "a:b", "a*b?",
    };
    enum {
        N = sizeof ids / sizeof ids[0]
    };
    char *enc[N];
    for (size_t i = 0; i < N; i++) {
        enc[i] = fs_encode_name(ids[i]);
        assert_true(strlen(enc[i]) > 0);
        assert_true(enc[i][0] != '.');
        assert_int_equal(strspn(enc[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-%"),
                         strlen(enc[i]));
        char *back = decode_name(enc[i]);
        assert_string_equal(back, ids[i]);
        free(back);
        for (size_t j = 0; j < i; j++)
            if (strcmp(enc[i], enc[j]) == 0)
                fail_msg("'%s' and '%s' both encode to '%s'", ids[i], ids[j], enc[i]);
    }
    assert_string_equal(enc[0], "sim.1");
    assert_string_equal(enc[1], "a%2Fb");
    assert_string_equal(enc[2], "a%252Fb");
    for (size_t i = 0; i < N; i++)
        free(enc[i]);
}

static void assert_absolute(const char *path, const char *base, const char *expected)
{
    char *got = fs_absolute(path, base);
    assert_string_equal(got, expected);
    free(got);
}

static void absolute_paths_are_normalised_lexically(void **state)
{
    assert_absolute("a/./b/../c", "/base", "/base/a/c");
    assert_absolute("/x//y/", NULL, "/x/y");
    assert_absolute("../../..", "/a", "/");
    assert_absolute("", "/b/", "/b");
    assert_absolute(".", "/", "/");
    assert_absolute("/a/b/../../..", "/ignored", "/");
    setenv("HOME", "/home/me", 1);
    assert_absolute("~/p/../q", "/ignored", "/home/me/q");
    assert_absolute("~", NULL, "/home/me");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char *expected = xasprintf("%s/rel", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_absolute("rel", NULL, expected);
    free(expected);
}

static void dirname_splits_at_the_last_slash(void **state)
{
    char *d = fs_dirname("a/b/c");
    assert_string_equal(d, "a/b");
    free(d);
    d = fs_dirname("c");
    assert_string_equal(d, ".");
    free(d);
    d = fs_dirname("/c");
    assert_string_equal(d, "/");
    free(d);
}

/* A directory inside the shared fixture's temp dir (fixture.h), removed by
 * the test itself: fs_remove_tree is under test too. */
static char *temp_dir(fx_env *env)
{
    char *dir = fx_path(env, "dir");
    assert_int_equal(fs_mkdir_p(dir, 0700), 0);
    return dir;
}

static void atomic_write_replaces_content_and_leaves_no_temp_file(void **state)
{
    fx_env *env = fx_new("test-util");
    char *dir = temp_dir(env);
    char *path = xasprintf("%s/run.json", dir);
    assert_int_equal(fs_write_atomic(path, "first", 5, 0600), 0);
    assert_int_equal(fs_write_atomic(path, "second\0bin", 10, 0600), 0);
    char *data;
    size_t len;
    assert_int_equal(fs_read_file(path, &data, &len), 0);
    assert_int_equal(len, 10);
    assert_memory_equal(data, "second\0bin", 10);
    free(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* only run.json in the directory */
    char *cmd = xasprintf("test \"$(ls -A '%s')\" = run.json", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *tail;
    assert_int_equal(fs_read_tail(path, 3, &tail, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(tail, "bin", 3);
    free(tail);
    assert_int_equal(fs_remove_tree(dir), 0);
    assert_false(fs_exists(dir));
    free(path);
    free(dir);
    fx_free(env);
}

static void atomic_write_into_missing_directory_fails_with_errno(void **state)
{
    errno = 0;
    assert_int_equal(fs_write_atomic("/nonexistent-dir-xyz/f", "x", 1, 0600), -1);
    assert_int_equal(errno, ENOENT);
}

static void mkdir_p_creates_nested_directories_and_accepts_existing(void **state)
{
    fx_env *env = fx_new("test-util");
    char *dir = temp_dir(env);
    char *deep = xasprintf("%s/a/b/c/", dir);
    assert_int_equal(fs_mkdir_p(deep, 0700), 0);
    assert_int_equal(fs_mkdir_p(deep, 0700), 0);
    assert_true(fs_exists(deep));
    char *file = xasprintf("%s/a/file", dir);
    assert_int_equal(fs_write_atomic(file, "", 0, 0600), 0);
    assert_int_equal(fs_mkdir_p(file, 0700), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_int_equal(fs_remove_tree(dir), 0);
    free(file);
    free(deep);
    free(dir);
    fx_free(env);
}

/* ---- time --------------------------------------------------------------------- */

static void iso_time_without_fraction_omits_it(void **state)
{
    char buf[ISO8601_LEN];
    int64_t us;
    assert_int_equal(time_parse_iso("2026-01-02T03:04:05+00:00", &us), 0);
    assert_int_equal(us, INT64_C(1767323045) * 1000000);
    assert_string_equal(time_format_iso(us, buf), "2026-01-02T03:04:05+00:00");
}

static void iso_time_with_fraction_keeps_microseconds(void **state)
{
    char buf[ISO8601_LEN];
    int64_t us;
    assert_int_equal(time_parse_iso("2026-06-03T20:04:44.123456+00:00", &us), 0);
    assert_int_equal(us % 1000000, 123456);
    assert_string_equal(time_format_iso(us, buf), "2026-06-03T20:04:44.123456+00:00");
    assert_int_equal(time_parse_iso("2026-06-03T20:04:44.5Z", &us), 0);
    assert_int_equal(us % 1000000, 500000);
    assert_int_equal(time_parse_iso("2026-06-03T20:04:44", &us), 0); /* naive = UTC */
    assert_int_equal(us % 1000000, 0);
}

static void iso_time_round_trips_for_many_values(void **state)
{
    char buf[ISO8601_LEN];
    srand(7);
    for (int i = 0; i < 2000; i++) {
        int64_t us = (int64_t)(rand() % 2000000000) * 1000000 + (i % 2 ? rand() % 1000000 : 0);
        int64_t back;
        assert_int_equal(time_parse_iso(time_format_iso(us, buf), &back), 0);
        assert_int_equal(back, us);
    }
}

static void iso_time_rejects_garbage(void **state)
{
    int64_t us;
    assert_int_equal(time_parse_iso("yesterday", &us), -1);
    assert_int_equal(time_parse_iso("2026-01-02", &us), -1);
    assert_int_equal(time_parse_iso("2026-01-02T03:04:05+02:00", &us), -1);
    assert_int_equal(time_parse_iso("2026-01-02T03:04:05.+00:00", &us), -1);
    assert_int_equal(time_parse_iso("2026-01-02T03:04:05 junk", &us), -1);
}

static void assert_duration(const char *s, int64_t expected)
{
    int64_t secs = -1;
    if (time_parse_duration(s, &secs) != 0)
        fail_msg("'%s' was rejected", s);
    assert_int_equal(secs, expected);
}

static void duration_accepts_every_slurm_form(void **state)
{
    assert_duration("30", 30 * 60);         /* MM */
    assert_duration("30:15", 30 * 60 + 15); /* MM:SS */
    assert_duration("1:00:00", 3600);       /* HH:MM:SS */
    assert_duration("48:00:00", 48 * 3600);
    assert_duration("2-12", 2 * 86400 + 12 * 3600);              /* D-HH */
    assert_duration("2-12:30", 2 * 86400 + 12 * 3600 + 1800);    /* D-HH:MM */
    assert_duration("2-12:30:15", 2 * 86400 + 12 * 3600 + 1815); /* D-HH:MM:SS */
    assert_duration("0", 0);
    assert_duration("007", 7 * 60);
}

static void duration_rejects_malformed_input(void **state)
{
    static const char *const bad[] = {
        "",   "abc", "1:2:3:4", "1:",     ":1",        "1::2", "1-", "-1",          "1-2-3",
        " 1", "1 ",  "1.5",     "1:2:3:", "1-2:3:4:5", "1h",   "+1", "99999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t secs;
        if (time_parse_duration(bad[i], &secs) == 0)
            fail_msg("'%s' was accepted as %lld s", bad[i], (long long)secs);
    }
}

/* ---- strmap ------------------------------------------------------------------- */

static void strmap_finds_every_key_among_many(void **state)
{
    enum {
        N = 50000
    };
    char **keys = xmalloc(N * sizeof *keys);
    strmap m;
    strmap_init(&m, 4); /* grows */
    for (size_t i = 0; i < N; i++) {
        keys[i] = xasprintf("task-%zu", i * 7919);
        assert_true(strmap_put(&m, keys[i], i));
    }
    assert_int_equal(m.count, N);
    for (size_t i = 0; i < N; i++) {
        size_t v = SIZE_MAX;
        assert_true(strmap_get(&m, keys[i], &v));
        assert_int_equal(v, i);
    }
    assert_false(strmap_get(&m, "task-1", NULL));
    assert_false(strmap_get(&m, "", NULL));
    strmap_free(&m);
    for (size_t i = 0; i < N; i++)
        free(keys[i]);
    free(keys);
}

static void strmap_rejects_duplicates_and_keeps_the_first_value(void **state)
{
    strmap m;
    strmap_init(&m, 0);
    assert_true(strmap_put(&m, "a", 1));
    char other_a[] = "a"; /* equal content, different pointer */
    assert_false(strmap_put(&m, other_a, 2));
    size_t v;
    assert_true(strmap_get(&m, "a", &v));
    assert_int_equal(v, 1);
    assert_int_equal(m.count, 1);
    strmap_free(&m);
    strmap empty = {0};
    assert_false(strmap_get(&empty, "a", NULL));
}

/* ---- sbuf --------------------------------------------------------------------- */

static void sbuf_printf_grows_past_any_capacity(void **state)
{
    sbuf b = SBUF_INIT;
    assert_string_equal(sbuf_cstr(&b), "");
    sbuf expected = SBUF_INIT;
    for (int i = 0; i < 5000; i++) {
        sbuf_printf(&b, "%d,", i);
        char tmp[16];
        int n = snprintf(tmp, sizeof tmp, "%d,", i);
        sbuf_append(&expected, tmp, (size_t)n);
    }
    assert_int_equal(b.len, expected.len);
    assert_string_equal(sbuf_cstr(&b), sbuf_cstr(&expected));
    char *big = xmalloc(100001);
    memset(big, 'x', 100000);
    big[100000] = '\0';
    sbuf_reset(&b);
    assert_int_equal(b.len, 0);
    sbuf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 100002);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[100001], ']');
    assert_int_equal(b.data[100002], '\0');
    sbuf_printf(&b, "%s", ""); /* empty output keeps the buffer terminated */
    assert_int_equal(b.len, 100002);
    free(big);
    char *owned = sbuf_detach(&b);
    assert_int_equal(strlen(owned), 100002);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(owned);
    sbuf_free(&expected);
    sbuf_free(&b);
}

static void sbuf_detach_of_empty_buffer_gives_empty_string(void **state)
{
    sbuf b = SBUF_INIT;
    char *s = sbuf_detach(&b);
    assert_string_equal(s, "");
    free(s);
    sbuf_printf(&b, "%s", "");
    assert_string_equal(sbuf_cstr(&b), "");
    sbuf_free(&b);
}

/* ---- errors ------------------------------------------------------------------- */

static void error_prefix_adds_context_and_stays_terminated(void **state)
{
    sh_err e = SH_ERR_INIT;
    assert_int_equal(sh_err_set(&e, SH_EINVAL, "cpus must be %s", "positive"), -1);
    assert_int_equal(sh_err_prefix(&e, "flow.json: tasks[%d]", 2), -1);
    assert_string_equal(e.msg, "flow.json: tasks[2]: cpus must be positive");
    assert_int_equal(e.status, SH_EINVAL);
    char longmsg[2000];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    sh_err_set(&e, SH_EINTERNAL, "%s", longmsg);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
    sh_err_prefix(&e, "ctx");
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
    assert_memory_equal(e.msg, "ctx: mmm", 8);
    assert_int_equal(sh_err_set(NULL, 1, "x"), -1);
}

/* ---- suggest ------------------------------------------------------------- */

static void edit_distance_counts_inserts_deletes_and_substitutions(void **state)
{
    (void)state;
    assert_int_equal(suggest_edit_distance("comand", "command"), 1);
    assert_int_equal(suggest_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(suggest_edit_distance("", "abc"), 3);
    assert_int_equal(suggest_edit_distance("same", "same"), 0);
    char long_name[SUGGEST_MAX_LEN + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_true(suggest_edit_distance(long_name, "a") == SIZE_MAX);
}

static void closest_suggests_within_two_edits_or_a_quarter_of_the_name(void **state)
{
    (void)state;
    const char *const fields[] = {"cpus", "command", "poll_interval", "retry_delay"};
    assert_string_equal(suggest_closest("cpu", fields, 4), "cpus");
    assert_string_equal(suggest_closest("comand", fields, 4), "command");
    assert_null(suggest_closest("xyz", fields, 4));
    /* 3 edits: too many for a short name, within a quarter of a long one */
    assert_null(suggest_closest("cmnd", fields, 4));
    assert_string_equal(suggest_closest("pol_intervall_", fields, 4), "poll_interval");
    /* a tie goes to the earlier candidate */
    const char *const tie[] = {"ab", "ba"};
    assert_string_equal(suggest_closest("aa", tie, 2), "ab");
    assert_null(suggest_closest("a", NULL, 0));
}

/* ---- UTF-8 and JSON depth ---------------------------------------------------- */

static void utf8_sanitize_replaces_each_invalid_byte_and_keeps_the_rest(void **state)
{
    (void)state;
    size_t n = 0;
    char *s = utf8_sanitize("a\xff"
                            "b\xc3\xa9",
                            5, &n);
    assert_string_equal(s, "a\xef\xbf\xbd"
                           "b\xc3\xa9");
    assert_int_equal(n, 1);
    free(s);
    /* an overlong form, a surrogate and a NUL are not text either */
    s = utf8_sanitize("\xc0\xaf|\xed\xa0\x80|\0", 8, &n);
    assert_int_equal(n, 6);
    free(s);
    s = utf8_sanitize("", 0, &n);
    assert_string_equal(s, "");
    free(s);
}

static void utf8_complete_prefix_holds_back_only_a_cut_sequence(void **state)
{
    (void)state;
    /* "é" is C3 A9; "€" is E2 82 AC; "😀" is F0 9F 98 80 */
    assert_int_equal(utf8_complete_prefix("ab\xc3", 3), 2);
    assert_int_equal(utf8_complete_prefix("ab\xc3\xa9", 4), 4);
    assert_int_equal(utf8_complete_prefix("a\xe2\x82", 3), 1);
    assert_int_equal(utf8_complete_prefix("\xf0\x9f\x98", 3), 0);
    assert_int_equal(utf8_complete_prefix("\xf0\x9f\x98\x80", 4), 4);
    /* an invalid byte at the end is not held back: it will never complete */
    assert_int_equal(utf8_complete_prefix("ab\xff", 3), 3);
    assert_int_equal(utf8_complete_prefix("ab\xc3(", 4), 4);
    assert_true(utf8_valid("x\xe2\x82\xac", 4));
    assert_false(utf8_valid("x\xe2\x82", 3));
    assert_false(utf8_valid("\xff\xfe", 2));
}

static void json_depth_counts_brackets_outside_strings_only(void **state)
{
    (void)state;
    assert_false(json_nests_deeper_than("[[1]]", 5, 2));
    assert_true(json_nests_deeper_than("[[[1]]]", 7, 2));
    assert_true(json_nests_deeper_than("{\"a\":[{}]}", 10, 2));
    /* brackets in strings, escaped quotes included, do not nest */
    const char *s = "[\"[[[[\\\"[[[\"]";
    assert_false(json_nests_deeper_than(s, strlen(s), 1));
    /* closing more than was opened does not go below zero */
    assert_true(json_nests_deeper_than("]]]][[[", 7, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edit_distance_counts_inserts_deletes_and_substitutions),
        cmocka_unit_test(closest_suggests_within_two_edits_or_a_quarter_of_the_name),
        cmocka_unit_test(shell_quote_survives_sh_for_tricky_strings),
        cmocka_unit_test(shell_quote_survives_sh_for_random_bytes),
        cmocka_unit_test(shell_quote_leaves_plain_words_bare),
        cmocka_unit_test(path_prefix_quoting_leaves_home_and_variables_to_the_shell),
        cmocka_unit_test(path_prefix_quoting_expands_once_in_sh),
        cmocka_unit_test(encoded_names_are_safe_unique_and_reversible),
        cmocka_unit_test(absolute_paths_are_normalised_lexically),
        cmocka_unit_test(dirname_splits_at_the_last_slash),
        cmocka_unit_test(atomic_write_replaces_content_and_leaves_no_temp_file),
        cmocka_unit_test(atomic_write_into_missing_directory_fails_with_errno),
        cmocka_unit_test(mkdir_p_creates_nested_directories_and_accepts_existing),
        cmocka_unit_test(iso_time_without_fraction_omits_it),
        cmocka_unit_test(iso_time_with_fraction_keeps_microseconds),
        cmocka_unit_test(iso_time_round_trips_for_many_values),
        cmocka_unit_test(iso_time_rejects_garbage),
        cmocka_unit_test(duration_accepts_every_slurm_form),
        cmocka_unit_test(duration_rejects_malformed_input),
        cmocka_unit_test(strmap_finds_every_key_among_many),
        cmocka_unit_test(strmap_rejects_duplicates_and_keeps_the_first_value),
        cmocka_unit_test(sbuf_printf_grows_past_any_capacity),
        cmocka_unit_test(sbuf_detach_of_empty_buffer_gives_empty_string),
        cmocka_unit_test(error_prefix_adds_context_and_stays_terminated),
        cmocka_unit_test(utf8_sanitize_replaces_each_invalid_byte_and_keeps_the_rest),
        cmocka_unit_test(utf8_complete_prefix_holds_back_only_a_cut_sequence),
        cmocka_unit_test(json_depth_counts_brackets_outside_strings_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

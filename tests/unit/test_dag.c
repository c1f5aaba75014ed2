/* test_dag.c - wildcard expansion and validation of task lists (model/dag.h).
 * The first group re-enacts the original's tests/test_wildcard_deps.py
 * (spec/original-engine.md §14.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/dag.h"
#include "util/sbuf.h"

/* ---- fixtures ------------------------------------------------------------ */

/* A list of tasks built from "id: dep dep ..." specs. */
typedef struct task_list {
    task_def *tasks;
    size_t n, cap;
} task_list;

static void add_task(task_list *l, const char *id, const char *const *deps, size_t ndeps)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->tasks = xrealloc(l->tasks, l->cap * sizeof *l->tasks);
    }
    task_def *t = &l->tasks[l->n++];
    memset(t, 0, sizeof *t);
    t->id = xstrdup(id);
    t->name = xstrdup(id);
    t->command = xstrdup("true");
    t->ndeps = ndeps;
    t->deps = ndeps ? xcalloc(ndeps, sizeof *t->deps) : NULL;
    for (size_t i = 0; i < ndeps; i++)
        t->deps[i] = xstrdup(deps[i]);
}

/* "id" or "id: dep1 dep2" */
static void add(task_list *l, const char *spec)
{
    char *copy = xstrdup(spec);
    char *colon = strchr(copy, ':');
    const char *deps[64];
    size_t n = 0;
    if (colon) {
        *colon = '\0';
        char *save = NULL;
        for (char *tok = strtok_r(colon + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
            deps[n++] = tok;
    }
    add_task(l, copy, deps, n);
    free(copy);
}

static task_list make(const char *const *specs)
{
    task_list l = {0};
    for (; *specs; specs++)
        add(&l, *specs);
    return l;
}

#define TASKS(...) make((const char *const[]){__VA_ARGS__, NULL})

static void list_free(task_list *l)
{
    task_def_free_array(l->tasks, l->n);
    memset(l, 0, sizeof *l);
}

static task_def *find(task_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->tasks[i].id, id) == 0)
            return &l->tasks[i];
    fail_msg("no task '%s'", id);
    return NULL;
}

/* The deps of task `id`, space-separated. */
static char *deps_of(task_list *l, const char *id)
{
    task_def *t = find(l, id);
    sbuf b = SBUF_INIT;
    for (size_t i = 0; i < t->ndeps; i++)
        sbuf_printf(&b, "%s%s", i ? " " : "", t->deps[i]);
    return sbuf_detach(&b);
}

#define assert_deps(list, id, expected)                                                            \
    do {                                                                                           \
        char *got_ = deps_of(list, id);                                                            \
        assert_string_equal(got_, expected);                                                       \
        free(got_);                                                                                \
    } while (0)

static void expand_ok(task_list *l)
{
    sh_err e = SH_ERR_INIT;
    int rc = dag_expand_and_validate(l->tasks, l->n, 0, &e);
    if (rc != 0)
        fail_msg("unexpected error: %s", e.msg);
}

/* Expansion must fail with a message containing `needle`, and change nothing. */
static void expand_fails(task_list *l, size_t n_existing, const char *needle)
{
    char *before[4096];
    size_t nb = l->n < 4096 ? l->n : 4096;
    for (size_t i = 0; i < nb; i++)
        before[i] = deps_of(l, l->tasks[i].id);
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_expand_and_validate(l->tasks, l->n, n_existing, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    if (!strstr(e.msg, needle))
        fail_msg("error '%s' does not contain '%s'", e.msg, needle);
    for (size_t i = 0; i < nb; i++) {
        char *after = deps_of(l, l->tasks[i].id);
        assert_string_equal(after, before[i]);
        free(after);
        free(before[i]);
    }
}

static void expand_fails_with(task_list *l, const char *exact)
{
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_expand_and_validate(l->tasks, l->n, 0, &e), -1);
    assert_string_equal(e.msg, exact);
}

/* ---- spec §14.2 ----------------------------------------------------------- */

static void literal_deps_are_left_exactly_as_given(void **state)
{
    task_list l = TASKS("a", "b", "c: b a");
    expand_ok(&l);
    assert_deps(&l, "c", "b a");
    assert_deps(&l, "a", "");
    list_free(&l);
}

static void star_expands_to_matching_ids(void **state)
{
    task_list l = TASKS("build.x", "build.y", "test: build.*");
    expand_ok(&l);
    assert_deps(&l, "test", "build.x build.y");
    list_free(&l);
}

static void wildcard_never_matches_the_task_itself(void **state)
{
    task_list l = TASKS("build.a", "build.b: build.*");
    expand_ok(&l);
    assert_deps(&l, "build.b", "build.a");
    list_free(&l);
}

static void wildcard_without_match_is_an_error(void **state)
{
    task_list l = TASKS("a", "b: nope.*");
    expand_fails(&l, 0, "matches no tasks");
    expand_fails_with(&l, "Task 'b': wildcard dep 'nope.*' matches no tasks");
    list_free(&l);
}

static void wildcard_matching_only_itself_matches_no_tasks(void **state)
{
    task_list l = TASKS("a", "self.1: self.*");
    expand_fails_with(&l, "Task 'self.1': wildcard dep 'self.*' matches no tasks");
    list_free(&l);
}

static void literal_comes_first_then_matches_in_task_order(void **state)
{
    task_list l = TASKS("build.y", "setup", "build.x", "all: setup build.*");
    expand_ok(&l);
    /* task order, not alphabetical order */
    assert_deps(&l, "all", "setup build.y build.x");
    list_free(&l);
}

static void question_mark_matches_one_char_not_two(void **state)
{
    task_list l = TASKS("step.1", "step.2", "step.10", "report: step.?");
    expand_ok(&l);
    assert_deps(&l, "report", "step.1 step.2");
    list_free(&l);
}

static void diamond_with_wildcards_resolves_and_validates(void **state)
{
    task_list l = TASKS("setup.init", "build.a: setup.*", "build.b: setup.*", "final: build.*");
    expand_ok(&l);
    assert_deps(&l, "build.a", "setup.init");
    assert_deps(&l, "build.b", "setup.init");
    assert_deps(&l, "final", "build.a build.b");
    list_free(&l);
}

static void wildcards_forming_a_cycle_are_caught_by_validation(void **state)
{
    task_list l = TASKS("a.1: b.*", "b.1: a.*");
    expand_fails(&l, 0, "Circular dependency");
    expand_fails_with(&l, "Circular dependency detected: a.1 -> b.1 -> a.1");
    list_free(&l);
}

/* ---- glob semantics ------------------------------------------------------ */

static void bracket_class_matches_listed_chars(void **state)
{
    task_list l = TASKS("sim.a", "sim.b", "sim.c", "sim.1", "r: sim.[ab1]");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.a sim.b sim.1");
    list_free(&l);
}

static void bracket_range_matches_a_range(void **state)
{
    task_list l = TASKS("sim.1", "sim.5", "sim.9", "sim.x", "r: sim.[1-5]");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.1 sim.5");
    list_free(&l);
}

static void negated_bracket_class_excludes_listed_chars(void **state)
{
    task_list l = TASKS("sim.a", "sim.b", "sim.c", "r: sim.[!ab]");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.c");
    list_free(&l);
}

static void star_crosses_dots_and_slashes(void **state)
{
    task_list l = TASKS("a/b/c.d", "a.x/y", "a", ".hidden/a", "r: a*", "s: *a");
    expand_ok(&l);
    assert_deps(&l, "r", "a/b/c.d a.x/y a");
    assert_deps(&l, "s", "a .hidden/a");
    list_free(&l);
}

static void matching_is_case_sensitive(void **state)
{
    task_list l = TASKS("Sim.1", "sim.2", "r: sim.*");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.2");
    list_free(&l);
}

static void pattern_without_literal_prefix_scans_all_ids(void **state)
{
    task_list l = TASKS("x.out", "a.out", "b.log", "r: *.out", "q: ?.log");
    expand_ok(&l);
    assert_deps(&l, "r", "x.out a.out");
    assert_deps(&l, "q", "b.log");
    list_free(&l);
}

static void escaped_star_matches_a_literal_star(void **state)
{
    task_list l = TASKS("a*", "ab", "r: a\\*");
    expand_ok(&l);
    assert_deps(&l, "r", "a*");
    list_free(&l);
}

static void prefix_search_does_not_leak_into_neighbouring_ids(void **state)
{
    /* "sim" < "sim-" < "sim." < "sim0" < "simulate" bytewise */
    task_list l = TASKS("simulate", "sim0", "sim.1", "sim-1", "sim", "sim.2", "r: sim.*");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.1 sim.2");
    list_free(&l);
}

/* ---- duplicates in dep lists ---------------------------------------------- */

static void same_dep_listed_twice_is_kept_once_at_first_position(void **state)
{
    task_list l = TASKS("a", "b", "c: b a b");
    expand_ok(&l);
    assert_deps(&l, "c", "b a");
    list_free(&l);
}

static void literal_also_matched_by_pattern_is_kept_once(void **state)
{
    task_list l = TASKS("sim.1", "sim.2", "sim.3", "r: sim.2 sim.* sim.?");
    expand_ok(&l);
    assert_deps(&l, "r", "sim.2 sim.1 sim.3");
    list_free(&l);
}

/* ---- validation errors --------------------------------------------------- */

static void unknown_dep_is_named_in_the_error(void **state)
{
    task_list l = TASKS("a", "b: a ghost");
    expand_fails(&l, 0, "ghost");
    expand_fails_with(&l, "Task 'b' depends on 'ghost', which does not exist");
    list_free(&l);
}

static void task_depending_on_itself_is_an_error(void **state)
{
    task_list l = TASKS("a", "b: a b");
    expand_fails(&l, 0, "itself");
    expand_fails_with(&l, "Task 'b' depends on itself");
    list_free(&l);
}

static void wildcard_error_is_reported_before_unknown_literal(void **state)
{
    /* the original expands every task before validating any */
    task_list l = TASKS("a: ghost", "b: nope*");
    expand_fails_with(&l, "Task 'b': wildcard dep 'nope*' matches no tasks");
    list_free(&l);
}

static void duplicate_ids_are_rejected_with_both_positions(void **state)
{
    task_list l = TASKS("a", "b", "a");
    expand_fails(&l, 0, "Duplicate");
    expand_fails_with(&l, "Duplicate task id 'a' (tasks 1 and 3)");
    list_free(&l);
}

static void two_task_cycle_names_the_path(void **state)
{
    task_list l = TASKS("a: b", "b: a");
    expand_fails_with(&l, "Circular dependency detected: a -> b -> a");
    list_free(&l);
}

static void cycle_path_starts_at_the_repeated_task(void **state)
{
    /* entry -> x -> y -> z -> x: the path shown is the cycle only */
    task_list l = TASKS("entry: x", "x: y", "y: z", "z: x");
    expand_fails_with(&l, "Circular dependency detected: x -> y -> z -> x");
    list_free(&l);
}

static void long_cycle_message_is_elided_in_the_middle(void **state)
{
    task_list l = {0};
    char id[32], dep[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "t%d", i);
        snprintf(dep, sizeof dep, "t%d", (i + 1) % 1000);
        const char *deps[] = {dep};
        add_task(&l, id, deps, 1);
    }
    expand_fails_with(&l, "Circular dependency detected: t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> "
                          "... (989 more) ... -> t995 -> t996 -> t997 -> t998 -> t999 -> t0");
    list_free(&l);
}

static void chain_of_100000_tasks_validates_without_recursion(void **state)
{
    /* t0 -> t1 -> ... -> t99999: the DFS from t0 goes 100,000 deep */
    enum {
        N = 100000
    };
    task_list l = {0};
    char id[32], dep[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "t%d", i);
        snprintf(dep, sizeof dep, "t%d", i + 1);
        const char *deps[] = {dep};
        add_task(&l, id, deps, i + 1 < N ? 1 : 0);
    }
    expand_ok(&l);
    assert_deps(&l, "t0", "t1");
    /* closing the chain into a cycle is found, too */
    const char *back[] = {"t0"};
    task_def *last = &l.tasks[N - 1];
    last->deps = xcalloc(1, sizeof *last->deps);
    last->deps[0] = xstrdup(back[0]);
    last->ndeps = 1;
    expand_fails(&l, 0, "Circular dependency detected: t0 -> t1 -> ");
    list_free(&l);
}

static void thousand_prefixed_patterns_over_100000_ids_take_milliseconds(void **state)
{
    enum {
        GROUPS = 1000,
        PER_GROUP = 100
    };
    task_list l = {0};
    char id[32], pat[32];
    for (int g = 0; g < GROUPS; g++)
        for (int k = 0; k < PER_GROUP; k++) {
            snprintf(id, sizeof id, "g%d.t%d", g, k);
            add_task(&l, id, NULL, 0);
        }
    for (int g = 0; g < GROUPS; g++) {
        snprintf(id, sizeof id, "join.%d", g);
        snprintf(pat, sizeof pat, "g%d.t*", g);
        const char *deps[] = {pat};
        add_task(&l, id, deps, 1);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expand_ok(&l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("expanded %d patterns over %d ids in %.1f ms\n", GROUPS, GROUPS * PER_GROUP, ms);
    assert_true(ms < 2000); /* generous for sanitizer builds; ~100 ms unsanitized */
    task_def *j7 = find(&l, "join.7");
    assert_int_equal(j7->ndeps, PER_GROUP);
    assert_string_equal(j7->deps[0], "g7.t0");
    assert_string_equal(j7->deps[99], "g7.t99");
    list_free(&l);
}

/* ---- appending a generates_source batch ---------------------------------- */

static void appended_tasks_match_patterns_against_existing_ids(void **state)
{
    task_list l = TASKS("gen", "sim.1", "sim.2");
    expand_ok(&l);
    add(&l, "sim.3: gen");
    add(&l, "report: sim.*");
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_expand_and_validate(l.tasks, l.n, 3, &e), 0);
    assert_deps(&l, "report", "sim.1 sim.2 sim.3");
    assert_deps(&l, "sim.3", "gen");
    list_free(&l);
}

static void existing_tasks_are_not_re_expanded(void **state)
{
    /* an existing task's dep list is taken as validated: even a dep that
     * looks like a pattern is left alone */
    task_list l = TASKS("a", "b: a*");
    add(&l, "a2");
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_expand_and_validate(l.tasks, l.n, 2, &e), 0);
    assert_deps(&l, "b", "a*");
    list_free(&l);
}

static void appended_task_reusing_an_existing_id_is_rejected(void **state)
{
    task_list l = TASKS("gen", "sim.1");
    add(&l, "new.1: gen");
    add(&l, "sim.1: gen");
    expand_fails(&l, 2, "Duplicate task id 'sim.1' (tasks 2 and 4)");
    list_free(&l);
}

static void failed_append_modifies_nothing(void **state)
{
    task_list l = TASKS("gen", "sim.1");
    add(&l, "new.1: sim.*");
    add(&l, "new.2: new.1 ghost");
    expand_fails(&l, 2, "Task 'new.2' depends on 'ghost', which does not exist");
    /* patterns untouched on the new tasks */
    assert_deps(&l, "new.1", "sim.*");
    list_free(&l);
}

static void appended_tasks_forming_a_cycle_are_rejected(void **state)
{
    task_list l = TASKS("gen");
    add(&l, "x: gen y");
    add(&l, "y: x");
    expand_fails(&l, 1, "Circular dependency detected: x -> y -> x");
    list_free(&l);
}

/* ---- dag_index_build ------------------------------------------------------ */

static void index_lists_dependency_positions_per_task(void **state)
{
    task_list l = TASKS("a", "b: a", "c: a b", "d");
    dag_index d;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_index_build(l.tasks, l.n, &d, &e), 0);
    assert_int_equal(d.n, 4);
    uint32_t off[] = {0, 0, 1, 3, 3};
    uint32_t idx[] = {0, 0, 1};
    assert_memory_equal(d.off, off, sizeof off);
    assert_memory_equal(d.idx, idx, sizeof idx);
    dag_index_free(&d);
    list_free(&l);
}

static void index_of_empty_list_has_one_offset(void **state)
{
    dag_index d;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(dag_index_build(NULL, 0, &d, &e), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(d.off[0], 0);
    dag_index_free(&d);
}

static void index_rejects_unknown_dep_and_duplicate_id(void **state)
{
    dag_index d;
    sh_err e = SH_ERR_INIT;
    task_list l = TASKS("a", "b: zz");
    assert_int_equal(dag_index_build(l.tasks, l.n, &d, &e), -1);
    assert_string_equal(e.msg, "Task 'b' depends on 'zz', which does not exist");
    list_free(&l);
    l = TASKS("a", "a");
    assert_int_equal(dag_index_build(l.tasks, l.n, &d, &e), -1);
    assert_string_equal(e.msg, "Duplicate task id 'a' (tasks 1 and 2)");
    list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literal_deps_are_left_exactly_as_given),
        cmocka_unit_test(star_expands_to_matching_ids),
        cmocka_unit_test(wildcard_never_matches_the_task_itself),
        cmocka_unit_test(wildcard_without_match_is_an_error),
        cmocka_unit_test(wildcard_matching_only_itself_matches_no_tasks),
        cmocka_unit_test(literal_comes_first_then_matches_in_task_order),
        cmocka_unit_test(question_mark_matches_one_char_not_two),
        cmocka_unit_test(diamond_with_wildcards_resolves_and_validates),
        cmocka_unit_test(wildcards_forming_a_cycle_are_caught_by_validation),
        cmocka_unit_test(bracket_class_matches_listed_chars),
        cmocka_unit_test(bracket_range_matches_a_range),
        cmocka_unit_test(negated_bracket_class_excludes_listed_chars),
        cmocka_unit_test(star_crosses_dots_and_slashes),
        cmocka_unit_test(matching_is_case_sensitive),
        cmocka_unit_test(pattern_without_literal_prefix_scans_all_ids),
        cmocka_unit_test(escaped_star_matches_a_literal_star),
        cmocka_unit_test(prefix_search_does_not_leak_into_neighbouring_ids),
        cmocka_unit_test(same_dep_listed_twice_is_kept_once_at_first_position),
        cmocka_unit_test(literal_also_matched_by_pattern_is_kept_once),
        cmocka_unit_test(unknown_dep_is_named_in_the_error),
        cmocka_unit_test(task_depending_on_itself_is_an_error),
        cmocka_unit_test(wildcard_error_is_reported_before_unknown_literal),
        cmocka_unit_test(duplicate_ids_are_rejected_with_both_positions),
        cmocka_unit_test(two_task_cycle_names_the_path),
        cmocka_unit_test(cycle_path_starts_at_the_repeated_task),
        cmocka_unit_test(long_cycle_message_is_elided_in_the_middle),
        cmocka_unit_test(chain_of_100000_tasks_validates_without_recursion),
        cmocka_unit_test(thousand_prefixed_patterns_over_100000_ids_take_milliseconds),
        cmocka_unit_test(appended_tasks_match_patterns_against_existing_ids),
        cmocka_unit_test(existing_tasks_are_not_re_expanded),
        cmocka_unit_test(appended_task_reusing_an_existing_id_is_rejected),
        cmocka_unit_test(failed_append_modifies_nothing),
        cmocka_unit_test(appended_tasks_forming_a_cycle_are_rejected),
        cmocka_unit_test(index_lists_dependency_positions_per_task),
        cmocka_unit_test(index_of_empty_list_has_one_offset),
        cmocka_unit_test(index_rejects_unknown_dep_and_duplicate_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

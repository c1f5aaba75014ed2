/* test_model.c - task definitions, workflow documents, env rule shapes,
 * task states and run status (model/model.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

/* ---- helpers --------------------------------------------------------------- */

static json_t *parse_json(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON '%s': %s", text, je.text);
    return v;
}

static task_def task_ok(const char *text)
{
    json_t *obj = parse_json(text);
    task_def t;
    sh_err e = SH_ERR_INIT;
    if (task_def_from_json(obj, NULL, &t, &e) != 0)
        fail_msg("unexpected error for %s: %s", text, e.msg);
    json_decref(obj);
    return t;
}

/* Parsing must fail with exactly this message (where = NULL). */
static void task_fails(const char *text, const char *expected)
{
    json_t *obj = parse_json(text);
    task_def t;
    memset(&t, 0xAB, sizeof t); /* must stay untouched */
    task_def untouched = t;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(task_def_from_json(obj, NULL, &t, &e), -1);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, expected);
    assert_memory_equal(&t, &untouched, sizeof t);
    json_decref(obj);
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void assert_json(const json_t *v, const char *expected)
{
    char *s = dump(v);
    assert_string_equal(s, expected);
    free(s);
}

/* ---- task parsing: defaults ------------------------------------------------ */

static void task_with_id_and_command_gets_every_default(void **state)
{
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"echo hi\"}");
    assert_string_equal(t.id, "a");
    assert_string_equal(t.name, "a");
    assert_string_equal(t.command, "echo hi");
    assert_string_equal(t.working_dir, "~");
    assert_null(t.partition);
    assert_int_equal(t.cpus, 1);
    assert_string_equal(t.memory, "4G");
    assert_string_equal(t.time_limit, "1:00:00");
    assert_int_equal(t.ndeps, 0);
    assert_null(t.generates_source);
    assert_null(t.output_file);
    assert_null(t.error_file);
    assert_non_null(t.env);
    assert_int_equal(json_array_size(t.env), 0);
    assert_null(t.gres);
    assert_null(t.image);
    assert_int_equal(t.retries, 0);
    assert_true(t.retry_delay == 0);
    task_def_free(&t);
}

static void name_defaults_to_id(void **state)
{
    task_def t = task_ok("{\"id\": \"sim.1\", \"command\": \"x\", \"name\": null}");
    assert_string_equal(t.name, "sim.1");
    task_def_free(&t);
    t = task_ok("{\"id\": \"sim.1\", \"command\": \"x\", \"name\": \"Simulation\"}");
    assert_string_equal(t.name, "Simulation");
    task_def_free(&t);
}

static void every_field_is_read(void **state)
{
    task_def t = task_ok(
        "{\"id\": \"a\", \"name\": \"A\", \"command\": \"run\", \"working_dir\": \"/w\","
        " \"partition\": \"gpu\", \"cpus\": 8, \"memory\": \"32G\", \"time_limit\": \"2-00:00:00\","
        " \"dependencies\": [\"x\", \"y.*\"], \"generates_source\": \"more.json\","
        " \"output_file\": \"o.txt\", \"error_file\": \"e.txt\","
        " \"env\": [{\"set\": {\"K\": \"v\"}}], \"gres\": \"gpu:1\", \"image\": \"img:1\","
        " \"retries\": 3, \"retry_delay\": 2.5}");
    assert_string_equal(t.name, "A");
    assert_string_equal(t.working_dir, "/w");
    assert_string_equal(t.partition, "gpu");
    assert_int_equal(t.cpus, 8);
    assert_string_equal(t.memory, "32G");
    assert_string_equal(t.time_limit, "2-00:00:00");
    assert_int_equal(t.ndeps, 2);
    assert_string_equal(t.deps[0], "x");
    assert_string_equal(t.deps[1], "y.*");
    assert_string_equal(t.generates_source, "more.json");
    assert_string_equal(t.output_file, "o.txt");
    assert_string_equal(t.error_file, "e.txt");
    assert_json(t.env, "[{\"set\":{\"K\":\"v\"}}]");
    assert_string_equal(t.gres, "gpu:1");
    assert_string_equal(t.image, "img:1");
    assert_int_equal(t.retries, 3);
    assert_true(t.retry_delay == 2.5);
    task_def_free(&t);
}

static void deps_is_an_alias_of_dependencies(void **state)
{
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"deps\": [\"b\"]}");
    assert_int_equal(t.ndeps, 1);
    assert_string_equal(t.deps[0], "b");
    task_def_free(&t);
}

static void empty_or_null_optional_strings_mean_unset(void **state)
{
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"partition\": \"\", \"gres\": null,"
                         " \"image\": \"\", \"output_file\": null}");
    assert_null(t.partition);
    assert_null(t.gres);
    assert_null(t.image);
    assert_null(t.output_file);
    task_def_free(&t);
}

static void empty_time_limit_means_no_limit(void **state)
{
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"time_limit\": \"\"}");
    assert_string_equal(t.time_limit, "");
    task_def_free(&t);
    t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"time_limit\": \"0\"}");
    assert_string_equal(t.time_limit, "0");
    task_def_free(&t);
}

static void integral_real_counts_as_integer(void **state)
{
    /* Lua arithmetic gives 4.0 for 8/2 */
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"cpus\": 4.0, \"retries\": 0}");
    assert_int_equal(t.cpus, 4);
    task_def_free(&t);
}

static void empty_object_counts_as_empty_list(void **state)
{
    /* an empty Lua table converts to {} as readily as to [] */
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"deps\": {}, \"env\": {}}");
    assert_int_equal(t.ndeps, 0);
    assert_int_equal(json_array_size(t.env), 0);
    task_def_free(&t);
}

static void command_may_span_lines(void **state)
{
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"set -e\\nmake\\n\"}");
    assert_string_equal(t.command, "set -e\nmake\n");
    task_def_free(&t);
}

/* ---- task parsing: errors ------------------------------------------------- */

static void cpus_must_be_a_positive_integer(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"cpus\": \"x\"}",
               "Task 'a': cpus must be a positive integer, got \"x\"");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"cpus\": 0}",
               "Task 'a': cpus must be a positive integer, got 0");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"cpus\": 2.5}",
               "Task 'a': cpus must be a positive integer, got 2.5");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"cpus\": true}",
               "Task 'a': cpus must be a positive integer, got true");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"cpus\": 99999999999}",
               "Task 'a': cpus must be a positive integer, got 99999999999");
}

static void retries_must_be_a_non_negative_integer(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"retries\": -1}",
               "Task 'a': retries must be a non-negative integer, got -1");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"retries\": \"2\"}",
               "Task 'a': retries must be a non-negative integer, got \"2\"");
}

static void retry_delay_must_be_a_non_negative_number(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"retry_delay\": -0.5}",
               "Task 'a': retry_delay must be a non-negative number of seconds, got -0.5");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"retry_delay\": \"5s\"}",
               "Task 'a': retry_delay must be a non-negative number of seconds, got \"5s\"");
}

static void string_fields_reject_other_types(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"memory\": 4096}",
               "Task 'a': memory must be a non-empty string, got 4096");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"name\": [\"n\"]}",
               "Task 'a': name must be a non-empty string, got [\"n\"]");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"working_dir\": \"\"}",
               "Task 'a': working_dir must be a non-empty string, got \"\"");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"partition\": 5}",
               "Task 'a': partition must be a string or null, got 5");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"generates_source\": {\"p\": 1}}",
               "Task 'a': generates_source must be a string or null, got {\"p\":1}");
    task_fails("{\"id\": \"a\", \"command\": 5}", "Task 'a': command must be a string, got 5");
}

static void single_line_fields_reject_newlines(void **state)
{
    /* a newline in --mem=... would start a new #SBATCH line */
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"memory\": \"4G\\n#SBATCH --x\"}",
               "Task 'a': memory must be a single line without control characters, got "
               "\"4G\\n#SBATCH --x\"");
    task_fails("{\"id\": \"a\\nb\", \"command\": \"x\"}",
               "Task '?': id must be a single line without control characters, got \"a\\nb\"");
}

static void time_limit_must_be_a_slurm_duration(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"time_limit\": \"1 hour\"}",
               "Task 'a': time_limit must be a duration (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
               "D-HH:MM:SS) or \"\", got \"1 hour\"");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"time_limit\": 60}",
               "Task 'a': time_limit must be a duration (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
               "D-HH:MM:SS) or \"\", got 60");
}

static void long_offending_value_is_shortened(void **state)
{
    json_t *obj = parse_json("{\"id\": \"a\", \"command\": \"x\"}");
    json_t *big = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(big, json_integer(i));
    json_object_set_new(obj, "cpus", big);
    task_def t;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(task_def_from_json(obj, NULL, &t, &e), -1);
    assert_true(strlen(e.msg) < 200);
    assert_non_null(strstr(e.msg, "got [0,1,2,"));
    assert_non_null(strstr(e.msg, "..."));
    json_decref(obj);
}

static void required_fields_are_named_when_missing(void **state)
{
    task_fails("{\"command\": \"x\"}", "Task '?': missing required field 'id'");
    task_fails("{\"id\": \"a\"}", "Task 'a': missing required field 'command'");
    task_fails("{\"id\": \"\", \"command\": \"x\"}",
               "Task '?': id must be a non-empty string, got \"\"");
    task_fails("{\"id\": 7, \"command\": \"x\"}", "Task '?': id must be a non-empty string, got 7");
}

static void task_must_be_an_object(void **state)
{
    task_fails("[\"a\"]", "a task must be a JSON object, got [\"a\"]");
}

static void unknown_field_is_an_error_with_a_suggestion(void **state)
{
    task_fails("{\"id\": \"a\", \"comand\": \"x\"}",
               "Task 'a': unknown field 'comand' (did you mean 'command'?)");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"priority\": 3}",
               "Task 'a': unknown field 'priority'");
}

static void legacy_environment_fields_are_rejected(void **state)
{
    const char *msg = "legacy 'environment' / 'env_vars' fields are no longer supported. Use the "
                      "'env' rule list instead (see scripthut docs on env resolution).";
    char expected[512];
    snprintf(expected, sizeof expected, "Task 'a': %s", msg);
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"environment\": {\"K\": \"v\"}}", expected);
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"env_vars\": {}}", expected);
    snprintf(expected, sizeof expected, "Task '?': %s", msg);
    task_fails("{\"command\": \"x\", \"env_vars\": {}}", expected);
}

static void deps_and_dependencies_together_are_ambiguous(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"deps\": [\"b\"], \"dependencies\": [\"c\"]}",
               "Task 'a': both 'deps' and 'dependencies' given; use one of them");
}

static void deps_must_be_a_list_of_strings(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"deps\": \"b\"}",
               "Task 'a': deps must be a list of task ids, got \"b\"");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"dependencies\": [\"b\", 3]}",
               "Task 'a': dependencies[2] must be a non-empty string, got 3");
}

static void where_prefixes_the_message(void **state)
{
    json_t *obj = parse_json("{\"id\": \"a\", \"command\": \"x\", \"cpus\": -2}");
    task_def t;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(task_def_from_json(obj, "flow.json: tasks[4]", &t, &e), -1);
    assert_string_equal(e.msg, "flow.json: tasks[4]: Task 'a': cpus must be a positive integer, "
                               "got -2");
    json_decref(obj);
}

/* ---- env rules in tasks --------------------------------------------------- */

/* Env rules are validated and normalised in Lua (lua/scripthut/env.lua,
 * through host_env_normalize_document: tests/unit/test_host.c) before a
 * document reaches the parser, which only makes sure it got rule lists. */
static void task_env_must_be_a_normalised_rule_list(void **state)
{
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"env\": {\"set\": {}}}",
               "Task 'a': env must be a list of normalised env rules, got {\"set\":{}}");
    task_fails("{\"id\": \"a\", \"command\": \"x\", \"env\": [\"set X=1\"]}",
               "Task 'a': env must be a list of normalised env rules, got [\"set X=1\"]");
    task_def t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"env\": [{\"init\": \"m\"}]}");
    assert_json(t.env, "[{\"init\":\"m\"}]");
    task_def_free(&t);
    t = task_ok("{\"id\": \"a\", \"command\": \"x\", \"env\": {}}");
    assert_json(t.env, "[]");
    task_def_free(&t);
}

/* ---- serialisation ---------------------------------------------------------- */

static void to_json_uses_the_api_key_order(void **state)
{
    task_def t = task_ok("{\"retry_delay\": 1, \"command\": \"run\", \"deps\": [\"b\"],"
                         " \"id\": \"a\", \"retries\": 2}");
    json_t *j = task_def_to_json(&t);
    assert_json(j, "{\"id\":\"a\",\"name\":\"a\",\"command\":\"run\",\"working_dir\":\"~\","
                   "\"partition\":null,\"cpus\":1,\"memory\":\"4G\",\"time_limit\":\"1:00:00\","
                   "\"dependencies\":[\"b\"],\"generates_source\":null,\"output_file\":null,"
                   "\"error_file\":null,\"env\":[],\"gres\":null,\"image\":null,\"retries\":2,"
                   "\"retry_delay\":1.0}");
    json_decref(j);
    task_def_free(&t);
}

static void to_json_then_from_json_round_trips(void **state)
{
    task_def t = task_ok(
        "{\"id\": \"a/b c\", \"name\": \"A\", \"command\": \"echo 'hi'\\nexit 0\","
        " \"working_dir\": \"/w\", \"partition\": \"gpu\", \"cpus\": 8, \"memory\": \"32G\","
        " \"time_limit\": \"\", \"deps\": [\"x\"], \"generates_source\": \"g.json\","
        " \"env\": [{\"if_\": {\"A\": \"1\"}, \"append\": {\"PATH\": \"/opt/bin\"}}],"
        " \"gres\": \"gpu:2\", \"image\": \"i\", \"retries\": 1, \"retry_delay\": 0.25}");
    json_t *first = task_def_to_json(&t);
    task_def back;
    sh_err e = SH_ERR_INIT;
    assert_int_equal(task_def_from_json(first, NULL, &back, &e), 0);
    json_t *second = task_def_to_json(&back);
    char *a = dump(first), *b = dump(second);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(first);
    json_decref(second);
    task_def_free(&back);
    task_def_free(&t);
}

/* ---- workflow documents ------------------------------------------------------ */

typedef struct parsed_doc {
    task_def *tasks;
    size_t n;
    json_t *env, *groups;
} parsed_doc;

static parsed_doc doc_ok(const char *text)
{
    json_t *doc = parse_json(text);
    parsed_doc d;
    sh_err e = SH_ERR_INIT;
    if (workflow_doc_parse(doc, "flow.json", &d.tasks, &d.n, &d.env, &d.groups, &e) != 0)
        fail_msg("unexpected error: %s", e.msg);
    json_decref(doc);
    return d;
}

static void doc_free(parsed_doc *d)
{
    task_def_free_array(d->tasks, d->n);
    json_decref(d->env);
    json_decref(d->groups);
}

static void doc_fails(const char *text, const char *expected)
{
    json_t *doc = parse_json(text);
    parsed_doc d = {0};
    sh_err e = SH_ERR_INIT;
    assert_int_equal(workflow_doc_parse(doc, "flow.json", &d.tasks, &d.n, &d.env, &d.groups, &e),
                     -1);
    assert_int_equal(e.status, SH_EINVAL);
    assert_string_equal(e.msg, expected);
    assert_null(d.tasks);
    assert_null(d.env);
    json_decref(doc);
}

static void bare_array_is_a_task_list_with_empty_env(void **state)
{
    parsed_doc d =
        doc_ok("[{\"id\": \"a\", \"command\": \"x\"}, {\"id\": \"b\", \"command\": \"y\"}]");
    assert_int_equal(d.n, 2);
    assert_string_equal(d.tasks[1].id, "b");
    assert_json(d.env, "[]");
    assert_json(d.groups, "{}");
    doc_free(&d);
}

static void object_carries_tasks_env_and_groups(void **state)
{
    parsed_doc d = doc_ok("{\"title\": \"t\", \"description\": \"d\","
                          " \"tasks\": [{\"id\": \"a\", \"command\": \"x\"}],"
                          " \"env\": [{\"set\": {\"X\": \"1\"}}],"
                          " \"env_groups\": {\"gpu\": [{\"init\": \"module load cuda\"}]}}");
    assert_int_equal(d.n, 1);
    assert_json(d.env, "[{\"set\":{\"X\":\"1\"}}]");
    assert_json(d.groups, "{\"gpu\":[{\"init\":\"module load cuda\"}]}");
    doc_free(&d);
}

static void null_env_and_groups_are_empty(void **state)
{
    parsed_doc d = doc_ok("{\"tasks\": [], \"env\": null, \"env_groups\": null}");
    assert_int_equal(d.n, 0);
    assert_json(d.env, "[]");
    assert_json(d.groups, "{}");
    doc_free(&d);
}

static void other_shapes_are_rejected(void **state)
{
    const char *msg = "flow.json: JSON must be a list or an object with a 'tasks' key";
    doc_fails("\"tasks\"", msg);
    doc_fails("42", msg);
    doc_fails("null", msg);
    doc_fails("{\"task\": []}", msg);
    doc_fails("{\"tasks\": {\"id\": \"a\"}}", "flow.json: 'tasks' must be a list of task objects");
}

static void unknown_top_level_key_is_rejected(void **state)
{
    doc_fails("{\"tasks\": [], \"env_group\": {}}",
              "flow.json: unknown top-level key 'env_group' (expected tasks, env, env_groups, "
              "title, description)");
}

static void first_bad_task_aborts_the_document_with_its_position(void **state)
{
    doc_fails(
        "[{\"id\": \"a\", \"command\": \"x\"}, {\"id\": \"b\", \"command\": \"y\", \"cpu\": 2},"
        " {\"id\": \"c\"}]",
        "flow.json: tasks[2]: Task 'b': unknown field 'cpu' (did you mean 'cpus'?)");
}

static void document_env_and_groups_must_be_normalised_rule_lists(void **state)
{
    doc_fails("{\"tasks\": [], \"env\": {\"set\": {}}}",
              "flow.json: 'env' must be a list of normalised env rules");
    doc_fails("{\"tasks\": [], \"env_groups\": [\"g\"]}",
              "flow.json: 'env_groups' must be an object of name -> normalised env rule list");
    doc_fails("{\"tasks\": [], \"env_groups\": {\"g\": {\"init\": \"x\"}}}",
              "flow.json: 'env_groups' must be an object of name -> normalised env rule list");
}

/* ---- task states ------------------------------------------------------------ */

static void task_state_names_round_trip(void **state)
{
    for (int s = 0; s < TS__COUNT; s++) {
        task_state back;
        assert_int_equal(task_state_parse(task_state_name((task_state)s), &back), 0);
        assert_int_equal(back, s);
    }
    assert_string_equal(task_state_name(TS_DEP_FAILED), "dep_failed");
    task_state x;
    assert_int_equal(task_state_parse("done", &x), -1);
    assert_int_equal(task_state_parse(NULL, &x), -1);
}

static void terminal_and_active_states_partition_the_non_pending(void **state)
{
    assert_false(task_state_is_terminal(TS_PENDING));
    assert_false(task_state_is_active(TS_PENDING));
    task_state active[] = {TS_SUBMITTING, TS_SUBMITTED, TS_QUEUED, TS_RUNNING};
    task_state terminal[] = {TS_COMPLETED, TS_FAILED, TS_DEP_FAILED, TS_CANCELLED};
    for (int i = 0; i < 4; i++) {
        assert_true(task_state_is_active(active[i]));
        assert_false(task_state_is_terminal(active[i]));
        assert_true(task_state_is_terminal(terminal[i]));
        assert_false(task_state_is_active(terminal[i]));
    }
}

static void run_status_names_round_trip(void **state)
{
    for (int s = RS_PENDING; s <= RS_CANCELLED; s++) {
        run_status back;
        assert_int_equal(run_status_parse(run_status_name((run_status)s), &back), 0);
        assert_int_equal(back, s);
    }
    run_status x;
    assert_int_equal(run_status_parse("done", &x), -1);
    assert_true(run_status_is_terminal(RS_CANCELLED));
    assert_true(run_status_is_terminal(RS_FAILED));
    assert_true(run_status_is_terminal(RS_COMPLETED));
    assert_false(run_status_is_terminal(RS_RUNNING));
    assert_false(run_status_is_terminal(RS_PENDING));
}

/* ---- run status --------------------------------------------------------------- */

/* Run status of tasks given as "state" or "state<dep,dep>" (dep = index). */
typedef struct run_fixture {
    task_state states[16];
    uint32_t dep_store[16][4];
    const uint32_t *deps[16];
    uint32_t ndeps[16];
    size_t n;
} run_fixture;

static run_status status_of(bool cancel_requested, const char *const *specs)
{
    run_fixture f;
    memset(&f, 0, sizeof f);
    for (; *specs; specs++, f.n++) {
        char name[32];
        const char *lt = strchr(*specs, '<');
        size_t len = lt ? (size_t)(lt - *specs) : strlen(*specs);
        assert_true(len < sizeof name);
        memcpy(name, *specs, len);
        name[len] = '\0';
        if (task_state_parse(name, &f.states[f.n]) < 0)
            fail_msg("bad state '%s'", name);
        for (const char *p = lt; p && *p && *p != '>'; p++)
            if (*p >= '0' && *p <= '9')
                f.dep_store[f.n][f.ndeps[f.n]++] = (uint32_t)(*p - '0');
        f.deps[f.n] = f.dep_store[f.n];
    }
    return run_status_derive(f.n, f.states, f.deps, f.ndeps, cancel_requested);
}

#define STATUS(...) status_of(false, (const char *const[]){__VA_ARGS__, NULL})
#define STATUS_CANCEL_REQUESTED(...) status_of(true, (const char *const[]){__VA_ARGS__, NULL})

static void empty_run_is_completed(void **state)
{
    assert_int_equal(run_status_derive(0, NULL, NULL, NULL, false), RS_COMPLETED);
    assert_int_equal(run_status_derive(0, NULL, NULL, NULL, true), RS_COMPLETED);
}

/* spec §14.3 */
static void failed_with_blocked_pending_returns_failed(void **state)
{
    assert_int_equal(STATUS("failed", "pending<0>"), RS_FAILED);
}

static void failed_plus_independent_pending_stays_pending(void **state)
{
    assert_int_equal(STATUS("failed", "pending"), RS_PENDING);
}

static void dep_failed_cascade_returns_failed(void **state)
{
    assert_int_equal(STATUS("failed", "dep_failed<0>", "pending<1>"), RS_FAILED);
}

/* spec §3.3 */
static void failed_and_completed_only_is_failed(void **state)
{
    assert_int_equal(STATUS("completed", "failed", "dep_failed<1>"), RS_FAILED);
}

static void pending_blocked_only_transitively_keeps_run_pending(void **state)
{
    /* c waits on b, which is pending (not failed) */
    assert_int_equal(STATUS("failed", "pending<0>", "pending<1>"), RS_PENDING);
}

static void failure_with_work_in_flight_is_running(void **state)
{
    assert_int_equal(STATUS("failed", "running"), RS_RUNNING);
    assert_int_equal(STATUS("failed", "queued", "pending<0>"), RS_RUNNING);
}

static void all_completed_is_completed(void **state)
{
    assert_int_equal(STATUS("completed", "completed<0>"), RS_COMPLETED);
}

static void any_active_task_makes_the_run_running(void **state)
{
    assert_int_equal(STATUS("completed", "submitted", "pending<1>"), RS_RUNNING);
    assert_int_equal(STATUS("queued", "pending"), RS_RUNNING);
    assert_int_equal(STATUS("submitting"), RS_RUNNING);
}

static void nothing_started_is_pending(void **state)
{
    assert_int_equal(STATUS("pending", "pending<0>"), RS_PENDING);
    assert_int_equal(STATUS("completed", "pending<0>"), RS_PENDING);
}

/* cancelled (our addition) */
static void cancel_requested_with_tasks_still_active_is_running(void **state)
{
    assert_int_equal(STATUS_CANCEL_REQUESTED("cancelled", "running"), RS_RUNNING);
    assert_int_equal(STATUS_CANCEL_REQUESTED("submitting", "pending"), RS_RUNNING);
}

static void cancel_requested_and_nothing_active_is_cancelled(void **state)
{
    assert_int_equal(STATUS_CANCEL_REQUESTED("completed", "cancelled<0>"), RS_CANCELLED);
    assert_int_equal(STATUS_CANCEL_REQUESTED("completed", "failed", "cancelled"), RS_CANCELLED);
    assert_int_equal(STATUS_CANCEL_REQUESTED("pending", "pending"), RS_CANCELLED);
}

static void cancel_requested_after_everything_completed_stays_completed(void **state)
{
    assert_int_equal(STATUS_CANCEL_REQUESTED("completed", "completed"), RS_COMPLETED);
}

static void cancelled_task_without_cancel_request_counts_as_failed(void **state)
{
    assert_int_equal(STATUS("completed", "cancelled"), RS_FAILED);
    assert_int_equal(STATUS("cancelled", "pending<0>"), RS_FAILED);
    assert_int_equal(STATUS("cancelled", "pending"), RS_PENDING);
}

static void missing_dep_arrays_mean_no_deps(void **state)
{
    task_state s[] = {TS_FAILED, TS_PENDING};
    assert_int_equal(run_status_derive(2, s, NULL, NULL, false), RS_PENDING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_with_id_and_command_gets_every_default),
        cmocka_unit_test(name_defaults_to_id),
        cmocka_unit_test(every_field_is_read),
        cmocka_unit_test(deps_is_an_alias_of_dependencies),
        cmocka_unit_test(empty_or_null_optional_strings_mean_unset),
        cmocka_unit_test(empty_time_limit_means_no_limit),
        cmocka_unit_test(integral_real_counts_as_integer),
        cmocka_unit_test(empty_object_counts_as_empty_list),
        cmocka_unit_test(command_may_span_lines),
        cmocka_unit_test(cpus_must_be_a_positive_integer),
        cmocka_unit_test(retries_must_be_a_non_negative_integer),
        cmocka_unit_test(retry_delay_must_be_a_non_negative_number),
        cmocka_unit_test(string_fields_reject_other_types),
        cmocka_unit_test(single_line_fields_reject_newlines),
        cmocka_unit_test(time_limit_must_be_a_slurm_duration),
        cmocka_unit_test(long_offending_value_is_shortened),
        cmocka_unit_test(required_fields_are_named_when_missing),
        cmocka_unit_test(task_must_be_an_object),
        cmocka_unit_test(unknown_field_is_an_error_with_a_suggestion),
        cmocka_unit_test(legacy_environment_fields_are_rejected),
        cmocka_unit_test(deps_and_dependencies_together_are_ambiguous),
        cmocka_unit_test(deps_must_be_a_list_of_strings),
        cmocka_unit_test(where_prefixes_the_message),
        cmocka_unit_test(task_env_must_be_a_normalised_rule_list),
        cmocka_unit_test(to_json_uses_the_api_key_order),
        cmocka_unit_test(to_json_then_from_json_round_trips),
        cmocka_unit_test(bare_array_is_a_task_list_with_empty_env),
        cmocka_unit_test(object_carries_tasks_env_and_groups),
        cmocka_unit_test(null_env_and_groups_are_empty),
        cmocka_unit_test(other_shapes_are_rejected),
        cmocka_unit_test(unknown_top_level_key_is_rejected),
        cmocka_unit_test(first_bad_task_aborts_the_document_with_its_position),
        cmocka_unit_test(document_env_and_groups_must_be_normalised_rule_lists),
        cmocka_unit_test(task_state_names_round_trip),
        cmocka_unit_test(terminal_and_active_states_partition_the_non_pending),
        cmocka_unit_test(run_status_names_round_trip),
        cmocka_unit_test(empty_run_is_completed),
        cmocka_unit_test(failed_with_blocked_pending_returns_failed),
        cmocka_unit_test(failed_plus_independent_pending_stays_pending),
        cmocka_unit_test(dep_failed_cascade_returns_failed),
        cmocka_unit_test(failed_and_completed_only_is_failed),
        cmocka_unit_test(pending_blocked_only_transitively_keeps_run_pending),
        cmocka_unit_test(failure_with_work_in_flight_is_running),
        cmocka_unit_test(all_completed_is_completed),
        cmocka_unit_test(any_active_task_makes_the_run_running),
        cmocka_unit_test(nothing_started_is_pending),
        cmocka_unit_test(cancel_requested_with_tasks_still_active_is_running),
        cmocka_unit_test(cancel_requested_and_nothing_active_is_cancelled),
        cmocka_unit_test(cancel_requested_after_everything_completed_stays_completed),
        cmocka_unit_test(cancelled_task_without_cancel_request_counts_as_failed),
        cmocka_unit_test(missing_dep_arrays_mean_no_deps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* model.c - task states, run status, and the one validator for task
 * definitions and workflow documents (see model.h).
 *
 * Parsing rules shared by every field (docs/tasks.md is the user's version):
 *  - a JSON null is the same as an absent key, so a serialised task (which
 *    writes "partition": null) reads back unchanged;
 *  - an empty array and an empty object are interchangeable for list and map
 *    fields, because an empty Lua table converts to either;
 *  - single-line fields (everything but command) may not hold control
 *    characters: they end up in "#SBATCH --mem=..." style lines, where a
 *    newline would smuggle in a directive. */
#include "model/model.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"
#include "util/suggest.h"
#include "util/timeutil.h"

/* ---- task and run states ------------------------------------------------ */

static const char *const task_state_names[TS__COUNT] = {
    [TS_PENDING] = "pending", [TS_SUBMITTING] = "submitting", [TS_SUBMITTED] = "submitted",
    [TS_QUEUED] = "queued",   [TS_RUNNING] = "running",       [TS_COMPLETED] = "completed",
    [TS_FAILED] = "failed",   [TS_DEP_FAILED] = "dep_failed", [TS_CANCELLED] = "cancelled",
};

#define RS__COUNT (RS_CANCELLED + 1)
static const char *const run_status_names[RS__COUNT] = {
    [RS_PENDING] = "pending", [RS_RUNNING] = "running",     [RS_COMPLETED] = "completed",
    [RS_FAILED] = "failed",   [RS_CANCELLED] = "cancelled",
};

static int parse_name(const char *const *names, int count, const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

const char *task_state_name(task_state s)
{
    return (unsigned)s < TS__COUNT ? task_state_names[s] : "unknown";
}

int task_state_parse(const char *name, task_state *out)
{
    int i = parse_name(task_state_names, TS__COUNT, name);
    if (i < 0)
        return -1;
    *out = (task_state)i;
    return 0;
}

bool task_state_is_terminal(task_state s)
{
    return s == TS_COMPLETED || s == TS_FAILED || s == TS_DEP_FAILED || s == TS_CANCELLED;
}

bool task_state_is_active(task_state s)
{
    return s == TS_SUBMITTING || s == TS_SUBMITTED || s == TS_QUEUED || s == TS_RUNNING;
}

const char *run_status_name(run_status s)
{
    return (unsigned)s < RS__COUNT ? run_status_names[s] : "unknown";
}

int run_status_parse(const char *name, run_status *out)
{
    int i = parse_name(run_status_names, RS__COUNT, name);
    if (i < 0)
        return -1;
    *out = (run_status)i;
    return 0;
}

bool run_status_is_terminal(run_status s)
{
    return s == RS_COMPLETED || s == RS_FAILED || s == RS_CANCELLED;
}

/* ---- run status --------------------------------------------------------- */

/* failed, dep_failed and cancelled all mean "this task will not complete
 * without a rerun": they block dependants the same way. */
static bool state_is_failure(task_state s)
{
    return s == TS_FAILED || s == TS_DEP_FAILED || s == TS_CANCELLED;
}

static bool pending_task_is_blocked(size_t i, size_t n, const task_state *states,
                                    const uint32_t *const *deps, const uint32_t *ndeps)
{
    if (!deps || !ndeps || !deps[i])
        return false;
    for (uint32_t k = 0; k < ndeps[i]; k++) {
        uint32_t d = deps[i][k];
        if (d < n && state_is_failure(states[d]))
            return true;
    }
    return false;
}

static bool every_pending_task_is_blocked(size_t n, const task_state *states,
                                          const uint32_t *const *deps, const uint32_t *ndeps)
{
    for (size_t i = 0; i < n; i++)
        if (states[i] == TS_PENDING && !pending_task_is_blocked(i, n, states, deps, ndeps))
            return false;
    return true;
}

/* The original's rules (spec/original-engine.md §3.3) with two changes:
 *
 *  1. A cancel request decides the outcome once nothing is in flight: while a
 *     task is still active (submitting/submitted/queued/running) the run is
 *     `running`; afterwards it is `cancelled` whatever mix of completed,
 *     failed, cancelled or never-started pending tasks remains - except when
 *     every task completed, because then the cancel changed nothing and the
 *     run is `completed`.
 *
 *  2. Without a cancel request, a cancelled task counts exactly like a failed
 *     one: a run whose tasks are all completed/failed/dep_failed/cancelled,
 *     with at least one of the last three, is `failed`; a pending task whose
 *     direct dependency is cancelled is blocked.
 *
 * Everything else is the original: no tasks -> completed; any failure and
 * every pending task blocked by a direct dependency -> failed; all completed
 * -> completed; anything active -> running; otherwise pending. */
run_status run_status_derive(size_t n, const task_state *states, const uint32_t *const *deps,
                             const uint32_t *ndeps, bool cancel_requested)
{
    if (n == 0)
        return RS_COMPLETED;
    size_t count[TS__COUNT] = {0};
    for (size_t i = 0; i < n; i++)
        if ((unsigned)states[i] < TS__COUNT)
            count[states[i]]++;
    size_t active =
        count[TS_SUBMITTING] + count[TS_SUBMITTED] + count[TS_QUEUED] + count[TS_RUNNING];
    size_t failures = count[TS_FAILED] + count[TS_DEP_FAILED] + count[TS_CANCELLED];
    size_t completed = count[TS_COMPLETED];

    if (cancel_requested) {
        if (active)
            return RS_RUNNING;
        return completed == n ? RS_COMPLETED : RS_CANCELLED;
    }
    if (failures) {
        if (failures + completed == n)
            return RS_FAILED;
        if (failures + completed + count[TS_PENDING] == n &&
            every_pending_task_is_blocked(n, states, deps, ndeps))
            return RS_FAILED;
    }
    if (completed == n)
        return RS_COMPLETED;
    return active ? RS_RUNNING : RS_PENDING;
}

/* ---- error helpers ------------------------------------------------------ */

/* A compact, bounded rendering of a JSON value for error messages:
 * "x", 3, [1,2], {"a":1}; long values end in "...". */
static void json_describe(const json_t *v, char *buf, size_t size)
{
    if (!v) {
        snprintf(buf, size, "nothing");
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        snprintf(buf, size, "an unprintable value");
        return;
    }
    if (strlen(s) >= size && size > 4)
        snprintf(buf, size, "%.*s...", (int)(size - 4), s);
    else
        snprintf(buf, size, "%s", s);
    free(s);
}

/* Who is being validated: the source ("workflow.json: tasks[2]", may be NULL)
 * and the task id once known ("?" before). */
typedef struct parse_ctx {
    const char *where;
    const char *id;
    sh_err *e;
} parse_ctx;

static int task_error(const parse_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int task_error(const parse_ctx *c, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->where && *c->where)
        return sh_err_set(c->e, SH_EINVAL, "%s: Task '%s': %s", c->where, c->id, msg);
    return sh_err_set(c->e, SH_EINVAL, "Task '%s': %s", c->id, msg);
}

/* "must be X, got <value>" for a field of the current task. */
static int type_error(const parse_ctx *c, const char *field, const char *expected, const json_t *v)
{
    char got[96];
    json_describe(v, got, sizeof got);
    return task_error(c, "%s must be %s, got %s", field, expected, got);
}

static bool has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

static bool json_is_empty_container(const json_t *v)
{
    return (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

/* ---- task fields -------------------------------------------------------- */

static const char *const task_fields[] = {
    "id",         "name",       "command", "working_dir",  "partition",        "cpus",
    "memory",     "time_limit", "deps",    "dependencies", "generates_source", "output_file",
    "error_file", "env",        "gres",    "image",        "retries",          "retry_delay",
};
#define N_TASK_FIELDS (sizeof task_fields / sizeof task_fields[0])

static const char *closest_task_field(const char *key)
{
    return suggest_closest(key, task_fields, N_TASK_FIELDS);
}

static bool is_task_field(const char *key)
{
    for (size_t i = 0; i < N_TASK_FIELDS; i++)
        if (strcmp(key, task_fields[i]) == 0)
            return true;
    return false;
}

static int check_unknown_fields(const parse_ctx *c, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (is_task_field(key))
            continue;
        const char *hint = closest_task_field(key);
        if (hint)
            return task_error(c, "unknown field '%s' (did you mean '%s'?)", key, hint);
        return task_error(c, "unknown field '%s'", key);
    }
    return 0;
}

/* A single-line string with a default: absent/null -> default; otherwise a
 * non-empty string. */
static int field_string(const parse_ctx *c, json_t *obj, const char *key, const char *def,
                        char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = xstrdup(def);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return type_error(c, key, "a non-empty string", v);
    if (has_control_chars(json_string_value(v)))
        return type_error(c, key, "a single line without control characters", v);
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* An optional single-line string: absent, null or "" -> NULL (unset). */
static int field_optional_string(const parse_ctx *c, json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return type_error(c, key, "a string or null", v);
    if (has_control_chars(json_string_value(v)))
        return type_error(c, key, "a single line without control characters", v);
    if (json_string_length(v) > 0)
        *out = xstrdup(json_string_value(v));
    return 0;
}

/* An integer >= min; an integral real (2.0, from Lua arithmetic) is accepted. */
static int field_int(const parse_ctx *c, json_t *obj, const char *key, int def, int min, int *out)
{
    const char *expected = min > 0 ? "a positive integer" : "a non-negative integer";
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    double x;
    if (json_is_integer(v))
        x = (double)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
        x = json_real_value(v);
    else
        return type_error(c, key, expected, v);
    if (x < min || x > INT_MAX)
        return type_error(c, key, expected, v);
    *out = (int)x;
    return 0;
}

static int field_seconds(const parse_ctx *c, json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    double x = json_number_value(v);
    if (!json_is_number(v) || !isfinite(x) || x < 0)
        return type_error(c, key, "a non-negative number of seconds", v);
    *out = x;
    return 0;
}

/* "" (and "0") mean no limit; otherwise one of Slurm's duration forms. */
static int field_time_limit(const parse_ctx *c, json_t *obj, char **out)
{
    json_t *v = json_object_get(obj, "time_limit");
    if (!v || json_is_null(v)) {
        *out = xstrdup("1:00:00");
        return 0;
    }
    int64_t secs;
    if (!json_is_string(v) ||
        (json_string_length(v) > 0 && time_parse_duration(json_string_value(v), &secs) < 0))
        return type_error(c, "time_limit",
                          "a duration (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS) or \"\"",
                          v);
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* `deps` and `dependencies` are aliases; giving both is ambiguous. */
static int field_deps(const parse_ctx *c, json_t *obj, task_def *t)
{
    json_t *deps = json_object_get(obj, "deps");
    json_t *dependencies = json_object_get(obj, "dependencies");
    if (deps && dependencies)
        return task_error(c, "both 'deps' and 'dependencies' given; use one of them");
    const char *key = deps ? "deps" : "dependencies";
    json_t *v = deps ? deps : dependencies;
    if (!v || json_is_null(v) || json_is_empty_container(v))
        return 0;
    if (!json_is_array(v))
        return type_error(c, key, "a list of task ids", v);
    size_t i;
    json_t *d;
    json_array_foreach(v, i, d)
    {
        if (!json_is_string(d) || json_string_length(d) == 0) {
            char field[48];
            snprintf(field, sizeof field, "%s[%zu]", key, i + 1);
            return type_error(c, field, "a non-empty string", d);
        }
    }
    t->ndeps = json_array_size(v);
    t->deps = xcalloc(t->ndeps, sizeof *t->deps);
    json_array_foreach(v, i, d) t->deps[i] = xstrdup(json_string_value(d));
    return 0;
}

/* A list of rule objects as the env rules' owner (lua/scripthut/env.lua,
 * asked through the host before C parses a document) normalised them, or
 * none.  Their content is not checked again here. */
static bool is_rule_list(const json_t *v)
{
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *rule;
    json_array_foreach(v, i, rule) if (!json_is_object(rule)) return false;
    return true;
}

static int field_env(const parse_ctx *c, json_t *obj, task_def *t)
{
    json_t *v = json_object_get(obj, "env");
    if (!v || json_is_null(v) || json_is_empty_container(v)) {
        t->env = json_array();
        return 0;
    }
    if (!is_rule_list(v))
        return type_error(c, "env", "a list of normalised env rules", v);
    t->env = json_incref(v);
    return 0;
}

static int field_id(parse_ctx *c, json_t *obj, task_def *t)
{
    json_t *v = json_object_get(obj, "id");
    if (!v)
        return task_error(c, "missing required field 'id'");
    if (!json_is_string(v) || json_string_length(v) == 0)
        return type_error(c, "id", "a non-empty string", v);
    if (has_control_chars(json_string_value(v)))
        return type_error(c, "id", "a single line without control characters", v);
    t->id = xstrdup(json_string_value(v));
    c->id = t->id;
    return 0;
}

static int field_command(const parse_ctx *c, json_t *obj, task_def *t)
{
    json_t *v = json_object_get(obj, "command");
    if (!v)
        return task_error(c, "missing required field 'command'");
    if (!json_is_string(v))
        return type_error(c, "command", "a string", v);
    t->command = xstrdup(json_string_value(v));
    return 0;
}

/* Reads every field after id; stops at the first error. */
static int task_fields_parse(const parse_ctx *c, json_t *obj, task_def *t)
{
    if (field_command(c, obj, t) < 0 || field_string(c, obj, "name", t->id, &t->name) < 0 ||
        field_string(c, obj, "working_dir", "~", &t->working_dir) < 0 ||
        field_optional_string(c, obj, "partition", &t->partition) < 0 ||
        field_int(c, obj, "cpus", 1, 1, &t->cpus) < 0 ||
        field_string(c, obj, "memory", "4G", &t->memory) < 0 ||
        field_time_limit(c, obj, &t->time_limit) < 0 || field_deps(c, obj, t) < 0 ||
        field_optional_string(c, obj, "generates_source", &t->generates_source) < 0 ||
        field_optional_string(c, obj, "output_file", &t->output_file) < 0 ||
        field_optional_string(c, obj, "error_file", &t->error_file) < 0 ||
        field_env(c, obj, t) < 0 || field_optional_string(c, obj, "gres", &t->gres) < 0 ||
        field_optional_string(c, obj, "image", &t->image) < 0 ||
        field_int(c, obj, "retries", 0, 0, &t->retries) < 0 ||
        field_seconds(c, obj, "retry_delay", &t->retry_delay) < 0)
        return -1;
    return 0;
}

int task_def_from_json(json_t *obj, const char *where, task_def *out, sh_err *e)
{
    parse_ctx c = {where, "?", e};
    if (!json_is_object(obj)) {
        char got[96];
        json_describe(obj, got, sizeof got);
        if (where && *where)
            return sh_err_set(e, SH_EINVAL, "%s: a task must be a JSON object, got %s", where, got);
        return sh_err_set(e, SH_EINVAL, "a task must be a JSON object, got %s", got);
    }
    json_t *id = json_object_get(obj, "id");
    if (json_is_string(id) && json_string_length(id) > 0 &&
        !has_control_chars(json_string_value(id)))
        c.id = json_string_value(id);
    if (json_object_get(obj, "environment") || json_object_get(obj, "env_vars"))
        return task_error(&c, "legacy 'environment' / 'env_vars' fields are no longer supported. "
                              "Use the 'env' rule list instead (see scripthut docs on env "
                              "resolution).");
    task_def t;
    memset(&t, 0, sizeof t);
    if (field_id(&c, obj, &t) < 0 || check_unknown_fields(&c, obj) < 0 ||
        task_fields_parse(&c, obj, &t) < 0) {
        task_def_free(&t);
        return -1;
    }
    *out = t;
    return 0;
}

static json_t *json_string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *task_def_to_json(const task_def *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "name", json_string(t->name ? t->name : t->id));
    json_object_set_new(o, "command", json_string(t->command ? t->command : ""));
    json_object_set_new(o, "working_dir", json_string_or_null(t->working_dir));
    json_object_set_new(o, "partition", json_string_or_null(t->partition));
    json_object_set_new(o, "cpus", json_integer(t->cpus));
    json_object_set_new(o, "memory", json_string_or_null(t->memory));
    json_object_set_new(o, "time_limit", json_string_or_null(t->time_limit));
    json_t *deps = json_array();
    for (size_t i = 0; i < t->ndeps; i++)
        json_array_append_new(deps, json_string(t->deps[i]));
    json_object_set_new(o, "dependencies", deps);
    json_object_set_new(o, "generates_source", json_string_or_null(t->generates_source));
    json_object_set_new(o, "output_file", json_string_or_null(t->output_file));
    json_object_set_new(o, "error_file", json_string_or_null(t->error_file));
    json_object_set_new(o, "env", t->env ? json_deep_copy(t->env) : json_array());
    json_object_set_new(o, "gres", json_string_or_null(t->gres));
    json_object_set_new(o, "image", json_string_or_null(t->image));
    json_object_set_new(o, "retries", json_integer(t->retries));
    json_object_set_new(o, "retry_delay", json_real(t->retry_delay));
    return o;
}

void task_def_free(task_def *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->name);
    free(t->command);
    free(t->working_dir);
    free(t->partition);
    free(t->memory);
    free(t->time_limit);
    for (size_t i = 0; i < t->ndeps; i++)
        free(t->deps[i]);
    free(t->deps);
    free(t->generates_source);
    free(t->output_file);
    free(t->error_file);
    json_decref(t->env);
    free(t->gres);
    free(t->image);
    memset(t, 0, sizeof *t);
}

void task_def_free_array(task_def *tasks, size_t n)
{
    if (!tasks)
        return;
    for (size_t i = 0; i < n; i++)
        task_def_free(&tasks[i]);
    free(tasks);
}

/* ---- workflow documents ------------------------------------------------- */

static int parse_task_array(json_t *arr, const char *where, task_def **tasks, size_t *ntasks,
                            sh_err *e)
{
    size_t n = json_array_size(arr);
    task_def *out = xcalloc(n, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        char task_where[512];
        snprintf(task_where, sizeof task_where, "%s%stasks[%zu]", where ? where : "",
                 where && *where ? ": " : "", i + 1);
        if (task_def_from_json(json_array_get(arr, i), task_where, &out[i], e) < 0) {
            task_def_free_array(out, i);
            return -1;
        }
    }
    *tasks = out;
    *ntasks = n;
    return 0;
}

static int doc_error(sh_err *e, const char *where, const char *msg)
{
    if (where && *where)
        return sh_err_set(e, SH_EINVAL, "%s: %s", where, msg);
    return sh_err_set(e, SH_EINVAL, "%s", msg);
}

static int check_doc_keys(json_t *doc, const char *where, sh_err *e)
{
    static const char *const known[] = {"tasks", "env", "env_groups", "title", "description"};
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "unknown top-level key '%.100s' (expected tasks, env, env_groups, title, "
                     "description)",
                     key);
            return doc_error(e, where, msg);
        }
    }
    return 0;
}

/* The document's env: a normalised rule list, or none. */
static int parse_doc_env(json_t *env, const char *where, json_t **out, sh_err *e)
{
    *out = NULL;
    if (!env || json_is_null(env) || json_is_empty_container(env)) {
        *out = json_array();
        return 0;
    }
    if (!is_rule_list(env))
        return doc_error(e, where, "'env' must be a list of normalised env rules");
    *out = json_incref(env);
    return 0;
}

/* env_groups: name -> normalised rule list. */
static int parse_env_groups(json_t *groups, const char *where, json_t **out, sh_err *e)
{
    *out = NULL;
    if (!groups || json_is_null(groups) || json_is_empty_container(groups)) {
        *out = json_object();
        return 0;
    }
    const char *name;
    json_t *rules;
    bool ok = json_is_object(groups);
    json_object_foreach(groups, name, rules) ok = ok && is_rule_list(rules);
    if (!ok)
        return doc_error(e, where,
                         "'env_groups' must be an object of name -> normalised env rule list");
    *out = json_incref(groups);
    return 0;
}

int workflow_doc_parse(json_t *doc, const char *where, task_def **tasks, size_t *ntasks,
                       json_t **doc_env, json_t **doc_groups, sh_err *e)
{
    json_t *task_list = doc, *env = NULL, *groups = NULL;
    if (json_is_object(doc)) {
        task_list = json_object_get(doc, "tasks");
        if (!task_list)
            return doc_error(e, where, "JSON must be a list or an object with a 'tasks' key");
        if (!json_is_array(task_list))
            return doc_error(e, where, "'tasks' must be a list of task objects");
        if (check_doc_keys(doc, where, e) < 0)
            return -1;
        env = json_object_get(doc, "env");
        groups = json_object_get(doc, "env_groups");
    } else if (!json_is_array(doc)) {
        return doc_error(e, where, "JSON must be a list or an object with a 'tasks' key");
    }

    json_t *norm_env, *norm_groups;
    if (parse_doc_env(env, where, &norm_env, e) < 0)
        return -1;
    if (parse_env_groups(groups, where, &norm_groups, e) < 0) {
        json_decref(norm_env);
        return -1;
    }
    task_def *parsed;
    size_t n;
    if (parse_task_array(task_list, where, &parsed, &n, e) < 0) {
        json_decref(norm_env);
        json_decref(norm_groups);
        return -1;
    }
    *tasks = parsed;
    *ntasks = n;
    *doc_env = norm_env;
    *doc_groups = norm_groups;
    return 0;
}

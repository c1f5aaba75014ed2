/* service_stacks.c - stack operations (docs/stacks.md, DESIGN §7).
 *
 * Install is an ordinary run: one task, install-<hash8>, whose command is the
 * script of lua/scripthut/stack.lua, submitted through svc_submit so that
 * watch, logs, cancel and rerun work unchanged.  check, delete and gc are
 * direct commands on the backend's machine through its transport (the
 * scripts travel on stdin to `sh -s`).
 *
 * Tasks that use stacks: at submission, each stack a run's env rules name is
 * checked on the run's backend, and a stack that is not ready gets an install
 * task in front of the tasks that use it, in the same run
 * (svc_stack_add_installs). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/service.h"
#include "core/service_internal.h"
#include "model/stack.h"
#include "core/store.h"
#include "lua/host.h"
#include "transport/transport.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define STACK_CHECK_TIMEOUT_MS 15000
#define STACK_REMOVE_TIMEOUT_MS 60000
#define STACK_RUN_PREFIX "_stack/"
#define STACK_TASK_PREFIX "install-"

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* --- lookups ------------------------------------------------------------------ */

static json_t *stacks_of(svc *s)
{
    return json_object_get(s->config, "stacks");
}

static json_t *find_stack(svc *s, const char *name, sh_err *e)
{
    json_t *st = svc_find_named(stacks_of(s), name);
    if (st)
        return st;
    char *known = svc_known_names(stacks_of(s));
    sh_err_set(e, SH_ENOTFOUND, "Stack '%s' not found (known stacks: %s)", name, known);
    free(known);
    return NULL;
}

/* The name becomes a directory under cache_dir and part of a run label. */
static int check_stack_name(const char *name, sh_err *e)
{
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/') ||
        strchr(name, '\n'))
        return sh_err_set(e, SH_EINVAL,
                          "Stack '%s': the name is a directory under cache_dir, so it cannot be "
                          "empty, '.', '..' or contain '/' or a newline; rename the stack",
                          name);
    return 0;
}

/* Recomputes the hash now (input files may have changed since the config
 * was loaded) and warns about missing input files. */
static const char *refresh_hash(json_t *stack)
{
    json_t *one = json_pack("[O]", stack);
    stack_hash_all(one, true);
    json_decref(one);
    return jstr(stack, "hash");
}

static bool stack_lists_backend(json_t *stack, const char *backend_name)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(stack, "backends"), i, b)
    {
        if (!strcmp(json_string_value(b) ? json_string_value(b) : "", backend_name))
            return true;
    }
    return false;
}

/* A backend with a machine to run commands on, or NULL with e set. */
static backend *open_machine(svc *s, const char *name, sh_err *e)
{
    json_t *bcfg = svc_find_backend(s, name, e);
    if (!bcfg)
        return NULL;
    sh_err be = SH_ERR_INIT;
    backend *b = backend_create(name, bcfg, s->data_dir, &be);
    if (!b) {
        sh_err_set(e, SH_EUNAVAIL, "Backend '%s' is not available: %s", name, be.msg);
        return NULL;
    }
    if (!backend_transport(b)) {
        sh_err_set(e, SH_EUNAVAIL,
                   "Backend '%s' (%s) is not available for stacks: it has no machine to hold "
                   "them; pick a local, slurm or pbs backend",
                   name, jstr(bcfg, "type"));
        backend_destroy(b);
        return NULL;
    }
    return b;
}

/* Renders scripthut.stack[fn](stack [, extra]) and runs it with sh -s. */
static int run_stack_script(svc *s, backend *b, const char *fn, json_t *stack, json_t *extra,
                            int timeout_ms, exec_result *r, sh_err *e)
{
    json_t *args = extra ? json_pack("[O,O]", stack, extra) : json_pack("[O]", stack);
    char *script = NULL;
    int rc = host_stack_script(s->host, fn, args, &script, e);
    json_decref(args);
    if (rc < 0)
        return -1;
    rc = transport_exec(backend_transport(b), "sh -s", script, strlen(script), timeout_ms, r, e);
    free(script);
    return rc;
}

/* stderr, else stdout, else "exit N": what went wrong, trimmed. */
static char *exec_failure(const exec_result *r)
{
    const char *text = r->err_len ? r->err : r->out;
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    if (r->timed_out)
        return xstrdup("timed out");
    if (n)
        return xstrndup(text, n);
    if (r->term_signal)
        return xasprintf("killed by signal %d", r->term_signal);
    return xasprintf("exit %d", r->exit_status);
}

/* --- check ---------------------------------------------------------------------- */

/* The status of a check that did not get an answer from the machine. */
static json_t *check_failed(const char *name, const char *backend_name, const char *hash,
                            const char *why)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:n,s:n,s:n,s:b,s:n,s:s}", "name", name, "backend",
                     backend_name, "state", "missing", "hash", hash, "path", "last_built",
                     "size_bytes", "locked", 0, "lock_holder", "error", why);
}

/* Status object of spec/original-cli-api.md §7.6 (plus lock_holder): the
 * check script of lua/scripthut/stack.lua runs on the machine and its
 * parse_check reads the output; here it is only carried there and back.  A
 * check that could not run or did not finish (a transport error, a timeout,
 * a signal) is reported as missing with the reason. */
static json_t *check_one(svc *s, backend *b, json_t *stack, char **note)
{
    const char *name = jstr(stack, "name"), *hash = jstr(stack, "hash");
    exec_result r;
    sh_err e = SH_ERR_INIT;
    if (run_stack_script(s, b, "check_script", stack, NULL, STACK_CHECK_TIMEOUT_MS, &r, &e) < 0)
        return check_failed(name, b->name, hash, e.msg);
    json_t *parsed = NULL;
    if (r.timed_out || r.term_signal) {
        char *why = exec_failure(&r);
        sh_err_set(&e, SH_EUNAVAIL, "%s", why);
        free(why);
    } else {
        host_stack_parse_check(s->host, stack, r.out, r.out_len, r.err, r.err_len, r.exit_status,
                               &parsed, &e);
    }
    exec_result_free(&r);
    if (!parsed)
        return check_failed(name, b->name, hash, e.msg);
    json_t *st = json_pack("{s:s,s:s}", "name", name, "backend", b->name);
    json_object_update_missing(st, parsed);
    json_decref(parsed);
    bool locked = json_is_true(json_object_get(st, "locked"));
    if (!strcmp(jstr(st, "state"), "installing"))
        *note = xstrdup(locked ? "an install holds the lock: in progress"
                               : "Cache directory exists but .ready sentinel is missing");
    return st;
}

static json_t *row(const char *stack, const char *backend_name, json_t *status, const char *note)
{
    return json_pack("{s:s,s:s,s:o,s:s?}", "stack", stack, "backend",
                     backend_name ? backend_name : "-", "status", status ? status : json_null(),
                     "note", note);
}

/* The backends a stack command acts on (spec/original-cli-api.md §5.16b,
 * with "has a machine" in place of "is SSH"): --backend, else the stack's
 * list, else every configured backend with a machine.  Selection errors
 * become rows with a note. */
static json_t *select_backends(svc *s, json_t *stack, const char *only, json_t *rows)
{
    json_t *names = json_array();
    const char *sname = jstr(stack, "name");
    if (only) {
        json_array_append_new(names, json_string(only));
        return names;
    }
    json_t *listed = json_object_get(stack, "backends");
    size_t i;
    json_t *v;
    if (json_array_size(listed) > 0) {
        json_array_foreach(listed, i, v)
        {
            const char *b = json_string_value(v);
            if (svc_find_named(json_object_get(s->config, "backends"), b)) {
                json_array_append(names, v);
            } else {
                char *note = xasprintf("Stack '%s' references backend '%s', which is not in "
                                       "the config",
                                       sname, b);
                json_array_append_new(rows, row(sname, b, NULL, note));
                free(note);
            }
        }
        return names;
    }
    json_array_foreach(json_object_get(s->config, "backends"), i, v)
    {
        const char *type = jstr(v, "type");
        if (type && strcmp(type, "noop") != 0)
            json_array_append(names, json_object_get(v, "name"));
    }
    if (json_array_size(names) == 0)
        json_array_append_new(rows, row(sname, NULL, NULL, "no backend with a machine matched"));
    return names;
}

/* Stacks to act on: the named one (404 listing the known ones) or all. */
static json_t *select_stacks(svc *s, const char *name, sh_err *e)
{
    if (!name)
        return json_incref(stacks_of(s) ? stacks_of(s) : json_array());
    json_t *st = find_stack(s, name, e);
    if (!st || check_stack_name(name, e) < 0)
        return NULL;
    return json_pack("[O]", st);
}

/* Runs `each` for every (stack, backend) pair; rows collect the results. */
typedef void (*stack_action)(svc *s, backend *b, json_t *stack, void *arg, json_t *rows);

static int for_each_target(svc *s, const char *name, const char *only, stack_action each, void *arg,
                           json_t *rows, sh_err *e)
{
    json_t *stacks = select_stacks(s, name, e);
    if (!stacks)
        return -1;
    size_t i, j;
    json_t *st, *bn;
    json_array_foreach(stacks, i, st)
    {
        const char *sname = jstr(st, "name");
        sh_err ne = SH_ERR_INIT;
        if (check_stack_name(sname, &ne) < 0) {
            json_array_append_new(rows, row(sname, only, NULL, ne.msg));
            continue;
        }
        refresh_hash(st);
        json_t *names = select_backends(s, st, only, rows);
        json_array_foreach(names, j, bn)
        {
            sh_err be = SH_ERR_INIT;
            backend *b = open_machine(s, json_string_value(bn), &be);
            if (!b) {
                json_array_append_new(rows, row(sname, json_string_value(bn), NULL, be.msg));
                continue;
            }
            each(s, b, st, arg, rows);
            backend_destroy(b);
        }
        json_decref(names);
    }
    json_decref(stacks);
    return 0;
}

static void check_action(svc *s, backend *b, json_t *stack, void *arg, json_t *rows)
{
    (void)arg;
    char *note = NULL;
    json_t *st = check_one(s, b, stack, &note);
    json_array_append_new(rows,
                          row(jstr(stack, "name"), b->name, st, note ? note : jstr(st, "error")));
    free(note);
}

int svc_stack_list(svc *s, json_t **out, sh_err *e)
{
    (void)e;
    json_t *list = json_deep_copy(stacks_of(s) ? stacks_of(s) : json_array());
    stack_hash_all(list, true);
    *out = json_pack("{s:o}", "stacks", list);
    return 0;
}

int svc_stack_check(svc *s, const char *name, const char *backend_name, json_t **out, sh_err *e)
{
    json_t *rows = json_array();
    if (for_each_target(s, name, backend_name, check_action, NULL, rows, e) < 0) {
        json_decref(rows);
        return svc_done(s, -1);
    }
    *out = json_pack("{s:o}", "checks", rows);
    return svc_done(s, 0);
}

/* One stack on one backend: the status object itself (the original's shape
 * of GET /stacks/{name}/check?backend=B) with a "note"; errors keep their
 * status (unknown stack 404, unknown backend 422, no machine 503). */
int svc_stack_check_on(svc *s, const char *name, const char *backend_name, json_t **out, sh_err *e)
{
    json_t *stack = find_stack(s, name, e);
    if (!stack || check_stack_name(name, e) < 0)
        return svc_done(s, -1);
    backend *b = open_machine(s, backend_name, e);
    if (!b)
        return svc_done(s, -1);
    refresh_hash(stack);
    char *note = NULL;
    json_t *st = check_one(s, b, stack, &note);
    backend_destroy(b);
    const char *why = note ? note : jstr(st, "error");
    json_object_set_new(st, "note", why ? json_string(why) : json_null());
    free(note);
    *out = st;
    return svc_done(s, 0);
}

/* --- delete -------------------------------------------------------------------- */

static void delete_action(svc *s, backend *b, json_t *stack, void *arg, json_t *rows)
{
    (void)arg;
    const char *name = jstr(stack, "name");
    exec_result r;
    sh_err e = SH_ERR_INIT;
    char *note = NULL;
    if (run_stack_script(s, b, "delete_script", stack, NULL, STACK_REMOVE_TIMEOUT_MS, &r, &e) < 0) {
        note = xasprintf("Failed to delete stack '%s' on '%s': %s", name, b->name, e.msg);
    } else {
        if (r.exit_status != 0) {
            char *why = exec_failure(&r);
            note = xasprintf("Failed to delete stack '%s' on '%s': %s", name, b->name, why);
            free(why);
        }
        exec_result_free(&r);
    }
    char *check_note = NULL;
    json_t *st = check_one(s, b, stack, &check_note);
    json_array_append_new(rows, row(name, b->name, st, note));
    free(check_note);
    free(note);
}

int svc_stack_delete(svc *s, const char *name, const char *backend_name, json_t **out, sh_err *e)
{
    json_t *rows = json_array();
    if (for_each_target(s, name, backend_name, delete_action, NULL, rows, e) < 0) {
        json_decref(rows);
        return svc_done(s, -1);
    }
    *out = json_pack("{s:o}", "deleted", rows);
    return svc_done(s, 0);
}

int svc_stack_delete_on(svc *s, const char *name, const char *backend_name, json_t **out, sh_err *e)
{
    json_t *stack = find_stack(s, name, e);
    if (!stack || check_stack_name(name, e) < 0)
        return svc_done(s, -1);
    backend *b = open_machine(s, backend_name, e);
    if (!b)
        return svc_done(s, -1);
    refresh_hash(stack);
    json_t *rows = json_array();
    delete_action(s, b, stack, NULL, rows);
    backend_destroy(b);
    const char *note = jstr(json_array_get(rows, 0), "note");
    if (note) {
        sh_err_set(e, SH_EINTERNAL, "%s", note);
        json_decref(rows);
        return svc_done(s, -1);
    }
    *out = json_pack("{s:s,s:s,s:o}", "name", name, "backend", backend_name, "deleted", rows);
    return svc_done(s, 0);
}

/* --- gc ------------------------------------------------------------------------- */

typedef struct gc_ctx {
    bool dry_run;
    json_t *active; /* [{"run_id","backend","stacks": {name: stack}}] of active runs */
} gc_ctx;

static bool is_hash_name(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == STACK_HASH_LEN && s[n] == '\0';
}

static char *next_line(char **p)
{
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    return line;
}

/* The id of an active run on this backend whose context uses this hash. */
static const char *hash_in_use(gc_ctx *g, const char *backend_name, const char *stack,
                               const char *hash)
{
    size_t i;
    json_t *run;
    json_array_foreach(g->active, i, run)
    {
        if (strcmp(jstr(run, "backend"), backend_name) != 0)
            continue;
        json_t *st = json_object_get(json_object_get(run, "stacks"), stack);
        if (jstr(st, "hash") && !strcmp(jstr(st, "hash"), hash))
            return jstr(run, "run_id");
    }
    return NULL;
}

static void gc_action(svc *s, backend *b, json_t *stack, void *arg, json_t *rows)
{
    gc_ctx *g = arg;
    const char *name = jstr(stack, "name"), *current = jstr(stack, "hash");
    exec_result r;
    sh_err e = SH_ERR_INIT;
    if (run_stack_script(s, b, "list_script", stack, NULL, STACK_CHECK_TIMEOUT_MS, &r, &e) < 0) {
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:s}", "stack", name, "backend", b->name, "note", e.msg));
        return;
    }
    if (r.exit_status != 0) {
        char *why = exec_failure(&r);
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:s}", "stack", name, "backend", b->name, "note", why));
        free(why);
        exec_result_free(&r);
        return;
    }
    json_t *doomed = json_array();
    char *p = r.out;
    while (*p) {
        const char *entry = next_line(&p);
        if (!is_hash_name(entry))
            continue; /* locks and anything that is not ours stay */
        const char *user = hash_in_use(g, b->name, name, entry);
        const char *action = !strcmp(entry, current) || user ? "kept"
                             : g->dry_run                    ? "would remove"
                                                             : "removed";
        json_t *item = json_pack("{s:s,s:s,s:s,s:s}", "stack", name, "backend", b->name, "hash",
                                 entry, "action", action);
        if (!strcmp(entry, current))
            json_object_set_new(item, "reason", json_string("current"));
        else if (user)
            json_object_set_new(item, "reason", json_sprintf("used by active run %s", user));
        else
            json_array_append_new(doomed, json_string(entry));
        json_array_append_new(rows, item);
    }
    exec_result_free(&r);
    if (!g->dry_run && json_array_size(doomed) > 0) {
        if (run_stack_script(s, b, "remove_script", stack, doomed, STACK_REMOVE_TIMEOUT_MS, &r,
                             &e) < 0) {
            json_array_append_new(
                rows, json_pack("{s:s,s:s,s:s}", "stack", name, "backend", b->name, "note", e.msg));
        } else {
            if (r.exit_status != 0) {
                char *why = exec_failure(&r);
                json_array_append_new(rows, json_pack("{s:s,s:s,s:s}", "stack", name, "backend",
                                                      b->name, "note", why));
                free(why);
            }
            exec_result_free(&r);
        }
    }
    json_decref(doomed);
}

/* Active runs with the stacks frozen in their contexts. */
static int active_run_stacks(svc *s, json_t **out, sh_err *e)
{
    json_t *list = NULL;
    if (store_run_list_json(s->st, 0, NULL, &list, e) < 0)
        return -1;
    json_t *active = json_array();
    size_t i;
    json_t *run;
    json_array_foreach(json_object_get(list, "runs"), i, run)
    {
        const char *status = jstr(run, "status");
        if (!status || (strcmp(status, "pending") && strcmp(status, "running")))
            continue;
        store_run_info info;
        if (store_run_info_get(s->st, jstr(run, "id"), &info, e) < 0) {
            json_decref(list);
            json_decref(active);
            return -1;
        }
        json_t *stacks = json_object_get(info.context, "stacks");
        json_array_append_new(active, json_pack("{s:s,s:s,s:O}", "run_id", info.id, "backend",
                                                info.backend_name, "stacks",
                                                stacks ? stacks : json_object()));
        store_run_info_free(&info);
    }
    json_decref(list);
    store_release(s->st);
    *out = active;
    return 0;
}

int svc_stack_gc(svc *s, const char *name, bool dry_run, json_t **out, sh_err *e)
{
    gc_ctx g = {dry_run, NULL};
    if (active_run_stacks(s, &g.active, e) < 0)
        return svc_done(s, -1);
    json_t *rows = json_array();
    int rc = for_each_target(s, name, NULL, gc_action, &g, rows, e);
    json_decref(g.active);
    if (rc < 0) {
        json_decref(rows);
        return svc_done(s, -1);
    }
    *out = json_pack("{s:b,s:o}", "dry_run", dry_run, "gc", rows);
    return svc_done(s, 0);
}

/* --- install ------------------------------------------------------------------- */

/* The backend an install goes to: --backend (which the stack must list, if
 * it lists any), else the stack's only backend, else "local". */
static const char *install_backend(svc *s, json_t *stack, const char *requested, sh_err *e)
{
    const char *name = jstr(stack, "name");
    json_t *listed = json_object_get(stack, "backends");
    if (requested) {
        if (!svc_find_backend(s, requested, e))
            return NULL;
        if (json_array_size(listed) > 0 && !stack_lists_backend(stack, requested)) {
            sbuf b = SBUF_INIT;
            size_t i;
            json_t *v;
            json_array_foreach(listed, i, v)
            {
                sbuf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v));
            }
            sh_err_set(e, SH_EINVAL,
                       "Stack '%s' does not list backend '%s' (its backends: %s); add it to "
                       "the stack's backends or pick one of those",
                       name, requested, sbuf_cstr(&b));
            sbuf_free(&b);
            return NULL;
        }
        return requested;
    }
    if (json_array_size(listed) > 1) {
        sh_err_set(e, SH_EINVAL, "Stack '%s' lists %zu backends; choose one with --backend", name,
                   json_array_size(listed));
        return NULL;
    }
    const char *only =
        json_array_size(listed) ? json_string_value(json_array_get(listed, 0)) : "local";
    return svc_find_backend(s, only, e) ? only : NULL;
}

/* The install task of a stack (its hash already fresh). */
static json_t *install_task(svc *s, json_t *stack, bool rebuild, sh_err *e)
{
    json_t *args = json_pack("[O,{s:b}]", stack, "rebuild", rebuild);
    char *script = NULL;
    int rc = host_stack_script(s->host, "install_script", args, &script, e);
    json_decref(args);
    if (rc < 0)
        return NULL;
    const char *name = jstr(stack, "name");
    char *id = xasprintf(STACK_TASK_PREFIX "%.8s", jstr(stack, "hash"));
    char *task_name = xasprintf("stack/%s", name);
    json_t *task = json_pack("{s:s,s:s,s:s,s:O,s:O,s:O}", "id", id, "name", task_name, "command",
                             script, "cpus", json_object_get(stack, "cpus"), "memory",
                             json_object_get(stack, "memory"), "time_limit",
                             json_object_get(stack, "time_limit"));
    /* An unset partition is omitted: the backend's default applies. */
    if (jstr(stack, "partition"))
        json_object_set(task, "partition", json_object_get(stack, "partition"));
    free(task_name);
    free(id);
    free(script);
    return task;
}

int svc_stack_script(svc *s, const char *name, bool rebuild, char **script, sh_err *e)
{
    json_t *stack = find_stack(s, name, e);
    if (!stack || check_stack_name(name, e) < 0)
        return svc_done(s, -1);
    refresh_hash(stack);
    json_t *args = json_pack("[O,{s:b}]", stack, "rebuild", rebuild);
    int rc = host_stack_script(s->host, "install_script", args, script, e);
    json_decref(args);
    return svc_done(s, rc);
}

int svc_stack_install_doc(svc *s, const char *name, const char *backend_name, bool rebuild,
                          json_t **doc, char **run_name, char **backend_used, sh_err *e)
{
    json_t *stack = find_stack(s, name, e);
    if (!stack || check_stack_name(name, e) < 0)
        return -1;
    const char *bname = install_backend(s, stack, backend_name, e);
    if (!bname)
        return -1;
    backend *b = open_machine(s, bname, e);
    if (!b)
        return -1;
    backend_destroy(b);
    refresh_hash(stack);
    json_t *task = install_task(s, stack, rebuild, e);
    if (!task)
        return -1;
    *doc = json_pack("{s:[o]}", "tasks", task);
    *run_name = xasprintf(STACK_RUN_PREFIX "%s", name);
    *backend_used = xstrdup(bname);
    return 0;
}

int svc_stack_install(svc *s, const char *name, const char *backend_name, bool rebuild,
                      json_t **summary, sh_err *e)
{
    json_t *doc = NULL;
    char *label = NULL, *bname = NULL;
    if (svc_stack_install_doc(s, name, backend_name, rebuild, &doc, &label, &bname, e) != 0)
        return svc_done(s, -1);
    int rc = svc_submit(s, label, bname, doc, 0, summary, e);
    free(label);
    free(bname);
    json_decref(doc);
    return rc;
}

/* --- tasks that use stacks ------------------------------------------------------ */

static void add_dependency(json_t *task, const char *dep)
{
    const char *key = json_object_get(task, "deps") && !json_object_get(task, "dependencies")
                          ? "deps"
                          : "dependencies";
    json_t *deps = json_object_get(task, key);
    if (!json_is_array(deps)) {
        deps = json_array();
        json_object_set_new(task, key, deps);
    }
    json_array_append_new(deps, json_string(dep));
}

static bool doc_has_task(json_t *tasks, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if (jstr(t, "id") && !strcmp(jstr(t, "id"), id))
            return true;
    }
    return false;
}

static bool names_contain(json_t *names, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), name))
            return true;
    }
    return false;
}

/* Which stacks the run's tasks use, as env resolution will decide it (the
 * walk of scripthut.env, `if` guards included): used->run for every task,
 * per_task[i] (NULL for none of its own) for task i. */
typedef struct stack_use {
    json_t *used;     /* {"run": [names], "tasks": [[names], ...]} */
    json_t *per_task; /* parallel to the doc's tasks: a names list or null */
    json_t *all;      /* every name, first use first */
} stack_use;

static void stack_use_free(stack_use *u)
{
    json_decref(u->used);
    json_decref(u->per_task);
    json_decref(u->all);
}

static bool task_uses(const stack_use *u, size_t i, const char *name)
{
    return names_contain(json_object_get(u->used, "run"), name) ||
           names_contain(json_array_get(u->per_task, i), name);
}

static void add_names(json_t *all, json_t *names)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        if (json_is_string(v) && !names_contain(all, json_string_value(v)))
            json_array_append(all, v);
    }
}

static int find_stack_use(svc *s, const char *workflow_name, const char *backend_name, json_t *bcfg,
                          json_t *doc, stack_use *u, sh_err *e)
{
    json_t *tasks = json_object_get(doc, "tasks");
    json_t *run =
        svc_run_context(s, bcfg, json_object_get(doc, "env"), json_object_get(doc, "env_groups"));
    /* What is known before the run exists; a guard on the run id or its
     * creation time cannot hold yet. */
    json_object_set_new(run, "seed",
                        json_pack("[[s,s],[s,s]]", "SCRIPTHUT_BACKEND", backend_name,
                                  "SCRIPTHUT_WORKFLOW", workflow_name));
    json_t *rules = json_array(), *owner = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        json_t *env = json_object_get(t, "env");
        if (json_array_size(env) > 0) {
            json_array_append(rules, env);
            json_array_append_new(owner, json_integer((json_int_t)i));
        }
    }
    int rc = host_env_stacks_of_run(s->host, run, rules, &u->used, e);
    json_decref(run);
    json_decref(rules);
    if (rc < 0) {
        json_decref(owner);
        return -1;
    }
    u->per_task = json_array();
    for (i = 0; i < json_array_size(tasks); i++)
        json_array_append_new(u->per_task, json_null());
    u->all = json_array();
    add_names(u->all, json_object_get(u->used, "run"));
    json_t *names;
    json_array_foreach(json_object_get(u->used, "tasks"), i, names)
    {
        size_t owner_index = (size_t)json_integer_value(json_array_get(owner, i));
        json_array_set(u->per_task, owner_index, names);
        add_names(u->all, names);
    }
    json_decref(owner);
    return 0;
}

/* A stack that lists its backends is installed only there: a task on
 * another backend would run with a STACK_DIR that was never built. */
static int check_stack_backend(json_t *stack, const char *backend_name, json_t *tasks,
                               const stack_use *u, sh_err *e)
{
    json_t *listed = json_object_get(stack, "backends");
    if (json_array_size(listed) == 0 || stack_lists_backend(stack, backend_name))
        return 0;
    const char *name = jstr(stack, "name"), *user = "?";
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        if (task_uses(u, i, name)) {
            user =
                jstr(json_array_get(tasks, i), "id") ? jstr(json_array_get(tasks, i), "id") : "?";
            break;
        }
    }
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *v;
    json_array_foreach(listed, i, v)
    {
        sbuf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v));
    }
    sh_err_set(e, SH_EINVAL,
               "Task '%s' uses stack '%s', which is only for backends %s, not '%s'; add '%s' to "
               "the stack's backends or run on one of those",
               user, name, sbuf_cstr(&b), backend_name, backend_name);
    sbuf_free(&b);
    return -1;
}

/* For one stack used by the run: nothing when it is ready on the backend,
 * else an install task in front and a dependency on it from each user. */
static int add_install_for(svc *s, backend *b, json_t *doc, json_t *stack, const stack_use *u,
                           sh_err *e)
{
    const char *name = jstr(stack, "name");
    if (check_stack_name(name, e) < 0)
        return -1;
    char *note = NULL;
    json_t *st = check_one(s, b, stack, &note);
    free(note);
    bool ready = !strcmp(jstr(st, "state"), "ready");
    json_decref(st);
    if (ready)
        return 0;
    json_t *tasks = json_object_get(doc, "tasks");
    json_t *task = install_task(s, stack, false, e);
    if (!task)
        return -1;
    const char *id = jstr(task, "id");
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        if (task_uses(u, i, name) && json_is_object(t))
            add_dependency(t, id);
    }
    if (!doc_has_task(tasks, id))
        json_array_insert(tasks, 0, task);
    json_decref(task);
    return 0;
}

static int add_installs(svc *s, const char *backend_name, json_t *doc, const stack_use *u,
                        json_t **augmented, sh_err *e)
{
    json_t *tasks = json_object_get(doc, "tasks");
    size_t i;
    json_t *v;
    json_array_foreach(u->all, i, v)
    {
        json_t *stack = svc_find_named(stacks_of(s), json_string_value(v));
        if (stack && check_stack_backend(stack, backend_name, tasks, u, e) < 0)
            return -1;
    }
    sh_err be = SH_ERR_INIT;
    backend *b = open_machine(s, backend_name, &be);
    /* No machine (noop) or unavailable: nothing to install on; the
     * submission itself reports an unavailable backend. */
    if (!b)
        return 0;
    json_t *copy = json_deep_copy(doc);
    int rc = 0;
    json_array_foreach(u->all, i, v)
    {
        json_t *stack = svc_find_named(stacks_of(s), json_string_value(v));
        if (stack && (rc = add_install_for(s, b, copy, stack, u, e)) < 0)
            break;
    }
    backend_destroy(b);
    if (rc == 0)
        *augmented = copy;
    else
        json_decref(copy);
    return rc;
}

int svc_stack_add_installs(svc *s, const char *workflow_name, const char *backend_name, json_t *doc,
                           json_t **augmented, sh_err *e)
{
    *augmented = NULL;
    json_t *tasks = json_object_get(doc, "tasks");
    if (!strncmp(workflow_name, STACK_RUN_PREFIX, strlen(STACK_RUN_PREFIX)) ||
        !json_is_array(tasks))
        return 0;
    json_t *bcfg = svc_find_named(json_object_get(s->config, "backends"), backend_name);
    if (!bcfg || json_array_size(stacks_of(s)) == 0)
        return 0; /* submission reports an unknown backend */
    stack_use u = {0};
    int rc = find_stack_use(s, workflow_name, backend_name, bcfg, doc, &u, e);
    if (rc == 0 && json_array_size(u.all) > 0)
        rc = add_installs(s, backend_name, doc, &u, augmented, e);
    stack_use_free(&u);
    return rc;
}

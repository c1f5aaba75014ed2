/* engine_generate.c - generates_source: tasks a finished task appends to its
 * running DAG, validated as one batch. */
#include "core/engine_internal.h"

#include <stdlib.h>
#include <string.h>

#include "lua/host.h"
#include "util/fsutil.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* --- generates_source ----------------------------------------------------------- */

static void merge_doc_env(erun *r, json_t *doc_env, json_t *doc_groups)
{
    json_t *env = json_object_get(r->context, "env");
    if (!json_is_object(env)) {
        env = json_object();
        json_object_set_new(r->context, "env", env);
    }
    json_t *wf = json_object_get(env, "workflow");
    if (!json_is_array(wf)) {
        wf = json_array();
        json_object_set_new(env, "workflow", wf);
    }
    json_array_extend(wf, doc_env);
    json_t *groups = json_object_get(r->context, "env_groups");
    if (!json_is_object(groups)) {
        groups = json_object();
        json_object_set_new(r->context, "env_groups", groups);
    }
    json_object_update(groups, doc_groups);
    r->context_dirty = true;
}

static int insert_generated(engine *en, erun *r, size_t first, size_t gen, sh_err *e)
{
    for (size_t i = first; i < r->n; i++) {
        if (store_task_insert_generated(en->st, r->id, i, &r->t[i].def, gen, e) < 0)
            return sh_err_prefix(e, "generated task %s", r->t[i].def.id);
        store_queue_event(en->st, time_now_us(), r->id, r->t[i].def.id, NULL, "pending",
                          "generated");
    }
    return 0;
}

/* Reads and validates the generator's file; on success appends its tasks as a
 * batch.  Returns 0 (appended), 1 (bad file: *why set), -1 (store error). */
int eng_append_generated(engine *en, erun *r, size_t gen, char **why, sh_err *e)
{
    char *path = eng_task_path(&r->t[gen], r->t[gen].def.generates_source);
    char *text = NULL;
    size_t len = 0;
    sh_err re = SH_ERR_INIT;
    if (r->be->b->ops->read_file(r->be->b, path, &text, &len, &re) < 0) {
        *why = xasprintf("generates_source %s: %s", path, re.msg);
        free(path);
        return 1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!doc) {
        *why = xasprintf("generates_source %s: invalid JSON at line %d: %s", path, jerr.line,
                         jerr.text);
        free(path);
        return 1;
    }
    task_def *fresh = NULL;
    size_t nfresh = 0;
    json_t *doc_env = NULL, *doc_groups = NULL;
    char *where = xasprintf("generates_source %s", path);
    sh_err ve = SH_ERR_INIT;
    json_t *normal = NULL;
    int rc = host_env_normalize_document(en->host, doc, where, &normal, &ve);
    if (rc == 0)
        rc = workflow_doc_parse(normal, where, &fresh, &nfresh, &doc_env, &doc_groups, &ve);
    json_decref(normal);
    json_decref(doc);
    free(where);
    if (rc < 0) {
        *why = xasprintf("generates_source %s: %s", path, ve.msg);
        free(path);
        return 1;
    }
    /* Validate old + new together; only the new tasks are expanded. */
    size_t total = r->n + nfresh;
    task_def *all = xmalloc((total ? total : 1) * sizeof *all);
    for (size_t i = 0; i < r->n; i++)
        all[i] = r->t[i].def;
    memcpy(all + r->n, fresh, nfresh * sizeof *fresh);
    if (dag_expand_and_validate(all, total, r->n, &ve) < 0) {
        *why = xasprintf("generates_source %s: %s", path, ve.msg);
        free(all);
        task_def_free_array(fresh, nfresh);
        json_decref(doc_env);
        json_decref(doc_groups);
        free(path);
        return 1;
    }
    /* Generated tasks work where their generator worked: "~" (the default)
     * becomes the generator's dir, relative dirs are taken from it. */
    const char *base = r->t[gen].def.working_dir ? r->t[gen].def.working_dir : "~";
    for (size_t i = r->n; i < total; i++) {
        char *wd = all[i].working_dir;
        if (!wd || !strcmp(wd, "~")) {
            eng_set_str(&all[i].working_dir, base);
        } else if (wd[0] != '/' && wd[0] != '~') {
            char *joined = xasprintf("%s/%s", base, wd);
            free(all[i].working_dir);
            all[i].working_dir = joined;
        }
    }
    size_t first = r->n;
    if (total > r->cap) {
        r->cap = total;
        r->t = xrealloc(r->t, r->cap * sizeof *r->t);
    }
    for (size_t i = first; i < total; i++) {
        memset(&r->t[i], 0, sizeof r->t[i]);
        r->t[i].def = all[i];
        r->t[i].generated_by = (int)gen;
        /* as store_task_insert_generated writes it */
        if (all[i].ndeps)
            r->t[i].pending_reason = xstrdup(PENDING_DEPENDENCIES);
    }
    r->n = total;
    free(all);
    free(fresh); /* the defs now belong to the run's tasks */
    merge_doc_env(r, doc_env, doc_groups);
    json_decref(doc_env);
    json_decref(doc_groups);
    free(path);
    if (eng_erun_index(r, e) < 0)
        return -1;
    r->touched = true;
    return insert_generated(en, r, first, gen, e);
}

/* sched.c - the scheduler-independent half of the Slurm and PBS backends
 * (see sched.h): transport, command scripts, remote log paths, batched
 * submission and its reconciliation, cancel, find-by-tag, logs, the
 * missing-job timer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/sched.h"
#include "backend/submit_driver.h"
#include "transport/ssh.h"
#include "util/fsutil.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

static sched_base *base_of(backend *b)
{
    return b->impl; /* every scheduler impl starts with its sched_base */
}

/* --- transport and command scripts ------------------------------------------------------- */

int backend_sched_transport(backend *b, sh_err *e)
{
    json_t *ssh = json_object_get(b->config, "ssh");
    if (json_is_object(ssh)) {
        b->tr = transport_ssh_from_config(b->name, ssh, e);
        return b->tr ? 0 : -1;
    }
    b->tr = transport_local_new(); /* scripthut runs on the login node */
    return 0;
}

int sched_init(backend *b, sched_base *base, const sched_kind *kind, sh_err *e)
{
    if (backend_sched_transport(b, e) < 0)
        return -1;
    base->kind = kind;
    base->remote = json_is_object(json_object_get(b->config, "ssh"));
    const char *ld = json_string_value(json_object_get(b->config, "log_dir"));
    base->log_dir = xstrdup(ld ? ld : "~/.scripthut/logs");
    base->local_logs = xasprintf("%s/logs/", b->data_dir);
    base->shell = json_is_true(json_object_get(b->config, "login_shell")) ? "bash -l -s" : "sh -s";
    json_t *qt = json_object_get(b->config, "query_timeout");
    base->query_timeout_ms =
        json_is_integer(qt) && json_integer_value(qt) > 0 && json_integer_value(qt) <= 86400
            ? (int)json_integer_value(qt) * 1000
            : SCHED_QUERY_TIMEOUT_MS;
    return 0;
}

int sched_query_timeout_ms(backend *b)
{
    return base_of(b)->query_timeout_ms;
}

void sched_free(sched_base *base)
{
    for (size_t i = 0; i < base->nmissing; i++)
        free(base->missing[i].id);
    free(base->missing);
    free(base->log_dir);
    free(base->local_logs);
}

int sched_run_script(backend *b, const char *what, const char *script, int timeout_ms,
                     exec_result *r, sh_err *e)
{
    sched_base *s = base_of(b);
    /* "sh -s # squeue": the comment names the query in the transport's
     * command log (`backend status`), where every script would otherwise be
     * just "sh -s".  Only letters, digits, spaces and "/_.-" reach the shell, so the
     * label is inert even for a login shell that does not know '#'. */
    char cmd[128];
    int n = snprintf(cmd, sizeof cmd, "%s # ", s->shell);
    for (const char *w = what; *w && n < (int)sizeof cmd - 1; w++)
        cmd[n++] = isalnum((unsigned char)*w) || strchr(" /_.-", *w) ? *w : '_';
    cmd[n] = '\0';
    if (b->tr->ops->exec(b->tr, cmd, script, strlen(script), timeout_ms, r, e) < 0)
        return sh_err_prefix(e, "backend '%s': %s", b->name, what);
    if (r->timed_out) {
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': %s timed out after %d s", b->name, what,
                   timeout_ms / 1000);
        exec_result_free(r);
        return -1;
    }
    return 0;
}

void sched_first_line(const char *s, char *dst, size_t size)
{
    size_t n = strcspn(s ? s : "", "\n");
    if (n >= size)
        n = size - 1;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
}

/* --- paths --------------------------------------------------------------------------------- */

/* Runs keep their logs under <data_dir>/logs/<run>/ locally; on a remote
 * cluster the same tree lives under log_dir (default ~/.scripthut/logs). */
char *sched_remote_path(backend *b, const char *path)
{
    sched_base *s = base_of(b);
    size_t n = strlen(s->local_logs);
    if (s->remote && !strncmp(path, s->local_logs, n))
        return xasprintf("%s/%s", s->log_dir, path + n);
    return xstrdup(path);
}

static void append_path(sbuf *b, const char *path)
{
    char *q = shell_quote_path_expand_prefix(path);
    sbuf_puts(b, q);
    free(q);
}

/* --- submit -------------------------------------------------------------------------------- */

static char *submit_command(backend *b, const job_spec *j)
{
    const sched_kind *k = base_of(b)->kind;
    sbuf c = SBUF_INIT;
    char *name = k->tag_name(j->tag);
    char *out = sched_remote_path(b, j->out_path), *err = sched_remote_path(b, j->err_path);
    /* Command-line options override #SBATCH / #PBS lines: the job name (the
     * tag) and the log files are the backend's bookkeeping, not the
     * template's. */
    sbuf_printf(&c, "%s%s%s", k->submit_prefix, name, k->out_option);
    append_path(&c, out);
    sbuf_puts(&c, k->err_option);
    append_path(&c, err);
    free(name);
    free(out);
    free(err);
    return sbuf_detach(&c);
}

/* mkdir -p of every log dir of the batch: Slurm does not create them (a
 * missing dir fails the job at launch with 0:53), and PBS copies the output
 * files there when the job ends (a missing dir leaves them in the
 * undelivered spool). */
static char *log_dirs_prelude(backend *b, size_t n, const job_spec *jobs)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "mkdir -p --");
    char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *paths[2] = {jobs[i].out_path, jobs[i].err_path};
        for (int k = 0; k < 2; k++) {
            char *rp = sched_remote_path(b, paths[k]);
            char *dir = fs_dirname(rp);
            free(rp);
            if (last && !strcmp(last, dir)) {
                free(dir);
                continue;
            }
            sbuf_putc(&p, ' ');
            append_path(&p, dir);
            free(last);
            last = dir;
        }
    }
    free(last);
    sbuf_puts(&p, " 2>/dev/null");
    return sbuf_detach(&p);
}

/* After a broken submission: which of these jobs did reach the queue? */
static void reconcile_unknown(backend *b, size_t n, const job_spec *jobs, const bool *unknown,
                              char **job_ids, sh_err *errs, const char *why)
{
    const sched_kind *kind = base_of(b)->kind;
    char **names = xcalloc(n, sizeof *names);
    char **found = xcalloc(n, sizeof *found);
    size_t *idx = xcalloc(n, sizeof *idx);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (unknown[i]) {
            names[m] = kind->tag_name(jobs[i].tag);
            idx[m++] = i;
        }
    sh_err le = SH_ERR_INIT;
    int rc = m ? kind->lookup_names(b, m, names, found, &le) : 0;
    for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        if (rc == 0 && found[k]) {
            job_ids[i] = found[k];
            found[k] = NULL;
        } else if (rc == 0) {
            sh_err_set(&errs[i], SH_EUNAVAIL, "%s; the job is not in the queue", why);
        } else {
            sh_err_set(&errs[i], SH_EUNAVAIL,
                       "%s; whether the job reached the queue is unknown (%s)", why, le.msg);
        }
        free(names[k]);
        free(found[k]);
    }
    free(names);
    free(found);
    free(idx);
}

/* One reported submission: its job id, or why the scheduler refused it. */
static void submit_outcome(backend *b, const job_spec *j, const submit_record *rec, char **job_id,
                           sh_err *err)
{
    const sched_kind *k = base_of(b)->kind;
    char id[128], msg[400];
    if (rec->rc == 0 && k->parse_submit_id(rec->out, id, sizeof id) == 0) {
        *job_id = xstrdup(id);
        return;
    }
    sched_first_line(rec->err[0] ? rec->err : rec->out, msg, sizeof msg);
    if (rec->rc == 0)
        sh_err_set(err, SH_EINTERNAL, "backend '%s': %s printed no job id: %s (task %s)", b->name,
                   k->submit_tool, msg, j->task_id);
    else
        sh_err_set(err, SH_EINVAL, "backend '%s': %s rejected the job (exit %d): %s", b->name,
                   k->submit_tool, rec->rc, msg);
}

int sched_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    const char **cmds = xcalloc(n ? n : 1, sizeof *cmds);
    const char **scripts = xcalloc(n ? n : 1, sizeof *scripts);
    for (size_t i = 0; i < n; i++) {
        cmds[i] = submit_command(b, &jobs[i]);
        scripts[i] = jobs[i].script;
    }
    char *prelude = log_dirs_prelude(b, n, jobs);
    char *driver = submit_driver_build(n, cmds, scripts, prelude);
    free(prelude);
    for (size_t i = 0; i < n; i++)
        free((char *)cmds[i]);
    free(cmds);
    free(scripts);

    exec_result r;
    sh_err e = SH_ERR_INIT;
    char what[64];
    snprintf(what, sizeof what, "submitting with %s", base_of(b)->kind->submit_tool);
    /* A submission can take seconds on a busy scheduler; allow for the batch. */
    int timeout = sched_query_timeout_ms(b) + (int)(n > 1000 ? 1000 : n) * 2000;
    int rc = sched_run_script(b, what, driver, timeout, &r, &e);
    free(driver);
    submit_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    bool *unknown = xcalloc(n ? n : 1, sizeof *unknown);
    bool any_unknown = false;
    if (rc == 0)
        submit_driver_parse(r.out, n, recs);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].seen)
            submit_outcome(b, &jobs[i], &recs[i], &job_ids[i], &errs[i]);
        else
            unknown[i] = any_unknown = true;
    }
    if (any_unknown) {
        char why[sizeof e.msg];
        snprintf(why, sizeof why, "%.600s",
                 rc < 0 ? e.msg : "the submission shell ended before reporting every job");
        reconcile_unknown(b, n, jobs, unknown, job_ids, errs, why);
    }
    if (rc == 0)
        exec_result_free(&r);
    submit_records_free(n, recs);
    free(recs);
    free(unknown);
    return 0;
}

/* --- cancel, find by tag, files ----------------------------------------------------------- */

int sched_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    const sched_kind *k = base_of(b)->kind;
    char *q = shell_quote(ref->job_id);
    char *cmd = xasprintf("%s %s\n", k->cancel_tool, q);
    free(q);
    exec_result r;
    int rc = sched_run_script(b, k->cancel_tool, cmd, sched_query_timeout_ms(b), &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    /* Cancelling is idempotent: an already finished (or unknown) job is not
     * an error.  scancel exits 0 for it; qdel does not (cancel_gone). */
    char why[300];
    sched_first_line(r.err, why, sizeof why);
    if (r.exit_status != 0 && !(k->cancel_gone && k->cancel_gone(r.err, why, sizeof why)))
        rc = sh_err_set(e, SH_EINTERNAL, "backend '%s': %s %s failed (exit %d): %s", b->name,
                        k->cancel_tool, ref->job_id, r.exit_status, why);
    exec_result_free(&r);
    return rc;
}

int sched_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
{
    const sched_kind *k = base_of(b)->kind;
    char *name = k->tag_name(tag);
    char *id = NULL;
    int rc = k->lookup_names(b, 1, &name, &id, e);
    free(name);
    if (rc < 0)
        return -1;
    *job_id = id;
    return id ? 1 : 0;
}

int sched_read_log(backend *b, const char *path, size_t tail_bytes, char **out, size_t *len,
                   sh_err *e)
{
    char *p = sched_remote_path(b, path);
    int rc = b->tr->ops->read_file(b->tr, p, tail_bytes, out, len, e);
    free(p);
    return rc;
}

int sched_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return sched_read_log(b, path, 0, out, len, e);
}

/* --- the missing-job timer ----------------------------------------------------------------- */

static sched_missing *missing_find(sched_base *s, const char *id)
{
    for (size_t i = 0; i < s->nmissing; i++)
        if (!strcmp(s->missing[i].id, id))
            return &s->missing[i];
    return NULL;
}

void sched_missing_forget(backend *b, const char *id)
{
    sched_base *s = base_of(b);
    sched_missing *m = missing_find(s, id);
    if (!m)
        return;
    free(m->id);
    *m = s->missing[--s->nmissing];
}

/* Missing from the queue is not "finished": a job is lost only after
 * SCHED_LOST_AFTER_MS without any record of it. */
bool sched_missing_lost(backend *b, const char *id)
{
    sched_base *s = base_of(b);
    sched_missing *m = missing_find(s, id);
    int64_t now = time_monotonic_ms();
    if (!m) {
        s->missing = xrealloc(s->missing, (s->nmissing + 1) * sizeof *s->missing);
        s->missing[s->nmissing++] = (sched_missing){xstrdup(id), now};
        return false;
    }
    if (now - m->since_ms < SCHED_LOST_AFTER_MS)
        return false;
    sched_missing_forget(b, id);
    return true;
}

/* slurm.c - the Slurm backend: sbatch/squeue/sacct/scontrol/scancel over a
 * transport (SSH to a login node, or local when scripthut runs on one).
 *
 * Round trips per tick: ONE squeue for every job of this backend, plus ONE
 * sacct only when some jobs left the queue (plus one scontrol when sacct has
 * no record for some of them).  Submissions of a tick share ONE remote shell
 * (submit_driver.c).  The tag (DESIGN §5) is the job name, which both squeue
 * and sacct can filter on, so a job submitted just before a crash is found
 * again instead of being submitted twice. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/slurm_parse.h"
#include "backend/submit_driver.h"
#include "transport/ssh.h"
#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/strmap.h"
#include "util/timeutil.h"

/* A job gone from the queue with no record anywhere is LOST only after this
 * long: sacct learns of jobs asynchronously (1-3 s), and we never call a job
 * finished without evidence of how it ended. */
#define SLURM_LOST_AFTER_MS (120 * 1000)
#define SLURM_QUERY_TIMEOUT_MS 60000

typedef struct missing_job {
    char *id;
    int64_t since_ms;
} missing_job;

typedef struct slurm_impl {
    bool remote;              /* over SSH: logs live under log_dir on the cluster */
    char *log_dir;            /* remote root for the run log dirs */
    char *local_logs;         /* <data_dir>/logs/, the prefix mapped to log_dir */
    const char *shell;        /* remote shell running our command scripts */
    bool no_accounting;       /* sacct said accounting is disabled: use scontrol */
    missing_job *missing;
    size_t nmissing;
    int64_t sinfo_interval_ms; /* cluster info: at most this often (sinfo_interval) */
    int64_t sinfo_at_ms;       /* 0: never asked */
    json_t *cluster;           /* the last sinfo answer, or NULL */
} slurm_impl;

static slurm_impl *impl_of(backend *b)
{
    return b->impl;
}

/* --- paths ------------------------------------------------------------------------------ */

/* Where a log file the engine names locally lives on the cluster: runs keep
 * their logs under <data_dir>/logs/<run>/ locally; on a remote cluster the
 * same tree lives under log_dir (default ~/.scripthut/logs). */
static char *remote_path(backend *b, const char *path)
{
    slurm_impl *si = impl_of(b);
    size_t n = strlen(si->local_logs);
    if (si->remote && !strncmp(path, si->local_logs, n))
        return xasprintf("%s/%s", si->log_dir, path + n);
    return xstrdup(path);
}

static void append_path(sbuf *b, const char *path)
{
    char *q = shell_quote_path_expand_prefix(path);
    sbuf_puts(b, q);
    free(q);
}

/* --- running commands ------------------------------------------------------------------ */

/* Runs a command script with the remote shell (script on stdin).  -1 with e
 * naming the backend and what was run when it could not run or failed. */
static int run_script(backend *b, const char *what, const char *script, int timeout_ms,
                      exec_result *r, sh_err *e)
{
    slurm_impl *si = impl_of(b);
    /* "sh -s # squeue": the comment names the query in the transport's
     * command log (`backend status`), where every script would otherwise be
     * just "sh -s".  Only letters, digits, spaces and "/_.-" reach the shell, so the
     * label is inert even for a login shell that does not know '#'. */
    char cmd[128];
    int n = snprintf(cmd, sizeof cmd, "%s # ", si->shell);
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

static void first_line(const char *s, char *dst, size_t size)
{
    size_t n = strcspn(s ? s : "", "\n");
    if (n >= size)
        n = size - 1;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
}

/* --- tags ------------------------------------------------------------------------------------ */

/* The job name that carries a tag: only [A-Za-z0-9._%-], so it survives
 * #SBATCH parsing, squeue/sacct --name filters (comma lists) and shells. */
static char *tag_name(const char *tag)
{
    return fs_encode_name(tag);
}

/* Ids of jobs named names[0..n) (comma list), from squeue and, with
 * accounting, sacct (jobs already purged from slurmctld).  ids[i] set when
 * found.  -1 when the scheduler could not be asked. */
static int lookup_names(backend *b, size_t n, char *const *names, char **ids, sh_err *e)
{
    slurm_impl *si = impl_of(b);
    sbuf list = SBUF_INIT, cmd = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_putc(&list, ',');
        sbuf_puts(&list, names[i]);
    }
    sbuf_printf(&cmd,
                "squeue --noheader --states=all --user=\"$(id -un)\" --name=%s "
                "--format='%%i|%%j' || echo '@@squeue-failed'\n",
                sbuf_cstr(&list));
    if (!si->no_accounting)
        sbuf_printf(&cmd,
                    "sacct --noheader --parsable2 --allocations --starttime=now-30days "
                    "--name=%s --format=JobIDRaw,JobName 2>/dev/null\n",
                    sbuf_cstr(&list));
    exec_result r;
    int rc = run_script(b, "looking up jobs by tag (squeue/sacct --name)", sbuf_cstr(&cmd),
                        SLURM_QUERY_TIMEOUT_MS, &r, e);
    sbuf_free(&list);
    sbuf_free(&cmd);
    if (rc < 0)
        return -1;
    if (strstr(r.out, "@@squeue-failed")) {
        char err[300];
        first_line(r.err, err, sizeof err);
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': squeue --name failed: %s", b->name, err);
        exec_result_free(&r);
        return -1;
    }
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *bar = strchr(line, '|');
        if (!bar)
            continue;
        *bar = '\0';
        for (size_t i = 0; i < n; i++)
            if (!ids[i] && !strcmp(bar + 1, names[i]) && line[0] >= '0' && line[0] <= '9')
                ids[i] = xstrdup(line);
    }
    exec_result_free(&r);
    return 0;
}

/* --- submit ------------------------------------------------------------------------------------ */

static char *sbatch_command(backend *b, const job_spec *j)
{
    sbuf c = SBUF_INIT;
    char *name = tag_name(j->tag);
    char *out = remote_path(b, j->out_path), *err = remote_path(b, j->err_path);
    /* Command-line options override #SBATCH lines: the job name (the tag)
     * and the log files are the backend's bookkeeping, not the template's. */
    sbuf_printf(&c, "sbatch --parsable --job-name=%s --output=", name);
    append_path(&c, out);
    sbuf_puts(&c, " --error=");
    append_path(&c, err);
    free(name);
    free(out);
    free(err);
    return sbuf_detach(&c);
}

/* mkdir -p of every log dir of the batch (Slurm does not create them: a
 * missing dir fails the job at launch with 0:53). */
static char *log_dirs_prelude(backend *b, size_t n, const job_spec *jobs)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "mkdir -p --");
    char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *paths[2] = {jobs[i].out_path, jobs[i].err_path};
        for (int k = 0; k < 2; k++) {
            char *rp = remote_path(b, paths[k]);
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
    char **names = xcalloc(n, sizeof *names);
    char **found = xcalloc(n, sizeof *found);
    size_t *idx = xcalloc(n, sizeof *idx);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (unknown[i]) {
            names[m] = tag_name(jobs[i].tag);
            idx[m++] = i;
        }
    sh_err le = SH_ERR_INIT;
    int rc = m ? lookup_names(b, m, names, found, &le) : 0;
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

static int slurm_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    const char **cmds = xcalloc(n ? n : 1, sizeof *cmds);
    const char **scripts = xcalloc(n ? n : 1, sizeof *scripts);
    for (size_t i = 0; i < n; i++) {
        cmds[i] = sbatch_command(b, &jobs[i]);
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
    /* sbatch can take seconds on a busy controller; allow for the batch. */
    int timeout = SLURM_QUERY_TIMEOUT_MS + (int)(n > 1000 ? 1000 : n) * 2000;
    int rc = run_script(b, "submitting with sbatch", driver, timeout, &r, &e);
    free(driver);
    submit_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    bool *unknown = xcalloc(n ? n : 1, sizeof *unknown);
    bool any_unknown = false;
    if (rc == 0)
        submit_driver_parse(r.out, n, recs);
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].seen) {
            unknown[i] = any_unknown = true;
            continue;
        }
        char id[64], msg[400];
        if (recs[i].rc == 0 && slurm_parse_sbatch_id(recs[i].out, id, sizeof id) == 0) {
            job_ids[i] = xstrdup(id);
            continue;
        }
        first_line(recs[i].err[0] ? recs[i].err : recs[i].out, msg, sizeof msg);
        if (recs[i].rc == 0)
            sh_err_set(&errs[i], SH_EINTERNAL,
                       "backend '%s': sbatch printed no job id: %s (task %s)", b->name, msg,
                       jobs[i].task_id);
        else
            sh_err_set(&errs[i], SH_EINVAL, "backend '%s': sbatch rejected the job (exit %d): %s",
                       b->name, recs[i].rc, msg);
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

/* --- poll ------------------------------------------------------------------------------------- */

static missing_job *missing_find(slurm_impl *si, const char *id)
{
    for (size_t i = 0; i < si->nmissing; i++)
        if (!strcmp(si->missing[i].id, id))
            return &si->missing[i];
    return NULL;
}

static void missing_forget(slurm_impl *si, const char *id)
{
    missing_job *m = missing_find(si, id);
    if (!m)
        return;
    free(m->id);
    *m = si->missing[--si->nmissing];
}

/* How long this job has been missing everywhere (0 the first time). */
static int64_t missing_for(slurm_impl *si, const char *id)
{
    missing_job *m = missing_find(si, id);
    int64_t now = time_monotonic_ms();
    if (m)
        return now - m->since_ms;
    si->missing = xrealloc(si->missing, (si->nmissing + 1) * sizeof *si->missing);
    si->missing[si->nmissing++] = (missing_job){xstrdup(id), now};
    return 0;
}

static int query_squeue(backend *b, slurm_queue_row **rows, size_t *nrows, sh_err *e)
{
    /* TZ=UTC: squeue prints times in the cluster's local zone without saying
     * which; UTC makes them unambiguous.  --states=all: finished jobs stay
     * listed for MinJobAge with their final state.  One query for all the
     * user's jobs: a list of ids would fail entirely on one purged id. */
    const char *cmd = "TZ=UTC squeue --noheader --states=all --user=\"$(id -un)\" "
                      "--format='" SLURM_SQUEUE_FORMAT "'\n";
    exec_result r;
    if (run_script(b, "squeue", cmd, SLURM_QUERY_TIMEOUT_MS, &r, e) < 0)
        return -1;
    if (r.exit_status != 0) {
        char err[300];
        first_line(r.err, err, sizeof err);
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': squeue failed (exit %d): %s", b->name,
                   r.exit_status, err);
        exec_result_free(&r);
        return -1;
    }
    size_t cap = 64, n = 0, lines = 0;
    slurm_queue_row *v = xmalloc(cap * sizeof *v);
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        if (slurm_parse_squeue_line(line, &v[n]) == 0)
            n++;
    }
    exec_result_free(&r);
    if (lines && !n) {
        free(v);
        return sh_err_set(e, SH_EUNAVAIL, "backend '%s': unreadable squeue output (%zu lines)",
                          b->name, lines);
    }
    *rows = v;
    *nrows = n;
    return 0;
}

static bool accounting_disabled(const char *err)
{
    return strstr(err, "accounting storage is disabled") ||
           strstr(err, "not running a supported accounting_storage");
}

/* Final records for ids (comma list): sacct, or scontrol when there is no
 * accounting.  Returns the count (0 on failure: no evidence, nothing changes). */
static size_t query_finals(backend *b, const char *ids, bool use_scontrol, slurm_final **out)
{
    slurm_impl *si = impl_of(b);
    *out = NULL;
    char *cmd;
    if (use_scontrol)
        cmd = xasprintf("for j in $(echo %s | tr , ' '); do TZ=UTC scontrol -o show job \"$j\"; "
                        "done 2>/dev/null; true\n",
                        ids);
    else
        cmd = xasprintf("TZ=UTC sacct --noheader --parsable2 --format=" SLURM_SACCT_FORMAT
                        " --jobs=%s\n",
                        ids);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    int rc = run_script(b, use_scontrol ? "scontrol show job" : "sacct", cmd,
                        SLURM_QUERY_TIMEOUT_MS, &r, &e);
    free(cmd);
    if (rc < 0) {
        log_warn("%s", e.msg);
        return 0;
    }
    size_t n = 0;
    if (r.exit_status != 0 && !use_scontrol && accounting_disabled(r.err)) {
        si->no_accounting = true;
        log_warn("backend '%s': Slurm accounting is not available (sacct: %.*s); finished jobs "
                 "are read from scontrol, which keeps them only for MinJobAge (300 s by default)",
                 b->name, (int)strcspn(r.err, "\n"), r.err);
    } else if (r.exit_status != 0) {
        char err[300];
        first_line(r.err, err, sizeof err);
        log_warn("backend '%s': %s failed (exit %d): %s", b->name,
                 use_scontrol ? "scontrol" : "sacct", r.exit_status, err);
    } else {
        n = use_scontrol ? slurm_parse_scontrol(r.out, out) : slurm_parse_sacct(r.out, out);
    }
    exec_result_free(&r);
    return n;
}

static const slurm_final *final_of(const slurm_final *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].id, id))
            return &v[i];
    return NULL;
}

static bool is_ended(const char *state)
{
    slurm_class c = slurm_state_lookup(state)->cls;
    return c == SLURM_ENDED_OK || c == SLURM_ENDED_FAILED || c == SLURM_ENDED_CANCELLED;
}

/* Decides the jobs that are not (or no longer) active in the queue. */
static void resolve_gone(backend *b, size_t n, const job_ref *refs, const slurm_queue_row **qrow,
                         const bool *gone, job_status *out)
{
    slurm_impl *si = impl_of(b);
    sbuf ids = SBUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (gone[i]) {
            if (ids.len)
                sbuf_putc(&ids, ',');
            sbuf_puts(&ids, refs[i].job_id);
        }
    if (!ids.len)
        return;
    slurm_final *acct = NULL, *ctl = NULL;
    size_t nacct = 0, nctl = 0;
    if (!si->no_accounting)
        nacct = query_finals(b, sbuf_cstr(&ids), false, &acct);
    /* Without accounting (or when sacct has no final record yet), ask
     * slurmctld, which remembers finished jobs for MinJobAge. */
    sbuf rest = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const slurm_final *f = gone[i] ? final_of(acct, nacct, refs[i].job_id) : NULL;
        if (gone[i] && !(f && is_ended(f->state))) {
            if (rest.len)
                sbuf_putc(&rest, ',');
            sbuf_puts(&rest, refs[i].job_id);
        }
    }
    if (rest.len)
        nctl = query_finals(b, sbuf_cstr(&rest), true, &ctl);
    for (size_t i = 0; i < n; i++) {
        if (!gone[i])
            continue;
        const slurm_final *f = final_of(acct, nacct, refs[i].job_id);
        if (!f || !is_ended(f->state))
            f = final_of(ctl, nctl, refs[i].job_id);
        slurm_final from_queue;
        if ((!f || !is_ended(f->state)) && qrow[i] && is_ended(qrow[i]->state)) {
            /* squeue's final state is evidence too (exit code unknown). */
            memset(&from_queue, 0, sizeof from_queue);
            snprintf(from_queue.id, sizeof from_queue.id, "%s", qrow[i]->id);
            snprintf(from_queue.state, sizeof from_queue.state, "%s", qrow[i]->state);
            from_queue.exit_code = -1;
            from_queue.start_us = qrow[i]->start_us;
            f = &from_queue;
        }
        if (f && is_ended(f->state)) {
            missing_forget(si, refs[i].job_id);
            slurm_final_to_status(f, &out[i]);
            continue;
        }
        if (f || qrow[i]) {
            missing_forget(si, refs[i].job_id);
            out[i].phase = JOB_UNKNOWN; /* a record, but not final yet */
            continue;
        }
        /* Missing from the queue is not "finished": wait for evidence. */
        if (missing_for(si, refs[i].job_id) < SLURM_LOST_AFTER_MS) {
            out[i].phase = JOB_UNKNOWN;
            continue;
        }
        missing_forget(si, refs[i].job_id);
        out[i].phase = JOB_LOST;
        out[i].exit_code = -1;
        snprintf(out[i].reason, sizeof out[i].reason,
                 "Slurm job %s left the queue and neither %s nor scontrol has a record of how "
                 "it ended",
                 refs[i].job_id, si->no_accounting ? "accounting (disabled)" : "sacct");
    }
    free(acct);
    free(ctl);
    sbuf_free(&ids);
    sbuf_free(&rest);
}

static int slurm_poll(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e)
{
    slurm_queue_row *rows = NULL;
    size_t nrows = 0;
    if (query_squeue(b, &rows, &nrows, e) < 0)
        return -1;
    strmap byid;
    strmap_init(&byid, nrows);
    for (size_t k = 0; k < nrows; k++)
        strmap_put(&byid, rows[k].id, k);
    const slurm_queue_row **qrow = xcalloc(n ? n : 1, sizeof *qrow);
    bool *gone = xcalloc(n ? n : 1, sizeof *gone);
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].exit_code = -1;
        size_t k;
        if (refs[i].job_id && strmap_get(&byid, refs[i].job_id, &k))
            qrow[i] = &rows[k];
        slurm_class c = qrow[i] ? slurm_state_lookup(qrow[i]->state)->cls : SLURM_UNKNOWN_STATE;
        if (qrow[i] && (c == SLURM_QUEUED || c == SLURM_RUNNING)) {
            out[i].phase = c == SLURM_QUEUED ? JOB_QUEUED : JOB_RUNNING;
            out[i].started_us = qrow[i]->start_us;
            snprintf(out[i].scheduler_state, sizeof out[i].scheduler_state, "%s",
                     slurm_state_lookup(qrow[i]->state)->name);
            missing_forget(impl_of(b), refs[i].job_id);
        } else if (qrow[i] && c == SLURM_UNKNOWN_STATE) {
            out[i].phase = JOB_UNKNOWN;
        } else if (refs[i].job_id) {
            gone[i] = true;
        }
    }
    resolve_gone(b, n, refs, qrow, gone, out);
    strmap_free(&byid);
    free(rows);
    free(qrow);
    free(gone);
    return 0;
}

/* --- cancel, find, files --------------------------------------------------------------------- */

static int slurm_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    char *q = shell_quote(ref->job_id);
    char *cmd = xasprintf("scancel %s\n", q);
    free(q);
    exec_result r;
    int rc = run_script(b, "scancel", cmd, SLURM_QUERY_TIMEOUT_MS, &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    /* scancel of a finished job exits 0: cancelling is idempotent. */
    if (r.exit_status != 0) {
        char err[300];
        first_line(r.err, err, sizeof err);
        rc = sh_err_set(e, SH_EINTERNAL, "backend '%s': scancel %s failed (exit %d): %s", b->name,
                        ref->job_id, r.exit_status, err);
    }
    exec_result_free(&r);
    return rc;
}

static int slurm_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
{
    char *name = tag_name(tag);
    char *id = NULL;
    int rc = lookup_names(b, 1, &name, &id, e);
    free(name);
    if (rc < 0)
        return -1;
    *job_id = id;
    return id ? 1 : 0;
}

static int slurm_read_log(backend *b, const char *path, size_t tail_bytes, char **out,
                          size_t *len, sh_err *e)
{
    char *p = remote_path(b, path);
    int rc = b->tr->ops->read_file(b->tr, p, tail_bytes, out, len, e);
    free(p);
    return rc;
}

static int slurm_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return slurm_read_log(b, path, 0, out, len, e);
}

/* --- cluster info ------------------------------------------------------------------- */

/* sinfo runs on its own slower timer (DESIGN §5: cluster info is for the
 * dashboard and `backend status`, never on the tick's critical path): at most
 * once per sinfo_interval, whatever the poll interval.  A failure keeps the
 * last answer and says why. */
static void refresh_cluster(backend *b, slurm_impl *si)
{
    int64_t now = time_monotonic_ms();
    if (si->sinfo_at_ms && now - si->sinfo_at_ms < si->sinfo_interval_ms)
        return;
    si->sinfo_at_ms = now;
    const char *cmd = "sinfo --noheader --Node --format='" SLURM_SINFO_FORMAT "'\n";
    exec_result r;
    sh_err e = SH_ERR_INIT;
    char why[sizeof e.msg] = "";
    if (run_script(b, "sinfo", cmd, SLURM_QUERY_TIMEOUT_MS, &r, &e) < 0) {
        memcpy(why, e.msg, sizeof why);
    } else {
        if (r.exit_status == 0) {
            json_decref(si->cluster);
            si->cluster = slurm_parse_sinfo(r.out);
            char iso[ISO8601_LEN];
            json_object_set_new(si->cluster, "updated_at",
                                json_string(time_format_iso(time_now_us(), iso)));
        } else {
            first_line(r.err, why, sizeof why);
        }
        exec_result_free(&r);
    }
    if (!why[0])
        return;
    if (!si->cluster)
        si->cluster = json_object();
    json_object_set_new(si->cluster, "error", json_string(why));
}

static void slurm_describe(backend *b, json_t *out)
{
    slurm_impl *si = impl_of(b);
    refresh_cluster(b, si);
    if (si->cluster)
        json_object_set(out, "cluster", si->cluster);
}

static void slurm_destroy(backend *b)
{
    slurm_impl *si = impl_of(b);
    if (!si)
        return;
    json_decref(si->cluster);
    for (size_t i = 0; i < si->nmissing; i++)
        free(si->missing[i].id);
    free(si->missing);
    free(si->log_dir);
    free(si->local_logs);
    free(si);
    b->impl = NULL;
}

static const struct backend_ops slurm_ops = {
    .type = "slurm",
    .submit = slurm_submit,
    .poll = slurm_poll,
    .cancel = slurm_cancel,
    .find_by_tag = slurm_find_by_tag,
    .read_log = slurm_read_log,
    .read_file = slurm_read_file,
    .destroy = slurm_destroy,
    .describe = slurm_describe,
};

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

int backend_slurm_init(backend *b, sh_err *e)
{
    if (backend_sched_transport(b, e) < 0)
        return -1;
    slurm_impl *si = xcalloc(1, sizeof *si);
    si->remote = json_is_object(json_object_get(b->config, "ssh"));
    const char *ld = json_string_value(json_object_get(b->config, "log_dir"));
    si->log_dir = xstrdup(ld ? ld : "~/.scripthut/logs");
    si->local_logs = xasprintf("%s/logs/", b->data_dir);
    si->shell = json_is_true(json_object_get(b->config, "login_shell")) ? "bash -l -s" : "sh -s";
    json_t *si_iv = json_object_get(b->config, "sinfo_interval");
    si->sinfo_interval_ms =
        (json_is_integer(si_iv) && json_integer_value(si_iv) > 0 ? json_integer_value(si_iv) : 60) *
        1000;
    b->impl = si;
    b->ops = &slurm_ops;
    return 0;
}

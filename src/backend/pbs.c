/* pbs.c - the PBS backend (PBS Pro / OpenPBS, and Torque with
 * flavor = "torque"): qsub/qstat/qselect/qdel/tracejob over a transport (SSH
 * to a login node, or local when scripthut runs on one).
 *
 * Round trips per tick: ONE `qstat -f` for every active job of this backend
 * (ids fed through xargs, so a long list never overflows a command line),
 * plus ONE `qstat -x -f` (PBS Pro's job history) only when some jobs left the
 * queue, plus ONE shell of `tracejob` calls only for jobs that neither
 * answered (history disabled, Torque past keep_completed).  Submissions of a
 * tick share ONE remote shell (submit_driver.c).  The tag (DESIGN §5) is the
 * job name (-N), which qselect can filter on, so a job submitted just before
 * a crash is found again instead of being submitted twice.
 *
 * No PBS server runs in our tests: the parsers (pbs_parse.c) are tested on
 * captured outputs, this file only on what the transport hands back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/pbs_parse.h"
#include "backend/submit_driver.h"
#include "transport/transport.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/strmap.h"
#include "util/timeutil.h"

/* A job gone from the queue with no record anywhere is LOST only after this
 * long: the server writes history and logs asynchronously, and we never call
 * a job finished without evidence of how it ended. */
#define PBS_LOST_AFTER_MS (120 * 1000)
#define PBS_QUERY_TIMEOUT_MS 60000
#define QSTAT_EXIT_MARK "@@qstat-exit "

typedef struct missing_job {
    char *id;
    int64_t since_ms;
} missing_job;

typedef struct pbs_impl {
    pbs_flavor flavor;
    bool remote;        /* over SSH: logs live under log_dir on the cluster */
    char *log_dir;      /* remote root for the run log dirs */
    char *local_logs;   /* <data_dir>/logs/, the prefix mapped to log_dir */
    const char *shell;  /* remote shell running our command scripts */
    bool no_tracejob;   /* tracejob is not installed on the login node */
    missing_job *missing;
    size_t nmissing;
} pbs_impl;

static pbs_impl *impl_of(backend *b)
{
    return b->impl;
}

/* --- paths and commands ---------------------------------------------------------------- */

/* Where a log file the engine names locally lives on the cluster: the same
 * tree as <data_dir>/logs/, under log_dir (default ~/.scripthut/logs). */
static char *remote_path(backend *b, const char *path)
{
    pbs_impl *pi = impl_of(b);
    size_t n = strlen(pi->local_logs);
    if (pi->remote && !strncmp(path, pi->local_logs, n))
        return xasprintf("%s/%s", pi->log_dir, path + n);
    return xstrdup(path);
}

static void append_path(sbuf *b, const char *path)
{
    char *q = shell_quote_path_expand_prefix(path);
    sbuf_puts(b, q);
    free(q);
}

static void first_line(const char *s, char *dst, size_t size)
{
    size_t n = strcspn(s ? s : "", "\n");
    if (n >= size)
        n = size - 1;
    memcpy(dst, s ? s : "", n);
    dst[n] = '\0';
}

/* Runs a command script with the remote shell (script on stdin).  -1 with e
 * naming the backend and what was run when it could not run or timed out. */
static int run_script(backend *b, const char *what, const char *script, int timeout_ms,
                      exec_result *r, sh_err *e)
{
    pbs_impl *pi = impl_of(b);
    if (b->tr->ops->exec(b->tr, pi->shell, script, strlen(script), timeout_ms, r, e) < 0)
        return sh_err_prefix(e, "backend '%s': %s", b->name, what);
    if (r->timed_out) {
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': %s timed out after %d s", b->name, what,
                   timeout_ms / 1000);
        exec_result_free(r);
        return -1;
    }
    return 0;
}

/* The job name that carries a tag, as PBS accepts it in -N and qselect -N:
 * a letter first ("sh-..."), then [A-Za-z0-9._+-].  fs_encode_name's %XX
 * escapes become +XX ('%' is not allowed; '+' never occurs otherwise, so
 * names stay distinct). */
static char *tag_name(const char *tag)
{
    char *name = fs_encode_name(tag);
    for (char *p = name; *p; p++)
        if (*p == '%')
            *p = '+';
    return name;
}

/* --- find by tag ------------------------------------------------------------------------ */

/* Ids of jobs named names[0..n), one qselect per name in one remote shell
 * (PBS Pro: -x includes finished jobs still in the history).  ids[i] set when
 * found.  -1 when the server could not be asked. */
static int lookup_names(backend *b, size_t n, char *const *names, char **ids, sh_err *e)
{
    pbs_impl *pi = impl_of(b);
    sbuf cmd = SBUF_INIT;
    sbuf_puts(&cmd, "u=$(id -un)\n");
    for (size_t i = 0; i < n; i++) {
        char *q = shell_quote(names[i]);
        sbuf_printf(&cmd,
                    "echo '@@name %zu'; qselect%s -u \"$u\" -N %s || echo '@@qselect-failed'\n", i,
                    pi->flavor == PBS_FLAVOR_PRO ? " -x" : "", q);
        free(q);
    }
    exec_result r;
    int rc = run_script(b, "looking up jobs by tag (qselect -N)", sbuf_cstr(&cmd),
                        PBS_QUERY_TIMEOUT_MS, &r, e);
    sbuf_free(&cmd);
    if (rc < 0)
        return -1;
    if (strstr(r.out, "@@qselect-failed")) {
        char err[300];
        first_line(r.err, err, sizeof err);
        sh_err_set(e, SH_EUNAVAIL, "backend '%s': qselect -N failed: %s", b->name, err);
        exec_result_free(&r);
        return -1;
    }
    long cur = -1;
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "@@name ", 7)) {
            cur = strtol(line + 7, NULL, 10);
            continue;
        }
        line[strcspn(line, " \t\r")] = '\0';
        if (cur >= 0 && (size_t)cur < n && !ids[cur] && pbs_job_id_valid(line))
            ids[cur] = xstrdup(line);
    }
    exec_result_free(&r);
    return 0;
}

/* --- submit ---------------------------------------------------------------------------- */

static char *qsub_command(backend *b, const job_spec *j)
{
    sbuf c = SBUF_INIT;
    char *name = tag_name(j->tag);
    char *out = remote_path(b, j->out_path), *err = remote_path(b, j->err_path);
    /* Command-line options override #PBS lines: the job name (the tag) and
     * the log files are the backend's bookkeeping, not the template's. */
    sbuf_printf(&c, "qsub -N %s -o ", name);
    append_path(&c, out);
    sbuf_puts(&c, " -e ");
    append_path(&c, err);
    free(name);
    free(out);
    free(err);
    return sbuf_detach(&c);
}

/* mkdir -p of every log dir of the batch: PBS copies the output files there
 * when the job ends, and a missing dir leaves them in the undelivered spool. */
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

static void qsub_outcome(backend *b, const job_spec *j, const submit_record *rec, char **job_id,
                         sh_err *err)
{
    char id[128], msg[400];
    if (rec->rc == 0 && pbs_parse_qsub_id(rec->out, id, sizeof id) == 0) {
        *job_id = xstrdup(id);
        return;
    }
    first_line(rec->err[0] ? rec->err : rec->out, msg, sizeof msg);
    if (rec->rc == 0)
        sh_err_set(err, SH_EINTERNAL, "backend '%s': qsub printed no job id: %s (task %s)",
                   b->name, msg, j->task_id);
    else
        sh_err_set(err, SH_EINVAL, "backend '%s': qsub rejected the job (exit %d): %s", b->name,
                   rec->rc, msg);
}

static int pbs_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    const char **cmds = xcalloc(n ? n : 1, sizeof *cmds);
    const char **scripts = xcalloc(n ? n : 1, sizeof *scripts);
    for (size_t i = 0; i < n; i++) {
        cmds[i] = qsub_command(b, &jobs[i]);
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
    /* qsub can take seconds on a busy server; allow for the batch. */
    int timeout = PBS_QUERY_TIMEOUT_MS + (int)(n > 1000 ? 1000 : n) * 2000;
    int rc = run_script(b, "submitting with qsub", driver, timeout, &r, &e);
    free(driver);
    submit_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    bool *unknown = xcalloc(n ? n : 1, sizeof *unknown);
    bool any_unknown = false;
    if (rc == 0)
        submit_driver_parse(r.out, n, recs);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].seen)
            qsub_outcome(b, &jobs[i], &recs[i], &job_ids[i], &errs[i]);
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

/* --- poll ------------------------------------------------------------------------------- */

static missing_job *missing_find(pbs_impl *pi, const char *id)
{
    for (size_t i = 0; i < pi->nmissing; i++)
        if (!strcmp(pi->missing[i].id, id))
            return &pi->missing[i];
    return NULL;
}

static void missing_forget(pbs_impl *pi, const char *id)
{
    missing_job *m = missing_find(pi, id);
    if (!m)
        return;
    free(m->id);
    *m = pi->missing[--pi->nmissing];
}

/* How long this job has been missing everywhere (0 the first time). */
static int64_t missing_for(pbs_impl *pi, const char *id)
{
    missing_job *m = missing_find(pi, id);
    int64_t now = time_monotonic_ms();
    if (m)
        return now - m->since_ms;
    pi->missing = xrealloc(pi->missing, (pi->nmissing + 1) * sizeof *pi->missing);
    pi->missing[pi->nmissing++] = (missing_job){xstrdup(id), now};
    return 0;
}

/* Whether a non-zero qstat/qdel exit is only about unknown/finished jobs
 * (news about those jobs) rather than a failed query (server down, no
 * qstat): at least one such message, and nothing else. */
static bool only_gone_messages(const char *err, char *bad, size_t bad_size)
{
    bool ok = true, any = false;
    const char *p = err;
    snprintf(bad, bad_size, "no error message");
    while (*p) {
        size_t len = strcspn(p, "\n");
        char line[512];
        size_t k = len < sizeof line - 1 ? len : sizeof line - 1;
        memcpy(line, p, k);
        line[k] = '\0';
        p += len + (p[len] == '\n');
        if (strspn(line, " \t\r") == k)
            continue;
        if (pbs_is_gone_message(line)) {
            any = true;
            continue;
        }
        if (ok)
            snprintf(bad, bad_size, "%.*s", (int)(bad_size - 1), line);
        ok = false;
    }
    return ok && any;
}

/* ONE `qstat -f` (history: `qstat -x -f`) for the ids (newline-separated).
 * TZ=UTC: qstat prints times in the login node's zone without saying which.
 * The ids go through xargs (a list too long for one command line becomes
 * several qstat runs in the same shell); the exit marker tells a complete
 * answer from one cut off.  -1 with e when the query failed or its output is
 * unreadable: the caller changes nothing. */
static int query_qstat(backend *b, bool history, const char *ids, pbs_job **jobs, size_t *njobs,
                       sh_err *e)
{
    const char *what = history ? "qstat -x -f" : "qstat -f";
    char *cmd = xasprintf("TZ=UTC xargs %s <<'SCRIPTHUT_IDS'\n%sSCRIPTHUT_IDS\n"
                          "echo \"" QSTAT_EXIT_MARK "$?\"\n",
                          what, ids);
    exec_result r;
    int rc = run_script(b, what, cmd, PBS_QUERY_TIMEOUT_MS, &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    char *mark = NULL;
    for (char *p = r.out; (p = strstr(p, QSTAT_EXIT_MARK)); p++)
        if (p == r.out || p[-1] == '\n')
            mark = p;
    char bad[300];
    if (!mark) {
        rc = sh_err_set(e, SH_EUNAVAIL, "backend '%s': %s output was cut off (no exit marker)",
                        b->name, what);
    } else {
        int status = atoi(mark + sizeof QSTAT_EXIT_MARK - 1);
        *mark = '\0';
        if (status != 0 && (status >= 124 || !only_gone_messages(r.err, bad, sizeof bad))) {
            if (status >= 124)
                first_line(r.err, bad, sizeof bad);
            rc = sh_err_set(e, SH_EUNAVAIL, "backend '%s': %s failed (exit %d): %s", b->name,
                            what, status, bad);
        } else if (pbs_parse_qstat_full(r.out, jobs, njobs) < 0) {
            rc = sh_err_set(e, SH_EUNAVAIL,
                            "backend '%s': unreadable %s output (a record without an id or "
                            "job_state)",
                            b->name, what);
        }
    }
    exec_result_free(&r);
    return rc;
}

/* Batched tracejob for ids (newline-separated); returns the jobs it saw end
 * (0 on any failure: no evidence, nothing changes). */
static size_t query_tracejob(backend *b, const char *ids, pbs_job **out)
{
    pbs_impl *pi = impl_of(b);
    *out = NULL;
    if (pi->no_tracejob)
        return 0;
    char *cmd = xasprintf(
        "command -v tracejob >/dev/null 2>&1 || { echo '@@no-tracejob'; exit 0; }\n"
        "while read -r j; do echo \"@@job $j\"; tracejob -n 2 \"$j\" 2>/dev/null; done "
        "<<'SCRIPTHUT_IDS'\n%sSCRIPTHUT_IDS\ntrue\n",
        ids);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    int rc = run_script(b, "tracejob", cmd, PBS_QUERY_TIMEOUT_MS, &r, &e);
    free(cmd);
    if (rc < 0) {
        log_warn("%s", e.msg);
        return 0;
    }
    size_t n = 0;
    if (strstr(r.out, "@@no-tracejob")) {
        pi->no_tracejob = true;
        log_warn("backend '%s': tracejob is not installed on the login node; jobs that left the "
                 "queue are read only from %s",
                 b->name,
                 pi->flavor == PBS_FLAVOR_PRO ? "the job history (qstat -x; job_history_enable)"
                                              : "qstat while they are C (keep_completed)");
    } else {
        n = pbs_parse_tracejob(r.out, out);
    }
    exec_result_free(&r);
    return n;
}

/* A job of list v with the same sequence number as id (servers may be
 * named short or fully qualified). */
static const pbs_job *job_of(const pbs_job *v, size_t n, const char *id)
{
    char want[128], have[128];
    pbs_short_id(id, want, sizeof want);
    for (size_t i = 0; i < n; i++) {
        pbs_short_id(v[i].id, have, sizeof have);
        if (!strcmp(have, want))
            return &v[i];
    }
    return NULL;
}

static void append_id(sbuf *list, const char *id)
{
    sbuf_puts(list, id);
    sbuf_putc(list, '\n');
}

/* Decides the jobs that left the queue: history, then tracejob, then (after
 * PBS_LOST_AFTER_MS without any record) LOST. */
static void resolve_gone(backend *b, size_t n, const job_ref *refs, const bool *gone,
                         job_status *out)
{
    pbs_impl *pi = impl_of(b);
    sbuf ids = SBUF_INIT, rest = SBUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (gone[i])
            append_id(&ids, refs[i].job_id);
    if (!ids.len)
        return;
    pbs_job *hist = NULL, *trace = NULL;
    size_t nhist = 0, ntrace = 0;
    if (pi->flavor == PBS_FLAVOR_PRO) {
        sh_err e = SH_ERR_INIT;
        if (query_qstat(b, true, sbuf_cstr(&ids), &hist, &nhist, &e) < 0)
            log_warn("%s", e.msg);
    }
    for (size_t i = 0; i < n; i++) {
        const pbs_job *h = gone[i] ? job_of(hist, nhist, refs[i].job_id) : NULL;
        if (gone[i] && !h)
            append_id(&rest, refs[i].job_id);
    }
    if (rest.len)
        ntrace = query_tracejob(b, sbuf_cstr(&rest), &trace);
    for (size_t i = 0; i < n; i++) {
        if (!gone[i])
            continue;
        const pbs_job *j = job_of(hist, nhist, refs[i].job_id);
        if (!j)
            j = job_of(trace, ntrace, refs[i].job_id);
        if (j) {
            /* A record: final, or (a race with the first qstat) still active. */
            missing_forget(pi, refs[i].job_id);
            pbs_job_to_status(j, pi->flavor, &out[i]);
            if (out[i].phase != JOB_FINISHED)
                out[i].phase = JOB_UNKNOWN;
            continue;
        }
        /* Missing from the queue is not "finished": wait for evidence. */
        if (missing_for(pi, refs[i].job_id) < PBS_LOST_AFTER_MS)
            continue;
        missing_forget(pi, refs[i].job_id);
        out[i].phase = JOB_LOST;
        out[i].exit_code = -1;
        snprintf(out[i].reason, sizeof out[i].reason,
                 "PBS job %s left the queue and neither %s nor tracejob has a record of how it "
                 "ended",
                 refs[i].job_id,
                 pi->flavor == PBS_FLAVOR_PRO ? "the job history (qstat -x)" : "qstat");
    }
    free(hist);
    free(trace);
    sbuf_free(&ids);
    sbuf_free(&rest);
}

static int pbs_poll(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e)
{
    pbs_impl *pi = impl_of(b);
    sbuf ids = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].exit_code = -1;
        if (pbs_job_id_valid(refs[i].job_id))
            append_id(&ids, refs[i].job_id);
    }
    if (!ids.len) {
        sbuf_free(&ids);
        return 0;
    }
    pbs_job *jobs = NULL;
    size_t njobs = 0;
    int rc = query_qstat(b, false, sbuf_cstr(&ids), &jobs, &njobs, e);
    sbuf_free(&ids);
    if (rc < 0)
        return -1;
    /* The map keeps pointers to its keys: the short ids live in jobs[]. */
    strmap byid;
    strmap_init(&byid, njobs);
    for (size_t k = 0; k < njobs; k++) {
        pbs_short_id(jobs[k].id, jobs[k].id, sizeof jobs[k].id);
        strmap_put(&byid, jobs[k].id, k);
    }
    bool *gone = xcalloc(n ? n : 1, sizeof *gone);
    for (size_t i = 0; i < n; i++) {
        if (!pbs_job_id_valid(refs[i].job_id))
            continue; /* not an id we could have given qsub's answer: JOB_UNKNOWN */
        char sid[128];
        size_t k;
        pbs_short_id(refs[i].job_id, sid, sizeof sid);
        if (!strmap_get(&byid, sid, &k)) {
            gone[i] = true;
            continue;
        }
        missing_forget(pi, refs[i].job_id);
        /* Torque lists finished jobs as C (keep_completed): that record,
         * with its exit_status, is the evidence. */
        pbs_job_to_status(&jobs[k], pi->flavor, &out[i]);
    }
    resolve_gone(b, n, refs, gone, out);
    strmap_free(&byid);
    free(jobs);
    free(gone);
    return 0;
}

/* --- cancel, find, files --------------------------------------------------------------- */

static int pbs_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    char *q = shell_quote(ref->job_id);
    char *cmd = xasprintf("qdel %s\n", q);
    free(q);
    exec_result r;
    int rc = run_script(b, "qdel", cmd, PBS_QUERY_TIMEOUT_MS, &r, e);
    free(cmd);
    if (rc < 0)
        return -1;
    /* Cancelling is idempotent: qdel of an unknown or finished job is done
     * (PBS exits 153 for an unknown id, 35 for a finished one). */
    char bad[300];
    if (r.exit_status != 0 && !only_gone_messages(r.err, bad, sizeof bad)) {
        rc = sh_err_set(e, SH_EINTERNAL, "backend '%s': qdel %s failed (exit %d): %s", b->name,
                        ref->job_id, r.exit_status, bad);
    }
    exec_result_free(&r);
    return rc;
}

static int pbs_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
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

static int pbs_read_log(backend *b, const char *path, size_t tail_bytes, char **out, size_t *len,
                        sh_err *e)
{
    char *p = remote_path(b, path);
    int rc = b->tr->ops->read_file(b->tr, p, tail_bytes, out, len, e);
    free(p);
    return rc;
}

static int pbs_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return pbs_read_log(b, path, 0, out, len, e);
}

static void pbs_destroy(backend *b)
{
    pbs_impl *pi = impl_of(b);
    if (!pi)
        return;
    for (size_t i = 0; i < pi->nmissing; i++)
        free(pi->missing[i].id);
    free(pi->missing);
    free(pi->log_dir);
    free(pi->local_logs);
    free(pi);
    b->impl = NULL;
}

static const struct backend_ops pbs_ops = {
    .type = "pbs",
    .submit = pbs_submit,
    .poll = pbs_poll,
    .cancel = pbs_cancel,
    .find_by_tag = pbs_find_by_tag,
    .read_log = pbs_read_log,
    .read_file = pbs_read_file,
    .destroy = pbs_destroy,
};

int backend_pbs_init(backend *b, sh_err *e)
{
    pbs_flavor flavor;
    const char *fl = json_string_value(json_object_get(b->config, "flavor"));
    if (pbs_flavor_parse(fl, &flavor) < 0)
        return sh_err_set(e, SH_EINVAL,
                          "backend '%s': flavor must be \"pbspro\" or \"torque\", got \"%s\"",
                          b->name, fl);
    if (backend_sched_transport(b, e) < 0)
        return -1;
    pbs_impl *pi = xcalloc(1, sizeof *pi);
    pi->flavor = flavor;
    pi->remote = json_is_object(json_object_get(b->config, "ssh"));
    const char *ld = json_string_value(json_object_get(b->config, "log_dir"));
    pi->log_dir = xstrdup(ld ? ld : "~/.scripthut/logs");
    pi->local_logs = xasprintf("%s/logs/", b->data_dir);
    pi->shell = json_is_true(json_object_get(b->config, "login_shell")) ? "bash -l -s" : "sh -s";
    b->impl = pi;
    b->ops = &pbs_ops;
    return 0;
}

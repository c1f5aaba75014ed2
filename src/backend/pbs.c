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
#include "backend/sched.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/quote.h"
#include "util/sbuf.h"
#include "util/strmap.h"

#define QSTAT_EXIT_MARK "@@qstat-exit "

typedef struct pbs_impl {
    sched_base base; /* first: sched.c reads b->impl as a sched_base */
    pbs_flavor flavor;
    bool no_tracejob; /* tracejob is not installed on the login node */
} pbs_impl;

static pbs_impl *impl_of(backend *b)
{
    return b->impl;
}

/* --- tags ------------------------------------------------------------------------------ */

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
    int rc = sched_run_script(b, "looking up jobs by tag (qselect -N)", sbuf_cstr(&cmd),
                              sched_query_timeout_ms(b), &r, e);
    sbuf_free(&cmd);
    if (rc < 0)
        return -1;
    if (strstr(r.out, "@@qselect-failed")) {
        char err[300];
        sched_first_line(r.err, err, sizeof err);
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

/* --- poll ------------------------------------------------------------------------------- */

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
    int rc = sched_run_script(b, what, cmd, sched_query_timeout_ms(b), &r, e);
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
                sched_first_line(r.err, bad, sizeof bad);
            rc = sh_err_set(e, SH_EUNAVAIL, "backend '%s': %s failed (exit %d): %s", b->name, what,
                            status, bad);
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
    char *cmd =
        xasprintf("command -v tracejob >/dev/null 2>&1 || { echo '@@no-tracejob'; exit 0; }\n"
                  "while read -r j; do echo \"@@job $j\"; tracejob -n 2 \"$j\" 2>/dev/null; done "
                  "<<'SCRIPTHUT_IDS'\n%sSCRIPTHUT_IDS\ntrue\n",
                  ids);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    int rc = sched_run_script(b, "tracejob", cmd, sched_query_timeout_ms(b), &r, &e);
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
 * SCHED_LOST_AFTER_MS without any record) LOST. */
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
            sched_missing_forget(b, refs[i].job_id);
            pbs_job_to_status(j, pi->flavor, &out[i]);
            if (out[i].phase != JOB_FINISHED)
                out[i].phase = JOB_UNKNOWN;
            continue;
        }
        /* Missing from the queue is not "finished": wait for evidence. */
        if (!sched_missing_lost(b, refs[i].job_id))
            continue;
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
        sched_missing_forget(b, refs[i].job_id);
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

static void pbs_destroy(backend *b)
{
    pbs_impl *pi = impl_of(b);
    if (!pi)
        return;
    sched_free(&pi->base);
    free(pi);
    b->impl = NULL;
}

static const struct backend_ops pbs_ops = {
    .type = "pbs",
    .submit = sched_submit,
    .poll = pbs_poll,
    .cancel = sched_cancel,
    .find_by_tag = sched_find_by_tag,
    .read_log = sched_read_log,
    .read_file = sched_read_file,
    .destroy = pbs_destroy,
};

static const sched_kind pbs_kind = {
    .submit_tool = "qsub",
    .submit_prefix = "qsub -N ",
    .out_option = " -o ",
    .err_option = " -e ",
    .parse_submit_id = pbs_parse_qsub_id,
    .tag_name = tag_name,
    .lookup_names = lookup_names,
    /* qdel of an unknown or finished job is done (PBS exits 153 for an
     * unknown id, 35 for a finished one). */
    .cancel_tool = "qdel",
    .cancel_gone = only_gone_messages,
};

int backend_pbs_init(backend *b, sh_err *e)
{
    pbs_flavor flavor;
    const char *fl = json_string_value(json_object_get(b->config, "flavor"));
    if (pbs_flavor_parse(fl, &flavor) < 0)
        return sh_err_set(e, SH_EINVAL,
                          "backend '%s': flavor must be \"pbspro\" or \"torque\", got \"%s\"",
                          b->name, fl);
    pbs_impl *pi = xcalloc(1, sizeof *pi);
    if (sched_init(b, &pi->base, &pbs_kind, e) < 0) {
        free(pi);
        return -1;
    }
    pi->flavor = flavor;
    b->impl = pi;
    b->ops = &pbs_ops;
    return 0;
}

/* slurm.c - the Slurm backend: sbatch/squeue/sacct/scontrol/scancel over a
 * transport (SSH to a login node, or local when scripthut runs on one).
 *
 * Round trips per tick: ONE squeue for every job of this backend, plus ONE
 * sacct only when some jobs left the queue (plus one scontrol when sacct has
 * no record for some of them).  Submissions of a tick share ONE remote shell
 * (submit_driver.c).  The tag (DESIGN §5) is the job name, which both squeue
 * and sacct can filter on, so a job submitted just before a crash is found
 * again instead of being submitted twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/sched.h"
#include "backend/slurm_parse.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/strmap.h"
#include "util/timeutil.h"

typedef struct slurm_impl {
    sched_base base;           /* first: sched.c reads b->impl as a sched_base */
    bool no_accounting;        /* sacct said accounting is disabled: use scontrol */
    int64_t sinfo_interval_ms; /* cluster info: at most this often (sinfo_interval) */
    int64_t sinfo_at_ms;       /* 0: never asked */
    json_t *cluster;           /* the last sinfo answer, or NULL */
} slurm_impl;

static slurm_impl *impl_of(backend *b)
{
    return b->impl;
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
    int rc = sched_run_script(b, "looking up jobs by tag (squeue/sacct --name)", sbuf_cstr(&cmd),
                              sched_query_timeout_ms(b), &r, e);
    sbuf_free(&list);
    sbuf_free(&cmd);
    if (rc < 0)
        return -1;
    if (strstr(r.out, "@@squeue-failed")) {
        char err[300];
        sched_first_line(r.err, err, sizeof err);
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

/* --- poll ------------------------------------------------------------------------------------- */

static int query_squeue(backend *b, slurm_queue_row **rows, size_t *nrows, sh_err *e)
{
    /* TZ=UTC: squeue prints times in the cluster's local zone without saying
     * which; UTC makes them unambiguous.  --states=all: finished jobs stay
     * listed for MinJobAge with their final state.  One query for all the
     * user's jobs: a list of ids would fail entirely on one purged id. */
    const char *cmd = "TZ=UTC squeue --noheader --states=all --user=\"$(id -un)\" "
                      "--format='" SLURM_SQUEUE_FORMAT "'\n";
    exec_result r;
    if (sched_run_script(b, "squeue", cmd, sched_query_timeout_ms(b), &r, e) < 0)
        return -1;
    if (r.exit_status != 0) {
        char err[300];
        sched_first_line(r.err, err, sizeof err);
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
        cmd = xasprintf(
            "TZ=UTC sacct --noheader --parsable2 --format=" SLURM_SACCT_FORMAT " --jobs=%s\n", ids);
    exec_result r;
    sh_err e = SH_ERR_INIT;
    int rc = sched_run_script(b, use_scontrol ? "scontrol show job" : "sacct", cmd,
                              sched_query_timeout_ms(b), &r, &e);
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
        sched_first_line(r.err, err, sizeof err);
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
            sched_missing_forget(b, refs[i].job_id);
            slurm_final_to_status(f, &out[i]);
            continue;
        }
        if (f || qrow[i]) {
            sched_missing_forget(b, refs[i].job_id);
            out[i].phase = JOB_UNKNOWN; /* a record, but not final yet */
            continue;
        }
        /* Missing from the queue is not "finished": wait for evidence. */
        if (!sched_missing_lost(b, refs[i].job_id)) {
            out[i].phase = JOB_UNKNOWN;
            continue;
        }
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
            if (c == SLURM_QUEUED) /* %r verbatim: Priority, Resources, QOSMaxJobsPerUserLimit */
                snprintf(out[i].pending_reason, sizeof out[i].pending_reason, "%s",
                         qrow[i]->reason);
            sched_missing_forget(b, refs[i].job_id);
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
    if (sched_run_script(b, "sinfo", cmd, sched_query_timeout_ms(b), &r, &e) < 0) {
        memcpy(why, e.msg, sizeof why);
    } else {
        if (r.exit_status == 0) {
            json_decref(si->cluster);
            si->cluster = slurm_parse_sinfo(r.out);
            char iso[ISO8601_LEN];
            json_object_set_new(si->cluster, "updated_at",
                                json_string(time_format_iso(time_now_us(), iso)));
        } else {
            sched_first_line(r.err, why, sizeof why);
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
    sched_free(&si->base);
    free(si);
    b->impl = NULL;
}

static const struct backend_ops slurm_ops = {
    .type = "slurm",
    .submit = sched_submit,
    .poll = slurm_poll,
    .cancel = sched_cancel,
    .find_by_tag = sched_find_by_tag,
    .read_log = sched_read_log,
    .read_file = sched_read_file,
    .destroy = slurm_destroy,
    .describe = slurm_describe,
};

static const sched_kind slurm_kind = {
    .submit_tool = "sbatch",
    .submit_prefix = "sbatch --parsable --job-name=",
    .out_option = " --output=",
    .err_option = " --error=",
    .parse_submit_id = slurm_parse_sbatch_id,
    .tag_name = tag_name,
    .lookup_names = lookup_names,
    .cancel_tool = "scancel", /* exits 0 for a job that already ended */
};

int backend_slurm_init(backend *b, sh_err *e)
{
    slurm_impl *si = xcalloc(1, sizeof *si);
    if (sched_init(b, &si->base, &slurm_kind, e) < 0) {
        free(si);
        return -1;
    }
    json_t *si_iv = json_object_get(b->config, "sinfo_interval");
    si->sinfo_interval_ms =
        (json_is_integer(si_iv) && json_integer_value(si_iv) > 0 ? json_integer_value(si_iv) : 60) *
        1000;
    b->impl = si;
    b->ops = &slurm_ops;
    return 0;
}

/* slurm_parse.c - pure parsers of Slurm output (see slurm_parse.h). */
#include "backend/slurm_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/sbuf.h"
#include "util/strmap.h"

/* --- states --------------------------------------------------------------------------- */

static const struct {
    const char *code; /* squeue %t */
    slurm_state st;
} slurm_states[] = {
    {"PD", {"PENDING", SLURM_QUEUED, false}},
    {"RQ", {"REQUEUED", SLURM_QUEUED, false}},
    {"RH", {"REQUEUE_HOLD", SLURM_QUEUED, false}},
    {"RF", {"REQUEUE_FED", SLURM_QUEUED, false}},
    {"RD", {"RESV_DEL_HOLD", SLURM_QUEUED, false}},
    {"CF", {"CONFIGURING", SLURM_QUEUED, false}},
    {"R", {"RUNNING", SLURM_RUNNING, false}},
    {"CG", {"COMPLETING", SLURM_RUNNING, false}},
    {"S", {"SUSPENDED", SLURM_RUNNING, false}},
    {"ST", {"STOPPED", SLURM_RUNNING, false}},
    {"SI", {"SIGNALING", SLURM_RUNNING, false}},
    {"SO", {"STAGE_OUT", SLURM_RUNNING, false}},
    {"RS", {"RESIZING", SLURM_RUNNING, false}},
    {"CD", {"COMPLETED", SLURM_ENDED_OK, false}},
    {"F", {"FAILED", SLURM_ENDED_FAILED, true}},
    {"TO", {"TIMEOUT", SLURM_ENDED_FAILED, true}},
    {"OOM", {"OUT_OF_MEMORY", SLURM_ENDED_FAILED, true}},
    {"NF", {"NODE_FAIL", SLURM_ENDED_FAILED, true}},
    {"PR", {"PREEMPTED", SLURM_ENDED_FAILED, true}},
    {"BF", {"BOOT_FAIL", SLURM_ENDED_FAILED, true}},
    {"DL", {"DEADLINE", SLURM_ENDED_FAILED, false}}, /* would miss it again */
    {"RV", {"REVOKED", SLURM_ENDED_CANCELLED, false}},
    {"SE", {"SPECIAL_EXIT", SLURM_ENDED_FAILED, false}},
    {"CA", {"CANCELLED", SLURM_ENDED_CANCELLED, false}},
};
#define N_SLURM_STATES (sizeof slurm_states / sizeof slurm_states[0])

static const slurm_state unknown_state = {"UNKNOWN", SLURM_UNKNOWN_STATE, false};

const slurm_state *slurm_state_lookup(const char *raw)
{
    if (!raw)
        return &unknown_state;
    while (isspace((unsigned char)*raw))
        raw++;
    /* "CANCELLED by 1001": the first word is the state. */
    size_t n = strcspn(raw, " \t\r\n");
    char word[48];
    if (n == 0 || n >= sizeof word)
        return &unknown_state;
    memcpy(word, raw, n);
    word[n] = '\0';
    for (char *p = word; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    bool cut = word[n - 1] == '+'; /* sacct cuts long names to the column width */
    if (cut)
        word[--n] = '\0';
    for (size_t i = 0; i < N_SLURM_STATES; i++) {
        const slurm_state *st = &slurm_states[i].st;
        if (!strcmp(word, st->name) || (!cut && !strcmp(word, slurm_states[i].code)))
            return st;
        if (cut && n >= 3 && !strncmp(st->name, word, n))
            return st;
    }
    return &unknown_state;
}

/* --- fields --------------------------------------------------------------------------- */

/* Splits s at sep into at most max fields (the last one takes the rest).
 * Modifies s.  Returns the count. */
static size_t split_fields(char *s, char sep, char **f, size_t max)
{
    size_t n = 0;
    while (n < max) {
        f[n++] = s;
        char *p = n < max ? strchr(s, sep) : NULL;
        if (!p)
            break;
        *p = '\0';
        s = p + 1;
    }
    return n;
}

static void copy_trim(char *dst, size_t size, const char *src)
{
    while (isspace((unsigned char)*src))
        src++;
    size_t n = strlen(src);
    while (n && isspace((unsigned char)src[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int64_t slurm_parse_time(const char *s)
{
    if (!s)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end && !isspace((unsigned char)*end)))
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000000 : 0;
}

int slurm_parse_exit_code(const char *s, int *exit_code, int *signal)
{
    if (!s)
        return -1;
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != ':')
        return -1;
    const char *b = end + 1;
    long sig = strtol(b, &end, 10);
    if (end == b || (*end && !isspace((unsigned char)*end)) || a < 0 || sig < 0 || a > 255 ||
        sig > 255)
        return -1;
    *exit_code = (int)a;
    *signal = (int)sig;
    return 0;
}

int slurm_parse_squeue_line(const char *line, slurm_queue_row *row)
{
    memset(row, 0, sizeof *row);
    char *copy = xstrdup(line);
    char *f[4];
    size_t n = split_fields(copy, '|', f, 4);
    int rc = -1;
    if (n == 4) {
        copy_trim(row->id, sizeof row->id, f[0]);
        copy_trim(row->state, sizeof row->state, f[1]);
        row->start_us = slurm_parse_time(f[2]);
        copy_trim(row->reason, sizeof row->reason, f[3]);
        rc = row->id[0] && row->state[0] && isdigit((unsigned char)row->id[0]) ? 0 : -1;
    }
    free(copy);
    return rc;
}

/* --- merging rows into one final record per job ------------------------------------ */

typedef struct final_list {
    slurm_final *v;
    size_t n, cap;
} final_list;

static slurm_final *final_for(final_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].id, id))
            return &l->v[i];
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    slurm_final *f = &l->v[l->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", id);
    f->exit_code = -1;
    return f;
}

/* What sacct said about one job, before merging job line and batch step. */
typedef struct sacct_acc {
    char job_state[40], batch_state[40];
    int job_exit, job_sig, batch_exit, batch_sig; /* exit -1: none */
} sacct_acc;

static void apply_sacct_row(final_list *l, sacct_acc **acc, size_t *acc_cap, char **f)
{
    char raw_id[64];
    copy_trim(raw_id, sizeof raw_id, f[0]);
    if (!raw_id[0] || !isdigit((unsigned char)raw_id[0]))
        return;
    char *dot = strchr(raw_id, '.');
    if (dot)
        *dot = '\0';
    /* .extern, .0 ...: their states say nothing about the script. */
    if (dot && strcmp(dot + 1, "batch") != 0)
        return;
    size_t before = l->n;
    slurm_final *fin = final_for(l, raw_id);
    size_t k = (size_t)(fin - l->v);
    if (*acc_cap < l->cap) {
        *acc = xrealloc(*acc, l->cap * sizeof **acc);
        *acc_cap = l->cap;
    }
    sacct_acc *a = &(*acc)[k];
    if (l->n > before) {
        memset(a, 0, sizeof *a);
        a->job_exit = a->batch_exit = -1;
    }
    const slurm_state *st = slurm_state_lookup(f[1]);
    int code = -1, sig = 0;
    bool have_exit = slurm_parse_exit_code(f[2], &code, &sig) == 0;
    if (!dot) {
        fin->have_job_row = true;
        snprintf(a->job_state, sizeof a->job_state, "%s", st->name);
        if (have_exit) {
            a->job_exit = code;
            a->job_sig = sig;
        }
        fin->start_us = slurm_parse_time(f[3]);
        fin->end_us = slurm_parse_time(f[4]);
    } else {
        snprintf(a->batch_state, sizeof a->batch_state, "%s", st->name);
        if (have_exit) {
            a->batch_exit = code;
            a->batch_sig = sig;
        }
    }
}

/* The job line gives the state; the .batch step, when present, gives the
 * script's exit status and a more specific failure (OUT_OF_MEMORY), and turns
 * a COMPLETED job whose script failed into FAILED. */
static void merge_sacct(slurm_final *f, const sacct_acc *a)
{
    const slurm_state *job = slurm_state_lookup(a->job_state);
    const slurm_state *batch = slurm_state_lookup(a->batch_state);
    bool batch_exit = a->batch_exit >= 0;
    f->exit_code = batch_exit ? a->batch_exit : a->job_exit;
    f->term_signal = batch_exit ? a->batch_sig : a->job_sig;
    const char *state = job->name;
    if (job->cls == SLURM_ENDED_OK || job->cls == SLURM_ENDED_FAILED) {
        if (batch->cls == SLURM_ENDED_FAILED)
            state = batch->name;
        else if (job->cls == SLURM_ENDED_OK && batch_exit && (a->batch_exit || a->batch_sig))
            state = "FAILED";
    }
    snprintf(f->state, sizeof f->state, "%s", state);
}

size_t slurm_parse_sacct(const char *text, slurm_final **out)
{
    final_list l = {0};
    sacct_acc *acc = NULL;
    size_t acc_cap = 0;
    char *copy = xstrdup(text ? text : "");
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[5];
        if (split_fields(line, '|', f, 5) == 5)
            apply_sacct_row(&l, &acc, &acc_cap, f);
    }
    free(copy);
    /* A job seen only through steps (its job line not written yet) is not
     * final: drop it, the next poll sees the whole record. */
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].have_job_row)
            continue;
        merge_sacct(&l.v[i], &acc[i]);
        l.v[k++] = l.v[i];
    }
    free(acc);
    *out = l.v;
    return k;
}

/* The value of " Key=" in an scontrol one-line record (up to the next space). */
static bool scontrol_value(const char *rec, const char *key, char *dst, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = rec; (p = strstr(p, key)); p += kl) {
        if ((p == rec || p[-1] == ' ') && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t n = strcspn(v, " \n");
            if (n >= size)
                n = size - 1;
            memcpy(dst, v, n);
            dst[n] = '\0';
            return true;
        }
    }
    return false;
}

size_t slurm_parse_scontrol(const char *text, slurm_final **out)
{
    final_list l = {0};
    char *copy = xstrdup(text ? text : "");
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char id[64], state[48], exit_s[32], start[40], end[40];
        if (!scontrol_value(line, "JobId", id, sizeof id) || !isdigit((unsigned char)id[0]) ||
            !scontrol_value(line, "JobState", state, sizeof state))
            continue;
        slurm_final *f = final_for(&l, id);
        f->have_job_row = true;
        snprintf(f->state, sizeof f->state, "%s", slurm_state_lookup(state)->name);
        int code, sig;
        if (scontrol_value(line, "ExitCode", exit_s, sizeof exit_s) &&
            slurm_parse_exit_code(exit_s, &code, &sig) == 0) {
            f->exit_code = code;
            f->term_signal = sig;
        }
        if (scontrol_value(line, "StartTime", start, sizeof start))
            f->start_us = slurm_parse_time(start);
        if (scontrol_value(line, "EndTime", end, sizeof end))
            f->end_us = slurm_parse_time(end);
    }
    free(copy);
    *out = l.v;
    return l.n;
}

/* --- what it means for the task ------------------------------------------------------ */

void slurm_final_to_status(const slurm_final *f, job_status *out)
{
    memset(out, 0, sizeof *out);
    const slurm_state *st = slurm_state_lookup(f->state);
    snprintf(out->scheduler_state, sizeof out->scheduler_state, "%s", st->name);
    out->started_us = f->start_us;
    out->finished_us = f->end_us;
    out->exit_code = -1;
    switch (st->cls) {
    case SLURM_UNKNOWN_STATE: out->phase = JOB_UNKNOWN; return;
    case SLURM_QUEUED: out->phase = JOB_QUEUED; return;
    case SLURM_RUNNING: out->phase = JOB_RUNNING; return;
    default: break;
    }
    out->phase = JOB_FINISHED;
    if (st->cls == SLURM_ENDED_CANCELLED) {
        out->cancelled = true;
        snprintf(out->reason, sizeof out->reason, "%s", st->name);
        return;
    }
    bool plain = st->cls == SLURM_ENDED_OK || !strcmp(st->name, "FAILED");
    if (plain) {
        /* For COMPLETED and FAILED the exit code is the script's; for the
         * others (TIMEOUT 0:15, ...) it is an artefact of how Slurm ended it. */
        out->exit_code = f->exit_code;
        out->term_signal = f->term_signal;
    }
    if (st->cls == SLURM_ENDED_OK && f->exit_code <= 0 && f->term_signal == 0) {
        out->success = true;
        out->exit_code = 0;
        snprintf(out->reason, sizeof out->reason, "exit code 0");
        return;
    }
    out->retryable = st->cls == SLURM_ENDED_OK ? true : st->retryable;
    if (plain && f->term_signal)
        snprintf(out->reason, sizeof out->reason, "killed by signal %d", f->term_signal);
    else if (plain && f->exit_code > 0)
        snprintf(out->reason, sizeof out->reason, "exit code %d", f->exit_code);
    else
        snprintf(out->reason, sizeof out->reason, "%s", st->name);
}

int slurm_parse_sbatch_id(const char *out, char *id, size_t id_size)
{
    if (!out)
        return -1;
    /* Skip blank lines (a login shell's noise cannot reach here: the driver
     * captured sbatch's own stdout). */
    while (*out == '\n' || *out == '\r' || *out == ' ')
        out++;
    size_t n = strspn(out, "0123456789");
    if (n == 0 || n >= id_size || (out[n] && out[n] != ';' && out[n] != '\n' && out[n] != '\r'))
        return -1;
    memcpy(id, out, n);
    id[n] = '\0';
    return 0;
}

/* --- sinfo ---------------------------------------------------------------------------- */

enum {
    NODE_IDLE,
    NODE_MIXED,
    NODE_ALLOC,
    NODE_DOWN
};
static const char *const node_keys[] = {"nodes_idle", "nodes_mixed", "nodes_alloc", "nodes_down"};

/* sinfo's compact state (%t) -> a class.  Flags are suffixes: '*' (not
 * responding) makes any state down; '~' (powered off), '#' (powering up),
 * '%', '!', '@', '^', '-', '$' (reservations, power, reboot) do not change
 * what the node can do for us now. */
static int node_class(const char *t)
{
    size_t n = strcspn(t, "*~#%!@^-$");
    if (t[n] && strchr(t + n, '*'))
        return NODE_DOWN;
    if (n == 4 && !strncmp(t, "idle", 4))
        return NODE_IDLE;
    if (n == 3 && !strncmp(t, "mix", 3))
        return NODE_MIXED;
    if ((n == 5 && !strncmp(t, "alloc", 5)) || (n == 4 && !strncmp(t, "comp", 4)) ||
        (n == 9 && !strncmp(t, "allocated", 9)) || (n == 4 && !strncmp(t, "resv", 4)))
        return NODE_ALLOC;
    return NODE_DOWN; /* down, drain, drng, fail, maint, unk, ...: not usable now */
}

static void add_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + v));
}

static json_t *counts_new(void)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "nodes", 0, "nodes_idle", 0,
                     "nodes_mixed", 0, "nodes_alloc", 0, "nodes_down", 0, "cpus_alloc", 0,
                     "cpus_idle", 0, "cpus_total", 0);
}

static void count_node(json_t *o, int cls, long long alloc, long long idle, long long total)
{
    add_int(o, "nodes", 1);
    add_int(o, node_keys[cls], 1);
    add_int(o, "cpus_alloc", alloc);
    add_int(o, "cpus_idle", idle);
    add_int(o, "cpus_total", total);
}

static json_t *partition_of(json_t *parts, const char *name, bool dflt, const char *avail)
{
    size_t i;
    json_t *p;
    json_array_foreach(
        parts, i, p) if (!strcmp(json_string_value(json_object_get(p, "name")), name)) return p;
    p = counts_new();
    json_object_set_new(p, "name", json_string(name));
    json_object_set_new(p, "default", json_boolean(dflt));
    json_object_set_new(p, "state", json_string(avail));
    json_array_append_new(parts, p);
    return p;
}

json_t *slurm_parse_sinfo(const char *text)
{
    json_t *out = counts_new(), *parts = json_array();
    strmap seen;
    strmap_init(&seen, 64);
    char *copy = xstrdup(text ? text : "");
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[5];
        int nf = 0;
        for (char *p = line; nf < 5; nf++) {
            f[nf] = p;
            char *bar = strchr(p, '|');
            if (!bar) {
                nf++;
                break;
            }
            *bar = '\0';
            p = bar + 1;
        }
        long long a, i, o, t;
        if (nf != 5 || !*f[0] || !*f[1] || sscanf(f[4], "%lld/%lld/%lld/%lld", &a, &i, &o, &t) != 4)
            continue;
        size_t plen = strlen(f[1]);
        bool dflt = f[1][plen - 1] == '*';
        if (dflt)
            f[1][plen - 1] = '\0';
        int cls = node_class(f[3]);
        count_node(partition_of(parts, f[1], dflt, f[2]), cls, a, i, t);
        size_t dummy;
        if (!strmap_get(&seen, f[0], &dummy)) {
            strmap_put(&seen, f[0], 1);
            count_node(out, cls, a, i, t);
        }
    }
    strmap_free(&seen);
    free(copy); /* after the map: its keys point into copy */
    json_object_set_new(out, "partitions", parts);
    return out;
}

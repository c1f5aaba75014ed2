/* pbs_parse.c - pure parsers of PBS Pro / Torque output (see pbs_parse.h). */
#include "backend/pbs_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/sbuf.h"

/* --- flavors and states -------------------------------------------------------------- */

int pbs_flavor_parse(const char *s, pbs_flavor *out)
{
    if (!s || !strcmp(s, "pbspro")) {
        *out = PBS_FLAVOR_PRO;
        return 0;
    }
    if (!strcmp(s, "torque")) {
        *out = PBS_FLAVOR_TORQUE;
        return 0;
    }
    return -1;
}

/* The one table of job_state letters (PBS Pro and Torque share them; C is
 * Torque's, F and X are PBS Pro's history states). */
static const pbs_state pbs_states[] = {
    {'Q', "QUEUED", PBS_QUEUED},
    {'H', "HELD", PBS_QUEUED},
    {'W', "WAITING", PBS_QUEUED}, /* waiting for its start time or a stage-in */
    {'T', "TRANSIT", PBS_QUEUED}, /* being routed to a queue or server */
    {'M', "MOVED", PBS_QUEUED},   /* moved to another server: not ended */
    {'R', "RUNNING", PBS_RUNNING},
    {'E', "EXITING", PBS_RUNNING}, /* ended, still staging out files */
    {'S', "SUSPENDED", PBS_RUNNING},
    {'U', "USER_SUSPENDED", PBS_RUNNING}, /* suspended while its workstation is busy */
    {'B', "BEGUN", PBS_RUNNING},          /* an array job with subjobs started */
    {'F', "FINISHED", PBS_ENDED},
    {'C', "COMPLETED", PBS_ENDED},
    {'X', "EXPIRED", PBS_ENDED}, /* a finished subjob of an array */
};

static const pbs_state unknown_state = {'?', "UNKNOWN", PBS_UNKNOWN_STATE};

const pbs_state *pbs_state_lookup(const char *raw)
{
    if (!raw)
        return &unknown_state;
    while (isspace((unsigned char)*raw))
        raw++;
    if (!raw[0] || (raw[1] && !isspace((unsigned char)raw[1])))
        return &unknown_state;
    char c = (char)toupper((unsigned char)raw[0]);
    for (size_t i = 0; i < sizeof pbs_states / sizeof pbs_states[0]; i++)
        if (pbs_states[i].letter == c)
            return &pbs_states[i];
    return &unknown_state;
}

/* --- small values -------------------------------------------------------------------- */

static void copy_trim(char *dst, size_t size, const char *src, size_t n)
{
    while (n && isspace((unsigned char)*src)) {
        src++;
        n--;
    }
    while (n && isspace((unsigned char)src[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool parse_int(const char *s, long long *out)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

int64_t pbs_parse_duration(const char *s)
{
    if (!s)
        return -1;
    int64_t total = 0;
    int parts = 0;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    for (;;) {
        if (!isdigit((unsigned char)*p) || ++parts > 3)
            return -1;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (v < 0 || v > 100000000LL)
            return -1;
        total = total * 60 + v;
        p = end;
        if (*p != ':')
            break;
        p++;
    }
    while (isspace((unsigned char)*p))
        p++;
    return *p ? -1 : total;
}

int64_t pbs_parse_time(const char *s)
{
    if (!s)
        return 0;
    long long epoch;
    if (parse_int(s, &epoch))
        return epoch > 0 && epoch < 100000000000LL ? (int64_t)epoch * 1000000 : 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, " %a %b %d %H:%M:%S %Y", &tm);
    if (!end)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000000 : 0;
}

/* --- job ids ---------------------------------------------------------------------------- */

/* Length of the job id at the start of s (digits, [index], .server), or 0. */
static size_t job_id_span(const char *s)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0)
        return 0;
    if (s[n] == '[') {
        size_t k = strspn(s + n + 1, "0123456789");
        if (s[n + 1 + k] != ']')
            return 0;
        n += k + 2;
    }
    if (s[n] == '.') {
        size_t k = strspn(s + n + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789._-");
        if (k == 0)
            return 0;
        n += k + 1;
    }
    return n;
}

bool pbs_job_id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = job_id_span(s);
    return n > 0 && s[n] == '\0' && n < sizeof(((pbs_job *)0)->id);
}

void pbs_short_id(const char *id, char *dst, size_t size)
{
    size_t n = strcspn(id, ".");
    if (n >= size)
        n = size - 1;
    memmove(dst, id, n); /* dst may be id itself */
    dst[n] = '\0';
}

int pbs_parse_qsub_id(const char *out, char *id, size_t id_size)
{
    int rc = -1;
    for (const char *p = out ? out : ""; *p;) {
        size_t len = strcspn(p, "\n");
        const char *line = p;
        p += len + (p[len] == '\n');
        while (len && (*line == ' ' || *line == '\t')) {
            line++;
            len--;
        }
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
            len--;
        size_t n = job_id_span(line);
        if (n == 0 || n != len || n >= id_size)
            continue; /* noise, a warning, or an id too long: never a guess */
        memcpy(id, line, n);
        id[n] = '\0';
        rc = 0;
    }
    return rc;
}

bool pbs_is_gone_message(const char *line)
{
    static const char *const gone[] = {
        "unknown job id",            /* qstat/qdel: never existed, or purged */
        "job has finished",          /* PBS Pro without -x; qdel of a finished job */
        "invalid state for job",     /* Torque qdel of a completed job */
        "request invalid for state", /* PBS Pro qdel of a job in history */
    };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        if (strcasestr(line, gone[i]))
            return true;
    return false;
}

/* --- qstat -f -------------------------------------------------------------------------- */

typedef struct job_list {
    pbs_job *v;
    size_t n, cap;
} job_list;

static pbs_job *job_new(job_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    pbs_job *j = &l->v[l->n++];
    memset(j, 0, sizeof *j);
    j->substate = -1;
    j->walltime_used_s = j->walltime_limit_s = -1;
    return j;
}

/* Applies one attribute (key and its rejoined value) to a job. */
static void apply_attribute(pbs_job *j, const char *key, const char *value)
{
    long long v;
    if (!strcmp(key, "Job_Name")) {
        copy_trim(j->name, sizeof j->name, value, strlen(value));
    } else if (!strcmp(key, "job_state")) {
        copy_trim(j->state, sizeof j->state, value, strlen(value));
    } else if (!strcmp(key, "comment")) {
        copy_trim(j->comment, sizeof j->comment, value, strlen(value));
    } else if (!strcmp(key, "substate")) {
        if (parse_int(value, &v) && v >= 0 && v < 1000)
            j->substate = (int)v;
    } else if (!strcasecmp(key, "Exit_status")) {
        /* PBS Pro spells it Exit_status, Torque exit_status. */
        if (parse_int(value, &v) && v > -100000 && v < 100000) {
            j->have_exit = true;
            j->exit_status = (int)v;
        }
    } else if (!strcmp(key, "resources_used.walltime")) {
        j->walltime_used_s = pbs_parse_duration(value);
    } else if (!strcmp(key, "Resource_List.walltime")) {
        j->walltime_limit_s = pbs_parse_duration(value);
    } else if (!strcmp(key, "stime") || !strcmp(key, "start_time")) {
        if (!j->start_us)
            j->start_us = pbs_parse_time(value);
    } else if (!strcmp(key, "comp_time") || !strcmp(key, "obittime")) {
        j->end_us = pbs_parse_time(value);
    } else if (!strcmp(key, "mtime") && !j->end_us) {
        j->end_us = -pbs_parse_time(value); /* provisional: only for an ended job */
    }
}

/* An attribute line: leading spaces, a key of [A-Za-z0-9_.], " = ". */
static bool attribute_line(const char *line, size_t len, size_t *key_at, size_t *key_len,
                           size_t *value_at)
{
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    if (i == 0 || i == len)
        return false;
    size_t k = i;
    while (i < len && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == '.'))
        i++;
    if (i == k || i + 2 > len || line[i] != ' ' || line[i + 1] != '=')
        return false;
    *key_at = k;
    *key_len = i - k;
    *value_at = i + 2 < len && line[i + 2] == ' ' ? i + 3 : i + 2;
    return true;
}

typedef struct qstat_reader {
    job_list jobs;
    pbs_job *cur;
    sbuf key, value;
    bool in_attr;
    bool garbled;
} qstat_reader;

static void flush_attribute(qstat_reader *r)
{
    if (r->in_attr && r->cur)
        apply_attribute(r->cur, sbuf_cstr(&r->key), sbuf_cstr(&r->value));
    r->in_attr = false;
    sbuf_reset(&r->key);
    sbuf_reset(&r->value);
}

static void finish_job(qstat_reader *r)
{
    flush_attribute(r);
    if (!r->cur)
        return;
    pbs_job *j = r->cur;
    if (!j->state[0])
        r->garbled = true; /* cut off before its job_state */
    if (j->end_us < 0)     /* mtime is the end time only of an ended job */
        j->end_us = pbs_state_lookup(j->state)->cls == PBS_ENDED ? -j->end_us : 0;
    r->cur = NULL;
}

static void read_qstat_line(qstat_reader *r, const char *line, size_t len)
{
    while (len && line[len - 1] == '\r')
        len--;
    static const char head[] = "Job Id:";
    if (len >= sizeof head - 1 && !strncmp(line, head, sizeof head - 1)) {
        finish_job(r);
        r->cur = job_new(&r->jobs);
        copy_trim(r->cur->id, sizeof r->cur->id, line + sizeof head - 1, len - (sizeof head - 1));
        if (!r->cur->id[0] || !isdigit((unsigned char)r->cur->id[0]))
            r->garbled = true;
        return;
    }
    size_t blank = 0;
    while (blank < len && isspace((unsigned char)line[blank]))
        blank++;
    if (blank == len) { /* records and their attributes end at a blank line */
        flush_attribute(r);
        return;
    }
    if (!r->cur)
        return; /* outside a record: noise */
    size_t key_at, key_len, value_at;
    if (line[0] == '\t' && r->in_attr) {
        /* A wrapped value continues after the tab, with no separator. */
        sbuf_append(&r->value, line + 1, len - 1);
    } else if (attribute_line(line, len, &key_at, &key_len, &value_at)) {
        flush_attribute(r);
        sbuf_append(&r->key, line + key_at, key_len);
        sbuf_append(&r->value, line + value_at, len - value_at);
        r->in_attr = true;
    } else if (blank > 0 && r->in_attr) {
        /* Some versions indent the continuation with spaces. */
        sbuf_append(&r->value, line + blank, len - blank);
    }
}

int pbs_parse_qstat_full(const char *text, pbs_job **out, size_t *n)
{
    qstat_reader r = {0};
    r.key = (sbuf)SBUF_INIT;
    r.value = (sbuf)SBUF_INIT;
    const char *p = text ? text : "";
    while (*p) {
        size_t len = strcspn(p, "\n");
        read_qstat_line(&r, p, len);
        p += len + (p[len] == '\n');
    }
    finish_job(&r);
    sbuf_free(&r.key);
    sbuf_free(&r.value);
    if (r.garbled) {
        free(r.jobs.v);
        *out = NULL;
        *n = 0;
        return -1;
    }
    *out = r.jobs.v;
    *n = r.jobs.n;
    return 0;
}

/* --- tracejob --------------------------------------------------------------------------- */

/* The value of "key=" in a line of space-separated key=value tokens. */
static bool token_value(const char *line, const char *key, char *dst, size_t size)
{
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key)); p += kl) {
        if ((p == line || isspace((unsigned char)p[-1])) && p[kl] == '=') {
            const char *v = p + kl + 1;
            copy_trim(dst, size, v, strcspn(v, " \t\r\n"));
            return true;
        }
    }
    return false;
}

static void read_tracejob_line(pbs_job *j, const char *line)
{
    char v[64];
    long long code;
    if (token_value(line, "Exit_status", v, sizeof v) && parse_int(v, &code) && code > -100000 &&
        code < 100000) {
        j->have_exit = true;
        j->exit_status = (int)code;
        if (token_value(line, "resources_used.walltime", v, sizeof v))
            j->walltime_used_s = pbs_parse_duration(v);
        if (token_value(line, "Resource_List.walltime", v, sizeof v))
            j->walltime_limit_s = pbs_parse_duration(v);
    }
    if (strstr(line, "deleted at request of") || strstr(line, "Job deleted"))
        j->deleted = true;
}

size_t pbs_parse_tracejob(const char *text, pbs_job **out)
{
    job_list l = {0};
    pbs_job *cur = NULL;
    static const char mark[] = "@@job ";
    const char *p = text ? text : "";
    char *line = NULL;
    size_t line_cap = 0;
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (len + 1 > line_cap) {
            line_cap = len + 1;
            line = xrealloc(line, line_cap);
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (p[len] == '\n');
        if (!strncmp(line, mark, sizeof mark - 1)) {
            char id[128];
            copy_trim(id, sizeof id, line + sizeof mark - 1, len - (sizeof mark - 1));
            cur = NULL;
            if (pbs_job_id_valid(id)) {
                cur = job_new(&l);
                snprintf(cur->id, sizeof cur->id, "%s", id);
            }
        } else if (cur) {
            read_tracejob_line(cur, line);
        }
    }
    free(line);
    /* Only jobs that tracejob saw end are evidence. */
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!l.v[i].have_exit && !l.v[i].deleted)
            continue;
        l.v[i].state[0] = 'F';
        l.v[i].state[1] = '\0';
        l.v[k++] = l.v[i];
    }
    *out = l.v;
    return k;
}

/* --- what it means for the task ------------------------------------------------------ */

typedef enum pbs_kill {
    KILL_NONE = 0,
    KILL_WALLTIME,
    KILL_MEMORY,
    KILL_OTHER_LIMIT,
    KILL_EXEC_FAILED,
} pbs_kill;

/* What a negative Exit_status means: the two families number them apart. */
static pbs_kill negative_exit_meaning(int code, pbs_flavor flavor)
{
    if (flavor == PBS_FLAVOR_TORQUE) {
        switch (code) {
        case -10: return KILL_MEMORY;   /* JOB_EXEC_OVERLIMIT_MEM */
        case -11: return KILL_WALLTIME; /* JOB_EXEC_OVERLIMIT_WT */
        case -12: return KILL_WALLTIME; /* JOB_EXEC_OVERLIMIT_CPUT */
        default: return KILL_EXEC_FAILED;
        }
    }
    switch (code) {
    case -24:                          /* JOB_EXEC_KILL_NCPUS_BURST */
    case -25: return KILL_OTHER_LIMIT; /* JOB_EXEC_KILL_NCPUS_SUM */
    case -26:                          /* JOB_EXEC_KILL_VMEM */
    case -27: return KILL_MEMORY;      /* JOB_EXEC_KILL_MEM */
    case -28:                          /* JOB_EXEC_KILL_CPUT */
    case -29: return KILL_WALLTIME;    /* JOB_EXEC_KILL_WALLTIME */
    default: return KILL_EXEC_FAILED;
    }
}

static void set_state_name(job_status *out, const char *name)
{
    snprintf(out->scheduler_state, sizeof out->scheduler_state, "%s", name);
}

static void finished_failure(job_status *out, const char *state, const char *reason)
{
    out->retryable = true;
    set_state_name(out, state);
    snprintf(out->reason, sizeof out->reason, "%s", reason);
}

void pbs_job_to_status(const pbs_job *j, pbs_flavor flavor, job_status *out)
{
    memset(out, 0, sizeof *out);
    const pbs_state *st = pbs_state_lookup(j->state);
    out->exit_code = -1;
    out->started_us = j->start_us;
    out->finished_us = j->end_us;
    set_state_name(out, st->name);
    switch (st->cls) {
    case PBS_UNKNOWN_STATE: out->phase = JOB_UNKNOWN; return;
    case PBS_QUEUED:
        out->phase = JOB_QUEUED;
        /* why it waits, in the scheduler's words */
        snprintf(out->pending_reason, sizeof out->pending_reason, "%s", j->comment);
        return;
    case PBS_RUNNING: out->phase = JOB_RUNNING; return;
    case PBS_ENDED: break;
    }
    out->phase = JOB_FINISHED;
    bool deleted = j->deleted || j->substate == PBS_SUBSTATE_TERMINATED;
    bool over_walltime = j->walltime_limit_s > 0 && j->walltime_used_s >= j->walltime_limit_s;
    int code = j->exit_status;
    if (deleted && !(j->have_exit && code == 0)) {
        /* qdel: whatever the script's exit status became (271, 143, none). */
        out->cancelled = true;
        out->exit_code = j->have_exit && code > 0 && code < 256 ? code : -1;
        set_state_name(out, "CANCELLED");
        snprintf(out->reason, sizeof out->reason, "CANCELLED");
        return;
    }
    if (j->have_exit && code == 0) {
        /* Exit 0 is success even at the walltime limit: the script ended. */
        out->success = true;
        out->exit_code = 0;
        set_state_name(out, "COMPLETED");
        snprintf(out->reason, sizeof out->reason, "exit code 0");
        return;
    }
    if (j->have_exit && code > 0 && code < 256) {
        out->exit_code = code;
        char reason[64];
        snprintf(reason, sizeof reason, "exit code %d", code);
        finished_failure(out, "FAILED", reason);
        return;
    }
    if (j->have_exit && code >= 256) {
        /* Killed by a signal: PBS reports 256 + the signal number.  SIGTERM
         * or SIGKILL at the walltime limit is the limit's doing. */
        out->term_signal = code - 256;
        char reason[64];
        if (over_walltime) {
            finished_failure(out, "TIMEOUT", "TIMEOUT");
        } else {
            snprintf(reason, sizeof reason, "killed by signal %d", out->term_signal);
            finished_failure(out, "FAILED", reason);
        }
        return;
    }
    if (!j->have_exit) {
        if (!j->start_us) {
            /* Deleted before it ran: no exit status is ever written. */
            out->cancelled = true;
            set_state_name(out, "CANCELLED");
            snprintf(out->reason, sizeof out->reason, "CANCELLED");
        } else {
            finished_failure(out, "FAILED", "finished without an exit status");
        }
        return;
    }
    char reason[128];
    switch (negative_exit_meaning(code, flavor)) {
    case KILL_WALLTIME: finished_failure(out, "TIMEOUT", "TIMEOUT"); return;
    case KILL_MEMORY: finished_failure(out, "OUT_OF_MEMORY", "OUT_OF_MEMORY"); return;
    case KILL_OTHER_LIMIT:
        snprintf(reason, sizeof reason,
                 "killed by PBS for exceeding its resources (Exit_status %d)", code);
        finished_failure(out, "FAILED", reason);
        return;
    default:
        snprintf(reason, sizeof reason, "PBS could not run the job (Exit_status %d)", code);
        finished_failure(out, "EXEC_FAILED", reason);
        return;
    }
}

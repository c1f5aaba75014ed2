/* noop.c - a backend whose jobs succeed at once without running anything.
 *
 * For benchmarks of the engine and the store (bench/), and for dry
 * experiments with a workflow's shape: `backend "fake" { type = "noop" }`.
 * Every job finishes successfully on the first poll after its submission. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

typedef struct noop_state {
    unsigned long long next_id;
    long unavailable_left; /* config unavailable_submits: calls still to fail */
} noop_state;

static int noop_submit(backend *b, size_t n, const job_spec *jobs, char **job_ids, sh_err *errs)
{
    noop_state *st = b->impl;
    (void)jobs;
    if (st->unavailable_left > 0) {
        st->unavailable_left--;
        for (size_t i = 0; i < n; i++)
            sh_err_set(&errs[i], SH_EUNAVAIL, "backend %s: unreachable (injected fault)", b->name);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        job_ids[i] = xasprintf("%llu", ++st->next_id);
    return 0;
}

static int noop_poll(backend *b, size_t n, const job_ref *refs, job_status *out, sh_err *e)
{
    (void)b;
    (void)refs;
    (void)e;
    int64_t now = time_now_us();
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].phase = JOB_FINISHED;
        out[i].success = true;
        out[i].exit_code = 0;
        out[i].started_us = now;
        out[i].finished_us = now;
    }
    return 0;
}

static int noop_cancel(backend *b, const job_ref *ref, sh_err *e)
{
    (void)b;
    (void)ref;
    (void)e;
    return 0;
}

static int noop_find_by_tag(backend *b, const char *tag, char **job_id, sh_err *e)
{
    (void)b;
    (void)tag;
    (void)job_id;
    (void)e;
    return 0;
}

static int noop_read(backend *b, const char *path, size_t tail, char **out, size_t *len, sh_err *e)
{
    (void)b;
    (void)tail;
    (void)out;
    (void)len;
    return sh_err_set(e, SH_ENOTFOUND, "%s: the noop backend writes no files", path);
}

static int noop_read_file(backend *b, const char *path, char **out, size_t *len, sh_err *e)
{
    return noop_read(b, path, 0, out, len, e);
}

static void noop_destroy(backend *b)
{
    free(b->impl);
    b->impl = NULL;
}

static const struct backend_ops NOOP_OPS = {
    .type = "noop",
    .submit = noop_submit,
    .poll = noop_poll,
    .cancel = noop_cancel,
    .find_by_tag = noop_find_by_tag,
    .read_log = noop_read,
    .read_file = noop_read_file,
    .destroy = noop_destroy,
};

int backend_noop_init(backend *b, sh_err *e)
{
    (void)e;
    b->ops = &NOOP_OPS;
    noop_state *st = xcalloc(1, sizeof(noop_state));
    json_t *faults = json_object_get(b->config, "unavailable_submits");
    st->unavailable_left = json_is_integer(faults) ? (long)json_integer_value(faults) : 0;
    b->impl = st;
    return 0;
}

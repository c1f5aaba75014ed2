/* fuzz_slurm_parse.c - whatever a login node prints back (a motd, a cut-off
 * line, a new Slurm version's columns, binary noise), the parsers of
 * src/backend/slurm_parse.c and the submit driver's record parser read it
 * without crashing, leaking or reading past a field, and what they return
 * keeps its promises: ids are non-empty, start with a digit and fit their
 * buffer; states are canonical names from the one state table; a job is
 * only "successful" when it COMPLETED with exit code 0 and no signal.
 *
 * The same bytes go to every parser (they share the field splitting), as
 * squeue lines, one sacct answer, one scontrol answer, an sbatch answer and
 * a submit-driver answer for four jobs. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/slurm_parse.h"
#include "backend/submit_driver.h"
#include "util/sbuf.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_slurm_parse: property failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_id(const char *id, size_t size)
{
    size_t len = strnlen(id, size);
    CHECK(len > 0 && len < size);
    CHECK(isdigit((unsigned char)id[0]));
}

/* A canonical state name maps to itself: nothing invented, nothing cut. */
static void check_canonical_state(const char *name)
{
    const slurm_state *st = slurm_state_lookup(name);
    CHECK(st != NULL);
    if (st->cls != SLURM_UNKNOWN_STATE)
        CHECK(!strcmp(st->name, name));
}

static void check_status(const slurm_final *f)
{
    job_status s;
    slurm_final_to_status(f, &s);
    CHECK(strnlen(s.scheduler_state, sizeof s.scheduler_state) < sizeof s.scheduler_state);
    CHECK(strnlen(s.reason, sizeof s.reason) < sizeof s.reason);
    if (s.success) {
        CHECK(s.phase == JOB_FINISHED);
        CHECK(slurm_state_lookup(f->state)->cls == SLURM_ENDED_OK);
        CHECK(s.exit_code == 0 && s.term_signal == 0);
        CHECK(!s.cancelled);
    }
    if (s.cancelled)
        CHECK(s.phase == JOB_FINISHED && !s.retryable && !s.success);
}

static void check_finals(slurm_final *v, size_t n, size_t max_lines)
{
    CHECK(n <= max_lines);
    for (size_t i = 0; i < n; i++) {
        check_id(v[i].id, sizeof v[i].id);
        CHECK(v[i].have_job_row);
        check_canonical_state(v[i].state);
        CHECK(v[i].exit_code >= -1 && v[i].exit_code <= 255);
        CHECK(v[i].term_signal >= 0 && v[i].term_signal <= 255);
        CHECK(v[i].start_us >= 0 && v[i].end_us >= 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(v[i].id, v[j].id) != 0); /* one record per job */
        check_status(&v[i]);
    }
    free(v);
}

static void fuzz_squeue(char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        slurm_queue_row row;
        if (slurm_parse_squeue_line(line, &row) != 0)
            continue;
        check_id(row.id, sizeof row.id);
        CHECK(row.state[0] != '\0');
        CHECK(strnlen(row.reason, sizeof row.reason) < sizeof row.reason);
        CHECK(row.start_us >= 0);
    }
}

static void fuzz_submit_driver(const char *text)
{
    submit_record recs[4];
    memset(recs, 0, sizeof recs);
    size_t seen = submit_driver_parse(text, 4, recs);
    CHECK(seen <= 4);
    size_t counted = 0;
    for (size_t i = 0; i < 4; i++)
        counted += recs[i].seen;
    CHECK(counted == seen);
    submit_records_free(4, recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = xstrndup((const char *)data, size);
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';

    slurm_final *v = NULL;
    size_t n = slurm_parse_sacct(text, &v);
    check_finals(v, n, lines);
    n = slurm_parse_scontrol(text, &v);
    check_finals(v, n, lines);

    char id[64];
    if (slurm_parse_sbatch_id(text, id, sizeof id) == 0) {
        check_id(id, sizeof id);
        CHECK(strspn(id, "0123456789") == strlen(id));
    }
    fuzz_submit_driver(text);

    /* Each whitespace-separated word, and the whole first line, as a state. */
    check_canonical_state(slurm_state_lookup(text)->name);
    int code, sig;
    if (slurm_parse_exit_code(text, &code, &sig) == 0)
        CHECK(code >= 0 && code <= 255 && sig >= 0 && sig <= 255);
    CHECK(slurm_parse_time(text) >= 0);

    fuzz_squeue(text); /* last: strtok_r cuts text up */
    free(text);
    return 0;
}

/* fuzz_pbs_parse.c - the PBS parsers on arbitrary bytes: `qstat -f` records
 * (wrapped continuation lines, garbage, cut-off output), tracejob output and
 * qsub ids.  They accept or reject, never crash, leak or read out of
 * bounds, and every job they return is self-consistent: an id that parsed as
 * a qsub id is a valid id, a status for every job is well formed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/pbs_parse.h"
#include "util/sbuf.h"

static void check_status(const pbs_job *j)
{
    for (int flavor = PBS_FLAVOR_PRO; flavor <= PBS_FLAVOR_TORQUE; flavor++) {
        job_status s;
        pbs_job_to_status(j, (pbs_flavor)flavor, &s);
        if (s.phase != JOB_FINISHED && (s.success || s.cancelled || s.retryable))
            abort(); /* only an ended job has an outcome */
        if (s.success && (s.cancelled || s.retryable || s.exit_code != 0))
            abort();
        if (s.phase == JOB_FINISHED && !s.success && !s.reason[0])
            abort(); /* every failure says why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = xstrndup((const char *)data, size);
    pbs_job *jobs = NULL;
    size_t n = 0;
    if (pbs_parse_qstat_full(text, &jobs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (!jobs[i].state[0] || strlen(jobs[i].id) >= sizeof jobs[i].id)
                abort(); /* a record without a job_state must make the parse fail */
            check_status(&jobs[i]);
        }
    } else if (jobs || n) {
        abort();
    }
    free(jobs);
    jobs = NULL;
    n = pbs_parse_tracejob(text, &jobs);
    for (size_t i = 0; i < n; i++) {
        if (!pbs_job_id_valid(jobs[i].id))
            abort();
        check_status(&jobs[i]);
    }
    free(jobs);
    char id[128];
    if (pbs_parse_qsub_id(text, id, sizeof id) == 0 && !pbs_job_id_valid(id))
        abort();
    char shortid[128];
    pbs_short_id(text, shortid, sizeof shortid);
    pbs_is_gone_message(text);
    pbs_parse_duration(text);
    pbs_parse_time(text);
    pbs_state_lookup(text);
    free(text);
    return 0;
}

/* submit_driver.h - several scheduler submissions (sbatch, qsub) in ONE remote
 * shell, so N ready tasks cost one SSH round trip instead of N.
 *
 * The driver is a shell script sent on the transport's stdin (`sh -s`).  Each
 * job script is fed to its submit command through a quoted here-document
 * whose delimiter is random and checked not to occur in any script, so the
 * script reaches the scheduler byte for byte: no quoting, no expansion.  Each
 * submission's exit status, stdout and stderr come back as a tagged record,
 * so a rejected job fails alone and ids are matched to jobs by index, not by
 * the order of output lines.  Anything else the login shell prints (motd,
 * module banners) is ignored. */
#ifndef SCRIPTHUT_BACKEND_SUBMIT_DRIVER_H
#define SCRIPTHUT_BACKEND_SUBMIT_DRIVER_H
#include <stdbool.h>
#include <stddef.h>

/* Builds the driver.  commands[i] is a complete, already-quoted command line
 * that reads a job script on stdin; prelude (may be NULL) runs first (e.g.
 * mkdir -p of the log dirs).  Caller frees. */
char *submit_driver_build(size_t n, const char *const *commands, const char *const *scripts,
                          const char *prelude);

typedef struct submit_record {
    bool seen; /* false: the driver never reported this one (it died, or the
                   connection dropped): whether it was submitted is unknown */
    int rc;
    char *out; /* stdout of the submit command */
    char *err; /* stderr */
} submit_record;

/* Parses the driver's output into recs[0..n) (zeroed by the caller). Returns
 * how many were seen. */
size_t submit_driver_parse(const char *text, size_t n, submit_record *recs);
void submit_records_free(size_t n, submit_record *recs);

#endif

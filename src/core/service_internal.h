/* service_internal.h - what the service's own files share (service.c and
 * the feature files beside it, e.g. stacks).  Not for the CLI or the API:
 * they use service.h. */
#ifndef SCRIPTHUT_CORE_SERVICE_INTERNAL_H
#define SCRIPTHUT_CORE_SERVICE_INTERNAL_H
#include <jansson.h>

#include "core/engine.h"
#include "core/service.h"
#include "core/store.h"

struct svc {
    json_t *config;
    struct host *host;
    store *st;
    char *data_dir;
    double poll_interval;
    int retention_days;
    engine *en;
    int lock_fd;
};

/* The element of a config list (backends, stacks, workflows) named `name`. */
json_t *svc_find_named(json_t *list, const char *name);
/* "a, b, c" or "(none)": for "unknown X (known: ...)" errors. Caller frees. */
char *svc_known_names(json_t *list);
/* A configured backend's object, or NULL with a 422 naming the known ones. */
json_t *svc_find_backend(svc *s, const char *name, sh_err *e);
/* The context a run on backend `bcfg` is created with: {"backend", "env":
 * {"backend", "server", "workflow"}, "env_groups", "stacks"} (service.c). */
json_t *svc_run_context(svc *s, json_t *bcfg, json_t *doc_env, json_t *doc_groups);
/* Tasks that use stacks (service_stacks.c): `doc` has normalised env rules
 * (host_env_normalize_document).  When a stack the run's tasks use (as
 * scripthut.env's walk decides, `if` guards included) is not ready on the
 * backend, *augmented = a copy of doc with an install task in front and
 * dependencies on it; NULL when nothing changes (also for _stack/ runs).
 * -1 for a bad stack name, a stack that does not list this backend, or a
 * script error. */
int svc_stack_add_installs(svc *s, const char *workflow_name, const char *backend_name, json_t *doc,
                           json_t **augmented, sh_err *e);
/* Ends a public operation: resets the store's statements (no read
 * transaction stays open between calls) and returns rc. */
int svc_done(svc *s, int rc);

#endif

/* backend.c - creating and destroying backends: the one place that maps a
 * config's "type" to an implementation. */
#include "backend/backend.h"

#include <stdlib.h>
#include <string.h>

#include "transport/transport.h"
#include "util/sbuf.h"

typedef int (*backend_init_fn)(backend *b, sh_err *e);

static const struct {
    const char *type;
    backend_init_fn init;
} backend_types[] = {
    {"local", backend_local_init},
    {"noop", backend_noop_init}, /* benchmarks: jobs succeed without running */
    {"slurm", backend_slurm_init},
    {"pbs", backend_pbs_init},
};

static int backend_init_for_type(backend *b, const char *type, sh_err *e)
{
    for (size_t i = 0; i < sizeof backend_types / sizeof backend_types[0]; i++) {
        if (strcmp(backend_types[i].type, type) == 0)
            return backend_types[i].init(b, e);
    }
    return sh_err_set(
        e, SH_EINVAL,
        "backend '%s': unknown backend type '%s' (expected local, slurm, pbs or noop)", b->name,
        type);
}

backend *backend_create(const char *name, json_t *config, const char *data_dir, sh_err *e)
{
    const char *type = json_string_value(json_object_get(config, "type"));
    if (!type) {
        sh_err_set(e, SH_EINVAL, "backend '%s' has no \"type\"", name ? name : "?");
        return NULL;
    }
    backend *b = xcalloc(1, sizeof *b);
    b->name = xstrdup(name ? name : "");
    b->config = json_incref(config);
    b->data_dir = xstrdup(data_dir);
    if (backend_init_for_type(b, type, e) < 0) {
        backend_destroy(b);
        return NULL;
    }
    return b;
}

void backend_destroy(backend *b)
{
    if (!b)
        return;
    if (b->ops && b->ops->destroy)
        b->ops->destroy(b);
    transport_free(b->tr);
    json_decref(b->config);
    free(b->data_dir);
    free(b->name);
    free(b);
}

struct transport *backend_transport(backend *b)
{
    return b->tr;
}

json_t *backend_describe(backend *b)
{
    json_t *o = json_pack("{s:s,s:s}", "name", b->name, "type", b->ops ? b->ops->type : "?");
    json_t *tr = b->tr && b->tr->ops->describe ? b->tr->ops->describe(b->tr) : NULL;
    json_object_set_new(o, "transport", tr ? tr : json_null());
    json_t *state = tr ? json_object_get(tr, "state") : NULL;
    json_object_set_new(o, "connected",
                        json_boolean(!tr || (json_is_string(state) &&
                                             !strcmp(json_string_value(state), "connected"))));
    if (b->ops && b->ops->describe)
        b->ops->describe(b, o);
    return o;
}

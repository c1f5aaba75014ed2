/* service_backends.c - `backend list` / `backend status` and GET
 * /api/v1/backends: each configured backend merged with what the engine last
 * wrote about it (core/backend_snapshot.h): connection state, last error,
 * queue depth, command counters and log, cluster info.  And a command run on
 * a backend's machine (svc_backend_exec, the scripting API's exec).
 *
 * The engine may live in another process (the detached daemon, a server), so
 * the snapshot file is the only live view a CLI has.  It is trusted only while
 * the engine that wrote it still holds the engine lock; otherwise the answer
 * says "engine not running, last seen <time>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

#include "core/backend_snapshot.h"
#include "core/engine.h"
#include "core/service.h"
#include "core/service_internal.h"
#include "transport/transport.h"

/* Copies the snapshot's fields (name/type come from the config). */
static void merge_snapshot(json_t *o, json_t *snap)
{
    const char *k;
    json_t *v;
    json_object_foreach(snap, k, v) if (strcmp(k, "name") && strcmp(k, "type"))
        json_object_set(o, k, v);
}

static json_t *describe_configured(svc *s, json_t *b, pid_t holder)
{
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *type = json_string_value(json_object_get(b, "type"));
    json_t *o = json_object();
    json_object_set(o, "name", json_object_get(b, "name"));
    json_object_set(o, "type", json_object_get(b, "type"));
    json_object_set(o, "max_concurrent", json_object_get(b, "max_concurrent"));
    if (json_object_get(b, "max_cpus"))
        json_object_set(o, "max_cpus", json_object_get(b, "max_cpus"));
    json_object_set(o, "defined_at", json_object_get(b, "defined_at"));
    bool local = type && !strcmp(type, "local");
    json_t *snap = name ? backend_snapshot_read(s->data_dir, name) : NULL;
    json_int_t writer = snap ? json_integer_value(json_object_get(snap, "engine_pid")) : 0;
    bool live = snap && holder > 0 && writer == (json_int_t)holder;
    if (snap)
        merge_snapshot(o, snap);
    json_object_set_new(o, "engine_running", json_boolean(holder != 0));
    json_object_set_new(o, "live", json_boolean(live));
    json_t *updated = snap ? json_object_get(snap, "updated_at") : NULL;
    json_object_set(o, "last_seen", updated ? updated : json_null());
    json_object_del(o, "updated_at");
    json_object_del(o, "engine_pid");
    if (!live) {
        /* What an engine said in the past is history, not the current state. */
        char note[200];
        if (!snap)
            snprintf(note, sizeof note, "%s",
                     holder ? "the engine has not used this backend yet"
                            : "no engine has used this backend yet");
        else if (holder)
            snprintf(note, sizeof note,
                     "the running engine has not used this backend yet; last seen %s",
                     json_string_value(updated) ? json_string_value(updated) : "?");
        else
            snprintf(note, sizeof note, "engine not running, last seen %s",
                     json_string_value(updated) ? json_string_value(updated) : "?");
        json_object_set_new(o, "note", json_string(note));
        json_object_set_new(o, "connected", json_boolean(local));
        json_object_set_new(o, "active_jobs", json_integer(0));
    }
    if (!json_object_get(o, "connected"))
        json_object_set_new(o, "connected", json_boolean(local));
    if (!json_object_get(o, "active_jobs"))
        json_object_set_new(o, "active_jobs", json_integer(0));
    json_decref(snap);
    return o;
}

int svc_backend_list(svc *s, json_t **out, sh_err *e)
{
    (void)e;
    pid_t holder = engine_lock_holder(s->data_dir);
    json_t *list = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(s->config, "backends"), i, b)
        json_array_append_new(list, describe_configured(s, b, holder));
    *out = json_pack("{s:o}", "backends", list);
    return 0;
}

int svc_backend_exec(svc *s, const char *name, const char *command, int timeout_ms, exec_result *r,
                     sh_err *e)
{
    json_t *backends = json_object_get(s->config, "backends");
    json_t *config = svc_find_named(backends, name);
    if (!config) {
        char *known = svc_known_names(backends);
        sh_err_set(e, SH_ENOTFOUND, "Backend '%s' not found (known backends: %s)", name, known);
        free(known);
        return -1;
    }
    backend *b = backend_create(name, config, s->data_dir, e);
    if (!b)
        return -1;
    if (!b->tr) {
        sh_err_set(e, SH_EUNAVAIL, "backend '%s' has no machine to run commands on", name);
        backend_destroy(b);
        return -1;
    }
    int rc = b->tr->ops->exec(b->tr, command, NULL, 0, timeout_ms, r, e);
    backend_destroy(b);
    return rc != 0 ? -1 : 0;
}

/* backend_snapshot.h - what the engine knows about each backend, for the
 * processes that do not run the engine (`backend list/status` in local CLI
 * mode, where the engine is the detached daemon or a server).
 *
 * The engine writes one JSON file per backend under <data_dir>/backends/
 * (atomically replaced, at most once per tick, only when it changed): the
 * backend's describe() (connection state, last error, counters, command log,
 * cluster info) plus its queue depth.  A file is not a heartbeat: readers ask
 * the engine lock whether the writer is still alive. */
#ifndef SCRIPTHUT_CORE_BACKEND_SNAPSHOT_H
#define SCRIPTHUT_CORE_BACKEND_SNAPSHOT_H
#include <jansson.h>

/* Writes snap (takes no reference) as the snapshot of backend `name` unless
 * it equals *last (the text written before; updated, caller frees).  An
 * "updated_at" field is added to what is written.  0, or -1 on I/O errors
 * (logged once per error kind by the caller, never fatal to a tick). */
int backend_snapshot_write(const char *data_dir, const char *name, json_t *snap, char **last);

/* The last snapshot of backend `name`, or NULL when none was written. */
json_t *backend_snapshot_read(const char *data_dir, const char *name);

#endif

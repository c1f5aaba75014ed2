/* engine.h - the run engine (DESIGN §5).
 *
 * Exactly one engine per data dir (engine_lock_*).  The engine keeps the
 * active runs in memory, and every tick:
 *   1. picks up new runs and cancel requests from the store;
 *   2. asks each backend once about all its active jobs and applies the
 *      answers (a failed query changes nothing);
 *   3. cascades dep_failed, schedules retries, appends generated tasks;
 *   4. submits ready tasks fairly across runs within the per-run and
 *      per-backend caps: marked `submitting` (durably) before the backend is
 *      called, `submitted` after, so a crash in between is reconciled by tag.
 * All transitions of a tick and their events are committed together. */
#ifndef SCRIPTHUT_CORE_ENGINE_H
#define SCRIPTHUT_CORE_ENGINE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/store.h"
#include "util/err.h"

struct host;
typedef struct engine engine;

typedef struct engine_opts {
    const char *data_dir;
    double poll_interval; /* seconds between scheduler queries (>= 1) */
    int retention_days;   /* 0: keep finished runs forever */
} engine_opts;

engine *engine_new(store *st, struct host *h, const engine_opts *o, sh_err *e);
void engine_free(engine *en);

/* One tick.  -1 only for store failures (the tick is rolled back). */
int engine_tick(engine *en, sh_err *e);

/* Waits for a wake-up (submission, cancel, a job wrapper exiting) or until
 * the next tick is due, at most max_ms.  Returns early with EINTR semantics
 * when a signal arrives (returns 1), else 0. */
int engine_wait(engine *en, int max_ms);

/* Number of runs the engine is still driving. */
size_t engine_active_runs(engine *en);

/* --- ownership of a data dir ---------------------------------------------- */

/* Takes <data_dir>/engine.lock (flock) and records our pid; returns the lock
 * fd, or -1 when another process holds it. */
int engine_lock_acquire(const char *data_dir);
void engine_lock_release(int fd, const char *data_dir);
/* The pid of the engine holding the lock, or 0 when none. */
pid_t engine_lock_holder(const char *data_dir);
/* Wakes the engine of data_dir: 0 if an engine was listening, -1 if none. */
int engine_wake(const char *data_dir);

/* Starts the detached engine (`scripthut daemon run --data-dir D ...`) in its
 * own session with its output appended to <data_dir>/engine.log. */
int engine_spawn_detached(const char *data_dir, double poll_interval, int retention_days,
                          sh_err *e);

#endif

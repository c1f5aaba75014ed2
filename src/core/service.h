/* service.h - the operations behind every user-facing command.
 *
 * The CLI (local mode), the HTTP API and the Lua `scripthut` module call these
 * and get JSON in the API's shapes (spec/original-cli-api.md §7), so every
 * face prints the same thing.  A service owns the loaded configuration, a Lua
 * host and a store connection; it is not thread-safe (one per thread).
 *
 * Who runs the engine (DESIGN §5): exactly one process per data dir holds the
 * engine lock.  Others only write the store and wake the holder.  In local
 * mode a submission without --watch starts the detached engine when nobody
 * holds the lock. */
#ifndef SCRIPTHUT_CORE_SERVICE_H
#define SCRIPTHUT_CORE_SERVICE_H
#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"
#include "util/exec_result.h"

typedef struct svc svc;
struct host;

/* Loads the config (explicit path or discovery) and opens the store. */
int svc_open(const char *explicit_config, svc **out, sh_err *e);
/* Like svc_open with only the settings (host_load_settings): for commands
 * that need no more, when the config does not load.  svc_config()'s
 * "files"."settings" names the file the settings came from (null: the
 * defaults). */
int svc_open_settings(const char *explicit_config, svc **out, sh_err *e);
/* Opens only the store of data_dir, without any config: for the detached
 * engine, which gets everything it needs from the runs' frozen contexts. */
int svc_open_engine_only(const char *data_dir, double poll_interval, int retention_days, svc **out,
                         sh_err *e);
void svc_close(svc *s);

json_t *svc_config(svc *s);    /* borrowed */
struct host *svc_host(svc *s); /* borrowed */
const char *svc_data_dir(svc *s);

/* Submissions (svc_submit, svc_workflow_run, svc_run_rerun) wake the engine
 * of the data dir, or start the detached engine when none runs.
 *
 * Submits a workflow document ({"tasks": [...], "env": [...], "env_groups":
 * {...}}) as a new run on `backend`.  Validation (fields, deps, cycles,
 * duplicates) happens before anything is stored.  *summary = run summary. */
int svc_submit(svc *s, const char *workflow_name, const char *backend, json_t *doc,
               int max_concurrent, json_t **summary, sh_err *e);

/* Runs workflow `name` from the config; backend_override may be NULL. */
int svc_workflow_run(svc *s, const char *name, const char *backend_override, json_t **summary,
                     sh_err *e);
/* {"workflows": [{"name","backend","description","max_concurrent","tasks_source","defined_at"}]} */
int svc_workflow_list(svc *s, json_t **out, sh_err *e);
/* Dry run: {"name","backend","task_count","tasks":[task objects after expansion],
 *  "scripts": [{"task_id","script"}]}; nothing stored. */
int svc_workflow_view(svc *s, const char *name, const char *backend_override, json_t **out,
                      sh_err *e);

/* {"runs": [summary...]} newest first; limit <= 0 = all; workflow may be NULL. */
int svc_run_list(svc *s, int limit, const char *workflow, json_t **out, sh_err *e);
/* Run detail: summary + items + log_dir, account, commit_hash, git_repo, git_branch. */
int svc_run_detail(svc *s, const char *run_id, json_t **out, sh_err *e);
/* Requests a cancel, wakes (or starts) the engine and waits up to wait_ms for it
 * to take effect.  *summary = the run summary afterwards. */
int svc_run_cancel(svc *s, const char *run_id, int wait_ms, json_t **summary, sh_err *e);
/* New run with the same tasks; failed_only keeps completed tasks completed. */
int svc_run_rerun(svc *s, const char *run_id, bool failed_only, json_t **summary, sh_err *e);
/* Deletes a finished run and its local logs (409 for an active run). */
int svc_run_delete(svc *s, const char *run_id, sh_err *e);
/* Events (state transitions) of a run after sequence number `after`:
 * {"events": [{"seq","ts","run_id","task_id","from","to","detail"}], "last_seq": n} */
int svc_run_events(svc *s, const char *run_id, long long after, json_t **out, sh_err *e);
/* The newest event's sequence number (0 when none): where a new live feed
 * (SSE without Last-Event-ID) starts. */
int svc_events_last_seq(svc *s, long long *out, sh_err *e);

/* A task's log: which = "output" | "error"; tail_lines <= 0 = whole file.
 * 404 unknown run/task, 422 "Task has not been submitted yet". */
int svc_task_log(svc *s, const char *run_id, const char *task_id, const char *which,
                 long tail_lines, char **content, sh_err *e);

/* {"backends": [{"name","type","connected","max_concurrent","active_jobs",
 * "engine_running","live","last_seen","note"?, "transport"?: {state,
 * last_error, counters, log}, "cluster"?: {...}}]}: the config merged with
 * the engine's last snapshot (service_backends.c). */
int svc_backend_list(svc *s, json_t **out, sh_err *e);

/* Runs command on backend `name`'s machine, through the backend's own
 * transport (this machine, or its login node over SSH); timeout_ms 0 = none.
 * 404 for an unknown backend (the message lists the known ones), 503 for a
 * backend with no machine to run commands on.  Fills r (exec_result_free). */
int svc_backend_exec(svc *s, const char *name, const char *command, int timeout_ms, exec_result *r,
                     sh_err *e);

/* --- stacks (service_stacks.c, docs/stacks.md) ------------------------ */

/* {"stacks": [stack objects of the config, each with its "hash"]} */
int svc_stack_list(svc *s, json_t **out, sh_err *e);
/* {"checks": [{"stack","backend","status": {name, backend, state, hash, path,
 *  last_built, size_bytes, error, locked, lock_holder} | null, "note"}]}: the
 *  status as scripthut.stack.parse_check read it; one row per stack
 * (or just `name`) and backend (or just `backend`).  404 for an unknown name. */
int svc_stack_check(svc *s, const char *name, const char *backend, json_t **out, sh_err *e);
/* One stack on one backend: the status object ({name, backend, state, hash,
 * path, last_built, size_bytes, locked, lock_holder, error, note}). */
int svc_stack_check_on(svc *s, const char *name, const char *backend, json_t **out, sh_err *e);
/* Submits the install of stack `name` as a one-task run labelled _stack/<name>
 * (task install-<hash8>) on `backend` (NULL: the stack's only backend, else
 * local).  Nothing is stored on error.  *summary = run summary. */
int svc_stack_install(svc *s, const char *name, const char *backend, bool rebuild, json_t **summary,
                      sh_err *e);
/* What svc_stack_install submits, without submitting it: the one-task
 * document, its run label and the backend chosen.  Server-mode clients use
 * it for stacks only their own config defines (DESIGN §1). */
int svc_stack_install_doc(svc *s, const char *name, const char *backend, bool rebuild, json_t **doc,
                          char **run_name, char **backend_used, sh_err *e);
/* Removes <cache_dir>/<name> (every hash) on the backend(s), then checks
 * again: {"deleted": [rows as in check, "note" = the failure]}. */
int svc_stack_delete(svc *s, const char *name, const char *backend, json_t **out, sh_err *e);
/* One stack on one backend: {"name", "backend", "deleted": [its row]}; a
 * failed removal is an error (500) carrying the reason. */
int svc_stack_delete_on(svc *s, const char *name, const char *backend, json_t **out, sh_err *e);
/* The install script `stack install NAME [--rebuild]` would run (caller frees). */
int svc_stack_script(svc *s, const char *name, bool rebuild, char **script, sh_err *e);
/* Removes every hash dir of the stack(s) but the current one and those an
 * active run uses: {"dry_run": b, "gc": [{"stack","backend","hash","action",
 * "reason"} | {"stack","backend","note"}]}. */
int svc_stack_gc(svc *s, const char *name, bool dry_run, json_t **out, sh_err *e);

/* --- engine ownership ------------------------------------------------- */

/* Makes sure an engine will process the store: wakes the holder of the lock,
 * or starts the detached engine. */
int svc_engine_ensure(svc *s, sh_err *e);

/* For --watch: tries to become the engine (true if this process now holds
 * the lock). */
bool svc_engine_acquire(svc *s);
/* Caps the page cache of this service's store connection at kb KiB (the
 * HTTP workers keep small ones: see src/http/server.c). */
int svc_set_cache_kb(svc *s, int kb, sh_err *e);
/* Waits up to max_wait_ms for something to happen; if this process holds the
 * engine lock it runs engine ticks meanwhile.  Returns 0 or -1 (e set). */
int svc_engine_step(svc *s, int max_wait_ms, sh_err *e);
/* Releases the lock; if active runs remain, starts the detached engine. */
void svc_engine_release(svc *s);

/* {"running": bool, "pid": n|null, "data_dir": "...", "active_runs": n} */
int svc_daemon_status(svc *s, json_t **out, sh_err *e);
/* Asks the engine to stop (SIGTERM to the lock holder), waits up to wait_ms. */
int svc_daemon_stop(svc *s, int wait_ms, sh_err *e);
/* Runs the engine in the foreground until nothing is active (detached mode). */
int svc_daemon_run(svc *s, sh_err *e);

#endif

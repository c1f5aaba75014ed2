/* watch.h - following a run until it ends (--watch, `run watch`).
 *
 * While watching, this process tries to become the engine (DESIGN §5) so a
 * `task run --watch` needs no other process; it always releases the engine at
 * the end, also on Ctrl-C, and active runs then pass to the detached engine.
 *
 * Three renderings: a live redrawn block on a terminal; one line per task
 * transition when piped; JSON Lines (one event per line, then the final run
 * detail) with --json. */
#ifndef SCRIPTHUT_CLI_WATCH_H
#define SCRIPTHUT_CLI_WATCH_H
#include <stdbool.h>

#include "cli/cli_internal.h"

#define WATCH_DEFAULT_INTERVAL_MS 2000

/* Follows run_id until its status is completed, failed or cancelled.
 * Returns 0 with final_status set (e.g. "completed"), or the exit code of a
 * failure (already reported) or an interruption. */
int watch_run(cli_ctx *c, const char *run_id, int interval_ms, char *final_status,
              size_t final_status_size);

/* True for the run statuses a watch stops at. */
bool watch_status_is_terminal(const char *status);

#endif

/* model.h - the data model: task definitions, task states, run status.
 *
 * A task definition arrives as JSON (workflow file, Lua table converted by the
 * host, `task run` flags, a generates_source file) and is validated here, in
 * one place, so every entry point gives the same errors.  Field meanings follow
 * the original (spec/original-engine.md §2.1) with our changes: name defaults
 * to id, partition has no default (an unset partition is never sent), retries
 * and retry_delay are new, unknown fields are an error. */
#ifndef SCRIPTHUT_MODEL_MODEL_H
#define SCRIPTHUT_MODEL_MODEL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum task_state {
    TS_PENDING = 0, /* waiting for deps, a slot, or a retry delay */
    TS_SUBMITTING,  /* marked before the submit call; reconciled by tag after a crash */
    TS_SUBMITTED,   /* the backend returned a job id */
    TS_QUEUED,      /* seen waiting in the scheduler queue */
    TS_RUNNING,
    TS_COMPLETED,
    TS_FAILED,
    TS_DEP_FAILED,
    TS_CANCELLED,
    TS__COUNT
} task_state;

const char *task_state_name(task_state s);
/* 0 on success, -1 for an unknown name. */
int task_state_parse(const char *name, task_state *out);
bool task_state_is_terminal(task_state s); /* completed, failed, dep_failed, cancelled */
bool task_state_is_active(task_state s); /* submitting, submitted, queued, running: holds a slot */

/* Why a task waits (docs/api.md, "pending_reason"): a queued task gets the
 * scheduler's own words; a task scripthut holds gets one of these, filled
 * in by the engine. */
#define PENDING_DEPENDENCIES "dependencies"
#define PENDING_RUN_CAP "run max_concurrent (%d)"
#define PENDING_BACKEND_CAP "backend max_concurrent (%d)"
#define PENDING_BACKEND_CPUS "backend max_cpus (%d)"
#define PENDING_RETRY "retry at %s"

typedef enum run_status {
    RS_PENDING = 0,
    RS_RUNNING,
    RS_COMPLETED,
    RS_FAILED,
    RS_CANCELLED,
} run_status;

const char *run_status_name(run_status s);
int run_status_parse(const char *name, run_status *out);
bool run_status_is_terminal(run_status s);

/* A validated task definition.  Strings are owned (freed by task_def_free);
 * optional strings are NULL when unset. */
typedef struct task_def {
    char *id;
    char *name; /* defaults to id */
    char *command;
    char *working_dir; /* default "~" */
    char *partition;   /* NULL: not sent to the scheduler */
    int cpus;          /* default 1, >= 1 */
    char *memory;      /* default "4G" */
    char *time_limit;  /* default "1:00:00"; "" or "0" = no limit */
    char **deps;       /* after wildcard expansion: literal ids */
    size_t ndeps;
    char *generates_source;
    char *output_file;
    char *error_file;
    json_t *env; /* array of normalised env rules, never NULL */
    char *gres;
    char *image;
    int retries;        /* default 0 */
    double retry_delay; /* seconds, default 0 */
} task_def;

/* Validates one task object and fills *out.  `where` names the source for
 * errors ("task 3 of workflow 'sweep'").  Errors (status SH_EINVAL) name the
 * task id and field: "Task 'a': cpus must be a positive integer, got "x"". */
int task_def_from_json(json_t *obj, const char *where, task_def *out, sh_err *e);

/* Serialises to the API's task object (spec/original-cli-api.md §7.3 keys,
 * plus retries and retry_delay). */
json_t *task_def_to_json(const task_def *t);

void task_def_free(task_def *t);
void task_def_free_array(task_def *tasks, size_t n);

/* Parses a workflow document: a bare array of task objects, or an object with
 * "tasks" (and optional "env", "env_groups", ignored "title"/"description").
 * Env rules are validated and normalised by their owner, lua/scripthut/env.lua,
 * before this (host_env_normalize_document, once per document); here they
 * must be lists of rule objects and are taken as they are.
 * On success *tasks and *ntasks hold validated (not yet dependency-checked) tasks,
 * and *doc_env / *doc_groups (new references, never NULL) the document env. */
int workflow_doc_parse(json_t *doc, const char *where, task_def **tasks, size_t *ntasks,
                       json_t **doc_env, json_t **doc_groups, sh_err *e);

/* Run status derived from task states (DESIGN §5, spec cli-api §7.4) plus
 * cancelled: a run with a cancel request and no active task is cancelled.
 * `states[i]` is task i's state; deps[i] lists task i's direct dependency
 * indices (ndeps[i] of them).  A pending task counts as blocked when one of its
 * direct deps is failed/dep_failed/cancelled. */
run_status run_status_derive(size_t n, const task_state *states, const uint32_t *const *deps,
                             const uint32_t *ndeps, bool cancel_requested);

#endif

/* host.h - the one boundary between the C core and Lua.
 *
 * Nothing outside src/lua/ touches a lua_State.  Data crosses the boundary as
 * jansson values (converted directly between Lua and jansson, no JSON text),
 * every call into Lua is a lua_pcall with a traceback handler, and a Lua error
 * comes back as an sh_err whose message starts with file:line.
 *
 * One host per thread.  The built-in modules (lua/ and stacks/) are compiled
 * into the binary and served through package.preload; user directories
 * (~/.config/scripthut/lua, $SCRIPTHUT_LUA_PATH) come first on package.path
 * so users can override any of them. */
#ifndef SCRIPTHUT_LUA_HOST_H
#define SCRIPTHUT_LUA_HOST_H
#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

typedef struct host host;

host *host_new(sh_err *e);
void host_free(host *h);

/* Loads the configuration (DESIGN §3): `explicit_path` when given (exactly
 * that file), else scripthut.lua found by walking up from the current
 * directory, layered over $XDG_CONFIG_HOME/scripthut/config.lua (default
 * ~/.config/scripthut/config.lua).  Config chunks run in a sandbox with an
 * instruction limit and a memory cap.  On success *config is the normalised
 * configuration object described in docs/config-json.md. */
int host_load_config(host *h, const char *explicit_path, json_t **config, sh_err *e);

/* For commands that need only the settings, after host_load_config failed:
 * the one file that may hold the settings (the explicit file, else the user
 * file, else the project file) evaluated alone (config.lua, load_settings).
 * *config has the shape of host_load_config's, with the settings, the
 * backends declared before any error, and "files"."settings": the file the
 * settings came from, or null for the defaults.  Fails when the settings
 * cannot be established (a file that declares them does not get that far). */
int host_load_settings(host *h, const char *explicit_path, json_t **config, sh_err *e);

/* Evaluates workflow `name` of the loaded config (its tasks function, file or
 * table, in the sandbox) and returns a workflow document
 * {"tasks": [...], "env": [...], "env_groups": {...}}. 404 for an unknown name
 * (the message lists the known ones). */
int host_workflow_document(host *h, const char *name, json_t **doc, sh_err *e);

/* Validates and normalises the env rules of a workflow document before C
 * parses it, in one call into Lua per document (scripthut.env
 * .normalize_document, the one owner of env rule validation): the
 * document's env, its env_groups and the env of each task that has one.
 * *out is a new document with those replaced by their stored form; the input
 * is not changed.  A document whose shape C will refuse anyway (not a list
 * or an object with a list of tasks) comes back as it is.  Errors (SH_EINVAL)
 * start with `where`: "workflow 'w': tasks[2]: Task 'b': env[1].set.X must
 * be a string, got 3". */
int host_env_normalize_document(host *h, json_t *doc, const char *where, json_t **out, sh_err *e);

/* The stacks a run's tasks will use (scripthut.env.stacks_of_run, the walk
 * of include chains and `if` guards that env resolution does): `run` is a run
 * context as host_prepare_jobs takes it, `task_rules` a list of the rule
 * lists of the tasks that have rules.  *used = {"run": [names of a task
 * without rules], "tasks": [[names], ... parallel to task_rules]}. */
int host_env_stacks_of_run(host *h, json_t *run, json_t *task_rules, json_t **used, sh_err *e);

/* Resolves env rules and renders job scripts for a batch of jobs in one call
 * into Lua (module scripthut.jobs).  See docs/config-json.md, "prepare". */
int host_prepare_jobs(host *h, json_t *batch, json_t **results, sh_err *e);

/* One job of host_prepare_job_list (pointers borrowed from the caller). */
struct task_def;
typedef struct host_job {
    const char *run_id;
    const struct task_def *task;
    const char *tag;
    int attempt;
    const char *out_path, *err_path;
} host_job;

/* What scripthut.jobs.prepare said about one job: its script, or why there
 * is none; the warnings of env resolution either way.  Owned strings. */
typedef struct host_job_result {
    char *script;
    char *error;
    char **warnings;
    size_t nwarnings;
} host_job_result;

/* The engine's form of host_prepare_jobs (with_env = false): the same Lua
 * call, but the jobs are pushed straight from the task definitions (the
 * tables task_def_to_json would give) and the results read straight back,
 * with no jansson tree in between: at 100k jobs those trees cost more than
 * the templates.  `runs` maps run id -> run context as for host_prepare_jobs.
 * Fills out[0..n) (free each with host_job_result_free) or returns -1 when
 * the call itself failed. */
int host_prepare_job_list(host *h, json_t *runs, const host_job *jobs, size_t n,
                          host_job_result *out, sh_err *e);
void host_job_result_free(host_job_result *r);

/* Renders a stack script: scripthut.stack[fn](args...) (lua/scripthut/stack.lua,
 * overridable), which returns the text.  args is a JSON array. */
int host_stack_script(host *h, const char *fn, json_t *args, char **script, sh_err *e);

/* Reads what a stack's check script printed: scripthut.stack.parse_check(
 * stdout, stderr, status, stack) (lua/scripthut/stack.lua, overridable together
 * with check_script).  stdout and stderr reach Lua as raw bytes.  On success
 * *status_obj is the object {state, hash, path, last_built, size_bytes,
 * locked, lock_holder, error}, its state one of ready, installing, missing. */
int host_stack_parse_check(host *h, json_t *stack, const char *out, size_t out_len, const char *err,
                           size_t err_len, int status, json_t **status_obj, sh_err *e);

/* Runs a Lua file (or `code` when path is NULL) unsandboxed with `arg` set,
 * for `scripthut lua`.  argv[0] is the script's name as the user gave it (the
 * path, "-e" or "-"), argv[1..argc-1] its arguments: they become arg[0..] and
 * `...` (argv[1..]).  An error prints the message and traceback on stderr and
 * returns 1; os.exit exits the process.  Returns the process exit status. */
int host_run_script(host *h, const char *path, const char *code, int argc, char **argv);

#endif

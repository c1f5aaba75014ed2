/* cmd_task.c - `scripthut task run`: one ad-hoc task as a one-task run.
 *
 * The task object is assembled from one base (a positional command, a JSON
 * object from --from-file / --from-stdin, or an --inline-script file) and
 * per-field flags that override it (spec/original-cli-api.md §5.12).  The
 * service validates it; the CLI only checks what it alone can explain (which
 * flag was wrong). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "cli/watch.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/quote.h"
#include "util/sbuf.h"

#define TASK_DEFAULT_ID "task"
#define TASK_DEFAULT_BACKEND "local"
#define INLINE_SCRIPT_WARN_BYTES (200 * 1024)

typedef struct task_opts {
    const char *from_file;
    bool from_stdin;
    const char *inline_script;
    const char *backend;
    const char *run_name;
    json_t *fields;  /* per-field flags, applied over the base */
    json_t *env_set; /* --env KEY=VALUE, one extra {"set": ...} rule */
    bool dry_run;
} task_opts;

/* --- --inline-script ----------------------------------------------------- */

/* CRLF and lone CR become LF, so a script saved on Windows still runs. */
static void normalise_newlines(char *s, size_t *len)
{
    size_t w = 0;
    for (size_t r = 0; r < *len; r++) {
        if (s[r] == '\r') {
            s[w++] = '\n';
            if (r + 1 < *len && s[r + 1] == '\n')
                r++;
        } else {
            s[w++] = s[r];
        }
    }
    s[w] = '\0';
    *len = w;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* A here-document delimiter that no line of the script equals. */
static char *heredoc_delimiter(const char *text)
{
    char *d = xstrdup("SCRIPTHUT_SCRIPT_EOF");
    for (int i = 1; has_line(text, d); i++) {
        free(d);
        d = xasprintf("SCRIPTHUT_SCRIPT_EOF_%d", i);
    }
    return d;
}

/* How to start the script file: its #! interpreter (called explicitly, so a
 * noexec /tmp does not matter), or bash.  Linux passes the rest of the #!
 * line as one argument; so do we. */
static void append_runner(sbuf *cmd, const char *text)
{
    if (strncmp(text, "#!", 2) != 0) {
        sbuf_puts(cmd, "bash");
        return;
    }
    size_t n = strcspn(text + 2, "\n");
    char *line = xstrndup(text + 2, n);
    char *p = line + strspn(line, " \t");
    char *interp_end = p + strcspn(p, " \t");
    char *arg = interp_end + strspn(interp_end, " \t");
    size_t arg_len = strlen(arg);
    while (arg_len && (arg[arg_len - 1] == ' ' || arg[arg_len - 1] == '\t'))
        arg[--arg_len] = '\0';
    if (interp_end == p) {
        sbuf_puts(cmd, "bash");
    } else {
        bool has_arg = *interp_end != '\0' && *arg;
        *interp_end = '\0';
        shell_quote_append(cmd, p);
        if (has_arg) {
            sbuf_putc(cmd, ' ');
            shell_quote_append(cmd, arg);
        }
    }
    free(line);
}

/* The task command that recreates the script in a temporary file and runs
 * it.  A quoted here-document carries the bytes verbatim (no expansion); the
 * subshell keeps the cleanup trap away from the job script's own traps; the
 * script keeps the job's stdin. */
static char *inline_script_command(const char *text)
{
    char *delim = heredoc_delimiter(text);
    sbuf cmd = SBUF_INIT;
    sbuf_puts(&cmd, "(\n"
                    "__sh_script=$(mktemp \"${TMPDIR:-/tmp}/scripthut-script.XXXXXX\") || exit 1\n"
                    "trap 'rm -f \"$__sh_script\"' EXIT\n");
    sbuf_printf(&cmd, "cat > \"$__sh_script\" <<'%s'\n", delim);
    sbuf_puts(&cmd, text);
    if (cmd.len && cmd.data[cmd.len - 1] != '\n')
        sbuf_putc(&cmd, '\n');
    sbuf_printf(&cmd, "%s\n", delim);
    append_runner(&cmd, text);
    sbuf_puts(&cmd, " \"$__sh_script\"\n)");
    free(delim);
    return sbuf_detach(&cmd);
}

static int load_inline_script(const char *path, json_t **base, sh_err *e)
{
    char *expanded = fs_expand_home(path), *text = NULL;
    size_t len = 0;
    int rc = fs_read_file(expanded, &text, &len);
    free(expanded);
    if (rc != 0)
        return sh_err_set(e, SH_ENOTFOUND, "--inline-script: cannot read %s: %s", path,
                          strerror(errno));
    if (strlen(text) != len) {
        free(text);
        return sh_err_set(e, SH_EINVAL, "--inline-script: %s contains NUL bytes; not a script",
                          path);
    }
    normalise_newlines(text, &len);
    if (len > INLINE_SCRIPT_WARN_BYTES)
        log_warn("--inline-script: %s is %zu KiB; it travels inside the task definition", path,
                 len / 1024);
    char *cmd = inline_script_command(text);
    free(text);
    json_t *command = json_string(cmd);
    free(cmd);
    if (!command)
        return sh_err_set(e, SH_EINVAL, "--inline-script: %s is not valid UTF-8 text", path);
    *base = json_pack("{s:o}", "command", command);
    return 0;
}

/* --- the base task ------------------------------------------------------- */

static int load_json_object(const char *label, const char *path, json_t **base, sh_err *e)
{
    json_error_t jerr;
    json_t *v;
    if (path) {
        char *expanded = fs_expand_home(path);
        v = json_load_file(expanded, 0, &jerr);
        free(expanded);
    } else {
        v = json_loadf(stdin, 0, &jerr);
    }
    if (!v)
        return sh_err_set(e, SH_EINVAL, "%s%s%s: line %d: %s", label, path ? " " : "",
                          path ? path : "", jerr.line, jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return sh_err_set(e, SH_EINVAL, "%s: expected a JSON object (one task definition)", label);
    }
    *base = v;
    return 0;
}

static int load_base(const task_opts *o, const char *command, json_t **base, sh_err *e)
{
    if (command) {
        json_t *s = json_string(command);
        if (!s)
            return sh_err_set(e, SH_EINVAL, "the command is not valid UTF-8 text");
        *base = json_pack("{s:o}", "command", s);
        return 0;
    }
    if (o->from_file)
        return load_json_object("--from-file", o->from_file, base, e);
    if (o->from_stdin)
        return load_json_object("--from-stdin", NULL, base, e);
    return load_inline_script(o->inline_script, base, e);
}

/* Base, then the id default, the flags, and the --env rule. */
static int assemble_task(const task_opts *o, const char *command, json_t **out, sh_err *e)
{
    json_t *base = NULL;
    if (load_base(o, command, &base, e) != 0)
        return -1;
    json_t *task = json_object();
    json_object_set_new(task, "id", json_string(TASK_DEFAULT_ID));
    json_object_update(task, base);
    json_object_update(task, o->fields);
    json_decref(base);

    if (json_object_size(o->env_set) > 0) {
        json_t *env = json_object_get(task, "env");
        if (env && !json_is_null(env) && !json_is_array(env)) {
            json_decref(task);
            return sh_err_set(e, SH_EINVAL, "Task 'env' must be a list of env rules");
        }
        json_t *rules = env && json_is_array(env) ? json_copy(env) : json_array();
        json_array_append_new(rules, json_pack("{s:O}", "set", o->env_set));
        json_object_set_new(task, "env", rules);
    }
    if (!json_is_string(json_object_get(task, "command"))) {
        json_decref(task);
        return sh_err_set(e, SH_EINVAL,
                          "Task has no 'command' - provide one as a positional argument, via "
                          "--from-file/--from-stdin, or in the JSON body");
    }
    *out = task;
    return 0;
}

/* --- flags --------------------------------------------------------------- */

/* parse_number_flag: the flag is not one of its flags. */
#define NOT_A_NUMBER_FLAG (-2)

/* The task field a string flag sets, or NULL. */
static const char *string_field(cli_flag_id id)
{
    switch (id) {
    case F_ID: return "id";
    case F_NAME: return "name";
    case F_MEMORY: return "memory";
    case F_TIME: return "time_limit";
    case F_PARTITION: return "partition";
    case F_GRES: return "gres";
    case F_IMAGE: return "image";
    case F_WORKING_DIR: return "working_dir";
    default: return NULL;
    }
}

/* Sets a string field; flag values must be UTF-8 to travel as JSON. */
static int set_string(cli_ctx *c, json_t *obj, const char *key, cli_flag_id id, const char *value)
{
    json_t *s = json_string(value);
    if (!s)
        return cli_usage_error(c, "--%s: value is not valid UTF-8", CLI_FLAGS[id].name);
    json_object_set_new(obj, key, s);
    return CLI_CONTINUE;
}

/* --env KEY=VALUE: key trimmed, value verbatim; a later duplicate wins. */
static int add_env(cli_ctx *c, task_opts *o, const char *item)
{
    const char *eq = strchr(item, '=');
    if (!eq)
        return cli_usage_error(c, "--env value '%s' must be KEY=VALUE", item);
    const char *k = item, *kend = eq;
    while (k < kend && (*k == ' ' || *k == '\t'))
        k++;
    while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
        kend--;
    if (k == kend)
        return cli_usage_error(c, "--env value '%s' has an empty KEY", item);
    char *key = xstrndup(k, (size_t)(kend - k));
    json_t *value = json_string(eq + 1);
    int rc = CLI_CONTINUE;
    if (!value || json_object_set(o->env_set, key, value) != 0)
        rc = cli_usage_error(c, "--env value '%s' is not valid UTF-8", item);
    json_decref(value);
    free(key);
    return rc;
}

static int parse_number_flag(cli_ctx *c, task_opts *o, cli_flag_id id, const char *value)
{
    long n = 0;
    double secs = 0;
    int rc;
    switch (id) {
    case F_CPUS:
        if ((rc = cli_parse_int(c, "--cpus", value, 1, &n)) != 0)
            return rc;
        json_object_set_new(o->fields, "cpus", json_integer(n));
        return CLI_CONTINUE;
    case F_RETRIES:
        if ((rc = cli_parse_int(c, "--retries", value, 0, &n)) != 0)
            return rc;
        json_object_set_new(o->fields, "retries", json_integer(n));
        return CLI_CONTINUE;
    case F_RETRY_DELAY:
        if ((rc = cli_parse_seconds(c, "--retry-delay", value, true, &secs)) != 0)
            return rc;
        json_object_set_new(o->fields, "retry_delay",
                            secs == floor(secs) ? json_integer((json_int_t)secs) : json_real(secs));
        return CLI_CONTINUE;
    default: return NOT_A_NUMBER_FLAG;
    }
}

/* One of its own flags: CLI_CONTINUE to go on, or the exit code. */
static int task_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    task_opts *o = arg;
    const char *field = string_field(id);
    if (field)
        return set_string(c, o->fields, field, id, value);
    int rc = parse_number_flag(c, o, id, value);
    if (rc != NOT_A_NUMBER_FLAG)
        return rc;
    switch (id) {
    case F_FROM_FILE: o->from_file = value; break;
    case F_FROM_STDIN: o->from_stdin = true; break;
    case F_INLINE_SCRIPT: o->inline_script = value; break;
    case F_BACKEND: o->backend = value; break;
    case F_RUN_NAME: o->run_name = value; break;
    case F_ENV: return add_env(c, o, value);
    case F_DRY_RUN: o->dry_run = true; break;
    default: return cli_usage_error(c, "unhandled flag --%s", CLI_FLAGS[id].name);
    }
    return CLI_CONTINUE;
}

/* Exactly one source of the base task. */
static int check_sources(cli_ctx *c, const task_opts *o, int npositional)
{
    int n = (npositional > 0) + (o->from_file != NULL) + o->from_stdin + (o->inline_script != NULL);
    if (n > 1)
        return cli_usage_error(c, "Specify exactly one of: positional command, --from-stdin, "
                                  "--from-file, --inline-script");
    if (n == 0)
        return cli_usage_error(c, "Provide a command argument, --from-stdin, --from-file, or "
                                  "--inline-script");
    return 0;
}

/* --- the command --------------------------------------------------------- */

static int dry_run(json_t *task, const char *backend)
{
    json_t *out = json_pack("{s:O,s:s}", "task", task, "backend", backend);
    if (!out) {
        cli_error("--backend: value is not valid UTF-8");
        return EXIT_USAGE;
    }
    out_json(out, false);
    json_decref(out);
    return EXIT_OK;
}

static int submit(cli_ctx *c, const task_opts *o, json_t *task)
{
    int rc = cli_connect(c);
    if (rc != 0)
        return rc;
    const char *id = json_string_value(json_object_get(task, "id"));
    char *run_name =
        o->run_name ? xstrdup(o->run_name) : xasprintf("_adhoc/%s", id ? id : TASK_DEFAULT_ID);
    if (c->watch) /* become the engine first, so this process drives the run */
        c->client->ops->engine_acquire(c->client);
    json_t *doc = json_pack("{s:[O]}", "tasks", task);
    json_t *summary = NULL;
    sh_err e = SH_ERR_INIT;
    rc = c->client->ops->submit(c->client, run_name, o->backend, doc, &summary, &e);
    json_decref(doc);
    free(run_name);
    if (rc != 0)
        return cli_fail(&e);
    rc = cli_after_submit(c, summary, id, c->watch, c->interval_ms);
    json_decref(summary);
    return rc;
}

/* Flags, positionals and the choice of base: CLI_CONTINUE, or the exit code
 * (a usage error, or 0 after --help). */
static int parse_task_args(cli_ctx *c, task_opts *o, int argc, char **argv)
{
    int rc = cli_parse(c, argc, argv, task_flag, o);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = check_sources(c, o, argc - optind)) != 0)
        return rc;
    return CLI_CONTINUE;
}

int cmd_task_run(cli_ctx *c, int argc, char **argv)
{
    task_opts o = {
        .backend = TASK_DEFAULT_BACKEND, .fields = json_object(), .env_set = json_object()};
    json_t *task = NULL;
    sh_err e = SH_ERR_INIT;
    int rc = parse_task_args(c, &o, argc, argv);
    if (rc == CLI_CONTINUE) {
        if (assemble_task(&o, optind < argc ? argv[optind] : NULL, &task, &e) != 0)
            rc = cli_fail(&e);
        else
            rc = o.dry_run ? dry_run(task, o.backend) : submit(c, &o, task);
    }
    json_decref(task);
    json_decref(o.fields);
    json_decref(o.env_set);
    return rc;
}

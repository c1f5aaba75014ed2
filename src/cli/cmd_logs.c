/* cmd_logs.c - `scripthut run logs RUN_ID TASK [--error] [--tail N] [--follow]`.
 *
 * --follow polls: it reads the log, prints what is new, and stops once the
 * task has ended (checked before the read, so the last bytes are printed).
 * The API reads whole files, so "new" is "beyond what we printed"; a log that
 * shrinks or changes its beginning is a new attempt's file and is printed
 * from the start. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_internal.h"
#include "client/client.h"
#include "cli/output.h"
#include "cli/watch.h"

/* Bytes of the printed log kept to recognise a replaced file. */
#define LOG_PREFIX_KEEP 64

typedef struct log_follow {
    size_t printed;               /* bytes of the current file already printed */
    char prefix[LOG_PREFIX_KEEP]; /* its first bytes */
    size_t prefix_len;
} log_follow;

/* Offset where the last n lines of s (len bytes) begin. */
static size_t tail_offset(const char *s, size_t len, long n)
{
    if (n <= 0)
        return 0;
    size_t i = len;
    if (i > 0 && s[i - 1] == '\n')
        i--; /* a final newline does not start another line */
    while (i > 0) {
        if (s[i - 1] == '\n' && --n == 0)
            return i;
        i--;
    }
    return 0;
}

static void print_log_content(const char *content)
{
    size_t len = strlen(content);
    fwrite(content, 1, len, stdout);
    if (len > 0 && content[len - 1] != '\n')
        fputc('\n', stdout);
}

static int print_log_once(cli_ctx *c, const char *run, const char *task, bool error_log, long tail)
{
    char *content = NULL;
    sh_err e = SH_ERR_INIT;
    if (c->client->ops->task_log(c->client, run, task, error_log, tail, &content, &e) != 0)
        return cli_fail(&e);
    if (c->json) {
        json_t *out = json_pack("{s:s,s:s,s:s,s:s?}", "run_id", run, "task_id", task, "type",
                                error_log ? "error" : "output", "content", content);
        if (!out) /* not valid UTF-8: JSON cannot carry it as a string */
            out = json_pack("{s:s,s:s,s:s,s:n}", "run_id", run, "task_id", task, "type",
                            error_log ? "error" : "output", "content");
        out_json(out, false);
        json_decref(out);
    } else {
        print_log_content(content);
    }
    free(content);
    return EXIT_OK;
}

/* Prints the part of `content` not printed yet; `tail` applies to the first
 * print only. */
static void follow_print(log_follow *f, const char *content, long tail)
{
    size_t len = strlen(content);
    bool replaced =
        len < f->printed || (f->prefix_len && memcmp(content, f->prefix, f->prefix_len) != 0);
    if (replaced) {
        fprintf(stderr, "--- log restarted (new attempt) ---\n");
        f->printed = 0;
        f->prefix_len = 0;
    }
    size_t from = f->printed;
    if (from == 0 && f->prefix_len == 0 && tail > 0)
        from = tail_offset(content, len, tail);
    fwrite(content + from, 1, len - from, stdout);
    fflush(stdout);
    f->printed = len;
    if (f->prefix_len < LOG_PREFIX_KEEP) {
        f->prefix_len = len < LOG_PREFIX_KEEP ? len : LOG_PREFIX_KEEP;
        memcpy(f->prefix, content, f->prefix_len);
    }
}

/* 1 when the task has ended (or is not in the run), 0 if not, -1 error. */
static int task_has_ended(cli_ctx *c, const char *run, const char *task, sh_err *e)
{
    json_t *detail = NULL;
    if (c->client->ops->run_detail(c->client, run, &detail, e) != 0)
        return -1;
    int ended = 1;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(detail, "items"), i, item)
    {
        const char *id = out_str(json_object_get(item, "task"), "id");
        if (!id || strcmp(id, task) != 0)
            continue;
        const char *st = out_str(item, "status");
        ended = st && (!strcmp(st, "completed") || !strcmp(st, "failed") ||
                       !strcmp(st, "dep_failed") || !strcmp(st, "cancelled"));
        break;
    }
    json_decref(detail);
    return ended;
}

static bool not_submitted_yet(const sh_err *e)
{
    return e->status == SH_EINVAL && strstr(e->msg, "not been submitted") != NULL;
}

static int follow_log(cli_ctx *c, const char *run, const char *task, bool error_log, long tail,
                      int interval_ms)
{
    log_follow f = {0};
    sh_err e = SH_ERR_INIT;
    int rc = EXIT_OK;
    cli_signals_install();
    c->client->ops->engine_acquire(c->client);
    while (!cli_interrupted()) {
        int ended = task_has_ended(c, run, task, &e);
        if (ended < 0) {
            rc = cli_fail(&e);
            break;
        }
        char *content = NULL;
        if (c->client->ops->task_log(c->client, run, task, error_log, 0, &content, &e) == 0) {
            follow_print(&f, content, tail);
            free(content);
        } else if (!not_submitted_yet(&e)) {
            rc = cli_fail(&e);
            break;
        }
        if (ended)
            break;
        if (c->client->ops->engine_wait(c->client, interval_ms, &e) != 0 && !cli_interrupted()) {
            rc = cli_fail(&e);
            break;
        }
    }
    c->client->ops->engine_release(c->client);
    fflush(stdout);
    return cli_interrupted() ? cli_interrupt_exit_code() : rc;
}

typedef struct logs_opts {
    bool error_log, follow;
    long tail;
} logs_opts;

static int logs_flag(cli_ctx *c, cli_flag_id id, const char *value, void *arg)
{
    logs_opts *o = arg;
    if (id == F_ERROR) {
        o->error_log = true;
    } else if (id == F_FOLLOW) {
        o->follow = true;
    } else {
        int rc = cli_parse_int(c, "--tail", value, 0, &o->tail);
        if (rc != 0)
            return rc;
    }
    return CLI_CONTINUE;
}

int cmd_run_logs(cli_ctx *c, int argc, char **argv)
{
    logs_opts o = {0};
    int rc = cli_parse(c, argc, argv, logs_flag, &o);
    if (rc != CLI_CONTINUE)
        return rc;
    bool error_log = o.error_log, follow = o.follow;
    long tail = o.tail;
    if (follow && c->json)
        return cli_usage_error(c, "--follow prints raw log text; it cannot be used with --json");
    if ((rc = cli_connect(c)) != 0)
        return rc;
    const char *run = argv[optind], *task = argv[optind + 1];
    if (follow)
        return follow_log(c, run, task, error_log, tail, c->interval_ms);
    return print_log_once(c, run, task, error_log, tail);
}

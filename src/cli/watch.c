/* watch.c - the watch loop and its three renderings (see watch.h). */
#include "cli/watch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "client/client.h"
#include "cli/output.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

typedef enum {
    WATCH_LIVE,
    WATCH_LINES,
    WATCH_JSONL
} watch_mode;

typedef struct watch_state {
    watch_mode mode;
    long long last_seq;  /* events already printed (lines / JSONL) */
    int drawn_lines;     /* height of the live block on screen */
    char run_status[16]; /* the run's status as of the last run-level event */
} watch_state;

/* Lines of the live block above the task table. */
#define LIVE_HEADER_LINES 5
#define PROGRESS_BAR_WIDTH 30

bool watch_status_is_terminal(const char *status)
{
    return status && (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
                      strcmp(status, "cancelled") == 0);
}

static void terminal_size(int *rows, int *cols)
{
    struct winsize ws;
    *rows = 24;
    *cols = 80;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    }
}

/* --- the live block ------------------------------------------------------ */

typedef struct row_key {
    int group;    /* 0 active, 1 failed, 2 completed, 3 waiting */
    int64_t when; /* started_at (active) or finished_at (ended) */
    size_t index; /* original order breaks ties */
} row_key;

static int64_t item_time(json_t *item, const char *key)
{
    int64_t us = 0;
    const char *s = out_str(item, key);
    if (s && time_parse_iso(s, &us) != 0)
        us = 0;
    return us;
}

static row_key item_key(json_t *item, size_t index)
{
    const char *st = out_str(item, "status");
    row_key k = {3, 0, index};
    if (!st || !strcmp(st, "pending"))
        return k;
    if (!strcmp(st, "running") || !strcmp(st, "queued") || !strcmp(st, "submitted") ||
        !strcmp(st, "submitting")) {
        k.group = 0;
        k.when = item_time(item, "started_at");
    } else {
        k.group = strcmp(st, "completed") == 0 ? 2 : 1;
        k.when = item_time(item, "finished_at");
    }
    return k;
}

/* Active tasks first, then failures, then the most recently completed, then
 * the waiting ones: what a user watching wants to see when the table does
 * not fit.  Within a group, the most recent first. */
static int compare_rows(const void *pa, const void *pb)
{
    const row_key *a = pa, *b = pb;
    if (a->group != b->group)
        return a->group - b->group;
    if (a->when != b->when)
        return a->when > b->when ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

static void format_elapsed(char *buf, size_t size, json_t *detail)
{
    int64_t start = item_time(detail, "created_at");
    int64_t end = item_time(detail, "finished_at");
    if (!end)
        end = time_now_us();
    int64_t secs = start && end > start ? (end - start) / 1000000 : 0;
    snprintf(buf, size, "%lld:%02lld:%02lld", (long long)(secs / 3600), (long long)(secs / 60 % 60),
             (long long)(secs % 60));
}

static void live_header(sbuf *b, json_t *detail)
{
    char elapsed[32];
    format_elapsed(elapsed, sizeof elapsed, detail);
    sbuf_puts(b, "Run ");
    out_cell(b, out_str(detail, "id"), 0, false);
    sbuf_puts(b, " (");
    out_cell(b, out_str(detail, "workflow_name"), 0, false);
    sbuf_puts(b, ")  ");
    out_cell(b, out_str(detail, "status"), 0, false);
    sbuf_puts(b, "  backend: ");
    out_cell(b, out_str(detail, "backend_name"), 0, false);
    sbuf_printf(b, "  elapsed: %s\n", elapsed);

    long long done = out_int(detail, "completed_count", 0);
    long long total = out_int(detail, "task_count", 0);
    int filled = total > 0 ? (int)(done * PROGRESS_BAR_WIDTH / total) : PROGRESS_BAR_WIDTH;
    sbuf_putc(b, '[');
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
        sbuf_putc(b, i < filled ? '#' : '.');
    sbuf_printf(b, "] %lld/%lld  %lld%%\n", done, total, total > 0 ? done * 100 / total : 100);
    out_status_counts(b, json_object_get(detail, "status_counts"));
    sbuf_puts(b, "\n\n");
}

static void live_table(sbuf *b, json_t *items, int max_rows)
{
    size_t n = json_array_size(items);
    if (n == 0)
        return;
    out_task_header(b, out_items_have_error(items));
    sbuf_putc(b, '\n');
    row_key *keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = item_key(json_array_get(items, i), i);
    size_t shown = n;
    if ((size_t)max_rows < n) {
        shown = max_rows > 1 ? (size_t)max_rows - 1 : 0; /* keep a line for "... more" */
        qsort(keys, n, sizeof *keys, compare_rows);
    }
    for (size_t i = 0; i < shown; i++) {
        out_task_row(b, json_array_get(items, keys[i].index));
        sbuf_putc(b, '\n');
    }
    if (shown < n)
        sbuf_printf(b, "  ... %zu more task(s) not shown\n", n - shown);
    free(keys);
}

/* Redraws the block in place: cursor up over the previous block, clear to
 * the end of the screen, print.  Lines are cut below the terminal width so
 * none wraps and the line count stays exact. */
static void render_live(watch_state *st, json_t *detail)
{
    int rows, cols;
    terminal_size(&rows, &cols);
    sbuf b = SBUF_INIT;
    live_header(&b, detail);
    int max_rows = rows - LIVE_HEADER_LINES - 2;
    live_table(&b, json_object_get(detail, "items"), max_rows < 1 ? 1 : max_rows);

    if (st->drawn_lines > 0)
        printf("\033[%dA\r\033[J", st->drawn_lines);
    int lines = 0;
    char *text = sbuf_detach(&b);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL, lines++) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        out_line(stdout, line, cols - 1);
        if (!nl)
            break;
    }
    free(text);
    fflush(stdout);
    st->drawn_lines = lines;
}

/* --- lines and JSON Lines ------------------------------------------------ */

static void print_event_line(json_t *ev)
{
    sbuf b = SBUF_INIT;
    const char *task = out_str(ev, "task_id");
    const char *from = out_str(ev, "from"), *to = out_str(ev, "to");
    out_cell(&b, out_str(ev, "ts"), 0, false);
    sbuf_putc(&b, ' ');
    out_cell(&b, task ? task : "run", 0, false);
    sbuf_putc(&b, ' ');
    if (from) {
        out_cell(&b, from, 0, false);
        sbuf_puts(&b, " -> ");
    }
    out_cell(&b, to, 0, false);
    const char *detail = out_str(ev, "detail");
    if (detail && *detail) {
        sbuf_puts(&b, " (");
        out_cell(&b, detail, 0, false);
        sbuf_putc(&b, ')');
    }
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_free(&b);
}

/* Run-level events (no task) whose `to` is a run status track the run. */
static void track_run_status(watch_state *st, json_t *ev)
{
    const char *to = out_str(ev, "to");
    if (out_str(ev, "task_id") || !to)
        return;
    static const char *const statuses[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};
    for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++)
        if (!strcmp(to, statuses[k]))
            snprintf(st->run_status, sizeof st->run_status, "%s", to);
}

/* Prints every event after last_seq (the store answers in pages). */
static int print_new_events(cli_ctx *c, watch_state *st, const char *run_id, sh_err *e)
{
    for (;;) {
        json_t *out = NULL;
        if (c->client->ops->run_events(c->client, run_id, st->last_seq, &out, e) != 0)
            return -1;
        json_t *events = json_object_get(out, "events");
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            if (st->mode == WATCH_JSONL)
                out_json(ev, true);
            else
                print_event_line(ev);
            track_run_status(st, ev);
        }
        long long before = st->last_seq;
        st->last_seq = out_int(out, "last_seq", st->last_seq);
        size_t n = json_array_size(events);
        json_decref(out);
        if (n == 0 || st->last_seq == before)
            break;
    }
    fflush(stdout);
    return 0;
}

static void render_final(watch_state *st, json_t *detail)
{
    if (st->mode == WATCH_JSONL) {
        out_json(detail, true);
        return;
    }
    sbuf b = SBUF_INIT;
    out_run_outcome(&b, detail);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_free(&b);
    fflush(stdout);
}

/* --- the loop ------------------------------------------------------------ */

/* One look at the run: render it; 1 when it has ended, 0 if not, -1 error. */
static int watch_once(cli_ctx *c, watch_state *st, const char *run_id, char *final_status,
                      size_t size, sh_err *e)
{
    json_t *detail = NULL;
    /* Lines and JSON Lines follow the event log; the (possibly large) run
     * detail is fetched once, when a run-level event says the run ended. */
    if (st->mode != WATCH_LIVE) {
        if (print_new_events(c, st, run_id, e) != 0)
            return -1;
        if (!watch_status_is_terminal(st->run_status))
            return 0;
    }
    if (c->client->ops->run_detail(c->client, run_id, &detail, e) != 0)
        return -1;
    /* Events after the detail: every transition up to the state the detail
     * shows is then in the log. */
    if (st->mode != WATCH_LIVE && print_new_events(c, st, run_id, e) != 0) {
        json_decref(detail);
        return -1;
    }
    if (st->mode == WATCH_LIVE)
        render_live(st, detail);
    const char *status = out_str(detail, "status");
    int ended = watch_status_is_terminal(status);
    if (ended) {
        snprintf(final_status, size, "%s", status);
        render_final(st, detail);
    }
    json_decref(detail);
    return ended;
}

int watch_run(cli_ctx *c, const char *run_id, int interval_ms, char *final_status,
              size_t final_status_size)
{
    watch_state st = {WATCH_LINES, 0, 0, ""};
    if (c->json)
        st.mode = WATCH_JSONL;
    else if (isatty(STDOUT_FILENO))
        st.mode = WATCH_LIVE;
    if (interval_ms <= 0)
        interval_ms = WATCH_DEFAULT_INTERVAL_MS;

    cli_signals_install();
    c->client->ops->engine_acquire(c->client);
    sh_err e = SH_ERR_INIT;
    int rc = EXIT_OK;
    while (!cli_interrupted()) {
        int ended = watch_once(c, &st, run_id, final_status, final_status_size, &e);
        if (ended < 0)
            rc = cli_fail(&e);
        if (ended != 0)
            break;
        /* Returns early on a state change or EINTR (Ctrl-C). */
        if (c->client->ops->engine_wait(c->client, interval_ms, &e) != 0 && !cli_interrupted()) {
            rc = cli_fail(&e);
            break;
        }
    }
    c->client->ops->engine_release(c->client);
    if (cli_interrupted()) {
        fprintf(stderr,
                "\nInterrupted. Run %s continues in the background "
                "(scripthut run cancel %s stops it).\n",
                run_id, run_id);
        rc = cli_interrupt_exit_code();
    }
    return rc;
}

/* output.c - JSON printing and the human formats (tables, run view, the
 * "run submitted" block).  Column widths follow spec/original-cli-api.md §5. */
#include "cli/output.h"

#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "util/quote.h"

/* --- colour -------------------------------------------------------------- */

static int g_color = -1; /* -1: not decided yet */

void out_color_disable(void)
{
    g_color = 0;
}

bool out_color(void)
{
    if (g_color < 0) {
        const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
        g_color = isatty(STDOUT_FILENO) && !(no && *no) && !(term && !strcmp(term, "dumb"));
    }
    return g_color == 1;
}

const char *out_status_sgr(const char *status)
{
    static const struct {
        const char *status, *sgr;
    } colors[] = {
        {"completed", "32"}, {"failed", "31"},     {"dep_failed", "31"}, {"cancelled", "33"},
        {"running", "36"},   {"queued", "36"},     {"submitted", "36"},  {"submitting", "36"},
        {"pending", "2"},    {"installing", "33"}, {"ready", "32"},      {"missing", "2"},
    };
    for (size_t i = 0; status && i < sizeof colors / sizeof colors[0]; i++)
        if (!strcmp(status, colors[i].status))
            return colors[i].sgr;
    return NULL;
}

void out_json(json_t *v, bool compact)
{
    if (!v)
        return;
    size_t flags = JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT(2));
    json_dumpf(v, stdout, flags);
    fputc('\n', stdout);
    fflush(stdout);
}

const char *out_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

long long out_int(json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return dflt;
}

/* Length in bytes of the UTF-8 sequence starting with byte c (1 for stray
 * continuation bytes, so malformed input still advances). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8)
        return 4;
    if (c >= 0xE0)
        return c < 0xF0 ? 3 : 1;
    if (c >= 0xC0)
        return 2;
    return 1;
}

void out_cell(sbuf *b, const char *s, int width, bool truncate)
{
    if (!s)
        s = "-";
    int used = 0;
    for (const char *p = s; *p; used++) {
        if (truncate && width > 0 && used >= width)
            break;
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f) {
            sbuf_putc(b, '?');
            p++;
            continue;
        }
        size_t n = utf8_len(ch);
        size_t have = strnlen(p, n);
        sbuf_append(b, p, have);
        p += have;
    }
    for (; used < width; used++)
        sbuf_putc(b, ' ');
}

void out_cell_sgr(sbuf *b, const char *s, int width, bool truncate, const char *sgr)
{
    if (!sgr || !out_color()) {
        out_cell(b, s, width, truncate);
        return;
    }
    sbuf_printf(b, "\033[%sm", sgr);
    size_t start = b->len;
    out_cell(b, s, width, truncate);
    size_t end = b->len; /* the padding goes after the reset */
    while (end > start && b->data[end - 1] == ' ')
        end--;
    char *pad = xstrdup(b->data + end);
    b->len = end;
    b->data[end] = '\0';
    sbuf_puts(b, "\033[0m");
    sbuf_puts(b, pad);
    free(pad);
}

void out_status_cell(sbuf *b, const char *s, int width)
{
    out_cell_sgr(b, s, width, false, out_status_sgr(s));
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void out_status_counts(sbuf *b, json_t *counts)
{
    size_t n = json_object_size(counts), i = 0;
    if (n == 0)
        return;
    const char **keys = xcalloc(n, sizeof *keys);
    const char *key;
    json_t *value;
    json_object_foreach(counts, key, value) keys[i++] = key;
    qsort(keys, n, sizeof *keys, compare_strings);
    for (i = 0; i < n; i++)
        sbuf_printf(b, "%s%s=%lld", i ? ", " : "", keys[i], out_int(counts, keys[i], 0));
    free(keys);
}

void out_line(FILE *f, const char *line, int cols)
{
    if (cols <= 0) {
        fputs(line, f);
    } else {
        /* Count code points so a cut never splits a UTF-8 sequence; colour
         * sequences take no column, and a cut line ends its colour. */
        int used = 0;
        bool colored = false;
        const char *p = line;
        while (*p && used < cols) {
            if (p[0] == '\033' && p[1] == '[') {
                size_t n = 2 + strspn(p + 2, "0123456789;");
                n += p[n] == 'm';
                colored = true;
                p += n;
                continue;
            }
            size_t n = strnlen(p, utf8_len((unsigned char)*p));
            p += n;
            used++;
        }
        fwrite(line, 1, (size_t)(p - line), f);
        if (*p && colored)
            fputs("\033[0m", f);
    }
    fputc('\n', f);
}

/* --- run list ------------------------------------------------------------ */

void out_run_table(json_t *runs)
{
    if (json_array_size(runs) == 0) {
        puts("No runs found.");
        return;
    }
    printf("%-10s %-10s %-10s %-28s %-14s %s\n", "ID", "STATUS", "PROGRESS", "WORKFLOW", "BACKEND",
           "CREATED");
    sbuf b = SBUF_INIT;
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        char progress[48];
        snprintf(progress, sizeof progress, "%lld/%lld", out_int(run, "completed_count", 0),
                 out_int(run, "task_count", 0));
        sbuf_reset(&b);
        out_cell(&b, out_str(run, "id"), 10, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(run, "status"), 10, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, progress, 10, false);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(run, "workflow_name"), 28, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(run, "backend_name"), 14, true);
        sbuf_putc(&b, ' ');
        out_cell(&b, out_str(run, "created_at"), 0, false);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    sbuf_free(&b);
}

/* --- run view ------------------------------------------------------------ */

bool out_items_have_error(json_t *items)
{
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *err = out_str(item, "error");
        if (err && *err)
            return true;
    }
    return false;
}

void out_task_header(sbuf *b, bool with_error)
{
    sbuf_printf(b, "  %-22s %-10s %-4s %-3s %-14s %-6s %-10s %s", "TASK", "STATUS", "EXIT", "TRY",
                "JOB", "CPU%", "MEM", with_error ? "ERROR" : "");
    while (b->len && b->data[b->len - 1] == ' ')
        b->data[--b->len] = '\0';
}

/* The first line of an error message: the table has one line per task. */
static void append_first_line(sbuf *b, const char *s)
{
    if (!s)
        return;
    size_t n = strcspn(s, "\r\n");
    char *line = xstrndup(s, n);
    out_cell(b, line, 0, false);
    free(line);
}

void out_task_row(sbuf *b, json_t *item)
{
    json_t *task = json_object_get(item, "task");
    char exit_code[24] = "-", attempt[24] = "-", cpu[24] = "-";
    json_t *v = json_object_get(item, "exit_code");
    if (json_is_integer(v))
        snprintf(exit_code, sizeof exit_code, "%lld", (long long)json_integer_value(v));
    v = json_object_get(item, "attempt");
    if (json_is_integer(v) && json_integer_value(v) > 0)
        snprintf(attempt, sizeof attempt, "%lld", (long long)json_integer_value(v));
    v = json_object_get(item, "cpu_efficiency");
    if (json_is_number(v))
        snprintf(cpu, sizeof cpu, "%.0f", json_number_value(v));

    sbuf_puts(b, "  ");
    out_cell(b, out_str(task, "id"), 22, true);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(item, "status"), 10, false);
    sbuf_putc(b, ' ');
    out_cell(b, exit_code, 4, false);
    sbuf_putc(b, ' ');
    out_cell(b, attempt, 3, false);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(item, "job_id"), 14, false);
    sbuf_putc(b, ' ');
    out_cell(b, cpu, 6, false);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(item, "max_rss"), 10, false);
    sbuf_putc(b, ' ');
    append_first_line(b, out_str(item, "error"));
    /* Rows are padded; drop the trailing blanks when there is no error. */
    while (b->len && b->data[b->len - 1] == ' ')
        b->data[--b->len] = '\0';
}

/* "  label:   value" with the value sanitised; skipped when value is NULL. */
static void view_field(sbuf *b, const char *label, const char *value)
{
    if (!value)
        return;
    sbuf_reset(b);
    sbuf_printf(b, "  %-9s ", label);
    out_cell(b, value, 0, false);
    out_line(stdout, sbuf_cstr(b), 0);
}

void out_run_view(json_t *detail)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "Run ");
    out_cell(&b, out_str(detail, "id"), 0, false);
    sbuf_puts(&b, " (");
    out_cell(&b, out_str(detail, "workflow_name"), 0, false);
    sbuf_putc(&b, ')');
    out_line(stdout, sbuf_cstr(&b), 0);

    view_field(&b, "status:", out_str(detail, "status"));
    view_field(&b, "backend:", out_str(detail, "backend_name"));
    view_field(&b, "created:", out_str(detail, "created_at"));
    view_field(&b, "finished:", out_str(detail, "finished_at"));
    printf("  %-9s %lld/%lld complete\n", "tasks:", out_int(detail, "completed_count", 0),
           out_int(detail, "task_count", 0));
    json_t *counts = json_object_get(detail, "status_counts");
    if (json_object_size(counts) > 0) {
        sbuf_reset(&b);
        sbuf_printf(&b, "  %-9s ", "by state:");
        out_status_counts(&b, counts);
        out_line(stdout, sbuf_cstr(&b), 0);
    }
    view_field(&b, "rerun of:", out_str(detail, "rerun_of"));
    view_field(&b, "commit:", out_str(detail, "commit_hash"));
    view_field(&b, "logs:", out_str(detail, "log_dir"));

    json_t *items = json_object_get(detail, "items");
    if (json_array_size(items) > 0) {
        putchar('\n');
        sbuf_reset(&b);
        out_task_header(&b, out_items_have_error(items));
        out_line(stdout, sbuf_cstr(&b), 0);
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            sbuf_reset(&b);
            out_task_row(&b, item);
            out_line(stdout, sbuf_cstr(&b), 0);
        }
    }
    sbuf_free(&b);
}

/* --- after a submission -------------------------------------------------- */

void out_submitted(json_t *summary, const char *task_hint)
{
    const char *id = out_str(summary, "id");
    long long total = out_int(summary, "task_count", 0);
    long long submitted = out_int(summary, "submitted_count", 0);
    sbuf b = SBUF_INIT;

    sbuf_puts(&b, "Submitted run ");
    out_cell(&b, id, 0, false);
    sbuf_puts(&b, " (workflow '");
    out_cell(&b, out_str(summary, "workflow_name"), 0, false);
    sbuf_puts(&b, "')");
    out_line(stdout, sbuf_cstr(&b), 0);
    view_field(&b, "backend:", out_str(summary, "backend_name"));
    printf("  %-9s %lld/%lld dispatched, %lld pending\n", "tasks:", submitted, total,
           total - submitted);
    json_t *counts = json_object_get(summary, "status_counts");
    if (json_object_size(counts) > 0) {
        sbuf_reset(&b);
        sbuf_printf(&b, "  %-9s ", "status:");
        out_status_counts(&b, counts);
        out_line(stdout, sbuf_cstr(&b), 0);
    }

    /* The hint is a command to paste: quote what the shell would split. */
    char *qid = shell_quote(id ? id : "");
    char *qtask = task_hint ? shell_quote(task_hint) : xstrdup("TASK");
    sbuf_reset(&b);
    sbuf_printf(&b, "  %-9s scripthut run watch %s", "watch:", qid);
    out_line(stdout, sbuf_cstr(&b), 0);
    sbuf_reset(&b);
    sbuf_printf(&b, "  %-9s scripthut run logs %s ", "logs:", qid);
    out_cell(&b, qtask, 0, false);
    out_line(stdout, sbuf_cstr(&b), 0);
    free(qid);
    free(qtask);
    sbuf_free(&b);
}

void out_run_outcome(sbuf *b, json_t *run)
{
    sbuf_puts(b, "Run ");
    out_cell(b, out_str(run, "id"), 0, false);
    sbuf_putc(b, ' ');
    out_cell(b, out_str(run, "status"), 0, false);
    sbuf_printf(b, ": %lld/%lld tasks", out_int(run, "completed_count", 0),
                out_int(run, "task_count", 0));
    json_t *counts = json_object_get(run, "status_counts");
    if (json_object_size(counts) > 0) {
        sbuf_puts(b, " (");
        out_status_counts(b, counts);
        sbuf_putc(b, ')');
    }
}

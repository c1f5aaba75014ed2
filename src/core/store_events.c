/* store_events.c - the append-only event log: events queued during the
 * engine's transaction and written in multi-row INSERTs, single events, and
 * the API's event queries. */
#include "core/store_internal.h"

#include <string.h>

static const char SQL_ADD_EVENT[] =
    "INSERT INTO events (ts, run_id, task_id, from_state, to_state, detail)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/* Rows per multi-row INSERT of queued events (SQL_ADD_EVENTS). */
#define EVENT_BATCH 64

static size_t queue_text(store *st, const char *v)
{
    if (!v)
        return NO_TEXT;
    size_t len = strlen(v) + 1;
    if (st->evq_len + len > st->evq_cap) {
        st->evq_cap = (st->evq_len + len) * 2;
        st->evq_text = xrealloc(st->evq_text, st->evq_cap);
    }
    size_t off = st->evq_len;
    memcpy(st->evq_text + off, v, len);
    st->evq_len += len;
    return off;
}

void store_queue_event(store *st, int64_t ts, const char *run_id, const char *task_id,
                       const char *from, const char *to, const char *detail)
{
    if (st->nevq == st->capevq) {
        st->capevq = st->capevq ? st->capevq * 2 : 256;
        st->evq = xrealloc(st->evq, st->capevq * sizeof *st->evq);
    }
    queued_event *q = &st->evq[st->nevq++];
    q->ts = ts;
    q->run_id = queue_text(st, run_id);
    q->task_id = queue_text(st, task_id);
    q->from = queue_text(st, from);
    q->to = queue_text(st, to);
    q->detail = queue_text(st, detail);
}

static void bind_queued(store *st, sqlite3_stmt *s, int i, size_t off)
{
    bind_text(s, i, off == NO_TEXT ? NULL : st->evq_text + off);
}

#define EVENT_ROW "(?,?,?,?,?,?)"
#define EVENT_ROWS_4 EVENT_ROW "," EVENT_ROW "," EVENT_ROW "," EVENT_ROW
#define EVENT_ROWS_16 EVENT_ROWS_4 "," EVENT_ROWS_4 "," EVENT_ROWS_4 "," EVENT_ROWS_4
static const char SQL_ADD_EVENTS[] =
    "INSERT INTO events (ts, run_id, task_id, from_state, to_state, detail) VALUES " EVENT_ROWS_16
    "," EVENT_ROWS_16 "," EVENT_ROWS_16 "," EVENT_ROWS_16;

int store_flush_events(store *st, sh_err *e)
{
    size_t done = 0;
    while (done < st->nevq) {
        size_t rows = st->nevq - done >= EVENT_BATCH ? EVENT_BATCH : 1;
        sqlite3_stmt *s = store_stmt(st, rows == 1 ? SQL_ADD_EVENT : SQL_ADD_EVENTS, e);
        if (!s)
            return -1;
        for (size_t r = 0; r < rows; r++) {
            const queued_event *q = &st->evq[done + r];
            int c = (int)r * 6;
            bind_int(s, c + 1, q->ts);
            bind_queued(st, s, c + 2, q->run_id);
            bind_queued(st, s, c + 3, q->task_id);
            bind_queued(st, s, c + 4, q->from);
            bind_queued(st, s, c + 5, q->to);
            bind_queued(st, s, c + 6, q->detail);
        }
        if (store_step_done(st, s, "appending events", e) < 0)
            return -1;
        done += rows;
    }
    st->nevq = 0;
    st->evq_len = 0;
    return 0;
}

int store_add_event(store *st, int64_t ts, const char *run_id, const char *task_id,
                    const char *from, const char *to, const char *detail, sh_err *e)
{
    /* Queued events come first: the log keeps the order things happened. */
    if (st->nevq && store_flush_events(st, e) < 0)
        return -1;
    sqlite3_stmt *s = store_stmt(st, SQL_ADD_EVENT, e);
    if (!s)
        return -1;
    bind_int(s, 1, ts);
    bind_text(s, 2, run_id);
    bind_text(s, 3, task_id);
    bind_text(s, 4, from);
    bind_text(s, 5, to);
    bind_text(s, 6, detail);
    return store_step_done(st, s, "appending an event", e);
}

static const char SQL_EVENTS[] =
    "SELECT seq, ts, run_id, task_id, from_state, to_state, detail FROM events"
    " WHERE (?1 IS NULL OR run_id = ?1) AND seq > ?2 ORDER BY seq LIMIT 10000";

int store_events_json(store *st, const char *run_id, long long after, json_t **out, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_EVENTS, e);
    if (!s)
        return -1;
    bind_text(s, 1, run_id);
    bind_int(s, 2, after);
    json_t *events = json_array();
    long long last = after;
    while (sqlite3_step(s) == SQLITE_ROW) {
        json_t *ev = json_object();
        last = sqlite3_column_int64(s, 0);
        json_object_set_new(ev, "seq", json_integer(last));
        json_object_set_new(ev, "ts", col_time_json(s, 1));
        json_object_set_new(ev, "run_id", col_text_json(s, 2));
        json_object_set_new(ev, "task_id", col_text_json(s, 3));
        json_object_set_new(ev, "from", col_text_json(s, 4));
        json_object_set_new(ev, "to", col_text_json(s, 5));
        json_object_set_new(ev, "detail", col_text_json(s, 6));
        json_array_append_new(events, ev);
    }
    sqlite3_reset(s);
    *out = json_pack("{s:o,s:I}", "events", events, "last_seq", (json_int_t)last);
    return 0;
}

static const char SQL_EVENTS_LAST_SEQ[] = "SELECT COALESCE(MAX(seq), 0) FROM events";

int store_events_last_seq(store *st, long long *out, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_EVENTS_LAST_SEQ, e);
    if (!s)
        return -1;
    *out = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return 0;
}

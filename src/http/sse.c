/* sse.c - Server-Sent Events: the live feed of run and task transitions
 * (/api/v1/events) and a task's log as it grows (logs?follow=true).
 *
 * The feed is the store's event log, so a client that reconnects with
 * Last-Event-ID (or ?last_event_id=, for a first connection that wants
 * history) misses nothing, whichever process wrote the events.  A stream
 * holds a worker thread: at most sse_max streams are open at once (fewer
 * than the workers), and a client past the cap gets 503. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "http/http_internal.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define SSE_POLL_MS 1000
#define SSE_KEEPALIVE_MS 15000
/* Event sequence numbers are SQLite integers; this leaves room above. */
#define SSE_MAX_EVENT_ID (1LL << 62)

static bool sse_enter(http_req *r)
{
    int n = atomic_fetch_add(&r->srv->sse_clients, 1);
    if (n >= r->srv->sse_max) {
        atomic_fetch_sub(&r->srv->sse_clients, 1);
        return false;
    }
    return true;
}

static void sse_leave(http_req *r)
{
    atomic_fetch_sub(&r->srv->sse_clients, 1);
}

/* A client past the cap gets its 503 and the connection closes: kept
 * alive, it would hold one of the few workers left to other requests for the
 * keep-alive timeout. */
static int reply_too_many(http_req *r)
{
    mg_disable_connection_keep_alive(r->conn);
    return http_reply_error(r, 503, "too many event streams open (limit %d); close one and retry",
                            r->srv->sse_max);
}

static bool sse_start(http_req *r)
{
    return mg_printf(r->conn, "HTTP/1.1 200 OK\r\n"
                              "Content-Type: text/event-stream\r\n"
                              "Cache-Control: no-store\r\n"
                              "X-Content-Type-Options: nosniff\r\n"
                              "X-Accel-Buffering: no\r\n"
                              "Connection: close\r\n\r\n"
                              "retry: 2000\n\n") > 0;
}

/* One event; data is compact JSON on one line.  False when the client left. */
static bool sse_send(http_req *r, long long id, const char *event, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return true;
    sbuf b = SBUF_INIT;
    if (id >= 0)
        sbuf_printf(&b, "id: %lld\n", id);
    sbuf_printf(&b, "event: %s\ndata: %s\n\n", event, text);
    free(text);
    bool ok = mg_write(r->conn, b.data, b.len) > 0;
    sbuf_free(&b);
    return ok;
}

static bool sse_keepalive(http_req *r)
{
    return mg_printf(r->conn, ": keepalive\n\n") > 0;
}

/* Where the feed starts: Last-Event-ID, ?last_event_id=, else "now". */
static int resume_point(http_req *r, svc *s, long long *after)
{
    const char *hdr = http_header(r, "Last-Event-ID");
    char *q = hdr ? NULL : http_query(r, "last_event_id");
    const char *v = hdr ? hdr : q;
    if (v) {
        int rc = http_parse_int(v, 0, SSE_MAX_EVENT_ID, after);
        free(q);
        if (rc)
            return http_reply_error(r, 422,
                                    "Last-Event-ID must be an event sequence number (0 to %lld)",
                                    SSE_MAX_EVENT_ID);
        return 0;
    }
    sh_err e = SH_ERR_INIT;
    if (svc_events_last_seq(s, after, &e) != 0)
        return http_reply_sh_err(r, &e);
    return 0;
}

int http_sse_events(http_req *r)
{
    sh_err e = SH_ERR_INIT;
    svc *s = r->svc;
    char *run_id = http_query(r, "run_id");
    if (run_id && !*run_id) {
        free(run_id);
        run_id = NULL;
    }
    long long after = 0;
    int rc = resume_point(r, s, &after);
    if (rc) {
        free(run_id);
        return rc;
    }
    if (!sse_enter(r)) {
        free(run_id);
        return reply_too_many(r);
    }
    bool alive = sse_start(r);
    unsigned long long seen = 0;
    int64_t last_write = time_monotonic_ms();
    while (alive && !atomic_load(&r->srv->stopping)) {
        json_t *out = NULL;
        if (svc_run_events(s, run_id, after, &out, &e) != 0)
            break; /* e.g. the run was deleted */
        json_t *events = json_object_get(out, "events");
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev)
        {
            bool is_task = json_is_string(json_object_get(ev, "task_id"));
            alive = sse_send(r, json_integer_value(json_object_get(ev, "seq")),
                             is_task ? "task" : "run", ev);
            if (!alive)
                break;
        }
        bool more = json_array_size(events) > 0;
        if (more) {
            after = json_integer_value(json_object_get(out, "last_seq"));
            last_write = time_monotonic_ms();
        }
        json_decref(out);
        if (!alive || more)
            continue; /* a full page: fetch the next one at once */
        if (time_monotonic_ms() - last_write >= SSE_KEEPALIVE_MS) {
            alive = sse_keepalive(r);
            last_write = time_monotonic_ms();
        }
        http_wait_change(r->srv, &seen, SSE_POLL_MS);
    }
    sse_leave(r);
    free(run_id);
    return 200;
}

/* The task's status in the run detail, or NULL (borrowed from detail). */
static const char *task_status(json_t *detail, const char *task_id)
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(detail, "items"), i, item)
    {
        const char *id = json_string_value(json_object_get(json_object_get(item, "task"), "id"));
        if (id && !strcmp(id, task_id))
            return json_string_value(json_object_get(item, "status"));
    }
    return NULL;
}

static bool status_is_terminal(const char *st)
{
    return !st || !strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "dep_failed") ||
           !strcmp(st, "cancelled");
}

/* Events: "log" {"content", "reset"} for new text ("reset": the log was
 * replaced, e.g. a retry's new attempt), and "end" {"status"} once the task
 * has ended and its log has been sent in full. */
int http_sse_task_log(http_req *r, const char *run_id, const char *task_id, const char *which)
{
    svc *s = r->svc;
    sh_err e = SH_ERR_INIT;
    json_t *detail = NULL;
    if (svc_run_detail(s, run_id, &detail, &e) != 0)
        return http_reply_sh_err(r, &e);
    bool known = task_status(detail, task_id) != NULL;
    json_decref(detail);
    if (!known)
        return http_reply_error(r, 404, "Task '%s' not found in run %s", task_id, run_id);
    if (!sse_enter(r))
        return reply_too_many(r);
    bool alive = sse_start(r);
    size_t sent = 0;
    unsigned long long seen = 0;
    int64_t last_write = time_monotonic_ms();
    while (alive && !atomic_load(&r->srv->stopping)) {
        /* Status first: a log read after seeing "ended" is complete. */
        detail = NULL;
        if (svc_run_detail(s, run_id, &detail, &e) != 0)
            break;
        const char *st = task_status(detail, task_id);
        bool ended = status_is_terminal(st);
        char *status = xstrdup(st ? st : "unknown");
        json_decref(detail);
        char *content = NULL;
        if (svc_task_log(s, run_id, task_id, which, 0, &content, &e) == 0) {
            size_t len = strlen(content);
            bool reset = len < sent;
            if (reset)
                sent = 0;
            if (len > sent) {
                json_t *data = json_pack("{s:s,s:b}", "content", content + sent, "reset", reset);
                if (data)
                    alive = sse_send(r, -1, "log", data);
                json_decref(data);
                sent = len;
                last_write = time_monotonic_ms();
            }
            free(content);
        }
        if (alive && ended) {
            json_t *data = json_pack("{s:s}", "status", status);
            sse_send(r, -1, "end", data);
            json_decref(data);
            free(status);
            break;
        }
        free(status);
        if (alive && time_monotonic_ms() - last_write >= SSE_KEEPALIVE_MS) {
            alive = sse_keepalive(r);
            last_write = time_monotonic_ms();
        }
        http_wait_change(r->srv, &seen, SSE_POLL_MS);
    }
    sse_leave(r);
    return 200;
}

/* store_internal.h - what the store's files share (store.h lists them): the
 * connection, the statement cache, and the one set of binding and column
 * helpers.  Only src/core/store*.c include this (and so SQLite).
 *
 * The rules every store function follows:
 *  - a statement comes from store_stmt() (prepared once per connection, reset and
 *    its bindings cleared when handed out);
 *  - it is reset before the function returns, on every path (store_step_done()
 *    does it for statements without rows), so no read transaction outlives
 *    the call;
 *  - strings are bound without copying (bind_text): the caller's strings
 *    outlive the call, and the statement is reset before it returns.  Text
 *    the store allocates itself is handed to SQLite (bind_owned_text). */
#ifndef SCRIPTHUT_CORE_STORE_INTERNAL_H
#define SCRIPTHUT_CORE_STORE_INTERNAL_H
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/store.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define STMT_CACHE 48

/* A queued event: offsets into store.evq_text (NO_TEXT for NULL), so the
 * strings of thousands of events live in one buffer. */
#define NO_TEXT SIZE_MAX
typedef struct queued_event {
    int64_t ts;
    size_t run_id, task_id, from, to, detail;
} queued_event;

struct store {
    sqlite3 *db;
    char *path;
    struct {
        const char *sql; /* string literal identity */
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE];
    queued_event *evq; /* store_queue_event, written by store_flush_events */
    size_t nevq, capevq;
    char *evq_text;
    size_t evq_len, evq_cap;
    atomic_long busy_waits; /* store_busy_waits */
};

/* store_schema.c: the migrations (entry i upgrades version i to i + 1) and
 * what applies them, bringing the database to STORE_SCHEMA_VERSION. */
extern const char *const store_migrations[];
int store_migrate(store *st, sh_err *e);
/* store.c */
int store_exec(store *st, const char *sql, sh_err *e);

/* Sets e to "store <path>: <what>: <SQLite's message>"; returns -1. */
int store_db_error(store *st, sh_err *e, const char *what);

/* The cached statement for sql (a string literal: the cache keys on its
 * address), reset with its bindings cleared; NULL with e set when it does
 * not prepare. */
sqlite3_stmt *store_stmt(store *st, const char *sql, sh_err *e);

/* Steps a statement that returns no rows and resets it: 0, or -1 with e
 * set ("<what>: <SQLite's message>"). */
int store_step_done(store *st, sqlite3_stmt *s, const char *what, sh_err *e);
/* Steps to a statement's first (or next) row: 1 on a row (the caller resets
 * the statement once it has read it), 0 when there is none, -1 with e set;
 * the statement is reset in the last two cases. */
int store_step_row(store *st, sqlite3_stmt *s, const char *what, sh_err *e);

/* --- binding ------------------------------------------------------------- */

static inline void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Text the store allocated (json_dumps, xasprintf): SQLite frees it. */
static inline void bind_owned_text(sqlite3_stmt *s, int i, char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, free);
    else
        sqlite3_bind_null(s, i);
}

static inline void bind_int(sqlite3_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(s, i, v);
}

/* 0 is "no time": NULL. */
static inline void bind_time(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static inline void bind_opt_int(sqlite3_stmt *s, int i, bool has, int64_t v)
{
    if (has)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* --- columns ------------------------------------------------------------- */

static inline const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

static inline bool col_is_null(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL;
}

static inline char *col_strdup(sqlite3_stmt *s, int i)
{
    const char *v = col_text(s, i);
    return v ? xstrdup(v) : NULL;
}

/* NULL is 0 ("no time"). */
static inline int64_t col_time(sqlite3_stmt *s, int i)
{
    return col_is_null(s, i) ? 0 : sqlite3_column_int64(s, i);
}

static inline int64_t col_int_or(sqlite3_stmt *s, int i, int64_t if_null)
{
    return col_is_null(s, i) ? if_null : sqlite3_column_int64(s, i);
}

static inline json_t *col_text_json(sqlite3_stmt *s, int i)
{
    const char *v = col_text(s, i);
    return v ? json_string(v) : json_null();
}

static inline json_t *col_time_json(sqlite3_stmt *s, int i)
{
    if (col_is_null(s, i))
        return json_null();
    char buf[ISO8601_LEN];
    return json_string(time_format_iso(sqlite3_column_int64(s, i), buf));
}

static inline json_t *col_int_json(sqlite3_stmt *s, int i)
{
    return col_is_null(s, i) ? json_null() : json_integer(sqlite3_column_int64(s, i));
}

/* A JSON object stored as text; an empty object when NULL or unreadable. */
static inline json_t *col_object(sqlite3_stmt *s, int i)
{
    const char *v = col_text(s, i);
    json_t *o = v ? json_loads(v, 0, NULL) : NULL;
    return o ? o : json_object();
}

#endif

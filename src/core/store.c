/* store.c - SQLite persistence: schema and migrations, shared queries. */
#include "core/store.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "util/fsutil.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

#define STMT_CACHE 48

/* How long a statement waits for another connection's lock (the engine's
 * tick, a submission) before failing with "database is locked". */
#define BUSY_TIMEOUT_MS 10000

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
    const char *journal;
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

/* Schema history.  Each entry upgrades user_version i to i+1; never edit a
 * released entry, append a new one. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1 */
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  workflow_name TEXT NOT NULL,"
    "  backend_name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  status TEXT NOT NULL,"
    "  max_concurrent INTEGER,"
    "  log_dir TEXT NOT NULL,"
    "  account TEXT,"
    "  context TEXT NOT NULL,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  rerun_of TEXT,"
    "  task_count INTEGER NOT NULL);"
    "CREATE INDEX runs_by_created ON runs(created_at DESC);"
    "CREATE INDEX runs_by_status ON runs(status);"
    "CREATE TABLE tasks ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  task_id TEXT NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  job_id TEXT,"
    "  tag TEXT,"
    "  submitted_at INTEGER, started_at INTEGER, finished_at INTEGER,"
    "  exit_code INTEGER,"
    "  error TEXT,"
    "  retry_at INTEGER,"
    "  scheduler_state TEXT,"
    "  out_path TEXT, err_path TEXT,"
    "  generated_by INTEGER,"
    "  PRIMARY KEY (run_id, idx)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX tasks_by_id ON tasks(run_id, task_id);"
    "CREATE INDEX tasks_by_state ON tasks(run_id, state);"
    "CREATE TABLE attempts ("
    "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  job_id TEXT,"
    "  state TEXT NOT NULL,"
    "  submitted_at INTEGER, started_at INTEGER, finished_at INTEGER,"
    "  exit_code INTEGER,"
    "  error TEXT,"
    "  out_path TEXT, err_path TEXT,"
    "  PRIMARY KEY (run_id, idx, attempt)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL,"
    "  run_id TEXT NOT NULL,"
    "  task_id TEXT,"
    "  from_state TEXT,"
    "  to_state TEXT NOT NULL,"
    "  detail TEXT);"
    "CREATE INDEX events_by_run ON events(run_id, seq);",
};
#define N_MIGRATIONS (sizeof MIGRATIONS / sizeof MIGRATIONS[0])

static int db_error(store *st, sh_err *e, const char *what)
{
    return sh_err_set(e, SH_EINTERNAL, "store %s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

/* WAL needs shared memory that network filesystems do not provide reliably. */
static bool is_network_fs(const char *dir)
{
    struct statfs fs;
    if (statfs(dir, &fs) != 0)
        return false;
    switch ((unsigned long)fs.f_type) {
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x0BD00BD0UL: /* Lustre */
    case 0x47504653UL: /* GPFS */
    case 0x65735546UL: /* FUSE (sshfs, ...) */ return true;
    default: return false;
    }
}

/* SQLite's busy timeout (the same schedule of sleeps as
 * sqlite3_busy_timeout), counting each wait that begins
 * (store_busy_waits) and saying so at debug level. */
static int on_busy(void *arg, int count)
{
    static const int delays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    enum {
        NDELAY = sizeof delays / sizeof delays[0]
    };
    store *st = arg;
    if (count == 0) {
        atomic_fetch_add(&st->busy_waits, 1);
        log_debug("store %s: waiting for another connection's lock", st->path);
    }
    int prior = 0;
    for (int i = 0; i < count && i < NDELAY; i++)
        prior += delays[i];
    int delay = count < NDELAY ? delays[count] : delays[NDELAY - 1];
    if (count > NDELAY)
        prior += delays[NDELAY - 1] * (count - NDELAY);
    if (prior + delay > BUSY_TIMEOUT_MS)
        delay = BUSY_TIMEOUT_MS - prior;
    if (delay <= 0)
        return 0;
    struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

long store_busy_waits(store *st)
{
    return atomic_load(&st->busy_waits);
}

int store_exec(store *st, const char *sql, sh_err *e)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sh_err_set(e, SH_EINTERNAL, "store %s: %s", st->path, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_set_cache_kb(store *st, int kb, sh_err *e)
{
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%d", kb);
    return store_exec(st, pragma, e);
}

void store_trim_cache(store *st, int keep_kb, int limit_kb)
{
    int used = 0, highwater = 0;
    if (sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0) != SQLITE_OK ||
        used <= keep_kb * 1024)
        return;
    sh_err e = SH_ERR_INIT;
    if (store_set_cache_kb(st, keep_kb, &e) < 0 || store_set_cache_kb(st, limit_kb, &e) < 0)
        log_warn("store: cannot trim the page cache: %s", e.msg);
}

static int migrate(store *st, sh_err *e)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK)
        return db_error(st, e, "reading schema version");
    int version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
    sqlite3_finalize(q);
    if (version > (int)N_MIGRATIONS)
        return sh_err_set(e, SH_EINTERNAL,
                          "store %s has schema version %d, newer than this scripthut "
                          "understands (%d): upgrade scripthut",
                          st->path, version, (int)N_MIGRATIONS);
    for (int v = version; v < (int)N_MIGRATIONS; v++) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", v + 1);
        if (store_exec(st, "BEGIN IMMEDIATE", e) < 0)
            return -1;
        if (store_exec(st, MIGRATIONS[v], e) < 0 || store_exec(st, set, e) < 0) {
            store_rollback(st);
            return sh_err_prefix(e, "migrating the store to version %d", v + 1);
        }
        if (store_exec(st, "COMMIT", e) < 0)
            return -1;
    }
    return 0;
}

int store_open(const char *data_dir, store **out, sh_err *e)
{
    if (fs_mkdir_p(data_dir, 0700) < 0)
        return sh_err_set(e, SH_EINTERNAL, "cannot create data dir %s: %s", data_dir,
                          strerror(errno));
    store *st = xcalloc(1, sizeof *st);
    st->path = xasprintf("%s/scripthut.db", data_dir);
    if (sqlite3_open_v2(st->path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        sh_err_set(e, SH_EINTERNAL, "cannot open store %s: %s", st->path,
                   st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return -1;
    }
    sqlite3_busy_handler(st->db, on_busy, st);
    st->journal = "wal";
    if (is_network_fs(data_dir)) {
        static int warned;
        if (!warned++)
            log_warn("data dir %s is on a network filesystem: using the rollback journal "
                     "instead of WAL (slower, but safe there)",
                     data_dir);
        st->journal = "delete";
    }
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=%s; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
             st->journal);
    if (store_exec(st, pragmas, e) < 0 || migrate(st, e) < 0) {
        store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STMT_CACHE; i++)
        if (st->cache[i].stmt)
            sqlite3_finalize(st->cache[i].stmt);
    if (st->db)
        sqlite3_close(st->db);
    free(st->evq);
    free(st->evq_text);
    free(st->path);
    free(st);
}

sqlite3 *store_db(store *st)
{
    return st->db;
}
const char *store_journal_mode(store *st)
{
    return st->journal;
}

sqlite3_stmt *store_stmt(store *st, const char *sql, sh_err *e)
{
    int i;
    for (i = 0; i < STMT_CACHE && st->cache[i].sql; i++) {
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            return st->cache[i].stmt;
        }
    }
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        db_error(st, e, "preparing a query");
        return NULL;
    }
    if (i < STMT_CACHE) {
        st->cache[i].sql = sql;
        st->cache[i].stmt = stmt;
    } else {
        log_error("store statement cache full; raise STMT_CACHE");
        abort();
    }
    return stmt;
}

void store_release(store *st)
{
    for (int i = 0; i < STMT_CACHE && st->cache[i].sql; i++)
        sqlite3_reset(st->cache[i].stmt);
}

int store_begin(store *st, sh_err *e)
{
    return store_exec(st, "BEGIN IMMEDIATE", e);
}

int store_commit(store *st, sh_err *e)
{
    if (store_flush_events(st, e) < 0)
        return -1;
    return store_exec(st, "COMMIT", e);
}

void store_rollback(store *st)
{
    st->nevq = 0;
    st->evq_len = 0;
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

void store_new_run_id(char out[9])
{
    unsigned char raw[4];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        /* getrandom cannot fail for 4 bytes once the pool is initialised; be safe anyway */
        uint64_t t = (uint64_t)time_now_us();
        memcpy(raw, &t, sizeof raw);
    }
    snprintf(out, 9, "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
}

/* --- binding helpers ------------------------------------------------------ */

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

static json_t *col_text_json(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? json_string((const char *)v) : json_null();
}

static json_t *col_time_json(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    char buf[ISO8601_LEN];
    return json_string(time_format_iso(sqlite3_column_int64(s, i), buf));
}

static json_t *col_int_json(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return json_null();
    return json_integer(sqlite3_column_int64(s, i));
}

static char *col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? xstrdup((const char *)v) : NULL;
}

/* --- inserting runs ------------------------------------------------------- */

static const char SQL_INSERT_RUN[] =
    "INSERT INTO runs (id, workflow_name, backend_name, created_at, status, max_concurrent,"
    " log_dir, account, context, rerun_of, task_count)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char SQL_INSERT_TASK[] =
    "INSERT INTO tasks (run_id, idx, task_id, definition, state, finished_at, error)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_RUN_EXISTS[] = "SELECT 1 FROM runs WHERE id = ?1";

static int insert_tasks(store *st, const char *run_id, const task_def *tasks, size_t n,
                        const bool *keep_completed, const char *rerun_of, int64_t now, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_TASK, e);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *def = task_def_to_json(&tasks[i]);
        char *text = json_dumps(def, JSON_COMPACT);
        json_decref(def);
        bool kept = keep_completed && keep_completed[i];
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_text(s, 3, tasks[i].id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, text, -1, free);
        sqlite3_bind_text(s, 5, kept ? "completed" : "pending", -1, SQLITE_STATIC);
        if (kept) {
            sqlite3_bind_int64(s, 6, now);
            char *note = xasprintf("kept: completed in run %s", rerun_of ? rerun_of : "?");
            sqlite3_bind_text(s, 7, note, -1, free);
        } else {
            sqlite3_bind_null(s, 6);
            sqlite3_bind_null(s, 7);
        }
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_error(st, e, "inserting a task");
    }
    return 0;
}

int store_insert_run(store *st, const store_run_new *r, const task_def *tasks, size_t n,
                     const bool *keep_completed, char **run_id, sh_err *e)
{
    char id[9];
    if (store_begin(st, e) < 0)
        return -1;
    if (r->id) {
        snprintf(id, sizeof id, "%s", r->id);
    } else {
        sqlite3_stmt *q = store_stmt(st, SQL_RUN_EXISTS, e);
        if (!q)
            goto fail;
        do {
            store_new_run_id(id);
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        } while (sqlite3_step(q) == SQLITE_ROW);
    }
    sqlite3_stmt *s = store_stmt(st, SQL_INSERT_RUN, e);
    if (!s)
        goto fail;
    char *ctx = json_dumps(r->context, JSON_COMPACT);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->workflow_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->backend_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, r->created_at);
    sqlite3_bind_text(s, 5, n ? "pending" : "completed", -1, SQLITE_STATIC);
    if (r->max_concurrent > 0)
        sqlite3_bind_int(s, 6, r->max_concurrent);
    else
        sqlite3_bind_null(s, 6);
    sqlite3_bind_text(s, 7, r->log_dir, -1, SQLITE_TRANSIENT);
    bind_text(s, 8, r->account);
    sqlite3_bind_text(s, 9, ctx ? ctx : "{}", -1, SQLITE_TRANSIENT);
    free(ctx);
    bind_text(s, 10, r->rerun_of);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)n);
    if (sqlite3_step(s) != SQLITE_DONE) {
        db_error(st, e, "inserting a run");
        goto fail;
    }
    if (insert_tasks(st, id, tasks, n, keep_completed, r->rerun_of, r->created_at, e) < 0)
        goto fail;
    char *detail = xasprintf("%zu tasks on backend %s", n, r->backend_name);
    int rc = store_add_event(st, r->created_at, id, NULL, NULL, "created", detail, e);
    free(detail);
    if (rc < 0 || store_commit(st, e) < 0)
        goto fail;
    *run_id = xstrdup(id);
    return 0;
fail:
    store_rollback(st);
    return -1;
}

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
    if (off == NO_TEXT)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, st->evq_text + off, -1, SQLITE_STATIC);
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
            sqlite3_bind_int64(s, c + 1, q->ts);
            bind_queued(st, s, c + 2, q->run_id);
            bind_queued(st, s, c + 3, q->task_id);
            bind_queued(st, s, c + 4, q->from);
            bind_queued(st, s, c + 5, q->to);
            bind_queued(st, s, c + 6, q->detail);
        }
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE)
            return db_error(st, e, "appending events");
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
    sqlite3_bind_int64(s, 1, ts);
    bind_text(s, 2, run_id);
    bind_text(s, 3, task_id);
    bind_text(s, 4, from);
    bind_text(s, 5, to);
    bind_text(s, 6, detail);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_error(st, e, "appending an event");
    return 0;
}

/* --- run summaries and details ------------------------------------------- */

static const char SQL_RUN_ROW[] =
    "SELECT id, workflow_name, backend_name, created_at, status, task_count, finished_at,"
    " cancel_requested, rerun_of, max_concurrent, log_dir, account"
    " FROM runs WHERE id = ?1";
static const char SQL_STATE_COUNTS[] =
    "SELECT state, count(*) FROM tasks WHERE run_id = ?1 GROUP BY state";

/* Builds the summary from a row of SQL_RUN_ROW's columns (same column order
 * in the list query). */
static json_t *summary_from_row(store *st, sqlite3_stmt *row, sh_err *e)
{
    const char *id = (const char *)sqlite3_column_text(row, 0);
    json_t *counts = json_object();
    long long terminal = 0, submitted = 0;
    sqlite3_stmt *c = store_stmt(st, SQL_STATE_COUNTS, e);
    if (!c) {
        json_decref(counts);
        return NULL;
    }
    sqlite3_bind_text(c, 1, id, -1, SQLITE_TRANSIENT);
    long long by_state[TS__COUNT] = {0};
    while (sqlite3_step(c) == SQLITE_ROW) {
        task_state ts;
        if (task_state_parse((const char *)sqlite3_column_text(c, 0), &ts) == 0)
            by_state[ts] = sqlite3_column_int64(c, 1);
    }
    for (int s = 0; s < TS__COUNT; s++) {
        if (!by_state[s])
            continue;
        json_object_set_new(counts, task_state_name((task_state)s), json_integer(by_state[s]));
        if (task_state_is_terminal((task_state)s))
            terminal += by_state[s];
        if (s != TS_PENDING)
            submitted += by_state[s];
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", col_text_json(row, 0));
    json_object_set_new(o, "workflow_name", col_text_json(row, 1));
    json_object_set_new(o, "backend_name", col_text_json(row, 2));
    json_object_set_new(o, "created_at", col_time_json(row, 3));
    json_object_set_new(o, "status", col_text_json(row, 4));
    json_object_set_new(o, "task_count", col_int_json(row, 5));
    json_object_set_new(o, "completed_count", json_integer(terminal));
    json_object_set_new(o, "submitted_count", json_integer(submitted));
    json_object_set_new(o, "status_counts", counts);
    json_object_set_new(o, "finished_at", col_time_json(row, 6));
    json_object_set_new(o, "cancel_requested", json_boolean(sqlite3_column_int(row, 7)));
    json_object_set_new(o, "rerun_of", col_text_json(row, 8));
    json_object_set_new(o, "max_concurrent", col_int_json(row, 9));
    return o;
}

int store_run_summary_json(store *st, const char *run_id, json_t **out, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_ROW, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return sh_err_set(e, SH_ENOTFOUND, "Run '%s' not found", run_id);
    }
    *out = summary_from_row(st, s, e);
    sqlite3_reset(s);
    return *out ? 0 : -1;
}

static const char SQL_LIST_RUNS[] =
    "SELECT id, workflow_name, backend_name, created_at, status, task_count, finished_at,"
    " cancel_requested, rerun_of, max_concurrent, log_dir, account"
    " FROM runs WHERE (?2 IS NULL OR workflow_name = ?2)"
    " ORDER BY created_at DESC, id LIMIT ?1";

int store_run_list_json(store *st, int limit, const char *workflow, json_t **out, sh_err *e)
{
    /* Cached like every statement (preparing it was 16% of a `GET /runs`
     * under load): its cursor stays open while summary_from_row runs other
     * cached statements, which is fine as none of them is this one. */
    sqlite3_stmt *s = store_stmt(st, SQL_LIST_RUNS, e);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, limit > 0 ? limit : -1);
    bind_text(s, 2, workflow);
    json_t *runs = json_array();
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *sum = summary_from_row(st, s, e);
        if (!sum) {
            sqlite3_reset(s);
            json_decref(runs);
            return -1;
        }
        json_array_append_new(runs, sum);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        json_decref(runs);
        return db_error(st, e, "listing runs");
    }
    *out = json_pack("{s:o}", "runs", runs);
    return 0;
}

static const char SQL_ITEMS[] =
    "SELECT idx, definition, state, job_id, submitted_at, started_at, finished_at, error,"
    " scheduler_state, attempt, exit_code, out_path, err_path, tag, retry_at, generated_by"
    " FROM tasks WHERE run_id = ?1 ORDER BY idx";
static const char SQL_ATTEMPTS[] =
    "SELECT idx, attempt, tag, job_id, state, submitted_at, started_at, finished_at,"
    " exit_code, error, out_path, err_path FROM attempts WHERE run_id = ?1"
    " ORDER BY idx, attempt";

/* Where an attempt's fields are in a row: the attempts table and the task
 * row (for the attempt in flight) hold the same fields in other columns. */
typedef struct attempt_cols {
    int attempt, tag, job_id, status, submitted, started, finished, exit_code, error, out, err;
} attempt_cols;

static json_t *attempt_from_row(sqlite3_stmt *s, const attempt_cols *c)
{
    json_t *a = json_object();
    json_object_set_new(a, "attempt", col_int_json(s, c->attempt));
    json_object_set_new(a, "tag", col_text_json(s, c->tag));
    json_object_set_new(a, "job_id", col_text_json(s, c->job_id));
    json_object_set_new(a, "status", col_text_json(s, c->status));
    json_object_set_new(a, "submitted_at", col_time_json(s, c->submitted));
    json_object_set_new(a, "started_at", col_time_json(s, c->started));
    json_object_set_new(a, "finished_at", col_time_json(s, c->finished));
    json_object_set_new(a, "exit_code", col_int_json(s, c->exit_code));
    json_object_set_new(a, "error", col_text_json(s, c->error));
    json_object_set_new(a, "output_path", col_text_json(s, c->out));
    json_object_set_new(a, "error_path", col_text_json(s, c->err));
    return a;
}

static const attempt_cols ATTEMPT_TABLE_COLS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const attempt_cols TASK_ROW_COLS = {9, 13, 3, 2, 4, 5, 6, 10, 7, 11, 12};

static json_t *attempts_by_task(store *st, const char *run_id, size_t n, sh_err *e)
{
    json_t *per = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(per, json_array());
    sqlite3_stmt *s = store_stmt(st, SQL_ATTEMPTS, e);
    if (!s) {
        json_decref(per);
        return NULL;
    }
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t idx = (size_t)sqlite3_column_int64(s, 0);
        if (idx >= n)
            continue;
        json_t *a = attempt_from_row(s, &ATTEMPT_TABLE_COLS);
        json_array_append_new(json_array_get(per, idx), a);
    }
    return per;
}

/* The attempt in flight is not in the attempts table yet (rows are written
 * when an attempt ends): show it from the task row. */
static json_t *current_attempt(sqlite3_stmt *s, json_t *attempts)
{
    int attempt = sqlite3_column_int(s, 9);
    json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
    if (attempt <= 0 || (last && json_integer_value(json_object_get(last, "attempt")) >= attempt))
        return NULL;
    return attempt_from_row(s, &TASK_ROW_COLS);
}

static json_t *item_from_row(sqlite3_stmt *s, json_t *attempts)
{
    json_t *item = json_object();
    const char *def = (const char *)sqlite3_column_text(s, 1);
    json_t *task = def ? json_loads(def, 0, NULL) : NULL;
    json_object_set_new(item, "task", task ? task : json_null());
    json_object_set_new(item, "status", col_text_json(s, 2));
    json_object_set_new(item, "job_id", col_text_json(s, 3));
    json_object_set_new(item, "submitted_at", col_time_json(s, 4));
    json_object_set_new(item, "started_at", col_time_json(s, 5));
    json_object_set_new(item, "finished_at", col_time_json(s, 6));
    json_object_set_new(item, "error", col_text_json(s, 7));
    json_object_set_new(item, "submit_script", json_null());
    json_object_set_new(item, "submit_output", json_null());
    json_object_set_new(item, "cpu_efficiency", json_null());
    json_object_set_new(item, "max_rss", json_null());
    json_object_set_new(item, "scheduler_state", col_text_json(s, 8));
    json_object_set_new(item, "attempt", col_int_json(s, 9));
    json_object_set_new(item, "exit_code", col_int_json(s, 10));
    json_object_set_new(item, "output_path", col_text_json(s, 11));
    json_object_set_new(item, "error_path", col_text_json(s, 12));
    json_object_set_new(item, "tag", col_text_json(s, 13));
    json_object_set_new(item, "retry_at", col_time_json(s, 14));
    json_object_set_new(item, "generated_by", col_int_json(s, 15));
    json_t *list = attempts ? json_copy(attempts) : json_array();
    json_t *current = current_attempt(s, list);
    if (current)
        json_array_append_new(list, current);
    json_object_set_new(item, "attempts", list);
    return item;
}

int store_run_detail_json(store *st, const char *run_id, json_t **out, sh_err *e)
{
    json_t *d;
    if (store_run_summary_json(st, run_id, &d, e) < 0)
        return -1;
    size_t n = (size_t)json_integer_value(json_object_get(d, "task_count"));
    json_t *attempts = attempts_by_task(st, run_id, n + 1024, e);
    if (!attempts) {
        json_decref(d);
        return -1;
    }
    sqlite3_stmt *s = store_stmt(st, SQL_ITEMS, e);
    if (!s) {
        json_decref(d);
        json_decref(attempts);
        return -1;
    }
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    json_t *items = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t idx = (size_t)sqlite3_column_int64(s, 0);
        json_array_append_new(items, item_from_row(s, json_array_get(attempts, idx)));
    }
    json_decref(attempts);
    json_object_set_new(d, "items", items);

    sqlite3_stmt *r = store_stmt(st, SQL_RUN_ROW, e);
    if (r) {
        sqlite3_bind_text(r, 1, run_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(r) == SQLITE_ROW) {
            json_object_set_new(d, "log_dir", col_text_json(r, 10));
            json_object_set_new(d, "account", col_text_json(r, 11));
        }
        sqlite3_reset(r);
    }
    json_object_set_new(d, "commit_hash", json_null());
    json_object_set_new(d, "git_repo", json_null());
    json_object_set_new(d, "git_branch", json_null());
    *out = d;
    return 0;
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
    sqlite3_bind_int64(s, 2, after);
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

/* --- smaller queries ------------------------------------------------------ */

static const char SQL_RUN_INFO[] =
    "SELECT id, workflow_name, backend_name, log_dir, status, max_concurrent, context,"
    " cancel_requested FROM runs WHERE id = ?1";

int store_run_info_get(store *st, const char *run_id, store_run_info *out, sh_err *e)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_INFO, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return sh_err_set(e, SH_ENOTFOUND, "Run '%s' not found", run_id);
    }
    out->id = col_strdup(s, 0);
    out->workflow_name = col_strdup(s, 1);
    out->backend_name = col_strdup(s, 2);
    out->log_dir = col_strdup(s, 3);
    out->status = col_strdup(s, 4);
    out->max_concurrent = sqlite3_column_type(s, 5) == SQLITE_NULL ? 0 : sqlite3_column_int(s, 5);
    const char *ctx = (const char *)sqlite3_column_text(s, 6);
    out->context = ctx ? json_loads(ctx, 0, NULL) : NULL;
    if (!out->context)
        out->context = json_object();
    out->cancel_requested = sqlite3_column_int(s, 7) != 0;
    /* Reset, not left on its row: a statement mid-result keeps a read
     * transaction open, and the BEGIN IMMEDIATE of a cancel or a delete
     * that follows on this connection then fails at once with "database
     * is locked" while another connection writes, instead of waiting. */
    sqlite3_reset(s);
    return 0;
}

void store_run_info_free(store_run_info *r)
{
    free(r->id);
    free(r->workflow_name);
    free(r->backend_name);
    free(r->log_dir);
    free(r->status);
    json_decref(r->context);
    memset(r, 0, sizeof *r);
}

static const char SQL_RUN_TASKS[] =
    "SELECT definition, state, generated_by FROM tasks WHERE run_id = ?1 ORDER BY idx";

int store_run_tasks(store *st, const char *run_id, json_t **defs, json_t **states,
                    json_t **generated_by, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_RUN_TASKS, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    *defs = json_array();
    *states = json_array();
    *generated_by = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *def = (const char *)sqlite3_column_text(s, 0);
        json_t *t = def ? json_loads(def, 0, NULL) : NULL;
        json_array_append_new(*defs, t ? t : json_object());
        json_array_append_new(*states, col_text_json(s, 1));
        json_array_append_new(*generated_by, sqlite3_column_type(s, 2) == SQLITE_NULL
                                                 ? json_integer(-1)
                                                 : json_integer(sqlite3_column_int64(s, 2)));
    }
    return 0;
}

static const char SQL_TASK_LOGS[] =
    "SELECT out_path, err_path, state FROM tasks WHERE run_id = ?1 AND task_id = ?2";

int store_task_log_paths(store *st, const char *run_id, const char *task_id, char **out_path,
                         char **err_path, char **state, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    store_run_info_free(&info);
    sqlite3_stmt *s = store_stmt(st, SQL_TASK_LOGS, e);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return sh_err_set(e, SH_ENOTFOUND, "Task '%s' not found in run %s", task_id, run_id);
    }
    *out_path = col_strdup(s, 0);
    *err_path = col_strdup(s, 1);
    *state = col_strdup(s, 2);
    sqlite3_reset(s);
    if (!*out_path && !*err_path) {
        sh_err_set(e, SH_EINVAL, "Task has not been submitted yet (task '%s' is %s)", task_id,
                   *state);
        free(*state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static const char SQL_CANCEL[] = "UPDATE runs SET cancel_requested = 1 WHERE id = ?1";

int store_request_cancel(store *st, const char *run_id, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    bool terminal = strcmp(info.status, "pending") && strcmp(info.status, "running");
    store_run_info_free(&info);
    if (terminal)
        return 0; /* nothing to cancel; not an error */
    if (store_begin(st, e) < 0)
        return -1;
    sqlite3_stmt *s = store_stmt(st, SQL_CANCEL, e);
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) {
        db_error(st, e, "requesting a cancel");
        goto fail;
    }
    if (store_add_event(st, time_now_us(), run_id, NULL, NULL, "cancel_requested", NULL, e) < 0 ||
        store_commit(st, e) < 0)
        goto fail;
    return 0;
fail:
    store_rollback(st);
    return -1;
}

static const char SQL_DELETE_RUN[] = "DELETE FROM runs WHERE id = ?1";
static const char SQL_DELETE_EVENTS[] = "DELETE FROM events WHERE run_id = ?1";

int store_delete_run(store *st, const char *run_id, sh_err *e)
{
    store_run_info info;
    if (store_run_info_get(st, run_id, &info, e) < 0)
        return -1;
    bool active = !strcmp(info.status, "pending") || !strcmp(info.status, "running");
    store_run_info_free(&info);
    if (active)
        return sh_err_set(e, SH_ECONFLICT,
                          "Run '%s' is still active: cancel it first (scripthut run cancel %s)",
                          run_id, run_id);
    if (store_begin(st, e) < 0)
        return -1;
    const char *sqls[] = {SQL_DELETE_EVENTS, SQL_DELETE_RUN};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = store_stmt(st, sqls[i], e);
        if (!s)
            goto fail;
        sqlite3_bind_text(s, 1, run_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) != SQLITE_DONE) {
            db_error(st, e, "deleting a run");
            goto fail;
        }
    }
    return store_commit(st, e);
fail:
    store_rollback(st);
    return -1;
}

static const char SQL_EXPIRED[] = "SELECT id FROM runs WHERE status NOT IN ('pending', 'running')"
                                  " AND finished_at IS NOT NULL AND finished_at < ?1";

int store_expired_runs(store *st, int64_t before_us, json_t **ids, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_EXPIRED, e);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, before_us);
    *ids = json_array();
    while (sqlite3_step(s) == SQLITE_ROW)
        json_array_append_new(*ids, col_text_json(s, 0));
    return 0;
}

static const char SQL_COUNT_ACTIVE[] =
    "SELECT count(*) FROM runs WHERE status IN ('pending', 'running')";

int store_count_active_runs(store *st, long *n, sh_err *e)
{
    sqlite3_stmt *s = store_stmt(st, SQL_COUNT_ACTIVE, e);
    if (!s)
        return -1;
    *n = sqlite3_step(s) == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return 0;
}

/* store.c - the store's connection: opening (and migrating) the database
 * file, the busy wait, transactions, the statement cache and the page cache.
 * The queries are in store_runs.c, store_events.c and store_engine.c. */
#include "core/store_internal.h"

#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "util/fsutil.h"
#include "util/log.h"

/* How long a statement waits for another connection's lock (the engine's
 * tick, a submission) before failing with "database is locked". */
#define BUSY_TIMEOUT_MS 10000

int store_db_error(store *st, sh_err *e, const char *what)
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

long store_cache_used_bytes(store *st)
{
    int used = 0, highwater = 0;
    if (sqlite3_db_status(st->db, SQLITE_DBSTATUS_CACHE_USED, &used, &highwater, 0) != SQLITE_OK)
        return 0;
    return used;
}

void store_trim_cache(store *st, int keep_kb, int limit_kb)
{
    if (store_cache_used_bytes(st) <= (long)keep_kb * 1024)
        return;
    sh_err e = SH_ERR_INIT;
    if (store_set_cache_kb(st, keep_kb, &e) < 0 || store_set_cache_kb(st, limit_kb, &e) < 0)
        log_warn("store: cannot trim the page cache: %s", e.msg);
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
    const char *journal = "wal";
    if (is_network_fs(data_dir)) {
        static int warned;
        if (!warned++)
            log_warn("data dir %s is on a network filesystem: using the rollback journal "
                     "instead of WAL (slower, but safe there)",
                     data_dir);
        journal = "delete";
    }
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=%s; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", journal);
    if (store_exec(st, pragmas, e) < 0 || store_migrate(st, e) < 0) {
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
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        store_db_error(st, e, "preparing a query");
        return NULL;
    }
    if (i < STMT_CACHE) {
        st->cache[i].sql = sql;
        st->cache[i].stmt = s;
    } else {
        log_error("store statement cache full; raise STMT_CACHE");
        abort();
    }
    return s;
}

int store_step_done(store *st, sqlite3_stmt *s, const char *what, sh_err *e)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        store_db_error(st, e, what);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_step_row(store *st, sqlite3_stmt *s, const char *what, sh_err *e)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        store_db_error(st, e, what);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
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

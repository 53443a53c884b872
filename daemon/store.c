/*
 * store: owns the SQLite state file (<state_dir>/airlock.db) -- opening it, refusing it when it
 * is newer than this build or damaged, applying the schema migrations, and every row of the
 * jobs and egress tables. It is the only file that includes sqlite3.h, holds the daemon's single
 * connection behind one mutex, and talks to SQLite only through prepared statements with bound
 * parameters (the only SQL text assembled at run time is the integer of a user_version pragma).
 * It must never write to a file it has refused, never build SQL from data, never abort on a
 * failed allocation, and never decide anything about jobs: it stores what it is given.
 */
#include "store.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

/* "ARLK": marks the file as Airlock's, so a foreign SQLite database is refused rather than
 * having our tables added to it. */
#define STORE_APPLICATION_ID 0x41524c4b
#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * The schema, as an append-only list of steps: step i takes user_version i to i + 1 and runs in
 * one transaction together with the user_version update, so a crash leaves either the old or the
 * new version, never half of one. A released step is never edited; a change is a new step.
 */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "PRAGMA application_id = 1095912523;" /* STORE_APPLICATION_ID, checked below */
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " status TEXT NOT NULL,"
    " policy TEXT,"
    " command_json TEXT CHECK (command_json IS NULL OR json_valid(command_json)),"
    " labels_json TEXT CHECK (labels_json IS NULL OR json_valid(labels_json)),"
    " reason TEXT,"
    " workspace TEXT,"
    " spec_json TEXT CHECK (spec_json IS NULL OR json_valid(spec_json)),"
    " exit_code INTEGER," /* NULL when the job has no exit code */
    " signal INTEGER,"    /* NULL when no signal ended it */
    " created_ms INTEGER NOT NULL DEFAULT 0,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " finished_ms INTEGER NOT NULL DEFAULT 0,"
    " cpu_ms INTEGER NOT NULL DEFAULT 0,"
    " max_rss_kb INTEGER NOT NULL DEFAULT 0,"
    " egress_allowed INTEGER NOT NULL DEFAULT 0,"
    " egress_denied INTEGER NOT NULL DEFAULT 0,"
    " stdout_bytes INTEGER NOT NULL DEFAULT 0,"
    " stderr_bytes INTEGER NOT NULL DEFAULT 0,"
    " stdout_truncated INTEGER NOT NULL DEFAULT 0,"
    " stderr_truncated INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_status_seq ON jobs (status, seq);"
    "CREATE TABLE egress ("
    " id INTEGER PRIMARY KEY,"
    " job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " time_ms INTEGER NOT NULL,"
    " method TEXT,"
    " scheme TEXT,"
    " host TEXT,"
    " port INTEGER NOT NULL,"
    " path TEXT,"
    " decision TEXT NOT NULL,"
    " rule TEXT,"
    " reason TEXT,"
    " status INTEGER NOT NULL,"
    " bytes_up INTEGER NOT NULL,"
    " bytes_down INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL);"
    "CREATE INDEX egress_job_id ON egress (job_id, id);",
    /* 1 -> 2: persistent workspaces */
    "CREATE TABLE workspaces ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " labels_json TEXT NOT NULL CHECK (json_valid(labels_json)),"
    " host_path TEXT UNIQUE," /* NULL for a managed workspace */
    " owner_uid INTEGER NOT NULL DEFAULT -1,"
    " owner_gid INTEGER NOT NULL DEFAULT -1,"
    " dev INTEGER NOT NULL DEFAULT 0,"
    " ino INTEGER NOT NULL DEFAULT 0,"
    " disk_mb INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL,"
    " last_used_ms INTEGER NOT NULL,"
    " jobs_total INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX jobs_workspace ON jobs (workspace) WHERE workspace IS NOT NULL;",
    /* 2 -> 3: Idempotency-Key on POST /v1/jobs. A key goes with its job (DELETE /v1/jobs). */
    "CREATE TABLE idempotency ("
    " key TEXT PRIMARY KEY,"
    " body_sha256 TEXT NOT NULL,"
    " job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,"
    " created_ms INTEGER NOT NULL);"
    "CREATE INDEX idempotency_job_id ON idempotency (job_id);"
    "CREATE INDEX idempotency_created ON idempotency (created_ms);",
};
_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION,
               "one migration step per schema version");
_Static_assert(STORE_APPLICATION_ID == 1095912523, "application_id in migration 0 matches");

/* The columns of a job row, in the order job_bind and job_from_row use. The update leaves id
 * out of its SET list: id is the parent key of egress.job_id and never changes. */
#define JOB_DATA_COLS                                                                              \
    "status, policy, command_json, labels_json, reason, workspace, spec_json, exit_code,"          \
    " signal, created_ms, started_ms, finished_ms, cpu_ms, max_rss_kb, egress_allowed,"            \
    " egress_denied, stdout_bytes, stderr_bytes, stdout_truncated, stderr_truncated"
#define JOB_COLS "id, " JOB_DATA_COLS
/* An update leaves the egress counters out: they move with the egress rows (STMT_EGRESS_COUNT),
 * in the same transaction, so a job's counters and its events always agree -- even for an event
 * the proxy records after the job's end was stored. ?16 and ?17 are bound and unused. */
#define JOB_UPDATE_COLS                                                                            \
    "status, policy, command_json, labels_json, reason, workspace, spec_json, exit_code,"          \
    " signal, created_ms, started_ms, finished_ms, cpu_ms, max_rss_kb, stdout_bytes,"              \
    " stderr_bytes, stdout_truncated, stderr_truncated"
#define JOB_UPDATE_PARAMS                                                                          \
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?18, ?19, ?20, ?21"
#define JOB_DATA_PARAMS                                                                            \
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21"
/* The label filter goes through json_each so the key is compared as a plain string: a key that
 * contains quotes, dots or '$' cannot be read as a JSON path. The list statements bind
 * ?1 = seq bound, ?2 = label key or NULL, ?3 = label value, ?4 = limit, ?5 = status. */
#define JOB_LIST_WHERE                                                                             \
    "seq < ?1 AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(jobs.labels_json) AS l"           \
    " WHERE l.key = ?2 AND l.value = ?3))"
#define EGRESS_COLS                                                                                \
    "job_id, time_ms, method, scheme, host, port, path, decision, rule, reason, status,"           \
    " bytes_up, bytes_down, duration_ms"

#define WS_COLS                                                                                    \
    "id, labels_json, host_path, owner_uid, owner_gid, dev, ino, disk_mb, created_ms,"             \
    " last_used_ms, jobs_total"
#define WS_LIST_WHERE                                                                              \
    "(?1 IS NULL OR EXISTS (SELECT 1 FROM json_each(workspaces.labels_json) AS l"                  \
    " WHERE l.key = ?1 AND l.value = ?2))"

enum stmt_id {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_JOB_INSERT,
    STMT_JOB_UPDATE,
    STMT_JOB_GET,
    STMT_JOB_DELETE,
    STMT_JOB_SEQ,
    STMT_JOB_LIST,
    STMT_JOB_LIST_STATUS,
    STMT_RUNNING_IDS,
    STMT_MARK_LOST,
    STMT_EGRESS_INSERT,
    STMT_EGRESS_COUNT,
    STMT_EGRESS_LIST,
    STMT_WS_INSERT,
    STMT_WS_GET,
    STMT_WS_DELETE,
    STMT_WS_TOUCH,
    STMT_WS_LIST,
    STMT_WS_IDLE,
    STMT_WS_COUNT,
    STMT_IDEM_PURGE,
    STMT_IDEM_INSERT,
    STMT_IDEM_GET,
    STMT_ENDED_BETWEEN,
    STMT_DELETE_ENDED,
    STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_JOB_INSERT] = "INSERT INTO jobs (" JOB_COLS ") VALUES (?1, " JOB_DATA_PARAMS ")",
    [STMT_JOB_UPDATE] =
        "UPDATE jobs SET (" JOB_UPDATE_COLS ") = (" JOB_UPDATE_PARAMS ") WHERE id = ?1",
    [STMT_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    [STMT_JOB_SEQ] = "SELECT seq FROM jobs WHERE id = ?1",
    [STMT_JOB_LIST] =
        "SELECT " JOB_COLS " FROM jobs WHERE " JOB_LIST_WHERE " ORDER BY seq DESC LIMIT ?4",
    [STMT_JOB_LIST_STATUS] = "SELECT " JOB_COLS " FROM jobs WHERE status = ?5 AND " JOB_LIST_WHERE
                             " ORDER BY seq DESC LIMIT ?4",
    [STMT_RUNNING_IDS] = "SELECT id FROM jobs WHERE status = 'running' ORDER BY seq",
    [STMT_MARK_LOST] = "UPDATE jobs SET status = 'lost', reason = 'daemon_restart',"
                       " finished_ms = ?1 WHERE status IN ('queued', 'running')",
    /* An event of a job deleted meanwhile is dropped, not an error for the whole batch. */
    [STMT_EGRESS_INSERT] = "INSERT INTO egress (" EGRESS_COLS
                           ") SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"
                           " WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)",
    [STMT_EGRESS_COUNT] = "UPDATE jobs SET egress_allowed = egress_allowed + ?2,"
                          " egress_denied = egress_denied + ?3 WHERE id = ?1",
    [STMT_EGRESS_LIST] = "SELECT " EGRESS_COLS " FROM egress WHERE job_id = ?1 ORDER BY id"
                         " LIMIT ?2 OFFSET ?3",
    [STMT_WS_INSERT] = "INSERT INTO workspaces (" WS_COLS ")"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STMT_WS_GET] = "SELECT " WS_COLS " FROM workspaces WHERE id = ?1",
    [STMT_WS_DELETE] = "DELETE FROM workspaces WHERE id = ?1",
    [STMT_WS_TOUCH] = "UPDATE workspaces SET last_used_ms = max(last_used_ms, ?2),"
                      " jobs_total = jobs_total + ?3 WHERE id = ?1",
    [STMT_WS_LIST] =
        "SELECT " WS_COLS " FROM workspaces WHERE " WS_LIST_WHERE " ORDER BY seq DESC LIMIT ?3",
    [STMT_WS_IDLE] = "SELECT " WS_COLS " FROM workspaces WHERE last_used_ms < ?1"
                     " ORDER BY last_used_ms LIMIT 1000",
    [STMT_WS_COUNT] = "SELECT count(*) FROM workspaces",
    /* ?1 = the oldest created_ms still alive: older keys are ignored, and purged on insert. */
    [STMT_IDEM_PURGE] = "DELETE FROM idempotency WHERE created_ms < ?1",
    [STMT_IDEM_INSERT] = "INSERT INTO idempotency (key, body_sha256, job_id, created_ms)"
                         " VALUES (?1, ?2, ?3, ?4)",
    /* Retention (jobs.c): ended jobs by when they ended. */
    [STMT_ENDED_BETWEEN] = "SELECT id, finished_ms FROM jobs WHERE finished_ms > ?1"
                           " AND finished_ms <= ?2 AND status NOT IN ('queued', 'running')"
                           " ORDER BY finished_ms LIMIT ?3",
    [STMT_DELETE_ENDED] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_ms > 0"
                          " AND finished_ms < ?1 AND status NOT IN ('queued', 'running')"
                          " ORDER BY finished_ms LIMIT ?2) RETURNING id",
    [STMT_IDEM_GET] = "SELECT body_sha256, job_id FROM idempotency WHERE key = ?1"
                      " AND created_ms >= ?2",
};

struct store {
    pthread_mutex_t lock; /* held for every use of db and stmts */
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT]; /* prepared on first use, kept until close */
    int version;
};

/* ---- small helpers ---- */

/* Maps an (extended) SQLite result code to a negative errno. */
static int
sql_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return -EEXIST;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return -ENOENT;
        return -EINVAL;
    default:
        return -EIO;
    }
}

static struct store *
store_lock(struct store *s)
{
    pthread_mutex_lock(&s->lock);
    return s;
}

static void
store_unlockp(struct store **s)
{
    if (*s)
        pthread_mutex_unlock(&(*s)->lock);
}
#define _cleanup_unlock_ _cleanup_(store_unlockp)

/* A cached statement is reset and its bindings cleared when the variable holding it goes out of
 * scope, so no read transaction outlives the call and no borrowed string stays bound. */
static void
stmt_resetp(sqlite3_stmt **st)
{
    if (*st) {
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
    }
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)

static int
stmt_get(struct store *s, enum stmt_id id, sqlite3_stmt **ret)
{
    if (!s->stmts[id]) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return sql_errno(rc) ?: -EIO;
    }
    *ret = s->stmts[id];
    return 0;
}

/* Runs a statement that returns no rows, or whose rows are ignored. */
static int
stmt_run(struct store *s, enum stmt_id id)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r = stmt_get(s, id, &st);
    int rc;

    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    return rc == SQLITE_DONE ? 0 : (sql_errno(rc) ?: -EIO);
}

static int
tx_begin(struct store *s)
{
    return stmt_run(s, STMT_BEGIN);
}

/* Commits when r >= 0, else (or when the commit fails) rolls back; returns the outcome. */
static int
tx_end(struct store *s, int r)
{
    if (r >= 0)
        r = stmt_run(s, STMT_COMMIT);
    if (r < 0 && !sqlite3_get_autocommit(s->db))
        (void)stmt_run(s, STMT_ROLLBACK);
    return r;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
    /* SQLITE_STATIC: every bound string outlives the step, and stmt_resetp clears it. */
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* A fixed-size id must be non-empty and NUL-terminated inside its array. */
static bool
fixed_str_ok(const char *v, size_t size)
{
    size_t len = strnlen(v, size);
    return len > 0 && len < size;
}

/* Copies a text column into a malloc'd string; NULL stays NULL. */
static int
col_strdup(sqlite3_stmt *st, int i, char **ret)
{
    const unsigned char *t;
    size_t len;
    char *v;

    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        *ret = NULL;
        return 0;
    }
    t = sqlite3_column_text(st, i);
    if (!t)
        return -ENOMEM; /* not NULL by type, so the conversion ran out of memory */
    len = (size_t)sqlite3_column_bytes(st, i);
    v = malloc(len + 1);
    if (!v)
        return -ENOMEM;
    memcpy(v, t, len);
    v[len] = '\0';
    *ret = v;
    return 0;
}

/* Copies a text column into a fixed array; a NULL or over-long value means a damaged row. */
static int
col_fixed(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    if (!t)
        return sqlite3_column_type(st, i) == SQLITE_NULL ? -EIO : -ENOMEM;
    return str_copy(dst, n, (const char *)t) < 0 ? -EIO : 0;
}

/* ---- open: refuse what we must not touch, then configure and migrate ---- */

static int
exec_const(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : (sql_errno(rc) ?: -EIO);
}

/* Reads one integer-valued pragma or query; rc is the SQLite result code. */
static int
query_int(sqlite3 *db, const char *sql, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *ret = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_CORRUPT; /* these queries always return a row */
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static bool
rc_is_damage(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

static int
refuse_damaged(const char *path, const char *what, struct err *err)
{
    return err_set(err, EIO, "store_corrupt",
                   "%s: %s; the file was not touched: restore it from a backup, or move it away "
                   "to start with an empty state",
                   path, what);
}

static int
refuse_sql(sqlite3 *db, const char *path, int rc, struct err *err)
{
    if (rc_is_damage(rc))
        return refuse_damaged(path, sqlite3_errstr(rc), err);
    return err_set(err, -(sql_errno(rc) ?: -EIO), "store_open", "%s: cannot read: %s", path,
                   sqlite3_errmsg(db));
}

/* Copies the first line of a quick_check report that names a problem (it may start with a
 * "*** in database main ***" header line) into buf. */
static void
first_problem(const char *report, char *buf, size_t n)
{
    const char *line = report;
    size_t len;

    if (str_has_prefix(line, "***") && strchr(line, '\n'))
        line = strchr(line, '\n') + 1;
    len = strcspn(line, "\n");
    if (len >= n)
        len = n - 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
}

/* PRAGMA quick_check answers one row "ok", or rows describing the damage. No allocation here:
 * running out of memory must not turn a damaged file into an accepted one. */
static int
check_integrity(sqlite3 *db, const char *path, struct err *err)
{
    char problem[160] = "";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!t)
            rc = SQLITE_NOMEM;
        else if (strcmp(t, "ok") != 0)
            first_problem(t, problem, sizeof(problem));
        else
            rc = SQLITE_OK;
    }
    if (rc == SQLITE_ROW) { /* a report that is not "ok" */
        char what[256];
        sqlite3_finalize(st);
        snprintf(what, sizeof(what), "failed its integrity check (%s)", problem);
        return refuse_damaged(path, what, err);
    }
    if (rc != SQLITE_OK) {
        int r = refuse_sql(db, path, rc, err);
        sqlite3_finalize(st);
        return r;
    }
    sqlite3_finalize(st);
    return 0;
}

/* Everything here only reads: a file refused by it is left exactly as it was. */
static int
check_file(sqlite3 *db, const char *path, int64_t *ret_version, struct err *err)
{
    int64_t version = 0, app_id = 0, objects = 0;
    int rc, r;

    rc = query_int(db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK)
        return refuse_sql(db, path, rc, err);
    if (version > STORE_SCHEMA_VERSION)
        return err_set(err, EPROTO, "store_version",
                       "%s: schema version %" PRId64 " is newer than this airlockd understands "
                       "(%d); use a newer airlockd or move the file away",
                       path, version, STORE_SCHEMA_VERSION);
    r = check_integrity(db, path, err);
    if (r < 0)
        return r;
    rc = query_int(db, "PRAGMA application_id", &app_id);
    if (rc == SQLITE_OK)
        rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects);
    if (rc != SQLITE_OK)
        return refuse_sql(db, path, rc, err);
    /* Version 0 with tables, or another application's id: some other program's database. */
    if ((app_id != 0 && app_id != STORE_APPLICATION_ID) || (version == 0 && objects > 0))
        return err_set(err, EPROTO, "store_foreign",
                       "%s: is an SQLite database but not an Airlock state file; the file was not "
                       "touched: point the daemon at another state directory or move it away",
                       path);
    *ret_version = version;
    return 0;
}

static int
migrate(sqlite3 *db, int64_t from, const char *path, struct err *err)
{
    for (int64_t v = from; v < STORE_SCHEMA_VERSION; v++) {
        char set_version[64];
        int r = exec_const(db, "BEGIN IMMEDIATE");

        if (r >= 0)
            r = exec_const(db, migrations[v]);
        /* Pragmas take no parameters; this integer is our own loop counter, not data. */
        if (r >= 0)
            r = str_printf(set_version, sizeof(set_version), "PRAGMA user_version = %" PRId64,
                           v + 1);
        if (r >= 0)
            r = exec_const(db, set_version);
        if (r >= 0)
            r = exec_const(db, "COMMIT");
        if (r < 0) {
            int saved = r;
            char msg[ERR_MSG_MAX / 2];
            snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
            if (!sqlite3_get_autocommit(db))
                (void)exec_const(db, "ROLLBACK");
            return err_set(err, -saved, "store_migrate",
                           "%s: migrating the schema to version %" PRId64 " failed: %s", path,
                           v + 1, msg);
        }
    }
    return 0;
}

static int
configure(sqlite3 *db, const char *path, struct err *err)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;
    int rc;

    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        wal = mode && strcmp(mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return err_set(err, -(sql_errno(rc) ?: -EIO), "store_open", "%s: cannot enable WAL: %s",
                       path, sqlite3_errmsg(db));
    if (!wal)
        return err_set(err, EIO, "store_open",
                       "%s: SQLite refused WAL mode; put the state directory on a local "
                       "filesystem",
                       path);
    /* WAL + synchronous=NORMAL: a committed transaction survives the process being killed; only
     * an OS crash or power loss can drop the last commits (never corrupt the file). */
    if (exec_const(db, "PRAGMA synchronous = NORMAL") < 0)
        return err_set(err, EIO, "store_open", "%s: %s", path, sqlite3_errmsg(db));
    return 0;
}

/* Opens without creating when the file exists, so a file that vanished is an error rather than
 * silently replaced by an empty one. */
static int
open_db(const char *path, sqlite3 **ret, struct err *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX; /* our mutex serialises */
    sqlite3 *db = NULL;
    struct stat st;
    int rc;

    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return err_set(err, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "store_open",
                           "%s: not a regular file", path);
    } else if (errno == ENOENT) {
        flags |= SQLITE_OPEN_CREATE;
    } else {
        return err_set(err, errno, "store_open", "%s: %s", path, strerror(errno));
    }
    rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        int sys = db ? sqlite3_system_errno(db) : 0;
        int r = err_set(err, sys > 0 ? sys : -(sql_errno(rc) ?: -EIO), "store_open",
                        "%s: cannot %s the database: %s%s", path,
                        (flags & SQLITE_OPEN_CREATE) ? "create" : "open",
                        sys > 0 ? strerror(sys) : sqlite3_errstr(rc),
                        (flags & SQLITE_OPEN_CREATE) ? " (does its directory exist and is it "
                                                       "writable?)"
                                                     : "");
        sqlite3_close(db);
        return r;
    }
    *ret = db;
    return 0;
}

static void
db_closep(sqlite3 **db)
{
    sqlite3_close(*db);
}

static int
open_checked(const char *path, sqlite3 **ret, int64_t *ret_version, struct err *err)
{
    _cleanup_(db_closep) sqlite3 *db = NULL;
    int r = open_db(path, &db, err);

    if (r < 0)
        return r;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    /* Until the checks pass, closing must not checkpoint a WAL left by another writer into the
     * file we are about to refuse. DEFENSIVE keeps SQL from corrupting the file on purpose
     * (writable_schema and the like). TRUSTED_SCHEMA stays at its default: SQLite 3.40 does not
     * mark json_valid() innocuous, so turning it off would reject our own CHECK constraints; the
     * file lives in the daemon's private state directory, not in anything a job can write. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    if (sqlite3_db_readonly(db, "main") == 1)
        return err_set(err, EROFS, "store_open",
                       "%s: the file is not writable by the daemon; fix its ownership or mode",
                       path);
    r = check_file(db, path, ret_version, err);
    if (r < 0)
        return r;
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
    *ret = TAKE_PTR(db);
    return 0;
}

int
store_open(const char *path, struct store **ret, struct err *err)
{
    _cleanup_(db_closep) sqlite3 *db = NULL;
    struct store *s;
    int64_t version = 0;
    int r;

    if (!path || !*path || !ret)
        return err_set(err, EINVAL, "store_open", "no database path given");
    r = open_checked(path, &db, &version, err);
    if (r < 0)
        return r;
    r = configure(db, path, err);
    if (r >= 0 && exec_const(db, "PRAGMA foreign_keys = ON") < 0)
        r = err_set(err, EIO, "store_open", "%s: %s", path, sqlite3_errmsg(db));
    if (r >= 0)
        r = migrate(db, version, path, err);
    if (r < 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "store_open", "%s: out of memory", path);
    r = pthread_mutex_init(&s->lock, NULL);
    if (r != 0) {
        free(s);
        return err_set(err, r, "store_open", "%s: %s", path, strerror(r));
    }
    s->db = TAKE_PTR(db);
    s->version = STORE_SCHEMA_VERSION;
    *ret = s;
    return 0;
}

struct store *
store_close(struct store *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    /* Every statement is finalised, so this closes now; the last connection checkpoints the
     * WAL into the main file and removes it. */
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

int
store_schema_version(struct store *s)
{
    if (!s)
        return -EINVAL;
    return s->version; /* set once at open, never changed: no lock needed */
}

/* ---- jobs ---- */

static bool
job_ok(const struct store_job *j)
{
    return j && fixed_str_ok(j->id, sizeof(j->id)) && fixed_str_ok(j->status, sizeof(j->status));
}

static int
job_bind(sqlite3_stmt *st, const struct store_job *j)
{
    int rc = SQLITE_OK;

    rc |= bind_text(st, 1, j->id);
    rc |= bind_text(st, 2, j->status);
    rc |= bind_text(st, 3, j->policy);
    rc |= bind_text(st, 4, j->command_json);
    rc |= bind_text(st, 5, j->labels_json);
    rc |= bind_text(st, 6, j->reason);
    rc |= bind_text(st, 7, j->workspace);
    rc |= bind_text(st, 8, j->spec_json);
    rc |= j->has_exit_code ? sqlite3_bind_int(st, 9, j->exit_code) : sqlite3_bind_null(st, 9);
    rc |= j->has_signal ? sqlite3_bind_int(st, 10, j->signal) : sqlite3_bind_null(st, 10);
    rc |= sqlite3_bind_int64(st, 11, j->created_ms);
    rc |= sqlite3_bind_int64(st, 12, j->started_ms);
    rc |= sqlite3_bind_int64(st, 13, j->finished_ms);
    rc |= sqlite3_bind_int64(st, 14, j->cpu_ms);
    rc |= sqlite3_bind_int64(st, 15, j->max_rss_kb);
    rc |= sqlite3_bind_int64(st, 16, j->egress_allowed);
    rc |= sqlite3_bind_int64(st, 17, j->egress_denied);
    rc |= sqlite3_bind_int64(st, 18, j->stdout_bytes);
    rc |= sqlite3_bind_int64(st, 19, j->stderr_bytes);
    rc |= sqlite3_bind_int(st, 20, j->stdout_truncated);
    rc |= sqlite3_bind_int(st, 21, j->stderr_truncated);
    /* Binding fails only on a bad index (a bug) or out of memory; either way the row is not
     * written, and ENOMEM is the one a caller can act on. */
    return rc == SQLITE_OK ? 0 : -ENOMEM;
}

/* Fills *j from the current row (columns in JOB_COLS order); on failure *j holds nothing. */
/* Fills one job from a row; void * so that rows_collect can take it as it is. */
static int
job_from_row(sqlite3_stmt *st, void *ret)
{
    struct store_job *j = ret;
    int r;

    memset(j, 0, sizeof(*j));
    r = col_fixed(st, 0, j->id, sizeof(j->id));
    if (r >= 0)
        r = col_fixed(st, 1, j->status, sizeof(j->status));
    char **strs[] = {&j->policy, &j->command_json, &j->labels_json,
                     &j->reason, &j->workspace,    &j->spec_json};
    for (int i = 0; r >= 0 && i < (int)ARRAY_SIZE(strs); i++)
        r = col_strdup(st, 2 + i, strs[i]);
    if (r < 0) {
        store_job_clear(j);
        return r;
    }
    j->has_exit_code = sqlite3_column_type(st, 8) != SQLITE_NULL;
    j->exit_code = sqlite3_column_int(st, 8);
    j->has_signal = sqlite3_column_type(st, 9) != SQLITE_NULL;
    j->signal = sqlite3_column_int(st, 9);
    j->created_ms = sqlite3_column_int64(st, 10);
    j->started_ms = sqlite3_column_int64(st, 11);
    j->finished_ms = sqlite3_column_int64(st, 12);
    j->cpu_ms = sqlite3_column_int64(st, 13);
    j->max_rss_kb = sqlite3_column_int64(st, 14);
    j->egress_allowed = sqlite3_column_int64(st, 15);
    j->egress_denied = sqlite3_column_int64(st, 16);
    j->stdout_bytes = sqlite3_column_int64(st, 17);
    j->stderr_bytes = sqlite3_column_int64(st, 18);
    j->stdout_truncated = sqlite3_column_int(st, 19) != 0;
    j->stderr_truncated = sqlite3_column_int(st, 20) != 0;
    return 0;
}

/* Runs the insert or the update statement with every column of j bound. Caller holds the
 * lock. */
static int
job_write_locked(struct store *s, enum stmt_id id, const struct store_job *j)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    r = stmt_get(s, id, &st);
    if (r >= 0)
        r = job_bind(st, j);
    if (r < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return sql_errno(rc) ?: -EIO;
    return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int
job_write(struct store *s, enum stmt_id id, const struct store_job *j)
{
    _cleanup_unlock_ struct store *locked = NULL;

    if (!s || !job_ok(j))
        return -EINVAL;
    locked = store_lock(s);
    return job_write_locked(s, id, j);
}

int
store_job_insert(struct store *s, const struct store_job *j)
{
    return job_write(s, STMT_JOB_INSERT, j);
}

int
store_job_update(struct store *s, const struct store_job *j)
{
    return job_write(s, STMT_JOB_UPDATE, j);
}

int
store_job_get(struct store *s, const char *id, struct store_job *ret)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    struct store_job j;
    int r, rc;

    if (!s || !id || !ret)
        return -EINVAL;
    locked = store_lock(s);
    r = stmt_get(s, STMT_JOB_GET, &st);
    if (r < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return sql_errno(rc) ?: -EIO;
    r = job_from_row(st, &j);
    if (r < 0)
        return r;
    *ret = j;
    return 0;
}

int
store_job_delete(struct store *s, const char *id)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !id)
        return -EINVAL;
    locked = store_lock(s);
    r = stmt_get(s, STMT_JOB_DELETE, &st);
    if (r < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK)
        return -ENOMEM;
    /* The egress rows go by ON DELETE CASCADE, in the same statement's implicit transaction. */
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return sql_errno(rc) ?: -EIO;
    return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

/* The seq of job id, the bound for `before` paging. Caller holds the lock. */
static int
job_seq(struct store *s, const char *id, int64_t *ret)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_JOB_SEQ, &st);
    int rc;

    if (r < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return sql_errno(rc) ?: -EIO;
    *ret = sqlite3_column_int64(st, 0);
    return 0;
}

static bool
filter_ok(const struct store_job_filter *f)
{
    return f && f->limit >= 1 && f->limit <= STORE_LIST_MAX && !f->label_key == !f->label_value;
}

/* Steps st to the end, appending each row as a job to *jobs (capacity grows by doubling). */
/* Steps st to the end, turning each row into an element of a growing array (doubling, never
 * past limit). from_row fills one element; free_rows releases the n filled ones on failure. */
static int
rows_collect(sqlite3_stmt *st, size_t limit, size_t size, int (*from_row)(sqlite3_stmt *, void *),
             void (*free_rows)(void *, size_t), void **ret, size_t *ret_n)
{
    char *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = SQLITE_DONE, r = 0;

    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ncap = ncap > limit ? limit : ncap;
            char *grown = reallocarray(rows, ncap, size);
            if (!grown) {
                r = -ENOMEM;
                break;
            }
            rows = grown;
            cap = ncap;
        }
        r = from_row(st, rows + n * size);
        if (r >= 0)
            n++;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = sql_errno(rc) ?: -EIO;
    if (r < 0) {
        free_rows(rows, n);
        return r;
    }
    *ret = rows;
    *ret_n = n;
    return 0;
}

static void
job_rows_free(void *rows, size_t n)
{
    store_job_list_free(rows, n);
}

int
store_job_list(struct store *s, const struct store_job_filter *f, struct store_job **ret, size_t *n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int64_t below = INT64_MAX;
    int r, rc = SQLITE_OK;

    if (!s || !filter_ok(f) || !ret || !n)
        return -EINVAL;
    locked = store_lock(s);
    if (f->before) {
        r = job_seq(s, f->before, &below);
        if (r < 0)
            return r;
    }
    /* Two statements rather than "?5 IS NULL OR status = ?5", so the planner can use the
     * (status, seq) index when a status is given. */
    r = stmt_get(s, f->status ? STMT_JOB_LIST_STATUS : STMT_JOB_LIST, &st);
    if (r < 0)
        return r;
    rc |= sqlite3_bind_int64(st, 1, below);
    rc |= bind_text(st, 2, f->label_key);
    rc |= bind_text(st, 3, f->label_value);
    rc |= sqlite3_bind_int64(st, 4, (int64_t)f->limit);
    if (f->status)
        rc |= bind_text(st, 5, f->status);
    if (rc != SQLITE_OK)
        return -ENOMEM;
    return rows_collect(st, f->limit, sizeof(**ret), job_from_row, job_rows_free, (void **)ret, n);
}

void
store_job_clear(struct store_job *j)
{
    if (!j)
        return;
    free(j->policy);
    free(j->command_json);
    free(j->labels_json);
    free(j->reason);
    free(j->workspace);
    free(j->spec_json);
    memset(j, 0, sizeof(*j));
}

void
store_job_list_free(struct store_job *jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++)
        store_job_clear(&jobs[i]);
    free(jobs);
}

/* Collects the ids of running jobs. Caller holds the lock, inside a transaction. */
static int
running_ids(struct store *s, char ***ret, size_t *ret_n)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    char **ids = NULL;
    size_t n = 0, cap = 0;
    int r = stmt_get(s, STMT_RUNNING_IDS, &st);
    int rc = SQLITE_DONE;

    while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **grown = reallocarray(ids, ncap, sizeof(*ids));
            if (!grown) {
                r = -ENOMEM;
                break;
            }
            ids = grown;
            cap = ncap;
        }
        r = col_strdup(st, 0, &ids[n]);
        if (r >= 0)
            n++;
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = sql_errno(rc) ?: -EIO;
    if (r < 0) {
        store_ids_free(ids, n);
        return r;
    }
    *ret = ids;
    *ret_n = n;
    return 0;
}

int
store_jobs_mark_lost(struct store *s, int64_t now_ms, char ***ret_ids, size_t *ret_n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    char **ids = NULL;
    size_t n = 0;
    int r;

    if (!s || !ret_ids || !ret_n)
        return -EINVAL;
    locked = store_lock(s);
    r = tx_begin(s);
    if (r < 0)
        return r;
    r = running_ids(s, &ids, &n);
    if (r >= 0) {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        r = stmt_get(s, STMT_MARK_LOST, &st);
        if (r >= 0 && sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK)
            r = -ENOMEM;
        if (r >= 0) {
            int rc = sqlite3_step(st);
            r = rc == SQLITE_DONE ? 0 : (sql_errno(rc) ?: -EIO);
        }
    }
    r = tx_end(s, r);
    if (r < 0) {
        store_ids_free(ids, n);
        return r;
    }
    *ret_ids = ids;
    *ret_n = n;
    return 0;
}

void
store_ids_free(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* ---- egress ---- */

static int
egress_bind(sqlite3_stmt *st, const struct store_egress *e)
{
    int rc = SQLITE_OK;

    rc |= bind_text(st, 1, e->job_id);
    rc |= sqlite3_bind_int64(st, 2, e->time_ms);
    rc |= bind_text(st, 3, e->method);
    rc |= bind_text(st, 4, e->scheme);
    rc |= bind_text(st, 5, e->host);
    rc |= sqlite3_bind_int(st, 6, e->port);
    rc |= bind_text(st, 7, e->path);
    rc |= bind_text(st, 8, e->decision);
    rc |= bind_text(st, 9, e->rule);
    rc |= bind_text(st, 10, e->reason);
    rc |= sqlite3_bind_int(st, 11, e->status);
    rc |= sqlite3_bind_int64(st, 12, e->bytes_up);
    rc |= sqlite3_bind_int64(st, 13, e->bytes_down);
    rc |= sqlite3_bind_int64(st, 14, e->duration_ms);
    return rc == SQLITE_OK ? 0 : -ENOMEM;
}

/* Steps a statement that returns no row, after its binding gave bound (0 or -ENOMEM), and
 * resets it for the next binding. */
static int
step_done(sqlite3_stmt *st, int bound)
{
    int r = bound;

    if (r >= 0) {
        int rc = sqlite3_step(st);
        r = rc == SQLITE_DONE ? 0 : (sql_errno(rc) ?: -EIO);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r;
}

/* Adds allowed/denied to a job's counters. */
static int
egress_count(sqlite3_stmt *st, const char *job_id, int64_t allowed, int64_t denied)
{
    bool ok = bind_text(st, 1, job_id) == SQLITE_OK &&
              sqlite3_bind_int64(st, 2, allowed) == SQLITE_OK &&
              sqlite3_bind_int64(st, 3, denied) == SQLITE_OK;

    return step_done(st, ok ? 0 : -ENOMEM);
}

/* Inserts every event and counts them on their jobs -- one counter update per run of events of
 * the same job (a batch is mostly one job's); caller holds the lock, inside a transaction. */
static int
egress_insert_all(struct store *s, const struct store_egress *ev, size_t n)
{
    sqlite3_stmt *ins = NULL, *cnt = NULL;
    int64_t allowed = 0, denied = 0;
    int r = stmt_get(s, STMT_EGRESS_INSERT, &ins);

    if (r >= 0)
        r = stmt_get(s, STMT_EGRESS_COUNT, &cnt);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        if ((r = step_done(ins, egress_bind(ins, &ev[i]))) < 0)
            break;
        if (strcmp(ev[i].decision, "allow") == 0)
            allowed++;
        else
            denied++;
        if (i + 1 == n || strcmp(ev[i + 1].job_id, ev[i].job_id) != 0) {
            r = egress_count(cnt, ev[i].job_id, allowed, denied);
            allowed = denied = 0;
        }
    }
    return r;
}

int
store_egress_insert(struct store *s, const struct store_egress *ev, size_t n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    int r;

    if (!s || (n > 0 && !ev))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fixed_str_ok(ev[i].job_id, sizeof(ev[i].job_id)) || !ev[i].decision)
            return -EINVAL;
    if (n == 0)
        return 0;
    locked = store_lock(s);
    r = tx_begin(s);
    if (r < 0)
        return r;
    return tx_end(s, egress_insert_all(s, ev, n));
}

static void
egress_clear(struct store_egress *e)
{
    free(e->method);
    free(e->scheme);
    free(e->host);
    free(e->path);
    free(e->decision);
    free(e->rule);
    free(e->reason);
    memset(e, 0, sizeof(*e));
}

/* Fills *e from the current row (columns in EGRESS_COLS order); on failure *e holds nothing. */
static int
egress_from_row(sqlite3_stmt *st, void *ret)
{
    struct store_egress *e = ret;
    int r;

    memset(e, 0, sizeof(*e));
    r = col_fixed(st, 0, e->job_id, sizeof(e->job_id));
    struct {
        int col;
        char **dst;
    } strs[] = {{2, &e->method},   {3, &e->scheme}, {4, &e->host},  {6, &e->path},
                {7, &e->decision}, {8, &e->rule},   {9, &e->reason}};
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(strs); i++)
        r = col_strdup(st, strs[i].col, strs[i].dst);
    if (r < 0) {
        egress_clear(e);
        return r;
    }
    e->time_ms = sqlite3_column_int64(st, 1);
    e->port = sqlite3_column_int(st, 5);
    e->status = sqlite3_column_int(st, 10);
    e->bytes_up = sqlite3_column_int64(st, 11);
    e->bytes_down = sqlite3_column_int64(st, 12);
    e->duration_ms = sqlite3_column_int64(st, 13);
    return 0;
}

static void
egress_rows_free(void *rows, size_t n)
{
    store_egress_free(rows, n);
}

int
store_egress_list(struct store *s, const char *job_id, size_t after, size_t limit,
                  struct store_egress **ret, size_t *n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    if (!s || !job_id || !ret || !n || limit < 1 || limit > STORE_LIST_MAX ||
        after > (size_t)INT64_MAX)
        return -EINVAL;
    locked = store_lock(s);
    r = stmt_get(s, STMT_EGRESS_LIST, &st);
    if (r < 0)
        return r;
    rc |= bind_text(st, 1, job_id);
    rc |= sqlite3_bind_int64(st, 2, (int64_t)limit);
    rc |= sqlite3_bind_int64(st, 3, (int64_t)after);
    if (rc != SQLITE_OK)
        return -ENOMEM;
    return rows_collect(st, limit, sizeof(**ret), egress_from_row, egress_rows_free, (void **)ret,
                        n);
}

void
store_egress_free(struct store_egress *ev, size_t n)
{
    if (!ev)
        return;
    for (size_t i = 0; i < n; i++)
        egress_clear(&ev[i]);
    free(ev);
}

/* ---- workspaces ---- */

void
store_ws_clear(struct store_ws *w)
{
    if (!w)
        return;
    free(w->labels_json);
    free(w->host_path);
    w->labels_json = w->host_path = NULL;
}

void
store_ws_list_free(struct store_ws *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        store_ws_clear(&w[i]);
    free(w);
}

static int
ws_from_row(sqlite3_stmt *st, struct store_ws *w)
{
    int r;

    memset(w, 0, sizeof(*w));
    if ((r = col_fixed(st, 0, w->id, sizeof(w->id))) < 0 ||
        (r = col_strdup(st, 1, &w->labels_json)) < 0 ||
        (r = col_strdup(st, 2, &w->host_path)) < 0) {
        store_ws_clear(w);
        return r;
    }
    w->owner_uid = sqlite3_column_int64(st, 3);
    w->owner_gid = sqlite3_column_int64(st, 4);
    w->dev = sqlite3_column_int64(st, 5);
    w->ino = sqlite3_column_int64(st, 6);
    w->disk_mb = sqlite3_column_int64(st, 7);
    w->created_ms = sqlite3_column_int64(st, 8);
    w->last_used_ms = sqlite3_column_int64(st, 9);
    w->jobs_total = sqlite3_column_int64(st, 10);
    return 0;
}

int
store_ws_insert(struct store *s, const struct store_ws *w)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !w || !fixed_str_ok(w->id, sizeof(w->id)) || !w->labels_json)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_INSERT, &st)) < 0)
        return r;
    if (bind_text(st, 1, w->id) != SQLITE_OK || bind_text(st, 2, w->labels_json) != SQLITE_OK ||
        bind_text(st, 3, w->host_path) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, w->owner_uid) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, w->owner_gid) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, w->dev) != SQLITE_OK ||
        sqlite3_bind_int64(st, 7, w->ino) != SQLITE_OK ||
        sqlite3_bind_int64(st, 8, w->disk_mb) != SQLITE_OK ||
        sqlite3_bind_int64(st, 9, w->created_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 10, w->last_used_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 11, w->jobs_total) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : (sql_errno(rc) ?: -EIO);
}

int
store_ws_get(struct store *s, const char *id, struct store_ws *ret)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !id || !ret)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_GET, &st)) < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return sql_errno(rc) ?: -EIO;
    return ws_from_row(st, ret);
}

int
store_ws_delete(struct store *s, const char *id)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !id)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_DELETE, &st)) < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return sql_errno(rc) ?: -EIO;
    return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int
store_ws_touch(struct store *s, const char *id, int64_t now_ms, int jobs)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !id)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_TOUCH, &st)) < 0)
        return r;
    if (bind_text(st, 1, id) != SQLITE_OK || sqlite3_bind_int64(st, 2, now_ms) != SQLITE_OK ||
        sqlite3_bind_int(st, 3, jobs) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return sql_errno(rc) ?: -EIO;
    return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

/* Collects the rows of a bound statement. */
static int
ws_collect(sqlite3_stmt *st, size_t cap, struct store_ws **ret, size_t *n)
{
    struct store_ws *rows = NULL;
    size_t count = 0;
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW && count < cap) {
        struct store_ws *grown = realloc(rows, (count + 1) * sizeof(*rows));
        if (!grown) {
            r = -ENOMEM;
            break;
        }
        rows = grown;
        if ((r = ws_from_row(st, &rows[count])) < 0)
            break;
        count++;
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = sql_errno(rc) ?: -EIO;
    if (r < 0) {
        store_ws_list_free(rows, count);
        return r;
    }
    *ret = rows;
    *n = count;
    return 0;
}

int
store_ws_list(struct store *s, const char *label_key, const char *label_value, size_t limit,
              struct store_ws **ret, size_t *n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r;

    if (!s || !ret || !n || limit == 0 || limit > STORE_LIST_MAX || (label_key && !label_value))
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_LIST, &st)) < 0)
        return r;
    if (bind_text(st, 1, label_key) != SQLITE_OK || bind_text(st, 2, label_value) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit) != SQLITE_OK)
        return -ENOMEM;
    return ws_collect(st, limit, ret, n);
}

int
store_ws_idle(struct store *s, int64_t before_ms, struct store_ws **ret, size_t *n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r;

    if (!s || !ret || !n)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_IDLE, &st)) < 0)
        return r;
    if (sqlite3_bind_int64(st, 1, before_ms) != SQLITE_OK)
        return -ENOMEM;
    return ws_collect(st, 1000, ret, n);
}

int
store_ws_count(struct store *s, int64_t *ret)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r, rc;

    if (!s || !ret)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_WS_COUNT, &st)) < 0)
        return r;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return sql_errno(rc) ?: -EIO;
    *ret = sqlite3_column_int64(st, 0);
    return 0;
}

/* ---- idempotency keys ---- */

static bool
idem_key_ok(const char *key)
{
    size_t len = key ? strnlen(key, STORE_IDEM_KEY_MAX + 1) : 0;

    return len > 0 && len <= STORE_IDEM_KEY_MAX;
}

/* Deletes the keys that expired by now_ms. Caller holds the lock. */
static int
idem_purge(struct store *s, int64_t now_ms)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_IDEM_PURGE, &st);

    if (r < 0)
        return r;
    if (sqlite3_bind_int64(st, 1, now_ms - STORE_IDEM_TTL_MS) != SQLITE_OK)
        return -ENOMEM;
    return step_done(st, 0);
}

/* Inserts the key of job_id. Caller holds the lock. */
static int
idem_insert(struct store *s, const char *key, const char *body_sha256, const char *job_id,
            int64_t now_ms)
{
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r = stmt_get(s, STMT_IDEM_INSERT, &st), rc;

    if (r < 0)
        return r;
    if (bind_text(st, 1, key) != SQLITE_OK || bind_text(st, 2, body_sha256) != SQLITE_OK ||
        bind_text(st, 3, job_id) != SQLITE_OK || sqlite3_bind_int64(st, 4, now_ms) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? 0 : (sql_errno(rc) ?: -EIO);
}

int
store_job_insert_idem(struct store *s, const struct store_job *j, const char *key,
                      const char *body_sha256, int64_t now_ms)
{
    _cleanup_unlock_ struct store *locked = NULL;
    int r;

    if (!s || !job_ok(j) || !idem_key_ok(key) || !body_sha256)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = tx_begin(s)) < 0)
        return r;
    /* The purge first, so an expired row of the same key does not block the new one. */
    r = idem_purge(s, now_ms);
    if (r >= 0)
        r = job_write_locked(s, STMT_JOB_INSERT, j);
    if (r >= 0)
        r = idem_insert(s, key, body_sha256, j->id, now_ms);
    return tx_end(s, r);
}

int
store_idem_get(struct store *s, const char *key, int64_t now_ms, struct store_idem *ret)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    struct store_idem v;
    int r, rc;

    if (!s || !idem_key_ok(key) || !ret)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_IDEM_GET, &st)) < 0)
        return r;
    if (bind_text(st, 1, key) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now_ms - STORE_IDEM_TTL_MS) != SQLITE_OK)
        return -ENOMEM;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return sql_errno(rc) ?: -EIO;
    if ((r = col_fixed(st, 0, v.body_sha256, sizeof(v.body_sha256))) < 0 ||
        (r = col_fixed(st, 1, v.job_id, sizeof(v.job_id))) < 0)
        return r;
    *ret = v;
    return 0;
}

/* ---- retention ---- */

/* Steps a bound statement whose column 0 is a job id (and column 1, when times, a time). */
static int
collect_ids(sqlite3_stmt *st, char ***ret, int64_t **times, size_t *ret_n)
{
    char **ids = NULL;
    int64_t *ts = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **g = reallocarray(ids, ncap, sizeof(*ids));
            int64_t *gt = g && times ? reallocarray(ts, ncap, sizeof(*ts)) : ts;
            if (g)
                ids = g;
            if (!g || (times && !gt)) {
                r = -ENOMEM;
                break;
            }
            ts = gt;
            cap = ncap;
        }
        if ((r = col_strdup(st, 0, &ids[n])) < 0)
            break;
        if (times)
            ts[n] = sqlite3_column_int64(st, 1);
        n++;
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = sql_errno(rc) ?: -EIO;
    if (r < 0) {
        store_ids_free(ids, n);
        free(ts);
        return r;
    }
    *ret = ids;
    if (times)
        *times = ts;
    *ret_n = n;
    return 0;
}

int
store_jobs_ended_between(struct store *s, int64_t after_ms, int64_t upto_ms, size_t limit,
                         char ***ret_ids, int64_t **ret_finished, size_t *ret_n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    _cleanup_reset_ sqlite3_stmt *st = NULL;
    int r;

    if (!s || !ret_ids || !ret_finished || !ret_n || limit == 0)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = stmt_get(s, STMT_ENDED_BETWEEN, &st)) < 0)
        return r;
    if (sqlite3_bind_int64(st, 1, after_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, upto_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit) != SQLITE_OK)
        return -ENOMEM;
    return collect_ids(st, ret_ids, ret_finished, ret_n);
}

int
store_jobs_delete_ended(struct store *s, int64_t before_ms, size_t limit, char ***ret_ids,
                        size_t *ret_n)
{
    _cleanup_unlock_ struct store *locked = NULL;
    char **ids = NULL;
    size_t n = 0;
    int r;

    if (!s || !ret_ids || !ret_n || limit == 0)
        return -EINVAL;
    locked = store_lock(s);
    if ((r = tx_begin(s)) < 0)
        return r;
    {
        _cleanup_reset_ sqlite3_stmt *st = NULL;
        r = stmt_get(s, STMT_DELETE_ENDED, &st);
        if (r >= 0 && (sqlite3_bind_int64(st, 1, before_ms) != SQLITE_OK ||
                       sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) != SQLITE_OK))
            r = -ENOMEM;
        if (r >= 0)
            r = collect_ids(st, &ids, NULL, &n);
    }
    r = tx_end(s, r);
    if (r < 0) {
        store_ids_free(ids, n);
        return r;
    }
    *ret_ids = ids;
    *ret_n = n;
    return 0;
}

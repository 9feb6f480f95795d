/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* vasprintf(), reallocarray() */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "store.h"

/* Schema migrations, in order: entry k-1 takes the database from version
 * k-1 to version k.  Never edit a released entry; append a new one and bump
 * STORE_SCHEMA_VERSION. */
static const char * const migrations[] = {
        /* 0 → 1 */
        "CREATE TABLE jobs ("
        "        id TEXT PRIMARY KEY NOT NULL,"
        "        seq INTEGER NOT NULL UNIQUE,"
        "        name TEXT,"
        "        score_path TEXT,"
        "        score_yaml TEXT,"
        "        base_dir TEXT,"
        "        workspace TEXT,"
        "        state TEXT NOT NULL,"
        "        owner_uid INTEGER NOT NULL,"
        "        owner_gid INTEGER NOT NULL,"
        "        self_healing INTEGER NOT NULL DEFAULT 0,"
        "        start_sheet INTEGER NOT NULL DEFAULT 1,"
        "        total_sheets INTEGER NOT NULL DEFAULT 0,"
        "        created_at INTEGER,"
        "        started_at INTEGER,"
        "        finished_at INTEGER,"
        "        error TEXT"
        ");"
        "CREATE TABLE sheets ("
        "        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "        num INTEGER NOT NULL,"
        "        state TEXT NOT NULL,"
        "        attempt_count INTEGER NOT NULL DEFAULT 0,"
        "        started_at INTEGER,"
        "        completed_at INTEGER,"
        "        next_retry_at INTEGER,"
        "        exit_code INTEGER,"                      /* NULL: no exit code */
        "        exit_signal INTEGER NOT NULL DEFAULT 0,"
        "        exit_reason TEXT,"
        "        error_message TEXT,"
        "        error_category TEXT,"
        "        validation_passed INTEGER,"              /* NULL: unknown */
        "        validation_details TEXT,"
        "        passed_validations INTEGER NOT NULL DEFAULT 0,"
        "        failed_validations INTEGER NOT NULL DEFAULT 0,"
        "        pass_percentage REAL NOT NULL DEFAULT 0,"
        "        duration_seconds REAL NOT NULL DEFAULT 0,"
        "        stdout_tail TEXT,"
        "        stderr_tail TEXT,"
        "        output_truncated INTEGER NOT NULL DEFAULT 0,"
        "        execution_mode TEXT,"
        "        stage INTEGER NOT NULL DEFAULT 0,"
        "        instance INTEGER NOT NULL DEFAULT 0,"
        "        PRIMARY KEY (job_id, num)"
        ");"
        "CREATE TABLE attempts ("
        "        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "        sheet INTEGER NOT NULL,"
        "        attempt INTEGER NOT NULL,"
        "        started_at INTEGER,"
        "        finished_at INTEGER,"
        "        pid INTEGER NOT NULL DEFAULT 0,"
        "        pid_starttime INTEGER NOT NULL DEFAULT 0,"
        "        cgroup TEXT,"
        "        exit_code INTEGER,"                      /* NULL: no exit code */
        "        exit_signal INTEGER NOT NULL DEFAULT 0,"
        "        outcome TEXT,"
        "        log_dir TEXT,"
        "        PRIMARY KEY (job_id, sheet, attempt)"
        ");"
        "CREATE TABLE counters ("
        "        name TEXT PRIMARY KEY NOT NULL,"
        "        value INTEGER NOT NULL"
        ");"
        "INSERT INTO counters (name, value) VALUES ('job_number', 0);",

        /* 2: the systemd runner's transient unit of an attempt, which a
         * restarted conductor adopts */
        "ALTER TABLE attempts ADD COLUMN unit TEXT;",

        /* 3: AI instruments.  Per sheet the instrument of its latest
         * attempt and its place in the fallback chain, the tokens and
         * estimated cost summed over its attempts (NULL: never reported),
         * completion-mode re-runs and rate-limit waits; per attempt its
         * instrument and why it ran (NULL: a plain run); per job the job
         * whose on_success hook started it (NULL: a user did) and how deep
         * in such a chain it is.  parent_job is no foreign key: a chained
         * job keeps naming its parent after the parent was cleared. */
        "ALTER TABLE sheets ADD COLUMN instrument TEXT;"
        "ALTER TABLE sheets ADD COLUMN instrument_index INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE sheets ADD COLUMN input_tokens INTEGER;"
        "ALTER TABLE sheets ADD COLUMN output_tokens INTEGER;"
        "ALTER TABLE sheets ADD COLUMN cost_usd REAL;"
        "ALTER TABLE sheets ADD COLUMN completion_attempts INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE sheets ADD COLUMN rate_limit_waits INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE attempts ADD COLUMN instrument TEXT;"
        "ALTER TABLE attempts ADD COLUMN kind TEXT;"
        "ALTER TABLE jobs ADD COLUMN parent_job TEXT;"
        "ALTER TABLE jobs ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(ELEMENTSOF(migrations) == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must equal the number of migrations");

#define JOB_COLUMNS                                                     \
        "id, seq, name, score_path, score_yaml, base_dir, workspace, state, " \
        "owner_uid, owner_gid, self_healing, start_sheet, total_sheets, " \
        "created_at, started_at, finished_at, error, parent_job, chain_depth"

/* seq is only assigned on first insert, so updates keep creation order. */
#define JOB_INSERT                                                      \
        "INSERT INTO jobs (" JOB_COLUMNS ") VALUES "                    \
        "(?1, (SELECT IFNULL(MAX(seq), 0) + 1 FROM jobs), ?2, ?3, ?4, ?5, ?6, ?7, " \
        "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"

#define JOB_UPSERT                                                      \
        JOB_INSERT " ON CONFLICT (id) DO UPDATE SET "                   \
        "name = excluded.name, score_path = excluded.score_path, "      \
        "score_yaml = excluded.score_yaml, base_dir = excluded.base_dir, " \
        "workspace = excluded.workspace, state = excluded.state, "      \
        "owner_uid = excluded.owner_uid, owner_gid = excluded.owner_gid, " \
        "self_healing = excluded.self_healing, start_sheet = excluded.start_sheet, " \
        "total_sheets = excluded.total_sheets, created_at = excluded.created_at, " \
        "started_at = excluded.started_at, finished_at = excluded.finished_at, " \
        "error = excluded.error, parent_job = excluded.parent_job, "   \
        "chain_depth = excluded.chain_depth"

#define SHEET_COLUMNS                                                   \
        "job_id, num, state, attempt_count, started_at, completed_at, next_retry_at, " \
        "exit_code, exit_signal, exit_reason, error_message, error_category, " \
        "validation_passed, validation_details, passed_validations, failed_validations, " \
        "pass_percentage, duration_seconds, stdout_tail, stderr_tail, output_truncated, " \
        "execution_mode, stage, instance, instrument, instrument_index, input_tokens, " \
        "output_tokens, cost_usd, completion_attempts, rate_limit_waits"

#define SHEET_INSERT                                                    \
        "INSERT INTO sheets (" SHEET_COLUMNS ") VALUES "                \
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, " \
        "?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31)"

#define SHEET_UPSERT                                                    \
        SHEET_INSERT " ON CONFLICT (job_id, num) DO UPDATE SET "        \
        "state = excluded.state, attempt_count = excluded.attempt_count, " \
        "started_at = excluded.started_at, completed_at = excluded.completed_at, " \
        "next_retry_at = excluded.next_retry_at, exit_code = excluded.exit_code, " \
        "exit_signal = excluded.exit_signal, exit_reason = excluded.exit_reason, " \
        "error_message = excluded.error_message, error_category = excluded.error_category, " \
        "validation_passed = excluded.validation_passed, " \
        "validation_details = excluded.validation_details, " \
        "passed_validations = excluded.passed_validations, " \
        "failed_validations = excluded.failed_validations, " \
        "pass_percentage = excluded.pass_percentage, " \
        "duration_seconds = excluded.duration_seconds, stdout_tail = excluded.stdout_tail, " \
        "stderr_tail = excluded.stderr_tail, output_truncated = excluded.output_truncated, " \
        "execution_mode = excluded.execution_mode, stage = excluded.stage, " \
        "instance = excluded.instance, instrument = excluded.instrument, " \
        "instrument_index = excluded.instrument_index, "                \
        "input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, " \
        "cost_usd = excluded.cost_usd, completion_attempts = excluded.completion_attempts, " \
        "rate_limit_waits = excluded.rate_limit_waits"

#define ATTEMPT_COLUMNS                                                 \
        "job_id, sheet, attempt, started_at, finished_at, pid, pid_starttime, cgroup, " \
        "exit_code, exit_signal, outcome, log_dir, unit, instrument, kind"

#define ATTEMPT_UPSERT                                                  \
        "INSERT INTO attempts (" ATTEMPT_COLUMNS ") VALUES "            \
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) " \
        "ON CONFLICT (job_id, sheet, attempt) DO UPDATE SET "           \
        "started_at = excluded.started_at, finished_at = excluded.finished_at, " \
        "pid = excluded.pid, pid_starttime = excluded.pid_starttime, "  \
        "cgroup = excluded.cgroup, exit_code = excluded.exit_code, "    \
        "exit_signal = excluded.exit_signal, outcome = excluded.outcome, " \
        "log_dir = excluded.log_dir, unit = excluded.unit, "            \
        "instrument = excluded.instrument, kind = excluded.kind"

typedef enum StatementId {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_INSERT_JOB,
        STMT_UPSERT_JOB,
        STMT_INSERT_SHEET,
        STMT_UPSERT_SHEET,
        STMT_UPSERT_ATTEMPT,
        STMT_LOAD_JOBS,
        STMT_LOAD_SHEETS,
        STMT_LOAD_ATTEMPTS,
        STMT_DELETE_JOB,
        STMT_BUMP_COUNTER,
        STMT_READ_COUNTER,
        STMT_SCHEMA_VERSION,
        _STMT_MAX,
} StatementId;

static const char * const statement_sql[_STMT_MAX] = {
        /* IMMEDIATE takes the write lock up front, so a transaction never
         * fails half way with SQLITE_BUSY when upgrading a read lock. */
        [STMT_BEGIN]          = "BEGIN IMMEDIATE",
        [STMT_COMMIT]         = "COMMIT",
        [STMT_ROLLBACK]       = "ROLLBACK",
        [STMT_INSERT_JOB]     = JOB_INSERT,
        [STMT_UPSERT_JOB]     = JOB_UPSERT,
        [STMT_INSERT_SHEET]   = SHEET_INSERT,
        [STMT_UPSERT_SHEET]   = SHEET_UPSERT,
        [STMT_UPSERT_ATTEMPT] = ATTEMPT_UPSERT,
        [STMT_LOAD_JOBS]      = "SELECT " JOB_COLUMNS " FROM jobs ORDER BY seq",
        [STMT_LOAD_SHEETS]    = "SELECT " SHEET_COLUMNS " FROM sheets WHERE job_id = ?1 ORDER BY num",
        [STMT_LOAD_ATTEMPTS]  = "SELECT " ATTEMPT_COLUMNS " FROM attempts WHERE job_id = ?1 "
                                "ORDER BY sheet, attempt",
        [STMT_DELETE_JOB]     = "DELETE FROM jobs WHERE id = ?1",
        [STMT_BUMP_COUNTER]   = "UPDATE counters SET value = value + 1 WHERE name = 'job_number'",
        [STMT_READ_COUNTER]   = "SELECT value FROM counters WHERE name = 'job_number'",
        [STMT_SCHEMA_VERSION] = "SELECT version FROM schema_version",
};

struct Store {
        sqlite3 *db;
        char *path;
        sqlite3_stmt *stmt[_STMT_MAX];
        char *last_error;

        /* Explicit transactions nest by counting; only the outermost
         * begin/commit talk to SQLite. */
        unsigned tx_depth;
        /* Set when the transaction was rolled back while still nested: the
         * remaining levels must unwind without touching the database, or
         * their writes would silently autocommit. */
        bool tx_aborted;
};

/* Why the last store_open() of this thread failed: there is no Store to
 * hang it on. */
static _Thread_local char *open_error = NULL;

static int errno_from_sqlite(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        default:
                return -EIO;
        }
}

static void set_error_string(char **where, char *msg) {
        /* If the message itself cannot be allocated the old one would be
         * misleading, so drop it. */
        free(*where);
        *where = msg;
}

static int store_fail(Store *s, int r, const char *fmt, ...) _printf_(3, 4);
static int store_fail(Store *s, int r, const char *fmt, ...) {
        va_list ap;
        char *msg;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        set_error_string(&s->last_error, msg);
        return r;
}

/* Records SQLite's own message for a failed call and maps the code. */
static int store_fail_sqlite(Store *s, int rc, const char *what) {
        int r = errno_from_sqlite(rc);

        if (r == 0)
                r = -EIO;

        /* Some errors (SQLITE_FULL, SQLITE_NOMEM, ...) make SQLite roll the
         * transaction back by itself; remember that so the outer levels
         * do not pretend to commit. */
        if (s->tx_depth > 0 && !s->tx_aborted && sqlite3_get_autocommit(s->db))
                s->tx_aborted = true;

        return store_fail(s, r, "%s failed on %s: %s (SQLite error %d)",
                          what, strna(s->path), sqlite3_errmsg(s->db), rc);
}

/* Runs a prepared statement that returns no rows, and leaves it reset. */
static int stmt_exec(Store *s, StatementId id, const char *what) {
        sqlite3_stmt *st = s->stmt[id];
        int rc, r = 0;

        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                r = store_fail_sqlite(s, rc, what);

        (void) sqlite3_reset(st);
        (void) sqlite3_clear_bindings(st);
        return r;
}

static void stmt_done(sqlite3_stmt *st) {
        (void) sqlite3_reset(st);
        (void) sqlite3_clear_bindings(st);
}

static int exec_sql(Store *s, const char *sql, const char *what) {
        char *errmsg = NULL;
        int rc, r;

        rc = sqlite3_exec(s->db, sql, NULL, NULL, &errmsg);
        if (rc == SQLITE_OK)
                return 0;

        r = errno_from_sqlite(rc);
        if (r == 0)
                r = -EIO;
        r = store_fail(s, r, "%s failed on %s: %s (SQLite error %d)",
                       what, strna(s->path), errmsg ?: sqlite3_errmsg(s->db), rc);
        sqlite3_free(errmsg);
        return r;
}

/* Binding helpers.  Strings are bound SQLITE_STATIC: every statement is
 * reset before the caller's data can go away. */

static int bind_text(Store *s, sqlite3_stmt *st, int idx, const char *v) {
        int rc = v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, idx);
        return rc == SQLITE_OK ? 0 : store_fail_sqlite(s, rc, "Binding a text parameter");
}

static int bind_int64(Store *s, sqlite3_stmt *st, int idx, int64_t v) {
        int rc = sqlite3_bind_int64(st, idx, v);
        return rc == SQLITE_OK ? 0 : store_fail_sqlite(s, rc, "Binding an integer parameter");
}

static int bind_double(Store *s, sqlite3_stmt *st, int idx, double v) {
        int rc = sqlite3_bind_double(st, idx, v);
        return rc == SQLITE_OK ? 0 : store_fail_sqlite(s, rc, "Binding a real parameter");
}

static int bind_null(Store *s, sqlite3_stmt *st, int idx) {
        int rc = sqlite3_bind_null(st, idx);
        return rc == SQLITE_OK ? 0 : store_fail_sqlite(s, rc, "Binding a NULL parameter");
}

/* 0 means "unset" and is stored as NULL so the sqlite3 CLI shows it as
 * such.  Values beyond INT64_MAX (USEC_INFINITY) wrap to negative integers
 * and come back unchanged. */
static int bind_usec(Store *s, sqlite3_stmt *st, int idx, usec_t v) {
        return v == 0 ? bind_null(s, st, idx) : bind_int64(s, st, idx, (int64_t) v);
}

static int bind_exit_code(Store *s, sqlite3_stmt *st, int idx, bool has, int code) {
        return has ? bind_int64(s, st, idx, code) : bind_null(s, st, idx);
}

/* Token counts beyond INT64_MAX wrap to negative integers and come back
 * unchanged, like bind_usec(). */
static int bind_tokens(Store *s, sqlite3_stmt *st, int idx, bool has, uint64_t v) {
        return has ? bind_int64(s, st, idx, (int64_t) v) : bind_null(s, st, idx);
}

static int bind_cost(Store *s, sqlite3_stmt *st, int idx, bool has, double v) {
        return has ? bind_double(s, st, idx, v) : bind_null(s, st, idx);
}

static usec_t column_usec(sqlite3_stmt *st, int col) {
        return (usec_t) sqlite3_column_int64(st, col);
}

static bool column_is_null(sqlite3_stmt *st, int col) {
        return sqlite3_column_type(st, col) == SQLITE_NULL;
}

static int column_strdup(Store *s, sqlite3_stmt *st, int col, char **ret) {
        const unsigned char *t;
        char *c;

        if (column_is_null(st, col)) {
                *ret = NULL;
                return 0;
        }

        t = sqlite3_column_text(st, col);
        if (!t)
                return store_fail(s, -ENOMEM, "Out of memory reading column %d of %s.",
                                  col, strna(s->path));
        c = strdup((const char *) t);
        if (!c)
                return store_fail(s, -ENOMEM, "Out of memory reading column %d of %s.",
                                  col, strna(s->path));
        *ret = c;
        return 0;
}

static int prepare_statements(Store *s) {
        for (StatementId i = 0; i < _STMT_MAX; i++) {
                int rc = sqlite3_prepare_v3(s->db, statement_sql[i], -1,
                                            SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
                if (rc != SQLITE_OK)
                        return store_fail_sqlite(s, rc, "Preparing a statement");
        }
        return 0;
}

static void finalize_statements(Store *s) {
        for (StatementId i = 0; i < _STMT_MAX; i++)
                s->stmt[i] = (sqlite3_finalize(s->stmt[i]), NULL);
}

void store_close(Store *s) {
        if (!s)
                return;

        /* Leaving an explicit transaction open is a caller bug; rolling it
         * back is what SQLite would do anyway, but do it visibly. */
        if (s->db && !sqlite3_get_autocommit(s->db))
                (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);

        finalize_statements(s);
        if (s->db)
                (void) sqlite3_close_v2(s->db);
        free(s->path);
        free(s->last_error);
        free(s);
}

static int read_schema_version(Store *s, sqlite3_stmt *st, int *ret) {
        int64_t v = 0;
        unsigned rows = 0;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                v = sqlite3_column_int64(st, 0);
                rows++;
        }
        if (rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, "Reading the schema version");
        stmt_done(st);
        if (r < 0)
                return r;

        if (rows == 0) {
                *ret = 0;
                return 0;
        }
        if (rows > 1 || v < 0 || v > INT32_MAX)
                return store_fail(s, -EBADMSG,
                                  "The schema_version table of %s is damaged (%u rows, version %" PRId64 "); "
                                  "restore the database from a backup or move it away.",
                                  strna(s->path), rows, v);
        *ret = (int) v;
        return 0;
}

/* Each step runs in its own transaction that re-reads the version, so two
 * processes opening the same fresh file cannot both apply a migration. */
static int migrate(Store *s) {
        for (;;) {
                _cleanup_free_ char *bump = NULL;
                sqlite3_stmt *st = NULL;
                int version, rc, r;

                r = exec_sql(s, "BEGIN IMMEDIATE", "Starting a migration transaction");
                if (r < 0)
                        return r;

                r = exec_sql(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                             "Creating the schema_version table");
                if (r < 0)
                        goto fail;

                rc = sqlite3_prepare_v2(s->db, "SELECT version FROM schema_version", -1, &st, NULL);
                if (rc != SQLITE_OK) {
                        r = store_fail_sqlite(s, rc, "Preparing the schema version query");
                        goto fail;
                }
                r = read_schema_version(s, st, &version);
                (void) sqlite3_finalize(st);
                if (r < 0)
                        goto fail;

                if (version > STORE_SCHEMA_VERSION) {
                        r = store_fail(s, -EPROTO,
                                       "%s has schema version %d, but this build only knows up to %d; "
                                       "run a newer Marianne or restore an older database.",
                                       strna(s->path), version, STORE_SCHEMA_VERSION);
                        goto fail;
                }
                if (version == STORE_SCHEMA_VERSION) {
                        /* Nothing written unless this was a brand new file,
                         * where committing keeps the version table. */
                        r = exec_sql(s, "COMMIT", "Committing the schema check");
                        if (r < 0)
                                goto fail;
                        return 0;
                }

                r = exec_sql(s, migrations[version], "Migrating the schema");
                if (r < 0) {
                        char *m = strdup_printf("Migration to schema version %d: %s",
                                                version + 1, strna(s->last_error));
                        if (m)
                                set_error_string(&s->last_error, m);
                        goto fail;
                }

                bump = strdup_printf("DELETE FROM schema_version; "
                                     "INSERT INTO schema_version (version) VALUES (%d);", version + 1);
                if (!bump) {
                        r = store_fail(s, -ENOMEM, "Out of memory migrating %s.", strna(s->path));
                        goto fail;
                }
                r = exec_sql(s, bump, "Recording the schema version");
                if (r < 0)
                        goto fail;

                r = exec_sql(s, "COMMIT", "Committing a schema migration");
                if (r < 0)
                        goto fail;
                continue;

        fail:
                if (!sqlite3_get_autocommit(s->db))
                        (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                return r;
        }
}

static int pragma_expect(Store *s, const char *sql, const char *expected) {
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_fail_sqlite(s, rc, sql);

        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const char *v = (const char *) sqlite3_column_text(st, 0);
                if (expected && !streq_ptr(v, expected))
                        r = store_fail(s, -EOPNOTSUPP,
                                       "'%s' on %s returned '%s' instead of '%s'; "
                                       "the database must live on a local file system that supports WAL.",
                                       sql, strna(s->path), strna(v), expected);
        } else if (rc != SQLITE_DONE)
                r = store_fail_sqlite(s, rc, sql);

        (void) sqlite3_finalize(st);
        return r;
}

static int create_private_file(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* SQLite would create the file with the default 0644; create it
         * ourselves first so it is never readable by others, and refuse
         * symlinks planted in our place. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;

        /* An existing database that others can read is tightened: its -wal
         * and -shm files inherit this mode. */
        if ((st.st_mode & 077) != 0 && fchmod(fd, st.st_mode & 0700) < 0)
                return negative_errno();

        return 0;
}

int store_open(const char *path, Store **ret) {
        _cleanup_(store_closep) Store *s = NULL;
        int rc, r, flags;

        if (isempty(path) || !ret)
                return -EINVAL;

        set_error_string(&open_error, NULL);

        r = create_private_file(path);
        if (r < 0) {
                set_error_string(&open_error,
                                 strdup_printf("Failed to create or open %s: %s; check that the directory "
                                               "exists, is writable, and that the path is not a symlink.",
                                               path, strerror(-r)));
                return r;
        }

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_NOFOLLOW
        flags |= SQLITE_OPEN_NOFOLLOW;
#endif
#ifdef SQLITE_OPEN_EXRESCODE
        flags |= SQLITE_OPEN_EXRESCODE;
#endif

        rc = sqlite3_open_v2(path, &s->db, flags, NULL);
        if (rc != SQLITE_OK) {
                r = errno_from_sqlite(rc);
                set_error_string(&open_error,
                                 strdup_printf("Failed to open database %s: %s",
                                               path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc)));
                return r < 0 ? r : -EIO;
        }

        (void) sqlite3_extended_result_codes(s->db, 1);

        rc = sqlite3_busy_timeout(s->db, 5000);
        if (rc != SQLITE_OK)
                r = store_fail_sqlite(s, rc, "Setting the busy timeout");
        else
                r = pragma_expect(s, "PRAGMA journal_mode=WAL", "wal");
        if (r >= 0)
                r = pragma_expect(s, "PRAGMA synchronous=NORMAL", NULL);
        if (r >= 0)
                r = pragma_expect(s, "PRAGMA foreign_keys=ON", NULL);
        if (r >= 0)
                r = pragma_expect(s, "PRAGMA foreign_keys", "1");
        if (r >= 0)
                r = migrate(s);
        if (r >= 0)
                r = prepare_statements(s);
        if (r < 0) {
                set_error_string(&open_error, TAKE_PTR(s->last_error));
                return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

const char *store_last_error(Store *s) {
        if (!s)
                return open_error ?: "";
        return s->last_error ?: "";
}

int store_schema_version(Store *s, int *ret) {
        if (!s || !ret)
                return -EINVAL;
        return read_schema_version(s, s->stmt[STMT_SCHEMA_VERSION], ret);
}

int store_begin(Store *s) {
        int r;

        if (!s)
                return -EINVAL;

        if (s->tx_depth > 0) {
                s->tx_depth++;
                return 0;
        }

        r = stmt_exec(s, STMT_BEGIN, "Starting a transaction");
        if (r < 0)
                return r;

        s->tx_depth = 1;
        s->tx_aborted = false;
        return 0;
}

static void tx_unwind_one(Store *s) {
        if (--s->tx_depth == 0)
                s->tx_aborted = false;
}

int store_commit(Store *s) {
        int r;

        if (!s)
                return -EINVAL;
        if (s->tx_depth == 0)
                return store_fail(s, -EINVAL, "store_commit() called without store_begin() on %s.",
                                  strna(s->path));

        if (s->tx_aborted) {
                tx_unwind_one(s);
                return store_fail(s, -ECANCELED,
                                  "The transaction on %s was already rolled back; nothing was committed.",
                                  strna(s->path));
        }

        if (s->tx_depth > 1) {
                s->tx_depth--;
                return 0;
        }

        r = stmt_exec(s, STMT_COMMIT, "Committing a transaction");
        if (r < 0) {
                /* A failed COMMIT may leave the transaction open (e.g. BUSY);
                 * do not let it linger and swallow later writes. */
                if (!sqlite3_get_autocommit(s->db))
                        (void) stmt_exec(s, STMT_ROLLBACK, "Rolling back a transaction");
                s->tx_depth = 0;
                s->tx_aborted = false;
                return r;
        }

        s->tx_depth = 0;
        return 0;
}

void store_rollback(Store *s) {
        if (!s || s->tx_depth == 0)
                return;

        if (!s->tx_aborted) {
                if (!sqlite3_get_autocommit(s->db))
                        (void) stmt_exec(s, STMT_ROLLBACK, "Rolling back a transaction");
                s->tx_aborted = true;
        }
        tx_unwind_one(s);
}

static int check_writable(Store *s) {
        if (s->tx_depth > 0 && s->tx_aborted)
                return store_fail(s, -ECANCELED,
                                  "The enclosing transaction on %s was rolled back; "
                                  "refusing to write outside of it.", strna(s->path));
        return 0;
}

static int bind_job(Store *s, sqlite3_stmt *st, const JobRecord *j) {
        const char *state = job_state_to_string(j->state);
        int r;

        if (!state)
                return store_fail(s, -EINVAL, "Job %s has an invalid state %d.", j->id, (int) j->state);

        if ((r = bind_text(s, st, 1, j->id)) < 0 ||
            (r = bind_text(s, st, 2, j->name)) < 0 ||
            (r = bind_text(s, st, 3, j->score_path)) < 0 ||
            (r = bind_text(s, st, 4, j->score_yaml)) < 0 ||
            (r = bind_text(s, st, 5, j->base_dir)) < 0 ||
            (r = bind_text(s, st, 6, j->workspace)) < 0 ||
            (r = bind_text(s, st, 7, state)) < 0 ||
            (r = bind_int64(s, st, 8, j->owner_uid)) < 0 ||
            (r = bind_int64(s, st, 9, j->owner_gid)) < 0 ||
            (r = bind_int64(s, st, 10, j->self_healing)) < 0 ||
            (r = bind_int64(s, st, 11, j->start_sheet)) < 0 ||
            (r = bind_int64(s, st, 12, j->total_sheets)) < 0 ||
            (r = bind_usec(s, st, 13, j->created_at)) < 0 ||
            (r = bind_usec(s, st, 14, j->started_at)) < 0 ||
            (r = bind_usec(s, st, 15, j->finished_at)) < 0 ||
            (r = bind_text(s, st, 16, j->error)) < 0 ||
            (r = bind_text(s, st, 17, j->parent_job)) < 0 ||
            (r = bind_int64(s, st, 18, j->chain_depth)) < 0)
                return r;
        return 0;
}

static int save_job(Store *s, StatementId id, const JobRecord *j) {
        int r;

        if (!s || !j || isempty(j->id))
                return -EINVAL;
        r = check_writable(s);
        if (r < 0)
                return r;

        r = bind_job(s, s->stmt[id], j);
        if (r < 0) {
                stmt_done(s->stmt[id]);
                return r;
        }
        return stmt_exec(s, id, "Saving a job");
}

int store_save_job(Store *s, const JobRecord *j) {
        return save_job(s, STMT_UPSERT_JOB, j);
}

static int bind_sheet(Store *s, sqlite3_stmt *st, const char *job_id, const SheetRecord *x) {
        const char *state = sheet_state_to_string(x->state);
        int r;

        if (!state)
                return store_fail(s, -EINVAL, "Sheet %u of job %s has an invalid state %d.",
                                  x->num, job_id, (int) x->state);

        if ((r = bind_text(s, st, 1, job_id)) < 0 ||
            (r = bind_int64(s, st, 2, x->num)) < 0 ||
            (r = bind_text(s, st, 3, state)) < 0 ||
            (r = bind_int64(s, st, 4, x->attempt_count)) < 0 ||
            (r = bind_usec(s, st, 5, x->started_at)) < 0 ||
            (r = bind_usec(s, st, 6, x->completed_at)) < 0 ||
            (r = bind_usec(s, st, 7, x->next_retry_at)) < 0 ||
            (r = bind_exit_code(s, st, 8, x->has_exit_code, x->exit_code)) < 0 ||
            (r = bind_int64(s, st, 9, x->exit_signal)) < 0 ||
            (r = bind_text(s, st, 10, x->exit_reason)) < 0 ||
            (r = bind_text(s, st, 11, x->error_message)) < 0 ||
            (r = bind_text(s, st, 12, x->error_category)) < 0 ||
            (r = (x->validation_passed < 0 ? bind_null(s, st, 13)
                                           : bind_int64(s, st, 13, x->validation_passed > 0))) < 0 ||
            (r = bind_text(s, st, 14, x->validation_details)) < 0 ||
            (r = bind_int64(s, st, 15, x->passed_validations)) < 0 ||
            (r = bind_int64(s, st, 16, x->failed_validations)) < 0 ||
            (r = bind_double(s, st, 17, x->pass_percentage)) < 0 ||
            (r = bind_double(s, st, 18, x->duration_seconds)) < 0 ||
            (r = bind_text(s, st, 19, x->stdout_tail)) < 0 ||
            (r = bind_text(s, st, 20, x->stderr_tail)) < 0 ||
            (r = bind_int64(s, st, 21, x->output_truncated)) < 0 ||
            (r = bind_text(s, st, 22, x->execution_mode)) < 0 ||
            (r = bind_int64(s, st, 23, x->stage)) < 0 ||
            (r = bind_int64(s, st, 24, x->instance)) < 0 ||
            (r = bind_text(s, st, 25, x->instrument)) < 0 ||
            (r = bind_int64(s, st, 26, x->instrument_index)) < 0 ||
            (r = bind_tokens(s, st, 27, x->has_tokens, x->input_tokens)) < 0 ||
            (r = bind_tokens(s, st, 28, x->has_tokens, x->output_tokens)) < 0 ||
            (r = bind_cost(s, st, 29, x->has_cost, x->cost_usd)) < 0 ||
            (r = bind_int64(s, st, 30, x->completion_attempts)) < 0 ||
            (r = bind_int64(s, st, 31, x->rate_limit_waits)) < 0)
                return r;
        return 0;
}

static int save_sheet(Store *s, StatementId id, const char *job_id, const SheetRecord *x) {
        int r;

        if (!s || isempty(job_id) || !x)
                return -EINVAL;
        r = check_writable(s);
        if (r < 0)
                return r;

        r = bind_sheet(s, s->stmt[id], job_id, x);
        if (r < 0) {
                stmt_done(s->stmt[id]);
                return r;
        }
        return stmt_exec(s, id, "Saving a sheet");
}

int store_save_sheet(Store *s, const char *job_id, const SheetRecord *r) {
        return save_sheet(s, STMT_UPSERT_SHEET, job_id, r);
}

int store_save_attempt(Store *s, const char *job_id, const AttemptRecord *a) {
        sqlite3_stmt *st;
        int r;

        if (!s || isempty(job_id) || !a)
                return -EINVAL;
        r = check_writable(s);
        if (r < 0)
                return r;

        st = s->stmt[STMT_UPSERT_ATTEMPT];
        if ((r = bind_text(s, st, 1, job_id)) < 0 ||
            (r = bind_int64(s, st, 2, a->sheet)) < 0 ||
            (r = bind_int64(s, st, 3, a->attempt)) < 0 ||
            (r = bind_usec(s, st, 4, a->started_at)) < 0 ||
            (r = bind_usec(s, st, 5, a->finished_at)) < 0 ||
            (r = bind_int64(s, st, 6, a->pid)) < 0 ||
            (r = bind_int64(s, st, 7, (int64_t) a->pid_starttime)) < 0 ||
            (r = bind_text(s, st, 8, a->cgroup)) < 0 ||
            (r = bind_exit_code(s, st, 9, a->has_exit_code, a->exit_code)) < 0 ||
            (r = bind_int64(s, st, 10, a->exit_signal)) < 0 ||
            (r = bind_text(s, st, 11, a->outcome)) < 0 ||
            (r = bind_text(s, st, 12, a->log_dir)) < 0 ||
            (r = bind_text(s, st, 13, a->unit)) < 0 ||
            (r = bind_text(s, st, 14, a->instrument)) < 0 ||
            (r = bind_text(s, st, 15, a->kind)) < 0) {
                stmt_done(st);
                return r;
        }
        return stmt_exec(s, STMT_UPSERT_ATTEMPT, "Saving an attempt");
}

int store_insert_job(Store *s, const JobRecord *j, const SheetRecord *sheets, size_t n_sheets) {
        int r;

        if (!s || !j || isempty(j->id) || (n_sheets > 0 && !sheets))
                return -EINVAL;

        r = store_begin(s);
        if (r < 0)
                return r;

        /* Plain INSERTs: an existing job id or a repeated sheet number is a
         * caller bug (-EEXIST), not something to merge silently. */
        r = save_job(s, STMT_INSERT_JOB, j);
        for (size_t i = 0; r >= 0 && i < n_sheets; i++)
                r = save_sheet(s, STMT_INSERT_SHEET, j->id, &sheets[i]);
        if (r < 0) {
                /* Keep the message of the real failure, not of the rollback. */
                char *saved = TAKE_PTR(s->last_error);
                store_rollback(s);
                set_error_string(&s->last_error, saved);
                return r;
        }

        return store_commit(s);
}

static int check_rows_done(Store *s, int rc, const char *what) {
        return rc == SQLITE_DONE ? 0 : store_fail_sqlite(s, rc, what);
}

static int grow(void **array, size_t *allocated, size_t n, size_t size) {
        size_t want;
        void *p;

        if (n < *allocated)
                return 0;
        want = MAX(*allocated * 2, (size_t) 16);
        p = reallocarray(*array, want, size);
        if (!p)
                return -ENOMEM;
        memset((char *) p + *allocated * size, 0, (want - *allocated) * size);
        *array = p;
        *allocated = want;
        return 0;
}

/* Give back what grow() reserved beyond n: the conductor keeps loaded
 * sheet arrays for the life of the job, thousands of them. */
static void *shrink_to_fit(void *array, size_t n, size_t size) {
        void *p;

        if (!array || n == 0)
                return array;
        p = reallocarray(array, n, size);
        return p ?: array;
}

static int load_job_row(Store *s, sqlite3_stmt *st, JobRecord *j) {
        _cleanup_free_ char *state = NULL;
        int r;

        /* Column 1 is seq, used for ordering only. */
        if ((r = column_strdup(s, st, 0, &j->id)) < 0 ||
            (r = column_strdup(s, st, 2, &j->name)) < 0 ||
            (r = column_strdup(s, st, 3, &j->score_path)) < 0 ||
            (r = column_strdup(s, st, 4, &j->score_yaml)) < 0 ||
            (r = column_strdup(s, st, 5, &j->base_dir)) < 0 ||
            (r = column_strdup(s, st, 6, &j->workspace)) < 0 ||
            (r = column_strdup(s, st, 7, &state)) < 0 ||
            (r = column_strdup(s, st, 16, &j->error)) < 0 ||
            (r = column_strdup(s, st, 17, &j->parent_job)) < 0)
                return r;

        j->state = job_state_from_string(state);
        if (j->state < 0)
                return store_fail(s, -EBADMSG, "Job %s in %s has unknown state '%s'.",
                                  strna(j->id), strna(s->path), strna(state));

        j->owner_uid = (uint32_t) sqlite3_column_int64(st, 8);
        j->owner_gid = (uint32_t) sqlite3_column_int64(st, 9);
        j->self_healing = sqlite3_column_int64(st, 10) != 0;
        j->start_sheet = (unsigned) sqlite3_column_int64(st, 11);
        j->total_sheets = (unsigned) sqlite3_column_int64(st, 12);
        j->created_at = column_usec(st, 13);
        j->started_at = column_usec(st, 14);
        j->finished_at = column_usec(st, 15);
        j->chain_depth = (unsigned) sqlite3_column_int64(st, 18);
        return 0;
}

int store_load_jobs(Store *s, JobRecord **ret, size_t *ret_n) {
        sqlite3_stmt *st;
        JobRecord *a = NULL;
        size_t n = 0, allocated = 0;
        int rc, r = 0;

        if (!s || !ret || !ret_n)
                return -EINVAL;

        st = s->stmt[STMT_LOAD_JOBS];
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = grow((void **) &a, &allocated, n, sizeof(JobRecord));
                if (r < 0) {
                        r = store_fail(s, r, "Out of memory loading jobs from %s.", strna(s->path));
                        break;
                }
                /* Count the row before filling it so a half-loaded record
                 * is freed too. */
                r = load_job_row(s, st, &a[n++]);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = check_rows_done(s, rc, "Loading jobs");
        stmt_done(st);

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        job_record_done(&a[i]);
                free(a);
                return r;
        }

        *ret = a;
        *ret_n = n;
        return 0;
}

static int load_sheet_row(Store *s, sqlite3_stmt *st, const char *job_id, SheetRecord *x) {
        _cleanup_free_ char *state = NULL;
        int r;

        if ((r = column_strdup(s, st, 2, &state)) < 0 ||
            (r = column_strdup(s, st, 9, &x->exit_reason)) < 0 ||
            (r = column_strdup(s, st, 10, &x->error_message)) < 0 ||
            (r = column_strdup(s, st, 11, &x->error_category)) < 0 ||
            (r = column_strdup(s, st, 13, &x->validation_details)) < 0 ||
            (r = column_strdup(s, st, 18, &x->stdout_tail)) < 0 ||
            (r = column_strdup(s, st, 19, &x->stderr_tail)) < 0 ||
            (r = column_strdup(s, st, 21, &x->execution_mode)) < 0 ||
            (r = column_strdup(s, st, 24, &x->instrument)) < 0)
                return r;

        x->num = (unsigned) sqlite3_column_int64(st, 1);
        x->stage = (unsigned) sqlite3_column_int64(st, 22);
        x->instance = (unsigned) sqlite3_column_int64(st, 23);
        x->state = sheet_state_from_string(state);
        if (x->state < 0)
                return store_fail(s, -EBADMSG, "Sheet %u of job %s in %s has unknown state '%s'.",
                                  x->num, job_id, strna(s->path), strna(state));

        x->attempt_count = (unsigned) sqlite3_column_int64(st, 3);
        x->started_at = column_usec(st, 4);
        x->completed_at = column_usec(st, 5);
        x->next_retry_at = column_usec(st, 6);
        x->has_exit_code = !column_is_null(st, 7);
        x->exit_code = x->has_exit_code ? sqlite3_column_int(st, 7) : 0;
        x->exit_signal = sqlite3_column_int(st, 8);
        x->validation_passed = column_is_null(st, 12) ? -1 : sqlite3_column_int64(st, 12) != 0;
        x->passed_validations = (unsigned) sqlite3_column_int64(st, 14);
        x->failed_validations = (unsigned) sqlite3_column_int64(st, 15);
        x->pass_percentage = sqlite3_column_double(st, 16);
        x->duration_seconds = sqlite3_column_double(st, 17);
        x->output_truncated = sqlite3_column_int64(st, 20) != 0;
        x->instrument_index = (unsigned) sqlite3_column_int64(st, 25);
        /* Both counts are written together; either one present is enough. */
        x->has_tokens = !column_is_null(st, 26) || !column_is_null(st, 27);
        x->input_tokens = (uint64_t) sqlite3_column_int64(st, 26);
        x->output_tokens = (uint64_t) sqlite3_column_int64(st, 27);
        x->has_cost = !column_is_null(st, 28);
        x->cost_usd = x->has_cost ? sqlite3_column_double(st, 28) : 0;
        x->completion_attempts = (unsigned) sqlite3_column_int64(st, 29);
        x->rate_limit_waits = (unsigned) sqlite3_column_int64(st, 30);
        return 0;
}

int store_load_sheets(Store *s, const char *job_id, SheetRecord **ret, size_t *ret_n) {
        sqlite3_stmt *st;
        SheetRecord *a = NULL;
        size_t n = 0, allocated = 0;
        int rc = SQLITE_DONE, r;

        if (!s || isempty(job_id) || !ret || !ret_n)
                return -EINVAL;

        st = s->stmt[STMT_LOAD_SHEETS];
        r = bind_text(s, st, 1, job_id);
        if (r >= 0)
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        r = grow((void **) &a, &allocated, n, sizeof(SheetRecord));
                        if (r < 0) {
                                r = store_fail(s, r, "Out of memory loading sheets of %s from %s.",
                                               job_id, strna(s->path));
                                break;
                        }
                        r = load_sheet_row(s, st, job_id, &a[n++]);
                        if (r < 0)
                                break;
                }
        if (r >= 0)
                r = check_rows_done(s, rc, "Loading sheets");
        stmt_done(st);

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        sheet_record_done(&a[i]);
                free(a);
                return r;
        }

        *ret = shrink_to_fit(a, n, sizeof(SheetRecord));
        *ret_n = n;
        return 0;
}

static int load_attempt_row(Store *s, sqlite3_stmt *st, AttemptRecord *x) {
        int r;

        if ((r = column_strdup(s, st, 7, &x->cgroup)) < 0 ||
            (r = column_strdup(s, st, 10, &x->outcome)) < 0 ||
            (r = column_strdup(s, st, 11, &x->log_dir)) < 0 ||
            (r = column_strdup(s, st, 12, &x->unit)) < 0 ||
            (r = column_strdup(s, st, 13, &x->instrument)) < 0 ||
            (r = column_strdup(s, st, 14, &x->kind)) < 0)
                return r;

        x->sheet = (unsigned) sqlite3_column_int64(st, 1);
        x->attempt = (unsigned) sqlite3_column_int64(st, 2);
        x->started_at = column_usec(st, 3);
        x->finished_at = column_usec(st, 4);
        x->pid = sqlite3_column_int64(st, 5);
        x->pid_starttime = (uint64_t) sqlite3_column_int64(st, 6);
        x->has_exit_code = !column_is_null(st, 8);
        x->exit_code = x->has_exit_code ? sqlite3_column_int(st, 8) : 0;
        x->exit_signal = sqlite3_column_int(st, 9);
        return 0;
}

int store_load_attempts(Store *s, const char *job_id, AttemptRecord **ret, size_t *ret_n) {
        sqlite3_stmt *st;
        AttemptRecord *a = NULL;
        size_t n = 0, allocated = 0;
        int rc = SQLITE_DONE, r;

        if (!s || isempty(job_id) || !ret || !ret_n)
                return -EINVAL;

        st = s->stmt[STMT_LOAD_ATTEMPTS];
        r = bind_text(s, st, 1, job_id);
        if (r >= 0)
                while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                        r = grow((void **) &a, &allocated, n, sizeof(AttemptRecord));
                        if (r < 0) {
                                r = store_fail(s, r, "Out of memory loading attempts of %s from %s.",
                                               job_id, strna(s->path));
                                break;
                        }
                        r = load_attempt_row(s, st, &a[n++]);
                        if (r < 0)
                                break;
                }
        if (r >= 0)
                r = check_rows_done(s, rc, "Loading attempts");
        stmt_done(st);

        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        attempt_record_done(&a[i]);
                free(a);
                return r;
        }

        *ret = a;
        *ret_n = n;
        return 0;
}

int store_delete_job(Store *s, const char *job_id) {
        int r;

        if (!s || isempty(job_id))
                return -EINVAL;
        r = check_writable(s);
        if (r < 0)
                return r;

        r = bind_text(s, s->stmt[STMT_DELETE_JOB], 1, job_id);
        if (r < 0) {
                stmt_done(s->stmt[STMT_DELETE_JOB]);
                return r;
        }
        /* Sheets and attempts go with it through ON DELETE CASCADE. */
        r = stmt_exec(s, STMT_DELETE_JOB, "Deleting a job");
        if (r < 0)
                return r;
        if (sqlite3_changes(s->db) == 0)
                return store_fail(s, -ENOENT, "No job %s in %s.", job_id, strna(s->path));
        return 0;
}

int store_next_job_number(Store *s, uint64_t *ret) {
        sqlite3_stmt *st;
        int64_t v = 0;
        int rc, r;

        if (!s || !ret)
                return -EINVAL;
        r = check_writable(s);
        if (r < 0)
                return r;

        r = store_begin(s);
        if (r < 0)
                return r;

        r = stmt_exec(s, STMT_BUMP_COUNTER, "Advancing the job number");
        if (r >= 0 && sqlite3_changes(s->db) != 1)
                r = store_fail(s, -EBADMSG, "The job_number counter is missing from %s; "
                               "restore the database from a backup.", strna(s->path));
        if (r >= 0) {
                st = s->stmt[STMT_READ_COUNTER];
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        v = sqlite3_column_int64(st, 0);
                else
                        r = rc == SQLITE_DONE ? store_fail(s, -EBADMSG, "The job_number counter vanished from %s.",
                                                           strna(s->path))
                                              : store_fail_sqlite(s, rc, "Reading the job number");
                stmt_done(st);
        }
        if (r >= 0 && v <= 0)
                r = store_fail(s, -EBADMSG, "The job_number counter in %s holds %" PRId64 "; "
                               "restore the database from a backup.", strna(s->path), v);
        if (r < 0) {
                char *saved = TAKE_PTR(s->last_error);
                store_rollback(s);
                set_error_string(&s->last_error, saved);
                return r;
        }

        r = store_commit(s);
        if (r < 0)
                return r;

        *ret = (uint64_t) v;
        return 0;
}

void job_record_done(JobRecord *j) {
        if (!j)
                return;
        free(j->id);
        free(j->name);
        free(j->score_path);
        free(j->score_yaml);
        free(j->base_dir);
        free(j->workspace);
        free(j->error);
        free(j->parent_job);
        j->id = j->name = j->score_path = j->score_yaml = j->base_dir = j->workspace = j->error = NULL;
        j->parent_job = NULL;
}

void sheet_record_done(SheetRecord *x) {
        if (!x)
                return;
        free(x->exit_reason);
        free(x->error_message);
        free(x->error_category);
        free(x->validation_details);
        free(x->stdout_tail);
        free(x->stderr_tail);
        free(x->execution_mode);
        free(x->instrument);
        x->exit_reason = x->error_message = x->error_category = x->validation_details = NULL;
        x->stdout_tail = x->stderr_tail = x->execution_mode = x->instrument = NULL;
}

void attempt_record_done(AttemptRecord *a) {
        if (!a)
                return;
        free(a->cgroup);
        free(a->outcome);
        free(a->log_dir);
        free(a->unit);
        free(a->instrument);
        free(a->kind);
        a->cgroup = a->outcome = a->log_dir = a->unit = a->instrument = a->kind = NULL;
}

void store_release_memory(Store *s) {
        if (s && s->db)
                (void) sqlite3_db_release_memory(s->db);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "store.h"

typedef struct Fixture {
        char *dir;
        char *db;
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        char tmpl[] = "/tmp/test-store-XXXXXX";

        assert_non_null(f);
        assert_non_null(mkdtemp(tmpl));
        f->dir = strdup(tmpl);
        assert_non_null(f->dir);
        f->db = strdup_printf("%s/state.db", f->dir);
        assert_non_null(f->db);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        assert_int_equal(nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(f->dir);
        free(f->db);
        free(f);
        return 0;
}

/* Raw SQL on the file, bypassing the store, to set up odd databases and to
 * look at what was really written. */
static void raw_exec(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("raw SQL '%s' failed: %s", sql, err);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static char *raw_query_text(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        char *v = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
                v = strdup((const char *) sqlite3_column_text(st, 0));
                assert_non_null(v);
        }
        sqlite3_finalize(st);
        assert_int_equal(sqlite3_close(db), SQLITE_OK);
        return v;
}

static int64_t raw_count(const char *path, const char *sql) {
        _cleanup_free_ char *v = raw_query_text(path, sql);
        assert_non_null(v);
        return strtoll(v, NULL, 10);
}

/* Turns a current database back into the layout of schema version 2 (before
 * instruments, tokens, cost and job chains), keeping its rows. */
static void downgrade_to_v2(const char *path) {
        raw_exec(path,
                 "ALTER TABLE sheets DROP COLUMN instrument;"
                 "ALTER TABLE sheets DROP COLUMN instrument_index;"
                 "ALTER TABLE sheets DROP COLUMN input_tokens;"
                 "ALTER TABLE sheets DROP COLUMN output_tokens;"
                 "ALTER TABLE sheets DROP COLUMN cost_usd;"
                 "ALTER TABLE sheets DROP COLUMN completion_attempts;"
                 "ALTER TABLE sheets DROP COLUMN rate_limit_waits;"
                 "ALTER TABLE attempts DROP COLUMN instrument;"
                 "ALTER TABLE attempts DROP COLUMN kind;"
                 "ALTER TABLE jobs DROP COLUMN parent_job;"
                 "ALTER TABLE jobs DROP COLUMN chain_depth;"
                 "UPDATE schema_version SET version = 2;");
}

static void make_job(JobRecord *j, const char *id) {
        *j = (JobRecord) {
                .id = (char *) id,
                .name = (char *) "a job",
                .score_path = (char *) "/srv/scores/a.yaml",
                .score_yaml = (char *) "name: a\nsheet:\n  size: 1\n",
                .base_dir = (char *) "/srv/scores",
                .workspace = (char *) "/srv/ws/a",
                .state = JOB_QUEUED,
                .owner_uid = 1000,
                .owner_gid = 1000,
                .start_sheet = 1,
                .total_sheets = 3,
                .created_at = 1700000000000000ULL,
        };
}

static void make_sheet(SheetRecord *r, unsigned num) {
        *r = (SheetRecord) {
                .num = num,
                .state = SHEET_PENDING,
                .validation_passed = -1,
        };
}

static size_t count_sheets(Store *s, const char *job_id) {
        SheetRecord *a = NULL;
        size_t n = 0;

        assert_int_equal(store_load_sheets(s, job_id, &a, &n), 0);
        for (size_t i = 0; i < n; i++)
                sheet_record_done(&a[i]);
        free(a);
        return n;
}

static size_t count_jobs(Store *s) {
        JobRecord *a = NULL;
        size_t n = 0;

        assert_int_equal(store_load_jobs(s, &a, &n), 0);
        for (size_t i = 0; i < n; i++)
                job_record_done(&a[i]);
        free(a);
        return n;
}

static size_t count_attempts(Store *s, const char *job_id) {
        AttemptRecord *a = NULL;
        size_t n = 0;

        assert_int_equal(store_load_attempts(s, job_id, &a, &n), 0);
        for (size_t i = 0; i < n; i++)
                attempt_record_done(&a[i]);
        free(a);
        return n;
}

static void test_open_create_reopen(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        struct stat st;
        int v = -1;

        assert_int_equal(store_open(f->db, &s), 0);
        assert_non_null(s);

        assert_int_equal(stat(f->db, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);

        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);

        make_job(&j, "job-1");
        assert_int_equal(store_save_job(s, &j), 0);

        /* The WAL file SQLite creates next to it must not be readable
         * by others either. */
        _cleanup_free_ char *wal = strdup_printf("%s-wal", f->db);
        if (stat(wal, &st) == 0)
                assert_int_equal(st.st_mode & 077, 0);

        store_close(s);
        s = NULL;

        _cleanup_free_ char *mode = raw_query_text(f->db, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        _cleanup_free_ char *raw_version = raw_query_text(f->db, "SELECT version FROM schema_version");
        _cleanup_free_ char *expected_version = strdup_printf("%d", STORE_SCHEMA_VERSION);
        assert_non_null(expected_version);
        assert_string_equal(raw_version, expected_version);
        /* States are stored by name so the sqlite3 CLI is readable. */
        _cleanup_free_ char *raw_state = raw_query_text(f->db, "SELECT state FROM jobs WHERE id = 'job-1'");
        assert_string_equal(raw_state, "queued");

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(count_jobs(s), 1);
        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);
        assert_int_equal(stat(f->db, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        store_close(s);

        /* NULL is fine for close, as for free(). */
        store_close(NULL);
}

static void test_open_bad_inputs(void **state) {
        Fixture *f = *state;
        Store *s = NULL;

        assert_int_equal(store_open(NULL, &s), -EINVAL);
        assert_int_equal(store_open("", &s), -EINVAL);
        assert_int_equal(store_open(f->db, NULL), -EINVAL);
        assert_null(s);

        /* Missing directory. */
        _cleanup_free_ char *missing = strdup_printf("%s/no/such/dir/state.db", f->dir);
        assert_int_equal(store_open(missing, &s), -ENOENT);
        assert_null(s);
        assert_non_null(strstr(store_last_error(NULL), missing));

        /* A directory is not a database. */
        assert_true(store_open(f->dir, &s) < 0);
        assert_null(s);

        /* A planted symlink is refused, and its target left alone. */
        _cleanup_free_ char *target = strdup_printf("%s/target", f->dir);
        _cleanup_free_ char *link = strdup_printf("%s/link.db", f->dir);
        raw_exec(target, "CREATE TABLE t (x)");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(store_open(link, &s), -ELOOP);
        assert_null(s);
        assert_int_equal(raw_count(target, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'"), 0);

        /* Not a database at all. */
        _cleanup_free_ char *junk = strdup_printf("%s/junk.db", f->dir);
        FILE *fp = fopen(junk, "we");
        assert_non_null(fp);
        for (int i = 0; i < 1000; i++)
                fputs("this is not an SQLite database, just text\n", fp);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(store_open(junk, &s), -EBADMSG);
        assert_null(s);
        assert_true(strlen(store_last_error(NULL)) > 0);

        /* NULL stores. */
        int v;
        uint64_t u;
        JobRecord j;
        make_job(&j, "x");
        assert_int_equal(store_schema_version(NULL, &v), -EINVAL);
        assert_int_equal(store_begin(NULL), -EINVAL);
        assert_int_equal(store_commit(NULL), -EINVAL);
        store_rollback(NULL);
        assert_int_equal(store_save_job(NULL, &j), -EINVAL);
        assert_int_equal(store_next_job_number(NULL, &u), -EINVAL);
        assert_int_equal(store_delete_job(NULL, "x"), -EINVAL);
}

static void test_tightens_existing_mode(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        struct stat st;

        raw_exec(f->db, "CREATE TABLE unrelated (x)");
        assert_int_equal(chmod(f->db, 0644), 0);

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(stat(f->db, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        store_close(s);

        /* The unrelated table survived the migration. */
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM unrelated"), 0);
}

static void test_newer_schema(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        struct stat st;

        raw_exec(f->db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                        "INSERT INTO schema_version VALUES (999);");

        assert_int_equal(store_open(f->db, &s), -EPROTO);
        assert_null(s);
        assert_non_null(strstr(store_last_error(NULL), "999"));

        /* Nothing was touched: still version 999, no tables of ours. */
        assert_int_equal(raw_count(f->db, "SELECT version FROM schema_version"), 999);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'"), 0);
        assert_int_equal(stat(f->db, &st), 0);
}

/* A version 1 store (before attempts had units) is migrated in place and
 * keeps its rows. */
static void test_migrate_v1_attempts(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        AttemptRecord a = { .sheet = 1, .attempt = 1, .started_at = 5, .outcome = (char *) "completed" };
        AttemptRecord *attempts = NULL;
        size_t n = 0;
        int v = -1;

        assert_int_equal(store_open(f->db, &s), 0);
        make_job(&j, "old-1");
        assert_int_equal(store_save_job(s, &j), 0);
        assert_int_equal(store_save_attempt(s, "old-1", &a), 0);
        store_close(s);
        s = NULL;
        downgrade_to_v2(f->db);
        raw_exec(f->db, "ALTER TABLE attempts DROP COLUMN unit; UPDATE schema_version SET version = 1;");

        /* Both migrations run, one after the other. */
        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);
        assert_int_equal(store_load_attempts(s, "old-1", &attempts, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(attempts[0].outcome, "completed");
        assert_null(attempts[0].unit);
        attempt_record_done(&attempts[0]);
        free(attempts);

        a.attempt = 2;
        a.unit = (char *) "marianne-old-1.sheet-1.attempt-2.service";
        assert_int_equal(store_save_attempt(s, "old-1", &a), 0);
        assert_int_equal(store_load_attempts(s, "old-1", &attempts, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(attempts[1].unit, a.unit);
        for (size_t i = 0; i < n; i++)
                attempt_record_done(&attempts[i]);
        free(attempts);
        store_close(s);
}

/* A version 2 store (before instruments, tokens, cost and job chains) is
 * migrated in place: its rows stay as they were, the new fields read as
 * their defaults, and they can be written from then on. */
static void test_migrate_v2_instruments(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j, *jobs = NULL;
        SheetRecord r[2], *sheets = NULL;
        AttemptRecord a = {
                .sheet = 1, .attempt = 1, .started_at = 5, .finished_at = 6,
                .outcome = (char *) "completed",
                .unit = (char *) "marianne-old-2.sheet-1.attempt-1.service",
        };
        AttemptRecord *attempts = NULL;
        size_t n = 0;
        int v = -1;

        assert_int_equal(store_open(f->db, &s), 0);
        make_job(&j, "old-2");
        j.state = JOB_COMPLETED;
        j.total_sheets = 2;
        make_sheet(&r[0], 1);
        r[0].state = SHEET_COMPLETED;
        r[0].attempt_count = 1;
        r[0].has_exit_code = true;
        r[0].validation_passed = 1;
        r[0].validation_details = (char *) "[]";
        r[0].pass_percentage = 100.0;
        r[0].execution_mode = (char *) "cgroup";
        make_sheet(&r[1], 2);
        assert_int_equal(store_insert_job(s, &j, r, 2), 0);
        assert_int_equal(store_save_attempt(s, "old-2", &a), 0);
        store_close(s);
        s = NULL;

        downgrade_to_v2(f->db);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM pragma_table_info('sheets') "
                                          "WHERE name IN ('instrument', 'input_tokens', 'cost_usd')"), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM pragma_table_info('jobs') "
                                          "WHERE name = 'parent_job'"), 0);

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);

        assert_int_equal(store_load_jobs(s, &jobs, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].id, "old-2");
        assert_int_equal(jobs[0].state, JOB_COMPLETED);
        assert_string_equal(jobs[0].score_yaml, j.score_yaml);
        assert_null(jobs[0].parent_job);
        assert_int_equal(jobs[0].chain_depth, 0);
        job_record_done(&jobs[0]);
        free(jobs);

        assert_int_equal(store_load_sheets(s, "old-2", &sheets, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(sheets[0].state, SHEET_COMPLETED);
        assert_int_equal(sheets[0].attempt_count, 1);
        assert_true(sheets[0].has_exit_code);
        assert_int_equal(sheets[0].validation_passed, 1);
        assert_string_equal(sheets[0].validation_details, "[]");
        assert_string_equal(sheets[0].execution_mode, "cgroup");
        for (size_t i = 0; i < n; i++) {
                assert_null(sheets[i].instrument);
                assert_int_equal(sheets[i].instrument_index, 0);
                assert_false(sheets[i].has_tokens);
                assert_true(sheets[i].input_tokens == 0 && sheets[i].output_tokens == 0);
                assert_false(sheets[i].has_cost);
                assert_true(sheets[i].cost_usd == 0);
                assert_int_equal(sheets[i].completion_attempts, 0);
                assert_int_equal(sheets[i].rate_limit_waits, 0);
                sheet_record_done(&sheets[i]);
        }
        free(sheets);

        assert_int_equal(store_load_attempts(s, "old-2", &attempts, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(attempts[0].outcome, "completed");
        assert_string_equal(attempts[0].unit, a.unit);
        assert_null(attempts[0].instrument);
        assert_null(attempts[0].kind);
        attempt_record_done(&attempts[0]);
        free(attempts);

        /* The counters the migration added are 0, not NULL, in the file. */
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sheets WHERE job_id = 'old-2' AND "
                                          "instrument_index = 0 AND completion_attempts = 0 AND "
                                          "rate_limit_waits = 0 AND input_tokens IS NULL AND "
                                          "cost_usd IS NULL"), 2);
        assert_int_equal(raw_count(f->db, "SELECT chain_depth FROM jobs WHERE id = 'old-2'"), 0);

        /* The new fields are written on the migrated rows. */
        r[1].state = SHEET_IN_PROGRESS;
        r[1].instrument = (char *) "claude";
        r[1].instrument_index = 1;
        r[1].has_tokens = true;
        r[1].input_tokens = 1234;
        r[1].output_tokens = 567;
        r[1].has_cost = true;
        r[1].cost_usd = 0.0123;
        r[1].completion_attempts = 2;
        r[1].rate_limit_waits = 1;
        assert_int_equal(store_save_sheet(s, "old-2", &r[1]), 0);
        a.attempt = 2;
        a.instrument = (char *) "claude";
        a.kind = (char *) "fallback";
        assert_int_equal(store_save_attempt(s, "old-2", &a), 0);
        j.parent_job = (char *) "parent-1";
        j.chain_depth = 1;
        assert_int_equal(store_save_job(s, &j), 0);
        store_close(s);
        s = NULL;

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_load_sheets(s, "old-2", &sheets, &n), 0);
        assert_int_equal(n, 2);
        assert_null(sheets[0].instrument);
        assert_string_equal(sheets[1].instrument, "claude");
        assert_int_equal(sheets[1].instrument_index, 1);
        assert_true(sheets[1].has_tokens);
        assert_true(sheets[1].input_tokens == 1234 && sheets[1].output_tokens == 567);
        assert_true(sheets[1].has_cost);
        assert_true(sheets[1].cost_usd == 0.0123);
        assert_int_equal(sheets[1].completion_attempts, 2);
        assert_int_equal(sheets[1].rate_limit_waits, 1);
        for (size_t i = 0; i < n; i++)
                sheet_record_done(&sheets[i]);
        free(sheets);
        assert_int_equal(store_load_attempts(s, "old-2", &attempts, &n), 0);
        assert_int_equal(n, 2);
        assert_null(attempts[0].kind);
        assert_string_equal(attempts[1].instrument, "claude");
        assert_string_equal(attempts[1].kind, "fallback");
        for (size_t i = 0; i < n; i++)
                attempt_record_done(&attempts[i]);
        free(attempts);
        assert_int_equal(store_load_jobs(s, &jobs, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].parent_job, "parent-1");
        assert_int_equal(jobs[0].chain_depth, 1);
        job_record_done(&jobs[0]);
        free(jobs);
        store_close(s);
}

static void test_damaged_schema_version(void **state) {
        Fixture *f = *state;
        Store *s = NULL;

        raw_exec(f->db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                        "INSERT INTO schema_version VALUES (0);"
                        "INSERT INTO schema_version VALUES (1);");
        assert_int_equal(store_open(f->db, &s), -EBADMSG);
        assert_null(s);
        assert_non_null(strstr(store_last_error(NULL), "schema_version"));
}

static void test_migrate_from_empty_file(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        int v = -1;
        uint64_t n = 0;

        /* A zero-byte file is an empty (v0) database. */
        int fd = open(f->db, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(close(fd), 0);

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);
        assert_int_equal(store_next_job_number(s, &n), 0);
        assert_int_equal(n, 1);
        store_close(s);
}

static void test_migrate_from_v0_stamp(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        int v = -1;

        /* A database that already has the version table at 0 (e.g. a
         * previous run that died before the first migration committed). */
        raw_exec(f->db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                        "INSERT INTO schema_version VALUES (0);");

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_schema_version(s, &v), 0);
        assert_int_equal(v, STORE_SCHEMA_VERSION);
        assert_int_equal(count_jobs(s), 0);
        store_close(s);

        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM schema_version"), 1);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                          "('jobs', 'sheets', 'attempts', 'counters')"), 4);
}

static void test_round_trip(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j = {
                .id = (char *) "rt-1",
                .name = (char *) "round trip ✓",
                .score_path = NULL,
                .score_yaml = (char *) "name: rt\n'quotes' and \"double\" ; DROP TABLE jobs; --\n",
                .base_dir = (char *) "/home/u",
                .workspace = (char *) "/home/u/ws",
                .state = JOB_PAUSED,
                .owner_uid = UINT32_MAX - 1,
                .owner_gid = 4294967295U,
                .self_healing = true,
                .start_sheet = 7,
                .total_sheets = 4000000000U,
                .created_at = 1,
                .started_at = (usec_t) INT64_MAX,
                .finished_at = USEC_INFINITY,
                .error = NULL,
                .parent_job = (char *) "upstream-7",
                .chain_depth = UINT_MAX,
        };
        JobRecord j2 = {
                .id = (char *) "rt-2",
                .state = JOB_FAILED,
                .error = (char *) "boom",
        };
        SheetRecord r1 = {
                .num = 1,
                .state = SHEET_FAILED,
                .attempt_count = 3,
                .started_at = 1700000000123456ULL,
                .completed_at = 1700000009999999ULL,
                .next_retry_at = USEC_INFINITY - 5,
                .has_exit_code = true,
                .exit_code = -2,
                .exit_signal = 9,
                .exit_reason = (char *) "signaled",
                .error_message = (char *) "killed\nby signal",
                .error_category = (char *) "signal",
                .validation_passed = 0,
                .validation_details = (char *) "[{\"ok\":false}]",
                .passed_validations = 2,
                .failed_validations = 1,
                .pass_percentage = 66.5,
                .duration_seconds = 12.25,
                .stdout_tail = (char *) "out",
                .stderr_tail = (char *) "",
                .output_truncated = true,
                .execution_mode = (char *) "cgroup",
                .instrument = (char *) "claude-opus ✓",
                .instrument_index = 2,
                .has_tokens = true,
                .input_tokens = UINT64_MAX,     /* wraps through int64 and back */
                .output_tokens = (uint64_t) INT64_MAX + 1,
                .has_cost = true,
                .cost_usd = 1234.56789,
                .completion_attempts = 4,
                .rate_limit_waits = UINT_MAX,
        };
        SheetRecord r2 = {
                .num = 2,
                .state = SHEET_WAITING,
                .next_retry_at = 1700000000000042ULL,   /* the wake-up of a waiting sheet */
                .has_exit_code = true,
                .exit_code = 0,         /* a real 0, distinct from "none" */
                .validation_passed = 1,
                .instrument = (char *) "",
                .has_tokens = true,     /* real zeros, distinct from "not reported" */
                .has_cost = true,
        };
        SheetRecord r3 = {
                .num = 3,
                .state = SHEET_PENDING,
                .has_exit_code = false,
                .validation_passed = -1,
        };
        AttemptRecord a1 = {
                .sheet = 1,
                .attempt = 1,
                .started_at = 5,
                .finished_at = 6,
                .pid = 4194304,
                .pid_starttime = UINT64_MAX,
                .cgroup = (char *) "/sys/fs/cgroup/marianne/rt-1/1-1",
                .has_exit_code = true,
                .exit_code = -1,
                .exit_signal = 0,
                .outcome = (char *) "failed",
                .log_dir = (char *) "/var/log/x",
                .unit = (char *) "marianne-rt-1.sheet-1.attempt-1.service",
                .instrument = (char *) "gemini",
                .kind = (char *) "rate-limit",
        };
        AttemptRecord a2 = {
                .sheet = 1,
                .attempt = 2,
                .started_at = 7,
                .pid = 0,
        };
        JobRecord *jobs = NULL;
        SheetRecord *sheets = NULL;
        AttemptRecord *attempts = NULL;
        size_t n = 0;

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_save_job(s, &j), 0);
        assert_int_equal(store_save_job(s, &j2), 0);
        /* Out of order on purpose: loads sort by num and by (sheet, attempt). */
        assert_int_equal(store_save_sheet(s, "rt-1", &r3), 0);
        assert_int_equal(store_save_sheet(s, "rt-1", &r1), 0);
        assert_int_equal(store_save_sheet(s, "rt-1", &r2), 0);
        assert_int_equal(store_save_attempt(s, "rt-1", &a2), 0);
        assert_int_equal(store_save_attempt(s, "rt-1", &a1), 0);
        store_close(s);
        s = NULL;

        assert_int_equal(store_open(f->db, &s), 0);

        assert_int_equal(store_load_jobs(s, &jobs, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(jobs[0].id, "rt-1");
        assert_string_equal(jobs[0].name, j.name);
        assert_null(jobs[0].score_path);
        assert_string_equal(jobs[0].score_yaml, j.score_yaml);
        assert_string_equal(jobs[0].base_dir, j.base_dir);
        assert_string_equal(jobs[0].workspace, j.workspace);
        assert_int_equal(jobs[0].state, JOB_PAUSED);
        assert_int_equal(jobs[0].owner_uid, j.owner_uid);
        assert_int_equal(jobs[0].owner_gid, j.owner_gid);
        assert_true(jobs[0].self_healing);
        assert_int_equal(jobs[0].start_sheet, 7);
        assert_int_equal(jobs[0].total_sheets, 4000000000U);
        assert_true(jobs[0].created_at == 1);
        assert_true(jobs[0].started_at == (usec_t) INT64_MAX);
        assert_true(jobs[0].finished_at == USEC_INFINITY);
        assert_null(jobs[0].error);
        assert_string_equal(jobs[0].parent_job, "upstream-7");
        assert_int_equal(jobs[0].chain_depth, UINT_MAX);

        assert_string_equal(jobs[1].id, "rt-2");
        assert_null(jobs[1].name);
        assert_null(jobs[1].score_yaml);
        assert_null(jobs[1].workspace);
        assert_int_equal(jobs[1].state, JOB_FAILED);
        assert_false(jobs[1].self_healing);
        assert_true(jobs[1].created_at == 0);
        assert_string_equal(jobs[1].error, "boom");
        assert_null(jobs[1].parent_job);
        assert_int_equal(jobs[1].chain_depth, 0);
        for (size_t i = 0; i < n; i++)
                job_record_done(&jobs[i]);
        free(jobs);

        assert_int_equal(store_load_sheets(s, "rt-1", &sheets, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(sheets[0].num, 1);
        assert_int_equal(sheets[0].state, SHEET_FAILED);
        assert_int_equal(sheets[0].attempt_count, 3);
        assert_true(sheets[0].started_at == r1.started_at);
        assert_true(sheets[0].completed_at == r1.completed_at);
        assert_true(sheets[0].next_retry_at == r1.next_retry_at);
        assert_true(sheets[0].has_exit_code);
        assert_int_equal(sheets[0].exit_code, -2);
        assert_int_equal(sheets[0].exit_signal, 9);
        assert_string_equal(sheets[0].exit_reason, "signaled");
        assert_string_equal(sheets[0].error_message, "killed\nby signal");
        assert_string_equal(sheets[0].error_category, "signal");
        assert_int_equal(sheets[0].validation_passed, 0);
        assert_string_equal(sheets[0].validation_details, r1.validation_details);
        assert_int_equal(sheets[0].passed_validations, 2);
        assert_int_equal(sheets[0].failed_validations, 1);
        assert_true(sheets[0].pass_percentage == 66.5);
        assert_true(sheets[0].duration_seconds == 12.25);
        assert_string_equal(sheets[0].stdout_tail, "out");
        assert_string_equal(sheets[0].stderr_tail, "");       /* empty, not NULL */
        assert_true(sheets[0].output_truncated);
        assert_string_equal(sheets[0].execution_mode, "cgroup");
        assert_string_equal(sheets[0].instrument, r1.instrument);
        assert_int_equal(sheets[0].instrument_index, 2);
        assert_true(sheets[0].has_tokens);
        assert_true(sheets[0].input_tokens == UINT64_MAX);
        assert_true(sheets[0].output_tokens == (uint64_t) INT64_MAX + 1);
        assert_true(sheets[0].has_cost);
        assert_true(sheets[0].cost_usd == 1234.56789);
        assert_int_equal(sheets[0].completion_attempts, 4);
        assert_int_equal(sheets[0].rate_limit_waits, UINT_MAX);

        assert_int_equal(sheets[1].num, 2);
        assert_int_equal(sheets[1].state, SHEET_WAITING);
        assert_true(sheets[1].next_retry_at == r2.next_retry_at);
        assert_true(sheets[1].has_exit_code);
        assert_int_equal(sheets[1].exit_code, 0);
        assert_int_equal(sheets[1].validation_passed, 1);
        assert_null(sheets[1].exit_reason);
        assert_null(sheets[1].stdout_tail);
        assert_false(sheets[1].output_truncated);
        assert_string_equal(sheets[1].instrument, "");         /* empty, not NULL */
        assert_int_equal(sheets[1].instrument_index, 0);
        assert_true(sheets[1].has_tokens);
        assert_true(sheets[1].input_tokens == 0 && sheets[1].output_tokens == 0);
        assert_true(sheets[1].has_cost);
        assert_true(sheets[1].cost_usd == 0);

        assert_int_equal(sheets[2].num, 3);
        assert_int_equal(sheets[2].state, SHEET_PENDING);
        assert_false(sheets[2].has_exit_code);
        assert_int_equal(sheets[2].validation_passed, -1);
        assert_true(sheets[2].started_at == 0);
        assert_null(sheets[2].execution_mode);
        assert_null(sheets[2].instrument);
        assert_false(sheets[2].has_tokens);
        assert_false(sheets[2].has_cost);
        assert_int_equal(sheets[2].completion_attempts, 0);
        assert_int_equal(sheets[2].rate_limit_waits, 0);
        for (size_t i = 0; i < n; i++)
                sheet_record_done(&sheets[i]);
        free(sheets);

        assert_int_equal(store_load_attempts(s, "rt-1", &attempts, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(attempts[0].sheet, 1);
        assert_int_equal(attempts[0].attempt, 1);
        assert_true(attempts[0].started_at == 5);
        assert_true(attempts[0].finished_at == 6);
        assert_true(attempts[0].pid == 4194304);
        assert_true(attempts[0].pid_starttime == UINT64_MAX);
        assert_string_equal(attempts[0].cgroup, a1.cgroup);
        assert_true(attempts[0].has_exit_code);
        assert_int_equal(attempts[0].exit_code, -1);
        assert_int_equal(attempts[0].exit_signal, 0);
        assert_string_equal(attempts[0].outcome, "failed");
        assert_string_equal(attempts[0].log_dir, "/var/log/x");
        assert_string_equal(attempts[0].unit, a1.unit);
        assert_string_equal(attempts[0].instrument, "gemini");
        assert_string_equal(attempts[0].kind, "rate-limit");

        assert_int_equal(attempts[1].attempt, 2);
        assert_true(attempts[1].finished_at == 0);
        assert_false(attempts[1].has_exit_code);
        assert_null(attempts[1].outcome);
        assert_null(attempts[1].cgroup);
        assert_null(attempts[1].log_dir);
        assert_null(attempts[1].unit);
        assert_null(attempts[1].instrument);
        assert_null(attempts[1].kind);
        for (size_t i = 0; i < n; i++)
                attempt_record_done(&attempts[i]);
        free(attempts);

        /* A job with nothing under it loads as empty arrays. */
        assert_int_equal(store_load_sheets(s, "rt-2", &sheets, &n), 0);
        assert_int_equal(n, 0);
        free(sheets);
        assert_int_equal(store_load_attempts(s, "no-such-job", &attempts, &n), 0);
        assert_int_equal(n, 0);
        free(attempts);

        /* record_done is safe twice and on zeroed records. */
        JobRecord empty = {};
        job_record_done(&empty);
        job_record_done(NULL);
        sheet_record_done(NULL);
        attempt_record_done(NULL);

        store_close(s);
}

static void test_save_bad_inputs(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        SheetRecord r;
        AttemptRecord a = { .sheet = 1, .attempt = 1 };
        JobRecord *jobs = NULL;
        size_t n;

        assert_int_equal(store_open(f->db, &s), 0);
        make_job(&j, "bad");
        make_sheet(&r, 1);

        assert_int_equal(store_save_job(s, NULL), -EINVAL);
        j.id = NULL;
        assert_int_equal(store_save_job(s, &j), -EINVAL);
        j.id = (char *) "";
        assert_int_equal(store_save_job(s, &j), -EINVAL);
        j.id = (char *) "bad";
        j.state = _JOB_STATE_INVALID;
        assert_int_equal(store_save_job(s, &j), -EINVAL);
        j.state = _JOB_STATE_MAX;
        assert_int_equal(store_save_job(s, &j), -EINVAL);
        assert_non_null(strstr(store_last_error(s), "invalid state"));
        assert_int_equal(count_jobs(s), 0);
        j.state = JOB_RUNNING;

        assert_int_equal(store_save_sheet(s, NULL, &r), -EINVAL);
        assert_int_equal(store_save_sheet(s, "", &r), -EINVAL);
        assert_int_equal(store_save_sheet(s, "bad", NULL), -EINVAL);
        assert_int_equal(store_save_attempt(s, NULL, &a), -EINVAL);
        assert_int_equal(store_save_attempt(s, "bad", NULL), -EINVAL);

        /* Rows of a job that does not exist break the foreign key. */
        assert_int_equal(store_save_sheet(s, "no-such-job", &r), -EEXIST);
        assert_non_null(strstr(store_last_error(s), "FOREIGN KEY"));
        assert_int_equal(store_save_attempt(s, "no-such-job", &a), -EEXIST);

        assert_int_equal(store_save_job(s, &j), 0);
        r.state = (SheetState) 42;
        assert_int_equal(store_save_sheet(s, "bad", &r), -EINVAL);
        assert_int_equal(count_sheets(s, "bad"), 0);
        /* The statement is reusable after a failed bind. */
        r.state = SHEET_READY;
        assert_int_equal(store_save_sheet(s, "bad", &r), 0);
        assert_int_equal(count_sheets(s, "bad"), 1);

        assert_int_equal(store_load_jobs(s, NULL, &n), -EINVAL);
        assert_int_equal(store_load_jobs(s, &jobs, NULL), -EINVAL);
        assert_int_equal(store_load_sheets(s, NULL, (SheetRecord **) &jobs, &n), -EINVAL);
        assert_int_equal(store_load_attempts(s, "", (AttemptRecord **) &jobs, &n), -EINVAL);
        assert_int_equal(store_delete_job(s, NULL), -EINVAL);
        assert_int_equal(store_delete_job(s, ""), -EINVAL);
        assert_int_equal(store_insert_job(s, NULL, NULL, 0), -EINVAL);
        assert_int_equal(store_insert_job(s, &j, NULL, 3), -EINVAL);
        assert_int_equal(store_next_job_number(s, NULL), -EINVAL);
        assert_int_equal(store_schema_version(s, NULL), -EINVAL);

        store_close(s);
}

static void test_unknown_state_in_db(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j, *jobs = NULL;
        SheetRecord r, *sheets = NULL;
        size_t n = 99;

        assert_int_equal(store_open(f->db, &s), 0);
        make_job(&j, "odd");
        make_sheet(&r, 1);
        assert_int_equal(store_insert_job(s, &j, &r, 1), 0);
        store_close(s);

        raw_exec(f->db, "UPDATE jobs SET state = 'exploded'; UPDATE sheets SET state = 'gone';");

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_load_jobs(s, &jobs, &n), -EBADMSG);
        assert_null(jobs);
        assert_int_equal(n, 99);
        assert_non_null(strstr(store_last_error(s), "exploded"));
        assert_int_equal(store_load_sheets(s, "odd", &sheets, &n), -EBADMSG);
        assert_null(sheets);
        assert_non_null(strstr(store_last_error(s), "gone"));
        store_close(s);
}

static void test_upsert_keeps_sheets(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j, *jobs = NULL;
        SheetRecord r[3], *sheets = NULL;
        AttemptRecord a = { .sheet = 2, .attempt = 1, .pid = 123 };
        size_t n;

        assert_int_equal(store_open(f->db, &s), 0);

        make_job(&j, "first");
        assert_int_equal(store_save_job(s, &j), 0);
        make_job(&j, "up");
        for (unsigned i = 0; i < 3; i++)
                make_sheet(&r[i], i + 1);
        assert_int_equal(store_insert_job(s, &j, r, 3), 0);
        assert_int_equal(store_save_attempt(s, "up", &a), 0);
        make_job(&j, "last");
        assert_int_equal(store_save_job(s, &j), 0);

        /* Saving the job again (a state change) must not cascade-delete. */
        make_job(&j, "up");
        j.state = JOB_RUNNING;
        j.name = (char *) "renamed";
        j.error = (char *) "transient";
        assert_int_equal(store_save_job(s, &j), 0);
        assert_int_equal(count_sheets(s, "up"), 3);
        assert_int_equal(count_attempts(s, "up"), 1);

        /* ... nor move the job in creation order. */
        assert_int_equal(store_load_jobs(s, &jobs, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(jobs[0].id, "first");
        assert_string_equal(jobs[1].id, "up");
        assert_string_equal(jobs[2].id, "last");
        assert_int_equal(jobs[1].state, JOB_RUNNING);
        assert_string_equal(jobs[1].name, "renamed");
        assert_string_equal(jobs[1].error, "transient");
        for (size_t i = 0; i < n; i++)
                job_record_done(&jobs[i]);
        free(jobs);

        /* Clearing a string goes back to NULL. */
        j.error = NULL;
        assert_int_equal(store_save_job(s, &j), 0);
        _cleanup_free_ char *err = raw_query_text(f->db, "SELECT error FROM jobs WHERE id = 'up'");
        assert_null(err);

        /* Upsert of a sheet replaces its row, not adds one. */
        r[1].state = SHEET_COMPLETED;
        r[1].has_exit_code = true;
        r[1].stdout_tail = (char *) "done";
        assert_int_equal(store_save_sheet(s, "up", &r[1]), 0);
        r[1].has_tokens = true;
        r[1].input_tokens = 10;
        r[1].has_cost = true;
        r[1].cost_usd = 0.5;
        r[1].instrument = (char *) "codex";
        assert_int_equal(store_save_sheet(s, "up", &r[1]), 0);
        r[1].state = SHEET_COMPLETED;
        r[1].has_exit_code = false;
        r[1].stdout_tail = NULL;
        r[1].has_tokens = false;        /* stored as NULL again, whatever the counts */
        r[1].has_cost = false;
        r[1].instrument = NULL;
        assert_int_equal(store_save_sheet(s, "up", &r[1]), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sheets WHERE job_id = 'up' AND num = 2 AND "
                                          "input_tokens IS NULL AND output_tokens IS NULL AND "
                                          "cost_usd IS NULL AND instrument IS NULL"), 1);
        assert_int_equal(store_load_sheets(s, "up", &sheets, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(sheets[1].state, SHEET_COMPLETED);
        assert_false(sheets[1].has_exit_code);
        assert_null(sheets[1].stdout_tail);
        assert_false(sheets[1].has_tokens);
        assert_true(sheets[1].input_tokens == 0);
        assert_false(sheets[1].has_cost);
        assert_null(sheets[1].instrument);
        for (size_t i = 0; i < n; i++)
                sheet_record_done(&sheets[i]);
        free(sheets);

        /* And an attempt likewise. */
        a.outcome = (char *) "completed";
        assert_int_equal(store_save_attempt(s, "up", &a), 0);
        assert_int_equal(count_attempts(s, "up"), 1);

        store_close(s);
}

static void test_insert_job_atomic(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        SheetRecord r[4];

        assert_int_equal(store_open(f->db, &s), 0);

        make_job(&j, "dup");
        make_sheet(&r[0], 1);
        make_sheet(&r[1], 2);
        make_sheet(&r[2], 2);   /* duplicate */
        make_sheet(&r[3], 3);
        assert_int_equal(store_insert_job(s, &j, r, 4), -EEXIST);
        assert_true(strlen(store_last_error(s)) > 0);
        assert_int_equal(count_jobs(s), 0);
        assert_int_equal(count_sheets(s, "dup"), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sheets"), 0);

        /* A bad state half way also leaves nothing behind. */
        r[2].num = 4;
        r[3].state = _SHEET_STATE_INVALID;
        assert_int_equal(store_insert_job(s, &j, r, 4), -EINVAL);
        assert_int_equal(count_jobs(s), 0);

        /* The store is usable afterwards and no transaction is stuck. */
        r[3].state = SHEET_READY;
        assert_int_equal(store_insert_job(s, &j, r, 4), 0);
        assert_int_equal(count_jobs(s), 1);
        assert_int_equal(count_sheets(s, "dup"), 4);

        /* Inserting the same job again is refused and changes nothing. */
        j.name = (char *) "other";
        assert_int_equal(store_insert_job(s, &j, r, 1), -EEXIST);
        _cleanup_free_ char *name = raw_query_text(f->db, "SELECT name FROM jobs WHERE id = 'dup'");
        assert_string_equal(name, "a job");
        assert_int_equal(count_sheets(s, "dup"), 4);

        /* Zero sheets is allowed. */
        make_job(&j, "empty");
        assert_int_equal(store_insert_job(s, &j, NULL, 0), 0);
        assert_int_equal(count_jobs(s), 2);

        store_close(s);
}

static void test_transactions(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        SheetRecord r;
        uint64_t num;

        assert_int_equal(store_open(f->db, &s), 0);

        /* Commit without begin is a caller bug. */
        assert_int_equal(store_commit(s), -EINVAL);
        store_rollback(s);      /* harmless no-op */

        /* begin/commit */
        make_job(&j, "t1");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_save_job(s, &j), 0);
        make_sheet(&r, 1);
        assert_int_equal(store_save_sheet(s, "t1", &r), 0);
        /* Not visible to another connection until committed. */
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs"), 0);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs"), 1);

        /* begin/rollback */
        make_job(&j, "t2");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_save_job(s, &j), 0);
        assert_int_equal(store_delete_job(s, "t1"), 0);
        assert_int_equal(count_jobs(s), 1);
        store_rollback(s);
        assert_int_equal(count_jobs(s), 1);
        assert_int_equal(count_sheets(s, "t1"), 1);
        assert_int_equal(store_delete_job(s, "t2"), -ENOENT);

        /* Nesting: only the outermost commit writes. insert_job and
         * next_job_number join the outer transaction. */
        make_job(&j, "t3");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_job(s, &j, &r, 1), 0);
        assert_int_equal(store_next_job_number(s, &num), 0);
        assert_int_equal(num, 1);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs WHERE id = 't3'"), 0);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs WHERE id = 't3'"), 1);
        assert_int_equal(store_commit(s), -EINVAL);

        /* Nested rollback aborts the whole transaction: later writes at the
         * outer level are refused instead of silently autocommitting, and
         * the outer commit reports it. */
        make_job(&j, "t4");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_save_job(s, &j), 0);
        assert_int_equal(store_begin(s), 0);
        store_rollback(s);
        make_job(&j, "t5");
        assert_int_equal(store_save_job(s, &j), -ECANCELED);
        assert_int_equal(store_save_sheet(s, "t1", &r), -ECANCELED);
        assert_int_equal(store_next_job_number(s, &num), -ECANCELED);
        assert_int_equal(store_delete_job(s, "t1"), -ECANCELED);
        assert_int_equal(store_commit(s), -ECANCELED);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs WHERE id IN ('t4', 't5')"), 0);

        /* A failed insert_job inside an outer transaction aborts it too. */
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_insert_job(s, &j, NULL, 0), 0);
        make_job(&j, "t1");
        assert_int_equal(store_insert_job(s, &j, NULL, 0), -EEXIST);
        assert_int_equal(store_commit(s), -ECANCELED);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs WHERE id = 't5'"), 0);

        /* Back to normal. */
        assert_int_equal(store_next_job_number(s, &num), 0);
        assert_int_equal(num, 2);
        assert_int_equal(count_jobs(s), 2);

        /* Closing with an open transaction discards it. */
        make_job(&j, "t6");
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_save_job(s, &j), 0);
        store_close(s);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM jobs WHERE id = 't6'"), 0);
}

static void test_delete_cascades(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        SheetRecord r[2];
        AttemptRecord a = { .sheet = 1, .attempt = 1 };

        assert_int_equal(store_open(f->db, &s), 0);
        make_sheet(&r[0], 1);
        make_sheet(&r[1], 2);

        make_job(&j, "keep");
        assert_int_equal(store_insert_job(s, &j, r, 2), 0);
        assert_int_equal(store_save_attempt(s, "keep", &a), 0);
        make_job(&j, "gone");
        assert_int_equal(store_insert_job(s, &j, r, 2), 0);
        assert_int_equal(store_save_attempt(s, "gone", &a), 0);
        a.attempt = 2;
        assert_int_equal(store_save_attempt(s, "gone", &a), 0);

        assert_int_equal(store_delete_job(s, "gone"), 0);
        assert_int_equal(count_jobs(s), 1);
        assert_int_equal(count_sheets(s, "gone"), 0);
        assert_int_equal(count_attempts(s, "gone"), 0);
        assert_int_equal(count_sheets(s, "keep"), 2);
        assert_int_equal(count_attempts(s, "keep"), 1);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sheets"), 2);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM attempts"), 1);

        assert_int_equal(store_delete_job(s, "gone"), -ENOENT);
        assert_non_null(strstr(store_last_error(s), "gone"));
        assert_int_equal(store_delete_job(s, "never-was"), -ENOENT);
        assert_int_equal(store_delete_job(s, "keep"), 0);
        assert_int_equal(count_jobs(s), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM sheets"), 0);
        assert_int_equal(raw_count(f->db, "SELECT COUNT(*) FROM attempts"), 0);

        store_close(s);
}

static void test_next_job_number(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        uint64_t n = 0;

        assert_int_equal(store_open(f->db, &s), 0);
        for (uint64_t i = 1; i <= 5; i++) {
                assert_int_equal(store_next_job_number(s, &n), 0);
                assert_true(n == i);
        }
        store_close(s);

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_next_job_number(s, &n), 0);
        assert_true(n == 6);
        store_close(s);

        /* A missing counter row is damage, not a reason to restart at 1. */
        raw_exec(f->db, "DELETE FROM counters");
        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_next_job_number(s, &n), -EBADMSG);
        assert_non_null(strstr(store_last_error(s), "job_number"));
        store_close(s);
}

static Store *crash_store = NULL;

static void test_crash_reload(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord *jobs = NULL;
        SheetRecord *sheets = NULL;
        size_t n;
        uint64_t num;
        pid_t pid;
        int status;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                JobRecord j;
                SheetRecord r[3];

                /* The child gets its own connection: SQLite handles do not
                 * survive fork(). */
                if (store_open(f->db, &crash_store) < 0)
                        _exit(10);
                make_job(&j, "crash");
                for (unsigned i = 0; i < 3; i++)
                        make_sheet(&r[i], i + 1);
                if (store_insert_job(crash_store, &j, r, 3) < 0)
                        _exit(11);
                r[0].state = SHEET_COMPLETED;
                if (store_save_sheet(crash_store, "crash", &r[0]) < 0)
                        _exit(12);
                r[1].state = SHEET_IN_PROGRESS;
                if (store_save_sheet(crash_store, "crash", &r[1]) < 0)
                        _exit(13);
                j.state = JOB_RUNNING;
                if (store_save_job(crash_store, &j) < 0)
                        _exit(14);
                if (store_next_job_number(crash_store, &num) < 0)
                        _exit(15);
                /* A transaction still open at the crash must vanish. */
                if (store_begin(crash_store) < 0)
                        _exit(16);
                r[2].state = SHEET_COMPLETED;
                if (store_save_sheet(crash_store, "crash", &r[2]) < 0)
                        _exit(17);
                /* No close, no checkpoint, no atexit: die the hard way.
                 * SIGKILL rather than _exit(0) also keeps valgrind from
                 * reporting the deliberately abandoned handle as a leak. */
                (void) raise(SIGKILL);
                _exit(18);
        }

        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status))
                fail_msg("writer child failed at step %d", WEXITSTATUS(status));
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        assert_int_equal(store_open(f->db, &s), 0);
        assert_int_equal(store_load_jobs(s, &jobs, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(jobs[0].id, "crash");
        assert_int_equal(jobs[0].state, JOB_RUNNING);
        job_record_done(&jobs[0]);
        free(jobs);

        assert_int_equal(store_load_sheets(s, "crash", &sheets, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(sheets[0].state, SHEET_COMPLETED);
        assert_int_equal(sheets[1].state, SHEET_IN_PROGRESS);
        assert_int_equal(sheets[2].state, SHEET_PENDING);
        for (size_t i = 0; i < n; i++)
                sheet_record_done(&sheets[i]);
        free(sheets);

        assert_int_equal(store_next_job_number(s, &num), 0);
        assert_true(num == 2);
        store_close(s);
}

static void test_many_sheets(void **state) {
        Fixture *f = *state;
        Store *s = NULL;
        JobRecord j;
        SheetRecord *r, *loaded = NULL;
        size_t n;
        const unsigned N = 1000;

        r = calloc(N, sizeof(SheetRecord));
        assert_non_null(r);
        for (unsigned i = 0; i < N; i++)
                make_sheet(&r[i], i + 1);

        assert_int_equal(store_open(f->db, &s), 0);
        make_job(&j, "big");
        j.total_sheets = N;
        assert_int_equal(store_insert_job(s, &j, r, N), 0);

        /* Three more saves per sheet, each its own transaction, as a run
         * of the job would do: ready, in_progress, completed. */
        static const SheetState steps[] = { SHEET_READY, SHEET_IN_PROGRESS, SHEET_COMPLETED };
        for (size_t k = 0; k < ELEMENTSOF(steps); k++)
                for (unsigned i = 0; i < N; i++) {
                        r[i].state = steps[k];
                        r[i].stdout_tail = (char *) "some output";
                        assert_int_equal(store_save_sheet(s, "big", &r[i]), 0);
                }

        assert_int_equal(store_load_sheets(s, "big", &loaded, &n), 0);
        assert_int_equal(n, N);
        for (unsigned i = 0; i < N; i++) {
                assert_int_equal(loaded[i].num, i + 1);
                assert_int_equal(loaded[i].state, SHEET_COMPLETED);
                sheet_record_done(&loaded[i]);
        }
        free(loaded);
        free(r);
        store_close(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_create_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_bad_inputs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tightens_existing_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_v1_attempts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_v2_instruments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_damaged_schema_version, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_from_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_from_v0_stamp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_bad_inputs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_state_in_db, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upsert_keeps_sheets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_insert_job_atomic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_cascades, setup, teardown),
                cmocka_unit_test_setup_teardown(test_next_job_number, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crash_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_sheets, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

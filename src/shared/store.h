/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The persistent store: SQLite in WAL mode with a versioned relational
 * schema.  Every save is its own transaction unless wrapped in
 * store_begin()/store_commit(). */

#include "state.h"

typedef struct Store Store;

#define STORE_SCHEMA_VERSION 3

typedef struct JobRecord {
        char *id;
        char *name;
        char *score_path;       /* absolute path, NULL for inline content */
        char *score_yaml;       /* the score text as submitted: jobs reload from it */
        char *base_dir;         /* what relative score paths resolve against */
        char *workspace;        /* absolute, after any override */
        JobState state;
        uint32_t owner_uid;
        uint32_t owner_gid;
        bool self_healing;
        unsigned start_sheet;
        unsigned total_sheets;
        usec_t created_at;      /* CLOCK_REALTIME µs; 0 = unset */
        usec_t started_at;
        usec_t finished_at;
        char *error;            /* last job-level error message, or NULL */
        char *parent_job;       /* id of the job whose on_success hook started this one, or NULL */
        unsigned chain_depth;   /* hooks between this job and one started by a user; 0 for the latter */
} JobRecord;

typedef struct SheetRecord {
        unsigned num;
        SheetState state;
        unsigned attempt_count;
        usec_t started_at;
        usec_t completed_at;
        usec_t next_retry_at;   /* CLOCK_REALTIME µs: the retry when retry_scheduled, the
                                 * wake-up (e.g. a rate limit lifting) when waiting; 0 = none */
        bool has_exit_code;
        int exit_code;
        int exit_signal;        /* 0 = none */
        char *exit_reason;      /* "exited", "signaled", "timeout", "cancelled", "interrupted" */
        char *error_message;
        char *error_category;   /* "exit_code", "timeout", "validation", "signal", "dependency", "spawn" */
        int validation_passed;  /* -1 unknown, 0 no, 1 yes */
        char *validation_details; /* JSON array text */
        unsigned passed_validations;
        unsigned failed_validations;
        double pass_percentage;
        double duration_seconds;
        char *stdout_tail;
        char *stderr_tail;
        bool output_truncated;
        char *execution_mode;   /* "cgroup" or "process-group" */
        unsigned stage;         /* from the score's expansion, kept for finished jobs */
        unsigned instance;
        char *instrument;       /* profile the latest attempt ran with; NULL before the first */
        unsigned instrument_index; /* 0 = the primary instrument, k = the k-th fallback */
        bool has_tokens;        /* the instrument reported token counts */
        uint64_t input_tokens;  /* summed over the sheet's attempts */
        uint64_t output_tokens;
        bool has_cost;          /* an estimated cost is known */
        double cost_usd;        /* estimated, summed over the sheet's attempts */
        unsigned completion_attempts; /* completion-mode re-runs spent */
        unsigned rate_limit_waits;    /* times the sheet waited for a rate limit to lift */
} SheetRecord;

typedef struct AttemptRecord {
        unsigned sheet;
        unsigned attempt;       /* 1-based */
        usec_t started_at;
        usec_t finished_at;     /* 0 while running */
        int64_t pid;            /* 0 if never started */
        uint64_t pid_starttime; /* /proc/PID/stat field 22: guards against PID reuse */
        char *cgroup;           /* cgroup path of the attempt, or NULL */
        bool has_exit_code;
        int exit_code;
        int exit_signal;
        char *outcome;          /* NULL while running; "completed", "failed", "timeout", "interrupted", "cancelled" */
        char *log_dir;
        char *unit;             /* transient unit of the systemd runner, or NULL */
        char *instrument;       /* profile this attempt ran with, or NULL */
        char *kind;             /* "run", "retry", "completion", "rate-limit", "fallback"; NULL = "run" */
} AttemptRecord;

void job_record_done(JobRecord *j);     /* frees members, not j */
void sheet_record_done(SheetRecord *s);
void attempt_record_done(AttemptRecord *a);

/* Open (creating if needed) and migrate to STORE_SCHEMA_VERSION. The file
 * is created 0600. -EPROTO if the file has a newer schema than we know. */
int store_open(const char *path, Store **ret);
void store_close(Store *s);
DEFINE_CLEANUP_FUNC(Store *, store_close);
#define _cleanup_store_close_ _cleanup_(store_closep)

int store_schema_version(Store *s, int *ret);
const char *store_last_error(Store *s);   /* SQLite's message for the last failure */

int store_begin(Store *s);
int store_commit(Store *s);
void store_rollback(Store *s);

/* Insert or replace whole rows. */
int store_save_job(Store *s, const JobRecord *j);
int store_save_sheet(Store *s, const char *job_id, const SheetRecord *r);
int store_save_attempt(Store *s, const char *job_id, const AttemptRecord *a);

/* A new job with all its sheets, in one transaction. */
int store_insert_job(Store *s, const JobRecord *j, const SheetRecord *sheets, size_t n_sheets);

/* Loads allocate arrays the caller frees with *_record_done + free(). */
int store_load_jobs(Store *s, JobRecord **ret, size_t *ret_n);
int store_load_sheets(Store *s, const char *job_id, SheetRecord **ret, size_t *ret_n);
int store_load_attempts(Store *s, const char *job_id, AttemptRecord **ret, size_t *ret_n);

/* Delete a job with its sheets and attempts; -ENOENT if absent. */
int store_delete_job(Store *s, const char *job_id);

/* Drop the page cache: after loading everything at start the conductor
 * needs none of it, and an idle daemon should stay small. */
void store_release_memory(Store *s);

/* Next value of the job sequence (used in job ids); persistent. */
int store_next_job_number(Store *s, uint64_t *ret);

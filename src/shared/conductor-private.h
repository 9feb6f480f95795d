/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internals shared by conductor.c (operations, loading) and scheduler.c
 * (dispatch, attempts, retries).  Not for front ends. */

#include "conductor.h"
#include "job.h"

typedef struct HookRun HookRun;

typedef struct SlurmPingWaiter {
        conductor_ping_fn cb;
        void *userdata;
} SlurmPingWaiter;
typedef struct InstrumentRegistry InstrumentRegistry;

/* An instrument held back by a rate limit until a CLOCK_REALTIME time. */
typedef struct InstrumentBlock {
        char *profile;
        usec_t until;
} InstrumentBlock;

struct Conductor {
        sd_event *event;
        Store *store;
        Runner *runner;                 /* the host runner: systemd or local */
        Runner *local_runner;           /* type: local beside a systemd host runner; on first use */
        Runner *slurm_runner;           /* on first use */
        int slurm_error;                /* why it could not be set up last time */
        ScoreSlurm slurm_defaults;      /* the configuration's [Slurm] */
        SlurmPingWaiter *ping_waiters;  /* callers waiting for the ping in flight */
        size_t n_ping_waiters;
        bool ping_running;
        usec_t ping_at;                 /* monotonic: when the last answer came */
        int ping_status;
        char *ping_message;
        usec_t slurm_poll_usec;         /* 0 = the runner's default */
        ConductorConfig config;
        char *state_dir;
        char *log_dir;
        ConductorObserver observer;
        void *userdata;

        Job **jobs;             /* creation order */
        size_t n_jobs;

        HookRun **hook_runs;    /* on_success hooks running */
        size_t n_hook_runs;

        InstrumentRegistry *instruments;
        char *exec_search_path;         /* PATH of every sheet */
        InstrumentBlock *instrument_blocks;
        size_t n_instrument_blocks;

        sd_event_source *schedule_source;
        unsigned running_sheets;        /* live instrument processes, all jobs */
        bool shutting_down;             /* units outlive us: detach, do not stop them */
        usec_t started_at;              /* realtime */
        usec_t started_at_monotonic;
};

/* scheduler.c */
void conductor_schedule(Conductor *c);          /* run a dispatch pass soon */
int job_set_state(Job *j, JobState s);
int sheet_set_state(Job *j, unsigned num, SheetState s);
void job_prepare_graph(Job *j);                 /* dependents lists, before_start */
void job_release_ready(Job *j);                 /* pending → ready/skipped where decided */
void job_check_finished(Job *j);
void job_kill_all(Job *j);                      /* cancel every live attempt */
int job_freeze_all(Job *j);
int job_thaw_all(Job *j);
int job_arm_retry_timer(Job *j, unsigned num);
void job_drop_score(Job *j);                    /* a terminal job keeps only its record */
/* A unit of a previous instance's attempt is still there: follow it. */
int job_adopt_attempt(Job *j, unsigned num);
int conductor_schedule_setup(Conductor *c);
/* Every sheet's environment before its instrument's variables. */
char **sheet_base_environment(const char *path, const Identity *o, const char *job_id, unsigned num,
                              unsigned attempt, const char *workspace);

/* job-hooks.c */
int job_start_hooks(Job *j);                    /* a completed job's on_success hooks */
void conductor_stop_hooks(Conductor *c);

/* conductor-runners.c */
int conductor_setup_runner(Conductor *c, sd_event *event, const ConductorConfig *config);
/* Settle which runner the score's sheets go to (the configuration's
 * default for a score without runner:, the [Slurm] defaults merged in)
 * and set that runner up; -EOPNOTSUPP with *ret_error when this
 * conductor cannot run it. */
int conductor_resolve_runner(Conductor *c, Score *s, char **ret_error);
Runner *job_runner(Job *j);                     /* where the job's attempts run */
int conductor_runner_for_unit(Conductor *c, const char *unit, Runner **ret);
int conductor_slurm_runner(Conductor *c, Runner **ret);
void conductor_cancel_pings(Conductor *c);     /* answer every waiting ping with -ECANCELED */
void conductor_free_runners(Conductor *c);

/* conductor.c */
void job_free(Job *j);
void job_notify_changed(Job *j);

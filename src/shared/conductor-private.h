/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Internals shared by conductor.c (operations, loading) and scheduler.c
 * (dispatch, attempts, retries).  Not for front ends. */

#include "conductor.h"
#include "job.h"

struct Conductor {
        sd_event *event;
        Store *store;
        Runner *runner;
        ConductorConfig config;
        char *state_dir;
        char *log_dir;
        ConductorObserver observer;
        void *userdata;

        Job **jobs;             /* creation order */
        size_t n_jobs;

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

/* conductor.c */
void job_free(Job *j);
void job_notify_changed(Job *j);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The job and sheet state machines: names, terminal states, and which
 * transitions are legal.  Everything that changes a state goes through
 * *_transition_allowed() first. */

#include "macro.h"

typedef enum JobState {
        JOB_PENDING,
        JOB_QUEUED,
        JOB_RUNNING,
        JOB_PAUSED,
        JOB_COMPLETED,
        JOB_FAILED,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -EINVAL,
} JobState;

typedef enum SheetState {
        SHEET_PENDING,          /* dependencies not yet satisfied */
        SHEET_READY,            /* may be dispatched */
        SHEET_DISPATCHED,       /* handed to a runner, process not yet confirmed */
        SHEET_IN_PROGRESS,      /* process running, or its validations */
        SHEET_WAITING,          /* frozen because its job is paused */
        SHEET_RETRY_SCHEDULED,  /* failed attempt, next one on a timer */
        SHEET_COMPLETED,
        SHEET_FAILED,
        SHEET_SKIPPED,          /* a dependency failed or was skipped */
        SHEET_CANCELLED,
        _SHEET_STATE_MAX,
        _SHEET_STATE_INVALID = -EINVAL,
} SheetState;

const char *job_state_to_string(JobState s);
JobState job_state_from_string(const char *s);
bool job_state_is_terminal(JobState s);
bool job_state_is_active(JobState s);   /* queued, running or paused */
bool job_state_transition_allowed(JobState from, JobState to);

const char *sheet_state_to_string(SheetState s);
SheetState sheet_state_from_string(const char *s);
bool sheet_state_is_terminal(SheetState s);
bool sheet_state_transition_allowed(SheetState from, SheetState to);

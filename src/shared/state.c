/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "state.h"

static const char * const job_state_table[_JOB_STATE_MAX] = {
        [JOB_PENDING]   = "pending",
        [JOB_QUEUED]    = "queued",
        [JOB_RUNNING]   = "running",
        [JOB_PAUSED]    = "paused",
        [JOB_COMPLETED] = "completed",
        [JOB_FAILED]    = "failed",
        [JOB_CANCELLED] = "cancelled",
};

static const char * const sheet_state_table[_SHEET_STATE_MAX] = {
        [SHEET_PENDING]         = "pending",
        [SHEET_READY]           = "ready",
        [SHEET_DISPATCHED]      = "dispatched",
        [SHEET_IN_PROGRESS]     = "in_progress",
        [SHEET_WAITING]         = "waiting",
        [SHEET_RETRY_SCHEDULED] = "retry_scheduled",
        [SHEET_COMPLETED]       = "completed",
        [SHEET_FAILED]          = "failed",
        [SHEET_SKIPPED]         = "skipped",
        [SHEET_CANCELLED]       = "cancelled",
};

#define BIT(x) (1U << (x))

/* Bit masks of the states each state may move to.  Terminal states have an
 * empty mask on purpose: a finished job or sheet is never revived in place,
 * so a completed sheet cannot run again after a restart. */
static const unsigned job_transitions[_JOB_STATE_MAX] = {
        [JOB_PENDING] = BIT(JOB_QUEUED) | BIT(JOB_RUNNING) | BIT(JOB_CANCELLED) | BIT(JOB_FAILED),
        [JOB_QUEUED]  = BIT(JOB_RUNNING) | BIT(JOB_PAUSED) | BIT(JOB_CANCELLED) | BIT(JOB_FAILED),
        [JOB_RUNNING] = BIT(JOB_PAUSED) | BIT(JOB_COMPLETED) | BIT(JOB_FAILED) | BIT(JOB_CANCELLED),
        [JOB_PAUSED]  = BIT(JOB_RUNNING) | BIT(JOB_QUEUED) | BIT(JOB_CANCELLED) | BIT(JOB_FAILED),
};

static const unsigned sheet_transitions[_SHEET_STATE_MAX] = {
        [SHEET_PENDING] =
                BIT(SHEET_READY) | BIT(SHEET_SKIPPED) | BIT(SHEET_CANCELLED),
        /* → waiting: its instrument is held back by a rate limit */
        [SHEET_READY] =
                BIT(SHEET_DISPATCHED) | BIT(SHEET_PENDING) | BIT(SHEET_SKIPPED) | BIT(SHEET_CANCELLED) |
                BIT(SHEET_WAITING),
        [SHEET_DISPATCHED] =
                BIT(SHEET_IN_PROGRESS) | BIT(SHEET_READY) | BIT(SHEET_FAILED) |
                BIT(SHEET_CANCELLED) | BIT(SHEET_RETRY_SCHEDULED),
        /* → ready: an attempt interrupted by a conductor restart is queued again. */
        [SHEET_IN_PROGRESS] =
                BIT(SHEET_WAITING) | BIT(SHEET_COMPLETED) | BIT(SHEET_FAILED) |
                BIT(SHEET_RETRY_SCHEDULED) | BIT(SHEET_CANCELLED) | BIT(SHEET_READY),
        [SHEET_WAITING] =
                BIT(SHEET_IN_PROGRESS) | BIT(SHEET_CANCELLED) | BIT(SHEET_READY) |
                BIT(SHEET_FAILED) | BIT(SHEET_RETRY_SCHEDULED),
        [SHEET_RETRY_SCHEDULED] =
                BIT(SHEET_READY) | BIT(SHEET_CANCELLED) | BIT(SHEET_SKIPPED) | BIT(SHEET_FAILED),
};

static bool job_state_valid(JobState s) {
        return s >= 0 && s < _JOB_STATE_MAX;
}

static bool sheet_state_valid(SheetState s) {
        return s >= 0 && s < _SHEET_STATE_MAX;
}

const char *job_state_to_string(JobState s) {
        return job_state_valid(s) ? job_state_table[s] : NULL;
}

JobState job_state_from_string(const char *s) {
        if (!s)
                return _JOB_STATE_INVALID;
        for (JobState i = 0; i < _JOB_STATE_MAX; i++)
                if (streq(job_state_table[i], s))
                        return i;
        return _JOB_STATE_INVALID;
}

bool job_state_is_terminal(JobState s) {
        return s == JOB_COMPLETED || s == JOB_FAILED || s == JOB_CANCELLED;
}

bool job_state_is_active(JobState s) {
        return s == JOB_QUEUED || s == JOB_RUNNING || s == JOB_PAUSED;
}

bool job_state_transition_allowed(JobState from, JobState to) {
        if (!job_state_valid(from) || !job_state_valid(to))
                return false;
        return job_transitions[from] & BIT(to);
}

const char *sheet_state_to_string(SheetState s) {
        return sheet_state_valid(s) ? sheet_state_table[s] : NULL;
}

SheetState sheet_state_from_string(const char *s) {
        if (!s)
                return _SHEET_STATE_INVALID;
        for (SheetState i = 0; i < _SHEET_STATE_MAX; i++)
                if (streq(sheet_state_table[i], s))
                        return i;
        return _SHEET_STATE_INVALID;
}

bool sheet_state_is_terminal(SheetState s) {
        return s == SHEET_COMPLETED || s == SHEET_FAILED || s == SHEET_SKIPPED || s == SHEET_CANCELLED;
}

bool sheet_state_transition_allowed(SheetState from, SheetState to) {
        if (!sheet_state_valid(from) || !sheet_state_valid(to))
                return false;
        return sheet_transitions[from] & BIT(to);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One job in memory: its persistent record, its parsed score while it can
 * still run, and the light per-sheet state the scheduler works on.  Heavy
 * per-sheet data (tails, validation details) lives only in the store. */

#include <systemd/sd-event.h>

#include "conductor.h"
#include "identity.h"
#include "instrument.h"

typedef struct SheetRuntime SheetRuntime;

typedef enum SheetPhase {
        SHEET_PHASE_IDLE,
        SHEET_PHASE_EXECUTING,  /* the instrument runs */
        SHEET_PHASE_VALIDATING, /* the validation pass runs */
} SheetPhase;

struct SheetRuntime {
        Job *job;                       /* back pointers for event callbacks */
        unsigned num;
        SheetPhase phase;
        RunHandle *handle;              /* of the current phase */
        RunHandle *exec_handle;         /* the finished instrument's, kept while validating:
                                         * its unit holds the exit status until recorded */
        bool adopted;                   /* taken over from a previous conductor */
        AttemptRecord attempt;          /* the attempt in flight */
        RunResult exec_result;          /* kept while validations run */
        InstrumentProfile *profile;     /* of the attempt in flight */
        InstrumentConfig config;
        usec_t timeout_usec;            /* of the attempt in flight */
        const char *next_kind;          /* why the next attempt runs: "retry", "completion", ... */
        sd_event_source *retry_timer;
        unsigned interrupted;           /* attempts ended by a conductor restart */
        bool before_start;              /* below start_sheet: not run, does not block */
        unsigned *dependents;           /* sheets that list this one in their deps */
        size_t n_dependents;
};

struct Job {
        Conductor *conductor;
        JobRecord rec;
        Score *score;           /* NULL once the job is terminal */
        SheetRecord *sheets;    /* rec.total_sheets entries, sheets[i].num == i + 1 */
        SheetRuntime *runtime;
        unsigned counts[_SHEET_STATE_MAX];
        unsigned n_running;     /* sheets with a live handle */
        usec_t not_before;      /* monotonic: pacing between sheets */
        sd_event_source *pace_timer;
        Identity owner;         /* who every process of the job runs as; loaded while it can run */
};

unsigned job_count(const Job *j, SheetState s);
unsigned job_active_sheets(const Job *j);  /* dispatched + in_progress + waiting */

/* The job id is "<name>-<n>" with the name reduced to [A-Za-z0-9_-]. */
char *job_make_id(const char *name, uint64_t n);

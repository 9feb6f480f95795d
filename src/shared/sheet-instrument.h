/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a sheet's instrument means for one attempt: which profile plays
 * (primary or fallback), whether a rate limit holds it back, the
 * environment it may see, and the context earlier sheets left. */

#include "conductor-private.h"
#include "instrument.h"


/* Rate limits are per instrument, not per sheet: one sheet hitting a limit
 * holds back every job's sheets on that instrument until it lifts. */
usec_t conductor_instrument_blocked_until(Conductor *c, const char *profile, usec_t now);
int conductor_block_instrument(Conductor *c, const char *profile, usec_t until);

typedef struct SheetInstrument {
        char *name;                     /* as the score names it (alias or profile) */
        InstrumentProfile *profile;     /* referenced */
        InstrumentConfig config;
        size_t index;                   /* in the sheet's chain */
        size_t n_chain;
} SheetInstrument;

void sheet_instrument_done(SheetInstrument *si);

/* The instrument of the sheet's next attempt: link sr->instrument_index of
 * its chain.  A link naming no known profile is skipped (the index moves
 * on, with a journal warning); -ENOENT with a message when none is left. */
int sheet_pick_instrument(Job *j, unsigned num, SheetInstrument *ret, char **ret_error);

/* Where an instrument's required_env names come from: the conductor's own
 * environment when the job's owner is the conductor's user (a per-user
 * conductor), plus the owner's ~/.config/marianne/environment (KEY=VALUE
 * lines, read with the owner's rights). */
int sheet_source_environment(Job *j, char ***ret);

/* previous_outputs and previous_files for sheet num (cross_sheet). */
int sheet_cross_context(Job *j, unsigned num, Value **ret);

/* The text appended to a completion attempt's prompt: the checks that
 * failed last time, from the stored validation details (JSON). */
char *completion_prompt_suffix(const char *validation_details, unsigned attempt, unsigned max_attempts);

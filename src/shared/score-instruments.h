/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A score against the instruments a conductor (or this machine) has: the
 * names it uses must resolve to profiles, and what it would run can be
 * shown without running it. */

#include "instrument.h"
#include "score.h"

/* Check every sheet's instrument chain.  A primary instrument without a
 * profile is an error (SCORE_E_INSTRUMENT, filled into *ret_error, -EINVAL);
 * a fallback without one, and an executable missing from search_path
 * (NULL: $PATH), are warnings (SCORE_W_INSTRUMENT) added to s.  Each
 * distinct problem is reported once. */
int score_check_instruments(Score *s, const InstrumentRegistry *r, const char *search_path, ScoreDiagnostic *ret_error);

/* What sheet num's first attempt runs: its instrument (profile name), the
 * argv with the prompt argument shown as "{prompt}", and how the prompt
 * travels.  -ENOENT (message in *ret_error) when no profile or executable
 * is found. */
#define SCORE_PLAN_PROMPT_PLACEHOLDER "{prompt}"
int score_plan_command(const Score *s, unsigned num, const InstrumentRegistry *r, const char *search_path,
                       const char *prompt, char **ret_instrument, char ***ret_argv, const char **ret_delivery,
                       char **ret_error);

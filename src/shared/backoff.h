/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "score.h"

/* Delay before retry number `failures` (1 = after the first failed
 * attempt): base × exponential_base^(failures−1), capped at max_delay;
 * with jitter, scaled by a factor drawn uniformly from [0.8, 1.2) (random
 * in [0, 1) is passed in so tests are deterministic), still capped. */
usec_t retry_delay_usec(const ScoreRetry *r, unsigned failures, double random01);

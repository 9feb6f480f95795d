/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include "backoff.h"

usec_t retry_delay_usec(const ScoreRetry *r, unsigned failures, double random01) {
        double d, cap = r->max_delay_seconds > 0 ? r->max_delay_seconds : HUGE_VAL;

        if (failures < 1)
                failures = 1;
        d = r->base_delay_seconds * pow(r->exponential_base > 0 ? r->exponential_base : 1.0, (double) (failures - 1));
        if (!isfinite(d) || d > cap)
                d = cap;
        if (r->jitter)
                d *= 0.8 + 0.4 * random01;
        if (d > cap)
                d = cap;
        if (!(d > 0))   /* also catches NaN from hostile settings */
                return 0;
        /* a cap of 10 years keeps the conversion defined */
        if (d > 10.0 * 365 * 24 * 3600)
                d = 10.0 * 365 * 24 * 3600;
        return (usec_t) (d * (double) USEC_PER_SEC);
}

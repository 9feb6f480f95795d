/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "bus-errors.h"

/* Every named error is set explicitly where it is decided.  No errno map
 * is registered: a bare errno from deeper down (the store, memory) must
 * reach the caller as the generic error it is, not dressed up as, say,
 * InvalidConfig because it happened to be EINVAL. */

int bus_error_job_lookup(sd_bus_error *error, int r, const char *job) {
        if (r == -ENOTUNIQ)
                return sd_bus_error_setf(error, BUS_ERROR_AMBIGUOUS_JOB,
                                         "Several jobs are named '%s'; name the job by its id.", job);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_JOB, "No job '%s'.", job);
        return r;
}

int bus_error_start(sd_bus_error *error, int r, const char *message) {
        const char *name = r == -E2BIG || r == -EFBIG ? BUS_ERROR_LIMIT_EXCEEDED :
                           r == -EACCES || r == -EPERM ? BUS_ERROR_ACCESS_DENIED :
                           r == -ENOMEM ? NULL : BUS_ERROR_INVALID_CONFIG;

        if (!name)
                return r;
        return sd_bus_error_setf(error, name, "%s", message ? message : strerror(-r));
}

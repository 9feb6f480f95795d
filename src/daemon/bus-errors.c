/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "bus-errors.h"

/* Register our names with sd-bus so that a negative errno returned from a
 * method handler with a named error set keeps its name on the wire. */
static const sd_bus_error_map marianne_errors[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_JOB, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_AMBIGUOUS_JOB, ENOTUNIQ),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_SHEET, ERANGE),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_STATE, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_INVALID_CONFIG, EINVAL),
        SD_BUS_ERROR_MAP(BUS_ERROR_ACCESS_DENIED, EACCES),
        SD_BUS_ERROR_MAP(BUS_ERROR_LIMIT_EXCEEDED, E2BIG),
        SD_BUS_ERROR_MAP_END
};

__attribute__((constructor)) static void register_errors(void) {
        (void) sd_bus_error_add_map(marianne_errors);
}

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
                           r == -ENOMEM ? NULL : BUS_ERROR_INVALID_CONFIG;

        if (!name)
                return r;
        return sd_bus_error_setf(error, name, "%s", message ? message : strerror(-r));
}

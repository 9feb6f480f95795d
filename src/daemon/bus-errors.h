/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#define BUS_ERROR_NO_SUCH_JOB      "org.marianne.Conductor.Error.NoSuchJob"
#define BUS_ERROR_AMBIGUOUS_JOB    "org.marianne.Conductor.Error.AmbiguousJob"
#define BUS_ERROR_NO_SUCH_SHEET    "org.marianne.Conductor.Error.NoSuchSheet"
#define BUS_ERROR_INVALID_STATE    "org.marianne.Conductor.Error.InvalidState"
#define BUS_ERROR_INVALID_CONFIG   "org.marianne.Conductor.Error.InvalidConfig"
#define BUS_ERROR_ACCESS_DENIED    "org.marianne.Conductor.Error.AccessDenied"
#define BUS_ERROR_LIMIT_EXCEEDED   "org.marianne.Conductor.Error.LimitExceeded"

/* Errors of a job lookup: NoSuchJob or AmbiguousJob naming what was asked. */
int bus_error_job_lookup(sd_bus_error *error, int r, const char *job);

/* Errors of a start or plan: InvalidConfig, LimitExceeded, with the
 * parser's message (which names file, line, column and key). */
int bus_error_start(sd_bus_error *error, int r, const char *message);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Logging: the journal with structured fields when it is there (native
 * protocol socket present), stderr otherwise.  Job and sheet events carry
 * MARIANNE_JOB= and MARIANNE_SHEET=. */

#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
} LogTarget;

void log_open(LogTarget target, const char *identifier);
void log_set_max_level(int level);
LogTarget log_get_target(void);

/* Journal MESSAGE_IDs of the events explained in catalog/marianne.catalog. */
#define MESSAGE_JOB_STARTED     "c1ed0310e297446f972bfec9f4b4dd52"
#define MESSAGE_JOB_COMPLETED   "b2f8022bc99d4a3fba0bce1245f81fde"
#define MESSAGE_JOB_FAILED      "b2b04fdd23b842e5ab81fc22b0ea81f6"
#define MESSAGE_JOB_CANCELLED   "43b8e31470234b299a8e45d27e32fe70"
#define MESSAGE_SHEET_FAILED    "473ede54e30447e6a26bd5a4bebd2406"

/* Returns -abs(error) (or 0 if error is 0) so callers can "return log_...". */
int log_internal(int level, int error, const char *job, unsigned sheet, const char *message_id,
                 const char *file, int line, const char *func, const char *fmt, ...) _printf_(9, 10);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, NULL, 0, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)

#define log_job(level, job, ...) \
        log_internal(level, 0, job, 0, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_sheet(level, job, sheet, ...) \
        log_internal(level, 0, job, sheet, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
/* The same with a MESSAGE_ID (NULL allowed). */
#define log_job_event(level, message_id, job, ...) \
        log_internal(level, 0, job, 0, message_id, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_sheet_event(level, message_id, job, sheet, ...) \
        log_internal(level, 0, job, sheet, message_id, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

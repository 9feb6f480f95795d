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

/* Returns -abs(error) (or 0 if error is 0) so callers can "return log_...". */
int log_internal(int level, int error, const char *job, unsigned sheet,
                 const char *file, int line, const char *func, const char *fmt, ...) _printf_(8, 9);

#define log_full_errno(level, error, ...) \
        log_internal(level, error, NULL, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)

#define log_job(level, job, ...) \
        log_internal(level, 0, job, 0, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_sheet(level, job, sheet, ...) \
        log_internal(level, 0, job, sheet, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static LogTarget log_target = LOG_TARGET_STDERR;
static int log_max_level = LOG_INFO;
static const char *log_identifier = "marianne";

void log_open(LogTarget target, const char *identifier) {
        if (identifier)
                log_identifier = identifier;

        /* Like systemd's own tools: talk to the journal only if its native
         * socket exists, so a daemon started by hand on a machine without
         * journald still tells its operator what happens. */
        if (target == LOG_TARGET_AUTO)
                target = access("/run/systemd/journal/socket", W_OK) >= 0 ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        log_target = target;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

LogTarget log_get_target(void) {
        return log_target;
}

int log_internal(int level, int error, const char *job, unsigned sheet, const char *message_id,
                 const char *file, int line, const char *func, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        int saved_errno = errno;
        va_list ap;
        int r;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                goto finish;

        /* %m in fmt refers to the error we were handed, not whatever errno
         * happens to be now. */
        errno = error;
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                goto finish;
        }

        if (log_target == LOG_TARGET_JOURNAL) {
                _cleanup_free_ char *code_file = strdup_printf("CODE_FILE=%s", file);
                _cleanup_free_ char *code_line = strdup_printf("CODE_LINE=%d", line);
                _cleanup_free_ char *job_field = job ? strdup_printf("MARIANNE_JOB=%s", job) : NULL;
                _cleanup_free_ char *sheet_field = sheet > 0 ? strdup_printf("MARIANNE_SHEET=%u", sheet) : NULL;
                _cleanup_free_ char *errno_field = error > 0 ? strdup_printf("ERRNO=%d", error) : NULL;
                _cleanup_free_ char *id_field = message_id ? strdup_printf("MESSAGE_ID=%s", message_id) : NULL;
                _cleanup_free_ char *message = strdup_printf("MESSAGE=%s", msg);
                _cleanup_free_ char *priority = strdup_printf("PRIORITY=%d", level);
                _cleanup_free_ char *ident = strdup_printf("SYSLOG_IDENTIFIER=%s", log_identifier);
                struct iovec iov[7];
                size_t n = 0;

                if (!message || !priority || !ident || !code_file || !code_line)
                        goto fallback;
#define ADD(s) do { if (s) iov[n++] = (struct iovec) { .iov_base = (s), .iov_len = strlen(s) }; } while (0)
                ADD(message);
                ADD(priority);
                ADD(ident);
                ADD(job_field);
                ADD(sheet_field);
                ADD(errno_field);
                ADD(id_field);
#undef ADD
                if (sd_journal_sendv_with_location(code_file, code_line, func, iov, (int) n) >= 0)
                        goto finish;
                /* journald went away: keep the message on stderr instead */
        }
fallback:
        if (job && sheet > 0)
                fprintf(stderr, "%s[%s/%u]: %s\n", log_identifier, job, sheet, msg);
        else if (job)
                fprintf(stderr, "%s[%s]: %s\n", log_identifier, job, msg);
        else
                fprintf(stderr, "%s: %s\n", log_identifier, msg);

finish:
        errno = saved_errno;
        return -error;
}

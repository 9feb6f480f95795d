/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* mariannectl logs: a job's entries from the journal (MARIANNE_JOB=,
 * MARIANNE_SHEET=), read with sd-journal like journalctl would. */

#include <systemd/sd-journal.h>

#include "ctl.h"
#include "json.h"

/* The id a name stands for, asked of the conductor; without one, the
 * argument is taken as the id (the journal outlives the conductor). */
static char *resolve_job_id(const Ctl *c, const char *job) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        Ctl quiet = *c;

        quiet.quiet = true;
        if (ctl_connect_silently(&quiet, &bus) < 0 ||
            ctl_new_call(bus, "GetJobStatus", &m) < 0 ||
            sd_bus_message_append(m, "s", job) < 0 ||
            sd_bus_call(bus, m, 0, NULL, &reply) < 0 ||
            ctl_dict_read(reply, &d) < 0 ||
            isempty(ctl_dict_string(d, "id")))
                return strdup(job);
        return strdup(ctl_dict_string(d, "id"));
}

static const char *field(sd_journal *j, const char *name, size_t *ret_len) {
        const void *data;
        size_t len, l = strlen(name);

        if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= l + 1)
                return NULL;
        *ret_len = len - l - 1;
        return (const char *) data + l + 1;
}

static bool all_digits(const char *s, size_t n) {
        if (!s || n == 0 || n > 10)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int print_entry(const Ctl *c, sd_journal *j) {
        const char *msg, *sheet, *prio;
        size_t msg_len = 0, sheet_len = 0, prio_len = 0;
        _cleanup_free_ char *when = NULL, *text = NULL;
        uint64_t usec = 0;

        (void) sd_journal_get_realtime_usec(j, &usec);
        msg = field(j, "MESSAGE", &msg_len);
        sheet = field(j, "MARIANNE_SHEET", &sheet_len);
        prio = field(j, "PRIORITY", &prio_len);
        text = msg ? strndup(msg, msg_len) : strdup("");
        if (!text)
                return -ENOMEM;

        if (c->json) {
                printf("{\"time\":%" PRIu64 ",\"priority\":", usec);
                if (all_digits(prio, prio_len))
                        printf("%.*s", (int) prio_len, prio);
                else
                        fputs("null", stdout);
                fputs(",\"sheet\":", stdout);
                if (all_digits(sheet, sheet_len))
                        printf("%.*s", (int) sheet_len, sheet);
                else
                        fputs("null", stdout);
                fputs(",\"message\":", stdout);
                json_write_string(stdout, text);
                puts("}");
                return 0;
        }
        {
                _cleanup_free_ char *safe = ctl_sanitize(text, false);

                when = ctl_format_timestamp(usec);
                printf("%s %s\n", strna(when), strna(safe));
        }
        return 0;
}

int ctl_cmd_logs(Ctl *c, char **args) {
        _cleanup_free_ char *id = NULL, *match = NULL, *sheet_match = NULL;
        sd_journal *j = NULL;
        unsigned shown = 0;
        int r;

        id = resolve_job_id(c, args[0]);
        match = id ? strdup_printf("MARIANNE_JOB=%s", id) : NULL;
        if (!match)
                return ctl_log_oom();
        if (c->sheet > 0) {
                sheet_match = strdup_printf("MARIANNE_SHEET=%u", c->sheet);
                if (!sheet_match)
                        return ctl_log_oom();
        }

        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to open the journal: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        /* _COMM is set by journald itself: only the conductor's entries
         * count, not whatever anybody logs with a MARIANNE_JOB= field */
        r = sd_journal_add_match(j, match, 0);
        if (r >= 0)
                r = sd_journal_add_match(j, "_COMM=marianned", 0);
        if (r >= 0 && sheet_match)
                r = sd_journal_add_match(j, sheet_match, 0);
        if (r >= 0)
                r = c->lines > 0 ? sd_journal_seek_tail(j) : sd_journal_seek_head(j);
        if (r >= 0 && c->lines > 0)
                r = sd_journal_previous_skip(j, c->lines);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to read the journal: %s\n", strerror(-r));
                sd_journal_close(j);
                return CTL_EXIT_FAILED;
        }
        /* after previous_skip() the cursor is on the first wanted entry */
        if (c->lines > 0 && r > 0) {
                r = print_entry(c, j);
                shown++;
        }

        for (;;) {
                r = sd_journal_next(j);
                if (r < 0) {
                        fprintf(stderr, "mariannectl: Failed to read the journal: %s\n", strerror(-r));
                        break;
                }
                if (r > 0) {
                        r = print_entry(c, j);
                        if (r < 0)
                                break;
                        shown++;
                        continue;
                }
                if (!c->follow)
                        break;
                (void) fflush(stdout);
                r = sd_journal_wait(j, UINT64_MAX);
                if (r < 0) {
                        fprintf(stderr, "mariannectl: Failed to wait for the journal: %s\n", strerror(-r));
                        break;
                }
        }
        sd_journal_close(j);
        if (r < 0)
                return CTL_EXIT_FAILED;
        if (shown == 0 && !c->json && !c->quiet)
                fprintf(stderr, "-- No entries for job %s. Are you allowed to read the system journal "
                        "(group systemd-journal or adm)? --\n", id);
        return CTL_EXIT_SUCCESS;
}

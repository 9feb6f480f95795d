/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>

#include "conductor-private.h"

unsigned job_count(const Job *j, SheetState s) {
        return s >= 0 && s < _SHEET_STATE_MAX ? j->counts[s] : 0;
}

unsigned job_active_sheets(const Job *j) {
        return j->counts[SHEET_DISPATCHED] + j->counts[SHEET_IN_PROGRESS] + j->counts[SHEET_WAITING];
}

char *job_make_id(const char *name, uint64_t n) {
        _cleanup_free_ char *clean = NULL;
        size_t len = 0;

        /* Ids appear in object paths, file names, cgroup names and journal
         * fields: keep them to a small, safe alphabet and a sane length. */
        clean = malloc(MIN(strlen(name), 48) + 1);
        if (!clean)
                return NULL;
        for (const char *p = name; *p && len < 48; p++) {
                unsigned char ch = (unsigned char) *p;

                if (isascii(ch) && (isalnum(ch) || ch == '_' || ch == '-'))
                        clean[len++] = (char) ch;
                else if (len > 0 && clean[len - 1] != '-')
                        clean[len++] = '-';
        }
        while (len > 0 && clean[len - 1] == '-')
                len--;
        clean[len] = 0;

        return strdup_printf("%s-%" PRIu64, len > 0 ? clean : "job", n);
}

void job_free(Job *j) {
        if (!j)
                return;
        for (size_t i = 0; j->runtime && j->sheets && i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];

                /* at shutdown, units go on and the next conductor adopts them */
                if (j->conductor->shutting_down) {
                        run_handle_detach(rt->handle);
                        run_handle_detach(rt->exec_handle);
                } else {
                        run_handle_release(rt->handle);
                        run_handle_release(rt->exec_handle);
                }
                /* a deleted job's attempts still dying (cancel, then delete at
                 * once) must give their slots back: nobody reports their end */
                if (rt->phase != SHEET_PHASE_IDLE) {
                        if (j->conductor->running_sheets > 0)
                                j->conductor->running_sheets--;
                        rt->phase = SHEET_PHASE_IDLE;
                }
                sd_event_source_disable_unref(rt->retry_timer);
                free(rt->dependents);
                instrument_profile_unref(rt->profile);
                instrument_config_done(&rt->config);
                attempt_record_done(&rt->attempt);
                sheet_record_done(&j->sheets[i]);
        }
        if (!j->runtime && j->sheets)
                for (size_t i = 0; i < j->rec.total_sheets; i++)
                        sheet_record_done(&j->sheets[i]);
        sd_event_source_disable_unref(j->pace_timer);
        free(j->runtime);
        free(j->sheets);
        score_free(j->score);
        identity_done(&j->owner);
        job_record_done(&j->rec);
        free(j);
}

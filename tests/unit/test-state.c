/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "state.h"

/* Short names so the expected matrices below read as tables. */
enum { JP = JOB_PENDING, JQ = JOB_QUEUED, JR = JOB_RUNNING, JA = JOB_PAUSED,
       JC = JOB_COMPLETED, JF = JOB_FAILED, JX = JOB_CANCELLED };

/* expected_job[from][to] */
static const bool expected_job[_JOB_STATE_MAX][_JOB_STATE_MAX] = {
        /*              JP  JQ  JR  JA  JC  JF  JX */
        [JP] = {         0,  1,  1,  0,  0,  1,  1 },
        [JQ] = {         0,  0,  1,  1,  0,  1,  1 },
        [JR] = {         0,  0,  0,  1,  1,  1,  1 },
        [JA] = {         0,  1,  1,  0,  0,  1,  1 },
        [JC] = {         0,  0,  0,  0,  0,  0,  0 },
        [JF] = {         0,  0,  0,  0,  0,  0,  0 },
        [JX] = {         0,  0,  0,  0,  0,  0,  0 },
};

enum { SP = SHEET_PENDING, SR = SHEET_READY, SD = SHEET_DISPATCHED, SI = SHEET_IN_PROGRESS,
       SW = SHEET_WAITING, ST = SHEET_RETRY_SCHEDULED, SC = SHEET_COMPLETED,
       SF = SHEET_FAILED, SS = SHEET_SKIPPED, SX = SHEET_CANCELLED };

static const bool expected_sheet[_SHEET_STATE_MAX][_SHEET_STATE_MAX] = {
        /*              SP  SR  SD  SI  SW  ST  SC  SF  SS  SX */
        [SP] = {         0,  1,  0,  0,  0,  0,  0,  0,  1,  1 },
        [SR] = {         1,  0,  1,  0,  1,  0,  0,  0,  1,  1 },
        [SD] = {         0,  1,  0,  1,  0,  1,  0,  1,  0,  1 },
        [SI] = {         0,  1,  0,  0,  1,  1,  1,  1,  0,  1 },
        [SW] = {         0,  1,  0,  1,  0,  1,  0,  1,  0,  1 },
        [ST] = {         0,  1,  0,  0,  0,  0,  0,  1,  1,  1 },
        [SC] = {         0,  0,  0,  0,  0,  0,  0,  0,  0,  0 },
        [SF] = {         0,  0,  0,  0,  0,  0,  0,  0,  0,  0 },
        [SS] = {         0,  0,  0,  0,  0,  0,  0,  0,  0,  0 },
        [SX] = {         0,  0,  0,  0,  0,  0,  0,  0,  0,  0 },
};

static const char * const job_names[] = {
        "pending", "queued", "running", "paused", "completed", "failed", "cancelled",
};

static const char * const sheet_names[] = {
        "pending", "ready", "dispatched", "in_progress", "waiting", "retry_scheduled",
        "completed", "failed", "skipped", "cancelled",
};

static const char * const bad_names[] = {
        "", "Pending", "PENDING", " pending", "pending ", "run", "runningx", "in-progress",
        "inprogress", "retry", "done", "0", "-1", "cancelled\n", "canceled",
};

static void test_job_names(void **state) {
        (void) state;
        assert_int_equal(ELEMENTSOF(job_names), _JOB_STATE_MAX);

        for (JobState s = 0; s < _JOB_STATE_MAX; s++) {
                assert_string_equal(job_state_to_string(s), job_names[s]);
                assert_int_equal(job_state_from_string(job_names[s]), s);
        }

        assert_null(job_state_to_string(_JOB_STATE_MAX));
        assert_null(job_state_to_string(_JOB_STATE_INVALID));
        assert_null(job_state_to_string((JobState) 1000));
        assert_null(job_state_to_string((JobState) -1));

        assert_int_equal(job_state_from_string(NULL), _JOB_STATE_INVALID);
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
                assert_int_equal(job_state_from_string(bad_names[i]), _JOB_STATE_INVALID);
        /* Sheet-only names are not job states. */
        assert_int_equal(job_state_from_string("ready"), _JOB_STATE_INVALID);
        assert_int_equal(job_state_from_string("skipped"), _JOB_STATE_INVALID);
        assert_int_equal(job_state_from_string("in_progress"), _JOB_STATE_INVALID);
}

static void test_sheet_names(void **state) {
        (void) state;
        assert_int_equal(ELEMENTSOF(sheet_names), _SHEET_STATE_MAX);

        for (SheetState s = 0; s < _SHEET_STATE_MAX; s++) {
                assert_string_equal(sheet_state_to_string(s), sheet_names[s]);
                assert_int_equal(sheet_state_from_string(sheet_names[s]), s);
        }

        assert_null(sheet_state_to_string(_SHEET_STATE_MAX));
        assert_null(sheet_state_to_string(_SHEET_STATE_INVALID));
        assert_null(sheet_state_to_string((SheetState) 77));

        assert_int_equal(sheet_state_from_string(NULL), _SHEET_STATE_INVALID);
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++)
                assert_int_equal(sheet_state_from_string(bad_names[i]), _SHEET_STATE_INVALID);
        assert_int_equal(sheet_state_from_string("queued"), _SHEET_STATE_INVALID);
        assert_int_equal(sheet_state_from_string("paused"), _SHEET_STATE_INVALID);
}

static void test_job_predicates(void **state) {
        (void) state;
        static const bool terminal[_JOB_STATE_MAX] = { [JC] = 1, [JF] = 1, [JX] = 1 };
        static const bool active[_JOB_STATE_MAX] = { [JQ] = 1, [JR] = 1, [JA] = 1 };

        for (JobState s = 0; s < _JOB_STATE_MAX; s++) {
                assert_int_equal(job_state_is_terminal(s), terminal[s]);
                assert_int_equal(job_state_is_active(s), active[s]);
        }
        assert_false(job_state_is_terminal(_JOB_STATE_INVALID));
        assert_false(job_state_is_terminal(_JOB_STATE_MAX));
        assert_false(job_state_is_active(_JOB_STATE_INVALID));
        assert_false(job_state_is_active(_JOB_STATE_MAX));
}

static void test_sheet_predicates(void **state) {
        (void) state;
        static const bool terminal[_SHEET_STATE_MAX] = { [SC] = 1, [SF] = 1, [SS] = 1, [SX] = 1 };

        for (SheetState s = 0; s < _SHEET_STATE_MAX; s++)
                assert_int_equal(sheet_state_is_terminal(s), terminal[s]);
        assert_false(sheet_state_is_terminal(_SHEET_STATE_INVALID));
        assert_false(sheet_state_is_terminal(_SHEET_STATE_MAX));
}

static void test_job_matrix(void **state) {
        (void) state;

        for (JobState from = 0; from < _JOB_STATE_MAX; from++)
                for (JobState to = 0; to < _JOB_STATE_MAX; to++) {
                        bool got = job_state_transition_allowed(from, to);
                        if (got != expected_job[from][to])
                                fail_msg("job %s -> %s: got %d, expected %d",
                                         job_names[from], job_names[to], got, expected_job[from][to]);
                }

        /* Terminal states go nowhere, and nothing moves to itself. */
        for (JobState s = 0; s < _JOB_STATE_MAX; s++) {
                assert_false(job_state_transition_allowed(s, s));
                if (job_state_is_terminal(s))
                        for (JobState to = 0; to < _JOB_STATE_MAX; to++)
                                assert_false(job_state_transition_allowed(s, to));
        }

        /* Out of range on either side is never allowed. */
        for (JobState s = 0; s < _JOB_STATE_MAX; s++) {
                assert_false(job_state_transition_allowed(s, _JOB_STATE_INVALID));
                assert_false(job_state_transition_allowed(_JOB_STATE_INVALID, s));
                assert_false(job_state_transition_allowed(s, _JOB_STATE_MAX));
                assert_false(job_state_transition_allowed(_JOB_STATE_MAX, s));
                assert_false(job_state_transition_allowed(s, (JobState) 31));
                assert_false(job_state_transition_allowed(s, (JobState) 32));
                assert_false(job_state_transition_allowed((JobState) 1000, s));
        }
}

static void test_sheet_matrix(void **state) {
        (void) state;

        for (SheetState from = 0; from < _SHEET_STATE_MAX; from++)
                for (SheetState to = 0; to < _SHEET_STATE_MAX; to++) {
                        bool got = sheet_state_transition_allowed(from, to);
                        if (got != expected_sheet[from][to])
                                fail_msg("sheet %s -> %s: got %d, expected %d",
                                         sheet_names[from], sheet_names[to], got, expected_sheet[from][to]);
                }

        for (SheetState s = 0; s < _SHEET_STATE_MAX; s++) {
                assert_false(sheet_state_transition_allowed(s, s));
                if (sheet_state_is_terminal(s))
                        for (SheetState to = 0; to < _SHEET_STATE_MAX; to++)
                                assert_false(sheet_state_transition_allowed(s, to));
        }

        /* A finished sheet is never re-queued: that is what keeps completed
         * sheets from running again after a restart. */
        assert_false(sheet_state_transition_allowed(SHEET_COMPLETED, SHEET_READY));
        assert_false(sheet_state_transition_allowed(SHEET_FAILED, SHEET_READY));
        assert_false(sheet_state_transition_allowed(SHEET_CANCELLED, SHEET_READY));
        /* An interrupted attempt may be re-queued. */
        assert_true(sheet_state_transition_allowed(SHEET_IN_PROGRESS, SHEET_READY));

        for (SheetState s = 0; s < _SHEET_STATE_MAX; s++) {
                assert_false(sheet_state_transition_allowed(s, _SHEET_STATE_INVALID));
                assert_false(sheet_state_transition_allowed(_SHEET_STATE_INVALID, s));
                assert_false(sheet_state_transition_allowed(s, _SHEET_STATE_MAX));
                assert_false(sheet_state_transition_allowed(_SHEET_STATE_MAX, s));
                assert_false(sheet_state_transition_allowed(s, (SheetState) 31));
                assert_false(sheet_state_transition_allowed((SheetState) -2, s));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_job_names),
                cmocka_unit_test(test_sheet_names),
                cmocka_unit_test(test_job_predicates),
                cmocka_unit_test(test_sheet_predicates),
                cmocka_unit_test(test_job_matrix),
                cmocka_unit_test(test_sheet_matrix),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

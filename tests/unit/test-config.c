/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "conductor.h"
#include "config.h"

static int parse(const char *text, ConductorSettings *s, char ***warnings, char **error) {
        return conductor_settings_parse(text, "test.conf", s, warnings, error);
}

static void test_good(void **state) {
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *e = NULL;
        ConductorSettings s;

        (void) state;
        assert_int_equal(parse("# comment\n; another\n\n[Conductor]\nMaxConcurrentSheets = 8\n"
                               "MaxJobsPerUser=100\nExitOnIdleSec=5min\n", &s, &w, &e), 0);
        assert_int_equal(s.max_concurrent_sheets, 8);
        assert_int_equal(s.max_jobs_per_user, 100);
        assert_true(s.exit_on_idle_set);
        assert_int_equal(s.exit_on_idle_usec, 300 * USEC_PER_SEC);
        assert_null(w);

        assert_int_equal(parse("[Conductor]\nExitOnIdleSec=0\n", &s, &w, &e), 0);
        assert_true(s.exit_on_idle_set);
        assert_int_equal(s.exit_on_idle_usec, 0);
        assert_int_equal(parse("[Conductor]\nExitOnIdleSec=2h\n", &s, &w, &e), 0);
        assert_int_equal(s.exit_on_idle_usec, 7200 * USEC_PER_SEC);
        assert_int_equal(parse("", &s, &w, &e), 0);
        assert_int_equal(s.max_concurrent_sheets, 0);
        assert_false(s.exit_on_idle_set);
        assert_false(s.runner_set);
        assert_int_equal(parse("[Conductor]\nRunner=systemd\n", &s, &w, &e), 0);
        assert_true(s.runner_set);
        assert_int_equal(s.runner, RUNNER_CHOICE_SYSTEMD);
        assert_int_equal(parse("[Conductor]\nRunner = local\n", &s, &w, &e), 0);
        assert_int_equal(s.runner, RUNNER_CHOICE_LOCAL);
}

static void test_warnings(void **state) {
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *e = NULL;
        ConductorSettings s;

        (void) state;
        assert_int_equal(parse("MaxJobsPerUser=zero\n[Other]\nX=1\n[Conductor]\nFuture=1\n", &s, &w, &e), 0);
        assert_int_equal(strv_length(w), 4);
        assert_non_null(strstr(w[0], "test.conf:1: MaxJobsPerUser= outside [Conductor]"));
        assert_non_null(strstr(w[1], "test.conf:2: unknown section [Other]"));
        assert_non_null(strstr(w[3], "test.conf:5: unknown key Future"));
        assert_int_equal(s.max_jobs_per_user, 0);
}

static void check_bad(const char *text, const char *needle) {
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *e = NULL;
        ConductorSettings s;

        assert_int_equal(parse(text, &s, &w, &e), -EINVAL);
        assert_non_null(e);
        if (!strstr(e, needle))
                fail_msg("'%s' lacks '%s'", e, needle);
}

static void test_bad(void **state) {
        (void) state;
        check_bad("[Conductor]\nMaxConcurrentSheets=0\n", "test.conf:2: MaxConcurrentSheets=0");
        check_bad("[Conductor]\nRunner=slurm\n", "test.conf:2: Runner=slurm is not valid (auto, local or systemd)");
        check_bad("[Conductor]\nMaxConcurrentSheets=-1\n", "MaxConcurrentSheets=-1");
        check_bad("[Conductor]\nMaxConcurrentSheets=+5\n", "MaxConcurrentSheets=+5");
        check_bad("[Conductor]\nMaxConcurrentSheets=100001\n", "from 1 to 100000");
        check_bad("[Conductor]\nMaxJobsPerUser=5x\n", "MaxJobsPerUser=5x");
        check_bad("[Conductor]\nExitOnIdleSec=5 weeks\n", "ExitOnIdleSec");
        check_bad("[Conductor]\nExitOnIdleSec=300000000h\n", "ExitOnIdleSec");
        check_bad("[Conductor]\nExitOnIdleSec=\n", "ExitOnIdleSec");
        check_bad("[Conductor]\njust words\n", "test.conf:2: expected KEY=VALUE");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_warnings),
                cmocka_unit_test(test_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

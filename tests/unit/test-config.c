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
        assert_int_equal(parse("[Conductor]\nRunner=slurm\n", &s, &w, &e), 0);
        assert_true(s.runner_set);
        assert_int_equal(s.runner, RUNNER_CHOICE_SLURM);
        assert_string_equal(runner_choice_to_string(RUNNER_CHOICE_SLURM), "slurm");
        assert_int_equal(runner_choice_from_string("slurm"), RUNNER_CHOICE_SLURM);
}

static void test_slurm(void **state) {
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *e = NULL;
        _cleanup_(conductor_settings_done) ConductorSettings s = {};

        (void) state;
        assert_int_equal(parse("[Conductor]\nRunner=slurm\n"
                               "[Slurm]\n"
                               "Partition=batch\n"
                               "Time=1:00:00\n"
                               "CPUsPerTask=4\n"
                               "Memory=8G\n"
                               "Nodes=1\n"
                               "Tasks=2\n"
                               "SbatchOption=account=physics\n"
                               "SbatchOption = exclusive\n"
                               "SbatchOption=qos = high\n"
                               "SbatchOption=gres=gpu:1\n"
                               "SbatchOption=account=chemistry\n"     /* replaces, in place */
                               "PreCommand=module load python\n"
                               "PreCommand=export A=1\n"
                               "PostCommand=echo done\n"
                               "PollIntervalSec=5\n"
                               "[Conductor]\nMaxJobsPerUser=7\n", &s, &w, &e), 0);
        assert_null(w);
        assert_null(e);
        assert_int_equal(s.runner, RUNNER_CHOICE_SLURM);
        assert_int_equal(s.max_jobs_per_user, 7);
        assert_string_equal(s.slurm.partition, "batch");
        assert_string_equal(s.slurm.time, "1:00:00");
        assert_int_equal(s.slurm.cpus_per_task, 4);
        assert_string_equal(s.slurm.mem, "8G");
        assert_int_equal(s.slurm.nodes, 1);
        assert_int_equal(s.slurm.ntasks, 2);
        assert_int_equal(s.slurm.n_sbatch_options, 4);
        assert_string_equal(s.slurm.sbatch_options[0].key, "account");
        assert_string_equal(s.slurm.sbatch_options[0].value, "chemistry");
        assert_string_equal(s.slurm.sbatch_options[1].key, "exclusive");
        assert_null(s.slurm.sbatch_options[1].value);
        assert_string_equal(s.slurm.sbatch_options[2].key, "qos");
        assert_string_equal(s.slurm.sbatch_options[2].value, "high");
        assert_string_equal(s.slurm.sbatch_options[3].value, "gpu:1");
        assert_int_equal(strv_length(s.slurm.pre_commands), 2);
        assert_string_equal(s.slurm.pre_commands[0], "module load python");
        assert_string_equal(s.slurm.pre_commands[1], "export A=1");
        assert_int_equal(strv_length(s.slurm.post_commands), 1);
        assert_int_equal(s.slurm_poll_interval_usec, 5 * USEC_PER_SEC);
        conductor_settings_done(&s);
        assert_null(s.slurm.partition);
        assert_int_equal(s.slurm_poll_interval_usec, 0);

        /* an empty value resets a list; a flag can become an option and back */
        assert_int_equal(parse("[Slurm]\nSbatchOption=account=a\nSbatchOption=\nSbatchOption=qos=b\n"
                               "SbatchOption=exclusive\nSbatchOption=exclusive=user\n"
                               "PreCommand=a\nPreCommand=\nPreCommand=b\n"
                               "PostCommand=c\nPostCommand=\n"
                               "PollIntervalSec=500ms\nPartition=p1\nPartition=p2\n", &s, &w, &e), 0);
        assert_int_equal(s.slurm.n_sbatch_options, 2);
        assert_string_equal(s.slurm.sbatch_options[0].key, "qos");
        assert_string_equal(s.slurm.sbatch_options[1].key, "exclusive");
        assert_string_equal(s.slurm.sbatch_options[1].value, "user");
        assert_int_equal(strv_length(s.slurm.pre_commands), 1);
        assert_string_equal(s.slurm.pre_commands[0], "b");
        assert_null(s.slurm.post_commands);
        assert_int_equal(s.slurm_poll_interval_usec, 500 * USEC_PER_MSEC);
        assert_string_equal(s.slurm.partition, "p2");
        conductor_settings_done(&s);

        assert_int_equal(parse("[Slurm]\nPollIntervalSec=2s\n", &s, &w, &e), 0);
        assert_int_equal(s.slurm_poll_interval_usec, 2 * USEC_PER_SEC);
        conductor_settings_done(&s);
        assert_int_equal(parse("[Slurm]\nPollIntervalSec=1min\nTime=2-00:00:00\nMemory=512m\n", &s, &w, &e), 0);
        assert_int_equal(s.slurm_poll_interval_usec, 60 * USEC_PER_SEC);
        assert_string_equal(s.slurm.time, "2-00:00:00");
        conductor_settings_done(&s);

        /* unknown keys in [Slurm] warn; [Conductor] keys do not belong there */
        assert_int_equal(parse("[Slurm]\nAccount=x\nMaxJobsPerUser=3\n", &s, &w, &e), 0);
        assert_int_equal(strv_length(w), 2);
        assert_non_null(strstr(w[0], "test.conf:2: unknown key Account in [Slurm]"));
        assert_non_null(strstr(w[1], "test.conf:3: unknown key MaxJobsPerUser in [Slurm]"));
        assert_int_equal(s.max_jobs_per_user, 0);
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
        check_bad("[Conductor]\nRunner=pbs\n", "test.conf:2: Runner=pbs is not valid (auto, local, systemd or slurm)");
        check_bad("[Conductor]\nMaxConcurrentSheets=-1\n", "MaxConcurrentSheets=-1");
        check_bad("[Conductor]\nMaxConcurrentSheets=+5\n", "MaxConcurrentSheets=+5");
        check_bad("[Conductor]\nMaxConcurrentSheets=100001\n", "from 1 to 100000");
        check_bad("[Conductor]\nMaxJobsPerUser=5x\n", "MaxJobsPerUser=5x");
        check_bad("[Conductor]\nExitOnIdleSec=5 weeks\n", "ExitOnIdleSec");
        check_bad("[Conductor]\nExitOnIdleSec=300000000h\n", "ExitOnIdleSec");
        check_bad("[Conductor]\nExitOnIdleSec=\n", "ExitOnIdleSec");
        check_bad("[Conductor]\njust words\n", "test.conf:2: expected KEY=VALUE");

        check_bad("[Slurm]\nPartition=a b\n", "test.conf:2: Partition=a b is not valid (a partition name");
        check_bad("[Slurm]\nPartition=\n", "test.conf:2: Partition= is not valid");
        check_bad("\n[Slurm]\nTime=1h\n", "test.conf:3: Time=1h is not valid (minutes, MM:SS");
        check_bad("[Slurm]\nTime=1:2:3:4\n", "test.conf:2: Time=1:2:3:4");
        check_bad("[Slurm]\nMemory=4GB\n", "test.conf:2: Memory=4GB is not valid");
        check_bad("[Slurm]\nCPUsPerTask=0\n", "test.conf:2: CPUsPerTask=0 is not valid (a number from 1 to 100000)");
        check_bad("[Slurm]\nNodes=many\n", "test.conf:2: Nodes=many");
        check_bad("[Slurm]\nTasks=100001\n", "test.conf:2: Tasks=100001");
        check_bad("[Slurm]\nSbatchOption=partition=debug\n",
                  "test.conf:2: SbatchOption=partition=debug: 'partition' stands for sbatch's --partition: use Partition= instead");
        check_bad("[Slurm]\nSbatchOption=cpus_per_task=2\n", "use CPUsPerTask= instead");
        check_bad("[Slurm]\nSbatchOption=mem=2G\n", "use Memory= instead");
        check_bad("[Slurm]\nSbatchOption=n=2\n", "use Tasks= instead");
        check_bad("[Slurm]\nSbatchOption=J=x\n", "test.conf:2: SbatchOption=J=x: 'J' stands for sbatch's --job-name, which the runner sets itself");
        check_bad("[Slurm]\nSbatchOption=parsable\n", "which the runner sets itself");
        check_bad("[Slurm]\nSbatchOption=--account=x\n", "test.conf:2: SbatchOption=--account=x is not valid (KEY=VALUE");
        check_bad("[Slurm]\nSbatchOption=A=x\n", "SbatchOption=A=x is not valid");
        check_bad("[Slurm]\nSbatchOption=account=\n", "test.conf:2: SbatchOption=account= is not valid (the value goes on an #SBATCH line");
        check_bad("[Slurm]\nSbatchOption=account=a'b\n", "#SBATCH line");
        check_bad("[Slurm]\nSbatchOption=account=a b\n", "#SBATCH line");
        check_bad("[Slurm]\nSbatchOption==x\n", "SbatchOption==x is not valid");
        check_bad("[Slurm]\nPollIntervalSec=0\n", "test.conf:2: PollIntervalSec=0 is not valid (from 100ms to 1h");
        check_bad("[Slurm]\nPollIntervalSec=50ms\n", "PollIntervalSec=50ms");
        check_bad("[Slurm]\nPollIntervalSec=2h\n", "PollIntervalSec=2h");
        check_bad("[Slurm]\nPollIntervalSec=fast\n", "PollIntervalSec=fast");
        check_bad("[Slurm]\nPollIntervalSec=\n", "PollIntervalSec=");
}

static void test_slurm_limits(void **state) {
        _cleanup_free_ char *text = strdup("[Slurm]\n"), *cmd = NULL, *text2 = NULL;

        (void) state;
        assert_non_null(text);
        for (unsigned i = 0; i <= SLURM_COMMANDS_MAX; i++)
                assert_int_equal(strextend(&text, "PreCommand=x\n"), 0);
        check_bad(text, "PreCommand=: at most 64 commands");

        cmd = calloc(SLURM_COMMAND_MAX + 2, 1);
        assert_non_null(cmd);
        memset(cmd, 'x', SLURM_COMMAND_MAX + 1);
        text2 = strdup_printf("[Slurm]\nPostCommand=%s\n", cmd);
        assert_non_null(text2);
        check_bad(text2, "test.conf:2: PostCommand= is too long");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_warnings),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_slurm),
                cmocka_unit_test(test_slurm_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "score.h"

/* The score's runner: block, the Slurm checks it shares with the
 * conductor's [Slurm] section, and how score and defaults combine. */

#define SRC "f.yaml"
#define HEAD "name: t\nsheet:\n  size: 1\n  total_items: 3\n"

static Score *parse_ok(const char *yaml) {
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        Score *s = NULL;
        int r;

        r = score_parse_string_full(yaml, strlen(yaml), SRC, "/base", NULL, &s, &d);
        if (r < 0)
                fail_msg("unexpected failure %d: %s\n--- input:\n%s", r, strna(d.message), yaml);
        return s;
}

/* code, key, a piece of the message, and the place (0 = not checked) */
static void parse_bad_at(const char *yaml, ScoreCode code, const char *key, const char *what,
                         unsigned line, unsigned column) {
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        _cleanup_free_ char *text = NULL;
        Score *s = NULL;
        int r;

        r = score_parse_string_full(yaml, strlen(yaml), SRC, "/base", NULL, &s, &d);
        if (r >= 0) {
                score_free(s);
                fail_msg("unexpected success:\n%s", yaml);
        }
        assert_int_equal(r, -EINVAL);
        text = score_diagnostic_format(&d);
        if (d.code != code)
                fail_msg("expected %s, got %s: %s", score_code_to_string(code), score_code_to_string(d.code), strna(text));
        if (key && !streq_ptr(d.key, key))
                fail_msg("expected key %s, got %s: %s", key, strna(d.key), strna(text));
        if (what && !strstr(strna(text), what))
                fail_msg("expected '%s' in: %s", what, strna(text));
        if (line > 0 && (d.line != line || d.column != column))
                fail_msg("expected %u:%u, got %u:%u: %s", line, column, d.line, d.column, strna(text));
        /* a diagnostic always points somewhere in the file */
        if (d.line == 0)
                fail_msg("no line: %s", strna(text));
}

static void parse_bad(const char *yaml, ScoreCode code, const char *key, const char *what) {
        parse_bad_at(yaml, code, key, what, 0, 0);
}

static void test_type_names(void **state) {
        (void) state;
        assert_string_equal(score_runner_type_to_string(SCORE_RUNNER_DEFAULT), "default");
        assert_string_equal(score_runner_type_to_string(SCORE_RUNNER_SLURM), "slurm");
        assert_null(score_runner_type_to_string(_SCORE_RUNNER_TYPE_MAX));
        assert_int_equal(score_runner_type_from_string("local"), SCORE_RUNNER_LOCAL);
        assert_int_equal(score_runner_type_from_string("systemd"), SCORE_RUNNER_SYSTEMD);
        assert_int_equal(score_runner_type_from_string("slurm"), SCORE_RUNNER_SLURM);
        assert_int_equal(score_runner_type_from_string("default"), SCORE_RUNNER_DEFAULT);
        assert_int_equal(score_runner_type_from_string("Slurm"), -EINVAL);
        assert_int_equal(score_runner_type_from_string(NULL), -EINVAL);
}

static void test_full_block(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        const ScoreSlurm *sl;

        (void) state;
        s = parse_ok(HEAD
                     "runner:\n"
                     "  type: slurm\n"
                     "  partition: debug\n"
                     "  time: 1:30:00\n"
                     "  cpus_per_task: 4\n"
                     "  mem: 4G\n"
                     "  nodes: 1\n"
                     "  ntasks: 2\n"
                     "  sbatch_options:\n"
                     "    account: physics\n"
                     "    exclusive: true\n"
                     "    requeue: ~\n"
                     "    overcommit: false\n"
                     "    qos: high\n"
                     "    gres: gpu:2\n"
                     "    nice: 10\n"
                     "    mail-type: END,FAIL\n"
                     "  pre_commands: [\"module load python\", \"export A=1\"]\n"
                     "  post_commands: echo done\n");
        assert_int_equal(s->runner.type, SCORE_RUNNER_SLURM);
        sl = &s->runner.slurm;
        assert_string_equal(sl->partition, "debug");
        assert_string_equal(sl->time, "1:30:00");
        assert_int_equal(sl->cpus_per_task, 4);
        assert_string_equal(sl->mem, "4G");
        assert_int_equal(sl->nodes, 1);
        assert_int_equal(sl->ntasks, 2);

        /* in the order written, false ones left out */
        assert_int_equal(sl->n_sbatch_options, 7);
        assert_string_equal(sl->sbatch_options[0].key, "account");
        assert_string_equal(sl->sbatch_options[0].value, "physics");
        assert_string_equal(sl->sbatch_options[1].key, "exclusive");
        assert_null(sl->sbatch_options[1].value);
        assert_string_equal(sl->sbatch_options[2].key, "requeue");
        assert_null(sl->sbatch_options[2].value);
        assert_string_equal(sl->sbatch_options[3].key, "qos");
        assert_string_equal(sl->sbatch_options[3].value, "high");
        assert_string_equal(sl->sbatch_options[4].value, "gpu:2");
        assert_string_equal(sl->sbatch_options[5].value, "10");
        assert_string_equal(sl->sbatch_options[6].key, "mail-type");
        assert_string_equal(sl->sbatch_options[6].value, "END,FAIL");
        assert_int_equal(strv_length(sl->sbatch_options_off), 1);
        assert_string_equal(sl->sbatch_options_off[0], "overcommit");

        assert_int_equal(strv_length(sl->pre_commands), 2);
        assert_string_equal(sl->pre_commands[0], "module load python");
        assert_string_equal(sl->pre_commands[1], "export A=1");
        assert_int_equal(strv_length(sl->post_commands), 1);
        assert_string_equal(sl->post_commands[0], "echo done");
        assert_null(s->warnings);
}

static void test_minimal_and_other_types(void **state) {
        _cleanup_score_free_ Score *none = NULL, *slurm = NULL, *local = NULL, *systemd = NULL, *quoted = NULL;

        (void) state;
        none = parse_ok(HEAD);
        assert_int_equal(none->runner.type, SCORE_RUNNER_DEFAULT);
        assert_null(none->runner.slurm.partition);

        /* everything from the conductor's defaults */
        slurm = parse_ok(HEAD "runner: {type: slurm}\n");
        assert_int_equal(slurm->runner.type, SCORE_RUNNER_SLURM);
        assert_null(slurm->runner.slurm.partition);
        assert_null(slurm->runner.slurm.time);
        assert_int_equal(slurm->runner.slurm.cpus_per_task, 0);
        assert_int_equal(slurm->runner.slurm.n_sbatch_options, 0);
        assert_null(slurm->runner.slurm.pre_commands);
        assert_null(slurm->runner.slurm.post_commands);
        assert_null(slurm->warnings);

        local = parse_ok(HEAD "runner:\n  type: local\n  partition: ~\n");
        assert_int_equal(local->runner.type, SCORE_RUNNER_LOCAL);
        systemd = parse_ok(HEAD "runner:\n  type: systemd\n");
        assert_int_equal(systemd->runner.type, SCORE_RUNNER_SYSTEMD);

        /* every Slurm time form; numbers as text; an empty list is not "unset" */
        quoted = parse_ok(HEAD "runner:\n  type: slurm\n  time: \"2-12:00:00\"\n  mem: 512m\n"
                          "  partition: gpu.a100,gpu-h100\n  pre_commands: []\n");
        assert_string_equal(quoted->runner.slurm.time, "2-12:00:00");
        assert_string_equal(quoted->runner.slurm.mem, "512m");
        assert_string_equal(quoted->runner.slurm.partition, "gpu.a100,gpu-h100");
        assert_non_null(quoted->runner.slurm.pre_commands);
        assert_int_equal(strv_length(quoted->runner.slurm.pre_commands), 0);
}

static void test_errors(void **state) {
        _cleanup_free_ char *many = NULL, *long_cmd = NULL, *big = NULL;

        (void) state;
        /* structure */
        parse_bad(HEAD "runner: slurm\n", SCORE_E_WRONG_TYPE, "runner", "expected a mapping");
        parse_bad(HEAD "runner: {}\n", SCORE_E_MISSING_KEY, "runner.type", "required key is missing");
        parse_bad(HEAD "runner: {partition: debug}\n", SCORE_E_MISSING_KEY, "runner.type", NULL);
        parse_bad(HEAD "runner: {type: pbs}\n", SCORE_E_BAD_VALUE, "runner.type",
                  "unknown runner type 'pbs'; expected local, systemd or slurm");
        parse_bad(HEAD "runner: {type: default}\n", SCORE_E_BAD_VALUE, "runner.type", "'default'");
        parse_bad(HEAD "runner: {type: [slurm]}\n", SCORE_E_WRONG_TYPE, "runner.type", NULL);
        parse_bad_at(HEAD "runner:\n  type: slurm\n  partiton: debug\n", SCORE_E_UNKNOWN_KEY,
                     "runner.partiton", "unknown key in runner", 7, 3);

        /* Slurm fields under another type */
        parse_bad_at(HEAD "runner:\n  type: local\n  partition: debug\n", SCORE_E_BAD_VALUE,
                     "runner.partition", "only for type: slurm, not type: local", 7, 3);
        parse_bad(HEAD "runner:\n  type: systemd\n  sbatch_options: {account: x}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options", "only for type: slurm");
        parse_bad(HEAD "runner:\n  type: systemd\n  pre_commands: [x]\n", SCORE_E_BAD_VALUE,
                  "runner.pre_commands", "only for type: slurm");

        /* values */
        parse_bad_at(HEAD "runner:\n  type: slurm\n  time: 1h\n", SCORE_E_BAD_VALUE, "runner.time",
                     "expected a Slurm time limit", 7, 9);
        parse_bad(HEAD "runner: {type: slurm, time: \"1:2:3:4\"}\n", SCORE_E_BAD_VALUE, "runner.time", "'1:2:3:4'");
        parse_bad(HEAD "runner: {type: slurm, time: \"1-2-3\"}\n", SCORE_E_BAD_VALUE, "runner.time", NULL);
        parse_bad(HEAD "runner: {type: slurm, time: \"1::00\"}\n", SCORE_E_BAD_VALUE, "runner.time", NULL);
        parse_bad(HEAD "runner: {type: slurm, time: \"-1\"}\n", SCORE_E_BAD_VALUE, "runner.time", NULL);
        parse_bad(HEAD "runner: {type: slurm, time: [30]}\n", SCORE_E_WRONG_TYPE, "runner.time", NULL);
        parse_bad(HEAD "runner: {type: slurm, mem: 4GB}\n", SCORE_E_BAD_VALUE, "runner.mem", "memory size");
        parse_bad(HEAD "runner: {type: slurm, mem: 1.5G}\n", SCORE_E_BAD_VALUE, "runner.mem", NULL);
        parse_bad(HEAD "runner: {type: slurm, mem: G}\n", SCORE_E_BAD_VALUE, "runner.mem", NULL);
        parse_bad(HEAD "runner: {type: slurm, partition: \"a b\"}\n", SCORE_E_BAD_VALUE, "runner.partition",
                  "partition name");
        parse_bad(HEAD "runner: {type: slurm, partition: \"a'b\"}\n", SCORE_E_BAD_VALUE, "runner.partition", NULL);
        parse_bad(HEAD "runner: {type: slurm, partition: \"\"}\n", SCORE_E_WRONG_TYPE, "runner.partition", NULL);
        parse_bad(HEAD "runner: {type: slurm, cpus_per_task: 0}\n", SCORE_E_BAD_VALUE, "runner.cpus_per_task",
                  "from 1 to 100000");
        parse_bad(HEAD "runner: {type: slurm, nodes: 100001}\n", SCORE_E_BAD_VALUE, "runner.nodes", NULL);
        parse_bad(HEAD "runner: {type: slurm, ntasks: two}\n", SCORE_E_WRONG_TYPE, "runner.ntasks", NULL);
        parse_bad(HEAD "runner: {type: slurm, ntasks: -1}\n", SCORE_E_WRONG_TYPE, "runner.ntasks", NULL);

        /* sbatch_options */
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: [account]}\n", SCORE_E_WRONG_TYPE,
                  "runner.sbatch_options", "expected a mapping");
        parse_bad_at(HEAD "runner:\n  type: slurm\n  sbatch_options:\n    partition: debug\n", SCORE_E_BAD_VALUE,
                     "runner.sbatch_options.partition", "use runner.partition instead", 8, 5);
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {time: 10}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.time", "use runner.time instead");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {cpus_per_task: 2}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.cpus_per_task", "--cpus-per-task: use runner.cpus_per_task");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {c: 2}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.c", "use runner.cpus_per_task");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {N: 2}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.N", "use runner.nodes");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {J: x}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.J", "--job-name, which the runner sets itself");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {job_name: x}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.job_name", "the runner sets itself");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {output: x}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.output", "the runner sets itself");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {wrap: x}}\n", SCORE_E_BAD_VALUE, NULL, "itself");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {parsable: true}}\n", SCORE_E_BAD_VALUE, NULL, "itself");
        /* sbatch would take an abbreviation for the long option */
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {part: debug}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.part", "--partition: use runner.partition");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {\"--account\": x}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.--account", "without the leading --");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {\"acc ount\": x}}\n", SCORE_E_BAD_VALUE, NULL,
                  "not an option name");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {A: x}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.A", "one-letter option");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: x}}\n",
                  SCORE_E_BAD_VALUE, NULL, "at most 64 characters");
        parse_bad_at(HEAD "runner:\n  type: slurm\n  sbatch_options:\n    account: \"a b\"\n", SCORE_E_BAD_VALUE,
                     "runner.sbatch_options.account", "#SBATCH line", 8, 14);
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {account: \"a\\\"b\"}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.account", "quotes");
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {account: \"a\\\\b\"}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.account", NULL);
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {account: \"a\\tb\"}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.account", NULL);
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {account: \"\"}}\n", SCORE_E_BAD_VALUE,
                  "runner.sbatch_options.account", NULL);
        parse_bad(HEAD "runner: {type: slurm, sbatch_options: {account: [a]}}\n", SCORE_E_WRONG_TYPE,
                  "runner.sbatch_options.account", NULL);

        /* commands */
        parse_bad(HEAD "runner: {type: slurm, pre_commands: {a: b}}\n", SCORE_E_WRONG_TYPE,
                  "runner.pre_commands", NULL);
        parse_bad(HEAD "runner: {type: slurm, post_commands: [echo, [x]]}\n", SCORE_E_WRONG_TYPE,
                  "runner.post_commands[1]", NULL);
        parse_bad(HEAD "runner: {type: slurm, post_commands: [\"\"]}\n", SCORE_E_WRONG_TYPE,
                  "runner.post_commands[0]", NULL);
        parse_bad(HEAD "runner: {type: slurm, pre_commands: [\"a\\0b\"]}\n", SCORE_E_BAD_VALUE,
                  "runner.pre_commands[0]", "NUL");

        many = strdup(HEAD "runner:\n  type: slurm\n  pre_commands:\n");
        assert_non_null(many);
        for (unsigned i = 0; i < SLURM_COMMANDS_MAX + 1; i++)
                assert_int_equal(strextend(&many, "    - x\n"), 0);
        parse_bad(many, SCORE_E_BAD_VALUE, "runner.pre_commands", "at most 64 commands");

        long_cmd = calloc(SLURM_COMMAND_MAX + 2, 1);
        assert_non_null(long_cmd);
        memset(long_cmd, 'x', SLURM_COMMAND_MAX + 1);
        big = strdup_printf(HEAD "runner:\n  type: slurm\n  post_commands:\n    - echo\n    - %s\n", long_cmd);
        assert_non_null(big);
        parse_bad_at(big, SCORE_E_BAD_VALUE, "runner.post_commands[1]", "at most 4096 bytes", 9, 7);
}

static void test_checks(void **state) {
        (void) state;
        static const char *const good_times[] = {
                "30", "0", "30:00", "1:30:00", "2-0", "2-12", "2-12:30", "2-12:30:00", "100000",
        };
        static const char *const bad_times[] = {
                "", "1h", "1:2:3:4", "-1", "1-", "1--2", "1-2-3", "1-2:3:4:5", ":30", "30:", "1 0",
                "1234567890", "UNLIMITED",
        };
        for (size_t i = 0; i < ELEMENTSOF(good_times); i++)
                if (!slurm_time_valid(good_times[i]))
                        fail_msg("'%s' refused", good_times[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad_times); i++)
                if (slurm_time_valid(bad_times[i]))
                        fail_msg("'%s' accepted", bad_times[i]);
        assert_false(slurm_time_valid(NULL));

        assert_true(slurm_mem_valid("4096"));
        assert_true(slurm_mem_valid("4G"));
        assert_true(slurm_mem_valid("4g"));
        assert_true(slurm_mem_valid("500M"));
        assert_true(slurm_mem_valid("1T"));
        assert_true(slurm_mem_valid("64k"));
        assert_false(slurm_mem_valid("4GB"));
        assert_false(slurm_mem_valid("G"));
        assert_false(slurm_mem_valid(""));
        assert_false(slurm_mem_valid("4P"));
        assert_false(slurm_mem_valid("-4G"));
        assert_false(slurm_mem_valid(NULL));

        assert_true(slurm_partition_valid("debug"));
        assert_true(slurm_partition_valid("gpu_a100,cpu.big-1"));
        assert_false(slurm_partition_valid("a b"));
        assert_false(slurm_partition_valid("a:b"));
        assert_false(slurm_partition_valid(""));

        assert_true(slurm_option_key_valid("account"));
        assert_true(slurm_option_key_valid("mail-type"));
        assert_true(slurm_option_key_valid("mail_type"));
        assert_true(slurm_option_key_valid("A"));
        assert_false(slurm_option_key_valid("-account"));
        assert_false(slurm_option_key_valid("_x"));
        assert_false(slurm_option_key_valid("a=b"));
        assert_false(slurm_option_key_valid("a.b"));
        assert_false(slurm_option_key_valid(""));

        assert_true(slurm_value_valid("physics"));
        assert_true(slurm_value_valid("gpu:2,tmp=10G"));
        assert_false(slurm_value_valid(""));
        assert_false(slurm_value_valid("a b"));
        assert_false(slurm_value_valid("a\"b"));
        assert_false(slurm_value_valid("a'b"));
        assert_false(slurm_value_valid("a\\b"));
        assert_false(slurm_value_valid("a\nb"));
        assert_false(slurm_value_valid("a\x7f"));

        assert_true(slurm_command_valid("module load python"));
        assert_false(slurm_command_valid(""));

        /* long, short and underscore spellings, and abbreviations */
        static const char *const dedicated[] = {
                "job-name", "J", "comment", "output", "o", "error", "e", "chdir", "D", "time", "t",
                "partition", "p", "cpus-per-task", "c", "mem", "nodes", "N", "ntasks", "n", "parsable",
                "wrap", "input", "i", "cpus_per_task", "job_name", "part", "cpus", "node", "ntask",
        };
        static const char *const free_keys[] = {
                "account", "qos", "exclusive", "mem-per-cpu", "ntasks-per-node", "nodelist", "gres",
                "time-min", "A", "q", "P", "j", "partitions", "error-file", "constraint",
        };
        for (size_t i = 0; i < ELEMENTSOF(dedicated); i++)
                if (!score_slurm_option_dedicated(dedicated[i]))
                        fail_msg("'%s' is not dedicated", dedicated[i]);
        for (size_t i = 0; i < ELEMENTSOF(free_keys); i++)
                if (score_slurm_option_dedicated(free_keys[i]))
                        fail_msg("'%s' is dedicated", free_keys[i]);
        assert_false(score_slurm_option_dedicated(""));
        assert_false(score_slurm_option_dedicated(NULL));
        assert_string_equal(slurm_option_dedicated_find("c")->score_field, "cpus_per_task");
        assert_null(slurm_option_dedicated_find("Tasks"));
        assert_string_equal(slurm_option_dedicated_find("ntasks")->config_key, "Tasks");
        assert_null(slurm_option_dedicated_find("wrap")->score_field);
}

static void add_option(ScoreSlurm *s, const char *key, const char *value) {
        ScoreSlurmOption *o = reallocarray(s->sbatch_options, s->n_sbatch_options + 1, sizeof(ScoreSlurmOption));

        assert_non_null(o);
        s->sbatch_options = o;
        o[s->n_sbatch_options++] = (ScoreSlurmOption) {
                .key = strdup(key),
                .value = value ? strdup(value) : NULL,
        };
}

static void test_merge(void **state) {
        _cleanup_(score_slurm_done) ScoreSlurm defaults = {}, dst = {}, copy = {}, empty = {}, e2 = {};

        (void) state;
        defaults.partition = strdup("batch");
        defaults.time = strdup("60");
        defaults.mem = strdup("8G");
        defaults.cpus_per_task = 8;
        defaults.nodes = 2;
        defaults.ntasks = 3;
        add_option(&defaults, "account", "default-acct");
        add_option(&defaults, "qos", "normal");
        add_option(&defaults, "exclusive", NULL);
        add_option(&defaults, "requeue", NULL);
        assert_int_equal(strv_extend(&defaults.pre_commands, "module load default"), 0);
        assert_int_equal(strv_extend(&defaults.post_commands, "echo default"), 0);

        dst.partition = strdup("debug");
        dst.cpus_per_task = 2;
        add_option(&dst, "account", "physics");
        add_option(&dst, "gres", "gpu:1");
        assert_int_equal(strv_extend(&dst.sbatch_options_off, "exclusive"), 0);
        dst.post_commands = calloc(1, sizeof(char *));  /* [] in the score: none, not the defaults' */
        assert_non_null(dst.post_commands);

        assert_int_equal(score_slurm_merge(&dst, &defaults), 0);
        assert_string_equal(dst.partition, "debug");
        assert_string_equal(dst.time, "60");
        assert_string_equal(dst.mem, "8G");
        assert_int_equal(dst.cpus_per_task, 2);
        assert_int_equal(dst.nodes, 2);
        assert_int_equal(dst.ntasks, 3);
        /* dst's keys first and winning, then the defaults' others; exclusive switched off */
        assert_int_equal(dst.n_sbatch_options, 4);
        assert_string_equal(dst.sbatch_options[0].key, "account");
        assert_string_equal(dst.sbatch_options[0].value, "physics");
        assert_string_equal(dst.sbatch_options[1].key, "gres");
        assert_string_equal(dst.sbatch_options[2].key, "qos");
        assert_string_equal(dst.sbatch_options[2].value, "normal");
        assert_string_equal(dst.sbatch_options[3].key, "requeue");
        assert_null(dst.sbatch_options[3].value);
        /* the lists as a whole */
        assert_int_equal(strv_length(dst.pre_commands), 1);
        assert_string_equal(dst.pre_commands[0], "module load default");
        assert_non_null(dst.post_commands);
        assert_int_equal(strv_length(dst.post_commands), 0);

        /* merging again changes nothing */
        assert_int_equal(score_slurm_merge(&dst, &defaults), 0);
        assert_int_equal(dst.n_sbatch_options, 4);

        /* copy: deep, NULL and empty lists kept apart */
        assert_int_equal(score_slurm_copy(&dst, &copy), 0);
        assert_ptr_not_equal(copy.partition, dst.partition);
        assert_string_equal(copy.partition, "debug");
        assert_int_equal(copy.n_sbatch_options, 4);
        assert_string_equal(copy.sbatch_options[2].value, "normal");
        assert_null(copy.sbatch_options[3].value);
        assert_non_null(copy.post_commands);
        assert_int_equal(strv_length(copy.post_commands), 0);
        assert_string_equal(copy.sbatch_options_off[0], "exclusive");
        assert_int_equal(copy.cpus_per_task, 2);

        assert_int_equal(score_slurm_copy(&empty, &e2), 0);
        assert_null(e2.partition);
        assert_null(e2.pre_commands);
        assert_null(e2.sbatch_options);
        /* nothing under nothing */
        assert_int_equal(score_slurm_merge(&e2, &empty), 0);
        assert_int_equal(e2.n_sbatch_options, 0);
        assert_null(e2.post_commands);
        assert_int_equal(score_slurm_merge(&e2, NULL), 0);
        /* everything from the defaults */
        assert_int_equal(score_slurm_merge(&e2, &defaults), 0);
        assert_string_equal(e2.partition, "batch");
        assert_int_equal(e2.n_sbatch_options, 4);
        assert_string_equal(e2.sbatch_options[0].value, "default-acct");
        assert_string_equal(e2.post_commands[0], "echo default");
}

static void test_merge_parsed(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_(score_slurm_done) ScoreSlurm defaults = {};

        (void) state;
        s = parse_ok(HEAD "runner:\n  type: slurm\n  time: 10\n"
                     "  sbatch_options: {exclusive: false, qos: high}\n");
        defaults.time = strdup("60");
        defaults.partition = strdup("batch");
        add_option(&defaults, "exclusive", NULL);
        add_option(&defaults, "qos", "normal");
        add_option(&defaults, "account", "a");
        assert_int_equal(score_slurm_merge(&s->runner.slurm, &defaults), 0);
        assert_string_equal(s->runner.slurm.time, "10");
        assert_string_equal(s->runner.slurm.partition, "batch");
        assert_int_equal(s->runner.slurm.n_sbatch_options, 2);
        assert_string_equal(s->runner.slurm.sbatch_options[0].key, "qos");
        assert_string_equal(s->runner.slurm.sbatch_options[0].value, "high");
        assert_string_equal(s->runner.slurm.sbatch_options[1].key, "account");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_names),
                cmocka_unit_test(test_full_block),
                cmocka_unit_test(test_minimal_and_other_types),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_checks),
                cmocka_unit_test(test_merge),
                cmocka_unit_test(test_merge_parsed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

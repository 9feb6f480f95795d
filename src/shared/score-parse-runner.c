/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The runner: block: which runner plays the score's sheets, and for
 * Slurm the batch settings of every attempt (over the conductor's
 * [Slurm] defaults, which score_slurm_merge() lays under them later). */

#include "score-parse-internal.h"

static int get_slurm_string(Ctx *c, const Node *n, const char *key, bool (*valid)(const char *),
                            const char *expected, char **ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = get_string(c, n, key, false, &v);
        if (r < 0)
                return r;
        if (!valid(v))
                return fail_code(c, SCORE_E_BAD_VALUE, n, key, -EINVAL, "expected %s, got '%s'", expected, v);
        free(*ret);
        *ret = TAKE_PTR(v);
        return 0;
}

static int get_slurm_count(Ctx *c, const Node *n, const char *key, unsigned *ret) {
        uint64_t v;
        int r;

        r = get_uint64_range(c, n, key, 1, SLURM_COUNT_MAX, &v);
        if (r < 0)
                return r;
        *ret = (unsigned) v;
        return 0;
}

static int get_slurm_commands(Ctx *c, const Node *n, const char *key, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t i = 0;
        int r;

        r = get_string_list(c, n, key, &l);
        if (r < 0)
                return r;
        if (strv_length(l) > SLURM_COMMANDS_MAX)
                return fail_code(c, SCORE_E_BAD_VALUE, n, key, -EINVAL, "at most %u commands, got %zu",
                                 SLURM_COMMANDS_MAX, strv_length(l));
        STRV_FOREACH(cmd, l) {
                if (strlen(*cmd) > SLURM_COMMAND_MAX) {
                        _cleanup_free_ char *k = n->type == NODE_SEQUENCE ? strdup_printf("%s[%zu]", key, i) : strdup(key);

                        if (!k)
                                return -ENOMEM;
                        return fail_code(c, SCORE_E_BAD_VALUE, n->type == NODE_SEQUENCE ? n->items[i] : n, k,
                                         -EINVAL, "a command may have at most %u bytes, got %zu",
                                         SLURM_COMMAND_MAX, strlen(*cmd));
                }
                i++;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int option_key_check(Ctx *c, const Node *k, const char *path) {
        const SlurmDedicatedOption *d;

        if (strlen(k->scalar) != k->len)
                return fail_code(c, SCORE_E_BAD_VALUE, k, path, -EINVAL, "option name contains a NUL byte");
        d = slurm_option_dedicated_find(k->scalar);
        if (d && d->score_field)
                return fail_code(c, SCORE_E_BAD_VALUE, k, path, -EINVAL,
                                 "'%s' stands for sbatch's --%s: use runner.%s instead",
                                 k->scalar, d->option, d->score_field);
        if (d)
                return fail_code(c, SCORE_E_BAD_VALUE, k, path, -EINVAL,
                                 "'%s' stands for sbatch's --%s, which the runner sets itself or cannot follow",
                                 k->scalar, d->option);
        if (!slurm_option_key_valid(k->scalar))
                return fail_code(c, SCORE_E_BAD_VALUE, k, path, -EINVAL,
                                 "'%s' is not an option name: expected sbatch's long option without the "
                                 "leading --, letters, digits, '-' and '_', starting with a letter or digit, "
                                 "at most %u characters", k->scalar, SLURM_OPTION_KEY_MAX);
        if (k->len == 1)
                return fail_code(c, SCORE_E_BAD_VALUE, k, path, -EINVAL,
                                 "'%s' is a one-letter option: use sbatch's long option name", k->scalar);
        return 0;
}

static int parse_sbatch_options(Ctx *c, const Node *m, ScoreSlurm *slurm) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = expect_type(c, m, "runner.sbatch_options", NODE_MAPPING);
        if (r < 0)
                return r;
        if (m->n_items / 2 > SLURM_OPTIONS_MAX)
                return fail_code(c, SCORE_E_BAD_VALUE, m, "runner.sbatch_options", -EINVAL,
                                 "at most %u options, got %zu", SLURM_OPTIONS_MAX, m->n_items / 2);

        slurm->sbatch_options = calloc(m->n_items / 2 + 1, sizeof(ScoreSlurmOption));
        if (!slurm->sbatch_options)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *v = m->items[i + 1];
                _cleanup_free_ char *value = NULL, *key = NULL;

                SUBKEY(path, "runner.sbatch_options", k->scalar);
                r = option_key_check(c, k, path);
                if (r < 0)
                        return r;
                r = expect_type(c, v, path, NODE_SCALAR);
                if (r < 0)
                        return r;

                key = strdup(k->scalar);
                if (!key)
                        return -ENOMEM;
                if (v->plain && streq(v->scalar, "false")) {
                        /* switched off: not taken from the conductor's defaults either */
                        if (strv_push(&slurm->sbatch_options_off, TAKE_PTR(key)) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!node_is_null(v) && !(v->plain && streq(v->scalar, "true"))) {
                        if (strlen(v->scalar) != v->len || !slurm_value_valid(v->scalar))
                                return fail_code(c, SCORE_E_BAD_VALUE, v, path, -EINVAL,
                                                 "expected a value for an #SBATCH line: not empty, without "
                                                 "whitespace, quotes, backslashes or control characters, "
                                                 "at most %u bytes (null or true for a flag, false to leave "
                                                 "the option out)", SLURM_VALUE_MAX);
                        value = strdup(v->scalar);
                        if (!value)
                                return -ENOMEM;
                }
                slurm->sbatch_options[slurm->n_sbatch_options++] = (ScoreSlurmOption) {
                        .key = TAKE_PTR(key),
                        .value = TAKE_PTR(value),
                };
        }
        return 0;
}

int parse_runner(Ctx *c, const Node *m) {
        ScoreRunner *runner = &c->score->runner;
        ScoreSlurm *slurm = &runner->slurm;
        const Node *type = NULL, *partition = NULL, *time_limit = NULL, *cpus = NULL, *mem = NULL,
                *nodes = NULL, *ntasks = NULL, *options = NULL, *pre = NULL, *post = NULL;
        const Node *partition_key = NULL, *time_key = NULL, *cpus_key = NULL, *mem_key = NULL,
                *nodes_key = NULL, *ntasks_key = NULL, *options_key = NULL, *pre_key = NULL, *post_key = NULL;
        const KeySlot slots[] = {
                { "type", &type, NULL },
                { "partition", &partition, &partition_key },
                { "time", &time_limit, &time_key },
                { "cpus_per_task", &cpus, &cpus_key },
                { "mem", &mem, &mem_key },
                { "nodes", &nodes, &nodes_key },
                { "ntasks", &ntasks, &ntasks_key },
                { "sbatch_options", &options, &options_key },
                { "pre_commands", &pre, &pre_key },
                { "post_commands", &post, &post_key },
                {}
        };
        _cleanup_free_ char *t = NULL;
        int r;

        r = collect_mapping(c, m, "runner", slots, NULL, false);
        if (r < 0)
                return r;

        if (!type)
                return fail(c, m, "runner.type", -EINVAL, "required key is missing");
        r = get_string(c, type, "runner.type", false, &t);
        if (r < 0)
                return r;
        r = score_runner_type_from_string(t);
        if (r < 0 || r == SCORE_RUNNER_DEFAULT)
                return fail_code(c, SCORE_E_BAD_VALUE, type, "runner.type", -EINVAL,
                                 "unknown runner type '%s'; expected local, systemd or slurm", t);
        runner->type = r;

        if (runner->type != SCORE_RUNNER_SLURM) {
                const struct {
                        const Node *value, *key;
                        const char *name;
                } slurm_only[] = {
                        { partition, partition_key, "partition" },
                        { time_limit, time_key, "time" },
                        { cpus, cpus_key, "cpus_per_task" },
                        { mem, mem_key, "mem" },
                        { nodes, nodes_key, "nodes" },
                        { ntasks, ntasks_key, "ntasks" },
                        { options, options_key, "sbatch_options" },
                        { pre, pre_key, "pre_commands" },
                        { post, post_key, "post_commands" },
                };

                for (size_t i = 0; i < ELEMENTSOF(slurm_only); i++) {
                        _cleanup_free_ char *key = NULL;

                        if (!slurm_only[i].value)
                                continue;
                        key = key_path("runner", slurm_only[i].name);
                        if (!key)
                                return -ENOMEM;
                        return fail_code(c, SCORE_E_BAD_VALUE, slurm_only[i].key, key, -EINVAL,
                                         "only for type: slurm, not type: %s", t);
                }
                return 0;
        }

        if (partition && (r = get_slurm_string(c, partition, "runner.partition", slurm_partition_valid,
                                               "a Slurm partition name: letters, digits, '_', '.', ',' and '-'",
                                               &slurm->partition)) < 0)
                return r;
        if (time_limit && (r = get_slurm_string(c, time_limit, "runner.time", slurm_time_valid,
                                                "a Slurm time limit: minutes, MM:SS, H:MM:SS, D-H, D-H:MM "
                                                "or D-H:MM:SS",
                                                &slurm->time)) < 0)
                return r;
        if (mem && (r = get_slurm_string(c, mem, "runner.mem", slurm_mem_valid,
                                         "a Slurm memory size: a number with an optional suffix K, M, G or T "
                                         "(megabytes without one), such as 4G or 500M",
                                         &slurm->mem)) < 0)
                return r;
        if (cpus && (r = get_slurm_count(c, cpus, "runner.cpus_per_task", &slurm->cpus_per_task)) < 0)
                return r;
        if (nodes && (r = get_slurm_count(c, nodes, "runner.nodes", &slurm->nodes)) < 0)
                return r;
        if (ntasks && (r = get_slurm_count(c, ntasks, "runner.ntasks", &slurm->ntasks)) < 0)
                return r;
        if (options && (r = parse_sbatch_options(c, options, slurm)) < 0)
                return r;
        if (pre && (r = get_slurm_commands(c, pre, "runner.pre_commands", &slurm->pre_commands)) < 0)
                return r;
        if (post && (r = get_slurm_commands(c, post, "runner.post_commands", &slurm->post_commands)) < 0)
                return r;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The Slurm settings of a score's runner: block and of the conductor's
 * [Slurm] section: the checks both pass, and how the two combine. */

#include "score.h"

static const char *const runner_type_table[_SCORE_RUNNER_TYPE_MAX] = {
        [SCORE_RUNNER_DEFAULT] = "default",
        [SCORE_RUNNER_LOCAL] = "local",
        [SCORE_RUNNER_SYSTEMD] = "systemd",
        [SCORE_RUNNER_SLURM] = "slurm",
};

const char *score_runner_type_to_string(ScoreRunnerType t) {
        if ((int) t < 0 || t >= _SCORE_RUNNER_TYPE_MAX)
                return NULL;
        return runner_type_table[t];
}

int score_runner_type_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int t = 0; t < _SCORE_RUNNER_TYPE_MAX; t++)
                if (streq(runner_type_table[t], s))
                        return t;
        return -EINVAL;
}

/* ───────────────────────────── checks ───────────────────────────── */

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* n numbers of 1 to 9 digits separated by sep; the end in *ret_end */
static bool digit_groups(const char *s, char sep, unsigned min, unsigned max, const char **ret_end) {
        unsigned n = 0;

        for (;;) {
                size_t l = 0;

                while (is_digit(s[l]))
                        l++;
                if (l == 0 || l > 9)
                        return false;
                s += l;
                n++;
                if (*s != sep || n == max)
                        break;
                s++;
        }
        if (n < min)
                return false;
        *ret_end = s;
        return true;
}

bool slurm_time_valid(const char *s) {
        const char *p, *dash;

        if (isempty(s) || strlen(s) > SLURM_VALUE_MAX)
                return false;
        dash = strchr(s, '-');
        if (dash) {
                /* D-H, D-H:MM, D-H:MM:SS */
                if (!digit_groups(s, 0, 1, 1, &p) || p != dash)
                        return false;
                return digit_groups(dash + 1, ':', 1, 3, &p) && *p == 0;
        }
        /* M, M:SS, H:MM:SS */
        return digit_groups(s, ':', 1, 3, &p) && *p == 0;
}

bool slurm_mem_valid(const char *s) {
        size_t l = 0;

        if (!s)
                return false;
        while (is_digit(s[l]))
                l++;
        if (l == 0 || l > 20)
                return false;
        return s[l] == 0 || (strchr("KMGTkmgt", s[l]) && s[l + 1] == 0);
}

bool slurm_partition_valid(const char *s) {
        if (isempty(s) || strlen(s) > SLURM_VALUE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!is_alnum(*p) && !strchr("_.,-", *p))
                        return false;
        return true;
}

bool slurm_option_key_valid(const char *s) {
        if (!s || !is_alnum(s[0]) || strlen(s) > SLURM_OPTION_KEY_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!is_alnum(*p) && *p != '_' && *p != '-')
                        return false;
        return true;
}

bool slurm_value_valid(const char *s) {
        if (isempty(s) || strlen(s) > SLURM_VALUE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= ' ' || (unsigned char) *p == 0x7f ||
                    *p == '"' || *p == '\'' || *p == '\\')
                        return false;
        return true;
}

bool slurm_command_valid(const char *s) {
        return !isempty(s) && strlen(s) <= SLURM_COMMAND_MAX;
}

static const SlurmDedicatedOption dedicated_table[] = {
        { "partition",     "p", "partition",     "Partition" },
        { "time",          "t", "time",          "Time" },
        { "cpus-per-task", "c", "cpus_per_task", "CPUsPerTask" },
        { "mem",           NULL, "mem",          "Memory" },
        { "nodes",         "N", "nodes",         "Nodes" },
        { "ntasks",        "n", "ntasks",        "Tasks" },
        { "job-name",      "J", NULL, NULL },
        { "comment",       NULL, NULL, NULL },
        { "output",        "o", NULL, NULL },
        { "error",         "e", NULL, NULL },
        { "chdir",         "D", NULL, NULL },
        { "parsable",      NULL, NULL, NULL },
        { "wrap",          NULL, NULL, NULL },
        { "input",         "i", NULL, NULL },
        /* these would keep the runner from following the job */
        { "wait",          "W", NULL, NULL },
        { "array",         "a", NULL, NULL },
        { "hold",          "H", NULL, NULL },
        { "test-only",     NULL, NULL, NULL },
        { "clusters",      "M", NULL, NULL },
};

const SlurmDedicatedOption *slurm_option_dedicated_find(const char *key) {
        char norm[SLURM_OPTION_KEY_MAX + 1];
        size_t l;

        if (isempty(key))
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(dedicated_table); i++)
                if (streq_ptr(key, dedicated_table[i].short_option))
                        return dedicated_table + i;

        l = strlen(key);
        if (l == 1 || l > SLURM_OPTION_KEY_MAX)
                return NULL;
        for (size_t i = 0; i <= l; i++)
                norm[i] = key[i] == '_' ? '-' : key[i];

        /* sbatch takes any unambiguous abbreviation of a long option:
         * "--part=x" is --partition */
        for (size_t i = 0; i < ELEMENTSOF(dedicated_table); i++)
                if (strncmp(dedicated_table[i].option, norm, l) == 0)
                        return dedicated_table + i;
        return NULL;
}

bool score_slurm_option_dedicated(const char *key) {
        return slurm_option_dedicated_find(key);
}

/* ──────────────────────────── lifecycle ─────────────────────────── */

static void options_free(ScoreSlurmOption *o, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(o[i].key);
                free(o[i].value);
        }
        free(o);
}

void score_slurm_done(ScoreSlurm *s) {
        if (!s)
                return;
        free(s->partition);
        free(s->time);
        free(s->mem);
        options_free(s->sbatch_options, s->n_sbatch_options);
        strv_free(s->pre_commands);
        strv_free(s->post_commands);
        strv_free(s->sbatch_options_off);
        *s = (ScoreSlurm) {};
}

static int strdup_if(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* NULL stays NULL, an empty list stays an empty list */
static int strv_copy_if(char * const *l, char ***ret) {
        if (!l) {
                *ret = NULL;
                return 0;
        }
        *ret = strv_copy(l);
        return *ret ? 0 : -ENOMEM;
}

static int option_copy(const ScoreSlurmOption *src, ScoreSlurmOption *ret) {
        _cleanup_free_ char *k = NULL, *v = NULL;

        k = strdup(src->key);
        if (!k || strdup_if(src->value, &v) < 0)
                return -ENOMEM;
        ret->key = TAKE_PTR(k);
        ret->value = TAKE_PTR(v);
        return 0;
}

int score_slurm_copy(const ScoreSlurm *src, ScoreSlurm *ret) {
        _cleanup_(score_slurm_done) ScoreSlurm c = {
                .cpus_per_task = src->cpus_per_task,
                .nodes = src->nodes,
                .ntasks = src->ntasks,
        };

        if (strdup_if(src->partition, &c.partition) < 0 ||
            strdup_if(src->time, &c.time) < 0 ||
            strdup_if(src->mem, &c.mem) < 0 ||
            strv_copy_if(src->pre_commands, &c.pre_commands) < 0 ||
            strv_copy_if(src->post_commands, &c.post_commands) < 0 ||
            strv_copy_if(src->sbatch_options_off, &c.sbatch_options_off) < 0)
                return -ENOMEM;
        if (src->n_sbatch_options > 0) {
                c.sbatch_options = calloc(src->n_sbatch_options, sizeof(ScoreSlurmOption));
                if (!c.sbatch_options)
                        return -ENOMEM;
                for (; c.n_sbatch_options < src->n_sbatch_options; c.n_sbatch_options++)
                        if (option_copy(src->sbatch_options + c.n_sbatch_options,
                                        c.sbatch_options + c.n_sbatch_options) < 0)
                                return -ENOMEM;
        }
        *ret = c;
        c = (ScoreSlurm) {};
        return 0;
}

static bool has_option(const ScoreSlurm *s, const char *key) {
        for (size_t i = 0; i < s->n_sbatch_options; i++)
                if (streq(s->sbatch_options[i].key, key))
                        return true;
        return strv_contains(s->sbatch_options_off, key);
}

/* All or nothing: on failure dst is as it was. */
int score_slurm_merge(ScoreSlurm *dst, const ScoreSlurm *defaults) {
        _cleanup_free_ char *partition = NULL, *time_limit = NULL, *mem = NULL;
        _cleanup_strv_free_ char **pre = NULL, **post = NULL;
        ScoreSlurmOption *o = NULL;
        size_t n = dst->n_sbatch_options;

        if (!defaults)
                return 0;
        if ((!dst->partition && strdup_if(defaults->partition, &partition) < 0) ||
            (!dst->time && strdup_if(defaults->time, &time_limit) < 0) ||
            (!dst->mem && strdup_if(defaults->mem, &mem) < 0) ||
            (!dst->pre_commands && strv_copy_if(defaults->pre_commands, &pre) < 0) ||
            (!dst->post_commands && strv_copy_if(defaults->post_commands, &post) < 0))
                return -ENOMEM;

        if (defaults->n_sbatch_options > 0) {
                o = reallocarray(dst->sbatch_options, dst->n_sbatch_options + defaults->n_sbatch_options,
                                 sizeof(ScoreSlurmOption));
                if (!o)
                        return -ENOMEM;
                dst->sbatch_options = o;        /* the old entries are still there and counted */
                for (size_t i = 0; i < defaults->n_sbatch_options; i++) {
                        bool dup = has_option(dst, defaults->sbatch_options[i].key);

                        /* no duplicates within defaults either: the first wins */
                        for (size_t j = dst->n_sbatch_options; !dup && j < n; j++)
                                dup = streq(o[j].key, defaults->sbatch_options[i].key);
                        if (dup)
                                continue;
                        if (option_copy(defaults->sbatch_options + i, o + n) < 0) {
                                for (size_t j = dst->n_sbatch_options; j < n; j++) {
                                        free(o[j].key);
                                        free(o[j].value);
                                }
                                return -ENOMEM;
                        }
                        n++;
                }
        }

        dst->n_sbatch_options = n;
        if (!dst->partition)
                dst->partition = TAKE_PTR(partition);
        if (!dst->time)
                dst->time = TAKE_PTR(time_limit);
        if (!dst->mem)
                dst->mem = TAKE_PTR(mem);
        if (!dst->pre_commands)
                dst->pre_commands = TAKE_PTR(pre);
        if (!dst->post_commands)
                dst->post_commands = TAKE_PTR(post);
        if (dst->cpus_per_task == 0)
                dst->cpus_per_task = defaults->cpus_per_task;
        if (dst->nodes == 0)
                dst->nodes = defaults->nodes;
        if (dst->ntasks == 0)
                dst->ntasks = defaults->ntasks;
        return 0;
}

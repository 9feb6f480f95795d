/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>

#include "conductor.h"
#include "config.h"

#define CONFIG_MAX (64U * 1024U)

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

static int parse_count(const char *v, unsigned *ret) {
        char *end;
        unsigned long n;

        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno != 0 || *end || n < 1 || n > 100000)
                return -EINVAL;
        *ret = (unsigned) n;
        return 0;
}

/* "0", "30", "30s", "5min", "1h" */
static int parse_seconds(const char *v, usec_t *ret) {
        char *end;
        unsigned long n;
        usec_t unit = USEC_PER_SEC;

        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno != 0)
                return -EINVAL;
        if (streq(end, "min"))
                unit = 60 * USEC_PER_SEC;
        else if (streq(end, "h"))
                unit = 3600 * USEC_PER_SEC;
        else if (!streq(end, "") && !streq(end, "s"))
                return -EINVAL;
        if (n > 10ULL * 365 * 24 * 3600 * USEC_PER_SEC / unit)   /* ten years, whatever the unit */
                return -ERANGE;
        *ret = (usec_t) n * unit;
        return 0;
}

/* PollIntervalSec=: "2", "2s", "500ms", "1min"; 100ms to 1h */
static int parse_poll_interval(const char *v, usec_t *ret) {
        char *end;
        unsigned long n;
        usec_t unit = USEC_PER_SEC, u;

        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno != 0 || n > 3600UL * 1000UL)
                return -EINVAL;
        if (streq(end, "ms"))
                unit = USEC_PER_MSEC;
        else if (streq(end, "min"))
                unit = 60 * USEC_PER_SEC;
        else if (!streq(end, "") && !streq(end, "s"))
                return -EINVAL;
        u = (usec_t) n * unit;
        if (u < 100 * USEC_PER_MSEC || u > 3600 * USEC_PER_SEC)
                return -ERANGE;
        *ret = u;
        return 0;
}

/* Absolute directories only: a relative entry would be looked up in each
 * sheet's workspace, which the sheet itself writes. */
static bool exec_search_path_valid(const char *v) {
        const char *p = v;

        if (!*v || strlen(v) > 4096)
                return false;
        for (;;) {
                if (*p != '/')
                        return false;
                p = strchr(p, ':');
                if (!p)
                        return true;
                p++;
        }
}

static int set_error(char **ret_error, const char *name, unsigned line, const char *fmt, ...) _printf_(4, 5);
static int set_error(char **ret_error, const char *name, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        *ret_error = strdup_printf("%s:%u: %s", name, line, msg);
        return *ret_error ? -EINVAL : -ENOMEM;
}

/* "key=value" or "key": the same key again replaces the earlier one */
static int slurm_add_option(ScoreSlurm *slurm, const char *v, const char *name, unsigned line, char **ret_error) {
        _cleanup_free_ char *key = NULL, *value = NULL;
        const SlurmDedicatedOption *d;
        const char *eq = strchr(v, '=');
        ScoreSlurmOption *o;

        key = eq ? strndup(v, eq - v) : strdup(v);
        if (!key)
                return -ENOMEM;
        for (size_t l = strlen(key); l > 0 && isspace((unsigned char) key[l - 1]); l--)
                key[l - 1] = 0;         /* "key = value" */
        if (eq) {
                const char *val = eq + 1;

                val += strspn(val, " \t");
                value = strdup(val);
                if (!value)
                        return -ENOMEM;
        }

        d = slurm_option_dedicated_find(key);
        if (d && d->config_key)
                return set_error(ret_error, name, line,
                                 "SbatchOption=%s: '%s' stands for sbatch's --%s: use %s= instead",
                                 v, key, d->option, d->config_key);
        if (d)
                return set_error(ret_error, name, line,
                                 "SbatchOption=%s: '%s' stands for sbatch's --%s, which the runner sets itself or cannot follow",
                                 v, key, d->option);
        if (!slurm_option_key_valid(key) || strlen(key) < 2)
                return set_error(ret_error, name, line,
                                 "SbatchOption=%s is not valid (KEY=VALUE or KEY for a flag; KEY is sbatch's "
                                 "long option without the leading --: letters, digits, '-' and '_', "
                                 "starting with a letter or digit, 2 to %u characters)", v, SLURM_OPTION_KEY_MAX);
        if (value && !slurm_value_valid(value))
                return set_error(ret_error, name, line,
                                 "SbatchOption=%s is not valid (the value goes on an #SBATCH line: not empty, "
                                 "without whitespace, quotes, backslashes or control characters, at most %u bytes)",
                                 v, SLURM_VALUE_MAX);

        for (size_t i = 0; i < slurm->n_sbatch_options; i++)
                if (streq(slurm->sbatch_options[i].key, key)) {
                        free(slurm->sbatch_options[i].value);
                        slurm->sbatch_options[i].value = TAKE_PTR(value);
                        return 0;
                }
        if (slurm->n_sbatch_options >= SLURM_OPTIONS_MAX)
                return set_error(ret_error, name, line, "SbatchOption=%s: at most %u options", v, SLURM_OPTIONS_MAX);
        o = reallocarray(slurm->sbatch_options, slurm->n_sbatch_options + 1, sizeof(ScoreSlurmOption));
        if (!o)
                return -ENOMEM;
        slurm->sbatch_options = o;
        o[slurm->n_sbatch_options++] = (ScoreSlurmOption) {
                .key = TAKE_PTR(key),
                .value = TAKE_PTR(value),
        };
        return 0;
}

static int slurm_add_command(char ***l, const char *key, const char *v, const char *name, unsigned line,
                             char **ret_error) {
        if (isempty(v)) {
                strv_free(*l);
                *l = NULL;
                return 0;
        }
        if (strlen(v) > SLURM_COMMAND_MAX)
                return set_error(ret_error, name, line, "%s= is too long (at most %u bytes)", key, SLURM_COMMAND_MAX);
        if (strv_length(*l) >= SLURM_COMMANDS_MAX)
                return set_error(ret_error, name, line, "%s=: at most %u commands", key, SLURM_COMMANDS_MAX);
        return strv_extend(l, v);
}

static int slurm_count(const char *key, const char *v, unsigned *ret, const char *name, unsigned line,
                       char **ret_error) {
        if (parse_count(v, ret) < 0)
                return set_error(ret_error, name, line, "%s=%s is not valid (a number from 1 to %u)",
                                 key, v, SLURM_COUNT_MAX);
        return 0;
}

static int slurm_string(const char *key, const char *v, bool (*valid)(const char *), const char *expected,
                        char **ret, const char *name, unsigned line, char **ret_error) {
        if (!valid(v))
                return set_error(ret_error, name, line, "%s=%s is not valid (%s)", key, v, expected);
        return free_and_strdup(ret, v);
}

/* One [Slurm] line: 1 done, 0 unknown key, negative on error (with
 * *ret_error set for a bad value). */
static int parse_slurm_key(ConductorSettings *s, const char *key, const char *value, const char *name,
                           unsigned line, char **ret_error) {
        ScoreSlurm *slurm = &s->slurm;
        int r;

        if (streq(key, "Partition"))
                r = slurm_string(key, value, slurm_partition_valid,
                                 "a partition name: letters, digits, '_', '.', ',' and '-'",
                                 &slurm->partition, name, line, ret_error);
        else if (streq(key, "Time"))
                r = slurm_string(key, value, slurm_time_valid,
                                 "minutes, MM:SS, H:MM:SS, D-H, D-H:MM or D-H:MM:SS",
                                 &slurm->time, name, line, ret_error);
        else if (streq(key, "Memory"))
                r = slurm_string(key, value, slurm_mem_valid,
                                 "a number with an optional suffix K, M, G or T, such as 4G",
                                 &slurm->mem, name, line, ret_error);
        else if (streq(key, "CPUsPerTask"))
                r = slurm_count(key, value, &slurm->cpus_per_task, name, line, ret_error);
        else if (streq(key, "Nodes"))
                r = slurm_count(key, value, &slurm->nodes, name, line, ret_error);
        else if (streq(key, "Tasks"))
                r = slurm_count(key, value, &slurm->ntasks, name, line, ret_error);
        else if (streq(key, "SbatchOption")) {
                if (isempty(value)) {
                        for (size_t i = 0; i < slurm->n_sbatch_options; i++) {
                                free(slurm->sbatch_options[i].key);
                                free(slurm->sbatch_options[i].value);
                        }
                        free(slurm->sbatch_options);
                        slurm->sbatch_options = NULL;
                        slurm->n_sbatch_options = 0;
                        r = 0;
                } else
                        r = slurm_add_option(slurm, value, name, line, ret_error);
        } else if (streq(key, "PreCommand"))
                r = slurm_add_command(&slurm->pre_commands, key, value, name, line, ret_error);
        else if (streq(key, "PostCommand"))
                r = slurm_add_command(&slurm->post_commands, key, value, name, line, ret_error);
        else if (streq(key, "PollIntervalSec")) {
                r = parse_poll_interval(value, &s->slurm_poll_interval_usec);
                if (r < 0)
                        r = set_error(ret_error, name, line,
                                      "PollIntervalSec=%s is not valid (from 100ms to 1h: seconds, "
                                      "or with ms, s or min)", value);
        } else
                return 0;
        return r < 0 ? r : 1;
}

int conductor_settings_parse(const char *text, const char *name, ConductorSettings *ret,
                             char ***ret_warnings, char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        _cleanup_(conductor_settings_done) ConductorSettings s = {};
        enum { SECTION_NONE, SECTION_CONDUCTOR, SECTION_SLURM } section = SECTION_NONE;
        unsigned line = 0;
        char *p, *next;

        if (!copy)
                return -ENOMEM;
        for (p = copy; p; p = next) {
                char *l, *eq, *key, *value;
                int r = 0;

                next = strchr(p, '\n');
                if (next)
                        *next++ = 0;
                line++;
                l = strip(p);
                if (*l == 0 || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        section = streq(l, "[Conductor]") ? SECTION_CONDUCTOR :
                                  streq(l, "[Slurm]") ? SECTION_SLURM : SECTION_NONE;
                        if (section == SECTION_NONE && strv_push(ret_warnings, strdup_printf("%s:%u: unknown section %s, ignored", name, line, l)) < 0)
                                return -ENOMEM;
                        continue;
                }
                eq = strchr(l, '=');
                if (!eq) {
                        *ret_error = strdup_printf("%s:%u: expected KEY=VALUE, got '%s'", name, line, l);
                        return -EINVAL;
                }
                *eq = 0;
                key = strip(l);
                value = strip(eq + 1);
                if (section == SECTION_NONE) {
                        if (strv_push(ret_warnings, strdup_printf("%s:%u: %s= outside [Conductor], ignored", name, line, key)) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (section == SECTION_SLURM) {
                        r = parse_slurm_key(&s, key, value, name, line, ret_error);
                        if (r < 0)
                                return r;
                        if (r == 0 && strv_push(ret_warnings, strdup_printf("%s:%u: unknown key %s in [Slurm], ignored", name, line, key)) < 0)
                                return -ENOMEM;
                        continue;
                }

                if (streq(key, "MaxConcurrentSheets"))
                        r = parse_count(value, &s.max_concurrent_sheets);
                else if (streq(key, "MaxJobsPerUser"))
                        r = parse_count(value, &s.max_jobs_per_user);
                else if (streq(key, "ExitOnIdleSec")) {
                        r = parse_seconds(value, &s.exit_on_idle_usec);
                        s.exit_on_idle_set = r >= 0;
                } else if (streq(key, "Runner")) {
                        r = s.runner = runner_choice_from_string(value);
                        s.runner_set = r >= 0;
                } else if (streq(key, "ExecSearchPath")) {
                        r = exec_search_path_valid(value) ? 0 : -EINVAL;
                        if (r >= 0 && free_and_strdup(&s.exec_search_path, value) < 0)
                                return -ENOMEM;
                } else if (strv_push(ret_warnings, strdup_printf("%s:%u: unknown key %s, ignored", name, line, key)) < 0)
                        return -ENOMEM;
                if (r < 0) {
                        *ret_error = strdup_printf("%s:%u: %s=%s is not valid (%s)", name, line, key, value,
                                                   streq(key, "ExitOnIdleSec") ? "seconds, or with s, min or h" :
                                                   streq(key, "Runner") ? "auto, local, systemd or slurm" :
                                                   streq(key, "ExecSearchPath") ? "absolute directories separated by ':'" :
                                                   "a number from 1 to 100000");
                        return -EINVAL;
                }
        }
        *ret = s;
        s = (ConductorSettings) {};
        return 0;
}

void conductor_settings_done(ConductorSettings *s) {
        free(s->exec_search_path);
        s->exec_search_path = NULL;
        score_slurm_done(&s->slurm);
        s->slurm_poll_interval_usec = 0;
}

int conductor_settings_load(const char *path, ConductorSettings *ret, char ***ret_warnings, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_full_file(path, CONFIG_MAX, &text, NULL);
        if (r == -ENOENT) {
                *ret = (ConductorSettings) {};
                return 0;
        }
        if (r < 0) {
                *ret_error = strdup_printf("cannot read %s: %s", path, strerror(-r));
                return r;
        }
        return conductor_settings_parse(text, path, ret, ret_warnings, ret_error);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>

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

int conductor_settings_parse(const char *text, const char *name, ConductorSettings *ret,
                             char ***ret_warnings, char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        _cleanup_(conductor_settings_done) ConductorSettings s = {};
        bool in_section = false;
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
                        in_section = streq(l, "[Conductor]");
                        if (!in_section && strv_push(ret_warnings, strdup_printf("%s:%u: unknown section %s, ignored", name, line, l)) < 0)
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
                if (!in_section) {
                        if (strv_push(ret_warnings, strdup_printf("%s:%u: %s= outside [Conductor], ignored", name, line, key)) < 0)
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
                                                   streq(key, "Runner") ? "auto, local or systemd" :
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

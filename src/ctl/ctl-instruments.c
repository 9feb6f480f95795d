/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include "instrument.h"
#include "json.h"

/* mariannectl instruments [list] | check [NAME...]: the instrument
 * profiles as this user's conductor would see them (built-in,
 * /usr/lib/marianne/instruments, /etc/marianne/instruments, then
 * $XDG_CONFIG_HOME/marianne/instruments), read here without a conductor.
 * Executables are looked up in this process's $PATH. */

static const char *search_path(void) {
        const char *p = getenv("PATH");

        return isempty(p) ? DEFAULT_EXEC_SEARCH_PATH : p;
}

static int load(const Ctl *c, InstrumentRegistry **ret) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL;
        int k;

        k = instrument_registry_load_default(true, &r);
        if (k < 0) {
                fprintf(stderr, "mariannectl: Failed to load the instrument profiles: %s\n", strerror(-k));
                return CTL_EXIT_FAILED;
        }
        STRV_FOREACH(w, r->warnings) {
                _cleanup_free_ char *s = ctl_sanitize(*w, false);

                fprintf(stderr, "mariannectl: warning: %s\n", s ?: *w);
        }
        *ret = TAKE_PTR(r);
        return 0;
}

/* The executable's absolute path, NULL when it is missing (or the kind cannot run). */
static int locate(const InstrumentProfile *p, char **ret_path, int *ret_error) {
        int k;

        *ret_path = NULL;
        *ret_error = 0;
        if (!instrument_profile_runnable(p))
                return 0;
        k = find_executable(p->command.executable, search_path(), ret_path);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                *ret_error = k;
        return 0;
}

/* ──────────────────────────────── list ──────────────────────────────── */

static void json_field(const char *name, const char *value, bool first) {
        if (!first)
                fputc(',', stdout);
        json_write_string(stdout, name);
        fputc(':', stdout);
        json_write_string(stdout, value);
}

static int list_json(const InstrumentRegistry *r) {
        fputc('[', stdout);
        for (size_t i = 0; i < r->n; i++) {
                const InstrumentProfile *p = r->profiles[i];
                _cleanup_free_ char *path = NULL;
                int error, k;

                k = locate(p, &path, &error);
                if (k < 0)
                        return ctl_log_oom();

                if (i > 0)
                        fputc(',', stdout);
                fputc('{', stdout);
                json_field("name", p->name, true);
                json_field("display_name", p->display_name, false);
                json_field("kind", p->kind, false);
                json_field("description", p->description, false);
                json_field("executable", p->has_cli ? p->command.executable : NULL, false);
                json_field("found", path, false);
                json_field("source", p->source, false);
                printf(",\"builtin\":%s", p->builtin ? "true" : "false");
                json_field("output_format", p->has_cli ? instrument_output_format_to_string(p->output.format) : NULL, false);
                json_field("default_model", p->default_model, false);
                fputs(",\"models\":[", stdout);
                for (size_t m = 0; m < p->n_models; m++) {
                        if (m > 0)
                                fputc(',', stdout);
                        json_write_string(stdout, p->models[m].name);
                }
                fputs("],\"capabilities\":", stdout);
                ctl_json_write_strv(stdout, p->capabilities);
                fputs(",\"required_env\":", stdout);
                ctl_json_write_strv(stdout, p->command.required_env);
                fputc('}', stdout);
        }
        fputs("]\n", stdout);
        return CTL_EXIT_SUCCESS;
}

static int list_table(const Ctl *c, const InstrumentRegistry *r) {
        _cleanup_table_free_ CtlTable *t = NULL;
        int k;

        t = ctl_table_new(6, "NAME", "KIND", "EXECUTABLE", "FOUND", "SOURCE", "DESCRIPTION");
        if (!t)
                return ctl_log_oom();
        for (size_t i = 0; i < r->n; i++) {
                const InstrumentProfile *p = r->profiles[i];
                _cleanup_free_ char *path = NULL;
                bool runnable = instrument_profile_runnable(p);
                int error;

                k = locate(p, &path, &error);
                if (k < 0)
                        return ctl_log_oom();
                if (ctl_table_add_cell(t, p->name) < 0 ||
                    ctl_table_add_cell(t, p->kind) < 0 ||
                    ctl_table_add_cell(t, runnable ? p->command.executable : "-") < 0 ||
                    ctl_table_add_cell(t, !runnable ? "-" : path ?: "missing") < 0 ||
                    ctl_table_add_cell(t, p->source) < 0 ||
                    ctl_table_add_cell(t, p->description ?: p->display_name ?: "") < 0)
                        return ctl_log_oom();
        }
        if (ctl_table_rows(t) > 0 && ctl_table_print(t, stdout) < 0)
                return ctl_log_oom();
        if (!c->quiet)
                printf("%s%zu instrument%s listed.\n", r->n > 0 ? "\n" : "", r->n, r->n == 1 ? "" : "s");
        return CTL_EXIT_SUCCESS;
}

/* ──────────────────────────────── check ──────────────────────────────── */

typedef struct Check {
        const char *name;
        const InstrumentProfile *profile;       /* NULL: no such instrument */
        char *path;                             /* the executable found */
        char **env_set, **env_unset;
        char **problems;
} Check;

static void check_done(Check *k) {
        free(k->path);
        strv_free(k->env_set);
        strv_free(k->env_unset);
        strv_free(k->problems);
}

static int check_one(const InstrumentRegistry *r, const char *name, Check *ret) {
        const InstrumentProfile *p = instrument_registry_get(r, name);
        int error, k;

        *ret = (Check) { .name = name, .profile = p };
        if (!p)
                return strv_push(&ret->problems, strdup_printf("no such instrument"));

        if (!instrument_profile_runnable(p))
                return strv_push(&ret->problems,
                                 strdup_printf("kind '%s' cannot run: only 'cli' instruments can", strna(p->kind)));

        k = locate(p, &ret->path, &error);
        if (k < 0)
                return k;
        if (error == -ENOENT && !strchr(p->command.executable, '/'))
                k = strv_push(&ret->problems, strdup_printf("executable '%s' not found in PATH=%s",
                                                            p->command.executable, search_path()));
        else if (error < 0)
                k = strv_push(&ret->problems, strdup_printf("executable '%s': %s",
                                                            p->command.executable, strerror(-error)));
        if (k < 0)
                return k;

        STRV_FOREACH(e, p->command.required_env)
                if (strv_extend(isempty(getenv(*e)) ? &ret->env_unset : &ret->env_set, *e) < 0)
                        return -ENOMEM;
        return 0;
}

static char *join(char * const *l, const char *sep) {
        size_t n = 1, sl = strlen(sep);
        char *s, *q;

        STRV_FOREACH(i, l)
                n += strlen(*i) + sl;
        s = q = malloc(n);
        if (!s)
                return NULL;
        *q = 0;
        STRV_FOREACH(i, l) {
                if (i != l)
                        q = stpcpy(q, sep);
                q = stpcpy(q, *i);
        }
        return s;
}

static int print_check(const Check *k) {
        _cleanup_(ctl_fields_done) CtlFields f = {};
        _cleanup_free_ char *problems = join(k->problems, "; ");
        _cleanup_free_ char *title = NULL;
        const InstrumentProfile *p = k->profile;

        if (!problems)
                return -ENOMEM;
        title = ctl_sanitize(k->name, false);
        if (!title)
                return -ENOMEM;
        if (k->problems)
                printf("%s: not usable: %s\n", title, problems);
        else
                printf("%s: usable\n", title);
        if (!p)
                return 0;

        if (ctl_fields_add_take(&f, strdup("Source"), ctl_sanitize(p->source, false)) < 0)
                return -ENOMEM;
        if (instrument_profile_runnable(p) &&
            ctl_fields_add_take(&f, strdup("Executable"),
                                k->path ? strdup_printf("%s (%s)", p->command.executable, k->path)
                                        : strdup_printf("%s (missing)", p->command.executable)) < 0)
                return -ENOMEM;
        if (p->command.required_env) {
                _cleanup_free_ char *set = join(k->env_set, ", "), *unset = join(k->env_unset, ", ");

                if (!set || !unset)
                        return -ENOMEM;
                /* the allow-list: what the instrument may see, if the user has it set */
                if (ctl_fields_add_take(&f, strdup("Environment"),
                                        strdup_printf("set: %s\nnot set: %s",
                                                      k->env_set ? set : "none", k->env_unset ? unset : "none")) < 0)
                        return -ENOMEM;
        } else if (instrument_profile_runnable(p) &&
                   ctl_fields_add_take(&f, strdup("Environment"), strdup("none passed (no required_env)")) < 0)
                return -ENOMEM;
        STRV_FOREACH(w, p->warnings)
                if (ctl_fields_add_take(&f, strdup("Warning"), ctl_sanitize(*w, false)) < 0)
                        return -ENOMEM;
        ctl_fields_print(&f, stdout);
        return 0;
}

static void print_check_json(const Check *k, bool first) {
        const InstrumentProfile *p = k->profile;

        if (!first)
                fputc(',', stdout);
        fputc('{', stdout);
        json_field("name", k->name, true);
        printf(",\"usable\":%s", k->problems ? "false" : "true");
        json_field("source", p ? p->source : NULL, false);
        json_field("kind", p ? p->kind : NULL, false);
        json_field("executable", p && p->has_cli ? p->command.executable : NULL, false);
        json_field("found", k->path, false);
        fputs(",\"env_set\":", stdout);
        ctl_json_write_strv(stdout, k->env_set);
        fputs(",\"env_unset\":", stdout);
        ctl_json_write_strv(stdout, k->env_unset);
        fputs(",\"problems\":", stdout);
        ctl_json_write_strv(stdout, k->problems);
        fputs(",\"warnings\":", stdout);
        ctl_json_write_strv(stdout, p ? p->warnings : NULL);
        fputc('}', stdout);
}

/* Exit 0 when every instrument checked is usable (its profile loads, is
 * of a kind that runs, and its executable is found); 1 otherwise, and
 * also, when no names are given, if a profile file failed to load; 4 when
 * a name matches no instrument.  Unset allow-listed variables are
 * reported, not failures: a CLI may be logged in by other means. */
static int check(const Ctl *c, const InstrumentRegistry *r, char **names) {
        _cleanup_strv_free_ char **all = NULL;
        int ret = CTL_EXIT_SUCCESS;
        bool first = true;

        if (strv_length(names) == 0) {
                for (size_t i = 0; i < r->n; i++)
                        if (strv_extend(&all, r->profiles[i]->name) < 0)
                                return ctl_log_oom();
                names = all;
                if (r->warnings)
                        ret = CTL_EXIT_FAILED;
        }

        if (c->json)
                fputc('[', stdout);
        STRV_FOREACH(name, names) {
                _cleanup_(check_done) Check k = {};

                if (check_one(r, *name, &k) < 0)
                        return ctl_log_oom();
                if (!k.profile)
                        ret = MAX(ret, CTL_EXIT_NO_SUCH);
                else if (k.problems)
                        ret = MAX(ret, CTL_EXIT_FAILED);

                if (c->json)
                        print_check_json(&k, first);
                else {
                        if (!first)
                                putchar('\n');
                        if (print_check(&k) < 0)
                                return ctl_log_oom();
                }
                first = false;
        }
        if (c->json)
                fputs("]\n", stdout);
        return ret;
}

int ctl_cmd_instruments(Ctl *c, char **args) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL;
        const char *verb = args[0] ?: "list";
        int k;

        if (!streq(verb, "list") && !streq(verb, "check")) {
                fprintf(stderr, "mariannectl: Unknown instruments command '%s': expected list or check.\n"
                        "See 'mariannectl --help'.\n", verb);
                return CTL_EXIT_USAGE;
        }
        if (streq(verb, "list") && args[0] && args[1]) {
                fprintf(stderr, "mariannectl: Too many arguments for 'instruments list'.\n"
                        "See 'mariannectl --help'.\n");
                return CTL_EXIT_USAGE;
        }

        k = load(c, &r);
        if (k != 0)
                return k;

        if (streq(verb, "check"))
                return check(c, r, args + 1);
        return c->json ? list_json(r) : list_table(c, r);
}

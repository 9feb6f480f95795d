/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <math.h>
#include <sys/stat.h>

#include "instrument.h"

/* One attempt's command line, environment and stdin from a profile, the
 * score's instrument config and the rendered prompt. */


static const char *const delivery_table[_INSTRUMENT_PROMPT_DELIVERY_MAX] = {
        [INSTRUMENT_PROMPT_FLAG] = "flag",
        [INSTRUMENT_PROMPT_POSITIONAL] = "positional",
        [INSTRUMENT_PROMPT_STDIN] = "stdin",
};

const char *instrument_prompt_delivery_to_string(InstrumentPromptDelivery d) {
        if (d < 0 || d >= _INSTRUMENT_PROMPT_DELIVERY_MAX)
                return NULL;
        return delivery_table[d];
}

/* ─────────────────────────────── config ─────────────────────────────── */

void instrument_config_done(InstrumentConfig *c) {
        if (!c)
                return;
        free(c->model);
        strv_free(c->allowed_tools);
        strv_free(c->extra_flags);
        free(c->system_prompt);
        *c = (InstrumentConfig) {};
}

static int config_fail(char **ret_error, const char *what, const char *key, const char *expected, const Value *v) {
        if (ret_error)
                *ret_error = strdup_printf("%s.%s: expected %s, got %s", what, key, expected,
                                           value_type_to_string(v->type));
        return -EINVAL;
}

static int config_string(const Value *map, const char *what, const char *key, char **ret, char **ret_error) {
        const Value *v = value_map_get(map, key);

        if (!v || v->type == VALUE_NULL)
                return 0;
        if (v->type != VALUE_STRING)
                return config_fail(ret_error, what, key, "a string", v);
        return free_and_strdup(ret, isempty(v->s) ? NULL : v->s);
}

static int config_bool(const Value *map, const char *what, const char *key, bool *ret, char **ret_error) {
        const Value *v = value_map_get(map, key);

        if (!v || v->type == VALUE_NULL)
                return 0;
        if (v->type != VALUE_BOOL)
                return config_fail(ret_error, what, key, "true or false", v);
        *ret = v->b;
        return 0;
}

/* A list of strings; a single string is a one-item list (or, for
 * allowed_tools, a comma-separated one, as the CLI flag takes it). */
static int config_strv(const Value *map, const char *what, const char *key, bool split_commas, char ***ret,
                       char **ret_error) {
        const Value *v = value_map_get(map, key);
        _cleanup_strv_free_ char **l = NULL;

        if (!v || v->type == VALUE_NULL)
                return 0;
        if (v->type == VALUE_STRING) {
                const char *p = v->s;

                if (!split_commas)
                        return strv_extend(ret, p);
                while (*p) {
                        size_t n = strcspn(p, ",");

                        if (n > 0 && strv_push(&l, strndup(p, n)) < 0)
                                return -ENOMEM;
                        p += n;
                        if (*p == ',')
                                p++;
                }
        } else if (v->type == VALUE_LIST) {
                for (size_t i = 0; i < v->list.n; i++) {
                        const Value *item = v->list.items[i];
                        _cleanup_free_ char *text = NULL;

                        /* numbers and booleans in a flag list are meant as their text */
                        if (item->type == VALUE_LIST || item->type == VALUE_MAP || item->type == VALUE_NULL) {
                                if (ret_error)
                                        *ret_error = strdup_printf("%s.%s[%zu]: expected a string, got %s", what, key, i,
                                                                   value_type_to_string(item->type));
                                return -EINVAL;
                        }
                        if (item->type == VALUE_STRING)
                                text = strdup(item->s);
                        else if (item->type == VALUE_BOOL)
                                text = strdup(item->b ? "true" : "false");
                        else if (value_to_string(item, &text) < 0)
                                return -ENOMEM;
                        if (!text || strv_push(&l, TAKE_PTR(text)) < 0)
                                return -ENOMEM;
                }
        } else
                return config_fail(ret_error, what, key, "a list of strings", v);

        STRV_FOREACH(s, l)
                if (strv_extend(ret, *s) < 0)
                        return -ENOMEM;
        return 0;
}

int instrument_config_from_value(const Value *v, const char *what, InstrumentConfig *ret, char **ret_error) {
        _cleanup_(instrument_config_done) InstrumentConfig c = {};
        const Value *t;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!what)
                what = "instrument_config";
        if (v && v->type != VALUE_NULL && v->type != VALUE_MAP) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: expected a mapping, got %s", what, value_type_to_string(v->type));
                return -EINVAL;
        }
        if (!v || v->type == VALUE_NULL) {
                *ret = c;
                return 0;
        }

        t = value_map_get(v, "timeout_seconds");
        if (t && t->type != VALUE_NULL) {
                double d = t->type == VALUE_INT ? (double) t->i : t->type == VALUE_FLOAT ? t->f : -1;

                if (t->type != VALUE_INT && t->type != VALUE_FLOAT)
                        return config_fail(ret_error, what, "timeout_seconds", "a number of seconds", t);
                if (!isfinite(d) || d < 0) {
                        if (ret_error)
                                *ret_error = strdup_printf("%s.timeout_seconds: must be a number >= 0", what);
                        return -EINVAL;
                }
                c.timeout_seconds = d;
        }

        if ((r = config_string(v, what, "model", &c.model, ret_error)) < 0 ||
            (r = config_bool(v, what, "auto_approve", &c.skip_permissions, ret_error)) < 0 ||
            (r = config_bool(v, what, "skip_permissions", &c.skip_permissions, ret_error)) < 0 ||
            (r = config_bool(v, what, "disable_mcp", &c.disable_mcp, ret_error)) < 0 ||
            (r = config_strv(v, what, "allowed_tools", true, &c.allowed_tools, ret_error)) < 0 ||
            (r = config_strv(v, what, "extra_flags", false, &c.extra_flags, ret_error)) < 0 ||
            (r = config_string(v, what, "system_prompt", &c.system_prompt, ret_error)) < 0)
                return r;

        *ret = c;
        c = (InstrumentConfig) {};
        return 0;
}

/* ───────────────────────────── environment ───────────────────────────── */

static const char *env_get(char * const *env, const char *name) {
        size_t l = strlen(name);

        STRV_FOREACH(e, env)
                if (strncmp(*e, name, l) == 0 && (*e)[l] == '=')
                        return *e + l + 1;
        return NULL;
}

static bool env_name_valid(const char *name) {
        if (isempty(name) || (name[0] >= '0' && name[0] <= '9'))
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

static int build_environment(const InstrumentProfile *p, char * const *base_env, char * const *source_env, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;

        STRV_FOREACH(e, base_env)
                if (strchr(*e, '=') && strv_extend(&env, *e) < 0)
                        return -ENOMEM;

        STRV_FOREACH(name, p->command.required_env) {
                const char *value;

                if (!env_name_valid(*name) || env_get(env, *name))
                        continue;       /* the base wins */
                value = env_get(source_env, *name);
                if (!value)
                        continue;
                if (strv_push(&env, strdup_printf("%s=%s", *name, value)) < 0)
                        return -ENOMEM;
        }

        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

/* ───────────────────────────── invocation ───────────────────────────── */

void instrument_invocation_done(InstrumentInvocation *inv) {
        if (!inv)
                return;
        free(inv->executable);
        strv_free(inv->argv);
        strv_free(inv->envp);
        free(inv->stdin_data);
        free(inv->model);
        *inv = (InstrumentInvocation) {};
}

static int push_opt(char ***argv, const char *a) {
        return a ? strv_extend(argv, a) : 0;
}

static char *join_commas(char * const *l) {
        size_t n = 0;
        char *s, *p;

        STRV_FOREACH(i, l)
                n += strlen(*i) + 1;
        s = malloc(n + 1);
        if (!s)
                return NULL;
        p = s;
        *p = 0;
        STRV_FOREACH(i, l) {
                if (p != s)
                        *p++ = ',';
                p = stpcpy(p, *i);
        }
        return s;
}

static usec_t seconds_to_usec(double s) {
        if (!(s > 0))
                return 0;
        if (s >= (double) (UINT64_MAX / USEC_PER_SEC))
                return USEC_INFINITY - 1;
        return (usec_t) (s * (double) USEC_PER_SEC);
}

int instrument_build_invocation(const InstrumentProfile *p, const InstrumentConfig *config,
                                const char *prompt, const char *search_path,
                                char * const *base_env, char * const *source_env,
                                InstrumentInvocation *ret, char **ret_error) {
        static const InstrumentConfig no_config = {};
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        const InstrumentCommand *cmd;
        const char *model;
        size_t prompt_size;
        bool via_stdin;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!p || !ret)
                return -EINVAL;
        if (!config)
                config = &no_config;
        if (!prompt)
                prompt = "";
        cmd = &p->command;

        if (!instrument_profile_runnable(p)) {
                if (ret_error)
                        *ret_error = strdup_printf("instrument '%s' (%s) is of kind '%s': only 'cli' instruments can run",
                                                   p->name, p->source, strna(p->kind));
                return -EOPNOTSUPP;
        }

        prompt_size = strlen(prompt);
        if (prompt_size > INSTRUMENT_PROMPT_MAX) {
                if (ret_error)
                        *ret_error = strdup_printf("instrument '%s': prompt of %zu bytes is larger than %u bytes",
                                                   p->name, prompt_size, INSTRUMENT_PROMPT_MAX);
                return -E2BIG;
        }

        if (!search_path)
                search_path = env_get(base_env, "PATH") ?: DEFAULT_EXEC_SEARCH_PATH;
        r = find_executable(cmd->executable, search_path, &inv.executable);
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                if (ret_error) {
                        if (r == -ENOENT && !strchr(cmd->executable, '/'))
                                *ret_error = strdup_printf("instrument '%s': executable '%s' not found in PATH=%s",
                                                           p->name, cmd->executable, search_path);
                        else if (r == -EINVAL)
                                *ret_error = strdup_printf("instrument '%s': executable '%s' must be a name or an absolute path",
                                                           p->name, cmd->executable);
                        else
                                *ret_error = strdup_printf("instrument '%s': executable '%s': %s",
                                                           p->name, cmd->executable, strerror(-r));
                }
                return r;
        }

        if (strv_extend(&inv.argv, inv.executable) < 0 ||
            push_opt(&inv.argv, cmd->subcommand) < 0)
                return -ENOMEM;

        model = instrument_model_for_flag(p, config);
        if (model && cmd->model_flag) {
                inv.model = strdup(model);
                if (!inv.model ||
                    strv_extend(&inv.argv, cmd->model_flag) < 0 ||
                    strv_extend(&inv.argv, model) < 0)
                        return -ENOMEM;
        }

        if (config->skip_permissions && push_opt(&inv.argv, cmd->auto_approve_flag) < 0)
                return -ENOMEM;

        if (cmd->output_format_flag &&
            (strv_extend(&inv.argv, cmd->output_format_flag) < 0 ||
             push_opt(&inv.argv, cmd->output_format_value) < 0))
                return -ENOMEM;

        if (config->system_prompt && cmd->system_prompt_flag &&
            (strv_extend(&inv.argv, cmd->system_prompt_flag) < 0 ||
             strv_extend(&inv.argv, config->system_prompt) < 0))
                return -ENOMEM;

        if (config->allowed_tools && cmd->allowed_tools_flag) {
                if (strv_extend(&inv.argv, cmd->allowed_tools_flag) < 0 ||
                    strv_push(&inv.argv, join_commas(config->allowed_tools)) < 0)
                        return -ENOMEM;
        }

        if (config->disable_mcp)
                STRV_FOREACH(a, cmd->mcp_disable_args)
                        if (strv_extend(&inv.argv, *a) < 0)
                                return -ENOMEM;
        STRV_FOREACH(a, cmd->extra_flags)
                if (strv_extend(&inv.argv, *a) < 0)
                        return -ENOMEM;
        STRV_FOREACH(a, config->extra_flags)
                if (strv_extend(&inv.argv, *a) < 0)
                        return -ENOMEM;

        /* A prompt beginning with '-' would be read as an option. */
        via_stdin = cmd->prompt_via_stdin || prompt_size > INSTRUMENT_PROMPT_ARG_MAX || prompt[0] == '-';
        if (via_stdin) {
                inv.delivery = INSTRUMENT_PROMPT_STDIN;
                if (cmd->stdin_sentinel &&
                    (push_opt(&inv.argv, cmd->prompt_flag) < 0 ||
                     strv_extend(&inv.argv, cmd->stdin_sentinel) < 0))
                        return -ENOMEM;
                inv.stdin_data = strdup(prompt);
                if (!inv.stdin_data)
                        return -ENOMEM;
                inv.stdin_size = prompt_size;
        } else if (cmd->prompt_flag) {
                inv.delivery = INSTRUMENT_PROMPT_FLAG;
                if (strv_extend(&inv.argv, cmd->prompt_flag) < 0 ||
                    strv_extend(&inv.argv, prompt) < 0)
                        return -ENOMEM;
        } else {
                inv.delivery = INSTRUMENT_PROMPT_POSITIONAL;
                if (strv_extend(&inv.argv, prompt) < 0)
                        return -ENOMEM;
        }

        r = build_environment(p, base_env, source_env, &inv.envp);
        if (r < 0)
                return r;

        inv.timeout_usec = seconds_to_usec(config->timeout_seconds > 0 ? config->timeout_seconds
                                                                        : p->default_timeout_seconds);
        inv.new_session = cmd->start_new_session;

        *ret = inv;
        inv = (InstrumentInvocation) {};
        return 0;
}

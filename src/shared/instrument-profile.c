/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <yaml.h>

#include "instrument.h"
#include "pyregex.h"

/* Profile parsing: one pass over libyaml's events bounds the nesting,
 * then yaml_parser_load() builds the document, which is read key by key
 * against the schema below.  Only keys of the schema are descended into,
 * so aliases cannot multiply the work; every node visited is counted
 * anyway. */

static const char *const output_format_table[_INSTRUMENT_OUTPUT_FORMAT_MAX] = {
        [INSTRUMENT_OUTPUT_TEXT] = "text",
        [INSTRUMENT_OUTPUT_JSON] = "json",
        [INSTRUMENT_OUTPUT_JSONL] = "jsonl",
};

const char *instrument_output_format_to_string(InstrumentOutputFormat f) {
        if (f < 0 || f >= _INSTRUMENT_OUTPUT_FORMAT_MAX)
                return NULL;
        return output_format_table[f];
}

InstrumentOutputFormat instrument_output_format_from_string(const char *s) {
        if (!s)
                return _INSTRUMENT_OUTPUT_FORMAT_INVALID;
        for (int i = 0; i < _INSTRUMENT_OUTPUT_FORMAT_MAX; i++)
                if (streq(output_format_table[i], s))
                        return (InstrumentOutputFormat) i;
        return _INSTRUMENT_OUTPUT_FORMAT_INVALID;
}

/* ───────────────────────────── the model ───────────────────────────── */

static void patterns_done(InstrumentPatterns *l) {
        for (size_t i = 0; i < l->n; i++)
                regfree(&l->compiled[i]);
        free(l->compiled);
        strv_free(l->patterns);
        *l = (InstrumentPatterns) {};
}

static void profile_free(InstrumentProfile *p) {
        free(p->source);
        free(p->name);
        free(p->display_name);
        free(p->description);
        free(p->kind);
        strv_free(p->capabilities);
        free(p->default_model);
        for (size_t i = 0; i < p->n_models; i++)
                free(p->models[i].name);
        free(p->models);

        free(p->command.executable);
        free(p->command.subcommand);
        free(p->command.prompt_flag);
        free(p->command.stdin_sentinel);
        strv_free(p->command.required_env);
        free(p->command.model_flag);
        free(p->command.auto_approve_flag);
        free(p->command.output_format_flag);
        free(p->command.output_format_value);
        free(p->command.system_prompt_flag);
        free(p->command.allowed_tools_flag);
        free(p->command.mcp_config_flag);
        strv_free(p->command.mcp_disable_args);
        strv_free(p->command.extra_flags);

        free(p->output.result_path);
        free(p->output.error_path);
        free(p->output.input_tokens_path);
        free(p->output.output_tokens_path);
        free(p->output.completion_event_type);
        for (size_t i = 0; i < p->output.n_completion_event_filter; i++) {
                free(p->output.completion_event_filter[i].key);
                free(p->output.completion_event_filter[i].value);
        }
        free(p->output.completion_event_filter);

        free(p->errors.success_exit_codes);
        patterns_done(&p->errors.rate_limit);
        patterns_done(&p->errors.auth);
        patterns_done(&p->errors.capacity);
        patterns_done(&p->errors.timeout);

        strv_free(p->warnings);
        free(p);
}

InstrumentProfile *instrument_profile_ref(InstrumentProfile *p) {
        if (p)
                p->n_ref++;
        return p;
}

InstrumentProfile *instrument_profile_unref(InstrumentProfile *p) {
        if (p && --p->n_ref == 0)
                profile_free(p);
        return NULL;
}

bool instrument_profile_runnable(const InstrumentProfile *p) {
        return p && streq_ptr(p->kind, "cli") && p->has_cli && !isempty(p->command.executable);
}

const InstrumentModel *instrument_profile_find_model(const InstrumentProfile *p, const char *name) {
        if (!p || !name)
                return NULL;
        for (size_t i = 0; i < p->n_models; i++)
                if (streq(p->models[i].name, name))
                        return &p->models[i];
        return NULL;
}

const char *instrument_model_for_flag(const InstrumentProfile *p, const InstrumentConfig *c) {
        if (c && !isempty(c->model))
                return c->model;
        return p && !isempty(p->default_model) ? p->default_model : NULL;
}

const char *instrument_model_for_cost(const InstrumentProfile *p, const InstrumentConfig *c) {
        const char *m = instrument_model_for_flag(p, c);

        if (m)
                return m;
        return p && p->n_models > 0 ? p->models[0].name : NULL;
}

/* ──────────────────────────── the reader ──────────────────────────── */

typedef struct ProfileParser {
        yaml_document_t *doc;
        const char *source;
        InstrumentProfile *profile;
        char *error;
        unsigned n_visited;
} ProfileParser;

static int parser_fail(ProfileParser *pp, const yaml_node_t *n, const char *key, int r, const char *fmt, ...) _printf_(5, 6);
static int parser_fail(ProfileParser *pp, const yaml_node_t *n, const char *key, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        free(pp->error);
        if (key)
                pp->error = strdup_printf("%s:%zu:%zu: key '%s': %s", pp->source,
                                          n->start_mark.line + 1, n->start_mark.column + 1, key, msg);
        else
                pp->error = strdup_printf("%s:%zu:%zu: %s", pp->source,
                                          n->start_mark.line + 1, n->start_mark.column + 1, msg);
        return pp->error ? r : -ENOMEM;
}

static int parser_warn(ProfileParser *pp, const yaml_node_t *n, const char *key, const char *fmt, ...) _printf_(4, 5);
static int parser_warn(ProfileParser *pp, const yaml_node_t *n, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char *w;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        w = strdup_printf("%s:%zu:%zu: key '%s' %s", pp->source,
                          n->start_mark.line + 1, n->start_mark.column + 1, key, msg);
        if (!w)
                return -ENOMEM;
        return strv_push(&pp->profile->warnings, w);
}

static int parser_node(ProfileParser *pp, int id, const yaml_node_t *context, yaml_node_t **ret) {
        yaml_node_t *n;

        if (++pp->n_visited > INSTRUMENT_PROFILE_NODES_MAX)
                return parser_fail(pp, context, NULL, -E2BIG, "more than %u YAML nodes", INSTRUMENT_PROFILE_NODES_MAX);
        n = yaml_document_get_node(pp->doc, id);
        if (!n)
                return parser_fail(pp, context, NULL, -EINVAL, "dangling YAML node");
        *ret = n;
        return 0;
}

static const char *node_kind(const yaml_node_t *n) {
        switch (n->type) {
        case YAML_SCALAR_NODE:
                return "a scalar";
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_MAPPING_NODE:
                return "a mapping";
        default:
                return "nothing";
        }
}

static const char *scalar(const yaml_node_t *n) {
        return (const char *) n->data.scalar.value;
}

static bool scalar_plain(const yaml_node_t *n) {
        return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool node_is_null(const yaml_node_t *n) {
        const char *s;

        if (!scalar_plain(n))
                return false;
        s = scalar(n);
        return n->data.scalar.length == 0 || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

static int expect(ProfileParser *pp, const yaml_node_t *n, const char *key, yaml_node_type_t type) {
        static const char *const names[] = {
                [YAML_SCALAR_NODE] = "a scalar",
                [YAML_SEQUENCE_NODE] = "a list",
                [YAML_MAPPING_NODE] = "a mapping",
        };

        if (n->type != type)
                return parser_fail(pp, n, key, -EINVAL, "expected %s, got %s", names[type], node_kind(n));
        return 0;
}

/* A scalar's text: any scalar, as written ("false" in an argument list is the string "false"). */
static int scalar_text(ProfileParser *pp, const yaml_node_t *n, const char *key, const char **ret) {
        int r;

        r = expect(pp, n, key, YAML_SCALAR_NODE);
        if (r < 0)
                return r;
        if (strlen(scalar(n)) != n->data.scalar.length)
                return parser_fail(pp, n, key, -EINVAL, "string contains a NUL byte");
        *ret = scalar(n);
        return 0;
}

/* ─────────────────────────── field readers ─────────────────────────── */

typedef int (*FieldReader)(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst);

typedef struct Field {
        const char *name;
        FieldReader read;
        size_t offset;
} Field;

/* An optional string: null and "" mean not set. */
static int read_string(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        char **s = dst;
        const char *t;
        int r;

        if (node_is_null(n)) {
                free(*s);
                *s = NULL;
                return 0;
        }
        r = scalar_text(pp, n, key, &t);
        if (r < 0)
                return r;
        return free_and_strdup(s, isempty(t) ? NULL : t);
}

static int parse_bool_text(const char *s) {
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };

        /* YAML 1.1 booleans, as the original's PyYAML reads them */
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (streq(s, yes[i]))
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (streq(s, no[i]))
                        return 0;
        return -EINVAL;
}

static int read_bool(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        bool *b = dst;
        int r;

        r = expect(pp, n, key, YAML_SCALAR_NODE);
        if (r < 0)
                return r;
        if (node_is_null(n)) {
                *b = false;
                return 0;
        }
        /* quoted "true" too: the original's pydantic models take it */
        r = parse_bool_text(scalar(n));
        if (r < 0)
                return parser_fail(pp, n, key, -EINVAL, "expected true or false, got '%s'", scalar(n));
        *b = r;
        return 0;
}

static bool parse_number_text(const char *s, double *ret) {
        return parse_decimal_text(s, ret) && isfinite(*ret);
}

/* A number >= 0; null is 0. */
static int read_double(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        double *d = dst, v;
        int r;

        r = expect(pp, n, key, YAML_SCALAR_NODE);
        if (r < 0)
                return r;
        if (node_is_null(n)) {
                *d = 0;
                return 0;
        }
        if (!parse_number_text(scalar(n), &v) || v < 0)
                return parser_fail(pp, n, key, -EINVAL, "expected a number >= 0, got '%s'", scalar(n));
        *d = v;
        return 0;
}

static int parse_uint64_node(ProfileParser *pp, yaml_node_t *n, const char *key, uint64_t max, uint64_t *ret) {
        const char *s;
        uint64_t v = 0;
        int r;

        r = expect(pp, n, key, YAML_SCALAR_NODE);
        if (r < 0)
                return r;
        if (node_is_null(n)) {
                *ret = 0;
                return 0;
        }
        s = scalar(n);
        if (*s == '+')
                s++;
        if (!*s)
                goto invalid;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        goto invalid;
                if (v > (max - (uint64_t) (*s - '0')) / 10)
                        return parser_fail(pp, n, key, -EINVAL, "must be at most %" PRIu64 ", got '%s'", max, scalar(n));
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;

invalid:
        return parser_fail(pp, n, key, -EINVAL, "expected an integer >= 0, got '%s'", scalar(n));
}

static int read_uint64(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        return parse_uint64_node(pp, n, key, UINT64_MAX, dst);
}

static int read_unsigned(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        uint64_t v;
        int r;

        r = parse_uint64_node(pp, n, key, UINT_MAX, &v);
        if (r < 0)
                return r;
        *(unsigned *) dst = (unsigned) v;
        return 0;
}

static char *item_key(const char *key, size_t i) {
        return strdup_printf("%s[%zu]", key, i);
}

/* A list of strings; null is the empty list. */
static int read_strv(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        _cleanup_strv_free_ char **l = NULL;
        char ***ret = dst;
        int r;

        if (node_is_null(n)) {
                strv_free(*ret);
                *ret = NULL;
                return 0;
        }
        r = expect(pp, n, key, YAML_SEQUENCE_NODE);
        if (r < 0)
                return r;
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                _cleanup_free_ char *k = item_key(key, (size_t) (i - n->data.sequence.items.start));
                yaml_node_t *item;
                const char *t;

                if (!k)
                        return -ENOMEM;
                r = parser_node(pp, *i, n, &item);
                if (r < 0)
                        return r;
                if (node_is_null(item))
                        return parser_fail(pp, item, k, -EINVAL, "expected a string, got null");
                r = scalar_text(pp, item, k, &t);
                if (r < 0)
                        return r;
                if (strv_extend(&l, t) < 0)
                        return -ENOMEM;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_patterns(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        InstrumentPatterns *l = dst, new = {};
        int r;

        r = read_strv(pp, n, key, &new.patterns);
        if (r < 0)
                return r;
        new.n = strv_length(new.patterns);
        if (new.n > 0) {
                new.compiled = calloc(new.n, sizeof(regex_t));
                if (!new.compiled) {
                        strv_free(new.patterns);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < new.n; i++) {
                _cleanup_free_ char *error = NULL;

                r = pyregex_compile(new.patterns[i], PYREGEX_IGNORECASE, &new.compiled[i], &error);
                if (r < 0) {
                        _cleanup_free_ char *k = item_key(key, i);
                        yaml_node_t *item = NULL;
                        int q;

                        new.n = i;      /* only the compiled ones are regfree()d */
                        patterns_done(&new);
                        if (r == -ENOMEM || !k)
                                return -ENOMEM;
                        q = parser_node(pp, n->data.sequence.items.start[i], n, &item);
                        if (q < 0)
                                return q;
                        return parser_fail(pp, item, k, -EINVAL, "cannot use pattern '%s': %s",
                                           scalar(item), error ?: strerror(-r));
                }
        }
        patterns_done(l);
        *l = new;
        return 0;
}

static int read_output_format(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        InstrumentOutputFormat f;
        const char *t;
        int r;

        r = scalar_text(pp, n, key, &t);
        if (r < 0)
                return r;
        f = instrument_output_format_from_string(t);
        if (f < 0)
                return parser_fail(pp, n, key, -EINVAL, "expected text, json or jsonl, got '%s'", t);
        *(InstrumentOutputFormat *) dst = f;
        return 0;
}

static int read_exit_codes(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        InstrumentErrorSpec *e = dst;
        _cleanup_free_ int *codes = NULL;
        size_t n_codes = 0;
        int r;

        r = expect(pp, n, key, YAML_SEQUENCE_NODE);
        if (r < 0)
                return r;
        codes = calloc(MAX((size_t) (n->data.sequence.items.top - n->data.sequence.items.start), (size_t) 1), sizeof(int));
        if (!codes)
                return -ENOMEM;
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                _cleanup_free_ char *k = item_key(key, (size_t) (i - n->data.sequence.items.start));
                yaml_node_t *item;
                uint64_t v;

                if (!k)
                        return -ENOMEM;
                r = parser_node(pp, *i, n, &item);
                if (r < 0)
                        return r;
                if (node_is_null(item))
                        return parser_fail(pp, item, k, -EINVAL, "expected an exit code 0..255, got null");
                r = parse_uint64_node(pp, item, k, 255, &v);
                if (r < 0)
                        return r;
                codes[n_codes++] = (int) v;
        }
        if (n_codes == 0)
                return parser_fail(pp, n, key, -EINVAL, "must list at least one exit code");
        free(e->success_exit_codes);
        e->success_exit_codes = TAKE_PTR(codes);
        e->n_success_exit_codes = n_codes;
        return 0;
}

static int read_mapping(ProfileParser *pp, yaml_node_t *n, const char *path, const Field *fields, size_t n_fields,
                        void *base);

static int read_filter(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        InstrumentOutputSpec *o = dst;
        int r;

        /* a repeated key replaces the filter */
        for (size_t i = 0; i < o->n_completion_event_filter; i++) {
                free(o->completion_event_filter[i].key);
                free(o->completion_event_filter[i].value);
        }
        free(o->completion_event_filter);
        o->completion_event_filter = NULL;
        o->n_completion_event_filter = 0;

        if (node_is_null(n))
                return 0;
        r = expect(pp, n, key, YAML_MAPPING_NODE);
        if (r < 0)
                return r;
        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                _cleanup_free_ char *k = NULL, *kc = NULL, *vc = NULL;
                yaml_node_t *kn, *vn;
                const char *kt, *vt;
                InstrumentFilterField *t;

                r = parser_node(pp, pair->key, n, &kn);
                if (r < 0)
                        return r;
                r = parser_node(pp, pair->value, n, &vn);
                if (r < 0)
                        return r;
                r = scalar_text(pp, kn, key, &kt);
                if (r < 0)
                        return r;
                k = strdup_printf("%s.%s", key, kt);
                if (!k)
                        return -ENOMEM;
                if (isempty(kt))
                        return parser_fail(pp, kn, k, -EINVAL, "empty field name");
                if (vn->type != YAML_SCALAR_NODE || node_is_null(vn))
                        return parser_fail(pp, vn, k, -EINVAL, "expected the value to compare with, got %s",
                                           node_is_null(vn) ? "null" : node_kind(vn));
                r = scalar_text(pp, vn, k, &vt);
                if (r < 0)
                        return r;
                kc = strdup(kt);
                vc = strdup(vt);
                if (!kc || !vc)
                        return -ENOMEM;
                t = reallocarray(o->completion_event_filter, o->n_completion_event_filter + 1, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                o->completion_event_filter = t;
                t[o->n_completion_event_filter++] = (InstrumentFilterField) { TAKE_PTR(kc), TAKE_PTR(vc) };
        }
        return 0;
}

static int read_models(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        static const Field fields[] = {
                { "name",               read_string,    offsetof(InstrumentModel, name) },
                { "context_window",     read_uint64,    offsetof(InstrumentModel, context_window) },
                { "cost_per_1k_input",  read_double,    offsetof(InstrumentModel, cost_per_1k_input) },
                { "cost_per_1k_output", read_double,    offsetof(InstrumentModel, cost_per_1k_output) },
                { "max_output_tokens",  read_uint64,    offsetof(InstrumentModel, max_output_tokens) },
                { "max_concurrent",     read_unsigned,  offsetof(InstrumentModel, max_concurrent) },
        };
        InstrumentProfile *p = dst;
        size_t count;
        int r;

        /* a repeated key replaces the list */
        for (size_t i = 0; i < p->n_models; i++)
                free(p->models[i].name);
        free(p->models);
        p->models = NULL;
        p->n_models = 0;

        if (node_is_null(n))
                return 0;
        r = expect(pp, n, key, YAML_SEQUENCE_NODE);
        if (r < 0)
                return r;

        count = (size_t) (n->data.sequence.items.top - n->data.sequence.items.start);
        p->models = calloc(MAX(count, (size_t) 1), sizeof(InstrumentModel));
        if (!p->models)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                _cleanup_free_ char *k = item_key(key, i);
                InstrumentModel *m = &p->models[i];
                yaml_node_t *item;

                if (!k)
                        return -ENOMEM;
                r = parser_node(pp, n->data.sequence.items.start[i], n, &item);
                if (r < 0)
                        return r;
                p->n_models = i + 1;    /* freed with the profile from here on */
                r = read_mapping(pp, item, k, fields, ELEMENTSOF(fields), m);
                if (r < 0)
                        return r;
                if (!m->name)
                        return parser_fail(pp, item, k, -EINVAL, "a model needs a name");
                for (size_t j = 0; j < i; j++)
                        if (streq(p->models[j].name, m->name)) {
                                r = parser_warn(pp, item, k, "names model '%s' a second time; the first one counts", m->name);
                                if (r < 0)
                                        return r;
                                break;
                        }
        }
        return 0;
}

static int read_command(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        static const Field fields[] = {
                { "executable",          read_string, offsetof(InstrumentCommand, executable) },
                { "subcommand",          read_string, offsetof(InstrumentCommand, subcommand) },
                { "prompt_flag",         read_string, offsetof(InstrumentCommand, prompt_flag) },
                { "prompt_via_stdin",    read_bool,   offsetof(InstrumentCommand, prompt_via_stdin) },
                { "stdin_sentinel",      read_string, offsetof(InstrumentCommand, stdin_sentinel) },
                { "start_new_session",   read_bool,   offsetof(InstrumentCommand, start_new_session) },
                { "required_env",        read_strv,   offsetof(InstrumentCommand, required_env) },
                { "model_flag",          read_string, offsetof(InstrumentCommand, model_flag) },
                { "auto_approve_flag",   read_string, offsetof(InstrumentCommand, auto_approve_flag) },
                { "output_format_flag",  read_string, offsetof(InstrumentCommand, output_format_flag) },
                { "output_format_value", read_string, offsetof(InstrumentCommand, output_format_value) },
                { "system_prompt_flag",  read_string, offsetof(InstrumentCommand, system_prompt_flag) },
                { "allowed_tools_flag",  read_string, offsetof(InstrumentCommand, allowed_tools_flag) },
                { "mcp_config_flag",     read_string, offsetof(InstrumentCommand, mcp_config_flag) },
                { "mcp_disable_args",    read_strv,   offsetof(InstrumentCommand, mcp_disable_args) },
                { "extra_flags",         read_strv,   offsetof(InstrumentCommand, extra_flags) },
        };

        return read_mapping(pp, n, key, fields, ELEMENTSOF(fields), dst);
}

static int read_output(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        static const Field fields[] = {
                { "format",                  read_output_format, offsetof(InstrumentOutputSpec, format) },
                { "result_path",             read_string,        offsetof(InstrumentOutputSpec, result_path) },
                { "error_path",              read_string,        offsetof(InstrumentOutputSpec, error_path) },
                { "input_tokens_path",       read_string,        offsetof(InstrumentOutputSpec, input_tokens_path) },
                { "output_tokens_path",      read_string,        offsetof(InstrumentOutputSpec, output_tokens_path) },
                { "aggregate_tokens",        read_bool,          offsetof(InstrumentOutputSpec, aggregate_tokens) },
                { "completion_event_type",   read_string,        offsetof(InstrumentOutputSpec, completion_event_type) },
                { "completion_event_filter", read_filter,        0 },
        };

        if (node_is_null(n))
                return 0;
        return read_mapping(pp, n, key, fields, ELEMENTSOF(fields), dst);
}

static int read_errors(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        static const Field fields[] = {
                { "success_exit_codes",  read_exit_codes, 0 },
                { "rate_limit_patterns", read_patterns,   offsetof(InstrumentErrorSpec, rate_limit) },
                { "auth_error_patterns", read_patterns,   offsetof(InstrumentErrorSpec, auth) },
                { "capacity_patterns",   read_patterns,   offsetof(InstrumentErrorSpec, capacity) },
                { "timeout_patterns",    read_patterns,   offsetof(InstrumentErrorSpec, timeout) },
        };

        if (node_is_null(n))
                return 0;
        return read_mapping(pp, n, key, fields, ELEMENTSOF(fields), dst);
}

static int read_cli(ProfileParser *pp, yaml_node_t *n, const char *key, void *dst) {
        static const Field fields[] = {
                { "command", read_command, offsetof(InstrumentProfile, command) },
                { "output",  read_output,  offsetof(InstrumentProfile, output) },
                { "errors",  read_errors,  offsetof(InstrumentProfile, errors) },
        };
        InstrumentProfile *p = dst;

        p->has_cli = n->type == YAML_MAPPING_NODE;
        return read_mapping(pp, n, key, fields, ELEMENTSOF(fields), p);
}

static int read_mapping(ProfileParser *pp, yaml_node_t *n, const char *path, const Field *fields, size_t n_fields,
                        void *base) {
        _cleanup_free_ bool *seen = NULL;
        int r;

        r = expect(pp, n, path, YAML_MAPPING_NODE);
        if (r < 0)
                return r;
        seen = calloc(MAX(n_fields, (size_t) 1), sizeof(bool));
        if (!seen)
                return -ENOMEM;

        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                _cleanup_free_ char *key = NULL;
                const Field *f = NULL;
                yaml_node_t *kn, *vn;
                const char *name;

                r = parser_node(pp, pair->key, n, &kn);
                if (r < 0)
                        return r;
                r = parser_node(pp, pair->value, n, &vn);
                if (r < 0)
                        return r;
                if (kn->type != YAML_SCALAR_NODE)
                        return parser_fail(pp, kn, path, -EINVAL, "keys must be scalars, got %s", node_kind(kn));
                r = scalar_text(pp, kn, path, &name);
                if (r < 0)
                        return r;
                key = path ? strdup_printf("%s.%s", path, name) : strdup(name);
                if (!key)
                        return -ENOMEM;

                for (size_t i = 0; i < n_fields; i++)
                        if (streq(fields[i].name, name)) {
                                f = &fields[i];
                                if (seen[i]) {
                                        r = parser_warn(pp, kn, key, "is given twice; the last one counts");
                                        if (r < 0)
                                                return r;
                                }
                                seen[i] = true;
                                break;
                        }
                if (!f) {
                        r = parser_warn(pp, kn, key, "is unknown, ignored");
                        if (r < 0)
                                return r;
                        continue;
                }
                r = f->read(pp, vn, key, (char *) base + f->offset);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ─────────────────────────── the document ─────────────────────────── */

static bool valid_name(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > INSTRUMENT_NAME_MAX)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

static int read_root(ProfileParser *pp, yaml_node_t *root) {
        static const Field fields[] = {
                { "name",                    read_string, offsetof(InstrumentProfile, name) },
                { "display_name",            read_string, offsetof(InstrumentProfile, display_name) },
                { "description",             read_string, offsetof(InstrumentProfile, description) },
                { "kind",                    read_string, offsetof(InstrumentProfile, kind) },
                { "raw_prompt",              read_bool,   offsetof(InstrumentProfile, raw_prompt) },
                { "capabilities",            read_strv,   offsetof(InstrumentProfile, capabilities) },
                { "default_model",           read_string, offsetof(InstrumentProfile, default_model) },
                { "default_timeout_seconds", read_double, offsetof(InstrumentProfile, default_timeout_seconds) },
                { "models",                  read_models, 0 },
                { "cli",                     read_cli,    0 },
        };
        InstrumentProfile *p = pp->profile;
        int r;

        if (root->type != YAML_MAPPING_NODE)
                return parser_fail(pp, root, NULL, -EINVAL, "a profile must be a mapping, got %s", node_kind(root));
        r = read_mapping(pp, root, NULL, fields, ELEMENTSOF(fields), p);
        if (r < 0)
                return r;

        if (!p->name)
                return parser_fail(pp, root, "name", -EINVAL, "missing: every profile needs a name");
        if (!valid_name(p->name))
                return parser_fail(pp, root, "name", -EINVAL,
                                   "'%s' is not a valid instrument name (1..%u letters, digits, '.', '_', '-')",
                                   p->name, INSTRUMENT_NAME_MAX);
        if (!p->kind) {
                p->kind = strdup("cli");
                if (!p->kind)
                        return -ENOMEM;
        }
        if (!streq(p->kind, "cli")) {
                r = parser_warn(pp, root, "kind", "is '%s': only 'cli' instruments can run, this one is listed only", p->kind);
                if (r < 0)
                        return r;
        } else {
                if (!p->has_cli)
                        return parser_fail(pp, root, "cli", -EINVAL, "missing: a 'cli' instrument needs cli.command.executable");
                if (!p->command.executable)
                        return parser_fail(pp, root, "cli.command.executable", -EINVAL,
                                           "missing: a 'cli' instrument needs the program to run");
        }
        if (!p->errors.success_exit_codes) {
                p->errors.success_exit_codes = calloc(1, sizeof(int));
                if (!p->errors.success_exit_codes)
                        return -ENOMEM;
                p->errors.n_success_exit_codes = 1;
        }
        return 0;
}

static int yaml_error(const yaml_parser_t *parser, const char *source, char **ret_error) {
        if (parser->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        if (ret_error)
                *ret_error = strdup_printf("%s:%zu:%zu: %s%s%s%s", source,
                                           parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                                           parser->problem ?: "invalid YAML",
                                           parser->context ? " (" : "", parser->context ?: "",
                                           parser->context ? ")" : "");
        return -EINVAL;
}

/* Bound the nesting before the loader builds anything. */
static int check_depth(const char *yaml, size_t size, const char *source, char **ret_error) {
        yaml_parser_t parser;
        unsigned depth = 0;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, size);
        for (;;) {
                yaml_event_t e;
                bool done;

                if (!yaml_parser_parse(&parser, &e)) {
                        r = yaml_error(&parser, source, ret_error);
                        break;
                }
                if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT) {
                        if (++depth > INSTRUMENT_PROFILE_DEPTH_MAX) {
                                if (ret_error)
                                        *ret_error = strdup_printf("%s:%zu:%zu: nested deeper than %u levels", source,
                                                                   e.start_mark.line + 1, e.start_mark.column + 1,
                                                                   INSTRUMENT_PROFILE_DEPTH_MAX);
                                yaml_event_delete(&e);
                                r = -E2BIG;
                                break;
                        }
                } else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
                        depth--;
                done = e.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&e);
                if (done)
                        break;
        }
        yaml_parser_delete(&parser);
        return r;
}

int instrument_profile_parse(const char *yaml, size_t size, const char *source, InstrumentProfile **ret, char **ret_error) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        yaml_document_t doc, extra;
        yaml_parser_t parser;
        yaml_node_t *root;
        ProfileParser pp;
        int r;

        if (!source)
                source = "<profile>";
        if (ret_error)
                *ret_error = NULL;
        if (!yaml && size > 0)
                return -EINVAL;
        if (size > INSTRUMENT_PROFILE_SIZE_MAX) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: larger than %u bytes", source, INSTRUMENT_PROFILE_SIZE_MAX);
                return -EFBIG;
        }
        if (!yaml)
                yaml = "";

        r = check_depth(yaml, size, source, ret_error);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(InstrumentProfile));
        if (!p)
                return -ENOMEM;
        p->n_ref = 1;
        p->source = strdup(source);
        if (!p->source)
                return -ENOMEM;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, size);
        if (!yaml_parser_load(&parser, &doc)) {
                r = yaml_error(&parser, source, ret_error);
                yaml_parser_delete(&parser);
                return r;
        }

        pp = (ProfileParser) {
                .doc = &doc,
                .source = source,
                .profile = p,
        };
        root = yaml_document_get_root_node(&doc);
        if (!root) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: empty profile", source);
                r = -EINVAL;
        } else
                r = read_root(&pp, root);
        yaml_document_delete(&doc);

        if (r >= 0) {
                /* a second document would be silently ignored by us; PyYAML's safe_load refuses it */
                if (!yaml_parser_load(&parser, &extra))
                        r = yaml_error(&parser, source, ret_error);
                else {
                        if (yaml_document_get_root_node(&extra) && ret_error)
                                *ret_error = strdup_printf("%s: more than one YAML document", source);
                        if (yaml_document_get_root_node(&extra))
                                r = -EINVAL;
                        yaml_document_delete(&extra);
                }
        }
        yaml_parser_delete(&parser);

        if (r < 0) {
                if (ret_error && !*ret_error) {
                        *ret_error = TAKE_PTR(pp.error);
                        if (!*ret_error && r != -ENOMEM)
                                *ret_error = strdup_printf("%s: %s", source, strerror(-r));
                }
                free(pp.error);
                return r;
        }
        free(pp.error);
        *ret = TAKE_PTR(p);
        return 0;
}

int instrument_profile_load_file(const char *path, InstrumentProfile **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = read_full_file(path, INSTRUMENT_PROFILE_SIZE_MAX, &data, &size);
        if (r < 0) {
                if (ret_error)
                        *ret_error = r == -EFBIG ?
                                strdup_printf("%s: larger than %u bytes", path, INSTRUMENT_PROFILE_SIZE_MAX) :
                                strdup_printf("%s: cannot read: %s", path, strerror(-r));
                return r;
        }
        return instrument_profile_parse(data, size, path, ret, ret_error);
}

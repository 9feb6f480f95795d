/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <inttypes.h>
#include <math.h>

#include "instrument.h"
#include "json-parse.h"

/* What an attempt's stdout says: the answer, the CLI's own error
 * message, token counts and the cost they come to. */

#define PATH_MATCHES_MAX 256U

void instrument_output_done(InstrumentOutput *o) {
        if (!o)
                return;
        free(o->parse_error);
        free(o->result);
        free(o->error);
        *o = (InstrumentOutput) {};
}

/* ───────────────────────────── paths ───────────────────────────── */

static bool parse_index(const char *s, size_t n, size_t *ret) {
        size_t v = 0;

        if (n == 0 || n > 9)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (size_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

static int path_walk(const Value *v, const char *path, const Value **matches, size_t max, size_t *n) {
        const char *dot, *next;
        size_t len, index;
        int r;

        if (*n >= max)
                return 0;
        if (!*path) {
                matches[(*n)++] = v;
                return 0;
        }

        dot = strchrnul(path, '.');
        len = (size_t) (dot - path);
        next = *dot ? dot + 1 : dot;

        if (len == 1 && path[0] == '*') {
                if (v->type == VALUE_MAP) {
                        for (size_t i = 0; i < v->map.n; i++)
                                if ((r = path_walk(v->map.values[i], next, matches, max, n)) < 0)
                                        return r;
                } else if (v->type == VALUE_LIST) {
                        for (size_t i = 0; i < v->list.n; i++)
                                if ((r = path_walk(v->list.items[i], next, matches, max, n)) < 0)
                                        return r;
                }
                return 0;
        }

        if (v->type == VALUE_MAP) {
                _cleanup_free_ char *key = strndup(path, len);
                const Value *child;

                if (!key)
                        return -ENOMEM;
                child = value_map_get(v, key);
                return child ? path_walk(child, next, matches, max, n) : 0;
        }
        if (v->type == VALUE_LIST && parse_index(path, len, &index) && index < v->list.n)
                return path_walk(v->list.items[index], next, matches, max, n);
        return 0;
}

int instrument_json_path_find(const Value *root, const char *path, const Value **matches, size_t max, size_t *ret_n) {
        size_t n = 0;
        int r;

        *ret_n = 0;
        if (!root || isempty(path) || max == 0)
                return 0;
        r = path_walk(root, path, matches, max, &n);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}

static int path_first(const Value *root, const char *path, const Value **ret) {
        size_t n;
        int r;

        *ret = NULL;
        r = instrument_json_path_find(root, path, ret, 1, &n);
        if (r < 0)
                return r;
        return n > 0;
}

/* ───────────────────────────── values ───────────────────────────── */

/* The text of a found value: strings as they are, null as NULL, anything
 * else as value_to_string() renders it. */
static int value_text(const Value *v, char **ret) {
        *ret = NULL;
        switch (v->type) {
        case VALUE_NULL:
                return 0;
        case VALUE_STRING:
                *ret = strdup(v->s);
                return *ret ? 0 : -ENOMEM;
        case VALUE_BOOL:
                /* as JSON wrote it, for filters such as "is_error: true" */
                *ret = strdup(v->b ? "true" : "false");
                return *ret ? 0 : -ENOMEM;
        default:
                return value_to_string(v, ret);
        }
}

static bool value_to_tokens(const Value *v, uint64_t *ret) {
        if (v->type == VALUE_INT && v->i >= 0) {
                *ret = (uint64_t) v->i;
                return true;
        }
        if (v->type == VALUE_FLOAT && isfinite(v->f) && v->f >= 0 && v->f < 1.8e19) {
                *ret = (uint64_t) llround(v->f);
                return true;
        }
        return false;
}

static uint64_t add_saturating(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Add the tokens at path in root to *sum; every match when aggregating a
 * wildcard path, else the first. */
static int collect_tokens(const Value *root, const char *path, bool aggregate, bool *found, uint64_t *sum) {
        const Value *matches[PATH_MATCHES_MAX];
        size_t n;
        int r;

        if (isempty(path))
                return 0;
        r = instrument_json_path_find(root, path, matches, aggregate ? ELEMENTSOF(matches) : 1, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                uint64_t t;

                if (!value_to_tokens(matches[i], &t))
                        continue;
                *sum = add_saturating(*sum, t);
                *found = true;
        }
        return 0;
}

static int collect_event_tokens(const InstrumentProfile *p, const Value *root, InstrumentOutput *o) {
        bool aggregate = p->output.aggregate_tokens;
        int r;

        r = collect_tokens(root, p->output.input_tokens_path, aggregate, &o->has_input_tokens, &o->input_tokens);
        if (r < 0)
                return r;
        return collect_tokens(root, p->output.output_tokens_path, aggregate, &o->has_output_tokens, &o->output_tokens);
}

static int take_path_text(const Value *root, const char *path, char **dst) {
        _cleanup_free_ char *text = NULL;
        const Value *v;
        int r;

        if (isempty(path))
                return 0;
        r = path_first(root, path, &v);
        if (r <= 0)
                return r;
        r = value_text(v, &text);
        if (r < 0)
                return r;
        if (!text)
                return 0;
        free(*dst);
        *dst = TAKE_PTR(text);
        return 1;
}

/* Raw bytes as a string: NUL bytes and invalid UTF-8 become U+FFFD. */
static char *text_from_bytes(const char *data, size_t size) {
        _cleanup_free_ char *t = NULL;
        size_t n_nul = 0, k = 0;

        for (size_t i = 0; i < size; i++)
                n_nul += data[i] == 0;
        t = malloc(size + n_nul * 2 + 1);
        if (!t)
                return NULL;
        for (size_t i = 0; i < size; i++) {
                if (data[i] == 0) {
                        memcpy(t + k, "\xef\xbf\xbd", 3);
                        k += 3;
                } else
                        t[k++] = data[i];
        }
        t[k] = 0;
        return utf8_is_valid(t) ? TAKE_PTR(t) : utf8_make_valid(t);
}

/* ───────────────────────────── formats ───────────────────────────── */

static int parse_text(const char *data, size_t size, InstrumentOutput *o) {
        if (size > INSTRUMENT_OUTPUT_PARSE_MAX) {
                /* the end is what matters in a log */
                data += size - INSTRUMENT_OUTPUT_PARSE_MAX;
                size = INSTRUMENT_OUTPUT_PARSE_MAX;
        }
        o->result = text_from_bytes(data, size);
        if (!o->result)
                return -ENOMEM;
        o->structured = true;
        return 0;
}

static int parse_json(const InstrumentProfile *p, const char *data, size_t size, InstrumentOutput *o) {
        _cleanup_value_free_ Value *root = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (size > INSTRUMENT_OUTPUT_PARSE_MAX) {
                o->parse_error = strdup_printf("stdout of %zu bytes is larger than %u bytes", size, INSTRUMENT_OUTPUT_PARSE_MAX);
                return o->parse_error ? 0 : -ENOMEM;
        }

        r = json_parse(data, size, NULL, &root, &error);
        if (r == -EINVAL || r == -E2BIG) {
                /* Some CLIs print a line of warnings before their JSON. */
                const char *start = memmem(data, size, "\n{", 2);

                if (start) {
                        _cleanup_free_ char *error2 = NULL;

                        start++;
                        r = json_parse(start, size - (size_t) (start - data), NULL, &root, &error2);
                }
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                o->parse_error = strdup_printf("stdout is not JSON: %s", error ?: strerror(-r));
                return o->parse_error ? 0 : -ENOMEM;
        }
        if (root->type != VALUE_MAP) {
                o->parse_error = strdup_printf("stdout is JSON but %s, not an object", value_type_to_string(root->type));
                return o->parse_error ? 0 : -ENOMEM;
        }
        o->structured = true;

        if (p->output.result_path)
                r = take_path_text(root, p->output.result_path, &o->result);
        else {
                o->result = text_from_bytes(data, size);
                r = o->result ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        r = take_path_text(root, p->output.error_path, &o->error);
        if (r < 0)
                return r;
        return collect_event_tokens(p, root, o);
}

static int value_equals_text(const Value *v, const char *text, bool *ret) {
        _cleanup_free_ char *t = NULL;
        int r;

        if (v->type == VALUE_NULL) {
                *ret = streq(text, "null");
                return 0;
        }
        r = value_text(v, &t);
        if (r < 0)
                return r;
        *ret = t && streq(t, text);
        return 0;
}

/* Whether every field of the filter has its value in obj. */
static int filter_matches(const InstrumentOutputSpec *spec, const Value *obj, bool *ret) {
        *ret = false;
        if (!obj || obj->type != VALUE_MAP)
                return 0;
        for (size_t i = 0; i < spec->n_completion_event_filter; i++) {
                const InstrumentFilterField *f = &spec->completion_event_filter[i];
                const Value *v;
                bool eq;
                int r;

                r = path_first(obj, f->key, &v);
                if (r < 0)
                        return r;
                if (r == 0)
                        return 0;
                r = value_equals_text(v, f->value, &eq);
                if (r < 0)
                        return r;
                if (!eq)
                        return 0;
        }
        *ret = true;
        return 0;
}

static int jsonl_event(const InstrumentProfile *p, const Value *event, InstrumentOutput *o) {
        const InstrumentOutputSpec *spec = &p->output;
        const Value *type, *matched = NULL;
        bool ok;
        int r;

        r = collect_event_tokens(p, event, o);
        if (r < 0)
                return r;
        r = take_path_text(event, spec->error_path, &o->error);
        if (r < 0)
                return r;

        if (spec->completion_event_type) {
                type = value_map_get(event, "type");
                if (!type || type->type != VALUE_STRING || !streq(type->s, spec->completion_event_type))
                        return 0;
        }

        /* The filter applies to the event itself, or to the item it carries. */
        r = filter_matches(spec, event, &ok);
        if (r < 0)
                return r;
        if (ok)
                matched = event;
        else {
                const Value *item = value_map_get(event, "item");

                r = filter_matches(spec, item, &ok);
                if (r < 0)
                        return r;
                if (ok)
                        matched = item;
        }
        if (!matched)
                return 0;

        if (spec->result_path)
                return take_path_text(event, spec->result_path, &o->result);
        return take_path_text(matched, "text", &o->result);
}

static int parse_jsonl(const InstrumentProfile *p, const char *data, size_t size, InstrumentOutput *o) {
        const char *end = data + size;
        size_t n_events = 0;
        int r;

        if (size > INSTRUMENT_OUTPUT_PARSE_MAX) {
                o->parse_error = strdup_printf("stdout of %zu bytes is larger than %u bytes", size, INSTRUMENT_OUTPUT_PARSE_MAX);
                return o->parse_error ? 0 : -ENOMEM;
        }

        for (const char *line = data; line < end; ) {
                const char *nl = memchr(line, '\n', (size_t) (end - line));
                const char *next = nl ? nl + 1 : end, *s = line, *e = nl ?: end;
                _cleanup_value_free_ Value *event = NULL;

                line = next;
                while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
                        s++;
                if (s >= e || *s != '{')
                        continue;       /* not an event: progress text, warnings */

                r = json_parse(s, (size_t) (e - s), NULL, &event, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || event->type != VALUE_MAP)
                        continue;
                n_events++;
                r = jsonl_event(p, event, o);
                if (r < 0)
                        return r;
        }

        if (n_events == 0) {
                o->parse_error = strdup("stdout has no JSON events");
                return o->parse_error ? 0 : -ENOMEM;
        }
        o->structured = true;
        return 0;
}

static void estimate_cost(const InstrumentProfile *p, const InstrumentConfig *config, InstrumentOutput *o) {
        const InstrumentModel *m;

        if (!o->has_input_tokens && !o->has_output_tokens)
                return;
        m = instrument_profile_find_model(p, instrument_model_for_cost(p, config));
        if (!m)
                return;
        o->cost_model = m->name;
        o->cost = (double) o->input_tokens / 1000.0 * m->cost_per_1k_input +
                  (double) o->output_tokens / 1000.0 * m->cost_per_1k_output;
        o->has_cost = true;
}

int instrument_output_parse(const InstrumentProfile *p, const InstrumentConfig *config,
                            const char *data, size_t size, InstrumentOutput *ret) {
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        int r;

        if (!p || !ret || (!data && size > 0))
                return -EINVAL;
        if (!data)
                data = "";

        switch (p->output.format) {
        case INSTRUMENT_OUTPUT_JSON:
                r = parse_json(p, data, size, &o);
                break;
        case INSTRUMENT_OUTPUT_JSONL:
                r = parse_jsonl(p, data, size, &o);
                break;
        default:
                r = parse_text(data, size, &o);
                break;
        }
        if (r < 0)
                return r;

        estimate_cost(p, config, &o);
        *ret = o;
        o = (InstrumentOutput) {};
        return 0;
}

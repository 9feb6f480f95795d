/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Jinja's built-in filters and tests (jinja2/filters.py, tests.py), with
 * their arguments, defaults and edge cases: what they do with undefined
 * values, empty sequences, case, and which ones return generators (that
 * Jinja prints as "<generator object ...>" and that have no length).
 * A few Jinja filters are known by name but not implemented (HTML and URL
 * helpers, random, pprint, ...): they fail with a message saying so. */

#include <ctype.h>
#include <math.h>

#include "jinja-internal.h"

#define BIND(r, name, args, names, slots) \
        jargs_bind(r, "filter '" name "'", args, names, ELEMENTSOF(names), ELEMENTSOF(names), slots)

/* ---- helpers ------------------------------------------------------------------ */

static int new_str_from_buf(JBuf *b, JValue **ret) {
        size_t len;
        char *s = jbuf_steal(b, &len);

        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

static int need_str(JRender *r, JValue *v, const char *filter) {
        int k = jr_check_defined(r, v);

        if (k < 0)
                return k;
        if (v->type != J_STR)
                return jr_fail(r, -EINVAL, "the %s filter needs a string, got %s", filter, jv_type_name(v));
        return 0;
}

static int new_iter(const char *origin, JValue **ret) {
        *ret = jv_seq(SEQ_ITER);
        if (!*ret)
                return -ENOMEM;
        (*ret)->seq.origin = origin;
        return 0;
}

/* Jinja's ignore_case(): strings lowered, anything else as it is. */
static int lower_if_str(JRender *r, JValue *v, bool lower, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        int k;

        if (!lower || v->type != J_STR) {
                *ret = jv_ref(v);
                return 0;
        }
        k = text_case(v->str.s, v->str.len, TEXT_LOWER, &b);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

/* Jinja's _prepare_attribute_parts(): "a.b.0" is a, b and the int 0. */
typedef struct AttrPath {
        JValue *parts;          /* a SEQ_LIST */
} AttrPath;

static void attr_path_done(AttrPath *p) {
        jv_unref(p->parts);
}

static bool all_digits(const char *s, size_t len) {
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isdigit((unsigned char) s[i]))
                        return false;
        return true;
}

static int attr_path_parse_str(const char *s, size_t len, AttrPath *ret) {
        ret->parts = jv_seq(SEQ_LIST);
        if (!ret->parts)
                return -ENOMEM;
        for (size_t start = 0;;) {
                const char *dot = memchr(s + start, '.', len - start);
                size_t end = dot ? (size_t) (dot - s) : len;
                JValue *part;

                if (all_digits(s + start, end - start)) {
                        int64_t i;

                        if (jv_parse_int(s + start, end - start, 10, &i) < 0)
                                part = jv_str(s + start, end - start);
                        else
                                part = jv_int(i);
                } else
                        part = jv_str(s + start, end - start);
                if (jv_seq_push(ret->parts, part) < 0)
                        return -ENOMEM;
                if (!dot)
                        return 0;
                start = end + 1;
        }
}

static int attr_path_parse(JRender *r, JValue *attribute, AttrPath *ret) {
        int k;

        ret->parts = NULL;
        if (!attribute || attribute->type == J_NONE) {
                ret->parts = jv_seq(SEQ_LIST);
                return ret->parts ? 0 : -ENOMEM;
        }
        k = jr_check_defined(r, attribute);
        if (k < 0)
                return k;
        if (attribute->type == J_STR)
                return attr_path_parse_str(attribute->str.s, attribute->str.len, ret);
        ret->parts = jv_seq(SEQ_LIST);
        if (!ret->parts)
                return -ENOMEM;
        return jv_seq_push(ret->parts, jv_ref(attribute));
}

/* make_attrgetter(): each part with environment.getitem(); an undefined
 * step becomes default when one is given; strings lowered if asked. */
static int attr_path_get(JRender *r, const AttrPath *p, JValue *item, JValue *def, bool lower, JValue **ret) {
        _cleanup_jv_ JValue *v = jv_ref(item);
        int k;

        for (size_t i = 0; i < p->parts->seq.n; i++) {
                JValue *next;

                k = jv_getitem(r, v, p->parts->seq.items[i], &next);
                if (k < 0)
                        return k;
                jv_unref(v);
                v = next;
                if (def && def->type != J_NONE && v->type == J_UNDEFINED) {
                        jv_unref(v);
                        v = jv_ref(def);
                }
        }
        return lower_if_str(r, v, lower, ret);
}

/* make_multi_attrgetter(): "a,b" gives a list of both as the key. */
static int multi_attr_key(JRender *r, JValue *attribute, JValue *item, bool lower, JValue **ret) {
        _cleanup_jv_ JValue *key = jv_seq(SEQ_LIST);
        int k;

        if (!key)
                return -ENOMEM;
        if (attribute && attribute->type == J_STR) {
                const char *s = attribute->str.s;
                size_t len = attribute->str.len;

                for (size_t start = 0;;) {
                        const char *comma = memchr(s + start, ',', len - start);
                        size_t end = comma ? (size_t) (comma - s) : len;
                        _cleanup_(attr_path_done) AttrPath p = {};
                        JValue *v;

                        k = attr_path_parse_str(s + start, end - start, &p);
                        if (k >= 0)
                                k = attr_path_get(r, &p, item, NULL, lower, &v);
                        if (k >= 0)
                                k = jv_seq_push(key, v);
                        if (k < 0)
                                return k;
                        if (!comma)
                                break;
                        start = end + 1;
                }
        } else {
                _cleanup_(attr_path_done) AttrPath p = {};
                JValue *v;

                k = attr_path_parse(r, attribute, &p);
                if (k >= 0)
                        k = attr_path_get(r, &p, item, NULL, lower, &v);
                if (k >= 0)
                        k = jv_seq_push(key, v);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(key);
        return 0;
}

/* ---- strings -------------------------------------------------------------------- */

static int case_filter(JRender *r, JValue *value, JArgs *args, TextCase how, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        _cleanup_jv_ JValue *s = NULL;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "this filter takes no arguments");
        k = jv_to_str(r, value, &s);
        if (k >= 0)
                k = text_case(s->str.s, s->str.len, how, &b);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int filter_upper(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return case_filter(r, value, args, TEXT_UPPER, ret);
}

static int filter_lower(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return case_filter(r, value, args, TEXT_LOWER, ret);
}

static int filter_capitalize(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return case_filter(r, value, args, TEXT_CAPITALIZE, ret);
}

static int filter_title(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return case_filter(r, value, args, TEXT_TITLE_FILTER, ret);
}

static int filter_string(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the string filter takes no arguments");
        return jv_to_str(r, value, ret);
}

static int filter_trim(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "chars" };
        _cleanup_jv_ JValue *s = NULL;
        JValue *chars;
        int k;

        k = BIND(r, "trim", args, names, &chars);
        if (k >= 0)
                k = jv_to_str(r, value, &s);
        if (k < 0)
                return k;
        if (chars && chars->type == J_NONE)
                chars = NULL;
        if (chars && chars->type != J_STR)
                return jr_fail(r, -EINVAL, "strip arg must be None or str");
        return jinja_str_strip(r, s, chars, ret);
}

static int filter_replace(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "old", "new", "count" };
        _cleanup_jv_ JValue *s = NULL, *old = NULL, *new = NULL;
        JValue *slots[3];
        int64_t count = -1;
        int k;

        k = BIND(r, "replace", args, names, slots);
        if (k >= 0 && (!slots[0] || !slots[1]))
                k = jr_fail(r, -EINVAL, "the replace filter needs the old and the new string");
        if (k >= 0)
                k = jv_to_str(r, value, &s);
        if (k >= 0)
                k = jv_to_str(r, slots[0], &old);
        if (k >= 0)
                k = jv_to_str(r, slots[1], &new);
        if (k >= 0 && slots[2] && slots[2]->type != J_NONE)
                k = jargs_int(r, slots[2], "count", &count);
        if (k < 0)
                return k;
        return jinja_str_replace(r, s, old, new, count, ret);
}

static int filter_truncate(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "length", "killwords", "end", "leeway" };
        _cleanup_(jbuf_done) JBuf b = {};
        JValue *slots[4];
        int64_t length = 255, leeway = 5;
        size_t chars, end_chars, keep, cut;
        const char *end = "...";
        size_t end_len = 3;
        bool killwords;
        int k;

        k = BIND(r, "truncate", args, names, slots);
        if (k >= 0 && slots[0])
                k = jargs_int(r, slots[0], "length", &length);
        if (k >= 0)
                k = jargs_bool(r, slots[1], false, &killwords);
        if (k >= 0 && slots[2]) {
                k = need_str(r, slots[2], "truncate end");
                end = slots[2]->str.s;
                end_len = slots[2]->str.len;
        }
        if (k >= 0 && slots[3] && slots[3]->type != J_NONE)
                k = jargs_int(r, slots[3], "leeway", &leeway);
        if (k < 0)
                return k;

        end_chars = utf8_length(end, end_len);
        if (length < (int64_t) end_chars)
                return jr_fail(r, -EDOM, "expected length >= %zu, got %" PRIi64, end_chars, length);
        if (leeway < 0)
                return jr_fail(r, -EDOM, "expected leeway >= 0, got %" PRIi64, leeway);

        k = jv_len(r, value, &chars);
        if (k < 0)
                return k;
        if ((int64_t) chars <= length + leeway) {
                *ret = jv_ref(value);   /* short enough: whatever it is */
                return 0;
        }
        if (value->type != J_STR)
                return jr_fail(r, -EINVAL, "the truncate filter cannot cut a %s", jv_type_name(value));
        keep = utf8_offset(value->str.s, value->str.len, (size_t) length - end_chars);
        cut = keep;
        if (!killwords) {
                /* s[:length - len(end)].rsplit(' ', 1)[0] */
                const char *space = memrchr(value->str.s, ' ', keep);

                if (space)
                        cut = (size_t) (space - value->str.s);
        }
        k = jbuf_put(&b, value->str.s, cut);
        if (k >= 0)
                k = jbuf_put(&b, end, end_len);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int filter_center(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "width" };
        _cleanup_jv_ JValue *s = NULL;
        JValue *width_v;
        int64_t width = 80;
        int k;

        k = BIND(r, "center", args, names, &width_v);
        if (k >= 0 && width_v)
                k = jargs_int(r, width_v, "width", &width);
        if (k >= 0)
                k = jv_to_str(r, value, &s);
        if (k >= 0)
                k = jr_charge(r, width > 0 ? (uint64_t) width / 64 : 0);
        if (k < 0)
                return k;
        return jinja_str_pad(s, width, " ", 1, 0, ret);
}

static int filter_indent(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "width", "first", "blank" };
        _cleanup_(jbuf_done) JBuf b = {}, ind = {}, text = {};
        _cleanup_jv_ JValue *lines = jv_seq(SEQ_LIST);
        JValue *slots[3];
        bool first, blank;
        int64_t width = 4;
        int k;

        if (!lines)
                return -ENOMEM;
        k = BIND(r, "indent", args, names, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[1], false, &first);
        if (k >= 0)
                k = jargs_bool(r, slots[2], false, &blank);
        if (k >= 0 && value->type != J_STR) {
                k = jr_check_defined(r, value);
                if (k >= 0)
                        k = jr_fail(r, -EINVAL, "unsupported operand type(s) for +=: '%s' and 'str'",
                                    jv_type_name(value));
        }
        if (k < 0)
                return k;

        /* the indentation: a string as it is, or that many spaces */
        if (slots[0] && slots[0]->type == J_STR)
                k = jbuf_put(&ind, slots[0]->str.s, slots[0]->str.len);
        else {
                if (slots[0])
                        k = jargs_int(r, slots[0], "width", &width);
                if (k >= 0)
                        k = jr_charge(r, width > 0 ? (uint64_t) width / 64 : 0);
                k = k < 0 ? k : jbuf_put(&ind, "", 0);
                for (int64_t i = 0; k >= 0 && i < width; i++)
                        k = jbuf_putc(&ind, ' ');
        }

        /* Jinja: s += "\n", then splitlines() */
        if (k >= 0)
                k = jbuf_put(&text, value->str.s, value->str.len);
        if (k >= 0)
                k = jbuf_putc(&text, '\n');
        if (k >= 0)
                k = jinja_str_splitlines(text.s, text.n, false, lines);
        if (k < 0)
                return k;

        if (first)
                k = jbuf_put(&b, ind.s, ind.n);
        for (size_t i = 0; k >= 0 && i < lines->seq.n; i++) {
                const JValue *line = lines->seq.items[i];

                if (i > 0) {
                        k = jbuf_putc(&b, '\n');
                        /* blank: every line; otherwise lines with text */
                        if (k >= 0 && (blank || line->str.len > 0))
                                k = jbuf_put(&b, ind.s, ind.n);
                }
                if (k >= 0)
                        k = jbuf_put(&b, line->str.s, line->str.len);
        }
        if (k >= 0)
                k = jr_charge(r, b.n / 64);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int filter_wordcount(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *s = NULL;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the wordcount filter takes no arguments");
        k = jv_to_str(r, value, &s);
        if (k < 0)
                return k;
        *ret = jv_int((int64_t) text_word_count(s->str.s, s->str.len));
        return *ret ? 0 : -ENOMEM;
}

static int filter_format(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *fmt = NULL, *arg = NULL;
        int k;

        if (args->n_pos > 0 && args->n_kw > 0)
                return jr_fail(r, -EINVAL, "can't handle positional and keyword arguments at the same time");
        k = jv_to_str(r, value, &fmt);
        if (k < 0)
                return k;
        arg = args->n_kw > 0 ? jv_dict() : jv_seq(SEQ_TUPLE);
        if (!arg)
                return -ENOMEM;
        for (size_t i = 0; i < args->n_pos; i++) {
                k = jv_seq_push(arg, jv_ref(args->pos[i]));
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < args->n_kw; i++) {
                k = jv_dict_set(arg, jv_strz(args->kw_names[i]), jv_ref(args->kw[i]));
                if (k < 0)
                        return k;
        }
        return jinja_percent_format(r, fmt, arg, ret);
}

static int html_escape(const JValue *s, JBuf *b) {
        int k = 0;

        for (size_t i = 0; k >= 0 && i < s->str.len; i++)
                switch (s->str.s[i]) {
                case '&':
                        k = jbuf_puts(b, "&amp;");
                        break;
                case '<':
                        k = jbuf_puts(b, "&lt;");
                        break;
                case '>':
                        k = jbuf_puts(b, "&gt;");
                        break;
                case '"':
                        k = jbuf_puts(b, "&#34;");
                        break;
                case '\'':
                        k = jbuf_puts(b, "&#39;");
                        break;
                default:
                        k = jbuf_putc(b, s->str.s[i]);
                }
        return k;
}

static int filter_escape(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        _cleanup_jv_ JValue *s = NULL;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the escape filter takes no arguments");
        k = jv_to_str(r, value, &s);
        if (k >= 0)
                k = html_escape(s, &b);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int filter_safe(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the safe filter takes no arguments");
        /* with autoescape off, Markup prints as the string it wraps */
        return jv_to_str(r, value, ret);
}

static int filter_filesizeformat(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "binary" };
        static const char *const decimal[] = { "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
        static const char *const binary_units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB" };
        _cleanup_free_ char *text = NULL;
        JValue *slot;
        bool binary;
        double bytes, base, unit = 0;
        size_t i;
        int k;

        k = BIND(r, "filesizeformat", args, names, &slot);
        if (k >= 0)
                k = jargs_bool(r, slot, false, &binary);
        if (k >= 0)
                k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        if (value->type == J_STR) {
                k = jv_parse_float(value->str.s, value->str.len, &bytes);
                if (k < 0)
                        return jr_fail(r, -EINVAL, "could not convert string to float: '%s'", value->str.s);
        } else if (jv_is_number(value))
                bytes = jv_float_of(value);
        else
                return jr_fail(r, -EINVAL, "float() argument must be a string or a real number, not '%s'",
                               jv_type_name(value));
        base = binary ? 1024 : 1000;
        if (bytes == 1)
                text = strdup("1 Byte");
        else if (bytes < base)
                text = strdup_printf("%" PRIi64 " Bytes", (int64_t) bytes);
        else {
                for (i = 0; i < 8; i++) {
                        unit = pow(base, (double) i + 2);
                        if (bytes < unit)
                                break;
                }
                i = MIN(i, (size_t) 7);
                text = strdup_printf("%.1f %s", base * bytes / unit, binary ? binary_units[i] : decimal[i]);
        }
        if (!text)
                return -ENOMEM;
        *ret = jv_strz(text);
        return *ret ? 0 : -ENOMEM;
}

/* ---- numbers ---------------------------------------------------------------------------- */

static int float_to_int(JRender *r, double f, int64_t *ret) {
        if (isnan(f))
                return -EDOM;   /* ValueError: the int filter's default */
        if (isinf(f))
                return jr_fail(r, -ERANGE, "cannot convert float infinity to integer");
        if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
                return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
        *ret = (int64_t) f;
        return 0;
}

static int filter_int(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "default", "base" };
        JValue *slots[2];
        int64_t base = 10, i = 0;
        double f;
        int k;

        k = BIND(r, "int", args, names, slots);
        if (k >= 0 && slots[1])
                k = jargs_int(r, slots[1], "base", &base);
        if (k >= 0 && value->type == J_UNDEFINED)
                k = jr_undefined_error(r, value);
        if (k < 0)
                return k;

        if (jv_is_int(value)) {
                *ret = jv_int(jv_int_of(value));
                return *ret ? 0 : -ENOMEM;
        }
        if (value->type == J_FLOAT)
                k = float_to_int(r, value->f, &i);
        else if (value->type == J_STR) {
                if (base < 0 || base == 1 || base > 36)
                        return jr_fail(r, -EDOM, "int() base must be >= 2 and <= 36, or 0");
                k = jv_parse_int(value->str.s, value->str.len, (unsigned) base, &i);
                if (k == -ERANGE)
                        return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
                if (k < 0) {
                        /* then int(float(value)) */
                        k = jv_parse_float(value->str.s, value->str.len, &f);
                        /* int(float(value)): an OverflowError here means the
                         * default too, since Jinja 3.1.3 */
                        if (k >= 0 && isinf(f))
                                k = -EDOM;
                        if (k >= 0)
                                k = float_to_int(r, f, &i);
                }
        } else
                k = -EINVAL;
        if (k == -EINVAL || k == -EDOM) {
                /* TypeError or ValueError: the default */
                *ret = slots[0] ? jv_ref(slots[0]) : jv_int(0);
                return *ret ? 0 : -ENOMEM;
        }
        if (k < 0)
                return k;
        *ret = jv_int(i);
        return *ret ? 0 : -ENOMEM;
}

static int filter_float(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "default" };
        JValue *def;
        double f;
        int k;

        k = BIND(r, "float", args, names, &def);
        if (k >= 0 && value->type == J_UNDEFINED)
                k = jr_undefined_error(r, value);
        if (k < 0)
                return k;
        if (jv_is_number(value))
                *ret = jv_float(jv_float_of(value));
        else if (value->type == J_STR && jv_parse_float(value->str.s, value->str.len, &f) >= 0)
                *ret = jv_float(f);
        else if (def)
                *ret = jv_ref(def);
        else
                *ret = jv_float(0.0);
        return *ret ? 0 : -ENOMEM;
}

static int filter_abs(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the abs filter takes no arguments");
        k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        if (value->type == J_UNDEFINED)
                return jr_undefined_error(r, value);
        if (!jv_is_number(value))
                return jr_fail(r, -EINVAL, "bad operand type for abs(): '%s'", jv_type_name(value));
        if (value->type == J_FLOAT)
                *ret = jv_float(fabs(value->f));
        else if (jv_int_of(value) == INT64_MIN)
                return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
        else
                *ret = jv_int(llabs(jv_int_of(value)));
        return *ret ? 0 : -ENOMEM;
}

/* Python's round(float, ndigits): correctly rounded, ties to even on the
 * exact binary value (which is what printf does). */
static double round_float(double x, int64_t ndigits) {
        char buf[400];
        int e10, sig;

        if (!isfinite(x) || x == 0)
                return x;
        if (ndigits > 330)
                return x;
        if (ndigits >= 0) {
                snprintf(buf, sizeof(buf), "%.*f", (int) ndigits, x);
                return strtod(buf, NULL);
        }
        if (ndigits < -330)
                return copysign(0.0, x);
        snprintf(buf, sizeof(buf), "%.0e", x);
        e10 = atoi(strchr(buf, 'e') + 1);
        sig = e10 + 1 + (int) ndigits;
        if (sig >= 1) {
                snprintf(buf, sizeof(buf), "%.*e", sig - 1, x);
                return strtod(buf, NULL);
        }
        if (sig == 0) {
                /* between 0 and 10^-ndigits: the nearer, ties to 0 (even) */
                double unit = pow(10, (double) -ndigits);

                if (fabs(x) > unit / 2)
                        return copysign(unit, x);
        }
        return copysign(0.0, x);
}

static int round_int(JRender *r, int64_t v, int64_t ndigits, int64_t *ret) {
        int64_t unit = 1, q, rem;

        if (ndigits >= 0) {
                *ret = v;
                return 0;
        }
        for (int64_t i = 0; i < -ndigits; i++) {
                if (unit > INT64_MAX / 10) {
                        *ret = 0;
                        return 0;
                }
                unit *= 10;
        }
        q = v / unit;
        rem = v % unit;
        if (rem < 0) {
                rem += unit;
                q--;
        }
        if (rem * 2 > unit || (rem * 2 == unit && (q & 1)))
                q++;
        if (__builtin_mul_overflow(q, unit, ret))
                return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
        return 0;
}

static int filter_round(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "precision", "method" };
        JValue *slots[2];
        int64_t precision = 0;
        int method = 0;         /* 0 common, 1 ceil, -1 floor */
        int k;

        k = BIND(r, "round", args, names, slots);
        if (k >= 0 && slots[0])
                k = jargs_int(r, slots[0], "precision", &precision);
        if (k >= 0 && slots[1]) {
                if (slots[1]->type == J_STR && streq(slots[1]->str.s, "ceil"))
                        method = 1;
                else if (slots[1]->type == J_STR && streq(slots[1]->str.s, "floor"))
                        method = -1;
                else if (!(slots[1]->type == J_STR && streq(slots[1]->str.s, "common")))
                        k = jr_fail(r, -EDOM, "method must be common, ceil or floor");
        }
        if (k >= 0 && value->type == J_UNDEFINED)
                k = jr_undefined_error(r, value);
        if (k < 0)
                return k;
        if (!jv_is_number(value))
                return jr_fail(r, -EINVAL, "type %s doesn't define __round__ method", jv_type_name(value));

        if (method == 0) {
                if (value->type == J_FLOAT)
                        *ret = jv_float(round_float(value->f, precision));
                else {
                        int64_t v;

                        k = round_int(r, jv_int_of(value), precision, &v);
                        if (k < 0)
                                return k;
                        *ret = jv_int(v);
                }
        } else {
                /* math.ceil/floor(value * 10 ** precision) / 10 ** precision */
                double scale = pow(10, (double) precision), scaled;

                if (value->type != J_FLOAT && precision >= 0 && precision <= 18) {
                        int64_t m;

                        if (__builtin_mul_overflow(jv_int_of(value), (int64_t) scale, &m))
                                return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
                        scaled = (double) m;
                } else
                        scaled = jv_float_of(value) * scale;
                if (!isfinite(scaled))
                        return jr_fail(r, -ERANGE, "cannot convert float infinity to integer");
                scaled = method > 0 ? ceil(scaled) : floor(scaled);
                *ret = jv_float(scaled / scale);
        }
        return *ret ? 0 : -ENOMEM;
}

/* ---- sequences -------------------------------------------------------------------------- */

static int filter_length(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        size_t n;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "len() takes exactly one argument");
        k = jv_len(r, value, &n);
        if (k < 0)
                return k;
        *ret = jv_int((int64_t) n);
        return *ret ? 0 : -ENOMEM;
}

static int filter_list(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *items = NULL, *l = jv_seq(SEQ_LIST);
        int k;

        if (!l)
                return -ENOMEM;
        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the list filter takes no arguments");
        k = jv_iterate(r, value, &items);
        if (k >= 0)
                k = jr_charge(r, items->seq.n / 16);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++)
                k = jv_seq_push(l, jv_ref(items->seq.items[i]));
        if (k < 0)
                return k;
        *ret = TAKE_PTR(l);
        return 0;
}

/* The first or last item of value, or an undefined saying it was empty. */
static int end_item(JRender *r, JValue *value, bool last, JValue **ret) {
        _cleanup_jv_ JValue *items = NULL;
        int k;

        k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        if (items->seq.n > 0) {
                *ret = jv_ref(items->seq.items[last ? items->seq.n - 1 : 0]);
                return 0;
        }
        *ret = jv_undefined(false, last ? "No last item, sequence was empty." : "No first item, sequence was empty.");
        return *ret ? 0 : -ENOMEM;
}

static int filter_first(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the first filter takes no arguments");
        k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        /* next(iter(generator)) takes one item only; an exhausted one iterates empty */
        if (jv_is_seq(value, SEQ_ITER) && value->seq.pos < value->seq.n) {
                *ret = jv_ref(value->seq.items[value->seq.pos++]);
                return 0;
        }
        return end_item(r, value, false, ret);
}

static int filter_last(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the last filter takes no arguments");
        k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        if (jv_is_seq(value, SEQ_ITER) || (value->type != J_STR && value->type != J_SEQ &&
                                            value->type != J_DICT && value->type != J_UNDEFINED))
                return jr_fail(r, -EINVAL, "'%s' object is not reversible", jv_type_name(value));
        return end_item(r, value, true, ret);
}

static int filter_join(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "d", "attribute" };
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_(jbuf_done) JBuf b = {};
        _cleanup_jv_ JValue *items = NULL, *sep = NULL;
        JValue *slots[2];
        int k;

        k = BIND(r, "join", args, names, slots);
        if (k >= 0)
                k = slots[0] ? jv_to_str(r, slots[0], &sep) : ((sep = jv_strz("")) ? 0 : -ENOMEM);
        if (k >= 0 && slots[1] && slots[1]->type != J_NONE)
                k = attr_path_parse(r, slots[1], &path);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                _cleanup_jv_ JValue *item = NULL;

                if (path.parts)
                        k = attr_path_get(r, &path, items->seq.items[i], NULL, false, &item);
                else
                        item = jv_ref(items->seq.items[i]);
                if (k >= 0 && i > 0)
                        k = jbuf_put(&b, sep->str.s, sep->str.len);
                if (k >= 0)
                        k = jv_str_append(r, item, &b);
        }
        if (k >= 0)
                k = jr_charge(r, b.n / 64 + (items ? items->seq.n / 16 : 0));
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int filter_reverse(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *items = NULL, *out = NULL;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the reverse filter takes no arguments");
        k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        if (value->type == J_STR) {
                _cleanup_(jbuf_done) JBuf b = {};

                for (size_t i = value->str.len; i > 0; ) {
                        size_t start = i - 1;
                        uint32_t cp;

                        while (start > 0 && ((unsigned char) value->str.s[start] & 0xC0) == 0x80 && i - start < 4)
                                start--;
                        if (start + utf8_next(value->str.s + start, i - start, &cp) != i)
                                start = i - 1;
                        k = jbuf_put(&b, value->str.s + start, i - start);
                        if (k < 0)
                                return k;
                        i = start;
                }
                return new_str_from_buf(&b, ret);
        }
        if (value->type != J_SEQ && value->type != J_DICT && value->type != J_UNDEFINED)
                return jr_fail(r, -EINVAL, "argument must be iterable");

        k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        /* reversed() gives an iterator, except for generators, which Jinja
         * turns into a reversed list */
        if (jv_is_seq(value, SEQ_ITER))
                out = jv_seq(SEQ_LIST);
        else
                k = new_iter(value->type == J_DICT ? "dict_reversekeyiterator object" :
                             "list_reverseiterator object", &out);
        if (k < 0 || !out)
                return k < 0 ? k : -ENOMEM;
        k = jr_charge(r, items->seq.n / 16);
        for (size_t i = items->seq.n; k >= 0 && i > 0; i--)
                k = jv_seq_push(out, jv_ref(items->seq.items[i - 1]));
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_sort(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "reverse", "case_sensitive", "attribute" };
        _cleanup_jv_ JValue *items = NULL, *out = jv_seq(SEQ_LIST);
        _cleanup_free_ JValue **keys = NULL;
        JValue *slots[3];
        bool reverse, case_sensitive;
        size_t n = 0;
        int k;

        if (!out)
                return -ENOMEM;
        k = BIND(r, "sort", args, names, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[0], false, &reverse);
        if (k >= 0)
                k = jargs_bool(r, slots[1], false, &case_sensitive);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        keys = calloc(MAX(items->seq.n, (size_t) 1), sizeof(JValue *));
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                k = jv_seq_push(out, jv_ref(items->seq.items[i]));
                if (k >= 0)
                        k = multi_attr_key(r, slots[2], items->seq.items[i], !case_sensitive, &keys[n++]);
        }
        if (k >= 0)
                k = jv_sort(r, out->seq.items, keys, out->seq.n, reverse);
        for (size_t i = 0; i < n; i++)
                jv_unref(keys[i]);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_dictsort(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "case_sensitive", "by", "reverse" };
        _cleanup_jv_ JValue *out = jv_seq(SEQ_LIST);
        _cleanup_free_ JValue **keys = NULL;
        JValue *slots[3];
        bool case_sensitive, reverse, by_value = false;
        size_t n = 0;
        int k;

        if (!out)
                return -ENOMEM;
        k = BIND(r, "dictsort", args, names, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[0], false, &case_sensitive);
        if (k >= 0)
                k = jargs_bool(r, slots[2], false, &reverse);
        if (k >= 0 && slots[1]) {
                if (slots[1]->type == J_STR && streq(slots[1]->str.s, "value"))
                        by_value = true;
                else if (!(slots[1]->type == J_STR && streq(slots[1]->str.s, "key")))
                        k = jr_fail(r, -EDOM, "You can only sort by either \"key\" or \"value\"");
        }
        if (k >= 0)
                k = jr_check_defined(r, value);
        if (k >= 0 && value->type != J_DICT)
                k = jr_fail(r, -EINVAL, "'%s' object has no attribute 'items'", jv_type_name(value));
        if (k < 0)
                return k;
        keys = calloc(MAX(value->dict.n, (size_t) 1), sizeof(JValue *));
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; k >= 0 && i < value->dict.n; i++) {
                JValue *pair = jv_seq(SEQ_TUPLE);

                if (!pair)
                        k = -ENOMEM;
                if (k >= 0)
                        k = jv_seq_push(pair, jv_ref(value->dict.keys[i]));
                if (k >= 0)
                        k = jv_seq_push(pair, jv_ref(value->dict.values[i]));
                if (k >= 0)
                        k = jv_seq_push(out, pair);
                else
                        jv_unref(pair);
                if (k >= 0)
                        k = lower_if_str(r, by_value ? value->dict.values[i] : value->dict.keys[i],
                                         !case_sensitive, &keys[n++]);
        }
        if (k >= 0)
                k = jv_sort(r, out->seq.items, keys, out->seq.n, reverse);
        for (size_t i = 0; i < n; i++)
                jv_unref(keys[i]);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_unique(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "case_sensitive", "attribute" };
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *seen = jv_seq(SEQ_LIST), *out = NULL;
        JValue *slots[2];
        bool case_sensitive;
        int k;

        if (!seen)
                return -ENOMEM;
        k = BIND(r, "unique", args, names, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[0], false, &case_sensitive);
        if (k >= 0)
                k = attr_path_parse(r, slots[1], &path);
        if (k >= 0)
                k = new_iter("generator object do_unique", &out);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                _cleanup_jv_ JValue *key = NULL;
                bool known;

                k = attr_path_get(r, &path, items->seq.items[i], NULL, !case_sensitive, &key);
                if (k >= 0)
                        k = jv_check_hashable(r, key);
                if (k >= 0)
                        k = jr_charge(r, 1 + seen->seq.n / 64);
                if (k >= 0)
                        k = jv_contains(r, seen, key, &known);
                if (k >= 0 && !known) {
                        k = jv_seq_push(seen, TAKE_PTR(key));
                        if (k >= 0)
                                k = jv_seq_push(out, jv_ref(items->seq.items[i]));
                }
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int min_max(JRender *r, JValue *value, JArgs *args, bool max, JValue **ret) {
        static const char *const names[] = { "case_sensitive", "attribute" };
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *best_key = NULL;
        JValue *slots[2], *best = NULL;
        bool case_sensitive;
        int k;

        k = jargs_bind(r, max ? "filter 'max'" : "filter 'min'", args, names, 2, 2, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[0], false, &case_sensitive);
        if (k >= 0)
                k = attr_path_parse(r, slots[1], &path);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                _cleanup_jv_ JValue *key = NULL;
                bool better = true;

                k = attr_path_get(r, &path, items->seq.items[i], NULL, !case_sensitive, &key);
                if (k >= 0 && best_key)
                        k = max ? jv_less(r, best_key, key, &better) : jv_less(r, key, best_key, &better);
                if (k >= 0 && better) {
                        best = items->seq.items[i];
                        jv_unref(best_key);
                        best_key = TAKE_PTR(key);
                }
        }
        if (k < 0)
                return k;
        *ret = best ? jv_ref(best) : jv_undefined(false, "No aggregated item, sequence was empty.");
        return *ret ? 0 : -ENOMEM;
}

static int filter_min(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return min_max(r, value, args, false, ret);
}

static int filter_max(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return min_max(r, value, args, true, ret);
}

static int filter_sum(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "attribute", "start" };
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *total = NULL;
        JValue *slots[2];
        int k;

        k = BIND(r, "sum", args, names, slots);
        if (k >= 0 && slots[0] && slots[0]->type != J_NONE)
                k = attr_path_parse(r, slots[0], &path);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        total = slots[1] ? jv_ref(slots[1]) : jv_int(0);
        if (!total)
                return -ENOMEM;
        if (total->type == J_STR)
                return jr_fail(r, -EINVAL, "sum() can't sum strings [use ''.join(seq) instead]");
        for (size_t i = 0; i < items->seq.n; i++) {
                _cleanup_jv_ JValue *item = NULL;
                JValue *sum;

                if (path.parts)
                        k = attr_path_get(r, &path, items->seq.items[i], NULL, false, &item);
                else
                        item = jv_ref(items->seq.items[i]);
                if (k >= 0)
                        k = jv_binop(r, JOP_ADD, total, item, &sum);
                if (k < 0)
                        return k;
                jv_unref(total);
                total = sum;
        }
        *ret = TAKE_PTR(total);
        return 0;
}

static int filter_batch(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "linecount", "fill_with" };
        _cleanup_jv_ JValue *items = NULL, *out = NULL, *tmp = NULL;
        JValue *slots[2];
        int64_t linecount;
        int k;

        k = BIND(r, "batch", args, names, slots);
        if (k >= 0 && !slots[0])
                k = jr_fail(r, -EINVAL, "the batch filter needs a line count");
        if (k >= 0)
                k = jargs_int(r, slots[0], "linecount", &linecount);
        if (k >= 0)
                k = new_iter("generator object do_batch", &out);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        tmp = jv_seq(SEQ_LIST);
        for (size_t i = 0; tmp && k >= 0 && i < items->seq.n; i++) {
                if ((int64_t) tmp->seq.n == linecount) {
                        k = jv_seq_push(out, TAKE_PTR(tmp));
                        tmp = jv_seq(SEQ_LIST);
                        if (!tmp)
                                break;
                }
                if (k >= 0)
                        k = jv_seq_push(tmp, jv_ref(items->seq.items[i]));
        }
        if (!tmp)
                return -ENOMEM;
        if (k >= 0 && tmp->seq.n > 0) {
                if (slots[1] && slots[1]->type != J_NONE)
                        for (int64_t i = (int64_t) tmp->seq.n; k >= 0 && i < linecount; i++)
                                k = jv_seq_push(tmp, jv_ref(slots[1]));
                if (k >= 0)
                        k = jv_seq_push(out, TAKE_PTR(tmp));
        }
        if (k >= 0)
                k = jr_charge(r, items->seq.n / 16 + out->seq.n);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_slice(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "slices", "fill_with" };
        _cleanup_jv_ JValue *items = NULL, *out = NULL;
        JValue *slots[2];
        int64_t slices;
        size_t per, extra, offset = 0;
        int k;

        k = BIND(r, "slice", args, names, slots);
        if (k >= 0 && !slots[0])
                k = jr_fail(r, -EINVAL, "the slice filter needs a number of slices");
        if (k >= 0)
                k = jargs_int(r, slots[0], "slices", &slices);
        if (k >= 0 && slices <= 0)
                k = jr_fail(r, -EDOM, slices == 0 ? "integer division or modulo by zero" :
                            "the number of slices must be positive");
        if (k >= 0)
                k = jr_charge(r, (uint64_t) slices);
        if (k >= 0)
                k = new_iter("generator object sync_do_slice", &out);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        per = items->seq.n / (size_t) slices;
        extra = items->seq.n % (size_t) slices;
        for (size_t s = 0; s < (size_t) slices; s++) {
                size_t start = offset + s * per, end;
                JValue *tmp = jv_seq(SEQ_LIST);

                if (!tmp)
                        return -ENOMEM;
                if (s < extra)
                        offset++;
                end = offset + (s + 1) * per;
                for (size_t i = start; k >= 0 && i < end; i++)
                        k = jv_seq_push(tmp, jv_ref(items->seq.items[i]));
                if (k >= 0 && slots[1] && slots[1]->type != J_NONE && s >= extra)
                        k = jv_seq_push(tmp, jv_ref(slots[1]));
                if (k >= 0)
                        k = jv_seq_push(out, tmp);
                else
                        jv_unref(tmp);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_items(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *out = NULL;
        int k;

        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the items filter takes no arguments");
        k = new_iter("generator object do_items", &out);
        if (k < 0)
                return k;
        if (value->type == J_UNDEFINED) {
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (value->type != J_DICT)
                return jr_fail(r, -EINVAL, "Can only get item pairs from a mapping.");
        for (size_t i = 0; i < value->dict.n; i++) {
                JValue *pair = jv_seq(SEQ_TUPLE);

                if (!pair)
                        return -ENOMEM;
                k = jv_seq_push(pair, jv_ref(value->dict.keys[i]));
                if (k >= 0)
                        k = jv_seq_push(pair, jv_ref(value->dict.values[i]));
                if (k < 0) {
                        jv_unref(pair);
                        return k;
                }
                k = jv_seq_push(out, pair);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* select/reject/selectattr/rejectattr: Jinja's select_or_reject(). */
static int select_or_reject(JRender *r, JValue *value, JArgs *args, bool keep_true, bool lookup_attr, JValue **ret) {
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *out = NULL;
        JArgs rest = {};
        const char *test = NULL;
        size_t off = 0;
        bool any;
        int k;

        k = new_iter("generator object select_or_reject", &out);
        if (k >= 0)
                k = jv_truth(r, value, &any);   /* "if value:" */
        if (k < 0)
                return k;
        if (!any) {
                *ret = TAKE_PTR(out);
                return 0;
        }

        if (lookup_attr) {
                if (args->n_pos < 1)
                        return jr_fail(r, -EINVAL, "Missing parameter for attribute name");
                k = attr_path_parse(r, args->pos[0], &path);
                if (k < 0)
                        return k;
                off = 1;
        }
        if (args->n_pos > off) {
                k = jr_check_defined(r, args->pos[off]);
                if (k < 0)
                        return k;
                if (args->pos[off]->type != J_STR)
                        return jr_fail(r, -EINVAL, "the test name must be a string");
                test = args->pos[off]->str.s;
                rest = (JArgs) {
                        .pos = args->pos + off + 1,
                        .n_pos = args->n_pos - off - 1,
                        .kw_names = args->kw_names,
                        .kw = args->kw,
                        .n_kw = args->n_kw,
                };
        }

        k = jv_iterate(r, value, &items);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                _cleanup_jv_ JValue *subject = NULL;
                bool pass;

                if (path.parts)
                        k = attr_path_get(r, &path, items->seq.items[i], NULL, false, &subject);
                else
                        subject = jv_ref(items->seq.items[i]);
                if (k >= 0)
                        k = jr_charge(r, 1);
                if (k >= 0)
                        k = test ? jinja_call_test(r, test, subject, &rest, &pass) : jv_truth(r, subject, &pass);
                if (k >= 0 && pass == keep_true)
                        k = jv_seq_push(out, jv_ref(items->seq.items[i]));
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_select(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return select_or_reject(r, value, args, true, false, ret);
}

static int filter_reject(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return select_or_reject(r, value, args, false, false, ret);
}

static int filter_selectattr(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return select_or_reject(r, value, args, true, true, ret);
}

static int filter_rejectattr(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        return select_or_reject(r, value, args, false, true, ret);
}

static int filter_map(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *out = NULL;
        JValue *def = NULL;
        JArgs rest = {};
        const char *filter = NULL;
        bool any;
        int k;

        k = new_iter("generator object sync_do_map", &out);
        if (k >= 0)
                k = jv_truth(r, value, &any);   /* "if value:" */
        if (k < 0)
                return k;
        if (!any) {
                *ret = TAKE_PTR(out);
                return 0;
        }

        if (args->n_pos == 0 && args->n_kw > 0) {
                JValue *attribute = NULL;

                for (size_t i = 0; i < args->n_kw; i++)
                        if (streq(args->kw_names[i], "attribute"))
                                attribute = args->kw[i];
                        else if (streq(args->kw_names[i], "default"))
                                def = args->kw[i];
                        else
                                return jr_fail(r, -EINVAL, "Unexpected keyword argument '%s'", args->kw_names[i]);
                if (!attribute)
                        return jr_fail(r, -EINVAL, "map requires a filter argument");
                k = attr_path_parse(r, attribute, &path);
                if (k < 0)
                        return k;
        } else {
                if (args->n_pos == 0)
                        return jr_fail(r, -EINVAL, "map requires a filter argument");
                k = jr_check_defined(r, args->pos[0]);
                if (k < 0)
                        return k;
                if (args->pos[0]->type != J_STR)
                        return jr_fail(r, -EINVAL, "the filter name must be a string");
                filter = args->pos[0]->str.s;
                rest = (JArgs) {
                        .pos = args->pos + 1,
                        .n_pos = args->n_pos - 1,
                        .kw_names = args->kw_names,
                        .kw = args->kw,
                        .n_kw = args->n_kw,
                };
        }

        k = jv_iterate(r, value, &items);
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                JValue *v;

                k = jr_charge(r, 1);
                if (k >= 0)
                        k = filter ? jinja_call_filter(r, filter, items->seq.items[i], &rest, &v) :
                                attr_path_get(r, &path, items->seq.items[i], def, false, &v);
                if (k >= 0)
                        k = jv_seq_push(out, v);
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

static int filter_groupby(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "attribute", "default", "case_sensitive" };
        _cleanup_(attr_path_done) AttrPath path = {};
        _cleanup_jv_ JValue *items = NULL, *sorted = jv_seq(SEQ_LIST), *out = jv_seq(SEQ_LIST);
        _cleanup_free_ JValue **keys = NULL;
        JValue *slots[3];
        bool case_sensitive;
        size_t n = 0;
        int k;

        if (!sorted || !out)
                return -ENOMEM;
        k = BIND(r, "groupby", args, names, slots);
        if (k >= 0 && !slots[0])
                k = jr_fail(r, -EINVAL, "the groupby filter needs an attribute");
        if (k >= 0)
                k = jargs_bool(r, slots[2], false, &case_sensitive);
        if (k >= 0)
                k = attr_path_parse(r, slots[0], &path);
        if (k >= 0)
                k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        keys = calloc(MAX(items->seq.n, (size_t) 1), sizeof(JValue *));
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; k >= 0 && i < items->seq.n; i++) {
                k = jv_seq_push(sorted, jv_ref(items->seq.items[i]));
                if (k >= 0)
                        k = attr_path_get(r, &path, items->seq.items[i], slots[1], !case_sensitive, &keys[n++]);
        }
        if (k >= 0)
                k = jv_sort(r, sorted->seq.items, keys, sorted->seq.n, false);

        /* consecutive equal keys form a group; its grouper is the first
         * item's own (not lowered) value */
        for (size_t i = 0; k >= 0 && i < sorted->seq.n; ) {
                _cleanup_jv_ JValue *group = jv_seq(SEQ_LIST), *pair = jv_seq(SEQ_TUPLE), *grouper = NULL;
                size_t j = i;

                if (!group || !pair)
                        return -ENOMEM;
                pair->seq.group = true;
                while (k >= 0 && j < sorted->seq.n) {
                        bool same = true;

                        if (j > i)
                                k = jv_equal(r, keys[i], keys[j], &same);
                        if (k < 0 || !same)
                                break;
                        k = jv_seq_push(group, jv_ref(sorted->seq.items[j++]));
                }
                if (k >= 0)
                        k = case_sensitive ? ((grouper = jv_ref(keys[i])) ? 0 : -ENOMEM) :
                                attr_path_get(r, &path, sorted->seq.items[i], slots[1], false, &grouper);
                if (k >= 0)
                        k = jv_seq_push(pair, TAKE_PTR(grouper));
                if (k >= 0)
                        k = jv_seq_push(pair, TAKE_PTR(group));
                if (k >= 0)
                        k = jv_seq_push(out, TAKE_PTR(pair));
                i = j;
        }
        for (size_t i = 0; i < n; i++)
                jv_unref(keys[i]);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- objects ----------------------------------------------------------------------------- */

static int filter_default(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "default_value", "boolean" };
        JValue *slots[2];
        bool boolean, t = true;
        int k;

        k = BIND(r, "default", args, names, slots);
        if (k >= 0)
                k = jargs_bool(r, slots[1], false, &boolean);
        if (k >= 0 && boolean && value->type != J_UNDEFINED)
                k = jv_truth(r, value, &t);
        if (k < 0)
                return k;
        if (value->type == J_UNDEFINED || !t) {
                *ret = slots[0] ? jv_ref(slots[0]) : jv_strz("");
                return *ret ? 0 : -ENOMEM;
        }
        *ret = jv_ref(value);
        return 0;
}

static int filter_attr(JRender *r, JValue *value, JArgs *args, JValue **ret) {
        static const char *const names[] = { "name" };
        _cleanup_jv_ JValue *v = NULL;
        JValue *name;
        int k;

        k = BIND(r, "attr", args, names, &name);
        if (k >= 0 && !name)
                k = jr_fail(r, -EINVAL, "the attr filter needs a name");
        if (k >= 0)
                k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        if (name->type != J_STR)
                return jr_fail(r, -EINVAL, "attribute name must be string, not '%s'", jv_type_name(name));
        /* an attribute only: a dict's keys are not its attributes */
        if (value->type == J_DICT && !jinja_method_lookup(value, name->str.s)) {
                *ret = jv_undefined_lookup(value, name->str.s, false);
                return *ret ? 0 : -ENOMEM;
        }
        return jv_getattr(r, value, name->str.s, ret);
}

/* ---- the tables ------------------------------------------------------------------------- */

static const JFilterDef filters[] = {
        { "abs", filter_abs },
        { "attr", filter_attr },
        { "batch", filter_batch },
        { "capitalize", filter_capitalize },
        { "center", filter_center },
        { "count", filter_length },
        { "d", filter_default },
        { "default", filter_default },
        { "dictsort", filter_dictsort },
        { "e", filter_escape },
        { "escape", filter_escape },
        { "filesizeformat", filter_filesizeformat },
        { "first", filter_first },
        { "float", filter_float },
        { "forceescape", filter_escape },
        { "format", filter_format },
        { "groupby", filter_groupby },
        { "indent", filter_indent },
        { "int", filter_int },
        { "items", filter_items },
        { "join", filter_join },
        { "last", filter_last },
        { "length", filter_length },
        { "list", filter_list },
        { "lower", filter_lower },
        { "map", filter_map },
        { "max", filter_max },
        { "min", filter_min },
        { "pprint", NULL },
        { "random", NULL },
        { "reject", filter_reject },
        { "rejectattr", filter_rejectattr },
        { "replace", filter_replace },
        { "reverse", filter_reverse },
        { "round", filter_round },
        { "safe", filter_safe },
        { "select", filter_select },
        { "selectattr", filter_selectattr },
        { "slice", filter_slice },
        { "sort", filter_sort },
        { "string", filter_string },
        { "striptags", NULL },
        { "sum", filter_sum },
        { "title", filter_title },
        { "tojson", NULL },
        { "trim", filter_trim },
        { "truncate", filter_truncate },
        { "unique", filter_unique },
        { "upper", filter_upper },
        { "urlencode", NULL },
        { "urlize", NULL },
        { "wordcount", filter_wordcount },
        { "wordwrap", NULL },
        { "xmlattr", NULL },
};

const JFilterDef *jinja_filter_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(filters); i++)
                if (streq(filters[i].name, name))
                        return filters + i;
        return NULL;
}

int jinja_call_filter(JRender *r, const char *name, JValue *value, JArgs *args, JValue **ret) {
        const JFilterDef *f = jinja_filter_lookup(name);

        if (!f)
                return jr_fail(r, -EINVAL, "unknown filter '%s'", name);
        if (!f->fn)
                return jr_fail(r, -EINVAL, "the filter '%s' is not supported in Marianne's templates", name);
        return f->fn(r, value, args, ret);
}

/* ---- tests ------------------------------------------------------------------------------- */

static int one_arg(JRender *r, const char *test, JArgs *args, JValue **ret) {
        if (args->n_pos + args->n_kw != 1)
                return jr_fail(r, -EINVAL, "the test '%s' takes exactly one argument (%zu given)",
                               test, args->n_pos + args->n_kw);
        *ret = args->n_pos ? args->pos[0] : args->kw[0];
        return 0;
}

static int no_arg(JRender *r, const char *test, JArgs *args) {
        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "the test '%s' takes no arguments", test);
        return 0;
}

#define SIMPLE_TEST(name, expr)                                                         \
        static int test_##name(JRender *r, JValue *value, JArgs *args, bool *ret) {     \
                int k = no_arg(r, #name, args);                                         \
                                                                                        \
                if (k < 0)                                                              \
                        return k;                                                       \
                *ret = (expr);                                                          \
                return 0;                                                               \
        }

SIMPLE_TEST(defined, value->type != J_UNDEFINED)
SIMPLE_TEST(undefined, value->type == J_UNDEFINED)
SIMPLE_TEST(none, value->type == J_NONE)
SIMPLE_TEST(boolean, value->type == J_BOOL)
SIMPLE_TEST(false, value->type == J_BOOL && !value->b)
SIMPLE_TEST(true, value->type == J_BOOL && value->b)
SIMPLE_TEST(integer, value->type == J_INT)
SIMPLE_TEST(float, value->type == J_FLOAT)
SIMPLE_TEST(number, jv_is_number(value))
SIMPLE_TEST(string, value->type == J_STR)
SIMPLE_TEST(mapping, value->type == J_DICT)
SIMPLE_TEST(escaped, false)
SIMPLE_TEST(sequence, value->type == J_STR || value->type == J_DICT ||
            (value->type == J_UNDEFINED && value->undef.lenient) ||
            (value->type == J_SEQ && (value->seq.kind == SEQ_LIST || value->seq.kind == SEQ_TUPLE ||
                                      value->seq.kind == SEQ_RANGE)))
SIMPLE_TEST(callable, value->type == J_MACRO || value->type == J_METHOD || value->type == J_FUNCTION ||
            value->type == J_LOOP || value->type == J_JOINER || value->type == J_UNDEFINED)

static int test_iterable(JRender *r, JValue *value, JArgs *args, bool *ret) {
        int k = no_arg(r, "iterable", args);

        if (k >= 0)
                k = jr_check_defined(r, value);
        if (k < 0)
                return k;
        *ret = value->type == J_STR || value->type == J_SEQ || value->type == J_DICT ||
                value->type == J_LOOP || value->type == J_UNDEFINED;
        return 0;
}

/* value % n == expected, with Python's % */
static int mod_equals(JRender *r, JValue *value, int64_t n_int, JValue *n, int64_t expected, bool *ret) {
        _cleanup_jv_ JValue *divisor = n ? jv_ref(n) : jv_int(n_int), *rem = NULL, *want = jv_int(expected);
        int k;

        if (!divisor || !want)
                return -ENOMEM;
        k = jv_binop(r, JOP_MOD, value, divisor, &rem);
        if (k < 0)
                return k;
        return jv_equal(r, rem, want, ret);
}

static int test_odd(JRender *r, JValue *value, JArgs *args, bool *ret) {
        int k = no_arg(r, "odd", args);

        return k < 0 ? k : mod_equals(r, value, 2, NULL, 1, ret);
}

static int test_even(JRender *r, JValue *value, JArgs *args, bool *ret) {
        int k = no_arg(r, "even", args);

        return k < 0 ? k : mod_equals(r, value, 2, NULL, 0, ret);
}

static int test_divisibleby(JRender *r, JValue *value, JArgs *args, bool *ret) {
        JValue *num = NULL;
        int k = one_arg(r, "divisibleby", args, &num);

        return k < 0 ? k : mod_equals(r, value, 0, num, 0, ret);
}

static int case_test(JRender *r, JValue *value, JArgs *args, bool upper, bool *ret) {
        _cleanup_jv_ JValue *s = NULL;
        int k = no_arg(r, upper ? "upper" : "lower", args);

        if (k >= 0)
                k = jv_to_str(r, value, &s);
        if (k < 0)
                return k;
        *ret = jinja_str_is_case(s, upper);
        return 0;
}

static int test_lower(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return case_test(r, value, args, false, ret);
}

static int test_upper(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return case_test(r, value, args, true, ret);
}

static int test_in(JRender *r, JValue *value, JArgs *args, bool *ret) {
        JValue *seq = NULL;
        int k = one_arg(r, "in", args, &seq);

        return k < 0 ? k : jv_contains(r, seq, value, ret);
}

static int test_sameas(JRender *r, JValue *value, JArgs *args, bool *ret) {
        JValue *other = NULL;
        int k = one_arg(r, "sameas", args, &other);

        if (k < 0)
                return k;
        /* Python's "is": the same object; small ints are shared objects */
        *ret = value == other || (value->type == J_INT && other->type == J_INT && value->i == other->i &&
                                  value->i >= -5 && value->i <= 256);
        return 0;
}

static int compare_test(JRender *r, JValue *value, JArgs *args, JCmpOp op, bool *ret) {
        JValue *other = NULL;
        bool x = false;
        int k = one_arg(r, "comparison", args, &other);

        if (k < 0)
                return k;
        switch (op) {
        case JC_EQ:
        case JC_NE:
                k = jv_equal(r, value, other, &x);
                *ret = op == JC_EQ ? x : !x;
                return k;
        case JC_LT:
                return jv_less(r, value, other, ret);
        case JC_GT:
                return jv_less(r, other, value, ret);
        case JC_LTEQ:
        case JC_GTEQ:
                k = op == JC_LTEQ ? jv_less(r, value, other, &x) : jv_less(r, other, value, &x);
                if (k >= 0 && !x)
                        k = jv_equal(r, value, other, &x);
                *ret = x;
                return k;
        default:
                return -EINVAL;
        }
}

static int test_eq(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_EQ, ret);
}

static int test_ne(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_NE, ret);
}

static int test_lt(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_LT, ret);
}

static int test_le(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_LTEQ, ret);
}

static int test_gt(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_GT, ret);
}

static int test_ge(JRender *r, JValue *value, JArgs *args, bool *ret) {
        return compare_test(r, value, args, JC_GTEQ, ret);
}

static int test_filter(JRender *r, JValue *value, JArgs *args, bool *ret) {
        int k = no_arg(r, "filter", args);

        if (k < 0)
                return k;
        *ret = value->type == J_STR && jinja_filter_lookup(value->str.s);
        return 0;
}

static int test_test(JRender *r, JValue *value, JArgs *args, bool *ret) {
        int k = no_arg(r, "test", args);

        if (k < 0)
                return k;
        *ret = value->type == J_STR && jinja_test_lookup(value->str.s);
        return 0;
}

static const JTestDef tests[] = {
        { "!=", test_ne },
        { "<", test_lt },
        { "<=", test_le },
        { "==", test_eq },
        { ">", test_gt },
        { ">=", test_ge },
        { "boolean", test_boolean },
        { "callable", test_callable },
        { "defined", test_defined },
        { "divisibleby", test_divisibleby },
        { "eq", test_eq },
        { "equalto", test_eq },
        { "escaped", test_escaped },
        { "even", test_even },
        { "false", test_false },
        { "filter", test_filter },
        { "float", test_float },
        { "ge", test_ge },
        { "greaterthan", test_gt },
        { "gt", test_gt },
        { "in", test_in },
        { "integer", test_integer },
        { "iterable", test_iterable },
        { "le", test_le },
        { "lessthan", test_lt },
        { "lower", test_lower },
        { "lt", test_lt },
        { "mapping", test_mapping },
        { "ne", test_ne },
        { "none", test_none },
        { "number", test_number },
        { "odd", test_odd },
        { "sameas", test_sameas },
        { "sequence", test_sequence },
        { "string", test_string },
        { "test", test_test },
        { "true", test_true },
        { "undefined", test_undefined },
        { "upper", test_upper },
};

const JTestDef *jinja_test_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                if (streq(tests[i].name, name))
                        return tests + i;
        return NULL;
}

int jinja_call_test(JRender *r, const char *name, JValue *value, JArgs *args, bool *ret) {
        const JTestDef *t = jinja_test_lookup(name);

        if (!t)
                return jr_fail(r, -EINVAL, "unknown test '%s'", name);
        return t->fn(r, value, args, ret);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Python's printf-style string formatting, "fmt" % args, which Jinja
 * templates get from the % operator on strings and the format filter:
 * %s %r %a %d %i %u %o %x %X %e %E %f %F %g %G %c %%, with mapping keys
 * "%(name)s", flags "-+ #0", width and precision (also "*"). */

#include <ctype.h>
#include <math.h>

#include "jinja-internal.h"

typedef struct Spec {
        bool left, plus, space, alt, zero;
        int64_t width;          /* -1: none */
        int64_t precision;      /* -1: none */
        char conv;
} Spec;

typedef struct Args {
        JValue *single;         /* not a tuple: the one argument */
        JValue *tuple;
        JValue *mapping;        /* a dict: "%(key)s" allowed */
        bool mapping_like;      /* Python's PyMapping_Check(): leftovers are fine */
        size_t next;
} Args;

static int next_arg(JRender *r, Args *a, JValue **ret) {
        if (a->tuple) {
                if (a->next >= a->tuple->seq.n)
                        return jr_fail(r, -EINVAL, "not enough arguments for format string");
                *ret = a->tuple->seq.items[a->next++];
                return 0;
        }
        if (a->next > 0)
                return jr_fail(r, -EINVAL, "not enough arguments for format string");
        a->next++;
        *ret = a->single;
        return 0;
}

/* Pad text (len bytes, chars code points) to the spec's width with spaces. */
static int put_padded(JBuf *out, const Spec *sp, const char *text, size_t len, size_t chars) {
        size_t pad = sp->width > 0 && (uint64_t) sp->width > chars ? (size_t) sp->width - chars : 0;
        int k = 0;

        for (size_t i = 0; !sp->left && k >= 0 && i < pad; i++)
                k = jbuf_putc(out, ' ');
        if (k >= 0)
                k = jbuf_put(out, text, len);
        for (size_t i = 0; sp->left && k >= 0 && i < pad; i++)
                k = jbuf_putc(out, ' ');
        return k;
}

static int format_str(JRender *r, const Spec *sp, JValue *v, JBuf *out) {
        _cleanup_(jbuf_done) JBuf t = {};
        size_t len, chars;
        int k;

        k = sp->conv == 's' ? jv_str_append(r, v, &t) : jv_repr_append(r, v, &t);
        if (k >= 0 && !t.s)
                k = jbuf_put(&t, "", 0);
        if (k < 0)
                return k;
        len = t.n;
        chars = utf8_length(t.s, len);
        if (sp->precision >= 0 && (uint64_t) sp->precision < chars) {
                len = utf8_offset(t.s, len, (size_t) sp->precision);
                chars = (size_t) sp->precision;
        }
        return put_padded(out, sp, t.s, len, chars);
}

static int format_int(const Spec *sp, int64_t v, JBuf *out) {
        char digits[80], prefix[8] = "";
        unsigned base = sp->conv == 'o' ? 8 : (sp->conv == 'x' || sp->conv == 'X') ? 16 : 10;
        const char *set = sp->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        uint64_t u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
        size_t n = 0, p = 0, body, pad;
        int k = 0;

        do {
                digits[n++] = set[u % base];
                u /= base;
        } while (u > 0);
        while (sp->precision > 0 && n < (size_t) MIN(sp->precision, (int64_t) sizeof(digits) - 1))
                digits[n++] = '0';

        if (v < 0)
                prefix[p++] = '-';
        else if (sp->plus)
                prefix[p++] = '+';
        else if (sp->space)
                prefix[p++] = ' ';
        if (sp->alt && base != 10) {
                prefix[p++] = '0';
                prefix[p++] = sp->conv == 'o' ? 'o' : sp->conv;
        }
        prefix[p] = 0;

        body = p + n;
        pad = sp->width > 0 && (uint64_t) sp->width > body ? (size_t) sp->width - body : 0;
        for (size_t i = 0; !sp->left && !sp->zero && k >= 0 && i < pad; i++)
                k = jbuf_putc(out, ' ');
        if (k >= 0)
                k = jbuf_puts(out, prefix);
        for (size_t i = 0; !sp->left && sp->zero && k >= 0 && i < pad; i++)
                k = jbuf_putc(out, '0');
        for (size_t i = n; k >= 0 && i > 0; i--)
                k = jbuf_putc(out, digits[i - 1]);
        for (size_t i = 0; sp->left && k >= 0 && i < pad; i++)
                k = jbuf_putc(out, ' ');
        return k;
}

static int format_float(const Spec *sp, double v, JBuf *out) {
        char fmt[32];
        int n = 0;

        if (isnan(v))
                v = fabs(v);    /* Python never prints "-nan" */
        fmt[n++] = '%';
        if (sp->left)
                fmt[n++] = '-';
        if (sp->plus)
                fmt[n++] = '+';
        if (sp->space)
                fmt[n++] = ' ';
        if (sp->alt)
                fmt[n++] = '#';
        if (sp->zero)
                fmt[n++] = '0';
        fmt[n++] = '*';
        fmt[n++] = '.';
        fmt[n++] = '*';
        fmt[n++] = sp->conv;
        fmt[n] = 0;

        /* the format is built from a fixed set of characters above */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        return jbuf_printf(out, fmt, (int) MIN(MAX(sp->width, (int64_t) 0), (int64_t) 100000),
                           (int) (sp->precision >= 0 ? MIN(sp->precision, (int64_t) 1000) : 6), v);
#pragma GCC diagnostic pop
}

static int number_arg(JRender *r, const Spec *sp, JValue *v, bool integer_only) {
        int k = jr_check_defined(r, v);

        if (k < 0)
                return k;
        if (integer_only ? jv_is_int(v) : jv_is_number(v))
                return 0;
        if (integer_only && v->type == J_FLOAT)
                return jr_fail(r, -EINVAL, "%%%c format: an integer is required, not float", sp->conv);
        if (strchr("eEfFgG", sp->conv))
                return jr_fail(r, -EINVAL, "must be real number, not %s", jv_type_name(v));
        return jr_fail(r, -EINVAL, "%%%c format: a real number is required, not %s", sp->conv, jv_type_name(v));
}

static int format_one(JRender *r, const Spec *sp, JValue *v, JBuf *out) {
        int k;

        switch (sp->conv) {
        case 's':
        case 'r':
        case 'a':
                return format_str(r, sp, v, out);
        case 'd':
        case 'i':
        case 'u':
                k = number_arg(r, sp, v, false);
                if (k < 0)
                        return k;
                if (v->type == J_FLOAT) {
                        if (!isfinite(v->f) || fabs(v->f) >= 9.2e18)
                                return jr_fail(r, -ERANGE, "cannot convert float %g to a 64-bit integer", v->f);
                        return format_int(sp, (int64_t) v->f, out);
                }
                return format_int(sp, jv_int_of(v), out);
        case 'o':
        case 'x':
        case 'X':
                k = number_arg(r, sp, v, true);
                if (k < 0)
                        return k;
                return format_int(sp, jv_int_of(v), out);
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
                k = number_arg(r, sp, v, false);
                if (k < 0)
                        return k;
                return format_float(sp, jv_float_of(v), out);
        case 'c':
                k = jr_check_defined(r, v);
                if (k < 0)
                        return k;
                if (v->type == J_STR && utf8_length(v->str.s, v->str.len) == 1)
                        return put_padded(out, sp, v->str.s, v->str.len, 1);
                if (jv_is_int(v) && jv_int_of(v) >= 0 && jv_int_of(v) <= 0x10FFFF) {
                        char u[4];

                        return put_padded(out, sp, u, utf8_encode((uint32_t) jv_int_of(v), u), 1);
                }
                return jr_fail(r, -EINVAL, "%%c requires an int in range(0x110000) or a single character");
        default:
                return jr_fail(r, -EINVAL, "unsupported format character '%c'", sp->conv);
        }
}

/* "*" or digits */
static int parse_number(JRender *r, const char **p, Args *a, int64_t *ret) {
        if (**p == '*') {
                JValue *v;
                int k;

                (*p)++;
                k = next_arg(r, a, &v);
                if (k < 0)
                        return k;
                if (!jv_is_int(v))
                        return jr_fail(r, -EINVAL, "* wants int");
                *ret = jv_int_of(v);
                return 0;
        }
        if (!isdigit((unsigned char) **p))
                return 0;
        *ret = 0;
        while (isdigit((unsigned char) **p)) {
                if (*ret > 100000000)
                        return jr_fail(r, -EINVAL, "width too big");
                *ret = *ret * 10 + (**p - '0');
                (*p)++;
        }
        return 0;
}

/* One %-spec at p (just after the '%'), appended to out. */
static int format_spec(JRender *r, const char **pp, const char *end, Args *a, JBuf *out) {
        const char *p = *pp;
        Spec sp = { .width = -1, .precision = -1 };
        JValue *v = NULL;
        int k;

        if (p < end && *p == '(') {
                const char *close = memchr(p, ')', (size_t) (end - p));
                _cleanup_jv_ JValue *key = NULL;

                if (!a->mapping)
                        return jr_fail(r, -EINVAL, "format requires a mapping");
                if (!close)
                        return jr_fail(r, -EINVAL, "incomplete format key");
                if (a->mapping->type == J_UNDEFINED)
                        return jr_undefined_error(r, a->mapping);
                if (a->mapping->type != J_DICT)
                        return jr_fail(r, -EINVAL, "%s indices must be integers or slices, not str",
                                       jv_type_name(a->mapping));
                key = jv_str(p + 1, (size_t) (close - p - 1));
                if (!key)
                        return -ENOMEM;
                v = jv_dict_get(a->mapping, key);
                if (!v)
                        return jr_fail(r, -ENOENT, "KeyError: '%s' in format", key->str.s);
                p = close + 1;
        }
        for (; p < end && strchr("-+ #0", *p) && *p; p++)
                switch (*p) {
                case '-':
                        sp.left = true;
                        break;
                case '+':
                        sp.plus = true;
                        break;
                case ' ':
                        sp.space = true;
                        break;
                case '#':
                        sp.alt = true;
                        break;
                case '0':
                        sp.zero = true;
                        break;
                }
        k = parse_number(r, &p, a, &sp.width);
        if (k < 0)
                return k;
        if (sp.width < -1) {
                sp.left = true;
                sp.width = -sp.width;
        }
        if (p < end && *p == '.') {
                p++;
                sp.precision = 0;
                k = parse_number(r, &p, a, &sp.precision);
                if (k < 0)
                        return k;
        }
        while (p < end && strchr("hlL", *p) && *p)
                p++;
        if (p >= end)
                return jr_fail(r, -EINVAL, "incomplete format");
        sp.conv = *p++;
        *pp = p;

        if (sp.conv == '%')
                return jbuf_putc(out, '%');
        if (!v) {
                k = next_arg(r, a, &v);
                if (k < 0)
                        return k;
        }
        return format_one(r, &sp, v, out);
}

int jinja_percent_format(JRender *r, const JValue *fmt, JValue *arg, JValue **ret) {
        _cleanup_(jbuf_done) JBuf out = {};
        const char *p = fmt->str.s, *end = p + fmt->str.len;
        Args a = {};
        size_t len;
        char *s;
        int k = 0;

        if (jv_is_seq(arg, SEQ_TUPLE))
                a.tuple = arg;
        else {
                a.single = arg;
                /* anything subscriptable but a str counts as a mapping for
                 * Python, which then does not insist on using it up (an
                 * undefined argument fails only when used) */
                a.mapping_like = arg->type == J_DICT || arg->type == J_UNDEFINED ||
                        jv_is_seq(arg, SEQ_LIST) || jv_is_seq(arg, SEQ_RANGE);
                if (a.mapping_like)
                        a.mapping = arg;
        }

        while (k >= 0 && p < end) {
                const char *pct = memchr(p, '%', (size_t) (end - p));

                if (!pct) {
                        k = jbuf_put(&out, p, (size_t) (end - p));
                        break;
                }
                k = jbuf_put(&out, p, (size_t) (pct - p));
                p = pct + 1;
                if (k >= 0)
                        k = format_spec(r, &p, end, &a, &out);
        }
        if (k < 0)
                return k;
        if (!a.mapping_like && ((a.tuple && a.next < a.tuple->seq.n) || (!a.tuple && a.next == 0)))
                return jr_fail(r, -EINVAL, "not all arguments converted during string formatting");
        k = jr_charge(r, out.n / 64);
        if (k < 0)
                return k;
        s = jbuf_steal(&out, &len);
        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

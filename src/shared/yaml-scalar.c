/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* A transcription of PyYAML's resolver.py regular expressions and its
 * constructor's int and float conversions; comments quote the regex each
 * function matches. */

#include <math.h>

#include "yaml-scalar.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static const char *skip_sign(const char *p) {
        return *p == '+' || *p == '-' ? p + 1 : p;
}

/* p points at a run of chars all in set (plus '_'); returns its end */
static const char *skip_set(const char *p, const char *set) {
        while (*p && (*p == '_' || strchr(set, *p)))
                p++;
        return p;
}

static bool is_null(const char *s) {
        /* ~|null|Null|NULL| */
        return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

static int parse_bool(const char *s) {
        static const char *const yes[] = { "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
        static const char *const no[] = { "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (streq(s, yes[i]))
                        return 1;
                if (streq(s, no[i]))
                        return 0;
        }
        return -1;
}

/* (:[0-5]?[0-9])+ */
static const char *skip_sexagesimal_parts(const char *p) {
        const char *start = p;

        while (*p == ':') {
                const char *q = p + 1;

                if (is_digit(q[0]) && is_digit(q[1]) && q[0] <= '5')
                        q += 2;
                else if (is_digit(q[0]))
                        q += 1;
                else
                        break;
                p = q;
        }
        return p == start ? NULL : p;
}

/* [eE][-+][0-9]+ (optional) */
static const char *skip_exponent(const char *p) {
        if ((*p == 'e' || *p == 'E') && (p[1] == '+' || p[1] == '-') && is_digit(p[2])) {
                p += 2;
                while (is_digit(*p))
                        p++;
        }
        return p;
}

static bool matches_float(const char *s) {
        const char *p = skip_sign(s), *q;

        /* [-+]?\.(inf|Inf|INF) and \.(nan|NaN|NAN) */
        if (streq(p, ".inf") || streq(p, ".Inf") || streq(p, ".INF"))
                return true;
        if (p == s && (streq(p, ".nan") || streq(p, ".NaN") || streq(p, ".NAN")))
                return true;

        /* \.[0-9][0-9_]*([eE][-+][0-9]+)?  (no sign) */
        if (p == s && p[0] == '.' && is_digit(p[1]))
                return !*skip_exponent(skip_set(p + 1, "0123456789"));

        if (!is_digit(*p))
                return false;
        q = skip_set(p, "0123456789");

        /* [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? */
        if (*q == '.')
                return !*skip_exponent(skip_set(q + 1, "0123456789"));

        /* [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* */
        q = skip_sexagesimal_parts(q);
        return q && *q == '.' && !*skip_set(q + 1, "0123456789");
}

static bool matches_int(const char *s) {
        const char *p = skip_sign(s), *q;

        if (p[0] == '0' && p[1] == 'b')         /* 0b[0-1_]+ */
                return p[2] && !*skip_set(p + 2, "01");
        if (p[0] == '0' && p[1] == 'x')         /* 0x[0-9a-fA-F_]+ */
                return p[2] && !*skip_set(p + 2, "0123456789abcdefABCDEF");
        if (p[0] == '0')                        /* 0[0-7_]+ or 0 */
                return !p[1] || !*skip_set(p + 1, "01234567");
        if (!is_digit(*p))
                return false;
        q = skip_set(p + 1, "0123456789");      /* [1-9][0-9_]* */
        if (!*q)
                return true;
        q = skip_sexagesimal_parts(q);          /* [1-9][0-9_]*(:[0-5]?[0-9])+ */
        return q && !*q;
}

/* The text without '_' and without its sign; *ret_negative says the sign. */
static char *strip_underscores_and_sign(const char *s, bool *ret_negative) {
        const char *p = skip_sign(s);
        char *t, *o;

        *ret_negative = *s == '-';
        t = malloc(strlen(p) + 1);
        if (!t)
                return NULL;
        for (o = t; *p; p++)
                if (*p != '_')
                        *o++ = *p;
        *o = 0;
        return t;
}

static bool parse_unsigned(const char *digits, unsigned base, uint64_t *ret) {
        uint64_t v = 0;

        if (!*digits)
                return false;   /* PyYAML fails on "0b_"; we keep the text */
        for (const char *p = digits; *p; p++) {
                unsigned d = is_digit(*p) ? (unsigned) (*p - '0') :
                        (unsigned) ((*p | 0x20) - 'a' + 10);

                if (d >= base || v > (UINT64_MAX - d) / base)
                        return false;
                v = v * base + d;
        }
        *ret = v;
        return true;
}

/* Base 60 "1:30:05": each part times 60 to the power of its place. */
static bool parse_sexagesimal(const char *t, uint64_t *ret) {
        uint64_t v = 0;

        for (const char *p = t; *p; ) {
                size_t l = strcspn(p, ":");
                uint64_t part = 0;

                for (size_t i = 0; i < l; i++)
                        part = part * 10 + (uint64_t) (p[i] - '0');
                if (v > (UINT64_MAX - part) / 60)
                        return false;
                v = v * 60 + part;
                p += l;
                if (*p == ':')
                        p++;
        }
        *ret = v;
        return true;
}

static Value *construct_int(const char *s) {
        _cleanup_free_ char *t = NULL;
        bool negative, ok;
        uint64_t v;

        t = strip_underscores_and_sign(s, &negative);
        if (!t)
                return NULL;

        if (streq(t, "0")) {
                v = 0;
                ok = true;
        } else if (startswith(t, "0b"))
                ok = parse_unsigned(t + 2, 2, &v);
        else if (startswith(t, "0x"))
                ok = parse_unsigned(t + 2, 16, &v);
        else if (t[0] == '0')
                ok = parse_unsigned(t + 1, 8, &v);
        else if (strchr(t, ':'))
                ok = parse_sexagesimal(t, &v);
        else
                ok = parse_unsigned(t, 10, &v);

        if (!ok || (negative ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX))
                return value_new_string(s);     /* beyond 64 bits: the text prints the same */
        return value_new_int(negative ? (int64_t) (0 - v) : (int64_t) v);
}

static Value *construct_float(const char *s) {
        _cleanup_free_ char *t = NULL;
        bool negative;
        double v = 0;

        t = strip_underscores_and_sign(s, &negative);
        if (!t)
                return NULL;

        if (strcasecmp(t, ".inf") == 0)
                v = INFINITY;
        else if (strcasecmp(t, ".nan") == 0)
                return value_new_float(NAN);
        else if (strchr(t, ':')) {
                /* PyYAML sums the parts from the last one up, each times a
                 * growing power of 60; the same order rounds the same */
                double base = 1;

                for (char *colon = strrchr(t, ':');; colon = strrchr(t, ':')) {
                        const char *part = colon ? colon + 1 : t;

                        v += strtod_c(part, NULL) * base;
                        base *= 60;
                        if (!colon)
                                break;
                        *colon = 0;
                }
        } else
                v = strtod_c(t, NULL);

        return value_new_float(negative ? -v : v);
}

Value *yaml_plain_scalar_to_value(const char *s) {
        int b;

        if (!s)
                return NULL;
        if (is_null(s))
                return value_new_null();
        b = parse_bool(s);
        if (b >= 0)
                return value_new_bool(b);
        if (matches_float(s))
                return construct_float(s);
        if (matches_int(s))
                return construct_int(s);
        /* timestamps stay text: a date prints as the same text */
        return value_new_string(s);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>

#include "json-parse.h"

typedef struct JsonParser {
        const char *start, *p, *end;
        JsonLimits limits;
        size_t n_values;
        char *error;
} JsonParser;

static int json_fail(JsonParser *j, int r, const char *fmt, ...) _printf_(3, 4);
static int json_fail(JsonParser *j, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        unsigned line = 1, column = 1;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        for (const char *q = j->start; q < j->p && q < j->end; q++) {
                if (*q == '\n') {
                        line++;
                        column = 1;
                } else if (((unsigned char) *q & 0xc0) != 0x80)
                        column++;       /* count characters, not continuation bytes */
        }

        free(j->error);
        j->error = strdup_printf("line %u column %u: %s", line, column, msg);
        return j->error ? r : -ENOMEM;
}

static void skip_whitespace(JsonParser *j) {
        while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
                j->p++;
}

static const char *describe_next(const JsonParser *j) {
        if (j->p >= j->end)
                return "the end of the input";
        if (*j->p == 0)
                return "a NUL byte";
        return "an unexpected character";
}

static int count_value(JsonParser *j) {
        if (++j->n_values > j->limits.max_values)
                return json_fail(j, -E2BIG, "more than %zu values", j->limits.max_values);
        return 0;
}

/* ───────────────────────────── strings ───────────────────────────── */

typedef struct Buffer {
        char *data;
        size_t size, allocated;
} Buffer;

static int buffer_put(Buffer *b, const char *p, size_t n) {
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *t;

                a = MAX(a, (size_t) 32);
                t = realloc(b->data, a);
                if (!t)
                        return -ENOMEM;
                b->data = t;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        b->data[b->size] = 0;
        return 0;
}

static int buffer_put_codepoint(Buffer *b, uint32_t cp) {
        char u[4];
        size_t n;

        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                cp = 0xfffd;
        if (cp < 0x80) {
                u[0] = (char) cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char) (0xc0 | (cp >> 6));
                u[1] = (char) (0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char) (0xe0 | (cp >> 12));
                u[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char) (0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char) (0xf0 | (cp >> 18));
                u[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[3] = (char) (0x80 | (cp & 0x3f));
                n = 4;
        }
        return buffer_put(b, u, n);
}

/* Length of the valid UTF-8 sequence at p (at most avail bytes), 0 when invalid. */
static size_t utf8_valid_length(const unsigned char *p, size_t avail) {
        uint32_t cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if ((p[0] & 0xe0) == 0xc0)
                n = 2, cp = p[0] & 0x1f;
        else if ((p[0] & 0xf0) == 0xe0)
                n = 3, cp = p[0] & 0x0f;
        else if ((p[0] & 0xf8) == 0xf0)
                n = 4, cp = p[0] & 0x07;
        else
                return 0;
        if (n > avail)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

static int parse_hex4(JsonParser *j, uint32_t *ret) {
        uint32_t v = 0;

        if (j->end - j->p < 4)
                return json_fail(j, -EINVAL, "truncated \\u escape");
        for (int i = 0; i < 4; i++) {
                char c = j->p[i];

                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (uint32_t) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (uint32_t) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (uint32_t) (c - 'A' + 10);
                else
                        return json_fail(j, -EINVAL, "invalid \\u escape");
        }
        j->p += 4;
        *ret = v;
        return 0;
}

static int parse_escape(JsonParser *j, Buffer *b) {
        uint32_t cp, low;
        char c;
        int r;

        /* j->p is just after the backslash */
        if (j->p >= j->end)
                return json_fail(j, -EINVAL, "unterminated string");
        c = *j->p++;
        switch (c) {
        case '"':  return buffer_put(b, "\"", 1);
        case '\\': return buffer_put(b, "\\", 1);
        case '/':  return buffer_put(b, "/", 1);
        case 'b':  return buffer_put(b, "\b", 1);
        case 'f':  return buffer_put(b, "\f", 1);
        case 'n':  return buffer_put(b, "\n", 1);
        case 'r':  return buffer_put(b, "\r", 1);
        case 't':  return buffer_put(b, "\t", 1);
        case 'u':
                r = parse_hex4(j, &cp);
                if (r < 0)
                        return r;
                if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u') {
                        const char *save = j->p;

                        j->p += 2;
                        r = parse_hex4(j, &low);
                        if (r < 0)
                                return r;
                        if (low >= 0xdc00 && low <= 0xdfff)
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                        else
                                j->p = save;    /* unpaired: U+FFFD, then the next escape on its own */
                }
                return buffer_put_codepoint(b, cp);
        default:
                j->p--;
                return json_fail(j, -EINVAL, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
        }
}

static int parse_string(JsonParser *j, char **ret) {
        _cleanup_free_ char *data = NULL;
        Buffer b = {};
        int r;

        /* j->p is at the opening quote */
        j->p++;
        for (;;) {
                const char *run = j->p;
                size_t n;

                while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
                       (unsigned char) *j->p >= 0x20 && (unsigned char) *j->p < 0x80)
                        j->p++;
                if (j->p > run) {
                        r = buffer_put(&b, run, (size_t) (j->p - run));
                        if (r < 0)
                                goto fail;
                }
                if (j->p >= j->end) {
                        r = json_fail(j, -EINVAL, "unterminated string");
                        goto fail;
                }
                if (*j->p == '"') {
                        j->p++;
                        break;
                }
                if (*j->p == '\\') {
                        j->p++;
                        r = parse_escape(j, &b);
                        if (r < 0)
                                goto fail;
                        continue;
                }
                if ((unsigned char) *j->p < 0x20) {
                        r = json_fail(j, -EINVAL, "control character in a string");
                        goto fail;
                }
                n = utf8_valid_length((const unsigned char *) j->p, (size_t) (j->end - j->p));
                if (n == 0) {
                        r = buffer_put_codepoint(&b, 0xfffd);
                        j->p++;
                } else {
                        r = buffer_put(&b, j->p, n);
                        j->p += n;
                }
                if (r < 0)
                        goto fail;
        }

        if (!b.data) {
                b.data = strdup("");
                if (!b.data)
                        return -ENOMEM;
        }
        *ret = b.data;
        return 0;

fail:
        free(b.data);
        return r;
}

/* ───────────────────────────── numbers ───────────────────────────── */

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static int parse_number(JsonParser *j, Value **ret) {
        _cleanup_free_ char *text = NULL;
        const char *s = j->p;
        bool integer = true;
        Value *v;
        char *e;

        if (j->p < j->end && *j->p == '-')
                j->p++;
        if (j->p >= j->end || !is_digit(*j->p))
                return json_fail(j, -EINVAL, "invalid number");
        if (*j->p == '0')
                j->p++;
        else
                while (j->p < j->end && is_digit(*j->p))
                        j->p++;
        if (j->p < j->end && *j->p == '.') {
                integer = false;
                j->p++;
                if (j->p >= j->end || !is_digit(*j->p))
                        return json_fail(j, -EINVAL, "invalid number: digits expected after '.'");
                while (j->p < j->end && is_digit(*j->p))
                        j->p++;
        }
        if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
                integer = false;
                j->p++;
                if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
                        j->p++;
                if (j->p >= j->end || !is_digit(*j->p))
                        return json_fail(j, -EINVAL, "invalid number: digits expected in the exponent");
                while (j->p < j->end && is_digit(*j->p))
                        j->p++;
        }

        text = strndup(s, (size_t) (j->p - s));
        if (!text)
                return -ENOMEM;

        if (integer) {
                long long ll;

                errno = 0;
                ll = strtoll(text, &e, 10);
                if (errno == 0 && *e == 0) {
                        v = value_new_int((int64_t) ll);
                        goto done;
                }
                /* too large for int64: a float, like Python's json would not do, but close enough */
        }
        v = value_new_float(strtod_c(text, &e));
done:
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

/* ─────────────────────────── containers ─────────────────────────── */

static int parse_value(JsonParser *j, unsigned depth, Value **ret);

static int parse_array(JsonParser *j, unsigned depth, Value **ret) {
        _cleanup_value_free_ Value *list = NULL;
        int r;

        list = value_new_list();
        if (!list)
                return -ENOMEM;

        j->p++;
        skip_whitespace(j);
        if (j->p < j->end && *j->p == ']') {
                j->p++;
                *ret = TAKE_PTR(list);
                return 0;
        }
        for (;;) {
                Value *item = NULL;

                r = parse_value(j, depth + 1, &item);
                if (r < 0)
                        return r;
                r = value_list_append(list, item);
                if (r < 0)
                        return r;
                skip_whitespace(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        continue;
                }
                if (j->p < j->end && *j->p == ']') {
                        j->p++;
                        break;
                }
                return json_fail(j, -EINVAL, "expected ',' or ']' in an array, got %s", describe_next(j));
        }
        *ret = TAKE_PTR(list);
        return 0;
}

static int parse_object(JsonParser *j, unsigned depth, Value **ret) {
        _cleanup_value_free_ Value *map = NULL;
        size_t n_members = 0;
        int r;

        map = value_new_map();
        if (!map)
                return -ENOMEM;

        j->p++;
        skip_whitespace(j);
        if (j->p < j->end && *j->p == '}') {
                j->p++;
                *ret = TAKE_PTR(map);
                return 0;
        }
        for (;;) {
                _cleanup_free_ char *key = NULL;
                Value *item = NULL;

                skip_whitespace(j);
                if (j->p >= j->end || *j->p != '"')
                        return json_fail(j, -EINVAL, "expected a string key in an object, got %s", describe_next(j));
                if (++n_members > j->limits.max_members)
                        return json_fail(j, -E2BIG, "object with more than %zu members", j->limits.max_members);
                r = parse_string(j, &key);
                if (r < 0)
                        return r;
                skip_whitespace(j);
                if (j->p >= j->end || *j->p != ':')
                        return json_fail(j, -EINVAL, "expected ':' after an object key, got %s", describe_next(j));
                j->p++;
                r = parse_value(j, depth + 1, &item);
                if (r < 0)
                        return r;
                r = value_map_set(map, key, item);
                if (r < 0)
                        return r;
                skip_whitespace(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        continue;
                }
                if (j->p < j->end && *j->p == '}') {
                        j->p++;
                        break;
                }
                return json_fail(j, -EINVAL, "expected ',' or '}' in an object, got %s", describe_next(j));
        }
        *ret = TAKE_PTR(map);
        return 0;
}

static bool literal(JsonParser *j, const char *word) {
        size_t l = strlen(word);

        if ((size_t) (j->end - j->p) < l || memcmp(j->p, word, l) != 0)
                return false;
        j->p += l;
        return true;
}

static int parse_value(JsonParser *j, unsigned depth, Value **ret) {
        Value *v;
        char *s;
        int r;

        if (depth > j->limits.max_depth)
                return json_fail(j, -E2BIG, "nested deeper than %u levels", j->limits.max_depth);
        r = count_value(j);
        if (r < 0)
                return r;

        skip_whitespace(j);
        if (j->p >= j->end)
                return json_fail(j, -EINVAL, "expected a value, got the end of the input");

        switch (*j->p) {
        case '{':
                return parse_object(j, depth, ret);
        case '[':
                return parse_array(j, depth, ret);
        case '"':
                r = parse_string(j, &s);
                if (r < 0)
                        return r;
                v = value_new_string_take(s);
                break;
        case 't':
                if (!literal(j, "true"))
                        return json_fail(j, -EINVAL, "invalid literal");
                v = value_new_bool(true);
                break;
        case 'f':
                if (!literal(j, "false"))
                        return json_fail(j, -EINVAL, "invalid literal");
                v = value_new_bool(false);
                break;
        case 'n':
                if (!literal(j, "null"))
                        return json_fail(j, -EINVAL, "invalid literal");
                v = value_new_null();
                break;
        default:
                if (*j->p == '-' || is_digit(*j->p))
                        return parse_number(j, ret);
                return json_fail(j, -EINVAL, "expected a value, got %s", describe_next(j));
        }
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

int json_parse(const char *data, size_t size, const JsonLimits *limits, Value **ret, char **ret_error) {
        _cleanup_value_free_ Value *v = NULL;
        JsonParser j = {
                .start = data,
                .p = data,
                .end = data + size,
                .limits = {
                        .max_depth = limits && limits->max_depth > 0 ? limits->max_depth : JSON_DEPTH_MAX,
                        .max_values = limits && limits->max_values > 0 ? limits->max_values : JSON_VALUES_MAX,
                        .max_members = limits && limits->max_members > 0 ? limits->max_members : JSON_MEMBERS_MAX,
                },
        };
        int r;

        if (!data && size > 0)
                return -EINVAL;
        if (!data)
                j.start = j.p = j.end = "";

        r = parse_value(&j, 0, &v);
        if (r >= 0) {
                skip_whitespace(&j);
                if (j.p < j.end)
                        r = json_fail(&j, -EINVAL, "trailing data after the JSON value");
        }
        if (r < 0) {
                if (ret_error) {
                        *ret_error = j.error;
                        j.error = NULL;
                }
                free(j.error);
                return r;
        }
        free(j.error);
        *ret = TAKE_PTR(v);
        return 0;
}

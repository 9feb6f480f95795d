/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <inttypes.h>
#include <math.h>

#include "value.h"

static Value *value_new(ValueType type) {
        Value *v = calloc(1, sizeof(Value));
        if (!v)
                return NULL;
        v->type = type;
        return v;
}

Value *value_new_null(void) {
        return value_new(VALUE_NULL);
}

Value *value_new_bool(bool b) {
        Value *v = value_new(VALUE_BOOL);
        if (v)
                v->b = b;
        return v;
}

Value *value_new_int(int64_t i) {
        Value *v = value_new(VALUE_INT);
        if (v)
                v->i = i;
        return v;
}

Value *value_new_float(double f) {
        Value *v = value_new(VALUE_FLOAT);
        if (v)
                v->f = f;
        return v;
}

Value *value_new_string_take(char *s) {
        Value *v;

        if (!s)
                return NULL;
        v = value_new(VALUE_STRING);
        if (!v) {
                free(s);
                return NULL;
        }
        v->s = s;
        return v;
}

Value *value_new_string(const char *s) {
        char *c;

        if (!s)
                return NULL;
        c = strdup(s);
        if (!c)
                return NULL;
        return value_new_string_take(c);
}

Value *value_new_list(void) {
        return value_new(VALUE_LIST);
}

Value *value_new_map(void) {
        return value_new(VALUE_MAP);
}

void value_free(Value *v) {
        if (!v)
                return;

        switch (v->type) {
        case VALUE_STRING:
                free(v->s);
                break;
        case VALUE_LIST:
                for (size_t i = 0; i < v->list.n; i++)
                        value_free(v->list.items[i]);
                free(v->list.items);
                break;
        case VALUE_MAP:
                for (size_t i = 0; i < v->map.n; i++) {
                        value_free(v->map.keys[i]);
                        value_free(v->map.values[i]);
                }
                free(v->map.keys);
                free(v->map.values);
                break;
        default:
                break;
        }
        free(v);
}

Value *value_copy(const Value *v) {
        _cleanup_value_free_ Value *c = NULL;

        if (!v)
                return NULL;

        switch (v->type) {
        case VALUE_NULL:
                return value_new_null();
        case VALUE_BOOL:
                return value_new_bool(v->b);
        case VALUE_INT:
                return value_new_int(v->i);
        case VALUE_FLOAT:
                return value_new_float(v->f);
        case VALUE_STRING:
                return value_new_string(v->s);
        case VALUE_LIST:
                c = value_new_list();
                if (!c)
                        return NULL;
                for (size_t i = 0; i < v->list.n; i++) {
                        Value *item = value_copy(v->list.items[i]);
                        if (!item || value_list_append(c, item) < 0)
                                return NULL;
                }
                return TAKE_PTR(c);
        case VALUE_MAP:
                c = value_new_map();
                if (!c)
                        return NULL;
                for (size_t i = 0; i < v->map.n; i++) {
                        Value *key = value_copy(v->map.keys[i]), *item = value_copy(v->map.values[i]);

                        if (!key || !item) {
                                value_free(key);
                                value_free(item);
                                return NULL;
                        }
                        if (value_map_set_key(c, key, item) < 0)
                                return NULL;
                }
                return TAKE_PTR(c);
        }
        return NULL;
}

int value_list_append(Value *list, Value *item) {
        Value **t;

        if (!list || list->type != VALUE_LIST || !item) {
                value_free(item);
                return -EINVAL;
        }

        t = reallocarray(list->list.items, list->list.n + 1, sizeof(Value *));
        if (!t) {
                value_free(item);
                return -ENOMEM;
        }
        t[list->list.n++] = item;
        list->list.items = t;
        return 0;
}

static bool value_is_scalar(const Value *v) {
        return v->type != VALUE_LIST && v->type != VALUE_MAP;
}

static bool value_as_number(const Value *v, bool *is_float, int64_t *i, double *f) {
        switch (v->type) {
        case VALUE_BOOL:
                *is_float = false;
                *i = v->b;
                return true;
        case VALUE_INT:
                *is_float = false;
                *i = v->i;
                return true;
        case VALUE_FLOAT:
                *is_float = true;
                *f = v->f;
                return true;
        default:
                return false;
        }
}

/* An int64 and a double are equal in Python when the double is integral
 * and the same number: no rounding through a conversion either way. */
static bool int_equals_float(int64_t i, double f) {
        if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) || f != floor(f))
                return false;
        return (int64_t) f == i;
}

bool value_scalar_equal(const Value *a, const Value *b) {
        bool fa, fb;
        int64_t ia, ib;
        double da, db;

        if (!a || !b)
                return false;
        if (a == b)
                return true;

        if (value_as_number(a, &fa, &ia, &da) && value_as_number(b, &fb, &ib, &db)) {
                if (!fa && !fb)
                        return ia == ib;
                if (fa && fb)
                        return da == db;
                return fa ? int_equals_float(ib, da) : int_equals_float(ia, db);
        }

        if (a->type != b->type)
                return false;
        switch (a->type) {
        case VALUE_NULL:
                return true;
        case VALUE_STRING:
                return streq(a->s, b->s);
        default:
                return false;   /* containers: identity only, checked above */
        }
}

static ssize_t value_map_find(const Value *map, const Value *key) {
        for (size_t i = 0; i < map->map.n; i++)
                if (value_scalar_equal(map->map.keys[i], key))
                        return (ssize_t) i;
        return -1;
}

int value_map_set_key(Value *map, Value *key, Value *item) {
        Value **k, **vs;
        ssize_t i;

        if (!map || map->type != VALUE_MAP || !key || !item || !value_is_scalar(key)) {
                value_free(key);
                value_free(item);
                return -EINVAL;
        }

        i = value_map_find(map, key);
        if (i >= 0) {
                /* like a Python dict: the first key object stays */
                value_free(key);
                value_free(map->map.values[i]);
                map->map.values[i] = item;
                return 0;
        }

        k = reallocarray(map->map.keys, map->map.n + 1, sizeof(Value *));
        if (!k)
                goto oom;
        map->map.keys = k;
        vs = reallocarray(map->map.values, map->map.n + 1, sizeof(Value *));
        if (!vs)
                goto oom;
        map->map.values = vs;

        map->map.keys[map->map.n] = key;
        map->map.values[map->map.n] = item;
        map->map.n++;
        return 0;

oom:
        value_free(key);
        value_free(item);
        return -ENOMEM;
}

int value_map_set(Value *map, const char *key, Value *item) {
        Value *k;

        if (!map || map->type != VALUE_MAP || !key || !item) {
                value_free(item);
                return -EINVAL;
        }

        k = value_new_string(key);
        if (!k) {
                value_free(item);
                return -ENOMEM;
        }
        return value_map_set_key(map, k, item);
}

Value *value_map_get_key(const Value *map, const Value *key) {
        ssize_t i;

        if (!map || map->type != VALUE_MAP || !key)
                return NULL;
        i = value_map_find(map, key);
        return i >= 0 ? map->map.values[i] : NULL;
}

Value *value_map_get(const Value *map, const char *key) {
        if (!map || map->type != VALUE_MAP || !key)
                return NULL;
        for (size_t i = 0; i < map->map.n; i++)
                if (map->map.keys[i]->type == VALUE_STRING && streq(map->map.keys[i]->s, key))
                        return map->map.values[i];
        return NULL;
}

/* A growable string; repr of nested containers has no useful upper bound
 * other than memory. */
typedef struct Buf {
        char *s;
        size_t n, allocated;
} Buf;

static int buf_append(Buf *b, const char *s, size_t l) {
        if (b->n + l + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->n + l + 1);
                char *t = realloc(b->s, MAX(a, (size_t) 64));
                if (!t)
                        return -ENOMEM;
                b->s = t;
                b->allocated = MAX(a, (size_t) 64);
        }
        memcpy(b->s + b->n, s, l);
        b->n += l;
        b->s[b->n] = 0;
        return 0;
}

static int buf_puts(Buf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

int value_format_float(double f, char **ret) {
        _cleanup_free_ char *s = NULL;
        int prec, exp10;

        if (isnan(f))
                return (*ret = strdup("nan")) ? 0 : -ENOMEM;
        if (isinf(f))
                return (*ret = strdup(f < 0 ? "-inf" : "inf")) ? 0 : -ENOMEM;

        /* Python's repr: the fewest significant digits that read back as
         * the same double, positional for exponents -4..15, scientific
         * otherwise, and always recognisably a float. */
        for (prec = 1; prec <= 17; prec++) {
                free(s);
                s = strdup_printf("%.*e", prec - 1, f);
                if (!s)
                        return -ENOMEM;
                if (strtod(s, NULL) == f)
                        break;
        }
        exp10 = atoi(strchr(s, 'e') + 1);

        if (exp10 >= -4 && exp10 < 16) {
                free(s);
                s = strdup_printf("%.*f", MAX(prec - 1 - exp10, 0), f);
                if (!s)
                        return -ENOMEM;
                if (!strchr(s, '.')) {
                        char *t = strdup_printf("%s.0", s);
                        if (!t)
                                return -ENOMEM;
                        free(s);
                        s = t;
                }
        }

        *ret = TAKE_PTR(s);
        return 0;
}

static int repr_string(Buf *b, const char *s) {
        /* Python picks double quotes only when the string holds a single
         * quote but no double quote. */
        char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
        int r;

        r = buf_append(b, &q, 1);
        if (r < 0)
                return r;
        for (const char *p = s; *p; p++) {
                char esc[8];

                if (*p == q || *p == '\\') {
                        esc[0] = '\\';
                        esc[1] = *p;
                        esc[2] = 0;
                } else if (*p == '\n')
                        strcpy(esc, "\\n");
                else if (*p == '\t')
                        strcpy(esc, "\\t");
                else if (*p == '\r')
                        strcpy(esc, "\\r");
                else if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        snprintf(esc, sizeof(esc), "\\x%02x", (unsigned) (unsigned char) *p);
                else {
                        esc[0] = *p;
                        esc[1] = 0;
                }
                r = buf_puts(b, esc);
                if (r < 0)
                        return r;
        }
        return buf_append(b, &q, 1);
}

static int value_format(Buf *b, const Value *v, bool repr) {
        _cleanup_free_ char *t = NULL;
        int r;

        switch (v->type) {
        case VALUE_NULL:
                return buf_puts(b, "None");
        case VALUE_BOOL:
                return buf_puts(b, v->b ? "True" : "False");
        case VALUE_INT:
                t = strdup_printf("%" PRId64, v->i);
                if (!t)
                        return -ENOMEM;
                return buf_puts(b, t);
        case VALUE_FLOAT:
                r = value_format_float(v->f, &t);
                if (r < 0)
                        return r;
                return buf_puts(b, t);
        case VALUE_STRING:
                return repr ? repr_string(b, v->s) : buf_puts(b, v->s);
        case VALUE_LIST:
                r = buf_puts(b, "[");
                for (size_t i = 0; r >= 0 && i < v->list.n; i++) {
                        if (i > 0)
                                r = buf_puts(b, ", ");
                        if (r >= 0)
                                r = value_format(b, v->list.items[i], true);
                }
                if (r < 0)
                        return r;
                return buf_puts(b, "]");
        case VALUE_MAP:
                r = buf_puts(b, "{");
                for (size_t i = 0; r >= 0 && i < v->map.n; i++) {
                        if (i > 0)
                                r = buf_puts(b, ", ");
                        if (r >= 0)
                                r = value_format(b, v->map.keys[i], true);
                        if (r >= 0)
                                r = buf_puts(b, ": ");
                        if (r >= 0)
                                r = value_format(b, v->map.values[i], true);
                }
                if (r < 0)
                        return r;
                return buf_puts(b, "}");
        }
        return -EINVAL;
}

int value_to_string(const Value *v, char **ret) {
        Buf b = {};
        int r;

        if (!v || !ret)
                return -EINVAL;

        r = value_format(&b, v, false);
        if (r >= 0 && !b.s) {
                b.s = strdup("");
                if (!b.s)
                        r = -ENOMEM;
        }
        if (r < 0) {
                free(b.s);
                return r;
        }
        *ret = b.s;
        return 0;
}

static const char *const value_type_table[] = {
        [VALUE_NULL] = "null",
        [VALUE_BOOL] = "bool",
        [VALUE_INT] = "int",
        [VALUE_FLOAT] = "float",
        [VALUE_STRING] = "string",
        [VALUE_LIST] = "list",
        [VALUE_MAP] = "map",
};

const char *value_type_to_string(ValueType t) {
        if ((unsigned) t >= ELEMENTSOF(value_type_table))
                return NULL;
        return value_type_table[t];
}

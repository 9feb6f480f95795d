/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A dynamically typed value tree: what a YAML document (score variables)
 * holds and what templates render from. */

#include "macro.h"

typedef enum ValueType {
        VALUE_NULL,
        VALUE_BOOL,
        VALUE_INT,
        VALUE_FLOAT,
        VALUE_STRING,
        VALUE_LIST,
        VALUE_MAP,
} ValueType;

typedef struct Value Value;
struct Value {
        ValueType type;
        union {
                bool b;
                int64_t i;
                double f;
                char *s;
                struct {
                        Value **items;
                        size_t n;
                } list;
                struct {
                        /* Insertion order is kept: templates iterate in it.
                         * Keys are scalar Values (string, int, float, bool,
                         * null), as PyYAML gives them to the original's
                         * templates: "1:" is the int 1, "'1':" the string. */
                        Value **keys;
                        Value **values;
                        size_t n;
                } map;
        };
};

Value *value_new_null(void);
Value *value_new_bool(bool b);
Value *value_new_int(int64_t i);
Value *value_new_float(double f);
Value *value_new_string(const char *s);        /* copies */
Value *value_new_string_take(char *s);         /* takes ownership; NULL s → NULL */
Value *value_new_list(void);
Value *value_new_map(void);

void value_free(Value *v);
DEFINE_CLEANUP_FUNC(Value *, value_free);
#define _cleanup_value_free_ _cleanup_(value_freep)

Value *value_copy(const Value *v);

/* Both take ownership of item (also on failure). */
int value_list_append(Value *list, Value *item);
int value_map_set(Value *map, const char *key, Value *item); /* string key; replaces an existing key's value */

/* Typed keys: takes ownership of key and item (also on failure).  key must
 * be a scalar (-EINVAL otherwise).  An existing key equal to key in Python's
 * sense (1 == 1.0 == True, "1" != 1) keeps its place and its own key, as in
 * a Python dict, and gets item as its value. */
int value_map_set_key(Value *map, Value *key, Value *item);

/* Lookups: value_map_get() finds string keys only; value_map_get_key()
 * compares with Python equality. */
Value *value_map_get(const Value *map, const char *key);
Value *value_map_get_key(const Value *map, const Value *key);

/* Python == between two scalars (numbers across int/float/bool, strings by
 * content, None); containers compare by identity only. */
bool value_scalar_equal(const Value *a, const Value *b);

/* Python repr() of a double: shortest round-tripping digits, "1.0",
 * "1e+16", "inf", "nan". */
int value_format_float(double f, char **ret);

/* Render a scalar the way Jinja's str() would: ints in decimal, bools as
 * True/False, null as None, floats in shortest form.  Lists and maps are
 * rendered Python-repr style. */
int value_to_string(const Value *v, char **ret);

const char *value_type_to_string(ValueType t);

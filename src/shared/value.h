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
                        /* insertion order is kept: templates iterate in it */
                        char **keys;
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
int value_map_set(Value *map, const char *key, Value *item); /* replaces an existing key */

Value *value_map_get(const Value *map, const char *key);

/* Render a scalar the way Jinja's str() would: ints in decimal, bools as
 * True/False, null as None, floats in shortest form.  Lists and maps are
 * rendered Python-repr style. */
int value_to_string(const Value *v, char **ret);

const char *value_type_to_string(ValueType t);

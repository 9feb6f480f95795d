/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A bounded JSON reader: text from processes we do not control (the
 * output of AI command-line tools) → a Value tree.  Objects become
 * VALUE_MAP (a repeated key keeps its last value), arrays VALUE_LIST,
 * numbers VALUE_INT when they are integers that fit int64, VALUE_FLOAT
 * otherwise. */

#include "value.h"

typedef struct JsonLimits {
        unsigned max_depth;     /* nesting of arrays and objects; default 64 */
        size_t max_values;      /* values in the whole document; default 200 000 */
        size_t max_members;     /* members of one object; default 1024 */
} JsonLimits;

#define JSON_DEPTH_MAX 64U
#define JSON_VALUES_MAX 200000U
#define JSON_MEMBERS_MAX 1024U

/* Parse exactly one JSON value from data (surrounding whitespace
 * allowed).  limits NULL = the defaults; a zero field = its default.
 *   -EINVAL  not JSON; *ret_error says "line L column C: what"
 *   -E2BIG   over a limit (also with a message)
 *   -ENOMEM
 * Bytes that are not valid UTF-8, \u0000 and unpaired surrogates in
 * strings become U+FFFD (Value strings are NUL-terminated UTF-8). */
int json_parse(const char *data, size_t size, const JsonLimits *limits, Value **ret, char **ret_error);

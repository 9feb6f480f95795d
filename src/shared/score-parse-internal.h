/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between the parts of the score parser (score-parse*.c): the node
 * tree libyaml events are read into, and the checked getters that turn
 * nodes into typed fields with file:line diagnostics. */

#include <stdarg.h>

#include "score.h"

typedef enum NodeType {
        NODE_SCALAR,
        NODE_SEQUENCE,
        NODE_MAPPING,
} NodeType;

typedef struct Node Node;
struct Node {
        NodeType type;
        unsigned line, column;          /* 1-based */
        char *scalar;                   /* NODE_SCALAR, NUL-terminated */
        size_t len;
        bool plain;                     /* unquoted and untagged: subject to implicit typing */
        bool complete;                  /* end event seen; an alias to an incomplete node is recursive */
        unsigned height;                /* collection nesting levels at and below this node */
        Node **items;                   /* sequence items, or mapping key, value, key, value, ... */
        size_t n_items;
};

void node_free(Node *n);

typedef struct Ctx {
        Score *score;
        const ScoreLimits *limits;
        ScoreDiagnostic error;
} Ctx;

/* Known mapping keys of one section, each bound to where its node goes. */
typedef struct KeySlot {
        const char *name;
        const Node **value;
        const Node **key;
} KeySlot;

const char *node_type_to_string(const Node *n);
bool node_is_null(const Node *n);

int ctx_failv(Ctx *c, ScoreCode code, const Node *n, const char *key, int r, const char *fmt, va_list ap);
int fail_code(Ctx *c, ScoreCode code, const Node *n, const char *key, int r, const char *fmt, ...) _printf_(6, 7);
int fail(Ctx *c, const Node *n, const char *key, int r, const char *fmt, ...) _printf_(5, 6);
int warn_code(Ctx *c, ScoreCode code, const Node *n, const char *key, const char *fmt, ...) _printf_(5, 6);
int warn(Ctx *c, const Node *n, const char *key, const char *fmt, ...) _printf_(4, 5);
int warn_unsupported(Ctx *c, const Node *key_node, const char *key);

bool in_list(const char *const *list, const char *s);
char *key_path(const char *prefix, const char *key);

int expect_type(Ctx *c, const Node *n, const char *key, NodeType type);
int get_string(Ctx *c, const Node *n, const char *key, bool allow_empty, char **ret);
int get_uint(Ctx *c, const Node *n, const char *key, unsigned min, unsigned *ret);
int get_uint64_range(Ctx *c, const Node *n, const char *key, uint64_t min, uint64_t max, uint64_t *ret);
int get_number(Ctx *c, const Node *n, const char *key, double min, bool min_exclusive, double *ret);
int get_bool(Ctx *c, const Node *n, const char *key, bool *ret);
int parse_uint64(const char *s, uint64_t *ret);
/* A list of strings, or a single string as a one-item list. */
int get_string_list(Ctx *c, const Node *n, const char *key, char ***ret);

/* Sort a mapping's entries into slots; keys in unsupported become
 * warnings (all others too with warn_all_others), anything else is an
 * error.  Null values count as absent. */
int collect_keys(Ctx *c, const Node *m, const char *prefix,
                 const KeySlot *slots, const char *const *unsupported, bool warn_all_others);

/* expect_type(NODE_MAPPING), then collect_keys(). */
int collect_mapping(Ctx *c, const Node *m, const char *prefix,
                    const KeySlot *slots, const char *const *unsupported, bool warn_all_others);

/* "PREFIX.K" in the char * variable buf (its old value freed); makes the
 * calling function return -ENOMEM when out of memory. */
#define SUBKEY(buf, prefix, k) \
        ({ free(buf); (buf) = strdup_printf("%s.%s", (prefix), (k)); if (!(buf)) return -ENOMEM; (buf); })

int parse_stage_number(Ctx *c, const Node *n, const char *key, const char *what, unsigned *ret);
int path_make_absolute_normalized(const char *base, const char *path, char **ret);

/* score-parse-instruments.c */
int parse_instrument_config_block(Ctx *c, const Node *m, const char *prefix, ScoreInstrumentConfig *ret);
int parse_instruments(Ctx *c, const Node *m);
int parse_movements(Ctx *c, const Node *m);
int parse_sheet_instruments(Ctx *c, const Node *per_sheet, const Node *map, const Node *configs,
                            const Node *fallbacks);

/* score-parse-hooks.c */
int parse_cross_sheet(Ctx *c, const Node *m);
int parse_hooks(Ctx *c, const Node *l, const char *key);
int parse_concert(Ctx *c, const Node *m);
int parse_rate_limit(Ctx *c, const Node *m);

/* score-parse-runner.c */
int parse_runner(Ctx *c, const Node *m);

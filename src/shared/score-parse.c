/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* Score parsing: libyaml events → a small node tree of our own (so nesting
 * depth and alias expansion can be bounded while reading, which
 * yaml_parser_load cannot do) → the typed Score. */

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <yaml.h>

#include "score-parse-internal.h"
#include "template.h"
#include "yaml-scalar.h"

/* ───────────────────────────── node tree ───────────────────────────── */

#define _fallthrough __attribute__((fallthrough))

static char *memdup_suffix0(const char *p, size_t l) {
        char *t = malloc(l + 1);
        if (!t)
                return NULL;
        memcpy(t, p, l);
        t[l] = 0;
        return t;
}

void node_free(Node *n) {
        if (!n)
                return;
        free(n->scalar);
        for (size_t i = 0; i < n->n_items; i++)
                node_free(n->items[i]);
        free(n->items);
        free(n);
}
DEFINE_CLEANUP_FUNC(Node *, node_free);
#define _cleanup_node_free_ _cleanup_(node_freep)

static int node_append(Node *parent, Node *child) {
        Node **t = reallocarray(parent->items, parent->n_items + 1, sizeof(Node *));
        if (!t)
                return -ENOMEM;
        t[parent->n_items++] = child;
        parent->items = t;
        return 0;
}

const char *node_type_to_string(const Node *n) {
        switch (n->type) {
        case NODE_SCALAR:
                return "a scalar";
        case NODE_SEQUENCE:
                return "a list";
        case NODE_MAPPING:
                return "a mapping";
        }
        return "?";
}

bool node_is_null(const Node *n) {
        return n->type == NODE_SCALAR && n->plain &&
                (n->len == 0 || streq(n->scalar, "~") || streq(n->scalar, "null") ||
                 streq(n->scalar, "Null") || streq(n->scalar, "NULL"));
}

/* ─────────────────────────── event parsing ─────────────────────────── */

typedef struct Anchor {
        char *name;
        Node *node;
} Anchor;

typedef struct YamlReader {
        const char *source;
        const ScoreLimits *limits;
        char *error;            /* message, without place */
        unsigned error_line, error_column;

        Node **stack;
        size_t n_stack;
        Node *root;

        Anchor *anchors;
        size_t n_anchors;
        unsigned n_aliases;
        size_t n_copied;        /* nodes created by expanding aliases */
        size_t max_copied;
} YamlReader;

static void yaml_reader_done(YamlReader *y) {
        for (size_t i = 0; i < y->n_stack; i++)
                node_free(y->stack[i]);
        free(y->stack);
        node_free(y->root);
        for (size_t i = 0; i < y->n_anchors; i++)
                free(y->anchors[i].name);
        free(y->anchors);
        free(y->error);
}

static int reader_fail(YamlReader *y, int r, unsigned line, unsigned column, const char *fmt, ...) _printf_(5, 6);
static int reader_fail(YamlReader *y, int r, unsigned line, unsigned column, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        free(y->error);
        y->error = TAKE_PTR(msg);
        y->error_line = line;
        y->error_column = column;
        return r;
}

static Node *node_new(NodeType type, const yaml_event_t *e) {
        Node *n = calloc(1, sizeof(Node));
        if (!n)
                return NULL;
        n->type = type;
        n->line = (unsigned) e->start_mark.line + 1;
        n->column = (unsigned) e->start_mark.column + 1;
        return n;
}

static Node *node_copy(YamlReader *y, const Node *n, int *ret_r) {
        _cleanup_node_free_ Node *c = NULL;

        if (++y->n_copied > y->max_copied) {
                *ret_r = -E2BIG;
                return NULL;
        }

        c = calloc(1, sizeof(Node));
        if (!c) {
                *ret_r = -ENOMEM;
                return NULL;
        }
        *c = (Node) {
                .type = n->type,
                .line = n->line,
                .column = n->column,
                .len = n->len,
                .plain = n->plain,
                .complete = true,
                .height = n->height,
        };
        if (n->scalar) {
                c->scalar = memdup_suffix0(n->scalar, n->len);
                if (!c->scalar) {
                        *ret_r = -ENOMEM;
                        return NULL;
                }
        }
        if (n->n_items > 0) {
                c->items = calloc(n->n_items, sizeof(Node *));
                if (!c->items) {
                        *ret_r = -ENOMEM;
                        return NULL;
                }
                for (size_t i = 0; i < n->n_items; i++) {
                        c->items[i] = node_copy(y, n->items[i], ret_r);
                        if (!c->items[i])
                                return NULL;
                        c->n_items++;
                }
        }
        return TAKE_PTR(c);
}

static int reader_add_anchor(YamlReader *y, const yaml_char_t *anchor, Node *n) {
        Anchor *t;
        char *name;

        if (!anchor)
                return 0;

        name = strdup((const char *) anchor);
        if (!name)
                return -ENOMEM;
        t = reallocarray(y->anchors, y->n_anchors + 1, sizeof(Anchor));
        if (!t) {
                free(name);
                return -ENOMEM;
        }
        y->anchors = t;
        y->anchors[y->n_anchors++] = (Anchor) { name, n };
        return 0;
}

static Node *reader_find_anchor(YamlReader *y, const char *name) {
        /* A later anchor of the same name shadows an earlier one. */
        for (size_t i = y->n_anchors; i > 0; i--)
                if (streq(y->anchors[i - 1].name, name))
                        return y->anchors[i - 1].node;
        return NULL;
}

/* Takes ownership of n. */
static int reader_attach(YamlReader *y, Node *n) {
        int r;

        if (y->n_stack == 0) {
                if (y->root) {
                        node_free(n);
                        return reader_fail(y, -EINVAL, n->line, n->column, "more than one root node");
                }
                y->root = n;
                return 0;
        }

        r = node_append(y->stack[y->n_stack - 1], n);
        if (r < 0)
                node_free(n);
        return r;
}

static int reader_push(YamlReader *y, Node *n) {
        Node **t;

        if (y->n_stack + 1 > y->limits->max_depth) {
                int r = reader_fail(y, -E2BIG, n->line, n->column,
                                    "YAML nesting deeper than %u levels; flatten the score",
                                    y->limits->max_depth);
                node_free(n);
                return r;
        }

        t = reallocarray(y->stack, y->n_stack + 1, sizeof(Node *));
        if (!t) {
                node_free(n);
                return -ENOMEM;
        }
        y->stack = t;
        y->stack[y->n_stack++] = n;
        return 0;
}

typedef struct KeyRef {
        const char *key;
        size_t index;
} KeyRef;

static int keyref_cmp(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = strcmp(x->key, y->key);
        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

static bool node_is_merge_key(const Node *k) {
        return k->type == NODE_SCALAR && k->plain && streq(k->scalar, "<<");
}

/* YAML 1.1 merge keys ("<<: *defaults"), which PyYAML — and so the
 * original's scores — honour: explicit keys win over merged ones, earlier
 * merge sources over later ones. */
static int mapping_apply_merges(YamlReader *y, Node *m) {
        Node **kept = NULL;
        size_t n_kept = 0, n_borrowed;
        bool any = false;
        int r = 0;

        for (size_t i = 0; i + 1 < m->n_items; i += 2)
                if (node_is_merge_key(m->items[i]))
                        any = true;
        if (!any)
                return 0;

        kept = calloc(m->n_items, sizeof(Node *));
        if (!kept)
                return -ENOMEM;

        /* kept[0..n_borrowed) still belong to m, the rest are our copies. */
        for (size_t i = 0; i + 1 < m->n_items; i += 2)
                if (!node_is_merge_key(m->items[i])) {
                        kept[n_kept++] = m->items[i];
                        kept[n_kept++] = m->items[i + 1];
                }
        n_borrowed = n_kept;

        for (size_t i = 0; r >= 0 && i + 1 < m->n_items; i += 2) {
                Node *v = m->items[i + 1], **sources;
                size_t n_sources;

                if (!node_is_merge_key(m->items[i]))
                        continue;

                if (v->type == NODE_MAPPING) {
                        sources = &m->items[i + 1];
                        n_sources = 1;
                } else if (v->type == NODE_SEQUENCE) {
                        sources = v->items;
                        n_sources = v->n_items;
                } else {
                        r = reader_fail(y, -EINVAL, v->line, v->column,
                                        "key '<<': merge value must be a mapping or a list of mappings");
                        break;
                }

                for (size_t si = 0; r >= 0 && si < n_sources; si++) {
                        Node *src = sources[si];

                        if (src->type != NODE_MAPPING) {
                                r = reader_fail(y, -EINVAL, src->line, src->column,
                                                "key '<<': merge value must be a mapping or a list of mappings");
                                break;
                        }

                        for (size_t j = 0; j + 1 < src->n_items; j += 2) {
                                Node *k = src->items[j], **t;
                                bool seen = false;

                                if (k->type != NODE_SCALAR)
                                        continue;
                                for (size_t q = 0; q < n_kept; q += 2)
                                        if (streq(kept[q]->scalar, k->scalar)) {
                                                seen = true;
                                                break;
                                        }
                                if (seen)
                                        continue;

                                t = reallocarray(kept, n_kept + 2, sizeof(Node *));
                                if (!t) {
                                        r = -ENOMEM;
                                        break;
                                }
                                kept = t;
                                kept[n_kept] = node_copy(y, k, &r);
                                if (!kept[n_kept])
                                        break;
                                n_kept++;
                                kept[n_kept] = node_copy(y, src->items[j + 1], &r);
                                if (!kept[n_kept])
                                        break;
                                n_kept++;
                        }
                }
        }

        if (r < 0) {
                for (size_t q = n_borrowed; q < n_kept; q++)
                        node_free(kept[q]);
                free(kept);
                if (r == -E2BIG)
                        return reader_fail(y, r, m->line, m->column,
                                           "YAML aliases expand to more than %zu nodes; refusing (alias bomb?)",
                                           y->max_copied);
                return r;
        }

        for (size_t i = 0; i + 1 < m->n_items; i += 2)
                if (node_is_merge_key(m->items[i])) {
                        node_free(m->items[i]);
                        node_free(m->items[i + 1]);
                }
        free(m->items);
        m->items = kept;
        m->n_items = n_kept;
        return 0;
}

static int reader_check_mapping(YamlReader *y, Node *m) {
        _cleanup_free_ KeyRef *refs = NULL;
        size_t n = 0;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                Node *k = m->items[i];
                if (k->type != NODE_SCALAR)
                        return reader_fail(y, -EINVAL, k->line, k->column,
                                           "mapping keys must be scalars, got %s", node_type_to_string(k));
        }

        if (m->n_items < 4)
                return 0;

        refs = calloc(m->n_items / 2, sizeof(KeyRef));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < m->n_items; i += 2)
                if (!node_is_merge_key(m->items[i]))
                        refs[n++] = (KeyRef) { m->items[i]->scalar, i };

        qsort(refs, n, sizeof(KeyRef), keyref_cmp);
        for (size_t i = 1; i < n; i++)
                if (streq(refs[i].key, refs[i - 1].key)) {
                        Node *k = m->items[refs[i].index], *first = m->items[refs[i - 1].index];
                        return reader_fail(y, -EINVAL, k->line, k->column,
                                           "key '%s': duplicate key (first defined at line %u)",
                                           k->scalar, first->line);
                }
        return 0;
}

static int reader_event(YamlReader *y, const yaml_event_t *e) {
        Node *n;
        int r;

        switch (e->type) {
        case YAML_SCALAR_EVENT:
                n = node_new(NODE_SCALAR, e);
                if (!n)
                        return -ENOMEM;
                n->scalar = memdup_suffix0((const char *) e->data.scalar.value, e->data.scalar.length);
                if (!n->scalar) {
                        node_free(n);
                        return -ENOMEM;
                }
                n->len = e->data.scalar.length;
                n->plain = e->data.scalar.plain_implicit && e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                n->complete = true;
                r = reader_add_anchor(y, e->data.scalar.anchor, n);
                if (r < 0) {
                        node_free(n);
                        return r;
                }
                return reader_attach(y, n);

        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                n = node_new(e->type == YAML_SEQUENCE_START_EVENT ? NODE_SEQUENCE : NODE_MAPPING, e);
                if (!n)
                        return -ENOMEM;
                r = reader_push(y, n);
                if (r < 0)
                        return r;
                return reader_add_anchor(y,
                                         e->type == YAML_SEQUENCE_START_EVENT ?
                                         e->data.sequence_start.anchor : e->data.mapping_start.anchor,
                                         n);

        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (y->n_stack == 0)
                        return -EINVAL;  /* libyaml never does this */
                n = y->stack[--y->n_stack];

                if (n->type == NODE_MAPPING) {
                        r = reader_check_mapping(y, n);
                        if (r >= 0)
                                r = mapping_apply_merges(y, n);
                        if (r < 0) {
                                node_free(n);
                                return r;
                        }
                }

                n->height = 1;
                for (size_t i = 0; i < n->n_items; i++)
                        n->height = MAX(n->height, n->items[i]->height + 1);
                n->complete = true;
                return reader_attach(y, n);

        case YAML_ALIAS_EVENT: {
                const char *name = (const char *) e->data.alias.anchor;
                unsigned line = (unsigned) e->start_mark.line + 1, column = (unsigned) e->start_mark.column + 1;
                Node *target;

                target = reader_find_anchor(y, name);
                if (!target)
                        return reader_fail(y, -EINVAL, line, column, "unknown YAML alias '*%s'", name);
                if (!target->complete)
                        return reader_fail(y, -EINVAL, line, column, "YAML alias '*%s' refers to itself", name);
                if (++y->n_aliases > y->limits->max_aliases)
                        return reader_fail(y, -E2BIG, line, column,
                                           "more than %u YAML alias references; refusing", y->limits->max_aliases);
                if (y->n_stack + target->height > y->limits->max_depth)
                        return reader_fail(y, -E2BIG, line, column,
                                           "YAML alias '*%s' nests deeper than %u levels; flatten the score",
                                           name, y->limits->max_depth);

                n = node_copy(y, target, &r);
                if (!n) {
                        if (r == -E2BIG)
                                return reader_fail(y, r, line, column,
                                                   "YAML aliases expand to more than %zu nodes; refusing (alias bomb?)",
                                                   y->max_copied);
                        return r;
                }
                n->line = line;
                n->column = column;
                return reader_attach(y, n);
        }

        default:
                return 0;
        }
}

static int yaml_read_tree(YamlReader *y, const char *text, size_t size) {
        yaml_parser_t parser;
        unsigned n_documents = 0;
        bool done = false;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);

        while (!done) {
                yaml_event_t e;

                if (!yaml_parser_parse(&parser, &e)) {
                        if (parser.error == YAML_MEMORY_ERROR)
                                r = -ENOMEM;
                        else
                                r = reader_fail(y, -EINVAL,
                                                (unsigned) parser.problem_mark.line + 1,
                                                (unsigned) parser.problem_mark.column + 1,
                                                "YAML syntax error: %s%s%s",
                                                strna(parser.problem),
                                                parser.context ? " " : "",
                                                strempty(parser.context));
                        break;
                }

                if (e.type == YAML_DOCUMENT_START_EVENT && ++n_documents > 1)
                        r = reader_fail(y, -EINVAL, (unsigned) e.start_mark.line + 1,
                                        (unsigned) e.start_mark.column + 1,
                                        "a score is a single YAML document, found a second one");
                else
                        r = reader_event(y, &e);
                done = e.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&e);
                if (r < 0)
                        break;
        }

        yaml_parser_delete(&parser);
        return r;
}

/* ───────────────────────────── conversion ──────────────────────────── */

int ctx_failv(Ctx *c, ScoreCode code, const Node *n, const char *key, int r, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                return -ENOMEM;

        score_diagnostic_done(&c->error);
        c->error = (ScoreDiagnostic) {
                .code = code,
                .file = strdup(c->score->source),
                .line = n ? n->line : 0,
                .column = n ? n->column : 0,
                .key = key ? strdup(key) : NULL,
                .message = TAKE_PTR(msg),
        };
        if (!c->error.file || (key && !c->error.key))
                return -ENOMEM;
        return r;
}

int fail_code(Ctx *c, ScoreCode code, const Node *n, const char *key, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        r = ctx_failv(c, code, n, key, r, fmt, ap);
        va_end(ap);
        return r;
}

/* The code of an error follows from what kind of check failed; the
 * checks below all word their message the same way per kind, so the
 * format string tells the kind.  New checks should call fail_code(). */
static ScoreCode code_for_failure(int r, const char *fmt) {
        if (r == -E2BIG || r == -EFBIG)
                return SCORE_E_LIMIT;
        if (r != -EINVAL)
                return SCORE_E_FILE;
        if (startswith(fmt, "required key is missing") || strstr(fmt, "required for type"))
                return SCORE_E_MISSING_KEY;
        if (startswith(fmt, "expected %s, got %s") || startswith(fmt, "expected a non-empty string") ||
            startswith(fmt, "expected true or false") || startswith(fmt, "expected a number") ||
            startswith(fmt, "expected an integer"))
                return SCORE_E_WRONG_TYPE;
        if (startswith(fmt, "unknown key"))
                return SCORE_E_UNKNOWN_KEY;
        if (strstr(fmt, "depend") || strstr(fmt, "stage number") || strstr(fmt, "unknown stage") ||
            strstr(fmt, "cycle"))
                return SCORE_E_DEPENDENCY;
        return SCORE_E_BAD_VALUE;
}

int fail(Ctx *c, const Node *n, const char *key, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        r = ctx_failv(c, code_for_failure(r, fmt), n, key, r, fmt, ap);
        va_end(ap);
        return r;
}

static int warn_codev(Ctx *c, ScoreCode code, const Node *n, const char *key, const char *fmt, va_list ap) {
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        ScoreDiagnostic *t;
        char *w;

        if (vasprintf(&d.message, fmt, ap) < 0) {
                d.message = NULL;
                return -ENOMEM;
        }
        d.code = code;
        d.file = strdup(c->score->source);
        d.line = n ? n->line : 0;
        d.column = n ? n->column : 0;
        d.key = key ? strdup(key) : NULL;
        if (!d.file || (key && !d.key))
                return -ENOMEM;

        w = score_diagnostic_format(&d);
        if (!w)
                return -ENOMEM;
        if (strv_push(&c->score->warnings, w) < 0) {
                free(w);
                return -ENOMEM;
        }

        t = reallocarray(c->score->diagnostics, c->score->n_diagnostics + 1, sizeof(ScoreDiagnostic));
        if (!t)
                return -ENOMEM;
        c->score->diagnostics = t;
        c->score->diagnostics[c->score->n_diagnostics++] = d;
        d = (ScoreDiagnostic) {};
        return 0;
}

int warn_code(Ctx *c, ScoreCode code, const Node *n, const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = warn_codev(c, code, n, key, fmt, ap);
        va_end(ap);
        return r;
}

int warn(Ctx *c, const Node *n, const char *key, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = warn_codev(c, SCORE_W_UNSUPPORTED, n, key, fmt, ap);
        va_end(ap);
        return r;
}

int warn_unsupported(Ctx *c, const Node *key_node, const char *key) {
        return warn(c, key_node, key, "not supported yet, ignored");
}

bool in_list(const char *const *list, const char *s) {
        for (; *list; list++)
                if (streq(*list, s))
                        return true;
        return false;
}

char *key_path(const char *prefix, const char *key) {
        return prefix ? strdup_printf("%s.%s", prefix, key) : strdup(key);
}

int expect_type(Ctx *c, const Node *n, const char *key, NodeType type) {
        static const char *const names[] = {
                [NODE_SCALAR] = "a scalar",
                [NODE_SEQUENCE] = "a list",
                [NODE_MAPPING] = "a mapping",
        };

        if (n->type != type)
                return fail(c, n, key, -EINVAL, "expected %s, got %s", names[type], node_type_to_string(n));
        return 0;
}

int get_string(Ctx *c, const Node *n, const char *key, bool allow_empty, char **ret) {
        int r;

        r = expect_type(c, n, key, NODE_SCALAR);
        if (r < 0)
                return r;
        if (node_is_null(n) || (!allow_empty && n->len == 0))
                return fail(c, n, key, -EINVAL, "expected a non-empty string");
        if (strlen(n->scalar) != n->len)
                return fail(c, n, key, -EINVAL, "string contains a NUL byte");

        return free_and_strdup(ret, n->scalar);
}

int get_string_list(Ctx *c, const Node *n, const char *key, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if (n->type == NODE_SCALAR) {
                _cleanup_free_ char *v = NULL;

                r = get_string(c, n, key, false, &v);
                if (r < 0)
                        return r;
                if (strv_push(&l, TAKE_PTR(v)) < 0)
                        return -ENOMEM;
        } else {
                r = expect_type(c, n, key, NODE_SEQUENCE);
                if (r < 0)
                        return r;
                /* an empty list is a list, not "unset" */
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
                for (size_t i = 0; i < n->n_items; i++) {
                        _cleanup_free_ char *v = NULL, *k = strdup_printf("%s[%zu]", key, i);

                        if (!k)
                                return -ENOMEM;
                        r = get_string(c, n->items[i], k, false, &v);
                        if (r < 0)
                                return r;
                        if (strv_push(&l, TAKE_PTR(v)) < 0)
                                return -ENOMEM;
                }
        }

        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (*p == '+')
                p++;
        if (!*p)
                return -EINVAL;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

int get_uint(Ctx *c, const Node *n, const char *key, unsigned min, unsigned *ret) {
        uint64_t v;
        int r;

        r = expect_type(c, n, key, NODE_SCALAR);
        if (r < 0)
                return r;
        r = parse_uint64(n->scalar, &v);
        if (r < 0 || v > UINT_MAX)
                return fail(c, n, key, -EINVAL, "expected an integer >= %u, got '%s'", min, n->scalar);
        if (v < min)
                return fail(c, n, key, -EINVAL, "must be >= %u, got %" PRIu64, min, v);
        *ret = (unsigned) v;
        return 0;
}

static bool parse_float_text(const char *s, double *ret) {
        const char *p = s + (*s == '+' || *s == '-');

        /* the YAML 1.2 core schema float, plus ints */
        if (streq(p, ".inf") || streq(p, ".Inf") || streq(p, ".INF")) {
                *ret = *s == '-' ? -INFINITY : INFINITY;
                return true;
        }
        if (p == s && (streq(p, ".nan") || streq(p, ".NaN") || streq(p, ".NAN"))) {
                *ret = NAN;
                return true;
        }
        return parse_decimal_text(s, ret);
}

int get_number(Ctx *c, const Node *n, const char *key, double min, bool min_exclusive, double *ret) {
        double v;
        int r;

        r = expect_type(c, n, key, NODE_SCALAR);
        if (r < 0)
                return r;
        if (!parse_float_text(n->scalar, &v) || !isfinite(v))
                return fail(c, n, key, -EINVAL, "expected a number, got '%s'", n->scalar);
        if (min_exclusive ? !(v > min) : !(v >= min))
                return fail(c, n, key, -EINVAL, "must be %s %g, got %s", min_exclusive ? ">" : ">=", min, n->scalar);
        *ret = v;
        return 0;
}

static int parse_bool_text(const char *s) {
        if (streq(s, "true") || streq(s, "True") || streq(s, "TRUE"))
                return 1;
        if (streq(s, "false") || streq(s, "False") || streq(s, "FALSE"))
                return 0;
        return -EINVAL;
}

int get_bool(Ctx *c, const Node *n, const char *key, bool *ret) {
        int r;

        r = expect_type(c, n, key, NODE_SCALAR);
        if (r < 0)
                return r;
        r = parse_bool_text(n->scalar);
        if (r < 0)
                return fail(c, n, key, -EINVAL, "expected true or false, got '%s'", n->scalar);
        *ret = r;
        return 0;
}

/* No caller since variables follow PyYAML (yaml-scalar.c); kept for
 * settings that may want 0x/0o ints. */
static _unused_ bool parse_int_text(const char *s, int64_t *ret) {
        const char *p = s;
        bool neg = false;
        uint64_t v = 0;
        unsigned base = 10;

        if (*p == '+' || *p == '-')
                neg = *p++ == '-';
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                base = 16, p += 2;
        else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
                base = 8, p += 2;
        if (!*p)
                return false;

        for (; *p; p++) {
                unsigned d;

                if (*p >= '0' && *p <= '9')
                        d = (unsigned) (*p - '0');
                else if (base == 16 && *p >= 'a' && *p <= 'f')
                        d = (unsigned) (*p - 'a' + 10);
                else if (base == 16 && *p >= 'A' && *p <= 'F')
                        d = (unsigned) (*p - 'A' + 10);
                else
                        return false;
                if (d >= base)
                        return false;
                if (v > (UINT64_MAX - d) / base)
                        return false;
                v = v * base + d;
        }

        if (neg ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
                return false;   /* out of range: stays a string */
        *ret = neg ? (int64_t) (0 - v) : (int64_t) v;
        return true;
}

/* Variables, keys included, are typed the way the original's PyYAML
 * safe_load types them (YAML 1.1: "yes" is True, "1e3" is text), since
 * templates written for it compare and print them: "1:" is the int 1,
 * "'1':" the string. */
static Value *scalar_to_value(const Node *n) {
        if (!n->plain)
                return value_new_string(n->scalar);
        return yaml_plain_scalar_to_value(n->scalar);
}

static int node_to_value(Ctx *c, const Node *n, const char *key, Value **ret) {
        _cleanup_value_free_ Value *v = NULL;
        int r;

        switch (n->type) {
        case NODE_SCALAR:
                v = scalar_to_value(n);
                if (!v)
                        return -ENOMEM;
                break;

        case NODE_SEQUENCE:
                v = value_new_list();
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < n->n_items; i++) {
                        _cleanup_free_ char *k = strdup_printf("%s[%zu]", key, i);
                        Value *item;

                        if (!k)
                                return -ENOMEM;
                        r = node_to_value(c, n->items[i], k, &item);
                        if (r < 0)
                                return r;
                        r = value_list_append(v, item);
                        if (r < 0)
                                return r;
                }
                break;

        case NODE_MAPPING:
                v = value_new_map();
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i + 1 < n->n_items; i += 2) {
                        _cleanup_free_ char *k = NULL;
                        Value *item, *map_key;

                        k = key_path(key, n->items[i]->scalar);
                        if (!k)
                                return -ENOMEM;
                        r = node_to_value(c, n->items[i + 1], k, &item);
                        if (r < 0)
                                return r;
                        map_key = scalar_to_value(n->items[i]);
                        if (!map_key) {
                                value_free(item);
                                return -ENOMEM;
                        }
                        r = value_map_set_key(v, map_key, item);
                        if (r < 0)
                                return r;
                }
                break;
        }

        *ret = TAKE_PTR(v);
        return 0;
}

/* Collapse "." and ".." lexically, without resolving symlinks, so that the
 * workspace is exactly where the score says. */
int path_make_absolute_normalized(const char *base, const char *path, char **ret) {
        _cleanup_free_ char *joined = NULL, *out = NULL;
        size_t n = 0;
        char *p, *save = NULL;

        if (path[0] == '/')
                joined = strdup(path);
        else
                joined = strdup_printf("%s/%s", base, path);
        if (!joined)
                return -ENOMEM;

        out = malloc(strlen(joined) + 2);
        if (!out)
                return -ENOMEM;

        for (p = strtok_r(joined, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
                if (streq(p, "."))
                        continue;
                if (streq(p, "..")) {
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--;    /* the '/' itself */
                        continue;
                }
                out[n++] = '/';
                memcpy(out + n, p, strlen(p));
                n += strlen(p);
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = 0;

        *ret = TAKE_PTR(out);
        return 0;
}

static const char *const top_unsupported[] = {
        "on_failure", "on_complete", "cost_limits", "backend", "state_backend",
        "state_path", "workspace_lifecycle", "stale_detection", "learning", "grounding",
        "ai_review", "notifications", "circuit_breaker", "checkpoints", "isolation",
        "conductor", "feedback", "spec", "log", "logging", "bridge", "hooks",
        "self_healing", "validation_config", "prompt_extensions", "tags", "metadata",
        "version", "schema_version", "secrets", "environment", "env",
        NULL,
};

static const char *const sheet_unsupported[] = {
        "prelude", "cadenzas", "skip_when", "skip_when_command", "descriptions",
        "prompt_extensions",
        NULL,
};

static const char *const prompt_unsupported[] = {
        "stakes", "thinking_method", "system_prompt", "preamble", "template_dir",
        NULL,
};

static const char *const validation_unsupported[] = {
        "on_fail", "retry", "max_retries", "severity",
        "name", "fix_hint", "working_directory", "expected_exit_code", "speculative",
        NULL,
};

static const char *const retry_unsupported[] = {
        "max_rate_limit_retries", "retry_on_rate_limit",
        NULL,
};

static const char *const parallel_unsupported[] = {
        "fail_fast", "budget_partition",
        NULL,
};


/* Sort a mapping's entries into slots; unsupported keys become warnings,
 * anything else is an error.  Null values count as absent. */
int collect_keys(Ctx *c, const Node *m, const char *prefix,
                        const KeySlot *slots, const char *const *unsupported, bool warn_all_others) {
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *v = m->items[i + 1];
                _cleanup_free_ char *path = key_path(prefix, k->scalar);
                const KeySlot *slot = NULL;
                int r;

                if (!path)
                        return -ENOMEM;

                for (const KeySlot *s = slots; s->name; s++)
                        if (streq(s->name, k->scalar)) {
                                slot = s;
                                break;
                        }

                if (slot) {
                        if (!node_is_null(v))
                                *slot->value = v;
                        if (slot->key)
                                *slot->key = k;
                        continue;
                }

                if (warn_all_others || (unsupported && in_list(unsupported, k->scalar))) {
                        r = warn_unsupported(c, k, path);
                        if (r < 0)
                                return r;
                        continue;
                }

                return fail(c, k, path, -EINVAL, "unknown key%s%s; check the spelling",
                            prefix ? " in " : "", strempty(prefix));
        }
        return 0;
}

typedef struct StageDeps {
        unsigned **deps;
        size_t *n_deps;
        unsigned n;
} StageDeps;

static void stage_deps_done(StageDeps *d) {
        if (d->deps)
                for (unsigned i = 0; i < d->n; i++)
                        free(d->deps[i]);
        free(d->deps);
        free(d->n_deps);
}

int collect_mapping(Ctx *c, const Node *m, const char *prefix,
                    const KeySlot *slots, const char *const *unsupported, bool warn_all_others) {
        int r;

        r = expect_type(c, m, prefix, NODE_MAPPING);
        if (r < 0)
                return r;
        return collect_keys(c, m, prefix, slots, unsupported, warn_all_others);
}

int parse_stage_number(Ctx *c, const Node *n, const char *key, const char *what, unsigned *ret) {
        Score *s = c->score;
        uint64_t v;

        if (n->type != NODE_SCALAR || parse_uint64(n->scalar, &v) < 0)
                return fail(c, n, key, -EINVAL, "%s must be a stage number, got %s%s%s", what,
                            n->type == NODE_SCALAR ? "'" : "",
                            n->type == NODE_SCALAR ? n->scalar : node_type_to_string(n),
                            n->type == NODE_SCALAR ? "'" : "");
        if (v < 1 || v > s->total_stages)
                return fail(c, n, key, -EINVAL, "unknown stage %" PRIu64 ": the score has stages 1..%u",
                            v, s->total_stages);
        *ret = (unsigned) v;
        return 0;
}

static int parse_dependencies(Ctx *c, const Node *m, const Node *key_node, StageDeps *d) {
        Score *s = c->score;
        _cleanup_free_ char *cycle = NULL;
        int r;

        r = expect_type(c, m, "sheet.dependencies", NODE_MAPPING);
        if (r < 0)
                return r;

        d->n = s->total_stages;
        d->deps = calloc(d->n, sizeof(unsigned *));
        d->n_deps = calloc(d->n, sizeof(size_t));
        if (!d->deps || !d->n_deps)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *v = m->items[i + 1];
                _cleanup_free_ char *path = strdup_printf("sheet.dependencies.%s", k->scalar);
                unsigned stage;

                if (!path)
                        return -ENOMEM;

                r = parse_stage_number(c, k, path, "dependency key", &stage);
                if (r < 0)
                        return r;
                if (node_is_null(v))
                        continue;
                if (v->type == NODE_SCALAR) {
                        /* "3: 2" is a common shorthand for "3: [2]" */
                        unsigned dep;

                        r = parse_stage_number(c, v, path, "dependency", &dep);
                        if (r < 0)
                                return r;
                        if (dep == stage)
                                return fail(c, v, path, -EINVAL, "stage %u depends on itself", stage);
                        d->deps[stage - 1] = malloc(sizeof(unsigned));
                        if (!d->deps[stage - 1])
                                return -ENOMEM;
                        d->deps[stage - 1][0] = dep;
                        d->n_deps[stage - 1] = 1;
                        continue;
                }
                r = expect_type(c, v, path, NODE_SEQUENCE);
                if (r < 0)
                        return r;

                d->deps[stage - 1] = calloc(MAX(v->n_items, (size_t) 1), sizeof(unsigned));
                if (!d->deps[stage - 1])
                        return -ENOMEM;
                for (size_t j = 0; j < v->n_items; j++) {
                        unsigned dep;

                        r = parse_stage_number(c, v->items[j], path, "dependency", &dep);
                        if (r < 0)
                                return r;
                        if (dep == stage)
                                return fail(c, v->items[j], path, -EINVAL, "stage %u depends on itself", stage);
                        d->deps[stage - 1][d->n_deps[stage - 1]++] = dep;
                }
        }

        r = score_find_stage_cycle(d->n, d->deps, d->n_deps, &cycle);
        if (r < 0)
                return r;
        if (r > 0)
                return fail(c, key_node, "sheet.dependencies", -EINVAL, "dependency cycle %s", cycle);
        return 0;
}

static int parse_sheet(Ctx *c, const Node *m, const Node *movements) {
        Score *s = c->score;
        const Node *size = NULL, *total = NULL, *start = NULL, *deps = NULL, *deps_key = NULL, *fan = NULL,
                *per_sheet = NULL, *map = NULL, *configs = NULL, *fallbacks = NULL;
        const KeySlot slots[] = {
                { "per_sheet_instruments", &per_sheet, NULL },
                { "instrument_map", &map, NULL },
                { "per_sheet_instrument_config", &configs, NULL },
                { "per_sheet_fallbacks", &fallbacks, NULL },
                { "size", &size, NULL },
                { "total_items", &total, NULL },
                { "start_item", &start, NULL },
                { "dependencies", &deps, &deps_key },
                { "fan_out", &fan, NULL },
                {}
        };
        _cleanup_(stage_deps_done) StageDeps d = {};
        unsigned max_sheets = c->limits->max_sheets;
        uint64_t n_sheets = 0;
        int r;

        r = expect_type(c, m, "sheet", NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, "sheet", slots, sheet_unsupported, false);
        if (r < 0)
                return r;

        if (!size)
                return fail(c, m, "sheet.size", -EINVAL, "required key is missing");
        if (!total)
                return fail(c, m, "sheet.total_items", -EINVAL, "required key is missing");
        r = get_uint(c, size, "sheet.size", 1, &s->sheet_size);
        if (r < 0)
                return r;
        r = get_uint(c, total, "sheet.total_items", 1, &s->total_items);
        if (r < 0)
                return r;
        if (start) {
                r = get_uint(c, start, "sheet.start_item", 1, &s->start_item);
                if (r < 0)
                        return r;
                if (s->start_item > s->total_items)
                        return fail(c, start, "sheet.start_item", -EINVAL,
                                    "start_item %u is beyond total_items %u", s->start_item, s->total_items);
        }

        s->total_stages = score_stage_count(s->sheet_size, s->total_items, s->start_item);
        if (s->total_stages > max_sheets)
                return fail(c, total, "sheet.total_items", -E2BIG,
                            "%u items in sheets of %u make %u sheets, more than the limit of %u",
                            s->total_items, s->sheet_size, s->total_stages, max_sheets);

        s->fan_out = calloc(s->total_stages, sizeof(unsigned));
        if (!s->fan_out)
                return -ENOMEM;
        for (unsigned i = 0; i < s->total_stages; i++)
                s->fan_out[i] = 1;

        if (fan) {
                r = expect_type(c, fan, "sheet.fan_out", NODE_MAPPING);
                if (r < 0)
                        return r;
                for (size_t i = 0; i + 1 < fan->n_items; i += 2) {
                        const Node *k = fan->items[i], *v = fan->items[i + 1];
                        _cleanup_free_ char *path = strdup_printf("sheet.fan_out.%s", k->scalar);
                        unsigned stage, count;

                        if (!path)
                                return -ENOMEM;
                        r = parse_stage_number(c, k, path, "fan_out key", &stage);
                        if (r < 0)
                                return r;
                        r = get_uint(c, v, path, 1, &count);
                        if (r < 0)
                                return r;
                        if (count > max_sheets)
                                return fail(c, v, path, -E2BIG, "fan-out of %u is more than the limit of %u sheets",
                                            count, max_sheets);
                        s->fan_out[stage - 1] = count;
                }
        }

        /* movements.N.voices is another way to say sheet.fan_out.N */
        if (movements) {
                r = parse_movements(c, movements);
                if (r < 0)
                        return r;
        }

        if (deps) {
                r = parse_dependencies(c, deps, deps_key, &d);
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < s->total_stages; i++)
                n_sheets += s->fan_out[i];
        if (n_sheets > max_sheets)
                return fail(c, fan ?: m, fan ? "sheet.fan_out" : "sheet", -E2BIG,
                            "the score expands to %" PRIu64 " sheets, more than the limit of %u",
                            n_sheets, max_sheets);

        r = score_expand_sheets(s, d.deps, d.n_deps, max_sheets);
        if (r == -E2BIG)
                return fail(c, deps_key ?: fan ?: m, deps_key ? "sheet.dependencies" : fan ? "sheet.fan_out" : "sheet", r,
                            "fan-outs make more than %" PRIu64 " sheet dependencies; "
                            "avoid all-to-all dependencies between wide fan-outs",
                            (uint64_t) max_sheets * SCORE_DEPS_PER_SHEET_MAX);
        if (r < 0)
                return r;

        return parse_sheet_instruments(c, per_sheet, map, configs, fallbacks);
}

static int parse_prompt(Ctx *c, const Node *m) {
        Score *s = c->score;
        const Node *tmpl = NULL, *tmpl_file = NULL, *vars = NULL, *tmpl_key = NULL, *file_key = NULL;
        const KeySlot slots[] = {
                { "template", &tmpl, &tmpl_key },
                { "template_file", &tmpl_file, &file_key },
                { "variables", &vars, NULL },
                {}
        };
        int r;

        r = expect_type(c, m, "prompt", NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, "prompt", slots, prompt_unsupported, false);
        if (r < 0)
                return r;

        if (tmpl_key && file_key)
                return fail(c, file_key, "prompt.template_file", -EINVAL,
                            "give either template or template_file, not both");

        if (tmpl) {
                r = expect_type(c, tmpl, "prompt.template", NODE_SCALAR);
                if (r < 0)
                        return r;
                r = get_string(c, tmpl, "prompt.template", true, &s->prompt_template);
                if (r < 0)
                        return r;
        } else if (tmpl_file) {
                _cleanup_free_ char *rel = NULL, *path = NULL;
                size_t size;

                r = get_string(c, tmpl_file, "prompt.template_file", false, &rel);
                if (r < 0)
                        return r;
                r = path_make_absolute_normalized(s->base_dir, rel, &path);
                if (r < 0)
                        return r;
                r = c->limits->read_file ?
                        c->limits->read_file(path, c->limits->max_score_bytes, &s->prompt_template, &size,
                                             c->limits->read_file_userdata) :
                        read_full_file(path, c->limits->max_score_bytes, &s->prompt_template, &size);
                if (r == -EFBIG)
                        return fail(c, tmpl_file, "prompt.template_file", r,
                                    "template file '%s' is larger than the limit of %zu bytes",
                                    path, c->limits->max_score_bytes);
                if (r < 0)
                        return fail(c, tmpl_file, "prompt.template_file", r,
                                    "cannot read template file '%s': %s", path, strerror(-r));
                if (strlen(s->prompt_template) != size)
                        return fail(c, tmpl_file, "prompt.template_file", -EINVAL,
                                    "template file '%s' contains a NUL byte", path);
                s->prompt_template_name = TAKE_PTR(path);
        }

        /* A template that cannot parse fails every sheet: say so now, with
         * the line, rather than at the first dispatch. */
        if (s->prompt_template) {
                _cleanup_free_ char *error = NULL;

                r = template_check(s->prompt_template_name ?: "prompt.template", s->prompt_template, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail_code(c, SCORE_E_TEMPLATE, tmpl ?: tmpl_file,
                                         tmpl ? "prompt.template" : "prompt.template_file", -EINVAL,
                                         "%s", error ?: strerror(-r));
        }

        if (vars) {
                Value *v;

                r = expect_type(c, vars, "prompt.variables", NODE_MAPPING);
                if (r < 0)
                        return r;
                r = node_to_value(c, vars, "prompt.variables", &v);
                if (r < 0)
                        return r;
                value_free(s->variables);
                s->variables = v;
        }
        return 0;
}

static int parse_validation(Ctx *c, const Node *m, size_t idx, ScoreValidation *v) {
        const Node *type = NULL, *path = NULL, *pattern = NULL, *command = NULL, *description = NULL,
                *condition = NULL, *stage = NULL, *sheet = NULL, *timeout = NULL,
                *retry_count = NULL, *retry_delay = NULL;
        const KeySlot slots[] = {
                { "type", &type, NULL },
                { "retry_count", &retry_count, NULL },
                { "retry_delay_ms", &retry_delay, NULL },
                { "path", &path, NULL },
                { "pattern", &pattern, NULL },
                { "command", &command, NULL },
                { "description", &description, NULL },
                { "condition", &condition, NULL },
                { "stage", &stage, NULL },
                { "sheet", &sheet, NULL },
                { "timeout_seconds", &timeout, NULL },
                {}
        };
        _cleanup_free_ char *prefix = strdup_printf("validations[%zu]", idx), *t = NULL, *key = NULL;
        int r;

        if (!prefix)
                return -ENOMEM;

        r = expect_type(c, m, prefix, NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, prefix, slots, validation_unsupported, false);
        if (r < 0)
                return r;

#define KEY(k) ({ free(key); key = strdup_printf("%s.%s", prefix, k); if (!key) return -ENOMEM; key; })

        if (!type)
                return fail(c, m, KEY("type"), -EINVAL, "required key is missing");
        r = get_string(c, type, KEY("type"), false, &t);
        if (r < 0)
                return r;
        v->type = validation_type_from_string(t);
        if (v->type < 0)
                return fail(c, type, key, -EINVAL,
                            "unknown validation type '%s'; expected file_exists, file_modified, "
                            "content_contains, content_regex or command_succeeds", t);

        if (path && (r = get_string(c, path, KEY("path"), false, &v->path)) < 0)
                return r;
        if (pattern && (r = get_string(c, pattern, KEY("pattern"), true, &v->pattern)) < 0)
                return r;
        if (command && (r = get_string(c, command, KEY("command"), false, &v->command)) < 0)
                return r;
        if (description && (r = get_string(c, description, KEY("description"), true, &v->description)) < 0)
                return r;
        if (condition && (r = get_string(c, condition, KEY("condition"), true, &v->condition)) < 0)
                return r;
        if (stage && (r = get_uint(c, stage, KEY("stage"), 1, &v->stage)) < 0)
                return r;
        if (sheet) {
                r = get_uint(c, sheet, KEY("sheet"), 1, &v->sheet);
                if (r < 0)
                        return r;
                if (v->sheet > c->score->n_sheets)
                        return fail(c, sheet, key, -EINVAL, "sheet %u does not exist: the score has %zu sheets",
                                    v->sheet, c->score->n_sheets);
        }
        if (timeout && (r = get_uint(c, timeout, KEY("timeout_seconds"), 1, &v->timeout_seconds)) < 0)
                return r;
        if (retry_count && (r = get_uint(c, retry_count, KEY("retry_count"), 0, &v->retry_count)) < 0)
                return r;
        if (v->retry_count > VALIDATION_RETRY_COUNT_MAX)
                return fail(c, retry_count, key, -EINVAL, "must be at most %u, got %u",
                            VALIDATION_RETRY_COUNT_MAX, v->retry_count);
        if (retry_delay && (r = get_uint(c, retry_delay, KEY("retry_delay_ms"), 0, &v->retry_delay_ms)) < 0)
                return r;
        if (v->retry_delay_ms > VALIDATION_RETRY_DELAY_MS_MAX)
                return fail(c, retry_delay, key, -EINVAL, "must be at most %u ms, got %u",
                            VALIDATION_RETRY_DELAY_MS_MAX, v->retry_delay_ms);

        switch (v->type) {
        case VALIDATION_CONTENT_CONTAINS:
        case VALIDATION_CONTENT_REGEX:
                if (!v->pattern)
                        return fail(c, m, KEY("pattern"), -EINVAL, "required for type %s", t);
                _fallthrough;
        case VALIDATION_FILE_EXISTS:
        case VALIDATION_FILE_MODIFIED:
                if (!v->path)
                        return fail(c, m, KEY("path"), -EINVAL, "required for type %s", t);
                break;
        case VALIDATION_COMMAND_SUCCEEDS:
                if (!v->command)
                        return fail(c, m, KEY("command"), -EINVAL, "required for type %s", t);
                break;
        default:
                break;
        }
#undef KEY
        return 0;
}

static int parse_validations(Ctx *c, const Node *l) {
        Score *s = c->score;
        int r;

        r = expect_type(c, l, "validations", NODE_SEQUENCE);
        if (r < 0)
                return r;
        if (l->n_items == 0)
                return 0;

        s->validations = calloc(l->n_items, sizeof(ScoreValidation));
        if (!s->validations)
                return -ENOMEM;

        for (size_t i = 0; i < l->n_items; i++) {
                ScoreValidation *v = s->validations + i;

                *v = (ScoreValidation) {
                        .stage = 1,
                        .timeout_seconds = 30,
                        .retry_count = 3,
                        .retry_delay_ms = 200,
                };
                s->n_validations++;
                r = parse_validation(c, l->items[i], i, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_retry(Ctx *c, const Node *m) {
        ScoreRetry *retry = &c->score->retry;
        ScoreCompletion *completion = &c->score->completion;
        ScoreRateLimit *rate = &c->score->rate_limit;
        const Node *max = NULL, *base = NULL, *expo = NULL, *maxd = NULL, *jitter = NULL,
                *cmax = NULL, *cthreshold = NULL, *cdelay = NULL, *rwait = NULL, *rmax = NULL;
        const KeySlot slots[] = {
                { "max_completion_attempts", &cmax, NULL },
                { "completion_threshold_percent", &cthreshold, NULL },
                { "completion_delay_seconds", &cdelay, NULL },
                { "rate_limit_wait_seconds", &rwait, NULL },
                { "max_rate_limit_waits", &rmax, NULL },
                { "max_retries", &max, NULL },
                { "base_delay_seconds", &base, NULL },
                { "exponential_base", &expo, NULL },
                { "max_delay_seconds", &maxd, NULL },
                { "jitter", &jitter, NULL },
                {}
        };
        int r;

        r = expect_type(c, m, "retry", NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, "retry", slots, retry_unsupported, false);
        if (r < 0)
                return r;

        if (max && (r = get_uint(c, max, "retry.max_retries", 0, &retry->max_retries)) < 0)
                return r;
        if (base && (r = get_number(c, base, "retry.base_delay_seconds", 0, false, &retry->base_delay_seconds)) < 0)
                return r;
        if (expo && (r = get_number(c, expo, "retry.exponential_base", 1, false, &retry->exponential_base)) < 0)
                return r;
        if (maxd && (r = get_number(c, maxd, "retry.max_delay_seconds", 0, false, &retry->max_delay_seconds)) < 0)
                return r;
        if (jitter && (r = get_bool(c, jitter, "retry.jitter", &retry->jitter)) < 0)
                return r;
        if (cmax && (r = get_uint(c, cmax, "retry.max_completion_attempts", 0, &completion->max_attempts)) < 0)
                return r;
        if (cthreshold) {
                r = get_number(c, cthreshold, "retry.completion_threshold_percent", 0, false,
                               &completion->threshold_percent);
                if (r < 0)
                        return r;
                if (completion->threshold_percent > 100)
                        return fail(c, cthreshold, "retry.completion_threshold_percent", -EINVAL,
                                    "must be at most 100, got %s", cthreshold->scalar);
        }
        if (cdelay && (r = get_number(c, cdelay, "retry.completion_delay_seconds", 0, false,
                                      &completion->delay_seconds)) < 0)
                return r;
        if (rwait && (r = get_number(c, rwait, "retry.rate_limit_wait_seconds", 0, false, &rate->wait_seconds)) < 0)
                return r;
        if (rmax && (r = get_uint(c, rmax, "retry.max_rate_limit_waits", 0, &rate->max_waits)) < 0)
                return r;
        return 0;
}

static int parse_parallel(Ctx *c, const Node *m) {
        const Node *max = NULL, *enabled = NULL;
        const KeySlot slots[] = {
                { "max_concurrent", &max, NULL },
                { "enabled", &enabled, NULL },
                {}
        };
        bool b;
        int r;

        r = expect_type(c, m, "parallel", NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, "parallel", slots, parallel_unsupported, false);
        if (r < 0)
                return r;

        if (max && (r = get_uint(c, max, "parallel.max_concurrent", 1, &c->score->max_concurrent)) < 0)
                return r;
        /* Accepted for compatibility: max_concurrent alone decides. */
        if (enabled && (r = get_bool(c, enabled, "parallel.enabled", &b)) < 0)
                return r;
        return 0;
}

/* The resources: block.  The accepted forms follow systemd's MemoryMax=,
 * CPUQuota=, TasksMax= and IOWeight=, narrowed to what both runners can
 * apply (the local runner writes memory.max, cpu.max, pids.max and
 * io.weight itself). */

#define RESOURCES_MEMORY_MIN (UINT64_C(1) << 20)        /* less kills any shell at once */
#define RESOURCES_CPU_PERCENT_MAX 100000U               /* 1000 CPUs */
#define RESOURCES_TASKS_MAX 4194304U                    /* the kernel's PID_MAX_LIMIT; pids.max refuses more */
#define RESOURCES_IO_WEIGHT_MIN 1U
#define RESOURCES_IO_WEIGHT_MAX 10000U

/* "536870912", "512M", "1.5G": bytes, with an optional base-1024 suffix K,
 * M, G or T.  A fraction needs a suffix and is rounded down to whole bytes.
 * -EINVAL when malformed, -ERANGE when over UINT64_MAX - 1 (which systemd
 * reads as "infinity"). */
static int parse_size_iec(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                unsigned shift;
        } table[] = {
                { 'K', 10 },
                { 'M', 20 },
                { 'G', 30 },
                { 'T', 40 },
        };
        const char *p = s, *frac = NULL;
        size_t n_frac = 0;
        uint64_t v = 0, num = 0, den = 1, q = 0;
        unsigned shift = 0;

        if (!(*p >= '0' && *p <= '9'))
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (*p == '.') {
                frac = ++p;
                while (*p >= '0' && *p <= '9')
                        p++;
                n_frac = (size_t) (p - frac);
                if (n_frac == 0)
                        return -EINVAL;
        }
        if (*p) {
                bool found = false;

                for (size_t i = 0; i < ELEMENTSOF(table); i++)
                        if (*p == table[i].suffix) {
                                shift = table[i].shift;
                                found = true;
                                break;
                        }
                if (!found || p[1])
                        return -EINVAL;
        }
        if (frac && shift == 0)
                return -EINVAL;

        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        v <<= shift;

        if (frac) {
                /* Trailing zeros change nothing; more than 18 digits do
                 * not fit the exact arithmetic below. */
                while (n_frac > 0 && frac[n_frac - 1] == '0')
                        n_frac--;
                if (n_frac > 18)
                        return -EINVAL;
                for (size_t i = 0; i < n_frac; i++) {
                        num = num * 10 + (uint64_t) (frac[i] - '0');
                        den *= 10;
                }
                /* floor(num / den × 2^shift) by binary long division;
                 * the remainder stays below den ≤ 10^18, so doubling it
                 * cannot overflow. */
                for (unsigned i = 0; i < shift; i++) {
                        num <<= 1;
                        q <<= 1;
                        if (num >= den) {
                                num -= den;
                                q |= 1;
                        }
                }
                if (q > UINT64_MAX - v)
                        return -ERANGE;
                v += q;
        }

        if (v == UINT64_MAX)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* "50%", "12.5%", "200%": percent of one CPU with at most two decimals, as
 * systemd's CPUQuota= → hundredths of a percent.  -EINVAL when malformed,
 * -ERANGE when absurdly large. */
static int parse_percent_hundredths(const char *s, uint64_t *ret) {
        const char *p = s;
        uint64_t v = 0;
        unsigned n_frac = 0;

        if (!(*p >= '0' && *p <= '9'))
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_MAX / 100 - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        v *= 100;
        if (*p == '.') {
                p++;
                if (!(*p >= '0' && *p <= '9'))
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        if (++n_frac > 2)
                                return -EINVAL;
                        v += (uint64_t) (*p - '0') * (n_frac == 1 ? 10 : 1);
                }
        }
        if (!streq(p, "%"))
                return -EINVAL;
        *ret = v;
        return 0;
}

int get_uint64_range(Ctx *c, const Node *n, const char *key, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        r = expect_type(c, n, key, NODE_SCALAR);
        if (r < 0)
                return r;
        r = parse_uint64(n->scalar, &v);
        if (r == -ERANGE || (r >= 0 && (v < min || v > max)))
                return fail(c, n, key, -EINVAL, "must be an integer from %" PRIu64 " to %" PRIu64 ", got %s",
                            min, max, n->scalar);
        if (r < 0)
                return fail(c, n, key, -EINVAL, "expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'",
                            min, max, n->scalar);
        *ret = v;
        return 0;
}

static int parse_resources(Ctx *c, const Node *m) {
        ScoreResources *res = &c->score->resources;
        const Node *memory = NULL, *cpu = NULL, *tasks = NULL, *io = NULL;
        const KeySlot slots[] = {
                { "memory_max", &memory, NULL },
                { "cpu_quota", &cpu, NULL },
                { "tasks_max", &tasks, NULL },
                { "io_weight", &io, NULL },
                {}
        };
        int r;

        r = expect_type(c, m, "resources", NODE_MAPPING);
        if (r < 0)
                return r;
        r = collect_keys(c, m, "resources", slots, NULL, false);
        if (r < 0)
                return r;

        if (memory) {
                uint64_t v;

                r = expect_type(c, memory, "resources.memory_max", NODE_SCALAR);
                if (r < 0)
                        return r;
                r = parse_size_iec(memory->scalar, &v);
                if (r == -ERANGE)
                        return fail(c, memory, "resources.memory_max", -EINVAL,
                                    "'%s' is too large: at most 18446744073709551614 bytes", memory->scalar);
                if (r < 0)
                        return fail(c, memory, "resources.memory_max", -EINVAL,
                                    "expected bytes, optionally with a suffix K, M, G or T (base 1024), "
                                    "such as 536870912, 512M or 1.5G, got '%s'", memory->scalar);
                if (v < RESOURCES_MEMORY_MIN)
                        return fail(c, memory, "resources.memory_max", -EINVAL,
                                    "must be at least 1M (1048576 bytes), got %s: "
                                    "a smaller limit kills any shell at once", memory->scalar);
                res->memory_max = v;
        }

        if (cpu) {
                uint64_t v;

                r = expect_type(c, cpu, "resources.cpu_quota", NODE_SCALAR);
                if (r < 0)
                        return r;
                r = parse_percent_hundredths(cpu->scalar, &v);
                if (r == -EINVAL)
                        return fail(c, cpu, "resources.cpu_quota", -EINVAL,
                                    "expected a percentage of one CPU with at most two decimals, "
                                    "such as 50%%, 12.5%% or 200%% (two CPUs), got '%s'", cpu->scalar);
                if (r == -ERANGE || v > (uint64_t) RESOURCES_CPU_PERCENT_MAX * 100)
                        return fail(c, cpu, "resources.cpu_quota", -EINVAL,
                                    "must be at most %u%%, got %s", RESOURCES_CPU_PERCENT_MAX, cpu->scalar);
                if (v == 0)
                        return fail(c, cpu, "resources.cpu_quota", -EINVAL,
                                    "must be more than 0%%, got %s", cpu->scalar);
                /* 100% = 1 s of CPU time per second = 10000 hundredths. */
                res->cpu_quota_per_sec_usec = v * 100;
        }

        if (tasks && (r = get_uint64_range(c, tasks, "resources.tasks_max", 1, RESOURCES_TASKS_MAX,
                                           &res->tasks_max)) < 0)
                return r;
        if (io && (r = get_uint64_range(c, io, "resources.io_weight", RESOURCES_IO_WEIGHT_MIN,
                                        RESOURCES_IO_WEIGHT_MAX, &res->io_weight)) < 0)
                return r;
        return 0;
}

static int score_from_tree(Ctx *c, const Node *root) {
        Score *s = c->score;
        const Node *name = NULL, *description = NULL, *workspace = NULL, *instrument = NULL,
                *instrument_config = NULL, *sheet = NULL, *prompt = NULL, *validations = NULL,
                *retry = NULL, *parallel = NULL, *pause = NULL, *resources = NULL,
                *fallbacks = NULL, *instruments = NULL, *movements = NULL, *cross_sheet = NULL,
                *on_success = NULL, *concert = NULL, *rate_limit = NULL, *runner = NULL;
        const KeySlot slots[] = {
                { "instrument_fallbacks", &fallbacks, NULL },
                { "instruments", &instruments, NULL },
                { "movements", &movements, NULL },
                { "cross_sheet", &cross_sheet, NULL },
                { "on_success", &on_success, NULL },
                { "concert", &concert, NULL },
                { "rate_limit", &rate_limit, NULL },
                { "name", &name, NULL },
                { "description", &description, NULL },
                { "workspace", &workspace, NULL },
                { "instrument", &instrument, NULL },
                { "instrument_config", &instrument_config, NULL },
                { "sheet", &sheet, NULL },
                { "prompt", &prompt, NULL },
                { "validations", &validations, NULL },
                { "retry", &retry, NULL },
                { "parallel", &parallel, NULL },
                { "pause_between_sheets_seconds", &pause, NULL },
                { "resources", &resources, NULL },
                { "runner", &runner, NULL },
                {}
        };
        int r;

        r = collect_keys(c, root, NULL, slots, top_unsupported, false);
        if (r < 0)
                return r;

        if (!name)
                return fail(c, root, "name", -EINVAL, "required key is missing");
        r = get_string(c, name, "name", false, &s->name);
        if (r < 0)
                return r;

        if (description && (r = get_string(c, description, "description", true, &s->description)) < 0)
                return r;

        if (instrument) {
                r = get_string(c, instrument, "instrument", false, &s->instrument);
                if (r < 0)
                        return r;
                s->instrument_given = true;
        }

        if (instrument_config) {
                r = parse_instrument_config_block(c, instrument_config, "instrument_config", &s->instrument_config);
                if (r < 0)
                        return r;
                if (s->instrument_config.timeout_seconds > 0)
                        s->timeout_seconds = s->instrument_config.timeout_seconds;
        }
        if (fallbacks && (r = get_string_list(c, fallbacks, "instrument_fallbacks", &s->instrument_fallbacks)) < 0)
                return r;
        if (instruments && (r = parse_instruments(c, instruments)) < 0)
                return r;

        if (workspace) {
                _cleanup_free_ char *w = NULL;

                r = get_string(c, workspace, "workspace", false, &w);
                if (r < 0)
                        return r;
                r = path_make_absolute_normalized(s->base_dir, w, &s->workspace);
                if (r < 0)
                        return r;
        } else {
                _cleanup_free_ char *w = NULL;

                /* The name becomes a path component here. */
                if (strchr(s->name, '/') || streq(s->name, ".") || streq(s->name, ".."))
                        return fail(c, name, "name", -EINVAL,
                                    "'%s' cannot name the default workspace directory; set 'workspace' explicitly",
                                    s->name);
                w = strdup_printf("workspaces/%s", s->name);
                if (!w)
                        return -ENOMEM;
                r = path_make_absolute_normalized(s->base_dir, w, &s->workspace);
                if (r < 0)
                        return r;
        }

        if (!sheet)
                return fail(c, root, "sheet", -EINVAL, "required key is missing");
        r = parse_sheet(c, sheet, movements);
        if (r < 0)
                return r;

        if (prompt && (r = parse_prompt(c, prompt)) < 0)
                return r;
        if (validations && (r = parse_validations(c, validations)) < 0)
                return r;
        if (retry && (r = parse_retry(c, retry)) < 0)
                return r;
        if (parallel && (r = parse_parallel(c, parallel)) < 0)
                return r;
        if (pause && (r = get_number(c, pause, "pause_between_sheets_seconds", 0, false,
                                     &s->pause_between_sheets_seconds)) < 0)
                return r;
        if (resources && (r = parse_resources(c, resources)) < 0)
                return r;
        if (runner && (r = parse_runner(c, runner)) < 0)
                return r;
        if (cross_sheet && (r = parse_cross_sheet(c, cross_sheet)) < 0)
                return r;
        if (on_success && (r = parse_hooks(c, on_success, "on_success")) < 0)
                return r;
        if (concert && (r = parse_concert(c, concert)) < 0)
                return r;
        if (rate_limit && (r = parse_rate_limit(c, rate_limit)) < 0)
                return r;

        return 0;
}

/* ────────────────────────────── entry points ───────────────────────────── */

static int set_error(ScoreDiagnostic *ret_error, ScoreCode code, const char *source,
                     unsigned line, unsigned column, char *msg) {
        if (!ret_error) {
                free(msg);
                return 0;
        }
        *ret_error = (ScoreDiagnostic) {
                .code = code,
                .file = strdup(source),
                .line = line,
                .column = column,
                .message = msg,
        };
        return 0;
}

static int base_dir_absolute(const char *base_dir, char **ret) {
        _cleanup_free_ char *cwd = NULL;

        if (base_dir && base_dir[0] == '/')
                return path_make_absolute_normalized("/", base_dir, ret);

        cwd = getcwd(NULL, 0);
        if (!cwd)
                return negative_errno();
        return path_make_absolute_normalized(cwd, base_dir ?: ".", ret);
}

int score_parse_string_full(const char *yaml, size_t size, const char *source, const char *base_dir,
                            const ScoreLimits *limits, Score **ret, ScoreDiagnostic *ret_error) {
        _cleanup_score_free_ Score *s = NULL;
        YamlReader y = {};
        Ctx c = {};
        int r;

        if (!yaml || !ret)
                return -EINVAL;
        if (ret_error)
                *ret_error = (ScoreDiagnostic) {};
        if (!limits)
                limits = &score_limits_default;
        if (!source)
                source = "<inline>";

        if (size > limits->max_score_bytes) {
                set_error(ret_error, SCORE_E_LIMIT, source, 0, 0,
                          strdup_printf("score is %zu bytes, larger than the limit of %zu bytes",
                                        size, limits->max_score_bytes));
                return -EFBIG;
        }

        s = calloc(1, sizeof(Score));
        if (!s)
                return -ENOMEM;
        *s = (Score) {
                .timeout_seconds = 1800,
                .start_item = 1,
                .instrument_config = SCORE_INSTRUMENT_CONFIG_INIT,
                .retry = {
                        .max_retries = 3,
                        .base_delay_seconds = 10,
                        .exponential_base = 2,
                        .max_delay_seconds = 3600,
                        .jitter = true,
                },
                .completion = {
                        .max_attempts = 3,
                        .threshold_percent = 50,
                        .delay_seconds = 5,
                },
                .rate_limit = {
                        .wait_seconds = 3600,
                        .max_waits = 24,
                },
                .concert = {
                        .max_chain_depth = 5,
                },
                .cross_sheet = {
                        .max_output_chars = 2000,
                },
                .max_concurrent = 1,
                .pause_between_sheets_seconds = 2,
                .max_template_output = limits->max_template_output,
        };
        s->source = strdup(source);
        s->instrument = strdup("cli");
        s->variables = value_new_map();
        if (!s->source || !s->instrument || !s->variables)
                return -ENOMEM;
        r = base_dir_absolute(base_dir, &s->base_dir);
        if (r < 0) {
                set_error(ret_error, SCORE_E_FILE, source, 0, 0,
                          strdup_printf("cannot determine the score's base directory: %s", strerror(-r)));
                return r;
        }

        y = (YamlReader) {
                .source = source,
                .limits = limits,
                /* Real scores barely use aliases; a few thousand copied
                 * nodes per MiB is generous and stops "billion laughs". */
                .max_copied = MAX(limits->max_score_bytes / 16, (size_t) 1024),
        };
        r = yaml_read_tree(&y, yaml, size);
        if (r < 0) {
                set_error(ret_error, r == -E2BIG ? SCORE_E_LIMIT : SCORE_E_YAML, source,
                          y.error_line, y.error_column,
                          TAKE_PTR(y.error) ?: strdup_printf("cannot parse YAML: %s", strerror(-r)));
                yaml_reader_done(&y);
                return r;
        }

        if (!y.root || node_is_null(y.root)) {
                set_error(ret_error, SCORE_E_MISSING_KEY, source, 1, 1, strdup("score is empty"));
                yaml_reader_done(&y);
                return -EINVAL;
        }
        if (y.root->type != NODE_MAPPING) {
                set_error(ret_error, SCORE_E_WRONG_TYPE, source, y.root->line, y.root->column,
                          strdup_printf("the score must be a mapping of keys, got %s",
                                        node_type_to_string(y.root)));
                yaml_reader_done(&y);
                return -EINVAL;
        }

        c = (Ctx) {
                .score = s,
                .limits = limits,
        };
        r = score_from_tree(&c, y.root);
        yaml_reader_done(&y);
        if (r < 0) {
                if (ret_error) {
                        *ret_error = c.error;
                        c.error = (ScoreDiagnostic) {};
                        if (!ret_error->message)
                                set_error(ret_error, SCORE_E_BAD_VALUE, source, 0, 0,
                                          strdup_printf("cannot parse score: %s", strerror(-r)));
                }
                score_diagnostic_done(&c.error);
                return r;
        }
        score_diagnostic_done(&c.error);

        *ret = TAKE_PTR(s);
        return 0;
}

int score_parse_file_full(const char *path, const ScoreLimits *limits, Score **ret, ScoreDiagnostic *ret_error) {
        _cleanup_free_ char *text = NULL, *abs = NULL;
        size_t size;
        char *slash;
        int r;

        if (!path || !ret)
                return -EINVAL;
        if (ret_error)
                *ret_error = (ScoreDiagnostic) {};
        if (!limits)
                limits = &score_limits_default;

        r = read_full_file(path, limits->max_score_bytes, &text, &size);
        if (r == -EFBIG) {
                set_error(ret_error, SCORE_E_LIMIT, path, 0, 0,
                          strdup_printf("score is larger than the limit of %zu bytes", limits->max_score_bytes));
                return r;
        }
        if (r < 0) {
                set_error(ret_error, SCORE_E_FILE, path, 0, 0,
                          strdup_printf("cannot read score: %s", strerror(-r)));
                return r;
        }

        r = base_dir_absolute(path, &abs);
        if (r < 0) {
                set_error(ret_error, SCORE_E_FILE, path, 0, 0,
                          strdup_printf("cannot make the path absolute: %s", strerror(-r)));
                return r;
        }
        slash = strrchr(abs, '/');
        if (slash == abs)
                slash[1] = 0;
        else
                *slash = 0;

        return score_parse_string_full(text, size, path, abs, limits, ret, ret_error);
}

static int format_error(int r, ScoreDiagnostic *d, char **ret_error) {
        if (ret_error) {
                *ret_error = d->message ? score_diagnostic_format(d) : NULL;
                if (d->message && !*ret_error)
                        r = -ENOMEM;
        }
        score_diagnostic_done(d);
        return r;
}

int score_parse_string(const char *yaml, size_t size, const char *source, const char *base_dir,
                       const ScoreLimits *limits, Score **ret, char **ret_error) {
        ScoreDiagnostic d = {};
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = score_parse_string_full(yaml, size, source, base_dir, limits, ret, &d);
        return r < 0 ? format_error(r, &d, ret_error) : (score_diagnostic_done(&d), r);
}

int score_parse_file(const char *path, const ScoreLimits *limits, Score **ret, char **ret_error) {
        ScoreDiagnostic d = {};
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = score_parse_file_full(path, limits, ret, &d);
        return r < 0 ? format_error(r, &d, ret_error) : (score_diagnostic_done(&d), r);
}

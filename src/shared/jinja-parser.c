/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Jinja's parser (jinja2/parser.py), function for function: statements
 * ({% for %}, {% if %}, {% set %}, {% macro %}, {% call %}, {% filter %},
 * {% with %}, {% print %}) and the expression grammar with Jinja's
 * precedences and quirks (left-associative **, filters binding tighter
 * than unary minus, tests with a bare argument).  After parsing, a check
 * pass resolves filter and test names the way Jinja's compiler does: an
 * unknown one is a syntax error, except inside {% if %} and inline if
 * expressions, where Jinja defers the error until it is evaluated. */

#include "jinja-internal.h"

/* Statement and expression source quoted in messages stays this short. */
#define SNIPPET_MAX 80U

typedef struct OpenBlock {
        const char *tag;        /* "if", "for", ... */
        const char *end;        /* "endif", ... */
        unsigned line;
} OpenBlock;

typedef struct Parser {
        JTemplate *t;
        const JToken *tok;
        size_t n, pos;
        unsigned depth, max_depth;
        char *error;
        unsigned error_line;
        OpenBlock *open;
        size_t n_open;
        size_t tag_begin;       /* the begin token of the tag being parsed */
        bool in_tag;
} Parser;

static int parse_fail(Parser *p, unsigned line, const char *fmt, ...) _printf_(3, 4);
static int parse_fail(Parser *p, unsigned line, const char *fmt, ...) {
        va_list ap;

        if (p->error)
                return -EINVAL;
        va_start(ap, fmt);
        if (vasprintf(&p->error, fmt, ap) < 0)
                p->error = NULL;
        va_end(ap);
        p->error_line = line;
        return p->error ? -EINVAL : -ENOMEM;
}

/* ---- tokens --------------------------------------------------------------- */

static const JToken *cur(const Parser *p) {
        return p->tok + p->pos;
}

static const JToken *look(const Parser *p) {
        return p->tok + (p->pos + 1 < p->n ? p->pos + 1 : p->pos);
}

static const JToken *next(Parser *p) {
        const JToken *t = cur(p);

        if (t->type != JT_EOF)
                p->pos++;
        return t;
}

static bool is_name(const JToken *t, const char *name) {
        return t->type == JT_NAME && t->len == strlen(name) && memcmp(t->text, name, t->len) == 0;
}

static bool is_op(const JToken *t, JOpTok op) {
        return t->type == JT_OP && t->op == op;
}

static bool skip_name(Parser *p, const char *name) {
        if (!is_name(cur(p), name))
                return false;
        next(p);
        return true;
}

static bool skip_op(Parser *p, JOpTok op) {
        if (!is_op(cur(p), op))
                return false;
        next(p);
        return true;
}

/* Jinja's describe_token() */
static char *describe(const JToken *t) {
        switch (t->type) {
        case JT_NAME:
                return strndup(t->text, t->len);
        case JT_OP:
                return strdup(jinja_op_string(t->op));
        case JT_STRING:
                return strdup("string");
        case JT_INT:
                return strdup("integer");
        case JT_FLOAT:
                return strdup("float");
        case JT_DATA:
                return strdup("template data / text");
        case JT_VAR_BEGIN:
                return strdup("begin of print statement");
        case JT_VAR_END:
                return strdup("end of print statement");
        case JT_BLOCK_BEGIN:
                return strdup("begin of statement block");
        case JT_BLOCK_END:
                return strdup("end of statement block");
        case JT_EOF:
                return strdup("end of template");
        }
        return strdup("?");
}

static int fail_unexpected(Parser *p, const char *expected) {
        _cleanup_free_ char *got = describe(cur(p));

        if (!got)
                return -ENOMEM;
        if (cur(p)->type == JT_EOF && p->in_tag) {
                bool block = p->tok[p->tag_begin].type == JT_BLOCK_BEGIN;

                return parse_fail(p, p->tok[p->tag_begin].line, "unterminated '%s': add the closing '%s'",
                                  block ? "{%" : "{{", block ? "%}" : "}}");
        }
        if (cur(p)->type == JT_EOF && expected)
                return parse_fail(p, cur(p)->line, "unexpected end of template, expected '%s'", expected);
        if (cur(p)->type == JT_EOF && p->n_open > 0) {
                const OpenBlock *o = p->open + p->n_open - 1;

                return parse_fail(p, cur(p)->line,
                                  "unexpected end of template, expected '%s' (the '%s' opened on line %u)",
                                  o->end, o->tag, o->line);
        }
        if (cur(p)->type == JT_EOF)
                return parse_fail(p, cur(p)->line, "unexpected end of template");
        if (expected)
                return parse_fail(p, cur(p)->line, "expected '%s', got '%s'", expected, got);
        return parse_fail(p, cur(p)->line, "unexpected '%s'", got);
}

static int expect_op(Parser *p, JOpTok op) {
        if (!skip_op(p, op))
                return fail_unexpected(p, jinja_op_string(op));
        return 0;
}

static int expect_type(Parser *p, JTokType type, const char *what) {
        if (cur(p)->type != type)
                return fail_unexpected(p, what);
        next(p);
        return 0;
}

static int expect_name(Parser *p, const char *name) {
        if (!skip_name(p, name))
                return fail_unexpected(p, name);
        return 0;
}

static int take_name(Parser *p, char **ret) {
        if (cur(p)->type != JT_NAME)
                return fail_unexpected(p, "name");
        *ret = strndup(cur(p)->text, cur(p)->len);
        if (!*ret)
                return -ENOMEM;
        next(p);
        return 0;
}

static int enter(Parser *p) {
        if (++p->depth > p->max_depth)
                return parse_fail(p, cur(p)->line, "template nested more than %u levels deep", p->max_depth);
        return 0;
}

static void leave(Parser *p) {
        p->depth--;
}

/* ---- tree construction ------------------------------------------------------ */

static void expr_free(JExpr *e);
DEFINE_CLEANUP_FUNC(JExpr *, expr_free);
#define _cleanup_expr_ _cleanup_(expr_freep)

static void call_syntax_done(JCallSyntax *c) {
        for (size_t i = 0; i < c->n_pos; i++)
                expr_free(c->pos[i]);
        free(c->pos);
        for (size_t i = 0; i < c->n_kw; i++) {
                free(c->kw_names[i]);
                expr_free(c->kw[i]);
        }
        free(c->kw_names);
        free(c->kw);
        expr_free(c->dyn_args);
        expr_free(c->dyn_kwargs);
}

static void expr_free(JExpr *e) {
        if (!e)
                return;
        jv_unref(e->value);
        free(e->name);
        expr_free(e->a);
        expr_free(e->b);
        expr_free(e->c);
        for (size_t i = 0; i < e->n_items; i++)
                expr_free(e->items[i]);
        free(e->items);
        free(e->ops);
        call_syntax_done(&e->call);
        free(e);
}

static unsigned height_of(const JExpr *e) {
        return e ? e->height : 0;
}

/* Set e's height from its children; refuse trees too tall to walk. */
static int finish_expr(Parser *p, JExpr *e) {
        unsigned h = MAX(MAX(height_of(e->a), height_of(e->b)), height_of(e->c));

        for (size_t i = 0; i < e->n_items; i++)
                h = MAX(h, height_of(e->items[i]));
        for (size_t i = 0; i < e->call.n_pos; i++)
                h = MAX(h, height_of(e->call.pos[i]));
        for (size_t i = 0; i < e->call.n_kw; i++)
                h = MAX(h, height_of(e->call.kw[i]));
        h = MAX(h, MAX(height_of(e->call.dyn_args), height_of(e->call.dyn_kwargs)));
        e->height = h + 1;
        if (e->height > JINJA_EXPR_HEIGHT_MAX)
                return parse_fail(p, e->line, "expression too complex (more than %u operations deep)",
                                  JINJA_EXPR_HEIGHT_MAX);
        return 0;
}

static JExpr *expr_new(JExprKind kind, unsigned line) {
        JExpr *e = calloc(1, sizeof(JExpr));

        if (e) {
                e->kind = kind;
                e->line = line;
                e->height = 1;
        }
        return e;
}

/* A node with up to three operands, taking them (also on failure). */
static int make_expr(Parser *p, JExprKind kind, unsigned line, JExpr *a, JExpr *b, JExpr *c, JExpr **ret) {
        JExpr *e = expr_new(kind, line);
        int r;

        if (!e) {
                expr_free(a);
                expr_free(b);
                expr_free(c);
                return -ENOMEM;
        }
        e->a = a;
        e->b = b;
        e->c = c;
        r = finish_expr(p, e);
        if (r < 0) {
                expr_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

static int push_item(JExpr *e, JExpr *item) {
        JExpr **t = reallocarray(e->items, e->n_items + 1, sizeof(JExpr *));

        if (!t) {
                expr_free(item);
                return -ENOMEM;
        }
        e->items = t;
        e->items[e->n_items++] = item;
        return 0;
}

static int const_expr(JValue *v, unsigned line, JExpr **ret) {
        JExpr *e;

        if (!v)
                return -ENOMEM;
        e = expr_new(JE_CONST, line);
        if (!e) {
                jv_unref(v);
                return -ENOMEM;
        }
        e->value = v;
        *ret = e;
        return 0;
}

static void node_free(JNode *n);

static void body_done(JBody *b) {
        for (size_t i = 0; i < b->n; i++)
                node_free(b->nodes[i]);
        free(b->nodes);
        *b = (JBody) {};
}

static void node_free(JNode *n) {
        if (!n)
                return;
        expr_free(n->expr);
        expr_free(n->target);
        expr_free(n->cond);
        body_done(&n->body);
        body_done(&n->orelse);
        free(n->name);
        for (size_t i = 0; i < n->n_params; i++)
                free(n->params[i]);
        free(n->params);
        for (size_t i = 0; i < n->n_defaults; i++)
                expr_free(n->defaults[i]);
        free(n->defaults);
        for (size_t i = 0; i < n->n_with; i++) {
                expr_free(n->with_targets[i]);
                expr_free(n->with_values[i]);
        }
        free(n->with_targets);
        free(n->with_values);
        free(n->frame.names);
        free(n->else_frame.names);
        free(n);
}
DEFINE_CLEANUP_FUNC(JNode *, node_free);
#define _cleanup_node_ _cleanup_(node_freep)

static int body_push(JBody *b, JNode *n) {
        JNode **t = reallocarray(b->nodes, b->n + 1, sizeof(JNode *));

        if (!t) {
                node_free(n);
                return -ENOMEM;
        }
        b->nodes = t;
        b->nodes[b->n++] = n;
        return 0;
}

/* A statement node for the tag whose "{%" is token begin. */
static JNode *node_new(Parser *p, JNodeKind kind, size_t begin, unsigned line) {
        JNode *n = calloc(1, sizeof(JNode));
        size_t end = begin;

        if (!n)
                return NULL;
        n->kind = kind;
        n->line = line;
        /* the tag runs to the first end token after its begin */
        while (end < p->n && p->tok[end].type != JT_BLOCK_END && p->tok[end].type != JT_VAR_END &&
               p->tok[end].type != JT_EOF)
                end++;
        n->tag = p->t->source + p->tok[begin].offset;
        n->tag_len = (end < p->n ? p->tok[end].offset : p->t->len) - p->tok[begin].offset;
        return n;
}

/* ---- expressions --------------------------------------------------------------- */

static int parse_expression(Parser *p, bool with_condexpr, JExpr **ret);
static int parse_unary(Parser *p, bool with_filter, JExpr **ret);
static int parse_primary(Parser *p, JExpr **ret);
static int parse_postfix(Parser *p, JExpr **node);
static int parse_filter(Parser *p, JExpr **node, bool start_inline);

typedef enum TupleMode {
        TUPLE_FULL,             /* expressions with inline if */
        TUPLE_NO_CONDEXPR,
        TUPLE_SIMPLIFIED,       /* names and literals: assignment targets */
} TupleMode;

/* Jinja's is_tuple_end(): the tag's end, ")" or the extra end name. */
static bool is_tuple_end(Parser *p, const char *extra_end) {
        const JToken *t = cur(p);

        return t->type == JT_VAR_END || t->type == JT_BLOCK_END || is_op(t, JO_RPAREN) ||
                (extra_end && is_name(t, extra_end));
}

static int parse_tuple(Parser *p, TupleMode mode, const char *extra_end, bool explicit_parens, JExpr **ret) {
        _cleanup_expr_ JExpr *t = NULL;
        unsigned line = cur(p)->line;
        bool is_tuple = false;
        int r;

        t = expr_new(JE_TUPLE, line);
        if (!t)
                return -ENOMEM;
        for (;;) {
                JExpr *item;

                if (t->n_items > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                if (is_tuple_end(p, extra_end))
                        break;
                if (mode == TUPLE_SIMPLIFIED)
                        r = parse_primary(p, &item);
                else
                        r = parse_expression(p, mode == TUPLE_FULL, &item);
                if (r < 0)
                        return r;
                r = push_item(t, item);
                if (r < 0)
                        return r;
                if (!is_op(cur(p), JO_COMMA))
                        break;
                is_tuple = true;
        }

        if (!is_tuple) {
                if (t->n_items > 0) {
                        *ret = TAKE_PTR(t->items[0]);
                        t->n_items = 0;
                        return 0;
                }
                if (!explicit_parens) {
                        _cleanup_free_ char *got = describe(cur(p));

                        if (cur(p)->type == JT_EOF)
                                return fail_unexpected(p, NULL);
                        return parse_fail(p, cur(p)->line, "expected an expression, got '%s'", strna(got));
                }
        }
        r = finish_expr(p, t);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_list(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *l = expr_new(JE_LIST, cur(p)->line);
        int r;

        if (!l)
                return -ENOMEM;
        next(p);        /* [ */
        while (!is_op(cur(p), JO_RBRACKET)) {
                JExpr *item;

                if (l->n_items > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                        if (is_op(cur(p), JO_RBRACKET))
                                break;
                }
                r = parse_expression(p, true, &item);
                if (r < 0)
                        return r;
                r = push_item(l, item);
                if (r < 0)
                        return r;
        }
        r = expect_op(p, JO_RBRACKET);
        if (r >= 0)
                r = finish_expr(p, l);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_dict(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *d = expr_new(JE_DICT, cur(p)->line);
        int r;

        if (!d)
                return -ENOMEM;
        next(p);        /* { */
        while (!is_op(cur(p), JO_RBRACE)) {
                JExpr *key, *value;

                if (d->n_items > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                        if (is_op(cur(p), JO_RBRACE))
                                break;
                }
                r = parse_expression(p, true, &key);
                if (r < 0)
                        return r;
                r = push_item(d, key);
                if (r < 0)
                        return r;
                r = expect_op(p, JO_COLON);
                if (r < 0)
                        return r;
                r = parse_expression(p, true, &value);
                if (r < 0)
                        return r;
                r = push_item(d, value);
                if (r < 0)
                        return r;
        }
        r = expect_op(p, JO_RBRACE);
        if (r >= 0)
                r = finish_expr(p, d);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

static int parse_primary(Parser *p, JExpr **ret) {
        const JToken *t = cur(p);
        int r;

        switch (t->type) {
        case JT_NAME: {
                JExpr *e;

                next(p);
                if (is_name(t, "true") || is_name(t, "True"))
                        return const_expr(jv_bool(true), t->line, ret);
                if (is_name(t, "false") || is_name(t, "False"))
                        return const_expr(jv_bool(false), t->line, ret);
                if (is_name(t, "none") || is_name(t, "None"))
                        return const_expr(jv_none(), t->line, ret);
                e = expr_new(JE_NAME, t->line);
                if (!e)
                        return -ENOMEM;
                e->name = strndup(t->text, t->len);
                if (!e->name) {
                        expr_free(e);
                        return -ENOMEM;
                }
                *ret = e;
                return 0;
        }
        case JT_STRING: {
                _cleanup_(jbuf_done) JBuf b = {};
                size_t len;
                char *s;

                /* adjacent literals are one string, as in Python */
                while (cur(p)->type == JT_STRING) {
                        r = jbuf_put(&b, cur(p)->text, cur(p)->len);
                        if (r < 0)
                                return r;
                        next(p);
                }
                s = jbuf_steal(&b, &len);
                return const_expr(jv_str_take(s, len), t->line, ret);
        }
        case JT_INT:
                next(p);
                return const_expr(jv_int(t->i), t->line, ret);
        case JT_FLOAT:
                next(p);
                return const_expr(jv_float(t->f), t->line, ret);
        case JT_OP:
                if (t->op == JO_LPAREN) {
                        next(p);
                        r = parse_tuple(p, TUPLE_FULL, NULL, true, ret);
                        if (r < 0)
                                return r;
                        r = expect_op(p, JO_RPAREN);
                        if (r < 0) {
                                expr_free(*ret);
                                *ret = NULL;
                        }
                        return r;
                }
                if (t->op == JO_LBRACKET)
                        return parse_list(p, ret);
                if (t->op == JO_LBRACE)
                        return parse_dict(p, ret);
                break;
        default:
                break;
        }
        return fail_unexpected(p, NULL);
}

static int parse_call_args(Parser *p, JCallSyntax *c) {
        unsigned line = cur(p)->line;
        bool require_comma = false;
        int r;

        r = expect_op(p, JO_LPAREN);
        if (r < 0)
                return r;
        while (!is_op(cur(p), JO_RPAREN)) {
                JExpr *e;

                if (require_comma) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                        if (is_op(cur(p), JO_RPAREN))
                                break;  /* trailing comma */
                }

                if (is_op(cur(p), JO_MUL) || is_op(cur(p), JO_POW)) {
                        bool star = is_op(cur(p), JO_MUL);

                        if ((star && (c->dyn_args || c->dyn_kwargs)) || (!star && c->dyn_kwargs))
                                return parse_fail(p, line, "invalid syntax for function call expression");
                        next(p);
                        r = parse_expression(p, true, star ? &c->dyn_args : &c->dyn_kwargs);
                        if (r < 0)
                                return r;
                } else if (cur(p)->type == JT_NAME && is_op(look(p), JO_ASSIGN)) {
                        char **names;
                        JExpr **kw;

                        if (c->dyn_kwargs)
                                return parse_fail(p, line, "invalid syntax for function call expression");
                        names = reallocarray(c->kw_names, c->n_kw + 1, sizeof(char *));
                        if (!names)
                                return -ENOMEM;
                        c->kw_names = names;
                        kw = reallocarray(c->kw, c->n_kw + 1, sizeof(JExpr *));
                        if (!kw)
                                return -ENOMEM;
                        c->kw = kw;
                        c->kw_names[c->n_kw] = strndup(cur(p)->text, cur(p)->len);
                        if (!c->kw_names[c->n_kw])
                                return -ENOMEM;
                        next(p);
                        next(p);
                        r = parse_expression(p, true, &e);
                        if (r < 0) {
                                free(c->kw_names[c->n_kw]);
                                return r;
                        }
                        c->kw[c->n_kw++] = e;
                } else {
                        JExpr **pos;

                        if (c->dyn_args || c->dyn_kwargs || c->n_kw > 0)
                                return parse_fail(p, line, "invalid syntax for function call expression");
                        r = parse_expression(p, true, &e);
                        if (r < 0)
                                return r;
                        pos = reallocarray(c->pos, c->n_pos + 1, sizeof(JExpr *));
                        if (!pos) {
                                expr_free(e);
                                return -ENOMEM;
                        }
                        c->pos = pos;
                        c->pos[c->n_pos++] = e;
                }
                require_comma = true;
        }
        return expect_op(p, JO_RPAREN);
}

static int parse_call(Parser *p, JExpr **node) {
        JExpr *e = expr_new(JE_CALL, cur(p)->line);
        int r;

        if (!e)
                return -ENOMEM;
        e->a = *node;
        *node = e;
        r = parse_call_args(p, &e->call);
        if (r < 0)
                return r;
        return finish_expr(p, e);
}

/* "name" or "a.b.c" for filters and tests */
static int parse_dotted_name(Parser *p, char **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        int r;

        if (cur(p)->type != JT_NAME)
                return fail_unexpected(p, "name");
        r = jbuf_put(&b, cur(p)->text, cur(p)->len);
        next(p);
        while (r >= 0 && is_op(cur(p), JO_DOT)) {
                next(p);
                if (cur(p)->type != JT_NAME)
                        return fail_unexpected(p, "name");
                r = jbuf_putc(&b, '.');
                if (r >= 0)
                        r = jbuf_put(&b, cur(p)->text, cur(p)->len);
                next(p);
        }
        if (r < 0)
                return r;
        *ret = jbuf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

static int parse_filter(Parser *p, JExpr **node, bool start_inline) {
        int r;

        while (is_op(cur(p), JO_PIPE) || start_inline) {
                JExpr *e;

                if (!start_inline)
                        next(p);
                start_inline = false;
                e = expr_new(JE_FILTER, cur(p)->line);
                if (!e)
                        return -ENOMEM;
                e->a = *node;
                *node = e;
                r = parse_dotted_name(p, &e->name);
                if (r < 0)
                        return r;
                if (is_op(cur(p), JO_LPAREN)) {
                        r = parse_call_args(p, &e->call);
                        if (r < 0)
                                return r;
                }
                e->filter = jinja_filter_lookup(e->name);
                r = finish_expr(p, e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_test(Parser *p, JExpr **node) {
        unsigned line = cur(p)->line;
        const JToken *t;
        bool negated;
        JExpr *e;
        int r;

        next(p);        /* is */
        negated = skip_name(p, "not");
        e = expr_new(JE_TEST, line);
        if (!e)
                return -ENOMEM;
        e->a = *node;
        *node = e;
        r = parse_dotted_name(p, &e->name);
        if (r < 0)
                return r;

        t = cur(p);
        if (is_op(t, JO_LPAREN)) {
                r = parse_call_args(p, &e->call);
                if (r < 0)
                        return r;
        } else if ((t->type == JT_NAME || t->type == JT_STRING || t->type == JT_INT || t->type == JT_FLOAT ||
                    is_op(t, JO_LBRACKET) || is_op(t, JO_LBRACE)) &&
                   !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
                /* "x is divisibleby 3": one bare argument */
                JExpr *arg;

                if (is_name(t, "is"))
                        return parse_fail(p, t->line, "you cannot chain multiple tests with 'is'");
                r = parse_primary(p, &arg);
                if (r < 0)
                        return r;
                r = parse_postfix(p, &arg);
                if (r >= 0) {
                        e->call.pos = calloc(1, sizeof(JExpr *));
                        if (!e->call.pos)
                                r = -ENOMEM;
                }
                if (r < 0) {
                        expr_free(arg);
                        return r;
                }
                e->call.pos[0] = arg;
                e->call.n_pos = 1;
        }
        e->test = jinja_test_lookup(e->name);
        r = finish_expr(p, e);
        if (r < 0)
                return r;
        if (negated)
                return make_expr(p, JE_NOT, line, TAKE_PTR(*node), NULL, NULL, node);
        return 0;
}

/* The subscript inside [ ]: an expression or a slice a:b:c. */
static int parse_subscribed(Parser *p, JExpr **ret) {
        JExpr *parts[3] = {};
        unsigned line = cur(p)->line;
        int r;

        if (!is_op(cur(p), JO_COLON)) {
                r = parse_expression(p, true, &parts[0]);
                if (r < 0)
                        return r;
                if (!is_op(cur(p), JO_COLON)) {
                        *ret = parts[0];
                        return 0;
                }
        }
        next(p);        /* : */
        if (!is_op(cur(p), JO_COLON) && !is_op(cur(p), JO_RBRACKET) && !is_op(cur(p), JO_COMMA)) {
                r = parse_expression(p, true, &parts[1]);
                if (r < 0)
                        goto fail;
        }
        if (is_op(cur(p), JO_COLON)) {
                next(p);
                if (!is_op(cur(p), JO_RBRACKET) && !is_op(cur(p), JO_COMMA)) {
                        r = parse_expression(p, true, &parts[2]);
                        if (r < 0)
                                goto fail;
                }
        }
        return make_expr(p, JE_SLICE, line, parts[0], parts[1], parts[2], ret);

fail:
        expr_free(parts[0]);
        expr_free(parts[1]);
        return r;
}

static int parse_subscript(Parser *p, JExpr **node) {
        const JToken *t = next(p);
        int r;

        if (t->type == JT_OP && t->op == JO_DOT) {
                const JToken *attr = cur(p);
                JExpr *key;

                if (attr->type == JT_NAME) {
                        JExpr *e;

                        next(p);
                        r = make_expr(p, JE_GETATTR, t->line, TAKE_PTR(*node), NULL, NULL, &e);
                        if (r < 0)
                                return r;
                        *node = e;
                        e->name = strndup(attr->text, attr->len);
                        return e->name ? 0 : -ENOMEM;
                }
                if (attr->type != JT_INT)
                        return parse_fail(p, attr->line, "expected name or number after '.'");
                next(p);
                r = const_expr(jv_int(attr->i), attr->line, &key);
                if (r < 0)
                        return r;
                return make_expr(p, JE_GETITEM, t->line, TAKE_PTR(*node), key, NULL, node);
        }

        /* [ */
        _cleanup_expr_ JExpr *args = expr_new(JE_TUPLE, t->line);
        if (!args)
                return -ENOMEM;
        while (!is_op(cur(p), JO_RBRACKET)) {
                JExpr *a;

                if (args->n_items > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                r = parse_subscribed(p, &a);
                if (r < 0)
                        return r;
                r = push_item(args, a);
                if (r < 0)
                        return r;
        }
        r = expect_op(p, JO_RBRACKET);
        if (r >= 0)
                r = finish_expr(p, args);
        if (r < 0)
                return r;
        if (args->n_items == 1) {
                JExpr *only = TAKE_PTR(args->items[0]);

                args->n_items = 0;
                return make_expr(p, JE_GETITEM, t->line, TAKE_PTR(*node), only, NULL, node);
        }
        return make_expr(p, JE_GETITEM, t->line, TAKE_PTR(*node), TAKE_PTR(args), NULL, node);
}

static int parse_postfix(Parser *p, JExpr **node) {
        for (;;) {
                int r;

                if (is_op(cur(p), JO_DOT) || is_op(cur(p), JO_LBRACKET))
                        r = parse_subscript(p, node);
                else if (is_op(cur(p), JO_LPAREN))
                        r = parse_call(p, node);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

static int parse_filter_expr(Parser *p, JExpr **node) {
        for (;;) {
                int r;

                if (is_op(cur(p), JO_PIPE))
                        r = parse_filter(p, node, false);
                else if (is_name(cur(p), "is"))
                        r = parse_test(p, node);
                else if (is_op(cur(p), JO_LPAREN))
                        r = parse_call(p, node);
                else
                        return 0;
                if (r < 0)
                        return r;
        }
}

static int parse_unary(Parser *p, bool with_filter, JExpr **ret) {
        _cleanup_expr_ JExpr *node = NULL;
        unsigned line = cur(p)->line;
        int r;

        if (is_op(cur(p), JO_SUB) || is_op(cur(p), JO_ADD)) {
                JExprKind kind = is_op(cur(p), JO_SUB) ? JE_NEG : JE_POS;
                JExpr *operand;

                next(p);
                r = enter(p);
                if (r >= 0)
                        r = parse_unary(p, false, &operand);
                leave(p);
                if (r < 0)
                        return r;
                r = make_expr(p, kind, line, operand, NULL, NULL, &node);
        } else
                r = parse_primary(p, &node);
        if (r < 0)
                return r;
        r = parse_postfix(p, &node);
        if (r >= 0 && with_filter)
                r = parse_filter_expr(p, &node);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(node);
        return 0;
}

/* Left-associative binary levels: parse_pow, parse_math2, parse_math1. */
static int parse_pow(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *left = NULL;
        int r;

        r = parse_unary(p, true, &left);
        while (r >= 0 && is_op(cur(p), JO_POW)) {
                unsigned line = cur(p)->line;
                JExpr *right;

                next(p);
                r = parse_unary(p, true, &right);
                if (r < 0)
                        return r;
                r = make_expr(p, JE_BINOP, line, TAKE_PTR(left), right, NULL, &left);
                if (r >= 0)
                        left->op = JOP_POW;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_math2(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *left = NULL;
        int r;

        r = parse_pow(p, &left);
        while (r >= 0) {
                unsigned line = cur(p)->line;
                JBinOp op;
                JExpr *right;

                if (is_op(cur(p), JO_MUL))
                        op = JOP_MUL;
                else if (is_op(cur(p), JO_DIV))
                        op = JOP_DIV;
                else if (is_op(cur(p), JO_FLOORDIV))
                        op = JOP_FLOORDIV;
                else if (is_op(cur(p), JO_MOD))
                        op = JOP_MOD;
                else
                        break;
                next(p);
                r = parse_pow(p, &right);
                if (r < 0)
                        return r;
                r = make_expr(p, JE_BINOP, line, TAKE_PTR(left), right, NULL, &left);
                if (r >= 0)
                        left->op = op;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_concat(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *c = NULL;
        JExpr *first;
        int r;

        r = parse_math2(p, &first);
        if (r < 0)
                return r;
        if (!is_op(cur(p), JO_TILDE)) {
                *ret = first;
                return 0;
        }
        c = expr_new(JE_CONCAT, first->line);
        if (!c) {
                expr_free(first);
                return -ENOMEM;
        }
        r = push_item(c, first);
        while (r >= 0 && skip_op(p, JO_TILDE)) {
                JExpr *item;

                r = parse_math2(p, &item);
                if (r >= 0)
                        r = push_item(c, item);
        }
        if (r >= 0)
                r = finish_expr(p, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static int parse_math1(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *left = NULL;
        int r;

        r = parse_concat(p, &left);
        while (r >= 0 && (is_op(cur(p), JO_ADD) || is_op(cur(p), JO_SUB))) {
                unsigned line = cur(p)->line;
                JBinOp op = is_op(cur(p), JO_ADD) ? JOP_ADD : JOP_SUB;
                JExpr *right;

                next(p);
                r = parse_concat(p, &right);
                if (r < 0)
                        return r;
                r = make_expr(p, JE_BINOP, line, TAKE_PTR(left), right, NULL, &left);
                if (r >= 0)
                        left->op = op;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(left);
        return 0;
}

/* The comparison operator at the current token, consumed; false if none. */
static bool take_compare_op(Parser *p, JCmpOp *ret) {
        static const struct {
                JOpTok tok;
                JCmpOp op;
        } ops[] = {
                { JO_EQ, JC_EQ }, { JO_NE, JC_NE }, { JO_LT, JC_LT },
                { JO_LTEQ, JC_LTEQ }, { JO_GT, JC_GT }, { JO_GTEQ, JC_GTEQ },
        };

        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (skip_op(p, ops[i].tok)) {
                        *ret = ops[i].op;
                        return true;
                }
        if (skip_name(p, "in")) {
                *ret = JC_IN;
                return true;
        }
        if (is_name(cur(p), "not") && is_name(look(p), "in")) {
                next(p);
                next(p);
                *ret = JC_NOTIN;
                return true;
        }
        return false;
}

static int parse_compare(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *c = NULL;
        JExpr *first;
        JCmpOp op;
        int r;

        r = parse_math1(p, &first);
        if (r < 0)
                return r;
        c = expr_new(JE_COMPARE, first->line);
        if (!c) {
                expr_free(first);
                return -ENOMEM;
        }
        r = push_item(c, first);
        while (r >= 0 && take_compare_op(p, &op)) {
                JCmpOp *ops = reallocarray(c->ops, c->n_items, sizeof(JCmpOp));
                JExpr *item;

                if (!ops)
                        return -ENOMEM;
                c->ops = ops;
                c->ops[c->n_items - 1] = op;
                r = parse_math1(p, &item);
                if (r >= 0)
                        r = push_item(c, item);
        }
        if (r < 0)
                return r;
        if (c->n_items == 1) {
                *ret = TAKE_PTR(c->items[0]);
                c->n_items = 0;
                return 0;
        }
        r = finish_expr(p, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static int parse_not(Parser *p, JExpr **ret) {
        unsigned line = cur(p)->line;
        JExpr *operand;
        int r;

        if (!skip_name(p, "not"))
                return parse_compare(p, ret);
        r = enter(p);
        if (r >= 0)
                r = parse_not(p, &operand);
        leave(p);
        if (r < 0)
                return r;
        return make_expr(p, JE_NOT, line, operand, NULL, NULL, ret);
}

static int parse_and_or(Parser *p, bool is_or, JExpr **ret) {
        _cleanup_expr_ JExpr *left = NULL;
        int r;

        r = is_or ? parse_and_or(p, false, &left) : parse_not(p, &left);
        while (r >= 0 && skip_name(p, is_or ? "or" : "and")) {
                unsigned line = cur(p)->line;
                JExpr *right;

                r = is_or ? parse_and_or(p, false, &right) : parse_not(p, &right);
                if (r < 0)
                        return r;
                r = make_expr(p, is_or ? JE_OR : JE_AND, line, TAKE_PTR(left), right, NULL, &left);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_condexpr(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *expr1 = NULL;
        int r;

        r = parse_and_or(p, true, &expr1);
        while (r >= 0 && skip_name(p, "if")) {
                unsigned line = cur(p)->line;
                JExpr *test, *orelse = NULL;

                r = parse_and_or(p, true, &test);
                if (r < 0)
                        return r;
                if (skip_name(p, "else")) {
                        r = enter(p);
                        if (r >= 0)
                                r = parse_condexpr(p, &orelse);
                        leave(p);
                        if (r < 0) {
                                expr_free(test);
                                return r;
                        }
                }
                /* a: test, b: value if true, c: value if false */
                r = make_expr(p, JE_COND, line, test, TAKE_PTR(expr1), orelse, &expr1);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(expr1);
        return 0;
}

static int parse_expression(Parser *p, bool with_condexpr, JExpr **ret) {
        int r;

        r = enter(p);
        if (r >= 0)
                r = with_condexpr ? parse_condexpr(p, ret) : parse_and_or(p, true, ret);
        leave(p);
        return r;
}

/* ---- assignment targets ----------------------------------------------------------- */

static bool can_assign(const JExpr *e) {
        if (e->kind == JE_NAME || e->kind == JE_NSREF)
                return true;
        if (e->kind == JE_TUPLE) {
                for (size_t i = 0; i < e->n_items; i++)
                        if (!can_assign(e->items[i]))
                                return false;
                return true;
        }
        return false;
}

/* name.attr, as a {% set %} target: Jinja 3.1.6 allows these inside
 * tuples too ("{% set ns.a, b = 1, 2 %}"). */
static int parse_nsref(Parser *p, JExpr **ret) {
        _cleanup_expr_ JExpr *target = expr_new(JE_NSREF, cur(p)->line);
        int r;

        if (!target)
                return -ENOMEM;
        r = make_expr(p, JE_NAME, target->line, NULL, NULL, NULL, &target->a);
        if (r >= 0)
                r = take_name(p, &target->a->name);
        if (r >= 0) {
                next(p);        /* . */
                r = take_name(p, &target->name);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(target);
        return 0;
}

/* A simplified tuple of names (and, with_namespace, name.attr) */
static int parse_target_tuple(Parser *p, bool with_namespace, const char *extra_end, JExpr **ret) {
        _cleanup_expr_ JExpr *t = expr_new(JE_TUPLE, cur(p)->line);
        bool is_tuple = false;
        int r;

        if (!t)
                return -ENOMEM;
        for (;;) {
                JExpr *item;

                if (t->n_items > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                if (is_tuple_end(p, extra_end))
                        break;
                if (with_namespace && cur(p)->type == JT_NAME && is_op(look(p), JO_DOT))
                        r = parse_nsref(p, &item);
                else
                        r = parse_primary(p, &item);
                if (r >= 0)
                        r = push_item(t, item);
                if (r < 0)
                        return r;
                if (!is_op(cur(p), JO_COMMA))
                        break;
                is_tuple = true;
        }
        if (!is_tuple) {
                if (t->n_items == 0)
                        return fail_unexpected(p, NULL);
                *ret = TAKE_PTR(t->items[0]);
                t->n_items = 0;
                return 0;
        }
        r = finish_expr(p, t);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static int parse_assign_target(Parser *p, bool name_only, bool with_namespace, const char *extra_end, JExpr **ret) {
        _cleanup_expr_ JExpr *target = NULL;
        unsigned line = cur(p)->line;
        int r;

        if (name_only) {
                target = expr_new(JE_NAME, line);
                if (!target)
                        return -ENOMEM;
                r = take_name(p, &target->name);
        } else
                r = parse_target_tuple(p, with_namespace, extra_end, &target);
        if (r < 0)
                return r;
        if (!can_assign(target))
                return parse_fail(p, target->line, "can't assign to '%s'",
                                  target->kind == JE_CONST ? "const" : "expression");
        *ret = TAKE_PTR(target);
        return 0;
}

/* ---- statements ----------------------------------------------------------------------- */

static int subparse(Parser *p, const char *const *end_names, JBody *body);

static int open_block(Parser *p, const char *tag, const char *end, unsigned line) {
        OpenBlock *o = reallocarray(p->open, p->n_open + 1, sizeof(OpenBlock));

        if (!o)
                return -ENOMEM;
        p->open = o;
        p->open[p->n_open++] = (OpenBlock) { .tag = tag, .end = end, .line = line };
        return 0;
}

static void close_block(Parser *p) {
        p->n_open--;
}

/* After a statement's header: "%}", the body up to one of end_names, and
 * (with drop) the end name itself. */
static int parse_statements(Parser *p, const char *const *end_names, bool drop, JBody *body) {
        int r;

        (void) skip_op(p, JO_COLON);
        r = expect_type(p, JT_BLOCK_END, "end of statement block");
        if (r < 0)
                return r;
        p->in_tag = false;
        r = subparse(p, end_names, body);
        if (r < 0)
                return r;
        if (cur(p)->type == JT_EOF)
                return fail_unexpected(p, NULL);
        if (drop)
                next(p);
        return 0;
}

static int parse_for(Parser *p, size_t begin, JBody *out) {
        static const char *const body_end[] = { "endfor", "else", NULL }, *const else_end[] = { "endfor", NULL };
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_FOR, begin, line);
        int r;

        if (!n)
                return -ENOMEM;
        r = parse_assign_target(p, false, false, "in", &n->target);
        if (r >= 0)
                r = expect_name(p, "in");
        if (r >= 0)
                r = parse_tuple(p, TUPLE_NO_CONDEXPR, "recursive", false, &n->expr);
        if (r >= 0 && skip_name(p, "if"))
                r = parse_expression(p, true, &n->cond);
        if (r < 0)
                return r;
        n->recursive = skip_name(p, "recursive");

        r = open_block(p, "for", "endfor", line);
        if (r < 0)
                return r;
        r = parse_statements(p, body_end, false, &n->body);
        if (r >= 0 && is_name(next(p), "else"))
                r = parse_statements(p, else_end, true, &n->orelse);
        close_block(p);
        if (r < 0)
                return r;
        return body_push(out, TAKE_PTR(n));
}

static int parse_if(Parser *p, size_t begin, JBody *out) {
        static const char *const body_end[] = { "elif", "else", "endif", NULL }, *const else_end[] = { "endif", NULL };
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *result = node_new(p, JN_IF, begin, line);
        JNode *n = result;
        int r;

        if (!result)
                return -ENOMEM;
        r = open_block(p, "if", "endif", line);
        if (r < 0)
                return r;
        for (;;) {
                const JToken *t;

                r = parse_tuple(p, TUPLE_NO_CONDEXPR, NULL, false, &n->expr);
                if (r >= 0)
                        r = parse_statements(p, body_end, false, &n->body);
                if (r < 0)
                        break;
                t = next(p);
                if (is_name(t, "elif")) {
                        /* elif is an if in the else branch, with its own tag */
                        JNode *elif = node_new(p, JN_IF, p->pos - 2, t->line);

                        if (!elif) {
                                r = -ENOMEM;
                                break;
                        }
                        elif->is_elif = true;
                        r = body_push(&n->orelse, elif);
                        if (r < 0)
                                break;
                        n = elif;
                        continue;
                }
                if (is_name(t, "else"))
                        r = parse_statements(p, else_end, true, &n->orelse);
                break;
        }
        close_block(p);
        if (r < 0)
                return r;
        return body_push(out, TAKE_PTR(result));
}

static int parse_signature(Parser *p, JNode *n) {
        int r;

        r = expect_op(p, JO_LPAREN);
        while (r >= 0 && !is_op(cur(p), JO_RPAREN)) {
                char **params;

                if (n->n_params > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                params = reallocarray(n->params, n->n_params + 1, sizeof(char *));
                if (!params)
                        return -ENOMEM;
                n->params = params;
                r = take_name(p, &n->params[n->n_params]);
                if (r < 0)
                        return r;
                n->n_params++;
                if (skip_op(p, JO_ASSIGN)) {
                        JExpr **d = reallocarray(n->defaults, n->n_defaults + 1, sizeof(JExpr *));

                        if (!d)
                                return -ENOMEM;
                        n->defaults = d;
                        r = parse_expression(p, true, &n->defaults[n->n_defaults]);
                        if (r < 0)
                                return r;
                        n->n_defaults++;
                } else if (n->n_defaults > 0)
                        return parse_fail(p, cur(p)->line, "non-default argument follows default argument");
        }
        if (r < 0)
                return r;
        return expect_op(p, JO_RPAREN);
}

/* The rest of a block tag whose header is parsed: "%}", the body up to
 * end_tag, and end_tag itself; then appends the node (taking it) to out. */
static int parse_block_body(Parser *p, const char *tag, const char *end_tag, unsigned line, JNode *node, JBody *out) {
        _cleanup_node_ JNode *n = node;
        const char *const end[] = { end_tag, NULL };
        int r;

        r = open_block(p, tag, end_tag, line);
        if (r < 0)
                return r;
        r = parse_statements(p, end, true, &n->body);
        close_block(p);
        if (r < 0)
                return r;
        return body_push(out, TAKE_PTR(n));
}

static int parse_macro(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_MACRO, begin, line);
        int r;

        if (!n)
                return -ENOMEM;
        r = take_name(p, &n->name);
        if (r >= 0)
                r = parse_signature(p, n);
        if (r < 0)
                return r;
        return parse_block_body(p, "macro", "endmacro", line, TAKE_PTR(n), out);
}

static int parse_call_block(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_CALLBLOCK, begin, line);
        int r = 0;

        if (!n)
                return -ENOMEM;
        if (is_op(cur(p), JO_LPAREN))
                r = parse_signature(p, n);
        if (r >= 0)
                r = parse_expression(p, true, &n->expr);
        if (r < 0)
                return r;
        if (n->expr->kind != JE_CALL)
                return parse_fail(p, line, "expected a call after '{%% call %%}'");
        return parse_block_body(p, "call", "endcall", line, TAKE_PTR(n), out);
}

static int parse_filter_block(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_FILTERBLOCK, begin, line);
        int r;

        if (!n)
                return -ENOMEM;
        r = parse_filter(p, &n->expr, true);
        if (r < 0)
                return r;
        return parse_block_body(p, "filter", "endfilter", line, TAKE_PTR(n), out);
}

static int parse_set(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_SET, begin, line);
        int r;

        if (!n)
                return -ENOMEM;
        r = parse_assign_target(p, false, true, NULL, &n->target);
        if (r < 0)
                return r;
        if (skip_op(p, JO_ASSIGN)) {
                r = parse_tuple(p, TUPLE_FULL, NULL, false, &n->expr);
                if (r < 0)
                        return r;
                return body_push(out, TAKE_PTR(n));
        }

        /* {% set x | filter %}...{% endset %} */
        n->kind = JN_SETBLOCK;
        r = parse_filter(p, &n->expr, false);
        if (r < 0)
                return r;
        return parse_block_body(p, "set", "endset", line, TAKE_PTR(n), out);
}

static int parse_with(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        _cleanup_node_ JNode *n = node_new(p, JN_WITH, begin, line);
        int r = 0;

        if (!n)
                return -ENOMEM;
        while (r >= 0 && cur(p)->type != JT_BLOCK_END) {
                JExpr **t, **v;

                if (n->n_with > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                t = reallocarray(n->with_targets, n->n_with + 1, sizeof(JExpr *));
                if (t)
                        n->with_targets = t;
                v = t ? reallocarray(n->with_values, n->n_with + 1, sizeof(JExpr *)) : NULL;
                if (!v)
                        return -ENOMEM;
                n->with_values = v;
                n->with_targets[n->n_with] = n->with_values[n->n_with] = NULL;
                n->n_with++;
                r = parse_assign_target(p, false, false, NULL, &n->with_targets[n->n_with - 1]);
                if (r >= 0)
                        r = expect_op(p, JO_ASSIGN);
                if (r >= 0)
                        r = parse_expression(p, true, &n->with_values[n->n_with - 1]);
        }
        if (r < 0)
                return r;
        return parse_block_body(p, "with", "endwith", line, TAKE_PTR(n), out);
}

static int parse_print(Parser *p, size_t begin, JBody *out) {
        unsigned line = next(p)->line;
        int r;

        for (size_t i = 0; cur(p)->type != JT_BLOCK_END; i++) {
                JNode *n;

                if (i > 0) {
                        r = expect_op(p, JO_COMMA);
                        if (r < 0)
                                return r;
                }
                n = node_new(p, JN_OUTPUT, begin, line);
                if (!n)
                        return -ENOMEM;
                r = body_push(out, n);
                if (r < 0)
                        return r;
                r = parse_expression(p, true, &n->expr);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A tag name no statement starts with: a misplaced end tag, or unknown. */
static int fail_unknown_tag(Parser *p, const JToken *t) {
        _cleanup_free_ char *name = strndup(t->text, t->len);
        static const char *const unsupported[] = {
                "block", "extends", "include", "import", "from", "autoescape",
        };

        if (!name)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                if (streq(name, unsupported[i]))
                        return parse_fail(p, t->line,
                                          "'{%% %s %%}' is not supported: a prompt template is self-contained", name);
        for (size_t i = p->n_open; i > 0; i--) {
                const OpenBlock *o = p->open + i - 1;

                if (streq(name, o->end) || ((streq(name, "else") || streq(name, "elif")) && i == p->n_open)) {
                        o = p->open + p->n_open - 1;
                        return parse_fail(p, t->line, "unexpected '%s', expected '%s' (the '%s' opened on line %u)",
                                          name, o->end, o->tag, o->line);
                }
        }
        if (p->n_open > 0) {
                const OpenBlock *o = p->open + p->n_open - 1;

                return parse_fail(p, t->line, "unknown tag '%s' (the innermost open block is the '%s' on line %u)",
                                  name, o->tag, o->line);
        }
        return parse_fail(p, t->line, "unknown tag '%s'", name);
}

static int parse_statement(Parser *p, size_t begin, JBody *out) {
        static const struct {
                const char *name;
                int (*parse)(Parser *p, size_t begin, JBody *out);
        } statements[] = {
                { "for", parse_for },
                { "if", parse_if },
                { "set", parse_set },
                { "macro", parse_macro },
                { "call", parse_call_block },
                { "filter", parse_filter_block },
                { "with", parse_with },
                { "print", parse_print },
        };
        const JToken *t = cur(p);
        int r;

        if (t->type != JT_NAME) {
                if (t->type == JT_EOF)
                        return fail_unexpected(p, NULL);
                return parse_fail(p, t->line, "tag name expected");
        }
        for (size_t i = 0; i < ELEMENTSOF(statements); i++)
                if (is_name(t, statements[i].name)) {
                        r = enter(p);
                        if (r >= 0)
                                r = statements[i].parse(p, begin, out);
                        leave(p);
                        return r;
                }
        return fail_unknown_tag(p, t);
}

static bool is_end_name(const JToken *t, const char *const *end_names) {
        for (size_t i = 0; end_names && end_names[i]; i++)
                if (is_name(t, end_names[i]))
                        return true;
        return false;
}

static int subparse(Parser *p, const char *const *end_names, JBody *body) {
        int r;

        for (;;) {
                const JToken *t = cur(p);
                size_t begin = p->pos;
                JNode *n;

                switch (t->type) {
                case JT_EOF:
                        return 0;

                case JT_DATA:
                        n = node_new(p, JN_DATA, begin, t->line);
                        if (!n)
                                return -ENOMEM;
                        n->text = t->text;
                        n->len = t->len;
                        next(p);
                        r = body_push(body, n);
                        if (r < 0)
                                return r;
                        break;

                case JT_VAR_BEGIN:
                        p->tag_begin = begin;
                        p->in_tag = true;
                        next(p);
                        n = node_new(p, JN_OUTPUT, begin, cur(p)->line);
                        if (!n)
                                return -ENOMEM;
                        r = body_push(body, n);
                        if (r < 0)
                                return r;
                        r = parse_tuple(p, TUPLE_FULL, NULL, false, &n->expr);
                        if (r >= 0)
                                r = expect_type(p, JT_VAR_END, "end of print statement");
                        if (r < 0)
                                return r;
                        p->in_tag = false;
                        break;

                case JT_BLOCK_BEGIN:
                        p->tag_begin = begin;
                        p->in_tag = true;
                        next(p);
                        if (is_end_name(cur(p), end_names))
                                return 0;
                        r = parse_statement(p, begin, body);
                        if (r >= 0)
                                r = expect_type(p, JT_BLOCK_END, "end of statement block");
                        if (r < 0)
                                return r;
                        p->in_tag = false;
                        break;

                default:
                        return fail_unexpected(p, NULL);
                }
        }
}

/* ---- the check pass ------------------------------------------------------------ */

typedef struct Check {
        Parser *p;
        bool soft;      /* inside {% if %} or an inline if: unknown names fail late */
} Check;

static int check_expr(Check *c, const JExpr *e, bool soft);

static int check_call(Check *c, const JCallSyntax *call, bool soft) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < call->n_pos; i++)
                r = check_expr(c, call->pos[i], soft);
        for (size_t i = 0; r >= 0 && i < call->n_kw; i++)
                r = check_expr(c, call->kw[i], soft);
        if (r >= 0 && call->dyn_args)
                r = check_expr(c, call->dyn_args, soft);
        if (r >= 0 && call->dyn_kwargs)
                r = check_expr(c, call->dyn_kwargs, soft);
        return r;
}

static int check_expr(Check *c, const JExpr *e, bool soft) {
        int r = 0;

        if (!e)
                return 0;
        if (e->kind == JE_COND)
                soft = true;
        if (e->kind == JE_FILTER && !e->filter && !soft)
                return parse_fail(c->p, e->line, "unknown filter '%s'", e->name);
        if (e->kind == JE_FILTER && e->filter && !e->filter->fn && !soft)
                return parse_fail(c->p, e->line, "the filter '%s' is not supported in Marianne's templates", e->name);
        if (e->kind == JE_TEST && !e->test && !soft)
                return parse_fail(c->p, e->line, "unknown test '%s'", e->name);

        r = check_expr(c, e->a, soft);
        if (r >= 0)
                r = check_expr(c, e->b, soft);
        if (r >= 0)
                r = check_expr(c, e->c, soft);
        for (size_t i = 0; r >= 0 && i < e->n_items; i++)
                r = check_expr(c, e->items[i], soft);
        if (r >= 0)
                r = check_call(c, &e->call, soft);
        return r;
}

static int check_body(Check *c, const JBody *b, bool soft);

static int check_node(Check *c, const JNode *n, bool soft) {
        int r = 0;

        /* which parts Jinja's compiler visits in the enclosing frame (soft
         * stays) and which in an inner frame (soft ends) */
        switch (n->kind) {
        case JN_DATA:
                return 0;
        case JN_OUTPUT:
        case JN_SET:
                return check_expr(c, n->expr, soft);
        case JN_IF:
                r = check_expr(c, n->expr, true);
                if (r >= 0)
                        r = check_body(c, &n->body, true);
                if (r >= 0)
                        r = check_body(c, &n->orelse, true);
                return r;
        case JN_FOR:
                r = check_expr(c, n->expr, soft);
                if (r >= 0)
                        r = check_expr(c, n->cond, false);
                break;
        case JN_CALLBLOCK:
                r = check_expr(c, n->expr, soft);
                break;
        case JN_WITH:
                for (size_t i = 0; r >= 0 && i < n->n_with; i++)
                        r = check_expr(c, n->with_values[i], soft);
                break;
        case JN_MACRO:
                for (size_t i = 0; r >= 0 && i < n->n_defaults; i++)
                        r = check_expr(c, n->defaults[i], false);
                break;
        case JN_SETBLOCK:
        case JN_FILTERBLOCK:
                r = check_expr(c, n->expr, false);
                break;
        }
        if (r >= 0)
                r = check_body(c, &n->body, false);
        if (r >= 0)
                r = check_body(c, &n->orelse, false);
        return r;
}

static int check_body(Check *c, const JBody *b, bool soft) {
        for (size_t i = 0; i < b->n; i++) {
                int r = check_node(c, b->nodes[i], soft);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- walking --------------------------------------------------------------------- */

static int walk_expr(const JExpr *e, JExprVisitor visit, void *userdata) {
        int r;

        if (!e)
                return 0;
        r = visit(e, userdata);
        if (r < 0)
                return r;
        r = walk_expr(e->a, visit, userdata);
        if (r >= 0)
                r = walk_expr(e->b, visit, userdata);
        if (r >= 0)
                r = walk_expr(e->c, visit, userdata);
        for (size_t i = 0; r >= 0 && i < e->n_items; i++)
                r = walk_expr(e->items[i], visit, userdata);
        for (size_t i = 0; r >= 0 && i < e->call.n_pos; i++)
                r = walk_expr(e->call.pos[i], visit, userdata);
        for (size_t i = 0; r >= 0 && i < e->call.n_kw; i++)
                r = walk_expr(e->call.kw[i], visit, userdata);
        if (r >= 0)
                r = walk_expr(e->call.dyn_args, visit, userdata);
        if (r >= 0)
                r = walk_expr(e->call.dyn_kwargs, visit, userdata);
        return r;
}

int jinja_walk_body(const JBody *body, JExprVisitor visit, void *userdata) {
        for (size_t i = 0; i < body->n; i++) {
                const JNode *n = body->nodes[i];
                int r;

                r = walk_expr(n->expr, visit, userdata);
                if (r >= 0)
                        r = walk_expr(n->target, visit, userdata);
                if (r >= 0)
                        r = walk_expr(n->cond, visit, userdata);
                for (size_t j = 0; r >= 0 && j < n->n_defaults; j++)
                        r = walk_expr(n->defaults[j], visit, userdata);
                for (size_t j = 0; r >= 0 && j < n->n_with; j++)
                        r = walk_expr(n->with_values[j], visit, userdata);
                if (r >= 0)
                        r = jinja_walk_body(&n->body, visit, userdata);
                if (r >= 0)
                        r = jinja_walk_body(&n->orelse, visit, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct SpecialNames {
        const JNode *macro;
        bool varargs, kwargs, caller;
} SpecialNames;

static bool is_param(const JNode *macro, const char *name) {
        for (size_t i = 0; i < macro->n_params; i++)
                if (streq(macro->params[i], name))
                        return true;
        return false;
}

static int find_special_name(const JExpr *e, void *userdata) {
        SpecialNames *s = userdata;

        if (e->kind != JE_NAME || is_param(s->macro, e->name))
                return 0;
        if (streq(e->name, "varargs"))
                s->varargs = true;
        else if (streq(e->name, "kwargs"))
                s->kwargs = true;
        else if (streq(e->name, "caller"))
                s->caller = true;
        return 0;
}

/* Jinja gives a macro varargs, kwargs and caller only when its body uses
 * them: only then may a call pass extra arguments. */
static int mark_macros(JBody *body) {
        for (size_t i = 0; i < body->n; i++) {
                JNode *n = body->nodes[i];
                int r;

                if (n->kind == JN_MACRO || n->kind == JN_CALLBLOCK) {
                        SpecialNames s = { .macro = n };

                        r = jinja_walk_body(&n->body, find_special_name, &s);
                        if (r < 0)
                                return r;
                        n->catch_varargs = s.varargs;
                        n->catch_kwargs = s.kwargs;
                        n->catch_caller = s.caller || is_param(n, "caller");
                }
                r = mark_macros(&n->body);
                if (r >= 0)
                        r = mark_macros(&n->orelse);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- entry points ------------------------------------------------------------------- */

void jinja_template_free(JTemplate *t) {
        if (!t)
                return;
        body_done(&t->body);
        free(t->frame.names);
        jinja_tokens_done(&t->tokens);
        free(t->source);
        free(t->name);
        free(t);
}

/* Jinja reads "\r\n" and "\r" as "\n" everywhere in the source. */
static char *normalize_newlines(const char *s, size_t *ret_len) {
        size_t n = strlen(s), o = 0;
        char *t = malloc(n + 1);

        if (!t)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\r') {
                        t[o++] = '\n';
                        if (s[i + 1] == '\n')
                                i++;
                } else
                        t[o++] = s[i];
        }
        t[o] = 0;
        *ret_len = o;
        return t;
}

int jinja_parse(const char *name, const char *source, unsigned max_depth, JTemplate **ret, char **ret_error) {
        _cleanup_(jinja_template_freep) JTemplate *t = NULL;
        _cleanup_free_ char *lex_error = NULL;
        Parser p = {};
        unsigned line = 0;
        Check c = { .p = &p };
        int r;

        t = calloc(1, sizeof(JTemplate));
        if (!t)
                return -ENOMEM;
        t->name = strdup(name);
        t->source = normalize_newlines(source, &t->len);
        if (!t->name || !t->source)
                return -ENOMEM;

        r = jinja_lex(t->source, t->len, &t->tokens, &line, &lex_error);
        if (r < 0) {
                if (r != -ENOMEM && ret_error)
                        *ret_error = strdup_printf("%s:%u: %s", name, line, strna(lex_error));
                return r;
        }

        p = (Parser) {
                .t = t,
                .tok = t->tokens.t,
                .n = t->tokens.n,
                .max_depth = max_depth,
        };
        c.p = &p;
        r = subparse(&p, NULL, &t->body);
        if (r >= 0)
                r = check_body(&c, &t->body, false);
        if (r >= 0)
                r = mark_macros(&t->body);
        if (r >= 0)
                r = jinja_analyze_frames(t);
        free(p.open);
        if (r < 0) {
                if (p.error && ret_error)
                        *ret_error = strdup_printf("%s:%u: %s", name, p.error_line, p.error);
                free(p.error);
                return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

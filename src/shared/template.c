/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The template engine is split the way Jinja's is: a lexer cuts the source
 * into text and tag tokens, a parser turns those into a node list with
 * expression trees, and a renderer walks the nodes.  Statements ({% %}) are
 * recognised by the lexer already so that the Jinja subset can be added in
 * the parser without touching the rest. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>

#include "template.h"

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Statements and expressions are quoted back in messages; keep that bounded. */
#define SNIPPET_MAX 80U

/* ---- output buffer -------------------------------------------------- */

typedef struct Buf {
        char *data;
        size_t n, allocated;
        size_t max;
} Buf;

static int buf_append(Buf *b, const char *s, size_t len) {
        if (len > b->max || b->n > b->max - len)
                return -E2BIG;

        if (b->n + len + 1 > b->allocated) {
                size_t want = MAX(b->allocated * 2, b->n + len + 1);
                char *t;

                want = MAX(want, (size_t) 256);
                t = realloc(b->data, want);
                if (!t)
                        return -ENOMEM;
                b->data = t;
                b->allocated = want;
        }
        memcpy(b->data + b->n, s, len);
        b->n += len;
        b->data[b->n] = 0;
        return 0;
}

static int buf_steal(Buf *b, char **ret) {
        if (!b->data) {
                b->data = strdup("");
                if (!b->data)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(b->data);
        b->n = b->allocated = 0;
        return 0;
}

/* Set *ret_error (if wanted) and return r. */
static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *m;

        if (!ret_error)
                return r;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);

        free(*ret_error);
        *ret_error = m; /* NULL on OOM: the error code still says what happened */
        return r;
}

/* A copy of s[0..len) with surrounding whitespace removed and cut to
 * SNIPPET_MAX bytes, for messages that quote template source. */
static char *snippet(const char *s, size_t len) {
        while (len > 0 && isspace((unsigned char) *s)) {
                s++;
                len--;
        }
        while (len > 0 && isspace((unsigned char) s[len - 1]))
                len--;
        if (len > SNIPPET_MAX)
                return strdup_printf("%.*s...", (int) SNIPPET_MAX, s);
        return strndup(s, len);
}

static unsigned count_newlines(const char *s, size_t len) {
        unsigned n = 0;

        for (size_t i = 0; i < len; i++)
                if (s[i] == '\n')
                        n++;
        return n;
}

/* ---- lexer ---------------------------------------------------------- */

typedef enum TokenType {
        TOKEN_TEXT,
        TOKEN_OUTPUT,           /* {{ ... }} */
        TOKEN_COMMENT,          /* {# ... #} */
        TOKEN_STATEMENT,        /* {% ... %} */
} TokenType;

typedef struct Token {
        TokenType type;
        /* TEXT: the text after whitespace control; tags: the content between
         * the delimiters and whitespace-control markers.  Points into the
         * template source. */
        const char *start;
        size_t len;
        unsigned line;
} Token;

typedef struct TokenList {
        Token *tokens;
        size_t n;
} TokenList;

static int token_list_push(TokenList *l, TokenType type, const char *start, size_t len, unsigned line) {
        Token *t;

        t = reallocarray(l->tokens, l->n + 1, sizeof(Token));
        if (!t)
                return -ENOMEM;
        l->tokens = t;
        l->tokens[l->n++] = (Token) {
                .type = type,
                .start = start,
                .len = len,
                .line = line,
        };
        return 0;
}

/* Find the closing delimiter of an expression or statement tag, skipping
 * string literals so that "{{ m['}}'] }}" closes where it should. */
static const char *find_tag_end(const char *p, char close) {
        char quote = 0;

        for (; *p; p++) {
                if (quote) {
                        if (*p == '\\' && p[1])
                                p++;
                        else if (*p == quote)
                                quote = 0;
                        continue;
                }
                if (*p == '\'' || *p == '"')
                        quote = *p;
                else if (*p == close && p[1] == '}')
                        return p;
        }
        return NULL;
}

static int lex(const char *tmpl, TokenList *ret, char **ret_error) {
        TokenList l = {};
        const char *p = tmpl;
        unsigned line = 1;
        bool strip_next = false;
        int r;

        for (;;) {
                const char *tag, *text, *inner, *end, *after;
                size_t text_len;
                TokenType type;
                unsigned tag_line;
                char close;

                /* next tag opener, if any */
                for (tag = p; *tag; tag++)
                        if (tag[0] == '{' && (tag[1] == '{' || tag[1] == '#' || tag[1] == '%'))
                                break;

                text = p;
                text_len = (size_t) (tag - p);
                tag_line = line + count_newlines(p, text_len);

                if (strip_next)
                        while (text_len > 0 && isspace((unsigned char) *text)) {
                                text++;
                                text_len--;
                        }

                if (!*tag) {
                        if (text_len > 0) {
                                r = token_list_push(&l, TOKEN_TEXT, text, text_len, line);
                                if (r < 0)
                                        goto fail;
                        }
                        break;
                }

                switch (tag[1]) {
                case '{':
                        type = TOKEN_OUTPUT;
                        close = '}';
                        break;
                case '#':
                        type = TOKEN_COMMENT;
                        close = '#';
                        break;
                default:
                        type = TOKEN_STATEMENT;
                        close = '%';
                        break;
                }

                inner = tag + 2;
                /* "{{-" strips whitespace before the tag; "{{+" is Jinja's way to
                 * keep it when lstrip_blocks is on, which for us is the default */
                if (*inner == '-' || *inner == '+') {
                        if (*inner == '-')
                                while (text_len > 0 && isspace((unsigned char) text[text_len - 1]))
                                        text_len--;
                        inner++;
                }

                if (text_len > 0) {
                        r = token_list_push(&l, TOKEN_TEXT, text, text_len, line);
                        if (r < 0)
                                goto fail;
                }

                if (type == TOKEN_COMMENT) {
                        /* comments may contain anything, quotes included */
                        end = strstr(inner, "#}");
                } else
                        end = find_tag_end(inner, close);
                if (!end) {
                        r = set_error(ret_error, -EINVAL,
                                      "unterminated '{%c' (line %u): add the closing '%c}'",
                                      tag[1], tag_line, close);
                        goto fail;
                }

                after = end + 2;
                strip_next = false;
                if (end > inner && (end[-1] == '-' || end[-1] == '+')) {
                        strip_next = end[-1] == '-';
                        end--;
                }

                r = token_list_push(&l, type, inner, (size_t) (end - inner), tag_line);
                if (r < 0)
                        goto fail;

                line = tag_line + count_newlines(tag, (size_t) (after - tag));
                p = after;
        }

        *ret = l;
        return 0;

fail:
        free(l.tokens);
        return r;
}

/* ---- expressions ---------------------------------------------------- */

typedef enum ExprType {
        EXPR_NAME,
        EXPR_CONST,
        EXPR_GETATTR,           /* obj.name */
        EXPR_GETITEM,           /* obj[key] */
} ExprType;

typedef struct Expr Expr;
struct Expr {
        ExprType type;
        char *name;             /* NAME: variable; GETATTR: attribute */
        Value *constant;        /* CONST */
        Expr *obj;              /* GETATTR, GETITEM */
        Expr *key;              /* GETITEM */
};

static void expr_free(Expr *e) {
        if (!e)
                return;
        free(e->name);
        value_free(e->constant);
        expr_free(e->obj);
        expr_free(e->key);
        free(e);
}
DEFINE_CLEANUP_FUNC(Expr *, expr_free);
#define _cleanup_expr_free_ _cleanup_(expr_freep)

static int value_write_repr(FILE *f, const Value *v) {
        _cleanup_free_ char *s = NULL;
        int r;

        if (v->type == VALUE_STRING) {
                fputc('\'', f);
                for (const char *c = v->s; *c; c++) {
                        if (*c == '\'' || *c == '\\')
                                fputc('\\', f);
                        fputc(*c, f);
                }
                fputc('\'', f);
                return 0;
        }

        r = value_to_string(v, &s);
        if (r < 0)
                return r;
        fputs(s, f);
        return 0;
}

static int expr_write(FILE *f, const Expr *e) {
        int r;

        switch (e->type) {
        case EXPR_NAME:
                fputs(e->name, f);
                return 0;
        case EXPR_CONST:
                return value_write_repr(f, e->constant);
        case EXPR_GETATTR:
                r = expr_write(f, e->obj);
                if (r < 0)
                        return r;
                fprintf(f, ".%s", e->name);
                return 0;
        case EXPR_GETITEM:
                r = expr_write(f, e->obj);
                if (r < 0)
                        return r;
                fputc('[', f);
                r = expr_write(f, e->key);
                if (r < 0)
                        return r;
                fputc(']', f);
                return 0;
        }
        return -EINVAL;
}

/* The source form of an expression, for messages; NULL on OOM. */
static char *expr_to_string(const Expr *e) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        r = expr_write(f, e);
        if (fclose(f) != 0 || r < 0)
                return NULL;
        return TAKE_PTR(buf);
}

typedef enum ExprTokenType {
        ETOK_END,
        ETOK_NAME,
        ETOK_INT,
        ETOK_FLOAT,
        ETOK_STRING,
        ETOK_DOT,
        ETOK_LBRACKET,
        ETOK_RBRACKET,
        ETOK_OPERATOR,          /* valid Jinja, not supported by us yet */
} ExprTokenType;

typedef struct ExprLexer {
        const char *p, *end;
        /* current token */
        ExprTokenType type;
        const char *tok_start;
        size_t tok_len;
        int64_t i;
        double f;
        char *s;                /* decoded NAME or STRING */
} ExprLexer;

static bool is_name_start(char c) {
        return isalpha((unsigned char) c) || c == '_';
}

static bool is_name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

/* Jinja words that start syntax we do not support yet. */
static bool is_operator_keyword(const char *s) {
        static const char * const words[] = { "and", "or", "not", "in", "is", "if", "else" };

        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (streq(s, words[i]))
                        return true;
        return false;
}

/* Returns -EINVAL with a short reason in *reason for input that is not
 * Jinja at all. */
static int expr_lexer_next(ExprLexer *lx, const char **reason) {
        const char *p = lx->p;

        lx->s = mfree(lx->s);

        while (p < lx->end && isspace((unsigned char) *p))
                p++;
        lx->tok_start = p;

        if (p >= lx->end) {
                lx->type = ETOK_END;
                lx->tok_len = 0;
                lx->p = p;
                return 0;
        }

        if (is_name_start(*p)) {
                const char *s = p;

                while (p < lx->end && is_name_char(*p))
                        p++;
                lx->s = strndup(s, (size_t) (p - s));
                if (!lx->s)
                        return -ENOMEM;
                lx->type = is_operator_keyword(lx->s) ? ETOK_OPERATOR : ETOK_NAME;

        } else if (isdigit((unsigned char) *p)) {
                const char *s = p;
                bool is_float = false;
                _cleanup_free_ char *num = NULL;
                char *e;

                while (p < lx->end && (isdigit((unsigned char) *p) || *p == '_'))
                        p++;
                if (p + 1 < lx->end && *p == '.' && isdigit((unsigned char) p[1])) {
                        is_float = true;
                        p++;
                        while (p < lx->end && isdigit((unsigned char) *p))
                                p++;
                }

                num = strndup(s, (size_t) (p - s));
                if (!num)
                        return -ENOMEM;
                /* Python allows 1_000 */
                for (char *src = num, *dst = num; ; src++)
                        if (*src != '_' && !(*dst++ = *src))
                                break;

                errno = 0;
                if (is_float) {
                        lx->f = strtod(num, &e);
                        lx->type = ETOK_FLOAT;
                } else {
                        lx->i = strtoll(num, &e, 10);
                        lx->type = ETOK_INT;
                }
                if (errno != 0 || *e) {
                        *reason = "number out of range";
                        return -EINVAL;
                }

        } else if (*p == '\'' || *p == '"') {
                char quote = *p++;
                _cleanup_free_ char *s = NULL;
                size_t n = 0;

                s = malloc((size_t) (lx->end - p) + 1);
                if (!s)
                        return -ENOMEM;
                for (;; p++) {
                        if (p >= lx->end) {
                                *reason = "unterminated string";
                                return -EINVAL;
                        }
                        if (*p == quote)
                                break;
                        if (*p == '\\' && p + 1 < lx->end) {
                                p++;
                                switch (*p) {
                                case 'n':
                                        s[n++] = '\n';
                                        break;
                                case 't':
                                        s[n++] = '\t';
                                        break;
                                case 'r':
                                        s[n++] = '\r';
                                        break;
                                case '\\':
                                case '\'':
                                case '"':
                                        s[n++] = *p;
                                        break;
                                default:
                                        /* Python keeps unknown escapes as written */
                                        s[n++] = '\\';
                                        s[n++] = *p;
                                }
                                continue;
                        }
                        s[n++] = *p;
                }
                p++;
                s[n] = 0;
                lx->s = TAKE_PTR(s);
                lx->type = ETOK_STRING;

        } else {
                switch (*p) {
                case '.':
                        lx->type = ETOK_DOT;
                        break;
                case '[':
                        lx->type = ETOK_LBRACKET;
                        break;
                case ']':
                        lx->type = ETOK_RBRACKET;
                        break;
                default:
                        if (!strchr("|+-*/%~()<>=!,:{}", *p)) {
                                *reason = "unexpected character";
                                return -EINVAL;
                        }
                        lx->type = ETOK_OPERATOR;
                }
                p++;
        }

        lx->tok_len = (size_t) (p - lx->tok_start);
        lx->p = p;
        return 0;
}

static Expr *expr_new(ExprType type) {
        Expr *e = calloc(1, sizeof(Expr));

        if (e)
                e->type = type;
        return e;
}

/* Outcome of a parse attempt that did not produce an expression. */
typedef enum ParseFailure {
        PARSE_SYNTAX,           /* -EINVAL */
        PARSE_UNSUPPORTED,      /* -EOPNOTSUPP: valid Jinja we cannot do yet */
} ParseFailure;

typedef struct ExprParser {
        ExprLexer lx;
        const char *reason;
        ParseFailure failure;
} ExprParser;

static int parser_next(ExprParser *ps) {
        int r = expr_lexer_next(&ps->lx, &ps->reason);

        if (r == -EINVAL)
                ps->failure = PARSE_SYNTAX;
        return r;
}

static int parser_fail(ExprParser *ps, const char *reason) {
        if (ps->lx.type == ETOK_OPERATOR) {
                ps->failure = PARSE_UNSUPPORTED;
                ps->reason = "operators, filters, tests and calls";
                return -EOPNOTSUPP;
        }
        ps->failure = PARSE_SYNTAX;
        ps->reason = reason;
        return -EINVAL;
}

static int parse_primary(ExprParser *ps, Expr **ret) {
        _cleanup_expr_free_ Expr *e = NULL;
        ExprLexer *lx = &ps->lx;
        int r;

        switch (lx->type) {
        case ETOK_NAME:
                if (streq(lx->s, "true") || streq(lx->s, "True") ||
                    streq(lx->s, "false") || streq(lx->s, "False")) {
                        e = expr_new(EXPR_CONST);
                        if (!e)
                                return -ENOMEM;
                        e->constant = value_new_bool(lx->s[0] == 't' || lx->s[0] == 'T');
                } else if (streq(lx->s, "none") || streq(lx->s, "None")) {
                        e = expr_new(EXPR_CONST);
                        if (!e)
                                return -ENOMEM;
                        e->constant = value_new_null();
                } else {
                        e = expr_new(EXPR_NAME);
                        if (!e)
                                return -ENOMEM;
                        e->name = TAKE_PTR(lx->s);
                        break;
                }
                if (!e->constant)
                        return -ENOMEM;
                break;

        case ETOK_INT:
        case ETOK_FLOAT:
        case ETOK_STRING:
                e = expr_new(EXPR_CONST);
                if (!e)
                        return -ENOMEM;
                e->constant = lx->type == ETOK_INT ? value_new_int(lx->i) :
                              lx->type == ETOK_FLOAT ? value_new_float(lx->f) :
                              value_new_string_take(TAKE_PTR(lx->s));
                if (!e->constant)
                        return -ENOMEM;
                break;

        case ETOK_OPERATOR:
                /* a leading minus is Jinja's unary minus, which is supported
                 * for integer literals (negative subscripts) */
                if (lx->tok_len == 1 && *lx->tok_start == '-') {
                        r = parser_next(ps);
                        if (r < 0)
                                return r;
                        if (lx->type == ETOK_INT) {
                                e = expr_new(EXPR_CONST);
                                if (!e)
                                        return -ENOMEM;
                                e->constant = value_new_int(-lx->i);
                                if (!e->constant)
                                        return -ENOMEM;
                                break;
                        }
                        ps->failure = PARSE_UNSUPPORTED;
                        ps->reason = "unary minus on anything but an integer literal";
                        return -EOPNOTSUPP;
                }
                return parser_fail(ps, NULL);

        case ETOK_END:
                return parser_fail(ps, "expected an expression");

        default:
                return parser_fail(ps, "expected a name or a literal");
        }

        r = parser_next(ps);
        if (r < 0)
                return r;

        /* postfix chain: .attr, .0, [key] */
        for (;;) {
                _cleanup_expr_free_ Expr *n = NULL;

                if (lx->type == ETOK_DOT) {
                        r = parser_next(ps);
                        if (r < 0)
                                return r;

                        if (lx->type == ETOK_NAME) {
                                n = expr_new(EXPR_GETATTR);
                                if (!n)
                                        return -ENOMEM;
                                n->name = TAKE_PTR(lx->s);
                        } else if (lx->type == ETOK_INT) {
                                /* Jinja reads "items.0" as items[0] */
                                n = expr_new(EXPR_GETITEM);
                                if (!n)
                                        return -ENOMEM;
                                n->key = expr_new(EXPR_CONST);
                                if (!n->key)
                                        return -ENOMEM;
                                n->key->constant = value_new_int(lx->i);
                                if (!n->key->constant)
                                        return -ENOMEM;
                        } else
                                return parser_fail(ps, "expected an attribute name after '.'");

                        r = parser_next(ps);
                        if (r < 0)
                                return r;

                } else if (lx->type == ETOK_LBRACKET) {
                        r = parser_next(ps);
                        if (r < 0)
                                return r;

                        n = expr_new(EXPR_GETITEM);
                        if (!n)
                                return -ENOMEM;
                        r = parse_primary(ps, &n->key);
                        if (r < 0)
                                return r;
                        if (lx->type != ETOK_RBRACKET)
                                return parser_fail(ps, "expected ']'");
                        r = parser_next(ps);
                        if (r < 0)
                                return r;
                } else
                        break;

                n->obj = TAKE_PTR(e);
                e = TAKE_PTR(n);
        }

        *ret = TAKE_PTR(e);
        return 0;
}

/* Parse the content of a {{ }} tag. */
static int parse_expression(const char *s, size_t len, unsigned line, Expr **ret, char **ret_error) {
        _cleanup_expr_free_ Expr *e = NULL;
        _cleanup_free_ char *src = NULL;
        ExprParser ps = {
                .lx.p = s,
                .lx.end = s + len,
        };
        int r;

        r = parser_next(&ps);
        if (r >= 0)
                r = parse_primary(&ps, &e);
        if (r >= 0 && ps.lx.type != ETOK_END)
                r = parser_fail(&ps, "unexpected text after the expression");
        free(ps.lx.s);

        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                src = snippet(s, len);
                if (!src)
                        return -ENOMEM;
                if (r == -EOPNOTSUPP)
                        return set_error(ret_error, r,
                                         "template expression '{{ %s }}' uses %s, which are not supported yet (line %u)",
                                         src, ps.reason, line);
                return set_error(ret_error, -EINVAL,
                                 "syntax error in template expression '{{ %s }}': %s (line %u)",
                                 src, ps.reason ?: "invalid expression", line);
        }

        *ret = TAKE_PTR(e);
        return 0;
}

/* ---- parser --------------------------------------------------------- */

typedef enum NodeType {
        NODE_TEXT,
        NODE_OUTPUT,
} NodeType;

typedef struct Node {
        NodeType type;
        unsigned line;
        const char *text;       /* TEXT, points into the template */
        size_t len;
        Expr *expr;             /* OUTPUT */
} Node;

typedef struct Template {
        Node *nodes;
        size_t n;
} Template;

static void template_done(Template *t) {
        for (size_t i = 0; i < t->n; i++)
                expr_free(t->nodes[i].expr);
        t->nodes = mfree(t->nodes);
        t->n = 0;
}

static int template_parse(const TokenList *tokens, Template *ret, char **ret_error) {
        _cleanup_(template_done) Template t = {};
        int r;

        t.nodes = calloc(MAX(tokens->n, (size_t) 1), sizeof(Node));
        if (!t.nodes)
                return -ENOMEM;

        for (size_t i = 0; i < tokens->n; i++) {
                const Token *tok = tokens->tokens + i;
                _cleanup_free_ char *src = NULL;

                switch (tok->type) {
                case TOKEN_TEXT:
                        t.nodes[t.n++] = (Node) {
                                .type = NODE_TEXT,
                                .line = tok->line,
                                .text = tok->start,
                                .len = tok->len,
                        };
                        break;

                case TOKEN_COMMENT:
                        break;

                case TOKEN_OUTPUT:
                        t.nodes[t.n] = (Node) {
                                .type = NODE_OUTPUT,
                                .line = tok->line,
                        };
                        r = parse_expression(tok->start, tok->len, tok->line, &t.nodes[t.n].expr, ret_error);
                        if (r < 0)
                                return r;
                        t.n++;
                        break;

                case TOKEN_STATEMENT:
                        src = snippet(tok->start, tok->len);
                        if (!src)
                                return -ENOMEM;
                        return set_error(ret_error, -EOPNOTSUPP,
                                         "template statement '{%% %s %%}' is not supported yet (line %u)",
                                         src, tok->line);
                }
        }

        *ret = t;
        t = (Template) {};
        return 0;
}

/* ---- rendering ------------------------------------------------------ */

static bool parse_index(const char *s, int64_t *ret) {
        char *e;
        long long v;

        if (!*s || isspace((unsigned char) *s))
                return false;
        errno = 0;
        v = strtoll(s, &e, 10);
        if (errno != 0 || *e)
                return false;
        *ret = v;
        return true;
}

/* Shared by template expressions and format placeholders: obj[key] with
 * key an int or a string.  Returns NULL when there is no such item. */
static const Value *value_get_item(const Value *obj, const Value *key) {
        if (obj->type == VALUE_LIST) {
                int64_t i;

                if (key->type == VALUE_INT)
                        i = key->i;
                else if (key->type != VALUE_STRING || !parse_index(key->s, &i))
                        return NULL;
                if (i < 0)
                        i += (int64_t) obj->list.n;
                if (i < 0 || (uint64_t) i >= obj->list.n)
                        return NULL;
                return obj->list.items[i];
        }

        if (obj->type == VALUE_MAP) {
                char buf[32];

                if (key->type == VALUE_STRING)
                        return value_map_get(obj, key->s);
                /* YAML map keys are strings to us: items[1] finds key "1" */
                if (key->type == VALUE_INT) {
                        (void) snprintf(buf, sizeof(buf), "%" PRIi64, key->i);
                        return value_map_get(obj, buf);
                }
                if (key->type == VALUE_BOOL)
                        return value_map_get(obj, key->b ? "True" : "False") ?: value_map_get(obj, key->b ? "true" : "false");
        }

        return NULL;
}

static int eval_lookup_error(const Expr *e, const Expr *obj, const Value *key, unsigned line, char **ret_error) {
        _cleanup_free_ char *o = NULL, *k = NULL;
        size_t size = 0;
        FILE *f;
        int r = 0;

        o = expr_to_string(obj);
        if (!o)
                return -ENOMEM;

        if (e->type == EXPR_GETATTR)
                return set_error(ret_error, -ENOENT, "'%s' has no attribute '%s' (line %u)", o, e->name, line);

        f = open_memstream(&k, &size);
        if (!f)
                return -ENOMEM;
        r = value_write_repr(f, key);
        if (fclose(f) != 0 || r < 0)
                return r < 0 ? r : -ENOMEM;

        return set_error(ret_error, -ENOENT, "'%s' has no item %s (line %u)", o, k, line);
}

static int eval(const Expr *e, const Value *context, unsigned line, const Value **ret, char **ret_error) {
        const Value *obj, *key, *v;
        int r;

        switch (e->type) {
        case EXPR_NAME:
                v = value_map_get(context, e->name);
                if (!v)
                        return set_error(ret_error, -ENOENT, "undefined variable '%s' (line %u)", e->name, line);
                *ret = v;
                return 0;

        case EXPR_CONST:
                *ret = e->constant;
                return 0;

        case EXPR_GETATTR:
                r = eval(e->obj, context, line, &obj, ret_error);
                if (r < 0)
                        return r;
                v = value_map_get(obj, e->name);
                if (!v)
                        return eval_lookup_error(e, e->obj, NULL, line, ret_error);
                *ret = v;
                return 0;

        case EXPR_GETITEM:
                r = eval(e->obj, context, line, &obj, ret_error);
                if (r < 0)
                        return r;
                r = eval(e->key, context, line, &key, ret_error);
                if (r < 0)
                        return r;
                v = value_get_item(obj, key);
                if (!v)
                        return eval_lookup_error(e, e->obj, key, line, ret_error);
                *ret = v;
                return 0;
        }

        return -EINVAL;
}

static int template_execute(const Template *t, const Value *context, size_t max_output, char **ret, char **ret_error) {
        Buf b = { .max = max_output };
        int r;

        for (size_t i = 0; i < t->n; i++) {
                const Node *n = t->nodes + i;
                _cleanup_free_ char *s = NULL;
                const Value *v;

                switch (n->type) {
                case NODE_TEXT:
                        r = buf_append(&b, n->text, n->len);
                        break;
                case NODE_OUTPUT:
                        r = eval(n->expr, context, n->line, &v, ret_error);
                        if (r < 0)
                                goto fail;
                        r = value_to_string(v, &s);
                        if (r < 0)
                                goto fail;
                        r = buf_append(&b, s, strlen(s));
                        break;
                default:
                        r = -EINVAL;
                }
                if (r == -E2BIG) {
                        r = set_error(ret_error, -E2BIG,
                                      "rendered template exceeds the limit of %zu bytes (line %u): shorten the template or its variables",
                                      max_output, n->line);
                        goto fail;
                }
                if (r < 0)
                        goto fail;
        }

        return buf_steal(&b, ret);

fail:
        free(b.data);
        return r;
}

int template_render(const char *tmpl, const Value *context, size_t max_output, char **ret, char **ret_error) {
        _cleanup_(template_done) Template t = {};
        TokenList tokens = {};
        int r;

        if (!tmpl || !ret)
                return -EINVAL;

        r = lex(tmpl, &tokens, ret_error);
        if (r < 0)
                return r;

        r = template_parse(&tokens, &t, ret_error);
        free(tokens.tokens);
        if (r < 0)
                return r;

        return template_execute(&t, context, max_output, ret, ret_error);
}

/* ---- str.format placeholders ---------------------------------------- */

/* Resolve a Python format field name: name, then .attr and [key] parts,
 * where key is an index when it is all digits and a string otherwise. */
static int resolve_field(const char *field, const char *s, const Value *context, const Value **ret, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        const char *p = field, *q;
        const Value *v;
        size_t l;

        l = strcspn(p, ".[");
        if (l == 0)
                return set_error(ret_error, -EINVAL,
                                 "placeholder '{%s}' in '%s' has no name: positional placeholders are not supported, use a name",
                                 field, s);
        name = strndup(p, l);
        if (!name)
                return -ENOMEM;
        v = value_map_get(context, name);
        if (!v)
                return set_error(ret_error, -ENOENT,
                                 "unknown placeholder '{%s}' in '%s': no value named '%s'; write '{{' and '}}' for literal braces",
                                 field, s, name);
        p += l;

        while (*p) {
                _cleanup_free_ char *part = NULL;
                const Value *item;

                if (*p == '.') {
                        p++;
                        l = strcspn(p, ".[");
                        if (l == 0)
                                return set_error(ret_error, -EINVAL,
                                                 "empty attribute in placeholder '{%s}' in '%s'", field, s);
                        part = strndup(p, l);
                        if (!part)
                                return -ENOMEM;
                        item = value_map_get(v, part);
                        p += l;
                } else if (*p == '[') {
                        Value key = { .type = VALUE_STRING };

                        p++;
                        q = strchr(p, ']');
                        if (!q || q == p)
                                return set_error(ret_error, -EINVAL,
                                                 "bad subscript in placeholder '{%s}' in '%s'", field, s);
                        part = strndup(p, (size_t) (q - p));
                        if (!part)
                                return -ENOMEM;
                        key.s = part;
                        item = value_get_item(v, &key);
                        p = q + 1;
                } else
                        return set_error(ret_error, -EINVAL,
                                         "unexpected '%c' in placeholder '{%s}' in '%s'", *p, field, s);

                if (!item)
                        return set_error(ret_error, -ENOENT,
                                         "placeholder '{%s}' in '%s' refers to '%s', which does not exist",
                                         field, s, part);
                v = item;
        }

        *ret = v;
        return 0;
}

/* Where in bash's quoting a placeholder sits.  Sample scores put
 * placeholders inside double quotes ("{workspace}/x.md") and inside single
 * quotes nested in double quotes (python3 -c "open('{workspace}/x')");
 * wrapping the value in single quotes there would put literal quote
 * characters into the path.  So the value is escaped for the context it
 * lands in, which keeps it one literal string to bash in every case. */
typedef enum ShellMode {
        SHELL_UNQUOTED,
        SHELL_SUBST,            /* inside $( ), unquoted, ends at the matching ) */
        SHELL_SINGLE,
        SHELL_DOUBLE,
} ShellMode;

typedef struct ShellFrame {
        ShellMode mode;
        unsigned parens;        /* nested ( ) inside an unquoted frame */
} ShellFrame;

typedef struct ShellState {
        ShellFrame *frames;     /* frames[n - 1] is current; empty means unquoted top level */
        size_t n;
        bool escaped;           /* the previous character was an unquoted backslash */
} ShellState;

static ShellMode shell_mode(const ShellState *st) {
        return st->n > 0 ? st->frames[st->n - 1].mode : SHELL_UNQUOTED;
}

static int shell_push(ShellState *st, ShellMode mode) {
        ShellFrame *f;

        f = reallocarray(st->frames, st->n + 1, sizeof(ShellFrame));
        if (!f)
                return -ENOMEM;
        st->frames = f;
        st->frames[st->n++] = (ShellFrame) { .mode = mode };
        return 0;
}

/* Track quoting across literal text. Heredocs, backticks and $'...' are
 * not followed; placeholders in them get the quoting of the outer context. */
static int shell_feed(ShellState *st, const char *s, size_t len) {
        int r;

        for (size_t i = 0; i < len; i++) {
                ShellMode m = shell_mode(st);
                char c = s[i];

                if (st->escaped) {
                        st->escaped = false;
                        continue;
                }

                switch (m) {
                case SHELL_SINGLE:
                        if (c == '\'')
                                st->n--;
                        break;

                case SHELL_DOUBLE:
                        if (c == '\\')
                                st->escaped = true;
                        else if (c == '"')
                                st->n--;
                        else if (c == '$' && i + 1 < len && s[i + 1] == '(') {
                                i++;
                                r = shell_push(st, SHELL_SUBST);
                                if (r < 0)
                                        return r;
                        }
                        break;

                case SHELL_UNQUOTED:
                case SHELL_SUBST:
                        if (c == '\\')
                                st->escaped = true;
                        else if (c == '\'' || c == '"') {
                                r = shell_push(st, c == '\'' ? SHELL_SINGLE : SHELL_DOUBLE);
                                if (r < 0)
                                        return r;
                        } else if (c == '$' && i + 1 < len && s[i + 1] == '(') {
                                i++;
                                r = shell_push(st, SHELL_SUBST);
                                if (r < 0)
                                        return r;
                        } else if (c == '(' && st->n > 0)
                                st->frames[st->n - 1].parens++;
                        else if (c == ')' && st->n > 0) {
                                if (st->frames[st->n - 1].parens > 0)
                                        st->frames[st->n - 1].parens--;
                                else if (m == SHELL_SUBST)
                                        st->n--;
                        }
                        break;
                }
        }
        return 0;
}

static char *shell_escape_double(const char *s) {
        size_t n = 0;
        char *ret, *p;

        for (const char *c = s; *c; c++)
                n += strchr("$`\"\\", *c) ? 2 : 1;
        ret = malloc(n + 1);
        if (!ret)
                return NULL;
        for (p = ret; *s; s++) {
                if (strchr("$`\"\\", *s))
                        *p++ = '\\';
                *p++ = *s;
        }
        *p = 0;
        return ret;
}

static char *shell_escape_single(const char *s) {
        size_t n = 0;
        char *ret, *p;

        for (const char *c = s; *c; c++)
                n += *c == '\'' ? 4 : 1;
        ret = malloc(n + 1);
        if (!ret)
                return NULL;
        for (p = ret; *s; s++) {
                if (*s == '\'') {
                        memcpy(p, "'\\''", 4);
                        p += 4;
                } else
                        *p++ = *s;
        }
        *p = 0;
        return ret;
}

char *shell_quote(const char *s) {
        _cleanup_free_ char *e = shell_escape_single(strempty(s));

        if (!e)
                return NULL;
        return strdup_printf("'%s'", e);
}

static char *shell_quote_for(const ShellState *st, const char *s) {
        switch (shell_mode(st)) {
        case SHELL_SINGLE:
                return shell_escape_single(s);
        case SHELL_DOUBLE:
                return shell_escape_double(s);
        default:
                return shell_quote(s);
        }
}

/* "{name}" (with optional .attr / [key]) naming something in the context:
 * the value and the closing brace. Anything else is not a placeholder. */
static bool placeholder_field(const char *p, const Value *context, const Value **ret, const char **ret_end) {
        _cleanup_free_ char *field = NULL;
        const char *end = p + 1 + strcspn(p + 1, "{}");
        const Value *v = NULL;

        if (*end != '}' || !(isalpha((unsigned char) p[1]) || p[1] == '_'))
                return false;
        for (const char *q = p + 1; q < end; q++)
                if (!isalnum((unsigned char) *q) && !strchr("_.[]'\"", *q))
                        return false;
        field = strndup(p + 1, (size_t) (end - p - 1));
        if (!field || resolve_field(field, field, context, &v, NULL) < 0)
                return false;
        *ret = v;
        *ret_end = end;
        return true;
}

int template_format_placeholders(const char *s, const Value *context, bool quote, char **ret, char **ret_error) {
        ShellState shell = {};
        Buf b = { .max = SIZE_MAX };
        const Value *v = NULL;
        const char *end = NULL;
        int r = 0;

        (void) ret_error;   /* nothing here can be wrong any more, only unknown */

        if (!s || !ret)
                return -EINVAL;

        for (const char *p = s; *p; ) {
                if ((*p == '{' && p[1] == '{') || (*p == '}' && p[1] == '}')) {
                        r = buf_append(&b, p, 1);
                        if (r >= 0 && quote)
                                r = shell_feed(&shell, p, 1);
                        p += 2;
                } else if (*p == '{' && placeholder_field(p, context, &v, &end)) {
                        _cleanup_free_ char *str = NULL, *quoted = NULL;

                        r = value_to_string(v, &str);
                        if (r < 0)
                                break;
                        if (quote) {
                                /* a backslash right before the placeholder escaped
                                 * nothing of ours */
                                shell.escaped = false;
                                quoted = shell_quote_for(&shell, str);
                                if (!quoted) {
                                        r = -ENOMEM;
                                        break;
                                }
                        }
                        r = buf_append(&b, quoted ?: str, strlen(quoted ?: str));
                        p = end + 1;
                } else {
                        /* anything else is the command's own text, braces
                         * included: ${var}, {a,b} expansions, inline code */
                        size_t l = 1 + strcspn(p + 1, "{}");

                        r = buf_append(&b, p, l);
                        if (r >= 0 && quote)
                                r = shell_feed(&shell, p, l);
                        p += l;
                }
                if (r < 0)
                        break;
        }

        free(shell.frames);
        if (r < 0) {
                free(b.data);
                return r;
        }
        return buf_steal(&b, ret);
}

/* ---- validation conditions ------------------------------------------ */

typedef enum CompareOp {
        OP_EQ,
        OP_NE,
        OP_LT,
        OP_LE,
        OP_GT,
        OP_GE,
} CompareOp;

static const char *skip_space(const char *p) {
        while (isspace((unsigned char) *p))
                p++;
        return p;
}

static int parse_clause(const char *condition, const char **pp, const Value *context, bool *ret, char **ret_error) {
        _cleanup_free_ char *name = NULL;
        const char *p = skip_space(*pp), *s;
        const Value *v;
        CompareOp op;
        long long n;
        char *e;

        s = p;
        if (!is_name_start(*p))
                return set_error(ret_error, -EINVAL,
                                 "condition '%s': expected a variable name at offset %zu (clauses are 'name op integer' joined by 'and')",
                                 condition, (size_t) (p - condition));
        while (is_name_char(*p))
                p++;
        name = strndup(s, (size_t) (p - s));
        if (!name)
                return -ENOMEM;
        if (streq(name, "and"))
                return set_error(ret_error, -EINVAL, "condition '%s': 'and' without a clause before it", condition);

        p = skip_space(p);
        if (startswith(p, "==")) {
                op = OP_EQ;
                p += 2;
        } else if (startswith(p, "!=")) {
                op = OP_NE;
                p += 2;
        } else if (startswith(p, "<=")) {
                op = OP_LE;
                p += 2;
        } else if (startswith(p, ">=")) {
                op = OP_GE;
                p += 2;
        } else if (*p == '<') {
                op = OP_LT;
                p++;
        } else if (*p == '>') {
                op = OP_GT;
                p++;
        } else
                return set_error(ret_error, -EINVAL,
                                 "condition '%s': expected one of == != < <= > >= after '%s'",
                                 condition, name);

        p = skip_space(p);
        if (!isdigit((unsigned char) *p) && !((*p == '-' || *p == '+') && isdigit((unsigned char) p[1])))
                return set_error(ret_error, -EINVAL,
                                 "condition '%s': expected an integer after the operator following '%s'",
                                 condition, name);
        errno = 0;
        n = strtoll(p, &e, 10);
        if (errno != 0)
                return set_error(ret_error, -EINVAL, "condition '%s': integer out of range", condition);
        if (is_name_char(*e))
                return set_error(ret_error, -EINVAL,
                                 "condition '%s': '%.*s' is not an integer",
                                 condition, (int) (strcspn(p, " \t\n")), p);
        p = e;

        v = value_map_get(context, name);
        if (!v)
                return set_error(ret_error, -ENOENT, "condition '%s': unknown variable '%s'", condition, name);
        if (v->type != VALUE_INT)
                return set_error(ret_error, -EINVAL,
                                 "condition '%s': variable '%s' is a %s, not an integer",
                                 condition, name, value_type_to_string(v->type));

        switch (op) {
        case OP_EQ:
                *ret = v->i == n;
                break;
        case OP_NE:
                *ret = v->i != n;
                break;
        case OP_LT:
                *ret = v->i < n;
                break;
        case OP_LE:
                *ret = v->i <= n;
                break;
        case OP_GT:
                *ret = v->i > n;
                break;
        case OP_GE:
                *ret = v->i >= n;
                break;
        }

        *pp = p;
        return 0;
}

int template_eval_condition(const char *condition, const Value *context, bool *ret, char **ret_error) {
        const char *p;
        bool result = true;
        int r;

        if (!ret)
                return -EINVAL;

        if (!condition || !*skip_space(condition)) {
                *ret = true;
                return 0;
        }

        p = condition;
        for (;;) {
                bool b = false;

                /* every clause is evaluated, so that a typo in a later clause is
                 * reported even when an earlier one is false */
                r = parse_clause(condition, &p, context, &b, ret_error);
                if (r < 0)
                        return r;
                result = result && b;

                p = skip_space(p);
                if (!*p)
                        break;
                if (!startswith(p, "and") || is_name_char(p[3]))
                        return set_error(ret_error, -EINVAL,
                                         "condition '%s': expected 'and' or the end at offset %zu, got '%s'",
                                         condition, (size_t) (p - condition), p);
                p += 3;
                if (!*skip_space(p))
                        return set_error(ret_error, -EINVAL, "condition '%s': 'and' without a clause after it", condition);
        }

        *ret = result;
        return 0;
}

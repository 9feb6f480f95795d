/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What validations use of templating: Python str.format-style
 * placeholders in paths and commands (shell-quoted for bash where needed),
 * and the "var op int" conditions.  Independent of the Jinja engine. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>

#include "template.h"

/* ---- helpers -------------------------------------------------------- */

typedef struct Buf {
        char *data;
        size_t n, allocated;
} Buf;

static int buf_append(Buf *b, const char *s, size_t len) {
        if (b->n + len + 1 > b->allocated) {
                size_t want = MAX(MAX(b->allocated * 2, b->n + len + 1), (size_t) 256);
                char *t = realloc(b->data, want);

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

static bool is_name_start(char c) {
        return isalpha((unsigned char) c) || c == '_';
}

static bool is_name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

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

/* obj[key] in a placeholder: key is the text between the brackets.  As in
 * Python's str.format, digits index a list or find an int key; text that
 * is not digits (or digits no int key matches) finds a string key.
 * Returns NULL when there is no such item. */
static const Value *value_get_item(const Value *obj, const char *key) {
        int64_t i;
        bool is_index = parse_index(key, &i);

        if (obj->type == VALUE_LIST) {
                if (!is_index)
                        return NULL;
                if (i < 0)
                        i += (int64_t) obj->list.n;
                if (i < 0 || (uint64_t) i >= obj->list.n)
                        return NULL;
                return obj->list.items[i];
        }

        if (obj->type == VALUE_MAP) {
                if (is_index) {
                        Value k = { .type = VALUE_INT, .i = i };
                        const Value *v = value_map_get_key(obj, &k);

                        if (v)
                                return v;
                }
                return value_map_get(obj, key);
        }

        return NULL;
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
                        p++;
                        q = strchr(p, ']');
                        if (!q || q == p)
                                return set_error(ret_error, -EINVAL,
                                                 "bad subscript in placeholder '{%s}' in '%s'", field, s);
                        part = strndup(p, (size_t) (q - p));
                        if (!part)
                                return -ENOMEM;
                        item = value_get_item(v, part);
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
        Buf b = {};
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

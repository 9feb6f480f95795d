/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Rendering: scopes as Jinja's compiled code has them (a {% for %}
 * iteration, a macro call, {% with %} and block {% set %} bodies are
 * scopes of their own; {% if %} is not), expressions, statements, macros
 * and the limits that keep hostile templates bounded: macro nesting, total
 * loop iterations, output size, and the depth of evaluation itself. */

#include <sys/resource.h>

#include "jinja-internal.h"

/* Evaluation recurses (expressions within statements within macro
 * calls); however a template nests, it fails once this much C stack is in
 * use by the render, long before the stack itself runs out. */
#define JINJA_STACK_MAX (4U * 1024U * 1024U)
#define SNIPPET_MAX 80U

/* ---- errors and accounting --------------------------------------------------- */

static char *snippet(const char *s, size_t len) {
        _cleanup_(jbuf_done) JBuf b = {};
        bool cut = len > SNIPPET_MAX;
        int r = 0;

        /* one line, so that the message stays one line */
        for (size_t i = 0; i < MIN(len, (size_t) SNIPPET_MAX) && r >= 0; i++)
                r = jbuf_putc(&b, s[i] == '\n' || s[i] == '\t' ? ' ' : s[i]);
        if (r >= 0 && cut)
                r = jbuf_puts(&b, "...");
        if (r < 0)
                return NULL;
        return jbuf_steal(&b, NULL);
}

int jr_fail(JRender *r, int code, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL, *where = NULL;
        va_list ap;

        if (r->error || code == -ENOMEM)
                return code;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return -ENOMEM;

        if (r->tag) {
                where = snippet(r->tag, r->tag_len);
                if (!where)
                        return -ENOMEM;
                r->error = strdup_printf("%s:%u: %s in %s", r->tmpl->name, r->line, msg, where);
        } else
                r->error = strdup_printf("%s:%u: %s", r->tmpl->name, r->line, msg);
        return code;
}

int jr_charge(JRender *r, uint64_t n) {
        if (n > r->max_iterations - MIN(r->iterations, r->max_iterations) ||
            r->iterations + n > r->max_iterations)
                return jr_fail(r, -ELOOP, "more than %" PRIu64 " loop iterations (or elements built) in one render",
                               r->max_iterations);
        r->iterations += n;
        return 0;
}

int jr_track_mutable(JRender *r, JValue *v) {
        JValue **t;

        if (v->tracked)
                return 0;
        t = reallocarray(r->mutables, r->n_mutables + 1, sizeof(JValue *));
        if (!t)
                return -ENOMEM;
        v->tracked = true;
        r->mutables = t;
        r->mutables[r->n_mutables++] = jv_ref(v);
        return 0;
}

/* How much stack a render may use: JINJA_STACK_MAX, or half the stack
 * limit where that is smaller. */
static size_t stack_budget(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_STACK, &rl) >= 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < JINJA_STACK_MAX)
                return (size_t) (rl.rlim_cur / 2);
        return JINJA_STACK_MAX;
}

static int check_stack(JRender *r) {
        const char *here = __builtin_frame_address(0);
        size_t used = here < r->stack_base ? (size_t) (r->stack_base - here) : (size_t) (here - r->stack_base);

        if (used > r->stack_max)
                return jr_fail(r, -ELOOP, "template nests too deeply to evaluate (macro calls within long expressions)");
        return 0;
}

static int out_put(JRender *r, JBuf *out, const char *s, size_t len) {
        int k = jbuf_put(out, s, len);

        if (k == -E2BIG)
                return jr_fail(r, -E2BIG, "rendered template exceeds the limit of %zu bytes: "
                               "shorten the template or its variables", r->max_output);
        return k;
}

static int out_value(JRender *r, JBuf *out, const JValue *v) {
        size_t before = out->n;
        int k;

        if (v->type == J_STR)
                return out_put(r, out, v->str.s, v->str.len);
        k = jv_str_append(r, v, out);
        if (k == -E2BIG) {
                out->n = before;
                return jr_fail(r, -E2BIG, "rendered template exceeds the limit of %zu bytes: "
                               "shorten the template or its variables", r->max_output);
        }
        return k;
}

/* ---- scopes -------------------------------------------------------------------- */

static JScope *scope_new(JScope *parent) {
        JScope *s = calloc(1, sizeof(JScope));

        if (s)
                s->parent = parent;
        return s;
}

static void scope_free(JScope *s);
static int scope_set(JScope *s, const char *name, JValue *v);

/* A scope for a frame of Jinja's: the names it assigns before reading
 * them start undefined, hiding outer ones (jinja-scopes.c). */
static JScope *scope_new_frame(JScope *parent, const FrameNames *hidden) {
        JScope *s = scope_new(parent);

        for (size_t i = 0; s && hidden && i < hidden->n; i++)
                if (scope_set(s, hidden->names[i], jv_undefined_lookup(NULL, hidden->names[i], false)) < 0) {
                        scope_free(s);
                        return NULL;
                }
        return s;
}

static void scope_free(JScope *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                jv_unref(s->values[i]);
        free(s->names);
        free(s->values);
        free(s);
}

/* The end of a scope's block: freed, unless a macro or loop object made
 * there may still use it, then kept until the render ends. */
static void scope_release(JRender *r, JScope *s) {
        JScope **t;

        if (!s)
                return;
        if (!s->captured) {
                scope_free(s);
                return;
        }
        t = reallocarray(r->kept, r->n_kept + 1, sizeof(JScope *));
        if (!t) {
                /* cannot keep it: leak it rather than leave a dangling closure */
                return;
        }
        r->kept = t;
        r->kept[r->n_kept++] = s;
}

static void scope_capture(JScope *s) {
        for (; s; s = s->parent)
                s->captured = true;
}

static JValue **scope_slot(JScope *s, const char *name) {
        for (size_t i = s->n; i > 0; i--)
                if (streq(s->names[i - 1], name))
                        return s->values + i - 1;
        return NULL;
}

/* Bind name in s (shadowing outer scopes); takes v, also on failure. */
static int scope_set(JScope *s, const char *name, JValue *v) {
        JValue **slot;

        if (!v)
                return -ENOMEM;
        slot = scope_slot(s, name);
        if (slot) {
                jv_unref(*slot);
                *slot = v;
                return 0;
        }
        if (s->n == s->cap) {
                size_t cap = MAX(s->cap * 2, (size_t) 4);
                const char **n = reallocarray(s->names, cap, sizeof(char *));
                JValue **vs;

                if (n)
                        s->names = n;
                vs = n ? reallocarray(s->values, cap, sizeof(JValue *)) : NULL;
                if (!vs) {
                        jv_unref(v);
                        return -ENOMEM;
                }
                s->values = vs;
                s->cap = cap;
        }
        s->names[s->n] = name;
        s->values[s->n++] = v;
        return 0;
}

static int lookup(JRender *r, JScope *s, const char *name, JValue **ret) {
        const JMethod *g;

        for (; s; s = s->parent) {
                JValue **slot = scope_slot(s, name);

                if (slot) {
                        *ret = jv_ref(*slot);
                        return 0;
                }
        }
        g = jinja_global_lookup(name);
        if (g) {
                JValue *f = calloc(1, sizeof(JValue));

                if (!f)
                        return -ENOMEM;
                f->type = J_FUNCTION;
                f->refs = 1;
                f->function = g;
                *ret = f;
                return 0;
        }
        *ret = jv_undefined_lookup(NULL, name, false);
        return *ret ? 0 : -ENOMEM;
}

/* ---- expressions ------------------------------------------------------------------ */

static int eval(JRender *r, JScope *s, const JExpr *e, JValue **ret);
static int render_body(JRender *r, JScope *s, const JBody *b, JBuf *out);

typedef struct ArgsHolder {
        JArgs args;
        JValue *kwdict;         /* keeps **kwargs names alive */
} ArgsHolder;

static void args_done(ArgsHolder *h) {
        for (size_t i = 0; i < h->args.n_pos; i++)
                jv_unref(h->args.pos[i]);
        for (size_t i = 0; i < h->args.n_kw; i++)
                jv_unref(h->args.kw[i]);
        free(h->args.pos);
        free(h->args.kw);
        free(h->args.kw_names);
        jv_unref(h->kwdict);
        *h = (ArgsHolder) {};
}

static int args_push_pos(JArgs *a, JValue *v) {
        JValue **t;

        if (!v)
                return -ENOMEM;
        t = reallocarray(a->pos, a->n_pos + 1, sizeof(JValue *));
        if (!t) {
                jv_unref(v);
                return -ENOMEM;
        }
        a->pos = t;
        a->pos[a->n_pos++] = v;
        return 0;
}

static int args_push_kw(JRender *r, JArgs *a, const char *name, JValue *v) {
        const char **n;
        JValue **t;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_kw; i++)
                if (streq(a->kw_names[i], name)) {
                        jv_unref(v);
                        return jr_fail(r, -EINVAL, "got multiple values for keyword argument '%s'", name);
                }
        n = reallocarray(a->kw_names, a->n_kw + 1, sizeof(char *));
        if (n)
                a->kw_names = n;
        t = n ? reallocarray(a->kw, a->n_kw + 1, sizeof(JValue *)) : NULL;
        if (!t) {
                jv_unref(v);
                return -ENOMEM;
        }
        a->kw = t;
        a->kw_names[a->n_kw] = name;
        a->kw[a->n_kw++] = v;
        return 0;
}

static int eval_args(JRender *r, JScope *s, const JCallSyntax *c, ArgsHolder *h) {
        int k;

        for (size_t i = 0; i < c->n_pos; i++) {
                JValue *v;

                k = eval(r, s, c->pos[i], &v);
                if (k < 0)
                        return k;
                k = args_push_pos(&h->args, v);
                if (k < 0)
                        return k;
        }
        if (c->dyn_args) {
                _cleanup_jv_ JValue *v = NULL, *items = NULL;

                k = eval(r, s, c->dyn_args, &v);
                if (k >= 0)
                        k = jv_iterate(r, v, &items);
                for (size_t i = 0; k >= 0 && i < items->seq.n; i++)
                        k = args_push_pos(&h->args, jv_ref(items->seq.items[i]));
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < c->n_kw; i++) {
                JValue *v;

                k = eval(r, s, c->kw[i], &v);
                if (k < 0)
                        return k;
                k = args_push_kw(r, &h->args, c->kw_names[i], v);
                if (k < 0)
                        return k;
        }
        if (c->dyn_kwargs) {
                k = eval(r, s, c->dyn_kwargs, &h->kwdict);
                if (k < 0)
                        return k;
                k = jr_check_defined(r, h->kwdict);
                if (k < 0)
                        return k;
                if (h->kwdict->type != J_DICT)
                        return jr_fail(r, -EINVAL, "argument after ** must be a mapping, not %s",
                                       jv_type_name(h->kwdict));
                for (size_t i = 0; i < h->kwdict->dict.n; i++) {
                        const JValue *key = h->kwdict->dict.keys[i];

                        if (key->type != J_STR)
                                return jr_fail(r, -EINVAL, "keywords must be strings");
                        k = args_push_kw(r, &h->args, key->str.s, jv_ref(h->kwdict->dict.values[i]));
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

static int eval_seq(JRender *r, JScope *s, const JExpr *e, JSeqKind kind, JValue **ret) {
        _cleanup_jv_ JValue *l = jv_seq(kind);
        int k;

        if (!l)
                return -ENOMEM;
        k = jr_charge(r, e->n_items / 16);
        for (size_t i = 0; k >= 0 && i < e->n_items; i++) {
                JValue *v;

                k = eval(r, s, e->items[i], &v);
                if (k >= 0)
                        k = jv_seq_push(l, v);
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(l);
        return 0;
}

static int eval_dict(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *d = jv_dict();
        int k;

        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < e->n_items; i += 2) {
                _cleanup_jv_ JValue *key = NULL;
                JValue *value;

                k = eval(r, s, e->items[i], &key);
                if (k >= 0)
                        k = jv_check_hashable(r, key);
                if (k >= 0)
                        k = eval(r, s, e->items[i + 1], &value);
                if (k >= 0)
                        k = jv_dict_set(d, TAKE_PTR(key), value);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

static int eval_getitem(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *obj = NULL, *key = NULL, *start = NULL, *stop = NULL, *step = NULL;
        const JExpr *sl = e->b;
        int k;

        k = eval(r, s, e->a, &obj);
        if (k < 0)
                return k;
        if (sl->kind != JE_SLICE) {
                k = eval(r, s, sl, &key);
                if (k < 0)
                        return k;
                r->line = e->line;
                return jv_getitem(r, obj, key, ret);
        }
        if (sl->a && (k = eval(r, s, sl->a, &start)) < 0)
                return k;
        if (sl->b && (k = eval(r, s, sl->b, &stop)) < 0)
                return k;
        if (sl->c && (k = eval(r, s, sl->c, &step)) < 0)
                return k;
        r->line = e->line;
        return jv_slice(r, obj, start, stop, step, ret);
}

static int eval_and_or(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *left = NULL;
        bool t;
        int k;

        k = eval(r, s, e->a, &left);
        if (k >= 0)
                k = jv_truth(r, left, &t);
        if (k < 0)
                return k;
        /* Python's and/or give back an operand, not a bool */
        if (t == (e->kind == JE_OR)) {
                *ret = TAKE_PTR(left);
                return 0;
        }
        return eval(r, s, e->b, ret);
}

static int eval_concat(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        size_t len;
        char *str;
        int k;

        for (size_t i = 0; i < e->n_items; i++) {
                _cleanup_jv_ JValue *v = NULL;

                k = eval(r, s, e->items[i], &v);
                if (k >= 0)
                        k = jv_str_append(r, v, &b);
                if (k < 0)
                        return k;
        }
        k = jr_charge(r, b.n / 64);
        if (k < 0)
                return k;
        str = jbuf_steal(&b, &len);
        *ret = jv_str_take(str, len);
        return *ret ? 0 : -ENOMEM;
}

static int compare(JRender *r, JCmpOp op, const JValue *a, const JValue *b, bool *ret) {
        bool x = false, y = false;
        int k;

        switch (op) {
        case JC_EQ:
        case JC_NE:
                k = jv_equal(r, a, b, &x);
                *ret = op == JC_EQ ? x : !x;
                return k;
        case JC_LT:
                return jv_less(r, a, b, ret);
        case JC_GT:
                return jv_less(r, b, a, ret);
        case JC_LTEQ:
        case JC_GTEQ:
                /* a <= b: a < b or a == b (b >= a likewise) */
                k = op == JC_LTEQ ? jv_less(r, a, b, &x) : jv_less(r, b, a, &x);
                if (k < 0 || x) {
                        *ret = x;
                        return k;
                }
                k = jv_equal(r, a, b, &y);
                *ret = y;
                return k;
        case JC_IN:
        case JC_NOTIN:
                k = jv_contains(r, b, a, &x);
                *ret = op == JC_IN ? x : !x;
                return k;
        }
        return -EINVAL;
}

static int eval_compare(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *left = NULL;
        int k;

        k = eval(r, s, e->items[0], &left);
        if (k < 0)
                return k;
        for (size_t i = 1; i < e->n_items; i++) {
                JValue *right;
                bool t;

                k = eval(r, s, e->items[i], &right);
                if (k < 0)
                        return k;
                r->line = e->line;
                k = compare(r, e->ops[i - 1], left, right, &t);
                jv_unref(left);
                left = right;
                if (k < 0)
                        return k;
                if (!t) {
                        *ret = jv_bool(false);
                        return 0;
                }
        }
        *ret = jv_bool(true);
        return 0;
}

static int eval_cond(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *test = NULL;
        _cleanup_free_ char *hint = NULL;
        bool t;
        int k;

        k = eval(r, s, e->a, &test);
        if (k >= 0)
                k = jv_truth(r, test, &t);
        if (k < 0)
                return k;
        if (t)
                return eval(r, s, e->b, ret);
        if (e->c)
                return eval(r, s, e->c, ret);

        /* Jinja uses its plain (printable as "") Undefined here, whatever
         * the environment's undefined is */
        hint = strdup_printf("the inline if-expression on line %u evaluated to false and no else section was defined.",
                             e->line);
        if (!hint)
                return -ENOMEM;
        *ret = jv_undefined(true, hint);
        return *ret ? 0 : -ENOMEM;
}

static int eval_filter(JRender *r, JScope *s, const JExpr *e, JValue *block_value, JValue **ret) {
        _cleanup_(args_done) ArgsHolder h = {};
        _cleanup_jv_ JValue *input = NULL;
        int k = 0;

        if (!e->a)
                input = jv_ref(block_value);
        else if (e->a->kind == JE_FILTER)
                k = eval_filter(r, s, e->a, block_value, &input);
        else
                k = eval(r, s, e->a, &input);
        if (e->a && k < 0)
                return k;

        r->line = e->line;
        if (!e->filter || !e->filter->fn)
                return jinja_call_filter(r, e->name, input, NULL, ret);        /* the error */
        k = eval_args(r, s, &e->call, &h);
        if (k < 0)
                return k;
        r->line = e->line;
        return e->filter->fn(r, input, &h.args, ret);
}

static int eval_test(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_(args_done) ArgsHolder h = {};
        _cleanup_jv_ JValue *input = NULL;
        bool t;
        int k;

        k = eval(r, s, e->a, &input);
        if (k < 0)
                return k;
        r->line = e->line;
        if (!e->test)
                return jr_fail(r, -EINVAL, "unknown test '%s'", e->name);
        k = eval_args(r, s, &e->call, &h);
        if (k < 0)
                return k;
        r->line = e->line;
        k = e->test->fn(r, input, &h.args, &t);
        if (k < 0)
                return k;
        *ret = jv_bool(t);
        return 0;
}

static int eval_call(JRender *r, JScope *s, const JExpr *e, JValue *extra_caller, JValue **ret) {
        _cleanup_(args_done) ArgsHolder h = {};
        _cleanup_jv_ JValue *callee = NULL;
        int k;

        k = eval(r, s, e->a, &callee);
        if (k >= 0)
                k = eval_args(r, s, &e->call, &h);
        if (k >= 0 && extra_caller)
                k = args_push_kw(r, &h.args, "caller", jv_ref(extra_caller));
        if (k < 0)
                return k;
        r->line = e->line;
        return jinja_call_value(r, callee, &h.args, ret);
}

static int eval_inner(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        _cleanup_jv_ JValue *a = NULL, *b = NULL;
        bool t;
        int k;

        switch (e->kind) {
        case JE_CONST:
                *ret = jv_ref(e->value);
                return 0;
        case JE_NAME:
                return lookup(r, s, e->name, ret);
        case JE_GETATTR:
                k = eval(r, s, e->a, &a);
                if (k < 0)
                        return k;
                r->line = e->line;
                return jv_getattr(r, a, e->name, ret);
        case JE_GETITEM:
                return eval_getitem(r, s, e, ret);
        case JE_SLICE:
                return jr_fail(r, -EINVAL, "a slice can only be the whole subscript");
        case JE_LIST:
                return eval_seq(r, s, e, SEQ_LIST, ret);
        case JE_TUPLE:
                return eval_seq(r, s, e, SEQ_TUPLE, ret);
        case JE_DICT:
                return eval_dict(r, s, e, ret);
        case JE_BINOP:
                k = eval(r, s, e->a, &a);
                if (k >= 0)
                        k = eval(r, s, e->b, &b);
                if (k < 0)
                        return k;
                r->line = e->line;
                return jv_binop(r, e->op, a, b, ret);
        case JE_AND:
        case JE_OR:
                return eval_and_or(r, s, e, ret);
        case JE_NOT:
                k = eval(r, s, e->a, &a);
                if (k >= 0)
                        k = jv_truth(r, a, &t);
                if (k < 0)
                        return k;
                *ret = jv_bool(!t);
                return 0;
        case JE_NEG:
        case JE_POS:
                k = eval(r, s, e->a, &a);
                if (k < 0)
                        return k;
                r->line = e->line;
                return jv_negate(r, a, e->kind == JE_NEG, ret);
        case JE_CONCAT:
                return eval_concat(r, s, e, ret);
        case JE_COMPARE:
                return eval_compare(r, s, e, ret);
        case JE_COND:
                return eval_cond(r, s, e, ret);
        case JE_FILTER:
                return eval_filter(r, s, e, NULL, ret);
        case JE_TEST:
                return eval_test(r, s, e, ret);
        case JE_CALL:
                return eval_call(r, s, e, NULL, ret);
        case JE_NSREF:
                break;
        }
        return jr_fail(r, -EINVAL, "cannot evaluate this expression");
}

static int eval(JRender *r, JScope *s, const JExpr *e, JValue **ret) {
        int k;

        k = check_stack(r);
        if (k < 0)
                return k;
        r->line = e->line;
        *ret = NULL;
        k = eval_inner(r, s, e, ret);
        if (k >= 0 && !*ret)
                k = -ENOMEM;
        return k;
}

/* ---- assignment ------------------------------------------------------------------ */

static int assign(JRender *r, JScope *s, const JExpr *target, JValue *value);

static int assign_tuple(JRender *r, JScope *s, const JExpr *target, JValue *value) {
        _cleanup_jv_ JValue *items = NULL;
        int k;

        k = jv_iterate(r, value, &items);
        if (k < 0)
                return k;
        if (items->seq.n < target->n_items)
                return jr_fail(r, -EINVAL, "not enough values to unpack (expected %zu, got %zu)",
                               target->n_items, items->seq.n);
        if (items->seq.n > target->n_items)
                return jr_fail(r, -EINVAL, "too many values to unpack (expected %zu)", target->n_items);
        for (size_t i = 0; i < target->n_items; i++) {
                k = assign(r, s, target->items[i], items->seq.items[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Jinja checks every name.attr of a {% set %} target before assigning. */
static int check_namespaces(JRender *r, JScope *s, const JExpr *target) {
        _cleanup_jv_ JValue *ns = NULL;
        int k = 0;

        if (target->kind == JE_TUPLE) {
                for (size_t i = 0; k >= 0 && i < target->n_items; i++)
                        k = check_namespaces(r, s, target->items[i]);
                return k;
        }
        if (target->kind != JE_NSREF)
                return 0;
        k = lookup(r, s, target->a->name, &ns);
        if (k < 0)
                return k;
        if (ns->type != J_NAMESPACE)
                return jr_fail(r, -EINVAL, "cannot assign attribute on non-namespace object");
        return 0;
}

static int assign(JRender *r, JScope *s, const JExpr *target, JValue *value) {
        _cleanup_jv_ JValue *ns = NULL;
        int k;

        switch (target->kind) {
        case JE_NAME:
                return scope_set(s, target->name, jv_ref(value));
        case JE_TUPLE:
                return assign_tuple(r, s, target, value);
        case JE_NSREF:
                k = lookup(r, s, target->a->name, &ns);
                if (k < 0)
                        return k;
                if (ns->type != J_NAMESPACE)
                        return jr_fail(r, -EINVAL, "cannot assign attribute on non-namespace object");
                return jv_dict_set(ns->ns, jv_strz(target->name), jv_ref(value));
        default:
                return jr_fail(r, -EINVAL, "cannot assign to this expression");
        }
}

/* ---- macros ------------------------------------------------------------------------- */

static ssize_t find_kw(const JArgs *a, const char *name, const bool *used) {
        for (size_t i = 0; i < a->n_kw; i++)
                if (!used[i] && streq(a->kw_names[i], name))
                        return (ssize_t) i;
        return -1;
}

/* Jinja's Macro.__call__: positional arguments, then keywords for the
 * parameters left, then caller, kwargs, varargs. */
static int bind_macro_args(JRender *r, const JValue *macro, JScope *scope, const JArgs *args) {
        const JNode *n = macro->macro.node;
        _cleanup_free_ bool *used = calloc(args->n_kw + 1, sizeof(bool));
        size_t n_pos = MIN(args->n_pos, n->n_params);
        bool found_caller = false;
        int k;

        if (!used)
                return -ENOMEM;

        for (size_t i = 0; i < n->n_params; i++) {
                JValue *v = NULL;

                if (i < n_pos)
                        v = jv_ref(args->pos[i]);
                else {
                        ssize_t j = find_kw(args, n->params[i], used);

                        if (j >= 0) {
                                used[j] = true;
                                v = jv_ref(args->kw[j]);
                        }
                }
                if (streq(n->params[i], "caller"))
                        found_caller = true;
                if (v) {
                        k = scope_set(scope, n->params[i], v);
                        if (k < 0)
                                return k;
                }
        }

        if (n->catch_caller && !found_caller) {
                ssize_t j = find_kw(args, "caller", used);
                JValue *caller;

                if (j >= 0) {
                        used[j] = true;
                        caller = jv_ref(args->kw[j]);
                } else
                        caller = jv_undefined(false, "No caller defined");
                k = scope_set(scope, "caller", caller);
                if (k < 0)
                        return k;
        }

        if (n->catch_kwargs) {
                _cleanup_jv_ JValue *kwargs = jv_dict();

                for (size_t i = 0; kwargs && i < args->n_kw; i++)
                        if (!used[i] && jv_dict_set(kwargs, jv_strz(args->kw_names[i]), jv_ref(args->kw[i])) < 0)
                                return -ENOMEM;
                k = scope_set(scope, "kwargs", TAKE_PTR(kwargs));
                if (k < 0)
                        return k;
        } else
                for (size_t i = 0; i < args->n_kw; i++)
                        if (!used[i]) {
                                if (streq(args->kw_names[i], "caller"))
                                        return jr_fail(r, -EINVAL,
                                                       "macro '%s' was invoked with two values for the special caller argument",
                                                       macro->macro.name);
                                return jr_fail(r, -EINVAL, "macro '%s' takes no keyword argument '%s'",
                                               macro->macro.name, args->kw_names[i]);
                        }

        if (n->catch_varargs) {
                _cleanup_jv_ JValue *varargs = jv_seq(SEQ_TUPLE);

                for (size_t i = n_pos; varargs && i < args->n_pos; i++)
                        if (jv_seq_push(varargs, jv_ref(args->pos[i])) < 0)
                                return -ENOMEM;
                k = scope_set(scope, "varargs", TAKE_PTR(varargs));
                if (k < 0)
                        return k;
        } else if (args->n_pos > n->n_params)
                return jr_fail(r, -EINVAL, "macro '%s' takes not more than %zu argument(s)",
                               macro->macro.name, n->n_params);
        return 0;
}

/* Parameters not passed: their default, evaluated in the macro's scope in
 * order (so a default may use the parameters before it), or undefined. */
static int fill_macro_defaults(JRender *r, const JNode *n, JScope *scope) {
        for (size_t i = 0; i < n->n_params; i++) {
                size_t first_default = n->n_params - n->n_defaults;
                JValue *v;
                int k;

                if (scope_slot(scope, n->params[i]))
                        continue;
                if (i >= first_default)
                        k = eval(r, scope, n->defaults[i - first_default], &v);
                else {
                        _cleanup_free_ char *hint = strdup_printf("parameter '%s' was not provided", n->params[i]);

                        if (!hint)
                                return -ENOMEM;
                        v = jv_undefined(false, hint);
                        k = v ? 0 : -ENOMEM;
                }
                if (k < 0)
                        return k;
                k = scope_set(scope, n->params[i], v);
                if (k < 0)
                        return k;
        }
        return 0;
}

int jr_call_macro(JRender *r, JValue *macro, JArgs *args, JValue **ret) {
        const char *tag = r->tag;
        size_t tag_len = r->tag_len;
        unsigned line = r->line;
        _cleanup_(jbuf_done) JBuf out = { .max = r->max_output };
        JScope *scope;
        size_t len;
        char *s;
        int k;

        if (r->depth >= r->max_depth)
                return jr_fail(r, -ELOOP, "macro calls nested more than %u deep", r->max_depth);

        scope = scope_new_frame(macro->macro.closure, &macro->macro.node->frame);
        if (!scope)
                return -ENOMEM;
        r->depth++;
        k = bind_macro_args(r, macro, scope, args);
        if (k >= 0) {
                r->tag = macro->macro.node->tag;
                r->tag_len = macro->macro.node->tag_len;
                k = fill_macro_defaults(r, macro->macro.node, scope);
        }
        if (k >= 0)
                k = render_body(r, scope, &macro->macro.node->body, &out);
        r->depth--;
        scope_release(r, scope);
        if (k < 0)
                return k;

        r->tag = tag;
        r->tag_len = tag_len;
        r->line = line;
        s = jbuf_steal(&out, &len);
        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

static int make_macro(JRender *r, const JNode *n, JScope *closure, const char *name, JValue **ret) {
        JValue *m = calloc(1, sizeof(JValue));

        (void) r;
        if (!m)
                return -ENOMEM;
        m->type = J_MACRO;
        m->refs = 1;
        m->macro.node = n;
        m->macro.closure = closure;
        m->macro.name = name;
        scope_capture(closure);
        *ret = m;
        return 0;
}

/* ---- statements ----------------------------------------------------------------------- */

static void at_node(JRender *r, const JNode *n) {
        r->tag = n->tag;
        r->tag_len = n->tag_len;
        r->line = n->line;
}

/* The items a for loop goes over: the iterable, filtered by "if cond". */
static int loop_items(JRender *r, JScope *s, const JNode *n, JValue *iterable, JValue **ret) {
        _cleanup_jv_ JValue *items = NULL, *kept = NULL;
        int k;

        k = jv_iterate(r, iterable, &items);
        if (k < 0)
                return k;
        if (!n->cond) {
                *ret = TAKE_PTR(items);
                return 0;
        }

        kept = jv_seq(SEQ_LIST);
        if (!kept)
                return -ENOMEM;
        for (size_t i = 0; i < items->seq.n; i++) {
                _cleanup_jv_ JValue *test = NULL;
                JScope *t = scope_new(s);
                bool pass = false;

                if (!t)
                        return -ENOMEM;
                k = jr_charge(r, 1);
                if (k >= 0)
                        k = assign(r, t, n->target, items->seq.items[i]);
                if (k >= 0)
                        k = eval(r, t, n->cond, &test);
                if (k >= 0)
                        k = jv_truth(r, test, &pass);
                scope_release(r, t);
                if (k >= 0 && pass)
                        k = jv_seq_push(kept, jv_ref(items->seq.items[i]));
                if (k < 0)
                        return k;
                at_node(r, n);
        }
        *ret = TAKE_PTR(kept);
        return 0;
}

static int new_loop(const JNode *n, JScope *s, JValue *items, unsigned depth0, JValue **ret) {
        JValue *loop = calloc(1, sizeof(JValue));

        if (!loop)
                return -ENOMEM;
        loop->type = J_LOOP;
        loop->refs = 1;
        loop->loop.items = jv_ref(items);
        loop->loop.depth0 = depth0;
        loop->loop.node = n;
        loop->loop.scope = s;
        if (n->recursive)
                scope_capture(s);
        *ret = loop;
        return 0;
}

static int render_for_items(JRender *r, JScope *s, const JNode *n, JValue *iterable, unsigned depth0, JBuf *out) {
        _cleanup_jv_ JValue *items = NULL, *loop = NULL;
        int k;

        k = loop_items(r, s, n, iterable, &items);
        if (k < 0)
                return k;

        if (items->seq.n == 0) {
                JScope *t = scope_new_frame(s, &n->else_frame);

                if (!t)
                        return -ENOMEM;
                k = render_body(r, t, &n->orelse, out);
                scope_release(r, t);
                return k;
        }

        k = new_loop(n, s, items, depth0, &loop);
        if (k < 0)
                return k;
        for (size_t i = 0; i < items->seq.n; i++) {
                JScope *t = scope_new_frame(s, &n->frame);

                if (!t)
                        return -ENOMEM;
                at_node(r, n);
                loop->loop.index0 = i;
                k = jr_charge(r, 1);
                if (k >= 0)
                        k = scope_set(t, "loop", jv_ref(loop));
                if (k >= 0)
                        k = assign(r, t, n->target, items->seq.items[i]);
                if (k >= 0)
                        k = render_body(r, t, &n->body, out);
                scope_release(r, t);
                if (k < 0)
                        return k;
        }
        return 0;
}

int jr_call_loop(JRender *r, JValue *loop, JArgs *args, JValue **ret) {
        _cleanup_(jbuf_done) JBuf out = { .max = r->max_output };
        const char *tag = r->tag;
        size_t tag_len = r->tag_len, len;
        char *s;
        int k;

        if (!loop->loop.node->recursive)
                return jr_fail(r, -EINVAL, "the loop must have the 'recursive' marker to be called recursively");
        if (args->n_pos != 1 || args->n_kw != 0)
                return jr_fail(r, -EINVAL, "loop() takes exactly one argument (%zu given)", args->n_pos + args->n_kw);
        if (r->depth >= r->max_depth)
                return jr_fail(r, -ELOOP, "recursive loop nested more than %u deep", r->max_depth);

        r->depth++;
        k = render_for_items(r, loop->loop.scope, loop->loop.node, args->pos[0], loop->loop.depth0 + 1, &out);
        r->depth--;
        if (k < 0)
                return k;
        r->tag = tag;
        r->tag_len = tag_len;
        s = jbuf_steal(&out, &len);
        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

static int render_for(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        _cleanup_jv_ JValue *iterable = NULL;
        int k;

        k = eval(r, s, n->expr, &iterable);
        if (k < 0)
                return k;
        at_node(r, n);
        return render_for_items(r, s, n, iterable, 0, out);
}

/* A block's body rendered into a string, in a scope of its own. */
static int render_to_string(JRender *r, JScope *s, const JNode *n, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = { .max = r->max_output };
        JScope *t = scope_new_frame(s, &n->frame);
        size_t len;
        char *str;
        int k;

        if (!t)
                return -ENOMEM;
        k = render_body(r, t, &n->body, &b);
        scope_release(r, t);
        if (k < 0)
                return k;
        str = jbuf_steal(&b, &len);
        *ret = jv_str_take(str, len);
        return *ret ? 0 : -ENOMEM;
}

static int render_set_block(JRender *r, JScope *s, const JNode *n) {
        _cleanup_jv_ JValue *body = NULL, *value = NULL;
        int k;

        k = render_to_string(r, s, n, &body);
        if (k < 0)
                return k;
        at_node(r, n);
        if (n->expr) {
                k = eval_filter(r, s, n->expr, body, &value);
                if (k < 0)
                        return k;
        } else
                value = TAKE_PTR(body);
        return assign(r, s, n->target, value);
}

static int render_filter_block(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        _cleanup_jv_ JValue *body = NULL, *value = NULL;
        int k;

        k = render_to_string(r, s, n, &body);
        if (k < 0)
                return k;
        at_node(r, n);
        k = eval_filter(r, s, n->expr, body, &value);
        if (k < 0)
                return k;
        return out_value(r, out, value);
}

static int render_call_block(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        _cleanup_jv_ JValue *caller = NULL, *result = NULL;
        int k;

        k = make_macro(r, n, s, "caller", &caller);
        if (k >= 0)
                k = eval_call(r, s, n->expr, caller, &result);
        if (k < 0)
                return k;
        return out_value(r, out, result);
}

static int render_with(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        JScope *t = scope_new_frame(s, &n->frame);
        int k = 0;

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; k >= 0 && i < n->n_with; i++) {
                _cleanup_jv_ JValue *v = NULL;

                /* values see the enclosing scope only */
                k = eval(r, s, n->with_values[i], &v);
                if (k >= 0)
                        k = assign(r, t, n->with_targets[i], v);
        }
        if (k >= 0)
                k = render_body(r, t, &n->body, out);
        scope_release(r, t);
        return k;
}

static int render_if(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        _cleanup_jv_ JValue *test = NULL;
        bool t;
        int k;

        k = eval(r, s, n->expr, &test);
        if (k >= 0)
                k = jv_truth(r, test, &t);
        if (k < 0)
                return k;
        return render_body(r, s, t ? &n->body : &n->orelse, out);
}

static int render_node(JRender *r, JScope *s, const JNode *n, JBuf *out) {
        _cleanup_jv_ JValue *v = NULL;
        int k;

        at_node(r, n);
        switch (n->kind) {
        case JN_DATA:
                r->tag = NULL;  /* text is no construct to quote */
                return out_put(r, out, n->text, n->len);
        case JN_OUTPUT:
                k = eval(r, s, n->expr, &v);
                if (k < 0)
                        return k;
                at_node(r, n);
                return out_value(r, out, v);
        case JN_IF:
                return render_if(r, s, n, out);
        case JN_FOR:
                return render_for(r, s, n, out);
        case JN_SET:
                k = eval(r, s, n->expr, &v);
                if (k < 0)
                        return k;
                at_node(r, n);
                k = check_namespaces(r, s, n->target);
                if (k < 0)
                        return k;
                return assign(r, s, n->target, v);
        case JN_SETBLOCK:
                return render_set_block(r, s, n);
        case JN_MACRO:
                k = make_macro(r, n, s, n->name, &v);
                if (k < 0)
                        return k;
                return scope_set(s, n->name, TAKE_PTR(v));
        case JN_CALLBLOCK:
                return render_call_block(r, s, n, out);
        case JN_FILTERBLOCK:
                return render_filter_block(r, s, n, out);
        case JN_WITH:
                return render_with(r, s, n, out);
        }
        return -EINVAL;
}

static int render_body(JRender *r, JScope *s, const JBody *b, JBuf *out) {
        int k;

        k = check_stack(r);
        for (size_t i = 0; k >= 0 && i < b->n; i++)
                k = render_node(r, s, b->nodes[i], out);
        return k;
}

/* ---- the render --------------------------------------------------------------------- */

static int make_globals(const Value *context, JScope **ret) {
        JScope *g = scope_new(NULL);
        int k;

        if (!g)
                return -ENOMEM;
        for (size_t i = 0; context && context->type == VALUE_MAP && i < context->map.n; i++) {
                JValue *v;

                /* only string keys can be variable names */
                if (context->map.keys[i]->type != VALUE_STRING)
                        continue;
                k = jv_from_value(context->map.values[i], &v);
                if (k >= 0)
                        k = scope_set(g, context->map.keys[i]->s, v);
                if (k < 0) {
                        scope_free(g);
                        return k;
                }
        }
        *ret = g;
        return 0;
}

/* Empty a tracked container: whatever cycle runs through it is broken. */
static void empty_container(JValue *v) {
        JValue *old;

        switch (v->type) {
        case J_NAMESPACE:
                old = v->ns;
                v->ns = jv_dict();
                jv_unref(old);
                break;
        case J_SEQ:
                for (size_t i = 0; i < v->seq.n; i++)
                        jv_unref(v->seq.items[i]);
                v->seq.n = v->seq.pos = 0;
                break;
        case J_DICT:
                for (size_t i = 0; i < v->dict.n; i++) {
                        jv_unref(v->dict.keys[i]);
                        jv_unref(v->dict.values[i]);
                }
                v->dict.n = 0;
                break;
        default:
                break;
        }
}

static void render_done(JRender *r) {
        for (size_t i = 0; i < r->n_mutables; i++)
                empty_container(r->mutables[i]);
        for (size_t i = 0; i < r->n_mutables; i++)
                jv_unref(r->mutables[i]);
        free(r->mutables);
        for (size_t i = 0; i < r->n_kept; i++)
                scope_free(r->kept[i]);
        free(r->kept);
        scope_free(r->globals);
        free(r->error);
}

int jinja_render(const JTemplate *t, const Value *context, const TemplateLimits *limits,
                 char **ret, char **ret_error) {
        _cleanup_(jbuf_done) JBuf out = {};
        JRender r = {
                .tmpl = t,
                .max_output = limits && limits->max_output > 0 ? limits->max_output : TEMPLATE_OUTPUT_MAX,
                .max_depth = limits && limits->max_depth > 0 ? limits->max_depth : TEMPLATE_DEPTH_MAX,
                .max_iterations = limits && limits->max_loop_iterations > 0 ?
                        limits->max_loop_iterations : TEMPLATE_LOOP_ITERATIONS_MAX,
        };
        JScope *root;
        int k;

        out.max = r.max_output;
        r.stack_base = __builtin_frame_address(0);
        r.stack_max = stack_budget();
        k = make_globals(context, &r.globals);
        if (k < 0)
                return k;
        root = scope_new_frame(r.globals, &t->frame);
        if (!root) {
                render_done(&r);
                return -ENOMEM;
        }
        k = render_body(&r, root, &t->body, &out);
        scope_release(&r, root);
        if (k < 0) {
                if (ret_error && k != -ENOMEM) {
                        *ret_error = TAKE_PTR(r.error);
                        if (!*ret_error)
                                *ret_error = strdup_printf("%s: %s", t->name, strerror(-k));
                }
                render_done(&r);
                return k;
        }
        render_done(&r);
        *ret = jbuf_steal(&out, NULL);
        return *ret ? 0 : -ENOMEM;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Runtime values with the semantics Python gives the objects Jinja hands
 * around: str() and repr(), truth, ==, <, hashing, `in`, iteration,
 * arithmetic (ints are 64 bits here: overflow is an error, not a big
 * int), and Jinja's getattr/getitem with their undefined results. */

#include <ctype.h>
#include <math.h>

#include "jinja-internal.h"

/* ---- construction and release ----------------------------------------- */

static JValue none_value = { .type = J_NONE, .immortal = true };
static JValue true_value = { .type = J_BOOL, .immortal = true, .b = true };
static JValue false_value = { .type = J_BOOL, .immortal = true, .b = false };

static JValue *jv_new(JType type) {
        JValue *v = calloc(1, sizeof(JValue));

        if (!v)
                return NULL;
        v->type = type;
        v->refs = 1;
        return v;
}

JValue *jv_ref(JValue *v) {
        if (v && !v->immortal)
                v->refs++;
        return v;
}

/* Drop one reference to each child; those that reach zero go on the
 * worklist, so that freeing deep data never recurses. */
typedef struct FreeList {
        JValue **v;
        size_t n, cap;
} FreeList;

static void free_list_drop(FreeList *l, JValue *v) {
        if (!v || v->immortal || --v->refs > 0)
                return;
        if (l->n == l->cap) {
                size_t cap = MAX(l->cap * 2, (size_t) 16);
                JValue **t = reallocarray(l->v, cap, sizeof(JValue *));

                if (!t) {
                        /* no memory for the worklist: recurse instead */
                        v->refs = 1;
                        jv_unref(v);
                        return;
                }
                l->v = t;
                l->cap = cap;
        }
        l->v[l->n++] = v;
}

static void jv_free_one(FreeList *l, JValue *v) {
        switch (v->type) {
        case J_STR:
                free(v->str.s);
                break;
        case J_SEQ:
                for (size_t i = 0; i < v->seq.n; i++)
                        free_list_drop(l, v->seq.items[i]);
                free(v->seq.items);
                break;
        case J_DICT:
                for (size_t i = 0; i < v->dict.n; i++) {
                        free_list_drop(l, v->dict.keys[i]);
                        free_list_drop(l, v->dict.values[i]);
                }
                free(v->dict.keys);
                free(v->dict.values);
                break;
        case J_UNDEFINED:
                free(v->undef.hint);
                free(v->undef.name);
                free(v->undef.owner);
                break;
        case J_LOOP:
                free_list_drop(l, v->loop.items);
                free_list_drop(l, v->loop.changed_last);
                break;
        case J_NAMESPACE:
                free_list_drop(l, v->ns);
                break;
        case J_CYCLER:
                free_list_drop(l, v->cycler.items);
                break;
        case J_JOINER:
                free(v->joiner.sep);
                break;
        case J_METHOD:
                free_list_drop(l, v->method.self);
                break;
        default:
                break;
        }
        free(v);
}

void jv_unref(JValue *v) {
        FreeList l = {};

        free_list_drop(&l, v);
        while (l.n > 0)
                jv_free_one(&l, l.v[--l.n]);
        free(l.v);
}

JValue *jv_none(void) {
        return &none_value;
}

JValue *jv_bool(bool b) {
        return b ? &true_value : &false_value;
}

JValue *jv_int(int64_t i) {
        JValue *v = jv_new(J_INT);

        if (v)
                v->i = i;
        return v;
}

JValue *jv_float(double f) {
        JValue *v = jv_new(J_FLOAT);

        if (v)
                v->f = f;
        return v;
}

JValue *jv_str_take(char *s, size_t len) {
        JValue *v;

        if (!s)
                return NULL;
        v = jv_new(J_STR);
        if (!v) {
                free(s);
                return NULL;
        }
        v->str.s = s;
        v->str.len = len;
        return v;
}

JValue *jv_str(const char *s, size_t len) {
        char *c = malloc(len + 1);

        if (!c)
                return NULL;
        if (len > 0)
                memcpy(c, s, len);
        c[len] = 0;
        return jv_str_take(c, len);
}

JValue *jv_strz(const char *s) {
        return jv_str(s, strlen(s));
}

JValue *jv_seq(JSeqKind kind) {
        JValue *v = jv_new(J_SEQ);

        if (v) {
                v->seq.kind = kind;
                v->seq.origin = "generator object";
        }
        return v;
}

JValue *jv_dict(void) {
        return jv_new(J_DICT);
}

JValue *jv_undefined(bool lenient, const char *hint) {
        JValue *v = jv_new(J_UNDEFINED);

        if (!v)
                return NULL;
        v->undef.lenient = lenient;
        if (hint) {
                v->undef.hint = strdup(hint);
                if (!v->undef.hint) {
                        jv_unref(v);
                        return NULL;
                }
        }
        return v;
}

/* Jinja's object_type_repr(): how messages name the type of an object. */
static const char *object_type_repr(const JValue *v) {
        switch (v->type) {
        case J_NONE:
                return "None";
        case J_BOOL:
                return "bool object";
        case J_INT:
                return "int object";
        case J_FLOAT:
                return "float object";
        case J_STR:
                return "str object";
        case J_DICT:
                return "dict object";
        case J_SEQ:
                switch (v->seq.kind) {
                case SEQ_LIST:
                        return "list object";
                case SEQ_TUPLE:
                        return "tuple object";
                case SEQ_RANGE:
                        return "range object";
                case SEQ_ITER:
                        return "generator object";
                case SEQ_KEYS:
                        return "dict_keys object";
                case SEQ_VALUES:
                        return "dict_values object";
                case SEQ_ITEMS:
                        return "dict_items object";
                }
                break;
        case J_MACRO:
                return "jinja2.runtime.Macro object";
        case J_LOOP:
                return "jinja2.runtime.LoopContext object";
        case J_NAMESPACE:
                return "jinja2.utils.Namespace object";
        case J_CYCLER:
                return "jinja2.utils.Cycler object";
        case J_JOINER:
                return "jinja2.utils.Joiner object";
        case J_METHOD:
                return "builtin_function_or_method object";
        case J_FUNCTION:
                return "type object";
        case J_UNDEFINED:
                return "jinja2.runtime.StrictUndefined object";
        }
        return "object";
}

JValue *jv_undefined_lookup(const JValue *obj, const char *name, bool key) {
        _cleanup_jv_ JValue *v = jv_undefined(false, NULL);

        if (!v)
                return NULL;
        v->undef.name = strdup(name);
        if (!v->undef.name)
                return NULL;
        if (obj) {
                v->undef.owner = strdup(object_type_repr(obj));
                if (!v->undef.owner)
                        return NULL;
        }
        v->undef.key = key;
        return TAKE_PTR(v);
}

int jv_seq_push(JValue *seq, JValue *item) {
        if (!item)
                return -ENOMEM;
        if (seq->seq.n == seq->seq.cap) {
                size_t cap = MAX(seq->seq.cap * 2, (size_t) 4);
                JValue **t = reallocarray(seq->seq.items, cap, sizeof(JValue *));

                if (!t) {
                        jv_unref(item);
                        return -ENOMEM;
                }
                seq->seq.items = t;
                seq->seq.cap = cap;
        }
        seq->seq.items[seq->seq.n++] = item;
        return 0;
}

/* Python == for two hashable keys: cannot fail. */
static bool key_equal(const JValue *a, const JValue *b);

static ssize_t dict_find(const JValue *d, const JValue *key) {
        for (size_t i = 0; i < d->dict.n; i++)
                if (key_equal(d->dict.keys[i], key))
                        return (ssize_t) i;
        return -1;
}

int jv_dict_set(JValue *d, JValue *key, JValue *value) {
        ssize_t i;

        if (!key || !value) {
                jv_unref(key);
                jv_unref(value);
                return -ENOMEM;
        }

        i = dict_find(d, key);
        if (i >= 0) {
                jv_unref(key);
                jv_unref(d->dict.values[i]);
                d->dict.values[i] = value;
                return 0;
        }

        if (d->dict.n == d->dict.cap) {
                size_t cap = MAX(d->dict.cap * 2, (size_t) 4);
                JValue **k = reallocarray(d->dict.keys, cap, sizeof(JValue *)), **vs;

                if (k)
                        d->dict.keys = k;
                vs = k ? reallocarray(d->dict.values, cap, sizeof(JValue *)) : NULL;
                if (!vs) {
                        jv_unref(key);
                        jv_unref(value);
                        return -ENOMEM;
                }
                d->dict.values = vs;
                d->dict.cap = cap;
        }
        d->dict.keys[d->dict.n] = key;
        d->dict.values[d->dict.n] = value;
        d->dict.n++;
        return 0;
}

JValue *jv_dict_get(const JValue *d, const JValue *key) {
        ssize_t i = dict_find(d, key);

        return i >= 0 ? d->dict.values[i] : NULL;
}

JValue *jv_dict_get_str(const JValue *d, const char *key) {
        size_t l = strlen(key);

        for (size_t i = 0; i < d->dict.n; i++) {
                const JValue *k = d->dict.keys[i];

                if (k->type == J_STR && k->str.len == l && memcmp(k->str.s, key, l) == 0)
                        return d->dict.values[i];
        }
        return NULL;
}

static int from_value(const Value *v, unsigned depth, JValue **ret) {
        _cleanup_jv_ JValue *j = NULL;
        int r;

        if (depth > JINJA_NESTING_MAX)
                return -ELOOP;

        switch (v->type) {
        case VALUE_NULL:
                j = jv_none();
                break;
        case VALUE_BOOL:
                j = jv_bool(v->b);
                break;
        case VALUE_INT:
                j = jv_int(v->i);
                break;
        case VALUE_FLOAT:
                j = jv_float(v->f);
                break;
        case VALUE_STRING:
                j = jv_strz(v->s);
                break;
        case VALUE_LIST:
                j = jv_seq(SEQ_LIST);
                for (size_t i = 0; j && i < v->list.n; i++) {
                        JValue *item;

                        r = from_value(v->list.items[i], depth + 1, &item);
                        if (r < 0)
                                return r;
                        r = jv_seq_push(j, item);
                        if (r < 0)
                                return r;
                }
                break;
        case VALUE_MAP:
                j = jv_dict();
                for (size_t i = 0; j && i < v->map.n; i++) {
                        JValue *key, *item;

                        r = from_value(v->map.keys[i], depth + 1, &key);
                        if (r < 0)
                                return r;
                        r = from_value(v->map.values[i], depth + 1, &item);
                        if (r < 0) {
                                jv_unref(key);
                                return r;
                        }
                        r = jv_dict_set(j, key, item);
                        if (r < 0)
                                return r;
                }
                break;
        }
        if (!j)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

int jv_from_value(const Value *v, JValue **ret) {
        return from_value(v, 0, ret);
}

/* ---- classification ---------------------------------------------------- */

bool jv_is_undefined(const JValue *v) {
        return v->type == J_UNDEFINED;
}

bool jv_is_number(const JValue *v) {
        return v->type == J_BOOL || v->type == J_INT || v->type == J_FLOAT;
}

bool jv_is_int(const JValue *v) {
        return v->type == J_BOOL || v->type == J_INT;
}

int64_t jv_int_of(const JValue *v) {
        return v->type == J_BOOL ? v->b : v->i;
}

double jv_float_of(const JValue *v) {
        return v->type == J_FLOAT ? v->f : (double) jv_int_of(v);
}

bool jv_is_seq(const JValue *v, JSeqKind kind) {
        return v->type == J_SEQ && v->seq.kind == kind;
}

const char *jv_type_name(const JValue *v) {
        switch (v->type) {
        case J_UNDEFINED:
                return v->undef.lenient ? "Undefined" : "StrictUndefined";
        case J_NONE:
                return "NoneType";
        case J_BOOL:
                return "bool";
        case J_INT:
                return "int";
        case J_FLOAT:
                return "float";
        case J_STR:
                return "str";
        case J_DICT:
                return "dict";
        case J_SEQ:
                switch (v->seq.kind) {
                case SEQ_LIST:
                        return "list";
                case SEQ_TUPLE:
                        return "tuple";
                case SEQ_RANGE:
                        return "range";
                case SEQ_ITER:
                        return "generator";
                case SEQ_KEYS:
                        return "dict_keys";
                case SEQ_VALUES:
                        return "dict_values";
                case SEQ_ITEMS:
                        return "dict_items";
                }
                break;
        case J_MACRO:
                return "Macro";
        case J_LOOP:
                return "LoopContext";
        case J_NAMESPACE:
                return "Namespace";
        case J_CYCLER:
                return "Cycler";
        case J_JOINER:
                return "Joiner";
        case J_METHOD:
                return "builtin_function_or_method";
        case J_FUNCTION:
                return "type";
        }
        return "object";
}

/* ---- undefined --------------------------------------------------------- */

int jr_undefined_error(JRender *r, const JValue *u) {
        _cleanup_(jbuf_done) JBuf name = {};
        int k;

        if (u->undef.hint)
                return jr_fail(r, -ENOENT, "%s", u->undef.hint);

        if (u->undef.key)
                return jr_fail(r, -ENOENT, "%s has no element %s", strna(u->undef.owner), u->undef.name);

        k = text_repr(u->undef.name, strlen(u->undef.name), &name);
        if (k < 0)
                return k;
        if (!u->undef.owner)
                return jr_fail(r, -ENOENT, "%s is undefined", name.s);
        return jr_fail(r, -ENOENT, "'%s' has no attribute %s", u->undef.owner, name.s);
}

int jr_check_defined(JRender *r, const JValue *v) {
        if (v->type == J_UNDEFINED && !v->undef.lenient)
                return jr_undefined_error(r, v);
        return 0;
}

/* Operations that even Jinja's lenient Undefined refuses (arithmetic,
 * attributes, calls). */
static int check_not_undefined(JRender *r, const JValue *v) {
        if (v->type == J_UNDEFINED)
                return jr_undefined_error(r, v);
        return 0;
}

/* ---- truth, str, repr, len ---------------------------------------------- */

static int seq_len_of(JRender *r, const JValue *v, size_t *ret) {
        if (v->seq.kind == SEQ_ITER)
                return jr_fail(r, -EINVAL, "object of type 'generator' has no len()");
        *ret = v->seq.n;
        return 0;
}

int jv_len(JRender *r, const JValue *v, size_t *ret) {
        int k;

        k = jr_check_defined(r, v);
        if (k < 0)
                return k;
        switch (v->type) {
        case J_UNDEFINED:
                *ret = 0;
                return 0;
        case J_STR:
                *ret = utf8_length(v->str.s, v->str.len);
                return 0;
        case J_SEQ:
                return seq_len_of(r, v, ret);
        case J_DICT:
                *ret = v->dict.n;
                return 0;
        case J_LOOP:
                *ret = v->loop.items->seq.n;
                return 0;
        default:
                return jr_fail(r, -EINVAL, "object of type '%s' has no len()", jv_type_name(v));
        }
}

int jv_truth(JRender *r, const JValue *v, bool *ret) {
        int k;

        k = jr_check_defined(r, v);
        if (k < 0)
                return k;
        switch (v->type) {
        case J_UNDEFINED:
        case J_NONE:
                *ret = false;
                return 0;
        case J_BOOL:
                *ret = v->b;
                return 0;
        case J_INT:
                *ret = v->i != 0;
                return 0;
        case J_FLOAT:
                *ret = v->f != 0;
                return 0;
        case J_STR:
                *ret = v->str.len > 0;
                return 0;
        case J_SEQ:
                /* a generator is an object like any other: true */
                *ret = v->seq.kind == SEQ_ITER || v->seq.n > 0;
                return 0;
        case J_DICT:
                *ret = v->dict.n > 0;
                return 0;
        case J_LOOP:
                *ret = v->loop.items->seq.n > 0;
                return 0;
        default:
                *ret = true;
                return 0;
        }
}

/* Containers being printed, for Python's "[...]" on recursion. */
typedef struct ReprStack {
        const JValue *v[JINJA_NESTING_MAX];
        size_t n;
} ReprStack;

static int format_value(JRender *r, const JValue *v, bool repr, ReprStack *st, JBuf *out);

static int format_items(JRender *r, JValue *const *items, size_t n, ReprStack *st, JBuf *out) {
        int k = 0;

        for (size_t i = 0; i < n && k >= 0; i++) {
                if (i > 0)
                        k = jbuf_puts(out, ", ");
                if (k >= 0)
                        k = format_value(r, items[i], true, st, out);
        }
        return k;
}

static int format_dict(JRender *r, const JValue *d, ReprStack *st, JBuf *out) {
        int k;

        k = jbuf_putc(out, '{');
        for (size_t i = 0; i < d->dict.n && k >= 0; i++) {
                if (i > 0)
                        k = jbuf_puts(out, ", ");
                if (k >= 0)
                        k = format_value(r, d->dict.keys[i], true, st, out);
                if (k >= 0)
                        k = jbuf_puts(out, ": ");
                if (k >= 0)
                        k = format_value(r, d->dict.values[i], true, st, out);
        }
        if (k < 0)
                return k;
        return jbuf_putc(out, '}');
}

static int format_seq(JRender *r, const JValue *v, ReprStack *st, JBuf *out) {
        static const struct {
                const char *open, *close;
        } brackets[] = {
                [SEQ_LIST] = { "[", "]" },
                [SEQ_TUPLE] = { "(", ")" },
                [SEQ_KEYS] = { "dict_keys([", "])" },
                [SEQ_VALUES] = { "dict_values([", "])" },
                [SEQ_ITEMS] = { "dict_items([", "])" },
        };
        int k;

        if (v->seq.kind == SEQ_RANGE) {
                if (v->seq.step == 1)
                        return jbuf_printf(out, "range(%" PRIi64 ", %" PRIi64 ")", v->seq.start, v->seq.stop);
                return jbuf_printf(out, "range(%" PRIi64 ", %" PRIi64 ", %" PRIi64 ")",
                                   v->seq.start, v->seq.stop, v->seq.step);
        }
        if (v->seq.kind == SEQ_ITER)
                /* no address to print: Jinja's would differ on every run anyway */
                return jbuf_printf(out, "<%s>", v->seq.origin);

        k = jbuf_puts(out, brackets[v->seq.kind].open);
        if (k >= 0)
                k = format_items(r, v->seq.items, v->seq.n, st, out);
        if (k >= 0 && v->seq.kind == SEQ_TUPLE && v->seq.n == 1)
                k = jbuf_putc(out, ',');
        if (k < 0)
                return k;
        return jbuf_puts(out, brackets[v->seq.kind].close);
}

/* Containers: "[...]" when already being printed, an error when nested
 * beyond the limit, else their items. */
static int format_container(JRender *r, const JValue *v, ReprStack *st, JBuf *out) {
        int k;

        for (size_t i = 0; i < st->n; i++)
                if (st->v[i] == v) {
                        if (v->type == J_DICT)
                                return jbuf_puts(out, "{...}");
                        return jbuf_puts(out, v->seq.kind == SEQ_TUPLE ? "(...)" : "[...]");
                }
        if (st->n >= JINJA_NESTING_MAX)
                return jr_fail(r, -ELOOP, "data nested more than %u levels deep", JINJA_NESTING_MAX);

        st->v[st->n++] = v;
        k = v->type == J_DICT ? format_dict(r, v, st, out) : format_seq(r, v, st, out);
        st->n--;
        return k;
}

static int format_method(const JValue *v, JBuf *out) {
        if (v->method.self->type == J_LOOP)
                return jbuf_printf(out, "<bound method LoopContext.%s of %s>", v->method.def->name, "<LoopContext>");
        return jbuf_printf(out, "<built-in method %s of %s>", v->method.def->name,
                           object_type_repr(v->method.self));
}

static int format_value(JRender *r, const JValue *v, bool repr, ReprStack *st, JBuf *out) {
        _cleanup_free_ char *f = NULL;
        int k;

        switch (v->type) {
        case J_UNDEFINED:
                if (repr)
                        return jbuf_puts(out, "Undefined");
                k = jr_check_defined(r, v);
                return k < 0 ? k : 0;
        case J_NONE:
                return jbuf_puts(out, "None");
        case J_BOOL:
                return jbuf_puts(out, v->b ? "True" : "False");
        case J_INT:
                return jbuf_printf(out, "%" PRIi64, v->i);
        case J_FLOAT:
                k = value_format_float(v->f, &f);
                if (k < 0)
                        return k;
                return jbuf_puts(out, f);
        case J_STR:
                if (repr)
                        return text_repr(v->str.s, v->str.len, out);
                return jbuf_put(out, v->str.s, v->str.len);
        case J_SEQ:
        case J_DICT:
                return format_container(r, v, st, out);
        case J_MACRO:
                return jbuf_printf(out, "<Macro '%s'>", v->macro.name);
        case J_LOOP:
                return jbuf_printf(out, "<LoopContext %zu/%zu>", v->loop.index0 + 1, v->loop.items->seq.n);
        case J_NAMESPACE:
                k = jbuf_puts(out, "<Namespace ");
                if (k >= 0)
                        k = format_container(r, v->ns, st, out);
                if (k < 0)
                        return k;
                return jbuf_putc(out, '>');
        case J_CYCLER:
                return jbuf_puts(out, "<jinja2.utils.Cycler object>");
        case J_JOINER:
                return jbuf_puts(out, "<jinja2.utils.Joiner object>");
        case J_METHOD:
                return format_method(v, out);
        case J_FUNCTION:
                if (streq(v->function->name, "namespace"))
                        return jbuf_puts(out, "<class 'jinja2.utils.Namespace'>");
                if (streq(v->function->name, "cycler"))
                        return jbuf_puts(out, "<class 'jinja2.utils.Cycler'>");
                if (streq(v->function->name, "joiner"))
                        return jbuf_puts(out, "<class 'jinja2.utils.Joiner'>");
                if (streq(v->function->name, "lipsum"))
                        return jbuf_puts(out, "<function generate_lorem_ipsum>");
                return jbuf_printf(out, "<class '%s'>", v->function->name);
        }
        return -EINVAL;
}

int jv_str_append(JRender *r, const JValue *v, JBuf *out) {
        ReprStack st;

        st.n = 0;
        return format_value(r, v, false, &st, out);
}

int jv_repr_append(JRender *r, const JValue *v, JBuf *out) {
        ReprStack st;

        st.n = 0;
        return format_value(r, v, true, &st, out);
}

int jv_to_str(JRender *r, JValue *v, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        size_t len;
        char *s;
        int k;

        if (v->type == J_STR) {
                *ret = jv_ref(v);
                return 0;
        }
        k = jv_str_append(r, v, &b);
        if (k < 0)
                return k;
        s = jbuf_steal(&b, &len);
        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

/* ---- equality and ordering ---------------------------------------------- */

static bool int_equals_float(int64_t i, double f) {
        if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) || f != floor(f))
                return false;
        return (int64_t) f == i;
}

static bool number_equal(const JValue *a, const JValue *b) {
        if (a->type == J_FLOAT && b->type == J_FLOAT)
                return a->f == b->f;
        if (a->type == J_FLOAT)
                return int_equals_float(jv_int_of(b), a->f);
        if (b->type == J_FLOAT)
                return int_equals_float(jv_int_of(a), b->f);
        return jv_int_of(a) == jv_int_of(b);
}

static bool str_equal(const JValue *a, const JValue *b) {
        return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
}

static int equal(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret);

/* PyObject_RichCompareBool(): the same object is equal without asking,
 * which is how containers and "in" compare (a NaN in a list equals itself). */
static int same_or_equal(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        if (a == b) {
                *ret = true;
                return 0;
        }
        return equal(r, a, b, depth, ret);
}

static int items_equal(JRender *r, JValue *const *a, JValue *const *b, size_t n, unsigned depth, bool *ret) {
        for (size_t i = 0; i < n; i++) {
                bool e;
                int k;

                k = same_or_equal(r, a[i], b[i], depth + 1, &e);
                if (k < 0)
                        return k;
                if (!e) {
                        *ret = false;
                        return 0;
                }
        }
        *ret = true;
        return 0;
}

static int dict_equal(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        if (a->dict.n != b->dict.n) {
                *ret = false;
                return 0;
        }
        for (size_t i = 0; i < a->dict.n; i++) {
                JValue *other = jv_dict_get(b, a->dict.keys[i]);
                bool e;
                int k;

                if (!other) {
                        *ret = false;
                        return 0;
                }
                k = same_or_equal(r, a->dict.values[i], other, depth + 1, &e);
                if (k < 0)
                        return k;
                if (!e) {
                        *ret = false;
                        return 0;
                }
        }
        *ret = true;
        return 0;
}

/* dict_keys compare like sets */
static int keys_equal(const JValue *a, const JValue *b, bool *ret) {
        *ret = a->seq.n == b->seq.n;
        for (size_t i = 0; *ret && i < a->seq.n; i++) {
                bool found = false;

                for (size_t j = 0; !found && j < b->seq.n; j++)
                        found = key_equal(a->seq.items[i], b->seq.items[j]);
                *ret = found;
        }
        return 0;
}

/* Before comparing a and b at this depth: the recursion limit, and the
 * undefineds that may take part (lenient ones in ==, none in <). */
static int check_comparable(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool lenient_ok) {
        int (*check)(JRender *r, const JValue *v) = lenient_ok ? jr_check_defined : check_not_undefined;
        int k;

        if (depth > JINJA_NESTING_MAX)
                return jr_fail(r, -ELOOP, "maximum recursion depth exceeded in comparison");
        k = check(r, a);
        if (k >= 0)
                k = check(r, b);
        return k;
}

static int seq_equal(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        JSeqKind ka = a->seq.kind, kb = b->seq.kind;

        *ret = false;
        if (ka == SEQ_ITER || kb == SEQ_ITER || ka == SEQ_VALUES || kb == SEQ_VALUES)
                return 0;       /* identity only */
        if (ka == SEQ_KEYS && kb == SEQ_KEYS)
                return keys_equal(a, b, ret);
        if (ka != kb || a->seq.n != b->seq.n)
                return 0;
        return items_equal(r, a->seq.items, b->seq.items, a->seq.n, depth, ret);
}

static int equal(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        int k;

        /* a strict undefined refuses even to be compared with itself */
        k = check_comparable(r, a, b, depth, true);
        if (k < 0)
                return k;

        if (jv_is_number(a) && jv_is_number(b)) {
                *ret = number_equal(a, b);      /* a NaN is not equal to itself */
                return 0;
        }
        if (a == b) {
                *ret = true;
                return 0;
        }
        *ret = false;
        if (a->type != b->type)
                return 0;

        switch (a->type) {
        case J_UNDEFINED:
        case J_NONE:
                *ret = true;
                return 0;
        case J_STR:
                *ret = str_equal(a, b);
                return 0;
        case J_SEQ:
                return seq_equal(r, a, b, depth, ret);
        case J_DICT:
                return dict_equal(r, a, b, depth, ret);
        case J_METHOD:
                *ret = a->method.self == b->method.self && a->method.def == b->method.def;
                return 0;
        case J_FUNCTION:
                *ret = a->function == b->function;
                return 0;
        default:
                return 0;       /* other objects: identity */
        }
}

int jv_equal(JRender *r, const JValue *a, const JValue *b, bool *ret) {
        return equal(r, a, b, 0, ret);
}

static bool key_equal(const JValue *a, const JValue *b) {
        if (a == b)
                return true;
        if (jv_is_number(a) && jv_is_number(b))
                return number_equal(a, b);
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case J_NONE:
                return true;
        case J_UNDEFINED:
                return a->undef.lenient == b->undef.lenient;
        case J_STR:
                return str_equal(a, b);
        case J_SEQ:
                if (a->seq.kind != b->seq.kind || a->seq.n != b->seq.n ||
                    (a->seq.kind != SEQ_TUPLE && a->seq.kind != SEQ_RANGE))
                        return false;
                for (size_t i = 0; i < a->seq.n; i++)
                        if (!key_equal(a->seq.items[i], b->seq.items[i]))
                                return false;
                return true;
        case J_FUNCTION:
                return a->function == b->function;
        default:
                return false;
        }
}

static int unorderable(JRender *r, const JValue *a, const JValue *b) {
        return jr_fail(r, -EINVAL, "'<' not supported between instances of '%s' and '%s'",
                       jv_type_name(a), jv_type_name(b));
}

static int less(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret);

/* Python's list/tuple <: the first items that differ decide, else length. */
static int seq_less(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        size_t n = MIN(a->seq.n, b->seq.n);

        for (size_t i = 0; i < n; i++) {
                bool e;
                int k;

                k = same_or_equal(r, a->seq.items[i], b->seq.items[i], depth + 1, &e);
                if (k < 0)
                        return k;
                if (!e)
                        return less(r, a->seq.items[i], b->seq.items[i], depth + 1, ret);
        }
        *ret = a->seq.n < b->seq.n;
        return 0;
}

static int less(JRender *r, const JValue *a, const JValue *b, unsigned depth, bool *ret) {
        int k;

        k = check_comparable(r, a, b, depth, false);
        if (k < 0)
                return k;

        if (jv_is_number(a) && jv_is_number(b)) {
                if (a->type == J_FLOAT || b->type == J_FLOAT) {
                        double x = jv_float_of(a), y = jv_float_of(b);

                        /* beyond 2^53 the conversion of the int could round */
                        if (a->type != J_FLOAT && fabs(y) < 9007199254740992.0)
                                *ret = (double) jv_int_of(a) < y;
                        else if (b->type != J_FLOAT && fabs(x) < 9007199254740992.0)
                                *ret = x < (double) jv_int_of(b);
                        else
                                *ret = x < y;
                } else
                        *ret = jv_int_of(a) < jv_int_of(b);
                return 0;
        }
        if (a->type == J_STR && b->type == J_STR) {
                /* UTF-8 byte order is code point order */
                int c = memcmp(a->str.s, b->str.s, MIN(a->str.len, b->str.len));

                *ret = c < 0 || (c == 0 && a->str.len < b->str.len);
                return 0;
        }
        if (a->type == J_SEQ && b->type == J_SEQ && a->seq.kind == b->seq.kind &&
            (a->seq.kind == SEQ_LIST || a->seq.kind == SEQ_TUPLE))
                return seq_less(r, a, b, depth, ret);
        return unorderable(r, a, b);
}

int jv_less(JRender *r, const JValue *a, const JValue *b, bool *ret) {
        return less(r, a, b, 0, ret);
}

static int check_hashable(JRender *r, const JValue *v, unsigned depth) {
        int k;

        if (depth > JINJA_NESTING_MAX)
                return jr_fail(r, -ELOOP, "maximum recursion depth exceeded while hashing");
        k = jr_check_defined(r, v);
        if (k < 0)
                return k;
        if (v->type == J_DICT || (v->type == J_SEQ && v->seq.kind != SEQ_TUPLE && v->seq.kind != SEQ_RANGE &&
                                  v->seq.kind != SEQ_ITER))
                return jr_fail(r, -EINVAL, "unhashable type: '%s'", jv_type_name(v));
        if (jv_is_seq(v, SEQ_TUPLE))
                for (size_t i = 0; i < v->seq.n; i++) {
                        k = check_hashable(r, v->seq.items[i], depth + 1);
                        if (k < 0)
                                return k;
                }
        return 0;
}

int jv_check_hashable(JRender *r, const JValue *v) {
        return check_hashable(r, v, 0);
}

static int seq_contains(JRender *r, JValue *seq, const JValue *needle, bool *ret) {
        size_t start = seq->seq.kind == SEQ_ITER ? seq->seq.pos : 0;
        int k;

        *ret = false;
        if (seq->seq.kind == SEQ_KEYS) {
                k = jv_check_hashable(r, needle);
                if (k < 0)
                        return k;
        }
        for (size_t i = start; i < seq->seq.n; i++) {
                bool e;

                k = same_or_equal(r, seq->seq.items[i], needle, 0, &e);
                if (k < 0)
                        return k;
                if (e) {
                        /* an iterator is consumed up to what was found */
                        if (seq->seq.kind == SEQ_ITER)
                                seq->seq.pos = i + 1;
                        *ret = true;
                        return 0;
                }
        }
        if (seq->seq.kind == SEQ_ITER)
                seq->seq.pos = seq->seq.n;
        return 0;
}

int jv_contains(JRender *r, const JValue *haystack, const JValue *needle, bool *ret) {
        int k;

        k = jr_check_defined(r, haystack);
        if (k < 0)
                return k;

        switch (haystack->type) {
        case J_UNDEFINED:
                *ret = false;
                return 0;
        case J_STR:
                if (needle->type != J_STR) {
                        k = jr_check_defined(r, needle);
                        if (k < 0)
                                return k;
                        return jr_fail(r, -EINVAL, "'in <string>' requires string as left operand, not %s",
                                       jv_type_name(needle));
                }
                *ret = needle->str.len == 0 ||
                        memmem(haystack->str.s, haystack->str.len, needle->str.s, needle->str.len);
                return 0;
        case J_SEQ:
                return seq_contains(r, (JValue *) haystack, needle, ret);
        case J_DICT:
                k = jv_check_hashable(r, needle);
                if (k < 0)
                        return k;
                *ret = jv_dict_get(haystack, needle);
                return 0;
        default:
                return jr_fail(r, -EINVAL, "argument of type '%s' is not iterable", jv_type_name(haystack));
        }
}

int jv_iterate(JRender *r, JValue *v, JValue **ret) {
        _cleanup_jv_ JValue *l = NULL;
        int k;

        k = jr_check_defined(r, v);
        if (k < 0)
                return k;

        switch (v->type) {
        case J_UNDEFINED:
                l = jv_seq(SEQ_LIST);
                break;
        case J_SEQ:
                if (v->seq.kind != SEQ_ITER) {
                        *ret = jv_ref(v);
                        return 0;
                }
                l = jv_seq(SEQ_LIST);
                for (size_t i = v->seq.pos; l && i < v->seq.n; i++) {
                        k = jv_seq_push(l, jv_ref(v->seq.items[i]));
                        if (k < 0)
                                return k;
                }
                v->seq.pos = v->seq.n;
                break;
        case J_DICT:
                l = jv_seq(SEQ_LIST);
                for (size_t i = 0; l && i < v->dict.n; i++) {
                        k = jv_seq_push(l, jv_ref(v->dict.keys[i]));
                        if (k < 0)
                                return k;
                }
                break;
        case J_STR:
                k = jr_charge(r, v->str.len / 16);
                if (k < 0)
                        return k;
                l = jv_seq(SEQ_LIST);
                for (size_t i = 0; l && i < v->str.len; ) {
                        uint32_t cp;
                        size_t n = utf8_next(v->str.s + i, v->str.len - i, &cp);

                        k = jv_seq_push(l, jv_str(v->str.s + i, n));
                        if (k < 0)
                                return k;
                        i += n;
                }
                break;
        default:
                return jr_fail(r, -EINVAL, "'%s' object is not iterable", jv_type_name(v));
        }
        if (!l)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- arithmetic ---------------------------------------------------------- */

static int overflow(JRender *r) {
        return jr_fail(r, -ERANGE, "integer overflow (Python's ints are unbounded, ours are 64 bits)");
}

static int unsupported(JRender *r, const char *op, const JValue *a, const JValue *b) {
        return jr_fail(r, -EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'",
                       op, jv_type_name(a), jv_type_name(b));
}

static int new_number(bool is_float, int64_t i, double f, JValue **ret) {
        *ret = is_float ? jv_float(f) : jv_int(i);
        return *ret ? 0 : -ENOMEM;
}

/* CPython's float divmod, so that signs and rounding match. */
static void float_divmod(double vx, double wx, double *ret_div, double *ret_mod) {
        double mod = fmod(vx, wx), div = (vx - mod) / wx, floordiv;

        if (mod != 0) {
                if ((wx < 0) != (mod < 0)) {
                        mod += wx;
                        div -= 1.0;
                }
        } else
                mod = copysign(0.0, wx);
        if (div != 0) {
                floordiv = floor(div);
                if (div - floordiv > 0.5)
                        floordiv += 1.0;
        } else
                floordiv = copysign(0.0, vx / wx);
        *ret_div = floordiv;
        *ret_mod = mod;
}

static int int_pow(JRender *r, int64_t base, int64_t exp, JValue **ret) {
        int64_t result = 1;

        while (exp > 0) {
                if (exp & 1) {
                        if (__builtin_mul_overflow(result, base, &result))
                                return overflow(r);
                }
                exp >>= 1;
                if (exp > 0 && __builtin_mul_overflow(base, base, &base))
                        return overflow(r);
        }
        return new_number(false, result, 0, ret);
}

static int float_pow(JRender *r, double x, double y, JValue **ret) {
        double z;

        if (x == 0 && y < 0)
                return jr_fail(r, -EDOM, "0.0 cannot be raised to a negative power");
        if (x < 0 && y != floor(y) && isfinite(y))
                return jr_fail(r, -EDOM, "a negative number to a fractional power is complex, which is not supported");
        z = pow(x, y);
        if (isinf(z) && isfinite(x) && isfinite(y))
                return jr_fail(r, -ERANGE, "(34, 'Numerical result out of range')");
        return new_number(true, 0, z, ret);
}

static int numeric_binop(JRender *r, JBinOp op, const JValue *a, const JValue *b, JValue **ret) {
        bool is_float = a->type == J_FLOAT || b->type == J_FLOAT;
        int64_t x = 0, y = 0, z = 0;
        double fx = jv_float_of(a), fy = jv_float_of(b), q, m;

        if (!is_float) {
                x = jv_int_of(a);
                y = jv_int_of(b);
        }

        switch (op) {
        case JOP_ADD:
                if (!is_float && __builtin_add_overflow(x, y, &z))
                        return overflow(r);
                return new_number(is_float, z, fx + fy, ret);
        case JOP_SUB:
                if (!is_float && __builtin_sub_overflow(x, y, &z))
                        return overflow(r);
                return new_number(is_float, z, fx - fy, ret);
        case JOP_MUL:
                if (!is_float && __builtin_mul_overflow(x, y, &z))
                        return overflow(r);
                return new_number(is_float, z, fx * fy, ret);
        case JOP_DIV:
                if (fy == 0)
                        return jr_fail(r, -EDOM, is_float ? "float division by zero" : "division by zero");
                return new_number(true, 0, fx / fy, ret);
        case JOP_FLOORDIV:
        case JOP_MOD:
                if (is_float) {
                        if (fy == 0)
                                return jr_fail(r, -EDOM, op == JOP_MOD ? "float modulo" : "float floor division by zero");
                        float_divmod(fx, fy, &q, &m);
                        return new_number(true, 0, op == JOP_MOD ? m : q, ret);
                }
                if (y == 0)
                        return jr_fail(r, -EDOM, op == JOP_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) {
                        if (op == JOP_MOD)
                                return new_number(false, 0, 0, ret);
                        return overflow(r);
                }
                z = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0)))
                        z--;
                if (op == JOP_FLOORDIV)
                        return new_number(false, z, 0, ret);
                return new_number(false, x - z * y, 0, ret);
        case JOP_POW:
                if (!is_float && y >= 0)
                        return int_pow(r, x, y, ret);
                return float_pow(r, fx, fy, ret);
        }
        return -EINVAL;
}

static int concat_seq(JRender *r, JSeqKind kind, const JValue *a, const JValue *b, JValue **ret) {
        _cleanup_jv_ JValue *l = jv_seq(kind);
        int k;

        if (!l)
                return -ENOMEM;
        k = jr_charge(r, a->seq.n + b->seq.n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < a->seq.n + b->seq.n; i++) {
                k = jv_seq_push(l, jv_ref(i < a->seq.n ? a->seq.items[i] : b->seq.items[i - a->seq.n]));
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int concat_str(JRender *r, const JValue *a, const JValue *b, JValue **ret) {
        char *s;
        int k;

        k = jr_charge(r, (a->str.len + b->str.len) / 64);
        if (k < 0)
                return k;
        s = malloc(a->str.len + b->str.len + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, a->str.s, a->str.len);
        memcpy(s + a->str.len, b->str.s, b->str.len);
        s[a->str.len + b->str.len] = 0;
        *ret = jv_str_take(s, a->str.len + b->str.len);
        return *ret ? 0 : -ENOMEM;
}

static int add(JRender *r, const JValue *a, const JValue *b, JValue **ret) {
        if (a->type == J_STR) {
                if (b->type != J_STR)
                        return jr_fail(r, -EINVAL, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
                return concat_str(r, a, b, ret);
        }
        if (jv_is_seq(a, SEQ_LIST) || jv_is_seq(a, SEQ_TUPLE)) {
                if (b->type != J_SEQ || b->seq.kind != a->seq.kind)
                        return jr_fail(r, -EINVAL, "can only concatenate %s (not \"%s\") to %s",
                                       jv_type_name(a), jv_type_name(b), jv_type_name(a));
                return concat_seq(r, a->seq.kind, a, b, ret);
        }
        return unsupported(r, "+", a, b);
}

/* str * int, list * int, tuple * int (either order) */
static int repeat(JRender *r, const JValue *what, int64_t times, JValue **ret) {
        size_t n = times > 0 ? (size_t) times : 0;
        int k;

        if (what->type == J_STR) {
                _cleanup_(jbuf_done) JBuf b = {};
                size_t len;
                char *s;

                if (what->str.len > 0 && n > SIZE_MAX / what->str.len)
                        return jr_fail(r, -ENOMEM, "cannot fit repeated string in memory");
                k = jr_charge(r, what->str.len * n / 64);
                for (size_t i = 0; k >= 0 && i < n; i++)
                        k = jbuf_put(&b, what->str.s, what->str.len);
                if (k < 0)
                        return k;
                s = jbuf_steal(&b, &len);
                *ret = jv_str_take(s, len);
                return *ret ? 0 : -ENOMEM;
        }

        _cleanup_jv_ JValue *l = jv_seq(what->seq.kind);
        if (!l)
                return -ENOMEM;
        if (what->seq.n > 0 && n > SIZE_MAX / what->seq.n)
                return jr_fail(r, -ENOMEM, "cannot fit repeated sequence in memory");
        k = jr_charge(r, what->seq.n * n);
        for (size_t i = 0; k >= 0 && i < n; i++)
                for (size_t j = 0; k >= 0 && j < what->seq.n; j++)
                        k = jv_seq_push(l, jv_ref(what->seq.items[j]));
        if (k < 0)
                return k;
        *ret = TAKE_PTR(l);
        return 0;
}

static bool is_repeatable(const JValue *v) {
        return v->type == J_STR || jv_is_seq(v, SEQ_LIST) || jv_is_seq(v, SEQ_TUPLE);
}

int jv_binop(JRender *r, JBinOp op, JValue *a, JValue *b, JValue **ret) {
        static const char *const names[] = {
                [JOP_ADD] = "+", [JOP_SUB] = "-", [JOP_MUL] = "*", [JOP_DIV] = "/",
                [JOP_FLOORDIV] = "//", [JOP_MOD] = "%", [JOP_POW] = "** or pow()",
        };
        int k;

        k = check_not_undefined(r, a);
        if (k >= 0 && !(op == JOP_MOD && a->type == J_STR))
                k = check_not_undefined(r, b);
        if (k < 0)
                return k;

        if (jv_is_number(a) && jv_is_number(b))
                return numeric_binop(r, op, a, b, ret);

        switch (op) {
        case JOP_ADD:
                return add(r, a, b, ret);
        case JOP_MUL:
                if (is_repeatable(a) && jv_is_int(b))
                        return repeat(r, a, jv_int_of(b), ret);
                if (jv_is_int(a) && is_repeatable(b))
                        return repeat(r, b, jv_int_of(a), ret);
                if (is_repeatable(a) || is_repeatable(b))
                        return jr_fail(r, -EINVAL, "can't multiply sequence by non-int of type '%s'",
                                       jv_type_name(is_repeatable(a) ? b : a));
                break;
        case JOP_MOD:
                if (a->type == J_STR)
                        return jinja_percent_format(r, a, b, ret);
                break;
        default:
                break;
        }
        return unsupported(r, names[op], a, b);
}

int jv_negate(JRender *r, JValue *v, bool negative, JValue **ret) {
        int k;

        k = check_not_undefined(r, v);
        if (k < 0)
                return k;
        if (!jv_is_number(v))
                return jr_fail(r, -EINVAL, "bad operand type for unary %c: '%s'", negative ? '-' : '+', jv_type_name(v));
        if (v->type == J_FLOAT)
                return new_number(true, 0, negative ? -v->f : v->f, ret);
        if (negative && jv_int_of(v) == INT64_MIN)
                return overflow(r);
        return new_number(false, negative ? -jv_int_of(v) : jv_int_of(v), 0, ret);
}

/* ---- attributes, items, slices ------------------------------------------- */

static int bound_method(const JMethod *m, JValue *self, JValue **ret) {
        JValue *v = jv_new(J_METHOD);

        if (!v)
                return -ENOMEM;
        v->method.self = jv_ref(self);
        v->method.def = m;
        *ret = v;
        return 0;
}

static int loop_attr(JRender *r, JValue *loop, const char *name, JValue **ret) {
        size_t n = loop->loop.items->seq.n, i = loop->loop.index0;
        JValue *const *items = loop->loop.items->seq.items;

        if (streq(name, "index"))
                *ret = jv_int((int64_t) i + 1);
        else if (streq(name, "index0"))
                *ret = jv_int((int64_t) i);
        else if (streq(name, "revindex"))
                *ret = jv_int((int64_t) (n - i));
        else if (streq(name, "revindex0"))
                *ret = jv_int((int64_t) (n - i - 1));
        else if (streq(name, "first"))
                *ret = jv_bool(i == 0);
        else if (streq(name, "last"))
                *ret = jv_bool(i + 1 == n);
        else if (streq(name, "length"))
                *ret = jv_int((int64_t) n);
        else if (streq(name, "depth"))
                *ret = jv_int((int64_t) loop->loop.depth0 + 1);
        else if (streq(name, "depth0"))
                *ret = jv_int((int64_t) loop->loop.depth0);
        else if (streq(name, "previtem"))
                *ret = i > 0 ? jv_ref(items[i - 1]) : jv_undefined(false, "there is no previous item");
        else if (streq(name, "nextitem"))
                *ret = i + 1 < n ? jv_ref(items[i + 1]) : jv_undefined(false, "there is no next item");
        else
                return 1;
        return *ret ? 0 : -ENOMEM;
}

static int macro_attr(JValue *m, const char *name, JValue **ret) {
        if (streq(name, "name"))
                *ret = jv_strz(m->macro.name);
        else if (streq(name, "arguments")) {
                _cleanup_jv_ JValue *t = jv_seq(SEQ_TUPLE);
                const JNode *node = m->macro.node;

                for (size_t i = 0; t && i < node->n_params; i++)
                        if (jv_seq_push(t, jv_strz(node->params[i])) < 0)
                                return -ENOMEM;
                *ret = TAKE_PTR(t);
        } else if (streq(name, "catch_kwargs"))
                *ret = jv_bool(m->macro.node->catch_kwargs);
        else if (streq(name, "catch_varargs"))
                *ret = jv_bool(m->macro.node->catch_varargs);
        else if (streq(name, "caller"))
                *ret = jv_bool(m->macro.node->catch_caller);
        else
                return 1;
        return *ret ? 0 : -ENOMEM;
}

/* getattr(obj, name) in Python: 1 when obj has no such attribute. */
static int python_getattr(JRender *r, JValue *obj, const char *name, JValue **ret) {
        const JMethod *m;
        JValue *v;
        int k;

        switch (obj->type) {
        case J_LOOP:
                k = loop_attr(r, obj, name, ret);
                if (k <= 0)
                        return k;
                break;
        case J_MACRO:
                return macro_attr(obj, name, ret);
        case J_NAMESPACE:
                v = jv_dict_get_str(obj->ns, name);
                if (!v)
                        return 1;
                *ret = jv_ref(v);
                return 0;
        case J_SEQ:
                if (obj->seq.group && (streq(name, "grouper") || streq(name, "list"))) {
                        *ret = jv_ref(obj->seq.items[streq(name, "grouper") ? 0 : 1]);
                        return 0;
                }
                break;
        case J_CYCLER:
                if (streq(name, "current")) {
                        *ret = jv_ref(obj->cycler.items->seq.items[obj->cycler.pos]);
                        return 0;
                }
                break;
        default:
                break;
        }

        m = jinja_method_lookup(obj, name);
        if (!m)
                return 1;
        return bound_method(m, obj, ret);
}

static int undefined_attr(const JValue *obj, const char *name, JValue **ret) {
        *ret = jv_undefined_lookup(obj, name, false);
        return *ret ? 0 : -ENOMEM;
}

static int undefined_element(JRender *r, const JValue *obj, const JValue *key, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        int k;

        k = jv_repr_append(r, key, &b);
        if (k < 0)
                return k;
        *ret = jv_undefined_lookup(obj, b.s, true);
        return *ret ? 0 : -ENOMEM;
}

int jv_getattr(JRender *r, JValue *obj, const char *name, JValue **ret) {
        JValue *v;
        int k;

        k = check_not_undefined(r, obj);
        if (k < 0)
                return k;

        k = python_getattr(r, obj, name, ret);
        if (k <= 0)
                return k;

        /* then obj[name] */
        if (obj->type == J_DICT) {
                v = jv_dict_get_str(obj, name);
                if (v) {
                        *ret = jv_ref(v);
                        return 0;
                }
        }
        return undefined_attr(obj, name, ret);
}

/* obj[i] for sequences and strings: 1 when out of range. */
static int index_item(JValue *obj, int64_t i, JValue **ret) {
        if (obj->type == J_STR) {
                size_t n = utf8_length(obj->str.s, obj->str.len), off;
                uint32_t cp;

                if (i < 0)
                        i += (int64_t) n;
                if (i < 0 || (uint64_t) i >= n)
                        return 1;
                off = utf8_offset(obj->str.s, obj->str.len, (size_t) i);
                *ret = jv_str(obj->str.s + off, utf8_next(obj->str.s + off, obj->str.len - off, &cp));
                return *ret ? 0 : -ENOMEM;
        }

        if (i < 0)
                i += (int64_t) obj->seq.n;
        if (i < 0 || (uint64_t) i >= obj->seq.n)
                return 1;
        *ret = jv_ref(obj->seq.items[i]);
        return 0;
}

/* Python's obj[key]: 0 found, 1 missing (KeyError, IndexError, TypeError). */
static int python_getitem(JRender *r, JValue *obj, JValue *key, JValue **ret) {
        bool subscriptable_seq = obj->type == J_SEQ &&
                (obj->seq.kind == SEQ_LIST || obj->seq.kind == SEQ_TUPLE || obj->seq.kind == SEQ_RANGE);
        JValue *v;
        int k;

        if (obj->type == J_DICT) {
                if (key->type == J_UNDEFINED && !key->undef.lenient)
                        return jr_undefined_error(r, key);
                if (key->type == J_DICT || key->type == J_SEQ)
                        return 1;       /* unhashable: TypeError */
                v = jv_dict_get(obj, key);
                if (!v)
                        return 1;
                *ret = jv_ref(v);
                return 0;
        }
        if ((subscriptable_seq || obj->type == J_STR) && jv_is_int(key)) {
                k = index_item(obj, jv_int_of(key), ret);
                return k;
        }
        return 1;
}

int jv_getitem(JRender *r, JValue *obj, JValue *key, JValue **ret) {
        int k;

        k = check_not_undefined(r, obj);
        if (k < 0)
                return k;

        k = python_getitem(r, obj, key, ret);
        if (k <= 0)
                return k;

        /* then, for a string key, the attribute */
        if (key->type == J_STR) {
                k = python_getattr(r, obj, key->str.s, ret);
                if (k <= 0)
                        return k;
                return undefined_attr(obj, key->str.s, ret);
        }
        return undefined_element(r, obj, key, ret);
}

static int slice_index(JRender *r, JValue *v, bool *ret_given, int64_t *ret) {
        int k;

        *ret_given = false;
        if (!v || v->type == J_NONE)
                return 0;
        k = check_not_undefined(r, v);
        if (k < 0)
                return k;
        if (!jv_is_int(v))
                return jr_fail(r, -EINVAL, "slice indices must be integers or None or have an __index__ method");
        *ret_given = true;
        *ret = jv_int_of(v);
        return 0;
}

/* CPython's PySlice_AdjustIndices: in-range start, stop and the count. */
static size_t slice_adjust(size_t length, bool has_start, int64_t start, bool has_stop, int64_t stop, int64_t step,
                           int64_t *ret_start, int64_t *ret_stop) {
        int64_t len = (int64_t) length;

        if (!has_start)
                start = step < 0 ? len - 1 : 0;
        else if (start < 0) {
                start += len;
                if (start < 0)
                        start = step < 0 ? -1 : 0;
        } else if (start >= len)
                start = step < 0 ? len - 1 : len;

        if (!has_stop)
                stop = step < 0 ? -1 : len;
        else if (stop < 0) {
                stop += len;
                if (stop < 0)
                        stop = step < 0 ? -1 : 0;
        } else if (stop >= len)
                stop = step < 0 ? len - 1 : len;

        *ret_start = start;
        *ret_stop = stop;
        if (step < 0)
                return stop < start ? (size_t) ((start - stop - 1) / (-step) + 1) : 0;
        return start < stop ? (size_t) ((stop - start - 1) / step + 1) : 0;
}

static int slice_str(JRender *r, const JValue *s, int64_t start, int64_t step, size_t count, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        _cleanup_free_ size_t *offsets = NULL;
        size_t n = utf8_length(s->str.s, s->str.len), len, i = 0, at = 0;
        char *out;
        int k;

        /* byte offset of every code point, so that any step is direct */
        offsets = reallocarray(NULL, n + 1, sizeof(size_t));
        if (!offsets)
                return -ENOMEM;
        for (at = 0; i < n; i++) {
                uint32_t cp;

                offsets[i] = at;
                at += utf8_next(s->str.s + at, s->str.len - at, &cp);
        }
        offsets[n] = s->str.len;

        k = jr_charge(r, count / 64);
        for (size_t c = 0; k >= 0 && c < count; c++) {
                int64_t p = start + (int64_t) c * step;

                k = jbuf_put(&b, s->str.s + offsets[p], offsets[p + 1] - offsets[p]);
        }
        if (k < 0)
                return k;
        out = jbuf_steal(&b, &len);
        *ret = jv_str_take(out, len);
        return *ret ? 0 : -ENOMEM;
}

int jv_slice(JRender *r, JValue *obj, JValue *start_v, JValue *stop_v, JValue *step_v, JValue **ret) {
        bool has_start, has_stop, has_step;
        int64_t start = 0, stop = 0, step = 1;
        size_t length, count;
        int k;

        k = check_not_undefined(r, obj);
        if (k < 0)
                return k;
        if (obj->type == J_DICT)
                return jr_fail(r, -EINVAL, "unhashable type: 'slice'");
        if (obj->type != J_STR &&
            !(obj->type == J_SEQ && (obj->seq.kind == SEQ_LIST || obj->seq.kind == SEQ_TUPLE || obj->seq.kind == SEQ_RANGE)))
                return jr_fail(r, -EINVAL, "'%s' object is not subscriptable", jv_type_name(obj));

        k = slice_index(r, start_v, &has_start, &start);
        if (k >= 0)
                k = slice_index(r, stop_v, &has_stop, &stop);
        if (k >= 0)
                k = slice_index(r, step_v, &has_step, &step);
        if (k < 0)
                return k;
        if (!has_step)
                step = 1;
        if (step == 0)
                return jr_fail(r, -EDOM, "slice step cannot be zero");
        if (step == INT64_MIN)
                step = -INT64_MAX;

        length = obj->type == J_STR ? utf8_length(obj->str.s, obj->str.len) : obj->seq.n;
        count = slice_adjust(length, has_start, start, has_stop, stop, step, &start, &stop);

        if (obj->type == J_STR)
                return slice_str(r, obj, start, step, count, ret);

        _cleanup_jv_ JValue *l = jv_seq(obj->seq.kind);
        if (!l)
                return -ENOMEM;
        k = jr_charge(r, count);
        for (size_t c = 0; k >= 0 && c < count; c++)
                k = jv_seq_push(l, jv_ref(obj->seq.items[start + (int64_t) c * step]));
        if (k < 0)
                return k;
        if (obj->seq.kind == SEQ_RANGE) {
                /* CPython's compute_slice(): the range of those numbers,
                 * its bounds from the adjusted slice indices */
                l->seq.step = obj->seq.step * step;
                l->seq.start = obj->seq.start + start * obj->seq.step;
                l->seq.stop = obj->seq.start + stop * obj->seq.step;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- Python's int() and float() of strings ------------------------------- */

static int digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'Z')
                return c - 'A' + 10;
        return 99;
}

int jv_parse_int(const char *s, size_t len, unsigned base, int64_t *ret) {
        size_t start, n;
        const char *p, *end;
        bool negative = false, digits = false, underscore_ok = false;
        uint64_t v = 0;

        if (base == 1 || base > 36)
                return -EINVAL;
        text_strip(s, len, NULL, 0, true, true, &start, &n);
        p = s + start;
        end = p + n;
        if (p < end && (*p == '+' || *p == '-'))
                negative = *p++ == '-';

        if (end - p >= 2 && p[0] == '0') {
                char x = (char) (p[1] | 0x20);
                unsigned prefixed = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;

                if (prefixed && (base == 0 || base == prefixed)) {
                        base = prefixed;
                        p += 2;
                        underscore_ok = true;   /* "0x_1f" is fine */
                }
        }
        if (base == 0) {
                /* base 0 refuses leading zeros on non-zero decimals */
                base = 10;
                for (const char *q = p; q < end && p[0] == '0'; q++)
                        if (*q != '0' && *q != '_')
                                return -EINVAL;
        }

        for (; p < end; p++) {
                int d;

                if (*p == '_') {
                        if (!underscore_ok || p + 1 >= end || p[1] == '_')
                                return -EINVAL;
                        underscore_ok = false;
                        continue;
                }
                d = digit_value(*p);
                if (d >= (int) base)
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) d) / base)
                        return -ERANGE;
                v = v * base + (uint64_t) d;
                digits = true;
                underscore_ok = true;
        }
        if (!digits)
                return -EINVAL;
        if (negative ? v > (uint64_t) INT64_MAX + 1 : v > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = negative ? (int64_t) (0 - v) : (int64_t) v;
        return 0;
}

/* digits with single underscores between them; returns the end or NULL */
static const char *skip_digits(const char *p, const char *end, char **out) {
        const char *start = p;

        while (p < end && (isdigit((unsigned char) *p) || (*p == '_' && p > start && p + 1 < end &&
                                                         isdigit((unsigned char) p[1])))) {
                if (*p != '_')
                        *(*out)++ = *p;
                p++;
        }
        return p > start ? p : NULL;
}

int jv_parse_float(const char *s, size_t len, double *ret) {
        _cleanup_free_ char *clean = NULL;
        const char *p, *end, *q;
        size_t start, n;
        char *o;

        text_strip(s, len, NULL, 0, true, true, &start, &n);
        p = s + start;
        end = p + n;
        clean = malloc(n + 1);
        if (!clean)
                return -ENOMEM;
        o = clean;

        if (p < end && (*p == '+' || *p == '-'))
                *o++ = *p++;
        if ((size_t) (end - p) == 3 && (strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0)) {
                memcpy(o, p, 3);
                o += 3;
        } else if ((size_t) (end - p) == 8 && strncasecmp(p, "infinity", 8) == 0) {
                memcpy(o, p, 8);
                o += 8;
        } else {
                bool mantissa = false;

                q = skip_digits(p, end, &o);
                if (q) {
                        p = q;
                        mantissa = true;
                }
                if (p < end && *p == '.') {
                        *o++ = *p++;
                        q = skip_digits(p, end, &o);
                        if (q) {
                                p = q;
                                mantissa = true;
                        }
                }
                if (!mantissa)
                        return -EINVAL;
                if (p < end && (*p == 'e' || *p == 'E')) {
                        *o++ = *p++;
                        if (p < end && (*p == '+' || *p == '-'))
                                *o++ = *p++;
                        q = skip_digits(p, end, &o);
                        if (!q)
                                return -EINVAL;
                        p = q;
                }
                if (p != end)
                        return -EINVAL;
        }
        *o = 0;
        *ret = strtod(clean, NULL);
        return 0;
}

/* ---- sorting -------------------------------------------------------------- */

/* Merge sort of an index permutation: stable, and a comparison that fails
 * stops it with the error. */
static int merge_sort(JRender *r, JValue **keys, size_t *idx, size_t *tmp, size_t n, bool reverse) {
        size_t mid = n / 2, i = 0, j, o = 0;
        int k;

        if (n < 2)
                return 0;
        k = merge_sort(r, keys, idx, tmp, mid, reverse);
        if (k >= 0)
                k = merge_sort(r, keys, idx + mid, tmp, n - mid, reverse);
        if (k < 0)
                return k;

        j = mid;
        while (i < mid && j < n) {
                bool take_right;

                /* the right item goes first only when strictly before the
                 * left one, which keeps equal items in order either way */
                if (reverse)
                        k = jv_less(r, keys[idx[i]], keys[idx[j]], &take_right);
                else
                        k = jv_less(r, keys[idx[j]], keys[idx[i]], &take_right);
                if (k < 0)
                        return k;
                tmp[o++] = take_right ? idx[j++] : idx[i++];
        }
        while (i < mid)
                tmp[o++] = idx[i++];
        while (j < n)
                tmp[o++] = idx[j++];
        memcpy(idx, tmp, n * sizeof(size_t));
        return 0;
}

int jv_sort(JRender *r, JValue **items, JValue **keys, size_t n, bool reverse) {
        _cleanup_free_ size_t *idx = NULL, *tmp = NULL;
        _cleanup_free_ JValue **items_copy = NULL, **keys_copy = NULL;
        int k;

        if (n < 2)
                return 0;
        k = jr_charge(r, n);
        if (k < 0)
                return k;
        idx = reallocarray(NULL, n, sizeof(size_t));
        tmp = reallocarray(NULL, n, sizeof(size_t));
        items_copy = reallocarray(NULL, n, sizeof(JValue *));
        keys_copy = reallocarray(NULL, n, sizeof(JValue *));
        if (!idx || !tmp || !items_copy || !keys_copy)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;

        k = merge_sort(r, keys, idx, tmp, n, reverse);
        if (k < 0)
                return k;

        memcpy(items_copy, items, n * sizeof(JValue *));
        memcpy(keys_copy, keys, n * sizeof(JValue *));
        for (size_t i = 0; i < n; i++) {
                items[i] = items_copy[idx[i]];
                keys[i] = keys_copy[idx[i]];
        }
        return 0;
}

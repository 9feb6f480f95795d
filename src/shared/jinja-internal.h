/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Jinja engine behind template.h.  It follows Jinja 3.1's own
 * structure, so that its behaviour can be checked against Jinja's source:
 *
 *   jinja-lexer.c    source → tokens, with Jinja's whitespace control
 *   jinja-parser.c   tokens → statement nodes and expression trees
 *   jinja-scopes.c   Jinja's symbol tracking: which names start undefined
 *   jinja-value.c    runtime values and Python's semantics for them
 *                    (str/repr, ==, <, truth, arithmetic, indexing)
 *   jinja-text.c     UTF-8 and the Python str operations built on it
 *   jinja-eval.c     scopes, expressions, statements, macros, limits
 *   jinja-filters.c  the built-in filters and tests
 *   jinja-methods.c  str/dict/list methods, globals (range, dict, ...)
 *   jinja-format.c   Python's printf-style "%" string formatting
 *
 * Values are reference counted and immutable once built, except for
 * namespace() objects (and the loop and cycler objects), which the render
 * tracks so that any reference cycle through them is broken at the end.
 * Every function that can fail returns a negative errno; the message goes
 * to the render (jr_fail) or the parser, with the line and construct. */

#include <locale.h>
#include <stdarg.h>

#include "template.h"

/* Walks of data nested deeper than this (lists in lists...) fail, as
 * Python's would at its recursion limit: printing, comparing, converting
 * stay bounded however the data was built.  (Freeing is iterative.) */
#define JINJA_NESTING_MAX 200U
/* Expression trees taller than this (long operator chains) are refused
 * by the parser, so that evaluating and freeing them stays bounded. */
#define JINJA_EXPR_HEIGHT_MAX 1000U

typedef struct JRender JRender;
typedef struct JScope JScope;
typedef struct JNode JNode;
typedef struct JExpr JExpr;
typedef struct JValue JValue;

/* ---- growable byte buffer ------------------------------------------- */

typedef struct JBuf {
        char *s;
        size_t n, cap;
        size_t max;             /* -E2BIG beyond this many bytes; 0 = SIZE_MAX */
} JBuf;

int jbuf_put(JBuf *b, const char *s, size_t len);
int jbuf_puts(JBuf *b, const char *s);
int jbuf_putc(JBuf *b, char c);
int jbuf_printf(JBuf *b, const char *fmt, ...) _printf_(2, 3);
/* The contents (never NULL unless OOM: "" when empty); the buffer is reset. */
char *jbuf_steal(JBuf *b, size_t *ret_len);
void jbuf_done(JBuf *b);

/* ---- UTF-8 text, Python's str semantics (jinja-text.c) -------------- */

/* Decode one code point at s (len > 0 bytes available).  An invalid byte
 * decodes as itself (U+0080..U+00FF are never produced that way from
 * valid input, so it round-trips through utf8_put) and consumes 1 byte. */
size_t utf8_next(const char *s, size_t len, uint32_t *ret_cp);
/* Encode; invalid-byte code points from utf8_next come back as the byte. */
size_t utf8_encode(uint32_t cp, char out[4]);
size_t utf8_length(const char *s, size_t len);
/* Byte offset of code point index i (len if i is past the end). */
size_t utf8_offset(const char *s, size_t len, size_t i);

bool uni_isspace(uint32_t cp);          /* str.isspace() */
bool uni_isalnum(uint32_t cp);          /* str.isalnum() */
bool uni_isalpha(uint32_t cp);
bool uni_isdigit(uint32_t cp);
bool uni_iscased(uint32_t cp);
bool uni_islower(uint32_t cp);
bool uni_isupper(uint32_t cp);
bool uni_isprintable(uint32_t cp);      /* str.isprintable(), for repr() */
bool uni_is_linebreak(uint32_t cp);     /* str.splitlines() boundaries */
uint32_t uni_toupper(uint32_t cp);
uint32_t uni_tolower(uint32_t cp);

typedef enum TextCase {
        TEXT_UPPER,
        TEXT_LOWER,
        TEXT_CAPITALIZE,        /* str.capitalize() */
        TEXT_TITLE_METHOD,      /* str.title() */
        TEXT_TITLE_FILTER,      /* Jinja's title filter */
        TEXT_SWAPCASE,
} TextCase;

int text_case(const char *s, size_t len, TextCase how, JBuf *out);
/* str.strip()/lstrip()/rstrip(); chars NULL = whitespace. */
void text_strip(const char *s, size_t len, const char *chars, size_t chars_len, bool left, bool right,
                size_t *ret_start, size_t *ret_len);
/* Python's repr() of a str. */
int text_repr(const char *s, size_t len, JBuf *out);
/* Count of \w+ runs (Jinja's wordcount). */
size_t text_word_count(const char *s, size_t len);

/* ---- values (jinja-value.c) ----------------------------------------- */

typedef enum JType {
        J_UNDEFINED,
        J_NONE,
        J_BOOL,
        J_INT,
        J_FLOAT,
        J_STR,
        J_SEQ,          /* list, tuple, range, generator, dict views */
        J_DICT,
        J_MACRO,        /* macros and call-block callers */
        J_LOOP,         /* a for loop's "loop" */
        J_NAMESPACE,
        J_CYCLER,
        J_JOINER,
        J_METHOD,       /* a bound method: "abc".upper, loop.cycle */
        J_FUNCTION,     /* range, dict, namespace, cycler, joiner */
} JType;

typedef enum JSeqKind {
        SEQ_LIST,
        SEQ_TUPLE,
        SEQ_RANGE,
        SEQ_ITER,       /* a generator or iterator: no len(), consumed once */
        SEQ_KEYS,
        SEQ_VALUES,
        SEQ_ITEMS,
} JSeqKind;

typedef struct JMethod JMethod;
typedef struct JArgs JArgs;
typedef int (*JCallFn)(JRender *r, JValue *self, JArgs *args, JValue **ret);
struct JMethod {
        const char *name;
        JCallFn call;           /* NULL: a real Python method we do not implement */
};

struct JValue {
        JType type;
        bool immortal;          /* None, True, False: never freed */
        bool tracked;           /* in JRender.mutables */
        unsigned refs;
        union {
                bool b;
                int64_t i;
                double f;
                struct {
                        char *s;        /* NUL-terminated too */
                        size_t len;     /* bytes */
                } str;
                struct {
                        JSeqKind kind;
                        JValue **items;
                        size_t n, cap;
                        size_t pos;             /* SEQ_ITER: items before this are consumed */
                        int64_t start, stop, step;      /* SEQ_RANGE, for repr */
                        const char *origin;     /* SEQ_ITER: what made it, for repr */
                        bool group;             /* groupby's (grouper, list) tuples */
                } seq;
                struct {
                        JValue **keys, **values;
                        size_t n, cap;
                } dict;
                struct {
                        char *hint;     /* whole message, or NULL */
                        char *name;     /* attribute, variable or (repr of) key */
                        char *owner;    /* "'dict object'" style type of the object, or NULL */
                        bool key;       /* name is an item key: "has no element" */
                        bool lenient;   /* Jinja's plain Undefined: prints as "" */
                } undef;
                struct {
                        const JNode *node;      /* JN_MACRO or JN_CALLBLOCK */
                        JScope *closure;        /* kept alive by the render */
                        const char *name;
                } macro;
                struct {
                        JValue *items;          /* a SEQ_LIST */
                        size_t index0;
                        unsigned depth0;
                        JValue *changed_last;   /* loop.changed(): previous args */
                        const JNode *node;      /* recursive loops */
                        JScope *scope;
                } loop;
                JValue *ns;                     /* J_NAMESPACE: a J_DICT of its attributes */
                struct {
                        JValue *items;          /* a SEQ_LIST */
                        size_t pos;
                } cycler;
                struct {
                        char *sep;
                        bool used;
                } joiner;
                struct {
                        JValue *self;
                        const JMethod *def;
                } method;
                const JMethod *function;
        };
};

JValue *jv_ref(JValue *v);
void jv_unref(JValue *v);
DEFINE_CLEANUP_FUNC(JValue *, jv_unref);
#define _cleanup_jv_ _cleanup_(jv_unrefp)

JValue *jv_none(void);
JValue *jv_bool(bool b);
JValue *jv_int(int64_t i);
JValue *jv_float(double f);
JValue *jv_str(const char *s, size_t len);          /* copies */
JValue *jv_strz(const char *s);
JValue *jv_str_take(char *s, size_t len);           /* takes s, also on failure */
JValue *jv_seq(JSeqKind kind);
JValue *jv_dict(void);
JValue *jv_undefined(bool lenient, const char *hint);
/* The undefined result of looking up name (an attribute, or with key the
 * repr of an item key) on obj; obj NULL for a plain variable name. */
JValue *jv_undefined_lookup(const JValue *obj, const char *name, bool key);

/* Both take ownership of what they are given (also on failure). */
int jv_seq_push(JValue *seq, JValue *item);
/* Python dict semantics: an equal key keeps its place and first key.
 * The caller has checked that key is hashable (jv_check_hashable). */
int jv_dict_set(JValue *dict, JValue *key, JValue *value);
/* Borrowed; NULL when absent. */
JValue *jv_dict_get(const JValue *dict, const JValue *key);
JValue *jv_dict_get_str(const JValue *dict, const char *key);

/* A copy of a score variable as an engine value. */
int jv_from_value(const Value *v, JValue **ret);

bool jv_is_undefined(const JValue *v);
bool jv_is_number(const JValue *v);     /* bool, int, float */
bool jv_is_int(const JValue *v);        /* bool or int */
int64_t jv_int_of(const JValue *v);     /* for jv_is_int() values */
double jv_float_of(const JValue *v);    /* for jv_is_number() values */
bool jv_is_seq(const JValue *v, JSeqKind kind);
/* Python's type(v).__name__: "int", "str", "list", "dict", ... */
const char *jv_type_name(const JValue *v);

/* Fail with the error an undefined value raises when used. */
int jr_undefined_error(JRender *r, const JValue *undef);
/* If v is a strict undefined, fail with its error; 0 otherwise. */
int jr_check_defined(JRender *r, const JValue *v);

int jv_truth(JRender *r, const JValue *v, bool *ret);
int jv_str_append(JRender *r, const JValue *v, JBuf *out);     /* str(v) */
int jv_repr_append(JRender *r, const JValue *v, JBuf *out);    /* repr(v) */
/* str(v) as a new J_STR (v itself if it is one). */
int jv_to_str(JRender *r, JValue *v, JValue **ret);
/* len(v); TypeError for values without one. */
int jv_len(JRender *r, const JValue *v, size_t *ret);
int jv_equal(JRender *r, const JValue *a, const JValue *b, bool *ret);
/* Python's a < b; ret_lt says whether a < b. TypeError for unorderable types. */
int jv_less(JRender *r, const JValue *a, const JValue *b, bool *ret_lt);
int jv_check_hashable(JRender *r, const JValue *v);
/* `needle in haystack` */
int jv_contains(JRender *r, const JValue *haystack, const JValue *needle, bool *ret);

/* iter(v) as a list of its items: the sequence itself for lists and
 * tuples, the characters of a str, the keys of a dict; a generator is
 * consumed.  Returns a J_SEQ; TypeError for what is not iterable. */
int jv_iterate(JRender *r, JValue *v, JValue **ret);

typedef enum JBinOp {
        JOP_ADD,
        JOP_SUB,
        JOP_MUL,
        JOP_DIV,
        JOP_FLOORDIV,
        JOP_MOD,
        JOP_POW,
} JBinOp;

int jv_binop(JRender *r, JBinOp op, JValue *a, JValue *b, JValue **ret);
int jv_negate(JRender *r, JValue *v, bool negative, JValue **ret);   /* -v, +v */

/* Jinja's environment.getattr/getitem: attribute first, or item first;
 * the undefined value (not an error) when neither exists. */
int jv_getattr(JRender *r, JValue *obj, const char *name, JValue **ret);
int jv_getitem(JRender *r, JValue *obj, JValue *key, JValue **ret);
/* obj[start:stop:step]; NULL bounds are omitted ones. */
int jv_slice(JRender *r, JValue *obj, JValue *start, JValue *stop, JValue *step, JValue **ret);

/* Python's int(v) and float(v) conversions as the int/float filters use
 * them: -EINVAL (no message) when v has no such conversion. */
int jv_parse_int(const char *s, size_t len, unsigned base, int64_t *ret);
int jv_parse_float(const char *s, size_t len, double *ret);

/* Python's sorted(): stable, by jv_less on keys[i] (items are permuted the
 * same way); reverse keeps equal items in their order, as Python does. */
int jv_sort(JRender *r, JValue **items, JValue **keys, size_t n, bool reverse);

/* ---- calls ----------------------------------------------------------- */

/* Evaluated call arguments (borrowed references owned by the caller). */
struct JArgs {
        JValue **pos;
        size_t n_pos;
        const char **kw_names;
        JValue **kw;
        size_t n_kw;
};

/* Bind args to named parameters the way Python binds a call: positional
 * first, then keywords.  slots[i] is NULL for parameters not given.
 * what names the callee in messages ("filter 'join'"). */
int jargs_bind(JRender *r, const char *what, const JArgs *args, const char *const *names, size_t n_names,
               size_t n_positional_max, JValue **slots);
/* Python truth of an optional argument, with a default. */
int jargs_bool(JRender *r, JValue *v, bool def, bool *ret);
/* An int argument (bools count); what names it in the message. */
int jargs_int(JRender *r, JValue *v, const char *what, int64_t *ret);

/* ---- filters and tests (jinja-filters.c) ---------------------------- */

typedef int (*JFilterFn)(JRender *r, JValue *value, JArgs *args, JValue **ret);
typedef int (*JTestFn)(JRender *r, JValue *value, JArgs *args, bool *ret);

typedef struct JFilterDef {
        const char *name;
        JFilterFn fn;
} JFilterDef;

typedef struct JTestDef {
        const char *name;
        JTestFn fn;
} JTestDef;

const JFilterDef *jinja_filter_lookup(const char *name);
const JTestDef *jinja_test_lookup(const char *name);
/* By name at runtime (map, select): an error for unknown names. */
int jinja_call_filter(JRender *r, const char *name, JValue *value, JArgs *args, JValue **ret);
int jinja_call_test(JRender *r, const char *name, JValue *value, JArgs *args, bool *ret);

/* ---- methods and globals (jinja-methods.c) -------------------------- */

/* The method name of v's type, or NULL; for dicts also methods we do not
 * implement, since an attribute wins over a key in Jinja's getattr. */
const JMethod *jinja_method_lookup(const JValue *v, const char *name);
/* str helpers the filters share with the methods */
int jinja_str_strip(JRender *r, JValue *s, JValue *chars, JValue **ret);
int jinja_str_replace(JRender *r, const JValue *s, const JValue *old, const JValue *new, int64_t count, JValue **ret);
bool jinja_str_is_case(const JValue *s, bool upper);
int jinja_str_splitlines(const char *s, size_t len, bool keepends, JValue *list);
/* align < 0 left (ljust), 0 centre, > 0 right (rjust) */
int jinja_str_pad(const JValue *s, int64_t width, const char *fill, size_t fill_len, int align, JValue **ret);
/* range, dict, namespace, cycler, joiner, lipsum */
const JMethod *jinja_global_lookup(const char *name);
/* Call a callable value: macros, methods, functions, loops, joiners. */
int jinja_call_value(JRender *r, JValue *callee, JArgs *args, JValue **ret);

/* ---- printf-style formatting (jinja-format.c) ----------------------- */

/* fmt % arg, Python's str.__mod__. */
int jinja_percent_format(JRender *r, const JValue *fmt, JValue *arg, JValue **ret);

/* ---- tokens (jinja-lexer.c) ------------------------------------------ */

typedef enum JTokType {
        JT_DATA,
        JT_VAR_BEGIN,
        JT_VAR_END,
        JT_BLOCK_BEGIN,
        JT_BLOCK_END,
        JT_NAME,
        JT_STRING,
        JT_INT,
        JT_FLOAT,
        JT_OP,
        JT_EOF,
} JTokType;

typedef enum JOpTok {
        JO_ADD, JO_SUB, JO_DIV, JO_FLOORDIV, JO_MUL, JO_MOD, JO_POW, JO_TILDE,
        JO_LBRACKET, JO_RBRACKET, JO_LPAREN, JO_RPAREN, JO_LBRACE, JO_RBRACE,
        JO_EQ, JO_NE, JO_GT, JO_GTEQ, JO_LT, JO_LTEQ, JO_ASSIGN, JO_DOT,
        JO_COLON, JO_PIPE, JO_COMMA, JO_SEMICOLON,
        _JO_MAX,
} JOpTok;

typedef struct JToken {
        JTokType type;
        JOpTok op;
        unsigned line;
        const char *text;       /* DATA, NAME: into the source; STRING: owned */
        size_t len;
        int64_t i;
        double f;
        size_t offset;          /* begin/end tags: where in the source */
} JToken;

typedef struct JTokens {
        JToken *t;
        size_t n, cap;
} JTokens;

const char *jinja_op_string(JOpTok op);

/* Cut source (already newline-normalised) into tokens.  On error a message
 * "line: ..." in *ret_error (without the template name) and its line. */
int jinja_lex(const char *source, size_t len, JTokens *ret, unsigned *ret_line, char **ret_error);
void jinja_tokens_done(JTokens *t);

/* ---- syntax tree (jinja-parser.c) ------------------------------------ */

typedef enum JExprKind {
        JE_CONST,
        JE_NAME,
        JE_GETATTR,     /* a.name */
        JE_GETITEM,     /* a[b], b possibly a JE_SLICE */
        JE_SLICE,       /* a:b:c, each NULL when omitted */
        JE_LIST,
        JE_TUPLE,
        JE_DICT,        /* items: key, value, key, value, ... */
        JE_BINOP,       /* a op b */
        JE_AND,
        JE_OR,
        JE_NOT,
        JE_NEG,
        JE_POS,
        JE_CONCAT,      /* items joined by ~ */
        JE_COMPARE,     /* items[0] ops[0] items[1] ops[1] ... */
        JE_COND,        /* b if a else c (c NULL: Jinja's undefined) */
        JE_FILTER,      /* a|name(args); a NULL in filter blocks */
        JE_TEST,        /* a is name(args) */
        JE_CALL,        /* a(args) */
        JE_NSREF,       /* name.attr as a set target */
} JExprKind;

typedef enum JCmpOp {
        JC_EQ,
        JC_NE,
        JC_LT,
        JC_LTEQ,
        JC_GT,
        JC_GTEQ,
        JC_IN,
        JC_NOTIN,
} JCmpOp;

typedef struct JCallSyntax {
        JExpr **pos;
        size_t n_pos;
        char **kw_names;
        JExpr **kw;
        size_t n_kw;
        JExpr *dyn_args, *dyn_kwargs;   /* *args, **kwargs */
} JCallSyntax;

struct JExpr {
        JExprKind kind;
        unsigned line;
        unsigned height;
        JValue *value;                  /* JE_CONST */
        char *name;                     /* NAME, GETATTR, FILTER, TEST; NSREF: the attribute */
        JBinOp op;                      /* JE_BINOP */
        JExpr *a, *b, *c;
        JExpr **items;
        size_t n_items;
        JCmpOp *ops;                    /* JE_COMPARE: n_items - 1 */
        JCallSyntax call;               /* FILTER, TEST, CALL */
        const JFilterDef *filter;       /* NULL: unknown, fails when evaluated */
        const JTestDef *test;
};

typedef enum JNodeKind {
        JN_DATA,
        JN_OUTPUT,
        JN_IF,
        JN_FOR,
        JN_SET,
        JN_SETBLOCK,
        JN_MACRO,
        JN_CALLBLOCK,
        JN_FILTERBLOCK,
        JN_WITH,
} JNodeKind;

typedef struct JBody {
        JNode **nodes;
        size_t n;
} JBody;

typedef struct FrameNames {
        const char **names;             /* borrowed from the syntax tree */
        size_t n;
} FrameNames;

struct JNode {
        JNodeKind kind;
        unsigned line;
        const char *tag;                /* the tag's source, for messages */
        size_t tag_len;
        const char *text;               /* JN_DATA, into the source */
        size_t len;
        JExpr *expr;                    /* OUTPUT, IF test, FOR iterable, SET value,
                                         * CALLBLOCK call, SETBLOCK/FILTERBLOCK filter */
        JExpr *target;                  /* FOR, SET, SETBLOCK */
        JExpr *cond;                    /* FOR ... if cond */
        bool recursive;                 /* FOR ... recursive */
        bool is_elif;                   /* IF: an {% elif %} of the IF around it */
        JBody body, orelse;             /* IF (elif: one JN_IF in orelse), FOR, bodies */
        char *name;                     /* MACRO */
        char **params;                  /* MACRO, CALLBLOCK */
        JExpr **defaults;               /* for the last n_defaults params */
        size_t n_params, n_defaults;
        bool catch_varargs, catch_kwargs, catch_caller;
        JExpr **with_targets, **with_values;
        size_t n_with;
        /* Names this node's scope (FOR: each iteration's; MACRO, CALLBLOCK,
         * WITH, SETBLOCK, FILTERBLOCK: the body's) starts with as
         * undefined, hiding outer values: see jinja_analyze_frames(). */
        FrameNames frame, else_frame;   /* else_frame: FOR's else */
};

typedef struct JTemplate {
        char *name;
        char *source;                   /* newline-normalised */
        size_t len;
        JTokens tokens;                 /* string token texts live here */
        JBody body;
        FrameNames frame;               /* the top level's hidden names */
} JTemplate;

void jinja_template_free(JTemplate *t);
DEFINE_CLEANUP_FUNC(JTemplate *, jinja_template_free);

/* Lex and parse; the message names the template and line. */
int jinja_parse(const char *name, const char *source, unsigned max_depth, JTemplate **ret, char **ret_error);

/* Fill in the FrameNames of t and its nodes (jinja-scopes.c). */
int jinja_analyze_frames(JTemplate *t);

/* Every expression and node below body, depth first (walk returns < 0 to stop). */
typedef int (*JExprVisitor)(const JExpr *e, void *userdata);
int jinja_walk_body(const JBody *body, JExprVisitor visit, void *userdata);

/* ---- rendering (jinja-eval.c) ---------------------------------------- */

struct JScope {
        JScope *parent;
        const char **names;             /* borrowed from the syntax tree */
        JValue **values;
        size_t n, cap;
        bool captured;                  /* a macro or loop may use it later */
};

struct JRender {
        const JTemplate *tmpl;
        size_t max_output;
        unsigned max_depth;
        uint64_t max_iterations;
        uint64_t iterations;
        unsigned depth;                 /* macro calls in progress */
        const char *stack_base;         /* the render's outermost frame */
        size_t stack_max;               /* stack it may use below that */
        unsigned line;                  /* where evaluation is */
        const char *tag;
        size_t tag_len;
        char *error;                    /* the first error, with its place */
        JScope *globals;
        JScope **kept;                  /* captured scopes, freed at the end */
        size_t n_kept;
        JValue **mutables;              /* namespaces and mutated lists and dicts,
                                         * emptied at the end to break cycles */
        size_t n_mutables;
};

/* Record the first error with the current line and construct; returns code. */
int jr_fail(JRender *r, int code, const char *fmt, ...) _printf_(3, 4);
/* Account for n units of work (loop iterations, elements built). */
int jr_charge(JRender *r, uint64_t n);
/* Track a mutable object so that cycles through it are broken at the end. */
int jr_track_mutable(JRender *r, JValue *v);
/* Call a macro or caller with evaluated arguments. */
int jr_call_macro(JRender *r, JValue *macro, JArgs *args, JValue **ret);
/* Call a recursive loop: loop(iterable). */
int jr_call_loop(JRender *r, JValue *loop, JArgs *args, JValue **ret);

int jinja_render(const JTemplate *t, const Value *context, const TemplateLimits *limits,
                 char **ret, char **ret_error);

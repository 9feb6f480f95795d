/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <limits.h>
#include <locale.h>
#include <stdarg.h>

#include "macro.h"
#include "pyregex.h"

/* The parser below follows CPython 3.11's sre_parse.py closely, so that a
 * pattern Python rejects is rejected here too, mostly in Python's words.  It
 * writes POSIX ERE as it goes; the comments on each construct say why the
 * ERE text means what the Python text meant. */

/* glibc refuses larger {m,n} counts (RE_DUP_MAX) */
#define DUP_MAX 0x7fff
#define REPEAT_INFINITE ULONG_MAX

/* Largest output for a repetition written out copy by copy (see
 * write_copies()); glibc would build an automaton that size anyway. */
#define COPIES_MAX (64U * 1024U)

/* Non-ASCII set members are listed one by one; a range wider than this
 * is refused rather than written out. */
#define WIDE_RANGE_MAX 256U

/* Python's whitespace for VERBOSE (sre_parse.WHITESPACE) */
#define PY_WHITESPACE " \t\n\r\v\f"

/* Characters ERE gives a meaning to outside brackets; a literal one is
 * written with a backslash. */
#define ERE_SPECIAL ".[]()*+?{}|^$\\"

typedef struct Buf {
        char *s;
        size_t n, allocated;
} Buf;

static int buf_insert(Buf *b, size_t at, const char *s, size_t l) {
        if (l > SIZE_MAX - b->n - 1)
                return -ENOMEM;
        if (b->n + l + 1 > b->allocated) {
                size_t want = MAX(b->n + l + 1, MAX(b->allocated * 2, (size_t) 64));
                char *n = realloc(b->s, want);

                if (!n)
                        return -ENOMEM;
                b->s = n;
                b->allocated = want;
        }
        memmove(b->s + at + l, b->s + at, b->n - at);
        memcpy(b->s + at, s, l);
        b->n += l;
        b->s[b->n] = 0;
        return 0;
}

static int buf_put(Buf *b, const char *s) {
        return buf_insert(b, b->n, s, strlen(s));
}

static int buf_putc(Buf *b, char c) {
        return buf_insert(b, b->n, &c, 1);
}

static int buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
static int buf_printf(Buf *b, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return buf_put(b, s);
}

static size_t utf8_encode(uint32_t cp, char out[static 4]) {
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xc0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xe0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* The pattern was checked to be valid UTF-8 up front. */
static uint32_t utf8_decode(const char **p) {
        const unsigned char *s = (const unsigned char *) *p;
        uint32_t cp;
        size_t n;

        if (s[0] < 0x80) {
                cp = s[0];
                n = 1;
        } else if (s[0] < 0xe0) {
                cp = s[0] & 0x1fU;
                n = 2;
        } else if (s[0] < 0xf0) {
                cp = s[0] & 0x0fU;
                n = 3;
        } else {
                cp = s[0] & 0x07U;
                n = 4;
        }
        for (size_t i = 1; i < n; i++)
                cp = (cp << 6) | (s[i] & 0x3fU);
        *p += n;
        return cp;
}

typedef enum EscapeKind {
        ESCAPE_LITERAL,         /* cp */
        ESCAPE_CLASS,           /* class: one of dDsSwW */
        ESCAPE_ANCHOR,          /* class: one of AZbB */
        ESCAPE_BACKREF,         /* group */
} EscapeKind;

typedef struct Escape {
        EscapeKind kind;
        uint32_t cp;
        char class;
        unsigned group;
} Escape;

/* What the output ended with, for the quantifier checks Python makes. */
typedef enum Item {
        ITEM_NONE,              /* start, after '(' or '|': nothing to repeat */
        ITEM_ATOM,
        ITEM_ANCHOR,            /* ^ $ \A \Z \b \B: Python refuses to repeat these */
        ITEM_REPEAT,            /* a quantifier: another one is "multiple repeat" */
} Item;

typedef struct PyGroup {
        unsigned ere;           /* its number in the output */
        bool closed;
        bool copied;            /* written more than once: no backreference can name it */
        char *name;
} PyGroup;

typedef struct OpenGroup {
        const char *source;     /* its '(' in the pattern, for messages */
        size_t out_start;       /* its '(' in the output */
        unsigned py;            /* Python group number, 0 if not capturing */
        unsigned ere_before;    /* output groups opened before it */
        size_t py_before;       /* Python groups opened before it */
        bool anchored;          /* holds ^ $ \A \Z \b \B */
        bool backref;           /* holds a backreference */
} OpenGroup;

typedef struct Translator {
        const char *pattern;
        const char *p;
        PyRegexFlags flags;
        Buf out;

        /* The output has capture groups the pattern did not ('(?:' and
         * the groups written for '.' and negated sets), so backreferences
         * are renumbered through this. */
        unsigned ere_groups;
        PyGroup *groups;        /* Python group n is groups[n - 1] */
        size_t n_groups;

        OpenGroup *stack;
        size_t n_stack, allocated_stack;

        /* the last atom: where it starts in the output, and what is in it */
        Item last;
        size_t last_start;
        bool last_multibyte;    /* a character of several bytes */
        bool last_anchored;     /* a group holding an anchor */
        bool last_backref;      /* a group holding a backreference */
        unsigned last_ere_before;
        size_t last_py_before;

        char *error;
} Translator;

static void translator_done(Translator *t) {
        for (size_t i = 0; i < t->n_groups; i++)
                free(t->groups[i].name);
        free(t->groups);
        free(t->stack);
        free(t->out.s);
        free(t->error);
}

static int fail(Translator *t, const char *at, const char *fmt, ...) _printf_(3, 4);
static int fail(Translator *t, const char *at, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        free(t->error);
        t->error = strdup_printf("%s at offset %zu", m, (size_t) (at - t->pattern));
        if (!t->error)
                return -ENOMEM;
        return -EINVAL;
}

static bool verbose(const Translator *t) {
        return t->flags & PYREGEX_VERBOSE;
}

/* VERBOSE: whitespace and '#' comments between tokens mean nothing. */
static const char *skip_verbose(const char *p) {
        for (;;) {
                if (*p && strchr(PY_WHITESPACE, *p))
                        p++;
                else if (*p == '#')
                        p += strcspn(p, "\n");
                else
                        return p;
        }
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_octal(char c) {
        return c >= '0' && c <= '7';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_ascii_letter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static uint32_t hex_value(const char *s, size_t n) {
        uint32_t v = 0;

        for (size_t i = 0; i < n; i++)
                v = v * 16 + (uint32_t) (is_digit(s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
        return v;
}

/* \xhh \uhhhh \Uhhhhhhhh: Python wants exactly that many digits */
static int parse_hex_escape(Translator *t, const char *at, size_t digits, uint32_t *ret) {
        const char *s = t->p;

        for (size_t i = 0; i < digits; i++)
                if (!is_hex(s[i]))
                        return fail(t, at, "incomplete escape %.*s", (int) (s - at + (long) i), at);
        *ret = hex_value(s, digits);
        t->p += digits;
        if (*ret > 0x10ffff)
                return fail(t, at, "bad escape %.*s", (int) (t->p - at), at);
        return 0;
}

/* t->p is at a backslash.  Inside a set only literals and the d/s/w
 * classes exist (sre_parse._class_escape); outside also anchors and
 * backreferences (sre_parse._escape). */
static int parse_escape(Translator *t, bool in_set, Escape *ret) {
        const char *at = t->p;
        char c;

        t->p++;
        c = *t->p;
        if (c == 0)
                return fail(t, at, "bad escape (end of pattern)");
        t->p++;

        *ret = (Escape) { .kind = ESCAPE_LITERAL };
        switch (c) {
        case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
                ret->kind = ESCAPE_CLASS;
                ret->class = c;
                return 0;
        case 'A': case 'Z': case 'B':
                if (in_set)
                        return fail(t, at, "bad escape \\%c", c);
                ret->kind = ESCAPE_ANCHOR;
                ret->class = c;
                return 0;
        case 'b':
                /* a word boundary, but a backspace inside a set */
                if (in_set)
                        ret->cp = '\b';
                else {
                        ret->kind = ESCAPE_ANCHOR;
                        ret->class = c;
                }
                return 0;
        case 'a':
                ret->cp = '\a';
                return 0;
        case 'f':
                ret->cp = '\f';
                return 0;
        case 'n':
                ret->cp = '\n';
                return 0;
        case 'r':
                ret->cp = '\r';
                return 0;
        case 't':
                ret->cp = '\t';
                return 0;
        case 'v':
                ret->cp = '\v';
                return 0;
        case 'x':
                return parse_hex_escape(t, at, 2, &ret->cp);
        case 'u':
                return parse_hex_escape(t, at, 4, &ret->cp);
        case 'U':
                return parse_hex_escape(t, at, 8, &ret->cp);
        case 'N':
                return fail(t, at, "named Unicode escape \\N{...} is not supported");
        }

        if (is_digit(c) && in_set) {
                /* only octal inside a set: up to three digits */
                if (!is_octal(c))
                        return fail(t, at, "bad escape \\%c", c);
                ret->cp = (uint32_t) (c - '0');
                for (int i = 0; i < 2 && is_octal(*t->p); i++)
                        ret->cp = ret->cp * 8 + (uint32_t) (*t->p++ - '0');
                if (ret->cp > 0377)
                        return fail(t, at, "octal escape value %.*s outside of range 0-0o377", (int) (t->p - at), at);
                return 0;
        }

        if (c == '0') {
                /* \0 and up to two more octal digits */
                ret->cp = 0;
                for (int i = 0; i < 2 && is_octal(*t->p); i++)
                        ret->cp = ret->cp * 8 + (uint32_t) (*t->p++ - '0');
                return 0;
        }

        if (is_digit(c)) {
                unsigned group = (unsigned) (c - '0');

                /* "octal escape *or* decimal group reference (sigh)" */
                if (is_digit(*t->p)) {
                        char d = *t->p++;

                        if (is_octal(c) && is_octal(d) && is_octal(*t->p)) {
                                ret->cp = (uint32_t) ((c - '0') * 64 + (d - '0') * 8 + (*t->p++ - '0'));
                                if (ret->cp > 0377)
                                        return fail(t, at, "octal escape value %.*s outside of range 0-0o377",
                                                    (int) (t->p - at), at);
                                return 0;
                        }
                        group = group * 10 + (unsigned) (d - '0');
                }
                if (group > t->n_groups)
                        return fail(t, at + 1, "invalid group reference %u", group);
                if (!t->groups[group - 1].closed)
                        return fail(t, at, "cannot refer to an open group");
                ret->kind = ESCAPE_BACKREF;
                ret->group = group;
                return 0;
        }

        if (is_ascii_letter(c))
                return fail(t, at, "bad escape \\%c", c);

        /* any other escaped character stands for itself */
        t->p--;
        ret->cp = utf8_decode(&t->p);
        return 0;
}

/* ---- character sets -------------------------------------------------- */

typedef struct Set {
        bool negated;
        bool ascii[128];        /* literal members below 0x80 */
        bool word, space;       /* \w \s among the members */
        bool not_word, not_space, not_digit; /* \W \S \D among the members */
        Buf wide;               /* members from 0x80 up, in bracket syntax */
} Set;

static void set_done(Set *s) {
        free(s->wide.s);
}

static bool set_has_newline(const Set *s) {
        return s->ascii['\n'] || s->space;
}

static bool set_has_plain_members(const Set *s) {
        if (s->word || s->space || s->wide.n > 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(s->ascii); i++)
                if (s->ascii[i])
                        return true;
        return false;
}

static int set_add_range(Translator *t, Set *s, const char *at, uint32_t lo, uint32_t hi) {
        /* ERE text cannot carry a NUL, not even inside a bracket */
        if (lo == 0)
                return fail(t, at, "NUL character in a set is not supported");

        for (uint32_t c = lo; c <= hi && c < 0x80; c++)
                s->ascii[c] = true;
        if (hi < 0x80)
                return 0;

        /* glibc takes no range with a non-ASCII end under C.UTF-8 (it has
         * no collation rules to order them by), so such characters are
         * listed one by one. */
        lo = MAX(lo, 0x80U);
        if (hi - lo >= WIDE_RANGE_MAX)
                return fail(t, at, "range of more than %u non-ASCII characters in a set is not supported",
                            WIDE_RANGE_MAX);
        for (uint32_t c = lo; c <= hi; c++) {
                char u[4];
                int r;

                if (c >= 0xd800 && c <= 0xdfff)
                        continue;       /* surrogates: never in UTF-8 text */
                r = buf_insert(&s->wide, s->wide.n, u, utf8_encode(c, u));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Python's \s: ASCII whitespace, and also \x1c-\x1f (str.isspace()), which
 * POSIX [:space:] leaves out. */
static void set_add_space_extras(Set *s) {
        for (unsigned c = 0x1c; c <= 0x1f; c++)
                s->ascii[c] = true;
}

static int set_add_class(Set *s, char class) {
        switch (class) {
        case 'd':
                for (unsigned c = '0'; c <= '9'; c++)
                        s->ascii[c] = true;
                break;
        case 'w':
                s->word = true;
                s->ascii['_'] = true;
                break;
        case 's':
                s->space = true;
                set_add_space_extras(s);
                break;
        case 'D':
                s->not_digit = true;
                break;
        case 'W':
                s->not_word = true;
                break;
        case 'S':
                s->not_space = true;
                break;
        default:
                return -EINVAL;
        }
        return 0;
}

/* One set member: a character or an escape. */
static int parse_set_member(Translator *t, Escape *ret) {
        if (*t->p == '\\')
                return parse_escape(t, /* in_set= */ true, ret);
        *ret = (Escape) { .kind = ESCAPE_LITERAL };
        ret->cp = utf8_decode(&t->p);
        return 0;
}

/* t->p is just past the '['; sre_parse's set loop. */
static int parse_set(Translator *t, const char *start, Set *s) {
        bool first = true;
        int r;

        if (*t->p == '^') {
                s->negated = true;
                t->p++;
        }

        for (;;) {
                const char *at = t->p;
                Escape a, b;

                if (*t->p == 0)
                        return fail(t, start, "unterminated character set");
                /* ']' right after '[' or '[^' is a member */
                if (*t->p == ']' && !first) {
                        t->p++;
                        return 0;
                }
                first = false;

                r = parse_set_member(t, &a);
                if (r < 0)
                        return r;

                if (*t->p != '-') {
                        if (a.kind == ESCAPE_CLASS)
                                r = set_add_class(s, a.class);
                        else
                                r = set_add_range(t, s, at, a.cp, a.cp);
                        if (r < 0)
                                return r;
                        continue;
                }

                t->p++;
                if (*t->p == 0)
                        return fail(t, start, "unterminated character set");
                if (*t->p == ']') {
                        /* a trailing '-' is a member */
                        if (a.kind == ESCAPE_CLASS)
                                r = set_add_class(s, a.class);
                        else
                                r = set_add_range(t, s, at, a.cp, a.cp);
                        if (r < 0)
                                return r;
                        t->p++;
                        return set_add_range(t, s, at, '-', '-');
                }

                r = parse_set_member(t, &b);
                if (r < 0)
                        return r;
                if (a.kind != ESCAPE_LITERAL || b.kind != ESCAPE_LITERAL)
                        return fail(t, at, "bad character range %.*s", (int) (t->p - at), at);
                if (b.cp < a.cp)
                        return fail(t, at, "bad character range %.*s", (int) (t->p - at), at);
                r = set_add_range(t, s, at, a.cp, b.cp);
                if (r < 0)
                        return r;
        }
}

/* One POSIX bracket with the plain members (not \W \S \D).  POSIX wants
 * ']' first, '-' last, '^' anywhere but first, and a '[' not followed by
 * ':', '.' or '=', so the members are written in that order. */
static int write_bracket(Buf *b, const Set *s, bool negated) {
        bool ascii[128], caret, dash, bracket, close, others;
        int r;

        memcpy(ascii, s->ascii, sizeof(ascii));
        close = ascii[']'];
        caret = ascii['^'];
        dash = ascii['-'];
        bracket = ascii['['];
        ascii[']'] = ascii['^'] = ascii['-'] = ascii['['] = false;

        others = s->word || s->space || s->wide.n > 0;
        for (size_t i = 0; i < ELEMENTSOF(ascii) && !others; i++)
                others = ascii[i];

        /* "[^]" would be negated: a lone '^' is written as a literal */
        if (!negated && caret && !close && !others && !bracket && !dash)
                return buf_put(b, "\\^");

        r = buf_put(b, negated ? "[^" : "[");
        if (r < 0)
                return r;
        if (close && (r = buf_putc(b, ']')) < 0)
                return r;
        /* '-' goes first when '^' would otherwise be */
        if (!negated && caret && !close && !others && !bracket && dash)
                return buf_put(b, "-^]");
        if (s->word && (r = buf_put(b, "[:alnum:]")) < 0)
                return r;
        if (s->space && (r = buf_put(b, "[:space:]")) < 0)
                return r;

        for (size_t c = 1; c < ELEMENTSOF(ascii); ) {
                size_t e = c;

                if (!ascii[c]) {
                        c++;
                        continue;
                }
                while (e + 1 < ELEMENTSOF(ascii) && ascii[e + 1])
                        e++;
                if (e - c >= 2)
                        r = buf_printf(b, "%c-%c", (char) c, (char) e);
                else {
                        r = buf_putc(b, (char) c);
                        if (r >= 0 && e > c)
                                r = buf_putc(b, (char) e);
                }
                if (r < 0)
                        return r;
                c = e + 1;
        }

        if (s->wide.n > 0 && (r = buf_insert(b, b->n, s->wide.s, s->wide.n)) < 0)
                return r;
        if (bracket && (r = buf_putc(b, '[')) < 0)
                return r;
        if (caret && (r = buf_putc(b, '^')) < 0)
                return r;
        if (dash && (r = buf_putc(b, '-')) < 0)
                return r;
        return buf_putc(b, ']');
}

/* Python's \s and \S as brackets: \s also takes \x1c-\x1f, as
 * str.isspace() does and POSIX [:space:] does not */
#define SPACE_BRACKET "[[:space:]\x1c-\x1f]"
#define NOT_SPACE_BRACKET "[^[:space:]\x1c-\x1f]"

/* Write a set as one atom.  Python's negated sets and \W \D match a
 * newline, but under REG_NEWLINE (MULTILINE) a POSIX non-matching list
 * never does, so there the newline is added back as an alternative.  A
 * set mixing plain members with \W \S \D is the union of brackets. */
static int write_set(Translator *t, const char *at, const Set *s) {
        const bool ml = t->flags & PYREGEX_MULTILINE;
        unsigned n_complements = (unsigned) s->not_word + (unsigned) s->not_space + (unsigned) s->not_digit;
        size_t start = t->out.n, n_alternatives = 0;
        bool add_newline = false;
        int r;

        if (n_complements > 0 && s->negated) {
                /* [^\W] is \w; more than that has no single POSIX bracket */
                if (n_complements > 1 || set_has_plain_members(s))
                        return fail(t, at, "negated set combining \\W, \\S or \\D with other members is not supported");
                if (s->not_word)
                        return buf_put(&t->out, "[[:alnum:]_]");
                if (s->not_digit)
                        return buf_put(&t->out, "[0-9]");
                return buf_put(&t->out, SPACE_BRACKET);
        }

        if (n_complements == 0) {
                r = write_bracket(&t->out, s, s->negated);
                if (r < 0)
                        return r;
                n_alternatives = 1;
                add_newline = s->negated && ml && !set_has_newline(s);
        } else {
                const struct {
                        bool present;
                        const char *bracket;
                        bool has_newline;
                } complements[] = {
                        { s->not_word, "[^[:alnum:]_]", true },
                        { s->not_digit, "[^0-9]", true },
                        { s->not_space, NOT_SPACE_BRACKET, false },
                };

                for (size_t i = 0; i < ELEMENTSOF(complements); i++) {
                        if (!complements[i].present)
                                continue;
                        if (n_alternatives > 0 && (r = buf_putc(&t->out, '|')) < 0)
                                return r;
                        r = buf_put(&t->out, complements[i].bracket);
                        if (r < 0)
                                return r;
                        n_alternatives++;
                        add_newline = add_newline || (ml && complements[i].has_newline);
                }
                if (set_has_plain_members(s)) {
                        r = buf_putc(&t->out, '|');
                        if (r < 0)
                                return r;
                        r = write_bracket(&t->out, s, false);
                        if (r < 0)
                                return r;
                        n_alternatives++;
                }
        }

        if (add_newline) {
                r = buf_put(&t->out, "|\n");
                if (r < 0)
                        return r;
                n_alternatives++;
        }
        if (n_alternatives < 2)
                return 0;

        /* a group, so that a quantifier takes all alternatives */
        r = buf_insert(&t->out, start, "(", 1);
        if (r < 0)
                return r;
        t->ere_groups++;
        return buf_putc(&t->out, ')');
}

/* ---- the main loop --------------------------------------------------- */

static void mark_atom(Translator *t, size_t start, bool multibyte) {
        t->last = ITEM_ATOM;
        t->last_start = start;
        t->last_multibyte = multibyte;
        t->last_anchored = t->last_backref = false;
}

/* The innermost open group gets an anchor, or a backreference. */
static void mark_in_group(Translator *t, bool anchor, bool backref) {
        if (t->n_stack == 0)
                return;
        t->stack[t->n_stack - 1].anchored |= anchor;
        t->stack[t->n_stack - 1].backref |= backref;
}

static int write_anchor_text(Translator *t, const char *text) {
        int r;

        r = buf_put(&t->out, text);
        if (r < 0)
                return r;
        t->last = ITEM_ANCHOR;
        mark_in_group(t, true, false);
        return 0;
}

static int write_literal(Translator *t, const char *at, uint32_t cp) {
        size_t start = t->out.n, l;
        char u[4];
        int r;

        if (cp == 0)
                return fail(t, at, "NUL character is not supported");
        if (cp >= 0xd800 && cp <= 0xdfff)
                return fail(t, at, "surrogate code point U+%04X is not supported", (unsigned) cp);

        if (cp < 0x80 && strchr(ERE_SPECIAL, (int) cp)) {
                r = buf_putc(&t->out, '\\');
                if (r < 0)
                        return r;
        }
        l = utf8_encode(cp, u);
        r = buf_insert(&t->out, t->out.n, u, l);
        if (r < 0)
                return r;
        mark_atom(t, start, l > 1);
        return 0;
}

static int write_class(Translator *t, const char *at, char class) {
        _cleanup_(set_done) Set s = {};
        size_t start = t->out.n;
        int r;

        r = set_add_class(&s, class);
        if (r < 0)
                return r;
        r = write_set(t, at, &s);
        if (r < 0)
                return r;
        mark_atom(t, start, false);
        return 0;
}

/* Python's '.' never matches a newline without DOTALL.  POSIX '.' matches
 * one without REG_NEWLINE and never matches NUL, so '.' is written as
 * brackets in every case. */
static int write_dot(Translator *t) {
        size_t start = t->out.n;
        int r;

        if (t->flags & PYREGEX_DOTALL) {
                r = buf_put(&t->out, "([^\n]|\n)");
                t->ere_groups++;
        } else
                r = buf_put(&t->out, "[^\n]");
        if (r < 0)
                return r;
        mark_atom(t, start, false);
        return 0;
}

/* p is just past a set's '['; returns what follows its ']'. */
static const char *skip_set(const char *p) {
        if (*p == '^')
                p++;
        if (*p == ']')
                p++;
        for (; *p; p++) {
                if (*p == '\\') {
                        if (!p[1])
                                return p + 1;
                        p++;
                } else if (*p == ']')
                        return p + 1;
        }
        return p;
}

/* Whether nothing can follow a '$' at p: the rest of its alternative is
 * empty, and so on outwards through unquantified groups up to the end of
 * the pattern. */
static bool dollar_is_last(const char *p, bool verbose) {
        bool skipping = false;  /* in an alternative after a '|' */
        unsigned depth = 0;     /* groups opened while skipping */

        for (;;) {
                if (verbose)
                        p = skip_verbose(p);
                if (!*p)
                        return true;

                /* a comment runs to the first ')', whatever is in it */
                if (startswith(p, "(?#")) {
                        p += strcspn(p, ")");
                        if (*p)
                                p++;
                        continue;
                }

                if (*p == ')' && depth == 0) {
                        /* the enclosing group ends; what follows it follows the '$' */
                        p++;
                        skipping = false;
                        if (verbose)
                                p = skip_verbose(p);
                        if (*p && strchr("*+?{", *p))
                                return false;
                        continue;
                }

                if (!skipping) {
                        if (*p != '|')
                                return false;
                        skipping = true;
                        p++;
                        continue;
                }

                switch (*p) {
                case '\\':
                        p += p[1] ? 2 : 1;
                        break;
                case '[':
                        p = skip_set(p + 1);
                        break;
                case '(':
                        depth++;
                        p++;
                        break;
                case ')':
                        depth--;
                        p++;
                        break;
                default:
                        p++;
                }
        }
}

/* Python's '$' without MULTILINE matches at the end and also just before
 * a newline that ends the string; \' only at the end.  "\n?\'" (take that
 * newline, then the end) matches in exactly the same places as long as
 * nothing after the '$' still has to match, which is all a search asks.
 * Where more pattern follows, there is no POSIX way to look at the final
 * newline without consuming it.  With MULTILINE, REG_NEWLINE gives '$'
 * Python's meaning. */
static int write_dollar(Translator *t, const char *at) {
        if (t->flags & PYREGEX_MULTILINE)
                return write_anchor_text(t, "$");
        if (!dollar_is_last(t->p, verbose(t)))
                return fail(t, at,
                            "'$' followed by more pattern is not supported without MULTILINE "
                            "(Python's '$' also matches before a final newline); use \\Z or (?m)");
        return write_anchor_text(t, "\n?\\'");
}

/* Without REG_NEWLINE glibc's '^' and '$' still match next to a newline
 * the match itself consumed ("\n^x" finds "\nx"); \` and \' only ever
 * match at the ends of the data. */
static int write_caret(Translator *t) {
        return write_anchor_text(t, t->flags & PYREGEX_MULTILINE ? "^" : "\\`");
}

static int write_anchor(Translator *t, char class) {
        static const char * const ere[] = {
                ['A'] = "\\`",
                ['Z'] = "\\'",        /* no allowance for a final newline */
                ['b'] = "\\b",
                /* one difference: in an empty string, CPython before 3.14
                 * finds no \B, glibc (and Python 3.14) does */
                ['B'] = "\\B",
        };

        return write_anchor_text(t, ere[(unsigned char) class]);
}

static int write_backref(Translator *t, const char *at, unsigned group) {
        unsigned ere = t->groups[group - 1].ere;
        size_t start = t->out.n;
        int r;

        if (t->groups[group - 1].copied)
                return fail(t, at, "backreference to group %u, which is repeated around an anchor, is not supported",
                            group);
        if (ere > 9)
                return fail(t, at, "backreference to group %u (group %u after translation) is not supported, POSIX has \\1 to \\9",
                            group, ere);
        r = buf_printf(&t->out, "\\%u", ere);
        if (r < 0)
                return r;
        mark_atom(t, start, false);
        mark_in_group(t, false, true);
        return 0;
}

static int parse_backslash(Translator *t) {
        const char *at = t->p;
        Escape e;
        int r;

        r = parse_escape(t, /* in_set= */ false, &e);
        if (r < 0)
                return r;
        switch (e.kind) {
        case ESCAPE_LITERAL:
                return write_literal(t, at, e.cp);
        case ESCAPE_CLASS:
                return write_class(t, at, e.class);
        case ESCAPE_ANCHOR:
                return write_anchor(t, e.class);
        case ESCAPE_BACKREF:
                return write_backref(t, at, e.group);
        }
        return -EINVAL;
}

/* glibc builds X{m,n} and X+ from copies of X, and its copies lose the
 * anchors in them: (\ba){2} matches "aa".  When X holds an anchor the
 * copies are written out here instead, as text glibc parses afresh:
 * X{2,3} as XXX?, X+ as XX*.  A copied group has several numbers in the
 * output, so backreferences to it are refused. */
static int write_copies(Translator *t, const char *at, unsigned long min, unsigned long max) {
        _cleanup_free_ char *x = NULL;
        unsigned long units = max == REPEAT_INFINITE ? min + 1 : max;
        unsigned groups = t->ere_groups - t->last_ere_before;
        size_t l = t->out.n - t->last_start;
        int r;

        if (t->last_backref)
                return fail(t, at, "repeating a group that holds both an anchor and a backreference is not supported");
        if (units > COPIES_MAX / MAX(l, (size_t) 1))
                return fail(t, at, "repeating a group that holds an anchor more than %zu times is not supported",
                            COPIES_MAX / MAX(l, (size_t) 1));

        x = strndup(t->out.s + t->last_start, l);
        if (!x)
                return -ENOMEM;
        for (size_t i = t->last_py_before; i < t->n_groups; i++)
                t->groups[i].copied = true;

        for (unsigned long i = 0; i < units; i++) {
                const char *suffix = i < min ? "" : max == REPEAT_INFINITE ? "*" : "?";

                if (i > 0) {
                        r = buf_insert(&t->out, t->out.n, x, l);
                        if (r < 0)
                                return r;
                        t->ere_groups += groups;
                }
                r = buf_put(&t->out, suffix);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int repeat(Translator *t, const char *at, unsigned long min, unsigned long max) {
        char q[64];
        int r;

        if (t->last == ITEM_NONE || t->last == ITEM_ANCHOR)
                return fail(t, at, "nothing to repeat");
        if (t->last == ITEM_REPEAT)
                return fail(t, at, "multiple repeat");

        /* a quantifier takes only the last byte of a multi-byte character
         * when the regex is compiled without a UTF-8 locale */
        if (t->last_multibyte) {
                r = buf_insert(&t->out, t->last_start, "(", 1);
                if (r < 0)
                        return r;
                r = buf_putc(&t->out, ')');
                if (r < 0)
                        return r;
                t->ere_groups++;
        }

        /* two numbers of at most five digits: q cannot overflow */
        if (min == 0 && max == 1)
                strcpy(q, "?");
        else if (min == 0 && max == REPEAT_INFINITE)
                strcpy(q, "*");
        else if (min == 1 && max == REPEAT_INFINITE)
                strcpy(q, "+");
        else if (max == REPEAT_INFINITE)
                (void) snprintf(q, sizeof(q), "{%lu,}", min);
        else if (min == max)
                (void) snprintf(q, sizeof(q), "{%lu}", min);
        else
                (void) snprintf(q, sizeof(q), "{%lu,%lu}", min, max);

        /* glibc copies X for all but X? X* X{0} X{1} */
        if (t->last_anchored && !(min == 0 && (max <= 1 || max == REPEAT_INFINITE)) && !(min == 1 && max == 1))
                r = write_copies(t, at, min, max);
        else
                r = buf_put(&t->out, q);
        if (r < 0)
                return r;
        t->last = ITEM_REPEAT;

        /* Lazy matching finds a match exactly where greedy matching does;
         * only the extent differs, and a search does not report it. */
        if (*t->p == '?')
                t->p++;
        else if (*t->p == '+')
                return fail(t, t->p, "possessive quantifier '%.*s+' is not supported",
                            (int) (t->p - at), at);
        return 0;
}

/* Digits of a {m,n} count; saturates above DUP_MAX, refused only once the
 * '{' is known to be a quantifier (else it is a literal). */
static const char *parse_count(const char *p, bool *have, unsigned long *ret) {
        unsigned long v = 0;

        *have = false;
        for (; is_digit(*p); p++) {
                v = MIN(v * 10 + (unsigned long) (*p - '0'), (unsigned long) DUP_MAX + 1);
                *have = true;
        }
        *ret = v;
        return p;
}

/* t->p is at a '{'.  Python reads {m}, {m,}, {,n}, {m,n} and {,} as a
 * quantifier and any other '{' as a literal. */
static int parse_brace(Translator *t) {
        const char *at = t->p, *p = t->p + 1;
        bool have_lo, have_hi;
        unsigned long lo, hi;

        if (*p == '}')
                goto literal;
        p = parse_count(p, &have_lo, &lo);
        if (*p == ',') {
                p = parse_count(p + 1, &have_hi, &hi);
        } else {
                have_hi = have_lo;
                hi = lo;
        }
        if (*p != '}')
                goto literal;
        p++;

        if (!have_lo)
                lo = 0;
        if (!have_hi)
                hi = REPEAT_INFINITE;
        if (lo > DUP_MAX || (hi != REPEAT_INFINITE && hi > DUP_MAX))
                return fail(t, at, "repetition count is larger than %d", DUP_MAX);
        if (hi < lo)
                return fail(t, at, "min repeat greater than max repeat");

        t->p = p;
        return repeat(t, at, lo, hi);

literal:
        t->p++;
        return write_literal(t, at, '{');
}

static int group_push(Translator *t, const char *source, unsigned py) {
        int r;

        if (t->n_stack >= t->allocated_stack) {
                size_t want = MAX(t->allocated_stack * 2, (size_t) 8);
                OpenGroup *n = reallocarray(t->stack, want, sizeof(OpenGroup));

                if (!n)
                        return -ENOMEM;
                t->stack = n;
                t->allocated_stack = want;
        }
        t->stack[t->n_stack++] = (OpenGroup) {
                .source = source,
                .out_start = t->out.n,
                .py = py,
                .ere_before = t->ere_groups,
                .py_before = py > 0 ? py - 1 : t->n_groups,
        };

        r = buf_putc(&t->out, '(');
        if (r < 0)
                return r;
        t->ere_groups++;
        if (py > 0)
                t->groups[py - 1].ere = t->ere_groups;
        t->last = ITEM_NONE;
        return 0;
}

static int new_py_group(Translator *t, char *name, unsigned *ret) {
        PyGroup *n;

        n = reallocarray(t->groups, t->n_groups + 1, sizeof(PyGroup));
        if (!n) {
                free(name);
                return -ENOMEM;
        }
        t->groups = n;
        t->groups[t->n_groups++] = (PyGroup) { .name = name };
        *ret = (unsigned) t->n_groups;
        return 0;
}

/* (?P<name>: the name must be an identifier, and not used before */
static int parse_group_name(Translator *t, const char *at, char **ret) {
        const char *s = t->p, *e = strchr(s, '>');
        _cleanup_free_ char *name = NULL;

        if (!e)
                return fail(t, at, "missing >, unterminated name");
        if (e == s)
                return fail(t, at, "missing group name");
        for (const char *c = s; c < e; c++)
                if (!((unsigned char) *c >= 0x80 || is_ascii_letter(*c) || *c == '_' ||
                      (c > s && is_digit(*c))))
                        return fail(t, at, "bad character in group name '%.*s'", (int) (e - s), s);

        name = strndup(s, (size_t) (e - s));
        if (!name)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_groups; i++)
                if (streq_ptr(t->groups[i].name, name))
                        return fail(t, at, "redefinition of group name '%s'", name);

        t->p = e + 1;
        *ret = TAKE_PTR(name);
        return 0;
}

static bool is_flag_letter(char c) {
        return c && strchr("aiLmsux", c);
}

/* t->p is at a '(' */
static int parse_open(Translator *t) {
        const char *at = t->p;
        unsigned py = 0;
        int r;

        if (t->p[1] != '?') {
                t->p++;
                r = new_py_group(t, NULL, &py);
                if (r < 0)
                        return r;
                return group_push(t, at, py);
        }

        t->p += 2;
        switch (*t->p) {
        case ':':
                t->p++;
                return group_push(t, at, 0);

        case 'P':
                if (t->p[1] == '<') {
                        char *name = NULL;

                        t->p += 2;
                        r = parse_group_name(t, at, &name);
                        if (r < 0)
                                return r;
                        r = new_py_group(t, name, &py);
                        if (r < 0)
                                return r;
                        return group_push(t, at, py);
                }
                if (t->p[1] == '=')
                        return fail(t, at, "named backreference '(?P=' is not supported");
                return fail(t, at, "unknown extension ?P%.1s", t->p + 1);

        case '#':
                /* a comment, up to the next ')' */
                t->p += strcspn(t->p, ")");
                if (!*t->p)
                        return fail(t, at, "missing ), unterminated comment");
                t->p++;
                return 0;

        case '=':
                return fail(t, at, "lookahead assertion '(?=' is not supported");
        case '!':
                return fail(t, at, "negative lookahead assertion '(?!' is not supported");
        case '<':
                if (t->p[1] == '=')
                        return fail(t, at, "lookbehind assertion '(?<=' is not supported");
                if (t->p[1] == '!')
                        return fail(t, at, "negative lookbehind assertion '(?<!' is not supported");
                return fail(t, at, "unknown extension ?<%.1s", t->p + 1);
        case '>':
                return fail(t, at, "atomic group '(?>' is not supported");
        case '(':
                return fail(t, at, "conditional group '(?(' is not supported");
        }

        if (is_flag_letter(*t->p) || *t->p == '-') {
                const char *e = t->p;

                while (is_flag_letter(*e) || *e == '-')
                        e++;
                if (*e == ')')
                        return fail(t, at, "global flags not at the start of the expression");
                if (*e == ':')
                        return fail(t, at, "scoped inline flags '(?%.*s:' are not supported",
                                    (int) (e - t->p), t->p);
                return fail(t, at, "unknown flag");
        }

        if (*t->p == 0)
                return fail(t, at, "unexpected end of pattern");
        return fail(t, at, "unknown extension ?%.1s", t->p);
}

static int parse_close(Translator *t) {
        OpenGroup g;
        int r;

        if (t->n_stack == 0)
                return fail(t, t->p, "unbalanced parenthesis");
        g = t->stack[--t->n_stack];
        t->p++;

        r = buf_putc(&t->out, ')');
        if (r < 0)
                return r;
        if (g.py > 0)
                t->groups[g.py - 1].closed = true;
        mark_atom(t, g.out_start, false);
        t->last_anchored = g.anchored;
        t->last_backref = g.backref;
        t->last_ere_before = g.ere_before;
        t->last_py_before = g.py_before;
        mark_in_group(t, g.anchored, g.backref);
        return 0;
}

/* "(?i)", "(?s)", "(?m)", "(?x)" ... at the very start set flags for the
 * whole pattern; Python refuses them anywhere else. */
static int parse_leading_flags(Translator *t) {
        for (;;) {
                const char *at, *e;
                PyRegexFlags f = 0;
                bool ascii = false, unicode = false;

                if (verbose(t))
                        t->p = skip_verbose(t->p);
                if (!startswith(t->p, "(?"))
                        return 0;
                at = t->p;
                for (e = t->p + 2; is_flag_letter(*e); e++)
                        switch (*e) {
                        case 'i':
                                f |= PYREGEX_IGNORECASE;
                                break;
                        case 'm':
                                f |= PYREGEX_MULTILINE;
                                break;
                        case 's':
                                f |= PYREGEX_DOTALL;
                                break;
                        case 'x':
                                f |= PYREGEX_VERBOSE;
                                break;
                        case 'a':
                                ascii = true;
                                break;
                        case 'u':
                                unicode = true;
                                break;
                        case 'L':
                                return fail(t, at, "bad inline flag: cannot use 'L' flag with a str pattern");
                        }
                if (e == t->p + 2 || *e != ')')
                        return 0;       /* "(?:", "(?i:", "(?P<" ...: not ours */
                if (ascii && unicode)
                        return fail(t, at, "bad inline flag: flags 'a', 'u' and 'L' are incompatible");

                t->flags |= f;
                t->p = e + 1;
        }
}

static int translate(Translator *t) {
        int r;

        r = parse_leading_flags(t);
        if (r < 0)
                return r;

        for (;;) {
                const char *at;
                size_t start;

                if (verbose(t))
                        t->p = skip_verbose(t->p);
                at = t->p;

                switch (*t->p) {
                case 0:
                        if (t->n_stack > 0)
                                return fail(t, t->stack[t->n_stack - 1].source, "missing ), unterminated subpattern");
                        return 0;
                case '(':
                        r = parse_open(t);
                        break;
                case ')':
                        r = parse_close(t);
                        break;
                case '|':
                        t->p++;
                        r = buf_putc(&t->out, '|');
                        t->last = ITEM_NONE;
                        break;
                case '[': {
                        _cleanup_(set_done) Set s = {};

                        t->p++;
                        start = t->out.n;
                        r = parse_set(t, at, &s);
                        if (r >= 0)
                                r = write_set(t, at, &s);
                        if (r >= 0)
                                mark_atom(t, start, false);
                        break;
                }
                case '.':
                        t->p++;
                        r = write_dot(t);
                        break;
                case '^':
                        t->p++;
                        r = write_caret(t);
                        break;
                case '$':
                        t->p++;
                        r = write_dollar(t, at);
                        break;
                case '*':
                        t->p++;
                        r = repeat(t, at, 0, REPEAT_INFINITE);
                        break;
                case '+':
                        t->p++;
                        r = repeat(t, at, 1, REPEAT_INFINITE);
                        break;
                case '?':
                        t->p++;
                        r = repeat(t, at, 0, 1);
                        break;
                case '{':
                        r = parse_brace(t);
                        break;
                case '\\':
                        r = parse_backslash(t);
                        break;
                default:
                        r = write_literal(t, at, utf8_decode(&t->p));
                }
                if (r < 0)
                        return r;
        }
}

int pyregex_translate(const char *pattern, PyRegexFlags *flags, char **ret, char **ret_error) {
        _cleanup_(translator_done) Translator t = {};
        int r;

        if (!pattern || !flags || !ret)
                return -EINVAL;

        t.pattern = t.p = pattern;
        t.flags = *flags;

        if (!utf8_is_valid(pattern)) {
                r = fail(&t, pattern, "pattern is not valid UTF-8");
                goto finish;
        }

        /* an empty pattern translates to an empty string, not NULL */
        r = buf_put(&t.out, "");
        if (r < 0)
                return r;

        r = translate(&t);
finish:
        if (r < 0) {
                if (r == -EINVAL && ret_error)
                        *ret_error = TAKE_PTR(t.error);
                return r;
        }

        *flags = t.flags;
        *ret = TAKE_PTR(t.out.s);
        return 0;
}

/* ---- compiling and matching ------------------------------------------ */

/* Python matches characters, not bytes: compiled and run under C.UTF-8,
 * glibc's '.', brackets, classes and case folding do too, whatever
 * locale the calling program has set up.  Where C.UTF-8 is missing both
 * fall back to "C", bytes, the same way, so that a regex_t is always run
 * under the locale it was compiled under. */
static int regex_locale(locale_t *ret) {
        locale_t l;

        l = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C.UTF-8", (locale_t) 0);
        if (!l) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                l = newlocale(LC_CTYPE_MASK | LC_COLLATE_MASK, "C", (locale_t) 0);
                if (!l)
                        return negative_errno();
        }
        *ret = l;
        return 0;
}

static void freelocalep(locale_t *l) {
        if (*l)
                freelocale(*l);
}

int pyregex_compile(const char *pattern, PyRegexFlags flags, regex_t *ret, char **ret_error) {
        _cleanup_(freelocalep) locale_t loc = (locale_t) 0;
        _cleanup_free_ char *ere = NULL, *msg = NULL;
        int cflags = REG_EXTENDED | REG_NOSUB, r;
        locale_t old;
        size_t l;

        if (!pattern || !ret)
                return -EINVAL;

        r = pyregex_translate(pattern, &flags, &ere, ret_error);
        if (r < 0)
                return r;

        if (flags & PYREGEX_IGNORECASE)
                cflags |= REG_ICASE;
        /* The translation spelled '.' and sets out already; what
         * REG_NEWLINE adds is ^ and $ at line breaks. */
        if (flags & PYREGEX_MULTILINE)
                cflags |= REG_NEWLINE;

        r = regex_locale(&loc);
        if (r < 0)
                return r;

        old = uselocale(loc);
        r = regcomp(ret, ere, cflags);
        (void) uselocale(old);
        if (r == 0)
                return 0;
        if (r == REG_ESPACE)
                return -ENOMEM;

        if (ret_error) {
                l = regerror(r, ret, NULL, 0);
                msg = malloc(l);
                if (!msg)
                        return -ENOMEM;
                (void) regerror(r, ret, msg, l);
                *ret_error = strdup_printf("%s (in the POSIX translation '%s')", msg, ere);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return -EINVAL;
}

int pyregex_search(const regex_t *re, const char *data, size_t size) {
        _cleanup_(freelocalep) locale_t loc = (locale_t) 0;
        regmatch_t m[1];
        locale_t old;
        int r;

        if (!re || (!data && size > 0))
                return -EINVAL;
        /* regoff_t is an int */
        if (size > INT_MAX)
                return -E2BIG;

        r = regex_locale(&loc);
        if (r < 0)
                return r;

        /* REG_STARTEND: the data may hold NUL bytes and need not end in one */
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t) size;
        old = uselocale(loc);
        r = regexec(re, data ?: "", 1, m, REG_STARTEND);
        (void) uselocale(old);

        switch (r) {
        case 0:
                return 1;
        case REG_NOMATCH:
                return 0;
        case REG_ESPACE:
                return -ENOMEM;
        default:
                return -EINVAL;
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Jinja's lexer (jinja2/lexer.py) for the default delimiters with
 * trim_blocks and lstrip_blocks off: template text up to the next "{{",
 * "{%" or "{#"; a "-" after the opening delimiter strips the whitespace
 * before it, a "-" before the closing one the whitespace after it ("+"
 * keeps it).  Inside a tag, the end delimiter is recognised only outside
 * brackets, so "{{ {'a': 1}}}" works; otherwise whitespace, floats, ints,
 * names, strings and operators, tried in that order as Jinja does. */

#include <ctype.h>

#include "jinja-internal.h"

typedef struct Lexer {
        const char *s;
        size_t len, pos;
        unsigned line;
        JTokens *out;
        char *error;
        unsigned error_line;
        char brackets[JINJA_EXPR_HEIGHT_MAX];   /* expected closers */
        size_t n_brackets;
} Lexer;

static const char *const op_strings[_JO_MAX] = {
        [JO_ADD] = "+", [JO_SUB] = "-", [JO_DIV] = "/", [JO_FLOORDIV] = "//", [JO_MUL] = "*",
        [JO_MOD] = "%", [JO_POW] = "**", [JO_TILDE] = "~", [JO_LBRACKET] = "[", [JO_RBRACKET] = "]",
        [JO_LPAREN] = "(", [JO_RPAREN] = ")", [JO_LBRACE] = "{", [JO_RBRACE] = "}", [JO_EQ] = "==",
        [JO_NE] = "!=", [JO_GT] = ">", [JO_GTEQ] = ">=", [JO_LT] = "<", [JO_LTEQ] = "<=",
        [JO_ASSIGN] = "=", [JO_DOT] = ".", [JO_COLON] = ":", [JO_PIPE] = "|", [JO_COMMA] = ",",
        [JO_SEMICOLON] = ";",
};

const char *jinja_op_string(JOpTok op) {
        return op < _JO_MAX ? op_strings[op] : "?";
}

static int lex_fail(Lexer *lx, unsigned line, const char *fmt, ...) _printf_(3, 4);
static int lex_fail(Lexer *lx, unsigned line, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&lx->error, fmt, ap) < 0)
                lx->error = NULL;
        va_end(ap);
        lx->error_line = line;
        return lx->error ? -EINVAL : -ENOMEM;
}

static int push(Lexer *lx, JToken t) {
        JTokens *o = lx->out;

        if (o->n == o->cap) {
                size_t cap = MAX(o->cap * 2, (size_t) 64);
                JToken *n = reallocarray(o->t, cap, sizeof(JToken));

                if (!n)
                        return -ENOMEM;
                o->t = n;
                o->cap = cap;
        }
        o->t[o->n++] = t;
        return 0;
}

static unsigned count_lines(const char *s, size_t len) {
        unsigned n = 0;

        for (size_t i = 0; i < len; i++)
                n += s[i] == '\n';
        return n;
}

/* Length of the run of whitespace at s[0..len). */
static size_t whitespace_run(const char *s, size_t len) {
        size_t i = 0;

        while (i < len) {
                uint32_t cp;
                size_t n = utf8_next(s + i, len - i, &cp);

                if (!uni_isspace(cp))
                        break;
                i += n;
        }
        return i;
}

static bool at(const Lexer *lx, size_t pos, const char *what) {
        size_t l = strlen(what);

        return pos + l <= lx->len && memcmp(lx->s + pos, what, l) == 0;
}

/* "{%" [-+]? \s* word \s* ("-%}" \s* | "%}"), plus "+%}" when allow_plus:
 * the length matched (0 if none) and the sign after "{%". */
static size_t match_raw_tag(const Lexer *lx, size_t pos, const char *word, bool allow_plus, char *ret_sign) {
        size_t p = pos, l = strlen(word);

        if (!at(lx, p, "{%"))
                return 0;
        p += 2;
        *ret_sign = 0;
        if (p < lx->len && (lx->s[p] == '-' || lx->s[p] == '+'))
                *ret_sign = lx->s[p++];
        p += whitespace_run(lx->s + p, lx->len - p);
        if (!at(lx, p, word))
                return 0;
        p += l;
        p += whitespace_run(lx->s + p, lx->len - p);
        if (at(lx, p, "-%}")) {
                p += 3;
                p += whitespace_run(lx->s + p, lx->len - p);
        } else if (at(lx, p, "%}"))
                p += 2;
        else if (allow_plus && at(lx, p, "+%}"))
                p += 3;
        else
                return 0;
        return p - pos;
}

/* Template text before a tag, with "-" stripping it on the right. */
static int emit_data(Lexer *lx, size_t start, size_t end, bool strip) {
        size_t len = end - start, kept = len;
        unsigned line = lx->line;
        int r = 0;

        if (strip) {
                size_t s0;

                text_strip(lx->s + start, len, NULL, 0, false, true, &s0, &kept);
        }
        if (kept > 0)
                r = push(lx, (JToken) { .type = JT_DATA, .line = line, .text = lx->s + start, .len = kept });
        lx->line += count_lines(lx->s + start, len);
        return r;
}

static int lex_comment(Lexer *lx) {
        unsigned line = lx->line;

        /* Jinja's lexer stops quietly when nothing follows the "{#" */
        if (lx->pos >= lx->len)
                return 0;

        for (size_t p = lx->pos; p < lx->len; p++) {
                size_t end;

                if (at(lx, p, "+#}"))
                        end = p + 3;
                else if (at(lx, p, "-#}")) {
                        end = p + 3;
                        end += whitespace_run(lx->s + end, lx->len - end);
                } else if (at(lx, p, "#}"))
                        end = p + 2;
                else
                        continue;
                lx->line += count_lines(lx->s + lx->pos, end - lx->pos);
                lx->pos = end;
                return 0;
        }
        return lex_fail(lx, line, "missing end of comment tag '#}'");
}

static int lex_raw(Lexer *lx) {
        unsigned line = lx->line;

        if (lx->pos >= lx->len)
                return 0;       /* as for comments */

        for (size_t p = lx->pos; p < lx->len; p++) {
                size_t l;
                char sign;
                int r;

                if (lx->s[p] != '{')
                        continue;
                l = match_raw_tag(lx, p, "endraw", true, &sign);
                if (l == 0)
                        continue;
                r = emit_data(lx, lx->pos, p, sign == '-');
                if (r < 0)
                        return r;
                lx->line += count_lines(lx->s + p, l);
                lx->pos = p + l;
                return 0;
        }
        return lex_fail(lx, line, "missing end of raw directive '{%% endraw %%}'");
}

/* (\d+_)*\d+ : digits with single underscores between them */
static size_t digits_run(const char *s, size_t len) {
        size_t i = 0;

        if (len == 0 || !isdigit((unsigned char) s[0]))
                return 0;
        while (i < len) {
                if (isdigit((unsigned char) s[i]))
                        i++;
                else if (s[i] == '_' && i + 1 < len && isdigit((unsigned char) s[i + 1]))
                        i++;
                else
                        break;
        }
        return i;
}

static char *without_underscores(const char *s, size_t len) {
        char *t = malloc(len + 1), *o = t;

        if (!t)
                return NULL;
        for (size_t i = 0; i < len; i++)
                if (s[i] != '_')
                        *o++ = s[i];
        *o = 0;
        return t;
}

/* float_re: digits ((\.digits)? e[+-]?digits | \.digits), not after '.' */
static size_t match_float(const Lexer *lx) {
        const char *s = lx->s + lx->pos;
        size_t len = lx->len - lx->pos, i, f = 0, e;

        if (lx->pos > 0 && lx->s[lx->pos - 1] == '.')
                return 0;
        i = digits_run(s, len);
        if (i == 0)
                return 0;
        if (i < len && s[i] == '.')
                f = digits_run(s + i + 1, len - i - 1);
        /* with the fraction (if any), an exponent */
        e = f > 0 ? i + 1 + f : i;
        if (e < len && (s[e] == 'e' || s[e] == 'E')) {
                size_t x = e + 1, d;

                if (x < len && (s[x] == '+' || s[x] == '-'))
                        x++;
                d = digits_run(s + x, len - x);
                if (d > 0)
                        return x + d;
        }
        return f > 0 ? i + 1 + f : 0;
}

/* 0[bBoOxX](_?digit)+ with the digits of base; 0 if not there */
static size_t match_prefixed(const char *s, size_t len, const char *digits) {
        size_t end = 2;

        while (end < len) {
                if (s[end] && strchr(digits, s[end]))
                        end++;
                else if (s[end] == '_' && end + 1 < len && s[end + 1] && strchr(digits, s[end + 1]))
                        end += 2;
                else
                        break;
        }
        return end > 2 ? end : 0;
}

/* integer_re: 0b, 0o, 0x (with _ separators), [1-9](_?\d)*, 0(_?0)* */
static size_t match_integer(const Lexer *lx, unsigned *ret_base) {
        const char *s = lx->s + lx->pos;
        size_t len = lx->len - lx->pos, i;
        static const struct {
                char letter;
                unsigned base;
                const char *digits;
        } prefixes[] = {
                { 'b', 2, "01" },
                { 'o', 8, "01234567" },
                { 'x', 16, "0123456789abcdefABCDEF" },
        };

        if (len == 0 || !isdigit((unsigned char) s[0]))
                return 0;
        if (s[0] == '0' && len > 2)
                for (size_t p = 0; p < ELEMENTSOF(prefixes); p++) {
                        size_t end;

                        if ((s[1] | 0x20) != prefixes[p].letter)
                                continue;
                        end = match_prefixed(s, len, prefixes[p].digits);
                        if (end > 0) {
                                *ret_base = prefixes[p].base;
                                return end;
                        }
                }

        *ret_base = 10;
        if (s[0] != '0')
                return digits_run(s, len);
        for (i = 1; i < len; ) {
                if (s[i] == '0')
                        i++;
                else if (s[i] == '_' && i + 1 < len && s[i + 1] == '0')
                        i += 2;
                else
                        break;
        }
        return i;
}

static bool is_name_byte(unsigned char c, bool first) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80 ||
                (!first && c >= '0' && c <= '9');
}

static size_t match_name(const Lexer *lx) {
        size_t i = lx->pos;

        if (!is_name_byte((unsigned char) lx->s[i], true))
                return 0;
        while (i < lx->len && is_name_byte((unsigned char) lx->s[i], false)) {
                if ((unsigned char) lx->s[i] >= 0x80) {
                        uint32_t cp;
                        size_t n = utf8_next(lx->s + i, lx->len - i, &cp);

                        if (uni_isspace(cp))
                                break;
                        i += n;
                } else
                        i++;
        }
        return i - lx->pos;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) (c | 0x20);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

static int put_codepoint(JBuf *b, uint32_t cp) {
        char u[4];

        return jbuf_put(b, u, utf8_encode(cp, u));
}

/* \x, \u, \U: exactly n hex digits */
static int unescape_hex(Lexer *lx, const char *s, size_t len, size_t *i, size_t n, JBuf *b) {
        uint32_t cp = 0;

        for (size_t k = 0; k < n; k++) {
                int h = *i + k < len ? hex_value(s[*i + k]) : -1;

                if (h < 0)
                        return lex_fail(lx, lx->line, "(unicode error) truncated \\%c escape in string literal",
                                        n == 2 ? 'x' : n == 4 ? 'u' : 'U');
                cp = cp * 16 + (uint32_t) h;
        }
        if (cp > 0x10FFFF)
                return lex_fail(lx, lx->line, "(unicode error) illegal Unicode character in string literal");
        *i += n;
        return put_codepoint(b, cp);
}

/* The character a one-letter escape stands for, or 0. */
static char simple_escape(char c) {
        switch (c) {
        case '\\':
        case '\'':
        case '"':
                return c;
        case 'a':
                return '\a';
        case 'b':
                return '\b';
        case 'f':
                return '\f';
        case 'n':
                return '\n';
        case 'r':
                return '\r';
        case 't':
                return '\t';
        case 'v':
                return '\v';
        default:
                return 0;
        }
}

/* One escape after a backslash at s[*i]. */
static int unescape_one(Lexer *lx, const char *s, size_t len, size_t *i, JBuf *b) {
        char c = s[(*i)++], simple = simple_escape(c);

        if (simple)
                return jbuf_putc(b, simple);
        if (c == '\n')
                return 0;       /* line continuation */
        if (c >= '0' && c <= '7') {
                uint32_t cp = (uint32_t) (c - '0');

                for (size_t k = 0; k < 2 && *i < len && s[*i] >= '0' && s[*i] <= '7'; k++)
                        cp = cp * 8 + (uint32_t) (s[(*i)++] - '0');
                return put_codepoint(b, cp);
        }
        if (c == 'x')
                return unescape_hex(lx, s, len, i, 2, b);
        if (c == 'u')
                return unescape_hex(lx, s, len, i, 4, b);
        if (c == 'U')
                return unescape_hex(lx, s, len, i, 8, b);
        if (c == 'N')
                return lex_fail(lx, lx->line, "\\N{...} escapes are not supported");

        /* unknown escapes stay as they are */
        if (jbuf_putc(b, '\\') < 0)
                return -ENOMEM;
        return jbuf_putc(b, c);
}

/* Python's unicode-escape decoding of a string literal's body. */
static int unescape(Lexer *lx, const char *s, size_t len, JToken *t) {
        _cleanup_(jbuf_done) JBuf b = {};
        int r = 0;

        for (size_t i = 0; i < len && r >= 0; ) {
                if (s[i] == '\\' && i + 1 < len) {
                        i++;
                        r = unescape_one(lx, s, len, &i, &b);
                } else
                        r = jbuf_putc(&b, s[i++]);
        }
        if (r < 0)
                return r;
        t->text = jbuf_steal(&b, &t->len);
        return t->text ? 0 : -ENOMEM;
}

static int lex_string(Lexer *lx, size_t *ret_len) {
        const char *s = lx->s + lx->pos;
        char quote = s[0];
        JToken t = { .type = JT_STRING, .line = lx->line, .offset = lx->pos };
        size_t i = 1;
        int r;

        while (lx->pos + i < lx->len && s[i] != quote) {
                if (s[i] == '\\' && lx->pos + i + 1 < lx->len)
                        i++;
                i++;
        }
        if (lx->pos + i >= lx->len)
                return 1;       /* no match: not a string */

        r = unescape(lx, s + 1, i - 1, &t);
        if (r < 0)
                return r;
        r = push(lx, t);
        if (r < 0) {
                free((char *) t.text);
                return r;
        }
        *ret_len = i + 1;
        return 0;
}

static JOpTok match_operator(const Lexer *lx, size_t *ret_len) {
        static const struct {
                const char *s;
                JOpTok op;
        } two[] = {
                { "//", JO_FLOORDIV }, { "**", JO_POW }, { "==", JO_EQ },
                { "!=", JO_NE }, { ">=", JO_GTEQ }, { "<=", JO_LTEQ },
        };
        static const char singles[] = "+-/*%~[](){}><=.:|,;";
        static const JOpTok single_ops[] = {
                JO_ADD, JO_SUB, JO_DIV, JO_MUL, JO_MOD, JO_TILDE, JO_LBRACKET, JO_RBRACKET,
                JO_LPAREN, JO_RPAREN, JO_LBRACE, JO_RBRACE, JO_GT, JO_LT, JO_ASSIGN, JO_DOT,
                JO_COLON, JO_PIPE, JO_COMMA, JO_SEMICOLON,
        };
        const char *p;

        for (size_t i = 0; i < ELEMENTSOF(two); i++)
                if (at(lx, lx->pos, two[i].s)) {
                        *ret_len = 2;
                        return two[i].op;
                }
        p = lx->s[lx->pos] ? strchr(singles, lx->s[lx->pos]) : NULL;
        if (!p)
                return _JO_MAX;
        *ret_len = 1;
        return single_ops[p - singles];
}

static int balance(Lexer *lx, JOpTok op) {
        char c = jinja_op_string(op)[0];

        if (op == JO_LBRACE || op == JO_LPAREN || op == JO_LBRACKET) {
                if (lx->n_brackets >= ELEMENTSOF(lx->brackets))
                        return lex_fail(lx, lx->line, "brackets nested too deeply");
                lx->brackets[lx->n_brackets++] = op == JO_LBRACE ? '}' : op == JO_LPAREN ? ')' : ']';
        } else if (op == JO_RBRACE || op == JO_RPAREN || op == JO_RBRACKET) {
                if (lx->n_brackets == 0)
                        return lex_fail(lx, lx->line, "unexpected '%c'", c);
                if (lx->brackets[lx->n_brackets - 1] != c)
                        return lex_fail(lx, lx->line, "unexpected '%c', expected '%c'", c,
                                        lx->brackets[lx->n_brackets - 1]);
                lx->n_brackets--;
        }
        return 0;
}

/* The end of the tag at lx->pos (0 if not there), whitespace control
 * included. */
static size_t match_tag_end(const Lexer *lx, bool block) {
        size_t p = lx->pos;

        if (block && at(lx, p, "+%}"))
                return 3;
        if (at(lx, p, block ? "-%}" : "-}}")) {
                p += 3;
                return p + whitespace_run(lx->s + p, lx->len - p) - lx->pos;
        }
        if (at(lx, p, block ? "%}" : "}}"))
                return 2;
        return 0;
}

static int lex_number(Lexer *lx, size_t *ret_len) {
        _cleanup_free_ char *clean = NULL;
        JToken t = { .line = lx->line, .offset = lx->pos };
        unsigned base;
        size_t l;
        int r;

        l = match_float(lx);
        if (l > 0) {
                clean = without_underscores(lx->s + lx->pos, l);
                if (!clean)
                        return -ENOMEM;
                t.type = JT_FLOAT;
                t.f = strtod(clean, NULL);
        } else {
                l = match_integer(lx, &base);
                if (l == 0)
                        return 1;
                clean = without_underscores(lx->s + lx->pos + (base == 10 ? 0 : 2), base == 10 ? l : l - 2);
                if (!clean)
                        return -ENOMEM;
                t.type = JT_INT;
                r = jv_parse_int(clean, strlen(clean), base, &t.i);
                if (r < 0)
                        return lex_fail(lx, lx->line, "integer literal %.*s is beyond 64 bits", (int) l, lx->s + lx->pos);
        }
        *ret_len = l;
        return push(lx, t);
}

/* One token inside {{ }} or {% %}; 1 when the tag ended. */
static int lex_tag_token(Lexer *lx, bool block) {
        size_t l;
        JOpTok op;
        int r;

        if (lx->n_brackets == 0) {
                l = match_tag_end(lx, block);
                if (l > 0) {
                        r = push(lx, (JToken) { .type = block ? JT_BLOCK_END : JT_VAR_END, .line = lx->line,
                                                .offset = lx->pos + (lx->s[lx->pos] == '-' || lx->s[lx->pos] == '+' ? 3 : 2) });
                        if (r < 0)
                                return r;
                        lx->line += count_lines(lx->s + lx->pos, l);
                        lx->pos += l;
                        return 1;
                }
        }

        l = whitespace_run(lx->s + lx->pos, lx->len - lx->pos);
        if (l > 0) {
                lx->line += count_lines(lx->s + lx->pos, l);
                lx->pos += l;
                return 0;
        }

        r = lex_number(lx, &l);
        if (r < 0)
                return r;
        if (r == 0) {
                lx->pos += l;
                return 0;
        }

        l = match_name(lx);
        if (l > 0) {
                r = push(lx, (JToken) { .type = JT_NAME, .line = lx->line, .text = lx->s + lx->pos, .len = l,
                                        .offset = lx->pos });
                lx->pos += l;
                return r;
        }

        if (lx->s[lx->pos] == '\'' || lx->s[lx->pos] == '"') {
                r = lex_string(lx, &l);
                if (r < 0)
                        return r;
                if (r == 0) {
                        lx->line += count_lines(lx->s + lx->pos, l);
                        lx->pos += l;
                        return 0;
                }
        }

        op = match_operator(lx, &l);
        if (op != _JO_MAX) {
                r = balance(lx, op);
                if (r >= 0)
                        r = push(lx, (JToken) { .type = JT_OP, .op = op, .line = lx->line, .offset = lx->pos });
                lx->pos += l;
                return r;
        }

        if ((unsigned char) lx->s[lx->pos] < 0x20 || lx->s[lx->pos] == 0x7f)
                return lex_fail(lx, lx->line, "unexpected char '\\x%02x' at %zu",
                                (unsigned) (unsigned char) lx->s[lx->pos], lx->pos);
        return lex_fail(lx, lx->line, "unexpected char '%c' at %zu", lx->s[lx->pos], lx->pos);
}

static int lex_tag(Lexer *lx, bool block, size_t begin) {
        int r;

        r = push(lx, (JToken) { .type = block ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, .line = lx->line, .offset = begin });
        if (r < 0)
                return r;
        lx->n_brackets = 0;
        while (lx->pos < lx->len) {
                r = lex_tag_token(lx, block);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
        }
        return 0;       /* unterminated: the parser reports the missing end */
}

/* The next "{{", "{%" or "{#" at or after pos, or len. */
static size_t next_opener(const Lexer *lx, size_t pos) {
        for (size_t p = pos; p + 1 < lx->len; p++) {
                const char *q = memchr(lx->s + p, '{', lx->len - p - 1);

                if (!q)
                        break;
                p = (size_t) (q - lx->s);
                if (lx->s[p + 1] == '{' || lx->s[p + 1] == '%' || lx->s[p + 1] == '#')
                        return p;
        }
        return lx->len;
}

static int lex_root(Lexer *lx) {
        while (lx->pos < lx->len) {
                size_t p = next_opener(lx, lx->pos), raw;
                char kind, sign = 0;
                int r;

                if (p >= lx->len)
                        return emit_data(lx, lx->pos, lx->len, false);

                kind = lx->s[p + 1];
                raw = kind == '%' ? match_raw_tag(lx, p, "raw", false, &sign) : 0;
                if (!raw && p + 2 < lx->len && (lx->s[p + 2] == '-' || lx->s[p + 2] == '+'))
                        sign = lx->s[p + 2];

                r = emit_data(lx, lx->pos, p, sign == '-');
                if (r < 0)
                        return r;

                if (raw) {
                        lx->line += count_lines(lx->s + p, raw);
                        lx->pos = p + raw;
                        r = lex_raw(lx);
                } else {
                        lx->pos = p + 2 + (sign ? 1 : 0);
                        if (kind == '#')
                                r = lex_comment(lx);
                        else
                                r = lex_tag(lx, kind == '%', p);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

void jinja_tokens_done(JTokens *t) {
        for (size_t i = 0; i < t->n; i++)
                if (t->t[i].type == JT_STRING)
                        free((char *) t->t[i].text);
        free(t->t);
        *t = (JTokens) {};
}

int jinja_lex(const char *source, size_t len, JTokens *ret, unsigned *ret_line, char **ret_error) {
        Lexer lx = {
                .s = source,
                .len = len,
                .line = 1,
                .out = ret,
        };
        int r;

        *ret = (JTokens) {};
        r = lex_root(&lx);
        if (r >= 0)
                r = push(&lx, (JToken) { .type = JT_EOF, .line = lx.line, .offset = len });
        if (r < 0) {
                jinja_tokens_done(ret);
                *ret_line = lx.error_line;
                *ret_error = lx.error;
                return r;
        }
        return 0;
}

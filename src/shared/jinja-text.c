/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Text as Python sees it: strings are sequences of code points, so
 * lengths, indexes, case mapping and whitespace are by code point, with
 * Python's definitions of whitespace, line breaks and printable.  Case
 * mapping of non-ASCII letters uses glibc's C.UTF-8 tables (simple case
 * mapping: 'ß'.upper() stays 'ß' where Python gives 'SS', the one special
 * case handled below). */

#include <pthread.h>
#include <wctype.h>

#include "jinja-internal.h"

/* ---- buffer ----------------------------------------------------------- */

int jbuf_put(JBuf *b, const char *s, size_t len) {
        size_t max = b->max > 0 ? b->max : SIZE_MAX - 1;

        if (len > max || b->n > max - len)
                return -E2BIG;
        if (b->n + len + 1 > b->cap) {
                size_t want = MAX(MAX(b->cap * 2, b->n + len + 1), (size_t) 64);
                char *t = realloc(b->s, want);

                if (!t)
                        return -ENOMEM;
                b->s = t;
                b->cap = want;
        }
        if (len > 0)
                memcpy(b->s + b->n, s, len);
        b->n += len;
        b->s[b->n] = 0;
        return 0;
}

int jbuf_puts(JBuf *b, const char *s) {
        return jbuf_put(b, s, strlen(s));
}

int jbuf_putc(JBuf *b, char c) {
        return jbuf_put(b, &c, 1);
}

int jbuf_printf(JBuf *b, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0) {
                s = NULL;
                return -ENOMEM;
        }
        return jbuf_put(b, s, (size_t) r);
}

char *jbuf_steal(JBuf *b, size_t *ret_len) {
        char *s;

        if (!b->s && jbuf_put(b, "", 0) < 0)
                return NULL;
        s = TAKE_PTR(b->s);
        if (ret_len)
                *ret_len = b->n;
        b->n = b->cap = 0;
        return s;
}

void jbuf_done(JBuf *b) {
        free(b->s);
        b->s = NULL;
        b->n = b->cap = 0;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Invalid bytes become these lone surrogates, as Python's surrogateescape
 * would have them, and are written back as the byte. */
#define ESCAPED_BYTE_BASE 0xDC00U

size_t utf8_next(const char *s, size_t len, uint32_t *ret_cp) {
        const unsigned char *u = (const unsigned char *) s;
        uint32_t cp, min;
        size_t n;

        if (u[0] < 0x80) {
                *ret_cp = u[0];
                return 1;
        }
        if ((u[0] & 0xE0) == 0xC0) {
                n = 2;
                cp = u[0] & 0x1F;
                min = 0x80;
        } else if ((u[0] & 0xF0) == 0xE0) {
                n = 3;
                cp = u[0] & 0x0F;
                min = 0x800;
        } else if ((u[0] & 0xF8) == 0xF0) {
                n = 4;
                cp = u[0] & 0x07;
                min = 0x10000;
        } else
                goto invalid;

        if (n > len)
                goto invalid;
        for (size_t i = 1; i < n; i++) {
                if ((u[i] & 0xC0) != 0x80)
                        goto invalid;
                cp = (cp << 6) | (u[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                goto invalid;
        *ret_cp = cp;
        return n;

invalid:
        *ret_cp = ESCAPED_BYTE_BASE + u[0];
        return 1;
}

size_t utf8_encode(uint32_t cp, char out[4]) {
        if (cp >= ESCAPED_BYTE_BASE + 0x80 && cp <= ESCAPED_BYTE_BASE + 0xFF) {
                out[0] = (char) (cp - ESCAPED_BYTE_BASE);
                return 1;
        }
        if (cp < 0x80) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char) (0xC0 | (cp >> 6));
                out[1] = (char) (0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char) (0xE0 | (cp >> 12));
                out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[2] = (char) (0x80 | (cp & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | (cp >> 18));
        out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char) (0x80 | (cp & 0x3F));
        return 4;
}

size_t utf8_length(const char *s, size_t len) {
        size_t n = 0;

        for (size_t i = 0; i < len; n++) {
                uint32_t cp;

                if ((unsigned char) s[i] < 0x80)
                        i++;
                else
                        i += utf8_next(s + i, len - i, &cp);
        }
        return n;
}

size_t utf8_offset(const char *s, size_t len, size_t index) {
        size_t i = 0;

        for (size_t k = 0; k < index && i < len; k++) {
                uint32_t cp;

                if ((unsigned char) s[i] < 0x80)
                        i++;
                else
                        i += utf8_next(s + i, len - i, &cp);
        }
        return i;
}

/* ---- character classes ------------------------------------------------ */

static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale = (locale_t) 0;

static void utf8_locale_init(void) {
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
}

/* glibc's C.UTF-8 classification, or (locale_t) 0 if it is missing: then
 * non-ASCII letters are treated as caseless. */
static locale_t unicode_locale(void) {
        (void) pthread_once(&utf8_locale_once, utf8_locale_init);
        return utf8_locale;
}

static bool is_escaped_byte(uint32_t cp) {
        return cp >= ESCAPED_BYTE_BASE + 0x80 && cp <= ESCAPED_BYTE_BASE + 0xFF;
}

bool uni_isspace(uint32_t cp) {
        return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
                cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
                cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool uni_is_linebreak(uint32_t cp) {
        return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
                cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool uni_isdigit(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return cp >= '0' && cp <= '9';
        l = unicode_locale();
        return l && !is_escaped_byte(cp) && iswdigit_l((wint_t) cp, l);
}

bool uni_isalpha(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
        l = unicode_locale();
        return l && !is_escaped_byte(cp) && iswalpha_l((wint_t) cp, l);
}

bool uni_isalnum(uint32_t cp) {
        return uni_isalpha(cp) || uni_isdigit(cp);
}

bool uni_islower(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return cp >= 'a' && cp <= 'z';
        l = unicode_locale();
        return l && !is_escaped_byte(cp) && iswlower_l((wint_t) cp, l);
}

bool uni_isupper(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return cp >= 'A' && cp <= 'Z';
        l = unicode_locale();
        return l && !is_escaped_byte(cp) && iswupper_l((wint_t) cp, l);
}

bool uni_iscased(uint32_t cp) {
        return uni_islower(cp) || uni_isupper(cp);
}

uint32_t uni_toupper(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
        l = unicode_locale();
        return l && !is_escaped_byte(cp) ? (uint32_t) towupper_l((wint_t) cp, l) : cp;
}

uint32_t uni_tolower(uint32_t cp) {
        locale_t l;

        if (cp < 0x80)
                return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        l = unicode_locale();
        return l && !is_escaped_byte(cp) ? (uint32_t) towlower_l((wint_t) cp, l) : cp;
}

/* Python's printable: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs
 * (the space excepted).  glibc knows what is assigned and graphic; the
 * format and space characters it counts as printable are listed here. */
bool uni_isprintable(uint32_t cp) {
        static const struct {
                uint32_t from, to;
        } not_printable[] = {
                { 0x80, 0xA0 }, { 0xAD, 0xAD }, { 0x600, 0x605 }, { 0x61C, 0x61C }, { 0x6DD, 0x6DD },
                { 0x70F, 0x70F }, { 0x890, 0x891 }, { 0x8E2, 0x8E2 }, { 0x1680, 0x1680 }, { 0x180E, 0x180E },
                { 0x2000, 0x200F }, { 0x2028, 0x202F }, { 0x205F, 0x2064 }, { 0x2066, 0x206F },
                { 0x3000, 0x3000 }, { 0xD800, 0xF8FF }, { 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFB },
                { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD }, { 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 },
                { 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F }, { 0xF0000, 0x10FFFF },
        };
        locale_t l;

        if (cp < 0x80)
                return cp >= 0x20 && cp < 0x7F;
        for (size_t i = 0; i < ELEMENTSOF(not_printable); i++)
                if (cp >= not_printable[i].from && cp <= not_printable[i].to)
                        return false;
        l = unicode_locale();
        return !l || iswprint_l((wint_t) cp, l);
}

/* ---- str operations ---------------------------------------------------- */

static int put_cp(JBuf *out, uint32_t cp) {
        char u[4];

        return jbuf_put(out, u, utf8_encode(cp, u));
}

/* Upper-casing one code point; the only multi-character mapping a prompt
 * is likely to meet is German ß. */
static int put_upper(JBuf *out, uint32_t cp) {
        if (cp == 0xDF)
                return jbuf_puts(out, "SS");
        return put_cp(out, uni_toupper(cp));
}

/* Jinja's title filter splits at runs of these, keeping them. */
static bool is_title_filter_delimiter(uint32_t cp) {
        return uni_isspace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
}

int text_case(const char *s, size_t len, TextCase how, JBuf *out) {
        bool prev_cased = false, at_word_start = true;
        int r = 0;

        for (size_t i = 0; i < len && r >= 0; ) {
                uint32_t cp;

                i += utf8_next(s + i, len - i, &cp);
                switch (how) {
                case TEXT_UPPER:
                        r = put_upper(out, cp);
                        break;
                case TEXT_LOWER:
                        r = put_cp(out, uni_tolower(cp));
                        break;
                case TEXT_CAPITALIZE:
                        r = at_word_start ? put_upper(out, cp) : put_cp(out, uni_tolower(cp));
                        at_word_start = false;
                        break;
                case TEXT_TITLE_METHOD:
                        /* a cased character after a cased one is lowered,
                         * after anything else it is upper-cased */
                        r = prev_cased ? put_cp(out, uni_tolower(cp)) : put_upper(out, cp);
                        prev_cased = uni_iscased(cp);
                        break;
                case TEXT_TITLE_FILTER:
                        if (is_title_filter_delimiter(cp)) {
                                r = put_cp(out, cp);
                                at_word_start = true;
                        } else {
                                r = at_word_start ? put_upper(out, cp) : put_cp(out, uni_tolower(cp));
                                at_word_start = false;
                        }
                        break;
                case TEXT_SWAPCASE:
                        if (uni_isupper(cp))
                                r = put_cp(out, uni_tolower(cp));
                        else if (uni_islower(cp))
                                r = put_upper(out, cp);
                        else
                                r = put_cp(out, cp);
                        break;
                }
        }
        return r;
}

static bool in_chars(uint32_t cp, const char *chars, size_t chars_len) {
        if (!chars)
                return uni_isspace(cp);
        for (size_t i = 0; i < chars_len; ) {
                uint32_t c;

                i += utf8_next(chars + i, chars_len - i, &c);
                if (c == cp)
                        return true;
        }
        return false;
}

/* Start of the code point that ends at s[end] (exclusive). */
static size_t utf8_prev(const char *s, size_t end) {
        size_t i = end - 1;
        uint32_t cp;

        /* walk back over up to three continuation bytes, then check that
         * the sequence found really decodes to end */
        for (size_t k = 0; k < 3 && i > 0 && ((unsigned char) s[i] & 0xC0) == 0x80; k++)
                i--;
        if (i + utf8_next(s + i, end - i, &cp) == end)
                return i;
        return end - 1;
}

void text_strip(const char *s, size_t len, const char *chars, size_t chars_len, bool left, bool right,
                size_t *ret_start, size_t *ret_len) {
        size_t start = 0, end = len;

        while (left && start < end) {
                uint32_t cp;
                size_t n = utf8_next(s + start, end - start, &cp);

                if (!in_chars(cp, chars, chars_len))
                        break;
                start += n;
        }
        while (right && end > start) {
                size_t p = utf8_prev(s, end);
                uint32_t cp;

                (void) utf8_next(s + p, end - p, &cp);
                if (!in_chars(cp, chars, chars_len))
                        break;
                end = p;
        }
        *ret_start = start;
        *ret_len = end - start;
}

int text_repr(const char *s, size_t len, JBuf *out) {
        bool has_single = memchr(s, '\'', len), has_double = memchr(s, '"', len);
        char quote = has_single && !has_double ? '"' : '\'';
        int r;

        r = jbuf_putc(out, quote);
        for (size_t i = 0; i < len && r >= 0; ) {
                uint32_t cp;
                size_t n = utf8_next(s + i, len - i, &cp);

                if (cp == (uint32_t) quote || cp == '\\')
                        r = jbuf_printf(out, "\\%c", (char) cp);
                else if (cp == '\n')
                        r = jbuf_puts(out, "\\n");
                else if (cp == '\r')
                        r = jbuf_puts(out, "\\r");
                else if (cp == '\t')
                        r = jbuf_puts(out, "\\t");
                else if (is_escaped_byte(cp))
                        r = jbuf_printf(out, "\\udc%02x", (unsigned) (cp - ESCAPED_BYTE_BASE));
                else if (uni_isprintable(cp))
                        r = jbuf_put(out, s + i, n);
                else if (cp < 0x100)
                        r = jbuf_printf(out, "\\x%02x", (unsigned) cp);
                else if (cp < 0x10000)
                        r = jbuf_printf(out, "\\u%04x", (unsigned) cp);
                else
                        r = jbuf_printf(out, "\\U%08x", (unsigned) cp);
                i += n;
        }
        if (r < 0)
                return r;
        return jbuf_putc(out, quote);
}

size_t text_word_count(const char *s, size_t len) {
        bool in_word = false;
        size_t n = 0;

        for (size_t i = 0; i < len; ) {
                uint32_t cp;
                bool w;

                i += utf8_next(s + i, len - i, &cp);
                w = cp == '_' || uni_isalnum(cp);
                if (w && !in_word)
                        n++;
                in_word = w;
        }
        return n;
}

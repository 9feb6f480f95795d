/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* What templates call: methods of str, dict and list objects (Jinja
 * templates may call any Python method; the common ones are here, the
 * rest are known by name so that lookups behave as in Jinja, and fail
 * when called), the loop object's cycle() and changed(), and Jinja's
 * globals range(), dict(), namespace(), cycler() and joiner(). */

#include "jinja-internal.h"

/* ---- argument binding ------------------------------------------------------ */

int jargs_bind(JRender *r, const char *what, const JArgs *args, const char *const *names, size_t n_names,
               size_t n_positional_max, JValue **slots) {
        for (size_t i = 0; i < n_names; i++)
                slots[i] = NULL;
        if (args->n_pos > MIN(n_positional_max, n_names))
                return jr_fail(r, -EINVAL, "%s takes at most %zu argument(s) (%zu given)",
                               what, MIN(n_positional_max, n_names), args->n_pos);
        for (size_t i = 0; i < args->n_pos; i++)
                slots[i] = args->pos[i];
        for (size_t i = 0; i < args->n_kw; i++) {
                size_t j;

                for (j = 0; j < n_names; j++)
                        if (streq(names[j], args->kw_names[i]))
                                break;
                if (j >= n_names)
                        return jr_fail(r, -EINVAL, "%s got an unexpected keyword argument '%s'",
                                       what, args->kw_names[i]);
                if (slots[j])
                        return jr_fail(r, -EINVAL, "%s got multiple values for argument '%s'",
                                       what, args->kw_names[i]);
                slots[j] = args->kw[i];
        }
        return 0;
}

int jargs_bool(JRender *r, JValue *v, bool def, bool *ret) {
        if (!v) {
                *ret = def;
                return 0;
        }
        return jv_truth(r, v, ret);
}

int jargs_int(JRender *r, JValue *v, const char *what, int64_t *ret) {
        int k;

        k = jr_check_defined(r, v);
        if (k < 0)
                return k;
        if (!jv_is_int(v))
                return jr_fail(r, -EINVAL, "%s must be an integer, not '%s'", what, jv_type_name(v));
        *ret = jv_int_of(v);
        return 0;
}

static int no_args(JRender *r, const char *what, const JArgs *args) {
        if (args->n_pos + args->n_kw > 0)
                return jr_fail(r, -EINVAL, "%s() takes no arguments (%zu given)", what, args->n_pos + args->n_kw);
        return 0;
}

static int need_str(JRender *r, JValue *v, const char *what) {
        int k;

        k = jr_check_defined(r, v);
        if (k < 0)
                return k;
        if (v->type != J_STR)
                return jr_fail(r, -EINVAL, "%s must be str, not %s", what, jv_type_name(v));
        return 0;
}

static int new_str_from_buf(JBuf *b, JValue **ret) {
        size_t len;
        char *s = jbuf_steal(b, &len);

        *ret = jv_str_take(s, len);
        return *ret ? 0 : -ENOMEM;
}

/* ---- str ---------------------------------------------------------------------- */

static int str_case(JRender *r, JValue *self, JArgs *args, TextCase how, const char *name, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        int k;

        k = no_args(r, name, args);
        if (k >= 0)
                k = text_case(self->str.s, self->str.len, how, &b);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int str_upper(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_case(r, self, args, TEXT_UPPER, "str.upper", ret);
}

static int str_lower(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_case(r, self, args, TEXT_LOWER, "str.lower", ret);
}

static int str_title(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_case(r, self, args, TEXT_TITLE_METHOD, "str.title", ret);
}

static int str_capitalize(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_case(r, self, args, TEXT_CAPITALIZE, "str.capitalize", ret);
}

static int str_swapcase(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_case(r, self, args, TEXT_SWAPCASE, "str.swapcase", ret);
}

static int do_strip(JRender *r, JValue *self, JArgs *args, bool left, bool right, const char *what, JValue **ret) {
        static const char *const names[] = { "chars" };
        JValue *chars;
        size_t start, len;
        int k;

        k = jargs_bind(r, what, args, names, 1, 1, &chars);
        if (k < 0)
                return k;
        if (chars && chars->type != J_NONE) {
                k = need_str(r, chars, "strip arg");
                if (k < 0)
                        return k;
                text_strip(self->str.s, self->str.len, chars->str.s, chars->str.len, left, right, &start, &len);
        } else
                text_strip(self->str.s, self->str.len, NULL, 0, left, right, &start, &len);
        *ret = jv_str(self->str.s + start, len);
        return *ret ? 0 : -ENOMEM;
}

static int str_strip(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_strip(r, self, args, true, true, "str.strip()", ret);
}

static int str_lstrip(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_strip(r, self, args, true, false, "str.lstrip()", ret);
}

static int str_rstrip(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_strip(r, self, args, false, true, "str.rstrip()", ret);
}

int jinja_str_strip(JRender *r, JValue *s, JValue *chars, JValue **ret) {
        JArgs args = { .pos = &chars, .n_pos = chars ? 1 : 0 };

        return do_strip(r, s, &args, true, true, "trim", ret);
}

static bool is_space_at(const char *s, size_t len, size_t i, size_t *ret_n) {
        uint32_t cp;

        *ret_n = utf8_next(s + i, len - i, &cp);
        return uni_isspace(cp);
}

/* Python's str.split() without a separator: runs of whitespace. */
static int split_whitespace(JValue *self, int64_t maxsplit, JValue *list) {
        const char *s = self->str.s;
        size_t len = self->str.len, i = 0, n;
        int k;

        while (maxsplit-- != 0) {
                size_t j;

                while (i < len && is_space_at(s, len, i, &n))
                        i += n;
                if (i >= len)
                        return 0;
                j = i;
                while (i < len && !is_space_at(s, len, i, &n))
                        i += n;
                k = jv_seq_push(list, jv_str(s + j, i - j));
                if (k < 0)
                        return k;
        }
        while (i < len && is_space_at(s, len, i, &n))
                i += n;
        if (i < len)
                return jv_seq_push(list, jv_str(s + i, len - i));
        return 0;
}

static int split_sep(JValue *self, const JValue *sep, int64_t maxsplit, JValue *list) {
        const char *s = self->str.s, *end = s + self->str.len;
        int k;

        while (maxsplit-- != 0) {
                const char *hit = memmem(s, (size_t) (end - s), sep->str.s, sep->str.len);

                if (!hit)
                        break;
                k = jv_seq_push(list, jv_str(s, (size_t) (hit - s)));
                if (k < 0)
                        return k;
                s = hit + sep->str.len;
        }
        return jv_seq_push(list, jv_str(s, (size_t) (end - s)));
}

/* The last occurrence of needle in s[0..len) */
static const char *memrmem(const char *s, size_t len, const char *needle, size_t n) {
        if (n > len)
                return NULL;
        for (size_t i = len - n + 1; i > 0; i--)
                if (memcmp(s + i - 1, needle, n) == 0)
                        return s + i - 1;
        return NULL;
}

static int reverse_list(JValue *list) {
        for (size_t i = 0; i < list->seq.n / 2; i++) {
                JValue *t = list->seq.items[i];

                list->seq.items[i] = list->seq.items[list->seq.n - 1 - i];
                list->seq.items[list->seq.n - 1 - i] = t;
        }
        return 0;
}

static int rsplit_sep(JValue *self, const JValue *sep, int64_t maxsplit, JValue *list) {
        const char *s = self->str.s;
        size_t end = self->str.len;
        int k;

        while (maxsplit-- != 0) {
                const char *hit = memrmem(s, end, sep->str.s, sep->str.len);

                if (!hit)
                        break;
                k = jv_seq_push(list, jv_str(hit + sep->str.len, end - (size_t) (hit - s) - sep->str.len));
                if (k < 0)
                        return k;
                end = (size_t) (hit - s);
        }
        k = jv_seq_push(list, jv_str(s, end));
        if (k < 0)
                return k;
        return reverse_list(list);
}

static size_t prev_cp(const char *s, size_t i) {
        size_t j = i - 1;

        while (j > 0 && ((unsigned char) s[j] & 0xC0) == 0x80 && i - j < 4)
                j--;
        return j;
}

static int rsplit_whitespace(JValue *self, int64_t maxsplit, JValue *list) {
        const char *s = self->str.s;
        size_t i = self->str.len, n;
        int k;

        while (maxsplit-- != 0) {
                size_t j;

                while (i > 0 && is_space_at(s, self->str.len, prev_cp(s, i), &n))
                        i = prev_cp(s, i);
                if (i == 0)
                        return reverse_list(list);
                j = i;
                while (i > 0 && !is_space_at(s, self->str.len, prev_cp(s, i), &n))
                        i = prev_cp(s, i);
                k = jv_seq_push(list, jv_str(s + i, j - i));
                if (k < 0)
                        return k;
        }
        while (i > 0 && is_space_at(s, self->str.len, prev_cp(s, i), &n))
                i = prev_cp(s, i);
        if (i > 0) {
                k = jv_seq_push(list, jv_str(s, i));
                if (k < 0)
                        return k;
        }
        return reverse_list(list);
}

static int do_split(JRender *r, JValue *self, JArgs *args, bool right, JValue **ret) {
        static const char *const names[] = { "sep", "maxsplit" };
        _cleanup_jv_ JValue *list = jv_seq(SEQ_LIST);
        JValue *slots[2];
        int64_t maxsplit = -1;
        int k;

        if (!list)
                return -ENOMEM;
        k = jargs_bind(r, right ? "str.rsplit()" : "str.split()", args, names, 2, 2, slots);
        if (k >= 0 && slots[1])
                k = jargs_int(r, slots[1], "maxsplit", &maxsplit);
        if (k >= 0)
                k = jr_charge(r, self->str.len / 64);
        if (k < 0)
                return k;
        if (maxsplit < 0)
                maxsplit = -1;
        if (!slots[0] || slots[0]->type == J_NONE)
                k = right ? rsplit_whitespace(self, maxsplit, list) : split_whitespace(self, maxsplit, list);
        else {
                k = need_str(r, slots[0], "sep");
                if (k < 0)
                        return k;
                if (slots[0]->str.len == 0)
                        return jr_fail(r, -EDOM, "empty separator");
                k = right ? rsplit_sep(self, slots[0], maxsplit, list) : split_sep(self, slots[0], maxsplit, list);
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(list);
        return 0;
}

static int str_split(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_split(r, self, args, false, ret);
}

static int str_rsplit(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_split(r, self, args, true, ret);
}

static bool has_affix(const JValue *s, const JValue *affix, bool suffix) {
        if (affix->str.len > s->str.len)
                return false;
        return memcmp(s->str.s + (suffix ? s->str.len - affix->str.len : 0), affix->str.s, affix->str.len) == 0;
}

static int do_affix(JRender *r, JValue *self, JArgs *args, bool suffix, JValue **ret) {
        const char *what = suffix ? "str.endswith()" : "str.startswith()";
        JValue *a;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "%s takes exactly one argument here (start and end are not supported)", what);
        a = args->pos[0];
        k = jr_check_defined(r, a);
        if (k < 0)
                return k;
        if (a->type == J_STR) {
                *ret = jv_bool(has_affix(self, a, suffix));
                return 0;
        }
        if (jv_is_seq(a, SEQ_TUPLE)) {
                for (size_t i = 0; i < a->seq.n; i++) {
                        if (a->seq.items[i]->type != J_STR)
                                return jr_fail(r, -EINVAL, "tuple for %s must only contain str, not %s",
                                               what, jv_type_name(a->seq.items[i]));
                        if (has_affix(self, a->seq.items[i], suffix)) {
                                *ret = jv_bool(true);
                                return 0;
                        }
                }
                *ret = jv_bool(false);
                return 0;
        }
        return jr_fail(r, -EINVAL, "%s first arg must be str or a tuple of str, not %s", what, jv_type_name(a));
}

static int str_startswith(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_affix(r, self, args, false, ret);
}

static int str_endswith(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_affix(r, self, args, true, ret);
}

/* Python's str.replace(old, new, count): an empty old inserts new
 * between every character. */
int jinja_str_replace(JRender *r, const JValue *s, const JValue *old, const JValue *new, int64_t count, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        const char *p = s->str.s, *end = p + s->str.len;
        int k = 0;

        if (old->str.len == 0) {
                for (size_t i = 0; k >= 0 && i <= s->str.len; ) {
                        uint32_t cp;
                        size_t n = i < s->str.len ? utf8_next(p + i, s->str.len - i, &cp) : 1;

                        if (count != 0) {
                                k = jbuf_put(&b, new->str.s, new->str.len);
                                count--;
                        }
                        if (k >= 0 && i < s->str.len)
                                k = jbuf_put(&b, p + i, n);
                        i += n;
                }
        } else {
                while (k >= 0 && count != 0) {
                        const char *hit = memmem(p, (size_t) (end - p), old->str.s, old->str.len);

                        if (!hit)
                                break;
                        k = jbuf_put(&b, p, (size_t) (hit - p));
                        if (k >= 0)
                                k = jbuf_put(&b, new->str.s, new->str.len);
                        p = hit + old->str.len;
                        count--;
                }
                if (k >= 0)
                        k = jbuf_put(&b, p, (size_t) (end - p));
        }
        if (k >= 0)
                k = jr_charge(r, b.n / 64);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int str_replace(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        static const char *const names[] = { "old", "new", "count" };
        JValue *slots[3];
        int64_t count = -1;
        int k;

        k = jargs_bind(r, "str.replace()", args, names, 3, 3, slots);
        if (k < 0)
                return k;
        if (!slots[0] || !slots[1])
                return jr_fail(r, -EINVAL, "str.replace() takes at least 2 arguments");
        k = need_str(r, slots[0], "replace() argument 1");
        if (k >= 0)
                k = need_str(r, slots[1], "replace() argument 2");
        if (k >= 0 && slots[2])
                k = jargs_int(r, slots[2], "count", &count);
        if (k < 0)
                return k;
        return jinja_str_replace(r, self, slots[0], slots[1], count, ret);
}

static int str_join(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        _cleanup_jv_ JValue *items = NULL;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "str.join() takes exactly one argument");
        k = jv_iterate(r, args->pos[0], &items);
        if (k < 0)
                return k;
        for (size_t i = 0; i < items->seq.n; i++) {
                const JValue *item = items->seq.items[i];

                if (item->type != J_STR)
                        return jr_fail(r, -EINVAL, "sequence item %zu: expected str instance, %s found",
                                       i, jv_type_name(item));
                if (i > 0)
                        k = jbuf_put(&b, self->str.s, self->str.len);
                if (k >= 0)
                        k = jbuf_put(&b, item->str.s, item->str.len);
                if (k < 0)
                        return k;
        }
        k = jr_charge(r, b.n / 64 + items->seq.n / 16);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int one_str_arg(JRender *r, JArgs *args, const char *what, JValue **ret) {
        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "%s takes exactly one argument (%zu given)", what, args->n_pos + args->n_kw);
        *ret = args->pos[0];
        return need_str(r, *ret, "the argument");
}

static int str_count(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        const char *p = self->str.s, *end = p + self->str.len;
        JValue *sub;
        int64_t n = 0;
        int k;

        k = one_str_arg(r, args, "str.count()", &sub);
        if (k < 0)
                return k;
        if (sub->str.len == 0)
                n = (int64_t) utf8_length(self->str.s, self->str.len) + 1;
        else
                for (const char *hit; (hit = memmem(p, (size_t) (end - p), sub->str.s, sub->str.len)); n++)
                        p = hit + sub->str.len;
        *ret = jv_int(n);
        return *ret ? 0 : -ENOMEM;
}

static int do_find(JRender *r, JValue *self, JArgs *args, bool right, bool fail, JValue **ret) {
        const char *hit;
        JValue *sub;
        int k;

        k = one_str_arg(r, args, right ? "str.rfind()" : "str.find()", &sub);
        if (k < 0)
                return k;
        hit = right ? memrmem(self->str.s, self->str.len, sub->str.s, sub->str.len) :
                memmem(self->str.s, self->str.len, sub->str.s, sub->str.len);
        if (right && sub->str.len == 0)
                hit = self->str.s + self->str.len;
        if (!hit && fail)
                return jr_fail(r, -EDOM, "substring not found");
        *ret = jv_int(hit ? (int64_t) utf8_length(self->str.s, (size_t) (hit - self->str.s)) : -1);
        return *ret ? 0 : -ENOMEM;
}

static int str_find(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_find(r, self, args, false, false, ret);
}

static int str_rfind(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_find(r, self, args, true, false, ret);
}

static int str_index(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_find(r, self, args, false, true, ret);
}

static int str_rindex(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_find(r, self, args, true, true, ret);
}

typedef enum CharClass {
        CLASS_DIGIT,
        CLASS_ALPHA,
        CLASS_ALNUM,
        CLASS_SPACE,
        CLASS_ASCII,
} CharClass;

static int str_is(JRender *r, JValue *self, JArgs *args, CharClass c, const char *what, JValue **ret) {
        bool all = c == CLASS_ASCII || self->str.len > 0;
        int k;

        k = no_args(r, what, args);
        if (k < 0)
                return k;
        for (size_t i = 0; all && i < self->str.len; ) {
                uint32_t cp;

                i += utf8_next(self->str.s + i, self->str.len - i, &cp);
                switch (c) {
                case CLASS_DIGIT:
                        all = uni_isdigit(cp);
                        break;
                case CLASS_ALPHA:
                        all = uni_isalpha(cp);
                        break;
                case CLASS_ALNUM:
                        all = uni_isalnum(cp);
                        break;
                case CLASS_SPACE:
                        all = uni_isspace(cp);
                        break;
                case CLASS_ASCII:
                        all = cp < 0x80;
                        break;
                }
        }
        *ret = jv_bool(all);
        return 0;
}

static int str_isdigit(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_is(r, self, args, CLASS_DIGIT, "str.isdigit", ret);
}

static int str_isalpha(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_is(r, self, args, CLASS_ALPHA, "str.isalpha", ret);
}

static int str_isalnum(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_is(r, self, args, CLASS_ALNUM, "str.isalnum", ret);
}

static int str_isspace(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_is(r, self, args, CLASS_SPACE, "str.isspace", ret);
}

static int str_isascii(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return str_is(r, self, args, CLASS_ASCII, "str.isascii", ret);
}

/* str.islower()/isupper(): some cased character, and none of the other case. */
bool jinja_str_is_case(const JValue *s, bool upper) {
        bool cased = false;

        for (size_t i = 0; i < s->str.len; ) {
                uint32_t cp;

                i += utf8_next(s->str.s + i, s->str.len - i, &cp);
                if (upper ? uni_islower(cp) : uni_isupper(cp))
                        return false;
                if (upper ? uni_isupper(cp) : uni_islower(cp))
                        cased = true;
        }
        return cased;
}

static int str_islower(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k = no_args(r, "str.islower", args);

        if (k < 0)
                return k;
        *ret = jv_bool(jinja_str_is_case(self, false));
        return 0;
}

static int str_isupper(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k = no_args(r, "str.isupper", args);

        if (k < 0)
                return k;
        *ret = jv_bool(jinja_str_is_case(self, true));
        return 0;
}

/* Python's str.splitlines() */
int jinja_str_splitlines(const char *s, size_t len, bool keepends, JValue *list) {
        size_t start = 0, i = 0;
        int k;

        while (i < len) {
                uint32_t cp;
                size_t n = utf8_next(s + i, len - i, &cp), eol;

                if (!uni_is_linebreak(cp)) {
                        i += n;
                        continue;
                }
                eol = i;
                i += n;
                if (cp == '\r' && i < len && s[i] == '\n')
                        i++;
                k = jv_seq_push(list, jv_str(s + start, (keepends ? i : eol) - start));
                if (k < 0)
                        return k;
                start = i;
        }
        if (start < len)
                return jv_seq_push(list, jv_str(s + start, len - start));
        return 0;
}

static int str_splitlines(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        static const char *const names[] = { "keepends" };
        _cleanup_jv_ JValue *list = jv_seq(SEQ_LIST);
        JValue *keep;
        bool keepends;
        int k;

        if (!list)
                return -ENOMEM;
        k = jargs_bind(r, "str.splitlines()", args, names, 1, 1, &keep);
        if (k >= 0)
                k = jargs_bool(r, keep, false, &keepends);
        if (k >= 0)
                k = jinja_str_splitlines(self->str.s, self->str.len, keepends, list);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(list);
        return 0;
}

/* Python's str.center/ljust/rjust: padding by code points. */
int jinja_str_pad(const JValue *s, int64_t width, const char *fill, size_t fill_len, int align, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        size_t len = utf8_length(s->str.s, s->str.len), marg, left;
        int k = 0;

        if (width <= 0 || (uint64_t) width <= len) {
                *ret = jv_ref((JValue *) s);
                return 0;
        }
        marg = (size_t) width - len;
        if (align < 0)
                left = 0;
        else if (align > 0)
                left = marg;
        else
                left = marg / 2 + (marg & (size_t) width & 1);
        for (size_t i = 0; k >= 0 && i < left; i++)
                k = jbuf_put(&b, fill, fill_len);
        if (k >= 0)
                k = jbuf_put(&b, s->str.s, s->str.len);
        for (size_t i = left; k >= 0 && i < marg; i++)
                k = jbuf_put(&b, fill, fill_len);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int do_pad(JRender *r, JValue *self, JArgs *args, int align, const char *what, JValue **ret) {
        static const char *const names[] = { "width", "fillchar" };
        JValue *slots[2];
        int64_t width;
        int k;

        k = jargs_bind(r, what, args, names, 2, 2, slots);
        if (k >= 0 && !slots[0])
                k = jr_fail(r, -EINVAL, "%s takes at least 1 argument (0 given)", what);
        if (k >= 0)
                k = jargs_int(r, slots[0], "width", &width);
        if (k >= 0 && slots[1]) {
                k = need_str(r, slots[1], "the fill character");
                if (k >= 0 && utf8_length(slots[1]->str.s, slots[1]->str.len) != 1)
                        k = jr_fail(r, -EINVAL, "the fill character must be exactly one character long");
        }
        if (k >= 0)
                k = jr_charge(r, width > 0 ? (uint64_t) width / 64 : 0);
        if (k < 0)
                return k;
        return jinja_str_pad(self, width, slots[1] ? slots[1]->str.s : " ", slots[1] ? slots[1]->str.len : 1, align, ret);
}

static int str_center(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_pad(r, self, args, 0, "str.center()", ret);
}

static int str_ljust(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_pad(r, self, args, -1, "str.ljust()", ret);
}

static int str_rjust(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_pad(r, self, args, 1, "str.rjust()", ret);
}

static int str_zfill(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        size_t len = utf8_length(self->str.s, self->str.len), sign = 0;
        int64_t width;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "str.zfill() takes exactly one argument");
        k = jargs_int(r, args->pos[0], "width", &width);
        if (k >= 0)
                k = jr_charge(r, width > 0 ? (uint64_t) width / 64 : 0);
        if (k < 0)
                return k;
        if (width <= 0 || (uint64_t) width <= len) {
                *ret = jv_ref(self);
                return 0;
        }
        if (self->str.len > 0 && (self->str.s[0] == '+' || self->str.s[0] == '-')) {
                sign = 1;
                k = jbuf_putc(&b, self->str.s[0]);
        }
        for (size_t i = len; k >= 0 && i < (size_t) width; i++)
                k = jbuf_putc(&b, '0');
        if (k >= 0)
                k = jbuf_put(&b, self->str.s + sign, self->str.len - sign);
        if (k < 0)
                return k;
        return new_str_from_buf(&b, ret);
}

static int do_remove_affix(JRender *r, JValue *self, JArgs *args, bool suffix, JValue **ret) {
        JValue *a;
        int k;

        k = one_str_arg(r, args, suffix ? "str.removesuffix()" : "str.removeprefix()", &a);
        if (k < 0)
                return k;
        if (!has_affix(self, a, suffix)) {
                *ret = jv_ref(self);
                return 0;
        }
        *ret = jv_str(self->str.s + (suffix ? 0 : a->str.len), self->str.len - a->str.len);
        return *ret ? 0 : -ENOMEM;
}

static int str_removeprefix(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_remove_affix(r, self, args, false, ret);
}

static int str_removesuffix(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_remove_affix(r, self, args, true, ret);
}

static int do_partition(JRender *r, JValue *self, JArgs *args, bool right, JValue **ret) {
        _cleanup_jv_ JValue *t = jv_seq(SEQ_TUPLE);
        const char *hit;
        JValue *sep;
        int k;

        if (!t)
                return -ENOMEM;
        k = one_str_arg(r, args, right ? "str.rpartition()" : "str.partition()", &sep);
        if (k < 0)
                return k;
        if (sep->str.len == 0)
                return jr_fail(r, -EDOM, "empty separator");
        hit = right ? memrmem(self->str.s, self->str.len, sep->str.s, sep->str.len) :
                memmem(self->str.s, self->str.len, sep->str.s, sep->str.len);
        if (!hit) {
                k = jv_seq_push(t, right ? jv_strz("") : jv_ref(self));
                if (k >= 0)
                        k = jv_seq_push(t, jv_strz(""));
                if (k >= 0)
                        k = jv_seq_push(t, right ? jv_ref(self) : jv_strz(""));
        } else {
                size_t before = (size_t) (hit - self->str.s);

                k = jv_seq_push(t, jv_str(self->str.s, before));
                if (k >= 0)
                        k = jv_seq_push(t, jv_ref(sep));
                if (k >= 0)
                        k = jv_seq_push(t, jv_str(hit + sep->str.len, self->str.len - before - sep->str.len));
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(t);
        return 0;
}

static int str_partition(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_partition(r, self, args, false, ret);
}

static int str_rpartition(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return do_partition(r, self, args, true, ret);
}

static const JMethod str_methods[] = {
        { "capitalize", str_capitalize },
        { "casefold", str_lower },
        { "center", str_center },
        { "count", str_count },
        { "encode", NULL },
        { "endswith", str_endswith },
        { "expandtabs", NULL },
        { "find", str_find },
        { "format", NULL },
        { "format_map", NULL },
        { "index", str_index },
        { "isalnum", str_isalnum },
        { "isalpha", str_isalpha },
        { "isascii", str_isascii },
        { "isdecimal", str_isdigit },
        { "isdigit", str_isdigit },
        { "isidentifier", NULL },
        { "islower", str_islower },
        { "isnumeric", str_isdigit },
        { "isprintable", NULL },
        { "isspace", str_isspace },
        { "istitle", NULL },
        { "isupper", str_isupper },
        { "join", str_join },
        { "ljust", str_ljust },
        { "lower", str_lower },
        { "lstrip", str_lstrip },
        { "maketrans", NULL },
        { "partition", str_partition },
        { "removeprefix", str_removeprefix },
        { "removesuffix", str_removesuffix },
        { "replace", str_replace },
        { "rfind", str_rfind },
        { "rindex", str_rindex },
        { "rjust", str_rjust },
        { "rpartition", str_rpartition },
        { "rsplit", str_rsplit },
        { "rstrip", str_rstrip },
        { "split", str_split },
        { "splitlines", str_splitlines },
        { "startswith", str_startswith },
        { "strip", str_strip },
        { "swapcase", str_swapcase },
        { "title", str_title },
        { "translate", NULL },
        { "upper", str_upper },
        { "zfill", str_zfill },
};

/* ---- dict ---------------------------------------------------------------------- */

static int dict_view(JRender *r, JValue *self, JArgs *args, JSeqKind kind, JValue **ret) {
        _cleanup_jv_ JValue *v = jv_seq(kind);
        int k;

        if (!v)
                return -ENOMEM;
        k = no_args(r, kind == SEQ_KEYS ? "dict.keys" : kind == SEQ_VALUES ? "dict.values" : "dict.items", args);
        if (k >= 0)
                k = jr_charge(r, self->dict.n / 16);
        for (size_t i = 0; k >= 0 && i < self->dict.n; i++) {
                if (kind == SEQ_KEYS)
                        k = jv_seq_push(v, jv_ref(self->dict.keys[i]));
                else if (kind == SEQ_VALUES)
                        k = jv_seq_push(v, jv_ref(self->dict.values[i]));
                else {
                        JValue *pair = jv_seq(SEQ_TUPLE);

                        if (!pair)
                                return -ENOMEM;
                        k = jv_seq_push(pair, jv_ref(self->dict.keys[i]));
                        if (k >= 0)
                                k = jv_seq_push(pair, jv_ref(self->dict.values[i]));
                        if (k < 0) {
                                jv_unref(pair);
                                return k;
                        }
                        k = jv_seq_push(v, pair);
                }
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(v);
        return 0;
}

static int dict_items(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return dict_view(r, self, args, SEQ_ITEMS, ret);
}

static int dict_keys(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return dict_view(r, self, args, SEQ_KEYS, ret);
}

static int dict_values(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return dict_view(r, self, args, SEQ_VALUES, ret);
}

static int dict_get(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        JValue *v;
        int k;

        if (args->n_kw > 0 || args->n_pos < 1 || args->n_pos > 2)
                return jr_fail(r, -EINVAL, "dict.get() takes 1 or 2 positional arguments (%zu given)",
                               args->n_pos + args->n_kw);
        k = jv_check_hashable(r, args->pos[0]);
        if (k < 0)
                return k;
        v = jv_dict_get(self, args->pos[0]);
        *ret = jv_ref(v ? v : args->n_pos > 1 ? args->pos[1] : jv_none());
        return 0;
}

static int dict_copy_of(JRender *r, const JValue *self, JValue **ret) {
        _cleanup_jv_ JValue *d = jv_dict();
        int k;

        if (!d)
                return -ENOMEM;
        k = jr_charge(r, self->dict.n / 16);
        for (size_t i = 0; k >= 0 && i < self->dict.n; i++)
                k = jv_dict_set(d, jv_ref(self->dict.keys[i]), jv_ref(self->dict.values[i]));
        if (k < 0)
                return k;
        *ret = TAKE_PTR(d);
        return 0;
}

static int dict_copy(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k = no_args(r, "dict.copy", args);

        if (k < 0)
                return k;
        return dict_copy_of(r, self, ret);
}

/* dict(...) and dict.update(...): a mapping or pairs, then keywords. */
static int dict_merge(JRender *r, JValue *d, JArgs *args, const char *what) {
        int k;

        if (args->n_pos > 1)
                return jr_fail(r, -EINVAL, "%s expected at most 1 argument, got %zu", what, args->n_pos);
        if (args->n_pos == 1) {
                JValue *src = args->pos[0];
                _cleanup_jv_ JValue *pairs = NULL;

                k = jr_check_defined(r, src);
                if (k < 0)
                        return k;
                if (src->type == J_DICT) {
                        for (size_t i = 0; i < src->dict.n; i++) {
                                k = jv_dict_set(d, jv_ref(src->dict.keys[i]), jv_ref(src->dict.values[i]));
                                if (k < 0)
                                        return k;
                        }
                } else {
                        k = jv_iterate(r, src, &pairs);
                        for (size_t i = 0; k >= 0 && i < pairs->seq.n; i++) {
                                _cleanup_jv_ JValue *pair = NULL;

                                k = jv_iterate(r, pairs->seq.items[i], &pair);
                                if (k >= 0 && pair->seq.n != 2)
                                        k = jr_fail(r, -EINVAL, "dictionary update sequence element #%zu has length %zu; 2 is required",
                                                    i, pair->seq.n);
                                if (k >= 0)
                                        k = jv_check_hashable(r, pair->seq.items[0]);
                                if (k >= 0)
                                        k = jv_dict_set(d, jv_ref(pair->seq.items[0]), jv_ref(pair->seq.items[1]));
                        }
                        if (k < 0)
                                return k;
                }
        }
        for (size_t i = 0; i < args->n_kw; i++) {
                k = jv_dict_set(d, jv_strz(args->kw_names[i]), jv_ref(args->kw[i]));
                if (k < 0)
                        return k;
        }
        return 0;
}

static int dict_update(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k;

        k = jr_track_mutable(r, self);
        if (k >= 0)
                k = dict_merge(r, self, args, "update");
        if (k < 0)
                return k;
        *ret = jv_none();
        return 0;
}

static int dict_setdefault_or_pop(JRender *r, JValue *self, JArgs *args, bool pop, JValue **ret) {
        const char *what = pop ? "pop" : "setdefault";
        JValue *v;
        int k;

        if (args->n_kw > 0 || args->n_pos < 1 || args->n_pos > 2)
                return jr_fail(r, -EINVAL, "%s expected 1 or 2 arguments, got %zu", what, args->n_pos + args->n_kw);
        k = jv_check_hashable(r, args->pos[0]);
        if (k >= 0)
                k = jr_track_mutable(r, self);
        if (k < 0)
                return k;
        v = jv_dict_get(self, args->pos[0]);
        if (!pop) {
                if (v) {
                        *ret = jv_ref(v);
                        return 0;
                }
                v = args->n_pos > 1 ? args->pos[1] : jv_none();
                *ret = jv_ref(v);
                return jv_dict_set(self, jv_ref(args->pos[0]), jv_ref(v));
        }
        if (!v) {
                if (args->n_pos > 1) {
                        *ret = jv_ref(args->pos[1]);
                        return 0;
                }
                return jr_fail(r, -ENOENT, "KeyError in dict.pop()");
        }
        *ret = jv_ref(v);
        for (size_t i = 0; i < self->dict.n; i++)
                if (self->dict.values[i] == v) {
                        jv_unref(self->dict.keys[i]);
                        jv_unref(self->dict.values[i]);
                        memmove(self->dict.keys + i, self->dict.keys + i + 1, (self->dict.n - i - 1) * sizeof(JValue *));
                        memmove(self->dict.values + i, self->dict.values + i + 1, (self->dict.n - i - 1) * sizeof(JValue *));
                        self->dict.n--;
                        break;
                }
        return 0;
}

static int dict_setdefault(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return dict_setdefault_or_pop(r, self, args, false, ret);
}

static int dict_pop(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        return dict_setdefault_or_pop(r, self, args, true, ret);
}

static const JMethod dict_methods[] = {
        { "clear", NULL },
        { "copy", dict_copy },
        { "fromkeys", NULL },
        { "get", dict_get },
        { "items", dict_items },
        { "keys", dict_keys },
        { "pop", dict_pop },
        { "popitem", NULL },
        { "setdefault", dict_setdefault },
        { "update", dict_update },
        { "values", dict_values },
};

/* ---- list and tuple ---------------------------------------------------------------- */

static int seq_find(JRender *r, JValue *self, const JValue *x, ssize_t *ret) {
        *ret = -1;
        for (size_t i = 0; i < self->seq.n; i++) {
                bool e;
                int k = jv_equal(r, self->seq.items[i], x, &e);

                if (k < 0)
                        return k;
                if (e) {
                        *ret = (ssize_t) i;
                        return 0;
                }
        }
        return 0;
}

static int seq_count(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int64_t n = 0;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "count() takes exactly one argument");
        for (size_t i = 0; i < self->seq.n; i++) {
                bool e;
                int k = jv_equal(r, self->seq.items[i], args->pos[0], &e);

                if (k < 0)
                        return k;
                n += e;
        }
        *ret = jv_int(n);
        return *ret ? 0 : -ENOMEM;
}

static int seq_index(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_(jbuf_done) JBuf b = {};
        ssize_t i;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "index() takes exactly one argument here");
        k = seq_find(r, self, args->pos[0], &i);
        if (k < 0)
                return k;
        if (i < 0) {
                k = jv_repr_append(r, args->pos[0], &b);
                if (k < 0)
                        return k;
                return jr_fail(r, -EDOM, "%s is not in %s", b.s, jv_type_name(self));
        }
        *ret = jv_int(i);
        return *ret ? 0 : -ENOMEM;
}

static int list_copy(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *l = jv_seq(SEQ_LIST);
        int k;

        if (!l)
                return -ENOMEM;
        k = no_args(r, "list.copy", args);
        if (k >= 0)
                k = jr_charge(r, self->seq.n / 16);
        for (size_t i = 0; k >= 0 && i < self->seq.n; i++)
                k = jv_seq_push(l, jv_ref(self->seq.items[i]));
        if (k < 0)
                return k;
        *ret = TAKE_PTR(l);
        return 0;
}

static int mutate(JRender *r, JValue *self) {
        int k = jr_charge(r, 1);

        if (k < 0)
                return k;
        return jr_track_mutable(r, self);
}

static int list_append(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "list.append() takes exactly one argument");
        k = mutate(r, self);
        if (k >= 0)
                k = jv_seq_push(self, jv_ref(args->pos[0]));
        if (k < 0)
                return k;
        *ret = jv_none();
        return 0;
}

static int list_extend(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *items = NULL;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "list.extend() takes exactly one argument");
        k = mutate(r, self);
        if (k >= 0)
                k = jv_iterate(r, args->pos[0], &items);
        if (k >= 0)
                k = jr_charge(r, items->seq.n);
        /* items may be self: take the count first */
        for (size_t i = 0, n = k >= 0 ? items->seq.n : 0; k >= 0 && i < n; i++)
                k = jv_seq_push(self, jv_ref(items->seq.items[i]));
        if (k < 0)
                return k;
        *ret = jv_none();
        return 0;
}

static int list_insert(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        JValue *item;
        int64_t i;
        size_t n;
        int k;

        if (args->n_pos != 2 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "list.insert() takes exactly 2 arguments");
        k = jargs_int(r, args->pos[0], "the index", &i);
        if (k >= 0)
                k = mutate(r, self);
        if (k < 0)
                return k;

        /* Python clamps the index into 0..len */
        n = self->seq.n;
        if (i < 0)
                i = MAX(i + (int64_t) n, (int64_t) 0);
        i = MIN(i, (int64_t) n);

        k = jv_seq_push(self, jv_ref(args->pos[1]));
        if (k < 0)
                return k;
        item = self->seq.items[n];
        memmove(self->seq.items + i + 1, self->seq.items + i, (n - (size_t) i) * sizeof(JValue *));
        self->seq.items[i] = item;
        *ret = jv_none();
        return 0;
}

static void seq_remove_at(JValue *self, size_t i) {
        memmove(self->seq.items + i, self->seq.items + i + 1, (self->seq.n - i - 1) * sizeof(JValue *));
        self->seq.n--;
}

static int list_pop(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int64_t i = -1;
        int k;

        if (args->n_pos > 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "list.pop() takes at most 1 argument");
        if (args->n_pos == 1) {
                k = jargs_int(r, args->pos[0], "the index", &i);
                if (k < 0)
                        return k;
        }
        if (self->seq.n == 0)
                return jr_fail(r, -EDOM, "pop from empty list");
        if (i < 0)
                i += (int64_t) self->seq.n;
        if (i < 0 || (uint64_t) i >= self->seq.n)
                return jr_fail(r, -EDOM, "pop index out of range");
        k = mutate(r, self);
        if (k < 0)
                return k;
        *ret = self->seq.items[i];
        seq_remove_at(self, (size_t) i);
        return 0;
}

static int list_remove(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        ssize_t i;
        int k;

        if (args->n_pos != 1 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "list.remove() takes exactly one argument");
        k = seq_find(r, self, args->pos[0], &i);
        if (k < 0)
                return k;
        if (i < 0)
                return jr_fail(r, -EDOM, "list.remove(x): x not in list");
        k = mutate(r, self);
        if (k < 0)
                return k;
        jv_unref(self->seq.items[i]);
        seq_remove_at(self, (size_t) i);
        *ret = jv_none();
        return 0;
}

static int list_reverse(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k;

        k = no_args(r, "list.reverse", args);
        if (k >= 0)
                k = mutate(r, self);
        if (k < 0)
                return k;
        reverse_list(self);
        *ret = jv_none();
        return 0;
}

static int list_sort(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        static const char *const names[] = { "key", "reverse" };
        _cleanup_free_ JValue **keys = NULL;
        JValue *slots[2];
        bool reverse;
        int k;

        k = jargs_bind(r, "list.sort()", args, names, 2, 0, slots);
        if (k >= 0 && slots[0] && slots[0]->type != J_NONE)
                k = jr_fail(r, -EINVAL, "list.sort(key=...) is not supported");
        if (k >= 0)
                k = jargs_bool(r, slots[1], false, &reverse);
        if (k >= 0)
                k = mutate(r, self);
        if (k < 0)
                return k;
        keys = reallocarray(NULL, MAX(self->seq.n, (size_t) 1), sizeof(JValue *));
        if (!keys)
                return -ENOMEM;
        if (self->seq.n > 0)
                memcpy(keys, self->seq.items, self->seq.n * sizeof(JValue *));
        k = jv_sort(r, self->seq.items, keys, self->seq.n, reverse);
        if (k < 0)
                return k;
        *ret = jv_none();
        return 0;
}

static int list_clear(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k;

        k = no_args(r, "list.clear", args);
        if (k >= 0)
                k = mutate(r, self);
        if (k < 0)
                return k;
        for (size_t i = 0; i < self->seq.n; i++)
                jv_unref(self->seq.items[i]);
        self->seq.n = 0;
        *ret = jv_none();
        return 0;
}

static const JMethod list_methods[] = {
        { "append", list_append },
        { "clear", list_clear },
        { "copy", list_copy },
        { "count", seq_count },
        { "extend", list_extend },
        { "index", seq_index },
        { "insert", list_insert },
        { "pop", list_pop },
        { "remove", list_remove },
        { "reverse", list_reverse },
        { "sort", list_sort },
};

static const JMethod tuple_methods[] = {
        { "count", seq_count },
        { "index", seq_index },
};

/* ---- loop and cycler ------------------------------------------------------------------- */

static int loop_cycle(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        if (args->n_kw > 0)
                return jr_fail(r, -EINVAL, "loop.cycle() takes no keyword arguments");
        if (args->n_pos == 0)
                return jr_fail(r, -EINVAL, "no items for cycling given");
        *ret = jv_ref(args->pos[self->loop.index0 % args->n_pos]);
        return 0;
}

static int loop_changed(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *now = jv_seq(SEQ_TUPLE);
        bool same = false;
        int k;

        if (!now)
                return -ENOMEM;
        for (size_t i = 0; i < args->n_pos; i++) {
                k = jv_seq_push(now, jv_ref(args->pos[i]));
                if (k < 0)
                        return k;
        }
        if (self->loop.changed_last) {
                k = jv_equal(r, self->loop.changed_last, now, &same);
                if (k < 0)
                        return k;
        }
        if (!same) {
                jv_unref(self->loop.changed_last);
                self->loop.changed_last = TAKE_PTR(now);
        }
        *ret = jv_bool(!same);
        return 0;
}

static const JMethod loop_methods[] = {
        { "changed", loop_changed },
        { "cycle", loop_cycle },
};

static int cycler_next(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k = no_args(r, "next", args);

        if (k < 0)
                return k;
        *ret = jv_ref(self->cycler.items->seq.items[self->cycler.pos]);
        self->cycler.pos = (self->cycler.pos + 1) % self->cycler.items->seq.n;
        return 0;
}

static int cycler_reset(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        int k = no_args(r, "reset", args);

        if (k < 0)
                return k;
        self->cycler.pos = 0;
        *ret = jv_none();
        return 0;
}

static const JMethod cycler_methods[] = {
        { "next", cycler_next },
        { "reset", cycler_reset },
};

static const JMethod *find_method(const JMethod *table, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(table[i].name, name))
                        return table + i;
        return NULL;
}

const JMethod *jinja_method_lookup(const JValue *v, const char *name) {
        switch (v->type) {
        case J_STR:
                return find_method(str_methods, ELEMENTSOF(str_methods), name);
        case J_DICT:
                return find_method(dict_methods, ELEMENTSOF(dict_methods), name);
        case J_SEQ:
                if (v->seq.kind == SEQ_LIST)
                        return find_method(list_methods, ELEMENTSOF(list_methods), name);
                if (v->seq.kind == SEQ_TUPLE || v->seq.kind == SEQ_RANGE)
                        return find_method(tuple_methods, ELEMENTSOF(tuple_methods), name);
                return NULL;
        case J_LOOP:
                return find_method(loop_methods, ELEMENTSOF(loop_methods), name);
        case J_CYCLER:
                return find_method(cycler_methods, ELEMENTSOF(cycler_methods), name);
        default:
                return NULL;
        }
}

/* ---- globals ----------------------------------------------------------------------------- */

static int global_range(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *l = jv_seq(SEQ_RANGE);
        int64_t v[3] = { 0, 0, 1 }, start, stop, step;
        uint64_t count = 0;
        int k;

        if (!l)
                return -ENOMEM;
        if (args->n_kw > 0)
                return jr_fail(r, -EINVAL, "range() takes no keyword arguments");
        if (args->n_pos < 1 || args->n_pos > 3)
                return jr_fail(r, -EINVAL, "range expected 1 to 3 arguments, got %zu", args->n_pos);
        for (size_t i = 0; i < args->n_pos; i++) {
                k = jr_check_defined(r, args->pos[i]);
                if (k < 0)
                        return k;
                if (!jv_is_int(args->pos[i]))
                        return jr_fail(r, -EINVAL, "'%s' object cannot be interpreted as an integer",
                                       jv_type_name(args->pos[i]));
                v[args->n_pos == 1 ? 1 : i] = jv_int_of(args->pos[i]);
        }
        start = v[0];
        stop = v[1];
        step = v[2];
        if (step == 0)
                return jr_fail(r, -EDOM, "range() arg 3 must not be zero");
        if (step > 0 && start < stop)
                count = ((uint64_t) stop - (uint64_t) start - 1) / (uint64_t) step + 1;
        else if (step < 0 && start > stop)
                count = ((uint64_t) start - (uint64_t) stop - 1) / (0 - (uint64_t) step) + 1;

        /* Python's range is lazy and unbounded; ours counts against the
         * iteration limit as it is built */
        k = jr_charge(r, count);
        for (uint64_t i = 0; k >= 0 && i < count; i++)
                k = jv_seq_push(l, jv_int((int64_t) ((uint64_t) start + i * (uint64_t) step)));
        if (k < 0)
                return k;
        l->seq.start = start;
        l->seq.stop = stop;
        l->seq.step = step;
        *ret = TAKE_PTR(l);
        return 0;
}

static int global_dict(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *d = jv_dict();
        int k;

        if (!d)
                return -ENOMEM;
        k = dict_merge(r, d, args, "dict");
        if (k < 0)
                return k;
        *ret = TAKE_PTR(d);
        return 0;
}

static int global_namespace(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *d = jv_dict(), *ns = NULL;
        int k;

        if (!d)
                return -ENOMEM;
        k = dict_merge(r, d, args, "namespace");
        if (k < 0)
                return k;
        ns = calloc(1, sizeof(JValue));
        if (!ns)
                return -ENOMEM;
        ns->type = J_NAMESPACE;
        ns->refs = 1;
        ns->ns = TAKE_PTR(d);
        k = jr_track_mutable(r, ns);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(ns);
        return 0;
}

static int global_cycler(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        _cleanup_jv_ JValue *items = jv_seq(SEQ_LIST), *c = NULL;
        int k;

        if (!items)
                return -ENOMEM;
        if (args->n_pos == 0 || args->n_kw > 0)
                return jr_fail(r, -EINVAL, "at least one item has to be provided");
        for (size_t i = 0; i < args->n_pos; i++) {
                k = jv_seq_push(items, jv_ref(args->pos[i]));
                if (k < 0)
                        return k;
        }
        c = calloc(1, sizeof(JValue));
        if (!c)
                return -ENOMEM;
        c->type = J_CYCLER;
        c->refs = 1;
        c->cycler.items = TAKE_PTR(items);
        *ret = TAKE_PTR(c);
        return 0;
}

static int global_joiner(JRender *r, JValue *self, JArgs *args, JValue **ret) {
        static const char *const names[] = { "sep" };
        JValue *sep, *j;
        int k;

        k = jargs_bind(r, "joiner()", args, names, 1, 1, &sep);
        if (k < 0)
                return k;
        j = calloc(1, sizeof(JValue));
        if (!j)
                return -ENOMEM;
        j->type = J_JOINER;
        j->refs = 1;
        *ret = j;
        if (sep) {
                _cleanup_jv_ JValue *s = NULL;

                k = jv_to_str(r, sep, &s);
                if (k < 0)
                        return k;
                j->joiner.sep = strdup(s->str.s);
        } else
                j->joiner.sep = strdup(", ");
        return j->joiner.sep ? 0 : -ENOMEM;
}

static const JMethod globals[] = {
        { "cycler", global_cycler },
        { "dict", global_dict },
        { "joiner", global_joiner },
        { "lipsum", NULL },
        { "namespace", global_namespace },
        { "range", global_range },
};

const JMethod *jinja_global_lookup(const char *name) {
        return find_method(globals, ELEMENTSOF(globals), name);
}

/* ---- calling --------------------------------------------------------------------------------- */

static int call_method(JRender *r, const JMethod *m, JValue *self, JArgs *args, JValue **ret) {
        if (!m->call) {
                if (self)
                        return jr_fail(r, -EINVAL, "%s.%s() is not supported in Marianne's templates",
                                       jv_type_name(self), m->name);
                return jr_fail(r, -EINVAL, "%s() is not supported in Marianne's templates", m->name);
        }
        return m->call(r, self, args, ret);
}

int jinja_call_value(JRender *r, JValue *callee, JArgs *args, JValue **ret) {
        switch (callee->type) {
        case J_UNDEFINED:
                return jr_undefined_error(r, callee);
        case J_MACRO:
                return jr_call_macro(r, callee, args, ret);
        case J_METHOD:
                return call_method(r, callee->method.def, callee->method.self, args, ret);
        case J_FUNCTION:
                return call_method(r, callee->function, NULL, args, ret);
        case J_LOOP:
                return jr_call_loop(r, callee, args, ret);
        case J_JOINER:
                if (args->n_pos + args->n_kw > 0)
                        return jr_fail(r, -EINVAL, "a joiner takes no arguments");
                *ret = jv_strz(callee->joiner.used ? callee->joiner.sep : "");
                callee->joiner.used = true;
                return *ret ? 0 : -ENOMEM;
        default:
                return jr_fail(r, -EINVAL, "'%s' object is not callable", jv_type_name(callee));
        }
}

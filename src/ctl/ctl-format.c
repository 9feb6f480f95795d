/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <ctype.h>
#include <langinfo.h>
#include <math.h>
#include <pwd.h>
#include <time.h>

/* fmt is one of our fixed strftime formats, never user input */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *format_local(uint64_t usec, const char *fmt) {
        struct tm tm;
        time_t t;
        char buf[64]; /* large enough for the fixed formats used here; strftime fails rather than truncates */

        if (usec / USEC_PER_SEC > (uint64_t) INT64_MAX / 2)
                return strdup_printf("@%" PRIu64, usec);
        t = (time_t) (usec / USEC_PER_SEC);
        if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), fmt, &tm) == 0)
                return strdup_printf("@%" PRIu64, usec);
        return strdup(buf);
}
#pragma GCC diagnostic pop

char *ctl_format_timestamp(uint64_t usec) {
        if (usec == 0 || usec == UINT64_MAX)
                return strdup("n/a");
        return format_local(usec, "%Y-%m-%d %H:%M:%S");
}

char *ctl_format_clock(uint64_t usec) {
        return format_local(usec, "%H:%M:%S");
}

/* Whole units above a second, like systemd's timespans: precise enough for
 * people, short enough for a table column. */
char *ctl_format_duration(uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "y",   365ULL * 24 * 3600 * USEC_PER_SEC },
                { "d",   24ULL * 3600 * USEC_PER_SEC },
                { "h",   3600ULL * USEC_PER_SEC },
                { "min", 60ULL * USEC_PER_SEC },
                { "s",   USEC_PER_SEC },
        };
        char *s = NULL;

        if (usec == UINT64_MAX)
                return strdup("infinity");
        if (usec < USEC_PER_MSEC)
                return strdup_printf("%" PRIu64 "us", usec);
        if (usec < USEC_PER_SEC)
                return strdup_printf("%" PRIu64 "ms", (uint64_t) (usec / USEC_PER_MSEC));

        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                uint64_t n = usec / units[i].usec;
                char *t;

                if (n == 0)
                        continue;
                usec -= n * units[i].usec;
                t = strdup_printf("%s%s%" PRIu64 "%s", strempty(s), s ? " " : "", n, units[i].suffix);
                free(s);
                if (!t)
                        return NULL;
                s = t;
        }
        return s;
}

char *ctl_format_user(uint32_t uid) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *result = NULL;
        long m = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = m > 0 ? (size_t) m : 1024;

        for (;;) {
                int r;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return NULL;
                r = getpwuid_r((uid_t) uid, &pw, buf, size, &result);
                if (r == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                break;
        }
        if (result && !isempty(result->pw_name))
                return strdup(result->pw_name);
        return strdup_printf("%" PRIu32, uid);
}

char *ctl_sanitize(const char *s, bool keep_newlines) {
        char *t = strdup(strempty(s));

        if (!t)
                return NULL;
        for (char *p = t; *p; p++) {
                unsigned char ch = (unsigned char) *p;

                if (keep_newlines && (ch == '\n' || ch == '\t'))
                        continue;
                /* Job names and outputs come from other users: never let
                 * them drive the terminal. */
                if (ch < 0x20 || ch == 0x7f)
                        *p = '?';
        }
        return t;
}

char *ctl_indent(const char *text, const char *prefix) {
        size_t lines = 1, lp = strlen(prefix), n = 0;
        char *out;

        text = strempty(text);
        for (const char *p = text; *p; p++)
                if (*p == '\n')
                        lines++;
        out = malloc(strlen(text) + lines * lp + 1);
        if (!out)
                return NULL;
        for (const char *p = text; ; ) {
                const char *e = strchrnul(p, '\n');

                if (e > p) {  /* no prefix on empty lines: avoids trailing whitespace */
                        memcpy(out + n, prefix, lp);
                        n += lp;
                        memcpy(out + n, p, (size_t) (e - p));
                        n += (size_t) (e - p);
                }
                if (!*e)
                        break;
                out[n++] = '\n';
                p = e + 1;
        }
        out[n] = 0;
        return out;
}

char *ctl_label_from_key(const char *key) {
        char *l = strdup(strempty(key));

        if (!l)
                return NULL;
        for (char *p = l; *p; p++)
                if (*p == '_')
                        *p = ' ';
        if (l[0])
                l[0] = (char) toupper((unsigned char) l[0]);
        return l;
}

/* Columns are counted in code points: good enough for names and states,
 * which are what tables hold. */
size_t ctl_display_width(const char *s) {
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *) strempty(s); *p; p++)
                if ((*p & 0xc0) != 0x80)
                        n++;
        return n;
}

static bool is_utf8_locale(void) {
        const char *cs = nl_langinfo(CODESET);

        return cs && (streq(cs, "UTF-8") || streq(cs, "utf8"));
}

const char *ctl_glyph_bullet(void) {
        return is_utf8_locale() ? "\u25CF" : "*";
}

const char *ctl_glyph_arrow(void) {
        return is_utf8_locale() ? "\u2192" : "->";
}

static bool use_color(void) {
        static int cached = -1;

        if (cached < 0) {
                const char *term = getenv("TERM");

                cached = isatty(STDOUT_FILENO) > 0 && !getenv("NO_COLOR") && !streq_ptr(term, "dumb");
        }
        return cached;
}

const char *ctl_state_color(const char *state) {
        if (!use_color() || !state)
                return "";
        if (streq(state, "failed"))
                return "\033[0;1;31m";
        if (streq(state, "running") || streq(state, "completed") || streq(state, "in_progress"))
                return "\033[0;1;32m";
        if (streq(state, "paused") || streq(state, "cancelled") || streq(state, "retry_scheduled"))
                return "\033[0;1;33m";
        return "";
}

const char *ctl_color_reset(void) {
        return use_color() ? "\033[0m" : "";
}

int ctl_parse_unsigned(const char *s, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE || v > max)
                return -ERANGE;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

char *ctl_format_tokens(uint64_t input, uint64_t output) {
        return strdup_printf("%" PRIu64 " in, %" PRIu64 " out", input, output);
}

/* Cents are enough from a dollar up; below, four places keep the cost of a
 * single short sheet from showing as $0.00. */
char *ctl_format_cost(double usd) {
        if (!isfinite(usd) || usd < 0)
                return strdup_printf("$%g (estimated)", usd);
        if (usd >= 1.0)
                return strdup_printf("$%.2f (estimated)", usd);
        return strdup_printf("$%.4f (estimated)", usd);
}

/* Whole percentages without decimals: "100%", "50%", "66.7%". */
char *ctl_format_percent(double p) {
        if (isfinite(p) && floor(p) == p)
                return strdup_printf("%.0f%%", p);
        return strdup_printf("%.1f%%", p);
}

const char *ctl_validation_words(const char *status) {
        if (streq_ptr(status, "not_run"))
                return "not run";
        if (streq_ptr(status, "not_applicable"))
                return "not applicable";
        return strna(status);
}

const char *ctl_validation_mark(const char *status) {
        if (!is_utf8_locale()) {
                if (streq_ptr(status, "passed"))
                        return "[passed]";
                if (streq_ptr(status, "failed"))
                        return "[failed]";
                if (streq_ptr(status, "not_run"))
                        return "[not run]";
                if (streq_ptr(status, "not_applicable"))
                        return "[not applicable]";
                return "[?]";
        }
        if (streq_ptr(status, "passed"))
                return "\u2713";
        if (streq_ptr(status, "failed"))
                return "\u2717";
        if (streq_ptr(status, "not_run") || streq_ptr(status, "not_applicable"))
                return "\u2013";
        return "?";
}

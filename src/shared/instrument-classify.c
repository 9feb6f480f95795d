/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <ctype.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "instrument.h"
#include "pyregex.h"

/* How a finished attempt ended, read from its exit status and output
 * with the profile's patterns, and when a rate limit lifts. */

#define SCAN_MAX (64U * 1024U)          /* the end of each stream is scanned, at most this much */
#define RESET_HORIZON_USEC (7ULL * 24ULL * 3600ULL * USEC_PER_SEC)
#define SECONDS_PER_DAY 86400LL

static const char *const outcome_table[_INSTRUMENT_OUTCOME_MAX] = {
        [INSTRUMENT_OUTCOME_SUCCESS] = "success",
        [INSTRUMENT_OUTCOME_RATE_LIMITED] = "rate_limited",
        [INSTRUMENT_OUTCOME_AUTH] = "auth",
        [INSTRUMENT_OUTCOME_CAPACITY] = "capacity",
        [INSTRUMENT_OUTCOME_TIMEOUT] = "timeout",
        [INSTRUMENT_OUTCOME_FAILED] = "failed",
};

const char *instrument_outcome_to_string(InstrumentOutcome o) {
        if (o < 0 || o >= _INSTRUMENT_OUTCOME_MAX)
                return NULL;
        return outcome_table[o];
}

InstrumentOutcome instrument_outcome_from_string(const char *s) {
        if (!s)
                return _INSTRUMENT_OUTCOME_INVALID;
        for (int i = 0; i < _INSTRUMENT_OUTCOME_MAX; i++)
                if (streq(outcome_table[i], s))
                        return (InstrumentOutcome) i;
        return _INSTRUMENT_OUTCOME_INVALID;
}

void instrument_verdict_done(InstrumentVerdict *v) {
        if (!v)
                return;
        free(v->reason);
        *v = (InstrumentVerdict) {};
}

/* ─────────────────────────── reset times ─────────────────────────── */

typedef struct Scanner {
        const char *text;       /* lower-cased copy, NUL bytes as spaces */
        const char *orig;       /* the original, for zone names */
        size_t size;
        usec_t now;
} Scanner;

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_spaces(const Scanner *s, size_t i) {
        while (i < s->size && is_space(s->text[i]))
                i++;
        return i;
}

static bool at_word(const Scanner *s, size_t i, const char *word) {
        size_t l = strlen(word);

        return i + l <= s->size && memcmp(s->text + i, word, l) == 0;
}

static bool letter(char c) {
        return c >= 'a' && c <= 'z';
}

static bool digit(char c) {
        return c >= '0' && c <= '9';
}

/* Digits at i: their value (at most max_digits of them) and the index after. */
static bool read_number(const Scanner *s, size_t *i, unsigned max_digits, uint64_t *ret) {
        uint64_t v = 0;
        unsigned n = 0;

        while (*i < s->size && digit(s->text[*i])) {
                if (++n > max_digits)
                        return false;
                v = v * 10 + (uint64_t) (s->text[*i] - '0');
                (*i)++;
        }
        if (n == 0)
                return false;
        *ret = v;
        return true;
}

/* "20s", "60 seconds", "1h 30m", "2 hours and 5 minutes", "30": a
 * duration in usec; a number without unit is seconds (Retry-After). */
static bool read_duration(const Scanner *s, size_t i, usec_t *ret) {
        static const struct {
                const char *unit;
                uint64_t usec;
        } units[] = {
                /* longest first: "min" before "m", "ms" before "m" */
                { "milliseconds", USEC_PER_MSEC }, { "millisecond", USEC_PER_MSEC }, { "ms", USEC_PER_MSEC },
                { "seconds", USEC_PER_SEC }, { "second", USEC_PER_SEC }, { "secs", USEC_PER_SEC },
                { "sec", USEC_PER_SEC }, { "s", USEC_PER_SEC },
                { "minutes", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC }, { "mins", 60 * USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC },
                { "hours", 3600 * USEC_PER_SEC }, { "hour", 3600 * USEC_PER_SEC }, { "hrs", 3600 * USEC_PER_SEC },
                { "hr", 3600 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
                { "days", 86400 * USEC_PER_SEC }, { "day", 86400 * USEC_PER_SEC }, { "d", 86400 * USEC_PER_SEC },
        };
        usec_t total = 0;
        bool any = false;

        for (;;) {
                uint64_t v, frac = 0, frac_div = 1;
                uint64_t unit = USEC_PER_SEC;
                size_t j = skip_spaces(s, i);

                if (any) {
                        /* between parts: ",", "and" */
                        if (j < s->size && s->text[j] == ',')
                                j = skip_spaces(s, j + 1);
                        if (at_word(s, j, "and ") )
                                j = skip_spaces(s, j + 4);
                }
                if (!read_number(s, &j, 9, &v))
                        break;
                if (j + 1 < s->size && s->text[j] == '.' && digit(s->text[j + 1])) {
                        j++;
                        while (j < s->size && digit(s->text[j])) {
                                if (frac_div < 1000000) {
                                        frac = frac * 10 + (uint64_t) (s->text[j] - '0');
                                        frac_div *= 10;
                                }
                                j++;
                        }
                }
                j = skip_spaces(s, j);
                for (size_t k = 0; k < ELEMENTSOF(units); k++)
                        if (at_word(s, j, units[k].unit) &&
                            (j + strlen(units[k].unit) >= s->size || !letter(s->text[j + strlen(units[k].unit)]))) {
                                unit = units[k].usec;
                                j += strlen(units[k].unit);
                                break;
                        }
                total += v * unit + frac * unit / frac_div;
                any = true;
                i = j;
                if (total > RESET_HORIZON_USEC)
                        return false;
        }
        if (!any || total == 0)
                return false;
        *ret = total;
        return true;
}

static bool find_relative(const Scanner *s, usec_t *ret) {
        static const char *const keys[] = {
                "retry-after:", "retry-after", "try again in", "try again after", "retry after", "retry in",
                "resets in", "reset in", "available again in", "available in", "wait",
        };
        usec_t d;

        for (size_t i = 0; i < s->size; i++)
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        size_t j;

                        if (!at_word(s, i, keys[k]))
                                continue;
                        j = i + strlen(keys[k]);
                        while (j < s->size && (is_space(s->text[j]) || s->text[j] == ':'))
                                j++;
                        if (at_word(s, j, "about "))
                                j += 6;
                        if (read_duration(s, j, &d)) {
                                *ret = s->now + d;
                                return true;
                        }
                }
        return false;
}

static bool plausible(const Scanner *s, usec_t t) {
        return t > s->now && t - s->now <= RESET_HORIZON_USEC;
}

static bool usec_from_time(time_t t, usec_t *ret) {
        if (t < 0)
                return false;
        *ret = (usec_t) t * USEC_PER_SEC;
        return true;
}

/* The next time it is hour:minute in zone (NULL: local), after now. */
static bool next_clock_time(unsigned hour, unsigned minute, const char *zone, usec_t now, usec_t *ret) {
        _cleanup_free_ char *saved_tz = NULL;
        time_t t = (time_t) (now / USEC_PER_SEC), r;
        bool utc = zone && (streq(zone, "UTC") || streq(zone, "GMT") || streq(zone, "Etc/UTC"));
        bool swap = zone && !utc;
        struct tm tm;

        if (swap) {
                const char *old = getenv("TZ");

                if (old) {
                        saved_tz = strdup(old);
                        if (!saved_tz)
                                return false;
                }
                if (setenv("TZ", zone, 1) < 0)
                        return false;
                tzset();
        }

        for (int day = 0; day < 2; day++) {
                if (utc ? !gmtime_r(&t, &tm) : !localtime_r(&t, &tm)) {
                        r = (time_t) -1;
                        break;
                }
                tm.tm_mday += day;
                tm.tm_hour = (int) hour;
                tm.tm_min = (int) minute;
                tm.tm_sec = 0;
                tm.tm_isdst = -1;
                r = utc ? timegm(&tm) : mktime(&tm);
                if (r == (time_t) -1 || r > t)
                        break;
        }

        if (swap) {
                if (saved_tz)
                        (void) setenv("TZ", saved_tz, 1);
                else
                        (void) unsetenv("TZ");
                tzset();
        }
        return r != (time_t) -1 && r > t && usec_from_time(r, ret);
}

static bool zone_name_valid(const char *z) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (isempty(z) || strlen(z) > 64 || strstr(z, "..") || !isalpha((unsigned char) z[0]))
                return false;
        for (const char *p = z; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("/_+-", *p))
                        return false;
        path = strdup_printf("/usr/share/zoneinfo/%s", z);
        return path && stat(path, &st) >= 0 && S_ISREG(st.st_mode);
}

/* After a clock time: "(Europe/Paris)", "UTC", "(UTC)", "GMT".  NULL:
 * none given (local time).  *ret_bad when one is given but unknown. */
static char *read_zone(const Scanner *s, size_t i, bool *ret_bad) {
        size_t j = skip_spaces(s, i), start, end;
        bool paren = false;
        char *z;

        *ret_bad = false;
        if (j < s->size && s->text[j] == '(') {
                paren = true;
                j++;
        }
        start = j;
        while (j < s->size && (isalnum((unsigned char) s->text[j]) || strchr("/_+-", s->text[j])))
                j++;
        end = j;
        if (end == start)
                return NULL;
        if (paren && (j >= s->size || s->text[j] != ')'))
                return NULL;
        z = strndup(s->orig + start, end - start);
        if (!z)
                return NULL;
        if (strcasecmp(z, "utc") == 0 || strcasecmp(z, "gmt") == 0 || strcasecmp(z, "z") == 0) {
                free(z);
                return strdup("UTC");
        }
        if (!paren && !strchr(z, '/')) {
                free(z);        /* a following word, not a zone */
                return NULL;
        }
        if (!zone_name_valid(z)) {
                *ret_bad = true;
                free(z);
                return NULL;
        }
        return z;
}

/* "3pm", "3:30pm", "3 pm", "15:30" at i. */
static bool read_clock(const Scanner *s, size_t i, unsigned *ret_hour, unsigned *ret_minute, size_t *ret_end) {
        uint64_t h, m = 0;
        bool colon = false;
        size_t j = i, k;

        if (!read_number(s, &j, 2, &h))
                return false;
        if (j + 2 < s->size && s->text[j] == ':' && digit(s->text[j + 1]) && digit(s->text[j + 2])) {
                j++;
                if (!read_number(s, &j, 2, &m) || m > 59)
                        return false;
                colon = true;
                /* seconds are ignored */
                if (j + 2 < s->size && s->text[j] == ':' && digit(s->text[j + 1]) && digit(s->text[j + 2]))
                        j += 3;
        }
        k = skip_spaces(s, j);
        if ((at_word(s, k, "am") || at_word(s, k, "pm") || at_word(s, k, "a.m.") || at_word(s, k, "p.m.")) &&
            (k + 2 >= s->size || !letter(s->text[k + 2]))) {
                bool pm = s->text[k] == 'p';

                if (h < 1 || h > 12)
                        return false;
                h = h % 12 + (pm ? 12 : 0);
                j = k + (s->text[k + 1] == '.' ? 4 : 2);
        } else if (!colon || h > 23)
                return false;   /* a bare number is no clock time */
        *ret_hour = (unsigned) h;
        *ret_minute = (unsigned) m;
        *ret_end = j;
        return true;
}

static bool find_clock(const Scanner *s, usec_t *ret) {
        static const char *const keys[] = {
                "resets at", "resets", "reset at", "reset", "try again at", "available again at", "available at",
        };

        for (size_t i = 0; i < s->size; i++)
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        _cleanup_free_ char *zone = NULL;
                        unsigned hour, minute;
                        size_t j, end;
                        bool bad;

                        if (!at_word(s, i, keys[k]))
                                continue;
                        j = skip_spaces(s, i + strlen(keys[k]));
                        if (!read_clock(s, j, &hour, &minute, &end))
                                continue;
                        zone = read_zone(s, end, &bad);
                        if (bad)
                                return false;   /* a zone we cannot compute: unknown */
                        if (next_clock_time(hour, minute, zone, s->now, ret))
                                return true;
                }
        return false;
}

static bool read_fixed(const Scanner *s, size_t *i, unsigned digits, unsigned *ret) {
        unsigned v = 0;

        if (*i + digits > s->size)
                return false;
        for (unsigned k = 0; k < digits; k++) {
                char c = s->text[*i + k];

                if (!digit(c))
                        return false;
                v = v * 10 + (unsigned) (c - '0');
        }
        *i += digits;
        *ret = v;
        return true;
}

/* YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|±HH[:]MM| UTC] at i. */
static bool read_iso(const Scanner *s, size_t i, usec_t *ret) {
        unsigned year, mon, day, hour, min, sec = 0, oh, om;
        long offset = 0;
        bool zone = false;
        struct tm tm = {};
        time_t t;

        if (!read_fixed(s, &i, 4, &year) || i >= s->size || s->text[i++] != '-' ||
            !read_fixed(s, &i, 2, &mon) || i >= s->size || s->text[i++] != '-' ||
            !read_fixed(s, &i, 2, &day) || i >= s->size || (s->text[i] != 't' && s->text[i] != ' '))
                return false;
        i++;
        if (!read_fixed(s, &i, 2, &hour) || i >= s->size || s->text[i++] != ':' ||
            !read_fixed(s, &i, 2, &min))
                return false;
        if (i < s->size && s->text[i] == ':') {
                i++;
                if (!read_fixed(s, &i, 2, &sec))
                        return false;
                if (i < s->size && s->text[i] == '.')
                        for (i++; i < s->size && digit(s->text[i]); i++)
                                ;
        }
        if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
                return false;

        if (i < s->size && s->text[i] == 'z')
                zone = true;
        else if (i < s->size && (s->text[i] == '+' || s->text[i] == '-')) {
                bool neg = s->text[i] == '-';

                i++;
                if (!read_fixed(s, &i, 2, &oh))
                        return false;
                if (i < s->size && s->text[i] == ':')
                        i++;
                if (!read_fixed(s, &i, 2, &om) || oh > 23 || om > 59)
                        return false;
                offset = (long) (oh * 3600 + om * 60) * (neg ? -1 : 1);
                zone = true;
        } else if (at_word(s, skip_spaces(s, i), "utc") || at_word(s, skip_spaces(s, i), "gmt"))
                zone = true;

        tm.tm_year = (int) year - 1900;
        tm.tm_mon = (int) mon - 1;
        tm.tm_mday = (int) day;
        tm.tm_hour = (int) hour;
        tm.tm_min = (int) min;
        tm.tm_sec = (int) sec;
        tm.tm_isdst = -1;
        t = zone ? timegm(&tm) : mktime(&tm);
        if (t == (time_t) -1)
                return false;
        return usec_from_time(t - offset, ret);
}

static bool find_iso(const Scanner *s, usec_t *ret) {
        for (size_t i = 0; i + 16 <= s->size; i++) {
                usec_t t;

                if ((i > 0 && digit(s->text[i - 1])) || !digit(s->text[i]))
                        continue;
                if (read_iso(s, i, &t) && plausible(s, t)) {
                        *ret = t;
                        return true;
                }
        }
        return false;
}

/* Claude Code's older notice: "Claude AI usage limit reached|1751234567". */
static bool find_epoch(const Scanner *s, usec_t *ret) {
        for (size_t i = 0; i < s->size; i++) {
                size_t j;
                uint64_t v;

                if (!at_word(s, i, "limit reached|"))
                        continue;
                j = i + strlen("limit reached|");
                if (read_number(s, &j, 12, &v) && v < UINT64_MAX / USEC_PER_SEC && plausible(s, v * USEC_PER_SEC)) {
                        *ret = v * USEC_PER_SEC;
                        return true;
                }
        }
        return false;
}

usec_t instrument_parse_reset_time(const char *text, size_t size, usec_t now) {
        _cleanup_free_ char *lower = NULL;
        Scanner s;
        usec_t t;

        if (!text || size == 0)
                return 0;
        if (size > SCAN_MAX) {
                text += size - SCAN_MAX;
                size = SCAN_MAX;
        }
        lower = malloc(size + 1);
        if (!lower)
                return 0;
        for (size_t i = 0; i < size; i++)
                lower[i] = text[i] == 0 ? ' ' : (char) tolower((unsigned char) text[i]);
        lower[size] = 0;

        s = (Scanner) {
                .text = lower,
                .orig = text,
                .size = size,
                .now = now,
        };
        if ((find_relative(&s, &t) || find_epoch(&s, &t) || find_iso(&s, &t) || find_clock(&s, &t)) &&
            plausible(&s, t))
                return t;
        return 0;
}

/* ─────────────────────────── classification ─────────────────────────── */

typedef struct Stream {
        const char *name;
        char *data;             /* the scanned tail, NUL-terminated copy */
        size_t size;
} Stream;

static void stream_done(Stream *s) {
        free(s->data);
}

/* A copy of the end of the stream: regexec() (and its sanitizer
 * interceptor, which ignores REG_STARTEND) then always has its NUL. */
static int stream_tail(const char *name, const char *data, size_t size, Stream *ret) {
        if (!data)
                size = 0;
        if (size > SCAN_MAX) {
                data += size - SCAN_MAX;
                size = SCAN_MAX;
        }
        ret->name = name;
        ret->size = size;
        ret->data = malloc(size + 1);
        if (!ret->data)
                return -ENOMEM;
        if (size > 0)
                memcpy(ret->data, data, size);
        ret->data[size] = 0;
        return 0;
}

/* 1 and the pattern when one of l matches st, 0 when none does. */
static int scan(const InstrumentPatterns *l, const Stream *st, const char **ret_pattern) {
        for (size_t i = 0; i < l->n; i++) {
                int r = pyregex_search(&l->compiled[i], st->data, st->size);

                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret_pattern = l->patterns[i];
                        return 1;
                }
        }
        return 0;
}

static bool success_exit(const InstrumentProfile *p, const InstrumentAttempt *a) {
        if (a->signal > 0)
                return false;
        for (size_t i = 0; i < p->errors.n_success_exit_codes; i++)
                if (p->errors.success_exit_codes[i] == a->exit_code)
                        return true;
        return false;
}

static char *describe_exit(const InstrumentAttempt *a) {
        if (a->signal > 0) {
                const char *abbrev = sigabbrev_np(a->signal);

                return abbrev ? strdup_printf("killed by signal SIG%s", abbrev)
                              : strdup_printf("killed by signal %d", a->signal);
        }
        return strdup_printf("exit code %d", a->exit_code);
}

static int verdict_set(InstrumentVerdict *v, InstrumentOutcome o, const Stream *st, const char *what,
                       const char *pattern) {
        v->outcome = o;
        free(v->reason);
        v->reason = strdup_printf("%s matches %s pattern '%s'", st->name, what, pattern);
        return v->reason ? 0 : -ENOMEM;
}

int instrument_classify(const InstrumentProfile *p, const InstrumentAttempt *a, const InstrumentOutput *output,
                        usec_t now, InstrumentVerdict *ret) {
        static const struct {
                InstrumentOutcome outcome;
                const char *what;
                size_t offset;
        } categories[] = {
                { INSTRUMENT_OUTCOME_RATE_LIMITED, "rate limit", offsetof(InstrumentErrorSpec, rate_limit) },
                { INSTRUMENT_OUTCOME_AUTH,         "auth error", offsetof(InstrumentErrorSpec, auth) },
                { INSTRUMENT_OUTCOME_CAPACITY,     "capacity",   offsetof(InstrumentErrorSpec, capacity) },
                { INSTRUMENT_OUTCOME_TIMEOUT,      "timeout",    offsetof(InstrumentErrorSpec, timeout) },
        };
        _cleanup_(instrument_verdict_done) InstrumentVerdict v = {};
        _cleanup_(stream_done) Stream out = {}, err = {};
        const Stream *matched = NULL;
        const char *pattern;
        int r;

        if (!p || !a || !ret)
                return -EINVAL;
        if (stream_tail("stdout", a->out, a->out_size, &out) < 0 ||
            stream_tail("stderr", a->err, a->err_size, &err) < 0)
                return -ENOMEM;

        if (a->timed_out) {
                v.outcome = INSTRUMENT_OUTCOME_TIMEOUT;
                v.reason = strdup("stopped at its timeout");
                if (!v.reason)
                        return -ENOMEM;
                goto done;
        }

        if (success_exit(p, a)) {
                bool scan_stdout = false;

                if (p->output.format != INSTRUMENT_OUTPUT_TEXT) {
                        /* The CLI printed something other than its JSON: an error notice. */
                        if (output)
                                scan_stdout = !output->structured;
                        else {
                                _cleanup_(instrument_output_done) InstrumentOutput o = {};

                                r = instrument_output_parse(p, NULL, a->out, a->out ? a->out_size : 0, &o);
                                if (r < 0)
                                        return r;
                                scan_stdout = !o.structured;
                        }
                }

                r = scan(&p->errors.rate_limit, &err, &pattern);
                if (r > 0)
                        matched = &err;
                else if (r == 0 && scan_stdout) {
                        r = scan(&p->errors.rate_limit, &out, &pattern);
                        if (r > 0)
                                matched = &out;
                }
                if (r < 0)
                        return r;
                if (matched) {
                        r = verdict_set(&v, INSTRUMENT_OUTCOME_RATE_LIMITED, matched, "rate limit", pattern);
                        if (r < 0)
                                return r;
                        goto done;
                }
                v.outcome = INSTRUMENT_OUTCOME_SUCCESS;
                v.reason = describe_exit(a);
                if (!v.reason)
                        return -ENOMEM;
                goto done;
        }

        for (size_t c = 0; c < ELEMENTSOF(categories) && !matched; c++) {
                const InstrumentPatterns *l = (const InstrumentPatterns *) ((const char *) &p->errors + categories[c].offset);
                const Stream *streams[] = { &out, &err };

                for (size_t k = 0; k < ELEMENTSOF(streams); k++) {
                        r = scan(l, streams[k], &pattern);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                matched = streams[k];
                                r = verdict_set(&v, categories[c].outcome, matched, categories[c].what, pattern);
                                if (r < 0)
                                        return r;
                                break;
                        }
                }
        }
        if (!matched) {
                v.outcome = INSTRUMENT_OUTCOME_FAILED;
                v.reason = describe_exit(a);
                if (!v.reason)
                        return -ENOMEM;
        }

done:
        if (v.outcome == INSTRUMENT_OUTCOME_RATE_LIMITED && matched) {
                const Stream *other = matched == &out ? &err : &out;

                v.retry_at = instrument_parse_reset_time(matched->data, matched->size, now);
                if (v.retry_at == 0)
                        v.retry_at = instrument_parse_reset_time(other->data, other->size, now);
        }
        *ret = v;
        v = (InstrumentVerdict) {};
        return 0;
}

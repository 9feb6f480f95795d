/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "macro.h"

bool endswith(const char *s, const char *suffix) {
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

int free_and_strdup(char **p, const char *s) {
        char *t = NULL;

        if (s) {
                t = strdup(s);
                if (!t)
                        return -ENOMEM;
        }
        free(*p);
        *p = t;
        return 0;
}

void strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        free(l);
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        STRV_FOREACH(s, l)
                n++;
        return n;
}

int strv_push(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **t;

        if (!value)
                return -EINVAL;
        t = realloc(*l, sizeof(char *) * (n + 2));
        if (!t)
                return -ENOMEM;
        t[n] = value;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        char *v = strdup(value);
        int r;

        if (!v)
                return -ENOMEM;
        r = strv_push(l, v);
        if (r < 0)
                free(v);
        return r;
}

char **strv_copy(char * const *l) {
        _cleanup_strv_free_ char **c = calloc(strv_length(l) + 1, sizeof(char *));
        size_t i = 0;

        if (!c)
                return NULL;
        STRV_FOREACH(s, l) {
                c[i] = strdup(*s);
                if (!c[i])
                        return NULL;
                i++;
        }
        return TAKE_PTR(c);
}

bool strv_contains(char * const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                abort(); /* only fails for an invalid clock id: a programming error */
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;
        return read_full_stream(fd, max_size, ret, ret_size);
}

int read_full_stream(int fd, size_t max_size, char **ret, size_t *ret_size) {
        return read_full_stream_until(fd, max_size, USEC_INFINITY, ret, ret_size);
}

/* Wait until fd is readable or the deadline (CLOCK_MONOTONIC) passes. */
static int wait_readable(int fd, usec_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                usec_t now = now_usec(CLOCK_MONOTONIC);
                int k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                k = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (usec_t) INT32_MAX));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k > 0)
                        return 0;
        }
}

int read_full_stream_until(int fd, size_t max_size, usec_t deadline, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;
        int r;

        for (;;) {
                ssize_t k;

                if (n + 1 >= allocated) {
                        size_t want = allocated ? allocated * 2 : 4096;
                        char *t;

                        if (want > max_size + 2)
                                want = max_size + 2;
                        if (want <= n + 1)
                                return -EFBIG;
                        t = realloc(buf, want);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                        allocated = want;
                }
                if (deadline != USEC_INFINITY) {
                        r = wait_readable(fd, deadline);
                        if (r < 0)
                                return r;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR || (errno == EAGAIN && deadline != USEC_INFINITY))
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        /* O_NONBLOCK so that a FIFO handed to us cannot block the caller
         * before the type check in read_full_fd() refuses it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max_size, ret, ret_size);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; ; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;

                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                        *s = c;
                        if (c == 0)
                                break;
                }
        }
        return 0;
}

/* Length of the valid UTF-8 sequence at s, 0 if there is none. */
static size_t utf8_sequence(const unsigned char *s) {
        size_t n;
        uint32_t c;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xE0) == 0xC0)
                n = 2, c = s[0] & 0x1F;
        else if ((s[0] & 0xF0) == 0xE0)
                n = 3, c = s[0] & 0x0F;
        else if ((s[0] & 0xF8) == 0xF0)
                n = 4, c = s[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3F);
        }
        /* no overlong forms, surrogates or values past Unicode */
        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
            (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
                return 0;
        return n;
}

bool utf8_is_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; ) {
                size_t n = utf8_sequence(p);

                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}

char *utf8_make_valid(const char *s) {
        char *out = malloc(strlen(s) * 3 + 1), *o = out;

        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; ) {
                size_t n = utf8_sequence(p);

                if (n == 0) {
                        memcpy(o, "\xEF\xBF\xBD", 3);     /* U+FFFD */
                        o += 3;
                        p++;
                        continue;
                }
                memcpy(o, p, n);
                o += n;
                p += n;
        }
        *o = 0;
        return out;
}

int strextend(char **p, const char *s) {
        size_t a = *p ? strlen(*p) : 0, b = strlen(s);
        char *t;

        t = realloc(*p, a + b + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t + a, s, b + 1);
        *p = t;
        return 0;
}

int write_file_private(const char *path, const char *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        return loop_write(fd, data, size);
}

int loop_write(int fd, const void *buf, size_t size) {
        const char *data = buf;

        while (size > 0) {
                ssize_t n = write(fd, data, size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                data += n;
                size -= (size_t) n;
        }
        return 0;
}

double strtod_c(const char *s, char **end) {
        static locale_t c_locale = (locale_t) 0;

        /* scores say "1.5" whatever the locale of the process reading them */
        if (c_locale == (locale_t) 0)
                c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
        if (c_locale == (locale_t) 0)
                return strtod(s, end);
        return strtod_l(s, end, c_locale);
}

bool parse_decimal_text(const char *s, double *ret) {
        const char *p = s;
        bool digits = false;
        char *e;

        /* strtod alone would also take "0x10", "infinity" and friends */
        if (*p == '+' || *p == '-')
                p++;
        while (*p >= '0' && *p <= '9')
                p++, digits = true;
        if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                        digits = true;
        if (!digits)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '+' || *p == '-')
                        p++;
                if (!(*p >= '0' && *p <= '9'))
                        return false;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        if (*p)
                return false;
        *ret = strtod_c(s, &e);
        return *e == 0;
}

ssize_t loop_read(int fd, void *buf, size_t max) {
        size_t n = 0;

        while (n < max) {
                ssize_t k = read(fd, (char *) buf + n, max - n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        return (ssize_t) n;
}

int read_file_head(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        ssize_t k;
        size_t n;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        buf = malloc(max_size + 1);
        if (!buf)
                return -ENOMEM;
        k = loop_read(fd, buf, max_size);
        if (k < 0)
                return (int) k;
        n = (size_t) k;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static int check_executable(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ENOEXEC;
        if (access(path, X_OK) < 0)
                return negative_errno();
        return 0;
}

int find_executable(const char *name, const char *search_path, char **ret) {
        int r, first_error = 0;

        if (isempty(name))
                return -EINVAL;
        if (name[0] == '/') {
                char *c;

                r = check_executable(name);
                if (r < 0)
                        return r;
                c = strdup(name);
                if (!c)
                        return -ENOMEM;
                *ret = c;
                return 0;
        }
        if (strchr(name, '/'))
                return -EINVAL;         /* relative to which directory? */

        if (!search_path)
                search_path = DEFAULT_EXEC_SEARCH_PATH;
        for (const char *p = search_path; ; ) {
                const char *colon = strchrnul(p, ':');
                size_t n = (size_t) (colon - p);

                /* empty and relative entries would mean the working directory: not for a daemon */
                if (n > 0 && p[0] == '/') {
                        _cleanup_free_ char *candidate = strdup_printf("%.*s/%s", (int) n, p, name);

                        if (!candidate)
                                return -ENOMEM;
                        r = check_executable(candidate);
                        if (r >= 0) {
                                *ret = TAKE_PTR(candidate);
                                return 0;
                        }
                        if (r == -ENOMEM)
                                return r;
                        if (r == -EACCES && first_error == 0)
                                first_error = r;  /* found, but not executable */
                }
                if (*colon == 0)
                        break;
                p = colon + 1;
        }
        return first_error < 0 ? first_error : -ENOENT;
}

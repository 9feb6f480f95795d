/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The build defines _GNU_SOURCE; this keeps a file that includes us first
 * right when compiled on its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* Small building blocks shared by every part of Marianne: scope-bound
 * cleanup, ownership transfer and a few helpers.  These are our own; the
 * similarly named systemd macros are not public API. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))
#define _noreturn_ __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand ownership of a pointer or fd out of a scope that would otherwise
 * release it. */
#define TAKE_PTR(p) ({ __typeof__(p) _p_ = (p); (p) = NULL; _p_; })
#define TAKE_FD(fd) ({ int _fd_ = (fd); (fd) = -EBADF; _fd_; })

#define DEFINE_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

bool endswith(const char *s, const char *suffix);

/* Negative errno from a failed libc call, never 0 even if errno was left
 * unset by a misbehaving library. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* A printf into freshly allocated memory; NULL on OOM. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);

/* Replace *p with a copy of s (NULL allowed). Returns -ENOMEM on failure. */
int free_and_strdup(char **p, const char *s);
/* strtod in the C locale, whatever the process's LC_NUMERIC. */
double strtod_c(const char *s, char **end);
/* An int or a decimal float ("1", "-2.5", "1e3"), nothing else; the value
 * may be infinite on overflow. */
bool parse_decimal_text(const char *s, double *ret);
/* Append s to the string *p (NULL counts as empty). */
int strextend(char **p, const char *s);
/* Create path 0600 (truncating, never through a symlink) holding data. */
int write_file_private(const char *path, const char *data, size_t size);

/* NULL-terminated string vectors. */
void strv_free(char **l);
DEFINE_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char * const *l);
int strv_push(char ***l, char *value);          /* takes ownership of value */
int strv_extend(char ***l, const char *value);  /* copies value */
char **strv_copy(char * const *l);
bool strv_contains(char * const *l, const char *s);

#define STRV_FOREACH(s, l) for (char * const *s = (l); s && *s; s++)

/* Time in microseconds, like sd-event's usec_t. */
typedef uint64_t usec_t;
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define USEC_INFINITY ((usec_t) UINT64_MAX)
usec_t now_usec(clockid_t clock);

/* Read a whole file, refusing anything larger than max_size with -EFBIG.
 * Only regular files are read (-EISDIR, -EINVAL for FIFOs and devices). */
int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size);
int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size);
/* read() until max bytes or end of file, retrying on EINTR: the bytes
 * read, or negative errno. */
ssize_t loop_read(int fd, void *buf, size_t max);
/* All of buf, through EINTR and short writes; negative errno. */
int loop_write(int fd, const void *buf, size_t size);

/* Where executables are looked for when nothing says otherwise. */
#define DEFAULT_EXEC_SEARCH_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Look name up: an absolute path is checked as is; otherwise each
 * absolute directory of search_path (NULL: DEFAULT_EXEC_SEARCH_PATH;
 * relative and empty entries are skipped, a daemon has no working
 * directory to trust) is tried for an executable regular file.  -ENOENT
 * when none is found (-EACCES when one was, but not executable), -EINVAL
 * for a relative path with a slash. */
int find_executable(const char *name, const char *search_path, char **ret);
/* The first max_size bytes of a regular file (all of a smaller one);
 * never follows a symlink. */
int read_file_head(const char *path, size_t max_size, char **ret, size_t *ret_size);
/* The same for any fd (pipes, terminals): read to EOF, at most max_size. */
int read_full_stream(int fd, size_t max_size, char **ret, size_t *ret_size);
/* The same, giving up with -ETIMEDOUT at deadline (CLOCK_MONOTONIC;
 * USEC_INFINITY = never); fd may be non-blocking. */
int read_full_stream_until(int fd, size_t max_size, usec_t deadline, char **ret, size_t *ret_size);

/* UTF-8: whether s is valid, and a copy with every invalid byte replaced
 * by U+FFFD. */
bool utf8_is_valid(const char *s);
char *utf8_make_valid(const char *s);

/* mkdir -p; mode for newly created components. */
int mkdir_p(const char *path, mode_t mode);

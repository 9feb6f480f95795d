/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "json.h"
#include "pyregex.h"
#include "template.h"
#include "validation.h"

/* content_contains and content_regex refuse to search larger files. */
#define VALIDATION_READ_MAX (16U * 1024U * 1024U)
#define VALIDATION_TIMEOUT_DEFAULT 30U
/* File timestamps come from the kernel's coarse clock, which lags the
 * clock attempt_started_at was read from by up to a tick (10 ms at
 * HZ=100); without slack a file written right at the start of an attempt
 * could look older than the attempt. */
#define MTIME_SLACK_USEC (20U * USEC_PER_MSEC)
/* Commands are quoted back in details; keep that readable. */
#define COMMAND_SNIPPET_MAX 200U

extern char **environ;

static const char * const status_words[] = {
        [VALIDATION_PASSED] = "passed",
        [VALIDATION_FAILED] = "failed",
        [VALIDATION_NOT_APPLICABLE] = "not_applicable",
        [VALIDATION_NOT_RUN] = "not_run",
};

void validation_report_done(ValidationReport *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n; i++) {
                free(r->outcomes[i].description);
                free(r->outcomes[i].detail);
        }
        free(r->outcomes);
        *r = (ValidationReport) {};
}

bool validation_report_passed(const ValidationReport *r) {
        for (size_t i = 0; i < r->n; i++)
                if (r->outcomes[i].status == VALIDATION_FAILED ||
                    r->outcomes[i].status == VALIDATION_NOT_RUN)
                        return false;
        return true;
}

double validation_report_pass_percentage(const ValidationReport *r) {
        if (r->passed + r->failed == 0)
                return 100.0;
        return (double) r->passed * 100.0 / (double) (r->passed + r->failed);
}

/* Set *status and a printf-formatted *detail; -ENOMEM if that fails. */
static int outcome_set(ValidationStatus *status, char **detail, ValidationStatus st, const char *fmt, ...) _printf_(4, 5);
static int outcome_set(ValidationStatus *status, char **detail, ValidationStatus st, const char *fmt, ...) {
        va_list ap;
        char *m;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        free(*detail);
        *detail = m;
        *status = st;
        return 0;
}

static int expand_path(const Score *s, const Value *context, const char *path, char **ret, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = template_format_placeholders(path, context, /* shell_quote= */ false, &p, ret_error);
        if (r < 0)
                return r;

        if (p[0] != '/') {
                char *j = strdup_printf("%s/%s", s->workspace, p);

                if (!j)
                        return -ENOMEM;
                free(p);
                p = j;
        }

        *ret = TAKE_PTR(p);
        return 0;
}

static void format_usec(usec_t t, char buf[static 64]) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) ||
            strftime(buf, 64, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
                (void) snprintf(buf, 64, "@%llu", (unsigned long long) sec);
                return;
        }
        (void) snprintf(buf + strlen(buf), 64 - strlen(buf), ".%06llu UTC",
                        (unsigned long long) (t % USEC_PER_SEC));
}

static int check_stat(const char *path, bool need_modified, usec_t started_at,
                      ValidationStatus *status, char **detail) {
        struct stat st;
        usec_t mtime;

        if (stat(path, &st) < 0) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return outcome_set(status, detail, VALIDATION_FAILED, "file %s does not exist", path);
                return outcome_set(status, detail, VALIDATION_FAILED, "cannot check file %s: %m", path);
        }
        if (!S_ISREG(st.st_mode))
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "%s exists but is not a regular file", path);

        if (!need_modified)
                return outcome_set(status, detail, VALIDATION_PASSED, "file %s exists", path);

        mtime = (usec_t) st.st_mtim.tv_sec * USEC_PER_SEC + (usec_t) st.st_mtim.tv_nsec / 1000;
        if (mtime + MTIME_SLACK_USEC < started_at) {
                char m[64], a[64];

                format_usec(mtime, m);
                format_usec(started_at, a);
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "file %s was not modified during this attempt (last modified %s, attempt started %s)",
                                   path, m, a);
        }
        return outcome_set(status, detail, VALIDATION_PASSED, "file %s was modified during this attempt", path);
}

static int read_for_search(const char *path, char **ret, size_t *ret_size, ValidationStatus *status, char **detail) {
        int r;

        r = read_full_file(path, VALIDATION_READ_MAX, ret, ret_size);
        switch (r) {
        case 0:
                return 1;
        case -ENOMEM:
                return r;
        case -ENOENT:
        case -ENOTDIR:
                r = outcome_set(status, detail, VALIDATION_FAILED, "file %s does not exist", path);
                break;
        case -EFBIG:
                r = outcome_set(status, detail, VALIDATION_FAILED,
                                "file %s is larger than %u MiB and was not searched",
                                path, VALIDATION_READ_MAX / 1024U / 1024U);
                break;
        case -EISDIR:
                r = outcome_set(status, detail, VALIDATION_FAILED, "%s is a directory, not a file", path);
                break;
        case -EINVAL:
                r = outcome_set(status, detail, VALIDATION_FAILED, "%s is not a regular file", path);
                break;
        default:
                r = outcome_set(status, detail, VALIDATION_FAILED, "cannot read %s: %s", path, strerror(-r));
        }
        return r < 0 ? r : 0;
}

static int check_contains(const char *path, const char *pattern, ValidationStatus *status, char **detail) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_for_search(path, &data, &size, status, detail);
        if (r <= 0)
                return r;

        if (!memmem(data, size, pattern, strlen(pattern)))
                return outcome_set(status, detail, VALIDATION_FAILED, "pattern '%s' not found in %s", pattern, path);
        return outcome_set(status, detail, VALIDATION_PASSED, "pattern '%s' found in %s", pattern, path);
}

/* The pattern is Python's, searched as the original Marianne does it:
 * re.search(pattern, content), no flags, so '^' is the start of the file
 * and '.' stops at newlines unless the pattern says (?m) or (?s). */
static int check_regex(const char *path, const char *pattern, const regex_t *re,
                       ValidationStatus *status, char **detail) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_for_search(path, &data, &size, status, detail);
        if (r <= 0)
                return r;

        r = pyregex_search(re, data, size);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "matching regular expression '%s' against %s failed: %s",
                                   pattern, path, strerror(-r));
        if (r == 0)
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "regular expression '%s' does not match %s", pattern, path);
        return outcome_set(status, detail, VALIDATION_PASSED,
                           "regular expression '%s' matches %s", pattern, path);
}

/* What run_one() worked out for one of the file-based checks. */
typedef struct FileCheck {
        ValidationType type;
        const char *path;
        const char *pattern;            /* content_contains, content_regex */
        const regex_t *re;              /* content_regex: pattern, compiled */
        usec_t started_at;              /* file_modified */
} FileCheck;

static int check_file_once(const FileCheck *c, ValidationStatus *status, char **detail) {
        switch (c->type) {
        case VALIDATION_FILE_EXISTS:
                return check_stat(c->path, false, c->started_at, status, detail);
        case VALIDATION_FILE_MODIFIED:
                return check_stat(c->path, true, c->started_at, status, detail);
        case VALIDATION_CONTENT_CONTAINS:
                return check_contains(c->path, c->pattern, status, detail);
        case VALIDATION_CONTENT_REGEX:
                return check_regex(c->path, c->pattern, c->re, status, detail);
        default:
                return -EINVAL; /* run_file_check() let only these through */
        }
}

static void sleep_msec(unsigned ms) {
        struct timespec ts = {
                .tv_sec = (time_t) (ms / 1000U),
                .tv_nsec = (long) (ms % 1000U) * 1000000L,
        };

        /* the rest of the delay after a signal; nothing else can fail */
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* A file the sheet wrote may show up a moment late (network and FUSE file
 * systems, a process the backend left finishing in the background), so a
 * failed file check is made again, retry_count more times, retry_delay_ms
 * apart.  This runs in the validation child: sleeping blocks nothing, and
 * the parser's limits bound the wait. */
static int check_file(const ScoreValidation *v, const FileCheck *c, ValidationStatus *status, char **detail) {
        unsigned retries = MIN(v->retry_count, VALIDATION_RETRY_COUNT_MAX);
        unsigned delay = MIN(v->retry_delay_ms, VALIDATION_RETRY_DELAY_MS_MAX);
        unsigned checks = 0;
        char *d;
        int r;

        for (;;) {
                r = check_file_once(c, status, detail);
                if (r < 0)
                        return r;
                checks++;
                if (*status == VALIDATION_PASSED || checks > retries)
                        break;
                sleep_msec(delay);
        }

        if (checks == 1)
                return 0;
        d = strdup_printf("%s (after %u checks)", *detail, checks);
        if (!d)
                return -ENOMEM;
        free(*detail);
        *detail = d;
        return 0;
}

static void regfreep(regex_t **re) {
        if (*re)
                regfree(*re);
}

static int run_file_check(const ScoreValidation *v, const char *path, usec_t started_at,
                          ValidationStatus *status, char **detail) {
        _cleanup_(regfreep) regex_t *compiled = NULL;
        _cleanup_free_ char *error = NULL;
        FileCheck c = {
                .type = v->type,
                .path = path,
                .pattern = v->pattern,
                .started_at = started_at,
        };
        regex_t re;
        int r;

        /* what looking again cannot fix is reported at once */
        switch (v->type) {
        case VALIDATION_FILE_EXISTS:
        case VALIDATION_FILE_MODIFIED:
                break;
        case VALIDATION_CONTENT_CONTAINS:
        case VALIDATION_CONTENT_REGEX:
                if (!v->pattern)
                        return outcome_set(status, detail, VALIDATION_FAILED, "no pattern configured for %s", path);
                break;
        default:
                return outcome_set(status, detail, VALIDATION_FAILED, "unknown validation type %d", (int) v->type);
        }

        if (v->type == VALIDATION_CONTENT_REGEX) {
                r = pyregex_compile(v->pattern, 0, &re, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return outcome_set(status, detail, VALIDATION_FAILED,
                                           "invalid regular expression '%s': %s", v->pattern, error ?: strerror(-r));
                compiled = &re;
                c.re = compiled;
        }

        return check_file(v, &c, status, detail);
}

static char *command_snippet(const char *cmd) {
        if (strlen(cmd) > COMMAND_SNIPPET_MAX)
                return strdup_printf("%.*s...", (int) COMMAND_SNIPPET_MAX, cmd);
        return strdup(cmd);
}

_noreturn_ static void command_child(int dir_fd, int null_fd, const char *cmd) {
        char *argv[] = { (char *) "bash", (char *) "-c", (char *) cmd, NULL };
        sigset_t ss;

        /* Own process group, so a timeout can kill whatever the command
         * started along with it. */
        if (setpgid(0, 0) < 0)
                _exit(126);
        if (fchdir(dir_fd) < 0)
                _exit(126);
        if (dup2(null_fd, STDIN_FILENO) < 0 ||
            dup2(null_fd, STDOUT_FILENO) < 0 ||
            dup2(null_fd, STDERR_FILENO) < 0)
                _exit(126);

        /* The daemon blocks and ignores signals for its event loop; the
         * command must start with a clean slate. */
        if (sigemptyset(&ss) < 0 || sigprocmask(SIG_SETMASK, &ss, NULL) < 0)
                _exit(126);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);

        (void) close_range(3, UINT_MAX, 0);

        execve("/bin/bash", argv, environ);
        _exit(127);
}

static int wait_interruptible(pid_t pid, int *status) {
        for (;;) {
                if (waitpid(pid, status, 0) >= 0)
                        return 0;
                if (errno != EINTR)
                        return negative_errno();
        }
}

static int pidfd_open_compat(pid_t pid) {
#ifdef SYS_pidfd_open
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);

        if (fd >= 0)
                return fd;
        return negative_errno();
#else
        (void) pid;
        return -ENOSYS;
#endif
}

static int check_command(const Score *s, const char *cmd, unsigned timeout,
                         ValidationStatus *status, char **detail) {
        _cleanup_close_ int dir_fd = -EBADF, null_fd = -EBADF, pidfd = -EBADF;
        _cleanup_free_ char *snip = NULL;
        bool timed_out = false;
        usec_t deadline;
        int wstatus = 0, r;
        pid_t pid;

        snip = command_snippet(cmd);
        if (!snip)
                return -ENOMEM;

        dir_fd = open(s->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "cannot run the command: workspace %s is not accessible: %m", s->workspace);
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return outcome_set(status, detail, VALIDATION_FAILED, "cannot open /dev/null: %m");

        if (timeout == 0)
                timeout = VALIDATION_TIMEOUT_DEFAULT;
        deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) timeout * USEC_PER_SEC;

        pid = fork();
        if (pid < 0)
                return outcome_set(status, detail, VALIDATION_FAILED, "cannot fork to run the command: %m");
        if (pid == 0)
                command_child(dir_fd, null_fd, cmd);

        /* Also from this side, so the group exists before we might kill it;
         * EACCES once the child has exec'd is fine, it did it itself. */
        (void) setpgid(pid, pid);

        pidfd = pidfd_open_compat(pid);

        for (;;) {
                pid_t w;
                usec_t n;

                w = waitpid(pid, &wstatus, WNOHANG);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        r = negative_errno();
                        (void) kill(-pid, SIGKILL);
                        return outcome_set(status, detail, VALIDATION_FAILED,
                                           "cannot wait for the command: %s", strerror(-r));
                }
                if (w == pid)
                        break;

                n = now_usec(CLOCK_MONOTONIC);
                if (n >= deadline) {
                        (void) kill(-pid, SIGKILL);
                        r = wait_interruptible(pid, &wstatus);
                        if (r < 0)
                                return outcome_set(status, detail, VALIDATION_FAILED,
                                                   "cannot wait for the killed command: %s", strerror(-r));
                        timed_out = true;
                        break;
                }

                if (pidfd >= 0) {
                        struct pollfd p = { .fd = pidfd, .events = POLLIN };
                        usec_t left_ms = (deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC;

                        if (poll(&p, 1, (int) MIN(left_ms, (usec_t) INT_MAX)) < 0 && errno != EINTR) {
                                /* fall back to sleeping */
                                closep(&pidfd);
                                pidfd = -EBADF;
                        }
                } else {
                        usec_t step = MIN(deadline - n, 10 * USEC_PER_MSEC);
                        struct timespec ts = {
                                .tv_sec = (time_t) (step / USEC_PER_SEC),
                                .tv_nsec = (long) (step % USEC_PER_SEC) * 1000L,
                        };

                        (void) nanosleep(&ts, NULL);
                }
        }

        /* Whatever the command left running in the background goes too: a
         * validation must not leave processes behind.  The group id cannot
         * be reused while members are alive, so this hits only ours. */
        (void) kill(-pid, SIGKILL);

        if (timed_out)
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "command timed out after %u s and was killed: %s", timeout, snip);
        if (WIFEXITED(wstatus)) {
                if (WEXITSTATUS(wstatus) == 0)
                        return outcome_set(status, detail, VALIDATION_PASSED, "command exited with status 0: %s", snip);
                if (WEXITSTATUS(wstatus) == 127)
                        return outcome_set(status, detail, VALIDATION_FAILED,
                                           "command exited with status 127 (command not found, or /bin/bash could not be run): %s",
                                           snip);
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "command exited with status %d: %s", WEXITSTATUS(wstatus), snip);
        }
        if (WIFSIGNALED(wstatus))
                return outcome_set(status, detail, VALIDATION_FAILED,
                                   "command was killed by signal %d (%s): %s",
                                   WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)), snip);
        return outcome_set(status, detail, VALIDATION_FAILED, "command ended abnormally: %s", snip);
}

static int run_one(const Score *s, const ScoreValidation *v, const Value *context, usec_t started_at,
                   ValidationStatus *status, char **detail) {
        _cleanup_free_ char *path = NULL, *cmd = NULL, *err = NULL;
        int r;

        /* Commands are not retried: one can wait for what it needs, within
         * timeout_seconds, and running it again may not be harmless. */
        if (v->type == VALIDATION_COMMAND_SUCCEEDS) {
                if (!v->command)
                        return outcome_set(status, detail, VALIDATION_FAILED, "no command configured");
                r = template_format_placeholders(v->command, context, /* shell_quote= */ true, &cmd, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return outcome_set(status, detail, VALIDATION_FAILED, "cannot expand command: %s",
                                           err ?: strerror(-r));
                return check_command(s, cmd, v->timeout_seconds, status, detail);
        }

        if (!v->path)
                return outcome_set(status, detail, VALIDATION_FAILED, "no path configured");
        r = expand_path(s, context, v->path, &path, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return outcome_set(status, detail, VALIDATION_FAILED, "cannot expand path: %s",
                                   err ?: strerror(-r));

        return run_file_check(v, path, started_at, status, detail);
}

static char *default_description(const ScoreValidation *v) {
        const char *t = validation_type_to_string(v->type);

        return strdup_printf("%s %s", t ?: "validation",
                             strempty(v->type == VALIDATION_COMMAND_SUCCEEDS ? v->command : v->path));
}

int validation_run_all(const Score *s, unsigned num, usec_t attempt_started_at, ValidationReport *ret) {
        _cleanup_(validation_report_done) ValidationReport report = {};
        _cleanup_value_free_ Value *context = NULL;
        _cleanup_free_ size_t *order = NULL;
        unsigned failed_stage = UINT_MAX;
        int r;

        if (!s || !ret || !s->workspace)
                return -EINVAL;

        r = score_sheet_context(s, num, &context);
        if (r < 0)
                return r;

        if (s->n_validations > 0) {
                order = calloc(s->n_validations, sizeof(size_t));
                report.outcomes = calloc(s->n_validations, sizeof(ValidationOutcome));
                if (!order || !report.outcomes)
                        return -ENOMEM;
        }

        /* stable insertion sort by stage: the lists are short */
        for (size_t i = 0; i < s->n_validations; i++) {
                size_t j = i;

                while (j > 0 && s->validations[order[j - 1]].stage > s->validations[i].stage) {
                        order[j] = order[j - 1];
                        j--;
                }
                order[j] = i;
        }

        for (size_t k = 0; k < s->n_validations; k++) {
                const ScoreValidation *v = s->validations + order[k];
                ValidationOutcome *o = report.outcomes + report.n;
                _cleanup_free_ char *err = NULL;
                bool applies = true;

                o->index = order[k];
                o->description = v->description ? strdup(v->description) : default_description(v);
                if (!o->description)
                        return -ENOMEM;
                report.n++;

                if (v->sheet != 0 && v->sheet != num) {
                        r = outcome_set(&o->status, &o->detail, VALIDATION_NOT_APPLICABLE,
                                        "only for sheet %u", v->sheet);
                        if (r < 0)
                                return r;
                        continue;
                }

                r = template_eval_condition(v->condition, context, &applies, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        r = outcome_set(&o->status, &o->detail, VALIDATION_FAILED,
                                        "invalid condition: %s", err ?: strerror(-r));
                else if (!applies)
                        r = outcome_set(&o->status, &o->detail, VALIDATION_NOT_APPLICABLE,
                                        "condition '%s' is false", v->condition);
                else if (v->stage > failed_stage)
                        r = outcome_set(&o->status, &o->detail, VALIDATION_NOT_RUN,
                                        "not run: a validation of stage %u failed", failed_stage);
                else
                        r = run_one(s, v, context, attempt_started_at, &o->status, &o->detail);
                if (r < 0)
                        return r;

                if (o->status == VALIDATION_PASSED)
                        report.passed++;
                else if (o->status == VALIDATION_FAILED) {
                        report.failed++;
                        failed_stage = MIN(failed_stage, v->stage);
                }
        }

        *ret = report;
        report = (ValidationReport) {};
        return 0;
}

/* ---- wire format ---------------------------------------------------- */

/* Fields are tab-separated; a NULL string is written as "\N" so that it
 * survives the round trip distinct from "". */
static void write_field(FILE *f, const char *s) {
        if (!s) {
                fputs("\\N", f);
                return;
        }
        for (; *s; s++)
                switch (*s) {
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

int validation_report_serialize(const ValidationReport *r, FILE *f) {
        for (size_t i = 0; i < r->n; i++) {
                const ValidationOutcome *o = r->outcomes + i;

                if ((unsigned) o->status >= ELEMENTSOF(status_words))
                        return -EINVAL;
                fprintf(f, "%zu\t%s\t", o->index, status_words[o->status]);
                write_field(f, o->description);
                fputc('\t', f);
                write_field(f, o->detail);
                fputc('\n', f);
        }
        /* The trailer lets the reader tell a complete report from the output
         * of a child that died half-way. */
        fprintf(f, "end\t%zu\n", r->n);

        if (fflush(f) != 0 || ferror(f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int parse_field(const char *s, size_t len, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;

        if (len == 2 && s[0] == '\\' && s[1] == 'N') {
                *ret = NULL;
                return 0;
        }

        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;

        for (size_t i = 0; i < len; i++) {
                if (s[i] != '\\') {
                        out[n++] = s[i];
                        continue;
                }
                if (++i >= len)
                        return -EINVAL;
                switch (s[i]) {
                case 't':
                        out[n++] = '\t';
                        break;
                case 'n':
                        out[n++] = '\n';
                        break;
                case 'r':
                        out[n++] = '\r';
                        break;
                case '\\':
                        out[n++] = '\\';
                        break;
                default:
                        return -EINVAL;
                }
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_size(const char *s, size_t len, size_t *ret) {
        size_t v = 0;

        if (len == 0 || len > 20)
                return -EINVAL;
        /* no leading zeros: one spelling per number keeps the format exact */
        if (len > 1 && s[0] == '0')
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v > (SIZE_MAX - (size_t) (s[i] - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (size_t) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int validation_report_parse(const char *text, ValidationReport *ret) {
        _cleanup_(validation_report_done) ValidationReport report = {};
        size_t allocated = 0;
        const char *p;
        int r;

        if (!text || !ret)
                return -EINVAL;

        for (p = text; ; ) {
                const char *eol, *t1, *t2, *t3;
                ValidationOutcome *o;
                size_t count;
                int st = -1;

                if (!*p)
                        return -EINVAL; /* no trailer: truncated */

                eol = strchr(p, '\n');
                if (!eol)
                        return -EINVAL;

                if (startswith(p, "end\t")) {
                        r = parse_size(p + 4, (size_t) (eol - p - 4), &count);
                        if (r < 0)
                                return -EINVAL;
                        if (count != report.n || eol[1] != 0)
                                return -EINVAL;
                        break;
                }

                t1 = memchr(p, '\t', (size_t) (eol - p));
                t2 = t1 ? memchr(t1 + 1, '\t', (size_t) (eol - t1 - 1)) : NULL;
                t3 = t2 ? memchr(t2 + 1, '\t', (size_t) (eol - t2 - 1)) : NULL;
                if (!t3 || memchr(t3 + 1, '\t', (size_t) (eol - t3 - 1)))
                        return -EINVAL;

                if (report.n >= allocated) {
                        size_t want = MAX(allocated * 2, (size_t) 8);
                        ValidationOutcome *n = reallocarray(report.outcomes, want, sizeof(ValidationOutcome));

                        if (!n)
                                return -ENOMEM;
                        report.outcomes = n;
                        allocated = want;
                }
                o = report.outcomes + report.n;
                *o = (ValidationOutcome) {};

                r = parse_size(p, (size_t) (t1 - p), &o->index);
                if (r < 0)
                        return -EINVAL;

                for (size_t i = 0; i < ELEMENTSOF(status_words); i++)
                        if ((size_t) (t2 - t1 - 1) == strlen(status_words[i]) &&
                            memcmp(t1 + 1, status_words[i], strlen(status_words[i])) == 0)
                                st = (int) i;
                if (st < 0)
                        return -EINVAL;
                o->status = (ValidationStatus) st;

                r = parse_field(t2 + 1, (size_t) (t3 - t2 - 1), &o->description);
                if (r < 0)
                        return r;
                /* counted now, so that cleanup frees the description */
                report.n++;
                r = parse_field(t3 + 1, (size_t) (eol - t3 - 1), &o->detail);
                if (r < 0)
                        return r;

                if (o->status == VALIDATION_PASSED)
                        report.passed++;
                else if (o->status == VALIDATION_FAILED)
                        report.failed++;

                p = eol + 1;
        }

        *ret = report;
        report = (ValidationReport) {};
        return 0;
}

int validation_report_to_json(const ValidationReport *r, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fputc('[', f);
        for (size_t i = 0; i < r->n; i++) {
                const ValidationOutcome *o = r->outcomes + i;

                fprintf(f, "%s{\"index\":%zu,\"status\":", i > 0 ? "," : "", o->index);
                json_write_string(f, (unsigned) o->status < ELEMENTSOF(status_words) ? status_words[o->status] : NULL);
                fputs(",\"description\":", f);
                json_write_string(f, o->description);
                fputs(",\"detail\":", f);
                json_write_string(f, o->detail);
                fputc('}', f);
        }
        fputc(']', f);

        if (fclose(f) != 0)
                return -ENOMEM;

        *ret = TAKE_PTR(buf);
        return 0;
}

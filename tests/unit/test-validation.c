/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "json.h"
#include "validation.h"

/* older cmocka has no assert_double_equal */
#define assert_near(a, b) assert_true((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

typedef struct Fixture {
        char dir[64];
        Score *score;
} Fixture;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path) < 0 ? -errno : 0;
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        Score *s;

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-validation-XXXXXX");
        assert_non_null(mkdtemp(f->dir));

        s = calloc(1, sizeof(Score));
        assert_non_null(s);
        s->name = strdup("test");
        s->workspace = strdup(f->dir);
        s->variables = value_new_map();
        assert_non_null(s->name);
        assert_non_null(s->workspace);
        assert_non_null(s->variables);
        assert_int_equal(value_map_set(s->variables, "topic", value_new_string("it's")), 0);

        /* three sheets: stage 1, stage 2 fanned out in two voices */
        s->n_sheets = 3;
        s->sheets = calloc(3, sizeof(Sheet));
        assert_non_null(s->sheets);
        s->sheets[0] = (Sheet) { .num = 1, .stage = 1, .instance = 1, .fan_count = 1, .start_item = 1, .end_item = 1 };
        s->sheets[1] = (Sheet) { .num = 2, .stage = 2, .instance = 1, .fan_count = 2, .start_item = 2, .end_item = 2 };
        s->sheets[2] = (Sheet) { .num = 3, .stage = 2, .instance = 2, .fan_count = 2, .start_item = 2, .end_item = 2 };
        s->total_stages = 2;
        s->total_items = 2;
        s->sheet_size = 1;
        s->start_item = 1;

        f->score = s;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        score_free(f->score);
        assert_int_equal(nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(f);
        return 0;
}

typedef struct V {
        ValidationType type;
        const char *path, *pattern, *command, *description, *condition;
        unsigned stage, sheet, timeout;
        unsigned retry_count, retry_delay;      /* 0: no retries, unlike a parsed score */
} V;

static void add(Score *s, V v) {
        ScoreValidation *n, *x;

        n = reallocarray(s->validations, s->n_validations + 1, sizeof(ScoreValidation));
        assert_non_null(n);
        s->validations = n;
        x = n + s->n_validations++;
        *x = (ScoreValidation) {
                .type = v.type,
                .path = v.path ? strdup(v.path) : NULL,
                .pattern = v.pattern ? strdup(v.pattern) : NULL,
                .command = v.command ? strdup(v.command) : NULL,
                .description = v.description ? strdup(v.description) : NULL,
                .condition = v.condition ? strdup(v.condition) : NULL,
                .stage = v.stage ?: 1,
                .sheet = v.sheet,
                .timeout_seconds = v.timeout,
                .retry_count = v.retry_count,
                .retry_delay_ms = v.retry_delay,
        };
}

#define ADD(s, ...) add(s, (V) { __VA_ARGS__ })

static void write_file(const Fixture *f, const char *name, const char *content, size_t len) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", f->dir, name);
        _cleanup_fclose_ FILE *file = NULL;

        assert_non_null(p);
        file = fopen(p, "we");
        assert_non_null(file);
        assert_int_equal(fwrite(content, 1, len, file), len);
        assert_int_equal(fclose(TAKE_PTR(file)), 0);
}

#define WRITE(f, name, s) write_file(f, name, s, strlen(s))

static void remove_file(const Fixture *f, const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", f->dir, name);

        assert_non_null(p);
        assert_int_equal(unlink(p), 0);
}

static void run(const Fixture *f, unsigned num, usec_t started, ValidationReport *r) {
        assert_int_equal(validation_run_all(f->score, num, started, r), 0);
        assert_int_equal(r->n, f->score->n_validations);
}

static void expect(const ValidationReport *r, size_t i, size_t index, ValidationStatus st, const char *needle) {
        const ValidationOutcome *o = r->outcomes + i;

        assert_true(i < r->n);
        if (o->index != index || o->status != st)
                fail_msg("outcome %zu: index %zu status %d, expected index %zu status %d (%s)",
                         i, o->index, (int) o->status, index, (int) st, strna(o->detail));
        assert_non_null(o->description);
        assert_non_null(o->detail);
        if (needle && !strstr(o->detail, needle))
                fail_msg("outcome %zu: detail '%s' lacks '%s'", i, o->detail, needle);
}

static void test_file_exists(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        _cleanup_free_ char *abs = strdup_printf("%s/sheet1.md", f->dir);
        _cleanup_free_ char *missing = strdup_printf("file %s/missing.md does not exist", f->dir);

        assert_non_null(abs);
        assert_non_null(missing);
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "{workspace}/sheet{sheet_num}.md", .description = "sheet file");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "sheet1.md");            /* relative to the workspace */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "{workspace}/missing.md");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "{workspace}");         /* a directory */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "{workspace}/{nope}.md");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "sheet1.md/sub");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = NULL);
        WRITE(f, "sheet1.md", "# hello\n");

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, abs);
        assert_string_equal(r.outcomes[0].description, "sheet file");
        expect(&r, 1, 1, VALIDATION_PASSED, abs);
        /* without a description one is made up from type and path */
        assert_string_equal(r.outcomes[1].description, "file_exists sheet1.md");
        expect(&r, 2, 2, VALIDATION_FAILED, missing);
        expect(&r, 3, 3, VALIDATION_FAILED, "not a regular file");
        expect(&r, 4, 4, VALIDATION_FAILED, "/{nope}.md does not exist");
        expect(&r, 5, 5, VALIDATION_FAILED, "does not exist");
        expect(&r, 6, 6, VALIDATION_FAILED, "no path");
        assert_int_equal(r.passed, 2);
        assert_int_equal(r.failed, 5);
        assert_false(validation_report_passed(&r));
        assert_near(validation_report_pass_percentage(&r), 200.0 / 7.0);

        /* for sheet 2 the first one looks for sheet2.md */
        validation_report_done(&r);
        run(f, 2, 0, &r);
        expect(&r, 0, 0, VALIDATION_FAILED, "sheet2.md does not exist");
}

static void test_file_modified(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        usec_t now;

        ADD(f->score, .type = VALIDATION_FILE_MODIFIED, .path = "{workspace}/out.md");
        ADD(f->score, .type = VALIDATION_FILE_MODIFIED, .path = "{workspace}/missing.md");
        WRITE(f, "out.md", "x");
        now = now_usec(CLOCK_REALTIME);

        run(f, 1, now - 5 * USEC_PER_SEC, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, "was modified");
        expect(&r, 1, 1, VALIDATION_FAILED, "does not exist");
        validation_report_done(&r);

        /* an attempt that started after the file was written */
        run(f, 1, now + 60 * USEC_PER_SEC, &r);
        expect(&r, 0, 0, VALIDATION_FAILED, "was not modified during this attempt");
        assert_non_null(strstr(r.outcomes[0].detail, "UTC"));
        validation_report_done(&r);

        /* a file written right after the attempt started counts, even with
         * coarse file system timestamps */
        now = now_usec(CLOCK_REALTIME);
        WRITE(f, "out.md", "y");
        run(f, 1, now, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, NULL);
}

static void test_content_contains(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        _cleanup_free_ char *big = strdup_printf("%s/big.md", f->dir);
        _cleanup_close_ int fd = -EBADF;
        static const char binary[] = "\0\0binary\0### Fact 1\0";

        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/x.md", .pattern = "### Fact 1");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/x.md", .pattern = "### Fact 2");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/missing.md", .pattern = "x");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/big.md", .pattern = "x");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/bin.md", .pattern = "### Fact 1");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}", .pattern = "x");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/x.md", .pattern = NULL);
        /* the pattern is literal: no regex, no placeholders */
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/x.md", .pattern = "a.c {workspace}");
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "{workspace}/x.md", .pattern = "abc");
        WRITE(f, "x.md", "intro\n### Fact 1\nmore a.c {workspace}\n");
        write_file(f, "bin.md", binary, sizeof(binary));

        assert_non_null(big);
        fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, "pattern '### Fact 1' found in");
        expect(&r, 1, 1, VALIDATION_FAILED, "pattern '### Fact 2' not found in");
        assert_non_null(strstr(r.outcomes[1].detail, "/x.md"));
        expect(&r, 2, 2, VALIDATION_FAILED, "does not exist");
        expect(&r, 3, 3, VALIDATION_FAILED, "larger than 16 MiB");
        expect(&r, 4, 4, VALIDATION_PASSED, NULL);
        expect(&r, 5, 5, VALIDATION_FAILED, "is a directory");
        expect(&r, 6, 6, VALIDATION_FAILED, "no pattern");
        expect(&r, 7, 7, VALIDATION_PASSED, NULL);
        expect(&r, 8, 8, VALIDATION_FAILED, NULL);

        /* exactly 16 MiB is still searched */
        validation_report_done(&r);
        assert_int_equal(ftruncate(fd, 16 * 1024 * 1024), 0);
        run(f, 1, 0, &r);
        expect(&r, 3, 3, VALIDATION_FAILED, "not found");
}

static void test_content_regex(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        static const char binary[] = "ab\0cd\n";

        /* Python's re.search(pattern, content) with no flags, as the
         * original Marianne does: '^' is the start of the file and '$' its
         * end (or just before a final newline) unless (?m), '.' stops at
         * newlines unless (?s).  Expectations checked with CPython 3.11. */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "^#\\s+");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/y.md", .pattern = "^#\\s+");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "(?s)^#+ ");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/y.md", .pattern = "(?s)^#+ ");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/y.md", .pattern = "(?m)^#+ ");
        /* [[:space:]] is no POSIX class to Python: '[', ':', 's', ... then ']' */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "[[:space:]]");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "(?i)^SECOND\\w*$");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "(?im)^SECOND\\w*$");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/z.md", .pattern = "intro.second");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/z.md", .pattern = "(?s)intro.second");
        /* 10: '$' before the final newline */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "id \\d{3}-\\d+$");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/y.md", .pattern = "^intro$");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/bin.md", .pattern = "b.c");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/missing.md", .pattern = "x");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = NULL);
        /* 15: what cannot be translated or compiled says why */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "(");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "a(?=b)");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/x.md", .pattern = "(a)|b\\1");
        WRITE(f, "x.md", "# Title\nintro\nsecondline\nid 123-45\n");
        WRITE(f, "y.md", "intro\n# Title\nsecond\n");
        WRITE(f, "z.md", "intro\nsecond\n");
        write_file(f, "bin.md", binary, sizeof(binary) - 1);

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, "regular expression '^#\\s+' matches");
        expect(&r, 1, 1, VALIDATION_FAILED, "regular expression '^#\\s+' does not match");
        assert_non_null(strstr(r.outcomes[1].detail, "/y.md"));
        expect(&r, 2, 2, VALIDATION_PASSED, NULL);
        expect(&r, 3, 3, VALIDATION_FAILED, NULL);
        expect(&r, 4, 4, VALIDATION_PASSED, NULL);
        expect(&r, 5, 5, VALIDATION_FAILED, NULL);
        expect(&r, 6, 6, VALIDATION_FAILED, NULL);
        expect(&r, 7, 7, VALIDATION_PASSED, NULL);
        expect(&r, 8, 8, VALIDATION_FAILED, NULL);
        expect(&r, 9, 9, VALIDATION_PASSED, NULL);
        expect(&r, 10, 10, VALIDATION_PASSED, NULL);
        expect(&r, 11, 11, VALIDATION_FAILED, NULL);
        expect(&r, 12, 12, VALIDATION_PASSED, NULL);
        expect(&r, 13, 13, VALIDATION_FAILED, "does not exist");
        expect(&r, 14, 14, VALIDATION_FAILED, "no pattern");
        expect(&r, 15, 15, VALIDATION_FAILED, "invalid regular expression '(': missing ), unterminated subpattern at offset 0");
        expect(&r, 16, 16, VALIDATION_FAILED,
               "invalid regular expression 'a(?=b)': lookahead assertion '(?=' is not supported at offset 1");
        expect(&r, 17, 17, VALIDATION_FAILED, "in the POSIX translation '(a)|b\\1'");
}

/* The regular expressions of the original scores, on the files a sheet
 * is asked to write (a Markdown document starting with a heading). */
static void test_content_regex_scores(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};

        /* hello.yaml */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/01-world.md", .pattern = "(?s)^#+ ");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/02-character-1.md", .pattern = "(?s)^#+ ");
        /* simple-sheet.yaml */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/sheet{sheet_num}.md", .pattern = "^#\\s+");
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "{workspace}/sheet2.md", .pattern = "^#\\s+");
        WRITE(f, "01-world.md", "## The World\n\nA place.\n");
        /* a preamble before the heading: the original fails this too */
        WRITE(f, "02-character-1.md", "Here is the vignette:\n\n# Ada\n");
        WRITE(f, "sheet1.md", "#\tSheet 1\n");
        WRITE(f, "sheet2.md", "\n# Sheet 2\n");

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, NULL);
        expect(&r, 1, 1, VALIDATION_FAILED, "does not match");
        expect(&r, 2, 2, VALIDATION_PASSED, NULL);
        expect(&r, 3, 3, VALIDATION_FAILED, "does not match");
}

/* From a child, (re)write name in the workspace after delay_ms, all at
 * once (rename), while the validation under test is looking for it. */
static pid_t write_later(const Fixture *f, const char *name, const char *content, unsigned delay_ms) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name);
        _cleanup_free_ char *tmp = strdup_printf("%s/.%s.tmp", f->dir, name);
        pid_t pid;

        assert_non_null(path);
        assert_non_null(tmp);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct timespec ts = { .tv_sec = delay_ms / 1000, .tv_nsec = (long) (delay_ms % 1000) * 1000000L };
                FILE *file;

                (void) nanosleep(&ts, NULL);
                file = fopen(tmp, "we");
                if (!file)
                        _exit(EXIT_FAILURE);
                if (fputs(content, file) < 0 || fclose(file) != 0 || rename(tmp, path) < 0)
                        _exit(EXIT_FAILURE);
                _exit(EXIT_SUCCESS);
        }
        return pid;
}

static void wait_writer(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_retry_late_file(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        pid_t pid;

        /* the score defaults: three more checks, 200 ms apart */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "late.md", .retry_count = 3, .retry_delay = 200);
        pid = write_later(f, "late.md", "done\n", 300);
        run(f, 1, 0, &r);
        wait_writer(pid);
        expect(&r, 0, 0, VALIDATION_PASSED, "exists");
}

static void test_retry_late_content(void **state) {
        static const struct {
                ValidationType type;
                const char *pattern;
        } checks[] = {
                { VALIDATION_CONTENT_CONTAINS, "done" },
                { VALIDATION_CONTENT_REGEX, "(?m)^done$" },
        };
        Fixture *f = *state;

        /* one file each: the earlier validations, still in the score,
         * find theirs finished and pass at once */
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                _cleanup_(validation_report_done) ValidationReport r = {};
                _cleanup_free_ char *name = strdup_printf("out%zu.md", i);
                pid_t pid;

                assert_non_null(name);
                WRITE(f, name, "pending\n");
                ADD(f->score, .type = checks[i].type, .path = name, .pattern = checks[i].pattern,
                    .retry_count = 3, .retry_delay = 200);
                pid = write_later(f, name, "started\ndone\n", 300);
                run(f, 1, 0, &r);
                wait_writer(pid);
                for (size_t j = 0; j <= i; j++)
                        expect(&r, j, j, VALIDATION_PASSED, NULL);
        }
}

static void test_retry_late_modification(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        _cleanup_free_ char *path = strdup_printf("%s/out.md", f->dir);
        const struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
        pid_t pid;

        assert_non_null(path);
        WRITE(f, "out.md", "from an earlier attempt\n");
        assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);

        ADD(f->score, .type = VALIDATION_FILE_MODIFIED, .path = "out.md", .retry_count = 3, .retry_delay = 200);
        pid = write_later(f, "out.md", "new\n", 300);
        run(f, 1, now_usec(CLOCK_REALTIME), &r);
        wait_writer(pid);
        expect(&r, 0, 0, VALIDATION_PASSED, "was modified");
}

static void test_retry_exhausted(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};

        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "never.md", .retry_count = 0, .retry_delay = 200);
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "never.md", .retry_count = 2, .retry_delay = 1);
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "x.md", .pattern = "absent",
            .retry_count = 2, .retry_delay = 1);
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "x.md", .pattern = "^absent",
            .retry_count = 1, .retry_delay = 1);
        /* what another look cannot change is not looked at again: these
         * would take 100 minutes each otherwise */
        ADD(f->score, .type = VALIDATION_CONTENT_REGEX, .path = "x.md", .pattern = "(?<=a)b",
            .retry_count = 100, .retry_delay = 60000);
        ADD(f->score, .type = VALIDATION_CONTENT_CONTAINS, .path = "x.md", .pattern = NULL,
            .retry_count = 100, .retry_delay = 60000);
        /* a passing check is not repeated */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .retry_count = 100, .retry_delay = 60000);
        WRITE(f, "x.md", "present\n");

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_FAILED, "does not exist");
        assert_null(strstr(r.outcomes[0].detail, "after"));
        expect(&r, 1, 1, VALIDATION_FAILED, "never.md does not exist (after 3 checks)");
        expect(&r, 2, 2, VALIDATION_FAILED, "not found in");
        assert_non_null(strstr(r.outcomes[2].detail, "(after 3 checks)"));
        expect(&r, 3, 3, VALIDATION_FAILED, "does not match");
        assert_non_null(strstr(r.outcomes[3].detail, "(after 2 checks)"));
        expect(&r, 4, 4, VALIDATION_FAILED, "lookbehind");
        assert_null(strstr(r.outcomes[4].detail, "after"));
        expect(&r, 5, 5, VALIDATION_FAILED, "no pattern");
        expect(&r, 6, 6, VALIDATION_PASSED, NULL);
        assert_null(strstr(r.outcomes[6].detail, "after"));
}

static void test_command_not_retried(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        _cleanup_free_ char *path = strdup_printf("%s/runs", f->dir), *data = NULL;

        assert_non_null(path);
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "echo run >> runs; exit 1",
            .retry_count = 3, .retry_delay = 1);
        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_FAILED, "status 1");
        assert_null(strstr(r.outcomes[0].detail, "after"));
        assert_int_equal(read_full_file(path, 4096, &data, NULL), 0);
        assert_string_equal(data, "run\n");
}

static void test_command(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};

        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "true");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "exit 3");
        /* runs in the workspace */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "test -f x.md && test \"$(pwd)\" = {workspace}");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS,
            .command = "test $(wc -w < \"{workspace}/x.md\") -ge 3");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS,
            .command = "test $(wc -w < \"{workspace}/x.md\") -ge 150");
        /* values are quoted: a quote in a variable cannot break out */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "test {topic} = \"it's\" && test \"{topic}\" = \"it's\"");
        /* stdin is /dev/null, so this does not hang */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "cat >/dev/null && ! read -r x");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "kill -TERM $$");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "no-such-command-marianne");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "test '{missing}' = missing");
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = NULL);
        /* stdout and stderr go nowhere, the test output stays clean */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS, .command = "echo noise; echo noise >&2");
        WRITE(f, "x.md", "one two three\n");

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, "command exited with status 0");
        expect(&r, 1, 1, VALIDATION_FAILED, "command exited with status 3: exit 3");
        expect(&r, 2, 2, VALIDATION_PASSED, NULL);
        expect(&r, 3, 3, VALIDATION_PASSED, NULL);
        expect(&r, 4, 4, VALIDATION_FAILED, "status 1");
        expect(&r, 5, 5, VALIDATION_PASSED, NULL);
        expect(&r, 6, 6, VALIDATION_PASSED, NULL);
        expect(&r, 7, 7, VALIDATION_FAILED, "killed by signal 15");
        expect(&r, 8, 8, VALIDATION_FAILED, "status 127");
        expect(&r, 9, 9, VALIDATION_FAILED, "test '{missing}' = missing");
        expect(&r, 10, 10, VALIDATION_FAILED, "no command");
        expect(&r, 11, 11, VALIDATION_PASSED, NULL);

        /* a workspace that is not there */
        validation_report_done(&r);
        assert_int_equal(free_and_strdup(&f->score->workspace, "/nonexistent/marianne-ws"), 0);
        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_FAILED, "workspace /nonexistent/marianne-ws is not accessible");
        assert_int_equal(free_and_strdup(&f->score->workspace, f->dir), 0);
}

/* Gone, or a zombie waiting for us (we are the subreaper of orphans). */
static bool process_gone(pid_t pid) {
        _cleanup_free_ char *path = strdup_printf("/proc/%d/stat", (int) pid), *data = NULL;
        const char *p;

        assert_non_null(path);
        if (read_full_file(path, 4096, &data, NULL) < 0)
                return true;
        p = strrchr(data, ')');
        return p && (p[2] == 'Z' || p[2] == 'X');
}

static pid_t read_pid(const Fixture *f, const char *name) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name), *data = NULL;
        int pid;

        assert_non_null(path);
        assert_int_equal(read_full_file(path, 64, &data, NULL), 0);
        assert_int_equal(sscanf(data, "%d", &pid), 1);
        assert_true(pid > 1);
        return (pid_t) pid;
}

static void check_pid_gone(pid_t pid) {
        bool gone = false;

        for (int i = 0; i < 200 && !gone; i++) {
                gone = process_gone(pid);
                if (!gone) {
                        struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                        (void) nanosleep(&ts, NULL);
                }
        }
        if (!gone)
                (void) kill(pid, SIGKILL); /* do not leave it behind even when failing */
        (void) waitpid(pid, NULL, WNOHANG);
        assert_true(gone);
}

static void test_command_timeout(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        usec_t start, elapsed;

        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS,
            .command = "sleep 300 & echo $! > bg.pid; sleep 300", .timeout = 1);
        /* a command that succeeds but leaves a process in the background */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS,
            .command = "sleep 300 & echo $! > bg2.pid; exit 0");
        /* ignoring SIGTERM does not help against SIGKILL */
        ADD(f->score, .type = VALIDATION_COMMAND_SUCCEEDS,
            .command = "trap '' TERM; echo $$ > self.pid; while :; do sleep 0.1; done", .timeout = 1);

        start = now_usec(CLOCK_MONOTONIC);
        run(f, 1, 0, &r);
        elapsed = now_usec(CLOCK_MONOTONIC) - start;

        expect(&r, 0, 0, VALIDATION_FAILED, "timed out after 1 s");
        expect(&r, 1, 1, VALIDATION_PASSED, NULL);
        expect(&r, 2, 2, VALIDATION_FAILED, "timed out after 1 s");
        assert_true(elapsed >= 2 * USEC_PER_SEC);
        assert_true(elapsed < 10 * USEC_PER_SEC);

        check_pid_gone(read_pid(f, "bg.pid"));
        check_pid_gone(read_pid(f, "bg2.pid"));
        check_pid_gone(read_pid(f, "self.pid"));
}

static void test_stages(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};

        /* listed out of stage order on purpose */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "b.md", .stage = 2, .description = "stage two");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "a.md", .stage = 1, .description = "stage one A");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "c.md", .stage = 3, .description = "stage three");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "a2.md", .stage = 1, .description = "stage one B");
        /* a stage-1 validation that does not apply does not block */
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "none.md", .stage = 1, .condition = "sheet_num == 2");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "b2.md", .stage = 2, .condition = "sheet_num == 2");

        /* stage 1 fails (a.md missing): stages 2 and 3 are not run, the other
         * stage-1 validation still is */
        WRITE(f, "a2.md", "x");
        WRITE(f, "b.md", "x");
        WRITE(f, "c.md", "x");
        run(f, 1, 0, &r);
        expect(&r, 0, 1, VALIDATION_FAILED, "does not exist");
        assert_string_equal(r.outcomes[0].description, "stage one A");
        expect(&r, 1, 3, VALIDATION_PASSED, NULL);
        expect(&r, 2, 4, VALIDATION_NOT_APPLICABLE, "condition 'sheet_num == 2' is false");
        expect(&r, 3, 0, VALIDATION_NOT_RUN, "stage 1");
        expect(&r, 4, 5, VALIDATION_NOT_APPLICABLE, NULL);
        expect(&r, 5, 2, VALIDATION_NOT_RUN, "stage 1");
        assert_int_equal(r.passed, 1);
        assert_int_equal(r.failed, 1);
        assert_false(validation_report_passed(&r));
        assert_near(validation_report_pass_percentage(&r), 50.0);
        validation_report_done(&r);

        /* stage 1 passes, stage 2 fails: stage 3 not run */
        WRITE(f, "a.md", "x");
        remove_file(f, "b.md");
        run(f, 1, 0, &r);
        expect(&r, 0, 1, VALIDATION_PASSED, NULL);
        expect(&r, 1, 3, VALIDATION_PASSED, NULL);
        expect(&r, 3, 0, VALIDATION_FAILED, NULL);
        expect(&r, 5, 2, VALIDATION_NOT_RUN, "stage 2");
        validation_report_done(&r);

        /* everything there */
        WRITE(f, "b.md", "x");
        run(f, 1, 0, &r);
        assert_int_equal(r.passed, 4);
        assert_int_equal(r.failed, 0);
        assert_true(validation_report_passed(&r));
        assert_near(validation_report_pass_percentage(&r), 100.0);
        validation_report_done(&r);

        /* sheet 2: the conditional ones apply now, b2.md is missing */
        run(f, 2, 0, &r);
        expect(&r, 2, 4, VALIDATION_FAILED, NULL);
        expect(&r, 4, 5, VALIDATION_NOT_RUN, NULL);
        expect(&r, 5, 2, VALIDATION_NOT_RUN, NULL);
}

static void test_filtering(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};

        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .sheet = 2);
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .condition = "stage == 2 and instance == 2");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .condition = "nope == 1");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .condition = "stage = 1");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .condition = "");
        WRITE(f, "x.md", "x");

        run(f, 1, 0, &r);
        expect(&r, 0, 0, VALIDATION_NOT_APPLICABLE, "only for sheet 2");
        expect(&r, 1, 1, VALIDATION_NOT_APPLICABLE, NULL);
        expect(&r, 2, 2, VALIDATION_FAILED, "invalid condition");
        assert_non_null(strstr(r.outcomes[2].detail, "unknown variable 'nope'"));
        expect(&r, 3, 3, VALIDATION_FAILED, "invalid condition");
        expect(&r, 4, 4, VALIDATION_PASSED, NULL);
        validation_report_done(&r);

        run(f, 2, 0, &r);
        expect(&r, 0, 0, VALIDATION_PASSED, NULL);
        expect(&r, 1, 1, VALIDATION_NOT_APPLICABLE, NULL);
        validation_report_done(&r);

        run(f, 3, 0, &r);
        expect(&r, 0, 0, VALIDATION_NOT_APPLICABLE, NULL);
        expect(&r, 1, 1, VALIDATION_PASSED, NULL);
        validation_report_done(&r);

        /* no such sheet */
        assert_int_equal(validation_run_all(f->score, 4, 0, &r), -ENOENT);
        assert_int_equal(validation_run_all(f->score, 0, 0, &r), -ENOENT);
        assert_int_equal(r.n, 0);
}

static void test_no_validations(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {};
        _cleanup_free_ char *json = NULL;

        run(f, 1, 0, &r);
        assert_int_equal(r.n, 0);
        assert_true(validation_report_passed(&r));
        assert_near(validation_report_pass_percentage(&r), 100.0);
        assert_int_equal(validation_report_to_json(&r, &json), 0);
        assert_string_equal(json, "[]");
}

static char *serialize(const ValidationReport *r) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(validation_report_serialize(r, f), 0);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void assert_reports_equal(const ValidationReport *a, const ValidationReport *b) {
        assert_int_equal(a->n, b->n);
        assert_int_equal(a->passed, b->passed);
        assert_int_equal(a->failed, b->failed);
        for (size_t i = 0; i < a->n; i++) {
                assert_int_equal(a->outcomes[i].index, b->outcomes[i].index);
                assert_int_equal(a->outcomes[i].status, b->outcomes[i].status);
                assert_true(streq_ptr(a->outcomes[i].description, b->outcomes[i].description));
                assert_true(streq_ptr(a->outcomes[i].detail, b->outcomes[i].detail));
        }
}

static void test_serialize_roundtrip(void **state) {
        ValidationOutcome o[] = {
                { 0, VALIDATION_PASSED, (char *) "plain", (char *) "file /ws/x exists" },
                { 7, VALIDATION_FAILED, (char *) "tab\there\nnewline\\back\\\\slash\r", (char *) "\\N" },
                { 2, VALIDATION_NOT_APPLICABLE, (char *) "", NULL },
                { 18446744073709551615ULL, VALIDATION_NOT_RUN, NULL, (char *) "trailing backslash\\" },
                { 3, VALIDATION_FAILED, (char *) "\t\t\n\n", (char *) "ünïcödé ✓" },
        };
        ValidationReport r = { .outcomes = o, .n = ELEMENTSOF(o), .passed = 1, .failed = 2 };
        _cleanup_(validation_report_done) ValidationReport p = {}, p2 = {};
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        (void) state;

        text = serialize(&r);
        /* one line per outcome plus the trailer */
        size_t lines = 0;
        for (const char *c = text; *c; c++)
                lines += *c == '\n';
        assert_int_equal(lines, ELEMENTSOF(o) + 1);
        assert_non_null(strstr(text, "0\tpassed\tplain\tfile /ws/x exists\n"));
        assert_non_null(strstr(text, "\tnot_applicable\t\t\\N\n"));
        assert_true(endswith(text, "end\t5\n"));

        assert_int_equal(validation_report_parse(text, &p), 0);
        assert_reports_equal(&r, &p);

        text2 = serialize(&p);
        assert_string_equal(text, text2);

        /* an empty report */
        ValidationReport empty = {};
        _cleanup_free_ char *t3 = serialize(&empty);
        assert_string_equal(t3, "end\t0\n");
        assert_int_equal(validation_report_parse(t3, &p2), 0);
        assert_int_equal(p2.n, 0);
}

static void test_serialize_real(void **state) {
        Fixture *f = *state;
        _cleanup_(validation_report_done) ValidationReport r = {}, p = {};
        _cleanup_free_ char *text = NULL;

        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .description = "with\ttab");
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "missing.md", .stage = 1);
        ADD(f->score, .type = VALIDATION_FILE_EXISTS, .path = "x.md", .stage = 2);
        WRITE(f, "x.md", "x");
        run(f, 1, 0, &r);

        text = serialize(&r);
        assert_int_equal(validation_report_parse(text, &p), 0);
        assert_reports_equal(&r, &p);
        assert_false(validation_report_passed(&p));
}

static void test_parse_malformed(void **state) {
        static const char * const bad[] = {
                "",
                "\n",
                "0\tpassed\td\tx\n",                    /* no trailer: truncated */
                "0\tpassed\td\tx",
                "end\t1\n",                             /* count mismatch */
                "0\tpassed\td\tx\nend\t2\n",
                "0\tpassed\td\tx\nend\t0\n",
                "end\t0",                               /* no newline */
                "end\t0\nextra\n",                      /* text after the trailer */
                "end\t0\n\n",
                "end\t\n",
                "end\t00\n",
                "end\t-0\n",
                "end 0\n",
                "x\tpassed\ta\tb\nend\t1\n",
                "-1\tpassed\ta\tb\nend\t1\n",
                "01\tpassed\ta\tb\nend\t1\n",
                " 1\tpassed\ta\tb\nend\t1\n",
                "\tpassed\ta\tb\nend\t1\n",
                "99999999999999999999999\tpassed\ta\tb\nend\t1\n",
                "18446744073709551616\tpassed\ta\tb\nend\t1\n",
                "0\tbogus\ta\tb\nend\t1\n",
                "0\tPASSED\ta\tb\nend\t1\n",
                "0\tpasse\ta\tb\nend\t1\n",
                "0\t\ta\tb\nend\t1\n",
                "0\tpassed\ta\nend\t1\n",                /* three fields */
                "0\tpassed\nend\t1\n",
                "0\nend\t1\n",
                "0\tpassed\ta\tb\tc\nend\t1\n",         /* five fields */
                "0\tpassed\ta\\q\tb\nend\t1\n",         /* unknown escape */
                "0\tpassed\ta\tb\\\nend\t1\n",          /* trailing backslash */
                "0\tpassed\ta\\\tb\nend\t1\n",
                "0\tpassed\t\\N\\N\tb\nend\t1\n",
                "0\tpassed\ta\tb\n0\tfailed\ta\tb\tc\nend\t2\n",
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ValidationReport r = { .n = 12345 };
                int k = validation_report_parse(bad[i], &r);

                if (k != -EINVAL)
                        fail_msg("parsing malformed input %zu ('%s') returned %d", i, bad[i], k);
                /* untouched on failure */
                assert_int_equal(r.n, 12345);
        }

        ValidationReport r = {};
        assert_int_equal(validation_report_parse(NULL, &r), -EINVAL);
}

static char *json_of(const char *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        json_write_string(f, s);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void check_json(const char *in, const char *expected) {
        _cleanup_free_ char *out = json_of(in);

        assert_string_equal(out, expected);
}

static void test_json_string(void **state) {
        (void) state;

        check_json(NULL, "null");
        check_json("", "\"\"");
        check_json("plain", "\"plain\"");
        check_json("q\"b\\s/", "\"q\\\"b\\\\s/\"");
        check_json("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
        check_json("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
        check_json("héllo ✓ 𝄞", "\"héllo ✓ 𝄞\"");
        /* invalid UTF-8 is replaced, never passed through */
        check_json("a\xff" "b", "\"a\\ufffdb\"");
        check_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");                /* overlong */
        check_json("\xe2\x9c", "\"\\ufffd\\ufffd\"");                /* truncated */
        check_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");     /* surrogate */
        check_json("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
        check_json("\xe2\x9c\x93\x80", "\"✓\\ufffd\"");
}

static void test_report_json(void **state) {
        ValidationOutcome o[] = {
                { 0, VALIDATION_PASSED, (char *) "say \"hi\"", (char *) "line1\nline2" },
                { 4, VALIDATION_NOT_RUN, (char *) "d", NULL },
                { 2, VALIDATION_NOT_APPLICABLE, (char *) "tab\t", (char *) "back\\slash" },
                { 1, VALIDATION_FAILED, (char *) "f", (char *) "\x02" },
        };
        ValidationReport r = { .outcomes = o, .n = ELEMENTSOF(o) };
        _cleanup_free_ char *json = NULL;
        (void) state;

        assert_int_equal(validation_report_to_json(&r, &json), 0);
        assert_string_equal(json,
                            "[{\"index\":0,\"status\":\"passed\",\"description\":\"say \\\"hi\\\"\",\"detail\":\"line1\\nline2\"},"
                            "{\"index\":4,\"status\":\"not_run\",\"description\":\"d\",\"detail\":null},"
                            "{\"index\":2,\"status\":\"not_applicable\",\"description\":\"tab\\t\",\"detail\":\"back\\\\slash\"},"
                            "{\"index\":1,\"status\":\"failed\",\"description\":\"f\",\"detail\":\"\\u0002\"}]");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_file_exists, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_modified, setup, teardown),
                cmocka_unit_test_setup_teardown(test_content_contains, setup, teardown),
                cmocka_unit_test_setup_teardown(test_content_regex, setup, teardown),
                cmocka_unit_test_setup_teardown(test_content_regex_scores, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_late_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_late_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_late_modification, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_exhausted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command, setup, teardown),
                cmocka_unit_test_setup_teardown(test_command_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filtering, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_validations, setup, teardown),
                cmocka_unit_test(test_serialize_roundtrip),
                cmocka_unit_test_setup_teardown(test_serialize_real, setup, teardown),
                cmocka_unit_test(test_parse_malformed),
                cmocka_unit_test(test_json_string),
                cmocka_unit_test(test_report_json),
        };

        /* Orphans of the commands under test come to us, so the tests can
         * see whether they were killed. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                perror("prctl(PR_SET_CHILD_SUBREAPER)");
                return EXIT_FAILURE;
        }

        return cmocka_run_group_tests(tests, NULL, NULL);
}

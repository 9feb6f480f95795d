/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Renders every case of cases.yaml with our engine and compares the result
 * byte for byte with what Jinja2 renders (jinja-expected.py computes that
 * at test time).  Variables go through the real score parser, so that
 * their YAML typing is production's.  Error cases match when both fail.
 * Prints a report of every mismatch; exits 77 when Jinja2 is missing. */

#include <sys/wait.h>

#include "score.h"
#include "template.h"

typedef struct Case {
        char *field[5];         /* id, template, vars, status, expected */
        size_t len[5];
} Case;

enum { F_ID, F_TEMPLATE, F_VARS, F_STATUS, F_EXPECTED };

/* "<len>:<bytes>\n" */
static int read_field(const char **p, const char *end, char **ret, size_t *ret_len) {
        char *colon;
        unsigned long long n;

        errno = 0;
        n = strtoull(*p, &colon, 10);
        if (errno != 0 || colon >= end || *colon != ':' || n > (unsigned long long) (end - colon - 1))
                return -EINVAL;
        *ret = strndup(colon + 1, n);
        if (!*ret)
                return -ENOMEM;
        *ret_len = n;
        *p = colon + 1 + n;
        if (*p >= end || **p != '\n')
                return -EINVAL;
        (*p)++;
        return 0;
}

/* Printable rendering of output for the report: escapes, and a cut. */
static void print_escaped(const char *label, const char *s, size_t len) {
        printf("    %-9s \"", label);
        for (size_t i = 0; i < len && i < 600; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '\n')
                        fputs("\\n", stdout);
                else if (c == '\t')
                        fputs("\\t", stdout);
                else if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        printf("\\x%02x", c);
                else
                        putchar(c);
        }
        printf("\"%s\n", len > 600 ? "..." : "");
}

static char *indent_vars(const char *vars) {
        size_t n = 0;
        char *out, *o;

        for (const char *p = vars; *p; p++)
                n += *p == '\n' ? 5 : 1;
        out = malloc(n + 6);
        if (!out)
                return NULL;
        o = out;
        o = stpcpy(o, "    ");
        for (const char *p = vars; *p; p++) {
                *o++ = *p;
                if (*p == '\n' && p[1])
                        o = stpcpy(o, "    ");
        }
        *o = 0;
        return out;
}

/* The case's variables as production parses them: a score around them. */
static int load_variables(const Case *c, Score **ret, char **ret_error) {
        _cleanup_free_ char *vars = NULL, *yaml = NULL;

        if (c->len[F_VARS] == 0)
                yaml = strdup("name: t\nsheet: {size: 1, total_items: 1}\n");
        else {
                vars = indent_vars(c->field[F_VARS]);
                if (!vars)
                        return -ENOMEM;
                yaml = strdup_printf("name: t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n%s%s",
                                     vars, endswith(vars, "\n") ? "" : "\n");
        }
        if (!yaml)
                return -ENOMEM;
        return score_parse_string(yaml, strlen(yaml), "case.yaml", "/", NULL, ret, ret_error);
}

/* 0 if the case matches; 1 and a report if not. */
static int run_case(const Case *c) {
        if (streq(c->field[F_STATUS], "skip"))
                return 0;

        _cleanup_score_free_ Score *score = NULL;
        _cleanup_free_ char *out = NULL, *error = NULL, *parse_error = NULL;
        bool want_ok = streq(c->field[F_STATUS], "ok");
        int r;

        r = load_variables(c, &score, &parse_error);
        if (r < 0) {
                printf("FAIL %s: the variables do not parse: %s\n", c->field[F_ID], strna(parse_error));
                return 1;
        }

        r = template_render_full(c->field[F_ID], c->field[F_TEMPLATE], score->variables, NULL, &out, &error);
        if (r == -ENOMEM) {
                printf("FAIL %s: out of memory\n", c->field[F_ID]);
                return 1;
        }
        if (r < 0 && !error) {
                printf("FAIL %s: error %s without a message\n", c->field[F_ID], strerror(-r));
                return 1;
        }
        if (want_ok && r >= 0 && strlen(out) == c->len[F_EXPECTED] &&
            memcmp(out, c->field[F_EXPECTED], c->len[F_EXPECTED]) == 0)
                return 0;
        if (!want_ok && r < 0)
                return 0;

        printf("FAIL %s\n", c->field[F_ID]);
        print_escaped("template", c->field[F_TEMPLATE], c->len[F_TEMPLATE]);
        if (c->len[F_VARS] > 0)
                print_escaped("vars", c->field[F_VARS], c->len[F_VARS]);
        if (want_ok)
                print_escaped("jinja", c->field[F_EXPECTED], c->len[F_EXPECTED]);
        else
                printf("    jinja     fails: %s\n", c->field[F_EXPECTED]);
        if (r >= 0) {
                size_t i = 0;

                print_escaped("ours", out, strlen(out));
                while (i < strlen(out) && i < c->len[F_EXPECTED] && out[i] == c->field[F_EXPECTED][i])
                        i++;
                if (want_ok)
                        printf("    first difference at byte %zu\n", i);
        } else
                printf("    ours      fails: %s\n", error);
        return 1;
}

static int read_expected(const char *python, const char *script, const char *cases, char **ret, size_t *ret_size) {
        _cleanup_free_ char *cmd = NULL, *q_python = NULL, *q_script = NULL, *q_cases = NULL;
        FILE *f;
        int r, status;

        q_python = shell_quote(python);
        q_script = shell_quote(script);
        q_cases = shell_quote(cases);
        if (!q_python || !q_script || !q_cases)
                return -ENOMEM;
        cmd = strdup_printf("%s %s %s", q_python, q_script, q_cases);
        if (!cmd)
                return -ENOMEM;
        f = popen(cmd, "r");
        if (!f)
                return negative_errno();
        r = read_full_stream(fileno(f), 256U * 1024U * 1024U, ret, ret_size);
        status = pclose(f);
        if (r < 0)
                return r;
        if (!WIFEXITED(status)) {
                free(*ret);
                return -EIO;
        }
        if (WEXITSTATUS(status) != 0) {
                free(*ret);
                return WEXITSTATUS(status) == 77 ? -EOPNOTSUPP : -EBADMSG;
        }
        return 0;
}

int main(void) {
        const char *python = getenv("TEMPLATE_CONFORMANCE_PYTHON"), *script = getenv("TEMPLATE_CONFORMANCE_SCRIPT"),
                *cases = getenv("TEMPLATE_CONFORMANCE_CASES");
        _cleanup_free_ char *data = NULL;
        const char *p, *end;
        size_t size = 0, n = 0, failed = 0, skipped = 0;
        int r;

        if (isempty(python)) {
                printf("python3 not found: cannot compute Jinja2's results, skipping\n");
                return 77;
        }
        if (isempty(script) || isempty(cases)) {
                printf("TEMPLATE_CONFORMANCE_SCRIPT and _CASES must be set (meson test sets them)\n");
                return 1;
        }

        r = read_expected(python, script, cases, &data, &size);
        if (r == -EOPNOTSUPP) {
                printf("python3-jinja2 or python3-yaml missing, skipping\n");
                return 77;
        }
        if (r < 0) {
                printf("running %s failed: %s\n", script, strerror(-r));
                return 1;
        }

        for (p = data, end = data + size; p < end; n++) {
                Case c = {};

                for (size_t i = 0; i < 5; i++) {
                        r = read_field(&p, end, &c.field[i], &c.len[i]);
                        if (r < 0) {
                                printf("malformed output from %s (case %zu)\n", script, n + 1);
                                for (size_t j = 0; j < i; j++)
                                        free(c.field[j]);
                                return 1;
                        }
                }
                skipped += streq(c.field[F_STATUS], "skip");
                failed += run_case(&c);
                for (size_t i = 0; i < 5; i++)
                        free(c.field[i]);
        }

        printf("%zu cases, %zu match Jinja2, %zu differ", n, n - failed - skipped, failed);
        if (skipped > 0)
                printf(", %zu skipped (they need a newer Jinja2 than the one installed)", skipped);
        printf("\n");
        return failed > 0 ? 1 : 0;
}

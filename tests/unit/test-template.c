/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "template.h"

static char *mfree_test(char *p) {
        free(p);
        return NULL;
}

static Value *make_context(void) {
        Value *ctx = value_new_map(), *ch, *items, *nested, *m;

        assert_non_null(ctx);
        assert_int_equal(value_map_set(ctx, "name", value_new_string("World")), 0);
        assert_int_equal(value_map_set(ctx, "n", value_new_int(42)), 0);
        assert_int_equal(value_map_set(ctx, "neg", value_new_int(-7)), 0);
        assert_int_equal(value_map_set(ctx, "flag", value_new_bool(true)), 0);
        assert_int_equal(value_map_set(ctx, "nothing", value_new_null()), 0);
        assert_int_equal(value_map_set(ctx, "workspace", value_new_string("/ws")), 0);
        assert_int_equal(value_map_set(ctx, "sheet_num", value_new_int(3)), 0);
        assert_int_equal(value_map_set(ctx, "stage", value_new_int(2)), 0);
        assert_int_equal(value_map_set(ctx, "instance", value_new_int(1)), 0);
        assert_int_equal(value_map_set(ctx, "idx", value_new_int(1)), 0);
        assert_int_equal(value_map_set(ctx, "key", value_new_string("role")), 0);

        ch = value_new_map();
        assert_non_null(ch);
        assert_int_equal(value_map_set(ch, "name", value_new_string("Ada")), 0);
        assert_int_equal(value_map_set(ch, "role", value_new_string("engineer")), 0);
        nested = value_new_map();
        assert_non_null(nested);
        assert_int_equal(value_map_set(nested, "city", value_new_string("London")), 0);
        assert_int_equal(value_map_set(ch, "home", nested), 0);
        assert_int_equal(value_map_set(ctx, "char", ch), 0);

        items = value_new_list();
        assert_non_null(items);
        assert_int_equal(value_list_append(items, value_new_string("zero")), 0);
        assert_int_equal(value_list_append(items, value_new_string("one")), 0);
        m = value_new_map();
        assert_non_null(m);
        assert_int_equal(value_map_set(m, "title", value_new_string("two")), 0);
        assert_int_equal(value_list_append(items, m), 0);
        assert_int_equal(value_map_set(ctx, "items", items), 0);

        m = value_new_map();
        assert_non_null(m);
        assert_int_equal(value_map_set(m, "1", value_new_string("first")), 0);
        assert_int_equal(value_map_set(m, "a b", value_new_string("spaced")), 0);
        assert_int_equal(value_map_set(m, "}}", value_new_string("braces")), 0);
        assert_int_equal(value_map_set(ctx, "m", m), 0);

        assert_int_equal(value_map_set(ctx, "quoted", value_new_string("it's here")), 0);
        assert_int_equal(value_map_set(ctx, "spaced_ws", value_new_string("/my ws")), 0);

        return ctx;
}

/* Render and expect success with the given output. */
static void check_render(const Value *ctx, const char *tmpl, const char *expected) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_render(tmpl, ctx, TEMPLATE_OUTPUT_MAX, &out, &err);
        if (r < 0)
                fail_msg("rendering '%s' failed: %s (%s)", tmpl, strerror(-r), strna(err));
        assert_null(err);
        assert_string_equal(out, expected);
}

/* Render and expect failure r with exactly the given message. */
static void check_render_fails(const Value *ctx, const char *tmpl, int expected_r, const char *expected_msg) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_render(tmpl, ctx, TEMPLATE_OUTPUT_MAX, &out, &err);
        if (r != expected_r)
                fail_msg("rendering '%s': expected %d, got %d (%s)", tmpl, expected_r, r, strna(err));
        assert_null(out);
        assert_non_null(err);
        if (expected_msg)
                assert_string_equal(err, expected_msg);
}

static void test_text_passthrough(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "", "");
        check_render(ctx, "plain text", "plain text");
        check_render(ctx, "plain text\n", "plain text\n");
        check_render(ctx, "two\n\nnewlines\n\n", "two\n\nnewlines\n\n");
        /* lone braces and percent signs are text */
        check_render(ctx, "a { b } c % d # e }} f %} g #}", "a { b } c % d # e }} f %} g #}");
        check_render(ctx, "{", "{");
        check_render(ctx, "ends with {", "ends with {");
}

static void test_substitution(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "Hello {{ name }}!", "Hello World!");
        check_render(ctx, "Hello {{name}}!\n", "Hello World!\n");
        check_render(ctx, "{{ name }}", "World");
        check_render(ctx, "{{\tname\n}}", "World");
        check_render(ctx, "{{ n }} {{ neg }} {{ flag }} {{ nothing }}", "42 -7 True None");
        check_render(ctx, "{{ name }}{{ name }}", "WorldWorld");
        check_render(ctx, "sheet {{ sheet_num }} of {{ workspace }}\n", "sheet 3 of /ws\n");
        /* literals */
        check_render(ctx, "{{ 'lit' }} {{ \"dq\" }} {{ 5 }} {{ -5 }} {{ true }} {{ None }}", "lit dq 5 -5 True None");
        check_render(ctx, "{{ 'a\\'b' }}", "a'b");
        /* a string literal may contain the closing delimiter */
        check_render(ctx, "{{ '}}' }}", "}}");
}

static void test_access(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "{{ char.name }}", "Ada");
        check_render(ctx, "{{ char.home.city }}", "London");
        check_render(ctx, "{{ char['name'] }}", "Ada");
        check_render(ctx, "{{ char[\"role\"] }}", "engineer");
        check_render(ctx, "{{ char['home']['city'] }}", "London");
        check_render(ctx, "{{ char . home [ 'city' ] }}", "London");
        check_render(ctx, "{{ items[0] }}", "zero");
        check_render(ctx, "{{ items[1] }}", "one");
        check_render(ctx, "{{ items[2].title }}", "two");
        check_render(ctx, "{{ items[2]['title'] }}", "two");
        check_render(ctx, "{{ items.0 }}", "zero");
        check_render(ctx, "{{ items[-1].title }}", "two");
        check_render(ctx, "{{ items[idx] }}", "one");
        check_render(ctx, "{{ char[key] }}", "engineer");
        /* [n] on a map looks up the key "n" */
        check_render(ctx, "{{ m[1] }}", "first");
        check_render(ctx, "{{ m['1'] }}", "first");
        check_render(ctx, "{{ m['a b'] }}", "spaced");
        check_render(ctx, "{{ m['}}'] }}", "braces");
}

static void test_comments(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "a{# comment #}b", "ab");
        check_render(ctx, "a{##}b", "ab");
        check_render(ctx, "a{# {{ undefined }} {% if %} ' \" #}b", "ab");
        check_render(ctx, "a{# multi\nline\ncomment #}b\n", "ab\n");
        check_render(ctx, "{# only a comment #}", "");
        check_render(ctx, "{# first #}\n{{ name }}\n", "\nWorld\n");
}

static void test_whitespace_control(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "a  \n  {{- name }}  b", "aWorld  b");
        check_render(ctx, "a  {{ name -}}  \n\t b", "a  Worldb");
        check_render(ctx, "a \n {{- name -}} \n b", "aWorldb");
        check_render(ctx, "a \n {#- comment -#} \n b", "ab");
        check_render(ctx, "a \n {#- comment #} \n b", "a \n b");
        check_render(ctx, "a \n {# comment -#} \n b", "a \n b");
        check_render(ctx, "x\n{{- name -}}\n", "xWorld");
        check_render(ctx, "{{- name -}}", "World");
        check_render(ctx, "{{- name -}}{{- n -}}", "World42");
        /* '+' is accepted and keeps whitespace */
        check_render(ctx, "a {{+ name +}} b", "a World b");
        /* "- }}" is not whitespace control, and a minus there is not Jinja either */
        check_render_fails(ctx, "{{ name - }}", -EOPNOTSUPP, NULL);
}

static void test_strict_undefined(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render_fails(ctx, "{{ foo }}", -ENOENT, "undefined variable 'foo' (line 1)");
        check_render_fails(ctx, "line1\nline2\n{{ foo }}\n", -ENOENT, "undefined variable 'foo' (line 3)");
        check_render_fails(ctx, "x\n{{ char.nmae }}", -ENOENT, "'char' has no attribute 'nmae' (line 2)");
        check_render_fails(ctx, "{{ char.home.town }}", -ENOENT, "'char.home' has no attribute 'town' (line 1)");
        check_render_fails(ctx, "{{ char['nmae'] }}", -ENOENT, "'char' has no item 'nmae' (line 1)");
        check_render_fails(ctx, "{{ items[5] }}", -ENOENT, "'items' has no item 5 (line 1)");
        check_render_fails(ctx, "{{ items[-4] }}", -ENOENT, "'items' has no item -4 (line 1)");
        check_render_fails(ctx, "{{ items['x'] }}", -ENOENT, "'items' has no item 'x' (line 1)");
        check_render_fails(ctx, "{{ items[1].x }}", -ENOENT, "'items[1]' has no attribute 'x' (line 1)");
        check_render_fails(ctx, "{{ n.x }}", -ENOENT, "'n' has no attribute 'x' (line 1)");
        check_render_fails(ctx, "{{ name[0] }}", -ENOENT, "'name' has no item 0 (line 1)");
        check_render_fails(ctx, "{{ items[nope] }}", -ENOENT, "undefined variable 'nope' (line 1)");
        check_render_fails(ctx, "{{ m[2] }}", -ENOENT, "'m' has no item 2 (line 1)");
        /* line numbers count newlines inside earlier tags too */
        check_render_fails(ctx, "{#\n\n#}{{\nname }}{{ foo }}", -ENOENT, "undefined variable 'foo' (line 4)");
        check_render_fails(ctx, "a\n{{ name -}}\n\n\n{{ foo }}", -ENOENT, "undefined variable 'foo' (line 5)");

        /* the error pointer is optional */
        _cleanup_free_ char *out = NULL;
        assert_int_equal(template_render("{{ foo }}", ctx, TEMPLATE_OUTPUT_MAX, &out, NULL), -ENOENT);
        assert_null(out);

        /* an empty or missing context has nothing defined */
        _cleanup_value_free_ Value *empty = value_new_map();
        assert_non_null(empty);
        check_render_fails(empty, "{{ name }}", -ENOENT, "undefined variable 'name' (line 1)");
        check_render_fails(NULL, "{{ name }}", -ENOENT, "undefined variable 'name' (line 1)");
        check_render(NULL, "no tags\n", "no tags\n");
}

static void test_unterminated(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render_fails(ctx, "abc\n{{ name", -EINVAL, "unterminated '{{' (line 2): add the closing '}}'");
        check_render_fails(ctx, "{{ name }", -EINVAL, "unterminated '{{' (line 1): add the closing '}}'");
        check_render_fails(ctx, "{{", -EINVAL, "unterminated '{{' (line 1): add the closing '}}'");
        check_render_fails(ctx, "a\nb\n{# comment", -EINVAL, "unterminated '{#' (line 3): add the closing '#}'");
        check_render_fails(ctx, "{% if x", -EINVAL, "unterminated '{%' (line 1): add the closing '%}'");
        check_render_fails(ctx, "{{ 'abc }}", -EINVAL, NULL);
        /* syntax errors found before anything is rendered, even after an undefined name */
        check_render_fails(ctx, "{{ foo }}\n{{ name", -EINVAL, NULL);
}

static void test_syntax_errors(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render_fails(ctx, "{{ }}", -EINVAL,
                           "syntax error in template expression '{{  }}': expected an expression (line 1)");
        check_render_fails(ctx, "\n{{ a b }}", -EINVAL,
                           "syntax error in template expression '{{ a b }}': unexpected text after the expression (line 2)");
        check_render_fails(ctx, "{{ a. }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ a.'x' }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ a[ }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ a[1 }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ a] }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ @ }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ $x }}", -EINVAL, NULL);
        check_render_fails(ctx, "{{ 99999999999999999999 }}", -EINVAL, NULL);

        /* valid Jinja we do not do yet */
        check_render_fails(ctx, "{{ name | upper }}", -EOPNOTSUPP,
                           "template expression '{{ name | upper }}' uses operators, filters, tests and calls, which are not supported yet (line 1)");
        check_render_fails(ctx, "{{ n + 1 }}", -EOPNOTSUPP, NULL);
        check_render_fails(ctx, "{{ f(x) }}", -EOPNOTSUPP, NULL);
        check_render_fails(ctx, "{{ a if b else c }}", -EOPNOTSUPP, NULL);
        check_render_fails(ctx, "{{ not flag }}", -EOPNOTSUPP, NULL);
        check_render_fails(ctx, "{{ -n }}", -EOPNOTSUPP, NULL);
}

static void test_statements_refused(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render_fails(ctx, "a\nb\n{% if x %}y{% endif %}", -EOPNOTSUPP,
                           "template statement '{% if x %}' is not supported yet (line 3)");
        check_render_fails(ctx, "{%- for i in items -%}{{ i }}{% endfor %}", -EOPNOTSUPP,
                           "template statement '{% for i in items %}' is not supported yet (line 1)");
        check_render_fails(ctx, "{% set x = '%}' %}", -EOPNOTSUPP,
                           "template statement '{% set x = '%}' %}' is not supported yet (line 1)");
        /* statements are refused even where the expression before them fails */
        check_render_fails(ctx, "{{ undefined }}{% raw %}", -EOPNOTSUPP, NULL);
}

static void test_output_bound(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        _cleanup_free_ char *out = NULL, *err = NULL;
        (void) state;

        assert_int_equal(template_render("0123456789", ctx, 10, &out, &err), 0);
        assert_string_equal(out, "0123456789");
        out = mfree_test(out);

        assert_int_equal(template_render("0123456789x", ctx, 10, &out, &err), -E2BIG);
        assert_null(out);
        assert_non_null(err);
        assert_string_equal(err, "rendered template exceeds the limit of 10 bytes (line 1): shorten the template or its variables");
        err = mfree_test(err);

        /* a substitution pushing past the limit names its line */
        assert_int_equal(template_render("abcd\n{{ name }}", ctx, 8, &out, &err), -E2BIG);
        assert_null(out);
        assert_non_null(strstr(err, "(line 2)"));
        err = mfree_test(err);

        assert_int_equal(template_render("abc{{ name }}", ctx, 8, &out, &err), 0);
        assert_string_equal(out, "abcWorld");
        out = mfree_test(out);

        assert_int_equal(template_render("", ctx, 0, &out, &err), 0);
        assert_string_equal(out, "");
        out = mfree_test(out);
        assert_int_equal(template_render("x", ctx, 0, &out, &err), -E2BIG);
        assert_null(out);
}

static void test_large_output(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        _cleanup_free_ char *tmpl = NULL, *out = NULL, *err = NULL;
        size_t n = 20000;
        (void) state;

        /* many substitutions grow the buffer repeatedly */
        tmpl = malloc(n * 10 + 1);
        assert_non_null(tmpl);
        for (size_t i = 0; i < n; i++)
                memcpy(tmpl + i * 10, "{{ name }}", 10);
        tmpl[n * 10] = 0;
        assert_int_equal(template_render(tmpl, ctx, TEMPLATE_OUTPUT_MAX, &out, &err), 0);
        assert_int_equal(strlen(out), n * 5);
        assert_memory_equal(out + 5 * (n - 1), "World", 5);
}

static void check_format(const Value *ctx, const char *s, bool quote, const char *expected) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_format_placeholders(s, ctx, quote, &out, &err);
        if (r < 0)
                fail_msg("formatting '%s' failed: %s (%s)", s, strerror(-r), strna(err));
        assert_null(err);
        assert_string_equal(out, expected);
}

static void check_format_fails(const Value *ctx, const char *s, int expected_r, const char *needle) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_format_placeholders(s, ctx, true, &out, &err);
        if (r != expected_r)
                fail_msg("formatting '%s': expected %d, got %d (%s)", s, expected_r, r, strna(err));
        assert_null(out);
        assert_non_null(err);
        if (needle && !strstr(err, needle))
                fail_msg("message '%s' lacks '%s'", err, needle);
}

static void test_placeholders(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_format(ctx, "", false, "");
        check_format(ctx, "no placeholders", false, "no placeholders");
        check_format(ctx, "{workspace}/sheet{sheet_num}.md", false, "/ws/sheet3.md");
        check_format(ctx, "{workspace}/02-character-{instance}.md", false, "/ws/02-character-1.md");
        check_format(ctx, "{{literal}} {{ and }}", false, "{literal} { and }");
        check_format(ctx, "{{{workspace}}}", false, "{/ws}");
        check_format(ctx, "{char.name}/{items[1]}/{m[1]}/{items[2][title]}", false, "Ada/one/first/two");
        check_format(ctx, "{flag} {nothing} {neg}", false, "True None -7");

        /* quoting */
        check_format(ctx, "cat {workspace}/x", true, "cat '/ws'/x");
        check_format(ctx, "cat {spaced_ws}/x", true, "cat '/my ws'/x");
        check_format(ctx, "echo {quoted}", true, "echo 'it'\\''s here'");
        /* inside double quotes the value is escaped, not single-quoted:
         * bash would keep single quotes there as literal characters */
        check_format(ctx, "test $(wc -w < \"{workspace}/sheet-2-result.md\") -ge 150", true,
                     "test $(wc -w < \"/ws/sheet-2-result.md\") -ge 150");
        check_format(ctx, "test -f \"{spaced_ws}/x\" && echo \"{quoted}\"", true,
                     "test -f \"/my ws/x\" && echo \"it's here\"");
        check_format(ctx, "python3 -c \"open('{workspace}/x.json')\"", true,
                     "python3 -c \"open('/ws/x.json')\"");
        check_format(ctx, "echo '{quoted}'", true, "echo 'it'\\''s here'");
        check_format(ctx, "echo \"$(cat {workspace}/x)\"", true, "echo \"$(cat '/ws'/x)\"");
        check_format(ctx, "echo \\\"{workspace}", true, "echo \\\"'/ws'");
        check_format(ctx, "echo {{}} {sheet_num}", true, "echo {} '3'");
}

static void test_placeholders_left_alone(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        /* only names of the context are placeholders; every other brace is
         * the command's own text, as in the original's real scores */
        check_format(ctx, "{nope}/x", false, "{nope}/x");
        check_format(ctx, "echo ${today} {a,b}", true, "echo ${today} {a,b}");
        check_format(ctx, "{char.nope}", false, "{char.nope}");
        check_format(ctx, "{items[9]}", false, "{items[9]}");
        check_format(ctx, "{workspace", false, "{workspace");
        check_format(ctx, "a}b }", false, "a}b }");
        check_format(ctx, "{}", false, "{}");
        check_format(ctx, "{0}", false, "{0}");
        check_format(ctx, "{workspace:>10}", false, "{workspace:>10}");
        check_format(ctx, "{workspace!r}", false, "{workspace!r}");
        check_format(ctx, "python3 -c \"print({len(x)})\"", true, "python3 -c \"print({len(x)})\"");
        check_format(ctx, "{'SELL', 'BUY'}", false, "{'SELL', 'BUY'}");
        check_format(ctx, "{{workspace}}", false, "{workspace}");
        (void) check_format_fails;
}

/* Run s through bash's printf and return what bash made of it. */
static char *bash_output(const char *cmd) {
        _cleanup_fclose_ FILE *p = NULL;
        char *got = NULL;
        size_t n = 0;

        p = popen(cmd, "r");
        assert_non_null(p);
        if (getdelim(&got, &n, 0, p) < 0) {
                free(got);
                got = strdup("");
                assert_non_null(got);
        }
        assert_int_equal(pclose(TAKE_PTR(p)), 0);
        return got;
}

static void test_placeholders_bash_reads_back(void **state) {
        static const char * const values[] = {
                "plain", "/my ws", "it's", "\"dq\"", "$HOME", "`id`", "$(id)", "back\\slash", "a\nb", "'\"'\"", "",
                "trailing\\",
        };
        static const struct {
                const char *cmd;
                const char *prefix, *suffix;
        } contexts[] = {
                { "printf %s {v}", "", "" },
                { "printf %s \"{v}\"", "", "" },
                { "printf %s \"pre-{v}-post\"", "pre-", "-post" },
                { "printf %s '{v}'", "", "" },
                { "printf %s 'pre {v} post'", "pre ", " post" },
                { "printf %s \"a'{v}'b\"", "a'", "'b" },
                { "printf %s \"$(printf %s {v})\"", "", "" },
                { "printf %s \"$(printf %s \"{v}\")\"", "", "" },
                { "printf %s \"$( (printf %s \"{v}\") )\"", "", "" },
                { "printf %s $(printf %s '{v}')x", "", "x" },
                { "printf %s \\\"{v}", "\"", "" },
                { "printf %s \\'{v}", "'", "" },
                { "printf %s \"\\\"{v}\"", "\"", "" },
                { "printf %s {{}}{v}", "{}", "" },
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(values); i++)
                for (size_t j = 0; j < ELEMENTSOF(contexts); j++) {
                        _cleanup_value_free_ Value *ctx = value_new_map();
                        _cleanup_free_ char *cmd = NULL, *err = NULL, *got = NULL, *want = NULL;

                        /* word splitting would eat these: the $( ) is unquoted */
                        if (strstr(contexts[j].cmd, "$(printf %s '{v}')") && strpbrk(values[i], " \n"))
                                continue;

                        assert_non_null(ctx);
                        assert_int_equal(value_map_set(ctx, "v", value_new_string(values[i])), 0);
                        assert_int_equal(template_format_placeholders(contexts[j].cmd, ctx, true, &cmd, &err), 0);
                        got = bash_output(cmd);
                        want = strdup_printf("%s%s%s", contexts[j].prefix, values[i], contexts[j].suffix);
                        assert_non_null(want);
                        /* $( ) drops trailing newlines, as bash does */
                        if (strstr(contexts[j].cmd, "$(") && endswith(values[i], "\n") && !*contexts[j].suffix)
                                want[strlen(want) - 1] = 0;
                        if (!streq(got, want))
                                fail_msg("value '%s' in '%s' became command '%s', bash read '%s'",
                                         values[i], contexts[j].cmd, cmd, got);
                }
}

static void test_shell_quote_bash(void **state) {
        static const char * const inputs[] = {
                "", "plain", "with space", "it's", "''", "$(touch /nonexistent)", "`x`", "a\nb", "\\", "\"", "*",
        };
        (void) state;

        /* bash must read the quoted string back exactly */
        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                _cleanup_free_ char *q = shell_quote(inputs[i]), *cmd = NULL, *got = NULL;
                _cleanup_fclose_ FILE *p = NULL;
                size_t n = 0;
                ssize_t k;

                assert_non_null(q);
                cmd = strdup_printf("printf '%%s' %s", q);
                assert_non_null(cmd);
                p = popen(cmd, "r");
                assert_non_null(p);
                k = getdelim(&got, &n, 0, p);
                assert_int_equal(pclose(TAKE_PTR(p)), 0);
                if (inputs[i][0] == 0)
                        assert_true(k <= 0);
                else
                        assert_string_equal(got, inputs[i]);
        }

        _cleanup_free_ char *e = shell_quote(""), *q = shell_quote("a'b");
        assert_string_equal(e, "''");
        assert_string_equal(q, "'a'\\''b'");
}

static void check_cond(const Value *ctx, const char *c, bool expected) {
        _cleanup_free_ char *err = NULL;
        bool b = !expected;
        int r;

        r = template_eval_condition(c, ctx, &b, &err);
        if (r < 0)
                fail_msg("condition '%s' failed: %s (%s)", strna(c), strerror(-r), strna(err));
        assert_null(err);
        if (b != expected)
                fail_msg("condition '%s' was %s", strna(c), b ? "true" : "false");
}

static void check_cond_fails(const Value *ctx, const char *c, int expected_r, const char *needle) {
        _cleanup_free_ char *err = NULL;
        bool b = false;
        int r;

        r = template_eval_condition(c, ctx, &b, &err);
        if (r != expected_r)
                fail_msg("condition '%s': expected %d, got %d (%s)", c, expected_r, r, strna(err));
        assert_non_null(err);
        if (needle && !strstr(err, needle))
                fail_msg("message '%s' lacks '%s'", err, needle);
}

static void test_conditions(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        /* sheet_num = 3, stage = 2, instance = 1, neg = -7 */
        check_cond(ctx, NULL, true);
        check_cond(ctx, "", true);
        check_cond(ctx, "   ", true);
        check_cond(ctx, "sheet_num == 3", true);
        check_cond(ctx, "sheet_num == 1", false);
        check_cond(ctx, "sheet_num != 1", true);
        check_cond(ctx, "sheet_num != 3", false);
        check_cond(ctx, "sheet_num < 4", true);
        check_cond(ctx, "sheet_num < 3", false);
        check_cond(ctx, "sheet_num <= 3", true);
        check_cond(ctx, "sheet_num <= 2", false);
        check_cond(ctx, "sheet_num > 2", true);
        check_cond(ctx, "sheet_num > 3", false);
        check_cond(ctx, "sheet_num >= 3", true);
        check_cond(ctx, "sheet_num >= 4", false);
        check_cond(ctx, "sheet_num==3", true);
        check_cond(ctx, "  stage >= 2 and instance == 1  ", true);
        check_cond(ctx, "stage >= 2 and instance == 2", false);
        check_cond(ctx, "stage >= 3 and instance == 1", false);
        check_cond(ctx, "stage == 2 and instance == 1 and sheet_num > 0", true);
        check_cond(ctx, "neg == -7", true);
        check_cond(ctx, "neg < +0", true);
}

static void test_conditions_errors(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_cond_fails(ctx, "nope == 1", -ENOENT, "unknown variable 'nope'");
        /* a false clause does not hide an error in a later one */
        check_cond_fails(ctx, "sheet_num == 1 and nope == 1", -ENOENT, "nope");
        check_cond_fails(ctx, "name == 1", -EINVAL, "not an integer");
        check_cond_fails(ctx, "flag == 1", -EINVAL, "not an integer");
        check_cond_fails(ctx, "sheet_num", -EINVAL, "expected one of");
        check_cond_fails(ctx, "sheet_num ==", -EINVAL, "expected an integer");
        check_cond_fails(ctx, "sheet_num == x", -EINVAL, "expected an integer");
        check_cond_fails(ctx, "sheet_num == 1x", -EINVAL, "not an integer");
        check_cond_fails(ctx, "sheet_num == 1.5", -EINVAL, NULL);
        check_cond_fails(ctx, "sheet_num = 1", -EINVAL, "expected one of");
        check_cond_fails(ctx, "sheet_num === 1", -EINVAL, NULL);
        check_cond_fails(ctx, "== 1", -EINVAL, "expected a variable name");
        check_cond_fails(ctx, "1 == sheet_num", -EINVAL, "expected a variable name");
        check_cond_fails(ctx, "sheet_num == 1 and", -EINVAL, "'and' without a clause after it");
        check_cond_fails(ctx, "and sheet_num == 1", -EINVAL, "'and' without a clause before it");
        check_cond_fails(ctx, "sheet_num == 1 or stage == 2", -EINVAL, "expected 'and'");
        check_cond_fails(ctx, "sheet_num == 1 stage == 2", -EINVAL, "expected 'and'");
        check_cond_fails(ctx, "sheet_num == 1 andstage == 2", -EINVAL, "expected 'and'");
        check_cond_fails(ctx, "sheet_num == 99999999999999999999", -EINVAL, "out of range");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_text_passthrough),
                cmocka_unit_test(test_substitution),
                cmocka_unit_test(test_access),
                cmocka_unit_test(test_comments),
                cmocka_unit_test(test_whitespace_control),
                cmocka_unit_test(test_strict_undefined),
                cmocka_unit_test(test_unterminated),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_statements_refused),
                cmocka_unit_test(test_output_bound),
                cmocka_unit_test(test_large_output),
                cmocka_unit_test(test_placeholders),
                cmocka_unit_test(test_placeholders_left_alone),
                cmocka_unit_test(test_placeholders_bash_reads_back),
                cmocka_unit_test(test_shell_quote_bash),
                cmocka_unit_test(test_conditions),
                cmocka_unit_test(test_conditions_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

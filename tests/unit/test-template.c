/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The template API: rendering basics, error messages (template name, line
 * and construct), the limits against hostile templates, every sheet of the
 * original's sample scores, and validation placeholders and conditions.
 * Jinja conformance case by case is tests/template/. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glob.h>

#include "score.h"
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

        /* string keys, one of them digits */
        m = value_new_map();
        assert_non_null(m);
        assert_int_equal(value_map_set(m, "1", value_new_string("first")), 0);
        assert_int_equal(value_map_set(m, "a b", value_new_string("spaced")), 0);
        assert_int_equal(value_map_set(m, "}}", value_new_string("braces")), 0);
        assert_int_equal(value_map_set(ctx, "m", m), 0);

        /* int keys, as YAML "1:" gives them */
        m = value_new_map();
        assert_non_null(m);
        assert_int_equal(value_map_set_key(m, value_new_int(1), value_new_string("sheet one")), 0);
        assert_int_equal(value_map_set_key(m, value_new_int(2), value_new_string("sheet two")), 0);
        assert_int_equal(value_map_set(ctx, "outputs", m), 0);

        assert_int_equal(value_map_set(ctx, "quoted", value_new_string("it's here")), 0);
        assert_int_equal(value_map_set(ctx, "spaced_ws", value_new_string("/my ws")), 0);

        return ctx;
}

/* Render as "t.j2" and expect success with the given output. */
static void check_render(const Value *ctx, const char *tmpl, const char *expected) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_render_full("t.j2", tmpl, ctx, NULL, &out, &err);
        if (r < 0)
                fail_msg("rendering '%s' failed: %s (%s)", tmpl, strerror(-r), strna(err));
        assert_null(err);
        if (!streq(out, expected))
                fail_msg("rendering '%s' gave '%s', expected '%s'", tmpl, out, expected);
}

/* Render as "t.j2" with limits and expect failure r with exactly the given
 * message (NULL: any message). */
static void check_fails_with(const Value *ctx, const TemplateLimits *limits, const char *tmpl,
                             int expected_r, const char *expected_msg) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_render_full("t.j2", tmpl, ctx, limits, &out, &err);
        if (r != expected_r)
                fail_msg("rendering '%.60s': expected %d, got %d (%s)", tmpl, expected_r, r, strna(err));
        assert_null(out);
        assert_non_null(err);
        if (expected_msg && !streq(err, expected_msg))
                fail_msg("rendering '%.60s': message\n  '%s', expected\n  '%s'", tmpl, err, expected_msg);
}

static void check_render_fails(const Value *ctx, const char *tmpl, int expected_r, const char *expected_msg) {
        check_fails_with(ctx, NULL, tmpl, expected_r, expected_msg);
}

/* The message must contain needle. */
static void check_fails_like(const Value *ctx, const TemplateLimits *limits, const char *tmpl,
                             int expected_r, const char *needle) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        int r;

        r = template_render_full("t.j2", tmpl, ctx, limits, &out, &err);
        if (r != expected_r)
                fail_msg("rendering '%.60s': expected %d, got %d (%s)", tmpl, expected_r, r, strna(err));
        assert_null(out);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("rendering '%.60s': message '%s' lacks '%s'", tmpl, err, needle);
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
        /* Jinja reads \r\n and \r as \n */
        check_render(ctx, "a\r\nb\rc\n", "a\nb\nc\n");
}

static void test_substitution(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "Hello {{ name }}!", "Hello World!");
        check_render(ctx, "Hello {{name}}!\n", "Hello World!\n");
        check_render(ctx, "{{\tname\n}}", "World");
        check_render(ctx, "{{ n }} {{ neg }} {{ flag }} {{ nothing }}", "42 -7 True None");
        check_render(ctx, "sheet {{ sheet_num }} of {{ workspace }}\n", "sheet 3 of /ws\n");
        check_render(ctx, "{{ 'lit' }} {{ \"dq\" }} {{ 5 }} {{ -5 }} {{ true }} {{ None }}", "lit dq 5 -5 True None");
        check_render(ctx, "{{ 'a\\'b' }}", "a'b");
        check_render(ctx, "{{ '}}' }}", "}}");
        check_render(ctx, "{{ items }}", "['zero', 'one', {'title': 'two'}]");
        check_render(ctx, "{{ outputs }}", "{1: 'sheet one', 2: 'sheet two'}");
        check_render(ctx, "{{ 1/4 }} {{ 2.0 }} {{ 1e16 }}", "0.25 2.0 1e+16");
}

static void test_access(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "{{ char.name }} {{ char['role'] }} {{ char.home.city }}", "Ada engineer London");
        check_render(ctx, "{{ char . home [ 'city' ] }}", "London");
        check_render(ctx, "{{ items[0] }} {{ items.1 }} {{ items[-1].title }} {{ items[idx] }}", "zero one two one");
        check_render(ctx, "{{ char[key] }}", "engineer");
        /* keys are typed: the string "1" is not the int 1 */
        check_render(ctx, "{{ m['1'] }} {{ m['a b'] }} {{ m['}}'] }}", "first spaced braces");
        check_render(ctx, "{{ outputs[1] }} {{ outputs[instance] }} {{ 2 in outputs }} {{ '2' in outputs }}",
                     "sheet one sheet one True False");
        check_render(ctx, "{{ outputs[1.0] }} {{ outputs[true] }}", "sheet one sheet one");
        check_render(ctx, "{% for k, v in outputs.items() %}{{ k + 1 }}:{{ v }};{% endfor %}",
                     "2:sheet one;3:sheet two;");
        check_render(ctx, "{{ name[1:3] }} {{ name[:500] }} {{ items[::2] }}", "or World ['zero', {'title': 'two'}]");
        check_render_fails(ctx, "{{ m[1] }}", -ENOENT, "t.j2:1: dict object has no element 1 in {{ m[1] }}");
}

static void test_statements(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        (void) state;

        check_render(ctx, "{% if stage == 1 %}a{% elif stage == 2 %}b{% else %}c{% endif %}", "b");
        check_render(ctx, "{% for i in items %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}", "1,2,3");
        check_render(ctx, "{% set x = n * 2 %}{{ x }}", "84");
        check_render(ctx, "{% macro m(a, b=2) %}{{ a + b }}{% endmacro %}{{ m(1) }} {{ m(1, b=5) }}", "3 6");
        check_render(ctx, "{{ name | upper | truncate(4, true, '', 0) }}", "WORL");
        check_render(ctx, "{% raw %}{{ x }}{% endraw %}", "{{ x }}");
        check_render(ctx, "{{ previous|default('none yet') }}", "none yet");
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
        check_render(ctx, "{{- name -}}{{- n -}}", "World42");
        check_render(ctx, "a {{+ name }} b", "a World b");
        check_render(ctx, "<{% if flag -%}\n  yes\n{%- endif %}>", "<yes>");
        check_render(ctx, "{% if flag %}\nyes\n{% endif %}\n", "\nyes\n\n");
        /* "- }}" is not whitespace control: a minus without operand */
        check_render_fails(ctx, "{{ name - }}", -EINVAL, "t.j2:1: unexpected 'end of print statement'");
}

static void test_strict_undefined(void **state) {
        _cleanup_value_free_ Value *ctx = make_context(), *empty = value_new_map();
        _cleanup_free_ char *out = NULL;
        (void) state;

        check_render_fails(ctx, "{{ foo }}", -ENOENT, "t.j2:1: 'foo' is undefined in {{ foo }}");
        check_render_fails(ctx, "line1\nline2\n{{ foo }}\n", -ENOENT, "t.j2:3: 'foo' is undefined in {{ foo }}");
        check_render_fails(ctx, "x\n{{ char.nmae }}", -ENOENT, "t.j2:2: 'dict object' has no attribute 'nmae' in {{ char.nmae }}");
        check_render_fails(ctx, "{{ char['nmae'] }}", -ENOENT, "t.j2:1: 'dict object' has no attribute 'nmae' in {{ char['nmae'] }}");
        check_render_fails(ctx, "{{ items[5] }}", -ENOENT, "t.j2:1: list object has no element 5 in {{ items[5] }}");
        check_render_fails(ctx, "{{ n.x }}", -ENOENT, "t.j2:1: 'int object' has no attribute 'x' in {{ n.x }}");
        check_render_fails(ctx, "{{ nothing.x }}", -ENOENT, "t.j2:1: 'None' has no attribute 'x' in {{ nothing.x }}");
        /* as in Jinja: a list cannot be indexed by an undefined, a dict looks it up */
        check_render_fails(ctx, "{{ items[nope] }}", -ENOENT, "t.j2:1: list object has no element Undefined in {{ items[nope] }}");
        check_render_fails(ctx, "{{ char[nope] }}", -ENOENT, "t.j2:1: 'nope' is undefined in {{ char[nope] }}");
        check_render_fails(ctx, "{% if foo %}x{% endif %}", -ENOENT, "t.j2:1: 'foo' is undefined in {% if foo %}");
        check_render_fails(ctx, "{% for x in foo %}{% endfor %}", -ENOENT, NULL);
        check_render_fails(ctx, "{{ foo ~ 'x' }}", -ENOENT, NULL);
        check_render_fails(ctx, "{{ foo + 1 }}", -ENOENT, NULL);
        check_render_fails(ctx, "{{ foo == 1 }}", -ENOENT, NULL);
        check_render_fails(ctx, "{{ foo.bar }}", -ENOENT, "t.j2:1: 'foo' is undefined in {{ foo.bar }}");
        /* what works on undefined */
        check_render(ctx, "{{ foo is defined }} {{ foo is undefined }} {{ foo|default('d') }} {{ foo|d(1) }}",
                     "False True d 1");
        check_render(ctx, "{{ char.nope is defined }} {{ (char.nope or 1) if char.nope is defined else 2 }}", "False 2");

        /* the error pointer is optional; no context means nothing defined */
        assert_int_equal(template_render("{{ foo }}", ctx, TEMPLATE_OUTPUT_MAX, &out, NULL), -ENOENT);
        assert_null(out);
        assert_non_null(empty);
        check_render_fails(empty, "{{ name }}", -ENOENT, "t.j2:1: 'name' is undefined in {{ name }}");
        check_render_fails(NULL, "{{ name }}", -ENOENT, "t.j2:1: 'name' is undefined in {{ name }}");
        check_render(NULL, "no tags\n", "no tags\n");
}

static void test_error_messages(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        _cleanup_free_ char *out = NULL, *err = NULL;
        (void) state;

        /* template name, line, construct */
        assert_int_equal(template_render_full("prompt.template", "a\n\n{{ foo.bar }}", ctx, NULL, &out, &err), -ENOENT);
        assert_string_equal(err, "prompt.template:3: 'foo' is undefined in {{ foo.bar }}");
        err = mfree_test(err);
        /* without a name, Jinja's */
        assert_int_equal(template_render("x {{ foo }}", ctx, TEMPLATE_OUTPUT_MAX, &out, &err), -ENOENT);
        assert_string_equal(err, "<template>:1: 'foo' is undefined in {{ foo }}");
        err = mfree_test(err);

        /* syntax errors name the construct that is wrong or missing */
        check_render_fails(ctx, "a\n{{ x|frobnicate }}", -EINVAL, "t.j2:2: unknown filter 'frobnicate'");
        check_render_fails(ctx, "{{ x is frob }}", -EINVAL, "t.j2:1: unknown test 'frob'");
        check_render_fails(ctx, "{% if x %}\nyes\n", -EINVAL,
                           "t.j2:3: unexpected end of template, expected 'endif' (the 'if' opened on line 1)");
        check_render_fails(ctx, "{% for x in y %}\n{% if x %}\n{% endfor %}", -EINVAL,
                           "t.j2:3: unexpected 'endfor', expected 'endif' (the 'if' opened on line 2)");
        check_render_fails(ctx, "{% frob %}", -EINVAL, "t.j2:1: unknown tag 'frob'");
        check_render_fails(ctx, "{% extends 'base' %}", -EINVAL,
                           "t.j2:1: '{% extends %}' is not supported: a prompt template is self-contained");
        check_render_fails(ctx, "abc\n{{ name", -EINVAL, "t.j2:2: unterminated '{{': add the closing '}}'");
        check_render_fails(ctx, "{% if x", -EINVAL, "t.j2:1: unterminated '{%': add the closing '%}'");
        check_render_fails(ctx, "a\nb\n{# comment", -EINVAL, "t.j2:3: missing end of comment tag '#}'");
        check_render_fails(ctx, "{{ }}", -EINVAL, "t.j2:1: expected an expression, got 'end of print statement'");
        check_render_fails(ctx, "\n{{ a b }}", -EINVAL, "t.j2:2: expected 'end of print statement', got 'b'");
        check_render_fails(ctx, "{{ a) }}", -EINVAL, "t.j2:1: unexpected ')'");
        check_render_fails(ctx, "{{ @ }}", -EINVAL, "t.j2:1: unexpected char '@' at 3");
        check_render_fails(ctx, "{{ 99999999999999999999 }}", -EINVAL,
                           "t.j2:1: integer literal 99999999999999999999 is beyond 64 bits");
        check_render_fails(ctx, "{% macro m(a=1, b) %}{% endmacro %}", -EINVAL,
                           "t.j2:1: non-default argument follows default argument");
        /* syntax is checked before anything renders */
        check_render_fails(ctx, "{{ foo }}\n{{ name", -EINVAL, NULL);

        /* runtime errors: the innermost construct, where it is */
        check_render_fails(ctx, "{% macro m(x) %}\n{{ x.y }}\n{% endmacro %}\n\n{{ m(1) }}", -ENOENT,
                           "t.j2:2: 'int object' has no attribute 'y' in {{ x.y }}");
        check_render_fails(ctx, "{{ 'a' + 1 }}", -EINVAL, "t.j2:1: can only concatenate str (not \"int\") to str in {{ 'a' + 1 }}");
        check_render_fails(ctx, "{{ 1 // 0 }}", -EDOM, "t.j2:1: integer division or modulo by zero in {{ 1 // 0 }}");
        check_render_fails(ctx, "{{ 2 ** 64 }}", -ERANGE, NULL);
        check_render_fails(ctx, "{{ 1 < 'a' }}", -EINVAL,
                           "t.j2:1: '<' not supported between instances of 'int' and 'str' in {{ 1 < 'a' }}");
        check_render_fails(ctx, "{% if false %}{{ 1|frob }}{% endif %}{{ 1|frob if true }}", -EINVAL,
                           "t.j2:1: unknown filter 'frob' in {{ 1|frob if true }}");
        check_render_fails(ctx, "{{ 1|tojson }}", -EINVAL, "t.j2:1: the filter 'tojson' is not supported in Marianne's templates");
        check_render_fails(ctx, "{% for a, b in [[1]] %}{% endfor %}", -EINVAL,
                           "t.j2:1: not enough values to unpack (expected 2, got 1) in {% for a, b in [[1]] %}");
        check_render_fails(ctx, "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", -EINVAL,
                           "t.j2:1: macro 'm' takes not more than 1 argument(s) in {{ m(1, 2) }}");
        check_render_fails(ctx, "{% macro m(a) %}{% endmacro %}{{ m(b=2) }}", -EINVAL,
                           "t.j2:1: macro 'm' takes no keyword argument 'b' in {{ m(b=2) }}");
        check_render_fails(ctx, "{% macro m(a) %}{{ a }}{% endmacro %}{{ m() }}", -ENOENT,
                           "t.j2:1: parameter 'a' was not provided in {{ a }}");
        /* a long construct is cut */
        check_fails_like(ctx, NULL, "{{ foo ~ 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }}",
                         -ENOENT, "aaaaaaaaaa...");
}

static void test_check(void **state) {
        _cleanup_free_ char *err = NULL;
        (void) state;

        /* syntax only: undefined names are for render time */
        assert_int_equal(template_check("p.j2", "{{ whatever.x }}{% for a in b %}{{ a|upper }}{% endfor %}", &err), 0);
        assert_null(err);
        assert_int_equal(template_check("p.j2", "{% if x %}", &err), -EINVAL);
        assert_string_equal(err, "p.j2:1: unexpected end of template, expected 'endif' (the 'if' opened on line 1)");
        err = mfree_test(err);
        assert_int_equal(template_check("p.j2", "\n{{ x|nope }}", &err), -EINVAL);
        assert_string_equal(err, "p.j2:2: unknown filter 'nope'");
        err = mfree_test(err);
        /* as Jinja, unknown filters inside {% if %} fail only when reached */
        assert_int_equal(template_check(NULL, "{% if x %}{{ x|nope }}{% endif %}", &err), 0);
        assert_int_equal(template_check(NULL, "{{ x }", NULL), -EINVAL);
}

static void test_limits(void **state) {
        _cleanup_value_free_ Value *ctx = make_context();
        TemplateLimits small = { .max_output = 100, .max_depth = 5, .max_loop_iterations = 1000 };
        _cleanup_free_ char *deep = NULL, *chain = NULL;
        (void) state;

        /* macro recursion */
        check_fails_like(ctx, NULL, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", -ELOOP,
                         "macro calls nested more than 64 deep");
        check_fails_like(ctx, &small, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", -ELOOP,
                         "macro calls nested more than 5 deep");
        check_render(ctx, "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(10) }}",
                     "012345678910");

        /* loop iterations, across the whole render */
        check_fails_like(ctx, NULL, "{% for i in range(2000000) %}{% endfor %}", -ELOOP, "more than 1000000 loop iterations");
        check_fails_like(ctx, NULL, "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", -ELOOP,
                         "loop iterations");
        check_fails_like(ctx, &small, "{% for i in range(600) %}{% endfor %}{% for i in range(600) %}{% endfor %}", -ELOOP,
                         "more than 1000 loop iterations");
        check_fails_like(ctx, NULL, "{{ 'x' * 1000000000000 }}", -ELOOP, "loop iterations");
        check_fails_like(ctx, NULL, "{{ [1] * 100000000 }}", -ELOOP, "loop iterations");
        check_fails_like(ctx, NULL, "{% set l = [1] %}{% for i in l %}{% set _ = l.append(i) %}{% endfor %}", -ELOOP,
                         "loop iterations");
        check_fails_like(ctx, NULL, "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                         -ELOOP, "loop iterations");

        /* output */
        check_fails_like(ctx, &small, "{% for i in range(20) %}0123456789{% endfor %}", -E2BIG,
                         "t.j2:1: rendered template exceeds the limit of 100 bytes");
        check_fails_like(ctx, &small, "{% macro m() %}{% for i in range(20) %}0123456789{% endfor %}{% endmacro %}{% set x = m() %}",
                         -E2BIG, "exceeds the limit of 100 bytes");

        /* nesting of expressions and blocks */
        deep = malloc(2 * 100 + 20);
        assert_non_null(deep);
        strcpy(deep, "{{ ");
        for (size_t i = 0; i < 100; i++)
                strcat(deep, "(");
        strcat(deep, "1");
        for (size_t i = 0; i < 100; i++)
                strcat(deep, ")");
        strcat(deep, " }}");
        check_fails_like(ctx, NULL, deep, -EINVAL, "nested more than 64 levels deep");
        check_fails_like(ctx, &small, "{% if 1 %}{% if 1 %}{% if 1 %}{% if 1 %}{% if 1 %}{% if 1 %}"
                         "{% endif %}{% endif %}{% endif %}{% endif %}{% endif %}{% endif %}", -EINVAL, "nested more than 5");
        chain = malloc(4 * 3000 + 20);
        assert_non_null(chain);
        strcpy(chain, "{{ 1");
        for (size_t i = 0; i < 3000; i++)
                strcat(chain, " + 1");
        strcat(chain, " }}");
        check_fails_like(ctx, NULL, chain, -EINVAL, "expression too complex");

        /* macro calls at the bottom of tall expressions: bounded by the
         * stack the render may use, not by a crash */
        free(chain);
        chain = malloc(4 * 990 + 200);
        assert_non_null(chain);
        strcpy(chain, "{% macro m(n) %}{% if n > 0 %}{{ (m(n - 1)|length)");
        for (size_t i = 0; i < 990; i++)
                strcat(chain, " + 1");
        strcat(chain, " }}{% endif %}{% endmacro %}{{ m(60) }}");
        check_fails_like(ctx, NULL, chain, -ELOOP, "nests too deeply");

        /* self-referencing data prints as Python does, and is freed */
        check_render(ctx, "{% set l = [1] %}{% set _ = l.append(l) %}{{ l }}", "[1, [...]]");
        check_render(ctx, "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", "<Namespace {'me': <Namespace {...}>}>");
        check_render(ctx, "{% set l = [] %}{% set _ = l.append(l) %}{{ l == l }}", "True");
        check_fails_like(ctx, NULL, "{% set a = [] %}{% set b = [] %}{% set _ = a.append(a) %}{% set _ = b.append(b) %}{{ a == b }}",
                         -ELOOP, "recursion");
        check_fails_like(ctx, NULL, "{% set ns = namespace(l=[]) %}{% for i in range(300) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}",
                         -ELOOP, "nested more than");
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
        assert_string_equal(err, "<template>:1: rendered template exceeds the limit of 10 bytes: shorten the template or its variables");
        err = mfree_test(err);

        /* a substitution pushing past the limit names its line and itself */
        assert_int_equal(template_render("abcd\n{{ name }}", ctx, 8, &out, &err), -E2BIG);
        assert_null(out);
        assert_string_equal(err, "<template>:2: rendered template exceeds the limit of 8 bytes: "
                            "shorten the template or its variables in {{ name }}");
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

/* Every sheet of every sample score of the original renders. */
static void test_sample_scores(void **state) {
        const char *shared = getenv("MARIANNE_SHARED_DIR");
        _cleanup_free_ char *pattern = NULL;
        glob_t g = {};
        size_t sheets = 0;
        (void) state;

        if (!shared || access(shared, F_OK) < 0) {
                fprintf(stderr, "sample scores not found (MARIANNE_SHARED_DIR), skipping\n");
                skip();
        }
        pattern = strdup_printf("%s/scores/marianne/*.yaml", shared);
        assert_non_null(pattern);
        if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
                globfree(&g);
                fprintf(stderr, "no sample scores in %s, skipping\n", shared);
                skip();
        }

        for (size_t i = 0; i < g.gl_pathc; i++) {
                _cleanup_score_free_ Score *s = NULL;
                _cleanup_free_ char *error = NULL;
                int r;

                r = score_parse_file(g.gl_pathv[i], NULL, &s, &error);
                if (r < 0)
                        fail_msg("%s: %s", g.gl_pathv[i], strna(error));
                for (unsigned num = 1; num <= s->n_sheets; num++) {
                        _cleanup_free_ char *out = NULL, *err = NULL;

                        r = score_render_prompt(s, num, &out, &err);
                        if (r < 0)
                                fail_msg("%s sheet %u: %s", g.gl_pathv[i], num, strna(err));
                        assert_true(strlen(out) > 0 || !s->prompt_template);
                        sheets++;
                }
        }
        globfree(&g);
        assert_true(sheets > 0);
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
                cmocka_unit_test(test_statements),
                cmocka_unit_test(test_comments),
                cmocka_unit_test(test_whitespace_control),
                cmocka_unit_test(test_strict_undefined),
                cmocka_unit_test(test_error_messages),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_output_bound),
                cmocka_unit_test(test_large_output),
                cmocka_unit_test(test_sample_scores),
                cmocka_unit_test(test_placeholders),
                cmocka_unit_test(test_placeholders_left_alone),
                cmocka_unit_test(test_placeholders_bash_reads_back),
                cmocka_unit_test(test_shell_quote_bash),
                cmocka_unit_test(test_conditions),
                cmocka_unit_test(test_conditions_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

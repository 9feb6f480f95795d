/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "instrument.h"
#include "json-parse.h"

/* 2026-03-31 12:00:00 UTC: a fixed "now" for reset times. */
#define NOW_REALTIME (1774958400ULL * USEC_PER_SEC)

/* ───────────────────────────── helpers ───────────────────────────── */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st; (void) flag; (void) ftw;
        return remove(path);
}

static void rm_rf(const char *d) {
        assert_int_equal(nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/test-instrument-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void write_file(const char *dir, const char *name, const char *content, mode_t mode) {
        _cleanup_free_ char *path = strdup_printf("%s/%s", dir, name);
        _cleanup_fclose_ FILE *f = NULL;

        assert_non_null(path);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(content, f) >= 0, 1);
        assert_int_equal(fflush(f), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static InstrumentRegistry *builtin_registry(void) {
        InstrumentRegistry *r = NULL;

        assert_int_equal(instrument_registry_new(&r), 0);
        assert_int_equal(instrument_registry_add_builtin(r), 0);
        return r;
}

static InstrumentProfile *parse_ok(const char *yaml) {
        _cleanup_free_ char *error = NULL;
        InstrumentProfile *p = NULL;
        int r;

        r = instrument_profile_parse(yaml, strlen(yaml), "test.yaml", &p, &error);
        if (r < 0)
                fprintf(stderr, "unexpected error: %s\n", strna(error));
        assert_int_equal(r, 0);
        assert_null(error);
        return p;
}

static void parse_fails(const char *yaml, int expected, const char *message) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = instrument_profile_parse(yaml, strlen(yaml), "test.yaml", &p, &error);
        if (r != expected || !error || !strstr(error, message))
                fprintf(stderr, "r=%d error=%s, expected %d and '%s'\n", r, strna(error), expected, message);
        assert_int_equal(r, expected);
        assert_null(p);
        assert_non_null(error);
        assert_non_null(strstr(error, message));
}

static bool has_warning(char * const *warnings, const char *s) {
        STRV_FOREACH(w, warnings)
                if (strstr(*w, s))
                        return true;
        return false;
}

static const char *shared_dir(void) {
        static char buf[PATH_MAX];
        const char *e = getenv("MARIANNE_SHARED_DIR");
        const char *candidates[] = { e ?: "../shared", "/work/shared" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                struct stat st;

                snprintf(buf, sizeof(buf), "%s/instruments", candidates[i]);
                if (stat(buf, &st) >= 0 && S_ISDIR(st.st_mode))
                        return buf;
        }
        return NULL;
}

static const char *fake_ai_dir(void) {
        static char buf[PATH_MAX];
        const char *src = getenv("MARIANNE_SOURCE_DIR");
        struct stat st;

        snprintf(buf, sizeof(buf), "%s/tests/fake-ai", src ?: ".");
        if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
                return NULL;
        return buf;
}

static int json_text(const char *s, Value **ret) {
        return json_parse(s, strlen(s), NULL, ret, NULL);
}

static const char *argv_at(const InstrumentInvocation *inv, size_t i) {
        assert_true(i < strv_length(inv->argv));
        return inv->argv[i];
}

/* Compare inv->argv[1..] with the NULL-terminated expected list. */
static void assert_args(const InstrumentInvocation *inv, ...) {
        va_list ap;
        size_t i = 1;
        const char *a;

        va_start(ap, inv);
        while ((a = va_arg(ap, const char *))) {
                if (i >= strv_length(inv->argv) || !streq(inv->argv[i], a)) {
                        fprintf(stderr, "argv[%zu]: expected '%s', got '%s'\n", i, a,
                                i < strv_length(inv->argv) ? inv->argv[i] : "(end)");
                        fail();
                }
                i++;
        }
        va_end(ap);
        if (i != strv_length(inv->argv)) {
                fprintf(stderr, "argv has %zu entries, expected %zu; extra '%s'\n",
                        strv_length(inv->argv), i, inv->argv[i]);
                fail();
        }
}

/* ───────────────────────────── JSON reader ───────────────────────────── */

static void test_json_parse(void **state) {
        _cleanup_value_free_ Value *v = NULL;
        _cleanup_free_ char *error = NULL;
        const char *doc = " {\"a\": [1, -2, 3.5, 1e3, true, false, null], \"s\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
                          " \"big\": 123456789012345678901234567890, \"a\": \"last wins\", \"o\": {}} ";
        Value *a, *s;

        (void) state;
        assert_int_equal(json_parse(doc, strlen(doc), NULL, &v, &error), 0);
        assert_null(error);
        assert_int_equal(v->type, VALUE_MAP);
        a = value_map_get(v, "a");
        assert_non_null(a);
        assert_int_equal(a->type, VALUE_STRING);
        assert_string_equal(a->s, "last wins");
        s = value_map_get(v, "s");
        assert_string_equal(s->s, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
        assert_int_equal(value_map_get(v, "big")->type, VALUE_FLOAT);
        assert_int_equal(value_map_get(v, "o")->type, VALUE_MAP);
        value_free(TAKE_PTR(v));

        assert_int_equal(json_text("[1,-2,3.5,1e3,true,false,null]", &v), 0);
        assert_int_equal(v->list.n, 7);
        assert_int_equal(v->list.items[0]->i, 1);
        assert_int_equal(v->list.items[1]->i, -2);
        assert_true(v->list.items[2]->f == 3.5);
        assert_true(v->list.items[3]->f == 1000.0);
        assert_int_equal(v->list.items[6]->type, VALUE_NULL);
        value_free(TAKE_PTR(v));

        /* lone surrogates, \u0000 and invalid bytes become U+FFFD */
        assert_int_equal(json_text("\"a\\ud800b\\u0000c\xff\"", &v), 0);
        assert_string_equal(v->s, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd");
        value_free(TAKE_PTR(v));
}

static void json_fails(const char *doc, int expected, const char *message) {
        _cleanup_value_free_ Value *v = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = json_parse(doc, strlen(doc), NULL, &v, &error);
        if (r != expected || !error || !strstr(error, message))
                fprintf(stderr, "'%s': r=%d error=%s\n", doc, r, strna(error));
        assert_int_equal(r, expected);
        assert_null(v);
        assert_non_null(strstr(error, message));
}

static void test_json_errors(void **state) {
        _cleanup_free_ char *deep = NULL, *wide = NULL;
        JsonLimits small = { .max_values = 5 };
        _cleanup_value_free_ Value *v = NULL;
        _cleanup_free_ char *error = NULL;

        (void) state;
        json_fails("", -EINVAL, "line 1 column 1: expected a value");
        json_fails("{\"a\":1,}", -EINVAL, "expected a string key");
        json_fails("{\"a\" 1}", -EINVAL, "expected ':'");
        json_fails("[1 2]", -EINVAL, "expected ',' or ']'");
        json_fails("{\n  \"a\": tru }", -EINVAL, "line 2 column 8: invalid literal");
        json_fails("\"abc", -EINVAL, "unterminated string");
        json_fails("\"a\nb\"", -EINVAL, "control character");
        json_fails("\"\\x\"", -EINVAL, "invalid escape");
        json_fails("01", -EINVAL, "trailing data");
        json_fails("-", -EINVAL, "invalid number");
        json_fails("1.", -EINVAL, "digits expected after '.'");
        json_fails("{} {}", -EINVAL, "trailing data");

        deep = malloc(2 * 100 + 1);
        assert_non_null(deep);
        for (int i = 0; i < 100; i++) {
                deep[i] = '[';
                deep[100 + i] = ']';
        }
        deep[200] = 0;
        json_fails(deep, -E2BIG, "nested deeper than 64 levels");

        /* an object with too many members: quadratic map inserts stay bounded */
        wide = strdup("{");
        for (int i = 0; i < 1100; i++) {
                _cleanup_free_ char *m = strdup_printf("%s\"k%d\":%d", i ? "," : "", i, i);
                char *t = strdup_printf("%s%s", wide, m);

                assert_non_null(t);
                free(wide);
                wide = t;
        }
        {
                char *t = strdup_printf("%s}", wide);
                free(wide);
                wide = t;
        }
        json_fails(wide, -E2BIG, "more than 1024 members");

        assert_int_equal(json_parse("[1,2,3,4,5,6]", 13, &small, &v, &error), -E2BIG);
        assert_non_null(strstr(error, "more than 5 values"));
}

static void test_json_paths(void **state) {
        const char *doc = "{\"stats\":{\"models\":{\"a\":{\"tokens\":{\"prompt\":10}},\"b\":{\"tokens\":{\"prompt\":5}},"
                          "\"c\":{\"other\":1}}},\"list\":[{\"t\":\"x\"},{\"t\":\"y\"}]}";
        _cleanup_value_free_ Value *v = NULL;
        const Value *m[8];
        size_t n;

        (void) state;
        assert_int_equal(json_parse(doc, strlen(doc), NULL, &v, NULL), 0);
        assert_int_equal(instrument_json_path_find(v, "stats.models.*.tokens.prompt", m, 8, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(m[0]->i, 10);
        assert_int_equal(m[1]->i, 5);
        assert_int_equal(instrument_json_path_find(v, "stats.models.*.tokens.prompt", m, 1, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(instrument_json_path_find(v, "list.1.t", m, 8, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(m[0]->s, "y");
        assert_int_equal(instrument_json_path_find(v, "list.*.t", m, 8, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(instrument_json_path_find(v, "list.7.t", m, 8, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(instrument_json_path_find(v, "nothing.here", m, 8, &n), 0);
        assert_int_equal(n, 0);
}

/* ───────────────────────────── profiles ───────────────────────────── */

static void test_builtin_profiles(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        const InstrumentProfile *p;

        (void) state;
        assert_int_equal(instrument_builtins_count, 4);
        assert_int_equal(r->n, 4);
        STRV_FOREACH(w, r->warnings)
                fprintf(stderr, "warning: %s\n", *w);
        assert_null(r->warnings);

        p = instrument_registry_get(r, "cli");
        assert_non_null(p);
        assert_true(p->builtin);
        assert_string_equal(p->source, INSTRUMENT_SOURCE_BUILTIN);
        assert_true(p->raw_prompt);
        assert_string_equal(p->command.executable, "bash");
        assert_string_equal(p->command.prompt_flag, "-c");
        assert_int_equal(p->output.format, INSTRUMENT_OUTPUT_TEXT);
        assert_int_equal(p->errors.n_success_exit_codes, 1);
        assert_int_equal(p->errors.success_exit_codes[0], 0);
        assert_int_equal(p->errors.timeout.n, 3);
        assert_true(p->default_timeout_seconds == 300);

        p = instrument_registry_get(r, "claude-code");
        assert_non_null(p);
        assert_true(p->command.prompt_via_stdin);
        assert_string_equal(p->command.stdin_sentinel, "-");
        assert_true(p->command.start_new_session);
        assert_null(p->default_model);
        assert_int_equal(p->n_models, 8);
        assert_true(strv_contains(p->command.required_env, "ANTHROPIC_API_KEY"));
        assert_int_equal(strv_length(p->command.mcp_disable_args), 3);
        assert_string_equal(p->command.mcp_disable_args[2], "{\"mcpServers\":{}}");
        assert_int_equal(p->output.format, INSTRUMENT_OUTPUT_JSON);
        assert_string_equal(p->output.result_path, "result");
        assert_int_equal(p->errors.rate_limit.n, 7);
        assert_string_equal(p->errors.rate_limit.patterns[1], "(?:error|status|code)[^\\w]*429");

        p = instrument_registry_get(r, "gemini-cli");
        assert_non_null(p);
        assert_string_equal(p->default_model, "gemini-3.1-pro-preview");
        assert_true(p->output.aggregate_tokens);
        assert_string_equal(p->output.input_tokens_path, "stats.models.*.tokens.prompt");
        assert_string_equal(p->command.extra_flags[1], "false");
        assert_true(p->models[2].cost_per_1k_input == 0.0);
        assert_int_equal(p->models[0].max_concurrent, 4);
        assert_int_equal(p->models[0].context_window, 1000000);

        p = instrument_registry_get(r, "codex-cli");
        assert_non_null(p);
        assert_string_equal(p->command.subcommand, "exec");
        assert_null(p->command.prompt_flag);
        assert_null(p->command.output_format_value);
        assert_int_equal(p->output.format, INSTRUMENT_OUTPUT_JSONL);
        assert_int_equal(p->output.n_completion_event_filter, 1);
        assert_string_equal(p->output.completion_event_filter[0].key, "type");
        assert_string_equal(p->output.completion_event_filter[0].value, "agent_message");
        assert_string_equal(instrument_model_for_cost(p, NULL), "o3");
        assert_null(instrument_model_for_flag(p, NULL));

        assert_null(instrument_registry_get(r, "nope"));
}

static void test_shared_profiles(void **state) {
        const char *dir = shared_dir();
        const char *names[] = { "cli.yaml", "claude-code.yaml", "gemini-cli.yaml", "codex-cli.yaml" };
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL;

        (void) state;
        if (!dir) {
                fprintf(stderr, "the original profiles are not there, skipping\n");
                skip();
        }

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", dir, names[i]), *error = NULL;
                _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
                int k;

                k = instrument_profile_load_file(path, &p, &error);
                if (k < 0)
                        fprintf(stderr, "%s: %s\n", path, strna(error));
                assert_int_equal(k, 0);
                STRV_FOREACH(w, p->warnings)
                        fprintf(stderr, "warning: %s\n", *w);
                assert_null(p->warnings);
                assert_true(instrument_profile_runnable(p));
        }

        /* every file there, as a directory */
        assert_int_equal(instrument_registry_new(&r), 0);
        assert_int_equal(instrument_registry_add_dir(r, dir, NULL), 0);
        assert_null(r->warnings);
        assert_true(r->n >= 4);
        assert_non_null(instrument_registry_get(r, "claude-code"));
        assert_false(instrument_registry_get(r, "claude-code")->builtin);
}

static void test_profile_warnings(void **state) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;

        (void) state;
        p = parse_ok("name: x\n"
                     "kind: cli\n"
                     "colour: blue\n"
                     "models:\n"
                     "  - name: m\n"
                     "    cost_per_1k_input: 1\n"
                     "    flavour: 1\n"
                     "cli:\n"
                     "  command:\n"
                     "    executable: /bin/true\n"
                     "    extra_flags: [--a, 1, false]\n"
                     "    frobnicate: yes\n"
                     "  output: {format: json, result_path: r}\n"
                     "  errors: {success_exit_codes: [0, 3], retry_patterns: []}\n"
                     "  extra: 1\n");
        assert_true(has_warning(p->warnings, "test.yaml:3:1: key 'colour' is unknown, ignored"));
        assert_true(has_warning(p->warnings, "test.yaml:7:5: key 'models[0].flavour' is unknown"));
        assert_true(has_warning(p->warnings, "test.yaml:12:5: key 'cli.command.frobnicate' is unknown"));
        assert_true(has_warning(p->warnings, "key 'cli.errors.retry_patterns' is unknown"));
        assert_true(has_warning(p->warnings, "key 'cli.extra' is unknown"));
        assert_int_equal(strv_length(p->warnings), 5);
        /* scalars in argument lists are their text */
        assert_string_equal(p->command.extra_flags[1], "1");
        assert_string_equal(p->command.extra_flags[2], "false");
        assert_int_equal(p->errors.n_success_exit_codes, 2);
        assert_int_equal(p->errors.success_exit_codes[1], 3);
        assert_true(p->models[0].cost_per_1k_input == 1.0);
        instrument_profile_unref(TAKE_PTR(p));

        /* another kind loads, with a warning, and cannot run */
        p = parse_ok("name: api\nkind: http\n");
        assert_true(has_warning(p->warnings, "key 'kind' is 'http'"));
        assert_false(instrument_profile_runnable(p));
        instrument_profile_unref(TAKE_PTR(p));

        /* a repeated key: the last one counts */
        p = parse_ok("name: a\nname: b\ncli: {command: {executable: sh}}\n");
        assert_string_equal(p->name, "b");
        assert_true(has_warning(p->warnings, "test.yaml:2:1: key 'name' is given twice"));
        assert_string_equal(p->kind, "cli");
}

static void test_profile_errors(void **state) {
        _cleanup_free_ char *big = NULL;
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        _cleanup_free_ char *error = NULL;

        (void) state;
        parse_fails("", -EINVAL, "test.yaml: empty profile");
        parse_fails("- a\n", -EINVAL, "test.yaml:1:1: a profile must be a mapping, got a list");
        parse_fails("kind: cli\n", -EINVAL, "key 'name': missing");
        parse_fails("name: 'a b'\ncli: {command: {executable: x}}\n", -EINVAL, "'a b' is not a valid instrument name");
        parse_fails("name: x\n", -EINVAL, "key 'cli': missing");
        parse_fails("name: x\ncli: {command: {prompt_flag: -c}}\n", -EINVAL, "key 'cli.command.executable': missing");
        parse_fails("name: x\ncli:\n  command:\n    executable: [a]\n", -EINVAL,
                    "test.yaml:4:17: key 'cli.command.executable': expected a scalar, got a list");
        parse_fails("name: x\ncli:\n  command:\n    executable: a\n    prompt_via_stdin: maybe\n", -EINVAL,
                    "test.yaml:5:23: key 'cli.command.prompt_via_stdin': expected true or false, got 'maybe'");
        parse_fails("name: x\ncli:\n  command:\n    executable: a\n    required_env: FOO\n", -EINVAL,
                    "key 'cli.command.required_env': expected a list, got a scalar");
        parse_fails("name: x\ncli:\n  command:\n    executable: a\n    extra_flags: [a, [b]]\n", -EINVAL,
                    "test.yaml:5:22: key 'cli.command.extra_flags[1]': expected a scalar, got a list");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  output: {format: xml}\n", -EINVAL,
                    "key 'cli.output.format': expected text, json or jsonl, got 'xml'");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  errors: {success_exit_codes: [0, 256]}\n", -EINVAL,
                    "key 'cli.errors.success_exit_codes[1]': must be at most 255");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  errors: {success_exit_codes: []}\n", -EINVAL,
                    "must list at least one exit code");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  errors:\n    rate_limit_patterns: ['ok', '(?=x)']\n",
                    -EINVAL, "test.yaml:5:33: key 'cli.errors.rate_limit_patterns[1]': cannot use pattern '(?=x)'");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  errors:\n    auth_error_patterns: ['(unclosed']\n",
                    -EINVAL, "cannot use pattern '(unclosed'");
        parse_fails("name: x\nmodels:\n  - cost_per_1k_input: 1\ncli: {command: {executable: a}}\n", -EINVAL,
                    "key 'models[0]': a model needs a name");
        parse_fails("name: x\nmodels:\n  - {name: m, cost_per_1k_input: -1}\ncli: {command: {executable: a}}\n", -EINVAL,
                    "key 'models[0].cost_per_1k_input': expected a number >= 0, got '-1'");
        parse_fails("name: x\nmodels:\n  - {name: m, max_concurrent: many}\ncli: {command: {executable: a}}\n", -EINVAL,
                    "key 'models[0].max_concurrent': expected an integer >= 0, got 'many'");
        parse_fails("name: x\ncli:\n  command: {executable: a}\n  output:\n    completion_event_filter: {type: [a]}\n",
                    -EINVAL, "key 'cli.output.completion_event_filter.type': expected the value to compare with");
        parse_fails("name: x\ncli: {command: {executable: a}}\n---\nname: y\n", -EINVAL, "more than one YAML document");
        parse_fails("name: x\n  bad: indentation\n", -EINVAL, "test.yaml:2:6:");
        parse_fails("a: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n", -E2BIG, "nested deeper than 16 levels");

        big = malloc(INSTRUMENT_PROFILE_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, '#', INSTRUMENT_PROFILE_SIZE_MAX + 1);
        big[INSTRUMENT_PROFILE_SIZE_MAX + 1] = 0;
        parse_fails(big, -EFBIG, "larger than 262144 bytes");

        /* aliases are fine (and cannot multiply work: unknown keys are not descended into) */
        p = parse_ok("x: &a [1, 2, 3]\n"
                     "y: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "z: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "name: x\n"
                     "cli:\n"
                     "  command:\n"
                     "    executable: sh\n"
                     "    extra_flags: &f [--one, --two]\n"
                     "    mcp_disable_args: *f\n");
        assert_string_equal(p->command.mcp_disable_args[1], "--two");
        instrument_profile_unref(TAKE_PTR(p));

        assert_int_equal(instrument_profile_load_file("/nonexistent/x.yaml", &p, &error), -ENOENT);
        assert_non_null(strstr(error, "/nonexistent/x.yaml: cannot read"));
}

/* ───────────────────────────── invocation ───────────────────────────── */

typedef struct Bin {
        char *dir;
        char *path;             /* "DIR:/usr/bin:/bin" */
} Bin;

static void bin_setup(Bin *b) {
        b->dir = make_tmpdir();
        write_file(b->dir, "claude", "#!/bin/sh\n", 0755);
        write_file(b->dir, "gemini", "#!/bin/sh\n", 0755);
        write_file(b->dir, "codex", "#!/bin/sh\n", 0755);
        write_file(b->dir, "notexec", "#!/bin/sh\n", 0644);
        b->path = strdup_printf("relative/dir::%s:/usr/bin:/bin", b->dir);
        assert_non_null(b->path);
}

static void bin_done(Bin *b) {
        rm_rf(b->dir);
        free(b->dir);
        free(b->path);
}

static char *big_prompt(size_t n) {
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, 'x', n);
        s[n] = 0;
        return s;
}

static void test_find_executable(void **state) {
        _cleanup_(bin_done) Bin b = {};
        _cleanup_free_ char *p = NULL, *expected = NULL;

        (void) state;
        bin_setup(&b);

        assert_int_equal(find_executable("claude", b.path, &p), 0);
        expected = strdup_printf("%s/claude", b.dir);
        assert_string_equal(p, expected);
        free(TAKE_PTR(p));
        assert_int_equal(find_executable("/bin/sh", NULL, &p), 0);
        assert_string_equal(p, "/bin/sh");
        free(TAKE_PTR(p));
        assert_int_equal(find_executable("no-such-program-here", b.path, &p), -ENOENT);
        assert_int_equal(find_executable("notexec", b.path, &p), -EACCES);
        assert_int_equal(find_executable("bin/sh", b.path, &p), -EINVAL);
        assert_int_equal(find_executable("/nonexistent", b.path, &p), -ENOENT);
        assert_int_equal(find_executable("/tmp", b.path, &p), -EISDIR);
        /* relative PATH entries are never searched */
        assert_int_equal(find_executable("claude", "relative:.:", &p), -ENOENT);
        assert_null(p);
}

static void test_invocation_cli(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        _cleanup_free_ char *big = big_prompt(INSTRUMENT_PROMPT_ARG_MAX + 1), *error = NULL;
        const InstrumentProfile *p = instrument_registry_get(r, "cli");
        char *base[] = { "PATH=/usr/bin:/bin", "HOME=/home/u", NULL };

        (void) state;
        assert_int_equal(instrument_build_invocation(p, NULL, "echo hi", NULL, base, NULL, &inv, &error), 0);
        assert_null(error);
        assert_true(endswith(inv.executable, "/bash"));
        assert_string_equal(argv_at(&inv, 0), inv.executable);
        assert_args(&inv, "-c", "echo hi", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_FLAG);
        assert_null(inv.stdin_data);
        assert_true(inv.timeout_usec == 300 * USEC_PER_SEC);
        assert_false(inv.new_session);
        assert_int_equal(strv_length(inv.envp), 2);
        instrument_invocation_done(&inv);

        /* too large for an argument: bash reads the script on stdin */
        assert_int_equal(instrument_build_invocation(p, NULL, big, NULL, base, NULL, &inv, NULL), 0);
        assert_args(&inv, NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_STDIN);
        assert_int_equal(inv.stdin_size, INSTRUMENT_PROMPT_ARG_MAX + 1);
        assert_string_equal(inv.stdin_data, big);
        instrument_invocation_done(&inv);

        /* exactly the limit still fits */
        big[INSTRUMENT_PROMPT_ARG_MAX] = 0;
        assert_int_equal(instrument_build_invocation(p, NULL, big, NULL, base, NULL, &inv, NULL), 0);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_FLAG);
        instrument_invocation_done(&inv);

        /* a prompt that would read as an option */
        assert_int_equal(instrument_build_invocation(p, NULL, "-x", NULL, base, NULL, &inv, NULL), 0);
        assert_args(&inv, NULL);
        assert_string_equal(inv.stdin_data, "-x");

        /* the executable is missing from PATH */
        instrument_invocation_done(&inv);
        assert_int_equal(instrument_build_invocation(p, NULL, "true", "/nonexistent", base, NULL, &inv, &error), -ENOENT);
        assert_string_equal(error, "instrument 'cli': executable 'bash' not found in PATH=/nonexistent");
}

static void test_invocation_claude(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        _cleanup_(bin_done) Bin b = {};
        const InstrumentProfile *p = instrument_registry_get(r, "claude-code");
        char *base[] = { "PATH=/usr/bin", "HOME=/home/u", "MARIANNE_SHEET=3", "ANTHROPIC_API_KEY=from-base", NULL };
        char *source[] = { "ANTHROPIC_API_KEY=secret", "AWS_REGION=eu-west-1", "OPENAI_API_KEY=leak",
                           "LEAKY=1", "CLOUD_ML_REGION", NULL };
        char *base2[] = { "PATH=/usr/bin", NULL };
        char *allowed[] = { "Read", "Write", NULL }, *extra[] = { "--verbose", NULL };
        InstrumentConfig config = {
                .model = (char *) "claude-opus-4-6",
                .timeout_seconds = 60,
                .skip_permissions = true,
                .disable_mcp = true,
                .allowed_tools = allowed,
                .extra_flags = extra,
                .system_prompt = (char *) "Be brief.",
        };

        (void) state;
        bin_setup(&b);

        /* defaults: prompt via stdin with the sentinel */
        assert_int_equal(instrument_build_invocation(p, NULL, "hello", b.path, base2, source, &inv, NULL), 0);
        assert_args(&inv, "--output-format", "json", "-p", "-", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_STDIN);
        assert_string_equal(inv.stdin_data, "hello");
        assert_int_equal(inv.stdin_size, 5);
        assert_true(inv.new_session);
        assert_null(inv.model);
        assert_true(inv.timeout_usec == 1800 * USEC_PER_SEC);
        /* allow-listed names come from the source, nothing else does */
        assert_true(strv_contains(inv.envp, "PATH=/usr/bin"));
        assert_true(strv_contains(inv.envp, "ANTHROPIC_API_KEY=secret"));
        assert_true(strv_contains(inv.envp, "AWS_REGION=eu-west-1"));
        assert_int_equal(strv_length(inv.envp), 3);
        instrument_invocation_done(&inv);

        /* everything the config can say */
        assert_int_equal(instrument_build_invocation(p, &config, "hello", b.path, base, source, &inv, NULL), 0);
        assert_args(&inv, "--model", "claude-opus-4-6", "--dangerously-skip-permissions",
                    "--output-format", "json", "--system-prompt", "Be brief.", "--allowedTools", "Read,Write",
                    "--strict-mcp-config", "--mcp-config", "{\"mcpServers\":{}}", "--verbose", "-p", "-", NULL);
        assert_string_equal(inv.model, "claude-opus-4-6");
        assert_true(inv.timeout_usec == 60 * USEC_PER_SEC);
        /* the base wins over the source for a name in both */
        assert_true(strv_contains(inv.envp, "ANTHROPIC_API_KEY=from-base"));
        assert_false(strv_contains(inv.envp, "ANTHROPIC_API_KEY=secret"));
        assert_true(strv_contains(inv.envp, "MARIANNE_SHEET=3"));
        STRV_FOREACH(e, inv.envp) {
                assert_null(startswith(*e, "OPENAI_API_KEY="));
                assert_null(startswith(*e, "LEAKY="));
        }
        assert_int_equal(strv_length(inv.envp), 5);
}

static void test_invocation_gemini(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        _cleanup_(bin_done) Bin b = {};
        _cleanup_free_ char *big = big_prompt(40000);
        const InstrumentProfile *p = instrument_registry_get(r, "gemini-cli");
        char *extra[] = { "--sandbox", "true", NULL };
        InstrumentConfig config = { .skip_permissions = true, .extra_flags = extra };
        char *source[] = { "GEMINI_API_KEY=g", "ANTHROPIC_API_KEY=leak", NULL };

        (void) state;
        bin_setup(&b);

        assert_int_equal(instrument_build_invocation(p, &config, "do it", b.path, NULL, source, &inv, NULL), 0);
        assert_args(&inv, "-m", "gemini-3.1-pro-preview", "--yolo", "-o", "json",
                    "--sandbox", "false", "--sandbox", "true", "-p", "do it", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_FLAG);
        assert_null(inv.stdin_data);
        assert_string_equal(inv.model, "gemini-3.1-pro-preview");
        assert_int_equal(strv_length(inv.envp), 1);
        assert_string_equal(inv.envp[0], "GEMINI_API_KEY=g");
        instrument_invocation_done(&inv);

        /* no sentinel: the -p PROMPT pair goes, the prompt comes on stdin */
        assert_int_equal(instrument_build_invocation(p, NULL, big, b.path, NULL, NULL, &inv, NULL), 0);
        assert_args(&inv, "-m", "gemini-3.1-pro-preview", "-o", "json", "--sandbox", "false", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_STDIN);
        assert_int_equal(inv.stdin_size, 40000);
        assert_non_null(inv.envp);
        assert_null(inv.envp[0]);
}

static void test_invocation_codex(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        _cleanup_(bin_done) Bin b = {};
        _cleanup_free_ char *big = big_prompt(INSTRUMENT_PROMPT_ARG_MAX * 2);
        const InstrumentProfile *p = instrument_registry_get(r, "codex-cli");
        InstrumentConfig config = { .model = (char *) "o4-mini", .skip_permissions = true, .disable_mcp = true };

        (void) state;
        bin_setup(&b);

        assert_int_equal(instrument_build_invocation(p, &config, "fix the bug", b.path, NULL, NULL, &inv, NULL), 0);
        {
                _cleanup_free_ char *expected = strdup_printf("%s/codex", b.dir);

                assert_string_equal(inv.executable, expected);
        }
        assert_args(&inv, "exec", "--model", "o4-mini", "--full-auto", "--json", "--skip-git-repo-check",
                    "fix the bug", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_POSITIONAL);
        instrument_invocation_done(&inv);

        assert_int_equal(instrument_build_invocation(p, NULL, big, b.path, NULL, NULL, &inv, NULL), 0);
        assert_args(&inv, "exec", "--json", "--skip-git-repo-check", NULL);
        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_STDIN);
        assert_int_equal(inv.stdin_size, INSTRUMENT_PROMPT_ARG_MAX * 2);
}

static void test_invocation_sentinel_positional(void **state) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ char *huge = big_prompt(INSTRUMENT_PROMPT_MAX + 1);

        (void) state;
        /* a positional prompt with a sentinel: "tool run -" */
        p = parse_ok("name: t\ncli:\n  command:\n    executable: /bin/sh\n    subcommand: run\n"
                     "    prompt_via_stdin: true\n    stdin_sentinel: '-'\n");
        assert_int_equal(instrument_build_invocation(p, NULL, "hi", NULL, NULL, NULL, &inv, NULL), 0);
        assert_args(&inv, "run", "-", NULL);
        assert_string_equal(inv.stdin_data, "hi");
        assert_true(inv.timeout_usec == 0);
        instrument_invocation_done(&inv);

        assert_int_equal(instrument_build_invocation(p, NULL, huge, NULL, NULL, NULL, &inv, &error), -E2BIG);
        assert_non_null(strstr(error, "is larger than"));
        instrument_profile_unref(TAKE_PTR(p));
        free(TAKE_PTR(error));

        p = parse_ok("name: api\nkind: http\n");
        assert_int_equal(instrument_build_invocation(p, NULL, "hi", NULL, NULL, NULL, &inv, &error), -EOPNOTSUPP);
        assert_non_null(strstr(error, "only 'cli' instruments can run"));
}

static void test_config_from_value(void **state) {
        _cleanup_(instrument_config_done) InstrumentConfig c = {};
        _cleanup_value_free_ Value *v = NULL, *bad = NULL;
        _cleanup_free_ char *error = NULL;
        const char *doc = "{\"model\":\"m\",\"timeout_seconds\":600,\"skip_permissions\":true,\"disable_mcp\":true,"
                          "\"allowed_tools\":[\"Read\",\"Write\"],\"extra_flags\":[\"--x\",1,false],"
                          "\"system_prompt\":\"sp\",\"something_else\":{}}";

        (void) state;
        assert_int_equal(json_parse(doc, strlen(doc), NULL, &v, NULL), 0);
        assert_int_equal(instrument_config_from_value(v, NULL, &c, &error), 0);
        assert_string_equal(c.model, "m");
        assert_true(c.timeout_seconds == 600);
        assert_true(c.skip_permissions);
        assert_true(c.disable_mcp);
        assert_string_equal(c.allowed_tools[1], "Write");
        assert_string_equal(c.extra_flags[1], "1");
        assert_string_equal(c.extra_flags[2], "false");
        assert_string_equal(c.system_prompt, "sp");
        instrument_config_done(&c);

        assert_int_equal(json_text("{\"allowed_tools\":\"Read,Bash\",\"auto_approve\":true}", &bad), 0);
        assert_int_equal(instrument_config_from_value(bad, NULL, &c, &error), 0);
        assert_string_equal(c.allowed_tools[0], "Read");
        assert_string_equal(c.allowed_tools[1], "Bash");
        assert_true(c.skip_permissions);
        instrument_config_done(&c);
        value_free(TAKE_PTR(bad));

        assert_int_equal(json_text("{\"skip_permissions\":\"yes\"}", &bad), 0);
        assert_int_equal(instrument_config_from_value(bad, "instruments.a.config", &c, &error), -EINVAL);
        assert_string_equal(error, "instruments.a.config.skip_permissions: expected true or false, got string");
        free(TAKE_PTR(error));
        value_free(TAKE_PTR(bad));

        assert_int_equal(json_text("{\"timeout_seconds\":-1}", &bad), 0);
        assert_int_equal(instrument_config_from_value(bad, NULL, &c, &error), -EINVAL);
        assert_non_null(strstr(error, "instrument_config.timeout_seconds"));

        assert_int_equal(instrument_config_from_value(NULL, NULL, &c, NULL), 0);
        assert_null(c.model);
}

/* ───────────────────────────── output ───────────────────────────── */

static void parse_output(const InstrumentProfile *p, const InstrumentConfig *config, const char *text, InstrumentOutput *o) {
        assert_int_equal(instrument_output_parse(p, config, text, strlen(text), o), 0);
}

static void test_output_text(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        const InstrumentProfile *p = instrument_registry_get(r, "cli");

        (void) state;
        parse_output(p, NULL, "line one\nline two\n", &o);
        assert_true(o.structured);
        assert_string_equal(o.result, "line one\nline two\n");
        assert_false(o.has_input_tokens);
        assert_false(o.has_cost);
        instrument_output_done(&o);

        /* NUL bytes and bad UTF-8 do not cut the text short */
        assert_int_equal(instrument_output_parse(p, NULL, "a\0b\xff", 4, &o), 0);
        assert_string_equal(o.result, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
}

static void test_output_json_claude(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        const InstrumentProfile *p = instrument_registry_get(r, "claude-code");
        InstrumentConfig sonnet = { .model = (char *) "claude-sonnet-4-6" };

        (void) state;
        /* no model known: claude's profile has no default, the first listed (sonnet 4) prices it */
        parse_output(p, NULL, "{\"type\":\"result\",\"result\":\"All done.\",\"usage\":{\"input_tokens\":2000,"
                     "\"output_tokens\":1000}}\n", &o);
        assert_true(o.structured);
        assert_null(o.parse_error);
        assert_string_equal(o.result, "All done.");
        assert_null(o.error);
        assert_true(o.has_input_tokens && o.has_output_tokens);
        assert_int_equal(o.input_tokens, 2000);
        assert_int_equal(o.output_tokens, 1000);
        assert_true(o.has_cost);
        assert_string_equal(o.cost_model, "claude-sonnet-4-20250514");
        assert_true(fabs(o.cost - (2 * 0.003 + 1 * 0.015)) < 1e-12);
        instrument_output_done(&o);

        /* an unknown model: tokens but no cost */
        sonnet.model = (char *) "claude-next";
        parse_output(p, &sonnet, "{\"result\":\"x\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}", &o);
        assert_true(o.has_input_tokens);
        assert_false(o.has_cost);
        instrument_output_done(&o);

        /* a warning line before the JSON */
        parse_output(p, NULL, "Warning: something\n{\"result\":\"late\",\"error\":{\"message\":\"boom\"}}\n", &o);
        assert_true(o.structured);
        assert_string_equal(o.result, "late");
        assert_string_equal(o.error, "boom");
        assert_false(o.has_input_tokens);
        instrument_output_done(&o);

        /* a rate-limit notice in place of the JSON */
        parse_output(p, NULL, "You've hit your limit \xc2\xb7 resets 3pm (UTC)\n", &o);
        assert_false(o.structured);
        assert_non_null(strstr(o.parse_error, "stdout is not JSON"));
        assert_null(o.result);
        instrument_output_done(&o);

        parse_output(p, NULL, "[1,2]", &o);
        assert_false(o.structured);
        assert_string_equal(o.parse_error, "stdout is JSON but list, not an object");
}

static void test_output_json_gemini(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        const InstrumentProfile *p = instrument_registry_get(r, "gemini-cli");
        const char *doc = "{\"response\":\"Here.\",\"stats\":{\"models\":{"
                          "\"gemini-2.5-flash-lite\":{\"tokens\":{\"prompt\":100,\"candidates\":5}},"
                          "\"gemini-3.1-pro-preview\":{\"tokens\":{\"prompt\":4000,\"candidates\":2000}}}}}";
        InstrumentProfile *mut;

        (void) state;
        parse_output(p, NULL, doc, &o);
        assert_string_equal(o.result, "Here.");
        assert_int_equal(o.input_tokens, 4100);
        assert_int_equal(o.output_tokens, 2005);
        assert_string_equal(o.cost_model, "gemini-3.1-pro-preview");
        assert_true(fabs(o.cost - (4.1 * 0.00125 + 2.005 * 0.005)) < 1e-12);
        instrument_output_done(&o);

        /* without aggregation the first match counts */
        mut = (InstrumentProfile *) p;
        mut->output.aggregate_tokens = false;
        parse_output(p, NULL, doc, &o);
        assert_int_equal(o.input_tokens, 100);
        assert_int_equal(o.output_tokens, 5);
        mut->output.aggregate_tokens = true;
        instrument_output_done(&o);

        /* gemini's own error object */
        parse_output(p, NULL, "{\"error\":{\"type\":\"Error\",\"message\":\"quota exceeded\",\"code\":429}}", &o);
        assert_true(o.structured);
        assert_null(o.result);
        assert_string_equal(o.error, "quota exceeded");
        assert_false(o.has_cost);
}

static void test_output_jsonl_codex(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        const InstrumentProfile *p = instrument_registry_get(r, "codex-cli");
        InstrumentConfig mini = { .model = (char *) "o4-mini" };
        const char *doc =
                "Reading prompt from stdin...\n"
                "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n"
                "{\"type\":\"turn.started\"}\n"
                "{\"type\":\"item.completed\",\"item\":{\"type\":\"reasoning\",\"text\":\"thinking\"}}\n"
                "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"first answer\"}}\n"
                "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":1000,\"cached_input_tokens\":0,\"output_tokens\":100}}\n"
                "{broken json\n"
                "{\"type\":\"item.completed\",\"item\":{\"type\":\"agent_message\",\"text\":\"final answer\"}}\n"
                "{\"type\":\"item.completed\",\"item\":{\"type\":\"command_execution\",\"text\":\"not this\"}}\n"
                "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":500,\"output_tokens\":50}}";

        (void) state;
        parse_output(p, &mini, doc, &o);
        assert_true(o.structured);
        assert_string_equal(o.result, "final answer");
        assert_int_equal(o.input_tokens, 1500);
        assert_int_equal(o.output_tokens, 150);
        assert_string_equal(o.cost_model, "o4-mini");
        assert_true(fabs(o.cost - (1.5 * 0.0011 + 0.15 * 0.0044)) < 1e-12);
        instrument_output_done(&o);

        parse_output(p, NULL, "no events at all\n", &o);
        assert_false(o.structured);
        assert_string_equal(o.parse_error, "stdout has no JSON events");
        assert_null(o.result);
}

static void test_output_jsonl_filters(void **state) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        _cleanup_(instrument_output_done) InstrumentOutput o = {};

        (void) state;
        /* a filter on the event's own fields, a dotted one, result_path */
        p = parse_ok("name: t\ncli:\n  command: {executable: sh}\n  output:\n    format: jsonl\n"
                     "    completion_event_type: done\n"
                     "    completion_event_filter: {role: assistant, meta.final: true}\n"
                     "    result_path: content.0.text\n");
        parse_output(p, NULL,
                     "{\"type\":\"done\",\"role\":\"assistant\",\"meta\":{\"final\":false},\"content\":[{\"text\":\"draft\"}]}\n"
                     "{\"type\":\"done\",\"role\":\"assistant\",\"meta\":{\"final\":true},\"content\":[{\"text\":\"final\"}]}\n"
                     "{\"type\":\"done\",\"role\":\"user\",\"meta\":{\"final\":true},\"content\":[{\"text\":\"no\"}]}\n",
                     &o);
        assert_string_equal(o.result, "final");
        instrument_output_done(&o);
        instrument_profile_unref(TAKE_PTR(p));

        /* no type and no filter: the last event with a text */
        p = parse_ok("name: t\ncli:\n  command: {executable: sh}\n  output: {format: jsonl}\n");
        parse_output(p, NULL, "{\"text\":\"a\"}\n{\"x\":1}\n{\"text\":\"b\"}\n{\"y\":2}\n", &o);
        assert_string_equal(o.result, "b");
}

/* ───────────────────────────── classification ───────────────────────────── */

static void classify(const InstrumentProfile *p, int exit_code, int sig, bool timed_out, const char *out,
                     const char *err, InstrumentVerdict *v) {
        InstrumentAttempt a = {
                .exit_code = exit_code,
                .signal = sig,
                .timed_out = timed_out,
                .out = out,
                .out_size = out ? strlen(out) : 0,
                .err = err,
                .err_size = err ? strlen(err) : 0,
        };

        instrument_verdict_done(v);
        assert_int_equal(instrument_classify(p, &a, NULL, NOW_REALTIME, v), 0);
}

static void test_classify(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_(instrument_verdict_done) InstrumentVerdict v = {};
        const InstrumentProfile *claude = instrument_registry_get(r, "claude-code");
        const InstrumentProfile *gemini = instrument_registry_get(r, "gemini-cli");
        const InstrumentProfile *codex = instrument_registry_get(r, "codex-cli");
        const InstrumentProfile *cli = instrument_registry_get(r, "cli");

        (void) state;
        classify(claude, 0, 0, false, "{\"result\":\"I hit no rate limit today\"}", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_SUCCESS);
        assert_string_equal(v.reason, "exit code 0");

        /* claude's notice on stdout with exit 0: not its JSON, so scanned */
        classify(claude, 0, 0, false, "You've hit your limit \xc2\xb7 resets 3pm (UTC)\n", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_RATE_LIMITED);
        assert_non_null(strstr(v.reason, "stdout matches rate limit pattern"));
        assert_true(v.retry_at == NOW_REALTIME + 3 * 3600 * USEC_PER_SEC);

        /* on success stderr is scanned */
        classify(gemini, 0, 0, false, "{\"response\":\"ok\"}", "Error 429: Too Many Requests, retry in 20s", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_RATE_LIMITED);
        assert_non_null(strstr(v.reason, "stderr matches rate limit pattern"));
        assert_true(v.retry_at == NOW_REALTIME + 20 * USEC_PER_SEC);

        /* the text instrument's stdout is never scanned on success */
        classify(cli, 0, 0, false, "rate limit reached, timed out", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_SUCCESS);

        classify(claude, 1, 0, false, "Invalid API key \xc2\xb7 Please run /login", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_AUTH);
        assert_string_equal(v.reason, "stdout matches auth error pattern 'invalid.*api.*key'");
        assert_true(v.retry_at == 0);

        classify(gemini, 1, 0, false, "", "Error: 503 UNAVAILABLE", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_CAPACITY);

        classify(gemini, 1, 0, false, "", "DEADLINE_EXCEEDED while calling the model", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_TIMEOUT);

        /* rate limit is looked for before auth */
        classify(codex, 1, 0, false, "", "401 unauthorized; also rate limit", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_RATE_LIMITED);
        assert_true(v.retry_at == 0);

        classify(codex, 3, 0, false, "", "something else broke", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_FAILED);
        assert_string_equal(v.reason, "exit code 3");

        classify(codex, 0, SIGSEGV, false, "", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_FAILED);
        assert_string_equal(v.reason, "killed by signal SIGSEGV");

        classify(cli, 0, SIGKILL, true, "", "", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_TIMEOUT);

        classify(cli, 137, 0, false, "", "Killed", &v);
        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_TIMEOUT);

        assert_string_equal(instrument_outcome_to_string(INSTRUMENT_OUTCOME_RATE_LIMITED), "rate_limited");
        assert_int_equal(instrument_outcome_from_string("auth"), INSTRUMENT_OUTCOME_AUTH);
        assert_int_equal(instrument_outcome_from_string("nope"), _INSTRUMENT_OUTCOME_INVALID);
}

static usec_t reset(const char *text) {
        return instrument_parse_reset_time(text, strlen(text), NOW_REALTIME);
}

static void test_reset_times(void **state) {
        const usec_t now = NOW_REALTIME, h = 3600 * USEC_PER_SEC, m = 60 * USEC_PER_SEC, s = USEC_PER_SEC;
        struct stat st;

        (void) state;
        /* the test runs with TZ=UTC (main) */
        assert_true(reset("try again in 20s") == now + 20 * s);
        assert_true(reset("Please retry after 60 seconds.") == now + 60 * s);
        assert_true(reset("HTTP/1.1 429\nRetry-After: 30\n") == now + 30 * s);
        assert_true(reset("retry in 1h 30m") == now + 90 * m);
        assert_true(reset("Resets in 2 hours and 5 minutes") == now + 2 * h + 5 * m);
        assert_true(reset("try again in 1.5 seconds") == now + 1500 * USEC_PER_MSEC);
        assert_true(reset("try again in 500ms") == now + 500 * USEC_PER_MSEC);
        assert_true(reset("You've hit your limit \xc2\xb7 resets 3pm") == now + 3 * h);
        assert_true(reset("resets 3pm (UTC)") == now + 3 * h);
        assert_true(reset("resets 3:30 pm") == now + 3 * h + 30 * m);
        assert_true(reset("limit resets at 15:30") == now + 3 * h + 30 * m);
        /* a time already past today is tomorrow */
        assert_true(reset("resets at 11:00 UTC") == now + 23 * h);
        assert_true(reset("resets 12am") == now + 12 * h);
        assert_true(reset("resets 12pm") == now + 24 * h);
        assert_true(reset("quota resets at 2026-03-31T13:00:00Z") == now + h);
        assert_true(reset("until 2026-03-31T15:00:00+02:00 then") == now + h);
        assert_true(reset("next window 2026-03-31 14:15:00.123 UTC") == now + 2 * h + 15 * m);
        assert_true(reset("Claude AI usage limit reached|1774962000") == now + h);
        if (stat("/usr/share/zoneinfo/Europe/Paris", &st) >= 0)
                /* Paris is at UTC+2 on that day */
                assert_true(reset("resets 3pm (Europe/Paris)") == now + h);
        assert_string_equal(getenv("TZ"), "UTC");      /* restored after a named zone */

        /* nothing usable */
        assert_true(reset("rate limit reached") == 0);
        assert_true(reset("resets 15") == 0);                   /* a bare number is no clock time */
        assert_true(reset("resets 3pm (Nowhere/Atlantis)") == 0);
        assert_true(reset("logged at 2026-03-30T10:00:00Z") == 0);  /* in the past */
        assert_true(reset("try again in 30 days") == 0);        /* beyond the horizon */
        assert_true(reset("resets at 25:00") == 0);
        assert_true(instrument_parse_reset_time(NULL, 0, now) == 0);
}

/* ───────────────────────────── registry ───────────────────────────── */

static const char *override_profile(const char *name, const char *executable) {
        static char buf[512];

        snprintf(buf, sizeof(buf), "name: %s\nkind: cli\ncli:\n  command:\n    executable: %s\n", name, executable);
        return buf;
}

typedef struct CountingLoader {
        unsigned reads, lists;
} CountingLoader;

static int counting_read(const char *path, size_t max, char **ret, size_t *ret_size, void *userdata) {
        ((CountingLoader *) userdata)->reads++;
        return read_full_file(path, max, ret, ret_size);
}

static int counting_list(const char *dir, char ***ret, void *userdata) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        _cleanup_strv_free_ char **l = NULL;
        struct dirent *de;

        ((CountingLoader *) userdata)->lists++;
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") && strv_extend(&l, de->d_name) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static void test_registry_order(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL, *copy = NULL;
        _cleanup_free_ char *root = make_tmpdir(), *vendor = NULL, *etc = NULL, *user = NULL, *missing = NULL;
        _cleanup_free_ char *expected = NULL, *user_dir = NULL;
        CountingLoader counter = {};
        InstrumentLoader loader = { counting_read, counting_list, &counter };
        const InstrumentProfile *p;

        (void) state;
        vendor = strdup_printf("%s/vendor", root);
        etc = strdup_printf("%s/etc", root);
        user = strdup_printf("%s/user", root);
        missing = strdup_printf("%s/missing", root);
        assert_int_equal(mkdir(vendor, 0755), 0);
        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(mkdir(user, 0755), 0);

        write_file(vendor, "claude.yaml", override_profile("claude-code", "claude-vendor"), 0644);
        write_file(vendor, "mine.yml", override_profile("mine", "mine-vendor"), 0644);
        write_file(etc, "claude-code.yaml", override_profile("claude-code", "claude-etc"), 0644);
        write_file(etc, "broken.yaml", "name: [oops\n", 0644);
        write_file(etc, "bad-type.yaml", "name: x\ncli: {command: {executable: [a]}}\n", 0644);
        write_file(etc, "README", "not a profile\n", 0644);
        write_file(etc, ".hidden.yaml", override_profile("hidden", "h"), 0644);
        /* in one directory, the later file name wins */
        write_file(user, "a.yaml", override_profile("mine", "mine-user-a"), 0644);
        write_file(user, "b.yaml", override_profile("mine", "mine-user-b"), 0644);
        write_file(user, "warn.yaml", "name: warned\nwhatever: 1\ncli: {command: {executable: w}}\n", 0644);

        assert_int_equal(instrument_registry_new(&r), 0);
        assert_int_equal(instrument_registry_add_builtin(r), 0);
        {
                char *dirs[] = { vendor, missing, etc, NULL };

                assert_int_equal(instrument_registry_add_dirs(r, dirs, NULL), 0);
        }

        p = instrument_registry_get(r, "claude-code");
        assert_string_equal(p->command.executable, "claude-etc");
        expected = strdup_printf("%s/claude-code.yaml", etc);
        assert_string_equal(p->source, expected);
        assert_false(p->builtin);
        free(TAKE_PTR(expected));
        p = instrument_registry_get(r, "mine");
        assert_string_equal(p->command.executable, "mine-vendor");
        assert_true(instrument_registry_get(r, "cli")->builtin);
        assert_null(instrument_registry_get(r, "hidden"));
        assert_int_equal(r->n, 5);
        /* broken files: warnings, skipped, the rest loaded */
        assert_true(has_warning(r->warnings, "broken.yaml:2:1:"));
        assert_true(has_warning(r->warnings, "bad-type.yaml:2:29: key 'cli.command.executable': expected a scalar"));
        assert_true(has_warning(r->warnings, ", skipped"));
        assert_int_equal(strv_length(r->warnings), 2);

        /* a user's overrides on a copy, through a loader; the original stays */
        assert_int_equal(instrument_registry_copy(r, &copy), 0);
        assert_int_equal(instrument_registry_add_dir(copy, user, &loader), 0);
        assert_int_equal(counter.lists, 1);
        assert_int_equal(counter.reads, 3);
        assert_string_equal(instrument_registry_get(copy, "mine")->command.executable, "mine-user-b");
        assert_string_equal(instrument_registry_get(r, "mine")->command.executable, "mine-vendor");
        assert_true(instrument_registry_get(copy, "claude-code") == instrument_registry_get(r, "claude-code"));
        assert_true(has_warning(copy->warnings, "warn.yaml:2:1: key 'whatever' is unknown"));
        assert_int_equal(copy->n, 6);

        /* a missing directory through the loader is no warning either */
        assert_int_equal(instrument_registry_add_dir(copy, missing, &loader), 0);
        assert_int_equal(strv_length(copy->warnings), 3);

        /* a file that is not there, or a directory */
        assert_int_equal(instrument_registry_add_file(copy, missing, NULL), 0);
        assert_true(has_warning(copy->warnings, "cannot read"));
        assert_int_equal(instrument_registry_add_file(copy, root, NULL), 0);

        assert_int_equal(instrument_user_dir("/x", "/home/u", &user_dir), 0);
        assert_string_equal(user_dir, "/x/marianne/instruments");
        free(TAKE_PTR(user_dir));
        assert_int_equal(instrument_user_dir("relative", "/home/u", &user_dir), 0);
        assert_string_equal(user_dir, "/home/u/.config/marianne/instruments");
        assert_int_equal(instrument_user_dir(NULL, "", &user_dir), -ENXIO);

        rm_rf(root);
}

static void test_registry_default(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL;
        _cleanup_free_ char *root = make_tmpdir(), *dir = NULL;
        char *saved = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;

        (void) state;
        dir = strdup_printf("%s/marianne/instruments", root);
        assert_int_equal(mkdir_p(dir, 0755), 0);
        write_file(dir, "x.yaml", override_profile("user-tool", "/bin/true"), 0644);
        assert_int_equal(setenv("XDG_CONFIG_HOME", root, 1), 0);

        assert_int_equal(instrument_registry_load_default(true, &r), 0);
        assert_non_null(instrument_registry_get(r, "user-tool"));
        assert_non_null(instrument_registry_get(r, "cli"));
        instrument_registry_free(TAKE_PTR(r));

        assert_int_equal(instrument_registry_load_default(false, &r), 0);
        assert_null(instrument_registry_get(r, "user-tool"));

        if (saved)
                assert_int_equal(setenv("XDG_CONFIG_HOME", saved, 1), 0);
        else
                assert_int_equal(unsetenv("XDG_CONFIG_HOME"), 0);
        free(saved);
        rm_rf(root);
}

/* ───────────────── the fake CLIs through the library ───────────────── */

typedef struct Run {
        int exit_code;
        int signal;
        char *out, *err;
        size_t out_size, err_size;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        *r = (Run) {};
}

/* Run inv in cwd as the runner will: stdin from a file holding the payload
 * (or /dev/null), stdout and stderr to files. */
static void run_invocation(const InstrumentInvocation *inv, const char *cwd, Run *ret) {
        _cleanup_free_ char *in = strdup_printf("%s/.stdin", cwd), *out = strdup_printf("%s/.stdout", cwd),
                            *err = strdup_printf("%s/.stderr", cwd);
        int status;
        pid_t pid;

        assert_non_null(in);
        assert_non_null(out);
        assert_non_null(err);
        if (inv->stdin_data) {
                _cleanup_fclose_ FILE *f = fopen(in, "we");

                assert_non_null(f);
                assert_int_equal(fwrite(inv->stdin_data, 1, inv->stdin_size, f), inv->stdin_size);
        }

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd_in = open(inv->stdin_data ? in : "/dev/null", O_RDONLY | O_CLOEXEC);
                int fd_out = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                int fd_err = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                if (fd_in < 0 || fd_out < 0 || fd_err < 0 || chdir(cwd) < 0 ||
                    dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0)
                        _exit(126);
                if (inv->new_session)
                        (void) setsid();
                execve(inv->executable, inv->argv, inv->envp);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);

        *ret = (Run) {};
        if (WIFEXITED(status))
                ret->exit_code = WEXITSTATUS(status);
        else
                ret->signal = WTERMSIG(status);
        assert_int_equal(read_full_file(out, 16 * 1024 * 1024, &ret->out, &ret->out_size), 0);
        assert_int_equal(read_full_file(err, 16 * 1024 * 1024, &ret->err, &ret->err_size), 0);
        (void) unlink(in);
}

static void verdict_of(const InstrumentProfile *p, const Run *run, const InstrumentOutput *o, InstrumentVerdict *v) {
        InstrumentAttempt a = {
                .exit_code = run->exit_code,
                .signal = run->signal,
                .out = run->out,
                .out_size = run->out_size,
                .err = run->err,
                .err_size = run->err_size,
        };

        instrument_verdict_done(v);
        assert_int_equal(instrument_classify(p, &a, o, NOW_REALTIME, v), 0);
}

/* The n-th line of state/invocations.jsonl. */
static Value *invocation_record(const char *state_dir, unsigned n) {
        _cleanup_free_ char *path = strdup_printf("%s/invocations.jsonl", state_dir), *data = NULL;
        const char *line;
        Value *v = NULL;
        size_t size;

        assert_int_equal(read_full_file(path, 64 * 1024 * 1024, &data, &size), 0);
        line = data;
        for (unsigned i = 1; i < n; i++) {
                line = strchr(line, '\n');
                assert_non_null(line);
                line++;
        }
        assert_int_equal(json_parse(line, strcspn(line, "\n"), NULL, &v, NULL), 0);
        return v;
}

static bool record_has_env(const Value *rec, const char *name) {
        const Value *env = value_map_get(rec, "env");

        assert_non_null(env);
        for (size_t i = 0; i < env->list.n; i++)
                if (streq(env->list.items[i]->s, name))
                        return true;
        return false;
}

typedef struct FakeCase {
        const char *profile;
        const char *delivery;
        uint64_t extra_in, extra_out;   /* gemini's router model */
        const char *key_env;            /* an allow-listed variable it must see */
} FakeCase;

static void test_fake_clis(void **state) {
        static const FakeCase cases[] = {
                { "claude-code", "stdin", 0, 0, "ANTHROPIC_API_KEY" },
                { "gemini-cli", "flag", 100, 5, "GEMINI_API_KEY" },
                { "codex-cli", "positional", 0, 0, "OPENAI_API_KEY" },
        };
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = builtin_registry();
        _cleanup_free_ char *root = NULL, *state_dir = NULL, *search = NULL, *state_env = NULL, *script = NULL;
        _cleanup_free_ char *big = NULL;
        const char *fakes = fake_ai_dir();
        char *source[] = { "ANTHROPIC_API_KEY=a", "GEMINI_API_KEY=g", "OPENAI_API_KEY=o", "LEAKY_SECRET=1", NULL };
        InstrumentConfig config = { .skip_permissions = true, .disable_mcp = true };
        unsigned n = 0;

        (void) state;
        if (!fakes || access("/usr/bin/python3", X_OK) < 0) {
                fprintf(stderr, "tests/fake-ai or python3 missing, skipping\n");
                skip();
        }
        root = make_tmpdir();
        state_dir = strdup_printf("%s/state", root);
        state_env = strdup_printf("FAKE_AI_STATE=%s", state_dir);
        search = strdup_printf("%s:/usr/bin:/bin", fakes);
        assert_non_null(search);
        {
                char *base[] = { "PATH=/usr/bin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8", state_env, NULL };

                for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
                        _cleanup_(instrument_output_done) InstrumentOutput o = {};
                        _cleanup_(instrument_verdict_done) InstrumentVerdict v = {};
                        _cleanup_value_free_ Value *rec = NULL;
                        _cleanup_(run_done) Run run = {};
                        const InstrumentProfile *p = instrument_registry_get(r, cases[i].profile);
                        _cleanup_free_ char *prompt = NULL, *answer = NULL, *file = NULL;

                        prompt = strdup_printf("Make a file.\nRUN: echo made by %s > out-%zu.txt\nSAY: hello from %s\n",
                                               cases[i].profile, i, cases[i].profile);
                        answer = strdup_printf("hello from %s", cases[i].profile);
                        assert_int_equal(instrument_build_invocation(p, &config, prompt, search, base, source, &inv, NULL), 0);
                        assert_string_equal(instrument_prompt_delivery_to_string(inv.delivery), cases[i].delivery);
                        run_invocation(&inv, root, &run);
                        if (run.exit_code != 0)
                                fprintf(stderr, "%s: exit %d: %s\n", cases[i].profile, run.exit_code, run.err);
                        assert_int_equal(run.exit_code, 0);
                        n++;

                        /* the prompt ran in the working directory */
                        file = strdup_printf("%s/out-%zu.txt", root, i);
                        assert_int_equal(access(file, F_OK), 0);

                        assert_int_equal(instrument_output_parse(p, &config, run.out, run.out_size, &o), 0);
                        if (!o.structured)
                                fprintf(stderr, "%s: %s\n", cases[i].profile, o.parse_error);
                        assert_true(o.structured);
                        assert_string_equal(o.result, answer);
                        assert_int_equal(o.input_tokens, strlen(prompt) + cases[i].extra_in);
                        assert_int_equal(o.output_tokens, strlen(answer) + cases[i].extra_out);
                        assert_true(o.has_cost);
                        verdict_of(p, &run, &o, &v);
                        assert_int_equal(v.outcome, INSTRUMENT_OUTCOME_SUCCESS);

                        /* what the fake saw */
                        rec = invocation_record(state_dir, n);
                        assert_string_equal(value_map_get(rec, "prompt_via")->s, cases[i].delivery);
                        assert_string_equal(value_map_get(rec, "prompt")->s, prompt);
                        assert_true(record_has_env(rec, cases[i].key_env));
                        assert_true(record_has_env(rec, "FAKE_AI_STATE"));
                        assert_false(record_has_env(rec, "LEAKY_SECRET"));
                        for (size_t k = 0; k < ELEMENTSOF(cases); k++)
                                if (k != i)
                                        assert_false(record_has_env(rec, cases[k].key_env));
                }

                /* a large prompt reaches codex on stdin */
                {
                        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
                        _cleanup_(instrument_output_done) InstrumentOutput o = {};
                        _cleanup_value_free_ Value *rec = NULL;
                        _cleanup_(run_done) Run run = {};
                        const InstrumentProfile *p = instrument_registry_get(r, "codex-cli");

                        big = malloc(INSTRUMENT_PROMPT_ARG_MAX + 100);
                        assert_non_null(big);
                        memset(big, 'y', INSTRUMENT_PROMPT_ARG_MAX + 80);
                        strcpy(big + INSTRUMENT_PROMPT_ARG_MAX + 80, "\nSAY: big one\n");
                        assert_int_equal(instrument_build_invocation(p, NULL, big, search, base, source, &inv, NULL), 0);
                        assert_int_equal(inv.delivery, INSTRUMENT_PROMPT_STDIN);
                        run_invocation(&inv, root, &run);
                        assert_int_equal(run.exit_code, 0);
                        n++;
                        assert_int_equal(instrument_output_parse(p, NULL, run.out, run.out_size, &o), 0);
                        assert_string_equal(o.result, "big one");
                        rec = invocation_record(state_dir, n);
                        assert_string_equal(value_map_get(rec, "prompt_via")->s, "stdin");
                        assert_string_equal(value_map_get(rec, "prompt")->s, big);
                }

                /* scripted: a rate limit, then success; auth; a crash; rate limit with exit 0 */
                script = strdup_printf("%s/script", state_dir);
                {
                        _cleanup_fclose_ FILE *f = fopen(script, "we");

                        assert_non_null(f);
                        for (unsigned k = 0; k < n; k++)
                                fputs("ok\n", f);
                        fputs("rate-limit\nok\nauth\ncrash\nrate-limit-exit0\nrate-limit\n", f);
                }
                {
                        static const struct {
                                const char *profile;
                                InstrumentOutcome outcome;
                                usec_t retry_in;
                        } steps[] = {
                                { "claude-code", INSTRUMENT_OUTCOME_RATE_LIMITED, 3 * 3600 * USEC_PER_SEC },
                                { "claude-code", INSTRUMENT_OUTCOME_SUCCESS, 0 },
                                { "codex-cli", INSTRUMENT_OUTCOME_AUTH, 0 },
                                { "gemini-cli", INSTRUMENT_OUTCOME_FAILED, 0 },
                                { "claude-code", INSTRUMENT_OUTCOME_RATE_LIMITED, 3 * 3600 * USEC_PER_SEC },
                                { "gemini-cli", INSTRUMENT_OUTCOME_RATE_LIMITED, 20 * USEC_PER_SEC },
                        };

                        for (size_t k = 0; k < ELEMENTSOF(steps); k++) {
                                _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
                                _cleanup_(instrument_output_done) InstrumentOutput o = {};
                                _cleanup_(instrument_verdict_done) InstrumentVerdict v = {};
                                _cleanup_(run_done) Run run = {};
                                const InstrumentProfile *p = instrument_registry_get(r, steps[k].profile);

                                assert_int_equal(instrument_build_invocation(p, NULL, "SAY: hi", search, base, source,
                                                                             &inv, NULL), 0);
                                run_invocation(&inv, root, &run);
                                assert_int_equal(instrument_output_parse(p, NULL, run.out, run.out_size, &o), 0);
                                verdict_of(p, &run, &o, &v);
                                if (v.outcome != steps[k].outcome)
                                        fprintf(stderr, "step %zu: %s (%s)\nstdout: %s\nstderr: %s\n", k,
                                                instrument_outcome_to_string(v.outcome), v.reason, run.out, run.err);
                                assert_int_equal(v.outcome, steps[k].outcome);
                                if (steps[k].retry_in > 0)
                                        assert_true(v.retry_at == NOW_REALTIME + steps[k].retry_in);
                                if (k == 3) {
                                        assert_int_equal(run.signal, SIGSEGV);
                                        assert_string_equal(v.reason, "killed by signal SIGSEGV");
                                }
                        }
                }
        }
        rm_rf(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_parse),
                cmocka_unit_test(test_json_errors),
                cmocka_unit_test(test_json_paths),
                cmocka_unit_test(test_builtin_profiles),
                cmocka_unit_test(test_shared_profiles),
                cmocka_unit_test(test_profile_warnings),
                cmocka_unit_test(test_profile_errors),
                cmocka_unit_test(test_find_executable),
                cmocka_unit_test(test_invocation_cli),
                cmocka_unit_test(test_invocation_claude),
                cmocka_unit_test(test_invocation_gemini),
                cmocka_unit_test(test_invocation_codex),
                cmocka_unit_test(test_invocation_sentinel_positional),
                cmocka_unit_test(test_config_from_value),
                cmocka_unit_test(test_output_text),
                cmocka_unit_test(test_output_json_claude),
                cmocka_unit_test(test_output_json_gemini),
                cmocka_unit_test(test_output_jsonl_codex),
                cmocka_unit_test(test_output_jsonl_filters),
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_reset_times),
                cmocka_unit_test(test_registry_order),
                cmocka_unit_test(test_registry_default),
                cmocka_unit_test(test_fake_clis),
        };

        /* reset times without a zone are local time: make that UTC */
        if (setenv("TZ", "UTC", 1) < 0)
                return EXIT_FAILURE;
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}

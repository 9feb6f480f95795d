/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>

#include "score.h"
#include "template.h"

#define SRC "t.yaml"

static Score *parse_ok_limits(const char *yaml, const ScoreLimits *limits) {
        Score *s = NULL;
        char *error = NULL;
        int r;

        r = score_parse_string(yaml, strlen(yaml), SRC, "/base/dir", limits, &s, &error);
        if (r < 0)
                fail_msg("unexpected parse failure %d: %s\n--- input:\n%s", r, strna(error), yaml);
        assert_null(error);
        assert_non_null(s);
        return s;
}

static Score *parse_ok(const char *yaml) {
        return parse_ok_limits(yaml, NULL);
}

/* Every bad input must fail with the right errno and a message that names
 * where (file:line:column) and what (the key). */
static void parse_bad_limits(const char *yaml, const ScoreLimits *limits, int expected_r, const char *where,
                             const char *what) {
        _cleanup_free_ char *error = NULL;
        Score *s = NULL;
        int r;

        r = score_parse_string(yaml, strlen(yaml), SRC, "/base/dir", limits, &s, &error);
        if (r != expected_r)
                fail_msg("expected %d, got %d (%s)\n--- input:\n%s", expected_r, r, strna(error), yaml);
        assert_null(s);
        assert_non_null(error);
        if (where && !strstr(error, where))
                fail_msg("message '%s' lacks location '%s'", error, where);
        if (what && !strstr(error, what))
                fail_msg("message '%s' lacks '%s'", error, what);
}

static void parse_bad(const char *yaml, int expected_r, const char *where, const char *what) {
        parse_bad_limits(yaml, NULL, expected_r, where, what);
}

#define BASIC "name: t\nsheet:\n  size: 1\n  total_items: 3\n"

static void assert_deps(const Score *s, unsigned num, size_t n, ...) {
        const Sheet *sh = score_get_sheet(s, num);
        va_list ap;

        assert_non_null(sh);
        if (sh->n_deps != n) {
                fprintf(stderr, "sheet %u has %zu deps:", num, sh->n_deps);
                for (size_t i = 0; i < sh->n_deps; i++)
                        fprintf(stderr, " %u", sh->deps[i]);
                fprintf(stderr, "\n");
        }
        assert_int_equal(sh->n_deps, n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(sh->deps[i], va_arg(ap, unsigned));
        va_end(ap);
}

static bool has_warning(const Score *s, const char *needle) {
        STRV_FOREACH(w, s->warnings)
                if (strstr(*w, needle))
                        return true;
        return false;
}

/* ─────────────────────────────── tests ─────────────────────────────── */

static void test_minimal_defaults(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;
        s = parse_ok(BASIC);
        assert_string_equal(s->source, SRC);
        assert_string_equal(s->base_dir, "/base/dir");
        assert_string_equal(s->name, "t");
        assert_null(s->description);
        assert_string_equal(s->workspace, "/base/dir/workspaces/t");
        assert_string_equal(s->instrument, "cli");
        assert_int_equal(s->timeout_seconds, 1800);
        assert_int_equal(s->sheet_size, 1);
        assert_int_equal(s->total_items, 3);
        assert_int_equal(s->start_item, 1);
        assert_int_equal(s->total_stages, 3);
        assert_null(s->prompt_template);
        assert_non_null(s->variables);
        assert_int_equal(s->variables->type, VALUE_MAP);
        assert_int_equal(s->variables->map.n, 0);
        assert_int_equal(s->n_validations, 0);
        assert_int_equal(s->retry.max_retries, 3);
        assert_true(s->retry.base_delay_seconds == 10);
        assert_true(s->retry.exponential_base == 2);
        assert_true(s->retry.max_delay_seconds == 3600);
        assert_true(s->retry.jitter);
        assert_int_equal(s->max_concurrent, 1);
        assert_true(s->pause_between_sheets_seconds == 2);
        assert_int_equal(s->resources.memory_max, 0);
        assert_int_equal(s->resources.cpu_quota_per_sec_usec, 0);
        assert_int_equal(s->resources.tasks_max, 0);
        assert_int_equal(s->resources.io_weight, 0);
        assert_false(score_resources_set(&s->resources));
        assert_null(s->warnings);
        assert_int_equal(s->n_sheets, 3);
        for (unsigned i = 1; i <= 3; i++) {
                const Sheet *sh = score_get_sheet(s, i);
                assert_int_equal(sh->num, i);
                assert_int_equal(sh->stage, i);
                assert_int_equal(sh->instance, 1);
                assert_int_equal(sh->fan_count, 1);
                assert_int_equal(sh->start_item, i);
                assert_int_equal(sh->end_item, i);
        }
        /* linear chain by default */
        assert_deps(s, 1, 0);
        assert_deps(s, 2, 1, 1);
        assert_deps(s, 3, 1, 2);
        assert_null(score_get_sheet(s, 0));
        assert_null(score_get_sheet(s, 4));
}

static void test_full_score(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        const Value *v;

        (void) state;
        s = parse_ok("name: full\n"
                     "description: \"A description\"\n"
                     "workspace: ./a/../b/./c/\n"
                     "instrument: cli\n"
                     "instrument_config:\n"
                     "  timeout_seconds: 60\n"
                     "sheet:\n"
                     "  size: 3\n"
                     "  total_items: 10\n"
                     "  start_item: 2\n"
                     "prompt:\n"
                     "  template: \"Hi {{ name }}\"\n"
                     "  variables:\n"
                     "    name: world\n"
                     "    n: 42\n"
                     "    neg: -7\n"
                     "    hex: 0x1f\n"
                     "    f: 2.5\n"
                     "    exp: 1e3\n"
                     "    t: true\n"
                     "    T: True\n"
                     "    no: false\n"
                     "    yes_str: yes\n"
                     "    nul: null\n"
                     "    tilde: ~\n"
                     "    empty:\n"
                     "    quoted_int: \"42\"\n"
                     "    quoted_bool: 'true'\n"
                     "    tagged: !!str 12\n"
                     "    big: 99999999999999999999999\n"
                     "    list: [a, 1, {k: v}]\n"
                     "    nested: {x: {y: z}}\n"
                     "    1: numeric key\n"
                     "validations:\n"
                     "  - type: file_exists\n"
                     "    path: \"{workspace}/x\"\n"
                     "  - type: content_regex\n"
                     "    path: p\n"
                     "    pattern: \"^#\"\n"
                     "    stage: 2\n"
                     "    sheet: 3\n"
                     "    description: d\n"
                     "    condition: \"sheet_num == 1\"\n"
                     "  - type: command_succeeds\n"
                     "    command: \"true\"\n"
                     "    timeout_seconds: 5\n"
                     "  - {type: file_modified, path: m}\n"
                     "  - {type: content_contains, path: c, pattern: ''}\n"
                     "retry:\n"
                     "  max_retries: 0\n"
                     "  base_delay_seconds: 1.5\n"
                     "  exponential_base: 3\n"
                     "  max_delay_seconds: 60\n"
                     "  jitter: false\n"
                     "parallel:\n"
                     "  enabled: true\n"
                     "  max_concurrent: 4\n"
                     "pause_between_sheets_seconds: 0.5\n");

        assert_string_equal(s->description, "A description");
        assert_string_equal(s->workspace, "/base/dir/b/c");
        assert_int_equal(s->timeout_seconds, 60);
        assert_int_equal(s->total_stages, 3);   /* items 2-4, 5-7, 8-10 */
        assert_string_equal(s->prompt_template, "Hi {{ name }}");

        assert_string_equal(value_map_get(s->variables, "name")->s, "world");
        v = value_map_get(s->variables, "n");
        assert_int_equal(v->type, VALUE_INT);
        assert_int_equal(v->i, 42);
        assert_int_equal(value_map_get(s->variables, "neg")->i, -7);
        assert_int_equal(value_map_get(s->variables, "hex")->i, 31);
        v = value_map_get(s->variables, "f");
        assert_int_equal(v->type, VALUE_FLOAT);
        assert_true(v->f == 2.5);
        assert_int_equal(value_map_get(s->variables, "exp")->type, VALUE_STRING);   /* YAML 1.1, as PyYAML */
        v = value_map_get(s->variables, "t");
        assert_int_equal(v->type, VALUE_BOOL);
        assert_true(v->b);
        assert_true(value_map_get(s->variables, "T")->b);
        v = value_map_get_key(s->variables, &(Value) { .type = VALUE_BOOL });      /* key "no" is False in YAML 1.1 */
        assert_int_equal(v->type, VALUE_BOOL);
        assert_false(v->b);
        assert_true(value_map_get(s->variables, "yes_str")->b);                     /* YAML 1.1, as PyYAML */
        assert_int_equal(value_map_get(s->variables, "nul")->type, VALUE_NULL);
        assert_int_equal(value_map_get(s->variables, "tilde")->type, VALUE_NULL);
        assert_int_equal(value_map_get(s->variables, "empty")->type, VALUE_NULL);
        v = value_map_get(s->variables, "quoted_int");
        assert_int_equal(v->type, VALUE_STRING);
        assert_string_equal(v->s, "42");
        assert_int_equal(value_map_get(s->variables, "quoted_bool")->type, VALUE_STRING);
        assert_int_equal(value_map_get(s->variables, "tagged")->type, VALUE_STRING);
        assert_int_equal(value_map_get(s->variables, "big")->type, VALUE_STRING);   /* beyond int64: the text */
        v = value_map_get(s->variables, "list");
        assert_int_equal(v->type, VALUE_LIST);
        assert_int_equal(v->list.n, 3);
        assert_int_equal(v->list.items[1]->type, VALUE_INT);
        assert_string_equal(value_map_get(v->list.items[2], "k")->s, "v");
        v = value_map_get(value_map_get(s->variables, "nested"), "x");
        assert_string_equal(value_map_get(v, "y")->s, "z");
        assert_null(value_map_get(s->variables, "1"));
        assert_string_equal(value_map_get_key(s->variables, &(Value) { .type = VALUE_INT, .i = 1 })->s, "numeric key");
        assert_string_equal(s->variables->map.keys[0]->s, "name");   /* order kept */

        assert_int_equal(s->n_validations, 5);
        assert_int_equal(s->validations[0].type, VALIDATION_FILE_EXISTS);
        assert_string_equal(s->validations[0].path, "{workspace}/x");
        assert_int_equal(s->validations[0].stage, 1);
        assert_int_equal(s->validations[0].sheet, 0);
        assert_int_equal(s->validations[0].timeout_seconds, 30);
        assert_null(s->validations[0].condition);
        assert_int_equal(s->validations[1].type, VALIDATION_CONTENT_REGEX);
        assert_string_equal(s->validations[1].pattern, "^#");
        assert_int_equal(s->validations[1].stage, 2);
        assert_int_equal(s->validations[1].sheet, 3);
        assert_string_equal(s->validations[1].description, "d");
        assert_string_equal(s->validations[1].condition, "sheet_num == 1");
        assert_int_equal(s->validations[2].type, VALIDATION_COMMAND_SUCCEEDS);
        assert_string_equal(s->validations[2].command, "true");
        assert_int_equal(s->validations[2].timeout_seconds, 5);
        assert_int_equal(s->validations[3].type, VALIDATION_FILE_MODIFIED);
        assert_int_equal(s->validations[4].type, VALIDATION_CONTENT_CONTAINS);
        assert_string_equal(s->validations[4].pattern, "");

        assert_int_equal(s->retry.max_retries, 0);
        assert_true(s->retry.base_delay_seconds == 1.5);
        assert_true(s->retry.exponential_base == 3);
        assert_true(s->retry.max_delay_seconds == 60);
        assert_false(s->retry.jitter);
        assert_int_equal(s->max_concurrent, 4);
        assert_true(s->pause_between_sheets_seconds == 0.5);
        assert_null(s->warnings);
}

static void test_sheet_arithmetic(void **state) {
        unsigned a, b;

        (void) state;

        assert_int_equal(score_stage_count(1, 3, 1), 3);
        assert_int_equal(score_stage_count(5, 10, 1), 2);
        assert_int_equal(score_stage_count(3, 10, 1), 4);
        assert_int_equal(score_stage_count(3, 10, 2), 3);
        assert_int_equal(score_stage_count(3, 10, 3), 3);
        assert_int_equal(score_stage_count(3, 10, 10), 1);
        assert_int_equal(score_stage_count(100, 10, 1), 1);
        assert_int_equal(score_stage_count(1, UINT_MAX, 1), UINT_MAX);
        assert_int_equal(score_stage_count(UINT_MAX, UINT_MAX, 1), 1);
        assert_int_equal(score_stage_count(0, 10, 1), 0);
        assert_int_equal(score_stage_count(1, 10, 11), 0);

        score_stage_items(3, 10, 1, 4, &a, &b);        /* uneven last */
        assert_int_equal(a, 10);
        assert_int_equal(b, 10);
        score_stage_items(3, 10, 1, 1, &a, &b);
        assert_int_equal(a, 1);
        assert_int_equal(b, 3);
        score_stage_items(3, 10, 2, 1, &a, &b);
        assert_int_equal(a, 2);
        assert_int_equal(b, 4);
        score_stage_items(3, 10, 2, 3, &a, &b);
        assert_int_equal(a, 8);
        assert_int_equal(b, 10);
        score_stage_items(4, 10, 3, 2, &a, &b);        /* 3-6, 7-10 */
        assert_int_equal(a, 7);
        assert_int_equal(b, 10);
        score_stage_items(100, 10, 1, 1, &a, &b);
        assert_int_equal(a, 1);
        assert_int_equal(b, 10);
        score_stage_items(UINT_MAX, UINT_MAX, 1, 1, &a, &b);
        assert_int_equal(a, 1);
        assert_int_equal(b, UINT_MAX);
}

static void test_sheet_items_in_score(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;
        s = parse_ok("name: t\nsheet: {size: 4, total_items: 10, start_item: 3}\n");
        assert_int_equal(s->n_sheets, 2);
        assert_int_equal(s->sheets[0].start_item, 3);
        assert_int_equal(s->sheets[0].end_item, 6);
        assert_int_equal(s->sheets[1].start_item, 7);
        assert_int_equal(s->sheets[1].end_item, 10);
        score_free(TAKE_PTR(s));

        s = parse_ok("name: t\nsheet: {size: 5, total_items: 11}\n");
        assert_int_equal(s->n_sheets, 3);
        assert_int_equal(s->sheets[2].start_item, 11);
        assert_int_equal(s->sheets[2].end_item, 11);
        score_free(TAKE_PTR(s));

        s = parse_ok("name: t\nsheet: {size: 1, total_items: 5, start_item: 5}\n");
        assert_int_equal(s->n_sheets, 1);
        assert_int_equal(s->sheets[0].start_item, 5);
        assert_int_equal(s->sheets[0].end_item, 5);
        assert_deps(s, 1, 0);
}

static void test_fan_out_patterns(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;

        /* hello.yaml's shape: 1 → 3 voices → 1: fan-out then fan-in */
        s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 3\n  fan_out: {2: 3}\n"
                     "  dependencies: {2: [1], 3: [2]}\n");
        assert_int_equal(s->total_stages, 3);
        assert_int_equal(s->n_sheets, 5);
        assert_int_equal(s->fan_out[0], 1);
        assert_int_equal(s->fan_out[1], 3);
        assert_int_equal(s->fan_out[2], 1);
        for (unsigned i = 2; i <= 4; i++) {
                const Sheet *sh = score_get_sheet(s, i);
                assert_int_equal(sh->stage, 2);
                assert_int_equal(sh->instance, i - 1);
                assert_int_equal(sh->fan_count, 3);
                assert_int_equal(sh->start_item, 2);
                assert_int_equal(sh->end_item, 2);
                assert_deps(s, i, 1, 1);
        }
        assert_int_equal(s->sheets[4].stage, 3);
        assert_int_equal(s->sheets[4].instance, 1);
        assert_deps(s, 1, 0);
        assert_deps(s, 5, 3, 2, 3, 4);
        score_free(TAKE_PTR(s));

        /* N → N pairs up, N → M is all-to-all */
        s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 3\n  fan_out: {1: 2, 2: 2, 3: 3}\n"
                     "  dependencies: {2: [1], 3: [2]}\n");
        assert_int_equal(s->n_sheets, 7);
        assert_deps(s, 1, 0);
        assert_deps(s, 2, 0);
        assert_deps(s, 3, 1, 1);
        assert_deps(s, 4, 1, 2);
        assert_deps(s, 5, 2, 3, 4);
        assert_deps(s, 6, 2, 3, 4);
        assert_deps(s, 7, 2, 3, 4);
        score_free(TAKE_PTR(s));

        /* default linear chain, expanded with the same rules */
        s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 4\n  fan_out: {2: 2, 3: 2}\n");
        assert_int_equal(s->n_sheets, 6);
        assert_deps(s, 1, 0);
        assert_deps(s, 2, 1, 1);
        assert_deps(s, 3, 1, 1);
        assert_deps(s, 4, 1, 2);
        assert_deps(s, 5, 1, 3);
        assert_deps(s, 6, 2, 4, 5);
        score_free(TAKE_PTR(s));

        /* multiple deps merge sorted without duplicates; forward references are fine */
        s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 4\n"
                     "  dependencies: {1: [4], 3: [2, 1, 2], 2: 4}\n");
        assert_deps(s, 1, 1, 4);
        assert_deps(s, 2, 1, 4);
        assert_deps(s, 3, 2, 1, 2);
        assert_deps(s, 4, 0);
        score_free(TAKE_PTR(s));

        /* explicit empty dependencies: everything parallel */
        s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 3\n  dependencies: {}\n");
        for (unsigned i = 1; i <= 3; i++)
                assert_deps(s, i, 0);
}

static void test_dependency_errors(void **state) {
        (void) state;

        parse_bad(BASIC "  dependencies:\n    2: [1]\n    3: [3]\n", -EINVAL,
                  SRC ":7:9: key 'sheet.dependencies.3'", "depends on itself");
        parse_bad(BASIC "  dependencies:\n    2: [5]\n", -EINVAL,
                  SRC ":6:9: key 'sheet.dependencies.2'", "unknown stage 5");
        parse_bad(BASIC "  dependencies:\n    4: [1]\n", -EINVAL,
                  SRC ":6:5: key 'sheet.dependencies.4'", "unknown stage 4");
        parse_bad(BASIC "  dependencies:\n    0: [1]\n", -EINVAL,
                  SRC ":6:5: key 'sheet.dependencies.0'", "unknown stage 0");
        parse_bad(BASIC "  dependencies:\n    x: [1]\n", -EINVAL,
                  SRC ":6:5: key 'sheet.dependencies.x'", "stage number");
        parse_bad(BASIC "  dependencies:\n    2: [a]\n", -EINVAL,
                  SRC ":6:9: key 'sheet.dependencies.2'", "stage number");
        parse_bad(BASIC "  dependencies:\n    2: {a: 1}\n", -EINVAL,
                  SRC ":6:8: key 'sheet.dependencies.2'", "expected a list");
        parse_bad(BASIC "  dependencies: [1, 2]\n", -EINVAL,
                  SRC ":5:17: key 'sheet.dependencies'", "expected a mapping");
        parse_bad(BASIC "  dependencies:\n    1: [3]\n    3: [2]\n    2: [1]\n", -EINVAL,
                  SRC ":5:3: key 'sheet.dependencies'", "dependency cycle 1 -> 3 -> 2 -> 1");
        parse_bad(BASIC "  dependencies:\n    2: [3]\n    3: [2]\n", -EINVAL,
                  SRC ":5:3: key 'sheet.dependencies'", "dependency cycle 2 -> 3 -> 2");
}

static void test_fan_out_errors(void **state) {
        ScoreLimits l = score_limits_default;

        (void) state;

        parse_bad(BASIC "  fan_out: {4: 2}\n", -EINVAL, SRC ":5:13: key 'sheet.fan_out.4'", "unknown stage 4");
        parse_bad(BASIC "  fan_out: {0: 2}\n", -EINVAL, SRC ":5:13: key 'sheet.fan_out.0'", "unknown stage 0");
        parse_bad(BASIC "  fan_out: {1: 0}\n", -EINVAL, SRC ":5:16: key 'sheet.fan_out.1'", ">= 1");
        parse_bad(BASIC "  fan_out: {1: x}\n", -EINVAL, SRC ":5:16: key 'sheet.fan_out.1'", "integer");
        parse_bad(BASIC "  fan_out: [1]\n", -EINVAL, SRC ":5:12: key 'sheet.fan_out'", "mapping");

        l.max_sheets = 10;
        parse_bad_limits(BASIC "  fan_out: {1: 11}\n", &l, -E2BIG, SRC ":5:16: key 'sheet.fan_out.1'", "limit");
        parse_bad_limits(BASIC "  fan_out: {1: 5, 2: 5}\n", &l, -E2BIG, SRC ":5:12: key 'sheet.fan_out'", "limit of 10");
        parse_bad(BASIC "  fan_out: {1: 4000000000, 2: 4000000000}\n", -E2BIG, "key 'sheet.fan_out", "limit");
        /* 5000 x 4999 all-to-all edges would be ~100 MB */
        parse_bad("name: t\nsheet:\n  size: 1\n  total_items: 2\n  fan_out: {1: 5000, 2: 4999}\n", -E2BIG,
                  SRC ":5:12: key 'sheet.fan_out'", "sheet dependencies");
        {
                _cleanup_score_free_ Score *s = parse_ok("name: t\nsheet:\n  size: 1\n  total_items: 2\n"
                                                         "  fan_out: {1: 100, 2: 100}\n  dependencies: {}\n");
                assert_int_equal(s->n_sheets, 200);
        }
}

static void test_bad_values(void **state) {
        (void) state;

        parse_bad("sheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:1: key 'name'", "required");
        parse_bad("name: ''\nsheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:7: key 'name'", "non-empty");
        parse_bad("name:\nsheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:1: key 'name'", "required");
        parse_bad("name: [a]\nsheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:7: key 'name'", "scalar");
        parse_bad("name: a/b\nsheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:7: key 'name'", "workspace");
        parse_bad("name: t\n", -EINVAL, SRC ":1:1: key 'sheet'", "required");
        parse_bad("name: t\nsheet: 3\n", -EINVAL, SRC ":2:8: key 'sheet'", "mapping");
        parse_bad("name: t\nsheet: {total_items: 1}\n", -EINVAL, SRC ":2:8: key 'sheet.size'", "required");
        parse_bad("name: t\nsheet: {size: 1}\n", -EINVAL, SRC ":2:8: key 'sheet.total_items'", "required");
        parse_bad("name: t\nsheet: {size: 0, total_items: 1}\n", -EINVAL, SRC ":2:15: key 'sheet.size'", ">= 1");
        parse_bad("name: t\nsheet: {size: -1, total_items: 1}\n", -EINVAL, SRC ":2:15: key 'sheet.size'", "integer");
        parse_bad("name: t\nsheet: {size: 1.5, total_items: 1}\n", -EINVAL, SRC ":2:15: key 'sheet.size'", "integer");
        parse_bad("name: t\nsheet: {size: 99999999999, total_items: 1}\n", -EINVAL, SRC ":2:15: key 'sheet.size'", "integer");
        parse_bad("name: t\nsheet: {size: 1, total_items: 0}\n", -EINVAL, SRC ":2:31: key 'sheet.total_items'", ">= 1");
        parse_bad("name: t\nsheet: {size: 1, total_items: 3, start_item: 4}\n", -EINVAL,
                  SRC ":2:46: key 'sheet.start_item'", "beyond");
        parse_bad("name: t\nsheet: {size: 1, total_items: 3, start_item: 0}\n", -EINVAL,
                  SRC ":2:46: key 'sheet.start_item'", ">= 1");
        parse_bad(BASIC "instrument_config: {timeout_seconds: 0}\n", -EINVAL,
                  SRC ":5:38: key 'instrument_config.timeout_seconds'", ">= 1");
        parse_bad(BASIC "instrument_config: 5\n", -EINVAL, SRC ":5:20: key 'instrument_config'", "mapping");
        parse_bad(BASIC "workspace: ''\n", -EINVAL, SRC ":5:12: key 'workspace'", "non-empty");
        parse_bad(BASIC "instrument: ''\n", -EINVAL, SRC ":5:13: key 'instrument'", "non-empty");
        parse_bad(BASIC "prompt: {template: a, template_file: b}\n", -EINVAL,
                  SRC ":5:23: key 'prompt.template_file'", "not both");
        parse_bad(BASIC "prompt: {variables: [1]}\n", -EINVAL, SRC ":5:21: key 'prompt.variables'", "mapping");
        parse_bad(BASIC "prompt: {template: [1]}\n", -EINVAL, SRC ":5:20: key 'prompt.template'", "scalar");
        parse_bad(BASIC "prompt: x\n", -EINVAL, SRC ":5:9: key 'prompt'", "mapping");
        parse_bad(BASIC "validations: {type: file_exists}\n", -EINVAL, SRC ":5:14: key 'validations'", "list");
        parse_bad(BASIC "validations:\n  - path: x\n", -EINVAL, SRC ":6:5: key 'validations[0].type'", "required");
        parse_bad(BASIC "validations:\n  - x\n", -EINVAL, SRC ":6:5: key 'validations[0]'", "mapping");
        parse_bad(BASIC "validations:\n  - type: file_exists\n", -EINVAL,
                  SRC ":6:5: key 'validations[0].path'", "required for type file_exists");
        parse_bad(BASIC "validations:\n  - type: file_modified\n", -EINVAL,
                  SRC ":6:5: key 'validations[0].path'", "required");
        parse_bad(BASIC "validations:\n  - {type: file_exists, path: a}\n  - {type: content_contains, path: a}\n", -EINVAL,
                  SRC ":7:5: key 'validations[1].pattern'", "required for type content_contains");
        parse_bad(BASIC "validations:\n  - {type: content_regex, pattern: a}\n", -EINVAL,
                  SRC ":6:5: key 'validations[0].path'", "required");
        parse_bad(BASIC "validations:\n  - {type: command_succeeds}\n", -EINVAL,
                  SRC ":6:5: key 'validations[0].command'", "required");
        parse_bad(BASIC "validations:\n  - {type: file_exist, path: a}\n", -EINVAL,
                  SRC ":6:12: key 'validations[0].type'", "unknown validation type 'file_exist'");
        parse_bad(BASIC "validations:\n  - {type: file_exists, path: a, stage: 0}\n", -EINVAL,
                  SRC ":6:41: key 'validations[0].stage'", ">= 1");
        parse_bad(BASIC "validations:\n  - {type: file_exists, path: a, sheet: 4}\n", -EINVAL,
                  SRC ":6:41: key 'validations[0].sheet'", "does not exist");
        parse_bad(BASIC "validations:\n  - {type: command_succeeds, command: x, timeout_seconds: z}\n", -EINVAL,
                  SRC ":6:59: key 'validations[0].timeout_seconds'", "integer");
        parse_bad(BASIC "retry: {max_retries: -1}\n", -EINVAL, SRC ":5:22: key 'retry.max_retries'", "integer");
        parse_bad(BASIC "retry: {base_delay_seconds: x}\n", -EINVAL, SRC ":5:29: key 'retry.base_delay_seconds'", "number");
        parse_bad(BASIC "retry: {base_delay_seconds: .nan}\n", -EINVAL, SRC ":5:29: key 'retry.base_delay_seconds'", "number");
        parse_bad(BASIC "retry: {exponential_base: 0.5}\n", -EINVAL, SRC ":5:27: key 'retry.exponential_base'", ">= 1");
        parse_bad(BASIC "retry: {max_delay_seconds: -3}\n", -EINVAL, SRC ":5:28: key 'retry.max_delay_seconds'", ">= 0");
        parse_bad(BASIC "retry: {jitter: maybe}\n", -EINVAL, SRC ":5:17: key 'retry.jitter'", "true or false");
        parse_bad(BASIC "parallel: {max_concurrent: 0}\n", -EINVAL, SRC ":5:28: key 'parallel.max_concurrent'", ">= 1");
        parse_bad(BASIC "parallel: {enabled: 3}\n", -EINVAL, SRC ":5:21: key 'parallel.enabled'", "true or false");
        parse_bad(BASIC "pause_between_sheets_seconds: -1\n", -EINVAL,
                  SRC ":5:31: key 'pause_between_sheets_seconds'", ">= 0");
        parse_bad(BASIC "pause_between_sheets_seconds: soon\n", -EINVAL,
                  SRC ":5:31: key 'pause_between_sheets_seconds'", "number");
}

static void assert_resources(const char *yaml, uint64_t memory_max, uint64_t cpu_quota_per_sec_usec,
                             uint64_t tasks_max, uint64_t io_weight) {
        _cleanup_score_free_ Score *s = parse_ok(yaml);

        if (s->resources.memory_max != memory_max ||
            s->resources.cpu_quota_per_sec_usec != cpu_quota_per_sec_usec ||
            s->resources.tasks_max != tasks_max ||
            s->resources.io_weight != io_weight)
                fail_msg("resources %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                         ", expected %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n--- input:\n%s",
                         s->resources.memory_max, s->resources.cpu_quota_per_sec_usec,
                         s->resources.tasks_max, s->resources.io_weight,
                         memory_max, cpu_quota_per_sec_usec, tasks_max, io_weight, yaml);
        assert_true(score_resources_set(&s->resources) ==
                    (memory_max || cpu_quota_per_sec_usec || tasks_max || io_weight));
        assert_null(s->warnings);
}

#define MEM(v) BASIC "resources: {memory_max: " v "}\n"
#define CPU(v) BASIC "resources: {cpu_quota: " v "}\n"
#define TASKS(v) BASIC "resources: {tasks_max: " v "}\n"
#define IO(v) BASIC "resources: {io_weight: " v "}\n"

static void test_resources(void **state) {
        const uint64_t MiB = UINT64_C(1) << 20, GiB = UINT64_C(1) << 30, TiB = UINT64_C(1) << 40;

        (void) state;

        /* absent, null or empty: nothing set */
        assert_resources(BASIC, 0, 0, 0, 0);
        assert_resources(BASIC "resources:\n", 0, 0, 0, 0);
        assert_resources(BASIC "resources: {}\n", 0, 0, 0, 0);
        assert_resources(BASIC "resources: {memory_max: ~, cpu_quota: null}\n", 0, 0, 0, 0);
        assert_false(score_resources_set(NULL));

        /* all four */
        assert_resources(BASIC "resources:\n"
                         "  memory_max: 512M\n"
                         "  cpu_quota: 50%\n"
                         "  tasks_max: 64\n"
                         "  io_weight: 100\n",
                         512 * MiB, 500000, 64, 100);
        /* through a merge key */
        assert_resources(BASIC "prompt: {variables: {r: &r {memory_max: 1G, tasks_max: 8}}}\n"
                         "resources:\n  <<: *r\n  tasks_max: 9\n",
                         GiB, 0, 9, 0);

        /* memory_max: plain and quoted integers, base-1024 suffixes, fractions rounded down */
        assert_resources(MEM("536870912"), 512 * MiB, 0, 0, 0);
        assert_resources(MEM("\"536870912\""), 512 * MiB, 0, 0, 0);
        assert_resources(MEM("\"512M\""), 512 * MiB, 0, 0, 0);
        assert_resources(MEM("'512M'"), 512 * MiB, 0, 0, 0);
        assert_resources(MEM("1048576"), MiB, 0, 0, 0);         /* the minimum */
        assert_resources(MEM("1024K"), MiB, 0, 0, 0);
        assert_resources(MEM("1M"), MiB, 0, 0, 0);
        assert_resources(MEM("0001M"), MiB, 0, 0, 0);
        assert_resources(MEM("2G"), 2 * GiB, 0, 0, 0);
        assert_resources(MEM("3T"), 3 * TiB, 0, 0, 0);
        assert_resources(MEM("1.5G"), GiB + GiB / 2, 0, 0, 0);
        assert_resources(MEM("1.1M"), MiB + 104857, 0, 0, 0);  /* 1153433.6 */
        assert_resources(MEM("0.75G"), 3 * GiB / 4, 0, 0, 0);
        assert_resources(MEM("1.50000000000000000000000G"), GiB + GiB / 2, 0, 0, 0);
        assert_resources(MEM("16777215T"), UINT64_MAX - TiB + 1, 0, 0, 0);
        assert_resources(MEM("16777215.9999999999T"), UINT64_MAX - 109, 0, 0, 0); /* 2^64 - 110: rounded down */
        assert_resources(MEM("18446744073709551614"), UINT64_MAX - 1, 0, 0, 0);

        /* cpu_quota: percent of one CPU, two decimals at most */
        assert_resources(CPU("50%"), 0, 500000, 0, 0);
        assert_resources(CPU("\"50%\""), 0, 500000, 0, 0);
        assert_resources(CPU("100%"), 0, 1000000, 0, 0);
        assert_resources(CPU("200%"), 0, 2000000, 0, 0);
        assert_resources(CPU("12.5%"), 0, 125000, 0, 0);
        assert_resources(CPU("12.25%"), 0, 122500, 0, 0);
        assert_resources(CPU("0.01%"), 0, 100, 0, 0);
        assert_resources(CPU("100000%"), 0, 1000000000, 0, 0);

        /* tasks_max and io_weight */
        assert_resources(TASKS("1"), 0, 0, 1, 0);
        assert_resources(TASKS("\"64\""), 0, 0, 64, 0);
        assert_resources(TASKS("4194304"), 0, 0, 4194304, 0);
        assert_resources(IO("1"), 0, 0, 0, 1);
        assert_resources(IO("10000"), 0, 0, 0, 10000);
}

static void test_resources_errors(void **state) {
        (void) state;

        /* the block itself */
        parse_bad(BASIC "resources: 512M\n", -EINVAL, SRC ":5:12: key 'resources'", "expected a mapping, got a scalar");
        parse_bad(BASIC "resources: [memory_max]\n", -EINVAL, SRC ":5:12: key 'resources'", "expected a mapping");
        parse_bad(BASIC "resources:\n  memory_max: 1G\n  memory: 1G\n", -EINVAL,
                  SRC ":7:3: key 'resources.memory'", "unknown key in resources; check the spelling");
        parse_bad(BASIC "resources: {cpu_weight: 100}\n", -EINVAL,
                  SRC ":5:13: key 'resources.cpu_weight'", "unknown key in resources");
        parse_bad(BASIC "resources:\n  tasks_max: 1\n  tasks_max: 2\n", -EINVAL,
                  SRC ":7:3: key 'tasks_max'", "duplicate key");
        /* the line of the offending value in block style */
        parse_bad(BASIC "resources:\n  memory_max: 512M\n  cpu_quota: 0%\n", -EINVAL,
                  SRC ":7:14: key 'resources.cpu_quota'", "more than 0%");

        /* memory_max */
        parse_bad(MEM("[1]"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected a scalar, got a list");
        parse_bad(MEM("0"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "at least 1M (1048576 bytes), got 0");
        parse_bad(MEM("0M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "at least 1M");
        parse_bad(MEM("1048575"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "at least 1M");
        parse_bad(MEM("1023K"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "kills any shell");
        parse_bad(MEM("0.99M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "at least 1M");
        parse_bad(MEM("-1"), -EINVAL, SRC ":5:25: key 'resources.memory_max'",
                  "expected bytes, optionally with a suffix K, M, G or T (base 1024)");
        parse_bad(MEM("-512M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "got '-512M'");
        parse_bad(MEM("+512M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("512m"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("512MB"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("512Mi"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("512 M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("512P"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("M"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("1.5"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("1.G"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM(".5G"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("1.2.3G"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("1e9"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("0x100000"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("infinity"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("''"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("1.3333333333333333333G"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "expected bytes");
        parse_bad(MEM("16777216T"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "too large");
        /* (2^24 - 1) × 2^40 + floor(0.99999999999999 × 2^40) = 2^64 - 1, systemd's "infinity" */
        parse_bad(MEM("16777215.99999999999999T"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "too large");
        parse_bad(MEM("18446744073709551615"), -EINVAL, SRC ":5:25: key 'resources.memory_max'",
                  "'18446744073709551615' is too large: at most 18446744073709551614 bytes");
        parse_bad(MEM("18446744073709551616"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "too large");
        parse_bad(MEM("99999999999999999999999K"), -EINVAL, SRC ":5:25: key 'resources.memory_max'", "too large");

        /* cpu_quota */
        parse_bad(CPU("{a: 1}"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a scalar, got a mapping");
        parse_bad(CPU("0%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "must be more than 0%, got 0%");
        parse_bad(CPU("0.00%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "more than 0%");
        parse_bad(CPU("50"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'",
                  "expected a percentage of one CPU with at most two decimals, such as 50%, 12.5% or 200%");
        parse_bad(CPU("0.5"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "got '0.5'");
        parse_bad(CPU("-5%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("+5%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("12.345%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "at most two decimals");
        parse_bad(CPU("1.%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("50 %"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("50%%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("\"%\""), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("50‰"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "expected a percentage");
        parse_bad(CPU("100000.01%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "must be at most 100000%");
        parse_bad(CPU("100001%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "at most 100000%");
        parse_bad(CPU("99999999999999999999999%"), -EINVAL, SRC ":5:24: key 'resources.cpu_quota'", "at most 100000%");

        /* tasks_max */
        parse_bad(TASKS("0"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "must be an integer from 1 to 4194304, got 0");
        parse_bad(TASKS("4194305"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "from 1 to 4194304");
        parse_bad(TASKS("99999999999999999999"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "from 1 to 4194304");
        parse_bad(TASKS("-1"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected an integer from 1 to 4194304, got '-1'");
        parse_bad(TASKS("1.5"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected an integer");
        parse_bad(TASKS("64K"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected an integer");
        parse_bad(TASKS("10%"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected an integer");
        parse_bad(TASKS("infinity"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected an integer");
        parse_bad(TASKS("[1]"), -EINVAL, SRC ":5:24: key 'resources.tasks_max'", "expected a scalar");

        /* io_weight */
        parse_bad(IO("0"), -EINVAL, SRC ":5:24: key 'resources.io_weight'", "must be an integer from 1 to 10000, got 0");
        parse_bad(IO("10001"), -EINVAL, SRC ":5:24: key 'resources.io_weight'", "from 1 to 10000");
        parse_bad(IO("-100"), -EINVAL, SRC ":5:24: key 'resources.io_weight'", "expected an integer from 1 to 10000");
        parse_bad(IO("high"), -EINVAL, SRC ":5:24: key 'resources.io_weight'", "expected an integer");
        parse_bad(IO("50%"), -EINVAL, SRC ":5:24: key 'resources.io_weight'", "expected an integer");
}

#undef MEM
#undef CPU
#undef TASKS
#undef IO

static void test_unknown_keys(void **state) {
        (void) state;

        parse_bad("nmae: t\n" "sheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:1: key 'nmae'", "unknown key");
        parse_bad(BASIC "  sise: 3\n", -EINVAL, SRC ":5:3: key 'sheet.sise'", "unknown key");
        parse_bad(BASIC "prompt:\n  tempalte: x\n", -EINVAL, SRC ":6:3: key 'prompt.tempalte'", "unknown key");
        parse_bad(BASIC "validations:\n  - type: file_exists\n    path: a\n    patern: b\n", -EINVAL,
                  SRC ":8:5: key 'validations[0].patern'", "unknown key");
        parse_bad(BASIC "retry: {max_retry: 1}\n", -EINVAL, SRC ":5:9: key 'retry.max_retry'", "unknown key");
        parse_bad(BASIC "parallel: {max: 1}\n", -EINVAL, SRC ":5:12: key 'parallel.max'", "unknown key");
}

static void test_unsupported_warnings(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;
        s = parse_ok(BASIC
                     "  prelude:\n    - file: x\n"
                     "  skip_when: {2: \"x\"}\n"
                     "instrument: claude-code\n"
                     "instrument_fallbacks: [a, b]\n"
                     "instrument_config:\n  skip_permissions: true\n  model: m\n  timeout_seconds: 7\n"
                     "movements: {1: {name: x}}\n"
                     "cross_sheet: {auto_capture_stdout: true}\n"
                     "learning: 1\n"
                     "state_backend: json\n"
                     "prompt:\n  stakes: high\n  thinking_method: deep\n"
                     "validations:\n  - {type: file_exists, path: a, on_fail: skip, retry_count: 0}\n"
                     "parallel: {fail_fast: true, budget_partition: x}\n"
                     "retry: {max_completion_attempts: 2}\n");

        assert_string_equal(s->instrument, "claude-code");
        assert_int_equal(s->timeout_seconds, 7);
        /* what is supported now is parsed, not warned about */
        assert_string_equal(s->instrument_config.model, "m");
        assert_int_equal(s->instrument_config.skip_permissions, 1);
        assert_int_equal(strv_length(s->instrument_fallbacks), 2);
        assert_string_equal(s->movements[0].name, "x");
        assert_true(s->cross_sheet.auto_capture_stdout);
        assert_int_equal(s->validations[0].retry_count, 0);
        assert_int_equal(s->completion.max_attempts, 2);

        assert_true(has_warning(s, SRC ":5:3: key 'sheet.prelude': not supported yet, ignored [W001]"));
        assert_true(has_warning(s, SRC ":7:3: key 'sheet.skip_when': not supported yet, ignored [W001]"));
        assert_true(has_warning(s, "key 'learning': not supported yet"));
        assert_true(has_warning(s, "key 'state_backend': not supported yet"));
        assert_true(has_warning(s, SRC ":19:3: key 'prompt.stakes': not supported yet"));
        assert_true(has_warning(s, "key 'prompt.thinking_method': not supported yet"));
        assert_true(has_warning(s, "key 'validations[0].on_fail': not supported yet"));
        assert_true(has_warning(s, "key 'parallel.fail_fast': not supported yet"));
        assert_true(has_warning(s, "key 'parallel.budget_partition': not supported yet"));
        assert_int_equal(strv_length(s->warnings), 9);
        assert_int_equal(s->n_diagnostics, 9);
        for (size_t i = 0; i < s->n_diagnostics; i++)
                assert_int_equal(s->diagnostics[i].code, SCORE_W_UNSUPPORTED);
        for (size_t i = 0; i < s->n_diagnostics; i++)
                if (streq(s->diagnostics[i].key, "sheet.prelude")) {
                        assert_int_equal(s->diagnostics[i].line, 5);
                        assert_int_equal(s->diagnostics[i].column, 3);
                        assert_string_equal(s->diagnostics[i].message, "not supported yet, ignored");
                }
}

static void test_yaml_errors(void **state) {
        (void) state;

        parse_bad("", -EINVAL, SRC ":1:1", "score is empty");
        parse_bad("# just a comment\n", -EINVAL, SRC ":1:1", "score is empty");
        parse_bad("---\n", -EINVAL, SRC ":1:1", "score is empty");
        parse_bad("[1, 2]\n", -EINVAL, SRC ":1:1", "must be a mapping");
        parse_bad("just text\n", -EINVAL, SRC ":1:1", "must be a mapping");
        parse_bad("name: t\nsheet: {size: 1\n", -EINVAL, SRC ":3:1", "YAML syntax error");
        parse_bad("name: t\n  bad: indent\n", -EINVAL, SRC ":2:6", "YAML syntax error");
        parse_bad("name: \"unterminated\n", -EINVAL, SRC ":2:1", "YAML syntax error");
        parse_bad("name: t\n---\nname: u\n", -EINVAL, SRC ":2:1", "single YAML document");
        parse_bad("name: t\nname: u\nsheet: {size: 1, total_items: 1}\n", -EINVAL,
                  SRC ":2:1: key 'name'", "duplicate key");
        parse_bad(BASIC "prompt:\n  variables:\n    a: 1\n    b: 2\n    a: 3\n", -EINVAL,
                  SRC ":9:5: key 'a'", "duplicate key (first defined at line 7)");
        parse_bad("name: t\n? [a]\n: b\n", -EINVAL, SRC ":2:3", "keys must be scalars");
        parse_bad("name: *nope\n", -EINVAL, SRC ":1:7", "unknown YAML alias");
        parse_bad("name: t\nsheet: &a {size: 1, total_items: 1, x: *a}\n", -EINVAL, SRC ":2:40", "refers to itself");
        parse_bad("name: \"a\\0b\"\nsheet: {size: 1, total_items: 1}\n", -EINVAL, SRC ":1:7: key 'name'", "NUL");
}

static void test_aliases_and_merges_real(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        const Value *v;

        (void) state;
        s = parse_ok("name: t\n"
                     "sheet: {size: 1, total_items: 2}\n"
                     "prompt:\n"
                     "  variables:\n"
                     "    d: &d {type: file_exists, path: p}\n"
                     "    base: &b [1, 2]\n"
                     "    copy: *b\n"
                     "validations:\n"
                     "  - *d\n"
                     "  - <<: *d\n"
                     "    path: q\n"
                     "  - <<: [{type: command_succeeds, command: c}, *d]\n");
        v = value_map_get(s->variables, "copy");
        assert_int_equal(v->type, VALUE_LIST);
        assert_int_equal(v->list.n, 2);
        assert_int_equal(v->list.items[1]->i, 2);
        assert_int_equal(s->n_validations, 3);
        assert_int_equal(s->validations[0].type, VALIDATION_FILE_EXISTS);
        assert_string_equal(s->validations[0].path, "p");
        assert_int_equal(s->validations[1].type, VALIDATION_FILE_EXISTS);
        assert_string_equal(s->validations[1].path, "q");
        assert_int_equal(s->validations[2].type, VALIDATION_COMMAND_SUCCEEDS);
        assert_string_equal(s->validations[2].command, "c");
        assert_string_equal(s->validations[2].path, "p");

        parse_bad(BASIC "retry:\n  <<: 3\n", -EINVAL, SRC ":6:7", "merge value");
}

static void test_billion_laughs(void **state) {
        _cleanup_free_ char *doc = NULL;
        ScoreLimits l = score_limits_default;

        (void) state;

        doc = strdup("name: t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n"
                     "    a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                     "    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                     "    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                     "    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                     "    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                     "    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                     "    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                     "    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                     "    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n");
        assert_non_null(doc);
        /* 72 alias references, under the alias limit: the expansion bound catches it */
        parse_bad(doc, -E2BIG, SRC ":", "expand to more than");

        /* too many alias references */
        l.max_aliases = 5;
        parse_bad_limits("name: &n t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n"
                         "    l: [*n, *n, *n, *n, *n, *n]\n", &l, -E2BIG, SRC ":5:29", "more than 5 YAML alias");
}

static void test_depth(void **state) {
        _cleanup_free_ char *deep = NULL, *ok = NULL;
        ScoreLimits l = score_limits_default;
        _cleanup_score_free_ Score *s = NULL;
        size_t n = 0;

        (void) state;

        /* 2 levels for the root and prompt.variables map */
        deep = malloc(4096);
        assert_non_null(deep);
        n += sprintf(deep, "name: t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n    v: ");
        for (int i = 0; i < 70; i++)
                deep[n++] = '[';
        for (int i = 0; i < 70; i++)
                deep[n++] = ']';
        deep[n++] = '\n';
        deep[n] = 0;
        parse_bad(deep, -E2BIG, SRC ":5:", "nesting deeper than 64");

        l.max_depth = 4;
        s = parse_ok_limits("name: t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n    v: [1]\n", &l);
        parse_bad_limits("name: t\nsheet: {size: 1, total_items: 1}\nprompt:\n  variables:\n    v: [[1]]\n",
                         &l, -E2BIG, SRC ":5:9", "deeper than 4");
        /* an alias may not smuggle depth in either */
        parse_bad_limits("name: t\nsheet: {size: 1, total_items: 1}\nx: &x [1]\nprompt:\n  variables:\n    v: [*x]\n",
                         &l, -E2BIG, SRC ":6:9", "deeper than 4");
}

static void test_limits(void **state) {
        ScoreLimits l = score_limits_default;
        _cleanup_free_ char *big = NULL;
        _cleanup_score_free_ Score *s = NULL;

        (void) state;

        assert_int_equal(score_limits_default.max_score_bytes, 1024 * 1024);
        assert_int_equal(score_limits_default.max_sheets, 10000);
        assert_int_equal(score_limits_default.max_depth, 64);
        assert_int_equal(score_limits_default.max_aliases, 100);
        assert_int_equal(score_limits_default.max_template_output, TEMPLATE_OUTPUT_MAX);

        big = malloc(score_limits_default.max_score_bytes + 2);
        assert_non_null(big);
        memset(big, '#', score_limits_default.max_score_bytes + 1);
        big[score_limits_default.max_score_bytes + 1] = 0;
        parse_bad(big, -EFBIG, SRC ":", "larger than the limit");

        parse_bad("name: t\nsheet: {size: 1, total_items: 10001}\n", -E2BIG,
                  SRC ":2:31: key 'sheet.total_items'", "more than the limit of 10000");
        s = parse_ok("name: t\nsheet: {size: 1, total_items: 10000}\n");
        assert_int_equal(s->n_sheets, 10000);
        assert_deps(s, 10000, 1, 9999);
        score_free(TAKE_PTR(s));
        parse_bad("name: t\nsheet: {size: 1, total_items: 4294967295}\n", -E2BIG, "key 'sheet.total_items'", "limit");

        l.max_sheets = 3;
        s = parse_ok_limits(BASIC, &l);
        score_free(TAKE_PTR(s));
        parse_bad_limits("name: t\nsheet: {size: 1, total_items: 4}\n", &l, -E2BIG, "key 'sheet.total_items'", "limit of 3");

        l = score_limits_default;
        l.max_score_bytes = 10;
        parse_bad_limits(BASIC, &l, -EFBIG, SRC, "limit of 10 bytes");
}

static int write_file(const char *path, const char *content) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        if (fputs(content, f) < 0)
                return -EIO;
        return 0;
}

static void rm_rf(const char *dir) {
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", dir);
        assert_non_null(cmd);
        assert_int_equal(system(cmd), 0);
}

static void test_files(void **state) {
        char dir[] = "/tmp/test-score-XXXXXX";
        _cleanup_free_ char *sub = NULL, *score_path = NULL, *tmpl = NULL, *expected_ws = NULL,
                *error = NULL, *bad = NULL, *big = NULL;
        _cleanup_score_free_ Score *s = NULL;
        ScoreLimits l = score_limits_default;
        int r;

        (void) state;
        assert_non_null(mkdtemp(dir));

        sub = strdup_printf("%s/scores", dir);
        assert_non_null(sub);
        assert_int_equal(mkdir(sub, 0755), 0);
        tmpl = strdup_printf("%s/prompt.j2", sub);
        assert_int_equal(write_file(tmpl, "Sheet {{ sheet_num }}\n"), 0);
        score_path = strdup_printf("%s/s.yaml", sub);
        assert_int_equal(write_file(score_path,
                                    "name: files\n"
                                    "workspace: ../ws\n"
                                    "sheet: {size: 1, total_items: 2}\n"
                                    "prompt:\n  template_file: prompt.j2\n"), 0);

        r = score_parse_file(score_path, NULL, &s, &error);
        if (r < 0)
                fail_msg("%s", error);
        assert_string_equal(s->source, score_path);
        assert_string_equal(s->base_dir, sub);
        expected_ws = strdup_printf("%s/ws", dir);
        assert_string_equal(s->workspace, expected_ws);
        assert_string_equal(s->prompt_template, "Sheet {{ sheet_num }}\n");
        score_free(TAKE_PTR(s));

        /* missing template file */
        assert_int_equal(write_file(score_path,
                                    "name: files\nsheet: {size: 1, total_items: 2}\n"
                                    "prompt:\n  template_file: nope.j2\n"), 0);
        r = score_parse_file(score_path, NULL, &s, &error);
        assert_int_equal(r, -ENOENT);
        bad = strdup_printf("%s:4:18: key 'prompt.template_file'", score_path);
        assert_non_null(strstr(error, bad));
        assert_non_null(strstr(error, "nope.j2"));
        free(TAKE_PTR(error));

        /* template file over the limit */
        big = malloc(300);
        memset(big, 'x', 299);
        big[299] = 0;
        assert_int_equal(write_file(tmpl, big), 0);
        assert_int_equal(write_file(score_path,
                                    "name: files\nsheet: {size: 1, total_items: 2}\n"
                                    "prompt:\n  template_file: prompt.j2\n"), 0);
        l.max_score_bytes = 200;
        r = score_parse_file(score_path, &l, &s, &error);
        assert_int_equal(r, -EFBIG);
        assert_non_null(strstr(error, "key 'prompt.template_file'"));
        free(TAKE_PTR(error));

        /* missing score */
        free(score_path);
        score_path = strdup_printf("%s/missing.yaml", dir);
        r = score_parse_file(score_path, NULL, &s, &error);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(error, score_path));
        free(TAKE_PTR(error));

        /* a directory is not a score */
        r = score_parse_file(dir, NULL, &s, &error);
        assert_true(r < 0);
        assert_non_null(error);

        rm_rf(dir);
}

static void test_workspace_paths(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        char *error = NULL;
        int r;

        (void) state;

        s = parse_ok(BASIC "workspace: /abs//x/./y/../z/\n");
        assert_string_equal(s->workspace, "/abs/x/z");
        score_free(TAKE_PTR(s));
        s = parse_ok(BASIC "workspace: ../../../../..\n");
        assert_string_equal(s->workspace, "/");
        score_free(TAKE_PTR(s));
        s = parse_ok(BASIC "workspace: ../../../workspaces/hello\n");
        assert_string_equal(s->workspace, "/workspaces/hello");
        score_free(TAKE_PTR(s));

        /* relative base_dir becomes absolute */
        r = score_parse_string(BASIC, strlen(BASIC), NULL, "rel", NULL, &s, &error);
        assert_int_equal(r, 0);
        assert_string_equal(s->source, "<inline>");
        assert_true(s->base_dir[0] == '/');
        assert_true(endswith(s->base_dir, "/rel"));
        assert_true(endswith(s->workspace, "/rel/workspaces/t"));
}

static void test_context_and_render(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_value_free_ Value *ctx = NULL;
        _cleanup_free_ char *out = NULL, *error = NULL;
        const char *keys[] = { "sheet_num", "total_sheets", "stage", "movement", "instance", "voice",
                               "fan_count", "voice_count", "total_stages", "total_movements",
                               "start_item", "end_item" };
        const int64_t expected[] = { 4, 5, 2, 2, 3, 3, 3, 3, 3, 3, 4, 6 };
        int r;

        (void) state;
        s = parse_ok("name: ctx\n"
                     "workspace: /w\n"
                     "sheet: {size: 3, total_items: 7, fan_out: {2: 3}}\n"
                     "prompt:\n"
                     "  template: \"{{ sheet_num }}/{{ total_sheets }} {{ who }} {{ workspace }} {{ instrument_name }}\\n\"\n"
                     "  variables: {who: me, sheet_num: 99, extra: [1]}\n");
        assert_int_equal(s->n_sheets, 5);

        assert_int_equal(score_sheet_context(s, 4, &ctx), 0);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                Value *v = value_map_get(ctx, keys[i]);
                assert_non_null(v);
                assert_int_equal(v->type, VALUE_INT);
                if (v->i != expected[i])
                        fail_msg("%s = %" PRId64 ", expected %" PRId64, keys[i], v->i, expected[i]);
        }
        assert_string_equal(value_map_get(ctx, "workspace")->s, "/w");
        assert_string_equal(value_map_get(ctx, "instrument_name")->s, "cli");
        assert_string_equal(value_map_get(ctx, "who")->s, "me");
        assert_int_equal(value_map_get(ctx, "extra")->type, VALUE_LIST);
        /* score variables are untouched by the overlay */
        assert_int_equal(value_map_get(s->variables, "sheet_num")->i, 99);

        assert_int_equal(score_sheet_context(s, 0, &ctx), -ENOENT);
        assert_int_equal(score_sheet_context(s, 6, &ctx), -ENOENT);

        r = score_render_prompt(s, 4, &out, &error);
        if (r < 0)
                fail_msg("render: %s", strna(error));
        assert_string_equal(out, "4/5 me /w cli\n");
        free(TAKE_PTR(out));

        /* undefined variable: the renderer's error, tagged with the sheet */
        free(s->prompt_template);
        s->prompt_template = strdup("{{ nope }}");
        r = score_render_prompt(s, 1, &out, &error);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(error, "sheet 1"));
        assert_non_null(strstr(error, "nope"));
        free(TAKE_PTR(error));

        /* output bound comes from the limits */
        s->max_template_output = 3;
        s->prompt_template[0] = 0;
        free(s->prompt_template);
        s->prompt_template = strdup("abcdef");
        r = score_render_prompt(s, 1, &out, &error);
        assert_int_equal(r, -E2BIG);
        free(TAKE_PTR(error));

        /* no template renders as "" */
        free(s->prompt_template);
        s->prompt_template = NULL;
        assert_int_equal(score_render_prompt(s, 2, &out, &error), 0);
        assert_string_equal(out, "");
}

static void test_validation_type_strings(void **state) {
        (void) state;

        for (ValidationType t = 0; t < _VALIDATION_TYPE_MAX; t++)
                assert_int_equal(validation_type_from_string(validation_type_to_string(t)), t);
        assert_string_equal(validation_type_to_string(VALIDATION_CONTENT_REGEX), "content_regex");
        assert_null(validation_type_to_string(_VALIDATION_TYPE_MAX));
        assert_null(validation_type_to_string(_VALIDATION_TYPE_INVALID));
        assert_int_equal(validation_type_from_string("nope"), -EINVAL);
        assert_int_equal(validation_type_from_string(NULL), -EINVAL);
        assert_int_equal(validation_type_from_string(""), -EINVAL);
}

static void test_cycle_helper(void **state) {
        unsigned d1[] = { 2 }, d2[] = { 3 }, d3[] = { 1 }, d4[] = { 4 };
        unsigned *deps[] = { d1, d2, d3, NULL };
        size_t n[] = { 1, 1, 1, 0 };
        unsigned *deps2[] = { NULL, NULL, NULL, d4 };
        size_t n2[] = { 0, 0, 0, 1 };
        _cleanup_free_ char *cycle = NULL;

        (void) state;
        assert_int_equal(score_find_stage_cycle(4, deps, n, &cycle), 1);
        assert_string_equal(cycle, "1 -> 2 -> 3 -> 1");
        free(TAKE_PTR(cycle));
        assert_int_equal(score_find_stage_cycle(4, deps2, n2, &cycle), 1);
        assert_string_equal(cycle, "4 -> 4");
        free(TAKE_PTR(cycle));
        n[2] = 0;
        assert_int_equal(score_find_stage_cycle(4, deps, n, &cycle), 0);
        assert_null(cycle);
        assert_int_equal(score_find_stage_cycle(4, NULL, NULL, &cycle), 0);
}

static const char *shared_scores_dir(void) {
        static char buf[PATH_MAX];
        const char *e = getenv("MARIANNE_SHARED_DIR");
        const char *candidates[] = { e ?: "../shared", "/work/shared" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                struct stat st;

                snprintf(buf, sizeof(buf), "%s/scores/marianne", candidates[i]);
                if (stat(buf, &st) >= 0 && S_ISDIR(st.st_mode))
                        return buf;
        }
        return NULL;
}

static void test_sample_scores(void **state) {
        const char *dir = shared_scores_dir();
        const char *names[] = { "hello.yaml", "simple-sheet.yaml", "cross-sheet-test.yaml", "midday.yaml" };

        (void) state;
        if (!dir) {
                fprintf(stderr, "sample scores not found, skipping\n");
                skip();
        }

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *path = strdup_printf("%s/%s", dir, names[i]), *error = NULL;
                _cleanup_score_free_ Score *s = NULL;
                int r;

                r = score_parse_file(path, NULL, &s, &error);
                if (r < 0)
                        fail_msg("%s: %d %s", path, r, strna(error));
                assert_non_null(s->instrument_fallbacks);
                assert_true(s->instrument_given);

                if (streq(names[i], "hello.yaml")) {
                        assert_string_equal(s->name, "hello");
                        assert_int_equal(s->n_sheets, 5);
                        assert_int_equal(s->total_stages, 3);
                        assert_deps(s, 5, 3, 2, 3, 4);
                        assert_int_equal(s->max_concurrent, 3);
                        assert_int_equal(s->retry.max_retries, 1);
                        assert_int_equal(s->timeout_seconds, 600);
                        assert_int_equal(s->n_validations, 9);
                        assert_string_equal(s->movements[1].name, "Three Vignettes");
                        assert_true(s->cross_sheet.auto_capture_stdout);
                        assert_true(endswith(s->workspace, "/workspaces/hello"));
                        assert_null(strstr(s->workspace, ".."));
                        {
                                _cleanup_value_free_ Value *two = value_new_int(2);
                                /* "2:" is the int 2, as PyYAML reads it */
                                assert_non_null(value_map_get_key(value_map_get(s->variables, "characters"), two));
                                assert_null(value_map_get(value_map_get(s->variables, "characters"), "2"));
                        }
                } else if (streq(names[i], "simple-sheet.yaml")) {
                        assert_int_equal(s->n_sheets, 2);
                        assert_int_equal(s->sheets[1].start_item, 6);
                        assert_int_equal(s->sheets[1].end_item, 10);
                        assert_int_equal(s->n_validations, 3);
                        assert_string_equal(s->validations[1].pattern, "^#\\s+");
                        assert_true(has_warning(s, "key 'state_backend'"));
                } else if (streq(names[i], "cross-sheet-test.yaml")) {
                        assert_int_equal(s->n_sheets, 3);
                        assert_int_equal(s->n_validations, 15);
                        assert_int_equal(s->timeout_seconds, 300);
                        assert_int_equal(s->instrument_config.skip_permissions, 1);
                        assert_int_equal(s->cross_sheet.max_output_chars, 2000);
                        assert_int_equal(s->cross_sheet.lookback_sheets, 2);
                        assert_int_equal(strv_length(s->cross_sheet.capture_files), 1);
                } else {
                        assert_int_equal(s->n_sheets, 4);
                        assert_deps(s, 4, 1, 3);
                        assert_true(has_warning(s, "key 'sheet.prelude'"));
                        assert_int_equal(s->n_aliases, 3);
                        assert_string_equal(s->movements[2].instrument, "cli");
                        assert_int_equal(s->validations[0].retry_count, 0);
                        {
                                ScoreInstrumentChoice *chain = NULL;
                                size_t n = 0;

                                /* movement 1 plays alias scanner: claude-code with its own timeout */
                                assert_int_equal(score_sheet_instruments(s, 1, &chain, &n), 0);
                                assert_int_equal(n, 3);
                                assert_string_equal(chain[0].name, "scanner");
                                assert_string_equal(chain[0].profile, "claude-code");
                                assert_int_equal(chain[0].config.timeout_seconds, 600);
                                assert_string_equal(chain[1].name, "opencode");
                                assert_string_equal(chain[2].name, "gemini-cli");
                                assert_int_equal(chain[2].config.timeout_seconds, 1200);
                                score_instrument_choices_free(chain, n);
                                assert_int_equal(score_sheet_instruments(s, 3, &chain, &n), 0);
                                assert_string_equal(chain[0].profile, "cli");
                                score_instrument_choices_free(chain, n);
                        }
                        assert_true(s->retry.base_delay_seconds == 30);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal_defaults),
                cmocka_unit_test(test_full_score),
                cmocka_unit_test(test_sheet_arithmetic),
                cmocka_unit_test(test_sheet_items_in_score),
                cmocka_unit_test(test_fan_out_patterns),
                cmocka_unit_test(test_dependency_errors),
                cmocka_unit_test(test_fan_out_errors),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_resources),
                cmocka_unit_test(test_resources_errors),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_unsupported_warnings),
                cmocka_unit_test(test_yaml_errors),
                cmocka_unit_test(test_aliases_and_merges_real),
                cmocka_unit_test(test_billion_laughs),
                cmocka_unit_test(test_depth),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_workspace_paths),
                cmocka_unit_test(test_context_and_render),
                cmocka_unit_test(test_validation_type_strings),
                cmocka_unit_test(test_cycle_helper),
                cmocka_unit_test(test_sample_scores),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

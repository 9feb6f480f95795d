/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "instrument.h"
#include "score-instruments.h"
#include "score.h"

/* The score keys that decide which instrument plays, what sheets pass on
 * to each other, completion mode, rate limits and hooks; and the stable
 * diagnostic codes. */

#define SRC "f.yaml"
#define HEAD "name: t\nsheet:\n  size: 1\n  total_items: 3\n"

static Score *parse_ok(const char *yaml) {
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        Score *s = NULL;
        int r;

        r = score_parse_string_full(yaml, strlen(yaml), SRC, "/base", NULL, &s, &d);
        if (r < 0)
                fail_msg("unexpected failure %d: %s\n--- input:\n%s", r, strna(d.message), yaml);
        return s;
}

static void parse_bad(const char *yaml, ScoreCode code, const char *key, const char *what) {
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        _cleanup_free_ char *text = NULL;
        Score *s = NULL;
        int r;

        r = score_parse_string_full(yaml, strlen(yaml), SRC, "/base", NULL, &s, &d);
        if (r >= 0) {
                score_free(s);
                fail_msg("unexpected success:\n%s", yaml);
        }
        text = score_diagnostic_format(&d);
        if (d.code != code)
                fail_msg("expected %s, got %s: %s", score_code_to_string(code), score_code_to_string(d.code), strna(text));
        if (key && !streq_ptr(d.key, key))
                fail_msg("expected key %s, got %s: %s", key, strna(d.key), strna(text));
        if (what && !strstr(strna(text), what))
                fail_msg("expected '%s' in: %s", what, strna(text));
        assert_non_null(strstr(text, score_code_to_string(code)));
}

static void assert_chain(const Score *s, unsigned num, const char *first, ...) {
        ScoreInstrumentChoice *chain = NULL;
        size_t n = 0, i = 0;
        va_list ap;

        assert_int_equal(score_sheet_instruments(s, num, &chain, &n), 0);
        va_start(ap, first);
        for (const char *name = first; name; name = va_arg(ap, const char *), i++) {
                if (i >= n)
                        fail_msg("sheet %u: chain too short at %s", num, name);
                if (!streq(chain[i].name, name))
                        fail_msg("sheet %u: link %zu is %s, expected %s", num, i, chain[i].name, name);
        }
        va_end(ap);
        assert_int_equal(n, i);
        score_instrument_choices_free(chain, n);
}

static void test_precedence(void **state) {
        _cleanup_score_free_ Score *s = NULL;
        ScoreInstrumentChoice *chain = NULL;
        size_t n;

        (void) state;
        /* score < movement < instrument_map < per_sheet_instruments */
        s = parse_ok("name: t\n"
                     "instrument: claude-code\n"
                     "instrument_config: {model: base-model, timeout_seconds: 100}\n"
                     "instrument_fallbacks: [gemini-cli]\n"
                     "instruments:\n"
                     "  reviewer: {profile: codex-cli, config: {model: o3}}\n"
                     "  shell: cli\n"
                     "movements:\n"
                     "  2: {name: Middle, instrument: shell}\n"
                     "sheet:\n"
                     "  size: 1\n"
                     "  total_items: 4\n"
                     "  instrument_map: {reviewer: [3, 4]}\n"
                     "  per_sheet_instruments: {4: gemini-cli}\n"
                     "  per_sheet_instrument_config: {4: {model: flash}}\n"
                     "  per_sheet_fallbacks: {2: []}\n");
        assert_chain(s, 1, "claude-code", "gemini-cli", NULL);
        assert_chain(s, 2, "shell", NULL);              /* its own (empty) fallbacks */
        assert_chain(s, 3, "reviewer", "gemini-cli", NULL);
        assert_chain(s, 4, "gemini-cli", NULL);         /* a fallback equal to the primary is dropped */

        assert_int_equal(score_sheet_instruments(s, 3, &chain, &n), 0);
        assert_string_equal(chain[0].profile, "codex-cli");
        assert_string_equal(chain[0].config.model, "o3");               /* alias over score */
        assert_int_equal(chain[0].config.timeout_seconds, 100);         /* inherited */
        /* the score's model is for the score's instrument, not a fallback of another kind */
        assert_null(chain[1].config.model);
        assert_int_equal(chain[1].config.timeout_seconds, 100);
        score_instrument_choices_free(chain, n);

        assert_int_equal(score_sheet_instruments(s, 1, &chain, &n), 0);
        assert_string_equal(chain[0].config.model, "base-model");
        score_instrument_choices_free(chain, n);

        assert_int_equal(score_sheet_instruments(s, 4, &chain, &n), 0);
        assert_string_equal(chain[0].config.model, "flash");            /* sheet over all */
        score_instrument_choices_free(chain, n);

        assert_int_equal(score_sheet_instruments(s, 2, &chain, &n), 0);
        assert_string_equal(chain[0].profile, "cli");
        score_instrument_choices_free(chain, n);
        assert_string_equal(s->movements[1].name, "Middle");
        assert_null(s->movements[0].name);
}

static void test_movements_voices(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;
        s = parse_ok(HEAD "movements:\n  1: Opening\n  2: {name: Voices, voices: 3}\n");
        assert_int_equal(s->n_sheets, 5);
        assert_int_equal(s->sheets[3].stage, 2);
        assert_int_equal(s->sheets[3].instance, 3);
        assert_string_equal(s->movements[0].name, "Opening");

        parse_bad(HEAD "  fan_out: {2: 2}\nmovements: {2: {voices: 3}}\n", SCORE_E_BAD_VALUE,
                  "movements.2.voices", "fan_out gives it 2");
        parse_bad(HEAD "movements: {7: {name: x}}\n", SCORE_E_DEPENDENCY, NULL, "unknown stage 7");
}

static void test_cross_sheet_and_hooks(void **state) {
        _cleanup_score_free_ Score *s = NULL;

        (void) state;
        s = parse_ok(HEAD
                     "cross_sheet:\n"
                     "  auto_capture_stdout: true\n"
                     "  max_output_chars: 50\n"
                     "  lookback_sheets: 1\n"
                     "  capture_files: ['{{ workspace }}/out-{{ sheet_num - 1 }}.md']\n"
                     "on_success:\n"
                     "  - type: run_command\n    command: echo done\n"
                     "  - type: run_script\n    script: hooks/notify.sh\n    args: [a, b]\n    on_failure: abort\n"
                     "  - type: run_job\n    job_path: ../next.yaml\n    description: chain\n    detached: true\n"
                     "concert: {max_chain_depth: 2, cooldown_between_jobs_seconds: 1.5}\n"
                     "rate_limit: {wait_minutes: 2, max_waits: 5}\n"
                     "retry: {max_completion_attempts: 4, completion_threshold_percent: 60, completion_delay_seconds: 0}\n");
        assert_true(s->cross_sheet.enabled);
        assert_int_equal(s->cross_sheet.max_output_chars, 50);
        assert_int_equal(s->cross_sheet.lookback_sheets, 1);
        assert_int_equal(strv_length(s->cross_sheet.capture_files), 1);
        assert_int_equal(s->n_on_success, 3);
        assert_int_equal(s->on_success[0].type, SCORE_HOOK_RUN_COMMAND);
        assert_int_equal(s->on_success[0].timeout_seconds, 300);
        assert_string_equal(s->on_success[1].command, "/base/hooks/notify.sh");
        assert_true(s->on_success[1].abort_on_failure);
        assert_int_equal(strv_length(s->on_success[1].args), 2);
        assert_string_equal(s->on_success[2].job_path, "/next.yaml");
        assert_int_equal(s->concert.max_chain_depth, 2);
        assert_true(s->concert.cooldown_between_jobs_seconds == 1.5);
        assert_true(s->rate_limit.wait_seconds == 120);
        assert_int_equal(s->rate_limit.max_waits, 5);
        assert_int_equal(s->completion.max_attempts, 4);
        assert_true(s->completion.threshold_percent == 60);
        /* detached: the original's own runtime knob, reported */
        assert_non_null(strstr(s->warnings[0], "on_success[2].detached"));

        parse_bad(HEAD "on_success: [{type: run_job}]\n", SCORE_E_MISSING_KEY, "on_success[0].job_path", "required");
        parse_bad(HEAD "on_success: [{type: run_job, job_path: x.txt}]\n", SCORE_E_BAD_VALUE, NULL, "not a score");
        parse_bad(HEAD "on_success: [{type: email}]\n", SCORE_E_BAD_VALUE, "on_success[0].type", "unknown hook type");
        parse_bad(HEAD "cross_sheet: {max_output_chars: 0}\n", SCORE_E_BAD_VALUE, NULL, ">= 1");
        parse_bad(HEAD "retry: {completion_threshold_percent: 101}\n", SCORE_E_BAD_VALUE, NULL, "at most 100");
        parse_bad(HEAD "concert: {max_chain_depth: 1000}\n", SCORE_E_BAD_VALUE, NULL, "at most 100");
}

static void test_codes(void **state) {
        (void) state;

        parse_bad("name: t\nsheet: {size: 1\n", SCORE_E_YAML, NULL, "f.yaml:3:1");
        parse_bad("name: t\n", SCORE_E_MISSING_KEY, "sheet", "required key is missing");
        parse_bad(HEAD "retry: []\n", SCORE_E_WRONG_TYPE, "retry", "expected a mapping");
        parse_bad(HEAD "sheeet: 1\n", SCORE_E_UNKNOWN_KEY, "sheeet", "unknown key");
        parse_bad(HEAD "  dependencies: {1: [2], 2: [1]}\n", SCORE_E_DEPENDENCY, NULL, "cycle");
        parse_bad(HEAD "prompt: {template: '{% if x %}'}\n", SCORE_E_TEMPLATE, "prompt.template", NULL);
        parse_bad(HEAD "instruments: {a: {profile: b}, b: {profile: c}}\n", SCORE_E_BAD_VALUE, NULL, "names alias");
        parse_bad(HEAD "sheet_x: 1\n", SCORE_E_UNKNOWN_KEY, NULL, "[E005]");
        parse_bad(HEAD "sheet:\n", SCORE_E_YAML, NULL, "duplicate key");

        /* every code has a stable text */
        for (ScoreCode c = 0; c < _SCORE_CODE_MAX; c++) {
                assert_non_null(score_code_to_string(c));
                assert_non_null(score_code_to_name(c));
                assert_true(score_code_is_error(c) == (score_code_to_string(c)[0] == 'E'));
        }
}

static void test_check_instruments(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *reg = NULL;
        _cleanup_(score_diagnostic_done) ScoreDiagnostic d = {};
        _cleanup_score_free_ Score *s = NULL, *bad = NULL;
        bool saw_fallback = false, saw_exe = false;

        (void) state;
        assert_int_equal(instrument_registry_new(&reg), 0);
        assert_int_equal(instrument_registry_add_builtin(reg), 0);

        s = parse_ok(HEAD "instrument: claude-code\ninstrument_fallbacks: [anthropic_api, cli]\n");
        /* an empty search path: no executable is found */
        assert_int_equal(score_check_instruments(s, reg, "/nonexistent", &d), 0);
        for (size_t i = 0; i < s->n_diagnostics; i++) {
                assert_int_equal(s->diagnostics[i].code, SCORE_W_INSTRUMENT);
                saw_fallback = saw_fallback || strstr(s->diagnostics[i].message, "'anthropic_api'");
                saw_exe = saw_exe || strstr(s->diagnostics[i].message, "runs 'claude'");
        }
        assert_true(saw_fallback && saw_exe);
        /* reported once, not once per sheet */
        assert_int_equal(s->n_diagnostics, 3);  /* anthropic_api, claude, bash */

        bad = parse_ok(HEAD "instrument: nosuch\n");
        assert_int_equal(score_check_instruments(bad, reg, NULL, &d), -EINVAL);
        assert_int_equal(d.code, SCORE_E_INSTRUMENT);
        assert_non_null(strstr(d.message, "'nosuch'"));
}

static void test_plan_command(void **state) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *reg = NULL;
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *instrument = NULL, *error = NULL;
        const char *delivery = NULL;

        (void) state;
        assert_int_equal(instrument_registry_new(&reg), 0);
        assert_int_equal(instrument_registry_add_builtin(reg), 0);
        s = parse_ok(HEAD "instrument: cli\n");
        assert_int_equal(score_plan_command(s, 1, reg, "/usr/bin:/bin", "echo hi", &instrument, &argv, &delivery, &error), 0);
        assert_string_equal(instrument, "cli");
        assert_string_equal(delivery, "flag");
        assert_int_equal(strv_length(argv), 3);
        assert_true(endswith(argv[0], "/bash"));
        assert_string_equal(argv[1], "-c");
        assert_string_equal(argv[2], SCORE_PLAN_PROMPT_PLACEHOLDER);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_precedence),
                cmocka_unit_test(test_movements_voices),
                cmocka_unit_test(test_cross_sheet_and_hooks),
                cmocka_unit_test(test_codes),
                cmocka_unit_test(test_check_instruments),
                cmocka_unit_test(test_plan_command),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

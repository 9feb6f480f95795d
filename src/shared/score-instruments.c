/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "score-instruments.h"

static int add_warning(Score *s, ScoreCode code, char *message /* takes */) {
        ScoreDiagnostic d = {
                .code = code,
                .file = strdup(strna(s->source)),
                .message = message,
        };
        ScoreDiagnostic *t;
        char *w;

        if (!d.file || !d.message)
                goto oom;
        /* the same problem on many sheets is one problem */
        for (size_t i = 0; i < s->n_diagnostics; i++)
                if (s->diagnostics[i].code == code && streq_ptr(s->diagnostics[i].message, message)) {
                        score_diagnostic_done(&d);
                        return 0;
                }
        w = score_diagnostic_format(&d);
        if (!w || strv_push(&s->warnings, w) < 0) {
                free(w);
                goto oom;
        }
        t = reallocarray(s->diagnostics, s->n_diagnostics + 1, sizeof(ScoreDiagnostic));
        if (!t)
                goto oom;
        s->diagnostics = t;
        s->diagnostics[s->n_diagnostics++] = d;
        return 0;
oom:
        score_diagnostic_done(&d);
        return -ENOMEM;
}

static int check_executable(Score *s, const InstrumentProfile *p, const char *search_path) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!p->has_cli || !p->command.executable)
                return 0;
        r = find_executable(p->command.executable, search_path ?: getenv("PATH"), &path);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return add_warning(s, SCORE_W_INSTRUMENT,
                                   strdup_printf("instrument '%s' runs '%s', which is not installed here (not in PATH)",
                                                 p->name, p->command.executable));
        return 0;
}

int score_check_instruments(Score *s, const InstrumentRegistry *reg, const char *search_path, ScoreDiagnostic *ret_error) {
        /* a profile's executable is looked up once, not once per sheet */
        _cleanup_free_ const InstrumentProfile **checked = calloc(MAX(reg->n, (size_t) 1), sizeof(InstrumentProfile *));
        size_t n_checked = 0;
        int r;

        if (!checked)
                return -ENOMEM;

        for (size_t i = 0; i < s->n_sheets; i++) {
                ScoreInstrumentChoice *chain = NULL;
                size_t n = 0;

                r = score_sheet_instruments(s, s->sheets[i].num, &chain, &n);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n; k++) {
                        const InstrumentProfile *p = instrument_registry_get(reg, chain[k].profile);
                        const char *via = streq(chain[k].name, chain[k].profile) ? "" : " (alias of '";

                        if (p && instrument_profile_runnable(p)) {
                                bool seen = false;

                                for (size_t c = 0; c < n_checked; c++)
                                        seen = seen || checked[c] == p;
                                if (seen)
                                        continue;
                                if (n_checked < reg->n)
                                        checked[n_checked++] = p;
                                r = check_executable(s, p, search_path);
                                if (r < 0)
                                        break;
                                continue;
                        }
                        if (k == 0) {
                                if (ret_error) {
                                        *ret_error = (ScoreDiagnostic) {
                                                .code = SCORE_E_INSTRUMENT,
                                                .file = strdup(strna(s->source)),
                                                .key = strdup("instrument"),
                                                .message = strdup_printf(
                                                        "sheet %u plays instrument '%s'%s%s%s, which %s; "
                                                        "'mariannectl instruments' lists the known ones",
                                                        s->sheets[i].num, chain[k].name, via,
                                                        *via ? chain[k].profile : "", *via ? "')" : "",
                                                        p ? "is of a kind that cannot run" : "has no profile"),
                                        };
                                        if (!ret_error->file || !ret_error->key || !ret_error->message)
                                                r = -ENOMEM;
                                        else
                                                r = -EINVAL;
                                } else
                                        r = -EINVAL;
                                break;
                        }
                        r = add_warning(s, SCORE_W_INSTRUMENT,
                                        strdup_printf("fallback instrument '%s' %s here; it is skipped",
                                                      chain[k].name, p ? "cannot run" : "has no profile"));
                        if (r < 0)
                                break;
                }
                score_instrument_choices_free(chain, n);
                if (r < 0)
                        return r;
        }

        if (!s->instrument_given) {
                r = add_warning(s, SCORE_W_DEFAULT,
                                strdup("no 'instrument' given: sheets run as 'cli' (bash), "
                                       "where the original Marianne would use claude-code"));
                if (r < 0)
                        return r;
        }
        return 0;
}

int score_plan_command(const Score *s, unsigned num, const InstrumentRegistry *reg, const char *search_path,
                       const char *prompt, char **ret_instrument, char ***ret_argv, const char **ret_delivery,
                       char **ret_error) {
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        ScoreInstrumentChoice *chain = NULL;
        InstrumentConfig config = {};
        const InstrumentProfile *p = NULL;
        _cleanup_free_ char *name = NULL;
        size_t n = 0;
        int r;

        r = score_sheet_instruments(s, num, &chain, &n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n && !p; k++) {
                p = instrument_registry_get(reg, chain[k].profile);
                if (p && !instrument_profile_runnable(p))
                        p = NULL;
                if (p) {
                        ScoreInstrumentConfig *sc = &chain[k].config;

                        config = (InstrumentConfig) {
                                .model = sc->model,
                                .timeout_seconds = sc->timeout_seconds,
                                .skip_permissions = sc->skip_permissions > 0,
                                .disable_mcp = sc->disable_mcp > 0,
                                .allowed_tools = sc->allowed_tools,
                                .extra_flags = sc->extra_flags,
                                .system_prompt = sc->system_prompt,
                        };
                        r = instrument_build_invocation(p, &config, prompt, search_path, NULL, NULL, &inv, ret_error);
                }
        }
        if (!p) {
                if (ret_error)
                        *ret_error = strdup_printf("no instrument of the chain of sheet %u (%s...) has a profile",
                                                   num, n > 0 ? chain[0].name : "?");
                r = -ENOENT;
        }
        if (r >= 0)
                name = strdup(p->name);
        score_instrument_choices_free(chain, n);   /* config borrowed from it: unused from here */
        if (r < 0)
                return r;
        if (!name)
                return -ENOMEM;

        /* the prompt is shown once, elsewhere: here only where it goes */
        STRV_FOREACH(a, inv.argv)
                if (streq(*a, prompt) && inv.delivery != INSTRUMENT_PROMPT_STDIN)
                        if (free_and_strdup((char **) a, SCORE_PLAN_PROMPT_PLACEHOLDER) < 0)
                                return -ENOMEM;

        *ret_instrument = TAKE_PTR(name);
        *ret_argv = TAKE_PTR(inv.argv);
        *ret_delivery = instrument_prompt_delivery_to_string(inv.delivery);
        return 0;
}

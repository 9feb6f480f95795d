/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "score.h"
#include "template.h"

const ScoreLimits score_limits_default = {
        .max_score_bytes = 1024 * 1024,
        .max_sheets = 10000,
        .max_depth = 64,
        .max_aliases = 100,
        .max_template_output = TEMPLATE_OUTPUT_MAX,
};

static const char *const validation_type_table[_VALIDATION_TYPE_MAX] = {
        [VALIDATION_FILE_EXISTS] = "file_exists",
        [VALIDATION_FILE_MODIFIED] = "file_modified",
        [VALIDATION_CONTENT_CONTAINS] = "content_contains",
        [VALIDATION_CONTENT_REGEX] = "content_regex",
        [VALIDATION_COMMAND_SUCCEEDS] = "command_succeeds",
};

const char *validation_type_to_string(ValidationType t) {
        if (t < 0 || t >= _VALIDATION_TYPE_MAX)
                return NULL;
        return validation_type_table[t];
}

ValidationType validation_type_from_string(const char *s) {
        if (!s)
                return _VALIDATION_TYPE_INVALID;
        for (ValidationType t = 0; t < _VALIDATION_TYPE_MAX; t++)
                if (streq(validation_type_table[t], s))
                        return t;
        return _VALIDATION_TYPE_INVALID;
}

static const struct {
        const char *code;
        const char *name;
} score_code_table[_SCORE_CODE_MAX] = {
        [SCORE_E_YAML] = { "E001", "yaml-syntax" },
        [SCORE_E_LIMIT] = { "E002", "over-limit" },
        [SCORE_E_MISSING_KEY] = { "E003", "missing-key" },
        [SCORE_E_WRONG_TYPE] = { "E004", "wrong-type" },
        [SCORE_E_UNKNOWN_KEY] = { "E005", "unknown-key" },
        [SCORE_E_BAD_VALUE] = { "E006", "bad-value" },
        [SCORE_E_DEPENDENCY] = { "E007", "bad-dependency" },
        [SCORE_E_TEMPLATE] = { "E008", "template-error" },
        [SCORE_E_INSTRUMENT] = { "E009", "unknown-instrument" },
        [SCORE_E_FILE] = { "E010", "unreadable-file" },
        [SCORE_W_UNSUPPORTED] = { "W001", "not-supported" },
        [SCORE_W_INSTRUMENT] = { "W002", "instrument-unavailable" },
        [SCORE_W_DEFAULT] = { "W003", "different-default" },
};

const char *score_code_to_string(ScoreCode c) {
        return c < _SCORE_CODE_MAX ? score_code_table[c].code : NULL;
}

const char *score_code_to_name(ScoreCode c) {
        return c < _SCORE_CODE_MAX ? score_code_table[c].name : NULL;
}

void score_diagnostic_done(ScoreDiagnostic *d) {
        if (!d)
                return;
        free(d->file);
        free(d->key);
        free(d->message);
        *d = (ScoreDiagnostic) {};
}

char *score_diagnostic_format(const ScoreDiagnostic *d) {
        _cleanup_free_ char *place = NULL, *key = NULL;

        place = d->line > 0 ? strdup_printf("%s:%u:%u", strna(d->file), d->line, d->column) : strdup(strna(d->file));
        key = d->key ? strdup_printf("key '%s': ", d->key) : strdup("");
        if (!place || !key)
                return NULL;
        return strdup_printf("%s: %s%s [%s]", place, key, strna(d->message), strna(score_code_to_string(d->code)));
}

static const char *const hook_type_table[_SCORE_HOOK_TYPE_MAX] = {
        [SCORE_HOOK_RUN_COMMAND] = "run_command",
        [SCORE_HOOK_RUN_SCRIPT] = "run_script",
        [SCORE_HOOK_RUN_JOB] = "run_job",
};

const char *score_hook_type_to_string(ScoreHookType t) {
        if (t < 0 || t >= _SCORE_HOOK_TYPE_MAX)
                return NULL;
        return hook_type_table[t];
}

ScoreHookType score_hook_type_from_string(const char *s) {
        if (!s)
                return _SCORE_HOOK_TYPE_INVALID;
        for (ScoreHookType t = 0; t < _SCORE_HOOK_TYPE_MAX; t++)
                if (streq(hook_type_table[t], s))
                        return t;
        return _SCORE_HOOK_TYPE_INVALID;
}

void score_instrument_config_done(ScoreInstrumentConfig *c) {
        if (!c)
                return;
        free(c->model);
        strv_free(c->allowed_tools);
        strv_free(c->extra_flags);
        free(c->system_prompt);
        *c = (ScoreInstrumentConfig) SCORE_INSTRUMENT_CONFIG_INIT;
}

/* Fields set in over replace those in into; lists replace, not append: a
 * movement that names its own extra_flags means exactly those. */
int score_instrument_config_merge(ScoreInstrumentConfig *into, const ScoreInstrumentConfig *over) {
        if (!over)
                return 0;
        if (over->model && free_and_strdup(&into->model, over->model) < 0)
                return -ENOMEM;
        if (over->timeout_seconds > 0)
                into->timeout_seconds = over->timeout_seconds;
        if (over->skip_permissions >= 0)
                into->skip_permissions = over->skip_permissions;
        if (over->disable_mcp >= 0)
                into->disable_mcp = over->disable_mcp;
        if (over->allowed_tools) {
                char **l = strv_copy(over->allowed_tools);
                if (!l)
                        return -ENOMEM;
                strv_free(into->allowed_tools);
                into->allowed_tools = l;
        }
        if (over->extra_flags) {
                char **l = strv_copy(over->extra_flags);
                if (!l)
                        return -ENOMEM;
                strv_free(into->extra_flags);
                into->extra_flags = l;
        }
        if (over->system_prompt && free_and_strdup(&into->system_prompt, over->system_prompt) < 0)
                return -ENOMEM;
        return 0;
}

void score_instrument_choices_free(ScoreInstrumentChoice *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].name);
                free(c[i].profile);
                score_instrument_config_done(&c[i].config);
        }
        free(c);
}

static const ScoreInstrumentAlias *score_find_alias(const Score *s, const char *name) {
        for (size_t i = 0; i < s->n_aliases; i++)
                if (streq(s->aliases[i].name, name))
                        return s->aliases + i;
        return NULL;
}

static const char *score_resolve_profile(const Score *s, const char *name) {
        const ScoreInstrumentAlias *a = name ? score_find_alias(s, name) : NULL;

        return a ? a->profile : name;
}

/* One link of the chain: name resolved through the aliases.  A config
 * block belongs to the instrument it is written for: instrument_config to
 * the score's instrument, a movement's to the movement's, an alias's to
 * the alias, a per-sheet one to the sheet's primary.  Only the timeout is
 * the score's for every link: how long a sheet may take does not depend on
 * who plays it. */
static int choice_make(const Score *s, const Sheet *sh, const char *name, bool primary, ScoreInstrumentChoice *ret) {
        const ScoreInstrumentAlias *a = score_find_alias(s, name);
        const ScoreMovement *mv = s->movements && sh->stage >= 1 && sh->stage <= s->total_stages ?
                s->movements + sh->stage - 1 : NULL;
        const char *profile = a ? a->profile : name;
        ScoreInstrumentChoice c = {
                .config = SCORE_INSTRUMENT_CONFIG_INIT,
        };
        int r = 0;

        c.name = strdup(name);
        c.profile = strdup(profile);
        if (!c.name || !c.profile)
                goto oom;
        c.config.timeout_seconds = s->instrument_config.timeout_seconds;
        if (streq_ptr(score_resolve_profile(s, s->instrument ?: "cli"), profile))
                r = score_instrument_config_merge(&c.config, &s->instrument_config);
        if (r >= 0 && a)
                r = score_instrument_config_merge(&c.config, &a->config);
        if (r >= 0 && mv && streq_ptr(score_resolve_profile(s, mv->instrument ?: s->instrument ?: "cli"), profile))
                r = score_instrument_config_merge(&c.config, &mv->config);
        if (r >= 0 && primary && s->sheet_config)
                r = score_instrument_config_merge(&c.config, &s->sheet_config[sh->num - 1]);
        if (r < 0)
                goto oom;
        *ret = c;
        return 0;
oom:
        free(c.name);
        free(c.profile);
        score_instrument_config_done(&c.config);
        return -ENOMEM;
}

int score_sheet_instruments(const Score *s, unsigned num, ScoreInstrumentChoice **ret, size_t *ret_n) {
        const Sheet *sh = score_get_sheet(s, num);
        ScoreInstrumentChoice *chain = NULL;
        const char *primary = NULL;
        char **fallbacks;
        size_t n = 0;
        int r;

        if (!sh)
                return -ENOENT;

        if (s->sheet_instrument && s->sheet_instrument[num - 1])
                primary = s->sheet_instrument[num - 1];
        else if (s->movements && s->movements[sh->stage - 1].instrument)
                primary = s->movements[sh->stage - 1].instrument;
        else
                primary = s->instrument ?: "cli";

        fallbacks = s->sheet_fallbacks && s->sheet_fallbacks[num - 1] ? s->sheet_fallbacks[num - 1] :
                s->instrument_fallbacks;

        chain = calloc(1 + strv_length(fallbacks), sizeof(ScoreInstrumentChoice));
        if (!chain)
                return -ENOMEM;
        r = choice_make(s, sh, primary, true, chain + n);
        if (r < 0)
                goto fail;
        n++;
        STRV_FOREACH(f, fallbacks) {
                bool dup = false;

                /* a fallback equal to an earlier link would only repeat it */
                for (size_t i = 0; i < n; i++)
                        if (streq(chain[i].name, *f))
                                dup = true;
                if (dup)
                        continue;
                r = choice_make(s, sh, *f, false, chain + n);
                if (r < 0)
                        goto fail;
                n++;
        }

        *ret = chain;
        *ret_n = n;
        return 0;
fail:
        score_instrument_choices_free(chain, n);
        return r;
}

static void score_hook_done(ScoreHook *h) {
        free(h->command);
        strv_free(h->args);
        free(h->job_path);
        free(h->working_directory);
        free(h->description);
}

void score_free(Score *s) {
        if (!s)
                return;

        score_instrument_config_done(&s->instrument_config);
        strv_free(s->instrument_fallbacks);
        for (size_t i = 0; i < s->n_aliases; i++) {
                free(s->aliases[i].name);
                free(s->aliases[i].profile);
                score_instrument_config_done(&s->aliases[i].config);
        }
        free(s->aliases);
        if (s->movements)
                for (unsigned i = 0; i < s->total_stages; i++) {
                        free(s->movements[i].name);
                        free(s->movements[i].instrument);
                        score_instrument_config_done(&s->movements[i].config);
                }
        free(s->movements);
        for (size_t i = 0; i < s->n_sheets; i++) {
                if (s->sheet_instrument)
                        free(s->sheet_instrument[i]);
                if (s->sheet_config)
                        score_instrument_config_done(&s->sheet_config[i]);
                if (s->sheet_fallbacks)
                        strv_free(s->sheet_fallbacks[i]);
        }
        free(s->sheet_instrument);
        free(s->sheet_config);
        free(s->sheet_fallbacks);
        strv_free(s->cross_sheet.capture_files);
        for (size_t i = 0; i < s->n_on_success; i++)
                score_hook_done(s->on_success + i);
        free(s->on_success);
        score_slurm_done(&s->runner.slurm);
        for (size_t i = 0; i < s->n_diagnostics; i++)
                score_diagnostic_done(s->diagnostics + i);
        free(s->diagnostics);

        free(s->source);
        free(s->base_dir);
        free(s->name);
        free(s->description);
        free(s->workspace);
        free(s->instrument);
        free(s->fan_out);
        free(s->prompt_template);
        free(s->prompt_template_name);
        value_free(s->variables);

        for (size_t i = 0; i < s->n_validations; i++) {
                ScoreValidation *v = s->validations + i;
                free(v->path);
                free(v->pattern);
                free(v->command);
                free(v->description);
                free(v->condition);
        }
        free(s->validations);

        for (size_t i = 0; i < s->n_sheets; i++)
                free(s->sheets[i].deps);
        free(s->sheets);

        strv_free(s->warnings);
        free(s);
}

unsigned score_stage_count(unsigned size, unsigned total_items, unsigned start_item) {
        uint64_t items;

        if (size == 0 || start_item == 0 || start_item > total_items)
                return 0;

        items = (uint64_t) total_items - start_item + 1;
        return (unsigned) ((items + size - 1) / size);
}

void score_stage_items(unsigned size, unsigned total_items, unsigned start_item, unsigned stage,
                       unsigned *ret_start, unsigned *ret_end) {
        uint64_t start, end;

        /* 64-bit so that huge sizes cannot wrap around into a bogus range. */
        start = (uint64_t) (stage > 0 ? stage - 1 : 0) * size + start_item;
        end = start + (size > 0 ? size : 1) - 1;
        if (end > total_items)
                end = total_items;

        if (ret_start)
                *ret_start = (unsigned) MIN(start, (uint64_t) UINT32_MAX);
        if (ret_end)
                *ret_end = (unsigned) end;
}

const Sheet *score_get_sheet(const Score *s, unsigned num) {
        if (!s || num == 0 || num > s->n_sheets)
                return NULL;
        return s->sheets + num - 1;
}

enum { WHITE, GREY, BLACK };

typedef struct CycleSearch {
        unsigned n_stages;
        unsigned *const *deps;
        const size_t *n_deps;
        uint8_t *color;
        unsigned *path;         /* the current DFS path */
        size_t n_path;
} CycleSearch;

static int cycle_dfs(CycleSearch *c, unsigned stage, char **ret_cycle) {
        int r;

        c->color[stage - 1] = GREY;
        c->path[c->n_path++] = stage;

        for (size_t i = 0; i < c->n_deps[stage - 1]; i++) {
                unsigned d = c->deps[stage - 1][i];

                if (d == 0 || d > c->n_stages)
                        continue;

                if (c->color[d - 1] == GREY) {
                        _cleanup_free_ char *s = NULL;
                        size_t k = c->n_path;

                        while (k > 0 && c->path[k - 1] != d)
                                k--;
                        for (size_t j = k - 1; j < c->n_path; j++) {
                                char *t = strdup_printf("%s%u -> ", strempty(s), c->path[j]);
                                if (!t)
                                        return -ENOMEM;
                                free(s);
                                s = t;
                        }
                        *ret_cycle = strdup_printf("%s%u", strempty(s), d);
                        return *ret_cycle ? 1 : -ENOMEM;
                }
                if (c->color[d - 1] == WHITE) {
                        r = cycle_dfs(c, d, ret_cycle);
                        if (r != 0)
                                return r;
                }
        }

        c->color[stage - 1] = BLACK;
        c->n_path--;
        return 0;
}

int score_find_stage_cycle(unsigned n_stages, unsigned *const *deps, const size_t *n_deps, char **ret_cycle) {
        _cleanup_free_ uint8_t *color = NULL;
        _cleanup_free_ unsigned *path = NULL;
        CycleSearch c;
        int r;

        if (!ret_cycle)
                return -EINVAL;
        if (!deps || n_stages == 0)
                return 0;       /* the linear chain has no cycle */

        color = calloc(n_stages, sizeof(uint8_t));
        path = calloc(n_stages, sizeof(unsigned));
        if (!color || !path)
                return -ENOMEM;

        c = (CycleSearch) {
                .n_stages = n_stages,
                .deps = deps,
                .n_deps = n_deps,
                .color = color,
                .path = path,
        };

        for (unsigned s = 1; s <= n_stages; s++) {
                if (color[s - 1] != WHITE)
                        continue;
                r = cycle_dfs(&c, s, ret_cycle);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int cmp_unsigned(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
        return x < y ? -1 : x > y;
}

/* Which instances of stage B (b of them, first sheet fb) instance i (0-based)
 * of stage A (a instances) waits for: 1→N fans out, N→1 fans in, N→N pairs
 * up, anything else is all-to-all. */
static int add_stage_deps(Sheet *sheet, unsigned i, unsigned a, unsigned b, unsigned fb,
                          uint64_t *edges, uint64_t max_edges) {
        unsigned *t, from, count;

        if (b == 1) {
                from = fb;
                count = 1;
        } else if (a == b) {
                from = fb + i;
                count = 1;
        } else {
                from = fb;
                count = b;
        }

        *edges += count;
        if (*edges > max_edges)
                return -E2BIG;

        t = reallocarray(sheet->deps, sheet->n_deps + count, sizeof(unsigned));
        if (!t)
                return -ENOMEM;
        sheet->deps = t;
        for (unsigned k = 0; k < count; k++)
                sheet->deps[sheet->n_deps++] = from + k;
        return 0;
}

int score_expand_sheets(Score *s, unsigned *const *deps, const size_t *n_deps, unsigned max_sheets) {
        _cleanup_free_ unsigned *first = NULL;
        Sheet *sheets;
        uint64_t total = 0, edges = 0, max_edges;
        unsigned num = 0;
        int r;

        if (!s || !s->fan_out || s->sheets)
                return -EINVAL;

        for (unsigned st = 0; st < s->total_stages; st++)
                total += s->fan_out[st];
        if (total > max_sheets)
                return -E2BIG;
        if (total == 0)
                return -EINVAL;

        /* All-to-all between two wide fan-outs grows quadratically; keep
         * the graph proportional to the sheet limit. */
        max_edges = (uint64_t) max_sheets * SCORE_DEPS_PER_SHEET_MAX;

        first = calloc(s->total_stages, sizeof(unsigned));
        sheets = calloc(total, sizeof(Sheet));
        if (!first || !sheets) {
                free(sheets);
                return -ENOMEM;
        }
        s->sheets = sheets;
        s->n_sheets = total;

        for (unsigned st = 0; st < s->total_stages; st++) {
                first[st] = num + 1;
                num += s->fan_out[st];
        }

        for (unsigned st = 1; st <= s->total_stages; st++) {
                unsigned a = s->fan_out[st - 1], start, end;

                score_stage_items(s->sheet_size, s->total_items, s->start_item, st, &start, &end);

                for (unsigned i = 0; i < a; i++) {
                        Sheet *sh = s->sheets + first[st - 1] - 1 + i;

                        *sh = (Sheet) {
                                .num = first[st - 1] + i,
                                .stage = st,
                                .instance = i + 1,
                                .fan_count = a,
                                .start_item = start,
                                .end_item = end,
                        };

                        if (!deps) {
                                if (st > 1) {
                                        r = add_stage_deps(sh, i, a, s->fan_out[st - 2], first[st - 2],
                                                           &edges, max_edges);
                                        if (r < 0)
                                                return r;
                                }
                        } else
                                for (size_t k = 0; k < n_deps[st - 1]; k++) {
                                        unsigned b = deps[st - 1][k];

                                        if (b == 0 || b > s->total_stages || b == st)
                                                return -EINVAL;
                                        r = add_stage_deps(sh, i, a, s->fan_out[b - 1], first[b - 1],
                                                           &edges, max_edges);
                                        if (r < 0)
                                                return r;
                                }

                        if (sh->n_deps > 1) {
                                size_t w = 1;

                                qsort(sh->deps, sh->n_deps, sizeof(unsigned), cmp_unsigned);
                                for (size_t k = 1; k < sh->n_deps; k++)
                                        if (sh->deps[k] != sh->deps[w - 1])
                                                sh->deps[w++] = sh->deps[k];
                                sh->n_deps = w;
                        }
                }
        }

        return 0;
}

/* The profile the sheet's primary instrument resolves to. */
static int sheet_instrument_name(const Score *s, unsigned num, char **ret) {
        ScoreInstrumentChoice *chain = NULL;
        size_t n = 0;
        int r;

        r = score_sheet_instruments(s, num, &chain, &n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(chain[0].profile);
        score_instrument_choices_free(chain, n);
        return 0;
}

/* {1: {name, instrument, voices}, ...} for every movement the score
 * declares: what the original's `movements` template variable holds.
 * Undeclared stages are left out, which also keeps a context of a score
 * with thousands of plain stages small. */
static int movements_value(const Score *s, Value **ret) {
        _cleanup_value_free_ Value *all = value_new_map();
        int r;

        if (!all)
                return -ENOMEM;
        for (unsigned st = 1; s->movements && st <= s->total_stages; st++) {
                const ScoreMovement *mv = s->movements + st - 1;

                _cleanup_value_free_ Value *m = NULL;
                const char *instrument = mv->instrument ?: s->instrument;

                if (!mv->name && !mv->instrument && mv->voices == 0)
                        continue;
                m = value_new_map();
                if (!m)
                        return -ENOMEM;
                r = value_map_set(m, "name", mv->name ? value_new_string(mv->name) : value_new_null());
                if (r >= 0)
                        r = value_map_set(m, "instrument", value_new_string(instrument ?: "cli"));
                if (r >= 0)
                        r = value_map_set(m, "voices", value_new_int(s->fan_out ? s->fan_out[st - 1] : 1));
                if (r < 0)
                        return r;
                r = value_map_set_key(all, value_new_int(st), TAKE_PTR(m));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(all);
        return 0;
}

int score_sheet_context(const Score *s, unsigned num, Value **ret) {
        _cleanup_value_free_ Value *ctx = NULL, *movements = NULL;
        _cleanup_free_ char *instrument = NULL;
        const Sheet *sh;
        struct {
                const char *name;
                int64_t value;
        } ints[] = {
                { "sheet_num", 0 },
                { "total_sheets", 0 },
                { "stage", 0 },
                { "movement", 0 },
                { "instance", 0 },
                { "voice", 0 },
                { "fan_count", 0 },
                { "voice_count", 0 },
                { "total_stages", 0 },
                { "total_movements", 0 },
                { "start_item", 0 },
                { "end_item", 0 },
        };
        int r;

        if (!s || !ret)
                return -EINVAL;
        sh = score_get_sheet(s, num);
        if (!sh)
                return -ENOENT;

        ctx = s->variables ? value_copy(s->variables) : value_new_map();
        if (!ctx)
                return -ENOMEM;
        if (ctx->type != VALUE_MAP)
                return -EINVAL;

        ints[0].value = sh->num;
        ints[1].value = (int64_t) s->n_sheets;
        ints[2].value = ints[3].value = sh->stage;
        ints[4].value = ints[5].value = sh->instance;
        ints[6].value = ints[7].value = sh->fan_count;
        ints[8].value = ints[9].value = s->total_stages;
        ints[10].value = sh->start_item;
        ints[11].value = sh->end_item;

        for (size_t i = 0; i < ELEMENTSOF(ints); i++) {
                Value *v = value_new_int(ints[i].value);
                if (!v)
                        return -ENOMEM;
                r = value_map_set(ctx, ints[i].name, v);
                if (r < 0)
                        return r;
        }

        r = value_map_set(ctx, "workspace", value_new_string(strempty(s->workspace)));
        if (r < 0)
                return r;
        r = sheet_instrument_name(s, num, &instrument);
        if (r < 0)
                return r;
        r = value_map_set(ctx, "instrument_name", value_new_string(instrument));
        if (r < 0)
                return r;
        r = value_map_set(ctx, "movement_name",
                          s->movements && s->movements[sh->stage - 1].name ?
                          value_new_string(s->movements[sh->stage - 1].name) : value_new_null());
        if (r < 0)
                return r;
        r = movements_value(s, &movements);
        if (r < 0)
                return r;
        r = value_map_set(ctx, "movements", TAKE_PTR(movements));
        if (r < 0)
                return r;
        /* Filled from earlier sheets' results by the conductor when the
         * score has cross_sheet; empty otherwise, so templates can always
         * test them. */
        r = value_map_set(ctx, "previous_outputs", value_new_map());
        if (r < 0)
                return r;
        r = value_map_set(ctx, "previous_files", value_new_map());
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

int score_render_prompt_with(const Score *s, unsigned num, const Value *extra, char **ret, char **ret_error) {
        _cleanup_value_free_ Value *ctx = NULL;
        _cleanup_free_ char *error = NULL;
        TemplateLimits limits = {
                .max_output = s->max_template_output > 0 ? s->max_template_output : TEMPLATE_OUTPUT_MAX,
        };
        int r;

        if (ret_error)
                *ret_error = NULL;

        r = score_sheet_context(s, num, &ctx);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: cannot build the template context of sheet %u: %s",
                                                   strna(s->source), num, strerror(-r));
                return r;
        }
        if (extra && extra->type == VALUE_MAP)
                for (size_t i = 0; i < extra->map.n; i++) {
                        r = value_map_set_key(ctx, value_copy(extra->map.keys[i]), value_copy(extra->map.values[i]));
                        if (r < 0)
                                return r;
                }

        if (!s->prompt_template) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }

        r = template_render_full(s->prompt_template_name ?: "prompt.template", s->prompt_template, ctx,
                                 &limits, ret, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: prompt of sheet %u: %s",
                                                   strna(s->source), num, error ?: strerror(-r));
                return r;
        }
        return 0;
}

int score_render_prompt(const Score *s, unsigned num, char **ret, char **ret_error) {
        return score_render_prompt_with(s, num, NULL, ret, ret_error);
}

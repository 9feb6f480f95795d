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

void score_free(Score *s) {
        if (!s)
                return;

        free(s->source);
        free(s->base_dir);
        free(s->name);
        free(s->description);
        free(s->workspace);
        free(s->instrument);
        free(s->fan_out);
        free(s->prompt_template);
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

int score_sheet_context(const Score *s, unsigned num, Value **ret) {
        _cleanup_value_free_ Value *ctx = NULL;
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
        r = value_map_set(ctx, "instrument_name", value_new_string(s->instrument ?: "cli"));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ctx);
        return 0;
}

int score_render_prompt(const Score *s, unsigned num, char **ret, char **ret_error) {
        _cleanup_value_free_ Value *ctx = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;

        r = score_sheet_context(s, num, &ctx);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: cannot build the template context of sheet %u: %s",
                                                   strna(s->source), num, strerror(-r));
                return r;
        }

        if (!s->prompt_template) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }

        r = template_render(s->prompt_template, ctx,
                            s->max_template_output > 0 ? s->max_template_output : TEMPLATE_OUTPUT_MAX,
                            ret, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: prompt of sheet %u: %s",
                                                   strna(s->source), num, error ?: strerror(-r));
                return r;
        }
        return 0;
}

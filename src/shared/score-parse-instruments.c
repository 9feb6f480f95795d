/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* Which instrument plays which sheet: instrument_config blocks, the
 * instruments: aliases, movements, and the per-sheet overrides.  Names are
 * only recorded here; whether a profile of that name exists is for the
 * caller to check against its instrument registry. */

#include <inttypes.h>

#include "score-parse-internal.h"

int parse_instrument_config_block(Ctx *c, const Node *m, const char *prefix, ScoreInstrumentConfig *ret) {
        const Node *model = NULL, *timeout = NULL, *skip = NULL, *mcp = NULL, *tools = NULL, *flags = NULL,
                *system_prompt = NULL;
        const KeySlot slots[] = {
                { "model", &model, NULL },
                { "timeout_seconds", &timeout, NULL },
                { "skip_permissions", &skip, NULL },
                { "auto_approve", &skip, NULL },        /* the same, as some profiles call it */
                { "disable_mcp", &mcp, NULL },
                { "allowed_tools", &tools, NULL },
                { "extra_flags", &flags, NULL },
                { "system_prompt", &system_prompt, NULL },
                {}
        };
        _cleanup_free_ char *key = NULL;
        bool b;
        int r;

        /* Everything else there is specific to one of the original's
         * backends: accepted and reported. */
        r = collect_mapping(c, m, prefix, slots, NULL, true);
        if (r < 0)
                return r;

#define KEY(k) SUBKEY(key, prefix, k)
        if (model && (r = get_string(c, model, KEY("model"), false, &ret->model)) < 0)
                return r;
        if (timeout && (r = get_uint(c, timeout, KEY("timeout_seconds"), 1, &ret->timeout_seconds)) < 0)
                return r;
        if (skip) {
                r = get_bool(c, skip, KEY("skip_permissions"), &b);
                if (r < 0)
                        return r;
                ret->skip_permissions = b;
        }
        if (mcp) {
                r = get_bool(c, mcp, KEY("disable_mcp"), &b);
                if (r < 0)
                        return r;
                ret->disable_mcp = b;
        }
        if (tools && (r = get_string_list(c, tools, KEY("allowed_tools"), &ret->allowed_tools)) < 0)
                return r;
        if (flags && (r = get_string_list(c, flags, KEY("extra_flags"), &ret->extra_flags)) < 0)
                return r;
        if (system_prompt && (r = get_string(c, system_prompt, KEY("system_prompt"), true, &ret->system_prompt)) < 0)
                return r;
#undef KEY
        return 0;
}

static int parse_alias(Ctx *c, const Node *k, const Node *v, ScoreInstrumentAlias *a) {
        _cleanup_free_ char *prefix = strdup_printf("instruments.%s", k->scalar), *key = NULL;
        const Node *profile = NULL, *config = NULL;
        const KeySlot slots[] = {
                { "profile", &profile, NULL },
                { "config", &config, NULL },
                {}
        };
        int r;

        if (!prefix)
                return -ENOMEM;
        r = get_string(c, k, prefix, false, &a->name);
        if (r < 0)
                return r;

        /* "reviewer: claude-code" is short for "reviewer: {profile: claude-code}" */
        if (v->type == NODE_SCALAR)
                return get_string(c, v, prefix, false, &a->profile);

        r = collect_mapping(c, v, prefix, slots, NULL, true);
        if (r < 0)
                return r;
        key = strdup_printf("%s.profile", prefix);
        if (!key)
                return -ENOMEM;
        if (!profile)
                return fail(c, v, key, -EINVAL, "required key is missing");
        r = get_string(c, profile, key, false, &a->profile);
        if (r < 0)
                return r;
        free(key);
        key = strdup_printf("%s.config", prefix);
        if (!key)
                return -ENOMEM;
        if (config)
                return parse_instrument_config_block(c, config, key, &a->config);
        return 0;
}

int parse_instruments(Ctx *c, const Node *m) {
        Score *s = c->score;
        int r;

        r = expect_type(c, m, "instruments", NODE_MAPPING);
        if (r < 0)
                return r;

        s->aliases = calloc(m->n_items / 2 + 1, sizeof(ScoreInstrumentAlias));
        if (!s->aliases)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                ScoreInstrumentAlias *a = s->aliases + s->n_aliases;

                a->config = (ScoreInstrumentConfig) SCORE_INSTRUMENT_CONFIG_INIT;
                s->n_aliases++;
                r = parse_alias(c, m->items[i], m->items[i + 1], a);
                if (r < 0)
                        return r;
                for (size_t j = 0; j + 1 < s->n_aliases; j++)
                        if (streq(s->aliases[j].name, a->name))
                                return fail(c, m->items[i], "instruments", -EINVAL,
                                            "alias '%s' is defined twice", a->name);
        }

        /* An alias naming another alias would make the chain ambiguous. */
        for (size_t i = 0; i < s->n_aliases; i++)
                for (size_t j = 0; j < s->n_aliases; j++)
                        if (i != j && streq(s->aliases[i].profile, s->aliases[j].name))
                                return fail(c, m, "instruments", -EINVAL,
                                            "alias '%s' names alias '%s'; aliases must name a profile",
                                            s->aliases[i].name, s->aliases[j].name);
        return 0;
}

static int parse_movement(Ctx *c, const Node *k, const Node *v, unsigned stage) {
        Score *s = c->score;
        ScoreMovement *mv = s->movements + stage - 1;
        _cleanup_free_ char *prefix = strdup_printf("movements.%u", stage), *key = NULL;
        const Node *name = NULL, *instrument = NULL, *config = NULL, *voices = NULL;
        const KeySlot slots[] = {
                { "name", &name, NULL },
                { "instrument", &instrument, NULL },
                { "instrument_config", &config, NULL },
                { "voices", &voices, NULL },
                {}
        };
        int r;

        if (!prefix)
                return -ENOMEM;
        if (node_is_null(v))
                return 0;
        /* "1: Research" names a movement and nothing else */
        if (v->type == NODE_SCALAR)
                return get_string(c, v, prefix, false, &mv->name);

        r = collect_mapping(c, v, prefix, slots, NULL, true);
        if (r < 0)
                return r;

#define KEY(x) SUBKEY(key, prefix, x)
        if (name && (r = get_string(c, name, KEY("name"), false, &mv->name)) < 0)
                return r;
        if (instrument && (r = get_string(c, instrument, KEY("instrument"), false, &mv->instrument)) < 0)
                return r;
        if (config && (r = parse_instrument_config_block(c, config, KEY("instrument_config"), &mv->config)) < 0)
                return r;
        if (voices) {
                r = get_uint(c, voices, KEY("voices"), 1, &mv->voices);
                if (r < 0)
                        return r;
                if (mv->voices > c->limits->max_sheets)
                        return fail(c, voices, key, -E2BIG, "%u voices are more than the limit of %u sheets",
                                    mv->voices, c->limits->max_sheets);
                if (s->fan_out[stage - 1] != 1 && s->fan_out[stage - 1] != mv->voices)
                        return fail(c, voices, key, -EINVAL,
                                    "movement %u has %u voices but sheet.fan_out gives it %u; give one of them",
                                    stage, mv->voices, s->fan_out[stage - 1]);
                s->fan_out[stage - 1] = mv->voices;
        }
#undef KEY
        (void) k;
        return 0;
}

int parse_movements(Ctx *c, const Node *m) {
        Score *s = c->score;
        int r;

        r = expect_type(c, m, "movements", NODE_MAPPING);
        if (r < 0)
                return r;

        s->movements = calloc(s->total_stages, sizeof(ScoreMovement));
        if (!s->movements)
                return -ENOMEM;
        for (unsigned i = 0; i < s->total_stages; i++)
                s->movements[i].config = (ScoreInstrumentConfig) SCORE_INSTRUMENT_CONFIG_INIT;

        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i];
                _cleanup_free_ char *path = strdup_printf("movements.%s", k->scalar);
                unsigned stage;

                if (!path)
                        return -ENOMEM;
                r = parse_stage_number(c, k, path, "movement key", &stage);
                if (r < 0)
                        return r;
                r = parse_movement(c, k, m->items[i + 1], stage);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_sheet_number(Ctx *c, const Node *n, const char *key, unsigned *ret) {
        Score *s = c->score;
        uint64_t v;

        if (n->type != NODE_SCALAR || parse_uint64(n->scalar, &v) < 0)
                return fail(c, n, key, -EINVAL, "expected a sheet number, got %s%s%s",
                            n->type == NODE_SCALAR ? "'" : "",
                            n->type == NODE_SCALAR ? n->scalar : node_type_to_string(n),
                            n->type == NODE_SCALAR ? "'" : "");
        if (v < 1 || v > s->n_sheets)
                return fail(c, n, key, -EINVAL, "sheet %" PRIu64 " does not exist: the score has sheets 1..%zu",
                            v, s->n_sheets);
        *ret = (unsigned) v;
        return 0;
}

/* "sheet.per_sheet_X: {N: VALUE, ...}": each value parsed by one callback. */
typedef int (*sheet_value_fn)(Ctx *c, const Node *v, const char *path, unsigned num);

static int parse_per_sheet_map(Ctx *c, const Node *m, const char *prefix, sheet_value_fn fn) {
        int r;

        r = expect_type(c, m, prefix, NODE_MAPPING);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                _cleanup_free_ char *path = strdup_printf("%s.%s", prefix, m->items[i]->scalar);
                unsigned num;

                if (!path)
                        return -ENOMEM;
                r = parse_sheet_number(c, m->items[i], path, &num);
                if (r < 0)
                        return r;
                r = fn(c, m->items[i + 1], path, num);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* the more specific per_sheet_instruments wins over instrument_map */
static int sheet_instrument_value(Ctx *c, const Node *v, const char *path, unsigned num) {
        return get_string(c, v, path, false, &c->score->sheet_instrument[num - 1]);
}

static int sheet_config_value(Ctx *c, const Node *v, const char *path, unsigned num) {
        return parse_instrument_config_block(c, v, path, &c->score->sheet_config[num - 1]);
}

static int sheet_fallbacks_value(Ctx *c, const Node *v, const char *path, unsigned num) {
        return get_string_list(c, v, path, &c->score->sheet_fallbacks[num - 1]);
}

static int map_sheet(Ctx *c, const Node *n, const char *path, const char *name, bool *mapped) {
        unsigned num;
        int r;

        r = parse_sheet_number(c, n, path, &num);
        if (r < 0)
                return r;
        if (mapped[num - 1])
                return fail(c, n, path, -EINVAL, "sheet %u is mapped to more than one instrument", num);
        mapped[num - 1] = true;
        return free_and_strdup(&c->score->sheet_instrument[num - 1], name);
}

static int parse_instrument_map(Ctx *c, const Node *m, bool *mapped) {
        int r;

        r = expect_type(c, m, "sheet.instrument_map", NODE_MAPPING);
        if (r < 0)
                return r;
        for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                const Node *k = m->items[i], *l = m->items[i + 1];
                _cleanup_free_ char *path = strdup_printf("sheet.instrument_map.%s", k->scalar), *name = NULL;

                if (!path)
                        return -ENOMEM;
                r = get_string(c, k, path, false, &name);
                if (r < 0)
                        return r;
                /* "reviewer: 3" for a single sheet */
                if (l->type == NODE_SCALAR && !node_is_null(l)) {
                        r = map_sheet(c, l, path, name, mapped);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = expect_type(c, l, path, NODE_SEQUENCE);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < l->n_items; j++) {
                        r = map_sheet(c, l->items[j], path, name, mapped);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int parse_sheet_instruments(Ctx *c, const Node *per_sheet, const Node *map, const Node *configs,
                            const Node *fallbacks) {
        Score *s = c->score;
        int r;

        if (per_sheet || map) {
                _cleanup_free_ bool *mapped = calloc(s->n_sheets, sizeof(bool));

                s->sheet_instrument = calloc(s->n_sheets, sizeof(char *));
                if (!s->sheet_instrument || !mapped)
                        return -ENOMEM;
                if (map && (r = parse_instrument_map(c, map, mapped)) < 0)
                        return r;
                if (per_sheet &&
                    (r = parse_per_sheet_map(c, per_sheet, "sheet.per_sheet_instruments", sheet_instrument_value)) < 0)
                        return r;
        }
        if (configs) {
                s->sheet_config = calloc(s->n_sheets, sizeof(ScoreInstrumentConfig));
                if (!s->sheet_config)
                        return -ENOMEM;
                for (size_t i = 0; i < s->n_sheets; i++)
                        s->sheet_config[i] = (ScoreInstrumentConfig) SCORE_INSTRUMENT_CONFIG_INIT;
                r = parse_per_sheet_map(c, configs, "sheet.per_sheet_instrument_config", sheet_config_value);
                if (r < 0)
                        return r;
        }
        if (fallbacks) {
                s->sheet_fallbacks = calloc(s->n_sheets, sizeof(char **));
                if (!s->sheet_fallbacks)
                        return -ENOMEM;
                r = parse_per_sheet_map(c, fallbacks, "sheet.per_sheet_fallbacks", sheet_fallbacks_value);
                if (r < 0)
                        return r;
        }
        return 0;
}

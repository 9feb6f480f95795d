/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* What happens between and after sheets: cross-sheet context, on_success
 * hooks and the concert settings that bound job chains, and the
 * rate-limit wait policy. */

#include "score-parse-internal.h"

/* Captured output is pasted into prompts; keep a sheet's share sane. */
#define CROSS_SHEET_OUTPUT_MAX (1024U * 1024U)
#define HOOK_TIMEOUT_DEFAULT 300U
#define CHAIN_DEPTH_MAX 100U

int parse_cross_sheet(Ctx *c, const Node *m) {
        ScoreCrossSheet *x = &c->score->cross_sheet;
        const Node *capture = NULL, *max = NULL, *lookback = NULL, *files = NULL;
        const KeySlot slots[] = {
                { "auto_capture_stdout", &capture, NULL },
                { "max_output_chars", &max, NULL },
                { "lookback_sheets", &lookback, NULL },
                { "capture_files", &files, NULL },
                {}
        };
        int r;

        r = collect_mapping(c, m, "cross_sheet", slots, NULL, true);
        if (r < 0)
                return r;

        x->enabled = true;
        if (capture && (r = get_bool(c, capture, "cross_sheet.auto_capture_stdout", &x->auto_capture_stdout)) < 0)
                return r;
        if (max) {
                r = get_uint(c, max, "cross_sheet.max_output_chars", 1, &x->max_output_chars);
                if (r < 0)
                        return r;
                if (x->max_output_chars > CROSS_SHEET_OUTPUT_MAX)
                        return fail(c, max, "cross_sheet.max_output_chars", -EINVAL,
                                    "must be at most %u, got %u", CROSS_SHEET_OUTPUT_MAX, x->max_output_chars);
        }
        if (lookback && (r = get_uint(c, lookback, "cross_sheet.lookback_sheets", 0, &x->lookback_sheets)) < 0)
                return r;
        if (files && (r = get_string_list(c, files, "cross_sheet.capture_files", &x->capture_files)) < 0)
                return r;
        return 0;
}

static bool is_score_file_name(const char *p) {
        return endswith(p, ".yaml") || endswith(p, ".yml");
}

static int parse_hook(Ctx *c, const Node *m, const char *prefix, ScoreHook *h) {
        Score *s = c->score;
        const Node *type = NULL, *command = NULL, *script = NULL, *args = NULL, *job_path = NULL,
                *workdir = NULL, *description = NULL, *timeout = NULL, *on_failure = NULL;
        const KeySlot slots[] = {
                { "type", &type, NULL },
                { "command", &command, NULL },
                { "script", &script, NULL },
                { "path", &script, NULL },
                { "args", &args, NULL },
                { "job_path", &job_path, NULL },
                { "working_directory", &workdir, NULL },
                { "description", &description, NULL },
                { "timeout_seconds", &timeout, NULL },
                { "on_failure", &on_failure, NULL },
                {}
        };
        _cleanup_free_ char *t = NULL, *key = NULL, *rel = NULL;
        int r;

        /* detached, fresh, inherit_learning, job_workspace: the original's
         * knobs for its own runtime */
        r = collect_mapping(c, m, prefix, slots, NULL, true);
        if (r < 0)
                return r;

#define KEY(x) SUBKEY(key, prefix, x)
        if (!type)
                return fail(c, m, KEY("type"), -EINVAL, "required key is missing");
        r = get_string(c, type, KEY("type"), false, &t);
        if (r < 0)
                return r;
        h->type = score_hook_type_from_string(t);
        if (h->type < 0)
                return fail(c, type, key, -EINVAL,
                            "unknown hook type '%s'; expected run_command, run_script or run_job", t);

        if (description && (r = get_string(c, description, KEY("description"), true, &h->description)) < 0)
                return r;
        if (timeout && (r = get_uint(c, timeout, KEY("timeout_seconds"), 1, &h->timeout_seconds)) < 0)
                return r;
        if (on_failure) {
                _cleanup_free_ char *v = NULL;

                r = get_string(c, on_failure, KEY("on_failure"), false, &v);
                if (r < 0)
                        return r;
                if (streq(v, "abort"))
                        h->abort_on_failure = true;
                else if (!streq(v, "continue"))
                        return fail(c, on_failure, key, -EINVAL, "expected continue or abort, got '%s'", v);
        }
        if (workdir) {
                r = get_string(c, workdir, KEY("working_directory"), false, &rel);
                if (r < 0)
                        return r;
                r = path_make_absolute_normalized(s->base_dir, rel, &h->working_directory);
                if (r < 0)
                        return r;
        }

        switch (h->type) {
        case SCORE_HOOK_RUN_COMMAND:
                if (!command)
                        return fail(c, m, KEY("command"), -EINVAL, "required for type %s", t);
                return get_string(c, command, key, false, &h->command);

        case SCORE_HOOK_RUN_SCRIPT:
                if (!script && !command)
                        return fail(c, m, KEY("script"), -EINVAL, "required for type %s", t);
                free(rel);
                rel = NULL;
                r = get_string(c, script ?: command, KEY(script ? "script" : "command"), false, &rel);
                if (r < 0)
                        return r;
                r = path_make_absolute_normalized(s->base_dir, rel, &h->command);
                if (r < 0)
                        return r;
                if (args && (r = get_string_list(c, args, KEY("args"), &h->args)) < 0)
                        return r;
                return 0;

        case SCORE_HOOK_RUN_JOB:
                if (!job_path)
                        return fail(c, m, KEY("job_path"), -EINVAL, "required for type %s", t);
                free(rel);
                rel = NULL;
                r = get_string(c, job_path, key, false, &rel);
                if (r < 0)
                        return r;
                if (!is_score_file_name(rel))
                        return fail(c, job_path, key, -EINVAL, "'%s' is not a score: expected a .yaml or .yml file", rel);
                return path_make_absolute_normalized(s->base_dir, rel, &h->job_path);

        default:
                return -EINVAL;
        }
#undef KEY
}

int parse_hooks(Ctx *c, const Node *l, const char *key) {
        Score *s = c->score;
        int r;

        r = expect_type(c, l, key, NODE_SEQUENCE);
        if (r < 0)
                return r;
        if (l->n_items == 0)
                return 0;

        s->on_success = calloc(l->n_items, sizeof(ScoreHook));
        if (!s->on_success)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_items; i++) {
                _cleanup_free_ char *prefix = strdup_printf("%s[%zu]", key, i);
                ScoreHook *h = s->on_success + s->n_on_success;

                if (!prefix)
                        return -ENOMEM;
                *h = (ScoreHook) {
                        .timeout_seconds = HOOK_TIMEOUT_DEFAULT,
                };
                s->n_on_success++;
                r = parse_hook(c, l->items[i], prefix, h);
                if (r < 0)
                        return r;
        }
        return 0;
}

int parse_concert(Ctx *c, const Node *m) {
        ScoreConcert *k = &c->score->concert;
        const Node *depth = NULL, *cooldown = NULL;
        const KeySlot slots[] = {
                { "max_chain_depth", &depth, NULL },
                { "cooldown_between_jobs_seconds", &cooldown, NULL },
                {}
        };
        int r;

        r = collect_mapping(c, m, "concert", slots, NULL, true);
        if (r < 0)
                return r;
        if (depth) {
                r = get_uint(c, depth, "concert.max_chain_depth", 0, &k->max_chain_depth);
                if (r < 0)
                        return r;
                if (k->max_chain_depth > CHAIN_DEPTH_MAX)
                        return fail(c, depth, "concert.max_chain_depth", -EINVAL,
                                    "must be at most %u, got %u", CHAIN_DEPTH_MAX, k->max_chain_depth);
        }
        if (cooldown && (r = get_number(c, cooldown, "concert.cooldown_between_jobs_seconds", 0, false,
                                        &k->cooldown_between_jobs_seconds)) < 0)
                return r;
        return 0;
}

int parse_rate_limit(Ctx *c, const Node *m) {
        ScoreRateLimit *rl = &c->score->rate_limit;
        const Node *minutes = NULL, *seconds = NULL, *max = NULL;
        const KeySlot slots[] = {
                { "wait_minutes", &minutes, NULL },
                { "wait_seconds", &seconds, NULL },
                { "max_waits", &max, NULL },
                {}
        };
        double v;
        int r;

        /* detection_patterns: the instrument profile's patterns apply */
        r = collect_mapping(c, m, "rate_limit", slots, NULL, true);
        if (r < 0)
                return r;
        if (minutes) {
                r = get_number(c, minutes, "rate_limit.wait_minutes", 0, false, &v);
                if (r < 0)
                        return r;
                rl->wait_seconds = v * 60;
        }
        if (seconds && (r = get_number(c, seconds, "rate_limit.wait_seconds", 0, false, &rl->wait_seconds)) < 0)
                return r;
        if (max && (r = get_uint(c, max, "rate_limit.max_waits", 0, &rl->max_waits)) < 0)
                return r;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <unistd.h>

#include "json-parse.h"
#include "log.h"
#include "sheet-instrument.h"

/* An environment file is a handful of keys; bound what is read. */
#define ENVIRONMENT_FILE_MAX (64U * 1024U)

extern char **environ;

int conductor_load_instruments(Conductor *c) {
        InstrumentRegistry *r = NULL;
        int k;

        /* A system conductor serves many users: no one user's directory
         * may define instruments for everyone. */
        k = instrument_registry_load_default(geteuid() != 0, &r);
        if (k < 0)
                return log_error_errno(k, "Failed to load the instrument profiles: %m");
        STRV_FOREACH(w, r->warnings)
                log_warning("Instrument profiles: %s", *w);
        instrument_registry_free(c->instruments);
        c->instruments = r;
        log_info("Loaded %zu instrument profiles.", r->n);
        return 0;
}

usec_t conductor_instrument_blocked_until(Conductor *c, const char *profile, usec_t now) {
        for (size_t i = 0; i < c->n_instrument_blocks; i++)
                if (streq(c->instrument_blocks[i].profile, profile))
                        return c->instrument_blocks[i].until > now ? c->instrument_blocks[i].until : 0;
        return 0;
}

int conductor_block_instrument(Conductor *c, const char *profile, usec_t until) {
        InstrumentBlock *t;

        for (size_t i = 0; i < c->n_instrument_blocks; i++)
                if (streq(c->instrument_blocks[i].profile, profile)) {
                        c->instrument_blocks[i].until = MAX(c->instrument_blocks[i].until, until);
                        return 0;
                }
        t = reallocarray(c->instrument_blocks, c->n_instrument_blocks + 1, sizeof(InstrumentBlock));
        if (!t)
                return -ENOMEM;
        c->instrument_blocks = t;
        t[c->n_instrument_blocks] = (InstrumentBlock) {
                .profile = strdup(profile),
                .until = until,
        };
        if (!t[c->n_instrument_blocks].profile)
                return -ENOMEM;
        c->n_instrument_blocks++;
        return 0;
}

void sheet_instrument_done(SheetInstrument *si) {
        free(si->name);
        instrument_profile_unref(si->profile);
        instrument_config_done(&si->config);
        *si = (SheetInstrument) {};
}

static int config_from_score(const ScoreInstrumentConfig *s, InstrumentConfig *ret) {
        *ret = (InstrumentConfig) {
                .timeout_seconds = s->timeout_seconds,
                .skip_permissions = s->skip_permissions > 0,
                .disable_mcp = s->disable_mcp > 0,
        };
        if ((s->model && !(ret->model = strdup(s->model))) ||
            (s->allowed_tools && !(ret->allowed_tools = strv_copy(s->allowed_tools))) ||
            (s->extra_flags && !(ret->extra_flags = strv_copy(s->extra_flags))) ||
            (s->system_prompt && !(ret->system_prompt = strdup(s->system_prompt)))) {
                instrument_config_done(ret);
                return -ENOMEM;
        }
        return 0;
}

int sheet_pick_instrument(Job *j, unsigned num, SheetInstrument *ret, char **ret_error) {
        Conductor *c = j->conductor;
        SheetRecord *sr = &j->sheets[num - 1];
        ScoreInstrumentChoice *chain = NULL;
        unsigned start = sr->instrument_index;
        size_t n = 0;
        int r;

        r = score_sheet_instruments(j->score, num, &chain, &n);
        if (r < 0)
                return r;

        for (; sr->instrument_index < n; sr->instrument_index++) {
                const ScoreInstrumentChoice *ch = chain + sr->instrument_index;
                const InstrumentProfile *p = c->instruments ? instrument_registry_get(c->instruments, ch->profile) : NULL;

                if (!p || !instrument_profile_runnable(p)) {
                        log_sheet(LOG_WARNING, j->rec.id, num,
                                  "Job %s sheet %u: instrument '%s' %s; trying the next fallback.",
                                  j->rec.id, num, ch->name,
                                  p ? "is of a kind that cannot run here" : "has no profile on this conductor");
                        continue;
                }

                *ret = (SheetInstrument) {
                        .name = strdup(ch->name),
                        .profile = instrument_profile_ref((InstrumentProfile *) p),
                        .index = sr->instrument_index,
                        .n_chain = n,
                };
                r = ret->name ? config_from_score(&ch->config, &ret->config) : -ENOMEM;
                score_instrument_choices_free(chain, n);
                if (r < 0)
                        sheet_instrument_done(ret);
                return r;
        }

        if (ret_error)
                *ret_error = strdup_printf("no instrument of the sheet's chain (%s%s) has a runnable profile; "
                                           "see 'mariannectl instruments'",
                                           chain[0].name, n > 1 ? " and its fallbacks" : "");
        score_instrument_choices_free(chain, n);
        /* a profile added later (and a reload) may still save a retry */
        sr->instrument_index = start;
        return -ENOENT;
}

static bool env_name_valid(const char *s, size_t n) {
        if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

/* KEY=VALUE lines; blank lines and # comments skipped, "export " allowed,
 * one level of matching quotes around the value removed. */
static int parse_environment_file(const char *text, char ***env) {
        const char *p = text;

        while (*p) {
                const char *eol = strchrnul(p, '\n'), *eq;
                _cleanup_free_ char *line = strndup(p, (size_t) (eol - p));
                char *l, *v;
                size_t vl;

                if (!line)
                        return -ENOMEM;
                p = *eol ? eol + 1 : eol;
                l = line + strspn(line, " \t");
                if (*l == '#' || *l == 0)
                        continue;
                if (startswith(l, "export "))
                        l += 7;
                eq = strchr(l, '=');
                if (!eq || !env_name_valid(l, (size_t) (eq - l)))
                        continue;
                v = (char *) eq + 1;
                vl = strlen(v);
                while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                        v[--vl] = 0;
                if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                        v[vl - 1] = 0;
                        v++;
                }
                if (strv_push(env, strdup_printf("%.*s=%s", (int) (eq - l), l, v)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int sheet_source_environment(Job *j, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        /* the file first: a name in both keeps its first value, and the
         * owner's file is what they chose for their jobs */
        path = strdup_printf("%s/.config/marianne/environment", j->owner.home);
        if (!path)
                return -ENOMEM;
        r = identity_read_file(&j->owner, path, ENVIRONMENT_FILE_MAX, &text, NULL);
        if (r >= 0) {
                r = parse_environment_file(text, &env);
                if (r < 0)
                        return r;
        } else if (r != -ENOENT && r != -ENOTDIR)
                log_job(LOG_WARNING, j->rec.id, "Cannot read %s for job %s: %s; instruments get no variables from it.",
                        path, j->rec.id, strerror(-r));

        if (identity_is_self(&j->owner))
                STRV_FOREACH(e, environ)
                        if (strv_extend(&env, *e) < 0)
                                return -ENOMEM;

        *ret = TAKE_PTR(env);
        return 0;
}

char *completion_prompt_suffix(const char *validation_details, unsigned attempt, unsigned max_attempts) {
        _cleanup_value_free_ Value *v = NULL;
        _cleanup_free_ char *list = NULL;
        size_t n_failed = 0;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (validation_details)
                (void) json_parse(validation_details, strlen(validation_details), NULL, &v, NULL);

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        if (v && v->type == VALUE_LIST)
                for (size_t i = 0; i < v->list.n; i++) {
                        const Value *o = v->list.items[i], *st, *d, *det;

                        if (o->type != VALUE_MAP)
                                continue;
                        st = value_map_get(o, "status");
                        d = value_map_get(o, "description");
                        det = value_map_get(o, "detail");
                        if (!st || st->type != VALUE_STRING || !(streq(st->s, "failed") || streq(st->s, "not_run")))
                                continue;
                        n_failed++;
                        fprintf(f, "- %s%s%s%s\n",
                                d && d->type == VALUE_STRING ? d->s : "validation",
                                streq(st->s, "not_run") ? " (not checked yet: an earlier check failed)" : "",
                                det && det->type == VALUE_STRING ? ": " : "",
                                det && det->type == VALUE_STRING ? det->s : "");
                }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        list = buf;

        return strdup_printf("\n\n---\n"
                             "COMPLETION MODE (attempt %u of %u): your previous attempt at this sheet was "
                             "partly done. Its work is still in the workspace; do not start over. "
                             "Finish what is missing so that these checks pass:\n%s",
                             attempt, max_attempts,
                             n_failed > 0 ? list : "- (the failing checks were not recorded; re-check the task above)\n");
}

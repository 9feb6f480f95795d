/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* on_success hooks: after a job completes, its hooks run one after the
 * other as the job's owner — a command, a script, or another score
 * started as a new job (a chain, bounded by concert.max_chain_depth and
 * optionally paused by concert.cooldown_between_jobs_seconds).
 *
 * Hooks are not sheets: they leave the job completed whatever they do,
 * and what they did is in the journal (MARIANNE_JOB=) and in hook-N
 * log files next to the job's attempts.  A conductor stopped while hooks
 * run does not run the remaining ones again. */

#include "conductor-private.h"
#include "log.h"

struct HookRun {
        Conductor *conductor;
        char *job_id;
        char *job_name;
        char *workspace;
        char *log_dir;
        Identity owner;
        ScoreHook *hooks;       /* copies: the job's score is dropped once it is terminal */
        size_t n_hooks;
        size_t next;
        ScoreConcert concert;
        unsigned chain_depth;   /* of the job the hooks belong to */
        RunHandle *handle;
        sd_event_source *timer;
};

static void hook_copy_done(ScoreHook *h) {
        free(h->command);
        strv_free(h->args);
        free(h->job_path);
        free(h->working_directory);
        free(h->description);
}

static HookRun *hook_run_free(HookRun *h) {
        if (!h)
                return NULL;
        if (h->handle) {
                (void) run_handle_kill(h->handle);
                run_handle_release(h->handle);
        }
        sd_event_source_disable_unref(h->timer);
        for (size_t i = 0; i < h->n_hooks; i++)
                hook_copy_done(h->hooks + i);
        free(h->hooks);
        identity_done(&h->owner);
        free(h->job_id);
        free(h->job_name);
        free(h->workspace);
        free(h->log_dir);
        free(h);
        return NULL;
}
DEFINE_CLEANUP_FUNC(HookRun *, hook_run_free);

static int hook_copy(const ScoreHook *src, ScoreHook *dst) {
        *dst = (ScoreHook) {
                .type = src->type,
                .timeout_seconds = src->timeout_seconds,
                .abort_on_failure = src->abort_on_failure,
        };
        if ((src->command && !(dst->command = strdup(src->command))) ||
            (src->args && !(dst->args = strv_copy(src->args))) ||
            (src->job_path && !(dst->job_path = strdup(src->job_path))) ||
            (src->working_directory && !(dst->working_directory = strdup(src->working_directory))) ||
            (src->description && !(dst->description = strdup(src->description))))
                return -ENOMEM;
        return 0;
}

static void hook_run_finish(HookRun *h) {
        Conductor *c = h->conductor;

        for (size_t i = 0; i < c->n_hook_runs; i++)
                if (c->hook_runs[i] == h) {
                        memmove(c->hook_runs + i, c->hook_runs + i + 1, (c->n_hook_runs - i - 1) * sizeof(HookRun *));
                        c->n_hook_runs--;
                        break;
                }
        hook_run_free(h);
}

static void hook_run_next(HookRun *h);

static const char *hook_label(const ScoreHook *hook) {
        return hook->description ?: score_hook_type_to_string(hook->type);
}

/* Returns whether the remaining hooks still run. */
static bool hook_failed(HookRun *h, const ScoreHook *hook, size_t idx, const char *why) {
        log_job(LOG_WARNING, h->job_id, "on_success hook %zu of job %s (%s) failed: %s%s",
                idx + 1, h->job_id, hook_label(hook), why,
                hook->abort_on_failure ? "; the remaining hooks do not run (on_failure: abort)" : ".");
        return !hook->abort_on_failure;
}

static void on_hook_exit(RunHandle *handle, const RunResult *res, void *userdata) {
        HookRun *h = userdata;
        size_t idx = h->next - 1;
        const ScoreHook *hook = h->hooks + idx;
        _cleanup_free_ char *why = NULL;
        bool go_on = true;

        run_handle_release(handle);
        h->handle = NULL;

        if (res->spawn_error < 0)
                why = strdup_printf("could not start: %s", strerror(-res->spawn_error));
        else if (res->timed_out)
                why = strdup_printf("timed out after %u s", hook->timeout_seconds);
        else if (!res->exited)
                why = strdup_printf("killed by signal %s", sigabbrev_np(res->exit_signal) ?: "unknown");
        else if (res->exit_code != 0)
                why = strdup_printf("exited with status %d; its output is in %s/hook-%zu.stderr",
                                    res->exit_code, h->log_dir, idx + 1);

        if (why)
                go_on = hook_failed(h, hook, idx, why);
        else
                log_job(LOG_NOTICE, h->job_id, "on_success hook %zu of job %s (%s) succeeded.",
                        idx + 1, h->job_id, hook_label(hook));

        if (!go_on || h->conductor->shutting_down) {
                hook_run_finish(h);
                return;
        }
        hook_run_next(h);
}

static char **hook_environment(const HookRun *h, size_t idx) {
        _cleanup_strv_free_ char **env = NULL;

        if (strv_push(&env, strdup_printf("PATH=%s", h->conductor->exec_search_path)) < 0 ||
            strv_push(&env, strdup_printf("HOME=%s", h->owner.home)) < 0 ||
            strv_push(&env, strdup_printf("SHELL=%s", h->owner.shell)) < 0 ||
            strv_push(&env, strdup("LANG=C.UTF-8")) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_JOB_ID=%s", h->job_id)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_JOB_NAME=%s", h->job_name)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_WORKSPACE=%s", h->workspace)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_HOOK=%zu", idx + 1)) < 0)
                return NULL;
        if (h->owner.name && (strv_push(&env, strdup_printf("USER=%s", h->owner.name)) < 0 ||
                              strv_push(&env, strdup_printf("LOGNAME=%s", h->owner.name)) < 0))
                return NULL;
        return TAKE_PTR(env);
}

static int hook_start_process(HookRun *h, size_t idx) {
        const ScoreHook *hook = h->hooks + idx;
        Conductor *c = h->conductor;
        _cleanup_free_ char *out = strdup_printf("%s/hook-%zu.stdout", h->log_dir, idx + 1),
                *err = strdup_printf("%s/hook-%zu.stderr", h->log_dir, idx + 1),
                *name = strdup_printf("%s.hook-%zu", h->job_id, idx + 1);
        _cleanup_strv_free_ char **env = hook_environment(h, idx), **argv = NULL, **fields = NULL;
        RunSpec spec;
        int r;

        if (!out || !err || !name || !env)
                return -ENOMEM;
        if (hook->type == SCORE_HOOK_RUN_COMMAND) {
                if (strv_extend(&argv, "bash") < 0 || strv_extend(&argv, "-c") < 0 ||
                    strv_extend(&argv, hook->command) < 0)
                        return -ENOMEM;
        } else {
                if (strv_extend(&argv, hook->command) < 0)
                        return -ENOMEM;
                STRV_FOREACH(a, hook->args)
                        if (strv_extend(&argv, *a) < 0)
                                return -ENOMEM;
        }
        if (strv_push(&fields, strdup_printf("MARIANNE_JOB=%s", h->job_id)) < 0 ||
            strv_push(&fields, strdup_printf("MARIANNE_HOOK=%zu", idx + 1)) < 0)
                return -ENOMEM;
        r = mkdir_p(h->log_dir, 0700);
        if (r < 0)
                return r;

        spec = (RunSpec) {
                .argv = argv,
                .env = env,
                .cwd = hook->working_directory ?: h->workspace,
                .stdout_path = out,
                .stderr_path = err,
                .name = name,
                .group = h->job_id,
                .log_fields = fields,
                .timeout_usec = (usec_t) hook->timeout_seconds * USEC_PER_SEC,
                .kill_grace_usec = c->config.kill_grace_usec,
                .identity = &h->owner,
        };
        log_job(LOG_INFO, h->job_id, "Running on_success hook %zu of job %s (%s): %s",
                idx + 1, h->job_id, hook_label(hook), hook->command);
        return runner_start(c->runner, &spec, on_hook_exit, h, &h->handle);
}

/* Returns whether the remaining hooks still run. */
static bool hook_start_job(HookRun *h, size_t idx) {
        const ScoreHook *hook = h->hooks + idx;
        _cleanup_free_ char *error = NULL;
        StartOptions o = {
                .owner_uid = h->owner.uid,
                .owner_gid = h->owner.gid,
                .parent_job = h->job_id,
                .chain_depth = h->chain_depth + 1,
        };
        Job *child = NULL;
        int r;

        if (h->chain_depth + 1 > h->concert.max_chain_depth) {
                _cleanup_free_ char *why = strdup_printf(
                        "not chaining %s: job %s is already %u deep in a chain, and concert.max_chain_depth is %u",
                        hook->job_path, h->job_id, h->chain_depth, h->concert.max_chain_depth);
                return hook_failed(h, hook, idx, strna(why));
        }

        r = conductor_start_path(h->conductor, hook->job_path, &o, &child, &error);
        if (r < 0) {
                _cleanup_free_ char *why = strdup_printf("cannot start %s: %s", hook->job_path,
                                                         error ?: strerror(-r));
                return hook_failed(h, hook, idx, strna(why));
        }
        log_job(LOG_NOTICE, h->job_id, "on_success hook %zu of job %s chained job %s from %s (chain depth %u).",
                idx + 1, h->job_id, child->rec.id, hook->job_path, o.chain_depth);
        return true;
}

static int on_cooldown(sd_event_source *s, uint64_t usec, void *userdata) {
        HookRun *h = userdata;
        size_t idx = h->next - 1;

        (void) usec;
        h->timer = sd_event_source_disable_unref(s);
        if (!hook_start_job(h, idx)) {
                hook_run_finish(h);
                return 0;
        }
        hook_run_next(h);
        return 0;
}

static void hook_run_next(HookRun *h) {
        for (;;) {
                size_t idx = h->next;
                const ScoreHook *hook;
                int r;

                if (idx >= h->n_hooks) {
                        hook_run_finish(h);
                        return;
                }
                hook = h->hooks + idx;
                h->next++;

                if (hook->type == SCORE_HOOK_RUN_JOB) {
                        if (h->concert.cooldown_between_jobs_seconds > 0) {
                                r = sd_event_add_time_relative(
                                        h->conductor->event, &h->timer, CLOCK_MONOTONIC,
                                        (usec_t) (h->concert.cooldown_between_jobs_seconds * (double) USEC_PER_SEC),
                                        10 * USEC_PER_MSEC, on_cooldown, h);
                                if (r >= 0) {
                                        log_job(LOG_INFO, h->job_id, "Chaining %s after a pause of %g s.",
                                                hook->job_path, h->concert.cooldown_between_jobs_seconds);
                                        return;
                                }
                                log_error_errno(r, "Failed to arm the chaining pause of job %s, chaining now: %m",
                                                h->job_id);
                        }
                        if (!hook_start_job(h, idx)) {
                                hook_run_finish(h);
                                return;
                        }
                        continue;
                }

                r = hook_start_process(h, idx);
                if (r >= 0)
                        return;         /* on_hook_exit goes on */
                {
                        _cleanup_free_ char *why = strdup_printf("could not start: %s", strerror(-r));
                        if (!hook_failed(h, hook, idx, strna(why))) {
                                hook_run_finish(h);
                                return;
                        }
                }
        }
}

int job_start_hooks(Job *j) {
        Conductor *c = j->conductor;
        _cleanup_(hook_run_freep) HookRun *h = NULL;
        HookRun **t;
        int r;

        if (!j->score || j->score->n_on_success == 0 || c->shutting_down)
                return 0;

        h = calloc(1, sizeof(HookRun));
        if (!h)
                return log_oom();
        *h = (HookRun) {
                .conductor = c,
                .concert = j->score->concert,
                .chain_depth = j->rec.chain_depth,
        };
        h->job_id = strdup(j->rec.id);
        h->job_name = strdup(j->rec.name);
        h->workspace = strdup(j->rec.workspace);
        h->log_dir = strdup_printf("%s/%s", c->log_dir, j->rec.id);
        h->hooks = calloc(j->score->n_on_success, sizeof(ScoreHook));
        if (!h->job_id || !h->job_name || !h->workspace || !h->log_dir || !h->hooks)
                return log_oom();
        for (size_t i = 0; i < j->score->n_on_success; i++) {
                h->n_hooks++;
                r = hook_copy(j->score->on_success + i, h->hooks + i);
                if (r < 0)
                        return log_oom();
        }
        r = identity_load(j->rec.owner_uid, j->rec.owner_gid, &h->owner);
        if (r < 0)
                return log_job(LOG_ERR, j->rec.id, "Not running the on_success hooks of job %s: owner %u unknown: %s",
                               j->rec.id, (unsigned) j->rec.owner_uid, strerror(-r)), r;

        t = reallocarray(c->hook_runs, c->n_hook_runs + 1, sizeof(HookRun *));
        if (!t)
                return log_oom();
        c->hook_runs = t;
        c->hook_runs[c->n_hook_runs++] = h;
        hook_run_next(TAKE_PTR(h));
        return 0;
}

void conductor_stop_hooks(Conductor *c) {
        while (c->n_hook_runs > 0)
                hook_run_finish(c->hook_runs[c->n_hook_runs - 1]);
        free(c->hook_runs);
        c->hook_runs = NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The scheduler: turns ready sheets into attempts, attempts into outcomes,
 * outcomes into retries, completions, skips and finally the job's end.
 * Every state change is stored (one transaction) before anyone hears of it. */

#include <sys/random.h>

#include "backoff.h"
#include "conductor-private.h"
#include "log.h"
#include "sheet-instrument.h"
#include "validation.h"

#define TAIL_MAX (50U * 1024U)
#define REPORT_MAX (16U * 1024U * 1024U)

static int on_schedule(sd_event_source *s, void *userdata);

/* ---- state changes ---------------------------------------------------- */

int job_set_state(Job *j, JobState s) {
        Conductor *c = j->conductor;
        JobState old = j->rec.state;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        if (old == s)
                return 0;
        if (!job_state_transition_allowed(old, s))
                return log_job(LOG_ERR, j->rec.id, "Refusing job %s transition %s → %s.",
                               j->rec.id, job_state_to_string(old), job_state_to_string(s)), -EBUSY;

        j->rec.state = s;
        if (s == JOB_RUNNING && j->rec.started_at == 0)
                j->rec.started_at = now;
        if (job_state_is_terminal(s))
                j->rec.finished_at = now;

        r = store_save_job(c->store, &j->rec);
        if (r < 0)
                log_error_errno(r, "Failed to store state %s of job %s: %s",
                                job_state_to_string(s), j->rec.id, store_last_error(c->store));

        log_job_event(s == JOB_FAILED ? LOG_WARNING : LOG_NOTICE,
                      s == JOB_RUNNING && old == JOB_QUEUED ? MESSAGE_JOB_STARTED :
                      s == JOB_COMPLETED ? MESSAGE_JOB_COMPLETED :
                      s == JOB_FAILED ? MESSAGE_JOB_FAILED :
                      s == JOB_CANCELLED ? MESSAGE_JOB_CANCELLED : NULL,
                      j->rec.id, "Job %s (%s): %s → %s%s%s",
                      j->rec.id, j->rec.name, job_state_to_string(old), job_state_to_string(s),
                      j->rec.error && s == JOB_FAILED ? ": " : ".", j->rec.error && s == JOB_FAILED ? j->rec.error : "");

        if (c->observer.job_state_changed)
                c->observer.job_state_changed(j, old, s, c->userdata);
        return r;
}

static int priority_of_sheet_state(SheetState s) {
        switch (s) {
        case SHEET_FAILED:
                return LOG_WARNING;
        case SHEET_RETRY_SCHEDULED:
        case SHEET_SKIPPED:
        case SHEET_CANCELLED:
                return LOG_NOTICE;
        default:
                return LOG_INFO;
        }
}

int sheet_set_state(Job *j, unsigned num, SheetState s) {
        Conductor *c = j->conductor;
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        SheetState old = sr->state;
        int r;

        if (old == s)
                return 0;
        if (!sheet_state_transition_allowed(old, s))
                return log_sheet(LOG_ERR, j->rec.id, num, "Refusing sheet %u transition %s → %s.",
                                 num, sheet_state_to_string(old), sheet_state_to_string(s)), -EBUSY;

        sr->state = s;
        j->counts[old]--;
        j->counts[s]++;

        r = store_begin(c->store);
        if (r >= 0) {
                r = store_save_sheet(c->store, j->rec.id, sr);
                if (r >= 0 && rt->attempt.attempt > 0)
                        r = store_save_attempt(c->store, j->rec.id, &rt->attempt);
                if (r >= 0)
                        r = store_commit(c->store);
                else
                        store_rollback(c->store);
        }
        if (r < 0)
                log_error_errno(r, "Failed to store state %s of sheet %u of job %s: %s",
                                sheet_state_to_string(s), num, j->rec.id, store_last_error(c->store));

        log_sheet_event(priority_of_sheet_state(s), s == SHEET_FAILED ? MESSAGE_SHEET_FAILED : NULL,
                  j->rec.id, num, "Job %s sheet %u: %s → %s%s%s",
                  j->rec.id, num, sheet_state_to_string(old), sheet_state_to_string(s),
                  sr->error_message && (s == SHEET_FAILED || s == SHEET_RETRY_SCHEDULED || s == SHEET_SKIPPED) ? ": " : ".",
                  sr->error_message && (s == SHEET_FAILED || s == SHEET_RETRY_SCHEDULED || s == SHEET_SKIPPED) ? sr->error_message : "");

        if (c->observer.sheet_state_changed)
                c->observer.sheet_state_changed(j, num, old, s, c->userdata);
        job_notify_changed(j);
        return r;
}

/* ---- the dependency graph --------------------------------------------- */

void job_prepare_graph(Job *j) {
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                j->runtime[i].job = j;
                j->runtime[i].num = (unsigned) i + 1;
                j->runtime[i].before_start = j->rec.start_sheet > 1 && i + 1 < j->rec.start_sheet;
        }
        if (!j->score)
                return;

        for (size_t i = 0; i < j->score->n_sheets; i++) {
                const Sheet *sh = &j->score->sheets[i];

                for (size_t k = 0; k < sh->n_deps; k++) {
                        SheetRuntime *d = &j->runtime[sh->deps[k] - 1];
                        unsigned *t = realloc(d->dependents, sizeof(unsigned) * (d->n_dependents + 1));

                        if (!t) {
                                log_oom();
                                abort(); /* a half-built graph would run sheets out of order */
                        }
                        t[d->n_dependents++] = sh->num;
                        d->dependents = t;
                }
        }
}

typedef struct Worklist {
        unsigned *items;
        size_t n, allocated;
} Worklist;

static void worklist_push(Worklist *w, unsigned num) {
        if (w->n >= w->allocated) {
                size_t a = w->allocated ? w->allocated * 2 : 64;
                unsigned *t = realloc(w->items, a * sizeof(unsigned));

                if (!t) {
                        log_oom();
                        abort();
                }
                w->items = t;
                w->allocated = a;
        }
        w->items[w->n++] = num;
}

static void worklist_push_dependents(Worklist *w, Job *j, unsigned num) {
        SheetRuntime *rt = &j->runtime[num - 1];

        for (size_t i = 0; i < rt->n_dependents; i++)
                worklist_push(w, rt->dependents[i]);
}

/* Decide pending sheets on the worklist: ready when every dependency is
 * satisfied, skipped (and their dependents re-examined) when one can never
 * be.  An explicit worklist instead of recursion: chains are 10 000 long. */
static void job_settle(Job *j, Worklist *w) {
        while (w->n > 0) {
                unsigned num = w->items[--w->n];
                SheetRecord *sr = &j->sheets[num - 1];
                const Sheet *sh;
                bool ready = true;
                unsigned blocker = 0;

                if (sr->state != SHEET_PENDING || !j->score)
                        continue;
                sh = &j->score->sheets[num - 1];

                for (size_t k = 0; k < sh->n_deps; k++) {
                        unsigned d = sh->deps[k];
                        SheetState ds = j->sheets[d - 1].state;

                        if (ds == SHEET_COMPLETED || j->runtime[d - 1].before_start)
                                continue;
                        if (ds == SHEET_FAILED || ds == SHEET_SKIPPED || ds == SHEET_CANCELLED) {
                                blocker = d;
                                break;
                        }
                        ready = false;
                }

                if (blocker > 0) {
                        free(sr->error_message);
                        sr->error_message = strdup_printf("dependency sheet %u %s", blocker,
                                                          sheet_state_to_string(j->sheets[blocker - 1].state));
                        (void) free_and_strdup(&sr->error_category, "dependency");
                        (void) sheet_set_state(j, num, SHEET_SKIPPED);
                        worklist_push_dependents(w, j, num);
                } else if (ready)
                        (void) sheet_set_state(j, num, SHEET_READY);
        }
        free(w->items);
        *w = (Worklist) {};
}

void job_release_ready(Job *j) {
        Worklist w = {};

        for (size_t i = j->rec.total_sheets; i > 0; i--)
                if (j->sheets[i - 1].state == SHEET_PENDING)
                        worklist_push(&w, (unsigned) i);
        job_settle(j, &w);
}

static void job_release_dependents(Job *j, unsigned num) {
        Worklist w = {};

        worklist_push_dependents(&w, j, num);
        job_settle(j, &w);
}

/* ---- the end of a job ------------------------------------------------- */

static unsigned job_skipped_by_request(const Job *j) {
        unsigned n = 0;

        for (size_t i = 0; i < j->rec.total_sheets; i++)
                if (j->runtime[i].before_start)
                        n++;
        return n;
}

void job_drop_score(Job *j) {
        /* A terminal job never runs again: keep only what status needs so a
         * store of thousands of finished jobs stays small in memory. */
        score_free(j->score);
        j->score = NULL;
        identity_done(&j->owner);
        free(j->rec.score_yaml);
        j->rec.score_yaml = NULL;
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];

                free(rt->dependents);
                rt->dependents = NULL;
                rt->n_dependents = 0;
                rt->retry_timer = sd_event_source_disable_unref(rt->retry_timer);
        }
        j->pace_timer = sd_event_source_disable_unref(j->pace_timer);
}

void job_check_finished(Job *j) {
        unsigned terminal, failed, skipped, cancelled;

        if (job_state_is_terminal(j->rec.state) || j->n_running > 0)
                return;

        failed = j->counts[SHEET_FAILED];
        skipped = j->counts[SHEET_SKIPPED] - job_skipped_by_request(j);
        cancelled = j->counts[SHEET_CANCELLED];
        terminal = j->counts[SHEET_COMPLETED] + j->counts[SHEET_FAILED] + j->counts[SHEET_SKIPPED] + cancelled;
        if (terminal < j->rec.total_sheets)
                return;

        if (failed == 0 && skipped == 0 && cancelled == 0) {
                free(j->rec.error);
                j->rec.error = NULL;
                (void) job_set_state(j, JOB_COMPLETED);
                (void) job_start_hooks(j);
        } else {
                free(j->rec.error);
                j->rec.error = strdup_printf("%u sheet%s failed, %u skipped", failed, failed == 1 ? "" : "s", skipped);
                (void) job_set_state(j, JOB_FAILED);
        }
        job_drop_score(j);
        job_notify_changed(j);
}

/* ---- attempts --------------------------------------------------------- */

char **sheet_base_environment(const char *path, const Identity *o, const char *job_id, unsigned num,
                              unsigned attempt, const char *workspace) {
        _cleanup_strv_free_ char **env = NULL;

        /* A clean environment: nothing of the conductor's own leaks into a
         * sheet, only what a login of the owner would have plus ours. */
        if (strv_push(&env, strdup_printf("PATH=%s", path)) < 0 ||
            strv_push(&env, strdup_printf("HOME=%s", o->home)) < 0 ||
            strv_push(&env, strdup_printf("SHELL=%s", o->shell)) < 0 ||
            strv_push(&env, strdup("LANG=C.UTF-8")) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_JOB_ID=%s", job_id)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_SHEET=%u", num)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_ATTEMPT=%u", attempt)) < 0 ||
            strv_push(&env, strdup_printf("MARIANNE_WORKSPACE=%s", workspace)) < 0)
                return NULL;
        if (o->name && (strv_push(&env, strdup_printf("USER=%s", o->name)) < 0 ||
                        strv_push(&env, strdup_printf("LOGNAME=%s", o->name)) < 0))
                return NULL;
        return TAKE_PTR(env);
}

static char **sheet_environment(Job *j, unsigned num, unsigned attempt) {
        return sheet_base_environment(j->conductor->exec_search_path, &j->owner, j->rec.id, num, attempt,
                                      j->rec.workspace);
}

static void sheet_clear_outcome(SheetRecord *sr) {
        sr->has_exit_code = false;
        sr->exit_code = 0;
        sr->exit_signal = 0;
        free(sr->exit_reason);
        sr->exit_reason = NULL;
        free(sr->error_message);
        sr->error_message = NULL;
        free(sr->error_category);
        sr->error_category = NULL;
}

static void sheet_drop_tails(SheetRecord *sr) {
        /* stored already; GetSheet reads them from the store */
        free(sr->stdout_tail);
        sr->stdout_tail = NULL;
        free(sr->stderr_tail);
        sr->stderr_tail = NULL;
        free(sr->validation_details);
        sr->validation_details = NULL;
}

static void sheet_finish_runtime(Job *j, SheetRuntime *rt) {
        Conductor *c = j->conductor;

        if (rt->handle) {
                run_handle_release(rt->handle);
                rt->handle = NULL;
        }
        if (rt->exec_handle) {
                run_handle_release(rt->exec_handle);
                rt->exec_handle = NULL;
        }
        rt->adopted = false;
        rt->profile = instrument_profile_unref(rt->profile);
        instrument_config_done(&rt->config);
        if (rt->phase != SHEET_PHASE_IDLE) {
                rt->phase = SHEET_PHASE_IDLE;
                if (j->n_running > 0)
                        j->n_running--;
                if (c->running_sheets > 0)
                        c->running_sheets--;
        }
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        SheetRuntime *rt = userdata;
        Job *j = rt->job;

        (void) usec;
        rt->retry_timer = sd_event_source_disable_unref(s);
        /* waiting without a process: held back by a rate limit that has
         * now lifted (a frozen attempt waits with its handle) */
        if (j->sheets[rt->num - 1].state != SHEET_RETRY_SCHEDULED &&
            !(j->sheets[rt->num - 1].state == SHEET_WAITING && !rt->handle))
                return 0;
        (void) sheet_set_state(j, rt->num, SHEET_READY);
        conductor_schedule(j->conductor);
        return 0;
}

int job_arm_retry_timer(Job *j, unsigned num) {
        SheetRuntime *rt = &j->runtime[num - 1];
        usec_t now = now_usec(CLOCK_REALTIME), at = j->sheets[num - 1].next_retry_at;
        int r;

        rt->retry_timer = sd_event_source_disable_unref(rt->retry_timer);
        r = sd_event_add_time_relative(j->conductor->event, &rt->retry_timer, CLOCK_MONOTONIC,
                                       at > now ? at - now : 0, 10 * USEC_PER_MSEC, on_retry_timer, rt);
        if (r < 0)
                return log_error_errno(r, "Failed to arm retry timer of sheet %u of job %s: %m", num, j->rec.id);
        return 0;
}

static void attempt_close(SheetRuntime *rt, const char *outcome) {
        rt->attempt.finished_at = now_usec(CLOCK_REALTIME);
        (void) free_and_strdup(&rt->attempt.outcome, outcome);
}

/* How many instruments the sheet may still fall back to after the current one. */
static size_t sheet_fallbacks_left(Job *j, unsigned num) {
        ScoreInstrumentChoice *chain = NULL;
        size_t n = 0;

        if (!j->score || score_sheet_instruments(j->score, num, &chain, &n) < 0)
                return 0;
        score_instrument_choices_free(chain, n);
        return n > j->sheets[num - 1].instrument_index + 1 ? n - j->sheets[num - 1].instrument_index - 1 : 0;
}

static void attempt_failed(Job *j, unsigned num, const char *outcome, const char *category, char *message /* takes */) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        /* Attempts that were not the sheet's fault spend no retry: those a
         * restart interrupted, rate-limit waits, completion re-runs, and
         * the one that moved the sheet to a fallback instrument. */
        unsigned free_attempts = rt->interrupted + sr->rate_limit_waits + sr->completion_attempts + sr->instrument_index;
        unsigned failures = sr->attempt_count - MIN(free_attempts, sr->attempt_count);

        free(sr->error_message);
        sr->error_message = message;
        (void) free_and_strdup(&sr->error_category, category);
        attempt_close(rt, outcome);
        sheet_finish_runtime(j, rt);

        /* An instrument that refuses our credentials, or is not installed,
         * will not do better on a retry: the next one in the chain plays. */
        if ((streq(category, "auth") || streq(category, "instrument")) && sheet_fallbacks_left(j, num) > 0) {
                sr->instrument_index++;
                log_sheet(LOG_NOTICE, j->rec.id, num, "Job %s sheet %u: %s; falling back to instrument %u of its chain.",
                          j->rec.id, num, strna(sr->error_message), sr->instrument_index + 1);
                sr->next_retry_at = 0;
                rt->next_kind = "fallback";
                (void) sheet_set_state(j, num, SHEET_READY);
                conductor_schedule(j->conductor);
                return;
        }

        /* a prompt that does not render will not render next time either */
        if (j->score && failures <= j->score->retry.max_retries && !streq(category, "template")) {
                uint32_t rnd = 0;
                usec_t delay;

                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
                        rnd = (uint32_t) now_usec(CLOCK_MONOTONIC);
                delay = retry_delay_usec(&j->score->retry, failures, (double) rnd / 4294967296.0);
                sr->next_retry_at = now_usec(CLOCK_REALTIME) + delay;
                rt->next_kind = "retry";
                (void) sheet_set_state(j, num, SHEET_RETRY_SCHEDULED);
                (void) job_arm_retry_timer(j, num);
        } else {
                sr->next_retry_at = 0;
                (void) sheet_set_state(j, num, SHEET_FAILED);
                sheet_drop_tails(sr);
                job_release_dependents(j, num);
                job_check_finished(j);
        }
        conductor_schedule(j->conductor);
}

static void attempt_succeeded(Job *j, unsigned num) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        usec_t now = now_usec(CLOCK_REALTIME);

        attempt_close(rt, "completed");
        sheet_finish_runtime(j, rt);
        sr->completed_at = now;
        sr->next_retry_at = 0;
        if (sr->state == SHEET_WAITING)
                (void) sheet_set_state(j, num, SHEET_IN_PROGRESS);
        (void) sheet_set_state(j, num, SHEET_COMPLETED);
        sheet_drop_tails(sr);

        if (j->score && j->score->pause_between_sheets_seconds > 0)
                j->not_before = now_usec(CLOCK_MONOTONIC) +
                        (usec_t) (j->score->pause_between_sheets_seconds * (double) USEC_PER_SEC);
        job_release_dependents(j, num);
        job_check_finished(j);
        conductor_schedule(j->conductor);
}

/* The instrument said it is rate limited: the sheet waits, without
 * spending a retry, until the limit lifts (the time the output names, or
 * the score's rate_limit wait) — and so does every other sheet on that
 * instrument. */
static void attempt_rate_limited(Job *j, unsigned num, usec_t retry_at, const char *reason) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        Conductor *c = j->conductor;
        usec_t now = now_usec(CLOCK_REALTIME), until;
        _cleanup_free_ char *profile = strdup(rt->profile ? rt->profile->name : strna(sr->instrument));
        char when[64] = "";
        time_t t;
        struct tm tm;

        if (!profile) {
                log_oom();
                return;
        }
        if (sr->rate_limit_waits >= j->score->rate_limit.max_waits) {
                attempt_failed(j, num, "failed", "rate_limit",
                               strdup_printf("instrument %s is still rate limited after %u waits (rate_limit.max_waits): %s",
                                             profile, sr->rate_limit_waits, reason));
                return;
        }

        until = retry_at > now ? retry_at : now + (usec_t) (j->score->rate_limit.wait_seconds * (double) USEC_PER_SEC);
        t = (time_t) (until / USEC_PER_SEC);
        if (localtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);

        sr->rate_limit_waits++;
        free(sr->error_message);
        sr->error_message = strdup_printf("rate limited by %s (%s); waiting until %s%s", profile, reason, when,
                                          retry_at > now ? "" : ", the score's default wait");
        (void) free_and_strdup(&sr->error_category, "rate_limit");
        if (conductor_block_instrument(c, profile, until) < 0)
                log_oom();
        attempt_close(rt, "rate_limited");
        sheet_finish_runtime(j, rt);
        sr->next_retry_at = until;
        rt->next_kind = "rate-limit";
        (void) sheet_set_state(j, num, SHEET_WAITING);
        (void) job_arm_retry_timer(j, num);
        conductor_schedule(c);
}

/* Validations partly passed: in completion mode the sheet runs again with
 * the failing checks in its prompt, spending no retry. */
static bool attempt_try_completion(Job *j, unsigned num, const ValidationReport *report) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        const ScoreCompletion *cm = &j->score->completion;
        double pct = validation_report_pass_percentage(report);

        if (cm->max_attempts == 0 || sr->completion_attempts >= cm->max_attempts ||
            report->passed == 0 || pct < cm->threshold_percent)
                return false;

        sr->completion_attempts++;
        free(sr->error_message);
        sr->error_message = strdup_printf("%u of %u validations failed (%.0f%% passed); completion attempt %u of %u follows",
                                          report->failed, report->passed + report->failed, pct,
                                          sr->completion_attempts, cm->max_attempts);
        (void) free_and_strdup(&sr->error_category, "completion");
        attempt_close(rt, "partial");
        sheet_finish_runtime(j, rt);
        sr->next_retry_at = now_usec(CLOCK_REALTIME) + (usec_t) (cm->delay_seconds * (double) USEC_PER_SEC);
        rt->next_kind = "completion";
        (void) sheet_set_state(j, num, SHEET_RETRY_SCHEDULED);
        (void) job_arm_retry_timer(j, num);
        conductor_schedule(j->conductor);
        return true;
}

/* Flat files in the job's log directory: a directory per sheet or attempt
 * would cost two more inodes per attempt, which on ext4 was most of the
 * conductor's own time per sheet. */
static char *attempt_path(const SheetRuntime *rt, const char *file) {
        return strdup_printf("%s/sheet-%u.attempt-%u.%s", rt->attempt.log_dir, rt->num, rt->attempt.attempt, file);
}

typedef struct ValidationChild {
        const Score *score;
        unsigned num;
        usec_t started_at;
} ValidationChild;

static int validation_child(void *userdata) {
        ValidationChild *v = userdata;
        ValidationReport report = {};
        FILE *f;
        int r;

        /* We are a forked copy of the daemon: write through a fresh stream
         * on fd 1 so nothing buffered in the parent's stdout leaks into the
         * report, and leave with _exit (done by the runner). */
        f = fdopen(dup(STDOUT_FILENO), "w");
        if (!f)
                return 2;
        r = validation_run_all(v->score, v->num, v->started_at, &report);
        if (r < 0) {
                fprintf(stderr, "Validation pass failed: %s\n", strerror(-r));
                return 2;
        }
        r = validation_report_serialize(&report, f);
        validation_report_done(&report);
        if (r < 0 || fflush(f) != 0)
                return 2;
        return 0;
}

static void on_validation_exit(RunHandle *h, const RunResult *res, void *userdata);

static int sheet_start_validation(Job *j, unsigned num) {
        SheetRuntime *rt = &j->runtime[num - 1];
        Conductor *c = j->conductor;
        _cleanup_free_ char *out = attempt_path(rt, "validation"), *err = attempt_path(rt, "validation-stderr");
        _cleanup_free_ char *name = strdup_printf("%s.sheet-%u.attempt-%u.validate", j->rec.id, num, rt->attempt.attempt);
        _cleanup_strv_free_ char **env = sheet_environment(j, num, rt->attempt.attempt);
        unsigned budget = 60;
        ValidationChild v = {
                .score = j->score,
                .num = num,
                .started_at = rt->attempt.started_at,
        };
        RunSpec spec;
        int r;

        if (!out || !err || !name || !env)
                return -ENOMEM;
        for (size_t i = 0; i < j->score->n_validations; i++)
                budget += (j->score->validations[i].timeout_seconds ?: 30) +
                        (unsigned) (((uint64_t) j->score->validations[i].retry_count *
                                     j->score->validations[i].retry_delay_ms + 999) / 1000);

        spec = (RunSpec) {
                .env = env,
                .cwd = j->rec.workspace,
                .stdout_path = out,
                .stderr_path = err,
                .name = name,
                .timeout_usec = (usec_t) budget * USEC_PER_SEC,
                .kill_grace_usec = c->config.kill_grace_usec,
                .identity = &j->owner,
                .child_fn = validation_child,
                .child_userdata = &v,   /* read by the forked child only, before we return */
        };
        r = runner_start(c->runner, &spec, on_validation_exit, rt, &rt->handle);
        if (r < 0)
                return r;
        rt->phase = SHEET_PHASE_VALIDATING;
        return 0;
}

static void record_exec_result(Job *j, unsigned num, const RunResult *res) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        _cleanup_free_ char *out = attempt_path(rt, "stdout"), *err = attempt_path(rt, "stderr");
        bool t1 = false, t2 = false;

        sr->has_exit_code = rt->attempt.has_exit_code = res->exited;
        sr->exit_code = rt->attempt.exit_code = res->exited ? res->exit_code : 0;
        sr->exit_signal = rt->attempt.exit_signal = res->exit_signal;
        (void) free_and_strdup(&sr->exit_reason,
                               res->killed ? "cancelled" :
                               res->spawn_error < 0 ? "not-started" :
                               res->oom_killed ? "oom-kill" :
                               res->timed_out ? "timeout" :
                               res->exited ? "exited" : "signaled");
        sr->duration_seconds = (double) (res->finished_at - MIN(res->started_at, res->finished_at)) / (double) USEC_PER_SEC;

        free(sr->stdout_tail);
        free(sr->stderr_tail);
        sr->stdout_tail = sr->stderr_tail = NULL;
        if (out && read_file_tail(out, TAIL_MAX, &sr->stdout_tail, &t1) < 0)
                sr->stdout_tail = NULL;
        if (err && read_file_tail(err, TAIL_MAX, &sr->stderr_tail, &t2) < 0)
                sr->stderr_tail = NULL;
        sr->output_truncated = t1 || t2;
}

/* Read what the instrument printed: tokens and cost go to the sheet, and
 * the profile's patterns say whether it succeeded, hit a rate limit, was
 * refused, or failed otherwise. */
static int sheet_judge_output(Job *j, unsigned num, const RunResult *res, InstrumentVerdict *ret) {
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        _cleanup_free_ char *out_path = attempt_path(rt, "stdout"), *err_path = attempt_path(rt, "stderr"),
                *out = NULL, *err = NULL;
        _cleanup_(instrument_output_done) InstrumentOutput o = {};
        size_t out_size = 0, err_size = 0;
        bool t1, t2;
        int r;

        if (!out_path || !err_path)
                return -ENOMEM;
        /* a structured answer is parsed whole; beyond the bound its tail
         * still carries the error messages patterns look for */
        r = read_full_file(out_path, INSTRUMENT_OUTPUT_PARSE_MAX, &out, &out_size);
        if (r == -EFBIG)
                r = read_file_tail(out_path, INSTRUMENT_OUTPUT_PARSE_MAX, &out, &t1), out_size = out ? strlen(out) : 0;
        if (r < 0 && r != -ENOENT)
                return r;
        r = read_file_tail(err_path, TAIL_MAX, &err, &t2);
        if (r < 0 && r != -ENOENT)
                return r;
        err_size = err ? strlen(err) : 0;

        r = instrument_output_parse(rt->profile, &rt->config, out, out_size, &o);
        if (r < 0)
                return r;
        if (o.has_input_tokens || o.has_output_tokens) {
                sr->has_tokens = true;
                sr->input_tokens += o.input_tokens;
                sr->output_tokens += o.output_tokens;
        }
        if (o.has_cost) {
                sr->has_cost = true;
                sr->cost_usd += o.cost;
        }
        /* what was spent is on record now, whatever the validations say */
        if ((o.has_input_tokens || o.has_output_tokens || o.has_cost) &&
            store_save_sheet(j->conductor->store, j->rec.id, sr) < 0)
                log_sheet(LOG_ERR, j->rec.id, num, "Failed to store the token counts of sheet %u of job %s: %s",
                          num, j->rec.id, store_last_error(j->conductor->store));

        return instrument_classify(rt->profile,
                                   &(InstrumentAttempt) {
                                           .exit_code = res->exit_code,
                                           .out = out,
                                           .out_size = out_size,
                                           .err = err,
                                           .err_size = err_size,
                                   },
                                   &o, now_usec(CLOCK_REALTIME), ret);
}

static void on_exec_exit(RunHandle *h, const RunResult *res, void *userdata) {
        SheetRuntime *rt = userdata;
        Job *j = rt->job;
        unsigned num = rt->num;
        SheetRecord *sr = &j->sheets[num - 1];
        int r;

        rt->exec_result = *res;
        record_exec_result(j, num, res);
        /* a batch job can start and end between two looks at the queue */
        if (sr->state == SHEET_DISPATCHED && res->spawn_error == 0 && !res->killed)
                (void) sheet_set_state(j, num, SHEET_IN_PROGRESS);

        if (sr->state == SHEET_CANCELLED) {
                /* the cancel already decided this sheet; just close the books */
                attempt_close(rt, "cancelled");
                sheet_finish_runtime(j, rt);
                (void) store_save_attempt(j->conductor->store, j->rec.id, &rt->attempt);
                (void) store_save_sheet(j->conductor->store, j->rec.id, sr);
                sheet_drop_tails(sr);
                conductor_schedule(j->conductor);
                return;
        }

        if (res->spawn_error == -ENODATA && run_handle_error(h)) {
                /* a batch job that vanished: it ran, nobody knows how it ended */
                attempt_failed(j, num, "failed", "unknown", strdup(run_handle_error(h)));
                return;
        }
        if (res->spawn_error < 0) {
                attempt_failed(j, num, "failed", "spawn",
                               run_handle_error(h) ?
                               strdup_printf("cannot start the instrument: %s", run_handle_error(h)) :
                               strdup_printf("cannot start the instrument: %s%s", strerror(-res->spawn_error),
                                             run_handle_unit(rt->handle) ? "; the conductor's journal says more" : ""));
                return;
        }
        if (res->oom_killed) {
                attempt_failed(j, num, "failed", "oom",
                               j->score && j->score->resources.memory_max > 0 ?
                               strdup_printf("killed: exceeded memory_max (%" PRIu64 " bytes)", j->score->resources.memory_max) :
                               strdup("killed: out of memory"));
                return;
        }
        if (res->timed_out) {
                attempt_failed(j, num, "timeout", "timeout",
                               strdup_printf("timed out after %" PRIu64 " s", (uint64_t) (rt->timeout_usec / USEC_PER_SEC)));
                return;
        }
        if (!res->exited && run_handle_error(h)) {
                /* node failure, preemption, a cancel from outside... */
                attempt_failed(j, num, "failed", res->exit_signal > 0 ? "signal" : "node", strdup(run_handle_error(h)));
                return;
        }
        if (!res->exited) {
                attempt_failed(j, num, "failed", "signal",
                               strdup_printf("killed by signal %s", sigabbrev_np(res->exit_signal) ?: "unknown"));
                return;
        }

        if (rt->profile) {
                _cleanup_(instrument_verdict_done) InstrumentVerdict v = {};

                r = sheet_judge_output(j, num, res, &v);
                if (r < 0) {
                        attempt_failed(j, num, "failed", "instrument",
                                       strdup_printf("could not read the instrument's output: %s", strerror(-r)));
                        return;
                }
                switch (v.outcome) {
                case INSTRUMENT_OUTCOME_SUCCESS:
                        break;
                case INSTRUMENT_OUTCOME_RATE_LIMITED:
                        attempt_rate_limited(j, num, v.retry_at, strna(v.reason));
                        return;
                case INSTRUMENT_OUTCOME_AUTH:
                        attempt_failed(j, num, "failed", "auth",
                                       strdup_printf("instrument %s is not authorized (%s)", rt->profile->name, strna(v.reason)));
                        return;
                case INSTRUMENT_OUTCOME_CAPACITY:
                        attempt_failed(j, num, "failed", "capacity",
                                       strdup_printf("instrument %s is over capacity (%s)", rt->profile->name, strna(v.reason)));
                        return;
                case INSTRUMENT_OUTCOME_TIMEOUT:
                        attempt_failed(j, num, "failed", "timeout",
                                       strdup_printf("instrument %s timed out (%s)", rt->profile->name, strna(v.reason)));
                        return;
                default:
                        attempt_failed(j, num, "failed", "exit_code",
                                       res->exit_code != 0 ? strdup_printf("exited with status %d", res->exit_code)
                                                           : strdup_printf("failed: %s", strna(v.reason)));
                        return;
                }
        } else if (res->exit_code != 0) {
                attempt_failed(j, num, "failed", "exit_code",
                               strdup_printf("exited with status %d", res->exit_code));
                return;
        }

        if (j->score && j->score->n_validations > 0) {
                /* a unit keeps the exit status until the attempt is
                 * recorded: a restart meanwhile validates again */
                rt->exec_handle = rt->handle;
                rt->handle = NULL;
                r = sheet_start_validation(j, num);
                if (r < 0)
                        attempt_failed(j, num, "failed", "validation",
                                       strdup_printf("could not start the validation pass: %s", strerror(-r)));
                return;
        }

        sr->validation_passed = -1;
        attempt_succeeded(j, num);
}

static void on_validation_exit(RunHandle *h, const RunResult *res, void *userdata) {
        SheetRuntime *rt = userdata;
        Job *j = rt->job;
        unsigned num = rt->num;
        SheetRecord *sr = &j->sheets[num - 1];
        _cleanup_free_ char *path = attempt_path(rt, "validation"), *text = NULL, *json = NULL;
        ValidationReport report = {};
        int r;

        (void) h;
        if (sr->state == SHEET_CANCELLED) {
                attempt_close(rt, "cancelled");
                sheet_finish_runtime(j, rt);
                (void) store_save_attempt(j->conductor->store, j->rec.id, &rt->attempt);
                conductor_schedule(j->conductor);
                return;
        }

        if (!res->exited || res->exit_code != 0) {
                attempt_failed(j, num, "failed", "validation",
                               strdup_printf("the validation pass %s",
                                             res->timed_out ? "timed out" :
                                             res->exited ? "failed; see its validation-stderr log next to the attempt's stdout" :
                                             "was killed"));
                return;
        }

        r = path ? read_full_file(path, REPORT_MAX, &text, NULL) : -ENOMEM;
        if (r >= 0)
                r = validation_report_parse(text, &report);
        if (r < 0) {
                attempt_failed(j, num, "failed", "validation",
                               strdup_printf("could not read the validation report: %s", strerror(-r)));
                return;
        }

        sr->passed_validations = report.passed;
        sr->failed_validations = report.failed;
        sr->pass_percentage = validation_report_pass_percentage(&report);
        sr->validation_passed = validation_report_passed(&report);
        free(sr->validation_details);
        sr->validation_details = validation_report_to_json(&report, &json) >= 0 ? TAKE_PTR(json) : NULL;

        if (validation_report_passed(&report))
                attempt_succeeded(j, num);
        else if (attempt_try_completion(j, num, &report))
                ;
        else {
                _cleanup_free_ char *first = NULL;

                for (size_t i = 0; i < report.n; i++)
                        if (report.outcomes[i].status == VALIDATION_FAILED) {
                                first = strdup_printf("%s: %s", strna(report.outcomes[i].description),
                                                      strna(report.outcomes[i].detail));
                                break;
                        }
                attempt_failed(j, num, "failed", "validation",
                               strdup_printf("%u of %u validations failed%s%s", report.failed,
                                             report.passed + report.failed, first ? "; " : "", strempty(first)));
        }
        validation_report_done(&report);
}

/* The instrument is rate limited (by another sheet, maybe another job's):
 * wait for it without starting an attempt. */
static bool sheet_hold_for_rate_limit(Job *j, unsigned num, const SheetInstrument *si) {
        SheetRecord *sr = &j->sheets[num - 1];
        usec_t until = conductor_instrument_blocked_until(j->conductor, si->profile->name, now_usec(CLOCK_REALTIME));

        if (until == 0)
                return false;
        sr->next_retry_at = until;
        free(sr->error_message);
        sr->error_message = strdup_printf("instrument %s is rate limited; waiting for it", si->profile->name);
        /* a completion attempt held back stays one */
        if (!streq_ptr(sr->error_category, "completion")) {
                (void) free_and_strdup(&sr->error_category, "rate_limit");
                j->runtime[num - 1].next_kind = "rate-limit";
        }
        (void) sheet_set_state(j, num, SHEET_WAITING);
        (void) job_arm_retry_timer(j, num);
        return true;
}

/* The prompt of the next attempt: the template with the cross-sheet
 * context, and after a partial pass the checks still failing. */
static int sheet_build_prompt(Job *j, unsigned num, bool completion, char **ret, char **ret_error) {
        SheetRecord *sr = &j->sheets[num - 1];
        _cleanup_value_free_ Value *extra = NULL;
        _cleanup_free_ char *prompt = NULL, *suffix = NULL;
        int r;

        if (j->score->cross_sheet.enabled) {
                r = sheet_cross_context(j, num, &extra);
                if (r < 0)
                        return r;
        }
        r = score_render_prompt_with(j->score, num, extra, &prompt, ret_error);
        if (r < 0)
                return r;
        if (completion) {
                suffix = completion_prompt_suffix(sr->validation_details, sr->completion_attempts,
                                                  j->score->completion.max_attempts);
                if (!suffix)
                        return -ENOMEM;
                if (strextend(&prompt, suffix) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(prompt);
        return 0;
}

/* A batch job got its id (recorded at once: a conductor restarting now
 * follows it instead of running the sheet again) or started to run. */
static void on_exec_progress(RunHandle *h, RunProgress p, void *userdata) {
        SheetRuntime *rt = userdata;
        Job *j = rt->job;
        unsigned num = rt->num;
        int r;

        switch (p) {
        case RUN_PROGRESS_SUBMITTED:
                (void) free_and_strdup(&rt->attempt.unit, run_handle_unit(h));
                r = store_save_attempt(j->conductor->store, j->rec.id, &rt->attempt);
                if (r < 0)
                        log_error_errno(r, "Failed to record %s of sheet %u of job %s: %s", strna(rt->attempt.unit),
                                        num, j->rec.id, store_last_error(j->conductor->store));
                log_sheet(LOG_INFO, j->rec.id, num, "Sheet %u attempt %u of job %s submitted as %s.",
                          num, rt->attempt.attempt, j->rec.id, strna(rt->attempt.unit));
                break;
        case RUN_PROGRESS_RUNNING:
                if (j->sheets[num - 1].state == SHEET_DISPATCHED)
                        (void) sheet_set_state(j, num, SHEET_IN_PROGRESS);
                break;
        }
}

static int sheet_dispatch(Job *j, unsigned num) {
        Conductor *c = j->conductor;
        SheetRecord *sr = &j->sheets[num - 1];
        SheetRuntime *rt = &j->runtime[num - 1];
        _cleanup_free_ char *prompt = NULL, *error = NULL, *out = NULL, *err = NULL, *name = NULL, *in = NULL;
        _cleanup_strv_free_ char **env = NULL, **fields = NULL, **source_env = NULL;
        _cleanup_(sheet_instrument_done) SheetInstrument si = {};
        _cleanup_(instrument_invocation_done) InstrumentInvocation inv = {};
        unsigned attempt = sr->attempt_count + 1;
        usec_t now = now_usec(CLOCK_REALTIME);
        bool completion = streq_ptr(sr->error_category, "completion");
        const char *kind = rt->next_kind ?: (completion ? "completion" : sr->attempt_count > 0 ? "retry" : "run");
        Runner *runner = job_runner(j);
        RunSpec spec;
        int r;

        r = sheet_pick_instrument(j, num, &si, &error);
        if (r == -ENOMEM)
                return log_oom();
        if (r >= 0 && sheet_hold_for_rate_limit(j, num, &si))
                return 0;

        attempt_record_done(&rt->attempt);
        rt->attempt = (AttemptRecord) {
                .sheet = num,
                .attempt = attempt,
                .started_at = now,
                .log_dir = strdup_printf("%s/%s", c->log_dir, j->rec.id),
                .kind = strdup(kind),
                .instrument = si.profile ? strdup(si.profile->name) : NULL,
        };
        rt->next_kind = NULL;
        if (!rt->attempt.log_dir || !rt->attempt.kind)
                return log_oom();
        sr->attempt_count = attempt;
        if (sr->started_at == 0)
                sr->started_at = now;
        sheet_clear_outcome(sr);
        (void) free_and_strdup(&sr->execution_mode, runner_mode_to_string(runner_get_mode(runner)));
        if (si.profile)
                (void) free_and_strdup(&sr->instrument, si.profile->name);
        name = strdup_printf("%s.sheet-%u.attempt-%u", j->rec.id, num, attempt);
        if (!name)
                return log_oom();
        /* stored with the dispatch, before the unit exists: a conductor
         * that dies in between finds (or rules out) the unit by name */
        rt->attempt.unit = runner_unit_name(runner, name);
        (void) sheet_set_state(j, num, SHEET_DISPATCHED);
        rt->phase = SHEET_PHASE_EXECUTING;
        j->n_running++;
        c->running_sheets++;

        if (r < 0) {
                attempt_failed(j, num, "failed", "instrument", TAKE_PTR(error));
                return 0;
        }

        r = sheet_build_prompt(j, num, completion, &prompt, &error);
        if (r < 0) {
                attempt_failed(j, num, "failed", "template",
                               strdup_printf("prompt does not render: %s", error ?: strerror(-r)));
                return 0;
        }

        r = mkdir_p(rt->attempt.log_dir, 0700);
        if (r < 0) {
                attempt_failed(j, num, "failed", "spawn",
                               strdup_printf("cannot create log directory %s: %s", rt->attempt.log_dir, strerror(-r)));
                return 0;
        }
        out = attempt_path(rt, "stdout");
        err = attempt_path(rt, "stderr");
        env = sheet_environment(j, num, attempt);
        if (strv_push(&fields, strdup_printf("MARIANNE_JOB=%s", j->rec.id)) < 0 ||
            strv_push(&fields, strdup_printf("MARIANNE_SHEET=%u", num)) < 0 ||
            strv_push(&fields, strdup_printf("MARIANNE_ATTEMPT=%u", attempt)) < 0)
                return log_oom();
        if (!out || !err || !env)
                return log_oom();

        r = sheet_source_environment(j, &source_env);
        if (r < 0)
                return log_oom();
        r = instrument_build_invocation(si.profile, &si.config, prompt, NULL, env, source_env, &inv, &error);
        if (r < 0) {
                attempt_failed(j, num, "failed", r == -ENOENT ? "instrument" : "spawn",
                               strdup_printf("cannot run instrument %s: %s", si.name, error ?: strerror(-r)));
                return 0;
        }
        if (inv.stdin_data) {
                in = attempt_path(rt, "prompt");
                if (!in)
                        return log_oom();
                r = write_file_private(in, inv.stdin_data, inv.stdin_size);
                if (r < 0) {
                        attempt_failed(j, num, "failed", "spawn",
                                       strdup_printf("cannot write the prompt to %s: %s", in, strerror(-r)));
                        return 0;
                }
        }

        rt->timeout_usec = inv.timeout_usec ?: (usec_t) j->score->timeout_seconds * USEC_PER_SEC;
        spec = (RunSpec) {
                .argv = inv.argv,
                .env = inv.envp,
                .cwd = j->rec.workspace,
                .stdin_path = in,
                .stdout_path = out,
                .stderr_path = err,
                .name = name,
                .group = j->rec.id,
                .log_fields = fields,
                .resources = &j->score->resources,
                .timeout_usec = rt->timeout_usec,
                .kill_grace_usec = c->config.kill_grace_usec,
                .identity = &j->owner,
                .slurm = j->score->runner.type == SCORE_RUNNER_SLURM ? &j->score->runner.slurm : NULL,
                .progress_fn = on_exec_progress,
        };
        r = runner_start(runner, &spec, on_exec_exit, rt, &rt->handle);
        if (r < 0) {
                attempt_failed(j, num, "failed", "spawn",
                               strdup_printf("cannot start the instrument: %s", strerror(-r)));
                return 0;
        }
        rt->profile = TAKE_PTR(si.profile);
        rt->config = si.config;
        si.config = (InstrumentConfig) {};

        rt->attempt.pid = run_handle_pid(rt->handle);
        rt->attempt.pid_starttime = run_handle_starttime(rt->handle);
        (void) free_and_strdup(&rt->attempt.cgroup, run_handle_cgroup(rt->handle));
        if (j->rec.state == JOB_QUEUED)
                (void) job_set_state(j, JOB_RUNNING);
        /* a batch job waits in the queue first: in progress once it runs */
        if (runner_get_mode(runner) != RUNNER_MODE_SLURM)
                (void) sheet_set_state(j, num, SHEET_IN_PROGRESS);
        return 0;
}

int job_adopt_attempt(Job *j, unsigned num) {
        Conductor *c = j->conductor;
        SheetRuntime *rt = &j->runtime[num - 1];
        _cleanup_free_ char *name = NULL, *out = NULL, *err = NULL;
        Runner *runner;
        RunSpec spec;
        int r;

        if (!rt->attempt.unit)
                return -EOPNOTSUPP;
        r = conductor_runner_for_unit(c, rt->attempt.unit, &runner);
        if (r < 0)
                return r;
        /* the attempt as it was started, for what the runner needs of it
         * at the end (a batch job's output to copy) */
        name = strdup_printf("%s.sheet-%u.attempt-%u", j->rec.id, num, rt->attempt.attempt);
        out = rt->attempt.log_dir ? attempt_path(rt, "stdout") : NULL;
        err = rt->attempt.log_dir ? attempt_path(rt, "stderr") : NULL;
        if (!name)
                return -ENOMEM;
        spec = (RunSpec) {
                .cwd = j->rec.workspace,
                .stdout_path = out,
                .stderr_path = err,
                .name = name,
                .group = j->rec.id,
                .timeout_usec = j->score ? (usec_t) j->score->timeout_seconds * USEC_PER_SEC : 0,
                .identity = &j->owner,
                .progress_fn = on_exec_progress,
        };
        r = runner_adopt(runner, rt->attempt.unit, &spec, on_exec_exit, rt, &rt->handle);
        if (r < 0)
                return r;
        rt->timeout_usec = spec.timeout_usec;
        /* its output is read as its instrument's when it ends */
        if (j->score) {
                _cleanup_(sheet_instrument_done) SheetInstrument si = {};

                if (sheet_pick_instrument(j, num, &si, NULL) >= 0) {
                        rt->profile = TAKE_PTR(si.profile);
                        rt->config = si.config;
                        si.config = (InstrumentConfig) {};
                }
        }
        rt->adopted = true;
        rt->phase = SHEET_PHASE_EXECUTING;
        j->n_running++;
        c->running_sheets++;
        log_sheet(LOG_NOTICE, j->rec.id, num, "Sheet %u attempt %u of job %s runs on in %s; following it.",
                  num, rt->attempt.attempt, j->rec.id, rt->attempt.unit);
        return 0;
}

/* ---- dispatching ------------------------------------------------------ */

static int on_pace_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        (void) usec;
        j->pace_timer = sd_event_source_disable_unref(s);
        conductor_schedule(j->conductor);
        return 0;
}

static void job_dispatch(Job *j, usec_t now) {
        Conductor *c = j->conductor;
        unsigned limit = j->score && j->score->max_concurrent > 0 ? j->score->max_concurrent : 1;

        if (now < j->not_before) {
                if (!j->pace_timer &&
                    sd_event_add_time(c->event, &j->pace_timer, CLOCK_MONOTONIC, j->not_before,
                                      10 * USEC_PER_MSEC, on_pace_timer, j) < 0)
                        log_job(LOG_ERR, j->rec.id, "Failed to arm the pacing timer of job %s.", j->rec.id);
                return;
        }

        for (size_t i = 0; i < j->rec.total_sheets && j->counts[SHEET_READY] > 0; i++) {
                if (c->running_sheets >= c->config.max_concurrent_sheets || j->n_running >= limit)
                        return;
                if (j->sheets[i].state != SHEET_READY)
                        continue;
                (void) sheet_dispatch(j, (unsigned) i + 1);
                /* a dispatch may have ended the job (a sheet that cannot even
                 * start, with no retries left) */
                if (job_state_is_terminal(j->rec.state) || j->rec.state == JOB_PAUSED)
                        return;
                if (j->score && j->score->pause_between_sheets_seconds > 0 && j->not_before > now)
                        return;
        }
}

static int on_schedule(sd_event_source *s, void *userdata) {
        Conductor *c = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        (void) s;
        for (size_t i = 0; i < c->n_jobs; i++) {
                Job *j = c->jobs[i];

                if (c->running_sheets >= c->config.max_concurrent_sheets)
                        break;
                if (j->rec.state != JOB_QUEUED && j->rec.state != JOB_RUNNING)
                        continue;
                if (j->counts[SHEET_READY] == 0 || !j->score)
                        continue;
                job_dispatch(j, now);
        }
        return 0;
}

int conductor_schedule_setup(Conductor *c) {
        int r;

        r = sd_event_add_defer(c->event, &c->schedule_source, on_schedule, c);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->schedule_source, SD_EVENT_OFF);
}

void conductor_schedule(Conductor *c) {
        if (c->schedule_source)
                (void) sd_event_source_set_enabled(c->schedule_source, SD_EVENT_ONESHOT);
}

/* ---- pause, resume, cancel -------------------------------------------- */

/* Freeze or thaw every live attempt of the job; the sheets follow
 * (in_progress ⇄ waiting).  Best effort per sheet: one that cannot be
 * frozen keeps running and the journal says why. */
static int job_set_frozen(Job *j, bool frozen) {
        int ret = 0;

        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];
                SheetState from = frozen ? SHEET_IN_PROGRESS : SHEET_WAITING;
                int r;

                if (!rt->handle)
                        continue;
                r = frozen ? run_handle_freeze(rt->handle) : run_handle_thaw(rt->handle);
                if (r < 0) {
                        log_sheet(LOG_ERR, j->rec.id, rt->num, "Failed to %s sheet %u of job %s: %s",
                                  frozen ? "freeze" : "thaw", rt->num, j->rec.id, strerror(-r));
                        ret = r;
                        continue;
                }
                if (j->sheets[i].state == from)
                        (void) sheet_set_state(j, rt->num, frozen ? SHEET_WAITING : SHEET_IN_PROGRESS);
        }
        return ret;
}

int job_freeze_all(Job *j) {
        return job_set_frozen(j, true);
}

int job_thaw_all(Job *j) {
        return job_set_frozen(j, false);
}

void job_kill_all(Job *j) {
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];
                SheetRecord *sr = &j->sheets[i];

                rt->retry_timer = sd_event_source_disable_unref(rt->retry_timer);
                if (sheet_state_is_terminal(sr->state))
                        continue;
                if (rt->handle) {
                        int r = run_handle_kill(rt->handle);

                        if (r < 0)
                                log_sheet(LOG_ERR, j->rec.id, rt->num, "Failed to kill sheet %u of job %s: %s",
                                          rt->num, j->rec.id, strerror(-r));
                }
                (void) free_and_strdup(&sr->error_message, "cancelled");
                (void) free_and_strdup(&sr->error_category, "cancelled");
                if (rt->attempt.attempt > 0 && !rt->attempt.outcome)
                        attempt_close(rt, "cancelled");
                if (sr->state == SHEET_RETRY_SCHEDULED || sr->state == SHEET_READY || sr->state == SHEET_PENDING ||
                    sr->state == SHEET_DISPATCHED || sr->state == SHEET_IN_PROGRESS || sr->state == SHEET_WAITING)
                        (void) sheet_set_state(j, rt->num, SHEET_CANCELLED);
        }
}

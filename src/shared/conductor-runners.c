/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Which runner a job's sheets go to.  The host runner (systemd or local,
 * chosen at start) runs every job without a runner: block and every
 * validation pass; a score may ask for the local runner beside a systemd
 * host, or for Slurm, whose settings are the score's over the
 * configuration's [Slurm] defaults.  The extra runners are set up when
 * first needed. */

#include "conductor-private.h"
#include "log.h"
#include "runner-slurm.h"

static const char *const runner_choice_table[_RUNNER_CHOICE_MAX] = {
        [RUNNER_CHOICE_AUTO] = "auto",
        [RUNNER_CHOICE_LOCAL] = "local",
        [RUNNER_CHOICE_SYSTEMD] = "systemd",
        [RUNNER_CHOICE_SLURM] = "slurm",
};

const char *runner_choice_to_string(RunnerChoice c) {
        return c >= 0 && c < _RUNNER_CHOICE_MAX ? runner_choice_table[c] : NULL;
}

int runner_choice_from_string(const char *s) {
        for (int i = 0; s && i < _RUNNER_CHOICE_MAX; i++)
                if (streq(s, runner_choice_table[i]))
                        return i;
        return -EINVAL;
}

int conductor_setup_runner(Conductor *c, sd_event *event, const ConductorConfig *config) {
        int r;

        /* Runner=slurm sends jobs to Slurm; validation passes and scores
         * asking for another runner still need the best host runner */
        if (config->runner != RUNNER_CHOICE_LOCAL) {
                r = runner_new_systemd(event, &c->runner);
                if (r >= 0)
                        return 0;
                if (config->runner == RUNNER_CHOICE_SYSTEMD)
                        return log_error_errno(r, "Failed to set up the systemd runner: %s",
                                               r == -ENOMEDIUM ? "systemd is not PID 1" :
                                               r == -EPERM ? "transient system units need root" : strerror(-r));
                /* not our place, not an error: a user conductor, a container
                 * without systemd; a broken manager is worth a warning */
                if (r != -ENOMEDIUM && r != -EPERM)
                        log_warning_errno(r, "The service manager cannot run sheets (%m); using the local runner.");
        }
        r = runner_new_local(event, config->cgroup_dir, &c->runner);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the local runner: %m");
        return 0;
}

int conductor_set_slurm_defaults(Conductor *c, const ScoreSlurm *defaults, usec_t poll_interval_usec) {
        ScoreSlurm copy = {};
        int r;

        if (defaults) {
                r = score_slurm_copy(defaults, &copy);
                if (r < 0)
                        return r;
        }
        score_slurm_done(&c->slurm_defaults);
        c->slurm_defaults = copy;
        /* the poll interval of a runner already polling stays until a restart */
        if (poll_interval_usec > 0)
                c->slurm_poll_usec = poll_interval_usec;
        return 0;
}

/* The Slurm runner, set up on first use; -ENOENT (logged once per
 * failure) when this machine has no Slurm commands. */
int conductor_slurm_runner(Conductor *c, Runner **ret) {
        int r;

        if (!c->slurm_runner) {
                r = runner_new_slurm(c->event, &(RunnerSlurmOptions) { .poll_interval_usec = c->slurm_poll_usec },
                                     &c->slurm_runner);
                if (r < 0) {
                        if (c->slurm_error != r)
                                log_warning_errno(r, "Cannot submit to Slurm: %s",
                                                  r == -ENOENT ? "sbatch, squeue, scontrol or scancel is not installed"
                                                               : strerror(-r));
                        c->slurm_error = r;
                        return r;
                }
                c->slurm_error = 0;
                log_info("Slurm runner ready: batch jobs are polled every %.1f s.",
                         (double) (c->slurm_poll_usec ?: 2 * USEC_PER_SEC) / (double) USEC_PER_SEC);
        }
        *ret = c->slurm_runner;
        return 0;
}

static int conductor_local_runner(Conductor *c, Runner **ret) {
        int r;

        if (runner_get_mode(c->runner) != RUNNER_MODE_SYSTEMD) {
                *ret = c->runner;
                return 0;
        }
        if (!c->local_runner) {
                r = runner_new_local(c->event, NULL, &c->local_runner);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the local runner: %m");
        }
        *ret = c->local_runner;
        return 0;
}

int conductor_resolve_runner(Conductor *c, Score *s, char **ret_error) {
        Runner *r;
        int k;

        if (s->runner.type == SCORE_RUNNER_DEFAULT && c->config.runner == RUNNER_CHOICE_SLURM)
                s->runner.type = SCORE_RUNNER_SLURM;

        switch (s->runner.type) {
        case SCORE_RUNNER_SLURM:
                k = score_slurm_merge(&s->runner.slurm, &c->slurm_defaults);
                if (k < 0)
                        return k;
                k = conductor_slurm_runner(c, &r);
                if (k < 0) {
                        if (ret_error)
                                *ret_error = strdup_printf("this conductor cannot submit to Slurm: %s",
                                                           k == -ENOENT ? "sbatch, squeue, scontrol or scancel is not installed on its machine"
                                                                        : strerror(-k));
                        return -EOPNOTSUPP;
                }
                return 0;
        case SCORE_RUNNER_SYSTEMD:
                if (runner_get_mode(c->runner) != RUNNER_MODE_SYSTEMD) {
                        if (ret_error)
                                *ret_error = strdup_printf("runner type systemd needs a conductor running as root under systemd; "
                                                           "this one runs sheets in %s mode",
                                                           runner_mode_to_string(runner_get_mode(c->runner)));
                        return -EOPNOTSUPP;
                }
                return 0;
        case SCORE_RUNNER_LOCAL:
                return conductor_local_runner(c, &r);
        default:
                return 0;
        }
}

Runner *job_runner(Job *j) {
        Conductor *c = j->conductor;

        switch (j->score ? j->score->runner.type : SCORE_RUNNER_DEFAULT) {
        case SCORE_RUNNER_SLURM:
                return c->slurm_runner ?: c->runner;    /* resolved when the score was loaded */
        case SCORE_RUNNER_LOCAL:
                return c->local_runner ?: c->runner;
        default:
                return c->runner;
        }
}

const char *job_execution_mode(Job *j) {
        /* a finished job has let go of its score: its sheets remember */
        if (!j->score)
                for (unsigned i = 0; i < j->rec.total_sheets; i++)
                        if (j->sheets[i].execution_mode)
                                return j->sheets[i].execution_mode;
        return runner_mode_to_string(runner_get_mode(job_runner(j)));
}

int conductor_runner_for_unit(Conductor *c, const char *unit, Runner **ret) {
        if (startswith(unit, "slurm:"))
                return conductor_slurm_runner(c, ret);
        *ret = c->runner;
        return 0;
}

bool conductor_has_slurm(Conductor *c) {
        Runner *r;

        return conductor_slurm_runner(c, &r) >= 0;
}

/* Answers younger than this are given again: any local user may ask, and
 * each ask would otherwise be a process and a call to the controller. */
#define PING_CACHE_USEC (2 * USEC_PER_SEC)
#define PING_WAITERS_MAX 256U

static void ping_answer_all(Conductor *c, int status, const char *message) {
        SlurmPingWaiter *w = TAKE_PTR(c->ping_waiters);
        size_t n = c->n_ping_waiters;

        c->n_ping_waiters = 0;
        for (size_t i = 0; i < n; i++)
                w[i].cb(status, message, w[i].userdata);
        free(w);
}

static void on_ping(int status, const char *message, void *userdata) {
        Conductor *c = userdata;

        c->ping_running = false;
        if (status == -ECANCELED)
                return;         /* the runner is going: conductor_free_runners() answered */
        c->ping_status = status;
        c->ping_at = now_usec(CLOCK_MONOTONIC);
        if (free_and_strdup(&c->ping_message, strempty(message)) < 0)
                c->ping_at = 0;
        ping_answer_all(c, status, message);
}

int conductor_slurm_ping(Conductor *c, conductor_ping_fn cb, void *userdata) {
        SlurmPingWaiter *w;
        Runner *r;
        int k;

        k = conductor_slurm_runner(c, &r);
        if (k < 0)
                return k;
        if (c->ping_at > 0 && now_usec(CLOCK_MONOTONIC) - c->ping_at < PING_CACHE_USEC) {
                cb(c->ping_status, c->ping_message, userdata);
                return 0;
        }
        if (c->n_ping_waiters >= PING_WAITERS_MAX)
                return -EBUSY;
        w = reallocarray(c->ping_waiters, c->n_ping_waiters + 1, sizeof(SlurmPingWaiter));
        if (!w)
                return -ENOMEM;
        c->ping_waiters = w;
        if (!c->ping_running) {
                k = runner_slurm_ping(r, on_ping, c);
                if (k < 0)
                        return k;
                c->ping_running = true;
        }
        c->ping_waiters[c->n_ping_waiters++] = (SlurmPingWaiter) { cb, userdata };
        return 0;
}

void conductor_cancel_pings(Conductor *c) {
        ping_answer_all(c, -ECANCELED, "the conductor is stopping");
}

void conductor_free_runners(Conductor *c) {
        conductor_cancel_pings(c);
        c->slurm_runner = runner_free(c->slurm_runner);
        c->local_runner = runner_free(c->local_runner);
        c->runner = runner_free(c->runner);
        score_slurm_done(&c->slurm_defaults);
        free(c->ping_message);
        c->ping_message = NULL;
}

int conductor_plan_batch_script(Conductor *c, const Score *s, unsigned num, char **argv, bool prompt_on_stdin,
                                uid_t owner_uid, gid_t owner_gid, char **ret_script, char ***ret_sbatch_argv) {
        _cleanup_(identity_done) Identity owner = {};
        _cleanup_free_ char *job_id = NULL, *name = NULL;
        _cleanup_strv_free_ char **env = NULL;
        Runner *r = NULL;
        int k;

        if (s->runner.type != SCORE_RUNNER_SLURM)
                return -EOPNOTSUPP;
        k = identity_load(owner_uid, owner_gid, &owner);
        if (k < 0)
                return k;
        /* the number comes with the start: "N" stands in for it */
        job_id = job_make_id(s->name, 0);
        if (job_id && endswith(job_id, "-0"))
                job_id[strlen(job_id) - 1] = 'N';
        name = job_id ? strdup_printf("%s.sheet-%u.attempt-1", job_id, num) : NULL;
        env = job_id ? sheet_base_environment(c->exec_search_path, &owner, job_id, num, 1, s->workspace) : NULL;
        if (!name || !env)
                return -ENOMEM;
        (void) conductor_slurm_runner(c, &r);
        return runner_slurm_render_script(
                        &(RunSpec) {
                                .argv = argv,
                                .env = env,
                                .cwd = s->workspace,
                                .stdin_path = prompt_on_stdin ? "prompt" : NULL,
                                .name = name,
                                .group = job_id,
                                .timeout_usec = (usec_t) s->timeout_seconds * USEC_PER_SEC,
                                .identity = &owner,
                                .slurm = &s->runner.slurm,
                        },
                        r ? runner_slurm_sbatch_path(r) : NULL, ret_script, ret_sbatch_argv);
}

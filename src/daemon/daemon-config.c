/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The conductor's configuration file and what it governs beyond the core:
 * reloading it, and leaving when there is nothing to do. */

#include <systemd/sd-daemon.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

#define DEFAULT_MAX_JOBS_PER_USER 100U

static unsigned default_max_concurrent_sheets(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        return n > 0 ? 2 * (unsigned) n : 2;
}

int daemon_load_config(Daemon *d, char **ret_error) {
        _cleanup_strv_free_ char **warnings = NULL;
        _cleanup_(conductor_settings_done) ConductorSettings s = {};
        unsigned sheets, jobs;
        int r;

        r = conductor_settings_load(d->config_path, &s, &warnings, ret_error);
        STRV_FOREACH(w, warnings)
                log_warning("%s", *w);
        if (r < 0)
                return r;

        /* a key taken out of the file falls back to its default again */
        sheets = d->arg_max_concurrent_sheets ?: s.max_concurrent_sheets ?: default_max_concurrent_sheets();
        jobs = d->arg_max_jobs_per_user ?: s.max_jobs_per_user ?: DEFAULT_MAX_JOBS_PER_USER;
        d->exit_on_idle_usec = d->arg_exit_on_idle_usec != USEC_INFINITY ? d->arg_exit_on_idle_usec :
                               s.exit_on_idle_set ? s.exit_on_idle_usec : 0;

        d->max_concurrent_sheets = sheets;
        d->max_jobs_per_user = jobs;
        if (!d->conductor)
                d->runner = d->arg_runner >= 0 ? (RunnerChoice) d->arg_runner :
                            s.runner_set ? (RunnerChoice) s.runner : RUNNER_CHOICE_AUTO;
        else if (s.runner_set && (RunnerChoice) s.runner != d->runner)
                log_notice("%s: Runner=%s takes effect at the next start of the conductor.",
                           d->config_path, runner_choice_to_string((RunnerChoice) s.runner));
        r = free_and_strdup(&d->exec_search_path, s.exec_search_path);
        if (r < 0)
                return r;
        d->slurm_poll_usec = s.slurm_poll_interval_usec;
        score_slurm_done(&d->slurm_defaults);
        r = score_slurm_copy(&s.slurm, &d->slurm_defaults);
        if (r < 0)
                return r;
        if (d->conductor) {
                /* for jobs started from now on */
                r = conductor_set_slurm_defaults(d->conductor, &d->slurm_defaults, d->slurm_poll_usec);
                if (r < 0)
                        return r;
                r = conductor_set_limits(d->conductor, sheets, jobs);
                if (r < 0)
                        return r;
                r = conductor_set_exec_search_path(d->conductor, d->exec_search_path);
                if (r < 0)
                        return r;
                /* profiles in /etc/marianne/instruments may have changed too */
                r = conductor_load_instruments(d->conductor);
                if (r < 0)
                        return r;
                (void) bus_emit_properties_changed(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE,
                                                   "MaxConcurrentSheets", "MaxJobsPerUser", NULL);
        }
        log_info("Configuration %s: at most %u sheets at once, %u active jobs per user, %s.",
                 d->config_path, sheets, jobs, d->exit_on_idle_usec > 0 ? "exit when idle" : "no exit on idle");
        return 0;
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        (void) m;
        (void) error;
        d->last_activity = now_usec(CLOCK_MONOTONIC);
        return 0;       /* just watching */
}

static bool daemon_is_busy(Daemon *d) {
        ConductorStatus st;

        conductor_get_status(d->conductor, &st);
        /* an open peer connection is a client that may still call or be
         * waiting for signals; on the bus a client can just reactivate us */
        return st.active_jobs > 0 || st.running_sheets > 0 || polkit_registry_pending(d->polkit) > 0 ||
                d->n_peers > 0;
}

static int on_idle_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        (void) usec;
        if (d->exit_on_idle_usec == 0 || daemon_is_busy(d))
                d->last_activity = now;
        else if (now - d->last_activity >= d->exit_on_idle_usec) {
                /* let go of the name first: a call arriving from now on
                 * activates a new conductor instead of reaching a dying one.
                 * The socket needs nothing: the service manager keeps
                 * listening and a new connection starts us again. */
                log_info("Idle for %llu s, exiting; the next call starts the conductor again.",
                         (unsigned long long) (d->exit_on_idle_usec / USEC_PER_SEC));
                (void) sd_notify(false, "STOPPING=1");
                if (d->bus) {
                        r = sd_bus_release_name(d->bus, CONDUCTOR_BUS_NAME);
                        if (r < 0)
                                log_warning_errno(r, "Failed to release %s: %m", CONDUCTOR_BUS_NAME);
                }
                return sd_event_exit(d->event, 0);
        }
        r = sd_event_source_set_time_relative(s, USEC_PER_SEC);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int daemon_watch_activity(Daemon *d, sd_bus *bus) {
        int r;

        r = sd_bus_add_filter(bus, NULL, on_message, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch bus activity: %m");
        return 0;
}

int daemon_setup_idle(Daemon *d) {
        int r;

        d->last_activity = now_usec(CLOCK_MONOTONIC);
        if (d->bus) {
                r = daemon_watch_activity(d, d->bus);
                if (r < 0)
                        return r;
        }
        r = sd_event_add_time_relative(d->event, &d->idle_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
                                       100 * USEC_PER_MSEC, on_idle_check, d);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the idle timer: %m");
        return 0;
}

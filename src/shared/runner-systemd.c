/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The systemd runner: every sheet attempt is a transient service of the
 * system service manager, in a slice per job under marianne.slice, started
 * with StartTransientUnit over PID 1's private socket.  The unit outlives
 * the conductor: RemainAfterExit= keeps a finished attempt's unit (and its
 * exit status) until the conductor has recorded it and collects it, so a
 * restarted conductor adopts running and finished attempts alike.  Ends
 * are learnt from the units' PropertiesChanged signals, then their
 * properties are read; nothing polls.
 *
 * Validation passes (a function run in a forked copy of the conductor)
 * cannot be a unit; they run on a local runner inside. */

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "cgroup.h"
#include "identity.h"
#include "log.h"
#include "runner-internal.h"

#define SYSTEMD_PRIVATE_ADDRESS "unix:path=/run/systemd/private"
#define SYSTEMD_DEST            "org.freedesktop.systemd1"
#define SYSTEMD_PATH            "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER         "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT            "org.freedesktop.systemd1.Unit"
#define SYSTEMD_SERVICE         "org.freedesktop.systemd1.Service"
#define UNIT_PATH_PREFIX        "/org/freedesktop/systemd1/unit"
#define CALL_TIMEOUT_USEC       (30 * USEC_PER_SEC)
#define LEGACY_MEMORY_DIR       "/sys/fs/cgroup/memory"

typedef struct SystemdHandle SystemdHandle;

typedef struct SystemdRunner {
        Runner base;
        sd_event *event;
        sd_bus *bus;            /* NULL while reconnecting */
        sd_bus *old_bus;        /* the lost connection, freed outside its own callbacks */
        sd_event_source *reconnect_timer;
        unsigned reconnect_tries;
        Runner *local;          /* validation passes */
        const char *cgroup_mount;
        SystemdHandle *handles; /* every handle we still hold, released ones too */
} SystemdRunner;

typedef enum UnitView {
        UNIT_PENDING,           /* not started, or still starting */
        UNIT_RUNNING,
        UNIT_ENDED,             /* exited, failed, or stopped */
        UNIT_GONE,              /* not loaded any more */
} UnitView;

struct SystemdHandle {
        RunHandle base;
        SystemdRunner *runner;
        SystemdHandle *prev, *next;

        char *unit;             /* "marianne-<job>.sheet-N.attempt-K.service" */
        char *path;             /* its object path */
        char *cgroup;           /* absolute cgroupfs directory, once known */
        bool legacy_memory;             /* memory is a cgroup v1 controller and the attempt has a limit */
        uint64_t legacy_oom_kills;      /* the kernel's oom_kill count when the attempt started */
        pid_t main_pid;
        char active_state[16];  /* as last read */

        sd_bus_slot *match;     /* PropertiesChanged of the unit */
        sd_bus_slot *call;      /* the one state read or start call in flight */
        sd_bus_slot *action;    /* freeze, thaw, stop, reset-failed */
        bool refresh_again;     /* a signal came while a read was in flight */

        run_exit_fn cb;
        void *userdata;
        usec_t started_at;      /* CLOCK_REALTIME, our own guess until the unit says */
        usec_t started_mono;
        uint64_t last_cpu_usec;
        usec_t last_stats_mono;

        bool started;           /* StartTransientUnit answered (or adopted) */
        bool killed;            /* we asked for the stop */
        bool done;              /* callback delivered */
        bool released;          /* the caller dropped it: collect the unit, then free */
        bool dispatching;       /* inside the callback */
        bool collecting;        /* stop or reset-failed sent */
};

static const RunnerOps systemd_ops;

static SystemdRunner *SYSTEMD_RUNNER(Runner *r) {
        return (SystemdRunner *) r;
}

static SystemdHandle *SYSTEMD_HANDLE(RunHandle *h) {
        return (SystemdHandle *) h;
}

/* ---- names ------------------------------------------------------------- */

static bool unit_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == ':' || c == '_' || c == '.' || c == '-';
}

/* The attempt's name becomes the unit's: "marianne-" NAME ".service". */
char *systemd_unit_name(const char *name) {
        if (!name || !name[0] || strlen(name) > 200)
                return NULL;
        for (const char *p = name; *p; p++)
                if (!unit_char_ok(*p))
                        return NULL;
        return strdup_printf("marianne-%s.service", name);
}

/* A '-' in a slice name means nesting: escape the job id's own dashes so
 * "batches-1" is one slice under marianne.slice, like systemd-escape. */
static char *slice_name_for(const char *group) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;

        if (!group || !group[0] || strlen(group) > 100)
                return NULL;
        s = malloc(strlen(group) * 4 + sizeof("marianne-.slice"));
        if (!s)
                return NULL;
        n = (size_t) sprintf(s, "marianne-");
        for (const char *p = group; *p; p++) {
                if (*p == '-')
                        n += (size_t) sprintf(s + n, "\\x2d");
                else if (unit_char_ok(*p) && *p != '.')
                        s[n++] = *p;
                else
                        return NULL;
        }
        strcpy(s + n, ".slice");
        return TAKE_PTR(s);
}

/* systemd wants an absolute ExecStart=: look argv[0] up in the sheet's
 * own PATH, as the local runner's exec does; an absolute one is the
 * unit's to find or not. */
static int exec_start_path(const char *file, char **env, char **ret) {
        const char *path = NULL;

        if (strchr(file, '/')) {
                if (file[0] != '/')
                        return -EINVAL;
                *ret = strdup(file);
                return *ret ? 0 : -ENOMEM;
        }
        STRV_FOREACH(e, env)
                if (startswith(*e, "PATH="))
                        path = *e + 5;
        return find_executable(file, path ?: DEFAULT_PATH, ret);
}

/* A reply that only says our connection to PID 1 went away (daemon-reexec,
 * an upgrade of systemd): the handle waits for the reconnection, which
 * reads every unit's state again. */
static bool reply_is_disconnect(sd_bus_message *m) {
        return !sd_bus_is_open(sd_bus_message_get_bus(m));
}

/* ---- handle lifetime ---------------------------------------------------- */

static void handle_free(SystemdHandle *h) {
        SystemdRunner *r;

        if (!h)
                return;
        r = h->runner;
        if (h->prev)
                h->prev->next = h->next;
        else if (r->handles == h)
                r->handles = h->next;
        if (h->next)
                h->next->prev = h->prev;
        sd_bus_slot_unref(h->match);
        sd_bus_slot_unref(h->call);
        sd_bus_slot_unref(h->action);
        free(h->unit);
        free(h->path);
        free(h->cgroup);
        free(h);
}

static int handle_new(SystemdRunner *r, const char *unit, run_exit_fn cb, void *userdata, SystemdHandle **ret) {
        SystemdHandle *h;
        int k;

        h = calloc(1, sizeof(SystemdHandle));
        if (!h)
                return -ENOMEM;
        h->base.ops = &systemd_ops;
        h->runner = r;
        h->cb = cb;
        h->userdata = userdata;
        h->started_at = now_usec(CLOCK_REALTIME);
        h->started_mono = h->last_stats_mono = now_usec(CLOCK_MONOTONIC);
        h->unit = strdup(unit);
        if (!h->unit) {
                free(h);
                return -ENOMEM;
        }
        h->next = r->handles;
        if (r->handles)
                r->handles->prev = h;
        r->handles = h;

        k = sd_bus_path_encode(UNIT_PATH_PREFIX, unit, &h->path);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        *ret = h;
        return 0;
}

static void handle_refresh(SystemdHandle *h);
static void handle_collect(SystemdHandle *h);

static void handle_deliver(SystemdHandle *h, const RunResult *res) {
        if (h->done)
                return;
        h->done = true;
        if (h->released || !h->cb)
                return;
        h->dispatching = true;
        h->cb(&h->base, res, h->userdata);
        h->dispatching = false;
}

/* The unit could not be started, or vanished under us. */
static void handle_fail(SystemdHandle *h, int error) {
        RunResult res = {
                .spawn_error = error < 0 ? error : -EIO,
                .killed = h->killed,
                .started_at = h->started_at,
                .finished_at = now_usec(CLOCK_REALTIME),
        };

        handle_deliver(h, &res);
        if (h->released)
                handle_free(h);
}

/* ---- reading the unit --------------------------------------------------- */

typedef struct ServiceProps {
        const char *result;
        int32_t exec_main_code;
        int32_t exec_main_status;
        uint32_t main_pid;
        uint64_t exec_main_start;
        uint64_t exec_main_exit;
        const char *control_group;
} ServiceProps;

static int read_service_props(sd_bus_message *m, ServiceProps *p) {
        int k;

        k = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (k < 0)
                return k;
        while ((k = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;

                k = sd_bus_message_read(m, "s", &name);
                if (k < 0)
                        return k;
                if (streq(name, "Result"))
                        k = sd_bus_message_read(m, "v", "s", &p->result);
                else if (streq(name, "ExecMainCode"))
                        k = sd_bus_message_read(m, "v", "i", &p->exec_main_code);
                else if (streq(name, "ExecMainStatus"))
                        k = sd_bus_message_read(m, "v", "i", &p->exec_main_status);
                else if (streq(name, "MainPID"))
                        k = sd_bus_message_read(m, "v", "u", &p->main_pid);
                else if (streq(name, "ExecMainStartTimestamp"))
                        k = sd_bus_message_read(m, "v", "t", &p->exec_main_start);
                else if (streq(name, "ExecMainExitTimestamp"))
                        k = sd_bus_message_read(m, "v", "t", &p->exec_main_exit);
                else if (streq(name, "ControlGroup"))
                        k = sd_bus_message_read(m, "v", "s", &p->control_group);
                else
                        k = sd_bus_message_skip(m, "v");
                if (k < 0)
                        return k;
                k = sd_bus_message_exit_container(m);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        return sd_bus_message_exit_container(m);
}

/* Where memory is a cgroup v1 controller the service manager cannot tell
 * an OOM kill from another SIGKILL (it reads memory.events, a v2 file),
 * and v1 counts kills only in the cgroup that is gone with the unit.  An
 * attempt with a memory limit, ended by a SIGKILL that was not ours while
 * the kernel's OOM kill count (/proc/vmstat) rose, was the OOM killer's. */
static uint64_t kernel_oom_kills(void) {
        uint64_t n = 0;

        if (cg_read_keyed("/proc", "vmstat", "oom_kill", &n) < 0)
                return 0;
        return n;
}

static void handle_track_legacy_oom(SystemdHandle *h, const ScoreResources *res) {
        if (!res || res->memory_max == 0 || access(LEGACY_MEMORY_DIR "/memory.oom_control", F_OK) < 0)
                return;
        h->legacy_memory = true;
        h->legacy_oom_kills = kernel_oom_kills();
}

static void handle_note_cgroup(SystemdHandle *h, const char *control_group) {
        if (!control_group || control_group[0] != '/' || h->cgroup || !h->runner->cgroup_mount)
                return;
        h->cgroup = strdup_printf("%s%s", h->runner->cgroup_mount, control_group);
}

static int on_service_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdHandle *h = userdata;
        ServiceProps p = {};
        RunResult res = {};
        int k;

        (void) ret_error;
        h->call = sd_bus_slot_unref(h->call);
        if (reply_is_disconnect(m))
                return 0;
        if (sd_bus_message_is_method_error(m, NULL)) {
                log_error("Failed to read the properties of %s: %s", h->unit,
                          sd_bus_message_get_error(m)->message);
                handle_fail(h, -sd_bus_message_get_errno(m));
                return 0;
        }
        k = read_service_props(m, &p);
        if (k < 0) {
                log_error_errno(k, "Failed to parse the properties of %s: %m", h->unit);
                handle_fail(h, k);
                return 0;
        }
        if (p.main_pid > 0)
                h->main_pid = (pid_t) p.main_pid;
        handle_note_cgroup(h, p.control_group);

        res = (RunResult) {
                .exited = p.exec_main_code == CLD_EXITED,
                .exit_code = p.exec_main_code == CLD_EXITED ? p.exec_main_status : 0,
                .exit_signal = (p.exec_main_code == CLD_KILLED || p.exec_main_code == CLD_DUMPED) ? p.exec_main_status : 0,
                .killed = h->killed,
                .oom_killed = p.result && streq(p.result, "oom-kill"),
                .started_at = p.exec_main_start ?: h->started_at,
                .finished_at = p.exec_main_exit ?: now_usec(CLOCK_REALTIME),
        };
        /* RuntimeMaxSec= ran out. (A unit left active-exited while no
         * conductor ran may time out after its process ended well: the
         * exit status then still stands.) */
        res.timed_out = p.result && streq(p.result, "timeout") && !(res.exited && res.exit_code == 0);
        if (!res.oom_killed && !h->killed && res.exit_signal == SIGKILL && h->legacy_memory &&
            kernel_oom_kills() > h->legacy_oom_kills)
                res.oom_killed = true;
        if (p.exec_main_code == 0 && !h->killed && !res.timed_out)
                /* ended without its main process ever running: systemd
                 * failed to set it up; the journal says why */
                res.spawn_error = -ENOEXEC;
        if (res.exited && res.exit_code >= 200 && res.exit_code <= 245 && p.result && streq(p.result, "exit-code"))
                log_warning("%s: the service manager could not set up the attempt (status %d); "
                            "see journalctl -u %s.", h->unit, res.exit_code, h->unit);

        handle_deliver(h, &res);
        if (h->released)
                handle_collect(h);
        return 0;
}

static void handle_finish_call(SystemdHandle *h) {
        if (h->refresh_again && !h->call) {
                h->refresh_again = false;
                handle_refresh(h);
        }
}

static int on_running_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdHandle *h = userdata;
        ServiceProps p = {};

        (void) ret_error;
        h->call = sd_bus_slot_unref(h->call);
        if (!sd_bus_message_is_method_error(m, NULL) && read_service_props(m, &p) >= 0) {
                if (p.main_pid > 0)
                        h->main_pid = (pid_t) p.main_pid;
                handle_note_cgroup(h, p.control_group);
        }
        handle_finish_call(h);
        return 0;
}

static UnitView view_of(const char *load_state, const char *active_state, const char *sub_state, bool started) {
        if (streq(load_state, "not-found"))
                return UNIT_GONE;
        if (streq(active_state, "failed"))
                return UNIT_ENDED;
        if (streq(active_state, "active"))
                return streq(sub_state, "exited") ? UNIT_ENDED : UNIT_RUNNING;
        if (streq(active_state, "inactive"))
                return started ? UNIT_ENDED : UNIT_PENDING;
        return UNIT_RUNNING;            /* activating, deactivating, reloading */
}

static void deliver_stopped(SystemdHandle *h) {
        /* our stop took the unit away with its exit status: it was ours to end */
        RunResult res = {
                .killed = true,
                .exit_signal = SIGTERM,
                .started_at = h->started_at,
                .finished_at = now_usec(CLOCK_REALTIME),
        };

        handle_deliver(h, &res);
}

static int on_unit_props(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdHandle *h = userdata;
        const char *load_state = "", *active_state = "", *sub_state = "";
        uint32_t job_id = 0;
        UnitView v;
        int k;

        (void) ret_error;
        h->call = sd_bus_slot_unref(h->call);
        if (reply_is_disconnect(m))
                return 0;
        if (sd_bus_message_is_method_error(m, NULL)) {
                /* the object went away with the unit */
                if (h->released)
                        handle_free(h);
                else if (h->killed)
                        deliver_stopped(h);
                else {
                        log_error("Failed to read the state of %s: %s", h->unit, sd_bus_message_get_error(m)->message);
                        handle_fail(h, -sd_bus_message_get_errno(m));
                }
                return 0;
        }

        k = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (k >= 0 && (k = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name;

                k = sd_bus_message_read(m, "s", &name);
                if (k < 0)
                        break;
                if (streq(name, "LoadState"))
                        k = sd_bus_message_read(m, "v", "s", &load_state);
                else if (streq(name, "ActiveState"))
                        k = sd_bus_message_read(m, "v", "s", &active_state);
                else if (streq(name, "SubState"))
                        k = sd_bus_message_read(m, "v", "s", &sub_state);
                else if (streq(name, "Job"))
                        k = sd_bus_message_read(m, "v", "(uo)", &job_id, NULL);
                else
                        k = sd_bus_message_skip(m, "v");
                if (k >= 0)
                        k = sd_bus_message_exit_container(m);
        }
        if (k < 0) {
                log_error_errno(k, "Failed to parse the state of %s: %m", h->unit);
                handle_fail(h, k);
                return 0;
        }
        snprintf(h->active_state, sizeof h->active_state, "%s", active_state);
        v = view_of(load_state, active_state, sub_state, h->started);

        if (h->released) {
                if (v == UNIT_GONE || streq(active_state, "inactive"))
                        handle_free(h);
                else if (job_id == 0)   /* with a job queued, its end brings a signal */
                        handle_collect(h);
                return 0;
        }

        switch (v) {
        case UNIT_GONE:
                if (h->killed)
                        deliver_stopped(h);
                else {
                        log_error("%s is gone before its end was recorded.", h->unit);
                        handle_fail(h, -ENOENT);
                }
                return 0;
        case UNIT_ENDED:
                if (h->done || job_id != 0)
                        break;
                if (streq(active_state, "inactive") && h->killed) {
                        deliver_stopped(h);
                        return 0;
                }
                k = sd_bus_call_method_async(h->runner->bus, &h->call, SYSTEMD_DEST, h->path,
                                             "org.freedesktop.DBus.Properties", "GetAll",
                                             on_service_props, h, "s", SYSTEMD_SERVICE);
                if (k < 0) {
                        log_error_errno(k, "Failed to ask for the properties of %s: %m", h->unit);
                        handle_fail(h, k);
                }
                return 0;
        case UNIT_RUNNING:
                if (!h->cgroup)
                        /* the cgroup and main PID, for runner_stats() */
                        (void) sd_bus_call_method_async(h->runner->bus, &h->call, SYSTEMD_DEST, h->path,
                                                        "org.freedesktop.DBus.Properties", "GetAll",
                                                        on_running_props, h, "s", SYSTEMD_SERVICE);
                break;
        case UNIT_PENDING:
                break;
        }
        handle_finish_call(h);
        return 0;
}

static void handle_refresh(SystemdHandle *h) {
        int k;

        if (h->call) {
                h->refresh_again = true;
                return;
        }
        if (!h->runner->bus)
                return;         /* the reconnection refreshes every handle */
        k = sd_bus_call_method_async(h->runner->bus, &h->call, SYSTEMD_DEST, h->path,
                                     "org.freedesktop.DBus.Properties", "GetAll",
                                     on_unit_props, h, "s", SYSTEMD_UNIT);
        if (k < 0) {
                log_error_errno(k, "Failed to ask for the state of %s: %m", h->unit);
                if (h->released)
                        handle_free(h);
                else
                        handle_fail(h, k);
        }
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdHandle *h = userdata;
        const char *iface;

        (void) ret_error;
        if (sd_bus_message_read(m, "s", &iface) < 0 || !streq(iface, SYSTEMD_UNIT))
                return 0;
        if (h->started)
                handle_refresh(h);
        return 0;
}

/* ---- asking the manager ------------------------------------------------- */

typedef struct ActionContext {
        char *what;             /* "freeze x.service", for the message */
} ActionContext;

static void action_context_free(void *p) {
        ActionContext *a = p;

        if (!a)
                return;
        free(a->what);
        free(a);
}

static int on_action_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        ActionContext *a = userdata;
        const sd_bus_error *e;

        (void) ret_error;
        if (!sd_bus_message_is_method_error(m, NULL))
                return 0;
        e = sd_bus_message_get_error(m);
        /* a unit that ended meanwhile is not a failure to stop it */
        if (sd_bus_error_has_names(e, "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.DBus.Error.UnknownObject"))
                return 0;
        log_error("Failed to %s: %s%s", a->what, e->message,
                  sd_bus_error_has_name(e, "org.freedesktop.DBus.Error.NotSupported") ?
                  " (the service manager freezes units on the unified cgroup v2 hierarchy only)" : "");
        return 0;
}

/* Manager.<method>(unit[, "replace"]), answered by on_action_reply: the
 * unit's own signals tell the outcome. */
static int unit_action(SystemdRunner *r, const char *method, const char *verb, const char *unit, bool with_mode) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        ActionContext *a;
        int k;

        if (!r->bus)
                return -ENOTCONN;
        a = calloc(1, sizeof(ActionContext));
        if (!a)
                return -ENOMEM;
        a->what = strdup_printf("%s %s", verb, unit);
        if (!a->what) {
                action_context_free(a);
                return -ENOMEM;
        }
        if (with_mode)
                k = sd_bus_call_method_async(r->bus, &slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method,
                                             on_action_reply, a, "ss", unit, "replace");
        else
                k = sd_bus_call_method_async(r->bus, &slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method,
                                             on_action_reply, a, "s", unit);
        if (k < 0) {
                action_context_free(a);
                return k;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, action_context_free);
        return sd_bus_slot_set_floating(slot, 1);
}

/* The attempt is recorded: take the unit away (a failed one is kept by
 * the manager until reset, a finished one stays active-exited). */
static void handle_collect(SystemdHandle *h) {
        int k;

        if (streq(h->active_state, "failed"))
                k = unit_action(h->runner, "ResetFailedUnit", "reset", h->unit, false);
        else if (streq(h->active_state, "inactive") || !h->active_state[0])
                k = 0;
        else
                k = unit_action(h->runner, "StopUnit", "stop", h->unit, true);
        if (k < 0) {
                log_error_errno(k, "Failed to collect %s, leaving it to the service manager: %m", h->unit);
                handle_free(h);
        }
}

/* ---- operations --------------------------------------------------------- */

static int systemd_kill(RunHandle *base) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);

        if (h->done || h->killed) {
                h->killed = true;
                return 0;
        }
        h->killed = true;
        if (!h->started)
                return 0;       /* the start reply sends the stop */
        return unit_action(h->runner, "StopUnit", "stop", h->unit, true);
}

static int systemd_freeze(RunHandle *base) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);

        if (h->done)
                return 0;
        return unit_action(h->runner, "FreezeUnit", "freeze", h->unit, false);
}

static int systemd_thaw(RunHandle *base) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);

        if (h->done)
                return 0;
        return unit_action(h->runner, "ThawUnit", "thaw", h->unit, false);
}

static int systemd_stats(RunHandle *base, RunStats *ret) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);
        unsigned n_procs = 0;
        uint64_t cpu = 0, mem = 0;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        RunStats s = { .pid = h->main_pid };
        int k;

        s.alive = !h->done && h->started && !streq(h->active_state, "failed") && !streq(h->active_state, "inactive");
        if (h->cgroup && !h->done) {
                k = cg_sample(h->cgroup, &n_procs, &cpu, &mem);
                if (k < 0)
                        return k;
        }
        s.n_processes = n_procs;
        s.memory_bytes = mem;
        run_stats_set_cpu(&s, cpu, &h->last_cpu_usec, &h->last_stats_mono, now);
        s.uptime_usec = now - h->started_mono;
        *ret = s;
        return 0;
}

static pid_t systemd_pid(RunHandle *base) {
        return SYSTEMD_HANDLE(base)->main_pid;
}

static const char *systemd_cgroup(RunHandle *base) {
        return SYSTEMD_HANDLE(base)->cgroup;
}

static const char *systemd_unit(RunHandle *base) {
        return SYSTEMD_HANDLE(base)->unit;
}

static void systemd_release(RunHandle *base) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);

        if (h->released)
                return;
        h->released = true;
        h->cb = NULL;
        if (h->dispatching)
                return;         /* on_service_props collects once the callback returns */
        if (!h->started) {
                h->refresh_again = true;        /* the start reply looks again */
                return;
        }
        handle_refresh(h);
}

static void systemd_detach(RunHandle *base) {
        SystemdHandle *h = SYSTEMD_HANDLE(base);

        /* the unit goes on; the next conductor adopts it */
        h->cb = NULL;
        if (h->dispatching) {
                h->released = true;
                return;
        }
        handle_free(h);
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdHandle *h = userdata;

        (void) ret_error;
        h->call = sd_bus_slot_unref(h->call);
        if (reply_is_disconnect(m)) {
                /* did it start? the state read after reconnecting tells */
                h->started = true;
                return 0;
        }
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);

                log_error("Failed to start %s: %s", h->unit, e->message);
                handle_fail(h, -sd_bus_message_get_errno(m) ?: -EIO);
                return 0;
        }
        h->started = true;
        if (h->killed && !h->released)
                (void) unit_action(h->runner, "StopUnit", "stop", h->unit, true);
        h->refresh_again = false;
        /* it may have ended already: read its state once, then signals */
        handle_refresh(h);
        return 0;
}

static int ensure_connected(SystemdRunner *r);

/* A transient unit property whose value needs containers: opens the
 * (sv) entry and its variant; the caller appends and closes both. */
static int open_property(sd_bus_message *m, const char *name, const char *contents) {
        int k;

        k = sd_bus_message_open_container(m, 'r', "sv");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", name);
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'v', contents);
        return k;
}

static int close_containers(sd_bus_message *m, unsigned n) {
        int k = 0;

        for (unsigned i = 0; k >= 0 && i < n; i++)
                k = sd_bus_message_close_container(m);
        return k;
}

static int append_exec_start(sd_bus_message *m, const char *path, char **argv) {
        int k;

        k = open_property(m, "ExecStart", "a(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'r', "sasb");
        if (k >= 0)
                k = sd_bus_message_append(m, "s", path);
        if (k >= 0)
                k = sd_bus_message_append_strv(m, argv);
        if (k >= 0)
                k = sd_bus_message_append(m, "b", 0);
        return k < 0 ? k : close_containers(m, 4);
}

static int append_strv_property(sd_bus_message *m, const char *name, char **l) {
        int k;

        k = open_property(m, name, "as");
        if (k >= 0)
                k = sd_bus_message_append_strv(m, l);
        return k < 0 ? k : close_containers(m, 2);
}

/* LogExtraFields= is a list of byte arrays. */
static int append_log_fields(sd_bus_message *m, char **fields) {
        int k;

        k = open_property(m, "LogExtraFields", "aay");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "ay");
        STRV_FOREACH(f, fields) {
                if (k < 0)
                        break;
                k = sd_bus_message_append_array(m, 'y', *f, strlen(*f));
        }
        return k < 0 ? k : close_containers(m, 3);
}

static int append_resources(sd_bus_message *m, const ScoreResources *res) {
        int k = 0;

        if (!res)
                return 0;
        if (res->memory_max > 0)
                k = sd_bus_message_append(m, "(sv)", "MemoryMax", "t", res->memory_max);
        if (k >= 0 && res->cpu_quota_per_sec_usec > 0)
                k = sd_bus_message_append(m, "(sv)", "CPUQuotaPerSecUSec", "t", res->cpu_quota_per_sec_usec);
        if (k >= 0 && res->tasks_max > 0)
                k = sd_bus_message_append(m, "(sv)", "TasksMax", "t", res->tasks_max);
        if (k >= 0 && res->io_weight > 0)
                k = sd_bus_message_append(m, "(sv)", "IOWeight", "t", res->io_weight);
        return k;
}

static int systemd_start(Runner *base, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SystemdRunner *r = SYSTEMD_RUNNER(base);
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *unit = NULL, *slice = NULL, *exe = NULL, *description = NULL, *user = NULL, *group = NULL;
        _cleanup_close_ int out_fd = -EBADF, err_fd = -EBADF, in_fd = -EBADF;
        SystemdHandle *h = NULL;
        int k;

        /* a function cannot be a unit: it runs in a fork of ours */
        if (spec->child_fn)
                return runner_start(r->local, spec, cb, userdata, ret);

        if (!spec->argv || !spec->argv[0] || !spec->cwd || spec->cwd[0] != '/')
                return -EINVAL;
        if (ensure_connected(r) < 0)
                return -ENOTCONN;       /* PID 1 is not back yet: the sheet's retry comes later */
        unit = systemd_unit_name(spec->name);
        slice = slice_name_for(spec->group ?: "default");
        if (!unit || !slice)
                return -EINVAL;
        k = exec_start_path(spec->argv[0], spec->env, &exe);
        if (k < 0)
                return k;
        description = strdup_printf("Marianne %s", spec->name);
        if (!description)
                return -ENOMEM;
        if (spec->identity && !identity_is_self(spec->identity)) {
                user = spec->identity->name ? strdup(spec->identity->name)
                                            : strdup_printf("%u", (unsigned) spec->identity->uid);
                group = strdup_printf("%u", (unsigned) spec->identity->gid);
                if (!user || !group)
                        return -ENOMEM;
        }
        k = runner_open_output(spec->stdout_path, &out_fd);
        if (k < 0)
                return k;
        k = runner_open_output(spec->stderr_path, &err_fd);
        if (k < 0)
                return k;
        if (spec->stdin_path) {
                k = runner_open_input(spec->stdin_path, &in_fd);
                if (k < 0)
                        return k;
        }

        k = sd_bus_message_new_method_call(r->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit");
        if (k < 0)
                return k;
        k = sd_bus_message_append(m, "ss", unit, "fail");
        if (k >= 0)
                k = sd_bus_message_open_container(m, 'a', "(sv)");
        if (k >= 0)
                k = sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)",
                                          "Description", "s", description,
                                          "Slice", "s", slice,
                                          "Type", "s", "exec",
                                          /* keeps the end and its status until we collect it */
                                          "RemainAfterExit", "b", 1,
                                          "WorkingDirectory", "s", spec->cwd,
                                          "StandardOutputFileDescriptor", "h", out_fd,
                                          "StandardErrorFileDescriptor", "h", err_fd,
                                          "TimeoutStopUSec", "t", spec->kill_grace_usec ?: 5 * USEC_PER_SEC);
        if (k >= 0 && spec->timeout_usec > 0)
                k = sd_bus_message_append(m, "(sv)", "RuntimeMaxUSec", "t", spec->timeout_usec);
        if (k >= 0 && in_fd >= 0)
                k = sd_bus_message_append(m, "(sv)", "StandardInputFileDescriptor", "h", in_fd);
        if (k >= 0 && user)
                k = sd_bus_message_append(m, "(sv)(sv)", "User", "s", user, "Group", "s", group);
        if (k >= 0)
                k = append_exec_start(m, exe, spec->argv);
        if (k >= 0)
                k = append_strv_property(m, "Environment", spec->env ?: (char *[]) { NULL });
        if (k >= 0 && spec->log_fields && spec->log_fields[0])
                k = append_log_fields(m, spec->log_fields);
        if (k >= 0)
                k = append_resources(m, spec->resources);
        if (k >= 0)
                k = sd_bus_message_close_container(m);
        if (k >= 0)
                k = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (k < 0)
                return k;

        k = handle_new(r, unit, cb, userdata, &h);
        if (k < 0)
                return k;
        handle_track_legacy_oom(h, spec->resources);
        /* listen before starting: the unit may be over before the reply */
        k = sd_bus_match_signal(r->bus, &h->match, NULL, h->path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, h);
        if (k >= 0)
                k = sd_bus_call_async(r->bus, &h->call, m, on_start_reply, h, CALL_TIMEOUT_USEC);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        *ret = &h->base;
        return 0;
}

static int systemd_adopt(Runner *base, const char *unit, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SystemdRunner *r = SYSTEMD_RUNNER(base);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        SystemdHandle *h = NULL;
        int k;

        if (!startswith(unit, "marianne-") || !endswith(unit, ".service"))
                return -EINVAL;
        if (!r->bus)
                return -ENOTCONN;
        /* GetUnit answers for loaded units only: a collected one is gone */
        k = sd_bus_call_method(r->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnit",
                               &error, &reply, "s", unit);
        if (k < 0)
                return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ? -ENOENT : k;

        k = handle_new(r, unit, cb, userdata, &h);
        if (k < 0)
                return k;
        h->started = true;
        k = sd_bus_match_signal(r->bus, &h->match, NULL, h->path, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged", on_properties_changed, h);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        handle_refresh(h);
        *ret = &h->base;
        return 0;
}

static int systemd_kill_stale(Runner *base, pid_t pid, uint64_t starttime, const char *cgroup) {
        /* attempts of a local runner before: the local runner knows them */
        return runner_kill_stale(SYSTEMD_RUNNER(base)->local, pid, starttime, cgroup);
}

static Runner *systemd_free(Runner *base) {
        SystemdRunner *r = SYSTEMD_RUNNER(base);

        while (r->handles)
                handle_free(r->handles);
        runner_free(r->local);
        sd_event_source_disable_unref(r->reconnect_timer);
        sd_bus_flush_close_unref(r->bus);
        sd_bus_flush_close_unref(r->old_bus);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

static const RunnerOps systemd_ops = {
        .free = systemd_free,
        .start = systemd_start,
        .kill_stale = systemd_kill_stale,
        .adopt = systemd_adopt,
        .freeze = systemd_freeze,
        .thaw = systemd_thaw,
        .kill = systemd_kill,
        .stats = systemd_stats,
        .pid = systemd_pid,
        .cgroup = systemd_cgroup,
        .unit = systemd_unit,
        .release = systemd_release,
        .detach = systemd_detach,
};

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/* Connect to PID 1's private socket, subscribe to its signals (without
 * that the manager keeps its units' signals to itself), and hear when the
 * connection goes. */
static int connect_manager(sd_event *event, void *userdata, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int k;

        k = sd_bus_new(&bus);
        if (k < 0)
                return k;
        (void) sd_bus_set_description(bus, "systemd-runner");
        k = sd_bus_set_address(bus, SYSTEMD_PRIVATE_ADDRESS);
        if (k >= 0)
                k = sd_bus_start(bus);
        if (k < 0)
                return log_error_errno(k, "Failed to connect to the service manager at %s: %m", SYSTEMD_PRIVATE_ADDRESS);
        k = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", &error, NULL, NULL);
        if (k < 0)
                return log_error_errno(k, "Failed to subscribe to the service manager's signals: %s",
                                       error.message ?: strerror(-k));
        k = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, userdata);
        if (k < 0)
                return k;
        k = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int reconnect(SystemdRunner *r) {
        int k;

        k = connect_manager(r->event, r, &r->bus);
        if (k < 0)
                return k;
        r->reconnect_timer = sd_event_source_disable_unref(r->reconnect_timer);
        log_info("Connected to the service manager again after %u tries; reading the state of %s units.",
                 r->reconnect_tries + 1, r->handles ? "the running" : "no");
        r->reconnect_tries = 0;

        /* a new connection: new matches, and every unit read once */
        for (SystemdHandle *h = r->handles, *next; h; h = next) {
                next = h->next;
                h->match = sd_bus_slot_unref(h->match);
                h->call = sd_bus_slot_unref(h->call);
                k = sd_bus_match_signal(r->bus, &h->match, NULL, h->path, "org.freedesktop.DBus.Properties",
                                        "PropertiesChanged", on_properties_changed, h);
                if (k < 0) {
                        log_error_errno(k, "Failed to watch %s again: %m", h->unit);
                        if (h->released)
                                handle_free(h);
                        else
                                handle_fail(h, k);
                        continue;
                }
                if (h->started)
                        handle_refresh(h);
        }
        return 0;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        SystemdRunner *r = userdata;
        int k;

        (void) usec;
        r->reconnect_timer = sd_event_source_disable_unref(s);
        r->old_bus = sd_bus_flush_close_unref(r->old_bus);
        if (r->bus)
                return 0;       /* a start reconnected meanwhile */
        if (reconnect(r) >= 0)
                return 0;
        /* PID 1 re-executing takes a moment; an upgrade longer */
        r->reconnect_tries++;
        k = sd_event_add_time_relative(r->event, &r->reconnect_timer, CLOCK_MONOTONIC,
                                       MIN(r->reconnect_tries, 10U) * 200 * USEC_PER_MSEC, 0,
                                       on_reconnect_timer, r);
        if (k < 0)
                log_error_errno(k, "Failed to arm the reconnection timer: %m; sheets in units are not followed any more.");
        return 0;
}

/* Before a start: a connection PID 1 closed (daemon-reexec) may not have
 * been noticed by the loop yet; reconnect now rather than fail a sheet. */
static int ensure_connected(SystemdRunner *r) {
        if (r->bus && sd_bus_is_open(r->bus))
                return 0;
        if (r->bus) {
                sd_bus_flush_close_unref(r->old_bus);
                r->old_bus = r->bus;
                r->bus = NULL;
        }
        return reconnect(r);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SystemdRunner *r = userdata;
        int k;

        (void) ret_error;
        if (sd_bus_message_get_bus(m) != r->bus)
                return 0;       /* one ensure_connected() already replaced */
        log_notice("Lost the connection to the service manager (re-executed?); reconnecting. "
                   "Sheets in units run on meanwhile.");
        /* not freed here: we are inside its dispatch */
        r->old_bus = r->bus;
        r->bus = NULL;
        r->reconnect_timer = sd_event_source_disable_unref(r->reconnect_timer);
        k = sd_event_add_time_relative(r->event, &r->reconnect_timer, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC, 0,
                                       on_reconnect_timer, r);
        if (k < 0)
                log_error_errno(k, "Failed to arm the reconnection timer: %m; sheets in units are not followed any more.");
        return 0;
}

int runner_new_systemd(sd_event *event, Runner **ret) {
        _cleanup_runner_free_ Runner *local = NULL;
        _cleanup_free_ SystemdRunner *r = NULL;
        int k;

        if (!event || !ret)
                return -EINVAL;
        if (sd_booted() <= 0)
                return -ENOMEDIUM;
        if (geteuid() != 0)
                return -EPERM;

        r = calloc(1, sizeof(SystemdRunner));
        if (!r)
                return -ENOMEM;
        k = connect_manager(event, r, &r->bus);
        if (k < 0)
                return k;
        k = runner_new_local(event, NULL, &local);
        if (k < 0) {
                sd_bus_flush_close_unref(r->bus);
                return k;
        }
        r->base.ops = &systemd_ops;
        r->base.mode = RUNNER_MODE_SYSTEMD;
        r->event = sd_event_ref(event);
        r->local = TAKE_PTR(local);
        if (cg_get_mount_point(&r->cgroup_mount) < 0)
                r->cgroup_mount = NULL;
        *ret = &TAKE_PTR(r)->base;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The local runner: every attempt is a forked child in its own process
 * group and, when we may manage cgroups, its own cgroup v2 leaf.  The
 * cgroup is what makes "nothing survives" hold: processes can leave a
 * process group (setsid) but not a cgroup. */

#include <limits.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#include "cgroup.h"
#include "identity.h"
#include "log.h"
#include "runner-internal.h"

#define DEFAULT_KILL_GRACE_USEC (5 * USEC_PER_SEC)
/* How long we wait for an attempt's processes to die after SIGKILL before
 * reporting anyway (processes stuck in uninterruptible sleep). */
#define DRAIN_MAX_USEC (10 * USEC_PER_SEC)
#define DRAIN_POLL_USEC (10 * USEC_PER_MSEC)
#define FREEZE_WAIT_USEC (1 * USEC_PER_SEC)
#define STALE_WAIT_USEC (2 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC (1 * USEC_PER_MSEC)

typedef struct LocalHandle LocalHandle;

typedef struct LocalRunner {
        Runner base;
        sd_event *event;
        char *cgroup_dir;               /* parent of the attempts' leaves; NULL in process-group mode */
        bool remove_cgroup_dir;
        unsigned n_started;
        LocalHandle *handles;
} LocalRunner;

typedef enum HandleState {
        HANDLE_RUNNING,                 /* main process not reaped yet */
        HANDLE_DRAINING,                /* main reaped, waiting for the rest to die */
        HANDLE_DONE,                    /* callback delivered (or suppressed) */
} HandleState;

struct LocalHandle {
        RunHandle base;
        LocalRunner *runner;            /* NULL once the runner is gone */
        LocalHandle *prev, *next;

        RunnerMode mode;
        pid_t pid;                      /* also the process group id */
        uint64_t starttime;
        char *cgroup;                   /* leaf directory, or NULL */

        usec_t kill_grace_usec;
        usec_t started_mono, finished_mono;
        run_exit_fn cb;
        void *userdata;

        sd_event_source *child_source;
        sd_event_source *timeout_source;
        sd_event_source *grace_source;
        sd_event_source *drain_io_source;
        sd_event_source *drain_timer_source;
        int events_fd;
        usec_t drain_deadline;

        HandleState state;
        bool main_reaped;
        bool frozen;
        bool terminating;
        bool released;
        bool dispatching;
        usec_t timeout_remaining;       /* while frozen: what was left of the timeout */
        RunResult result;

        uint64_t last_cpu_usec;
        usec_t last_stats_mono;
};

static const RunnerOps local_ops;

static LocalRunner *LOCAL_RUNNER(Runner *r) {
        return (LocalRunner *) r;
}

static LocalHandle *LOCAL_HANDLE(RunHandle *h) {
        return (LocalHandle *) h;
}

static void handle_drop_sources(LocalHandle *h) {
        h->child_source = sd_event_source_disable_unref(h->child_source);
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        h->grace_source = sd_event_source_disable_unref(h->grace_source);
        h->drain_io_source = sd_event_source_disable_unref(h->drain_io_source);
        h->drain_timer_source = sd_event_source_disable_unref(h->drain_timer_source);
        if (h->events_fd >= 0) {
                (void) close(h->events_fd);
                h->events_fd = -EBADF;
        }
}

static void handle_unlink(LocalHandle *h) {
        if (!h->runner)
                return;
        if (h->prev)
                h->prev->next = h->next;
        else
                h->runner->handles = h->next;
        if (h->next)
                h->next->prev = h->prev;
        h->prev = h->next = NULL;
        h->runner = NULL;
}

static void handle_free(LocalHandle *h) {
        if (!h)
                return;
        handle_drop_sources(h);
        handle_unlink(h);
        free(h->cgroup);
        free(h);
}

/* Signal everything that belongs to the attempt. ESRCH/ENOENT mean there is
 * nothing left to signal, which is what every caller wants anyway. */
static int handle_signal_all(LocalHandle *h, int sig) {
        int r;

        if (h->mode == RUNNER_MODE_CGROUP) {
                if (sig == SIGKILL)
                        r = cg_kill(h->cgroup);
                else
                        r = cg_signal_all(h->cgroup, sig);
                if (r == -ENOENT)
                        return 0;
                return r < 0 ? r : 0;
        }

        if (kill(-h->pid, sig) < 0) {
                if (errno != ESRCH)
                        return negative_errno();
                /* The main process may have moved itself into another
                 * group; while we have not reaped it, its pid is still
                 * ours to signal. */
                if (!h->main_reaped && kill(h->pid, sig) < 0 && errno != ESRCH)
                        return negative_errno();
        }
        return 0;
}

static void handle_finish(LocalHandle *h) {
        h->drain_io_source = sd_event_source_disable_unref(h->drain_io_source);
        h->drain_timer_source = sd_event_source_disable_unref(h->drain_timer_source);
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        h->grace_source = sd_event_source_disable_unref(h->grace_source);
        if (h->events_fd >= 0) {
                (void) close(h->events_fd);
                h->events_fd = -EBADF;
        }

        /* -EBUSY only if something survived DRAIN_MAX_USEC; the leaf is
         * then left for runner_kill_stale() or the next runner_free(). */
        if (h->cgroup) {
                uint64_t oom_kills = 0;
                int r;

                /* the kernel counts its kills for memory.max per cgroup */
                if (cg_read_keyed(h->cgroup, "memory.events", "oom_kill", &oom_kills) >= 0 && oom_kills > 0)
                        h->result.oom_killed = true;
                r = cg_remove(h->cgroup);

                if (r < 0)
                        log_warning_errno(r, "Could not remove cgroup %s of finished process %d: %m; "
                                          "runner_kill_stale() can remove it later.",
                                          h->cgroup, (int) h->pid);
        }

        h->state = HANDLE_DONE;
        h->frozen = false;

        if (!h->released) {
                h->dispatching = true;
                h->cb(&h->base, &h->result, h->userdata);
                h->dispatching = false;
        }
        if (h->released)
                handle_free(h);
}

/* 1 if every process of the attempt is gone (zombies do not count: they
 * hold no resources and their parent, not we, must reap them). */
static int handle_is_empty(LocalHandle *h) {
        if (h->mode == RUNNER_MODE_CGROUP) {
                int r = cg_is_populated(h->cgroup);

                if (r == -ENOENT)
                        return 1;
                if (r < 0)
                        return r;
                return !r;
        } else {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n;
                int r;

                r = proc_list_pgrp(h->pid, &pids, &n);
                if (r < 0)
                        return r;
                return n == 0;
        }
}

static void handle_drain_check(LocalHandle *h) {
        int r;

        /* A process group member may have forked after our last SIGKILL;
         * cgroup.kill has no such race. */
        if (h->mode == RUNNER_MODE_PROCESS_GROUP)
                (void) handle_signal_all(h, SIGKILL);

        r = handle_is_empty(h);
        if (r < 0)
                log_warning_errno(r, "Could not check whether processes of %d are gone: %m; reporting its end anyway.",
                                  (int) h->pid);
        else if (r == 0 && now_usec(CLOCK_MONOTONIC) >= h->drain_deadline)
                log_warning("Processes of %d survive SIGKILL for %llu s (uninterruptible sleep?); "
                            "reporting its end anyway.", (int) h->pid,
                            (unsigned long long) (DRAIN_MAX_USEC / USEC_PER_SEC));
        else if (r == 0)
                return;
        handle_finish(h);       /* an error reading the state must not hang the attempt */
}

static int on_drain_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        LocalHandle *h = userdata;
        char buf[256];

        (void) s;
        (void) revents;
        /* Reading cgroup.events re-arms the EPOLLPRI notification; the
         * content is looked at by handle_drain_check(). */
        if (lseek(fd, 0, SEEK_SET) >= 0)
                while (read(fd, buf, sizeof buf) > 0)
                        ;
        handle_drain_check(h);
        return 0;
}

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        LocalHandle *h = userdata;
        int r;

        r = sd_event_source_set_time(s, usec + DRAIN_POLL_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0) {
                /* Without the timer we would have no bound: report now. */
                handle_finish(h);
                return 0;
        }
        handle_drain_check(h);
        return 0;
}

static void handle_drain_start(LocalHandle *h) {
        sd_event *e = sd_event_source_get_event(h->child_source);
        int r;

        h->state = HANDLE_DRAINING;
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        h->grace_source = sd_event_source_disable_unref(h->grace_source);
        h->drain_deadline = now_usec(CLOCK_MONOTONIC) + DRAIN_MAX_USEC;

        (void) handle_signal_all(h, SIGKILL);
        r = handle_is_empty(h);
        if (r != 0) {
                handle_finish(h);
                return;
        }

        if (h->mode == RUNNER_MODE_CGROUP) {
                _cleanup_free_ char *p = strdup_printf("%s/cgroup.events", h->cgroup);

                if (p)
                        h->events_fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                /* kernfs signals every change of cgroup.events with
                 * EPOLLPRI; the timer below is the fallback and the bound. */
                if (h->events_fd >= 0 &&
                    sd_event_add_io(e, &h->drain_io_source, h->events_fd, EPOLLPRI, on_drain_io, h) < 0) {
                        (void) close(h->events_fd);
                        h->events_fd = -EBADF;
                }
        }

        r = sd_event_add_time_relative(e, &h->drain_timer_source, CLOCK_MONOTONIC, DRAIN_POLL_USEC,
                                       TIMER_ACCURACY_USEC, on_drain_timer, h);
        if (r < 0 && !h->drain_io_source) {
                handle_finish(h);
                return;
        }

        /* The group may have emptied between the check above and the
         * watch being set up. */
        handle_drain_check(h);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        LocalHandle *h = userdata;
        siginfo_t reaped = {};

        (void) s;
        if (si->si_code == CLD_EXITED) {
                h->result.exited = true;
                h->result.exit_code = si->si_status;
        } else if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED) {
                h->result.exit_signal = si->si_status;
        }

        /* Reap it ourselves so that "main process reaped" holds when the
         * callback runs; sd-event's own waitid() afterwards finds nothing. */
        (void) waitid(P_PID, (id_t) h->pid, &reaped, WEXITED | WNOHANG);
        h->main_reaped = true;
        h->result.finished_at = now_usec(CLOCK_REALTIME);
        h->finished_mono = now_usec(CLOCK_MONOTONIC);
        (void) sd_event_source_set_enabled(h->child_source, SD_EVENT_OFF);

        handle_drain_start(h);
        return 0;
}

static int on_grace(sd_event_source *s, uint64_t usec, void *userdata) {
        LocalHandle *h = userdata;

        (void) s;
        (void) usec;
        (void) handle_signal_all(h, SIGKILL);
        return 0;
}

static int handle_terminate(LocalHandle *h, bool timed_out) {
        sd_event *e;
        int r, q;

        if (h->state != HANDLE_RUNNING || h->terminating)
                return 0;

        h->terminating = true;
        if (timed_out)
                h->result.timed_out = true;
        else
                h->result.killed = true;
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        h->timeout_remaining = 0;

        /* A frozen process would not act on SIGTERM before the grace
         * period ends, so thaw first; SIGCONT covers SIGSTOPped members. */
        if (h->frozen) {
                if (h->mode == RUNNER_MODE_CGROUP)
                        (void) cg_write(h->cgroup, "cgroup.freeze", "0");
                h->frozen = false;
        }

        r = handle_signal_all(h, SIGTERM);
        (void) handle_signal_all(h, SIGCONT);
        if (r < 0) {
                /* Could not deliver SIGTERM: skip straight to the end. */
                q = handle_signal_all(h, SIGKILL);
                return q < 0 ? q : 0;
        }

        e = sd_event_source_get_event(h->child_source);
        r = sd_event_add_time_relative(e, &h->grace_source, CLOCK_MONOTONIC, h->kill_grace_usec,
                                       TIMER_ACCURACY_USEC, on_grace, h);
        if (r < 0) {
                /* Without a grace timer nothing would ever escalate. */
                q = handle_signal_all(h, SIGKILL);
                return q < 0 ? q : 0;
        }
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        LocalHandle *h = userdata;

        (void) s;
        (void) usec;
        (void) handle_terminate(h, true);
        return 0;
}

static int local_kill(RunHandle *base) {
        return handle_terminate(LOCAL_HANDLE(base), false);
}

static int local_freeze(RunHandle *base) {
        LocalHandle *h = LOCAL_HANDLE(base);
        int r;

        if (h->state != HANDLE_RUNNING)
                return -ESRCH;
        if (h->terminating)
                return -EBUSY;  /* being killed: freezing would only delay that */
        if (h->frozen)
                return 0;

        if (h->mode == RUNNER_MODE_CGROUP) {
                r = cg_set_frozen(h->cgroup, true, FREEZE_WAIT_USEC);
                if (r < 0) {
                        /* Do not leave a half-applied freeze behind that the
                         * caller does not know about. */
                        (void) cg_write(h->cgroup, "cgroup.freeze", "0");
                        return r;
                }
        } else {
                r = handle_signal_all(h, SIGSTOP);
                if (r < 0)
                        return r;
        }

        /* The timeout measures running time: a frozen attempt does not use
         * up its budget, so the timer pauses and resumes on thaw. */
        if (h->timeout_source) {
                usec_t t, n = now_usec(CLOCK_MONOTONIC);

                if (sd_event_source_get_time(h->timeout_source, &t) >= 0 &&
                    sd_event_source_set_enabled(h->timeout_source, SD_EVENT_OFF) >= 0)
                        h->timeout_remaining = t > n ? t - n : 1;
        }
        h->frozen = true;
        return 0;
}

static int local_thaw(RunHandle *base) {
        LocalHandle *h = LOCAL_HANDLE(base);
        int r;

        if (h->state != HANDLE_RUNNING)
                return -ESRCH;
        if (!h->frozen)
                return 0;

        if (h->mode == RUNNER_MODE_CGROUP)
                r = cg_set_frozen(h->cgroup, false, FREEZE_WAIT_USEC);
        else
                r = handle_signal_all(h, SIGCONT);
        if (r < 0)
                return r;
        h->frozen = false;

        if (h->timeout_source && h->timeout_remaining > 0) {
                r = sd_event_source_set_time_relative(h->timeout_source, h->timeout_remaining);
                if (r >= 0)
                        r = sd_event_source_set_enabled(h->timeout_source, SD_EVENT_ONESHOT);
                h->timeout_remaining = 0;
                if (r < 0)
                        /* Losing the timeout silently would let the attempt
                         * run forever; ending it now is the lesser evil. */
                        (void) handle_terminate(h, true);
        }
        return 0;
}

static int local_stats(RunHandle *base, RunStats *ret) {
        LocalHandle *h = LOCAL_HANDLE(base);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n_pids = 0;
        uint64_t cpu = 0, mem = 0;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        RunStats s = { .pid = h->pid };
        int r;

        if (!h->main_reaped) {
                ProcStat st;

                r = proc_read_stat(h->pid, &st);
                if (r < 0 && r != -ESRCH)
                        return r;
                s.zombie = r >= 0 && st.state == 'Z';
                s.alive = r >= 0 && !s.zombie;
        }

        if (h->state == HANDLE_DONE) {
                /* Leaf removed: the last figures are the final ones. */
                cpu = h->last_cpu_usec;
        } else if (h->mode == RUNNER_MODE_CGROUP) {
                unsigned n;

                r = cg_sample(h->cgroup, &n, &cpu, &mem);
                if (r < 0)
                        return r;
                n_pids = n;
        } else {
                r = proc_list_pgrp(h->pid, &pids, &n_pids);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_pids; i++) {
                        ProcStat st;
                        uint64_t rss;

                        /* Processes vanish while we look; skip those. */
                        if (proc_read_stat(pids[i], &st) >= 0)
                                cpu += proc_stat_cpu_usec(&st, true);
                        if (proc_get_rss(pids[i], &rss) >= 0)
                                mem += rss;
                }
        }

        s.n_processes = (unsigned) n_pids;
        s.memory_bytes = mem;
        run_stats_set_cpu(&s, cpu, &h->last_cpu_usec, &h->last_stats_mono, now);

        s.uptime_usec = (h->main_reaped ? h->finished_mono : now) - h->started_mono;
        *ret = s;
        return 0;
}

static pid_t local_pid(RunHandle *base) {
        return LOCAL_HANDLE(base)->pid;
}

static uint64_t local_starttime(RunHandle *base) {
        return LOCAL_HANDLE(base)->starttime;
}

static const char *local_cgroup(RunHandle *base) {
        return LOCAL_HANDLE(base)->cgroup;
}

static void local_release(RunHandle *base) {
        LocalHandle *h = LOCAL_HANDLE(base);

        if (h->released)
                return;
        h->released = true;
        if (h->dispatching)
                return;         /* handle_finish() frees it once the callback returns */
        if (h->state == HANDLE_DONE) {
                handle_free(h);
                return;
        }

        /* Nobody wants the result any more: no grace period. The child
         * source then reaps it and handle_finish() frees the handle. */
        if (h->state == HANDLE_RUNNING) {
                h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
                (void) handle_signal_all(h, SIGKILL);
        }
}

/* Tear an attempt down synchronously: the event loop may never run again
 * (runner_free() during shutdown). */
static void handle_abandon(LocalHandle *h) {
        if (h->state == HANDLE_DONE)
                return;

        (void) handle_signal_all(h, SIGKILL);
        handle_drop_sources(h);
        if (!h->main_reaped) {
                /* SIGKILL was just sent (cgroup.kill also ends frozen and
                 * stopped processes), so this cannot block for long. */
                while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                h->main_reaped = true;
                h->finished_mono = now_usec(CLOCK_MONOTONIC);
        }
        if (h->mode == RUNNER_MODE_CGROUP) {
                (void) cg_kill(h->cgroup);
                (void) cg_wait_empty(h->cgroup, STALE_WAIT_USEC);
                (void) cg_remove(h->cgroup);
        } else
                (void) handle_signal_all(h, SIGKILL);
        h->frozen = false;
        h->state = HANDLE_DONE;
}

static Runner *local_free(Runner *base) {
        LocalRunner *r = LOCAL_RUNNER(base);

        while (r->handles) {
                LocalHandle *h = r->handles;

                handle_abandon(h);
                handle_unlink(h);
                /* A handle the caller still holds stays valid (all its
                 * operations then report the attempt as finished); it is
                 * freed by run_handle_release(). */
                if (h->released && !h->dispatching)
                        handle_free(h);
        }

        if (r->cgroup_dir && r->remove_cgroup_dir) {
                int k = cg_remove(r->cgroup_dir);

                /* EBUSY: leaves of attempts that would not die are still
                 * in there; they are found by runner_kill_stale() later. */
                if (k == -EBUSY)
                        log_debug("Cgroup %s still has children, leaving it in place.", r->cgroup_dir);
                else if (k < 0)
                        log_warning_errno(k, "Could not remove cgroup %s: %m", r->cgroup_dir);
        }

        free(r->cgroup_dir);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

static const char *local_get_cgroup_dir(Runner *base) {
        return LOCAL_RUNNER(base)->cgroup_dir;
}

static bool leaf_name_is_valid(const char *name) {
        if (isempty(name))
                return false;
        if (streq(name, ".") || streq(name, ".."))
                return false;
        if (strchr(name, '/') || strchr(name, '\n'))
                return false;
        /* Names of control files ("cgroup.procs", "cpu.max") live in the
         * same directory; a leaf must not look like one. */
        if (startswith(name, "cgroup.") || name[0] == '.')
                return false;
        return strlen(name) <= NAME_MAX;
}

static const char *env_get(char **env, const char *name) {
        size_t l = strlen(name);

        STRV_FOREACH(e, env)
                if (strncmp(*e, name, l) == 0 && (*e)[l] == '=')
                        return *e + l + 1;
        return NULL;
}

_noreturn_ static void child_fail(const char *what, const char *arg, int error) {
        dprintf(STDERR_FILENO, "marianne: %s '%s': %s\n", what, strempty(arg), strerror(error));
        _exit(error == EACCES || error == ENOEXEC ? 126 : 127);
}

/* execvpe() with PATH taken from the child's environment rather than
 * ours, and without its /bin/sh fallback. Runs in the forked child: no
 * allocations. */
_noreturn_ static void child_exec(char **argv, char **env) {
        const char *file = argv[0], *path, *p;
        size_t flen = strlen(file);
        bool eacces = false;
        int error = ENOENT;

        if (strchr(file, '/')) {
                execve(file, argv, env);
                child_fail("cannot execute", file, errno);
        }

        path = env_get(env, "PATH");
        if (!path)
                path = DEFAULT_PATH;

        for (p = path; ; ) {
                const char *colon = strchrnul(p, ':');
                size_t dlen = (size_t) (colon - p);
                char buf[PATH_MAX];

                if (dlen == 0) {        /* empty entry means the working directory */
                        p = ".";
                        dlen = 1;
                }
                if (dlen + 1 + flen + 1 > sizeof buf)
                        error = ENAMETOOLONG;
                else {
                        memcpy(buf, p, dlen);
                        buf[dlen] = '/';
                        memcpy(buf + dlen + 1, file, flen + 1);
                        execve(buf, argv, env);
                        switch (errno) {
                        case EACCES:
                                eacces = true;
                                __attribute__((fallthrough));
                        case ENOENT:
                        case ENOTDIR:
                        case ESTALE:
                        case ELOOP:
                        case ENAMETOOLONG:
                        case ENODEV:
                        case ETIMEDOUT:
                                break;
                        default:
                                child_fail("cannot execute", buf, errno);
                        }
                }
                if (*colon == 0)
                        break;
                p = colon + 1;
        }

        if (eacces)
                child_fail("cannot execute", file, EACCES);
        if (error == ENOENT) {
                dprintf(STDERR_FILENO, "marianne: %s: command not found (PATH=%s)\n", file, path);
                _exit(127);
        }
        child_fail("cannot execute", file, error);
}

/* Move fd out of the 0..2 range so the dup2() calls below cannot clobber
 * one of the other descriptors. */
static int child_move_fd(int fd) {
        if (fd < 0 || fd > 2)
                return fd;
        return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

_noreturn_ static void child_run(const RunSpec *spec, const char *name, const char *cwd, int procs_fd,
                                 int in_fd, int out_fd, int err_fd) {
        static char *empty_env[] = { NULL };
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t ss;
        int r;

        in_fd = child_move_fd(in_fd);
        out_fd = child_move_fd(out_fd);
        err_fd = child_move_fd(err_fd);
        procs_fd = child_move_fd(procs_fd);
        if (in_fd < 0 || out_fd < 0 || err_fd < 0 ||
            dup2(in_fd, STDIN_FILENO) < 0 ||
            dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
                _exit(127);     /* no stderr to report to */

        /* Into the leaf before anything of the payload runs. The parent
         * does the same, whichever comes first wins. */
        if (procs_fd >= 0 && write(procs_fd, "0", 1) != 1)
                child_fail("cannot join cgroup for", name, errno);

        /* Own process group in both modes: a terminal or a kill(-pgid)
         * from the payload's own tooling then stays within the attempt. */
        if (setpgid(0, 0) < 0)
                child_fail("cannot create process group for", name, errno);

        if (close_range(3, ~0U, 0) < 0) {
                int max = (int) sysconf(_SC_OPEN_MAX);

                for (int fd = 3; fd < (max > 0 ? max : 65536); fd++)
                        (void) close(fd);
        }

        /* We run with SIGCHLD blocked (sd-event) and maybe SIGPIPE ignored;
         * the payload must start with a clean slate. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);

        /* Last thing with the conductor's rights: from here on the attempt
         * can do only what its owner can (the cgroup move is done). */
        if (spec->identity) {
                r = identity_become(spec->identity);
                if (r < 0)
                        child_fail("cannot become the job's owner for", name, -r);
        }

        if (chdir(cwd) < 0)
                child_fail("cannot change directory to", cwd, errno);

        if (spec->child_fn) {
                /* spec->env is the child's whole environment, whether it
                 * execs or runs a function that spawns commands itself */
                environ = spec->env ?: (char **) empty_env;
                r = spec->child_fn(spec->child_userdata);
                (void) fflush(stdout);
                (void) fflush(stderr);
                _exit(r < 0 ? 1 : r > 255 ? 255 : r);
        }

        child_exec(spec->argv, spec->env ?: empty_env);
}

/* One limit of the score's resources: block in a control file of the
 * leaf, enabling the controller below our directory first if it is not.
 * A limit the hierarchy cannot hold is said, not silently dropped. */
static void apply_limit(LocalRunner *r, const char *leaf, const char *name, const char *controller,
                        const char *file, const char *value) {
        _cleanup_free_ char *enable = strdup_printf("+%s", controller);
        int k;

        k = cg_write(leaf, file, value);
        if (k == -ENOENT && enable && cg_write(r->cgroup_dir, "cgroup.subtree_control", enable) >= 0)
                k = cg_write(leaf, file, value);
        if (k < 0)
                log_warning("%s: resources limit %s=%s is not enforced: the %s controller is not available "
                            "in %s (%s).", name, file, value, controller, r->cgroup_dir, strerror(-k));
}

static void apply_limits(LocalRunner *r, const char *leaf, const char *name, const ScoreResources *res) {
        char buf[64];

        if (!score_resources_set(res))
                return;
        if (!leaf) {
                log_warning("%s: the score's resources limits are not enforced: sheets run in process groups "
                            "(no delegated cgroup v2 subtree; run the conductor as the systemd service).", name);
                return;
        }
        if (res->memory_max > 0) {
                snprintf(buf, sizeof buf, "%" PRIu64, res->memory_max);
                apply_limit(r, leaf, name, "memory", "memory.max", buf);
                /* the same limit with swap: otherwise a sheet over it pages out instead of ending */
                if (cg_write(leaf, "memory.swap.max", "0") < 0)
                        log_debug("%s: no memory.swap.max; swap is not limited.", name);
        }
        if (res->cpu_quota_per_sec_usec > 0) {
                /* cpu.max: quota per 100 ms period */
                snprintf(buf, sizeof buf, "%" PRIu64 " 100000", MAX(res->cpu_quota_per_sec_usec / 10, (uint64_t) 1000));
                apply_limit(r, leaf, name, "cpu", "cpu.max", buf);
        }
        if (res->tasks_max > 0) {
                snprintf(buf, sizeof buf, "%" PRIu64, res->tasks_max);
                apply_limit(r, leaf, name, "pids", "pids.max", buf);
        }
        if (res->io_weight > 0) {
                snprintf(buf, sizeof buf, "default %" PRIu64, res->io_weight);
                apply_limit(r, leaf, name, "io", "io.weight", buf);
        }
}

static int local_start(Runner *base, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        LocalRunner *r = LOCAL_RUNNER(base);
        _cleanup_close_ int in_fd = -EBADF, out_fd = -EBADF, err_fd = -EBADF, procs_fd = -EBADF;
        _cleanup_free_ char *leaf = NULL, *generated = NULL;
        LocalHandle *h = NULL;
        const char *cwd, *name;
        struct stat st;
        bool leaf_created = false;
        pid_t pid;
        int k;

        if (!spec->child_fn && (!spec->argv || isempty(spec->argv[0])))
                return -EINVAL;

        name = spec->name;
        if (!name) {
                generated = strdup_printf("attempt-%u", ++r->n_started);
                if (!generated)
                        return -ENOMEM;
                name = generated;
        }
        if (!leaf_name_is_valid(name))
                return -EINVAL;

        cwd = spec->cwd ?: "/";
        if (stat(cwd, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;

        k = runner_open_input(spec->stdin_path, &in_fd);
        if (k < 0)
                return k;
        k = runner_open_output(spec->stdout_path, &out_fd);
        if (k < 0)
                return k;
        if (spec->stderr_path && streq_ptr(spec->stdout_path, spec->stderr_path)) {
                /* One open file description: both streams share the offset
                 * instead of overwriting each other. */
                err_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
                if (err_fd < 0)
                        return negative_errno();
        } else {
                k = runner_open_output(spec->stderr_path, &err_fd);
                if (k < 0)
                        return k;
        }

        if (r->base.mode == RUNNER_MODE_CGROUP) {
                _cleanup_free_ char *procs = NULL;

                /* The parent may have been removed by another runner of this
                 * process sharing it; recreating it is harmless. */
                k = cg_create(r->cgroup_dir);
                if (k < 0)
                        return k;
                leaf = strdup_printf("%s/%s", r->cgroup_dir, name);
                if (!leaf)
                        return -ENOMEM;
                k = cg_create(leaf);
                if (k < 0)
                        return k;
                if (k > 0) {
                        /* A leftover of an earlier attempt of that name: fine
                         * if empty, otherwise somebody still runs in it. */
                        k = cg_is_populated(leaf);
                        if (k != 0)
                                return k < 0 ? k : -EBUSY;
                }
                leaf_created = true;

                procs = strdup_printf("%s/cgroup.procs", leaf);
                if (!procs) {
                        k = -ENOMEM;
                        goto fail;
                }
                procs_fd = open(procs, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (procs_fd < 0) {
                        k = negative_errno();
                        goto fail;
                }
        }
        apply_limits(r, leaf, name, spec->resources);

        h = calloc(1, sizeof *h);
        if (!h) {
                k = -ENOMEM;
                goto fail;
        }
        h->base.ops = &local_ops;
        h->mode = r->base.mode;
        h->events_fd = -EBADF;
        h->cb = cb;
        h->userdata = userdata;
        h->kill_grace_usec = spec->kill_grace_usec > 0 ? spec->kill_grace_usec : DEFAULT_KILL_GRACE_USEC;
        h->cgroup = TAKE_PTR(leaf);

        /* Anything buffered now would otherwise be written twice: by us and
         * by a child_fn that flushes its inherited copy. */
        (void) fflush(stdout);
        (void) fflush(stderr);

        pid = fork();
        if (pid < 0) {
                k = negative_errno();
                goto fail;
        }
        if (pid == 0) {
                /* the parent's bookkeeping; the child has no use for it, and
                 * a child_fn that exits with a leak check (valgrind) would
                 * count it as lost */
                free(h->cgroup);
                free(h);
                child_run(spec, name, cwd, procs_fd, in_fd, out_fd, err_fd);
        }

        h->pid = pid;
        h->result.started_at = now_usec(CLOCK_REALTIME);
        h->started_mono = h->last_stats_mono = now_usec(CLOCK_MONOTONIC);

        /* Both sides do setpgid() and the cgroup move, so neither order of
         * scheduling leaves a window where a signal or cgroup.kill misses
         * the child. EACCES: the child already exec'd, after doing it. */
        if (setpgid(pid, pid) < 0 && errno != EACCES && errno != ESRCH) {
                k = negative_errno();
                goto fail_child;
        }
        if (procs_fd >= 0) {
                char buf[32];
                int l = snprintf(buf, sizeof buf, "%d", (int) pid);
                ssize_t w = write(procs_fd, buf, (size_t) l);

                if (w < 0 && errno != ESRCH) {
                        k = negative_errno();
                        goto fail_child;
                }
        }

        h->starttime = process_starttime(pid);

        k = sd_event_add_child(r->event, &h->child_source, pid, WEXITED, on_child, h);
        if (k < 0)
                goto fail_child;

        if (spec->timeout_usec > 0) {
                k = sd_event_add_time_relative(r->event, &h->timeout_source, CLOCK_MONOTONIC,
                                               spec->timeout_usec, TIMER_ACCURACY_USEC, on_timeout, h);
                if (k < 0)
                        goto fail_child;
        }

        h->runner = r;
        h->next = r->handles;
        if (r->handles)
                r->handles->prev = h;
        r->handles = h;

        *ret = &h->base;
        return 0;

fail_child:
        (void) kill(pid, SIGKILL);
        if (h->cgroup)
                (void) cg_kill(h->cgroup);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (h->cgroup)
                (void) cg_wait_empty(h->cgroup, STALE_WAIT_USEC);
fail:
        if (h && h->cgroup)
                (void) cg_remove(h->cgroup);
        else if (leaf_created)
                (void) cg_remove(leaf);
        handle_free(h);
        return k;
}

static int local_kill_stale(Runner *base, pid_t pid, uint64_t starttime, const char *cgroup) {
        bool killed = false;
        int r;

        (void) base;

        if (cgroup) {
                if (cgroup[0] != '/')
                        return -EINVAL;
                r = cg_is_cgroup2(cgroup);
                if (r == 0)
                        return -EINVAL; /* never write "1" into files of some other file system */
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r > 0) {
                        r = cg_is_populated(cgroup);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                r = cg_kill(cgroup);
                                if (r < 0)
                                        return r;
                                killed = true;
                                r = cg_wait_empty(cgroup, STALE_WAIT_USEC);
                                if (r < 0)
                                        return r;
                        }
                        r = cg_remove(cgroup);
                        if (r < 0)
                                return r;
                        return killed;
                }
                /* The cgroup is gone: fall back to what the pid tells. */
        }

        if (pid <= 0)
                return cgroup ? 0 : -EINVAL;
        if (pid == 1 || pid == getpid())
                return -EINVAL;
        /* Without a start time we cannot tell the attempt from a process
         * that got its pid later: leave it alone. */
        if (starttime == 0 || process_starttime(pid) != starttime)
                return 0;

        if (kill(-pid, SIGKILL) >= 0)
                killed = true;
        else if (errno != ESRCH)
                return negative_errno();
        if (kill(pid, SIGKILL) >= 0)
                killed = true;
        else if (errno != ESRCH)
                return negative_errno();
        return killed;
}

static const RunnerOps local_ops = {
        .free = local_free,
        .get_cgroup_dir = local_get_cgroup_dir,
        .start = local_start,
        .kill_stale = local_kill_stale,
        .freeze = local_freeze,
        .thaw = local_thaw,
        .kill = local_kill,
        .stats = local_stats,
        .pid = local_pid,
        .starttime = local_starttime,
        .cgroup = local_cgroup,
        .release = local_release,
};

/* Where the attempts' leaves go when we detect our own cgroup.
 *
 * As root in the root cgroup (this machine, no systemd) we take a child of
 * the root named after our pid, so that several conductors (or tests) do
 * not trip over each other's leaves.
 *
 * Under systemd with Delegate=yes our unit cgroup is ours, and we put the
 * leaves into a "payload" subgroup. The no-internal-processes rule would
 * force the conductor itself out of the unit cgroup into a "supervisor"
 * leaf only if controllers were enabled in the unit's
 * cgroup.subtree_control; we never enable controllers (freeze, kill,
 * cpu.stat and cgroup.events need none), so staying where we are is fine. */
/* In the root cgroup every conductor makes "marianne-<pid>"; one that was
 * killed leaves its directory (and perhaps orphaned attempts) behind.
 * Clear those of conductors that no longer exist, so kill -9 does not
 * leak cgroups.  A live pid, even a reused one, is left alone. */
static void sweep_dead_parents(const char *mnt) {
        _cleanup_closedir_ DIR *d = opendir(mnt);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;
                _cleanup_closedir_ DIR *sub = NULL;
                const char *num = startswith(de->d_name, "marianne-");
                struct dirent *se;
                char *end;
                long pid;

                if (!num || de->d_type != DT_DIR)
                        continue;
                errno = 0;
                pid = strtol(num, &end, 10);
                if (errno != 0 || *end || pid <= 0 || pid == getpid())
                        continue;
                if (kill((pid_t) pid, 0) >= 0 || errno != ESRCH)
                        continue;
                dir = strdup_printf("%s/%s", mnt, de->d_name);
                if (!dir)
                        return;
                /* cgroup.kill takes the whole subtree */
                (void) cg_kill(dir);
                (void) cg_wait_empty(dir, USEC_PER_SEC);
                sub = opendir(dir);
                while (sub && (se = readdir(sub))) {
                        _cleanup_free_ char *leaf = NULL;

                        if (se->d_type != DT_DIR || se->d_name[0] == '.')
                                continue;
                        leaf = strdup_printf("%s/%s", dir, se->d_name);
                        if (leaf)
                                (void) cg_remove(leaf);
                }
                if (cg_remove(dir) >= 0)
                        log_debug("Removed %s, left behind by conductor %ld.", dir, pid);
        }
}

static int pick_parent_dir(const char *own, char **ret) {
        const char *mnt;
        char *p;
        int r;

        r = cg_get_mount_point(&mnt);
        if (r < 0)
                return r;
        if (streq(own, mnt)) {
                sweep_dead_parents(mnt);
                p = strdup_printf("%s/marianne-%d", own, (int) getpid());
        }
        else
                p = strdup_printf("%s/payload", own);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int setup_cgroup_dir(const char *cgroup_dir, bool explicit, char **ret, bool *ret_remove) {
        _cleanup_free_ char *own = NULL, *parent = NULL, *up = NULL;
        char *slash;
        int r;

        if (explicit) {
                if (cgroup_dir[0] != '/')
                        return -EINVAL;
                parent = strdup(cgroup_dir);
                if (!parent)
                        return -ENOMEM;
                /* Must be (or be created in) a cgroup2 directory we may
                 * manage; probe the directory it will live in. */
                up = strdup(parent);
                if (!up)
                        return -ENOMEM;
                slash = strrchr(up, '/');
                if (slash == up)
                        slash[1] = 0;
                else
                        *slash = 0;
                r = cg_is_cgroup2(access(parent, F_OK) >= 0 ? parent : up);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -ENOMEDIUM;
        } else {
                r = cg_get_own_dir(&own);
                if (r < 0)
                        return r;
                r = cg_probe_writable(own);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EACCES;
                r = pick_parent_dir(own, &parent);
                if (r < 0)
                        return r;
        }

        r = cg_create(parent);
        if (r < 0)
                return r;
        /* Our own naming scheme means the directory is ours even if it
         * survived a previous instance; a caller-given one only if we made
         * it. */
        *ret_remove = !explicit || r == 0;

        r = cg_probe_writable(parent);
        if (r <= 0) {
                if (*ret_remove)
                        (void) cg_remove(parent);
                return r < 0 ? r : -EACCES;
        }

        *ret = TAKE_PTR(parent);
        return 0;
}

int runner_new_local(sd_event *event, const char *cgroup_dir, Runner **ret) {
        LocalRunner *r;
        const char *force;
        bool want_cgroup = false, want_pgroup = false;
        int k;

        if (!event || !ret)
                return -EINVAL;

        force = getenv("MARIANNE_RUNNER_MODE");
        if (!isempty(force)) {
                if (streq(force, "cgroup"))
                        want_cgroup = true;
                else if (streq(force, "process-group"))
                        want_pgroup = true;
                else
                        return -EINVAL;
        }

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->base.ops = &local_ops;
        r->event = sd_event_ref(event);
        r->base.mode = RUNNER_MODE_PROCESS_GROUP;

        /* An explicit directory is a request, not a preference: failing to
         * use it is an error. So is MARIANNE_RUNNER_MODE=cgroup. */
        if (cgroup_dir || !want_pgroup) {
                k = setup_cgroup_dir(cgroup_dir, cgroup_dir != NULL, &r->cgroup_dir, &r->remove_cgroup_dir);
                if (k >= 0)
                        r->base.mode = RUNNER_MODE_CGROUP;
                else if (cgroup_dir || want_cgroup) {
                        log_full_errno(LOG_ERR, k, "Cannot use cgroup %s for attempts: %m",
                                       cgroup_dir ?: "of our own");
                        local_free(&r->base);
                        return k;
                } else
                        log_debug("No manageable cgroup v2 (%s), running attempts in process groups; "
                                  "processes that call setsid() can escape those.", strerror(-k));
        }

        *ret = &r->base;
        return 0;
}

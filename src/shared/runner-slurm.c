/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The Slurm runner: every sheet attempt is one batch job.  start() renders
 * a batch script into the attempt's working directory and submits it with
 * "sbatch --parsable"; one timer then asks squeue about all tracked jobs at
 * once, and scontrol about each job that has left the queue, for its final
 * state and exit code.  Every Slurm command runs as a child process
 * followed by sd-event, its output collected in a memfd: the event loop
 * never waits for the controller. */

#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "runner-internal.h"
#include "runner-slurm.h"
#include "template.h"

#define DEFAULT_POLL_USEC       (2 * USEC_PER_SEC)
#define OUTPUT_MAX              (4U * 1024U * 1024U)
/* A job neither squeue nor scontrol knows is asked about this many polls
 * before it is given up as finished with an unknown result. */
#define MISSING_MAX             2

extern char **environ;

typedef struct SlurmHandle SlurmHandle;
typedef struct SlurmCommand SlurmCommand;

typedef enum CommandKind {
        COMMAND_SUBMIT,
        COMMAND_QUEUE,          /* the squeue of a poll */
        COMMAND_SHOW,           /* scontrol show job of a poll */
        COMMAND_ACTION,         /* scancel, suspend, ...: only logged */
} CommandKind;

typedef struct SlurmRunner {
        Runner base;
        sd_event *event;
        RunnerSlurmOptions o;   /* the strings point into the copies below */
        RunnerSlurmOption *extra;
        char **strings;         /* owns every copied string of o */
        sd_event_source *timer;
        unsigned poll_outstanding;      /* squeue + scontrol calls of the current poll */
        SlurmHandle *handles;
        SlurmCommand *commands;
} SlurmRunner;

typedef enum JobView {
        JOB_SUBMITTING,
        JOB_PENDING,
        JOB_RUNNING,
        JOB_DONE,
} JobView;

struct SlurmHandle {
        RunHandle base;
        SlurmRunner *runner;
        SlurmHandle *prev, *next;

        char *jobid;
        char *unit;             /* "slurm:<jobid>" */
        char *state;            /* JobState as last seen */
        JobView view;
        bool suspended, held;
        bool killed;
        bool released;          /* free once the submission answers / the callback returns */
        bool dispatching;
        bool seen;              /* listed by the current poll's squeue */
        bool showing;           /* a scontrol show is in flight */
        unsigned missing;

        run_exit_fn cb;
        void *userdata;
        usec_t started_at;
        usec_t started_mono;
};

struct SlurmCommand {
        SlurmRunner *runner;
        SlurmCommand *prev, *next;
        CommandKind kind;
        SlurmHandle *handle;    /* NULL once the handle is gone */
        char *what;             /* for log messages */
        sd_event_source *child;
        int out_fd, err_fd;
};

static const RunnerOps slurm_ops;

static SlurmRunner *SLURM_RUNNER(Runner *r) {
        return (SlurmRunner *) r;
}

static SlurmHandle *SLURM_HANDLE(RunHandle *h) {
        return (SlurmHandle *) h;
}

/* ---- rendering ---------------------------------------------------------- */

/* Keys the runner sets itself, long and short spellings. */
static const char *const dedicated_keys[] = {
        "job-name", "J", "comment", "output", "o", "error", "e", "chdir", "D",
        "time", "t", "partition", "p", "cpus-per-task", "c", "mem", "nodes", "N",
        "ntasks", "n", "parsable", "wrap", "input", "i",
};

static bool name_ok(const char *s) {
        if (isempty(s) || strlen(s) > 200)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '_' || *p == '.' || *p == '-' || *p == ':'))
                        return false;
        return true;
}

/* An #SBATCH line is split by sbatch itself: no whitespace, quotes or
 * backslashes, and (in file names) no '%', which Slurm would expand. */
static bool directive_value_ok(const char *s, bool file_name) {
        for (const char *p = s; *p; p++) {
                if ((unsigned char) *p <= ' ' || *p == '"' || *p == '\'' || *p == '\\' || *p == 0x7f)
                        return false;
                if (file_name && *p == '%')
                        return false;
        }
        return true;
}

static bool time_limit_ok(const char *s) {
        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || *p == ':' || *p == '-'))
                        return false;
        return true;
}

static int add_directive(char ***l, const char *key, const char *value, bool file_name) {
        char *line;

        if (value && !directive_value_ok(value, file_name))
                return log_error_errno(-EINVAL, "Slurm option --%s: value \"%s\" cannot be put on an #SBATCH line",
                                       key, value);
        line = value ? strdup_printf("#SBATCH --%s=%s", key, value) : strdup_printf("#SBATCH --%s", key);
        if (!line)
                return -ENOMEM;
        return strv_push(l, line);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

static int render_directives(const RunnerSlurmOptions *o, const RunSpec *spec, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *v = NULL;
        int k;

#define ADD(key, value, file) do { k = add_directive(&l, key, value, file); if (k < 0) return k; } while (0)
#define ADDF(key, ...) do { free(v); v = strdup_printf(__VA_ARGS__); if (!v) return -ENOMEM; ADD(key, v, false); } while (0)

        ADDF("job-name", "marianne.%s", spec->name);
        ADDF("comment", "marianne:group=%s;name=%s;uid=%u", strempty(spec->group), spec->name,
             (unsigned) (spec->identity ? spec->identity->uid : getuid()));
        ADD("output", spec->stdout_path ?: "/dev/null", true);
        ADD("error", spec->stderr_path ?: "/dev/null", true);
        ADD("chdir", spec->cwd, true);
        if (spec->timeout_usec > 0)
                /* Slurm counts whole minutes: never cut an attempt short */
                ADDF("time", "%llu", (unsigned long long) ((spec->timeout_usec + 60 * USEC_PER_SEC - 1) / (60 * USEC_PER_SEC)));
        else if (o->time_limit)
                ADD("time", o->time_limit, false);
        if (o->partition)
                ADD("partition", o->partition, false);
        if (o->cpus_per_task > 0)
                ADDF("cpus-per-task", "%u", o->cpus_per_task);
        if (o->mem)
                ADD("mem", o->mem, false);
        if (o->nodes > 0)
                ADDF("nodes", "%u", o->nodes);
        if (o->ntasks > 0)
                ADDF("ntasks", "%u", o->ntasks);
        for (size_t i = 0; i < o->n_sbatch_options; i++)
                ADD(o->sbatch_options[i].key, o->sbatch_options[i].value, false);
#undef ADD
#undef ADDF

        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

static int check_options(const RunnerSlurmOptions *o) {
        if (o->time_limit && !time_limit_ok(o->time_limit))
                return log_error_errno(-EINVAL, "Slurm time limit \"%s\" is neither minutes nor H:MM:SS.", o->time_limit);
        for (size_t i = 0; i < o->n_sbatch_options; i++) {
                const char *key = o->sbatch_options[i].key;

                if (!key || !name_ok(key) || key[0] == '-')
                        return log_error_errno(-EINVAL, "Invalid Slurm option name \"%s\".", strna(key));
                for (size_t j = 0; j < ELEMENTSOF(dedicated_keys); j++)
                        if (streq(key, dedicated_keys[j]))
                                return log_error_errno(-EINVAL,
                                                       "Slurm option --%s is set by the runner or its own setting, "
                                                       "not through sbatch options.", key);
        }
        return 0;
}

static char *script_path_of(const RunSpec *spec) {
        return strdup_printf("%s/.marianne-%s.sbatch", spec->cwd, spec->name);
}

static int append_line(char **s, const char *line) {
        int k = strextend(s, line);

        return k < 0 ? k : strextend(s, "\n");
}

static int render_script(const RunnerSlurmOptions *o, const RunSpec *spec, char **ret) {
        _cleanup_strv_free_ char **directives = NULL;
        _cleanup_free_ char *s = NULL, *cmd = NULL;
        int k;

        if (!spec->argv || !spec->argv[0] || !spec->cwd || !name_ok(spec->name) ||
            (spec->group && !name_ok(spec->group)))
                return -EINVAL;
        if (spec->child_fn)
                return -EOPNOTSUPP;     /* a function of the conductor cannot run on a compute node */
        if (strchr(spec->argv[0], '='))
                return log_error_errno(-EINVAL, "Program name \"%s\" would be taken by env for an assignment.",
                                       spec->argv[0]);
        k = check_options(o);
        if (k < 0)
                return k;
        k = render_directives(o, spec, &directives);
        if (k < 0)
                return k;

        k = append_line(&s, "#!/bin/bash");
        if (k < 0)
                return k;
        STRV_FOREACH(d, directives) {
                k = append_line(&s, *d);
                if (k < 0)
                        return k;
        }
        STRV_FOREACH(c, o->pre_commands) {
                k = append_line(&s, *c);
                if (k < 0)
                        return k;
        }

        /* The spec's environment is the child's complete environment, as
         * with the other runners, whatever Slurm exported into the job. */
        /* "--" before the assignments: an argv[0] starting with '-' stays
         * a program; one holding '=' cannot, and is refused above. */
        k = strextend(&cmd, "env -i --");
        if (k < 0)
                return k;
        STRV_FOREACH(a, spec->env) {
                _cleanup_free_ char *q = shell_quote(*a);

                if (!q || strextend(&cmd, " ") < 0 || strextend(&cmd, q) < 0)
                        return -ENOMEM;
        }
        STRV_FOREACH(a, spec->argv) {
                _cleanup_free_ char *q = shell_quote(*a);

                if (!q || strextend(&cmd, " ") < 0 || strextend(&cmd, q) < 0)
                        return -ENOMEM;
        }
        {
                _cleanup_free_ char *q = shell_quote(spec->stdin_path ?: "/dev/null");

                if (!q || strextend(&cmd, " < ") < 0 || strextend(&cmd, q) < 0)
                        return -ENOMEM;
        }
        k = append_line(&s, cmd);
        if (k < 0)
                return k;
        k = append_line(&s, "marianne_status=$?");
        if (k < 0)
                return k;
        STRV_FOREACH(c, o->post_commands) {
                k = append_line(&s, *c);
                if (k < 0)
                        return k;
        }
        /* the post commands do not decide the attempt's outcome */
        k = append_line(&s, "exit $marianne_status");
        if (k < 0)
                return k;
        *ret = TAKE_PTR(s);
        return 0;
}

static int sbatch_argv(const char *sbatch, const char *script, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        if (strv_extend(&l, sbatch) < 0 || strv_extend(&l, "--parsable") < 0 || strv_extend(&l, script) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int runner_slurm_render_script(const RunnerSlurmOptions *o, const RunSpec *spec, char **ret_script, char ***ret_sbatch_argv) {
        _cleanup_free_ char *s = NULL, *path = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        int k;

        if (!o || !spec || !ret_script)
                return -EINVAL;
        k = render_script(o, spec, &s);
        if (k < 0)
                return k;
        if (ret_sbatch_argv) {
                path = script_path_of(spec);
                if (!path)
                        return -ENOMEM;
                k = sbatch_argv(o->sbatch_path ?: "sbatch", path, &argv);
                if (k < 0)
                        return k;
                if (o->wrap_submit) {
                        k = o->wrap_submit(spec, &argv, o->wrap_userdata);
                        if (k < 0)
                                return k;
                }
                *ret_sbatch_argv = TAKE_PTR(argv);
        }
        *ret_script = TAKE_PTR(s);
        return 0;
}

/* ---- commands ----------------------------------------------------------- */

static void command_free(SlurmCommand *c) {
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else if (c->runner->commands == c)
                c->runner->commands = c->next;
        if (c->next)
                c->next->prev = c->prev;
        /* owned: a command still running when the runner goes is killed and reaped */
        sd_event_source_disable_unref(c->child);
        if (c->out_fd >= 0)
                (void) close(c->out_fd);
        if (c->err_fd >= 0)
                (void) close(c->err_fd);
        free(c->what);
        free(c);
}

static void command_done(SlurmCommand *c, int status, const char *out, const char *err);

static int read_memfd(int fd, char **ret) {
        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        return read_full_fd(fd, OUTPUT_MAX, ret, NULL);
}

static int on_command_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        SlurmCommand *c = userdata;
        _cleanup_free_ char *out = NULL, *err = NULL;
        int status, k;

        (void) s;
        /* exit status, or -1 for a command killed by a signal */
        status = si->si_code == CLD_EXITED ? si->si_status : -1;
        k = read_memfd(c->out_fd, &out);
        if (k >= 0)
                k = read_memfd(c->err_fd, &err);
        if (k < 0) {
                log_warning_errno(k, "Failed to read the output of %s: %m", c->what);
                status = -1;
        }
        command_done(c, status, strempty(out), strempty(err));
        command_free(c);
        return 0;
}

static int command_start(SlurmRunner *r, CommandKind kind, SlurmHandle *h, char **argv) {
        _cleanup_free_ char *what = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t empty, def;
        SlurmCommand *c;
        pid_t pid;
        int k;

        what = strdup_printf("%s%s%s", argv[0], argv[1] ? " " : "", strempty(argv[1]));
        if (!what)
                return -ENOMEM;
        c = calloc(1, sizeof(SlurmCommand));
        if (!c)
                return -ENOMEM;
        c->runner = r;
        c->kind = kind;
        c->handle = h;
        c->what = TAKE_PTR(what);
        c->out_fd = c->err_fd = -EBADF;
        c->next = r->commands;
        if (r->commands)
                r->commands->prev = c;
        r->commands = c;

        c->out_fd = memfd_create("slurm-stdout", MFD_CLOEXEC);
        c->err_fd = memfd_create("slurm-stderr", MFD_CLOEXEC);
        if (c->out_fd < 0 || c->err_fd < 0) {
                k = negative_errno();
                command_free(c);
                return k;
        }

        /* sd-event has SIGCHLD blocked: the command must not inherit that */
        sigemptyset(&empty);
        sigemptyset(&def);
        sigaddset(&def, SIGPIPE);
        k = posix_spawn_file_actions_init(&fa);
        if (k != 0) {
                command_free(c);
                return -k;
        }
        k = posix_spawnattr_init(&attr);
        if (k != 0) {
                posix_spawn_file_actions_destroy(&fa);
                command_free(c);
                return -k;
        }
        k = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (k == 0)
                k = posix_spawn_file_actions_adddup2(&fa, c->out_fd, STDOUT_FILENO);
        if (k == 0)
                k = posix_spawn_file_actions_adddup2(&fa, c->err_fd, STDERR_FILENO);
        if (k == 0)
                k = posix_spawnattr_setsigmask(&attr, &empty);
        if (k == 0)
                k = posix_spawnattr_setsigdefault(&attr, &def);
        if (k == 0)
                k = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (k == 0)
                k = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (k != 0) {
                log_warning_errno(-k, "Failed to run %s: %m", c->what);
                command_free(c);
                return -k;
        }

        k = sd_event_add_child(r->event, &c->child, pid, WEXITED, on_command_exit, c);
        if (k >= 0)
                k = sd_event_source_set_child_process_own(c->child, true);
        if (k < 0) {
                if (!c->child) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                }
                command_free(c);
                return k;
        }
        if (kind == COMMAND_QUEUE || kind == COMMAND_SHOW)
                r->poll_outstanding++;
        return 0;
}

/* A fire-and-forget scancel/scontrol about jobid. */
static int job_action(SlurmRunner *r, const char *tool, const char *verb, const char *jobid) {
        _cleanup_strv_free_ char **argv = NULL;

        if (strv_extend(&argv, tool) < 0 || (verb && strv_extend(&argv, verb) < 0) || strv_extend(&argv, jobid) < 0)
                return -ENOMEM;
        return command_start(r, COMMAND_ACTION, NULL, argv);
}

/* ---- handles ------------------------------------------------------------ */

static void handle_free(SlurmHandle *h) {
        SlurmRunner *r;

        if (!h)
                return;
        r = h->runner;
        for (SlurmCommand *c = r->commands; c; c = c->next)
                if (c->handle == h)
                        c->handle = NULL;
        if (h->prev)
                h->prev->next = h->next;
        else if (r->handles == h)
                r->handles = h->next;
        if (h->next)
                h->next->prev = h->prev;
        free(h->jobid);
        free(h->unit);
        free(h->state);
        free(h);
}

static int handle_new(SlurmRunner *r, run_exit_fn cb, void *userdata, SlurmHandle **ret) {
        SlurmHandle *h = calloc(1, sizeof(SlurmHandle));

        if (!h)
                return -ENOMEM;
        h->base.ops = &slurm_ops;
        h->runner = r;
        h->cb = cb;
        h->userdata = userdata;
        h->started_at = now_usec(CLOCK_REALTIME);
        h->started_mono = now_usec(CLOCK_MONOTONIC);
        h->next = r->handles;
        if (r->handles)
                r->handles->prev = h;
        r->handles = h;
        *ret = h;
        return 0;
}

static int handle_set_jobid(SlurmHandle *h, const char *jobid) {
        if (free_and_strdup(&h->jobid, jobid) < 0)
                return -ENOMEM;
        free(h->unit);
        h->unit = strdup_printf("slurm:%s", jobid);
        return h->unit ? 0 : -ENOMEM;
}

static void handle_deliver(SlurmHandle *h, RunResult *res) {
        if (h->view == JOB_DONE)
                return;
        h->view = JOB_DONE;
        res->started_at = h->started_at;
        res->finished_at = now_usec(CLOCK_REALTIME);
        if (h->released || !h->cb) {
                if (h->released)
                        handle_free(h);
                return;
        }
        h->dispatching = true;
        h->cb(&h->base, res, h->userdata);
        h->dispatching = false;
        if (h->released)
                handle_free(h);
}

static void poll_schedule(SlurmRunner *r);

/* ---- polling ------------------------------------------------------------ */

static bool state_is(const char *s, const char *const *list) {
        for (; *list; list++)
                if (streq(s, *list))
                        return true;
        return false;
}

static const char *const pending_states[] = {
        "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING", NULL,
};
static const char *const running_states[] = {
        "RUNNING", "SUSPENDED", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING", "STOPPED", NULL,
};

static int handle_note_state(SlurmHandle *h, const char *state) {
        if (free_and_strdup(&h->state, state) < 0)
                return -ENOMEM;
        if (state_is(state, pending_states)) {
                h->view = JOB_PENDING;
                return 0;
        }
        if (state_is(state, running_states)) {
                h->view = JOB_RUNNING;
                h->suspended = streq(state, "SUSPENDED");
                return 0;
        }
        return 1;       /* ended */
}

/* "ExitCode=2:0": exit status and signal. */
static void parse_exit_code(const char *s, int *ret_code, int *ret_signal) {
        unsigned code = 0, sig = 0;

        if (s && sscanf(s, "%u:%u", &code, &sig) >= 1) {
                *ret_code = (int) MIN(code, 255U);
                *ret_signal = (int) MIN(sig, 127U);
        } else
                *ret_code = *ret_signal = 0;
}

static void handle_finish(SlurmHandle *h, const char *state, const char *exit_code) {
        RunResult res = {};
        int code, sig;

        parse_exit_code(exit_code, &code, &sig);
        if (streq(state, "COMPLETED")) {
                res.exited = true;
                res.exit_code = code;
        } else if (streq(state, "FAILED")) {
                if (sig > 0)
                        res.exit_signal = sig;
                else {
                        res.exited = true;
                        res.exit_code = code;
                }
        } else if (streq(state, "TIMEOUT") || streq(state, "DEADLINE"))
                res.timed_out = true;
        else if (streq(state, "OUT_OF_MEMORY"))
                res.oom_killed = true;
        else if (streq(state, "CANCELLED")) {
                if (h->killed)
                        res.killed = true;
                else
                        res.exit_signal = sig > 0 ? sig : SIGTERM;
        } else
                /* NODE_FAIL, PREEMPTED, BOOT_FAIL...: the attempt did not end by
                 * itself; RunResult has no field for why, the handle's state
                 * (run_handle_slurm_state()) and this message carry it. */
                log_warning("Slurm job %s ended %s.", h->jobid, state);
        handle_deliver(h, &res);
}

static void handle_vanished(SlurmHandle *h) {
        RunResult res = { .spawn_error = -ENODATA };

        log_warning("Slurm job %s is known neither to squeue nor to scontrol any more; its result is unknown.", h->jobid);
        handle_deliver(h, &res);
}

/* The value of "Key=" in a one-line scontrol record, NULL if absent. */
static char *record_field(const char *rec, const char *key) {
        size_t n = strlen(key);

        for (const char *p = rec; *p; ) {
                const char *end;

                p += strspn(p, " \t\n");
                end = p + strcspn(p, " \t\n");
                if ((size_t) (end - p) > n && strncmp(p, key, n) == 0 && p[n] == '=')
                        return strndup(p + n + 1, (size_t) (end - p - n - 1));
                p = end;
        }
        return NULL;
}

static void on_show_done(SlurmHandle *h, int status, const char *out, const char *err) {
        _cleanup_free_ char *state = NULL, *exit_code = NULL;
        int k;

        h->showing = false;
        if (status != 0) {
                if (strstr(err, "Invalid job id")) {
                        if (++h->missing >= MISSING_MAX)
                                handle_vanished(h);
                } else
                        /* the controller is unreachable: not evidence the job is gone */
                        log_warning("scontrol show job %s failed: %s", h->jobid, err);
                return;
        }
        state = record_field(out, "JobState");
        exit_code = record_field(out, "ExitCode");
        if (!state) {
                log_warning("scontrol show job %s gave no JobState.", h->jobid);
                return;
        }
        h->missing = 0;
        k = handle_note_state(h, state);
        if (k < 0)
                log_oom();
        else if (k > 0)
                handle_finish(h, state, exit_code);
}

static void on_queue_done(SlurmRunner *r, int status, const char *out, const char *err) {
        bool all_unknown = status != 0;

        if (status != 0)
                /* squeue refuses the whole list when one id is unknown to it;
                 * scontrol then asks one by one */
                log_debug("squeue failed (%s), asking scontrol about each job.", err);
        else
                for (const char *p = out; *p; ) {
                        size_t len = strcspn(p, "\n");
                        _cleanup_free_ char *line = strndup(p, len);
                        char id[64], st[64];

                        p += len + (p[len] ? 1 : 0);
                        if (!line) {
                                log_oom();
                                return;
                        }
                        if (strlen(line) >= sizeof(id) || sscanf(line, "%63s %63s", id, st) != 2)
                                continue;       /* no valid id or state is longer than that */
                        for (SlurmHandle *h = r->handles; h; h = h->next)
                                if (h->view != JOB_DONE && h->view != JOB_SUBMITTING && streq_ptr(h->jobid, id)) {
                                        h->seen = true;
                                        h->missing = 0;
                                        if (handle_note_state(h, st) < 0)
                                                log_oom();
                                        else if (h->view != JOB_PENDING && h->view != JOB_RUNNING)
                                                h->seen = false;        /* ended: scontrol has the exit code */
                                }
                }

        for (SlurmHandle *h = r->handles; h; h = h->next) {
                _cleanup_strv_free_ char **argv = NULL;

                if (h->view == JOB_DONE || h->view == JOB_SUBMITTING || h->showing)
                        continue;
                if (h->seen && !all_unknown)
                        continue;
                if (strv_extend(&argv, r->o.scontrol_path) < 0 || strv_extend(&argv, "show") < 0 ||
                    strv_extend(&argv, "job") < 0 || strv_extend(&argv, h->jobid) < 0 || strv_extend(&argv, "-o") < 0) {
                        log_oom();
                        continue;
                }
                if (command_start(r, COMMAND_SHOW, h, argv) >= 0)
                        h->showing = true;
        }
}

static void command_done(SlurmCommand *c, int status, const char *out, const char *err) {
        SlurmRunner *r = c->runner;
        SlurmHandle *h = c->handle;

        switch (c->kind) {
        case COMMAND_SUBMIT:
                if (!h)
                        break;
                if (status == 0 && out[0] >= '0' && out[0] <= '9') {
                        /* "JOBID" or "JOBID;CLUSTER" */
                        _cleanup_free_ char *id = strndup(out, strspn(out, "0123456789"));

                        if (!id || handle_set_jobid(h, id) < 0) {
                                RunResult res = { .spawn_error = -ENOMEM };
                                handle_deliver(h, &res);
                                break;
                        }
                        h->view = JOB_PENDING;
                        log_debug("Submitted Slurm job %s.", h->jobid);
                        if (h->killed || h->released) {
                                int k = job_action(r, r->o.scancel_path, NULL, h->jobid);
                                if (k < 0)
                                        log_warning_errno(k, "Failed to cancel Slurm job %s: %m", h->jobid);
                        }
                        if (h->released)
                                handle_free(h);
                        else
                                poll_schedule(r);
                } else {
                        RunResult res = { .spawn_error = -EIO };

                        log_error("sbatch failed (status %d): %s", status, err);
                        handle_deliver(h, &res);
                }
                break;
        case COMMAND_QUEUE:
                r->poll_outstanding--;
                on_queue_done(r, status, out, err);
                break;
        case COMMAND_SHOW:
                r->poll_outstanding--;
                if (h)
                        on_show_done(h, status, out, err);
                break;
        case COMMAND_ACTION:
                if (status != 0)
                        log_warning("%s failed: %s", c->what, err);
                break;
        }
        if ((c->kind == COMMAND_QUEUE || c->kind == COMMAND_SHOW) && r->poll_outstanding == 0) {
                for (SlurmHandle *i = r->handles; i; i = i->next)
                        i->seen = false;
                poll_schedule(r);
        }
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        SlurmRunner *r = userdata;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *ids = NULL;
        int k;

        (void) s;
        (void) usec;
        for (SlurmHandle *h = r->handles; h; h = h->next) {
                if (h->view != JOB_PENDING && h->view != JOB_RUNNING)
                        continue;
                if ((ids && strextend(&ids, ",") < 0) || strextend(&ids, h->jobid) < 0) {
                        /* a failing handler would turn the timer off for good */
                        (void) log_oom();
                        poll_schedule(r);
                        return 0;
                }
        }
        if (!ids)
                return 0;       /* nothing to follow: the next submission arms the timer */
        if (strv_extend(&argv, r->o.squeue_path) < 0 || strv_extend(&argv, "-h") < 0 ||
            strv_extend(&argv, "-o") < 0 || strv_extend(&argv, "%i %T") < 0 ||
            strv_extend(&argv, "-j") < 0 || strv_extend(&argv, ids) < 0)
                k = log_oom();
        else
                k = command_start(r, COMMAND_QUEUE, NULL, argv);
        if (k < 0) {
                log_warning_errno(k, "Failed to run squeue, trying again later: %m");
                poll_schedule(r);
        }
        return 0;
}

static void poll_schedule(SlurmRunner *r) {
        int enabled = SD_EVENT_OFF, k;

        if (r->poll_outstanding > 0)
                return;         /* the end of the current poll schedules the next */
        if (r->timer && sd_event_source_get_enabled(r->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF)
                return;
        if (!r->timer)
                k = sd_event_add_time_relative(r->event, &r->timer, CLOCK_MONOTONIC, r->o.poll_interval_usec, 0,
                                               on_poll_timer, r);
        else {
                k = sd_event_source_set_time_relative(r->timer, r->o.poll_interval_usec);
                if (k >= 0)
                        k = sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
        }
        if (k < 0)
                log_error_errno(k, "Failed to schedule the Slurm poll: %m");
}

/* ---- operations --------------------------------------------------------- */

static int slurm_start(Runner *base, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SlurmRunner *r = SLURM_RUNNER(base);
        _cleanup_free_ char *script = NULL, *path = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        SlurmHandle *h;
        int k;

        k = runner_slurm_render_script(&r->o, spec, &script, &argv);
        if (k < 0)
                return k;
        path = script_path_of(spec);
        if (!path)
                return -ENOMEM;
        /* Written by the conductor for now; as the owner once submissions
         * run as the owner. */
        k = write_file_private(path, script, strlen(script));
        if (k < 0)
                return log_error_errno(k, "Failed to write %s: %m", path);

        k = handle_new(r, cb, userdata, &h);
        if (k < 0)
                return k;
        k = command_start(r, COMMAND_SUBMIT, h, argv);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        *ret = &h->base;
        return 0;
}

static int slurm_adopt(Runner *base, const char *unit, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SlurmRunner *r = SLURM_RUNNER(base);
        const char *id = startswith(unit, "slurm:");
        SlurmHandle *h;
        int k;

        if (!id || isempty(id) || strspn(id, "0123456789") != strlen(id) || strlen(id) > 20)
                return -EINVAL;
        k = handle_new(r, cb, userdata, &h);
        if (k < 0)
                return k;
        k = handle_set_jobid(h, id);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        /* the next poll tells what became of it */
        h->view = JOB_PENDING;
        poll_schedule(r);
        *ret = &h->base;
        return 0;
}

static int slurm_kill(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        bool again = h->killed;

        h->killed = true;
        if (again || h->view == JOB_DONE || h->view == JOB_SUBMITTING)
                return 0;       /* the submission's answer cancels */
        return job_action(h->runner, h->runner->o.scancel_path, NULL, h->jobid);
}

static int slurm_freeze(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        int k;

        if (h->view == JOB_SUBMITTING)
                return -EBUSY;
        if (h->view == JOB_DONE)
                return 0;
        /* a job not started yet is held in the queue instead */
        if (h->view == JOB_PENDING) {
                k = job_action(h->runner, h->runner->o.scontrol_path, "hold", h->jobid);
                if (k >= 0)
                        h->held = true;
        } else {
                k = job_action(h->runner, h->runner->o.scontrol_path, "suspend", h->jobid);
                if (k >= 0)
                        h->suspended = true;
        }
        return k;
}

static int slurm_thaw(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        int k = 0;

        if (h->view == JOB_SUBMITTING)
                return -EBUSY;
        if (h->view == JOB_DONE)
                return 0;
        if (h->held) {
                k = job_action(h->runner, h->runner->o.scontrol_path, "release", h->jobid);
                if (k >= 0)
                        h->held = false;
        }
        if (k >= 0 && (h->suspended || h->view == JOB_RUNNING)) {
                k = job_action(h->runner, h->runner->o.scontrol_path, "resume", h->jobid);
                if (k >= 0)
                        h->suspended = false;
        }
        return k;
}

static int slurm_stats(RunHandle *base, RunStats *ret) {
        SlurmHandle *h = SLURM_HANDLE(base);

        /* the job's processes are on another node: only what the queue tells */
        *ret = (RunStats) {
                .alive = h->view == JOB_PENDING || h->view == JOB_RUNNING,
                .uptime_usec = now_usec(CLOCK_MONOTONIC) - h->started_mono,
        };
        return 0;
}

static pid_t slurm_pid(RunHandle *base) {
        (void) base;
        return 0;
}

static const char *slurm_unit(RunHandle *base) {
        return SLURM_HANDLE(base)->unit;
}

static void slurm_release(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);

        h->cb = NULL;
        if (h->dispatching || h->view == JOB_SUBMITTING) {
                h->released = true;     /* freed after the callback / cancelled after the submission */
                return;
        }
        if (h->view != JOB_DONE) {
                int k = job_action(h->runner, h->runner->o.scancel_path, NULL, h->jobid);
                if (k < 0)
                        log_warning_errno(k, "Failed to cancel Slurm job %s: %m", h->jobid);
        }
        handle_free(h);
}

static void slurm_detach(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);

        /* A submission without an answer has no id the next conductor could
         * adopt: that one is cancelled like a release. */
        if (h->dispatching || h->view == JOB_SUBMITTING) {
                slurm_release(base);
                return;
        }
        handle_free(h);
}

const char *run_handle_slurm_state(RunHandle *base) {
        if (!base || base->ops != &slurm_ops)
                return NULL;
        return SLURM_HANDLE(base)->state;
}

static Runner *slurm_free(Runner *base) {
        SlurmRunner *r = SLURM_RUNNER(base);

        while (r->commands)
                command_free(r->commands);
        while (r->handles)
                handle_free(r->handles);
        sd_event_source_disable_unref(r->timer);
        sd_event_unref(r->event);
        free(r->extra);
        strv_free(r->o.pre_commands);
        strv_free(r->o.post_commands);
        strv_free(r->strings);
        free(r);
        return NULL;
}

static const RunnerOps slurm_ops = {
        .free = slurm_free,
        .start = slurm_start,
        .adopt = slurm_adopt,
        .freeze = slurm_freeze,
        .thaw = slurm_thaw,
        .kill = slurm_kill,
        .stats = slurm_stats,
        .pid = slurm_pid,
        .unit = slurm_unit,
        .release = slurm_release,
        .detach = slurm_detach,
};

/* ---- construction ------------------------------------------------------- */

static int find_in_path(const char *name, char **ret) {
        const char *path = getenv("PATH") ?: DEFAULT_PATH;

        if (strchr(name, '/')) {
                if (access(name, X_OK) < 0)
                        return negative_errno();
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *p = path; *p; ) {
                size_t len = strcspn(p, ":");
                _cleanup_free_ char *f = strdup_printf("%.*s/%s", (int) len, p, name);

                if (!f)
                        return -ENOMEM;
                if (len > 0 && access(f, X_OK) == 0) {
                        *ret = TAKE_PTR(f);
                        return 0;
                }
                p += len + (p[len] ? 1 : 0);
        }
        return -ENOENT;
}

/* A copy of s owned by r->strings, NULL for NULL. */
static int keep(SlurmRunner *r, const char *s, const char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        if (strv_extend(&r->strings, s) < 0)
                return -ENOMEM;
        *ret = r->strings[strv_length(r->strings) - 1];
        return 0;
}

static int keep_tool(SlurmRunner *r, const char *given, const char *name, const char **ret) {
        _cleanup_free_ char *p = NULL;
        int k;

        k = find_in_path(given ?: name, &p);
        if (k < 0)
                return log_error_errno(k, "Slurm command %s not found: %m", given ?: name);
        return keep(r, p, ret);
}

int runner_new_slurm(sd_event *event, const RunnerSlurmOptions *o, Runner **ret) {
        _cleanup_(runner_freep) Runner *base = NULL;
        SlurmRunner *r;
        int k;

        if (!event || !o || !ret)
                return -EINVAL;
        k = check_options(o);
        if (k < 0)
                return k;

        r = calloc(1, sizeof(SlurmRunner));
        if (!r)
                return -ENOMEM;
        r->base.ops = &slurm_ops;
        /* runner.h has no Slurm mode yet: no cgroup, no unit name before
         * the submission, like process-group mode */
        r->base.mode = RUNNER_MODE_PROCESS_GROUP;
        r->event = sd_event_ref(event);
        base = &r->base;

        r->o = *o;
        r->o.poll_interval_usec = o->poll_interval_usec ?: DEFAULT_POLL_USEC;
        r->o.pre_commands = r->o.post_commands = NULL;
        r->o.sbatch_options = NULL;
        /* slurm_free() frees these copies */
        if ((o->pre_commands && !(r->o.pre_commands = strv_copy(o->pre_commands))) ||
            (o->post_commands && !(r->o.post_commands = strv_copy(o->post_commands))))
                return -ENOMEM;
        if (o->n_sbatch_options > 0) {
                r->extra = calloc(o->n_sbatch_options, sizeof(RunnerSlurmOption));
                if (!r->extra)
                        return -ENOMEM;
                for (size_t i = 0; i < o->n_sbatch_options; i++) {
                        k = keep(r, o->sbatch_options[i].key, &r->extra[i].key);
                        if (k >= 0)
                                k = keep(r, o->sbatch_options[i].value, &r->extra[i].value);
                        if (k < 0)
                                return k;
                }
                r->o.sbatch_options = r->extra;
        }
        if ((k = keep(r, o->partition, &r->o.partition)) < 0 ||
            (k = keep(r, o->time_limit, &r->o.time_limit)) < 0 ||
            (k = keep(r, o->mem, &r->o.mem)) < 0 ||
            (k = keep_tool(r, o->sbatch_path, "sbatch", &r->o.sbatch_path)) < 0 ||
            (k = keep_tool(r, o->squeue_path, "squeue", &r->o.squeue_path)) < 0 ||
            (k = keep_tool(r, o->scontrol_path, "scontrol", &r->o.scontrol_path)) < 0 ||
            (k = keep_tool(r, o->scancel_path, "scancel", &r->o.scancel_path)) < 0)
                return k;

        *ret = TAKE_PTR(base);
        return 0;
}

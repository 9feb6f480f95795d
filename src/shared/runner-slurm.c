/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The Slurm runner: every sheet attempt is one batch job.  start() forks a
 * child that becomes the attempt's owner, writes the batch script (and a
 * prompt too long for the command line) into WORKSPACE/.marianne-slurm/
 * and execs "sbatch --parsable"; one timer then asks squeue about all
 * tracked jobs at once, and scontrol about each job that has left the
 * queue, for its final state and exit code.  When a job ends, another
 * child, again as the owner, copies its output files to the conductor's
 * log.  Every Slurm command runs as a child process followed by sd-event,
 * its output collected in a memfd, with a deadline: the event loop never
 * waits for the controller. */

#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "runner-internal.h"
#include "runner-slurm.h"
#include "template.h"

#define DEFAULT_POLL_USEC       (2 * USEC_PER_SEC)
#define DEFAULT_COMMAND_USEC    (60 * USEC_PER_SEC)
#define PING_TIMEOUT_USEC       (8 * USEC_PER_SEC)
#define OUTPUT_MAX              (4U * 1024U * 1024U)
/* what of a job's output is copied to the conductor's log: its end */
#define COPY_MAX                (64ULL * 1024U * 1024U)
#define PROMPT_MAX              (64U * 1024U * 1024U)
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
        COMMAND_COLLECT,        /* copying an ended job's output */
        COMMAND_PING,           /* scontrol ping for runner_slurm_ping() */
        COMMAND_VERIFY,         /* scontrol show job of a new submission */
} CommandKind;

typedef struct SlurmRunner {
        Runner base;
        sd_event *event;
        usec_t poll_interval_usec;
        usec_t command_timeout_usec;
        char *sbatch, *squeue, *scontrol, *scancel;
        sd_event_source *timer;
        unsigned poll_outstanding;      /* squeue + scontrol calls of the current poll */
        SlurmHandle *handles;
        SlurmCommand *commands;
} SlurmRunner;

typedef enum JobView {
        JOB_SUBMITTING,
        JOB_PENDING,
        JOB_RUNNING,
        JOB_COLLECTING,         /* ended; its output is being copied */
        JOB_DONE,
} JobView;

struct SlurmHandle {
        RunHandle base;
        SlurmRunner *runner;
        SlurmHandle *prev, *next;

        char *jobid;
        char *unit;             /* "slurm:<jobid>" */
        char *state;            /* JobState as last seen */
        char *error;            /* why it did not start / ended abnormally */
        JobView view;
        bool suspended, held;
        bool want_frozen;       /* frozen before the submission answered */
        bool killed;
        bool timed_out;         /* we cancelled it at its timeout */
        bool released;          /* free once the submission answers / the callback returns */
        bool dispatching;
        bool seen;              /* listed by the current poll's squeue */
        bool showing;           /* a scontrol show is in flight */
        bool has_owner;
        unsigned missing;
        char *name;             /* the attempt's: the job is "marianne.NAME" */

        /* where its output is, and where it goes */
        Identity owner;
        char *out_src, *err_src;
        char *out_dst, *err_dst;
        usec_t timeout_usec;
        usec_t timeout_left;            /* while suspended: what was left of it */
        sd_event_source *timeout_source;
        RunResult result;       /* while collecting */

        run_exit_fn cb;
        void (*progress_fn)(RunHandle *h, RunProgress p, void *userdata);
        void *userdata;
        usec_t started_at;
        usec_t started_mono;
};

typedef struct SlurmPing {
        slurm_ping_fn cb;
        void *userdata;
} SlurmPing;

struct SlurmCommand {
        SlurmRunner *runner;
        SlurmCommand *prev, *next;
        CommandKind kind;
        SlurmHandle *handle;    /* NULL once the handle is gone */
        SlurmPing ping;         /* COMMAND_PING */
        char *what;             /* for log messages */
        pid_t pid;
        sd_event_source *child;
        sd_event_source *deadline;
        bool expired;
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

static bool name_ok(const char *s) {
        if (isempty(s) || strlen(s) > 200 || s[0] == '.')
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

/* The files of an attempt in WORKSPACE/.marianne-slurm/. */
static char *attempt_file(const RunSpec *spec, const char *suffix) {
        return strdup_printf("%s/" SLURM_DIR_NAME "/%s.%s", spec->cwd, spec->name, suffix);
}

static int render_directives(const RunSpec *spec, char ***ret) {
        const ScoreSlurm *o = spec->slurm;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *v = NULL, *out = NULL, *err = NULL;
        int k;

#define ADD(key, value, file) do { k = add_directive(&l, key, value, file); if (k < 0) return k; } while (0)
#define ADDF(key, ...) do { free(v); v = strdup_printf(__VA_ARGS__); if (!v) return -ENOMEM; ADD(key, v, false); } while (0)

        out = attempt_file(spec, "out");
        err = attempt_file(spec, "err");
        if (!out || !err)
                return -ENOMEM;
        ADDF("job-name", "marianne.%s", spec->name);
        ADDF("comment", "marianne:group=%s;name=%s;uid=%u", strempty(spec->group), spec->name,
             (unsigned) (spec->identity ? spec->identity->uid : getuid()));
        ADD("output", out, true);
        ADD("error", err, true);
        ADD("chdir", spec->cwd, true);
        if (o && o->time)
                ADD("time", o->time, false);
        else if (spec->timeout_usec > 0)
                /* Slurm counts whole minutes: never cut an attempt short;
                 * the runner itself ends it at its exact timeout */
                ADDF("time", "%llu", (unsigned long long) ((spec->timeout_usec + 60 * USEC_PER_SEC - 1) / (60 * USEC_PER_SEC)));
        if (o && o->partition)
                ADD("partition", o->partition, false);
        if (o && o->cpus_per_task > 0)
                ADDF("cpus-per-task", "%u", o->cpus_per_task);
        if (o && o->mem)
                ADD("mem", o->mem, false);
        if (o && o->nodes > 0)
                ADDF("nodes", "%u", o->nodes);
        if (o && o->ntasks > 0)
                ADDF("ntasks", "%u", o->ntasks);
        for (size_t i = 0; o && i < o->n_sbatch_options; i++) {
                const char *key = o->sbatch_options[i].key;

                if (!key || !name_ok(key) || key[0] == '-')
                        return log_error_errno(-EINVAL, "Invalid Slurm option name \"%s\".", strna(key));
                if (score_slurm_option_dedicated(key))
                        return log_error_errno(-EINVAL, "Slurm option --%s is set by the runner or its own setting, "
                                               "not through sbatch options.", key);
                /* sbatch spells its options with '-' only */
                free(v);
                v = strdup(key);
                if (!v)
                        return -ENOMEM;
                for (char *p = v; *p; p++)
                        if (*p == '_')
                                *p = '-';
                k = add_directive(&l, v, o->sbatch_options[i].value, false);
                if (k < 0)
                        return k;
        }
#undef ADD
#undef ADDF

        qsort(l, strv_length(l), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

static int append_line(char **s, const char *line) {
        int k = strextend(s, line);

        return k < 0 ? k : strextend(s, "\n");
}

static int append_quoted(char **s, const char *word) {
        _cleanup_free_ char *q = shell_quote(word);

        if (!q || strextend(s, " ") < 0 || strextend(s, q) < 0)
                return -ENOMEM;
        return 0;
}

static int render_script(const RunSpec *spec, char **ret) {
        _cleanup_strv_free_ char **directives = NULL;
        _cleanup_free_ char *s = NULL, *cmd = NULL, *prompt = NULL;
        int k;

        if (!spec->argv || !spec->argv[0] || !spec->cwd || !name_ok(spec->name) ||
            (spec->group && !name_ok(spec->group)))
                return -EINVAL;
        if (spec->child_fn)
                return -EOPNOTSUPP;     /* a function of the conductor cannot run on a compute node */
        if (strchr(spec->argv[0], '='))
                return log_error_errno(-EINVAL, "Program name \"%s\" would be taken by env for an assignment.",
                                       spec->argv[0]);
        k = render_directives(spec, &directives);
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
        /* sbatch reads #SBATCH lines up to the first command: none of the
         * pre-commands may pass for one */
        k = append_line(&s, ":");
        if (k < 0)
                return k;
        STRV_FOREACH(c, spec->slurm ? spec->slurm->pre_commands : NULL) {
                k = append_line(&s, *c);
                if (k < 0)
                        return k;
        }

        /* The spec's environment is the child's complete environment, as
         * with the other runners, whatever Slurm exported into the job.
         * "--" before the assignments: an argv[0] starting with '-' stays
         * a program; one holding '=' cannot, and is refused above. */
        k = strextend(&cmd, "env -i --");
        if (k < 0)
                return k;
        STRV_FOREACH(a, spec->env) {
                k = append_quoted(&cmd, *a);
                if (k < 0)
                        return k;
        }
        STRV_FOREACH(a, spec->argv) {
                k = append_quoted(&cmd, *a);
                if (k < 0)
                        return k;
        }
        if (spec->stdin_path) {
                prompt = attempt_file(spec, "prompt");
                if (!prompt)
                        return -ENOMEM;
        }
        if (strextend(&cmd, " <") < 0 || append_quoted(&cmd, prompt ?: "/dev/null") < 0)
                return -ENOMEM;
        k = append_line(&s, cmd);
        if (k < 0)
                return k;
        k = append_line(&s, "marianne_status=$?");
        if (k < 0)
                return k;
        /* in a subshell: an "exit" there ends the post commands, not the
         * script, whose status stays the main command's */
        if (spec->slurm && spec->slurm->post_commands) {
                k = append_line(&s, "(");
                STRV_FOREACH(c, spec->slurm->post_commands)
                        if (k >= 0)
                                k = append_line(&s, *c);
                if (k >= 0)
                        k = append_line(&s, ")");
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

int runner_slurm_render_script(const RunSpec *spec, const char *sbatch, char **ret_script, char ***ret_sbatch_argv) {
        _cleanup_free_ char *s = NULL, *path = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        int k;

        if (!spec || !ret_script)
                return -EINVAL;
        k = render_script(spec, &s);
        if (k < 0)
                return k;
        if (ret_sbatch_argv) {
                path = attempt_file(spec, "sbatch");
                if (!path)
                        return -ENOMEM;
                if (strv_extend(&argv, sbatch ?: "sbatch") < 0 || strv_extend(&argv, "--parsable") < 0 ||
                    strv_extend(&argv, path) < 0)
                        return -ENOMEM;
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
        sd_event_source_disable_unref(c->deadline);
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
        status = si->si_code == CLD_EXITED && !c->expired ? si->si_status : -1;
        k = read_memfd(c->out_fd, &out);
        if (k >= 0)
                k = read_memfd(c->err_fd, &err);
        if (k < 0) {
                log_warning_errno(k, "Failed to read the output of %s: %m", c->what);
                status = -1;
        }
        if (c->expired && !err)
                err = strdup_printf("%s did not finish in time and was killed", c->what);
        else if (c->expired)
                (void) strextend(&err, "\n(did not finish in time and was killed)");
        command_done(c, status, strempty(out), strempty(err));
        command_free(c);
        return 0;
}

static int on_command_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        SlurmCommand *c = userdata;

        (void) s;
        (void) usec;
        log_warning("%s did not finish in time, killing it.", c->what);
        c->expired = true;
        /* the child source reports its end as usual */
        (void) sd_event_source_send_child_signal(c->child, SIGKILL, NULL, 0);
        return 0;
}

/* A new command in r's list, its memfds open. */
static int command_new(SlurmRunner *r, CommandKind kind, SlurmHandle *h, const char *what, SlurmCommand **ret) {
        SlurmCommand *c;

        c = calloc(1, sizeof(SlurmCommand));
        if (!c)
                return -ENOMEM;
        c->runner = r;
        c->kind = kind;
        c->handle = h;
        c->out_fd = c->err_fd = -EBADF;
        c->next = r->commands;
        if (r->commands)
                r->commands->prev = c;
        r->commands = c;
        c->what = strdup(what);
        if (!c->what) {
                command_free(c);
                return -ENOMEM;
        }
        c->out_fd = memfd_create("slurm-stdout", MFD_CLOEXEC);
        c->err_fd = memfd_create("slurm-stderr", MFD_CLOEXEC);
        if (c->out_fd < 0 || c->err_fd < 0) {
                int k = negative_errno();

                command_free(c);
                return k;
        }
        *ret = c;
        return 0;
}

/* Follow the started child c->pid: its exit, and its deadline. */
static int command_watch(SlurmCommand *c) {
        SlurmRunner *r = c->runner;
        /* a client waits for the answer of a ping (and gives up after 25 s) */
        usec_t timeout = c->kind == COMMAND_PING ? MIN(r->command_timeout_usec, PING_TIMEOUT_USEC) : r->command_timeout_usec;
        int k;

        k = sd_event_add_child(r->event, &c->child, c->pid, WEXITED, on_command_exit, c);
        if (k >= 0)
                k = sd_event_source_set_child_process_own(c->child, true);
        if (k >= 0)
                k = sd_event_add_time_relative(r->event, &c->deadline, CLOCK_MONOTONIC,
                                               timeout, 0, on_command_deadline, c);
        if (k < 0) {
                if (!c->child) {
                        (void) kill(c->pid, SIGKILL);
                        (void) waitpid(c->pid, NULL, 0);
                }
                command_free(c);
                return k;
        }
        if (c->kind == COMMAND_QUEUE || c->kind == COMMAND_SHOW)
                r->poll_outstanding++;
        return 0;
}

static int command_start(SlurmRunner *r, CommandKind kind, SlurmHandle *h, char **argv, SlurmCommand **ret) {
        _cleanup_free_ char *what = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t empty, def;
        SlurmCommand *c;
        int k;

        what = strdup_printf("%s%s%s", argv[0], argv[1] ? " " : "", strempty(argv[1]));
        if (!what)
                return -ENOMEM;
        k = command_new(r, kind, h, what, &c);
        if (k < 0)
                return k;

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
                k = posix_spawn(&c->pid, argv[0], &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (k != 0) {
                log_warning_errno(-k, "Failed to run %s: %m", c->what);
                command_free(c);
                return -k;
        }
        k = command_watch(c);
        if (k < 0)
                return k;
        if (ret)
                *ret = c;
        return 0;
}

/* Run fn(arg) in a forked child as id (NULL or self: as we are), its
 * stdout and stderr going to the command's memfds, fds[] renumbered from
 * 3 and every other fd closed; the child exits 0 when fn returns >= 0
 * (or fn execs), 126 after saying on stderr why it failed. */
static int command_fork(SlurmRunner *r, CommandKind kind, SlurmHandle *h, const char *what,
                        const Identity *id, int *fds, size_t n_fds, int (*fn)(void *arg), void *arg) {
        SlurmCommand *c;
        sigset_t empty;
        int k;

        k = command_new(r, kind, h, what, &c);
        if (k < 0)
                return k;
        c->pid = fork();
        if (c->pid < 0) {
                k = negative_errno();
                command_free(c);
                return k;
        }
        if (c->pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                sigemptyset(&empty);
                (void) sigprocmask(SIG_SETMASK, &empty, NULL);
                (void) signal(SIGPIPE, SIG_DFL);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 ||
                    dup2(c->out_fd, STDOUT_FILENO) < 0 || dup2(c->err_fd, STDERR_FILENO) < 0)
                        _exit(126);
                /* nothing of the conductor's (the store, the bus) stays open
                 * in a process the owner can reach, but the fds it is given,
                 * which become 3, 4, ... (fds[] updated to say so) */
                for (size_t i = 0; i < n_fds; i++)
                        if (fds[i] >= 0 && (fds[i] = fcntl(fds[i], F_DUPFD, 3 + (int) n_fds)) < 0)
                                _exit(126);
                for (size_t i = 0; i < n_fds; i++)
                        if (fds[i] >= 0) {
                                if (dup2(fds[i], 3 + (int) i) < 0)
                                        _exit(126);
                                fds[i] = 3 + (int) i;
                        }
                (void) close_range(3 + (unsigned) n_fds, ~0U, 0);
                if (id && !identity_is_self(id)) {
                        k = identity_become(id);
                        if (k < 0) {
                                dprintf(STDERR_FILENO, "Cannot become user %u: %s\n", (unsigned) id->uid, strerror(-k));
                                _exit(126);
                        }
                }
                k = fn(arg);
                _exit(k < 0 ? 126 : 0);
        }
        return command_watch(c);
}

/* A fire-and-forget scancel/scontrol about jobid. */
static int job_action(SlurmRunner *r, const char *tool, const char *verb, const char *jobid) {
        _cleanup_strv_free_ char **argv = NULL;

        if (strv_extend(&argv, tool) < 0 || (verb && strv_extend(&argv, verb) < 0) || strv_extend(&argv, jobid) < 0)
                return -ENOMEM;
        return command_start(r, COMMAND_ACTION, NULL, argv, NULL);
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
        sd_event_source_disable_unref(h->timeout_source);
        if (h->has_owner)
                identity_done(&h->owner);
        free(h->out_src);
        free(h->err_src);
        free(h->out_dst);
        free(h->err_dst);
        free(h->jobid);
        free(h->unit);
        free(h->state);
        free(h->error);
        free(h->name);
        free(h);
}

/* A handle for spec (NULL when adopting without one: no output copied). */
static int handle_new(SlurmRunner *r, const RunSpec *spec, run_exit_fn cb, void *userdata, SlurmHandle **ret) {
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

        if (spec) {
                h->progress_fn = spec->progress_fn;
                h->timeout_usec = spec->timeout_usec;
                if (spec->identity) {
                        if (identity_copy(spec->identity, &h->owner) < 0) {
                                handle_free(h);
                                return -ENOMEM;
                        }
                        h->has_owner = true;
                }
                if (spec->name && !(h->name = strdup(spec->name))) {
                        handle_free(h);
                        return -ENOMEM;
                }
                if (spec->cwd && spec->name && name_ok(spec->name)) {
                        h->out_src = attempt_file(spec, "out");
                        h->err_src = attempt_file(spec, "err");
                        if (!h->out_src || !h->err_src) {
                                handle_free(h);
                                return -ENOMEM;
                        }
                }
                if ((spec->stdout_path && !(h->out_dst = strdup(spec->stdout_path))) ||
                    (spec->stderr_path && !(h->err_dst = strdup(spec->stderr_path)))) {
                        handle_free(h);
                        return -ENOMEM;
                }
        }
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

/* false when the handle went away in the callback */
static bool handle_progress(SlurmHandle *h, RunProgress p) {
        if (!h->progress_fn || !h->cb || h->released)
                return true;
        h->dispatching = true;
        h->progress_fn(&h->base, p, h->userdata);
        h->dispatching = false;
        if (h->released) {
                handle_free(h);
                return false;
        }
        return true;
}

static void handle_deliver_now(SlurmHandle *h) {
        h->view = JOB_DONE;
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        h->result.started_at = h->started_at;
        h->result.finished_at = now_usec(CLOCK_REALTIME);
        if (h->released || !h->cb) {
                if (h->released)
                        handle_free(h);
                return;
        }
        h->dispatching = true;
        h->cb(&h->base, &h->result, h->userdata);
        h->dispatching = false;
        if (h->released)
                handle_free(h);
}

typedef struct CollectArgs {
        const char *src[2];
        int dst[2];
} CollectArgs;

/* In the child, as the owner: the end of each output file to its log. */
static int collect_child(void *arg) {
        CollectArgs *a = arg;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(a->src); i++) {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                char buf[65536];

                if (!a->src[i] || a->dst[i] < 0)
                        continue;
                /* never a FIFO that blocks or a symlink out of the workspace */
                fd = open(a->src[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
                if (fd < 0) {
                        if (errno != ENOENT)    /* a job cancelled while pending wrote nothing */
                                dprintf(STDERR_FILENO, "Cannot open %s: %m\n", a->src[i]);
                        continue;
                }
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        dprintf(STDERR_FILENO, "%s is not a regular file, not copied\n", a->src[i]);
                        continue;
                }
                if ((uint64_t) st.st_size > COPY_MAX && lseek(fd, st.st_size - (off_t) COPY_MAX, SEEK_SET) < 0)
                        continue;
                /* what was there when we looked: a job still writing (or an
                 * owner appending) does not keep us copying */
                for (uint64_t left = MIN((uint64_t) st.st_size, COPY_MAX); left > 0; ) {
                        ssize_t n = read(fd, buf, MIN(sizeof(buf), left));

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                break;
                        left -= (uint64_t) n;
                        k = loop_write(a->dst[i], buf, (size_t) n);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

/* The job ended: copy its output, then tell the owner of the handle. */
static void handle_deliver(SlurmHandle *h, const RunResult *res) {
        _cleanup_close_ int out = -EBADF, err = -EBADF;
        _cleanup_free_ char *what = NULL;
        CollectArgs a = {};
        int k;

        if (h->view == JOB_DONE || h->view == JOB_COLLECTING)
                return;
        h->result = *res;
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        /* a job Slurm forgot may still have left its output */
        if (h->released || !h->cb || !h->out_src || (!h->out_dst && !h->err_dst) ||
            (res->spawn_error < 0 && res->spawn_error != -ENODATA)) {
                handle_deliver_now(h);
                return;
        }

        if (h->out_dst && (k = runner_open_output(h->out_dst, &out)) < 0)
                log_warning_errno(k, "Failed to open %s: %m", h->out_dst);
        if (h->err_dst && (k = runner_open_output(h->err_dst, &err)) < 0)
                log_warning_errno(k, "Failed to open %s: %m", h->err_dst);
        a = (CollectArgs) {
                .src = { h->out_src, h->err_src },
                .dst = { out, err },
        };
        what = strdup_printf("copying the output of Slurm job %s", strna(h->jobid));
        k = what ? command_fork(h->runner, COMMAND_COLLECT, h, what, h->has_owner ? &h->owner : NULL,
                                a.dst, ELEMENTSOF(a.dst), collect_child, &a) : -ENOMEM;
        if (k < 0) {
                log_warning_errno(k, "Failed to copy the output of Slurm job %s: %m", strna(h->jobid));
                handle_deliver_now(h);
                return;
        }
        h->view = JOB_COLLECTING;
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

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        SlurmHandle *h = userdata;
        int k;

        (void) s;
        (void) usec;
        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
        if (h->view != JOB_RUNNING || h->killed)
                return 0;
        log_info("Slurm job %s reached its timeout of %llu s, cancelling it.", h->jobid,
                 (unsigned long long) (h->timeout_usec / USEC_PER_SEC));
        h->timed_out = true;
        k = job_action(h->runner, h->runner->scancel, NULL, h->jobid);
        if (k < 0)
                log_warning_errno(k, "Failed to cancel Slurm job %s: %m", h->jobid);
        return 0;
}

static int handle_note_state(SlurmHandle *h, const char *state) {
        if (free_and_strdup(&h->state, state) < 0)
                return -ENOMEM;
        if (state_is(state, pending_states)) {
                h->view = JOB_PENDING;
                return 0;
        }
        if (state_is(state, running_states)) {
                bool was = h->view == JOB_RUNNING;

                h->view = JOB_RUNNING;
                h->suspended = streq(state, "SUSPENDED");
                if (!was && (h->held || h->want_frozen) && !h->suspended) {
                        /* paused while we saw it pending, but it started
                         * before the hold: suspend it instead */
                        if (job_action(h->runner, h->runner->scontrol, "suspend", h->jobid) >= 0)
                                h->suspended = true;
                }
                if (!was) {
                        /* the attempt's time counts from when it runs, not
                         * from its time in the queue */
                        if (h->timeout_usec > 0 && !h->timeout_source &&
                            sd_event_add_time_relative(h->runner->event, &h->timeout_source, CLOCK_MONOTONIC,
                                                       h->timeout_usec, 0, on_timeout, h) < 0)
                                log_warning("Failed to arm the timeout of Slurm job %s; Slurm's --time still applies.",
                                            h->jobid);
                        if (!handle_progress(h, RUN_PROGRESS_RUNNING))
                                return -ESTALE;         /* gone */
                }
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

static void handle_finish(SlurmHandle *h, const char *state, const char *exit_code, const char *reason) {
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
                if (h->timed_out)
                        res.timed_out = true;
                else if (h->killed)
                        res.killed = true;
                else {
                        res.exit_signal = sig > 0 ? sig : SIGTERM;
                        free(h->error);
                        h->error = strdup_printf("Slurm job %s was cancelled outside the conductor", h->jobid);
                }
        } else {
                /* NODE_FAIL, PREEMPTED, BOOT_FAIL...: the attempt did not end
                 * by itself; the error says why */
                free(h->error);
                h->error = strdup_printf("Slurm job %s ended %s%s%s%s", h->jobid, state,
                                         reason && !streq(reason, "None") ? " (" : "",
                                         reason && !streq(reason, "None") ? reason : "",
                                         reason && !streq(reason, "None") ? ")" : "");
                log_warning("%s.", strna(h->error));
        }
        handle_deliver(h, &res);
}

static void handle_vanished(SlurmHandle *h) {
        RunResult res = { .spawn_error = -ENODATA };

        free(h->error);
        h->error = strdup_printf("Slurm job %s finished, result unknown: neither squeue nor scontrol knows it any more",
                                 h->jobid);
        log_warning("%s.", strna(h->error));
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
        _cleanup_free_ char *state = NULL, *exit_code = NULL, *reason = NULL;
        int k;

        h->showing = false;
        if (h->view != JOB_PENDING && h->view != JOB_RUNNING)
                return;
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
        reason = record_field(out, "Reason");
        if (!state) {
                log_warning("scontrol show job %s gave no JobState.", h->jobid);
                return;
        }
        h->missing = 0;
        k = handle_note_state(h, state);
        if (k == -ESTALE)
                return;
        if (k < 0)
                log_oom();
        else if (k > 0)
                handle_finish(h, state, exit_code, reason);
}

/* "scontrol show job ID -o" about h, answered to kind's handler. */
static int show_job(SlurmRunner *r, CommandKind kind, SlurmHandle *h) {
        _cleanup_strv_free_ char **argv = NULL;

        if (strv_extend(&argv, r->scontrol) < 0 || strv_extend(&argv, "show") < 0 ||
            strv_extend(&argv, "job") < 0 || strv_extend(&argv, h->jobid) < 0 || strv_extend(&argv, "-o") < 0)
                return log_oom();
        return command_start(r, kind, h, argv, NULL);
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
                        for (SlurmHandle *h = r->handles, *next; h; h = next) {
                                int k;

                                next = h->next;
                                if ((h->view != JOB_PENDING && h->view != JOB_RUNNING) || !streq_ptr(h->jobid, id))
                                        continue;
                                h->seen = true;
                                h->missing = 0;
                                k = handle_note_state(h, st);
                                if (k == -ESTALE)
                                        continue;       /* released in its progress callback */
                                if (k < 0)
                                        log_oom();
                                else if (h->view != JOB_PENDING && h->view != JOB_RUNNING)
                                        h->seen = false;        /* ended: scontrol has the exit code */
                        }
                }

        for (SlurmHandle *h = r->handles; h; h = h->next) {
                if ((h->view != JOB_PENDING && h->view != JOB_RUNNING) || h->showing)
                        continue;
                if (h->seen && !all_unknown)
                        continue;
                if (show_job(r, COMMAND_SHOW, h) >= 0)
                        h->showing = true;
        }
}

static void on_accepted(SlurmRunner *r, SlurmHandle *h);

static void on_submitted(SlurmRunner *r, SlurmHandle *h, int status, const char *out, const char *err) {
        _cleanup_free_ char *id = NULL;
        int k;

        if (status != 0 || out[0] < '0' || out[0] > '9') {
                RunResult res = { .spawn_error = -EIO };
                size_t n = strlen(err);

                /* sbatch's last word is the reason ("sbatch: error: ... invalid partition") */
                while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
                        n--;
                free(h->error);
                h->error = n > 0 ? strndup(err, MIN(n, (size_t) 1024)) :
                        strdup_printf("sbatch failed with status %d and said nothing", status);
                log_error("Submitting the batch job failed: %s", strna(h->error));
                handle_deliver(h, &res);
                return;
        }

        /* "JOBID" or "JOBID;CLUSTER" */
        id = strndup(out, strspn(out, "0123456789"));
        if (!id || strlen(id) > 20 || handle_set_jobid(h, id) < 0) {
                RunResult res = { .spawn_error = -ENOMEM };

                handle_deliver(h, &res);
                return;
        }

        /* sbatch ran as the owner, who could have put any number on its
         * standard output: before we cancel, hold or suspend that job as
         * root, Slurm must say it is the owner's and this attempt's */
        if (h->has_owner && !identity_is_self(&h->owner)) {
                k = show_job(r, COMMAND_VERIFY, h);
                if (k < 0) {
                        RunResult res = { .spawn_error = k };

                        free(h->error);
                        h->error = strdup_printf("cannot check Slurm job %s: %s", h->jobid, strerror(-k));
                        handle_deliver(h, &res);
                }
                return;
        }
        on_accepted(r, h);
}

/* The job sbatch named belongs to the attempt's owner and has its name. */
static void on_verified(SlurmRunner *r, SlurmHandle *h, int status, const char *out, const char *err) {
        _cleanup_free_ char *user = NULL, *name = NULL, *want_name = NULL, *want_user = NULL;

        user = record_field(out, "UserId");
        name = record_field(out, "JobName");
        want_name = strdup_printf("marianne.%s", strempty(h->name));
        want_user = strdup_printf("(%u)", (unsigned) h->owner.uid);
        if (status == 0 && user && name && want_name && want_user &&
            endswith(user, want_user) && streq(name, want_name)) {
                on_accepted(r, h);
                return;
        }

        /* not evidence of anything the job's owner did: leave that job alone */
        {
                RunResult res = { .spawn_error = -EPERM };

                free(h->error);
                h->error = status != 0 ?
                        strdup_printf("cannot check Slurm job %s that sbatch named: %s", h->jobid, err) :
                        strdup_printf("sbatch named Slurm job %s, which is %s of user %s, not this attempt's",
                                      h->jobid, strna(name), strna(user));
                log_error("%s", strna(h->error));
                free(h->jobid);
                free(h->unit);
                h->jobid = h->unit = NULL;
                handle_deliver(h, &res);
        }
}

static void on_accepted(SlurmRunner *r, SlurmHandle *h) {
        int k;

        h->view = JOB_PENDING;
        log_debug("Submitted Slurm job %s.", h->jobid);
        if (h->killed || h->released) {
                k = job_action(r, r->scancel, NULL, h->jobid);
                if (k < 0)
                        log_warning_errno(k, "Failed to cancel Slurm job %s: %m", h->jobid);
        } else if (h->want_frozen) {
                k = job_action(r, r->scontrol, "hold", h->jobid);
                if (k >= 0)
                        h->held = true;
        }
        if (h->released) {
                handle_free(h);
                return;
        }
        if (!handle_progress(h, RUN_PROGRESS_SUBMITTED))
                return;
        poll_schedule(r);
}

static void command_done(SlurmCommand *c, int status, const char *out, const char *err) {
        SlurmRunner *r = c->runner;
        SlurmHandle *h = c->handle;

        switch (c->kind) {
        case COMMAND_SUBMIT:
                if (h)
                        on_submitted(r, h, status, out, err);
                break;
        case COMMAND_VERIFY:
                if (h)
                        on_verified(r, h, status, out, err);
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
        case COMMAND_COLLECT:
                if (status != 0 || !isempty(err))
                        log_warning("%s: %s", c->what, isempty(err) ? "failed" : err);
                if (h)
                        handle_deliver_now(h);
                break;
        case COMMAND_PING: {
                SlurmPing p = c->ping;

                c->ping.cb = NULL;
                /* "Slurmctld(primary) at node is UP"; without a slurm.conf
                 * scontrol looks for the controller in DNS and fails there */
                bool configured = getenv("SLURM_CONF") || access("/etc/slurm/slurm.conf", F_OK) >= 0;

                if (p.cb)
                        p.cb(status == 0 ? 0 : c->expired ? -ETIMEDOUT : strstr(out, "DOWN") ? -EHOSTDOWN :
                             !configured ? -ENOMEDIUM : -EIO,
                             !isempty(out) ? out : err, p.userdata);
                break;
        }
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
        if (strv_extend(&argv, r->squeue) < 0 || strv_extend(&argv, "-h") < 0 ||
            strv_extend(&argv, "-o") < 0 || strv_extend(&argv, "%i %T") < 0 ||
            strv_extend(&argv, "-j") < 0 || strv_extend(&argv, ids) < 0)
                k = log_oom();
        else
                k = command_start(r, COMMAND_QUEUE, NULL, argv, NULL);
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
                k = sd_event_add_time_relative(r->event, &r->timer, CLOCK_MONOTONIC, r->poll_interval_usec, 0,
                                               on_poll_timer, r);
        else {
                k = sd_event_source_set_time_relative(r->timer, r->poll_interval_usec);
                if (k >= 0)
                        k = sd_event_source_set_enabled(r->timer, SD_EVENT_ONESHOT);
        }
        if (k < 0)
                log_error_errno(k, "Failed to schedule the Slurm poll: %m");
}

/* ---- operations --------------------------------------------------------- */

typedef struct SubmitArgs {
        const char *dir;
        const char *name;
        const char *script;
        const char *prompt;
        size_t prompt_size;
        char **argv;
        char **envp;
} SubmitArgs;

static int write_at(int dfd, const char *name, const char *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;

        /* whatever was there (a symlink, a file of an earlier try) goes */
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        return loop_write(fd, data, size);
}

/* In the child, as the owner: the files, then sbatch. */
static int submit_child(void *arg) {
        SubmitArgs *a = arg;
        _cleanup_free_ char *script = NULL, *prompt = NULL;
        _cleanup_close_ int dfd = -EBADF;
        struct stat st;
        int k;

        if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
                dprintf(STDERR_FILENO, "Cannot create %s: %m\n", a->dir);
                return -errno;
        }
        dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0 || fstat(dfd, &st) < 0) {
                dprintf(STDERR_FILENO, "Cannot open %s: %m\n", a->dir);
                return -errno;
        }
        if (st.st_uid != geteuid()) {
                dprintf(STDERR_FILENO, "%s belongs to uid %u, not to the job's owner %u; remove it.\n",
                        a->dir, (unsigned) st.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        script = strdup_printf("%s.sbatch", a->name);
        prompt = strdup_printf("%s.prompt", a->name);
        if (!script || !prompt)
                return -ENOMEM;
        k = write_at(dfd, script, a->script, strlen(a->script));
        if (k >= 0 && a->prompt)
                k = write_at(dfd, prompt, a->prompt, a->prompt_size);
        if (k < 0) {
                dprintf(STDERR_FILENO, "Cannot write into %s: %s\n", a->dir, strerror(-k));
                return k;
        }
        execve(a->argv[0], a->argv, a->envp);
        dprintf(STDERR_FILENO, "Cannot run %s: %m\n", a->argv[0]);
        return -errno;
}

/* sbatch's environment, which Slurm passes on to the batch job: the
 * owner's basics and the attempt's PATH, with the cluster's SLURM_CONF;
 * never the conductor's own. */
static int submit_environment(const RunSpec *spec, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *path = NULL, *conf = getenv("SLURM_CONF");
        const Identity *id = spec->identity;

        STRV_FOREACH(e, spec->env)
                if (startswith(*e, "PATH="))
                        path = *e + 5;
        if (strv_push(&l, strdup_printf("PATH=%s", path ?: DEFAULT_PATH)) < 0 ||
            (id && id->home && strv_push(&l, strdup_printf("HOME=%s", id->home)) < 0) ||
            (id && id->name && strv_push(&l, strdup_printf("USER=%s", id->name)) < 0) ||
            (id && id->name && strv_push(&l, strdup_printf("LOGNAME=%s", id->name)) < 0) ||
            (id && id->shell && strv_push(&l, strdup_printf("SHELL=%s", id->shell)) < 0) ||
            (conf && strv_push(&l, strdup_printf("SLURM_CONF=%s", conf)) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int slurm_start(Runner *base, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SlurmRunner *r = SLURM_RUNNER(base);
        _cleanup_free_ char *script = NULL, *dir = NULL, *prompt = NULL, *what = NULL;
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        size_t prompt_size = 0;
        SlurmHandle *h;
        int k;

        k = runner_slurm_render_script(spec, r->sbatch, &script, &argv);
        if (k < 0)
                return k;
        k = submit_environment(spec, &envp);
        if (k < 0)
                return k;
        dir = strdup_printf("%s/" SLURM_DIR_NAME, spec->cwd);
        what = strdup_printf("sbatch for %s", spec->name);
        if (!dir || !what)
                return -ENOMEM;
        /* the conductor's copy of the prompt is not for the owner to read
         * in place: the child writes it again, as the owner */
        if (spec->stdin_path) {
                k = read_full_file(spec->stdin_path, PROMPT_MAX, &prompt, &prompt_size);
                if (k < 0)
                        return log_error_errno(k, "Failed to read the prompt %s: %m", spec->stdin_path);
        }

        k = handle_new(r, spec, cb, userdata, &h);
        if (k < 0)
                return k;
        k = command_fork(r, COMMAND_SUBMIT, h, what, spec->identity, NULL, 0, submit_child,
                         &(SubmitArgs) {
                                 .dir = dir,
                                 .name = spec->name,
                                 .script = script,
                                 .prompt = prompt,
                                 .prompt_size = prompt_size,
                                 .argv = argv,
                                 .envp = envp,
                         });
        if (k < 0) {
                handle_free(h);
                return k;
        }
        *ret = &h->base;
        return 0;
}

static int slurm_adopt(Runner *base, const char *unit, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        SlurmRunner *r = SLURM_RUNNER(base);
        const char *id = startswith(unit, "slurm:");
        SlurmHandle *h;
        int k;

        if (!id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 20)
                return -EINVAL;
        if (isempty(id)) {
                /* the previous conductor died between sbatch and its answer:
                 * whatever it submitted is cancelled, the attempt runs again */
                _cleanup_free_ char *jobname = NULL, *user = NULL;
                _cleanup_strv_free_ char **argv = NULL;

                if (!spec || !spec->name || !name_ok(spec->name))
                        return -ENOENT;
                jobname = strdup_printf("--name=marianne.%s", spec->name);
                user = strdup_printf("--user=%u", (unsigned) (spec->identity ? spec->identity->uid : getuid()));
                if (!jobname || !user || strv_extend(&argv, r->scancel) < 0 || strv_extend(&argv, user) < 0 ||
                    strv_extend(&argv, jobname) < 0)
                        return -ENOMEM;
                k = command_start(r, COMMAND_ACTION, NULL, argv, NULL);
                if (k < 0)
                        log_warning_errno(k, "Failed to cancel Slurm jobs named marianne.%s: %m", spec->name);
                return -ENOENT;
        }
        k = handle_new(r, spec, cb, userdata, &h);
        if (k < 0)
                return k;
        k = handle_set_jobid(h, id);
        if (k < 0) {
                handle_free(h);
                return k;
        }
        /* the next poll tells what became of it; its timeout starts again
         * when it is seen running */
        h->view = JOB_PENDING;
        poll_schedule(r);
        *ret = &h->base;
        return 0;
}

static bool handle_live(SlurmHandle *h) {
        return h->view == JOB_PENDING || h->view == JOB_RUNNING;
}

static int slurm_kill(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        bool again = h->killed;

        h->killed = true;
        if (again || !handle_live(h))
                return 0;       /* a submission's answer cancels */
        return job_action(h->runner, h->runner->scancel, NULL, h->jobid);
}

static int slurm_freeze(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        int k;

        if (h->view == JOB_SUBMITTING) {
                h->want_frozen = true;  /* held as soon as it has an id */
                return 0;
        }
        if (!handle_live(h))
                return 0;
        /* a job not started yet is held in the queue instead */
        if (h->view == JOB_PENDING) {
                k = job_action(h->runner, h->runner->scontrol, "hold", h->jobid);
                if (k >= 0)
                        h->held = true;
        } else {
                k = job_action(h->runner, h->runner->scontrol, "suspend", h->jobid);
                if (k >= 0)
                        h->suspended = true;
                /* time suspended is not the attempt's time */
                if (k >= 0 && h->timeout_source) {
                        uint64_t at = 0;
                        usec_t now = now_usec(CLOCK_MONOTONIC);

                        if (sd_event_source_get_time(h->timeout_source, &at) >= 0)
                                h->timeout_left = at > now ? at - now : 1;
                        h->timeout_source = sd_event_source_disable_unref(h->timeout_source);
                }
        }
        return k;
}

static int slurm_thaw(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);
        int k = 0;

        h->want_frozen = false;
        if (!handle_live(h))
                return 0;
        if (h->held) {
                k = job_action(h->runner, h->runner->scontrol, "release", h->jobid);
                if (k >= 0)
                        h->held = false;
        }
        if (k >= 0 && (h->suspended || h->view == JOB_RUNNING)) {
                k = job_action(h->runner, h->runner->scontrol, "resume", h->jobid);
                if (k >= 0)
                        h->suspended = false;
                if (k >= 0 && h->timeout_left > 0 && !h->timeout_source &&
                    sd_event_add_time_relative(h->runner->event, &h->timeout_source, CLOCK_MONOTONIC,
                                               h->timeout_left, 0, on_timeout, h) < 0)
                        log_warning("Failed to arm the timeout of Slurm job %s again; Slurm's --time still applies.",
                                    h->jobid);
                h->timeout_left = 0;
        }
        return k;
}

static int slurm_stats(RunHandle *base, RunStats *ret) {
        SlurmHandle *h = SLURM_HANDLE(base);

        /* the job's processes are on another node: only what the queue tells */
        *ret = (RunStats) {
                .alive = h->view == JOB_SUBMITTING || handle_live(h),
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

static const char *slurm_error(RunHandle *base) {
        return SLURM_HANDLE(base)->error;
}

static void slurm_release(RunHandle *base) {
        SlurmHandle *h = SLURM_HANDLE(base);

        h->cb = NULL;
        if (h->dispatching || h->view == JOB_SUBMITTING) {
                h->released = true;     /* freed after the callback / cancelled after the submission */
                return;
        }
        if (handle_live(h)) {
                int k = job_action(h->runner, h->runner->scancel, NULL, h->jobid);
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

const char *runner_slurm_sbatch_path(Runner *base) {
        if (!base || base->ops != &slurm_ops)
                return NULL;
        return SLURM_RUNNER(base)->sbatch;
}

int runner_slurm_ping(Runner *base, slurm_ping_fn cb, void *userdata) {
        SlurmRunner *r;
        SlurmCommand *c = NULL;
        char *argv[3];
        int k;

        if (!base || base->ops != &slurm_ops || !cb)
                return -EINVAL;
        r = SLURM_RUNNER(base);
        argv[0] = r->scontrol;
        argv[1] = (char *) "ping";
        argv[2] = NULL;
        k = command_start(r, COMMAND_PING, NULL, argv, &c);
        if (k < 0)
                return k;
        c->ping = (SlurmPing) { cb, userdata };
        return 0;
}

static Runner *slurm_free(Runner *base) {
        SlurmRunner *r = SLURM_RUNNER(base);

        while (r->commands) {
                SlurmCommand *c = r->commands;

                if (c->kind == COMMAND_PING && c->ping.cb)
                        c->ping.cb(-ECANCELED, "the conductor is stopping", c->ping.userdata);
                command_free(c);
        }
        while (r->handles)
                handle_free(r->handles);
        sd_event_source_disable_unref(r->timer);
        sd_event_unref(r->event);
        free(r->sbatch);
        free(r->squeue);
        free(r->scontrol);
        free(r->scancel);
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
        .error = slurm_error,
        .release = slurm_release,
        .detach = slurm_detach,
};

/* ---- construction ------------------------------------------------------- */

static int find_tool(const char *given, const char *name, char **ret) {
        /* absolute directories only: sbatch runs as root for everyone */
        int k = find_executable(given ?: name, getenv("PATH") ?: DEFAULT_PATH, ret);

        if (k < 0)
                log_full_errno(LOG_DEBUG, k, "Slurm command %s not found: %m", given ?: name);
        return k;
}

int runner_new_slurm(sd_event *event, const RunnerSlurmOptions *o, Runner **ret) {
        _cleanup_(runner_freep) Runner *base = NULL;
        SlurmRunner *r;
        int k;

        if (!event || !o || !ret)
                return -EINVAL;
        r = calloc(1, sizeof(SlurmRunner));
        if (!r)
                return -ENOMEM;
        r->base.ops = &slurm_ops;
        r->base.mode = RUNNER_MODE_SLURM;
        r->event = sd_event_ref(event);
        base = &r->base;
        r->poll_interval_usec = o->poll_interval_usec ?: DEFAULT_POLL_USEC;
        r->command_timeout_usec = o->command_timeout_usec ?: DEFAULT_COMMAND_USEC;

        if ((k = find_tool(o->sbatch_path, "sbatch", &r->sbatch)) < 0 ||
            (k = find_tool(o->squeue_path, "squeue", &r->squeue)) < 0 ||
            (k = find_tool(o->scontrol_path, "scontrol", &r->scontrol)) < 0 ||
            (k = find_tool(o->scancel_path, "scancel", &r->scancel)) < 0)
                return k;

        *ret = TAKE_PTR(base);
        return 0;
}

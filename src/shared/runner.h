/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The runner interface: how one sheet attempt (or validation pass) becomes
 * processes, and how those processes are frozen, thawed, killed, measured
 * and reaped.  The local runner (a child of the conductor) lives in
 * runner-local.c, the systemd runner (a transient unit per attempt) in
 * runner-systemd.c, the Slurm runner (a batch job per attempt) in
 * runner-slurm.c. */

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "score.h"

typedef struct Runner Runner;
typedef struct RunHandle RunHandle;

typedef enum RunnerMode {
        RUNNER_MODE_CGROUP,             /* each attempt in its own cgroup v2 child */
        RUNNER_MODE_PROCESS_GROUP,      /* each attempt in its own process group */
        RUNNER_MODE_SYSTEMD,            /* each attempt a transient unit of the service manager */
        RUNNER_MODE_SLURM,              /* each attempt a batch job of a Slurm cluster */
} RunnerMode;

const char *runner_mode_to_string(RunnerMode m);   /* "cgroup", "process-group", "systemd", "slurm" */

/* What a runner whose attempts queue before they run (Slurm) reports on
 * the way: the unit became known, the attempt started running. */
typedef enum RunProgress {
        RUN_PROGRESS_SUBMITTED,
        RUN_PROGRESS_RUNNING,
} RunProgress;

typedef struct RunSpec {
        char **argv;            /* program and arguments; argv[0] looked up in PATH of env */
        char **env;             /* the complete environment of the child; NULL = empty */
        const char *cwd;        /* must exist */
        const char *stdin_path;         /* read from; NULL = /dev/null (a prompt too long for argv) */
        const char *stdout_path;        /* created/truncated 0600; NULL = /dev/null */
        const char *stderr_path;
        const char *name;       /* unique leaf name for the cgroup ("job-3.sheet-2.attempt-1") */
        const char *group;      /* the job id: attempts of one group share a slice */
        char **log_fields;      /* "MARIANNE_JOB=x" journal fields of the attempt; may be NULL */
        const ScoreResources *resources;        /* NULL = no limits */
        usec_t timeout_usec;    /* 0 = no timeout */
        usec_t kill_grace_usec; /* between SIGTERM and SIGKILL; 0 = 5 s */
        /* Run as this user (groups, gid, uid); NULL keeps the caller's. */
        const struct Identity *identity;
        /* Instead of exec'ing argv, run this in the forked child and exit
         * with its return value (used for validation passes). */
        int (*child_fn)(void *userdata);
        void *child_userdata;
        /* Slurm runner: the batch job's settings; NULL = none. */
        const ScoreSlurm *slurm;
        /* Optional: called with the exit callback's userdata as the attempt
         * moves on (queueing runners only; the others start at once). */
        void (*progress_fn)(RunHandle *h, RunProgress p, void *userdata);
} RunSpec;

typedef struct RunResult {
        bool exited;            /* exit_code valid */
        int exit_code;
        int exit_signal;        /* signal that ended the main process, 0 if none */
        bool timed_out;         /* the runner ended it because timeout_usec passed */
        bool killed;            /* the runner ended it because runner_kill() asked */
        bool oom_killed;        /* the kernel killed it for exceeding its memory limit */
        int spawn_error;        /* negative errno: the attempt never ran (the runner could not start it) */
        usec_t started_at;      /* CLOCK_REALTIME */
        usec_t finished_at;
} RunResult;

typedef struct RunStats {
        pid_t pid;
        bool alive;             /* main process still running */
        bool zombie;            /* main process exited but not yet reaped */
        unsigned n_processes;   /* processes in the group / cgroup */
        uint64_t cpu_usec;      /* CPU time used by the group so far */
        double cpu_percent;     /* since the previous runner_stats() call (or start) */
        uint64_t memory_bytes;  /* resident memory of the group */
        usec_t uptime_usec;
} RunStats;

/* Called exactly once, from the event loop, when the main process has
 * been reaped and every other process of the attempt is gone. */
typedef void (*run_exit_fn)(RunHandle *h, const RunResult *result, void *userdata);

/* Probe cgroup v2 delegation of the calling process (or use the given
 * cgroupfs directory for tests: NULL = detect) and pick the mode. SIGCHLD
 * must be blocked in the calling thread (sd-event needs that). */
int runner_new_local(sd_event *event, const char *cgroup_dir, Runner **ret);

/* Transient units of the system service manager, through its private
 * socket (no bus daemon needed); validation passes (child_fn) run on a
 * local runner inside.  -ENOMEDIUM when systemd is not PID 1, -EPERM when
 * not root, or the connection error. */
int runner_new_systemd(sd_event *event, Runner **ret);
Runner *runner_free(Runner *r);
DEFINE_CLEANUP_FUNC(Runner *, runner_free);
#define _cleanup_runner_free_ _cleanup_(runner_freep)

RunnerMode runner_get_mode(Runner *r);
const char *runner_get_cgroup_dir(Runner *r);  /* NULL in process-group mode */

int runner_start(Runner *r, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret);

/* The unit an attempt of this name will run in, known before it starts
 * (NULL when the runner uses none; "slurm:" for a batch job whose id comes
 * later, which runner_adopt() answers by cancelling any batch job of that
 * name and -ENOENT). */
char *runner_unit_name(Runner *r, const char *name);

/* cgroup.freeze, or SIGSTOP/SIGCONT to the process group. */
int run_handle_freeze(RunHandle *h);
int run_handle_thaw(RunHandle *h);
/* SIGTERM to all, SIGKILL after the grace period; the exit callback
 * reports killed=true. Idempotent. */
int run_handle_kill(RunHandle *h);
int run_handle_stats(RunHandle *h, RunStats *ret);
pid_t run_handle_pid(RunHandle *h);
uint64_t run_handle_starttime(RunHandle *h);   /* /proc/PID/stat start time */
const char *run_handle_cgroup(RunHandle *h);   /* absolute cgroupfs path or NULL */
const char *run_handle_unit(RunHandle *h);     /* transient unit name, "slurm:ID", or NULL */
/* Why an attempt could not start or ended the way it did, in words
 * ("sbatch: error: invalid partition", "Slurm job 12 ended NODE_FAIL");
 * NULL when the result says it all. */
const char *run_handle_error(RunHandle *h);
/* Drop the caller's reference; a running attempt keeps going and its
 * callback is not called any more, it is killed and reaped quietly. */
void run_handle_release(RunHandle *h);
/* The conductor is going away: drop the reference and let the attempt go
 * on where it can outlive us (a unit), which runner_adopt() picks up at
 * the next start; elsewhere the same as run_handle_release(). */
void run_handle_detach(RunHandle *h);

/* After a conductor restart: take an attempt started by a previous
 * instance back.  The callback then comes as from runner_start().  spec
 * describes the attempt as it was started (the Slurm runner copies the
 * output files back with it; the others ignore it; may be NULL).
 * -EOPNOTSUPP when the runner cannot, -ENOENT when the unit is gone. */
int runner_adopt(Runner *r, const char *unit, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret);

/* After a conductor restart: make sure nothing of an attempt recorded by a
 * previous instance survives. pid/starttime guard against PID reuse. */
int runner_kill_stale(Runner *r, pid_t pid, uint64_t starttime, const char *cgroup);

/* Last max bytes of a file, *ret_truncated if there was more. */
int read_file_tail(const char *path, size_t max, char **ret, bool *ret_truncated);

/* /proc/PID/stat field 22, 0 if the process does not exist. */
uint64_t process_starttime(pid_t pid);

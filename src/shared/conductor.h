/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The conductor: owns every job, the store and the runner, and drives the
 * scheduler on an sd-event loop.  Front ends (the D-Bus glue in
 * src/daemon, the tests) call these operations and learn about changes
 * through a ConductorObserver.
 *
 * Errors returned by the operations:
 *   -ENOENT    no such job          -ENOTUNIQ  name matches several jobs
 *   -EBUSY     wrong state for this -ERANGE    no such sheet
 *   -EINVAL    invalid score/args   -E2BIG, -EFBIG  a limit was hit
 * plus whatever reading the score or the store returned. */

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "runner.h"
#include "score.h"
#include "state.h"
#include "store.h"

typedef struct Conductor Conductor;
typedef struct Job Job;

typedef struct ConductorObserver {
        void (*job_added)(Job *j, void *userdata);
        void (*job_removed)(Job *j, void *userdata);    /* just before j is freed */
        void (*job_state_changed)(Job *j, JobState old_state, JobState new_state, void *userdata);
        void (*sheet_state_changed)(Job *j, unsigned sheet, SheetState old_state, SheetState new_state, void *userdata);
        /* start/finish times or sheet counters changed */
        void (*job_changed)(Job *j, void *userdata);
} ConductorObserver;

typedef enum RunnerChoice {
        RUNNER_CHOICE_AUTO,     /* systemd when PID 1 is systemd and we are root, else local */
        RUNNER_CHOICE_LOCAL,
        RUNNER_CHOICE_SYSTEMD,
        RUNNER_CHOICE_SLURM,    /* every job without a runner: block goes to Slurm */
        _RUNNER_CHOICE_MAX,
} RunnerChoice;

const char *runner_choice_to_string(RunnerChoice c);   /* "auto", "local", "systemd", "slurm" */
int runner_choice_from_string(const char *s);          /* -EINVAL if none */

typedef struct ConductorConfig {
        const char *state_dir;          /* store and logs; created 0700 */
        unsigned max_concurrent_sheets; /* conductor-wide; 0 = 2 × CPUs */
        const char *cgroup_dir;         /* NULL = detect delegation */
        RunnerChoice runner;
        usec_t kill_grace_usec;         /* 0 = 5 s */
        unsigned max_active_jobs_per_user; /* queued, running or paused jobs of one owner; 0 = 100 */
        ScoreLimits limits;
        usec_t slurm_poll_interval_usec;   /* 0 = 2 s */
} ConductorConfig;

typedef struct StartOptions {
        const char *workspace;  /* absolute override, or NULL */
        const char *base_dir;   /* for content: what relative paths resolve against */
        unsigned start_sheet;   /* 0/1 = from the beginning */
        bool self_healing;
        uid_t owner_uid;
        gid_t owner_gid;
        const char *parent_job; /* an on_success hook of this job started it */
        unsigned chain_depth;   /* 0 unless parent_job */
} StartOptions;

int conductor_new(sd_event *event, const ConductorConfig *config,
                  const ConductorObserver *observer, void *userdata, Conductor **ret);
Conductor *conductor_free(Conductor *c);
DEFINE_CLEANUP_FUNC(Conductor *, conductor_free);
#define _cleanup_conductor_free_ _cleanup_(conductor_freep)

/* Reload every job from the store.  Attempts of a previous instance that
 * run in units (systemd runner) are adopted and finish as usual; other
 * running attempts are killed and recorded as interrupted, their sheets
 * requeued; completed sheets stay completed. */
int conductor_load(Conductor *c);

/* Parse and check a score as a start would, without creating anything. */
int conductor_plan_path(Conductor *c, const char *path, const StartOptions *o, Score **ret, char **ret_error);
int conductor_plan_content(Conductor *c, const char *yaml, const StartOptions *o, Score **ret, char **ret_error);

int conductor_start_path(Conductor *c, const char *path, const StartOptions *o, Job **ret, char **ret_error);
/* A score file the caller opened (read from the start of fd); path must
 * be its absolute .yaml/.yml name: messages and relative paths use it. */
int conductor_plan_fd(Conductor *c, int fd, const char *path, const StartOptions *o, Score **ret, char **ret_error);
int conductor_start_fd(Conductor *c, int fd, const char *path, const StartOptions *o, Job **ret, char **ret_error);
int conductor_start_content(Conductor *c, const char *yaml, const StartOptions *o, Job **ret, char **ret_error);

/* A name matches the caller's own jobs first (caller (uid_t) -1: anyone's). */
int conductor_find_job(Conductor *c, const char *id_or_name, uid_t caller, Job **ret);
Job *conductor_get_job(Conductor *c, const char *id);  /* exact id only */
size_t conductor_n_jobs(Conductor *c);
Job *conductor_job_at(Conductor *c, size_t i);         /* in creation order */

int conductor_pause_job(Conductor *c, Job *j);
int conductor_resume_job(Conductor *c, Job *j);
int conductor_cancel_job(Conductor *c, Job *j);
int conductor_delete_job(Conductor *c, Job *j);        /* terminal jobs only */
/* owner: only that user's jobs, (uid_t) -1 for everyone's; states_mask:
 * bit (1 << JobState) for each terminal state to clear, 0 = all terminal;
 * older_than_usec: finished at least that long ago. */
int conductor_clear_jobs(Conductor *c, uid_t owner, unsigned states_mask, usec_t older_than_usec, unsigned *ret_deleted);

typedef struct ConductorStatus {
        pid_t pid;
        usec_t started_at;      /* realtime */
        usec_t uptime_usec;
        unsigned running_jobs;
        unsigned active_jobs;
        unsigned running_sheets;
        unsigned max_concurrent_sheets;
        unsigned max_active_jobs_per_user;
        uint64_t memory_bytes;  /* own RSS */
        RunnerMode mode;
        const char *state_dir;
} ConductorStatus;

void conductor_get_status(Conductor *c, ConductorStatus *ret);

/* Change the conductor-wide limits at run time (0 leaves one as it is);
 * a raised sheet limit dispatches waiting sheets at once. */
int conductor_set_limits(Conductor *c, unsigned max_concurrent_sheets, unsigned max_active_jobs_per_user);
RunnerMode conductor_runner_mode(Conductor *c);
/* The PATH every sheet gets, where instrument executables are found; NULL
 * = the default (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin). */
int conductor_set_exec_search_path(Conductor *c, const char *path);
/* The [Slurm] settings every Slurm job starts from (NULL = none); a score's
 * own fields win.  A poll interval > 0 applies when the Slurm runner is
 * first set up. */
int conductor_set_slurm_defaults(Conductor *c, const ScoreSlurm *defaults, usec_t poll_interval_usec);
/* "slurm", "systemd", "cgroup" or "process-group": where j's sheets run. */
const char *job_execution_mode(Job *j);
/* Whether this conductor can submit to Slurm (its commands are there). */
bool conductor_has_slurm(Conductor *c);
/* Ask the Slurm controller whether it is up, without blocking (see
 * runner_slurm_ping()); -ENOENT when this conductor has no Slurm. */
typedef void (*conductor_ping_fn)(int status, const char *message, void *userdata);
int conductor_slurm_ping(Conductor *c, conductor_ping_fn cb, void *userdata);
/* Dry run of a Slurm score's sheet: its batch script and sbatch command
 * line as the owner's first attempt would have them (the job number,
 * known at start, is "N"; the instrument's secret variables are left
 * out).  -EOPNOTSUPP for a score that does not run on Slurm. */
int conductor_plan_batch_script(Conductor *c, const Score *s, unsigned num, char **argv, bool prompt_on_stdin,
                                uid_t owner_uid, gid_t owner_gid, char **ret_script, char ***ret_sbatch_argv);
/* (Re)load the instrument profiles: built-in, /usr/lib/marianne/instruments,
 * /etc/marianne/instruments, and the user's own for a per-user conductor. */
int conductor_load_instruments(Conductor *c);

typedef struct JobHealth {
        pid_t pid;              /* conductor pid if the job is active, else 0 */
        bool alive;             /* some sheet process is running */
        bool zombie;            /* a sheet's main process exited but is not reaped */
        bool exists;            /* the job has live processes */
        unsigned running_sheets;
        unsigned n_processes;
        double cpu_percent;
        uint64_t memory_bytes;
        usec_t uptime_usec;     /* since the job started, 0 if it never did */
} JobHealth;

int conductor_job_health(Conductor *c, Job *j, JobHealth *ret);

/* The stored record of one sheet (tails, validation details included);
 * release with sheet_record_done(). -ERANGE for a sheet out of range. */
int conductor_get_sheet(Conductor *c, Job *j, unsigned num, SheetRecord *ret);

/* A log file of the latest attempt of a sheet ("stdout", "stderr",
 * "validation", "validation-stderr"), or NULL if it never ran. */
char *conductor_sheet_log_path(Conductor *c, Job *j, unsigned num, const char *stream);

/* What sheet num of a planned score would run first: the instrument, its
 * argv with the prompt argument shown as "{prompt}", and how the prompt
 * travels ("flag", "positional", "stdin"). */
int conductor_plan_command(Conductor *c, const Score *s, unsigned num, const char *prompt,
                           char **ret_instrument, char ***ret_argv, const char **ret_delivery, char **ret_error);

/* The userdata given to conductor_new(), i.e. the front end. */
void *conductor_get_userdata(Conductor *c);

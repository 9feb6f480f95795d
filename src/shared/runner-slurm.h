/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Slurm runner: every sheet attempt is one batch job, submitted with
 * sbatch and followed by one squeue call per poll interval for all
 * tracked jobs (scontrol for the ones that left the queue).  The handle's
 * unit is "slurm:<jobid>", which runner_adopt() takes back after a
 * conductor restart. */

#include "runner.h"

typedef struct RunnerSlurmOption {
        const char *key;        /* long option name without "--" ("account", "qos") */
        const char *value;      /* NULL = a flag without value ("--exclusive") */
} RunnerSlurmOption;

typedef struct RunnerSlurmOptions {
        const char *partition;          /* NULL = the cluster's default */
        const char *time_limit;         /* minutes ("30") or "H:MM:SS"; used when the spec has no timeout */
        unsigned cpus_per_task;         /* 0 = unset */
        const char *mem;                /* "4G"; NULL = unset */
        unsigned nodes;                 /* 0 = unset */
        unsigned ntasks;                /* 0 = unset */
        /* More #SBATCH options; a key one of the fields above (or the
         * runner itself) sets is refused with -EINVAL. */
        const RunnerSlurmOption *sbatch_options;
        size_t n_sbatch_options;
        char **pre_commands;            /* shell lines before the main command */
        char **post_commands;           /* after it; they do not change the job's exit status */
        usec_t poll_interval_usec;      /* 0 = 2 s */
        const char *sbatch_path;        /* NULL = "sbatch" looked up in PATH, and so on */
        const char *squeue_path;
        const char *scontrol_path;
        const char *scancel_path;
        /* Integration hook: rewrite the sbatch command line before it runs
         * (to submit as the attempt's owner, spec->identity, e.g. by
         * prepending a setpriv/runuser invocation).  NULL = run as is. */
        int (*wrap_submit)(const RunSpec *spec, char ***argv, void *userdata);
        void *wrap_userdata;
} RunnerSlurmOptions;

/* SIGCHLD must be blocked in the calling thread (sd-event needs that).
 * -ENOENT when a Slurm command is not found, -EINVAL for bad options. */
int runner_new_slurm(sd_event *event, const RunnerSlurmOptions *o, Runner **ret);

/* Dry run: the batch script of spec and the sbatch command line that
 * would submit it (the script path is the one start() writes). */
int runner_slurm_render_script(const RunnerSlurmOptions *o, const RunSpec *spec, char **ret_script, char ***ret_sbatch_argv);

/* The job's Slurm state as last seen ("PENDING", "NODE_FAIL"...), NULL
 * before the first answer; carries the reason of a failed attempt, which
 * RunResult has no field for. */
const char *run_handle_slurm_state(RunHandle *h);

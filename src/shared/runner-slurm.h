/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Slurm runner: every sheet attempt is one batch job, submitted as the
 * attempt's owner with sbatch and followed by one squeue call per poll
 * interval for all tracked jobs (scontrol for the ones that left the
 * queue).  The batch script, the prompt and the job's output live in
 * WORKSPACE/.marianne-slurm/, written by the owner; the output is copied
 * to the spec's stdout/stderr files when the job ends.  The handle's unit
 * is "slurm:<jobid>", which runner_adopt() takes back after a conductor
 * restart. */

#include "runner.h"

#define SLURM_DIR_NAME ".marianne-slurm"

typedef struct RunnerSlurmOptions {
        usec_t poll_interval_usec;      /* 0 = 2 s */
        usec_t command_timeout_usec;    /* a Slurm command still running is killed; 0 = 60 s */
        const char *sbatch_path;        /* NULL = "sbatch" looked up in PATH, and so on */
        const char *squeue_path;
        const char *scontrol_path;
        const char *scancel_path;
} RunnerSlurmOptions;

/* SIGCHLD must be blocked in the calling thread (sd-event needs that).
 * -ENOENT when a Slurm command is not found. */
int runner_new_slurm(sd_event *event, const RunnerSlurmOptions *o, Runner **ret);

/* Dry run: the batch script of spec (with spec->slurm's settings) and the
 * sbatch command line that would submit it; sbatch NULL = "sbatch".
 * -EINVAL for settings that cannot go into a script, -EOPNOTSUPP for a
 * spec that runs a function of the conductor (validation passes). */
int runner_slurm_render_script(const RunSpec *spec, const char *sbatch, char **ret_script, char ***ret_sbatch_argv);

/* The sbatch this runner submits with (absolute). */
const char *runner_slurm_sbatch_path(Runner *r);

/* The job's Slurm state as last seen ("PENDING", "NODE_FAIL"...), NULL
 * before the first answer. */
const char *run_handle_slurm_state(RunHandle *h);

/* Ask the controller whether it is up (scontrol ping), without blocking:
 * cb is called once from the event loop with 0 and scontrol's answer, or
 * a negative errno (-EHOSTDOWN: it answered DOWN, -ENOMEDIUM: there is no
 * slurm.conf and none was found through DNS either, -ETIMEDOUT, -ECANCELED
 * when the runner goes away first). */
typedef void (*slurm_ping_fn)(int status, const char *message, void *userdata);
int runner_slurm_ping(Runner *r, slurm_ping_fn cb, void *userdata);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The conductor's configuration file, systemd style:
 *
 *   [Conductor]
 *   MaxConcurrentSheets=8
 *   MaxJobsPerUser=100
 *   ExitOnIdleSec=0
 *   Runner=auto
 *   ExecSearchPath=/opt/node/bin:/usr/local/bin:/usr/bin:/bin
 *
 *   [Slurm]
 *   Partition=batch
 *   Time=1:00:00
 *   CPUsPerTask=4
 *   Memory=8G
 *   Nodes=1
 *   Tasks=1
 *   SbatchOption=account=physics       (repeatable; "exclusive" for a flag)
 *   PreCommand=module load python      (repeatable)
 *   PostCommand=echo done              (repeatable)
 *   PollIntervalSec=2
 *
 * The [Slurm] settings are the defaults of every score whose runner: is
 * Slurm (or that has none when Runner=slurm); a score's own fields win.
 * '#' and ';' start comments.  A value left out keeps its default. */

#include "macro.h"
#include "score.h"

typedef struct ConductorSettings {
        unsigned max_concurrent_sheets;   /* 0 = not set */
        unsigned max_jobs_per_user;       /* 0 = not set */
        bool exit_on_idle_set;
        usec_t exit_on_idle_usec;         /* 0 = never */
        bool runner_set;
        int runner;                       /* RunnerChoice; read at start only */
        char *exec_search_path;           /* PATH of every sheet; NULL = not set */
        ScoreSlurm slurm;                 /* [Slurm] defaults */
        usec_t slurm_poll_interval_usec;  /* 0 = not set */
} ConductorSettings;

void conductor_settings_done(ConductorSettings *s);

/* Parse text (from file name for messages).  Unknown keys and sections are
 * warnings in *ret_warnings (a strv); a bad value is an error (-EINVAL)
 * with a "FILE:LINE: ..." message. */
int conductor_settings_parse(const char *text, const char *name, ConductorSettings *ret,
                             char ***ret_warnings, char **ret_error);

/* Read and parse a file; a missing file is no error (all defaults). */
int conductor_settings_load(const char *path, ConductorSettings *ret, char ***ret_warnings, char **ret_error);

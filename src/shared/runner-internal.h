/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Private to the runner backends: the operations table behind runner.h,
 * and the /proc readers the backends share.  A backend embeds Runner and
 * RunHandle as the first member of its own structures. */

#include "runner.h"

/* PATH of a sheet whose environment has none. */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

typedef struct RunnerOps {
        Runner *(*free)(Runner *r);
        const char *(*get_cgroup_dir)(Runner *r);
        int (*start)(Runner *r, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret);
        int (*kill_stale)(Runner *r, pid_t pid, uint64_t starttime, const char *cgroup);
        int (*adopt)(Runner *r, const char *unit, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret);

        int (*freeze)(RunHandle *h);
        int (*thaw)(RunHandle *h);
        int (*kill)(RunHandle *h);
        int (*stats)(RunHandle *h, RunStats *ret);
        pid_t (*pid)(RunHandle *h);
        uint64_t (*starttime)(RunHandle *h);
        const char *(*cgroup)(RunHandle *h);
        const char *(*unit)(RunHandle *h);
        const char *(*error)(RunHandle *h);     /* NULL = none */
        void (*release)(RunHandle *h);
        void (*detach)(RunHandle *h);   /* NULL = release */
} RunnerOps;

struct Runner {
        const RunnerOps *ops;
        RunnerMode mode;
};

struct RunHandle {
        const RunnerOps *ops;
};

/* Open an attempt's output file (0600, truncated; NULL = /dev/null). */
int runner_open_output(const char *path, int *ret);
/* Open an attempt's input file (NULL = /dev/null); never follows a symlink. */
int runner_open_input(const char *path, int *ret);

/* Processes, CPU time and memory of the cgroup directory: memory.current,
 * or the processes' resident memory where the memory controller is off. */
int cg_sample(const char *cgroup, unsigned *ret_n, uint64_t *ret_cpu_usec, uint64_t *ret_memory);

/* Fill the CPU fields of s from a CPU time sample: never backwards (time
 * of processes gone unreaped is lost to a sum over live ones), and the
 * rate since the previous sample, which last_cpu_usec and last_mono keep. */
void run_stats_set_cpu(RunStats *s, uint64_t cpu_usec, uint64_t *last_cpu_usec, usec_t *last_mono, usec_t now);

/* runner-systemd.c: "marianne-NAME.service", NULL for a name that cannot be one */
char *systemd_unit_name(const char *name);

/* The fields of /proc/PID/stat the runner uses. */
typedef struct ProcStat {
        char state;             /* 'R', 'S', 'Z', ... */
        pid_t ppid;
        pid_t pgrp;
        uint64_t utime_ticks;
        uint64_t stime_ticks;
        uint64_t cutime_ticks;  /* reaped children */
        uint64_t cstime_ticks;
        uint64_t starttime;
} ProcStat;

/* -ESRCH if the process does not exist. */
int proc_read_stat(pid_t pid, ProcStat *ret);

/* Resident set size in bytes from /proc/PID/statm. */
int proc_get_rss(pid_t pid, uint64_t *ret);

/* All processes whose process group is pgrp, zombies excluded. */
int proc_list_pgrp(pid_t pgrp, pid_t **ret, size_t *ret_n);

/* utime + stime (+ cutime + cstime with children) in microseconds. */
uint64_t proc_stat_cpu_usec(const ProcStat *st, bool children);

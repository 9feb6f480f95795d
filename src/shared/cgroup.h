/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cgroup v2 helpers for the local runner.  Every path taken or returned
 * here is an absolute cgroupfs directory ("/sys/fs/cgroup/unified/x/y"),
 * never a path relative to the hierarchy root. */

#include <sys/types.h>

#include "macro.h"

/* The directory where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on
 * unified systems, /sys/fs/cgroup/unified on hybrid ones. -ENOMEDIUM if
 * neither is a cgroup2 file system. */
int cg_get_mount_point(const char **ret);

/* Our own cgroup relative to the hierarchy root ("/" or "/system.slice/x"),
 * from the "0::" line of /proc/self/cgroup. -ENOMEDIUM if there is none. */
int cg_get_own_path(char **ret);

/* Mount point + own path. */
int cg_get_own_dir(char **ret);

/* 1 if path lies on a cgroup2 file system, 0 if not, negative on error. */
int cg_is_cgroup2(const char *path);

/* Can we manage children of dir? Creates and removes a probe child and
 * checks that cgroup.procs is writable. 1 yes, 0 no (permission denied,
 * read-only), negative on other errors. */
int cg_probe_writable(const char *dir);

/* mkdir; 0 if created, 1 if it already existed. */
int cg_create(const char *path);
/* rmdir; 0 if removed or already gone, -EBUSY if processes remain. */
int cg_remove(const char *path);

/* Move pid (0 = the caller) into the cgroup. */
int cg_attach(const char *path, pid_t pid);

/* Write a whole string into a control file of the cgroup. */
int cg_write(const char *path, const char *file, const char *value);

/* Read "key value" lines (cgroup.events, cpu.stat, ...): the value of key. */
int cg_read_keyed(const char *path, const char *file, const char *key, uint64_t *ret);

/* "populated" from cgroup.events: 1, 0, or negative (-ENOENT if gone). */
int cg_is_populated(const char *path);

/* Write cgroup.freeze and wait up to timeout_usec until cgroup.events reports
 * the new state. -ETIMEDOUT if it did not get there in time (the request
 * stays written). */
int cg_set_frozen(const char *path, bool frozen, usec_t timeout_usec);

/* Wait up to timeout_usec until cgroup.events says "populated 0". */
int cg_wait_empty(const char *path, usec_t timeout_usec);

/* SIGKILL every process via cgroup.kill; falls back to signalling each
 * process in cgroup.procs on kernels before 5.14. */
int cg_kill(const char *path);

/* Send sig to every process listed in cgroup.procs. Returns how many
 * were signalled. */
int cg_signal_all(const char *path, int sig);

/* The pids in cgroup.procs. *ret is a malloc'd array (NULL if empty). */
int cg_get_pids(const char *path, pid_t **ret, size_t *ret_n);

/* usage_usec from cpu.stat (always present on cgroup v2). */
int cg_get_cpu_usec(const char *path, uint64_t *ret);

/* memory.current; -ENOENT when the memory controller is not enabled for
 * this cgroup (the caller then sums the RSS of the processes). */
int cg_get_memory_current(const char *path, uint64_t *ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

/* The backend-independent half of the runner: dispatch through the
 * operations table, and the file and /proc readers every backend shares. */

#include <ctype.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "runner-internal.h"

const char *runner_mode_to_string(RunnerMode m) {
        switch (m) {
        case RUNNER_MODE_CGROUP:
                return "cgroup";
        case RUNNER_MODE_PROCESS_GROUP:
                return "process-group";
        case RUNNER_MODE_SYSTEMD:
                return "systemd";
        case RUNNER_MODE_SLURM:
                return "slurm";
        }
        return NULL;
}

Runner *runner_free(Runner *r) {
        if (!r)
                return NULL;
        return r->ops->free(r);
}

RunnerMode runner_get_mode(Runner *r) {
        /* Callers only ask after a successful runner_new_*(); a NULL here
         * is a programming error, and the safer answer is the mode that
         * needs no privileges. */
        return r ? r->mode : RUNNER_MODE_PROCESS_GROUP;
}

const char *runner_get_cgroup_dir(Runner *r) {
        if (!r || !r->ops->get_cgroup_dir)
                return NULL;
        return r->ops->get_cgroup_dir(r);
}

int runner_start(Runner *r, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        if (!r || !spec || !cb || !ret)
                return -EINVAL;
        return r->ops->start(r, spec, cb, userdata, ret);
}

char *runner_unit_name(Runner *r, const char *name) {
        if (r && r->mode == RUNNER_MODE_SLURM)
                return strdup("slurm:");        /* the id comes with the submission's answer */
        if (!r || r->mode != RUNNER_MODE_SYSTEMD)
                return NULL;
        return systemd_unit_name(name);
}

int runner_kill_stale(Runner *r, pid_t pid, uint64_t starttime, const char *cgroup) {
        if (!r)
                return -EINVAL;
        if (!r->ops->kill_stale)
                return -EOPNOTSUPP;
        return r->ops->kill_stale(r, pid, starttime, cgroup);
}

int run_handle_freeze(RunHandle *h) {
        if (!h)
                return -EINVAL;
        if (!h->ops->freeze)
                return -EOPNOTSUPP;
        return h->ops->freeze(h);
}

int run_handle_thaw(RunHandle *h) {
        if (!h)
                return -EINVAL;
        if (!h->ops->thaw)
                return -EOPNOTSUPP;
        return h->ops->thaw(h);
}

int run_handle_kill(RunHandle *h) {
        if (!h)
                return -EINVAL;
        return h->ops->kill(h);
}

int run_handle_stats(RunHandle *h, RunStats *ret) {
        if (!h || !ret)
                return -EINVAL;
        if (!h->ops->stats)
                return -EOPNOTSUPP;
        return h->ops->stats(h, ret);
}

pid_t run_handle_pid(RunHandle *h) {
        if (!h || !h->ops->pid)
                return 0;
        return h->ops->pid(h);
}

uint64_t run_handle_starttime(RunHandle *h) {
        if (!h || !h->ops->starttime)
                return 0;
        return h->ops->starttime(h);
}

const char *run_handle_cgroup(RunHandle *h) {
        if (!h || !h->ops->cgroup)
                return NULL;
        return h->ops->cgroup(h);
}

const char *run_handle_unit(RunHandle *h) {
        if (!h || !h->ops->unit)
                return NULL;
        return h->ops->unit(h);
}

const char *run_handle_error(RunHandle *h) {
        if (!h || !h->ops->error)
                return NULL;
        return h->ops->error(h);
}

void run_handle_release(RunHandle *h) {
        if (!h)
                return;
        h->ops->release(h);
}

void run_handle_detach(RunHandle *h) {
        if (!h)
                return;
        if (h->ops->detach)
                h->ops->detach(h);
        else
                h->ops->release(h);
}

int runner_adopt(Runner *r, const char *unit, const RunSpec *spec, run_exit_fn cb, void *userdata, RunHandle **ret) {
        if (!r || !unit || !cb || !ret)
                return -EINVAL;
        if (!r->ops->adopt)
                return -EOPNOTSUPP;
        return r->ops->adopt(r, unit, spec, cb, userdata, ret);
}

int runner_open_output(const char *path, int *ret) {
        int fd;

        fd = open(path ?: "/dev/null",
                  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (path ? O_TRUNC | O_NOFOLLOW : 0), 0600);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

int runner_open_input(const char *path, int *ret) {
        int fd;

        fd = open(path ?: "/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY | (path ? O_NOFOLLOW : 0));
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

void run_stats_set_cpu(RunStats *s, uint64_t cpu_usec, uint64_t *last_cpu_usec, usec_t *last_mono, usec_t now) {
        usec_t dt = now > *last_mono ? now - *last_mono : 0;

        cpu_usec = MAX(cpu_usec, *last_cpu_usec);
        s->cpu_usec = cpu_usec;
        s->cpu_percent = dt > 0 ? 100.0 * (double) (cpu_usec - *last_cpu_usec) / (double) dt : 0.0;
        *last_cpu_usec = cpu_usec;
        *last_mono = now;
}

int cg_sample(const char *cgroup, unsigned *ret_n, uint64_t *ret_cpu_usec, uint64_t *ret_memory) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n_pids = 0;
        uint64_t cpu = 0, mem = 0;
        int r;

        r = cg_get_pids(cgroup, &pids, &n_pids);
        if (r < 0 && r != -ENOENT)
                return r;
        r = cg_get_cpu_usec(cgroup, &cpu);
        if (r < 0 && r != -ENOENT)
                return r;
        r = cg_get_memory_current(cgroup, &mem);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT) {
                mem = 0;
                for (size_t i = 0; i < n_pids; i++) {
                        uint64_t rss;

                        if (proc_get_rss(pids[i], &rss) >= 0)
                                mem += rss;
                }
        }
        *ret_n = (unsigned) n_pids;
        *ret_cpu_usec = cpu;
        *ret_memory = mem;
        return 0;
}

int read_file_tail(const char *path, size_t max, char **ret, bool *ret_truncated) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n;
        ssize_t k;
        bool truncated = false;

        if (!path || !ret)
                return -EINVAL;
        if (max >= SIZE_MAX - 1)
                return -EINVAL;

        /* O_NONBLOCK: a FIFO put in place of an output file must not hang
         * us before the type check refuses it. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                /* An attempt that never wrote anything has no file yet:
                 * that is an empty output, not a failure. */
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
                *ret = TAKE_PTR(buf);
                if (ret_truncated)
                        *ret_truncated = false;
                return 0;
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;

        if ((uint64_t) st.st_size > max) {
                if (lseek(fd, st.st_size - (off_t) max, SEEK_SET) < 0)
                        return negative_errno();
                truncated = true;
        }

        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        /* The file may still be growing; what we return is capped at max
         * no matter what, and "truncated" reflects the size we planned on. */
        k = loop_read(fd, buf, max);
        if (k < 0)
                return (int) k;
        n = (size_t) k;
        if (n == max && !truncated) {
                char c;

                do
                        k = read(fd, &c, 1);
                while (k < 0 && errno == EINTR);
                if (k > 0)
                        truncated = true;
        }
        buf[n] = 0;

        *ret = TAKE_PTR(buf);
        if (ret_truncated)
                *ret_truncated = truncated;
        return 0;
}

int proc_read_stat(pid_t pid, ProcStat *ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        unsigned long long utime, stime, starttime;
        long long cutime, cstime;
        int ppid, pgrp;
        char state;
        char *p;
        int r;

        if (pid <= 0 || !ret)
                return -EINVAL;
        path = strdup_printf("/proc/%d/stat", (int) pid);
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 64 * 1024, &buf, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;

        /* comm is in parentheses and may itself contain spaces and ')':
         * only the last ')' ends it. */
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ')
                return -EBADMSG;
        if (sscanf(p + 2,
                   "%c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %*d %*d %llu",
                   &state, &ppid, &pgrp, &utime, &stime, &cutime, &cstime, &starttime) != 8)
                return -EBADMSG;

        *ret = (ProcStat) {
                .state = state,
                .ppid = ppid,
                .pgrp = pgrp,
                .utime_ticks = utime,
                .stime_ticks = stime,
                .cutime_ticks = cutime > 0 ? (uint64_t) cutime : 0,
                .cstime_ticks = cstime > 0 ? (uint64_t) cstime : 0,
                .starttime = starttime,
        };
        return 0;
}

uint64_t process_starttime(pid_t pid) {
        ProcStat st;

        if (proc_read_stat(pid, &st) < 0)
                return 0;
        return st.starttime;
}

uint64_t proc_stat_cpu_usec(const ProcStat *st, bool children) {
        long hz = sysconf(_SC_CLK_TCK);
        uint64_t ticks = st->utime_ticks + st->stime_ticks;

        if (children)
                ticks += st->cutime_ticks + st->cstime_ticks;
        if (hz <= 0)
                hz = 100;
        return ticks * USEC_PER_SEC / (uint64_t) hz;
}

int proc_get_rss(pid_t pid, uint64_t *ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        unsigned long long size, resident;
        long page;
        int r;

        if (pid <= 0 || !ret)
                return -EINVAL;
        path = strdup_printf("/proc/%d/statm", (int) pid);
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 4096, &buf, NULL);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
                return -EBADMSG;
        page = sysconf(_SC_PAGESIZE);
        if (page <= 0)
                page = 4096;
        *ret = (uint64_t) resident * (uint64_t) page;
        return 0;
}

int proc_list_pgrp(pid_t pgrp, pid_t **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;

        if (pgrp <= 0 || !ret || !ret_n)
                return -EINVAL;
        d = opendir("/proc");
        if (!d)
                return negative_errno();

        for (;;) {
                ProcStat st;
                char *end;
                long v;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                v = strtol(de->d_name, &end, 10);
                if (*end != 0 || v <= 0 || v > INT32_MAX)
                        continue;

                r = proc_read_stat((pid_t) v, &st);
                if (r == -ESRCH)
                        continue;       /* gone while we looked */
                if (r < 0)
                        return r;
                if (st.pgrp != pgrp || st.state == 'Z')
                        continue;

                if (n >= allocated) {
                        size_t want = allocated ? allocated * 2 : 16;
                        pid_t *t = reallocarray(pids, want, sizeof(pid_t));

                        if (!t)
                                return -ENOMEM;
                        pids = t;
                        allocated = want;
                }
                pids[n++] = (pid_t) v;
        }

        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "cgroup.h"

/* Control files are tiny; cgroup.procs of a big attempt is the only one
 * that can grow, and a few MB cover hundreds of thousands of pids. */
#define CG_FILE_MAX (4U * 1024U * 1024U)

/* How often the bounded waits look again even without a notification;
 * kernfs notifications are reliable, this only guards against a missed
 * wakeup costing the whole bound. */
#define CG_POLL_SLICE_USEC (10 * USEC_PER_MSEC)

int cg_is_cgroup2(const char *path) {
        struct statfs fs;

        if (!path)
                return -EINVAL;
        if (statfs(path, &fs) < 0)
                return negative_errno();
        return fs.f_type == CGROUP2_SUPER_MAGIC;
}

int cg_get_mount_point(const char **ret) {
        static const char *const candidates[] = {
                "/sys/fs/cgroup",               /* unified */
                "/sys/fs/cgroup/unified",       /* hybrid */
        };

        if (!ret)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++)
                if (cg_is_cgroup2(candidates[i]) > 0) {
                        *ret = candidates[i];
                        return 0;
                }
        return -ENOMEDIUM;
}

int cg_get_own_path(char **ret) {
        _cleanup_free_ char *buf = NULL;
        const char *p;
        int r;

        if (!ret)
                return -EINVAL;
        r = read_full_file("/proc/self/cgroup", 1024 * 1024, &buf, NULL);
        if (r < 0)
                return r;

        for (p = buf; p && *p; ) {
                const char *eol = strchrnul(p, '\n'), *v = startswith(p, "0::");

                if (v) {
                        char *s = strndup(v, (size_t) (eol - v));

                        if (!s)
                                return -ENOMEM;
                        if (s[0] != '/') {
                                free(s);
                                return -EBADMSG;
                        }
                        *ret = s;
                        return 0;
                }
                p = *eol ? eol + 1 : NULL;
        }
        return -ENOMEDIUM;
}

int cg_get_own_dir(char **ret) {
        _cleanup_free_ char *own = NULL;
        const char *mnt;
        char *s;
        int r;

        if (!ret)
                return -EINVAL;
        r = cg_get_mount_point(&mnt);
        if (r < 0)
                return r;
        r = cg_get_own_path(&own);
        if (r < 0)
                return r;

        s = streq(own, "/") ? strdup(mnt) : strdup_printf("%s%s", mnt, own);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static bool errno_is_permission(int e) {
        return e == EACCES || e == EPERM || e == EROFS;
}

int cg_probe_writable(const char *dir) {
        _cleanup_free_ char *probe = NULL, *procs = NULL;
        int r;

        if (!dir)
                return -EINVAL;
        r = cg_is_cgroup2(dir);
        if (r <= 0)
                return r < 0 ? r : -ENOMEDIUM;

        procs = strdup_printf("%s/cgroup.procs", dir);
        probe = strdup_printf("%s/.marianne-probe-%d", dir, (int) getpid());
        if (!procs || !probe)
                return -ENOMEM;

        /* Moving a process from our cgroup into a child needs write access
         * to cgroup.procs of the common ancestor, which is dir itself. */
        if (access(procs, W_OK) < 0)
                return errno_is_permission(errno) ? 0 : negative_errno();

        if (mkdir(probe, 0755) < 0 && errno != EEXIST)
                return errno_is_permission(errno) ? 0 : negative_errno();
        if (rmdir(probe) < 0)
                return negative_errno();
        return 1;
}

int cg_create(const char *path) {
        if (!path)
                return -EINVAL;
        if (mkdir(path, 0755) < 0) {
                if (errno == EEXIST)
                        return 1;
                return negative_errno();
        }
        return 0;
}

int cg_remove(const char *path) {
        if (!path)
                return -EINVAL;
        if (rmdir(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int cg_write(const char *path, const char *file, const char *value) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t l;
        ssize_t k;

        if (!path || !file || !value)
                return -EINVAL;
        p = strdup_printf("%s/%s", path, file);
        if (!p)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        /* Control files take a value in one write(); splitting it up would
         * hand the kernel two separate (and wrong) values. */
        l = strlen(value);
        do
                k = write(fd, value, l);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != l)
                return -EIO;
        return 0;
}

int cg_attach(const char *path, pid_t pid) {
        char buf[32];

        if (pid < 0)
                return -EINVAL;
        (void) snprintf(buf, sizeof buf, "%d", (int) pid);
        return cg_write(path, "cgroup.procs", buf);
}

static int parse_keyed(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);

        for (const char *p = text; p && *p; ) {
                const char *eol = strchrnul(p, '\n');

                if ((size_t) (eol - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == ' ') {
                        char *end;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(p + kl + 1, &end, 10);
                        if (errno != 0 || end == p + kl + 1 || (*end != '\n' && *end != 0))
                                return -EBADMSG;
                        *ret = v;
                        return 0;
                }
                p = *eol ? eol + 1 : NULL;
        }
        return -ENODATA;
}

int cg_read_keyed(const char *path, const char *file, const char *key, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        int r;

        if (!path || !file || !key || !ret)
                return -EINVAL;
        p = strdup_printf("%s/%s", path, file);
        if (!p)
                return -ENOMEM;
        r = read_full_file(p, CG_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;
        return parse_keyed(buf, key, ret);
}

int cg_is_populated(const char *path) {
        uint64_t v;
        int r;

        r = cg_read_keyed(path, "cgroup.events", "populated", &v);
        if (r < 0)
                return r;
        return v != 0;
}

/* Wait until "key want" shows up in cgroup.events, using the POLLPRI
 * notification kernfs raises on every change of the file. */
static int wait_event_value(const char *path, const char *key, uint64_t want, usec_t timeout_usec) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        usec_t deadline;

        p = strdup_printf("%s/cgroup.events", path);
        if (!p)
                return -ENOMEM;
        fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                _cleanup_free_ char *buf = NULL;
                struct pollfd pfd = { .fd = fd, .events = POLLPRI };
                uint64_t v;
                usec_t n, slice;
                int r;

                /* Reading the file re-arms the notification. */
                if (lseek(fd, 0, SEEK_SET) < 0)
                        return negative_errno();
                r = read_full_fd(fd, CG_FILE_MAX, &buf, NULL);
                if (r < 0)
                        return r;
                r = parse_keyed(buf, key, &v);
                if (r < 0)
                        return r;
                if (v == want)
                        return 0;

                n = now_usec(CLOCK_MONOTONIC);
                if (n >= deadline)
                        return -ETIMEDOUT;
                slice = MIN(deadline - n, (usec_t) CG_POLL_SLICE_USEC);
                if (poll(&pfd, 1, (int) ((slice + USEC_PER_MSEC - 1) / USEC_PER_MSEC)) < 0 && errno != EINTR)
                        return negative_errno();
        }
}

int cg_set_frozen(const char *path, bool frozen, usec_t timeout_usec) {
        int r;

        r = cg_write(path, "cgroup.freeze", frozen ? "1" : "0");
        if (r < 0)
                return r;
        return wait_event_value(path, "frozen", frozen, timeout_usec);
}

int cg_wait_empty(const char *path, usec_t timeout_usec) {
        if (!path)
                return -EINVAL;
        return wait_event_value(path, "populated", 0, timeout_usec);
}

int cg_get_pids(const char *path, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, allocated = 0;
        int r;

        if (!path || !ret || !ret_n)
                return -EINVAL;
        p = strdup_printf("%s/cgroup.procs", path);
        if (!p)
                return -ENOMEM;
        r = read_full_file(p, CG_FILE_MAX, &buf, NULL);
        if (r < 0)
                return r;

        for (char *s = buf; *s; ) {
                char *end;
                long v;

                if (*s == '\n') {
                        s++;
                        continue;
                }
                errno = 0;
                v = strtol(s, &end, 10);
                if (errno != 0 || end == s || v <= 0 || v > INT32_MAX || (*end != '\n' && *end != 0))
                        return -EBADMSG;
                if (n >= allocated) {
                        size_t want = allocated ? allocated * 2 : 16;
                        pid_t *t = reallocarray(pids, want, sizeof(pid_t));

                        if (!t)
                                return -ENOMEM;
                        pids = t;
                        allocated = want;
                }
                pids[n++] = (pid_t) v;
                s = end;
        }

        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

int cg_signal_all(const char *path, int sig) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n;
        int r, count = 0;

        r = cg_get_pids(path, &pids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (kill(pids[i], sig) < 0) {
                        if (errno == ESRCH)     /* exited since we read the list */
                                continue;
                        return negative_errno();
                }
                count++;
        }
        return count;
}

int cg_kill(const char *path) {
        int r;

        r = cg_write(path, "cgroup.kill", "1");
        if (r != -ENOENT)
                return r;

        /* Kernel without cgroup.kill: races with forks, so repeat a few
         * times; the caller waits for "populated 0" anyway. */
        if (access(path, F_OK) < 0)
                return negative_errno();
        for (unsigned i = 0; i < 10; i++) {
                r = cg_signal_all(path, SIGKILL);
                if (r <= 0)
                        return r;
        }
        return 0;
}

int cg_get_cpu_usec(const char *path, uint64_t *ret) {
        return cg_read_keyed(path, "cpu.stat", "usage_usec", ret);
}

int cg_get_memory_current(const char *path, uint64_t *ret) {
        _cleanup_free_ char *p = NULL, *buf = NULL;
        unsigned long long v;
        char *end;
        int r;

        if (!path || !ret)
                return -EINVAL;
        p = strdup_printf("%s/memory.current", path);
        if (!p)
                return -ENOMEM;
        r = read_full_file(p, 4096, &buf, NULL);
        if (r < 0)
                return r;
        errno = 0;
        v = strtoull(buf, &end, 10);
        if (errno != 0 || end == buf || (*end != '\n' && *end != 0))
                return -EBADMSG;
        *ret = v;
        return 0;
}

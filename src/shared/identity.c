/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "identity.h"

int identity_load(uid_t uid, gid_t gid, Identity *ret) {
        struct passwd pw, *result = NULL;
        _cleanup_free_ char *buf = NULL;
        long bufsize = sysconf(_SC_GETPW_R_SIZE_MAX);
        Identity id = {
                .uid = uid,
                .gid = gid,
        };
        int r;

        if (bufsize <= 0)
                bufsize = 16384;
        buf = malloc((size_t) bufsize);
        if (!buf)
                return -ENOMEM;
        r = getpwuid_r(uid, &pw, buf, (size_t) bufsize, &result);
        if (r == 0 && result) {
                id.name = strdup(pw.pw_name);
                id.home = strdup(isempty(pw.pw_dir) ? "/" : pw.pw_dir);
                id.shell = strdup(isempty(pw.pw_shell) ? "/bin/sh" : pw.pw_shell);
                if (gid == (gid_t) -1)
                        id.gid = pw.pw_gid;
        } else {
                id.home = strdup("/");
                id.shell = strdup("/bin/sh");
        }
        if (id.gid == (gid_t) -1) {
                identity_done(&id);
                return -ESRCH;  /* no gid from the bus and none in passwd */
        }
        if (!id.home || !id.shell || (result && !id.name)) {
                identity_done(&id);
                return -ENOMEM;
        }

        /* The supplementary groups a login of this user would have. */
        if (id.name) {
                int n = 32;

                for (;;) {
                        gid_t *g = reallocarray(id.groups, (size_t) n, sizeof(gid_t));
                        int want = n;

                        if (!g) {
                                identity_done(&id);
                                return -ENOMEM;
                        }
                        id.groups = g;
                        if (getgrouplist(id.name, id.gid, id.groups, &want) >= 0) {
                                id.n_groups = (size_t) want;
                                break;
                        }
                        if (want <= n || want > 65536) {
                                identity_done(&id);
                                return -E2BIG;
                        }
                        n = want;
                }
        } else {
                id.groups = malloc(sizeof(gid_t));
                if (!id.groups) {
                        identity_done(&id);
                        return -ENOMEM;
                }
                id.groups[0] = id.gid;
                id.n_groups = 1;
        }

        *ret = id;
        return 0;
}

void identity_done(Identity *id) {
        free(id->groups);
        free(id->name);
        free(id->home);
        free(id->shell);
        *id = (Identity) {};
}

int identity_copy(const Identity *src, Identity *ret) {
        Identity id = {
                .uid = src->uid,
                .gid = src->gid,
                .n_groups = src->n_groups,
        };

        if ((src->name && !(id.name = strdup(src->name))) ||
            (src->home && !(id.home = strdup(src->home))) ||
            (src->shell && !(id.shell = strdup(src->shell))) ||
            (src->n_groups > 0 && !(id.groups = reallocarray(NULL, src->n_groups, sizeof(gid_t))))) {
                identity_done(&id);
                return -ENOMEM;
        }
        if (src->n_groups > 0)
                memcpy(id.groups, src->groups, src->n_groups * sizeof(gid_t));
        *ret = id;
        return 0;
}

bool identity_is_self(const Identity *id) {
        return id->uid == geteuid() && id->gid == getegid();
}

int identity_become(const Identity *id) {
        if (identity_is_self(id))
                return 0;
        if (setgroups(id->n_groups, id->groups) < 0)
                return negative_errno();
        if (setresgid(id->gid, id->gid, id->gid) < 0)
                return negative_errno();
        if (setresuid(id->uid, id->uid, id->uid) < 0)
                return negative_errno();
        /* A root-owned conductor dropping to a user must not be able to
         * climb back: check, rather than trust, that it is gone. */
        if (id->uid != 0 && (setresuid(0, 0, 0) >= 0 || geteuid() == 0))
                return -EPERM;
        return 0;
}

/* These helpers run on the conductor's only thread, on behalf of users who
 * may stop them (kill -STOP, a FUSE file that never answers): every wait
 * has a deadline, after which the child is killed and the call fails. */
#define HELPER_TIMEOUT_USEC (10U * USEC_PER_SEC)

/* The child's exit status (its negative errno), or -ETIMEDOUT after
 * killing it; it is always reaped. */
static int wait_child(pid_t pid, usec_t deadline) {
        int status, r = 0;

        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == pid)
                        break;
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        (void) kill(pid, SIGKILL);
                        r = -ETIMEDOUT;
                        deadline = USEC_INFINITY;       /* SIGKILL cannot be ignored: reap it */
                }
                (void) usleep(2000);
        }
        if (r < 0)
                return r;
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

/* Run fn as id in a forked child; its result travels back as the exit
 * status (0 or a positive errno). */
static int run_as(const Identity *id, int (*fn)(const void *arg), const void *arg) {
        pid_t pid;
        int r;

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                sigset_t ss;

                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                r = identity_become(id);
                if (r >= 0)
                        r = fn(arg);
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        /* sd-event reaps only the children it was told about: this one is
         * ours to wait for */
        return wait_child(pid, now_usec(CLOCK_MONOTONIC) + HELPER_TIMEOUT_USEC);
}

typedef struct ReadArgs {
        const char *path;       /* or */
        int fd;
        size_t max;
} ReadArgs;

static int read_child(const void *arg, int out_fd) {
        const ReadArgs *a = arg;
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int r;

        r = a->path ? read_full_file(a->path, a->max, &text, &n) : read_full_fd(a->fd, a->max, &text, &n);
        if (r < 0)
                return r;
        for (size_t done = 0; done < n; ) {
                ssize_t k = write(out_fd, text + done, n - done);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                done += (size_t) k;
        }
        return 0;
}

static int read_as(const Identity *id, const ReadArgs *a, char **ret, size_t *ret_size) {
        _cleanup_close_ int rfd = -EBADF;
        _cleanup_free_ char *text = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + HELPER_TIMEOUT_USEC;
        int fds[2], r, k;
        size_t n = 0;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return negative_errno();
        rfd = fds[0];

        /* Reading happens in the child as the user; we collect what it
         * writes while it runs (a pipe holds only 64 KiB). */
        pid = fork();
        if (pid < 0) {
                r = negative_errno();
                (void) close(fds[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t ss;
                int flags;

                (void) close(fds[0]);
                flags = fcntl(fds[1], F_GETFL);
                if (flags >= 0)
                        (void) fcntl(fds[1], F_SETFL, flags & ~O_NONBLOCK);
                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                r = identity_become(id);
                if (r >= 0)
                        r = read_child(a, fds[1]);
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        (void) close(fds[1]);

        r = read_full_stream_until(rfd, a->max, deadline, &text, &n);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        k = wait_child(pid, deadline);
        /* our own failure (too big, too slow) says more than the child
         * we killed because of it */
        if (r < 0)
                return r;
        if (k < 0)
                return k;
        *ret = TAKE_PTR(text);
        if (ret_size)
                *ret_size = n;
        return 0;
}

int identity_read_file(const Identity *id, const char *path, size_t max, char **ret, size_t *ret_size) {
        ReadArgs a = { .path = path, .fd = -EBADF, .max = max };

        if (identity_is_self(id))
                return read_full_file(path, max, ret, ret_size);
        return read_as(id, &a, ret, ret_size);
}

int identity_read_fd(const Identity *id, int fd, size_t max, char **ret, size_t *ret_size) {
        ReadArgs a = { .fd = fd, .max = max };

        if (identity_is_self(id))
                return read_full_fd(fd, max, ret, ret_size);
        return read_as(id, &a, ret, ret_size);
}

typedef struct MkdirArgs {
        const char *path;
        mode_t mode;
} MkdirArgs;

static int mkdir_child(const void *arg) {
        const MkdirArgs *a = arg;
        int r;

        r = mkdir_p(a->path, a->mode);
        if (r < 0)
                return r;
        /* it may have existed already, or be a symlink to somewhere else */
        if (access(a->path, W_OK | X_OK) < 0)
                return negative_errno();
        return 0;
}

int identity_mkdir_p(const Identity *id, const char *path, mode_t mode) {
        MkdirArgs a = { .path = path, .mode = mode };

        if (identity_is_self(id))
                return mkdir_child(&a);
        return run_as(id, mkdir_child, &a);
}

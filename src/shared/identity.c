/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>

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

/* Run fn as id in a forked child; its result travels back as the exit
 * status (0 or a positive errno). */
static int run_as(const Identity *id, int (*fn)(const void *arg, int out_fd), const void *arg, int out_fd) {
        pid_t pid;
        int status, r;

        pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                sigset_t ss;

                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                r = identity_become(id);
                if (r >= 0)
                        r = fn(arg, out_fd);
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        if (out_fd >= 0)
                (void) close(out_fd);
        /* sd-event reaps only the children it was told about: this one is
         * ours to wait for, and it does no more than one file operation. */
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        if (!WIFEXITED(status))
                return -EIO;
        return -WEXITSTATUS(status);
}

typedef struct ReadArgs {
        const char *path;
        size_t max;
} ReadArgs;

static int read_child(const void *arg, int out_fd) {
        const ReadArgs *a = arg;
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int r;

        r = read_full_file(a->path, a->max, &text, &n);
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

int identity_read_file(const Identity *id, const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int rfd = -EBADF;
        _cleanup_free_ char *text = NULL;
        ReadArgs a = { .path = path, .max = max };
        int fds[2], r, k;
        size_t n = 0;
        pid_t pid;
        int status;

        if (identity_is_self(id))
                return read_full_file(path, max, ret, ret_size);

        if (pipe2(fds, O_CLOEXEC) < 0)
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

                (void) close(fds[0]);
                sigemptyset(&ss);
                (void) sigprocmask(SIG_SETMASK, &ss, NULL);
                r = identity_become(id);
                if (r >= 0)
                        r = read_child(&a, fds[1]);
                _exit(r < 0 ? MIN(-r, 255) : 0);
        }
        (void) close(fds[1]);

        r = read_full_stream(rfd, max, &text, &n);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return negative_errno();
        k = WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
        if (k < 0)
                return k;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(text);
        if (ret_size)
                *ret_size = n;
        return 0;
}

typedef struct MkdirArgs {
        const char *path;
        mode_t mode;
} MkdirArgs;

static int mkdir_child(const void *arg, int out_fd) {
        const MkdirArgs *a = arg;

        int r;

        (void) out_fd;
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
                return mkdir_child(&a, -EBADF);
        return run_as(id, mkdir_child, &a, -EBADF);
}

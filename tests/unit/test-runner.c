/* SPDX-License-Identifier: LGPL-2.1-or-later */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "cgroup.h"
#include "runner.h"

static RunnerMode mode_cgroup = RUNNER_MODE_CGROUP;
static RunnerMode mode_pgroup = RUNNER_MODE_PROCESS_GROUP;

typedef struct Ctx {
        sd_event *e;
        Runner *r;
        char *dir;
        RunnerMode mode;
        unsigned n;
} Ctx;

typedef struct Done {
        unsigned count;
        RunResult res;
        bool release_in_cb;
} Done;

static void on_done(RunHandle *h, const RunResult *res, void *userdata) {
        Done *d = userdata;

        d->count++;
        d->res = *res;
        if (d->release_in_cb)
                run_handle_release(h);
}

static void block_sigchld(void) {
        sigset_t ss;

        assert_int_equal(sigemptyset(&ss), 0);
        assert_int_equal(sigaddset(&ss, SIGCHLD), 0);
        assert_int_equal(sigprocmask(SIG_BLOCK, &ss, NULL), 0);
}

static char *make_tmpdir(void) {
        char *d = strdup("/tmp/test-runner-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(p) < 0 ? -1 : 0;
}

static void rm_rf(const char *d) {
        assert_int_equal(nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* false: the requested mode is not available here (cgroup variant only). */
static bool ctx_init(Ctx *c, RunnerMode mode) {
        int r;

        *c = (Ctx) { .mode = mode };
        block_sigchld();
        assert_int_equal(sd_event_new(&c->e), 0);

        assert_int_equal(setenv("MARIANNE_RUNNER_MODE", runner_mode_to_string(mode), 1), 0);
        r = runner_new_local(c->e, NULL, &c->r);
        assert_int_equal(unsetenv("MARIANNE_RUNNER_MODE"), 0);
        if (r < 0 && mode == RUNNER_MODE_CGROUP) {
                print_message("cgroup mode not available here (%s), skipping the cgroup variant\n", strerror(-r));
                c->e = sd_event_unref(c->e);
                return false;
        }
        assert_int_equal(r, 0);
        assert_int_equal(runner_get_mode(c->r), mode);
        if (mode == RUNNER_MODE_CGROUP)
                assert_non_null(runner_get_cgroup_dir(c->r));
        else
                assert_null(runner_get_cgroup_dir(c->r));
        c->dir = make_tmpdir();
        return true;
}

#define CTX_INIT_OR_SKIP(c, state)                                      \
        do {                                                            \
                if (!ctx_init((c), *(RunnerMode *) *(state)))           \
                        skip();                                         \
        } while (0)

static void ctx_done(Ctx *c) {
        c->r = runner_free(c->r);
        c->e = sd_event_unref(c->e);
        if (c->dir) {
                rm_rf(c->dir);
                free(c->dir);
        }
}

static char *ctx_path(Ctx *c, const char *name) {
        char *p = strdup_printf("%s/%s", c->dir, name);

        assert_non_null(p);
        return p;
}

static void run_until_done(Ctx *c, Done *d, usec_t max) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + max;

        while (d->count == 0) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(c->e, 50 * USEC_PER_MSEC) >= 0);
        }
}

static void run_for(Ctx *c, usec_t t) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + t;

        for (usec_t n; (n = now_usec(CLOCK_MONOTONIC)) < deadline; )
                assert_true(sd_event_run(c->e, deadline - n) >= 0);
}

static char *slurp(const char *path) {
        char *s = NULL;

        assert_int_equal(read_full_file(path, 1024 * 1024, &s, NULL), 0);
        return s;
}

static void write_file(const char *path, const char *content, mode_t mode) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_true(fputs(content, f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static off_t file_size(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -1;
        return st.st_size;
}

/* Gone, or an exited zombie waiting for an init that does not reap. */
static bool pid_is_gone(pid_t pid) {
        _cleanup_free_ char *p = NULL, *s = NULL;
        const char *e;

        if (kill(pid, 0) < 0 && errno == ESRCH)
                return true;
        p = strdup_printf("/proc/%d/stat", (int) pid);
        assert_non_null(p);
        if (read_full_file(p, 65536, &s, NULL) < 0)
                return true;
        e = strrchr(s, ')');
        assert_non_null(e);
        return e[2] == 'Z';
}

static bool wait_gone(pid_t pid, usec_t max) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + max;

        while (!pid_is_gone(pid)) {
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return false;
                usleep(5000);
        }
        return true;
}

/* Runs the loop until path holds a pid. */
static pid_t wait_pidfile(Ctx *c, const char *path) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;

        for (;;) {
                _cleanup_free_ char *s = NULL;

                if (read_full_file(path, 64, &s, NULL) >= 0 && strchr(s, '\n'))
                        return (pid_t) atoi(s);
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(c->e, 10 * USEC_PER_MSEC) >= 0);
        }
}

static char *default_env[] = { (char *) "PATH=/usr/bin:/bin", NULL };

typedef struct Start {
        char **argv;
        char **env;
        const char *cwd;
        const char *out, *err;
        usec_t timeout, grace;
        int (*child_fn)(void *);
        void *child_userdata;
} Start;

static int start_full(Ctx *c, const Start *s, Done *d, RunHandle **ret) {
        _cleanup_free_ char *name = strdup_printf("t-%u", ++c->n);
        _cleanup_free_ char *out = ctx_path(c, "out"), *err = ctx_path(c, "err");
        RunSpec spec = {
                .argv = s->argv,
                .env = s->env ?: default_env,
                .cwd = s->cwd ?: c->dir,
                .stdout_path = s->out ?: out,
                .stderr_path = s->err ?: err,
                .name = name,
                .timeout_usec = s->timeout,
                .kill_grace_usec = s->grace ?: 200 * USEC_PER_MSEC,
                .child_fn = s->child_fn,
                .child_userdata = s->child_userdata,
        };

        assert_non_null(name);
        return runner_start(c->r, &spec, on_done, d, ret);
}

static RunHandle *start_sh(Ctx *c, const char *script, usec_t timeout, Done *d) {
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) script, NULL };
        Start s = { .argv = argv, .timeout = timeout };
        RunHandle *h = NULL;

        assert_int_equal(start_full(c, &s, d, &h), 0);
        assert_non_null(h);
        assert_true(run_handle_pid(h) > 0);
        return h;
}

static void check_no_second_callback(Ctx *c, Done *d) {
        run_for(c, 30 * USEC_PER_MSEC);
        assert_int_equal(d->count, 1);
}

static void check_leaf_gone(Ctx *c, const char *leaf) {
        if (c->mode == RUNNER_MODE_CGROUP) {
                assert_non_null(leaf);
                assert_int_equal(access(leaf, F_OK), -1);
                assert_int_equal(errno, ENOENT);
        } else
                assert_null(leaf);
}

/* ---------------------------------------------------------------------- */

static void test_mode_to_string(void **state) {
        (void) state;
        assert_string_equal(runner_mode_to_string(RUNNER_MODE_CGROUP), "cgroup");
        assert_string_equal(runner_mode_to_string(RUNNER_MODE_PROCESS_GROUP), "process-group");
        assert_null(runner_mode_to_string((RunnerMode) 42));
}

static void test_read_file_tail(void **state) {
        _cleanup_free_ char *dir = make_tmpdir(), *f = NULL, *missing = NULL, *fifo = NULL, *s = NULL;
        bool trunc = true;

        (void) state;
        f = strdup_printf("%s/f", dir);
        missing = strdup_printf("%s/missing", dir);
        fifo = strdup_printf("%s/fifo", dir);
        assert_non_null(f);
        assert_non_null(missing);
        assert_non_null(fifo);

        assert_int_equal(read_file_tail(missing, 10, &s, &trunc), 0);
        assert_string_equal(s, "");
        assert_false(trunc);
        free(TAKE_PTR(s));

        write_file(f, "0123456789abcdef", 0600);
        assert_int_equal(read_file_tail(f, 100, &s, &trunc), 0);
        assert_string_equal(s, "0123456789abcdef");
        assert_false(trunc);
        free(TAKE_PTR(s));

        assert_int_equal(read_file_tail(f, 4, &s, &trunc), 0);
        assert_string_equal(s, "cdef");
        assert_true(trunc);
        free(TAKE_PTR(s));

        trunc = true;
        assert_int_equal(read_file_tail(f, 16, &s, &trunc), 0);
        assert_string_equal(s, "0123456789abcdef");
        assert_false(trunc);
        free(TAKE_PTR(s));

        assert_int_equal(read_file_tail(f, 15, &s, NULL), 0);
        assert_string_equal(s, "123456789abcdef");
        free(TAKE_PTR(s));

        assert_int_equal(read_file_tail(f, 0, &s, &trunc), 0);
        assert_string_equal(s, "");
        assert_true(trunc);
        free(TAKE_PTR(s));

        write_file(f, "", 0600);
        assert_int_equal(read_file_tail(f, 0, &s, &trunc), 0);
        assert_string_equal(s, "");
        assert_false(trunc);
        free(TAKE_PTR(s));

        assert_int_equal(read_file_tail(dir, 10, &s, &trunc), -EISDIR);
        assert_null(s);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_int_equal(read_file_tail(fifo, 10, &s, &trunc), -EINVAL);
        assert_null(s);
        assert_int_equal(read_file_tail(NULL, 10, &s, &trunc), -EINVAL);
        assert_int_equal(read_file_tail(f, 10, NULL, &trunc), -EINVAL);
        assert_int_equal(read_file_tail(f, SIZE_MAX, &s, &trunc), -EINVAL);
        assert_int_equal(read_file_tail("/nonexistent-dir/x/y", 10, &s, &trunc), 0);
        assert_string_equal(s, "");
        free(TAKE_PTR(s));
        /* ENOTDIR is an error, unlike a plain missing file. */
        assert_true(read_file_tail("/etc/passwd/x", 10, &s, &trunc) < 0);

        rm_rf(dir);
}

static uint64_t boot_ticks_now(void) {
        _cleanup_free_ char *s = NULL;
        double up;

        assert_int_equal(read_full_file("/proc/uptime", 4096, &s, NULL), 0);
        assert_int_equal(sscanf(s, "%lf", &up), 1);
        return (uint64_t) (up * (double) sysconf(_SC_CLK_TCK)) + 1;
}

static void test_process_starttime(void **state) {
        uint64_t self, child_st;
        int pfd[2];
        pid_t pid;
        char c;

        (void) state;
        self = process_starttime(getpid());
        assert_true(self > 0);
        assert_true(self <= boot_ticks_now());
        assert_int_equal(process_starttime(getpid()), self);

        assert_int_equal(process_starttime(0), 0);
        assert_int_equal(process_starttime(-1), 0);
        assert_int_equal(process_starttime(INT_MAX), 0);

        /* A comm with spaces and parentheses must not confuse the parser. */
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) prctl(PR_SET_NAME, "a) b (c) d", 0, 0, 0);
                (void) write(pfd[1], "x", 1);
                for (;;)
                        pause();
        }
        close(pfd[1]);
        assert_int_equal(read(pfd[0], &c, 1), 1);
        close(pfd[0]);

        child_st = process_starttime(pid);
        assert_true(child_st >= self);
        assert_true(child_st <= boot_ticks_now());
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_int_equal(process_starttime(pid), 0);
}

static void test_new_bad_inputs(void **state) {
        _cleanup_free_ char *dir = make_tmpdir();
        sd_event *e = NULL;
        Runner *r = NULL;

        (void) state;
        block_sigchld();
        assert_int_equal(sd_event_new(&e), 0);

        assert_int_equal(runner_new_local(NULL, NULL, &r), -EINVAL);
        assert_int_equal(runner_new_local(e, NULL, NULL), -EINVAL);

        assert_int_equal(setenv("MARIANNE_RUNNER_MODE", "bogus", 1), 0);
        assert_int_equal(runner_new_local(e, NULL, &r), -EINVAL);
        assert_null(r);
        assert_int_equal(unsetenv("MARIANNE_RUNNER_MODE"), 0);

        assert_int_equal(runner_new_local(e, "relative/path", &r), -EINVAL);
        assert_int_equal(runner_new_local(e, dir, &r), -ENOMEDIUM);
        assert_null(r);

        /* NULL handles and runners are refused, not crashed on. */
        assert_null(runner_free(NULL));
        assert_int_equal(runner_get_mode(NULL), RUNNER_MODE_PROCESS_GROUP);
        assert_null(runner_get_cgroup_dir(NULL));
        assert_int_equal(runner_start(NULL, NULL, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(run_handle_freeze(NULL), -EINVAL);
        assert_int_equal(run_handle_thaw(NULL), -EINVAL);
        assert_int_equal(run_handle_kill(NULL), -EINVAL);
        assert_int_equal(run_handle_stats(NULL, NULL), -EINVAL);
        assert_int_equal(run_handle_pid(NULL), 0);
        assert_int_equal(run_handle_starttime(NULL), 0);
        assert_null(run_handle_cgroup(NULL));
        run_handle_release(NULL);
        assert_int_equal(runner_kill_stale(NULL, 1, 1, NULL), -EINVAL);

        sd_event_unref(e);
        rm_rf(dir);
}

static void test_detect(void **state) {
        _cleanup_free_ char *own = NULL, *expected = NULL, *explicit = NULL, *dir = NULL;
        const char *mnt;
        sd_event *e = NULL;
        Runner *r = NULL;

        (void) state;
        block_sigchld();
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(unsetenv("MARIANNE_RUNNER_MODE"), 0);

        assert_int_equal(runner_new_local(e, NULL, &r), 0);
        if (cg_get_own_dir(&own) < 0 || cg_probe_writable(own) <= 0) {
                assert_int_equal(runner_get_mode(r), RUNNER_MODE_PROCESS_GROUP);
                runner_free(r);
                sd_event_unref(e);
                print_message("no writable cgroup here: detection picked process-group mode\n");
                return;
        }

        assert_int_equal(runner_get_mode(r), RUNNER_MODE_CGROUP);
        assert_int_equal(cg_get_mount_point(&mnt), 0);
        if (streq(own, mnt))
                expected = strdup_printf("%s/marianne-%d", mnt, (int) getpid());
        else
                expected = strdup_printf("%s/payload", own);
        assert_string_equal(runner_get_cgroup_dir(r), expected);
        assert_int_equal(cg_is_cgroup2(expected), 1);
        r = runner_free(r);
        assert_int_equal(access(expected, F_OK), -1);

        /* A caller-given directory is created and, being ours, removed. */
        explicit = strdup_printf("%s/marianne-explicit-%d", own, (int) getpid());
        assert_int_equal(runner_new_local(e, explicit, &r), 0);
        assert_int_equal(runner_get_mode(r), RUNNER_MODE_CGROUP);
        assert_string_equal(runner_get_cgroup_dir(r), explicit);
        assert_int_equal(access(explicit, F_OK), 0);
        r = runner_free(r);
        assert_int_equal(access(explicit, F_OK), -1);

        /* A pre-existing one is left alone. */
        assert_int_equal(mkdir(explicit, 0755), 0);
        assert_int_equal(runner_new_local(e, explicit, &r), 0);
        r = runner_free(r);
        assert_int_equal(access(explicit, F_OK), 0);
        assert_int_equal(rmdir(explicit), 0);

        /* Forcing process-group mode overrides detection. */
        assert_int_equal(setenv("MARIANNE_RUNNER_MODE", "process-group", 1), 0);
        assert_int_equal(runner_new_local(e, NULL, &r), 0);
        assert_int_equal(unsetenv("MARIANNE_RUNNER_MODE"), 0);
        assert_int_equal(runner_get_mode(r), RUNNER_MODE_PROCESS_GROUP);
        assert_null(runner_get_cgroup_dir(r));
        runner_free(r);

        sd_event_unref(e);
}

static void test_start_bad_inputs(void **state) {
        Ctx c;
        Done d = {};
        RunHandle *h = NULL;
        char *argv[] = { (char *) "true", NULL };
        char *empty_argv[] = { (char *) "", NULL };
        char *null_argv[] = { NULL };
        _cleanup_free_ char *file = NULL, *link = NULL, *nodir = NULL;
        RunSpec spec = { .argv = argv };

        CTX_INIT_OR_SKIP(&c, state);
        file = ctx_path(&c, "file");
        link = ctx_path(&c, "link");
        nodir = ctx_path(&c, "nodir/out");
        write_file(file, "x", 0600);
        assert_int_equal(symlink(file, link), 0);

        assert_int_equal(runner_start(c.r, NULL, on_done, &d, &h), -EINVAL);
        assert_int_equal(runner_start(c.r, &spec, NULL, &d, &h), -EINVAL);
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, NULL), -EINVAL);

        spec = (RunSpec) { .argv = NULL, .cwd = c.dir };
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -EINVAL);
        spec.argv = empty_argv;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -EINVAL);
        spec.argv = null_argv;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -EINVAL);

        spec.argv = argv;
        static const char *const bad_names[] = { "", ".", "..", "a/b", "/abs", "cgroup.procs", ".hidden", "a\nb" };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                spec.name = bad_names[i];
                assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -EINVAL);
        }
        spec.name = "ok";

        spec.cwd = "/nonexistent-dir-for-test";
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -ENOENT);
        spec.cwd = file;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -ENOTDIR);
        spec.cwd = c.dir;

        spec.stdout_path = nodir;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -ENOENT);
        spec.stdout_path = link;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -ELOOP);
        spec.stdout_path = NULL;
        spec.stderr_path = link;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -ELOOP);
        spec.stderr_path = c.dir;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), -EISDIR);
        assert_null(h);
        assert_int_equal(d.count, 0);
        /* The symlink's target was not touched. */
        _cleanup_free_ char *content = slurp(file);
        assert_string_equal(content, "x");

        /* Nothing leaked into the cgroup tree by the failed starts. */
        if (c.mode == RUNNER_MODE_CGROUP) {
                _cleanup_free_ char *leaf = strdup_printf("%s/ok", runner_get_cgroup_dir(c.r));
                assert_int_equal(access(leaf, F_OK), -1);
        }

        /* A valid spec with no name gets one generated. */
        spec.stderr_path = NULL;
        spec.name = NULL;
        assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), 0);
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        assert_true(d.res.exited);
        assert_int_equal(d.res.exit_code, 0);
        run_handle_release(h);

        ctx_done(&c);
}

static void test_exit_codes(void **state) {
        static const struct {
                const char *script;
                bool exited;
                int code, sig;
        } cases[] = {
                { "true", true, 0, 0 },
                { "exit 3", true, 3, 0 },
                { "exit 255", true, 255, 0 },
                { "kill -9 $$", false, 0, SIGKILL },
                { "kill -TERM $$", false, 0, SIGTERM },
                { "kill -SEGV $$", false, 0, SIGSEGV },
        };
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Done d = {};
                usec_t before = now_usec(CLOCK_REALTIME);
                RunHandle *h = start_sh(&c, cases[i].script, 0, &d);
                _cleanup_free_ char *leaf = run_handle_cgroup(h) ? strdup(run_handle_cgroup(h)) : NULL;

                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                check_no_second_callback(&c, &d);
                assert_int_equal(d.res.exited, cases[i].exited);
                assert_int_equal(d.res.exit_code, cases[i].code);
                assert_int_equal(d.res.exit_signal, cases[i].sig);
                assert_false(d.res.timed_out);
                assert_false(d.res.killed);
                assert_true(d.res.started_at >= before);
                assert_true(d.res.finished_at >= d.res.started_at);
                assert_true(d.res.finished_at <= now_usec(CLOCK_REALTIME));
                check_leaf_gone(&c, leaf);

                /* Operations on a finished attempt are harmless. */
                assert_int_equal(run_handle_kill(h), 0);
                assert_int_equal(run_handle_freeze(h), -ESRCH);
                assert_int_equal(run_handle_thaw(h), -ESRCH);
                run_handle_release(h);
        }
        ctx_done(&c);
}

static void test_exec_failures(void **state) {
        _cleanup_free_ char *err = NULL, *script = NULL, *bindir = NULL, *env_path = NULL;
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        err = ctx_path(&c, "err");
        bindir = ctx_path(&c, "bin");
        assert_int_equal(mkdir(bindir, 0755), 0);

        {
                char *argv[] = { (char *) "no-such-command-xyz", NULL };
                Start s = { .argv = argv };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *msg = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_true(d.res.exited);
                assert_int_equal(d.res.exit_code, 127);
                msg = slurp(err);
                assert_non_null(strstr(msg, "no-such-command-xyz"));
                assert_non_null(strstr(msg, "command not found"));
                run_handle_release(h);
        }
        {
                char *argv[] = { (char *) "/nonexistent/prog", NULL };
                Start s = { .argv = argv };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *msg = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 127);
                msg = slurp(err);
                assert_non_null(strstr(msg, "/nonexistent/prog"));
                assert_non_null(strstr(msg, strerror(ENOENT)));
                run_handle_release(h);
        }

        /* Not executable: 126, both by path and found via PATH. */
        script = strdup_printf("%s/noexec", bindir);
        write_file(script, "#!/bin/sh\nexit 0\n", 0644);
        env_path = strdup_printf("PATH=%s", bindir);
        for (int i = 0; i < 2; i++) {
                char *argv[] = { i == 0 ? script : (char *) "noexec", NULL };
                char *env[] = { env_path, NULL };
                Start s = { .argv = argv, .env = env };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *msg = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_true(d.res.exited);
                assert_int_equal(d.res.exit_code, 126);
                msg = slurp(err);
                assert_non_null(strstr(msg, strerror(EACCES)));
                run_handle_release(h);
        }

        /* PATH from the child's environment, not ours. */
        free(script);
        script = strdup_printf("%s/mytool", bindir);
        write_file(script, "#!/bin/sh\necho mytool ran\nexit 5\n", 0755);
        {
                char *argv[] = { (char *) "mytool", NULL };
                char *env[] = { env_path, NULL };
                Start s = { .argv = argv, .env = env };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *out = ctx_path(&c, "out"), *o = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 5);
                o = slurp(out);
                assert_string_equal(o, "mytool ran\n");
                run_handle_release(h);
        }
        /* ...and with no PATH in it at all, the default one. */
        {
                char *argv[] = { (char *) "true", NULL };
                char *env[] = { (char *) "FOO=1", NULL };
                Start s = { .argv = argv, .env = env };
                Done d = {};
                RunHandle *h = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_true(d.res.exited);
                assert_int_equal(d.res.exit_code, 0);
                run_handle_release(h);
        }

        ctx_done(&c);
}

static void test_output_capture(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL, *both = NULL;
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        out = ctx_path(&c, "out");
        err = ctx_path(&c, "err");
        both = ctx_path(&c, "both");

        /* Existing content is truncated, files are private. */
        write_file(out, "old old old old old\n", 0644);
        {
                Done d = {};
                RunHandle *h = start_sh(&c, "echo to-out; echo to-err >&2; cat", 0, &d);
                _cleanup_free_ char *o = NULL, *e = NULL;
                struct stat st;

                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 0);       /* cat got EOF from /dev/null */
                o = slurp(out);
                e = slurp(err);
                assert_string_equal(o, "to-out\n");
                assert_string_equal(e, "to-err\n");
                assert_int_equal(stat(err, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0600);
                run_handle_release(h);
        }
        {
                char *argv[] = { (char *) "sh", (char *) "-c", (char *) "echo a; echo b >&2; echo c", NULL };
                Start s = { .argv = argv, .out = both, .err = both };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                o = slurp(both);
                assert_string_equal(o, "a\nb\nc\n");
                run_handle_release(h);
        }
        {
                /* NULL paths: /dev/null, and /dev/null stays intact. */
                char *argv[] = { (char *) "sh", (char *) "-c", (char *) "echo x; echo y >&2; test -c /dev/null", NULL };
                Done d = {};
                RunHandle *h = NULL;
                RunSpec spec = { .argv = argv, .env = default_env, .cwd = c.dir, .name = "devnull" };

                assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 0);
                run_handle_release(h);
        }
        {
                /* Only 0, 1 and 2 are open in the child. */
                Done d = {};
                RunHandle *h = start_sh(&c, "ls /proc/self/fd", 0, &d);
                _cleanup_free_ char *o = NULL;

                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                o = slurp(out);
                /* ls opens one directory fd itself (3). */
                assert_string_equal(o, "0\n1\n2\n3\n");
                run_handle_release(h);
        }
        ctx_done(&c);
}

static void test_env_exact(void **state) {
        _cleanup_free_ char *out = NULL;
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        out = ctx_path(&c, "out");
        assert_int_equal(setenv("RUNNER_TEST_LEAK", "must-not-show", 1), 0);
        {
                char *argv[] = { (char *) "/usr/bin/env", NULL };
                char *env[] = { (char *) "FOO=bar baz", (char *) "EMPTY=", (char *) "PATH=/usr/bin:/bin", NULL };
                Start s = { .argv = argv, .env = env };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                o = slurp(out);
                assert_string_equal(o, "FOO=bar baz\nEMPTY=\nPATH=/usr/bin:/bin\n");
                run_handle_release(h);
        }
        {
                /* NULL env: really empty. */
                char *argv[] = { (char *) "/usr/bin/env", NULL };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL;
                RunSpec spec = { .argv = argv, .cwd = c.dir, .stdout_path = out, .name = "nullenv" };

                assert_int_equal(runner_start(c.r, &spec, on_done, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 0);
                o = slurp(out);
                assert_string_equal(o, "");
                run_handle_release(h);
        }
        assert_int_equal(unsetenv("RUNNER_TEST_LEAK"), 0);
        ctx_done(&c);
}

static void test_signal_state(void **state) {
        _cleanup_free_ char *out = NULL;
        struct sigaction old_pipe, old_usr1, ign = { .sa_handler = SIG_IGN };
        sigset_t ss, old_mask;
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        out = ctx_path(&c, "out");

        /* Ignored and blocked signals survive exec: the child must start
         * with none of ours (SIGCHLD is blocked for sd-event already). */
        assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
        assert_int_equal(sigaction(SIGUSR1, &ign, &old_usr1), 0);
        assert_int_equal(sigemptyset(&ss), 0);
        assert_int_equal(sigaddset(&ss, SIGUSR2), 0);
        assert_int_equal(sigprocmask(SIG_BLOCK, &ss, &old_mask), 0);
        {
                char *argv[] = { (char *) "grep", (char *) "-E", (char *) "^Sig(Blk|Ign)", (char *) "/proc/self/status", NULL };
                Start s = { .argv = argv };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_code, 0);
                o = slurp(out);
                assert_string_equal(o, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
                run_handle_release(h);
        }
        assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
        assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
        assert_int_equal(sigaction(SIGUSR1, &old_usr1, NULL), 0);
        ctx_done(&c);
}

static void test_cwd(void **state) {
        _cleanup_free_ char *out = NULL, *sub = NULL, *expected = NULL;
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        out = ctx_path(&c, "out");
        sub = ctx_path(&c, "sub dir");
        assert_int_equal(mkdir(sub, 0755), 0);
        expected = strdup_printf("%s\n", sub);
        {
                char *argv[] = { (char *) "pwd", NULL };
                Start s = { .argv = argv, .cwd = sub };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                o = slurp(out);
                assert_string_equal(o, expected);
                run_handle_release(h);
        }
        ctx_done(&c);
}

static void test_timeout(void **state) {
        Ctx c;
        Done d = {};
        char *argv[] = { (char *) "sleep", (char *) "100", NULL };
        Start s = { .argv = argv, .timeout = 300 * USEC_PER_MSEC };
        RunHandle *h = NULL;
        usec_t t0;
        _cleanup_free_ char *leaf = NULL;

        CTX_INIT_OR_SKIP(&c, state);
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(start_full(&c, &s, &d, &h), 0);
        leaf = run_handle_cgroup(h) ? strdup(run_handle_cgroup(h)) : NULL;
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 300 * USEC_PER_MSEC);
        assert_true(d.res.timed_out);
        assert_false(d.res.killed);
        assert_false(d.res.exited);
        assert_int_equal(d.res.exit_signal, SIGTERM);
        check_no_second_callback(&c, &d);
        check_leaf_gone(&c, leaf);
        assert_true(pid_is_gone(run_handle_pid(h)));
        run_handle_release(h);
        ctx_done(&c);
}

static void test_timeout_term_ignored(void **state) {
        Ctx c;
        Done d = {};
        RunHandle *h;
        usec_t t0;

        CTX_INIT_OR_SKIP(&c, state);
        t0 = now_usec(CLOCK_MONOTONIC);
        h = start_sh(&c, "trap '' TERM; while :; do sleep 0.05; done", 300 * USEC_PER_MSEC, &d);
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        /* timeout + grace (200 ms) */
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 500 * USEC_PER_MSEC);
        assert_true(d.res.timed_out);
        assert_int_equal(d.res.exit_signal, SIGKILL);
        check_no_second_callback(&c, &d);
        run_handle_release(h);
        ctx_done(&c);
}

typedef enum Ending { END_EXIT, END_KILL, END_TIMEOUT, _END_MAX } Ending;

static void survive_one(Ctx *c, const char *spawn, Ending ending) {
        _cleanup_free_ char *script = NULL, *pidfile = ctx_path(c, "gc.pid"), *leaf = NULL;
        Done d = {};
        RunHandle *h;
        pid_t gc;

        (void) unlink(pidfile);
        script = strdup_printf("%s; %s", spawn, ending == END_EXIT ? "exit 4" : "sleep 100");
        assert_non_null(script);
        h = start_sh(c, script, ending == END_TIMEOUT ? 500 * USEC_PER_MSEC : 0, &d);
        leaf = run_handle_cgroup(h) ? strdup(run_handle_cgroup(h)) : NULL;
        gc = wait_pidfile(c, pidfile);
        assert_true(gc > 1);

        if (ending == END_KILL) {
                assert_int_equal(run_handle_kill(h), 0);
                assert_int_equal(run_handle_kill(h), 0);        /* idempotent */
        }
        run_until_done(c, &d, 5 * USEC_PER_SEC);
        switch (ending) {
        case END_EXIT:
                assert_true(d.res.exited);
                assert_int_equal(d.res.exit_code, 4);
                break;
        case END_KILL:
                assert_true(d.res.killed);
                assert_false(d.res.timed_out);
                break;
        case END_TIMEOUT:
                assert_true(d.res.timed_out);
                assert_false(d.res.killed);
                break;
        default:
                fail();
        }
        /* The callback promises that everything is gone: no waiting. */
        assert_true(pid_is_gone(gc));
        check_leaf_gone(c, leaf);
        check_no_second_callback(c, &d);
        run_handle_release(h);
}

static void test_nothing_survives(void **state) {
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        for (Ending e = 0; e < _END_MAX; e++)
                survive_one(&c, "sh -c 'sleep 300 & echo $! > gc.pid'", e);
        ctx_done(&c);
}

static void test_nothing_survives_setsid(void **state) {
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        if (c.mode != RUNNER_MODE_CGROUP) {
                /* A new session leaves the process group: only a cgroup
                 * can hold on to it. */
                ctx_done(&c);
                skip();
        }
        for (Ending e = 0; e < _END_MAX; e++)
                survive_one(&c, "setsid sh -c 'sleep 300 & echo $! > gc.pid'", e);
        ctx_done(&c);
}

static void test_freeze_thaw(void **state) {
        _cleanup_free_ char *counter = NULL;
        Ctx c;
        Done d = {};
        RunHandle *h;
        RunStats st;
        off_t a, b;
        usec_t t0;

        CTX_INIT_OR_SKIP(&c, state);
        counter = ctx_path(&c, "counter");
        t0 = now_usec(CLOCK_MONOTONIC);
        h = start_sh(&c, "while :; do echo x >> counter; sleep 0.02; done", 800 * USEC_PER_MSEC, &d);

        /* Running: the counter grows. */
        run_for(&c, 100 * USEC_PER_MSEC);
        a = file_size(counter);
        run_for(&c, 100 * USEC_PER_MSEC);
        assert_true(file_size(counter) > a);

        assert_int_equal(run_handle_thaw(h), 0);        /* not frozen: no-op */
        assert_int_equal(run_handle_freeze(h), 0);
        assert_int_equal(run_handle_freeze(h), 0);      /* idempotent */
        run_for(&c, 100 * USEC_PER_MSEC);               /* SIGSTOP is asynchronous */
        a = file_size(counter);
        /* Longer than the whole timeout: a frozen attempt does not time out. */
        run_for(&c, 900 * USEC_PER_MSEC);
        b = file_size(counter);
        assert_int_equal(a, b);
        assert_int_equal(d.count, 0);
        assert_int_equal(run_handle_stats(h, &st), 0);
        assert_true(st.alive);
        assert_false(st.zombie);

        assert_int_equal(run_handle_thaw(h), 0);
        run_for(&c, 200 * USEC_PER_MSEC);
        assert_true(file_size(counter) > b);
        assert_int_equal(d.count, 0);

        /* The rest of the timeout (about 600 ms) still applies. */
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        assert_true(d.res.timed_out);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 1700 * USEC_PER_MSEC);
        run_handle_release(h);

        /* Killing a frozen attempt works: it is thawed for SIGTERM. */
        d = (Done) {};
        h = start_sh(&c, "while :; do echo x >> counter; sleep 0.02; done", 0, &d);
        run_for(&c, 50 * USEC_PER_MSEC);
        assert_int_equal(run_handle_freeze(h), 0);
        assert_int_equal(run_handle_kill(h), 0);
        assert_int_equal(run_handle_freeze(h), -EBUSY);
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        assert_true(d.res.killed);
        assert_int_equal(d.res.exit_signal, SIGTERM);
        run_handle_release(h);

        ctx_done(&c);
}

static void test_stats(void **state) {
        Ctx c;
        Done d = {};
        RunHandle *h;
        RunStats st;
        pid_t pid;

        CTX_INIT_OR_SKIP(&c, state);
        h = start_sh(&c, "while :; do :; done", 0, &d);
        pid = run_handle_pid(h);
        assert_int_equal(run_handle_starttime(h), process_starttime(pid));
        assert_true(run_handle_starttime(h) > 0);
        if (c.mode == RUNNER_MODE_CGROUP) {
                assert_non_null(run_handle_cgroup(h));
                assert_int_equal(cg_is_cgroup2(run_handle_cgroup(h)), 1);
        } else
                assert_null(run_handle_cgroup(h));

        run_for(&c, 300 * USEC_PER_MSEC);
        assert_int_equal(run_handle_stats(h, &st), 0);
        assert_int_equal(st.pid, pid);
        assert_true(st.alive);
        assert_false(st.zombie);
        assert_true(st.n_processes >= 1);
        assert_true(st.cpu_usec > 0);
        assert_true(st.memory_bytes > 0);
        assert_true(st.uptime_usec >= 300 * USEC_PER_MSEC);
        assert_true(st.cpu_percent > 0);

        run_for(&c, 300 * USEC_PER_MSEC);
        {
                RunStats st2;

                assert_int_equal(run_handle_stats(h, &st2), 0);
                assert_true(st2.cpu_usec >= st.cpu_usec + 100 * USEC_PER_MSEC);
                /* A busy loop on its own: well above a fifth of a CPU. */
                assert_true(st2.cpu_percent > 20.0);
                assert_true(st2.uptime_usec > st.uptime_usec);
        }
        assert_int_equal(run_handle_stats(h, NULL), -EINVAL);

        assert_int_equal(run_handle_kill(h), 0);
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        assert_true(d.res.killed);
        assert_int_equal(d.res.exit_signal, SIGTERM);

        assert_int_equal(run_handle_stats(h, &st), 0);
        assert_false(st.alive);
        assert_false(st.zombie);
        assert_int_equal(st.n_processes, 0);
        assert_true(st.cpu_usec > 0);
        run_handle_release(h);
        ctx_done(&c);
}

static void test_release(void **state) {
        _cleanup_free_ char *pidfile = NULL, *leaf = NULL;
        Ctx c;
        Done d = {};
        RunHandle *h;
        pid_t pid, gc;
        usec_t deadline;

        CTX_INIT_OR_SKIP(&c, state);
        pidfile = ctx_path(&c, "gc.pid");

        /* Release while running: killed, reaped, freed, never called back. */
        h = start_sh(&c, "sh -c 'sleep 300 & echo $! > gc.pid'; sleep 100", 0, &d);
        pid = run_handle_pid(h);
        leaf = run_handle_cgroup(h) ? strdup(run_handle_cgroup(h)) : NULL;
        gc = wait_pidfile(&c, pidfile);
        run_handle_release(h);
        deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (!(kill(pid, 0) < 0 && errno == ESRCH && pid_is_gone(gc) &&
                 (!leaf || access(leaf, F_OK) < 0))) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(c.e, 10 * USEC_PER_MSEC) >= 0);
        }
        run_for(&c, 50 * USEC_PER_MSEC);
        assert_int_equal(d.count, 0);

        /* Release from inside the callback. */
        d = (Done) { .release_in_cb = true };
        h = start_sh(&c, "exit 0", 0, &d);
        run_until_done(&c, &d, 5 * USEC_PER_SEC);
        check_no_second_callback(&c, &d);

        /* Release while frozen. */
        d = (Done) {};
        h = start_sh(&c, "sleep 100", 0, &d);
        pid = run_handle_pid(h);
        assert_int_equal(run_handle_freeze(h), 0);
        run_handle_release(h);
        deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (!(kill(pid, 0) < 0 && errno == ESRCH)) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(c.e, 10 * USEC_PER_MSEC) >= 0);
        }
        assert_int_equal(d.count, 0);

        /* Released but the loop never runs again: runner_free() cleans up. */
        d = (Done) {};
        h = start_sh(&c, "sleep 100", 0, &d);
        pid = run_handle_pid(h);
        run_handle_release(h);
        ctx_done(&c);
        assert_true(kill(pid, 0) < 0 && errno == ESRCH);
        assert_int_equal(d.count, 0);
}

static void test_runner_free_with_live_handle(void **state) {
        Ctx c;
        Done d = {};
        RunHandle *h;
        RunStats st;
        pid_t pid;
        _cleanup_free_ char *leaf = NULL;

        CTX_INIT_OR_SKIP(&c, state);
        h = start_sh(&c, "sleep 100", 0, &d);
        pid = run_handle_pid(h);
        leaf = run_handle_cgroup(h) ? strdup(run_handle_cgroup(h)) : NULL;
        ctx_done(&c);

        /* Killed and reaped synchronously; the handle is still usable. */
        assert_true(kill(pid, 0) < 0 && errno == ESRCH);
        check_leaf_gone(&c, leaf);
        assert_int_equal(d.count, 0);
        assert_int_equal(run_handle_pid(h), pid);
        assert_int_equal(run_handle_kill(h), 0);
        assert_int_equal(run_handle_freeze(h), -ESRCH);
        assert_int_equal(run_handle_stats(h, &st), 0);
        assert_false(st.alive);
        run_handle_release(h);
}

static int child_fn_print(void *userdata) {
        int *code = userdata;

        printf("hello from child_fn\n");
        fprintf(stderr, "and its stderr\n");
        return *code;
}

static void test_child_fn(void **state) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        static const struct { int ret, code; } cases[] = { { 0, 0 }, { 7, 7 }, { -5, 1 }, { 1000, 255 } };
        Ctx c;

        CTX_INIT_OR_SKIP(&c, state);
        out = ctx_path(&c, "out");
        err = ctx_path(&c, "err");

        /* Something in our stdio buffer must not end up in the child's. */
        printf("[ buffered in parent ] ");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int v = cases[i].ret;
                Start s = { .child_fn = child_fn_print, .child_userdata = &v };
                Done d = {};
                RunHandle *h = NULL;
                _cleanup_free_ char *o = NULL, *e = NULL;

                assert_int_equal(start_full(&c, &s, &d, &h), 0);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_true(d.res.exited);
                assert_int_equal(d.res.exit_code, cases[i].code);
                o = slurp(out);
                e = slurp(err);
                assert_string_equal(o, "hello from child_fn\n");
                assert_string_equal(e, "and its stderr\n");
                run_handle_release(h);
        }
        printf("\n");
        ctx_done(&c);
}

/* A process that is not our child, in its own session: what a previous
 * conductor instance leaves behind. */
static pid_t spawn_detached(void) {
        int pfd[2];
        pid_t pid, gc = 0;

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                pid_t p;

                (void) setsid();
                p = fork();
                if (p == 0) {
                        execl("/bin/sleep", "sleep", "300", (char *) NULL);
                        _exit(127);
                }
                (void) write(pfd[1], &p, sizeof p);
                _exit(0);
        }
        close(pfd[1]);
        assert_int_equal(read(pfd[0], &gc, sizeof gc), (ssize_t) sizeof gc);
        close(pfd[0]);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_true(gc > 0);
        return gc;
}

static void test_kill_stale(void **state) {
        _cleanup_free_ char *fake = NULL;
        Ctx c;
        pid_t gc;
        uint64_t st;
        const char *mnt;

        CTX_INIT_OR_SKIP(&c, state);

        gc = spawn_detached();
        /* exec may not have happened yet; the start time does not change
         * with exec, so it is stable from here on. */
        st = process_starttime(gc);
        assert_true(st > 0);

        assert_int_equal(runner_kill_stale(c.r, gc, st + 1, NULL), 0);     /* pid reused */
        assert_int_equal(runner_kill_stale(c.r, gc, 0, NULL), 0);          /* unknown start */
        assert_int_equal(kill(gc, 0), 0);
        assert_false(pid_is_gone(gc));
        assert_int_equal(runner_kill_stale(c.r, gc, st, NULL), 1);
        assert_true(wait_gone(gc, 2 * USEC_PER_SEC));

        assert_int_equal(runner_kill_stale(c.r, 0, 1, NULL), -EINVAL);
        assert_int_equal(runner_kill_stale(c.r, -5, 1, NULL), -EINVAL);
        assert_int_equal(runner_kill_stale(c.r, 1, process_starttime(1), NULL), -EINVAL);
        assert_int_equal(runner_kill_stale(c.r, getpid(), process_starttime(getpid()), NULL), -EINVAL);
        assert_int_equal(runner_kill_stale(c.r, 0, 0, "relative"), -EINVAL);
        assert_int_equal(runner_kill_stale(c.r, 0, 0, c.dir), -EINVAL);       /* not cgroupfs */

        if (cg_get_mount_point(&mnt) >= 0) {
                fake = strdup_printf("%s/marianne-no-such-cgroup-%d", mnt, (int) getpid());
                assert_int_equal(runner_kill_stale(c.r, 0, 0, fake), 0);
        }

        if (c.mode == RUNNER_MODE_CGROUP) {
                /* A live attempt's cgroup, as recorded before a restart. */
                _cleanup_free_ char *leaf = NULL;
                Done d = {};
                RunHandle *h = start_sh(&c, "sleep 100 & sleep 100", 0, &d);

                leaf = strdup(run_handle_cgroup(h));
                run_for(&c, 50 * USEC_PER_MSEC);
                assert_int_equal(runner_kill_stale(c.r, 0, 0, leaf), 1);
                assert_int_equal(access(leaf, F_OK), -1);
                run_until_done(&c, &d, 5 * USEC_PER_SEC);
                assert_int_equal(d.res.exit_signal, SIGKILL);
                run_handle_release(h);

                /* An empty leftover leaf is just removed. */
                assert_int_equal(mkdir(leaf, 0755), 0);
                assert_int_equal(runner_kill_stale(c.r, 0, 0, leaf), 0);
                assert_int_equal(access(leaf, F_OK), -1);
        }
        ctx_done(&c);
}

static void test_cgroup_helpers(void **state) {
        _cleanup_free_ char *own = NULL, *own_path = NULL, *leaf = NULL, *tmp = make_tmpdir();
        _cleanup_free_ pid_t *pids = NULL;
        uint64_t v;
        size_t n;
        int r;

        (void) state;
        assert_int_equal(cg_is_cgroup2(tmp), 0);
        assert_int_equal(cg_is_cgroup2("/nonexistent-x"), -ENOENT);
        assert_int_equal(cg_is_cgroup2(NULL), -EINVAL);
        assert_int_equal(cg_probe_writable(tmp), -ENOMEDIUM);
        rm_rf(tmp);

        r = cg_get_own_path(&own_path);
        if (r < 0) {
                print_message("no cgroup v2 here (%s)\n", strerror(-r));
                skip();
        }
        assert_true(own_path[0] == '/');
        assert_int_equal(cg_get_own_dir(&own), 0);
        if (cg_probe_writable(own) <= 0) {
                print_message("own cgroup %s not writable, skipping\n", own);
                skip();
        }

        leaf = strdup_printf("%s/marianne-helper-test-%d", own, (int) getpid());
        assert_int_equal(cg_create(leaf), 0);
        assert_int_equal(cg_create(leaf), 1);
        assert_int_equal(cg_is_populated(leaf), 0);
        assert_int_equal(cg_get_pids(leaf, &pids, &n), 0);
        assert_int_equal(n, 0);
        assert_null(pids);
        assert_int_equal(cg_get_cpu_usec(leaf, &v), 0);
        assert_int_equal(cg_read_keyed(leaf, "cgroup.events", "no-such-key", &v), -ENODATA);
        assert_int_equal(cg_read_keyed(leaf, "no-such-file", "x", &v), -ENOENT);
        assert_int_equal(cg_write(leaf, "cgroup.freeze", "bogus"), -EINVAL);
        assert_int_equal(cg_attach(leaf, -1), -EINVAL);
        assert_int_equal(cg_set_frozen(leaf, true, USEC_PER_SEC), 0);
        assert_int_equal(cg_set_frozen(leaf, false, USEC_PER_SEC), 0);
        assert_int_equal(cg_kill(leaf), 0);
        assert_int_equal(cg_wait_empty(leaf, USEC_PER_SEC), 0);
        assert_int_equal(cg_remove(leaf), 0);
        assert_int_equal(cg_remove(leaf), 0);
        assert_int_equal(cg_is_populated(leaf), -ENOENT);
}

#define BOTH(f)                                                         \
        { #f "[cgroup]", f, NULL, NULL, &mode_cgroup },                 \
        { #f "[process-group]", f, NULL, NULL, &mode_pgroup }

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mode_to_string),
                cmocka_unit_test(test_read_file_tail),
                cmocka_unit_test(test_process_starttime),
                cmocka_unit_test(test_new_bad_inputs),
                cmocka_unit_test(test_detect),
                cmocka_unit_test(test_cgroup_helpers),
                BOTH(test_start_bad_inputs),
                BOTH(test_exit_codes),
                BOTH(test_exec_failures),
                BOTH(test_output_capture),
                BOTH(test_env_exact),
                BOTH(test_cwd),
                BOTH(test_signal_state),
                BOTH(test_timeout),
                BOTH(test_timeout_term_ignored),
                BOTH(test_nothing_survives),
                BOTH(test_nothing_survives_setsid),
                BOTH(test_freeze_thaw),
                BOTH(test_stats),
                BOTH(test_release),
                BOTH(test_runner_free_with_live_handle),
                BOTH(test_child_fn),
                BOTH(test_kill_stale),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The Slurm runner against fake sbatch/squeue/scontrol/scancel scripts
 * (tests/fake-slurm) that keep their state in $FAKE_SLURM_DIR. */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "identity.h"
#include "macro.h"
#include "runner-slurm.h"

typedef struct Fixture {
        char dir[64];           /* mkdtemp template */
        char *fake;             /* tests/fake-slurm */
        char *sbatch, *squeue, *scontrol, *scancel;
        sd_event *event;
} Fixture;

typedef struct Outcome {
        bool done;
        RunResult res;
} Outcome;

static Fixture F;

static void on_exit_cb(RunHandle *h, const RunResult *res, void *userdata) {
        Outcome *o = userdata;

        (void) h;
        o->done = true;
        o->res = *res;
}

static int setup(void **state) {
        const char *src = getenv("MARIANNE_SOURCE_DIR");
        sigset_t ss;

        (void) state;
        assert_non_null(src);
        strcpy(F.dir, "/tmp/test-runner-slurm.XXXXXX");
        assert_non_null(mkdtemp(F.dir));
        assert_int_equal(setenv("FAKE_SLURM_DIR", F.dir, 1), 0);
        /* what reaches sbatch, whose environment the runner builds afresh */
        {
                _cleanup_free_ char *conf = strdup_printf("%s/slurm.conf", F.dir);

                assert_non_null(conf);
                assert_int_equal(setenv("SLURM_CONF", conf, 1), 0);
        }
        F.fake = strdup_printf("%s/tests/fake-slurm", src);
        F.sbatch = strdup_printf("%s/sbatch", F.fake);
        F.squeue = strdup_printf("%s/squeue", F.fake);
        F.scontrol = strdup_printf("%s/scontrol", F.fake);
        F.scancel = strdup_printf("%s/scancel", F.fake);
        assert_true(F.fake && F.sbatch && F.squeue && F.scontrol && F.scancel);
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &ss, NULL), 0);
        assert_int_equal(sd_event_new(&F.event), 0);
        return 0;
}

static int teardown(void **state) {
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", F.dir);

        (void) state;
        assert_non_null(cmd);
        assert_int_equal(system(cmd), 0);
        sd_event_unref(F.event);
        free(F.fake);
        free(F.sbatch);
        free(F.squeue);
        free(F.scontrol);
        free(F.scancel);
        return 0;
}

static RunnerSlurmOptions fake_options(void) {
        return (RunnerSlurmOptions) {
                .poll_interval_usec = 20 * USEC_PER_MSEC,
                .sbatch_path = F.sbatch,
                .squeue_path = F.squeue,
                .scontrol_path = F.scontrol,
                .scancel_path = F.scancel,
        };
}

static char *read_state_file(const char *name) {
        _cleanup_free_ char *p = strdup_printf("%s/%s", F.dir, name);
        char *s = NULL;

        assert_non_null(p);
        if (read_full_file(p, 1 << 20, &s, NULL) < 0)
                return strdup("");
        return s;
}

static unsigned count_lines_starting(const char *text, const char *prefix) {
        unsigned n = 0;

        for (const char *p = text; p && *p; ) {
                if (startswith(p, prefix))
                        n++;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return n;
}

/* Set job id's line in the states file. */
static void set_job(const char *id, const char *st, const char *ec) {
        _cleanup_free_ char *cmd = strdup_printf(
                "cd '%s' && awk -v id=%s -v st=%s -v ec=%s '$1 == id { $2 = st; $3 = ec } { print }' states > s.new && mv s.new states",
                F.dir, id, st, ec);

        assert_non_null(cmd);
        assert_int_equal(system(cmd), 0);
}

static void drop_job(const char *id) {
        _cleanup_free_ char *cmd = strdup_printf("cd '%s' && awk -v id=%s '$1 != id' states > s.new && mv s.new states",
                                                 F.dir, id);

        assert_non_null(cmd);
        assert_int_equal(system(cmd), 0);
}

/* Run the loop until *flag or about 10 s. */
static void run_until(bool *flag) {
        for (unsigned i = 0; i < 1000 && !*flag; i++)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
        assert_true(*flag);
}

static void run_for(usec_t t) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + t;

        while (now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
}

static char out_log[128], err_log[128];

static RunSpec spec_of(char **argv, const char *name) {
        snprintf(out_log, sizeof(out_log), "%s/out.log", F.dir);
        snprintf(err_log, sizeof(err_log), "%s/err.log", F.dir);
        return (RunSpec) {
                .argv = argv,
                .cwd = F.dir,
                .name = name,
                .group = "job-1",
                .stdout_path = out_log,
                .stderr_path = err_log,
        };
}

/* Start an attempt and run until it has its job id. */
static RunHandle *submit(Runner *r, const char *name, Outcome *o) {
        char *argv[] = { (char *) "true", NULL };
        RunSpec spec = spec_of(argv, name);
        RunHandle *h = NULL;

        assert_int_equal(runner_start(r, &spec, on_exit_cb, o, &h), 0);
        for (unsigned i = 0; i < 1000 && !run_handle_unit(h); i++)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
        assert_non_null(run_handle_unit(h));
        return h;
}

static void test_render(void **state) {
        ScoreSlurmOption extra[] = { { (char *) "account", (char *) "proj1" }, { (char *) "exclusive", NULL } };
        char *pre[] = { (char *) "umask 077", NULL };
        char *post[] = { (char *) "false", NULL };
        char *argv[] = { (char *) "printf", (char *) "%s it's\n", (char *) "a b", NULL };
        char *env[] = { (char *) "HOME=/h", NULL };
        ScoreSlurm o = {
                .partition = (char *) "debug",
                .cpus_per_task = 4,
                .mem = (char *) "2G",
                .sbatch_options = extra,
                .n_sbatch_options = ELEMENTSOF(extra),
                .pre_commands = pre,
                .post_commands = post,
        };
        RunSpec spec = spec_of(argv, "job-1.sheet-2.attempt-1");
        _cleanup_free_ char *script = NULL, *run = NULL, *out = NULL, *path = NULL;
        _cleanup_strv_free_ char **sb = NULL;

        (void) state;
        spec.slurm = &o;
        spec.env = env;
        spec.timeout_usec = 61 * USEC_PER_SEC;

        assert_int_equal(runner_slurm_render_script(&spec, F.sbatch, &script, &sb), 0);
        run = strdup_printf(
                "#!/bin/bash\n"
                "#SBATCH --account=proj1\n"
                "#SBATCH --chdir=%s\n"
                "#SBATCH --comment=marianne:group=job-1;name=job-1.sheet-2.attempt-1;uid=%u\n"
                "#SBATCH --cpus-per-task=4\n"
                "#SBATCH --error=%s/.marianne-slurm/job-1.sheet-2.attempt-1.err\n"
                "#SBATCH --exclusive\n"
                "#SBATCH --job-name=marianne.job-1.sheet-2.attempt-1\n"
                "#SBATCH --mem=2G\n"
                "#SBATCH --output=%s/.marianne-slurm/job-1.sheet-2.attempt-1.out\n"
                "#SBATCH --partition=debug\n"
                "#SBATCH --time=2\n"
                ":\n"
                "umask 077\n"
                "env -i -- 'HOME=/h' 'printf' '%%s it'\\''s\n' 'a b' < '/dev/null'\n"
                "marianne_status=$?\n"
                "(\n"
                "false\n"
                ")\n"
                "exit $marianne_status\n", F.dir, (unsigned) getuid(), F.dir, F.dir);
        assert_non_null(run);
        assert_string_equal(script, run);
        assert_string_equal(sb[0], F.sbatch);
        assert_string_equal(sb[1], "--parsable");
        path = strdup_printf("%s/.marianne-slurm/job-1.sheet-2.attempt-1.sbatch", F.dir);
        assert_string_equal(sb[2], path);
        assert_null(sb[3]);

        /* the score's time wins over the attempt's timeout; a prompt is
         * read from the workspace copy */
        o.time = (char *) "1:00:00";
        spec.stdin_path = "/var/lib/marianne/logs/x.prompt";
        free(script);
        script = NULL;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), 0);
        assert_non_null(strstr(script, "\n#SBATCH --time=1:00:00\n"));
        free(path);
        path = strdup_printf("< '%s/.marianne-slurm/job-1.sheet-2.attempt-1.prompt'\n", F.dir);
        assert_non_null(strstr(script, path));
        spec.stdin_path = NULL;
        o.time = NULL;

        /* the main command's status survives the failing post command */
        free(script);
        script = NULL;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), 0);
        {
                _cleanup_free_ char *p = strdup_printf("%s/render.sh", F.dir);
                _cleanup_free_ char *cmd = NULL;

                assert_int_equal(write_file_private(p, script, strlen(script)), 0);
                cmd = strdup_printf("bash '%s' > '%s/render.out'", p, F.dir);
                assert_int_equal(system(cmd), 0);
                out = read_state_file("render.out");
                assert_string_equal(out, "a b it's\n");
        }
}

static void test_render_checks(void **state) {
        ScoreSlurmOption bad[] = { { (char *) "time", (char *) "5" } };
        ScoreSlurmOption bad_short[] = { { (char *) "J", (char *) "x" } };
        ScoreSlurmOption bad_value[] = { { (char *) "account", (char *) "a b" } };
        char *argv[] = { (char *) "exit", (char *) "3", NULL };
        ScoreSlurm o = {};
        RunSpec spec = spec_of(argv, "a1");
        _cleanup_free_ char *script = NULL;

        (void) state;
        spec.slurm = &o;
        o.sbatch_options = bad;
        o.n_sbatch_options = 1;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EINVAL);
        o.sbatch_options = bad_short;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EINVAL);
        o.sbatch_options = bad_value;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EINVAL);
        assert_null(script);

        o = (ScoreSlurm) {};
        spec.cwd = "/tmp/a b";
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EINVAL);
        spec.cwd = "/tmp/%j";
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EINVAL);
        spec = spec_of(argv, "a1");
        spec.child_fn = (int (*)(void *)) abort;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), -EOPNOTSUPP);

        /* the exit status of bash's script is the main command's */
        spec = spec_of((char *[]) { (char *) "sh", (char *) "-c", (char *) "exit 3", NULL }, "a1");
        o.post_commands = (char *[]) { (char *) "true", (char *) "exit 9", NULL };
        spec.slurm = &o;
        assert_int_equal(runner_slurm_render_script(&spec, NULL, &script, NULL), 0);
        {
                _cleanup_free_ char *p = strdup_printf("%s/rc.sh", F.dir), *cmd = NULL;
                int st;

                assert_int_equal(write_file_private(p, script, strlen(script)), 0);
                cmd = strdup_printf("bash '%s'", p);
                st = system(cmd);
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 3);
        }
}

static void test_complete_and_failed(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *log = NULL, *script = NULL, *path = NULL;
        Outcome a = {}, b = {}, c = {};
        RunHandle *ha, *hb, *hc;
        const char *ida, *idb, *idc;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        ha = submit(r, "a1", &a);
        hb = submit(r, "a2", &b);
        hc = submit(r, "a3", &c);
        ida = run_handle_unit(ha) + strlen("slurm:");
        idb = run_handle_unit(hb) + strlen("slurm:");
        idc = run_handle_unit(hc) + strlen("slurm:");

        /* the script was written into the workspace, private */
        path = strdup_printf("%s/.marianne-slurm/a1.sbatch", F.dir);
        assert_int_equal(access(path, R_OK), 0);

        /* what the job printed reaches the attempt's log when it ends */
        {
                _cleanup_free_ char *o1 = strdup_printf("%s/.marianne-slurm/a1.out", F.dir);
                _cleanup_free_ char *e1 = strdup_printf("%s/.marianne-slurm/a1.err", F.dir);

                assert_int_equal(write_file_private(o1, "hello\n", 6), 0);
                assert_int_equal(write_file_private(e1, "oops\n", 5), 0);
        }

        set_job(ida, "RUNNING", "0:0");
        run_for(100 * USEC_PER_MSEC);
        assert_false(a.done || b.done || c.done);
        set_job(ida, "COMPLETED", "0:0");
        set_job(idb, "FAILED", "7:0");
        set_job(idc, "TIMEOUT", "0:15");
        run_until(&a.done);
        run_until(&b.done);
        run_until(&c.done);
        assert_true(a.res.exited);
        assert_int_equal(a.res.exit_code, 0);
        {
                _cleanup_free_ char *o1 = read_state_file("out.log"), *e1 = read_state_file("err.log");

                /* b and c copied nothing over a's: they ended first or wrote nothing */
                assert_true(streq(o1, "hello\n") || streq(o1, ""));
                assert_true(streq(e1, "oops\n") || streq(e1, ""));
        }
        assert_true(b.res.exited);
        assert_int_equal(b.res.exit_code, 7);
        assert_true(c.res.timed_out);
        assert_false(c.res.exited);
        assert_string_equal(run_handle_slurm_state(hc), "TIMEOUT");

        /* one squeue call covered all three jobs */
        log = read_state_file("log");
        {
                _cleanup_free_ char *all = strdup_printf("squeue -h -o %%i %%T -j %s,%s,%s", idc, idb, ida);
                assert_true(count_lines_starting(log, all) > 0);
        }
        run_handle_release(ha);
        run_handle_release(hb);
        run_handle_release(hc);
}

static void test_signal_oom_nodefail(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        Outcome a = {}, b = {}, c = {}, d = {};
        RunHandle *ha, *hb, *hc, *hd;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        ha = submit(r, "s1", &a);
        hb = submit(r, "s2", &b);
        hc = submit(r, "s3", &c);
        hd = submit(r, "s4", &d);
        set_job(run_handle_unit(ha) + 6, "FAILED", "0:9");
        set_job(run_handle_unit(hb) + 6, "OUT_OF_MEMORY", "0:125");
        set_job(run_handle_unit(hc) + 6, "NODE_FAIL", "0:0");
        set_job(run_handle_unit(hd) + 6, "CANCELLED", "0:15");
        run_until(&a.done);
        run_until(&b.done);
        run_until(&c.done);
        run_until(&d.done);
        assert_false(a.res.exited);
        assert_int_equal(a.res.exit_signal, 9);
        assert_true(b.res.oom_killed);
        assert_false(c.res.exited);
        assert_int_equal(c.res.exit_signal, 0);
        assert_int_equal(c.res.spawn_error, 0);
        assert_string_equal(run_handle_slurm_state(hc), "NODE_FAIL");
        assert_false(d.res.killed);
        assert_int_equal(d.res.exit_signal, 15);
        run_handle_release(ha);
        run_handle_release(hb);
        run_handle_release(hc);
        run_handle_release(hd);
}

static void test_cancel_suspend(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *log = NULL, *l1 = NULL, *l2 = NULL, *l3 = NULL, *l4 = NULL, *l5 = NULL;
        Outcome a = {};
        RunStats st;
        RunHandle *h;
        const char *id;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        h = submit(r, "c1", &a);
        id = run_handle_unit(h) + 6;
        run_for(60 * USEC_PER_MSEC);
        assert_int_equal(run_handle_freeze(h), 0);      /* pending: hold */
        assert_int_equal(run_handle_thaw(h), 0);        /* release */
        set_job(id, "RUNNING", "0:0");
        run_for(100 * USEC_PER_MSEC);
        assert_int_equal(run_handle_freeze(h), 0);      /* running: suspend */
        run_for(60 * USEC_PER_MSEC);
        assert_int_equal(run_handle_thaw(h), 0);        /* resume */
        run_for(60 * USEC_PER_MSEC);
        assert_int_equal(run_handle_stats(h, &st), 0);
        assert_true(st.alive);
        assert_int_equal(st.pid, 0);
        assert_int_equal(run_handle_kill(h), 0);
        run_until(&a.done);
        assert_true(a.res.killed);

        log = read_state_file("log");
        l1 = strdup_printf("scontrol hold %s", id);
        l2 = strdup_printf("scontrol release %s", id);
        l3 = strdup_printf("scontrol suspend %s", id);
        l4 = strdup_printf("scontrol resume %s", id);
        l5 = strdup_printf("scancel %s", id);
        assert_int_equal(count_lines_starting(log, l1), 1);
        assert_int_equal(count_lines_starting(log, l2), 1);
        assert_int_equal(count_lines_starting(log, l3), 1);
        assert_int_equal(count_lines_starting(log, l4), 1);
        assert_int_equal(count_lines_starting(log, l5), 1);
        run_handle_release(h);
}

static void test_adopt_and_vanish(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL, *r2 = NULL;
        _cleanup_free_ char *unit = NULL, *log = NULL, *show = NULL;
        Outcome a = {}, b = {}, v = {};
        RunHandle *h, *h2, *hv;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        h = submit(r, "d1", &a);
        unit = strdup(run_handle_unit(h));
        run_handle_detach(h);
        r = runner_free(r);
        /* the job was not cancelled */
        log = read_state_file("log");
        assert_null(strstr(log, "scancel"));

        assert_int_equal(runner_new_slurm(F.event, &o, &r2), 0);
        assert_int_equal(runner_adopt(r2, "bogus", NULL, on_exit_cb, &b, &h2), -EINVAL);
        assert_int_equal(runner_adopt(r2, unit, NULL, on_exit_cb, &b, &h2), 0);
        assert_string_equal(run_handle_unit(h2), unit);
        set_job(unit + 6, "COMPLETED", "4:0");
        run_until(&b.done);
        assert_true(b.res.exited);
        assert_int_equal(b.res.exit_code, 4);
        run_handle_release(h2);

        /* gone from squeue and scontrol: asked twice, then unknown */
        hv = submit(r2, "v1", &v);
        drop_job(run_handle_unit(hv) + 6);
        run_until(&v.done);
        assert_false(v.res.exited);
        assert_int_equal(v.res.exit_signal, 0);
        assert_int_equal(v.res.spawn_error, -ENODATA);
        free(log);
        log = read_state_file("log");
        show = strdup_printf("scontrol show job %s", run_handle_unit(hv) + 6);
        assert_int_equal(count_lines_starting(log, show), 2);
        run_handle_release(hv);
}

/* Dying between sbatch and its answer leaves "slurm:" without an id: the
 * next conductor cancels whatever has the attempt's name. */
static void test_adopt_unanswered(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *log = NULL;
        char *argv[] = { (char *) "true", NULL };
        RunSpec spec = spec_of(argv, "u1");
        Outcome a = {};
        RunHandle *h = NULL;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        assert_int_equal(runner_adopt(r, "slurm:", &spec, on_exit_cb, &a, &h), -ENOENT);
        assert_null(h);
        run_for(100 * USEC_PER_MSEC);
        log = read_state_file("log");
        assert_int_equal(count_lines_starting(log, "scancel --user=0 --name=marianne.u1"), 1);
}

/* The runner ends an attempt at its exact timeout, counted from when it
 * runs; a freeze before the submission answered holds it. */
static void test_timeout_and_early_freeze(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *log = NULL, *hold = NULL;
        char *argv[] = { (char *) "true", NULL };
        RunSpec spec = spec_of(argv, "t1");
        Outcome a = {}, b = {};
        RunHandle *h = NULL, *hb = NULL;
        const char *id;

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        spec.timeout_usec = 150 * USEC_PER_MSEC;
        assert_int_equal(runner_start(r, &spec, on_exit_cb, &a, &h), 0);
        for (unsigned i = 0; i < 1000 && !run_handle_unit(h); i++)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
        id = run_handle_unit(h) + 6;
        run_for(300 * USEC_PER_MSEC);
        assert_false(a.done);           /* pending time does not count */
        set_job(id, "RUNNING", "0:0");
        run_until(&a.done);
        assert_true(a.res.timed_out);
        assert_false(a.res.killed);
        run_handle_release(h);

        spec = spec_of(argv, "t2");
        assert_int_equal(runner_start(r, &spec, on_exit_cb, &b, &hb), 0);
        assert_int_equal(run_handle_freeze(hb), 0);
        for (unsigned i = 0; i < 1000 && !run_handle_unit(hb); i++)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
        run_for(100 * USEC_PER_MSEC);
        log = read_state_file("log");
        hold = strdup_printf("scontrol hold %s", run_handle_unit(hb) + 6);
        assert_int_equal(count_lines_starting(log, hold), 1);
        assert_int_equal(run_handle_kill(hb), 0);
        run_until(&b.done);
        assert_true(b.res.killed);
        run_handle_release(hb);
}

typedef struct PingResult {
        bool done;
        int status;
        char *message;
} PingResult;

static void on_ping(int status, const char *message, void *userdata) {
        PingResult *p = userdata;

        p->done = true;
        p->status = status;
        p->message = strdup(message);
}

static void test_ping(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *down = strdup_printf("%s/down", F.dir);
        PingResult up = {}, dn = {}, gone = {};

        (void) state;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        assert_int_equal(runner_slurm_ping(r, on_ping, &up), 0);
        run_until(&up.done);
        assert_int_equal(up.status, 0);
        assert_non_null(strstr(up.message, "UP"));

        assert_int_equal(write_file_private(down, "", 0), 0);
        assert_int_equal(runner_slurm_ping(r, on_ping, &dn), 0);
        run_until(&dn.done);
        assert_int_equal(dn.status, -EHOSTDOWN);

        /* a ping outstanding when the runner goes is answered, not lost */
        assert_int_equal(runner_slurm_ping(r, on_ping, &gone), 0);
        r = runner_free(r);
        assert_true(gone.done);
        assert_int_equal(gone.status, -ECANCELED);
        free(up.message);
        free(dn.message);
        free(gone.message);
}

/* A root conductor writes the script and submits as the owner, with an
 * environment of the owner's basics only. */
static void test_submit_as_owner(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *ws = strdup_printf("%s/ws", F.dir), *script = NULL, *who = NULL, *line = NULL;
        char *argv[] = { (char *) "true", NULL };
        Identity nobody = {};
        RunSpec spec = spec_of(argv, "o1");
        struct stat st;
        Outcome a = {};
        RunHandle *h = NULL;

        (void) state;
        if (geteuid() != 0) {
                print_message("(skipped: needs root to become another user)\n");
                return;
        }
        assert_int_equal(identity_load(65534, 65534, &nobody), 0);
        /* the state files of the fakes are written by the submitter too */
        assert_int_equal(chmod(F.dir, 0777), 0);
        assert_int_equal(system("chmod a+rw \"$FAKE_SLURM_DIR\"/* 2>/dev/null; true"), 0);
        assert_int_equal(mkdir(ws, 0755), 0);
        assert_int_equal(chown(ws, 65534, 65534), 0);
        spec.cwd = ws;
        spec.identity = &nobody;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        assert_int_equal(runner_start(r, &spec, on_exit_cb, &a, &h), 0);
        for (unsigned i = 0; i < 1000 && !run_handle_unit(h); i++)
                assert_true(sd_event_run(F.event, 10 * USEC_PER_MSEC) >= 0);
        assert_non_null(run_handle_unit(h));

        script = strdup_printf("%s/.marianne-slurm/o1.sbatch", ws);
        assert_int_equal(lstat(script, &st), 0);
        assert_int_equal(st.st_uid, 65534);
        assert_int_equal(st.st_mode & 0777, 0600);
        who = read_state_file("submitters");
        line = strdup_printf("%s uid=65534 env=", run_handle_unit(h) + 6);
        assert_non_null(strstr(who, line));
        /* nothing of ours (FAKE_SLURM_DIR, MARIANNE_*) went along */
        assert_null(strstr(who, "FAKE_SLURM_DIR"));
        assert_non_null(strstr(who, "SLURM_CONF"));
        /* Slurm confirmed the job is the owner's: it is followed */
        run_for(100 * USEC_PER_MSEC);
        assert_false(a.done);
        set_job(run_handle_unit(h) + 6, "COMPLETED", "0:0");
        run_until(&a.done);
        assert_true(a.res.exited);
        run_handle_release(h);

        /* an sbatch that names someone else's job: that job is left alone */
        {
                _cleanup_free_ char *lie = strdup_printf("%s/lie", F.dir), *log = NULL;
                Outcome c = {};
                RunHandle *h3 = NULL;

                assert_int_equal(write_file_private(lie, "", 0), 0);
                assert_int_equal(system("chmod a+rw \"$FAKE_SLURM_DIR\"/* 2>/dev/null; true"), 0);
                spec = spec_of(argv, "o3");
                spec.cwd = ws;
                spec.identity = &nobody;
                assert_int_equal(runner_start(r, &spec, on_exit_cb, &c, &h3), 0);
                run_until(&c.done);
                assert_int_equal(c.res.spawn_error, -EPERM);
                assert_non_null(strstr(strempty(run_handle_error(h3)), "not this attempt's"));
                assert_null(run_handle_unit(h3));
                run_handle_release(h3);
                run_for(100 * USEC_PER_MSEC);
                log = read_state_file("log");
                assert_null(strstr(log, "scancel"));
                assert_int_equal(unlink(lie), 0);
        }

        /* a directory of someone else's in its place is refused */
        {
                _cleanup_free_ char *ws2 = strdup_printf("%s/ws2", F.dir), *d2 = strdup_printf("%s/ws2/.marianne-slurm", F.dir);
                Outcome b = {};
                RunHandle *h2 = NULL;

                assert_int_equal(mkdir(ws2, 0755), 0);
                assert_int_equal(chown(ws2, 65534, 65534), 0);
                assert_int_equal(mkdir(d2, 0777), 0);
                spec = spec_of(argv, "o2");
                spec.cwd = ws2;
                spec.identity = &nobody;
                assert_int_equal(runner_start(r, &spec, on_exit_cb, &b, &h2), 0);
                run_until(&b.done);
                assert_true(b.res.spawn_error < 0);
                assert_non_null(run_handle_error(h2));
                assert_non_null(strstr(run_handle_error(h2), "belongs to uid 0"));
                run_handle_release(h2);
        }
        identity_done(&nobody);
}

static void test_submit_failure(void **state) {
        RunnerSlurmOptions o = fake_options();
        _cleanup_runner_free_ Runner *r = NULL;
        _cleanup_free_ char *p = strdup_printf("%s/sbatch-fail", F.dir);
        char *argv[] = { (char *) "true", NULL };
        RunSpec spec = spec_of(argv, "f1");
        Outcome a = {};
        RunHandle *h = NULL;

        (void) state;
        assert_int_equal(write_file_private(p, "", 0), 0);
        assert_int_equal(runner_new_slurm(F.event, &o, &r), 0);
        assert_int_equal(runner_start(r, &spec, on_exit_cb, &a, &h), 0);
        run_until(&a.done);
        assert_true(a.res.spawn_error < 0);
        assert_null(run_handle_unit(h));
        run_handle_release(h);
        assert_int_equal(unlink(p), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_render, setup, teardown),
                cmocka_unit_test_setup_teardown(test_render_checks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_complete_and_failed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signal_oom_nodefail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_suspend, setup, teardown),
                cmocka_unit_test_setup_teardown(test_adopt_and_vanish, setup, teardown),
                cmocka_unit_test_setup_teardown(test_submit_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_submit_as_owner, setup, teardown),
                cmocka_unit_test_setup_teardown(test_adopt_unanswered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout_and_early_freeze, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

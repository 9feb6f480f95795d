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

static RunSpec spec_of(char **argv, const char *name) {
        return (RunSpec) {
                .argv = argv,
                .cwd = F.dir,
                .name = name,
                .group = "job-1",
                .stdout_path = "/tmp/out.log",
                .stderr_path = "/tmp/err.log",
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
        RunnerSlurmOption extra[] = { { "account", "proj1" }, { "exclusive", NULL } };
        char *pre[] = { (char *) "umask 077", NULL };
        char *post[] = { (char *) "false", NULL };
        char *argv[] = { (char *) "printf", (char *) "%s it's\n", (char *) "a b", NULL };
        char *env[] = { (char *) "HOME=/h", NULL };
        RunnerSlurmOptions o = fake_options();
        RunSpec spec = spec_of(argv, "job-1.sheet-2.attempt-1");
        _cleanup_free_ char *script = NULL, *run = NULL, *out = NULL, *path = NULL;
        _cleanup_strv_free_ char **sb = NULL;

        (void) state;
        o.partition = "debug";
        o.time_limit = "1:00:00";
        o.cpus_per_task = 4;
        o.mem = "2G";
        o.sbatch_options = extra;
        o.n_sbatch_options = ELEMENTSOF(extra);
        o.pre_commands = pre;
        o.post_commands = post;
        spec.env = env;
        spec.timeout_usec = 61 * USEC_PER_SEC;

        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, &sb), 0);
        run = strdup_printf(
                "#!/bin/bash\n"
                "#SBATCH --account=proj1\n"
                "#SBATCH --chdir=%s\n"
                "#SBATCH --comment=marianne:group=job-1;name=job-1.sheet-2.attempt-1;uid=%u\n"
                "#SBATCH --cpus-per-task=4\n"
                "#SBATCH --error=/tmp/err.log\n"
                "#SBATCH --exclusive\n"
                "#SBATCH --job-name=marianne.job-1.sheet-2.attempt-1\n"
                "#SBATCH --mem=2G\n"
                "#SBATCH --output=/tmp/out.log\n"
                "#SBATCH --partition=debug\n"
                "#SBATCH --time=2\n"
                "umask 077\n"
                "env -i -- 'HOME=/h' 'printf' '%%s it'\\''s\n' 'a b' < '/dev/null'\n"
                "marianne_status=$?\n"
                "false\n"
                "exit $marianne_status\n", F.dir, (unsigned) getuid());
        assert_non_null(run);
        assert_string_equal(script, run);
        assert_string_equal(sb[0], F.sbatch);
        assert_string_equal(sb[1], "--parsable");
        path = strdup_printf("%s/.marianne-job-1.sheet-2.attempt-1.sbatch", F.dir);
        assert_string_equal(sb[2], path);
        assert_null(sb[3]);

        /* the main command's status survives the failing post command */
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
        RunnerSlurmOption bad[] = { { "time", "5" } };
        RunnerSlurmOption bad_short[] = { { "J", "x" } };
        char *argv[] = { (char *) "exit", (char *) "3", NULL };
        RunnerSlurmOptions o = fake_options();
        RunSpec spec = spec_of(argv, "a1");
        _cleanup_free_ char *script = NULL;
        Runner *r = NULL;

        (void) state;
        o.sbatch_options = bad;
        o.n_sbatch_options = 1;
        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, NULL), -EINVAL);
        assert_int_equal(runner_new_slurm(F.event, &o, &r), -EINVAL);
        o.sbatch_options = bad_short;
        assert_int_equal(runner_new_slurm(F.event, &o, &r), -EINVAL);
        assert_null(r);

        o = fake_options();
        spec.stdout_path = "/tmp/a b";
        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, NULL), -EINVAL);
        spec.stdout_path = "/tmp/%j";
        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, NULL), -EINVAL);
        spec = spec_of(argv, "a1");
        spec.child_fn = (int (*)(void *)) abort;
        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, NULL), -EOPNOTSUPP);

        /* the exit status of bash's script is the main command's */
        spec = spec_of((char *[]) { (char *) "sh", (char *) "-c", (char *) "exit 3", NULL }, "a1");
        o.post_commands = (char *[]) { (char *) "true", NULL };
        assert_int_equal(runner_slurm_render_script(&o, &spec, &script, NULL), 0);
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
        path = strdup_printf("%s/.marianne-a1.sbatch", F.dir);
        assert_int_equal(access(path, R_OK), 0);

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
        assert_int_equal(runner_adopt(r2, "bogus", on_exit_cb, &b, &h2), -EINVAL);
        assert_int_equal(runner_adopt(r2, unit, on_exit_cb, &b, &h2), 0);
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
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

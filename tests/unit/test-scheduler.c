/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The conductor core without a bus: real scores, the real local runner,
 * the real store, driven on a private sd-event loop. */

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <pwd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "conductor.h"
#include "job.h"
#include "log.h"

typedef struct Fixture {
        char *dir;
        sd_event *event;
        Conductor *conductor;
        char **events;          /* "job demo-1 queued->running", "sheet demo-1/2 ready->dispatched" */
        unsigned in_progress;   /* sheets currently in_progress, all jobs */
        unsigned max_in_progress;
} Fixture;

static void record(Fixture *f, char *s) {
        assert_non_null(s);
        assert_int_equal(strv_push(&f->events, s), 0);
}

static void on_job_state(Job *j, JobState o, JobState n, void *userdata) {
        record(userdata, strdup_printf("job %s %s->%s", j->rec.id, job_state_to_string(o), job_state_to_string(n)));
}

static void on_sheet_state(Job *j, unsigned sheet, SheetState o, SheetState n, void *userdata) {
        Fixture *f = userdata;

        if (n == SHEET_IN_PROGRESS)
                f->in_progress++;
        if (o == SHEET_IN_PROGRESS && f->in_progress > 0)
                f->in_progress--;
        f->max_in_progress = MAX(f->max_in_progress, f->in_progress);
        record(f, strdup_printf("sheet %s/%u %s->%s", j->rec.id, sheet, sheet_state_to_string(o), sheet_state_to_string(n)));
}

static const ConductorObserver observer = {
        .job_state_changed = on_job_state,
        .sheet_state_changed = on_sheet_state,
};

static int open_conductor(Fixture *f, unsigned max_concurrent) {
        _cleanup_free_ char *state = strdup_printf("%s/state", f->dir);
        ConductorConfig config = {
                .state_dir = state,
                .max_concurrent_sheets = max_concurrent,
                .kill_grace_usec = 200 * USEC_PER_MSEC,
                .limits = score_limits_default,
        };

        return conductor_new(f->event, &config, &observer, f, &f->conductor);
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        char tmpl[] = "/tmp/marianne-test-scheduler-XXXXXX";
        sigset_t mask;

        assert_non_null(f);
        assert_non_null(mkdtemp(tmpl));
        f->dir = strdup(tmpl);
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(setenv("CONDUCTOR_SECRET", "must not reach sheets", 1), 0);
        assert_int_equal(open_conductor(f, 8), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", f->dir);

        conductor_free(f->conductor);
        sd_event_unref(f->event);
        strv_free(f->events);
        assert_int_equal(system(cmd), 0);
        free(f->dir);
        free(f);
        return 0;
}

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static char *write_score(Fixture *f, const char *name, const char *yaml) {
        char *path = strdup_printf("%s/%s.yaml", f->dir, name);
        FILE *file;

        assert_non_null(path);
        file = fopen(path, "we");
        assert_non_null(file);
        assert_true(fputs(yaml, file) >= 0);
        assert_int_equal(fclose(file), 0);
        return path;
}

static Job *start(Fixture *f, const char *name, const char *yaml, const StartOptions *o) {
        _cleanup_free_ char *path = write_score(f, name, yaml), *error = NULL;
        StartOptions defaults = { .owner_uid = getuid(), .owner_gid = getgid() };
        Job *j = NULL;
        int r;

        r = conductor_start_path(f->conductor, path, o ?: &defaults, &j, &error);
        if (r < 0)
                fail_msg("start of %s failed: %s (%s)", name, strerror(-r), strna(error));
        return j;
}

/* Run the loop until pred() holds, failing after timeout_sec. */
static void run_until(Fixture *f, bool (*pred)(void *), void *userdata, unsigned timeout_sec) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_sec * USEC_PER_SEC;

        while (!pred(userdata)) {
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        fail_msg("condition not reached within %u s", timeout_sec);
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        }
}

static bool job_terminal(void *userdata) {
        return job_state_is_terminal(((Job *) userdata)->rec.state);
}

static void run_to_end(Fixture *f, Job *j) {
        run_until(f, job_terminal, j, 30);
        /* let the reaping of cancelled attempts finish too */
        for (int i = 0; i < 20 && j->n_running > 0; i++)
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
}

static char *read_ws(Fixture *f, const char *file) {
        _cleanup_free_ char *p = strdup_printf("%s/ws/%s", f->dir, file);
        char *s = NULL;

        return read_full_file(p, 1 << 20, &s, NULL) >= 0 ? s : NULL;
}

static ssize_t event_index(Fixture *f, const char *event) {
        for (size_t i = 0; f->events && f->events[i]; i++)
                if (streq(f->events[i], event))
                        return (ssize_t) i;
        return -1;
}

#define COMMON "workspace: ws\npause_between_sheets_seconds: 0\n"

static void test_linear_chain(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *out = NULL;
        Job *j = start(f, "chain", "name: chain\n" COMMON
                       "sheet: {size: 1, total_items: 3}\n"
                       "prompt: {template: 'echo {{ sheet_num }} >> order.txt; env > env-{{ sheet_num }}.txt'}\n", NULL);
        _cleanup_free_ char *env = NULL;

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_int_equal(job_count(j, SHEET_COMPLETED), 3);
        out = read_ws(f, "order.txt");
        assert_string_equal(out, "1\n2\n3\n");
        /* a clean environment: ours, not the conductor's */
        env = read_ws(f, "env-2.txt");
        assert_non_null(env);
        assert_non_null(strstr(env, "MARIANNE_SHEET=2\n"));
        assert_non_null(strstr(env, "MARIANNE_JOB_ID=chain-1\n"));
        assert_non_null(strstr(env, "PATH=/usr/local/sbin"));
        assert_null(strstr(env, "CONDUCTOR_SECRET"));

        /* the state changes of one sheet, in order, then the next sheet */
        assert_true(event_index(f, "job chain-1 queued->running") >= 0);
        assert_true(event_index(f, "sheet chain-1/1 pending->ready") < event_index(f, "sheet chain-1/1 ready->dispatched"));
        assert_true(event_index(f, "sheet chain-1/1 ready->dispatched") < event_index(f, "sheet chain-1/1 dispatched->in_progress"));
        assert_true(event_index(f, "sheet chain-1/1 dispatched->in_progress") < event_index(f, "sheet chain-1/1 in_progress->completed"));
        assert_true(event_index(f, "sheet chain-1/1 in_progress->completed") < event_index(f, "sheet chain-1/2 pending->ready"));
        assert_true(event_index(f, "sheet chain-1/3 in_progress->completed") < event_index(f, "job chain-1 running->completed"));
        assert_true(event_index(f, "sheet chain-1/1 pending->ready") >= 0);
}

static void test_fan_out_fan_in(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *out = NULL;
        Job *j = start(f, "fan", "name: fan\n" COMMON
                       "sheet: {size: 1, total_items: 3, fan_out: {2: 3}, dependencies: {2: [1], 3: [2]}}\n"
                       "parallel: {max_concurrent: 3}\n"
                       "prompt: {template: 'echo s{{ stage }}i{{ instance }}/{{ fan_count }} >> log.txt; sleep 0.2'}\n",
                       NULL);

        assert_int_equal(j->rec.total_sheets, 5);
        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        out = read_ws(f, "log.txt");
        assert_non_null(out);
        assert_true(startswith(out, "s1i1/1\n"));
        assert_non_null(strstr(out, "s2i1/3\n"));
        assert_non_null(strstr(out, "s2i2/3\n"));
        assert_non_null(strstr(out, "s2i3/3\n"));
        assert_true(endswith(out, "s3i1/1\n"));
        /* the three voices ran together, the fan-in waited for all */
        assert_true(f->max_in_progress >= 2);
        for (unsigned s = 2; s <= 4; s++) {
                _cleanup_free_ char *done = strdup_printf("sheet fan-1/%u in_progress->completed", s);
                assert_true(event_index(f, done) < event_index(f, "sheet fan-1/5 pending->ready"));
        }
}

static void test_retry_then_pass(void **state) {
        Fixture *f = *state;
        SheetRecord sr = {};
        Job *j = start(f, "retry", "name: retry\n" COMMON
                       "sheet: {size: 1, total_items: 1}\n"
                       "retry: {max_retries: 2, base_delay_seconds: 0.1, jitter: false}\n"
                       "prompt: {template: 'if [ ! -e once ]; then touch once; echo boom >&2; exit 7; fi; echo fine'}\n",
                       NULL);

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_int_equal(j->sheets[0].attempt_count, 2);
        assert_true(event_index(f, "sheet retry-1/1 in_progress->retry_scheduled") >= 0);
        assert_true(event_index(f, "sheet retry-1/1 retry_scheduled->ready") >= 0);

        assert_int_equal(conductor_get_sheet(f->conductor, j, 1, &sr), 0);
        assert_int_equal(sr.exit_code, 0);
        assert_string_equal(sr.stdout_tail, "fine\n");
        assert_string_equal(sr.exit_reason, "exited");
        sheet_record_done(&sr);
        assert_int_equal(conductor_get_sheet(f->conductor, j, 2, &sr), -ERANGE);
}

static void test_failure_skips_dependents(void **state) {
        Fixture *f = *state;
        SheetRecord sr = {};
        Job *j = start(f, "fails", "name: fails\n" COMMON
                       "sheet: {size: 1, total_items: 4, dependencies: {2: [1], 3: [2]}}\n"
                       "retry: {max_retries: 0}\n"
                       "prompt: {template: 'test {{ sheet_num }} -ne 1'}\n", NULL);

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_FAILED);
        assert_int_equal(j->sheets[0].state, SHEET_FAILED);
        assert_int_equal(j->sheets[1].state, SHEET_SKIPPED);
        assert_int_equal(j->sheets[2].state, SHEET_SKIPPED);
        /* sheet 4 depends on nothing (dependencies were declared) and runs */
        assert_int_equal(j->sheets[3].state, SHEET_COMPLETED);
        assert_non_null(j->rec.error);

        assert_int_equal(conductor_get_sheet(f->conductor, j, 1, &sr), 0);
        assert_true(sr.has_exit_code);
        assert_int_equal(sr.exit_code, 1);
        assert_string_equal(sr.error_category, "exit_code");
        sheet_record_done(&sr);
        assert_int_equal(conductor_get_sheet(f->conductor, j, 3, &sr), 0);
        assert_string_equal(sr.error_message, "dependency sheet 2 skipped");
        sheet_record_done(&sr);
}

static void test_validations(void **state) {
        Fixture *f = *state;
        SheetRecord sr = {};
        Job *j = start(f, "valid", "name: valid\n" COMMON
                       "sheet: {size: 1, total_items: 2, dependencies: {}}\n"
                       "retry: {max_retries: 1, base_delay_seconds: 0.05}\n"
                       "prompt: {template: 'test {{ sheet_num }} = 2 || echo ok > out-{{ sheet_num }}.txt'}\n"
                       "validations:\n"
                       "  - {type: file_exists, path: '{workspace}/out-{sheet_num}.txt', description: output exists}\n"
                       "  - {type: content_contains, path: '{workspace}/out-{sheet_num}.txt', pattern: ok, stage: 2}\n"
                       "  - {type: command_succeeds, command: 'grep -q ok {workspace}/out-{sheet_num}.txt', stage: 2}\n"
                       "  - {type: command_succeeds, command: 'test \"$MARIANNE_SHEET\" = {sheet_num} && test -z \"${CONDUCTOR_SECRET:-}\"', stage: 2}\n",
                       NULL);

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_FAILED);
        assert_int_equal(j->sheets[0].state, SHEET_COMPLETED);
        assert_int_equal(j->sheets[1].state, SHEET_FAILED);
        assert_int_equal(j->sheets[1].attempt_count, 2);

        assert_int_equal(conductor_get_sheet(f->conductor, j, 1, &sr), 0);
        assert_int_equal(sr.validation_passed, 1);
        assert_int_equal(sr.passed_validations, 4);
        assert_true(sr.pass_percentage > 99.9);
        sheet_record_done(&sr);

        assert_int_equal(conductor_get_sheet(f->conductor, j, 2, &sr), 0);
        assert_int_equal(sr.validation_passed, 0);
        assert_int_equal(sr.failed_validations, 1);
        assert_string_equal(sr.error_category, "validation");
        assert_non_null(strstr(sr.error_message, "output exists"));
        assert_non_null(strstr(sr.validation_details, "not_run"));
        sheet_record_done(&sr);
}

static void test_job_concurrency_limit(void **state) {
        Fixture *f = *state;
        Job *j = start(f, "par", "name: par\n" COMMON
                       "sheet: {size: 1, total_items: 6, dependencies: {}}\n"
                       "parallel: {max_concurrent: 2}\n"
                       "prompt: {template: 'sleep 0.2'}\n", NULL);

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_int_equal(f->max_in_progress, 2);
}

static void test_conductor_concurrency_limit(void **state) {
        Fixture *f = *state;
        Job *a, *b;

        conductor_free(f->conductor);
        assert_int_equal(open_conductor(f, 1), 0);
        a = start(f, "pa", "name: pa\n" COMMON "sheet: {size: 1, total_items: 2, dependencies: {}}\n"
                  "parallel: {max_concurrent: 4}\nprompt: {template: 'sleep 0.1'}\n", NULL);
        b = start(f, "pb", "name: pb\n" COMMON "sheet: {size: 1, total_items: 2, dependencies: {}}\n"
                  "parallel: {max_concurrent: 4}\nprompt: {template: 'sleep 0.1'}\n", NULL);
        run_to_end(f, a);
        run_to_end(f, b);
        assert_int_equal(a->rec.state, JOB_COMPLETED);
        assert_int_equal(b->rec.state, JOB_COMPLETED);
        assert_int_equal(f->max_in_progress, 1);
}

static bool sheet1_in_progress(void *userdata) {
        return ((Job *) userdata)->sheets[0].state == SHEET_IN_PROGRESS;
}

static void test_pause_resume(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *counter_before = NULL, *counter_after = NULL;
        Job *j = start(f, "pause", "name: pause\n" COMMON
                       "sheet: {size: 1, total_items: 2}\n"
                       "prompt: {template: 'for i in $(seq 8); do echo $i >> tick-{{ sheet_num }}; sleep 0.1; done'}\n",
                       NULL);

        run_until(f, sheet1_in_progress, j, 10);
        assert_int_equal(conductor_pause_job(f->conductor, j), 0);
        assert_int_equal(j->rec.state, JOB_PAUSED);
        assert_int_equal(j->sheets[0].state, SHEET_WAITING);
        assert_int_equal(conductor_pause_job(f->conductor, j), -EBUSY);

        /* frozen: the tick file does not grow, and nothing new is dispatched */
        for (int i = 0; i < 4; i++)
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        counter_before = read_ws(f, "tick-1");
        usleep(500 * 1000);
        for (int i = 0; i < 4; i++)
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        counter_after = read_ws(f, "tick-1");
        assert_string_equal(strempty(counter_before), strempty(counter_after));
        assert_int_equal(j->sheets[1].state, SHEET_PENDING);

        assert_int_equal(conductor_resume_job(f->conductor, j), 0);
        assert_int_equal(conductor_resume_job(f->conductor, j), -EBUSY);
        assert_int_equal(j->sheets[0].state, SHEET_IN_PROGRESS);
        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_true(event_index(f, "job pause-1 running->paused") < event_index(f, "job pause-1 paused->running"));
}

static bool pid_gone(pid_t pid) {
        _cleanup_free_ char *p = strdup_printf("/proc/%d/stat", (int) pid), *s = NULL;
        const char *e;

        if (read_full_file(p, 4096, &s, NULL) < 0)
                return true;
        e = strrchr(s, ')');
        return e && e[1] == ' ' && e[2] == 'Z';   /* a zombie waiting for init is gone too */
}

static pid_t read_pid(Fixture *f, const char *file) {
        _cleanup_free_ char *s = NULL;

        /* the shell creates the file before it writes the number */
        for (int i = 0; i < 100; i++) {
                s = read_ws(f, file);
                if (s && strchr(s, '\n'))
                        break;
                free(s);
                s = NULL;
                assert_true(sd_event_run(f->event, 20 * USEC_PER_MSEC) >= 0);
        }
        assert_non_null(s);
        assert_true(atoi(s) > 0);
        return (pid_t) atoi(s);
}

static void test_cancel_kills_everything(void **state) {
        Fixture *f = *state;
        pid_t grandchild;
        Job *j = start(f, "cancel", "name: cancel\n" COMMON
                       "sheet: {size: 1, total_items: 2}\n"
                       "prompt: {template: '(sleep 300 & echo $! > gc.pid); sleep 300'}\n", NULL);

        run_until(f, sheet1_in_progress, j, 10);
        grandchild = read_pid(f, "gc.pid");
        assert_false(pid_gone(grandchild));

        assert_int_equal(conductor_cancel_job(f->conductor, j), 0);
        assert_int_equal(j->rec.state, JOB_CANCELLED);
        assert_int_equal(j->sheets[0].state, SHEET_CANCELLED);
        assert_int_equal(j->sheets[1].state, SHEET_CANCELLED);
        assert_int_equal(conductor_cancel_job(f->conductor, j), -EBUSY);
        run_to_end(f, j);
        assert_int_equal(j->n_running, 0);
        for (int i = 0; i < 50 && !pid_gone(grandchild); i++)
                usleep(20 * 1000);
        assert_true(pid_gone(grandchild));
}

static void test_timeout_kills_everything(void **state) {
        Fixture *f = *state;
        SheetRecord sr = {};
        pid_t grandchild;
        Job *j = start(f, "timeout", "name: timeout\n" COMMON
                       "instrument_config: {timeout_seconds: 1}\n"
                       "retry: {max_retries: 0}\n"
                       "sheet: {size: 1, total_items: 1}\n"
                       "prompt: {template: '(sleep 300 & echo $! > gc.pid); trap \"\" TERM; sleep 300'}\n", NULL);

        run_until(f, sheet1_in_progress, j, 10);
        grandchild = read_pid(f, "gc.pid");
        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_FAILED);
        assert_int_equal(conductor_get_sheet(f->conductor, j, 1, &sr), 0);
        assert_string_equal(sr.exit_reason, "timeout");
        assert_string_equal(sr.error_category, "timeout");
        sheet_record_done(&sr);
        for (int i = 0; i < 50 && !pid_gone(grandchild); i++)
                usleep(20 * 1000);
        assert_true(pid_gone(grandchild));
}

static bool sheet2_in_progress(void *userdata) {
        return ((Job *) userdata)->sheets[1].state == SHEET_IN_PROGRESS;
}

static void test_reload_requeues_interrupted(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *id = NULL, *out = NULL;
        Job *j = start(f, "reload", "name: reload\n" COMMON
                       "sheet: {size: 1, total_items: 3}\n"
                       "prompt: {template: 'echo {{ sheet_num }} >> runs.txt; test {{ sheet_num }} != 2 || test -e restarted || sleep 300'}\n",
                       NULL);

        id = strdup(j->rec.id);
        run_until(f, sheet2_in_progress, j, 10);
        for (int i = 0; i < 200; i++) {
                _cleanup_free_ char *s = read_ws(f, "runs.txt");
                if (s && streq(s, "1\n2\n"))
                        break;
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        }

        /* the conductor goes away mid-sheet; its successor takes over */
        conductor_free(f->conductor);
        f->conductor = NULL;
        out = read_ws(f, "runs.txt");
        assert_string_equal(out, "1\n2\n");
        free(out);
        {
                _cleanup_free_ char *marker = strdup_printf("%s/ws/restarted", f->dir);
                assert_int_equal(mkdir(marker, 0755), 0);
        }

        assert_int_equal(open_conductor(f, 8), 0);
        assert_int_equal(conductor_load(f->conductor), 0);
        j = conductor_get_job(f->conductor, id);
        assert_non_null(j);
        assert_int_equal(j->sheets[0].state, SHEET_COMPLETED);
        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_int_equal(j->sheets[1].attempt_count, 2);
        /* sheet 1 completed before the restart and did not run again */
        out = read_ws(f, "runs.txt");
        assert_string_equal(out, "1\n2\n2\n3\n");
}

static void test_start_sheet_and_pacing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *out = NULL;
        StartOptions o = { .owner_uid = getuid(), .owner_gid = getgid(), .start_sheet = 2 };
        usec_t t0 = now_usec(CLOCK_MONOTONIC);
        Job *j = start(f, "later", "name: later\nworkspace: ws\npause_between_sheets_seconds: 0.3\n"
                       "sheet: {size: 1, total_items: 4}\n"
                       "prompt: {template: 'echo {{ sheet_num }} >> later.txt'}\n", &o);

        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);
        assert_int_equal(j->sheets[0].state, SHEET_SKIPPED);
        out = read_ws(f, "later.txt");
        assert_string_equal(out, "2\n3\n4\n");
        /* two pauses between three sheets */
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 600 * USEC_PER_MSEC);
}

static void test_delete_clear_find(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = NULL, *error = NULL;
        StartOptions o = { .owner_uid = getuid(), .owner_gid = getgid() };
        unsigned deleted = 99;
        Job *a, *b, *found = NULL;
        Score *plan = NULL;

        a = start(f, "twin", "name: twin\n" COMMON "sheet: {size: 1, total_items: 1}\nprompt: {template: 'sleep 0.3'}\n", NULL);
        b = start(f, "twin2", "name: twin\n" COMMON "sheet: {size: 1, total_items: 1}\nprompt: {template: 'true'}\n", NULL);
        assert_int_equal(conductor_find_job(f->conductor, "twin", (uid_t) -1, &found), -ENOTUNIQ);
        /* a name means the caller's own job first */
        a->rec.owner_uid = 12345;
        assert_int_equal(conductor_find_job(f->conductor, "twin", getuid(), &found), 0);
        assert_ptr_equal(found, b);
        assert_int_equal(conductor_find_job(f->conductor, "twin", 12345, &found), 0);
        assert_ptr_equal(found, a);
        assert_int_equal(conductor_find_job(f->conductor, "twin", 999, &found), -ENOTUNIQ);
        a->rec.owner_uid = getuid();
        assert_int_equal(conductor_find_job(f->conductor, a->rec.id, (uid_t) -1, &found), 0);
        assert_ptr_equal(found, a);
        assert_int_equal(conductor_find_job(f->conductor, "nope", (uid_t) -1, &found), -ENOENT);
        assert_int_equal(conductor_delete_job(f->conductor, a), -EBUSY);

        run_to_end(f, a);
        run_to_end(f, b);
        assert_int_equal(conductor_clear_jobs(f->conductor, (uid_t) -1, 1u << JOB_FAILED, 0, &deleted), 0);
        assert_int_equal(deleted, 0);
        assert_int_equal(conductor_clear_jobs(f->conductor, (uid_t) -1, 0, 3600 * USEC_PER_SEC, &deleted), 0);
        assert_int_equal(deleted, 0);
        assert_int_equal(conductor_delete_job(f->conductor, b), 0);
        assert_int_equal(conductor_find_job(f->conductor, "twin", (uid_t) -1, &found), 0);
        assert_int_equal(conductor_clear_jobs(f->conductor, (uid_t) -1, 1u << JOB_COMPLETED, 0, &deleted), 0);
        assert_int_equal(deleted, 1);
        assert_int_equal(conductor_n_jobs(f->conductor), 0);

        /* hostile paths are refused before anything is read */
        assert_int_equal(conductor_start_path(f->conductor, "relative.yaml", &o, &found, &error), -EINVAL);
        free(error), error = NULL;
        path = strdup_printf("%s/../x.yaml", f->dir);
        assert_int_equal(conductor_start_path(f->conductor, path, &o, &found, &error), -EINVAL);
        assert_non_null(strstr(error, ".."));
        free(error), error = NULL;
        assert_int_equal(conductor_start_path(f->conductor, "/etc/passwd", &o, &found, &error), -EINVAL);
        free(error), error = NULL;
        assert_int_equal(conductor_start_path(f->conductor, "/nonexistent/score.yaml", &o, &found, &error), -ENOENT);
        free(error), error = NULL;
        path = mfree(path);
        path = write_score(f, "undefined", "name: undefined\n" COMMON "sheet: {size: 1, total_items: 2}\n"
                           "prompt: {template: '{% if sheet_num == 1 %}{{ no_such_variable }}{% endif %}'}\n");
        assert_int_equal(conductor_start_path(f->conductor, path, &o, &found, &error), -EINVAL);
        assert_non_null(strstr(error, "sheet 1: prompt does not render"));
        free(error), error = NULL;
        assert_int_equal(conductor_plan_content(f->conductor, "name: x\nsheet: {size: 1, total_items: 2}\n", &o, &plan, &error), 0);
        assert_int_equal(plan->n_sheets, 2);
        score_free(plan);
        assert_int_equal(conductor_n_jobs(f->conductor), 0);
}

static void test_runs_as_owner(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *shared = NULL, *ids = NULL, *path = NULL, *error = NULL, *secret = NULL, *link = NULL;
        _cleanup_free_ char *yaml = NULL;
        struct passwd *pw = getpwnam("nobody");
        StartOptions o = {};
        Job *j = NULL;
        struct stat st;

        if (geteuid() != 0 || !pw) {
                skip();   /* needs root to change to another user, and a "nobody" */
                return;
        }
        o = (StartOptions) { .owner_uid = pw->pw_uid, .owner_gid = pw->pw_gid };

        /* a place the owner may write, and a score it may read */
        assert_int_equal(chmod(f->dir, 0755), 0);
        shared = strdup_printf("%s/shared", f->dir);
        assert_int_equal(mkdir(shared, 01777), 0);
        assert_int_equal(chmod(shared, 01777), 0);
        yaml = strdup_printf("name: owned\nworkspace: %s/ws-owned\npause_between_sheets_seconds: 0\n"
                             "sheet: {size: 1, total_items: 1}\n"
                             "prompt: {template: 'id -u > ids; id -g >> ids; echo $HOME $USER >> ids'}\n"
                             "validations:\n"
                             "  - {type: command_succeeds, command: 'test $(id -u) = %u && touch validated'}\n",
                             shared, (unsigned) pw->pw_uid);
        path = write_score(f, "owned", yaml);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(conductor_start_path(f->conductor, path, &o, &j, &error), 0);
        run_to_end(f, j);
        assert_int_equal(j->rec.state, JOB_COMPLETED);

        free(path);
        path = strdup_printf("%s/ws-owned/ids", shared);
        assert_int_equal(read_full_file(path, 4096, &ids, NULL), 0);
        {
                _cleanup_free_ char *want = strdup_printf("%u\n%u\n%s %s\n", (unsigned) pw->pw_uid,
                                                          (unsigned) pw->pw_gid, pw->pw_dir, pw->pw_name);
                assert_string_equal(ids, want);
        }
        /* the workspace and everything in it belong to the owner */
        free(path);
        path = strdup_printf("%s/ws-owned/validated", shared);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, pw->pw_uid);
        free(path);
        path = strdup_printf("%s/ws-owned", shared);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, pw->pw_uid);

        /* a score only root may read is not read for this owner */
        secret = write_score(f, "secret", "name: secret\nworkspace: ws\nsheet: {size: 1, total_items: 1}\n");
        assert_int_equal(chmod(secret, 0600), 0);
        free(error), error = NULL;
        assert_int_equal(conductor_start_path(f->conductor, secret, &o, &j, &error), -EACCES);
        assert_non_null(strstr(error, "Permission denied"));

        /* a workspace through a symlink into /etc fails and creates nothing */
        link = strdup_printf("%s/to-etc", shared);
        assert_int_equal(symlink("/etc", link), 0);
        free(yaml);
        yaml = strdup_printf("name: sneaky\nworkspace: %s/to-etc/marianne-sneaky\nsheet: {size: 1, total_items: 1}\n", shared);
        free(path);
        path = write_score(f, "sneaky", yaml);
        assert_int_equal(chmod(path, 0644), 0);
        free(error), error = NULL;
        assert_int_equal(conductor_start_path(f->conductor, path, &o, &j, &error), -EACCES);
        assert_non_null(strstr(error, "cannot create or write workspace"));
        assert_int_equal(access("/etc/marianne-sneaky", F_OK), -1);
        free(yaml);
        yaml = strdup_printf("name: sneaky2\nworkspace: %s/to-etc\nsheet: {size: 1, total_items: 1}\n", shared);
        free(path);
        path = write_score(f, "sneaky2", yaml);
        assert_int_equal(chmod(path, 0644), 0);
        free(error), error = NULL;
        assert_int_equal(conductor_start_path(f->conductor, path, &o, &j, &error), -EACCES);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_linear_chain, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fan_out_fan_in, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_then_pass, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_skips_dependents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_validations, setup, teardown),
                cmocka_unit_test_setup_teardown(test_job_concurrency_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_conductor_concurrency_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_kills_everything, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeout_kills_everything, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_requeues_interrupted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_sheet_and_pacing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete_clear_find, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runs_as_owner, setup, teardown),
        };

        log_open(LOG_TARGET_STDERR, "test-scheduler");
        log_set_max_level(LOG_WARNING);
        return cmocka_run_group_tests(tests, NULL, NULL);
}

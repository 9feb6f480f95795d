/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Conductor operations: creating, reloading, finding and controlling jobs.
 * The scheduling itself lives in scheduler.c. */

#include <ftw.h>
#include <libgen.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/stat.h>

#include "conductor-private.h"
#include "log.h"
#include "score-instruments.h"
#include "sheet-instrument.h"

#define STORE_FILE "marianne.db"
#define PROMPTS_TOTAL_MAX (64U * 1024U * 1024U)

int conductor_new(sd_event *event, const ConductorConfig *config,
                  const ConductorObserver *observer, void *userdata, Conductor **ret) {
        _cleanup_conductor_free_ Conductor *c = NULL;
        _cleanup_free_ char *db = NULL;
        int r;

        c = calloc(1, sizeof(Conductor));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->config = *config;
        c->config.state_dir = NULL;
        c->slurm_poll_usec = config->slurm_poll_interval_usec;
        c->config.cgroup_dir = NULL;
        if (c->config.max_concurrent_sheets == 0) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                c->config.max_concurrent_sheets = n > 0 ? 2 * (unsigned) n : 2;
        }
        if (c->config.max_active_jobs_per_user == 0)
                c->config.max_active_jobs_per_user = 100;
        if (c->config.kill_grace_usec == 0)
                c->config.kill_grace_usec = 5 * USEC_PER_SEC;
        if (c->config.limits.max_score_bytes == 0)
                c->config.limits = score_limits_default;
        if (observer)
                c->observer = *observer;
        c->userdata = userdata;
        c->started_at = now_usec(CLOCK_REALTIME);
        c->started_at_monotonic = now_usec(CLOCK_MONOTONIC);

        c->state_dir = strdup(config->state_dir);
        c->log_dir = strdup_printf("%s/logs", config->state_dir);
        db = strdup_printf("%s/" STORE_FILE, config->state_dir);
        if (!c->state_dir || !c->log_dir || !db)
                return -ENOMEM;

        /* The store and the logs hold other people's output: only we read them. */
        r = mkdir_p(c->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s: %m", c->state_dir);
        r = mkdir_p(c->log_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create log directory %s: %m", c->log_dir);

        r = store_open(db, &c->store);
        if (r < 0)
                return log_error_errno(r, "Failed to open the store %s: %s. Move it aside to start afresh, or fix its permissions.",
                                       db, store_last_error(NULL));

        r = conductor_setup_runner(c, event, config);
        if (r < 0)
                return r;

        r = conductor_schedule_setup(c);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the scheduler: %m");

        r = conductor_load_instruments(c);
        if (r < 0)
                return r;
        r = conductor_set_exec_search_path(c, NULL);
        if (r < 0)
                return r;

        log_info("Conductor state in %s; sheets run in %s mode%s%s; at most %u at once.",
                 c->state_dir, runner_mode_to_string(runner_get_mode(c->runner)),
                 runner_get_cgroup_dir(c->runner) ? " under " : "", strempty(runner_get_cgroup_dir(c->runner)),
                 c->config.max_concurrent_sheets);

        *ret = TAKE_PTR(c);
        return 0;
}

Conductor *conductor_free(Conductor *c) {
        if (!c)
                return NULL;
        c->shutting_down = true;
        conductor_stop_hooks(c);
        /* pings waiting for the controller are answered while the jobs
         * they report on are still there */
        conductor_cancel_pings(c);
        for (size_t i = 0; i < c->n_jobs; i++)
                job_free(c->jobs[i]);
        free(c->jobs);
        sd_event_source_disable_unref(c->schedule_source);
        conductor_free_runners(c);
        instrument_registry_free(c->instruments);
        for (size_t i = 0; i < c->n_instrument_blocks; i++)
                free(c->instrument_blocks[i].profile);
        free(c->instrument_blocks);
        store_close(c->store);
        sd_event_unref(c->event);
        free(c->state_dir);
        free(c->log_dir);
        free(c->exec_search_path);
        free(c);
        return NULL;
}

int conductor_plan_command(Conductor *c, const Score *s, unsigned num, const char *prompt,
                           char **ret_instrument, char ***ret_argv, const char **ret_delivery, char **ret_error) {
        return score_plan_command(s, num, c->instruments, c->exec_search_path, prompt,
                                  ret_instrument, ret_argv, ret_delivery, ret_error);
}

int conductor_set_exec_search_path(Conductor *c, const char *path) {
        return free_and_strdup(&c->exec_search_path, path ?: DEFAULT_EXEC_SEARCH_PATH);
}

RunnerMode conductor_runner_mode(Conductor *c) {
        return runner_get_mode(c->runner);
}

size_t conductor_n_jobs(Conductor *c) {
        return c->n_jobs;
}

Job *conductor_job_at(Conductor *c, size_t i) {
        return i < c->n_jobs ? c->jobs[i] : NULL;
}

Job *conductor_get_job(Conductor *c, const char *id) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (streq(c->jobs[i]->rec.id, id))
                        return c->jobs[i];
        return NULL;
}

static int find_by_name(Conductor *c, const char *name, uid_t owner, Job **ret) {
        Job *found = NULL;

        for (size_t i = 0; i < c->n_jobs; i++) {
                if (!streq(c->jobs[i]->rec.name, name))
                        continue;
                if (owner != (uid_t) -1 && c->jobs[i]->rec.owner_uid != owner)
                        continue;
                if (found)
                        return -ENOTUNIQ;
                found = c->jobs[i];
        }
        if (!found)
                return -ENOENT;
        *ret = found;
        return 0;
}

int conductor_find_job(Conductor *c, const char *id_or_name, uid_t caller, Job **ret) {
        Job *found;
        int r;

        found = conductor_get_job(c, id_or_name);
        if (found) {
                *ret = found;
                return 0;
        }
        /* A name means the caller's own job first: another user's job of
         * the same name neither hides it nor stands in for it. */
        if (caller != (uid_t) -1) {
                r = find_by_name(c, id_or_name, caller, ret);
                if (r != -ENOENT)
                        return r;
        }
        return find_by_name(c, id_or_name, (uid_t) -1, ret);
}

void job_notify_changed(Job *j) {
        Conductor *c = j->conductor;

        if (c->observer.job_changed)
                c->observer.job_changed(j, c->userdata);
}

static int conductor_add_job(Conductor *c, Job *j) {
        Job **t = realloc(c->jobs, sizeof(Job *) * (c->n_jobs + 1));

        if (!t)
                return -ENOMEM;
        t[c->n_jobs++] = j;
        c->jobs = t;
        return 0;
}

static void conductor_remove_job(Conductor *c, Job *j) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i] == j) {
                        memmove(c->jobs + i, c->jobs + i + 1, sizeof(Job *) * (c->n_jobs - i - 1));
                        c->n_jobs--;
                        return;
                }
}

/* ---- reading and checking scores -------------------------------------- */

static bool path_has_dotdot(const char *path) {
        for (const char *p = path; (p = strstr(p, "..")); p += 2)
                if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
                        return true;
        return false;
}

static int apply_options(Score *s, const StartOptions *o, char **ret_error) {
        if (o->workspace) {
                if (o->workspace[0] != '/' || path_has_dotdot(o->workspace)) {
                        *ret_error = strdup_printf("workspace override '%s' must be an absolute path without '..'", o->workspace);
                        return -EINVAL;
                }
                if (free_and_strdup(&s->workspace, o->workspace) < 0)
                        return -ENOMEM;
        }
        if (o->start_sheet > s->n_sheets) {
                *ret_error = strdup_printf("start sheet %u is beyond the score's %zu sheets", o->start_sheet, s->n_sheets);
                return -EINVAL;
        }
        return 0;
}

static int check_score_path(const char *path, char **ret_error) {
        if (isempty(path)) {
                *ret_error = strdup("no score path given");
                return -EINVAL;
        }
        if (path[0] != '/') {
                *ret_error = strdup_printf("score path '%s' must be absolute", path);
                return -EINVAL;
        }
        if (path_has_dotdot(path)) {
                *ret_error = strdup_printf("score path '%s' must not contain '..'", path);
                return -EINVAL;
        }
        if (!endswith(path, ".yaml") && !endswith(path, ".yml")) {
                *ret_error = strdup_printf("score path '%s' is not a YAML file (.yaml or .yml)", path);
                return -EINVAL;
        }
        return 0;
}

static int read_score_path(Conductor *c, const Identity *who, const char *path, char **ret_yaml, char **ret_error) {
        int r;

        r = check_score_path(path, ret_error);
        if (r < 0)
                return r;
        /* With the caller's rights, never ours: a score the caller could
         * not read is not read. */
        r = identity_read_file(who, path, c->config.limits.max_score_bytes, ret_yaml, NULL);
        if (r == -EFBIG)
                *ret_error = strdup_printf("score %s is larger than the limit of %zu bytes", path, c->config.limits.max_score_bytes);
        else if (r == -EISDIR || r == -EINVAL)
                *ret_error = strdup_printf("score %s is not a regular file", path);
        else if (r < 0)
                *ret_error = strdup_printf("cannot read score %s as uid %u: %s", path, (unsigned) who->uid, strerror(-r));
        return r;
}

static int read_as_owner(const char *path, size_t max, char **ret, size_t *ret_size, void *userdata) {
        return identity_read_file(userdata, path, max, ret, ret_size);
}

static int parse_score(Conductor *c, const Identity *who, const char *yaml, const char *source, const char *base_dir,
                       const StartOptions *o, Score **ret, char **ret_error) {
        _cleanup_score_free_ Score *s = NULL;
        ScoreLimits limits = c->config.limits;
        int r;

        limits.read_file = read_as_owner;
        limits.read_file_userdata = (void *) who;

        if (strlen(yaml) > c->config.limits.max_score_bytes) {
                *ret_error = strdup_printf("score is larger than the limit of %zu bytes", c->config.limits.max_score_bytes);
                return -EFBIG;
        }
        r = score_parse_string(yaml, strlen(yaml), source, base_dir, &limits, &s, ret_error);
        if (r < 0)
                return r;
        r = apply_options(s, o, ret_error);
        if (r < 0)
                return r;
        r = conductor_resolve_runner(c, s, ret_error);
        if (r < 0)
                return r;

        /* the instruments this conductor has, found where sheets look */
        {
                ScoreDiagnostic d = {};

                r = score_check_instruments(s, c->instruments, c->exec_search_path, &d);
                if (r < 0) {
                        *ret_error = d.message ? score_diagnostic_format(&d) : NULL;
                        score_diagnostic_done(&d);
                        return r;
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int content_base_dir(const Identity *who, const StartOptions *o, char **ret, char **ret_error) {
        if (o->base_dir) {
                if (o->base_dir[0] != '/' || path_has_dotdot(o->base_dir)) {
                        *ret_error = strdup_printf("base directory '%s' must be an absolute path without '..'", o->base_dir);
                        return -EINVAL;
                }
                *ret = strdup(o->base_dir);
        } else
                /* like a shell started at login: relative paths land at home */
                *ret = strdup(who->home);
        return *ret ? 0 : -ENOMEM;
}

/* Parse the text of a score file; relative paths in it resolve against
 * its directory.  The text moves to *ret_yaml when asked for. */
static int parse_score_text(Conductor *c, const Identity *who, char **yaml, const char *path,
                            const StartOptions *o, char **ret_yaml, Score **ret, char **ret_error) {
        _cleanup_free_ char *dir = strdup(path);
        int r;

        if (!dir)
                return -ENOMEM;
        r = parse_score(c, who, *yaml, path, dirname(dir), o, ret, ret_error);
        if (r < 0)
                return r;
        if (ret_yaml)
                *ret_yaml = TAKE_PTR(*yaml);
        return 0;
}

/* Read and parse a score file. */
static int load_score_path(Conductor *c, const Identity *who, const char *path, const StartOptions *o,
                           char **ret_yaml, Score **ret, char **ret_error) {
        _cleanup_free_ char *yaml = NULL;
        int r;

        r = read_score_path(c, who, path, &yaml, ret_error);
        if (r < 0)
                return r;
        return parse_score_text(c, who, &yaml, path, o, ret_yaml, ret, ret_error);
}

static int load_score_content(Conductor *c, const Identity *who, const char *yaml, const StartOptions *o,
                              Score **ret, char **ret_error) {
        _cleanup_free_ char *base = NULL;
        int r;

        r = content_base_dir(who, o, &base, ret_error);
        if (r < 0)
                return r;
        return parse_score(c, who, yaml, "<inline>", base, o, ret, ret_error);
}

static int load_caller(const StartOptions *o, Identity *ret, char **ret_error) {
        int r = identity_load(o->owner_uid, o->owner_gid, ret);

        if (r < 0)
                *ret_error = strdup_printf("cannot look up uid %u: %s", (unsigned) o->owner_uid, strerror(-r));
        return r;
}

static int conductor_create_job(Conductor *c, Identity *owner, Score *score, const char *yaml, const char *score_path,
                                const StartOptions *o, Job **ret, char **ret_error);

/* A score the caller opened itself and passed as a file descriptor: read
 * as it is, so the caller's rights decided what could be opened; path
 * names it in messages and says what relative paths resolve against. */
static int load_score_fd(Conductor *c, const Identity *who, int fd, const char *path, const StartOptions *o,
                         char **ret_yaml, Score **ret, char **ret_error) {
        _cleanup_free_ char *yaml = NULL;
        int r;

        r = check_score_path(path, ret_error);
        if (r < 0)
                return r;
        /* in a child as the caller, bounded in time: the fd may be on a
         * FUSE mount of theirs that never answers */
        r = identity_read_fd(who, fd, c->config.limits.max_score_bytes, &yaml, NULL);
        if (r == -EFBIG)
                *ret_error = strdup_printf("score %s is larger than the limit of %zu bytes", path, c->config.limits.max_score_bytes);
        else if (r == -EISDIR || r == -EINVAL)
                *ret_error = strdup_printf("the file descriptor for %s is not a regular file", path);
        else if (r == -EBADF)
                *ret_error = strdup_printf("the file descriptor for %s is not open for reading", path);
        else if (r < 0)
                *ret_error = strdup_printf("cannot read score %s from its file descriptor: %s", path, strerror(-r));
        if (r < 0)
                return r == -EBADF ? -EINVAL : r;
        return parse_score_text(c, who, &yaml, path, o, ret_yaml, ret, ret_error);
}

int conductor_plan_fd(Conductor *c, int fd, const char *path, const StartOptions *o, Score **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        return load_score_fd(c, &who, fd, path, o, NULL, ret, ret_error);
}

int conductor_start_fd(Conductor *c, int fd, const char *path, const StartOptions *o, Job **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        _cleanup_free_ char *yaml = NULL;
        Score *s = NULL;
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        r = load_score_fd(c, &who, fd, path, o, &yaml, &s, ret_error);
        if (r < 0)
                return r;
        return conductor_create_job(c, &who, s, yaml, path, o, ret, ret_error);
}

int conductor_plan_path(Conductor *c, const char *path, const StartOptions *o, Score **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        return load_score_path(c, &who, path, o, NULL, ret, ret_error);
}

int conductor_plan_content(Conductor *c, const char *yaml, const StartOptions *o, Score **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        return load_score_content(c, &who, yaml, o, ret, ret_error);
}

/* ---- creating jobs ---------------------------------------------------- */

static int job_new(Conductor *c, Job **ret) {
        Job *j = calloc(1, sizeof(Job));

        if (!j)
                return -ENOMEM;
        j->conductor = c;
        *ret = j;
        return 0;
}

DEFINE_CLEANUP_FUNC(Job *, job_free);

static int job_alloc_sheets(Job *j, unsigned n) {
        j->rec.total_sheets = n;
        j->sheets = calloc(MAX(n, 1u), sizeof(SheetRecord));
        j->runtime = calloc(MAX(n, 1u), sizeof(SheetRuntime));
        return j->sheets && j->runtime ? 0 : -ENOMEM;
}

static int conductor_create_job(Conductor *c, Identity *owner /* moved into the job */, Score *score /* takes */,
                                const char *yaml, const char *score_path,
                                const StartOptions *o, Job **ret, char **ret_error) {
        _cleanup_score_free_ Score *s = score;
        _cleanup_(job_freep) Job *j = NULL;
        uint64_t n;
        int r;

        /* Refuse a score whose prompts cannot render now rather than fail
         * its sheets one by one later: nothing they depend on changes. */
        for (size_t i = 0, total = 0; i < s->n_sheets; i++) {
                _cleanup_free_ char *prompt = NULL, *error = NULL;

                r = score_render_prompt(s, s->sheets[i].num, &prompt, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        *ret_error = strdup_printf("sheet %u: prompt does not render: %s",
                                                   s->sheets[i].num, error ?: strerror(-r));
                        return r == -E2BIG ? r : -EINVAL;
                }
                /* a small score can expand into gigabytes of prompts, and
                 * this runs on the conductor's only thread */
                total += strlen(prompt);
                if (total > PROMPTS_TOTAL_MAX) {
                        *ret_error = strdup_printf("the prompts of this score render to more than %u MiB "
                                                   "(at sheet %u of %zu)", PROMPTS_TOTAL_MAX >> 20,
                                                   s->sheets[i].num, s->n_sheets);
                        return -E2BIG;
                }
        }

        /* one user cannot fill the conductor for everyone else */
        {
                unsigned active = 0;

                for (size_t i = 0; i < c->n_jobs; i++)
                        if (c->jobs[i]->rec.owner_uid == owner->uid && job_state_is_active(c->jobs[i]->rec.state))
                                active++;
                if (active >= c->config.max_active_jobs_per_user) {
                        *ret_error = strdup_printf("uid %u already has %u active jobs, the most this conductor allows "
                                                   "(--max-jobs-per-user=); wait for some to finish or cancel them",
                                                   (unsigned) owner->uid, active);
                        return -E2BIG;
                }
        }

        /* As the owner: a workspace through a symlink into a place the owner
         * may not write fails here and nothing is created there. */
        r = identity_mkdir_p(owner, s->workspace, 0755);
        if (r < 0) {
                *ret_error = strdup_printf("cannot create or write workspace %s as uid %u: %s",
                                           s->workspace, (unsigned) owner->uid, strerror(-r));
                return r == -EACCES || r == -EPERM || r == -EROFS ? -EACCES : r;
        }

        r = job_new(c, &j);
        if (r < 0)
                return r;
        j->owner = *owner;
        *owner = (Identity) {};
        r = store_next_job_number(c->store, &n);
        if (r < 0) {
                *ret_error = strdup_printf("cannot allocate a job id in the store: %s", store_last_error(c->store));
                return r;
        }
        j->rec = (JobRecord) {
                .id = job_make_id(s->name, n),
                .name = strdup(s->name),
                .score_path = score_path ? strdup(score_path) : NULL,
                .score_yaml = strdup(yaml),
                .base_dir = strdup(s->base_dir),
                .workspace = strdup(s->workspace),
                .state = JOB_QUEUED,
                .owner_uid = j->owner.uid,
                .owner_gid = j->owner.gid,     /* as resolved: the bus may not have told us */
                .self_healing = o->self_healing,
                .start_sheet = MAX(o->start_sheet, 1u),
                .created_at = now_usec(CLOCK_REALTIME),
                .parent_job = o->parent_job ? strdup(o->parent_job) : NULL,
                .chain_depth = o->chain_depth,
        };
        if (!j->rec.id || !j->rec.name || (score_path && !j->rec.score_path) || !j->rec.score_yaml ||
            !j->rec.base_dir || !j->rec.workspace || (o->parent_job && !j->rec.parent_job))
                return -ENOMEM;

        r = job_alloc_sheets(j, (unsigned) s->n_sheets);
        if (r < 0)
                return r;
        j->score = TAKE_PTR(s);
        job_prepare_graph(j);
        for (unsigned i = 0; i < j->rec.total_sheets; i++) {
                SheetRecord *sr = &j->sheets[i];

                sr->num = i + 1;
                sr->stage = j->score->sheets[i].stage;
                sr->instance = j->score->sheets[i].instance;
                sr->validation_passed = -1;
                if (j->runtime[i].before_start) {
                        sr->state = SHEET_SKIPPED;
                        sr->error_message = strdup_printf("before start sheet %u", j->rec.start_sheet);
                        sr->error_category = strdup("start_sheet");
                } else
                        sr->state = SHEET_PENDING;
                j->counts[sr->state]++;
        }

        r = store_insert_job(c->store, &j->rec, j->sheets, j->rec.total_sheets);
        if (r < 0) {
                *ret_error = strdup_printf("cannot store the job: %s", store_last_error(c->store));
                return r;
        }
        r = conductor_add_job(c, j);
        if (r < 0) {
                (void) store_delete_job(c->store, j->rec.id);
                return r;
        }

        log_job(LOG_NOTICE, j->rec.id, "Job %s (%s) accepted: %u sheets, workspace %s, owner uid %u.",
                j->rec.id, j->rec.name, j->rec.total_sheets, j->rec.workspace, j->rec.owner_uid);
        for (size_t i = 0; j->score && i < strv_length(j->score->warnings); i++)
                log_job(LOG_WARNING, j->rec.id, "%s", j->score->warnings[i]);

        if (c->observer.job_added)
                c->observer.job_added(j, c->userdata);
        job_release_ready(j);
        job_check_finished(j);  /* a start sheet past every sheet leaves nothing to do */
        conductor_schedule(c);

        *ret = TAKE_PTR(j);
        return 0;
}

int conductor_start_path(Conductor *c, const char *path, const StartOptions *o, Job **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        _cleanup_free_ char *yaml = NULL;
        Score *s = NULL;
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        r = load_score_path(c, &who, path, o, &yaml, &s, ret_error);
        if (r < 0)
                return r;
        return conductor_create_job(c, &who, s, yaml, path, o, ret, ret_error);
}

int conductor_start_content(Conductor *c, const char *yaml, const StartOptions *o, Job **ret, char **ret_error) {
        _cleanup_(identity_done) Identity who = {};
        Score *s = NULL;
        int r;

        r = load_caller(o, &who, ret_error);
        if (r < 0)
                return r;
        r = load_score_content(c, &who, yaml, o, &s, ret_error);
        if (r < 0)
                return r;
        return conductor_create_job(c, &who, s, yaml, NULL, o, ret, ret_error);
}

/* ---- reloading -------------------------------------------------------- */

static int job_reload_score(Job *j) {
        Conductor *c = j->conductor;
        _cleanup_free_ char *error = NULL;
        ScoreLimits limits = c->config.limits;
        Score *s = NULL;
        int r;

        r = identity_load(j->rec.owner_uid, j->rec.owner_gid, &j->owner);
        if (r < 0) {
                free(j->rec.error);
                j->rec.error = strdup_printf("cannot look up the owner uid %u: %s", j->rec.owner_uid, strerror(-r));
                return r;
        }
        limits.read_file = read_as_owner;
        limits.read_file_userdata = &j->owner;
        r = score_parse_string(j->rec.score_yaml, strlen(j->rec.score_yaml),
                               j->rec.score_path ?: "<inline>", j->rec.base_dir, &limits, &s, &error);
        if (r >= 0 && s->n_sheets != j->rec.total_sheets) {
                error = strdup_printf("score now has %zu sheets, the job was created with %u", s->n_sheets, j->rec.total_sheets);
                score_free(s);
                r = -EINVAL;
        }
        if (r < 0) {
                free(j->rec.error);
                j->rec.error = strdup_printf("cannot reload the score: %s", error ?: strerror(-r));
                return r;
        }
        (void) free_and_strdup(&s->workspace, j->rec.workspace);
        r = conductor_resolve_runner(c, s, &error);
        if (r < 0) {
                free(j->rec.error);
                j->rec.error = strdup_printf("cannot run the score here any more: %s", error ?: strerror(-r));
                score_free(s);
                return r;
        }
        j->score = s;
        return 0;
}

/* The previous conductor died while this attempt ran and nothing of it
 * can be followed: make sure nothing of it survives, and say so in the
 * record. */
static void job_interrupt_attempt(Job *j, AttemptRecord *a) {
        Conductor *c = j->conductor;
        int r;

        r = runner_kill_stale(c->runner, (pid_t) a->pid, a->pid_starttime, a->cgroup);
        if (r > 0)
                log_sheet(LOG_NOTICE, j->rec.id, a->sheet,
                          "Killed what was left of sheet %u attempt %u of job %s from before the restart.",
                          a->sheet, a->attempt, j->rec.id);
        a->finished_at = now_usec(CLOCK_REALTIME);
        (void) free_and_strdup(&a->outcome, "interrupted");
        r = store_save_attempt(c->store, j->rec.id, a);
        if (r < 0)
                log_error_errno(r, "Failed to record interrupted attempt of job %s: %s",
                                j->rec.id, store_last_error(c->store));
}

/* Attempts that ran in units of the service manager: follow those still
 * there to their end; a unit that is gone never started or was removed
 * by hand, and its attempt counts as interrupted.  A job that cannot go
 * on (broken) stops them. */
static void job_adopt_attempts(Job *j, bool broken) {
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];
                SheetState s = j->sheets[i].state;
                unsigned num = (unsigned) i + 1;
                int r;

                if (!rt->attempt.unit || rt->attempt.outcome || rt->attempt.attempt == 0)
                        continue;
                r = job_adopt_attempt(j, num);
                if (r < 0) {
                        if (r != -ENOENT)
                                log_sheet(LOG_WARNING, j->rec.id, num, "Cannot follow %s of sheet %u of job %s: %s",
                                          rt->attempt.unit, num, j->rec.id, strerror(-r));
                        job_interrupt_attempt(j, &rt->attempt);
                        rt->interrupted++;
                        continue;
                }
                if (broken || !(s == SHEET_DISPATCHED || s == SHEET_IN_PROGRESS || s == SHEET_WAITING)) {
                        r = run_handle_kill(rt->handle);
                        if (r < 0)
                                log_sheet(LOG_ERR, j->rec.id, num, "Failed to stop %s: %s", rt->attempt.unit, strerror(-r));
                }
        }
}

static int job_load(Conductor *c, JobRecord *rec /* moved */, Job **ret) {
        _cleanup_(job_freep) Job *j = NULL;
        SheetRecord *sheets = NULL;
        AttemptRecord *attempts = NULL;
        size_t n_sheets = 0, n_attempts = 0;
        int r;

        r = job_new(c, &j);
        if (r < 0)
                return r;
        j->rec = *rec;
        *rec = (JobRecord) {};

        r = store_load_sheets(c->store, j->rec.id, &sheets, &n_sheets);
        if (r < 0)
                return log_error_errno(r, "Failed to load the sheets of job %s: %s", j->rec.id, store_last_error(c->store));
        if (n_sheets != j->rec.total_sheets) {
                for (size_t i = 0; i < n_sheets; i++)
                        sheet_record_done(&sheets[i]);
                free(sheets);
                return log_error_errno(EBADMSG, "Job %s has %zu sheets stored, %u expected; skipping it.",
                                       j->rec.id, n_sheets, j->rec.total_sheets);
        }
        j->sheets = sheets;
        j->runtime = calloc(MAX(n_sheets, (size_t) 1), sizeof(SheetRuntime));
        if (!j->runtime)
                return -ENOMEM;
        for (size_t i = 0; i < n_sheets; i++) {
                j->counts[j->sheets[i].state]++;
                if (sheet_state_is_terminal(j->sheets[i].state) || job_state_is_terminal(j->rec.state)) {
                        free(j->sheets[i].stdout_tail);
                        free(j->sheets[i].stderr_tail);
                        free(j->sheets[i].validation_details);
                        j->sheets[i].stdout_tail = j->sheets[i].stderr_tail = j->sheets[i].validation_details = NULL;
                }
        }

        if (job_state_is_terminal(j->rec.state)) {
                free(j->rec.score_yaml);
                j->rec.score_yaml = NULL;
                job_prepare_graph(j);
                *ret = TAKE_PTR(j);
                return 0;
        }

        r = store_load_attempts(c->store, j->rec.id, &attempts, &n_attempts);
        if (r < 0)
                return log_error_errno(r, "Failed to load the attempts of job %s: %s", j->rec.id, store_last_error(c->store));

        for (size_t i = 0; i < n_attempts; i++) {
                AttemptRecord *a = &attempts[i];
                SheetRuntime *rt;

                if (a->sheet < 1 || a->sheet > j->rec.total_sheets)
                        continue;
                rt = &j->runtime[a->sheet - 1];
                if (!a->outcome && a->unit) {
                        /* in a unit it may well run on: adopted below */
                        attempt_record_done(&rt->attempt);
                        rt->attempt = *a;
                        *a = (AttemptRecord) {};
                        continue;
                }
                if (!a->outcome)
                        job_interrupt_attempt(j, a);
                if (a->outcome && streq(a->outcome, "interrupted"))
                        rt->interrupted++;
        }
        for (size_t i = 0; i < n_attempts; i++)
                attempt_record_done(&attempts[i]);
        free(attempts);

        r = job_reload_score(j);
        job_prepare_graph(j);
        job_adopt_attempts(j, r < 0);
        if (r < 0) {
                log_job(LOG_ERR, j->rec.id, "Job %s cannot continue: %s", j->rec.id, j->rec.error);
                *ret = TAKE_PTR(j);
                return 1; /* loaded, but must fail */
        }

        *ret = TAKE_PTR(j);
        return 0;
}

static void job_resume_after_load(Job *j, bool broken) {
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRecord *sr = &j->sheets[i];
                unsigned num = (unsigned) i + 1;

                if (j->runtime[i].adopted && !broken) {
                        /* its unit's end decides; the previous conductor may
                         * have died between starting it and recording that */
                        if (sr->state == SHEET_DISPATCHED && !startswith(j->runtime[i].attempt.unit, "slurm:"))
                                (void) sheet_set_state(j, num, SHEET_IN_PROGRESS);
                        continue;
                }
                switch (sr->state) {
                case SHEET_DISPATCHED:
                case SHEET_IN_PROGRESS:
                case SHEET_WAITING:
                        (void) free_and_strdup(&sr->exit_reason, "interrupted");
                        (void) sheet_set_state(j, num, broken ? SHEET_CANCELLED : SHEET_READY);
                        log_sheet(LOG_NOTICE, j->rec.id, num,
                                  "Sheet %u of job %s was running when the conductor stopped; %s.",
                                  num, j->rec.id, broken ? "cancelled" : "requeued");
                        break;
                case SHEET_RETRY_SCHEDULED:
                        if (broken)
                                (void) sheet_set_state(j, num, SHEET_CANCELLED);
                        else
                                (void) job_arm_retry_timer(j, num);
                        break;
                case SHEET_PENDING:
                case SHEET_READY:
                        if (broken)
                                (void) sheet_set_state(j, num, SHEET_CANCELLED);
                        break;
                default:
                        break;
                }
        }

        if (broken) {
                (void) job_set_state(j, JOB_FAILED);
                job_drop_score(j);
                return;
        }
        job_release_ready(j);
        job_check_finished(j);
}

int conductor_load(Conductor *c) {
        JobRecord *recs = NULL;
        size_t n = 0;
        int r;

        r = store_load_jobs(c->store, &recs, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to load jobs from the store: %s", store_last_error(c->store));

        for (size_t i = 0; i < n; i++) {
                Job *j = NULL;
                int k;

                k = job_load(c, &recs[i], &j);
                job_record_done(&recs[i]);
                if (k < 0)
                        continue;
                if (conductor_add_job(c, j) < 0) {
                        job_free(j);
                        r = log_oom();
                        break;
                }
                if (!job_state_is_terminal(j->rec.state))
                        job_resume_after_load(j, k > 0);
        }
        for (size_t i = 0; i < n; i++)
                job_record_done(&recs[i]);
        free(recs);

        /* loading reads every sheet row; hand the transient memory back */
        store_release_memory(c->store);
        (void) malloc_trim(0);
        log_info("Loaded %zu jobs from the store.", c->n_jobs);
        conductor_schedule(c);
        return r < 0 ? r : 0;
}

/* ---- lifecycle operations --------------------------------------------- */

int conductor_pause_job(Conductor *c, Job *j) {
        int r;

        (void) c;
        if (j->rec.state != JOB_RUNNING && j->rec.state != JOB_QUEUED)
                return -EBUSY;
        r = job_set_state(j, JOB_PAUSED);
        if (r < 0)
                return r;
        /* Freezing is best effort per sheet; a sheet that cannot be frozen
         * keeps running and the journal says why. */
        (void) job_freeze_all(j);
        return 0;
}

int conductor_resume_job(Conductor *c, Job *j) {
        int r;

        if (j->rec.state != JOB_PAUSED)
                return -EBUSY;
        (void) job_thaw_all(j);
        r = job_set_state(j, j->rec.started_at > 0 ? JOB_RUNNING : JOB_QUEUED);
        if (r < 0)
                return r;
        conductor_schedule(c);
        return 0;
}

int conductor_cancel_job(Conductor *c, Job *j) {
        int r;

        if (job_state_is_terminal(j->rec.state))
                return -EBUSY;
        job_kill_all(j);
        free(j->rec.error);
        j->rec.error = strdup("cancelled");
        r = job_set_state(j, JOB_CANCELLED);
        job_drop_score(j);
        job_notify_changed(j);
        conductor_schedule(c);
        return r;
}

static int rm_rf_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s: %m", path);
        return 0;
}

static void remove_job_logs(Conductor *c, const char *id) {
        _cleanup_free_ char *dir = strdup_printf("%s/%s", c->log_dir, id);

        if (dir && nftw(dir, rm_rf_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove logs %s: %m", dir);
}

int conductor_delete_job(Conductor *c, Job *j) {
        int r;

        if (!job_state_is_terminal(j->rec.state))
                return -EBUSY;
        r = store_delete_job(c->store, j->rec.id);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to delete job %s from the store: %s", j->rec.id, store_last_error(c->store));
        remove_job_logs(c, j->rec.id);
        log_job(LOG_NOTICE, j->rec.id, "Job %s (%s) deleted.", j->rec.id, j->rec.name);

        if (c->observer.job_removed)
                c->observer.job_removed(j, c->userdata);
        conductor_remove_job(c, j);
        job_free(j);
        conductor_schedule(c);          /* slots of attempts still dying are free again */
        return 0;
}

int conductor_clear_jobs(Conductor *c, uid_t owner, unsigned states_mask, usec_t older_than_usec, unsigned *ret_deleted) {
        usec_t now = now_usec(CLOCK_REALTIME);
        unsigned deleted = 0;
        int r;

        if (states_mask == 0)
                states_mask = (1u << JOB_COMPLETED) | (1u << JOB_FAILED) | (1u << JOB_CANCELLED);

        for (size_t i = c->n_jobs; i > 0; i--) {
                Job *j = c->jobs[i - 1];

                if (!job_state_is_terminal(j->rec.state) || !(states_mask & (1u << j->rec.state)))
                        continue;
                if (owner != (uid_t) -1 && j->rec.owner_uid != owner)
                        continue;
                if (older_than_usec > 0 && (j->rec.finished_at == 0 || now - MIN(now, j->rec.finished_at) < older_than_usec))
                        continue;
                r = conductor_delete_job(c, j);
                if (r < 0)
                        return r;
                deleted++;
        }
        *ret_deleted = deleted;
        return 0;
}

/* ---- status ----------------------------------------------------------- */

static uint64_t self_rss_bytes(void) {
        _cleanup_free_ char *statm = NULL;
        unsigned long size = 0, resident = 0;

        if (read_full_file("/proc/self/statm", 4096, &statm, NULL) < 0)
                return 0;
        /* procfs files report size 0: read_full_fd refuses non-regular only */
        if (sscanf(statm, "%lu %lu", &size, &resident) != 2)
                return 0;
        return (uint64_t) resident * (uint64_t) sysconf(_SC_PAGESIZE);
}

void conductor_get_status(Conductor *c, ConductorStatus *ret) {
        *ret = (ConductorStatus) {
                .pid = getpid(),
                .started_at = c->started_at,
                .uptime_usec = now_usec(CLOCK_MONOTONIC) - c->started_at_monotonic,
                .running_sheets = c->running_sheets,
                .max_concurrent_sheets = c->config.max_concurrent_sheets,
                .max_active_jobs_per_user = c->config.max_active_jobs_per_user,
                .memory_bytes = self_rss_bytes(),
                .mode = runner_get_mode(c->runner),
                .state_dir = c->state_dir,
        };
        for (size_t i = 0; i < c->n_jobs; i++) {
                JobState s = c->jobs[i]->rec.state;

                if (s == JOB_RUNNING)
                        ret->running_jobs++;
                if (job_state_is_active(s))
                        ret->active_jobs++;
        }
}

int conductor_job_health(Conductor *c, Job *j, JobHealth *ret) {
        usec_t oldest = USEC_INFINITY;

        *ret = (JobHealth) {
                .pid = job_state_is_active(j->rec.state) ? getpid() : 0,
        };
        for (size_t i = 0; i < j->rec.total_sheets; i++) {
                SheetRuntime *rt = &j->runtime[i];
                RunStats st;

                if (!rt->handle || run_handle_stats(rt->handle, &st) < 0)
                        continue;
                ret->running_sheets++;
                ret->alive = ret->alive || st.alive;
                ret->zombie = ret->zombie || st.zombie;
                ret->n_processes += st.n_processes;
                ret->cpu_percent += st.cpu_percent;
                ret->memory_bytes += st.memory_bytes;
                /* the job's pid is the main process of its longest-running sheet */
                if (rt->attempt.started_at < oldest) {
                        oldest = rt->attempt.started_at;
                        ret->pid = st.pid;
                }
        }
        ret->exists = ret->n_processes > 0;
        if (j->rec.started_at > 0) {
                usec_t end = j->rec.finished_at > 0 ? j->rec.finished_at : now_usec(CLOCK_REALTIME);
                ret->uptime_usec = end - MIN(end, j->rec.started_at);
        }
        (void) c;
        return 0;
}

int conductor_get_sheet(Conductor *c, Job *j, unsigned num, SheetRecord *ret) {
        SheetRecord *sheets = NULL;
        size_t n = 0;
        int r;

        if (num < 1 || num > j->rec.total_sheets)
                return -ERANGE;
        r = store_load_sheets(c->store, j->rec.id, &sheets, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to load sheets of job %s: %s", j->rec.id, store_last_error(c->store));
        r = -ERANGE;
        for (size_t i = 0; i < n; i++) {
                if (sheets[i].num == num && r < 0) {
                        *ret = sheets[i];
                        r = 0;
                } else
                        sheet_record_done(&sheets[i]);
        }
        free(sheets);
        return r;
}

char *conductor_sheet_log_path(Conductor *c, Job *j, unsigned num, const char *stream) {
        if (num < 1 || num > j->rec.total_sheets || j->sheets[num - 1].attempt_count == 0)
                return NULL;
        return strdup_printf("%s/%s/sheet-%u.attempt-%u.%s", c->log_dir, j->rec.id, num,
                             j->sheets[num - 1].attempt_count, stream);
}

void *conductor_get_userdata(Conductor *c) {
        return c->userdata;
}

int conductor_set_limits(Conductor *c, unsigned max_concurrent_sheets, unsigned max_active_jobs_per_user) {
        if (max_concurrent_sheets > 100000 || max_active_jobs_per_user > 100000)
                return -ERANGE;
        if (max_concurrent_sheets > 0)
                c->config.max_concurrent_sheets = max_concurrent_sheets;
        if (max_active_jobs_per_user > 0)
                c->config.max_active_jobs_per_user = max_active_jobs_per_user;
        log_notice("Limits now: at most %u sheets at once, %u active jobs per user.",
                   c->config.max_concurrent_sheets, c->config.max_active_jobs_per_user);
        conductor_schedule(c);
        return 0;
}

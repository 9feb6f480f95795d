/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.marianne.Conductor at /org/marianne/Conductor: argument checking and
 * marshalling over the conductor core, and the signals it reports. */

#include <systemd/sd-daemon.h>

#include "bus-errors.h"
#include "daemon.h"
#include "job.h"
#include "log.h"
#include "score-instruments.h"
#include "template.h"

#ifndef MARIANNE_VERSION
#define MARIANNE_VERSION "0.0.0"
#endif

#define ARGUMENT_MAX (64U * 1024U)      /* paths, names, option strings */

static int read_bounded_string(sd_bus_message *m, const char **ret, const char *what, size_t max, sd_bus_error *error) {
        const char *s = NULL;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        if (strlen(s) > max)
                return sd_bus_error_setf(error, BUS_ERROR_LIMIT_EXCEEDED, "%s is longer than %zu bytes.", what, max);
        *ret = s;
        return 0;
}

typedef struct StartRequest {
        StartOptions options;
        bool interactive;       /* the caller allows polkit to ask for a password */
} StartRequest;

static int read_start_options(sd_bus_message *m, StartRequest *req, bool content, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key, *s;
                uint32_t u;
                int b;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;

                if (streq(key, "workspace") || (content && streq(key, "base_dir"))) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be a string (s).", key);
                        if (strlen(s) > ARGUMENT_MAX || s[0] != '/')
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option '%s' must be an absolute path.", key);
                        if (streq(key, "workspace"))
                                req->options.workspace = s;
                        else
                                req->options.base_dir = s;
                } else if (streq(key, "start_sheet")) {
                        r = sd_bus_message_read(m, "v", "u", &u);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'start_sheet' must be an unsigned integer (u).");
                        if (u < 1)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option 'start_sheet' counts from 1.");
                        req->options.start_sheet = u;
                } else if (streq(key, "self_healing") || streq(key, "interactive")) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option '%s' must be a boolean (b).", key);
                        if (streq(key, "self_healing"))
                                req->options.self_healing = b;
                        else
                                req->interactive = b;
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s'%s.", key,
                                                 streq(key, "dry_run") ? "; for a dry run call PlanJob" : "");
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

/* The job will run as the caller, so starting one needs no more than
 * polkit's start-job (allowed to active local users by default). */
static int start_authorize(sd_bus_message *m, Daemon *d, StartRequest *req, sd_bus_error *error) {
        int r;

        r = bus_caller(m, &req->options.owner_uid, &req->options.owner_gid);
        if (r < 0)
                return r;
        return bus_authorize(m, d, POLKIT_ACTION_START_JOB, req->interactive, error);
}

static int reply_job_started(sd_bus_message *m, Job *j) {
        _cleanup_free_ char *path = job_bus_path(j);

        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "so", j->rec.id, path);
}

/* Where a score comes from: a path the daemon reads as the caller, a file
 * descriptor the caller opened, or the text itself. */
typedef enum ScoreSource {
        SCORE_FROM_PATH,
        SCORE_FROM_CONTENT,
        SCORE_FROM_FILE,
} ScoreSource;

/* The score argument(s) and the options, the same for starts and plans. */
static int read_score_request(sd_bus_message *m, ScoreSource source, int *ret_fd, const char **ret_arg,
                              StartRequest *req, sd_bus_error *error) {
        int r;

        *ret_fd = -EBADF;
        if (source == SCORE_FROM_FILE) {
                r = sd_bus_message_read(m, "h", ret_fd);   /* owned by the message */
                if (r < 0)
                        return r;
        }
        if (source == SCORE_FROM_CONTENT)
                r = sd_bus_message_read(m, "s", ret_arg);
        else
                r = read_bounded_string(m, ret_arg, "The score path", PATH_MAX, error);
        if (r < 0)
                return r;
        return read_start_options(m, req, source == SCORE_FROM_CONTENT, error);
}

static int method_start(sd_bus_message *m, Daemon *d, ScoreSource source, sd_bus_error *error) {
        _cleanup_free_ char *message = NULL;
        StartRequest req = {};
        const char *arg;
        Job *j;
        int fd, r;

        r = read_score_request(m, source, &fd, &arg, &req, error);
        if (r < 0)
                return r;
        r = start_authorize(m, d, &req, error);
        AUTHORIZED_OR_RETURN(r);
        r = source == SCORE_FROM_CONTENT ? conductor_start_content(d->conductor, arg, &req.options, &j, &message) :
            source == SCORE_FROM_FILE ? conductor_start_fd(d->conductor, fd, arg, &req.options, &j, &message) :
            conductor_start_path(d->conductor, arg, &req.options, &j, &message);
        if (r < 0)
                return bus_error_start(error, r, message);
        return reply_job_started(m, j);
}

static int method_start_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_start(m, userdata, SCORE_FROM_PATH, error);
}

static int method_start_job_from_file(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_start(m, userdata, SCORE_FROM_FILE, error);
}

static int method_start_job_from_content(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_start(m, userdata, SCORE_FROM_CONTENT, error);
}

/* A bus kicks out a client whose message exceeds its limit (32 MiB on a
 * system bus): a plan of 10 000 large prompts must stay well below. */
#define PLAN_COMMAND_MAX (64U * 1024U)
#define PLAN_TOTAL_MAX (8U * 1024U * 1024U)

/* instrument, argv and prompt_delivery of a planned sheet; a sheet whose
 * instrument cannot run here says why instead */
/* A command line for people: quoted only where a shell would need it. */
static int human_command_line(char **argv, char **ret) {
        _cleanup_free_ char *line = NULL;

        STRV_FOREACH(a, argv) {
                bool plain = !isempty(*a) && strspn(*a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                         "0123456789-_./=:,+@%{}") == strlen(*a);
                _cleanup_free_ char *q = plain ? strdup(*a) : shell_quote(*a);

                if (!q || (line && strextend(&line, " ") < 0) || strextend(&line, q) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(line);
        return 0;
}

/* A Slurm score's sheet: the batch script, with the prompt where the
 * attempt will have it, and the sbatch command line. */
static int append_plan_batch(sd_bus_message *reply, Conductor *c, const Score *s, unsigned num, char **argv,
                             const char *delivery, const char *prompt, const StartOptions *o) {
        _cleanup_free_ char *script = NULL, *line = NULL;
        _cleanup_strv_free_ char **sbatch = NULL, **real = strv_copy(argv);
        int r;

        if (!real)
                return -ENOMEM;
        for (size_t i = 0; real[i] && strlen(prompt) <= PLAN_COMMAND_MAX; i++)
                if (streq(real[i], SCORE_PLAN_PROMPT_PLACEHOLDER) && free_and_strdup(&real[i], prompt) < 0)
                        return -ENOMEM;
        r = conductor_plan_batch_script(c, s, num, real, streq_ptr(delivery, "stdin"), o->owner_uid, o->owner_gid,
                                        &script, &sbatch);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return dict_append_s(reply, "batch_error", strerror(-r));
        r = human_command_line(sbatch, &line);
        if (r < 0)
                return r;
        r = dict_append_s(reply, "batch_script", script);
        if (r >= 0)
                r = dict_append_s(reply, "submit_command", line);
        if (r == -EINVAL)
                return dict_append_s(reply, "batch_error", "the batch script is not valid UTF-8");
        return r;
}

static int append_plan_command(sd_bus_message *reply, Conductor *c, const Score *s, unsigned num, const char *prompt,
                               const StartOptions *o) {
        _cleanup_free_ char *instrument = NULL, *error = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        const char *delivery = NULL;
        int r;

        r = conductor_plan_command(c, s, num, prompt, &instrument, &argv, &delivery, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return dict_append_s(reply, "instrument_error", error ?: strerror(-r));
        r = dict_append_s(reply, "instrument", instrument);
        if (r >= 0)
                r = dict_append_strv(reply, "argv", argv);
        if (r >= 0) {
                _cleanup_free_ char *line = NULL;

                r = human_command_line(argv, &line);
                if (r < 0)
                        return r;
                r = dict_append_s(reply, "command_line", line);
        }
        if (r == -EINVAL)
                return dict_append_s(reply, "instrument_error", "the command line is not valid UTF-8");
        if (r >= 0)
                r = dict_append_s(reply, "prompt_delivery", delivery);
        if (r >= 0 && s->runner.type == SCORE_RUNNER_SLURM)
                r = append_plan_batch(reply, c, s, num, argv, delivery, prompt, o);
        return r;
}

static int append_plan(sd_bus_message *reply, Conductor *c, const Score *s, const StartOptions *o) {
        size_t total = 0;
        int r;

        r = sd_bus_message_append(reply, "ss", s->name, s->workspace);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_sheets; i++) {
                const Sheet *sh = &s->sheets[i];
                _cleanup_free_ char *prompt = NULL, *error = NULL;

                r = sd_bus_message_open_container(reply, 'a', "{sv}");
                if (r < 0)
                        return r;
                if ((r = dict_append_u(reply, "num", sh->num)) < 0 ||
                    (r = dict_append_u(reply, "stage", sh->stage)) < 0 ||
                    (r = dict_append_u(reply, "instance", sh->instance)) < 0 ||
                    (r = dict_append_u(reply, "fan_count", sh->fan_count)) < 0 ||
                    (r = dict_append_u(reply, "start_item", sh->start_item)) < 0 ||
                    (r = dict_append_u(reply, "end_item", sh->end_item)) < 0)
                        return r;
                r = sd_bus_message_open_container(reply, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "s", "dependencies");
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(reply, 'v', "au");
                if (r < 0)
                        return r;
                r = sd_bus_message_append_array(reply, 'u', sh->deps, sh->n_deps * sizeof(unsigned));
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
                /* past the cap nothing more is rendered either: a plan must
                 * not keep the conductor busy for seconds */
                if (total >= PLAN_TOTAL_MAX)
                        r = dict_append_b(reply, "command_omitted", true);
                else if ((r = score_render_prompt(s, sh->num, &prompt, &error)) < 0)
                        r = dict_append_s(reply, "error", error ?: strerror(-r));
                else if ((r = append_plan_command(reply, c, s, sh->num, prompt, o)) >= 0) {
                        bool cut = strlen(prompt) > PLAN_COMMAND_MAX;

                        if (cut) {
                                size_t at = PLAN_COMMAND_MAX;

                                /* never in the middle of a UTF-8 sequence: the bus refuses those */
                                while (at > 0 && ((unsigned char) prompt[at] & 0xC0) == 0x80)
                                        at--;
                                prompt[at] = 0;
                        }
                        total += strlen(prompt);
                        r = dict_append_s(reply, "command", prompt);
                        if (r >= 0 && cut)
                                r = dict_append_b(reply, "command_truncated", true);
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_append_strv(reply, s->warnings);
}

static int method_plan(sd_bus_message *m, Daemon *d, ScoreSource source, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_free_ char *message = NULL;
        StartRequest req = {};
        const char *arg;
        int fd, r;

        r = read_score_request(m, source, &fd, &arg, &req, error);
        if (r < 0)
                return r;
        /* reads the score with the caller's rights and runs nothing: no polkit */
        r = bus_caller(m, &req.options.owner_uid, &req.options.owner_gid);
        if (r < 0)
                return r;
        r = source == SCORE_FROM_CONTENT ? conductor_plan_content(d->conductor, arg, &req.options, &s, &message) :
            source == SCORE_FROM_FILE ? conductor_plan_fd(d->conductor, fd, arg, &req.options, &s, &message) :
            conductor_plan_path(d->conductor, arg, &req.options, &s, &message);
        if (r < 0)
                return bus_error_start(error, r, message);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = append_plan(reply, d->conductor, s, &req.options);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_plan_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_plan(m, userdata, SCORE_FROM_PATH, error);
}

static int method_plan_job_from_content(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_plan(m, userdata, SCORE_FROM_CONTENT, error);
}

static int method_plan_job_from_file(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_plan(m, userdata, SCORE_FROM_FILE, error);
}

/* Read the job argument and find the job it names. */
static int read_job(sd_bus_message *m, Daemon *d, Job **ret, sd_bus_error *error) {
        const char *name;
        uid_t uid;
        int r;

        r = read_bounded_string(m, &name, "The job name", 256, error);
        if (r < 0)
                return r;
        r = bus_caller(m, &uid, NULL);
        if (r < 0)
                return r;
        r = conductor_find_job(d->conductor, name, uid, ret);
        if (r < 0)
                return bus_error_job_lookup(error, r, name);
        return 0;
}

/* Read the job argument, then check the caller may do action to it:
 * 1 go on, 0 polkit is being asked, negative refused. */
static int read_job_authorized(sd_bus_message *m, Daemon *d, const char *action, Job **ret, sd_bus_error *error) {
        int r;

        r = read_job(m, d, ret, error);
        if (r < 0)
                return r;
        return bus_authorize_job(m, d, *ret, action, error);
}

#define JOB_ACTION_METHOD(fname, action)                                                \
        static int fname(sd_bus_message *m, void *userdata, sd_bus_error *error) {    \
                Daemon *d = userdata;                                                 \
                Job *j;                                                               \
                int r = read_job_authorized(m, d, POLKIT_ACTION_MANAGE_JOBS, &j, error); \
                AUTHORIZED_OR_RETURN(r);                                              \
                r = action(d, j, error);                                              \
                if (r < 0)                                                            \
                        return r;                                                     \
                return sd_bus_reply_method_return(m, NULL);                           \
        }

JOB_ACTION_METHOD(method_pause_job, bus_job_pause);
JOB_ACTION_METHOD(method_resume_job, bus_job_resume);
JOB_ACTION_METHOD(method_cancel_job, bus_job_cancel);
JOB_ACTION_METHOD(method_delete_job, bus_job_delete);

static int method_clear_jobs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        unsigned mask = 0, deleted = 0;
        uint64_t older_than = 0;
        int all_users = false;
        uid_t uid;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "states")) {
                        _cleanup_strv_free_ char **states = NULL;

                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter 'states' must be a string array (as).");
                        r = sd_bus_message_read_strv(m, &states);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        if (strv_length(states) == 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Filter 'states' is empty; leave it out to mean every terminal state.");
                        STRV_FOREACH(s, states) {
                                JobState st = job_state_from_string(*s);

                                if (st < 0 || !job_state_is_terminal(st))
                                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                                 "'%s' is not a terminal job state (completed, failed, cancelled).", *s);
                                mask |= 1u << st;
                        }
                } else if (streq(key, "all_users")) {
                        r = sd_bus_message_read(m, "v", "b", &all_users);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter 'all_users' must be a boolean (b).");
                } else if (streq(key, "older_than_seconds")) {
                        r = sd_bus_message_read(m, "v", "t", &older_than);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter 'older_than_seconds' must be a uint64 (t).");
                        if (older_than > UINT64_MAX / USEC_PER_SEC)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Filter 'older_than_seconds' is out of range.");
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown filter '%s'.", key);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        /* Your own jobs; everybody's is administering the conductor. */
        r = bus_caller(m, &uid, NULL);
        if (r < 0)
                return r;
        if (all_users) {
                r = bus_authorize(m, d, POLKIT_ACTION_ADMINISTER, false, error);
                AUTHORIZED_OR_RETURN(r);
        }
        r = conductor_clear_jobs(d->conductor, all_users ? (uid_t) -1 : uid, mask, older_than * USEC_PER_SEC, &deleted);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "u", deleted);
}

static int method_list_jobs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error denied = SD_BUS_ERROR_NULL;
        Daemon *d = userdata;
        bool everyone;
        uid_t uid;
        int r;

        (void) error;
        /* Everyone sees their own jobs; everybody's needs view-jobs, and
         * without it the list is just shorter, not an error. */
        r = bus_caller(m, &uid, NULL);
        if (r < 0)
                return r;
        r = bus_authorize_quietly(m, d, POLKIT_ACTION_VIEW_JOBS, &denied);
        if (r == 0)
                return 1;
        everyone = r > 0;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sssuuuuto)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < conductor_n_jobs(d->conductor); i++) {
                Job *j = conductor_job_at(d->conductor, i);
                _cleanup_free_ char *path = NULL;

                if (!everyone && j->rec.owner_uid != uid)
                        continue;
                path = job_bus_path(j);
                if (!path)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(sssuuuuto)", j->rec.id, j->rec.name,
                                          job_state_to_string(j->rec.state), j->rec.owner_uid,
                                          j->rec.total_sheets, job_count(j, SHEET_COMPLETED),
                                          job_count(j, SHEET_FAILED), j->rec.created_at, path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *path = NULL;
        Job *j;
        int r;

        r = read_job_authorized(m, d, POLKIT_ACTION_VIEW_JOBS, &j, error);
        AUTHORIZED_OR_RETURN(r);
        path = job_bus_path(j);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_get_job_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
        Job *j;
        int r;

        r = read_job_authorized(m, d, POLKIT_ACTION_VIEW_JOBS, &j, error);
        AUTHORIZED_OR_RETURN(r);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_job_append_status(reply, d, j);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_sheets(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
        Job *j;
        int r;

        r = read_job_authorized(m, d, POLKIT_ACTION_VIEW_JOBS, &j, error);
        AUTHORIZED_OR_RETURN(r);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(usuuutt)");
        if (r < 0)
                return r;
        for (unsigned i = 0; i < j->rec.total_sheets; i++) {
                const SheetRecord *sr = &j->sheets[i];

                r = sd_bus_message_append(reply, "(usuuutt)", sr->num, sheet_state_to_string(sr->state),
                                          sr->stage, sr->instance, sr->attempt_count,
                                          sr->started_at, sr->completed_at);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_sheet(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        Job *j;
        int r;

        r = read_job_authorized(m, d, POLKIT_ACTION_VIEW_JOBS, &j, error);
        AUTHORIZED_OR_RETURN(r);
        return bus_job_reply_sheet(m, d, j, error);
}

/* The whole output of a sheet's latest attempt, as an open file: the logs
 * live in the conductor's private state directory, and this is how their
 * owner reads them. */
static int method_open_sheet_output(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        Daemon *d = userdata;
        const char *stream;
        uint32_t num;
        Job *j;
        int r;

        r = read_job(m, d, &j, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "us", &num, &stream);
        if (r < 0)
                return r;
        if (!streq(stream, "stdout") && !streq(stream, "stderr"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Stream must be 'stdout' or 'stderr'.");
        r = bus_authorize_job(m, d, j, POLKIT_ACTION_VIEW_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        if (num < 1 || num > j->rec.total_sheets)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_SHEET, "Job %s has no sheet %u (it has %u).",
                                         j->rec.id, num, j->rec.total_sheets);
        path = conductor_sheet_log_path(d->conductor, j, num, stream);
        if (!path)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_SHEET, "Sheet %u of job %s has not run yet.",
                                         num, j->rec.id);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot open the %s of sheet %u of job %s: %m",
                                               stream, num, j->rec.id);
        return sd_bus_reply_method_return(m, "h", fd);
}

static int method_verify_process_health(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Daemon *d = userdata;
        JobHealth h;
        Job *j;
        int r;

        r = read_job_authorized(m, d, POLKIT_ACTION_VIEW_JOBS, &j, error);
        AUTHORIZED_OR_RETURN(r);
        r = conductor_job_health(d->conductor, j, &h);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = dict_append_u(reply, "pid", (uint32_t) h.pid)) < 0 ||
            (r = dict_append_b(reply, "is_alive", h.alive)) < 0 ||
            (r = dict_append_b(reply, "is_zombie_state", h.zombie)) < 0 ||
            (r = dict_append_b(reply, "process_exists", h.exists)) < 0 ||
            (r = dict_append_d(reply, "cpu_percent", h.cpu_percent)) < 0 ||
            (r = dict_append_d(reply, "memory_mb", (double) h.memory_bytes / (1024.0 * 1024.0))) < 0 ||
            (r = dict_append_d(reply, "uptime_seconds", (double) h.uptime_usec / (double) USEC_PER_SEC)) < 0 ||
            (r = dict_append_u(reply, "processes", h.n_processes)) < 0 ||
            (r = dict_append_u(reply, "running_sheets", h.running_sheets)) < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* slurm: "up", "down" (the controller said so), "unreachable" (no
 * answer), "not-configured" (no slurm.conf), "not-installed";
 * slurm_message: its words */
static int reply_conductor_status(Daemon *d, sd_bus_message *m, const char *slurm, const char *slurm_message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *line = strndup(strempty(slurm_message), strcspn(strempty(slurm_message), "\n"));
        ConductorStatus st;
        int r;

        if (!line)
                return -ENOMEM;
        conductor_get_status(d->conductor, &st);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = dict_append_u(reply, "pid", (uint32_t) st.pid)) < 0 ||
            (r = dict_append_d(reply, "uptime_seconds", (double) st.uptime_usec / (double) USEC_PER_SEC)) < 0 ||
            (r = dict_append_u(reply, "running_jobs", st.running_jobs)) < 0 ||
            (r = dict_append_u(reply, "total_jobs_active", st.active_jobs)) < 0 ||
            (r = dict_append_d(reply, "memory_usage_mb", (double) st.memory_bytes / (1024.0 * 1024.0))) < 0 ||
            (r = dict_append_s(reply, "version", MARIANNE_VERSION)) < 0 ||
            (r = dict_append_s(reply, "execution_mode", runner_mode_to_string(st.mode))) < 0 ||
            (r = dict_append_s(reply, "default_runner", runner_choice_to_string(d->runner))) < 0 ||
            (r = dict_append_u(reply, "running_sheets", st.running_sheets)) < 0 ||
            (r = dict_append_u(reply, "max_concurrent_sheets", st.max_concurrent_sheets)) < 0 ||
            (r = dict_append_u(reply, "max_jobs_per_user", st.max_active_jobs_per_user)) < 0 ||
            (r = dict_append_s(reply, "state_dir", st.state_dir)) < 0 ||
            (r = dict_append_u(reply, "total_jobs", (uint32_t) conductor_n_jobs(d->conductor))) < 0 ||
            (r = dict_append_s(reply, "slurm", slurm)) < 0 ||
            (r = dict_append_b(reply, "ready", true)) < 0)
                return r;
        /* scontrol's words are not ours to trust to be UTF-8 */
        if (!isempty(line) && (r = dict_append_s(reply, "slurm_message", line)) < 0 && r != -EINVAL)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

typedef struct StatusCall {
        Daemon *daemon;
        sd_bus_message *message;
} StatusCall;

static void on_status_ping(int status, const char *message, void *userdata) {
        StatusCall *call = userdata;
        int r;

        r = reply_conductor_status(call->daemon, call->message,
                                   status == 0 ? "up" : status == -EHOSTDOWN ? "down" :
                                   status == -ENOMEDIUM ? "not-configured" : "unreachable",
                                   status == -ECANCELED ? "the conductor is stopping" :
                                   status == -ETIMEDOUT ? "scontrol ping did not answer in time" : message);
        if (r < 0)
                log_warning_errno(r, "Failed to send the conductor status: %m");
        sd_bus_message_unref(call->message);
        free(call);
}

static int method_get_conductor_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        StatusCall *call;
        int r;

        (void) error;   /* the conductor's own figures are nobody's secret */
        if (!conductor_has_slurm(d->conductor))
                return reply_conductor_status(d, m, "not-installed",
                                              "sbatch, squeue, scontrol or scancel is not installed on the conductor's machine");

        /* the controller's answer comes later; the reply waits for it */
        call = calloc(1, sizeof(StatusCall));
        if (!call)
                return -ENOMEM;
        call->daemon = d;
        call->message = sd_bus_message_ref(m);
        r = conductor_slurm_ping(d->conductor, on_status_ping, call);
        if (r < 0) {
                sd_bus_message_unref(call->message);
                free(call);
                return reply_conductor_status(d, m, "unreachable", strerror(-r));
        }
        return 1;
}

static int method_set_limits(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        uint32_t sheets = 0, jobs = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key;
                uint32_t v;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (!streq(key, "max_concurrent_sheets") && !streq(key, "max_jobs_per_user"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown limit '%s'.", key);
                r = sd_bus_message_read(m, "v", "u", &v);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Limit '%s' must be an unsigned integer (u).", key);
                if (v < 1 || v > 100000)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Limit '%s' must be from 1 to 100000.", key);
                if (streq(key, "max_concurrent_sheets"))
                        sheets = v;
                else
                        jobs = v;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        r = bus_authorize(m, d, POLKIT_ACTION_ADMINISTER, false, error);
        AUTHORIZED_OR_RETURN(r);
        r = conductor_set_limits(d->conductor, sheets, jobs);
        if (r < 0)
                return r;
        (void) bus_emit_properties_changed(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE,
                                              "MaxConcurrentSheets", "MaxJobsPerUser", NULL);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *message = NULL;
        Daemon *d = userdata;
        int r;

        r = bus_authorize(m, d, POLKIT_ACTION_ADMINISTER, false, error);
        AUTHORIZED_OR_RETURN(r);
        (void) sd_notify(false, "RELOADING=1");
        r = daemon_load_config(d, &message);
        (void) sd_notify(false, "READY=1");
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_CONFIG,
                                         "%s; the configuration in force is unchanged.", message ?: strerror(-r));
        return sd_bus_reply_method_return(m, NULL);
}

static int method_shutdown(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        int r;

        r = bus_authorize(m, d, POLKIT_ACTION_ADMINISTER, false, error);
        AUTHORIZED_OR_RETURN(r);
        log_notice("Shutdown requested over the bus; running sheets are stopped and resume at the next start.");
        (void) sd_notify(false, "STOPPING=1");
        r = sd_bus_reply_method_return(m, NULL);
        if (r < 0)
                return r;
        /* the reply goes out before the loop ends (flushed when the bus closes) */
        return sd_event_exit(d->event, 0);
}

static int property_get_status_field(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        ConductorStatus st;

        (void) bus;
        (void) path;
        (void) interface;
        (void) error;
        conductor_get_status(d->conductor, &st);
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", MARIANNE_VERSION);
        if (streq(property, "Pid"))
                return sd_bus_message_append(reply, "u", (uint32_t) st.pid);
        if (streq(property, "StartedAt"))
                return sd_bus_message_append(reply, "t", st.started_at);
        if (streq(property, "ExecutionMode"))
                return sd_bus_message_append(reply, "s", runner_mode_to_string(st.mode));
        if (streq(property, "MaxConcurrentSheets"))
                return sd_bus_message_append(reply, "u", st.max_concurrent_sheets);
        if (streq(property, "MaxJobsPerUser"))
                return sd_bus_message_append(reply, "u", st.max_active_jobs_per_user);
        if (streq(property, "RunningJobs"))
                return sd_bus_message_append(reply, "u", st.running_jobs);
        if (streq(property, "ActiveJobs"))
                return sd_bus_message_append(reply, "u", st.active_jobs);
        return -EINVAL;
}

static const sd_bus_vtable conductor_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES("StartJob", "sa{sv}", SD_BUS_PARAM(config_path) SD_BUS_PARAM(options),
                                 "so", SD_BUS_PARAM(job_id) SD_BUS_PARAM(job),
                                 method_start_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("StartJobFromContent", "sa{sv}", SD_BUS_PARAM(yaml) SD_BUS_PARAM(options),
                                 "so", SD_BUS_PARAM(job_id) SD_BUS_PARAM(job),
                                 method_start_job_from_content, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("StartJobFromFile", "hsa{sv}",
                                 SD_BUS_PARAM(score) SD_BUS_PARAM(config_path) SD_BUS_PARAM(options),
                                 "so", SD_BUS_PARAM(job_id) SD_BUS_PARAM(job),
                                 method_start_job_from_file, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("PlanJob", "sa{sv}", SD_BUS_PARAM(config_path) SD_BUS_PARAM(options),
                                 "ssaa{sv}as", SD_BUS_PARAM(name) SD_BUS_PARAM(workspace) SD_BUS_PARAM(sheets) SD_BUS_PARAM(warnings),
                                 method_plan_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("PlanJobFromContent", "sa{sv}", SD_BUS_PARAM(yaml) SD_BUS_PARAM(options),
                                 "ssaa{sv}as", SD_BUS_PARAM(name) SD_BUS_PARAM(workspace) SD_BUS_PARAM(sheets) SD_BUS_PARAM(warnings),
                                 method_plan_job_from_content, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("PlanJobFromFile", "hsa{sv}",
                                 SD_BUS_PARAM(score) SD_BUS_PARAM(config_path) SD_BUS_PARAM(options),
                                 "ssaa{sv}as", SD_BUS_PARAM(name) SD_BUS_PARAM(workspace) SD_BUS_PARAM(sheets) SD_BUS_PARAM(warnings),
                                 method_plan_job_from_file, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("PauseJob", "s", SD_BUS_PARAM(job), "", , method_pause_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ResumeJob", "s", SD_BUS_PARAM(job), "", , method_resume_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CancelJob", "s", SD_BUS_PARAM(job), "", , method_cancel_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("DeleteJob", "s", SD_BUS_PARAM(job), "", , method_delete_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ClearJobs", "a{sv}", SD_BUS_PARAM(filter), "u", SD_BUS_PARAM(deleted),
                                 method_clear_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListJobs", "", , "a(sssuuuuto)", SD_BUS_PARAM(jobs),
                                 method_list_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetJob", "s", SD_BUS_PARAM(job), "o", SD_BUS_PARAM(object),
                                 method_get_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetJobStatus", "s", SD_BUS_PARAM(job), "a{sv}", SD_BUS_PARAM(status),
                                 method_get_job_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListSheets", "s", SD_BUS_PARAM(job), "a(usuuutt)", SD_BUS_PARAM(sheets),
                                 method_list_sheets, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetSheet", "su", SD_BUS_PARAM(job) SD_BUS_PARAM(sheet), "a{sv}", SD_BUS_PARAM(details),
                                 method_get_sheet, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("OpenSheetOutput", "sus", SD_BUS_PARAM(job) SD_BUS_PARAM(sheet) SD_BUS_PARAM(stream),
                                 "h", SD_BUS_PARAM(output), method_open_sheet_output, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("VerifyProcessHealth", "s", SD_BUS_PARAM(job), "a{sv}", SD_BUS_PARAM(health),
                                 method_verify_process_health, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetConductorStatus", "", , "a{sv}", SD_BUS_PARAM(status),
                                 method_get_conductor_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("SetLimits", "a{sv}", SD_BUS_PARAM(limits), "", ,
                                 method_set_limits, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Shutdown", "", "", method_shutdown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES("JobAdded", "so", SD_BUS_PARAM(job_id) SD_BUS_PARAM(job), 0),
        SD_BUS_SIGNAL_WITH_NAMES("JobRemoved", "so", SD_BUS_PARAM(job_id) SD_BUS_PARAM(job), 0),
        SD_BUS_SIGNAL_WITH_NAMES("JobStateChanged", "soss",
                                 SD_BUS_PARAM(job_id) SD_BUS_PARAM(job) SD_BUS_PARAM(old_state) SD_BUS_PARAM(new_state), 0),
        SD_BUS_SIGNAL_WITH_NAMES("SheetStateChanged", "suss",
                                 SD_BUS_PARAM(job_id) SD_BUS_PARAM(sheet) SD_BUS_PARAM(old_state) SD_BUS_PARAM(new_state), 0),
        SD_BUS_PROPERTY("Version", "s", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Pid", "u", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedAt", "t", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ExecutionMode", "s", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxConcurrentSheets", "u", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaxJobsPerUser", "u", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningJobs", "u", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ActiveJobs", "u", property_get_status_field, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END
};

int bus_conductor_register(Daemon *d, sd_bus *bus) {
        int r;

        r = sd_bus_add_object_vtable(bus, NULL, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, conductor_vtable, d);
        if (r < 0)
                return log_error_errno(r, "Failed to register the conductor object: %m");
        r = sd_bus_add_object_manager(bus, NULL, CONDUCTOR_OBJECT_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to register the object manager: %m");
        return bus_job_register(d, bus);
}

/* ---- signals ---------------------------------------------------------- */

static void on_job_added(Job *j, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *path = job_bus_path(j);
        int r;

        if (!path)
                return (void) log_oom();
        r = bus_emit_signal(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, "JobAdded", "so", j->rec.id, path);
        if (r < 0)
                log_warning_errno(r, "Failed to emit JobAdded for %s: %m", j->rec.id);
        r = bus_emit_object_added(d, path);
        if (r < 0)
                log_warning_errno(r, "Failed to emit InterfacesAdded for %s: %m", j->rec.id);
        (void) bus_emit_properties_changed(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, "ActiveJobs", NULL);
}

static void on_job_removed(Job *j, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *path = job_bus_path(j);
        int r;

        if (!path)
                return (void) log_oom();
        r = bus_emit_object_removed(d, path);
        if (r < 0)
                log_warning_errno(r, "Failed to emit InterfacesRemoved for %s: %m", j->rec.id);
        r = bus_emit_signal(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, "JobRemoved", "so", j->rec.id, path);
        if (r < 0)
                log_warning_errno(r, "Failed to emit JobRemoved for %s: %m", j->rec.id);
}

/* What `systemctl status marianne` shows under the unit. */
static void notify_status(Daemon *d) {
        ConductorStatus st;

        conductor_get_status(d->conductor, &st);
        (void) sd_notifyf(false, "STATUS=%u jobs running, %u active, %u sheets running",
                          st.running_jobs, st.active_jobs, st.running_sheets);
}

static void on_job_state_changed(Job *j, JobState old_state, JobState new_state, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *path = job_bus_path(j);
        int r;

        notify_status(d);
        if (!path)
                return (void) log_oom();
        /* PropertiesChanged first: a client reacting to the signal by
         * reading properties must already see the new values. */
        (void) bus_emit_properties_changed(d, path, JOB_INTERFACE, "State", "StartedAt", "FinishedAt", NULL);
        r = bus_emit_signal(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, "JobStateChanged", "soss",
                               j->rec.id, path, job_state_to_string(old_state), job_state_to_string(new_state));
        if (r < 0)
                log_warning_errno(r, "Failed to emit JobStateChanged for %s: %m", j->rec.id);
        (void) bus_emit_properties_changed(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE,
                                              "RunningJobs", "ActiveJobs", NULL);
}

static void on_sheet_state_changed(Job *j, unsigned sheet, SheetState old_state, SheetState new_state, void *userdata) {
        Daemon *d = userdata;
        int r;

        r = bus_emit_signal(d, CONDUCTOR_OBJECT_PATH, CONDUCTOR_INTERFACE, "SheetStateChanged", "suss",
                               j->rec.id, sheet, sheet_state_to_string(old_state), sheet_state_to_string(new_state));
        if (r < 0)
                log_warning_errno(r, "Failed to emit SheetStateChanged for %s/%u: %m", j->rec.id, sheet);
}

static void on_job_changed(Job *j, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *path = job_bus_path(j);

        notify_status(d);       /* sheet counts changed */
        if (!path)
                return (void) log_oom();
        (void) bus_emit_properties_changed(d, path, JOB_INTERFACE, "CompletedSheets", "FailedSheets",
                                              "SkippedSheets", "RunningSheets", NULL);
}

const ConductorObserver bus_conductor_observer = {
        .job_added = on_job_added,
        .job_removed = on_job_removed,
        .job_state_changed = on_job_state_changed,
        .sheet_state_changed = on_sheet_state_changed,
        .job_changed = on_job_changed,
};

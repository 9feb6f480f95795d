/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.marianne.Conductor.Job: one object per job, found through a fallback
 * vtable so thousands of jobs cost no registration each. */

#include "bus-errors.h"
#include "daemon.h"
#include "job.h"
#include "log.h"

char *job_bus_path(const Job *j) {
        char *p = NULL;

        if (sd_bus_path_encode(JOB_OBJECT_PREFIX, j->rec.id, &p) < 0)
                return NULL;
        return p;
}

static int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                           void **found, sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *id = NULL;
        Job *j;

        (void) interface;
        (void) error;
        if (sd_bus_path_decode(path, JOB_OBJECT_PREFIX, &id) <= 0)
                return 0;
        j = conductor_get_job(d->conductor, id);
        if (!j || !bus_caller_sees_job(bus, d, j, path))
                return 0;
        *found = j;
        return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = conductor_n_jobs(d->conductor);

        (void) path;
        (void) error;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0, k = 0; i < n; i++) {
                Job *j = conductor_job_at(d->conductor, i);

                if (!bus_caller_sees_job(bus, d, j, NULL))
                        continue;
                l[k] = job_bus_path(j);
                if (!l[k++])
                        return -ENOMEM;
        }
        *nodes = TAKE_PTR(l);
        return 1;
}

/* ---- status dictionaries ---------------------------------------------- */

typedef struct JobUsage {
        bool has_tokens;
        uint64_t input_tokens;
        uint64_t output_tokens;
        bool has_cost;
        double cost_usd;
} JobUsage;

static uint64_t add_saturating(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Tokens and estimated cost over the sheets that reported any. */
static JobUsage job_usage(const Job *j) {
        JobUsage u = {};

        for (unsigned i = 0; j->sheets && i < j->rec.total_sheets; i++) {
                const SheetRecord *sr = &j->sheets[i];

                if (sr->has_tokens) {
                        u.has_tokens = true;
                        u.input_tokens = add_saturating(u.input_tokens, sr->input_tokens);
                        u.output_tokens = add_saturating(u.output_tokens, sr->output_tokens);
                }
                if (sr->has_cost) {
                        u.has_cost = true;
                        u.cost_usd += sr->cost_usd;
                }
        }
        return u;
}

int bus_job_append_status(sd_bus_message *reply, Daemon *d, Job *j) {
        const JobRecord *rec = &j->rec;
        JobUsage usage = job_usage(j);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = dict_append_s(reply, "id", rec->id)) < 0 ||
            (r = dict_append_s(reply, "name", rec->name)) < 0 ||
            (r = dict_append_s(reply, "status", job_state_to_string(rec->state))) < 0 ||
            (r = dict_append_u(reply, "owner", rec->owner_uid)) < 0 ||
            (r = dict_append_s(reply, "workspace", rec->workspace)) < 0 ||
            (r = dict_append_s(reply, "score_path", rec->score_path)) < 0 ||
            (r = dict_append_u(reply, "total_sheets", rec->total_sheets)) < 0 ||
            (r = dict_append_u(reply, "completed_sheets", job_count(j, SHEET_COMPLETED))) < 0 ||
            (r = dict_append_u(reply, "failed_sheets", job_count(j, SHEET_FAILED))) < 0 ||
            (r = dict_append_u(reply, "skipped_sheets", job_count(j, SHEET_SKIPPED))) < 0 ||
            (r = dict_append_u(reply, "cancelled_sheets", job_count(j, SHEET_CANCELLED))) < 0 ||
            (r = dict_append_u(reply, "running_sheets", job_active_sheets(j))) < 0 ||
            (r = dict_append_u(reply, "pending_sheets", job_count(j, SHEET_PENDING) + job_count(j, SHEET_READY) +
                                                       job_count(j, SHEET_RETRY_SCHEDULED))) < 0 ||
            (r = dict_append_t(reply, "created_at", rec->created_at)) < 0 ||
            (r = dict_append_t(reply, "started_at", rec->started_at)) < 0 ||
            (r = dict_append_t(reply, "finished_at", rec->finished_at)) < 0 ||
            (r = dict_append_b(reply, "self_healing", rec->self_healing)) < 0 ||
            (r = dict_append_u(reply, "start_sheet", rec->start_sheet)) < 0 ||
            (r = dict_append_s(reply, "error", rec->error)) < 0 ||
            (r = dict_append_s(reply, "execution_mode", job_execution_mode(j))) < 0 ||
            (r = dict_append_s(reply, "parent_job", rec->parent_job)) < 0 ||
            (r = dict_append_u(reply, "chain_depth", rec->chain_depth)) < 0 ||
            (usage.has_tokens && (r = dict_append_t(reply, "input_tokens", usage.input_tokens)) < 0) ||
            (usage.has_tokens && (r = dict_append_t(reply, "output_tokens", usage.output_tokens)) < 0) ||
            (usage.has_cost && (r = dict_append_d(reply, "cost_usd", usage.cost_usd)) < 0))
                return r;
        return sd_bus_message_close_container(reply);
}

int bus_job_append_sheet(sd_bus_message *reply, Daemon *d, Job *j, unsigned num, sd_bus_error *error) {
        SheetRecord sr = {};
        _cleanup_free_ char *stdout_log = NULL, *stderr_log = NULL;
        int r;

        r = conductor_get_sheet(d->conductor, j, num, &sr);
        if (r == -ERANGE)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_SHEET, "Job %s has no sheet %u (it has %u).",
                                         j->rec.id, num, j->rec.total_sheets);
        if (r < 0)
                return r;
        stdout_log = conductor_sheet_log_path(d->conductor, j, num, "stdout");
        stderr_log = conductor_sheet_log_path(d->conductor, j, num, "stderr");

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                goto finish;
        if ((r = dict_append_u(reply, "sheet_num", sr.num)) < 0 ||
            (r = dict_append_s(reply, "status", sheet_state_to_string(sr.state))) < 0 ||
            (r = dict_append_u(reply, "stage", sr.stage)) < 0 ||
            (r = dict_append_u(reply, "instance", sr.instance)) < 0 ||
            (r = dict_append_t(reply, "started_at", sr.started_at)) < 0 ||
            (r = dict_append_t(reply, "completed_at", sr.completed_at)) < 0 ||
            (r = dict_append_u(reply, "attempt_count", sr.attempt_count)) < 0 ||
            (r = dict_append_s(reply, "instrument", sr.instrument)) < 0 ||
            (r = dict_append_u(reply, "instrument_index", sr.instrument_index)) < 0 ||
            (r = dict_append_u(reply, "completion_attempts", sr.completion_attempts)) < 0 ||
            (r = dict_append_u(reply, "rate_limit_waits", sr.rate_limit_waits)) < 0 ||
            (sr.has_exit_code && (r = dict_append_i(reply, "exit_code", sr.exit_code)) < 0) ||
            (sr.exit_signal > 0 && (r = dict_append_i(reply, "exit_signal", sr.exit_signal)) < 0) ||
            (r = dict_append_s(reply, "exit_reason", sr.exit_reason)) < 0 ||
            (r = dict_append_s(reply, "error_message", sr.error_message)) < 0 ||
            (r = dict_append_s(reply, "error_category", sr.error_category)) < 0 ||
            (sr.validation_passed >= 0 && (r = dict_append_b(reply, "validation_passed", sr.validation_passed > 0)) < 0) ||
            (r = dict_append_s(reply, "validation_details", sr.validation_details)) < 0 ||
            (r = dict_append_u(reply, "passed_validations", sr.passed_validations)) < 0 ||
            (r = dict_append_u(reply, "failed_validations", sr.failed_validations)) < 0 ||
            (sr.validation_passed >= 0 && (r = dict_append_d(reply, "last_pass_percentage", sr.pass_percentage)) < 0) ||
            (sr.attempt_count > 0 && (r = dict_append_d(reply, "execution_duration_seconds", sr.duration_seconds)) < 0) ||
            (sr.has_tokens && (r = dict_append_t(reply, "input_tokens", sr.input_tokens)) < 0) ||
            (sr.has_tokens && (r = dict_append_t(reply, "output_tokens", sr.output_tokens)) < 0) ||
            (sr.has_cost && (r = dict_append_d(reply, "cost_usd", sr.cost_usd)) < 0) ||
            (r = dict_append_s(reply, "stdout_tail", sr.stdout_tail)) < 0 ||
            (r = dict_append_s(reply, "stderr_tail", sr.stderr_tail)) < 0 ||
            (r = dict_append_b(reply, "output_truncated", sr.output_truncated)) < 0 ||
            (r = dict_append_s(reply, "execution_mode", sr.execution_mode)) < 0 ||
            (r = dict_append_b(reply, "success_without_retry", sr.state == SHEET_COMPLETED && sr.attempt_count == 1)) < 0 ||
            (sr.next_retry_at > 0 && (r = dict_append_t(reply, "next_retry_at", sr.next_retry_at)) < 0) ||
            (r = dict_append_s(reply, "stdout_log", stdout_log)) < 0 ||
            (r = dict_append_s(reply, "stderr_log", stderr_log)) < 0)
                goto finish;
        r = sd_bus_message_close_container(reply);
finish:
        sheet_record_done(&sr);
        return r;
}

/* ---- lifecycle, shared by the manager and the job objects -------------- */

static int reply_state_error(sd_bus_error *error, Job *j, const char *verb, const char *allowed) {
        return sd_bus_error_setf(error, BUS_ERROR_INVALID_STATE, "Job %s is %s; only %s jobs can be %s.",
                                 j->rec.id, job_state_to_string(j->rec.state), allowed, verb);
}

int bus_job_pause(Daemon *d, Job *j, sd_bus_error *error) {
        int r = conductor_pause_job(d->conductor, j);

        if (r == -EBUSY)
                return reply_state_error(error, j, "paused", "queued or running");
        return r;
}

int bus_job_resume(Daemon *d, Job *j, sd_bus_error *error) {
        int r = conductor_resume_job(d->conductor, j);

        if (r == -EBUSY)
                return reply_state_error(error, j, "resumed", "paused");
        return r;
}

int bus_job_cancel(Daemon *d, Job *j, sd_bus_error *error) {
        int r = conductor_cancel_job(d->conductor, j);

        if (r == -EBUSY)
                return reply_state_error(error, j, "cancelled", "pending, queued, running or paused");
        return r;
}

int bus_job_delete(Daemon *d, Job *j, sd_bus_error *error) {
        int r = conductor_delete_job(d->conductor, j);

        if (r == -EBUSY)
                return reply_state_error(error, j, "deleted", "completed, failed or cancelled");
        return r;
}

/* ---- the vtable ------------------------------------------------------- */

static int method_pause(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        Daemon *d = conductor_get_userdata(j->conductor);
        int r;

        r = bus_authorize_job(m, d, j, POLKIT_ACTION_MANAGE_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        r = bus_job_pause(d, j, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, NULL);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        Daemon *d = conductor_get_userdata(j->conductor);
        int r;

        r = bus_authorize_job(m, d, j, POLKIT_ACTION_MANAGE_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        r = bus_job_resume(d, j, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, NULL);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        Daemon *d = conductor_get_userdata(j->conductor);
        int r;

        r = bus_authorize_job(m, d, j, POLKIT_ACTION_MANAGE_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        r = bus_job_cancel(d, j, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, NULL);
}

static int method_delete(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        Daemon *d = conductor_get_userdata(j->conductor);
        int r;

        r = bus_authorize_job(m, d, j, POLKIT_ACTION_MANAGE_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        r = bus_job_delete(d, j, error);
        return r < 0 ? r : sd_bus_reply_method_return(m, NULL);
}

int bus_job_reply_sheet(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t num;
        int r;

        r = sd_bus_message_read(m, "u", &num);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = bus_job_append_sheet(reply, d, j, num, error);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_sheet(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        Daemon *d = conductor_get_userdata(j->conductor);
        int r;

        r = bus_authorize_job(m, d, j, POLKIT_ACTION_VIEW_JOBS, error);
        AUTHORIZED_OR_RETURN(r);
        return bus_job_reply_sheet(m, d, j, error);
}

#define JOB_GETTER(fname, type, expr)                                           \
        static int fname(sd_bus *bus, const char *path, const char *interface, \
                         const char *property, sd_bus_message *reply,           \
                         void *userdata, sd_bus_error *error) {                 \
                Job *j = userdata;                                              \
                (void) bus; (void) path; (void) interface;                      \
                (void) property; (void) error;                                  \
                return sd_bus_message_append(reply, type, expr);                \
        }

JOB_GETTER(property_get_id, "s", j->rec.id);
JOB_GETTER(property_get_name, "s", j->rec.name);
JOB_GETTER(property_get_state, "s", job_state_to_string(j->rec.state));
JOB_GETTER(property_get_owner, "u", j->rec.owner_uid);
JOB_GETTER(property_get_workspace, "s", j->rec.workspace);
JOB_GETTER(property_get_score_path, "s", strempty(j->rec.score_path));
JOB_GETTER(property_get_total, "u", j->rec.total_sheets);
JOB_GETTER(property_get_completed, "u", job_count(j, SHEET_COMPLETED));
JOB_GETTER(property_get_failed, "u", job_count(j, SHEET_FAILED));
JOB_GETTER(property_get_skipped, "u", job_count(j, SHEET_SKIPPED));
JOB_GETTER(property_get_running, "u", job_active_sheets(j));
JOB_GETTER(property_get_created_at, "t", j->rec.created_at);
JOB_GETTER(property_get_started_at, "t", j->rec.started_at);
JOB_GETTER(property_get_finished_at, "t", j->rec.finished_at);
JOB_GETTER(property_get_self_healing, "b", (int) j->rec.self_healing);
JOB_GETTER(property_get_start_sheet, "u", j->rec.start_sheet);

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Pause", "", "", method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Resume", "", "", method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Delete", "", "", method_delete, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetSheet", "u", SD_BUS_PARAM(sheet), "a{sv}", SD_BUS_PARAM(details),
                                 method_get_sheet, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Id", "s", property_get_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Owner", "u", property_get_owner, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Workspace", "s", property_get_workspace, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ScorePath", "s", property_get_score_path, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("TotalSheets", "u", property_get_total, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CompletedSheets", "u", property_get_completed, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FailedSheets", "u", property_get_failed, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SkippedSheets", "u", property_get_skipped, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RunningSheets", "u", property_get_running, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CreatedAt", "t", property_get_created_at, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedAt", "t", property_get_started_at, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FinishedAt", "t", property_get_finished_at, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SelfHealing", "b", property_get_self_healing, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartSheet", "u", property_get_start_sheet, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END
};

int bus_job_register(Daemon *d, sd_bus *bus) {
        int r;

        r = sd_bus_add_fallback_vtable(bus, NULL, JOB_OBJECT_PREFIX, JOB_INTERFACE, job_vtable, job_object_find, d);
        if (r < 0)
                return log_error_errno(r, "Failed to register job objects: %m");
        r = sd_bus_add_node_enumerator(bus, NULL, JOB_OBJECT_PREFIX, job_node_enumerator, d);
        if (r < 0)
                return log_error_errno(r, "Failed to register job enumerator: %m");
        return 0;
}

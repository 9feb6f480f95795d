/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "conductor.h"

#define CONDUCTOR_BUS_NAME      "org.marianne.Conductor"
#define CONDUCTOR_OBJECT_PATH   "/org/marianne/Conductor"
#define CONDUCTOR_INTERFACE     "org.marianne.Conductor"
#define JOB_OBJECT_PREFIX       "/org/marianne/Conductor/job"
#define JOB_INTERFACE           "org.marianne.Conductor.Job"

typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;
        Conductor *conductor;
        bool user_mode;         /* per-user conductor on the session bus */
} Daemon;

/* bus-conductor.c */
int bus_conductor_register(Daemon *d);
extern const ConductorObserver bus_conductor_observer;

/* Identity of the caller, from the bus, never from arguments. Refuses
 * callers this conductor does not serve (AccessDenied). */
int bus_caller_check(sd_bus_message *m, Daemon *d, uid_t *ret_uid, gid_t *ret_gid, sd_bus_error *error);

/* bus-job.c */
int bus_job_register(Daemon *d);
char *job_bus_path(const Job *j);
int bus_job_append_status(sd_bus_message *reply, Daemon *d, Job *j);
int bus_job_append_sheet(sd_bus_message *reply, Daemon *d, Job *j, unsigned num, sd_bus_error *error);
/* Read the sheet number from m and reply with that sheet's details. */
int bus_job_reply_sheet(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);
int bus_job_pause(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);
int bus_job_resume(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);
int bus_job_cancel(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);
int bus_job_delete(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);

/* bus-dict.c: one-line appenders of a{sv} entries */
int dict_append_s(sd_bus_message *m, const char *key, const char *value);
int dict_append_u(sd_bus_message *m, const char *key, uint32_t value);
int dict_append_i(sd_bus_message *m, const char *key, int32_t value);
int dict_append_t(sd_bus_message *m, const char *key, uint64_t value);
int dict_append_b(sd_bus_message *m, const char *key, bool value);
int dict_append_d(sd_bus_message *m, const char *key, double value);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

static const struct {
        const char *verb;
        const char *member;
        const char *done;
} actions[] = {
        { "pause",  "PauseJob",  "Paused" },
        { "resume", "ResumeJob", "Resumed" },
        { "cancel", "CancelJob", "Cancelled" },
        { "delete", "DeleteJob", "Deleted" },
};

static int job_action(const Ctl *c, sd_bus *bus, const char *member, const char *verb,
                      const char *done, const char *job) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *clean = ctl_sanitize(job, false);
        int r;

        if (!clean)
                return ctl_log_oom();
        r = sd_bus_call_method(bus, CONDUCTOR_SERVICE, CONDUCTOR_PATH, CONDUCTOR_INTERFACE,
                               member, &error, NULL, "s", job);
        if (r < 0)
                return ctl_report_error(c, &error, r, "%s job %s", verb, clean);
        if (!c->quiet)
                printf("%s job %s.\n", done, clean);
        return CTL_EXIT_SUCCESS;
}

int ctl_cmd_job_action(Ctl *c, const char *verb, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r, ret = CTL_EXIT_SUCCESS;
        size_t i;

        for (i = 0; i < ELEMENTSOF(actions); i++)
                if (streq(actions[i].verb, verb))
                        break;
        if (i >= ELEMENTSOF(actions))
                abort(); /* the verb table in mariannectl.c names only these */

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;

        /* Like systemctl: go on with the others, report the first failure. */
        STRV_FOREACH(job, args) {
                r = job_action(c, bus, actions[i].member, verb, actions[i].done, *job);
                if (r == CTL_EXIT_UNREACHABLE)
                        return r;
                if (r != 0 && ret == CTL_EXIT_SUCCESS)
                        ret = r;
        }
        return ret;
}

static int append_filter(const Ctl *c, sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (c->states) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "s", "states");
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(m, 'v', "as");
                if (r < 0)
                        return r;
                r = sd_bus_message_append_strv(m, c->states);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_close_container(m);
                if (r < 0)
                        return r;
        }
        if (c->older_than != UINT64_MAX) {
                r = sd_bus_message_append(m, "{sv}", "older_than_seconds", "t", c->older_than);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int ctl_cmd_clear(Ctl *c, _unused_ char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        uint32_t deleted;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        r = ctl_new_call(bus, "ClearJobs", &m);
        if (r >= 0)
                r = append_filter(c, m);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        r = ctl_call(c, bus, m, &reply, "clear jobs");
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "u", &deleted);
        if (r < 0)
                return ctl_log_parse_error(r);
        if (c->json)
                printf("{\"deleted\":%" PRIu32 "}\n", deleted);
        else if (!c->quiet)
                printf("Deleted %" PRIu32 " job%s.\n", deleted, deleted == 1 ? "" : "s");
        return CTL_EXIT_SUCCESS;
}

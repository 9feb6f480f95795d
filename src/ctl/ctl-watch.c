/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include "json.h"

struct Watch {
        const Ctl *c;
        sd_bus *bus;
        const char *job_id;     /* the resolved id; NULL: every job */
        int exit_code;          /* < 0: keep watching */
        bool from_start;        /* subscribed before the job existed: its events tell it all */
};

static bool job_state_terminal(const char *s) {
        return streq_ptr(s, "completed") || streq_ptr(s, "failed") || streq_ptr(s, "cancelled");
}

static int exit_code_for_state(const char *s) {
        return streq_ptr(s, "completed") ? CTL_EXIT_SUCCESS : CTL_EXIT_FAILED;
}

/* The start of an event: a local clock prefix, or the opening of a JSON object. */
static void begin_event(const Watch *w, const char *event, const char *job_id) {
        uint64_t now = now_usec(CLOCK_REALTIME);

        if (w->c->json) {
                printf("{\"time\":%" PRIu64 ",\"event\":", now);
                json_write_string(stdout, event);
                fputs(",\"job_id\":", stdout);
                json_write_string(stdout, job_id);
        } else {
                _cleanup_free_ char *clock = ctl_format_clock(now);
                _cleanup_free_ char *id = ctl_sanitize(job_id, false);

                printf("%s %s", strempty(clock), strempty(id));
        }
}

static void end_event(void) {
        fflush(stdout);
}

static void json_field_string(const char *key, const char *value) {
        printf(",\"%s\":", key);
        json_write_string(stdout, value);
}

static int get_progress(sd_bus *bus, const char *job_id, uint64_t *completed, uint64_t *total) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        int r;

        r = sd_bus_call_method(bus, CONDUCTOR_SERVICE, CONDUCTOR_PATH, CONDUCTOR_INTERFACE,
                               "GetJobStatus", &error, &reply, "s", job_id);
        if (r < 0)
                return r;
        r = ctl_dict_read(reply, &d);
        if (r < 0)
                return r;
        *completed = ctl_dict_u64(d, "completed_sheets");
        *total = ctl_dict_u64(d, "total_sheets");
        return 0;
}

static void print_transition(const Watch *w, const char *old_state, const char *new_state) {
        _cleanup_free_ char *o = ctl_sanitize(old_state, false), *n = ctl_sanitize(new_state, false);

        if (w->c->json) {
                json_field_string("old_state", old_state);
                json_field_string("new_state", new_state);
        } else
                printf("%s %s %s%s%s", strempty(o), ctl_glyph_arrow(),
                       ctl_state_color(new_state), strempty(n), ctl_color_reset());
}

static int on_job_added_removed(Watch *w, sd_bus_message *m, bool added) {
        const char *job_id, *path;
        int r;

        r = sd_bus_message_read(m, "so", &job_id, &path);
        if (r < 0)
                return r;
        if (w->job_id && !streq(w->job_id, job_id))
                return 0;
        begin_event(w, added ? "JobAdded" : "JobRemoved", job_id);
        if (w->c->json) {
                json_field_string("job", path);
                puts("}");
        } else
                puts(added ? " added" : " removed");
        end_event();

        if (!added && w->job_id) {
                fprintf(stderr, "mariannectl: Job %s was removed before it finished.\n", job_id);
                w->exit_code = CTL_EXIT_FAILED;
        }
        return 0;
}

static int on_job_state_changed(Watch *w, sd_bus_message *m) {
        const char *job_id, *path, *old_state, *new_state;
        uint64_t completed = 0, total = 0;
        bool have_progress;
        int r;

        r = sd_bus_message_read(m, "soss", &job_id, &path, &old_state, &new_state);
        if (r < 0)
                return r;
        if (w->job_id && !streq(w->job_id, job_id))
                return 0;

        have_progress = get_progress(w->bus, job_id, &completed, &total) >= 0;

        begin_event(w, "JobStateChanged", job_id);
        if (w->c->json) {
                json_field_string("job", path);
                print_transition(w, old_state, new_state);
                if (have_progress)
                        printf(",\"completed_sheets\":%" PRIu64 ",\"total_sheets\":%" PRIu64, completed, total);
                puts("}");
        } else {
                fputs(": ", stdout);
                print_transition(w, old_state, new_state);
                if (have_progress)
                        printf(" (%" PRIu64 "/%" PRIu64 " sheets completed)", completed, total);
                putchar('\n');
        }
        end_event();

        if (w->job_id && job_state_terminal(new_state))
                w->exit_code = exit_code_for_state(new_state);
        return 0;
}

static int on_sheet_state_changed(Watch *w, sd_bus_message *m) {
        const char *job_id, *old_state, *new_state;
        uint32_t sheet;
        int r;

        r = sd_bus_message_read(m, "suss", &job_id, &sheet, &old_state, &new_state);
        if (r < 0)
                return r;
        if (w->job_id && !streq(w->job_id, job_id))
                return 0;

        begin_event(w, "SheetStateChanged", job_id);
        if (w->c->json) {
                printf(",\"sheet\":%" PRIu32, sheet);
                print_transition(w, old_state, new_state);
                puts("}");
        } else {
                printf(" sheet %" PRIu32 ": ", sheet);
                print_transition(w, old_state, new_state);
                putchar('\n');
        }
        end_event();
        return 0;
}

static int on_signal(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *member = sd_bus_message_get_member(m);
        int r = 0;

        if (streq_ptr(member, "JobAdded"))
                r = on_job_added_removed(w, m, true);
        else if (streq_ptr(member, "JobRemoved"))
                r = on_job_added_removed(w, m, false);
        else if (streq_ptr(member, "JobStateChanged"))
                r = on_job_state_changed(w, m);
        else if (streq_ptr(member, "SheetStateChanged"))
                r = on_sheet_state_changed(w, m);
        if (r < 0)
                fprintf(stderr, "mariannectl: Ignoring malformed %s signal: %s\n", strna(member), strerror(-r));
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            !streq(name, CONDUCTOR_SERVICE))
                return 0;
        if (isempty(new_owner)) {
                fputs("mariannectl: The conductor stopped.\n", stderr);
                /* A job cannot finish without it: do not wait forever. */
                if (w->job_id)
                        w->exit_code = CTL_EXIT_UNREACHABLE;
        } else if (!w->c->quiet && !w->c->json)
                fputs("mariannectl: The conductor started.\n", stderr);
        return 0;
}

/* Over the socket the conductor is the other end of the connection: when
 * it goes, so does the connection, and it cannot come back on it. */
static int on_disconnected(sd_bus_message *m, void *userdata, _unused_ sd_bus_error *ret_error) {
        Watch *w = userdata;

        (void) m;
        fputs("mariannectl: The conductor closed the connection.\n", stderr);
        w->exit_code = CTL_EXIT_UNREACHABLE;
        return 0;
}

static int subscribe(Watch *w) {
        static const char * const members[] = {
                "JobAdded", "JobRemoved", "JobStateChanged", "SheetStateChanged",
        };
        /* on a direct connection there is no bus to stamp a sender on
         * signals: do not ask for one */
        const char *sender = w->c->socket_path ? NULL : CONDUCTOR_SERVICE;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                r = sd_bus_match_signal(w->bus, NULL, sender, CONDUCTOR_PATH,
                                        CONDUCTOR_INTERFACE, members[i], on_signal, w);
                if (r < 0)
                        return r;
        }
        if (w->c->socket_path)
                return sd_bus_match_signal(w->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                           "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, w);
        return sd_bus_add_match(w->bus, NULL,
                                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                "arg0='" CONDUCTOR_SERVICE "'",
                                on_name_owner_changed, w);
}

static int print_initial(Watch *w, sd_bus_message *reply, const CtlDict *d) {
        const char *state = ctl_dict_string(d, "status");
        int r;

        begin_event(w, "Status", w->job_id);
        if (w->c->json) {
                r = sd_bus_message_rewind(reply, true);
                if (r < 0)
                        return r;
                fputs(",\"status\":", stdout);
                r = ctl_json_write_dict(stdout, reply);
                if (r < 0)
                        return r;
                puts("}");
        } else {
                _cleanup_free_ char *s = ctl_sanitize(state, false);

                printf(": %s%s%s (%" PRIu64 "/%" PRIu64 " sheets completed)\n",
                       ctl_state_color(state), strna(s), ctl_color_reset(),
                       ctl_dict_u64(d, "completed_sheets"), ctl_dict_u64(d, "total_sheets"));
        }
        end_event();
        if (job_state_terminal(state))
                w->exit_code = exit_code_for_state(state);
        return 0;
}

/* Subscribe first, then ask: whatever happens in between arrives as a signal. */
static int resolve_job(Watch *w, const char *job, char **ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        _cleanup_free_ char *what = strdup_printf("get the status of job %s", job);
        int r;

        if (!what)
                return ctl_log_oom();
        r = ctl_new_call(w->bus, "GetJobStatus", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", job);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        r = ctl_call(w->c, w->bus, m, &reply, what);
        if (r != 0)
                return r;
        r = ctl_dict_read(reply, &d);
        if (r < 0)
                return ctl_log_parse_error(r);
        if (isempty(ctl_dict_string(d, "id"))) {
                fprintf(stderr, "mariannectl: The conductor's status of job %s has no id.\n", job);
                return CTL_EXIT_FAILED;
        }
        /* Signals carry ids only, so filter on the id the name resolved to. */
        *ret_id = strdup(ctl_dict_string(d, "id"));
        if (!*ret_id)
                return ctl_log_oom();
        w->job_id = *ret_id;
        /* subscribed before the start: every event since, the end
         * included, is queued and will be shown in order */
        if (w->from_start)
                return 0;
        r = print_initial(w, reply, d);
        if (r < 0)
                return ctl_log_parse_error(r);
        return 0;
}

static int event_loop(Watch *w) {
        int r;

        while (w->exit_code < 0) {
                r = sd_bus_process(w->bus, NULL);
                if (r < 0)
                        return ctl_report_error(w->c, NULL, r, "receive events");
                if (r > 0)
                        continue;
                r = sd_bus_wait(w->bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return ctl_report_error(w->c, NULL, r, "wait for events");
        }
        return w->exit_code;
}

int ctl_watch_begin(const Ctl *c, sd_bus *bus, Watch **ret) {
        _cleanup_free_ Watch *w = calloc(1, sizeof(Watch));
        int r;

        if (!w)
                return ctl_log_oom();
        *w = (Watch) {
                .c = c,
                .bus = bus,
                .exit_code = -1,
        };
        /* the matches live as long as the bus connection */
        r = subscribe(w);
        if (r < 0)
                return ctl_report_error(c, NULL, r, "subscribe to the conductor's signals");
        w->from_start = true;
        *ret = TAKE_PTR(w);
        return 0;
}

int ctl_watch_follow(Watch *w, const char *job) {
        _cleanup_free_ char *job_id = NULL;
        int r;

        if (job) {
                r = resolve_job(w, job, &job_id);
                if (r != 0)
                        return r;
        }
        r = event_loop(w);
        w->job_id = NULL;
        return r;
}

int ctl_watch_job(const Ctl *c, sd_bus *bus, const char *job) {
        _cleanup_free_ Watch *w = NULL;
        int r;

        r = ctl_watch_begin(c, bus, &w);
        if (r != 0)
                return r;
        w->from_start = false;  /* the job exists already: show where it stands */
        return ctl_watch_follow(w, job);
}

int ctl_cmd_watch(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        return ctl_watch_job(c, bus, args[0]);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-errors.h"
#include "bus-polkit.h"
#include "log.h"

/* polkit may wait for a person to type a password */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5U * 60U * USEC_PER_SEC)

typedef struct PolkitQuery PolkitQuery;
struct PolkitQuery {
        PolkitQuery *next;
        PolkitRegistry *registry;
        sd_bus_message *call;   /* the method call waiting for the answer */
        char *action;
        sd_bus_slot *slot;      /* the CheckAuthorization in flight */
        sd_event_source *reaper; /* frees the answer if the requeued call never takes it */
        bool done;
        bool authorized;
        char *denial;           /* why not, when done and not authorized */
};

struct PolkitRegistry {
        PolkitQuery *queries;
};

PolkitRegistry *polkit_registry_new(void) {
        return calloc(1, sizeof(PolkitRegistry));
}

static void query_free(PolkitQuery *q) {
        if (!q)
                return;
        sd_bus_slot_unref(q->slot);
        sd_event_source_disable_unref(q->reaper);
        sd_bus_message_unref(q->call);
        free(q->action);
        free(q->denial);
        free(q);
}

static void query_unlink(PolkitQuery *q) {
        for (PolkitQuery **p = &q->registry->queries; *p; p = &(*p)->next)
                if (*p == q) {
                        *p = q->next;
                        return;
                }
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        while (r->queries) {
                PolkitQuery *q = r->queries;

                r->queries = q->next;
                query_free(q);
        }
        free(r);
        return NULL;
}

unsigned polkit_registry_pending(PolkitRegistry *r) {
        unsigned n = 0;

        for (PolkitQuery *q = r ? r->queries : NULL; q; q = q->next)
                if (!q->done)
                        n++;
        return n;
}

static int on_reap(sd_event_source *s, void *userdata) {
        PolkitQuery *q = userdata;

        /* The requeued call has been dispatched (idle priority runs after
         * the bus) without consuming its answer: its handler failed earlier
         * (the sender went away, the job was deleted).  Do not keep it,
         * and the message it holds, forever. */
        (void) s;
        query_unlink(q);
        query_free(q);
        return 0;
}

static int on_check_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        int authorized = 0, challenge = 0, r;

        (void) ret_error;
        q->slot = sd_bus_slot_unref(q->slot);
        q->done = true;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                /* no polkit, no authorization: fail closed, but say why */
                q->denial = strdup_printf("polkit could not be asked about %s (%s), so access is denied",
                                          q->action, e && e->message ? e->message : strna(e ? e->name : NULL));
        } else {
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
                if (r < 0)
                        q->denial = strdup_printf("polkit's answer about %s could not be read (%s), so access is denied",
                                                  q->action, strerror(-r));
                else if (authorized)
                        q->authorized = true;
                else if (challenge)
                        q->denial = strdup_printf("%s needs authentication; allow it with the interactive option "
                                                  "(mariannectl does from a terminal)", q->action);
                else
                        q->denial = strdup_printf("polkit does not allow %s to this user", q->action);
        }

        /* Dispatch the original call again: this time the answer is here. */
        r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->call), q->call);
        if (r >= 0) {
                sd_event *e = sd_bus_get_event(sd_bus_message_get_bus(q->call));

                if (e && sd_event_add_defer(e, &q->reaper, on_reap, q) >= 0)
                        (void) sd_event_source_set_priority(q->reaper, SD_EVENT_PRIORITY_IDLE);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to requeue a call after its polkit check: %m");
                (void) sd_bus_reply_method_errorf(q->call, BUS_ERROR_ACCESS_DENIED,
                                                  "The authorization check could not be completed.");
                query_unlink(q);
                query_free(q);
        }
        return 1;
}

static int query_start(sd_bus_message *call, const char *action, bool interactive,
                       PolkitRegistry *registry) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        sd_bus *bus = sd_bus_message_get_bus(call);
        const char *sender = sd_bus_message_get_sender(call);
        PolkitQuery *q;
        int r;

        if (!sender)
                return -EBADMSG;        /* peer-to-peer: there is no bus name to ask about */

        r = sd_bus_message_new_method_call(bus, &pk, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(pk, "(sa{sv})sa{ss}us",
                                  "system-bus-name", 1, "name", "s", sender,
                                  action, 0, (uint32_t) (interactive ? 1 : 0), "");
        if (r < 0)
                return r;

        q = calloc(1, sizeof(PolkitQuery));
        if (!q)
                return -ENOMEM;
        q->registry = registry;
        q->call = sd_bus_message_ref(call);
        q->action = strdup(action);
        if (!q->action) {
                query_free(q);
                return -ENOMEM;
        }
        r = sd_bus_call_async(bus, &q->slot, pk, on_check_reply, q,
                              interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
        if (r < 0) {
                query_free(q);
                return r;
        }
        q->next = registry->queries;
        registry->queries = q;
        return 0;
}

int bus_polkit_check(sd_bus_message *call, const char *action, bool interactive,
                     PolkitRegistry *registry, sd_bus_error *error) {
        int r;

        for (PolkitQuery *q = registry->queries; q; q = q->next) {
                if (q->call != call || !streq(q->action, action))
                        continue;
                if (!q->done)
                        return 0;       /* dispatched again before the answer: keep waiting */

                query_unlink(q);
                if (q->authorized) {
                        query_free(q);
                        return 1;
                }
                r = sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED, "%s",
                                      q->denial ?: "Access denied by polkit.");
                query_free(q);
                return r;
        }

        r = query_start(call, action, interactive, registry);
        if (r == -EBADMSG)
                return sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED,
                                         "%s needs polkit, which needs a bus name to ask about.", action);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED,
                                         "polkit could not be asked about %s (%s), so access is denied.",
                                         action, strerror(-r));
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Who may do what.  The caller's identity always comes from the bus.
 * root, and the one user a per-user conductor serves, may do anything; a
 * job's owner may see and manage it; everything else is polkit's call.
 * On the socket (peer-to-peer, bus-peer.c) there is no polkit: root, or
 * the user of a per-user conductor, may do anything, and nobody else
 * anything at all. */

#include "bus-errors.h"
#include "daemon.h"
#include "job.h"

int bus_caller(sd_bus_message *m, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        /* Only what the bus itself vouches for: no SD_BUS_CREDS_AUGMENT,
         * which would fill gaps from /proc of whatever process holds the
         * sender's pid by now (a setgid program it exec'ed, or a stranger
         * that reused the pid). */
        if (sd_bus_is_bus_client(sd_bus_message_get_bus(m)) > 0)
                r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        else
                /* peer-to-peer: no bus vouches for a sender name, which the
                 * peer could write into its header; the caller is whoever
                 * connected, as the kernel saw it (SO_PEERCRED) */
                r = sd_bus_get_owner_creds(sd_bus_message_get_bus(m), SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (ret_uid)
                *ret_uid = uid;
        /* The job's group is the user's own from the user database, never
         * one the caller happened to hold (or claim) at the time. */
        if (ret_gid)
                *ret_gid = (gid_t) -1;
        return 0;
}

static bool uid_is_privileged(Daemon *d, uid_t uid) {
        /* A per-user conductor skips polkit: its session bus lets only its
         * own user in. */
        return uid == 0 || (d->user_mode && uid == getuid());
}

bool bus_uid_may_use_socket(Daemon *d, uid_t uid) {
        return uid_is_privileged(d, uid);
}

static int socket_denied(Daemon *d, uid_t uid, sd_bus_error *error) {
        if (d->user_mode)
                return sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED,
                                         "This per-user conductor's socket serves only uid %u and root, not uid %u.",
                                         (unsigned) getuid(), (unsigned) uid);
        return sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED,
                                 "The conductor's socket is for root (uid %u is not); other users go through "
                                 "the system bus, where polkit decides.", (unsigned) uid);
}

static int authorize(sd_bus_message *m, Daemon *d, const char *action, bool interactive, sd_bus_error *error) {
        uid_t uid;
        int r;

        r = bus_caller(m, &uid, NULL);
        if (r < 0)
                return r;
        /* nobody to ask polkit about on a peer connection, and no need */
        if (bus_message_is_from_peer(d, m))
                return bus_uid_may_use_socket(d, uid) ? 1 : socket_denied(d, uid, error);
        if (uid_is_privileged(d, uid))
                return 1;
        if (d->user_mode)
                return sd_bus_error_setf(error, BUS_ERROR_ACCESS_DENIED,
                                         "This per-user conductor serves only uid %u.", (unsigned) getuid());
        return bus_polkit_check(m, action, interactive, d->polkit, error);
}

int bus_authorize(sd_bus_message *m, Daemon *d, const char *action, bool interactive, sd_bus_error *error) {
        return authorize(m, d, action, interactive || sd_bus_message_get_allow_interactive_authorization(m), error);
}

int bus_authorize_quietly(sd_bus_message *m, Daemon *d, const char *action, sd_bus_error *error) {
        /* for checks that only widen an answer: never a password prompt */
        return authorize(m, d, action, false, error);
}

int bus_authorize_job(sd_bus_message *m, Daemon *d, Job *j, const char *action, sd_bus_error *error) {
        uid_t uid;
        int r;

        if (bus_message_is_from_peer(d, m))
                return authorize(m, d, action, false, error);   /* owning the job is not enough */
        r = bus_caller(m, &uid, NULL);
        if (r < 0)
                return r;
        if (uid == j->rec.owner_uid && (!d->user_mode || uid == getuid()))
                return 1;
        return bus_authorize(m, d, action, false, error);
}

bool bus_caller_sees_job(sd_bus *bus, Daemon *d, Job *j, const char *path) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        uid_t uid;

        /* Job objects are visible to their owner and to root; others reach
         * a job through the manager's methods, with polkit.  Only a request
         * that is about this object (or a listing, path == NULL) is
         * filtered: the same lookups happen when we emit its signals, with
         * no message or another one current. */
        if (!m || (path && !streq_ptr(sd_bus_message_get_path(m), path)))
                return true;
        if (bus_caller(m, &uid, NULL) < 0)
                return false;
        if (bus_message_is_from_peer(d, m))
                return bus_uid_may_use_socket(d, uid);
        return uid_is_privileged(d, uid) || uid == j->rec.owner_uid;
}

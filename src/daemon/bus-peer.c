/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Socket activation: the service manager hands us the listening socket of
 * marianne.socket, and every connection accepted on it is a peer-to-peer
 * D-Bus connection, no bus daemon in between, serving the same objects as
 * the bus.  A peer is who connected (SO_PEERCRED): only root, and the user
 * of a per-user conductor, is let in, here at accept time and again at
 * every authorization (bus-authorize.c).  Every signal goes out on the bus
 * and on every peer connection, through the emitters at the end. */

#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>

#include "daemon.h"
#include "log.h"

/* After a failed accept for lack of file descriptors or memory, the socket
 * stays readable: stop watching it for this long instead of spinning. */
#define ACCEPT_RETRY_USEC (1U * USEC_PER_SEC)

struct Listener {
        Daemon *daemon;
        sd_event_source *source;        /* owns the fd */
        sd_event_source *retry;         /* watches the socket again after a failed accept */
        char *name;                     /* the socket's path, for messages */
};

struct Peer {
        Daemon *daemon;
        Peer *next;
        sd_bus *bus;
        sd_event_source *kick;          /* processes what came with the end of authentication */
        bool gone;                      /* disconnected or dropped: the reaper frees it */
        unsigned id;
        uid_t uid;
        pid_t pid;
};

static char *socket_name(int fd) {
        struct sockaddr_un sa = {};
        socklen_t len = sizeof(sa);
        size_t n;

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0 || sa.sun_family != AF_UNIX ||
            len <= offsetof(struct sockaddr_un, sun_path))
                return strdup_printf("socket fd %d", fd);
        n = len - offsetof(struct sockaddr_un, sun_path);
        if (sa.sun_path[0] == 0)        /* abstract */
                return strdup_printf("@%.*s", (int) (n - 1), sa.sun_path + 1);
        return strndup(sa.sun_path, strnlen(sa.sun_path, n));
}

bool bus_message_is_from_peer(Daemon *d, sd_bus_message *m) {
        return sd_bus_message_get_bus(m) != d->bus;
}

/* ---- peers ------------------------------------------------------------- */

static Peer *peer_free(Peer *p) {
        if (!p)
                return NULL;
        sd_event_source_disable_unref(p->kick);
        /* a peer that went away has nothing left to flush; one still there
         * (at shutdown) gets its last replies */
        if (p->gone)
                sd_bus_close_unref(p->bus);
        else
                sd_bus_flush_close_unref(p->bus);
        free(p);
        return NULL;
}

static void peer_unlink(Daemon *d, Peer *p) {
        for (Peer **q = &d->peers; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        d->n_peers--;
                        return;
                }
}

static int on_reap(sd_event_source *s, void *userdata) {
        Daemon *d = userdata;

        (void) s;
        for (Peer *p = d->peers, *next; p; p = next) {
                next = p->next;
                if (!p->gone)
                        continue;
                peer_unlink(d, p);
                peer_free(p);
        }
        return 0;
}

/* Never freed on the spot: the peer's bus may be dispatching the very
 * message that led here, or an emission loop may be walking the list. */
static void peer_drop(Peer *p) {
        Daemon *d = p->daemon;
        int r;

        if (p->gone)
                return;
        p->gone = true;
        r = sd_event_source_set_enabled(d->peer_reaper, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to schedule freeing peer connection %u: %m", p->id);
}

static int on_peer_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = userdata;

        (void) m;
        (void) error;
        log_full_errno(LOG_DEBUG, 0, "Peer connection %u (uid %u, pid %d) closed.",
                       p->id, (unsigned) p->uid, (int) p->pid);
        peer_drop(p);
        return 0;
}

/* The few methods of the bus driver that clients written for a bus call
 * before anything else (busctl --address=, gdbus --address, any
 * sd_bus/GDBus client that sets itself up as a bus client): Hello, and
 * AddMatch, which needs nothing here since every signal goes to every
 * peer and clients filter for themselves.  A plain peer-to-peer client
 * (mariannectl --socket) calls none of them. */
static int method_hello(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = userdata;
        char name[32];

        (void) error;
        (void) snprintf(name, sizeof(name), ":1.%u", p->id);
        return sd_bus_reply_method_return(m, "s", name);
}

static int method_match(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *rule;
        int r;

        (void) userdata;
        (void) error;
        r = sd_bus_message_read(m, "s", &rule);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_get_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name;
        int r;

        (void) userdata;
        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        if (!streq(name, CONDUCTOR_BUS_NAME) && !streq(name, "org.freedesktop.DBus"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                         "Only %s is on the other end of this connection.", CONDUCTOR_BUS_NAME);
        return sd_bus_reply_method_return(m, "s", name);
}

static const sd_bus_vtable driver_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Hello", "", "s", method_hello, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("AddMatch", "s", "", method_match, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("RemoveMatch", "s", "", method_match, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetNameOwner", "s", "s", method_get_name_owner, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/* sd-bus reads the end of authentication in one go, and with it whatever
 * the client sent right after BEGIN (its Hello, its first call); once
 * running it only looks at its buffer again when the socket has more or
 * its queue is not empty.  A client that then waits for an answer would
 * wait for ever.  So once authenticated (the Connected signal, synthesized
 * by sd-bus), process the connection until it has nothing left. */
static int on_peer_kick(sd_event_source *s, void *userdata) {
        Peer *p = userdata;
        int r;

        if (p->gone)
                return 0;
        r = sd_bus_process(p->bus, NULL);
        if (r < 0) {
                log_full_errno(LOG_DEBUG, r, "Processing peer connection %u failed, dropping it: %m", p->id);
                peer_drop(p);
                return 0;
        }
        if (r > 0)      /* there may be more: come back (after everyone else) */
                return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_peer_connected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Peer *p = userdata;
        int r;

        (void) m;
        (void) error;
        r = sd_event_source_set_enabled(p->kick, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to process peer connection %u after authentication: %m", p->id);
        return 0;
}

static int peer_new(Daemon *d, int fd, const struct ucred *ucred) {
        static unsigned counter = 0;
        _cleanup_close_ int cfd = fd;
        _cleanup_free_ char *description = NULL;
        sd_id128_t id;
        Peer *p;
        int r;

        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(Peer));
        if (!p)
                return -ENOMEM;
        *p = (Peer) {
                .daemon = d,
                .id = ++counter,
                .uid = ucred->uid,
                .pid = ucred->pid,
        };

        r = sd_bus_new(&p->bus);
        if (r < 0)
                goto fail;
        r = sd_bus_set_fd(p->bus, cfd, cfd);
        if (r < 0)
                goto fail;
        TAKE_FD(cfd);   /* the bus's now */
        description = strdup_printf("peer-%u", p->id);
        if (description)
                (void) sd_bus_set_description(p->bus, description);
        r = sd_bus_set_server(p->bus, true, id);
        if (r >= 0)
                r = sd_bus_set_anonymous(p->bus, false);
        if (r >= 0)
                r = sd_bus_set_trusted(p->bus, false);
        if (r >= 0)
                r = sd_bus_negotiate_fds(p->bus, true);     /* StartJobFromFile, OpenSheetOutput */
        /* our signals carry the well-known name, as on the bus, so a client
         * that matches on it works over the socket too */
        if (r >= 0)
                r = sd_bus_set_sender(p->bus, CONDUCTOR_BUS_NAME);
        if (r >= 0)
                r = sd_bus_set_connected_signal(p->bus, true);
        if (r >= 0)
                r = sd_event_add_defer(d->event, &p->kick, on_peer_kick, p);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->kick, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_bus_match_signal(p->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Connected", on_peer_connected, p);
        if (r >= 0)
                r = sd_bus_start(p->bus);
        if (r < 0)
                goto fail;

        /* sd_bus_set_exit_on_disconnect() is for the bus only: a peer that
         * leaves is just forgotten */
        r = sd_bus_match_signal(p->bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_peer_disconnected, p);
        if (r < 0)
                goto fail;
        r = daemon_watch_activity(d, p->bus);
        if (r < 0)
                goto fail;
        r = bus_conductor_register(d, p->bus);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(p->bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     driver_vtable, p);
        if (r < 0)
                goto fail;
        r = sd_bus_attach_event(p->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;

        p->next = d->peers;
        d->peers = p;
        d->n_peers++;
        log_full_errno(LOG_DEBUG, 0, "Peer connection %u from uid %u (pid %d) accepted, %u open.",
                       p->id, (unsigned) p->uid, (int) p->pid, d->n_peers);
        return 0;

fail:
        p->gone = true;
        peer_free(p);
        return r;
}

/* ---- listening sockets ------------------------------------------------- */

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Listener *l = userdata;

        (void) s;
        (void) usec;
        l->retry = sd_event_source_unref(l->retry);
        return sd_event_source_set_enabled(l->source, SD_EVENT_ON);
}

static void pause_listener(Listener *l) {
        int r;

        if (l->retry)
                return;
        r = sd_event_add_time_relative(l->daemon->event, &l->retry, CLOCK_MONOTONIC, ACCEPT_RETRY_USEC, 0,
                                       on_retry, l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l->source, SD_EVENT_OFF);
        if (r < 0)
                log_warning_errno(r, "Failed to pause accepting on %s: %m", l->name);
}

static void log_refused(Daemon *d, const Listener *l, const struct ucred *ucred) {
        if (d->user_mode)
                log_notice("Refused a connection on %s from uid %u (pid %d): this per-user conductor's socket "
                           "serves only uid %u and root.", l->name, (unsigned) ucred->uid, (int) ucred->pid,
                           (unsigned) getuid());
        else
                log_notice("Refused a connection on %s from uid %u (pid %d): the socket is for root; other users "
                           "go through the system bus, where polkit decides.", l->name, (unsigned) ucred->uid,
                           (int) ucred->pid);
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;
        Daemon *d = l->daemon;
        _cleanup_close_ int cfd = -EBADF;
        struct ucred ucred = {};
        socklen_t len = sizeof(ucred);
        int r;

        (void) s;
        (void) revents;
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                int e = errno;

                /* the client gave up already: nothing to do */
                if (e == EAGAIN || e == EINTR || e == ECONNABORTED || e == EPROTO)
                        return 0;
                log_warning_errno(e, "Failed to accept a connection on %s: %m", l->name);
                if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                        pause_listener(l);
                return 0;
        }
        /* a connection is activity, even before its first message */
        d->last_activity = now_usec(CLOCK_MONOTONIC);

        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &ucred, &len) < 0) {
                log_warning_errno(errno, "Failed to read the credentials of a connection on %s, closing it: %m",
                                  l->name);
                return 0;
        }
        if (!bus_uid_may_use_socket(d, ucred.uid)) {
                log_refused(d, l, &ucred);
                return 0;
        }
        if (d->n_peers >= PEERS_MAX) {
                log_warning("Refused a connection on %s from uid %u (pid %d): %u connections are open, the most "
                            "allowed.", l->name, (unsigned) ucred.uid, (int) ucred.pid, d->n_peers);
                return 0;
        }
        r = peer_new(d, TAKE_FD(cfd), &ucred);
        if (r < 0)
                log_warning_errno(r, "Failed to set up a connection on %s from uid %u (pid %d): %m",
                                  l->name, (unsigned) ucred.uid, (int) ucred.pid);
        return 0;
}

int daemon_take_listen_fds(Daemon *d) {
        int n, r;

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets passed by the service manager: %m");
        if (n == 0)
                return 0;

        d->listeners = calloc((size_t) n, sizeof(Listener));
        if (!d->listeners)
                return log_oom();
        r = sd_event_add_defer(d->event, &d->peer_reaper, on_reap, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->peer_reaper, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to set up freeing peer connections: %m");

        for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
                Listener *l = &d->listeners[d->n_listeners];

                r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
                if (r <= 0) {
                        if (r < 0)
                                log_warning_errno(r, "Failed to check file descriptor %d passed by the service "
                                                  "manager, closing it: %m", fd);
                        else
                                log_warning("File descriptor %d passed by the service manager is not a listening "
                                            "AF_UNIX stream socket; closing it.", fd);
                        (void) close(fd);
                        continue;
                }

                *l = (Listener) {
                        .daemon = d,
                        .name = socket_name(fd),
                };
                if (!l->name) {
                        (void) close(fd);
                        return log_oom();
                }
                r = sd_event_add_io(d->event, &l->source, fd, EPOLLIN, on_connection, l);
                if (r < 0) {
                        (void) close(fd);
                        log_error_errno(r, "Failed to watch %s: %m", l->name);
                        free(l->name);
                        return r;
                }
                d->n_listeners++;
                (void) sd_event_source_set_io_fd_own(l->source, true);
                /* not before the jobs are loaded: daemon_start_accepting() */
                r = sd_event_source_set_enabled(l->source, SD_EVENT_OFF);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up %s: %m", l->name);
        }
        return (int) d->n_listeners;
}

int daemon_start_accepting(Daemon *d) {
        int r;

        for (size_t i = 0; i < d->n_listeners; i++) {
                r = sd_event_source_set_enabled(d->listeners[i].source, SD_EVENT_ON);
                if (r < 0)
                        return log_error_errno(r, "Failed to start accepting connections on %s: %m",
                                               d->listeners[i].name);
                log_info("Accepting peer-to-peer D-Bus connections on %s.", d->listeners[i].name);
        }
        return 0;
}

void daemon_free_peers(Daemon *d) {
        while (d->peers) {
                Peer *p = d->peers;

                d->peers = p->next;
                peer_free(p);
        }
        d->n_peers = 0;
        for (size_t i = 0; i < d->n_listeners; i++) {
                Listener *l = &d->listeners[i];

                sd_event_source_disable_unref(l->retry);
                sd_event_source_disable_unref(l->source);
                free(l->name);
        }
        free(d->listeners);
        d->listeners = NULL;
        d->n_listeners = 0;
        d->peer_reaper = sd_event_source_disable_unref(d->peer_reaper);
}

/* ---- signals to every connection --------------------------------------- */

static void peer_emit_failed(Peer *p, int r, const char *what, const char *path) {
        /* a peer that does not read (its queue is full) or that is going
         * away: drop it rather than let it hold signals for ever.  One
         * that just left is no news. */
        bool left = r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -ESHUTDOWN;

        log_full_errno(left ? LOG_DEBUG : LOG_NOTICE, r,
                       "Dropping peer connection %u (uid %u, pid %d): sending it %s of %s failed: %m",
                       p->id, (unsigned) p->uid, (int) p->pid, what, path);
        peer_drop(p);
}

int bus_emit_signal(Daemon *d, const char *path, const char *interface, const char *member,
                    const char *types, ...) {
        va_list ap;
        int r = 0, k;

        if (d->bus) {
                va_start(ap, types);
                r = sd_bus_emit_signalv(d->bus, path, interface, member, types, ap);
                va_end(ap);
        }
        for (Peer *p = d->peers; p; p = p->next) {
                if (p->gone)
                        continue;
                va_start(ap, types);
                k = sd_bus_emit_signalv(p->bus, path, interface, member, types, ap);
                va_end(ap);
                if (k < 0)
                        peer_emit_failed(p, k, member, path);
        }
        return r;
}

#define PROPERTIES_MAX 8        /* the most any emission names */

int bus_emit_properties_changed(Daemon *d, const char *path, const char *interface, const char *name, ...) {
        char *names[PROPERTIES_MAX + 1] = {};
        size_t n = 0;
        va_list ap;
        int r = 0, k;

        va_start(ap, name);
        for (const char *s = name; s && n < PROPERTIES_MAX; s = va_arg(ap, const char *))
                names[n++] = (char *) s;
        va_end(ap);

        if (d->bus)
                r = sd_bus_emit_properties_changed_strv(d->bus, path, interface, names);
        for (Peer *p = d->peers; p; p = p->next) {
                if (p->gone)
                        continue;
                k = sd_bus_emit_properties_changed_strv(p->bus, path, interface, names);
                if (k < 0)
                        peer_emit_failed(p, k, "PropertiesChanged", path);
        }
        return r;
}

static int emit_object(Daemon *d, const char *path, bool added) {
        int r = 0, k;

        if (d->bus)
                r = added ? sd_bus_emit_object_added(d->bus, path) : sd_bus_emit_object_removed(d->bus, path);
        for (Peer *p = d->peers; p; p = p->next) {
                if (p->gone)
                        continue;
                k = added ? sd_bus_emit_object_added(p->bus, path) : sd_bus_emit_object_removed(p->bus, path);
                if (k < 0)
                        peer_emit_failed(p, k, added ? "InterfacesAdded" : "InterfacesRemoved", path);
        }
        return r;
}

int bus_emit_object_added(Daemon *d, const char *path) {
        return emit_object(d, path, true);
}

int bus_emit_object_removed(Daemon *d, const char *path) {
        return emit_object(d, path, false);
}

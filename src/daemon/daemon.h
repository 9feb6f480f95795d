/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-polkit.h"
#include "conductor.h"

#define CONDUCTOR_BUS_NAME      "org.marianne.Conductor"
#define CONDUCTOR_OBJECT_PATH   "/org/marianne/Conductor"
#define CONDUCTOR_INTERFACE     "org.marianne.Conductor"
#define JOB_OBJECT_PREFIX       "/org/marianne/Conductor/job"
#define JOB_INTERFACE           "org.marianne.Conductor.Job"

/* Socket activation: peer-to-peer connections at most, at once. */
#define PEERS_MAX               64U

typedef struct Listener Listener;
typedef struct Peer Peer;

typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;            /* the system or session bus; NULL when serving sockets only */
        Conductor *conductor;
        PolkitRegistry *polkit;
        bool user_mode;         /* per-user conductor on the session bus */

        /* configuration: the command line wins over the file */
        const char *config_path;
        unsigned arg_max_concurrent_sheets;     /* 0 = not given */
        unsigned arg_max_jobs_per_user;
        usec_t arg_exit_on_idle_usec;           /* USEC_INFINITY = not given */
        int arg_runner;                         /* RunnerChoice, -1 = not given */
        RunnerChoice runner;                    /* chosen at start; a reload does not switch */
        char *exec_search_path;                 /* ExecSearchPath=, NULL = the default */
        ScoreSlurm slurm_defaults;              /* [Slurm], until the conductor takes it */
        usec_t slurm_poll_usec;                 /* PollIntervalSec=, 0 = the default */
        unsigned max_concurrent_sheets;         /* in force */
        unsigned max_jobs_per_user;
        usec_t exit_on_idle_usec;               /* in force; 0 = never */
        usec_t last_activity;                   /* monotonic */
        sd_event_source *idle_timer;

        /* socket activation (bus-peer.c): the listening sockets passed by
         * the service manager and the peer-to-peer connections accepted on
         * them, each serving the same objects as the bus */
        Listener *listeners;
        size_t n_listeners;
        Peer *peers;
        unsigned n_peers;
        sd_event_source *peer_reaper;           /* frees peers that went away */
} Daemon;

/* daemon-config.c: (re)read the configuration file and apply it; on error
 * nothing changes and *ret_error says why. */
int daemon_load_config(Daemon *d, char **ret_error);
/* Exit on idle: no active job, no running sheet, no polkit query, no bus
 * message for exit_on_idle_usec. */
int daemon_setup_idle(Daemon *d);

/* Count bus messages on bus as activity (the main bus and every peer). */
int daemon_watch_activity(Daemon *d, sd_bus *bus);

/* bus-peer.c: socket activation.  daemon_take_listen_fds() keeps every
 * listening AF_UNIX stream socket passed by the service manager (returns
 * how many); daemon_start_accepting() starts accepting on them, once the
 * jobs are loaded; daemon_free_peers() flushes and closes every peer
 * connection and listener. */
int daemon_take_listen_fds(Daemon *d);
int daemon_start_accepting(Daemon *d);
void daemon_free_peers(Daemon *d);
/* True when m arrived on a peer-to-peer connection, not on the bus. */
bool bus_message_is_from_peer(Daemon *d, sd_bus_message *m);

/* bus-peer.c: every signal goes out through these, on the bus (if any)
 * and on every peer connection.  They return the bus's result (0 without
 * a bus); a peer that cannot take a signal is dropped. */
int bus_emit_signal(Daemon *d, const char *path, const char *interface, const char *member,
                    const char *types, ...);
int bus_emit_properties_changed(Daemon *d, const char *path, const char *interface,
                                const char *name, ...) _sd_sentinel_;
int bus_emit_object_added(Daemon *d, const char *path);
int bus_emit_object_removed(Daemon *d, const char *path);

/* bus-conductor.c: the conductor object, the object manager and the job
 * objects, on one connection (the bus or a peer) */
int bus_conductor_register(Daemon *d, sd_bus *bus);
extern const ConductorObserver bus_conductor_observer;

/* bus-authorize.c: the caller's identity from the bus, never from
 * arguments; authorization returns 1 to go on, 0 when a polkit check is
 * in flight (return 1 from the handler without replying: the call comes
 * back), negative with AccessDenied set when refused. */
int bus_caller(sd_bus_message *m, uid_t *ret_uid, gid_t *ret_gid);
int bus_authorize(sd_bus_message *m, Daemon *d, const char *action, bool interactive, sd_bus_error *error);
int bus_authorize_quietly(sd_bus_message *m, Daemon *d, const char *action, sd_bus_error *error);
int bus_authorize_job(sd_bus_message *m, Daemon *d, Job *j, const char *action, sd_bus_error *error);
bool bus_caller_sees_job(sd_bus *bus, Daemon *d, Job *j, const char *path);
/* Who may talk to the conductor over its socket: root (and the user of a
 * per-user conductor); everyone else goes through the bus and polkit. */
bool bus_uid_may_use_socket(Daemon *d, uid_t uid);
#define AUTHORIZED_OR_RETURN(r) do { if ((r) <= 0) return (r) < 0 ? (r) : 1; } while (0)

/* bus-job.c */
int bus_job_register(Daemon *d, sd_bus *bus);
char *job_bus_path(const Job *j);
int bus_job_append_status(sd_bus_message *reply, Daemon *d, Job *j);
int bus_job_append_sheet(sd_bus_message *reply, Daemon *d, Job *j, unsigned num, sd_bus_error *error);
/* Read the sheet number from m and reply with that sheet's details. */
int bus_job_reply_sheet(sd_bus_message *m, Daemon *d, Job *j, sd_bus_error *error);
int bus_job_pause(Daemon *d, Job *j, sd_bus_error *error);
int bus_job_resume(Daemon *d, Job *j, sd_bus_error *error);
int bus_job_cancel(Daemon *d, Job *j, sd_bus_error *error);
int bus_job_delete(Daemon *d, Job *j, sd_bus_error *error);

/* bus-dict.c: one-line appenders of a{sv} entries */
int dict_append_s(sd_bus_message *m, const char *key, const char *value);
int dict_append_strv(sd_bus_message *m, const char *key, char **l);      /* -EINVAL: not UTF-8 */
int dict_append_u(sd_bus_message *m, const char *key, uint32_t value);
int dict_append_i(sd_bus_message *m, const char *key, int32_t value);
int dict_append_t(sd_bus_message *m, const char *key, uint64_t value);
int dict_append_b(sd_bus_message *m, const char *key, bool value);
int dict_append_d(sd_bus_message *m, const char *key, double value);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* marianned: the Marianne conductor daemon.  Sets up the event loop, the
 * bus and the conductor core, then serves org.marianne.Conductor. */

#include <getopt.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"

#ifndef MARIANNE_VERSION
#define MARIANNE_VERSION "0.0.0"
#endif

static bool arg_user = false;
static const char *arg_bus_address = NULL;
static const char *arg_state_dir = NULL;
static unsigned arg_max_concurrent = 0;
static unsigned arg_max_jobs_per_user = 0;
static const char *arg_config = NULL;
static int arg_runner = -1;     /* RunnerChoice; -1 = from the file, else auto */
static usec_t arg_exit_on_idle = USEC_INFINITY;
static LogTarget arg_log_target = LOG_TARGET_AUTO;
static int arg_log_level = LOG_INFO;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The Marianne job conductor: runs scores and serves org.marianne.Conductor,\n"
               "on the bus and, to root, on the sockets the service manager passes\n"
               "(marianne.socket: peer-to-peer, with or without a bus).\n\n"
               "  -h --help                  Show this help\n"
               "     --version               Show the version\n"
               "     --system                Serve the system bus (default)\n"
               "     --user                  Serve the session bus: a per-user conductor\n"
               "     --bus-address=ADDRESS   Serve the bus at ADDRESS (tests, private buses);\n"
               "                             also $MARIANNE_BUS_ADDRESS\n"
               "     --state-dir=DIR         Store and logs (default /var/lib/marianne, or\n"
               "                             $XDG_STATE_HOME/marianne with --user)\n"
               "     --max-concurrent=N      Sheets running at once, all jobs (default 2×CPUs)\n"
               "     --max-jobs-per-user=N   Active jobs one user may have (default 100)\n"
               "     --exit-on-idle=SECONDS  Exit after SECONDS with nothing to do (0: never)\n"
               "     --runner=auto|local|systemd|slurm\n"
               "                             Where sheets run: transient units of systemd (auto\n"
               "                             when PID 1 is systemd and we are root) or children\n"
               "                             of the conductor\n"
               "     --config=PATH           Configuration file (default /etc/marianne/conductor.conf,\n"
               "                             or $XDG_CONFIG_HOME/marianne/conductor.conf with --user);\n"
               "                             options given here win over it\n"
               "     --log-target=TARGET     auto, journal or stderr\n"
               "     --log-level=LEVEL       err, warning, notice, info or debug\n"
               "\nSee marianned(8).\n",
               program_invocation_short_name);
}

static int parse_log_level(const char *s) {
        static const char *const names[] = {
                [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && streq(names[i], s))
                        return (int) i;
        return -EINVAL;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_SYSTEM,
                ARG_USER,
                ARG_BUS_ADDRESS,
                ARG_STATE_DIR,
                ARG_MAX_CONCURRENT,
                ARG_MAX_JOBS_PER_USER,
                ARG_EXIT_ON_IDLE,
                ARG_RUNNER,
                ARG_CONFIG,
                ARG_LOG_TARGET,
                ARG_LOG_LEVEL,
        };
        static const struct option options[] = {
                { "help",           no_argument,       NULL, 'h'                },
                { "version",        no_argument,       NULL, ARG_VERSION        },
                { "system",         no_argument,       NULL, ARG_SYSTEM         },
                { "user",           no_argument,       NULL, ARG_USER           },
                { "bus-address",    required_argument, NULL, ARG_BUS_ADDRESS    },
                { "state-dir",      required_argument, NULL, ARG_STATE_DIR      },
                { "max-concurrent", required_argument, NULL, ARG_MAX_CONCURRENT },
                { "max-jobs-per-user", required_argument, NULL, ARG_MAX_JOBS_PER_USER },
                { "exit-on-idle",   required_argument, NULL, ARG_EXIT_ON_IDLE   },
                { "runner",         required_argument, NULL, ARG_RUNNER         },
                { "config",         required_argument, NULL, ARG_CONFIG         },
                { "log-target",     required_argument, NULL, ARG_LOG_TARGET     },
                { "log-level",      required_argument, NULL, ARG_LOG_LEVEL      },
                {}
        };
        int c;

        arg_bus_address = getenv("MARIANNE_BUS_ADDRESS");

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("marianned %s\n", MARIANNE_VERSION);
                        return 0;
                case ARG_SYSTEM:
                        arg_user = false;
                        break;
                case ARG_USER:
                        arg_user = true;
                        break;
                case ARG_BUS_ADDRESS:
                        arg_bus_address = optarg;
                        break;
                case ARG_STATE_DIR:
                        if (optarg[0] != '/') {
                                fprintf(stderr, "--state-dir= needs an absolute path, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        arg_state_dir = optarg;
                        break;
                case ARG_MAX_CONCURRENT:
                case ARG_MAX_JOBS_PER_USER: {
                        const char *name = c == ARG_MAX_CONCURRENT ? "--max-concurrent=" : "--max-jobs-per-user=";
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || n < 1 || n > 100000) {
                                fprintf(stderr, "%s takes a number from 1 to 100000, got '%s'.\n", name, optarg);
                                return -EINVAL;
                        }
                        if (c == ARG_MAX_CONCURRENT)
                                arg_max_concurrent = (unsigned) n;
                        else
                                arg_max_jobs_per_user = (unsigned) n;
                        break;
                }
                case ARG_RUNNER:
                        arg_runner = runner_choice_from_string(optarg);
                        if (arg_runner < 0) {
                                fprintf(stderr, "--runner= takes auto, local, systemd or slurm, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_EXIT_ON_IDLE: {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(optarg, &end, 10);
                        if (errno != 0 || *end || optarg[0] == '-' || n > 10UL * 365 * 24 * 3600) {
                                fprintf(stderr, "--exit-on-idle= takes a number of seconds, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        arg_exit_on_idle = (usec_t) n * USEC_PER_SEC;
                        break;
                }
                case ARG_CONFIG:
                        if (optarg[0] != '/') {
                                fprintf(stderr, "--config= needs an absolute path, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        arg_config = optarg;
                        break;
                case ARG_LOG_TARGET:
                        if (streq(optarg, "auto"))
                                arg_log_target = LOG_TARGET_AUTO;
                        else if (streq(optarg, "journal"))
                                arg_log_target = LOG_TARGET_JOURNAL;
                        else if (streq(optarg, "stderr"))
                                arg_log_target = LOG_TARGET_STDERR;
                        else {
                                fprintf(stderr, "--log-target= takes auto, journal or stderr, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_LOG_LEVEL:
                        arg_log_level = parse_log_level(optarg);
                        if (arg_log_level < 0) {
                                fprintf(stderr, "--log-level= takes err, warning, notice, info or debug, got '%s'.\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }

        if (optind < argc) {
                fprintf(stderr, "%s takes no arguments; see --help.\n", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

static char *default_state_dir(void) {
        const char *e;

        if (!arg_user)
                return strdup("/var/lib/marianne");
        e = getenv("XDG_STATE_HOME");
        if (e && e[0] == '/')
                return strdup_printf("%s/marianne", e);
        e = getenv("HOME");
        if (!e || e[0] != '/')
                return NULL;
        return strdup_printf("%s/.local/state/marianne", e);
}

static int connect_bus(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (arg_bus_address) {
                r = sd_bus_new(&bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(bus, arg_bus_address);
                if (r < 0)
                        return r;
                r = sd_bus_set_bus_client(bus, 1);
                if (r < 0)
                        return r;
                (void) sd_bus_negotiate_creds(bus, 1, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID);
                r = sd_bus_start(bus);
        } else if (arg_user)
                r = sd_bus_open_user_with_description(&bus, "marianned");
        else
                r = sd_bus_open_system_with_description(&bus, "marianned");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) userdata;
        log_info("Received SIG%s, stopping; running sheets are stopped and resume at the next start.",
                 sigabbrev_np((int) si->ssi_signo) ?: "?");
        (void) sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *error = NULL;

        (void) s;
        (void) si;
        (void) sd_notify(false, "RELOADING=1");
        if (daemon_load_config(d, &error) < 0)
                log_error("Reloading %s failed, keeping the configuration in force: %s", d->config_path, strna(error));
        else
                log_notice("Reloaded %s.", d->config_path);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static char *default_config_path(void) {
        const char *e;

        if (!arg_user)
                return strdup("/etc/marianne/conductor.conf");
        e = getenv("XDG_CONFIG_HOME");
        if (e && e[0] == '/')
                return strdup_printf("%s/marianne/conductor.conf", e);
        e = getenv("HOME");
        return e && e[0] == '/' ? strdup_printf("%s/.config/marianne/conductor.conf", e) : NULL;
}

static int run(int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *state_dir = NULL, *config_path = NULL, *error = NULL;
        Daemon d = {};
        ConductorConfig config = {};
        size_t n_sockets;
        sigset_t mask;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        log_open(arg_log_target, "marianned");
        log_set_max_level(arg_log_level);

        state_dir = arg_state_dir ? strdup(arg_state_dir) : default_state_dir();
        if (!state_dir)
                return log_error_errno(EINVAL, "Cannot tell where to keep state: set $HOME or pass --state-dir=.");

        /* sd-event reaps children through child sources and delivers these
         * through signalfd: they must be blocked before anything forks. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        /* WatchdogSec= in the unit: sd-event pings for us while the loop runs */
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                return log_error_errno(r, "Failed to enable the watchdog: %m");
        r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, on_signal, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGTERM/SIGINT: %m");
        /* SIGHUP: nothing to reload yet; say so rather than die of it */
        r = sd_event_add_signal(event, NULL, SIGHUP, on_sighup, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGHUP: %m");

        config_path = arg_config ? strdup(arg_config) : default_config_path();
        if (!config_path)
                return log_error_errno(EINVAL, "Cannot tell where the configuration is: set $HOME or pass --config=.");
        d = (Daemon) {
                .event = event,
                .user_mode = arg_user,
                .config_path = config_path,
                .arg_max_concurrent_sheets = arg_max_concurrent,
                .arg_max_jobs_per_user = arg_max_jobs_per_user,
                .arg_exit_on_idle_usec = arg_exit_on_idle,
                .arg_runner = arg_runner,
        };

        /* socket activation (marianne.socket): peer-to-peer connections,
         * served beside the bus or, with no bus to be had, instead of it */
        r = daemon_take_listen_fds(&d);
        if (r < 0)
                goto finish;
        n_sockets = (size_t) r;

        r = connect_bus(&bus);
        if (r < 0 && n_sockets == 0) {
                log_error_errno(r, "Failed to connect to the %s bus%s%s: %m",
                                arg_bus_address ? "given" : arg_user ? "session" : "system",
                                arg_bus_address ? " " : "", strempty(arg_bus_address));
                goto finish;
        }
        if (r < 0)
                log_notice("Failed to connect to the %s bus%s%s (%s); serving the socket only, with no bus name "
                           "and no polkit.", arg_bus_address ? "given" : arg_user ? "session" : "system",
                           arg_bus_address ? " " : "", strempty(arg_bus_address), strerror(-r));

        r = daemon_load_config(&d, &error);
        if (r < 0) {
                log_error_errno(r, "Bad configuration: %s", strna(error));
                goto finish;
        }
        d.bus = bus;

        config = (ConductorConfig) {
                .state_dir = state_dir,
                .max_concurrent_sheets = d.max_concurrent_sheets,
                .max_active_jobs_per_user = d.max_jobs_per_user,
                .limits = score_limits_default,
                .runner = d.runner,
        };
        d.polkit = polkit_registry_new();
        if (!d.polkit) {
                r = log_oom();
                goto finish;
        }

        r = conductor_new(event, &config, &bus_conductor_observer, &d, &d.conductor);
        if (r < 0)
                goto finish;
        r = conductor_set_exec_search_path(d.conductor, d.exec_search_path);
        if (r >= 0)
                r = conductor_set_slurm_defaults(d.conductor, &d.slurm_defaults, d.slurm_poll_usec);
        if (r < 0) {
                log_oom();
                goto finish;
        }

        if (bus) {
                r = bus_conductor_register(&d, bus);
                if (r < 0)
                        goto finish;

                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
                if (r < 0) {
                        log_error_errno(r, "Failed to attach the bus to the event loop: %m");
                        goto finish;
                }
                /* Without its bus nobody can reach the conductor: leave, with a
                 * failure, so the service manager (Restart=) brings it back.
                 * (Peer connections just end.) */
                r = sd_bus_set_exit_on_disconnect(bus, true);
                if (r < 0) {
                        log_error_errno(r, "Failed to set exit on disconnect: %m");
                        goto finish;
                }
        }

        /* Load before taking the name or accepting on the socket: a client
         * that sees us sees every job. */
        r = conductor_load(d.conductor);
        if (r < 0)
                goto finish;

        if (bus) {
                r = sd_bus_request_name(bus, CONDUCTOR_BUS_NAME, 0);
                if (r < 0) {
                        log_error_errno(r, "Failed to acquire bus name %s: %m%s", CONDUCTOR_BUS_NAME,
                                        r == -EEXIST ? " (another conductor is running)" :
                                        r == -EACCES ? " (the bus policy does not allow us to own it; is dbus/org.marianne.Conductor.conf installed?)" : "");
                        goto finish;
                }
        }
        r = daemon_start_accepting(&d);
        if (r < 0)
                goto finish;

        r = daemon_setup_idle(&d);
        if (r < 0)
                goto finish;

        if (bus)
                log_info("Marianne conductor %s serving %s on the %s bus%s (pid %d).", MARIANNE_VERSION,
                         CONDUCTOR_BUS_NAME, arg_bus_address ? "given" : arg_user ? "session" : "system",
                         n_sockets > 0 ? " and on its socket" : "", (int) getpid());
        else
                log_info("Marianne conductor %s serving %s on its socket only (pid %d).", MARIANNE_VERSION,
                         CONDUCTOR_OBJECT_PATH, (int) getpid());
        (void) sd_notifyf(false, "READY=1\nSTATUS=Serving org.marianne.Conductor: %zu jobs loaded",
                          conductor_n_jobs(d.conductor));

        r = sd_event_loop(event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
        else if (r > 0)
                r = log_error_errno(ECONNRESET, "Lost the connection to the bus; exiting so the service manager can restart the conductor.");

finish:
        d.idle_timer = sd_event_source_disable_unref(d.idle_timer);
        daemon_free_peers(&d);
        d.conductor = conductor_free(d.conductor);
        free(d.exec_search_path);
        score_slurm_done(&d.slurm_defaults);
        d.polkit = polkit_registry_free(d.polkit);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);

        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

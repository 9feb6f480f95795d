/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <stdarg.h>

/* A bus daemon at address (bus_client: Hello and a unique name), or the
 * conductor itself at the other end of a socket (peer to peer). */
static int connect_address(const char *address, bool bus_client, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, bus_client);
        if (r < 0)
                return r;
        r = sd_bus_negotiate_fds(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* A D-Bus address value: every byte but the few that may stand for
 * themselves is written %XX, so no path can end or extend the address. */
static char *socket_address(const char *path) {
        static const char hex[] = "0123456789abcdef";
        const char prefix[] = "unix:path=";
        char *a, *q;

        a = malloc(sizeof(prefix) + 3 * strlen(path));
        if (!a)
                return NULL;
        q = stpcpy(a, prefix);
        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-_/.*", *p))
                        *q++ = (char) *p;
                else {
                        *q++ = '%';
                        *q++ = hex[*p >> 4];
                        *q++ = hex[*p & 15];
                }
        *q = 0;
        return a;
}

#define SOCKET_READY_TIMEOUT_USEC (25U * USEC_PER_SEC)

/* sd_bus_start() only connects; see the authentication through here, so
 * that a conductor that refuses us (it hangs up) is told apart from one
 * that fails a call later. */
static int wait_until_ready(sd_bus *bus) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + SOCKET_READY_TIMEOUT_USEC;
        int r;

        for (;;) {
                usec_t now;

                if (sd_bus_is_open(bus) <= 0)
                        return -ECONNRESET;
                r = sd_bus_is_ready(bus);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

/* Peer-to-peer: the conductor itself is at the other end of the socket,
 * no bus daemon in between (and no Hello, no bus names). */
static int connect_socket(const char *path, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *address = NULL;
        int r;

        address = socket_address(path);
        if (!address)
                return -ENOMEM;
        r = connect_address(address, false, &bus);
        if (r < 0)
                return r;
        r = wait_until_ready(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

static void print_unreachable(const Ctl *c, const char *detail) {
        if (c->socket_path)
                fprintf(stderr, "mariannectl: Conductor not reachable at socket %s%s%s\n"
                        "mariannectl: Check that marianne.socket is listening (systemctl start marianne.socket);\n"
                        "mariannectl: the socket is for root, other users leave out --socket.\n",
                        c->socket_path, detail ? ": " : "", strempty(detail));
        else if (c->bus_address)
                fprintf(stderr, "mariannectl: Conductor not reachable at MARIANNE_BUS_ADDRESS=%s%s%s\n"
                        "mariannectl: Check that marianned is running on that bus, or unset MARIANNE_BUS_ADDRESS.\n",
                        c->bus_address, detail ? ": " : "", strempty(detail));
        else if (c->user)
                fprintf(stderr, "mariannectl: Per-user conductor not running%s%s\n"
                        "mariannectl: Start it with: marianned --user &\n",
                        detail ? ": " : ".", strempty(detail));
        else
                fprintf(stderr, "mariannectl: Conductor is not running on the system bus%s%s\n"
                        "mariannectl: Start it with: systemctl start marianne\n",
                        detail ? ": " : ".", strempty(detail));
}

static int open_bus(const Ctl *c, sd_bus **ret) {
        if (c->socket_path)
                return connect_socket(c->socket_path, ret);
        if (c->bus_address)
                return connect_address(c->bus_address, true, ret);
        if (c->user)
                return sd_bus_open_user(ret);
        return sd_bus_open_system(ret);
}

int ctl_connect_silently(const Ctl *c, sd_bus **ret) {
        return open_bus(c, ret);
}

int ctl_connect(const Ctl *c, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *detail = NULL;
        int r;

        r = open_bus(c, &bus);
        if (r < 0) {
                if (c->socket_path && (r == -ECONNRESET || r == -EPIPE))
                        /* it accepted, then hung up before talking: it refused us */
                        detail = strdup_printf("the conductor closed the connection (%s)", strerror(-r));
                else if (c->socket_path)
                        detail = strdup_printf("cannot connect: %s", strerror(-r));
                else
                        detail = strdup_printf("cannot connect to the %s bus: %s",
                                               c->bus_address ? "configured" : c->user ? "session" : "system",
                                               strerror(-r));
                print_unreachable(c, detail);
                return CTL_EXIT_UNREACHABLE;
        }

        /* Lets polkit ask for a password instead of refusing outright. */
        (void) sd_bus_set_allow_interactive_authorization(bus, isatty(STDIN_FILENO) > 0);

        *ret = TAKE_PTR(bus);
        return 0;
}

bool ctl_error_is_unreachable(const char *error_name, int r) {
        if (error_name)
                return streq(error_name, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                        streq(error_name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) ||
                        streq(error_name, SD_BUS_ERROR_NO_REPLY) ||
                        streq(error_name, SD_BUS_ERROR_DISCONNECTED) ||
                        startswith(error_name, "org.freedesktop.DBus.Error.Spawn.");

        /* No error name: the connection itself broke or timed out. */
        return r == -ECONNREFUSED || r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE ||
                r == -ETIMEDOUT || r == -ENOENT || r == -EHOSTUNREACH || r == -ESHUTDOWN;
}

int ctl_exit_code_from_error(const char *error_name, int r) {
        if (ctl_error_is_unreachable(error_name, r))
                return CTL_EXIT_UNREACHABLE;
        if (error_name && (streq(error_name, "org.marianne.Conductor.Error.NoSuchJob") ||
                           streq(error_name, "org.marianne.Conductor.Error.NoSuchSheet") ||
                           streq(error_name, "org.marianne.Conductor.Error.AmbiguousJob")))
                return CTL_EXIT_NO_SUCH;
        return CTL_EXIT_FAILED;
}

int ctl_report_error(const Ctl *c, const sd_bus_error *error, int r, const char *fmt, ...) {
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int code;

        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);

        code = ctl_exit_code_from_error(name, r);
        if (code == CTL_EXIT_UNREACHABLE) {
                _cleanup_free_ char *detail = strdup_printf("%s: %s", strna(what),
                                                            name && error->message ? error->message : strerror(-r));
                print_unreachable(c, detail);
                return code;
        }

        fprintf(stderr, "mariannectl: Failed to %s: %s\n", strna(what),
                name && error->message ? error->message : name ? name : strerror(-r));
        return code;
}

int ctl_new_call(sd_bus *bus, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, CONDUCTOR_SERVICE, CONDUCTOR_PATH,
                                              CONDUCTOR_INTERFACE, member);
}

int ctl_call(const Ctl *c, sd_bus *bus, sd_bus_message *m, sd_bus_message **reply, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, 0, &error, reply);
        if (r < 0)
                return ctl_report_error(c, &error, r, "%s", what);
        return 0;
}

int ctl_log_oom(void) {
        fputs("mariannectl: Out of memory.\n", stderr);
        return CTL_EXIT_FAILED;
}

int ctl_log_parse_error(int r) {
        fprintf(stderr, "mariannectl: Failed to parse the conductor's reply: %s\n", strerror(-r));
        return CTL_EXIT_FAILED;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include "ctl.h"

#include <getopt.h>
#include <limits.h>
#include <locale.h>

typedef struct Verb {
        const char *name;
        unsigned min_args;
        unsigned max_args;      /* UINT_MAX: any number */
        int (*run)(Ctl *c, char **args);
} Verb;

static int verb_pause(Ctl *c, char **args)  { return ctl_cmd_job_action(c, "pause", args); }
static int verb_resume(Ctl *c, char **args) { return ctl_cmd_job_action(c, "resume", args); }
static int verb_cancel(Ctl *c, char **args) { return ctl_cmd_job_action(c, "cancel", args); }
static int verb_delete(Ctl *c, char **args) { return ctl_cmd_job_action(c, "delete", args); }

static const Verb verbs[] = {
        { "start",            1, 1,        ctl_cmd_start },
        { "run",              1, 1,        ctl_cmd_start },
        { "status",           0, 1,        ctl_cmd_status },
        { "list",             0, 0,        ctl_cmd_list },
        { "sheets",           1, 1,        ctl_cmd_sheets },
        { "sheet",            2, 2,        ctl_cmd_sheet },
        { "output",           2, 3,        ctl_cmd_output },
        { "logs",             1, 1,        ctl_cmd_logs },
        { "pause",            1, UINT_MAX, verb_pause },
        { "resume",           1, UINT_MAX, verb_resume },
        { "cancel",           1, UINT_MAX, verb_cancel },
        { "delete",           1, UINT_MAX, verb_delete },
        { "clear",            0, 0,        ctl_cmd_clear },
        { "health",           1, 1,        ctl_cmd_health },
        { "conductor-status", 0, 0,        ctl_cmd_conductor_status },
        { "watch",            0, 1,        ctl_cmd_watch },
        { "validate",         1, UINT_MAX, ctl_cmd_validate },
        { "render",           1, 1,        ctl_cmd_render },
        { "instruments",      0, UINT_MAX, ctl_cmd_instruments },
};

static void help(void) {
        printf("mariannectl [OPTIONS...] COMMAND ...\n\n"
               "Control the Marianne job conductor.\n\n"
               "Job commands:\n"
               "  start FILE|-            Start a job from a score file (- reads YAML from stdin)\n"
               "  run FILE|-              Same as start\n"
               "  status [JOB]            Show the conductor and all jobs, or one job and its sheets\n"
               "  list                    List jobs\n"
               "  sheets JOB              List the sheets of a job\n"
               "  sheet JOB N             Show everything about sheet N of a job\n"
               "  output JOB N [stderr]   Print the whole stdout (or stderr) of sheet N's last attempt\n"
               "  logs JOB                Show the job's journal entries\n"
               "  pause JOB...            Pause jobs\n"
               "  resume JOB...           Resume paused jobs\n"
               "  cancel JOB...           Cancel jobs\n"
               "  delete JOB...           Delete finished jobs\n"
               "  clear                   Delete finished jobs in bulk\n"
               "  health JOB              Check the processes of a job's running sheets\n"
               "  watch [JOB]             Follow job and sheet events (until JOB finishes)\n"
               "  conductor-status        Show the conductor's own status\n"
               "  validate FILE...        Check score files offline, without the conductor\n"
               "  render FILE             Print the prompts a score's sheets get (--sheet=N: one)\n"
               "  instruments [list]      List the instrument profiles and where their programs are\n"
               "  instruments check [NAME...]\n"
               "                          Check that instruments can run here (exit 1 if not)\n\n"
               "JOB is a job id, or a score name matching exactly one job.\n\n"
               "Options:\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --system             Talk to the system conductor (default)\n"
               "     --user               Talk to the per-user conductor on the session bus\n"
               "     --socket[=PATH]      Talk to the conductor directly over its socket, no bus\n"
               "                          (root only; default " CONDUCTOR_SOCKET ")\n"
               "     --json               Print JSON (watch: one object per line)\n"
               "  -q --quiet              Print less; start prints only the job id\n\n"
               "Options for start:\n"
               "     --workspace=DIR      Use DIR instead of the score's workspace\n"
               "     --start-sheet=N      Begin at sheet N; earlier sheets are skipped\n"
               "     --self-healing       Enable self-healing\n"
               "     --dry-run            Show the planned sheets and commands, start nothing\n"
               "     --wait               Follow the job until it finishes\n\n"
               "Options for clear:\n"
               "     --state=STATE        Only jobs in STATE: completed, failed, cancelled\n"
               "                          (may be repeated; default all three)\n"
               "     --older-than=SECONDS Only jobs finished at least SECONDS ago\n\n"
               "Options for logs:\n"
               "     --sheet=N            Only sheet N's entries\n"
               "  -n --lines=N            Only the last N entries\n"
               "  -f --follow             Keep printing new entries\n\n"
               "Environment:\n"
               "  MARIANNE_BUS_ADDRESS    D-Bus address of the conductor's bus; overrides\n"
               "                          --system and --user (--socket overrides it)\n\n"
               "Exit status:\n"
               "  0   success\n"
               "  1   the conductor refused or the operation failed, or the awaited job\n"
               "      failed or was cancelled; validate: the score is invalid;\n"
               "      instruments check: an instrument cannot run here\n"
               "  2   usage error; validate: the file cannot be read\n"
               "  4   no such job, sheet or instrument, or a name matching several jobs\n"
               "  69  the conductor is not reachable\n");
}

enum {
        ARG_VERSION = 0x100,
        ARG_SYSTEM,
        ARG_USER,
        ARG_SOCKET,
        ARG_JSON,
        ARG_WORKSPACE,
        ARG_START_SHEET,
        ARG_SELF_HEALING,
        ARG_DRY_RUN,
        ARG_WAIT,
        ARG_STATE,
        ARG_OLDER_THAN,
        ARG_SHEET,
};

static const struct option options[] = {
        { "help",         no_argument,       NULL, 'h' },
        { "version",      no_argument,       NULL, ARG_VERSION },
        { "system",       no_argument,       NULL, ARG_SYSTEM },
        { "user",         no_argument,       NULL, ARG_USER },
        { "socket",       optional_argument, NULL, ARG_SOCKET },
        { "json",         no_argument,       NULL, ARG_JSON },
        { "quiet",        no_argument,       NULL, 'q' },
        { "workspace",    required_argument, NULL, ARG_WORKSPACE },
        { "start-sheet",  required_argument, NULL, ARG_START_SHEET },
        { "self-healing", no_argument,       NULL, ARG_SELF_HEALING },
        { "dry-run",      no_argument,       NULL, ARG_DRY_RUN },
        { "wait",         no_argument,       NULL, ARG_WAIT },
        { "state",        required_argument, NULL, ARG_STATE },
        { "older-than",   required_argument, NULL, ARG_OLDER_THAN },
        { "sheet",        required_argument, NULL, ARG_SHEET },
        { "lines",        required_argument, NULL, 'n' },
        { "follow",       no_argument,       NULL, 'f' },
        {}
};

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("mariannectl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nSee 'mariannectl --help'.\n", stderr);
        return CTL_EXIT_USAGE;
}

/* Returns -1 to go on, or an exit code. */
static int parse_option(Ctl *c, int opt, const char *arg) {
        uint64_t v;

        switch (opt) {
        case 'h':
                help();
                return CTL_EXIT_SUCCESS;
        case ARG_VERSION:
                puts("mariannectl " MARIANNE_VERSION);
                return CTL_EXIT_SUCCESS;
        case ARG_SYSTEM:
                c->user = false;
                return -1;
        case ARG_USER:
                c->user = true;
                return -1;
        case ARG_SOCKET:
                if (arg && isempty(arg))
                        return usage_error("--socket= needs a path; --socket alone means %s.", CONDUCTOR_SOCKET);
                c->socket_path = arg ?: CONDUCTOR_SOCKET;
                return -1;
        case ARG_JSON:
                c->json = true;
                return -1;
        case 'q':
                c->quiet = true;
                return -1;
        case ARG_WORKSPACE:
                if (isempty(arg))
                        return usage_error("--workspace needs a directory.%s", "");
                c->workspace = arg;
                return -1;
        case ARG_START_SHEET:
                if (ctl_parse_unsigned(arg, UINT32_MAX, &v) < 0 || v == 0)
                        return usage_error("Invalid --start-sheet '%s': expected a sheet number (1 or more).", arg);
                c->start_sheet = (unsigned) v;
                return -1;
        case ARG_SELF_HEALING:
                c->self_healing = true;
                return -1;
        case ARG_DRY_RUN:
                c->dry_run = true;
                return -1;
        case ARG_WAIT:
                c->wait = true;
                return -1;
        case ARG_STATE:
                if (!streq(arg, "completed") && !streq(arg, "failed") && !streq(arg, "cancelled"))
                        return usage_error("Invalid --state '%s': expected completed, failed or cancelled.", arg);
                if (strv_extend(&c->states, arg) < 0)
                        return ctl_log_oom();
                return -1;
        case ARG_OLDER_THAN:
                if (ctl_parse_unsigned(arg, UINT64_MAX, &v) < 0)
                        return usage_error("Invalid --older-than '%s': expected a number of seconds.", arg);
                c->older_than = v;
                return -1;
        case ARG_SHEET:
                if (ctl_parse_unsigned(arg, UINT32_MAX, &v) < 0 || v == 0)
                        return usage_error("Invalid --sheet '%s': expected 1 or more.", arg);
                c->sheet = (unsigned) v;
                return -1;
        case 'n':
                if (ctl_parse_unsigned(arg, UINT32_MAX, &v) < 0 || v == 0)
                        return usage_error("Invalid --lines '%s': expected 1 or more.", arg);
                c->lines = (unsigned) v;
                return -1;
        case 'f':
                c->follow = true;
                return -1;
        case '?':
                return usage_error("Unknown option '%s'.", arg);
        case ':':
                return usage_error("Option '%s' needs an argument.", arg);
        default:
                abort();
        }
}

static bool any_start_option(const Ctl *c) {
        return c->workspace || c->start_sheet > 0 || c->self_healing || c->dry_run || c->wait;
}

static int check_verb_options(const Ctl *c, const Verb *v) {
        bool start = v->run == ctl_cmd_start;

        if (!start && any_start_option(c))
                return usage_error("--workspace, --start-sheet, --self-healing, --dry-run and --wait "
                                   "only apply to start, not to '%s'.", v->name);
        if (v->run != ctl_cmd_clear && (c->states || c->older_than != UINT64_MAX))
                return usage_error("--state and --older-than only apply to clear, not to '%s'.", v->name);
        if (v->run != ctl_cmd_logs && v->run != ctl_cmd_render && c->sheet > 0)
                return usage_error("--sheet only applies to logs and render, not to '%s'.", v->name);
        if (v->run != ctl_cmd_logs && (c->lines > 0 || c->follow))
                return usage_error("--lines and --follow only apply to logs, not to '%s'.", v->name);
        if (c->dry_run && c->wait)
                return usage_error("--dry-run and --wait cannot be combined%s.", "");
        return -1;
}

static int dispatch(Ctl *c, int argc, char **argv) {
        const Verb *v = NULL;
        unsigned n;
        int r;

        if (optind >= argc)
                return usage_error("Missing command.%s", "");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, argv[optind]))
                        v = &verbs[i];
        if (!v && streq(argv[optind], "help")) {
                help();
                return CTL_EXIT_SUCCESS;
        }
        if (!v)
                return usage_error("Unknown command '%s'.", argv[optind]);

        n = (unsigned) (argc - optind - 1);
        if (n < v->min_args)
                return usage_error("Too few arguments for '%s'.", v->name);
        if (n > v->max_args)
                return usage_error("Too many arguments for '%s'.", v->name);
        r = check_verb_options(c, v);
        if (r >= 0)
                return r;
        return v->run(c, argv + optind + 1);
}

int main(int argc, char *argv[]) {
        Ctl c = {
                .older_than = UINT64_MAX,
        };
        int opt, r;

        (void) setlocale(LC_ALL, "");
        c.bus_address = getenv("MARIANNE_BUS_ADDRESS");
        if (isempty(c.bus_address))
                c.bus_address = NULL;

        /* Permuting getopt: options may come before or after the command. */
        opterr = 0; /* our own messages, in our own style */
        while ((opt = getopt_long(argc, argv, ":hqfn:", options, NULL)) >= 0) {
                r = parse_option(&c, opt, (opt == '?' || opt == ':') ? argv[optind - 1] : optarg);
                if (r >= 0)
                        goto finish;
        }
        r = dispatch(&c, argc, argv);

finish:
        strv_free(c.states);
        if (fflush(stdout) != 0 && r == CTL_EXIT_SUCCESS) {
                fprintf(stderr, "mariannectl: Failed to write output: %s\n", strerror(errno));
                r = CTL_EXIT_FAILED;
        }
        return r;
}

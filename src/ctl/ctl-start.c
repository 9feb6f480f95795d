/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "ctl.h"

#include "json.h"
#include "score.h"

/* Relative to cwd, without resolving symlinks or "..": the conductor
 * checks the path itself and must see what the user typed. */
static char *make_absolute(const char *path) {
        _cleanup_free_ char *cwd = NULL;

        if (path[0] == '/')
                return strdup(path);
        cwd = get_current_dir_name();
        if (!cwd)
                return NULL;
        return strdup_printf("%s%s%s", cwd, endswith(cwd, "/") ? "" : "/", path);
}

static int read_stdin(size_t max_size, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t n;
        int r;

        r = read_full_stream(STDIN_FILENO, max_size, &buf, &n);
        if (r < 0)
                return r;
        /* A D-Bus string ends at the first NUL: refuse rather than cut. */
        if (strlen(buf) != n)
                return -EBADMSG;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int append_options(const Ctl *c, sd_bus_message *m, const char *base_dir) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (c->workspace) {
                _cleanup_free_ char *ws = make_absolute(c->workspace);

                if (!ws)
                        return negative_errno();
                r = sd_bus_message_append(m, "{sv}", "workspace", "s", ws);
                if (r < 0)
                        return r;
        }
        if (c->start_sheet > 0) {
                r = sd_bus_message_append(m, "{sv}", "start_sheet", "u", (uint32_t) c->start_sheet);
                if (r < 0)
                        return r;
        }
        if (c->self_healing) {
                r = sd_bus_message_append(m, "{sv}", "self_healing", "b", 1);
                if (r < 0)
                        return r;
        }
        if (base_dir) {
                r = sd_bus_message_append(m, "{sv}", "base_dir", "s", base_dir);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* The score argument: its YAML (from stdin) or its absolute path. */
static int read_score_argument(const char *file, char **ret_yaml, char **ret_path, char **ret_base_dir) {
        int r;

        if (!streq(file, "-")) {
                *ret_path = make_absolute(file);
                if (!*ret_path) {
                        fprintf(stderr, "mariannectl: Failed to make '%s' absolute: %s\n", file, strerror(errno));
                        return CTL_EXIT_FAILED;
                }
                return 0;
        }

        r = read_stdin(score_limits_default.max_score_bytes, ret_yaml);
        if (r == -EFBIG)
                fprintf(stderr, "mariannectl: The score on stdin is larger than %zu bytes.\n",
                        score_limits_default.max_score_bytes);
        else if (r == -EBADMSG)
                fputs("mariannectl: The score on stdin contains a NUL byte; it must be YAML text.\n", stderr);
        else if (r < 0)
                fprintf(stderr, "mariannectl: Failed to read the score from stdin: %s\n", strerror(-r));
        if (r < 0)
                return CTL_EXIT_FAILED;

        *ret_base_dir = get_current_dir_name();
        if (!*ret_base_dir) {
                fprintf(stderr, "mariannectl: Failed to get the current directory: %s\n", strerror(errno));
                return CTL_EXIT_FAILED;
        }
        return 0;
}

static void print_plan_sheet(const CtlDict *d) {
        const char *deps = ctl_dict_string(d, "dependencies");
        const char *error = ctl_dict_string(d, "error");
        _cleanup_free_ char *cmd = ctl_indent(strempty(ctl_dict_string(d, "command")), "    ");

        printf("Sheet %" PRIu64 ": stage %" PRIu64 ", instance %" PRIu64 "/%" PRIu64
               ", items %" PRIu64 "-%" PRIu64 "\n",
               ctl_dict_u64(d, "num"), ctl_dict_u64(d, "stage"), ctl_dict_u64(d, "instance"),
               ctl_dict_u64(d, "fan_count"), ctl_dict_u64(d, "start_item"), ctl_dict_u64(d, "end_item"));
        printf("  Depends on: %s\n", isempty(deps) ? "none" : deps);
        if (ctl_dict_string(d, "instrument_error"))
                printf("  Instrument: cannot run here: %s\n", ctl_dict_string(d, "instrument_error"));
        else if (ctl_dict_string(d, "instrument")) {
                const char *how = strempty(ctl_dict_string(d, "prompt_delivery"));

                printf("  Instrument: %s (prompt %s)\n", ctl_dict_string(d, "instrument"),
                       streq(how, "stdin") ? "on stdin" : streq(how, "positional") ? "as the last argument" :
                       "as an option's value");
                printf("  Runs: %s\n", strempty(ctl_dict_string(d, "command_line")));
        }
        if (ctl_dict_string(d, "batch_error"))
                printf("  Slurm: cannot build the batch script: %s\n", ctl_dict_string(d, "batch_error"));
        else if (ctl_dict_string(d, "batch_script")) {
                _cleanup_free_ char *script = ctl_indent(ctl_dict_string(d, "batch_script"), "    ");

                printf("  Submits: %s\n", strempty(ctl_dict_string(d, "submit_command")));
                printf("  Batch script:\n%s%s", strempty(script), script && endswith(script, "\n") ? "" : "\n");
        }
        if (!isempty(error))
                printf("  Error: %s\n", error);
        else if (ctl_dict_string(d, "command_omitted"))
                puts("  Prompt: (omitted: the plan reached its 8 MiB size limit)");
        else if (isempty(cmd))
                puts("  Prompt: (empty)");
        else
                printf("  Prompt%s:\n%s%s", ctl_dict_string(d, "command_truncated") ? " (first 64 KiB)" : "",
                       cmd, endswith(cmd, "\n") ? "" : "\n");
}

static int print_plan_json(sd_bus_message *reply) {
        const char *name, *workspace;
        int r;

        r = sd_bus_message_read(reply, "ss", &name, &workspace);
        if (r < 0)
                return r;
        fputs("{\"name\":", stdout);
        json_write_string(stdout, name);
        fputs(",\"workspace\":", stdout);
        json_write_string(stdout, workspace);
        fputs(",\"sheets\":", stdout);
        r = ctl_json_write_value(stdout, reply);
        if (r < 0)
                return r;
        fputs(",\"warnings\":", stdout);
        r = ctl_json_write_value(stdout, reply);
        if (r < 0)
                return r;
        fputs("}\n", stdout);
        return 0;
}

/* Returns the number of sheets that failed to render, or negative errno. */
static int print_plan(const Ctl *c, sd_bus_message *reply) {
        _cleanup_strv_free_ char **warnings = NULL;
        const char *name, *workspace;
        unsigned n = 0, errors = 0;
        int r;

        r = sd_bus_message_read(reply, "ss", &name, &workspace);
        if (r < 0)
                return r;
        {
                _cleanup_free_ char *n_clean = ctl_sanitize(name, false), *w_clean = ctl_sanitize(workspace, false);

                if (!n_clean || !w_clean)
                        return -ENOMEM;
                printf("Score: %s\nWorkspace: %s\n", n_clean, w_clean);
        }

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (;;) {
                _cleanup_dict_free_ CtlDict *d = NULL;

                r = sd_bus_message_at_end(reply, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                r = ctl_dict_read(reply, &d);
                if (r < 0)
                        return r;
                putchar('\n');
                print_plan_sheet(d);
                n++;
                if (!isempty(ctl_dict_string(d, "error")))
                        errors++;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;

        r = sd_bus_message_read_strv(reply, &warnings);
        if (r < 0)
                return r;
        if (warnings)
                putchar('\n');
        STRV_FOREACH(w, warnings) {
                _cleanup_free_ char *clean = ctl_sanitize(*w, false);

                printf("Warning: %s\n", strempty(clean));
        }
        if (!c->quiet)
                printf("\n%u sheet%s planned%s; nothing was started.\n", n, n == 1 ? "" : "s",
                       errors ? ", some fail to render" : "");
        return (int) errors;
}

static int report_started(const Ctl *c, sd_bus *bus, sd_bus_message *reply, char **ret_id) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *name = NULL, *clean = NULL;
        const char *job_id, *path;
        int r;

        r = sd_bus_message_read(reply, "so", &job_id, &path);
        if (r < 0)
                return r;
        *ret_id = strdup(job_id);
        if (!*ret_id)
                return -ENOMEM;

        /* The name is a nicety: the job may be gone again already. */
        (void) sd_bus_get_property_string(bus, CONDUCTOR_SERVICE, path, JOB_INTERFACE, "Name", &error, &name);

        if (c->json) {
                fputs("{\"job_id\":", stdout);
                json_write_string(stdout, job_id);
                fputs(",\"job\":", stdout);
                json_write_string(stdout, path);
                fputs(",\"name\":", stdout);
                json_write_string(stdout, name);
                fputs("}\n", stdout);
        } else if (c->quiet)
                puts(job_id);
        else {
                _cleanup_free_ char *id_clean = ctl_sanitize(job_id, false);

                clean = name ? ctl_sanitize(name, false) : NULL;
                if (!id_clean)
                        return -ENOMEM;
                if (clean)
                        printf("Started job %s (%s).\n", id_clean, clean);
                else
                        printf("Started job %s.\n", id_clean);
        }
        fflush(stdout);
        return 0;
}

/* Open the score with our own rights and hand the conductor the open
 * file: it then reads nothing we could not. */
static int open_score(const char *path) {
        struct stat st;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                fprintf(stderr, "mariannectl: Cannot open %s: %s\n", path, strerror(errno));
                return -errno;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                fprintf(stderr, "mariannectl: %s is not a regular file.\n", path);
                (void) close(fd);
                return -EINVAL;
        }
        return fd;
}

static int build_call(const Ctl *c, sd_bus *bus, const char *yaml, const char *path,
                      const char *base_dir, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *member;
        int r;

        if (c->dry_run)
                member = yaml ? "PlanJobFromContent" : "PlanJobFromFile";
        else
                member = yaml ? "StartJobFromContent" : "StartJobFromFile";

        if (!yaml) {
                fd = open_score(path);
                if (fd < 0)
                        return CTL_EXIT_FAILED;
        }

        r = ctl_new_call(bus, member, &m);
        if (r < 0)
                return r;
        if (fd >= 0) {
                r = sd_bus_message_append(m, "h", fd);     /* dup'ed into the message */
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_append(m, "s", yaml ? yaml : path);
        if (r == -EINVAL) {
                fprintf(stderr, "mariannectl: The score %s is not valid UTF-8.\n",
                        yaml ? "on stdin" : "path");
                return CTL_EXIT_FAILED;
        }
        if (r < 0)
                return r;
        r = append_options(c, m, base_dir);
        if (r == -EINVAL) {
                fputs("mariannectl: The workspace path or current directory is not valid UTF-8.\n", stderr);
                return CTL_EXIT_FAILED;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int ctl_cmd_start(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *yaml = NULL, *path = NULL, *base_dir = NULL, *what = NULL, *job_id = NULL;
        _cleanup_free_ Watch *watch = NULL;
        int r;

        r = read_score_argument(args[0], &yaml, &path, &base_dir);
        if (r != 0)
                return r;
        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;

        r = build_call(c, bus, yaml, path, base_dir, &m);
        if (r > 0)
                return r;
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }

        /* subscribe before starting, so --wait shows the job from its first event */
        if (c->wait && !c->dry_run) {
                r = ctl_watch_begin(c, bus, &watch);
                if (r != 0)
                        return r;
        }

        what = strdup_printf("%s %s", c->dry_run ? "plan job from" : "start job from",
                             yaml ? "stdin" : path);
        if (!what)
                return ctl_log_oom();
        r = ctl_call(c, bus, m, &reply, what);
        if (r != 0)
                return r;

        if (c->dry_run) {
                r = c->json ? print_plan_json(reply) : print_plan(c, reply);
                if (r < 0)
                        return ctl_log_parse_error(r);
                return r > 0 ? CTL_EXIT_FAILED : CTL_EXIT_SUCCESS;
        }

        r = report_started(c, bus, reply, &job_id);
        if (r < 0)
                return ctl_log_parse_error(r);
        if (!watch)
                return CTL_EXIT_SUCCESS;
        return ctl_watch_follow(watch, job_id);
}

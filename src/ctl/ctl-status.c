/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include "json.h"

static const char * const job_fields[] = {
        "id", "name", "state", "owner", "total_sheets", "completed_sheets",
        "failed_sheets", "created_at", "object",
};

static const char * const sheet_fields[] = {
        "sheet", "state", "stage", "instance", "attempts", "started_at", "completed_at",
};

static int call_simple(const Ctl *c, sd_bus *bus, const char *member, const char *job,
                       const char *what, sd_bus_message **reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = ctl_new_call(bus, member, &m);
        if (r >= 0 && job)
                r = sd_bus_message_append(m, "s", job);
        if (r == -EINVAL) {
                fputs("mariannectl: The job name is not valid UTF-8.\n", stderr);
                return CTL_EXIT_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        return ctl_call(c, bus, m, reply, what);
}

static char *format_duration_between(uint64_t start, uint64_t end) {
        if (start == 0)
                return strdup("-");
        if (end == 0)   /* still running */
                end = now_usec(CLOCK_REALTIME);
        return ctl_format_duration(end > start ? end - start : 0);
}

static int add_job_row(CtlTable *t, sd_bus_message *reply) {
        const char *id, *name, *state, *path;
        uint32_t owner, total, completed, failed;
        uint64_t created;
        int r;

        r = sd_bus_message_read(reply, "(sssuuuuto)", &id, &name, &state, &owner,
                                &total, &completed, &failed, &created, &path);
        if (r <= 0)
                return r;
        if (ctl_table_add_cell(t, id) < 0 ||
            ctl_table_add_cell(t, name) < 0 ||
            ctl_table_add_cell(t, state) < 0 ||
            ctl_table_add_cell_take(t, ctl_format_user(owner)) < 0 ||
            ctl_table_add_cell_take(t, strdup_printf("%" PRIu32 "/%" PRIu32, completed, total)) < 0 ||
            ctl_table_add_cell_take(t, ctl_format_timestamp(created)) < 0)
                return -ENOMEM;
        return 1;
}

static int print_jobs(const Ctl *c, sd_bus_message *reply) {
        _cleanup_table_free_ CtlTable *t = NULL;
        size_t n;
        int r;

        t = ctl_table_new(6, "ID", "NAME", "STATE", "OWNER", "PROGRESS", "CREATED");
        if (!t)
                return -ENOMEM;
        r = sd_bus_message_enter_container(reply, 'a', "(sssuuuuto)");
        if (r < 0)
                return r;
        while ((r = add_job_row(t, reply)) > 0)
                ;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;

        n = ctl_table_rows(t);
        if (n > 0) {
                r = ctl_table_print(t, stdout);
                if (r < 0)
                        return r;
        }
        if (!c->quiet)
                printf("%s%zu job%s listed.\n", n > 0 ? "\n" : "", n, n == 1 ? "" : "s");
        return 0;
}

/* The list of jobs, as a table or as a JSON array. */
int ctl_print_job_list(const Ctl *c, sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = call_simple(c, bus, "ListJobs", NULL, "list jobs", &reply);
        if (r != 0)
                return r;
        if (c->json)
                r = ctl_json_write_struct_array(stdout, reply, "(sssuuuuto)", job_fields, ELEMENTSOF(job_fields));
        else
                r = print_jobs(c, reply);
        if (r < 0)
                return ctl_log_parse_error(r);
        return 0;
}

static int add_sheet_row(CtlTable *t, sd_bus_message *reply) {
        uint32_t num, stage, instance, attempts;
        uint64_t started, completed;
        const char *state;
        int r;

        r = sd_bus_message_read(reply, "(usuuutt)", &num, &state, &stage, &instance,
                                &attempts, &started, &completed);
        if (r <= 0)
                return r;
        if (ctl_table_add_cell_take(t, strdup_printf("%" PRIu32, num)) < 0 ||
            ctl_table_add_cell(t, state) < 0 ||
            ctl_table_add_cell_take(t, strdup_printf("%" PRIu32, stage)) < 0 ||
            ctl_table_add_cell_take(t, strdup_printf("%" PRIu32, instance)) < 0 ||
            ctl_table_add_cell_take(t, strdup_printf("%" PRIu32, attempts)) < 0 ||
            ctl_table_add_cell_take(t, started ? ctl_format_timestamp(started) : strdup("-")) < 0 ||
            ctl_table_add_cell_take(t, format_duration_between(started, completed)) < 0)
                return -ENOMEM;
        return 1;
}

static int print_sheets(sd_bus_message *reply) {
        _cleanup_table_free_ CtlTable *t = NULL;
        int r;

        t = ctl_table_new(7, "SHEET", "STATE", "STAGE", "INSTANCE", "ATTEMPTS", "STARTED", "DURATION");
        if (!t)
                return -ENOMEM;
        r = sd_bus_message_enter_container(reply, 'a', "(usuuutt)");
        if (r < 0)
                return r;
        while ((r = add_sheet_row(t, reply)) > 0)
                ;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        return ctl_table_print(t, stdout);
}

int ctl_print_sheet_table(const Ctl *c, sd_bus *bus, const char *job, bool json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *what = strdup_printf("list the sheets of job %s", job);
        int r;

        if (!what)
                return ctl_log_oom();
        r = call_simple(c, bus, "ListSheets", job, what, &reply);
        if (r != 0)
                return r;
        if (json)
                r = ctl_json_write_struct_array(stdout, reply, "(usuuutt)", sheet_fields, ELEMENTSOF(sheet_fields));
        else
                r = print_sheets(reply);
        if (r < 0)
                return ctl_log_parse_error(r);
        return 0;
}

/* Prints "Label: value" with the label right-aligned like systemctl status. */
static void field(const char *label, const char *value) {
        _cleanup_free_ char *clean = ctl_sanitize(value, false);

        printf("%12s: %s\n", label, strempty(clean));
}

static void field_time(const CtlDict *d, const char *label, const char *key) {
        uint64_t t = ctl_dict_u64(d, key);
        _cleanup_free_ char *s = NULL;

        if (t == 0)
                return;
        s = ctl_format_timestamp(t);
        field(label, s);
}

static void print_job_status(const CtlDict *d) {
        const char *state = ctl_dict_string(d, "status");
        const CtlDictEntry *owner = ctl_dict_get(d, "owner");
        const CtlDictEntry *cost = ctl_dict_get(d, "cost_usd");
        _cleanup_free_ char *id = ctl_sanitize(ctl_dict_string(d, "id"), false);
        _cleanup_free_ char *name = ctl_sanitize(ctl_dict_string(d, "name"), false);
        _cleanup_free_ char *sheets = NULL, *user = NULL, *owner_text = NULL;

        printf("%s%s%s %s - %s\n", ctl_state_color(state), ctl_glyph_bullet(), ctl_color_reset(),
               strempty(id), strempty(name));
        field("Name", ctl_dict_string(d, "name"));
        printf("%12s: %s%s%s\n", "State", ctl_state_color(state), strna(state), ctl_color_reset());
        if (owner && owner->is_number) {
                user = ctl_format_user((uint32_t) owner->u);
                owner_text = strdup_printf("%s (%" PRIu64 ")", strna(user), owner->u);
                field("Owner", owner_text);
        }
        field("Workspace", ctl_dict_string(d, "workspace"));
        if (!isempty(ctl_dict_string(d, "score_path")))
                field("Score", ctl_dict_string(d, "score_path"));
        if (!isempty(ctl_dict_string(d, "parent_job")))
                field("Chained from", ctl_dict_string(d, "parent_job"));
        sheets = strdup_printf("%" PRIu64 " total, %" PRIu64 " completed, %" PRIu64 " failed, %"
                               PRIu64 " running, %" PRIu64 " skipped",
                               ctl_dict_u64(d, "total_sheets"), ctl_dict_u64(d, "completed_sheets"),
                               ctl_dict_u64(d, "failed_sheets"), ctl_dict_u64(d, "running_sheets"),
                               ctl_dict_u64(d, "skipped_sheets"));
        field("Sheets", sheets);
        if (ctl_dict_get(d, "input_tokens")) {
                _cleanup_free_ char *tokens = ctl_format_tokens(ctl_dict_u64(d, "input_tokens"),
                                                                ctl_dict_u64(d, "output_tokens"));
                field("Tokens", tokens);
        }
        if (cost && cost->is_number) {
                _cleanup_free_ char *text = ctl_format_cost(cost->d);
                field("Cost", text);
        }
        if (ctl_dict_u64(d, "start_sheet") > 1)
                field("Start sheet", ctl_dict_string(d, "start_sheet"));
        if (streq_ptr(ctl_dict_string(d, "self_healing"), "yes"))
                field("Self-healing", "yes");
        if (!isempty(ctl_dict_string(d, "execution_mode")))
                field("Mode", ctl_dict_string(d, "execution_mode"));
        field_time(d, "Created", "created_at");
        field_time(d, "Started", "started_at");
        field_time(d, "Finished", "finished_at");
        if (!isempty(ctl_dict_string(d, "error")))
                field("Error", ctl_dict_string(d, "error"));
}

static int status_job(const Ctl *c, sd_bus *bus, const char *job) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        _cleanup_free_ char *what = strdup_printf("get the status of job %s", job);
        int r;

        if (!what)
                return ctl_log_oom();
        r = call_simple(c, bus, "GetJobStatus", job, what, &reply);
        if (r != 0)
                return r;

        if (c->json) {
                fputs("{\"job\":", stdout);
                r = ctl_json_write_dict(stdout, reply);
                if (r < 0)
                        return ctl_log_parse_error(r);
                fputs(",\"sheets\":", stdout);
                r = ctl_print_sheet_table(c, bus, job, true);
                if (r == 0)
                        fputs("}\n", stdout);
                return r;
        }

        r = ctl_dict_read(reply, &d);
        if (r < 0)
                return ctl_log_parse_error(r);
        print_job_status(d);
        putchar('\n');
        /* By id: the name may have become ambiguous in the meantime. */
        return ctl_print_sheet_table(c, bus, strempty(ctl_dict_string(d, "id")), false);
}

static int print_dict_call(const Ctl *c, sd_bus *bus, const char *member, const char *job, const char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        int r;

        r = call_simple(c, bus, member, job, what, &reply);
        if (r != 0)
                return r;
        if (c->json) {
                r = ctl_json_write_dict(stdout, reply);
                if (r < 0)
                        return ctl_log_parse_error(r);
                putchar('\n');
                return 0;
        }
        r = ctl_dict_read(reply, &d);
        if (r >= 0)
                r = ctl_dict_print(d, stdout, NULL);
        if (r < 0)
                return ctl_log_parse_error(r);
        return 0;
}

static int status_all(const Ctl *c, sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (!c->json) {
                r = print_dict_call(c, bus, "GetConductorStatus", NULL, "get the conductor status");
                if (r != 0)
                        return r;
                putchar('\n');
                return ctl_print_job_list(c, bus);
        }

        r = call_simple(c, bus, "GetConductorStatus", NULL, "get the conductor status", &reply);
        if (r != 0)
                return r;
        fputs("{\"conductor\":", stdout);
        r = ctl_json_write_dict(stdout, reply);
        if (r < 0)
                return ctl_log_parse_error(r);
        fputs(",\"jobs\":", stdout);
        r = ctl_print_job_list(c, bus);
        if (r == 0)
                fputs("}\n", stdout);
        return r;
}

int ctl_cmd_status(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        return args[0] ? status_job(c, bus, args[0]) : status_all(c, bus);
}

int ctl_cmd_list(Ctl *c, _unused_ char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        r = ctl_print_job_list(c, bus);
        if (r == 0 && c->json)
                putchar('\n');
        return r;
}

int ctl_cmd_sheets(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        r = ctl_print_sheet_table(c, bus, args[0], c->json);
        if (r == 0 && c->json)
                putchar('\n');
        return r;
}

static void print_tail(const CtlDict *d, const char *key, const char *title) {
        const char *text = ctl_dict_string(d, key);
        _cleanup_free_ char *indented = NULL;

        if (isempty(text))
                return;
        indented = ctl_indent(text, "    ");
        printf("\n%s%s:\n%s%s", title,
               streq_ptr(ctl_dict_string(d, "output_truncated"), "yes") ? " (truncated)" : "",
               strempty(indented), endswith(text, "\n") ? "" : "\n");
}

typedef enum ValidationBlock {
        VALIDATION_BLOCK_NONE,          /* no results: the score has none, or the sheet has not run */
        VALIDATION_BLOCK_PARSED,
        VALIDATION_BLOCK_RAW,           /* details we cannot read, shown as they are */
} ValidationBlock;

/* Whether 'mariannectl sheet' shows a "Validations:" block, with the
 * outcomes of validation_details (the caller frees them) when it does. */
static int sheet_validations(const CtlDict *d, CtlValidation **ret, size_t *ret_n) {
        const char *details = ctl_dict_string(d, "validation_details");
        bool counted = ctl_dict_u64(d, "passed_validations") + ctl_dict_u64(d, "failed_validations") > 0;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (isempty(details))
                return counted ? VALIDATION_BLOCK_PARSED : VALIDATION_BLOCK_NONE;
        r = ctl_json_parse_validations(details, ret, ret_n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return VALIDATION_BLOCK_RAW;
        return *ret_n > 0 || counted ? VALIDATION_BLOCK_PARSED : VALIDATION_BLOCK_NONE;
}

/* Keys of GetSheet shown in blocks of their own, or folded into the line
 * of another key. */
static const char * const folded_keys[] = {
        "stdout_tail", "stderr_tail", "validation_details", "instrument_index", "output_tokens", NULL,
};

/* Summed up under "Validations:" when that block is shown. */
static const char * const validation_count_keys[] = {
        "passed_validations", "failed_validations", "last_pass_percentage", NULL,
};

int ctl_print_sheet_details(const CtlDict *d, FILE *f) {
        _cleanup_(ctl_fields_done) CtlFields l = {};
        CtlValidation *v = NULL;
        size_t n = 0;
        bool block;
        int r;

        r = sheet_validations(d, &v, &n);
        ctl_validations_free(v, n);
        if (r < 0)
                return r;
        block = r != VALIDATION_BLOCK_NONE;

        for (size_t i = 0; i < d->n; i++) {
                const CtlDictEntry *e = &d->entries[i];
                const char *k = e->key;

                if (strv_contains((char **) folded_keys, k))
                        continue;
                if (block && strv_contains((char **) validation_count_keys, k))
                        continue;

                if (streq(k, "instrument")) {
                        uint64_t fallback = ctl_dict_u64(d, "instrument_index");

                        r = ctl_fields_add_take(&l, strdup("Instrument"),
                                                fallback > 0 ? strdup_printf("%s (fallback %" PRIu64 ")", e->text, fallback)
                                                             : strdup(e->text));
                } else if (streq(k, "input_tokens"))
                        r = ctl_fields_add_take(&l, strdup("Tokens"),
                                                ctl_format_tokens(e->u, ctl_dict_u64(d, "output_tokens")));
                else if (streq(k, "cost_usd"))
                        r = ctl_fields_add_take(&l, strdup("Cost"), ctl_format_cost(e->d));
                else if (streq(k, "rate_limit_waits")) {
                        if (e->u == 0)
                                continue;
                        r = ctl_fields_add_take(&l, strdup("Rate-limit waits"), strdup(e->text));
                } else
                        r = ctl_fields_add_entry(&l, e);
                if (r < 0)
                        return r;
        }
        return ctl_fields_print(&l, f);
}

static int print_validation(FILE *f, const CtlValidation *v) {
        _cleanup_free_ char *description = NULL, *detail = NULL, *indented = NULL;
        const char *mark = ctl_validation_mark(v->status);
        const char *color = streq_ptr(v->status, "passed") ? ctl_state_color("completed") :
                            streq_ptr(v->status, "failed") ? ctl_state_color("failed") : "";

        /* The score's descriptions and the details (command output among
         * them) come from the job's owner: never let them drive the
         * terminal, escaped or not in the JSON. */
        description = v->description ? ctl_sanitize(v->description, false)
                                     : strdup_printf("validation %u", v->index + 1);
        if (!description)
                return -ENOMEM;
        fprintf(f, "    %s%s%s %s", color, mark, *color ? ctl_color_reset() : "", description);
        /* the dash stands for two outcomes: say which */
        if (streq(mark, "\u2013"))
                fprintf(f, " (%s)", ctl_validation_words(v->status));
        fputc('\n', f);

        if (isempty(v->detail))
                return 0;
        detail = ctl_sanitize(v->detail, true);
        if (!detail)
                return -ENOMEM;
        indented = ctl_indent(detail, "      ");
        if (!indented)
                return -ENOMEM;
        fprintf(f, "%s%s", indented, endswith(indented, "\n") ? "" : "\n");
        return 0;
}

int ctl_print_validations(const CtlDict *d, FILE *f) {
        _cleanup_free_ char *percent = NULL;
        const CtlDictEntry *pct = ctl_dict_get(d, "last_pass_percentage");
        uint64_t passed = ctl_dict_u64(d, "passed_validations");
        uint64_t failed = ctl_dict_u64(d, "failed_validations");
        CtlValidation *v = NULL;
        size_t n = 0;
        int r;

        r = sheet_validations(d, &v, &n);
        if (r <= VALIDATION_BLOCK_NONE)
                return r;

        fputs("\nValidations:\n", f);
        if (r == VALIDATION_BLOCK_RAW) {
                /* Written by a conductor we do not understand: show it as it is. */
                _cleanup_free_ char *raw = ctl_indent(ctl_dict_string(d, "validation_details"), "    ");

                if (!raw)
                        return -ENOMEM;
                fprintf(f, "%s\n", raw);
        }
        for (size_t i = 0; i < n; i++) {
                r = print_validation(f, &v[i]);
                if (r < 0) {
                        ctl_validations_free(v, n);
                        return r;
                }
        }
        ctl_validations_free(v, n);

        if (passed + failed == 0) {
                fputs("    None applied.\n", f);
                return 0;
        }
        percent = ctl_format_percent(pct && pct->is_number ? pct->d : (double) passed * 100.0 / (double) (passed + failed));
        if (!percent)
                return -ENOMEM;
        fprintf(f, "    %" PRIu64 " of %" PRIu64 " passed (%s)\n", passed, passed + failed, percent);
        return 0;
}

int ctl_cmd_sheet(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_dict_free_ CtlDict *d = NULL;
        _cleanup_free_ char *what = NULL;
        uint64_t num;
        int r;

        if (ctl_parse_unsigned(args[1], UINT32_MAX, &num) < 0 || num == 0) {
                fprintf(stderr, "mariannectl: Invalid sheet number '%s': expected 1 or more.\n"
                        "See 'mariannectl --help'.\n", args[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        r = ctl_new_call(bus, "GetSheet", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "su", args[0], (uint32_t) num);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        what = strdup_printf("get sheet %" PRIu64 " of job %s", num, args[0]);
        if (!what)
                return ctl_log_oom();
        r = ctl_call(c, bus, m, &reply, what);
        if (r != 0)
                return r;

        if (c->json) {
                r = ctl_json_write_dict(stdout, reply);
                if (r < 0)
                        return ctl_log_parse_error(r);
                putchar('\n');
                return 0;
        }
        r = ctl_dict_read(reply, &d);
        if (r >= 0)
                r = ctl_print_sheet_details(d, stdout);
        if (r >= 0)
                r = ctl_print_validations(d, stdout);
        if (r < 0)
                return ctl_log_parse_error(r);
        print_tail(d, "stdout_tail", "Output (stdout, last lines)");
        print_tail(d, "stderr_tail", "Errors (stderr, last lines)");
        return 0;
}

int ctl_cmd_health(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *what = strdup_printf("check the health of job %s", args[0]);
        int r;

        if (!what)
                return ctl_log_oom();
        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        return print_dict_call(c, bus, "VerifyProcessHealth", args[0], what);
}

int ctl_cmd_conductor_status(Ctl *c, _unused_ char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        return print_dict_call(c, bus, "GetConductorStatus", NULL, "get the conductor status");
}

int ctl_cmd_output(Ctl *c, char **args) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *what = NULL;
        const char *stream = args[2] ?: "stdout";
        uint64_t num;
        int fd, r;

        if (ctl_parse_unsigned(args[1], UINT32_MAX, &num) < 0 || num == 0) {
                fprintf(stderr, "mariannectl: Invalid sheet number '%s': expected 1 or more.\n"
                        "See 'mariannectl --help'.\n", args[1]);
                return CTL_EXIT_USAGE;
        }
        if (!streq(stream, "stdout") && !streq(stream, "stderr")) {
                fprintf(stderr, "mariannectl: Stream must be stdout or stderr, not '%s'.\n", stream);
                return CTL_EXIT_USAGE;
        }
        r = ctl_connect(c, &bus);
        if (r != 0)
                return r;
        r = ctl_new_call(bus, "OpenSheetOutput", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sus", args[0], (uint32_t) num, stream);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Failed to build the request: %s\n", strerror(-r));
                return CTL_EXIT_FAILED;
        }
        what = strdup_printf("open the %s of sheet %" PRIu64 " of job %s", stream, num, args[0]);
        if (!what)
                return ctl_log_oom();
        r = ctl_call(c, bus, m, &reply, what);
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return ctl_log_parse_error(r);
        /* the fd belongs to the reply: copy it out as it is */
        for (;;) {
                char buf[65536];
                ssize_t k = read(fd, buf, sizeof buf);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        fprintf(stderr, "mariannectl: Failed to read the output: %s\n", strerror(errno));
                        return CTL_EXIT_FAILED;
                }
                if (k == 0)
                        break;
                if (fwrite(buf, 1, (size_t) k, stdout) != (size_t) k) {
                        fprintf(stderr, "mariannectl: Failed to write the output: %s\n", strerror(errno));
                        return CTL_EXIT_FAILED;
                }
        }
        return fflush(stdout) == 0 ? CTL_EXIT_SUCCESS : CTL_EXIT_FAILED;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <sys/stat.h>

#include "instrument.h"
#include "json.h"
#include "score-instruments.h"
#include "score.h"

/* Offline checks of score files: what the conductor would say about them,
 * with the instruments of this machine (built-in, /etc and the user's own
 * profiles, executables looked up in $PATH). */

/* Content errors make a score invalid (1); anything else means the file
 * could not be read (2). */
static int exit_code_for_parse_error(int r, const ScoreDiagnostic *d) {
        if (d->message && d->code == SCORE_E_FILE)
                return CTL_EXIT_USAGE;
        switch (r) {
        case -EINVAL:
        case -E2BIG:
        case -EFBIG:
        case -EOPNOTSUPP:
        case -ENOMEM:
                return CTL_EXIT_FAILED;
        default:
                return CTL_EXIT_USAGE;
        }
}

static void json_diagnostic(FILE *f, const ScoreDiagnostic *d) {
        fprintf(f, "{\"code\":\"%s\",\"name\":\"%s\",\"severity\":\"%s\",\"file\":",
                score_code_to_string(d->code), score_code_to_name(d->code),
                score_code_is_error(d->code) ? "error" : "warning");
        json_write_string(f, d->file);
        if (d->line > 0)
                fprintf(f, ",\"line\":%u,\"column\":%u", d->line, d->column);
        else
                fputs(",\"line\":null,\"column\":null", f);
        fputs(",\"key\":", f);
        json_write_string(f, d->key);
        fputs(",\"message\":", f);
        json_write_string(f, d->message);
        fputc('}', f);
}

static void print_json(const char *path, const Score *s, const ScoreDiagnostic *error) {
        bool first = true;

        printf("{\"file\":");
        json_write_string(stdout, path);
        printf(",\"valid\":%s,\"name\":", error ? "false" : "true");
        json_write_string(stdout, s ? s->name : NULL);
        if (error || !s)
                fputs(",\"total_sheets\":null", stdout);
        else
                printf(",\"total_sheets\":%zu", s->n_sheets);

        fputs(",\"diagnostics\":[", stdout);
        if (error) {
                json_diagnostic(stdout, error);
                first = false;
        }
        for (size_t i = 0; s && i < s->n_diagnostics; i++) {
                if (!first)
                        fputc(',', stdout);
                json_diagnostic(stdout, s->diagnostics + i);
                first = false;
        }
        /* kept from before diagnostics had codes: plain messages */
        fputs("],\"warnings\":", stdout);
        ctl_json_write_strv(stdout, s ? s->warnings : NULL);
        fputs(",\"error\":", stdout);
        if (error) {
                _cleanup_free_ char *m = score_diagnostic_format(error);
                json_write_string(stdout, m ?: error->message);
        } else
                fputs("null", stdout);
        fputs("}\n", stdout);
}

/* A FIFO or device would be refused by the parser as -EINVAL, which would
 * read as "invalid score"; it is an unreadable file instead. */
static int check_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ENODEV;
        return 0;
}

static int load_registry(InstrumentRegistry **ret) {
        int r;

        r = instrument_registry_load_default(true, ret);
        if (r < 0)
                fprintf(stderr, "mariannectl: Failed to load the instrument profiles: %s\n", strerror(-r));
        return r;
}

static int validate_one(const Ctl *c, const InstrumentRegistry *reg, const char *path) {
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_(score_diagnostic_done) ScoreDiagnostic error = {};
        int r;

        r = check_file(path);
        if (r < 0)
                error = (ScoreDiagnostic) {
                        .code = SCORE_E_FILE,
                        .file = strdup(path),
                        .message = strdup_printf("cannot read score: %s",
                                                 r == -ENODEV ? "not a regular file" : strerror(-r)),
                };
        else {
                r = score_parse_file_full(path, &score_limits_default, &s, &error);
                if (r >= 0)
                        r = score_check_instruments(s, reg, NULL, &error);
        }
        if (r == -ENOMEM)
                return ctl_log_oom();

        if (c->json)
                print_json(path, s, r < 0 ? &error : NULL);
        else {
                for (size_t i = 0; s && i < s->n_diagnostics; i++) {
                        _cleanup_free_ char *m = score_diagnostic_format(s->diagnostics + i);
                        fprintf(stderr, "warning: %s\n", strna(m));
                }
                if (r < 0) {
                        _cleanup_free_ char *m = score_diagnostic_format(&error);
                        fprintf(stderr, "error: %s\n", m ?: strerror(-r));
                } else if (!c->quiet)
                        printf("%s: valid, %zu sheet%s, %zu warning%s\n", path, s->n_sheets,
                               s->n_sheets == 1 ? "" : "s", s->n_diagnostics, s->n_diagnostics == 1 ? "" : "s");
        }

        return r < 0 ? exit_code_for_parse_error(r, &error) : CTL_EXIT_SUCCESS;
}

int ctl_cmd_validate(Ctl *c, char **args) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *reg = NULL;
        int ret = CTL_EXIT_SUCCESS;

        if (load_registry(&reg) < 0)
                return CTL_EXIT_FAILED;

        /* With several files the worst outcome wins: unreadable over invalid. */
        STRV_FOREACH(path, args) {
                int r = validate_one(c, reg, *path);

                ret = MAX(ret, r);
        }
        return ret;
}

/* Exactly the prompt a sheet's first attempt gets: the template rendered
 * with the sheet's variables.  Earlier sheets' outputs (previous_outputs,
 * previous_files) only exist while a job runs; here they are empty. */
int ctl_cmd_render(Ctl *c, char **args) {
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_(score_diagnostic_done) ScoreDiagnostic error = {};
        const char *path = args[0];
        int r;

        r = check_file(path);
        if (r < 0) {
                fprintf(stderr, "mariannectl: Cannot read %s: %s\n", path,
                        r == -ENODEV ? "not a regular file" : strerror(-r));
                return CTL_EXIT_USAGE;
        }
        r = score_parse_file_full(path, &score_limits_default, &s, &error);
        if (r == -ENOMEM)
                return ctl_log_oom();
        if (r < 0) {
                _cleanup_free_ char *m = score_diagnostic_format(&error);
                fprintf(stderr, "error: %s\n", m ?: strerror(-r));
                return exit_code_for_parse_error(r, &error);
        }
        if (c->sheet > s->n_sheets) {
                fprintf(stderr, "mariannectl: %s has %zu sheet%s, there is no sheet %u.\n",
                        path, s->n_sheets, s->n_sheets == 1 ? "" : "s", c->sheet);
                return CTL_EXIT_NO_SUCH;
        }

        for (unsigned num = c->sheet ?: 1; num <= (c->sheet ?: s->n_sheets); num++) {
                _cleanup_free_ char *prompt = NULL, *err = NULL;

                r = score_render_prompt(s, num, &prompt, &err);
                if (r == -ENOMEM)
                        return ctl_log_oom();
                if (r < 0) {
                        fprintf(stderr, "mariannectl: %s\n", err ?: strerror(-r));
                        return CTL_EXIT_FAILED;
                }
                /* with one sheet asked for, the prompt alone: byte for byte */
                if (c->sheet == 0)
                        printf("%s==> sheet %u <==\n", num > 1 ? "\n" : "", num);
                fputs(prompt, stdout);
        }
        return CTL_EXIT_SUCCESS;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* mariannectl: the command-line client of org.marianne.Conductor. */

#include "macro.h"  /* first: it defines _GNU_SOURCE */

#include <inttypes.h>
#include <systemd/sd-bus.h>

#ifndef MARIANNE_VERSION
#define MARIANNE_VERSION "0.1.0"
#endif

#define CONDUCTOR_SERVICE   "org.marianne.Conductor"
#define CONDUCTOR_PATH      "/org/marianne/Conductor"
#define CONDUCTOR_INTERFACE "org.marianne.Conductor"
#define JOB_INTERFACE       "org.marianne.Conductor.Job"
#define CONDUCTOR_SOCKET    "/run/marianne/conductor.socket"

/* Exit codes; documented in --help. */
enum {
        CTL_EXIT_SUCCESS     = 0,
        CTL_EXIT_FAILED      = 1,  /* refused by the conductor, or the awaited job failed */
        CTL_EXIT_USAGE       = 2,  /* bad command line; unreadable file for validate */
        CTL_EXIT_NO_SUCH     = 4,  /* no such job or sheet, or an ambiguous name */
        CTL_EXIT_UNREACHABLE = 69, /* EX_UNAVAILABLE: the conductor cannot be reached */
};

typedef struct Ctl {
        bool user;              /* --user: the per-user conductor on the session bus */
        bool json;
        bool quiet;
        const char *bus_address; /* $MARIANNE_BUS_ADDRESS, overrides --system/--user */
        const char *socket_path; /* --socket: peer-to-peer, no bus; overrides all of the above */

        /* start */
        const char *workspace;
        unsigned start_sheet;   /* 0: not given */
        bool self_healing;
        bool dry_run;
        bool wait;

        /* clear */
        char **states;
        uint64_t older_than;    /* UINT64_MAX: not given */

        /* logs */
        unsigned sheet;         /* 0: every sheet */
        unsigned lines;         /* 0: all */
        bool follow;
} Ctl;

/* ctl-bus.c: connection and error reporting.  Functions that return an
 * exit code have already printed why. */
int ctl_connect(const Ctl *c, sd_bus **ret);
int ctl_connect_silently(const Ctl *c, sd_bus **ret);   /* negative errno, prints nothing */
int ctl_exit_code_from_error(const char *error_name, int r);
bool ctl_error_is_unreachable(const char *error_name, int r);
int ctl_report_error(const Ctl *c, const sd_bus_error *error, int r, const char *fmt, ...) _printf_(4, 5);
int ctl_new_call(sd_bus *bus, const char *member, sd_bus_message **ret);
/* Call a conductor method; on failure report "Failed to <what>: ..." and
 * return the exit code (> 0); 0 on success. */
int ctl_call(const Ctl *c, sd_bus *bus, sd_bus_message *m, sd_bus_message **reply, const char *what);
int ctl_log_oom(void);
int ctl_log_parse_error(int r);

/* ctl-format.c: pure formatting helpers. */
char *ctl_format_timestamp(uint64_t usec);     /* "2026-11-21 19:40:02" local, "n/a" for 0 */
char *ctl_format_clock(uint64_t usec);         /* "19:40:02" local */
char *ctl_format_duration(uint64_t usec);      /* "1min 3s", "850ms" */
char *ctl_format_user(uint32_t uid);           /* user name, or the uid in decimal */
char *ctl_sanitize(const char *s, bool keep_newlines); /* control characters → '?' */
char *ctl_indent(const char *text, const char *prefix);
char *ctl_label_from_key(const char *key);     /* "completed_at" → "Completed at" */
size_t ctl_display_width(const char *s);
const char *ctl_glyph_bullet(void);
const char *ctl_glyph_arrow(void);
const char *ctl_state_color(const char *state); /* ANSI sequence, "" when not a terminal */
const char *ctl_color_reset(void);
int ctl_parse_unsigned(const char *s, uint64_t max, uint64_t *ret);
char *ctl_format_tokens(uint64_t input, uint64_t output);  /* "1234 in, 567 out" */
char *ctl_format_cost(double usd);             /* "$0.0123 (estimated)" */
char *ctl_format_percent(double p);            /* "50%", "66.7%" */
/* A validation status ("passed", "failed", "not_applicable", "not_run") as
 * a mark: ✓ ✗ – in UTF-8 locales, "[passed]", "[not run]"... elsewhere. */
const char *ctl_validation_mark(const char *status);
const char *ctl_validation_words(const char *status);  /* "not run", "not applicable", ... */

/* ctl-table.c: column-aligned tables. */
typedef struct CtlTable CtlTable;
CtlTable *ctl_table_new(size_t n_columns, ...);        /* column headers */
CtlTable *ctl_table_free(CtlTable *t);
DEFINE_CLEANUP_FUNC(CtlTable *, ctl_table_free);
#define _cleanup_table_free_ _cleanup_(ctl_table_freep)
int ctl_table_add_cell(CtlTable *t, const char *text); /* rows fill left to right */
int ctl_table_add_cell_take(CtlTable *t, char *text);  /* NULL text means OOM */
size_t ctl_table_rows(const CtlTable *t);
int ctl_table_print(const CtlTable *t, FILE *f);

/* ctl-json.c: D-Bus values → JSON, walking the type signature. */
int ctl_json_write_value(FILE *f, sd_bus_message *m);  /* the next complete value */
int ctl_json_write_dict(FILE *f, sd_bus_message *m);   /* a{sv} → object */
/* a(...) → array of objects; fields names the struct members in order. */
int ctl_json_write_struct_array(FILE *f, sd_bus_message *m, const char *contents,
                                const char * const *fields, size_t n_fields);
void ctl_json_write_double(FILE *f, double d);
void ctl_json_write_strv(FILE *f, char * const *l);

/* One outcome of a sheet's validation_details, the JSON array of
 * validation_report_to_json(): [{"index":0,"status":"passed",
 * "description":"...","detail":"..."}, ...].  Strings are as sent, not
 * sanitized for a terminal. */
typedef struct CtlValidation {
        unsigned index;
        char *status;           /* "passed", "failed", "not_applicable", "not_run" */
        char *description;      /* NULL if none */
        char *detail;
} CtlValidation;
void ctl_validations_free(CtlValidation *v, size_t n);
/* -EBADMSG if text is not such an array; unknown keys are ignored. */
int ctl_json_parse_validations(const char *text, CtlValidation **ret, size_t *ret_n);

/* ctl-dict.c: a{sv} read into memory for human-readable output. */
typedef struct CtlDictEntry {
        char *key;
        char type;              /* D-Bus type of the variant's content ('a', '(' ... for containers) */
        char *text;             /* display text; containers rendered as JSON, arrays of basics joined */
        bool is_number;
        uint64_t u;             /* unsigned, or two's complement of signed */
        double d;               /* numeric value as double */
        bool b;
} CtlDictEntry;

typedef struct CtlDict {
        CtlDictEntry *entries;
        size_t n;
} CtlDict;

CtlDict *ctl_dict_free(CtlDict *d);
DEFINE_CLEANUP_FUNC(CtlDict *, ctl_dict_free);
#define _cleanup_dict_free_ _cleanup_(ctl_dict_freep)
int ctl_dict_read(sd_bus_message *m, CtlDict **ret);
const CtlDictEntry *ctl_dict_get(const CtlDict *d, const char *key);
const char *ctl_dict_string(const CtlDict *d, const char *key);  /* NULL if missing */
uint64_t ctl_dict_u64(const CtlDict *d, const char *key);       /* 0 if missing */
char *ctl_dict_format_value(const CtlDictEntry *e);             /* with units, times, yes/no */
/* "  Label: value" lines, labels right-aligned; skip lists keys not to print. */
int ctl_dict_print(const CtlDict *d, FILE *f, char * const *skip);

/* Labelled lines built by a command, printed like ctl_dict_print(). */
typedef struct CtlField {
        char *label;
        char *value;
} CtlField;
typedef struct CtlFields {
        CtlField *fields;
        size_t n;
} CtlFields;
void ctl_fields_done(CtlFields *l);
int ctl_fields_add_take(CtlFields *l, char *label, char *value);  /* takes both; NULL means OOM */
int ctl_fields_add_entry(CtlFields *l, const CtlDictEntry *e);   /* label and value as ctl_dict_print() */
int ctl_fields_print(const CtlFields *l, FILE *f);

/* Commands; each returns an exit code. */
int ctl_cmd_start(Ctl *c, char **args);
int ctl_cmd_job_action(Ctl *c, const char *verb, char **args);
int ctl_cmd_clear(Ctl *c, char **args);
int ctl_cmd_status(Ctl *c, char **args);
int ctl_cmd_list(Ctl *c, char **args);
int ctl_cmd_sheets(Ctl *c, char **args);
int ctl_cmd_sheet(Ctl *c, char **args);
int ctl_cmd_output(Ctl *c, char **args);
int ctl_cmd_logs(Ctl *c, char **args);
int ctl_cmd_health(Ctl *c, char **args);
int ctl_cmd_conductor_status(Ctl *c, char **args);
int ctl_cmd_watch(Ctl *c, char **args);
int ctl_cmd_validate(Ctl *c, char **args);
int ctl_cmd_instruments(Ctl *c, char **args);
int ctl_cmd_render(Ctl *c, char **args);

/* Shared between commands. */
/* Follow a job (or every job) through the conductor's signals.  To miss
 * nothing of a job about to be started, subscribe with ctl_watch_begin()
 * before starting it, then ctl_watch_follow().  Both return exit codes. */
typedef struct Watch Watch;
int ctl_watch_begin(const Ctl *c, sd_bus *bus, Watch **ret);
int ctl_watch_follow(Watch *w, const char *job);
int ctl_watch_job(const Ctl *c, sd_bus *bus, const char *job);
int ctl_print_sheet_table(const Ctl *c, sd_bus *bus, const char *job, bool json);
int ctl_print_job_list(const Ctl *c, sd_bus *bus);
/* The text of 'mariannectl sheet' from a GetSheet dictionary. */
int ctl_print_sheet_details(const CtlDict *d, FILE *f);
/* The "Validations:" block from validation_details and the counts; nothing
 * if the sheet has no validation results. */
int ctl_print_validations(const CtlDict *d, FILE *f);

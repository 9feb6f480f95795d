/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Instruments: the programs a sheet runs.  An instrument profile (YAML,
 * the original Marianne schema, see marianne.instrument(5)) says how to
 * call one: the executable and its flags, how the prompt reaches it,
 * which environment variables it may see, what its output looks like
 * and how its failures read.
 *
 *   instrument-profile.c    the profile model and its parser
 *   instrument-registry.c   built-in profiles and the search directories
 *   instrument-command.c    one attempt's argv, environment and stdin
 *   instrument-output.c     result text, tokens and cost from its stdout
 *   instrument-classify.c   success, rate limit, auth, capacity, timeout */

#include <regex.h>

#include "macro.h"
#include "value.h"

#define INSTRUMENT_PROFILE_SIZE_MAX (256U * 1024U)     /* bytes of one profile file */
#define INSTRUMENT_PROFILE_NODES_MAX 20000U             /* YAML nodes visited (aliases included) */
#define INSTRUMENT_PROFILE_DEPTH_MAX 16U                /* YAML nesting */
#define INSTRUMENT_NAME_MAX 64U                         /* [A-Za-z0-9._-], first an alphanumeric */
#define INSTRUMENT_DIR_FILES_MAX 1024U                  /* profile files read from one directory */
#define INSTRUMENT_PROMPT_ARG_MAX (32U * 1024U)         /* larger prompts always go via stdin */
#define INSTRUMENT_PROMPT_MAX (16U * 1024U * 1024U)     /* larger prompts are refused */
#define INSTRUMENT_OUTPUT_PARSE_MAX (16U * 1024U * 1024U) /* stdout parsed at most */

#define INSTRUMENT_DIR_VENDOR "/usr/lib/marianne/instruments"
#define INSTRUMENT_DIR_SYSTEM "/etc/marianne/instruments"
#define INSTRUMENT_SOURCE_BUILTIN "built-in"

/* ───────────────────────────── profiles ───────────────────────────── */

typedef enum InstrumentOutputFormat {
        INSTRUMENT_OUTPUT_TEXT,
        INSTRUMENT_OUTPUT_JSON,
        INSTRUMENT_OUTPUT_JSONL,
        _INSTRUMENT_OUTPUT_FORMAT_MAX,
        _INSTRUMENT_OUTPUT_FORMAT_INVALID = -EINVAL,
} InstrumentOutputFormat;

const char *instrument_output_format_to_string(InstrumentOutputFormat f);
InstrumentOutputFormat instrument_output_format_from_string(const char *s);

typedef struct InstrumentModel {
        char *name;
        uint64_t context_window;        /* 0 = not given */
        double cost_per_1k_input;       /* USD */
        double cost_per_1k_output;
        uint64_t max_output_tokens;     /* 0 = not given */
        unsigned max_concurrent;        /* 0 = not given */
} InstrumentModel;

/* Patterns in Python re syntax, compiled case-insensitively once, when
 * the profile is parsed. */
typedef struct InstrumentPatterns {
        char **patterns;
        regex_t *compiled;              /* compiled[i] is patterns[i] */
        size_t n;
} InstrumentPatterns;

typedef struct InstrumentFilterField {
        char *key;                      /* "type", or a dotted path "item.type" */
        char *value;                    /* compared with the field's text */
} InstrumentFilterField;

typedef struct InstrumentCommand {
        char *executable;               /* a name looked up in PATH, or an absolute path */
        char *subcommand;               /* "exec", or NULL */
        char *prompt_flag;              /* "-p"; NULL = the prompt is a positional argument */
        bool prompt_via_stdin;
        char *stdin_sentinel;           /* "-": given as the prompt when it goes via stdin */
        bool start_new_session;
        char **required_env;            /* the environment allow-list */
        char *model_flag;
        char *auto_approve_flag;
        char *output_format_flag;
        char *output_format_value;      /* NULL = output_format_flag is a boolean flag */
        char *system_prompt_flag;
        char *allowed_tools_flag;
        char *mcp_config_flag;
        char **mcp_disable_args;
        char **extra_flags;
} InstrumentCommand;

typedef struct InstrumentOutputSpec {
        InstrumentOutputFormat format;  /* default text */
        char *result_path;              /* dotted paths, "*" matches every key or item */
        char *error_path;
        char *input_tokens_path;
        char *output_tokens_path;
        bool aggregate_tokens;          /* sum every match of a wildcard path, not the first */
        char *completion_event_type;    /* jsonl: the "type" of the event carrying the result */
        InstrumentFilterField *completion_event_filter;
        size_t n_completion_event_filter;
} InstrumentOutputSpec;

typedef struct InstrumentErrorSpec {
        int *success_exit_codes;        /* default {0} */
        size_t n_success_exit_codes;
        InstrumentPatterns rate_limit;
        InstrumentPatterns auth;
        InstrumentPatterns capacity;
        InstrumentPatterns timeout;
} InstrumentErrorSpec;

typedef struct InstrumentProfile {
        unsigned n_ref;

        char *source;                   /* file path, or INSTRUMENT_SOURCE_BUILTIN */
        bool builtin;

        char *name;
        char *display_name;
        char *description;
        char *kind;                     /* "cli" is what runs; other kinds load with a warning */
        bool raw_prompt;                /* the rendered prompt is passed verbatim */
        char **capabilities;
        char *default_model;
        double default_timeout_seconds; /* 0 = not given */
        InstrumentModel *models;
        size_t n_models;

        bool has_cli;
        InstrumentCommand command;
        InstrumentOutputSpec output;
        InstrumentErrorSpec errors;

        /* "FILE:LINE:COLUMN: key 'cli.foo' is unknown, ignored" */
        char **warnings;
} InstrumentProfile;

InstrumentProfile *instrument_profile_ref(InstrumentProfile *p);
InstrumentProfile *instrument_profile_unref(InstrumentProfile *p);
DEFINE_CLEANUP_FUNC(InstrumentProfile *, instrument_profile_unref);
#define _cleanup_instrument_profile_unref_ _cleanup_(instrument_profile_unrefp)

/* Parse a profile.  Errors return negative errno and, in *ret_error,
 * "SOURCE:LINE:COLUMN: key 'cli.command.executable': what is wrong":
 *   -EINVAL  invalid content (syntax, a wrong type, a missing key, a
 *            pattern that cannot be compiled)
 *   -EFBIG   larger than INSTRUMENT_PROFILE_SIZE_MAX
 *   -E2BIG   nested too deep or too many nodes (alias bombs)
 * Unknown keys are warnings in p->warnings, not errors. */
int instrument_profile_parse(const char *yaml, size_t size, const char *source, InstrumentProfile **ret, char **ret_error);
int instrument_profile_load_file(const char *path, InstrumentProfile **ret, char **ret_error);

/* The kinds of instrument that can run ("cli"). */
bool instrument_profile_runnable(const InstrumentProfile *p);
const InstrumentModel *instrument_profile_find_model(const InstrumentProfile *p, const char *name);

/* ─────────────────────── the score's per-use config ─────────────────────── */

/* What a score's instrument_config (or instruments.ALIAS.config) says
 * about how to call the instrument. */
typedef struct InstrumentConfig {
        char *model;                    /* NULL: the profile's default_model (or the CLI's own default) */
        double timeout_seconds;         /* 0: the profile's default_timeout_seconds */
        bool skip_permissions;          /* pass auto_approve_flag ("auto_approve" is read as a synonym) */
        bool disable_mcp;               /* pass mcp_disable_args */
        char **allowed_tools;           /* allowed_tools_flag "A,B,C" */
        char **extra_flags;             /* after the profile's extra_flags */
        char *system_prompt;            /* system_prompt_flag TEXT */
} InstrumentConfig;

void instrument_config_done(InstrumentConfig *c);

/* Fill *ret from a VALUE_MAP (NULL or VALUE_NULL: all defaults).  Keys
 * it does not know are ignored: the config block is instrument
 * specific.  -EINVAL with "what.key: expected ..." in *ret_error for a
 * wrong type. */
int instrument_config_from_value(const Value *v, const char *what, InstrumentConfig *ret, char **ret_error);

/* The model an attempt uses, for the model flag: the config's, else the
 * profile's default_model; NULL = none (the CLI picks). */
const char *instrument_model_for_flag(const InstrumentProfile *p, const InstrumentConfig *c);
/* The model costs are estimated for: as above, else the first model listed. */
const char *instrument_model_for_cost(const InstrumentProfile *p, const InstrumentConfig *c);

/* ──────────────────────────── invocation ──────────────────────────── */

typedef enum InstrumentPromptDelivery {
        INSTRUMENT_PROMPT_FLAG,         /* prompt_flag PROMPT */
        INSTRUMENT_PROMPT_POSITIONAL,   /* PROMPT as the last argument */
        INSTRUMENT_PROMPT_STDIN,        /* on stdin (with prompt_flag stdin_sentinel when set) */
        _INSTRUMENT_PROMPT_DELIVERY_MAX,
        _INSTRUMENT_PROMPT_DELIVERY_INVALID = -EINVAL,
} InstrumentPromptDelivery;

const char *instrument_prompt_delivery_to_string(InstrumentPromptDelivery d);

typedef struct InstrumentInvocation {
        char *executable;               /* absolute path */
        char **argv;                    /* argv[0] is executable */
        char **envp;                    /* "NAME=value": the base, then the allow-listed names */
        char *stdin_data;               /* the prompt when it goes via stdin, else NULL */
        size_t stdin_size;
        InstrumentPromptDelivery delivery;
        char *model;                    /* passed with model_flag, or NULL */
        usec_t timeout_usec;            /* config, else profile default; 0 = none */
        bool new_session;               /* start_new_session */
} InstrumentInvocation;

void instrument_invocation_done(InstrumentInvocation *inv);


/* Build one attempt's invocation:
 *   argv = executable [subcommand] [model_flag MODEL]
 *          [auto_approve_flag, when config->skip_permissions]
 *          [output_format_flag [output_format_value]]
 *          [system_prompt_flag TEXT] [allowed_tools_flag A,B,C]
 *          [mcp_disable_args..., when config->disable_mcp]
 *          [profile extra_flags...] [config extra_flags...]
 *          then the prompt: prompt_flag PROMPT, or PROMPT positionally when
 *          prompt_flag is null, or via stdin.
 * The prompt goes via stdin when the profile says prompt_via_stdin, when
 * it is larger than INSTRUMENT_PROMPT_ARG_MAX, or when it begins with '-'
 * (it would read as an option); then argv ends in [prompt_flag]
 * stdin_sentinel when the profile has a sentinel, and carries no prompt
 * argument at all otherwise (bash with no -c reads its script from stdin).
 *
 * search_path: where the executable is looked up; NULL = the PATH of
 * base_env, else a default PATH.  base_env: what every attempt gets
 * (PATH, HOME, MARIANNE_*...); source_env: where the profile's
 * required_env names are taken from (e.g. the owner's environment).
 * Nothing else of source_env is passed; a name in both keeps base_env's.
 * config NULL = all defaults.
 *   -ENOENT     executable not found (message names it and the PATH)
 *   -EOPNOTSUPP the profile's kind cannot run
 *   -E2BIG      prompt larger than INSTRUMENT_PROMPT_MAX */
int instrument_build_invocation(const InstrumentProfile *p, const InstrumentConfig *config,
                                const char *prompt, const char *search_path,
                                char * const *base_env, char * const *source_env,
                                InstrumentInvocation *ret, char **ret_error);

/* ────────────────────────────── output ────────────────────────────── */

typedef struct InstrumentOutput {
        bool structured;                /* stdout read in the profile's format (text: always) */
        char *parse_error;              /* why it could not be, NULL when it could */
        char *result;                   /* the agent's answer; NULL when not found */
        char *error;                    /* the output's own error message (error_path), or NULL */
        bool has_input_tokens;
        bool has_output_tokens;
        uint64_t input_tokens;
        uint64_t output_tokens;
        const char *cost_model;         /* points into the profile; NULL: no cost known */
        bool has_cost;
        double cost;                    /* USD estimate */
} InstrumentOutput;

void instrument_output_done(InstrumentOutput *o);

/* Read an attempt's stdout (data, size; may contain NUL bytes) per the
 * profile's output format:
 *   text   result = stdout
 *   json   stdout is one JSON object (when not, the part from the first
 *          line beginning with '{' is tried); result_path, error_path and
 *          the token paths are looked up in it
 *   jsonl  one JSON object per line, other lines skipped; the result is
 *          taken from the last event whose "type" is completion_event_type
 *          and that matches completion_event_filter: every field of the
 *          filter equals the event's own field, or every field equals the
 *          field of the event's "item" object (codex nests its messages as
 *          {"type":"item.completed","item":{"type":"agent_message","text":..}}).
 *          The text is result_path in that event when the profile sets it,
 *          else the "text" of the object the filter matched.  Tokens are
 *          summed over every event carrying the token paths.
 * With a token path containing "*", aggregate_tokens sums all matches,
 * otherwise the first match counts.  Cost = input/1000 * cost_per_1k_input
 * + output/1000 * cost_per_1k_output of instrument_model_for_cost().
 * Content that does not parse is not an error: structured is false and
 * parse_error says why.  Returns 0, or -ENOMEM. */
int instrument_output_parse(const InstrumentProfile *p, const InstrumentConfig *config,
                            const char *data, size_t size, InstrumentOutput *ret);

/* A dotted path with "*" segments (and list indexes) in a JSON value:
 * every match in document order, at most max, their number in *ret_n.
 * 0 or -ENOMEM.  Exposed for tests. */
int instrument_json_path_find(const Value *root, const char *path, const Value **matches, size_t max, size_t *ret_n);

/* ──────────────────────────── classification ──────────────────────────── */

typedef enum InstrumentOutcome {
        INSTRUMENT_OUTCOME_SUCCESS,
        INSTRUMENT_OUTCOME_RATE_LIMITED,
        INSTRUMENT_OUTCOME_AUTH,
        INSTRUMENT_OUTCOME_CAPACITY,
        INSTRUMENT_OUTCOME_TIMEOUT,
        INSTRUMENT_OUTCOME_FAILED,
        _INSTRUMENT_OUTCOME_MAX,
        _INSTRUMENT_OUTCOME_INVALID = -EINVAL,
} InstrumentOutcome;

const char *instrument_outcome_to_string(InstrumentOutcome o);  /* "success", "rate_limited", "auth", ... */
InstrumentOutcome instrument_outcome_from_string(const char *s);

typedef struct InstrumentAttempt {
        int exit_code;                  /* when signal == 0 */
        int signal;                     /* > 0: killed by this signal */
        bool timed_out;                 /* the runner stopped it at its timeout */
        const char *out;                /* stdout (or its tail), may be NULL */
        size_t out_size;
        const char *err;                /* stderr (or its tail), may be NULL */
        size_t err_size;
} InstrumentAttempt;

typedef struct InstrumentVerdict {
        InstrumentOutcome outcome;
        usec_t retry_at;                /* rate_limited: CLOCK_REALTIME when the limit resets; 0 = unknown */
        char *reason;                   /* "stderr matches rate limit pattern 'rate.?limit'", "exit code 3" */
} InstrumentVerdict;

void instrument_verdict_done(InstrumentVerdict *v);

/* Classify a finished attempt:
 *   timed_out                                      → timeout
 *   exit code in success_exit_codes, no signal:
 *     a rate limit pattern on stderr               → rate_limited
 *     json/jsonl profiles whose stdout is not in that format (the CLI
 *     printed an error instead): the same on stdout → rate_limited
 *     otherwise                                    → success
 *     (the agent's own answer on stdout may mention rate limits: it is
 *     never scanned on success)
 *   otherwise stdout and stderr are scanned, in this order:
 *     rate limit → auth → capacity → timeout patterns, else failed.
 * Only the last 64 KiB of each stream are scanned.  For rate_limited,
 * retry_at comes from instrument_parse_reset_time() on the stream that
 * matched, then the other.  output: the parsed stdout, or NULL to have it
 * parsed here.  now: CLOCK_REALTIME.  0 or -ENOMEM. */
int instrument_classify(const InstrumentProfile *p, const InstrumentAttempt *a, const InstrumentOutput *output,
                        usec_t now, InstrumentVerdict *ret);

/* When a rate limit lifts, from a CLI's message (case-insensitive):
 * "Retry-After: 30", "try again in 20s", "retry after 60 seconds",
 * "retry in 1h 30m", "resets in 5 minutes" (now + the duration); an ISO
 * 8601 time in the future ("2026-04-01T15:30:00Z", "...+02:00"; without
 * a zone local time); "resets 3pm", "resets 3:30pm", "resets at 15:30",
 * optionally followed by a zone "(Europe/Paris)" or "UTC" (the next such
 * time after now).  Returns CLOCK_REALTIME usec, 0 when the text says
 * nothing usable (or more than 7 days ahead).  Named zones other than UTC
 * are computed by switching TZ for the call: not for threaded callers. */
usec_t instrument_parse_reset_time(const char *text, size_t size, usec_t now);

/* ───────────────────────────── registry ───────────────────────────── */

/* How profile files are read: the conductor reads a user's own profiles
 * with that user's rights.  NULL members (or a NULL loader) = direct. */
typedef struct InstrumentLoader {
        int (*read_file)(const char *path, size_t max, char **ret, size_t *ret_size, void *userdata);
        /* The names in dir (without "." and ".."); -ENOENT for a missing dir. */
        int (*list_dir)(const char *dir, char ***ret_names, void *userdata);
        void *userdata;
} InstrumentLoader;

typedef struct InstrumentRegistry {
        InstrumentProfile **profiles;   /* one per name, sorted by name */
        size_t n;
        /* Files skipped ("FILE: error, skipped") and the loaded profiles' warnings. */
        char **warnings;
} InstrumentRegistry;

InstrumentRegistry *instrument_registry_free(InstrumentRegistry *r);
DEFINE_CLEANUP_FUNC(InstrumentRegistry *, instrument_registry_free);
#define _cleanup_instrument_registry_free_ _cleanup_(instrument_registry_freep)

int instrument_registry_new(InstrumentRegistry **ret);
/* A new registry holding the same profiles (referenced, not copied): a
 * base for one user's overrides. */
int instrument_registry_copy(const InstrumentRegistry *r, InstrumentRegistry **ret);

/* Add p (a reference is taken), replacing a profile of the same name. */
int instrument_registry_add(InstrumentRegistry *r, InstrumentProfile *p);
/* The compiled-in profiles (cli, claude-code, gemini-cli, codex-cli). */
int instrument_registry_add_builtin(InstrumentRegistry *r);
/* One file: a profile that does not load becomes a warning, never an error.
 * Returns 1 when added, 0 when skipped, or -ENOMEM. */
int instrument_registry_add_file(InstrumentRegistry *r, const char *path, const InstrumentLoader *l);
/* Every *.yaml and *.yml file of dir in name order (a later file wins
 * over an earlier one with the same profile name).  A missing dir is not
 * a warning; an unreadable one is.  0 or -ENOMEM. */
int instrument_registry_add_dir(InstrumentRegistry *r, const char *dir, const InstrumentLoader *l);
/* The same for each directory in order: later directories win. */
int instrument_registry_add_dirs(InstrumentRegistry *r, char * const *dirs, const InstrumentLoader *l);

const InstrumentProfile *instrument_registry_get(const InstrumentRegistry *r, const char *name);

/* $XDG_CONFIG_HOME/marianne/instruments, or HOME/.config/marianne/instruments.
 * xdg_config_home and home may be NULL or empty; -ENXIO when both are. */
int instrument_user_dir(const char *xdg_config_home, const char *home, char **ret);

/* Built-in, then INSTRUMENT_DIR_VENDOR, INSTRUMENT_DIR_SYSTEM and, when
 * with_user, the calling user's directory ($XDG_CONFIG_HOME or $HOME). */
int instrument_registry_load_default(bool with_user, InstrumentRegistry **ret);

/* The compiled-in profile files: instrument-builtin.c (generated). */
typedef struct InstrumentBuiltin {
        const char *file;               /* "claude-code.yaml" */
        const char *data;
        size_t size;
} InstrumentBuiltin;

extern const InstrumentBuiltin instrument_builtins[];
extern const size_t instrument_builtins_count;

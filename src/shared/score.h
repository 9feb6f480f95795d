/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The typed score model: what a score YAML file means once parsed,
 * including the expanded sheet graph. */

#include "value.h"

typedef enum ValidationType {
        VALIDATION_FILE_EXISTS,
        VALIDATION_FILE_MODIFIED,
        VALIDATION_CONTENT_CONTAINS,
        VALIDATION_CONTENT_REGEX,
        VALIDATION_COMMAND_SUCCEEDS,
        _VALIDATION_TYPE_MAX,
        _VALIDATION_TYPE_INVALID = -EINVAL,
} ValidationType;

const char *validation_type_to_string(ValidationType t);
ValidationType validation_type_from_string(const char *s);

typedef struct ScoreValidation {
        ValidationType type;
        char *path;             /* with {placeholders}, unexpanded */
        char *pattern;
        char *command;          /* with {placeholders}, unexpanded */
        char *description;
        char *condition;        /* "sheet_num == 1 and stage >= 2", or NULL */
        unsigned stage;         /* validation stage: stage k runs only if all of stage < k passed; default 1 */
        unsigned sheet;         /* only for this sheet number; 0 = every sheet */
        unsigned timeout_seconds; /* command_succeeds only; default 30 */
        /* File checks (file_exists, file_modified, content_*) look again
         * this many times, retry_delay_ms apart, before failing: output
         * written by a slow or network filesystem may land late. */
        unsigned retry_count;           /* default 3 */
        unsigned retry_delay_ms;        /* default 200 */
} ScoreValidation;

#define VALIDATION_RETRY_COUNT_MAX 100U
#define VALIDATION_RETRY_DELAY_MS_MAX 60000U

typedef struct ScoreRetry {
        unsigned max_retries;           /* default 3 */
        double base_delay_seconds;      /* default 10 */
        double exponential_base;        /* default 2 */
        double max_delay_seconds;       /* default 3600 */
        bool jitter;                    /* default true */
} ScoreRetry;

/* One concrete sheet after fan-out expansion. */
typedef struct Sheet {
        unsigned num;           /* 1-based */
        unsigned stage;         /* 1-based stage (movement) this sheet belongs to */
        unsigned instance;      /* 1-based voice within a fanned-out stage, 1 otherwise */
        unsigned fan_count;     /* number of instances of this stage */
        unsigned start_item;
        unsigned end_item;
        unsigned *deps;         /* sheet numbers this sheet waits for, ascending */
        size_t n_deps;
} Sheet;

typedef struct ScoreLimits {
        size_t max_score_bytes;         /* default 1 MiB */
        unsigned max_sheets;            /* default 10 000 */
        unsigned max_depth;             /* YAML nesting, default 64 */
        unsigned max_aliases;           /* alias references, default 100 */
        size_t max_template_output;     /* default TEMPLATE_OUTPUT_MAX */
        /* How files the score names (template_file) are read: the conductor
         * reads them with the job owner's rights.  NULL = read_full_file(). */
        int (*read_file)(const char *path, size_t max, char **ret, size_t *ret_size, void *userdata);
        void *read_file_userdata;
} ScoreLimits;

extern const ScoreLimits score_limits_default;

/* The score's resources: block: limits for every sheet attempt's unit
 * (systemd runner) or cgroup (local runner).  0 = not set. */
typedef struct ScoreResources {
        uint64_t memory_max;            /* bytes: MemoryMax= */
        uint64_t cpu_quota_per_sec_usec;/* CPU time per second of wall time: CPUQuota= (100% = 1000000) */
        uint64_t tasks_max;             /* processes and threads: TasksMax= */
        uint64_t io_weight;             /* 1..10000: IOWeight= */
} ScoreResources;

static inline bool score_resources_set(const ScoreResources *r) {
        return r && (r->memory_max || r->cpu_quota_per_sec_usec || r->tasks_max || r->io_weight);
}

/* The score's runner: block: where its sheets run.  Slurm settings come
 * from the score, field by field over the conductor's [Slurm] defaults. */
typedef enum ScoreRunnerType {
        SCORE_RUNNER_DEFAULT,           /* not set: the conductor's Runner= */
        SCORE_RUNNER_LOCAL,
        SCORE_RUNNER_SYSTEMD,
        SCORE_RUNNER_SLURM,
        _SCORE_RUNNER_TYPE_MAX,
} ScoreRunnerType;

const char *score_runner_type_to_string(ScoreRunnerType t);    /* "default", "local", "systemd", "slurm" */
int score_runner_type_from_string(const char *s);               /* -EINVAL if none */

typedef struct ScoreSlurmOption {
        char *key;              /* long option name without "--" ("account", "qos") */
        char *value;            /* NULL = a flag without value ("exclusive") */
} ScoreSlurmOption;

typedef struct ScoreSlurm {
        char *partition;        /* NULL = not set */
        char *time;             /* Slurm time limit as written ("30", "1:30:00", "2-00:00:00"); NULL = from the timeout */
        unsigned cpus_per_task; /* 0 = not set */
        char *mem;              /* "4G"; NULL = not set */
        unsigned nodes;         /* 0 = not set */
        unsigned ntasks;        /* 0 = not set */
        ScoreSlurmOption *sbatch_options;       /* never one of the dedicated keys above */
        size_t n_sbatch_options;
        char **pre_commands;    /* shell lines before the main command; NULL = none */
        char **post_commands;   /* after it; never change the attempt's exit status */
        /* Keys the score switched off ("exclusive: false"): not options
         * themselves, they only keep score_slurm_merge() from taking the
         * key from the defaults; NULL = none. */
        char **sbatch_options_off;
} ScoreSlurm;

#define SLURM_COUNT_MAX 100000U         /* cpus_per_task, nodes, ntasks: 1..this */
#define SLURM_OPTION_KEY_MAX 64U
#define SLURM_VALUE_MAX 1024U           /* an sbatch option value, partition, mem, time */
#define SLURM_OPTIONS_MAX 64U           /* sbatch options */
#define SLURM_COMMANDS_MAX 64U          /* pre_commands, post_commands: each list */
#define SLURM_COMMAND_MAX 4096U         /* bytes of one command */

/* The checks every Slurm setting passes, from a score or the conductor's
 * configuration: */
/* minutes, MM:SS, H:MM:SS, D-H, D-H:MM or D-H:MM:SS */
bool slurm_time_valid(const char *s);
/* digits with an optional K, M, G or T (either case) */
bool slurm_mem_valid(const char *s);
/* [A-Za-z0-9_.,-]+ */
bool slurm_partition_valid(const char *s);
/* [A-Za-z0-9][A-Za-z0-9_-]*, at most SLURM_OPTION_KEY_MAX characters; says
 * nothing about dedicated keys */
bool slurm_option_key_valid(const char *s);
/* fits on an "#SBATCH --key=value" line: non-empty, no whitespace, quotes,
 * backslashes or control characters */
bool slurm_value_valid(const char *s);
/* one pre or post command: non-empty, at most SLURM_COMMAND_MAX bytes */
bool slurm_command_valid(const char *s);

/* A key refused in sbatch options and what to use instead. */
typedef struct SlurmDedicatedOption {
        const char *option;             /* long name: "cpus-per-task" */
        const char *short_option;       /* "c", or NULL */
        const char *score_field;        /* runner: field that sets it ("cpus_per_task"), NULL = the runner itself */
        const char *config_key;         /* [Slurm] key ("CPUsPerTask"), NULL = the runner itself */
} SlurmDedicatedOption;

/* The dedicated option key stands for, NULL if none: its long or short
 * name, with '_' for '-' too ("cpus_per_task"), or an abbreviation of the
 * long name that sbatch would take for it ("part"). */
const SlurmDedicatedOption *slurm_option_dedicated_find(const char *key);

void score_slurm_done(ScoreSlurm *s);
/* dst's unset fields from defaults (sbatch options: key by key, the
 * command lists as a whole); -ENOMEM */
int score_slurm_merge(ScoreSlurm *dst, const ScoreSlurm *defaults);
int score_slurm_copy(const ScoreSlurm *src, ScoreSlurm *ret);
/* Keys a Slurm runner sets itself or through a dedicated field, long and
 * short spellings; refused in sbatch_options. */
bool score_slurm_option_dedicated(const char *key);

typedef struct ScoreRunner {
        ScoreRunnerType type;
        ScoreSlurm slurm;       /* type == SCORE_RUNNER_SLURM only */
} ScoreRunner;

/* Diagnostics: every error and warning the parser reports carries a stable
 * code (documented in marianne.score(5)) so scripts can match on it. */
typedef enum ScoreCode {
        SCORE_E_YAML,                   /* E001 yaml-syntax: not well-formed YAML */
        SCORE_E_LIMIT,                  /* E002 over-limit: size, sheets, nesting, aliases */
        SCORE_E_MISSING_KEY,            /* E003 missing-key */
        SCORE_E_WRONG_TYPE,             /* E004 wrong-type */
        SCORE_E_UNKNOWN_KEY,            /* E005 unknown-key */
        SCORE_E_BAD_VALUE,              /* E006 bad-value */
        SCORE_E_DEPENDENCY,             /* E007 bad-dependency */
        SCORE_E_TEMPLATE,               /* E008 template-error */
        SCORE_E_INSTRUMENT,             /* E009 unknown-instrument */
        SCORE_E_FILE,                   /* E010 unreadable-file */
        SCORE_W_UNSUPPORTED,            /* W001 not-supported: accepted, has no effect here */
        SCORE_W_INSTRUMENT,             /* W002 instrument-unavailable: a fallback or executable is missing */
        SCORE_W_DEFAULT,                /* W003 different-default: behaves unlike the original when omitted */
        _SCORE_CODE_MAX,
} ScoreCode;

const char *score_code_to_string(ScoreCode c);          /* "E005" */
const char *score_code_to_name(ScoreCode c);            /* "unknown-key" */
static inline bool score_code_is_error(ScoreCode c) {
        return c < SCORE_W_UNSUPPORTED;
}

typedef struct ScoreDiagnostic {
        ScoreCode code;
        char *file;             /* the score's source */
        unsigned line, column;  /* 1-based; 0 when not tied to a place */
        char *key;              /* "validations[2].path", or NULL */
        char *message;          /* what is wrong, without place or key */
} ScoreDiagnostic;

void score_diagnostic_done(ScoreDiagnostic *d);
/* "FILE:LINE:COLUMN: key 'KEY': MESSAGE [CODE]" */
char *score_diagnostic_format(const ScoreDiagnostic *d);

/* An instrument_config block (score level, instruments.X.config,
 * movement or per-sheet).  Unset fields inherit from the level below. */
typedef struct ScoreInstrumentConfig {
        char *model;
        unsigned timeout_seconds;       /* 0 = unset */
        int skip_permissions;           /* -1 unset, 0, 1 */
        int disable_mcp;                /* -1 unset, 0, 1 */
        char **allowed_tools;
        char **extra_flags;
        char *system_prompt;
} ScoreInstrumentConfig;

#define SCORE_INSTRUMENT_CONFIG_INIT { .skip_permissions = -1, .disable_mcp = -1 }

/* instruments: alias → {profile, config} */
typedef struct ScoreInstrumentAlias {
        char *name;
        char *profile;
        ScoreInstrumentConfig config;
} ScoreInstrumentAlias;

typedef struct ScoreMovement {
        char *name;             /* NULL when not declared */
        char *instrument;       /* NULL: inherit */
        ScoreInstrumentConfig config;
        unsigned voices;        /* 0 = not given (sheet.fan_out decides) */
} ScoreMovement;

typedef struct ScoreCrossSheet {
        bool enabled;                   /* a cross_sheet block was given */
        bool auto_capture_stdout;
        unsigned max_output_chars;      /* default 2000 */
        unsigned lookback_sheets;       /* 0 = all earlier sheets */
        char **capture_files;           /* Jinja templates of paths */
} ScoreCrossSheet;

typedef enum ScoreHookType {
        SCORE_HOOK_RUN_COMMAND,
        SCORE_HOOK_RUN_SCRIPT,
        SCORE_HOOK_RUN_JOB,
        _SCORE_HOOK_TYPE_MAX,
        _SCORE_HOOK_TYPE_INVALID = -EINVAL,
} ScoreHookType;

const char *score_hook_type_to_string(ScoreHookType t);
ScoreHookType score_hook_type_from_string(const char *s);

typedef struct ScoreHook {
        ScoreHookType type;
        char *command;          /* run_command: bash -c text; run_script: script path (absolute) */
        char **args;            /* run_script arguments */
        char *job_path;         /* run_job: absolute score path */
        char *working_directory;/* absolute; default the workspace */
        char *description;
        unsigned timeout_seconds;       /* default 300 */
        bool abort_on_failure;          /* on_failure: abort stops the remaining hooks */
} ScoreHook;

/* concert: how run_job hooks chain scores. */
typedef struct ScoreConcert {
        unsigned max_chain_depth;               /* default 5 */
        double cooldown_between_jobs_seconds;   /* default 0: pause before chaining */
} ScoreConcert;

typedef struct ScoreRateLimit {
        double wait_seconds;            /* default 3600, when the output names no reset time */
        unsigned max_waits;             /* default 24; then the sheet fails */
} ScoreRateLimit;

typedef struct ScoreCompletion {
        unsigned max_attempts;          /* retry.max_completion_attempts, default 3; 0 = off */
        double threshold_percent;       /* retry.completion_threshold_percent, default 50 */
        double delay_seconds;           /* retry.completion_delay_seconds, default 5 */
} ScoreCompletion;

typedef struct Score {
        char *source;           /* file path, or a label such as "<inline>", for messages */
        char *base_dir;         /* absolute: relative paths in the score resolve against it */
        char *name;
        char *description;
        char *workspace;        /* absolute, normalized; default base_dir/workspace */
        char *instrument;       /* "cli" by default */
        bool instrument_given;  /* the score named one (else the cli default applies) */
        unsigned timeout_seconds;       /* instrument_config.timeout_seconds; default 1800 */
        ScoreInstrumentConfig instrument_config;
        char **instrument_fallbacks;
        ScoreInstrumentAlias *aliases;
        size_t n_aliases;
        ScoreMovement *movements;       /* [stage-1], n = total_stages */
        /* Per-sheet overrides, [num-1] with n_sheets entries, NULL entries = unset;
         * the arrays themselves are NULL when the score sets none. */
        char **sheet_instrument;                /* per_sheet_instruments / instrument_map */
        ScoreInstrumentConfig *sheet_config;    /* per_sheet_instrument_config */
        char ***sheet_fallbacks;                /* per_sheet_fallbacks */
        ScoreCrossSheet cross_sheet;
        ScoreHook *on_success;
        size_t n_on_success;
        ScoreConcert concert;
        ScoreRateLimit rate_limit;
        ScoreCompletion completion;

        unsigned sheet_size;
        unsigned total_items;
        unsigned start_item;    /* default 1 */
        unsigned total_stages;  /* ceil((total_items - start_item + 1) / size) */
        unsigned *fan_out;      /* [stage-1] → instance count, 1 when not fanned; n = total_stages */

        char *prompt_template;  /* template text (template_file already read); may be NULL */
        char *prompt_template_name;     /* for messages: the template_file path, or NULL = "prompt.template" */
        Value *variables;       /* VALUE_MAP, never NULL */

        ScoreValidation *validations;
        size_t n_validations;

        ScoreRetry retry;
        unsigned max_concurrent;        /* parallel.max_concurrent; default 1 */
        double pause_between_sheets_seconds; /* default 2 */
        ScoreResources resources;
        ScoreRunner runner;

        Sheet *sheets;          /* n_sheets expanded sheets, sheets[i].num == i + 1 */
        size_t n_sheets;

        char **warnings;        /* "file:line:column: key 'x' is not supported yet, ignored [W001]" */
        ScoreDiagnostic *diagnostics;   /* the same warnings, structured */
        size_t n_diagnostics;

        size_t max_template_output;     /* from the limits the score was parsed with */
} Score;

void score_free(Score *s);
DEFINE_CLEANUP_FUNC(Score *, score_free);
#define _cleanup_score_free_ _cleanup_(score_freep)

/* Parse a score.  Errors return negative errno and a message of the form
 * "FILE:LINE:COLUMN: key 'KEY': what is wrong" in *ret_error:
 *   -EINVAL    invalid content (syntax, type, unknown key, bad dependency)
 *   -EFBIG     score larger than limits->max_score_bytes
 *   -E2BIG     more sheets than limits->max_sheets, nesting or aliases over limit
 *   -ENOENT etc. from reading the file or template_file
 * base_dir: directory that relative workspace/template_file paths resolve
 * against; for score_parse_file it is the file's directory. */
int score_parse_file(const char *path, const ScoreLimits *limits, Score **ret, char **ret_error);
int score_parse_string(const char *yaml, size_t size, const char *source, const char *base_dir,
                       const ScoreLimits *limits, Score **ret, char **ret_error);
/* The same, with the error as a structured diagnostic (ret_error may be
 * NULL; on success it is left zeroed). */
int score_parse_file_full(const char *path, const ScoreLimits *limits, Score **ret, ScoreDiagnostic *ret_error);
int score_parse_string_full(const char *yaml, size_t size, const char *source, const char *base_dir,
                            const ScoreLimits *limits, Score **ret, ScoreDiagnostic *ret_error);

/* Sheet arithmetic (exposed for tests): number of stages for the given
 * sheet settings, and the item range of stage n. */
unsigned score_stage_count(unsigned size, unsigned total_items, unsigned start_item);
void score_stage_items(unsigned size, unsigned total_items, unsigned start_item, unsigned stage,
                       unsigned *ret_start, unsigned *ret_end);

const Sheet *score_get_sheet(const Score *s, unsigned num);

/* The template context of one sheet: score variables overlaid with the
 * built-ins (sheet_num, total_sheets, workspace, instrument_name,
 * stage/movement, instance/voice, fan_count/voice_count,
 * total_stages/total_movements, start_item, end_item), built-ins winning. */
int score_sheet_context(const Score *s, unsigned num, Value **ret);

/* Render the prompt of one sheet (empty template renders as "").
 * extra: more built-ins (previous_outputs, previous_files) laid over the
 * sheet context, or NULL. */
int score_render_prompt(const Score *s, unsigned num, char **ret, char **ret_error);
int score_render_prompt_with(const Score *s, unsigned num, const Value *extra, char **ret, char **ret_error);

/* The instrument chain of one sheet, in the order it is tried: the
 * primary, then its fallbacks.  Precedence for the primary, most specific
 * first: sheet.per_sheet_instruments, sheet.instrument_map, the
 * movement's instrument, the score's instrument, "cli".  Names are
 * resolved through the instruments: aliases; config merges the levels,
 * the more specific winning field by field. */
typedef struct ScoreInstrumentChoice {
        char *name;             /* as written in the score (alias or profile) */
        char *profile;          /* the profile it resolves to */
        ScoreInstrumentConfig config;
} ScoreInstrumentChoice;

int score_sheet_instruments(const Score *s, unsigned num, ScoreInstrumentChoice **ret, size_t *ret_n);
void score_instrument_choices_free(ScoreInstrumentChoice *c, size_t n);
void score_instrument_config_done(ScoreInstrumentConfig *c);
int score_instrument_config_merge(ScoreInstrumentConfig *into, const ScoreInstrumentConfig *over);

/* Internal to the score module (score.c ↔ score-parse.c), exposed for tests.
 * Stage-level dependencies: deps[stage - 1] lists the n_deps[stage - 1]
 * stage numbers that stage waits for; deps == NULL means the default
 * linear chain. */

/* Returns 1 and "1 -> 3 -> 2 -> 1" in *ret_cycle when the stage graph has a
 * cycle, 0 when it has none. */
int score_find_stage_cycle(unsigned n_stages, unsigned *const *deps, const size_t *n_deps, char **ret_cycle);

/* Expand s->total_stages stages with s->fan_out into s->sheets.  -E2BIG when
 * that makes more than max_sheets sheets, or more than
 * max_sheets * SCORE_DEPS_PER_SHEET_MAX dependency edges. */
#define SCORE_DEPS_PER_SHEET_MAX 100U
int score_expand_sheets(Score *s, unsigned *const *deps, const size_t *n_deps, unsigned max_sheets);

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
} ScoreValidation;

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

typedef struct Score {
        char *source;           /* file path, or a label such as "<inline>", for messages */
        char *base_dir;         /* absolute: relative paths in the score resolve against it */
        char *name;
        char *description;
        char *workspace;        /* absolute, normalized; default base_dir/workspace */
        char *instrument;       /* "cli" by default */
        unsigned timeout_seconds;       /* instrument_config.timeout_seconds; default 1800 */

        unsigned sheet_size;
        unsigned total_items;
        unsigned start_item;    /* default 1 */
        unsigned total_stages;  /* ceil((total_items - start_item + 1) / size) */
        unsigned *fan_out;      /* [stage-1] → instance count, 1 when not fanned; n = total_stages */

        char *prompt_template;  /* template text (template_file already read); may be NULL */
        Value *variables;       /* VALUE_MAP, never NULL */

        ScoreValidation *validations;
        size_t n_validations;

        ScoreRetry retry;
        unsigned max_concurrent;        /* parallel.max_concurrent; default 1 */
        double pause_between_sheets_seconds; /* default 2 */
        ScoreResources resources;

        Sheet *sheets;          /* n_sheets expanded sheets, sheets[i].num == i + 1 */
        size_t n_sheets;

        char **warnings;        /* "file:line:column: key 'x' is not supported yet, ignored" */

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

/* Render the prompt of one sheet (empty template renders as ""). */
int score_render_prompt(const Score *s, unsigned num, char **ret, char **ret_error);

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

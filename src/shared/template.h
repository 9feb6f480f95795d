/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The prompt template engine: Jinja2 as the original Marianne configures
 * it, jinja2.Environment(undefined=StrictUndefined,
 * keep_trailing_newline=True, autoescape=False), rendering byte for byte
 * what Jinja 3.1 renders (tests/template/ holds the proof).  The engine
 * lives in jinja-*.c; this is its interface, plus the str.format-style
 * placeholders and conditions of validations (placeholder.c). */

#include "value.h"

/* Default bound on rendered output; callers may pass their own. */
#define TEMPLATE_OUTPUT_MAX (4U * 1024U * 1024U)
/* Default bound on macro call nesting and on expression/block nesting. */
#define TEMPLATE_DEPTH_MAX 64U
/* Default bound on loop iterations (and comparable work: elements built by
 * range(), list repetition, filters) across one render. */
#define TEMPLATE_LOOP_ITERATIONS_MAX 1000000U

typedef struct TemplateLimits {
        size_t max_output;              /* bytes; 0 = TEMPLATE_OUTPUT_MAX */
        unsigned max_depth;             /* 0 = TEMPLATE_DEPTH_MAX */
        uint64_t max_loop_iterations;   /* 0 = TEMPLATE_LOOP_ITERATIONS_MAX */
} TemplateLimits;

/* Render tmpl against context (a VALUE_MAP; NULL = empty).  name is what
 * messages call the template ("prompt.template"; NULL = "<template>").
 * limits NULL means the defaults.  On error returns negative errno and, if
 * ret_error is non-NULL, a message "name:line: what, in {{ construct }}":
 *   -EINVAL   syntax error, unknown filter or test, type error
 *   -ENOENT   undefined variable, attribute or item
 *   -ERANGE   integer overflow
 *   -EDOM     division by zero, bad argument value
 *   -ELOOP    nesting or loop iterations beyond the limits
 *   -E2BIG    output larger than max_output
 *   -ENOMEM */
int template_render_full(const char *name, const char *tmpl, const Value *context,
                         const TemplateLimits *limits, char **ret, char **ret_error);

/* template_render_full() with name NULL and only max_output limited. */
int template_render(const char *tmpl, const Value *context, size_t max_output, char **ret, char **ret_error);

/* Parse only: syntax errors, unknown filters and tests, with the same
 * messages as rendering would give.  0 if tmpl would render (given a
 * context that defines what it uses). */
int template_check(const char *name, const char *tmpl, char **ret_error);

/* Python str.format-style placeholders as used by validation paths and
 * commands: "{workspace}/sheet{sheet_num}.md".  "{{" and "}}" are literal
 * braces.  Like the original Marianne, only placeholders that name a
 * context variable are replaced; every other brace is the command's own
 * text (shell "${today}", "{a,b}", inline Python in real scores), so a
 * misspelt placeholder stays visible in the command rather than failing.
 * With shell_quote, every substituted value is single-quoted for bash.
 * (Where the placeholder already sits inside "..." or '...' in the command,
 * the value is escaped for that context instead of wrapped in quotes, which
 * bash would keep as literal characters: "{workspace}/x" stays a working
 * path.) */
int template_format_placeholders(const char *s, const Value *context, bool shell_quote, char **ret, char **ret_error);

/* Validation conditions: clauses "var op int" joined by "and", op one of
 * == != < <= > >=.  Empty/NULL condition is true. -EINVAL on bad syntax,
 * -ENOENT on unknown variable. */
int template_eval_condition(const char *condition, const Value *context, bool *ret, char **ret_error);

/* Single-quote s for bash. */
char *shell_quote(const char *s);

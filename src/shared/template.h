/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The prompt template renderer.  Today: {{ expr }} substitution where expr
 * is a variable with optional .attribute / [key] access, {# comments #},
 * strict undefined, trailing newline kept.  The Jinja subset (if/for/set/
 * macro/filters) grows here in a later issue. */

#include "value.h"

/* Default bound on rendered output; callers may pass their own. */
#define TEMPLATE_OUTPUT_MAX (4U * 1024U * 1024U)

/* Render tmpl against context (a VALUE_MAP).  On error returns negative
 * errno and, if ret_error is non-NULL, a message naming the problem and
 * its line in the template:
 *   -ENOENT   undefined variable ("undefined variable 'foo' (line 3)")
 *   -EINVAL   syntax error
 *   -EOPNOTSUPP a construct not supported yet ("{% ... %}")
 *   -E2BIG    output larger than max_output */
int template_render(const char *tmpl, const Value *context, size_t max_output, char **ret, char **ret_error);

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

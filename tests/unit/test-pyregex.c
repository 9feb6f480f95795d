/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "macro.h"
#include "pyregex.h"

/* Every expected value below was checked against CPython 3.11's
 * re.search(pattern, subject, flags) when the table was written. */
typedef struct Row {
        const char *pattern;
        PyRegexFlags flags;
        const char *subject;
        size_t size;            /* subjects may hold NUL bytes */
        bool match;
} Row;

static const Row rows[] = {
        /* every pattern of the instrument profiles (shared/instruments), searched with IGNORECASE */
        { "rate.?limit", PYREGEX_IGNORECASE, "Rate limit exceeded", 19, true },
        { "rate.?limit", 0, "Rate limit exceeded", 19, false },
        { "rate.?limit", PYREGEX_IGNORECASE, "rate-limit", 10, true },
        { "rate.?limit", PYREGEX_IGNORECASE, "ratelimit", 9, true },
        { "rate.?limit", PYREGEX_IGNORECASE, "rate\nlimit", 10, false },
        { "rate.?limit", PYREGEX_IGNORECASE | PYREGEX_DOTALL, "rate\nlimit", 10, true },
        { "rate.?limit", PYREGEX_IGNORECASE, "rate  limit", 11, false },
        { "rate.?limit", PYREGEX_IGNORECASE, "rate\xe2\x80\x94limit", 12, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "HTTP Status: 429 Too Many", 25, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "error 429", 9, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "status429", 9, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "status_429", 10, false },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "statuses 429", 12, false },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "processed 4290 items", 20, false },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "code\n429", 8, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE | PYREGEX_MULTILINE, "code\n429", 8, true },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "code \xc3\xa9" "429", 10, false },
        { "(?:error|status|code)[^\\w]*429", PYREGEX_IGNORECASE, "code: \"429\"", 11, true },
        { "(?:error|status|code)[^\\w]*529", PYREGEX_IGNORECASE, "API Error (529): overloaded", 27, true },
        { "(?:error|status|code)[^\\w]*529", PYREGEX_IGNORECASE, "error 429", 9, false },
        { "You've hit your limit", PYREGEX_IGNORECASE, "Sorry, you've hit your limit.", 29, true },
        { "You've hit your limit", PYREGEX_IGNORECASE, "You have hit your limit", 23, false },
        { "API Error: Rate limit", PYREGEX_IGNORECASE, "API Error: Rate limit reached", 29, true },
        { "API Error: Rate limit", PYREGEX_IGNORECASE, "API Error - Rate limit", 22, false },
        { "resets.*\\(\\w+/\\w+\\)", PYREGEX_IGNORECASE, "Limit resets at 5pm (America/New_York)", 38, true },
        { "resets.*\\(\\w+/\\w+\\)", PYREGEX_IGNORECASE, "resets soon (UTC)", 17, false },
        { "resets.*\\(\\w+/\\w+\\)", PYREGEX_IGNORECASE, "resets\n(Europe/Paris)", 21, false },
        { "resets.*\\(\\w+/\\w+\\)", PYREGEX_IGNORECASE | PYREGEX_DOTALL, "resets\n(Europe/Paris)", 21, true },
        { "(?:server|api|service).*overloaded", PYREGEX_IGNORECASE, "API is overloaded", 17, true },
        { "(?:server|api|service).*overloaded", 0, "API is overloaded", 17, false },
        { "(?:server|api|service).*overloaded", PYREGEX_IGNORECASE, "server\noverloaded", 17, false },
        { "not authenticated", PYREGEX_IGNORECASE, "Error: Not Authenticated", 24, true },
        { "login required", PYREGEX_IGNORECASE, "login  required", 15, false },
        { "unauthorized", PYREGEX_IGNORECASE, "401 Unauthorized", 16, true },
        { "invalid.*api.*key", PYREGEX_IGNORECASE, "Invalid API key provided", 24, true },
        { "invalid.*api.*key", PYREGEX_IGNORECASE, "invalid\napi key", 15, false },
        { "overloaded", PYREGEX_IGNORECASE, "Overloaded", 10, true },
        { "503", PYREGEX_IGNORECASE, "HTTP 503", 8, true },
        { "503", PYREGEX_IGNORECASE, "HTTP 50 3", 9, false },
        { "capacity", PYREGEX_IGNORECASE, "at CAPACITY", 11, true },
        { "timed?.?out", PYREGEX_IGNORECASE, "request timed out", 17, true },
        { "timed?.?out", PYREGEX_IGNORECASE, "timeout", 7, true },
        { "timed?.?out", PYREGEX_IGNORECASE, "time-out", 8, true },
        { "timed?.?out", PYREGEX_IGNORECASE, "timedout", 8, true },
        { "timed?.?out", PYREGEX_IGNORECASE, "tim out", 7, false },
        { "timed?.?out", PYREGEX_IGNORECASE, "time\nout", 8, false },
        { "timeout", PYREGEX_IGNORECASE, "TIMEOUT", 7, true },
        { "Killed", PYREGEX_IGNORECASE, "Killed: 9", 9, true },
        { "Terminated", PYREGEX_IGNORECASE, "terminate", 9, false },
        { "authenticat", PYREGEX_IGNORECASE, "Authentication failed", 21, true },
        { "quota.?exceeded", PYREGEX_IGNORECASE, "Quota exceeded", 14, true },
        { "quota.?exceeded", PYREGEX_IGNORECASE, "quota_exceeded", 14, true },
        { "RESOURCE_EXHAUSTED", PYREGEX_IGNORECASE, "status: resource_exhausted", 26, true },
        { "Too Many Requests", PYREGEX_IGNORECASE, "429 Too Many Requests", 21, true },
        { "API key", PYREGEX_IGNORECASE, "missing api key", 15, true },
        { "PERMISSION_DENIED", PYREGEX_IGNORECASE, "PERMISSION DENIED", 17, false },
        { "PermissionDeniedError", PYREGEX_IGNORECASE, "google.PermissionDeniedError:", 29, true },
        { "UNAVAILABLE", PYREGEX_IGNORECASE, "503 UNAVAILABLE", 15, true },
        { "ServerError", PYREGEX_IGNORECASE, "ServerError", 11, true },
        { "deadline.?exceeded", PYREGEX_IGNORECASE, "Deadline exceeded", 17, true },
        { "DEADLINE_EXCEEDED", PYREGEX_IGNORECASE, "deadline-exceeded", 17, false },
        /* the content_regex patterns of the scores (shared/scores/marianne), no flags */
        { "(?s)^#+ ", 0, "# Title\nbody\n", 13, true },
        { "(?s)^#+ ", 0, "### Deep\n", 9, true },
        { "(?s)^#+ ", 0, "intro\n# Title\n", 14, false },
        { "(?s)^#+ ", 0, "#Title\n", 7, false },
        { "(?s)^#+ ", 0, "", 0, false },
        { "(?s)^#+ ", 0, " # Title", 8, false },
        { "(?m)^#+ ", 0, "intro\n# Title\n", 14, true },
        { "^#\\s+", 0, "# Title\n", 8, true },
        { "^#\\s+", 0, "#\tTitle", 7, true },
        { "^#\\s+", 0, "#\nTitle", 7, true },
        { "^#\\s+", 0, "#\x1cTitle", 7, true },
        { "^#\\s+", 0, "#Title", 6, false },
        { "^#\\s+", 0, "intro\n# Title\n", 14, false },
        { "^#\\s+", PYREGEX_MULTILINE, "intro\n# Title\n", 14, true },
        { "(?m)^#\\s+", 0, "intro\n#\n", 8, true },
        /* '.' '^' '$' under the four flag combinations */
        { "a.b", 0, "a\nb", 3, false },
        { "a.b", PYREGEX_DOTALL, "a\nb", 3, true },
        { "a.b", PYREGEX_MULTILINE, "a\nb", 3, false },
        { "a.b", PYREGEX_MULTILINE | PYREGEX_DOTALL, "a\nb", 3, true },
        { "a.b", 0, "a\x00" "b", 3, true },
        { "a.b", PYREGEX_DOTALL, "a\x00" "b", 3, true },
        { "a.b", PYREGEX_MULTILINE, "a\x00" "b", 3, true },
        { "a.b", PYREGEX_MULTILINE | PYREGEX_DOTALL, "a\x00" "b", 3, true },
        { "a.b", 0, "axb", 3, true },
        { "a.b", PYREGEX_MULTILINE | PYREGEX_DOTALL, "axb", 3, true },
        { "^b", 0, "a\nb", 3, false },
        { "^b", PYREGEX_DOTALL, "a\nb", 3, false },
        { "^b", PYREGEX_MULTILINE, "a\nb", 3, true },
        { "^b", PYREGEX_MULTILINE | PYREGEX_DOTALL, "a\nb", 3, true },
        { "a$", 0, "a\nb", 3, false },
        { "a$", PYREGEX_DOTALL, "a\nb", 3, false },
        { "a$", PYREGEX_MULTILINE, "a\nb", 3, true },
        { "a$", PYREGEX_MULTILINE | PYREGEX_DOTALL, "a\nb", 3, true },
        { "a$", 0, "a\n", 2, true },
        { "a$", PYREGEX_DOTALL, "a\n", 2, true },
        { "a$", PYREGEX_MULTILINE, "a\n", 2, true },
        { "a$", 0, "a\n\n", 3, false },
        { "a$", PYREGEX_MULTILINE, "a\n\n", 3, true },
        { "a$", 0, "a", 1, true },
        { "a$", 0, "a\x0d\n", 3, false },
        { "a\\Z", 0, "a\n", 2, false },
        { "a\\Z", PYREGEX_MULTILINE, "a\n", 2, false },
        { "a\\Z", 0, "ba", 2, true },
        { "\\Ab", PYREGEX_MULTILINE, "a\nb", 3, false },
        { "\\Ab", PYREGEX_MULTILINE, "b", 1, true },
        { "^$", 0, "", 0, true },
        { "^$", 0, "\n", 1, true },
        { "^$", 0, "a\n", 2, false },
        { "^$", PYREGEX_MULTILINE, "a\n", 2, true },
        { "^$", 0, "\n\n", 2, false },
        { "^$", PYREGEX_MULTILINE, "a\n\nb", 4, true },
        { "(?m)^b$", 0, "a\nb\nc", 5, true },
        { "^b$", 0, "a\nb\nc", 5, false },
        { "(?s)a.*z", 0, "a\n\x00\nz", 5, true },
        { "a.*z", 0, "a\nz", 3, false },
        { "(?ms)a.+z$", 0, "a\n\nz\n", 5, true },
        { "(?sm)^a.b$", 0, "x\na\nb", 5, true },
        { "(x$|y)", 0, "x\n", 2, true },
        { "(?:x|y$)", 0, "ay\n", 3, true },
        { "x$|q", 0, "x\n", 2, true },
        { "x(?:$)", 0, "x\n", 2, true },
        { "x$(?#end)", 0, "x\n", 2, true },
        { "x$|(?#(c)y", 0, "x\n", 2, true },
        { "x$|(?#(c)y", 0, "y", 1, true },
        { "(?x)x$ # (\n", 0, "x\n", 2, true },
        { "(?x)x$ # (\n|q", 0, "q", 1, true },
        { "[^a]", 0, "\n", 1, true },
        { "[^a]", PYREGEX_MULTILINE, "\n", 1, true },
        { "x[^a]y", PYREGEX_MULTILINE, "x\ny", 3, true },
        { "x[^a]y", PYREGEX_MULTILINE | PYREGEX_DOTALL, "x\ny", 3, true },
        { "x[^\\n]", PYREGEX_MULTILINE, "x\n", 2, false },
        { "x[^\\n]", 0, "x\n", 2, false },
        { "x[^\\s]", PYREGEX_MULTILINE, "x\n", 2, false },
        { "x[^\\s]", 0, "x\ny", 3, false },
        { "x\\W", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x\\W", 0, "x\n", 2, true },
        { "x\\D", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x\\S", PYREGEX_MULTILINE, "x\n", 2, false },
        { "x\\s", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x\\n", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x[\\n]", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x[\\W]", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x[\\Wa]", PYREGEX_MULTILINE, "x\n", 2, true },
        { "x[\\Wa]", 0, "xa", 2, true },
        { "x[\\Wa]", 0, "xb", 2, false },
        { "x[\\Wa]", 0, "x-", 2, true },
        { "x[\\D\\s]", 0, "x5", 2, false },
        { "x[\\D\\s]", 0, "x ", 2, true },
        { "x[\\S]", PYREGEX_MULTILINE, "x\n", 2, false },
        { "x[^\\W]", 0, "x_", 2, true },
        { "x[^\\W]", 0, "x-", 2, false },
        { "x[^\\D]", 0, "x7", 2, true },
        { "x[^\\S]", 0, "x\t", 2, true },
        { "x[^\\S]", PYREGEX_MULTILINE, "x\n", 2, true },
        /* sets with escapes */
        { "[\\]]", 0, "]", 1, true },
        { "[]]", 0, "]", 1, true },
        { "[]a]", 0, "a", 1, true },
        { "[^]]", 0, "]", 1, false },
        { "[^\\]]", 0, "x", 1, true },
        { "[\\-a]", 0, "-", 1, true },
        { "[a\\-z]", 0, "b", 1, false },
        { "[a\\-z]", 0, "-", 1, true },
        { "[a-]", 0, "-", 1, true },
        { "[\\^a]", 0, "^", 1, true },
        { "[\\^]", 0, "^", 1, true },
        { "[\\^]", 0, "a", 1, false },
        { "[^^]", 0, "^", 1, false },
        { "[^^]", 0, "a", 1, true },
        { "[-^]", 0, "^", 1, true },
        { "[\\^-]", 0, "-", 1, true },
        { "[^-]", 0, "-", 1, false },
        { "[\\\\]", 0, "\\", 1, true },
        { "[\\\\]", 0, "a", 1, false },
        { "[[]", 0, "[", 1, true },
        { "[[^]", 0, "^", 1, true },
        { "[[:alpha:]]", 0, "a]", 2, true },
        { "[[:alpha:]]", 0, "a", 1, false },
        { "[[:alpha:]]", 0, ":]", 2, true },
        { "[\\w.-]+@", 0, "a.b-c@x", 7, true },
        { "^[\\w.-]+@", 0, "a b@x", 5, false },
        { "[\\s\\d]", 0, "5", 1, true },
        { "[\\s\\d]", 0, " ", 1, true },
        { "[\\s\\d]", 0, "x", 1, false },
        { "[a-c-e]", 0, "-", 1, true },
        { "[a-c-e]", 0, "d", 1, false },
        { "[\\x41-\\x43]", 0, "B", 1, true },
        { "[\\x41-\\x43]", 0, "D", 1, false },
        { "[\\t]", 0, "\t", 1, true },
        { "[\\b]", 0, "\x08", 1, true },
        { "[\\b]", 0, "b", 1, false },
        { "[\\101]", 0, "A", 1, true },
        { "[Z-a]", 0, "\\", 1, true },
        { "[Z-a]", 0, "_", 1, true },
        { "[Z-a]", 0, "b", 1, false },
        { "[Z-a]", 0, "[", 1, true },
        { "[Z-a]", 0, "]", 1, true },
        { "[!-/]", 0, "-", 1, true },
        { "[!-/]", 0, "0", 1, false },
        { "[.]", 0, "x", 1, false },
        { "[*+?{}()|$]+", 0, "$|", 2, true },
        { "[#\\x23]", PYREGEX_VERBOSE, "#", 1, true },
        { "[ ]", PYREGEX_VERBOSE, " ", 1, true },
        { "x[\xc3\xa9]y", 0, "x\xc3\xa9y", 4, true },
        { "x[^\xc3\xa9]y", 0, "x\xc3\xa9y", 4, false },
        { "x[\xc3\xa0-\xc3\xbf]y", 0, "x\xc3\xa9y", 4, true },
        { "x[a\xc4\x81-\xc4\x83\xc3\xa9]y", 0, "x\xc4\x82y", 4, true },
        { "x[\xc4\x81-\xc4\x83]y", 0, "x\xc4\x84y", 4, false },
        { "x[^\xc4\x81-\xc4\x83]y", 0, "x\xc4\x84y", 4, true },
        { "x.y", 0, "x\xc3\xa9y", 4, true },
        { "^\xc3\xa9+$", 0, "\xc3\xa9\xc3\xa9", 4, true },
        { "^\xc3\xa9+$", 0, "\xc3\xa9\xc3\xa8", 4, false },
        { "(?i)\xc3\xa9", 0, "\xc3\x89", 2, true },
        { "caf\xc3\xa9\\b", 0, "caf\xc3\xa9s", 6, false },
        { "\\w+", 0, "\xc3\xa9", 2, true },
        /* escapes outside sets */
        { "\\.", 0, "a", 1, false },
        { "\\.", 0, ".", 1, true },
        { "\\(\\*\\)", 0, "(*)", 3, true },
        { "\\/", 0, "a/b", 3, true },
        { "\\t", 0, "a\tb", 3, true },
        { "\\x41", 0, "A", 1, true },
        { "\\101", 0, "A", 1, true },
        { "\\u00e9", 0, "\xc3\xa9", 2, true },
        { "\\<", 0, "<", 1, true },
        { "\\<a", 0, "a", 1, false },
        { "\\>", 0, ">", 1, true },
        { "\\`", 0, "`", 1, true },
        { "\\'", 0, "'", 1, true },
        { "\\{", 0, "{", 1, true },
        { "\\}", 0, "}", 1, true },
        { "\\]", 0, "]", 1, true },
        { "]", 0, "]", 1, true },
        { "}", 0, "}", 1, true },
        { "\\bfoo\\b", 0, "a foo b", 7, true },
        { "\\bfoo\\b", 0, "afoo", 4, false },
        { "\\Bfoo", 0, "afoo", 4, true },
        { "\\Bfoo", 0, "a foo", 5, false },
        { "\\d+", 0, "abc 12", 6, true },
        { "\\d", 0, "abc", 3, false },
        { "\\D", 0, "123", 3, false },
        { "a\\sb", 0, "a\x1f" "b", 3, true },
        { "a\\Sb", 0, "a\x1f" "b", 3, false },
        { "\\w\\W\\w", 0, "a-b", 3, true },
        { "\\w\\W\\w", 0, "a_b", 3, false },
        { "a\\a", 0, "a\x07", 2, true },
        { "a\\f\\v\\r", 0, "a\x0c\x0b\x0d", 4, true },
        /* braces and quantifiers */
        { "a{", 0, "a{", 2, true },
        { "x{1,2", 0, "x{1,2", 5, true },
        { "a{}", 0, "a{}", 3, true },
        { "a{x}", 0, "a{x}", 4, true },
        { "a{ 1}", 0, "a{ 1}", 5, true },
        { "^a{,2}b", 0, "aab", 3, true },
        { "^a{,2}b", 0, "aaab", 4, false },
        { "^a{2}$", 0, "aa", 2, true },
        { "^a{2}$", 0, "aaa", 3, false },
        { "^a{2,}$", 0, "aaaa", 4, true },
        { "^a{2,}$", 0, "a", 1, false },
        { "^a{,}$", 0, "", 0, true },
        { "^(ab){1,2}$", 0, "abab", 4, true },
        { "a{0}b", 0, "b", 1, true },
        { "{", 0, "{", 1, true },
        { "x{2}{", 0, "xx{", 3, true },
        { "a+?b", 0, "aab", 3, true },
        { "<.*?>", 0, "<a>", 3, true },
        { "a??b", 0, "b", 1, true },
        { "^a{1,2}?$", 0, "aa", 2, true },
        { "a*?$", 0, "", 0, true },
        /* groups, alternation, comments, backreferences, verbose */
        { "(?P<x>ab)+c", 0, "ababc", 5, true },
        { "(?:x)(a)\\1", 0, "xaa", 3, true },
        { "(?:x)(a)\\1", 0, "xax", 3, false },
        { "(?s).(a)\\1", 0, "\naa", 3, true },
        { "(?m)[^b](a)\\1", 0, "\naa", 3, true },
        { "(a)(b)?\\2", 0, "ab", 2, false },
        { "(a)(b)(c)(d)(e)(f)(g)(h)(i)\\9", 0, "abcdefghii", 10, true },
        { "(?#hi)a", 0, "a", 1, true },
        { "a(?#)b", 0, "ab", 2, true },
        { "a|", 0, "x", 1, true },
        { "(|a)b", 0, "b", 1, true },
        { "()", 0, "", 0, true },
        { "", 0, "", 0, true },
        { "", 0, "abc", 3, true },
        { "(?x) a b # comment\n c", 0, "abc", 3, true },
        { "(?x)a\\ b", 0, "a b", 3, true },
        { "(?x)a b", 0, "a b", 3, false },
        { "(?x)a\\#b", 0, "a#b", 3, true },
        { "(?x) x $ # end", 0, "x\n", 2, true },
        { "(?x) (?i) a", 0, "A", 1, true },
        { "(?i)(?s)a.b", 0, "A\nB", 3, true },
        { "(?is)a.b", 0, "A\nB", 3, true },
        { "(?a)\\w", 0, "x", 1, true },
        { "(?u)\\w", 0, "x", 1, true },
        { "\\b", 0, "", 0, false },
        { "\\bx", 0, "x", 1, true },
        { "x{*y", 0, "x{{y", 4, true },
        { "\xc3\xa9+(a)\\1", 0, "\xc3\xa9\xc3\xa9" "aa", 6, true },
        { "\xc3\xa9+(a)\\1", 0, "\xc3\xa9" "ab", 4, false },
        { "(?i)[^\\W]", 0, "-", 1, false },
        { "(?i)[^\\W]", 0, "Q", 1, true },
        { "(?m)x\\W+$", 0, "x\n\n", 3, true },
        { "(?i)[a-c]+$", 0, "ABC", 3, true },
        { "\\`", 0, "`", 1, true },
        { "[^a]^x", 0, "\nx", 2, false },
        { "\n^x", 0, "\nx", 2, false },
        { "\n^x", PYREGEX_MULTILINE, "\nx", 2, true },
        { "(\\ba){2}", 0, "aa", 2, false },
        { "(\\ba){2}", 0, " a a", 4, false },
        { "(\\ba ?){2}", 0, " a a", 4, true },
        { "(a\\b){2}", 0, "aa", 2, false },
        { "(-\\b){2}", 0, "--a", 3, false },
        { "(\\W\\b){2}\xc3\xa9", 0, "-\x00\xc3\xa9x", 5, false },
        { "(\\W\\b){2,}", 0, "-.ab", 4, false },
        { "(\\W\\b){1,2}a", 0, "-.ab", 4, true },
        { "\\A(\\b[a-z])+\\Z", 0, "ab", 2, false },
        { "\\A(\\b[a-z] ?)+\\Z", 0, "a b", 3, true },
        { "(\\Aa){2}", 0, "aa", 2, false },
        { "(a\\Z){2}", 0, "aa", 2, false },
        { "(?m)(^a\\n?){2}", 0, "aa\n", 3, false },
        { "(?m)(^a\\n?){2}", 0, "a\na", 3, true },
        { "(?:x|\\ba){2}", 0, "aa", 2, false },
        { "(?:x|\\ba){2}", 0, "xa", 2, false },
        { "(?:x|\\ba){2}", 0, " ax", 3, true },
        { "(\\b\\w+\\b\\s*){3}", 0, "one two three", 13, true },
        { "(\\b\\w+\\b\\s*){3}", 0, "one two", 7, false },
        { "(x\\b)+(y)\\2", 0, "x yy", 4, false },
        { "(x\\b)+ (y)\\2", 0, "x yy", 4, true },
        { "((\\ba)+b){2}", 0, "abab", 4, false },
        { "((\\ba)+b ?){2}", 0, "ab ab", 5, true },
        { "((\\ba)+b){2}", 0, "abaab", 5, false },
        { "(?i)[^a]", 0, "A", 1, false },
};

/* Python compiles these, but POSIX has nothing that matches the same
 * (the last ones: more than \1-\9 after translation, beyond glibc's
 * repetition limit, a backreference glibc refuses across alternatives,
 * a non-ASCII range too wide to list) */
static const struct {
        const char *pattern;
        PyRegexFlags flags;
} refused[] = {
        { "a(?=b)", 0 },
        { "a(?!b)", 0 },
        { "(?<=a)b", 0 },
        { "(?<!a)b", 0 },
        { "(?P<n>a)(?P=n)", 0 },
        { "(a)?(?(1)b|c)", 0 },
        { "(?>a)", 0 },
        { "a*+", 0 },
        { "a++", 0 },
        { "a?+", 0 },
        { "a{1,2}+", 0 },
        { "(?i:a)", 0 },
        { "(?-i:a)", 0 },
        { "x$\n", 0 },
        { "(?s)x$.", 0 },
        { "(x$)?", 0 },
        { "(x$|y)z", 0 },
        { "x$$", 0 },
        { "[^\\W\\d]", 0 },
        { "\\N{DIGIT ONE}", 0 },
        { "\\x00", 0 },
        { "\\0", 0 },
        { "[\\x00-\\x1f]", 0 },
        { "(?:a)(?:b)(?:c)(?:d)(?:e)(?:f)(?:g)(?:h)(?:i)(j)\\1", 0 },
        { "a{40000}", 0 },
        { "(a)|b\\1", 0 },
        { "(\\ba){2}\\1", 0 },
        { "x$\\n?", 0 },
        { "((a)\\2\\b){2}", 0 },
        { "[\xc4\x80-\xef\xbf\xbf]", 0 },
};

/* Python refuses these too (re.error) */
static const char * const python_errors[] = {
        "(",
        ")",
        "a)",
        "a**",
        "*a",
        "^*",
        "$?",
        "\\b+",
        "\\q",
        "\\",
        "[a",
        "[",
        "[]",
        "[z-a]",
        "[a-\\d]",
        "a{3,1}",
        "\\1",
        "(a\\1)",
        "(?Lx)",
        "(?au)x",
        "(?P<1a>x)",
        "(?P<a>x)(?P<a>y)",
        "(?P<>x)",
        "(?P",
        "a(?i)b",
        "a|(?i)b",
        "((?i)a)",
        "(?<x>a)",
        "\\x4",
        "\\u12",
        "(?#x",
        "a{,3}{2}",
        "a?*",
        "(?",
        "(?z)",
        "\\8",
};

static bool has_high_bytes(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] >= 0x80)
                        return true;
        return false;
}

/* Without C.UTF-8 pyregex matches bytes, and rows with non-ASCII text
 * would not mean what Python means. */
static bool utf8_locale_available(void) {
        locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);

        if (!l)
                return false;
        freelocale(l);
        return true;
}

/* Returns whether the row behaved as Python does, printing why not. */
static bool check_row(size_t i, bool utf8) {
        const Row *row = rows + i;
        _cleanup_free_ char *error = NULL, *ere = NULL;
        PyRegexFlags flags = row->flags;
        regex_t re;
        int r;

        if (!utf8 && (has_high_bytes(row->pattern, strlen(row->pattern)) ||
                      has_high_bytes(row->subject, row->size)))
                return true;

        r = pyregex_compile(row->pattern, row->flags, &re, &error);
        if (r < 0) {
                print_error("row %zu: '%s' does not compile: %s (%s)\n", i, row->pattern, strerror(-r), strna(error));
                return false;
        }
        r = pyregex_search(&re, row->subject, row->size);
        regfree(&re);
        if (r == (int) row->match)
                return true;

        assert_int_equal(pyregex_translate(row->pattern, &flags, &ere, NULL), 0);
        print_error("row %zu: '%s' (flags %d) on \"%.*s\": got %d, Python says %d; translated to '%s'\n",
                    i, row->pattern, (int) row->flags, (int) row->size, row->subject, r, (int) row->match, ere);
        return false;
}

static void check_table(void) {
        bool utf8 = utf8_locale_available();
        unsigned bad = 0;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                bad += !check_row(i, utf8);
        assert_int_equal(bad, 0);
}

static void test_table(void **state) {
        (void) state;
        check_table();
}

/* The caller's locale must not change what matches: pyregex compiles and
 * matches under a locale of its own. */
static void test_table_in_other_locales(void **state) {
        (void) state;

        if (setlocale(LC_ALL, "C.UTF-8"))
                check_table();
        assert_non_null(setlocale(LC_ALL, "POSIX"));
        check_table();
        assert_non_null(setlocale(LC_ALL, "C"));
}

static void test_refused(void **state) {
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_free_ char *error = NULL;
                regex_t re;
                int r;

                r = pyregex_compile(refused[i].pattern, refused[i].flags, &re, &error);
                if (r >= 0)
                        regfree(&re);
                if (r != -EINVAL)
                        fail_msg("'%s' compiled (%d), but should be refused", refused[i].pattern, r);
                assert_non_null(error);
        }
}

static void test_python_errors(void **state) {
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(python_errors); i++) {
                _cleanup_free_ char *error = NULL, *ere = NULL;
                PyRegexFlags flags = 0;
                int r;

                r = pyregex_translate(python_errors[i], &flags, &ere, &error);
                if (r != -EINVAL)
                        fail_msg("'%s' translated (%d) to '%s', but Python refuses it", python_errors[i], r, strna(ere));
                assert_non_null(error);
                assert_non_null(strstr(error, " at offset "));
                assert_null(ere);
        }
}

static void expect_message(const char *pattern, const char *needle) {
        _cleanup_free_ char *error = NULL;
        regex_t re;
        int r;

        r = pyregex_compile(pattern, 0, &re, &error);
        if (r >= 0)
                regfree(&re);
        assert_int_equal(r, -EINVAL);
        assert_non_null(error);
        if (!strstr(error, needle))
                fail_msg("message for '%s' is '%s', lacks '%s'", pattern, error, needle);
}

static void test_messages(void **state) {
        (void) state;

        /* refusals name the construct and where it is */
        expect_message("a(?=b)", "lookahead assertion '(?=' is not supported at offset 1");
        expect_message("ab(?!c)", "negative lookahead assertion '(?!' is not supported at offset 2");
        expect_message("(?<=a)b", "lookbehind assertion '(?<=' is not supported at offset 0");
        expect_message("x(?<!a)b", "negative lookbehind assertion '(?<!' is not supported at offset 1");
        expect_message("(?P<n>a)(?P=n)", "named backreference '(?P=' is not supported at offset 8");
        expect_message("(a)?(?(1)b|c)", "conditional group '(?(' is not supported at offset 4");
        expect_message("(?>a)", "atomic group '(?>' is not supported at offset 0");
        expect_message("a*+", "possessive quantifier '*+' is not supported at offset 2");
        expect_message("a{1,2}+", "possessive quantifier '{1,2}+' is not supported at offset 6");
        expect_message("(?i:a)", "scoped inline flags '(?i:' are not supported at offset 0");
        expect_message("x$\ny", "'$' followed by more pattern is not supported without MULTILINE");
        expect_message("[^\\W\\d_]", "negated set combining \\W, \\S or \\D with other members is not supported at offset 0");
        expect_message("\\x00", "NUL character is not supported at offset 0");
        /* Python's own errors, in Python's words */
        expect_message("(", "missing ), unterminated subpattern at offset 0");
        expect_message("a)", "unbalanced parenthesis at offset 1");
        expect_message("a**", "multiple repeat at offset 2");
        expect_message("*", "nothing to repeat at offset 0");
        expect_message("\\q", "bad escape \\q at offset 0");
        expect_message("a[b", "unterminated character set at offset 1");
        expect_message("[z-a]", "bad character range z-a at offset 1");
        expect_message("a(?i)", "global flags not at the start of the expression at offset 1");
        /* what glibc refuses is reported with the translation */
        expect_message("(a)|b\\1", "Invalid back reference (in the POSIX translation '(a)|b\\1')");
        expect_message("[\\u0100-\\uffff]", "range of more than 256 non-ASCII characters in a set is not supported at offset 1");
}

static void expect_translation(const char *pattern, PyRegexFlags flags, const char *ere, PyRegexFlags ret_flags) {
        _cleanup_free_ char *out = NULL, *error = NULL;
        int r;

        r = pyregex_translate(pattern, &flags, &out, &error);
        if (r < 0)
                fail_msg("'%s': %s", pattern, strna(error));
        assert_string_equal(out, ere);
        assert_int_equal(flags, ret_flags);
}

static void test_translate(void **state) {
        const PyRegexFlags I = PYREGEX_IGNORECASE, M = PYREGEX_MULTILINE, S = PYREGEX_DOTALL, X = PYREGEX_VERBOSE;
        (void) state;

        expect_translation("", 0, "", 0);
        expect_translation("(?:error|status|code)[^\\w]*429", I, "(error|status|code)[^[:alnum:]_]*429", I);
        expect_translation("resets.*\\(\\w+/\\w+\\)", I, "resets[^\n]*\\([[:alnum:]_]+/[[:alnum:]_]+\\)", I);
        /* leading flag groups fold into the flags, the caller's stay */
        expect_translation("(?s)^#+ ", 0, "\\`#+ ", S);
        expect_translation("(?i)(?m)x", S, "x", I | M | S);
        expect_translation("(?x) a  b # c\n c", 0, "abc", X);
        expect_translation("^#\\s+", 0, "\\`#[[:space:]\x1c-\x1f]+", 0);
        expect_translation("^#\\s+", M, "^#[[:space:]\x1c-\x1f]+", M);
        /* '.' and negated sets under the four flag combinations */
        expect_translation("a.b", 0, "a[^\n]b", 0);
        expect_translation("a.b", M, "a[^\n]b", M);
        expect_translation("a.b", S, "a([^\n]|\n)b", S);
        expect_translation("a.b", M | S, "a([^\n]|\n)b", M | S);
        expect_translation("[^a]", 0, "[^a]", 0);
        expect_translation("[^a]", M, "([^a]|\n)", M);
        expect_translation("[^\\n]", M, "[^\n]", M);
        expect_translation("\\W\\D\\S", M, "([^[:alnum:]_]|\n)([^0-9]|\n)[^[:space:]\x1c-\x1f]", M);
        /* without MULTILINE '^' and '$' are the ends of the data, and '$'
         * takes a final newline; with it REG_NEWLINE does what Python does */
        expect_translation("^a$", 0, "\\`a\n?\\'", 0);
        expect_translation("a$", M, "a$", M);
        expect_translation("\\Aa\\Z", 0, "\\`a\\'", 0);
        /* sets are rewritten in POSIX order: ']' first, '^' not first, '-' last */
        expect_translation("[\\-\\^\\]a]", 0, "[]a^-]", 0);
        expect_translation("[\\^]", 0, "\\^", 0);
        expect_translation("[\\^\\-]", 0, "[-^]", 0);
        expect_translation("[[:x]", 0, "[:x[]", 0);
        expect_translation("[a-z0-9_]", 0, "[0-9_a-z]", 0);
        expect_translation("[\\Wa]", 0, "([^[:alnum:]_]|[a])", 0);
        /* escapes */
        expect_translation("\\d+\\D", 0, "[0-9]+[^0-9]", 0);
        expect_translation("\\/\\<\\>\\.\\t\\n", 0, "/<>\\.\t\n", 0);
        expect_translation("{}{,2}", 0, "\\{\\}{0,2}", 0);
        expect_translation("a{,}b{3}c{2,}", 0, "a*b{3}c{2,}", 0);
        expect_translation("a+?b*?c??d{1,2}?", 0, "a+b*c?d{1,2}", 0);
        expect_translation("(?P<x>a)(?#note)(?:b)\\1", 0, "(a)(b)\\1", 0);
        /* groups written for '.' and sets renumber backreferences */
        expect_translation("(?s).(a)\\1", 0, "([^\n]|\n)(a)\\2", S);
        expect_translation("\xc3\xa9+", 0, "(\xc3\xa9)+", 0);
        /* glibc loses anchors in the copies it makes for {m,n} and '+':
         * those are written out */
        expect_translation("(\\ba){2}", 0, "(\\ba)(\\ba)", 0);
        expect_translation("(?:\\bx|y){1,3}", 0, "(\\bx|y)(\\bx|y)?(\\bx|y)?", 0);
        expect_translation("(^a)+", M, "(^a)(^a)*", M);
        expect_translation("(\\ba)*(\\ba)?(\\ba){1}", 0, "(\\ba)*(\\ba)?(\\ba){1}", 0);
        /* and the groups after the copies are numbered past them */
        expect_translation("(x\\b)+(y)\\2", 0, "(x\\b)(x\\b)*(y)\\3", 0);
}

static void test_search(void **state) {
        _cleanup_free_ char *error = NULL;
        static const char data[] = "ab\0cd\n";
        regex_t re;
        (void) state;

        /* NUL bytes in the data are searched through */
        assert_int_equal(pyregex_compile("c", 0, &re, &error), 0);
        assert_int_equal(pyregex_search(&re, data, sizeof(data) - 1), 1);
        assert_int_equal(pyregex_search(&re, data, 2), 0);
        assert_int_equal(pyregex_search(&re, NULL, 0), 0);
        assert_int_equal(pyregex_search(&re, NULL, 1), -EINVAL);
        assert_int_equal(pyregex_search(NULL, data, 1), -EINVAL);
        regfree(&re);

        /* the end of the data is the end of the string: '$' and \Z */
        assert_int_equal(pyregex_compile("d$", 0, &re, &error), 0);
        assert_int_equal(pyregex_search(&re, data, sizeof(data) - 1), 1);
        assert_int_equal(pyregex_search(&re, data, sizeof(data) - 2), 1);
        assert_int_equal(pyregex_search(&re, data, sizeof(data) - 3), 0);
        regfree(&re);

        assert_int_equal(pyregex_compile("", 0, &re, &error), 0);
        assert_int_equal(pyregex_search(&re, NULL, 0), 1);
        regfree(&re);

        assert_int_equal(pyregex_compile(NULL, 0, &re, &error), -EINVAL);
        assert_null(error);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_table_in_other_locales),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_python_errors),
                cmocka_unit_test(test_messages),
                cmocka_unit_test(test_translate),
                cmocka_unit_test(test_search),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

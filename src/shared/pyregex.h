/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Scores and instrument profiles carry regular expressions written for
 * Python's re module ("(?s)^#+ ", "(?:error|status)[^\\w]*429").  glibc's
 * regcomp() speaks POSIX ERE (plus GNU extensions), so each pattern is
 * translated first, keeping what re.search() would find for every flag
 * combination: '.' and sets are spelled out so that newlines match as in
 * Python, '^' and '$' anchor at the string unless MULTILINE.  Constructs
 * with no ERE counterpart that would change what matches (lookaround,
 * atomic groups and possessive quantifiers, backreferences to named
 * groups, conditionals, scoped flags, a non-MULTILINE '$' with more
 * pattern after it) are refused with a message naming the construct and
 * its offset, never silently approximated; so are patterns Python itself
 * rejects.
 *
 * Matching is by character under C.UTF-8 whatever the caller's locale
 * (bytes under "C" where C.UTF-8 is not installed).  \d is [0-9] and \w,
 * \s are what glibc's C.UTF-8 classes say, which for ASCII is exactly
 * Python's. */

#include <regex.h>
#include <stdbool.h>

typedef enum PyRegexFlags {
        PYREGEX_IGNORECASE = 1 << 0,    /* re.IGNORECASE */
        PYREGEX_MULTILINE  = 1 << 1,    /* re.MULTILINE: ^ and $ at line breaks */
        PYREGEX_DOTALL     = 1 << 2,    /* re.DOTALL: . matches a newline */
        PYREGEX_VERBOSE    = 1 << 3,    /* re.VERBOSE: whitespace and # comments ignored */
} PyRegexFlags;

/* Translate a Python pattern to POSIX ERE text.  Inline flag groups at
 * the start ("(?i)", "(?s)", "(?m)", "(?x)") are folded into *flags,
 * which is also the input: flags the caller already wants.  The text is
 * meant for regcomp() with the flags' counterparts, as pyregex_compile()
 * does.  -EINVAL with a message in *ret_error (if not NULL; untouched
 * otherwise) for patterns that cannot be translated. */
int pyregex_translate(const char *pattern, PyRegexFlags *flags, char **ret, char **ret_error);

/* Translate and regcomp() with REG_EXTENDED | REG_NOSUB and the flags'
 * POSIX counterparts (REG_ICASE; REG_NEWLINE for MULTILINE).  The caller
 * regfree()s *ret on success.  -EINVAL with a message in *ret_error when
 * the pattern is refused or regcomp() fails (the message then quotes the
 * translation).  Match only through pyregex_search(): it runs regexec()
 * under the locale the pattern was compiled in. */
int pyregex_compile(const char *pattern, PyRegexFlags flags, regex_t *ret, char **ret_error);

/* re.search(): 1 on a match, 0 on none, negative errno on failure.  data
 * may contain NUL bytes. */
int pyregex_search(const regex_t *re, const char *data, size_t size);

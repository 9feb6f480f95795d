/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Validations: after a sheet attempt, check what it produced.  A pass runs
 * in a forked child (runner child_fn) so the event loop never blocks; the
 * report travels back as text on the child's stdout. */

#include "score.h"

typedef enum ValidationStatus {
        VALIDATION_PASSED,
        VALIDATION_FAILED,
        VALIDATION_NOT_APPLICABLE,      /* condition false or other sheet */
        VALIDATION_NOT_RUN,             /* an earlier validation stage failed */
} ValidationStatus;

typedef struct ValidationOutcome {
        size_t index;           /* into score->validations */
        ValidationStatus status;
        char *description;
        char *detail;           /* what was checked and why it failed */
} ValidationOutcome;

typedef struct ValidationReport {
        ValidationOutcome *outcomes;
        size_t n;
        unsigned passed;
        unsigned failed;
} ValidationReport;

void validation_report_done(ValidationReport *r);

/* Run every validation that applies to sheet num.  attempt_started_at
 * (CLOCK_REALTIME µs) is what file_modified compares mtimes against.
 * content_regex patterns are Python's, searched as re.search(pattern,
 * content) would.  Blocking: command_succeeds runs bash -c with its
 * timeout, and a failed file check (file_exists, file_modified,
 * content_contains, content_regex) is made again retry_count times,
 * retry_delay_ms apart, before it counts as failed. */
int validation_run_all(const Score *s, unsigned num, usec_t attempt_started_at, ValidationReport *ret);

/* True when every applicable validation passed (vacuously true). */
bool validation_report_passed(const ValidationReport *r);
/* passed / (passed + failed) * 100; 100 when none applied. */
double validation_report_pass_percentage(const ValidationReport *r);

/* Line-oriented wire format between the validation child and the daemon. */
int validation_report_serialize(const ValidationReport *r, FILE *f);
int validation_report_parse(const char *text, ValidationReport *ret);
/* JSON array of {index,status,description,detail} for the store and the API. */
int validation_report_to_json(const ValidationReport *r, char **ret);

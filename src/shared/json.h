/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Minimal JSON output helpers (the project only writes JSON). */

#include "macro.h"

/* Write s as a JSON string literal with quotes; NULL writes null. */
void json_write_string(FILE *f, const char *s);

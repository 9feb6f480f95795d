/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Implicit typing of plain YAML scalars, exactly as PyYAML's safe_load
 * does it (YAML 1.1): that is what the original Marianne's templates see,
 * so "yes" is True, "1e3" a string, "0o17" a string, "017" the int 15. */

#include "value.h"

/* The Value a plain (unquoted, untagged) scalar stands for: null, a bool,
 * an int, a float, or else the text itself.  Ints beyond 64 bits stay
 * text, which prints the same.  NULL only on OOM. */
Value *yaml_plain_scalar_to_value(const char *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "json.h"

/* Length of the valid UTF-8 sequence starting at s, 0 if it is not valid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_sequence_length(const unsigned char *s) {
        uint32_t cp;
        size_t n;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0) {
                n = 2;
                cp = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                n = 3;
                cp = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                return 0;

        for (size_t i = 1; i < n; i++) {
                /* also stops at the terminating NUL, which is not a continuation byte */
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }

        if ((n == 2 && cp < 0x80) ||
            (n == 3 && cp < 0x800) ||
            (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;

        return n;
}

void json_write_string(FILE *f, const char *s) {
        const unsigned char *p;

        if (!s) {
                fputs("null", f);
                return;
        }

        fputc('"', f);
        for (p = (const unsigned char *) s; *p; ) {
                size_t n;

                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                default:
                        if (*p < 0x20) {
                                fprintf(f, "\\u%04x", (unsigned) *p);
                                break;
                        }

                        n = utf8_sequence_length(p);
                        if (n == 0) {
                                /* Our strings come from files and processes we do not control;
                                 * a stray byte must not make the whole document invalid JSON. */
                                fputs("\\ufffd", f);
                                p++;
                                continue;
                        }
                        fwrite(p, 1, n, f);
                        p += n;
                        continue;
                }
                p++;
        }
        fputc('"', f);
}

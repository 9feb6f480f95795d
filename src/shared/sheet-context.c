/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Cross-sheet context: what earlier sheets left behind, for the prompt of
 * a later one.  previous_outputs maps sheet numbers to what those sheets
 * printed (their result text for AI instruments), previous_files maps the
 * paths cross_sheet.capture_files names to their content.  Both are cut at
 * cross_sheet.max_output_chars characters. */

#include "conductor-private.h"
#include "instrument.h"
#include "log.h"
#include "sheet-instrument.h"
#include "template.h"

/* At most this much of a sheet's stdout is read to find its result. */
#define PREVIOUS_OUTPUT_READ_MAX INSTRUMENT_OUTPUT_PARSE_MAX

/* The first max characters of s (UTF-8 aware: never cuts a character). */
static char *utf8_head(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t chars = 0;

        while (*p && chars < max) {
                p++;
                while ((*p & 0xC0) == 0x80)
                        p++;
                chars++;
        }
        return strndup(s, (size_t) (p - (const unsigned char *) s));
}

/* What sheet k printed in its completing attempt: the parsed result for
 * instruments with structured output, else stdout. */
static int sheet_output_text(Job *j, unsigned k, size_t max_chars, char **ret) {
        Conductor *c = j->conductor;
        const SheetRecord *sr = &j->sheets[k - 1];
        _cleanup_free_ char *path = NULL, *data = NULL;
        const InstrumentProfile *p = NULL;
        bool structured;
        size_t size;
        int r;

        if (sr->attempt_count == 0)
                return 0;
        path = strdup_printf("%s/%s/sheet-%u.attempt-%u.stdout", c->log_dir, j->rec.id, k, sr->attempt_count);
        if (!path)
                return -ENOMEM;
        if (sr->instrument && c->instruments)
                p = instrument_registry_get(c->instruments, sr->instrument);
        structured = p && p->output.format != INSTRUMENT_OUTPUT_TEXT;

        /* the result of structured output needs the whole document; plain
         * output only its head (max_chars characters are at most 4 bytes each) */
        r = read_file_head(path, structured ? PREVIOUS_OUTPUT_READ_MAX : max_chars * 4, &data, &size);
        if (r < 0)
                return r == -ENOMEM ? r : 0;    /* logs cleaned up: no context, not an error */

        if (structured) {
                _cleanup_(instrument_output_done) InstrumentOutput o = {};

                r = instrument_output_parse(p, NULL, data, size, &o);
                if (r < 0)
                        return r;
                if (o.result) {
                        *ret = utf8_head(o.result, max_chars);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        if (strlen(data) != size)
                return 0;       /* binary output is no prompt material */
        *ret = utf8_head(data, max_chars);
        return *ret ? 1 : -ENOMEM;
}

static int previous_outputs(Job *j, unsigned num, Value *into) {
        const ScoreCrossSheet *x = &j->score->cross_sheet;
        unsigned first = x->lookback_sheets > 0 && num > x->lookback_sheets ? num - x->lookback_sheets : 1;
        int r;

        for (unsigned k = first; k < num; k++) {
                _cleanup_free_ char *text = NULL;

                if (j->sheets[k - 1].state != SHEET_COMPLETED)
                        continue;
                r = sheet_output_text(j, k, x->max_output_chars, &text);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = value_map_set_key(into, value_new_int(k), value_new_string_take(TAKE_PTR(text)));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int previous_files(Job *j, unsigned num, Value *into) {
        const ScoreCrossSheet *x = &j->score->cross_sheet;
        _cleanup_value_free_ Value *ctx = NULL;
        int r;

        r = score_sheet_context(j->score, num, &ctx);
        if (r < 0)
                return r;

        STRV_FOREACH(t, x->capture_files) {
                _cleanup_free_ char *path = NULL, *error = NULL, *data = NULL, *head = NULL;
                size_t size;

                r = template_render_full("cross_sheet.capture_files", *t, ctx, NULL, &path, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_sheet(LOG_WARNING, j->rec.id, num, "Job %s sheet %u: capture_files entry '%s' does not render: %s",
                                  j->rec.id, num, *t, error ?: strerror(-r));
                        continue;
                }
                if (path[0] != '/') {
                        _cleanup_free_ char *abs = strdup_printf("%s/%s", j->rec.workspace, path);
                        if (!abs)
                                return -ENOMEM;
                        free(path);
                        path = TAKE_PTR(abs);
                }
                /* the owner's file, read with the owner's rights */
                r = identity_read_file(&j->owner, path, (size_t) x->max_output_chars * 4 + 4, &data, &size);
                if (r == -EFBIG) {
                        /* keep the head: read again, bounded by what is used */
                        r = identity_read_file(&j->owner, path, INSTRUMENT_OUTPUT_PARSE_MAX, &data, &size);
                }
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;       /* not (yet) there: the template tests for it */
                if (strlen(data) != size)
                        continue;
                head = utf8_head(data, x->max_output_chars);
                if (!head)
                        return -ENOMEM;
                r = value_map_set(into, path, value_new_string_take(TAKE_PTR(head)));
                if (r < 0)
                        return r;
        }
        return 0;
}

int sheet_cross_context(Job *j, unsigned num, Value **ret) {
        _cleanup_value_free_ Value *extra = value_new_map(), *outputs = value_new_map(), *files = value_new_map();
        const ScoreCrossSheet *x = &j->score->cross_sheet;
        int r;

        if (!extra || !outputs || !files)
                return -ENOMEM;
        if (x->auto_capture_stdout) {
                r = previous_outputs(j, num, outputs);
                if (r < 0)
                        return r;
        }
        if (x->capture_files) {
                r = previous_files(j, num, files);
                if (r < 0)
                        return r;
        }
        r = value_map_set(extra, "previous_outputs", TAKE_PTR(outputs));
        if (r >= 0)
                r = value_map_set(extra, "previous_files", TAKE_PTR(files));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(extra);
        return 0;
}

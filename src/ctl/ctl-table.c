/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <stdarg.h>

struct CtlTable {
        size_t n_columns;
        char **cells;           /* headers first, then rows, row-major */
        size_t n_cells;
};

CtlTable *ctl_table_new(size_t n_columns, ...) {
        _cleanup_table_free_ CtlTable *t = NULL;
        va_list ap;
        int r = 0;

        t = calloc(1, sizeof(CtlTable));
        if (!t)
                return NULL;
        t->n_columns = n_columns;

        va_start(ap, n_columns);
        for (size_t i = 0; i < n_columns && r >= 0; i++)
                r = ctl_table_add_cell(t, va_arg(ap, const char *));
        va_end(ap);
        if (r < 0)
                return NULL;
        return TAKE_PTR(t);
}

CtlTable *ctl_table_free(CtlTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int ctl_table_add_cell_take(CtlTable *t, char *text) {
        char **c;

        if (!text)
                return -ENOMEM;
        c = realloc(t->cells, (t->n_cells + 1) * sizeof(char *));
        if (!c) {
                free(text);
                return -ENOMEM;
        }
        t->cells = c;
        t->cells[t->n_cells++] = text;
        return 0;
}

int ctl_table_add_cell(CtlTable *t, const char *text) {
        return ctl_table_add_cell_take(t, ctl_sanitize(text, false));
}

size_t ctl_table_rows(const CtlTable *t) {
        return t->n_cells / t->n_columns - 1;
}

int ctl_table_print(const CtlTable *t, FILE *f) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return -ENOMEM;
        if (t->n_cells % t->n_columns != 0)
                return -EINVAL; /* an incomplete row is a programming error */

        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], ctl_display_width(t->cells[i]));

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;

                fputs(t->cells[i], f);
                if (col + 1 == t->n_columns)
                        fputc('\n', f);
                else
                        fprintf(f, "%*s", (int) (width[col] - ctl_display_width(t->cells[i]) + 1), "");
        }
        return 0;
}

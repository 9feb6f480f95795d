/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <sys/stat.h>

#include "json.h"
#include "score.h"

/* Content errors make a score invalid (1); anything else means the file
 * could not be read (2). */
static int exit_code_for_parse_error(int r) {
        switch (r) {
        case -EINVAL:
        case -E2BIG:
        case -EFBIG:
        case -EOPNOTSUPP:
        case -ENOMEM:
                return CTL_EXIT_FAILED;
        default:
                return CTL_EXIT_USAGE;
        }
}

static void print_json(const char *name, size_t n_sheets, char * const *warnings, const char *error) {
        printf("{\"valid\":%s,\"name\":", error ? "false" : "true");
        json_write_string(stdout, name);
        if (error)
                fputs(",\"total_sheets\":null", stdout);
        else
                printf(",\"total_sheets\":%zu", n_sheets);
        fputs(",\"warnings\":", stdout);
        ctl_json_write_strv(stdout, warnings);
        fputs(",\"error\":", stdout);
        json_write_string(stdout, error);
        fputs("}\n", stdout);
}

/* A FIFO or device would be refused by the parser as -EINVAL, which would
 * read as "invalid score"; it is an unreadable file instead. */
static int check_file(const char *path, char **ret_error) {
        struct stat st;

        if (stat(path, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode)) {
                *ret_error = strdup_printf("%s: not a regular file", path);
                return -ENODEV;
        }
        return 0;
}

static int validate_one(const Ctl *c, const char *path) {
        _cleanup_score_free_ Score *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = check_file(path, &error);
        if (r >= 0)
                r = score_parse_file(path, &score_limits_default, &s, &error);
        if (r < 0 && !error)
                error = strdup_printf("%s: %s", path, strerror(-r));

        if (s && !c->json)
                STRV_FOREACH(w, s->warnings)
                        fprintf(stderr, "mariannectl: warning: %s\n", *w);

        if (c->json)
                print_json(s ? s->name : NULL, s ? s->n_sheets : 0, s ? s->warnings : NULL,
                           r < 0 ? strempty(error) : NULL);
        else if (r < 0)
                fprintf(stderr, "mariannectl: %s\n", strempty(error));
        else if (!c->quiet)
                printf("%s: valid, %zu sheet%s\n", path, s->n_sheets, s->n_sheets == 1 ? "" : "s");

        return r < 0 ? exit_code_for_parse_error(r) : CTL_EXIT_SUCCESS;
}

int ctl_cmd_validate(Ctl *c, char **args) {
        int ret = CTL_EXIT_SUCCESS;

        /* With several files the worst outcome wins: unreadable over invalid. */
        STRV_FOREACH(path, args) {
                int r = validate_one(c, *path);

                ret = MAX(ret, r);
        }
        return ret;
}

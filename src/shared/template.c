/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The template API over the Jinja engine (jinja-*.c): parse, then render
 * against the context, with the limits. */

#include "jinja-internal.h"

#define DEFAULT_NAME "<template>"

int template_render_full(const char *name, const char *tmpl, const Value *context,
                         const TemplateLimits *limits, char **ret, char **ret_error) {
        _cleanup_(jinja_template_freep) JTemplate *t = NULL;
        unsigned max_depth = limits && limits->max_depth > 0 ? limits->max_depth : TEMPLATE_DEPTH_MAX;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!tmpl || !ret)
                return -EINVAL;
        *ret = NULL;

        r = jinja_parse(name ?: DEFAULT_NAME, tmpl, max_depth, &t, ret_error);
        if (r < 0)
                return r;
        return jinja_render(t, context, limits, ret, ret_error);
}

int template_render(const char *tmpl, const Value *context, size_t max_output, char **ret, char **ret_error) {
        TemplateLimits limits = {
                .max_output = max_output > 0 ? max_output : 1,
        };
        _cleanup_free_ char *out = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = template_render_full(NULL, tmpl, context, &limits, &out, ret_error);
        if (r < 0)
                return r;

        /* here 0 means that nothing at all may be output */
        if (max_output == 0 && out[0]) {
                if (ret_error)
                        *ret_error = strdup(DEFAULT_NAME ":1: rendered template exceeds the limit of 0 bytes: "
                                            "shorten the template or its variables");
                return -E2BIG;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int template_check(const char *name, const char *tmpl, char **ret_error) {
        _cleanup_(jinja_template_freep) JTemplate *t = NULL;

        if (ret_error)
                *ret_error = NULL;
        if (!tmpl)
                return -EINVAL;
        return jinja_parse(name ?: DEFAULT_NAME, tmpl, TEMPLATE_DEPTH_MAX, &t, ret_error);
}

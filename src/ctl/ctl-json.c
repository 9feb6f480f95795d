/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <limits.h>
#include <math.h>

#include "json-parse.h"
#include "json.h"

typedef union BasicValue {
        uint8_t y;
        int16_t n;
        uint16_t q;
        int32_t i;
        uint32_t u;
        int64_t x;
        uint64_t t;
        double d;
        int b;
        int h;
        const char *s;
} BasicValue;

void ctl_json_write_double(FILE *f, double d) {
        char buf[64]; /* %.17g of a double needs at most 24 bytes */

        if (!isfinite(d)) {
                fputs("null", f); /* JSON has no NaN or infinity */
                return;
        }
        /* Shortest form that reads back as the same double. */
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, sizeof(buf), "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        fputs(buf, f);
}

void ctl_json_write_strv(FILE *f, char * const *l) {
        bool first = true;

        fputc('[', f);
        STRV_FOREACH(s, l) {
                if (!first)
                        fputc(',', f);
                first = false;
                json_write_string(f, *s);
        }
        fputc(']', f);
}

static bool is_string_type(char type) {
        return type == 's' || type == 'o' || type == 'g';
}

static int write_basic(FILE *f, sd_bus_message *m, char type, bool as_key) {
        BasicValue v = {};
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        /* Object keys must be strings; numeric keys are quoted. */
        if (as_key && !is_string_type(type))
                fputc('"', f);
        switch (type) {
        case 's': case 'o': case 'g':
                json_write_string(f, v.s);
                break;
        case 'b':
                fputs(v.b ? "true" : "false", f);
                break;
        case 'y': fprintf(f, "%u", (unsigned) v.y); break;
        case 'n': fprintf(f, "%d", (int) v.n); break;
        case 'q': fprintf(f, "%u", (unsigned) v.q); break;
        case 'i': fprintf(f, "%" PRIi32, v.i); break;
        case 'u': fprintf(f, "%" PRIu32, v.u); break;
        case 'x': fprintf(f, "%" PRIi64, v.x); break;
        case 't': fprintf(f, "%" PRIu64, v.t); break;
        case 'h': fprintf(f, "%d", v.h); break;
        case 'd':
                ctl_json_write_double(f, v.d);
                break;
        default:
                return -EBADMSG;
        }
        if (as_key && !is_string_type(type))
                fputc('"', f);
        return 0;
}

/* The members of the container just entered, comma separated, until its end. */
static int write_members(FILE *f, sd_bus_message *m) {
        bool first = true;
        int r;

        for (;;) {
                r = sd_bus_message_at_end(m, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                if (!first)
                        fputc(',', f);
                first = false;
                r = ctl_json_write_value(f, m);
                if (r < 0)
                        return r;
        }
}

/* Exiting a container returns 1 on success; callers want 0. */
static int exit_container(sd_bus_message *m) {
        int r = sd_bus_message_exit_container(m);

        return r < 0 ? r : 0;
}

static int write_object(FILE *f, sd_bus_message *m, const char *contents) {
        _cleanup_free_ char *entry = NULL;
        size_t l = strlen(contents);
        bool first = true;
        int r;

        /* "{sv}" → "sv" for entering each entry */
        if (l < 4 || contents[0] != '{' || contents[l - 1] != '}')
                return -EBADMSG;
        entry = strndup(contents + 1, l - 2);
        if (!entry)
                return -ENOMEM;

        r = sd_bus_message_enter_container(m, 'a', contents);
        if (r < 0)
                return r;
        fputc('{', f);
        for (;;) {
                char key_type;

                r = sd_bus_message_enter_container(m, 'e', entry);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (!first)
                        fputc(',', f);
                first = false;

                r = sd_bus_message_peek_type(m, &key_type, NULL);
                if (r < 0)
                        return r;
                r = write_basic(f, m, key_type, true);
                if (r < 0)
                        return r;
                fputc(':', f);
                r = ctl_json_write_value(f, m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        fputc('}', f);
        return exit_container(m);
}

static int write_container(FILE *f, sd_bus_message *m, char type, const char *contents,
                           char open, char close) {
        int r;

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        fputc(open, f);
        r = write_members(f, m);
        if (r < 0)
                return r;
        fputc(close, f);
        return exit_container(m);
}

int ctl_json_write_value(FILE *f, sd_bus_message *m) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG; /* the reply ended before the value we expected */

        switch (type) {
        case 'v':
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = ctl_json_write_value(f, m);
                if (r < 0)
                        return r;
                return exit_container(m);
        case 'a':
                if (contents[0] == '{')
                        return write_object(f, m, contents);
                return write_container(f, m, 'a', contents, '[', ']');
        case 'r':
                /* Generic structs have no member names: an array keeps the order. */
                return write_container(f, m, 'r', contents, '[', ']');
        default:
                return write_basic(f, m, type, false);
        }
}

int ctl_json_write_dict(FILE *f, sd_bus_message *m) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0 || type != 'a' || !streq(contents, "{sv}"))
                return -EBADMSG;
        return write_object(f, m, contents);
}

int ctl_json_write_struct_array(FILE *f, sd_bus_message *m, const char *contents,
                                const char * const *fields, size_t n_fields) {
        _cleanup_free_ char *inner = NULL;
        size_t l = strlen(contents);
        bool first = true;
        int r;

        if (l < 3 || contents[0] != '(' || contents[l - 1] != ')')
                return -EINVAL;
        inner = strndup(contents + 1, l - 2);
        if (!inner)
                return -ENOMEM;

        r = sd_bus_message_enter_container(m, 'a', contents);
        if (r < 0)
                return r;
        fputc('[', f);
        for (;;) {
                r = sd_bus_message_enter_container(m, 'r', inner);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (!first)
                        fputc(',', f);
                first = false;
                fputc('{', f);
                for (size_t i = 0; i < n_fields; i++) {
                        if (i > 0)
                                fputc(',', f);
                        json_write_string(f, fields[i]);
                        fputc(':', f);
                        r = ctl_json_write_value(f, m);
                        if (r < 0)
                                return r;
                }
                fputc('}', f);
                r = sd_bus_message_exit_container(m); /* fails if members were left unnamed */
                if (r < 0)
                        return r;
        }
        fputc(']', f);
        return exit_container(m);
}

void ctl_validations_free(CtlValidation *v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++) {
                free(v[i].status);
                free(v[i].description);
                free(v[i].detail);
        }
        free(v);
}

/* A string member, or NULL for a missing or null one; -EBADMSG for
 * anything else. */
static int validation_string(const Value *o, const char *key, char **ret) {
        const Value *v = value_map_get(o, key);

        if (!v || v->type == VALUE_NULL) {
                *ret = NULL;
                return 0;
        }
        if (v->type != VALUE_STRING)
                return -EBADMSG;
        *ret = strdup(v->s);
        return *ret ? 0 : -ENOMEM;
}

int ctl_json_parse_validations(const char *text, CtlValidation **ret, size_t *ret_n) {
        _cleanup_value_free_ Value *root = NULL;
        _cleanup_free_ char *error = NULL;
        CtlValidation *v = NULL;
        size_t n = 0;
        int r;

        if (!text || !ret || !ret_n)
                return -EINVAL;
        r = json_parse(text, strlen(text), NULL, &root, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || root->type != VALUE_LIST)
                return -EBADMSG;

        if (root->list.n > 0) {
                v = calloc(root->list.n, sizeof(CtlValidation));
                if (!v)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < root->list.n; i++) {
                const Value *o = root->list.items[i], *index;
                CtlValidation *x = &v[n];

                if (o->type != VALUE_MAP) {
                        r = -EBADMSG;
                        break;
                }
                index = value_map_get(o, "index");
                if (index && (index->type != VALUE_INT || index->i < 0 || index->i > UINT_MAX)) {
                        r = -EBADMSG;
                        break;
                }
                x->index = index ? (unsigned) index->i : (unsigned) i;
                n++;    /* counted first, so that a half-filled entry is freed */
                if ((r = validation_string(o, "status", &x->status)) < 0 ||
                    (r = validation_string(o, "description", &x->description)) < 0 ||
                    (r = validation_string(o, "detail", &x->detail)) < 0)
                        break;
                if (!x->status) {
                        r = -EBADMSG;
                        break;
                }
        }
        if (r < 0) {
                ctl_validations_free(v, n);
                return r;
        }

        *ret = v;
        *ret_n = n;
        return 0;
}

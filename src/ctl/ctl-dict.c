/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

CtlDict *ctl_dict_free(CtlDict *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n; i++) {
                free(d->entries[i].key);
                free(d->entries[i].text);
        }
        free(d->entries);
        free(d);
        return NULL;
}

static bool is_basic(char type) {
        return type && strchr("ybnqiuxtdsogh", type);
}

/* Read one basic value into e (number fields and display text). */
static int read_basic(sd_bus_message *m, char type, CtlDictEntry *e) {
        union {
                uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u;
                int64_t x; uint64_t t; double d; int b; const char *s;
        } v = {};
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        e->is_number = true;
        switch (type) {
        case 'y': e->u = v.y; e->d = v.y; break;
        case 'n': e->u = (uint64_t) (int64_t) v.n; e->d = v.n; break;
        case 'q': e->u = v.q; e->d = v.q; break;
        case 'i': case 'h': e->u = (uint64_t) (int64_t) v.i; e->d = v.i; break;
        case 'u': e->u = v.u; e->d = v.u; break;
        case 'x': e->u = (uint64_t) v.x; e->d = (double) v.x; break;
        case 't': e->u = v.t; e->d = (double) v.t; break;
        case 'd': e->d = v.d; e->u = v.d > 0 && v.d < 1.8e19 ? (uint64_t) v.d : 0; break;
        case 'b':
                e->is_number = false;
                e->b = v.b;
                e->text = strdup(v.b ? "yes" : "no");
                return e->text ? 0 : -ENOMEM;
        default: /* s, o, g */
                e->is_number = false;
                e->text = ctl_sanitize(v.s, true);
                return e->text ? 0 : -ENOMEM;
        }

        if (type == 'd')
                e->text = strdup_printf("%g", v.d);
        else if (type == 'n' || type == 'i' || type == 'x' || type == 'h')
                e->text = strdup_printf("%" PRIi64, (int64_t) e->u);
        else
                e->text = strdup_printf("%" PRIu64, e->u);
        return e->text ? 0 : -ENOMEM;
}

/* An array of basic values as "a, b, c". */
static int read_basic_array(sd_bus_message *m, const char *contents, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = sd_bus_message_enter_container(m, 'a', contents);
        if (r < 0)
                return r;
        for (;;) {
                CtlDictEntry item = {};
                char *t;

                r = sd_bus_message_at_end(m, false);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                r = read_basic(m, contents[0], &item);
                if (r < 0)
                        return r;
                t = strdup_printf("%s%s%s", strempty(s), s ? ", " : "", item.text);
                free(item.text);
                if (!t)
                        return -ENOMEM;
                free(s);
                s = t;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = s ? TAKE_PTR(s) : strdup("");
        return *ret ? 0 : -ENOMEM;
}

/* Anything nested deeper is shown as JSON, sanitized for the terminal. */
static int read_as_json(sd_bus_message *m, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        r = ctl_json_write_value(f, m);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = ctl_sanitize(buf, false);
        return *ret ? 0 : -ENOMEM;
}

static int read_variant(sd_bus_message *m, CtlDictEntry *e) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        e->type = type;
        if (is_basic(type))
                return read_basic(m, type, e);
        if (type == 'a' && is_basic(contents[0]) && contents[1] == 0)
                return read_basic_array(m, contents, &e->text);
        return read_as_json(m, &e->text);
}

static int read_entry(sd_bus_message *m, CtlDictEntry *e) {
        const char *key, *contents;
        int r;

        r = sd_bus_message_read_basic(m, 's', &key);
        if (r < 0)
                return r;
        e->key = strdup(key);
        if (!e->key)
                return -ENOMEM;
        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = read_variant(m, e);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int ctl_dict_read(sd_bus_message *m, CtlDict **ret) {
        _cleanup_dict_free_ CtlDict *d = calloc(1, sizeof(CtlDict));
        int r;

        if (!d)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                CtlDictEntry *n;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                n = realloc(d->entries, (d->n + 1) * sizeof(CtlDictEntry));
                if (!n)
                        return -ENOMEM;
                d->entries = n;
                d->entries[d->n++] = (CtlDictEntry) {};
                r = read_entry(m, &d->entries[d->n - 1]);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

const CtlDictEntry *ctl_dict_get(const CtlDict *d, const char *key) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->entries[i].key, key))
                        return &d->entries[i];
        return NULL;
}

const char *ctl_dict_string(const CtlDict *d, const char *key) {
        const CtlDictEntry *e = ctl_dict_get(d, key);

        return e ? e->text : NULL;
}

uint64_t ctl_dict_u64(const CtlDict *d, const char *key) {
        const CtlDictEntry *e = ctl_dict_get(d, key);

        return e && e->is_number ? e->u : 0;
}

char *ctl_dict_format_value(const CtlDictEntry *e) {
        if (e->is_number && e->type != 'd' && endswith(e->key, "_at"))
                return ctl_format_timestamp(e->u);
        if (e->is_number && endswith(e->key, "_seconds")) {
                if (e->d < 0 || e->d > 1.8e13)
                        return strdup(e->text);
                return ctl_format_duration((uint64_t) (e->d * (double) USEC_PER_SEC));
        }
        if (e->is_number && e->type == 'd' && endswith(e->key, "_percent"))
                return strdup_printf("%.1f%%", e->d);
        if (e->is_number && e->type == 'd' && endswith(e->key, "_percentage"))
                return strdup_printf("%.1f%%", e->d);
        if (e->is_number && endswith(e->key, "_mb"))
                return strdup_printf("%.1f MB", e->d);
        return strdup(e->text);
}

void ctl_fields_done(CtlFields *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n; i++) {
                free(l->fields[i].label);
                free(l->fields[i].value);
        }
        free(l->fields);
        *l = (CtlFields) {};
}

int ctl_fields_add_take(CtlFields *l, char *label, char *value) {
        CtlField *n;

        if (!label || !value) {
                free(label);
                free(value);
                return -ENOMEM;
        }
        n = reallocarray(l->fields, l->n + 1, sizeof(CtlField));
        if (!n) {
                free(label);
                free(value);
                return -ENOMEM;
        }
        l->fields = n;
        l->fields[l->n++] = (CtlField) { .label = label, .value = value };
        return 0;
}

int ctl_fields_add_entry(CtlFields *l, const CtlDictEntry *e) {
        return ctl_fields_add_take(l, ctl_label_from_key(e->key), ctl_dict_format_value(e));
}

int ctl_fields_print(const CtlFields *l, FILE *f) {
        size_t width = 0;

        for (size_t i = 0; i < l->n; i++)
                width = MAX(width, ctl_display_width(l->fields[i].label));

        for (size_t i = 0; i < l->n; i++) {
                const CtlField *x = &l->fields[i];

                /* pad by display width: a label may hold more than ASCII */
                fprintf(f, "%*s%s: ", (int) (width - ctl_display_width(x->label)), "", x->label);
                /* Continuation lines line up under the first one. */
                for (const char *p = x->value; ; ) {
                        const char *nl = strchrnul(p, '\n');

                        fprintf(f, "%.*s\n", (int) (nl - p), p);
                        if (!*nl)
                                break;
                        p = nl + 1;
                        fprintf(f, "%*s  ", (int) width, "");
                }
        }
        return 0;
}

int ctl_dict_print(const CtlDict *d, FILE *f, char * const *skip) {
        _cleanup_(ctl_fields_done) CtlFields l = {};
        int r;

        for (size_t i = 0; i < d->n; i++) {
                if (strv_contains(skip, d->entries[i].key))
                        continue;
                r = ctl_fields_add_entry(&l, &d->entries[i]);
                if (r < 0)
                        return r;
        }
        return ctl_fields_print(&l, f);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

#include <sys/stat.h>

#include "instrument.h"

/* The instruments known by name: built-in profiles first, then profile
 * files from the search directories, a later one replacing an earlier
 * one of the same name.  A file that does not load is a warning and is
 * skipped; loading never fails for it. */

InstrumentRegistry *instrument_registry_free(InstrumentRegistry *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n; i++)
                instrument_profile_unref(r->profiles[i]);
        free(r->profiles);
        strv_free(r->warnings);
        free(r);
        return NULL;
}

int instrument_registry_new(InstrumentRegistry **ret) {
        InstrumentRegistry *r = calloc(1, sizeof(InstrumentRegistry));

        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

int instrument_registry_copy(const InstrumentRegistry *r, InstrumentRegistry **ret) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *c = NULL;

        if (instrument_registry_new(&c) < 0)
                return -ENOMEM;
        if (r->n > 0) {
                c->profiles = calloc(r->n, sizeof(InstrumentProfile *));
                if (!c->profiles)
                        return -ENOMEM;
                for (size_t i = 0; i < r->n; i++)
                        c->profiles[i] = instrument_profile_ref(r->profiles[i]);
                c->n = r->n;
        }
        c->warnings = strv_copy(r->warnings);
        if (r->warnings && !c->warnings)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Binary search: the index of name, or where it would go (and *found false). */
static size_t registry_find(const InstrumentRegistry *r, const char *name, bool *found) {
        size_t lo = 0, hi = r->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(r->profiles[mid]->name, name);

                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

int instrument_registry_add(InstrumentRegistry *r, InstrumentProfile *p) {
        InstrumentProfile **t;
        bool found;
        size_t i;

        if (!r || !p || !p->name)
                return -EINVAL;

        i = registry_find(r, p->name, &found);
        if (found) {
                instrument_profile_unref(r->profiles[i]);
                r->profiles[i] = instrument_profile_ref(p);
                return 0;
        }
        t = reallocarray(r->profiles, r->n + 1, sizeof(InstrumentProfile *));
        if (!t)
                return -ENOMEM;
        r->profiles = t;
        memmove(t + i + 1, t + i, (r->n - i) * sizeof(InstrumentProfile *));
        t[i] = instrument_profile_ref(p);
        r->n++;
        return 0;
}

const InstrumentProfile *instrument_registry_get(const InstrumentRegistry *r, const char *name) {
        bool found;
        size_t i;

        if (!r || !name)
                return NULL;
        i = registry_find(r, name, &found);
        return found ? r->profiles[i] : NULL;
}

static int add_warnings(InstrumentRegistry *r, char * const *warnings) {
        STRV_FOREACH(w, warnings)
                if (strv_extend(&r->warnings, *w) < 0)
                        return -ENOMEM;
        return 0;
}

static int add_parsed(InstrumentRegistry *r, InstrumentProfile *p) {
        int k;

        k = add_warnings(r, p->warnings);
        if (k < 0)
                return k;
        return instrument_registry_add(r, p);
}

int instrument_registry_add_builtin(InstrumentRegistry *r) {
        for (size_t i = 0; i < instrument_builtins_count; i++) {
                _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
                _cleanup_free_ char *error = NULL, *source = NULL;
                int k;

                source = strdup_printf("%s:%s", INSTRUMENT_SOURCE_BUILTIN, instrument_builtins[i].file);
                if (!source)
                        return -ENOMEM;
                k = instrument_profile_parse(instrument_builtins[i].data, instrument_builtins[i].size, source, &p, &error);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        /* a build that shipped a broken profile; the test suite holds this */
                        if (strv_push(&r->warnings, strdup_printf("%s, skipped", strna(error))) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (free_and_strdup(&p->source, INSTRUMENT_SOURCE_BUILTIN) < 0)
                        return -ENOMEM;
                p->builtin = true;
                k = add_parsed(r, p);
                if (k < 0)
                        return k;
        }
        return 0;
}

int instrument_registry_add_file(InstrumentRegistry *r, const char *path, const InstrumentLoader *l) {
        _cleanup_instrument_profile_unref_ InstrumentProfile *p = NULL;
        _cleanup_free_ char *data = NULL, *error = NULL;
        size_t size = 0;
        int k;

        if (l && l->read_file)
                k = l->read_file(path, INSTRUMENT_PROFILE_SIZE_MAX, &data, &size, l->userdata);
        else
                k = read_full_file(path, INSTRUMENT_PROFILE_SIZE_MAX, &data, &size);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                error = k == -EFBIG ? strdup_printf("%s: larger than %u bytes", path, INSTRUMENT_PROFILE_SIZE_MAX)
                                    : strdup_printf("%s: cannot read: %s", path, strerror(-k));
                goto skip;
        }

        k = instrument_profile_parse(data, size, path, &p, &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                goto skip;
        k = add_parsed(r, p);
        return k < 0 ? k : 1;

skip:
        if (strv_push(&r->warnings, strdup_printf("%s, skipped", error ?: path)) < 0)
                return -ENOMEM;
        return 0;
}

static int list_dir_direct(const char *dir, char ***ret) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                return negative_errno();
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (strv_extend(&names, de->d_name) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(names);
        return 0;
}

static int cmp_strings(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

static bool profile_file_name(const char *name) {
        return name[0] != '.' && !strchr(name, '/') && (endswith(name, ".yaml") || endswith(name, ".yml"));
}

int instrument_registry_add_dir(InstrumentRegistry *r, const char *dir, const InstrumentLoader *l) {
        _cleanup_strv_free_ char **names = NULL;
        size_t n, used = 0;
        int k;

        k = l && l->list_dir ? l->list_dir(dir, &names, l->userdata) : list_dir_direct(dir, &names);
        if (k == -ENOENT)
                return 0;       /* every directory is optional */
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                if (strv_push(&r->warnings, strdup_printf("%s: cannot list: %s, skipped", dir, strerror(-k))) < 0)
                        return -ENOMEM;
                return 0;
        }

        n = strv_length(names);
        if (n > 1)
                qsort(names, n, sizeof(char *), cmp_strings);
        STRV_FOREACH(name, names) {
                _cleanup_free_ char *path = NULL;

                if (!profile_file_name(*name))
                        continue;
                if (++used > INSTRUMENT_DIR_FILES_MAX) {
                        if (strv_push(&r->warnings, strdup_printf("%s: more than %u profile files, the rest are skipped",
                                                                  dir, INSTRUMENT_DIR_FILES_MAX)) < 0)
                                return -ENOMEM;
                        break;
                }
                path = strdup_printf("%s/%s", dir, *name);
                if (!path)
                        return -ENOMEM;
                k = instrument_registry_add_file(r, path, l);
                if (k < 0)
                        return k;
        }
        return 0;
}

int instrument_registry_add_dirs(InstrumentRegistry *r, char * const *dirs, const InstrumentLoader *l) {
        STRV_FOREACH(d, dirs) {
                int k = instrument_registry_add_dir(r, *d, l);

                if (k < 0)
                        return k;
        }
        return 0;
}

int instrument_user_dir(const char *xdg_config_home, const char *home, char **ret) {
        char *d;

        /* XDG: a relative $XDG_CONFIG_HOME is invalid and ignored */
        if (!isempty(xdg_config_home) && xdg_config_home[0] == '/')
                d = strdup_printf("%s/marianne/instruments", xdg_config_home);
        else if (!isempty(home) && home[0] == '/')
                d = strdup_printf("%s/.config/marianne/instruments", home);
        else
                return -ENXIO;
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

int instrument_registry_load_default(bool with_user, InstrumentRegistry **ret) {
        _cleanup_instrument_registry_free_ InstrumentRegistry *r = NULL;
        int k;

        k = instrument_registry_new(&r);
        if (k < 0)
                return k;
        k = instrument_registry_add_builtin(r);
        if (k < 0)
                return k;
        k = instrument_registry_add_dir(r, INSTRUMENT_DIR_VENDOR, NULL);
        if (k < 0)
                return k;
        k = instrument_registry_add_dir(r, INSTRUMENT_DIR_SYSTEM, NULL);
        if (k < 0)
                return k;
        if (with_user) {
                _cleanup_free_ char *dir = NULL;

                k = instrument_user_dir(getenv("XDG_CONFIG_HOME"), getenv("HOME"), &dir);
                if (k == -ENOMEM)
                        return k;
                if (k >= 0) {
                        k = instrument_registry_add_dir(r, dir, NULL);
                        if (k < 0)
                                return k;
                }
        }
        *ret = TAKE_PTR(r);
        return 0;
}

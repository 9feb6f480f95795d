/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon.h"

/* Unset strings are left out of a dictionary rather than sent as "" so a
 * client can tell "no error" from "empty error". */
int dict_append_s(sd_bus_message *m, const char *key, const char *value) {
        _cleanup_free_ char *valid = NULL;

        if (!value)
                return 0;
        /* Output tails and messages are whatever the sheet wrote (cut at 50
         * KiB, maybe mid-character): the bus refuses invalid UTF-8. */
        if (!utf8_is_valid(value)) {
                valid = utf8_make_valid(value);
                if (!valid)
                        return -ENOMEM;
                value = valid;
        }
        return sd_bus_message_append(m, "{sv}", key, "s", value);
}

int dict_append_u(sd_bus_message *m, const char *key, uint32_t value) {
        return sd_bus_message_append(m, "{sv}", key, "u", value);
}

int dict_append_i(sd_bus_message *m, const char *key, int32_t value) {
        return sd_bus_message_append(m, "{sv}", key, "i", value);
}

int dict_append_t(sd_bus_message *m, const char *key, uint64_t value) {
        return sd_bus_message_append(m, "{sv}", key, "t", value);
}

int dict_append_b(sd_bus_message *m, const char *key, bool value) {
        return sd_bus_message_append(m, "{sv}", key, "b", (int) value);
}

int dict_append_strv(sd_bus_message *m, const char *key, char **l) {
        int r;

        STRV_FOREACH(s, l)
                if (!utf8_is_valid(*s))
                        return -EINVAL;
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", key);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "as");
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, l);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

int dict_append_d(sd_bus_message *m, const char *key, double value) {
        return sd_bus_message_append(m, "{sv}", key, "d", value);
}

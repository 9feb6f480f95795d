/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <cmocka.h>

/* Messages need an open bus; a socketpair with nobody at the other end is
 * enough to build, seal and read them back without a dbus-daemon. */
typedef struct Fixture {
        sd_bus *bus;
        int peer;
} Fixture;

static int setup_bus(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        int fds[2];

        assert_non_null(f);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(sd_bus_new(&f->bus), 0);
        assert_int_equal(sd_bus_set_fd(f->bus, fds[0], fds[0]), 0);
        assert_int_equal(sd_bus_start(f->bus), 0);
        f->peer = fds[1];
        *state = f;
        return 0;
}

static int teardown_bus(void **state) {
        Fixture *f = *state;

        sd_bus_close_unref(f->bus);
        close(f->peer);
        free(f);
        return 0;
}

static sd_bus_message *new_message(void **state) {
        Fixture *f = *state;
        sd_bus_message *m = NULL;

        assert_int_equal(sd_bus_message_new_method_call(f->bus, &m, CONDUCTOR_SERVICE, CONDUCTOR_PATH,
                                                        CONDUCTOR_INTERFACE, "Test"), 0);
        return m;
}

static void seal(sd_bus_message *m) {
        assert_int_equal(sd_bus_message_seal(m, 1, 0), 0);
        assert_true(sd_bus_message_rewind(m, true) >= 0);
}

/* Runs the writer on the sealed message and returns what it printed. */
static char *capture_json(sd_bus_message *m, int (*writer)(FILE *, sd_bus_message *), int *ret) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        *ret = writer(f, m);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_timestamp(void **state) {
        (void) state;
        char *s;

        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();

        s = ctl_format_timestamp(1795290002ULL * USEC_PER_SEC + 999999);
        assert_string_equal(s, "2026-11-21 19:40:02");
        free(s);
        s = ctl_format_timestamp(0);
        assert_string_equal(s, "n/a");
        free(s);
        s = ctl_format_timestamp(UINT64_MAX);
        assert_string_equal(s, "n/a");
        free(s);
        s = ctl_format_timestamp(1);
        assert_string_equal(s, "1970-01-01 00:00:00");
        free(s);
        /* Beyond what time_t and struct tm can hold: raw, never garbage. */
        s = ctl_format_timestamp(UINT64_MAX - 1);
        assert_non_null(s);
        assert_true(s[0] == '@' || isdigit((unsigned char) s[0]));
        free(s);
        s = ctl_format_clock(1795290002ULL * USEC_PER_SEC);
        assert_string_equal(s, "19:40:02");
        free(s);

        assert_int_equal(setenv("TZ", "Europe/Paris", 1), 0);
        tzset();
        s = ctl_format_timestamp(1795290002ULL * USEC_PER_SEC);
        assert_string_equal(s, "2026-11-21 20:40:02");
        free(s);
        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
}

static void check_duration(uint64_t usec, const char *expected) {
        char *s = ctl_format_duration(usec);

        assert_non_null(s);
        assert_string_equal(s, expected);
        free(s);
}

static void test_duration(void **state) {
        (void) state;

        check_duration(0, "0us");
        check_duration(999, "999us");
        check_duration(1000, "1ms");
        check_duration(850 * USEC_PER_MSEC, "850ms");
        check_duration(999999, "999ms");
        check_duration(USEC_PER_SEC, "1s");
        check_duration(1500 * USEC_PER_MSEC, "1s");
        check_duration(63 * USEC_PER_SEC, "1min 3s");
        check_duration(60 * USEC_PER_SEC, "1min");
        check_duration(3600 * USEC_PER_SEC, "1h");
        check_duration(3601 * USEC_PER_SEC, "1h 1s");
        check_duration((86400 + 3600 + 60 + 1) * USEC_PER_SEC, "1d 1h 1min 1s");
        check_duration(2 * 365 * 86400 * USEC_PER_SEC, "2y");
        check_duration(UINT64_MAX, "infinity");
        check_duration(UINT64_MAX - 1, "584942y 152d 8h 1min 49s");
}

static void test_exit_codes(void **state) {
        (void) state;

        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.NoSuchJob", -ENOENT), 4);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.NoSuchSheet", -ENOENT), 4);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.AmbiguousJob", -EINVAL), 4);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.InvalidState", -EBUSY), 1);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.InvalidConfig", -EINVAL), 1);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.AccessDenied", -EACCES), 1);
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.LimitExceeded", -E2BIG), 1);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.InvalidArgs", -EINVAL), 1);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.AccessDenied", -EACCES), 1);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.ServiceUnknown", -EHOSTDOWN), 69);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.NameHasNoOwner", -ENXIO), 69);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.NoReply", -ETIMEDOUT), 69);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.Spawn.ChildExited", -EIO), 69);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.Spawn.ServiceNotFound", -EIO), 69);
        /* A prefix of a name is not the name. */
        assert_int_equal(ctl_exit_code_from_error("org.marianne.Conductor.Error.NoSuchJobX", -EIO), 1);
        assert_int_equal(ctl_exit_code_from_error("org.freedesktop.DBus.Error.SpawnX", -EIO), 1);
        assert_int_equal(ctl_exit_code_from_error("", -EIO), 1);
        /* Without a name, the errno decides: connection trouble is unreachable. */
        assert_int_equal(ctl_exit_code_from_error(NULL, -ECONNREFUSED), 69);
        assert_int_equal(ctl_exit_code_from_error(NULL, -ECONNRESET), 69);
        assert_int_equal(ctl_exit_code_from_error(NULL, -ETIMEDOUT), 69);
        assert_int_equal(ctl_exit_code_from_error(NULL, -ENOTCONN), 69);
        assert_int_equal(ctl_exit_code_from_error(NULL, -ENOMEM), 1);
        assert_int_equal(ctl_exit_code_from_error(NULL, -EINVAL), 1);
}

static void test_text_helpers(void **state) {
        (void) state;
        uint64_t v;
        char *s;

        s = ctl_sanitize("a\033[2Jb\nc\td\x7f", false);
        assert_string_equal(s, "a?[2Jb?c?d?");
        free(s);
        s = ctl_sanitize("a\033b\nc\td", true);
        assert_string_equal(s, "a?b\nc\td");
        free(s);
        s = ctl_sanitize(NULL, false);
        assert_string_equal(s, "");
        free(s);
        s = ctl_sanitize("h\xc3\xa9llo", false);   /* UTF-8 passes through */
        assert_string_equal(s, "h\xc3\xa9llo");
        free(s);

        s = ctl_indent("one\ntwo\n\nthree", "    ");
        assert_string_equal(s, "    one\n    two\n\n    three");
        free(s);
        s = ctl_indent("x\n", "  ");
        assert_string_equal(s, "  x\n");
        free(s);
        s = ctl_indent("", "  ");
        assert_string_equal(s, "");
        free(s);

        s = ctl_label_from_key("completed_at");
        assert_string_equal(s, "Completed at");
        free(s);
        s = ctl_label_from_key("");
        assert_string_equal(s, "");
        free(s);

        assert_int_equal(ctl_display_width("abc"), 3);
        assert_int_equal(ctl_display_width("h\xc3\xa9llo"), 5);
        assert_int_equal(ctl_display_width("\xe2\x97\x8f"), 1);
        assert_int_equal(ctl_display_width(NULL), 0);

        assert_int_equal(ctl_parse_unsigned("42", UINT32_MAX, &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(ctl_parse_unsigned("4294967295", UINT32_MAX, &v), 0);
        assert_int_equal(ctl_parse_unsigned("4294967296", UINT32_MAX, &v), -ERANGE);
        assert_int_equal(ctl_parse_unsigned("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(ctl_parse_unsigned("-1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_unsigned(" 1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_unsigned("+1", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_unsigned("1x", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_unsigned("", UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_unsigned(NULL, UINT64_MAX, &v), -EINVAL);
}

static void test_table(void **state) {
        (void) state;
        CtlTable *t = ctl_table_new(3, "ID", "NAME", "STATE");
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert_non_null(t);
        assert_int_equal(ctl_table_rows(t), 0);
        assert_int_equal(ctl_table_add_cell(t, "hello-1"), 0);
        assert_int_equal(ctl_table_add_cell(t, "h\xc3\xa9llo"), 0);
        assert_int_equal(ctl_table_add_cell(t, "running"), 0);
        assert_int_equal(ctl_table_add_cell(t, "x"), 0);
        assert_int_equal(ctl_table_add_cell(t, "evil\033name"), 0);
        assert_int_equal(ctl_table_add_cell_take(t, strdup("failed")), 0);
        assert_int_equal(ctl_table_add_cell_take(t, NULL), -ENOMEM);
        assert_int_equal(ctl_table_rows(t), 2);

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_table_print(t, f), 0);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf,
                            "ID      NAME      STATE\n"
                            "hello-1 h\xc3\xa9llo     running\n"
                            "x       evil?name failed\n");
        free(buf);

        /* An incomplete row is refused, not printed crooked. */
        assert_int_equal(ctl_table_add_cell(t, "partial"), 0);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_table_print(t, f), -EINVAL);
        assert_int_equal(fclose(f), 0);
        free(buf);
        ctl_table_free(t);
}

static void test_json_dict(void **state) {
        sd_bus_message *m = new_message(state);
        char *out;
        int r;

        assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "id", "s", "hello-1") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "job", "o", "/org/marianne/Conductor/job/hello_2d1") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "ok", "b", 1) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "no", "b", 0) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "y", "y", 255) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "n", "n", -32768) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "q", "q", 65535) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "i", "i", INT32_MIN) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "u", "u", UINT32_MAX) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "x", "x", INT64_MIN) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "t", "t", UINT64_MAX) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "d", "d", 0.1) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "nan", "d", NAN) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "as", "as", 2, "a", "b\"c") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "empty", "as", 0) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "au", "au", 3, 1, 2, 3) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "nested", "aa{sv}", 2,
                                          1, "k", "u", 7,
                                          0) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "st", "(su)", "x", 5) >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "vv", "v", "s", "inner") >= 0);
        assert_true(sd_bus_message_append(m, "{sv}", "numkeys", "a{us}", 1, 9, "nine") >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        seal(m);

        out = capture_json(m, ctl_json_write_dict, &r);
        assert_int_equal(r, 0);
        assert_string_equal(out,
                "{\"id\":\"hello-1\",\"job\":\"/org/marianne/Conductor/job/hello_2d1\","
                "\"ok\":true,\"no\":false,\"y\":255,\"n\":-32768,\"q\":65535,"
                "\"i\":-2147483648,\"u\":4294967295,\"x\":-9223372036854775808,"
                "\"t\":18446744073709551615,\"d\":0.1,\"nan\":null,"
                "\"as\":[\"a\",\"b\\\"c\"],\"empty\":[],\"au\":[1,2,3],"
                "\"nested\":[{\"k\":7},{}],\"st\":[\"x\",5],\"vv\":\"inner\","
                "\"numkeys\":{\"9\":\"nine\"}}");
        free(out);
        assert_int_equal(sd_bus_message_at_end(m, true), 1);
        sd_bus_message_unref(m);
}

static void test_json_wrong_type(void **state) {
        sd_bus_message *m = new_message(state);
        char *out;
        int r;

        assert_true(sd_bus_message_append(m, "s", "not a dict") >= 0);
        seal(m);
        out = capture_json(m, ctl_json_write_dict, &r);
        assert_int_equal(r, -EBADMSG);
        free(out);

        /* Nothing left to read is an error, not an empty value. */
        assert_true(sd_bus_message_skip(m, "s") >= 0);
        out = capture_json(m, ctl_json_write_value, &r);
        assert_int_equal(r, -EBADMSG);
        free(out);
        sd_bus_message_unref(m);
}

static void test_json_struct_array(void **state) {
        static const char * const fields[] = { "sheet", "state", "stage", "instance", "attempts",
                                               "started_at", "completed_at" };
        sd_bus_message *m = new_message(state);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert_true(sd_bus_message_append(m, "a(usuuutt)", 2,
                                          1, "completed", 1, 1, 1, (uint64_t) 10, (uint64_t) 20,
                                          2, "in_progress", 2, 3, 2, (uint64_t) 30, (uint64_t) 0) >= 0);
        assert_true(sd_bus_message_append(m, "a(su)", 1, "x", 1) >= 0);
        assert_true(sd_bus_message_append(m, "a(su)", 0) >= 0);
        seal(m);

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_json_write_struct_array(f, m, "(usuuutt)", fields, ELEMENTSOF(fields)), 0);
        /* Fewer names than members: refused rather than silently dropped. */
        assert_true(ctl_json_write_struct_array(f, m, "(su)", fields, 1) < 0);
        assert_int_equal(fclose(f), 0);
        assert_true(startswith(buf,
                "[{\"sheet\":1,\"state\":\"completed\",\"stage\":1,\"instance\":1,\"attempts\":1,"
                "\"started_at\":10,\"completed_at\":20},"
                "{\"sheet\":2,\"state\":\"in_progress\",\"stage\":2,\"instance\":3,\"attempts\":2,"
                "\"started_at\":30,\"completed_at\":0}]"));
        free(buf);

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_json_write_struct_array(f, m, "su", fields, 2), -EINVAL);
        assert_int_equal(fclose(f), 0);
        free(buf);
        sd_bus_message_unref(m);
}

static void test_json_double(void **state) {
        (void) state;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        ctl_json_write_double(f, 0.1);
        fputc(' ', f);
        ctl_json_write_double(f, 1.0 / 3.0);
        fputc(' ', f);
        ctl_json_write_double(f, 12.5);
        fputc(' ', f);
        ctl_json_write_double(f, INFINITY);
        fputc(' ', f);
        ctl_json_write_double(f, -2);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf, "0.1 0.3333333333333333 12.5 null -2");
        free(buf);
}

static void test_dict_read(void **state) {
        sd_bus_message *m = new_message(state);
        CtlDict *d = NULL;
        const CtlDictEntry *e;
        char *s;

        assert_true(sd_bus_message_append(m, "a{sv}", 9,
                                          "name", "s", "he\033llo",
                                          "created_at", "t", (uint64_t) 1795290002 * USEC_PER_SEC,
                                          "finished_at", "t", (uint64_t) 0,
                                          "uptime_seconds", "t", (uint64_t) 63,
                                          "cpu_percent", "d", 12.25,
                                          "memory_mb", "d", 3.0,
                                          "dependencies", "au", 2, 1, 2,
                                          "is_alive", "b", 1,
                                          "exit_code", "i", -1) >= 0);
        assert_true(sd_bus_message_append(m, "a{sv}", 1, "x", "aa{sv}", 1, 1, "k", "s", "v") >= 0);
        assert_true(sd_bus_message_append(m, "as", 0) >= 0);
        seal(m);

        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();
        assert_int_equal(ctl_dict_read(m, &d), 0);
        assert_int_equal(d->n, 9);
        assert_string_equal(ctl_dict_string(d, "name"), "he?llo");
        assert_null(ctl_dict_string(d, "missing"));
        assert_int_equal(ctl_dict_u64(d, "missing"), 0);
        assert_int_equal(ctl_dict_u64(d, "uptime_seconds"), 63);
        assert_string_equal(ctl_dict_string(d, "dependencies"), "1, 2");
        assert_string_equal(ctl_dict_string(d, "is_alive"), "yes");
        assert_int_equal(ctl_dict_u64(d, "name"), 0);   /* not a number */

        e = ctl_dict_get(d, "exit_code");
        assert_non_null(e);
        assert_string_equal(e->text, "-1");
        assert_true(e->d == -1.0);

        s = ctl_dict_format_value(ctl_dict_get(d, "created_at"));
        assert_string_equal(s, "2026-11-21 19:40:02");
        free(s);
        s = ctl_dict_format_value(ctl_dict_get(d, "finished_at"));
        assert_string_equal(s, "n/a");
        free(s);
        s = ctl_dict_format_value(ctl_dict_get(d, "uptime_seconds"));
        assert_string_equal(s, "1min 3s");
        free(s);
        s = ctl_dict_format_value(ctl_dict_get(d, "cpu_percent"));
        assert_string_equal(s, "12.2%");
        free(s);
        s = ctl_dict_format_value(ctl_dict_get(d, "memory_mb"));
        assert_string_equal(s, "3.0 MB");
        free(s);
        ctl_dict_free(d);

        /* Nested containers are shown as JSON. */
        assert_int_equal(ctl_dict_read(m, &d), 0);
        assert_string_equal(ctl_dict_string(d, "x"), "[{\"k\":\"v\"}]");
        ctl_dict_free(d);

        /* Not a dictionary: refused. */
        assert_true(ctl_dict_read(m, &d) < 0);
        sd_bus_message_unref(m);
}

static void test_dict_print(void **state) {
        sd_bus_message *m = new_message(state);
        CtlDict *d = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert_true(sd_bus_message_append(m, "a{sv}", 3,
                                          "pid", "u", 42,
                                          "stdout_tail", "s", "skipped",
                                          "state_dir", "s", "/var/lib/marianne\nsecond line") >= 0);
        seal(m);
        assert_int_equal(ctl_dict_read(m, &d), 0);

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_dict_print(d, f, (char *[]) { (char *) "stdout_tail", NULL }), 0);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(buf,
                            "      Pid: 42\n"
                            "State dir: /var/lib/marianne\n"
                            "           second line\n");
        free(buf);
        ctl_dict_free(d);
        sd_bus_message_unref(m);
}

static void test_usage_format(void **state) {
        static const struct {
                double usd;
                const char *text;
        } costs[] = {
                { 0.0123, "$0.0123 (estimated)" },
                { 0, "$0.0000 (estimated)" },
                { 0.99996, "$1.0000 (estimated)" },
                { 1, "$1.00 (estimated)" },
                { 1234.567, "$1234.57 (estimated)" },
        };
        char *t;

        (void) state;
        t = ctl_format_tokens(1234, 567);
        assert_string_equal(t, "1234 in, 567 out");
        free(t);
        t = ctl_format_tokens(0, UINT64_MAX);
        assert_string_equal(t, "0 in, 18446744073709551615 out");
        free(t);

        for (size_t i = 0; i < ELEMENTSOF(costs); i++) {
                t = ctl_format_cost(costs[i].usd);
                assert_string_equal(t, costs[i].text);
                free(t);
        }
        t = ctl_format_cost(NAN);
        assert_non_null(t);
        free(t);

        t = ctl_format_percent(100.0);
        assert_string_equal(t, "100%");
        free(t);
        t = ctl_format_percent(0);
        assert_string_equal(t, "0%");
        free(t);
        t = ctl_format_percent(200.0 / 3.0);
        assert_string_equal(t, "66.7%");
        free(t);
        t = ctl_format_percent(INFINITY);
        assert_string_equal(t, "inf%");
        free(t);

        assert_string_equal(ctl_validation_words("not_run"), "not run");
        assert_string_equal(ctl_validation_words("not_applicable"), "not applicable");
        assert_string_equal(ctl_validation_words("passed"), "passed");
        assert_string_equal(ctl_validation_words(NULL), "n/a");
}

/* What validation_report_to_json() writes. */
#define VALIDATION_JSON                                                         \
        "[{\"index\":0,\"status\":\"passed\",\"description\":\"file_exists out.txt\","     \
        "\"detail\":\"file /ws/out.txt exists\"},"                                  \
        "{\"index\":1,\"status\":\"failed\",\"description\":\"Says \\\"hello\\\" \\u001b[31m\","    \
        "\"detail\":\"pattern 'hello' not found in /ws/out.txt\\nsecond line\"},"     \
        "{\"index\":3,\"status\":\"not_run\",\"description\":\"command_succeeds make check\"," \
        "\"detail\":null},"                                                         \
        "{\"index\":4,\"status\":\"not_applicable\",\"description\":null,\"detail\":\"\","  \
        "\"future_key\":[1,{\"x\":true}]}]"

static void test_parse_validations(void **state) {
        static const char * const bad[] = {
                "",
                "{}",
                "[1]",
                "[{\"index\":0}]",                                   /* no status */
                "[{\"index\":-1,\"status\":\"passed\"}]",
                "[{\"index\":4294967296,\"status\":\"passed\"}]",
                "[{\"index\":\"0\",\"status\":\"passed\"}]",
                "[{\"index\":0,\"status\":1}]",
                "[{\"index\":0,\"status\":\"passed\",\"detail\":{}}]",
                "[{\"index\":0,\"status\":\"passed\"}] trailing",
                "[{\"index\":0,\"status\":\"passed\"}",
        };
        CtlValidation *v = NULL;
        size_t n = 99;

        (void) state;
        assert_int_equal(ctl_json_parse_validations(VALIDATION_JSON, &v, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(v[0].index, 0);
        assert_string_equal(v[0].status, "passed");
        assert_string_equal(v[0].description, "file_exists out.txt");
        assert_string_equal(v[0].detail, "file /ws/out.txt exists");
        assert_int_equal(v[1].index, 1);
        assert_string_equal(v[1].status, "failed");
        assert_string_equal(v[1].description, "Says \"hello\" \033[31m");   /* as sent: not sanitized here */
        assert_string_equal(v[1].detail, "pattern 'hello' not found in /ws/out.txt\nsecond line");
        assert_int_equal(v[2].index, 3);
        assert_string_equal(v[2].status, "not_run");
        assert_null(v[2].detail);
        assert_int_equal(v[3].index, 4);
        assert_null(v[3].description);
        assert_string_equal(v[3].detail, "");
        ctl_validations_free(v, n);

        assert_int_equal(ctl_json_parse_validations(" [ ] ", &v, &n), 0);
        assert_int_equal(n, 0);
        assert_null(v);
        ctl_validations_free(NULL, 0);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = NULL;
                n = 99;
                if (ctl_json_parse_validations(bad[i], &v, &n) != -EBADMSG)
                        fail_msg("'%s' was accepted", bad[i]);
                assert_null(v);
                assert_int_equal(n, 99);
        }
        assert_int_equal(ctl_json_parse_validations(NULL, &v, &n), -EINVAL);
}

/* What 'mariannectl sheet' prints for a GetSheet dictionary. */
static char *capture_sheet(void **state, sd_bus_message *m) {
        CtlDict *d = NULL;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        (void) state;
        seal(m);
        assert_int_equal(ctl_dict_read(m, &d), 0);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_print_sheet_details(d, f), 0);
        assert_int_equal(ctl_print_validations(d, f), 0);
        assert_int_equal(fclose(f), 0);
        ctl_dict_free(d);
        sd_bus_message_unref(m);
        return buf;
}

static void test_sheet_details(void **state) {
        sd_bus_message *m = new_message(state);
        char *out;

        assert_non_null(setlocale(LC_ALL, "C"));
        assert_true(sd_bus_message_append(m, "a{sv}", 16,
                                          "sheet_num", "u", 2,
                                          "status", "s", "failed",
                                          "attempt_count", "u", 3,
                                          "instrument", "s", "claude",
                                          "instrument_index", "u", 1,
                                          "completion_attempts", "u", 2,
                                          "rate_limit_waits", "u", 1,
                                          "validation_passed", "b", 0,
                                          "validation_details", "s", VALIDATION_JSON,
                                          "passed_validations", "u", 1,
                                          "failed_validations", "u", 1,
                                          "last_pass_percentage", "d", 50.0,
                                          "input_tokens", "t", (uint64_t) 1234,
                                          "output_tokens", "t", (uint64_t) 567,
                                          "cost_usd", "d", 0.0123,
                                          "stdout_tail", "s", "shown elsewhere") >= 0);
        out = capture_sheet(state, m);
        assert_string_equal(out,
                            "          Sheet num: 2\n"
                            "             Status: failed\n"
                            "      Attempt count: 3\n"
                            "         Instrument: claude (fallback 1)\n"
                            "Completion attempts: 2\n"
                            "   Rate-limit waits: 1\n"
                            "  Validation passed: no\n"
                            "             Tokens: 1234 in, 567 out\n"
                            "               Cost: $0.0123 (estimated)\n"
                            "\n"
                            "Validations:\n"
                            "    [passed] file_exists out.txt\n"
                            "      file /ws/out.txt exists\n"
                            "    [failed] Says \"hello\" ?[31m\n"
                            "      pattern 'hello' not found in /ws/out.txt\n"
                            "      second line\n"
                            "    [not run] command_succeeds make check\n"
                            "    [not applicable] validation 5\n"
                            "    1 of 2 passed (50%)\n");
        free(out);

        /* The primary instrument, no rate-limit wait, no tokens or cost
         * reported, a score without validations: none of their lines. */
        m = new_message(state);
        assert_true(sd_bus_message_append(m, "a{sv}", 8,
                                          "sheet_num", "u", 1,
                                          "instrument", "s", "cli",
                                          "instrument_index", "u", 0,
                                          "completion_attempts", "u", 0,
                                          "rate_limit_waits", "u", 0,
                                          "validation_passed", "b", 1,
                                          "validation_details", "s", "[]",
                                          "last_pass_percentage", "d", 100.0) >= 0);
        out = capture_sheet(state, m);
        assert_string_equal(out,
                            "           Sheet num: 1\n"
                            "          Instrument: cli\n"
                            " Completion attempts: 0\n"
                            "   Validation passed: yes\n"
                            "Last pass percentage: 100.0%\n");
        free(out);

        /* Before the first attempt: no validation results at all. */
        m = new_message(state);
        assert_true(sd_bus_message_append(m, "a{sv}", 3,
                                          "sheet_num", "u", 4,
                                          "passed_validations", "u", 0,
                                          "failed_validations", "u", 0) >= 0);
        out = capture_sheet(state, m);
        assert_string_equal(out,
                            "         Sheet num: 4\n"
                            "Passed validations: 0\n"
                            "Failed validations: 0\n");
        free(out);

        /* Details from a conductor that writes something else: shown raw. */
        m = new_message(state);
        assert_true(sd_bus_message_append(m, "a{sv}", 3,
                                          "validation_details", "s", "{\"v\":2}",
                                          "passed_validations", "u", 0,
                                          "failed_validations", "u", 0) >= 0);
        out = capture_sheet(state, m);
        assert_string_equal(out,
                            "\n"
                            "Validations:\n"
                            "    {\"v\":2}\n"
                            "    None applied.\n");
        free(out);

        /* Marks in a UTF-8 locale. */
        if (!setlocale(LC_ALL, "C.UTF-8")) {
                print_message("C.UTF-8 locale missing, marks not checked\n");
                return;
        }
        m = new_message(state);
        assert_true(sd_bus_message_append(m, "a{sv}", 3,
                                          "validation_details", "s", VALIDATION_JSON,
                                          "passed_validations", "u", 1,
                                          "failed_validations", "u", 2) >= 0);
        out = capture_sheet(state, m);
        assert_string_equal(out,
                            "\n"
                            "Validations:\n"
                            "    \u2713 file_exists out.txt\n"
                            "      file /ws/out.txt exists\n"
                            "    \u2717 Says \"hello\" ?[31m\n"
                            "      pattern 'hello' not found in /ws/out.txt\n"
                            "      second line\n"
                            "    \u2013 command_succeeds make check (not run)\n"
                            "    \u2013 validation 5 (not applicable)\n"
                            "    1 of 3 passed (33.3%)\n");
        free(out);
        assert_non_null(setlocale(LC_ALL, "C"));
}

static void test_fields_print(void **state) {
        CtlFields l = {};
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        (void) state;
        assert_int_equal(ctl_fields_add_take(&l, strdup("Tokens"), strdup("1 in, 2 out")), 0);
        assert_int_equal(ctl_fields_add_take(&l, strdup("Ünïcode"), strdup("a\nb")), 0);
        assert_int_equal(ctl_fields_add_take(&l, NULL, strdup("x")), -ENOMEM);
        assert_int_equal(ctl_fields_add_take(&l, strdup("x"), NULL), -ENOMEM);
        assert_int_equal(l.n, 2);
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(ctl_fields_print(&l, f), 0);
        assert_int_equal(fclose(f), 0);
        /* aligned by characters, not bytes */
        assert_string_equal(buf,
                            " Tokens: 1 in, 2 out\n"
                            "Ünïcode: a\n"
                            "         b\n");
        free(buf);
        ctl_fields_done(&l);
        assert_int_equal(l.n, 0);
        ctl_fields_done(&l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timestamp),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_exit_codes),
                cmocka_unit_test(test_text_helpers),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_json_double),
                cmocka_unit_test_setup_teardown(test_json_dict, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_json_wrong_type, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_json_struct_array, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_dict_read, setup_bus, teardown_bus),
                cmocka_unit_test_setup_teardown(test_dict_print, setup_bus, teardown_bus),
                cmocka_unit_test(test_usage_format),
                cmocka_unit_test(test_parse_validations),
                cmocka_unit_test(test_fields_print),
                cmocka_unit_test_setup_teardown(test_sheet_details, setup_bus, teardown_bus),
        };

        /* The marks and colors depend on the terminal: none here. */
        assert_int_equal(setenv("NO_COLOR", "1", 1), 0);

        return cmocka_run_group_tests(tests, NULL, NULL);
}

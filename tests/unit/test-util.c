/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "macro.h"

static void test_utf8(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        (void) state;
        assert_true(utf8_is_valid(""));
        assert_true(utf8_is_valid("plain ascii"));
        assert_true(utf8_is_valid("état → ✓ 🎻"));
        assert_false(utf8_is_valid("\xff"));
        assert_false(utf8_is_valid("cut \xe2\x86"));           /* a sequence cut short */
        assert_false(utf8_is_valid("\xc0\xaf"));               /* overlong '/' */
        assert_false(utf8_is_valid("\xed\xa0\x80"));           /* a surrogate */
        assert_false(utf8_is_valid("\xf4\x90\x80\x80"));       /* past U+10FFFF */

        a = utf8_make_valid("ok \xff end");
        assert_string_equal(a, "ok \xef\xbf\xbd end");
        b = utf8_make_valid("cut \xe2\x86");
        assert_string_equal(b, "cut \xef\xbf\xbd\xef\xbf\xbd");
        c = utf8_make_valid("état ✓");
        assert_string_equal(c, "état ✓");
        assert_true(utf8_is_valid(a) && utf8_is_valid(b));
}

static void test_read_full_stream(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int fds[2];

        (void) state;
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(write(fds[1], "hello", 5), 5);
        assert_int_equal(close(fds[1]), 0);
        assert_int_equal(read_full_stream(fds[0], 100, &text, &n), 0);
        assert_int_equal(n, 5);
        assert_string_equal(text, "hello");
        assert_int_equal(close(fds[0]), 0);

        /* over the bound */
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(write(fds[1], "0123456789", 10), 10);
        assert_int_equal(close(fds[1]), 0);
        free(text);
        text = NULL;
        assert_int_equal(read_full_stream(fds[0], 4, &text, &n), -EFBIG);
        assert_null(text);
        assert_int_equal(close(fds[0]), 0);

        /* read_full_fd refuses what is not a regular file */
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(read_full_fd(fds[0], 100, &text, &n), -EINVAL);
        assert_int_equal(close(fds[0]), 0);
        assert_int_equal(close(fds[1]), 0);
        assert_int_equal(read_full_file("/", 100, &text, &n), -EISDIR);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_read_full_stream),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

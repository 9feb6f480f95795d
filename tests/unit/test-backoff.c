/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "backoff.h"

static void test_exponential(void **state) {
        ScoreRetry r = { .max_retries = 5, .base_delay_seconds = 10, .exponential_base = 2, .max_delay_seconds = 3600 };

        (void) state;
        assert_int_equal(retry_delay_usec(&r, 1, 0.5), 10 * USEC_PER_SEC);
        assert_int_equal(retry_delay_usec(&r, 2, 0.5), 20 * USEC_PER_SEC);
        assert_int_equal(retry_delay_usec(&r, 3, 0.5), 40 * USEC_PER_SEC);
        assert_int_equal(retry_delay_usec(&r, 0, 0.5), 10 * USEC_PER_SEC);
}

static void test_cap(void **state) {
        ScoreRetry r = { .base_delay_seconds = 10, .exponential_base = 2, .max_delay_seconds = 30 };

        (void) state;
        assert_int_equal(retry_delay_usec(&r, 3, 0), 30 * USEC_PER_SEC);
        assert_int_equal(retry_delay_usec(&r, 400, 0), 30 * USEC_PER_SEC);
        /* an overflowing power is capped too */
        r.exponential_base = 1e308;
        assert_int_equal(retry_delay_usec(&r, 5, 0), 30 * USEC_PER_SEC);
}

static void test_jitter(void **state) {
        ScoreRetry r = { .base_delay_seconds = 10, .exponential_base = 2, .max_delay_seconds = 3600, .jitter = true };

        (void) state;
        assert_int_equal(retry_delay_usec(&r, 1, 0.0), 8 * USEC_PER_SEC);
        assert_int_equal(retry_delay_usec(&r, 1, 0.5), 10 * USEC_PER_SEC);
        assert_true(retry_delay_usec(&r, 1, 0.999) < 12 * USEC_PER_SEC);
        assert_true(retry_delay_usec(&r, 1, 0.999) > 11 * USEC_PER_SEC);
        /* jitter never exceeds the cap */
        r.max_delay_seconds = 10;
        assert_int_equal(retry_delay_usec(&r, 1, 0.999), 10 * USEC_PER_SEC);
}

static void test_degenerate(void **state) {
        ScoreRetry r = { .base_delay_seconds = 0, .exponential_base = 2 };

        (void) state;
        assert_int_equal(retry_delay_usec(&r, 3, 0.5), 0);
        r.base_delay_seconds = -5;
        assert_int_equal(retry_delay_usec(&r, 1, 0.5), 0);
        r.base_delay_seconds = 1;
        r.exponential_base = 0;  /* treated as constant delay */
        assert_int_equal(retry_delay_usec(&r, 4, 0.5), USEC_PER_SEC);
        r.max_delay_seconds = 0; /* no cap */
        r.exponential_base = 10;
        assert_int_equal(retry_delay_usec(&r, 3, 0.5), 100 * USEC_PER_SEC);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exponential),
                cmocka_unit_test(test_cap),
                cmocka_unit_test(test_jitter),
                cmocka_unit_test(test_degenerate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

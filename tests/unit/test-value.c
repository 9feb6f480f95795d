/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "value.h"

static void check_string(Value *v, const char *expected) {
        _cleanup_value_free_ Value *owned = v;
        _cleanup_free_ char *s = NULL;

        assert_non_null(v);
        assert_int_equal(value_to_string(v, &s), 0);
        assert_string_equal(s, expected);
}

static void test_scalars(void **state) {
        (void) state;

        check_string(value_new_null(), "None");
        check_string(value_new_bool(true), "True");
        check_string(value_new_bool(false), "False");
        check_string(value_new_int(0), "0");
        check_string(value_new_int(-42), "-42");
        check_string(value_new_int(INT64_MAX), "9223372036854775807");
        check_string(value_new_int(INT64_MIN), "-9223372036854775808");
        check_string(value_new_string(""), "");
        check_string(value_new_string("it's raw"), "it's raw");
}

static void test_floats(void **state) {
        (void) state;

        /* Python repr() of the same doubles */
        check_string(value_new_float(1.0), "1.0");
        check_string(value_new_float(0.1), "0.1");
        check_string(value_new_float(2.5), "2.5");
        check_string(value_new_float(-0.5), "-0.5");
        check_string(value_new_float(1.0 / 3.0), "0.3333333333333333");
        check_string(value_new_float(0.1 + 0.2), "0.30000000000000004");
        check_string(value_new_float(100.0), "100.0");
        check_string(value_new_float(1e15), "1000000000000000.0");
        check_string(value_new_float(1e16), "1e+16");
        check_string(value_new_float(1.5e300), "1.5e+300");
        check_string(value_new_float(0.0001), "0.0001");
        check_string(value_new_float(0.00001), "1e-05");
        check_string(value_new_float(123456.789), "123456.789");
        check_string(value_new_float(INFINITY), "inf");
        check_string(value_new_float(-INFINITY), "-inf");
        check_string(value_new_float(NAN), "nan");
}

static void test_containers(void **state) {
        _cleanup_value_free_ Value *l = value_new_list(), *m = value_new_map(), *copy = NULL;
        _cleanup_free_ char *s = NULL, *s2 = NULL;
        Value *inner;

        (void) state;

        assert_non_null(l);
        assert_int_equal(value_list_append(l, value_new_string("a")), 0);
        assert_int_equal(value_list_append(l, value_new_int(1)), 0);
        assert_int_equal(value_list_append(l, value_new_null()), 0);
        assert_int_equal(value_list_append(l, value_new_bool(true)), 0);
        assert_int_equal(value_list_append(l, value_new_string("it's")), 0);
        assert_int_equal(value_list_append(l, value_new_string("q'\"\\\n")), 0);
        assert_int_equal(value_to_string(l, &s), 0);
        assert_string_equal(s, "['a', 1, None, True, \"it's\", 'q\\'\"\\\\\\n']");

        assert_non_null(m);
        assert_int_equal(value_map_set(m, "k", value_new_string("v")), 0);
        assert_int_equal(value_map_set(m, "n", value_new_float(2.0)), 0);
        inner = value_new_list();
        assert_int_equal(value_map_set(m, "l", inner), 0);
        assert_int_equal(value_list_append(inner, value_new_map()), 0);
        assert_int_equal(value_map_set(m, "k", value_new_string("w")), 0);  /* replace keeps position */
        assert_int_equal(m->map.n, 3);
        free(s);
        s = NULL;
        assert_int_equal(value_to_string(m, &s), 0);
        assert_string_equal(s, "{'k': 'w', 'n': 2.0, 'l': [{}]}");

        copy = value_copy(m);
        assert_non_null(copy);
        assert_ptr_not_equal(copy, m);
        assert_int_equal(value_to_string(copy, &s2), 0);
        assert_string_equal(s, s2);
        assert_string_equal(value_map_get(copy, "k")->s, "w");
        assert_null(value_map_get(copy, "missing"));
        assert_null(value_map_get(l, "k"));
}

static void test_errors(void **state) {
        _cleanup_value_free_ Value *i = value_new_int(1), *m = value_new_map(), *l = value_new_list();
        char *s = NULL;

        (void) state;

        /* ownership is taken even on failure: no leak under valgrind */
        assert_int_equal(value_list_append(i, value_new_int(2)), -EINVAL);
        assert_int_equal(value_map_set(i, "x", value_new_int(2)), -EINVAL);
        assert_int_equal(value_map_set(m, NULL, value_new_int(2)), -EINVAL);
        assert_int_equal(value_list_append(l, NULL), -EINVAL);
        assert_int_equal(value_map_set(m, "x", NULL), -EINVAL);
        assert_int_equal(value_to_string(NULL, &s), -EINVAL);
        assert_null(value_new_string(NULL));
        assert_null(value_new_string_take(NULL));
        assert_null(value_copy(NULL));
        value_free(NULL);

        assert_string_equal(value_type_to_string(VALUE_MAP), "map");
        assert_string_equal(value_type_to_string(VALUE_NULL), "null");
        assert_null(value_type_to_string((ValueType) 99));
}

static void test_take(void **state) {
        char *s = strdup("taken");
        Value *v;

        (void) state;
        assert_non_null(s);
        v = value_new_string_take(s);
        assert_non_null(v);
        assert_ptr_equal(v->s, s);
        check_string(v, "taken");
}

static void test_typed_keys(void **state) {
        _cleanup_value_free_ Value *m = value_new_map(), *copy = NULL;
        _cleanup_free_ char *s = NULL;
        Value k_int = { .type = VALUE_INT, .i = 1 }, k_float = { .type = VALUE_FLOAT, .f = 1.0 },
                k_true = { .type = VALUE_BOOL, .b = true }, k_str = { .type = VALUE_STRING, .s = (char *) "1" };

        (void) state;

        /* YAML "1:" and "'1':" are different keys, as in Python */
        assert_non_null(m);
        assert_int_equal(value_map_set_key(m, value_new_int(1), value_new_string("int")), 0);
        assert_int_equal(value_map_set(m, "1", value_new_string("str")), 0);
        assert_int_equal(value_map_set_key(m, value_new_null(), value_new_int(0)), 0);
        assert_int_equal(m->map.n, 3);
        assert_string_equal(value_map_get_key(m, &k_int)->s, "int");
        assert_string_equal(value_map_get_key(m, &k_float)->s, "int");     /* 1 == 1.0 == True */
        assert_string_equal(value_map_get_key(m, &k_true)->s, "int");
        assert_string_equal(value_map_get_key(m, &k_str)->s, "str");
        assert_string_equal(value_map_get(m, "1")->s, "str");

        /* an equal key keeps its place and its first key object */
        assert_int_equal(value_map_set_key(m, value_new_bool(true), value_new_string("again")), 0);
        assert_int_equal(m->map.n, 3);
        assert_int_equal(m->map.keys[0]->type, VALUE_INT);
        assert_int_equal(value_to_string(m, &s), 0);
        assert_string_equal(s, "{1: 'again', '1': 'str', None: 0}");

        copy = value_copy(m);
        assert_non_null(copy);
        assert_int_equal(copy->map.keys[0]->type, VALUE_INT);
        assert_string_equal(value_map_get_key(copy, &k_int)->s, "again");

        /* containers are not keys; ownership is taken anyway */
        assert_int_equal(value_map_set_key(m, value_new_list(), value_new_int(1)), -EINVAL);
        assert_int_equal(value_map_set_key(m, NULL, value_new_int(1)), -EINVAL);
        assert_null(value_map_get_key(m, NULL));
        assert_true(value_scalar_equal(&k_int, &k_true));
        assert_false(value_scalar_equal(&k_int, &k_str));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_floats),
                cmocka_unit_test(test_containers),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_take),
                cmocka_unit_test(test_typed_keys),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mysql_values.c: the conversions of the mysql sink, without a
 * server: PostgreSQL booleans, zoned timestamps and times to UTC (across
 * days, months, years and leap days, with minute and second offsets),
 * bytea in both its forms, base64 of MySQL binary types, arrays to JSON
 * arrays, NaN and infinities refused for number columns and kept for
 * text ones, infinite dates refused for date columns, and values that
 * pass unchanged.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "sinks/sink_int.h"

#include <string.h>

/* The converted value as a C string (bytes shown as they are, which the
 * tests below keep printable or compare with memcmp). */
static char last[4096];
static size_t last_len;
static enum sink_my_form last_form;

static int conv(const char *source, const char *type, const char *value,
                enum sink_my_class cls)
{
    struct cdc_buf out;
    struct cdc_err err;
    cdc_buf_init(&out, 0);
    cdc_err_clear(&err);
    int rc = sink__my_value(source, type, value, strlen(value), cls, &out,
                            &last_form, &err);
    last_len = out.len;
    memcpy(last, out.data ? out.data : "", out.len);
    last[out.len] = '\0';
    if (rc != CDC_OK) {
        assert_true(err.flags & CDC_ERR_POISON);
        snprintf(last, sizeof(last), "ERROR %s", err.msg);
    }
    cdc_buf_release(&out);
    return rc;
}

/* The value converted from PostgreSQL for a column of class cls. */
static const char *pg(const char *type, const char *value,
                      enum sink_my_class cls)
{
    conv("postgres", type, value, cls);
    return last;
}

static void test_bool(void **state)
{
    (void)state;
    assert_string_equal(pg("bool", "t", SINK_MY_NUMBER), "1");
    assert_string_equal(pg("bool", "f", SINK_MY_NUMBER), "0");
    assert_string_equal(pg("boolean", "true", SINK_MY_OTHER), "1");
    assert_string_equal(pg("BOOLEAN", "false", SINK_MY_NUMBER), "0");
    assert_int_equal(last_form, SINK_MY_STRING);
}

static void test_timestamptz_to_utc(void **state)
{
    (void)state;
    const enum sink_my_class T = SINK_MY_TEMPORAL;
    assert_string_equal(pg("timestamptz", "2024-01-01 10:00:00.123+02", T),
                        "2024-01-01 08:00:00.123");
    assert_string_equal(
        pg("timestamp with time zone", "2024-01-01 01:30:00+05:30", T),
        "2023-12-31 20:00:00");
    assert_string_equal(
        pg("timestamp(3) with time zone", "2023-12-31 23:59:59.999999-01", T),
        "2024-01-01 00:59:59.999999");
    /* a leap day, backwards and forwards */
    assert_string_equal(pg("timestamptz", "2024-03-01 00:30:00+01", T),
                        "2024-02-29 23:30:00");
    assert_string_equal(pg("timestamptz", "2023-03-01 00:30:00+01", T),
                        "2023-02-28 23:30:00");
    assert_string_equal(pg("timestamptz", "2024-02-28 23:00:00-02", T),
                        "2024-02-29 01:00:00");
    /* local mean time offsets have seconds */
    assert_string_equal(pg("timestamptz", "1900-01-01 00:00:00+00:19:32", T),
                        "1899-12-31 23:40:28");
    assert_string_equal(pg("timestamptz", "2024-06-30 12:00:00+00", T),
                        "2024-06-30 12:00:00");
    assert_string_equal(pg("timestamptz", "2024-06-30T12:00:00Z", T),
                        "2024-06-30 12:00:00");
    /* MySQL's timestamp with its zone, and a datetime without one */
    conv("mysql", "timestamp", "2024-01-01 10:00:00+00", T);
    assert_string_equal(last, "2024-01-01 10:00:00");
    conv("mysql", "datetime(6)", "2024-01-02 03:04:05.678000", T);
    assert_string_equal(last, "2024-01-02 03:04:05.678000");
    /* without a zone: as it is */
    assert_string_equal(pg("timestamp", "2024-01-02 03:04:05.678901", T),
                        "2024-01-02 03:04:05.678901");
    assert_string_equal(
        pg("timestamp without time zone", "1999-12-31 23:59:59", T),
        "1999-12-31 23:59:59");
    /* something else: the server judges it */
    assert_string_equal(pg("timestamptz", "not a time", SINK_MY_OTHER),
                        "not a time");
}

static void test_infinite_times(void **state)
{
    (void)state;
    assert_int_equal(
        conv("postgres", "timestamptz", "infinity", SINK_MY_TEMPORAL),
        CDC_EPROTO);
    assert_non_null(strstr(last, "infinite"));
    assert_int_equal(
        conv("postgres", "timestamp", "-infinity", SINK_MY_TEMPORAL),
        CDC_EPROTO);
    assert_int_equal(conv("postgres", "timestamp", "0044-03-15 12:00:00 BC",
                          SINK_MY_TEMPORAL),
                     CDC_EPROTO);
    assert_int_equal(conv("postgres", "date", "infinity", SINK_MY_TEMPORAL),
                     CDC_EPROTO);
    assert_int_equal(
        conv("postgres", "date", "0001-01-01 BC", SINK_MY_TEMPORAL),
        CDC_EPROTO);
    /* into a text column they are just text */
    assert_string_equal(pg("date", "infinity", SINK_MY_OTHER), "infinity");
    assert_string_equal(pg("timestamptz", "-infinity", SINK_MY_OTHER),
                        "-infinity");
    assert_string_equal(pg("date", "2024-02-29", SINK_MY_TEMPORAL),
                        "2024-02-29");
}

static void test_timetz(void **state)
{
    (void)state;
    assert_string_equal(pg("timetz", "12:00:00+05:30", SINK_MY_OTHER),
                        "06:30:00");
    assert_string_equal(
        pg("time with time zone", "01:00:00.25+02", SINK_MY_OTHER),
        "23:00:00.25");
    assert_string_equal(pg("timetz", "23:30:00-01", SINK_MY_OTHER), "00:30:00");
    assert_string_equal(pg("time", "23:59:59.999999", SINK_MY_OTHER),
                        "23:59:59.999999");
}

static void test_numbers(void **state)
{
    (void)state;
    const char *types[] = {"numeric", "numeric(10,2)", "float4",
                           "float8",  "real",          "double precision"};
    const char *bad[] = {"NaN", "Infinity", "-Infinity", "inf", "-inf"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            assert_int_equal(conv("postgres", types[i], bad[j], SINK_MY_NUMBER),
                             CDC_EPROTO);
            assert_non_null(strstr(last, "NaN or an infinity"));
            /* a text column takes them as text */
            assert_string_equal(pg(types[i], bad[j], SINK_MY_OTHER), bad[j]);
        }
    }
    assert_string_equal(
        pg("numeric", "123456789012345678901234567890.123456789012345678901",
           SINK_MY_NUMBER),
        "123456789012345678901234567890.123456789012345678901");
    assert_string_equal(pg("float4", "3.4028235e+38", SINK_MY_NUMBER),
                        "3.4028235e+38");
    assert_string_equal(pg("float8", "-0", SINK_MY_NUMBER), "-0");
    assert_string_equal(pg("int8", "9223372036854775807", SINK_MY_NUMBER),
                        "9223372036854775807");
    conv("mysql", "bigint unsigned", "18446744073709551615", SINK_MY_NUMBER);
    assert_string_equal(last, "18446744073709551615");
}

static void test_bytea(void **state)
{
    (void)state;
    assert_int_equal(conv("postgres", "bytea", "\\x00ff10", SINK_MY_OTHER),
                     CDC_OK);
    assert_int_equal(last_form, SINK_MY_BYTES);
    assert_int_equal(last_len, 3);
    assert_memory_equal(last, "\x00\xff\x10", 3);
    assert_int_equal(conv("postgres", "bytea", "\\x", SINK_MY_OTHER), CDC_OK);
    assert_int_equal(last_len, 0);
    assert_int_equal(last_form, SINK_MY_BYTES);
    /* the escape form */
    assert_int_equal(
        conv("postgres", "bytea", "a\\000b\\\\c\\377", SINK_MY_OTHER), CDC_OK);
    assert_int_equal(last_len, 6);
    assert_memory_equal(last, "a\0b\\c\xff", 6);
    assert_int_equal(conv("postgres", "bytea", "\\x0", SINK_MY_OTHER),
                     CDC_EPROTO);
    assert_int_equal(conv("postgres", "bytea", "\\xzz", SINK_MY_OTHER),
                     CDC_EPROTO);
    assert_int_equal(conv("postgres", "bytea", "a\\9", SINK_MY_OTHER),
                     CDC_EPROTO);
}

static void test_base64(void **state)
{
    (void)state;
    assert_int_equal(conv("mysql", "blob", "AP8Q", SINK_MY_OTHER), CDC_OK);
    assert_int_equal(last_form, SINK_MY_BYTES);
    assert_int_equal(last_len, 3);
    assert_memory_equal(last, "\x00\xff\x10", 3);
    assert_int_equal(conv("mysql", "varbinary(16)", "aGk=", SINK_MY_OTHER),
                     CDC_OK);
    assert_string_equal(last, "hi");
    assert_int_equal(conv("mysql", "binary(2)", "aGk", SINK_MY_OTHER), CDC_OK);
    assert_string_equal(last, "hi");
    assert_int_equal(conv("mysql", "longblob", "", SINK_MY_OTHER), CDC_OK);
    assert_int_equal(last_len, 0);
    assert_int_equal(conv("mysql", "blob", "a$==", SINK_MY_OTHER), CDC_EPROTO);
    assert_int_equal(conv("mysql", "blob", "abcde", SINK_MY_OTHER), CDC_EPROTO);
    /* a PostgreSQL point is text, a MySQL one is bytes */
    assert_string_equal(pg("point", "(1.5,-2)", SINK_MY_OTHER), "(1.5,-2)");
    assert_int_equal(last_form, SINK_MY_STRING);
}

static void test_geometry(void **state)
{
    (void)state;
    /* POINT(1 2): the SRID (0) in four bytes, then the WKB */
    static const char wkb[] = "0101000000000000000000F03F0000000000000040";
    static const uint8_t want[] = {0, 0, 0, 0, 1, 1, 0,    0,    0,
                                   0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0,
                                   0, 0, 0, 0, 0, 0, 0x40};
    assert_int_equal(conv("mysql", "point", wkb, SINK_MY_OTHER), CDC_OK);
    assert_int_equal(last_form, SINK_MY_BYTES);
    assert_int_equal(last_len, sizeof(want));
    assert_memory_equal(last, want, sizeof(want));
    char with_srid[128];
    snprintf(with_srid, sizeof(with_srid), "SRID=4326;%s", wkb);
    assert_int_equal(conv("mysql", "geometry", with_srid, SINK_MY_OTHER),
                     CDC_OK);
    assert_int_equal(last_len, sizeof(want));
    assert_memory_equal(last, "\xe6\x10\x00\x00", 4);
    assert_memory_equal(last + 4, want + 4, sizeof(want) - 4);
    assert_int_equal(conv("mysql", "polygon", "SRID=;01", SINK_MY_OTHER),
                     CDC_EPROTO);
    assert_int_equal(conv("mysql", "point", "010", SINK_MY_OTHER), CDC_EPROTO);
    assert_int_equal(conv("mysql", "point", "0G", SINK_MY_OTHER), CDC_EPROTO);
    assert_int_equal(conv("mysql", "point", "", SINK_MY_OTHER), CDC_EPROTO);
}

static void test_arrays(void **state)
{
    (void)state;
    const enum sink_my_class O = SINK_MY_OTHER;
    assert_string_equal(pg("_int4", "{1,NULL,3}", O), "[1,null,3]");
    assert_string_equal(pg("integer[]", "{{1,2},{3,NULL}}", O),
                        "[[1,2],[3,null]]");
    assert_string_equal(pg("_int4", "{}", O), "[]");
    assert_string_equal(pg("_int4", "[0:1]={7,8}", O), "[7,8]");
    assert_string_equal(
        pg("_text", "{\"a b\",NULL,\"quote\\\"d\",\"comma,x\",\"\",\"NULL\"}",
           O),
        "[\"a b\",null,\"quote\\\"d\",\"comma,x\",\"\",\"NULL\"]");
    assert_string_equal(pg("text[]", "{ x , y z }", O), "[\"x\",\"y z\"]");
    assert_string_equal(pg("_bool", "{t,f,NULL}", O), "[true,false,null]");
    assert_string_equal(pg("_numeric", "{1.5,NaN,NULL,-0.000100}", O),
                        "[1.5,\"NaN\",null,-0.000100]");
    assert_string_equal(pg("_float8", "{1e+20,Infinity}", O),
                        "[1e+20,\"Infinity\"]");
    assert_string_equal(pg("_jsonb", "{\"{\\\"a\\\": 1}\",NULL}", O),
                        "[{\"a\": 1},null]");
    assert_string_equal(
        pg("_timestamptz", "{\"2024-01-01 00:00:00+00\",infinity}", O),
        "[\"2024-01-01 00:00:00+00\",\"infinity\"]");
    assert_string_equal(pg("_box", "{(1,1),(0,0);(2,2),(1,1)}", O),
                        "[\"(1,1),(0,0)\",\"(2,2),(1,1)\"]");
    assert_string_equal(pg("_text", "{\"back\\\\slash\",\"é\"}", O),
                        "[\"back\\\\slash\",\"é\"]");
    assert_string_equal(pg("_bytea", "{\"\\\\x01\",NULL}", O),
                        "[\"\\\\x01\",null]");
    /* an enum's array, by PostgreSQL's internal name */
    assert_string_equal(pg("_mood", "{sad,\"très bien\"}", O),
                        "[\"sad\",\"très bien\"]");
    const char *broken[] = {"{1,2",  "1,2}",   "{1,{2}",
                            "{\"a}", "{1,,2}", "{1,2}x"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        assert_int_equal(conv("postgres", "_int4", broken[i], O), CDC_EPROTO);
        assert_non_null(strstr(last, "malformed array"));
    }
}

static void test_as_it_came(void **state)
{
    (void)state;
    const enum sink_my_class O = SINK_MY_OTHER;
    assert_string_equal(pg("text", "h\xc3\xa9llo \\ 'q' \"d\"", O),
                        "h\xc3\xa9llo \\ 'q' \"d\"");
    assert_string_equal(pg("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", O),
                        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_string_equal(pg("interval", "1 year 2 mons 3 days 04:05:06.789", O),
                        "1 year 2 mons 3 days 04:05:06.789");
    assert_string_equal(pg("json", "{\"b\": 1,  \"a\": [1, 2.50]}", O),
                        "{\"b\": 1,  \"a\": [1, 2.50]}");
    assert_string_equal(pg("jsonb", "{\"k\": \"v\"}", O), "{\"k\": \"v\"}");
    assert_string_equal(pg("mood", "très bien", O), "très bien");
    assert_string_equal(pg(NULL, "anything", O), "anything");
    assert_string_equal(pg("character varying(20)", "x", O), "x");
    assert_string_equal(pg("int4", "-2147483648", SINK_MY_NUMBER),
                        "-2147483648");
    conv("mysql", "enum('a','b')", "b", O);
    assert_string_equal(last, "b");
}

static void test_classes(void **state)
{
    (void)state;
    assert_int_equal(sink__my_class("int"), SINK_MY_NUMBER);
    assert_int_equal(sink__my_class("BIGINT"), SINK_MY_NUMBER);
    assert_int_equal(sink__my_class("decimal"), SINK_MY_NUMBER);
    assert_int_equal(sink__my_class("double"), SINK_MY_NUMBER);
    assert_int_equal(sink__my_class("float"), SINK_MY_NUMBER);
    assert_int_equal(sink__my_class("datetime"), SINK_MY_TEMPORAL);
    assert_int_equal(sink__my_class("timestamp"), SINK_MY_TEMPORAL);
    assert_int_equal(sink__my_class("date"), SINK_MY_TEMPORAL);
    assert_int_equal(sink__my_class("time"), SINK_MY_OTHER);
    assert_int_equal(sink__my_class("varchar"), SINK_MY_OTHER);
    assert_int_equal(sink__my_class("longtext"), SINK_MY_OTHER);
    assert_int_equal(sink__my_class("json"), SINK_MY_OTHER);
    assert_int_equal(sink__my_class("bit"), SINK_MY_BIT);
}

static void test_bits(void **state)
{
    (void)state;
    conv("mysql", "bit(4)", "0101", SINK_MY_BIT);
    assert_string_equal(last, "0101");
    assert_int_equal(last_form, SINK_MY_BITS);
    assert_string_equal(pg("varbit", "110011", SINK_MY_BIT), "110011");
    assert_int_equal(last_form, SINK_MY_BITS);
    assert_string_equal(pg("bool", "t", SINK_MY_BIT), "1");
    assert_int_equal(last_form, SINK_MY_BITS);
    /* into anything else a bit string is text */
    assert_string_equal(pg("bit", "1010", SINK_MY_OTHER), "1010");
    assert_int_equal(last_form, SINK_MY_STRING);
    assert_int_equal(conv("postgres", "bit", "10x1", SINK_MY_BIT), CDC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_timestamptz_to_utc),
        cmocka_unit_test(test_infinite_times),
        cmocka_unit_test(test_timetz),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_bytea),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_as_it_came),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

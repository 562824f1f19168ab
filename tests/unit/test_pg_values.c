/*
 * test_pg_values.c: the conversions of the postgres sink for values from
 * the MySQL source, without a server: column classes by type OID, base64
 * binary strings, hex WKB geometry and bit strings into bytea, bit strings
 * and the zero year into numbers, 0 and 1 into booleans (other integers
 * refused), zero and impossible dates refused for date columns, times past
 * 24:00:00 or negative refused for time columns and kept for intervals,
 * and everything else (other classes, other sources) left as it came,
 * without a copy.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "sinks/sink_int.h"

#include <stdio.h>
#include <string.h>

/* The text the sink would send: the converted value, or the value itself
 * when it goes as it came; "ERROR <reason>" when it is refused. */
static char last[4096];
static size_t last_len;
static bool last_changed;

static int conv(const char *source, const char *type, const char *value,
                enum sink_pg_class cls)
{
    struct cdc_buf out;
    struct cdc_err err;
    cdc_buf_init(&out, 0);
    cdc_err_clear(&err);
    bool changed = true;
    int rc = sink__pg_value(source, type, value, strlen(value), cls, &out,
                            &changed, &err);
    last_changed = changed;
    if (rc != CDC_OK) {
        assert_int_equal(rc, CDC_EPROTO);
        assert_true(err.flags & CDC_ERR_POISON);
        snprintf(last, sizeof(last), "ERROR %s", err.msg);
        last_len = strlen(last);
    } else if (changed) {
        assert_non_null(out.data);
        assert_true(out.len < sizeof(last));
        memcpy(last, out.data, out.len);
        last[out.len] = '\0';
        last_len = out.len;
    } else {
        /* nothing copied for a value that goes as it came */
        assert_int_equal(out.len, 0);
        snprintf(last, sizeof(last), "%s", value);
        last_len = strlen(last);
    }
    cdc_buf_release(&out);
    return rc;
}

/* The text for a value from MySQL into a column of class cls. */
static const char *my(const char *type, const char *value,
                      enum sink_pg_class cls)
{
    conv("mysql", type, value, cls);
    return last;
}

/* Asserts that the value is left as it came, uncopied. */
static void same(const char *type, const char *value, enum sink_pg_class cls)
{
    assert_int_equal(conv("mysql", type, value, cls), CDC_OK);
    assert_false(last_changed);
}

/* Asserts that the value is refused, and that the reason shows it and
 * says why (why may be NULL). */
static void refused(const char *type, const char *value, enum sink_pg_class cls,
                    const char *why)
{
    assert_int_equal(conv("mysql", type, value, cls), CDC_EPROTO);
    assert_non_null(strstr(last, value));
    if (why != NULL)
        assert_non_null(strstr(last, why));
}

static void test_classes(void **state)
{
    (void)state;
    assert_int_equal(sink__pg_class(17), SINK_PG_BYTEA);
    assert_int_equal(sink__pg_class(16), SINK_PG_BOOL);
    assert_int_equal(sink__pg_class(21), SINK_PG_NUMBER);   /* int2 */
    assert_int_equal(sink__pg_class(23), SINK_PG_NUMBER);   /* int4 */
    assert_int_equal(sink__pg_class(20), SINK_PG_NUMBER);   /* int8 */
    assert_int_equal(sink__pg_class(1700), SINK_PG_NUMBER); /* numeric */
    assert_int_equal(sink__pg_class(700), SINK_PG_NUMBER);  /* float4 */
    assert_int_equal(sink__pg_class(701), SINK_PG_NUMBER);  /* float8 */
    assert_int_equal(sink__pg_class(1083), SINK_PG_TIME);   /* time */
    assert_int_equal(sink__pg_class(1266), SINK_PG_TIME);   /* timetz */
    assert_int_equal(sink__pg_class(1082), SINK_PG_DATE);   /* date */
    assert_int_equal(sink__pg_class(1114), SINK_PG_DATE);   /* timestamp */
    assert_int_equal(sink__pg_class(1184), SINK_PG_DATE);   /* timestamptz */
    assert_int_equal(sink__pg_class(25), SINK_PG_OTHER);    /* text */
    assert_int_equal(sink__pg_class(1043), SINK_PG_OTHER);  /* varchar */
    assert_int_equal(sink__pg_class(1186), SINK_PG_OTHER);  /* interval */
    assert_int_equal(sink__pg_class(1560), SINK_PG_OTHER);  /* bit */
    assert_int_equal(sink__pg_class(1562), SINK_PG_OTHER);  /* varbit */
    assert_int_equal(sink__pg_class(3802), SINK_PG_OTHER);  /* jsonb */
    assert_int_equal(sink__pg_class(1001), SINK_PG_OTHER);  /* bytea[] */
    assert_int_equal(sink__pg_class(16384), SINK_PG_OTHER); /* not built in */
}

static void test_base64_into_bytea(void **state)
{
    (void)state;
    const enum sink_pg_class B = SINK_PG_BYTEA;
    assert_string_equal(my("blob", "AP8Q", B), "\\x00ff10");
    assert_true(last_changed);
    assert_string_equal(my("varbinary(16)", "aGk=", B), "\\x6869");
    assert_string_equal(my("binary(2)", "aGk", B), "\\x6869");
    assert_string_equal(my("binary(3)", "aGkA", B), "\\x686900");
    assert_string_equal(my("tinyblob", "/w==", B), "\\xff");
    assert_string_equal(my("mediumblob", "3q2+7w==", B), "\\xdeadbeef");
    assert_string_equal(my("LONGBLOB", "", B), "\\x");
    refused("blob", "a$==", B, "malformed base64");
    refused("blob", "abcde", B, "malformed base64");
    /* into a text column (or any other) base64 stays as it came */
    same("blob", "AP8Q", SINK_PG_OTHER);
    same("varbinary", "aGk=", SINK_PG_NUMBER);
    /* strings are not base64, even in a bytea column */
    same("varchar", "AP8Q", B);
}

static void test_geometry_into_bytea(void **state)
{
    (void)state;
    const enum sink_pg_class B = SINK_PG_BYTEA;
    const char *point = "0101000000000000000000F03F0000000000000040";
    assert_string_equal(my("point", point, B),
                        "\\x0101000000000000000000F03F0000000000000040");
    /* bytea holds the WKB only: the SRID is dropped */
    assert_string_equal(
        my("geometry", "SRID=4326;0101000000000000000000F03F0000000000000040",
           B),
        "\\x0101000000000000000000F03F0000000000000040");
    const char *kinds[] = {"geometry",      "point",
                           "linestring",    "polygon",
                           "multipoint",    "multilinestring",
                           "multipolygon",  "geometrycollection",
                           "geomcollection"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        assert_string_equal(my(kinds[i], "0107000000", B), "\\x0107000000");
        /* refused never, even when the hex is not WKB: the server says */
        assert_string_equal(my(kinds[i], "", B), "\\x");
    }
    /* into text (or a PostGIS geometry column) as it came, SRID and all */
    same("point", point, SINK_PG_OTHER);
    same("geometry", "SRID=4326;0101000000000000000000F03F0000000000000040",
         SINK_PG_OTHER);
}

static void test_bits(void **state)
{
    (void)state;
    /* into bit and bit varying (class other) as they came */
    same("bit(5)", "10101", SINK_PG_OTHER);
    /* into a number: the value */
    const enum sink_pg_class N = SINK_PG_NUMBER;
    assert_string_equal(my("bit(5)", "10101", N), "21");
    assert_string_equal(my("bit(1)", "0", N), "0");
    assert_string_equal(my("bit(1)", "1", N), "1");
    assert_string_equal(my("bit(8)", "00000000", N), "0");
    assert_string_equal(
        my("bit(64)",
           "1111111111111111111111111111111111111111111111111111111111111111",
           N),
        "18446744073709551615");
    assert_string_equal(
        my("bit(64)",
           "0111111111111111111111111111111111111111111111111111111111111111",
           N),
        "9223372036854775807");
    /* (the message shows the first 40 characters of a value) */
    assert_int_equal(
        conv(
            "mysql", "bit(65)",
            "11111111111111111111111111111111111111111111111111111111111111111",
            N),
        CDC_EPROTO);
    assert_non_null(strstr(last, "more than 64 bits"));
    refused("bit(4)", "10x1", N, "malformed bit string");
    /* into bytea: the bytes of the value, most significant first */
    const enum sink_pg_class B = SINK_PG_BYTEA;
    assert_string_equal(my("bit(5)", "10101", B), "\\x15");
    assert_string_equal(my("bit(8)", "10000000", B), "\\x80");
    assert_string_equal(my("bit(9)", "100000000", B), "\\x0100");
    assert_string_equal(my("bit(16)", "0000000111111111", B), "\\x01ff");
    assert_string_equal(my("bit(12)", "101011110000", B), "\\x0af0");
    assert_string_equal(my("bit(1)", "1", B), "\\x01");
    refused("bit(4)", "1021", B, "malformed bit string");
    /* into a boolean: as it came (PostgreSQL reads 0 and 1) */
    same("bit(1)", "1", SINK_PG_BOOL);
}

static void test_booleans(void **state)
{
    (void)state;
    const enum sink_pg_class L = SINK_PG_BOOL;
    same("tinyint", "0", L);
    same("tinyint", "1", L);
    same("tinyint(1)", "1", L);
    same("TINYINT", "0", L);
    same("int", "1", L);
    same("bigint unsigned", "0", L);
    refused("tinyint", "2", L, "boolean");
    refused("tinyint", "-1", L, "only 0 and 1");
    refused("tinyint", "10", L, NULL);
    refused("tinyint", "00", L, NULL);
    refused("tinyint unsigned", "255", L, NULL);
    refused("smallint", "-32768", L, NULL);
    refused("mediumint", "7", L, NULL);
    refused("bigint", "9223372036854775807", L, NULL);
    refused("int unsigned", "", L, NULL);
    /* not integers: the server judges them */
    same("varchar", "yes", L);
    same("enum", "true", L);
    /* integers into anything else: as they came */
    same("tinyint", "2", SINK_PG_NUMBER);
    same("tinyint", "2", SINK_PG_OTHER);
}

static void test_dates(void **state)
{
    (void)state;
    const enum sink_pg_class D = SINK_PG_DATE;
    refused("date", "0000-00-00", D, "zero date");
    refused("datetime", "0000-00-00 00:00:00", D, "zero date");
    refused("datetime(6)", "0000-00-00 00:00:00.000000", D, "zero date");
    refused("timestamp", "0000-00-00 00:00:00+00", D, "zero date");
    refused("timestamp(3)", "0000-00-00 00:00:00.000+00", D, "zero date");
    refused("date", "2024-00-10", D, "zero month or day");
    refused("date", "2024-05-00", D, "zero month or day");
    refused("datetime", "2024-00-00 12:00:00", D, "zero month or day");
    refused("date", "0000-01-01", D, "no year 0");
    refused("date", "2023-02-29", D, "no such day");
    refused("date", "2024-02-30", D, "no such day");
    refused("datetime", "2024-04-31 00:00:00", D, "no such day");
    refused("date", "2024-13-01", D, "no such day");
    /* the message says what PostgreSQL cannot store */
    conv("mysql", "date", "0000-00-00", D);
    assert_non_null(strstr(last, "PostgreSQL cannot store the date"));
    same("date", "2024-02-29", D);
    same("date", "2000-02-29", D);
    same("date", "1000-01-01", D);
    same("date", "0001-01-01", D);
    same("datetime", "9999-12-31 23:59:59", D);
    same("datetime(6)", "2024-01-02 03:04:05.678000", D);
    same("timestamp", "1970-01-01 00:00:01+00", D);
    same("timestamp(6)", "2038-01-19 03:14:07.999999+00", D);
    /* not "YYYY-MM-DD": left to the server */
    same("date", "2024-1-1", D);
    same("date", "20240101", D);
    /* into text, a zero date is text */
    same("date", "0000-00-00", SINK_PG_OTHER);
    same("timestamp", "0000-00-00 00:00:00+00", SINK_PG_OTHER);
    /* only date types are checked */
    same("varchar", "0000-00-00", D);
}

static void test_times(void **state)
{
    (void)state;
    const enum sink_pg_class T = SINK_PG_TIME;
    same("time", "00:00:00", T);
    same("time", "12:34:56", T);
    same("time(6)", "23:59:59.999999", T);
    same("time", "24:00:00", T);
    same("time(3)", "24:00:00.000", T);
    refused("time", "24:00:01", T, "PostgreSQL time");
    refused("time(1)", "24:00:00.5", T, "interval");
    refused("time", "25:00:00", T, NULL);
    refused("time", "838:59:59", T, NULL);
    refused("time(6)", "838:59:59.000000", T, NULL);
    refused("time", "-12:00:00", T, NULL);
    refused("time", "-00:00:01", T, NULL);
    refused("time(6)", "-838:59:59.000000", T, NULL);
    refused("time(2)", "-00:00:00.01", T, NULL);
    /* not a MySQL time: left to the server */
    same("time", "12:00", T);
    same("time", "noon", T);
    /* an interval column (class other) reads every MySQL time */
    same("time", "838:59:59", SINK_PG_OTHER);
    same("time", "-12:00:00", SINK_PG_OTHER);
    same("time(6)", "-838:59:59.000000", SINK_PG_OTHER);
    /* only time types are checked */
    same("varchar", "99:00:00", T);
}

static void test_years(void **state)
{
    (void)state;
    const enum sink_pg_class N = SINK_PG_NUMBER;
    assert_string_equal(my("year", "0000", N), "0");
    assert_true(last_changed);
    assert_string_equal(my("year(4)", "0000", N), "0");
    same("year", "2024", N);
    same("year", "1901", N);
    same("year", "0000", SINK_PG_OTHER);
}

static void test_as_it_came(void **state)
{
    (void)state;
    const enum sink_pg_class N = SINK_PG_NUMBER;
    const enum sink_pg_class O = SINK_PG_OTHER;
    same("tinyint", "-128", N);
    same("smallint unsigned", "65535", N);
    same("mediumint", "-8388608", N);
    same("int", "2147483647", N);
    same("bigint unsigned", "18446744073709551615", N);
    same("float", "1.5e+20", N);
    same("double", "0.1", N);
    same("decimal(10,2)", "-3.00", N);
    same("char", "x", O);
    same("varchar", "h\xc3\xa9llo \\ 'q'", O);
    same("longtext", "text", O);
    same("enum", "medium", O);
    same("set", "a,c", O);
    same("json", "{\"a\": [1, 2.5], \"b\": null}", O);
    same("datetime", "2024-01-02 03:04:05", O);
    same(NULL, "anything", SINK_PG_BYTEA);
    /* values of other sources are never touched */
    assert_int_equal(conv("postgres", "bytea", "\\x00ff", SINK_PG_BYTEA),
                     CDC_OK);
    assert_false(last_changed);
    assert_int_equal(conv("postgres", "blob", "AP8Q", SINK_PG_BYTEA), CDC_OK);
    assert_false(last_changed);
    assert_int_equal(conv("postgres", "date", "0000-00-00", SINK_PG_DATE),
                     CDC_OK);
    assert_false(last_changed);
    assert_int_equal(conv(NULL, "blob", "AP8Q", SINK_PG_BYTEA), CDC_OK);
    assert_false(last_changed);
    /* a type name too long to be one of the kinds */
    same("varbinary with a name far too long to be a mysql type", "AP8Q",
         SINK_PG_BYTEA);
}

static void test_limits(void **state)
{
    (void)state;
    struct cdc_buf out;
    struct cdc_err err;
    cdc_buf_init(&out, 8);
    cdc_err_clear(&err);
    bool changed = false;
    const char *v = "AAAAAAAAAAAAAAAAAAAA"; /* 15 bytes: 32 characters */
    assert_int_equal(sink__pg_value("mysql", "blob", v, strlen(v),
                                    SINK_PG_BYTEA, &out, &changed, &err),
                     CDC_ETOOBIG);
    cdc_buf_release(&out);
    /* a value shorter than it says (the length rules, not the NUL) */
    cdc_buf_init(&out, 0);
    assert_int_equal(sink__pg_value("mysql", "blob", "AP8QAP8Q", 4,
                                    SINK_PG_BYTEA, &out, &changed, &err),
                     CDC_OK);
    assert_true(changed);
    assert_string_equal(out.data, "\\x00ff10");
    cdc_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_base64_into_bytea),
        cmocka_unit_test(test_geometry_into_bytea),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_years),
        cmocka_unit_test(test_as_it_came),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_pg_binary.c: COPY's binary form of values, without a server. The
 * expected bytes are what PostgreSQL's own send functions give for the
 * same text (int4send('7'), numeric_send('12345.678'), array_send(...)),
 * and every form that is not read here is refused, leaving the buffer as
 * it was, so that its row goes as text.
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

#define BOOL 16u
#define BYTEA 17u
#define INT8 20u
#define INT2 21u
#define INT4 23u
#define TEXT 25u
#define JSON 114u
#define FLOAT4 700u
#define FLOAT8 701u
#define INT4_ARRAY 1007u
#define TEXT_ARRAY 1009u
#define INT8_ARRAY 1016u
#define DATE 1082u
#define TIMESTAMP 1114u
#define TIMESTAMPTZ 1184u
#define INTERVAL 1186u
#define NUMERIC 1700u
#define UUID 2950u
#define JSONB 3802u

/* The field made of value for a column of type oid, as hex without its
 * length (which must be the rest's); "REFUSED" when it is refused. */
static char out[1024];

static const char *bin(uint32_t oid, const char *value)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    cdc_buf_append_str(&b, "xy"); /* what came before stays */
    bool ok = sink__pg_binary_value(&b, oid, value, strlen(value));
    if (!ok) {
        assert_int_equal(b.len, 2);
        assert_memory_equal(b.data, "xy", 3);
        cdc_buf_release(&b);
        return "REFUSED";
    }
    assert_true(b.len >= 6);
    const unsigned char *p = (const unsigned char *)b.data + 2;
    uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                   (uint32_t)p[2] << 8 | p[3];
    assert_int_equal(len, b.len - 6);
    assert_true(2 * len < sizeof(out));
    for (uint32_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", p[4 + i]);
    out[2 * len] = '\0';
    cdc_buf_release(&b);
    return out;
}

static void test_types(void **state)
{
    (void)state;
    assert_true(sink__pg_binary_type(INT4));
    assert_true(sink__pg_binary_type(TIMESTAMPTZ));
    assert_true(sink__pg_binary_type(TEXT_ARRAY));
    assert_true(sink__pg_binary_type(3807)); /* jsonb[] */
    assert_false(sink__pg_binary_type(INTERVAL));
    assert_false(sink__pg_binary_type(1083));  /* time */
    assert_false(sink__pg_binary_type(26));    /* oid */
    assert_false(sink__pg_binary_type(1187));  /* interval[] */
    assert_false(sink__pg_binary_type(16384)); /* not built in */
    assert_string_equal(bin(INTERVAL, "1 day"), "REFUSED");
}

static void test_booleans_and_integers(void **state)
{
    (void)state;
    assert_string_equal(bin(BOOL, "t"), "01");
    assert_string_equal(bin(BOOL, "false"), "00");
    assert_string_equal(bin(BOOL, "1"), "01");
    assert_string_equal(bin(BOOL, "yes"), "REFUSED");
    assert_string_equal(bin(INT2, "-2"), "fffe");
    assert_string_equal(bin(INT2, "32767"), "7fff");
    assert_string_equal(bin(INT2, "32768"), "REFUSED");
    assert_string_equal(bin(INT4, "-2147483648"), "80000000");
    assert_string_equal(bin(INT4, "007"), "00000007");
    assert_string_equal(bin(INT4, "-2147483649"), "REFUSED");
    assert_string_equal(bin(INT8, "-9223372036854775808"), "8000000000000000");
    assert_string_equal(bin(INT8, "9223372036854775807"), "7fffffffffffffff");
    assert_string_equal(bin(INT8, "9223372036854775808"), "REFUSED");
    assert_string_equal(bin(INT8, "99999999999999999999"), "REFUSED");
    /* what the input function reads otherwise goes as text */
    assert_string_equal(bin(INT4, " 7"), "REFUSED");
    assert_string_equal(bin(INT4, "+7"), "REFUSED");
    assert_string_equal(bin(INT4, "1_000"), "REFUSED");
    assert_string_equal(bin(INT4, "-"), "REFUSED");
    assert_string_equal(bin(INT4, ""), "REFUSED");
}

static void test_floats(void **state)
{
    (void)state;
    assert_string_equal(bin(FLOAT4, "1.5"), "3fc00000");
    assert_string_equal(bin(FLOAT4, "-0"), "80000000");
    assert_string_equal(bin(FLOAT4, "Infinity"), "7f800000");
    assert_string_equal(bin(FLOAT4, "NaN"), "7fc00000");
    assert_string_equal(bin(FLOAT8, "0.3333333333333333"), "3fd5555555555555");
    assert_string_equal(bin(FLOAT8, "-Infinity"), "fff0000000000000");
    assert_string_equal(bin(FLOAT8, "1e+100"), "54b249ad2594c37d");
    assert_string_equal(bin(FLOAT8, "NaN"), "7ff8000000000000");
    /* out of range, below the normal range, hex, spelled otherwise */
    assert_string_equal(bin(FLOAT8, "1e400"), "REFUSED");
    assert_string_equal(bin(FLOAT8, "5e-324"), "REFUSED");
    assert_string_equal(bin(FLOAT4, "1e39"), "REFUSED");
    assert_string_equal(bin(FLOAT8, "0x1p3"), "REFUSED");
    assert_string_equal(bin(FLOAT8, "inf"), "REFUSED");
    assert_string_equal(bin(FLOAT8, "1e"), "REFUSED");
    assert_string_equal(bin(FLOAT8, "."), "REFUSED");
    assert_string_equal(bin(FLOAT8, "1.5 "), "REFUSED");
}

static void test_numerics(void **state)
{
    (void)state;
    /* digits, weight, sign, scale, then the base-10000 digits */
    assert_string_equal(bin(NUMERIC, "12345.678"),
                        "0003000100000003000109291a7c");
    assert_string_equal(bin(NUMERIC, "-0.00001"), "0001fffe4000000503e8");
    assert_string_equal(bin(NUMERIC, "0.000"), "0000000000000003");
    assert_string_equal(bin(NUMERIC, "-0"), "0000000000000000");
    assert_string_equal(bin(NUMERIC, "NaN"), "00000000c0000000");
    assert_string_equal(bin(NUMERIC, "10000"), "00010001000000000001");
    assert_string_equal(bin(NUMERIC, "007.50"), "000200000000000200071388");
    assert_string_equal(bin(NUMERIC, "Infinity"), "REFUSED");
    assert_string_equal(bin(NUMERIC, "1e5"), "REFUSED");
    assert_string_equal(bin(NUMERIC, "1.2.3"), "REFUSED");
    assert_string_equal(bin(NUMERIC, "-"), "REFUSED");
    char big[4100];
    memset(big, '9', 4001);
    big[4001] = '\0';
    assert_string_equal(bin(NUMERIC, big), "REFUSED");
}

static void test_strings_and_bytes(void **state)
{
    (void)state;
    assert_string_equal(bin(TEXT, "h\xc3\xa9\t\\"), "68c3a9095c");
    assert_string_equal(bin(TEXT, ""), "");
    assert_string_equal(bin(JSON, "{}"), "7b7d");
    /* jsonb: its version, 1, first */
    assert_string_equal(bin(JSONB, "{}"), "017b7d");
    assert_string_equal(bin(BYTEA, "\\x00ff10AB"), "00ff10ab");
    assert_string_equal(bin(BYTEA, "\\x"), "");
    assert_string_equal(bin(BYTEA, "\\x0"), "REFUSED");
    assert_string_equal(bin(BYTEA, "\\x0g"), "REFUSED");
    assert_string_equal(bin(BYTEA, "\\000"), "REFUSED"); /* escape form */
    assert_string_equal(bin(UUID, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
                        "a0eebc999c0b4ef8bb6d6bb9bd380a11");
    assert_string_equal(bin(UUID, "a0eebc999c0b4ef8bb6d6bb9bd380a11"),
                        "REFUSED");
    assert_string_equal(bin(UUID, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
                        "REFUSED");
}

static void test_dates_and_times(void **state)
{
    (void)state;
    assert_string_equal(bin(DATE, "2000-01-01"), "00000000");
    assert_string_equal(bin(DATE, "1999-12-31"), "ffffffff");
    assert_string_equal(bin(DATE, "2024-02-29"), "00002279");
    assert_string_equal(bin(DATE, "0001-01-01"), "fff4dbf9");
    assert_string_equal(bin(DATE, "9999-12-31"), "002c95d3");
    assert_string_equal(bin(DATE, "infinity"), "7fffffff");
    assert_string_equal(bin(DATE, "-infinity"), "80000000");
    assert_string_equal(bin(DATE, "2023-02-29"), "REFUSED");
    assert_string_equal(bin(DATE, "1900-02-29"), "REFUSED");
    assert_string_equal(bin(DATE, "0044-03-15 BC"), "REFUSED");
    assert_string_equal(bin(DATE, "0000-01-01"), "REFUSED");
    assert_string_equal(bin(DATE, "10000-01-01"), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 00:00:00"),
                        "0000000000000000");
    assert_string_equal(bin(TIMESTAMP, "2024-01-02 03:04:05.678901"),
                        "0002b0ec85204f35");
    assert_string_equal(bin(TIMESTAMP, "1970-01-01 00:00:00.5"),
                        "fffca2fec4cfc120");
    assert_string_equal(bin(TIMESTAMP, "infinity"), "7fffffffffffffff");
    assert_string_equal(bin(TIMESTAMP, "-infinity"), "8000000000000000");
    assert_string_equal(bin(TIMESTAMPTZ, "2024-01-02 03:04:05.678+02"),
                        "0002b0ead7f903b0");
    assert_string_equal(bin(TIMESTAMPTZ, "1900-01-01 00:00:00+00:19:32"),
                        "fff4c9ee36303300");
    assert_string_equal(bin(TIMESTAMPTZ, "2000-01-01 00:00:00-03:30"),
                        "00000002ef04be00");
    /* a time zone is needed with one, and refused without */
    assert_string_equal(bin(TIMESTAMPTZ, "2000-01-01 00:00:00"), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 00:00:00+00"), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 24:00:00"), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 23:59:60"), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 00:00:00.1234567"),
                        "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01 00:00:00."), "REFUSED");
    assert_string_equal(bin(TIMESTAMP, "2000-01-01T00:00:00"), "REFUSED");
    assert_string_equal(bin(TIMESTAMPTZ, "2000-01-01 00:00:00+16"), "REFUSED");
    assert_string_equal(bin(TIMESTAMPTZ, "2000-01-01 00:00:00+05:3"),
                        "REFUSED");
    assert_string_equal(bin(TIMESTAMPTZ, "2000-01-01 00:00:00 BC"), "REFUSED");
}

static void test_arrays(void **state)
{
    (void)state;
    /* dimensions, NULLs present, element type, length and lower bound,
     * then each element's length and bytes (-1 for NULL) */
    assert_string_equal(bin(INT4_ARRAY, "{1,NULL,-3}"),
                        "00000001000000010000001700000003000000010000000400"
                        "000001ffffffff00000004fffffffd");
    assert_string_equal(bin(INT4_ARRAY, "{}"), "000000000000000000000017");
    assert_string_equal(bin(INT8_ARRAY, "{7}"),
                        "00000001000000000000001400000001000000010000000800"
                        "00000000000007");
    assert_string_equal(
        bin(TEXT_ARRAY, "{\"a b\",NULL,\"NULL\",\"q\\\"\\\\\"}"),
        "00000001000000010000001900000004000000010000000361"
        "2062ffffffff000000044e554c4c0000000371225c");
    assert_string_equal(bin(INT4_ARRAY, "{{1,2},{3,4}}"), "REFUSED");
    assert_string_equal(bin(INT4_ARRAY, "[0:1]={1,2}"), "REFUSED");
    assert_string_equal(bin(INT4_ARRAY, "{1, 2}"), "REFUSED");
    assert_string_equal(bin(INT4_ARRAY, "{1,}"), "REFUSED");
    assert_string_equal(bin(INT4_ARRAY, "{1,x}"), "REFUSED");
    assert_string_equal(bin(TEXT_ARRAY, "{\"a}"), "REFUSED");
    assert_string_equal(bin(TEXT_ARRAY, "{a\\,b}"), "REFUSED");
    assert_string_equal(bin(TEXT_ARRAY, "{\"a\"b}"), "REFUSED");
}

/* An array parameter of int8 (1016) built element by element is what
 * array_send gives for '{7,NULL}'::int8[]. */
static void test_array_parameter(void **state)
{
    (void)state;
    assert_int_equal(sink__pg_binary_array_of(INT8), INT8_ARRAY);
    assert_int_equal(sink__pg_binary_array_of(TEXT), TEXT_ARRAY);
    assert_int_equal(sink__pg_binary_array_of(INT4_ARRAY), 0);
    assert_int_equal(sink__pg_binary_array_of(INTERVAL), 0);
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    size_t at = sink__pg_binary_array_open(&b, INT8);
    assert_true(sink__pg_binary_value(&b, INT8, "7", 1));
    sink__pg_binary_null(&b);
    sink__pg_binary_array_close(&b, at, 2, true);
    char hex[256];
    for (size_t i = 0; i < b.len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)b.data[i]);
    assert_string_equal(hex, "00000001000000010000001400000002000000010000"
                             "00080000000000000007ffffffff");
    cdc_buf_release(&b);
}

static void test_frame(void **state)
{
    (void)state;
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    sink__pg_binary_header(&b);
    sink__pg_binary_row(&b, 2);
    sink__pg_binary_null(&b);
    sink__pg_binary_trailer(&b);
    static const unsigned char want[] = {
        'P',  'G', 'C', 'O',  'P',  'Y',  '\n', 0xff, '\r',
        '\n', 0,   0,   0,    0,    0,    0,    0,    0,
        0,    0,   2,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    cdc_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_booleans_and_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_numerics),
        cmocka_unit_test(test_strings_and_bytes),
        cmocka_unit_test(test_dates_and_times),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_array_parameter),
        cmocka_unit_test(test_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

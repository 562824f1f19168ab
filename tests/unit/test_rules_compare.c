/*
 * test_rules_compare.c: unit tests of rules/compare.c: the kind of a
 * column type, typed comparison of values in their text form (numbers,
 * booleans, dates and timestamps, times of day, uuids, text), the
 * messages for values that cannot be read, and masking of UTF-8 values.
 * Instants and numbers are also checked against values computed here
 * independently (gmtime_r, integer arithmetic) over pseudo-random inputs.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "rules/rules_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

static struct {
    struct cdc_arena arena;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_arena_init(&fx.arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_arena_release(&fx.arena);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== Helpers ==== */

static const char *kind_name(enum rules__kind kind)
{
    switch (kind) {
    case RULES_KIND_TEXT:
        return "text";
    case RULES_KIND_NUMBER:
        return "number";
    case RULES_KIND_BOOL:
        return "bool";
    case RULES_KIND_INSTANT:
        return "instant";
    case RULES_KIND_TIME:
        return "time";
    case RULES_KIND_UUID:
        return "uuid";
    }
    return "?";
}

/* A value every reader accepts, to pair with a bad one. */
static const char *good_value(enum rules__kind kind)
{
    switch (kind) {
    case RULES_KIND_TEXT:
        return "x";
    case RULES_KIND_NUMBER:
        return "1";
    case RULES_KIND_BOOL:
        return "t";
    case RULES_KIND_INSTANT:
        return "2024-01-02";
    case RULES_KIND_TIME:
        return "00:00";
    case RULES_KIND_UUID:
        return "00000000-0000-0000-0000-000000000000";
    }
    return "";
}

/* Compares a and b (lengths given) both ways, expecting want (-1, 0 or 1)
 * and its opposite. */
static void expect_cmp_n(enum rules__kind kind, const char *a, size_t alen,
                         const char *b, size_t blen, int want, int line)
{
    int cmp = 99;
    struct cdc_err err = {0};
    int rc = rules__compare(kind, a, alen, b, blen, &cmp, &err);
    if (rc != CDC_OK)
        fail_msg("line %d: %s \"%.*s\" vs \"%.*s\": %s", line, kind_name(kind),
                 (int)alen, a, (int)blen, b, err.msg);
    if (cmp != want)
        fail_msg("line %d: %s \"%.*s\" vs \"%.*s\" gave %d, want %d", line,
                 kind_name(kind), (int)alen, a, (int)blen, b, cmp, want);
    cmp = 99;
    rc = rules__compare(kind, b, blen, a, alen, &cmp, &err);
    if (rc != CDC_OK || cmp != -want)
        fail_msg("line %d: %s \"%.*s\" vs \"%.*s\" (swapped) gave rc %d cmp "
                 "%d, want %d",
                 line, kind_name(kind), (int)blen, b, (int)alen, a, rc, cmp,
                 -want);
}

#define EXPECT(kind, a, b, want)                                               \
    expect_cmp_n((kind), (a), strlen(a), (b), strlen(b), (want), __LINE__)
#define LT(kind, a, b) EXPECT(kind, a, b, -1)
#define EQ(kind, a, b) EXPECT(kind, a, b, 0)
#define GT(kind, a, b) EXPECT(kind, a, b, 1)

/* v (len bytes) cannot be read as kind: compared on either side, the
 * message is want and *cmp is untouched; rules__valid says no too. */
static void expect_bad_n(enum rules__kind kind, const char *v, size_t len,
                         const char *want, int line)
{
    const char *good = good_value(kind);
    for (int side = 0; side < 2; side++) {
        int cmp = 99;
        struct cdc_err err = {0};
        int rc =
            side == 0
                ? rules__compare(kind, v, len, good, strlen(good), &cmp, &err)
                : rules__compare(kind, good, strlen(good), v, len, &cmp, &err);
        if (rc != CDC_EPROTO)
            fail_msg("line %d: %s \"%.*s\" accepted (rc %d)", line,
                     kind_name(kind), (int)len, v, rc);
        assert_int_equal(err.code, CDC_EPROTO);
        assert_int_equal(cmp, 99);
        if (want != NULL && strcmp(err.msg, want) != 0)
            fail_msg("line %d: message \"%s\", want \"%s\"", line, err.msg,
                     want);
    }
    if (rules__valid(kind, v, len))
        fail_msg("line %d: %s \"%.*s\" valid", line, kind_name(kind), (int)len,
                 v);
}

#define BAD(kind, v, msg) expect_bad_n((kind), (v), strlen(v), (msg), __LINE__)

static void expect_valid(enum rules__kind kind, const char *v)
{
    if (!rules__valid(kind, v, strlen(v)))
        fail_msg("%s \"%s\" not valid", kind_name(kind), v);
}

static void expect_mask(const char *s, const char *mask, const char *want)
{
    size_t outlen = 12345;
    const char *out =
        rules__mask(s, strlen(s), mask, strlen(mask), &fx.arena, &outlen);
    assert_non_null(out);
    assert_true(out != s);
    if (outlen != strlen(want) || memcmp(out, want, outlen) != 0)
        fail_msg("mask \"%s\" with \"%s\": \"%s\", want \"%s\"", s, mask, out,
                 want);
    assert_int_equal(out[outlen], '\0');
}

/* A small deterministic generator, so that failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* In [lo, hi]. */
static int64_t rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* ==== Kinds of types ==== */

struct kind_case {
    const char *type;
    enum rules__kind kind;
};

static void expect_kinds(const struct kind_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum rules__kind got = rules__kind_of(cases[i].type);
        if (got != cases[i].kind)
            fail_msg("type \"%s\": %s, want %s", cases[i].type, kind_name(got),
                     kind_name(cases[i].kind));
    }
}

static void test_kind_pg_short_names(void **state)
{
    (void)state;
    static const struct kind_case cases[] = {
        {"int2", RULES_KIND_NUMBER},
        {"int4", RULES_KIND_NUMBER},
        {"int8", RULES_KIND_NUMBER},
        {"float4", RULES_KIND_NUMBER},
        {"float8", RULES_KIND_NUMBER},
        {"numeric", RULES_KIND_NUMBER},
        {"oid", RULES_KIND_NUMBER},
        {"bool", RULES_KIND_BOOL},
        {"date", RULES_KIND_INSTANT},
        {"timestamp", RULES_KIND_INSTANT},
        {"timestamptz", RULES_KIND_INSTANT},
        {"time", RULES_KIND_TIME},
        {"timetz", RULES_KIND_TIME},
        {"uuid", RULES_KIND_UUID},
        {"text", RULES_KIND_TEXT},
        {"varchar", RULES_KIND_TEXT},
        {"bpchar", RULES_KIND_TEXT},
        {"jsonb", RULES_KIND_TEXT},
        {"INT4", RULES_KIND_NUMBER},
        {"TimestampTZ", RULES_KIND_INSTANT},
        {"UUID", RULES_KIND_UUID},
        {"serial8", RULES_KIND_NUMBER},
    };
    expect_kinds(cases, NELEMS(cases));
}

static void test_kind_pg_long_names(void **state)
{
    (void)state;
    static const struct kind_case cases[] = {
        {"smallint", RULES_KIND_NUMBER},
        {"integer", RULES_KIND_NUMBER},
        {"bigint", RULES_KIND_NUMBER},
        {"real", RULES_KIND_NUMBER},
        {"double precision", RULES_KIND_NUMBER},
        {"Double  Precision", RULES_KIND_NUMBER},
        {"decimal", RULES_KIND_NUMBER},
        {"numeric(10,2)", RULES_KIND_NUMBER},
        {"numeric (10, 2)", RULES_KIND_NUMBER},
        {"character varying(20)", RULES_KIND_TEXT},
        {"character(3)", RULES_KIND_TEXT},
        {"timestamp with time zone", RULES_KIND_INSTANT},
        {"timestamp without time zone", RULES_KIND_INSTANT},
        {"timestamp(3) with time zone", RULES_KIND_INSTANT},
        {"TIMESTAMP(6) WITHOUT TIME ZONE", RULES_KIND_INSTANT},
        {"time with time zone", RULES_KIND_TIME},
        {"time(2) without time zone", RULES_KIND_TIME},
        {"boolean", RULES_KIND_BOOL},
        {" integer ", RULES_KIND_NUMBER},
    };
    expect_kinds(cases, NELEMS(cases));
}

static void test_kind_mysql_names(void **state)
{
    (void)state;
    static const struct kind_case cases[] = {
        {"tinyint", RULES_KIND_NUMBER},
        {"tinyint(1)", RULES_KIND_NUMBER},
        {"mediumint", RULES_KIND_NUMBER},
        {"int", RULES_KIND_NUMBER},
        {"int(11)", RULES_KIND_NUMBER},
        {"int unsigned", RULES_KIND_NUMBER},
        {"bigint unsigned", RULES_KIND_NUMBER},
        {"int(10) unsigned zerofill", RULES_KIND_NUMBER},
        {"float", RULES_KIND_NUMBER},
        {"double", RULES_KIND_NUMBER},
        {"decimal(10,2)", RULES_KIND_NUMBER},
        {"decimal(10,2) unsigned", RULES_KIND_NUMBER},
        {"datetime", RULES_KIND_INSTANT},
        {"datetime(6)", RULES_KIND_INSTANT},
        {"year", RULES_KIND_NUMBER},
        {"varchar(255)", RULES_KIND_TEXT},
        {"enum('a','b')", RULES_KIND_TEXT},
    };
    expect_kinds(cases, NELEMS(cases));
}

static void test_kind_text_fallbacks(void **state)
{
    (void)state;
    static const struct kind_case cases[] = {
        {"money", RULES_KIND_TEXT},
        {"_int4", RULES_KIND_TEXT},
        {"_timestamptz", RULES_KIND_TEXT},
        {"integer[]", RULES_KIND_TEXT},
        {"int4[3]", RULES_KIND_TEXT},
        {"timestamp with time zone[]", RULES_KIND_TEXT},
        {"interval", RULES_KIND_TEXT},
        {"", RULES_KIND_TEXT},
        {"   ", RULES_KIND_TEXT},
        {"no such type", RULES_KIND_TEXT},
        {"numeric(10", RULES_KIND_TEXT},
        {"numeric)", RULES_KIND_TEXT},
        {"unsigned", RULES_KIND_TEXT},
        {"integerx", RULES_KIND_TEXT},
        {"timestamp with time zone and then a lot more words than fit in",
         RULES_KIND_TEXT},
    };
    expect_kinds(cases, NELEMS(cases));
    assert_int_equal(rules__kind_of(NULL), RULES_KIND_TEXT);
}

/* ==== Numbers ==== */

static void test_number_order(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    LT(k, "999.99", "1000");
    LT(k, "18", "19");
    GT(k, "100", "99");
    LT(k, "9", "10");
    LT(k, "1.4999", "1.5");
    GT(k, "0.1", "0.09");
    LT(k, "0.001", "0.01");
    LT(k, "123.4500", "123.4501");
    GT(k, "123.4500", "123.4499999999");
    LT(k, "0", "0.0000001");
}

static void test_number_equal_forms(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    EQ(k, "-0", "0");
    EQ(k, "+0", "-0.000");
    EQ(k, "1.50", "1.5");
    EQ(k, "0001", "1");
    EQ(k, "+5", "5");
    EQ(k, ".5", "0.5");
    EQ(k, "5.", "5");
    EQ(k, "123.4500", "123.45");
    EQ(k, "100", "100.000");
    EQ(k, "000.000", "0");
    EQ(k, "-007.10", "-7.1");
}

static void test_number_negative(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    LT(k, "-1", "0");
    LT(k, "-1", "1");
    LT(k, "-10", "-9.5");
    GT(k, "-0.001", "-0.01");
    LT(k, "-1000", "-999.99");
    LT(k, "-0.0000001", "-0");
    GT(k, "+1", "-1");
}

static void test_number_huge_exact(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    /* beyond any binary floating point: differ in the last digit only */
    LT(k, "123456789012345678901234567890", "123456789012345678901234567891");
    EQ(k, "123456789012345678901234567890", "123456789012345678901234567890.0");
    LT(k, "0.123456789012345678901234567890",
       "0.123456789012345678901234567891");
    LT(k, "-123456789012345678901234567891", "-123456789012345678901234567890");
    GT(k, "9223372036854775808", "9223372036854775807");
    GT(k, "18446744073709551616", "18446744073709551615");
    LT(k, "99999999999999999999999999999", "100000000000000000000000000000");

    /* a thousand digits each */
    char a[1002];
    char b[1002];
    memset(a, '9', 1000);
    memcpy(b, a, 1000);
    a[1000] = b[1000] = '\0';
    EQ(k, a, b);
    b[999] = '8';
    GT(k, a, b);
    a[500] = '.';
    b[500] = '.';
    GT(k, a, b);
}

static void test_number_exponent(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    EQ(k, "1e+20", "100000000000000000000");
    EQ(k, "1.5E-3", "0.0015");
    EQ(k, "1e0", "1");
    EQ(k, "12.5e1", "125");
    EQ(k, "0.000e10", "0");
    EQ(k, "-2.5e-1", "-0.25");
    EQ(k, "1E+2", "1e2");
    GT(k, "1e20", "99999999999999999999.9");
    LT(k, "1e-20", "0.000000000000000000011");
    LT(k, "-1e-300", "0");
    GT(k, "1e-300", "0");
    /* past long double's range: still ordered */
    GT(k, "1e5000", "1e4999");
    LT(k, "1e-5000", "1e-4999");
    LT(k, "-1e5000", "-1e4999");
    GT(k, "1e99999999999999999999999", "1e5000");
    /* float4/float8 shortest forms */
    EQ(k, "3.4028235e+38", "340282350000000000000000000000000000000");
    LT(k, "1.7976931348623157e+308", "1.7976931348623158e+308");
}

static void test_number_infinity(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    EQ(k, "Infinity", "infinity");
    EQ(k, "Infinity", "inf");
    EQ(k, "Infinity", "+Infinity");
    EQ(k, "INF", "+inf");
    EQ(k, "-Infinity", "-inf");
    GT(k, "Infinity", "1e99999");
    GT(k, "Infinity", "123456789012345678901234567890");
    LT(k, "-Infinity", "-1e99999");
    LT(k, "-Infinity", "Infinity");
    LT(k, "-Infinity", "0");
}

static void test_number_nan(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    EQ(k, "NaN", "NaN");
    EQ(k, "NaN", "nan");
    EQ(k, "NAN", "nan");
    GT(k, "NaN", "Infinity");
    GT(k, "NaN", "1");
    GT(k, "NaN", "1e99999");
    GT(k, "NaN", "-Infinity");
    GT(k, "NaN", "0");
}

static void test_number_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    BAD(k, "abc", "\"abc\" is not a number");
    BAD(k, "", "\"\" is not a number");
    BAD(k, "1.2.3", "\"1.2.3\" is not a number");
    BAD(k, "0x10", "\"0x10\" is not a number");
    static const char *const bad[] = {
        "+",     "-",    ".",         "+.",    "e5",    "1e",    "1e+",
        "1e+-2", "--1",  "+-1",       "1-",    "1_000", "1,5",   "١",
        "infin", "nanx", "-NaN",      "+nan",  "1..2",  "1 2",   "0b1",
        "1f",    "$1",   "Infinity1", "1e2.5", "e",     "1.e.2", "\xef\xbc\x91",
    };
    for (size_t i = 0; i < NELEMS(bad); i++)
        BAD(k, bad[i], NULL);
}

static void test_number_spaces_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    BAD(k, " 18", "\" 18\" is not a number");
    BAD(k, "18 ", "\"18 \" is not a number");
    BAD(k, "\t18", "\"?18\" is not a number");
    BAD(k, "18\n", "\"18?\" is not a number");
    BAD(k, "- 1", "\"- 1\" is not a number");
}

/* Values need not be NUL-terminated: only the lengths count. */
static void test_number_lengths(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_NUMBER;
    expect_cmp_n(k, "123456", 3, "123", 3, 0, __LINE__);
    expect_cmp_n(k, "1.5xyz", 3, "1.50", 4, 0, __LINE__);
    expect_cmp_n(k, "99", 1, "10", 2, -1, __LINE__);
    /* a NUL inside the length is a bad byte, not an end */
    expect_bad_n(k, "1\0002", 3, "\"1?2\" is not a number", __LINE__);
    expect_bad_n(k, "12", 0, "\"\" is not a number", __LINE__);
}

/* Integers at several scales, written plainly, padded or with exponents,
 * against integer arithmetic. */
static void format_scaled(int64_t m, int scale, int style, char *out,
                          size_t outsz)
{
    uint64_t a = m < 0 ? (uint64_t)(-m) : (uint64_t)m;
    uint64_t p = 1;
    for (int i = 0; i < scale; i++)
        p *= 10;
    const char *sign = m < 0 ? "-" : (style == 1 ? "+" : "");
    int n;
    if (style == 2)
        n = snprintf(out, outsz, "%s%llue-%d", sign, (unsigned long long)a,
                     scale);
    else if (style == 3)
        n = snprintf(out, outsz, "%s00%llu.%0*llu000e+0", sign,
                     (unsigned long long)(a / p), scale,
                     (unsigned long long)(a % p));
    else if (scale == 0)
        n = snprintf(out, outsz, "%s%llu", sign, (unsigned long long)a);
    else
        n = snprintf(out, outsz, "%s%llu.%0*llu", sign,
                     (unsigned long long)(a / p), scale,
                     (unsigned long long)(a % p));
    assert_true(n > 0 && (size_t)n < outsz);
}

static void test_number_random_against_integers(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        /* magnitudes up to 1e12 at scales up to 6 keep 1e18 in int64 */
        int64_t lim = i % 3 == 0 ? 1000 : INT64_C(1000000000000);
        int64_t ma = rng_range(-lim, lim);
        int64_t mb = i % 5 == 0 ? ma : rng_range(-lim, lim);
        int sa = (int)rng_range(0, 6);
        int sb = (int)rng_range(0, 6);
        int64_t ea = ma;
        int64_t eb = mb;
        for (int s = sa; s < 6; s++)
            ea *= 10;
        for (int s = sb; s < 6; s++)
            eb *= 10;
        char a[64];
        char b[64];
        format_scaled(ma, sa, (int)rng_range(0, 3), a, sizeof(a));
        format_scaled(mb, sb, (int)rng_range(0, 3), b, sizeof(b));
        int want = (ea > eb) - (ea < eb);
        EXPECT(RULES_KIND_NUMBER, a, b, want);
    }
}

/* ==== Booleans ==== */

static void test_bool_forms(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_BOOL;
    static const char *const yes[] = {"t",   "true", "TRUE", "True", "y", "Y",
                                      "yes", "YES",  "on",   "On",   "1", "T"};
    static const char *const no[] = {"f",  "false", "FALSE", "n",   "N",
                                     "no", "No",    "off",   "OFF", "0"};
    for (size_t i = 0; i < NELEMS(yes); i++) {
        EQ(k, yes[i], "true");
        expect_valid(k, yes[i]);
    }
    for (size_t i = 0; i < NELEMS(no); i++) {
        EQ(k, no[i], "false");
        expect_valid(k, no[i]);
    }
}

static void test_bool_order(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_BOOL;
    LT(k, "f", "t");
    LT(k, "false", "yes");
    GT(k, "t", "0");
    EQ(k, "t", "t");
    EQ(k, "f", "off");
}

static void test_bool_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_BOOL;
    BAD(k, "maybe", "\"maybe\" is not a boolean");
    BAD(k, "", "\"\" is not a boolean");
    BAD(k, " t", "\" t\" is not a boolean");
    static const char *const bad[] = {"2",  "tr",   "truee", "yess", "of",
                                      "-1", "00",   "01",    "nah",  "enable",
                                      "t ", "on\n", "fals",  "true1"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        BAD(k, bad[i], NULL);
}

/* ==== Dates and timestamps ==== */

static void test_instant_date_only(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-02", "2024-01-02T00:00:00Z");
    EQ(k, "2024-01-02", "2024-01-02 00:00:00");
    EQ(k, "2024-01-02", "2024-01-02 00:00");
    LT(k, "2024-01-02", "2024-01-02 00:00:00.000001");
    GT(k, "2024-01-02", "2024-01-01 23:59:59.999999");
    LT(k, "2024-01-02", "2024-01-03");
    LT(k, "2023-12-31", "2024-01-01");
    LT(k, "1969-12-31", "1970-01-01");
    LT(k, "2024-01-31", "2024-02-01");
}

static void test_instant_zones(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-02 03:04:05+01", "2024-01-02T02:04:05Z");
    EQ(k, "2024-01-02 03:04:05+01:00", "2024-01-02T02:04:05Z");
    EQ(k, "2024-01-02 03:04:05+0100", "2024-01-02T02:04:05z");
    EQ(k, "2024-01-02 03:04:05-05:30", "2024-01-02T08:34:05+00");
    EQ(k, "2024-01-02 03:04:05.123456+01", "2024-01-02T02:04:05.123456Z");
    EQ(k, "2024-01-02T03:04:05-00", "2024-01-02 03:04:05");
    /* a historic zone with seconds, as PostgreSQL prints LMT offsets */
    EQ(k, "1890-01-01 00:00:00+00:53:28", "1889-12-31T23:06:32Z");
    EQ(k, "1890-01-01 00:00:00+005328", "1889-12-31T23:06:32Z");
    EQ(k, "2024-01-02 00:00:00+15:59:59", "2024-01-01T08:00:01Z");
    LT(k, "2024-01-02 03:04:05+01", "2024-01-02 03:04:05+00");
    GT(k, "2024-01-02 03:04:05-01", "2024-01-02 03:04:05");
}

static void test_instant_across_midnight(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-01 23:30:00-01", "2024-01-02T00:30:00Z");
    EQ(k, "2024-01-01 00:30:00+02", "2023-12-31T22:30:00Z");
    EQ(k, "2024-03-01 01:00:00+02", "2024-02-29T23:00:00Z");
    EQ(k, "2023-03-01 01:00:00+02", "2023-02-28T23:00:00Z");
    EQ(k, "2024-01-01T00:00:00+14:00", "2023-12-31T10:00:00Z");
    EQ(k, "2023-12-31T23:59:59-12:00", "2024-01-01T11:59:59Z");
    GT(k, "2024-01-01 00:30:00-01", "2024-01-01");
    LT(k, "2024-01-01 00:30:00+01", "2024-01-01");
}

static void test_instant_no_zone_is_utc(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-02 03:04:05", "2024-01-02T03:04:05Z");
    EQ(k, "2024-01-02T03:04:05", "2024-01-02 03:04:05+00:00");
    EQ(k, "2024-01-02t03:04:05", "2024-01-02 03:04:05");
    LT(k, "2024-01-02 03:04:05", "2024-01-02 03:04:05-00:01");
}

static void test_instant_fraction(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-02 03:04:05.5", "2024-01-02 03:04:05.500000");
    EQ(k, "2024-01-02 03:04:05.1234567", "2024-01-02 03:04:05.123456");
    EQ(k, "2024-01-02 03:04:05.123456999", "2024-01-02 03:04:05.123456");
    LT(k, "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123457");
    LT(k, "2024-01-02 03:04:05.999999", "2024-01-02 03:04:06");
    EQ(k, "2024-01-02 03:04:05.0", "2024-01-02 03:04:05");
}

static void test_instant_leap_day(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    expect_valid(k, "2024-02-29");
    expect_valid(k, "2000-02-29");
    expect_valid(k, "2400-02-29 12:00:00");
    BAD(k, "2023-02-29", "\"2023-02-29\" is not a date or timestamp");
    BAD(k, "1900-02-29", "\"1900-02-29\" is not a date or timestamp");
    BAD(k, "2100-02-29T00:00:00Z", NULL);
    BAD(k, "2024-02-30", NULL);
    LT(k, "2024-02-28", "2024-02-29");
    LT(k, "2024-02-29", "2024-03-01");
    EQ(k, "2024-02-29 24:00:00", "2024-03-01");
    EQ(k, "2023-02-28 24:00:00", "2023-03-01");
}

static void test_instant_day_ranges(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    static const char *const last[] = {
        "2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30",
        "2023-05-31", "2023-06-30", "2023-07-31", "2023-08-31",
        "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31"};
    static const char *const past[] = {
        "2023-01-32", "2023-02-29", "2023-03-32", "2023-04-31",
        "2023-05-32", "2023-06-31", "2023-07-32", "2023-08-32",
        "2023-09-31", "2023-10-32", "2023-11-31", "2023-12-32"};
    for (size_t i = 0; i < NELEMS(last); i++) {
        expect_valid(k, last[i]);
        BAD(k, past[i], NULL);
    }
    /* each month's last day, midnight to midnight, is the next first */
    for (size_t i = 0; i + 1 < NELEMS(last); i++) {
        char a[32];
        char b[32];
        snprintf(a, sizeof(a), "%s 24:00:00", last[i]);
        snprintf(b, sizeof(b), "2023-%02zu-01", i + 2);
        EQ(k, a, b);
    }
}

static void test_instant_24h_and_leap_second(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    EQ(k, "2024-01-02 24:00:00", "2024-01-03 00:00:00");
    EQ(k, "2024-12-31 24:00:00+00", "2025-01-01");
    EQ(k, "2024-01-02 24:00", "2024-01-03");
    EQ(k, "2024-01-02 24:00:00.000", "2024-01-03");
    BAD(k, "2024-01-02 24:00:01", NULL);
    BAD(k, "2024-01-02 24:01:00", NULL);
    BAD(k, "2024-01-02 24:00:00.0000001", NULL);
    BAD(k, "2024-01-02 25:00:00", NULL);
    /* a leap second is the next minute's first */
    EQ(k, "2016-12-31 23:59:60", "2017-01-01");
    BAD(k, "2016-12-31 23:59:61", NULL);
    BAD(k, "2016-12-31 23:60:00", NULL);
}

static void test_instant_infinity(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    GT(k, "infinity", "9999999-12-31 23:59:59");
    LT(k, "-infinity", "0001-01-01 BC");
    LT(k, "-infinity", "infinity");
    EQ(k, "infinity", "Infinity");
    EQ(k, "infinity", "+infinity");
    EQ(k, "-infinity", "-INFINITY");
    BAD(k, "inf", NULL);
    BAD(k, "infinityZ", NULL);
}

static void test_instant_bc_forms(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    /* 1 BC is year 0, a leap year; 2 BC directly precedes it */
    EQ(k, "0001-12-31 24:00:00 BC", "0001-01-01");
    expect_valid(k, "0001-02-29 BC");
    BAD(k, "0002-02-29 BC", NULL);
    expect_valid(k, "0005-02-29 BC");
    LT(k, "0002-12-31 BC", "0001-01-01 BC");
    LT(k, "4713-11-24 00:00:00+00 BC", "0001-01-01");
    EQ(k, "0001-01-01 00:30:00+01 BC", "0002-12-31 23:30:00Z bc");
    GT(k, "0001-01-01 BC", "0002-01-01 BC");
    /* there is no year 0 in writing; a bare " BC" or other suffix is not
     * read */
    BAD(k, "0000-01-01", "\"0000-01-01\" is not a date or timestamp");
    BAD(k, "0000-01-01 BC", NULL);
    BAD(k, "2024-01-02 BCE", NULL);
    BAD(k, "2024-01-02 AD", NULL);
    BAD(k, "2024-01-02BC", NULL);
}

static void test_instant_years(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    GT(k, "10000-01-01", "9999-12-31 23:59:59.999999");
    /* PostgreSQL's last date, past where microseconds fit in int64 */
    GT(k, "5874897-12-31", "294276-12-31 23:59:59.999999");
    GT(k, "294276-12-31 23:59:59.999999", "294276-12-31");
    LT(k, "0001-01-01", "0002-01-01");
    BAD(k, "12345678-01-01", NULL);
    BAD(k, "999-01-01", NULL);
    BAD(k, "24-01-02", NULL);
}

/* Instants written in random zones and forms against gmtime_r. */
static void format_instant(int64_t secs, int64_t usec, int off_min, char *out,
                           size_t outsz)
{
    time_t t = (time_t)(secs + off_min * 60);
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    char zone[32] = "";
    int style = (int)rng_range(0, 3);
    int a = off_min < 0 ? -off_min : off_min;
    char sign = off_min < 0 ? '-' : '+';
    if (style == 0 && off_min == 0)
        snprintf(zone, sizeof(zone), "Z");
    else if (style == 1 && a % 60 == 0)
        snprintf(zone, sizeof(zone), "%c%02d", sign, a / 60);
    else if (style == 2)
        snprintf(zone, sizeof(zone), "%c%02d%02d", sign, a / 60, a % 60);
    else
        snprintf(zone, sizeof(zone), "%c%02d:%02d", sign, a / 60, a % 60);
    int n = snprintf(out, outsz, "%04d-%02d-%02d%c%02d:%02d:%02d.%06lld%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     rng() % 2 ? 'T' : ' ', tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long long)usec, zone);
    assert_true(n > 0 && (size_t)n < outsz);
}

static void test_instant_random_against_gmtime(void **state)
{
    (void)state;
    if (sizeof(time_t) < 8)
        skip();
    /* 0001-01-01 to 9999-12-31, less a day for the zone's room */
    const int64_t lo = INT64_C(-62135596800) + 86400;
    const int64_t hi = INT64_C(253402300799) - 86400;
    for (int i = 0; i < 20000; i++) {
        int64_t sa = rng_range(lo, hi);
        int64_t sb = i % 4 == 0 ? sa + rng_range(-3, 3) : rng_range(lo, hi);
        int64_t ua = rng_range(0, 999999);
        int64_t ub = i % 8 == 0 ? ua : rng_range(0, 999999);
        char a[64];
        char b[64];
        format_instant(sa, ua, (int)rng_range(-15 * 60, 15 * 60), a, sizeof(a));
        format_instant(sb, ub, (int)rng_range(-15 * 60, 15 * 60), b, sizeof(b));
        int want = sa != sb ? (sa > sb) - (sa < sb) : (ua > ub) - (ua < ub);
        EXPECT(RULES_KIND_INSTANT, a, b, want);
    }
}

static void test_instant_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_INSTANT;
    BAD(k, "yesterday", "\"yesterday\" is not a date or timestamp");
    BAD(k, "2024-13-01", "\"2024-13-01\" is not a date or timestamp");
    BAD(k, "", "\"\" is not a date or timestamp");
    static const char *const bad[] = {
        "2024-00-10",
        "2024-01-00",
        "2024-1-02",
        "2024-01-2",
        "2024/01/02",
        "20240102",
        "2024-01-02T",
        "2024-01-02 ",
        " 2024-01-02",
        "2024-01-02  03:04:05",
        "2024-01-02T3:04:05",
        "2024-01-02T03:4:05",
        "2024-01-02T03:04:5",
        "2024-01-02T03:04:05.",
        "2024-01-02T03:04:05,5",
        "2024-01-02T03",
        "2024-01-02T03:04:05+",
        "2024-01-02T03:04:05+1",
        "2024-01-02T03:04:05+01:",
        "2024-01-02T03:04:05+01:0",
        "2024-01-02T03:04:05+16",
        "2024-01-02T03:04:05+01:60",
        "2024-01-02T03:04:05+01:00:60",
        "2024-01-02T03:04:05ZZ",
        "2024-01-02T03:04:05 UTC",
        "2024-01-02T03:04:05 +01",
        "2024-01-02Z",
        "2024-01-02+01",
        "-2024-01-02",
        "+2024-01-02",
        "2024-01-02x",
        "03:04:05",
        "2024-01-02T03:04:05Z\n",
    };
    for (size_t i = 0; i < NELEMS(bad); i++)
        BAD(k, bad[i], NULL);
}

/* ==== Times of day ==== */

static void test_time_order(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_TIME;
    EQ(k, "03:04", "03:04:00");
    EQ(k, "03:04:05.5", "03:04:05.500000");
    EQ(k, "03:04:05.1234569", "03:04:05.123456");
    LT(k, "03:04:05", "03:04:05.000001");
    LT(k, "09:00", "10:00");
    LT(k, "00:00:00", "23:59:59.999999");
    GT(k, "24:00:00", "23:59:59.999999");
    EQ(k, "24:00", "24:00:00.000000");
    GT(k, "12:00:60", "12:00:59");
    EQ(k, "12:00:60", "12:01:00");
}

static void test_time_zones(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_TIME;
    EQ(k, "03:00:00+01", "02:00:00+00");
    EQ(k, "03:00:00+01", "02:00:00");
    EQ(k, "03:00:00+01:00", "02:00:00Z");
    EQ(k, "03:04:05+02", "01:04:05");
    EQ(k, "03:04:05-02:30", "05:34:05");
    EQ(k, "03:04:05+0230", "00:34:05");
}

static void test_time_zones_no_wrap(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_TIME;
    /* not wrapped around midnight: 23:00-02 is 25:00 UTC, after 01:00 */
    GT(k, "23:00:00-02", "01:00:00");
    LT(k, "01:00:00+02", "00:00:00");
    EQ(k, "12:00:00+00:53:28", "11:06:32");
}

static void test_time_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_TIME;
    BAD(k, "noon", "\"noon\" is not a time of day");
    BAD(k, "24:00:01", "\"24:00:01\" is not a time of day");
    BAD(k, "", "\"\" is not a time of day");
    static const char *const bad[] = {
        "25:00",
        "12:60",
        "12:00:61",
        "24:01",
        "24:00:00.5",
        "3:04:05",
        "03:4",
        "03",
        "0304",
        "03:04:",
        "03:04:05.",
        "03:04:05+16",
        "03:04:05+1",
        "03:04:05 Z",
        "T03:04:05",
        " 03:04",
        "03:04 ",
        "2024-01-02",
        "03:04:05+01:00:00:00",
        "-03:04",
        "838:59:59",
    };
    for (size_t i = 0; i < NELEMS(bad); i++)
        BAD(k, bad[i], NULL);
}

/* ==== UUIDs ==== */

static void test_uuid_forms(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_UUID;
    const char *canon = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    EQ(k, canon, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    EQ(k, canon, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}");
    EQ(k, canon, "a0eebc999c0b4ef8bb6d6bb9bd380a11");
    EQ(k, canon, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}");
    EQ(k, canon, "a0eebc99-9c0b4ef8-bb6d6bb9bd380a11");
}

static void test_uuid_order(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_UUID;
    LT(k, "00000000-0000-0000-0000-000000000000",
       "00000000-0000-0000-0000-000000000001");
    GT(k, "10000000-0000-0000-0000-000000000000",
       "0fffffff-ffff-ffff-ffff-ffffffffffff");
    /* by bytes, so letters order above digits whatever their case */
    GT(k, "A0000000-0000-0000-0000-000000000000",
       "90000000-0000-0000-0000-000000000000");
    LT(k, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
       "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12");
    GT(k, "ffffffff-ffff-ffff-ffff-ffffffffffff",
       "7fffffff-ffff-ffff-ffff-ffffffffffff");
}

static void test_uuid_invalid(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_UUID;
    BAD(k, "not-a-uuid", "\"not-a-uuid\" is not a uuid");
    BAD(k, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
        "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\" is not a uuid");
    static const char *const bad[] = {
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
        "a0eebc999-c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
        "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
        "{{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}}",
        " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{}",
        "{",
        "-",
        "",
    };
    for (size_t i = 0; i < NELEMS(bad); i++)
        BAD(k, bad[i], NULL);
}

/* ==== Text ==== */

static void test_text_bytewise(void **state)
{
    (void)state;
    const enum rules__kind k = RULES_KIND_TEXT;
    EQ(k, "abc", "abc");
    LT(k, "abc", "abd");
    LT(k, "ab", "abc");
    LT(k, "", "a");
    EQ(k, "", "");
    LT(k, "B", "a");
    LT(k, "10", "9");
    /* bytes are unsigned: a UTF-8 letter sorts after ASCII */
    GT(k, "\xc3\xa9", "z");
    expect_cmp_n(k, "a\0b", 3, "a\0c", 3, -1, __LINE__);
    expect_cmp_n(k, "a", 1, "a\0", 2, -1, __LINE__);
    expect_cmp_n(k, "abcdef", 3, "abcxyz", 3, 0, __LINE__);
    expect_cmp_n(k, NULL, 0, "", 0, 0, __LINE__);
    /* never invalid */
    assert_true(rules__valid(k, "\xff\x00\x01", 3));
    assert_true(rules__valid(k, "", 0));
}

/* ==== rules__valid ==== */

static void test_valid_per_kind(void **state)
{
    (void)state;
    static const struct {
        enum rules__kind kind;
        const char *v;
        bool ok;
    } cases[] = {
        {RULES_KIND_NUMBER, "18", true},
        {RULES_KIND_NUMBER, "999.99", true},
        {RULES_KIND_NUMBER, "-1.5e+10", true},
        {RULES_KIND_NUMBER, "NaN", true},
        {RULES_KIND_NUMBER, "-Infinity", true},
        {RULES_KIND_NUMBER, "18 years", false},
        {RULES_KIND_BOOL, "true", true},
        {RULES_KIND_BOOL, "No", true},
        {RULES_KIND_BOOL, "maybe", false},
        {RULES_KIND_INSTANT, "2024-01-02T03:04:05Z", true},
        {RULES_KIND_INSTANT, "2024-01-02 03:04:05+01:00", true},
        {RULES_KIND_INSTANT, "2024-01-02", true},
        {RULES_KIND_INSTANT, "-infinity", true},
        {RULES_KIND_INSTANT, "02/01/2024", false},
        {RULES_KIND_TIME, "03:04:05.5", true},
        {RULES_KIND_TIME, "03:04:05+02", true},
        {RULES_KIND_TIME, "3pm", false},
        {RULES_KIND_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", true},
        {RULES_KIND_UUID, "a0eebc99", false},
        {RULES_KIND_TEXT, "anything", true},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        bool got = rules__valid(cases[i].kind, cases[i].v, strlen(cases[i].v));
        if (got != cases[i].ok)
            fail_msg("%s \"%s\": valid %d, want %d", kind_name(cases[i].kind),
                     cases[i].v, got, cases[i].ok);
    }
    /* the length counts, not a NUL */
    assert_true(rules__valid(RULES_KIND_NUMBER, "12abc", 2));
    assert_false(rules__valid(RULES_KIND_NUMBER, "12abc", 3));
    assert_true(rules__valid(RULES_KIND_BOOL, "tx", 1));
    assert_false(rules__valid(RULES_KIND_NUMBER, NULL, 0));
}

/* ==== Messages ==== */

static void test_error_names_the_bad_value(void **state)
{
    (void)state;
    int cmp = 99;
    struct cdc_err err = {0};
    assert_int_equal(
        rules__compare(RULES_KIND_NUMBER, "12", 2, "x1", 2, &cmp, &err),
        CDC_EPROTO);
    assert_string_equal(err.msg, "\"x1\" is not a number");
    assert_int_equal(err.flags, 0);
    assert_int_equal(cmp, 99);
    /* both bad: the column's value is named */
    assert_int_equal(
        rules__compare(RULES_KIND_NUMBER, "a", 1, "b", 1, &cmp, &err),
        CDC_EPROTO);
    assert_string_equal(err.msg, "\"a\" is not a number");
    /* a NULL err is allowed */
    assert_int_equal(
        rules__compare(RULES_KIND_BOOL, "t", 1, "?", 1, &cmp, NULL),
        CDC_EPROTO);
    assert_int_equal(cmp, 99);
}

static void test_error_long_value_truncated(void **state)
{
    (void)state;
    char v[101];
    memset(v, 'a', 100);
    v[100] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "\"%.40s...\" is not a number", v);
    BAD(RULES_KIND_NUMBER, v, want);
    /* exactly 40 bytes: whole, no dots */
    v[40] = '\0';
    snprintf(want, sizeof(want), "\"%s\" is not a uuid", v);
    BAD(RULES_KIND_UUID, v, want);
}

static void test_error_truncation_keeps_characters_whole(void **state)
{
    (void)state;
    /* 39 bytes, then "é" across the cut at 40, then more */
    char v[128];
    memset(v, 'b', 39);
    memcpy(v + 39, "\xc3\xa9xyz", 6);
    char want[128];
    snprintf(want, sizeof(want), "\"%.39s...\" is not a boolean", v);
    BAD(RULES_KIND_BOOL, v, want);
    /* a 4-byte character starting at byte 38 */
    memset(v, 'b', 38);
    memcpy(v + 38, "\xf0\x9f\x98\x80zzz", 8);
    snprintf(want, sizeof(want), "\"%.38s...\" is not a boolean", v);
    BAD(RULES_KIND_BOOL, v, want);
    /* one ending at byte 40 is kept */
    memset(v, 'b', 38);
    memcpy(v + 38, "\xc3\xa9zzz", 6);
    snprintf(want, sizeof(want), "\"%.40s...\" is not a boolean", v);
    BAD(RULES_KIND_BOOL, v, want);
}

static void test_error_control_characters(void **state)
{
    (void)state;
    BAD(RULES_KIND_NUMBER, "1\n2\r3\t4\x01\x7f",
        "\"1?2?3?4??\" is not a number");
    BAD(RULES_KIND_TIME, "\x1b[31m", "\"?[31m\" is not a time of day");
    expect_bad_n(RULES_KIND_UUID, "\0\0", 2, "\"??\" is not a uuid", __LINE__);
}

/* ==== Masking ==== */

static void test_mask_ascii(void **state)
{
    (void)state;
    expect_mask("john@example.com", "*", "j**************m");
    expect_mask("1234567890", "X", "1XXXXXXXX0");
    expect_mask("abc", "*", "a*c");
    expect_mask("a b", "#", "a#b");
}

static void test_mask_short_values(void **state)
{
    (void)state;
    expect_mask("", "*", "");
    expect_mask("a", "*", "a");
    expect_mask("ab", "*", "ab");
    expect_mask("\xc3\x9c\xc3\xa9", "*", "\xc3\x9c\xc3\xa9"); /* "Üé" */
    expect_mask("\xf0\x9f\x98\x80", "*", "\xf0\x9f\x98\x80");
    size_t outlen = 99;
    const char *out = rules__mask(NULL, 0, "*", 1, &fx.arena, &outlen);
    assert_non_null(out);
    assert_int_equal(outlen, 0);
    assert_string_equal(out, "");
}

static void test_mask_multibyte_input(void **state)
{
    (void)state;
    /* "Ünïcödé": 7 characters, 11 bytes */
    expect_mask("\xc3\x9cn\xc3\xaf\x63\xc3\xb6\x64\xc3\xa9", "*",
                "\xc3\x9c*****\xc3\xa9");
    /* three characters of 3 and 4 bytes */
    expect_mask("\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x82\xac", "-",
                "\xe2\x82\xac-\xe2\x82\xac");
    expect_mask("a\xf0\x9f\x98\x80\xf0\x9f\x98\x80z", "*", "a**z");
}

static void test_mask_multibyte_mask(void **state)
{
    (void)state;
    /* "•" is three bytes */
    expect_mask("secret", "\xe2\x80\xa2",
                "s\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2t");
    expect_mask("abcd", "xy", "axyxyd");
    expect_mask("\xc3\x9c\x61\xc3\xa9", "\xe2\x80\xa2",
                "\xc3\x9c\xe2\x80\xa2\xc3\xa9");
}

static void test_mask_empty_mask(void **state)
{
    (void)state;
    expect_mask("abcdef", "", "af");
    expect_mask("abc", "", "ac");
    expect_mask("ab", "", "ab");
    size_t outlen = 99;
    const char *out = rules__mask("hello", 5, NULL, 0, &fx.arena, &outlen);
    assert_int_equal(outlen, 2);
    assert_string_equal(out, "ho");
}

static void test_mask_invalid_utf8(void **state)
{
    (void)state;
    /* a byte that starts nothing counts as one character */
    expect_mask("a\xff\xfe"
                "b",
                "*", "a**b");
    /* a lone continuation byte, too */
    expect_mask("\x80\x80\x80", "*", "\x80*\x80");
    /* a truncated lead at the end is one character by itself */
    expect_mask("ab\xc3", "*", "a*\xc3");
    expect_mask("ab\xe2\x82", "*", "a**\x82");
    /* a lead byte followed by a non-continuation */
    expect_mask("\xc3"
                "abc",
                "*", "\xc3**c");
    /* 0xF8 and up never lead */
    expect_mask("\xf8\x80\x80\x80", "*", "\xf8**\x80");
}

static void test_mask_lengths(void **state)
{
    (void)state;
    /* not NUL-terminated, and a NUL inside is a character */
    size_t outlen = 0;
    const char *out = rules__mask("abcdefXYZ", 6, "*", 1, &fx.arena, &outlen);
    assert_int_equal(outlen, 6);
    assert_string_equal(out, "a****f");
    out = rules__mask("a\0b\0c", 5, "#", 1, &fx.arena, &outlen);
    assert_int_equal(outlen, 5);
    assert_memory_equal(out, "a###c", 6);
    /* a sequence cut short by the length is not completed past it */
    out = rules__mask("ab\xe2\x82\x82", 4, "*", 1, &fx.arena, &outlen);
    assert_int_equal(outlen, 4);
    assert_memory_equal(out, "a**\x82", 5);
    /* the copy of a short value is a copy */
    const char *s = "xy";
    out = rules__mask(s, 2, "*", 1, &fx.arena, &outlen);
    assert_true(out != s);
    assert_string_equal(out, "xy");
}

static void test_mask_long_value(void **state)
{
    (void)state;
    /* 10000 two-byte characters, with a three-byte mask */
    size_t n = 10000;
    char *s = cdc_arena_alloc(&fx.arena, 2 * n);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    size_t outlen = 0;
    const char *out =
        rules__mask(s, 2 * n, "\xe2\x80\xa2", 3, &fx.arena, &outlen);
    assert_int_equal(outlen, 2 + 3 * (n - 2) + 2);
    assert_memory_equal(out, "\xc3\xa9\xe2\x80\xa2", 5);
    assert_memory_equal(out + outlen - 5, "\xe2\x80\xa2\xc3\xa9", 5);
    assert_int_equal(out[outlen], '\0');
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_kind_pg_short_names),
        T(test_kind_pg_long_names),
        T(test_kind_mysql_names),
        T(test_kind_text_fallbacks),
        T(test_number_order),
        T(test_number_equal_forms),
        T(test_number_negative),
        T(test_number_huge_exact),
        T(test_number_exponent),
        T(test_number_infinity),
        T(test_number_nan),
        T(test_number_invalid),
        T(test_number_spaces_invalid),
        T(test_number_lengths),
        T(test_number_random_against_integers),
        T(test_bool_forms),
        T(test_bool_order),
        T(test_bool_invalid),
        T(test_instant_date_only),
        T(test_instant_zones),
        T(test_instant_across_midnight),
        T(test_instant_no_zone_is_utc),
        T(test_instant_fraction),
        T(test_instant_leap_day),
        T(test_instant_day_ranges),
        T(test_instant_24h_and_leap_second),
        T(test_instant_infinity),
        T(test_instant_bc_forms),
        T(test_instant_years),
        T(test_instant_random_against_gmtime),
        T(test_instant_invalid),
        T(test_time_order),
        T(test_time_zones),
        T(test_time_zones_no_wrap),
        T(test_time_invalid),
        T(test_uuid_forms),
        T(test_uuid_order),
        T(test_uuid_invalid),
        T(test_text_bytewise),
        T(test_valid_per_kind),
        T(test_error_names_the_bad_value),
        T(test_error_long_value_truncated),
        T(test_error_truncation_keeps_characters_whole),
        T(test_error_control_characters),
        T(test_mask_ascii),
        T(test_mask_short_values),
        T(test_mask_multibyte_input),
        T(test_mask_multibyte_mask),
        T(test_mask_empty_mask),
        T(test_mask_invalid_utf8),
        T(test_mask_lengths),
        T(test_mask_long_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_copy_mysql_text.c: unit tests of replicator/copy_mysql_text.c: the
 * type names and value forms a copied MySQL row receives (the binlog
 * decoder's), the select expression of a column, ENUM/SET members and
 * MariaDB's JSON check as information_schema writes them, the range
 * count, integer bounds and WHERE conditions of key ranges, the range's
 * key-value key, the copy plan's text (round trips, malformed plans) and
 * the position of copied rows.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "common/common.h"
#include "replicator/binlog.h"
#include "replicator/copy_mysql_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

/* Resources of the running test, released by teardown also when an
 * assertion leaves the test early. */
static struct {
    struct cdc_arena arena;
    struct cdc_buf buf;
    struct cdc_err err;
    char *name;
    char **members;
    size_t nmembers;
    struct source__my_plan plan;
    struct source__my_plan back;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_arena_init(&fx.arena);
    cdc_buf_init(&fx.buf, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_arena_release(&fx.arena);
    cdc_buf_release(&fx.buf);
    cdc_free(fx.name);
    source__my_members_free(fx.members, fx.nmembers);
    source__my_plan_release(&fx.plan);
    source__my_plan_release(&fx.back);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== Type names ==== */

struct type_case {
    const char *data_type;
    const char *column_type;
    uint32_t charset;
    const char *override;
    const char *want;
};

static void test_type_names(void **state)
{
    (void)state;
    static const struct type_case cases[] = {
        {"tinyint", "tinyint(4)", 0, NULL, "tinyint"},
        {"tinyint", "tinyint(3) unsigned", 0, NULL, "tinyint unsigned"},
        {"smallint", "smallint(5) unsigned", 0, NULL, "smallint unsigned"},
        {"mediumint", "mediumint(9)", 0, NULL, "mediumint"},
        {"int", "int(11)", 0, NULL, "int"},
        {"int", "int unsigned", 0, NULL, "int unsigned"},
        {"bigint", "bigint(20) unsigned zerofill", 0, NULL, "bigint unsigned"},
        {"float", "float", 0, NULL, "float"},
        {"float", "float(7,3) unsigned", 0, NULL, "float unsigned"},
        {"double", "double", 0, NULL, "double"},
        {"decimal", "decimal(10,2)", 0, NULL, "decimal(10,2)"},
        {"decimal", "decimal(20,6) unsigned", 0, NULL,
         "decimal(20,6) unsigned"},
        {"decimal", "decimal(65,0)", 0, NULL, "decimal(65,0)"},
        {"year", "year(4)", 0, NULL, "year"},
        {"date", "date", 0, NULL, "date"},
        {"time", "time", 0, NULL, "time"},
        {"time", "time(3)", 0, NULL, "time(3)"},
        {"datetime", "datetime", 0, NULL, "datetime"},
        {"datetime", "datetime(6)", 0, NULL, "datetime(6)"},
        {"timestamp", "timestamp(6)", 0, NULL, "timestamp(6)"},
        {"timestamp", "timestamp", 0, NULL, "timestamp"},
        {"bit", "bit(5)", 0, NULL, "bit(5)"},
        {"bit", "bit(1)", 0, NULL, "bit(1)"},
        {"char", "char(10)", 45, NULL, "char"},
        {"varchar", "varchar(100)", 8, NULL, "varchar"},
        {"binary", "binary(4)", 63, NULL, "binary"},
        {"varbinary", "varbinary(20)", 63, NULL, "varbinary"},
        {"tinytext", "tinytext", 45, NULL, "tinytext"},
        {"text", "text", 45, NULL, "text"},
        {"mediumtext", "mediumtext", 45, NULL, "mediumtext"},
        {"longtext", "longtext", 46, NULL, "longtext"},
        {"tinyblob", "tinyblob", 63, NULL, "tinyblob"},
        {"blob", "blob", 63, NULL, "blob"},
        {"mediumblob", "mediumblob", 63, NULL, "mediumblob"},
        {"longblob", "longblob", 63, NULL, "longblob"},
        {"enum", "enum('a','b')", 45, NULL, "enum"},
        {"set", "set('a','b')", 45, NULL, "set"},
        {"json", "json", 0, NULL, "json"},
        {"longtext", "longtext", 46, "json", "json"},
        {"geometry", "geometry", 0, NULL, "geometry"},
        {"point", "point", 0, NULL, "point"},
        {"multipolygon", "multipolygon", 0, NULL, "multipolygon"},
        {"geometrycollection", "geometrycollection", 0, NULL,
         "geometrycollection"},
        {"geomcollection", "geomcollection", 0, NULL, "geometrycollection"},
        {"inet6", "inet6", 0, NULL, "binary"},
        {"uuid", "uuid", 0, NULL, "binary"},
        {"something", "something(3)", 0, NULL, "something"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        const struct type_case *c = &cases[i];
        struct source__my_colkind k;
        source__my_col_kind(c->data_type, c->column_type, c->charset,
                            c->override, &k);
        fx.name =
            source__my_col_type_name(c->data_type, c->column_type, c->charset,
                                     k.is_unsigned, c->override);
        if (strcmp(fx.name, c->want) != 0)
            fail_msg("%s / %s: \"%s\", want \"%s\"", c->data_type,
                     c->column_type, fx.name, c->want);
        cdc_free(fx.name);
        fx.name = NULL;
    }
}

/* ==== Kinds and select expressions ==== */

static void kind(const char *dt, const char *ct, uint32_t cs,
                 struct source__my_colkind *k)
{
    source__my_col_kind(dt, ct, cs, NULL, k);
}

static void test_kinds(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("int", "int(10) unsigned", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TEXT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NUMBER);
    assert_true(k.integer);
    assert_true(k.is_unsigned);
    kind("bigint", "bigint(20)", 0, &k);
    assert_true(k.integer);
    assert_false(k.is_unsigned);
    kind("decimal", "decimal(10,2)", 0, &k);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NUMBER);
    assert_false(k.integer);
    kind("float", "float", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_FLOAT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
    kind("double", "double", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_DOUBLE);
    kind("timestamp", "timestamp(6)", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TIMESTAMP);
    assert_int_equal(k.lit, SOURCE_MY_LIT_STRING);
    kind("datetime", "datetime(6)", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TEXT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_STRING);
    kind("bit", "bit(5)", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_BIT);
    assert_int_equal(k.nbits, 5);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
    kind("varchar", "varchar(10)", 45, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TEXT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_STRING);
    kind("binary", "binary(4)", 63, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_BASE64);
    assert_int_equal(k.lit, SOURCE_MY_LIT_BINARY);
    kind("blob", "blob", 63, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_BASE64);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
    kind("text", "text", 45, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TEXT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
    /* enums sort by index, not text: no bounds */
    kind("enum", "enum('b','a')", 45, &k);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
    kind("point", "point", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_GEOMETRY);
    kind("inet6", "inet6", 0, &k);
    assert_int_equal(k.kind, SOURCE_MY_V_BASE64);
    assert_int_equal(k.binary_len, 16);
    source__my_col_kind("longtext", "longtext", 46, "json", &k);
    assert_int_equal(k.kind, SOURCE_MY_V_TEXT);
    assert_int_equal(k.lit, SOURCE_MY_LIT_NONE);
}

static void test_select(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("int", "int", 0, &k);
    source__my_col_select(&k, "a`b", &fx.buf);
    assert_string_equal(fx.buf.data, "`a``b`");
    cdc_buf_reset(&fx.buf);
    kind("float", "float", 0, &k);
    source__my_col_select(&k, "f", &fx.buf);
    assert_string_equal(fx.buf.data, "CAST(`f` AS DOUBLE)");
    cdc_buf_reset(&fx.buf);
    kind("double", "double(10,2)", 0, &k);
    source__my_col_select(&k, "d", &fx.buf);
    assert_string_equal(fx.buf.data, "CAST(`d` AS DOUBLE)");
    cdc_buf_reset(&fx.buf);
    kind("inet4", "inet4", 0, &k);
    source__my_col_select(&k, "ip", &fx.buf);
    assert_string_equal(fx.buf.data, "CAST(`ip` AS BINARY(4))");
}

/* ==== Values ==== */

static const char *value_n(const struct source__my_colkind *k, const char *raw,
                           size_t len, size_t *outlen)
{
    const char *out = NULL;
    cdc_err_clear(&fx.err);
    int rc =
        source__my_col_value(k, raw, len, &fx.arena, &out, outlen, &fx.err);
    if (rc != CDC_OK)
        fail_msg("\"%.*s\" rejected: %s", (int)len, raw, fx.err.msg);
    assert_non_null(out);
    assert_int_equal(out[*outlen], '\0');
    return out;
}

static void want_value(const struct source__my_colkind *k, const char *raw,
                       size_t len, const char *want)
{
    size_t n = 0;
    const char *got = value_n(k, raw, len, &n);
    if (n != strlen(want) || memcmp(got, want, n) != 0)
        fail_msg("\"%.*s\" gave \"%.*s\", want \"%s\"", (int)len, raw, (int)n,
                 got, want);
}

static void want_text(const struct source__my_colkind *k, const char *raw,
                      const char *want)
{
    want_value(k, raw, strlen(raw), want);
}

static void want_refused(const struct source__my_colkind *k, const char *raw,
                         size_t len)
{
    const char *out = NULL;
    size_t n = 0;
    cdc_err_clear(&fx.err);
    assert_int_equal(
        source__my_col_value(k, raw, len, &fx.arena, &out, &n, &fx.err),
        CDC_EPROTO);
    assert_int_equal(fx.err.code, CDC_EPROTO);
    assert_true(fx.err.msg[0] != '\0');
}

static void test_value_text(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("varchar", "varchar(10)", 45, &k);
    const char raw[] = "h\xc3\xa9llo";
    size_t n = 0;
    /* text is passed through, not copied */
    assert_ptr_equal(value_n(&k, raw, strlen(raw), &n), raw);
    assert_int_equal(n, strlen(raw));
    kind("decimal", "decimal(10,2)", 0, &k);
    want_text(&k, "-0.50", "-0.50");
    kind("year", "year", 0, &k);
    want_text(&k, "0000", "0000");
    kind("timestamp", "timestamp(6)", 0, &k);
    want_text(&k, "2038-01-19 03:14:07.999999",
              "2038-01-19 03:14:07.999999+00");
    want_text(&k, "0000-00-00 00:00:00", "0000-00-00 00:00:00+00");
}

static void test_value_base64(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("varbinary", "varbinary(9)", 63, &k);
    want_value(&k, "", 0, "");
    want_value(&k, "a", 1, "YQ==");
    want_value(&k, "ab", 2, "YWI=");
    want_value(&k, "abc", 3, "YWJj");
    want_value(&k, "ab\0\0", 4, "YWIAAA==");
    want_value(&k, "\xde\xad\xbe\xef\x00", 5, "3q2+7wA=");
    want_value(&k, "\xff\xff\xfe", 3, "///+");
}

static void test_value_bit(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("bit", "bit(5)", 0, &k);
    want_value(&k, "\x15", 1, "10101");
    want_value(&k, "\x00", 1, "00000");
    kind("bit", "bit(10)", 0, &k);
    want_value(&k, "\x02\x01", 2, "1000000001");
    kind("bit", "bit(64)", 0, &k);
    want_value(
        &k, "\x80\0\0\0\0\0\0\x01", 8,
        "1000000000000000000000000000000000000000000000000000000000000001");
    kind("bit", "bit(1)", 0, &k);
    want_value(&k, "\x01", 1, "1");
    kind("bit", "bit(5)", 0, &k);
    want_refused(&k, "123456789", 9);
}

static void test_value_geometry(void **state)
{
    (void)state;
    struct source__my_colkind k;
    kind("point", "point", 0, &k);
    static const char pt[] = "\0\0\0\0\x01\x01\0\0\0"
                             "\0\0\0\0\0\0\xf8\x3f"
                             "\0\0\0\0\0\0\0\xc0";
    want_value(&k, pt, sizeof(pt) - 1,
               "0101000000000000000000F83F00000000000000C0");
    static const char srid[] = "\xe6\x10\0\0\x01\x01\0\0\0"
                               "\0\0\0\0\0\0\xf0\x3f"
                               "\0\0\0\0\0\0\0\x40";
    want_value(&k, srid, sizeof(srid) - 1,
               "SRID=4326;0101000000000000000000F03F0000000000000040");
    want_value(&k, "\0\0\0\0", 4, "");
    want_refused(&k, "\0\0\0", 3);
}

/* The decoder's text of a float or double, for comparison. */
static void decoder_text(double v, bool is_float, char *out, size_t outsz)
{
    source_binlog_format_real(is_float ? (double)(float)v : v, is_float, out,
                              outsz);
}

static void test_value_real(void **state)
{
    (void)state;
    struct source__my_colkind f;
    struct source__my_colkind d;
    kind("float", "float", 0, &f);
    kind("double", "double", 0, &d);
    /* CAST(float AS DOUBLE) as MariaDB prints it, and the float it is */
    want_text(&f, "1.2345677614212036", "1.2345678");
    want_text(&f, "0.10000000149011612", "0.1");
    want_text(&f, "3.4028230607370965e38", "3.402823e+38");
    want_text(&f, "16777216", "1.6777216e+07");
    want_text(&f, "123456", "123456");
    want_text(&f, "0.0000000001000000013351432", "1e-10");
    want_text(&f, "0", "0");
    want_text(&d, "0.30000000000000004", "0.30000000000000004");
    want_text(&d, "1e15", "1e+15");
    want_text(&d, "1.7976931348623157e308", "1.7976931348623157e+308");
    want_text(&d, "5e-324", "5e-324");
    want_text(&d, "-2.5e-10", "-2.5e-10");
    want_text(&d, "123456.789", "123456.789");
    want_text(&d, "-0", "-0");
    /* the same text as the decoder's own formatting */
    static const double samples[] = {0.1,           1.0 / 3,       -1e-5,
                                     123456789.125, 6.02214076e23, 1e-300};
    for (size_t i = 0; i < NELEMS(samples); i++) {
        for (int is_float = 0; is_float < 2; is_float++) {
            char raw[64];
            char want[64];
            double v = is_float ? (double)(float)samples[i] : samples[i];
            snprintf(raw, sizeof(raw), "%.17g", v);
            decoder_text(samples[i], is_float, want, sizeof(want));
            want_text(is_float ? &f : &d, raw, want);
        }
    }
    want_refused(&d, "abc", 3);
    want_refused(&d, "", 0);
    want_refused(&d, "1.5x", 4);
    want_refused(&d, "inf", 3);
    want_refused(&d, "1e999", 5);
}

/* ==== ENUM and SET members, JSON checks ==== */

static void members(const char *column_type)
{
    source__my_members_free(fx.members, fx.nmembers);
    fx.members = NULL;
    fx.nmembers = 0;
    cdc_err_clear(&fx.err);
    if (source__my_members_parse(column_type, &fx.members, &fx.nmembers,
                                 &fx.err) != CDC_OK)
        fail_msg("%s rejected: %s", column_type, fx.err.msg);
}

static void test_members(void **state)
{
    (void)state;
    members("enum('a','b''c','d\\\\e','x,y','\xc3\xa9')");
    assert_int_equal(fx.nmembers, 5);
    assert_string_equal(fx.members[0], "a");
    assert_string_equal(fx.members[1], "b'c");
    assert_string_equal(fx.members[2], "d\\e");
    assert_string_equal(fx.members[3], "x,y");
    assert_string_equal(fx.members[4], "\xc3\xa9");
    members("set('p','q')");
    assert_int_equal(fx.nmembers, 2);
    assert_string_equal(fx.members[1], "q");
    /* as MariaDB writes a tab, a newline, a quote and an empty member */
    members("enum('a\tb','c\\nd','q\"r','s\\\\''t',' sp','')");
    assert_int_equal(fx.nmembers, 6);
    assert_string_equal(fx.members[0], "a\tb");
    assert_string_equal(fx.members[1], "c\nd");
    assert_string_equal(fx.members[2], "q\"r");
    assert_string_equal(fx.members[3], "s\\'t");
    assert_string_equal(fx.members[4], " sp");
    assert_string_equal(fx.members[5], "");
    members("ENUM('x')");
    assert_int_equal(fx.nmembers, 1);
    members("enum('\\0\\r\\Z\\b\\%')");
    assert_string_equal(fx.members[0], "");
    assert_int_equal(fx.nmembers, 1);

    static const char *const bad[] = {
        "int(11)",    "enum",    "enum()",    "enum('a'",      "enum('a',)",
        "enum('a')x", "enum(a)", "sets('a')", "enum('a' 'b')",
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        char **m = NULL;
        size_t n = 99;
        cdc_err_clear(&fx.err);
        if (source__my_members_parse(bad[i], &m, &n, &fx.err) != CDC_EPROTO)
            fail_msg("%s accepted", bad[i]);
        assert_null(m);
        assert_int_equal(n, 0);
        assert_true(fx.err.msg[0] != '\0');
    }
}

static void test_json_check(void **state)
{
    (void)state;
    assert_true(source__my_json_check("json_valid(`js`)", "js"));
    assert_true(source__my_json_check(" JSON_VALID ( `js` ) ", "js"));
    assert_true(source__my_json_check("json_valid(`a``b`)", "a`b"));
    assert_false(source__my_json_check("json_valid(`js`)", "j"));
    assert_false(source__my_json_check("json_valid(`js`)", "jsx"));
    assert_false(source__my_json_check("json_valid(`js`) and 1", "js"));
    assert_false(source__my_json_check("json_valid(js)", "js"));
    assert_false(source__my_json_check("json_validx(`js`)", "js"));
    assert_false(source__my_json_check("`js` > 0", "js"));
    assert_false(source__my_json_check("", "js"));
}

/* ==== Ranges ==== */

static void test_range_count(void **state)
{
    (void)state;
    assert_int_equal(source__my_range_count(0, 4), 1);
    assert_int_equal(source__my_range_count(3999, 4), 1);
    assert_int_equal(source__my_range_count(4000, 4), 2);
    assert_int_equal(source__my_range_count(10000, 4), 5);
    assert_int_equal(source__my_range_count(50000, 4), 16);
    assert_int_equal(source__my_range_count(UINT64_MAX, 64), 256);
    assert_int_equal(source__my_range_count(1000000, 0), 4);
    assert_int_equal(source__my_range_count(1000000, 1), 4);
}

static size_t bounds(const char *min, const char *max, bool uns, size_t n,
                     char (*out)[SOURCE_MY_INT_MAX], size_t max_out)
{
    return source__my_int_bounds(min, max, uns, n, out, max_out);
}

static void test_int_bounds(void **state)
{
    (void)state;
    char b[16][SOURCE_MY_INT_MAX];
    assert_int_equal(bounds("1", "100", false, 4, b, 16), 3);
    assert_string_equal(b[0], "25");
    assert_string_equal(b[1], "50");
    assert_string_equal(b[2], "75");
    assert_int_equal(bounds("-10", "10", false, 2, b, 16), 1);
    assert_string_equal(b[0], "0");
    assert_int_equal(
        bounds("-9223372036854775808", "9223372036854775807", false, 2, b, 16),
        1);
    assert_string_equal(b[0], "-1");
    assert_int_equal(bounds("0", "18446744073709551615", true, 4, b, 16), 3);
    assert_string_equal(b[0], "4611686018427387903");
    assert_string_equal(b[2], "13835058055282163711");
    /* a span narrower than the ranges: fewer bounds, still increasing */
    assert_int_equal(bounds("1", "3", false, 16, b, 16), 2);
    assert_string_equal(b[0], "1");
    assert_string_equal(b[1], "2");
    /* room for two only */
    assert_int_equal(bounds("1", "100", false, 4, b, 2), 2);
    /* nothing to split */
    assert_int_equal(bounds("5", "5", false, 4, b, 16), 0);
    assert_int_equal(bounds("6", "5", false, 4, b, 16), 0);
    assert_int_equal(bounds("1", "100", false, 1, b, 16), 0);
    assert_int_equal(bounds("-1", "5", true, 4, b, 16), 0);
    assert_int_equal(bounds("a", "5", false, 4, b, 16), 0);
    assert_int_equal(bounds("1", "", false, 4, b, 16), 0);
    assert_int_equal(bounds("1", "99999999999999999999", false, 4, b, 16), 0);
    /* every bound is within the span and increasing */
    for (size_t n = 2; n < 16; n++) {
        size_t got = bounds("-7", "1000", false, n, b, 16);
        assert_true(got <= n - 1);
        long long last = -8;
        for (size_t i = 0; i < got; i++) {
            long long v = strtoll(b[i], NULL, 10);
            assert_true(v > last);
            assert_true(v < 1000);
            last = v;
        }
    }
}

static void test_int_width(void **state)
{
    (void)state;
    assert_int_equal(source__my_int_width("1", "50000", false), 50000);
    assert_int_equal(source__my_int_width("-5", "5", false), 11);
    assert_int_equal(source__my_int_width("7", "7", true), 1);
    assert_int_equal(source__my_int_width("0", "18446744073709551615", true),
                     UINT64_MAX);
    assert_int_equal(source__my_int_width("-9223372036854775808",
                                          "9223372036854775807", false),
                     UINT64_MAX);
    assert_int_equal(source__my_int_width("-9223372036854775808", "-1", false),
                     UINT64_C(9223372036854775808));
    assert_int_equal(source__my_int_width("5", "4", false), 0);
    assert_int_equal(source__my_int_width("-1", "4", true), 0);
    assert_int_equal(source__my_int_width("x", "4", false), 0);
    assert_int_equal(source__my_int_width("1", "4.5", false), 0);
}

static void where(size_t n, const char *const *lo, const char *const *hi,
                  const enum source__my_lit *lits)
{
    static const char *const names[] = {"a", "b`c", "d"};
    size_t lo_lens[3] = {0, 0, 0};
    size_t hi_lens[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        lo_lens[i] = lo != NULL ? strlen(lo[i]) : 0;
        hi_lens[i] = hi != NULL ? strlen(hi[i]) : 0;
    }
    cdc_buf_reset(&fx.buf);
    source__my_range_where(names, lits, n, lo, lo_lens, hi, hi_lens, &fx.buf);
}

static void test_range_where(void **state)
{
    (void)state;
    static const enum source__my_lit num[] = {
        SOURCE_MY_LIT_NUMBER, SOURCE_MY_LIT_NUMBER, SOURCE_MY_LIT_NUMBER};
    static const enum source__my_lit mix[] = {
        SOURCE_MY_LIT_NUMBER, SOURCE_MY_LIT_STRING, SOURCE_MY_LIT_BINARY};
    const char *lo1[] = {"5"};
    const char *hi1[] = {"-9"};
    where(1, NULL, NULL, num);
    assert_string_equal(fx.buf.data, "TRUE");
    where(1, lo1, NULL, num);
    assert_string_equal(fx.buf.data, "`a` > 5");
    where(1, NULL, hi1, num);
    assert_string_equal(fx.buf.data, "`a` <= -9");
    where(1, lo1, hi1, num);
    assert_string_equal(fx.buf.data, "`a` > 5 AND `a` <= -9");
    where(0, lo1, hi1, num);
    assert_string_equal(fx.buf.data, "TRUE");
    /* something that is no plain number is written as a string */
    const char *odd[] = {"1; DROP"};
    where(1, odd, NULL, num);
    assert_string_equal(fx.buf.data, "`a` > _utf8mb4 X'313B2044524F50'");

    const char *lo2[] = {"1", "x'y"};
    const char *hi2[] = {"2", ""};
    where(2, lo2, hi2, mix);
    assert_string_equal(
        fx.buf.data,
        "((`a` > 1) OR (`a` = 1 AND `b``c` > _utf8mb4 X'782779')) AND "
        "((`a` < 2) OR (`a` = 2 AND `b``c` < _utf8mb4 X'') OR "
        "(`a` = 2 AND `b``c` = _utf8mb4 X''))");
    const char *lo3[] = {"1", "s", "\x01\xff"};
    where(3, lo3, NULL, mix);
    assert_string_equal(
        fx.buf.data,
        "((`a` > 1) OR (`a` = 1 AND `b``c` > _utf8mb4 X'73') OR "
        "(`a` = 1 AND `b``c` = _utf8mb4 X'73' AND `d` > X'01FF'))");
}

static void test_range_key(void **state)
{
    (void)state;
    char key[SOURCE_MY_KEY_MAX];
    source__my_range_key(3, 12, key, sizeof(key));
    assert_string_equal(key, "copy.mysql.3.12");
    source__my_range_key(SIZE_MAX, SIZE_MAX, key, sizeof(key));
    assert_true(strlen(key) < SOURCE_MY_KEY_MAX - 1);
    for (const char *p = key; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                    *p == '.');
}

/* ==== The plan ==== */

static void parse_back(void)
{
    cdc_err_clear(&fx.err);
    source__my_plan_release(&fx.back);
    if (source__my_plan_parse(fx.buf.data, fx.buf.len, &fx.back, &fx.err) !=
        CDC_OK)
        fail_msg("plan rejected: %s\n%s", fx.err.msg, fx.buf.data);
}

static void make_plan(void)
{
    snprintf(fx.plan.generation, sizeof(fx.plan.generation), "%s",
             "0123456789abcdef");
    fx.plan.position = cdc_xstrdup("binlog.000042:123456 gtid 0-1-17,1-2-5");
    fx.plan.workers = 4;
    const char *k1[] = {"id"};
    struct source__my_plan_table *t =
        source__my_plan_add_table(&fx.plan, "db", "t one", k1, 1, 1);
    const char *v1[] = {"1000"};
    size_t l1[] = {4};
    source__my_plan_add_bound(t, v1, l1);
    const char *v2[] = {"-5"};
    size_t l2[] = {2};
    source__my_plan_add_bound(t, v2, l2);
    /* a composite key of odd values: comma, newline, NUL, empty */
    const char *k2[] = {"a,b", "c"};
    t = source__my_plan_add_table(&fx.plan, "d\xc3\xa9", "x\ny", k2, 2, 2);
    const char *v3[] = {"p,q\n", "r\0s"};
    size_t l3[] = {4, 3};
    source__my_plan_add_bound(t, v3, l3);
    const char *v4[] = {"", ""};
    size_t l4[] = {0, 0};
    source__my_plan_add_bound(t, v4, l4);
    /* no key; and a key not split */
    source__my_plan_add_table(&fx.plan, "db", "nokey", NULL, 0, 0);
    source__my_plan_add_table(&fx.plan, "db", "small", k1, 1, 0);
}

static void test_plan_round_trip(void **state)
{
    (void)state;
    make_plan();
    source__my_plan_format(&fx.plan, &fx.buf);
    parse_back();
    const struct source__my_plan *b = &fx.back;
    assert_string_equal(b->generation, "0123456789abcdef");
    assert_string_equal(b->position, "binlog.000042:123456 gtid 0-1-17,1-2-5");
    assert_int_equal(b->workers, 4);
    assert_false(b->done);
    assert_int_equal(b->ntables, 4);
    assert_string_equal(b->tables[0].name, "t one");
    assert_int_equal(b->tables[0].nkey, 1);
    assert_string_equal(b->tables[0].key[0], "id");
    assert_int_equal(b->tables[0].nvals, 1);
    assert_int_equal(b->tables[0].nbounds, 2);
    assert_string_equal(b->tables[0].vals[1], "-5");
    const struct source__my_plan_table *t = &b->tables[1];
    assert_string_equal(t->schema, "d\xc3\xa9");
    assert_string_equal(t->name, "x\ny");
    assert_int_equal(t->nkey, 2);
    assert_string_equal(t->key[0], "a,b");
    assert_int_equal(t->nbounds, 2);
    assert_int_equal(t->lens[0], 4);
    assert_memory_equal(t->vals[0], "p,q\n", 4);
    assert_int_equal(t->lens[1], 3);
    assert_memory_equal(t->vals[1], "r\0s", 3);
    assert_int_equal(t->lens[2], 0);
    assert_int_equal(t->lens[3], 0);
    assert_int_equal(b->tables[2].nkey, 0);
    assert_int_equal(b->tables[2].nbounds, 0);
    assert_int_equal(b->tables[3].nkey, 1);
    assert_int_equal(b->tables[3].nvals, 0);

    /* done, and the same text again */
    fx.plan.done = true;
    cdc_buf_reset(&fx.buf);
    source__my_plan_format(&fx.plan, &fx.buf);
    char *first = cdc_xstrdup(fx.buf.data);
    parse_back();
    assert_true(fx.back.done);
    cdc_buf_reset(&fx.buf);
    source__my_plan_format(&fx.back, &fx.buf);
    assert_string_equal(fx.buf.data, first);
    cdc_free(first);

    /* an empty plan (no tables) */
    source__my_plan_release(&fx.plan);
    snprintf(fx.plan.generation, sizeof(fx.plan.generation), "g");
    fx.plan.position = cdc_xstrdup("f:4");
    fx.plan.workers = 1;
    cdc_buf_reset(&fx.buf);
    source__my_plan_format(&fx.plan, &fx.buf);
    parse_back();
    assert_int_equal(fx.back.ntables, 0);
}

static void want_plan_refused(const char *text, const char *why)
{
    struct source__my_plan pl;
    cdc_err_clear(&fx.err);
    if (source__my_plan_parse(text, strlen(text), &pl, &fx.err) != CDC_EPROTO)
        fail_msg("accepted (%s):\n%s", why, text);
    assert_int_equal(pl.ntables, 0);
    assert_null(pl.position);
    assert_true(fx.err.msg[0] != '\0');
}

static void test_plan_refused(void **state)
{
    (void)state;
    const char *head = "generation g\nposition f:4\nworkers 2\ndone 0\n";
    struct {
        const char *tail;
        const char *why;
    } cases[] = {
        {"table 1 1 6462 74\nkey 6964\n", "a bound missing"},
        {"table 1 0 6462 74\n", "the key missing"},
        {"table 1 1 6462 74\nkey 6964\nbound 31,32\n", "two values for one"},
        {"table 1 1 6462 74\nkey 6964\nbound 3\n", "odd hex"},
        {"table 1 1 6462 74\nkey 6964\nbound zz\n", "not hex"},
        {"table 1 1 6462\nkey 6964\nbound 31\n", "no table name"},
        {"table 1 1 6462 \nkey 6964\nbound 31\n", "empty table name"},
        {"table 2 0 6462 74\nkey 6964\n", "more values than key columns"},
        {"table 1 1 6462 74\nkey \nbound 31\n", "bounds without a key"},
        {"table 1 1 6462 74\nkey 6900\nbound 31\n", "a NUL in a key name"},
        {"table 1 1 6462 74\nbound 31\nkey 6964\n", "key after bound"},
        {"bound 31\n", "a bound outside a table"},
        {"tables 1\n", "an unknown line"},
        {"table x y 6462 74\n", "a malformed table line"},
    };
    char text[512];
    for (size_t i = 0; i < NELEMS(cases); i++) {
        snprintf(text, sizeof(text), "%s%s", head, cases[i].tail);
        want_plan_refused(text, cases[i].why);
    }
    want_plan_refused("position f:4\nworkers 2\n", "no generation");
    want_plan_refused("generation g\nworkers 2\n", "no position");
    want_plan_refused("generation g\nposition f:4\n", "no workers");
    want_plan_refused("generation g\nposition f:4\nworkers 0\n", "0 workers");
    want_plan_refused("generation g\nposition f:4\nworkers 1025\n",
                      "too many workers");
    want_plan_refused("generation g\nposition f:4\nworkers 1\ndone 2\n",
                      "done 2");
    want_plan_refused("generation 0123456789abcdef01234567\nposition f:4\n"
                      "workers 1\n",
                      "a generation too long");
    want_plan_refused("generation g\nposition \nworkers 1\n",
                      "an empty position");
    want_plan_refused("", "nothing");
    struct source__my_plan pl;
    static const char nul[] = "generation g\nposition f:4\0\nworkers 1\n";
    assert_int_equal(source__my_plan_parse(nul, sizeof(nul) - 1, &pl, &fx.err),
                     CDC_EPROTO);
}

/* ==== Positions ==== */

static void test_pos_before(void **state)
{
    (void)state;
    char out[64];
    source__my_pos_before("binlog.000001", 4786, out, sizeof(out));
    assert_string_equal(out, "binlog.000001:4785");
    source__my_pos_before("mysql-bin.000123", 4, out, sizeof(out));
    assert_string_equal(out, "mysql-bin.000123:3");
    source__my_pos_before("b.1", 0, out, sizeof(out));
    assert_string_equal(out, "b.1:0");
    source__my_pos_before("b.1", UINT64_MAX, out, sizeof(out));
    assert_string_equal(out, "b.1:18446744073709551614");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_type_names),      T(test_kinds),        T(test_select),
        T(test_value_text),      T(test_value_base64), T(test_value_bit),
        T(test_value_geometry),  T(test_value_real),   T(test_members),
        T(test_json_check),      T(test_range_count),  T(test_int_bounds),
        T(test_int_width),       T(test_range_where),  T(test_range_key),
        T(test_plan_round_trip), T(test_plan_refused), T(test_pos_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

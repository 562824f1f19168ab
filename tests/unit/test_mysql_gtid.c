/*
 * test_mysql_gtid.c: unit tests of MySQL GTID sets (replicator/
 * mysql_gtid.c): MySQL's text form read and written back in its
 * canonical form, intervals joined as transactions are added, membership
 * and subsets (what a resume checks against gtid_executed, gtid_purged
 * and each binlog's Previous_gtids), and malformed sets refused naming
 * the fault.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "replicator/mysql_int.h"

#include <stdio.h>
#include <string.h>

#define A "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define B "8f2c0a11-0000-11ee-8000-0242ac120002"

static const uint8_t UA[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                               0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
static const uint8_t UB[16] = {0x8f, 0x2c, 0x0a, 0x11, 0x00, 0x00, 0x11, 0xee,
                               0x80, 0x00, 0x02, 0x42, 0xac, 0x12, 0x00, 0x02};

static void parse_ok(const char *text, struct source__my_gtid_set *s)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    int rc = source__my_gtid_set_parse(text, s, &err);
    if (rc != CDC_OK)
        fail_msg("%s: %s", text, err.msg);
}

/* text read, then written as want */
static void canon(const char *text, const char *want)
{
    struct source__my_gtid_set s;
    parse_ok(text, &s);
    char out[512];
    assert_true(source__my_gtid_set_format(&s, out, sizeof(out)));
    assert_string_equal(out, want);
    source__my_gtid_set_free(&s);
}

static void test_text(void **state)
{
    (void)state;
    canon("", "");
    canon("  \n", "");
    canon(A ":1-5", A ":1-5");
    canon(A ":7", A ":7");
    /* upper case, as some tools print it */
    canon("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-3", A ":1-3");
    /* the server prints line breaks after the commas; uuids in order */
    canon(B ":1-9,\n" A ":1-100", A ":1-100," B ":1-9");
    /* intervals sorted, joined when they touch or overlap */
    canon(A ":10-12:1-3:4-5:20", A ":1-5:10-12:20");
    canon(A ":1-10:5-7:9-15", A ":1-15");
    canon(A ":1-2," A ":3-4", A ":1-4");
    canon(A ":9223372036854775807", A ":9223372036854775807");
    canon(A ":1-9223372036854775807:5", A ":1-9223372036854775807");
}

static void refused(const char *text, const char *why)
{
    struct source__my_gtid_set s;
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(source__my_gtid_set_parse(text, &s, &err), CDC_EPROTO);
    assert_non_null(strstr(err.msg, "is not a MySQL GTID set"));
    if (strstr(err.msg, why) == NULL)
        fail_msg("%s: \"%s\" lacks \"%s\"", text, err.msg, why);
    assert_int_equal(s.n, 0);
    assert_null(s.sid);
}

static void test_refused(void **state)
{
    (void)state;
    refused("0-1-17", "server uuid");
    refused(A, "':' and transaction numbers");
    refused(A ":", "transaction number from 1");
    refused(A ":0", "transaction number from 1");
    refused(A ":5-3", "end at or after");
    refused(A ":3-", "end at or after");
    refused(A ":9223372036854775808", "transaction number from 1");
    refused(A ":1 x", "',' or the end");
    refused(A ":1;" B ":2", "',' or the end");
    refused(A ":mytag:1-5", "tagged GTIDs");
    refused("3e11fa4771ca11e19e33c80aa9429562:1", "server uuid");
    refused("3e11fa47-71ca-11e1-9e33-c80aa942956:1", "server uuid");
    /* the byte of the fault is named */
    struct source__my_gtid_set s;
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(source__my_gtid_set_parse(A ":1-2:x", &s, &err),
                     CDC_EPROTO);
    assert_non_null(strstr(err.msg, "at byte 41"));
}

static void test_add_has(void **state)
{
    (void)state;
    struct source__my_gtid_set s;
    source__my_gtid_set_init(&s);
    for (uint64_t g = 1; g <= 1000; g++)
        source__my_gtid_set_add(&s, UA, g);
    source__my_gtid_set_add(&s, UB, 7);
    source__my_gtid_set_add(&s, UB, 5);
    source__my_gtid_set_add(&s, UB, 9);
    char out[256];
    assert_true(source__my_gtid_set_format(&s, out, sizeof(out)));
    assert_string_equal(out, A ":1-1000," B ":5:7:9");
    /* filling the holes joins the intervals */
    source__my_gtid_set_add(&s, UB, 6);
    source__my_gtid_set_add(&s, UB, 8);
    source__my_gtid_set_add(&s, UA, 1000);
    assert_true(source__my_gtid_set_format(&s, out, sizeof(out)));
    assert_string_equal(out, A ":1-1000," B ":5-9");
    assert_int_equal(s.sid[1].n, 1);
    assert_true(source__my_gtid_set_has(&s, UA, 1));
    assert_true(source__my_gtid_set_has(&s, UA, 1000));
    assert_false(source__my_gtid_set_has(&s, UA, 1001));
    assert_false(source__my_gtid_set_has(&s, UB, 4));
    assert_true(source__my_gtid_set_has(&s, UB, 5));
    assert_false(source__my_gtid_set_has(&s, UB, 10));
    uint8_t other[16] = {0};
    assert_false(source__my_gtid_set_has(&s, other, 1));
    /* too small a buffer: false and nothing half written */
    assert_false(source__my_gtid_set_format(&s, out, 50));
    assert_string_equal(out, "");
    assert_false(source__my_gtid_set_format(&s, out, 45));
    source__my_gtid_set_free(&s);
}

static bool subset(const char *a, const char *b)
{
    struct source__my_gtid_set sa;
    struct source__my_gtid_set sb;
    parse_ok(a, &sa);
    parse_ok(b, &sb);
    bool r = source__my_gtid_set_subset(&sa, &sb);
    source__my_gtid_set_free(&sa);
    source__my_gtid_set_free(&sb);
    return r;
}

static void test_subset(void **state)
{
    (void)state;
    assert_true(subset("", ""));
    assert_true(subset("", A ":1-5"));
    assert_false(subset(A ":1", ""));
    assert_true(subset(A ":1-5", A ":1-5"));
    assert_true(subset(A ":2-4", A ":1-5"));
    assert_false(subset(A ":1-6", A ":1-5"));
    assert_false(subset(A ":1-5", A ":2-5"));
    /* an interval across a hole of b is not within it */
    assert_false(subset(A ":3-8", A ":1-5:7-9"));
    assert_true(subset(A ":3-4:8", A ":1-5:7-9"));
    assert_true(subset(A ":1-5:7-9", A ":1-9"));
    assert_false(subset(A ":1-5," B ":1", A ":1-100"));
    assert_true(subset(B ":1", A ":1-100," B ":1-2"));
    /* a resume: the newest binlog whose Previous_gtids is within what
     * the group has is where reading starts again */
    const char *have = A ":1-150," B ":1-20";
    assert_true(subset("", have));
    assert_true(subset(A ":1-100", have));
    assert_true(subset(A ":1-140," B ":1-20", have));
    assert_false(subset(A ":1-160," B ":1-20", have));
    assert_false(subset(A ":1-140," B ":1-21", have));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_add_has),
        cmocka_unit_test(test_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mysql_pos.c: unit tests of the MySQL source's positions in text
 * (replicator/mysql_conn.c): "<file>:<offset>" with or without the GTID
 * state, read back exactly, and every malformed form refused with the
 * position left empty.
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

static void roundtrip(const char *file, uint64_t offset, const char *gtid,
                      const char *want)
{
    struct source__my_pos p;
    memset(&p, 0, sizeof(p));
    snprintf(p.file, sizeof(p.file), "%s", file);
    p.offset = offset;
    snprintf(p.gtid, sizeof(p.gtid), "%s", gtid);
    char text[SOURCE_MY_POS_MAX];
    source__my_pos_format(&p, text, sizeof(text));
    assert_string_equal(text, want);
    struct source__my_pos back;
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(source__my_pos_parse(text, &back, &err), CDC_OK);
    assert_string_equal(back.file, file);
    assert_true(back.offset == offset);
    assert_string_equal(back.gtid, gtid);
}

static void test_roundtrip(void **state)
{
    (void)state;
    roundtrip("binlog.000001", 4, "", "binlog.000001:4");
    roundtrip("mysql-bin.000123", 1234567, "0-1-17",
              "mysql-bin.000123:1234567 gtid 0-1-17");
    roundtrip("b.1000000", UINT64_MAX, "0-1-17,1-2-5,7-3-18446744073709551615",
              "b.1000000:18446744073709551615 gtid "
              "0-1-17,1-2-5,7-3-18446744073709551615");
    /* MySQL's GTID set holds colons too */
    roundtrip(
        "binlog.000003", 120,
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,"
        "8f2c0a11-0000-11ee-8000-0242ac120002:3",
        "binlog.000003:120 gtid 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,"
        "8f2c0a11-0000-11ee-8000-0242ac120002:3");
    /* a file name may hold a colon: the offset follows the last one */
    roundtrip("/var/lib/mysql/a:b.000002", 99, "",
              "/var/lib/mysql/a:b.000002:99");
}

static void refused(const char *text)
{
    struct source__my_pos p;
    struct cdc_err err;
    cdc_err_clear(&err);
    memset(&p, 0x5a, sizeof(p));
    assert_int_equal(source__my_pos_parse(text, &p, &err), CDC_EPROTO);
    /* the message quotes the text: a long one leaves no room for more */
    if (strlen(text) < 64)
        assert_non_null(strstr(err.msg, "is not a binlog position"));
    assert_string_equal(p.file, "");
    assert_true(p.offset == 0);
    assert_string_equal(p.gtid, "");
}

static void test_refused(void **state)
{
    (void)state;
    refused("");
    refused("binlog.000001");
    refused("binlog.000001:");
    refused(":4");
    refused("binlog.000001:4x");
    refused("binlog.000001:-4");
    refused("binlog.000001:18446744073709551616");
    refused("binlog.000001:4 gtid ");
    refused("0/16B3748"); /* a PostgreSQL LSN */
    char longname[SOURCE_MY_FILE_MAX + 16];
    memset(longname, 'a', SOURCE_MY_FILE_MAX + 2);
    snprintf(longname + SOURCE_MY_FILE_MAX + 2, 8, ":4");
    refused(longname);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

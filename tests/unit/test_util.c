/*
 * test_util.c: unit tests of the small pieces of common/ (util.c, buf.c,
 * alloc.c): the strict parsers of integers, booleans, durations, sizes and
 * LSNs, the growable buffer and its JSON string escaping, the arena, group
 * names and the names derived from them, subject escaping, DSN redaction,
 * backoff, error details and time formatting.
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
#include "common/js.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
#define MAX_MEM 8
static struct {
    struct cdc_buf buf;
    struct cdc_arena arena;
    void *mem[MAX_MEM];
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_buf_init(&fx.buf, 0);
    cdc_arena_init(&fx.arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_buf_release(&fx.buf);
    cdc_arena_release(&fx.arena);
    for (int i = 0; i < MAX_MEM; i++)
        cdc_free(fx.mem[i]);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* Takes a heap block for teardown to free. */
static void *keep_mem(void *p)
{
    assert_non_null(p);
    for (int i = 0; i < MAX_MEM; i++) {
        if (fx.mem[i] == NULL) {
            fx.mem[i] = p;
            return p;
        }
    }
    cdc_free(p);
    fail_msg("%s", "out of test memory slots");
    return NULL;
}

static void drop_mem(void *p)
{
    for (int i = 0; i < MAX_MEM; i++) {
        if (fx.mem[i] == p)
            fx.mem[i] = NULL;
    }
    cdc_free(p);
}

/* A string of n copies of c, kept for teardown. */
static char *repeat(char c, size_t n)
{
    char *s = keep_mem(cdc_xmalloc(n + 1));
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ==== cdc_parse_int ==== */

static void expect_int(const char *s, int64_t min, int64_t max, int64_t want)
{
    int64_t v = -12345;
    int rc = cdc_parse_int(s, min, max, &v);
    if (rc != CDC_OK)
        fail_msg("\"%s\" in [%lld, %lld] rejected", s, (long long)min,
                 (long long)max);
    assert_int_equal(v, want);
}

static void expect_int_bad(const char *s, int64_t min, int64_t max)
{
    int64_t v = -12345;
    int rc = cdc_parse_int(s, min, max, &v);
    if (rc != CDC_ECONFIG)
        fail_msg("\"%s\" in [%lld, %lld] gave %d, want CDC_ECONFIG",
                 s ? s : "(null)", (long long)min, (long long)max, rc);
    assert_int_equal(v, -12345); /* untouched */
}

static void test_parse_int_ranges(void **state)
{
    (void)state;
    expect_int("42", 0, 100, 42);
    expect_int("0", 0, 100, 0);
    expect_int("100", 0, 100, 100);
    expect_int_bad("101", 0, 100);
    expect_int_bad("-1", 0, 100);
    expect_int("-5", -10, 10, -5);
    expect_int("-10", -10, 10, -10);
    expect_int_bad("-11", -10, 10);
    expect_int("+7", 0, 10, 7);
    expect_int("007", 0, 10, 7);
    expect_int("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);
    expect_int("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN);
    expect_int_bad("5", 6, 6);
    expect_int("6", 6, 6, 6);
}

static void test_parse_int_junk(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "   ",  "12a", "a12", "1 2", "0x10", "1.5", "1e3",
        "--1", "+",    "-",   "1-",  "one", "1_000", "\xd9\xa1"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        expect_int_bad(bad[i], INT64_MIN, INT64_MAX);
    expect_int_bad(NULL, INT64_MIN, INT64_MAX);
}

static void test_parse_int_spaces(void **state)
{
    (void)state;
    expect_int(" 42", 0, 100, 42);
    expect_int("42 ", 0, 100, 42);
    expect_int("\t 42\n", 0, 100, 42);
    expect_int(" -3 ", -5, 5, -3);
    expect_int_bad("4 2", 0, 100);
    expect_int_bad("- 3", -5, 5);
}

static void test_parse_int_overflow(void **state)
{
    (void)state;
    expect_int_bad("9223372036854775808", INT64_MIN, INT64_MAX);
    expect_int_bad("-9223372036854775809", INT64_MIN, INT64_MAX);
    expect_int_bad("99999999999999999999999999", INT64_MIN, INT64_MAX);
    expect_int_bad("-99999999999999999999999999", INT64_MIN, INT64_MAX);
    expect_int_bad("18446744073709551616", INT64_MIN, INT64_MAX);
}

/* ==== cdc_parse_bool ==== */

static void test_parse_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "TRUE", "True", "yes", "Yes",
                                      "on",   "ON",   "1",    "t",   "T",
                                      "y",    "Y"};
    static const char *const no[] = {"false", "FALSE", "no", "NO", "off",
                                     "Off",   "0",     "f",  "F",  "n", "N"};
    static const char *const bad[] = {"",   "2",      "tru", "yess", "enable",
                                      "10", "nope",   "-1",  "of",   "truefalse"};
    for (size_t i = 0; i < NELEMS(yes); i++) {
        bool v = false;
        assert_int_equal(cdc_parse_bool(yes[i], &v), CDC_OK);
        assert_true(v);
    }
    for (size_t i = 0; i < NELEMS(no); i++) {
        bool v = true;
        assert_int_equal(cdc_parse_bool(no[i], &v), CDC_OK);
        assert_false(v);
    }
    for (size_t i = 0; i < NELEMS(bad); i++) {
        bool v = true;
        if (cdc_parse_bool(bad[i], &v) != CDC_ECONFIG)
            fail_msg("\"%s\" accepted as a boolean", bad[i]);
        assert_true(v);
    }
    bool v = true;
    assert_int_equal(cdc_parse_bool(NULL, &v), CDC_ECONFIG);
    assert_true(v);
}

/* ==== cdc_parse_duration_ms ==== */

static void expect_duration(const char *s, int64_t want)
{
    int64_t v = -1;
    if (cdc_parse_duration_ms(s, &v) != CDC_OK)
        fail_msg("duration \"%s\" rejected", s);
    assert_int_equal(v, want);
}

static void expect_duration_bad(const char *s)
{
    int64_t v = -1;
    if (cdc_parse_duration_ms(s, &v) != CDC_ECONFIG)
        fail_msg("duration \"%s\" accepted", s ? s : "(null)");
    assert_int_equal(v, -1);
}

static void test_parse_duration(void **state)
{
    (void)state;
    expect_duration("250ms", 250);
    expect_duration("5s", 5000);
    expect_duration("2m", 120000);
    expect_duration("1h", 3600000);
    expect_duration("1d", 86400000);
    expect_duration("10", 10000); /* a bare number is seconds */
    expect_duration("0", 0);
    expect_duration("0ms", 0);
    expect_duration("3sec", 3000);
    expect_duration("2min", 120000);
    expect_duration("5S", 5000);
    expect_duration("100MS", 100);
    expect_duration(" 5 s ", 5000);
}

static void test_parse_duration_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "5x", "-1s", "-1",  "",    " ",   "s",   "ms",  "1.5s", "5ss",
        "5 m s", "1w", "+5s", "5s5", "0x10s", "1e3ms", "five seconds"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        expect_duration_bad(bad[i]);
    expect_duration_bad(NULL);
}

static void test_parse_duration_overflow(void **state)
{
    (void)state;
    expect_duration("9223372036854775807ms", INT64_MAX);
    expect_duration_bad("9223372036854775808ms");
    expect_duration_bad("9223372036854775807s");
    expect_duration_bad("99999999999999999999999");
    expect_duration("106751991167d", INT64_C(9223372036828800000));
    expect_duration_bad("106751991168d");
    expect_duration("9223372036854775s", INT64_C(9223372036854775000));
    expect_duration_bad("9223372036854776s");
}

/* ==== cdc_parse_size ==== */

static void expect_size(const char *s, int64_t want)
{
    int64_t v = -1;
    if (cdc_parse_size(s, &v) != CDC_OK)
        fail_msg("size \"%s\" rejected", s);
    assert_int_equal(v, want);
}

static void expect_size_bad(const char *s)
{
    int64_t v = -1;
    if (cdc_parse_size(s, &v) != CDC_ECONFIG)
        fail_msg("size \"%s\" accepted", s ? s : "(null)");
    assert_int_equal(v, -1);
}

static void test_parse_size(void **state)
{
    (void)state;
    expect_size("64MiB", 64 << 20);
    expect_size("10MB", 10000000);
    expect_size("1k", 1024);
    expect_size("1024", 1024);
    expect_size("0", 0);
    expect_size("5b", 5);
    expect_size("1kb", 1000);
    expect_size("1KiB", 1024);
    expect_size("2m", 2 << 20);
    expect_size("2g", INT64_C(2) << 30);
    expect_size("3GB", INT64_C(3000000000));
    expect_size("1GiB", INT64_C(1) << 30);
    expect_size("8 MiB ", 8 << 20);
}

static void test_parse_size_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {"",     "MB",   "-1",  "-1MB", "1.5MB",
                                      "10XB", "1 0",  "k1",  "1TB",  "1 k b",
                                      "0x10", "1e3",  "1mibs"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        expect_size_bad(bad[i]);
    expect_size_bad(NULL);
    /* overflow */
    expect_size("9007199254740991k", INT64_C(9223372036854774784));
    expect_size_bad("9007199254740992k");
    expect_size_bad("9223372036854775807k");
    expect_size("8589934591GiB", INT64_C(9223372035781033984));
    expect_size_bad("8589934592GiB");
    expect_size_bad("99999999999999999999");
}

/* ==== LSNs ==== */

static void expect_lsn(const char *s, uint64_t want)
{
    uint64_t v = 7;
    if (cdc_lsn_parse(s, &v) != CDC_OK)
        fail_msg("LSN \"%s\" rejected", s);
    assert_int_equal(v, want);
}

static void test_lsn_parse(void **state)
{
    (void)state;
    expect_lsn("0/0", 0);
    expect_lsn("0/16B3748", 0x16B3748);
    expect_lsn("16/B374D848", UINT64_C(0x16B374D848));
    expect_lsn("1/0", UINT64_C(1) << 32);
    expect_lsn("0/FFFFFFFF", 0xFFFFFFFFu);
    expect_lsn("FFFFFFFF/FFFFFFFF", UINT64_MAX);
    expect_lsn("ff/ab", UINT64_C(0xff000000ab));
    expect_lsn("00000001/00000002", (UINT64_C(1) << 32) | 2);
}

static void test_lsn_format_roundtrip(void **state)
{
    (void)state;
    static const struct {
        uint64_t lsn;
        const char *text;
    } cases[] = {
        {0, "0/0"},
        {0x16B3748, "0/16B3748"},
        {UINT64_C(0x16B374D848), "16/B374D848"},
        {UINT64_C(1) << 32, "1/0"},
        {0xFFFFFFFFu, "0/FFFFFFFF"},
        {UINT64_MAX, "FFFFFFFF/FFFFFFFF"},
    };
    char out[32];
    for (size_t i = 0; i < NELEMS(cases); i++) {
        cdc_lsn_format(cases[i].lsn, out, sizeof(out));
        assert_string_equal(out, cases[i].text);
        uint64_t back = 0;
        assert_int_equal(cdc_lsn_parse(out, &back), CDC_OK);
        assert_int_equal(back, cases[i].lsn);
    }
    /* pseudo-random values */
    uint64_t x = UINT64_C(0x9E3779B97F4A7C15);
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t back = 0;
        cdc_lsn_format(x, out, sizeof(out));
        assert_int_equal(cdc_lsn_parse(out, &back), CDC_OK);
        assert_int_equal(back, x);
    }
    /* a short buffer is truncated and stays terminated */
    char small[4];
    cdc_lsn_format(UINT64_C(0x16B374D848), small, sizeof(small));
    assert_string_equal(small, "16/");
}

static void test_lsn_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      "0/",   "/1",    "G/1",   "123456789/1", "0/123456789",
        "0",     "/",    "0/1/2", " 0/1",  "0/1 ",        "-1/0",
        "+1/0",  "0x1/0", "0/-1", "0/G",   "1//2",        "0\\1"};
    for (size_t i = 0; i < NELEMS(bad); i++) {
        uint64_t v = 7;
        if (cdc_lsn_parse(bad[i], &v) != CDC_EPROTO)
            fail_msg("LSN \"%s\" accepted", bad[i]);
        assert_int_equal(v, 7);
    }
    uint64_t v = 7;
    assert_int_equal(cdc_lsn_parse(NULL, &v), CDC_EPROTO);
    assert_int_equal(v, 7);
}

/* ==== cdc_buf ==== */

static void test_buf_append(void **state)
{
    (void)state;
    struct cdc_buf *b = &fx.buf;
    assert_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->limit, CDC_BUF_DEFAULT_LIMIT);
    assert_int_equal(cdc_buf_append(b, "abc", 3), CDC_OK);
    assert_int_equal(b->len, 3);
    assert_string_equal(b->data, "abc");
    assert_int_equal(cdc_buf_append_str(b, "def"), CDC_OK);
    assert_int_equal(cdc_buf_append_char(b, '!'), CDC_OK);
    assert_string_equal(b->data, "abcdef!");
    assert_int_equal(b->len, 7);
    /* bytes, NUL included, are kept as given */
    assert_int_equal(cdc_buf_append(b, "x\0y", 3), CDC_OK);
    assert_int_equal(b->len, 10);
    assert_memory_equal(b->data, "abcdef!x\0y", 11);
    /* growth keeps the content */
    for (int i = 0; i < 10000; i++)
        assert_int_equal(cdc_buf_append_char(b, (char)('a' + i % 26)), CDC_OK);
    assert_int_equal(b->len, 10010);
    assert_true(b->cap > b->len);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b->data[10 + i], 'a' + i % 26);
    assert_int_equal(b->data[b->len], '\0');
    /* reset empties it and keeps the memory */
    size_t cap = b->cap;
    cdc_buf_reset(b);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, cap);
    assert_string_equal(b->data, "");
    assert_int_equal(cdc_buf_append(b, "", 0), CDC_OK);
    assert_string_equal(b->data, "");
    /* release frees and keeps the limit; twice is fine */
    cdc_buf_release(b);
    assert_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->limit, CDC_BUF_DEFAULT_LIMIT);
    cdc_buf_release(b);
    /* an empty append to a fresh buffer still gives a C string */
    assert_int_equal(cdc_buf_append(b, "", 0), CDC_OK);
    assert_non_null(b->data);
    assert_string_equal(b->data, "");
}

static void test_buf_printf(void **state)
{
    (void)state;
    struct cdc_buf *b = &fx.buf;
    assert_int_equal(cdc_buf_printf(b, "%s=%d", "n", 42), CDC_OK);
    assert_string_equal(b->data, "n=42");
    /* 255, 256 and 257 characters: both sides of the 256-byte scratch */
    for (size_t n = 250; n <= 260; n++) {
        cdc_buf_reset(b);
        assert_int_equal(cdc_buf_append_str(b, "<"), CDC_OK);
        char *s = repeat('x', n);
        assert_int_equal(cdc_buf_printf(b, "%s|%zu", s, n), CDC_OK);
        char tail[32];
        snprintf(tail, sizeof(tail), "|%zu", n);
        assert_int_equal(b->len, 1 + n + strlen(tail));
        assert_int_equal(strlen(b->data), b->len);
        assert_int_equal(b->data[0], '<');
        assert_memory_equal(b->data + 1, s, n);
        assert_string_equal(b->data + 1 + n, tail);
        drop_mem(s);
    }
    /* a long string on top of existing content */
    cdc_buf_reset(b);
    char *big = repeat('y', 100000);
    assert_int_equal(cdc_buf_printf(b, "[%s]", "head"), CDC_OK);
    assert_int_equal(cdc_buf_printf(b, "%s%s", big, "END"), CDC_OK);
    assert_int_equal(b->len, 6 + 100000 + 3);
    assert_memory_equal(b->data, "[head]yyy", 9);
    assert_string_equal(b->data + 6 + 100000, "END");
    drop_mem(big);
}

static void test_buf_limit(void **state)
{
    (void)state;
    struct cdc_buf *b = &fx.buf;
    cdc_buf_init(b, 16);
    assert_int_equal(b->limit, 16);
    assert_int_equal(cdc_buf_append(b, "0123456789abcdef", 16), CDC_OK);
    assert_int_equal(cdc_buf_append_char(b, 'x'), CDC_ETOOBIG);
    assert_int_equal(cdc_buf_append(b, "x", 1), CDC_ETOOBIG);
    assert_int_equal(cdc_buf_append_str(b, "xyz"), CDC_ETOOBIG);
    assert_int_equal(cdc_buf_printf(b, "%d", 1), CDC_ETOOBIG);
    assert_int_equal(cdc_buf_append_json_str(b, "", 0), CDC_ETOOBIG);
    /* nothing changed on failure */
    assert_int_equal(b->len, 16);
    assert_string_equal(b->data, "0123456789abcdef");
    assert_int_equal(cdc_buf_append(b, "", 0), CDC_OK);
    cdc_buf_reset(b);
    assert_int_equal(cdc_buf_append(b, "0123456789abcdefg", 17), CDC_ETOOBIG);
    assert_int_equal(b->len, 0);
    assert_int_equal(cdc_buf_reserve(b, SIZE_MAX), CDC_ETOOBIG);
    assert_int_equal(cdc_buf_reserve(b, 16), CDC_OK);
    assert_int_equal(cdc_buf_reserve(b, 17), CDC_ETOOBIG);
    cdc_buf_release(b);
    assert_int_equal(b->limit, 16); /* kept */

    /* the long printf path */
    cdc_buf_init(b, 300);
    char *s = repeat('z', 400);
    assert_int_equal(cdc_buf_printf(b, "%s", s), CDC_ETOOBIG);
    assert_int_equal(b->len, 0);
    assert_int_equal(cdc_buf_printf(b, "%.299s", s), CDC_OK);
    assert_int_equal(b->len, 299);
    drop_mem(s);
    cdc_buf_release(b);

    /* JSON strings: plain text that fits exactly is accepted even though
     * the worst case (every byte escaped) would not fit */
    cdc_buf_init(b, 100);
    char *plain = repeat('a', 98);
    assert_int_equal(cdc_buf_append_json_str(b, plain, 98), CDC_OK);
    assert_int_equal(b->len, 100);
    assert_int_equal(b->data[0], '"');
    assert_int_equal(b->data[99], '"');
    cdc_buf_reset(b);
    char *ctl = repeat('\x01', 60);
    assert_int_equal(cdc_buf_append_json_str(b, ctl, 60), CDC_ETOOBIG);
    drop_mem(plain);
    drop_mem(ctl);
    cdc_buf_release(b);

    /* the default hard limit */
    cdc_buf_init(b, 0);
    assert_int_equal(b->limit, CDC_BUF_DEFAULT_LIMIT);
    assert_int_equal(cdc_buf_reserve(b, CDC_BUF_DEFAULT_LIMIT + 1),
                     CDC_ETOOBIG);
    assert_null(b->data); /* nothing allocated for a refused size */
}

static void test_buf_detach(void **state)
{
    (void)state;
    struct cdc_buf *b = &fx.buf;
    cdc_buf_init(b, 1000);
    assert_int_equal(cdc_buf_append_str(b, "hello"), CDC_OK);
    size_t len = 0;
    char *p = keep_mem(cdc_buf_detach(b, &len));
    assert_string_equal(p, "hello");
    assert_int_equal(len, 5);
    /* the buffer is empty again, with its limit */
    assert_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, 0);
    assert_int_equal(b->limit, 1000);
    /* and usable */
    assert_int_equal(cdc_buf_append_str(b, "again"), CDC_OK);
    assert_string_equal(b->data, "again");
    assert_string_equal(p, "hello");
    drop_mem(p);
    /* an untouched buffer gives an empty string */
    cdc_buf_release(b);
    len = 99;
    p = keep_mem(cdc_buf_detach(b, &len));
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    drop_mem(p);
    /* len may be NULL */
    assert_int_equal(cdc_buf_append_str(b, "x"), CDC_OK);
    p = keep_mem(cdc_buf_detach(b, NULL));
    assert_string_equal(p, "x");
    drop_mem(p);
}

/* Appends s as a JSON string to a fresh buffer and compares with want. */
static void expect_json_str(const char *s, size_t len, const char *want)
{
    struct cdc_buf *b = &fx.buf;
    cdc_buf_reset(b);
    assert_int_equal(cdc_buf_append_json_str(b, s, len), CDC_OK);
    assert_string_equal(b->data, want);
    assert_int_equal(b->len, strlen(want));
}

static void test_buf_json_controls(void **state)
{
    (void)state;
    /* every control character, one at a time */
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c;
        char want[16];
        switch (c) {
        case '\b': snprintf(want, sizeof(want), "\"\\b\""); break;
        case '\t': snprintf(want, sizeof(want), "\"\\t\""); break;
        case '\n': snprintf(want, sizeof(want), "\"\\n\""); break;
        case '\f': snprintf(want, sizeof(want), "\"\\f\""); break;
        case '\r': snprintf(want, sizeof(want), "\"\\r\""); break;
        default: snprintf(want, sizeof(want), "\"\\u%04x\"", c); break;
        }
        expect_json_str(&in, 1, want);
    }
    /* all of them in one string, between plain text */
    char all[0x20 + 2];
    all[0] = 'A';
    for (int c = 0; c < 0x20; c++)
        all[1 + c] = (char)c;
    all[0x21] = 'Z';
    expect_json_str(all, sizeof(all),
                    "\"A\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006"
                    "\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010"
                    "\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
                    "\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e"
                    "\\u001fZ\"");
    /* what cJSON reads back is the input */
    cJSON *j = cJSON_Parse(fx.buf.data);
    assert_non_null(j);
    bool same = cJSON_IsString(j) && j->valuestring[0] == 'A';
    cJSON_Delete(j);
    assert_true(same);
}

/* The escaping of one byte, as JSON writes it (out: 8 bytes). */
static void ref_json_byte(unsigned char c, char *out)
{
    const char *esc = NULL;
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default: break;
    }
    if (esc != NULL)
        snprintf(out, 8, "%s", esc);
    else if (c < 0x20)
        snprintf(out, 8, "\\u%04x", c);
    else
        snprintf(out, 8, "%c", c);
}

/* Long strings are scanned eight bytes at a time: a byte that needs
 * escaping is found at every offset, next to UTF-8 and plain bytes, and
 * bytes that only look alike to a word-wide test pass unchanged. */
static void test_buf_json_every_offset(void **state)
{
    (void)state;
    static const unsigned char special[] = {'"', '\\', '\n', 0, 0x1f, '\t'};
    static const unsigned char filler[] = {'a',  0x7f, 0x80, 0xc3, 0xa9, ' ',
                                           0x21, 0x23, 0x5b, 0x5d, 0xff, 0x20};
    char in[41];
    char want[41 * 6 + 3];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(special); k++) {
                size_t w = 0;
                want[w++] = '"';
                for (size_t i = 0; i < len; i++) {
                    unsigned char c =
                        i == at ? special[k]
                                : filler[(i * 7 + len + k) % sizeof(filler)];
                    in[i] = (char)c;
                    ref_json_byte(c, want + w);
                    w += strlen(want + w);
                }
                want[w++] = '"';
                want[w] = '\0';
                expect_json_str(in, len, want);
            }
        }
    }
}

static void test_buf_json_quotes_utf8(void **state)
{
    (void)state;
    expect_json_str("", 0, "\"\"");
    expect_json_str("plain", 5, "\"plain\"");
    expect_json_str("\"", 1, "\"\\\"\"");
    expect_json_str("\\", 1, "\"\\\\\"");
    expect_json_str("a\"b\\c\"", 6, "\"a\\\"b\\\\c\\\"\"");
    expect_json_str("/ is not escaped", 16, "\"/ is not escaped\"");
    expect_json_str("\x7f", 1, "\"\x7f\"");
    /* multi-byte UTF-8 passes through byte for byte */
    static const char utf8[] = "caf\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c"
                               "\xac \xf0\x9f\x98\x80 \xe2\x80\xa8";
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", utf8);
    expect_json_str(utf8, strlen(utf8), want);
    cJSON *j = cJSON_Parse(fx.buf.data);
    assert_non_null(j);
    bool same = cJSON_IsString(j) && strcmp(j->valuestring, utf8) == 0;
    cJSON_Delete(j);
    assert_true(same);
    /* only len bytes are read */
    expect_json_str("abcdef", 3, "\"abc\"");
    /* appended after existing content */
    cdc_buf_reset(&fx.buf);
    assert_int_equal(cdc_buf_append_str(&fx.buf, "{\"k\":"), CDC_OK);
    assert_int_equal(cdc_buf_append_json_str(&fx.buf, "v\n", 2), CDC_OK);
    assert_string_equal(fx.buf.data, "{\"k\":\"v\\n\"");
}

/* ==== cdc_arena ==== */

static bool aligned(const void *p)
{
    return (uintptr_t)p % _Alignof(max_align_t) == 0;
}

static void test_arena_many(void **state)
{
    (void)state;
    struct cdc_arena *a = &fx.arena;
    enum { N = 20000 };
    unsigned char **ptrs = keep_mem(cdc_xmalloc(sizeof(*ptrs) * N));
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        size_t n = (i * 7) % 300 + 1;
        ptrs[i] = cdc_arena_alloc(a, n);
        assert_non_null(ptrs[i]);
        if (!aligned(ptrs[i]))
            fail_msg("allocation %zu of %zu bytes at %p is not aligned", i, n,
                     (void *)ptrs[i]);
        memset(ptrs[i], (int)(i & 0xff), n);
        total += n;
    }
    assert_true(a->used_total >= total);
    assert_true(total > 4 * ((size_t)64 << 10)); /* several blocks */
    /* no allocation overlaps another */
    for (size_t i = 0; i < N; i++) {
        size_t n = (i * 7) % 300 + 1;
        for (size_t k = 0; k < n; k++) {
            if (ptrs[i][k] != (unsigned char)(i & 0xff))
                fail_msg("allocation %zu was overwritten at byte %zu", i, k);
        }
    }
    drop_mem(ptrs);
}

static void test_arena_alignment(void **state)
{
    (void)state;
    struct cdc_arena *a = &fx.arena;
    for (size_t n = 0; n < 200; n++) {
        void *p = cdc_arena_alloc(a, n % 37 + 1);
        assert_true(aligned(p));
        /* typed stores that need the alignment (UBSan checks them) */
        if (n % 3 == 0)
            *(long double *)cdc_arena_alloc(a, sizeof(long double)) = 1.5L;
        if (n % 3 == 1)
            *(max_align_t *)cdc_arena_alloc(a, sizeof(max_align_t)) =
                (max_align_t){0};
        if (n % 3 == 2)
            *(uint64_t *)cdc_arena_alloc(a, sizeof(uint64_t)) = n;
        char *s = cdc_arena_strndup(a, "abcdefgh", n % 9);
        assert_true(aligned(s));
        assert_int_equal(strlen(s), n % 9);
    }
    assert_string_equal(cdc_arena_strdup(a, "hello"), "hello");
    assert_string_equal(cdc_arena_strdup(a, ""), "");
    assert_string_equal(cdc_arena_strndup(a, "hello", 3), "hel");
    assert_true(aligned(cdc_arena_alloc(a, 0)));
}

static void test_arena_big(void **state)
{
    (void)state;
    struct cdc_arena *a = &fx.arena;
    char *small1 = cdc_arena_strdup(a, "before");
    size_t big_n = (size_t)1 << 20;
    unsigned char *big = cdc_arena_alloc(a, big_n);
    assert_true(aligned(big));
    memset(big, 0xab, big_n);
    char *small2 = cdc_arena_strdup(a, "after");
    size_t huge_n = (size_t)10 << 20;
    unsigned char *huge = cdc_arena_alloc(a, huge_n);
    assert_true(aligned(huge));
    memset(huge, 0xcd, huge_n);
    assert_string_equal(small1, "before");
    assert_string_equal(small2, "after");
    assert_int_equal(big[0], 0xab);
    assert_int_equal(big[big_n - 1], 0xab);
    assert_int_equal(huge[huge_n - 1], 0xcd);
    assert_true(a->used_total >= big_n + huge_n);
    /* exactly one block's worth */
    unsigned char *block = cdc_arena_alloc(a, (size_t)64 << 10);
    memset(block, 1, (size_t)64 << 10);
    cdc_arena_reset(a);
    assert_int_equal(a->used_total, 0);
    char *again = cdc_arena_strdup(a, "again");
    assert_string_equal(again, "again");
}

static void test_arena_reset_reuse(void **state)
{
    (void)state;
    struct cdc_arena *a = &fx.arena;
    cdc_arena_reset(a); /* an empty arena: nothing to do */
    assert_null(a->head);
    char *first = cdc_arena_strdup(a, "first");
    for (int i = 0; i < 5000; i++)
        memset(cdc_arena_alloc(a, 100), 'x', 100);
    assert_true(a->used_total >= 5000 * 100);
    cdc_arena_reset(a);
    assert_int_equal(a->used_total, 0);
    assert_non_null(a->head);
    /* the first block is kept and rewound */
    char *p = cdc_arena_strdup(a, "second");
    assert_ptr_equal(p, first);
    assert_string_equal(p, "second");
    assert_true(a->used_total >= 7 && a->used_total <= 7 + sizeof(max_align_t));
    /* many rounds of fill and reset */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 2000; i++) {
            char *s = cdc_arena_alloc(a, 64);
            memset(s, 'a' + round % 26, 64);
        }
        cdc_arena_reset(a);
    }
    /* a first block that is a big allocation is not kept */
    cdc_arena_release(a);
    assert_null(a->head);
    memset(cdc_arena_alloc(a, (size_t)1 << 20), 0, (size_t)1 << 20);
    cdc_arena_reset(a);
    assert_null(a->head);
    assert_string_equal(cdc_arena_strdup(a, "ok"), "ok");
    /* release twice is fine, and the arena can be used again */
    cdc_arena_release(a);
    cdc_arena_release(a);
    assert_string_equal(cdc_arena_strdup(a, "reused"), "reused");
}

/* ==== Groups and names ==== */

static void test_group_validate(void **state)
{
    (void)state;
    static const char *const good[] = {"sales", "group-2", "a_b", "a", "0",
                                       "x-y_z-0123456789"};
    for (size_t i = 0; i < NELEMS(good); i++) {
        struct cdc_err err = {0};
        if (cdc_group_validate(good[i], &err) != CDC_OK)
            fail_msg("group \"%s\" rejected: %s", good[i], err.msg);
    }
    char max48[49];
    memset(max48, 'a', 48);
    max48[48] = '\0';
    assert_int_equal(cdc_group_validate(max48, NULL), CDC_OK);

    static const struct {
        const char *group;
        const char *want;
    } bad[] = {
        {"", "group must not be empty"},
        {"Sales", "group \"Sales\" is invalid: use lower-case letters, "
                  "digits, '-' and '_' only"},
        {"a.b", "group \"a.b\" is invalid"},
        {"a b", "group \"a b\" is invalid"},
        {"a*", "is invalid"},
        {"a>", "is invalid"},
        {"caf\xc3\xa9", "is invalid"},
        {"tab\t", "is invalid"},
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        struct cdc_err err = {0};
        assert_int_equal(cdc_group_validate(bad[i].group, &err), CDC_ECONFIG);
        assert_int_equal(err.code, CDC_ECONFIG);
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("message \"%s\" does not contain \"%s\"", err.msg,
                     bad[i].want);
    }
    char long49[50];
    memset(long49, 'a', 49);
    long49[49] = '\0';
    struct cdc_err err = {0};
    assert_int_equal(cdc_group_validate(long49, &err), CDC_ECONFIG);
    assert_non_null(strstr(err.msg, "is too long: at most 48 characters"));
    assert_int_equal(cdc_group_validate(NULL, &err), CDC_ECONFIG);
    assert_string_equal(err.msg, "group must not be empty");
    /* err may be NULL */
    assert_int_equal(cdc_group_validate("Bad", NULL), CDC_ECONFIG);
}

static void test_group_names(void **state)
{
    (void)state;
    char out[CDC_NAME_MAX];
    cdc_name_pg("group-2", out, sizeof(out));
    assert_string_equal(out, "tributary_group_2");
    cdc_name_stream("group-2", out, sizeof(out));
    assert_string_equal(out, "TRIBUTARY_group-2");
    cdc_name_dlq_stream("group-2", out, sizeof(out));
    assert_string_equal(out, "TRIBUTARY_DLQ_group-2");
    cdc_name_kv("group-2", out, sizeof(out));
    assert_string_equal(out, "tributary_group-2");
    cdc_name_pg("sales", out, sizeof(out));
    assert_string_equal(out, "tributary_sales");
    cdc_name_pg("a-b-c_d", out, sizeof(out));
    assert_string_equal(out, "tributary_a_b_c_d");
    /* the longest group gives a PostgreSQL identifier (at most 63 bytes) */
    char max48[49];
    memset(max48, 'g', 48);
    max48[48] = '\0';
    cdc_name_pg(max48, out, sizeof(out));
    assert_int_equal(strlen(out), 10 + 48);
    assert_true(strlen(out) <= 63);
    /* a short buffer is truncated and stays terminated */
    char small[12];
    cdc_name_pg("x-y-z", small, sizeof(small));
    assert_string_equal(small, "tributary_x");
    cdc_name_dlq_stream("group-2", small, sizeof(small));
    assert_string_equal(small, "TRIBUTARY_D");
}

static void expect_subject(const char *group, const char *schema,
                           const char *table, const char *want)
{
    struct cdc_buf *b = &fx.buf;
    cdc_buf_reset(b);
    assert_int_equal(cdc_name_subject(group, schema, table, b), CDC_OK);
    assert_string_equal(b->data, want);
}

static void test_name_subject(void **state)
{
    (void)state;
    expect_subject("g", "public", "users", "tributary.g.public.users");
    expect_subject("group-2", "public", "my.table",
                   "tributary.group-2.public.my%2Etable");
    expect_subject("g", "my schema", "a b", "tributary.g.my%20schema.a%20b");
    expect_subject("g", "*", ">", "tributary.g.%2A.%3E");
    expect_subject("g", "s", "caf\xc3\xa9", "tributary.g.s.caf%C3%A9");
    expect_subject("g", "s", "\xe6\x97\xa5", "tributary.g.s.%E6%97%A5");
    expect_subject("g", "", "t", "tributary.g.%00.t");
    expect_subject("g", "s", "", "tributary.g.s.%00");
    expect_subject("g", NULL, "t", "tributary.g.%00.t");
    expect_subject("g", "100%", "t", "tributary.g.100%25.t");
    expect_subject("g", "Mixed_Case-09", "t\x01", "tributary.g.Mixed_Case-09.t%01");
    expect_subject("g", "s", "a/b\\c", "tributary.g.s.a%2Fb%5Cc");
    /* appends after existing content */
    struct cdc_buf *b = &fx.buf;
    cdc_buf_reset(b);
    assert_int_equal(cdc_buf_append_str(b, "x:"), CDC_OK);
    assert_int_equal(cdc_name_subject("g", "s", "t", b), CDC_OK);
    assert_string_equal(b->data, "x:tributary.g.s.t");
    /* a buffer limit is honoured */
    cdc_buf_release(b);
    cdc_buf_init(b, 16);
    assert_int_equal(cdc_name_subject("g", "public", "users", b), CDC_ETOOBIG);
}

/* ==== DSN redaction ==== */

static void expect_redacted(const char *dsn, const char *want)
{
    char out[512];
    memset(out, 'Z', sizeof(out));
    cdc_redact_dsn(dsn, out, sizeof(out));
    assert_string_equal(out, want);
    assert_null(strstr(out, "secret"));
}

static void test_redact_dsn(void **state)
{
    (void)state;
    expect_redacted(
        "postgres://app:secret@db.example.com:5432/shop?sslmode=require",
        "postgres://app:***@db.example.com:5432/shop?sslmode=require");
    expect_redacted("postgresql://app:secret@[::1]/shop",
                    "postgresql://app:***@[::1]/shop");
    expect_redacted("nats://user:secret@127.0.0.1:4222",
                    "nats://user:***@127.0.0.1:4222");
    expect_redacted("host=db user=app password=secret dbname=shop",
                    "host=db user=app password=*** dbname=shop");
    expect_redacted("password=secret host=db", "password=*** host=db");
    expect_redacted("host=db password = secret port=5432",
                    "host=db password=*** port=5432");
    expect_redacted("host=db\tpassword=secret", "host=db\tpassword=***");
    expect_redacted("host=db password='quoted secret with spaces' dbname=x",
                    "host=db password=*** dbname=x");
    expect_redacted("password='it\\'s a secret' user=u", "password=*** user=u");
    expect_redacted("host=db password='unterminated secret",
                    "host=db password=***");
    expect_redacted("host=db password=", "host=db password=***");
}

static void test_redact_dsn_no_password(void **state)
{
    (void)state;
    static const char *const same[] = {
        "host=db user=app dbname=shop",
        "host=db passfile=/home/app/.pgpass",
        "host=db mypassword=x",
        "postgres://app@db.example.com/shop",
        "postgres://db.example.com:5432/shop",
        "nats://127.0.0.1:4222",
        "",
    };
    for (size_t i = 0; i < NELEMS(same); i++)
        expect_redacted(same[i], same[i]);
    char out[16] = "unchanged";
    cdc_redact_dsn(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    snprintf(out, sizeof(out), "unchanged");
    cdc_redact_dsn("password=secret", out, 0);
    assert_string_equal(out, "unchanged");
}

static void test_redact_dsn_truncated(void **state)
{
    (void)state;
    static const char *const dsns[] = {
        "host=db user=app password=secret dbname=shop",
        "password='quoted secret' host=db",
        "postgres://app:secret@db.example.com:5432/shop",
        "postgresql:///shop?host=/tmp&password=secret&sslmode=disable",
        "nats://u:secret1@h1:4222,nats://u:secret2@h2:4222",
        "nats://secret@host:4222",
    };
    for (size_t i = 0; i < NELEMS(dsns); i++) {
        for (size_t sz = 1; sz <= strlen(dsns[i]) + 1; sz++) {
            char *out = keep_mem(cdc_xmalloc(sz));
            memset(out, 'Z', sz);
            cdc_redact_dsn(dsns[i], out, sz);
            assert_non_null(memchr(out, '\0', sz));
            assert_null(strstr(out, "sec"));
            drop_mem(out);
        }
    }
}

/* A URL kept every password but the first user's: libpq accepts
 * "?password=" among the URI parameters, and nats-url takes a
 * comma-separated server list, each with its own user:password@. Both were
 * copied as they were, so the secret reached the error message of a failed
 * connection (common/js.c) and the logs. */
static void test_redact_dsn_url_leaks(void **state)
{
    (void)state;
    static const char *const dsns[] = {
        "postgresql://app@db.example.com/shop?password=secret",
        "postgresql:///shop?host=/tmp&password=secret&sslmode=disable",
        "nats://u:secret1@h1:4222,nats://u:secret2@h2:4222",
    };
    for (size_t i = 0; i < NELEMS(dsns); i++) {
        char out[512];
        cdc_redact_dsn(dsns[i], out, sizeof(out));
        if (strstr(out, "secret") != NULL)
            fail_msg("\"%s\" redacted as \"%s\"", dsns[i], out);
    }
    expect_redacted("postgresql://app@db.example.com/shop?password=secret",
                    "postgresql://app@db.example.com/shop?password=***");
    expect_redacted(
        "postgresql:///shop?host=/tmp&password=secret&sslmode=disable",
        "postgresql:///shop?host=/tmp&password=***&sslmode=disable");
    expect_redacted("nats://u:secret1@h1:4222,nats://u:secret2@h2:4222",
                    "nats://u:***@h1:4222,nats://u:***@h2:4222");
    expect_redacted("nats://h1:4222,nats://u:secret@h2:4222,tls://h3:4222",
                    "nats://h1:4222,nats://u:***@h2:4222,tls://h3:4222");
    expect_redacted("postgresql://app:secret@h1:5432,h2:5433/db"
                    "?sslpassword=secret&application_name=x",
                    "postgresql://app:***@h1:5432,h2:5433/db"
                    "?sslpassword=***&application_name=x");
    expect_redacted("postgresql://h/db?password=secret",
                    "postgresql://h/db?password=***");
    /* a raw '@' in the password is hidden whole */
    expect_redacted("nats://u:p@ss@secret@host:4222", "nats://u:***@host:4222");
    /* a conninfo value that looks like a URL, and other secret keys */
    expect_redacted("host=db password=x://u@secret dbname=d",
                    "host=db password=*** dbname=d");
    expect_redacted("host=db sslpassword='a secret' dbname=d",
                    "host=db sslpassword=*** dbname=d");
    /* only whole keys are secret */
    expect_redacted("postgresql://h/db?passwordless=1&mypassword=2",
                    "postgresql://h/db?passwordless=1&mypassword=2");
}

/* A userinfo without a colon is a token for NATS (nats://token@host) and
 * other schemes, but a user name for the database schemes. */
static void test_redact_dsn_token(void **state)
{
    (void)state;
    expect_redacted("nats://s3cret@host:4222", "nats://***@host:4222");
    expect_redacted("nats://secret@h1:4222,nats://secret@h2:4222",
                    "nats://***@h1:4222,nats://***@h2:4222");
    expect_redacted("tls://secret@host:4222", "tls://***@host:4222");
    expect_redacted("wss://secret@host/ws", "wss://***@host/ws");
    expect_redacted("https://secret@hooks.example.com/x",
                    "https://***@hooks.example.com/x");
    expect_redacted("nats://tok:@host", "nats://tok:***@host");
    static const char *const users[] = {
        "postgresql://app@db/shop",
        "POSTGRES://app@db/shop",
        "mysql://app@db:3306/shop",
        "mongodb+srv://app@cluster.example.com/shop",
    };
    for (size_t i = 0; i < NELEMS(users); i++)
        expect_redacted(users[i], users[i]);
}

/* ==== Backoff ==== */

static void expect_jittered(int64_t got, int64_t base)
{
    if (got < base - base / 4 || got > base)
        fail_msg("delay %lld outside [%lld, %lld]", (long long)got,
                 (long long)(base - base / 4), (long long)base);
}

static void test_backoff_grows_capped(void **state)
{
    (void)state;
    struct cdc_backoff bo;
    cdc_backoff_init(&bo, 100, 1000);
    static const int64_t bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (size_t i = 0; i < NELEMS(bases); i++) {
        int64_t d = cdc_backoff_next(&bo);
        expect_jittered(d, bases[i]);
        assert_int_equal(bo.attempt, i + 1);
    }
    for (int i = 0; i < 1000; i++) {
        int64_t d = cdc_backoff_next(&bo);
        expect_jittered(d, 1000);
    }
    assert_int_equal(bo.current_ms, 1000);
    /* a cap that is not a power-of-two multiple of the start */
    cdc_backoff_init(&bo, 3, 10);
    assert_int_equal(cdc_backoff_next(&bo), 3); /* 3 / 4 == 0: no jitter */
    expect_jittered(cdc_backoff_next(&bo), 6);
    expect_jittered(cdc_backoff_next(&bo), 10);
    expect_jittered(cdc_backoff_next(&bo), 10);
    /* a large cap does not overflow */
    cdc_backoff_init(&bo, 1, INT64_MAX);
    int64_t prev = 0;
    for (int i = 0; i < 200; i++) {
        int64_t d = cdc_backoff_next(&bo);
        assert_true(d > 0);
        assert_true(d >= prev / 2);
        prev = d;
    }
    assert_true(bo.current_ms > 0);
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    struct cdc_backoff bo;
    cdc_backoff_init(&bo, 1000, 1000);
    int64_t lo = INT64_MAX;
    int64_t hi = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = cdc_backoff_next(&bo);
        expect_jittered(d, 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* spread over the range, not a constant */
    assert_true(lo < 800);
    assert_true(hi > 950);
}

static void test_backoff_reset_and_bounds(void **state)
{
    (void)state;
    struct cdc_backoff bo;
    cdc_backoff_init(&bo, 100, 1000);
    for (int i = 0; i < 5; i++)
        (void)cdc_backoff_next(&bo);
    assert_int_equal(bo.current_ms, 1000);
    cdc_backoff_reset(&bo);
    assert_int_equal(bo.current_ms, 100);
    assert_int_equal(bo.attempt, 0);
    expect_jittered(cdc_backoff_next(&bo), 100);
    expect_jittered(cdc_backoff_next(&bo), 200);
    /* a start of 0 or less becomes 1 ms; a cap below it becomes the start */
    cdc_backoff_init(&bo, 0, 0);
    assert_int_equal(bo.initial_ms, 1);
    assert_int_equal(bo.max_ms, 1);
    assert_int_equal(cdc_backoff_next(&bo), 1);
    assert_int_equal(cdc_backoff_next(&bo), 1);
    cdc_backoff_init(&bo, 500, 100);
    assert_int_equal(bo.max_ms, 500);
    expect_jittered(cdc_backoff_next(&bo), 500);
    expect_jittered(cdc_backoff_next(&bo), 500);
}

/* ==== Errors ==== */

static void test_err_set(void **state)
{
    (void)state;
    struct cdc_err err = {0};
    int rc = cdc_err_set(&err, CDC_EIO, CDC_ERR_RETRIABLE,
                         "could not connect to source \"%s\": %s", "orders-pg",
                         "connection refused");
    assert_int_equal(rc, CDC_EIO);
    assert_int_equal(err.code, CDC_EIO);
    assert_int_equal(err.flags, CDC_ERR_RETRIABLE);
    assert_string_equal(err.msg, "could not connect to source \"orders-pg\": "
                                 "connection refused");
    /* a later error replaces everything */
    rc = cdc_err_set(&err, CDC_EPROTO, CDC_ERR_POISON, "bad %d", 7);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(err.flags, CDC_ERR_POISON);
    assert_string_equal(err.msg, "bad 7");
    /* NULL err: only the code comes back */
    assert_int_equal(cdc_err_set(NULL, CDC_ECONFIG, 0, "x %s", "y"),
                     CDC_ECONFIG);
    assert_int_equal(cdc_err_set(NULL, CDC_OK, 0, "%s", ""), CDC_OK);
    /* long messages are truncated and terminated */
    char *s = repeat('m', 1000);
    cdc_err_set(&err, CDC_ETOOBIG, 0, "%s", s);
    assert_int_equal(strlen(err.msg), CDC_ERR_MSG_MAX - 1);
    drop_mem(s);
    /* clear */
    err.index = 5;
    cdc_err_clear(&err);
    assert_int_equal(err.code, CDC_OK);
    assert_int_equal(err.flags, 0);
    assert_int_equal(err.index, 0);
    assert_string_equal(err.msg, "");
}

static void test_err_prefix(void **state)
{
    (void)state;
    struct cdc_err err = {0};
    cdc_err_set(&err, CDC_EIO, CDC_ERR_RETRIABLE, "connection refused");
    assert_int_equal(cdc_err_prefix(&err, "sink \"%s\"", "pg"), CDC_EIO);
    assert_string_equal(err.msg, "sink \"pg\": connection refused");
    assert_int_equal(err.code, CDC_EIO);
    assert_int_equal(err.flags, CDC_ERR_RETRIABLE);
    assert_int_equal(cdc_err_prefix(&err, "worker"), CDC_EIO);
    assert_string_equal(err.msg, "worker: sink \"pg\": connection refused");
    /* long context or message: truncated and terminated */
    char *s = repeat('c', 400);
    assert_int_equal(cdc_err_prefix(&err, "%s", s), CDC_EIO);
    assert_int_equal(strlen(err.msg), CDC_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg, s, CDC_ERR_MSG_MAX - 1);
    drop_mem(s);
    cdc_err_set(&err, CDC_ECONFIG, 0, "%s", "tail");
    s = repeat('d', 250);
    cdc_err_prefix(&err, "%s", s);
    assert_int_equal(strlen(err.msg), CDC_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg + 250, ": tai", 5);
    drop_mem(s);
}

static void test_status_str(void **state)
{
    (void)state;
    assert_string_equal(cdc_status_str(CDC_OK), "ok");
    assert_string_equal(cdc_status_str(CDC_ETOOBIG), "too big");
    assert_string_equal(cdc_status_str(CDC_EPROTO), "protocol error");
    assert_string_equal(cdc_status_str(CDC_ESTOP), "stopped");
    assert_string_equal(cdc_status_str(42), "unknown error");
    assert_string_equal(cdc_status_str(-100), "unknown error");
}

/* ==== Time ==== */

static void expect_time(int64_t us, const char *want)
{
    char out[64];
    cdc_time_format_us(us, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_time_format(void **state)
{
    (void)state;
    expect_time(0, "1970-01-01T00:00:00.000000Z");
    expect_time(1, "1970-01-01T00:00:00.000001Z");
    expect_time(INT64_C(1714564800123456), "2024-05-01T12:00:00.123456Z");
    expect_time(INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z");
    expect_time(INT64_C(951868799999999), "2000-02-29T23:59:59.999999Z");
    expect_time(-1, "1969-12-31T23:59:59.999999Z");
    expect_time(-1000000, "1969-12-31T23:59:59.000000Z");
    expect_time(-1000001, "1969-12-31T23:59:58.999999Z");
    expect_time(INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z");
    /* a short buffer is truncated and stays terminated */
    char small[11];
    cdc_time_format_us(0, small, sizeof(small));
    assert_string_equal(small, "1970-01-01");
}

static void test_time_parse(void **state)
{
    (void)state;
    /* what cdc_time_format_us writes reads back the same */
    const int64_t values[] = {0, 1, INT64_C(1714564800123456),
                              INT64_C(951868799999999), -1000001,
                              INT64_C(253402300799999999)};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[64];
        int64_t back = 42;
        cdc_time_format_us(values[i], out, sizeof(out));
        assert_int_equal(cdc_time_parse_us(out, &back), CDC_OK);
        assert_true(back == values[i]);
    }
    int64_t us = 0;
    assert_int_equal(cdc_time_parse_us("2024-05-01T12:00:00Z", &us), CDC_OK);
    assert_true(us == INT64_C(1714564800000000));
    assert_int_equal(cdc_time_parse_us("2024-05-01T12:00:00.5Z", &us), CDC_OK);
    assert_true(us == INT64_C(1714564800500000));
    const char *bad[] = {NULL, "", "2024-05-01", "2024-05-01T12:00:00",
                         "2024-05-01T12:00:00.Z", "2024-13-01T12:00:00Z",
                         "2024-05-01 12:00:00Z", "2024-05-01T12:00:00Zx",
                         "2024-05-01T12:00:00+01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cdc_time_parse_us(bad[i], &us), CDC_EPROTO);
    char size[32];
    cdc_size_format(0, size, sizeof(size));
    assert_string_equal(size, "0 B");
    cdc_size_format(1023, size, sizeof(size));
    assert_string_equal(size, "1023 B");
    cdc_size_format(1536, size, sizeof(size));
    assert_string_equal(size, "1.5 KiB");
    cdc_size_format(UINT64_C(5) << 30, size, sizeof(size));
    assert_string_equal(size, "5.0 GiB");
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = cdc_now_ms();
    int64_t b = cdc_now_ms();
    assert_true(b >= a);
    /* after 2020-01-01 */
    assert_true(cdc_wall_us() > INT64_C(1577836800000000));
    cdc_sleep_ms(0);
    cdc_sleep_ms(-5);
    int64_t c = cdc_now_ms();
    cdc_sleep_ms(20);
    assert_true(cdc_now_ms() - c >= 20);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A process whose teardown does not finish exits with its code anyway. */
static void test_shutdown_watchdog(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cdc_shutdown_watchdog(1, 7);
        /* a teardown that never returns */
        for (;;)
            pause();
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
}

/* The reply subject of a JetStream message says where the message is in
 * the stream and how many more the consumer has behind it. */
static void test_js_reply_meta(void **state)
{
    (void)state;
    uint64_t d = 9;
    uint64_t seq = 9;
    uint64_t pend = 9;
    assert_true(cdc_js_reply_meta(
        "$JS.ACK.TRIBUTARY_g.postgres_g.1.1234.1230.1763700000000000000.57", &d,
        &seq, &pend));
    assert_int_equal(d, 1);
    assert_int_equal(seq, 1234);
    assert_int_equal(pend, 57);
    /* with a domain and an account hash, and a trailing token */
    assert_true(cdc_js_reply_meta(
        "$JS.ACK.hub.ACCHASH.S.C.3.88.80.1763700000000000000.0.rand", &d, &seq,
        &pend));
    assert_int_equal(d, 3);
    assert_int_equal(seq, 88);
    assert_int_equal(pend, 0);
    /* pending not a number: unknown, read as none */
    assert_true(cdc_js_reply_meta("$JS.ACK.S.C.2.5.5.17.x", &d, &seq, &pend));
    assert_int_equal(seq, 5);
    assert_int_equal(pend, 0);
    /* not an acknowledgement subject, too short, or not numbers */
    assert_false(cdc_js_reply_meta("_INBOX.abc.def", &d, &seq, &pend));
    assert_false(cdc_js_reply_meta("$JS.ACK.S.C.1.2.3", &d, &seq, &pend));
    assert_false(cdc_js_reply_meta("$JS.ACK.S.C.one.2.3.4.5", &d, &seq, &pend));
    assert_false(cdc_js_reply_meta("$JS.ACK.S.C.1.-2.3.4.5", &d, &seq, &pend));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_parse_int_ranges),
        T(test_parse_int_junk),
        T(test_parse_int_spaces),
        T(test_parse_int_overflow),
        T(test_parse_bool),
        T(test_parse_duration),
        T(test_parse_duration_invalid),
        T(test_parse_duration_overflow),
        T(test_parse_size),
        T(test_parse_size_invalid),
        T(test_lsn_parse),
        T(test_lsn_format_roundtrip),
        T(test_lsn_invalid),
        T(test_buf_append),
        T(test_buf_printf),
        T(test_buf_limit),
        T(test_buf_detach),
        T(test_buf_json_controls),
        T(test_buf_json_quotes_utf8),
        T(test_buf_json_every_offset),
        T(test_arena_many),
        T(test_arena_alignment),
        T(test_arena_big),
        T(test_arena_reset_reuse),
        T(test_group_validate),
        T(test_group_names),
        T(test_name_subject),
        T(test_redact_dsn),
        T(test_redact_dsn_no_password),
        T(test_redact_dsn_truncated),
        T(test_redact_dsn_url_leaks),
        T(test_redact_dsn_token),
        T(test_backoff_grows_capped),
        T(test_backoff_jitter),
        T(test_backoff_reset_and_bounds),
        T(test_err_set),
        T(test_err_prefix),
        T(test_status_str),
        T(test_time_format),
        T(test_time_parse),
        T(test_clocks),
        T(test_shutdown_watchdog),
        T(test_js_reply_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_copy_text.c: unit tests of replicator/copy_text.c: the COPY
 * text-format line parser (every escape, NULL against an escaped N, empty
 * fields, the final newline, field counts, NUL refusal, long and UTF-8
 * values, a round trip through PostgreSQL's own escaping), the block-range
 * planner and its invariants, the WHERE condition and key-value key and
 * value of a range, the copy plan's text (round trips, malformed plans),
 * and the progress line.
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
#include "replicator/copy_text.h"

#include <stdio.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

#define MAX_COLS 16
#define MAX_RANGES 128

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct cdc_arena arena;
    struct cdc_buf buf;
    struct cdc_buf line;
    struct cdc_buf want;
    struct cdc_err err;
    const char *values[MAX_COLS];
    size_t lens[MAX_COLS];
    struct source_copy_range ranges[MAX_RANGES];
    struct source_copy_saved_plan plan;
    struct source_copy_saved_plan back;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_arena_init(&fx.arena);
    cdc_buf_init(&fx.buf, 0);
    cdc_buf_init(&fx.line, 0);
    cdc_buf_init(&fx.want, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_arena_release(&fx.arena);
    cdc_buf_release(&fx.buf);
    cdc_buf_release(&fx.line);
    cdc_buf_release(&fx.want);
    source_copy_saved_plan_release(&fx.plan);
    source_copy_saved_plan_release(&fx.back);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== Parser helpers ==== */

/* Parses len bytes of line into fx.values and fx.lens. */
static int parse_n(const char *line, size_t len, size_t ncols)
{
    assert_true(ncols <= MAX_COLS);
    for (size_t i = 0; i < MAX_COLS; i++) {
        fx.values[i] = "(untouched)";
        fx.lens[i] = 12345;
    }
    cdc_err_clear(&fx.err);
    return source_copy_parse_line(line, len, ncols, &fx.arena, fx.values,
                                  fx.lens, &fx.err);
}

static int parse(const char *line, size_t ncols)
{
    return parse_n(line, strlen(line), ncols);
}

/* Field i is the len bytes of want, NUL-terminated after them. */
static void want_value_n(size_t i, const char *want, size_t len)
{
    if (fx.values[i] == NULL)
        fail_msg("field %zu is NULL", i);
    assert_int_equal(fx.lens[i], len);
    assert_memory_equal(fx.values[i], want, len);
    assert_int_equal(fx.values[i][len], '\0');
}

static void want_value(size_t i, const char *want)
{
    want_value_n(i, want, strlen(want));
}

static void want_null(size_t i)
{
    assert_null(fx.values[i]);
    assert_int_equal(fx.lens[i], 0);
}

/* The single field of line unescapes to the len bytes of want. */
static void want_one_n(const char *line, const char *want, size_t len)
{
    int rc = parse(line, 1);
    if (rc != CDC_OK)
        fail_msg("\"%s\" rejected: %s", line, fx.err.msg);
    want_value_n(0, want, len);
}

static void want_one(const char *line, const char *want)
{
    want_one_n(line, want, strlen(want));
}

/* line is refused with CDC_EPROTO and a message holding what. */
static void want_bad(const char *line, size_t len, size_t ncols,
                     const char *what)
{
    int rc = parse_n(line, len, ncols);
    if (rc != CDC_EPROTO)
        fail_msg("\"%s\" gave %d, want CDC_EPROTO", line, rc);
    assert_int_equal(fx.err.code, CDC_EPROTO);
    if (strstr(fx.err.msg, what) == NULL)
        fail_msg("message \"%s\" does not hold \"%s\"", fx.err.msg, what);
}

/* ==== Parser: fields and escapes ==== */

static void test_parse_plain_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("1\tabc\thello world\n", 3), CDC_OK);
    want_value(0, "1");
    want_value(1, "abc");
    want_value(2, "hello world");
    /* the values live in the arena, not in the line */
    const char *line = "x\ty";
    assert_int_equal(parse(line, 2), CDC_OK);
    uintptr_t v = (uintptr_t)fx.values[0];
    assert_true(v < (uintptr_t)line || v > (uintptr_t)line + 3);
}

static void test_parse_without_newline(void **state)
{
    (void)state;
    assert_int_equal(parse("1\tabc\tz", 3), CDC_OK);
    want_value(0, "1");
    want_value(1, "abc");
    want_value(2, "z");
    /* only one final newline is the line's end */
    assert_int_equal(parse("a\\n\n", 1), CDC_OK);
    want_value(0, "a\n");
}

static void test_parse_letter_escapes(void **state)
{
    (void)state;
    want_one("\\b", "\b");
    want_one("\\f", "\f");
    want_one("\\n", "\n");
    want_one("\\r", "\r");
    want_one("\\t", "\t");
    want_one("\\v", "\v");
    want_one("\\\\", "\\");
    want_one("a\\tb\\nc\\\\d\n", "a\tb\nc\\d");
    want_one("\\r\\n\\r\\n", "\r\n\r\n");
}

static void test_parse_octal_escapes(void **state)
{
    (void)state;
    want_one("\\1", "\001");
    want_one("\\12", "\n");
    want_one("\\101", "A");
    want_one("x\\101y", "xAy");
    /* three digits at most */
    want_one("\\1010", "A0");
    want_one("\\0101", "\0101");
    /* the byte is the low 8 bits, as PostgreSQL takes it */
    want_one("\\777", "\377");
    want_one("\\341", "\341");
    /* 8 and 9 are not octal */
    want_one("\\8", "8");
    want_one("\\18", "\0018");
}

static void test_parse_hex_escapes(void **state)
{
    (void)state;
    want_one("\\x41", "A");
    want_one("\\x4", "\004");
    want_one("\\x4g", "\004g");
    /* two digits at most */
    want_one("\\x414", "A4");
    want_one("\\xfF", "\377");
    want_one("\\xAb", "\253");
    /* \x without a hex digit is an x */
    want_one("\\xg", "xg");
    want_one("\\x", "x");
    want_one("\\x\n", "x");
    assert_int_equal(parse("\\x\tq", 2), CDC_OK);
    want_value(0, "x");
    want_value(1, "q");
}

static void test_parse_other_escapes(void **state)
{
    (void)state;
    /* any other escaped byte stands for itself */
    want_one("\\a", "a");
    want_one("\\.", ".");
    want_one("\\\"", "\"");
    want_one("\\ ", " ");
    want_one("\\B\\F\\X41", "BFX41");
    want_one("\\\xc3\xa9", "\xc3\xa9");
}

static void test_parse_escaped_tab_is_data(void **state)
{
    (void)state;
    /* a backslash before a real tab makes the tab part of the value */
    want_one("a\\\tb", "a\tb");
    assert_int_equal(parse("a\\\t\tb\n", 2), CDC_OK);
    want_value(0, "a\t");
    want_value(1, "b");
    assert_int_equal(parse("\\\t\\\t\t\\\t", 2), CDC_OK);
    want_value(0, "\t\t");
    want_value(1, "\t");
    /* counted as one field */
    want_bad("a\\\tb", 4, 2, "has 1 fields, expected 2");
}

/* ==== Parser: NULL and empty ==== */

static void test_parse_null(void **state)
{
    (void)state;
    assert_int_equal(parse("\\N\n", 1), CDC_OK);
    want_null(0);
    assert_int_equal(parse("\\N", 1), CDC_OK);
    want_null(0);
    assert_int_equal(parse("\\N\tx\t\\N\n", 3), CDC_OK);
    want_null(0);
    want_value(1, "x");
    want_null(2);
    assert_int_equal(parse("\\N\t\\N", 2), CDC_OK);
    want_null(0);
    want_null(1);
    assert_int_equal(parse("a\\tb\t\\N\tc\\\\", 3), CDC_OK);
    want_value(0, "a\tb");
    want_null(1);
    want_value(2, "c\\");
}

static void test_parse_escaped_n_is_not_null(void **state)
{
    (void)state;
    /* \N is NULL only as the whole field */
    want_one("a\\Nb", "aNb");
    want_one("\\Nx", "Nx");
    want_one("x\\N", "xN");
    want_one("\\N\\N", "NN");
    /* an escaped backslash then N is the text \N */
    want_one("\\\\N", "\\N");
    /* lower-case n is a newline */
    want_one("\\n", "\n");
    assert_int_equal(parse("\\Nb\t\\N", 2), CDC_OK);
    want_value(0, "Nb");
    want_null(1);
}

static void test_parse_empty_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("\t\t\n", 3), CDC_OK);
    want_value(0, "");
    want_value(1, "");
    want_value(2, "");
    assert_int_equal(parse("a\t\tc", 3), CDC_OK);
    want_value(0, "a");
    want_value(1, "");
    want_value(2, "c");
    assert_int_equal(parse("\t\\N\t", 3), CDC_OK);
    want_value(0, "");
    want_null(1);
    want_value(2, "");
    /* an empty line is one empty field, not NULL */
    want_one("\n", "");
    want_one("", "");
}

static void test_parse_no_columns(void **state)
{
    (void)state;
    /* SELECT with no columns gives empty lines */
    assert_int_equal(parse("\n", 0), CDC_OK);
    assert_int_equal(parse("", 0), CDC_OK);
    want_bad("a\n", 2, 0, "COPY line has 1 fields, expected 0");
    want_bad("\t", 1, 0, "COPY line has 2 fields, expected 0");
}

/* ==== Parser: malformed lines ==== */

static void test_parse_too_few_fields(void **state)
{
    (void)state;
    want_bad("a\tb\tc\n", 6, 4, "COPY line has 3 fields, expected 4");
    want_bad("a", 1, 2, "COPY line has 1 fields, expected 2");
    want_bad("\n", 1, 2, "COPY line has 1 fields, expected 2");
    want_bad("\\N", 2, 3, "COPY line has 1 fields, expected 3");
}

static void test_parse_too_many_fields(void **state)
{
    (void)state;
    want_bad("a\tb\tc\td\n", 8, 2, "COPY line has 4 fields, expected 2");
    want_bad("a\t", 2, 1, "COPY line has 2 fields, expected 1");
    want_bad("\\N\t\\N\t\\t", 8, 1, "COPY line has 3 fields, expected 1");
    /* nothing is written past ncols */
    assert_int_equal(parse_n("x\ty\tz", 5, 1), CDC_EPROTO);
    assert_string_equal(fx.values[1], "(untouched)");
    assert_int_equal(fx.lens[1], 12345);
}

static void test_parse_nul_escape_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"\\0",         "\\00",  "\\000",
                                      "a\\0b",       "\\x0",  "\\x00",
                                      "\\X00x\\x00", "\\400", "ok\t\\0"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        want_bad(bad[i], strlen(bad[i]), i == NELEMS(bad) - 1 ? 2 : 1,
                 "NUL byte in a COPY value");
    /* \0 followed by a non-octal digit is still a NUL */
    want_bad("\\08", 3, 1, "NUL byte in a COPY value");
    /* \x followed by 0 and a non-hex byte is a NUL too */
    want_bad("\\x0g", 4, 1, "NUL byte in a COPY value");
    /* and \010 is a backspace, not a NUL */
    want_one("\\010", "\b");
    want_one("\\x10", "\020");
}

static void test_parse_raw_nul_refused(void **state)
{
    (void)state;
    want_bad("a\0b", 3, 1, "NUL byte in a COPY value");
    want_bad("ab\t\0\n", 5, 2, "NUL byte in a COPY value");
    want_bad("\0", 1, 1, "NUL byte in a COPY value");
}

static void test_parse_lone_backslash(void **state)
{
    (void)state;
    want_bad("abc\\", 4, 1, "lone backslash");
    want_bad("abc\\\n", 5, 1, "lone backslash");
    want_bad("a\tb\\", 4, 2, "lone backslash");
    want_bad("\\", 1, 1, "lone backslash");
    /* an escaped backslash at the end is fine */
    want_one("abc\\\\\n", "abc\\");
}

static void test_parse_null_err(void **state)
{
    (void)state;
    /* err may be NULL */
    assert_int_equal(source_copy_parse_line("a\tb", 3, 1, &fx.arena, fx.values,
                                            fx.lens, NULL),
                     CDC_EPROTO);
    assert_int_equal(source_copy_parse_line("\\0", 2, 1, &fx.arena, fx.values,
                                            fx.lens, NULL),
                     CDC_EPROTO);
}

/* ==== Parser: long and non-ASCII values ==== */

static void test_parse_long_field_no_escapes(void **state)
{
    (void)state;
    size_t big = (size_t)4 << 20;
    struct cdc_buf *line = &fx.line;
    assert_int_equal(cdc_buf_append_str(line, "1\t"), CDC_OK);
    assert_int_equal(cdc_buf_reserve(line, big), CDC_OK);
    for (size_t i = 0; i < big; i++)
        line->data[line->len + i] = (char)('a' + i % 26);
    line->len += big;
    assert_int_equal(cdc_buf_append_str(line, "\tlast\\tone\n"), CDC_OK);
    assert_int_equal(parse_n(line->data, line->len, 3), CDC_OK);
    want_value(0, "1");
    want_value_n(1, line->data + 2, big);
    want_value(2, "last\tone");
}

static void test_parse_long_field_many_escapes(void **state)
{
    (void)state;
    size_t n = 200000;
    struct cdc_buf *line = &fx.line;
    struct cdc_buf *want = &fx.want;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(cdc_buf_append_str(line, "ab\\n\\\\"), CDC_OK);
        assert_int_equal(cdc_buf_append_str(want, "ab\n\\"), CDC_OK);
    }
    assert_int_equal(cdc_buf_append_str(line, "\t\\N\n"), CDC_OK);
    assert_int_equal(parse_n(line->data, line->len, 2), CDC_OK);
    want_value_n(0, want->data, want->len);
    want_null(1);
}

static void test_parse_utf8_untouched(void **state)
{
    (void)state;
    const char *line = "h\xc3\xa9llo\t\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\t"
                       "\xf0\x9f\x98\x80\\t\xc3\xbc\n";
    assert_int_equal(parse(line, 3), CDC_OK);
    want_value(0, "h\xc3\xa9llo");
    want_value(1, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    want_value(2, "\xf0\x9f\x98\x80\t\xc3\xbc");
    /* octal and hex escapes may spell UTF-8 bytes */
    want_one("\\303\\251\\xc3\\xa9", "\xc3\xa9\xc3\xa9");
}

static void test_parse_raw_controls_pass(void **state)
{
    (void)state;
    /* PostgreSQL writes control bytes other than these escapes as is */
    want_one("\001\002\033[0m\177", "\001\002\033[0m\177");
}

/* Appends value the way PostgreSQL's COPY TO writes it (CopyAttributeOutText),
 * with every third backslash-free byte above 0x7f written in octal or hex
 * instead, which COPY FROM reads the same. */
static void escape_pg(const unsigned char *value, size_t len,
                      struct cdc_buf *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = value[i];
        const char *esc = NULL;
        switch (c) {
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\v':
            esc = "\\v";
            break;
        case '\\':
            esc = "\\\\";
            break;
        default:
            break;
        }
        if (esc != NULL)
            assert_int_equal(cdc_buf_append_str(out, esc), CDC_OK);
        else if (c >= 0x80 && i % 3 == 0)
            assert_int_equal(cdc_buf_printf(out, "\\%o", (unsigned)c), CDC_OK);
        else if (c >= 0x80 && i % 3 == 1)
            assert_int_equal(cdc_buf_printf(out, "\\x%x", (unsigned)c), CDC_OK);
        else
            assert_int_equal(cdc_buf_append_char(out, (char)c), CDC_OK);
    }
}

/* Random rows of random bytes (every byte but NUL) come back as they went
 * through PostgreSQL's escaping. */
static void test_parse_round_trip(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    unsigned char vals[4][64];
    size_t vlens[4];
    bool nulls[4];
    for (int row = 0; row < 2000; row++) {
        cdc_buf_reset(&fx.line);
        for (int c = 0; c < 4; c++) {
            seed = seed * 1103515245 + 12345;
            nulls[c] = (seed >> 16) % 7 == 0;
            vlens[c] = (seed >> 8) % 64;
            for (size_t i = 0; i < vlens[c]; i++) {
                seed = seed * 1103515245 + 12345;
                vals[c][i] = (unsigned char)(1 + (seed >> 16) % 255);
            }
            if (c > 0)
                assert_int_equal(cdc_buf_append_char(&fx.line, '\t'), CDC_OK);
            if (nulls[c])
                assert_int_equal(cdc_buf_append_str(&fx.line, "\\N"), CDC_OK);
            else
                escape_pg(vals[c], vlens[c], &fx.line);
        }
        assert_int_equal(cdc_buf_append_char(&fx.line, '\n'), CDC_OK);
        int rc = parse_n(fx.line.data, fx.line.len, 4);
        if (rc != CDC_OK)
            fail_msg("row %d rejected: %s", row, fx.err.msg);
        for (int c = 0; c < 4; c++) {
            if (nulls[c])
                want_null((size_t)c);
            else
                want_value_n((size_t)c, (const char *)vals[c], vlens[c]);
        }
        cdc_arena_reset(&fx.arena);
    }
}

/* ==== Range planning ==== */

/* The invariants of every plan: at least one range, at most max_out, from
 * block 0, contiguous, in order, only the last one open and ending at
 * nblocks (clamped to 32 bits), sizes within one block of each other and
 * at least the minimum unless there is one range. */
static size_t check_plan(uint64_t nblocks, unsigned workers, size_t max_out)
{
    assert_true(max_out <= MAX_RANGES);
    size_t n = source_copy_plan(nblocks, workers, fx.ranges, max_out);
    if (max_out == 0) {
        assert_int_equal(n, 0);
        return n;
    }
    uint64_t total = nblocks > UINT32_MAX ? UINT32_MAX : nblocks;
    unsigned w = workers == 0 ? 1 : workers;
    assert_true(n >= 1);
    assert_true(n <= max_out);
    assert_true(n <= (size_t)w * SOURCE_COPY_RANGES_PER_WORKER);
    assert_int_equal(fx.ranges[0].first_block, 0);
    uint64_t min = UINT64_MAX;
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++) {
        const struct source_copy_range *r = &fx.ranges[i];
        assert_true(r->end_block >= r->first_block);
        if (i > 0)
            assert_int_equal(r->first_block, fx.ranges[i - 1].end_block);
        assert_int_equal(r->open_end, i == n - 1);
        uint64_t size = r->end_block - r->first_block;
        if (size < min)
            min = size;
        if (size > max)
            max = size;
    }
    assert_int_equal(fx.ranges[n - 1].end_block, total);
    assert_true(max - min <= 1);
    if (n > 1)
        assert_true(min >= SOURCE_COPY_MIN_RANGE_BLOCKS);
    return n;
}

static void test_plan_empty_table(void **state)
{
    (void)state;
    for (unsigned w = 0; w <= 16; w++) {
        assert_int_equal(check_plan(0, w, MAX_RANGES), 1);
        assert_int_equal(fx.ranges[0].first_block, 0);
        assert_int_equal(fx.ranges[0].end_block, 0);
        assert_true(fx.ranges[0].open_end);
    }
}

static void test_plan_small_tables(void **state)
{
    (void)state;
    /* under two minimum ranges: one open range */
    static const uint64_t sizes[] = {1, 2, 127, 128, 200, 255};
    static const unsigned workers[] = {1, 4, 16};
    for (size_t i = 0; i < NELEMS(sizes); i++) {
        for (size_t j = 0; j < NELEMS(workers); j++) {
            assert_int_equal(check_plan(sizes[i], workers[j], MAX_RANGES), 1);
            assert_int_equal(fx.ranges[0].end_block, sizes[i]);
            assert_true(fx.ranges[0].open_end);
        }
    }
    /* two minimum ranges split in two */
    assert_int_equal(check_plan(256, 4, MAX_RANGES), 2);
    assert_int_equal(fx.ranges[1].first_block, 128);
}

static void test_plan_1000_blocks(void **state)
{
    (void)state;
    /* one worker: its four ranges */
    assert_int_equal(check_plan(1000, 1, MAX_RANGES), 4);
    assert_int_equal(fx.ranges[1].first_block, 250);
    assert_int_equal(fx.ranges[2].first_block, 500);
    assert_int_equal(fx.ranges[3].first_block, 750);
    /* more workers: bounded by the minimum size, 1000 / 128 = 7 */
    assert_int_equal(check_plan(1000, 4, MAX_RANGES), 7);
    assert_int_equal(check_plan(1000, 16, MAX_RANGES), 7);
    /* 1000 = 7 * 142 + 6: six ranges of 143, one of 142 */
    assert_int_equal(fx.ranges[1].first_block, 143);
    assert_int_equal(fx.ranges[6].first_block, 858);
}

static void test_plan_25000_blocks(void **state)
{
    (void)state;
    assert_int_equal(check_plan(25000, 1, MAX_RANGES), 4);
    assert_int_equal(check_plan(25000, 4, MAX_RANGES), 16);
    assert_int_equal(fx.ranges[1].first_block, 1563);
    assert_int_equal(check_plan(25000, 16, MAX_RANGES), 64);
    assert_int_equal(check_plan(25000, 64, MAX_RANGES), 128);
    /* 25000 / 128 = 195 ranges would be the most */
    assert_int_equal(check_plan(25000, 64, 100), 100);
}

static void test_plan_ten_million_blocks(void **state)
{
    (void)state;
    assert_int_equal(check_plan(10000000, 1, MAX_RANGES), 4);
    assert_int_equal(fx.ranges[3].first_block, 7500000);
    assert_int_equal(check_plan(10000000, 4, MAX_RANGES), 16);
    assert_int_equal(check_plan(10000000, 16, MAX_RANGES), 64);
    assert_int_equal(fx.ranges[1].first_block, 156250);
    assert_int_equal(fx.ranges[63].end_block, 10000000);
}

static void test_plan_small_max_out(void **state)
{
    (void)state;
    assert_int_equal(check_plan(10000000, 16, 3), 3);
    assert_int_equal(fx.ranges[1].first_block, 3333334);
    assert_int_equal(fx.ranges[2].first_block, 6666667);
    assert_int_equal(check_plan(10000000, 16, 2), 2);
    assert_int_equal(check_plan(10000000, 16, 1), 1);
    assert_int_equal(fx.ranges[0].first_block, 0);
    assert_true(fx.ranges[0].open_end);
    assert_int_equal(check_plan(0, 1, 1), 1);
    /* nothing fits */
    fx.ranges[0].first_block = 77;
    assert_int_equal(check_plan(10000000, 16, 0), 0);
    assert_int_equal(fx.ranges[0].first_block, 77);
}

static void test_plan_zero_workers(void **state)
{
    (void)state;
    assert_int_equal(check_plan(10000000, 0, MAX_RANGES), 4);
    assert_int_equal(check_plan(1000, 0, MAX_RANGES), 4);
}

static void test_plan_huge_table(void **state)
{
    (void)state;
    /* past 32-bit block numbers: clamped, the open end covers the rest */
    assert_int_equal(check_plan(UINT64_MAX, 16, MAX_RANGES), 64);
    assert_int_equal(fx.ranges[63].end_block, UINT32_MAX);
    assert_int_equal(check_plan((uint64_t)UINT32_MAX + 5, 1, MAX_RANGES), 4);
    assert_int_equal(check_plan(UINT32_MAX, 1000000, MAX_RANGES), MAX_RANGES);
}

static void test_plan_sweep(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {
        0,     1,     127,   128,   129,     255,      256,       257,  511,
        512,   513,   1000,  1023,  1024,    4095,     8191,      8193, 25000,
        65536, 99999, 10007, 31337, 1000003, 10000000, 4000000000};
    static const unsigned workers[] = {0, 1, 2, 3, 4, 7, 16, 32};
    static const size_t max_out[] = {1, 2, 3, 5, 16, 64, MAX_RANGES};
    for (size_t i = 0; i < NELEMS(sizes); i++)
        for (size_t j = 0; j < NELEMS(workers); j++)
            for (size_t k = 0; k < NELEMS(max_out); k++)
                check_plan(sizes[i], workers[j], max_out[k]);
}

/* ==== WHERE conditions and keys ==== */

static const char *where(uint32_t first, uint32_t end, bool open_end)
{
    struct source_copy_range r = {
        .first_block = first, .end_block = end, .open_end = open_end};
    cdc_buf_reset(&fx.buf);
    assert_int_equal(source_copy_range_where(&r, &fx.buf), CDC_OK);
    return fx.buf.data;
}

static void test_where_closed(void **state)
{
    (void)state;
    assert_string_equal(where(0, 250, false),
                        "ctid >= '(0,0)'::tid AND ctid < '(250,0)'::tid");
    assert_string_equal(where(250, 500, false),
                        "ctid >= '(250,0)'::tid AND ctid < '(500,0)'::tid");
    assert_string_equal(
        where(4294967294u, UINT32_MAX, false),
        "ctid >= '(4294967294,0)'::tid AND ctid < '(4294967295,0)'::tid");
}

static void test_where_open(void **state)
{
    (void)state;
    assert_string_equal(where(750, 1000, true), "ctid >= '(750,0)'::tid");
    assert_string_equal(where(0, 1000, true), "true");
    assert_string_equal(where(0, 0, true), "true");
}

static void test_where_appends(void **state)
{
    (void)state;
    struct source_copy_range r = {
        .first_block = 1, .end_block = 2, .open_end = false};
    assert_int_equal(cdc_buf_append_str(&fx.buf, "WHERE "), CDC_OK);
    assert_int_equal(source_copy_range_where(&r, &fx.buf), CDC_OK);
    assert_string_equal(fx.buf.data,
                        "WHERE ctid >= '(1,0)'::tid AND ctid < '(2,0)'::tid");
    /* a full buffer says so */
    struct cdc_buf *small = &fx.want;
    cdc_buf_release(small);
    cdc_buf_init(small, 8);
    assert_int_equal(source_copy_range_where(&r, small), CDC_ETOOBIG);
    r.open_end = true;
    assert_int_equal(source_copy_range_where(&r, small), CDC_ETOOBIG);
    r.first_block = 0;
    assert_int_equal(source_copy_range_where(&r, small), CDC_OK);
    assert_string_equal(small->data, "true");
}

static void test_where_of_plan(void **state)
{
    (void)state;
    assert_int_equal(source_copy_plan(1000, 1, fx.ranges, MAX_RANGES), 4);
    static const char *const want[] = {
        "ctid >= '(0,0)'::tid AND ctid < '(250,0)'::tid",
        "ctid >= '(250,0)'::tid AND ctid < '(500,0)'::tid",
        "ctid >= '(500,0)'::tid AND ctid < '(750,0)'::tid",
        "ctid >= '(750,0)'::tid",
    };
    for (size_t i = 0; i < NELEMS(want); i++) {
        cdc_buf_reset(&fx.buf);
        assert_int_equal(source_copy_range_where(&fx.ranges[i], &fx.buf),
                         CDC_OK);
        assert_string_equal(fx.buf.data, want[i]);
    }
}

static void test_range_key(void **state)
{
    (void)state;
    char key[SOURCE_COPY_KEY_MAX];
    struct source_copy_range r = {
        .first_block = 0, .end_block = 250, .open_end = false};
    source_copy_range_key(16384, &r, key, sizeof(key));
    assert_string_equal(key, "copy.16384.0");
    r.first_block = 750;
    r.open_end = true;
    source_copy_range_key(16384, &r, key, sizeof(key));
    assert_string_equal(key, "copy.16384.750");
    /* the longest key fits */
    r.first_block = UINT32_MAX;
    source_copy_range_key(UINT32_MAX, &r, key, sizeof(key));
    assert_string_equal(key, "copy.4294967295.4294967295");
    /* only characters NATS allows in a key */
    for (const char *p = key; *p != '\0'; p++)
        assert_non_null(strchr("-/_=.abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                               *p));
    /* truncated, still terminated */
    char tiny[8];
    source_copy_range_key(16384, &r, tiny, sizeof(tiny));
    assert_string_equal(tiny, "copy.16");
}

static void test_range_keys_distinct(void **state)
{
    (void)state;
    size_t n = source_copy_plan(10000000, 16, fx.ranges, MAX_RANGES);
    char keys[MAX_RANGES][SOURCE_COPY_KEY_MAX];
    for (size_t i = 0; i < n; i++)
        source_copy_range_key(42, &fx.ranges[i], keys[i], sizeof(keys[i]));
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(keys[i], keys[j]);
}

/* ==== The plan in the state bucket ==== */

/* Fills fx.plan with ntables tables of distinct OIDs and sizes. */
static void make_plan(const char *generation, const char *position,
                      unsigned workers, bool done, size_t ntables)
{
    source_copy_saved_plan_release(&fx.plan);
    snprintf(fx.plan.generation, sizeof(fx.plan.generation), "%s", generation);
    snprintf(fx.plan.position, sizeof(fx.plan.position), "%s", position);
    fx.plan.workers = workers;
    fx.plan.done = done;
    fx.plan.ntables = ntables;
    fx.plan.oids = cdc_xcalloc(ntables ? ntables : 1, sizeof(*fx.plan.oids));
    fx.plan.nblocks =
        cdc_xcalloc(ntables ? ntables : 1, sizeof(*fx.plan.nblocks));
    for (size_t i = 0; i < ntables; i++) {
        fx.plan.oids[i] = (uint32_t)(16384 + 7 * i);
        fx.plan.nblocks[i] = (uint64_t)i * i * 1000;
    }
}

/* Formats fx.plan into fx.buf and reads it back into fx.back. */
static void round_trip(void)
{
    cdc_buf_reset(&fx.buf);
    assert_int_equal(source_copy_saved_plan_format(&fx.plan, &fx.buf), CDC_OK);
    assert_int_equal(
        source_copy_saved_plan_parse(fx.buf.data, &fx.back, &fx.err), CDC_OK);
    assert_string_equal(fx.back.generation, fx.plan.generation);
    assert_string_equal(fx.back.position, fx.plan.position);
    assert_int_equal(fx.back.workers, fx.plan.workers);
    assert_int_equal(fx.back.done, fx.plan.done);
    assert_int_equal(fx.back.ntables, fx.plan.ntables);
    for (size_t i = 0; i < fx.plan.ntables; i++) {
        assert_int_equal(fx.back.oids[i], fx.plan.oids[i]);
        assert_int_equal(fx.back.nblocks[i], fx.plan.nblocks[i]);
    }
}

static void test_saved_plan_text(void **state)
{
    (void)state;
    /* plans already in state buckets have this form: it must not change */
    make_plan("mb1q2w3e-1f2e", "0/16B3748", 4, false, 2);
    assert_int_equal(source_copy_saved_plan_format(&fx.plan, &fx.buf), CDC_OK);
    assert_string_equal(fx.buf.data, "generation mb1q2w3e-1f2e\n"
                                     "position 0/16B3748\n"
                                     "workers 4\n"
                                     "done 0\n"
                                     "table 16384 0\n"
                                     "table 16391 1000\n");
}

static void test_saved_plan_round_trip(void **state)
{
    (void)state;
    make_plan("g1", "0/1", 1, false, 0);
    round_trip();
    assert_null(fx.back.oids);
    source_copy_saved_plan_release(&fx.back);
    /* more tables than the first allocation holds */
    make_plan("mb1q2w3e-1f2e", "FFFFFFFF/FFFFFFFF", 64, true, 50);
    round_trip();
    source_copy_saved_plan_release(&fx.back);
    /* the widest values of each field */
    make_plan("abcdefghijklmnopqrstuvw", "0123456789012345678901234567890",
              SOURCE_COPY_PLAN_WORKERS_MAX, true, 2);
    fx.plan.oids[1] = UINT32_MAX;
    fx.plan.nblocks[1] = UINT64_MAX;
    round_trip();
}

static void test_saved_plan_without_final_newline(void **state)
{
    (void)state;
    assert_int_equal(
        source_copy_saved_plan_parse("generation g\nposition 0/1\nworkers 2\n"
                                     "done 1\ntable 5 10",
                                     &fx.back, &fx.err),
        CDC_OK);
    assert_true(fx.back.done);
    assert_int_equal(fx.back.ntables, 1);
    assert_int_equal(fx.back.oids[0], 5);
    assert_int_equal(fx.back.nblocks[0], 10);
}

static void test_saved_plan_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\n",
        /* a line of no plan, first or after tables were read */
        "colour blue\ngeneration g\nposition 0/1\nworkers 2\n",
        "generation g\nposition 0/1\nworkers 2\ntable 1 2\ntable 3 4\n"
        "table 5 6\ntable 7 8\ntable 9 10\ntable 11 12\ntable 13 14\n"
        "table 15 16\ntable 17 18\nsomething else\n",
        /* an empty line */
        "generation g\n\nposition 0/1\nworkers 2\n",
        /* a field missing or empty */
        "position 0/1\nworkers 2\n",
        "generation g\nworkers 2\n",
        "generation g\nposition \nworkers 2\n",
        "generation g\nposition 0/1\n",
        "generation g\nposition 0/1\nworkers\n",
        "generation g\nposition 0/1\nworkers 2\ndone\n",
        /* workers out of range */
        "generation g\nposition 0/1\nworkers 0\n",
        "generation g\nposition 0/1\nworkers 1025\n",
        "generation g\nposition 0/1\nworkers -1\n",
        /* a table without its size, or not a number */
        "generation g\nposition 0/1\nworkers 2\ntable 5\n",
        "generation g\nposition 0/1\nworkers 2\ntable x 5\n",
        "generation g\nposition 0/1\nworkers 2\ntable\n",
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        cdc_err_clear(&fx.err);
        memset(&fx.back, 0xff, sizeof(fx.back));
        assert_int_equal(
            source_copy_saved_plan_parse(bad[i], &fx.back, &fx.err),
            CDC_EPROTO);
        assert_int_equal(fx.err.code, CDC_EPROTO);
        assert_true(fx.err.msg[0] != '\0');
        /* nothing left to release */
        assert_null(fx.back.oids);
        assert_null(fx.back.nblocks);
        assert_int_equal(fx.back.ntables, 0);
    }
}

static void test_saved_plan_long_line(void **state)
{
    (void)state;
    /* a long line of no plan: refused, its start quoted */
    cdc_buf_append_str(&fx.line, "generation g\nposition 0/1\nworkers 2\n");
    cdc_buf_append_str(&fx.line, "colour ");
    for (int i = 0; i < 500; i++)
        cdc_buf_append_char(&fx.line, 'x');
    assert_int_equal(
        source_copy_saved_plan_parse(fx.line.data, &fx.back, &fx.err),
        CDC_EPROTO);
    assert_true(strlen(fx.err.msg) < 100);
}

static void test_saved_plan_release_empty(void **state)
{
    (void)state;
    source_copy_saved_plan_release(&fx.back);
    source_copy_saved_plan_release(&fx.back);
    make_plan("g", "0/1", 1, false, 3);
    source_copy_saved_plan_release(&fx.plan);
    assert_null(fx.plan.oids);
    assert_int_equal(fx.plan.ntables, 0);
    source_copy_saved_plan_release(&fx.plan);
}

static void test_range_value(void **state)
{
    (void)state;
    char val[SOURCE_COPY_VALUE_MAX];
    uint64_t rows = 7;
    source_copy_range_value("mb1q2w3e-1f2e", 12345, val, sizeof(val));
    assert_string_equal(val, "generation mb1q2w3e-1f2e rows 12345");
    assert_true(source_copy_range_done(val, "mb1q2w3e-1f2e", &rows));
    assert_int_equal(rows, 12345);
    /* the widest value fits */
    source_copy_range_value("abcdefghijklmnopqrstuvw", UINT64_MAX, val,
                            sizeof(val));
    assert_true(source_copy_range_done(val, "abcdefghijklmnopqrstuvw", &rows));
    assert_true(rows == UINT64_MAX);
    /* another generation's, or another form: not done, rows untouched */
    rows = 7;
    source_copy_range_value("g1", 5, val, sizeof(val));
    assert_false(source_copy_range_done(val, "g2", &rows));
    assert_false(source_copy_range_done(val, "g", &rows));
    assert_false(source_copy_range_done("generation g1", "g1", &rows));
    assert_false(source_copy_range_done("generation g1 rows x", "g1", &rows));
    assert_false(source_copy_range_done("", "g1", &rows));
    assert_false(source_copy_range_done("rows 5", "g1", &rows));
    assert_int_equal(rows, 7);
}

/* ==== Progress ==== */

#define MIB 1048576.0

static const char *progress(const char *table, uint64_t rows, uint64_t bytes,
                            uint64_t est, double elapsed)
{
    static char out[256];
    memset(out, 'X', sizeof(out));
    source_copy_progress_format(table, rows, bytes, est, elapsed, out,
                                sizeof(out));
    return out;
}

static void test_progress_example(void **state)
{
    (void)state;
    uint64_t bytes = (uint64_t)(24.1 * MIB);
    uint64_t est = (uint64_t)(97.7 * MIB);
    double elapsed = (double)bytes / (5.2 * MIB);
    assert_string_equal(
        progress("public.orders", 123456, bytes, est, elapsed),
        "public.orders: 123456 rows, 24.1 MiB of ~97.7 MiB (24%), "
        "5.2 MiB/s, ETA 14s");
}

static void test_progress_without_estimate(void **state)
{
    (void)state;
    uint64_t bytes = (uint64_t)(24.1 * MIB);
    double elapsed = (double)bytes / (5.2 * MIB);
    assert_string_equal(progress("public.orders", 123456, bytes, 0, elapsed),
                        "public.orders: 123456 rows, 24.1 MiB, 5.2 MiB/s");
    /* past the estimate: no percentage, no ETA */
    assert_string_equal(
        progress("public.orders", 123456, bytes, bytes - 1, elapsed),
        "public.orders: 123456 rows, 24.1 MiB, 5.2 MiB/s");
}

static void test_progress_capped_at_99(void **state)
{
    (void)state;
    uint64_t est = (uint64_t)(100 * MIB);
    assert_string_equal(progress("t", 10, est, est, 10.0),
                        "t: 10 rows, 100.0 MiB of ~100.0 MiB (99%), "
                        "10.0 MiB/s, ETA 0s");
    assert_string_equal(progress("t", 10, est - 1, est, 10.0),
                        "t: 10 rows, 100.0 MiB of ~100.0 MiB (99%), "
                        "10.0 MiB/s, ETA 0s");
    assert_string_equal(progress("t", 10, est / 2, est, 5.0),
                        "t: 10 rows, 50.0 MiB of ~100.0 MiB (50%), "
                        "10.0 MiB/s, ETA 5s");
}

static void test_progress_eta_forms(void **state)
{
    (void)state;
    /* 1 MiB/s, so the ETA is the MiB left */
    uint64_t m = 1048576;
    assert_string_equal(progress("t", 1, m, 60 * m, 1.0),
                        "t: 1 rows, 1.0 MiB of ~60.0 MiB (1%), 1.0 MiB/s, "
                        "ETA 59s");
    assert_string_equal(progress("t", 1, m, 61 * m, 1.0),
                        "t: 1 rows, 1.0 MiB of ~61.0 MiB (1%), 1.0 MiB/s, "
                        "ETA 1m00s");
    assert_string_equal(progress("t", 1, m, 186 * m, 1.0),
                        "t: 1 rows, 1.0 MiB of ~186.0 MiB (0%), 1.0 MiB/s, "
                        "ETA 3m05s");
    assert_string_equal(progress("t", 1, m, 3721 * m, 1.0),
                        "t: 1 rows, 1.0 MiB of ~3.6 GiB (0%), 1.0 MiB/s, "
                        "ETA 1h02m");
    assert_string_equal(progress("t", 1, m, 3601 * m, 1.0),
                        "t: 1 rows, 1.0 MiB of ~3.5 GiB (0%), 1.0 MiB/s, "
                        "ETA 1h00m");
}

static void test_progress_no_rate(void **state)
{
    (void)state;
    /* nothing read yet, or no time passed: no ETA */
    assert_string_equal(progress("t", 0, 0, 1000, 3.0),
                        "t: 0 rows, 0 B of ~1000 B (0%), 0 B/s");
    assert_string_equal(progress("t", 5, 500, 1000, 0.0),
                        "t: 5 rows, 500 B of ~1000 B (50%), 0 B/s");
    assert_string_equal(progress("t", 5, 500, 1000, -1.0),
                        "t: 5 rows, 500 B of ~1000 B (50%), 0 B/s");
}

static void test_progress_units(void **state)
{
    (void)state;
    assert_string_equal(progress("t", 1, 1023, 0, 1.0),
                        "t: 1 rows, 1023 B, 1023 B/s");
    assert_string_equal(progress("t", 1, 1536, 0, 1.0),
                        "t: 1 rows, 1.5 KiB, 1.5 KiB/s");
    assert_string_equal(progress("t", 1, (uint64_t)3 << 30, 0, 1024.0),
                        "t: 1 rows, 3.0 GiB, 3.0 MiB/s");
    assert_string_equal(progress("t", 1, (uint64_t)5 << 40, 0, 1.0),
                        "t: 1 rows, 5.0 TiB, 5.0 TiB/s");
    /* just under the next unit reads as the next unit, never 1024.0 */
    assert_string_equal(progress("t", 1, 1048575, 0, 1.0),
                        "t: 1 rows, 1.0 MiB, 1.0 MiB/s");
}

static void test_progress_one_line(void **state)
{
    (void)state;
    const char *s = progress("odd\nname\tx", 1, 10, 0, 1.0);
    assert_null(strchr(s, '\n'));
    assert_null(strchr(s, '\t'));
    assert_string_equal(s, "odd name x: 1 rows, 10 B, 10 B/s");
}

static void test_progress_truncates(void **state)
{
    (void)state;
    char out[16];
    source_copy_progress_format("public.orders", 123456, 1000, 2000, 1.0, out,
                                sizeof(out));
    /* cut at 15 bytes, then the trailing space trimmed */
    assert_string_equal(out, "public.orders:");
    char one[1];
    one[0] = 'X';
    source_copy_progress_format("t", 1, 1, 2, 1.0, one, sizeof(one));
    assert_int_equal(one[0], '\0');
    /* size 0 writes nothing */
    source_copy_progress_format("t", 1, 1, 2, 1.0, one, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_parse_plain_fields),
        T(test_parse_without_newline),
        T(test_parse_letter_escapes),
        T(test_parse_octal_escapes),
        T(test_parse_hex_escapes),
        T(test_parse_other_escapes),
        T(test_parse_escaped_tab_is_data),
        T(test_parse_null),
        T(test_parse_escaped_n_is_not_null),
        T(test_parse_empty_fields),
        T(test_parse_no_columns),
        T(test_parse_too_few_fields),
        T(test_parse_too_many_fields),
        T(test_parse_nul_escape_refused),
        T(test_parse_raw_nul_refused),
        T(test_parse_lone_backslash),
        T(test_parse_null_err),
        T(test_parse_long_field_no_escapes),
        T(test_parse_long_field_many_escapes),
        T(test_parse_utf8_untouched),
        T(test_parse_raw_controls_pass),
        T(test_parse_round_trip),
        T(test_plan_empty_table),
        T(test_plan_small_tables),
        T(test_plan_1000_blocks),
        T(test_plan_25000_blocks),
        T(test_plan_ten_million_blocks),
        T(test_plan_small_max_out),
        T(test_plan_zero_workers),
        T(test_plan_huge_table),
        T(test_plan_sweep),
        T(test_where_closed),
        T(test_where_open),
        T(test_where_appends),
        T(test_where_of_plan),
        T(test_range_key),
        T(test_range_keys_distinct),
        T(test_saved_plan_text),
        T(test_saved_plan_round_trip),
        T(test_saved_plan_without_final_newline),
        T(test_saved_plan_malformed),
        T(test_saved_plan_long_line),
        T(test_saved_plan_release_empty),
        T(test_range_value),
        T(test_progress_example),
        T(test_progress_without_estimate),
        T(test_progress_capped_at_99),
        T(test_progress_eta_forms),
        T(test_progress_no_rate),
        T(test_progress_units),
        T(test_progress_one_line),
        T(test_progress_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

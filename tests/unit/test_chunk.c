/*
 * test_chunk.c: unit tests of common/chunk.c: reading a Tributary-Chunk
 * value and a chunk's msgid suffix (well formed and malformed), cutting an
 * event into slices that each fit, join back to the original and depend
 * on the number of chunks alone, and the reader's state machine: runs in
 * order, a run started again at chunk 1, chunks out of order and a run
 * whose k changes.
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

#include <stdio.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct cdc_buf buf;
    char *data;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_buf_init(&fx.buf, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_buf_release(&fx.buf);
    cdc_free(fx.data);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== cdc_chunk_parse ==== */

static void expect_chunk(const char *s, uint32_t i, uint32_t k)
{
    uint32_t gi = 0;
    uint32_t gk = 0;
    if (cdc_chunk_parse(s, &gi, &gk) != CDC_OK)
        fail_msg("\"%s\" rejected", s);
    assert_int_equal(gi, i);
    assert_int_equal(gk, k);
}

static void expect_chunk_bad(const char *s)
{
    uint32_t gi = 77;
    uint32_t gk = 88;
    int rc = cdc_chunk_parse(s, &gi, &gk);
    if (rc != CDC_EPROTO)
        fail_msg("\"%s\" gave %d, want CDC_EPROTO", s ? s : "(null)", rc);
    /* untouched */
    assert_int_equal(gi, 77);
    assert_int_equal(gk, 88);
}

static void test_parse_valid(void **state)
{
    (void)state;
    expect_chunk("1/2", 1, 2);
    expect_chunk("2/2", 2, 2);
    expect_chunk("3/5", 3, 5);
    expect_chunk("1/1", 1, 1);
    expect_chunk("10/12", 10, 12);
    expect_chunk("4096/4096", CDC_CHUNK_MAX_COUNT, CDC_CHUNK_MAX_COUNT);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* out of range */
        "0/3", "4/3", "1/0", "0/0", "2/1",
        /* not numbers */
        "a/b", "1/b", "a/3", "", "/", "1/", "/3", "13", "1//3", "1/3/", "1/2/3",
        /* signs, spaces, leading zeros, other notations */
        "+1/3", "-1/3", "1/-3", " 1/3", "1/3 ", "1 /3", "01/3", "1/03",
        "0x1/3", "1.0/3", "1/3\n", "1\\/3", "\xd9\xa1/3",
        /* over the limit, and numbers that overflow any integer type */
        "1/4097", "4097/4097", "1/99999999999999999999",
        "18446744073709551617/18446744073709551618", "4294967297/4294967298",
        "1/4294967296"};
    for (size_t i = 0; i < NELEMS(bad); i++)
        expect_chunk_bad(bad[i]);
    expect_chunk_bad(NULL);
}

/* ==== cdc_chunk_msgid_split ==== */

static void test_msgid_split(void **state)
{
    (void)state;
    size_t base = 99;
    uint32_t i = 0;
    uint32_t k = 0;
    const char *id = "orders:0/16B3748:12#2/5";
    assert_true(cdc_chunk_msgid_split(id, &base, &i, &k));
    assert_int_equal(base, strlen("orders:0/16B3748:12"));
    assert_int_equal(i, 2);
    assert_int_equal(k, 5);

    /* a position holding '#' (another source's opaque text) */
    id = "g:file#3:77:0#5/5";
    assert_true(cdc_chunk_msgid_split(id, &base, &i, &k));
    assert_int_equal(base, strlen("g:file#3:77:0"));
    assert_int_equal(i, 5);
    assert_int_equal(k, 5);

    /* plain msgids: outputs untouched */
    static const char *const plain[] = {
        "orders:0/16B3748:12", "g:file#3:77:0", "g:a#1/2:0", "#1/2", "",
        "g:0/1:0#", "g:0/1:0#0/2", "g:0/1:0#3/2", "g:0/1:0#1/2x",
        "g:0/1:0# 1/2"};
    for (size_t n = 0; n < NELEMS(plain); n++) {
        base = 99;
        i = 7;
        k = 8;
        if (cdc_chunk_msgid_split(plain[n], &base, &i, &k))
            fail_msg("\"%s\" read as a chunk", plain[n]);
        assert_int_equal(base, 99);
        assert_int_equal(i, 7);
        assert_int_equal(k, 8);
    }
}

/* An event's msgid, and a chunk's built on it, split back to it. */
static void test_event_msgid(void **state)
{
    (void)state;
    struct cdc_buf id;
    cdc_buf_init(&id, 0);
    cdc_buf_append_str(&id, "left over");
    cdc_event_msgid(&id, "sales", "0/16B3748", 4294967295u);
    assert_string_equal(id.data, "sales:0/16B3748:4294967295");
    size_t event_len = id.len;
    cdc_buf_append_str(&id, "#3/9");
    size_t base = 0;
    uint32_t i = 0;
    uint32_t k = 0;
    assert_true(cdc_chunk_msgid_split(id.data, &base, &i, &k));
    assert_int_equal(base, event_len);
    assert_int_equal(i, 3);
    assert_int_equal(k, 9);
    cdc_event_msgid(&id, "g", "mysql-bin.000002:4 gtid 0-1-7", 0);
    assert_string_equal(id.data, "g:mysql-bin.000002:4 gtid 0-1-7:0");
    cdc_buf_release(&id);
}

/* ==== cdc_chunk_count and cdc_chunk_slice ==== */

/* Fills fx.data with len bytes of a known pattern. */
static void make_data(size_t len)
{
    cdc_free(fx.data);
    fx.data = cdc_xmalloc(len + 1);
    for (size_t b = 0; b < len; b++)
        fx.data[b] = (char)('a' + (b * 7 + b / 13) % 26);
}

/* Cuts len bytes into chunks of at most limit bytes and checks every
 * slice and their concatenation. */
static void check_split(size_t len, size_t limit, uint32_t want_k)
{
    uint32_t k = 0;
    assert_int_equal(cdc_chunk_count(len, limit, &k), CDC_OK);
    assert_int_equal(k, want_k);
    make_data(len);
    cdc_buf_reset(&fx.buf);
    size_t expect_off = 0;
    size_t first = 0;
    for (uint32_t i = 1; i <= k; i++) {
        size_t off = 0;
        size_t n = 0;
        cdc_chunk_slice(len, k, i, &off, &n);
        assert_int_equal(off, expect_off);
        if (n > limit)
            fail_msg("chunk %u/%u of %zu bytes is %zu bytes, over %zu",
                     (unsigned)i, (unsigned)k, len, n, limit);
        if (i == 1)
            first = n;
        /* near-equal: the first ones may hold one byte more */
        assert_true(n == first || n + 1 == first);
        /* none is empty but an empty event's only chunk */
        if (len > 0)
            assert_true(n > 0);
        assert_int_equal(cdc_buf_append(&fx.buf, fx.data + off, n), CDC_OK);
        expect_off = off + n;
    }
    assert_int_equal(fx.buf.len, len);
    assert_memory_equal(fx.buf.data, fx.data, len);
}

static void test_split_sizes(void **state)
{
    (void)state;
    check_split(0, 10, 1);
    check_split(1, 10, 1);
    check_split(10, 10, 1);
    check_split(11, 10, 2);
    check_split(19, 10, 2);
    check_split(20, 10, 2);
    check_split(21, 10, 3);
    check_split(5, 1, 5);
    check_split(7, 3, 3);
    /* a 5 MB value through a 1 MiB max_payload less the header room */
    size_t limit = ((size_t)1 << 20) - 1200;
    check_split(5000000, limit, 5);
    check_split(5 * limit, limit, 5);
    check_split(5 * limit + 1, limit, 6);
    check_split(12582912 + 300, limit, 13);
    /* every length against a few small limits */
    for (size_t len = 0; len < 200; len++) {
        for (size_t lim = 1; lim < 40; lim += 7) {
            uint32_t k = 0;
            assert_int_equal(cdc_chunk_count(len, lim, &k), CDC_OK);
            check_split(len, lim, k);
        }
    }
}

/* A run sent again after max_payload or the headers' length changed, but
 * with the same k, is cut exactly as before: its chunks may stand in for
 * each other when JetStream drops some as duplicates. */
static void test_split_depends_on_k_only(void **state)
{
    (void)state;
    size_t len = 12582972;
    size_t limit = ((size_t)1 << 20) - 1100;
    uint32_t k1 = 0;
    uint32_t k2 = 0;
    assert_int_equal(cdc_chunk_count(len, limit, &k1), CDC_OK);
    assert_int_equal(cdc_chunk_count(len, limit - 6, &k2), CDC_OK);
    assert_int_equal(k1, k2);
    for (uint32_t i = 1; i <= k1; i++) {
        size_t off1 = 0;
        size_t n1 = 0;
        size_t off2 = 1;
        size_t n2 = 1;
        cdc_chunk_slice(len, k1, i, &off1, &n1);
        cdc_chunk_slice(len, k2, i, &off2, &n2);
        assert_int_equal(off1, off2);
        assert_int_equal(n1, n2);
        assert_true(n1 <= limit - 6);
    }
}

static void test_split_limits(void **state)
{
    (void)state;
    uint32_t k = 42;
    assert_int_equal(cdc_chunk_count(10, 0, &k), CDC_ETOOBIG);
    assert_int_equal(cdc_chunk_count(CDC_CHUNK_MAX_BYTES + 1, (size_t)1 << 20,
                                     &k),
                     CDC_ETOOBIG);
    assert_int_equal(cdc_chunk_count(SIZE_MAX, 1, &k), CDC_ETOOBIG);
    assert_int_equal(k, 42);
    /* exactly the most chunks, and one byte more */
    assert_int_equal(cdc_chunk_count(CDC_CHUNK_MAX_COUNT * 100, 100, &k),
                     CDC_OK);
    assert_int_equal(k, CDC_CHUNK_MAX_COUNT);
    k = 42;
    assert_int_equal(cdc_chunk_count(CDC_CHUNK_MAX_COUNT * 100 + 1, 100, &k),
                     CDC_ETOOBIG);
    assert_int_equal(k, 42);
    /* the largest event in 1 MiB chunks */
    assert_int_equal(cdc_chunk_count(CDC_CHUNK_MAX_BYTES, (size_t)1 << 20, &k),
                     CDC_OK);
    assert_int_equal(k, 256);
}

/* ==== The reader's state machine ==== */

/* Feeds "i/k" and checks the step and the dropped count. */
static void feed(struct cdc_chunk_seq *cs, uint32_t i, uint32_t k,
                 enum cdc_chunk_step want, uint32_t want_dropped)
{
    uint32_t dropped = 999;
    enum cdc_chunk_step got = cdc_chunk_seq_step(cs, i, k, &dropped);
    if (got != want || dropped != want_dropped)
        fail_msg("chunk %u/%u: step %d dropped %u, want step %d dropped %u",
                 (unsigned)i, (unsigned)k, (int)got, (unsigned)dropped,
                 (int)want, (unsigned)want_dropped);
}

static void test_seq_in_order(void **state)
{
    (void)state;
    struct cdc_chunk_seq cs;
    cdc_chunk_seq_init(&cs);
    assert_false(cdc_chunk_seq_open(&cs));
    feed(&cs, 1, 3, CDC_CHUNK_MORE, 0);
    assert_true(cdc_chunk_seq_open(&cs));
    feed(&cs, 2, 3, CDC_CHUNK_MORE, 0);
    assert_true(cdc_chunk_seq_open(&cs));
    feed(&cs, 3, 3, CDC_CHUNK_LAST, 0);
    assert_false(cdc_chunk_seq_open(&cs));
    /* the next run starts clean */
    feed(&cs, 1, 2, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 2, CDC_CHUNK_LAST, 0);
    assert_false(cdc_chunk_seq_open(&cs));
    /* a run of one is whole at once */
    feed(&cs, 1, 1, CDC_CHUNK_LAST, 0);
    assert_false(cdc_chunk_seq_open(&cs));
    /* a zeroed state is a valid initial one */
    struct cdc_chunk_seq zero = {0};
    feed(&zero, 1, 2, CDC_CHUNK_MORE, 0);
}

static void test_seq_restart(void **state)
{
    (void)state;
    struct cdc_chunk_seq cs;
    cdc_chunk_seq_init(&cs);
    /* a replicator crashed after chunk 2 of 4 and sent the event again */
    feed(&cs, 1, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 1, 4, CDC_CHUNK_MORE, 2);
    feed(&cs, 2, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 3, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 4, 4, CDC_CHUNK_LAST, 0);
    assert_false(cdc_chunk_seq_open(&cs));
    /* sent again with another k (max_payload changed meanwhile) */
    feed(&cs, 1, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 1, 2, CDC_CHUNK_MORE, 1);
    feed(&cs, 2, 2, CDC_CHUNK_LAST, 0);
    /* and in one chunk */
    feed(&cs, 1, 3, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 3, CDC_CHUNK_MORE, 0);
    feed(&cs, 1, 1, CDC_CHUNK_LAST, 2);
    assert_false(cdc_chunk_seq_open(&cs));
}

static void test_seq_out_of_order(void **state)
{
    (void)state;
    struct cdc_chunk_seq cs;
    cdc_chunk_seq_init(&cs);
    /* a chunk skipped */
    feed(&cs, 1, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 4, CDC_CHUNK_MORE, 0);
    feed(&cs, 4, 4, CDC_CHUNK_BAD, 2);
    assert_false(cdc_chunk_seq_open(&cs));
    /* a chunk repeated */
    feed(&cs, 1, 3, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 3, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 3, CDC_CHUNK_BAD, 2);
    assert_false(cdc_chunk_seq_open(&cs));
    /* chunks without their start */
    feed(&cs, 2, 3, CDC_CHUNK_BAD, 0);
    feed(&cs, 3, 3, CDC_CHUNK_BAD, 0);
    assert_false(cdc_chunk_seq_open(&cs));
    /* a later run is read normally again */
    feed(&cs, 1, 2, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 2, CDC_CHUNK_LAST, 0);
}

static void test_seq_wrong_k(void **state)
{
    (void)state;
    struct cdc_chunk_seq cs;
    cdc_chunk_seq_init(&cs);
    feed(&cs, 1, 3, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 4, CDC_CHUNK_BAD, 1);
    assert_false(cdc_chunk_seq_open(&cs));
    /* the right index with a k that would end the run early */
    feed(&cs, 1, 5, CDC_CHUNK_MORE, 0);
    feed(&cs, 2, 5, CDC_CHUNK_MORE, 0);
    feed(&cs, 3, 3, CDC_CHUNK_BAD, 2);
    assert_false(cdc_chunk_seq_open(&cs));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_parse_valid),
        T(test_parse_malformed),
        T(test_msgid_split),
        T(test_event_msgid),
        T(test_split_sizes),
        T(test_split_depends_on_k_only),
        T(test_split_limits),
        T(test_seq_in_order),
        T(test_seq_restart),
        T(test_seq_out_of_order),
        T(test_seq_wrong_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_pg_spool.c: the stream messages of pgoutput protocol 2 (read, and
 * turned back into the Begin and Commit of protocol 1), and the spool that
 * keeps streamed transactions until they commit: subtransactions rolled
 * back are cut off (their Relation messages kept), transactions rolled
 * back whole are dropped, interleaved ones stay apart, and a committed one
 * reads back in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "replicator/pg_spool.h"
#include "replicator/pgoutput.h"

#include <string.h>

static size_t put(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
    return (size_t)n;
}

static void test_stream_parse(void **state)
{
    (void)state;
    struct source_pgo_stream st;
    struct cdc_err err;
    uint8_t m[64];
    size_t n = 0;

    m[n++] = 'S';
    n += put(m + n, 7001, 4);
    m[n++] = 1;
    assert_int_equal(source_pgo_stream_parse(m, n, &st, &err), CDC_OK);
    assert_int_equal(st.kind, PGO_STREAM_START);
    assert_int_equal(st.xid, 7001);
    assert_true(st.first);
    m[n - 1] = 0;
    assert_int_equal(source_pgo_stream_parse(m, n, &st, &err), CDC_OK);
    assert_false(st.first);
    assert_int_equal(source_pgo_stream_parse(m, n - 1, &st, &err), CDC_EPROTO);

    assert_int_equal(source_pgo_stream_parse("E", 1, &st, &err), CDC_OK);
    assert_int_equal(st.kind, PGO_STREAM_STOP);
    assert_int_equal(source_pgo_stream_parse("Ex", 2, &st, &err), CDC_EPROTO);

    n = 0;
    m[n++] = 'c';
    n += put(m + n, 7001, 4);
    m[n++] = 0;
    n += put(m + n, 0x100000200, 8);
    n += put(m + n, 0x100000300, 8);
    n += put(m + n, 12345678, 8);
    assert_int_equal(source_pgo_stream_parse(m, n, &st, &err), CDC_OK);
    assert_int_equal(st.kind, PGO_STREAM_COMMIT);
    assert_int_equal(st.xid, 7001);
    assert_int_equal(st.commit_lsn, 0x100000200);
    assert_int_equal(st.end_lsn, 0x100000300);
    assert_int_equal(st.commit_time, 12345678);
    for (size_t cut = 1; cut < n; cut++)
        assert_int_equal(source_pgo_stream_parse(m, cut, &st, &err),
                         CDC_EPROTO);
    /* a commit time past what microseconds since 1970 hold */
    put(m + n - 8, (uint64_t)INT64_MAX, 8);
    assert_int_equal(source_pgo_stream_parse(m, n, &st, &err), CDC_EPROTO);

    n = 0;
    m[n++] = 'A';
    n += put(m + n, 7001, 4);
    n += put(m + n, 7003, 4);
    assert_int_equal(source_pgo_stream_parse(m, n, &st, &err), CDC_OK);
    assert_int_equal(st.kind, PGO_STREAM_ABORT);
    assert_int_equal(st.xid, 7001);
    assert_int_equal(st.subxid, 7003);

    /* not a stream message: left to the decoder */
    assert_int_equal(source_pgo_stream_parse("B", 1, &st, &err), CDC_OK);
    assert_int_equal(st.kind, PGO_STREAM_NONE);
    assert_int_equal(source_pgo_stream_parse("", 0, &st, &err), CDC_EPROTO);
}

static void test_stream_xid(void **state)
{
    (void)state;
    struct cdc_err err;
    uint32_t xid = 0;
    const uint8_t *body = NULL;
    size_t len = 0;
    const uint8_t ins[] = {'I', 0, 0, 0x1b, 0x5b, 'x', 'y'};
    assert_int_equal(
        source_pgo_stream_xid(ins, sizeof(ins), &xid, &body, &len, &err),
        CDC_OK);
    assert_int_equal(xid, 7003);
    assert_int_equal(len, 2);
    assert_memory_equal(body, "xy", 2);
    assert_int_equal(source_pgo_stream_xid(ins, 4, &xid, &body, &len, &err),
                     CDC_EPROTO);
    const uint8_t begin[] = {'B', 0, 0, 0, 1};
    assert_int_equal(
        source_pgo_stream_xid(begin, sizeof(begin), &xid, &body, &len, &err),
        CDC_EPROTO);
    const uint8_t nul[] = {0, 0, 0, 0, 1};
    assert_int_equal(
        source_pgo_stream_xid(nul, sizeof(nul), &xid, &body, &len, &err),
        CDC_EPROTO);
}

/* Begin and Commit made for a streamed transaction decode like the ones
 * the server sends for a transaction sent whole. */
static void test_stream_begin_commit(void **state)
{
    (void)state;
    struct source_pgo *d = source_pgo_new();
    struct cdc_arena a;
    struct cdc_err err;
    struct source_pgo_result res;
    cdc_arena_init(&a);
    struct source_pgo_stream st = {
        .kind = PGO_STREAM_COMMIT,
        .xid = 7001,
        .commit_lsn = 0x1000000A0,
        .end_lsn = 0x1000000D8,
        .commit_time = 1000000, /* 2000-01-01 00:00:01 UTC */
    };
    uint8_t b[SOURCE_PGO_BEGIN_LEN];
    uint8_t c[SOURCE_PGO_COMMIT_LEN];
    source_pgo_stream_begin(&st, b);
    source_pgo_stream_commit(&st, c);
    assert_int_equal(source_pgo_decode(d, b, sizeof(b), &a, &res, &err),
                     CDC_OK);
    assert_int_equal(res.kind, PGO_BEGIN);
    assert_int_equal(res.commit_lsn, st.commit_lsn);
    struct cdc_event *ev = source_pgo_message_event(d, &a);
    assert_non_null(ev);
    assert_string_equal(ev->position, "1/A0");
    assert_int_equal(ev->txid, 7001);
    assert_int_equal(ev->tx_index, 0);
    assert_string_equal(ev->commit_time, "2000-01-01T00:00:01.000000Z");
    assert_int_equal(source_pgo_decode(d, c, sizeof(c), &a, &res, &err),
                     CDC_OK);
    assert_int_equal(res.kind, PGO_COMMIT);
    assert_int_equal(res.commit_lsn, st.commit_lsn);
    assert_int_equal(res.end_lsn, st.end_lsn);
    assert_false(source_pgo_in_tx(d));
    source_pgo_free(d);
    cdc_arena_release(&a);
}

static void add(struct source_spool *sp, uint32_t subxid, const char *msg)
{
    struct cdc_err err;
    assert_int_equal(source_spool_add(sp, subxid, (uint8_t)msg[0],
                                      (const uint8_t *)msg + 1, strlen(msg) - 1,
                                      &err),
                     CDC_OK);
}

/* Reads the replay of xid back as one string, messages joined by ",". */
static void replay(struct source_spool *sp, uint32_t xid, char *out,
                   size_t outsz)
{
    struct cdc_err err;
    const uint8_t *msg = NULL;
    size_t len = 0;
    size_t at = 0;
    out[0] = '\0';
    assert_int_equal(source_spool_replay(sp, xid, &err), CDC_OK);
    assert_true(source_spool_replaying(sp));
    int n;
    while ((n = source_spool_next(sp, &msg, &len, &err)) == 1) {
        assert_true(at + len + 2 < outsz);
        if (at > 0)
            out[at++] = ',';
        memcpy(out + at, msg, len);
        at += len;
        out[at] = '\0';
    }
    assert_int_equal(n, 0);
    assert_false(source_spool_replaying(sp));
}

static void test_spool_subxacts(void **state)
{
    (void)state;
    struct cdc_err err;
    char got[512];
    struct source_spool *sp = source_spool_new();

    assert_int_equal(source_spool_start(sp, 10, true, &err), CDC_OK);
    assert_true(source_spool_in_block(sp));
    add(sp, 10, "Ia");
    add(sp, 11, "Ib"); /* savepoint s1 */
    source_spool_stop(sp);
    assert_false(source_spool_in_block(sp));
    assert_int_equal(source_spool_start(sp, 10, false, &err), CDC_OK);
    add(sp, 12, "Rrel"); /* s2 inside s1, first touch of a relation */
    add(sp, 12, "Ic");
    add(sp, 11, "Id");
    source_spool_stop(sp);
    /* rolling back s2 cuts it (but keeps its Relation) */
    assert_int_equal(source_spool_abort(sp, 10, 12, &err), CDC_OK);
    assert_int_equal(source_spool_start(sp, 10, false, &err), CDC_OK);
    add(sp, 13, "Ie"); /* s3, released */
    add(sp, 10, "If");
    add(sp, 14, "Ig"); /* s4 */
    add(sp, 15, "Yt"); /* s5 inside s4 */
    add(sp, 15, "Ih");
    source_spool_stop(sp);
    /* rolling back s4 cuts s5 with it; a subtransaction never seen is no
     * error */
    assert_int_equal(source_spool_abort(sp, 10, 14, &err), CDC_OK);
    assert_int_equal(source_spool_abort(sp, 10, 99, &err), CDC_OK);
    assert_int_equal(source_spool_start(sp, 10, false, &err), CDC_OK);
    add(sp, 10, "Ii");
    source_spool_stop(sp);
    assert_int_equal(source_spool_open_count(sp), 1);
    replay(sp, 10, got, sizeof(got));
    assert_string_equal(got, "Ia,Ib,Rrel,Ie,If,Yt,Ii");
    assert_int_equal(source_spool_open_count(sp), 0);
    source_spool_free(sp);
}

static void test_spool_interleaved(void **state)
{
    (void)state;
    struct cdc_err err;
    char got[512];
    struct source_spool *sp = source_spool_new();

    /* a block that continues a transaction never started */
    assert_int_equal(source_spool_start(sp, 30, false, &err), CDC_EPROTO);
    assert_false(source_spool_in_block(sp));
    assert_int_equal(source_spool_add(sp, 30, 'I', NULL, 0, &err), CDC_EPROTO);

    assert_int_equal(source_spool_start(sp, 20, true, &err), CDC_OK);
    add(sp, 20, "I20a");
    source_spool_stop(sp);
    assert_int_equal(source_spool_start(sp, 21, true, &err), CDC_OK);
    add(sp, 21, "I21a");
    source_spool_stop(sp);
    assert_int_equal(source_spool_start(sp, 22, true, &err), CDC_OK);
    add(sp, 22, "I22a");
    source_spool_stop(sp);
    assert_int_equal(source_spool_start(sp, 20, false, &err), CDC_OK);
    add(sp, 20, "I20b");
    source_spool_stop(sp);
    /* a first block again (the server streams it anew): what was kept
     * goes */
    assert_int_equal(source_spool_start(sp, 22, true, &err), CDC_OK);
    add(sp, 22, "I22b");
    source_spool_stop(sp);
    assert_int_equal(source_spool_open_count(sp), 3);
    assert_int_equal(source_spool_abort(sp, 21, 21, &err), CDC_OK);
    assert_int_equal(source_spool_open_count(sp), 2);
    replay(sp, 21, got, sizeof(got));
    assert_string_equal(got, "");
    replay(sp, 22, got, sizeof(got));
    assert_string_equal(got, "I22b");
    replay(sp, 20, got, sizeof(got));
    assert_string_equal(got, "I20a,I20b");
    assert_int_equal(source_spool_open_count(sp), 0);

    /* clear forgets everything, a replay under way too */
    assert_int_equal(source_spool_start(sp, 23, true, &err), CDC_OK);
    add(sp, 23, "I23a");
    source_spool_stop(sp);
    assert_int_equal(source_spool_replay(sp, 23, &err), CDC_OK);
    assert_true(source_spool_replaying(sp));
    source_spool_clear(sp);
    assert_false(source_spool_replaying(sp));
    assert_int_equal(source_spool_open_count(sp), 0);
    source_spool_free(sp);
}

/* A transaction far larger than any buffer: many messages, and one of
 * 1 MiB, come back whole and in order after a cut in the middle. */
static void test_spool_large(void **state)
{
    (void)state;
    struct cdc_err err;
    struct source_spool *sp = source_spool_new();
    size_t big_len = 1 << 20;
    uint8_t *big = cdc_xmalloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(source_spool_start(sp, 40, true, &err), CDC_OK);
    char m[32];
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(m, sizeof(m), "I%d", i);
        assert_int_equal(source_spool_add(sp, i < 50000 ? 40 : 41, 'I',
                                          (const uint8_t *)m + 1, (size_t)n - 1,
                                          &err),
                         CDC_OK);
        if (i == 1000)
            assert_int_equal(source_spool_add(sp, 40, 'I', big, big_len, &err),
                             CDC_OK);
    }
    source_spool_stop(sp);
    assert_int_equal(source_spool_abort(sp, 40, 41, &err), CDC_OK);
    assert_int_equal(source_spool_replay(sp, 40, &err), CDC_OK);
    const uint8_t *msg = NULL;
    size_t len = 0;
    int i = 0;
    while (source_spool_next(sp, &msg, &len, &err) == 1) {
        if (len == big_len + 1) {
            assert_int_equal(i, 1001);
            assert_memory_equal(msg + 1, big, big_len);
            i = -i;
            continue;
        }
        int n = snprintf(m, sizeof(m), "I%d", i < 0 ? -i : i);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(msg, m, len);
        i = i < 0 ? -i + 1 : i + 1;
    }
    assert_int_equal(i, 50000);
    cdc_free(big);
    source_spool_free(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_parse),
        cmocka_unit_test(test_stream_xid),
        cmocka_unit_test(test_stream_begin_commit),
        cmocka_unit_test(test_spool_subxacts),
        cmocka_unit_test(test_spool_interleaved),
        cmocka_unit_test(test_spool_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

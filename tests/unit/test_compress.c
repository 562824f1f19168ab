/*
 * test_compress.c: unit tests of common/compress.c: a payload compressed
 * at the fastest and the smallest level opens back to the same bytes; a
 * message without the encoding header is passed through untouched; and
 * each payload a reader must refuse is refused with its reason: an
 * unknown encoding, bytes that are no zstd frame, a frame damaged on the
 * way, one that does not record its size, and one that claims more than
 * an event can be.
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
#include <zstd.h>

/* ==== Fixture ==== */

/* Resources of the running test, released by teardown even when an
 * assertion leaves the test early. */
static struct {
    struct cdc_zip *zip;
    struct cdc_buf text;   /* what is compressed */
    struct cdc_buf zipped; /* its compressed form */
    struct cdc_buf opened; /* and opened again */
    struct cdc_err err;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_buf_init(&fx.text, 0);
    cdc_buf_init(&fx.zipped, 0);
    cdc_buf_init(&fx.opened, 0);
    cdc_err_clear(&fx.err);
    /* a pack of copied rows, as the replicator sends it */
    cdc_buf_append_str(&fx.text, "{\"v\":1,\"op\":\"COPY\",\"rows\":[");
    for (int i = 0; i < 2000; i++)
        cdc_buf_printf(&fx.text,
                       "%s[\"%d\",\"2024-01-01 00:00:%02d+00\",\"{\\\"id\\\": "
                       "%d}\",\"\\\\x%08x\"]",
                       i ? "," : "", i, i % 60, i * 7,
                       (unsigned)i * 2654435761u);
    cdc_buf_append_str(&fx.text, "]}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_zip_free(fx.zip);
    cdc_buf_release(&fx.text);
    cdc_buf_release(&fx.zipped);
    cdc_buf_release(&fx.opened);
    return 0;
}

/* Compresses the fixture's text at level into fx.zipped. */
static void zip_text(int level)
{
    cdc_zip_free(fx.zip);
    fx.zip = cdc_zip_new(level);
    assert_int_equal(cdc_zip_compress(fx.zip, fx.text.data, fx.text.len,
                                      &fx.zipped, &fx.err),
                     CDC_OK);
}

/* Opens data as a payload of encoding; returns the status, the reason in
 * fx.err. */
static int open_payload(const char *encoding, const void *data, size_t len,
                        const void **out, size_t *outlen)
{
    if (fx.zip == NULL)
        fx.zip = cdc_zip_new(1);
    cdc_err_clear(&fx.err);
    return cdc_zip_open(fx.zip, encoding, data, len, &fx.opened, out, outlen,
                        &fx.err);
}

/* ==== Round trips ==== */

static void test_round_trip_each_level(void **state)
{
    (void)state;
    const int levels[] = {CDC_ZIP_LEVEL_MIN, -3, 1, 19};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        zip_text(levels[i]);
        /* rows of one table compress well; much less than half */
        assert_true(fx.zipped.len < fx.text.len / 2);
        const void *out = NULL;
        size_t n = 0;
        assert_int_equal(
            open_payload(CDC_ZIP_ZSTD, fx.zipped.data, fx.zipped.len, &out, &n),
            CDC_OK);
        assert_int_equal(n, fx.text.len);
        assert_memory_equal(out, fx.text.data, n);
        /* NUL-terminated, as the decoder of events expects text */
        assert_int_equal(((const char *)out)[n], '\0');
    }
}

static void test_context_reused_across_messages(void **state)
{
    (void)state;
    zip_text(1);
    struct cdc_buf first;
    cdc_buf_init(&first, 0);
    cdc_buf_append(&first, fx.zipped.data, fx.zipped.len);
    /* a second, different message through the same contexts */
    cdc_buf_append_str(&fx.text, " and more");
    assert_int_equal(cdc_zip_compress(fx.zip, fx.text.data, fx.text.len,
                                      &fx.zipped, &fx.err),
                     CDC_OK);
    const void *out = NULL;
    size_t n = 0;
    int rc = open_payload(CDC_ZIP_ZSTD, first.data, first.len, &out, &n);
    cdc_buf_release(&first);
    assert_int_equal(rc, CDC_OK);
    assert_int_equal(n, fx.text.len - strlen(" and more"));
    assert_int_equal(
        open_payload(CDC_ZIP_ZSTD, fx.zipped.data, fx.zipped.len, &out, &n),
        CDC_OK);
    assert_int_equal(n, fx.text.len);
    assert_memory_equal(out, fx.text.data, n);
}

static void test_plain_message_passes_through(void **state)
{
    (void)state;
    const char *json = "{\"v\":1,\"op\":\"INSERT\"}";
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(open_payload(NULL, json, strlen(json), &out, &n), CDC_OK);
    /* the message's own bytes, not a copy */
    assert_ptr_equal(out, json);
    assert_int_equal(n, strlen(json));
}

static void test_levels(void **state)
{
    (void)state;
    assert_true(cdc_zip_level_ok(CDC_ZIP_LEVEL_MIN));
    assert_true(cdc_zip_level_ok(1));
    assert_true(cdc_zip_level_ok(19));
    assert_false(cdc_zip_level_ok(CDC_ZIP_LEVEL_MIN - 1));
    assert_false(cdc_zip_level_ok(ZSTD_maxCLevel() + 1));
}

/* ==== Refused ==== */

static void test_unknown_encoding(void **state)
{
    (void)state;
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(open_payload("gzip", "x", 1, &out, &n), CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "unknown payload encoding \"gzip\""));
}

static void test_not_a_frame(void **state)
{
    (void)state;
    const char *json = "{\"v\":1,\"op\":\"INSERT\"}";
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(open_payload(CDC_ZIP_ZSTD, json, strlen(json), &out, &n),
                     CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "is not a zstd frame"));
}

static void test_damaged_frame(void **state)
{
    (void)state;
    zip_text(1);
    /* one bit flipped in the middle of the compressed blocks */
    fx.zipped.data[fx.zipped.len / 2] ^= 0x10;
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(
        open_payload(CDC_ZIP_ZSTD, fx.zipped.data, fx.zipped.len, &out, &n),
        CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "zstd payload is damaged"));
    /* cut short */
    zip_text(1);
    assert_int_equal(open_payload(CDC_ZIP_ZSTD, fx.zipped.data,
                                  fx.zipped.len - 10, &out, &n),
                     CDC_EPROTO);
}

static void test_frame_without_size(void **state)
{
    (void)state;
    /* a streamed frame, whose size was not known when it began */
    ZSTD_CStream *cs = ZSTD_createCStream();
    assert_non_null(cs);
    ZSTD_initCStream(cs, 1);
    assert_int_equal(cdc_buf_reserve(&fx.zipped, ZSTD_compressBound(100)),
                     CDC_OK);
    ZSTD_outBuffer ob = {fx.zipped.data, ZSTD_compressBound(100), 0};
    ZSTD_inBuffer ib = {fx.text.data, 100, 0};
    size_t r = ZSTD_compressStream(cs, &ob, &ib);
    if (!ZSTD_isError(r))
        r = ZSTD_endStream(cs, &ob);
    ZSTD_freeCStream(cs);
    assert_int_equal(r, 0);
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(
        open_payload(CDC_ZIP_ZSTD, fx.zipped.data, ob.pos, &out, &n),
        CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "does not record its content size"));
}

static void test_frame_claiming_too_much(void **state)
{
    (void)state;
    /* a frame header alone (magic, a single-segment descriptor with an
     * 8-byte content size) that claims 1 TiB */
    unsigned char hdr[32] = {0x28, 0xB5, 0x2F, 0xFD, 0xE0};
    uint64_t size = (uint64_t)1 << 40;
    for (int i = 0; i < 8; i++)
        hdr[5 + i] = (unsigned char)(size >> (8 * i));
    const void *out = NULL;
    size_t n = 0;
    assert_int_equal(open_payload(CDC_ZIP_ZSTD, hdr, sizeof(hdr), &out, &n),
                     CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "more than an event can be"));
    /* nothing was allocated for it */
    assert_true(fx.opened.cap < 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_each_level, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_context_reused_across_messages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_message_passes_through,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_without_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_frame_claiming_too_much, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("compress", tests, NULL, NULL);
}

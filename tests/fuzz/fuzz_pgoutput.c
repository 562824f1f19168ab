/*
 * fuzz_pgoutput.c: libFuzzer target of the pgoutput decoder
 * (replicator/pgoutput.c). The input is a stream of messages, each after a
 * 2-byte big-endian length, decoded in order by one decoder, so that
 * Relation and Type messages set up what later Insert, Update, Delete and
 * Truncate messages use; a frame longer than what is left takes the rest.
 * An empty frame stands for a reconnect (the open transaction is
 * forgotten). Every event decoded is encoded in both JSON forms. Each
 * frame is also read as a protocol 2 stream message: a Stream Commit's
 * Begin and Commit must decode. The arena is reset after each input, the
 * decoder made anew for each.
 */
#include "tests/fuzz/fuzz.h"
#include "replicator/pgoutput.h"

#include <stdint.h>
#include <string.h>

/* A relation's key supplied by the caller for REPLICA IDENTITY FULL: none,
 * a column of the captured tables, or names that are not columns. */
static const char *const key_a[] = {"a"};
static const char *const key_many[] = {"a", "b", "id", "no such column"};

static void use_events(const struct source_pgo_result *res)
{
    for (size_t i = 0; i < res->nevents; i++) {
        cdc_buf_reset(&out);
        (void)cdc_event_encode(&res->events[i], &out);
        cdc_buf_reset(&out);
        (void)cdc_event_encode_natural(&res->events[i], NULL, &out);
    }
}

static void use_result(struct source_pgo *d,
                       const struct source_pgo_result *res)
{
    switch (res->kind) {
    case PGO_CHANGES:
        use_events(res);
        break;
    case PGO_MESSAGE:
        if (res->transactional && source_pgo_in_tx(d))
            (void)source_pgo_message_event(d, &arena);
        break;
    case PGO_NONE:
        if (!res->needs_key)
            break;
        if (res->relid % 3 == 1)
            source_pgo_set_key(d, res->relid, key_a, 1);
        else if (res->relid % 3 == 2)
            source_pgo_set_key(d, res->relid, key_many, 4);
        else
            source_pgo_set_key(d, res->relid, NULL, 0);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_pgo *d = source_pgo_new();
    size_t off = 0;

    while (size - off >= 2) {
        size_t len = ((size_t)data[off] << 8) | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        if (len == 0) {
            source_pgo_reset_tx(d);
            continue;
        }
        /* A copy of exactly len bytes, so that a read past the message
         * is caught even when more frames follow it. */
        uint8_t *msg = cdc_xmalloc(len);
        memcpy(msg, data + off, len);
        off += len;

        struct source_pgo_result res;
        struct cdc_err err;
        memset(&res, 0, sizeof(res));
        cdc_err_clear(&err);
        if (source_pgo_decode(d, msg, len, &arena, &res, &err) == CDC_OK)
            use_result(d, &res);
        /* the same bytes as a protocol 2 stream message, and as a change
         * inside a stream (its xid first) */
        struct source_pgo_stream st;
        if (source_pgo_stream_parse(msg, len, &st, &err) == CDC_OK &&
            st.kind == PGO_STREAM_COMMIT) {
            uint8_t b[SOURCE_PGO_BEGIN_LEN];
            uint8_t c[SOURCE_PGO_COMMIT_LEN];
            source_pgo_stream_begin(&st, b);
            source_pgo_stream_commit(&st, c);
            if (source_pgo_decode(d, b, sizeof(b), &arena, &res, &err) !=
                    CDC_OK ||
                source_pgo_decode(d, c, sizeof(c), &arena, &res, &err) !=
                    CDC_OK)
                __builtin_trap();
        }
        uint32_t xid = 0;
        const uint8_t *body = NULL;
        size_t blen = 0;
        if (source_pgo_stream_xid(msg, len, &xid, &body, &blen, &err) ==
                CDC_OK &&
            (blen > len || body + blen != msg + len))
            __builtin_trap();
        cdc_free(msg);
    }
    (void)source_pgo_type_name(d, 23);
    source_pgo_free(d);
    cdc_arena_reset(&arena);
    return 0;
}

/*
 * fuzz_binlog.c: libFuzzer target of the binlog event decoder
 * (replicator/binlog.c). The first byte picks the server (bit 0: MariaDB,
 * else MySQL 8) and whether events carry a CRC32 (bit 1); the decoder first
 * gets a well-formed format description for that. Then come frames, each
 * after a 2-byte big-endian length (a frame longer than what is left takes
 * the rest), decoded in order by one decoder, so that table maps set up
 * what later row events use. A frame's first byte says what to do:
 *   0x80 set: the rest is a whole event, header and checksum included;
 *   0x40 set: forget the column information supplied so far;
 *   0x20 set: reset the decoder and send the format description again;
 *   otherwise: the second byte is the event type and the rest its body:
 *     the target writes the 19-byte header and, when the events carry
 *     one, the correct checksum, so mutations reach the decoders instead
 *     of failing the checksum.
 * A table map without column names gets names, signedness, character sets
 * and members from the target (as information_schema would give them).
 * Every row event is turned into change events and encoded in both JSON
 * forms. The arena is reset after each input, the decoder made anew.
 */
#include "tests/fuzz/fuzz.h"
#include "replicator/binlog.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Post-header lengths of event types 1..41, as servers send them. */
static const uint8_t post_lens[41] = {
    56, 13, 0, 8, 0, 18, 0, 4, 4,  4,  4,  18, 0,  0, 95, 0,  4, 26, 8,  0, 0,
    0,  8,  8, 8, 2, 0,  0, 0, 10, 10, 10, 42, 42, 0, 18, 52, 0, 10, 40, 0,
};

static uint32_t crc_table[256];

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    if (crc_table[1] == 0) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Header, body and checksum in an allocation of exactly their size, so
 * that a read past the event is caught. */
static uint8_t *make_event(uint8_t type, const uint8_t *body, size_t n,
                           bool crc, uint32_t pos, size_t *len)
{
    *len = 19 + n + (crc ? 4 : 0);
    uint8_t *ev = cdc_xmalloc(*len);
    put_le(ev, 1700000000, 4);
    ev[4] = type;
    put_le(ev + 5, 1, 4);
    put_le(ev + 9, *len, 4);
    put_le(ev + 13, pos, 4);
    put_le(ev + 17, 0, 2);
    if (n > 0)
        memcpy(ev + 19, body, n);
    if (crc)
        put_le(ev + 19 + n, crc32_of(ev, 19 + n), 4);
    return ev;
}

static void send_format(struct source_binlog *b, bool mariadb, bool crc)
{
    uint8_t body[57 + sizeof(post_lens) + 1];
    memset(body, 0, sizeof(body));
    put_le(body, 4, 2);
    const char *v = mariadb ? "10.11.19-MariaDB-log" : "8.0.36";
    memcpy(body + 2, v, strlen(v));
    put_le(body + 52, 1700000000, 4);
    body[56] = 19;
    memcpy(body + 57, post_lens, sizeof(post_lens));
    body[sizeof(body) - 1] = crc ? 1 : 0;
    /* its checksum slot is there whatever the algorithm */
    size_t len;
    uint8_t *ev = make_event(15, body, sizeof(body), true, 120, &len);
    if (!crc)
        put_le(ev + len - 4, 0, 4);
    struct source_binlog_event fde;
    struct cdc_err err;
    (void)source_binlog_decode(b, ev, len, &arena, &fde, &err);
    cdc_free(ev);
}

static const char *const members[] = {"a", "b", "\xc3\xa9"};
static const uint32_t charsets[] = {0, 8, 45, 63, 54, 11, 28};

/* What information_schema would say about a table: names c0, c1, ... */
static void supply_columns(struct source_binlog *b,
                           const struct source_binlog_event *ev)
{
    size_t n = ev->table_map.ncols;
    if (n > 64)
        return;
    struct source_binlog_colinfo info[64];
    char names[64][8];
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "c%zu", i);
        info[i] = (struct source_binlog_colinfo){
            .name = names[i],
            .type = i == 1 ? "json" : NULL,
            .is_unsigned = i % 2 == 1,
            .charset = charsets[i % 7],
            .values = i % 3 == 0 ? members : NULL,
            .nvalues = i % 3 == 0 ? 3 : 0,
        };
    }
    const char *const key[] = {"c0"};
    struct cdc_err err;
    (void)source_binlog_set_columns(b, ev->table_map.table_id, info, n, key,
                                    n > 0 ? 1 : 0, &err);
}

static void use_rows(const struct source_binlog_event *ev)
{
    for (size_t r = 0; r < ev->rows.nrows; r++) {
        const struct source_binlog_row *row = &ev->rows.rows[r];
        struct cdc_event ce = {
            .op = ev->rows.op,
            .source = "mysql",
            .schema = ev->rows.schema,
            .table = ev->rows.table,
            .cols = row->after,
            .ncols = row->after ? ev->rows.ncols : 0,
            .old = row->before,
            .nold = row->before ? ev->rows.ncols : 0,
            .key = ev->rows.key,
            .nkey = ev->rows.nkey,
            .position = "binlog.000001:4",
        };
        cdc_buf_reset(&out);
        (void)cdc_event_encode(&ce, &out);
        cdc_buf_reset(&out);
        (void)cdc_event_encode_natural(&ce, NULL, &out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool mariadb = data[0] & 1;
    bool crc = (data[0] & 2) != 0;
    struct source_binlog *b = source_binlog_new();
    send_format(b, mariadb, crc);
    size_t off = 1;
    uint32_t pos = 256;

    while (size - off >= 2) {
        size_t len = ((size_t)data[off] << 8) | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        const uint8_t *frame = data + off;
        off += len;
        if (len == 0)
            continue;
        uint8_t ctl = frame[0];
        uint8_t *ev;
        size_t evlen;
        if (ctl & 0x80) {
            evlen = len - 1;
            ev = cdc_xmalloc(evlen ? evlen : 1);
            memcpy(ev, frame + 1, evlen);
        } else {
            if (ctl & 0x40)
                source_binlog_forget_columns(b, NULL, NULL);
            if (ctl & 0x20) {
                source_binlog_reset(b);
                send_format(b, mariadb, crc);
            }
            if (len < 2)
                continue;
            pos += (uint32_t)len;
            ev = make_event(frame[1], frame + 2, len - 2, crc, pos, &evlen);
        }
        struct source_binlog_event evt;
        struct cdc_err err;
        cdc_err_clear(&err);
        if (source_binlog_decode(b, ev, evlen, &arena, &evt, &err) == CDC_OK) {
            if (evt.kind == BINLOG_TABLE_MAP && evt.table_map.names_missing)
                supply_columns(b, &evt);
            else if (evt.kind == BINLOG_ROWS)
                use_rows(&evt);
        }
        cdc_free(ev);
    }
    (void)source_binlog_server_version(b);
    source_binlog_free(b);
    cdc_arena_reset(&arena);
    return 0;
}

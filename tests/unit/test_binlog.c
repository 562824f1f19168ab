/*
 * test_binlog.c: unit tests of replicator/binlog.c, the MySQL/MariaDB
 * binlog event decoder. Events are built by hand as the replication
 * protocol lays them out (a small builder below, with its own encoders of
 * the binary decimal, temporal and JSON formats and its own CRC32): format
 * descriptions with and without checksums, table maps with full, minimal
 * and no optional metadata, v1 and v2 row events with every column type,
 * NULLs, several rows, row images that leave columns out, the other event
 * kinds, and every prefix of each event (an error, never a crash). Then the
 * events MariaDB 10.11 sent for tests/data/binlog_mariadb.hex are decoded
 * and their values checked.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

#define MAX_IMG_COLS 64

/* One row image being built: per column NULL or its bytes. */
struct img {
    size_t n;
    bool null[MAX_IMG_COLS];
    struct cdc_buf val[MAX_IMG_COLS];
};

/* Resources of the running test; a failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct source_binlog *b;
    struct cdc_arena arena;
    struct cdc_buf ev;  /* the event being built */
    struct cdc_buf tmp; /* scratch for parts of an event */
    struct cdc_buf doc; /* a binary JSON document */
    struct img img[2];
    struct cdc_err err;
    struct source_binlog_event out;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.b = source_binlog_new();
    cdc_arena_init(&fx.arena);
    cdc_buf_init(&fx.ev, 0);
    cdc_buf_init(&fx.tmp, 0);
    cdc_buf_init(&fx.doc, 0);
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < MAX_IMG_COLS; i++)
            cdc_buf_init(&fx.img[k].val[i], 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    source_binlog_free(fx.b);
    cdc_arena_release(&fx.arena);
    cdc_buf_release(&fx.ev);
    cdc_buf_release(&fx.tmp);
    cdc_buf_release(&fx.doc);
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < MAX_IMG_COLS; i++)
            cdc_buf_release(&fx.img[k].val[i]);
    }
    return 0;
}

/* ==== Bytes ==== */

static void w_le(struct cdc_buf *b, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (char)((v >> (8 * i)) & 0xFF);
        assert_int_equal(cdc_buf_append(b, &c, 1), CDC_OK);
    }
}

static void w_be(struct cdc_buf *b, uint64_t v, size_t n)
{
    for (size_t i = n; i > 0; i--) {
        char c = (char)((v >> (8 * (i - 1))) & 0xFF);
        assert_int_equal(cdc_buf_append(b, &c, 1), CDC_OK);
    }
}

static void w_bytes(struct cdc_buf *b, const void *p, size_t n)
{
    assert_int_equal(cdc_buf_append(b, p, n), CDC_OK);
}

/* A packed integer of the binlog. */
static void w_packed(struct cdc_buf *b, uint64_t v)
{
    if (v < 251) {
        w_le(b, v, 1);
    } else if (v < 65536) {
        w_le(b, 252, 1);
        w_le(b, v, 2);
    } else if (v < 16777216) {
        w_le(b, 253, 1);
        w_le(b, v, 3);
    } else {
        w_le(b, 254, 1);
        w_le(b, v, 8);
    }
}

static void patch_le(struct cdc_buf *b, size_t at, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b->data[at + i] = (char)((v >> (8 * i)) & 0xFF);
}

/* CRC32 (IEEE, reflected), bit by bit: independent of the decoder's. */
static uint32_t crc32_bits(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

/* ==== Events ==== */

#define TS 1700000000u

static void ev_begin(struct cdc_buf *b, uint8_t type)
{
    cdc_buf_reset(b);
    w_le(b, TS, 4);
    w_le(b, type, 1);
    w_le(b, 1, 4); /* server id */
    w_le(b, 0, 4); /* size, set by ev_end */
    w_le(b, 0, 4); /* log position, set by ev_end */
    w_le(b, 0, 2); /* flags */
}

/* Sets size and end position; with crc, appends the CRC32 of the rest. */
static void ev_end(struct cdc_buf *b, bool crc, uint32_t pos)
{
    size_t n = b->len + (crc ? 4 : 0);
    patch_le(b, 9, n, 4);
    patch_le(b, 13, pos, 4);
    if (crc)
        w_le(b, crc32_bits((const uint8_t *)b->data, b->len), 4);
}

/* Decodes the event in b from a copy of exactly its size, so that a read
 * past its end is caught. */
static int dec_bytes(const void *p, size_t n)
{
    uint8_t *copy = cdc_xmalloc(n ? n : 1);
    memcpy(copy, p, n);
    cdc_err_clear(&fx.err);
    int rc = source_binlog_decode(fx.b, copy, n, &fx.arena, &fx.out, &fx.err);
    cdc_free(copy);
    return rc;
}

static int dec(const struct cdc_buf *b)
{
    return dec_bytes(b->data, b->len);
}

static void dec_ok(const struct cdc_buf *b)
{
    int rc = dec(b);
    if (rc != CDC_OK)
        fail_msg("decode failed: %s", fx.err.msg);
}

static void dec_fails(const struct cdc_buf *b, const char *part)
{
    int rc = dec(b);
    assert_int_not_equal(rc, CDC_OK);
    if (strstr(fx.err.msg, part) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", fx.err.msg, part);
    assert_int_equal(fx.out.kind, BINLOG_OTHER);
}

/* Post-header lengths of event types 1..41 as MySQL 8 and MariaDB 10
 * servers give them. */
static const uint8_t post_lens[41] = {
    56, 13, 0, 8, 0, 18, 0, 4, 4,  4,  4,  18, 0,  0, 95, 0,  4, 26, 8,  0, 0,
    0,  8,  8, 8, 2, 0,  0, 0, 10, 10, 10, 42, 42, 0, 18, 52, 0, 10, 40, 0,
};

/* A format description: alg -1 for a server that writes no checksum
 * algorithm (before MySQL 5.6.1 / MariaDB 5.3), else the algorithm byte
 * (1 = CRC32, with its checksum computed as servers do: with the "in use"
 * flag clear). */
static void make_fde(struct cdc_buf *b, const char *version, int alg,
                     uint16_t flags, const uint8_t *posts, size_t nposts)
{
    ev_begin(b, BINLOG_T_FORMAT_DESCRIPTION);
    patch_le(b, 17, flags, 2);
    w_le(b, 4, 2);
    char sv[50] = {0};
    memcpy(sv, version, strlen(version));
    w_bytes(b, sv, sizeof(sv));
    w_le(b, TS, 4);
    w_le(b, 19, 1);
    w_bytes(b, posts, nposts);
    if (alg < 0) {
        ev_end(b, false, 120);
        return;
    }
    w_le(b, (uint64_t)alg, 1);
    size_t n = b->len + 4;
    patch_le(b, 9, n, 4);
    patch_le(b, 13, 120, 4);
    uint32_t crc = 0;
    if (alg == 1) {
        b->data[17] = (char)(b->data[17] & ~1);
        crc = crc32_bits((const uint8_t *)b->data, b->len);
        patch_le(b, 17, flags, 2);
    }
    w_le(b, crc, 4);
}

static const char *MYSQL_VERSION = "8.0.36";
static const char *MARIADB_VERSION = "10.11.19-MariaDB-log";

/* Starts the decoder as a server of that flavor would, with CRC32. */
static void start(bool mariadb)
{
    make_fde(&fx.ev, mariadb ? MARIADB_VERSION : MYSQL_VERSION, 1, 0, post_lens,
             sizeof(post_lens));
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_FORMAT);
}

/* ==== Table maps ==== */

enum {
    T_TINY = 1,
    T_SHORT = 2,
    T_LONG = 3,
    T_FLOAT = 4,
    T_DOUBLE = 5,
    T_TIMESTAMP = 7,
    T_LONGLONG = 8,
    T_INT24 = 9,
    T_DATE = 10,
    T_TIME = 11,
    T_DATETIME = 12,
    T_YEAR = 13,
    T_VARCHAR = 15,
    T_BIT = 16,
    T_TIMESTAMP2 = 17,
    T_DATETIME2 = 18,
    T_TIME2 = 19,
    T_JSON = 245,
    T_NEWDECIMAL = 246,
    T_ENUM = 247,
    T_SET = 248,
    T_BLOB = 252,
    T_STRING = 254,
    T_GEOMETRY = 255,
};

struct tcol {
    const char *name;
    uint8_t type;
    uint8_t meta[2];
    uint8_t nmeta;
    bool uns;
    uint32_t cs; /* collation of character, enum and set columns */
    const char *const *members;
    size_t nmembers;
    int geom; /* GEOMETRY_TYPE, or -1 */
};

struct ttab {
    uint64_t id;
    const char *schema;
    const char *table;
    const struct tcol *cols;
    size_t ncols;
    const size_t *pk;
    const size_t *pk_prefix; /* NULL: SIMPLE_PRIMARY_KEY */
    size_t npk;
    bool names;           /* COLUMN_NAME and the enum/set members */
    bool minimal;         /* SIGNEDNESS and the character sets */
    bool column_charsets; /* COLUMN_CHARSET form instead of the default */
};

/* STRING carries ENUM and SET, and the top bits of a CHAR's length. */
static uint8_t real_type(const struct tcol *c)
{
    if (c->type == T_STRING)
        return (uint8_t)(c->meta[0] | 0x30);
    return c->type;
}

static bool numeric(uint8_t t, bool mariadb)
{
    return t == T_TINY || t == T_SHORT || t == T_INT24 || t == T_LONG ||
           t == T_LONGLONG || t == T_NEWDECIMAL || t == T_FLOAT ||
           t == T_DOUBLE || (mariadb && t == T_YEAR);
}

static bool character(uint8_t t)
{
    return t == T_STRING || t == T_VARCHAR || t == T_BLOB || t == T_GEOMETRY;
}

static void tlv(struct cdc_buf *b, uint8_t kind, const struct cdc_buf *v)
{
    w_le(b, kind, 1);
    w_packed(b, v->len);
    w_bytes(b, v->data, v->len);
}

/* Charsets of the columns that pass filter, as DEFAULT_CHARSET (the most
 * common one, then index/collation pairs) or as COLUMN_CHARSET. */
static void charsets(struct cdc_buf *b, const struct ttab *t,
                     bool (*filter)(uint8_t), bool column_form,
                     uint8_t kind_default, uint8_t kind_column)
{
    struct cdc_buf v;
    cdc_buf_init(&v, 0);
    size_t k = 0;
    uint32_t deflt = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        if (filter(real_type(&t->cols[i])) && deflt == 0)
            deflt = t->cols[i].cs;
    }
    if (!column_form)
        w_packed(&v, deflt);
    for (size_t i = 0; i < t->ncols; i++) {
        if (!filter(real_type(&t->cols[i])))
            continue;
        if (column_form) {
            w_packed(&v, t->cols[i].cs);
        } else if (t->cols[i].cs != deflt) {
            w_packed(&v, k);
            w_packed(&v, t->cols[i].cs);
        }
        k++;
    }
    if (k > 0)
        tlv(b, column_form ? kind_column : kind_default, &v);
    cdc_buf_release(&v);
}

static bool is_enum_set(uint8_t t)
{
    return t == T_ENUM || t == T_SET;
}

static void make_table_map(struct cdc_buf *b, const struct ttab *t,
                           bool mariadb)
{
    ev_begin(b, BINLOG_T_TABLE_MAP);
    w_le(b, t->id, 6);
    w_le(b, 1, 2);
    w_le(b, strlen(t->schema), 1);
    w_bytes(b, t->schema, strlen(t->schema) + 1);
    w_le(b, strlen(t->table), 1);
    w_bytes(b, t->table, strlen(t->table) + 1);
    w_packed(b, t->ncols);
    for (size_t i = 0; i < t->ncols; i++)
        w_le(b, t->cols[i].type, 1);
    size_t mlen = 0;
    for (size_t i = 0; i < t->ncols; i++)
        mlen += t->cols[i].nmeta;
    w_packed(b, mlen);
    for (size_t i = 0; i < t->ncols; i++)
        w_bytes(b, t->cols[i].meta, t->cols[i].nmeta);
    for (size_t i = 0; i < (t->ncols + 7) / 8; i++)
        w_le(b, 0xFF, 1);

    struct cdc_buf v;
    cdc_buf_init(&v, 0);
    if (t->minimal) {
        uint8_t bits[16] = {0};
        size_t k = 0;
        for (size_t i = 0; i < t->ncols; i++) {
            if (!numeric(real_type(&t->cols[i]), mariadb))
                continue;
            if (t->cols[i].uns)
                bits[k / 8] |= (uint8_t)(0x80 >> (k % 8));
            k++;
        }
        w_bytes(&v, bits, (k + 7) / 8);
        tlv(b, 1, &v);
        charsets(b, t, character, t->column_charsets, 2, 3);
    }
    if (t->names) {
        cdc_buf_reset(&v);
        for (size_t i = 0; i < t->ncols; i++) {
            w_packed(&v, strlen(t->cols[i].name));
            w_bytes(&v, t->cols[i].name, strlen(t->cols[i].name));
        }
        tlv(b, 4, &v);
        for (uint8_t kind = 5; kind <= 6; kind++) {
            cdc_buf_reset(&v);
            for (size_t i = 0; i < t->ncols; i++) {
                if (real_type(&t->cols[i]) != (kind == 5 ? T_SET : T_ENUM))
                    continue;
                w_packed(&v, t->cols[i].nmembers);
                for (size_t m = 0; m < t->cols[i].nmembers; m++) {
                    w_packed(&v, strlen(t->cols[i].members[m]));
                    w_bytes(&v, t->cols[i].members[m],
                            strlen(t->cols[i].members[m]));
                }
            }
            if (v.len > 0)
                tlv(b, kind, &v);
        }
        cdc_buf_reset(&v);
        for (size_t i = 0; i < t->ncols; i++) {
            if (t->cols[i].type == T_GEOMETRY)
                w_packed(&v, (uint64_t)t->cols[i].geom);
        }
        if (v.len > 0)
            tlv(b, 7, &v);
        if (t->npk > 0) {
            cdc_buf_reset(&v);
            for (size_t i = 0; i < t->npk; i++) {
                w_packed(&v, t->pk[i]);
                if (t->pk_prefix != NULL)
                    w_packed(&v, t->pk_prefix[i]);
            }
            tlv(b, t->pk_prefix ? 9 : 8, &v);
        }
        charsets(b, t, is_enum_set, t->column_charsets, 10, 11);
    }
    cdc_buf_release(&v);
}

/* ==== Row events ==== */

static void img_reset(struct img *m)
{
    for (size_t i = 0; i < MAX_IMG_COLS; i++) {
        cdc_buf_reset(&m->val[i]);
        m->null[i] = false;
    }
    m->n = 0;
}

static struct cdc_buf *img_next(struct img *m)
{
    assert_true(m->n < MAX_IMG_COLS);
    return &m->val[m->n++];
}

static void img_null(struct img *m)
{
    m->null[m->n++] = true;
}

static void img_le(struct img *m, uint64_t v, size_t n)
{
    w_le(img_next(m), v, n);
}

static void img_be(struct img *m, uint64_t v, size_t n)
{
    w_be(img_next(m), v, n);
}

/* Bytes after a little-endian length of w bytes. */
static void img_str(struct img *m, size_t w, const void *p, size_t n)
{
    struct cdc_buf *b = img_next(m);
    w_le(b, n, w);
    w_bytes(b, p, n);
}

static void img_float(struct img *m, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    img_le(m, u, 4);
}

static void img_double(struct img *m, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    img_le(m, u, 8);
}

struct group {
    const char *digits;
    unsigned ndig;
};

/* Binary decimal, from "[-]digits[.digits]" with exactly scale fraction
 * digits: groups of nine digits, big-endian, the partial group before the
 * integer part and after the fraction in fewer bytes; the sign bit
 * flipped; negative values inverted. */
static size_t enc_decimal(const char *text, unsigned prec, unsigned scale,
                          uint8_t *out)
{
    static const size_t d2b[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
    bool neg = text[0] == '-';
    if (neg)
        text++;
    while (text[0] == '0' && text[1] != '\0' && text[1] != '.')
        text++;
    if (text[0] == '0')
        text++; /* "0.5": no integer digits */
    const char *dot = strchr(text, '.');
    size_t ilen = dot ? (size_t)(dot - text) : strlen(text);
    const char *frac = dot ? dot + 1 : "";
    unsigned intg = prec - scale;
    char idig[80];
    char fdig[80];
    assert_true(ilen <= intg);
    assert_int_equal(strlen(frac), scale);
    memset(idig, '0', intg);
    memcpy(idig + intg - ilen, text, ilen);
    memcpy(fdig, frac, scale);
    size_t o = 0;
    struct group groups[32];
    size_t ng = 0;
    if (intg % 9)
        groups[ng++] = (struct group){idig, intg % 9};
    for (unsigned i = 0; i < intg / 9; i++)
        groups[ng++] = (struct group){idig + intg % 9 + 9 * i, 9};
    for (unsigned i = 0; i < scale / 9; i++)
        groups[ng++] = (struct group){fdig + 9 * i, 9};
    if (scale % 9)
        groups[ng++] = (struct group){fdig + scale / 9 * 9, scale % 9};
    for (size_t g = 0; g < ng; g++) {
        uint32_t v = 0;
        for (unsigned k = 0; k < groups[g].ndig; k++)
            v = v * 10 + (uint32_t)(groups[g].digits[k] - '0');
        size_t nb = d2b[groups[g].ndig];
        for (size_t k = nb; k > 0; k--)
            out[o++] = (uint8_t)(v >> (8 * (k - 1)));
    }
    out[0] ^= 0x80;
    if (neg) {
        for (size_t i = 0; i < o; i++)
            out[i] ^= 0xFF;
    }
    return o;
}

static void img_decimal(struct img *m, const char *text, unsigned prec,
                        unsigned scale)
{
    uint8_t d[64];
    size_t n = enc_decimal(text, prec, scale, d);
    w_bytes(img_next(m), d, n);
}

/* Fraction bytes of the temporal types: (fsp + 1) / 2 bytes. */
static void w_frac(struct cdc_buf *b, int32_t usec, unsigned fsp)
{
    if (fsp == 1 || fsp == 2)
        w_be(b, (uint8_t)(int8_t)(usec / 10000), 1);
    else if (fsp == 3 || fsp == 4)
        w_be(b, (uint16_t)(int16_t)(usec / 100), 2);
    else if (fsp == 5 || fsp == 6)
        w_be(b, (uint32_t)usec & 0xFFFFFF, 3);
}

static void img_datetime2(struct img *m, unsigned y, unsigned mo, unsigned d,
                          unsigned h, unsigned mi, unsigned s, uint32_t usec,
                          unsigned fsp)
{
    int64_t ymd = ((int64_t)(y * 13 + mo) << 5) | d;
    int64_t hms = ((int64_t)h << 12) | (mi << 6) | s;
    struct cdc_buf *b = img_next(m);
    w_be(b, (uint64_t)(((ymd << 17) | hms) + INT64_C(0x8000000000)), 5);
    w_frac(b, (int32_t)usec, fsp);
}

/* TIME2: the packed value (hms << 24 | usec, negated when negative) split
 * in an integer part (with an offset) and a fraction, as MySQL writes it. */
static void img_time2(struct img *m, bool neg, unsigned h, unsigned mi,
                      unsigned s, uint32_t usec, unsigned fsp)
{
    int64_t packed =
        ((((int64_t)h << 12) | (mi << 6) | s) << 24) + (int64_t)usec;
    if (neg)
        packed = -packed;
    struct cdc_buf *b = img_next(m);
    if (fsp >= 5) {
        w_be(b, (uint64_t)(packed + INT64_C(0x800000000000)), 6);
        return;
    }
    int64_t intpart = packed >> 24; /* floor */
    int64_t frac = packed % (INT64_C(1) << 24);
    w_be(b, (uint64_t)(intpart + 0x800000), 3);
    if (fsp == 1 || fsp == 2)
        w_be(b, (uint8_t)(int8_t)(frac / 10000), 1);
    else if (fsp == 3 || fsp == 4)
        w_be(b, (uint16_t)(int16_t)(frac / 100), 2);
}

static void img_timestamp2(struct img *m, uint32_t sec, uint32_t usec,
                           unsigned fsp)
{
    struct cdc_buf *b = img_next(m);
    w_be(b, sec, 4);
    w_frac(b, (int32_t)usec, fsp);
}

static void img_date(struct img *m, unsigned y, unsigned mo, unsigned d)
{
    img_le(m, d | (mo << 5) | (y << 9), 3);
}

/* The null bitmap of the present columns, then their values. */
static void put_image(struct cdc_buf *b, const struct img *m, size_t ncols,
                      const uint8_t *present)
{
    uint8_t nulls[16] = {0};
    size_t k = 0;
    for (size_t i = 0; i < ncols; i++) {
        if (present && !((present[i / 8] >> (i % 8)) & 1))
            continue;
        if (m->null[i])
            nulls[k / 8] |= (uint8_t)(1 << (k % 8));
        k++;
    }
    w_bytes(b, nulls, (k + 7) / 8);
    for (size_t i = 0; i < ncols; i++) {
        if (present && !((present[i / 8] >> (i % 8)) & 1))
            continue;
        if (!m->null[i])
            w_bytes(b, m->val[i].data, m->val[i].len);
    }
}

static bool is_update(uint8_t type)
{
    return type == BINLOG_T_UPDATE_ROWS_V1 || type == BINLOG_T_UPDATE_ROWS;
}

/* Header and bitmaps of a row event; the rows follow. */
static void rows_begin(struct cdc_buf *b, uint8_t type, uint64_t id,
                       uint16_t flags, size_t ncols, const uint8_t *present1,
                       const uint8_t *present2)
{
    ev_begin(b, type);
    w_le(b, id, 6);
    w_le(b, flags, 2);
    if (type >= BINLOG_T_WRITE_ROWS) {
        /* extra row data: its length (itself included), then a tag 0
         * (RW_V_EXTRAINFO_TAG) with a length and a format byte */
        w_le(b, 2 + 4, 2);
        w_le(b, 0, 1);
        w_le(b, 2, 1);
        w_le(b, 0x40, 1);
        w_le(b, 0, 1);
    }
    w_packed(b, ncols);
    uint8_t all[16];
    memset(all, 0xFF, sizeof(all));
    w_bytes(b, present1 ? present1 : all, (ncols + 7) / 8);
    if (is_update(type))
        w_bytes(b, present2 ? present2 : all, (ncols + 7) / 8);
}

/* ==== Binary JSON documents ==== */

enum jkind {
    J_OBJ,
    J_ARR,
    J_NULL,
    J_TRUE,
    J_FALSE,
    J_I16,
    J_U16,
    J_I32,
    J_U32,
    J_I64,
    J_U64,
    J_DBL,
    J_STR,
    J_OPQ,
};

struct jn {
    enum jkind kind;
    const char *key; /* in an object */
    bool large;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    uint8_t otype; /* J_OPQ: field type */
    const uint8_t *odata;
    size_t olen;
    const struct jn *kids;
    size_t nkids;
};

static uint8_t jtype(const struct jn *n)
{
    static const uint8_t t[] = {
        [J_NULL] = 4, [J_TRUE] = 4, [J_FALSE] = 4, [J_I16] = 5,
        [J_U16] = 6,  [J_I32] = 7,  [J_U32] = 8,   [J_I64] = 9,
        [J_U64] = 10, [J_DBL] = 11, [J_STR] = 12,  [J_OPQ] = 15};
    if (n->kind == J_OBJ)
        return n->large ? 1 : 0;
    if (n->kind == J_ARR)
        return n->large ? 3 : 2;
    return t[n->kind];
}

static bool jinline(const struct jn *n, bool large)
{
    return n->kind == J_NULL || n->kind == J_TRUE || n->kind == J_FALSE ||
           n->kind == J_I16 || n->kind == J_U16 ||
           (large && (n->kind == J_I32 || n->kind == J_U32));
}

static void jvarlen(struct cdc_buf *b, size_t len)
{
    do {
        uint8_t c = (uint8_t)(len & 0x7F);
        len >>= 7;
        if (len)
            c |= 0x80;
        w_le(b, c, 1);
    } while (len);
}

static void jenc(struct cdc_buf *b, const struct jn *n);

/* The value an entry holds inline, in osz bytes. */
static uint64_t jinline_value(const struct jn *n)
{
    switch (n->kind) {
    case J_NULL:
        return 0;
    case J_TRUE:
        return 1;
    case J_FALSE:
        return 2;
    case J_I16:
        return (uint16_t)(int16_t)n->i;
    case J_I32:
        return (uint32_t)(int32_t)n->i;
    default:
        return n->u;
    }
}

static void jcontainer(struct cdc_buf *b, const struct jn *n)
{
    bool obj = n->kind == J_OBJ;
    size_t osz = n->large ? 4 : 2;
    size_t start = b->len;
    size_t keys = start + 2 * osz;
    size_t vals = keys + (obj ? n->nkids * (osz + 2) : 0);
    size_t hdr = vals + n->nkids * (1 + osz) - start;
    for (size_t i = 0; i < hdr; i++)
        w_le(b, 0, 1);
    if (obj) {
        for (size_t i = 0; i < n->nkids; i++) {
            patch_le(b, keys + i * (osz + 2), b->len - start, osz);
            patch_le(b, keys + i * (osz + 2) + osz, strlen(n->kids[i].key), 2);
            w_bytes(b, n->kids[i].key, strlen(n->kids[i].key));
        }
    }
    for (size_t i = 0; i < n->nkids; i++) {
        const struct jn *k = &n->kids[i];
        size_t e = vals + i * (1 + osz);
        b->data[e] = (char)jtype(k);
        if (jinline(k, n->large)) {
            patch_le(b, e + 1, jinline_value(k), osz);
        } else {
            patch_le(b, e + 1, b->len - start, osz);
            jenc(b, k);
        }
    }
    patch_le(b, start, n->nkids, osz);
    patch_le(b, start + osz, b->len - start, osz);
}

/* A value without its type byte. */
static void jenc(struct cdc_buf *b, const struct jn *n)
{
    switch (n->kind) {
    case J_OBJ:
    case J_ARR:
        jcontainer(b, n);
        break;
    case J_NULL:
    case J_TRUE:
    case J_FALSE:
        w_le(b, jinline_value(n), 1);
        break;
    case J_I16:
    case J_U16:
        w_le(b, n->kind == J_I16 ? (uint64_t)n->i : n->u, 2);
        break;
    case J_I32:
    case J_U32:
        w_le(b, n->kind == J_I32 ? (uint64_t)n->i : n->u, 4);
        break;
    case J_I64:
    case J_U64:
        w_le(b, n->kind == J_I64 ? (uint64_t)n->i : n->u, 8);
        break;
    case J_DBL: {
        uint64_t u;
        memcpy(&u, &n->d, 8);
        w_le(b, u, 8);
        break;
    }
    case J_STR:
        jvarlen(b, strlen(n->s));
        w_bytes(b, n->s, strlen(n->s));
        break;
    case J_OPQ:
        w_le(b, n->otype, 1);
        jvarlen(b, n->olen);
        w_bytes(b, n->odata, n->olen);
        break;
    }
}

static void jdoc(struct cdc_buf *b, const struct jn *n)
{
    cdc_buf_reset(b);
    w_le(b, jtype(n), 1);
    jenc(b, n);
}

/* ==== Checking decoded rows ==== */

static const struct cdc_col *col_named(const struct cdc_col *cols, size_t n,
                                       const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    }
    fail_msg("no column \"%s\"", name);
    return NULL;
}

/* value NULL: SQL NULL; type NULL: not checked */
static void expect_col(const struct cdc_col *cols, size_t n, const char *name,
                       const char *type, const char *value)
{
    const struct cdc_col *c = col_named(cols, n, name);
    if (type != NULL && strcmp(c->type, type) != 0)
        fail_msg("column \"%s\": type \"%s\", expected \"%s\"", name, c->type,
                 type);
    if (value == NULL) {
        if (c->value != NULL)
            fail_msg("column \"%s\": \"%s\", expected NULL", name, c->value);
        return;
    }
    if (c->value == NULL)
        fail_msg("column \"%s\": NULL, expected \"%s\"", name, value);
    if (strcmp(c->value, value) != 0 || c->value_len != strlen(value))
        fail_msg("column \"%s\": \"%s\", expected \"%s\"", name, c->value,
                 value);
}

/* ==== The table with every type ==== */

static const char *const enum_members[] = {"small", "medium", "large"};
static const char *const set_members[] = {"a", "b", "c", "d"};

/* Names, types and metadata; charsets: 45 utf8mb4, 8 latin1, 63 binary,
 * 11 ascii, 54 utf16. */
static const struct tcol all_cols[] = {
    {"id", T_LONG, {0}, 0, false, 0, NULL, 0, -1},
    {"ti", T_TINY, {0}, 0, false, 0, NULL, 0, -1},
    {"tiu", T_TINY, {0}, 0, true, 0, NULL, 0, -1},
    {"si", T_SHORT, {0}, 0, false, 0, NULL, 0, -1},
    {"siu", T_SHORT, {0}, 0, true, 0, NULL, 0, -1},
    {"mi", T_INT24, {0}, 0, false, 0, NULL, 0, -1},
    {"miu", T_INT24, {0}, 0, true, 0, NULL, 0, -1},
    {"i", T_LONG, {0}, 0, false, 0, NULL, 0, -1},
    {"iu", T_LONG, {0}, 0, true, 0, NULL, 0, -1},
    {"bi", T_LONGLONG, {0}, 0, false, 0, NULL, 0, -1},
    {"biu", T_LONGLONG, {0}, 0, true, 0, NULL, 0, -1},
    {"d1", T_NEWDECIMAL, {10, 2}, 2, false, 0, NULL, 0, -1},
    {"d2", T_NEWDECIMAL, {5, 2}, 2, false, 0, NULL, 0, -1},
    {"f", T_FLOAT, {4}, 1, false, 0, NULL, 0, -1},
    {"d", T_DOUBLE, {8}, 1, false, 0, NULL, 0, -1},
    {"b", T_BIT, {2, 1}, 2, false, 0, NULL, 0, -1},
    {"y", T_YEAR, {0}, 0, true, 0, NULL, 0, -1},
    {"dt", T_DATE, {0}, 0, false, 0, NULL, 0, -1},
    {"tm", T_TIME2, {0}, 1, false, 0, NULL, 0, -1},
    {"tm3", T_TIME2, {3}, 1, false, 0, NULL, 0, -1},
    {"tm6", T_TIME2, {6}, 1, false, 0, NULL, 0, -1},
    {"dtm", T_DATETIME2, {0}, 1, false, 0, NULL, 0, -1},
    {"dtm3", T_DATETIME2, {3}, 1, false, 0, NULL, 0, -1},
    {"dtm6", T_DATETIME2, {6}, 1, false, 0, NULL, 0, -1},
    {"ts", T_TIMESTAMP2, {0}, 1, false, 0, NULL, 0, -1},
    {"ts3", T_TIMESTAMP2, {3}, 1, false, 0, NULL, 0, -1},
    {"ts6", T_TIMESTAMP2, {6}, 1, false, 0, NULL, 0, -1},
    {"c", T_STRING, {T_STRING, 40}, 2, false, 45, NULL, 0, -1},
    {"cl1", T_STRING, {T_STRING, 10}, 2, false, 8, NULL, 0, -1},
    {"vc", T_VARCHAR, {400 & 0xFF, 400 >> 8}, 2, false, 45, NULL, 0, -1},
    {"vl1", T_VARCHAR, {300 & 0xFF, 300 >> 8}, 2, false, 8, NULL, 0, -1},
    {"bin", T_STRING, {T_STRING, 4}, 2, false, 63, NULL, 0, -1},
    {"vbin", T_VARCHAR, {20, 0}, 2, false, 63, NULL, 0, -1},
    {"tx", T_BLOB, {2}, 1, false, 45, NULL, 0, -1},
    {"bb", T_BLOB, {2}, 1, false, 63, NULL, 0, -1},
    {"lt", T_BLOB, {4}, 1, false, 8, NULL, 0, -1},
    {"e", T_STRING, {T_ENUM, 1}, 2, false, 45, enum_members, 3, -1},
    {"s", T_STRING, {T_SET, 1}, 2, false, 45, set_members, 4, -1},
    {"j", T_JSON, {4}, 1, false, 0, NULL, 0, -1},
    {"g", T_GEOMETRY, {4}, 1, false, 63, NULL, 0, 1},
    {"asc", T_VARCHAR, {10, 0}, 2, false, 11, NULL, 0, -1},
    {"w16", T_VARCHAR, {40, 0}, 2, false, 54, NULL, 0, -1},
};
#define ALL_NCOLS NELEMS(all_cols)

static const size_t all_pk[] = {0};

static const struct ttab all_tab = {
    .id = 0x10000000AULL,
    .schema = "db",
    .table = "every_type",
    .cols = all_cols,
    .ncols = ALL_NCOLS,
    .pk = all_pk,
    .npk = 1,
    .names = true,
    .minimal = true,
};

/* {"a": [1, 2.5, "x"], "b": null, "c": true} */
static const struct jn doc_a_arr[] = {
    {.kind = J_I16, .i = 1},
    {.kind = J_DBL, .d = 2.5},
    {.kind = J_STR, .s = "x"},
};
static const struct jn doc_a_kids[] = {
    {.kind = J_ARR, .key = "a", .kids = doc_a_arr, .nkids = 3},
    {.kind = J_NULL, .key = "b"},
    {.kind = J_TRUE, .key = "c"},
};
static const struct jn doc_a = {.kind = J_OBJ, .kids = doc_a_kids, .nkids = 3};
#define DOC_A_TEXT "{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": true}"

/* SRID 4326, then the WKB of POINT(1 2): byte order, type 1, x, y */
static const uint8_t point_1_2[] = {
    0xE6, 0x10, 0x00, 0x00,                         /* SRID */
    0x01, 0x01, 0x00, 0x00, 0x00,                   /* little-endian point */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0x3F, /* 1.0 */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, /* 2.0 */
};
#define POINT_TEXT "SRID=4326;0101000000000000000000F03F0000000000000040"

/* Row A: the edge values of every type. */
static void fill_row_a(struct img *m)
{
    img_reset(m);
    img_le(m, 1, 4);
    img_le(m, 0x80, 1);
    img_le(m, 255, 1);
    img_le(m, 0x8000, 2);
    img_le(m, 65535, 2);
    img_le(m, 0x800000, 3);
    img_le(m, 0xFFFFFF, 3);
    img_le(m, 0x80000000u, 4);
    img_le(m, 0xFFFFFFFFu, 4);
    img_le(m, UINT64_C(0x8000000000000000), 8);
    img_le(m, UINT64_MAX, 8);
    img_decimal(m, "-3.00", 10, 2);
    img_decimal(m, "12.50", 5, 2);
    img_float(m, 1.5f);
    img_double(m, 0.1);
    img_be(m, 0x281, 2);
    img_le(m, 124, 1);
    img_date(m, 2024, 1, 2);
    img_time2(m, true, 838, 59, 59, 0, 0);
    img_time2(m, false, 12, 34, 56, 789000, 3);
    img_time2(m, true, 0, 0, 1, 1, 6);
    img_datetime2(m, 2024, 1, 2, 3, 4, 5, 0, 0);
    img_datetime2(m, 2024, 1, 2, 3, 4, 5, 678000, 3);
    img_datetime2(m, 9999, 12, 31, 23, 59, 59, 999999, 6);
    img_timestamp2(m, 1704164645, 0, 0);
    img_timestamp2(m, 1704164645, 678000, 3);
    img_timestamp2(m, 2147483647, 999999, 6);
    img_str(m, 1, "abc", 3);
    img_str(m, 1, "h\xe9llo", 5);
    img_str(m, 2, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac", 17);
    img_str(m, 2, "\x80 \xe9", 3);
    img_str(m, 1, "ab", 2);
    img_str(m, 1, "\x00\xff\x10", 3);
    img_str(m, 2, "text", 4);
    img_str(m, 2, "\x02\x03", 2);
    img_str(m, 4, "\xe9", 1);
    img_le(m, 2, 1);
    img_le(m, 5, 1);
    jdoc(&fx.doc, &doc_a);
    img_str(m, 4, fx.doc.data, fx.doc.len);
    img_str(m, 4, point_1_2, sizeof(point_1_2));
    img_str(m, 1, "ascii", 5);
    img_str(m, 1, "\x00h\x00\xe9\xd8\x3d\xde\x00", 8);
    assert_int_equal(m->n, ALL_NCOLS);
}

static void check_row_a(const struct cdc_col *c)
{
    size_t n = ALL_NCOLS;
    expect_col(c, n, "id", "int", "1");
    expect_col(c, n, "ti", "tinyint", "-128");
    expect_col(c, n, "tiu", "tinyint unsigned", "255");
    expect_col(c, n, "si", "smallint", "-32768");
    expect_col(c, n, "siu", "smallint unsigned", "65535");
    expect_col(c, n, "mi", "mediumint", "-8388608");
    expect_col(c, n, "miu", "mediumint unsigned", "16777215");
    expect_col(c, n, "i", "int", "-2147483648");
    expect_col(c, n, "iu", "int unsigned", "4294967295");
    expect_col(c, n, "bi", "bigint", "-9223372036854775808");
    expect_col(c, n, "biu", "bigint unsigned", "18446744073709551615");
    expect_col(c, n, "d1", "decimal(10,2)", "-3.00");
    expect_col(c, n, "d2", "decimal(5,2)", "12.50");
    expect_col(c, n, "f", "float", "1.5");
    expect_col(c, n, "d", "double", "0.1");
    expect_col(c, n, "b", "bit(10)", "1010000001");
    expect_col(c, n, "y", "year", "2024");
    expect_col(c, n, "dt", "date", "2024-01-02");
    expect_col(c, n, "tm", "time", "-838:59:59");
    expect_col(c, n, "tm3", "time(3)", "12:34:56.789");
    expect_col(c, n, "tm6", "time(6)", "-00:00:01.000001");
    expect_col(c, n, "dtm", "datetime", "2024-01-02 03:04:05");
    expect_col(c, n, "dtm3", "datetime(3)", "2024-01-02 03:04:05.678");
    expect_col(c, n, "dtm6", "datetime(6)", "9999-12-31 23:59:59.999999");
    expect_col(c, n, "ts", "timestamp", "2024-01-02 03:04:05+00");
    expect_col(c, n, "ts3", "timestamp(3)", "2024-01-02 03:04:05.678+00");
    expect_col(c, n, "ts6", "timestamp(6)", "2038-01-19 03:14:07.999999+00");
    expect_col(c, n, "c", "char", "abc");
    expect_col(c, n, "cl1", "char", "h\xc3\xa9llo");
    expect_col(c, n, "vc", "varchar", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac");
    expect_col(c, n, "vl1", "varchar", "\xe2\x82\xac \xc3\xa9");
    expect_col(c, n, "bin", "binary", "YWIAAA==");
    expect_col(c, n, "vbin", "varbinary", "AP8Q");
    expect_col(c, n, "tx", "text", "text");
    expect_col(c, n, "bb", "blob", "AgM=");
    expect_col(c, n, "lt", "longtext", "\xc3\xa9");
    expect_col(c, n, "e", "enum", "medium");
    expect_col(c, n, "s", "set", "a,c");
    expect_col(c, n, "j", "json", DOC_A_TEXT);
    expect_col(c, n, "g", "point", POINT_TEXT);
    expect_col(c, n, "asc", "varchar", "ascii");
    expect_col(c, n, "w16", "varchar", "h\xc3\xa9\xf0\x9f\x98\x80");
}

/* Row B: NULL in every column but a few. */
static void fill_row_b(struct img *m)
{
    img_reset(m);
    img_le(m, 2, 4);
    for (size_t i = 1; i < ALL_NCOLS; i++)
        img_null(m);
    /* d1 and vc carry values */
    m->null[11] = false;
    uint8_t d[16];
    size_t dn = enc_decimal("12.50", 10, 2, d);
    w_bytes(&m->val[11], d, dn);
    m->null[29] = false;
    w_le(&m->val[29], 7, 2);
    w_bytes(&m->val[29], "changed", 7);
}

static void check_row_b(const struct cdc_col *c)
{
    size_t n = ALL_NCOLS;
    expect_col(c, n, "id", "int", "2");
    expect_col(c, n, "d1", "decimal(10,2)", "12.50");
    expect_col(c, n, "vc", "varchar", "changed");
    for (size_t i = 0; i < n; i++) {
        if (i != 0 && i != 11 && i != 29 && c[i].value != NULL)
            fail_msg("column \"%s\" is \"%s\", expected NULL", c[i].name,
                     c[i].value);
    }
}

/* Write, update (A -> B and B -> A) and delete of the table with every
 * type, in one flavor and row event version. */
static void every_type(bool mariadb, bool v2)
{
    start(mariadb);
    make_table_map(&fx.ev, &all_tab, mariadb);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_TABLE_MAP);
    assert_int_equal(fx.out.table_map.table_id, all_tab.id);
    assert_string_equal(fx.out.table_map.schema, "db");
    assert_string_equal(fx.out.table_map.table, "every_type");
    assert_int_equal(fx.out.table_map.ncols, ALL_NCOLS);
    assert_false(fx.out.table_map.names_missing);

    uint8_t base = v2 ? BINLOG_T_WRITE_ROWS : BINLOG_T_WRITE_ROWS_V1;
    /* insert A and B in one event */
    rows_begin(&fx.ev, base, all_tab.id, 1, ALL_NCOLS, NULL, NULL);
    fill_row_a(&fx.img[0]);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    fill_row_b(&fx.img[1]);
    put_image(&fx.ev, &fx.img[1], ALL_NCOLS, NULL);
    ev_end(&fx.ev, true, 5000);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_ROWS);
    assert_int_equal(fx.out.hdr.log_pos, 5000);
    assert_int_equal(fx.out.hdr.type, base);
    assert_int_equal(fx.out.rows.op, CDC_OP_INSERT);
    assert_string_equal(fx.out.rows.schema, "db");
    assert_string_equal(fx.out.rows.table, "every_type");
    assert_int_equal(fx.out.rows.nrows, 2);
    assert_int_equal(fx.out.rows.ncols, ALL_NCOLS);
    assert_true(fx.out.rows.stmt_end);
    assert_false(fx.out.rows.names_missing);
    assert_false(fx.out.rows.enum_as_index);
    assert_false(fx.out.rows.absent);
    assert_int_equal(fx.out.rows.nkey, 1);
    assert_string_equal(fx.out.rows.key[0], "id");
    assert_null(fx.out.rows.rows[0].before);
    assert_null(fx.out.rows.rows[0].after_absent);
    check_row_a(fx.out.rows.rows[0].after);
    check_row_b(fx.out.rows.rows[1].after);

    /* update: A -> B, B -> A */
    rows_begin(&fx.ev, (uint8_t)(base + 1), all_tab.id, 0, ALL_NCOLS, NULL,
               NULL);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    put_image(&fx.ev, &fx.img[1], ALL_NCOLS, NULL);
    put_image(&fx.ev, &fx.img[1], ALL_NCOLS, NULL);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    ev_end(&fx.ev, true, 6000);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.rows.op, CDC_OP_UPDATE);
    assert_false(fx.out.rows.stmt_end);
    assert_int_equal(fx.out.rows.nrows, 2);
    check_row_a(fx.out.rows.rows[0].before);
    check_row_b(fx.out.rows.rows[0].after);
    check_row_b(fx.out.rows.rows[1].before);
    check_row_a(fx.out.rows.rows[1].after);

    /* delete A */
    rows_begin(&fx.ev, (uint8_t)(base + 2), all_tab.id, 1, ALL_NCOLS, NULL,
               NULL);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    ev_end(&fx.ev, true, 7000);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.rows.op, CDC_OP_DELETE);
    assert_int_equal(fx.out.rows.nrows, 1);
    assert_null(fx.out.rows.rows[0].after);
    check_row_a(fx.out.rows.rows[0].before);
}

static void test_every_type_v1_mariadb(void **state)
{
    (void)state;
    every_type(true, false);
}

static void test_every_type_v2_mysql(void **state)
{
    (void)state;
    every_type(false, true);
}

/* Rows decode into the arena: the event's bytes may go right away. */
static void test_values_owned_by_arena(void **state)
{
    (void)state;
    start(false);
    make_table_map(&fx.ev, &all_tab, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, all_tab.id, 1, ALL_NCOLS, NULL,
               NULL);
    fill_row_a(&fx.img[0]);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    ev_end(&fx.ev, true, 5000);
    dec_ok(&fx.ev); /* from a copy that is freed at once */
    memset(fx.ev.data, 0xA5, fx.ev.len);
    check_row_a(fx.out.rows.rows[0].after);
}

/* ==== Format description and checksums ==== */

static void xid_event(struct cdc_buf *b, uint64_t xid, bool crc)
{
    ev_begin(b, BINLOG_T_XID);
    w_le(b, xid, 8);
    ev_end(b, crc, 300);
}

static void test_format_description(void **state)
{
    (void)state;
    /* MySQL 8 with CRC32, "file in use" flag set */
    make_fde(&fx.ev, MYSQL_VERSION, 1, BINLOG_HF_IN_USE, post_lens,
             sizeof(post_lens));
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_FORMAT);
    assert_int_equal(fx.out.format.binlog_version, 4);
    assert_int_equal(fx.out.format.header_len, 19);
    assert_string_equal(fx.out.format.server_version, "8.0.36");
    assert_false(fx.out.format.mariadb);
    assert_int_equal(fx.out.format.checksum, BINLOG_CHECKSUM_CRC32);
    assert_int_equal(fx.out.hdr.flags, BINLOG_HF_IN_USE);
    assert_string_equal(source_binlog_server_version(fx.b), "8.0.36");
    xid_event(&fx.ev, 77, true);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_XID);
    assert_int_equal(fx.out.xid.xid, 77);
    assert_int_equal(fx.out.hdr.server_id, 1);
    assert_int_equal(fx.out.hdr.timestamp, TS);
    /* a flipped bit anywhere fails the checksum */
    for (size_t i = 0; i < fx.ev.len; i++) {
        if (i >= 9 && i < 13)
            continue; /* the size field fails on its own */
        fx.ev.data[i] ^= 0x10;
        dec_fails(&fx.ev, "checksum mismatch");
        fx.ev.data[i] ^= 0x10;
    }
    /* without its checksum the event is too short for an XID */
    xid_event(&fx.ev, 77, false);
    dec_fails(&fx.ev, "");

    /* a format description whose checksum is wrong changes nothing */
    make_fde(&fx.ev, MARIADB_VERSION, 1, 0, post_lens, sizeof(post_lens));
    fx.ev.data[30] ^= 1;
    dec_fails(&fx.ev, "checksum mismatch");
    assert_string_equal(source_binlog_server_version(fx.b), "8.0.36");

    /* MariaDB with checksums off: the events end without one */
    make_fde(&fx.ev, MARIADB_VERSION, 0, 0, post_lens, sizeof(post_lens));
    dec_ok(&fx.ev);
    assert_true(fx.out.format.mariadb);
    assert_int_equal(fx.out.format.checksum, BINLOG_CHECKSUM_NONE);
    xid_event(&fx.ev, 78, false);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.xid.xid, 78);

    /* a longer common header: its extra bytes are skipped */
    make_fde(&fx.ev, MARIADB_VERSION, 0, 0, post_lens, sizeof(post_lens));
    fx.ev.data[19 + 56] = 23;
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.format.header_len, 23);
    ev_begin(&fx.ev, BINLOG_T_XID);
    w_le(&fx.ev, 0xEEEEEEEE, 4);
    w_le(&fx.ev, 80, 8);
    ev_end(&fx.ev, false, 300);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.xid.xid, 80);

    /* a server too old to write the algorithm */
    make_fde(&fx.ev, "5.5.62-log", -1, 0, post_lens, sizeof(post_lens));
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.format.checksum, BINLOG_CHECKSUM_NONE);
    xid_event(&fx.ev, 79, false);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.xid.xid, 79);

    /* binlog version 3, unknown algorithm, header length below 19 */
    make_fde(&fx.ev, MYSQL_VERSION, 1, 0, post_lens, sizeof(post_lens));
    patch_le(&fx.ev, 19, 3, 2);
    dec_fails(&fx.ev, "binlog version 3");
    make_fde(&fx.ev, MYSQL_VERSION, 7, 0, post_lens, sizeof(post_lens));
    dec_fails(&fx.ev, "unknown checksum algorithm 7");
    make_fde(&fx.ev, MYSQL_VERSION, 0, 0, post_lens, sizeof(post_lens));
    fx.ev.data[19 + 56] = 18;
    dec_fails(&fx.ev, "header length 18");
}

/* Before any format description the checksum is taken from the caller, or
 * recognised. */
static void test_checksum_before_format(void **state)
{
    (void)state;
    ev_begin(&fx.ev, BINLOG_T_ROTATE);
    patch_le(&fx.ev, 0, 0, 4);
    patch_le(&fx.ev, 17, BINLOG_HF_ARTIFICIAL, 2);
    w_le(&fx.ev, 4, 8);
    w_bytes(&fx.ev, "binlog.000007", 13);
    ev_end(&fx.ev, true, 0);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_ROTATE);
    assert_string_equal(fx.out.rotate.file, "binlog.000007");
    assert_int_equal(fx.out.rotate.pos, 4);
    assert_int_equal(fx.out.hdr.flags, BINLOG_HF_ARTIFICIAL);
    assert_int_equal(fx.out.hdr.timestamp, 0);

    /* without a checksum the name runs to the end */
    ev_begin(&fx.ev, BINLOG_T_ROTATE);
    w_le(&fx.ev, 4, 8);
    w_bytes(&fx.ev, "binlog.000007", 13);
    ev_end(&fx.ev, false, 0);
    dec_ok(&fx.ev);
    assert_string_equal(fx.out.rotate.file, "binlog.000007");

    /* said by the caller: a wrong checksum is an error */
    source_binlog_set_checksum(fx.b, BINLOG_CHECKSUM_CRC32);
    ev_begin(&fx.ev, BINLOG_T_ROTATE);
    w_le(&fx.ev, 4, 8);
    w_bytes(&fx.ev, "binlog.000007", 13);
    ev_end(&fx.ev, true, 0);
    fx.ev.data[fx.ev.len - 1] ^= 0xFF;
    dec_fails(&fx.ev, "checksum mismatch");
    source_binlog_set_checksum(fx.b, BINLOG_CHECKSUM_NONE);
    dec_ok(&fx.ev); /* then the checksum is part of the name */
    assert_memory_equal(fx.out.rotate.file, "binlog.000007", 13);
}

/* ==== Other events ==== */

static void test_rotate_query_xid(void **state)
{
    (void)state;
    start(false);
    ev_begin(&fx.ev, BINLOG_T_ROTATE);
    w_le(&fx.ev, UINT64_C(0x123456789), 8);
    w_bytes(&fx.ev, "mysql-bin.000123", 16);
    ev_end(&fx.ev, true, 0);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_ROTATE);
    assert_string_equal(fx.out.rotate.file, "mysql-bin.000123");
    assert_int_equal(fx.out.rotate.pos, UINT64_C(0x123456789));

    /* QUERY: thread, time, db length, error, status variables, db,
     * statement; the client character set is latin1 (8) */
    struct cdc_buf *v = &fx.tmp;
    cdc_buf_reset(v);
    w_le(v, 0, 1); /* Q_FLAGS2 */
    w_le(v, 0, 4);
    w_le(v, 1, 1); /* Q_SQL_MODE */
    w_le(v, 0, 8);
    w_le(v, 6, 1); /* Q_CATALOG_NZ */
    w_le(v, 3, 1);
    w_bytes(v, "std", 3);
    w_le(v, 12, 1); /* Q_UPDATED_DB_NAMES */
    w_le(v, 2, 1);
    w_bytes(v, "a\0bb\0", 5);
    w_le(v, 11, 1); /* Q_INVOKER */
    w_le(v, 4, 1);
    w_bytes(v, "root", 4);
    w_le(v, 9, 1);
    w_bytes(v, "localhost", 9);
    w_le(v, 4, 1); /* Q_CHARSET */
    w_le(v, 8, 2);
    w_le(v, 8, 2);
    w_le(v, 45, 2);
    w_le(v, 5, 1); /* Q_TIME_ZONE */
    w_le(v, 6, 1);
    w_bytes(v, "+00:00", 6);
    ev_begin(&fx.ev, BINLOG_T_QUERY);
    w_le(&fx.ev, 42, 4);
    w_le(&fx.ev, 0, 4);
    w_le(&fx.ev, 4, 1);
    w_le(&fx.ev, 0, 2);
    w_le(&fx.ev, v->len, 2);
    w_bytes(&fx.ev, v->data, v->len);
    w_bytes(&fx.ev, "shop", 5);
    const char *sql = "ALTER TABLE t COMMENT 'caf\xe9'";
    w_bytes(&fx.ev, sql, strlen(sql));
    ev_end(&fx.ev, true, 400);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_QUERY);
    assert_string_equal(fx.out.query.schema, "shop");
    assert_int_equal(fx.out.query.thread_id, 42);
    assert_int_equal(fx.out.query.charset, 8);
    assert_string_equal(fx.out.query.text,
                        "ALTER TABLE t COMMENT 'caf\xc3\xa9'");
    assert_int_equal(fx.out.query.text_len, strlen(fx.out.query.text));

    /* an unknown status variable stops the search: text as logged */
    fx.ev.data[19 + 13] = 99;
    patch_le(&fx.ev, fx.ev.len - 4, 0, 4);
    fx.ev.len -= 4;
    ev_end(&fx.ev, true, 400);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.query.charset, 0);
    assert_memory_equal(fx.out.query.text, sql, strlen(sql));

    /* BEGIN without a database */
    ev_begin(&fx.ev, BINLOG_T_QUERY);
    w_le(&fx.ev, 1, 4);
    w_le(&fx.ev, 0, 4);
    w_le(&fx.ev, 0, 1);
    w_le(&fx.ev, 0, 2);
    w_le(&fx.ev, 0, 2);
    w_bytes(&fx.ev, "", 1);
    w_bytes(&fx.ev, "BEGIN", 5);
    ev_end(&fx.ev, true, 500);
    dec_ok(&fx.ev);
    assert_string_equal(fx.out.query.schema, "");
    assert_string_equal(fx.out.query.text, "BEGIN");
    /* the database not terminated */
    fx.ev.len -= 4;
    fx.ev.data[19 + 13] = 'x';
    ev_end(&fx.ev, true, 500);
    dec_fails(&fx.ev, "database name");

    xid_event(&fx.ev, UINT64_MAX, true);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.xid.xid, UINT64_MAX);
}

static void test_gtids(void **state)
{
    (void)state;
    start(true);
    /* MariaDB: standalone DDL */
    ev_begin(&fx.ev, BINLOG_T_MARIADB_GTID);
    patch_le(&fx.ev, 5, 7, 4);
    w_le(&fx.ev, 17, 8);
    w_le(&fx.ev, 3, 4);
    w_le(&fx.ev, BINLOG_GTID_STANDALONE | BINLOG_GTID_DDL, 1);
    w_le(&fx.ev, 0, 6);
    ev_end(&fx.ev, true, 600);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_GTID);
    assert_false(fx.out.gtid.mysql);
    assert_string_equal(fx.out.gtid.text, "3-7-17");
    assert_int_equal(fx.out.gtid.domain_id, 3);
    assert_int_equal(fx.out.gtid.server_id, 7);
    assert_int_equal(fx.out.gtid.seq_no, 17);
    assert_true(fx.out.gtid.flags & BINLOG_GTID_STANDALONE);
    assert_true(fx.out.gtid.flags & BINLOG_GTID_DDL);

    /* MariaDB: a transaction in a group commit */
    ev_begin(&fx.ev, BINLOG_T_MARIADB_GTID);
    w_le(&fx.ev, UINT64_MAX, 8);
    w_le(&fx.ev, UINT32_MAX, 4);
    w_le(&fx.ev, BINLOG_GTID_GROUP_COMMIT | BINLOG_GTID_TRANSACTIONAL, 1);
    w_le(&fx.ev, 99, 8);
    ev_end(&fx.ev, true, 700);
    dec_ok(&fx.ev);
    assert_string_equal(fx.out.gtid.text, "4294967295-1-18446744073709551615");
    assert_int_equal(fx.out.gtid.commit_id, 99);
    assert_true(fx.out.gtid.flags & BINLOG_GTID_TRANSACTIONAL);
    /* the commit id cut off */
    fx.ev.len -= 4 + 8;
    ev_end(&fx.ev, true, 700);
    dec_fails(&fx.ev, "commit id");

    /* MySQL: flags, uuid, gno, logical clock */
    ev_begin(&fx.ev, BINLOG_T_GTID);
    w_le(&fx.ev, 1, 1);
    static const uint8_t sid[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca,
                                    0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a,
                                    0xa9, 0x42, 0x95, 0x62};
    w_bytes(&fx.ev, sid, 16);
    w_le(&fx.ev, 23, 8);
    w_le(&fx.ev, 2, 1);
    w_le(&fx.ev, 5, 8);
    w_le(&fx.ev, 6, 8);
    ev_end(&fx.ev, true, 800);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_GTID);
    assert_true(fx.out.gtid.mysql);
    assert_string_equal(fx.out.gtid.text,
                        "3e11fa47-71ca-11e1-9e33-c80aa9429562:23");
    assert_int_equal(fx.out.gtid.seq_no, 23);
    assert_memory_equal(fx.out.gtid.uuid, sid, 16);

    /* MariaDB GTID list */
    ev_begin(&fx.ev, BINLOG_T_GTID_LIST);
    w_le(&fx.ev, 2, 4);
    w_le(&fx.ev, 0, 4);
    w_le(&fx.ev, 1, 4);
    w_le(&fx.ev, 17, 8);
    w_le(&fx.ev, 1, 4);
    w_le(&fx.ev, 2, 4);
    w_le(&fx.ev, 5, 8);
    ev_end(&fx.ev, true, 900);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_GTID_LIST);
    assert_string_equal(fx.out.gtid_list.text, "0-1-17,1-2-5");
    assert_int_equal(fx.out.gtid_list.n, 2);
    patch_le(&fx.ev, 19, 3, 4);
    fx.ev.len -= 4;
    ev_end(&fx.ev, true, 900);
    dec_fails(&fx.ev, "3 GTIDs do not fit");
    ev_begin(&fx.ev, BINLOG_T_GTID_LIST);
    w_le(&fx.ev, 0, 4);
    ev_end(&fx.ev, true, 900);
    dec_ok(&fx.ev);
    assert_string_equal(fx.out.gtid_list.text, "");
}

static void test_annotate_heartbeat_incident_other(void **state)
{
    (void)state;
    start(true);
    ev_begin(&fx.ev, BINLOG_T_ANNOTATE_ROWS);
    w_bytes(&fx.ev, "INSERT INTO t VALUES (1)", 24);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_ANNOTATE);
    assert_string_equal(fx.out.annotate.text, "INSERT INTO t VALUES (1)");
    assert_int_equal(fx.out.annotate.text_len, 24);

    ev_begin(&fx.ev, BINLOG_T_ROWS_QUERY);
    w_le(&fx.ev, 8, 1);
    w_bytes(&fx.ev, "DELETE 1", 8);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_ANNOTATE);
    assert_string_equal(fx.out.annotate.text, "DELETE 1");

    ev_begin(&fx.ev, BINLOG_T_HEARTBEAT);
    w_bytes(&fx.ev, "binlog.000002", 13);
    ev_end(&fx.ev, true, 4242);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_HEARTBEAT);
    assert_string_equal(fx.out.heartbeat.file, "binlog.000002");
    assert_int_equal(fx.out.hdr.log_pos, 4242);

    ev_begin(&fx.ev, BINLOG_T_INCIDENT);
    w_le(&fx.ev, 1, 2);
    w_le(&fx.ev, 11, 1);
    w_bytes(&fx.ev, "LOST_EVENTS", 11);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_INCIDENT);
    assert_int_equal(fx.out.incident.code, 1);
    assert_string_equal(fx.out.incident.message, "LOST_EVENTS");
    fx.ev.data[21] = 50;
    fx.ev.len -= 4;
    ev_end(&fx.ev, true, 100);
    dec_fails(&fx.ev, "incident message");

    /* events with nothing for the caller */
    static const uint8_t others[] = {BINLOG_T_STOP,
                                     5,
                                     13,
                                     14,
                                     BINLOG_T_ANONYMOUS_GTID,
                                     BINLOG_T_PREVIOUS_GTIDS,
                                     BINLOG_T_BINLOG_CHECKPOINT,
                                     38,
                                     200,
                                     255};
    for (size_t i = 0; i < NELEMS(others); i++) {
        ev_begin(&fx.ev, others[i]);
        w_bytes(&fx.ev, "whatever", 8);
        ev_end(&fx.ev, true, 100);
        dec_ok(&fx.ev);
        assert_int_equal(fx.out.kind, BINLOG_OTHER);
        assert_int_equal(fx.out.hdr.type, others[i]);
    }
    char buf[32];
    assert_string_equal(source_binlog_type_name(200, buf, sizeof(buf)),
                        "event type 200");
    assert_string_equal(source_binlog_type_name(24, buf, sizeof(buf)),
                        "UPDATE_ROWS_EVENT_V1");

    /* events that cannot be followed */
    static const uint8_t refused[] = {BINLOG_T_PARTIAL_UPDATE_ROWS,
                                      BINLOG_T_TRANSACTION_PAYLOAD,
                                      42,
                                      164,
                                      165,
                                      166,
                                      171,
                                      20};
    for (size_t i = 0; i < NELEMS(refused); i++) {
        ev_begin(&fx.ev, refused[i]);
        w_bytes(&fx.ev, "whatever", 8);
        ev_end(&fx.ev, true, 100);
        dec_fails(&fx.ev, "is not supported");
    }
}

/* ==== Table maps and their metadata ==== */

/* Metadata forms the every-type table does not use: COLUMN_CHARSET and
 * ENUM_AND_SET_COLUMN_CHARSET, a primary key with prefixes, members in
 * latin1, and a 4-byte-length CHAR. */
static const char *const latin1_members[] = {"\xe9t\xe9", "hiver"};
static const char *const bits_members[] = {"x", "y"};
static const struct tcol pfx_cols[] = {
    {"k1", T_VARCHAR, {200, 0}, 2, false, 8, NULL, 0, -1},
    {"season", T_STRING, {T_ENUM, 1}, 2, false, 8, latin1_members, 2, -1},
    {"k2", T_LONG, {0}, 0, true, 0, NULL, 0, -1},
    {"big", T_STRING, {T_STRING ^ 0x30, 0xFC}, 2, false, 45, NULL, 0, -1},
    {"flags", T_STRING, {T_SET, 1}, 2, false, 45, bits_members, 2, -1},
};
static const size_t pfx_pk[] = {0, 2};
static const size_t pfx_prefix[] = {10, 0};

static void test_table_map_forms(void **state)
{
    (void)state;
    start(false);
    struct ttab t = {
        .id = 7,
        .schema = "s",
        .table = "p",
        .cols = pfx_cols,
        .ncols = NELEMS(pfx_cols),
        .pk = pfx_pk,
        .pk_prefix = pfx_prefix,
        .npk = 2,
        .names = true,
        .minimal = true,
        .column_charsets = true,
    };
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 7, 1, 5, NULL, NULL);
    struct img *m = &fx.img[0];
    img_reset(m);
    img_str(m, 1, "caf\xe9", 4);
    img_le(m, 1, 1);
    img_le(m, 4000000000u, 4);
    /* CHAR(255) in utf8mb4: 1020 bytes, so a 2-byte length */
    char big[600];
    memset(big, 'z', sizeof(big));
    img_str(m, 2, big, sizeof(big));
    img_le(m, 0, 1);
    put_image(&fx.ev, m, 5, NULL);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    const struct cdc_col *c = fx.out.rows.rows[0].after;
    expect_col(c, 5, "k1", "varchar", "caf\xc3\xa9");
    expect_col(c, 5, "season", "enum", "\xc3\xa9t\xc3\xa9");
    expect_col(c, 5, "k2", "int unsigned", "4000000000");
    assert_int_equal(col_named(c, 5, "big")->value_len, sizeof(big));
    expect_col(c, 5, "flags", "set", "");
    assert_int_equal(fx.out.rows.nkey, 2);
    assert_string_equal(fx.out.rows.key[0], "k1");
    assert_string_equal(fx.out.rows.key[1], "k2");
}

/* MariaDB counts YEAR among the signedness bits, MySQL does not: the
 * column after it must keep its own bit. */
static const struct tcol year_cols[] = {
    {"y", T_YEAR, {0}, 0, true, 0, NULL, 0, -1},
    {"a", T_LONG, {0}, 0, true, 0, NULL, 0, -1},
    {"b", T_LONG, {0}, 0, false, 0, NULL, 0, -1},
};

static void test_signedness_year(void **state)
{
    (void)state;
    for (int mariadb = 0; mariadb < 2; mariadb++) {
        start(mariadb);
        struct ttab t = {.id = 9,
                         .schema = "s",
                         .table = "y",
                         .cols = year_cols,
                         .ncols = 3,
                         .names = true,
                         .minimal = true};
        make_table_map(&fx.ev, &t, mariadb);
        ev_end(&fx.ev, true, 100);
        dec_ok(&fx.ev);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, 9, 1, 3, NULL, NULL);
        img_reset(&fx.img[0]);
        img_le(&fx.img[0], 0, 1);
        img_le(&fx.img[0], 0xFFFFFFFFu, 4);
        img_le(&fx.img[0], 0xFFFFFFFFu, 4);
        put_image(&fx.ev, &fx.img[0], 3, NULL);
        ev_end(&fx.ev, true, 200);
        dec_ok(&fx.ev);
        const struct cdc_col *c = fx.out.rows.rows[0].after;
        expect_col(c, 3, "y", "year", "0000");
        expect_col(c, 3, "a", "int unsigned", "4294967295");
        expect_col(c, 3, "b", "int", "-1");
    }
}

static void test_table_map_malformed(void **state)
{
    (void)state;
    start(false);
    make_table_map(&fx.ev, &all_tab, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    /* the same id mapped again, badly: the old map must not stay */
    make_table_map(&fx.ev, &all_tab, false);
    size_t meta_len_at = 8 + 19 + 1 + 3 + 1 + 11 + 1 + ALL_NCOLS;
    fx.ev.data[meta_len_at] = (char)250;
    ev_end(&fx.ev, true, 100);
    dec_fails(&fx.ev, "TABLE_MAP_EVENT ending at 100");
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, all_tab.id, 1, ALL_NCOLS, NULL,
               NULL);
    fill_row_a(&fx.img[0]);
    put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
    ev_end(&fx.ev, true, 5000);
    dec_fails(&fx.ev, "no table map for table id 4294967306");

    /* a type with no known metadata size: rows are refused by name */
    static const struct tcol odd[] = {
        {"a", T_LONG, {0}, 0, false, 0, NULL, 0, -1},
        {"v", 242, {4}, 1, false, 0, NULL, 0, -1},
    };
    struct ttab t = {
        .id = 3, .schema = "s", .table = "odd", .cols = odd, .ncols = 2};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_true(fx.out.table_map.names_missing);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 3, 1, 2, NULL, NULL);
    img_reset(&fx.img[0]);
    img_le(&fx.img[0], 1, 4);
    img_str(&fx.img[0], 4, "abcd", 4);
    put_image(&fx.ev, &fx.img[0], 2, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "column 2: type 242");
    assert_non_null(strstr(fx.err.msg, "table \"s\".\"odd\""));

    /* a decimal precision beyond 65 */
    static const struct tcol dec70[] = {
        {"x", T_NEWDECIMAL, {70, 2}, 2, false, 0, NULL, 0, -1},
    };
    t = (struct ttab){
        .id = 4, .schema = "s", .table = "d", .cols = dec70, .ncols = 1};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 4, 1, 1, NULL, NULL);
    w_le(&fx.ev, 1, 1); /* NULL */
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "not supported");
}

/* A table seen again under a new id replaces the old id. */
static void test_table_id_change(void **state)
{
    (void)state;
    start(true);
    struct ttab t = {.id = 5,
                     .schema = "s",
                     .table = "y",
                     .cols = year_cols,
                     .ncols = 3,
                     .names = true,
                     .minimal = true};
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    t.id = 6;
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    rows_begin(&fx.ev, BINLOG_T_DELETE_ROWS_V1, 5, 1, 3, NULL, NULL);
    w_le(&fx.ev, 7, 1); /* all NULL */
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "no table map for table id 5");
    rows_begin(&fx.ev, BINLOG_T_DELETE_ROWS_V1, 6, 1, 3, NULL, NULL);
    w_le(&fx.ev, 7, 1);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    expect_col(fx.out.rows.rows[0].before, 3, "a", "int unsigned", NULL);

    /* many tables: the id index grows */
    for (uint64_t id = 100; id < 400; id++) {
        char name[16];
        snprintf(name, sizeof(name), "t%u", (unsigned)id);
        t.id = id;
        t.table = name;
        make_table_map(&fx.ev, &t, true);
        ev_end(&fx.ev, true, 100);
        dec_ok(&fx.ev);
    }
    for (uint64_t id = 100; id < 400; id += 37) {
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, id, 1, 3, NULL, NULL);
        w_le(&fx.ev, 7, 1);
        ev_end(&fx.ev, true, 200);
        dec_ok(&fx.ev);
        char name[16];
        snprintf(name, sizeof(name), "t%u", (unsigned)id);
        assert_string_equal(fx.out.rows.table, name);
    }
    source_binlog_reset(fx.b);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, 100, 1, 3, NULL, NULL);
    w_le(&fx.ev, 7, 1);
    ev_end(&fx.ev, false, 200);
    dec_fails(&fx.ev, "no table map");
}

/* Rows of a statement that touched no table end with a marker event. */
static void test_statement_end_marker(void **state)
{
    (void)state;
    start(false);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, UINT64_C(0xFFFFFFFFFFFF), 1, 0,
               NULL, NULL);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.kind, BINLOG_OTHER);
}

/* A server before 5.1.4: 4-byte table ids, no checksums. */
static void test_short_table_id(void **state)
{
    (void)state;
    uint8_t posts[sizeof(post_lens)];
    memcpy(posts, post_lens, sizeof(posts));
    posts[BINLOG_T_TABLE_MAP - 1] = 6;
    posts[BINLOG_T_WRITE_ROWS_V1 - 1] = 6;
    make_fde(&fx.ev, "5.1.3-beta", -1, 0, posts, sizeof(posts));
    dec_ok(&fx.ev);
    ev_begin(&fx.ev, BINLOG_T_TABLE_MAP);
    w_le(&fx.ev, 0x01020304, 4);
    w_le(&fx.ev, 0, 2);
    w_le(&fx.ev, 1, 1);
    w_bytes(&fx.ev, "s", 2);
    w_le(&fx.ev, 1, 1);
    w_bytes(&fx.ev, "t", 2);
    w_packed(&fx.ev, 1);
    w_le(&fx.ev, T_LONG, 1);
    w_packed(&fx.ev, 0);
    w_le(&fx.ev, 1, 1);
    ev_end(&fx.ev, false, 100);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.table_map.table_id, 0x01020304);
    ev_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1);
    w_le(&fx.ev, 0x01020304, 4);
    w_le(&fx.ev, 1, 2);
    w_packed(&fx.ev, 1);
    w_le(&fx.ev, 1, 1);
    w_le(&fx.ev, 0, 1);
    w_le(&fx.ev, 0xFFFFFFFFu, 4);
    ev_end(&fx.ev, false, 200);
    dec_ok(&fx.ev);
    expect_col(fx.out.rows.rows[0].after, 1, "@1", "int", "-1");
}

/* ==== Values ==== */

/* A one-column table of the given type, and one row of it. */
static void one_column(uint64_t id, const struct tcol *col, bool minimal)
{
    struct ttab t = {.id = id,
                     .schema = "s",
                     .table = "one",
                     .cols = col,
                     .ncols = 1,
                     .names = true,
                     .minimal = minimal};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
}

static const struct cdc_col *one_value(uint64_t id, struct img *m)
{
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, id, 1, 1, NULL, NULL);
    put_image(&fx.ev, m, 1, NULL);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    return &fx.out.rows.rows[0].after[0];
}

static void test_decimals(void **state)
{
    (void)state;
    start(false);
    static const struct {
        unsigned p, s;
        const char *v;
        const char *want;
    } cases[] = {
        {10, 2, "-3.00", "-3.00"},
        {10, 2, "12.50", "12.50"},
        {10, 2, "0.00", "0.00"},
        {10, 2, "-0.05", "-0.05"},
        {20, 6, "-0.000001", "-0.000001"},
        {5, 0, "99999", "99999"},
        {5, 0, "-1", "-1"},
        {9, 9, "0.123456789", "0.123456789"},
        {18, 9, "-123456789.987654321", "-123456789.987654321"},
        {30, 10, "12345678901234567890.0123456789",
         "12345678901234567890.0123456789"},
        {65, 30,
         "-99999999999999999999999999999999999.999999999999999999999999999999",
         "-99999999999999999999999999999999999.999999999999999999999999999999"},
        {14, 4, "0000000012.3400", "12.3400"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        struct tcol col = {"x",
                           T_NEWDECIMAL,
                           {(uint8_t)cases[i].p, (uint8_t)cases[i].s},
                           2,
                           false,
                           0,
                           NULL,
                           0,
                           -1};
        one_column(10 + i, &col, false);
        img_reset(&fx.img[0]);
        img_decimal(&fx.img[0], cases[i].v, cases[i].p, cases[i].s);
        const struct cdc_col *c = one_value(10 + i, &fx.img[0]);
        assert_string_equal(c->value, cases[i].want);
        char type[32];
        snprintf(type, sizeof(type), "decimal(%u,%u)", cases[i].p, cases[i].s);
        assert_string_equal(c->type, type);
    }
    /* every precision and scale: digits 1..9 repeated, both signs */
    uint64_t id = 100;
    for (unsigned p = 1; p <= 65; p++) {
        for (unsigned s = 0; s <= p && s <= 30; s += (p > 20 ? 7 : 1)) {
            char v[80];
            size_t o = 0;
            if (p % 2)
                v[o++] = '-';
            for (unsigned k = 0; k < p - s; k++)
                v[o++] = (char)('1' + k % 9);
            if (p == s)
                v[o++] = '0';
            if (s > 0) {
                v[o++] = '.';
                for (unsigned k = 0; k < s; k++)
                    v[o++] = (char)('9' - k % 9);
            }
            v[o] = '\0';
            struct tcol col = {"x",
                               T_NEWDECIMAL,
                               {(uint8_t)p, (uint8_t)s},
                               2,
                               false,
                               0,
                               NULL,
                               0,
                               -1};
            one_column(id, &col, false);
            img_reset(&fx.img[0]);
            img_decimal(&fx.img[0], v, p, s);
            const struct cdc_col *c = one_value(id, &fx.img[0]);
            if (strcmp(c->value, v) != 0)
                fail_msg("decimal(%u,%u): \"%s\", expected \"%s\"", p, s,
                         c->value, v);
            id++;
        }
    }
    /* a digit group of ten digits is malformed */
    struct tcol col = {"x", T_NEWDECIMAL, {9, 0}, 2, false, 0, NULL, 0, -1};
    one_column(1, &col, false);
    img_reset(&fx.img[0]);
    img_be(&fx.img[0], 0x80000000u | 1000000000u, 4);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 1, NULL, NULL);
    put_image(&fx.ev, &fx.img[0], 1, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "column \"x\": decimal(9,0) digits malformed");
}

static void test_reals(void **state)
{
    (void)state;
    start(false);
    static const struct {
        double d;
        const char *want;
    } dbl[] = {
        {0.1, "0.1"},
        {-2.5, "-2.5"},
        {100000, "100000"},
        {123.456, "123.456"},
        {1e15, "1e+15"},
        {123456789012345.0, "123456789012345"},
        {1e300, "1e+300"},
        {-1.7976931348623157e308, "-1.7976931348623157e+308"},
        {5e-324, "5e-324"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1.0 / 3, "0.3333333333333333"},
        {0.0, "0"},
        {-0.0, "-0"},
    };
    struct tcol dcol = {"x", T_DOUBLE, {8}, 1, false, 0, NULL, 0, -1};
    one_column(1, &dcol, false);
    for (size_t i = 0; i < NELEMS(dbl); i++) {
        img_reset(&fx.img[0]);
        img_double(&fx.img[0], dbl[i].d);
        const struct cdc_col *c = one_value(1, &fx.img[0]);
        assert_string_equal(c->value, dbl[i].want);
        assert_true(strtod(c->value, NULL) == dbl[i].d);
    }
    static const struct {
        float f;
        const char *want;
    } flt[] = {
        {0.1f, "0.1"},          {1.5f, "1.5"},
        {-2.5e-5f, "-2.5e-05"}, {16777216.0f, "1.6777216e+07"},
        {123456.0f, "123456"},  {3.4028235e38f, "3.4028235e+38"},
    };
    struct tcol fcol = {"x", T_FLOAT, {4}, 1, false, 0, NULL, 0, -1};
    one_column(2, &fcol, false);
    for (size_t i = 0; i < NELEMS(flt); i++) {
        img_reset(&fx.img[0]);
        img_float(&fx.img[0], flt[i].f);
        const struct cdc_col *c = one_value(2, &fx.img[0]);
        assert_string_equal(c->value, flt[i].want);
        assert_true(strtof(c->value, NULL) == flt[i].f);
    }
    /* many values: the text reads back, and one digit less would not */
    uint32_t seed = 12345;
    for (int k = 0; k < 2000; k++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t bits = ((uint64_t)seed << 32) ^ (seed * 2654435761u);
        double d;
        memcpy(&d, &bits, 8);
        if (d != d || d - d != 0)
            continue;
        img_reset(&fx.img[0]);
        img_double(&fx.img[0], d);
        one_column(1, &dcol, false);
        const struct cdc_col *c = one_value(1, &fx.img[0]);
        assert_true(strtod(c->value, NULL) == d);
        /* significant digits: no leading or trailing zeros */
        char sig[64];
        size_t digits = 0;
        for (const char *p = c->value; *p && *p != 'e'; p++) {
            if ((*p >= '1' && *p <= '9') || (*p == '0' && digits > 0))
                sig[digits++] = *p;
        }
        while (digits > 0 && sig[digits - 1] == '0')
            digits--;
        char shorter[64];
        if (digits > 1) {
            snprintf(shorter, sizeof(shorter), "%.*e", (int)digits - 2, d);
            assert_false(strtod(shorter, NULL) == d);
        }
    }
    /* NaN cannot come from MySQL */
    img_reset(&fx.img[0]);
    img_le(&fx.img[0], UINT64_C(0x7FF8000000000000), 8);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 1, NULL, NULL);
    put_image(&fx.ev, &fx.img[0], 1, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "not finite");
}

static void test_temporal(void **state)
{
    (void)state;
    start(false);
    uint64_t id = 1;
    /* TIME2 with every fraction length, both signs */
    static const struct {
        bool neg;
        unsigned h, m, s;
        uint32_t us;
        unsigned fsp;
        const char *want;
    } times[] = {
        {false, 0, 0, 0, 0, 0, "00:00:00"},
        {true, 838, 59, 59, 0, 0, "-838:59:59"},
        {false, 838, 59, 59, 0, 0, "838:59:59"},
        {false, 1, 2, 3, 500000, 1, "01:02:03.5"},
        {true, 1, 2, 3, 500000, 1, "-01:02:03.5"},
        {true, 0, 0, 0, 10000, 2, "-00:00:00.01"},
        {false, 12, 34, 56, 789000, 3, "12:34:56.789"},
        {true, 12, 34, 56, 789000, 3, "-12:34:56.789"},
        {true, 0, 0, 0, 500000, 3, "-00:00:00.500"},
        {true, 0, 0, 1, 100, 4, "-00:00:01.0001"},
        {false, 23, 59, 59, 999990, 5, "23:59:59.99999"},
        {true, 0, 0, 1, 1, 6, "-00:00:01.000001"},
        {false, 10, 0, 0, 999999, 6, "10:00:00.999999"},
    };
    for (size_t i = 0; i < NELEMS(times); i++, id++) {
        struct tcol col = {
            "x", T_TIME2, {(uint8_t)times[i].fsp}, 1, false, 0, NULL, 0, -1};
        one_column(id, &col, false);
        img_reset(&fx.img[0]);
        img_time2(&fx.img[0], times[i].neg, times[i].h, times[i].m, times[i].s,
                  times[i].us, times[i].fsp);
        const struct cdc_col *c = one_value(id, &fx.img[0]);
        assert_string_equal(c->value, times[i].want);
    }
    /* DATETIME2 */
    static const struct {
        unsigned y, mo, d, h, mi, s;
        uint32_t us;
        unsigned fsp;
        const char *want;
    } dts[] = {
        {0, 0, 0, 0, 0, 0, 0, 0, "0000-00-00 00:00:00"},
        {0, 0, 0, 0, 0, 0, 0, 6, "0000-00-00 00:00:00.000000"},
        {2024, 2, 29, 12, 0, 1, 0, 0, "2024-02-29 12:00:01"},
        {1000, 1, 1, 0, 0, 0, 100000, 1, "1000-01-01 00:00:00.1"},
        {2024, 1, 2, 3, 4, 5, 678000, 3, "2024-01-02 03:04:05.678"},
        {2024, 1, 2, 3, 4, 5, 678900, 4, "2024-01-02 03:04:05.6789"},
        {9999, 12, 31, 23, 59, 59, 999999, 6, "9999-12-31 23:59:59.999999"},
    };
    for (size_t i = 0; i < NELEMS(dts); i++, id++) {
        struct tcol col = {
            "x", T_DATETIME2, {(uint8_t)dts[i].fsp}, 1, false, 0, NULL, 0, -1};
        one_column(id, &col, false);
        img_reset(&fx.img[0]);
        img_datetime2(&fx.img[0], dts[i].y, dts[i].mo, dts[i].d, dts[i].h,
                      dts[i].mi, dts[i].s, dts[i].us, dts[i].fsp);
        const struct cdc_col *c = one_value(id, &fx.img[0]);
        assert_string_equal(c->value, dts[i].want);
    }
    /* TIMESTAMP2 in UTC */
    static const struct {
        uint32_t sec, us;
        unsigned fsp;
        const char *want;
    } tss[] = {
        {0, 0, 0, "0000-00-00 00:00:00+00"},
        {0, 0, 3, "0000-00-00 00:00:00.000+00"},
        {1, 0, 0, "1970-01-01 00:00:01+00"},
        {951782400, 0, 0, "2000-02-29 00:00:00+00"},
        {1704164645, 0, 0, "2024-01-02 03:04:05+00"},
        {1704164645, 120000, 2, "2024-01-02 03:04:05.12+00"},
        {1704164645, 678000, 3, "2024-01-02 03:04:05.678+00"},
        {2147483647, 999999, 6, "2038-01-19 03:14:07.999999+00"},
        {4294967295u, 0, 0, "2106-02-07 06:28:15+00"},
    };
    for (size_t i = 0; i < NELEMS(tss); i++, id++) {
        struct tcol col = {
            "x", T_TIMESTAMP2, {(uint8_t)tss[i].fsp}, 1, false, 0, NULL, 0, -1};
        one_column(id, &col, false);
        img_reset(&fx.img[0]);
        img_timestamp2(&fx.img[0], tss[i].sec, tss[i].us, tss[i].fsp);
        const struct cdc_col *c = one_value(id, &fx.img[0]);
        assert_string_equal(c->value, tss[i].want);
    }
    /* the types before MySQL 5.6, DATE and YEAR */
    struct tcol old[] = {
        {"t", T_TIME, {0}, 0, false, 0, NULL, 0, -1},
        {"dt", T_DATETIME, {0}, 0, false, 0, NULL, 0, -1},
        {"ts", T_TIMESTAMP, {0}, 0, false, 0, NULL, 0, -1},
        {"d", T_DATE, {0}, 0, false, 0, NULL, 0, -1},
        {"y", T_YEAR, {0}, 0, false, 0, NULL, 0, -1},
        {"d0", T_DATE, {0}, 0, false, 0, NULL, 0, -1},
        {"y0", T_YEAR, {0}, 0, false, 0, NULL, 0, -1},
    };
    struct ttab t = {.id = 500,
                     .schema = "s",
                     .table = "old",
                     .cols = old,
                     .ncols = NELEMS(old),
                     .names = true};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    struct img *m = &fx.img[0];
    img_reset(m);
    img_le(m, (uint32_t)-1234556 & 0xFFFFFF, 3);
    img_le(m, UINT64_C(20240102030405), 8);
    img_le(m, 1704164645, 4);
    img_date(m, 1999, 12, 31);
    img_le(m, 255, 1);
    img_le(m, 0, 3);
    img_le(m, 0, 1);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 500, 1, NELEMS(old), NULL, NULL);
    put_image(&fx.ev, m, NELEMS(old), NULL);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    const struct cdc_col *c = fx.out.rows.rows[0].after;
    expect_col(c, NELEMS(old), "t", "time", "-123:45:56");
    expect_col(c, NELEMS(old), "dt", "datetime", "2024-01-02 03:04:05");
    expect_col(c, NELEMS(old), "ts", "timestamp", "2024-01-02 03:04:05+00");
    expect_col(c, NELEMS(old), "d", "date", "1999-12-31");
    expect_col(c, NELEMS(old), "y", "year", "2155");
    expect_col(c, NELEMS(old), "d0", "date", "0000-00-00");
    expect_col(c, NELEMS(old), "y0", "year", "0000");
}

static void test_strings(void **state)
{
    (void)state;
    start(false);
    static const struct {
        uint32_t cs;
        const char *in;
        size_t n;
        const char *want;
    } ok[] = {
        {8, "h\xe9llo", 5, "h\xc3\xa9llo"},
        {8, "\x80\x81\x8d\x9f\xff", 5,
         "\xe2\x82\xac\xc2\x81\xc2\x8d\xc5\xb8\xc3\xbf"},
        {47, "\xa0", 1, "\xc2\xa0"},
        {1032, "\xe9", 1, "\xc3\xa9"},
        {11, "plain", 5, "plain"},
        {45, "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80"},
        {33, "\xc3\xb1", 2, "\xc3\xb1"},
        {255, "x", 1, "x"},
        {2304, "x", 1, "x"},
        {35, "\x01\x5d", 2, "\xc5\x9d"},
        {54, "\xd8\x3d\xde\x00", 4, "\xf0\x9f\x98\x80"},
        {56, "\x3d\xd8\x00\xde", 4, "\xf0\x9f\x98\x80"},
        {60, "\x00\x01\xf6\x00", 4, "\xf0\x9f\x98\x80"},
        {63, "\x00\x01\x02\xff", 4, "AAEC/w=="},
        {63, "", 0, ""},
        {45, "", 0, ""},
    };
    uint64_t id = 1;
    for (size_t i = 0; i < NELEMS(ok); i++, id++) {
        struct tcol col = {"x",      T_VARCHAR, {200, 0}, 2, false,
                           ok[i].cs, NULL,      0,        -1};
        one_column(id, &col, true);
        img_reset(&fx.img[0]);
        img_str(&fx.img[0], 1, ok[i].in, ok[i].n);
        const struct cdc_col *c = one_value(id, &fx.img[0]);
        assert_string_equal(c->value, ok[i].want);
        assert_int_equal(c->value_len, strlen(ok[i].want));
        assert_string_equal(c->type, ok[i].cs == 63 ? "varbinary" : "varchar");
    }
    /* values a character set cannot hold, and sets not converted here */
    static const struct {
        uint32_t cs;
        const char *in;
        size_t n;
        const char *msg;
    } bad[] = {
        {45, "\xc3", 1, "collation 45 (byte 0)"},
        {45, "a\xed\xa0\x80", 4, "collation 45 (byte 1)"},
        {45, "ab\xc0\xaf", 4, "collation 45 (byte 2)"},
        {11, "\x80", 1, "collation 11"},
        {35, "\xd8\x3d", 2, "collation 35"},
        {54, "\xdc\x00", 2, "collation 54"},
        {60, "\x00\x11\x00\x00", 4, "collation 60"},
        {28, "x", 1, "collation 28 is not supported"},
        {0, "\xff", 1, "character set not known"},
    };
    for (size_t i = 0; i < NELEMS(bad); i++, id++) {
        struct tcol col = {"name",    T_VARCHAR, {200, 0}, 2, false,
                           bad[i].cs, NULL,      0,        -1};
        one_column(id, &col, bad[i].cs != 0);
        img_reset(&fx.img[0]);
        img_str(&fx.img[0], 1, bad[i].in, bad[i].n);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, id, 1, 1, NULL, NULL);
        put_image(&fx.ev, &fx.img[0], 1, NULL);
        ev_end(&fx.ev, true, 200);
        dec_fails(&fx.ev, bad[i].msg);
        assert_non_null(
            strstr(fx.err.msg, "table \"s\".\"one\" column \"name\""));
    }
    /* BINARY(n) gets its trailing zero bytes back; CHAR keeps what came */
    struct tcol bin = {"x", T_STRING, {T_STRING, 6}, 2, false, 63, NULL, 0, -1};
    one_column(id, &bin, true);
    img_reset(&fx.img[0]);
    img_str(&fx.img[0], 1, "a", 1);
    assert_string_equal(one_value(id, &fx.img[0])->value, "YQAAAAAA");
    id++;
    struct tcol chr = {"x", T_STRING, {T_STRING, 40}, 2, false, 45, NULL,
                       0,   -1};
    one_column(id, &chr, true);
    img_reset(&fx.img[0]);
    img_str(&fx.img[0], 1, "a", 1);
    assert_string_equal(one_value(id, &fx.img[0])->value, "a");
    id++;
    /* blob and text lengths of 1 to 4 bytes */
    static const char *const names[2][4] = {
        {"tinyblob", "blob", "mediumblob", "longblob"},
        {"tinytext", "text", "mediumtext", "longtext"}};
    for (uint8_t w = 1; w <= 4; w++) {
        for (int text = 0; text < 2; text++, id++) {
            struct tcol col = {"x",  T_BLOB, {w}, 1, false, text ? 45 : 63,
                               NULL, 0,      -1};
            one_column(id, &col, true);
            img_reset(&fx.img[0]);
            img_str(&fx.img[0], w, "hey", 3);
            const struct cdc_col *c = one_value(id, &fx.img[0]);
            assert_string_equal(c->type, names[text][w - 1]);
            assert_string_equal(c->value, text ? "hey" : "aGV5");
        }
    }
    /* a length past the end of the row */
    struct tcol vc = {"x", T_VARCHAR, {200, 0}, 2, false, 45, NULL, 0, -1};
    one_column(id, &vc, true);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, id, 1, 1, NULL, NULL);
    w_le(&fx.ev, 0, 1);
    w_le(&fx.ev, 10, 1);
    w_bytes(&fx.ev, "abc", 3);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "value of 10 bytes past the end");
}

static const char *const size_members[] = {"s", "m", "l"};
static const char *const many_members[] = {"a", "b", "c", "d", "e",
                                           "f", "g", "h", "i", "j"};

static void test_enum_set_bit(void **state)
{
    (void)state;
    start(false);
    static const struct tcol cols[] = {
        {"e", T_STRING, {T_ENUM, 1}, 2, false, 45, size_members, 3, -1},
        {"e2", T_STRING, {T_ENUM, 2}, 2, false, 45, size_members, 3, -1},
        {"s", T_STRING, {T_SET, 2}, 2, false, 45, many_members, 10, -1},
        {"b1", T_BIT, {1, 0}, 2, false, 0, NULL, 0, -1},
        {"b8", T_BIT, {0, 1}, 2, false, 0, NULL, 0, -1},
        {"b64", T_BIT, {0, 8}, 2, false, 0, NULL, 0, -1},
    };
    for (int names = 1; names >= 0; names--) {
        struct ttab t = {.id = 1,
                         .schema = "s",
                         .table = "es",
                         .cols = cols,
                         .ncols = NELEMS(cols),
                         .names = names,
                         .minimal = true};
        make_table_map(&fx.ev, &t, false);
        ev_end(&fx.ev, true, 100);
        dec_ok(&fx.ev);
        assert_int_equal(fx.out.table_map.names_missing, !names);
        struct img *m = &fx.img[0];
        img_reset(m);
        img_le(m, 3, 1);
        img_le(m, 0, 2);
        img_le(m, 0x201, 2);
        img_be(m, 1, 1);
        img_be(m, 0xA5, 1);
        img_be(m, UINT64_C(0x8000000000000001), 8);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, NELEMS(cols), NULL, NULL);
        put_image(&fx.ev, m, NELEMS(cols), NULL);
        ev_end(&fx.ev, true, 200);
        dec_ok(&fx.ev);
        const struct cdc_col *c = fx.out.rows.rows[0].after;
        size_t n = NELEMS(cols);
        if (names) {
            assert_false(fx.out.rows.enum_as_index);
            expect_col(c, n, "e", "enum", "l");
            expect_col(c, n, "e2", "enum", "");
            expect_col(c, n, "s", "set", "a,j");
            expect_col(c, n, "b1", "bit(1)", "1");
            expect_col(c, n, "b8", "bit(8)", "10100101");
            expect_col(c, n, "b64", "bit(64)",
                       "1000000000000000000000000000000000000000000000000000"
                       "000000000001");
        } else {
            assert_true(fx.out.rows.names_missing);
            assert_true(fx.out.rows.enum_as_index);
            expect_col(c, n, "@1", "enum", "3");
            expect_col(c, n, "@2", "enum", "0");
            expect_col(c, n, "@3", "set", "513");
            expect_col(c, n, "@5", "bit(8)", "10100101");
        }
    }
    /* an index or bit beyond the members */
    struct ttab t = {.id = 1,
                     .schema = "s",
                     .table = "es",
                     .cols = cols,
                     .ncols = NELEMS(cols),
                     .names = true,
                     .minimal = true};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    for (int k = 0; k < 2; k++) {
        struct img *m = &fx.img[0];
        img_reset(m);
        img_le(m, k == 0 ? 4 : 1, 1);
        img_le(m, 1, 2);
        img_le(m, k == 0 ? 1 : 0x400, 2);
        img_be(m, 1, 1);
        img_be(m, 1, 1);
        img_be(m, 1, 8);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, NELEMS(cols), NULL, NULL);
        put_image(&fx.ev, m, NELEMS(cols), NULL);
        ev_end(&fx.ev, true, 200);
        dec_fails(&fx.ev, k == 0 ? "enum index 4 beyond its 3 members"
                                 : "set bit 10 beyond its 10 members");
    }
}

/* ==== JSON ==== */

static void test_json(void **state)
{
    (void)state;
    start(false);
    struct tcol col = {"j", T_JSON, {4}, 1, false, 0, NULL, 0, -1};
    one_column(1, &col, false);

    /* opaque payloads: packed datetime 2015-01-15 23:24:25, packed time
     * -12:34:56.5, decimal(4,2) 12.50 */
    uint8_t dt[8];
    int64_t ymd = ((int64_t)(2015 * 13 + 1) << 5) | 15;
    int64_t hms = (23 << 12) | (24 << 6) | 25;
    uint64_t packed = (uint64_t)(((ymd << 17) | hms) << 24);
    for (int i = 0; i < 8; i++)
        dt[i] = (uint8_t)(packed >> (8 * i));
    uint8_t tm[8];
    int64_t tp = -((((int64_t)(12 << 12) | (34 << 6) | 56) << 24) + 500000);
    for (int i = 0; i < 8; i++)
        tm[i] = (uint8_t)((uint64_t)tp >> (8 * i));
    uint8_t dec[8] = {4, 2};
    size_t decn = 2 + enc_decimal("12.50", 4, 2, dec + 2);

    const struct jn large_arr[] = {{.kind = J_I32, .i = -7},
                                   {.kind = J_STR, .s = "s"}};
    const struct jn large_kids[] = {
        {.kind = J_I32, .key = "k", .i = 70000},
        {.kind = J_U32, .key = "u", .u = 4000000000u},
        {.kind = J_ARR,
         .key = "arr",
         .large = true,
         .kids = large_arr,
         .nkids = 2},
    };
    const struct jn small_ints[] = {
        {.kind = J_I16, .i = -5},
        {.kind = J_U16, .u = 65535},
        {.kind = J_I32, .i = -100000},
        {.kind = J_U32, .u = 4000000000u},
        {.kind = J_FALSE},
        {.kind = J_NULL},
    };
    const struct jn opaques[] = {
        {.kind = J_OPQ, .otype = 12, .odata = dt, .olen = 8},
        {.kind = J_OPQ, .otype = 10, .odata = dt, .olen = 8},
        {.kind = J_OPQ, .otype = 7, .odata = dt, .olen = 8},
        {.kind = J_OPQ, .otype = 11, .odata = tm, .olen = 8},
        {.kind = J_OPQ, .otype = 246, .odata = dec, .olen = decn},
        {.kind = J_OPQ, .otype = 15, .odata = (const uint8_t *)"ab", .olen = 2},
    };
    const struct jn empty_obj = {.kind = J_OBJ};
    const struct jn empty_arr = {.kind = J_ARR, .large = true};
    const struct jn nested_kids[] = {
        {.kind = J_OBJ, .key = "", .kids = NULL, .nkids = 0},
        {.kind = J_STR, .key = "q\"\\", .s = "tab\there \xc3\xa9 \x01"},
    };
    const struct {
        struct jn doc;
        const char *want;
    } cases[] = {
        {doc_a, DOC_A_TEXT},
        {{.kind = J_I16, .i = -5}, "-5"},
        {{.kind = J_U16, .u = 65535}, "65535"},
        {{.kind = J_I32, .i = -100000}, "-100000"},
        {{.kind = J_U32, .u = 4000000000u}, "4000000000"},
        {{.kind = J_I64, .i = INT64_MIN}, "-9223372036854775808"},
        {{.kind = J_U64, .u = UINT64_MAX}, "18446744073709551615"},
        {{.kind = J_DBL, .d = 1e300}, "1e+300"},
        {{.kind = J_DBL, .d = -0.25}, "-0.25"},
        {{.kind = J_STR, .s = "\xc3\xa9\"\n"}, "\"\xc3\xa9\\\"\\n\""},
        {{.kind = J_TRUE}, "true"},
        {{.kind = J_FALSE}, "false"},
        {{.kind = J_NULL}, "null"},
        {empty_obj, "{}"},
        {empty_arr, "[]"},
        {{.kind = J_OBJ, .large = true, .kids = large_kids, .nkids = 3},
         "{\"k\": 70000, \"u\": 4000000000, \"arr\": [-7, \"s\"]}"},
        {{.kind = J_ARR, .kids = small_ints, .nkids = 6},
         "[-5, 65535, -100000, 4000000000, false, null]"},
        {{.kind = J_ARR, .kids = opaques, .nkids = 6},
         "[\"2015-01-15 23:24:25.000000\", \"2015-01-15\", "
         "\"2015-01-15 23:24:25.000000\", \"-12:34:56.500000\", 12.50, "
         "\"base64:type15:YWI=\"]"},
        {{.kind = J_OBJ, .kids = nested_kids, .nkids = 2},
         "{\"\": {}, \"q\\\"\\\\\": \"tab\\there \xc3\xa9 \\u0001\"}"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        jdoc(&fx.doc, &cases[i].doc);
        img_reset(&fx.img[0]);
        img_str(&fx.img[0], 4, fx.doc.data, fx.doc.len);
        const struct cdc_col *c = one_value(1, &fx.img[0]);
        assert_string_equal(c->type, "json");
        assert_string_equal(c->value, cases[i].want);
    }
    /* an empty value is JSON null */
    img_reset(&fx.img[0]);
    img_str(&fx.img[0], 4, "", 0);
    assert_string_equal(one_value(1, &fx.img[0])->value, "null");

    /* nested 60 deep is fine, 150 deep is not */
    for (int depth = 60; depth <= 150; depth += 90) {
        struct jn *chain = cdc_xcalloc((size_t)depth + 1, sizeof(*chain));
        for (int k = 0; k < depth; k++) {
            chain[k].kind = J_ARR;
            chain[k].kids = &chain[k + 1];
            chain[k].nkids = 1;
        }
        chain[depth].kind = J_I64;
        chain[depth].i = 1;
        jdoc(&fx.doc, &chain[0]);
        cdc_free(chain);
        img_reset(&fx.img[0]);
        img_str(&fx.img[0], 4, fx.doc.data, fx.doc.len);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 1, NULL, NULL);
        put_image(&fx.ev, &fx.img[0], 1, NULL);
        ev_end(&fx.ev, true, 200);
        if (depth == 60)
            dec_ok(&fx.ev);
        else
            dec_fails(&fx.ev, "nested too deeply");
    }

    /* entries that all point at the same nested arrays: 200^3 values from
     * a document of 1.2 KB must fail fast, not expand */
    cdc_buf_reset(&fx.doc);
    w_le(&fx.doc, 2, 1);
    for (int level = 0; level < 3; level++) {
        /* count, size (below), then 200 entries of the next level, which
         * starts right after them */
        w_le(&fx.doc, 200, 2);
        w_le(&fx.doc, 0, 2);
        for (int k = 0; k < 200; k++) {
            w_le(&fx.doc, level < 2 ? 2 : 9, 1);
            w_le(&fx.doc, 4 + 200 * 3, 2);
        }
    }
    w_le(&fx.doc, 1, 8);
    /* sizes: each array spans to the end */
    size_t total = fx.doc.len - 1;
    for (int level = 0; level < 3; level++)
        patch_le(&fx.doc, 1 + (size_t)level * 604 + 2,
                 total - (size_t)level * 604, 2);
    img_reset(&fx.img[0]);
    img_str(&fx.img[0], 4, fx.doc.data, fx.doc.len);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 1, NULL, NULL);
    put_image(&fx.ev, &fx.img[0], 1, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "binary JSON");

    /* malformed documents */
    static const struct {
        const char *bytes;
        size_t n;
        const char *msg;
    } bad[] = {
        {"\x0c\x05"
         "ab",
         4, "string length"},
        {"\x0c\x02\xff\xfe", 4, "not valid UTF-8"},
        {"\x04\x07", 2, "unknown literal"},
        {"\x0d\x00", 2, "unknown value type"},
        {"\x09\x01\x02", 3, "integer truncated"},
        {"\x0b\x00\x00\x00\x00\x00\x00\xf8\x7f", 9, "not finite"},
        {"\x00\x01\x00\x20\x00", 5, "size beyond"},
        {"\x02\x01\x00\x07\x00\x0c\x01\x00", 8, "value beyond"},
        {"\x00\x01\x00\x0b\x00\x01\x00\x01\x00\x04\x01\x00", 12, "key beyond"},
        {"\x0f\x0c\x08\x00", 4, "opaque value length"},
        {"\x0f\x0c\x02\x00\x00", 5, "date or time malformed"},
        {"\x0f\xf6\x03\x04\x02\x80", 6, "decimal malformed"},
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        img_reset(&fx.img[0]);
        img_str(&fx.img[0], 4, bad[i].bytes, bad[i].n);
        rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 1, NULL, NULL);
        put_image(&fx.ev, &fx.img[0], 1, NULL);
        ev_end(&fx.ev, true, 200);
        dec_fails(&fx.ev, bad[i].msg);
        assert_non_null(strstr(fx.err.msg, "column \"j\""));
    }
}

static void test_geometry(void **state)
{
    (void)state;
    start(false);
    static const struct tcol cols[] = {
        {"g", T_GEOMETRY, {4}, 1, false, 63, NULL, 0, 0},
        {"p", T_GEOMETRY, {4}, 1, false, 63, NULL, 0, 1},
        {"l", T_GEOMETRY, {4}, 1, false, 63, NULL, 0, 2},
        {"c", T_GEOMETRY, {4}, 1, false, 63, NULL, 0, 7},
    };
    struct ttab t = {.id = 1,
                     .schema = "s",
                     .table = "geo",
                     .cols = cols,
                     .ncols = 4,
                     .names = true,
                     .minimal = true};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    struct img *m = &fx.img[0];
    img_reset(m);
    uint8_t p0[sizeof(point_1_2)];
    memcpy(p0, point_1_2, sizeof(p0));
    p0[0] = p0[1] = 0;
    img_str(m, 4, p0, sizeof(p0));
    img_str(m, 4, point_1_2, sizeof(point_1_2));
    img_null(m);
    img_null(m);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 4, NULL, NULL);
    put_image(&fx.ev, m, 4, NULL);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    const struct cdc_col *c = fx.out.rows.rows[0].after;
    expect_col(c, 4, "g", "geometry",
               "0101000000000000000000F03F0000000000000040");
    expect_col(c, 4, "p", "point", POINT_TEXT);
    expect_col(c, 4, "l", "linestring", NULL);
    expect_col(c, 4, "c", "geometrycollection", NULL);
    /* too short for its SRID */
    img_reset(m);
    img_str(m, 4, "\x01\x02", 2);
    img_null(m);
    img_null(m);
    img_null(m);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS, 1, 1, 4, NULL, NULL);
    put_image(&fx.ev, m, 4, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "geometry of 2 bytes has no SRID");
}

/* ==== Row images ==== */

/* Images that leave columns out (binlog_row_image=MINIMAL): absent, not
 * NULL. */
static void test_absent_columns(void **state)
{
    (void)state;
    start(false);
    struct ttab t = {.id = 1,
                     .schema = "s",
                     .table = "y",
                     .cols = year_cols,
                     .ncols = 3,
                     .names = true,
                     .minimal = true};
    make_table_map(&fx.ev, &t, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    /* before: only "a" (the key); after: "b" only, NULL */
    uint8_t before[1] = {0x02};
    uint8_t after[1] = {0x04};
    rows_begin(&fx.ev, BINLOG_T_UPDATE_ROWS, 1, 1, 3, before, after);
    w_le(&fx.ev, 0, 1);
    w_le(&fx.ev, 42, 4);
    w_le(&fx.ev, 1, 1);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    assert_true(fx.out.rows.absent);
    const struct source_binlog_row *r = &fx.out.rows.rows[0];
    assert_non_null(r->before_absent);
    assert_non_null(r->after_absent);
    assert_true(r->before_absent[0]);
    assert_false(r->before_absent[1]);
    assert_true(r->before_absent[2]);
    expect_col(r->before, 3, "a", "int unsigned", "42");
    expect_col(r->before, 3, "y", "year", NULL);
    assert_true(r->after_absent[0]);
    assert_true(r->after_absent[1]);
    assert_false(r->after_absent[2]);
    expect_col(r->after, 3, "b", "int", NULL);

    /* rows of no column at all cannot be told apart */
    uint8_t none[1] = {0};
    rows_begin(&fx.ev, BINLOG_T_DELETE_ROWS, 1, 1, 3, none, NULL);
    w_le(&fx.ev, 0, 1);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "rows with no column");
    /* the row width must be the table's */
    rows_begin(&fx.ev, BINLOG_T_DELETE_ROWS, 1, 1, 4, NULL, NULL);
    w_le(&fx.ev, 0, 1);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "row width does not match the table map's 3 columns");
}

/* Many rows in one event, and a row image cut short. */
static void test_many_rows(void **state)
{
    (void)state;
    start(true);
    struct ttab t = {.id = 1,
                     .schema = "s",
                     .table = "y",
                     .cols = year_cols,
                     .ncols = 3,
                     .names = true,
                     .minimal = true};
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, 1, 1, 3, NULL, NULL);
    for (uint32_t i = 0; i < 1000; i++) {
        w_le(&fx.ev, i % 2 ? 4 : 0, 1);
        w_le(&fx.ev, i % 256, 1);
        w_le(&fx.ev, i, 4);
        if (i % 2 == 0)
            w_le(&fx.ev, (uint32_t) - (int32_t)i, 4);
    }
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
    assert_int_equal(fx.out.rows.nrows, 1000);
    for (uint32_t i = 0; i < 1000; i += 111) {
        char a[16];
        char b[16];
        snprintf(a, sizeof(a), "%u", i);
        snprintf(b, sizeof(b), "%d", -(int)i);
        const struct cdc_col *c = fx.out.rows.rows[i].after;
        expect_col(c, 3, "a", NULL, a);
        expect_col(c, 3, "b", NULL, i % 2 ? NULL : b);
    }
    /* one byte less: the last row is cut */
    fx.ev.len -= 5;
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "past the end");
}

/* ==== Column information from outside ==== */

static const struct tcol plain_cols[] = {
    {"id", T_LONG, {0}, 0, true, 0, NULL, 0, -1},
    {"name", T_VARCHAR, {80, 0}, 2, false, 8, NULL, 0, -1},
    {"kind", T_STRING, {T_ENUM, 1}, 2, false, 45, size_members, 3, -1},
    {"doc", T_BLOB, {4}, 1, false, 45, NULL, 0, -1},
};

static void plain_row(uint64_t id)
{
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, id, 1, 4, NULL, NULL);
    img_reset(&fx.img[0]);
    img_le(&fx.img[0], 0xFFFFFFFFu, 4);
    img_str(&fx.img[0], 1, "\xe9", 1);
    img_le(&fx.img[0], 2, 1);
    img_str(&fx.img[0], 4, "{}", 2);
    put_image(&fx.ev, &fx.img[0], 4, NULL);
    ev_end(&fx.ev, true, 200);
    dec_ok(&fx.ev);
}

static void test_set_columns(void **state)
{
    (void)state;
    start(true);
    struct ttab t = {.id = 1,
                     .schema = "s",
                     .table = "plain",
                     .cols = plain_cols,
                     .ncols = 4};
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_true(fx.out.table_map.names_missing);
    /* no metadata: signed, no charset (latin1 é is not UTF-8) */
    rows_begin(&fx.ev, BINLOG_T_WRITE_ROWS_V1, 1, 1, 4, NULL, NULL);
    img_reset(&fx.img[0]);
    img_le(&fx.img[0], 0xFFFFFFFFu, 4);
    img_str(&fx.img[0], 1, "\xe9", 1);
    img_le(&fx.img[0], 2, 1);
    img_str(&fx.img[0], 4, "{}", 2);
    put_image(&fx.ev, &fx.img[0], 4, NULL);
    ev_end(&fx.ev, true, 200);
    dec_fails(&fx.ev, "column \"@2\": character set not known");

    const char *const members[] = {"s", "m", "l"};
    const char *const key[] = {"id"};
    struct source_binlog_colinfo info[] = {
        {.name = "id", .is_unsigned = true},
        {.name = "name", .charset = 8},
        {.name = "kind", .values = members, .nvalues = 3},
        {.name = "doc", .type = "json"},
    };
    struct cdc_err err;
    assert_int_equal(source_binlog_set_columns(fx.b, 2, info, 4, key, 1, &err),
                     CDC_ENOTFOUND);
    assert_int_equal(source_binlog_set_columns(fx.b, 1, info, 3, key, 1, &err),
                     CDC_ESTATE);
    const char *const nokey[] = {"nope"};
    assert_int_equal(
        source_binlog_set_columns(fx.b, 1, info, 4, nokey, 1, &err),
        CDC_ESTATE);
    assert_int_equal(source_binlog_set_columns(fx.b, 1, info, 4, key, 1, &err),
                     CDC_OK);
    plain_row(1);
    assert_false(fx.out.rows.names_missing);
    assert_false(fx.out.rows.enum_as_index);
    const struct cdc_col *c = fx.out.rows.rows[0].after;
    expect_col(c, 4, "id", "int unsigned", "4294967295");
    expect_col(c, 4, "name", "varchar", "\xc3\xa9");
    expect_col(c, 4, "kind", "enum", "m");
    expect_col(c, 4, "doc", "json", "{}");
    assert_int_equal(fx.out.rows.nkey, 1);
    assert_string_equal(fx.out.rows.key[0], "id");

    /* the next statement maps the table again, under another id */
    t.id = 2;
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_false(fx.out.table_map.names_missing);
    plain_row(2);
    expect_col(fx.out.rows.rows[0].after, 4, "kind", "enum", "m");

    /* a changed column type: the information no longer fits */
    struct tcol changed[4];
    memcpy(changed, plain_cols, sizeof(changed));
    changed[1].meta[0] = 160;
    t.cols = changed;
    t.id = 3;
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_true(fx.out.table_map.names_missing);

    /* forgotten after a DDL */
    t.cols = plain_cols;
    t.id = 4;
    source_binlog_forget_columns(fx.b, "s", "plain");
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_true(fx.out.table_map.names_missing);
    assert_int_equal(source_binlog_set_columns(fx.b, 4, info, 4, NULL, 0, &err),
                     CDC_OK);
    source_binlog_forget_columns(fx.b, NULL, NULL);
    t.id = 5;
    make_table_map(&fx.ev, &t, true);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    assert_true(fx.out.table_map.names_missing);
}

/* ==== Truncated and malformed events ==== */

/* Every prefix of the event in fx.ev: given as such (its size field says
 * more) it is an error; with its size and checksum made to fit, it must
 * not crash (it may decode: a row event cut between rows is valid). */
static void every_prefix(bool crc)
{
    struct cdc_buf whole;
    cdc_buf_init(&whole, 0);
    w_bytes(&whole, fx.ev.data, fx.ev.len);
    for (size_t n = 0; n < whole.len; n++) {
        assert_int_not_equal(dec_bytes(whole.data, n), CDC_OK);
        if (n < 19 + (crc ? 4 : 0))
            continue;
        cdc_buf_reset(&fx.tmp);
        w_bytes(&fx.tmp, whole.data, n - (crc ? 4 : 0));
        ev_end(&fx.tmp, crc, 100);
        (void)dec(&fx.tmp);
    }
    cdc_buf_release(&whole);
}

static void test_truncated(void **state)
{
    (void)state;
    start(false);
    make_fde(&fx.ev, MYSQL_VERSION, 1, 0, post_lens, sizeof(post_lens));
    every_prefix(true);
    start(false);
    make_table_map(&fx.ev, &all_tab, false);
    ev_end(&fx.ev, true, 100);
    every_prefix(true);
    make_table_map(&fx.ev, &all_tab, false);
    ev_end(&fx.ev, true, 100);
    dec_ok(&fx.ev);
    for (int v2 = 0; v2 < 2; v2++) {
        rows_begin(&fx.ev, v2 ? BINLOG_T_UPDATE_ROWS : BINLOG_T_UPDATE_ROWS_V1,
                   all_tab.id, 1, ALL_NCOLS, NULL, NULL);
        fill_row_a(&fx.img[0]);
        fill_row_b(&fx.img[1]);
        put_image(&fx.ev, &fx.img[0], ALL_NCOLS, NULL);
        put_image(&fx.ev, &fx.img[1], ALL_NCOLS, NULL);
        ev_end(&fx.ev, true, 5000);
        dec_ok(&fx.ev);
        every_prefix(true);
        /* the table map survives its own truncated copies? make it again */
        make_table_map(&fx.ev, &all_tab, false);
        ev_end(&fx.ev, true, 100);
        dec_ok(&fx.ev);
    }
    static const uint8_t kinds[] = {BINLOG_T_MARIADB_GTID, BINLOG_T_GTID,
                                    BINLOG_T_GTID_LIST,    BINLOG_T_QUERY,
                                    BINLOG_T_ROTATE,       BINLOG_T_INCIDENT,
                                    BINLOG_T_XID};
    for (size_t i = 0; i < NELEMS(kinds); i++) {
        ev_begin(&fx.ev, kinds[i]);
        for (int k = 0; k < 40; k++)
            w_le(&fx.ev, (uint64_t)(k * 7 + 1) % 5, 1);
        ev_end(&fx.ev, true, 100);
        every_prefix(true);
    }
    /* event size field disagreeing with the bytes */
    xid_event(&fx.ev, 1, true);
    patch_le(&fx.ev, 9, 99, 4);
    dec_fails(&fx.ev, "event size 99 but 31 bytes given");
    assert_int_equal(dec_bytes("abc", 3), CDC_EPROTO);
    assert_non_null(strstr(fx.err.msg, "shorter than its header"));
}

/* ==== Captured MariaDB events ==== */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

#define MAX_EVENTS 128

struct capture {
    uint8_t *ev[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    size_t n;
};

/* One event per line in hex; lines starting with '#' are comments. */
static void load_capture(struct capture *cap, const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap_len = 0;
    ssize_t n;
    memset(cap, 0, sizeof(*cap));
    while ((n = getline(&line, &cap_len, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        assert_true(n % 2 == 0);
        assert_true(cap->n < MAX_EVENTS);
        uint8_t *e = cdc_xmalloc((size_t)n / 2);
        for (ssize_t i = 0; i < n; i += 2) {
            int hi = hexval(line[i]);
            int lo = hexval(line[i + 1]);
            assert_true(hi >= 0 && lo >= 0);
            e[i / 2] = (uint8_t)(hi * 16 + lo);
        }
        cap->ev[cap->n] = e;
        cap->len[cap->n] = (size_t)n / 2;
        cap->n++;
    }
    cdc_free(line); /* allocated by getline with malloc */
    fclose(f);
}

static void free_capture(struct capture *cap)
{
    for (size_t i = 0; i < cap->n; i++)
        cdc_free(cap->ev[i]);
    cap->n = 0;
}

static struct capture mcap;

static int teardown_capture(void **state)
{
    free_capture(&mcap);
    return teardown(state);
}

/* The rows events of the capture in order, copied into the arena. */
struct rows_seen {
    struct source_binlog_event ev[32];
    size_t n;
};

static void test_mariadb_capture(void **state)
{
    (void)state;
    load_capture(&mcap, TEST_DATA_DIR "/binlog_mariadb.hex");
    assert_true(mcap.n >= 60);
    static struct rows_seen seen;
    memset(&seen, 0, sizeof(seen));
    size_t gtids = 0;
    size_t xids = 0;
    size_t queries = 0;
    size_t annotates = 0;
    bool formats = false;
    const char *last_gtid = NULL;
    for (size_t i = 0; i < mcap.n; i++) {
        int rc = dec_bytes(mcap.ev[i], mcap.len[i]);
        if (rc != CDC_OK)
            fail_msg("event %zu: %s", i, fx.err.msg);
        switch (fx.out.kind) {
        case BINLOG_ROTATE:
            assert_int_equal(i, 0);
            assert_string_equal(fx.out.rotate.file, "binlog.000001");
            assert_int_equal(fx.out.rotate.pos, 4);
            assert_true(fx.out.hdr.flags & BINLOG_HF_ARTIFICIAL);
            break;
        case BINLOG_FORMAT:
            formats = true;
            assert_true(fx.out.format.mariadb);
            assert_int_equal(fx.out.format.checksum, BINLOG_CHECKSUM_CRC32);
            assert_non_null(strstr(fx.out.format.server_version, "10.11"));
            break;
        case BINLOG_GTID:
            gtids++;
            last_gtid = fx.out.gtid.text;
            assert_false(fx.out.gtid.mysql);
            break;
        case BINLOG_XID:
            xids++;
            break;
        case BINLOG_QUERY:
            queries++;
            break;
        case BINLOG_ANNOTATE:
            annotates++;
            break;
        case BINLOG_ROWS:
            assert_true(seen.n < NELEMS(seen.ev));
            seen.ev[seen.n++] = fx.out;
            break;
        default:
            break;
        }
    }
    assert_true(formats);
    assert_int_equal(gtids, 15);
    assert_string_equal(last_gtid, "0-1-15");
    assert_int_equal(xids, 9);
    assert_int_equal(queries, 6);
    assert_int_equal(annotates, 9);
    assert_int_equal(seen.n, 9);

    /* 1: the row with every MariaDB type */
    const struct source_binlog_event *e = &seen.ev[0];
    assert_int_equal(e->rows.op, CDC_OP_INSERT);
    assert_string_equal(e->rows.schema, "cap");
    assert_string_equal(e->rows.table, "t");
    assert_int_equal(e->rows.ncols, 58);
    assert_int_equal(e->rows.nkey, 1);
    assert_string_equal(e->rows.key[0], "id");
    const struct cdc_col *c = e->rows.rows[0].after;
    size_t n = e->rows.ncols;
    expect_col(c, n, "id", "int", "1");
    expect_col(c, n, "ti", "tinyint", "-128");
    expect_col(c, n, "tiu", "tinyint unsigned", "255");
    expect_col(c, n, "si", "smallint", "-32768");
    expect_col(c, n, "siu", "smallint unsigned", "65535");
    expect_col(c, n, "mi", "mediumint", "-8388608");
    expect_col(c, n, "miu", "mediumint unsigned", "16777215");
    expect_col(c, n, "i", "int", "-2147483648");
    expect_col(c, n, "iu", "int unsigned", "4294967295");
    expect_col(c, n, "bi", "bigint", "-9223372036854775808");
    expect_col(c, n, "biu", "bigint unsigned", "18446744073709551615");
    expect_col(c, n, "d1", "decimal(10,2)", "-3.00");
    expect_col(c, n, "d2", "decimal(30,10) unsigned",
               "12345678901234567890.0123456789");
    expect_col(c, n, "d3", "decimal(5,0)", "99999");
    expect_col(c, n, "d4", "decimal(20,6)", "-1234.567800");
    expect_col(c, n, "f", "float", "1.5");
    expect_col(c, n, "d", "double", "0.1");
    expect_col(c, n, "b10", "bit(10)", "1010000001");
    expect_col(c, n, "b1", "bit(1)", "1");
    expect_col(c, n, "b64", "bit(64)",
               "1111111111111111111111111111111111111111111111111111111111111"
               "111");
    expect_col(c, n, "y", "year", "2024");
    expect_col(c, n, "dt", "date", "2024-01-02");
    expect_col(c, n, "tm", "time", "-838:59:59");
    expect_col(c, n, "tm3", "time(3)", "12:34:56.789");
    expect_col(c, n, "tm6", "time(6)", "-00:00:01.000001");
    expect_col(c, n, "dtm", "datetime", "2024-01-02 03:04:05");
    expect_col(c, n, "dtm3", "datetime(3)", "2024-01-02 03:04:05.678");
    expect_col(c, n, "dtm6", "datetime(6)", "9999-12-31 23:59:59.999999");
    expect_col(c, n, "ts", "timestamp", "2024-01-02 03:04:05+00");
    expect_col(c, n, "ts3", "timestamp(3)", "2024-01-02 03:04:05.678+00");
    expect_col(c, n, "ts6", "timestamp(6)", "2038-01-19 03:14:07.999999+00");
    expect_col(c, n, "c", "char", "abc");
    expect_col(c, n, "cl1", "char", "h\xc3\xa9llo");
    const struct cdc_col *cbig = col_named(c, n, "cbig");
    assert_int_equal(cbig->value_len, 510);
    assert_memory_equal(cbig->value, "\xc3\xa9\xc3\xa9", 4);
    expect_col(c, n, "vc", "varchar", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac");
    expect_col(c, n, "vl1", "varchar",
               "\xc3\x80\xc3\x89\xc3\x8e\xc3\xb5\xc3\xbc \xe2\x82\xac");
    assert_int_equal(col_named(c, n, "vbig")->value_len, 300);
    expect_col(c, n, "vasc", "varchar", "ascii");
    expect_col(c, n, "vu3", "varchar",
               "\xc3\xb1"
               "and\xc3\xba");
    expect_col(c, n, "v16", "varchar", "h\xc3\xa9llo\xf0\x9f\x98\x80");
    expect_col(c, n, "c32", "char",
               "a\xc3\xb1"
               "b");
    expect_col(c, n, "vucs", "varchar", "\xc5\x9d\xc5\xad");
    expect_col(c, n, "bin", "binary", "YWIAAA==");
    expect_col(c, n, "vbin", "varbinary", "AP8Q");
    expect_col(c, n, "tt", "tinytext", "tiny");
    expect_col(c, n, "tx", "text", "text");
    expect_col(c, n, "mt", "mediumtext", "medium");
    expect_col(c, n, "lt", "longtext", "long latin1 \xc3\xa9");
    expect_col(c, n, "tb", "tinyblob", "AQ==");
    expect_col(c, n, "bb", "blob", "AgM=");
    expect_col(c, n, "mb", "mediumblob", "BAUG");
    expect_col(c, n, "lb", "longblob", "Bw==");
    expect_col(c, n, "e", "enum", "medium");
    expect_col(c, n, "s", "set", "a,c");
    expect_col(c, n, "el1", "enum", "\xc3\xbc");
    expect_col(c, n, "j", "longtext",
               "{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": true}");
    expect_col(c, n, "g", "geometry",
               "010200000002000000000000000000000000000000000000000000000000"
               "00F03F000000000000F03F");
    expect_col(c, n, "pt", "point", POINT_TEXT);

    /* 2: two rows of NULLs */
    e = &seen.ev[1];
    assert_int_equal(e->rows.nrows, 2);
    expect_col(e->rows.rows[1].after, n, "id", "int", "3");
    expect_col(e->rows.rows[1].after, n, "pt", "point", NULL);

    /* 3: zero dates and the enum error value */
    c = seen.ev[2].rows.rows[0].after;
    expect_col(c, n, "y", "year", "0000");
    expect_col(c, n, "dt", "date", "0000-00-00");
    expect_col(c, n, "dtm", "datetime", "0000-00-00 00:00:00");
    expect_col(c, n, "dtm6", "datetime(6)", "0000-00-00 00:00:00.000000");
    expect_col(c, n, "ts", "timestamp", "0000-00-00 00:00:00+00");
    expect_col(c, n, "tm", "time", "00:00:00");
    expect_col(c, n, "d1", "decimal(10,2)", "0.50");
    expect_col(c, n, "d4", "decimal(20,6)", "-0.000001");
    expect_col(c, n, "f", "float", "-2.5e-05");
    expect_col(c, n, "d", "double", "1e+300");
    expect_col(c, n, "e", "enum", "");
    expect_col(c, n, "s", "set", "");

    /* 4: update with before and after images */
    e = &seen.ev[3];
    assert_int_equal(e->rows.op, CDC_OP_UPDATE);
    expect_col(e->rows.rows[0].before, n, "ti", "tinyint", "-128");
    expect_col(e->rows.rows[0].after, n, "ti", "tinyint", "127");
    expect_col(e->rows.rows[0].before, n, "d1", NULL, "-3.00");
    expect_col(e->rows.rows[0].after, n, "d1", NULL, "12.50");
    expect_col(e->rows.rows[0].after, n, "vc", NULL, "changed");
    expect_col(e->rows.rows[0].after, n, "pt", NULL, POINT_TEXT);

    /* 5: a negative time with a fraction; 6: delete of two rows */
    expect_col(seen.ev[4].rows.rows[1].after, n, "tm3", NULL, "-00:00:00.500");
    expect_col(seen.ev[4].rows.rows[1].before, n, "tm3", NULL, NULL);
    assert_int_equal(seen.ev[5].rows.op, CDC_OP_DELETE);
    assert_int_equal(seen.ev[5].rows.nrows, 2);
    expect_col(seen.ev[5].rows.rows[0].before, n, "id", NULL, "2");

    /* 7: MariaDB counts YEAR among the signed columns */
    c = seen.ev[6].rows.rows[0].after;
    expect_col(c, 5, "y", "year", "2001");
    expect_col(c, 5, "a", "int unsigned", "4000000000");
    expect_col(c, 5, "b", "int", "-2");
    expect_col(c, 5, "bt", "bit(3)", "101");
    expect_col(c, 5, "c", "tinyint unsigned", "200");

    /* 8: binlog_row_metadata=MINIMAL: signedness and charsets only */
    e = &seen.ev[7];
    assert_true(e->rows.names_missing);
    assert_true(e->rows.enum_as_index);
    c = e->rows.rows[0].after;
    expect_col(c, 3, "@1", "int unsigned", "4294967295");
    expect_col(c, 3, "@2", "varchar", "h\xc3\xa9llo");
    expect_col(c, 3, "@3", "enum", "2");

    /* 9: NO_LOG: nothing; signed, and the set as its bits */
    e = &seen.ev[8];
    c = e->rows.rows[0].after;
    expect_col(c, 3, "@1", "int", "-1");
    expect_col(c, 3, "@2", "varchar", "plain");
    expect_col(c, 3, "@3", "set", "3");

    /* what information_schema says fixes that table */
    const char *const pq[] = {"p", "q"};
    struct source_binlog_colinfo info[] = {
        {.name = "id", .is_unsigned = true},
        {.name = "name", .charset = 45},
        {.name = "s", .values = pq, .nvalues = 2},
    };
    const char *const key[] = {"id"};
    struct cdc_err err;
    assert_int_equal(source_binlog_set_columns(fx.b, e->rows.table_id, info, 3,
                                               key, 1, &err),
                     CDC_OK);
    assert_int_equal(dec_bytes(mcap.ev[mcap.n - 2], mcap.len[mcap.n - 2]),
                     CDC_OK);
    assert_int_equal(fx.out.kind, BINLOG_ROWS);
    c = fx.out.rows.rows[0].after;
    expect_col(c, 3, "id", "int unsigned", "4294967295");
    expect_col(c, 3, "s", "set", "p,q");
    assert_false(fx.out.rows.enum_as_index);

    /* every event with one bit flipped fails its checksum, and every
     * prefix of each fails, without reading past it */
    for (size_t i = 1; i < mcap.n; i++) {
        uint8_t *copy = cdc_xmalloc(mcap.len[i]);
        memcpy(copy, mcap.ev[i], mcap.len[i]);
        copy[mcap.len[i] / 2] ^= 0x04;
        assert_int_not_equal(dec_bytes(copy, mcap.len[i]), CDC_OK);
        cdc_free(copy);
        for (size_t k = 0; k < mcap.len[i]; k += 7)
            assert_int_not_equal(dec_bytes(mcap.ev[i], k), CDC_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_type_v1_mariadb, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_every_type_v2_mysql, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_values_owned_by_arena, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_format_description, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checksum_before_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotate_query_xid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gtids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_annotate_heartbeat_incident_other,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_map_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signedness_year, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_map_malformed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_table_id_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_end_marker, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_short_table_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decimals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_temporal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enum_set_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mariadb_capture, setup,
                                        teardown_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

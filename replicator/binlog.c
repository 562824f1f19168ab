/*
 * binlog.c: decodes MySQL/MariaDB binlog events (binlog version 4) into
 * positions, statements and rows with values in tributary's text forms
 * (binlog.h lists them). It keeps the format description and the table
 * maps, and verifies CRC32 checksums. Every read is checked against the
 * event's length: the bytes come from the network and the decoder is
 * fuzzed, so malformed input is an error, never a read outside the buffer.
 * Everything handed out is copied into the caller's arena. It does no I/O
 * and does not follow transactions (the source file does).
 */
#include "replicator/binlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ==== Constants ==== */

#define HEADER_LEN 19    /* common header of binlog version 4 */
#define CHECKSUM_LEN 4   /* CRC32 after the body */
#define FDE_FIXED_LEN 57 /* version 2, server version 50, time 4, hlen 1 */
#define SERVER_VERSION_LEN 50

/* Checksum algorithm byte of a format description. */
#define ALG_OFF 0
#define ALG_CRC32 1
#define ALG_UNDEF 255

/* Row event flags. */
#define ROWS_STMT_END 0x0001

/* Column types of a table map (MySQL's enum_field_types). */
enum {
    MT_DECIMAL = 0,
    MT_TINY = 1,
    MT_SHORT = 2,
    MT_LONG = 3,
    MT_FLOAT = 4,
    MT_DOUBLE = 5,
    MT_NULL = 6,
    MT_TIMESTAMP = 7,
    MT_LONGLONG = 8,
    MT_INT24 = 9,
    MT_DATE = 10,
    MT_TIME = 11,
    MT_DATETIME = 12,
    MT_YEAR = 13,
    MT_NEWDATE = 14,
    MT_VARCHAR = 15,
    MT_BIT = 16,
    MT_TIMESTAMP2 = 17,
    MT_DATETIME2 = 18,
    MT_TIME2 = 19,
    MT_JSON = 245,
    MT_NEWDECIMAL = 246,
    MT_ENUM = 247,
    MT_SET = 248,
    MT_TINY_BLOB = 249,
    MT_MEDIUM_BLOB = 250,
    MT_LONG_BLOB = 251,
    MT_BLOB = 252,
    MT_VAR_STRING = 253,
    MT_STRING = 254,
    MT_GEOMETRY = 255,
};

/* Optional metadata fields of a table map (binlog_row_metadata). */
enum {
    OM_SIGNEDNESS = 1,
    OM_DEFAULT_CHARSET = 2,
    OM_COLUMN_CHARSET = 3,
    OM_COLUMN_NAME = 4,
    OM_SET_STR_VALUE = 5,
    OM_ENUM_STR_VALUE = 6,
    OM_GEOMETRY_TYPE = 7,
    OM_SIMPLE_PRIMARY_KEY = 8,
    OM_PRIMARY_KEY_WITH_PREFIX = 9,
    OM_ENUM_AND_SET_DEFAULT_CHARSET = 10,
    OM_ENUM_AND_SET_COLUMN_CHARSET = 11,
    OM_MAX = 12,
};

/* Status variables of a QUERY event that come before the character set,
 * or that MariaDB and MySQL add; an unknown one ends the scan, since its
 * length is not known. */
enum {
    Q_FLAGS2 = 0,
    Q_SQL_MODE = 1,
    Q_CATALOG = 2,
    Q_AUTO_INCREMENT = 3,
    Q_CHARSET = 4,
    Q_TIME_ZONE = 5,
    Q_CATALOG_NZ = 6,
    Q_LC_TIME_NAMES = 7,
    Q_CHARSET_DATABASE = 8,
    Q_TABLE_MAP_FOR_UPDATE = 9,
    Q_MASTER_DATA_WRITTEN = 10,
    Q_INVOKER = 11,
    Q_UPDATED_DB_NAMES = 12,
    Q_MICROSECONDS = 13,
    Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP = 16,
    Q_DDL_LOGGED_WITH_XID = 17,
    Q_DEFAULT_COLLATION_FOR_UTF8MB4 = 18,
    Q_SQL_REQUIRE_PRIMARY_KEY = 19,
    Q_DEFAULT_TABLE_ENCRYPTION = 20,
    Q_HRNOW = 128,
    Q_XID = 129,
    Q_GTID_FLAGS3 = 130,
};

/* MySQL's bound on JSON nesting; also bounds the decoder's recursion. */
#define JSON_MAX_DEPTH 100

/* A decoded value is at most this many times longer than its bytes in the
 * event (a control character in a JSON string: 1 byte -> 6), plus a
 * constant for small values; more means a binary JSON document whose
 * entries point at the same bytes again and again. */
#define JSON_OUT_FACTOR 8
#define JSON_OUT_SLACK 256

/* Row images: cells (columns of one image) allowed per byte of the event,
 * beyond a fixed allowance. A full image needs a null bit per column, so
 * it never has more than 8 cells per byte; more comes from images that
 * leave columns out, which the source refuses anyway. */
#define CELLS_PER_BYTE 8
#define CELLS_BASE 65536

/* ==== Decoder state ==== */

enum charset_kind {
    CS_UNKNOWN = 0, /* no information: bytes must be UTF-8 */
    CS_BINARY,
    CS_UTF8, /* utf8mb3 and utf8mb4 */
    CS_LATIN1,
    CS_ASCII,
    CS_UCS2,
    CS_UTF16,
    CS_UTF16LE,
    CS_UTF32,
    CS_OTHER, /* known to the server, not converted here */
};

struct bl_col {
    uint8_t type;      /* table map type; STRING resolved to ENUM/SET */
    uint8_t raw_type;  /* as in the table map */
    uint16_t raw_meta; /* metadata bytes as read, little-endian */
    uint32_t max_len;  /* CHAR/VARCHAR: longest value in bytes */
    uint8_t len_bytes; /* BLOB/JSON/GEOMETRY: length prefix; ENUM/SET: size */
    uint8_t precision; /* NEWDECIMAL */
    uint8_t scale;     /* NEWDECIMAL scale, or temporal fraction digits */
    uint16_t nbits;    /* BIT */
    bool is_unsigned;
    uint32_t charset; /* collation id; 0 when not known */
    int geom_type;    /* GEOMETRY_TYPE metadata, -1 when not known */
    char *name;       /* NULL when not known */
    char *type_override;
    char *type_name; /* derived */
    char **values;   /* ENUM/SET members, UTF-8 */
    size_t nvalues;
    bool has_values;
};

struct bl_table {
    uint64_t id;
    char *schema;
    char *table;
    size_t ncols;
    struct bl_col *cols;
    char **key;
    size_t nkey;
    bool has_names;
    char *unsupported; /* why rows of this table cannot be decoded */
};

/* Column information supplied by the caller, kept per schema.table. */
struct bl_known {
    char *schema;
    char *table;
    size_t ncols;
    uint8_t *types; /* raw types and metadata of the table map it fit */
    uint16_t *metas;
    struct source_binlog_colinfo *cols; /* deep copies */
    char **key;
    size_t nkey;
};

struct source_binlog {
    /* format description */
    bool have_fde;
    bool mariadb;
    char server_version[SERVER_VERSION_LEN + 1];
    uint8_t header_len;
    uint8_t post_len[256]; /* 0xFF: not given, use the default */
    enum source_binlog_checksum checksum;
    /* table maps by id: open addressing over an array of tables */
    struct bl_table **tabs;
    size_t ntabs;
    size_t captabs;
    uint32_t *slots; /* index + 1 into tabs; 0 is empty */
    size_t nslots;
    struct bl_known *known;
    size_t nknown;
    size_t capknown;
    struct cdc_buf tmp; /* JSON text being built */
};

/* What one decode call works on, for messages. */
struct dctx {
    struct source_binlog *b;
    const uint8_t *ev;
    size_t len; /* without the checksum */
    struct source_binlog_header hdr;
    struct cdc_arena *arena;
    struct cdc_err *err;
    const struct bl_table *tab; /* while decoding rows */
    size_t col;                 /* column being decoded, when tab is set */
    bool in_col;
};

/* ==== Little helpers ==== */

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}

static uint32_t le32(const uint8_t *p)
{
    return le24(p) | ((uint32_t)p[3] << 24);
}

static uint64_t le_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--)
        v = (v << 8) | p[i - 1];
    return v;
}

static uint64_t le64(const uint8_t *p)
{
    return le_n(p, 8);
}

static uint64_t be_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static bool bit_set(const uint8_t *bits, size_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

/* The binlog's CRC32 is zlib's (the servers compute it with zlib). crc is
 * the running value in its stored (final) form: 0 to start. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uInt k = n > (size_t)UINT32_MAX ? UINT32_MAX : (uInt)n;
        crc = (uint32_t)crc32((uLong)crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

/* Decimal digits of v into s (room for 21), without a NUL; returns the
 * length. snprintf costs more than the rest of a row's integers. */
static size_t fmt_u64(char *s, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        s[i] = tmp[n - 1 - i];
    return n;
}

static size_t fmt_i64(char *s, int64_t v)
{
    if (v >= 0)
        return fmt_u64(s, (uint64_t)v);
    s[0] = '-';
    return 1 + fmt_u64(s + 1, 0 - (uint64_t)v);
}

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes b64_len(n) characters and a NUL. */
static void b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v =
            ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = b64_chars[(v >> 6) & 63];
        out[o++] = b64_chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        out[o++] = b64_chars[v >> 18];
        out[o++] = b64_chars[(v >> 12) & 63];
        out[o++] = b64_chars[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Offset of the first invalid byte, or n when p is valid UTF-8. */
static size_t utf8_check(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ==== Character sets ==== */

/* Collation ids of the character sets converted here. MySQL and MariaDB
 * share the ids below 256; MySQL 8 puts its utf8mb4 *_0900_* collations at
 * 255..323, MariaDB its "nopad" variants at base + 1024 and its
 * uca1400 collations at 2048..3327 (256 ids per character set). */
static enum charset_kind charset_kind(uint32_t id)
{
    if (id >= 1024 && id < 2048)
        id -= 1024;
    if (id >= 2048 && id < 3328) {
        static const enum charset_kind uca1400[] = {CS_UTF8, CS_UTF8, CS_UCS2,
                                                    CS_UTF16, CS_UTF32};
        return uca1400[(id - 2048) >> 8];
    }
    if (id >= 255 && id <= 323)
        return CS_UTF8;
    switch (id) {
    case 0:
        return CS_UNKNOWN;
    case 63:
        return CS_BINARY;
    case 5:
    case 8:
    case 15:
    case 31:
    case 47:
    case 48:
    case 49:
    case 94:
        return CS_LATIN1;
    case 11:
    case 65:
        return CS_ASCII;
    case 33:
    case 76:
    case 83:
    case 223:
    case 576:
    case 577:
    case 578:
    case 45:
    case 46:
    case 608:
    case 609:
    case 610:
        return CS_UTF8;
    case 35:
    case 90:
    case 159:
    case 640:
    case 641:
    case 642:
        return CS_UCS2;
    case 54:
    case 55:
    case 672:
    case 673:
    case 674:
        return CS_UTF16;
    case 56:
    case 62:
        return CS_UTF16LE;
    case 60:
    case 61:
    case 736:
    case 737:
    case 738:
        return CS_UTF32;
    default:
        break;
    }
    if (id >= 192 && id <= 247)
        return CS_UTF8; /* utf8mb3 192..215, utf8mb4 224..247 */
    if (id >= 128 && id <= 151)
        return CS_UCS2;
    if (id >= 101 && id <= 124)
        return CS_UTF16;
    if (id >= 160 && id <= 183)
        return CS_UTF32;
    return CS_OTHER;
}

/* Windows-1252 for 0x80..0x9F as MySQL's latin1 has it: the five bytes
 * Windows leaves unassigned map to the C1 controls of the same value. */
static const uint16_t latin1_80[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* Next code point of p[*i..n) in a fixed-width or UTF-16 charset; false
 * when the bytes do not form one. */
static bool wide_next(enum charset_kind cs, const uint8_t *p, size_t n,
                      size_t *i, uint32_t *cp)
{
    size_t k = *i;
    if (cs == CS_UTF32) {
        if (n - k < 4)
            return false;
        *cp = (uint32_t)be_n(p + k, 4);
        *i = k + 4;
        return *cp <= 0x10FFFF && !(*cp >= 0xD800 && *cp <= 0xDFFF);
    }
    if (n - k < 2)
        return false;
    uint32_t u = cs == CS_UTF16LE ? le16(p + k) : (uint32_t)be_n(p + k, 2);
    k += 2;
    if (u >= 0xD800 && u <= 0xDFFF) {
        if (cs == CS_UCS2 || u >= 0xDC00 || n - k < 2)
            return false;
        uint32_t lo = cs == CS_UTF16LE ? le16(p + k) : (uint32_t)be_n(p + k, 2);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return false;
        k += 2;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    *cp = u;
    *i = k;
    return true;
}

/* Converts n bytes of charset cs to UTF-8 in the arena. Returns false
 * with the offset of the offending byte in *bad; CS_UNKNOWN and CS_UTF8
 * are validated, CS_BINARY and CS_OTHER are not handled here. */
static bool to_utf8(enum charset_kind cs, const uint8_t *p, size_t n,
                    struct cdc_arena *a, const char **out, size_t *outlen,
                    size_t *bad)
{
    switch (cs) {
    case CS_UNKNOWN:
    case CS_UTF8: {
        size_t k = utf8_check(p, n);
        if (k != n) {
            *bad = k;
            return false;
        }
        *out = cdc_arena_strndup(a, (const char *)p, n);
        *outlen = n;
        return true;
    }
    case CS_ASCII:
        for (size_t i = 0; i < n; i++) {
            if (p[i] >= 0x80) {
                *bad = i;
                return false;
            }
        }
        *out = cdc_arena_strndup(a, (const char *)p, n);
        *outlen = n;
        return true;
    case CS_LATIN1: {
        size_t need = 0;
        for (size_t i = 0; i < n; i++)
            need += p[i] < 0x80 ? 1
                    : (p[i] >= 0x80 && p[i] < 0xA0 &&
                       latin1_80[p[i] - 0x80] >= 0x800)
                        ? 3
                        : 2;
        char *s = cdc_arena_alloc(a, need + 1);
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = p[i];
            if (cp >= 0x80 && cp < 0xA0)
                cp = latin1_80[cp - 0x80];
            o += utf8_put(cp, s + o);
        }
        s[o] = '\0';
        *out = s;
        *outlen = o;
        return true;
    }
    case CS_UCS2:
    case CS_UTF16:
    case CS_UTF16LE:
    case CS_UTF32: {
        /* at most 4 UTF-8 bytes per 2 input bytes (3 per UCS-2 unit,
         * 4 per surrogate pair or UTF-32 unit) */
        char *s = cdc_arena_alloc(a, n * 2 + 1);
        size_t o = 0;
        size_t i = 0;
        while (i < n) {
            size_t at = i;
            uint32_t cp;
            if (!wide_next(cs, p, n, &i, &cp)) {
                *bad = at;
                return false;
            }
            o += utf8_put(cp, s + o);
        }
        s[o] = '\0';
        *out = s;
        *outlen = o;
        return true;
    }
    default:
        *bad = 0;
        return false;
    }
}

/* ==== Messages ==== */

static const char *const type_names[256] = {
    [1] = "START_EVENT_V3",
    [BINLOG_T_QUERY] = "QUERY_EVENT",
    [BINLOG_T_STOP] = "STOP_EVENT",
    [BINLOG_T_ROTATE] = "ROTATE_EVENT",
    [5] = "INTVAR_EVENT",
    [13] = "RAND_EVENT",
    [14] = "USER_VAR_EVENT",
    [BINLOG_T_FORMAT_DESCRIPTION] = "FORMAT_DESCRIPTION_EVENT",
    [BINLOG_T_XID] = "XID_EVENT",
    [BINLOG_T_TABLE_MAP] = "TABLE_MAP_EVENT",
    [20] = "PRE_GA_WRITE_ROWS_EVENT",
    [21] = "PRE_GA_UPDATE_ROWS_EVENT",
    [22] = "PRE_GA_DELETE_ROWS_EVENT",
    [BINLOG_T_WRITE_ROWS_V1] = "WRITE_ROWS_EVENT_V1",
    [BINLOG_T_UPDATE_ROWS_V1] = "UPDATE_ROWS_EVENT_V1",
    [BINLOG_T_DELETE_ROWS_V1] = "DELETE_ROWS_EVENT_V1",
    [BINLOG_T_INCIDENT] = "INCIDENT_EVENT",
    [BINLOG_T_HEARTBEAT] = "HEARTBEAT_LOG_EVENT",
    [28] = "IGNORABLE_LOG_EVENT",
    [BINLOG_T_ROWS_QUERY] = "ROWS_QUERY_LOG_EVENT",
    [BINLOG_T_WRITE_ROWS] = "WRITE_ROWS_EVENT",
    [BINLOG_T_UPDATE_ROWS] = "UPDATE_ROWS_EVENT",
    [BINLOG_T_DELETE_ROWS] = "DELETE_ROWS_EVENT",
    [BINLOG_T_GTID] = "GTID_LOG_EVENT",
    [BINLOG_T_ANONYMOUS_GTID] = "ANONYMOUS_GTID_LOG_EVENT",
    [BINLOG_T_PREVIOUS_GTIDS] = "PREVIOUS_GTIDS_LOG_EVENT",
    [36] = "TRANSACTION_CONTEXT_EVENT",
    [37] = "VIEW_CHANGE_EVENT",
    [38] = "XA_PREPARE_LOG_EVENT",
    [BINLOG_T_PARTIAL_UPDATE_ROWS] = "PARTIAL_UPDATE_ROWS_EVENT",
    [BINLOG_T_TRANSACTION_PAYLOAD] = "TRANSACTION_PAYLOAD_EVENT",
    [41] = "HEARTBEAT_LOG_EVENT_V2",
    [42] = "GTID_TAGGED_LOG_EVENT",
    [BINLOG_T_ANNOTATE_ROWS] = "ANNOTATE_ROWS_EVENT",
    [BINLOG_T_BINLOG_CHECKPOINT] = "BINLOG_CHECKPOINT_EVENT",
    [BINLOG_T_MARIADB_GTID] = "GTID_EVENT",
    [BINLOG_T_GTID_LIST] = "GTID_LIST_EVENT",
    [164] = "START_ENCRYPTION_EVENT",
    [165] = "QUERY_COMPRESSED_EVENT",
    [166] = "WRITE_ROWS_COMPRESSED_EVENT_V1",
    [167] = "UPDATE_ROWS_COMPRESSED_EVENT_V1",
    [168] = "DELETE_ROWS_COMPRESSED_EVENT_V1",
    [169] = "WRITE_ROWS_COMPRESSED_EVENT",
    [170] = "UPDATE_ROWS_COMPRESSED_EVENT",
    [171] = "DELETE_ROWS_COMPRESSED_EVENT",
};

const char *source_binlog_type_name(uint8_t type, char *buf, size_t bufsz)
{
    if (type_names[type] != NULL)
        return type_names[type];
    snprintf(buf, bufsz, "event type %u", type);
    return buf;
}

/* Sets err to "<event> ending at <pos>[: table "s"."t"[ column "c"]]:
 * <what> at offset <off>" and returns CDC_EPROTO. off is from the start of
 * the event; SIZE_MAX leaves the offset out. */
static int fail(struct dctx *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct dctx *c, size_t off, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char tname[32];
    const char *ev = source_binlog_type_name(c->hdr.type, tname, sizeof(tname));
    char where[128] = "";
    if (c->tab != NULL) {
        const struct bl_table *t = c->tab;
        if (c->in_col && c->col < t->ncols) {
            const char *cn = t->cols[c->col].name;
            if (cn != NULL)
                snprintf(where, sizeof(where),
                         " table \"%s\".\"%s\" column \"%s\":", t->schema,
                         t->table, cn);
            else
                snprintf(where, sizeof(where),
                         " table \"%s\".\"%s\" column %zu:", t->schema,
                         t->table, c->col + 1);
        } else {
            snprintf(where, sizeof(where), " table \"%s\".\"%s\":", t->schema,
                     t->table);
        }
    }
    char at[32] = "";
    if (off != SIZE_MAX)
        snprintf(at, sizeof(at), " at offset %zu", off);
    return cdc_err_set(c->err, CDC_EPROTO, 0, "%s ending at %u:%s %s%s", ev,
                       c->hdr.log_pos, where, what, at);
}

/* ==== Reading an event ==== */

struct rd {
    const uint8_t *base; /* the event, for offsets */
    const uint8_t *p;
    size_t left;
};

static size_t rd_off(const struct rd *r)
{
    return (size_t)(r->p - r->base);
}

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->left < n)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

/* A packed (length-encoded) integer of the binlog. */
static bool rd_packed(struct rd *r, uint64_t *v)
{
    if (r->left < 1)
        return false;
    uint8_t c = r->p[0];
    size_t n;
    if (c < 251) {
        *v = c;
        r->p++;
        r->left--;
        return true;
    }
    if (c == 252)
        n = 2;
    else if (c == 253)
        n = 3;
    else if (c == 254)
        n = 8;
    else
        return false; /* 251 is NULL, 255 is not used */
    if (r->left < n + 1)
        return false;
    *v = le_n(r->p + 1, n);
    r->p += n + 1;
    r->left -= n + 1;
    return true;
}

/* ==== Table store ==== */

static void table_free(struct bl_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        struct bl_col *col = &t->cols[i];
        cdc_free(col->name);
        cdc_free(col->type_override);
        cdc_free(col->type_name);
        for (size_t k = 0; k < col->nvalues; k++)
            cdc_free(col->values[k]);
        cdc_free(col->values);
    }
    cdc_free(t->cols);
    for (size_t i = 0; i < t->nkey; i++)
        cdc_free(t->key[i]);
    cdc_free(t->key);
    cdc_free(t->schema);
    cdc_free(t->table);
    cdc_free(t->unsupported);
    cdc_free(t);
}

static size_t slot_of(uint64_t id, size_t nslots)
{
    uint64_t h = id * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (nslots - 1);
}

static void slots_rebuild(struct source_binlog *b, size_t nslots)
{
    cdc_free(b->slots);
    b->slots = cdc_xcalloc(nslots, sizeof(uint32_t));
    b->nslots = nslots;
    for (size_t i = 0; i < b->ntabs; i++) {
        size_t s = slot_of(b->tabs[i]->id, nslots);
        while (b->slots[s] != 0)
            s = (s + 1) & (nslots - 1);
        b->slots[s] = (uint32_t)(i + 1);
    }
}

static size_t table_index(const struct source_binlog *b, uint64_t id)
{
    if (b->nslots == 0)
        return SIZE_MAX;
    size_t s = slot_of(id, b->nslots);
    while (b->slots[s] != 0) {
        size_t i = b->slots[s] - 1;
        if (b->tabs[i]->id == id)
            return i;
        s = (s + 1) & (b->nslots - 1);
    }
    return SIZE_MAX;
}

static struct bl_table *table_find(const struct source_binlog *b, uint64_t id)
{
    size_t i = table_index(b, id);
    return i == SIZE_MAX ? NULL : b->tabs[i];
}

static void table_remove_at(struct source_binlog *b, size_t i)
{
    table_free(b->tabs[i]);
    b->tabs[i] = b->tabs[b->ntabs - 1];
    b->ntabs--;
    slots_rebuild(b, b->nslots);
}

/* Stores t under its id. The map it replaces, and an older id of the same
 * table (the server gives a table a new id when it reopens it), go. */
static void table_put(struct source_binlog *b, struct bl_table *t)
{
    size_t i = table_index(b, t->id);
    if (i != SIZE_MAX) {
        table_free(b->tabs[i]);
        b->tabs[i] = t;
        return;
    }
    for (size_t k = 0; k < b->ntabs; k++) {
        if (strcmp(b->tabs[k]->schema, t->schema) == 0 &&
            strcmp(b->tabs[k]->table, t->table) == 0) {
            table_remove_at(b, k);
            break;
        }
    }
    if (b->ntabs == b->captabs) {
        b->captabs = b->captabs ? b->captabs * 2 : 16;
        b->tabs = cdc_xrealloc(b->tabs, b->captabs * sizeof(*b->tabs));
    }
    b->tabs[b->ntabs++] = t;
    if (b->ntabs * 2 > b->nslots) {
        slots_rebuild(b, b->nslots ? b->nslots * 2 : 64);
    } else {
        size_t s = slot_of(t->id, b->nslots);
        while (b->slots[s] != 0)
            s = (s + 1) & (b->nslots - 1);
        b->slots[s] = (uint32_t)b->ntabs;
    }
}

static void tables_clear(struct source_binlog *b)
{
    for (size_t i = 0; i < b->ntabs; i++)
        table_free(b->tabs[i]);
    b->ntabs = 0;
    if (b->nslots)
        memset(b->slots, 0, b->nslots * sizeof(uint32_t));
}

static void known_release(struct bl_known *k)
{
    for (size_t i = 0; i < k->ncols; i++) {
        struct source_binlog_colinfo *ci = &k->cols[i];
        cdc_free((char *)ci->name);
        cdc_free((char *)ci->type);
        for (size_t v = 0; v < ci->nvalues; v++)
            cdc_free((char *)ci->values[v]);
        cdc_free((char **)ci->values);
    }
    cdc_free(k->cols);
    for (size_t i = 0; i < k->nkey; i++)
        cdc_free(k->key[i]);
    cdc_free(k->key);
    cdc_free(k->types);
    cdc_free(k->metas);
    cdc_free(k->schema);
    cdc_free(k->table);
    memset(k, 0, sizeof(*k));
}

/* ==== Lifecycle ==== */

struct source_binlog *source_binlog_new(void)
{
    struct source_binlog *b = cdc_xcalloc(1, sizeof(*b));
    cdc_buf_init(&b->tmp, 0);
    source_binlog_reset(b);
    return b;
}

void source_binlog_reset(struct source_binlog *b)
{
    b->have_fde = false;
    b->mariadb = false;
    b->server_version[0] = '\0';
    b->header_len = HEADER_LEN;
    memset(b->post_len, 0xFF, sizeof(b->post_len));
    b->checksum = BINLOG_CHECKSUM_UNKNOWN;
    tables_clear(b);
}

void source_binlog_free(struct source_binlog *b)
{
    if (b == NULL)
        return;
    tables_clear(b);
    cdc_free(b->tabs);
    cdc_free(b->slots);
    for (size_t i = 0; i < b->nknown; i++)
        known_release(&b->known[i]);
    cdc_free(b->known);
    cdc_buf_release(&b->tmp);
    cdc_free(b);
}

void source_binlog_set_checksum(struct source_binlog *b,
                                enum source_binlog_checksum alg)
{
    b->checksum = alg;
}

const char *source_binlog_server_version(const struct source_binlog *b)
{
    return b->have_fde ? b->server_version : NULL;
}

/* Post-header length of an event type: from the format description, or
 * the length binlog version 4 servers use. */
static size_t post_len(const struct source_binlog *b, uint8_t type)
{
    if (b->post_len[type] != 0xFF)
        return b->post_len[type];
    switch (type) {
    case BINLOG_T_QUERY:
        return 13;
    case BINLOG_T_ROTATE:
    case BINLOG_T_TABLE_MAP:
    case BINLOG_T_WRITE_ROWS_V1:
    case BINLOG_T_UPDATE_ROWS_V1:
    case BINLOG_T_DELETE_ROWS_V1:
        return 8;
    case BINLOG_T_WRITE_ROWS:
    case BINLOG_T_UPDATE_ROWS:
    case BINLOG_T_DELETE_ROWS:
    case BINLOG_T_PARTIAL_UPDATE_ROWS:
        return 10;
    case BINLOG_T_INCIDENT:
        return 2;
    default:
        return 0;
    }
}

/* ==== Format description, rotate, statements, GTIDs ==== */

/* "X.Y.Z..." at or after min (three parts) */
static bool version_at_least(const char *v, int maj, int min, int patch)
{
    long part[3] = {0, 0, 0};
    const char *s = v;
    for (int i = 0; i < 3; i++) {
        char *end;
        part[i] = strtol(s, &end, 10);
        if (end == s)
            return false;
        s = end;
        if (i < 2) {
            if (*s != '.')
                return false;
            s++;
        }
    }
    if (part[0] != maj)
        return part[0] > maj;
    if (part[1] != min)
        return part[1] > min;
    return part[2] >= patch;
}

static int decode_fde(struct dctx *c, struct source_binlog_event *out)
{
    struct source_binlog *b = c->b;
    /* The format description always has the 19-byte header; its own
     * checksum is handled here since it says which algorithm applies. */
    size_t full = c->hdr.event_size;
    if (full < HEADER_LEN + FDE_FIXED_LEN)
        return fail(c, full, "event too short for a format description");
    const uint8_t *p = c->ev + HEADER_LEN;
    uint16_t version = le16(p);
    if (version != 4)
        return fail(c, HEADER_LEN, "binlog version %u is not supported",
                    version);
    char sv[SERVER_VERSION_LEN + 1];
    memcpy(sv, p + 2, SERVER_VERSION_LEN);
    sv[SERVER_VERSION_LEN] = '\0';
    /* keep it printable for messages and the output */
    for (size_t i = 0; sv[i] != '\0'; i++) {
        if ((unsigned char)sv[i] < 0x20 || (unsigned char)sv[i] >= 0x7F)
            sv[i] = '?';
    }
    uint8_t hlen = p[2 + SERVER_VERSION_LEN + 4];
    if (hlen < HEADER_LEN)
        return fail(c, HEADER_LEN + 56, "header length %u is below %d", hlen,
                    HEADER_LEN);
    bool mariadb = strstr(sv, "MariaDB") != NULL;
    bool aware =
        mariadb ? version_at_least(sv, 5, 3, 0) : version_at_least(sv, 5, 6, 1);
    size_t nposts = full - HEADER_LEN - FDE_FIXED_LEN;
    enum source_binlog_checksum alg = BINLOG_CHECKSUM_NONE;
    if (aware) {
        if (nposts < 1 + CHECKSUM_LEN)
            return fail(c, full,
                        "format description too short for its "
                        "checksum algorithm");
        nposts -= 1 + CHECKSUM_LEN;
        uint8_t a = c->ev[full - CHECKSUM_LEN - 1];
        if (a == ALG_CRC32) {
            alg = BINLOG_CHECKSUM_CRC32;
            /* computed with the "file in use" flag clear, since the
             * server clears it when it closes the file */
            uint8_t fl = (uint8_t)(c->ev[17] & ~BINLOG_HF_IN_USE);
            uint32_t crc = crc_update(0, c->ev, 17);
            crc = crc_update(crc, &fl, 1);
            crc = crc_update(crc, c->ev + 18, full - CHECKSUM_LEN - 18);
            uint32_t want = le32(c->ev + full - CHECKSUM_LEN);
            if (crc != want)
                return fail(c, full - CHECKSUM_LEN,
                            "checksum mismatch: computed %08x, event has %08x",
                            crc, want);
        } else if (a != ALG_OFF && a != ALG_UNDEF) {
            return fail(c, full - CHECKSUM_LEN - 1,
                        "unknown checksum algorithm %u", a);
        }
    }
    /* commit */
    b->have_fde = true;
    b->mariadb = mariadb;
    memcpy(b->server_version, sv, sizeof(sv));
    b->header_len = hlen;
    memset(b->post_len, 0xFF, sizeof(b->post_len));
    const uint8_t *posts = p + FDE_FIXED_LEN;
    for (size_t i = 0; i < nposts && i < 255; i++)
        b->post_len[i + 1] = posts[i];
    b->checksum = alg;
    out->kind = BINLOG_FORMAT;
    out->format.binlog_version = version;
    out->format.server_version = cdc_arena_strdup(c->arena, sv);
    out->format.mariadb = mariadb;
    out->format.header_len = hlen;
    out->format.checksum = alg;
    return CDC_OK;
}

static int decode_rotate(struct dctx *c, struct rd *r,
                         struct source_binlog_event *out)
{
    size_t plen = post_len(c->b, BINLOG_T_ROTATE);
    if (plen < 8 || r->left < plen)
        return fail(c, rd_off(r), "rotate post-header of %zu bytes", plen);
    const uint8_t *p = rd_take(r, plen);
    out->kind = BINLOG_ROTATE;
    out->rotate.pos = le64(p);
    out->rotate.file = cdc_arena_strndup(c->arena, (const char *)r->p, r->left);
    return CDC_OK;
}

/* The client character set from a QUERY event's status variables; 0 when
 * not found before a variable of unknown length. */
static uint16_t query_charset(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t code = p[i++];
        size_t left = n - i;
        size_t need;
        switch (code) {
        case Q_FLAGS2:
        case Q_AUTO_INCREMENT:
        case Q_MASTER_DATA_WRITTEN:
            need = 4;
            break;
        case Q_SQL_MODE:
        case Q_TABLE_MAP_FOR_UPDATE:
        case Q_DDL_LOGGED_WITH_XID:
        case Q_XID:
            need = 8;
            break;
        case Q_CHARSET:
            return left >= 6 ? le16(p + i) : 0;
        case Q_CATALOG:
            if (left < 1)
                return 0;
            need = 1 + (size_t)p[i] + 1;
            break;
        case Q_TIME_ZONE:
        case Q_CATALOG_NZ:
            if (left < 1)
                return 0;
            need = 1 + (size_t)p[i];
            break;
        case Q_LC_TIME_NAMES:
        case Q_CHARSET_DATABASE:
        case Q_DEFAULT_COLLATION_FOR_UTF8MB4:
            need = 2;
            break;
        case Q_INVOKER:
            if (left < 1 || left < 2 + (size_t)p[i])
                return 0;
            need = 1 + (size_t)p[i] + 1 + (size_t)p[i + 1 + p[i]];
            break;
        case Q_UPDATED_DB_NAMES: {
            if (left < 1)
                return 0;
            size_t count = p[i];
            need = 1;
            if (count != 254) {
                for (size_t k = 0; k < count; k++) {
                    const uint8_t *nul = memchr(p + i + need, 0, left - need);
                    if (nul == NULL)
                        return 0;
                    need = (size_t)(nul - (p + i)) + 1;
                }
            }
            break;
        }
        case Q_MICROSECONDS:
        case Q_HRNOW:
            need = 3;
            break;
        case Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP:
        case Q_SQL_REQUIRE_PRIMARY_KEY:
        case Q_DEFAULT_TABLE_ENCRYPTION:
        case Q_GTID_FLAGS3:
            need = 1;
            break;
        default:
            return 0;
        }
        if (need > left)
            return 0;
        i += need;
    }
    return 0;
}

/* Text in a character set the decoder may or may not convert: converted
 * when it can be, else copied as it is. */
static void text_out(struct dctx *c, const uint8_t *p, size_t n,
                     uint32_t charset, const char **out, size_t *outlen)
{
    enum charset_kind cs = charset_kind(charset);
    size_t bad;
    if (cs != CS_UTF8 && cs != CS_UNKNOWN && cs != CS_BINARY &&
        cs != CS_OTHER && to_utf8(cs, p, n, c->arena, out, outlen, &bad))
        return;
    *out = cdc_arena_strndup(c->arena, (const char *)p, n);
    *outlen = n;
}

static int decode_query(struct dctx *c, struct rd *r,
                        struct source_binlog_event *out)
{
    size_t plen = post_len(c->b, BINLOG_T_QUERY);
    if (plen < 13 || r->left < plen)
        return fail(c, rd_off(r), "query post-header of %zu bytes", plen);
    const uint8_t *p = rd_take(r, plen);
    uint32_t thread_id = le32(p);
    size_t db_len = p[8];
    uint16_t error_code = le16(p + 9);
    size_t vars_len = le16(p + 11);
    size_t at = rd_off(r);
    const uint8_t *vars = rd_take(r, vars_len);
    if (vars == NULL)
        return fail(c, at, "status variables of %zu bytes past the end",
                    vars_len);
    at = rd_off(r);
    const uint8_t *db = rd_take(r, db_len + 1);
    if (db == NULL || db[db_len] != 0)
        return fail(c, at, "database name of %zu bytes not terminated", db_len);
    out->kind = BINLOG_QUERY;
    out->query.thread_id = thread_id;
    out->query.error_code = error_code;
    out->query.charset = query_charset(vars, vars_len);
    out->query.schema = cdc_arena_strndup(c->arena, (const char *)db, db_len);
    text_out(c, r->p, r->left, out->query.charset, &out->query.text,
             &out->query.text_len);
    return CDC_OK;
}

static int decode_mariadb_gtid(struct dctx *c, struct rd *r,
                               struct source_binlog_event *out)
{
    size_t at = rd_off(r);
    const uint8_t *p = rd_take(r, 13);
    if (p == NULL)
        return fail(c, at, "GTID of %zu bytes, 13 needed", r->left);
    out->kind = BINLOG_GTID;
    out->gtid.seq_no = le64(p);
    out->gtid.domain_id = le32(p + 8);
    out->gtid.flags = p[12];
    out->gtid.server_id = c->hdr.server_id;
    if (out->gtid.flags & BINLOG_GTID_GROUP_COMMIT) {
        const uint8_t *q = rd_take(r, 8);
        if (q == NULL)
            return fail(c, rd_off(r), "commit id missing");
        out->gtid.commit_id = le64(q);
    }
    char s[64];
    snprintf(s, sizeof(s), "%u-%u-%llu", out->gtid.domain_id,
             out->gtid.server_id, (unsigned long long)out->gtid.seq_no);
    out->gtid.text = cdc_arena_strdup(c->arena, s);
    return CDC_OK;
}

static int decode_mysql_gtid(struct dctx *c, struct rd *r,
                             struct source_binlog_event *out)
{
    size_t at = rd_off(r);
    const uint8_t *p = rd_take(r, 25);
    if (p == NULL)
        return fail(c, at, "GTID of %zu bytes, 25 needed", r->left);
    static const char hex[] = "0123456789abcdef";
    char s[64];
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s[o++] = '-';
        s[o++] = hex[p[1 + i] >> 4];
        s[o++] = hex[p[1 + i] & 15];
    }
    uint64_t gno = le64(p + 17);
    snprintf(s + o, sizeof(s) - o, ":%llu", (unsigned long long)gno);
    out->kind = BINLOG_GTID;
    out->gtid.mysql = true;
    memcpy(out->gtid.uuid, p + 1, 16);
    out->gtid.flags = p[0];
    out->gtid.seq_no = gno;
    out->gtid.text = cdc_arena_strdup(c->arena, s);
    return CDC_OK;
}

static int decode_gtid_list(struct dctx *c, struct rd *r,
                            struct source_binlog_event *out)
{
    size_t at = rd_off(r);
    const uint8_t *p = rd_take(r, 4);
    if (p == NULL)
        return fail(c, at, "GTID count missing");
    size_t n = le32(p) & 0x0FFFFFFF; /* the top 4 bits are flags */
    if (n > r->left / 16)
        return fail(c, at, "%zu GTIDs do not fit in %zu bytes", n, r->left);
    /* "4294967295-4294967295-18446744073709551615," is 43 bytes */
    char *s = cdc_arena_alloc(c->arena, n * 44 + 1);
    size_t o = 0;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const uint8_t *g = rd_take(r, 16);
        o += (size_t)snprintf(s + o, 45, "%s%u-%u-%llu", i ? "," : "", le32(g),
                              le32(g + 4), (unsigned long long)le64(g + 8));
    }
    out->kind = BINLOG_GTID_LIST;
    out->gtid_list.text = s;
    out->gtid_list.n = n;
    return CDC_OK;
}

static int decode_incident(struct dctx *c, struct rd *r,
                           struct source_binlog_event *out)
{
    size_t plen = post_len(c->b, BINLOG_T_INCIDENT);
    size_t at = rd_off(r);
    const uint8_t *p = rd_take(r, plen);
    if (p == NULL || plen < 2)
        return fail(c, at, "incident post-header missing");
    out->kind = BINLOG_INCIDENT;
    out->incident.code = le16(p);
    size_t mlen = 0;
    if (r->left > 0) {
        mlen = r->p[0];
        if (mlen > r->left - 1)
            return fail(c, rd_off(r),
                        "incident message of %zu bytes past "
                        "the end",
                        mlen);
    }
    out->incident.message = cdc_arena_strndup(
        c->arena, r->left ? (const char *)r->p + 1 : "", mlen);
    return CDC_OK;
}

/* ==== Table maps ==== */

static bool is_blob_type(uint8_t t)
{
    return t == MT_BLOB || t == MT_TINY_BLOB || t == MT_MEDIUM_BLOB ||
           t == MT_LONG_BLOB;
}

/* Columns the SIGNEDNESS metadata has a bit for. MariaDB counts YEAR (an
 * unsigned tinyint to it); MySQL does not. */
static bool is_numeric(uint8_t t, bool mariadb)
{
    switch (t) {
    case MT_TINY:
    case MT_SHORT:
    case MT_INT24:
    case MT_LONG:
    case MT_LONGLONG:
    case MT_NEWDECIMAL:
    case MT_FLOAT:
    case MT_DOUBLE:
        return true;
    case MT_YEAR:
        return mariadb;
    default:
        return false;
    }
}

/* Columns the DEFAULT_CHARSET and COLUMN_CHARSET metadata cover: the
 * string and blob types, and geometry (stored as a blob). */
static bool is_character(uint8_t t)
{
    return t == MT_STRING || t == MT_VAR_STRING || t == MT_VARCHAR ||
           is_blob_type(t) || t == MT_GEOMETRY;
}

static bool is_enum_set(uint8_t t)
{
    return t == MT_ENUM || t == MT_SET;
}

static const char *int_type_name(uint8_t t)
{
    switch (t) {
    case MT_TINY:
        return "tinyint";
    case MT_SHORT:
        return "smallint";
    case MT_INT24:
        return "mediumint";
    case MT_LONG:
        return "int";
    default:
        return "bigint";
    }
}

static const char *geom_names[] = {
    "geometry",   "point",           "linestring",   "polygon",
    "multipoint", "multilinestring", "multipolygon", "geometrycollection",
};

/* The type name of a column, from what the table map says. */
static char *col_type_name(const struct bl_col *col)
{
    if (col->type_override != NULL)
        return cdc_xstrdup(col->type_override);
    const char *uns = col->is_unsigned ? " unsigned" : "";
    bool bin = charset_kind(col->charset) == CS_BINARY;
    switch (col->type) {
    case MT_TINY:
    case MT_SHORT:
    case MT_INT24:
    case MT_LONG:
    case MT_LONGLONG:
        return cdc_xasprintf("%s%s", int_type_name(col->type), uns);
    case MT_FLOAT:
        return cdc_xasprintf("float%s", uns);
    case MT_DOUBLE:
        return cdc_xasprintf("double%s", uns);
    case MT_NEWDECIMAL:
        return cdc_xasprintf("decimal(%u,%u)%s", (unsigned)col->precision,
                             (unsigned)col->scale, uns);
    case MT_YEAR:
        return cdc_xstrdup("year");
    case MT_DATE:
    case MT_NEWDATE:
        return cdc_xstrdup("date");
    case MT_TIME:
        return cdc_xstrdup("time");
    case MT_DATETIME:
        return cdc_xstrdup("datetime");
    case MT_TIMESTAMP:
        return cdc_xstrdup("timestamp");
    case MT_TIME2:
    case MT_DATETIME2:
    case MT_TIMESTAMP2: {
        const char *base = col->type == MT_TIME2       ? "time"
                           : col->type == MT_DATETIME2 ? "datetime"
                                                       : "timestamp";
        if (col->scale == 0)
            return cdc_xstrdup(base);
        return cdc_xasprintf("%s(%u)", base, col->scale);
    }
    case MT_BIT:
        return cdc_xasprintf("bit(%u)", col->nbits);
    case MT_STRING:
        return cdc_xstrdup(bin ? "binary" : "char");
    case MT_VARCHAR:
    case MT_VAR_STRING:
        return cdc_xstrdup(bin ? "varbinary" : "varchar");
    case MT_BLOB:
    case MT_TINY_BLOB:
    case MT_MEDIUM_BLOB:
    case MT_LONG_BLOB: {
        static const char *const blobs[] = {"tinyblob", "blob", "mediumblob",
                                            "longblob"};
        static const char *const texts[] = {"tinytext", "text", "mediumtext",
                                            "longtext"};
        size_t k = col->len_bytes >= 1 && col->len_bytes <= 4
                       ? (size_t)col->len_bytes - 1
                       : 1;
        return cdc_xstrdup(bin ? blobs[k] : texts[k]);
    }
    case MT_ENUM:
        return cdc_xstrdup("enum");
    case MT_SET:
        return cdc_xstrdup("set");
    case MT_JSON:
        return cdc_xstrdup("json");
    case MT_GEOMETRY:
        if (col->geom_type >= 0 && col->geom_type < 8)
            return cdc_xstrdup(geom_names[col->geom_type]);
        return cdc_xstrdup("geometry");
    default:
        return cdc_xasprintf("type %u", col->type);
    }
}

enum meta_state {
    META_OK,
    META_BAD,     /* read, but not a value this decoder can use */
    META_UNKNOWN, /* a type whose metadata size is not known */
    META_SHORT,   /* past the end of the block */
};

/* Reads a column's table map metadata. After META_UNKNOWN the rest of the
 * block cannot be read. */
static enum meta_state col_meta(struct bl_col *col, struct rd *r)
{
    const uint8_t *m;
    bool bad = false;
    switch (col->raw_type) {
    case MT_FLOAT:
    case MT_DOUBLE:
        m = rd_take(r, 1);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = m[0];
        return bad ? META_BAD : META_OK;
    case MT_TINY_BLOB:
    case MT_MEDIUM_BLOB:
    case MT_LONG_BLOB:
    case MT_BLOB:
    case MT_GEOMETRY:
    case MT_JSON:
        m = rd_take(r, 1);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = m[0];
        col->len_bytes = m[0];
        if (m[0] < 1 || m[0] > 4)
            bad = true;
        return bad ? META_BAD : META_OK;
    case MT_TIMESTAMP2:
    case MT_DATETIME2:
    case MT_TIME2:
        m = rd_take(r, 1);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = m[0];
        col->scale = m[0];
        if (m[0] > 6)
            bad = true;
        return bad ? META_BAD : META_OK;
    case MT_VARCHAR:
    case MT_VAR_STRING:
        m = rd_take(r, 2);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = le16(m);
        col->max_len = le16(m);
        return bad ? META_BAD : META_OK;
    case MT_NEWDECIMAL:
        m = rd_take(r, 2);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = le16(m);
        col->precision = m[0];
        col->scale = m[1];
        if (m[0] < 1 || m[0] > 65 || m[1] > 38 || m[1] > m[0])
            bad = true;
        return bad ? META_BAD : META_OK;
    case MT_BIT:
        m = rd_take(r, 2);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = le16(m);
        col->nbits = (uint16_t)(m[1] * 8 + m[0]);
        if (m[0] > 7 || col->nbits < 1 || col->nbits > 64)
            bad = true;
        return bad ? META_BAD : META_OK;
    case MT_STRING:
    case MT_ENUM:
    case MT_SET: {
        m = rd_take(r, 2);
        if (m == NULL)
            return META_SHORT;
        col->raw_meta = le16(m);
        uint8_t b0 = m[0];
        uint8_t b1 = m[1];
        if ((b0 & 0x30) != 0x30) {
            /* a CHAR longer than 255 bytes keeps its length's top bits in
             * the type byte */
            col->type = (uint8_t)(b0 | 0x30);
            col->max_len = b1 | (((uint32_t)(b0 & 0x30) ^ 0x30) << 4);
        } else {
            col->type = b0;
            col->max_len = b1;
        }
        if (col->type == MT_ENUM || col->type == MT_SET) {
            col->len_bytes = b1;
            if (b1 < 1 || b1 > (col->type == MT_ENUM ? 2 : 8))
                bad = true;
        } else if (col->type != MT_STRING) {
            bad = true;
        }
        return bad ? META_BAD : META_OK;
    }
    case MT_TINY:
    case MT_SHORT:
    case MT_INT24:
    case MT_LONG:
    case MT_LONGLONG:
    case MT_YEAR:
    case MT_DATE:
    case MT_NEWDATE:
    case MT_TIME:
    case MT_DATETIME:
    case MT_TIMESTAMP:
    case MT_NULL:
    case MT_DECIMAL:
        return bad ? META_BAD : META_OK;
    default:
        return META_UNKNOWN;
    }
}

/* One optional metadata field as found. */
struct om_field {
    const uint8_t *p;
    size_t n;
    size_t off;
};

/* A string list of ENUM/SET members: count, then length and bytes each. */
static int read_members(struct dctx *c, struct rd *r, struct bl_col *col,
                        struct cdc_arena *tmp)
{
    uint64_t count;
    size_t at = rd_off(r);
    if (!rd_packed(r, &count) || count > r->left)
        return fail(c, at, "member count of column \"%s\" malformed",
                    col->name ? col->name : "?");
    col->values = cdc_xcalloc(count ? (size_t)count : 1, sizeof(char *));
    col->has_values = true;
    enum charset_kind cs = charset_kind(col->charset);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t len;
        at = rd_off(r);
        if (!rd_packed(r, &len) || len > r->left)
            return fail(c, at, "member %llu of column \"%s\" malformed",
                        (unsigned long long)i + 1, col->name ? col->name : "?");
        const uint8_t *s = rd_take(r, (size_t)len);
        const char *u;
        size_t ulen;
        size_t bad;
        enum charset_kind use = cs == CS_BINARY ? CS_UNKNOWN : cs;
        if (use == CS_OTHER)
            return fail(c, at, "column \"%s\": collation %u is not supported",
                        col->name ? col->name : "?", col->charset);
        if (!to_utf8(use, s, (size_t)len, tmp, &u, &ulen, &bad))
            return fail(c, at,
                        "member %llu of column \"%s\" is not valid "
                        "in its character set (byte %zu)",
                        (unsigned long long)i + 1, col->name ? col->name : "?",
                        bad);
        col->values[col->nvalues++] = cdc_xstrndup(u, ulen);
    }
    return CDC_OK;
}

/* Applies a DEFAULT_CHARSET-form field (default, then index/collation
 * pairs) or a COLUMN_CHARSET-form field (one collation each) to the
 * columns idx[0..n). */
static int apply_charsets(struct dctx *c, struct bl_table *t,
                          const struct om_field *f, bool with_default,
                          const size_t *idx, size_t n)
{
    struct rd r = {.base = c->ev, .p = f->p, .left = f->n};
    uint64_t v;
    if (with_default) {
        if (!rd_packed(&r, &v))
            return fail(c, f->off, "default charset malformed");
        for (size_t i = 0; i < n; i++)
            t->cols[idx[i]].charset = (uint32_t)v;
        while (r.left > 0) {
            uint64_t k;
            size_t at = rd_off(&r);
            if (!rd_packed(&r, &k) || !rd_packed(&r, &v) || k >= n)
                return fail(c, at, "charset of a column malformed");
            t->cols[idx[k]].charset = (uint32_t)v;
        }
        return CDC_OK;
    }
    for (size_t i = 0; i < n; i++) {
        size_t at = rd_off(&r);
        if (!rd_packed(&r, &v))
            return fail(c, at, "charset list shorter than its %zu columns", n);
        t->cols[idx[i]].charset = (uint32_t)v;
    }
    return CDC_OK;
}

static int apply_optional(struct dctx *c, struct bl_table *t,
                          const struct om_field *f)
{
    size_t ncols = t->ncols;
    size_t *idx = cdc_xcalloc(ncols ? ncols : 1, sizeof(size_t));
    int rc = CDC_OK;
    bool mariadb = c->b->mariadb;

    if (f[OM_SIGNEDNESS].p != NULL) {
        size_t k = 0;
        for (size_t i = 0; i < ncols; i++) {
            if (!is_numeric(t->cols[i].type, mariadb))
                continue;
            if (k / 8 >= f[OM_SIGNEDNESS].n) {
                rc = fail(c, f[OM_SIGNEDNESS].off,
                          "signedness bits shorter than the numeric columns");
                goto out;
            }
            t->cols[i].is_unsigned =
                (f[OM_SIGNEDNESS].p[k / 8] >> (7 - k % 8)) & 1;
            k++;
        }
    }

    size_t n = 0;
    for (size_t i = 0; i < ncols; i++) {
        if (is_character(t->cols[i].type))
            idx[n++] = i;
    }
    if (f[OM_DEFAULT_CHARSET].p != NULL)
        rc = apply_charsets(c, t, &f[OM_DEFAULT_CHARSET], true, idx, n);
    else if (f[OM_COLUMN_CHARSET].p != NULL)
        rc = apply_charsets(c, t, &f[OM_COLUMN_CHARSET], false, idx, n);
    if (rc != CDC_OK)
        goto out;

    n = 0;
    for (size_t i = 0; i < ncols; i++) {
        if (is_enum_set(t->cols[i].type))
            idx[n++] = i;
    }
    if (f[OM_ENUM_AND_SET_DEFAULT_CHARSET].p != NULL)
        rc = apply_charsets(c, t, &f[OM_ENUM_AND_SET_DEFAULT_CHARSET], true,
                            idx, n);
    else if (f[OM_ENUM_AND_SET_COLUMN_CHARSET].p != NULL)
        rc = apply_charsets(c, t, &f[OM_ENUM_AND_SET_COLUMN_CHARSET], false,
                            idx, n);
    if (rc != CDC_OK)
        goto out;

    if (f[OM_COLUMN_NAME].p != NULL) {
        struct rd r = {.base = c->ev,
                       .p = f[OM_COLUMN_NAME].p,
                       .left = f[OM_COLUMN_NAME].n};
        for (size_t i = 0; i < ncols; i++) {
            uint64_t len;
            size_t at = rd_off(&r);
            if (!rd_packed(&r, &len) || len > r.left) {
                rc = fail(c, at, "name of column %zu malformed", i + 1);
                goto out;
            }
            const uint8_t *s = rd_take(&r, (size_t)len);
            t->cols[i].name = cdc_xstrndup((const char *)s, (size_t)len);
        }
        t->has_names = true;
    }

    for (int kind = OM_SET_STR_VALUE; kind <= OM_ENUM_STR_VALUE; kind++) {
        if (f[kind].p == NULL)
            continue;
        uint8_t want = kind == OM_SET_STR_VALUE ? MT_SET : MT_ENUM;
        struct rd r = {.base = c->ev, .p = f[kind].p, .left = f[kind].n};
        struct cdc_arena tmp;
        cdc_arena_init(&tmp);
        for (size_t i = 0; i < ncols && rc == CDC_OK; i++) {
            if (t->cols[i].type == want)
                rc = read_members(c, &r, &t->cols[i], &tmp);
        }
        cdc_arena_release(&tmp);
        if (rc != CDC_OK)
            goto out;
    }

    if (f[OM_GEOMETRY_TYPE].p != NULL) {
        struct rd r = {.base = c->ev,
                       .p = f[OM_GEOMETRY_TYPE].p,
                       .left = f[OM_GEOMETRY_TYPE].n};
        for (size_t i = 0; i < ncols; i++) {
            if (t->cols[i].type != MT_GEOMETRY)
                continue;
            uint64_t g;
            if (!rd_packed(&r, &g)) {
                rc = fail(c, rd_off(&r), "geometry types malformed");
                goto out;
            }
            t->cols[i].geom_type = g < 8 ? (int)g : -1;
        }
    }

    int pk = f[OM_SIMPLE_PRIMARY_KEY].p != NULL ? OM_SIMPLE_PRIMARY_KEY
             : f[OM_PRIMARY_KEY_WITH_PREFIX].p != NULL
                 ? OM_PRIMARY_KEY_WITH_PREFIX
                 : 0;
    if (pk != 0 && t->has_names) {
        struct rd r = {.base = c->ev, .p = f[pk].p, .left = f[pk].n};
        t->key = cdc_xcalloc(ncols ? ncols : 1, sizeof(char *));
        while (r.left > 0) {
            uint64_t k;
            uint64_t prefix;
            size_t at = rd_off(&r);
            if (!rd_packed(&r, &k) || k >= ncols ||
                (pk == OM_PRIMARY_KEY_WITH_PREFIX && !rd_packed(&r, &prefix)) ||
                t->nkey == ncols) {
                rc = fail(c, at, "primary key column malformed");
                goto out;
            }
            t->key[t->nkey++] = cdc_xstrdup(t->cols[k].name);
        }
    }
out:
    cdc_free(idx);
    return rc;
}

/* Names "@1".. for columns without one, and type names. */
static void table_finish(struct bl_table *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        struct bl_col *col = &t->cols[i];
        if (col->name == NULL)
            col->name = cdc_xasprintf("@%zu", i + 1);
        cdc_free(col->type_name);
        col->type_name = col_type_name(col);
    }
}

static struct bl_known *known_find(struct source_binlog *b, const char *schema,
                                   const char *table)
{
    for (size_t i = 0; i < b->nknown; i++) {
        if (strcmp(b->known[i].schema, schema) == 0 &&
            strcmp(b->known[i].table, table) == 0)
            return &b->known[i];
    }
    return NULL;
}

static bool known_fits(const struct bl_known *k, const struct bl_table *t)
{
    if (k->ncols != t->ncols)
        return false;
    for (size_t i = 0; i < t->ncols; i++) {
        if (k->types[i] != t->cols[i].raw_type ||
            k->metas[i] != t->cols[i].raw_meta)
            return false;
    }
    return true;
}

/* Puts supplied information on the table's columns. */
static void known_apply(const struct bl_known *k, struct bl_table *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const struct source_binlog_colinfo *ci = &k->cols[i];
        struct bl_col *col = &t->cols[i];
        cdc_free(col->name);
        col->name = cdc_xstrdup(ci->name);
        cdc_free(col->type_override);
        col->type_override = ci->type ? cdc_xstrdup(ci->type) : NULL;
        if (is_numeric(col->type, true))
            col->is_unsigned = ci->is_unsigned;
        if (ci->charset != 0)
            col->charset = ci->charset;
        if (ci->values != NULL) {
            for (size_t v = 0; v < col->nvalues; v++)
                cdc_free(col->values[v]);
            cdc_free(col->values);
            col->values =
                cdc_xcalloc(ci->nvalues ? ci->nvalues : 1, sizeof(char *));
            for (size_t v = 0; v < ci->nvalues; v++)
                col->values[v] = cdc_xstrdup(ci->values[v]);
            col->nvalues = ci->nvalues;
            col->has_values = true;
        }
    }
    for (size_t i = 0; i < t->nkey; i++)
        cdc_free(t->key[i]);
    cdc_free(t->key);
    t->key = NULL;
    t->nkey = 0;
    if (k->nkey > 0) {
        t->key = cdc_xcalloc(k->nkey, sizeof(char *));
        for (size_t i = 0; i < k->nkey; i++)
            t->key[i] = cdc_xstrdup(k->key[i]);
        t->nkey = k->nkey;
    }
    t->has_names = true;
    table_finish(t);
}

/* Table id of a row or table map event: 6 bytes, or 4 when the
 * post-header is 2 bytes shorter (servers before 5.1.4). */
static uint64_t read_table_id(const uint8_t *p, size_t width)
{
    return width == 4 ? le32(p) : le_n(p, 6);
}

static int decode_table_map(struct dctx *c, struct rd *r,
                            struct source_binlog_event *out)
{
    struct source_binlog *b = c->b;
    struct bl_table *t = NULL;
    int rc = CDC_OK;
    size_t plen = post_len(b, BINLOG_T_TABLE_MAP);
    size_t idw = plen == 6 ? 4 : 6;
    size_t at = rd_off(r);
    if (plen < idw + 2 || r->left < plen)
        return fail(c, at, "table map post-header of %zu bytes", plen);
    const uint8_t *p = rd_take(r, plen);
    uint64_t id = read_table_id(p, idw);

    t = cdc_xcalloc(1, sizeof(*t));
    t->id = id;
    for (int k = 0; k < 2; k++) {
        at = rd_off(r);
        const uint8_t *lp = rd_take(r, 1);
        const uint8_t *s = lp ? rd_take(r, (size_t)lp[0] + 1) : NULL;
        if (s == NULL || s[lp[0]] != 0) {
            rc = fail(c, at, "%s name malformed", k ? "table" : "schema");
            goto out;
        }
        char *name = cdc_xstrndup((const char *)s, lp[0]);
        if (k == 0)
            t->schema = name;
        else
            t->table = name;
    }
    uint64_t ncols;
    at = rd_off(r);
    if (!rd_packed(r, &ncols) || ncols > r->left) {
        rc = fail(c, at, "column count malformed");
        goto out;
    }
    t->ncols = (size_t)ncols;
    t->cols = cdc_xcalloc(t->ncols ? t->ncols : 1, sizeof(struct bl_col));
    const uint8_t *types = rd_take(r, t->ncols);
    uint64_t mlen;
    at = rd_off(r);
    if (!rd_packed(r, &mlen) || mlen > r->left) {
        rc = fail(c, at, "metadata length malformed");
        goto out;
    }
    struct rd m = {.base = c->ev, .p = r->p, .left = (size_t)mlen};
    rd_take(r, (size_t)mlen);
    bool meta_ok = true;
    for (size_t i = 0; i < t->ncols; i++) {
        struct bl_col *col = &t->cols[i];
        col->raw_type = types[i];
        col->type = types[i];
        col->geom_type = -1;
        if (!meta_ok)
            continue;
        size_t mat = rd_off(&m);
        enum meta_state ms = col_meta(col, &m);
        if (ms == META_SHORT) {
            rc = fail(c, mat, "metadata of column %zu past its block", i + 1);
            goto out;
        }
        if (ms != META_OK && t->unsupported == NULL)
            t->unsupported = cdc_xasprintf(
                "column %zu: type %u with metadata %04x is not supported",
                i + 1, col->raw_type, col->raw_meta);
        if (ms == META_UNKNOWN)
            meta_ok = false;
    }
    if (meta_ok && m.left != 0) {
        rc =
            fail(c, rd_off(&m), "%zu bytes left in the metadata block", m.left);
        goto out;
    }
    at = rd_off(r);
    if (rd_take(r, (t->ncols + 7) / 8) == NULL) {
        rc = fail(c, at, "null bitmap missing");
        goto out;
    }
    /* Optional metadata: type, length, value, in any order. */
    struct om_field f[OM_MAX];
    memset(f, 0, sizeof(f));
    while (r->left > 0) {
        at = rd_off(r);
        uint8_t kind = r->p[0];
        rd_take(r, 1);
        uint64_t flen;
        if (!rd_packed(r, &flen) || flen > r->left) {
            rc = fail(c, at, "optional metadata field %u malformed", kind);
            goto out;
        }
        const uint8_t *fp = rd_take(r, (size_t)flen);
        if (kind > 0 && kind < OM_MAX) {
            f[kind].p = fp;
            f[kind].n = (size_t)flen;
            f[kind].off = at;
        }
    }
    if (meta_ok) {
        c->tab = t;
        rc = apply_optional(c, t, f);
        c->tab = NULL;
        if (rc != CDC_OK)
            goto out;
    }
    table_finish(t);
    struct bl_known *k = known_find(b, t->schema, t->table);
    if (k != NULL && known_fits(k, t))
        known_apply(k, t);
    out->kind = BINLOG_TABLE_MAP;
    out->table_map.table_id = id;
    out->table_map.schema = cdc_arena_strdup(c->arena, t->schema);
    out->table_map.table = cdc_arena_strdup(c->arena, t->table);
    out->table_map.ncols = t->ncols;
    out->table_map.names_missing = !t->has_names;
    table_put(b, t);
    t = NULL;
out:
    if (rc != CDC_OK) {
        /* a stale map of that id must not decode later rows */
        size_t i = table_index(b, id);
        if (i != SIZE_MAX)
            table_remove_at(b, i);
    }
    table_free(t);
    return rc;
}

/* ==== Values ==== */

static void put(struct dctx *c, struct cdc_col *col, const char *s, size_t n)
{
    col->value = cdc_arena_strndup(c->arena, s, n);
    col->value_len = n;
}

/* Shortest text that reads back as the same double (or float): the
 * fewest significant digits that round-trip (the property only grows with
 * more digits, hence the binary search), in plain notation for exponents
 * in [-4, limit), else in exponent notation. */
static size_t fmt_real(double v, bool is_float, char *out, size_t outsz)
{
    int lo = 1;
    int hi = is_float ? 9 : 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(out, outsz, "%.*e", mid - 1, v);
        bool same =
            is_float ? strtof(out, NULL) == (float)v : strtod(out, NULL) == v;
        if (same)
            hi = mid;
        else
            lo = mid + 1;
    }
    int n = snprintf(out, outsz, "%.*e", lo - 1, v);
    const char *e = strchr(out, 'e');
    int exp = e ? (int)strtol(e + 1, NULL, 10) : 0;
    int limit = is_float ? 6 : 15;
    if (exp < -4 || exp >= limit)
        return (size_t)n;
    int decimals = lo - 1 - exp;
    if (decimals < 0)
        decimals = 0;
    return (size_t)snprintf(out, outsz, "%.*f", decimals, v);
}

size_t source_binlog_format_real(double v, bool is_float, char *out,
                                 size_t outsz)
{
    return fmt_real(v, is_float, out, outsz);
}

static const uint8_t dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_9[10] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

static size_t decimal_size(unsigned prec, unsigned scale)
{
    unsigned intg = prec - scale;
    return (intg / 9) * 4 + dig2bytes[intg % 9] + (scale / 9) * 4 +
           dig2bytes[scale % 9];
}

/* Digits of one group: v must be below 10^ndig. */
static bool put_group(uint32_t v, unsigned ndig, char *out, size_t *o)
{
    if (v >= pow10_9[ndig])
        return false;
    for (unsigned i = ndig; i > 0; i--) {
        out[*o + i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    *o += ndig;
    return true;
}

/*
 * MySQL's binary decimal: the integer digits then the fraction digits in
 * groups of nine, each group a big-endian integer of 4 bytes (fewer for a
 * partial group: the leading one of the integer part, the trailing one of
 * the fraction); the first bit is flipped so that positive values sort
 * above negative ones, and negative values have every bit inverted.
 * Writes "[-]digits[.fraction]" (out holds 2 + 65 + 1 + 38 + 1 bytes).
 */
static bool decimal_text(const uint8_t *p, unsigned prec, unsigned scale,
                         char *out, size_t *outlen)
{
    uint8_t buf[48];
    size_t n = decimal_size(prec, scale);
    if (n > sizeof(buf))
        return false;
    memcpy(buf, p, n);
    bool neg = !(buf[0] & 0x80);
    buf[0] ^= 0x80;
    if (neg) {
        for (size_t i = 0; i < n; i++)
            buf[i] ^= 0xFF;
    }
    char digits[128];
    size_t o = 0;
    unsigned intg = prec - scale;
    const uint8_t *q = buf;
    unsigned lead = intg % 9;
    if (lead) {
        if (!put_group((uint32_t)be_n(q, dig2bytes[lead]), lead, digits, &o))
            return false;
        q += dig2bytes[lead];
    }
    for (unsigned i = 0; i < intg / 9; i++, q += 4) {
        if (!put_group((uint32_t)be_n(q, 4), 9, digits, &o))
            return false;
    }
    size_t int_end = o;
    for (unsigned i = 0; i < scale / 9; i++, q += 4) {
        if (!put_group((uint32_t)be_n(q, 4), 9, digits, &o))
            return false;
    }
    unsigned trail = scale % 9;
    if (trail) {
        if (!put_group((uint32_t)be_n(q, dig2bytes[trail]), trail, digits, &o))
            return false;
    }
    size_t first = 0;
    while (first + 1 < int_end && digits[first] == '0')
        first++;
    bool zero = true;
    for (size_t i = 0; i < o; i++) {
        if (digits[i] != '0')
            zero = false;
    }
    size_t w = 0;
    if (neg && !zero)
        out[w++] = '-';
    if (int_end == 0) {
        out[w++] = '0';
    } else {
        memcpy(out + w, digits + first, int_end - first);
        w += int_end - first;
    }
    if (scale > 0) {
        out[w++] = '.';
        memcpy(out + w, digits + int_end, o - int_end);
        w += o - int_end;
    }
    out[w] = '\0';
    *outlen = w;
    return true;
}

/* Civil date of a day count from 1970-01-01 (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468; /* days from 0000-03-01 to 1970-01-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097); /* 0..146096 */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* 0..365 */
    unsigned mp = (5 * doy + 2) / 153;                      /* 0..11 */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ".ffff" with fsp digits of usec (0..999999); "" for fsp 0. */
static size_t put_frac(char *out, size_t outsz, unsigned fsp, uint32_t usec)
{
    if (fsp == 0)
        return 0;
    static const uint32_t div[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
    return (size_t)snprintf(out, outsz, ".%0*u", (int)fsp, usec / div[fsp]);
}

/* Fields of MySQL's packed datetime (a signed 64-bit integer: the date
 * and time in bit fields above 24 bits of microseconds). */
struct mtime {
    bool neg;
    unsigned year, month, day, hour, minute, second;
    uint32_t usec;
};

/* Clears t, sets its sign and microseconds, and gives the magnitude of v
 * in u; false for the one value without a magnitude. */
static bool unpack_sign(int64_t v, struct mtime *t, uint64_t *u)
{
    memset(t, 0, sizeof(*t));
    if (v == INT64_MIN)
        return false;
    t->neg = v < 0;
    *u = (uint64_t)(v < 0 ? -v : v);
    t->usec = (uint32_t)(*u % (1u << 24));
    return true;
}

static bool unpack_datetime(int64_t v, struct mtime *t)
{
    uint64_t u;
    if (!unpack_sign(v, t, &u))
        return false;
    uint64_t ymdhms = u >> 24;
    uint64_t ymd = ymdhms >> 17;
    uint64_t ym = ymd >> 5;
    uint64_t hms = ymdhms % (1u << 17);
    t->day = (unsigned)(ymd % 32);
    t->month = (unsigned)(ym % 13);
    t->year = (unsigned)(ym / 13);
    t->second = (unsigned)(hms % 64);
    t->minute = (unsigned)((hms >> 6) % 64);
    t->hour = (unsigned)(hms >> 12);
    return t->usec <= 999999 && t->year <= 9999;
}

static bool unpack_time(int64_t v, struct mtime *t)
{
    uint64_t u;
    if (!unpack_sign(v, t, &u))
        return false;
    uint64_t hms = u >> 24;
    t->hour = (unsigned)((hms >> 12) % 1024);
    t->minute = (unsigned)((hms >> 6) % 64);
    t->second = (unsigned)(hms % 64);
    return t->usec <= 999999;
}

static size_t fmt_date(const struct mtime *t, char *out, size_t outsz)
{
    return (size_t)snprintf(out, outsz, "%04u-%02u-%02u", t->year, t->month,
                            t->day);
}

static size_t fmt_time(const struct mtime *t, unsigned fsp, char *out,
                       size_t outsz)
{
    size_t n =
        (size_t)snprintf(out, outsz, "%s%02u:%02u:%02u", t->neg ? "-" : "",
                         t->hour, t->minute, t->second);
    return n + put_frac(out + n, outsz - n, fsp, t->usec);
}

static size_t fmt_datetime(const struct mtime *t, unsigned fsp, char *out,
                           size_t outsz)
{
    size_t n = fmt_date(t, out, outsz);
    out[n++] = ' ';
    struct mtime tt = *t;
    tt.neg = false;
    return n + fmt_time(&tt, fsp, out + n, outsz - n);
}

/* Fraction bytes of TIME2/DATETIME2/TIMESTAMP2 as microseconds. */
static int32_t frac_usec(const uint8_t *p, unsigned fsp)
{
    switch ((fsp + 1) / 2) {
    case 1:
        return (int32_t)(int8_t)p[0] * 10000;
    case 2:
        return (int32_t)(int16_t)be_n(p, 2) * 100;
    case 3: {
        uint32_t v = (uint32_t)be_n(p, 3);
        return (int32_t)(v & 0x800000 ? v | 0xFF000000u : v);
    }
    default:
        return 0;
    }
}

/* ==== Binary JSON (MySQL 8) ==== */

struct jctx {
    struct dctx *c;
    struct cdc_buf *out;
    size_t nodes_left;
    size_t out_limit;
    size_t doc_off; /* the document's offset in the event, for messages */
    const uint8_t *doc;
};

static int jfail(struct jctx *j, const uint8_t *at, const char *what)
{
    return fail(j->c, j->doc_off + (size_t)(at - j->doc), "binary JSON: %s",
                what);
}

static int jput(struct jctx *j, const char *s, size_t n)
{
    if (j->out->len + n > j->out_limit)
        return jfail(j, j->doc, "value larger than its document allows");
    int rc = cdc_buf_append(j->out, s, n);
    if (rc != CDC_OK)
        return cdc_err_set(j->c->err, rc, 0, "JSON value too large");
    return CDC_OK;
}

static int jstr(struct jctx *j, const uint8_t *p, size_t n, const uint8_t *at)
{
    if (utf8_check(p, n) != n)
        return jfail(j, at, "string is not valid UTF-8");
    if (j->out->len + n + 2 > j->out_limit)
        return jfail(j, at, "value larger than its document allows");
    size_t before = j->out->len;
    int rc = cdc_buf_append_json_str(j->out, (const char *)p, n);
    if (rc != CDC_OK)
        return cdc_err_set(j->c->err, rc, 0, "JSON value too large");
    if (j->out->len > j->out_limit) {
        j->out->len = before;
        return jfail(j, at, "value larger than its document allows");
    }
    return CDC_OK;
}

/* A length of 7 bits per byte, low bits first (at most 5 bytes). */
static bool jvarlen(const uint8_t *p, size_t n, size_t *len, size_t *used)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 5; i++) {
        v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (v > UINT32_MAX)
                return false;
            *len = (size_t)v;
            *used = i + 1;
            return true;
        }
    }
    return false;
}

static int jvalue(struct jctx *j, uint8_t type, const uint8_t *p, size_t n,
                  int depth);

static int jopaque(struct jctx *j, const uint8_t *p, size_t n)
{
    if (n < 1)
        return jfail(j, p, "opaque value truncated");
    uint8_t ftype = p[0];
    size_t len;
    size_t used;
    if (!jvarlen(p + 1, n - 1, &len, &used) || len > n - 1 - used)
        return jfail(j, p, "opaque value length malformed");
    const uint8_t *d = p + 1 + used;
    char s[128];
    size_t sl;
    struct mtime t;
    switch (ftype) {
    case MT_NEWDECIMAL:
        if (len < 2 || d[0] < 1 || d[0] > 65 || d[1] > 38 || d[1] > d[0] ||
            decimal_size(d[0], d[1]) != len - 2 ||
            !decimal_text(d + 2, d[0], d[1], s, &sl))
            return jfail(j, p, "decimal malformed");
        return jput(j, s, sl);
    case MT_DATE:
    case MT_DATETIME:
    case MT_TIMESTAMP:
        if (len != 8 || !unpack_datetime((int64_t)le64(d), &t) || t.neg)
            return jfail(j, p, "date or time malformed");
        s[0] = '"';
        sl = 1 + (ftype == MT_DATE ? fmt_date(&t, s + 1, sizeof(s) - 2)
                                   : fmt_datetime(&t, 6, s + 1, sizeof(s) - 2));
        s[sl++] = '"';
        return jput(j, s, sl);
    case MT_TIME:
        if (len != 8 || !unpack_time((int64_t)le64(d), &t))
            return jfail(j, p, "time malformed");
        s[0] = '"';
        sl = 1 + fmt_time(&t, 6, s + 1, sizeof(s) - 2);
        s[sl++] = '"';
        return jput(j, s, sl);
    default: {
        int k = snprintf(s, sizeof(s), "\"base64:type%u:", ftype);
        size_t total = (size_t)k + b64_len(len) + 1;
        if (j->out->len + total > j->out_limit)
            return jfail(j, p, "value larger than its document allows");
        char *enc = cdc_xmalloc(b64_len(len) + 1);
        b64_encode(d, len, enc);
        int rc = jput(j, s, (size_t)k);
        if (rc == CDC_OK)
            rc = jput(j, enc, b64_len(len));
        if (rc == CDC_OK)
            rc = jput(j, "\"", 1);
        cdc_free(enc);
        return rc;
    }
    }
}

/* An object or array at p (n bytes available): counts and sizes in 2
 * bytes (small) or 4 (large), key entries (offset, 2-byte length), value
 * entries (type, then the value itself when it fits, else its offset from
 * the start of the container). Written as MySQL prints JSON: ", " between
 * members, ": " after keys. */
static int jcontainer(struct jctx *j, bool object, bool large, const uint8_t *p,
                      size_t n, int depth)
{
    size_t osz = large ? 4 : 2;
    if (n < 2 * osz)
        return jfail(j, p, "container header truncated");
    size_t count = large ? le32(p) : le16(p);
    size_t size = large ? le32(p + osz) : le16(p + osz);
    if (size > n || size < 2 * osz)
        return jfail(j, p, "container size beyond its space");
    size_t kentry = osz + 2;
    size_t ventry = 1 + osz;
    size_t hdr = 2 * osz;
    if (count > (size - hdr) / (ventry + (object ? kentry : 0)))
        return jfail(j, p, "container entries beyond its size");
    size_t keys_at = hdr;
    size_t vals_at = hdr + (object ? count * kentry : 0);
    size_t header_end = vals_at + count * ventry;
    int rc = jput(j, object ? "{" : "[", 1);
    for (size_t i = 0; i < count && rc == CDC_OK; i++) {
        if (i > 0)
            rc = jput(j, ", ", 2);
        if (rc != CDC_OK)
            break;
        if (object) {
            const uint8_t *ke = p + keys_at + i * kentry;
            size_t koff = large ? le32(ke) : le16(ke);
            size_t klen = le16(ke + osz);
            if (koff < header_end || koff > size || klen > size - koff)
                return jfail(j, ke, "key beyond its object");
            rc = jstr(j, p + koff, klen, ke);
            if (rc == CDC_OK)
                rc = jput(j, ": ", 2);
            if (rc != CDC_OK)
                break;
        }
        const uint8_t *ve = p + vals_at + i * ventry;
        uint8_t vt = ve[0];
        bool inlined = vt == 0x04 || vt == 0x05 || vt == 0x06 ||
                       (large && (vt == 0x07 || vt == 0x08));
        if (inlined) {
            rc = jvalue(j, vt, ve + 1, osz, depth + 1);
            continue;
        }
        size_t voff = large ? le32(ve + 1) : le16(ve + 1);
        if (voff < header_end || voff >= size)
            return jfail(j, ve, "value beyond its container");
        rc = jvalue(j, vt, p + voff, size - voff, depth + 1);
    }
    if (rc == CDC_OK)
        rc = jput(j, object ? "}" : "]", 1);
    return rc;
}

static int jvalue(struct jctx *j, uint8_t type, const uint8_t *p, size_t n,
                  int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return jfail(j, p, "nested too deeply");
    if (j->nodes_left == 0)
        return jfail(j, p, "more values than its document holds");
    j->nodes_left--;
    char s[64];
    size_t sl;
    switch (type) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x03:
        return jcontainer(j, type < 0x02, type & 1, p, n, depth);
    case 0x04:
        if (n < 1)
            return jfail(j, p, "literal truncated");
        if (p[0] == 0)
            return jput(j, "null", 4);
        if (p[0] == 1)
            return jput(j, "true", 4);
        if (p[0] == 2)
            return jput(j, "false", 5);
        return jfail(j, p, "unknown literal");
    case 0x05:
    case 0x06:
        if (n < 2)
            return jfail(j, p, "integer truncated");
        sl = (size_t)(type == 0x05
                          ? snprintf(s, sizeof(s), "%d", (int16_t)le16(p))
                          : snprintf(s, sizeof(s), "%u", le16(p)));
        return jput(j, s, sl);
    case 0x07:
    case 0x08:
        if (n < 4)
            return jfail(j, p, "integer truncated");
        sl = (size_t)(type == 0x07
                          ? snprintf(s, sizeof(s), "%d", (int32_t)le32(p))
                          : snprintf(s, sizeof(s), "%u", le32(p)));
        return jput(j, s, sl);
    case 0x09:
    case 0x0A:
        if (n < 8)
            return jfail(j, p, "integer truncated");
        sl = (size_t)(type == 0x09 ? snprintf(s, sizeof(s), "%lld",
                                              (long long)(int64_t)le64(p))
                                   : snprintf(s, sizeof(s), "%llu",
                                              (unsigned long long)le64(p)));
        return jput(j, s, sl);
    case 0x0B: {
        if (n < 8)
            return jfail(j, p, "double truncated");
        uint64_t bits = le64(p);
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (d != d || d - d != 0)
            return jfail(j, p, "double is not finite");
        sl = fmt_real(d, false, s, sizeof(s));
        return jput(j, s, sl);
    }
    case 0x0C: {
        size_t len;
        size_t used;
        if (!jvarlen(p, n, &len, &used) || len > n - used)
            return jfail(j, p, "string length malformed");
        return jstr(j, p + used, len, p);
    }
    case 0x0F:
        return jopaque(j, p, n);
    default:
        return jfail(j, p, "unknown value type");
    }
}

/* JSON text of a binary document at p (n bytes) into b->tmp. */
static int json_text(struct dctx *c, const uint8_t *p, size_t n)
{
    struct cdc_buf *out = &c->b->tmp;
    cdc_buf_reset(out);
    if (n == 0) /* what MySQL stores for a JSON null from some paths */
        return cdc_buf_append_str(out, "null");
    struct jctx j = {
        .c = c,
        .out = out,
        .nodes_left = n,
        .out_limit = n * JSON_OUT_FACTOR + JSON_OUT_SLACK,
        .doc_off = (size_t)(p - c->ev),
        .doc = p,
    };
    return jvalue(&j, p[0], p + 1, n - 1, 0);
}

/* ==== Row values ==== */

static int col_fail_charset(struct dctx *c, size_t off,
                            const struct bl_col *col, size_t bad)
{
    if (charset_kind(col->charset) == CS_OTHER)
        return fail(c, off, "character set of collation %u is not supported",
                    col->charset);
    if (col->charset == 0)
        return fail(c, off,
                    "character set not known and the value is not UTF-8 "
                    "(byte %zu)",
                    bad);
    return fail(c, off,
                "value is not valid in the character set of collation %u "
                "(byte %zu)",
                col->charset, bad);
}

static void put_base64(struct dctx *c, struct cdc_col *out, const uint8_t *p,
                       size_t n, size_t pad_to)
{
    size_t total = n < pad_to ? pad_to : n;
    char *s = cdc_arena_alloc(c->arena, b64_len(total) + 1);
    if (total == n) {
        b64_encode(p, n, s);
    } else {
        uint8_t *padded = cdc_xcalloc(total, 1);
        memcpy(padded, p, n);
        b64_encode(padded, total, s);
        cdc_free(padded);
    }
    out->value = s;
    out->value_len = b64_len(total);
}

static int put_text(struct dctx *c, struct cdc_col *out,
                    const struct bl_col *col, const uint8_t *p, size_t n,
                    size_t off, size_t pad_to)
{
    enum charset_kind cs = charset_kind(col->charset);
    if (cs == CS_BINARY) {
        put_base64(c, out, p, n, pad_to);
        return CDC_OK;
    }
    size_t bad;
    if (!to_utf8(cs, p, n, c->arena, &out->value, &out->value_len, &bad))
        return col_fail_charset(c, off, col, bad);
    return CDC_OK;
}

static void put_hex(struct dctx *c, struct cdc_col *out, const char *prefix,
                    const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t pl = strlen(prefix);
    char *s = cdc_arena_alloc(c->arena, pl + n * 2 + 1);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < n; i++) {
        s[pl + 2 * i] = hex[p[i] >> 4];
        s[pl + 2 * i + 1] = hex[p[i] & 15];
    }
    s[pl + n * 2] = '\0';
    out->value = s;
    out->value_len = pl + n * 2;
}

/* Bytes a length prefix of w bytes announces, checked against the row. */
static int take_prefixed(struct dctx *c, struct rd *r, size_t w,
                         const uint8_t **p, size_t *n)
{
    size_t at = rd_off(r);
    const uint8_t *lp = rd_take(r, w);
    if (lp == NULL)
        return fail(c, at, "length of %zu bytes truncated", w);
    size_t len = (size_t)le_n(lp, w);
    *p = rd_take(r, len);
    if (*p == NULL)
        return fail(c, at, "value of %zu bytes past the end (%zu left)", len,
                    r->left);
    *n = len;
    return CDC_OK;
}

static int put_enum_set(struct dctx *c, struct cdc_col *out,
                        const struct bl_col *col, uint64_t v, size_t off,
                        bool *as_index)
{
    char s[32];
    if (!col->has_values) {
        *as_index = true;
        int k = snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
        put(c, out, s, (size_t)k);
        return CDC_OK;
    }
    if (col->type == MT_ENUM) {
        if (v == 0) {
            put(c, out, "", 0);
            return CDC_OK;
        }
        if (v > col->nvalues)
            return fail(c, off, "enum index %llu beyond its %zu members",
                        (unsigned long long)v, col->nvalues);
        const char *m = col->values[v - 1];
        put(c, out, m, strlen(m));
        return CDC_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < 64; i++) {
        if (!((v >> i) & 1))
            continue;
        if (i >= col->nvalues)
            return fail(c, off, "set bit %zu beyond its %zu members", i,
                        col->nvalues);
        total += strlen(col->values[i]) + 1;
    }
    char *text = cdc_arena_alloc(c->arena, total + 1);
    size_t o = 0;
    for (size_t i = 0; i < 64 && i < col->nvalues; i++) {
        if (!((v >> i) & 1))
            continue;
        if (o > 0)
            text[o++] = ',';
        size_t l = strlen(col->values[i]);
        memcpy(text + o, col->values[i], l);
        o += l;
    }
    text[o] = '\0';
    out->value = text;
    out->value_len = o;
    return CDC_OK;
}

/* Decodes the value of column col from r into out (never NULL here). */
static int decode_value(struct dctx *c, const struct bl_col *col, struct rd *r,
                        struct cdc_col *out, bool *as_index)
{
    size_t at = rd_off(r);
    const uint8_t *p;
    size_t n;
    char s[160];
    size_t sl;
    struct mtime t;
    int rc;

#define NEED(k)                                                                \
    do {                                                                       \
        p = rd_take(r, (k));                                                   \
        if (p == NULL)                                                         \
            return fail(c, at, "value of %zu bytes past the end (%zu left)",   \
                        (size_t)(k), r->left);                                 \
    } while (0)

    switch (col->type) {
    case MT_TINY:
    case MT_SHORT:
    case MT_INT24:
    case MT_LONG:
    case MT_LONGLONG: {
        static const uint8_t width[] = {[MT_TINY] = 1,
                                        [MT_SHORT] = 2,
                                        [MT_INT24] = 3,
                                        [MT_LONG] = 4,
                                        [MT_LONGLONG] = 8};
        size_t w = width[col->type];
        NEED(w);
        uint64_t u = le_n(p, w);
        if (col->is_unsigned) {
            sl = fmt_u64(s, u);
        } else {
            unsigned shift = (unsigned)(64 - 8 * w);
            int64_t v = (int64_t)(u << shift) >> shift;
            sl = fmt_i64(s, v);
        }
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_FLOAT: {
        NEED(4);
        uint32_t bits = le32(p);
        float f;
        memcpy(&f, &bits, sizeof(f));
        if (f != f || f - f != 0)
            return fail(c, at, "float is not finite");
        sl = fmt_real((double)f, true, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_DOUBLE: {
        NEED(8);
        uint64_t bits = le64(p);
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (d != d || d - d != 0)
            return fail(c, at, "double is not finite");
        sl = fmt_real(d, false, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_NEWDECIMAL:
        NEED(decimal_size(col->precision, col->scale));
        if (!decimal_text(p, col->precision, col->scale, s, &sl))
            return fail(c, at, "decimal(%u,%u) digits malformed",
                        col->precision, col->scale);
        put(c, out, s, sl);
        return CDC_OK;
    case MT_YEAR:
        NEED(1);
        sl = (size_t)snprintf(s, sizeof(s), "%04u", p[0] ? 1900u + p[0] : 0u);
        put(c, out, s, sl);
        return CDC_OK;
    case MT_DATE:
    case MT_NEWDATE: {
        NEED(3);
        uint32_t v = le24(p);
        t = (struct mtime){
            .day = v & 31, .month = (v >> 5) & 15, .year = v >> 9};
        sl = fmt_date(&t, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_TIME: {
        /* before MySQL 5.6: a signed integer HHMMSS */
        NEED(3);
        uint32_t u = le24(p);
        int32_t v = (int32_t)(u & 0x800000 ? u | 0xFF000000u : u);
        t = (struct mtime){.neg = v < 0};
        uint32_t a = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
        t.hour = a / 10000;
        t.minute = a / 100 % 100;
        t.second = a % 100;
        sl = fmt_time(&t, 0, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_DATETIME: {
        /* before MySQL 5.6: YYYYMMDDhhmmss as an integer */
        NEED(8);
        uint64_t v = le64(p);
        uint64_t d = v / 1000000;
        uint64_t tm = v % 1000000;
        if (d > 99991231)
            return fail(c, at, "datetime %llu out of range",
                        (unsigned long long)v);
        t = (struct mtime){.year = (unsigned)(d / 10000),
                           .month = (unsigned)(d / 100 % 100),
                           .day = (unsigned)(d % 100),
                           .hour = (unsigned)(tm / 10000),
                           .minute = (unsigned)(tm / 100 % 100),
                           .second = (unsigned)(tm % 100)};
        sl = fmt_datetime(&t, 0, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_TIMESTAMP:
    case MT_TIMESTAMP2: {
        unsigned fsp = col->type == MT_TIMESTAMP2 ? col->scale : 0;
        NEED(4 + (fsp + 1) / 2);
        uint32_t sec =
            col->type == MT_TIMESTAMP2 ? (uint32_t)be_n(p, 4) : le32(p);
        int32_t usec = frac_usec(p + 4, fsp);
        if (usec < 0 || usec > 999999)
            return fail(c, at, "timestamp fraction out of range");
        if (sec == 0 && usec == 0) {
            t = (struct mtime){0};
        } else {
            int64_t y;
            t = (struct mtime){.usec = (uint32_t)usec};
            civil_from_days(sec / 86400, &y, &t.month, &t.day);
            t.year = (unsigned)y;
            t.hour = sec % 86400 / 3600;
            t.minute = sec % 3600 / 60;
            t.second = sec % 60;
        }
        sl = fmt_datetime(&t, fsp, s, sizeof(s));
        memcpy(s + sl, "+00", 4);
        put(c, out, s, sl + 3);
        return CDC_OK;
    }
    case MT_DATETIME2: {
        unsigned fsp = col->scale;
        NEED(5 + (fsp + 1) / 2);
        int64_t ip = (int64_t)be_n(p, 5) - INT64_C(0x8000000000);
        if (ip < 0)
            return fail(c, at, "datetime value is negative");
        int64_t packed = ip * (INT64_C(1) << 24) + frac_usec(p + 5, fsp);
        if (!unpack_datetime(packed, &t) || t.neg)
            return fail(c, at, "datetime value out of range");
        sl = fmt_datetime(&t, fsp, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_TIME2: {
        unsigned fsp = col->scale;
        NEED(3 + (fsp + 1) / 2);
        int64_t packed;
        if (fsp >= 5) {
            packed = (int64_t)be_n(p, 6) - INT64_C(0x800000000000);
        } else {
            int64_t ip = (int64_t)be_n(p, 3) - 0x800000;
            int32_t frac = 0;
            if (fsp >= 3) {
                frac = (int32_t)be_n(p + 3, 2);
                if (ip < 0 && frac) {
                    /* negative values keep the fraction's complement */
                    ip++;
                    frac -= 0x10000;
                }
                frac *= 100;
            } else if (fsp >= 1) {
                frac = p[3];
                if (ip < 0 && frac) {
                    ip++;
                    frac -= 0x100;
                }
                frac *= 10000;
            }
            packed = ip * (INT64_C(1) << 24) + frac;
        }
        if (!unpack_time(packed, &t))
            return fail(c, at, "time value out of range");
        sl = fmt_time(&t, fsp, s, sizeof(s));
        put(c, out, s, sl);
        return CDC_OK;
    }
    case MT_BIT: {
        size_t bytes = ((size_t)col->nbits + 7) / 8;
        NEED(bytes);
        uint64_t v = be_n(p, bytes);
        for (size_t i = 0; i < col->nbits; i++)
            s[i] = (char)('0' + ((v >> (col->nbits - 1 - i)) & 1));
        put(c, out, s, col->nbits);
        return CDC_OK;
    }
    case MT_ENUM:
    case MT_SET:
        NEED(col->len_bytes);
        return put_enum_set(c, out, col, le_n(p, col->len_bytes), at, as_index);
    case MT_STRING:
        rc = take_prefixed(c, r, col->max_len > 255 ? 2 : 1, &p, &n);
        if (rc != CDC_OK)
            return rc;
        return put_text(c, out, col, p, n, at, col->max_len);
    case MT_VARCHAR:
    case MT_VAR_STRING:
        rc = take_prefixed(c, r, col->max_len > 255 ? 2 : 1, &p, &n);
        if (rc != CDC_OK)
            return rc;
        return put_text(c, out, col, p, n, at, 0);
    case MT_TINY_BLOB:
    case MT_MEDIUM_BLOB:
    case MT_LONG_BLOB:
    case MT_BLOB:
        rc = take_prefixed(c, r, col->len_bytes, &p, &n);
        if (rc != CDC_OK)
            return rc;
        return put_text(c, out, col, p, n, at, 0);
    case MT_JSON:
        rc = take_prefixed(c, r, col->len_bytes, &p, &n);
        if (rc != CDC_OK)
            return rc;
        rc = json_text(c, p, n);
        if (rc != CDC_OK)
            return rc;
        put(c, out, c->b->tmp.data, c->b->tmp.len);
        return CDC_OK;
    case MT_GEOMETRY: {
        rc = take_prefixed(c, r, col->len_bytes, &p, &n);
        if (rc != CDC_OK)
            return rc;
        if (n < 4)
            return fail(c, at, "geometry of %zu bytes has no SRID", n);
        uint32_t srid = le32(p);
        char prefix[32] = "";
        if (srid != 0)
            snprintf(prefix, sizeof(prefix), "SRID=%u;", srid);
        put_hex(c, out, prefix, p + 4, n - 4);
        return CDC_OK;
    }
    default:
        return fail(c, at, "type %u is not supported", col->type);
    }
#undef NEED
}

/* ==== Row events ==== */

struct rows_ctx {
    const char **names; /* in the arena, shared by every row */
    const char **types;
    size_t cells_left;
    bool enum_as_index;
    bool absent;
};

/* One row image: the null bitmap of the columns present, then their
 * values. */
static int decode_image(struct dctx *c, struct rows_ctx *rc_,
                        const struct bl_table *t, const uint8_t *present,
                        size_t npresent, struct rd *r,
                        struct cdc_col **cols_out, const bool **absent_out)
{
    if (rc_->cells_left < t->ncols)
        return cdc_err_set(c->err, CDC_ETOOBIG, CDC_ERR_POISON,
                           "row event for table \"%s\".\"%s\" ending at %u "
                           "decodes to far more columns than its size",
                           t->schema, t->table, c->hdr.log_pos);
    rc_->cells_left -= t->ncols;
    size_t at = rd_off(r);
    const uint8_t *nulls = rd_take(r, (npresent + 7) / 8);
    if (nulls == NULL)
        return fail(c, at, "null bitmap of a row past the end");
    struct cdc_col *cols =
        cdc_arena_alloc(c->arena, (t->ncols ? t->ncols : 1) * sizeof(*cols));
    bool *absent = NULL;
    size_t j = 0;
    for (size_t i = 0; i < t->ncols; i++) {
        cols[i] =
            (struct cdc_col){.name = rc_->names[i], .type = rc_->types[i]};
        if (!bit_set(present, i)) {
            if (absent == NULL) {
                absent = cdc_arena_alloc(c->arena, t->ncols);
                memset(absent, 0, t->ncols);
            }
            absent[i] = true;
            rc_->absent = true;
            continue;
        }
        if (bit_set(nulls, j++))
            continue;
        c->col = i;
        c->in_col = true;
        int rc = decode_value(c, &t->cols[i], r, &cols[i], &rc_->enum_as_index);
        c->in_col = false;
        if (rc != CDC_OK)
            return rc;
    }
    *cols_out = cols;
    *absent_out = absent;
    return CDC_OK;
}

static size_t count_bits(const uint8_t *bits, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += bit_set(bits, i);
    return k;
}

static int decode_rows(struct dctx *c, struct rd *r,
                       struct source_binlog_event *out)
{
    uint8_t type = c->hdr.type;
    bool v2 = type >= BINLOG_T_WRITE_ROWS;
    enum cdc_op op;
    if (type == BINLOG_T_WRITE_ROWS_V1 || type == BINLOG_T_WRITE_ROWS)
        op = CDC_OP_INSERT;
    else if (type == BINLOG_T_UPDATE_ROWS_V1 || type == BINLOG_T_UPDATE_ROWS)
        op = CDC_OP_UPDATE;
    else
        op = CDC_OP_DELETE;
    size_t plen = post_len(c->b, type);
    size_t fixed = v2 ? 4 : 2; /* flags, and the extra data length */
    size_t idw = plen == fixed + 4 ? 4 : 6;
    size_t at = rd_off(r);
    if (plen < idw + fixed || r->left < plen)
        return fail(c, at, "row event post-header of %zu bytes", plen);
    const uint8_t *p = rd_take(r, plen);
    uint64_t id = read_table_id(p, idw);
    uint16_t flags = le16(p + idw);
    if (v2) {
        size_t extra = le16(p + idw + 2);
        at = rd_off(r);
        if (extra < 2 || rd_take(r, extra - 2) == NULL)
            return fail(c, at, "extra row data of %zu bytes malformed", extra);
    }
    const struct bl_table *t = table_find(c->b, id);
    if (t == NULL) {
        /* the end-of-statement marker of a statement without rows */
        uint64_t dummy =
            idw == 4 ? UINT64_C(0xFFFFFF) : UINT64_C(0xFFFFFFFFFFFF);
        if ((id == dummy || id == UINT32_MAX) && (flags & ROWS_STMT_END)) {
            out->kind = BINLOG_OTHER;
            return CDC_OK;
        }
        return fail(c, rd_off(r), "no table map for table id %llu",
                    (unsigned long long)id);
    }
    c->tab = t;
    if (t->unsupported != NULL)
        return fail(c, SIZE_MAX, "%s", t->unsupported);
    uint64_t width;
    at = rd_off(r);
    if (!rd_packed(r, &width) || width != t->ncols)
        return fail(c, at,
                    "row width does not match the table map's %zu "
                    "columns",
                    t->ncols);
    size_t bmlen = (t->ncols + 7) / 8;
    at = rd_off(r);
    const uint8_t *present1 = rd_take(r, bmlen);
    const uint8_t *present2 =
        present1 && op == CDC_OP_UPDATE ? rd_take(r, bmlen) : present1;
    if (present1 == NULL || present2 == NULL)
        return fail(c, at, "column bitmaps past the end");
    size_t n1 = count_bits(present1, t->ncols);
    size_t n2 = count_bits(present2, t->ncols);
    if (r->left > 0 && (n1 == 0 || n2 == 0))
        return fail(c, at, "rows with no column");

    struct rows_ctx rx = {
        .cells_left = r->left * CELLS_PER_BYTE + CELLS_BASE,
    };
    rx.names =
        cdc_arena_alloc(c->arena, (t->ncols ? t->ncols : 1) * sizeof(char *));
    rx.types =
        cdc_arena_alloc(c->arena, (t->ncols ? t->ncols : 1) * sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++) {
        rx.names[i] = cdc_arena_strdup(c->arena, t->cols[i].name);
        rx.types[i] = cdc_arena_strdup(c->arena, t->cols[i].type_name);
    }
    size_t cap = 4;
    size_t nrows = 0;
    struct source_binlog_row *rows =
        cdc_arena_alloc(c->arena, cap * sizeof(*rows));
    while (r->left > 0) {
        if (nrows == cap) {
            struct source_binlog_row *grown =
                cdc_arena_alloc(c->arena, cap * 2 * sizeof(*rows));
            memcpy(grown, rows, nrows * sizeof(*rows));
            rows = grown;
            cap *= 2;
        }
        struct source_binlog_row *row = &rows[nrows];
        memset(row, 0, sizeof(*row));
        int rc;
        if (op == CDC_OP_INSERT) {
            rc = decode_image(c, &rx, t, present1, n1, r, &row->after,
                              &row->after_absent);
        } else {
            rc = decode_image(c, &rx, t, present1, n1, r, &row->before,
                              &row->before_absent);
            if (rc == CDC_OK && op == CDC_OP_UPDATE)
                rc = decode_image(c, &rx, t, present2, n2, r, &row->after,
                                  &row->after_absent);
        }
        if (rc != CDC_OK)
            return rc;
        nrows++;
    }
    out->kind = BINLOG_ROWS;
    out->rows.op = op;
    out->rows.table_id = id;
    out->rows.schema = cdc_arena_strdup(c->arena, t->schema);
    out->rows.table = cdc_arena_strdup(c->arena, t->table);
    out->rows.ncols = t->ncols;
    out->rows.rows = rows;
    out->rows.nrows = nrows;
    if (t->nkey > 0) {
        out->rows.key = cdc_arena_alloc(c->arena, t->nkey * sizeof(char *));
        for (size_t i = 0; i < t->nkey; i++)
            out->rows.key[i] = cdc_arena_strdup(c->arena, t->key[i]);
        out->rows.nkey = t->nkey;
    }
    out->rows.flags = flags;
    out->rows.stmt_end = (flags & ROWS_STMT_END) != 0;
    out->rows.names_missing = !t->has_names;
    out->rows.enum_as_index = rx.enum_as_index;
    out->rows.absent = rx.absent;
    return CDC_OK;
}

/* ==== Events ==== */

static int decode_body(struct dctx *c, struct rd *r,
                       struct source_binlog_event *out)
{
    switch (c->hdr.type) {
    case BINLOG_T_FORMAT_DESCRIPTION:
        return decode_fde(c, out);
    case BINLOG_T_ROTATE:
        return decode_rotate(c, r, out);
    case BINLOG_T_QUERY:
        return decode_query(c, r, out);
    case BINLOG_T_XID: {
        size_t at = rd_off(r);
        const uint8_t *p = rd_take(r, post_len(c->b, BINLOG_T_XID));
        p = p ? rd_take(r, 8) : NULL;
        if (p == NULL)
            return fail(c, at, "xid missing");
        out->kind = BINLOG_XID;
        out->xid.xid = le64(p);
        return CDC_OK;
    }
    case BINLOG_T_TABLE_MAP:
        return decode_table_map(c, r, out);
    case BINLOG_T_WRITE_ROWS_V1:
    case BINLOG_T_UPDATE_ROWS_V1:
    case BINLOG_T_DELETE_ROWS_V1:
    case BINLOG_T_WRITE_ROWS:
    case BINLOG_T_UPDATE_ROWS:
    case BINLOG_T_DELETE_ROWS:
        return decode_rows(c, r, out);
    case BINLOG_T_MARIADB_GTID:
        return decode_mariadb_gtid(c, r, out);
    case BINLOG_T_GTID:
        return decode_mysql_gtid(c, r, out);
    case BINLOG_T_GTID_LIST:
        return decode_gtid_list(c, r, out);
    case BINLOG_T_ANNOTATE_ROWS:
    case BINLOG_T_ROWS_QUERY:
        if (c->hdr.type == BINLOG_T_ROWS_QUERY) {
            /* a length byte (of a possibly cut prefix) comes first */
            if (rd_take(r, 1) == NULL)
                return fail(c, rd_off(r), "statement missing");
        }
        out->kind = BINLOG_ANNOTATE;
        out->annotate.text =
            cdc_arena_strndup(c->arena, (const char *)r->p, r->left);
        out->annotate.text_len = r->left;
        return CDC_OK;
    case BINLOG_T_HEARTBEAT:
        out->kind = BINLOG_HEARTBEAT;
        out->heartbeat.file =
            cdc_arena_strndup(c->arena, (const char *)r->p, r->left);
        return CDC_OK;
    case BINLOG_T_INCIDENT:
        return decode_incident(c, r, out);
    case 20:
    case 21:
    case 22:
    case BINLOG_T_PARTIAL_UPDATE_ROWS:
    case BINLOG_T_TRANSACTION_PAYLOAD:
    case 42:
    case 164:
    case 165:
    case 166:
    case 167:
    case 168:
    case 169:
    case 170:
    case 171:
        return fail(c, SIZE_MAX, "event type is not supported");
    default:
        out->kind = BINLOG_OTHER;
        return CDC_OK;
    }
}

int source_binlog_decode(struct source_binlog *b, const void *data, size_t len,
                         struct cdc_arena *arena,
                         struct source_binlog_event *out, struct cdc_err *err)
{
    const uint8_t *ev = data;
    memset(out, 0, sizeof(*out));
    struct dctx c = {.b = b, .ev = ev, .len = len, .arena = arena, .err = err};
    if (len < HEADER_LEN)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "binlog event of %zu bytes is shorter than its "
                           "header",
                           len);
    c.hdr.timestamp = le32(ev);
    c.hdr.type = ev[4];
    c.hdr.server_id = le32(ev + 5);
    c.hdr.event_size = le32(ev + 9);
    c.hdr.log_pos = le32(ev + 13);
    c.hdr.flags = le16(ev + 17);
    if (c.hdr.event_size != len)
        return fail(&c, 9, "event size %u but %zu bytes given",
                    c.hdr.event_size, len);

    int rc;
    if (c.hdr.type == BINLOG_T_FORMAT_DESCRIPTION) {
        rc = decode_fde(&c, out);
        if (rc == CDC_OK)
            out->hdr = c.hdr;
        else
            memset(out, 0, sizeof(*out));
        return rc;
    }
    bool strip = b->checksum == BINLOG_CHECKSUM_CRC32;
    if (b->checksum == BINLOG_CHECKSUM_UNKNOWN &&
        len >= HEADER_LEN + CHECKSUM_LEN)
        strip = crc_update(0, ev, len - CHECKSUM_LEN) ==
                le32(ev + len - CHECKSUM_LEN);
    if (strip) {
        if (len < HEADER_LEN + CHECKSUM_LEN)
            return fail(&c, len, "event too short for its checksum");
        c.len = len - CHECKSUM_LEN;
        uint32_t crc = crc_update(0, ev, c.len);
        uint32_t want = le32(ev + c.len);
        if (crc != want)
            return fail(&c, c.len,
                        "checksum mismatch: computed %08x, event has %08x", crc,
                        want);
    }
    if (c.len < b->header_len)
        return fail(&c, c.len, "event shorter than the %u-byte header",
                    b->header_len);
    struct rd r = {
        .base = ev, .p = ev + b->header_len, .left = c.len - b->header_len};
    rc = decode_body(&c, &r, out);
    if (rc != CDC_OK) {
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->hdr = c.hdr;
    return CDC_OK;
}

/* ==== Column information from outside ==== */

int source_binlog_set_columns(struct source_binlog *b, uint64_t table_id,
                              const struct source_binlog_colinfo *cols,
                              size_t ncols, const char *const *key, size_t nkey,
                              struct cdc_err *err)
{
    struct bl_table *t = table_find(b, table_id);
    if (t == NULL)
        return cdc_err_set(err, CDC_ENOTFOUND, 0,
                           "no table map for table id %llu",
                           (unsigned long long)table_id);
    if (ncols != t->ncols)
        return cdc_err_set(err, CDC_ESTATE, 0,
                           "table \"%s\".\"%s\" has %zu columns in the binlog "
                           "but %zu were given",
                           t->schema, t->table, t->ncols, ncols);
    for (size_t i = 0; i < ncols; i++) {
        if (cols[i].name == NULL)
            return cdc_err_set(err, CDC_ESTATE, 0,
                               "column %zu of table \"%s\".\"%s\" has no name",
                               i + 1, t->schema, t->table);
    }
    for (size_t k = 0; k < nkey; k++) {
        size_t i = 0;
        while (i < ncols && strcmp(cols[i].name, key[k]) != 0)
            i++;
        if (i == ncols)
            return cdc_err_set(err, CDC_ESTATE, 0,
                               "key column \"%s\" is not a column of table "
                               "\"%s\".\"%s\"",
                               key[k], t->schema, t->table);
    }
    struct bl_known *k = known_find(b, t->schema, t->table);
    if (k == NULL) {
        if (b->nknown == b->capknown) {
            b->capknown = b->capknown ? b->capknown * 2 : 8;
            b->known = cdc_xrealloc(b->known, b->capknown * sizeof(*b->known));
        }
        k = &b->known[b->nknown++];
    } else {
        known_release(k);
    }
    memset(k, 0, sizeof(*k));
    k->schema = cdc_xstrdup(t->schema);
    k->table = cdc_xstrdup(t->table);
    k->ncols = ncols;
    k->types = cdc_xcalloc(ncols ? ncols : 1, 1);
    k->metas = cdc_xcalloc(ncols ? ncols : 1, sizeof(uint16_t));
    k->cols = cdc_xcalloc(ncols ? ncols : 1, sizeof(*k->cols));
    for (size_t i = 0; i < ncols; i++) {
        k->types[i] = t->cols[i].raw_type;
        k->metas[i] = t->cols[i].raw_meta;
        struct source_binlog_colinfo *ci = &k->cols[i];
        ci->name = cdc_xstrdup(cols[i].name);
        ci->type = cols[i].type ? cdc_xstrdup(cols[i].type) : NULL;
        ci->is_unsigned = cols[i].is_unsigned;
        ci->charset = cols[i].charset;
        if (cols[i].values != NULL) {
            char **v = cdc_xcalloc(cols[i].nvalues ? cols[i].nvalues : 1,
                                   sizeof(char *));
            for (size_t m = 0; m < cols[i].nvalues; m++)
                v[m] = cdc_xstrdup(cols[i].values[m]);
            ci->values = (const char *const *)v;
            ci->nvalues = cols[i].nvalues;
        }
    }
    if (nkey > 0) {
        k->key = cdc_xcalloc(nkey, sizeof(char *));
        for (size_t i = 0; i < nkey; i++)
            k->key[i] = cdc_xstrdup(key[i]);
        k->nkey = nkey;
    }
    known_apply(k, t);
    return CDC_OK;
}

void source_binlog_forget_columns(struct source_binlog *b, const char *schema,
                                  const char *table)
{
    size_t i = 0;
    while (i < b->nknown) {
        struct bl_known *k = &b->known[i];
        bool all = schema == NULL && table == NULL;
        if (all ||
            (schema != NULL && table != NULL &&
             strcmp(k->schema, schema) == 0 && strcmp(k->table, table) == 0)) {
            known_release(k);
            b->known[i] = b->known[b->nknown - 1];
            b->nknown--;
            continue;
        }
        i++;
    }
}

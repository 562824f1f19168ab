/*
 * pg_values.c: turns the text form of a value from the MySQL source into
 * what a PostgreSQL column reads as the same value, by the MySQL type name
 * and the class of the target column. Most values need nothing: PostgreSQL
 * reads MySQL's integers, decimals, floats, dates, datetimes, timestamps
 * ("+00"), strings, enums, sets and JSON as they are, and those are never
 * copied. What needs work: binary strings (base64), geometry (hex WKB) and
 * bit strings into bytea, bit strings into numbers, and values PostgreSQL
 * cannot hold (zero dates, times past 24:00:00 in a time column, integers
 * other than 0 and 1 in a boolean column), which are refused with a reason,
 * never changed into something else. No server and no I/O.
 *
 * The PostgreSQL type that holds each MySQL type, and what this file does
 * for a value on its way there (--target-sync-schema reads the catalogs of
 * a PostgreSQL source only: for a MySQL source the target tables are made
 * by hand, by this table):
 *
 *   MySQL type                  PostgreSQL type     conversion
 *   tinyint (unsigned)          smallint            -
 *   smallint                    smallint            -
 *   smallint unsigned,
 *   mediumint (unsigned), int   integer             -
 *   int unsigned, bigint        bigint              -
 *   bigint unsigned             numeric(20,0)       -
 *   float, double               real, double prec.  -
 *   decimal(p,s)                numeric(p,s)        -
 *   year                        smallint            "0000" -> "0"
 *   date                        date                impossible dates refused
 *   time(n)                     interval            - (into time: refused
 *                                                   below 00:00:00 and past
 *                                                   24:00:00)
 *   datetime(n)                 timestamp(n)        impossible dates refused
 *   timestamp(n)                timestamptz(n)      impossible dates refused
 *   bit(n)                      bit(n)              - (into a number: its
 *                                                   value; into bytea: its
 *                                                   bytes, big-endian)
 *   char, varchar, *text        text                -
 *   binary, varbinary, *blob    bytea               base64 -> "\x" hex
 *   enum, set                   text                -
 *   json                        jsonb               -
 *   geometry, point, ...        bytea               hex WKB -> "\x" hex, the
 *                                                   SRID dropped (a PostGIS
 *                                                   geometry column reads it
 *                                                   as it came, SRID and all)
 *   tinyint into boolean                            0 and 1; else refused
 *
 * Impossible dates: MySQL's zero date, a zero month or day, year 0 and a
 * day the month does not have. Into text, every value goes as it came.
 */
#include "sinks/sink_int.h"

#include <string.h>

/* OIDs of the built-in types a class is given for (pg_type.dat). */
#define OID_BOOL 16u
#define OID_BYTEA 17u
#define OID_INT8 20u
#define OID_INT2 21u
#define OID_INT4 23u
#define OID_FLOAT4 700u
#define OID_FLOAT8 701u
#define OID_DATE 1082u
#define OID_TIME 1083u
#define OID_TIMESTAMP 1114u
#define OID_TIMESTAMPTZ 1184u
#define OID_TIMETZ 1266u
#define OID_NUMERIC 1700u

/* MySQL's BIT holds at most 64 bits, and so does the number it is. */
#define MAX_NUMBER_BITS 64

/* Longest MySQL type name looked at ("geometrycollection", "bigint
 * unsigned"); a longer one is none of the kinds below. */
#define TYPE_NAME_MAX 32

enum sink_pg_class sink__pg_class(uint32_t type_oid)
{
    switch (type_oid) {
    case OID_BYTEA:
        return SINK_PG_BYTEA;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_NUMERIC:
    case OID_FLOAT4:
    case OID_FLOAT8:
        return SINK_PG_NUMBER;
    case OID_BOOL:
        return SINK_PG_BOOL;
    case OID_TIME:
    case OID_TIMETZ:
        return SINK_PG_TIME;
    case OID_DATE:
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        return SINK_PG_DATE;
    default:
        return SINK_PG_OTHER;
    }
}

/* ==== Type names ==== */

/* Kinds of MySQL types that may need a conversion. */
enum kind {
    K_OTHER = 0, /* as it came */
    K_INT,       /* integers, signed or not */
    K_YEAR,
    K_BITS,     /* "0101" */
    K_BASE64,   /* binary strings */
    K_GEOMETRY, /* upper-case hex WKB, maybe after "SRID=<n>;" */
    K_DATE,     /* date, datetime, timestamp: "YYYY-MM-DD..." */
    K_TIME,     /* "[-]HH:MM:SS[.f]", hours up to 838 */
};

static const char *const INT_TYPES[] = {
    "tinyint",
    "smallint",
    "mediumint",
    "int",
    "integer",
    "bigint",
    "tinyint unsigned",
    "smallint unsigned",
    "mediumint unsigned",
    "int unsigned",
    "integer unsigned",
    "bigint unsigned",
    NULL,
};
static const char *const GEOMETRY_TYPES[] = {
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection", /* MySQL 8's other name of it */
    NULL,
};
static const char *const DATE_TYPES[] = {"date", "datetime", "timestamp", NULL};

static enum kind kind_of(const char *type)
{
    char t[TYPE_NAME_MAX];
    if (!sink__norm_type(type, t, sizeof(t)))
        return K_OTHER;
    if (sink__is_one_of(t, INT_TYPES))
        return K_INT;
    if (strcmp(t, "year") == 0)
        return K_YEAR;
    if (strcmp(t, "bit") == 0)
        return K_BITS;
    if (sink__is_one_of(t, sink__mysql_binary_types))
        return K_BASE64;
    if (sink__is_one_of(t, GEOMETRY_TYPES))
        return K_GEOMETRY;
    if (sink__is_one_of(t, DATE_TYPES))
        return K_DATE;
    if (strcmp(t, "time") == 0)
        return K_TIME;
    return K_OTHER;
}

/* ==== Conversions ==== */

/* Hex WKB, maybe after "SRID=<n>;", as bytea's hex input: the WKB bytes
 * only (a bytea column has no place for the SRID; a PostGIS geometry
 * column reads the value as it came). Not checked: the server judges the
 * hex digits. */
static int geometry_bytea(const char *v, size_t len, struct cdc_buf *out)
{
    if (len > 5 && strncmp(v, "SRID=", 5) == 0) {
        const char *semi = memchr(v, ';', len);
        if (semi != NULL) {
            len -= (size_t)(semi + 1 - v);
            v = semi + 1;
        }
    }
    int rc = cdc_buf_reserve(out, 2 + len);
    if (rc != CDC_OK)
        return rc;
    cdc_buf_append(out, "\\x", 2);
    return cdc_buf_append(out, v, len);
}

static bool is_bits(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (v[i] != '0' && v[i] != '1')
            return false;
    return true;
}

/* A bit string as the bytes of its value, most significant first (the
 * first byte holds the bits left over when len is not a multiple of 8),
 * in bytea's hex input. */
static int bits_bytea(const char *v, size_t len, struct cdc_buf *out,
                      struct cdc_err *err)
{
    if (!is_bits(v, len))
        return sink__refuse(err, "malformed bit string", v, len);
    int rc = cdc_buf_reserve(out, 2 + (len + 7) / 8 * 2);
    if (rc != CDC_OK)
        return rc;
    cdc_buf_append(out, "\\x", 2);
    size_t head = len % 8 == 0 ? 8 : len % 8;
    unsigned byte = 0;
    for (size_t i = 0; i < len; i++) {
        byte = byte << 1 | (unsigned)(v[i] - '0');
        if (i + 1 == head || (i + 1 > head && (i + 1 - head) % 8 == 0)) {
            sink__append_hex_byte(out, byte);
            byte = 0;
        }
    }
    return CDC_OK;
}

/* A bit string as the unsigned number it is. */
static int bits_number(const char *v, size_t len, struct cdc_buf *out,
                       struct cdc_err *err)
{
    if (!is_bits(v, len))
        return sink__refuse(err, "malformed bit string", v, len);
    if (len > MAX_NUMBER_BITS)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "the bit string \"%.*s\" has more than 64 bits, "
                           "too many for a number",
                           SINK_SHOWN(len), v);
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n = n << 1 | (uint64_t)(v[i] - '0');
    return cdc_buf_append_uint(out, n);
}

/* Refuses a date (or the date of a datetime or timestamp) that PostgreSQL
 * has no day for: MySQL's zero date, a zero month or day, year 0 (there
 * is none between 1 BC and AD 1), or a day past the month's end (MySQL's
 * ALLOW_INVALID_DATES). Anything that does not start "YYYY-MM-DD" is left
 * to the server. */
static int check_date(const char *v, size_t len, struct cdc_err *err)
{
    const char *p = v;
    const char *end = v + len;
    int64_t y = 0;
    int64_t m = 0;
    int64_t d = 0;
    if (!sink__digits(&p, end, 4, &y) || p >= end || *p++ != '-' ||
        !sink__digits(&p, end, 2, &m) || p >= end || *p++ != '-' ||
        !sink__digits(&p, end, 2, &d) || (p < end && *p >= '0' && *p <= '9'))
        return CDC_OK;
    const char *why = NULL;
    if (y == 0 && m == 0 && d == 0)
        why = "MySQL's zero date";
    else if (m == 0 || d == 0)
        why = "a zero month or day";
    else if (y == 0)
        why = "there is no year 0";
    else if (m > 12 || d > sink__days_in_month(y, m))
        why = "no such day";
    if (why == NULL)
        return CDC_OK;
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                       "PostgreSQL cannot store the date \"%.*s\" (%s)",
                       SINK_SHOWN(len), v, why);
}

/* Refuses a MySQL time that a PostgreSQL time cannot hold: negative, or
 * past 24:00:00. Anything not of the form "[-]H+:MM:SS[.f]" is left to
 * the server. */
static int check_time(const char *v, size_t len, struct cdc_err *err)
{
    const char *p = v;
    const char *end = v + len;
    bool negative = p < end && *p == '-';
    if (negative)
        p++;
    long hours = 0;
    const char *from = p;
    while (p < end && *p >= '0' && *p <= '9' && p - from < 4)
        hours = hours * 10 + (*p++ - '0');
    int64_t mi = 0;
    int64_t ss = 0;
    if (p == from || p >= end || *p++ != ':' ||
        !sink__digits(&p, end, 2, &mi) || p >= end || *p++ != ':' ||
        !sink__digits(&p, end, 2, &ss))
        return CDC_OK;
    bool nonzero_fraction = false;
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++)
            nonzero_fraction |= *p != '0';
    }
    if (p != end)
        return CDC_OK;
    bool zero = hours == 0 && mi == 0 && ss == 0 && !nonzero_fraction;
    if ((negative && !zero) || hours > 24 ||
        (hours == 24 && (mi != 0 || ss != 0 || nonzero_fraction)))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "a PostgreSQL time cannot hold \"%.*s\" (it holds "
                           "00:00:00 to 24:00:00; an interval column holds "
                           "any MySQL time)",
                           SINK_SHOWN(len), v);
    return CDC_OK;
}

int sink__pg_value(const char *source, const char *type, const char *value,
                   size_t len, enum sink_pg_class cls, struct cdc_buf *out,
                   bool *changed, struct cdc_err *err)
{
    *changed = false;
    if (cls == SINK_PG_OTHER || type == NULL || source == NULL ||
        strcmp(source, "mysql") != 0)
        return CDC_OK;
    enum kind k = kind_of(type);
    switch (cls) {
    case SINK_PG_BYTEA:
        if (k == K_BASE64) {
            *changed = true;
            return sink__base64_decode(value, len, true, out, err);
        }
        if (k == K_GEOMETRY) {
            *changed = true;
            return geometry_bytea(value, len, out);
        }
        if (k == K_BITS) {
            *changed = true;
            return bits_bytea(value, len, out, err);
        }
        return CDC_OK;
    case SINK_PG_NUMBER:
        if (k == K_BITS) {
            *changed = true;
            return bits_number(value, len, out, err);
        }
        /* PostgreSQL reads "0000" as 0 too; the plain form is written */
        if (k == K_YEAR && len == 4 && memcmp(value, "0000", 4) == 0) {
            *changed = true;
            return cdc_buf_append(out, "0", 1);
        }
        return CDC_OK;
    case SINK_PG_BOOL:
        /* PostgreSQL reads "0" and "1" as false and true */
        if (k == K_INT && !(len == 1 && (value[0] == '0' || value[0] == '1')))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "a PostgreSQL boolean cannot hold \"%.*s\" "
                               "(only 0 and 1)",
                               SINK_SHOWN(len), value);
        return CDC_OK;
    case SINK_PG_TIME:
        return k == K_TIME ? check_time(value, len, err) : CDC_OK;
    case SINK_PG_DATE:
        return k == K_DATE ? check_date(value, len, err) : CDC_OK;
    case SINK_PG_OTHER:
        break;
    }
    return CDC_OK;
}

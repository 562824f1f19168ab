/*
 * pg_binary.c: COPY's binary form of values the postgres sink holds as
 * text. A target reads a binary field with the type's receive function,
 * which costs it a fraction of parsing the text (a timestamp, a float, an
 * array), so a COPY of rows whose columns are all of the types below goes
 * binary, and the parsing is done here, once, in a few dozen nanoseconds.
 *
 * Exactness: each value must become the very value the column's input
 * function makes of the same text. So this file reads only the plain forms
 * PostgreSQL prints (with DateStyle ISO), strictly, and refuses anything
 * else (a BC date, a year past 9999, spaces, an exponent in a numeric, an
 * array with bounds or two dimensions): a run with a refused value goes as
 * text, as before. Typmods (numeric(10,2), varchar(20), timestamptz(3)) are
 * applied by the receive functions exactly as by the input ones. Domains,
 * enums and every other type are not here: their columns go as text.
 *
 *   type                     text read                       binary
 *   bool                     t f true false 1 0              1 byte
 *   int2, int4, int8         -?[0-9]+ within range           big-endian
 *   float4, float8           decimal, exponent, NaN,         IEEE 754 bits
 *                            Infinity, -Infinity             (strtof, strtod)
 *   numeric                  -?digits[.digits], NaN          base 10000
 *   text, varchar, bpchar    anything                        the bytes
 *   json                     anything                        the bytes
 *   jsonb                    anything                        1, the bytes
 *   bytea                    \x and hex pairs                the bytes
 *   uuid                     8-4-4-4-12 hex                  16 bytes
 *   date                     YYYY-MM-DD, [-]infinity         days from 2000
 *   timestamp                YYYY-MM-DD HH:MM:SS[.f{1,6}]    microseconds
 *   timestamptz              the same and +HH[:MM[:SS]]      from 2000 (UTC)
 *   arrays of all of these   {a,"b c",NULL} in one dimension  1-D array
 *
 * No server and no I/O.
 */
#include "sinks/sink_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* OIDs of the types read here (pg_type.dat). */
#define OID_BOOL 16u
#define OID_BYTEA 17u
#define OID_INT8 20u
#define OID_INT2 21u
#define OID_INT4 23u
#define OID_TEXT 25u
#define OID_JSON 114u
#define OID_FLOAT4 700u
#define OID_FLOAT8 701u
#define OID_BPCHAR 1042u
#define OID_VARCHAR 1043u
#define OID_DATE 1082u
#define OID_TIMESTAMP 1114u
#define OID_TIMESTAMPTZ 1184u
#define OID_NUMERIC 1700u
#define OID_UUID 2950u
#define OID_JSONB 3802u
/* and of arrays of them */
#define OID_JSON_ARRAY 199u
#define OID_BOOL_ARRAY 1000u
#define OID_BYTEA_ARRAY 1001u
#define OID_INT2_ARRAY 1005u
#define OID_INT4_ARRAY 1007u
#define OID_TEXT_ARRAY 1009u
#define OID_BPCHAR_ARRAY 1014u
#define OID_VARCHAR_ARRAY 1015u
#define OID_INT8_ARRAY 1016u
#define OID_FLOAT4_ARRAY 1021u
#define OID_FLOAT8_ARRAY 1022u
#define OID_TIMESTAMP_ARRAY 1115u
#define OID_DATE_ARRAY 1182u
#define OID_TIMESTAMPTZ_ARRAY 1185u
#define OID_NUMERIC_ARRAY 1231u
#define OID_UUID_ARRAY 2951u
#define OID_JSONB_ARRAY 3807u

/* Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01. */
#define EPOCH_SHIFT_DAYS 10957
#define USECS_PER_DAY INT64_C(86400000000)
/* The infinities of date and timestamp, as their receive functions
 * take them. */
#define DATE_NOBEGIN INT32_MIN
#define DATE_NOEND INT32_MAX
/* The sign words of numeric's binary form. */
#define NUMERIC_POS 0x0000u
#define NUMERIC_NEG 0x4000u
#define NUMERIC_NAN 0xC000u
/* Decimal digits of a numeric read here, at most: longer ones go as
 * text (numeric_recv takes up to 3000 base-10000 digits). */
#define NUMERIC_MAX_DIGITS 4000
#define NUMERIC_MAX_GROUPS (NUMERIC_MAX_DIGITS / 4 + 2)
/* Largest time zone offset PostgreSQL reads, in hours. */
#define MAX_TZ_HOURS 15
/* The longest float text read (PostgreSQL prints at most 24 bytes). */
#define FLOAT_TEXT_MAX 64
/* An array element with backslashes in it is read here up to this size
 * (a longer one sends its row as text). */
#define ARRAY_ELEMENT_MAX 256

static const char COPY_SIGNATURE[11] = "PGCOPY\n\377\r\n";

/* A hex digit's value plus one (either case), 0 for any other byte. */
static const unsigned char HEX[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Appends n bytes: a plain copy where b has the room, as it mostly has
 * (a COPY's data is made of a great many small fields). */
static inline void put_raw(struct cdc_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len > n) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return;
    }
    cdc_buf_append(b, p, n);
}

static void put16(struct cdc_buf *b, uint16_t v)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put_raw(b, p, 2);
}

static void put32(struct cdc_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put_raw(b, p, 4);
}

static void put64(struct cdc_buf *b, uint64_t v)
{
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}

/* Writes v over the four bytes at off. */
static void patch32(struct cdc_buf *b, size_t off, uint32_t v)
{
    unsigned char *p = (unsigned char *)b->data + off;
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Drops what was appended from off on. */
static bool undo(struct cdc_buf *b, size_t off)
{
    b->len = off;
    if (b->data != NULL)
        b->data[off] = '\0';
    return false;
}

void sink__pg_binary_header(struct cdc_buf *b)
{
    cdc_buf_append(b, COPY_SIGNATURE, sizeof(COPY_SIGNATURE));
    put32(b, 0); /* flags */
    put32(b, 0); /* length of the header extension */
}

void sink__pg_binary_row(struct cdc_buf *b, size_t nfields)
{
    put16(b, (uint16_t)nfields);
}

void sink__pg_binary_null(struct cdc_buf *b)
{
    put32(b, UINT32_MAX); /* -1 */
}

void sink__pg_binary_trailer(struct cdc_buf *b)
{
    put16(b, UINT16_MAX); /* -1 */
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads v[0..len) as -?[0-9]+ within [min, max]. */
static bool read_int(const char *v, size_t len, int64_t min, int64_t max,
                     int64_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && v[0] == '-';
    if (neg)
        i++;
    if (i == len)
        return false;
    /* the magnitude, which may be 2^63 for a negative */
    uint64_t m = 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (!is_digit(v[i]))
            return false;
        unsigned d = (unsigned)(v[i] - '0');
        if (m > (limit - d) / 10)
            return false;
        m = m * 10 + d;
    }
    int64_t r;
    if (neg)
        r = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    else
        r = (int64_t)m;
    if (r < min || r > max)
        return false;
    *out = r;
    return true;
}

static bool text_is(const char *v, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(v, s, len) == 0;
}

static bool put_bool(struct cdc_buf *b, const char *v, size_t len)
{
    unsigned char x;
    if (text_is(v, len, "t") || text_is(v, len, "true") || text_is(v, len, "1"))
        x = 1;
    else if (text_is(v, len, "f") || text_is(v, len, "false") ||
             text_is(v, len, "0"))
        x = 0;
    else
        return false;
    put32(b, 1);
    put_raw(b, &x, 1);
    return true;
}

/* An integer of size bytes (2, 4 or 8). */
static bool put_int(struct cdc_buf *b, const char *v, size_t len, int size)
{
    int64_t min = size == 2 ? INT16_MIN : size == 4 ? INT32_MIN : INT64_MIN;
    int64_t max = size == 2 ? INT16_MAX : size == 4 ? INT32_MAX : INT64_MAX;
    int64_t x;
    if (!read_int(v, len, min, max, &x))
        return false;
    put32(b, (uint32_t)size);
    if (size == 2)
        put16(b, (uint16_t)x);
    else if (size == 4)
        put32(b, (uint32_t)x);
    else
        put64(b, (uint64_t)x);
    return true;
}

/* Whether v[0..len) is a decimal number as strtod reads it and nothing
 * else: -?(digits[.digits]|.digits)([eE][-+]?digits)? (never hex, never
 * "inf" spelled otherwise, never spaces). */
static bool plain_float(const char *v, size_t len)
{
    size_t i = 0;
    if (i < len && v[i] == '-')
        i++;
    size_t digits = 0;
    for (; i < len && is_digit(v[i]); i++)
        digits++;
    if (i < len && v[i] == '.')
        for (i++; i < len && is_digit(v[i]); i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < len && (v[i] == '-' || v[i] == '+'))
            i++;
        size_t e = i;
        while (i < len && is_digit(v[i]))
            i++;
        if (i == e)
            return false;
    }
    return i == len;
}

static bool put_float(struct cdc_buf *b, const char *v, size_t len, bool single)
{
    double d;
    float f;
    if (text_is(v, len, "NaN")) {
        d = NAN;
        f = NAN;
    } else if (text_is(v, len, "Infinity")) {
        d = INFINITY;
        f = INFINITY;
    } else if (text_is(v, len, "-Infinity")) {
        d = -INFINITY;
        f = -INFINITY;
    } else {
        if (len >= FLOAT_TEXT_MAX || !plain_float(v, len))
            return false;
        char s[FLOAT_TEXT_MAX];
        memcpy(s, v, len);
        s[len] = '\0';
        char *end = NULL;
        errno = 0;
        /* out of range (or under it) goes as text, for the target's own
         * verdict */
        if (single) {
            f = strtof(s, &end);
            d = 0;
        } else {
            d = strtod(s, &end);
            f = 0;
        }
        if (errno != 0 || end != s + len)
            return false;
    }
    if (single) {
        uint32_t u;
        memcpy(&u, &f, sizeof(u));
        put32(b, 4);
        put32(b, u);
    } else {
        uint64_t u;
        memcpy(&u, &d, sizeof(u));
        put32(b, 8);
        put64(b, u);
    }
    return true;
}

/*
 * numeric: the digits grouped by four from the decimal point (base 10000),
 * the weight of the first group (10000^weight), the sign and the display
 * scale, which is the number of digits written after the point ("1.50"
 * has 2). Leading and trailing zero groups are left out, zero has none.
 */
static bool put_numeric(struct cdc_buf *b, const char *v, size_t len)
{
    if (text_is(v, len, "NaN")) {
        put32(b, 8);
        put16(b, 0);
        put16(b, 0);
        put16(b, NUMERIC_NAN);
        put16(b, 0);
        return true;
    }
    size_t i = 0;
    bool neg = len > 0 && v[0] == '-';
    if (neg)
        i++;
    size_t int_at = i;
    while (i < len && is_digit(v[i]))
        i++;
    size_t int_end = i;
    size_t frac_at = i;
    size_t frac_end = i;
    if (i < len && v[i] == '.') {
        frac_at = ++i;
        while (i < len && is_digit(v[i]))
            i++;
        frac_end = i;
    }
    size_t nint = int_end - int_at;
    size_t nfrac = frac_end - frac_at;
    if (i != len || nint + nfrac == 0 || nint + nfrac > NUMERIC_MAX_DIGITS)
        return false;
    /* leading zeros of the integer part say nothing */
    while (nint > 0 && v[int_at] == '0') {
        int_at++;
        nint--;
    }
    /* the digits as groups of four, the integer part padded on the left
     * and the fraction on the right to whole groups */
    uint16_t groups[NUMERIC_MAX_GROUPS];
    size_t pad = (4 - nint % 4) % 4;
    size_t nint_groups = (nint + pad) / 4;
    size_t ndigits = nint + pad + nfrac;
    size_t ngroups = (ndigits + 3) / 4;
    for (size_t g = 0; g < ngroups; g++) {
        unsigned x = 0;
        for (size_t k = 0; k < 4; k++) {
            size_t at = g * 4 + k; /* in the padded digits */
            unsigned d = 0;
            if (at >= pad && at < pad + nint)
                d = (unsigned)(v[int_at + at - pad] - '0');
            else if (at >= pad + nint && at < pad + nint + nfrac)
                d = (unsigned)(v[frac_at + at - pad - nint] - '0');
            x = x * 10 + d;
        }
        groups[g] = (uint16_t)x;
    }
    int weight = (int)nint_groups - 1;
    size_t first = 0;
    while (first < ngroups && groups[first] == 0) {
        first++;
        weight--;
    }
    while (ngroups > first && groups[ngroups - 1] == 0)
        ngroups--;
    size_t n = ngroups - first;
    if (n == 0) {
        weight = 0;
        neg = false;
    }
    put32(b, (uint32_t)(8 + 2 * n));
    put16(b, (uint16_t)n);
    put16(b, (uint16_t)(int16_t)weight);
    put16(b, neg ? NUMERIC_NEG : NUMERIC_POS);
    put16(b, (uint16_t)nfrac);
    for (size_t g = first; g < ngroups; g++)
        put16(b, groups[g]);
    return true;
}

static bool put_bytea(struct cdc_buf *b, const char *v, size_t len)
{
    if (len < 2 || v[0] != '\\' || v[1] != 'x' || len % 2 != 0)
        return false;
    size_t n = (len - 2) / 2;
    size_t at = b->len;
    put32(b, (uint32_t)n);
    if (cdc_buf_reserve(b, n) != CDC_OK)
        return undo(b, at);
    unsigned char *out = (unsigned char *)b->data + b->len;
    const unsigned char *in = (const unsigned char *)v + 2;
    unsigned ok = 1; /* stays 1 while every digit is one */
    for (size_t i = 0; i < n; i++) {
        unsigned hi = HEX[in[2 * i]];
        unsigned lo = HEX[in[2 * i + 1]];
        ok &= (hi != 0) & (lo != 0);
        out[i] = (unsigned char)((hi - 1) << 4 | ((lo - 1) & 0xF));
    }
    if (!ok)
        return undo(b, at);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static bool put_uuid(struct cdc_buf *b, const char *v, size_t len)
{
    if (len != 36)
        return false;
    unsigned char u[16];
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (v[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = cdc_hex_digit(v[i]);
        int lo = cdc_hex_digit(v[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        u[k++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    put32(b, 16);
    put_raw(b, u, 16);
    return true;
}

/* Reads exactly n digits at v + at (within len) as a number. */
static bool fixed_digits(const char *v, size_t len, size_t at, int n, int *out)
{
    const char *p = v + at;
    int64_t x;
    if (at > len || !sink__digits(&p, v + len, n, &x))
        return false;
    *out = (int)x;
    return true;
}

/* Reads "YYYY-MM-DD" (years 1 to 9999) at the start of v as days from
 * 2000-01-01. */
static bool read_date(const char *v, size_t len, int32_t *days)
{
    int y, m, d;
    if (len < 10 || v[4] != '-' || v[7] != '-' ||
        !fixed_digits(v, len, 0, 4, &y) || !fixed_digits(v, len, 5, 2, &m) ||
        !fixed_digits(v, len, 8, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > sink__days_in_month(y, m))
        return false;
    *days = (int32_t)(sink__days_from_civil(y, m, d) - EPOCH_SHIFT_DAYS);
    return true;
}

static bool put_date(struct cdc_buf *b, const char *v, size_t len)
{
    int32_t days;
    if (text_is(v, len, "infinity"))
        days = DATE_NOEND;
    else if (text_is(v, len, "-infinity"))
        days = DATE_NOBEGIN;
    else if (len != 10 || !read_date(v, len, &days))
        return false;
    put32(b, 4);
    put32(b, (uint32_t)days);
    return true;
}

/* timestamp, and with tz its offset: microseconds from 2000-01-01 00:00
 * (UTC with tz). */
static bool put_timestamp(struct cdc_buf *b, const char *v, size_t len, bool tz)
{
    int64_t us;
    if (text_is(v, len, "infinity")) {
        us = INT64_MAX;
    } else if (text_is(v, len, "-infinity")) {
        us = INT64_MIN;
    } else {
        int32_t days;
        int h, mi, s;
        if (len < 19 || !read_date(v, len, &days) || v[10] != ' ' ||
            v[13] != ':' || v[16] != ':' || !fixed_digits(v, len, 11, 2, &h) ||
            !fixed_digits(v, len, 14, 2, &mi) ||
            !fixed_digits(v, len, 17, 2, &s) || h > 23 || mi > 59 || s > 59)
            return false;
        size_t i = 19;
        int64_t frac = 0;
        if (i < len && v[i] == '.') {
            size_t at = ++i;
            while (i < len && is_digit(v[i]) && i - at < 6)
                frac = frac * 10 + (v[i++] - '0');
            if (i == at || (i < len && is_digit(v[i])))
                return false; /* none, or more than six */
            for (size_t k = i - at; k < 6; k++)
                frac *= 10;
        }
        int64_t off = 0; /* seconds east of UTC */
        if (tz) {
            if (i + 3 > len || (v[i] != '+' && v[i] != '-'))
                return false;
            int oh, om = 0, os = 0;
            if (!fixed_digits(v, len, i + 1, 2, &oh) || oh > MAX_TZ_HOURS)
                return false;
            size_t at = i + 3;
            if (at < len) {
                if (at + 3 > len || v[at] != ':' ||
                    !fixed_digits(v, len, at + 1, 2, &om) || om > 59)
                    return false;
                at += 3;
            }
            if (at < len) {
                if (at + 3 > len || v[at] != ':' ||
                    !fixed_digits(v, len, at + 1, 2, &os) || os > 59)
                    return false;
                at += 3;
            }
            off = (int64_t)oh * 3600 + om * 60 + os;
            if (v[i] == '-')
                off = -off;
            i = at;
        }
        if (i != len)
            return false;
        int64_t secs = (int64_t)h * 3600 + mi * 60 + s - off;
        us = (int64_t)days * USECS_PER_DAY + secs * 1000000 + frac;
    }
    put32(b, 8);
    put64(b, (uint64_t)us);
    return true;
}

/* Each type whose values are read here, and the type of arrays of it:
 * the one list of what goes in binary form. */
static const uint32_t ARRAY_TYPES[][2] = {
    {OID_JSON, OID_JSON_ARRAY},       {OID_BOOL, OID_BOOL_ARRAY},
    {OID_BYTEA, OID_BYTEA_ARRAY},     {OID_INT2, OID_INT2_ARRAY},
    {OID_INT4, OID_INT4_ARRAY},       {OID_TEXT, OID_TEXT_ARRAY},
    {OID_BPCHAR, OID_BPCHAR_ARRAY},   {OID_VARCHAR, OID_VARCHAR_ARRAY},
    {OID_INT8, OID_INT8_ARRAY},       {OID_FLOAT4, OID_FLOAT4_ARRAY},
    {OID_FLOAT8, OID_FLOAT8_ARRAY},   {OID_TIMESTAMP, OID_TIMESTAMP_ARRAY},
    {OID_DATE, OID_DATE_ARRAY},       {OID_TIMESTAMPTZ, OID_TIMESTAMPTZ_ARRAY},
    {OID_NUMERIC, OID_NUMERIC_ARRAY}, {OID_UUID, OID_UUID_ARRAY},
    {OID_JSONB, OID_JSONB_ARRAY},
};

/* The element type of the array types read here, or 0. */
static uint32_t array_element(uint32_t type_oid)
{
    for (size_t i = 0; i < sizeof(ARRAY_TYPES) / sizeof(ARRAY_TYPES[0]); i++)
        if (ARRAY_TYPES[i][1] == type_oid)
            return ARRAY_TYPES[i][0];
    return 0;
}

uint32_t sink__pg_binary_array_of(uint32_t elem_oid)
{
    for (size_t i = 0; i < sizeof(ARRAY_TYPES) / sizeof(ARRAY_TYPES[0]); i++)
        if (ARRAY_TYPES[i][0] == elem_oid)
            return ARRAY_TYPES[i][1];
    return 0;
}

size_t sink__pg_binary_array_open(struct cdc_buf *b, uint32_t elem_oid)
{
    size_t at = b->len;
    put32(b, 1); /* one dimension */
    put32(b, 0); /* whether there are NULLs, written at the close */
    put32(b, elem_oid);
    put32(b, 0); /* elements, written at the close */
    put32(b, 1); /* lower bound */
    return at;
}

void sink__pg_binary_array_close(struct cdc_buf *b, size_t at, size_t count,
                                 bool nulls)
{
    patch32(b, at + 4, nulls ? 1 : 0);
    patch32(b, at + 12, (uint32_t)count);
}

/* What array_in would take out of an unquoted element or trim from it. */
static bool array_special(char c)
{
    return c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' ||
           c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/*
 * A one-dimensional array, as array_out prints it: "{a,NULL,"b c"}". An
 * element is unquoted (none of array_special's characters; NULL in any
 * case is the null value) or quoted, with \" and \\ inside; each goes in
 * the element type's binary form. Bounds ("[0:1]={...}"), more dimensions
 * and spaces between elements are not read here.
 */
static bool put_array(struct cdc_buf *b, const char *v, size_t len,
                      uint32_t elem_oid)
{
    if (len < 2 || v[0] != '{' || v[len - 1] != '}')
        return false;
    size_t at = b->len;
    put32(b, 0); /* length, written at the end */
    if (len == 2) {
        put32(b, 0); /* no dimension */
        put32(b, 0);
        put32(b, elem_oid);
        patch32(b, at, 12);
        return true;
    }
    size_t open = sink__pg_binary_array_open(b, elem_oid);
    size_t count = 0;
    bool nulls = false;
    char unescaped[ARRAY_ELEMENT_MAX];
    size_t end = len - 1; /* the closing brace */
    for (size_t i = 1; i <= end; i++) {
        const char *e;
        size_t n;
        bool quoted = i < end && v[i] == '"';
        if (quoted) {
            size_t j = i + 1;
            n = 0;
            bool plain = true;
            for (; j < end && v[j] != '"'; j++) {
                if (v[j] == '\\') {
                    if (++j == end)
                        return undo(b, at);
                    plain = false;
                }
                if (n < sizeof(unescaped))
                    unescaped[n] = v[j];
                n++;
            }
            if (j >= end || (!plain && n > sizeof(unescaped)))
                return undo(b, at);
            e = plain ? v + i + 1 : unescaped;
            i = j + 1;
        } else {
            size_t j = i;
            while (j < end && !array_special(v[j]))
                j++;
            e = v + i;
            n = j - i;
            i = j;
            if (n == 0)
                return undo(b, at);
        }
        /* i is now at the comma or the closing brace */
        if (v[i] != (i == end ? '}' : ','))
            return undo(b, at);
        if (!quoted && n == 4 && strncasecmp(e, "NULL", 4) == 0) {
            sink__pg_binary_null(b);
            nulls = true;
        } else if (!sink__pg_binary_value(b, elem_oid, e, n)) {
            return undo(b, at);
        }
        count++;
    }
    sink__pg_binary_array_close(b, open, count, nulls);
    patch32(b, at, (uint32_t)(b->len - at - 4));
    return true;
}

/* Text as it is, after prefix bytes (jsonb's version). */
static bool put_text(struct cdc_buf *b, const char *v, size_t len,
                     const char *prefix, size_t nprefix)
{
    if (len + nprefix > INT32_MAX)
        return false;
    put32(b, (uint32_t)(len + nprefix));
    put_raw(b, prefix, nprefix);
    put_raw(b, v, len);
    return true;
}

bool sink__pg_binary_type(uint32_t type_oid)
{
    return sink__pg_binary_array_of(type_oid) != 0 ||
           array_element(type_oid) != 0;
}

bool sink__pg_binary_value(struct cdc_buf *b, uint32_t type_oid, const char *v,
                           size_t len)
{
    size_t at = b->len;
    bool ok;
    switch (type_oid) {
    case OID_BOOL:
        ok = put_bool(b, v, len);
        break;
    case OID_INT2:
        ok = put_int(b, v, len, 2);
        break;
    case OID_INT4:
        ok = put_int(b, v, len, 4);
        break;
    case OID_INT8:
        ok = put_int(b, v, len, 8);
        break;
    case OID_FLOAT4:
        ok = put_float(b, v, len, true);
        break;
    case OID_FLOAT8:
        ok = put_float(b, v, len, false);
        break;
    case OID_NUMERIC:
        ok = put_numeric(b, v, len);
        break;
    case OID_TEXT:
    case OID_VARCHAR:
    case OID_BPCHAR:
    case OID_JSON:
        ok = put_text(b, v, len, "", 0);
        break;
    case OID_JSONB:
        ok = put_text(b, v, len, "\1", 1);
        break;
    case OID_BYTEA:
        ok = put_bytea(b, v, len);
        break;
    case OID_UUID:
        ok = put_uuid(b, v, len);
        break;
    case OID_DATE:
        ok = put_date(b, v, len);
        break;
    case OID_TIMESTAMP:
        ok = put_timestamp(b, v, len, false);
        break;
    case OID_TIMESTAMPTZ:
        ok = put_timestamp(b, v, len, true);
        break;
    default: {
        uint32_t elem = array_element(type_oid);
        ok = elem != 0 && put_array(b, v, len, elem);
        break;
    }
    }
    if (!ok)
        undo(b, at);
    return ok;
}

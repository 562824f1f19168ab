/*
 * mysql_values.c: turns the text form of an event's value into what a
 * MySQL or MariaDB column takes, by the source's type name: PostgreSQL
 * booleans to 1/0, zoned timestamps to UTC, bytea and base64 to bytes,
 * arrays to JSON arrays, everything else as it came. It never talks to a
 * server and never quotes or escapes: the sink writes the result as a
 * literal (sink_mysql.c). Values MySQL cannot hold (NaN and infinities in
 * a number column, infinite or BC dates in a date column) are refused
 * with a reason, never changed into something else.
 */
#include "sinks/sink_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Nesting of array literals followed at most; PostgreSQL allows 6. */
#define MAX_ARRAY_DEPTH 16

/* ==== Type names ==== */

/* Kinds of source types that need a conversion. */
enum kind {
    K_OTHER = 0, /* as it came */
    K_BOOL,
    K_INT,      /* integers: JSON numbers inside arrays */
    K_FLOAT,    /* may be NaN or an infinity */
    K_NUMERIC,  /* may be NaN or an infinity */
    K_BYTEA,    /* PostgreSQL bytea text: \x hex or escapes */
    K_BASE64,   /* MySQL binary types: base64 */
    K_DATE,     /* a date: may be infinite or BC */
    K_DATETIME, /* timestamp/datetime, zoned or not */
    K_TIMETZ,   /* time with a zone */
    K_JSON,
    K_ARRAY,
    K_BITS,     /* a bit string: "0101" */
    K_GEOMETRY, /* MySQL geometry: hex WKB, maybe after "SRID=n;" */
};

static const char *const BOOL_TYPES[] = {"bool", "boolean", NULL};
static const char *const INT_TYPES[] = {
    "int2",
    "int4",
    "int8",
    "smallint",
    "integer",
    "bigint",
    "oid",
    "int",
    "tinyint",
    "mediumint",
    "smallint unsigned",
    "int unsigned",
    "bigint unsigned",
    "tinyint unsigned",
    "mediumint unsigned",
    "integer unsigned",
    "year",
    NULL,
};
static const char *const FLOAT_TYPES[] = {
    "float4",           "float8",          "real",
    "double precision", "float",           "double",
    "float unsigned",   "double unsigned", NULL,
};
static const char *const NUMERIC_TYPES[] = {"numeric", "decimal",
                                            "decimal unsigned", NULL};
static const char *const MYSQL_GEOMETRY_TYPES[] = {
    "geometry",   "point",           "linestring",   "polygon",
    "multipoint", "multilinestring", "multipolygon", "geometrycollection",
    NULL,
};
static const char *const BIT_TYPES[] = {"bit", "varbit", "bit varying", NULL};
static const char *const TIMETZ_TYPES[] = {"timetz", "time with time zone",
                                           NULL};
static const char *const JSON_TYPES[] = {"json", "jsonb", NULL};

/* The kind of a normalised type name (array element types included). */
static enum kind kind_of(const char *source, const char *t)
{
    size_t len = strlen(t);
    if (t[0] == '_' || (len > 2 && strcmp(t + len - 2, "[]") == 0))
        return K_ARRAY;
    if (sink__is_one_of(t, BOOL_TYPES))
        return K_BOOL;
    if (sink__is_one_of(t, INT_TYPES))
        return K_INT;
    if (sink__is_one_of(t, FLOAT_TYPES))
        return K_FLOAT;
    if (sink__is_one_of(t, NUMERIC_TYPES))
        return K_NUMERIC;
    if (sink__is_one_of(t, JSON_TYPES))
        return K_JSON;
    if (sink__is_one_of(t, TIMETZ_TYPES))
        return K_TIMETZ;
    if (strcmp(t, "date") == 0)
        return K_DATE;
    if (strncmp(t, "timestamp", 9) == 0 || strncmp(t, "datetime", 8) == 0)
        return K_DATETIME;
    if (sink__is_one_of(t, BIT_TYPES))
        return K_BITS;
    bool mysql = source != NULL && strcmp(source, "mysql") == 0;
    if (!mysql && strcmp(t, "bytea") == 0)
        return K_BYTEA;
    if (mysql && sink__is_one_of(t, sink__mysql_binary_types))
        return K_BASE64;
    if (mysql && sink__is_one_of(t, MYSQL_GEOMETRY_TYPES))
        return K_GEOMETRY;
    return K_OTHER;
}

/* The element type of a normalised array type: "_int4" -> "int4",
 * "integer[]" -> "integer", "integer[][]" -> "integer". */
static void element_type(const char *t, char *out, size_t outsz)
{
    if (t[0] == '_') {
        snprintf(out, outsz, "%s", t + 1);
        return;
    }
    snprintf(out, outsz, "%s", t);
    size_t n = strlen(out);
    while (n >= 2 && strcmp(out + n - 2, "[]") == 0) {
        n -= 2;
        out[n] = '\0';
    }
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
}

enum sink_my_class sink__my_class(const char *data_type)
{
    static const char *const numbers[] = {
        "tinyint",   "smallint",
        "mediumint", "int",
        "integer",   "bigint",
        "decimal",   "numeric",
        "dec",       "fixed",
        "float",     "double",
        "real",      "double precision",
        NULL,
    };
    static const char *const temporals[] = {"date", "datetime", "timestamp",
                                            NULL};
    char t[64];
    if (!sink__norm_type(data_type, t, sizeof(t)))
        return SINK_MY_OTHER;
    if (sink__is_one_of(t, numbers))
        return SINK_MY_NUMBER;
    if (sink__is_one_of(t, temporals))
        return SINK_MY_TEMPORAL;
    if (strcmp(t, "bit") == 0)
        return SINK_MY_BIT;
    return SINK_MY_OTHER;
}

/* ==== Small parsers ==== */

static bool ieq(const char *v, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(v, word, len) == 0;
}

/* NaN or an infinity, as PostgreSQL (and C) print them. */
static bool not_finite(const char *v, size_t len)
{
    if (len > 0 && (v[0] == '-' || v[0] == '+')) {
        v++;
        len--;
    }
    return ieq(v, len, "nan") || ieq(v, len, "infinity") || ieq(v, len, "inf");
}

/* A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *v, size_t len)
{
    size_t i = 0;
    if (i < len && v[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (v[i] == '0') {
        i++;
    } else if (v[i] >= '1' && v[i] <= '9') {
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < len && v[i] == '.') {
        i++;
        size_t from = i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == from)
            return false;
    }
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        if (i < len && (v[i] == '+' || v[i] == '-'))
            i++;
        size_t from = i;
        while (i < len && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == from)
            return false;
    }
    return i == len;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* A zone at the end of a time: "Z", "+HH", "+HH:MM", "+HH:MM:SS" or
 * "+HHMM". *found is false when there is none (p == end). */
static bool parse_zone(const char *p, const char *end, bool *found,
                       int64_t *offset)
{
    *found = false;
    *offset = 0;
    if (p == end)
        return true;
    *found = true;
    if (*p == 'Z' || *p == 'z')
        return p + 1 == end;
    if (*p != '+' && *p != '-')
        return false;
    int64_t sign = *p == '-' ? -1 : 1;
    p++;
    int64_t hh = 0;
    int64_t mm = 0;
    int64_t ss = 0;
    if (!sink__digits(&p, end, 2, &hh))
        return false;
    if (p < end && *p == ':') {
        p++;
        if (!sink__digits(&p, end, 2, &mm))
            return false;
        if (p < end && *p == ':') {
            p++;
            if (!sink__digits(&p, end, 2, &ss))
                return false;
        }
    } else if (p < end && !sink__digits(&p, end, 2, &mm)) {
        return false;
    }
    if (p != end || hh > 15 || mm > 59 || ss > 59)
        return false;
    *offset = sign * (hh * 3600 + mm * 60 + ss);
    return true;
}

/* "YYYY-MM-DD" (the year may have up to 6 digits). */
static bool parse_date(const char **p, const char *end, int64_t *y, int64_t *m,
                       int64_t *d)
{
    size_t ylen = 0;
    while (*p + ylen < end && (*p)[ylen] >= '0' && (*p)[ylen] <= '9')
        ylen++;
    if (ylen < 4 || ylen > 6 || !sink__digits(p, end, (int)ylen, y))
        return false;
    if (*p >= end || **p != '-')
        return false;
    (*p)++;
    if (!sink__digits(p, end, 2, m) || *p >= end || **p != '-')
        return false;
    (*p)++;
    if (!sink__digits(p, end, 2, d))
        return false;
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

/* "HH:MM:SS" then an optional ".fraction"; *frac and *frac_len point at
 * the fraction with its dot. */
static bool parse_time(const char **p, const char *end, int64_t *secs,
                       const char **frac, size_t *frac_len)
{
    int64_t hh = 0;
    int64_t mi = 0;
    int64_t ss = 0;
    if (!sink__digits(p, end, 2, &hh) || *p >= end || **p != ':')
        return false;
    (*p)++;
    if (!sink__digits(p, end, 2, &mi) || *p >= end || **p != ':')
        return false;
    (*p)++;
    if (!sink__digits(p, end, 2, &ss))
        return false;
    if (hh > 24 || mi > 59 || ss > 60)
        return false;
    *frac = *p;
    if (*p < end && **p == '.') {
        (*p)++;
        while (*p < end && **p >= '0' && **p <= '9')
            (*p)++;
    }
    *frac_len = (size_t)(*p - *frac);
    *secs = hh * 3600 + mi * 60 + ss;
    return true;
}

/* ==== Conversions ==== */

/* A timestamp with a zone becomes the same instant in UTC without a
 * zone; one without a zone stays as it is. */
static int datetime_utc(const char *v, size_t len, enum sink_my_class cls,
                        struct cdc_buf *out, struct cdc_err *err)
{
    const char *end = v + len;
    if (ieq(v, len, "infinity") || ieq(v, len, "-infinity") ||
        (len > 3 && strncmp(end - 3, " BC", 3) == 0)) {
        if (cls == SINK_MY_TEMPORAL)
            return sink__refuse(
                err, "MySQL cannot store an infinite or BC timestamp", v, len);
        return cdc_buf_append(out, v, len);
    }
    const char *p = v;
    int64_t y = 0;
    int64_t mo = 0;
    int64_t d = 0;
    int64_t secs = 0;
    const char *frac = NULL;
    size_t frac_len = 0;
    bool zoned = false;
    int64_t offset = 0;
    if (!parse_date(&p, end, &y, &mo, &d) || p >= end ||
        (*p != ' ' && *p != 'T'))
        return cdc_buf_append(out, v, len); /* the server judges it */
    p++;
    if (!parse_time(&p, end, &secs, &frac, &frac_len) ||
        !parse_zone(p, end, &zoned, &offset))
        return cdc_buf_append(out, v, len);
    if (!zoned)
        return cdc_buf_append(out, v, len);
    int64_t t = sink__days_from_civil(y, mo, d) * 86400 + secs - offset;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rest = t - days * 86400;
    civil_from_days(days, &y, &mo, &d);
    return cdc_buf_printf(out,
                          "%04" PRId64 "-%02" PRId64 "-%02" PRId64 " %02" PRId64
                          ":%02" PRId64 ":%02" PRId64 "%.*s",
                          y, mo, d, rest / 3600, rest / 60 % 60, rest % 60,
                          (int)frac_len, frac);
}

/* A time of day with a zone becomes the UTC time of day. */
static int timetz_utc(const char *v, size_t len, struct cdc_buf *out)
{
    const char *p = v;
    const char *end = v + len;
    int64_t secs = 0;
    const char *frac = NULL;
    size_t frac_len = 0;
    bool zoned = false;
    int64_t offset = 0;
    if (!parse_time(&p, end, &secs, &frac, &frac_len) ||
        !parse_zone(p, end, &zoned, &offset) || !zoned)
        return cdc_buf_append(out, v, len);
    int64_t t = ((secs - offset) % 86400 + 86400) % 86400;
    return cdc_buf_printf(out, "%02" PRId64 ":%02" PRId64 ":%02" PRId64 "%.*s",
                          t / 3600, t / 60 % 60, t % 60, (int)frac_len, frac);
}

/* PostgreSQL's bytea text: "\x" and hex digits, or the escape format
 * (backslash and three octal digits, a doubled backslash, other bytes as
 * they are). */
static int bytea_bytes(const char *v, size_t len, struct cdc_buf *out,
                       struct cdc_err *err)
{
    if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
        if ((len - 2) % 2 != 0)
            return sink__refuse(err, "malformed bytea value", v, len);
        int rc = cdc_buf_reserve(out, (len - 2) / 2);
        if (rc != CDC_OK)
            return rc;
        for (size_t i = 2; i < len; i += 2) {
            int hi = cdc_hex_digit(v[i]);
            int lo = cdc_hex_digit(v[i + 1]);
            if (hi < 0 || lo < 0)
                return sink__refuse(err, "malformed bytea value", v, len);
            cdc_buf_append_char(out, (char)(hi << 4 | lo));
        }
        return CDC_OK;
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\') {
            cdc_buf_append_char(out, v[i]);
            continue;
        }
        if (i + 1 < len && v[i + 1] == '\\') {
            cdc_buf_append_char(out, '\\');
            i++;
            continue;
        }
        int o = 0;
        for (size_t k = 1; k <= 3; k++) {
            if (i + k >= len || v[i + k] < '0' || v[i + k] > '7')
                return sink__refuse(err, "malformed bytea value", v, len);
            o = o * 8 + (v[i + k] - '0');
        }
        if (o > 255)
            return sink__refuse(err, "malformed bytea value", v, len);
        cdc_buf_append_char(out, (char)o);
        i += 3;
    }
    return CDC_OK;
}

/* A geometry as the source wrote it ("SRID=4326;0101..." or "0101...")
 * into the form a GEOMETRY column stores and takes as a binary string:
 * the SRID in four bytes, little-endian, then the WKB. */
static int geometry_bytes(const char *v, size_t len, struct cdc_buf *out,
                          struct cdc_err *err)
{
    uint32_t srid = 0;
    size_t at = 0;
    if (len > 5 && strncmp(v, "SRID=", 5) == 0) {
        at = 5;
        uint64_t n = 0;
        while (at < len && v[at] >= '0' && v[at] <= '9' && n <= UINT32_MAX)
            n = n * 10 + (uint64_t)(v[at++] - '0');
        if (at == 5 || at >= len || v[at] != ';' || n > UINT32_MAX)
            return sink__refuse(err, "malformed geometry", v, len);
        srid = (uint32_t)n;
        at++;
    }
    size_t hex = len - at;
    if (hex == 0 || hex % 2 != 0)
        return sink__refuse(err, "malformed geometry", v, len);
    uint8_t le[4] = {(uint8_t)srid, (uint8_t)(srid >> 8), (uint8_t)(srid >> 16),
                     (uint8_t)(srid >> 24)};
    int rc = cdc_buf_append(out, le, sizeof(le));
    for (size_t i = at; rc == CDC_OK && i < len; i += 2) {
        int hi = cdc_hex_digit(v[i]);
        int lo = cdc_hex_digit(v[i + 1]);
        if (hi < 0 || lo < 0)
            return sink__refuse(err, "malformed geometry", v, len);
        rc = cdc_buf_append_char(out, (char)(hi << 4 | lo));
    }
    return rc;
}

/* Standard base64, padding optional. A refused value is shown without
 * its padding. */
static int base64_bytes(const char *v, size_t len, struct cdc_buf *out,
                        struct cdc_err *err)
{
    while (len > 0 && v[len - 1] == '=')
        len--;
    return sink__base64_decode(v, len, false, out, err);
}

/* ==== Arrays ==== */

struct arr {
    const char *p;
    const char *end;
    enum kind elem;
    char delim;
    struct cdc_buf item; /* one element's text, unescaped */
};

static void skip_space(struct arr *a)
{
    while (a->p < a->end &&
           (*a->p == ' ' || *a->p == '\t' || *a->p == '\n' || *a->p == '\r'))
        a->p++;
}

/* Appends one element's text as JSON by the element type. */
static void element_json(const struct arr *a, bool quoted, struct cdc_buf *out)
{
    const char *v = a->item.data ? a->item.data : "";
    size_t len = a->item.len;
    if (!quoted && ieq(v, len, "null")) {
        cdc_buf_append_str(out, "null");
        return;
    }
    switch (a->elem) {
    case K_BOOL:
        if (ieq(v, len, "t") || ieq(v, len, "true")) {
            cdc_buf_append_str(out, "true");
            return;
        }
        if (ieq(v, len, "f") || ieq(v, len, "false")) {
            cdc_buf_append_str(out, "false");
            return;
        }
        break;
    case K_INT:
    case K_FLOAT:
    case K_NUMERIC:
        if (json_number(v, len)) {
            cdc_buf_append(out, v, len);
            return;
        }
        break;
    case K_JSON:
        cdc_buf_append(out, v, len);
        return;
    default:
        break;
    }
    cdc_buf_append_json_str(out, v, len);
}

/* Reads one element (quoted or not) into a->item; *quoted tells which. */
static bool read_element(struct arr *a, bool *quoted)
{
    cdc_buf_reset(&a->item);
    cdc_buf_append(&a->item, "", 0);
    *quoted = a->p < a->end && *a->p == '"';
    if (*quoted) {
        a->p++;
        while (a->p < a->end && *a->p != '"') {
            if (*a->p == '\\' && a->p + 1 < a->end)
                a->p++;
            cdc_buf_append_char(&a->item, *a->p++);
        }
        if (a->p >= a->end)
            return false;
        a->p++;
        return true;
    }
    size_t keep = 0; /* length up to the last character not trailing space */
    while (a->p < a->end && *a->p != a->delim && *a->p != '}') {
        if (*a->p == '{' || *a->p == '"')
            return false;
        bool escaped = *a->p == '\\' && a->p + 1 < a->end;
        if (escaped)
            a->p++;
        cdc_buf_append_char(&a->item, *a->p++);
        if (escaped || a->item.data[a->item.len - 1] != ' ')
            keep = a->item.len;
    }
    a->item.len = keep;
    a->item.data[keep] = '\0';
    return keep > 0;
}

/* Reads "{...}" at a->p and appends it as a JSON array. */
static bool read_array(struct arr *a, int depth, struct cdc_buf *out)
{
    if (depth > MAX_ARRAY_DEPTH || a->p >= a->end || *a->p != '{')
        return false;
    a->p++;
    cdc_buf_append_char(out, '[');
    skip_space(a);
    if (a->p < a->end && *a->p == '}') {
        a->p++;
        cdc_buf_append_char(out, ']');
        return true;
    }
    for (size_t n = 0;; n++) {
        skip_space(a);
        if (n > 0)
            cdc_buf_append_char(out, ',');
        if (a->p < a->end && *a->p == '{') {
            if (!read_array(a, depth + 1, out))
                return false;
        } else {
            bool quoted = false;
            if (!read_element(a, &quoted))
                return false;
            element_json(a, quoted, out);
        }
        skip_space(a);
        if (a->p >= a->end)
            return false;
        if (*a->p == '}') {
            a->p++;
            cdc_buf_append_char(out, ']');
            return true;
        }
        if (*a->p != a->delim)
            return false;
        a->p++;
    }
}

/* A PostgreSQL array literal ("{1,NULL,3}", "{{1,2},{3,4}}", with an
 * optional "[1:2]=" bounds prefix) as a JSON array. */
static int array_json(const char *source, const char *elem_type, const char *v,
                      size_t len, struct cdc_buf *out, struct cdc_err *err)
{
    struct arr a = {.p = v, .end = v + len, .delim = ','};
    a.elem = kind_of(source, elem_type);
    /* box is the one built-in type whose elements are separated by ';' */
    if (strcmp(elem_type, "box") == 0)
        a.delim = ';';
    cdc_buf_init(&a.item, 0);
    if (a.p < a.end && *a.p == '[') {
        const char *eq = memchr(a.p, '=', len);
        a.p = eq != NULL ? eq + 1 : a.end;
    }
    size_t at = out->len;
    bool ok = read_array(&a, 1, out);
    skip_space(&a);
    cdc_buf_release(&a.item);
    if (!ok || a.p != a.end) {
        out->len = at;
        if (out->data != NULL)
            out->data[at] = '\0';
        return sink__refuse(err, "malformed array value", v, len);
    }
    return CDC_OK;
}

int sink__my_value(const char *source, const char *type, const char *value,
                   size_t len, enum sink_my_class cls, struct cdc_buf *out,
                   enum sink_my_form *form, struct cdc_err *err)
{
    char t[128];
    *form = SINK_MY_STRING;
    if (type == NULL || !sink__norm_type(type, t, sizeof(t)))
        return cdc_buf_append(out, value, len);
    switch (kind_of(source, t)) {
    case K_BOOL:
        if (cls == SINK_MY_BIT)
            *form = SINK_MY_BITS;
        if (ieq(value, len, "t") || ieq(value, len, "true"))
            return cdc_buf_append(out, "1", 1);
        if (ieq(value, len, "f") || ieq(value, len, "false"))
            return cdc_buf_append(out, "0", 1);
        return cdc_buf_append(out, value, len);
    case K_BITS:
        if (cls != SINK_MY_BIT)
            return cdc_buf_append(out, value, len);
        for (size_t i = 0; i < len; i++)
            if (value[i] != '0' && value[i] != '1')
                return sink__refuse(err, "malformed bit string", value, len);
        *form = SINK_MY_BITS;
        return cdc_buf_append(out, value, len);
    case K_FLOAT:
    case K_NUMERIC:
        if (cls == SINK_MY_NUMBER && not_finite(value, len))
            return sink__refuse(err,
                                "MySQL cannot store NaN or an infinity in a "
                                "number column",
                                value, len);
        return cdc_buf_append(out, value, len);
    case K_DATE:
        if (cls == SINK_MY_TEMPORAL &&
            (ieq(value, len, "infinity") || ieq(value, len, "-infinity") ||
             (len > 3 && strncmp(value + len - 3, " BC", 3) == 0)))
            return sink__refuse(
                err, "MySQL cannot store an infinite or BC date", value, len);
        return cdc_buf_append(out, value, len);
    case K_DATETIME:
        return datetime_utc(value, len, cls, out, err);
    case K_TIMETZ:
        return timetz_utc(value, len, out);
    case K_BYTEA:
        *form = SINK_MY_BYTES;
        return bytea_bytes(value, len, out, err);
    case K_BASE64:
        *form = SINK_MY_BYTES;
        return base64_bytes(value, len, out, err);
    case K_GEOMETRY:
        *form = SINK_MY_BYTES;
        return geometry_bytes(value, len, out, err);
    case K_ARRAY: {
        char elem[128];
        element_type(t, elem, sizeof(elem));
        return array_json(source, elem, value, len, out, err);
    }
    default:
        return cdc_buf_append(out, value, len);
    }
}

/*
 * copy_mysql_text.c: the pure pieces of the MySQL/MariaDB initial copy
 * (see copy_mysql_text.h). A copied row must read exactly as the same row
 * streamed through the binlog decoder, so the type names and value forms
 * here follow binlog.c; the float formatting is the decoder's own. Plans
 * keep names and key values in hex, so any bytes survive the line format.
 */
#include "replicator/copy_mysql_text.h"
#include "replicator/binlog.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ==== Columns ==== */

/* The collation id of binary strings. */
#define CHARSET_BINARY 63

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static const char *const int_types[] = {"tinyint", "smallint", "mediumint",
                                        "int",     "bigint",   NULL};
static const char *const string_types[] = {"char", "varchar", "binary",
                                           "varbinary", NULL};
static const char *const text_types[] = {"tinytext", "text", "mediumtext",
                                         "longtext", NULL};
static const char *const blob_types[] = {"tinyblob", "blob", "mediumblob",
                                         "longblob", NULL};
static const char *const geom_types[] = {"geometry",       "point",
                                         "linestring",     "polygon",
                                         "multipoint",     "multilinestring",
                                         "multipolygon",   "geometrycollection",
                                         "geomcollection", NULL};

/* The number in parentheses after the type name of column_type
 * ("datetime(6)", "bit(5)"), or def. */
static unsigned paren_number(const char *column_type, unsigned def)
{
    const char *p = column_type != NULL ? strchr(column_type, '(') : NULL;
    if (p == NULL || !isdigit((unsigned char)p[1]))
        return def;
    return (unsigned)strtoul(p + 1, NULL, 10);
}

void source__my_col_kind(const char *data_type, const char *column_type,
                         uint32_t charset, const char *type_override,
                         struct source__my_colkind *out)
{
    memset(out, 0, sizeof(*out));
    out->is_unsigned =
        column_type != NULL && strstr(column_type, "unsigned") != NULL;
    if (type_override != NULL)
        return; /* MariaDB's JSON: its text */
    bool binary = charset == CHARSET_BINARY;
    if (in_list(data_type, int_types)) {
        out->integer = true;
        out->lit = SOURCE_MY_LIT_NUMBER;
    } else if (strcmp(data_type, "decimal") == 0 ||
               strcmp(data_type, "year") == 0) {
        out->lit = SOURCE_MY_LIT_NUMBER;
    } else if (strcmp(data_type, "float") == 0) {
        out->kind = SOURCE_MY_V_FLOAT;
    } else if (strcmp(data_type, "double") == 0 ||
               strcmp(data_type, "real") == 0) {
        out->kind = SOURCE_MY_V_DOUBLE;
    } else if (strcmp(data_type, "timestamp") == 0) {
        out->kind = SOURCE_MY_V_TIMESTAMP;
        out->lit = SOURCE_MY_LIT_STRING;
    } else if (strcmp(data_type, "date") == 0 ||
               strcmp(data_type, "time") == 0 ||
               strcmp(data_type, "datetime") == 0) {
        out->lit = SOURCE_MY_LIT_STRING;
    } else if (strcmp(data_type, "bit") == 0) {
        out->kind = SOURCE_MY_V_BIT;
        out->nbits = paren_number(column_type, 1);
    } else if (in_list(data_type, string_types)) {
        out->kind = binary ? SOURCE_MY_V_BASE64 : SOURCE_MY_V_TEXT;
        out->lit = binary ? SOURCE_MY_LIT_BINARY : SOURCE_MY_LIT_STRING;
    } else if (in_list(data_type, text_types) ||
               in_list(data_type, blob_types)) {
        /* BLOB and TEXT keys are prefixes: their order is not the key's */
        out->kind = binary ? SOURCE_MY_V_BASE64 : SOURCE_MY_V_TEXT;
    } else if (in_list(data_type, geom_types)) {
        out->kind = SOURCE_MY_V_GEOMETRY;
    } else if (strcmp(data_type, "inet4") == 0) {
        out->kind = SOURCE_MY_V_BASE64;
        out->binary_len = 4;
    } else if (strcmp(data_type, "inet6") == 0 ||
               strcmp(data_type, "uuid") == 0) {
        out->kind = SOURCE_MY_V_BASE64;
        out->binary_len = 16;
    }
    /* enum and set sort by their index, not their text: no bounds; json
     * and anything else: text */
}

char *source__my_col_type_name(const char *data_type, const char *column_type,
                               uint32_t charset, bool is_unsigned,
                               const char *type_override)
{
    if (type_override != NULL)
        return cdc_xstrdup(type_override);
    const char *uns = is_unsigned ? " unsigned" : "";
    bool binary = charset == CHARSET_BINARY;
    if (in_list(data_type, int_types) || strcmp(data_type, "float") == 0 ||
        strcmp(data_type, "double") == 0)
        return cdc_xasprintf("%s%s", data_type, uns);
    if (strcmp(data_type, "real") == 0)
        return cdc_xasprintf("double%s", uns);
    if (strcmp(data_type, "decimal") == 0) {
        unsigned p = 10;
        unsigned s = 0;
        const char *par = column_type != NULL ? strchr(column_type, '(') : NULL;
        if (par != NULL && sscanf(par, "(%u,%u)", &p, &s) < 1)
            p = 10;
        return cdc_xasprintf("decimal(%u,%u)%s", p, s, uns);
    }
    if (strcmp(data_type, "time") == 0 || strcmp(data_type, "datetime") == 0 ||
        strcmp(data_type, "timestamp") == 0) {
        unsigned fsp = paren_number(column_type, 0);
        if (fsp == 0)
            return cdc_xstrdup(data_type);
        return cdc_xasprintf("%s(%u)", data_type, fsp);
    }
    if (strcmp(data_type, "bit") == 0)
        return cdc_xasprintf("bit(%u)", paren_number(column_type, 1));
    if (strcmp(data_type, "char") == 0 || strcmp(data_type, "binary") == 0)
        return cdc_xstrdup(binary ? "binary" : "char");
    if (strcmp(data_type, "varchar") == 0 ||
        strcmp(data_type, "varbinary") == 0)
        return cdc_xstrdup(binary ? "varbinary" : "varchar");
    for (size_t i = 0; text_types[i] != NULL; i++)
        if (strcmp(data_type, text_types[i]) == 0 ||
            strcmp(data_type, blob_types[i]) == 0)
            return cdc_xstrdup(binary ? blob_types[i] : text_types[i]);
    if (strcmp(data_type, "geomcollection") == 0)
        return cdc_xstrdup("geometrycollection");
    /* MariaDB's INET4, INET6 and UUID are fixed binary strings in the
     * binlog */
    if (strcmp(data_type, "inet4") == 0 || strcmp(data_type, "inet6") == 0 ||
        strcmp(data_type, "uuid") == 0)
        return cdc_xstrdup("binary");
    /* date, year, enum, set, json, the geometry kinds: as they are */
    return cdc_xstrdup(data_type);
}

static void append_ident(struct cdc_buf *b, const char *name)
{
    cdc_buf_append_char(b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            cdc_buf_append_char(b, '`');
        cdc_buf_append_char(b, *p);
    }
    cdc_buf_append_char(b, '`');
}

void source__my_col_select(const struct source__my_colkind *k, const char *name,
                           struct cdc_buf *out)
{
    if (k->kind == SOURCE_MY_V_FLOAT || k->kind == SOURCE_MY_V_DOUBLE) {
        cdc_buf_append_str(out, "CAST(");
        append_ident(out, name);
        cdc_buf_append_str(out, " AS DOUBLE)");
    } else if (k->binary_len > 0) {
        cdc_buf_append_str(out, "CAST(");
        append_ident(out, name);
        cdc_buf_printf(out, " AS BINARY(%u))", k->binary_len);
    } else {
        append_ident(out, name);
    }
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, as the decoder writes binary strings. */
static size_t base64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) |
                     (uint32_t)p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static const char hexdig[] = "0123456789ABCDEF";

static size_t hex_encode(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static int real_value(bool is_float, const char *raw, size_t len,
                      struct cdc_arena *arena, const char **out, size_t *outlen,
                      struct cdc_err *err)
{
    char num[64];
    if (len == 0 || len >= sizeof(num))
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "\"%.*s\" is not a floating-point value",
                           (int)(len < 40 ? len : 40), raw);
    memcpy(num, raw, len);
    num[len] = '\0';
    char *end = NULL;
    double d = strtod(num, &end);
    if (end != num + len || !isfinite(d))
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "\"%s\" is not a finite floating-point value", num);
    /* the server's text of the double reads back as exactly it, and a
     * FLOAT widened to DOUBLE is exact: narrowing gives the float back */
    if (is_float)
        d = (double)(float)d;
    char text[64];
    size_t n = source_binlog_format_real(d, is_float, text, sizeof(text));
    *out = cdc_arena_strndup(arena, text, n);
    *outlen = n;
    return CDC_OK;
}

int source__my_col_value(const struct source__my_colkind *k, const char *raw,
                         size_t len, struct cdc_arena *arena, const char **out,
                         size_t *outlen, struct cdc_err *err)
{
    const uint8_t *p = (const uint8_t *)raw;
    switch (k->kind) {
    case SOURCE_MY_V_TEXT:
        *out = raw;
        *outlen = len;
        return CDC_OK;
    case SOURCE_MY_V_BASE64: {
        char *s = cdc_arena_alloc(arena, (len + 2) / 3 * 4 + 1);
        *outlen = base64_encode(p, len, s);
        *out = s;
        return CDC_OK;
    }
    case SOURCE_MY_V_BIT: {
        if (len > 8 || k->nbits > 64 || k->nbits == 0)
            return cdc_err_set(err, CDC_EPROTO, 0,
                               "BIT value of %zu bytes for bit(%u)", len,
                               k->nbits);
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++)
            v = (v << 8) | p[i];
        char *s = cdc_arena_alloc(arena, k->nbits + 1);
        for (unsigned i = 0; i < k->nbits; i++)
            s[i] = (char)('0' + ((v >> (k->nbits - 1 - i)) & 1));
        s[k->nbits] = '\0';
        *out = s;
        *outlen = k->nbits;
        return CDC_OK;
    }
    case SOURCE_MY_V_GEOMETRY: {
        if (len < 4)
            return cdc_err_set(err, CDC_EPROTO, 0,
                               "geometry of %zu bytes has no SRID", len);
        uint32_t srid = (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
                        ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
        char prefix[24] = "";
        int pl = 0;
        if (srid != 0)
            pl = snprintf(prefix, sizeof(prefix), "SRID=%" PRIu32 ";", srid);
        char *s = cdc_arena_alloc(arena, (size_t)pl + (len - 4) * 2 + 1);
        memcpy(s, prefix, (size_t)pl);
        *outlen = (size_t)pl + hex_encode(p + 4, len - 4, s + pl);
        *out = s;
        return CDC_OK;
    }
    case SOURCE_MY_V_FLOAT:
    case SOURCE_MY_V_DOUBLE:
        return real_value(k->kind == SOURCE_MY_V_FLOAT, raw, len, arena, out,
                          outlen, err);
    case SOURCE_MY_V_TIMESTAMP: {
        char *s = cdc_arena_alloc(arena, len + 4);
        memcpy(s, raw, len);
        memcpy(s + len, "+00", 4);
        *out = s;
        *outlen = len + 3;
        return CDC_OK;
    }
    }
    CDC_BUG("unknown value kind");
}

/* ==== ENUM and SET members ==== */

void source__my_members_free(char **m, size_t n)
{
    for (size_t i = 0; m != NULL && i < n; i++)
        cdc_free(m[i]);
    cdc_free(m);
}

static char unescape(char c)
{
    switch (c) {
    case '0':
        return '\0';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'Z':
        return '\032';
    default:
        return c;
    }
}

int source__my_members_parse(const char *column_type, char ***out, size_t *n,
                             struct cdc_err *err)
{
    *out = NULL;
    *n = 0;
    const char *p = strchr(column_type, '(');
    size_t head = p != NULL ? (size_t)(p - column_type) : 0;
    if (p == NULL ||
        !((head == 4 && strncasecmp(column_type, "enum", 4) == 0) ||
          (head == 3 && strncasecmp(column_type, "set", 3) == 0)))
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "\"%.40s\" is not an ENUM or SET type", column_type);
    p++;
    char **m = NULL;
    size_t count = 0;
    size_t cap = 0;
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    bool ok = *p == '\'';
    while (ok && *p == '\'') {
        p++;
        cdc_buf_reset(&b);
        cdc_buf_append(&b, "", 0);
        for (;;) {
            if (*p == '\0') {
                ok = false;
                break;
            }
            if (*p == '\'' && p[1] == '\'') {
                cdc_buf_append_char(&b, '\'');
                p += 2;
            } else if (*p == '\'') {
                p++;
                break;
            } else if (*p == '\\' && p[1] != '\0') {
                cdc_buf_append_char(&b, unescape(p[1]));
                p += 2;
            } else {
                cdc_buf_append_char(&b, *p++);
            }
        }
        if (!ok)
            break;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            m = cdc_xrealloc(m, cap * sizeof(*m));
        }
        m[count++] = cdc_xstrndup(b.data, b.len);
        if (*p == ',')
            ok = *++p == '\'';
        else
            ok = *p == ')' && p[1] == '\0';
    }
    cdc_buf_release(&b);
    if (!ok || count == 0) {
        source__my_members_free(m, count);
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "cannot read the members of \"%.40s\"", column_type);
    }
    *out = m;
    *n = count;
    return CDC_OK;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

bool source__my_json_check(const char *clause, const char *column)
{
    const char *p = skip_spaces(clause);
    if (strncasecmp(p, "json_valid", 10) != 0)
        return false;
    p = skip_spaces(p + 10);
    if (*p++ != '(')
        return false;
    p = skip_spaces(p);
    if (*p++ != '`')
        return false;
    for (const char *c = column; *c; c++) {
        if (*c == '`') {
            if (p[0] != '`' || p[1] != '`')
                return false;
            p += 2;
        } else if (*p++ != *c) {
            return false;
        }
    }
    if (*p++ != '`')
        return false;
    p = skip_spaces(p);
    if (*p++ != ')')
        return false;
    return *skip_spaces(p) == '\0';
}

/* ==== Ranges ==== */

size_t source__my_range_count(uint64_t est_rows, unsigned workers)
{
    if (workers == 0)
        workers = 1;
    uint64_t n = (uint64_t)workers * SOURCE_MY_RANGES_PER_WORKER;
    uint64_t by_rows = est_rows / SOURCE_MY_MIN_RANGE_ROWS;
    if (n > by_rows)
        n = by_rows;
    return n == 0 ? 1 : (size_t)n;
}

/* An integer's text as a 64-bit value whose unsigned order is the
 * column's order (signed values offset by 2^63). */
static bool int_biased(const char *s, bool is_unsigned, uint64_t *out)
{
    if (*s == '\0')
        return false;
    char *end = NULL;
    errno = 0;
    if (is_unsigned) {
        if (*s == '-')
            return false;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
            return false;
        *out = (uint64_t)v;
        return true;
    }
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v ^ (UINT64_C(1) << 63);
    return true;
}

uint64_t source__my_int_width(const char *min, const char *max,
                              bool is_unsigned)
{
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (!int_biased(min, is_unsigned, &lo) ||
        !int_biased(max, is_unsigned, &hi) || lo > hi)
        return 0;
    return hi - lo == UINT64_MAX ? UINT64_MAX : hi - lo + 1;
}

size_t source__my_int_bounds(const char *min, const char *max, bool is_unsigned,
                             size_t nranges, char (*out)[SOURCE_MY_INT_MAX],
                             size_t max_out)
{
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (nranges < 2 || !int_biased(min, is_unsigned, &lo) ||
        !int_biased(max, is_unsigned, &hi) || lo >= hi)
        return 0;
    uint64_t span = hi - lo;
    uint64_t step = span / nranges;
    uint64_t rest = span % nranges;
    size_t n = 0;
    uint64_t last = lo;
    for (size_t i = 1; i < nranges && n < max_out; i++) {
        /* lo + span * i / nranges without overflow (rest < nranges, which
         * is small) */
        uint64_t b = lo + step * i + rest * i / nranges;
        if (b <= last && n > 0)
            continue;
        if (b >= hi)
            break;
        last = b;
        if (is_unsigned)
            snprintf(out[n], SOURCE_MY_INT_MAX, "%" PRIu64, b);
        else
            snprintf(out[n], SOURCE_MY_INT_MAX, "%" PRId64,
                     (int64_t)(b ^ (UINT64_C(1) << 63)));
        n++;
    }
    return n;
}

/* A number as it is when it looks like one, else as a string. */
static bool plain_number(const char *v, size_t len)
{
    if (len == 0 || len > 80)
        return false;
    bool digit = false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (!(c == '-' || c == '+' || c == '.' ||
                   ((c == 'e' || c == 'E') && i > 0)))
            return false;
    }
    return digit;
}

static void append_hex(struct cdc_buf *b, const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        cdc_buf_append_char(b, hexdig[(uint8_t)v[i] >> 4]);
        cdc_buf_append_char(b, hexdig[(uint8_t)v[i] & 15]);
    }
}

static void append_literal(struct cdc_buf *b, enum source__my_lit lit,
                           const char *v, size_t len)
{
    if (lit == SOURCE_MY_LIT_NUMBER && plain_number(v, len)) {
        cdc_buf_append(b, v, len);
        return;
    }
    /* hex needs no escaping whatever sql_mode says; an introducer makes
     * it text that takes the column's collation */
    cdc_buf_append_str(b, lit == SOURCE_MY_LIT_BINARY ? "X'" : "_utf8mb4 X'");
    append_hex(b, v, len);
    cdc_buf_append_char(b, '\'');
}

/* (names) OP (vals) for OP ">" (strict: above) or "<=" (not above). */
static void append_tuple_cmp(struct cdc_buf *b, const char *const *names,
                             const enum source__my_lit *lits, size_t n,
                             const char *const *vals, const size_t *lens,
                             bool above)
{
    const char *strict = above ? " > " : " < ";
    if (n == 1) {
        append_ident(b, names[0]);
        cdc_buf_append_str(b, above ? " > " : " <= ");
        append_literal(b, lits[0], vals[0], lens[0]);
        return;
    }
    cdc_buf_append_char(b, '(');
    /* a row is above (below) when its first differing column is, and
     * (for "<=") equal in every one */
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cdc_buf_append_str(b, " OR ");
        cdc_buf_append_char(b, '(');
        for (size_t j = 0; j < i; j++) {
            append_ident(b, names[j]);
            cdc_buf_append_str(b, " = ");
            append_literal(b, lits[j], vals[j], lens[j]);
            cdc_buf_append_str(b, " AND ");
        }
        append_ident(b, names[i]);
        cdc_buf_append_str(b, strict);
        append_literal(b, lits[i], vals[i], lens[i]);
        cdc_buf_append_char(b, ')');
    }
    if (!above) {
        cdc_buf_append_str(b, " OR (");
        for (size_t j = 0; j < n; j++) {
            if (j > 0)
                cdc_buf_append_str(b, " AND ");
            append_ident(b, names[j]);
            cdc_buf_append_str(b, " = ");
            append_literal(b, lits[j], vals[j], lens[j]);
        }
        cdc_buf_append_char(b, ')');
    }
    cdc_buf_append_char(b, ')');
}

void source__my_range_where(const char *const *names,
                            const enum source__my_lit *lits, size_t n,
                            const char *const *lo, const size_t *lo_lens,
                            const char *const *hi, const size_t *hi_lens,
                            struct cdc_buf *out)
{
    if (n == 0 || (lo == NULL && hi == NULL)) {
        cdc_buf_append_str(out, "TRUE");
        return;
    }
    if (lo != NULL)
        append_tuple_cmp(out, names, lits, n, lo, lo_lens, true);
    if (lo != NULL && hi != NULL)
        cdc_buf_append_str(out, " AND ");
    if (hi != NULL)
        append_tuple_cmp(out, names, lits, n, hi, hi_lens, false);
}

void source__my_range_key(size_t t, size_t r, char *out, size_t outsz)
{
    snprintf(out, outsz, "copy.mysql.%zu.%zu", t, r);
}

/* ==== The plan ==== */

struct source__my_plan_table *
source__my_plan_add_table(struct source__my_plan *pl, const char *schema,
                          const char *name, const char *const *key, size_t nkey,
                          size_t nvals)
{
    pl->tables =
        cdc_xrealloc(pl->tables, (pl->ntables + 1) * sizeof(*pl->tables));
    struct source__my_plan_table *t = &pl->tables[pl->ntables++];
    memset(t, 0, sizeof(*t));
    t->schema = cdc_xstrdup(schema);
    t->name = cdc_xstrdup(name);
    t->key = cdc_xcalloc(nkey ? nkey : 1, sizeof(*t->key));
    for (size_t i = 0; i < nkey; i++)
        t->key[i] = cdc_xstrdup(key[i]);
    t->nkey = nkey;
    t->nvals = nvals;
    return t;
}

void source__my_plan_add_bound(struct source__my_plan_table *t,
                               const char *const *vals, const size_t *lens)
{
    size_t n = (t->nbounds + 1) * t->nvals;
    t->vals = cdc_xrealloc(t->vals, (n ? n : 1) * sizeof(*t->vals));
    t->lens = cdc_xrealloc(t->lens, (n ? n : 1) * sizeof(*t->lens));
    for (size_t j = 0; j < t->nvals; j++) {
        size_t at = t->nbounds * t->nvals + j;
        t->vals[at] = cdc_xstrndup(vals[j], lens[j]);
        t->lens[at] = lens[j];
    }
    t->nbounds++;
}

static void plan_table_release(struct source__my_plan_table *t)
{
    cdc_free(t->schema);
    cdc_free(t->name);
    for (size_t i = 0; i < t->nkey; i++)
        cdc_free(t->key[i]);
    cdc_free(t->key);
    for (size_t i = 0; i < t->nbounds * t->nvals; i++)
        cdc_free(t->vals[i]);
    cdc_free(t->vals);
    cdc_free(t->lens);
}

void source__my_plan_release(struct source__my_plan *pl)
{
    for (size_t i = 0; i < pl->ntables; i++)
        plan_table_release(&pl->tables[i]);
    cdc_free(pl->tables);
    cdc_free(pl->position);
    memset(pl, 0, sizeof(*pl));
}

/* Appends the values as hex, comma-separated. */
static void append_hex_list(struct cdc_buf *b, const char *const *v,
                            const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cdc_buf_append_char(b, ',');
        append_hex(b, v[i], lens != NULL ? lens[i] : strlen(v[i]));
    }
}

void source__my_plan_format(const struct source__my_plan *pl,
                            struct cdc_buf *out)
{
    cdc_buf_printf(out, "generation %s\nposition %s\nworkers %u\ndone %d\n",
                   pl->generation, pl->position != NULL ? pl->position : "",
                   pl->workers, pl->done ? 1 : 0);
    for (size_t i = 0; i < pl->ntables; i++) {
        const struct source__my_plan_table *t = &pl->tables[i];
        const char *names[2] = {t->schema, t->name};
        cdc_buf_printf(out, "table %zu %zu ", t->nvals, t->nbounds);
        append_hex(out, names[0], strlen(names[0]));
        cdc_buf_append_char(out, ' ');
        append_hex(out, names[1], strlen(names[1]));
        cdc_buf_append_str(out, "\nkey ");
        append_hex_list(out, (const char *const *)t->key, NULL, t->nkey);
        cdc_buf_append_char(out, '\n');
        for (size_t k = 0; k < t->nbounds; k++) {
            cdc_buf_append_str(out, "bound ");
            append_hex_list(out, (const char *const *)t->vals + k * t->nvals,
                            t->lens + k * t->nvals, t->nvals);
            cdc_buf_append_char(out, '\n');
        }
    }
}

/* Decodes len hex digits at p into a new string; NULL when they are not
 * hex or odd in number. */
static char *unhex(const char *p, size_t len, size_t *outlen)
{
    if (len % 2 != 0)
        return NULL;
    char *s = cdc_xmalloc(len / 2 + 1);
    for (size_t i = 0; i < len; i += 2) {
        int a = cdc_hex_digit(p[i]);
        int b = cdc_hex_digit(p[i + 1]);
        if (a < 0 || b < 0) {
            cdc_free(s);
            return NULL;
        }
        s[i / 2] = (char)(a * 16 + b);
    }
    s[len / 2] = '\0';
    if (outlen != NULL)
        *outlen = len / 2;
    return s;
}

/* Splits "h1,h2,..." (len bytes) into exactly n decoded values; false
 * for another count or a bad value. */
static bool unhex_list(const char *p, size_t len, size_t n, char **vals,
                       size_t *lens)
{
    size_t got = 0;
    const char *end = p + len;
    bool ok = true;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        if (got == n) {
            ok = false;
            break;
        }
        vals[got] = unhex(p, (size_t)(stop - p), &lens[got]);
        if (vals[got] == NULL) {
            ok = false;
            break;
        }
        got++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (ok && got == n)
        return true;
    for (size_t i = 0; i < got; i++) {
        cdc_free(vals[i]);
        vals[i] = NULL;
    }
    return false;
}

/* Whether line (len bytes) starts with word and a space; *rest is what
 * follows. */
static bool starts(const char *line, size_t len, const char *word,
                   const char **rest, size_t *restlen)
{
    size_t w = strlen(word);
    if (len <= w || memcmp(line, word, w) != 0 || line[w] != ' ')
        return false;
    *rest = line + w + 1;
    *restlen = len - w - 1;
    return true;
}

/* The reader of a plan: where it stands within the current table. */
struct plan_rd {
    struct source__my_plan *pl;
    bool have_gen, have_pos, have_workers;
    size_t bounds_left; /* of the last table */
    bool key_left;      /* its key line is still to come */
};

static bool plan_table_line(struct plan_rd *rd, const char *rest,
                            size_t restlen)
{
    char head[64];
    size_t nvals = 0;
    size_t nbounds = 0;
    int used = 0;
    snprintf(head, sizeof(head), "%.*s", (int)(restlen < 63 ? restlen : 63),
             rest);
    if (sscanf(head, "%zu %zu %n", &nvals, &nbounds, &used) != 2 || used <= 0 ||
        nvals > 64 || nbounds > (1u << 20))
        return false;
    const char *p = rest + used;
    const char *end = rest + restlen;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL)
        return false;
    char *schema = unhex(p, (size_t)(sp - p), NULL);
    char *name = unhex(sp + 1, (size_t)(end - sp - 1), NULL);
    bool ok = schema != NULL && name != NULL && schema[0] != '\0' &&
              name[0] != '\0' && (nbounds == 0 || nvals > 0);
    if (ok) {
        /* the key and the bounds follow on lines of their own */
        source__my_plan_add_table(rd->pl, schema, name, NULL, 0, nvals);
        rd->bounds_left = nbounds;
        rd->key_left = true;
    }
    cdc_free(schema);
    cdc_free(name);
    return ok;
}

static bool plan_key_line(struct plan_rd *rd, const char *rest, size_t restlen)
{
    struct source__my_plan_table *t = &rd->pl->tables[rd->pl->ntables - 1];
    if (restlen == 0) {
        /* a table without a key is read whole */
        rd->key_left = false;
        return t->nvals == 0;
    }
    size_t n = 1;
    for (size_t i = 0; i < restlen; i++)
        n += rest[i] == ',';
    if (n < t->nvals)
        return false;
    char **vals = cdc_xcalloc(n, sizeof(*vals));
    size_t *lens = cdc_xcalloc(n, sizeof(*lens));
    bool ok = unhex_list(rest, restlen, n, vals, lens);
    for (size_t i = 0; ok && i < n; i++)
        ok = lens[i] > 0 && strlen(vals[i]) == lens[i];
    if (ok) {
        cdc_free(t->key);
        t->key = vals;
        t->nkey = n;
        rd->key_left = false;
    } else {
        for (size_t i = 0; i < n; i++)
            cdc_free(vals[i]);
        cdc_free(vals);
    }
    cdc_free(lens);
    return ok;
}

static bool plan_bound_line(struct plan_rd *rd, const char *rest,
                            size_t restlen)
{
    struct source__my_plan_table *t = &rd->pl->tables[rd->pl->ntables - 1];
    char **vals = cdc_xcalloc(t->nvals, sizeof(*vals));
    size_t *lens = cdc_xcalloc(t->nvals, sizeof(*lens));
    bool ok = unhex_list(rest, restlen, t->nvals, vals, lens);
    if (ok) {
        source__my_plan_add_bound(t, (const char *const *)vals, lens);
        for (size_t i = 0; i < t->nvals; i++)
            cdc_free(vals[i]);
        rd->bounds_left--;
    }
    cdc_free(vals);
    cdc_free(lens);
    return ok;
}

static bool plan_line(struct plan_rd *rd, const char *line, size_t len)
{
    struct source__my_plan *pl = rd->pl;
    const char *rest = NULL;
    size_t restlen = 0;
    bool in_table = pl->ntables > 0 && (rd->key_left || rd->bounds_left > 0);
    if (in_table && rd->key_left)
        return starts(line, len, "key", &rest, &restlen) &&
               plan_key_line(rd, rest, restlen);
    if (in_table)
        return starts(line, len, "bound", &rest, &restlen) &&
               plan_bound_line(rd, rest, restlen);
    if (starts(line, len, "table", &rest, &restlen))
        return plan_table_line(rd, rest, restlen);
    if (starts(line, len, "generation", &rest, &restlen)) {
        if (restlen == 0 || restlen >= sizeof(pl->generation) ||
            memchr(rest, ' ', restlen) != NULL)
            return false;
        memcpy(pl->generation, rest, restlen);
        pl->generation[restlen] = '\0';
        rd->have_gen = true;
        return true;
    }
    if (starts(line, len, "position", &rest, &restlen)) {
        if (restlen == 0)
            return false;
        cdc_free(pl->position);
        pl->position = cdc_xstrndup(rest, restlen);
        rd->have_pos = true;
        return true;
    }
    if (starts(line, len, "workers", &rest, &restlen)) {
        char num[24];
        int64_t v = 0;
        snprintf(num, sizeof(num), "%.*s", (int)(restlen < 23 ? restlen : 23),
                 rest);
        if (restlen > 22 ||
            cdc_parse_int(num, 1, SOURCE_MY_PLAN_WORKERS_MAX, &v) != CDC_OK)
            return false;
        pl->workers = (unsigned)v;
        rd->have_workers = true;
        return true;
    }
    if (starts(line, len, "done", &rest, &restlen)) {
        if (restlen != 1 || (rest[0] != '0' && rest[0] != '1'))
            return false;
        pl->done = rest[0] == '1';
        return true;
    }
    return false;
}

int source__my_plan_parse(const char *text, size_t len,
                          struct source__my_plan *pl, struct cdc_err *err)
{
    memset(pl, 0, sizeof(*pl));
    struct plan_rd rd = {.pl = pl};
    const char *p = text;
    const char *end = text + len;
    int rc = CDC_OK;
    while (p < end && rc == CDC_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (memchr(p, '\0', n) != NULL || !plan_line(&rd, p, n))
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "line \"%.*s\" is not a line of a copy plan here",
                             (int)(n < 40 ? n : 40), p);
        p += n + (nl != NULL);
    }
    if (rc == CDC_OK && (rd.key_left || rd.bounds_left > 0))
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "copy plan ends within the bounds of \"%s.%s\"",
                         pl->tables[pl->ntables - 1].schema,
                         pl->tables[pl->ntables - 1].name);
    if (rc == CDC_OK && (!rd.have_gen || !rd.have_pos || !rd.have_workers))
        rc = cdc_err_set(err, CDC_EPROTO, 0, "copy plan without its %s",
                         !rd.have_gen   ? "generation"
                         : !rd.have_pos ? "position"
                                        : "workers");
    if (rc != CDC_OK)
        source__my_plan_release(pl);
    return rc;
}

/* ==== Positions ==== */

void source__my_pos_before(const char *file, uint64_t offset, char *out,
                           size_t outsz)
{
    snprintf(out, outsz, "%s:%" PRIu64, file, offset > 0 ? offset - 1 : 0);
}

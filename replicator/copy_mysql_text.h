/*
 * copy_mysql_text.h: the pure pieces of the initial copy from MySQL and
 * MariaDB: how a column is read (the select expression, its kind, the
 * type name the binlog decoder gives it, the text of a value as the
 * decoder writes it), ENUM/SET members and MariaDB's JSON check as
 * information_schema shows them, the split of a table into key ranges
 * (how many, integer bounds, the WHERE condition of a range), the
 * key-value key of a range and the copy plan kept in the state bucket.
 * No connection and no I/O, so it is unit-tested without a server.
 * Private to replicator/.
 */
#ifndef SOURCE_COPY_MYSQL_TEXT_H
#define SOURCE_COPY_MYSQL_TEXT_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== Columns ==== */

/* How the text the server sends for a column (text protocol, utf8mb4
 * connection, time_zone '+00:00') becomes the value the decoder writes. */
enum source__my_vkind {
    SOURCE_MY_V_TEXT = 0,  /* as it is */
    SOURCE_MY_V_BASE64,    /* a binary string: base64 */
    SOURCE_MY_V_BIT,       /* BIT(n): its bytes as n digits '0'/'1' */
    SOURCE_MY_V_GEOMETRY,  /* 4-byte SRID and WKB: hex, "SRID=n;" first */
    SOURCE_MY_V_FLOAT,     /* read as CAST(c AS DOUBLE), written as FLOAT */
    SOURCE_MY_V_DOUBLE,    /* read as CAST(c AS DOUBLE) */
    SOURCE_MY_V_TIMESTAMP, /* in UTC: "+00" follows */
};

/* How a key value goes back into SQL to bound a range. */
enum source__my_lit {
    SOURCE_MY_LIT_NONE = 0, /* not at all: the table is read whole */
    SOURCE_MY_LIT_NUMBER,   /* digits as they are */
    SOURCE_MY_LIT_STRING,   /* _utf8mb4 X'...', in the column's collation */
    SOURCE_MY_LIT_BINARY,   /* X'...' */
};

struct source__my_colkind {
    enum source__my_vkind kind;
    enum source__my_lit lit;
    unsigned nbits;   /* BIT(n) */
    bool integer;     /* TINYINT .. BIGINT */
    bool is_unsigned; /* COLUMN_TYPE says "unsigned" */
    /* MariaDB's INET4, INET6, UUID: read as their binary form */
    unsigned binary_len;
};

/*
 * Fills *out for a column of information_schema.COLUMNS: data_type and
 * column_type as it shows them, charset the collation id (63 for a
 * binary string, 0 when there is none), type_override "json" for a
 * MariaDB JSON column (else NULL). Never fails: a type it does not know
 * is read as text.
 */
void source__my_col_kind(const char *data_type, const char *column_type,
                         uint32_t charset, const char *type_override,
                         struct source__my_colkind *out);

/*
 * The type name the binlog decoder gives such a column with full
 * metadata ("int unsigned", "decimal(10,2)", "datetime(6)", "bit(5)",
 * "varbinary", "mediumtext", "point", ...); type_override when set. The
 * caller frees the result with cdc_free.
 */
char *source__my_col_type_name(const char *data_type, const char *column_type,
                               uint32_t charset, bool is_unsigned,
                               const char *type_override);

/* Appends the select expression of column name of kind k to out: the
 * quoted name, CAST(name AS DOUBLE) for FLOAT and DOUBLE (the server's
 * text of a FLOAT keeps 6 digits, of a DOUBLE as many as it takes), or
 * CAST(name AS BINARY(n)) for MariaDB's INET4, INET6 and UUID. out has
 * the default limit, which SQL text never reaches. */
void source__my_col_select(const struct source__my_colkind *k, const char *name,
                           struct cdc_buf *out);

/*
 * The value the decoder writes for the server's text raw (len bytes,
 * raw[len] readable and NUL for the text protocol) of a column of kind
 * k: *out is raw itself for SOURCE_MY_V_TEXT, else NUL-terminated text
 * in arena. CDC_EPROTO (no flags) for text that cannot be such a value
 * (a float that is no number, a geometry without SRID, a BIT of more
 * than 8 bytes). Any thread, with its own arena.
 */
int source__my_col_value(const struct source__my_colkind *k, const char *raw,
                         size_t len, struct cdc_arena *arena, const char **out,
                         size_t *outlen, struct cdc_err *err);

/*
 * The members of an ENUM or SET from its COLUMN_TYPE, such as
 * "enum('a','b''c','d\\e')": quotes doubled, and the escapes \0 \n \r \t
 * \Z \b and a backslash before any other character, as information_schema
 * writes them. *out is an array of *n strings (cdc_xmalloc'd, as the
 * array); free with source__my_members_free. Returns CDC_EPROTO (no flags)
 * with *out NULL for another form.
 */
int source__my_members_parse(const char *column_type, char ***out, size_t *n,
                             struct cdc_err *err);
void source__my_members_free(char **m, size_t n);

/* Whether a MariaDB check clause is json_valid(`column`), the check of a
 * JSON column (case and spaces aside). */
bool source__my_json_check(const char *clause, const char *column);

/* ==== Ranges ==== */

/* At most this many ranges per worker, so that a worker that finishes
 * early takes another range instead of idling. */
#define SOURCE_MY_RANGES_PER_WORKER 4
/* Rows a range should hold at least: each costs a query and a key-value
 * write, which a few hundred KiB of rows amortise. */
#define SOURCE_MY_MIN_RANGE_ROWS 2000

/* How many ranges a table of est_rows rows (information_schema's
 * estimate) is split into for workers: at most workers *
 * SOURCE_MY_RANGES_PER_WORKER, none under SOURCE_MY_MIN_RANGE_ROWS, and
 * at least 1. workers 0 counts as 1. */
size_t source__my_range_count(uint64_t est_rows, unsigned workers);

/* How many integers [min, max] holds (decimal text of a signed or
 * unsigned 64-bit column), UINT64_MAX at most; 0 when min or max is not
 * an integer of that kind or min > max. A key's width stands in for a row
 * estimate that is missing or stale: ranges of it cost little when
 * empty. */
uint64_t source__my_int_width(const char *min, const char *max,
                              bool is_unsigned);

/* Room for a bound of source__my_int_bounds, NUL included. */
#define SOURCE_MY_INT_MAX 24

/*
 * Bounds that split the integers [min, max] (decimal text, of a signed
 * or unsigned 64-bit column) into nranges ranges of about the same
 * width: bound i ends range i, and the last range has no bound. Writes
 * up to nranges - 1 strictly increasing bounds below max into out (room
 * for max_out) and returns their number: fewer when the span is narrow,
 * 0 when min or max is not an integer of that kind or min >= max.
 */
size_t source__my_int_bounds(const char *min, const char *max, bool is_unsigned,
                             size_t nranges, char (*out)[SOURCE_MY_INT_MAX],
                             size_t max_out);

/*
 * Appends the condition selecting the rows of a range of a table to out,
 * for a WHERE clause: with the first n columns of the key (names, each
 * written as lits[i] says), the rows with (key) > (lo) and (key) <= (hi)
 * in the key's order. lo or hi NULL: no bound on that side; both NULL:
 * "TRUE". A tuple compares as its columns in order ("a > x OR (a = x AND
 * b > y)"), which every version's range optimizer takes. Values hold
 * lens bytes each. out has the default limit.
 */
void source__my_range_where(const char *const *names,
                            const enum source__my_lit *lits, size_t n,
                            const char *const *lo, const size_t *lo_lens,
                            const char *const *hi, const size_t *hi_lens,
                            struct cdc_buf *out);

/* Room for a key of source__my_range_key, NUL included. */
#define SOURCE_MY_KEY_MAX 64

/* Writes the state bucket's key of range r of table t (their places in
 * the plan): "copy.mysql.<t>.<r>". */
void source__my_range_key(size_t t, size_t r, char *out, size_t outsz);

/* ==== The plan in the state bucket ==== */

/* The state bucket's key of the copy plan: a key of its own, beside the
 * PostgreSQL plan's "copy.plan", because a binlog position is longer
 * than the PostgreSQL plan keeps and ranges here have key bounds. */
#define SOURCE_MY_PLAN_KEY "copy.mysql.plan"
/* Room for a generation, NUL included (as the PostgreSQL copy's). */
#define SOURCE_MY_GENERATION_MAX 24
/* The plan's most workers: more means it is not one the copy wrote. */
#define SOURCE_MY_PLAN_WORKERS_MAX 1024

/* A table of a plan: its key columns, and nbounds bounds of nvals
 * values each (the first nvals key columns), in order; range i ends at
 * bound i, the last range has none. */
struct source__my_plan_table {
    char *schema;
    char *name;
    char **key;
    size_t nkey;
    size_t nvals;
    size_t nbounds;
    char **vals; /* nbounds * nvals: value j of bound i at i * nvals + j */
    size_t *lens;
};

/*
 * A copy plan: the generation naming the copy, the resume position of
 * its snapshot (source__my_pos_format's text), the workers its split
 * was made for, whether it finished, and its tables. A range is done
 * when its key holds this generation (source_copy_range_value).
 */
struct source__my_plan {
    char generation[SOURCE_MY_GENERATION_MAX];
    char *position;
    unsigned workers;
    bool done;
    struct source__my_plan_table *tables;
    size_t ntables;
};

/* Adds a table (strings copied, no bounds yet) and returns it. */
struct source__my_plan_table *
source__my_plan_add_table(struct source__my_plan *pl, const char *schema,
                          const char *name, const char *const *key, size_t nkey,
                          size_t nvals);
/* Adds a bound of t->nvals values (copied) after its others. */
void source__my_plan_add_bound(struct source__my_plan_table *t,
                               const char *const *vals, const size_t *lens);

/*
 * Appends pl to out, one item per line: "generation G", "position P",
 * "workers W", "done 0|1", then per table "table NVALS NBOUNDS SCHEMA
 * NAME", "key K1,K2,..." and NBOUNDS lines "bound V1,V2,...", names and
 * values in hex. out has the default limit (the copy keeps plans far
 * smaller).
 */
void source__my_plan_format(const struct source__my_plan *pl,
                            struct cdc_buf *out);

/*
 * Reads that text (len bytes) back into *pl, which is overwritten.
 * CDC_EPROTO (no flags) with *pl empty for a line of another form, a
 * table whose bounds or key are missing or malformed, or without
 * generation, position or workers (1 to SOURCE_MY_PLAN_WORKERS_MAX). On
 * success the caller releases *pl.
 */
int source__my_plan_parse(const char *text, size_t len,
                          struct source__my_plan *pl, struct cdc_err *err);

/* Frees what pl holds and empties it; an empty plan is fine. */
void source__my_plan_release(struct source__my_plan *pl);

/* ==== Positions ==== */

/* Writes "<file>:<offset - 1>", the position of the copied rows of a
 * snapshot at file:offset (offset 0 stays 0). */
void source__my_pos_before(const char *file, uint64_t offset, char *out,
                           size_t outsz);

#endif

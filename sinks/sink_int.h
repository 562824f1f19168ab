/*
 * sink_int.h: functions shared by files of sinks/ and not exported from it.
 * Other folders never include this header. No client library types appear
 * here: each function hides its library inside its own file.
 */
#ifndef SINK_SINK_INT_H
#define SINK_SINK_INT_H

#include "common/common.h"

/* Builds SQL that creates on a target every table of the source's
 * publication and everything those tables need, each statement safe to run
 * again (a second run changes nothing). Connects to the source with the
 * libpq keyword/value arrays (NULL-terminated; expand_dbname on). Appends
 * the statements, separated by ";\n", to out. CDC_EIO with a retriable flag
 * (CDC_ERR_RETRIABLE) when the source cannot be reached, CDC_ECONFIG when
 * the publication does not exist.
 *
 * Every statement, the last included, ends with ";\n", so out can be run
 * as one script (PQexec or psql). Names are schema-qualified, so the result
 * does not depend on the target's search_path. Nothing is appended for a
 * publication without tables. kw, val and publication are borrowed for the
 * call; the connection is closed before returning. On failure out is left
 * as it was (CDC_ETOOBIG when it would pass its limit). Any thread may call
 * it. */
int sink__pg_schema_ddl(const char *const *kw, const char *const *val,
                        const char *publication, struct cdc_buf *out,
                        struct cdc_err *err);

struct cdc_conf;

/* ==== Connecting and keys (sink.c) ==== */

/* Calls connect(state, err) until it succeeds, fails for good, or a stop
 * is asked for; between tries it logs "sink=SINK <reason>; retrying in N
 * ms" and waits, by --retry-initial-wait and --retry-max-wait, so a target
 * that is down at start is waited for like one that goes down later.
 * CDC_ESTOP on a stop; a failure that carries no flags is CDC_ECONFIG. */
int sink__connect_wait(const char *sink, const struct cdc_conf *cfg,
                       int (*connect)(void *state, struct cdc_err *err),
                       void *state, struct cdc_err *err);

/* The unique keys of a target table, each a list of column names, the
 * primary key first where the table has one. All zero is no key. */
struct sink_keys {
    char ***cols; /* key i has the columns cols[i][0 .. len[i]) */
    size_t *len;
    size_t n;
    size_t cap;
};

/* Starts another key, with no column yet. */
void sink__keys_open(struct sink_keys *k);
/* Adds a copy of name to the key started last. */
void sink__keys_add(struct sink_keys *k, const char *name);
/* Forgets the key started last, if any. */
void sink__keys_drop(struct sink_keys *k);
/* Whether a key has exactly the columns names[0 .. n), in any order,
 * compared without regard to case when fold_case. */
bool sink__keys_has(const struct sink_keys *k, const char *const *names,
                    size_t n, bool fold_case);
/* Frees every key; k is then no key. */
void sink__keys_free(struct sink_keys *k);

/* ==== Tables blocked by a failed schema change (sink.c) ==== */

/* The tables of a group whose schema change the target refused, as the
 * target's tributary.blocked lists them: their later changes are set
 * aside (dead letters) until a person fixes the table and deletes its
 * row there. */
struct sink_blocked {
    char **ents; /* "schema\0table" each */
    size_t n;
    size_t cap;
};

/* Forgets every table; b is then empty. */
void sink__blocked_clear(struct sink_blocked *b);
void sink__blocked_add(struct sink_blocked *b, const char *schema,
                       const char *table);
bool sink__blocked_has(const struct sink_blocked *b, const char *schema,
                       const char *table);
/* The error of a change of a blocked table (poison, final: set aside at
 * once), at index of its batch; the table is shown as q schema q.q table q
 * (q a double quote or a backtick). Returns CDC_EPROTO. */
int sink__blocked_error(const struct cdc_event *ev, const char *schema, char q,
                        size_t index, struct cdc_err *err);

/* The error of a schema change in another database's dialect than the
 * target's (poison, final), at index of its batch: a person makes the
 * change. Returns CDC_EPROTO. */
int sink__foreign_ddl(const struct cdc_event *ev, const char *target,
                      size_t index, struct cdc_err *err);

/* ==== Events (sink.c) ==== */

/* The column called name among cols, or NULL. */
const struct cdc_col *sink__event_col(const struct cdc_col *cols, size_t n,
                                      const char *name);
/* True when the event's old key equals its new key (or it has no old). */
bool sink__key_unchanged(const struct cdc_event *ev);
/* Whether two events are rows of one table with the same columns and key
 * in the same order (one multi-row statement can carry both). */
bool sink__same_shape(const struct cdc_event *a, const struct cdc_event *b);
/* Copies in (may be NULL) into out as one line. */
void sink__one_line(const char *in, char *out, size_t outsz);

/* ==== What the value conversions share (values_common.c) ==== */

/* How many bytes of a refused value a message shows, at most, as an int
 * for "%.*s". */
#define SINK_SHOWN(len) ((int)((len) > 40 ? 40 : (len)))

/* MySQL's binary string types, normalised, NULL-terminated (base64 in
 * events; its geometry types travel as hex WKB instead). */
extern const char *const sink__mysql_binary_types[];

/* Writes type to out in lower case, without its modifiers ("(10,2)") and
 * without repeated spaces: "timestamp(3) with time zone" becomes
 * "timestamp with time zone". False when it does not fit outsz. */
bool sink__norm_type(const char *type, char *out, size_t outsz);
/* Whether s is one of the NULL-terminated names. */
bool sink__is_one_of(const char *s, const char *const *names);
/* Reads exactly n decimal digits at *p (before end) into *out and moves
 * *p past them; false, with *p somewhere among them, when there are
 * fewer. */
bool sink__digits(const char **p, const char *end, int n, int64_t *out);
/* The days of month m (1 to 12) of year y, in the proleptic Gregorian
 * calendar. */
int64_t sink__days_in_month(int64_t y, int64_t m);
/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
int64_t sink__days_from_civil(int64_t y, int64_t m, int64_t d);
/* Sets err to CDC_EPROTO flagged CDC_ERR_POISON, "what: "<value>"" with
 * the first SINK_SHOWN bytes of v, and returns CDC_EPROTO. */
int sink__refuse(struct cdc_err *err, const char *what, const char *v,
                 size_t len);
/* Appends byte as two lower-case hex digits. */
void sink__append_hex_byte(struct cdc_buf *out, unsigned byte);
/* Appends the bytes that standard base64 v (len bytes, padding optional)
 * encodes: as they are, or with bytea_hex as bytea's hex input ("\x" and
 * two hex digits a byte). CDC_EPROTO flagged CDC_ERR_POISON for malformed
 * base64 (err shows v), CDC_ETOOBIG when out would pass its limit; on
 * failure out may hold part of the value. */
int sink__base64_decode(const char *v, size_t len, bool bytea_hex,
                        struct cdc_buf *out, struct cdc_err *err);

/* ==== Values for MySQL and MariaDB (mysql_values.c) ==== */

/* What a target column is, as far as turning a value into it cares. */
enum sink_my_class {
    SINK_MY_OTHER = 0, /* strings, enums, JSON, binary, time, anything else */
    SINK_MY_NUMBER,    /* integers, DECIMAL, FLOAT, DOUBLE */
    SINK_MY_TEMPORAL,  /* DATE, DATETIME, TIMESTAMP */
    SINK_MY_BIT,       /* BIT(n) */
};

/* How a converted value is to be written. */
enum sink_my_form {
    SINK_MY_STRING, /* text: a quoted, escaped string literal */
    SINK_MY_BYTES,  /* bytes: a hex literal */
    SINK_MY_BITS,   /* '0' and '1' characters: a bit literal, b'0101' */
};

/* The class of a column from its information_schema DATA_TYPE ("int",
 * "datetime"; any case, modifiers ignored). */
enum sink_my_class sink__my_class(const char *data_type);

/*
 * Turns len bytes of an event's value (the source's text form, never
 * NULL) of type type (the source's type name; NULL: taken as text) from a
 * source ("postgres", "mysql") into what a MySQL column of class cls
 * takes, and appends it to out; *form says how to write it. PostgreSQL
 * booleans become 1 and 0, zoned timestamps the same instant in UTC
 * without a zone, times with a zone the UTC time of day, bytea (\x hex or
 * escapes) and MySQL binary types (base64) bytes, arrays JSON arrays, bit
 * strings (and booleans) for a BIT column bits; any other value is
 * appended as it is. CDC_EPROTO flagged CDC_ERR_POISON, with the reason
 * in err (no table or column: the caller adds them), for a value MySQL
 * cannot store in a column of that class (NaN or an infinity in a number
 * column, an infinite or BC date in a date column) and for malformed
 * bytea, base64, bit strings or arrays; CDC_ETOOBIG when out would pass
 * its limit. On failure out may hold part of the value. No server is
 * involved; any thread may call it.
 */
int sink__my_value(const char *source, const char *type, const char *value,
                   size_t len, enum sink_my_class cls, struct cdc_buf *out,
                   enum sink_my_form *form, struct cdc_err *err);

/* ==== Values from MySQL for PostgreSQL (pg_values.c) ==== */

/* What a target column is, as far as turning a MySQL value into it
 * cares. */
enum sink_pg_class {
    SINK_PG_OTHER = 0, /* text, json, bit, interval, anything else */
    SINK_PG_BYTEA,
    SINK_PG_NUMBER, /* smallint, integer, bigint, numeric, real, double */
    SINK_PG_BOOL,
    SINK_PG_TIME, /* time, time with time zone */
    SINK_PG_DATE, /* date, timestamp, timestamp with time zone */
};

/* The class of a column from its type's OID (for a domain, its base
 * type's); SINK_PG_OTHER for any type not built in. */
enum sink_pg_class sink__pg_class(uint32_t type_oid);

/*
 * Turns len bytes of an event's value (the source's text form, never
 * NULL) of type type (the source's type name; NULL: taken as text) from a
 * source ("mysql"; any other source's values are left alone) into the
 * text a PostgreSQL column of class cls reads as the same value. When the
 * value can go as it is (most do; always for SINK_PG_OTHER), *changed is
 * false and out is not touched; else *changed is true and the text is
 * appended to out. Binary strings (base64) and bit strings become bytea's
 * "\x" hex form in a bytea column, and so does geometry (hex WKB, without
 * its "SRID=n;"); bit strings become their number in a number column;
 * year "0000" becomes "0". CDC_EPROTO flagged CDC_ERR_POISON, with the
 * reason in err (no table or column: the caller adds them), for a value
 * PostgreSQL cannot hold in a column of that class (a zero date, a zero
 * month or day, year 0 or a day the month lacks in a date column; a
 * negative time or one past 24:00:00 in a time column; an integer other
 * than 0 and 1 in a boolean column) and for malformed base64 or bit
 * strings; CDC_ETOOBIG when out would pass its limit. On failure out may
 * hold part of the value. No server is involved; any thread may call it.
 */
int sink__pg_value(const char *source, const char *type, const char *value,
                   size_t len, enum sink_pg_class cls, struct cdc_buf *out,
                   bool *changed, struct cdc_err *err);

/* ==== COPY's binary form (pg_binary.c) ==== */

/* Whether a column of this type (the target's OID) can be loaded with
 * binary COPY: sink__pg_binary_value reads the text of its values. */
bool sink__pg_binary_type(uint32_t type_oid);
/* Appends the field (its length, then its bytes) that a column of type
 * type_oid reads as the same value as from the text v[0..len); false, b
 * as it was, when v is not in the plain form that is read here (a BC date,
 * a numeric with an exponent...): the row must then go as text. */
bool sink__pg_binary_value(struct cdc_buf *b, uint32_t type_oid, const char *v,
                           size_t len);
/* The binary COPY stream's header, a row's field count, a NULL field, and
 * the trailer. */
void sink__pg_binary_header(struct cdc_buf *b);
void sink__pg_binary_row(struct cdc_buf *b, size_t nfields);
void sink__pg_binary_null(struct cdc_buf *b);
void sink__pg_binary_trailer(struct cdc_buf *b);
/* The type of arrays of elem_oid when values of elem_oid are read here
 * (int8[] for int8); 0 for any other type, arrays included. */
uint32_t sink__pg_binary_array_of(uint32_t elem_oid);
/* A one-dimensional array in binary form, as a parameter takes it (no
 * length before it): opened, then count elements appended with
 * sink__pg_binary_value or sink__pg_binary_null, then closed with the
 * offset that opening returned, their count and whether one was NULL. */
size_t sink__pg_binary_array_open(struct cdc_buf *b, uint32_t elem_oid);
void sink__pg_binary_array_close(struct cdc_buf *b, size_t at, size_t count,
                                 bool nulls);

#endif

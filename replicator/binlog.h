/*
 * binlog.h: decoder of MySQL and MariaDB binary log events, as a replica
 * receives them with row-based replication, into column values in the
 * text forms the PostgreSQL source uses, so sinks see one format. Pure
 * logic: no connection and no I/O (the connection and the raw events come
 * from the source file), so it is unit-tested on hand-built and captured
 * bytes and fuzzed. It keeps the format description (header length,
 * post-header lengths, checksum algorithm) and the table maps by table id
 * between events. Private to replicator/.
 *
 * Values (struct cdc_col: value NULL for SQL NULL, else value_len bytes,
 * NUL-terminated as well), by MySQL type:
 *   tinyint, smallint, mediumint, int, bigint (" unsigned" when the
 *     signedness metadata says so; signed without it): decimal digits
 *   decimal(p,s): exact, with s digits after the point ("-3.00")
 *   float, double: the shortest text that reads back as the same value
 *     ("0.1", "1.5e+20"); exponent form below 1e-4 and from 1e15 (double)
 *     or 1e6 (float) on, as PostgreSQL writes float8 and float4
 *   bit(n): n characters '0' or '1', most significant first
 *   year: "2024", and "0000" for the zero year
 *   date: "YYYY-MM-DD"; time(n): "[-]HH:MM:SS[.f]" with n fraction digits;
 *     datetime(n): "YYYY-MM-DD HH:MM:SS[.f]"; timestamp(n): the same in UTC
 *     followed by "+00". Zero dates keep their text ("0000-00-00",
 *     "0000-00-00 00:00:00+00" for the zero timestamp).
 *   char, varchar, tinytext .. longtext: UTF-8, converted from the column's
 *     character set (utf8mb3/utf8mb4 validated, latin1 as MySQL defines it
 *     (Windows-1252 with the five unassigned bytes kept as U+0081..), ascii,
 *     ucs2, utf16, utf16le, utf32); another character set is an error naming
 *     the column and its collation id. Without any character set
 *     information the bytes must be valid UTF-8.
 *   binary, varbinary, tinyblob .. longblob (character set 63): base64;
 *     binary(n) values get back the trailing zero bytes the binlog drops.
 *   enum, set: the member text ("medium", "a,c"; "" for the error value 0);
 *     without member names, the number (index, or bit mask for a set) as
 *     text and the event's enum_as_index flag set
 *   json: MySQL 8's binary JSON as JSON text the way MySQL prints it
 *     ({"a": [1, 2.5], "b": null}: objects, arrays, literals, integers,
 *     doubles, strings; DATE, TIME, DATETIME and TIMESTAMP inside JSON as
 *     strings with 6 fraction digits, DECIMAL as a number, other opaque
 *     values as "base64:type<N>:<base64>"); MariaDB's JSON is a longtext
 *     column and comes out as the text it stores
 *   geometry (point, linestring, ... when the metadata names the kind):
 *     upper-case hex of the WKB, preceded by "SRID=<n>;" when the stored
 *     SRID is not 0 (the form PostGIS reads)
 *
 * Not supported (an error naming the event or column): PARTIAL_UPDATE_ROWS
 * (binlog_row_value_options=PARTIAL_JSON), TRANSACTION_PAYLOAD (binlog
 * transaction compression), MariaDB's compressed events and columns, binlog
 * encryption, tagged GTIDs, pre-GA row events, binlog versions before 4,
 * the pre-5.0 DECIMAL type and MySQL 9's VECTOR.
 */
#ifndef SOURCE_BINLOG_H
#define SOURCE_BINLOG_H

#include "common/common.h"

/* Event type codes (the header's type byte) the decoder gives meaning. */
enum source_binlog_type {
    BINLOG_T_QUERY = 2,
    BINLOG_T_STOP = 3,
    BINLOG_T_ROTATE = 4,
    BINLOG_T_FORMAT_DESCRIPTION = 15,
    BINLOG_T_XID = 16,
    BINLOG_T_TABLE_MAP = 19,
    BINLOG_T_WRITE_ROWS_V1 = 23,
    BINLOG_T_UPDATE_ROWS_V1 = 24,
    BINLOG_T_DELETE_ROWS_V1 = 25,
    BINLOG_T_INCIDENT = 26,
    BINLOG_T_HEARTBEAT = 27,
    BINLOG_T_ROWS_QUERY = 29,
    BINLOG_T_WRITE_ROWS = 30,
    BINLOG_T_UPDATE_ROWS = 31,
    BINLOG_T_DELETE_ROWS = 32,
    BINLOG_T_GTID = 33,
    BINLOG_T_ANONYMOUS_GTID = 34,
    BINLOG_T_PREVIOUS_GTIDS = 35,
    BINLOG_T_PARTIAL_UPDATE_ROWS = 39,
    BINLOG_T_TRANSACTION_PAYLOAD = 40,
    BINLOG_T_ANNOTATE_ROWS = 160,
    BINLOG_T_BINLOG_CHECKPOINT = 161,
    BINLOG_T_MARIADB_GTID = 162,
    BINLOG_T_GTID_LIST = 163,
};

/* Flags of the event header. */
#define BINLOG_HF_IN_USE 0x0001     /* the file was not closed cleanly */
#define BINLOG_HF_ARTIFICIAL 0x0020 /* made up by the server for the dump */

/* Flags of a MariaDB GTID (event.gtid.flags). */
#define BINLOG_GTID_STANDALONE 0x01 /* no COMMIT/XID ends the group */
#define BINLOG_GTID_GROUP_COMMIT 0x02
#define BINLOG_GTID_TRANSACTIONAL 0x04
#define BINLOG_GTID_ALLOW_PARALLEL 0x08
#define BINLOG_GTID_WAITED 0x10
#define BINLOG_GTID_DDL 0x20
#define BINLOG_GTID_PREPARED_XA 0x40
#define BINLOG_GTID_COMPLETED_XA 0x80

enum source_binlog_checksum {
    BINLOG_CHECKSUM_UNKNOWN = 0, /* not said yet: see source_binlog_decode */
    BINLOG_CHECKSUM_NONE,
    BINLOG_CHECKSUM_CRC32,
};

enum source_binlog_kind {
    BINLOG_OTHER = 0, /* nothing for the caller (STOP, INTVAR, ...) */
    BINLOG_FORMAT,    /* FORMAT_DESCRIPTION */
    BINLOG_ROTATE,    /* the next binlog file and position */
    BINLOG_QUERY,     /* a statement: DDL, BEGIN, COMMIT, ... */
    BINLOG_XID,       /* commit of a transaction */
    BINLOG_GTID,      /* MariaDB or MySQL GTID: an event group starts */
    BINLOG_GTID_LIST, /* MariaDB: the GTID state at the start of a file */
    BINLOG_TABLE_MAP, /* a table described for the row events after it */
    BINLOG_ROWS,      /* WRITE/UPDATE/DELETE rows, v1 or v2 */
    BINLOG_ANNOTATE,  /* the statement behind row events */
    BINLOG_HEARTBEAT, /* the server is idle */
    BINLOG_INCIDENT,  /* the source lost changes: replicas must stop */
};

/* The common header of every event. */
struct source_binlog_header {
    uint32_t timestamp; /* seconds since the epoch the statement began */
    uint8_t type;       /* enum source_binlog_type, or another code */
    uint32_t server_id;
    uint32_t event_size; /* header, body and checksum */
    uint32_t log_pos;    /* end of the event in its file; 0 if artificial */
    uint16_t flags;      /* BINLOG_HF_* */
};

/* One row of a row event. cols arrays hold the table's columns in table
 * order (ncols of the event); a column the image did not carry
 * (binlog_row_image MINIMAL or NOBLOB) has value NULL and true in the
 * absent array, which is NULL when the image carried every column. */
struct source_binlog_row {
    struct cdc_col *before; /* UPDATE, DELETE: the old row; else NULL */
    struct cdc_col *after;  /* INSERT, UPDATE: the new row; else NULL */
    const bool *before_absent;
    const bool *after_absent;
};

/* One decoded event. Every pointer points into the arena given to
 * source_binlog_decode, never into the event's bytes. */
struct source_binlog_event {
    struct source_binlog_header hdr;
    enum source_binlog_kind kind;
    union {
        struct {
            uint16_t binlog_version;
            const char *server_version;
            bool mariadb;
            uint8_t header_len; /* of the events that follow */
            enum source_binlog_checksum checksum;
        } format;
        struct {
            const char *file;
            uint64_t pos;
        } rotate;
        struct {
            const char *schema; /* default database, "" for none */
            /* converted to UTF-8 when the client character set is one the
             * decoder converts, else as the server logged it */
            const char *text;
            size_t text_len;
            uint32_t thread_id;
            uint16_t error_code;
            uint16_t charset; /* character_set_client; 0 if not logged */
        } query;
        struct {
            uint64_t xid;
        } xid;
        struct {
            /* "domain-server-seq" (MariaDB) or "uuid:gno" (MySQL) */
            const char *text;
            bool mysql;
            uint32_t domain_id; /* MariaDB */
            uint32_t server_id; /* MariaDB: the header's server id */
            uint64_t seq_no;    /* MariaDB sequence number or MySQL gno */
            uint8_t flags;      /* MariaDB: BINLOG_GTID_*; MySQL: its own */
            uint64_t commit_id; /* MariaDB with BINLOG_GTID_GROUP_COMMIT */
            uint8_t uuid[16];   /* MySQL: the server's uuid */
        } gtid;
        struct {
            const char *text; /* "0-1-17,1-2-5"; "" for an empty list */
            size_t n;
        } gtid_list;
        struct {
            const char *text; /* ANNOTATE_ROWS or ROWS_QUERY statement */
            size_t text_len;
        } annotate;
        struct {
            const char *file; /* the file the source is at */
        } heartbeat;
        struct {
            uint16_t code;
            const char *message;
        } incident;
        struct {
            uint64_t table_id;
            const char *schema;
            const char *table;
            size_t ncols;
            /* no column names: neither in the metadata nor supplied; see
             * source_binlog_set_columns */
            bool names_missing;
        } table_map;
        struct {
            enum cdc_op op; /* CDC_OP_INSERT, CDC_OP_UPDATE or CDC_OP_DELETE */
            uint64_t table_id;
            const char *schema;
            const char *table;
            size_t ncols;
            struct source_binlog_row *rows;
            size_t nrows;
            /* primary key column names, from the metadata or supplied;
             * NULL and 0 when not known */
            const char **key;
            size_t nkey;
            uint16_t flags; /* the event's own flags */
            bool stmt_end;  /* last event of its statement */
            /* column names are "@1", "@2", ... (1-based positions) */
            bool names_missing;
            /* some enum or set value is its number (no member names) */
            bool enum_as_index;
            /* some row image left columns out (see source_binlog_row) */
            bool absent;
        } rows;
    };
};

/* Column information from outside the binlog (information_schema), for
 * tables whose TABLE_MAP lacks the full metadata. */
struct source_binlog_colinfo {
    const char *name; /* required */
    /* type name to report instead of the one derived from the binlog
     * ("json" for a MariaDB JSON column, which the binlog calls longtext);
     * NULL to keep it */
    const char *type;
    bool is_unsigned;
    /* collation id (information_schema.COLLATIONS.ID; 63 for binary
     * columns); 0 keeps what the binlog said */
    uint32_t charset;
    /* ENUM or SET members in order, UTF-8; NULL when not one */
    const char *const *values;
    size_t nvalues;
};

struct source_binlog;

/* A decoder with no format description yet: events are read with the
 * 19-byte header of binlog version 4 until one arrives. */
struct source_binlog *source_binlog_new(void);
/* NULL-safe. */
void source_binlog_free(struct source_binlog *b);

/* Sets the checksum algorithm of the events before the first format
 * description (the server's ROTATE that opens a dump): the caller knows it
 * from @@global.binlog_checksum. While it is BINLOG_CHECKSUM_UNKNOWN, an
 * event counts as checksummed when its last four bytes are the CRC32 of
 * the rest. A format description sets it for what follows. */
void source_binlog_set_checksum(struct source_binlog *b,
                                enum source_binlog_checksum alg);

/* Forgets the format description, its checksum algorithm and the table
 * maps (after a reconnect the server sends them again; the caller sets the
 * checksum again if it knows it). Column information supplied with
 * source_binlog_set_columns is kept. */
void source_binlog_reset(struct source_binlog *b);

/*
 * Decodes one event: data holds exactly one event, from its 19-byte header
 * to its end, checksum included (without the leading 0x00 of the network
 * packet). Strings and values are copied into arena and stay valid until
 * it is reset; nothing points into data. The decoder keeps what later
 * events need (format description, table maps).
 *
 * Returns CDC_OK with *out filled; CDC_EPROTO for a malformed event, a
 * checksum mismatch, a row event without its table map or a value that
 * cannot be converted, or an event kind that is not supported (the message
 * names the event type, its end position, the table and column and the
 * offset in the event); CDC_ETOOBIG when the decoded rows would take far
 * more memory than the event (never for real row images). On failure *out
 * is zeroed and the decoder's state is as before, except that a table map
 * that failed is forgotten.
 */
int source_binlog_decode(struct source_binlog *b, const void *data, size_t len,
                         struct cdc_arena *arena,
                         struct source_binlog_event *out, struct cdc_err *err);

/*
 * Supplies column names, types, signedness, character sets and ENUM/SET
 * members (and the primary key, NULL and 0 for none) for the table mapped
 * to table_id, replacing what the binlog said. The decoder keeps a copy
 * and applies it to later table maps of the same schema and table while
 * their column count and types are unchanged; a DDL that renames columns
 * calls source_binlog_forget_columns. Strings are copied.
 * CDC_ENOTFOUND when no table map has that id, CDC_ESTATE when ncols is
 * not the table map's column count or a key name is not a column.
 */
int source_binlog_set_columns(struct source_binlog *b, uint64_t table_id,
                              const struct source_binlog_colinfo *cols,
                              size_t ncols, const char *const *key, size_t nkey,
                              struct cdc_err *err);

/* Drops supplied column information of schema.table (both NULL: of every
 * table). Table maps already decoded keep it until they are replaced. */
void source_binlog_forget_columns(struct source_binlog *b, const char *schema,
                                  const char *table);

/* The server version from the last format description, or NULL. */
const char *source_binlog_server_version(const struct source_binlog *b);

/* Writes the text the decoder gives a FLOAT (is_float, v being the float
 * widened) or DOUBLE value v to out (room for 32 bytes is enough) and
 * returns its length: the shortest that reads back as the same value.
 * For the initial copy, whose rows must read as the stream's. */
size_t source_binlog_format_real(double v, bool is_float, char *out,
                                 size_t outsz);

/* "WRITE_ROWS_EVENT_V1", ..., or "event type <n>" written into buf. */
const char *source_binlog_type_name(uint8_t type, char *buf, size_t bufsz);

#endif

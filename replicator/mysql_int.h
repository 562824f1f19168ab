/*
 * mysql_int.h: what the MySQL/MariaDB source's files share and nothing
 * outside replicator/ includes: the connection settings of the options,
 * connecting and running statements (source_mysql.c), the tables and
 * their columns as information_schema describes them (mysql_schema.c),
 * binlog positions (source_mysql.c) and the initial copy (copy_mysql.c).
 *
 * Positions. An event's position is "<binlog file>:<offset>", the offset
 * being where its transaction's first event (GTID, or BEGIN) starts in
 * that file; they order as cdc_position_cmp does for the source "mysql"
 * (file names by length, then byte by byte; offsets as numbers). The
 * rows of an initial copy carry the snapshot's position less one, so
 * they sort before every change streamed after the snapshot. A resume
 * position (what the state bucket keeps) is "<file>:<offset>", where the
 * next transaction starts, followed by " gtid <state>" when the server
 * has GTIDs: MariaDB's "domain-server-seq" list, or MySQL's GTID set
 * ("uuid:1-5,...", gtid_mode ON).
 */
#ifndef REPLICATOR_MYSQL_INT_H
#define REPLICATOR_MYSQL_INT_H

#include "replicator/binlog.h"
#include "replicator/source.h"

#include <mysql.h>

/* Room for a binlog file name (a server's log_bin_basename is a path of
 * at most 511 bytes, the name in a ROTATE at most 255). */
#define SOURCE_MY_FILE_MAX 256
/* Room for a GTID state of several domains. */
#define SOURCE_MY_GTID_MAX 512
/* Room for a resume position in text, NUL included. */
#define SOURCE_MY_POS_MAX (SOURCE_MY_FILE_MAX + SOURCE_MY_GTID_MAX + 32)

/* A place in the binlog: where the next transaction starts, and (when the
 * server has GTIDs) the GTID state just before it. */
struct source__my_pos {
    char file[SOURCE_MY_FILE_MAX];
    uint64_t offset;
    char gtid[SOURCE_MY_GTID_MAX]; /* "" without GTIDs */
};

/* Writes "<file>:<offset>[ gtid <state>]" to out. */
void source__my_pos_format(const struct source__my_pos *p, char *out,
                           size_t outsz);
/* Reads that text back; CDC_EPROTO (no flags) for another form. */
int source__my_pos_parse(const char *text, struct source__my_pos *p,
                         struct cdc_err *err);

/* The connection settings of the source options host, port, user,
 * password and dbname (the database of tables named without one). The
 * strings point into cfg, which must outlive the struct. */
struct source__my_settings {
    const char *host; /* NULL: localhost */
    unsigned port;    /* 0: 3306 */
    const char *user;
    const char *password;
    const char *dbname;
    /* seconds a read may wait for the server (0: 600) */
    unsigned read_timeout_s;
};

void source__my_settings_init(struct source__my_settings *st,
                              const struct cdc_conf *cfg);

/*
 * Connects with st; the session then speaks utf8mb4, has time_zone
 * '+00:00' (TIMESTAMP values read as UTC) and autocommit on. what names
 * the connection in messages ("source MySQL"). A failure that may pass
 * (server down, too many connections) is CDC_EIO flagged retriable; bad
 * credentials or an unknown database are CDC_ECONFIG.
 */
int source__my_connect(const struct source__my_settings *st, MYSQL **out,
                       struct cdc_err *err);

/* Runs one statement. With res non-NULL the result is stored there (NULL
 * for a statement without one); the caller frees it. On failure err says
 * what, with the server's message and error code: CDC_EIO retriable when
 * the connection was lost, else CDC_EIO. */
int source__my_query(MYSQL *conn, const char *sql, MYSQL_RES **res,
                     struct cdc_err *err);

/* Appends s as a string literal ('s', escaped for conn's character set). */
void source__my_append_literal(struct cdc_buf *b, MYSQL *conn, const char *s);
/* Appends name quoted as an identifier (`name`, backticks doubled). */
void source__my_append_ident(struct cdc_buf *b, const char *name);

/* One table of --tables: "db.name" as it is, a bare "name" in --dbname. */
struct source__my_table {
    char *schema;
    char *name;
};

/* Reads --tables of cfg (required for this source). CDC_ECONFIG for an
 * empty item, a bare name without --dbname, or no tables at all. The
 * caller frees *out with source__my_tables_free. */
int source__my_tables_resolve(const struct cdc_conf *cfg,
                              struct source__my_table **out, size_t *n,
                              struct cdc_err *err);
void source__my_tables_free(struct source__my_table *t, size_t n);

/*
 * A table as information_schema describes it: its columns in order
 * (cols[i] as source_binlog_set_columns takes them: name, type override
 * "json" for a MariaDB JSON column, unsigned flag, collation id, ENUM/SET
 * members), the information_schema DATA_TYPE and COLUMN_TYPE of each,
 * its key (the primary key, else the first unique key whose columns are
 * all NOT NULL; none: nkey 0) and an estimate of its size.
 */
struct source__my_tabinfo {
    char *schema;
    char *name;
    size_t ncols;
    struct source_binlog_colinfo *cols; /* strings owned */
    char **data_type;                   /* "int", "varchar", ... */
    char **column_type;                 /* "int(10) unsigned", ... */
    char **key;
    size_t nkey;
    uint64_t est_rows;  /* information_schema.TABLES.TABLE_ROWS */
    uint64_t est_bytes; /* DATA_LENGTH */
};

/* Reads schema.name; CDC_ENOTFOUND (no flags) when there is no such
 * table, CDC_EIO when the catalog cannot be read. */
int source__my_tabinfo_read(MYSQL *conn, const char *schema, const char *name,
                            struct source__my_tabinfo *out,
                            struct cdc_err *err);
/* NULL-safe; leaves *t zeroed. */
void source__my_tabinfo_free(struct source__my_tabinfo *t);

/* The binlog files the server keeps (SHOW BINARY LOGS), against a
 * position. */
struct source__my_binlogs {
    char oldest[SOURCE_MY_FILE_MAX]; /* "" when there is none */
    uint64_t files;
    uint64_t bytes;  /* of every file */
    bool has_pos;    /* the position's file is among them */
    uint64_t behind; /* bytes after the position, when has_pos */
};

/* Lists the binlog files into *out; pos may be NULL. With names
 * non-NULL, *names receives their names oldest first (*nnames of them;
 * the caller frees each and the array). CDC_EPROTO when the server lists
 * none, else what source__my_query returns. */
int source__my_binlogs_read(MYSQL *conn, const struct source__my_pos *pos,
                            struct source__my_binlogs *out, char ***names,
                            size_t *nnames, struct cdc_err *err);

/* The binlog position and GTID state the server is at now (SHOW MASTER
 * STATUS and @@gtid_binlog_pos). CDC_ECONFIG when binary logging is off. */
int source__my_current_pos(MYSQL *conn, struct source__my_pos *out,
                           struct cdc_err *err);

/* ==== MySQL GTID sets (mysql_gtid.c) ==== */

/*
 * A MySQL GTID set, "uuid:1-5:7,uuid2:3": per server uuid (in byte
 * order) its transaction numbers as intervals [lo, hi], sorted, apart
 * (intervals that touch are one). MariaDB's GTIDs are another thing:
 * source_mysql.c keeps its "domain-server-seq" state itself.
 */
struct source__my_gtid_iv {
    uint64_t lo;
    uint64_t hi;
};

struct source__my_gtid_sid {
    uint8_t uuid[16];
    struct source__my_gtid_iv *iv;
    size_t n;
    size_t cap;
};

struct source__my_gtid_set {
    struct source__my_gtid_sid *sid;
    size_t n;
    size_t cap;
};

void source__my_gtid_set_init(struct source__my_gtid_set *s);
void source__my_gtid_set_free(struct source__my_gtid_set *s);
/* Reads MySQL's text form (spaces and line breaks around the commas, as
 * the server prints it, allowed; "" is the empty set) into *s, which it
 * initialises. CDC_EPROTO naming the fault and its byte for anything
 * else, including tagged GTIDs (MySQL 8.3's uuid:tag:n), which this
 * source does not follow; *s is then empty. */
int source__my_gtid_set_parse(const char *text, struct source__my_gtid_set *s,
                              struct cdc_err *err);
/* Writes s as MySQL would ("" for the empty set); false (and "") when it
 * does not fit in outsz. */
bool source__my_gtid_set_format(const struct source__my_gtid_set *s, char *out,
                                size_t outsz);
void source__my_gtid_set_add(struct source__my_gtid_set *s,
                             const uint8_t uuid[16], uint64_t gno);
bool source__my_gtid_set_has(const struct source__my_gtid_set *s,
                             const uint8_t uuid[16], uint64_t gno);
/* Whether every GTID of a is in b. */
bool source__my_gtid_set_subset(const struct source__my_gtid_set *a,
                                const struct source__my_gtid_set *b);

/*
 * Where a MySQL dump resumes from the GTID set have_text: the newest
 * binlog file whose Previous_gtids lies within the set (offset 4; the
 * source passes over the transactions the set has), so the group can
 * resume on any server of the topology, as a replica with
 * MASTER_AUTO_POSITION does. Refused with one line: gtid_mode not ON
 * (CDC_ECONFIG); a server that lacks transactions of the set, or purged
 * some that are not in it (CDC_ESTATE).
 */
int source__my_gtid_resume(MYSQL *conn, const char *have_text,
                           struct source__my_pos *out, struct cdc_err *err);

/* ==== Statements of QUERY events (mysql_ddl.c) ==== */

enum source__my_stmt_kind {
    SOURCE_MY_STMT_OTHER = 0, /* nothing a capture acts on */
    SOURCE_MY_STMT_BEGIN,
    SOURCE_MY_STMT_COMMIT,
    SOURCE_MY_STMT_ROLLBACK, /* ROLLBACK (not ROLLBACK TO SAVEPOINT) */
    SOURCE_MY_STMT_TRUNCATE, /* TRUNCATE [TABLE] t */
    SOURCE_MY_STMT_DDL,      /* a schema change of the tables named */
};

/* A table a statement names: database (the default one when the
 * statement does not say) and name, unquoted, as written (MySQL compares
 * table names case-sensitively on Linux). */
struct source__my_stmt_table {
    const char *schema;
    const char *name;
};

#define SOURCE_MY_STMT_TABLES_MAX 16

struct source__my_stmt {
    enum source__my_stmt_kind kind;
    /* SOURCE_MY_STMT_DDL: "ALTER TABLE", "CREATE TABLE", "DROP TABLE",
     * "RENAME TABLE", "CREATE INDEX", "DROP INDEX", "TRUNCATE TABLE" for
     * TRUNCATE; NULL otherwise */
    const char *tag;
    /* the tables the statement changes (RENAME: both old and new names;
     * DROP: every table of the list); at most SOURCE_MY_STMT_TABLES_MAX,
     * more set `more` */
    struct source__my_stmt_table tables[SOURCE_MY_STMT_TABLES_MAX];
    size_t ntables;
    bool more;
    bool temporary; /* CREATE/DROP TEMPORARY TABLE: not logged as a change
                       of a real table */
};

/*
 * Classifies the statement text of a QUERY event (len bytes, not
 * necessarily NUL-terminated): leading spaces and comments ("/ * ... * /",
 * "-- ...", "# ...") are skipped, keywords compared without case,
 * identifiers plain or in backticks (doubled backticks inside), with an
 * optional "db." before the table. default_db (the event's schema; may
 * be "" or NULL) completes names without a database. Strings go into
 * arena. Never fails: a statement it does not understand is
 * SOURCE_MY_STMT_OTHER. Pure; unit-tested.
 */
void source__my_stmt_parse(const char *sql, size_t len, const char *default_db,
                           struct cdc_arena *arena,
                           struct source__my_stmt *out);

/* The MySQL part of `replicator status` (see source_ops.status;
 * status_mysql.c). */
int source__my_status(const struct cdc_conf *cfg, const char *group,
                      const char *saved, struct cdc_buf *out,
                      struct cdc_err *err);

/* What the initial copy needs from the source. */
struct source__my_copy_args {
    const struct source__my_settings *settings;
    const struct source__my_table *tables;
    size_t ntables;
};

/*
 * The initial copy (see source_ops.copy): the rows of every table of
 * args, read in primary-key ranges under one consistent snapshot, as COPY
 * events at the snapshot's position less one. *start receives the
 * binlog position of the snapshot, where streaming must start (the one
 * of the copy's plan when an interrupted copy resumes, or when it had
 * finished before).
 */
int source__my_copy(const struct source__my_copy_args *a,
                    const struct source_copy_env *env,
                    struct source__my_pos *start, struct cdc_err *err);

#endif

/*
 * sink_mysql.c: keeps tables of a target MySQL or MariaDB equal to the
 * source's, whatever the source (PostgreSQL or MySQL events). An event's
 * schema names the target database, its table the table. Each batch is
 * one InnoDB transaction, sent as few multi-statement packets, that also
 * moves the group's last applied stream sequence and source position in
 * tributary.positions (compare-and-set on the value read); the sink skips
 * anything at or below that mark, so a redelivered batch never applies
 * twice, even to a table without a key.
 *
 * Rows are written by key: INSERT and COPY upsert (ON DUPLICATE KEY
 * UPDATE, several rows per statement), UPDATE matches the old key (or the
 * new one when the key did not change), DELETE matches the key; a table
 * without a key matches one row on every old column (<=>, LIMIT 1).
 * Values are converted by type (mysql_values.c) and always written as
 * escaped or hex literals; identifiers are always quoted with backticks.
 * Columns the source did not send (unchanged TOAST) are left as they are.
 * TRUNCATE commits implicitly in MySQL, so it runs between two
 * transactions and is recorded in a transaction of its own (running it
 * twice after a crash changes nothing). Schema changes of a MySQL source
 * run as they came, between two transactions too (see apply_ddl); those
 * of another source are not applied.
 *
 * Errors are classified where they are seen: a lost connection, a
 * deadlock or a lock wait timeout is retriable (the sink reconnects on the
 * next write); a row the target rejects (constraint, type, missing table
 * or column) is poison at its index in the batch; bad credentials or
 * missing privileges stop the worker.
 */
#include "sinks/sink.h"
#include "sinks/sink_int.h"

#include <inttypes.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct cdc_opt my_options[] = {
    {"target-host", CDC_OPT_STRING, NULL, 0, 0, 0,
     "target MySQL or MariaDB host (else localhost, through its socket)"},
    {"target-port", CDC_OPT_INT, "3306", 1, 65535, 0,
     "target MySQL or MariaDB port"},
    {"target-dbname", CDC_OPT_STRING, NULL, 0, 0, 0,
     "target database for events without a schema (each event's schema "
     "names its database)"},
    {"target-user", CDC_OPT_STRING, NULL, 0, 0, 0,
     "target user (else the login name)"},
    {"target-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "target password"},
    {"target-disable-foreign-keys", CDC_OPT_BOOL, "false", 0, 0, 0,
     "apply with foreign_key_checks = 0"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* A target that does not answer a connection attempt within this time is
 * treated as down (and retried). */
#define CONNECT_TIMEOUT_S 10u
/* A statement that gets no answer within this time is taken for a lost
 * connection (retried on a new one): far above the server's own lock wait
 * timeout (50 s by default), so only a dead server or network hits it. */
#define READ_TIMEOUT_S 600u
/* Statements go to the server in packets of about this size: one round
 * trip for a batch of small changes, and little memory for large ones. A
 * multi-row insert stops taking rows at this size too. */
#define PACKET_TARGET ((size_t)1 << 20)
/* Rows of one multi-row insert at most: beyond this the server's cost per
 * row no longer falls. */
#define MAX_ROWS 1000
/* Room for the protocol's header within max_allowed_packet. */
#define PACKET_SLACK 1024
/* Used when the server's max_allowed_packet cannot be read: MySQL 5.7's
 * default, the smallest a current server has. */
#define DEFAULT_MAX_PACKET ((size_t)4 << 20)

/* Strict: a value the column cannot take is an error, never silently
 * changed (STRICT_ALL_TABLES, NO_ZERO_IN_DATE, NO_ZERO_DATE,
 * ERROR_FOR_DIVISION_BY_ZERO); a 0 written to an AUTO_INCREMENT column
 * stays 0 (NO_AUTO_VALUE_ON_ZERO); a table is never created with another
 * engine than asked (NO_ENGINE_SUBSTITUTION). Not ANSI_QUOTES: identifiers
 * are quoted with backticks. */
#define SQL_MODE                                                               \
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"                          \
    "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

/* ==== State ==== */

struct my_col {
    char *name;
    enum sink_my_class cls;
    bool generated; /* never written */
    /* the type a value is cast to where the column is compared with it:
     * "JSON" for MySQL's JSON type (a string is not equal to a JSON
     * value), "FLOAT" for single precision floats (a string compares as a
     * double, never equal to the float it was stored as); else NULL */
    const char *cast;
    /* a character string: compared byte for byte where a row is matched
     * on every column, since its collation may take 'a' for 'A', 'e' for
     * 'é' or ignore trailing spaces */
    bool text;
};

struct my_table {
    char *db;
    char *name;
    char *qname; /* `db`.`name` */
    bool missing;
    struct my_col *cols;
    size_t ncols;
    /* unique keys on whole columns, primary key first */
    struct sink_keys keys;
};

/* What a statement's count of found rows must be. */
enum my_expect {
    EXPECT_ANY = 0,
    EXPECT_ROW,  /* at least one: an update of part of a row */
    EXPECT_MARK, /* exactly one: the position's compare-and-set */
};

/* One statement of a batch. */
struct my_cmd {
    size_t event; /* index in the batch, or SIZE_MAX */
    bool multi;   /* an insert of several rows */
    enum my_expect expect;
};

struct my_sink {
    char *group;
    const char *host;
    unsigned port;
    const char *user;
    const char *password;
    const char *dbname;
    bool disable_fk;

    MYSQL *conn;
    size_t max_stmt;       /* the longest packet the server takes, less slack */
    struct sink_mark mark; /* last committed, as read from the target */

    struct my_table **tables;
    size_t ntables;

    struct cdc_buf sql;          /* the statement being built */
    struct cdc_buf packet;       /* statements not sent yet, ';'-separated */
    struct cdc_buf val;          /* one converted value */
    const struct my_col **wcols; /* target column of each event column */
    size_t cap_wcols;

    struct my_cmd *cmds; /* the statements of the running batch */
    size_t ncmds;
    size_t cap_cmds;
    size_t sent_cmds; /* statements sent so far */
    /* the statement that failed, with the server's error number */
    size_t failed_cmd;
    unsigned failed_errno;

    /* after a failed multi-row insert, the batch goes again row by row,
     * so the row at fault is known */
    bool single_rows;

    /* tables whose schema change failed on the target */
    struct sink_blocked blocked;
};

/* ==== Small helpers ==== */

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

/* Appends v as a quoted string literal, escaped for the connection. */
static int append_quoted(struct my_sink *s, struct cdc_buf *b, const char *v,
                         size_t len)
{
    int rc = cdc_buf_reserve(b, len * 2 + 2);
    if (rc != CDC_OK)
        return rc;
    b->data[b->len++] = '\'';
    b->len += mysql_real_escape_string(s->conn, b->data + b->len, v,
                                       (unsigned long)len);
    b->data[b->len++] = '\'';
    b->data[b->len] = '\0';
    return CDC_OK;
}

static int append_quoted_str(struct my_sink *s, struct cdc_buf *b,
                             const char *v)
{
    return append_quoted(s, b, v, strlen(v));
}

/* Appends bytes as X'hex' (X'' when empty). */
static int append_hex(struct cdc_buf *b, const char *v, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = cdc_buf_reserve(b, len * 2 + 3);
    if (rc != CDC_OK)
        return rc;
    b->data[b->len++] = 'X';
    b->data[b->len++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        b->data[b->len++] = hex[c >> 4];
        b->data[b->len++] = hex[c & 15];
    }
    b->data[b->len++] = '\'';
    b->data[b->len] = '\0';
    return CDC_OK;
}

/*
 * Error flags for a MySQL error number: retriable for what passes (the
 * client's own errors, which are about the connection; deadlocks, lock
 * waits, a server that is shutting down, full or read-only for now),
 * none for what needs a person (credentials, privileges, a missing
 * database), poison for what this row can never do.
 */
static unsigned classify(unsigned code)
{
    if (code >= 2000 && code < 3000) /* CR_*: connection, protocol */
        return CDC_ERR_RETRIABLE;
    switch (code) {
    case 1021: /* disk full */
    case 1030: /* error from the storage engine */
    case 1037: /* out of memory */
    case 1038: /* out of sort memory */
    case 1040: /* too many connections */
    case 1041: /* out of memory */
    case 1053: /* server shutdown in progress */
    case 1114: /* table is full */
    case 1135: /* cannot create a thread */
    case 1152: /* aborted connection */
    case 1159: /* read timeout */
    case 1160: /* error writing a packet */
    case 1161: /* write timeout */
    case 1180: /* error during COMMIT */
    case 1181: /* error during ROLLBACK */
    case 1184: /* aborted new connection */
    case 1205: /* lock wait timeout */
    case 1213: /* deadlock */
    case 1290: /* --read-only */
    case 1317: /* query interrupted */
    case 1637: /* too many active concurrent transactions */
    case 1792: /* read-only transaction */
    case 1836: /* read-only mode */
    case 1927: /* connection killed */
    case 1969: /* max_statement_time exceeded */
    case 3024: /* max_execution_time exceeded */
    case 4031: /* disconnected for inactivity */
        return CDC_ERR_RETRIABLE;
    case 1044: /* access denied to a database */
    case 1045: /* access denied */
    case 1049: /* unknown database (the default one) */
    case 1130: /* host not allowed */
    case 1142: /* command denied */
    case 1143: /* column access denied */
    case 1227: /* privilege needed */
    case 1251: /* client cannot authenticate */
    case 1698: /* access denied */
    case 1820: /* password must be reset */
    case 1862: /* password expired */
        return 0;
    default:
        return CDC_ERR_POISON;
    }
}

/* Fills err from the connection's last error. */
static int server_error(struct my_sink *s, const char *what,
                        struct cdc_err *err)
{
    unsigned code = mysql_errno(s->conn);
    char msg[200];
    sink__one_line(mysql_error(s->conn), msg, sizeof(msg));
    unsigned flags = classify(code);
    return cdc_err_set(err, flags == 0 ? CDC_ECONFIG : CDC_EIO, flags,
                       "%s%s%s (error %u, SQLSTATE %s)", what,
                       what[0] ? ": " : "", msg, code, mysql_sqlstate(s->conn));
}

/* Reads and frees one result of the statements sent last. */
static int take_result(struct my_sink *s, const char *what, struct cdc_err *err)
{
    MYSQL_RES *res = mysql_store_result(s->conn);
    if (res != NULL)
        mysql_free_result(res);
    else if (mysql_field_count(s->conn) != 0)
        return server_error(s, what, err);
    return CDC_OK;
}

/* Reads and frees the results after the one read already. */
static int drain_more(struct my_sink *s, const char *what, struct cdc_err *err)
{
    for (;;) {
        int st = mysql_next_result(s->conn);
        if (st < 0)
            return CDC_OK;
        if (st > 0)
            return server_error(s, what, err);
        int rc = take_result(s, what, err);
        if (rc != CDC_OK)
            return rc;
    }
}

/* Runs SQL (one statement or several) for setup and such. */
static int exec_sql(struct my_sink *s, const char *sql, const char *what,
                    struct cdc_err *err)
{
    if (mysql_real_query(s->conn, sql, (unsigned long)strlen(sql)) != 0)
        return server_error(s, what, err);
    int rc = take_result(s, what, err);
    if (rc == CDC_OK)
        rc = drain_more(s, what, err);
    return rc;
}

/* Runs one query that returns rows; *out is freed by the caller with
 * mysql_free_result. */
static int query_rows(struct my_sink *s, const char *sql, MYSQL_RES **out,
                      const char *what, struct cdc_err *err)
{
    *out = NULL;
    if (mysql_real_query(s->conn, sql, (unsigned long)strlen(sql)) != 0)
        return server_error(s, what, err);
    MYSQL_RES *res = mysql_store_result(s->conn);
    if (res == NULL)
        return server_error(s, what, err);
    int rc = drain_more(s, what, err);
    if (rc != CDC_OK) {
        mysql_free_result(res);
        return rc;
    }
    *out = res;
    return CDC_OK;
}

/* ==== Tables ==== */

static void table_free(struct my_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->ncols; i++)
        cdc_free(t->cols[i].name);
    cdc_free(t->cols);
    sink__keys_free(&t->keys);
    cdc_free(t->db);
    cdc_free(t->name);
    cdc_free(t->qname);
    cdc_free(t);
}

static void forget_tables(struct my_sink *s)
{
    for (size_t i = 0; i < s->ntables; i++)
        table_free(s->tables[i]);
    cdc_free(s->tables);
    s->tables = NULL;
    s->ntables = 0;
}

/* Appends "WHERE TABLE_SCHEMA = '..' AND TABLE_NAME = '..'". */
static void where_table(struct my_sink *s, struct cdc_buf *q,
                        const struct my_table *t)
{
    cdc_buf_append_str(q, " WHERE TABLE_SCHEMA = ");
    append_quoted_str(s, q, t->db);
    cdc_buf_append_str(q, " AND TABLE_NAME = ");
    append_quoted_str(s, q, t->name);
}

/* Whether the table exists; warns once per load when its engine has no
 * transactions (a batch could then be applied in part). */
static int load_exists(struct my_sink *s, struct my_table *t, struct cdc_buf *q,
                       struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "SELECT ENGINE FROM information_schema.TABLES");
    where_table(s, q, t);
    int rc =
        query_rows(s, q->data, &res, "could not look up a target table", err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    t->missing = row == NULL;
    if (row != NULL && row[0] != NULL && strcasecmp(row[0], "InnoDB") != 0)
        cdc_log(CDC_LOG_WARN, "sink",
                "sink=mysql table %s uses engine %s, which has no "
                "transactions: a batch that fails halfway stays applied in "
                "part",
                t->qname, row[0]);
    mysql_free_result(res);
    return CDC_OK;
}

static bool is_text_type(const char *data_type)
{
    static const char *const texts[] = {"char", "varchar",    "tinytext",
                                        "text", "mediumtext", "longtext",
                                        "enum", "set",        NULL};
    for (size_t i = 0; texts[i] != NULL; i++)
        if (strcasecmp(data_type, texts[i]) == 0)
            return true;
    return false;
}

static int load_columns(struct my_sink *s, struct my_table *t,
                        struct cdc_buf *q, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM "
                          "information_schema.COLUMNS");
    where_table(s, q, t);
    cdc_buf_append_str(q, " ORDER BY ORDINAL_POSITION");
    int rc = query_rows(s, q->data, &res,
                        "could not read the columns of a target table", err);
    if (rc != CDC_OK)
        return rc;
    size_t n = (size_t)mysql_num_rows(res);
    t->cols = cdc_xcalloc(n + 1, sizeof(*t->cols));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        struct my_col *c = &t->cols[t->ncols++];
        const char *type = row[1] ? row[1] : "";
        c->name = cdc_xstrdup(row[0] ? row[0] : "");
        c->cls = sink__my_class(type);
        c->cast = strcasecmp(type, "json") == 0    ? "JSON"
                  : strcasecmp(type, "float") == 0 ? "FLOAT"
                                                   : NULL;
        c->generated = row[2] != NULL && strstr(row[2], "GENERATED") != NULL;
        c->text = is_text_type(type);
    }
    mysql_free_result(res);
    return CDC_OK;
}

/* Unique keys on whole columns (a key on a prefix of a column does not
 * identify a row by its value), primary key first. */
static int load_keys(struct my_sink *s, struct my_table *t, struct cdc_buf *q,
                     struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM "
                          "information_schema.STATISTICS");
    where_table(s, q, t);
    cdc_buf_append_str(q, " AND NON_UNIQUE = 0 ORDER BY INDEX_NAME <> "
                          "'PRIMARY', INDEX_NAME, SEQ_IN_INDEX");
    int rc = query_rows(s, q->data, &res,
                        "could not read the keys of a target table", err);
    if (rc != CDC_OK)
        return rc;
    char prev[200] = "";
    bool prefix = false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        const char *index = row[0] ? row[0] : "";
        if (t->keys.n == 0 || strcmp(index, prev) != 0) {
            /* the previous key covers a prefix: it is no key */
            if (prefix)
                sink__keys_drop(&t->keys);
            prefix = false;
            snprintf(prev, sizeof(prev), "%s", index);
            sink__keys_open(&t->keys);
        }
        if (row[2] != NULL)
            prefix = true;
        sink__keys_add(&t->keys, row[1] ? row[1] : "");
    }
    if (prefix)
        sink__keys_drop(&t->keys);
    mysql_free_result(res);
    return CDC_OK;
}

/* The database of an event: its schema, else --target-dbname. */
static const char *event_db(const struct my_sink *s, const struct cdc_event *ev)
{
    return ev->schema != NULL ? ev->schema : s->dbname;
}

static struct my_table *cached_table(const struct my_sink *s, const char *db,
                                     const char *name)
{
    for (size_t i = 0; i < s->ntables; i++) {
        struct my_table *t = s->tables[i];
        if (strcmp(t->name, name) == 0 && strcmp(t->db, db) == 0)
            return t;
    }
    return NULL;
}

static int find_table(struct my_sink *s, const char *db, const char *name,
                      struct my_table **out, struct cdc_err *err)
{
    *out = cached_table(s, db, name);
    if (*out != NULL)
        return CDC_OK;
    struct my_table *t = cdc_xcalloc(1, sizeof(*t));
    t->db = cdc_xstrdup(db);
    t->name = cdc_xstrdup(name);
    struct cdc_buf q;
    cdc_buf_init(&q, 0);
    append_ident(&q, db);
    cdc_buf_append_char(&q, '.');
    append_ident(&q, name);
    t->qname = cdc_buf_detach(&q, NULL);
    int rc = load_exists(s, t, &q, err);
    if (rc == CDC_OK && !t->missing)
        rc = load_columns(s, t, &q, err);
    if (rc == CDC_OK && !t->missing)
        rc = load_keys(s, t, &q, err);
    cdc_buf_release(&q);
    if (rc != CDC_OK) {
        table_free(t);
        return rc;
    }
    s->tables = cdc_xrealloc(s->tables, (s->ntables + 1) * sizeof(*s->tables));
    s->tables[s->ntables++] = t;
    *out = t;
    return CDC_OK;
}

/* The target table of ev; poison when the target does not have it. */
static int table_for(struct my_sink *s, const struct cdc_event *ev,
                     struct my_table **t, struct cdc_err *err)
{
    const char *db = event_db(s, ev);
    if (db == NULL)
        return cdc_err_set(err, CDC_ECONFIG, CDC_ERR_POISON | CDC_ERR_FINAL,
                           "the change of table \"%s\" names no schema, and "
                           "--target-dbname is not set",
                           ev->table);
    int rc = find_table(s, db, ev->table, t, err);
    if (rc != CDC_OK)
        return rc;
    if ((*t)->missing)
        return cdc_err_set(err, CDC_ENOTFOUND, CDC_ERR_POISON,
                           "table %s does not exist on the target",
                           (*t)->qname);
    return CDC_OK;
}

static const struct my_col *table_col(const struct my_table *t,
                                      const char *name)
{
    /* MySQL's column names are not case-sensitive */
    for (size_t i = 0; i < t->ncols; i++)
        if (strcasecmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* ==== Values ==== */

/* Appends the value of c, converted for the target column tc, as a
 * literal: NULL, a string, X'hex' for bytes or b'01' for bits; CAST(.. AS
 * <cast>) around it when cast is not NULL. */
static int append_value(struct my_sink *s, struct cdc_buf *b,
                        const struct my_table *t, const struct my_col *tc,
                        const struct cdc_event *ev, const struct cdc_col *c,
                        const char *cast, struct cdc_err *err)
{
    if (c->value == NULL)
        return cdc_buf_append_str(b, "NULL");
    enum sink_my_form form = SINK_MY_STRING;
    cdc_buf_reset(&s->val);
    int rc = sink__my_value(ev->source, c->type, c->value, c->value_len,
                            tc->cls, &s->val, &form, err);
    if (rc == CDC_OK) {
        if (cast != NULL)
            cdc_buf_append_str(b, "CAST(");
        const char *v = s->val.data ? s->val.data : "";
        if (form == SINK_MY_BYTES) {
            rc = append_hex(b, v, s->val.len);
        } else if (form == SINK_MY_BITS) {
            /* only '0' and '1' (checked): nothing to escape */
            cdc_buf_append_str(b, "b'");
            cdc_buf_append(b, v, s->val.len);
            rc = cdc_buf_append_char(b, '\'');
        } else {
            rc = append_quoted(s, b, v, s->val.len);
        }
        if (cast != NULL) {
            cdc_buf_append_str(b, " AS ");
            cdc_buf_append_str(b, cast);
            cdc_buf_append_char(b, ')');
        }
    }
    if (rc == CDC_ETOOBIG)
        return cdc_err_set(err, CDC_ETOOBIG, CDC_ERR_POISON | CDC_ERR_FINAL,
                           "the value of column `%s` of %s is too large",
                           tc->name, t->qname);
    if (rc != CDC_OK) {
        char why[CDC_ERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err->msg);
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                           "cannot write column `%s` of %s: %s", tc->name,
                           t->qname, why);
    }
    return CDC_OK;
}

static int missing_column(const struct my_table *t, const char *col,
                          struct cdc_err *err)
{
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                       "column `%s` of table %s does not exist on the target",
                       col, t->qname);
}

/* Looks the event's columns up on the target: s->wcols[i] is the column
 * of ev->cols[i], NULL for one that is never written (generated). Poison
 * when the target lacks one. */
static int resolve_cols(struct my_sink *s, const struct my_table *t,
                        const struct cdc_event *ev, struct cdc_err *err)
{
    if (ev->ncols > s->cap_wcols) {
        s->cap_wcols = ev->ncols * 2;
        s->wcols = cdc_xrealloc(s->wcols, s->cap_wcols * sizeof(*s->wcols));
    }
    for (size_t i = 0; i < ev->ncols; i++) {
        const struct my_col *tc = table_col(t, ev->cols[i].name);
        if (tc == NULL)
            return missing_column(t, ev->cols[i].name, err);
        s->wcols[i] = tc->generated ? NULL : tc;
    }
    return CDC_OK;
}

/* ==== Statements of a batch ==== */

static void cmds_reset(struct my_sink *s)
{
    s->ncmds = 0;
    s->sent_cmds = 0;
    s->failed_cmd = SIZE_MAX;
    s->failed_errno = 0;
    cdc_buf_reset(&s->packet);
}

/* Fills err for statement k that failed on the server. */
static int cmd_error(struct my_sink *s, size_t k, struct cdc_err *err)
{
    s->failed_cmd = k;
    s->failed_errno = mysql_errno(s->conn);
    int rc = server_error(s, "", err);
    err->index = k < s->ncmds ? s->cmds[k].event : SIZE_MAX;
    return rc;
}

/* Checks statement k's count of found rows. */
static int check_expect(struct my_sink *s, size_t k, uint64_t found,
                        struct cdc_err *err)
{
    const struct my_cmd *c = &s->cmds[k];
    int rc = CDC_OK;
    if (c->expect == EXPECT_ROW && found == 0)
        rc = cdc_err_set(err, CDC_ENOTFOUND, CDC_ERR_POISON,
                         "the update found no row, and the event does not "
                         "carry the whole row (unchanged TOAST values)");
    else if (c->expect == EXPECT_MARK && found != 1)
        rc = cdc_err_set(err, CDC_ESTATE, CDC_ERR_RETRIABLE,
                         "the applied position of group \"%s\" moved under "
                         "this session",
                         s->group);
    if (rc != CDC_OK) {
        s->failed_cmd = k;
        err->index = c->event;
    }
    return rc;
}

/* Sends the statements not sent yet as one packet and reads a result for
 * each. The first failure is reported (statements after a failed one are
 * not run by the server); every result is read either way, so the
 * connection stays usable. */
static int flush_packet(struct my_sink *s, struct cdc_err *err)
{
    if (s->packet.len == 0)
        return CDC_OK;
    size_t first = s->sent_cmds;
    size_t k = first;
    size_t end = s->ncmds;
    s->sent_cmds = end;
    int sent =
        mysql_real_query(s->conn, s->packet.data, (unsigned long)s->packet.len);
    cdc_log(CDC_LOG_TRACE, "sink", "sink=mysql sent %zu statements, %zu bytes",
            end - k, s->packet.len);
    cdc_buf_reset(&s->packet);
    if (sent != 0)
        return cmd_error(s, k, err);
    int rc = CDC_OK;
    for (;;) {
        MYSQL_RES *res = mysql_store_result(s->conn);
        if (res != NULL) {
            mysql_free_result(res);
        } else if (mysql_field_count(s->conn) != 0) {
            if (rc == CDC_OK)
                rc = cmd_error(s, k, err);
            break;
        }
        uint64_t found = (uint64_t)mysql_affected_rows(s->conn);
        if (rc == CDC_OK && k < end)
            rc = check_expect(s, k, found, err);
        k++;
        int st = mysql_next_result(s->conn);
        if (st < 0)
            break;
        if (st > 0) {
            if (rc == CDC_OK)
                rc = cmd_error(s, k, err);
            break;
        }
    }
    if (rc == CDC_OK && k != end)
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_RETRIABLE,
                         "the target answered %zu of %zu statements", k - first,
                         end - first);
    return rc;
}

/* Moves the statement built in s->sql into the packet, as a statement of
 * event (SIZE_MAX: of none); sends the packet when it is full. */
static int add_stmt(struct my_sink *s, size_t event, enum my_expect expect,
                    bool multi, struct cdc_err *err)
{
    if (s->sql.len > s->max_stmt) {
        int rc = cdc_err_set(err, CDC_ETOOBIG, CDC_ERR_POISON | CDC_ERR_FINAL,
                             "the change takes a statement of %zu bytes, "
                             "more than the target's max_allowed_packet "
                             "allows",
                             s->sql.len);
        err->index = event;
        return rc;
    }
    if (s->packet.len > 0 && s->packet.len + 1 + s->sql.len > s->max_stmt) {
        int rc = flush_packet(s, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (s->packet.len > 0)
        cdc_buf_append_char(&s->packet, ';');
    if (cdc_buf_append(&s->packet, s->sql.data, s->sql.len) != CDC_OK) {
        int rc = cdc_err_set(err, CDC_ETOOBIG, CDC_ERR_RETRIABLE,
                             "could not hold a batch's statements");
        err->index = event;
        return rc;
    }
    if (s->ncmds == s->cap_cmds) {
        s->cap_cmds = s->cap_cmds ? s->cap_cmds * 2 : 256;
        s->cmds = cdc_xrealloc(s->cmds, s->cap_cmds * sizeof(*s->cmds));
    }
    s->cmds[s->ncmds++] =
        (struct my_cmd){.event = event, .multi = multi, .expect = expect};
    if (s->packet.len >= PACKET_TARGET)
        return flush_packet(s, err);
    return CDC_OK;
}

static int add_plain(struct my_sink *s, const char *sql, size_t event,
                     struct cdc_err *err)
{
    cdc_buf_reset(&s->sql);
    cdc_buf_append_str(&s->sql, sql);
    return add_stmt(s, event, EXPECT_ANY, false, err);
}

/* ==== Building one change ==== */

static bool name_in(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

/* Appends "INSERT INTO t (cols" for the columns resolve_cols found. */
static void append_insert_head(struct my_sink *s, const struct my_table *t,
                               const struct cdc_event *ev)
{
    cdc_buf_append_str(&s->sql, "INSERT INTO ");
    cdc_buf_append_str(&s->sql, t->qname);
    cdc_buf_append_str(&s->sql, " (");
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        if (s->wcols[i] == NULL)
            continue;
        if (w++ > 0)
            cdc_buf_append_str(&s->sql, ", ");
        append_ident(&s->sql, s->wcols[i]->name);
    }
    cdc_buf_append_char(&s->sql, ')');
}

/* Appends the values of one row, "a, b, ...", for the columns resolve_cols
 * found (ev has the shape they were resolved for). */
static int append_row_values(struct my_sink *s, const struct my_table *t,
                             const struct cdc_event *ev, struct cdc_err *err)
{
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        if (s->wcols[i] == NULL)
            continue;
        if (w++ > 0)
            cdc_buf_append_str(&s->sql, ", ");
        int rc = append_value(s, &s->sql, t, s->wcols[i], ev, &ev->cols[i],
                              NULL, err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* Appends " ON DUPLICATE KEY UPDATE c = VALUES(c), ..." when the table has
 * a unique key (else a plain insert is right: nothing can collide). The
 * event's key columns are not updated; an insert of key columns only
 * keeps the row as it is. */
static void append_on_duplicate(struct my_sink *s, const struct my_table *t,
                                const struct cdc_event *ev)
{
    if (t->keys.n == 0)
        return;
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        const struct my_col *tc = s->wcols[i];
        if (tc == NULL || name_in(ev->key, ev->nkey, tc->name))
            continue;
        cdc_buf_append_str(&s->sql,
                           w++ == 0 ? " ON DUPLICATE KEY UPDATE " : ", ");
        append_ident(&s->sql, tc->name);
        cdc_buf_append_str(&s->sql, " = VALUES(");
        append_ident(&s->sql, tc->name);
        cdc_buf_append_char(&s->sql, ')');
    }
    if (w > 0)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        if (t->cols[i].generated)
            continue;
        cdc_buf_append_str(&s->sql, " ON DUPLICATE KEY UPDATE ");
        append_ident(&s->sql, t->cols[i].name);
        cdc_buf_append_str(&s->sql, " = ");
        append_ident(&s->sql, t->cols[i].name);
        return;
    }
}

/* Appends one condition of a match: "`c` = v", "`c` IS NULL" or, when
 * exact, "`c` <=> v" (v cast to BINARY for a character string). */
static int append_match_col(struct my_sink *s, const struct my_table *t,
                            const struct my_col *tc, const struct cdc_event *ev,
                            const struct cdc_col *c, bool exact,
                            struct cdc_err *err)
{
    append_ident(&s->sql, tc->name);
    if (c->value == NULL) {
        cdc_buf_append_str(&s->sql, " IS NULL");
        return CDC_OK;
    }
    cdc_buf_append_str(&s->sql, exact ? " <=> " : " = ");
    return append_value(s, &s->sql, t, tc, ev, c,
                        exact && tc->text ? "BINARY" : tc->cast, err);
}

/*
 * Appends the WHERE condition that finds the changed row: by key (old key
 * values when the event has them, else the new ones), or, for a table
 * without a key, by every old column, NULL-safe and exactly, and LIMIT 1,
 * so that of two equal rows only one changes, as on the source.
 */
static int append_match(struct my_sink *s, const struct my_table *t,
                        const struct cdc_event *ev, struct cdc_err *err)
{
    cdc_buf_append_str(&s->sql, " WHERE ");
    bool by_key = ev->nkey > 0;
    for (size_t i = 0; i < ev->nkey && by_key; i++)
        by_key = sink__event_col(ev->old, ev->nold, ev->key[i]) != NULL ||
                 sink__event_col(ev->cols, ev->ncols, ev->key[i]) != NULL;
    if (by_key) {
        for (size_t i = 0; i < ev->nkey; i++) {
            const struct cdc_col *c =
                sink__event_col(ev->old, ev->nold, ev->key[i]);
            if (c == NULL)
                c = sink__event_col(ev->cols, ev->ncols, ev->key[i]);
            const struct my_col *tc = table_col(t, ev->key[i]);
            if (tc == NULL)
                return missing_column(t, ev->key[i], err);
            if (i > 0)
                cdc_buf_append_str(&s->sql, " AND ");
            int rc = append_match_col(s, t, tc, ev, c, false, err);
            if (rc != CDC_OK)
                return rc;
        }
        return CDC_OK;
    }
    if (ev->nold == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                           "%s of table %s carries neither a key nor the old "
                           "row, so the row cannot be found",
                           cdc_op_name(ev->op), t->qname);
    for (size_t i = 0; i < ev->nold; i++) {
        const struct my_col *tc = table_col(t, ev->old[i].name);
        if (tc == NULL)
            return missing_column(t, ev->old[i].name, err);
        if (i > 0)
            cdc_buf_append_str(&s->sql, " AND ");
        int rc = append_match_col(s, t, tc, ev, &ev->old[i], true, err);
        if (rc != CDC_OK)
            return rc;
    }
    cdc_buf_append_str(&s->sql, " LIMIT 1");
    return CDC_OK;
}

/* Builds "UPDATE t SET ... WHERE ..." for the columns the event sent. */
static int build_update(struct my_sink *s, const struct my_table *t,
                        const struct cdc_event *ev, struct cdc_err *err)
{
    cdc_buf_reset(&s->sql);
    cdc_buf_append_str(&s->sql, "UPDATE ");
    cdc_buf_append_str(&s->sql, t->qname);
    cdc_buf_append_str(&s->sql, " SET ");
    int rc = resolve_cols(s, t, ev, err);
    if (rc != CDC_OK)
        return rc;
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        if (s->wcols[i] == NULL)
            continue;
        if (w++ > 0)
            cdc_buf_append_str(&s->sql, ", ");
        append_ident(&s->sql, s->wcols[i]->name);
        cdc_buf_append_str(&s->sql, " = ");
        rc = append_value(s, &s->sql, t, s->wcols[i], ev, &ev->cols[i], NULL,
                          err);
        if (rc != CDC_OK)
            return rc;
    }
    if (w == 0) {
        /* nothing but unchanged values: a statement that still finds the
         * row, so that a missing one is noticed */
        const struct my_col *first = NULL;
        for (size_t i = 0; i < t->ncols && first == NULL; i++)
            if (!t->cols[i].generated)
                first = &t->cols[i];
        if (first == NULL)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "table %s has no writable column", t->qname);
        append_ident(&s->sql, first->name);
        cdc_buf_append_str(&s->sql, " = ");
        append_ident(&s->sql, first->name);
    }
    return append_match(s, t, ev, err);
}

/* Whether the event is written as an insert of its whole row (an upsert
 * where the table has a unique key): inserts, copied rows, and updates
 * that carry the whole row and keep a key the target has a unique key
 * on. Its table is loaded already. */
static bool is_upsert(const struct my_sink *s, const struct cdc_event *ev)
{
    if (ev->op == CDC_OP_INSERT || ev->op == CDC_OP_COPY)
        return true;
    if (ev->op != CDC_OP_UPDATE || ev->nunchanged > 0 || ev->nkey == 0 ||
        !sink__key_unchanged(ev))
        return false;
    const char *db = event_db(s, ev);
    const struct my_table *t =
        db != NULL ? cached_table(s, db, ev->table) : NULL;
    return t != NULL && !t->missing &&
           sink__keys_has(&t->keys, ev->key, ev->nkey, true);
}

/* Whether the target holds ev already (never for a replay). */
static bool covered(const struct my_sink *s, const struct cdc_batch *batch,
                    const struct cdc_event *ev)
{
    return !batch->replay && sink_mark_covers(&s->mark, ev);
}

/*
 * Queues one INSERT of events i, i + 1, ... (upserts of one table and
 * column list; see is_upsert): at most MAX_ROWS rows, and no more rows
 * once the statement passes PACKET_TARGET. One row only after a
 * multi-row insert failed (s->single_rows). *taken is how many went in.
 */
static int queue_inserts(struct my_sink *s, const struct cdc_batch *batch,
                         size_t i, size_t last, size_t *taken,
                         struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    struct my_table *t = NULL;
    *taken = 1;
    int rc = table_for(s, ev, &t, err);
    if (rc == CDC_OK)
        rc = resolve_cols(s, t, ev, err);
    if (rc != CDC_OK) {
        err->index = i;
        return rc;
    }
    cdc_buf_reset(&s->sql);
    append_insert_head(s, t, ev);
    cdc_buf_append_str(&s->sql, " VALUES ");
    size_t n = 0;
    while (i + n <= last && n < MAX_ROWS) {
        const struct cdc_event *next = batch->events[i + n];
        if (n > 0 && (s->single_rows || covered(s, batch, next) ||
                      !is_upsert(s, next) || !sink__same_shape(ev, next)))
            break;
        size_t at = s->sql.len;
        if (n > 0)
            cdc_buf_append_str(&s->sql, ", ");
        cdc_buf_append_char(&s->sql, '(');
        rc = append_row_values(s, t, next, err);
        if (rc != CDC_OK) {
            err->index = i + n;
            return rc;
        }
        cdc_buf_append_char(&s->sql, ')');
        if (n > 0 && s->sql.len > PACKET_TARGET) {
            s->sql.len = at;
            s->sql.data[at] = '\0';
            break;
        }
        n++;
    }
    append_on_duplicate(s, t, ev);
    *taken = n;
    return add_stmt(s, i, EXPECT_ANY, n > 1, err);
}

/* Queues an UPDATE that is not an upsert, or a DELETE. */
static int queue_event(struct my_sink *s, const struct cdc_event *ev,
                       size_t index, struct cdc_err *err)
{
    struct my_table *t = NULL;
    int rc = table_for(s, ev, &t, err);
    if (rc == CDC_OK && ev->op == CDC_OP_UPDATE) {
        rc = build_update(s, t, ev, err);
        if (rc == CDC_OK && ev->nunchanged > 0) {
            /* part of the row only: it must be there */
            rc = add_stmt(s, index, EXPECT_ROW, false, err);
        } else if (rc == CDC_OK) {
            /* the whole row: updated where it is, else inserted (the
             * server's ROW_COUNT() is the update's count of found rows) */
            rc = add_stmt(s, index, EXPECT_ANY, false, err);
            if (rc == CDC_OK) {
                cdc_buf_reset(&s->sql);
                append_insert_head(s, t, ev);
                cdc_buf_append_str(&s->sql, " SELECT ");
                rc = append_row_values(s, t, ev, err);
            }
            if (rc == CDC_OK) {
                cdc_buf_append_str(&s->sql, " FROM DUAL WHERE ROW_COUNT() = 0");
                append_on_duplicate(s, t, ev);
                rc = add_stmt(s, index, EXPECT_ANY, false, err);
            }
        }
    } else if (rc == CDC_OK && ev->op == CDC_OP_DELETE) {
        cdc_buf_reset(&s->sql);
        cdc_buf_append_str(&s->sql, "DELETE FROM ");
        cdc_buf_append_str(&s->sql, t->qname);
        rc = append_match(s, t, ev, err);
        if (rc == CDC_OK)
            rc = add_stmt(s, index, EXPECT_ANY, false, err);
    } else if (rc == CDC_OK) {
        CDC_BUG("inserts, truncates and schema changes are queued apart");
    }
    if (rc != CDC_OK && s->failed_cmd == SIZE_MAX)
        err->index = index;
    return rc;
}

/* Builds the statement that moves the group's position to ev at stream
 * sequence seq, from the one this session read. */
static void build_mark(struct my_sink *s, const struct cdc_event *ev,
                       uint64_t seq)
{
    struct cdc_buf *b = &s->sql;
    cdc_buf_reset(b);
    if (s->mark.set) {
        cdc_buf_printf(b,
                       "UPDATE tributary.positions SET `stream_seq` = "
                       "%" PRIu64 ", `tx_index` = %" PRIu32 ", `position` = ",
                       seq, ev->tx_index);
        append_quoted_str(s, b, ev->position);
        cdc_buf_append_str(b, ", `source` = ");
        append_quoted_str(s, b, ev->source);
        cdc_buf_append_str(b, ", `updated_at` = UTC_TIMESTAMP(6) WHERE "
                              "`grp` = ");
        append_quoted_str(s, b, s->group);
        cdc_buf_printf(b, " AND `stream_seq` = %" PRIu64, s->mark.stream_seq);
        return;
    }
    cdc_buf_append_str(b, "INSERT INTO tributary.positions (`grp`, "
                          "`stream_seq`, `tx_index`, `position`, `source`, "
                          "`updated_at`) VALUES (");
    append_quoted_str(s, b, s->group);
    cdc_buf_printf(b, ", %" PRIu64 ", %" PRIu32 ", ", seq, ev->tx_index);
    append_quoted_str(s, b, ev->position);
    cdc_buf_append_str(b, ", ");
    append_quoted_str(s, b, ev->source);
    cdc_buf_append_str(b, ", UTC_TIMESTAMP(6))");
}

/* ==== Connection ==== */

static void disconnect(struct my_sink *s)
{
    if (s->conn != NULL)
        mysql_close(s->conn);
    s->conn = NULL;
    forget_tables(s);
}

static const char *const SETUP_SQL =
    "CREATE DATABASE IF NOT EXISTS tributary CHARACTER SET utf8mb4;"
    "CREATE TABLE IF NOT EXISTS tributary.positions ("
    " `grp` VARCHAR(64) NOT NULL PRIMARY KEY,"
    " `stream_seq` BIGINT UNSIGNED NOT NULL,"
    " `tx_index` INT UNSIGNED NOT NULL,"
    " `position` VARCHAR(128) NOT NULL,"
    " `source` VARCHAR(32) NOT NULL,"
    " `updated_at` DATETIME(6) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
    "CREATE TABLE IF NOT EXISTS tributary.blocked ("
    " `group_name` VARCHAR(64) NOT NULL,"
    " `schema_name` VARCHAR(64) NOT NULL,"
    " `table_name` VARCHAR(64) NOT NULL,"
    " `position` VARCHAR(128) NOT NULL,"
    " `statement` LONGTEXT NOT NULL,"
    " `error` TEXT NOT NULL,"
    " `since` DATETIME(6) NOT NULL,"
    " PRIMARY KEY (`group_name`, `schema_name`, `table_name`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
    "CREATE TABLE IF NOT EXISTS tributary.ddl_started ("
    " `group_name` VARCHAR(64) NOT NULL PRIMARY KEY,"
    " `position` VARCHAR(128) NOT NULL,"
    " `tx_index` INT UNSIGNED NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

static int read_blocked(struct my_sink *s, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    struct cdc_buf q;
    cdc_buf_init(&q, 0);
    cdc_buf_append_str(&q, "SELECT `schema_name`, `table_name` FROM "
                           "tributary.blocked WHERE `group_name` = ");
    append_quoted_str(s, &q, s->group);
    int rc =
        query_rows(s, q.data, &res, "could not read the blocked tables", err);
    cdc_buf_release(&q);
    if (rc != CDC_OK)
        return rc;
    sink__blocked_clear(&s->blocked);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL)
        if (row[0] != NULL && row[1] != NULL)
            sink__blocked_add(&s->blocked, row[0], row[1]);
    mysql_free_result(res);
    return CDC_OK;
}

static int read_mark(struct my_sink *s, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    struct cdc_buf q;
    cdc_buf_init(&q, 0);
    cdc_buf_append_str(&q, "SELECT `source`, `position`, `tx_index`, "
                           "`stream_seq`, @@max_allowed_packet FROM "
                           "(SELECT 1) AS one LEFT JOIN tributary.positions "
                           "ON `grp` = ");
    append_quoted_str(s, &q, s->group);
    int rc =
        query_rows(s, q.data, &res, "could not read the applied position", err);
    cdc_buf_release(&q);
    if (rc != CDC_OK)
        return rc;
    memset(&s->mark, 0, sizeof(s->mark));
    MYSQL_ROW row = mysql_fetch_row(res);
    s->max_stmt = DEFAULT_MAX_PACKET - PACKET_SLACK;
    if (row != NULL && row[4] != NULL) {
        unsigned long long mp = strtoull(row[4], NULL, 10);
        if (mp > PACKET_SLACK * 64)
            s->max_stmt = (size_t)mp - PACKET_SLACK;
    }
    if (row != NULL && row[0] != NULL && row[1] != NULL && row[2] != NULL &&
        row[3] != NULL) {
        s->mark.set = true;
        snprintf(s->mark.source, sizeof(s->mark.source), "%s", row[0]);
        snprintf(s->mark.position, sizeof(s->mark.position), "%s", row[1]);
        s->mark.tx_index = (uint32_t)strtoul(row[2], NULL, 10);
        s->mark.stream_seq = strtoull(row[3], NULL, 10);
    }
    mysql_free_result(res);
    return CDC_OK;
}

static int connect_target(struct my_sink *s, struct cdc_err *err)
{
    if (s->conn != NULL)
        return CDC_OK;
    s->conn = mysql_init(NULL);
    if (s->conn == NULL)
        return cdc_err_set(err, CDC_ENOMEM, CDC_ERR_RETRIABLE,
                           "could not set up a MySQL connection");
    unsigned int connect_timeout = CONNECT_TIMEOUT_S;
    unsigned int io_timeout = READ_TIMEOUT_S;
    mysql_options(s->conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(s->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(s->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(s->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* found rows, not changed rows: an update that writes the values a row
     * has already still counts it (see EXPECT_ROW and ROW_COUNT()) */
    if (mysql_real_connect(
            s->conn, s->host, s->user, s->password, s->dbname, s->port, NULL,
            CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS) == NULL) {
        unsigned code = mysql_errno(s->conn);
        char msg[200];
        sink__one_line(mysql_error(s->conn), msg, sizeof(msg));
        bool retriable = classify(code) == CDC_ERR_RETRIABLE;
        disconnect(s);
        return cdc_err_set(err, retriable ? CDC_EIO : CDC_ECONFIG,
                           retriable ? CDC_ERR_RETRIABLE : 0,
                           "could not connect to target MySQL at %s:%u: %s "
                           "(error %u)",
                           s->host ? s->host : "localhost", s->port, msg, code);
    }
    int rc = CDC_OK;
    if (mysql_autocommit(s->conn, 0) != 0) {
        rc = server_error(s, "could not turn autocommit off", err);
        goto out;
    }
    char session[512];
    snprintf(session, sizeof(session),
             "SET NAMES utf8mb4; SET SESSION sql_mode = '" SQL_MODE
             "', time_zone = '+00:00', foreign_key_checks = %d",
             s->disable_fk ? 0 : 1);
    rc = exec_sql(s, session, "could not set up the target session", err);
    if (rc != CDC_OK) {
        if (err->flags & CDC_ERR_POISON)
            err->flags = 0;
        goto out;
    }
    rc = exec_sql(s, SETUP_SQL,
                  "could not set up database \"tributary\" on the target", err);
    /* two workers creating it at the same moment: the loser retries */
    if (rc != CDC_OK && (err->flags & CDC_ERR_POISON))
        err->flags = CDC_ERR_RETRIABLE;
    if (rc == CDC_OK)
        rc = read_mark(s, err);
    if (rc == CDC_OK)
        rc = read_blocked(s, err);
    /* ends the read's transaction, so no snapshot is held between batches */
    if (rc == CDC_OK)
        rc = exec_sql(s, "COMMIT", "could not end a transaction", err);
out:
    if (rc != CDC_OK)
        disconnect(s);
    return rc;
}

/* ==== Batches ==== */

/* Remembers batch[0..last] as committed. */
static void mark_committed(struct my_sink *s, const struct cdc_batch *batch,
                           size_t last)
{
    s->single_rows = false;
    if (!batch->replay)
        sink_mark_set(&s->mark, batch->events[last], batch->seqs[last]);
}

/* Moves the mark to events[last] (unless replaying), sends what is left
 * and commits. */
static int finish(struct my_sink *s, const struct cdc_batch *batch, size_t last,
                  struct cdc_err *err)
{
    int rc = CDC_OK;
    if (!batch->replay) {
        build_mark(s, batch->events[last], batch->seqs[last]);
        rc = add_stmt(s, SIZE_MAX, EXPECT_MARK, false, err);
    }
    if (rc == CDC_OK)
        rc = flush_packet(s, err);
    if (rc == CDC_OK && mysql_commit(s->conn) != 0) {
        rc = server_error(s, "could not commit", err);
        err->index = SIZE_MAX;
    }
    return rc;
}

/* Sends events[0..last] and the mark in one transaction, and commits. On
 * failure err->index is the event at fault, or SIZE_MAX. */
static int apply_rows(struct my_sink *s, const struct cdc_batch *batch,
                      size_t last, struct cdc_err *err)
{
    cmds_reset(s);
    int rc = add_plain(s, "START TRANSACTION", SIZE_MAX, err);
    for (size_t i = 0; i <= last && rc == CDC_OK;) {
        const struct cdc_event *ev = batch->events[i];
        size_t n = 1;
        if (is_upsert(s, ev) && !covered(s, batch, ev))
            rc = queue_inserts(s, batch, i, last, &n, err);
        else if (!covered(s, batch, ev))
            rc = queue_event(s, ev, i, err);
        i += n;
    }
    if (rc == CDC_OK)
        rc = finish(s, batch, last, err);
    return rc;
}

/* Turns the failure of a batch into what the worker needs: a poison error
 * at the change at fault (with its table and position when the server
 * refused it), or a retriable one. The connection is closed: the next
 * write starts on a fresh one, with the mark and table shapes read
 * again. */
static int batch_failed(struct my_sink *s, const struct cdc_batch *batch,
                        int rc, struct cdc_err *err)
{
    size_t at = err->index;
    if (at < batch->n && (err->flags & CDC_ERR_POISON)) {
        if (s->failed_cmd != SIZE_MAX) {
            const struct cdc_event *ev = batch->events[at];
            char why[CDC_ERR_MSG_MAX];
            snprintf(why, sizeof(why), "%s", err->msg);
            cdc_err_set(err, rc, err->flags,
                        "could not apply %s to `%s`.`%s` (position %s, "
                        "change %" PRIu32 "): %s",
                        cdc_op_name(ev->op), event_db(s, ev), ev->table,
                        ev->position, ev->tx_index, why);
        }
        err->index = at;
    } else {
        if (err->flags & CDC_ERR_POISON)
            err->flags = CDC_ERR_RETRIABLE;
        err->index = 0;
    }
    disconnect(s);
    return rc;
}

/* ==== Blocked tables ==== */

static bool is_blocked(const struct my_sink *s, const struct cdc_event *ev)
{
    const char *db = event_db(s, ev);
    return ev->table != NULL && db != NULL &&
           sink__blocked_has(&s->blocked, db, ev->table);
}

static int blocked_error(const struct my_sink *s, const struct cdc_event *ev,
                         size_t index, struct cdc_err *err)
{
    return sink__blocked_error(ev, event_db(s, ev), '`', index, err);
}

/* The first change in events[0..last] of a blocked table, or SIZE_MAX.
 * While tables are blocked the list is read again for each batch, so a
 * table set free on the target flows again at once. */
static int find_blocked(struct my_sink *s, const struct cdc_batch *batch,
                        size_t last, size_t *at, struct cdc_err *err)
{
    *at = SIZE_MAX;
    if (s->blocked.n == 0)
        return CDC_OK;
    int rc = read_blocked(s, err);
    if (rc == CDC_OK)
        rc = exec_sql(s, "COMMIT", "could not end a transaction", err);
    if (rc != CDC_OK)
        return rc;
    for (size_t i = 0; i <= last && *at == SIZE_MAX; i++) {
        const struct cdc_event *ev = batch->events[i];
        if (!covered(s, batch, ev) && is_blocked(s, ev))
            *at = i;
    }
    return CDC_OK;
}

/* Records that ev's table is blocked by its failed schema change. */
static void block_table(struct my_sink *s, const struct cdc_event *ev,
                        const char *error)
{
    struct cdc_err e2;
    cdc_err_clear(&e2);
    struct cdc_buf *q = &s->sql;
    cdc_buf_reset(q);
    cdc_buf_append_str(q,
                       "INSERT IGNORE INTO tributary.blocked "
                       "(`group_name`, `schema_name`, `table_name`, "
                       "`position`, `statement`, `error`, `since`) VALUES (");
    const char *vals[] = {s->group,     event_db(s, ev), ev->table,
                          ev->position, ev->ddl,         error};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        append_quoted_str(s, q, vals[i] ? vals[i] : "");
        cdc_buf_append_str(q, ", ");
    }
    cdc_buf_append_str(q, "UTC_TIMESTAMP(6))");
    mysql_rollback(s->conn);
    int rc = exec_sql(s, q->data, "could not record the blocked table", &e2);
    /* the change did not run: its note that it began goes */
    if (rc == CDC_OK) {
        cdc_buf_reset(q);
        cdc_buf_append_str(q, "DELETE FROM tributary.ddl_started WHERE "
                              "`group_name` = ");
        append_quoted_str(s, q, s->group);
        rc = exec_sql(s, q->data, "could not record the blocked table", &e2);
    }
    if (rc == CDC_OK)
        rc = exec_sql(s, "COMMIT", "could not record the blocked table", &e2);
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_WARN, "sink", "sink=mysql %s", e2.msg);
        return;
    }
    sink__blocked_add(&s->blocked, event_db(s, ev), ev->table);
    cdc_log(CDC_LOG_ERROR, "sink",
            "sink=mysql changes of `%s`.`%s` are set aside from now on: its "
            "schema change at %s failed on the target (%s); fix the table, "
            "then delete its row from tributary.blocked",
            event_db(s, ev), ev->table, ev->position, error);
}

/* Writes a batch of row changes (no TRUNCATE, no DDL) in one transaction. */
static int write_rows(struct my_sink *s, const struct cdc_batch *batch,
                      struct cdc_err *err)
{
    int rc = connect_target(s, err);
    if (rc != CDC_OK) {
        err->index = 0;
        return rc;
    }
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < batch->n; i++)
        if (!covered(s, batch, batch->events[i]))
            last = i;
    if (last == SIZE_MAX)
        return CDC_OK; /* all of it was committed before */
    size_t blocked = SIZE_MAX;
    rc = find_blocked(s, batch, last, &blocked, err);
    if (rc != CDC_OK) {
        err->index = 0;
        return batch_failed(s, batch, rc, err);
    }
    if (blocked != SIZE_MAX)
        return blocked_error(s, batch->events[blocked], blocked, err);
    /* table shapes are read before the transaction starts */
    for (size_t i = 0; i <= last; i++) {
        const struct cdc_event *ev = batch->events[i];
        struct my_table *t = NULL;
        if (covered(s, batch, ev))
            continue;
        s->failed_cmd = SIZE_MAX;
        rc = table_for(s, ev, &t, err);
        if (rc != CDC_OK) {
            err->index = i;
            return batch_failed(s, batch, rc, err);
        }
    }
    for (;;) {
        rc = apply_rows(s, batch, last, err);
        if (rc == CDC_OK)
            break;
        bool multi = s->failed_cmd < s->ncmds && s->cmds[s->failed_cmd].multi;
        if (!multi || !(err->flags & CDC_ERR_POISON) || s->single_rows)
            return batch_failed(s, batch, rc, err);
        /* one row of several: the batch goes again row by row to find
         * it */
        cdc_log(CDC_LOG_DEBUG, "sink",
                "sink=mysql a multi-row insert failed (%s); applying the "
                "batch again row by row",
                err->msg);
        struct cdc_err saved = *err;
        if (mysql_rollback(s->conn) != 0) {
            *err = saved;
            err->index = SIZE_MAX;
            return batch_failed(s, batch, rc, err);
        }
        s->single_rows = true;
    }
    mark_committed(s, batch, last);
    return CDC_OK;
}

/* What a change that runs alone (TRUNCATE, DDL) needs first: a connection,
 * and its table not blocked. */
static int ready_alone(struct my_sink *s, const struct cdc_batch *batch,
                       size_t i, struct cdc_err *err)
{
    int rc = connect_target(s, err);
    if (rc != CDC_OK) {
        err->index = 0;
        return rc;
    }
    size_t blocked = SIZE_MAX;
    rc = find_blocked(s, batch, i, &blocked, err);
    if (rc != CDC_OK) {
        err->index = 0;
        return batch_failed(s, batch, rc, err);
    }
    if (blocked == i)
        return blocked_error(s, batch->events[i], i, err);
    return CDC_OK;
}

/*
 * TRUNCATE commits implicitly: the batch before it is committed already
 * (write_rows), the table is truncated, then the mark moves to it in a
 * transaction of its own. A crash between the two runs TRUNCATE again
 * later, which changes nothing: no change after it was applied yet. A
 * table that a foreign key refers to cannot be truncated (unless
 * --target-disable-foreign-keys): its rows are deleted instead, in the
 * transaction of the mark.
 */
static int apply_truncate(struct my_sink *s, const struct cdc_batch *batch,
                          size_t i, struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    if (covered(s, batch, ev))
        return CDC_OK;
    int rc = ready_alone(s, batch, i, err);
    if (rc != CDC_OK)
        return rc;
    struct my_table *t = NULL;
    s->failed_cmd = SIZE_MAX;
    rc = table_for(s, ev, &t, err);
    if (rc != CDC_OK) {
        err->index = i;
        return batch_failed(s, batch, rc, err);
    }
    bool by_delete = false;
    for (;;) {
        cmds_reset(s);
        cdc_buf_reset(&s->sql);
        cdc_buf_append_str(&s->sql, by_delete ? "DELETE FROM " : "TRUNCATE ");
        cdc_buf_append_str(&s->sql, t->qname);
        if (by_delete) {
            rc = add_plain(s, "START TRANSACTION", SIZE_MAX, err);
            if (rc == CDC_OK)
                rc = add_stmt(s, i, EXPECT_ANY, false, err);
        } else {
            /* commits implicitly before and after itself */
            rc = add_stmt(s, i, EXPECT_ANY, false, err);
            if (rc == CDC_OK)
                rc = add_plain(s, "START TRANSACTION", SIZE_MAX, err);
        }
        if (rc == CDC_OK)
            rc = finish(s, batch, i, err);
        if (rc == CDC_OK)
            break;
        /* ER_TRUNCATE_ILLEGAL_FK */
        if (by_delete || s->failed_cmd != 0 || s->failed_errno != 1701)
            return batch_failed(s, batch, rc, err);
        if (mysql_rollback(s->conn) != 0)
            return batch_failed(s, batch, rc, err);
        by_delete = true;
    }
    cdc_log(CDC_LOG_INFO, "sink", "sink=mysql %s %s at %s",
            by_delete ? "deleted every row of" : "truncated", t->qname,
            ev->position);
    mark_committed(s, batch, i);
    return CDC_OK;
}

/* ==== Sink interface ==== */

static void my_close(void *state);

/* connect_target for sink__connect_wait */
static int connect_any(void *s, struct cdc_err *err)
{
    return connect_target(s, err);
}

static int my_open(const struct cdc_conf *cfg, const char *group, void **state,
                   struct sink_mark *last, struct cdc_err *err)
{
    struct my_sink *s = cdc_xcalloc(1, sizeof(*s));
    int rc = CDC_OK;
    *state = NULL;
    s->group = cdc_xstrdup(group);
    s->host = cdc_conf_get_str(cfg, "target-host");
    s->port = (unsigned)cdc_conf_get_int(cfg, "target-port");
    s->user = cdc_conf_get_str(cfg, "target-user");
    s->password = cdc_conf_get_str(cfg, "target-password");
    s->dbname = cdc_conf_get_str(cfg, "target-dbname");
    s->disable_fk = cdc_conf_get_bool(cfg, "target-disable-foreign-keys");
    s->max_stmt = DEFAULT_MAX_PACKET - PACKET_SLACK;
    s->failed_cmd = SIZE_MAX;
    cdc_buf_init(&s->sql, 0);
    cdc_buf_init(&s->packet, 0);
    cdc_buf_init(&s->val, 0);

    rc = sink__connect_wait("mysql", cfg, connect_any, s, err);
    if (rc != CDC_OK) {
        my_close(s);
        return rc;
    }
    *last = s->mark;
    *state = s;
    return CDC_OK;
}

/* Errors of a schema change that ran before, when it runs again: what it
 * made exists, or what it removed or renamed is gone. */
static bool already_done(unsigned code)
{
    switch (code) {
    case 1050: /* table exists */
    case 1051: /* unknown table */
    case 1054: /* unknown column */
    case 1060: /* duplicate column */
    case 1061: /* duplicate key name */
    case 1091: /* cannot drop: no such column or key */
    case 1146: /* no such table */
    case 1826: /* duplicate foreign key name */
        return true;
    default:
        return false;
    }
}

/* Whether tributary.ddl_started says that the schema change ev began on
 * the target before (the sink stopped before recording it applied). */
static int started_before(struct my_sink *s, const struct cdc_event *ev,
                          bool *started, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    struct cdc_buf *q = &s->sql;
    *started = false;
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "SELECT `position`, `tx_index` FROM "
                          "tributary.ddl_started WHERE `group_name` = ");
    append_quoted_str(s, q, s->group);
    int rc = query_rows(s, q->data, &res,
                        "could not read the schema change "
                        "begun last",
                        err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    *started = row != NULL && row[0] != NULL && row[1] != NULL &&
               strcmp(row[0], ev->position) == 0 &&
               strtoul(row[1], NULL, 10) == ev->tx_index;
    mysql_free_result(res);
    return CDC_OK;
}

/* Runs the schema change ev in the source session's database. On failure
 * *code is the server's error number (0 when the statement never ran). */
static int run_ddl(struct my_sink *s, const struct cdc_event *ev,
                   unsigned *code, struct cdc_err *err)
{
    struct cdc_buf *q = &s->sql;
    *code = 0;
    /* noted first (and committed), so that after a crash the change that
     * began is known */
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "REPLACE INTO tributary.ddl_started (`group_name`, "
                          "`position`, `tx_index`) VALUES (");
    append_quoted_str(s, q, s->group);
    cdc_buf_append_str(q, ", ");
    append_quoted_str(s, q, ev->position);
    cdc_buf_printf(q, ", %" PRIu32 ")", ev->tx_index);
    int rc = exec_sql(s, q->data, "could not note the schema change", err);
    if (rc == CDC_OK)
        rc = exec_sql(s, "COMMIT", "could not note the schema change", err);
    if (rc != CDC_OK)
        return rc;
    /* the source session's database; when the target has none of that
     * name, the statement named its table with the database (else that
     * would be the session's), and the table's own database serves */
    const char *dbs[2] = {ev->search_path, event_db(s, ev)};
    for (size_t k = 0; k < 2; k++) {
        if (dbs[k] == NULL || (k == 1 && *code != 1049))
            continue;
        cdc_buf_reset(q);
        cdc_buf_append_str(q, "USE ");
        append_ident(q, dbs[k]);
        *code = 0;
        if (mysql_real_query(s->conn, q->data, (unsigned long)q->len) == 0)
            break;
        *code = mysql_errno(s->conn);
        if (k == 1 || *code != 1049 || dbs[1] == NULL ||
            strcmp(dbs[0], dbs[1]) == 0) {
            char what[CDC_NAME_MAX + 48];
            snprintf(what, sizeof what, "could not use database `%s`", dbs[k]);
            return server_error(s, what, err);
        }
    }
    *code = 0;
    if (mysql_real_query(s->conn, ev->ddl, (unsigned long)strlen(ev->ddl)) !=
        0) {
        *code = mysql_errno(s->conn);
        return server_error(s, "", err);
    }
    rc = take_result(s, "", err);
    if (rc == CDC_OK)
        rc = drain_more(s, "", err);
    if (rc != CDC_OK)
        *code = mysql_errno(s->conn);
    return rc;
}

/*
 * A schema change. One of a MySQL source runs as it came, in the source
 * session's database, and commits implicitly like TRUNCATE: the batch
 * before it is committed already (write_rows), the change runs, then the
 * mark moves to it in a transaction of its own. Before it runs, the sink
 * notes it in tributary.ddl_started; if the sink stops before the mark
 * moves, the change comes again, and an error that says it was made
 * already (the column exists, the table is gone) counts as applied only
 * when that note names it. A change the target refuses blocks its table
 * (see block_table) and goes to the dead letters. Another source's DDL is
 * not MySQL's: it goes to the dead letters, for a person to apply.
 */
static int apply_ddl(struct my_sink *s, const struct cdc_batch *batch, size_t i,
                     struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    if (covered(s, batch, ev))
        return CDC_OK;
    if (ev->source == NULL || strcmp(ev->source, "mysql") != 0 ||
        ev->ddl == NULL)
        return sink__foreign_ddl(ev, "MySQL", i, err);
    int rc = ready_alone(s, batch, i, err);
    if (rc != CDC_OK)
        return rc;
    bool started = false;
    unsigned code = 0;
    rc = started_before(s, ev, &started, err);
    if (rc == CDC_OK)
        rc = run_ddl(s, ev, &code, err);
    if (rc != CDC_OK && code != 0 && started && already_done(code)) {
        cdc_log(CDC_LOG_INFO, "sink",
                "sink=mysql the schema change of `%s`.`%s` at %s was applied "
                "before (%s)",
                event_db(s, ev), ev->table, ev->position, err->msg);
        rc = CDC_OK;
    }
    if (rc != CDC_OK && code != 0 && classify(code) != CDC_ERR_RETRIABLE) {
        /* the target refuses it: the table waits for a person */
        block_table(s, ev, err->msg);
        struct cdc_err saved = *err;
        cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                    "could not apply the schema change of `%s`.`%s` "
                    "(position %s): %s",
                    event_db(s, ev), ev->table, ev->position, saved.msg);
        err->index = i;
        disconnect(s);
        return CDC_EPROTO;
    }
    if (rc == CDC_OK) {
        cmds_reset(s);
        rc = add_plain(s, "START TRANSACTION", SIZE_MAX, err);
        if (rc == CDC_OK) {
            cdc_buf_reset(&s->sql);
            cdc_buf_append_str(&s->sql, "DELETE FROM tributary.ddl_started "
                                        "WHERE `group_name` = ");
            append_quoted_str(s, &s->sql, s->group);
            rc = add_stmt(s, SIZE_MAX, EXPECT_ANY, false, err);
        }
        if (rc == CDC_OK)
            rc = finish(s, batch, i, err);
    }
    if (rc != CDC_OK) {
        if (err->flags & CDC_ERR_POISON)
            err->flags = CDC_ERR_RETRIABLE;
        err->index = 0;
        disconnect(s);
        return rc;
    }
    cdc_log(CDC_LOG_INFO, "sink",
            "sink=mysql applied the schema change of "
            "`%s`.`%s` at %s",
            event_db(s, ev), ev->table, ev->position);
    mark_committed(s, batch, i);
    /* every table's shape is read again, on a connection in the target's
     * own database */
    disconnect(s);
    return CDC_OK;
}

static int my_write(void *state, const struct cdc_batch *batch,
                    struct cdc_err *err)
{
    struct my_sink *s = state;
    /* row changes between truncates and schema changes go in one
     * transaction each; a truncate or schema change goes alone */
    size_t from = 0;
    while (from < batch->n) {
        size_t to = from;
        while (to < batch->n && batch->events[to]->op != CDC_OP_DDL &&
               batch->events[to]->op != CDC_OP_TRUNCATE)
            to++;
        if (to > from) {
            struct cdc_batch part = {batch->events + from, batch->seqs + from,
                                     to - from, batch->replay, false};
            int rc = write_rows(s, &part, err);
            if (rc != CDC_OK) {
                err->index += from;
                return rc;
            }
        }
        if (to < batch->n) {
            int rc = batch->events[to]->op == CDC_OP_DDL
                         ? apply_ddl(s, batch, to, err)
                         : apply_truncate(s, batch, to, err);
            if (rc != CDC_OK) {
                if (err->flags & CDC_ERR_POISON)
                    err->index = to;
                return rc;
            }
        }
        from = to + 1;
    }
    return CDC_OK;
}

static int my_flush(void *state, struct cdc_err *err)
{
    (void)state;
    (void)err;
    return CDC_OK; /* every write ends with COMMIT */
}

static void my_close(void *state)
{
    struct my_sink *s = state;
    if (s == NULL)
        return;
    disconnect(s);
    cdc_buf_release(&s->sql);
    cdc_buf_release(&s->packet);
    cdc_buf_release(&s->val);
    cdc_free(s->wcols);
    cdc_free(s->cmds);
    cdc_free(s->group);
    sink__blocked_clear(&s->blocked);
    cdc_free(s);
}

const struct sink_ops sink_mysql_ops = {
    .name = "mysql",
    .options = my_options,
    .open = my_open,
    .write = my_write,
    .flush = my_flush,
    .close = my_close,
};

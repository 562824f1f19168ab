/*
 * mysql_schema.c: what information_schema says of a table of the
 * MySQL/MariaDB source (columns, types, character sets, ENUM/SET
 * members, MariaDB's JSON columns, the key and a size estimate), and the
 * binlog position the server is at now (see mysql_int.h). Statements
 * carry no parameters: names go in as literals escaped by the client
 * library for the connection's character set. Nothing here changes the
 * server.
 */
#include "replicator/copy_mysql_text.h"
#include "replicator/mysql_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The collation id of binary strings. */
#define CHARSET_BINARY 63
/* ER_PARSE_ERROR: MySQL 8.4 took SHOW MASTER STATUS away. */
#define ER_PARSE_ERROR 1064

/* Appends s as a quoted string literal, escaped for conn. */
/* "<prefix>TABLE_SCHEMA = 's' AND <prefix>TABLE_NAME = 't'", and the same
 * compared as bytes: information_schema compares names without case,
 * while table names on Linux have it. schema_col names the schema's
 * column (CONSTRAINT_SCHEMA in CHECK_CONSTRAINTS). */
static void append_table_cond(struct cdc_buf *b, MYSQL *conn,
                              const char *schema_col, const char *name_col,
                              const char *schema, const char *name)
{
    cdc_buf_printf(b, "%s = ", schema_col);
    source__my_append_literal(b, conn, schema);
    cdc_buf_printf(b, " AND %s = ", name_col);
    source__my_append_literal(b, conn, name);
    cdc_buf_printf(b, " AND CAST(%s AS BINARY) = ", schema_col);
    source__my_append_literal(b, conn, schema);
    cdc_buf_printf(b, " AND CAST(%s AS BINARY) = ", name_col);
    source__my_append_literal(b, conn, name);
}

static bool is_mariadb(MYSQL *conn)
{
    const char *v = mysql_get_server_info(conn);
    return v != NULL && strstr(v, "MariaDB") != NULL;
}

static uint64_t to_u64(const char *s)
{
    if (s == NULL)
        return 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    return end != s && *end == '\0' ? (uint64_t)v : 0;
}

void source__my_tabinfo_free(struct source__my_tabinfo *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->cols != NULL && i < t->ncols; i++) {
        struct source_binlog_colinfo *c = &t->cols[i];
        cdc_free((char *)c->name);
        cdc_free((char *)c->type);
        source__my_members_free((char **)c->values, c->nvalues);
        if (t->data_type != NULL)
            cdc_free(t->data_type[i]);
        if (t->column_type != NULL)
            cdc_free(t->column_type[i]);
    }
    cdc_free(t->cols);
    cdc_free(t->data_type);
    cdc_free(t->column_type);
    for (size_t i = 0; t->key != NULL && i < t->nkey; i++)
        cdc_free(t->key[i]);
    cdc_free(t->key);
    cdc_free(t->schema);
    cdc_free(t->name);
    memset(t, 0, sizeof(*t));
}

/* TABLES: whether the table exists, and its size estimate. */
static int read_size(MYSQL *conn, struct source__my_tabinfo *t, bool *found,
                     struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SELECT TABLE_ROWS, DATA_LENGTH FROM "
                             "information_schema.TABLES WHERE ");
    append_table_cond(&sql, conn, "TABLE_SCHEMA", "TABLE_NAME", t->schema,
                      t->name);
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    *found = row != NULL;
    if (row != NULL) {
        t->est_rows = to_u64(row[0]);
        t->est_bytes = to_u64(row[1]);
    }
    mysql_free_result(res);
    return CDC_OK;
}

/* COLUMNS with their collation ids, in order. */
static int read_columns(MYSQL *conn, struct source__my_tabinfo *t,
                        struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(
        &sql, "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, "
              "c.COLLATION_NAME, co.ID FROM information_schema.COLUMNS c "
              "LEFT JOIN information_schema.COLLATIONS co ON "
              "co.COLLATION_NAME = c.COLLATION_NAME WHERE ");
    append_table_cond(&sql, conn, "c.TABLE_SCHEMA", "c.TABLE_NAME", t->schema,
                      t->name);
    cdc_buf_append_str(&sql, " ORDER BY c.ORDINAL_POSITION");
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return rc;
    size_t n = res != NULL ? (size_t)mysql_num_rows(res) : 0;
    t->cols = cdc_xcalloc(n ? n : 1, sizeof(*t->cols));
    t->data_type = cdc_xcalloc(n ? n : 1, sizeof(*t->data_type));
    t->column_type = cdc_xcalloc(n ? n : 1, sizeof(*t->column_type));
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row == NULL || row[0] == NULL || row[1] == NULL || row[2] == NULL) {
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "unexpected answer reading the columns of "
                             "\"%s\".\"%s\"",
                             t->schema, t->name);
            break;
        }
        struct source_binlog_colinfo *c = &t->cols[i];
        t->ncols = i + 1;
        c->name = cdc_xstrdup(row[0]);
        /* MySQL 8 and MariaDB write type names in lower case; older
         * servers may not */
        char *dt = cdc_xstrdup(row[1]);
        for (char *p = dt; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        t->data_type[i] = dt;
        t->column_type[i] = cdc_xstrdup(row[2]);
        c->is_unsigned = strstr(row[2], "unsigned") != NULL;
        if (row[3] != NULL && row[4] != NULL)
            c->charset = (uint32_t)to_u64(row[4]);
        else if (row[3] == NULL &&
                 (strcmp(dt, "binary") == 0 || strcmp(dt, "varbinary") == 0 ||
                  strstr(dt, "blob") != NULL))
            c->charset = CHARSET_BINARY;
        if (strcmp(dt, "enum") == 0 || strcmp(dt, "set") == 0) {
            char **m = NULL;
            size_t nm = 0;
            rc = source__my_members_parse(row[2], &m, &nm, err);
            if (rc != CDC_OK) {
                cdc_err_prefix(err, "column \"%s\" of \"%s\".\"%s\"", row[0],
                               t->schema, t->name);
                break;
            }
            c->values = (const char *const *)m;
            c->nvalues = nm;
        }
    }
    mysql_free_result(res);
    return rc;
}

/* MariaDB's JSON is LONGTEXT with a CHECK (json_valid(`c`)): such
 * columns get the type "json", as MySQL's own JSON has. */
static int read_json_checks(MYSQL *conn, struct source__my_tabinfo *t,
                            struct cdc_err *err)
{
    bool any = false;
    for (size_t i = 0; i < t->ncols; i++)
        any = any || strcmp(t->data_type[i], "longtext") == 0;
    if (!any || !is_mariadb(conn))
        return CDC_OK;
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SELECT CHECK_CLAUSE FROM "
                             "information_schema.CHECK_CONSTRAINTS WHERE ");
    append_table_cond(&sql, conn, "CONSTRAINT_SCHEMA", "TABLE_NAME", t->schema,
                      t->name);
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the checks of \"%s\".\"%s\"",
                              t->schema, t->name);
    MYSQL_ROW row;
    while (res != NULL && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL)
            continue;
        for (size_t i = 0; i < t->ncols; i++) {
            struct source_binlog_colinfo *c = &t->cols[i];
            if (c->type == NULL && strcmp(t->data_type[i], "longtext") == 0 &&
                source__my_json_check(row[0], c->name))
                c->type = cdc_xstrdup("json");
        }
    }
    mysql_free_result(res);
    return CDC_OK;
}

/* The index of the result's field called name, or -1. */
static int field_index(MYSQL_RES *res, const char *name)
{
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    for (unsigned i = 0; i < n; i++)
        if (strcasecmp(f[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The primary key, else the first unique key whose columns are all NOT
 * NULL (a key on an expression does not count), in the order SHOW INDEX
 * lists them, which is the server's: primary first, then unique keys
 * without nullable columns. */
static int read_key(MYSQL *conn, struct source__my_tabinfo *t,
                    struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SHOW INDEX FROM ");
    source__my_append_ident(&sql, t->schema);
    cdc_buf_append_char(&sql, '.');
    source__my_append_ident(&sql, t->name);
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the keys of \"%s\".\"%s\"",
                              t->schema, t->name);
    if (res == NULL)
        return CDC_OK;
    int f_nonu = field_index(res, "Non_unique");
    int f_key = field_index(res, "Key_name");
    int f_col = field_index(res, "Column_name");
    int f_null = field_index(res, "Null");
    if (f_nonu < 0 || f_key < 0 || f_col < 0 || f_null < 0) {
        mysql_free_result(res);
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "unexpected answer reading the keys of "
                           "\"%s\".\"%s\"",
                           t->schema, t->name);
    }
    /* the rows of one index are consecutive, in column order */
    char *best = NULL;
    bool best_primary = false;
    char *cur = NULL;
    bool cur_ok = false;
    char **cols = NULL;
    size_t ncols = 0;
    size_t cap = 0;
    char **chosen = NULL;
    size_t nchosen = 0;
    MYSQL_ROW row;
    for (;;) {
        row = mysql_fetch_row(res);
        bool next = row == NULL || row[f_key] == NULL || cur == NULL ||
                    strcmp(row[f_key], cur) != 0;
        if (next && cur != NULL) {
            bool primary = strcmp(cur, "PRIMARY") == 0;
            if (cur_ok && ncols > 0 &&
                (best == NULL || (primary && !best_primary))) {
                for (size_t i = 0; i < nchosen; i++)
                    cdc_free(chosen[i]);
                cdc_free(chosen);
                cdc_free(best);
                best = cdc_xstrdup(cur);
                best_primary = primary;
                chosen = cols;
                nchosen = ncols;
            } else {
                for (size_t i = 0; i < ncols; i++)
                    cdc_free(cols[i]);
                cdc_free(cols);
            }
            cols = NULL;
            ncols = 0;
            cap = 0;
            cdc_free(cur);
            cur = NULL;
        }
        if (row == NULL)
            break;
        if (row[f_key] == NULL)
            continue;
        if (cur == NULL) {
            cur = cdc_xstrdup(row[f_key]);
            cur_ok = row[f_nonu] != NULL && strcmp(row[f_nonu], "0") == 0;
        }
        /* a nullable column, or an expression instead of a column */
        if (row[f_col] == NULL ||
            (row[f_null] != NULL && strcasecmp(row[f_null], "YES") == 0))
            cur_ok = false;
        if (row[f_col] != NULL) {
            if (ncols == cap) {
                cap = cap ? cap * 2 : 4;
                cols = cdc_xrealloc(cols, cap * sizeof(*cols));
            }
            cols[ncols++] = cdc_xstrdup(row[f_col]);
        }
    }
    mysql_free_result(res);
    cdc_free(best);
    t->key = chosen;
    t->nkey = nchosen;
    return CDC_OK;
}

int source__my_tabinfo_read(MYSQL *conn, const char *schema, const char *name,
                            struct source__my_tabinfo *out, struct cdc_err *err)
{
    memset(out, 0, sizeof(*out));
    out->schema = cdc_xstrdup(schema);
    out->name = cdc_xstrdup(name);
    bool found = false;
    int rc = read_size(conn, out, &found, err);
    if (rc == CDC_OK && !found)
        rc = cdc_err_set(err, CDC_ENOTFOUND, 0,
                         "table \"%s\".\"%s\" does not exist", schema, name);
    if (rc == CDC_OK)
        rc = read_columns(conn, out, err);
    if (rc == CDC_OK && out->ncols == 0)
        rc = cdc_err_set(err, CDC_ENOTFOUND, 0,
                         "table \"%s\".\"%s\" has no columns to read", schema,
                         name);
    if (rc == CDC_OK)
        rc = read_json_checks(conn, out, err);
    if (rc == CDC_OK)
        rc = read_key(conn, out, err);
    if (rc != CDC_OK) {
        /* a catalog that cannot be read is an I/O failure (flags kept) */
        if (rc != CDC_ENOTFOUND && rc != CDC_EIO) {
            err->code = CDC_EIO;
            rc = CDC_EIO;
        }
        source__my_tabinfo_free(out);
    }
    return rc;
}

/* One row of SHOW MASTER STATUS (or SHOW BINARY LOG STATUS, its MySQL
 * 8.4 name): file and position. */
static int master_status(MYSQL *conn, struct source__my_pos *out,
                         struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, "SHOW MASTER STATUS", &res, err);
    if (rc != CDC_OK && mysql_errno(conn) == ER_PARSE_ERROR) {
        cdc_err_clear(err);
        rc = source__my_query(conn, "SHOW BINARY LOG STATUS", &res, err);
    }
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the binlog position");
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    if (row == NULL || row[0] == NULL || row[0][0] == '\0' || row[1] == NULL) {
        mysql_free_result(res);
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "binary logging is off on the source MySQL: start "
                           "it with --log-bin (and --binlog-format=ROW "
                           "--binlog-row-image=FULL)");
    }
    size_t flen = strlen(row[0]);
    uint64_t off = to_u64(row[1]);
    if (flen >= sizeof(out->file) || off == 0) {
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "unexpected binlog position \"%.60s:%.20s\" from "
                         "the source",
                         row[0], row[1]);
    } else {
        memcpy(out->file, row[0], flen + 1);
        out->offset = off;
    }
    /* MySQL says its GTID set there too (Executed_Gtid_Set, with line
     * breaks): kept in its canonical form */
    if (rc == CDC_OK && mysql_num_fields(res) >= 5 && !is_mariadb(conn) &&
        row[4] != NULL) {
        struct source__my_gtid_set set;
        rc = source__my_gtid_set_parse(row[4], &set, err);
        if (rc == CDC_OK &&
            !source__my_gtid_set_format(&set, out->gtid, sizeof(out->gtid)))
            rc = cdc_err_set(err, CDC_ETOOBIG, 0,
                             "the source's GTID set is longer than %zu bytes: "
                             "run with --gtid=false",
                             sizeof(out->gtid) - 1);
        source__my_gtid_set_free(&set);
        if (rc != CDC_OK)
            memset(out, 0, sizeof(*out));
    }
    mysql_free_result(res);
    return rc;
}

int source__my_current_pos(MYSQL *conn, struct source__my_pos *out,
                           struct cdc_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = master_status(conn, out, err);
    if (rc != CDC_OK || !is_mariadb(conn))
        return rc;
    /* the GTID state at exactly that place: @@gtid_binlog_pos read
     * separately could already count a transaction committed since */
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SELECT BINLOG_GTID_POS(");
    source__my_append_literal(&sql, conn, out->file);
    cdc_buf_printf(&sql, ", %" PRIu64 ")", out->offset);
    MYSQL_RES *res = NULL;
    rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK) {
        memset(out, 0, sizeof(*out));
        return cdc_err_prefix(err, "could not read the GTID position");
    }
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    if (row != NULL && row[0] != NULL && strlen(row[0]) >= sizeof(out->gtid))
        rc = cdc_err_set(err, CDC_ETOOBIG, 0,
                         "the source's GTID state is longer than %zu bytes",
                         sizeof(out->gtid) - 1);
    else if (row != NULL && row[0] != NULL)
        snprintf(out->gtid, sizeof(out->gtid), "%s", row[0]);
    mysql_free_result(res);
    if (rc != CDC_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

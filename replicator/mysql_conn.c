/*
 * mysql_conn.c: connecting to the MySQL/MariaDB source, running
 * statements, quoting, the tables of --tables and binlog positions as
 * text (see mysql_int.h).
 */
#include "replicator/mysql_int.h"

#include <errmsg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds to wait for a connection, and for a statement's reply. */
#define CONNECT_TIMEOUT_S 10
#define READ_TIMEOUT_S 600

static const char GTID_SEP[] = " gtid ";

void source__my_pos_format(const struct source__my_pos *p, char *out,
                           size_t outsz)
{
    if (p->gtid[0] != '\0')
        snprintf(out, outsz, "%s:%" PRIu64 "%s%s", p->file, p->offset, GTID_SEP,
                 p->gtid);
    else
        snprintf(out, outsz, "%s:%" PRIu64, p->file, p->offset);
}

int source__my_pos_parse(const char *text, struct source__my_pos *p,
                         struct cdc_err *err)
{
    memset(p, 0, sizeof(*p));
    const char *end = strstr(text, GTID_SEP);
    size_t len = end != NULL ? (size_t)(end - text) : strlen(text);
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (text[i] == ':')
            colon = text + i;
    size_t flen = colon != NULL ? (size_t)(colon - text) : 0;
    const char *num = colon != NULL ? colon + 1 : NULL;
    size_t nlen = colon != NULL ? len - flen - 1 : 0;
    bool ok = flen > 0 && flen < sizeof(p->file) && nlen > 0 && nlen <= 20;
    uint64_t off = 0;
    for (size_t i = 0; ok && i < nlen; i++) {
        if (num[i] < '0' || num[i] > '9' ||
            off > (UINT64_MAX - (uint64_t)(num[i] - '0')) / 10)
            ok = false;
        else
            off = off * 10 + (uint64_t)(num[i] - '0');
    }
    if (ok && end != NULL) {
        const char *g = end + strlen(GTID_SEP);
        size_t glen = strlen(g);
        ok = glen > 0 && glen < sizeof(p->gtid);
        if (ok)
            memcpy(p->gtid, g, glen + 1);
    }
    if (!ok) {
        memset(p, 0, sizeof(*p));
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "\"%s\" is not a binlog position (file:offset, "
                           "optionally followed by \" gtid <state>\")",
                           text);
    }
    memcpy(p->file, text, flen);
    p->file[flen] = '\0';
    p->offset = off;
    return CDC_OK;
}

void source__my_settings_init(struct source__my_settings *st,
                              const struct cdc_conf *cfg)
{
    memset(st, 0, sizeof(*st));
    st->host = cdc_conf_get_str(cfg, "host");
    if (cdc_conf_is_set(cfg, "port"))
        st->port = (unsigned)cdc_conf_get_int(cfg, "port");
    st->user = cdc_conf_get_str(cfg, "user");
    st->password = cdc_conf_get_str(cfg, "password");
    st->dbname = cdc_conf_get_str(cfg, "dbname");
}

/* Whether a client or server error code may pass by itself. */
static bool transient(unsigned code)
{
    switch (code) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case 1040: /* ER_CON_COUNT_ERROR: too many connections */
    case 1053: /* ER_SERVER_SHUTDOWN */
    case 1205: /* ER_LOCK_WAIT_TIMEOUT */
    case 1213: /* ER_LOCK_DEADLOCK */
    case 1927: /* ER_CONNECTION_KILLED */
        return true;
    default:
        return false;
    }
}

/* msg, cut to outsz, on one line. */
static void one_line(const char *msg, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", msg);
    cdc_one_line(out);
}

int source__my_connect(const struct source__my_settings *st, MYSQL **out,
                       struct cdc_err *err)
{
    *out = NULL;
    MYSQL *conn = mysql_init(NULL);
    if (conn == NULL)
        return cdc_err_set(err, CDC_ENOMEM, CDC_ERR_RETRIABLE,
                           "could not set up a MySQL connection");
    unsigned int connect_timeout = CONNECT_TIMEOUT_S;
    unsigned int io_timeout =
        st->read_timeout_s != 0 ? st->read_timeout_s : READ_TIMEOUT_S;
    mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const char *host = st->host != NULL ? st->host : "localhost";
    unsigned port = st->port != 0 ? st->port : 3306;
    if (mysql_real_connect(conn, host, st->user, st->password, NULL, port, NULL,
                           0) == NULL) {
        unsigned code = mysql_errno(conn);
        char msg[256];
        one_line(mysql_error(conn), msg, sizeof(msg));
        mysql_close(conn);
        bool retry = transient(code);
        return cdc_err_set(err, retry ? CDC_EIO : CDC_ECONFIG,
                           retry ? CDC_ERR_RETRIABLE : 0,
                           "could not connect to source MySQL at %s:%u: %s "
                           "(error %u)",
                           host, port, msg, code);
    }
    int rc = source__my_query(
        conn, "SET NAMES utf8mb4, time_zone = '+00:00', autocommit = 1", NULL,
        err);
    if (rc != CDC_OK) {
        mysql_close(conn);
        return rc;
    }
    *out = conn;
    return CDC_OK;
}

int source__my_query(MYSQL *conn, const char *sql, MYSQL_RES **res,
                     struct cdc_err *err)
{
    if (res != NULL)
        *res = NULL;
    if (mysql_query(conn, sql) == 0) {
        if (res != NULL) {
            *res = mysql_store_result(conn);
            if (*res != NULL || mysql_field_count(conn) == 0)
                return CDC_OK;
        } else {
            /* a statement with a result nobody wants: read it anyway */
            MYSQL_RES *r = mysql_store_result(conn);
            if (r != NULL || mysql_field_count(conn) == 0) {
                mysql_free_result(r);
                return CDC_OK;
            }
        }
    }
    unsigned code = mysql_errno(conn);
    char msg[256];
    one_line(mysql_error(conn), msg, sizeof(msg));
    char stmt[80];
    one_line(sql, stmt, sizeof(stmt));
    return cdc_err_set(err, CDC_EIO, transient(code) ? CDC_ERR_RETRIABLE : 0,
                       "source MySQL: %s (error %u) in \"%s%s\"", msg, code,
                       stmt, strlen(sql) >= sizeof(stmt) ? "..." : "");
}

void source__my_append_literal(struct cdc_buf *b, MYSQL *conn, const char *s)
{
    size_t len = strlen(s);
    char *esc = cdc_xmalloc(2 * len + 1);
    unsigned long n =
        mysql_real_escape_string(conn, esc, s, (unsigned long)len);
    cdc_buf_append_char(b, '\'');
    cdc_buf_append(b, esc, (size_t)n);
    cdc_buf_append_char(b, '\'');
    cdc_free(esc);
}

void source__my_append_ident(struct cdc_buf *b, const char *name)
{
    cdc_buf_append_char(b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            cdc_buf_append_char(b, '`');
        cdc_buf_append_char(b, *p);
    }
    cdc_buf_append_char(b, '`');
}

int source__my_tables_resolve(const struct cdc_conf *cfg,
                              struct source__my_table **out, size_t *n,
                              struct cdc_err *err)
{
    const char *const *items = NULL;
    size_t count = cdc_conf_get_list(cfg, "tables", &items);
    const char *db = cdc_conf_get_str(cfg, "dbname");
    if (db == NULL && cdc_conf_is_set(cfg, "schema"))
        db = cdc_conf_get_str(cfg, "schema");
    *out = NULL;
    *n = 0;
    if (count == 0)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "the mysql source needs --tables (db.table, "
                           "comma-separated)");
    struct source__my_table *tables = cdc_xcalloc(count, sizeof(*tables));
    for (size_t i = 0; i < count; i++) {
        const char *dot = strchr(items[i], '.');
        struct source__my_table *t = &tables[i];
        if (dot != NULL) {
            t->schema = cdc_xstrndup(items[i], (size_t)(dot - items[i]));
            t->name = cdc_xstrdup(dot + 1);
        } else {
            t->schema = cdc_xstrdup(db != NULL ? db : "");
            t->name = cdc_xstrdup(items[i]);
        }
        if (t->schema[0] == '\0' || t->name[0] == '\0') {
            source__my_tables_free(tables, i + 1);
            return cdc_err_set(
                err, CDC_ECONFIG, 0,
                dot == NULL && db == NULL
                    ? "table \"%s\" in tables has no database: write "
                      "db.table, or give --dbname"
                    : "invalid table name \"%s\" in tables",
                items[i]);
        }
    }
    *out = tables;
    *n = count;
    return CDC_OK;
}

void source__my_tables_free(struct source__my_table *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++) {
        cdc_free(t[i].schema);
        cdc_free(t[i].name);
    }
    cdc_free(t);
}

int source__my_binlogs_read(MYSQL *conn, const struct source__my_pos *pos,
                            struct source__my_binlogs *out, char ***names,
                            size_t *nnames, struct cdc_err *err)
{
    memset(out, 0, sizeof(*out));
    if (names != NULL) {
        *names = NULL;
        *nnames = 0;
    }
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, "SHOW BINARY LOGS", &res, err);
    if (rc == CDC_OK && res == NULL)
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "source MySQL listed no binary logs");
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL)
            continue;
        uint64_t size = row[1] != NULL ? strtoull(row[1], NULL, 10) : 0;
        if (names != NULL) {
            *names = cdc_xrealloc(*names, (*nnames + 1) * sizeof(**names));
            (*names)[(*nnames)++] = cdc_xstrdup(row[0]);
        }
        if (out->files++ == 0)
            snprintf(out->oldest, sizeof(out->oldest), "%s", row[0]);
        out->bytes += size;
        if (out->has_pos) {
            out->behind += size;
        } else if (pos != NULL && strcmp(row[0], pos->file) == 0) {
            out->has_pos = true;
            out->behind = size > pos->offset ? size - pos->offset : 0;
        }
    }
    mysql_free_result(res);
    return CDC_OK;
}

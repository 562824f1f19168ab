/*
 * status_mysql.c: the MySQL/MariaDB part of `replicator status`: the
 * server and the binlog settings capture needs, where the binlog is now
 * and what the server still keeps of it, how far the group's saved
 * position is behind, the binlog dumps running, and the group's tables
 * with their keys. It only reads; something missing is a row saying so.
 */
#include "replicator/mysql_int.h"
#include "replicator/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The first row of a query's result, or NULL (the result freed by the
 * caller through *res). */
static MYSQL_ROW one_row(MYSQL *conn, const char *sql, MYSQL_RES **res,
                         struct cdc_err *err, int *rc)
{
    *rc = source__my_query(conn, sql, res, err);
    if (*rc != CDC_OK || *res == NULL)
        return NULL;
    return mysql_fetch_row(*res);
}

static int settings_rows(MYSQL *conn, const struct source__my_settings *st,
                         struct cdc_buf *out, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    int rc = CDC_OK;
    MYSQL_ROW row = one_row(conn,
                            "SELECT @@version, @@global.log_bin, "
                            "@@global.binlog_format, "
                            "@@global.binlog_row_image, "
                            "@@global.binlog_checksum, @@global.server_id",
                            &res, err, &rc);
    if (row == NULL) {
        mysql_free_result(res);
        return rc;
    }
    replicator_status_row(out, "server", "%s at %s:%u, server id %s",
                          row[0] ? row[0] : "?",
                          st->host ? st->host : "localhost",
                          st->port ? st->port : 3306, row[5] ? row[5] : "?");
    bool on =
        row[1] && (strcmp(row[1], "1") == 0 || strcasecmp(row[1], "ON") == 0);
    replicator_status_row(out, "log_bin", "%s", on ? "ON" : "OFF (needed)");
    const char *want[] = {"ROW", "FULL"};
    const char *names[] = {"binlog_format", "binlog_row_image"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = row[2 + i] ? row[2 + i] : "?";
        replicator_status_row(out, names[i], "%s%s%s%s", v,
                              strcasecmp(v, want[i]) == 0 ? "" : " (needs ",
                              strcasecmp(v, want[i]) == 0 ? "" : want[i],
                              strcasecmp(v, want[i]) == 0 ? "" : ")");
    }
    replicator_status_row(out, "binlog_checksum", "%s", row[4] ? row[4] : "?");
    mysql_free_result(res);
    /* older servers have no binlog_row_metadata: not an error */
    struct cdc_err ignored;
    cdc_err_clear(&ignored);
    row = one_row(conn, "SELECT @@global.binlog_row_metadata", &res, &ignored,
                  &rc);
    if (row != NULL && row[0] != NULL)
        replicator_status_row(
            out, "binlog_row_metadata", "%s%s", row[0],
            strcasecmp(row[0], "FULL") == 0
                ? ""
                : " (column names are read from information_schema)");
    mysql_free_result(res);
    return CDC_OK;
}

/* Where the binlog is, the files the server keeps, and how much of it
 * lies after the group's saved position. */
static int binlog_rows(MYSQL *conn, const char *saved, struct cdc_buf *out,
                       struct cdc_err *err)
{
    struct source__my_pos now;
    int rc = source__my_current_pos(conn, &now, err);
    if (rc == CDC_ECONFIG) {
        replicator_status_row(out, "binlog", "binary logging is off");
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    char at[SOURCE_MY_POS_MAX];
    source__my_pos_format(&now, at, sizeof(at));
    replicator_status_row(out, "binlog now", "%s", at);
    struct source__my_pos sp;
    struct cdc_err perr;
    bool have_saved =
        saved != NULL && source__my_pos_parse(saved, &sp, &perr) == CDC_OK;
    struct source__my_binlogs bl;
    rc = source__my_binlogs_read(conn, have_saved ? &sp : NULL, &bl, NULL, NULL,
                                 err);
    if (rc != CDC_OK)
        return rc;
    char human[32];
    cdc_size_format(bl.bytes, human, sizeof(human));
    replicator_status_row(out, "binlog files", "%" PRIu64 ", from %s, %s",
                          bl.files, bl.oldest[0] ? bl.oldest : "-", human);
    if (have_saved && bl.has_pos) {
        cdc_size_format(bl.behind, human, sizeof(human));
        replicator_status_row(out, "behind",
                              "%s of binlog after the saved "
                              "position",
                              human);
    } else if (have_saved) {
        replicator_status_row(out, "behind",
                              "the saved position's binlog %s is gone: the "
                              "group needs --resync",
                              sp.file);
    }
    return CDC_OK;
}

static int dump_rows(MYSQL *conn, struct cdc_buf *out, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn,
                              "SELECT COUNT(*) FROM information_schema."
                              "PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
                              &res, err);
    if (rc != CDC_OK) {
        /* without the PROCESS privilege: not worth failing for */
        replicator_status_row(out, "binlog dumps", "cannot be read (%s)",
                              err->msg);
        cdc_err_clear(err);
        return CDC_OK;
    }
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    replicator_status_row(out, "binlog dumps",
                          "%s running (replicas and "
                          "replicators)",
                          row && row[0] ? row[0] : "0");
    mysql_free_result(res);
    return CDC_OK;
}

static int table_rows(MYSQL *conn, const struct source__my_table *t, size_t n,
                      struct cdc_buf *out, struct cdc_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct source__my_tabinfo info;
        memset(&info, 0, sizeof(info));
        char label[CDC_NAME_MAX * 2 + 8];
        snprintf(label, sizeof(label), "%s.%s", t[i].schema, t[i].name);
        int rc =
            source__my_tabinfo_read(conn, t[i].schema, t[i].name, &info, err);
        if (rc == CDC_ENOTFOUND) {
            cdc_err_clear(err);
            replicator_status_row(out, label, "does not exist");
            continue;
        }
        if (rc != CDC_OK)
            return rc;
        struct cdc_buf key;
        cdc_buf_init(&key, 0);
        for (size_t k = 0; k < info.nkey; k++) {
            if (k > 0)
                cdc_buf_append_str(&key, ", ");
            cdc_buf_append_str(&key, info.key[k]);
        }
        replicator_status_row(out, label,
                              "%zu columns, key %s, about %" PRIu64 " rows",
                              info.ncols,
                              info.nkey > 0 ? key.data
                                            : "none (rows matched on every "
                                              "column)",
                              info.est_rows);
        cdc_buf_release(&key);
        source__my_tabinfo_free(&info);
    }
    return CDC_OK;
}

int source__my_status(const struct cdc_conf *cfg, const char *group,
                      const char *saved, struct cdc_buf *out,
                      struct cdc_err *err)
{
    (void)group;
    struct source__my_settings st;
    source__my_settings_init(&st, cfg);
    struct source__my_table *tables = NULL;
    size_t ntables = 0;
    MYSQL *conn = NULL;
    int rc = source__my_tables_resolve(cfg, &tables, &ntables, err);
    if (rc == CDC_OK)
        rc = source__my_connect(&st, &conn, err);
    if (rc == CDC_OK)
        rc = settings_rows(conn, &st, out, err);
    if (rc == CDC_OK)
        rc = binlog_rows(conn, saved, out, err);
    if (rc == CDC_OK)
        rc = dump_rows(conn, out, err);
    if (rc == CDC_OK) {
        replicator_status_title(out, "tables");
        rc = table_rows(conn, tables, ntables, out, err);
    }
    if (conn != NULL)
        mysql_close(conn);
    source__my_tables_free(tables, ntables);
    return rc;
}

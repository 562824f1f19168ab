/*
 * status_postgres.c: the PostgreSQL part of `replicator status`: the
 * group's replication slot and the WAL it holds back, its publication and
 * tables, its DDL event triggers, and the progress of the initial copy as
 * the group's state bucket records it (the plan and per-range keys that
 * copy_postgres.c writes, read back here, since only this source knows
 * what its table OIDs name). It only reads: nothing is created or
 * changed, and an object that is missing is a row saying so, never an
 * error. Rows are "label\tvalue" lines (see source_ops.status), written
 * with status.h's helpers.
 */
#include "replicator/copy_text.h"
#include "replicator/replicator_int.h"
#include "replicator/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Tables of the publication listed one by one, at most; the rest are
 * counted. A status report is read by people, not parsed. */
#define MAX_TABLES_LISTED 100

/* ==== Rows ==== */

/* "1.2 MiB (1258291 bytes)", or "512 B" when units add nothing. */
static void bytes_text(int64_t bytes, char *out, size_t outsz)
{
    uint64_t b = bytes > 0 ? (uint64_t)bytes : 0;
    char human[32];
    cdc_size_format(b, human, sizeof(human));
    if (b < 1024)
        snprintf(out, outsz, "%s", human);
    else
        snprintf(out, outsz, "%s (%" PRIu64 " bytes)", human, b);
}

/* ==== Slot ==== */

static int slot_rows(PGconn *conn, const char *slot, struct cdc_buf *out,
                     struct cdc_err *err)
{
    const char *p[1] = {slot};
    PGresult *res = source__pg_run(
        conn,
        "SELECT s.slot_name IS NOT NULL, s.plugin, s.slot_type, s.database, "
        "current_database(), s.active, s.active_pid, s.confirmed_flush_lsn, "
        "s.restart_lsn, s.wal_status, "
        "pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::bigint, "
        "pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint, w.lsn, "
        "current_setting('wal_level') "
        "FROM (SELECT CASE WHEN pg_is_in_recovery() THEN "
        "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) w "
        "LEFT JOIN pg_replication_slots s ON s.slot_name = $1",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not look up replication slot \"%s\"",
                              slot);
    const char *wal_level = PQgetvalue(res, 0, 13);
    if (strcmp(wal_level, "logical") != 0)
        replicator_status_row(out, "wal_level",
                              "%s (logical replication needs logical)",
                              wal_level);
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        replicator_status_row(out, "replication slot", "%s: does not exist",
                              slot);
        PQclear(res);
        return CDC_OK;
    }
    replicator_status_row(out, "replication slot", "%s", slot);
    if (strcmp(PQgetvalue(res, 0, 2), "logical") != 0)
        replicator_status_row(out, "slot type",
                              "%s: not a slot of the replicator's",
                              PQgetvalue(res, 0, 2));
    else if (strcmp(PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4)) != 0)
        replicator_status_row(out, "slot database", "%s: not this database",
                              PQgetvalue(res, 0, 3));
    replicator_status_row(out, "active", "%s",
                          strcmp(PQgetvalue(res, 0, 5), "t") == 0 ? "yes"
                                                                  : "no");
    if (!PQgetisnull(res, 0, 6))
        replicator_status_row(out, "active pid", "%s", PQgetvalue(res, 0, 6));
    replicator_status_row(out, "plugin", "%s",
                          PQgetisnull(res, 0, 1) ? "none"
                                                 : PQgetvalue(res, 0, 1));
    replicator_status_row(out, "confirmed_flush_lsn", "%s",
                          PQgetisnull(res, 0, 7) ? "none"
                                                 : PQgetvalue(res, 0, 7));
    replicator_status_row(out, "restart_lsn", "%s",
                          PQgetisnull(res, 0, 8) ? "none"
                                                 : PQgetvalue(res, 0, 8));
    const char *ws = PQgetisnull(res, 0, 9) ? "unknown" : PQgetvalue(res, 0, 9);
    if (strcmp(ws, "lost") == 0)
        replicator_status_row(
            out, "wal_status",
            "lost: its WAL was removed; run the replicator with --resync");
    else
        replicator_status_row(out, "wal_status", "%s", ws);
    char text[64];
    int64_t v = 0;
    if (!PQgetisnull(res, 0, 10) &&
        cdc_parse_int(PQgetvalue(res, 0, 10), INT64_MIN, INT64_MAX, &v) ==
            CDC_OK) {
        bytes_text(v, text, sizeof(text));
        replicator_status_row(out, "lag", "%s behind %s", text,
                              PQgetvalue(res, 0, 12));
    } else {
        replicator_status_row(out, "lag", "unknown");
    }
    if (!PQgetisnull(res, 0, 11) &&
        cdc_parse_int(PQgetvalue(res, 0, 11), INT64_MIN, INT64_MAX, &v) ==
            CDC_OK) {
        bytes_text(v, text, sizeof(text));
        replicator_status_row(out, "retained WAL", "%s", text);
    } else {
        replicator_status_row(out, "retained WAL", "none");
    }
    PQclear(res);
    return CDC_OK;
}

/* ==== Publication ==== */

static bool table_eq(const struct source__pg_table *t, const char *schema,
                     const char *name)
{
    return strcmp(t->schema, schema) == 0 && strcmp(t->name, name) == 0;
}

static int publication_rows(PGconn *conn, const char *pub,
                            const struct source__pg_table *want, size_t nwant,
                            struct cdc_buf *out, struct cdc_err *err)
{
    const char *p[1] = {pub};
    PGresult *res = source__pg_run(
        conn,
        "SELECT t.schemaname, t.tablename FROM pg_publication p LEFT JOIN "
        "pg_publication_tables t ON t.pubname = p.pubname WHERE p.pubname = $1 "
        "ORDER BY 1, 2",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not look up publication \"%s\"", pub);
    int n = PQntuples(res);
    if (n == 0) {
        replicator_status_row(out, "publication", "%s: does not exist", pub);
        PQclear(res);
        return CDC_OK;
    }
    /* one row with NULLs: a publication without tables */
    int ntables = PQgetisnull(res, 0, 0) ? 0 : n;
    replicator_status_row(out, "publication", "%s (%d table%s)", pub, ntables,
                          ntables == 1 ? "" : "s");
    /* the first row of the list carries the label */
    const char *label = "tables";
    for (int i = 0; i < ntables && i < MAX_TABLES_LISTED; i++) {
        const char *schema = PQgetvalue(res, i, 0);
        const char *name = PQgetvalue(res, i, 1);
        bool wanted = nwant == 0;
        for (size_t k = 0; k < nwant && !wanted; k++)
            wanted = table_eq(&want[k], schema, name);
        replicator_status_row(out, label, "%s.%s%s", schema, name,
                              wanted ? "" : " (not in --tables)");
        label = "";
    }
    if (ntables > MAX_TABLES_LISTED)
        replicator_status_row(out, "", "and %d more",
                              ntables - MAX_TABLES_LISTED);
    /* the replicator brings the publication in line when it starts */
    for (size_t k = 0; k < nwant; k++) {
        bool found = false;
        for (int i = 0; i < ntables && !found; i++)
            found = table_eq(&want[k], PQgetvalue(res, i, 0),
                             PQgetvalue(res, i, 1));
        if (found)
            continue;
        replicator_status_row(out, label,
                              "%s.%s (in --tables, not published yet)",
                              want[k].schema, want[k].name);
        label = "";
    }
    if (label[0] != '\0')
        replicator_status_row(out, label, "none");
    PQclear(res);
    return CDC_OK;
}

/* ==== DDL event triggers ==== */

static int ddl_rows(PGconn *conn, const char *slot, struct cdc_buf *out,
                    struct cdc_err *err)
{
    bool found[SOURCE_PG_DDL_TRIGGERS];
    bool disabled[SOURCE_PG_DDL_TRIGGERS];
    int rc = source__pg_ddl_triggers(conn, slot, found, disabled, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not look up event triggers");
    bool any_disabled = false;
    size_t nfound = 0;
    for (size_t k = 0; k < SOURCE_PG_DDL_TRIGGERS; k++) {
        nfound += found[k];
        any_disabled = any_disabled || (found[k] && disabled[k]);
    }
    if (nfound == 0) {
        replicator_status_row(out, "DDL triggers", "not installed");
        return CDC_OK;
    }
    if (nfound == SOURCE_PG_DDL_TRIGGERS) {
        replicator_status_row(out, "DDL triggers", "installed (%s_ddl_*)%s",
                              slot, any_disabled ? ", disabled" : "");
        return CDC_OK;
    }
    struct cdc_buf missing;
    cdc_buf_init(&missing, 0);
    for (size_t k = 0; k < SOURCE_PG_DDL_TRIGGERS; k++) {
        if (found[k])
            continue;
        char name[SOURCE_PG_DDL_NAME_MAX];
        source__pg_ddl_trigger_name(slot, k, name, sizeof(name));
        if (missing.len > 0)
            cdc_buf_append_str(&missing, ", ");
        cdc_buf_append_str(&missing, name);
    }
    replicator_status_row(out, "DDL triggers", "partly installed: missing %s",
                          missing.data);
    cdc_buf_release(&missing);
    return CDC_OK;
}

/* ==== Initial copy ==== */

/* Ranges of one table that are recorded done in this plan's generation,
 * and the rows they hold. */
static int table_progress(struct cdc_js_kv *kv,
                          const struct source_copy_saved_plan *pl, size_t i,
                          size_t *done, size_t *total, uint64_t *rows,
                          struct cdc_err *err)
{
    size_t cap = (size_t)pl->workers * SOURCE_COPY_RANGES_PER_WORKER + 1;
    struct source_copy_range *ranges = cdc_xcalloc(cap, sizeof(*ranges));
    /* the same split as the copy made: its sizes and workers */
    size_t n = source_copy_plan(pl->nblocks[i], pl->workers, ranges, cap);
    struct cdc_buf val;
    cdc_buf_init(&val, 4096);
    int rc = CDC_OK;
    *done = 0;
    *total = n;
    *rows = 0;
    for (size_t k = 0; k < n && rc == CDC_OK; k++) {
        bool range_done = false;
        uint64_t r = 0;
        rc = source__pg_copy_range_read(kv, pl->oids[i], &ranges[k],
                                        pl->generation, &val, &range_done, &r,
                                        err);
        if (rc == CDC_OK && range_done) {
            (*done)++;
            *rows += r;
        }
    }
    cdc_buf_release(&val);
    cdc_free(ranges);
    return rc;
}

/* schema.name of a table OID, or a note that it is gone. */
static int table_label(PGconn *conn, uint32_t oid, char *out, size_t outsz,
                       struct cdc_err *err)
{
    char oidtext[16];
    snprintf(oidtext, sizeof(oidtext), "%" PRIu32, oid);
    const char *p[1] = {oidtext};
    PGresult *res = source__pg_run(conn,
                                   "SELECT n.nspname, c.relname FROM pg_class "
                                   "c JOIN pg_namespace n ON n.oid = "
                                   "c.relnamespace WHERE c.oid = $1::oid",
                                   1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not look up table %s", oidtext);
    if (PQntuples(res) == 0)
        snprintf(out, outsz, "table %s (dropped)", oidtext);
    else
        snprintf(out, outsz, "%s.%s", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
    PQclear(res);
    return CDC_OK;
}

static int plan_rows(PGconn *conn, struct cdc_js_kv *kv,
                     const struct source_copy_saved_plan *pl,
                     struct cdc_buf *out, struct cdc_err *err)
{
    struct cdc_buf table;
    cdc_buf_init(&table, 0);
    size_t all_done = 0;
    size_t all_total = 0;
    int rc = CDC_OK;
    cdc_buf_append_str(&table, "TABLE\tRANGES DONE\tROWS COPIED\n");
    for (size_t i = 0; i < pl->ntables && rc == CDC_OK; i++) {
        size_t done = 0;
        size_t total = 0;
        uint64_t rows = 0;
        char label[2 * CDC_NAME_MAX];
        rc = table_progress(kv, pl, i, &done, &total, &rows, err);
        if (rc == CDC_OK)
            rc = table_label(conn, pl->oids[i], label, sizeof(label), err);
        if (rc != CDC_OK)
            break;
        all_done += done;
        all_total += total;
        replicator_status_cell(&table, label);
        cdc_buf_printf(&table, "\t%zu/%zu\t", done, total);
        if (done > 0)
            cdc_buf_printf(&table, "%" PRIu64 "\n", rows);
        else
            cdc_buf_append_str(&table, "-\n");
    }
    if (rc == CDC_OK) {
        if (pl->done)
            replicator_status_row(out, "state", "done");
        else
            replicator_status_row(
                out, "state",
                "not finished: %zu of %zu ranges done (the replicator "
                "resumes it)",
                all_done, all_total);
        replicator_status_row(out, "position",
                              "%s (the snapshot the copy read)", pl->position);
        replicator_status_row(out, "tables", "%zu", pl->ntables);
        if (pl->ntables > 0)
            cdc_buf_append(out, table.data, table.len);
    }
    cdc_buf_release(&table);
    return rc;
}

/* The copy's progress from the group's state bucket, which is read only
 * when it exists (opening it would create it). */
static int copy_rows(const struct cdc_conf *cfg, const char *group,
                     PGconn *conn, struct cdc_buf *out, struct cdc_err *err)
{
    struct cdc_js *js = NULL;
    struct cdc_js_kv *kv = NULL;
    struct cdc_js_opts jo;
    struct cdc_buf val;
    struct source_copy_saved_plan pl;
    char conn_name[CDC_NAME_MAX];
    char bucket[CDC_NAME_MAX];
    char kvstream[CDC_NAME_MAX + 8];
    memset(&pl, 0, sizeof(pl));
    cdc_buf_init(&val, 1 << 20);
    snprintf(conn_name, sizeof(conn_name), "tributary-status-%s", group);
    cdc_name_kv(group, bucket, sizeof(bucket));
    snprintf(kvstream, sizeof(kvstream), "KV_%s", bucket);
    replicator_status_title(out, "initial copy");
    cdc_js_opts_from_conf(cfg, conn_name, &jo);
    int rc = cdc_js_open(&jo, &js, err);
    if (rc == CDC_OK)
        rc = cdc_js_stream_info(js, kvstream, NULL, NULL, err);
    if (rc == CDC_OK)
        rc = cdc_js_kv_open(js, bucket, &kv, err);
    if (rc == CDC_OK)
        rc = cdc_js_kv_get(kv, SOURCE_COPY_PLAN_KEY, &val, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        replicator_status_row(out, "state", "none recorded");
        rc = CDC_OK;
        goto out;
    }
    if (rc != CDC_OK)
        goto out;
    if (source_copy_saved_plan_parse(val.data != NULL ? val.data : "", &pl,
                                     err) != CDC_OK) {
        cdc_err_clear(err);
        replicator_status_row(out, "state",
                              "the plan (key \"%s\") cannot be read",
                              SOURCE_COPY_PLAN_KEY);
        goto out;
    }
    rc = plan_rows(conn, kv, &pl, out, err);
out:
    source_copy_saved_plan_release(&pl);
    cdc_buf_release(&val);
    cdc_js_kv_close(kv);
    cdc_js_close(js);
    return rc;
}

/* ==== Entry ==== */

int source__pg_status(const struct cdc_conf *cfg, const char *group,
                      const char *saved, struct cdc_buf *out,
                      struct cdc_err *err)
{
    (void)saved; /* the slot's confirmed position says more */
    struct source__pg_settings st;
    struct source__pg_table *want = NULL;
    size_t nwant = 0;
    PGconn *conn = NULL;
    char slot[CDC_NAME_MAX];
    cdc_name_pg(group, slot, sizeof(slot));
    source__pg_settings_init(&st, cfg);
    int rc = source__pg_tables_resolve(cfg, &want, &nwant, err);
    if (rc == CDC_OK)
        rc = source__pg_connect(st.kw, st.val, false, "tributary-status", &conn,
                                err);
    if (rc != CDC_OK)
        goto out;
    const char *version = PQparameterStatus(conn, "server_version");
    replicator_status_row(out, "database", "%s on %s:%s, PostgreSQL %s",
                          PQdb(conn), PQhost(conn), PQport(conn),
                          version != NULL ? version : "?");
    rc = slot_rows(conn, slot, out, err);
    if (rc == CDC_OK)
        rc = publication_rows(conn, slot, want, nwant, out, err);
    if (rc == CDC_OK)
        rc = ddl_rows(conn, slot, out, err);
    if (rc == CDC_OK)
        rc = copy_rows(cfg, group, conn, out, err);
out:
    if (conn != NULL)
        PQfinish(conn);
    source__pg_tables_free(want, nwant);
    return rc;
}

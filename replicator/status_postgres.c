/*
 * status_postgres.c: the PostgreSQL part of `replicator status`: the
 * group's replication slot and the WAL it holds back, its publication and
 * tables, its DDL event triggers, and the progress of the initial copy as
 * the group's state bucket records it (the plan and per-range keys that
 * copy_postgres.c writes, read back here, since only this source knows
 * what its table OIDs name). It only reads: nothing is created or
 * changed, and an object that is missing is a row saying so, never an
 * error. Rows are "label\tvalue" lines (see source_ops.status).
 */
#include "replicator/copy_text.h"
#include "replicator/replicator_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The copy plan's key in the state bucket (copy_postgres.c). */
#define PLAN_KEY "copy.plan"
/* Tables of the publication listed one by one, at most; the rest are
 * counted. A status report is read by people, not parsed. */
#define MAX_TABLES_LISTED 100
/* More workers than --max-copy-workers-per-table allows means the plan is
 * not one the copy wrote; it would only size the range split here. */
#define MAX_PLAN_WORKERS 1024

/* The group's event triggers are "<slot>_ddl_<kind>" (ddl_postgres.c). */
static const char *const TRIGGER_KINDS[] = {"end", "drop", "start"};
#define NKINDS (sizeof(TRIGGER_KINDS) / sizeof(TRIGGER_KINDS[0]))

/* ==== Rows ==== */

/* Appends s as one cell: a tab or a line break would end it early. */
static void cell(struct cdc_buf *out, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        bool space = *p == '\t' || *p == '\n' || *p == '\r';
        cdc_buf_append_char(out, space ? ' ' : *p);
    }
}

static void title(struct cdc_buf *out, const char *s)
{
    cell(out, s);
    cdc_buf_append_char(out, '\n');
}

static void row(struct cdc_buf *out, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row(struct cdc_buf *out, const char *label, const char *fmt, ...)
{
    char val[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    cell(out, label);
    cdc_buf_append_char(out, '\t');
    cell(out, val);
    cdc_buf_append_char(out, '\n');
}

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

/* ==== Connection ==== */

/* libpq keywords from the source options, as the replicator itself
 * connects (source_postgres.c); the password is passed to libpq and
 * nowhere else. */
struct conn_settings {
    const char *kw[8];
    const char *val[8];
    char port[16];
};

static void set_kw(struct conn_settings *c, size_t *n, const char *k,
                   const char *v)
{
    if (v == NULL || *v == '\0')
        return;
    c->kw[*n] = k;
    c->val[*n] = v;
    (*n)++;
}

static void conn_settings(const struct cdc_conf *cfg, struct conn_settings *c)
{
    size_t n = 0;
    memset(c, 0, sizeof(*c));
    if (cdc_conf_is_set(cfg, "port"))
        snprintf(c->port, sizeof(c->port), "%lld",
                 (long long)cdc_conf_get_int(cfg, "port"));
    set_kw(c, &n, "host", cdc_conf_get_str(cfg, "host"));
    set_kw(c, &n, "port", c->port);
    set_kw(c, &n, "user", cdc_conf_get_str(cfg, "user"));
    set_kw(c, &n, "password", cdc_conf_get_str(cfg, "password"));
    /* dbname last: a connection string in it may override the others */
    set_kw(c, &n, "dbname", cdc_conf_get_str(cfg, "dbname"));
    c->kw[n] = NULL;
    c->val[n] = NULL;
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
        row(out, "wal_level", "%s (logical replication needs logical)",
            wal_level);
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        row(out, "replication slot", "%s: does not exist", slot);
        PQclear(res);
        return CDC_OK;
    }
    row(out, "replication slot", "%s", slot);
    if (strcmp(PQgetvalue(res, 0, 2), "logical") != 0)
        row(out, "slot type", "%s: not a slot of the replicator's",
            PQgetvalue(res, 0, 2));
    else if (strcmp(PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4)) != 0)
        row(out, "slot database", "%s: not this database",
            PQgetvalue(res, 0, 3));
    row(out, "active", "%s",
        strcmp(PQgetvalue(res, 0, 5), "t") == 0 ? "yes" : "no");
    if (!PQgetisnull(res, 0, 6))
        row(out, "active pid", "%s", PQgetvalue(res, 0, 6));
    row(out, "plugin", "%s",
        PQgetisnull(res, 0, 1) ? "none" : PQgetvalue(res, 0, 1));
    row(out, "confirmed_flush_lsn", "%s",
        PQgetisnull(res, 0, 7) ? "none" : PQgetvalue(res, 0, 7));
    row(out, "restart_lsn", "%s",
        PQgetisnull(res, 0, 8) ? "none" : PQgetvalue(res, 0, 8));
    const char *ws = PQgetisnull(res, 0, 9) ? "unknown" : PQgetvalue(res, 0, 9);
    if (strcmp(ws, "lost") == 0)
        row(out, "wal_status",
            "lost: its WAL was removed; run the replicator with --resync");
    else
        row(out, "wal_status", "%s", ws);
    char text[64];
    int64_t v = 0;
    if (!PQgetisnull(res, 0, 10) &&
        cdc_parse_int(PQgetvalue(res, 0, 10), INT64_MIN, INT64_MAX, &v) ==
            CDC_OK) {
        bytes_text(v, text, sizeof(text));
        row(out, "lag", "%s behind %s", text, PQgetvalue(res, 0, 12));
    } else {
        row(out, "lag", "unknown");
    }
    if (!PQgetisnull(res, 0, 11) &&
        cdc_parse_int(PQgetvalue(res, 0, 11), INT64_MIN, INT64_MAX, &v) ==
            CDC_OK) {
        bytes_text(v, text, sizeof(text));
        row(out, "retained WAL", "%s", text);
    } else {
        row(out, "retained WAL", "none");
    }
    PQclear(res);
    return CDC_OK;
}

/* ==== Publication ==== */

struct qname {
    const char *schema;
    const char *name;
};

/* The tables --tables names, "name" read in --schema. Items keep
 * pointing into cfg; *n is 0 without --tables. */
static int wanted_tables(const struct cdc_conf *cfg, struct qname **out,
                         char ***owned, size_t *n, struct cdc_err *err)
{
    const char *const *items = NULL;
    size_t count = cdc_conf_get_list(cfg, "tables", &items);
    const char *schema = cdc_conf_get_str(cfg, "schema");
    struct qname *t = cdc_xcalloc(count ? count : 1, sizeof(*t));
    char **names = cdc_xcalloc(count ? count : 1, sizeof(*names));
    *out = t;
    *owned = names;
    *n = count;
    for (size_t i = 0; i < count; i++) {
        const char *dot = strchr(items[i], '.');
        if (dot != NULL) {
            names[i] = cdc_xstrndup(items[i], (size_t)(dot - items[i]));
            t[i] = (struct qname){names[i], dot + 1};
        } else {
            t[i] = (struct qname){schema, items[i]};
        }
        if (t[i].schema[0] == '\0' || t[i].name[0] == '\0')
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "invalid table name \"%s\" in tables", items[i]);
    }
    return CDC_OK;
}

static bool qname_eq(const struct qname *q, const char *schema,
                     const char *name)
{
    return strcmp(q->schema, schema) == 0 && strcmp(q->name, name) == 0;
}

static int publication_rows(PGconn *conn, const char *pub,
                            const struct qname *want, size_t nwant,
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
        row(out, "publication", "%s: does not exist", pub);
        PQclear(res);
        return CDC_OK;
    }
    /* one row with NULLs: a publication without tables */
    int ntables = PQgetisnull(res, 0, 0) ? 0 : n;
    row(out, "publication", "%s (%d table%s)", pub, ntables,
        ntables == 1 ? "" : "s");
    /* the first row of the list carries the label */
    const char *label = "tables";
    for (int i = 0; i < ntables && i < MAX_TABLES_LISTED; i++) {
        const char *schema = PQgetvalue(res, i, 0);
        const char *name = PQgetvalue(res, i, 1);
        bool wanted = nwant == 0;
        for (size_t k = 0; k < nwant && !wanted; k++)
            wanted = qname_eq(&want[k], schema, name);
        row(out, label, "%s.%s%s", schema, name,
            wanted ? "" : " (not in --tables)");
        label = "";
    }
    if (ntables > MAX_TABLES_LISTED)
        row(out, "", "and %d more", ntables - MAX_TABLES_LISTED);
    /* the replicator brings the publication in line when it starts */
    for (size_t k = 0; k < nwant; k++) {
        bool found = false;
        for (int i = 0; i < ntables && !found; i++)
            found = qname_eq(&want[k], PQgetvalue(res, i, 0),
                             PQgetvalue(res, i, 1));
        if (found)
            continue;
        row(out, label, "%s.%s (in --tables, not published yet)",
            want[k].schema, want[k].name);
        label = "";
    }
    if (label[0] != '\0')
        row(out, label, "none");
    PQclear(res);
    return CDC_OK;
}

/* ==== DDL event triggers ==== */

static int ddl_rows(PGconn *conn, const char *slot, struct cdc_buf *out,
                    struct cdc_err *err)
{
    char prefix[CDC_NAME_MAX + 8];
    snprintf(prefix, sizeof(prefix), "%s_ddl_", slot);
    const char *p[1] = {prefix};
    PGresult *res =
        source__pg_run(conn,
                       "SELECT substr(evtname, length($1) + 1), evtenabled "
                       "FROM pg_catalog.pg_event_trigger "
                       "WHERE left(evtname, length($1)) = $1",
                       1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not look up event triggers");
    bool found[NKINDS] = {false};
    bool disabled = false;
    size_t nfound = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        for (size_t k = 0; k < NKINDS; k++) {
            if (!found[k] &&
                strcmp(PQgetvalue(res, i, 0), TRIGGER_KINDS[k]) == 0) {
                found[k] = true;
                nfound++;
                disabled = disabled || PQgetvalue(res, i, 1)[0] == 'D';
            }
        }
    }
    PQclear(res);
    if (nfound == 0) {
        row(out, "DDL triggers", "not installed");
        return CDC_OK;
    }
    if (nfound == NKINDS) {
        row(out, "DDL triggers", "installed (%s_ddl_*)%s", slot,
            disabled ? ", disabled" : "");
        return CDC_OK;
    }
    struct cdc_buf missing;
    cdc_buf_init(&missing, 0);
    for (size_t k = 0; k < NKINDS; k++) {
        if (found[k])
            continue;
        if (missing.len > 0)
            cdc_buf_append_str(&missing, ", ");
        cdc_buf_printf(&missing, "%s_ddl_%s", slot, TRIGGER_KINDS[k]);
    }
    row(out, "DDL triggers", "partly installed: missing %s", missing.data);
    cdc_buf_release(&missing);
    return CDC_OK;
}

/* ==== Initial copy ==== */

/* The copy plan as copy_postgres.c writes it: "generation G", "position
 * P", "workers W", "done D", then "table OID NBLOCKS" per table. */
struct plan {
    char generation[24];
    char position[32];
    unsigned workers;
    bool done;
    uint32_t *oids;
    uint64_t *nblocks;
    size_t ntables;
};

static void plan_release(struct plan *pl)
{
    cdc_free(pl->oids);
    cdc_free(pl->nblocks);
}

/* False when the text is not a plan. */
static bool plan_parse(const char *text, struct plan *pl)
{
    size_t cap = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[160];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        unsigned u = 0;
        int d = 0;
        uint32_t oid = 0;
        uint64_t nb = 0;
        if (sscanf(line, "generation %23s", pl->generation) == 1 ||
            sscanf(line, "position %31s", pl->position) == 1) {
            /* read into the plan */
        } else if (sscanf(line, "workers %u", &u) == 1) {
            pl->workers = u;
        } else if (sscanf(line, "done %d", &d) == 1) {
            pl->done = d != 0;
        } else if (sscanf(line, "table %" SCNu32 " %" SCNu64, &oid, &nb) == 2) {
            if (pl->ntables == cap) {
                cap = cap ? cap * 2 : 8;
                pl->oids = cdc_xrealloc(pl->oids, cap * sizeof(*pl->oids));
                pl->nblocks =
                    cdc_xrealloc(pl->nblocks, cap * sizeof(*pl->nblocks));
            }
            pl->oids[pl->ntables] = oid;
            pl->nblocks[pl->ntables++] = nb;
        } else if (len > 0) {
            return false;
        }
        p += len + (nl != NULL);
    }
    return pl->generation[0] != '\0' && pl->workers > 0 &&
           pl->workers <= MAX_PLAN_WORKERS;
}

/* Ranges of one table that are recorded done in this plan's generation,
 * and the rows they hold. */
static int table_progress(struct cdc_js_kv *kv, const struct plan *pl, size_t i,
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
        char key[SOURCE_COPY_KEY_MAX];
        source_copy_range_key(pl->oids[i], &ranges[k], key, sizeof(key));
        rc = cdc_js_kv_get(kv, key, &val, NULL, err);
        if (rc == CDC_ENOTFOUND) {
            cdc_err_clear(err);
            rc = CDC_OK;
            continue;
        }
        char gen[24] = "";
        unsigned long long r = 0;
        if (rc == CDC_OK && val.data != NULL &&
            sscanf(val.data, "generation %23s rows %llu", gen, &r) == 2 &&
            strcmp(gen, pl->generation) == 0) {
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

static int plan_rows(PGconn *conn, struct cdc_js_kv *kv, const struct plan *pl,
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
        cell(&table, label);
        cdc_buf_printf(&table, "\t%zu/%zu\t", done, total);
        if (done > 0)
            cdc_buf_printf(&table, "%" PRIu64 "\n", rows);
        else
            cdc_buf_append_str(&table, "-\n");
    }
    if (rc == CDC_OK) {
        if (pl->done)
            row(out, "state", "done");
        else
            row(out, "state",
                "not finished: %zu of %zu ranges done (the replicator "
                "resumes it)",
                all_done, all_total);
        row(out, "position", "%s (the snapshot the copy read)",
            pl->position[0] != '\0' ? pl->position : "none");
        row(out, "tables", "%zu", pl->ntables);
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
    struct plan pl;
    char conn_name[CDC_NAME_MAX];
    char bucket[CDC_NAME_MAX];
    char kvstream[CDC_NAME_MAX + 8];
    memset(&pl, 0, sizeof(pl));
    cdc_buf_init(&val, 1 << 20);
    snprintf(conn_name, sizeof(conn_name), "tributary-status-%s", group);
    cdc_name_kv(group, bucket, sizeof(bucket));
    snprintf(kvstream, sizeof(kvstream), "KV_%s", bucket);
    title(out, "initial copy");
    cdc_js_opts_from_conf(cfg, conn_name, &jo);
    int rc = cdc_js_open(&jo, &js, err);
    if (rc == CDC_OK)
        rc = cdc_js_stream_info(js, kvstream, NULL, NULL, err);
    if (rc == CDC_OK)
        rc = cdc_js_kv_open(js, bucket, &kv, err);
    if (rc == CDC_OK)
        rc = cdc_js_kv_get(kv, PLAN_KEY, &val, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        row(out, "state", "none recorded");
        rc = CDC_OK;
        goto out;
    }
    if (rc != CDC_OK)
        goto out;
    if (!plan_parse(val.data != NULL ? val.data : "", &pl)) {
        row(out, "state", "the plan (key \"%s\") cannot be read", PLAN_KEY);
        goto out;
    }
    rc = plan_rows(conn, kv, &pl, out, err);
out:
    plan_release(&pl);
    cdc_buf_release(&val);
    cdc_js_kv_close(kv);
    cdc_js_close(js);
    return rc;
}

/* ==== Entry ==== */

int source__pg_status(const struct cdc_conf *cfg, const char *group,
                      struct cdc_buf *out, struct cdc_err *err)
{
    struct conn_settings cs;
    struct qname *want = NULL;
    char **owned = NULL;
    size_t nwant = 0;
    PGconn *conn = NULL;
    char slot[CDC_NAME_MAX];
    cdc_name_pg(group, slot, sizeof(slot));
    conn_settings(cfg, &cs);
    int rc = wanted_tables(cfg, &want, &owned, &nwant, err);
    if (rc == CDC_OK)
        rc = source__pg_connect(cs.kw, cs.val, false, "tributary-status", &conn,
                                err);
    if (rc != CDC_OK)
        goto out;
    const char *version = PQparameterStatus(conn, "server_version");
    row(out, "database", "%s on %s:%s, PostgreSQL %s", PQdb(conn), PQhost(conn),
        PQport(conn), version != NULL ? version : "?");
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
    for (size_t i = 0; i < nwant; i++)
        cdc_free(owned[i]);
    cdc_free(owned);
    cdc_free(want);
    return rc;
}

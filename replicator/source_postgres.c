/*
 * source_postgres.c: PostgreSQL logical replication with pgoutput.
 * It creates the group's publication and slot when missing, brings the
 * publication in line with --tables, streams with protocol 1 (2 with
 * --stream-in-progress: large transactions spooled until they commit), holds
 * back one change so the last change of each transaction can be marked tx_end,
 * and reports a flush LSN to the server only for transactions the
 * replicator says JetStream has stored. While nothing of ours is pending it
 * confirms the server's WAL position from keepalives, so an idle slot never
 * holds WAL back. Lost connections are reopened by the next poll, resuming
 * at the slot's confirmed position.
 */
#include "replicator/pg_spool.h"
#include "replicator/pgoutput.h"
#include "replicator/replicator_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

static const struct cdc_opt pg_options[] = {
    {"host", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source host (default: PGHOST or the local socket; mysql: localhost)"},
    {"port", CDC_OPT_INT, NULL, 1, 65535, 0,
     "source port (default: PGPORT or 5432; mysql: 3306)"},
    {"dbname", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source database, or a libpq connection string or URI (mysql: the "
     "database of tables named without one)"},
    {"user", CDC_OPT_STRING, NULL, 0, 0, 0, "source user (default: PGUSER)"},
    {"password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "source password (default: PGPASSWORD or ~/.pgpass)"},
    {"schema", CDC_OPT_STRING, "public", 0, 0, 0,
     "schema of the tables named without one"},
    {"tables", CDC_OPT_LIST, NULL, 0, 0, 0,
     "tables to capture (name or schema.name), comma-separated; "
     "default: every table of --schema (mysql: required, db.name)"},
    {"stream-in-progress", CDC_OPT_BOOL, "false", 0, 0, 0,
     "postgres: have the server stream transactions larger than its "
     "logical_decoding_work_mem before they commit; they wait in files "
     "under TMPDIR until their commit, instead of in the source's "
     "pg_replslot"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* Header of an XLogData ('w') frame: type, dataStart, walEnd, sendTime. */
#define XLOGDATA_HDR 25
/* A keepalive ('k'): type, walEnd, sendTime, replyRequested. */
#define KEEPALIVE_LEN 18
/* The slot's retained WAL is measured this often while metrics are
 * served. */
#define LAG_INTERVAL_MS 5000
/* Microseconds from the Unix epoch to 2000-01-01. */
#define PG_EPOCH_OFFSET_US (INT64_C(946684800) * 1000000)
/* Status to the server at least this often, well inside the default
 * wal_sender_timeout of 60 s. */
#define STATUS_MAX_INTERVAL_MS 10000
/* Inside a transaction, a poll that has read all there is waits this long
 * once for the rest of the transaction to come in, so a large transaction
 * goes in large batches (fewer wake-ups and larger packs). Between
 * transactions it goes at once, unless the source is busy: the last batch
 * went less than BUSY_MS ago. Then it waits as long for the transactions
 * that are about to follow, which share its message: on a loaded machine,
 * one message for several small transactions instead of one each costs
 * the bus and the worker far less, and shortens the tail of the latency
 * more than the wait lengthens it. */
#define TX_GATHER_MS 1
#define BUSY_MS 3

struct pg_src {
    /* settings */
    struct source__pg_settings settings;
    char slot[CDC_NAME_MAX];
    char *schema;
    struct source__pg_table *tables;
    size_t ntables;
    int64_t status_interval_ms;

    PGconn *repl; /* replication connection, NULL when down */
    PGconn *sql;  /* catalog queries (keys of FULL identity tables) */
    struct source_pgo *dec;

    /* the held-back change and where it lives between polls */
    struct cdc_arena batch_arena;
    struct cdc_arena hold_arena;
    struct cdc_event *held;

    uint64_t confirmed;      /* flush LSN reported to the server */
    uint64_t last_emitted;   /* token of the last checkpoint emitted */
    uint64_t last_acked;     /* token of the last checkpoint acked */
    bool any_emitted;        /* a checkpoint was emitted since reset */
    uint64_t server_wal_end; /* from keepalives */
    int64_t last_status_ms;
    uint64_t last_status_lsn;
    bool reply_requested;
    bool slot_exists;
    bool track_ddl;
    /* the group's last confirmed position before this run (0: none) */
    uint64_t saved;
    int64_t heartbeat_ms; /* --heartbeat-interval, 0: none */
    int64_t last_heartbeat_ms;
    int64_t last_lag_ms;
    int64_t last_batch_ms; /* when a poll last returned events */
    struct cdc_metric *m_lag;
    struct cdc_metric *m_heartbeats;
    struct source__pg_ddl_tx ddl_tx;
    /* protocol 2: large transactions come before their commit and wait in
     * the spool; a committed one is read back into batches before
     * anything after it */
    bool want_streams; /* --stream-in-progress */
    bool streams;
    struct source_spool *spool;
    struct source_pgo_stream replay_commit;
};

/* ==== Connections ==== */

static void set_kw(struct source__pg_settings *st, size_t *n, const char *k,
                   const char *v)
{
    if (v == NULL || *v == '\0')
        return;
    st->kw[*n] = k;
    st->val[*n] = v;
    (*n)++;
}

void source__pg_settings_init(struct source__pg_settings *st,
                              const struct cdc_conf *cfg)
{
    size_t n = 0;
    memset(st, 0, sizeof(*st));
    if (cdc_conf_is_set(cfg, "port"))
        snprintf(st->port, sizeof(st->port), "%lld",
                 (long long)cdc_conf_get_int(cfg, "port"));
    set_kw(st, &n, "host", cdc_conf_get_str(cfg, "host"));
    set_kw(st, &n, "port", st->port);
    set_kw(st, &n, "user", cdc_conf_get_str(cfg, "user"));
    set_kw(st, &n, "password", cdc_conf_get_str(cfg, "password"));
    /* dbname last: with expand_dbname a connection string in it may
     * override the keywords before it */
    set_kw(st, &n, "dbname", cdc_conf_get_str(cfg, "dbname"));
    st->kw[n] = NULL;
    st->val[n] = NULL;
}

int source__pg_connect(const char *const *skw, const char *const *sval,
                       bool replication, const char *app, PGconn **out,
                       struct cdc_err *err)
{
    size_t n = 0;
    while (skw[n] != NULL && n < 12)
        n++;
    const char *kw[16];
    const char *val[16];
    memcpy(kw, skw, n * sizeof(*kw));
    memcpy(val, sval, n * sizeof(*val));
    kw[n] = "application_name";
    val[n++] = app;
    /* values leave the source in forms that read back the same anywhere:
     * ISO dates, postgres intervals, floats with every digit */
    kw[n] = "options";
    val[n++] = "-c datestyle=ISO -c intervalstyle=postgres "
               "-c extra_float_digits=3";
    if (replication) {
        kw[n] = "replication";
        val[n++] = "database";
    }
    kw[n] = NULL;
    val[n] = NULL;
    /* expand_dbname: --dbname may be a whole connection string or URI */
    PGconn *conn = PQconnectdbParams(kw, val, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        bool retriable = cdc_db_connect_retriable(msg);
        PQfinish(conn);
        return cdc_err_set(err, CDC_EIO, retriable ? CDC_ERR_RETRIABLE : 0,
                           "could not connect to source PostgreSQL: %s", msg);
    }
    *out = conn;
    return CDC_OK;
}

static int pg_connect(struct pg_src *s, bool replication, PGconn **out,
                      struct cdc_err *err)
{
    return source__pg_connect(
        s->settings.kw, s->settings.val, replication,
        replication ? "tributary-replicator" : "tributary-catalog", out, err);
}

/* The catalog connection, opened again if it was lost. */
static int sql_ready(struct pg_src *s, struct cdc_err *err)
{
    if (s->sql != NULL && PQstatus(s->sql) == CONNECTION_OK)
        return CDC_OK;
    PQfinish(s->sql);
    s->sql = NULL;
    return pg_connect(s, false, &s->sql, err);
}

PGresult *source__pg_run(PGconn *conn, const char *sql, int nparams,
                         const char *const *params, struct cdc_err *err)
{
    PGresult *res =
        PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        unsigned flags =
            PQstatus(conn) == CONNECTION_BAD ? CDC_ERR_RETRIABLE : 0;
        cdc_err_set(err, CDC_EIO, flags, "%s", msg);
        PQclear(res);
        return NULL;
    }
    return res;
}

void source__pg_append_ident(struct cdc_buf *b, PGconn *conn, const char *name)
{
    char *q = PQescapeIdentifier(conn, name, strlen(name));
    cdc_buf_append_str(b, q ? q : "\"\"");
    PQfreemem(q);
}

/* ==== Publication and slot ==== */

int source__pg_tables_resolve(const struct cdc_conf *cfg,
                              struct source__pg_table **out, size_t *n,
                              struct cdc_err *err)
{
    const char *const *items = NULL;
    size_t count = cdc_conf_get_list(cfg, "tables", &items);
    const char *schema = cdc_conf_get_str(cfg, "schema");
    struct source__pg_table *tables =
        cdc_xcalloc(count ? count : 1, sizeof(*tables));
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        const char *dot = strchr(items[i], '.');
        struct source__pg_table *t = &tables[i];
        if (dot != NULL) {
            t->schema = cdc_xstrndup(items[i], (size_t)(dot - items[i]));
            t->name = cdc_xstrdup(dot + 1);
        } else {
            t->schema = cdc_xstrdup(schema);
            t->name = cdc_xstrdup(items[i]);
        }
        if (t->schema[0] == '\0' || t->name[0] == '\0') {
            source__pg_tables_free(tables, i + 1);
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "invalid table name \"%s\" in tables", items[i]);
        }
    }
    *out = tables;
    *n = count;
    return CDC_OK;
}

void source__pg_tables_free(struct source__pg_table *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cdc_free(t[i].schema);
        cdc_free(t[i].name);
    }
    cdc_free(t);
}

static int check_tables(struct pg_src *s, struct cdc_err *err)
{
    for (size_t i = 0; i < s->ntables; i++) {
        const char *p[2] = {s->tables[i].schema, s->tables[i].name};
        PGresult *res =
            source__pg_run(s->sql,
                           "SELECT 1 FROM pg_class c JOIN pg_namespace n ON "
                           "n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                           "c.relname = $2 AND c.relkind IN ('r', 'p')",
                           2, p, err);
        if (res == NULL)
            return cdc_err_prefix(err, "could not look up table \"%s.%s\"",
                                  p[0], p[1]);
        int found = PQntuples(res);
        PQclear(res);
        if (found == 0)
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "table \"%s\".\"%s\" does not exist in the "
                               "source database",
                               p[0], p[1]);
    }
    return CDC_OK;
}

static void append_table_list(struct pg_src *s, struct cdc_buf *b)
{
    for (size_t i = 0; i < s->ntables; i++) {
        if (i > 0)
            cdc_buf_append_str(b, ", ");
        source__pg_append_ident(b, s->sql, s->tables[i].schema);
        cdc_buf_append_char(b, '.');
        source__pg_append_ident(b, s->sql, s->tables[i].name);
    }
}

/* Whether the publication holds exactly the wanted tables. */
static int publication_matches(struct pg_src *s, bool *match,
                               struct cdc_err *err)
{
    const char *p[1] = {s->slot};
    PGresult *res = source__pg_run(s->sql,
                                   "SELECT schemaname, tablename FROM "
                                   "pg_publication_tables WHERE pubname = $1",
                                   1, p, err);
    if (res == NULL)
        return CDC_EIO;
    int n = PQntuples(res);
    *match = (size_t)n == s->ntables;
    for (int r = 0; r < n && *match; r++) {
        bool found = false;
        for (size_t i = 0; i < s->ntables && !found; i++)
            found = strcmp(PQgetvalue(res, r, 0), s->tables[i].schema) == 0 &&
                    strcmp(PQgetvalue(res, r, 1), s->tables[i].name) == 0;
        *match = found;
    }
    PQclear(res);
    return CDC_OK;
}

static int ensure_publication(struct pg_src *s, struct cdc_err *err)
{
    const char *p[1] = {s->slot};
    struct cdc_buf sql;
    int rc = CDC_OK;
    cdc_buf_init(&sql, 0);
    PGresult *res =
        source__pg_run(s->sql,
                       "SELECT puballtables FROM pg_publication WHERE "
                       "pubname = $1",
                       1, p, err);
    if (res == NULL) {
        rc = cdc_err_prefix(err, "could not look up publication \"%s\"",
                            s->slot);
        goto out;
    }
    bool exists = PQntuples(res) > 0;
    PQclear(res);

    if (!exists) {
        cdc_buf_append_str(&sql, "CREATE PUBLICATION ");
        source__pg_append_ident(&sql, s->sql, s->slot);
        if (s->ntables > 0) {
            cdc_buf_append_str(&sql, " FOR TABLE ");
            append_table_list(s, &sql);
        } else {
            cdc_buf_append_str(&sql, " FOR TABLES IN SCHEMA ");
            source__pg_append_ident(&sql, s->sql, s->schema);
        }
        res = source__pg_run(s->sql, sql.data, 0, NULL, err);
        if (res == NULL) {
            rc = cdc_err_prefix(err, "could not create publication \"%s\"",
                                s->slot);
            goto out;
        }
        PQclear(res);
        cdc_log(CDC_LOG_INFO, "postgres", "created publication \"%s\"",
                s->slot);
        goto out;
    }
    if (s->ntables == 0)
        goto out;
    bool match = false;
    rc = publication_matches(s, &match, err);
    if (rc != CDC_OK || match)
        goto out;
    cdc_buf_append_str(&sql, "ALTER PUBLICATION ");
    source__pg_append_ident(&sql, s->sql, s->slot);
    cdc_buf_append_str(&sql, " SET TABLE ");
    append_table_list(s, &sql);
    res = source__pg_run(s->sql, sql.data, 0, NULL, err);
    if (res == NULL) {
        rc =
            cdc_err_prefix(err, "could not change publication \"%s\"", s->slot);
        goto out;
    }
    PQclear(res);
    cdc_log(CDC_LOG_INFO, "postgres",
            "publication \"%s\" changed to the tables now configured", s->slot);
out:
    cdc_buf_release(&sql);
    return rc;
}

/* What the server says of the group's slot. */
struct slot_info {
    bool exists;
    bool ours;   /* a pgoutput slot of this database */
    bool active; /* a walsender holds it */
    char active_pid[16];
    char wal_status[16];
    uint64_t confirmed;
    uint64_t current; /* the server's WAL position now */
};

static int slot_info(struct pg_src *s, struct slot_info *si,
                     struct cdc_err *err)
{
    const char *p[1] = {s->slot};
    memset(si, 0, sizeof(*si));
    PGresult *res = source__pg_run(
        s->sql,
        "SELECT pg_current_wal_lsn(), s.plugin = 'pgoutput' AND "
        "s.database = current_database(), s.active_pid, s.wal_status, "
        "s.confirmed_flush_lsn FROM (SELECT 1) one LEFT JOIN "
        "pg_replication_slots s ON s.slot_name = $1",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not look up replication slot \"%s\"",
                              s->slot);
    cdc_lsn_parse(PQgetvalue(res, 0, 0), &si->current);
    si->exists = !PQgetisnull(res, 0, 1);
    si->ours = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    si->active = !PQgetisnull(res, 0, 2);
    snprintf(si->active_pid, sizeof(si->active_pid), "%s",
             PQgetvalue(res, 0, 2));
    snprintf(si->wal_status, sizeof(si->wal_status), "%s",
             PQgetvalue(res, 0, 3));
    if (!PQgetisnull(res, 0, 4))
        cdc_lsn_parse(PQgetvalue(res, 0, 4), &si->confirmed);
    PQclear(res);
    return CDC_OK;
}

/* The error of a slot that is gone or lost its WAL: the changes between
 * what the group confirmed and the server's position now are lost to it,
 * and only a fresh copy mends that. */
static int slot_lost(struct pg_src *s, const char *what, uint64_t from,
                     uint64_t now, struct cdc_err *err)
{
    char a[32];
    char b[32];
    char gap[32];
    cdc_lsn_format(from, a, sizeof(a));
    cdc_lsn_format(now, b, sizeof(b));
    cdc_size_format(now > from ? now - from : 0, gap, sizeof(gap));
    return cdc_err_set(err, CDC_ESTATE, 0,
                       "replication slot \"%s\" %s: the group confirmed %s "
                       "and the source is now at %s, so the changes in "
                       "between (%s of WAL) cannot be captured; run with "
                       "--resync to copy the tables afresh and stream on",
                       s->slot, what, from ? a : "nothing yet", b, gap);
}

#define SLOT_INVALIDATED                                                       \
    "was invalidated (its WAL was removed: see max_slot_wal_keep_size)"

/* Checks the group's slot, and creates it when missing unless create is
 * false (the initial copy creates it then, with its snapshot). A slot
 * that is missing although the group streamed before (saved), or whose
 * WAL is gone, is an error: making it again would skip the changes in
 * between. With resync an existing slot is dropped first. */
static int ensure_slot(struct pg_src *s, bool create, bool resync,
                       struct cdc_err *err)
{
    const char *p[1] = {s->slot};
    struct slot_info si;
    int rc = slot_info(s, &si, err);
    if (rc != CDC_OK)
        return rc;
    if (si.exists && resync) {
        if (si.active)
            return cdc_err_set(err, CDC_ESTATE, 0,
                               "replication slot \"%s\" is in use by "
                               "process %s: stop the group's replicator "
                               "before --resync",
                               s->slot, si.active_pid);
        PGresult *res = source__pg_run(
            s->sql, "SELECT pg_drop_replication_slot($1)", 1, p, err);
        if (res == NULL)
            return cdc_err_prefix(err, "could not drop replication slot \"%s\"",
                                  s->slot);
        PQclear(res);
        cdc_log(CDC_LOG_INFO, "postgres",
                "dropped replication slot \"%s\" to start over (--resync)",
                s->slot);
        si.exists = false;
    }
    if (si.exists) {
        if (!si.ours)
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "replication slot \"%s\" exists but is not a "
                               "pgoutput slot of this database",
                               s->slot);
        uint64_t from = si.confirmed > s->saved ? si.confirmed : s->saved;
        if (strcmp(si.wal_status, "lost") == 0)
            return slot_lost(s, SLOT_INVALIDATED, from, si.current, err);
        if (strcmp(si.wal_status, "unreachable") == 0)
            cdc_log(CDC_LOG_WARN, "postgres",
                    "replication slot \"%s\" is about to lose WAL it needs "
                    "(wal_status unreachable): the group must catch up now",
                    s->slot);
        char lsn[32];
        cdc_lsn_format(si.confirmed, lsn, sizeof(lsn));
        cdc_log(CDC_LOG_INFO, "postgres",
                "resuming from replication slot \"%s\" at %s", s->slot,
                si.confirmed ? lsn : "its start");
        s->slot_exists = true;
        if (si.confirmed > s->saved)
            s->saved = si.confirmed;
        return CDC_OK;
    }
    if (s->saved != 0)
        return slot_lost(s, "is gone", s->saved, si.current, err);
    if (!create)
        return CDC_OK;
    PGresult *res =
        source__pg_run(s->sql,
                       "SELECT lsn FROM pg_create_logical_replication_slot($1, "
                       "'pgoutput')",
                       1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not create replication slot \"%s\"",
                              s->slot);
    cdc_log(CDC_LOG_INFO, "postgres", "created replication slot \"%s\" at %s",
            s->slot, PQgetvalue(res, 0, 0));
    PQclear(res);
    return CDC_OK;
}

/* After replication could not start: a slot that is gone or lost its WAL
 * is an error for good (CDC_ESTATE), anything else may pass. */
static int check_slot_alive(struct pg_src *s, struct cdc_err *err)
{
    struct cdc_err qerr;
    struct slot_info si;
    cdc_err_clear(&qerr);
    if (sql_ready(s, &qerr) != CDC_OK || slot_info(s, &si, &qerr) != CDC_OK)
        return CDC_OK;
    uint64_t from = s->confirmed > s->saved ? s->confirmed : s->saved;
    if (!si.exists)
        return slot_lost(s, "is gone", from, si.current, err);
    if (strcmp(si.wal_status, "lost") == 0)
        return slot_lost(s, SLOT_INVALIDATED, from, si.current, err);
    return CDC_OK;
}

/* The primary key of a table whose replica identity is FULL. */
static int lookup_primary_key(struct pg_src *s, uint32_t relid,
                              struct cdc_err *err)
{
    char oid[16];
    snprintf(oid, sizeof(oid), "%u", relid);
    const char *p[1] = {oid};
    int rc = sql_ready(s, err);
    if (rc != CDC_OK)
        return rc;
    PGresult *res =
        source__pg_run(s->sql,
                       "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                       "ON a.attrelid = i.indrelid AND a.attnum = ANY "
                       "(i.indkey) WHERE i.indrelid = $1::oid AND "
                       "i.indisprimary ORDER BY array_position(i.indkey, "
                       "a.attnum)",
                       1, p, err);
    if (res == NULL)
        return CDC_EIO;
    int n = PQntuples(res);
    const char *names[64];
    if (n > 64)
        n = 64;
    for (int i = 0; i < n; i++)
        names[i] = PQgetvalue(res, i, 0);
    source_pgo_set_key(s->dec, relid, names, (size_t)n);
    PQclear(res);
    return CDC_OK;
}

/* ==== Replication stream ==== */

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int send_status(struct pg_src *s, bool force, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();
    if (s->repl == NULL)
        return CDC_OK;
    bool due = force || s->reply_requested ||
               now - s->last_status_ms >= STATUS_MAX_INTERVAL_MS ||
               (s->confirmed != s->last_status_lsn &&
                now - s->last_status_ms >= s->status_interval_ms);
    if (!due)
        return CDC_OK;
    uint8_t msg[34];
    msg[0] = 'r';
    source_pgo_put_be(msg + 1, s->confirmed, 8);  /* written */
    source_pgo_put_be(msg + 9, s->confirmed, 8);  /* flushed */
    source_pgo_put_be(msg + 17, s->confirmed, 8); /* applied */
    source_pgo_put_be(msg + 25, (uint64_t)(cdc_wall_us() - PG_EPOCH_OFFSET_US),
                      8);
    msg[33] = 0;
    if (PQputCopyData(s->repl, (const char *)msg, sizeof(msg)) <= 0 ||
        PQflush(s->repl) != 0)
        return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                           "could not send status to source: %s",
                           PQerrorMessage(s->repl));
    s->last_status_ms = now;
    s->last_status_lsn = s->confirmed;
    s->reply_requested = false;
    return CDC_OK;
}

static int start_replication(struct pg_src *s, struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    int rc = pg_connect(s, true, &s->repl, err);
    if (rc != CDC_OK)
        goto out;
    /* 0/0: the server starts at the slot's confirmed position, which is
     * exactly what we acknowledged */
    cdc_buf_append_str(&sql, "START_REPLICATION SLOT ");
    source__pg_append_ident(&sql, s->repl, s->slot);
    /* --stream-in-progress: a large transaction (past the server's
     * logical_decoding_work_mem) comes while it runs, and its spill is
     * here rather than on the source's disk */
    s->streams = s->want_streams && PQserverVersion(s->repl) >= 140000;
    source_spool_clear(s->spool);
    cdc_buf_append_str(&sql, " LOGICAL 0/0 (");
    cdc_buf_append_str(&sql, s->streams ? "proto_version '2', streaming 'on', "
                                        : "proto_version '1', ");
    cdc_buf_append_str(&sql, "publication_names ");
    char *pub = PQescapeIdentifier(s->repl, s->slot, strlen(s->slot));
    char *lit = PQescapeLiteral(s->repl, pub ? pub : "", pub ? strlen(pub) : 0);
    cdc_buf_append_str(&sql, lit ? lit : "''");
    PQfreemem(pub);
    PQfreemem(lit);
    cdc_buf_append_str(&sql, ", messages 'true')");
    PGresult *res = PQexec(s->repl, sql.data);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(s->repl));
        msg[strcspn(msg, "\n")] = '\0';
        PQclear(res);
        /* a slot still held by a previous connection frees up shortly;
         * one that is gone or lost its WAL does not come back */
        rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                         "could not start replication: %s", msg);
        PQfinish(s->repl);
        s->repl = NULL;
        struct cdc_err lerr;
        cdc_err_clear(&lerr);
        if (check_slot_alive(s, &lerr) != CDC_OK) {
            *err = lerr;
            rc = lerr.code;
        }
        goto out;
    }
    PQclear(res);
    s->last_status_ms = 0;
    char at[32];
    uint64_t from = s->confirmed > s->saved ? s->confirmed : s->saved;
    cdc_lsn_format(from, at, sizeof(at));
    cdc_log(CDC_LOG_INFO, "postgres", "streaming from slot \"%s\" at %s",
            s->slot, from ? at : "its start");
out:
    cdc_buf_release(&sql);
    return rc;
}

static void drop_connection(struct pg_src *s)
{
    if (s->repl != NULL) {
        PQfinish(s->repl);
        s->repl = NULL;
    }
}

/* Emits the held change (if any) into the batch. */
static void release_held(struct pg_src *s, struct source_batch *b, bool tx_end)
{
    if (s->held == NULL)
        return;
    s->held->tx_end = tx_end;
    source_batch_add_event(b, s->held);
    s->held = NULL;
}

/* One protocol 1 message, from the connection (wal_start: where the
 * server says it starts) or read back from the spool (wal_start 0). */
static int handle_message(struct pg_src *s, uint64_t wal_start,
                          const uint8_t *msg, size_t len,
                          struct source_batch *b, struct cdc_err *err)
{
    struct source_pgo_result res;
    int rc = source_pgo_decode(s->dec, msg, len, &s->batch_arena, &res, err);
    if (rc != CDC_OK)
        return rc;
    switch (res.kind) {
    case PGO_NONE:
        if (res.needs_key)
            return lookup_primary_key(s, res.relid, err);
        return CDC_OK;
    case PGO_BEGIN:
        source__pg_ddl_tx_reset(&s->ddl_tx);
        return CDC_OK;
    case PGO_CHANGES:
        for (size_t i = 0; i < res.nevents; i++) {
            release_held(s, b, false);
            s->held = &res.events[i];
        }
        return CDC_OK;
    case PGO_COMMIT:
        release_held(s, b, true);
        source_batch_add_checkpoint(b, res.end_lsn);
        s->last_emitted = res.end_lsn;
        s->any_emitted = true;
        return CDC_OK;
    case PGO_MESSAGE: {
        struct cdc_event *ev = NULL;
        /* a message outside any transaction (a heartbeat) is a position
         * the group may confirm once nothing of its own is pending */
        if (!res.transactional && !source_pgo_in_tx(s->dec) &&
            wal_start > s->server_wal_end)
            s->server_wal_end = wal_start;
        if (s->track_ddl && res.transactional &&
            strcmp(res.prefix, s->slot) == 0)
            ev = source_pgo_message_event(s->dec, &s->batch_arena);
        if (ev == NULL) {
            cdc_log(CDC_LOG_DEBUG, "postgres", "ignored logical message \"%s\"",
                    res.prefix);
            return CDC_OK;
        }
        rc = source__pg_ddl_decode(&s->ddl_tx, res.content, res.content_len, ev,
                                   &s->batch_arena, err);
        if (rc != CDC_OK)
            return rc;
        cdc_log(CDC_LOG_INFO, "postgres",
                "schema change of \"%s\".\"%s\" at %s: %s", ev->schema,
                ev->table, ev->position, ev->object);
        release_held(s, b, false);
        s->held = ev;
        return CDC_OK;
    }
    }
    return CDC_OK;
}

/* Reads the committed streamed transaction back into the batch, as far as
 * the batch holds; its Commit ends the replay. */
static int replay(struct pg_src *s, struct source_batch *b, size_t max,
                  struct cdc_err *err)
{
    while (b->nevents < max) {
        const uint8_t *msg = NULL;
        size_t len = 0;
        int n = source_spool_next(s->spool, &msg, &len, err);
        if (n < 0)
            return n;
        if (n == 0) {
            uint8_t c[SOURCE_PGO_COMMIT_LEN];
            source_pgo_stream_commit(&s->replay_commit, c);
            return handle_message(s, 0, c, sizeof(c), b, err);
        }
        int rc = handle_message(s, 0, msg, len, b, err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* A protocol 2 stream message: kept in the spool, or a transaction's end. */
static int handle_stream(struct pg_src *s, const struct source_pgo_stream *st,
                         struct source_batch *b, struct cdc_err *err)
{
    switch (st->kind) {
    case PGO_STREAM_START:
        return source_spool_start(s->spool, st->xid, st->first, err);
    case PGO_STREAM_STOP:
        source_spool_stop(s->spool);
        return CDC_OK;
    case PGO_STREAM_ABORT:
        return source_spool_abort(s->spool, st->xid, st->subxid, err);
    case PGO_STREAM_COMMIT: {
        char at[32];
        cdc_lsn_format(st->commit_lsn, at, sizeof(at));
        cdc_log(CDC_LOG_INFO, "postgres",
                "transaction %u, streamed before its commit, committed at %s",
                st->xid, at);
        uint8_t begin[SOURCE_PGO_BEGIN_LEN];
        source_pgo_stream_begin(st, begin);
        int rc = handle_message(s, 0, begin, sizeof(begin), b, err);
        if (rc == CDC_OK)
            rc = source_spool_replay(s->spool, st->xid, err);
        s->replay_commit = *st;
        return rc;
    }
    case PGO_STREAM_NONE:
        break;
    }
    return CDC_OK;
}

static int handle_xlogdata(struct pg_src *s, const uint8_t *buf, size_t len,
                           struct source_batch *b, struct cdc_err *err)
{
    const uint8_t *msg = buf + XLOGDATA_HDR;
    size_t mlen = len - XLOGDATA_HDR;
    if (s->streams) {
        struct source_pgo_stream st;
        int rc = source_pgo_stream_parse(msg, mlen, &st, err);
        if (rc != CDC_OK)
            return rc;
        if (st.kind != PGO_STREAM_NONE)
            return handle_stream(s, &st, b, err);
        if (source_spool_in_block(s->spool)) {
            uint32_t xid = 0;
            const uint8_t *body = NULL;
            size_t blen = 0;
            rc = source_pgo_stream_xid(msg, mlen, &xid, &body, &blen, err);
            if (rc == CDC_OK)
                rc = source_spool_add(s->spool, xid, msg[0], body, blen, err);
            return rc;
        }
    }
    return handle_message(s, get_u64(buf + 1), msg, mlen, b, err);
}

/* --heartbeat-interval: a logical message outside any transaction, which
 * comes back through the slot and lets a group whose tables are quiet
 * confirm a newer position. A failure is logged and tried again at the
 * next interval: streaming does not depend on it. */
static void heartbeat(struct pg_src *s, int64_t now)
{
    if (s->heartbeat_ms <= 0 || now - s->last_heartbeat_ms < s->heartbeat_ms)
        return;
    s->last_heartbeat_ms = now;
    struct cdc_err err;
    cdc_err_clear(&err);
    char prefix[CDC_NAME_MAX + 16];
    snprintf(prefix, sizeof(prefix), "%s_heartbeat", s->slot);
    const char *p[1] = {prefix};
    PGresult *res = NULL;
    if (sql_ready(s, &err) == CDC_OK)
        res = source__pg_run(s->sql,
                             "SELECT pg_logical_emit_message(false, $1, '')", 1,
                             p, &err);
    if (res == NULL) {
        cdc_log(CDC_LOG_WARN, "postgres", "could not write a heartbeat: %s",
                err.msg);
        return;
    }
    PQclear(res);
    cdc_metric_add(s->m_heartbeats, NULL, 1);
}

/* While metrics are served: the WAL the slot holds back from the server,
 * the current position less the slot's confirmed one. */
static void measure_lag(struct pg_src *s, int64_t now)
{
    if (cdc_metrics_port() == 0 || now - s->last_lag_ms < LAG_INTERVAL_MS)
        return;
    s->last_lag_ms = now;
    struct cdc_err err;
    struct slot_info si;
    cdc_err_clear(&err);
    if (sql_ready(s, &err) != CDC_OK || slot_info(s, &si, &err) != CDC_OK ||
        !si.exists)
        return;
    cdc_metric_set(
        s->m_lag, NULL,
        si.current > si.confirmed ? (double)(si.current - si.confirmed) : 0.0);
}

/* Confirms the server's WAL position while nothing of ours is pending. */
static void advance_idle(struct pg_src *s)
{
    bool idle = s->held == NULL && !source_pgo_in_tx(s->dec) &&
                !source_spool_replaying(s->spool) &&
                source_spool_open_count(s->spool) == 0 &&
                (!s->any_emitted || s->last_acked == s->last_emitted);
    if (idle && s->server_wal_end > s->confirmed)
        s->confirmed = s->server_wal_end;
}

/* ==== Interface ==== */

/* The settings of a source (no connection yet). */
static int pg_open_settings(const struct cdc_conf *cfg, const char *group,
                            struct pg_src **out)
{
    struct pg_src *s = cdc_xcalloc(1, sizeof(*s));
    cdc_name_pg(group, s->slot, sizeof(s->slot));
    s->schema = cdc_xstrdup(cdc_conf_get_str(cfg, "schema"));
    s->status_interval_ms = cdc_conf_get_int(cfg, "status-interval");
    s->heartbeat_ms = cdc_conf_get_int(cfg, "heartbeat-interval");
    s->want_streams = cdc_conf_get_bool(cfg, "stream-in-progress");
    s->last_heartbeat_ms = cdc_now_ms();
    s->m_lag = cdc_metric_gauge("tributary_replication_lag_bytes",
                                "WAL the group's slot holds back: the "
                                "source's position less the slot's confirmed "
                                "one",
                                NULL);
    s->m_heartbeats = cdc_metric_counter(
        "tributary_heartbeats_total",
        "heartbeat messages written into the source's WAL", NULL);
    source__pg_settings_init(&s->settings, cfg);
    s->dec = source_pgo_new();
    s->spool = source_spool_new();
    cdc_arena_init(&s->batch_arena);
    cdc_arena_init(&s->hold_arena);
    *out = s;
    return CDC_OK;
}

static int pg_open(const struct cdc_conf *cfg, const char *group,
                   const char *saved, void **state, struct cdc_err *err)
{
    struct pg_src *s = NULL;
    *state = NULL;
    int rc = pg_open_settings(cfg, group, &s);
    if (saved != NULL && cdc_lsn_parse(saved, &s->saved) != CDC_OK)
        cdc_log(CDC_LOG_WARN, "postgres",
                "the group's saved position \"%s\" is not a WAL position: "
                "ignored",
                saved);
    if (rc == CDC_OK)
        rc = source__pg_tables_resolve(cfg, &s->tables, &s->ntables, err);
    if (rc == CDC_OK)
        rc = pg_connect(s, false, &s->sql, err);
    if (rc == CDC_OK)
        cdc_log(CDC_LOG_INFO, "postgres",
                "connected to source PostgreSQL %s at %s:%s, database %s",
                PQparameterStatus(s->sql, "server_version"), PQhost(s->sql),
                PQport(s->sql), PQdb(s->sql));
    if (rc == CDC_OK)
        rc = check_tables(s, err);
    if (rc == CDC_OK)
        rc = ensure_publication(s, err);
    s->track_ddl = cdc_conf_get_bool(cfg, "track-ddl");
    if (rc == CDC_OK && s->track_ddl && !cdc_conf_get_bool(cfg, "copy")) {
        rc = source__pg_ddl_install(s->sql, s->slot, err);
    } else if (rc == CDC_OK) {
        /* triggers of an earlier run with --track-ddl would fill the WAL
         * with messages nobody reads */
        size_t removed = 0;
        rc =
            source__pg_ddl_remove(s->sql, s->slot, false, false, &removed, err);
    }
    /* --copy reads without a slot; --copy-and-stream creates a missing
     * one with the copy's snapshot */
    if (rc == CDC_OK && !cdc_conf_get_bool(cfg, "copy"))
        rc = ensure_slot(s,
                         !cdc_conf_get_bool(cfg, "copy-and-stream") &&
                             !cdc_conf_get_bool(cfg, "resync"),
                         cdc_conf_get_bool(cfg, "resync"), err);
    /* streaming starts with the first poll, which retries when the slot is
     * still held by a walsender of a previous (killed) replicator */
    if (rc != CDC_OK) {
        source_postgres_ops.close(s);
        return rc;
    }
    *state = s;
    return CDC_OK;
}

static int pg_cleanup(const struct cdc_conf *cfg, const char *group,
                      bool dry_run, struct cdc_err *err)
{
    struct pg_src *s = NULL;
    int rc = pg_open_settings(cfg, group, &s);
    if (rc == CDC_OK)
        rc = pg_connect(s, false, &s->sql, err);
    size_t n = 0;
    if (rc == CDC_OK)
        rc = source__pg_ddl_remove(s->sql, s->slot, dry_run, true, &n, err);
    const char *p[1] = {s->slot};
    PGresult *res = NULL;
    if (rc == CDC_OK) {
        res = source__pg_run(s->sql,
                             "SELECT active_pid FROM pg_replication_slots "
                             "WHERE slot_name = $1",
                             1, p, err);
        if (res == NULL)
            rc = CDC_EIO;
    }
    if (rc == CDC_OK && PQntuples(res) > 0) {
        if (!PQgetisnull(res, 0, 0)) {
            rc = cdc_err_set(err, CDC_ESTATE, 0,
                             "replication slot \"%s\" is in use by process "
                             "%s: stop the group's replicator first",
                             s->slot, PQgetvalue(res, 0, 0));
        } else if (dry_run) {
            cdc_log(CDC_LOG_INFO, "postgres",
                    "would drop replication slot \"%s\"", s->slot);
        } else {
            PGresult *r2 = source__pg_run(
                s->sql, "SELECT pg_drop_replication_slot($1)", 1, p, err);
            rc = r2 != NULL ? CDC_OK : CDC_EIO;
            PQclear(r2);
            if (rc == CDC_OK)
                cdc_log(CDC_LOG_INFO, "postgres",
                        "dropped replication slot \"%s\"", s->slot);
        }
    }
    PQclear(res);
    res = NULL;
    if (rc == CDC_OK) {
        res = source__pg_run(s->sql,
                             "SELECT 1 FROM pg_publication WHERE pubname = $1",
                             1, p, err);
        if (res == NULL)
            rc = CDC_EIO;
    }
    if (rc == CDC_OK && PQntuples(res) > 0) {
        if (dry_run) {
            cdc_log(CDC_LOG_INFO, "postgres", "would drop publication \"%s\"",
                    s->slot);
        } else {
            struct cdc_buf sql;
            cdc_buf_init(&sql, 0);
            cdc_buf_append_str(&sql, "DROP PUBLICATION IF EXISTS ");
            source__pg_append_ident(&sql, s->sql, s->slot);
            PGresult *r2 = source__pg_run(s->sql, sql.data, 0, NULL, err);
            rc = r2 != NULL ? CDC_OK : CDC_EIO;
            PQclear(r2);
            cdc_buf_release(&sql);
            if (rc == CDC_OK)
                cdc_log(CDC_LOG_INFO, "postgres", "dropped publication \"%s\"",
                        s->slot);
        }
    }
    PQclear(res);
    source_postgres_ops.close(s);
    return rc;
}

static int pg_poll(void *state, struct source_batch *b, size_t max,
                   int64_t timeout_ms, struct cdc_err *err)
{
    struct pg_src *s = state;
    int rc = CDC_OK;
    int64_t end = cdc_now_ms() + timeout_ms;

    if (s->repl == NULL) {
        rc = start_replication(s, err);
        if (rc != CDC_OK)
            return rc;
    }
    /* the batch arena is rewound; a held change lives in the hold arena
     * between polls and moves back here */
    cdc_arena_reset(&s->batch_arena);
    if (s->held != NULL)
        s->held = cdc_event_copy(s->held, &s->batch_arena);

    bool gathered = false;
    while (b->nevents < max && !cdc_stop_requested) {
        if (source_spool_replaying(s->spool)) {
            rc = replay(s, b, max, err);
            if (rc != CDC_OK)
                break;
            continue;
        }
        char *buf = NULL;
        int len = PQgetCopyData(s->repl, &buf, 1);
        if (len == 0) {
            int64_t now = cdc_now_ms();
            heartbeat(s, now);
            measure_lag(s, now);
            advance_idle(s);
            rc = send_status(s, false, err);
            if (rc != CDC_OK)
                break;
            int64_t left = end - cdc_now_ms();
            /* inside a transaction the rest of it is on its way: a short
             * wait for more saves the wake-ups (and the messages) of many
             * small batches; between transactions the batch goes now */
            int wait_ms = left < 100 ? (int)left : 100;
            /* after a gather, whatever came meanwhile is read below
             * without waiting (libpq's socket never blocks) */
            if (b->nevents > 0) {
                bool busy = now - s->last_batch_ms < BUSY_MS;
                if (b->nevents >= max / 4 || gathered ||
                    (!source_pgo_in_tx(s->dec) && !busy))
                    break;
                gathered = true;
                cdc_sleep_ms(TX_GATHER_MS);
                wait_ms = -1;
            } else if (left <= 0) {
                break;
            } else if (source_spool_in_block(s->spool)) {
                /* a streamed block goes to the spool faster than the
                 * server sends it: waking for each few messages would
                 * spend more in the kernel than the spooling itself, so
                 * when nothing is there yet, the rest gathers a moment */
                struct pollfd ready = {.fd = PQsocket(s->repl),
                                       .events = POLLIN};
                if (poll(&ready, 1, 0) == 0)
                    cdc_sleep_ms(TX_GATHER_MS);
                wait_ms = -1;
            }
            struct pollfd pfd = {.fd = PQsocket(s->repl), .events = POLLIN};
            int pr = wait_ms >= 0 ? poll(&pfd, 1, wait_ms) : 0;
            if (pr < 0 && errno != EINTR) {
                rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                                 "could not wait for source: %s",
                                 strerror(errno));
                break;
            }
            if (PQconsumeInput(s->repl) == 0) {
                rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                                 "lost replication connection: %s",
                                 PQerrorMessage(s->repl));
                break;
            }
            continue;
        }
        if (len == -1) {
            PGresult *res = PQgetResult(s->repl);
            rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                             "replication stream ended: %s",
                             PQresultErrorMessage(res));
            PQclear(res);
            break;
        }
        if (len < 0) {
            rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                             "lost replication connection: %s",
                             PQerrorMessage(s->repl));
            break;
        }
        const uint8_t *p = (const uint8_t *)buf;
        if (p[0] == 'w' && len >= XLOGDATA_HDR) {
            rc = handle_xlogdata(s, p, (size_t)len, b, err);
        } else if (p[0] == 'k' && len >= KEEPALIVE_LEN) {
            uint64_t wal_end = get_u64(p + 1);
            if (wal_end > s->server_wal_end)
                s->server_wal_end = wal_end;
            if (p[17])
                s->reply_requested = true;
            advance_idle(s);
            rc = send_status(s, false, err);
        } else {
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "unexpected replication message 0x%02x of %d "
                             "bytes",
                             p[0], len);
        }
        PQfreemem(buf);
        if (rc != CDC_OK)
            break;
    }
    if (rc != CDC_OK && (err->flags & CDC_ERR_RETRIABLE))
        drop_connection(s);
    if (b->nevents > 0)
        s->last_batch_ms = cdc_now_ms();
    /* keep the held change alive across the rewind of the next poll */
    cdc_arena_reset(&s->hold_arena);
    if (rc == CDC_OK && s->held != NULL)
        s->held = cdc_event_copy(s->held, &s->hold_arena);
    return rc;
}

static int pg_ack(void *state, uint64_t token, struct cdc_err *err)
{
    struct pg_src *s = state;
    s->last_acked = token;
    if (token > s->confirmed)
        s->confirmed = token;
    return send_status(s, false, err);
}

static void pg_reset(void *state)
{
    struct pg_src *s = state;
    drop_connection(s);
    s->held = NULL;
    s->any_emitted = false;
    s->last_emitted = s->last_acked;
    source_pgo_reset_tx(s->dec);
    source_spool_clear(s->spool);
    cdc_arena_reset(&s->batch_arena);
    cdc_arena_reset(&s->hold_arena);
}

static void pg_format_token(void *state, uint64_t token, char *out,
                            size_t outsz)
{
    (void)state;
    cdc_lsn_format(token, out, outsz);
}

static int pg_copy(void *state, const struct source_copy_env *env,
                   struct cdc_err *err)
{
    struct pg_src *s = state;
    struct source__pg_copy_args a = {
        .kw = s->settings.kw,
        .val = s->settings.val,
        .slot = s->slot,
        .publication = s->slot,
        .slot_exists = s->slot_exists,
    };
    int rc = source__pg_copy(&a, env, err);
    if (rc == CDC_OK && env->then_stream)
        s->slot_exists = true;
    return rc;
}

static void pg_close(void *state)
{
    struct pg_src *s = state;
    if (s == NULL)
        return;
    if (s->repl != NULL) {
        struct cdc_err err;
        cdc_err_clear(&err);
        if (send_status(s, true, &err) == CDC_OK) {
            char lsn[32];
            cdc_lsn_format(s->confirmed, lsn, sizeof(lsn));
            cdc_log(CDC_LOG_INFO, "postgres", "confirmed %s to the source",
                    lsn);
        }
        PQputCopyEnd(s->repl, NULL);
        PQflush(s->repl);
    }
    drop_connection(s);
    PQfinish(s->sql);
    source_pgo_free(s->dec);
    source_spool_free(s->spool);
    cdc_arena_release(&s->batch_arena);
    cdc_arena_release(&s->hold_arena);
    source__pg_tables_free(s->tables, s->ntables);
    cdc_free(s->schema);
    cdc_free(s);
}

const struct source_ops source_postgres_ops = {
    .name = "postgres",
    .options = pg_options,
    .open = pg_open,
    .poll = pg_poll,
    .ack = pg_ack,
    .reset = pg_reset,
    .format_token = pg_format_token,
    .copy = pg_copy,
    .cleanup = pg_cleanup,
    .status = source__pg_status,
    .close = pg_close,
};

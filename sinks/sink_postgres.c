/*
 * sink_postgres.c: keeps tables of a target PostgreSQL identical to the
 * source. Each batch is one target transaction, sent as one pipeline of
 * prepared statements (one round trip), that also records the group's last
 * applied stream sequence and source position in tributary.positions; the
 * sink skips anything at or below that mark, so a redelivered batch never
 * applies twice, even to a table without a key.
 *
 * Rows are written by key: INSERT and COPY upsert, UPDATE matches the old
 * key (or the new one when the key did not change), DELETE matches the key;
 * a table without a key (REPLICA IDENTITY FULL) matches one row on every
 * old column. Values travel as text parameters typed by the target's
 * columns, never spliced into SQL; identifiers are always quoted. Columns
 * the source did not send (unchanged TOAST) are left as they are. Values
 * from MySQL that PostgreSQL reads differently (binary strings, geometry,
 * bits) are turned into its forms first (pg_values.c), in every path.
 *
 * Errors are classified where they are seen: a lost connection or an
 * overloaded server is retriable (the sink reconnects on the next write);
 * a row the target rejects (constraint, type, missing table or column) is
 * poison at its index in the batch, and so is a value from MySQL the
 * target cannot hold (a zero date), at once; bad credentials or missing
 * privileges stop the worker.
 */
#include "common/sqltext.h"
#include "sinks/sink.h"
#include "sinks/sink_int.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cdc_opt pg_options[] = {
    {"target-host", CDC_OPT_STRING, NULL, 0, 0, 0,
     "target PostgreSQL host or socket directory (else PGHOST)"},
    {"target-port", CDC_OPT_INT, NULL, 1, 65535, 0,
     "target PostgreSQL port (else PGPORT, 5432)"},
    {"target-dbname", CDC_OPT_STRING, NULL, 0, 0, 0,
     "target database, or a whole libpq connection string or URI"},
    {"target-user", CDC_OPT_STRING, NULL, 0, 0, 0, "target user (else PGUSER)"},
    {"target-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "target password (else PGPASSWORD or ~/.pgpass)"},
    {"target-sync-schema", CDC_OPT_BOOL, "false", 0, 0, 0,
     "create the group's tables and their types on the target from the "
     "source before the first batch"},
    {"target-disable-foreign-keys", CDC_OPT_BOOL, "false", 0, 0, 0,
     "apply with session_replication_role = replica (foreign keys and "
     "triggers off; needs superuser)"},
    {"source-host", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source PostgreSQL host, read by --target-sync-schema"},
    {"source-port", CDC_OPT_INT, NULL, 1, 65535, 0,
     "source PostgreSQL port, read by --target-sync-schema"},
    {"source-dbname", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source database or connection string, read by --target-sync-schema"},
    {"source-user", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source user, read by --target-sync-schema"},
    {"source-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "source password, read by --target-sync-schema"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* Settings of every target session: input and output forms that do not
 * depend on the server's configuration. */
#define SESSION_OPTIONS                                                        \
    "-c datestyle=ISO -c intervalstyle=postgres -c extra_float_digits=3"
/* A target that does not answer a connection attempt within this time is
 * treated as down (and retried). */
#define CONNECT_TIMEOUT "10"
/* Prepared statements kept per connection before the cache is dropped and
 * rebuilt; many more distinct shapes mean columns vary a lot. */
#define MAX_STATEMENTS 4096
/* Consecutive inserts into one table go as one statement of up to this
 * many rows: a fraction of the per-statement cost on the target, and one
 * prepared shape for full groups (smaller groups are sent unprepared). */
/* Rows of one multi-row upsert, sent as one array per column (unnest):
 * about a quarter cheaper for the target per row than a VALUES list of
 * parameters, and not bound by the 65535 parameters of a statement. */
#define UNNEST_ROWS 1000
/* PostgreSQL's limit of parameters in one statement. */
/* OIDs of the built-in types this file names. */
#define OID_TEXT 25u
#define OID_TEXT_ARRAY 1009u
#define OID_INT8 20u

/* ==== State ==== */

struct pg_col {
    char *name;
    uint32_t type_oid;
    bool has_eq;    /* "=" is safe for this type; else compare as text */
    bool generated; /* never written */
    /* the type as SQL names it here without a modifier, the target of
     * the casts of a multi-row upsert: format_type(oid, -1) writes
     * "bpchar" and "bit" quoted where a regtype would write "character"
     * and "bit", which mean character(1) and bit(1) (the cast would cut a
     * character(n) value to one character, and refuse a bit(n) one) */
    char *type_sql;
    enum sink_pg_class cls; /* what values from MySQL need (pg_values.c) */
};

struct pg_table {
    char *schema;
    char *name;
    char *qname; /* "schema"."name" */
    bool missing;
    struct pg_col *cols;
    size_t ncols;
    /* unique indexes usable as ON CONFLICT targets, the primary key
     * first when there is one */
    struct sink_keys keys;
    bool has_pk;
    /* a table (plain or partitioned) without rules, on PostgreSQL 15 or
     * later: MERGE can write it */
    bool mergeable;
};

struct pg_stmt {
    char *sql;
    uint64_t hash;
    char name[24];
    int nparams;
    uint32_t *oids;
};

/* One command of a batch's pipeline. */
struct pg_cmd {
    size_t event; /* index in the batch, or SIZE_MAX for BEGIN and such */
    bool multi;   /* a statement of several rows */
};

/* What one connection needs to load rows with COPY. Lane 0 is the sink's
 * own connection; lane 1, a second connection, loads half of a large
 * batch of copied rows at the same time on a thread of its own. */
struct copy_lane {
    PGconn *conn;       /* lane 0: the sink's, borrowed */
    struct cdc_buf buf; /* COPY data */
    struct cdc_buf sql; /* the COPY statement */
    struct cdc_buf conv;
    const struct pg_col **wcols;
    size_t cap_wcols;
    /* lane 1's part: rows [from, to) of batch, and how it went */
    struct pg_sink *sink;
    const struct cdc_batch *batch;
    size_t from;
    size_t to;
    bool ok;
    struct cdc_err err;
    pthread_t th;
};

struct pg_sink {
    char *group;
    const char *kw[16];
    const char *val[16];
    char port[16];
    const char *src_kw[16];
    const char *src_val[16];
    char src_port[16];
    bool sync_schema;
    bool schema_done;
    bool disable_fk;

    PGconn *conn;
    struct sink_mark mark; /* last committed, as read from the target */

    struct pg_table **tables;
    size_t ntables;
    struct pg_stmt *stmts; /* open addressing, capacity stmt_cap */
    size_t stmt_cap;
    size_t nstmts;
    unsigned long stmt_seq;

    /* scratch of one statement */
    struct cdc_buf sql;
    const struct pg_col **wcols; /* target column of each event column */
    size_t cap_wcols;
    const char **vals;
    uint32_t *oids;
    int *lens; /* of binary parameters */
    int *fmts; /* 1 for a binary parameter */
    int nparams;
    int cap_params;
    int nbinary; /* binary parameters among them */
    /* values from MySQL as the target reads them: one at a time, and
     * those that are parameters until the statement is sent */
    struct cdc_buf conv;
    struct cdc_arena conv_params;
    /* the arrays of an unnest upsert, texts NUL-separated or binary, where
     * each starts and the length of each binary one (0 for a text) */
    struct cdc_buf arrays;
    size_t *array_at;
    size_t *array_len;
    size_t cap_array_at;

    /* after a failed multi-row statement, the next attempt goes row by
     * row, so the row at fault is known */
    bool single_rows;
    /* hash and merge joins are off in the transaction being built (see
     * build_merge) */
    bool joins_off;
    /* after a deferred constraint failed at COMMIT, the next attempt
     * checks every constraint at its statement */
    bool immediate;
    /* batches of inserts that go as upserts before COPY is tried again,
     * after the target refused one (its rows were there already) */
    unsigned copy_pause;

    /* tables whose changes are set aside since a schema change of theirs
     * failed (tributary.blocked), "schema\0table" each */
    struct sink_blocked blocked;

    /* scratch of one batch */
    struct pg_cmd *cmds;
    size_t ncmds;
    size_t cap_cmds;

    /* a batch applied by a thread of its own while the worker reads the
     * next one (write returned CDC_PENDING), loaded with COPY or, with
     * bg_upsert, as upserts: the connection and the scratch above are the
     * thread's until settle */
    bool bg_on;
    bool bg_upsert;
    pthread_t bg_thread;
    struct copy_lane lanes[2];
    struct cdc_batch bg_batch;
    size_t bg_last;
    int bg_rc;
    bool bg_fallback;
    struct cdc_err bg_err;
};

/* ==== Small helpers ==== */

static void append_ident(struct cdc_buf *b, const char *name)
{
    cdc_buf_append_char(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            cdc_buf_append_char(b, '"');
        cdc_buf_append_char(b, *p);
    }
    cdc_buf_append_char(b, '"');
}

static uint64_t hash_str(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bool state_in(const char *sqlstate, const char *prefix)
{
    return sqlstate != NULL && strncmp(sqlstate, prefix, strlen(prefix)) == 0;
}

/* Error flags for a SQLSTATE: retriable for what passes (connection,
 * resources, conflicts with other sessions, shutdown), none for what
 * needs a person (credentials, privileges, a missing database), poison
 * for what this row can never do. */
static unsigned classify(const char *sqlstate)
{
    if (sqlstate == NULL || state_in(sqlstate, "08") ||
        state_in(sqlstate, "53") || state_in(sqlstate, "57") ||
        state_in(sqlstate, "58") || state_in(sqlstate, "40") ||
        state_in(sqlstate, "55P03") || state_in(sqlstate, "25P04"))
        return CDC_ERR_RETRIABLE;
    if (state_in(sqlstate, "28") || state_in(sqlstate, "42501") ||
        state_in(sqlstate, "3D") || state_in(sqlstate, "XX"))
        return 0;
    return CDC_ERR_POISON;
}

/* Fills err from a failed result (or the connection when res is NULL). */
static int conn_error(PGconn *conn, const PGresult *res, const char *what,
                      struct cdc_err *err)
{
    const char *sqlstate =
        res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[200];
    char detail[120] = "";
    if (res != NULL && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) {
        sink__one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), msg,
                       sizeof(msg));
        sink__one_line(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL), detail,
                       sizeof(detail));
    } else {
        sink__one_line(PQerrorMessage(conn), msg, sizeof(msg));
    }
    unsigned flags = classify(sqlstate);
    if (PQstatus(conn) != CONNECTION_OK)
        flags = CDC_ERR_RETRIABLE;
    return cdc_err_set(err, flags == 0 ? CDC_ECONFIG : CDC_EIO, flags,
                       "%s%s%s%s%s%s%s%s", what, what[0] ? ": " : "", msg,
                       detail[0] ? " (" : "", detail, detail[0] ? ")" : "",
                       sqlstate ? " SQLSTATE " : "", sqlstate ? sqlstate : "");
}

static int result_error(struct pg_sink *s, const PGresult *res,
                        const char *what, struct cdc_err *err)
{
    return conn_error(s->conn, res, what, err);
}

/* Runs one statement outside a pipeline; for setup and metadata. */
static int exec_params(struct pg_sink *s, const char *sql, int n,
                       const char *const *vals, PGresult **out,
                       const char *what, struct cdc_err *err)
{
    PGresult *res = PQexecParams(s->conn, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = result_error(s, res, what, err);
        PQclear(res);
        return rc;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return CDC_OK;
}

/* ==== Tables ==== */

static void table_free(struct pg_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->ncols; i++) {
        cdc_free(t->cols[i].name);
        cdc_free(t->cols[i].type_sql);
    }
    cdc_free(t->cols);
    sink__keys_free(&t->keys);
    cdc_free(t->schema);
    cdc_free(t->name);
    cdc_free(t->qname);
    cdc_free(t);
}

static void forget_tables(struct pg_sink *s)
{
    for (size_t i = 0; i < s->ntables; i++)
        table_free(s->tables[i]);
    cdc_free(s->tables);
    s->tables = NULL;
    s->ntables = 0;
}

/*
 * Columns of the target table with whether "=" can be trusted for them:
 * types with a default btree or hash operator class (through a domain to
 * its base type, through an array to its element; enums and ranges always
 * compare). Anything else (json, xml, geometric types, composites) is
 * matched on its text form, which is exact for values written from the
 * same text. Then the type's name for casts (see pg_col.type_sql) and the
 * OID of its base type (for sink__pg_class).
 */
static const char *const COLUMNS_SQL =
    "WITH c AS (SELECT a.attnum, a.attname, a.atttypid, "
    "  a.attgenerated <> '' AS gen, "
    "  CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END AS base "
    "  FROM pg_catalog.pg_attribute a "
    "  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "  WHERE a.attrelid = $1::regclass AND a.attnum > 0 "
    "  AND NOT a.attisdropped), "
    "k AS (SELECT c.*, b.typtype AS btype, "
    "  CASE WHEN b.typelem <> 0 AND b.typlen = -1 THEN b.typelem END "
    "  AS elem FROM c JOIN pg_catalog.pg_type b ON b.oid = c.base) "
    "SELECT k.attname, k.atttypid, k.gen, "
    "  CASE WHEN k.btype = 'c' THEN false "
    "  WHEN k.elem IS NOT NULL THEN "
    "    (SELECT e.typtype IN ('e', 'r') OR EXISTS (SELECT 1 FROM "
    "     pg_catalog.pg_opclass oc JOIN pg_catalog.pg_am am ON "
    "     am.oid = oc.opcmethod WHERE am.amname = 'btree' AND "
    "     oc.opcdefault AND oc.opcintype = e.oid) "
    "     FROM pg_catalog.pg_type e WHERE e.oid = k.elem) "
    "  WHEN k.btype IN ('e', 'r') THEN true "
    "  ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_opclass oc "
    "    JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod "
    "    WHERE am.amname IN ('btree', 'hash') AND oc.opcdefault "
    "    AND oc.opcintype = k.base) END, "
    "  pg_catalog.format_type(k.atttypid, -1), k.base "
    "FROM k ORDER BY k.attnum";

/* Unique, valid, non-partial indexes on plain columns, primary key first. */
static const char *const UNIQUE_SQL =
    "SELECT i.indisprimary, array_agg(a.attname ORDER BY x.n) "
    "FROM pg_catalog.pg_index i "
    "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS x(attnum, n) "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid "
    "  AND a.attnum = x.attnum "
    "WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indisvalid "
    "  AND i.indpred IS NULL AND i.indexprs IS NULL "
    "GROUP BY i.indexrelid, i.indisprimary "
    "ORDER BY i.indisprimary DESC, i.indexrelid";

/* Adds the identifiers of a text[], as PostgreSQL prints it, as a key. */
static void add_key(struct sink_keys *k, const char *s)
{
    sink__keys_open(k);
    struct cdc_buf cur;
    cdc_buf_init(&cur, 0);
    const char *p = s;
    if (*p == '{')
        p++;
    while (*p && *p != '}') {
        cdc_buf_reset(&cur);
        cdc_buf_append_str(&cur, "");
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                cdc_buf_append_char(&cur, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                cdc_buf_append_char(&cur, *p++);
        }
        sink__keys_add(k, cur.data);
        if (*p == ',')
            p++;
    }
    cdc_buf_release(&cur);
}

static int load_table(struct pg_sink *s, struct pg_table *t,
                      struct cdc_err *err)
{
    PGresult *res = NULL;
    const char *vals[1] = {t->qname};
    /* to_regclass: a missing table is an answer, not an error */
    int rc =
        exec_params(s,
                    "SELECT pg_catalog.to_regclass($1) IS NULL, "
                    "(SELECT c.relkind IN ('r', 'p') AND NOT "
                    "c.relhasrules FROM pg_catalog.pg_class c "
                    "WHERE c.oid = pg_catalog.to_regclass($1))",
                    1, vals, &res, "could not look up a target table", err);
    if (rc != CDC_OK)
        return rc;
    t->missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    t->mergeable = strcmp(PQgetvalue(res, 0, 1), "t") == 0 &&
                   PQserverVersion(s->conn) >= 150000;
    PQclear(res);
    if (t->missing)
        return CDC_OK;

    rc = exec_params(s, COLUMNS_SQL, 1, vals, &res,
                     "could not read the columns of a target table", err);
    if (rc != CDC_OK)
        return rc;
    int n = PQntuples(res);
    t->cols = cdc_xcalloc((size_t)n + 1, sizeof(*t->cols));
    for (int i = 0; i < n; i++) {
        struct pg_col *c = &t->cols[t->ncols++];
        c->name = cdc_xstrdup(PQgetvalue(res, i, 0));
        c->type_oid = (uint32_t)strtoul(PQgetvalue(res, i, 1), NULL, 10);
        c->generated = strcmp(PQgetvalue(res, i, 2), "t") == 0;
        c->has_eq = strcmp(PQgetvalue(res, i, 3), "t") == 0;
        c->type_sql = cdc_xstrdup(PQgetvalue(res, i, 4));
        c->cls =
            sink__pg_class((uint32_t)strtoul(PQgetvalue(res, i, 5), NULL, 10));
    }
    PQclear(res);

    rc = exec_params(s, UNIQUE_SQL, 1, vals, &res,
                     "could not read the keys of a target table", err);
    if (rc != CDC_OK)
        return rc;
    n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (i == 0 && strcmp(PQgetvalue(res, i, 0), "t") == 0)
            t->has_pk = true;
        add_key(&t->keys, PQgetvalue(res, i, 1));
    }
    PQclear(res);
    return CDC_OK;
}

/* The table read before under that name; NULL if it was not. */
static struct pg_table *cached_table(const struct pg_sink *s,
                                     const char *schema, const char *name)
{
    for (size_t i = 0; i < s->ntables; i++) {
        struct pg_table *t = s->tables[i];
        if (strcmp(t->name, name) == 0 && strcmp(t->schema, schema) == 0)
            return t;
    }
    return NULL;
}

static int find_table(struct pg_sink *s, const char *schema, const char *name,
                      struct pg_table **out, struct cdc_err *err)
{
    *out = cached_table(s, schema, name);
    if (*out != NULL)
        return CDC_OK;
    struct pg_table *t = cdc_xcalloc(1, sizeof(*t));
    t->schema = cdc_xstrdup(schema);
    t->name = cdc_xstrdup(name);
    struct cdc_buf q;
    cdc_buf_init(&q, 0);
    append_ident(&q, schema);
    cdc_buf_append_char(&q, '.');
    append_ident(&q, name);
    t->qname = cdc_buf_detach(&q, NULL);
    int rc = load_table(s, t, err);
    if (rc != CDC_OK) {
        table_free(t);
        return rc;
    }
    s->tables = cdc_xrealloc(s->tables, (s->ntables + 1) * sizeof(*s->tables));
    s->tables[s->ntables++] = t;
    *out = t;
    return CDC_OK;
}

static const struct pg_col *table_col(const struct pg_table *t,
                                      const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return &t->cols[i];
    return NULL;
}

/* ==== Statements ==== */

static void stmts_clear(struct pg_sink *s)
{
    for (size_t i = 0; i < s->stmt_cap; i++) {
        cdc_free(s->stmts[i].sql);
        cdc_free(s->stmts[i].oids);
    }
    cdc_free(s->stmts);
    s->stmts = NULL;
    s->stmt_cap = 0;
    s->nstmts = 0;
}

static void stmt_begin(struct pg_sink *s)
{
    cdc_buf_reset(&s->sql);
    s->nparams = 0;
    s->nbinary = 0;
    /* libpq copies parameters when it sends a statement */
    if (s->conv_params.used_total > 0)
        cdc_arena_reset(&s->conv_params);
}

static void push_param(struct pg_sink *s, const char *value, uint32_t oid)
{
    if (s->nparams == s->cap_params) {
        s->cap_params = s->cap_params ? s->cap_params * 2 : 64;
        s->vals =
            cdc_xrealloc(s->vals, (size_t)s->cap_params * sizeof(*s->vals));
        s->oids =
            cdc_xrealloc(s->oids, (size_t)s->cap_params * sizeof(*s->oids));
        s->lens =
            cdc_xrealloc(s->lens, (size_t)s->cap_params * sizeof(*s->lens));
        s->fmts =
            cdc_xrealloc(s->fmts, (size_t)s->cap_params * sizeof(*s->fmts));
    }
    s->vals[s->nparams] = value;
    s->oids[s->nparams] = oid;
    s->lens[s->nparams] = 0;
    s->fmts[s->nparams] = 0;
    s->nparams++;
}

/* Adds a parameter and appends "$n" typed as the given type. */
static void add_param(struct pg_sink *s, const char *value, uint32_t oid)
{
    push_param(s, value, oid);
    /* not printf: multi-row statements have thousands of these */
    cdc_buf_append_char(&s->sql, '$');
    cdc_buf_append_uint(&s->sql, (uint64_t)s->nparams);
}

/* The prepared statement for the SQL in s->sql: looked up, or queued for
 * preparation in the pipeline (its result is the command's first). *out
 * is NULL when the cache is full: the statement then goes unprepared (a
 * batch of more distinct shapes than the cache holds must still go). */
static int stmt_get(struct pg_sink *s, const struct pg_stmt **out,
                    bool *prepared_now, struct cdc_err *err)
{
    *prepared_now = false;
    *out = NULL;
    bool full = false;
    if (s->nstmts + 1 > s->stmt_cap / 2 && s->stmt_cap >= MAX_STATEMENTS * 2)
        full = true;
    else if (s->nstmts + 1 > s->stmt_cap / 2) {
        size_t cap = s->stmt_cap ? s->stmt_cap * 2 : 64;
        struct pg_stmt *fresh = cdc_xcalloc(cap, sizeof(*fresh));
        for (size_t i = 0; i < s->stmt_cap; i++) {
            if (s->stmts[i].sql == NULL)
                continue;
            size_t j = s->stmts[i].hash & (cap - 1);
            while (fresh[j].sql != NULL)
                j = (j + 1) & (cap - 1);
            fresh[j] = s->stmts[i];
        }
        cdc_free(s->stmts);
        s->stmts = fresh;
        s->stmt_cap = cap;
    }
    uint64_t h = hash_str(s->sql.data, s->sql.len);
    size_t j = h & (s->stmt_cap - 1);
    while (s->stmts[j].sql != NULL) {
        if (s->stmts[j].hash == h &&
            strcmp(s->stmts[j].sql, s->sql.data) == 0) {
            *out = &s->stmts[j];
            return CDC_OK;
        }
        j = (j + 1) & (s->stmt_cap - 1);
    }
    if (full)
        return CDC_OK;
    struct pg_stmt *st = &s->stmts[j];
    st->sql = cdc_xstrdup(s->sql.data);
    st->hash = h;
    snprintf(st->name, sizeof(st->name), "tributary_%lu", ++s->stmt_seq);
    st->nparams = s->nparams;
    st->oids = cdc_xcalloc((size_t)s->nparams + 1, sizeof(*st->oids));
    memcpy(st->oids, s->oids, (size_t)s->nparams * sizeof(*st->oids));
    s->nstmts++;
    if (!PQsendPrepare(s->conn, st->name, st->sql, st->nparams,
                       (const Oid *)st->oids)) {
        return result_error(s, NULL, "could not send a statement", err);
    }
    *prepared_now = true;
    *out = st;
    return CDC_OK;
}

static void add_cmd(struct pg_sink *s, size_t event)
{
    if (s->ncmds == s->cap_cmds) {
        s->cap_cmds = s->cap_cmds ? s->cap_cmds * 2 : 256;
        s->cmds = cdc_xrealloc(s->cmds, s->cap_cmds * sizeof(*s->cmds));
    }
    s->cmds[s->ncmds].multi = false;
    s->cmds[s->ncmds++].event = event;
}

/* Queues the statement in s->sql unprepared (a shape seldom used again). */
static int send_unnamed(struct pg_sink *s, size_t event, struct cdc_err *err)
{
    if (!PQsendQueryParams(s->conn, s->sql.data, s->nparams,
                           (const Oid *)s->oids, s->vals,
                           s->nbinary > 0 ? s->lens : NULL,
                           s->nbinary > 0 ? s->fmts : NULL, 0))
        return result_error(s, NULL, "could not send a statement", err);
    add_cmd(s, event);
    return CDC_OK;
}

/* Queues the statement built in s->sql with its parameters. */
static int send_stmt(struct pg_sink *s, size_t event, struct cdc_err *err)
{
    const struct pg_stmt *st = NULL;
    bool prepared_now = false;
    int rc = stmt_get(s, &st, &prepared_now, err);
    if (rc != CDC_OK)
        return rc;
    if (st == NULL)
        return send_unnamed(s, event, err);
    if (prepared_now)
        add_cmd(s, event);
    if (!PQsendQueryPrepared(s->conn, st->name, s->nparams, s->vals,
                             s->nbinary > 0 ? s->lens : NULL,
                             s->nbinary > 0 ? s->fmts : NULL, 0))
        return result_error(s, NULL, "could not send a statement", err);
    add_cmd(s, event);
    return CDC_OK;
}

/* Queues SQL without parameters (BEGIN, COMMIT, TRUNCATE). */
static int send_plain(struct pg_sink *s, const char *sql, size_t event,
                      struct cdc_err *err)
{
    if (!PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
        return result_error(s, NULL, "could not send a statement", err);
    add_cmd(s, event);
    return CDC_OK;
}

/* ==== Values ==== */

/* Poison that names the column a value of the event cannot go into. */
static int value_error(const struct pg_table *t, const struct pg_col *tc,
                       int rc, struct cdc_err *err)
{
    if (rc == CDC_ETOOBIG)
        return cdc_err_set(err, CDC_ETOOBIG, CDC_ERR_POISON | CDC_ERR_FINAL,
                           "the value of column \"%s\" of %s is too large",
                           tc->name, t->qname);
    char why[CDC_ERR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err->msg);
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                       "cannot write column \"%s\" of %s: %s", tc->name,
                       t->qname, why);
}

/* Whether ev came from MySQL: only then may a value need converting. */
static bool from_mysql(const struct cdc_event *ev)
{
    return ev->source != NULL && strcmp(ev->source, "mysql") == 0;
}

/*
 * The text of value c of ev for target column tc: c's own, or for a
 * change from MySQL into a column that needs it what sink__pg_value makes
 * of it (in s->conv, valid until the next call). Every other value costs
 * a comparison or two, so the sink stays as fast for PostgreSQL sources.
 * Poison, final, naming the table and column, for a value the column
 * cannot hold.
 */
static int value_text(struct cdc_buf *conv, const struct pg_table *t,
                      const struct pg_col *tc, const struct cdc_event *ev,
                      const struct cdc_col *c, const char **text, size_t *len,
                      struct cdc_err *err)
{
    *text = c->value;
    *len = c->value_len;
    if (tc->cls == SINK_PG_OTHER || c->value == NULL || !from_mysql(ev))
        return CDC_OK;
    bool changed = false;
    cdc_buf_reset(conv);
    int rc = sink__pg_value(ev->source, c->type, c->value, c->value_len,
                            tc->cls, conv, &changed, err);
    if (rc != CDC_OK)
        return value_error(t, tc, rc, err);
    if (changed) {
        *text = conv->data != NULL ? conv->data : "";
        *len = conv->len;
    }
    return CDC_OK;
}

/* Adds value c of ev for column tc as a parameter of type oid (see
 * add_param), as value_text gives it. */
static int add_value(struct pg_sink *s, const struct pg_table *t,
                     const struct pg_col *tc, uint32_t oid,
                     const struct cdc_event *ev, const struct cdc_col *c,
                     struct cdc_err *err)
{
    const char *text = NULL;
    size_t len = 0;
    int rc = value_text(&s->conv, t, tc, ev, c, &text, &len, err);
    if (rc != CDC_OK)
        return rc;
    if (text != c->value)
        text = cdc_arena_strndup(&s->conv_params, text, len);
    add_param(s, text, oid);
    return CDC_OK;
}

/* ==== Building one change ==== */

/* Columns for ON CONFLICT: the event's key when the target has a unique
 * index on it, else the target's primary key when the row carries it. */
static bool conflict_target(const struct pg_table *t,
                            const struct cdc_event *ev, const char ***names,
                            size_t *n)
{
    if (ev->nkey > 0 && sink__keys_has(&t->keys, ev->key, ev->nkey, false)) {
        *names = ev->key;
        *n = ev->nkey;
        return true;
    }
    if (t->has_pk) {
        for (size_t j = 0; j < t->keys.len[0]; j++)
            if (sink__event_col(ev->cols, ev->ncols, t->keys.cols[0][j]) ==
                NULL)
                return false;
        *names = (const char **)t->keys.cols[0];
        *n = t->keys.len[0];
        return true;
    }
    return false;
}

static int missing_column(const struct pg_table *t, const char *col,
                          struct cdc_err *err)
{
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                       "column \"%s\" of table %s does not exist on the "
                       "target",
                       col, t->qname);
}

/* Looks the event's columns up on the target: s->wcols[i] is the column
 * of ev->cols[i], NULL for one that is never written (generated). Poison
 * when the target lacks one. */
static int resolve_into(const struct pg_table *t, const struct cdc_event *ev,
                        const struct pg_col ***wcols, size_t *cap,
                        struct cdc_err *err)
{
    if (ev->ncols > *cap) {
        *cap = ev->ncols * 2;
        *wcols = cdc_xrealloc(*wcols, *cap * sizeof(**wcols));
    }
    for (size_t i = 0; i < ev->ncols; i++) {
        const struct pg_col *tc = table_col(t, ev->cols[i].name);
        if (tc == NULL)
            return missing_column(t, ev->cols[i].name, err);
        (*wcols)[i] = tc->generated ? NULL : tc;
    }
    return CDC_OK;
}

static int resolve_cols(struct pg_sink *s, const struct pg_table *t,
                        const struct cdc_event *ev, struct cdc_err *err)
{
    return resolve_into(t, ev, &s->wcols, &s->cap_wcols, err);
}

/* Appends the parameters of one row, "$a, $b, ...", for the columns
 * resolve_cols found (ev has the shape they were resolved for). */
static int append_row_params(struct pg_sink *s, const struct pg_table *t,
                             const struct cdc_event *ev, struct cdc_err *err)
{
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        const struct pg_col *tc = s->wcols[i];
        if (tc == NULL)
            continue;
        if (w++ > 0)
            cdc_buf_append_str(&s->sql, ", ");
        int rc = add_value(s, t, tc, tc->type_oid, ev, &ev->cols[i], err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* Appends " (cols" for the columns resolve_cols found, without the
 * closing parenthesis. */
static void append_insert_cols(struct pg_sink *s, const struct cdc_event *ev)
{
    cdc_buf_append_str(&s->sql, " (");
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        if (s->wcols[i] == NULL)
            continue;
        if (w++ > 0)
            cdc_buf_append_str(&s->sql, ", ");
        append_ident(&s->sql, s->wcols[i]->name);
    }
}

/* Appends "(cols) VALUES ($..)" (or "(cols) SELECT $.."), every written
 * column of the event. */
static int build_insert_body(struct pg_sink *s, const struct pg_table *t,
                             const struct cdc_event *ev, bool select_form,
                             struct cdc_err *err)
{
    int rc = resolve_cols(s, t, ev, err);
    if (rc != CDC_OK)
        return rc;
    append_insert_cols(s, ev);
    /* identity columns GENERATED ALWAYS take the source's values too */
    cdc_buf_append_str(&s->sql, select_form
                                    ? ") OVERRIDING SYSTEM VALUE SELECT "
                                    : ") OVERRIDING SYSTEM VALUE VALUES (");
    rc = append_row_params(s, t, ev, err);
    if (rc != CDC_OK)
        return rc;
    if (!select_form)
        cdc_buf_append_char(&s->sql, ')');
    return CDC_OK;
}

static bool name_in(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Appends " ON CONFLICT (...) DO UPDATE SET ..." or DO NOTHING. */
/* After build_insert_body (it resolved the columns). */
static void build_on_conflict(struct pg_sink *s, const struct cdc_event *ev,
                              const char *const *ck, size_t nck)
{
    cdc_buf_append_str(&s->sql, " ON CONFLICT (");
    for (size_t i = 0; i < nck; i++) {
        if (i > 0)
            cdc_buf_append_str(&s->sql, ", ");
        append_ident(&s->sql, ck[i]);
    }
    cdc_buf_append_str(&s->sql, ") DO ");
    size_t w = 0;
    for (size_t i = 0; i < ev->ncols; i++) {
        const struct pg_col *tc = s->wcols[i];
        if (tc == NULL || name_in(ck, nck, tc->name))
            continue;
        cdc_buf_append_str(&s->sql, w++ == 0 ? "UPDATE SET " : ", ");
        append_ident(&s->sql, tc->name);
        cdc_buf_append_str(&s->sql, " = EXCLUDED.");
        append_ident(&s->sql, tc->name);
    }
    if (w == 0)
        cdc_buf_append_str(&s->sql, "NOTHING");
}

/* Appends one "col = $n" (or IS NULL, or a text comparison for types
 * without a trusted "="), for value c of ev. */
static int build_match_col(struct pg_sink *s, const struct pg_table *t,
                           const struct pg_col *tc, const struct cdc_event *ev,
                           const struct cdc_col *c, struct cdc_err *err)
{
    append_ident(&s->sql, tc->name);
    if (c->value == NULL) {
        cdc_buf_append_str(&s->sql, " IS NULL");
        return CDC_OK;
    }
    if (tc->has_eq) {
        cdc_buf_append_str(&s->sql, " = ");
        return add_value(s, t, tc, tc->type_oid, ev, c, err);
    }
    cdc_buf_append_str(&s->sql, "::text = ");
    return add_value(s, t, tc, OID_TEXT, ev, c, err);
}

/*
 * Appends the WHERE condition that finds the changed row: by key (old key
 * values when the event has them, else the new ones), or, for a table
 * without a key, the first row equal on every old column (ctid), so that
 * of two equal rows only one changes, as on the source.
 */
static int build_match(struct pg_sink *s, const struct pg_table *t,
                       const struct cdc_event *ev, struct cdc_err *err)
{
    cdc_buf_append_str(&s->sql, " WHERE ");
    if (ev->nkey > 0) {
        bool usable = true;
        for (size_t i = 0; i < ev->nkey && usable; i++) {
            const struct cdc_col *c =
                sink__event_col(ev->old, ev->nold, ev->key[i]);
            if (c == NULL)
                c = sink__event_col(ev->cols, ev->ncols, ev->key[i]);
            usable = c != NULL;
        }
        if (usable) {
            for (size_t i = 0; i < ev->nkey; i++) {
                const struct cdc_col *c =
                    sink__event_col(ev->old, ev->nold, ev->key[i]);
                if (c == NULL)
                    c = sink__event_col(ev->cols, ev->ncols, ev->key[i]);
                const struct pg_col *tc = table_col(t, ev->key[i]);
                if (tc == NULL)
                    return missing_column(t, ev->key[i], err);
                if (i > 0)
                    cdc_buf_append_str(&s->sql, " AND ");
                int rc = build_match_col(s, t, tc, ev, c, err);
                if (rc != CDC_OK)
                    return rc;
            }
            return CDC_OK;
        }
    }
    if (ev->nold == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "%s of table %s carries neither a key nor the old "
                           "row, so the row cannot be found",
                           cdc_op_name(ev->op), t->qname);
    cdc_buf_append_str(&s->sql, "ctid = (SELECT ctid FROM ");
    cdc_buf_append_str(&s->sql, t->qname);
    cdc_buf_append_str(&s->sql, " WHERE ");
    for (size_t i = 0; i < ev->nold; i++) {
        const struct pg_col *tc = table_col(t, ev->old[i].name);
        if (tc == NULL)
            return missing_column(t, ev->old[i].name, err);
        if (i > 0)
            cdc_buf_append_str(&s->sql, " AND ");
        int rc = build_match_col(s, t, tc, ev, &ev->old[i], err);
        if (rc != CDC_OK)
            return rc;
    }
    cdc_buf_append_str(&s->sql, " LIMIT 1)");
    return CDC_OK;
}

/* Appends "UPDATE t SET ... WHERE ..." for the columns the event sent. */
static int build_update(struct pg_sink *s, const struct pg_table *t,
                        const struct cdc_event *ev, struct cdc_err *err)
{
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
        rc = add_value(s, t, s->wcols[i], s->wcols[i]->type_oid, ev,
                       &ev->cols[i], err);
        if (rc != CDC_OK)
            return rc;
    }
    if (w == 0) {
        /* nothing but unchanged values: touch the key so that a missing
         * row is still noticed */
        const struct pg_col *first = NULL;
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
    return build_match(s, t, ev, err);
}

/* Whether the event is written as an upsert of its whole row: inserts,
 * and updates that carry the whole row, keep their key, and have a unique
 * index on it (see queue_event). */
static bool is_upsert(const struct pg_sink *s, const struct cdc_event *ev)
{
    if (ev->op == CDC_OP_INSERT || ev->op == CDC_OP_COPY)
        return true;
    if (ev->op != CDC_OP_UPDATE || ev->nunchanged > 0 || ev->nkey == 0 ||
        !sink__key_unchanged(ev))
        return false;
    for (size_t i = 0; i < s->ntables; i++) {
        const struct pg_table *t = s->tables[i];
        if (strcmp(t->name, ev->table) == 0 &&
            strcmp(t->schema, ev->schema) == 0)
            return !t->missing &&
                   sink__keys_has(&t->keys, ev->key, ev->nkey, false);
    }
    return false;
}

/* Hash of the event's key values (0 without a key). */
static uint64_t key_hash(const struct cdc_event *ev)
{
    uint64_t h = 0;
    for (size_t i = 0; i < ev->nkey; i++) {
        const struct cdc_col *c =
            sink__event_col(ev->cols, ev->ncols, ev->key[i]);
        if (c == NULL || c->value == NULL)
            h = h * 31 + 7;
        else
            h = h * 31 + hash_str(c->value, c->value_len);
    }
    return h;
}

/*
 * How many events from i on can go as one multi-row upsert (1: none):
 * consecutive upserts of one table and column list, none with the key of
 * another in the run (a statement may not change one row twice). At most
 * UNNEST_ROWS.
 */
static size_t insert_run(const struct pg_sink *s, const struct cdc_batch *batch,
                         size_t i, size_t last)
{
    const struct cdc_event *ev = batch->events[i];
    if (s->single_rows)
        return 1;
    /* the run's key hashes, open addressing (a false match only ends the
     * run early) */
    enum { SLOTS = UNNEST_ROWS * 2 };
    uint64_t keys[SLOTS];
    bool used[SLOTS];
    memset(used, 0, sizeof(used));
    size_t n = 0;
    while (i + n <= last && n < UNNEST_ROWS) {
        const struct cdc_event *next = batch->events[i + n];
        if (n > 0 && (!is_upsert(s, next) || !sink__same_shape(ev, next)))
            break;
        if (ev->nkey > 0) {
            uint64_t h = key_hash(next);
            size_t j = (size_t)(h % SLOTS);
            while (used[j] && keys[j] != h)
                j = (j + 1) % SLOTS;
            if (used[j])
                break;
            used[j] = true;
            keys[j] = h;
        }
        n++;
    }
    return n > 0 ? n : 1;
}

/* The target table of ev; poison when the target does not have it. */
static int table_for(struct pg_sink *s, const struct cdc_event *ev,
                     struct pg_table **t, struct cdc_err *err)
{
    int rc = find_table(s, ev->schema, ev->table, t, err);
    if (rc != CDC_OK)
        return rc;
    if ((*t)->missing)
        return cdc_err_set(err, CDC_ENOTFOUND, CDC_ERR_POISON,
                           "table %s does not exist on the target (create it, "
                           "or use --target-sync-schema)",
                           (*t)->qname);
    return CDC_OK;
}

/* Appends column col of events [i, i + n) as the text of a text[], and a
 * NUL after it, each value as value_text gives it for the column's target
 * column tc. On failure *bad is the index of the event at fault. */
static int append_array(struct pg_sink *s, const struct pg_table *t,
                        const struct pg_col *tc, const struct cdc_batch *batch,
                        size_t i, size_t n, size_t col, size_t *bad,
                        struct cdc_err *err)
{
    struct cdc_buf *b = &s->arrays;
    cdc_buf_append_char(b, '{');
    for (size_t r = 0; r < n; r++) {
        const struct cdc_event *ev = batch->events[i + r];
        const struct cdc_col *c = &ev->cols[col];
        if (r > 0)
            cdc_buf_append_char(b, ',');
        if (c->value == NULL) {
            cdc_buf_append(b, "NULL", 4);
            continue;
        }
        const char *v = NULL;
        size_t len = 0;
        int rc = value_text(&s->conv, t, tc, ev, c, &v, &len, err);
        if (rc != CDC_OK) {
            *bad = i + r;
            return rc;
        }
        cdc_buf_append_char(b, '"');
        size_t from = 0;
        for (size_t k = 0; k < len; k++) {
            if (v[k] != '"' && v[k] != '\\')
                continue;
            cdc_buf_append(b, v + from, k - from);
            cdc_buf_append_char(b, '\\');
            from = k;
        }
        cdc_buf_append(b, v + from, len - from);
        cdc_buf_append_char(b, '"');
    }
    cdc_buf_append(b, "}", 2); /* with its NUL */
    return CDC_OK;
}

/* Appends column col of events [i, i + n) as a one-dimensional array of
 * tc's type in binary form (pg_binary.c), which the target reads for less
 * than the text of a text[] and a cast of each element; each value as
 * value_text gives it. *done is false, and nothing appended, when a value
 * has no binary form (the column then goes as text). On failure *bad is
 * the index of the event at fault. */
static int append_binary_array(struct pg_sink *s, const struct pg_table *t,
                               const struct pg_col *tc,
                               const struct cdc_batch *batch, size_t i,
                               size_t n, size_t col, bool *done, size_t *bad,
                               struct cdc_err *err)
{
    struct cdc_buf *b = &s->arrays;
    size_t start = b->len;
    size_t open = sink__pg_binary_array_open(b, tc->type_oid);
    bool nulls = false;
    *done = false;
    for (size_t r = 0; r < n; r++) {
        const struct cdc_event *ev = batch->events[i + r];
        const struct cdc_col *c = &ev->cols[col];
        if (c->value == NULL) {
            sink__pg_binary_null(b);
            nulls = true;
            continue;
        }
        const char *v = NULL;
        size_t len = 0;
        int rc = value_text(&s->conv, t, tc, ev, c, &v, &len, err);
        if (rc != CDC_OK)
            *bad = i + r;
        if (rc != CDC_OK || !sink__pg_binary_value(b, tc->type_oid, v, len)) {
            b->len = start;
            b->data[start] = '\0';
            return rc;
        }
    }
    sink__pg_binary_array_close(b, open, n, nulls);
    *done = true;
    return CDC_OK;
}

/* Appends "<p>0, <p>1, ..., <p>(n-1)": the columns of a run's unnest. */
static void append_cn(struct cdc_buf *b, const char *prefix, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            cdc_buf_append_str(b, ", ");
        cdc_buf_append_str(b, prefix);
        cdc_buf_append_uint(b, k);
    }
}

/* Appends "SELECT u.c1::type, ... FROM unnest($a, ...) AS u(c1, ...)":
 * one array parameter per written column, holding the values of rows
 * [i, i + n): of the column's type in binary form where pg_binary.c reads
 * every value, else a text[] whose elements the column's input function
 * reads (as a parameter typed by the column would be). One prepared
 * statement serves every run size. On failure (a value the target cannot
 * hold) *bad is the index of the event at fault. */
static int append_unnest(struct pg_sink *s, const struct pg_table *t,
                         const struct cdc_batch *batch, size_t i, size_t n,
                         size_t *bad, struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    cdc_buf_append_str(&s->sql, " SELECT ");
    size_t w = 0;
    for (size_t c = 0; c < ev->ncols; c++) {
        if (s->wcols[c] == NULL)
            continue;
        if (w > 0)
            cdc_buf_append_str(&s->sql, ", ");
        cdc_buf_append_str(&s->sql, "u.c");
        cdc_buf_append_uint(&s->sql, w);
        cdc_buf_append_str(&s->sql, "::");
        cdc_buf_append_str(&s->sql, s->wcols[c]->type_sql);
        w++;
    }
    cdc_buf_append_str(&s->sql, " FROM unnest(");
    cdc_buf_reset(&s->arrays);
    if (w > s->cap_array_at) {
        s->cap_array_at = w * 2;
        s->array_at =
            cdc_xrealloc(s->array_at, s->cap_array_at * sizeof(*s->array_at));
        s->array_len =
            cdc_xrealloc(s->array_len, s->cap_array_at * sizeof(*s->array_len));
    }
    int first = s->nparams;
    /* the arrays are built column by column: after a value the target
     * cannot hold, the columns left are still read up to its row, so the
     * first row at fault is the one reported */
    int failed = CDC_OK;
    struct cdc_err first_err;
    w = 0;
    for (size_t c = 0; c < ev->ncols && n > 0; c++) {
        const struct pg_col *tc = s->wcols[c];
        if (tc == NULL)
            continue;
        if (w > 0)
            cdc_buf_append_str(&s->sql, ", ");
        size_t at = s->arrays.len;
        uint32_t array_oid = sink__pg_binary_array_of(tc->type_oid);
        bool binary = false;
        int rc = CDC_OK;
        if (array_oid != 0)
            rc = append_binary_array(s, t, tc, batch, i, n, c, &binary, bad,
                                     err);
        if (rc == CDC_OK && !binary)
            rc = append_array(s, t, tc, batch, i, n, c, bad, err);
        if (binary) {
            /* typed in the text too: the prepared statement for texts
             * is another */
            add_param(s, NULL, array_oid);
            cdc_buf_append_str(&s->sql, "::");
            cdc_buf_append_str(&s->sql, tc->type_sql);
            cdc_buf_append_str(&s->sql, "[]");
            s->fmts[s->nparams - 1] = 1;
            s->nbinary++;
        } else {
            add_param(s, NULL, OID_TEXT_ARRAY);
        }
        s->array_at[w] = at;
        s->array_len[w] = binary ? s->arrays.len - at : 0;
        w++;
        if (rc != CDC_OK) {
            failed = rc;
            first_err = *err;
            n = *bad - i;
        }
    }
    if (failed != CDC_OK) {
        *err = first_err;
        return failed;
    }
    cdc_buf_append_str(&s->sql, ") AS u(");
    append_cn(&s->sql, "c", w);
    cdc_buf_append_char(&s->sql, ')');
    /* the arrays are in place now that the buffer no longer moves */
    for (size_t k = 0; k < w; k++) {
        s->vals[first + (int)k] = s->arrays.data + s->array_at[k];
        s->lens[first + (int)k] = (int)s->array_len[k];
    }
    return CDC_OK;
}

/* Index among the written columns (the u.cN of append_unnest) of the
 * event's column named name; SIZE_MAX if it is not written. */
static size_t written_index(const struct pg_sink *s, const struct cdc_event *ev,
                            const char *name)
{
    size_t w = 0;
    for (size_t c = 0; c < ev->ncols; c++) {
        if (s->wcols[c] == NULL)
            continue;
        if (strcmp(s->wcols[c]->name, name) == 0)
            return w;
        w++;
    }
    return SIZE_MAX;
}

/* Builds "MERGE INTO table AS t USING (append_unnest) AS u ON key
 * matches WHEN MATCHED THEN UPDATE SET ... WHEN NOT MATCHED THEN INSERT
 * ...", the upsert of rows [i, i + n) (columns resolved) by the unique key
 * ck, whose columns are all written: an update of a row that is there
 * costs the target a lookup and the update, where ON CONFLICT also locks
 * the row first (one more WAL record per row). On failure *bad is the
 * index of the event at fault. */
static int build_merge(struct pg_sink *s, const struct pg_table *t,
                       const struct cdc_batch *batch, size_t i, size_t n,
                       const char *const *ck, size_t nck, size_t *bad,
                       struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    cdc_buf_append_str(&s->sql, "MERGE INTO ");
    cdc_buf_append_str(&s->sql, t->qname);
    cdc_buf_append_str(&s->sql, " AS t USING (");
    int rc = append_unnest(s, t, batch, i, n, bad, err);
    if (rc != CDC_OK)
        return rc;
    cdc_buf_append_str(&s->sql, ") AS u ON ");
    for (size_t k = 0; k < nck; k++) {
        size_t w = written_index(s, ev, ck[k]);
        CDC_ASSERT(w != SIZE_MAX); /* queue_upserts checked */
        if (k > 0)
            cdc_buf_append_str(&s->sql, " AND ");
        cdc_buf_append_str(&s->sql, "t.");
        append_ident(&s->sql, ck[k]);
        cdc_buf_append_str(&s->sql, " = u.c");
        cdc_buf_append_uint(&s->sql, w);
    }
    cdc_buf_append_str(&s->sql, " WHEN MATCHED THEN ");
    size_t w = 0, set = 0;
    for (size_t c = 0; c < ev->ncols; c++) {
        const struct pg_col *tc = s->wcols[c];
        if (tc == NULL)
            continue;
        if (!name_in(ck, nck, tc->name)) {
            cdc_buf_append_str(&s->sql, set++ == 0 ? "UPDATE SET " : ", ");
            append_ident(&s->sql, tc->name);
            cdc_buf_append_str(&s->sql, " = u.c");
            cdc_buf_append_uint(&s->sql, w);
        }
        w++;
    }
    if (set == 0)
        cdc_buf_append_str(&s->sql, "DO NOTHING");
    cdc_buf_append_str(&s->sql, " WHEN NOT MATCHED THEN INSERT");
    append_insert_cols(s, ev);
    cdc_buf_append_str(&s->sql, ") OVERRIDING SYSTEM VALUE VALUES (");
    append_cn(&s->sql, "u.c", w);
    cdc_buf_append_char(&s->sql, ')');
    return CDC_OK;
}

/* Queues events [i, i + n) of the batch, upserts of one shape (see
 * insert_run), as one statement: one row with a parameter per column, or
 * a run with one array parameter per column (append_unnest). On failure
 * *bad is the index of the event at fault. */
static int queue_upserts(struct pg_sink *s, const struct cdc_batch *batch,
                         size_t i, size_t n, size_t *bad, struct cdc_err *err)
{
    *bad = i;
    const struct cdc_event *ev = batch->events[i];
    struct pg_table *t = NULL;
    int rc = table_for(s, ev, &t, err);
    if (rc != CDC_OK)
        return rc;
    const char **ck = NULL;
    size_t nck = 0;
    bool has_ck = conflict_target(t, ev, &ck, &nck);
    bool merge = n > 1 && has_ck && ev->op == CDC_OP_UPDATE && t->mergeable;
    if (merge) {
        rc = resolve_cols(s, t, ev, err);
        if (rc != CDC_OK)
            return rc;
        /* a key column that is never written (generated) is left to ON
         * CONFLICT, which matches on it without a value */
        for (size_t k = 0; k < nck && merge; k++)
            merge = written_index(s, ev, ck[k]) != SIZE_MAX;
    }
    if (merge && !s->joins_off) {
        /* the statement's plan is kept: one made while the table was small
         * could join it by reading it whole, and go on doing so once it is
         * large; by its key index it never does */
        rc = send_plain(s,
                        "SELECT pg_catalog.set_config('enable_hashjoin', "
                        "'off', true), pg_catalog.set_config("
                        "'enable_mergejoin', 'off', true)",
                        SIZE_MAX, err);
        if (rc != CDC_OK)
            return rc;
        s->joins_off = true;
    }
    stmt_begin(s);
    if (merge) {
        rc = build_merge(s, t, batch, i, n, ck, nck, bad, err);
    } else {
        cdc_buf_append_str(&s->sql, "INSERT INTO ");
        cdc_buf_append_str(&s->sql, t->qname);
        if (n > 1) {
            /* same shape: the columns resolved for the first row hold for
             * all */
            rc = resolve_cols(s, t, ev, err);
            if (rc == CDC_OK) {
                append_insert_cols(s, ev);
                cdc_buf_append_str(&s->sql, ") OVERRIDING SYSTEM VALUE");
                rc = append_unnest(s, t, batch, i, n, bad, err);
            }
        } else {
            rc = build_insert_body(s, t, ev, false, err);
        }
        if (rc == CDC_OK && has_ck)
            build_on_conflict(s, ev, ck, nck);
    }
    if (rc != CDC_OK)
        return rc;
    rc = send_stmt(s, i, err);
    if (rc == CDC_OK)
        s->cmds[s->ncmds - 1].multi = n > 1;
    return rc;
}

static int queue_event(struct pg_sink *s, const struct cdc_event *ev,
                       size_t index, struct cdc_err *err)
{
    struct pg_table *t = NULL;
    int rc = table_for(s, ev, &t, err);
    if (rc != CDC_OK)
        return rc;
    const char **ck = NULL;
    size_t nck = 0;
    stmt_begin(s);
    switch (ev->op) {
    case CDC_OP_INSERT:
    case CDC_OP_COPY:
        CDC_BUG("inserts are queued as upserts");
        break;
    case CDC_OP_UPDATE:
        if (ev->nunchanged > 0) {
            /* part of the row only: it must exist; tributary.require_row
             * fails the statement when it does not */
            cdc_buf_append_str(&s->sql, "WITH u AS (");
            rc = build_update(s, t, ev, err);
            if (rc != CDC_OK)
                break;
            cdc_buf_printf(&s->sql,
                           " RETURNING 1) SELECT tributary.require_row("
                           "(SELECT count(*) FROM u), ");
            add_param(s, t->qname, OID_TEXT);
            cdc_buf_append_char(&s->sql, ')');
        } else {
            /* the whole row (an upsert when its key stayed and has a
             * unique index, see is_upsert): update it where it is, else
             * insert it */
            cdc_buf_append_str(&s->sql, "WITH u AS (");
            rc = build_update(s, t, ev, err);
            if (rc != CDC_OK)
                break;
            cdc_buf_append_str(&s->sql, " RETURNING 1) INSERT INTO ");
            cdc_buf_append_str(&s->sql, t->qname);
            rc = build_insert_body(s, t, ev, true, err);
            if (rc != CDC_OK)
                break;
            cdc_buf_append_str(&s->sql, " WHERE NOT EXISTS (SELECT 1 FROM u)");
            if (conflict_target(t, ev, &ck, &nck))
                build_on_conflict(s, ev, ck, nck);
        }
        break;
    case CDC_OP_DELETE:
        cdc_buf_append_str(&s->sql, "DELETE FROM ");
        cdc_buf_append_str(&s->sql, t->qname);
        rc = build_match(s, t, ev, err);
        break;
    case CDC_OP_TRUNCATE:
        cdc_buf_append_str(&s->sql, "TRUNCATE ");
        cdc_buf_append_str(&s->sql, t->qname);
        return send_plain(s, s->sql.data, index, err);
    case CDC_OP_DDL:
        CDC_BUG("schema changes are applied on their own");
        break;
    }
    if (rc != CDC_OK)
        return rc;
    return send_stmt(s, index, err);
}

/* ==== Connection ==== */

static const char *const SETUP_SQL[] = {
    /* workers of several groups starting together would otherwise race
     * on the same catalog rows ("tuple concurrently updated") */
    "BEGIN",
    "SELECT pg_catalog.pg_advisory_xact_lock(7428164913016283)",
    "CREATE SCHEMA IF NOT EXISTS tributary",
    "CREATE TABLE IF NOT EXISTS tributary.positions ("
    " group_name text PRIMARY KEY, source text NOT NULL,"
    " position text NOT NULL, tx_index bigint NOT NULL,"
    " stream_seq bigint NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS tributary.blocked ("
    " group_name text NOT NULL, schema_name text NOT NULL,"
    " table_name text NOT NULL, position text NOT NULL,"
    " statement text NOT NULL, error text NOT NULL,"
    " since timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (group_name, schema_name, table_name))",
    "CREATE OR REPLACE FUNCTION tributary.require_row(n bigint, tbl text)"
    " RETURNS void LANGUAGE plpgsql AS $f$ BEGIN IF n = 0 THEN"
    " RAISE EXCEPTION 'update of % found no row, and the event does not"
    " carry the whole row (unchanged TOAST values)', tbl"
    " USING ERRCODE = 'P0002'; END IF; END $f$",
    /* moves a group's position on only from the one this session read:
     * a batch of a worker that died but whose session still runs, and a
     * second worker of the group, can then never both commit */
    "CREATE OR REPLACE FUNCTION tributary.advance(g text, src text,"
    " pos text, txi bigint, seq bigint, expected bigint)"
    " RETURNS void LANGUAGE plpgsql AS $f$ BEGIN"
    " IF expected IS NULL THEN"
    " INSERT INTO tributary.positions (group_name, source, position,"
    " tx_index, stream_seq) VALUES (g, src, pos, txi, seq);"
    " ELSE UPDATE tributary.positions SET source = src, position = pos,"
    " tx_index = txi, stream_seq = seq, updated_at = now()"
    " WHERE group_name = g AND stream_seq = expected;"
    " IF NOT FOUND THEN RAISE EXCEPTION"
    " 'the applied position of group % moved under this session', g"
    " USING ERRCODE = '40001'; END IF; END IF; END $f$",
    "COMMIT",
};

static const char *const MARK_SQL =
    "SELECT tributary.advance($1, $2, $3, $4, $5, $6)";
/* Types of MARK_SQL's parameters. */
static const uint32_t MARK_OIDS[6] = {OID_TEXT, OID_TEXT, OID_TEXT,
                                      OID_INT8, OID_INT8, OID_INT8};

/* The parameters of MARK_SQL that move the group's position to ev at
 * stream sequence seq, from the one this session read. */
struct mark_args {
    char seq[24];
    char txi[16];
    char expected[24];
    const char *vals[6];
};

static void mark_args(const struct pg_sink *s, const struct cdc_event *ev,
                      uint64_t seq, struct mark_args *m)
{
    snprintf(m->seq, sizeof(m->seq), "%" PRIu64, seq);
    snprintf(m->txi, sizeof(m->txi), "%" PRIu32, ev->tx_index);
    snprintf(m->expected, sizeof(m->expected), "%" PRIu64, s->mark.stream_seq);
    m->vals[0] = s->group;
    m->vals[1] = ev->source;
    m->vals[2] = ev->position;
    m->vals[3] = m->txi;
    m->vals[4] = m->seq;
    m->vals[5] = s->mark.set ? m->expected : NULL;
}

static int read_blocked(struct pg_sink *s, struct cdc_err *err);

static void lane_close(struct copy_lane *ln);

static void disconnect(struct pg_sink *s)
{
    if (s->conn != NULL)
        PQfinish(s->conn);
    s->conn = NULL;
    lane_close(&s->lanes[1]);
    stmts_clear(s);
    forget_tables(s);
}

static int read_mark(struct pg_sink *s, struct cdc_err *err)
{
    PGresult *res = NULL;
    const char *vals[1] = {s->group};
    int rc =
        exec_params(s,
                    "SELECT source, position, tx_index, stream_seq "
                    "FROM tributary.positions WHERE group_name = $1",
                    1, vals, &res, "could not read the applied position", err);
    if (rc != CDC_OK)
        return rc;
    memset(&s->mark, 0, sizeof(s->mark));
    if (PQntuples(res) == 1) {
        s->mark.set = true;
        snprintf(s->mark.source, sizeof(s->mark.source), "%s",
                 PQgetvalue(res, 0, 0));
        snprintf(s->mark.position, sizeof(s->mark.position), "%s",
                 PQgetvalue(res, 0, 1));
        s->mark.tx_index = (uint32_t)strtoul(PQgetvalue(res, 0, 2), NULL, 10);
        s->mark.stream_seq = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
    }
    PQclear(res);
    return CDC_OK;
}

static int sync_schema(struct pg_sink *s, struct cdc_err *err)
{
    char pub[CDC_NAME_MAX];
    cdc_name_pg(s->group, pub, sizeof(pub));
    struct cdc_buf ddl;
    cdc_buf_init(&ddl, 0);
    int rc = sink__pg_schema_ddl(s->src_kw, s->src_val, pub, &ddl, err);
    if (rc != CDC_OK) {
        cdc_err_prefix(err, "cannot copy the schema from the source");
        goto out;
    }
    if (ddl.len == 0)
        goto out;
    /* one transaction: the target gets all of it or none */
    rc = exec_params(s, "BEGIN", 0, NULL, NULL, "could not begin", err);
    if (rc != CDC_OK)
        goto out;
    PGresult *res = PQexec(s->conn, ddl.data);
    if (PQresultStatus(res) != PGRES_COMMAND_OK &&
        PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = result_error(
            s, res, "could not create the group's tables on the target", err);
        PQclear(res);
        PQclear(PQexec(s->conn, "ROLLBACK"));
        goto out;
    }
    PQclear(res);
    rc = exec_params(s, "COMMIT", 0, NULL, NULL,
                     "could not create the group's tables on the target", err);
    if (rc == CDC_OK) {
        s->schema_done = true;
        cdc_log(CDC_LOG_INFO, "sink",
                "sink=postgres created the tables of publication \"%s\" on "
                "the target where missing",
                pub);
    }
out:
    cdc_buf_release(&ddl);
    return rc;
}

/* Notices ("already exists, skipping") are for people debugging. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char line[200];
    sink__one_line(message, line, sizeof(line));
    cdc_log(CDC_LOG_DEBUG, "sink", "sink=postgres target says: %s", line);
}

static int connect_target(struct pg_sink *s, struct cdc_err *err)
{
    int rc = CDC_OK;
    if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK)
        return CDC_OK;
    disconnect(s);
    s->conn = PQconnectdbParams(s->kw, s->val, 1);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        char msg[200];
        sink__one_line(PQerrorMessage(s->conn), msg, sizeof(msg));
        bool retriable = cdc_db_connect_retriable(msg);
        disconnect(s);
        return cdc_err_set(err, retriable ? CDC_EIO : CDC_ECONFIG,
                           retriable ? CDC_ERR_RETRIABLE : 0,
                           "could not connect to target PostgreSQL: %s", msg);
    }
    PQsetNoticeProcessor(s->conn, notice_to_log, NULL);
    for (size_t i = 0; i < sizeof(SETUP_SQL) / sizeof(SETUP_SQL[0]); i++) {
        rc = exec_params(s, SETUP_SQL[i], 0, NULL, NULL,
                         "could not set up schema \"tributary\" on the target",
                         err);
        /* two workers creating it at the same moment: the loser retries */
        if (rc != CDC_OK && (err->flags & CDC_ERR_POISON))
            err->flags = CDC_ERR_RETRIABLE;
        if (rc != CDC_OK)
            goto out;
    }
    if (s->disable_fk) {
        rc = exec_params(s, "SET session_replication_role = replica", 0, NULL,
                         NULL, "cannot apply --target-disable-foreign-keys",
                         err);
        if (rc != CDC_OK) {
            err->flags = 0;
            goto out;
        }
    }
    rc = read_mark(s, err);
    if (rc == CDC_OK)
        rc = read_blocked(s, err);
    if (rc != CDC_OK)
        goto out;
    if (s->sync_schema && !s->schema_done)
        rc = sync_schema(s, err);
out:
    if (rc != CDC_OK)
        disconnect(s);
    return rc;
}

/* ==== Pipeline ==== */

/* Waits until the socket can be read (and written, while output is
 * pending), at most a second, so a dead connection is noticed. */
static int wait_socket(struct pg_sink *s, bool want_write, struct cdc_err *err)
{
    struct pollfd pfd = {.fd = PQsocket(s->conn), .events = POLLIN};
    if (want_write)
        pfd.events |= POLLOUT;
    int n = poll(&pfd, 1, 1000);
    if (n < 0 && errno != EINTR)
        return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                           "could not wait for the target: %s",
                           strerror(errno));
    return CDC_OK;
}

/*
 * Sends what is queued and reads every result up to the pipeline's sync.
 * The first failed command is reported by its event index (SIZE_MAX for
 * BEGIN, the mark and COMMIT); the commands after it are aborted by the
 * server.
 */
static int run_pipeline(struct pg_sink *s, size_t *failed_cmd,
                        char *failed_state, struct cdc_err *err)
{
    int rc = CDC_OK;
    bool failed = false;
    size_t cmd = 0;
    bool in_cmd = false; /* a result of cmd was seen, its NULL is due */
    *failed_cmd = SIZE_MAX;
    if (!PQpipelineSync(s->conn))
        return result_error(s, NULL, "could not send a batch", err);
    for (;;) {
        int f = PQflush(s->conn);
        if (f < 0)
            return result_error(s, NULL, "could not send a batch", err);
        if (!PQconsumeInput(s->conn))
            return result_error(s, NULL, "could not read from the target", err);
        if (PQisBusy(s->conn)) {
            /* rc may already hold the batch's error: keep it */
            int wrc = wait_socket(s, f == 1, err);
            if (wrc != CDC_OK)
                return wrc;
            if (PQstatus(s->conn) != CONNECTION_OK)
                return result_error(s, NULL, "lost the target", err);
            continue;
        }
        PGresult *res = PQgetResult(s->conn);
        if (res == NULL) {
            if (in_cmd) {
                cmd++;
                in_cmd = false;
            }
            continue;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        in_cmd = true;
        if (st == PGRES_FATAL_ERROR && !failed) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            failed = true;
            *failed_cmd = cmd;
            snprintf(failed_state, 6, "%s", state ? state : "");
            rc = result_error(s, res, "", err);
        } else if (st == PGRES_COMMAND_OK && !failed &&
                   strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
            /* COMMIT of a transaction that failed earlier: never count
             * that as applied */
            failed = true;
            *failed_cmd = cmd;
            rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                             "the target rolled the batch back");
        }
        cdc_log(CDC_LOG_TRACE, "sink", "sink=postgres command %zu: %s %s", cmd,
                PQresStatus(st), PQcmdStatus(res));
        PQclear(res);
    }
    return rc;
}

/* ==== Schema changes ==== */

static void mark_committed(struct pg_sink *s, const struct cdc_batch *batch,
                           size_t last);

/* Whether the target holds ev already (never for a replay). */
static bool covered(const struct pg_sink *s, const struct cdc_batch *batch,
                    const struct cdc_event *ev)
{
    return !batch->replay && sink_mark_covers(&s->mark, ev);
}

static int read_blocked(struct pg_sink *s, struct cdc_err *err)
{
    PGresult *res = NULL;
    const char *vals[1] = {s->group};
    int rc =
        exec_params(s,
                    "SELECT schema_name, table_name FROM tributary.blocked "
                    "WHERE group_name = $1",
                    1, vals, &res, "could not read the blocked tables", err);
    if (rc != CDC_OK)
        return rc;
    sink__blocked_clear(&s->blocked);
    for (int r = 0; r < PQntuples(res); r++)
        sink__blocked_add(&s->blocked, PQgetvalue(res, r, 0),
                          PQgetvalue(res, r, 1));
    PQclear(res);
    return CDC_OK;
}

static bool is_blocked(const struct pg_sink *s, const struct cdc_event *ev)
{
    return sink__blocked_has(&s->blocked, ev->schema ? ev->schema : "public",
                             ev->table);
}

/* An error for a change of a blocked table: set aside at once. */
static int blocked_error(const struct cdc_event *ev, size_t index,
                         struct cdc_err *err)
{
    return sink__blocked_error(ev, ev->schema ? ev->schema : "public", '"',
                               index, err);
}

/* The first change in events[0..last] of a blocked table, or SIZE_MAX.
 * While tables are blocked the list is read again for each batch, so a
 * table set free on the target flows again at once. */
static int find_blocked(struct pg_sink *s, const struct cdc_batch *batch,
                        size_t last, size_t *at, struct cdc_err *err)
{
    *at = SIZE_MAX;
    if (s->blocked.n == 0)
        return CDC_OK;
    int rc = read_blocked(s, err);
    if (rc != CDC_OK)
        return rc;
    for (size_t i = 0; i <= last && *at == SIZE_MAX; i++) {
        const struct cdc_event *ev = batch->events[i];
        if (ev->table != NULL && !covered(s, batch, ev) && is_blocked(s, ev))
            *at = i;
    }
    return CDC_OK;
}

/* Records that ev's table is blocked by its failed schema change. */
static void block_table(struct pg_sink *s, const struct cdc_event *ev,
                        const char *error)
{
    const char *vals[6] = {s->group,  ev->schema ? ev->schema : "public",
                           ev->table, ev->position,
                           ev->ddl,   error};
    struct cdc_err e2;
    cdc_err_clear(&e2);
    PQclear(PQexec(s->conn, "ROLLBACK"));
    if (exec_params(s,
                    "INSERT INTO tributary.blocked (group_name, schema_name, "
                    "table_name, position, statement, error) VALUES ($1, $2, "
                    "$3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    6, vals, NULL, "could not record the blocked table",
                    &e2) != CDC_OK) {
        cdc_log(CDC_LOG_WARN, "sink", "sink=postgres %s", e2.msg);
        return;
    }
    read_blocked(s, &e2);
    cdc_log(CDC_LOG_ERROR, "sink",
            "sink=postgres changes of \"%s\".\"%s\" are set aside from now on: "
            "its schema change at %s failed on the target (%s); fix the "
            "table, then delete its row from tributary.blocked",
            vals[1], vals[2], ev->position, error);
}

/* Moves the group's position to ev, in the open transaction. */
static int advance_mark(struct pg_sink *s, const struct cdc_event *ev,
                        uint64_t seq, struct cdc_err *err)
{
    struct mark_args m;
    mark_args(s, ev, seq, &m);
    return exec_params(s, MARK_SQL, 6, m.vals, NULL,
                       "could not record the applied position", err);
}

/* Whether a failed statement that runs outside a transaction had in fact
 * been applied before (the sink stopped between it and the mark). */
static bool applied_before(const char *tag, const char *sqlstate)
{
    if (sqlstate == NULL)
        return false;
    if (strcmp(tag, "CREATE INDEX") == 0)
        return strcmp(sqlstate, "42P07") == 0; /* duplicate_table */
    if (strcmp(tag, "DROP INDEX") == 0)
        return strcmp(sqlstate, "42704") == 0; /* undefined_object */
    return false;
}

/* Runs sql as one statement outside a pipeline; its SQLSTATE (if it
 * failed) goes to state. */
static int exec_ddl(struct pg_sink *s, const char *sql, char *state,
                    struct cdc_err *err)
{
    PGresult *res = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = CDC_OK;
    state[0] = '\0';
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(state, 6, "%s", code ? code : "");
        rc = result_error(s, res, "", err);
    }
    PQclear(res);
    return rc;
}

/*
 * Applies the schema change at batch->events[i]: in a transaction with
 * the group's position, or (CONCURRENTLY) on its own, then the position.
 * The statement runs with the source session's search_path. A change the
 * target refuses blocks its table (see block_table) and is poison.
 */
static int apply_ddl(struct pg_sink *s, const struct cdc_batch *batch, size_t i,
                     struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    if (covered(s, batch, ev))
        return CDC_OK;
    if (ev->source == NULL || strcmp(ev->source, "postgres") != 0)
        return sink__foreign_ddl(ev, "PostgreSQL", i, err);
    if (ev->table != NULL && is_blocked(s, ev))
        return blocked_error(ev, i, err);
    const char *sql = ev->ddl;
    struct cdc_sql_stmt st;
    size_t n = cdc_sql_split(sql, strlen(sql), &st, 1);
    char tag[64] = "";
    char state[6] = "";
    int rc = CDC_OK;
    if (n != 1) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "the statement could not be told apart from the "
                         "others sent with it in one query string");
    }
    if (rc == CDC_OK)
        cdc_sql_tag(sql + st.start, st.len, tag, sizeof(tag));
    bool no_tx = rc == CDC_OK && cdc_sql_no_transaction(sql + st.start, st.len);
    const char *vals[2] = {ev->search_path ? ev->search_path : "public",
                           no_tx ? "false" : "true"};
    if (rc == CDC_OK && !no_tx)
        rc = exec_params(s, "BEGIN", 0, NULL, NULL, "could not begin", err);
    if (rc == CDC_OK)
        rc = exec_params(s,
                         "SELECT pg_catalog.set_config('search_path', $1, "
                         "$2::boolean)",
                         2, vals, NULL, "could not set the search_path", err);
    bool ran = false;
    if (rc == CDC_OK) {
        rc = exec_ddl(s, sql, state, err);
        ran = rc == CDC_OK;
        if (rc != CDC_OK && no_tx && applied_before(tag, state)) {
            cdc_log(CDC_LOG_INFO, "sink",
                    "sink=postgres %s of \"%s\".\"%s\" at %s was applied "
                    "before (%s)",
                    tag, ev->schema, ev->table, ev->position, err->msg);
            rc = CDC_OK;
        }
    }
    if (rc == CDC_OK && no_tx) {
        PQclear(PQexec(s->conn, "RESET search_path"));
        rc = exec_params(s, "BEGIN", 0, NULL, NULL, "could not begin", err);
    }
    if (rc == CDC_OK && !batch->replay)
        rc = advance_mark(s, ev, batch->seqs[i], err);
    if (rc == CDC_OK)
        rc = exec_params(s, "COMMIT", 0, NULL, NULL,
                         "could not commit a schema change", err);
    if (rc != CDC_OK) {
        struct cdc_err saved = *err;
        if ((saved.flags & CDC_ERR_POISON) && !ran &&
            PQstatus(s->conn) == CONNECTION_OK) {
            block_table(s, ev, saved.msg);
            saved.flags |= CDC_ERR_FINAL;
        }
        cdc_err_set(err, saved.code, saved.flags,
                    "could not apply the schema change of \"%s\".\"%s\" "
                    "(position %s): %s",
                    ev->schema ? ev->schema : "public", ev->table, ev->position,
                    saved.msg);
        err->index = i;
        /* cached shapes may be stale; a fresh connection reads them */
        disconnect(s);
        return rc;
    }
    PQclear(PQexec(s->conn, "RESET search_path"));
    cdc_log(CDC_LOG_INFO, "sink",
            "sink=postgres applied %s of \"%s\".\"%s\" at %s", tag,
            ev->schema ? ev->schema : "public", ev->table, ev->position);
    mark_committed(s, batch, i);
    /* every table's shape is read again, and statements prepared anew */
    forget_tables(s);
    PQclear(PQexec(s->conn, "DEALLOCATE ALL"));
    stmts_clear(s);
    return CDC_OK;
}

/* ==== Copied rows ==== */

/* Batches that upsert after COPY was refused, before it is tried again. */
#define COPY_PAUSE_BATCHES 16
/* COPY data is sent in pieces of about this size. */
#define COPY_CHUNK (64 * 1024)
/* Rows of a binary COPY encoded before it starts, at most: past this the
 * rest is sent as it is encoded, and a value found then that has no
 * binary form fails the COPY (the batch then goes as upserts). */
#define COPY_HOLD ((size_t)32 << 20)
/* Batches of copied rows of at least this many go over two connections. */
#define COPY_LANE_MIN_ROWS 4000
/* what the second connection is called on the target */
#define LANE_APP_NAME "tributary-worker-copy"

/* Appends value in COPY's text format. */
static void copy_escape(struct cdc_buf *b, const char *v, size_t len)
{
    size_t start = 0;
    for (size_t i = 0;; i++) {
        i += cdc_plain_span(v + i, len - i, '\\', '\\');
        if (i >= len)
            break;
        const char *esc;
        switch (v[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue; /* other control characters go as they are */
        }
        cdc_buf_append(b, v + start, i - start);
        cdc_buf_append(b, esc, 2);
        start = i + 1;
    }
    cdc_buf_append(b, v + start, len - start);
}

/* Whether batch[0..last] only adds rows (copied or inserted) and none
 * of it was committed before, so that COPY can load it whole. */
static bool all_added(const struct pg_sink *s, const struct cdc_batch *batch,
                      size_t last)
{
    for (size_t i = 0; i <= last; i++) {
        const struct cdc_event *ev = batch->events[i];
        if ((ev->op != CDC_OP_COPY && ev->op != CDC_OP_INSERT) ||
            covered(s, batch, ev))
            return false;
    }
    return true;
}

/* Runs one statement of the copy path on conn; false (err set) on
 * failure. */
static bool copy_exec(PGconn *conn, const char *sql, int n,
                      const char *const *vals, struct cdc_err *err)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
              PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        conn_error(conn, res, "", err);
    PQclear(res);
    return ok;
}

/* How one row went into a lane's COPY data. */
enum copy_fit {
    ROW_IN,   /* appended */
    ROW_BAD,  /* a value the target cannot hold: err says which */
    ROW_TEXT, /* a value with no binary form: nothing appended */
};

/* Appends row to ln->buf in COPY's text or binary form, its values as
 * value_text gives them. */
static enum copy_fit copy_row(struct copy_lane *ln, const struct pg_table *t,
                              const struct cdc_event *row, bool binary,
                              struct cdc_err *err)
{
    struct cdc_buf *b = &ln->buf;
    size_t at = b->len;
    bool convert = from_mysql(row);
    if (binary)
        sink__pg_binary_row(b, row->ncols);
    for (size_t c = 0; c < row->ncols; c++) {
        const char *v = row->cols[c].value;
        size_t len = row->cols[c].value_len;
        if (convert && v != NULL && ln->wcols[c] != NULL &&
            value_text(&ln->conv, t, ln->wcols[c], row, &row->cols[c], &v, &len,
                       err) != CDC_OK)
            return ROW_BAD;
        if (binary) {
            if (v == NULL) {
                sink__pg_binary_null(b);
            } else if (!sink__pg_binary_value(b, ln->wcols[c]->type_oid, v,
                                              len)) {
                b->len = at;
                b->data[at] = '\0';
                return ROW_TEXT;
            }
            continue;
        }
        if (c > 0)
            cdc_buf_append_char(b, '\t');
        if (v == NULL)
            cdc_buf_append(b, "\\N", 2);
        else
            copy_escape(b, v, len);
    }
    if (!binary)
        cdc_buf_append_char(b, '\n');
    return ROW_IN;
}

/* Whether every column of ev is written and of a type the binary form
 * takes (ln->wcols resolved for ev). */
static bool binary_columns(const struct copy_lane *ln,
                           const struct cdc_event *ev)
{
    for (size_t c = 0; c < ev->ncols; c++)
        if (ln->wcols[c] == NULL ||
            !sink__pg_binary_type(ln->wcols[c]->type_oid))
            return false;
    return true;
}

/* Starts COPY of ev's table and columns on ln's connection. */
static bool copy_begin(struct copy_lane *ln, const struct pg_table *t,
                       const struct cdc_event *ev, bool binary,
                       struct cdc_err *err)
{
    struct cdc_buf *q = &ln->sql;
    cdc_buf_reset(q);
    cdc_buf_append_str(q, "COPY ");
    cdc_buf_append_str(q, t->qname);
    cdc_buf_append_str(q, " (");
    for (size_t c = 0; c < ev->ncols; c++) {
        if (c > 0)
            cdc_buf_append_str(q, ", ");
        append_ident(q, ev->cols[c].name);
    }
    cdc_buf_append_str(q, binary ? ") FROM STDIN (FORMAT binary)"
                                 : ") FROM STDIN");
    PGresult *res = PQexec(ln->conn, q->data);
    bool ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        conn_error(ln->conn, res, "", err);
    PQclear(res);
    return ok;
}

/*
 * Sends rows [i, i + n) of one table and column list with COPY on lane
 * ln. The table was read before the batch began. Where every column is of
 * a type pg_binary.c reads, the rows go in COPY's binary form, which the
 * target reads for a fraction of the text form's cost; they are encoded
 * before the COPY starts (up to COPY_HOLD bytes), so that a value with no
 * binary form sends the run as text instead.
 */
static bool copy_run(const struct pg_sink *s, struct copy_lane *ln,
                     const struct cdc_batch *batch, size_t i, size_t n,
                     struct cdc_err *err)
{
    const struct cdc_event *ev = batch->events[i];
    const struct pg_table *t = cached_table(s, ev->schema, ev->table);
    if (t == NULL || t->missing) {
        cdc_err_set(err, CDC_ENOTFOUND, CDC_ERR_POISON,
                    "table \"%s\".\"%s\" is not on the target", ev->schema,
                    ev->table);
        return false;
    }
    /* the target columns, for the values that need converting */
    if (resolve_into(t, ev, &ln->wcols, &ln->cap_wcols, err) != CDC_OK)
        return false;
    struct cdc_buf *b = &ln->buf;
    bool binary = binary_columns(ln, ev);
    bool started = false;
    bool sent = true;
    bool bad = false; /* err says why */
    cdc_buf_reset(b);
    if (binary)
        sink__pg_binary_header(b);
    for (size_t k = i; k < i + n && sent && !bad; k++) {
        enum copy_fit fit = copy_row(ln, t, batch->events[k], binary, err);
        if (fit == ROW_TEXT && !started) {
            binary = false; /* the run again, as text */
            cdc_buf_reset(b);
            k = i - 1;
            continue;
        }
        if (fit == ROW_TEXT) {
            cdc_err_set(err, CDC_EPROTO, 0, "a value of %s has no binary form",
                        t->qname);
            bad = true;
        }
        if (fit == ROW_BAD)
            bad = true;
        if (bad)
            break;
        if (!started && (!binary || b->len >= COPY_HOLD)) {
            if (!copy_begin(ln, t, ev, binary, err))
                return false;
            started = true;
        }
        if (started && b->len >= COPY_CHUNK) {
            sent = PQputCopyData(ln->conn, b->data, (int)b->len) == 1;
            cdc_buf_reset(b);
        }
    }
    if (!started) {
        if (bad)
            return false;
        if (!copy_begin(ln, t, ev, binary, err))
            return false;
    }
    if (binary && !bad)
        sink__pg_binary_trailer(b);
    if (sent && !bad && b->len > 0)
        sent = PQputCopyData(ln->conn, b->data, (int)b->len) == 1;
    cdc_buf_reset(b);
    bool ok =
        PQputCopyEnd(ln->conn, sent && !bad ? NULL : "not sent whole") == 1;
    if (bad)
        ok = false; /* err keeps the value's reason */
    PGresult *res;
    while ((res = PQgetResult(ln->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok)
                conn_error(ln->conn, res, "", err);
            ok = false;
        }
        PQclear(res);
    }
    if (!sent && ok)
        ok = false;
    if (ok)
        cdc_log(CDC_LOG_DEBUG, "sink",
                "sink=postgres COPY of %zu rows into %s in %s form", n,
                t->qname, binary ? "binary" : "text");
    return ok;
}

/* Sends rows [from, to) with COPY on lane ln, one COPY per run of one
 * table and column list. */
static bool copy_runs(const struct pg_sink *s, struct copy_lane *ln,
                      const struct cdc_batch *batch, size_t from, size_t to,
                      struct cdc_err *err)
{
    bool ok = true;
    for (size_t i = from; i < to && ok;) {
        size_t n = 1;
        while (i + n < to &&
               sink__same_shape(batch->events[i], batch->events[i + n]))
            n++;
        ok = copy_run(s, ln, batch, i, n, err);
        i += n;
    }
    return ok;
}

/* The second lane's thread: its part of the batch in a transaction of
 * its own, committed as soon as it is loaded, so neither connection ever
 * waits for the other (a row of one lane's open transaction that the
 * other needs, such as a parent row or the same key, is let go at once). */
static void *lane_main(void *arg)
{
    struct copy_lane *ln = arg;
    cdc_err_clear(&ln->err);
    ln->ok = copy_exec(ln->conn, "BEGIN", 0, NULL, &ln->err) &&
             copy_runs(ln->sink, ln, ln->batch, ln->from, ln->to, &ln->err) &&
             copy_exec(ln->conn, "COMMIT", 0, NULL, &ln->err);
    if (!ln->ok && PQstatus(ln->conn) == CONNECTION_OK)
        PQclear(PQexec(ln->conn, "ROLLBACK"));
    return NULL;
}

static void lane_close(struct copy_lane *ln)
{
    if (ln->conn != NULL)
        PQfinish(ln->conn);
    ln->conn = NULL;
}

/* Connects the second lane if it is not; false if it cannot (the batch
 * then goes on one connection). pg_stat_activity shows it as
 * LANE_APP_NAME. */
static bool lane_connect(struct pg_sink *s, struct copy_lane *ln)
{
    if (ln->conn != NULL && PQstatus(ln->conn) == CONNECTION_OK)
        return true;
    lane_close(ln);
    const char *val[sizeof(s->val) / sizeof(s->val[0])];
    for (size_t i = 0; i < sizeof(val) / sizeof(val[0]); i++) {
        val[i] = s->val[i];
        if (s->kw[i] != NULL && strcmp(s->kw[i], "application_name") == 0)
            val[i] = LANE_APP_NAME;
        if (s->kw[i] == NULL)
            break;
    }
    ln->conn = PQconnectdbParams(s->kw, val, 1);
    struct cdc_err e;
    cdc_err_clear(&e);
    bool ok = PQstatus(ln->conn) == CONNECTION_OK;
    if (ok) {
        PQsetNoticeProcessor(ln->conn, notice_to_log, NULL);
        if (s->disable_fk)
            ok = copy_exec(ln->conn, "SET session_replication_role = replica",
                           0, NULL, &e);
    }
    if (!ok) {
        char msg[200];
        sink__one_line(PQerrorMessage(ln->conn), msg, sizeof(msg));
        cdc_log(CDC_LOG_DEBUG, "sink",
                "sink=postgres no second connection for COPY: %s", msg);
        lane_close(ln);
    }
    return ok;
}

/*
 * Where batch[0..last] is split for two connections: the second lane
 * loads [0, split), the sink's own connection the rest; 0 to load it on
 * one. Only a large batch of copied rows whose tables the target can tell
 * apart by key is split: if one part commits and the other does not, the
 * batch comes again and the rows already there are upserted. (The mark
 * never covers copied rows, see sink_mark_covers: a batch of them that
 * comes again is written again, whichever part had committed.)
 */
static size_t lane_split(const struct pg_sink *s, const struct cdc_batch *batch,
                         size_t last)
{
    if (last + 1 < COPY_LANE_MIN_ROWS)
        return 0;
    for (size_t i = 0; i <= last; i++) {
        const struct cdc_event *ev = batch->events[i];
        if (ev->op != CDC_OP_COPY)
            return 0;
        if (i > 0 && sink__same_shape(batch->events[i - 1], ev))
            continue;
        const struct pg_table *t = cached_table(s, ev->schema, ev->table);
        const char **names = NULL;
        size_t n = 0;
        if (t == NULL || t->missing || !conflict_target(t, ev, &names, &n))
            return 0;
    }
    return (last + 1) / 2;
}

/*
 * Loads a batch made of copied and inserted rows with COPY (as fast as
 * PostgreSQL loads anything, and where no row is there already the same
 * as upserting them), one COPY per run of one table and column list, in
 * one transaction with the mark. A large batch of copied rows is loaded
 * over two connections at once, which the target applies on two cores;
 * each part commits on its own, and a part that fails has the batch come
 * again, its rows already there upserted. COPY cannot upsert: when the
 * target refuses the rows (some are there already, because a copy was sent
 * again after a crash or the target had them; or a value or a column does
 * not fit) the transaction is rolled back and *fallback set, and the batch
 * goes the usual way, which upserts and pins a row at fault. A lost
 * connection is a retriable error.
 */
static int copy_batch(struct pg_sink *s, const struct cdc_batch *batch,
                      size_t last, bool *fallback, struct cdc_err *err)
{
    *fallback = false;
    struct mark_args m;
    mark_args(s, batch->events[last], batch->seqs[last], &m);
    struct copy_lane *own = &s->lanes[0];
    struct copy_lane *ln = &s->lanes[1];
    own->conn = s->conn;
    size_t split = lane_split(s, batch, last);
    bool two = false;
    if (split > 0 && lane_connect(s, ln)) {
        ln->sink = s;
        ln->batch = batch;
        ln->from = 0;
        ln->to = split;
        two = pthread_create(&ln->th, NULL, lane_main, ln) == 0;
    }
    bool ok = copy_exec(s->conn, "BEGIN", 0, NULL, err) &&
              copy_runs(s, own, batch, two ? split : 0, last + 1, err) &&
              copy_exec(s->conn, MARK_SQL, 6, m.vals, err) &&
              copy_exec(s->conn, "COMMIT", 0, NULL, err);
    if (!ok && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
    if (ok)
        mark_committed(s, batch, last); /* the target's mark moved */
    bool lost = PQstatus(s->conn) != CONNECTION_OK;
    if (two) {
        pthread_join(ln->th, NULL);
        if (!ln->ok) {
            if (PQstatus(ln->conn) != CONNECTION_OK) {
                lane_close(ln);
                lost = true;
            }
            if (ok)
                *err = ln->err;
            ok = false;
        }
    }
    if (ok)
        return CDC_OK;
    if (lost) {
        if (PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
        err->flags = CDC_ERR_RETRIABLE;
        err->index = 0;
        return err->code != 0 ? err->code : CDC_EIO;
    }
    cdc_log(CDC_LOG_INFO, "sink",
            "sink=postgres COPY of %zu rows refused (%s); applying them as "
            "upserts",
            last + 1, err->msg);
    cdc_err_clear(err);
    *fallback = true;
    return CDC_OK;
}

static int upsert_rows(struct pg_sink *s, const struct cdc_batch *batch,
                       size_t last, struct cdc_err *err);

static void *bg_main(void *arg)
{
    struct pg_sink *s = arg;
    cdc_err_clear(&s->bg_err);
    if (s->bg_upsert)
        s->bg_rc = upsert_rows(s, &s->bg_batch, s->bg_last, &s->bg_err);
    else
        s->bg_rc = copy_batch(s, &s->bg_batch, s->bg_last, &s->bg_fallback,
                              &s->bg_err);
    return NULL;
}

/* Starts copy_batch (or, with upsert, upsert_rows) of batch[0..last] on a
 * thread of its own; false if no thread could be started (the caller
 * applies it itself). */
static bool bg_start(struct pg_sink *s, const struct cdc_batch *batch,
                     size_t last, bool upsert)
{
    s->bg_batch = *batch;
    s->bg_last = last;
    s->bg_fallback = false;
    s->bg_upsert = upsert;
    if (pthread_create(&s->bg_thread, NULL, bg_main, s) != 0)
        return false;
    s->bg_on = true;
    return true;
}

/* Remembers batch[0..last] as committed. */
static void mark_committed(struct pg_sink *s, const struct cdc_batch *batch,
                           size_t last)
{
    s->single_rows = false;
    s->immediate = false;
    if (!batch->replay)
        sink_mark_set(&s->mark, batch->events[last], batch->seqs[last]);
}

/* ==== Sink interface ==== */

static void set_kw(const char **kw, const char **val, size_t *n, const char *k,
                   const char *v)
{
    if (v == NULL || v[0] == '\0')
        return;
    kw[*n] = k;
    val[*n] = v;
    (*n)++;
}

static void fill_conninfo(const struct cdc_conf *cfg, const char *prefix,
                          const char **kw, const char **val, char *port,
                          size_t portsz, const char *appname)
{
    char name[64];
    size_t n = 0;
    snprintf(name, sizeof(name), "%s-port", prefix);
    if (cdc_conf_is_set(cfg, name))
        snprintf(port, portsz, "%lld", (long long)cdc_conf_get_int(cfg, name));
    snprintf(name, sizeof(name), "%s-host", prefix);
    set_kw(kw, val, &n, "host", cdc_conf_get_str(cfg, name));
    set_kw(kw, val, &n, "port", port[0] ? port : NULL);
    snprintf(name, sizeof(name), "%s-user", prefix);
    set_kw(kw, val, &n, "user", cdc_conf_get_str(cfg, name));
    snprintf(name, sizeof(name), "%s-password", prefix);
    set_kw(kw, val, &n, "password", cdc_conf_get_str(cfg, name));
    set_kw(kw, val, &n, "application_name", appname);
    set_kw(kw, val, &n, "connect_timeout", CONNECT_TIMEOUT);
    set_kw(kw, val, &n, "options", SESSION_OPTIONS);
    /* dbname last: with expand_dbname a connection string in it may
     * override the keywords before it */
    snprintf(name, sizeof(name), "%s-dbname", prefix);
    set_kw(kw, val, &n, "dbname", cdc_conf_get_str(cfg, name));
    kw[n] = NULL;
    val[n] = NULL;
}

static void pg_close(void *state);

/* connect_target for sink__connect_wait */
static int connect_any(void *s, struct cdc_err *err)
{
    return connect_target(s, err);
}

static int pg_open(const struct cdc_conf *cfg, const char *group, void **state,
                   struct sink_mark *last, struct cdc_err *err)
{
    struct pg_sink *s = cdc_xcalloc(1, sizeof(*s));
    int rc = CDC_OK;
    *state = NULL;
    s->group = cdc_xstrdup(group);
    s->sync_schema = cdc_conf_get_bool(cfg, "target-sync-schema");
    s->disable_fk = cdc_conf_get_bool(cfg, "target-disable-foreign-keys");
    fill_conninfo(cfg, "target", s->kw, s->val, s->port, sizeof(s->port),
                  "tributary-worker");
    fill_conninfo(cfg, "source", s->src_kw, s->src_val, s->src_port,
                  sizeof(s->src_port), "tributary-schema");
    cdc_buf_init(&s->sql, 0);
    cdc_buf_init(&s->arrays, 0);
    cdc_buf_init(&s->conv, 0);
    cdc_arena_init(&s->conv_params);
    for (size_t i = 0; i < 2; i++) {
        cdc_buf_init(&s->lanes[i].buf, 0);
        cdc_buf_init(&s->lanes[i].conv, 0);
        cdc_buf_init(&s->lanes[i].sql, 0);
    }

    rc = sink__connect_wait("postgres", cfg, connect_any, s, err);
    if (rc != CDC_OK) {
        pg_close(s);
        return rc;
    }
    *last = s->mark;
    *state = s;
    return CDC_OK;
}

/* Writes a batch of row changes (no DDL) in one transaction. */
static int write_rows(struct pg_sink *s, const struct cdc_batch *batch,
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
        disconnect(s);
        return rc;
    }
    if (blocked != SIZE_MAX)
        return blocked_error(batch->events[blocked], blocked, err);

    /* table shapes are read before the pipeline starts (they need plain
     * round trips) */
    for (size_t i = 0; i <= last; i++) {
        const struct cdc_event *ev = batch->events[i];
        struct pg_table *t = NULL;
        if (ev->op == CDC_OP_DDL || covered(s, batch, ev))
            continue;
        rc = find_table(s, ev->schema, ev->table, &t, err);
        if (rc != CDC_OK) {
            err->index = i;
            if (PQstatus(s->conn) != CONNECTION_OK)
                disconnect(s);
            return rc;
        }
    }
    if (s->copy_pause > 0)
        s->copy_pause--;
    else if (all_added(s, batch, last) && !s->single_rows && !batch->replay) {
        /* the target loads it while the worker reads the next batch */
        if (batch->may_defer && bg_start(s, batch, last, false))
            return CDC_PENDING;
        bool fallback = false;
        rc = copy_batch(s, batch, last, &fallback, err);
        if (rc != CDC_OK || !fallback)
            return rc;
        /* the rows were there already: they likely go on being so for a
         * while (a copy sent again, a target that had them) */
        s->copy_pause = COPY_PAUSE_BATCHES;
    }
    /* the target applies it while the worker reads the next batch */
    if (batch->may_defer && bg_start(s, batch, last, true))
        return CDC_PENDING;
    return upsert_rows(s, batch, last, err);
}

/* Applies batch[0..last] (table shapes read) as one pipelined target
 * transaction with the mark: multi-row upserts, updates, deletes. */
static int upsert_rows(struct pg_sink *s, const struct cdc_batch *batch,
                       size_t last, struct cdc_err *err)
{
    int rc = CDC_OK;
    s->ncmds = 0;
    if (PQsetnonblocking(s->conn, 1) != 0 || !PQenterPipelineMode(s->conn)) {
        rc = result_error(s, NULL, "could not start a pipeline", err);
        disconnect(s);
        return rc;
    }
    size_t bad_event = SIZE_MAX;
    rc = send_plain(s, "BEGIN", SIZE_MAX, err);
    s->joins_off = false;
    if (rc == CDC_OK && s->immediate)
        rc = send_plain(s, "SET CONSTRAINTS ALL IMMEDIATE", SIZE_MAX, err);
    for (size_t i = 0; i <= last && rc == CDC_OK;) {
        const struct cdc_event *ev = batch->events[i];
        if (covered(s, batch, ev)) {
            i++;
            continue;
        }
        size_t n = 1;
        size_t at = i;
        if (is_upsert(s, ev)) {
            n = insert_run(s, batch, i, last);
            rc = queue_upserts(s, batch, i, n, &at, err);
        } else {
            rc = queue_event(s, ev, i, err);
        }
        if (rc != CDC_OK)
            bad_event = at;
        i += n;
    }
    struct mark_args m;
    mark_args(s, batch->events[last], batch->seqs[last], &m);
    if (rc == CDC_OK && !batch->replay) {
        stmt_begin(s);
        cdc_buf_append_str(&s->sql, MARK_SQL);
        for (size_t k = 0; k < 6; k++)
            push_param(s, m.vals[k], MARK_OIDS[k]);
        rc = send_stmt(s, SIZE_MAX, err);
    }
    if (rc == CDC_OK)
        rc = send_plain(s, "COMMIT", SIZE_MAX, err);
    if (rc != CDC_OK) {
        /* building failed before anything ran: the connection has a
         * half-sent pipeline, so it starts over */
        struct cdc_err saved = *err;
        disconnect(s);
        *err = saved;
        err->index = bad_event != SIZE_MAX ? bad_event : 0;
        if (bad_event == SIZE_MAX)
            err->flags = CDC_ERR_RETRIABLE;
        return rc;
    }

    size_t failed_cmd = SIZE_MAX;
    char failed_state[6] = "";
    rc = run_pipeline(s, &failed_cmd, failed_state, err);
    if (rc == CDC_OK && !PQexitPipelineMode(s->conn)) {
        rc = result_error(s, NULL, "could not end a pipeline", err);
        err->flags = CDC_ERR_RETRIABLE;
    }
    if (rc == CDC_OK)
        PQsetnonblocking(s->conn, 0);
    if (rc != CDC_OK) {
        size_t ev_index =
            failed_cmd < s->ncmds ? s->cmds[failed_cmd].event : SIZE_MAX;
        bool multi = failed_cmd < s->ncmds && s->cmds[failed_cmd].multi;
        struct cdc_err saved = *err;
        if (multi && (saved.flags & CDC_ERR_POISON)) {
            /* one of several rows: go again row by row to find it */
            s->single_rows = true;
            cdc_log(CDC_LOG_DEBUG, "sink",
                    "sink=postgres a multi-row insert failed (%s); applying "
                    "the batch again row by row",
                    saved.msg);
            cdc_err_set(err, saved.code, CDC_ERR_RETRIABLE,
                        "a multi-row insert failed, retrying row by row: %s",
                        saved.msg);
            err->index = ev_index;
        } else if (ev_index != SIZE_MAX && (saved.flags & CDC_ERR_POISON)) {
            const struct cdc_event *ev = batch->events[ev_index];
            /* found under immediate checks: later attempts go back to
             * deferred ones, so a transaction that needs them (a child
             * before its parent) is not taken for the row at fault */
            s->immediate = false;
            cdc_err_set(err, saved.code, saved.flags,
                        "could not apply %s to \"%s\".\"%s\" (position %s, "
                        "change %" PRIu32 "): %s",
                        cdc_op_name(ev->op), ev->schema, ev->table,
                        ev->position, ev->tx_index, saved.msg);
            err->index = ev_index;
        } else {
            /* the mark or COMMIT failed, or the connection: the outcome
             * of COMMIT may be unknown, so the mark is read again */
            if (failed_cmd == s->ncmds - 1 && state_in(failed_state, "23")) {
                /* a deferred constraint failed at COMMIT: the next attempt
                 * checks constraints at each statement, so the row at
                 * fault is found and set aside */
                s->immediate = true;
            }
            if (saved.flags & CDC_ERR_POISON)
                saved.flags = CDC_ERR_RETRIABLE;
            cdc_err_set(err, saved.code, saved.flags,
                        "could not commit a batch on the target: %s",
                        saved.msg);
            err->index = 0;
        }
        /* cached shapes may be what failed (a table changed on the
         * target); a fresh connection reads them again */
        disconnect(s);
        return rc;
    }
    mark_committed(s, batch, last);
    if (s->nstmts > MAX_STATEMENTS) {
        /* a few statements would be used again; start over cheaply */
        PQclear(PQexec(s->conn, "DEALLOCATE ALL"));
        stmts_clear(s);
    }
    return CDC_OK;
}

static int pg_write(void *state, const struct cdc_batch *batch,
                    struct cdc_err *err)
{
    struct pg_sink *s = state;
    CDC_ASSERT(!s->bg_on);
    int rc = CDC_OK;
    /* row changes between schema changes go in one transaction each; a
     * schema change goes alone, so the rows after it are written to the
     * table's new shape; each part connects when it must */
    size_t from = 0;
    while (from < batch->n) {
        size_t to = from;
        while (to < batch->n && batch->events[to]->op != CDC_OP_DDL)
            to++;
        if (to > from) {
            /* only a batch that is one part may be left to a thread */
            struct cdc_batch part = {
                batch->events + from, batch->seqs + from, to - from,
                batch->replay, batch->may_defer && from == 0 && to == batch->n};
            rc = write_rows(s, &part, err);
            if (rc == CDC_PENDING)
                return rc;
            if (rc != CDC_OK) {
                err->index += from;
                return rc;
            }
        }
        if (to < batch->n) {
            rc = connect_target(s, err);
            if (rc == CDC_OK)
                rc = apply_ddl(s, batch, to, err);
            if (rc != CDC_OK) {
                err->index = to;
                return rc;
            }
        }
        from = to + 1;
    }
    return CDC_OK;
}

static int pg_settle(void *state, struct cdc_err *err)
{
    struct pg_sink *s = state;
    if (!s->bg_on)
        return CDC_OK;
    pthread_join(s->bg_thread, NULL);
    s->bg_on = false;
    if (s->bg_rc != CDC_OK) {
        *err = s->bg_err;
        return s->bg_rc;
    }
    if (!s->bg_fallback) /* never set by an upsert */
        return CDC_OK;
    /* refused (rows there already, or a value that does not fit): the
     * batch is upserted here, as write would have done; the next batches
     * of inserts go straight to upserts for a while */
    s->copy_pause = COPY_PAUSE_BATCHES;
    return upsert_rows(s, &s->bg_batch, s->bg_last, err);
}

static int pg_flush(void *state, struct cdc_err *err)
{
    (void)state;
    (void)err;
    return CDC_OK; /* every write ends with COMMIT */
}

static void pg_close(void *state)
{
    struct pg_sink *s = state;
    if (s == NULL)
        return;
    if (s->bg_on)
        pthread_join(s->bg_thread, NULL);
    disconnect(s);
    for (size_t i = 0; i < 2; i++) {
        cdc_buf_release(&s->lanes[i].buf);
        cdc_buf_release(&s->lanes[i].conv);
        cdc_buf_release(&s->lanes[i].sql);
        cdc_free(s->lanes[i].wcols);
    }
    sink__blocked_clear(&s->blocked);
    cdc_buf_release(&s->sql);
    cdc_buf_release(&s->arrays);
    cdc_buf_release(&s->conv);
    cdc_arena_release(&s->conv_params);
    cdc_free(s->array_at);
    cdc_free(s->array_len);
    cdc_free(s->wcols);
    cdc_free(s->vals);
    cdc_free(s->oids);
    cdc_free(s->lens);
    cdc_free(s->fmts);
    cdc_free(s->cmds);
    cdc_free(s->group);
    cdc_free(s);
}

const struct sink_ops sink_postgres_ops = {
    .name = "postgres",
    .options = pg_options,
    .open = pg_open,
    .write = pg_write,
    .settle = pg_settle,
    .flush = pg_flush,
    .close = pg_close,
};

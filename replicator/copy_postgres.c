/*
 * copy_postgres.c: the initial copy of the group's tables from
 * PostgreSQL. Each table is split into block ranges by its real size
 * (pg_relation_size, never planner statistics); reader threads, up to
 * --max-copy-workers-per-table on one table, read ranges with COPY ... TO
 * STDOUT inside one snapshot and turn their rows into packs of COPY
 * events; the calling thread publishes the packs (JetStream's client is
 * used from this one thread only) and records a range as done in the
 * group's state bucket once JetStream has stored all of its messages.
 *
 * The snapshot: with --copy-and-stream on a new group, the slot is created
 * with an exported snapshot, so the copy holds exactly what committed
 * before the slot's consistent point and streaming starts there. A copy
 * that was interrupted resumes with the ranges not recorded as done,
 * under a new snapshot; rows it reads may then be newer than the slot's
 * start, and the stream (which starts at the slot's position, before
 * them) replays every change since, in order, over them: the target is
 * exact again once the stream has caught up, because every row change is
 * applied by key (tables without a key may get a row twice then).
 *
 * Memory is bounded: readers block while QUEUE_MAX packs wait, and the
 * publisher keeps at most PUB_WINDOW messages unacknowledged.
 */
#include "replicator/copy_text.h"
#include "replicator/replicator_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rows and bytes of one message: the stream's packs are of this size too,
 * so a worker's batches look alike whatever their origin. */
#define PACK_ROWS 500
#define PACK_BYTES (60 * 1024)
/* Packs waiting for the publisher, at most: with PUB_WINDOW this bounds a
 * copy's memory to a few MiB whatever the tables' sizes. */
#define QUEUE_MAX 64
#define PUB_WINDOW 256
/* Readers in all, at most, whatever the tables and workers per table. */
#define READERS_MAX 32
/* A progress line per table this often (a terminal gets one line that is
 * rewritten). */
#define PROGRESS_MS 5000

struct ctable {
    uint32_t oid;
    char *schema;
    char *name;
    bool partitioned; /* no blocks of its own: read whole */
    uint64_t nblocks;
    uint64_t est_bytes;
    char **cols; /* names, quoted for SQL in sql_cols */
    char **types;
    size_t ncols;
    char **key;
    size_t nkey;
    char *sql_cols; /* "a", "b", ... */
    char *subject;
    char *label;     /* schema.name, the metrics' table label */
    unsigned active; /* readers on this table now */
    /* progress, stored rows and bytes */
    uint64_t rows;
    uint64_t bytes;
    size_t ranges_left;
    int64_t started_ms;
    int64_t done_ms;
};

struct crange {
    struct ctable *t;
    struct source_copy_range r;
    bool done;         /* stored and recorded (or found recorded) */
    bool taken;        /* a reader has it */
    bool all_sent;     /* its last pack went to the publisher */
    uint64_t last_seq; /* local publish sequence of its last message */
    uint64_t chunks;
    uint64_t rows;
    uint64_t bytes;
};

/* A pack on its way from a reader to the publisher. */
struct item {
    struct crange *range;
    char *data; /* NULL: only says the range is read whole */
    size_t len;
    uint64_t rows;
    bool last;
};

struct copy {
    const struct source__pg_copy_args *a;
    const struct source_copy_env *env;
    struct ctable *tables;
    size_t ntables;
    struct crange *ranges;
    size_t nranges;
    char generation[SOURCE_COPY_GENERATION_MAX];
    /* this run's tag in message ids: a range read again after an
     * interruption holds other rows than before (a new snapshot), and its
     * messages must not pass for the earlier run's duplicates */
    char run[SOURCE_COPY_GENERATION_MAX];
    char position[SOURCE_COPY_POSITION_MAX];
    char snapshot[128];
    unsigned workers; /* the split's workers per table (the plan's) */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue and range changes */
    struct item queue[QUEUE_MAX];
    size_t qhead, qlen;
    unsigned readers_running;
    unsigned imported; /* readers that took the snapshot */
    bool failed;       /* stop everything */
    struct cdc_err first_err;
    struct cdc_metric *m_rows;
    struct cdc_metric *m_bytes;
    struct cdc_metric *m_estimate;
    struct cdc_metric *m_ranges_done;
    struct cdc_metric *m_ranges;
};

static void copy_metrics(struct copy *cp)
{
    cp->m_rows = cdc_metric_counter(
        "tributary_copy_rows_total",
        "rows of the initial copy sent to JetStream", "table");
    cp->m_bytes = cdc_metric_counter(
        "tributary_copy_bytes_total",
        "bytes of the initial copy's messages sent to JetStream", "table");
    cp->m_estimate = cdc_metric_gauge(
        "tributary_copy_bytes_estimate",
        "size of the table on the source (pg_relation_size) when its copy "
        "was planned",
        "table");
    cp->m_ranges_done = cdc_metric_gauge("tributary_copy_ranges_done",
                                         "block ranges of the table copied and "
                                         "stored",
                                         "table");
    cp->m_ranges = cdc_metric_gauge("tributary_copy_ranges_total",
                                    "block ranges the table's copy is split "
                                    "into",
                                    "table");
}

/* The ranges' progress of every table as gauges. */
static void copy_gauges(struct copy *cp)
{
    for (size_t i = 0; i < cp->ntables; i++) {
        const struct ctable *t = &cp->tables[i];
        size_t total = 0;
        for (size_t k = 0; k < cp->nranges; k++)
            total += cp->ranges[k].t == t;
        cdc_metric_set(cp->m_estimate, t->label, (double)t->est_bytes);
        cdc_metric_set(cp->m_ranges, t->label, (double)total);
        cdc_metric_set(cp->m_ranges_done, t->label,
                       (double)(total - t->ranges_left));
    }
}

/* ==== Plan ==== */

static void table_free(struct ctable *t)
{
    cdc_free(t->schema);
    cdc_free(t->name);
    for (size_t i = 0; i < t->ncols; i++) {
        cdc_free(t->cols[i]);
        cdc_free(t->types[i]);
    }
    cdc_free(t->cols);
    cdc_free(t->types);
    for (size_t i = 0; i < t->nkey; i++)
        cdc_free(t->key[i]);
    cdc_free(t->key);
    cdc_free(t->sql_cols);
    cdc_free(t->subject);
    cdc_free(t->label);
}

/* Columns (not dropped, not generated: those are not in the stream
 * either) with their type names as pgoutput gives them, and the key the
 * stream uses: the replica identity index, else the primary key. */
static int describe_table(PGconn *conn, const struct source_copy_env *env,
                          struct ctable *t, struct cdc_err *err)
{
    char oid[16];
    snprintf(oid, sizeof(oid), "%" PRIu32, t->oid);
    const char *p[1] = {oid};
    PGresult *res = source__pg_run(
        conn,
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON "
        "t.oid = a.atttypid WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT "
        "a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not read the columns of \"%s.%s\"",
                              t->schema, t->name);
    size_t n = (size_t)PQntuples(res);
    t->cols = cdc_xcalloc(n ? n : 1, sizeof(*t->cols));
    t->types = cdc_xcalloc(n ? n : 1, sizeof(*t->types));
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        t->cols[i] = cdc_xstrdup(PQgetvalue(res, (int)i, 0));
        t->types[i] = cdc_xstrdup(PQgetvalue(res, (int)i, 1));
        if (i > 0)
            cdc_buf_append_str(&b, ", ");
        source__pg_append_ident(&b, conn, t->cols[i]);
    }
    t->ncols = n;
    PQclear(res);
    t->sql_cols = cdc_buf_detach(&b, NULL);
    if (t->sql_cols == NULL)
        t->sql_cols = cdc_xstrdup("");

    res = source__pg_run(
        conn,
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = "
        "i.indrelid CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS "
        "k(attnum, ord) JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
        "a.attnum = k.attnum WHERE i.indrelid = $1 AND CASE WHEN "
        "c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END "
        "ORDER BY k.ord",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err, "could not read the key of \"%s.%s\"",
                              t->schema, t->name);
    n = (size_t)PQntuples(res);
    t->key = cdc_xcalloc(n ? n : 1, sizeof(*t->key));
    for (size_t i = 0; i < n; i++)
        t->key[i] = cdc_xstrdup(PQgetvalue(res, (int)i, 0));
    t->nkey = n;
    PQclear(res);

    cdc_buf_init(&b, 0);
    int rc = cdc_name_subject(env->group, t->schema, t->name, &b);
    if (rc != CDC_OK) {
        cdc_buf_release(&b);
        return cdc_err_set(err, rc, 0, "table name \"%s.%s\" is too long",
                           t->schema, t->name);
    }
    t->subject = cdc_buf_detach(&b, NULL);
    cdc_buf_init(&b, 0);
    cdc_buf_printf(&b, "%s.%s", t->schema, t->name);
    t->label = cdc_buf_detach(&b, NULL);
    return CDC_OK;
}

/* The publication's tables (oid, names, kind, size), in the snapshot. */
static int list_tables(struct copy *cp, PGconn *conn, struct cdc_err *err)
{
    const char *p[1] = {cp->a->publication};
    PGresult *res = source__pg_run(
        conn,
        "SELECT c.oid, n.nspname, c.relname, c.relkind = 'p', "
        "pg_relation_size(c.oid) / current_setting('block_size')::bigint, "
        "pg_relation_size(c.oid) FROM pg_publication_tables pt JOIN "
        "pg_namespace n ON n.nspname = pt.schemaname JOIN pg_class c ON "
        "c.relnamespace = n.oid AND c.relname = pt.tablename WHERE "
        "pt.pubname = $1 ORDER BY 2, 3",
        1, p, err);
    if (res == NULL)
        return cdc_err_prefix(err,
                              "could not list the tables of publication "
                              "\"%s\"",
                              cp->a->publication);
    size_t n = (size_t)PQntuples(res);
    cp->tables = cdc_xcalloc(n ? n : 1, sizeof(*cp->tables));
    int rc = CDC_OK;
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        struct ctable *t = &cp->tables[cp->ntables++];
        int64_t v = 0;
        rc = cdc_parse_int(PQgetvalue(res, (int)i, 0), 0, UINT32_MAX, &v);
        t->oid = (uint32_t)v;
        t->schema = cdc_xstrdup(PQgetvalue(res, (int)i, 1));
        t->name = cdc_xstrdup(PQgetvalue(res, (int)i, 2));
        t->partitioned = PQgetvalue(res, (int)i, 3)[0] == 't';
        if (rc == CDC_OK)
            rc = cdc_parse_int(PQgetvalue(res, (int)i, 4), 0, INT64_MAX, &v);
        t->nblocks = (uint64_t)v;
        if (rc == CDC_OK)
            rc = cdc_parse_int(PQgetvalue(res, (int)i, 5), 0, INT64_MAX, &v);
        t->est_bytes = (uint64_t)v;
    }
    PQclear(res);
    if (rc != CDC_OK)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "unexpected answer listing the tables to copy");
    for (size_t i = 0; i < cp->ntables && rc == CDC_OK; i++)
        rc = describe_table(conn, cp->env, &cp->tables[i], err);
    return rc;
}

/* Splits every table into ranges (a partitioned table: one range read
 * whole through its partitions). */
static void plan_ranges(struct copy *cp, unsigned workers)
{
    size_t cap = 0;
    for (size_t i = 0; i < cp->ntables; i++)
        cap += workers * SOURCE_COPY_RANGES_PER_WORKER + 1;
    cp->ranges = cdc_xcalloc(cap ? cap : 1, sizeof(*cp->ranges));
    struct source_copy_range *tmp =
        cdc_xcalloc(workers * SOURCE_COPY_RANGES_PER_WORKER + 1, sizeof(*tmp));
    for (size_t i = 0; i < cp->ntables; i++) {
        struct ctable *t = &cp->tables[i];
        size_t n = 1;
        if (t->partitioned)
            tmp[0] = (struct source_copy_range){.open_end = true};
        else
            n = source_copy_plan(t->nblocks, workers, tmp,
                                 workers * SOURCE_COPY_RANGES_PER_WORKER + 1);
        for (size_t k = 0; k < n; k++) {
            struct crange *r = &cp->ranges[cp->nranges++];
            r->t = t;
            r->r = tmp[k];
        }
        t->ranges_left = n;
    }
    cdc_free(tmp);
}

/* The plan in the state bucket (see struct source_copy_saved_plan). */
static void plan_text(const struct copy *cp, bool done, struct cdc_buf *b)
{
    struct source_copy_saved_plan pl = {
        .workers = cp->workers,
        .done = done,
        .oids = cdc_xcalloc(cp->ntables ? cp->ntables : 1, sizeof(*pl.oids)),
        .nblocks =
            cdc_xcalloc(cp->ntables ? cp->ntables : 1, sizeof(*pl.nblocks)),
        .ntables = cp->ntables,
    };
    snprintf(pl.generation, sizeof(pl.generation), "%s", cp->generation);
    snprintf(pl.position, sizeof(pl.position), "%s", cp->position);
    for (size_t i = 0; i < cp->ntables; i++) {
        pl.oids[i] = cp->tables[i].oid;
        pl.nblocks[i] = cp->tables[i].nblocks;
    }
    source_copy_saved_plan_format(&pl, b);
    source_copy_saved_plan_release(&pl);
}

/* Reads the saved plan into *sp (empty, *found false, when there is
 * none) and its revision into *rev. */
static int read_plan(struct cdc_js_kv *kv, struct source_copy_saved_plan *sp,
                     bool *found, uint64_t *rev, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 1 << 20);
    memset(sp, 0, sizeof(*sp));
    *found = false;
    *rev = 0;
    int rc = cdc_js_kv_get(kv, SOURCE_COPY_PLAN_KEY, &b, rev, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        rc = CDC_OK;
    } else if (rc == CDC_OK) {
        *found = true;
        if (source_copy_saved_plan_parse(b.data != NULL ? b.data : "", sp,
                                         err) != CDC_OK)
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "the copy plan in the state bucket (key \"%s\") "
                             "cannot be read; delete the key to copy again",
                             SOURCE_COPY_PLAN_KEY);
    }
    cdc_buf_release(&b);
    return rc;
}

static int write_plan(struct copy *cp, bool done, uint64_t *rev,
                      struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    plan_text(cp, done, &b);
    int rc = cdc_js_kv_put(cp->env->kv, SOURCE_COPY_PLAN_KEY, b.data, b.len,
                           *rev, rev, err);
    cdc_buf_release(&b);
    if (rc != CDC_OK)
        cdc_err_prefix(err, "could not save the copy plan");
    return rc;
}

int source__pg_copy_range_read(struct cdc_js_kv *kv, uint32_t table_oid,
                               const struct source_copy_range *r,
                               const char *generation, struct cdc_buf *val,
                               bool *done, uint64_t *rows, struct cdc_err *err)
{
    char key[SOURCE_COPY_KEY_MAX];
    source_copy_range_key(table_oid, r, key, sizeof(key));
    *done = false;
    *rows = 0;
    int rc = cdc_js_kv_get(kv, key, val, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc == CDC_OK && val->data != NULL)
        *done = source_copy_range_done(val->data, generation, rows);
    return rc;
}

/* Marks the ranges that a previous run of this plan recorded as done. */
static int load_done(struct copy *cp, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 4096);
    int rc = CDC_OK;
    size_t done = 0;
    for (size_t i = 0; i < cp->nranges && rc == CDC_OK; i++) {
        struct crange *r = &cp->ranges[i];
        bool range_done = false;
        uint64_t rows = 0;
        rc = source__pg_copy_range_read(cp->env->kv, r->t->oid, &r->r,
                                        cp->generation, &b, &range_done, &rows,
                                        err);
        if (rc == CDC_OK && range_done) {
            r->done = true;
            r->t->ranges_left--;
            r->t->rows += rows;
            done++;
        }
    }
    cdc_buf_release(&b);
    if (rc == CDC_OK && done > 0)
        cdc_log(CDC_LOG_INFO, "copy",
                "resuming the copy: %zu of %zu ranges were done before", done,
                cp->nranges);
    return rc;
}

static int save_range(struct copy *cp, struct crange *r, struct cdc_err *err)
{
    char key[SOURCE_COPY_KEY_MAX];
    char val[SOURCE_COPY_VALUE_MAX];
    source_copy_range_key(r->t->oid, &r->r, key, sizeof(key));
    source_copy_range_value(cp->generation, r->rows, val, sizeof(val));
    struct cdc_buf old;
    cdc_buf_init(&old, 4096);
    uint64_t rev = 0;
    int rc = cdc_js_kv_get(cp->env->kv, key, &old, &rev, err);
    cdc_buf_release(&old);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        rev = 0;
        rc = CDC_OK;
    }
    if (rc == CDC_OK)
        rc = cdc_js_kv_put(cp->env->kv, key, val, strlen(val), rev, NULL, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not record copy progress");
    return CDC_OK;
}

/* ==== Readers ==== */

static void fail(struct copy *cp, const struct cdc_err *err)
{
    pthread_mutex_lock(&cp->mu);
    if (!cp->failed) {
        cp->failed = true;
        cp->first_err = *err;
    }
    pthread_cond_broadcast(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
}

/* Hands a pack to the publisher, waiting while the queue is full. False
 * when the copy is being stopped (the pack is then freed). */
static bool enqueue(struct copy *cp, const struct item *it)
{
    pthread_mutex_lock(&cp->mu);
    while (cp->qlen == QUEUE_MAX && !cp->failed && !cdc_stop_requested)
        pthread_cond_wait(&cp->cv, &cp->mu);
    bool ok = !cp->failed && !cdc_stop_requested;
    if (ok) {
        cp->queue[(cp->qhead + cp->qlen) % QUEUE_MAX] = *it;
        cp->qlen++;
        pthread_cond_broadcast(&cp->cv);
    }
    pthread_mutex_unlock(&cp->mu);
    if (!ok)
        cdc_free(it->data);
    return ok;
}

/* The next range to read: one of a table with room for another reader. */
static struct crange *take_range(struct copy *cp, unsigned per_table)
{
    struct crange *got = NULL;
    pthread_mutex_lock(&cp->mu);
    for (size_t i = 0; i < cp->nranges && !cp->failed; i++) {
        struct crange *r = &cp->ranges[i];
        if (r->done || r->taken || r->t->active >= per_table)
            continue;
        r->taken = true;
        r->t->active++;
        got = r;
        break;
    }
    pthread_mutex_unlock(&cp->mu);
    return got;
}

/* The pack being built by a reader. */
struct pack {
    struct cdc_buf buf;
    struct cdc_event ev;
    struct cdc_col *cols;
    uint64_t rows;
};

static void pack_row(struct copy *cp, struct crange *r, struct pack *pk,
                     const char **values, const size_t *lens)
{
    struct ctable *t = r->t;
    for (size_t i = 0; i < t->ncols; i++) {
        pk->cols[i].value = values[i];
        pk->cols[i].value_len = lens[i];
    }
    pk->ev.tx_index = (uint32_t)pk->rows;
    if (pk->rows == 0) {
        pk->ev.op = CDC_OP_COPY;
        pk->ev.source = "postgres";
        pk->ev.schema = t->schema;
        pk->ev.table = t->name;
        pk->ev.cols = pk->cols;
        pk->ev.ncols = t->ncols;
        pk->ev.key = (const char **)t->key;
        pk->ev.nkey = t->nkey;
        pk->ev.position = cp->position;
        pk->ev.tx_end = true;
        cdc_pack_begin(&pk->ev, &pk->buf);
    }
    cdc_pack_add(&pk->ev, pk->rows == 0, &pk->buf);
    pk->rows++;
}

static bool pack_send(struct copy *cp, struct crange *r, struct pack *pk,
                      bool last)
{
    struct item it = {.range = r, .last = last, .rows = pk->rows};
    if (pk->rows > 0) {
        cdc_pack_end(true, &pk->buf);
        it.data = cdc_buf_detach(&pk->buf, &it.len);
    }
    pk->rows = 0;
    cdc_buf_init(&pk->buf, 0);
    return enqueue(cp, &it);
}

/* Reads one range with COPY and hands its rows on in packs. */
static int read_range(struct copy *cp, PGconn *conn, struct crange *r,
                      struct cdc_arena *arena, struct cdc_err *err)
{
    struct ctable *t = r->t;
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "COPY (SELECT ");
    cdc_buf_append_str(&sql, t->ncols > 0 ? t->sql_cols : "");
    cdc_buf_append_str(&sql, " FROM ");
    source__pg_append_ident(&sql, conn, t->schema);
    cdc_buf_append_char(&sql, '.');
    source__pg_append_ident(&sql, conn, t->name);
    cdc_buf_append_str(&sql, " WHERE ");
    source_copy_range_where(&r->r, &sql);
    cdc_buf_append_str(&sql, ") TO STDOUT");
    PGresult *res = PQexec(conn, sql.data);
    cdc_buf_release(&sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        msg[strcspn(msg, "\n")] = '\0';
        PQclear(res);
        return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                           "could not copy table \"%s.%s\": %s", t->schema,
                           t->name, msg);
    }
    PQclear(res);

    struct pack pk;
    memset(&pk, 0, sizeof(pk));
    cdc_buf_init(&pk.buf, 0);
    pk.cols = cdc_xcalloc(t->ncols ? t->ncols : 1, sizeof(*pk.cols));
    for (size_t i = 0; i < t->ncols; i++) {
        pk.cols[i].name = t->cols[i];
        pk.cols[i].type = t->types[i];
    }
    const char **values = cdc_xcalloc(t->ncols + 1, sizeof(*values));
    size_t *lens = cdc_xcalloc(t->ncols + 1, sizeof(*lens));
    int rc = CDC_OK;
    bool stopped = false;
    for (;;) {
        char *line = NULL;
        int n = PQgetCopyData(conn, &line, 0);
        if (n < 0)
            break;
        rc = source_copy_parse_line(line, (size_t)n, t->ncols, arena, values,
                                    lens, err);
        PQfreemem(line);
        if (rc != CDC_OK) {
            cdc_err_prefix(err, "cannot read a row of \"%s.%s\"", t->schema,
                           t->name);
            break;
        }
        pack_row(cp, r, &pk, values, lens);
        if (pk.rows >= PACK_ROWS || pk.buf.len >= PACK_BYTES) {
            if (!pack_send(cp, r, &pk, false)) {
                stopped = true;
                break;
            }
            cdc_arena_reset(arena);
        }
    }
    /* drain what COPY still sends after a stop, then its result */
    if (rc != CDC_OK || stopped) {
        char *line = NULL;
        while (PQgetCopyData(conn, &line, 0) > 0)
            PQfreemem(line);
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == CDC_OK &&
            !stopped) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
            msg[strcspn(msg, "\n")] = '\0';
            rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                             "could not copy table \"%s.%s\": %s", t->schema,
                             t->name, msg);
        }
        PQclear(res);
    }
    if (rc == CDC_OK && !stopped && !pack_send(cp, r, &pk, true))
        stopped = true;
    cdc_buf_release(&pk.buf);
    cdc_free(pk.cols);
    cdc_free(values);
    cdc_free(lens);
    cdc_arena_reset(arena);
    if (rc == CDC_OK && stopped)
        rc = CDC_ESTOP;
    return rc;
}

struct reader {
    struct copy *cp;
    pthread_t th;
    PGconn *conn;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct copy *cp = rd->cp;
    struct cdc_err err;
    struct cdc_arena arena;
    cdc_err_clear(&err);
    cdc_arena_init(&arena);
    int rc = CDC_OK;
    for (;;) {
        struct crange *r = take_range(cp, cp->env->workers_per_table);
        if (r == NULL)
            break;
        rc = read_range(cp, rd->conn, r, &arena, &err);
        pthread_mutex_lock(&cp->mu);
        r->t->active--;
        pthread_cond_broadcast(&cp->cv);
        pthread_mutex_unlock(&cp->mu);
        if (rc != CDC_OK)
            break;
    }
    if (rc != CDC_OK && rc != CDC_ESTOP)
        fail(cp, &err);
    cdc_arena_release(&arena);
    pthread_mutex_lock(&cp->mu);
    cp->readers_running--;
    pthread_cond_broadcast(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    return NULL;
}

/* Opens a reader's connection inside the snapshot. */
static int reader_open(struct copy *cp, PGconn **out, struct cdc_err *err)
{
    PGconn *conn = NULL;
    int rc = source__pg_connect(cp->a->kw, cp->a->val, false, "tributary-copy",
                                &conn, err);
    if (rc != CDC_OK)
        return rc;
    PGresult *res = source__pg_run(
        conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, err);
    if (res != NULL) {
        PQclear(res);
        struct cdc_buf sql;
        cdc_buf_init(&sql, 0);
        cdc_buf_append_str(&sql, "SET TRANSACTION SNAPSHOT ");
        char *lit = PQescapeLiteral(conn, cp->snapshot, strlen(cp->snapshot));
        cdc_buf_append_str(&sql, lit != NULL ? lit : "''");
        PQfreemem(lit);
        res = source__pg_run(conn, sql.data, 0, NULL, err);
        cdc_buf_release(&sql);
    }
    if (res == NULL) {
        PQfinish(conn);
        return cdc_err_prefix(err, "could not take the copy's snapshot");
    }
    PQclear(res);
    *out = conn;
    return CDC_OK;
}

/* ==== Publishing ==== */

/* One table's progress line: a log line, or on a terminal one line that
 * is rewritten. A finished table gets a last log line. */
static void progress_table(const struct ctable *t, bool tty)
{
    char name[200];
    char line[256];
    snprintf(name, sizeof(name), "%s.%s", t->schema, t->name);
    bool done = t->ranges_left == 0;
    int64_t end = done ? t->done_ms : cdc_now_ms();
    source_copy_progress_format(
        name, t->rows, t->bytes, done ? 0 : t->est_bytes,
        (double)(end - t->started_ms) / 1000.0, line, sizeof(line));
    if (tty && !done) {
        fprintf(stderr, "\r\033[Kcopy %s", line);
        fflush(stderr);
    } else {
        if (tty)
            fprintf(stderr, "\r\033[K");
        cdc_log(CDC_LOG_INFO, "copy", "%s%s", line, done ? " (done)" : "");
    }
}

static void progress(struct copy *cp, bool tty)
{
    for (size_t i = 0; i < cp->ntables; i++) {
        const struct ctable *t = &cp->tables[i];
        if (t->started_ms != 0 && t->ranges_left > 0)
            progress_table(t, tty);
    }
}

/* Publishes packs until every range is stored, saving each range as it
 * completes. */
static int publish_all(struct copy *cp, struct cdc_js_pub *pub,
                       struct cdc_err *err)
{
    bool tty = isatty(STDERR_FILENO) != 0;
    int64_t last_progress = cdc_now_ms();
    uint64_t sent_seq = 0;
    uint64_t floor = 0;
    int rc = CDC_OK;
    char msgid[CDC_NAME_MAX + 96];
    for (;;) {
        struct item it = {0};
        bool have = false;
        bool readers_done = false;
        pthread_mutex_lock(&cp->mu);
        if (cp->qlen == 0 && cp->readers_running > 0 && !cp->failed &&
            !cdc_stop_requested) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&cp->cv, &cp->mu, &ts);
        }
        if (cp->qlen > 0) {
            it = cp->queue[cp->qhead];
            cp->qhead = (cp->qhead + 1) % QUEUE_MAX;
            cp->qlen--;
            have = true;
            pthread_cond_broadcast(&cp->cv);
        }
        readers_done = cp->readers_running == 0 && cp->qlen == 0;
        bool failed = cp->failed;
        pthread_mutex_unlock(&cp->mu);
        if (failed) {
            if (have)
                cdc_free(it.data);
            *err = cp->first_err;
            return err->code != 0 ? err->code : CDC_EIO;
        }
        if (have) {
            struct crange *r = it.range;
            if (r->t->started_ms == 0)
                r->t->started_ms = cdc_now_ms();
            if (it.data != NULL) {
                snprintf(msgid, sizeof(msgid),
                         "%s/copy:%s:%s:%" PRIu32 ":%" PRIu32 ":%" PRIu64,
                         cp->env->group, cp->generation, cp->run, r->t->oid,
                         r->r.first_block, r->chunks);
                rc = cdc_js_pub_send(pub, r->t->subject, msgid, it.data, it.len,
                                     NULL, 0, &sent_seq, err);
                r->chunks++;
                r->rows += it.rows;
                r->bytes += it.len;
                cdc_metric_add(cp->m_rows, r->t->label, it.rows);
                cdc_metric_add(cp->m_bytes, r->t->label, it.len);
                cdc_free(it.data);
                if (rc != CDC_OK)
                    return rc;
            }
            if (it.last) {
                r->all_sent = true;
                r->last_seq = sent_seq;
            }
        }
        /* on a stop, readers give up at their next pack; what was sent
         * is still recorded below */
        rc = cdc_js_pub_poll(pub, &floor, err);
        if (rc != CDC_OK)
            return rc;
        for (size_t i = 0; i < cp->nranges; i++) {
            struct crange *r = &cp->ranges[i];
            if (r->done || !r->all_sent || r->last_seq > floor)
                continue;
            rc = save_range(cp, r, err);
            if (rc != CDC_OK)
                return rc;
            pthread_mutex_lock(&cp->mu);
            r->done = true;
            pthread_mutex_unlock(&cp->mu);
            r->t->rows += r->rows;
            r->t->bytes += r->bytes;
            r->t->ranges_left--;
            copy_gauges(cp);
            if (r->t->ranges_left == 0) {
                r->t->done_ms = cdc_now_ms();
                progress_table(r->t, tty);
            }
        }
        if (cdc_now_ms() - last_progress >= PROGRESS_MS) {
            progress(cp, tty);
            last_progress = cdc_now_ms();
        }
        if (readers_done && !have) {
            if (cdc_js_pub_inflight(pub) == 0) {
                bool all = true;
                for (size_t i = 0; i < cp->nranges; i++)
                    all = all && cp->ranges[i].done;
                return all ? CDC_OK : CDC_ESTOP;
            }
            rc = cdc_js_pub_drain(pub, cp->env->ack_timeout_ms, err);
            if (rc != CDC_OK)
                return rc;
        }
    }
}

/* ==== The copy ==== */

/* A snapshot to copy in: a new slot's (exported as it is created, on a
 * replication connection that must then stay idle until every reader took
 * it), or else one exported by an open transaction. *holder is that
 * connection. */
static int take_snapshot(struct copy *cp, bool create_slot, PGconn **holder,
                         struct cdc_err *err)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    int rc;
    if (create_slot) {
        rc = source__pg_connect(cp->a->kw, cp->a->val, true,
                                "tributary-replicator", &conn, err);
        if (rc != CDC_OK)
            return rc;
        struct cdc_buf sql;
        cdc_buf_init(&sql, 0);
        cdc_buf_append_str(&sql, "CREATE_REPLICATION_SLOT ");
        source__pg_append_ident(&sql, conn, cp->a->slot);
        cdc_buf_append_str(&sql, " LOGICAL pgoutput EXPORT_SNAPSHOT");
        res = PQexec(conn, sql.data);
        cdc_buf_release(&sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
            PQnfields(res) < 3) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
            msg[strcspn(msg, "\n")] = '\0';
            PQclear(res);
            PQfinish(conn);
            return cdc_err_set(err, CDC_EIO, 0,
                               "could not create replication slot \"%s\": %s",
                               cp->a->slot, msg);
        }
        snprintf(cp->position, sizeof(cp->position), "%s",
                 PQgetvalue(res, 0, 1));
        snprintf(cp->snapshot, sizeof(cp->snapshot), "%s",
                 PQgetvalue(res, 0, 2));
        cdc_log(CDC_LOG_INFO, "postgres",
                "created replication slot \"%s\" at %s with snapshot %s",
                cp->a->slot, cp->position, cp->snapshot);
        PQclear(res);
        *holder = conn;
        return CDC_OK;
    }
    rc = source__pg_connect(cp->a->kw, cp->a->val, false, "tributary-copy",
                            &conn, err);
    if (rc != CDC_OK)
        return rc;
    res = source__pg_run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL,
                         err);
    if (res != NULL) {
        PQclear(res);
        res = source__pg_run(
            conn, "SELECT pg_export_snapshot(), pg_current_wal_lsn()", 0, NULL,
            err);
    }
    if (res == NULL) {
        PQfinish(conn);
        return cdc_err_prefix(err, "could not export a snapshot to copy in");
    }
    snprintf(cp->snapshot, sizeof(cp->snapshot), "%s", PQgetvalue(res, 0, 0));
    if (cp->position[0] == '\0')
        snprintf(cp->position, sizeof(cp->position), "%s",
                 PQgetvalue(res, 0, 1));
    PQclear(res);
    *holder = conn;
    return CDC_OK;
}

/*
 * --resync: before any copied row, a TRUNCATE event of each table, so the
 * targets lose the rows deleted while the group could not capture. They
 * are one transaction just before the copy's position (the slot's start),
 * ordered before every change the slot streams, and after anything the
 * group captured before its slot was lost.
 */
static int publish_truncates(struct copy *cp, struct cdc_err *err)
{
    uint64_t lsn = 0;
    if (cdc_lsn_parse(cp->position, &lsn) != CDC_OK || lsn == 0)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "the copy's position \"%s\" is not a WAL position",
                           cp->position);
    char position[32];
    cdc_lsn_format(lsn - 1, position, sizeof(position));
    struct cdc_buf data;
    char msgid[CDC_NAME_MAX + 96];
    cdc_buf_init(&data, 0);
    int rc = CDC_OK;
    for (size_t i = 0; i < cp->ntables && rc == CDC_OK; i++) {
        const struct ctable *t = &cp->tables[i];
        struct cdc_event ev = {
            .op = CDC_OP_TRUNCATE,
            .source = "postgres",
            .schema = t->schema,
            .table = t->name,
            .position = position,
            .tx_index = (uint32_t)i,
            .tx_end = i + 1 == cp->ntables,
        };
        cdc_buf_reset(&data);
        rc = cdc_event_encode(&ev, &data);
        if (rc != CDC_OK) {
            cdc_err_set(err, rc, 0, "could not encode a TRUNCATE event");
            break;
        }
        snprintf(msgid, sizeof(msgid), "%s/copy:%s:truncate:%" PRIu32,
                 cp->env->group, cp->generation, t->oid);
        rc = cdc_js_publish_sync(cp->env->js, t->subject, msgid, data.data,
                                 data.len, NULL, 0, err);
        if (rc == CDC_OK)
            cdc_log(CDC_LOG_INFO, "copy",
                    "%s.%s: its rows on the targets go first (--resync)",
                    t->schema, t->name);
    }
    cdc_buf_release(&data);
    return rc;
}

static void new_generation(char *out, size_t outsz)
{
    uint64_t v = (uint64_t)cdc_wall_us() ^ ((uint64_t)getpid() << 40);
    snprintf(out, outsz, "%016" PRIx64, v);
}

static void copy_release(struct copy *cp)
{
    for (size_t i = 0; i < cp->ntables; i++)
        table_free(&cp->tables[i]);
    cdc_free(cp->tables);
    cdc_free(cp->ranges);
    for (size_t i = 0; i < cp->qlen; i++)
        cdc_free(cp->queue[(cp->qhead + i) % QUEUE_MAX].data);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
}

int source__pg_copy(const struct source__pg_copy_args *a,
                    const struct source_copy_env *env, struct cdc_err *err)
{
    struct copy cp;
    memset(&cp, 0, sizeof(cp));
    cp.a = a;
    cp.env = env;
    pthread_mutex_init(&cp.mu, NULL);
    pthread_cond_init(&cp.cv, NULL);
    struct source_copy_saved_plan sp;
    bool found = false;
    struct reader *readers = NULL;
    size_t nreaders = 0;
    PGconn *holder = NULL;
    PGconn *plan_conn = NULL;
    struct cdc_js_pub *pub = NULL;
    uint64_t plan_rev = 0;

    int rc = read_plan(env->kv, &sp, &found, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    if (found && sp.done && env->then_stream) {
        cdc_log(CDC_LOG_INFO, "copy",
                "the initial copy was done before (at %s): streaming",
                sp.position);
        goto out;
    }
    bool resume = found && !sp.done;
    new_generation(cp.run, sizeof(cp.run));
    if (resume) {
        snprintf(cp.generation, sizeof(cp.generation), "%s", sp.generation);
        snprintf(cp.position, sizeof(cp.position), "%s", sp.position);
    } else {
        new_generation(cp.generation, sizeof(cp.generation));
    }
    bool create_slot = env->then_stream && !a->slot_exists;
    if (resume && create_slot) {
        /* the slot of the plan is gone: its position means nothing now */
        resume = false;
        cp.position[0] = '\0';
        new_generation(cp.generation, sizeof(cp.generation));
    }
    if (!resume && env->then_stream && a->slot_exists)
        cdc_log(CDC_LOG_WARN, "copy",
                "slot \"%s\" exists already: the copy reads the rows as "
                "they are now, and the target is exact once streaming from "
                "the slot has caught up",
                a->slot);
    rc = take_snapshot(&cp, create_slot, &holder, err);
    if (rc != CDC_OK)
        goto out;

    /* the plan, from a connection inside the snapshot */
    rc = reader_open(&cp, &plan_conn, err);
    if (rc == CDC_OK)
        rc = list_tables(&cp, plan_conn, err);
    if (rc != CDC_OK)
        goto out;
    if (resume) {
        /* the same split as before: sizes and workers of the plan */
        bool same = sp.ntables == cp.ntables;
        for (size_t i = 0; i < cp.ntables && same; i++) {
            same = sp.oids[i] == cp.tables[i].oid;
            cp.tables[i].nblocks = sp.nblocks[i];
        }
        if (!same) {
            cdc_log(CDC_LOG_WARN, "copy",
                    "the tables changed since the interrupted copy began: "
                    "copying everything again");
            resume = false;
            new_generation(cp.generation, sizeof(cp.generation));
        }
    }
    unsigned workers = resume ? sp.workers : env->workers_per_table;
    cp.workers = workers;
    plan_ranges(&cp, workers);
    if (resume)
        rc = load_done(&cp, err);
    else if (env->truncate_first)
        rc = publish_truncates(&cp, err);
    if (rc == CDC_OK && !resume)
        rc = write_plan(&cp, false, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    copy_metrics(&cp);
    copy_gauges(&cp);

    /* readers: up to workers_per_table per table, READERS_MAX in all */
    size_t want = 0;
    for (size_t i = 0; i < cp.ntables; i++) {
        size_t left = cp.tables[i].ranges_left;
        want += left < env->workers_per_table ? left : env->workers_per_table;
    }
    if (want > READERS_MAX)
        want = READERS_MAX;
    size_t left = 0;
    for (size_t i = 0; i < cp.nranges; i++)
        left += !cp.ranges[i].done;
    cdc_log(CDC_LOG_INFO, "copy",
            "copying %zu tables in %zu ranges (%zu to do) with %zu readers "
            "at %s",
            cp.ntables, cp.nranges, left, want, cp.position);
    readers = cdc_xcalloc(want ? want : 1, sizeof(*readers));
    for (size_t i = 0; i < want && rc == CDC_OK; i++) {
        rc = reader_open(&cp, &readers[i].conn, err);
        if (rc == CDC_OK)
            nreaders++;
    }
    /* every reader holds the snapshot now: its exporter may go */
    if (plan_conn != NULL) {
        PQfinish(plan_conn);
        plan_conn = NULL;
    }
    if (holder != NULL) {
        if (!create_slot) {
            PGresult *res = PQexec(holder, "COMMIT");
            PQclear(res);
        }
        PQfinish(holder);
        holder = NULL;
    }
    if (rc != CDC_OK)
        goto out;
    rc = cdc_js_pub_new(env->js, PUB_WINDOW, env->ack_timeout_ms, &pub, err);
    if (rc != CDC_OK)
        goto out;
    cp.readers_running = (unsigned)nreaders;
    for (size_t i = 0; i < nreaders; i++) {
        readers[i].cp = &cp;
        if (pthread_create(&readers[i].th, NULL, reader_main, &readers[i]) != 0)
            CDC_BUG("could not start a copy reader thread");
    }
    rc = publish_all(&cp, pub, err);
    if (rc != CDC_OK) {
        struct cdc_err e = *err;
        fail(&cp, &e);
    }
    for (size_t i = 0; i < nreaders; i++)
        pthread_join(readers[i].th, NULL);
    if (rc == CDC_OK) {
        rc = write_plan(&cp, true, &plan_rev, err);
        if (rc == CDC_OK) {
            uint64_t rows = 0;
            for (size_t i = 0; i < cp.ntables; i++)
                rows += cp.tables[i].rows;
            cdc_log(CDC_LOG_INFO, "copy",
                    "copied %" PRIu64 " rows of %zu tables (as of %s)", rows,
                    cp.ntables, cp.position);
        }
    } else if (rc == CDC_ESTOP || cdc_stop_requested) {
        rc = CDC_ESTOP;
        cdc_err_set(err, CDC_ESTOP, 0,
                    "copy stopped; it resumes with the ranges not done");
    }
out:
    for (size_t i = 0; i < nreaders; i++)
        PQfinish(readers[i].conn);
    cdc_free(readers);
    if (plan_conn != NULL)
        PQfinish(plan_conn);
    if (holder != NULL)
        PQfinish(holder);
    cdc_js_pub_free(pub);
    source_copy_saved_plan_release(&sp);
    copy_release(&cp);
    return rc;
}

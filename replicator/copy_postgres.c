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
 * The reader threads, the publisher and the records of progress are
 * copy_common.c's; this file plans the ranges, takes the snapshot and
 * reads the rows.
 */
#include "replicator/copy_common.h"
#include "replicator/copy_text.h"
#include "replicator/replicator_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct ctable {
    uint32_t oid;
    char *schema;
    char *name;
    bool partitioned; /* no blocks of its own: read whole */
    uint64_t nblocks;
    char **cols; /* names, quoted for SQL in sql_cols */
    char **types;
    size_t ncols;
    char **key;
    size_t nkey;
    char *sql_cols;                   /* "a", "b", ... */
    struct source_copy_range *blocks; /* of its ranges, in order */
};

struct copy {
    struct source__copy c; /* c.tables[i].src is &tables[i] */
    const struct source__pg_copy_args *a;
    struct ctable *tables;
    char generation[SOURCE_COPY_GENERATION_MAX];
    char position[SOURCE_COPY_POSITION_MAX];
    char snapshot[128];
    unsigned workers; /* the split's workers per table (the plan's) */
};

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
    cdc_free(t->blocks);
}

/* Columns (not dropped, not generated: those are not in the stream
 * either) with their type names as pgoutput gives them, and the key the
 * stream uses: the replica identity index, else the primary key. */
static int describe_table(PGconn *conn, const struct source__copy *c,
                          struct source__copy_table *ct, struct cdc_err *err)
{
    struct ctable *t = ct->src;
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
    return source__copy_table_names(c, ct, err);
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
    cp->c.tables = cdc_xcalloc(n ? n : 1, sizeof(*cp->c.tables));
    int rc = CDC_OK;
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        struct source__copy_table *ct = &cp->c.tables[cp->c.ntables];
        struct ctable *t = &cp->tables[cp->c.ntables++];
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
        *ct = (struct source__copy_table){
            .schema = t->schema,
            .name = t->name,
            .id = t->oid,
            .est_bytes = (uint64_t)v,
            .src = t,
        };
    }
    PQclear(res);
    if (rc != CDC_OK)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "unexpected answer listing the tables to copy");
    for (size_t i = 0; i < cp->c.ntables && rc == CDC_OK; i++)
        rc = describe_table(conn, &cp->c, &cp->c.tables[i], err);
    return rc;
}

/* Splits every table into ranges (a partitioned table: one range read
 * whole through its partitions). */
static void plan_ranges(struct copy *cp, unsigned workers)
{
    size_t max = workers * SOURCE_COPY_RANGES_PER_WORKER + 1;
    cp->c.ranges = cdc_xcalloc(cp->c.ntables ? cp->c.ntables * max : 1,
                               sizeof(*cp->c.ranges));
    for (size_t i = 0; i < cp->c.ntables; i++) {
        struct source__copy_table *ct = &cp->c.tables[i];
        struct ctable *t = &cp->tables[i];
        t->blocks = cdc_xcalloc(max, sizeof(*t->blocks));
        size_t n = 1;
        if (t->partitioned)
            t->blocks[0] = (struct source_copy_range){.open_end = true};
        else
            n = source_copy_plan(t->nblocks, workers, t->blocks, max);
        for (size_t k = 0; k < n; k++) {
            struct source__copy_range *r = &cp->c.ranges[cp->c.nranges++];
            r->t = ct;
            r->index = k;
            r->id = t->blocks[k].first_block;
        }
        ct->nranges = n;
        ct->ranges_left = n;
    }
}

/* The plan in the state bucket (see struct source_copy_saved_plan). */
static void plan_text(const struct copy *cp, bool done, struct cdc_buf *b)
{
    size_t n = cp->c.ntables;
    struct source_copy_saved_plan pl = {
        .workers = cp->workers,
        .done = done,
        .oids = cdc_xcalloc(n ? n : 1, sizeof(*pl.oids)),
        .nblocks = cdc_xcalloc(n ? n : 1, sizeof(*pl.nblocks)),
        .ntables = n,
    };
    snprintf(pl.generation, sizeof(pl.generation), "%s", cp->generation);
    snprintf(pl.position, sizeof(pl.position), "%s", cp->position);
    for (size_t i = 0; i < n; i++) {
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
    int rc =
        source__copy_kv_read(kv, SOURCE_COPY_PLAN_KEY, &b, found, rev, err);
    if (rc == CDC_OK && *found &&
        source_copy_saved_plan_parse(b.data != NULL ? b.data : "", sp, err) !=
            CDC_OK)
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "the copy plan in the state bucket (key \"%s\") "
                         "cannot be read; delete the key to copy again",
                         SOURCE_COPY_PLAN_KEY);
    cdc_buf_release(&b);
    return rc;
}

static int write_plan(struct copy *cp, bool done, uint64_t *rev,
                      struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    plan_text(cp, done, &b);
    int rc = source__copy_plan_put(&cp->c, SOURCE_COPY_PLAN_KEY, &b, rev, err);
    cdc_buf_release(&b);
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
    bool found = false;
    int rc = source__copy_kv_read(kv, key, val, &found, NULL, err);
    if (rc == CDC_OK && found && val->data != NULL)
        *done = source_copy_range_done(val->data, generation, rows);
    return rc;
}

static void range_key(const struct source__copy_range *r, char *out,
                      size_t outsz)
{
    const struct ctable *t = r->t->src;
    source_copy_range_key(t->oid, &t->blocks[r->index], out, outsz);
}

/* ==== Readers ==== */

/* The failure of a COPY as an error. */
static int copy_error(PGconn *conn, const struct ctable *t, struct cdc_err *err)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
    msg[strcspn(msg, "\n")] = '\0';
    return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                       "could not copy table \"%s.%s\": %s", t->schema, t->name,
                       msg);
}

/* Reads one range with COPY and hands its rows on in packs. */
static int read_range(struct source__copy *c, void *conn_arg,
                      struct source__copy_range *r, struct cdc_arena *arena,
                      bool *broken, struct cdc_err *err)
{
    (void)broken;
    PGconn *conn = conn_arg;
    const struct ctable *t = r->t->src;
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "COPY (SELECT ");
    cdc_buf_append_str(&sql, t->ncols > 0 ? t->sql_cols : "");
    cdc_buf_append_str(&sql, " FROM ");
    source__pg_append_ident(&sql, conn, t->schema);
    cdc_buf_append_char(&sql, '.');
    source__pg_append_ident(&sql, conn, t->name);
    cdc_buf_append_str(&sql, " WHERE ");
    source_copy_range_where(&t->blocks[r->index], &sql);
    cdc_buf_append_str(&sql, ") TO STDOUT");
    PGresult *res = PQexec(conn, sql.data);
    cdc_buf_release(&sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        int rc = copy_error(conn, t, err);
        PQclear(res);
        return rc;
    }
    PQclear(res);

    struct source__copy_pack pk;
    source__copy_pack_init(&pk, c, r, t->ncols, (const char **)t->key, t->nkey);
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
        for (size_t i = 0; i < t->ncols; i++) {
            pk.cols[i].value = values[i];
            pk.cols[i].value_len = lens[i];
        }
        if (!source__copy_pack_add(c, r, &pk, arena)) {
            stopped = true;
            break;
        }
    }
    /* drain what COPY still sends after a stop, then its result */
    if (rc != CDC_OK || stopped) {
        char *line = NULL;
        while (PQgetCopyData(conn, &line, 0) > 0)
            PQfreemem(line);
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == CDC_OK && !stopped)
            rc = copy_error(conn, t, err);
        PQclear(res);
    }
    if (rc == CDC_OK && !stopped && !source__copy_pack_end(c, r, &pk))
        stopped = true;
    source__copy_pack_release(&pk);
    cdc_free(values);
    cdc_free(lens);
    cdc_arena_reset(arena);
    if (rc == CDC_OK && stopped)
        rc = CDC_ESTOP;
    return rc;
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

static const struct source__copy_ops pg_copy_ops = {
    .source = "postgres",
    .estimate_help = "size of the table on the source (pg_relation_size) when "
                     "its copy was planned",
    .ranges_done_help = "block ranges of the table copied and stored",
    .ranges_help = "block ranges the table's copy is split into",
    .chunked = false,
    .range_key = range_key,
    .read_range = read_range,
};

_Static_assert(SOURCE_COPY_KEY_MAX <= SOURCE_COPY_RANGE_KEY_MAX,
               "a range's key fits the shared copy's buffers");
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
 * --resync: the TRUNCATE events go just before the copy's position (the
 * slot's start), ordered before every change the slot streams, and after
 * anything the group captured before its slot was lost.
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
    return source__copy_publish_truncates(&cp->c, position, err);
}

static void copy_release(struct copy *cp)
{
    for (size_t i = 0; i < cp->c.ntables; i++)
        table_free(&cp->tables[i]);
    cdc_free(cp->tables);
    source__copy_release(&cp->c);
}

int source__pg_copy(const struct source__pg_copy_args *a,
                    const struct source_copy_env *env, struct cdc_err *err)
{
    struct copy cp;
    memset(&cp, 0, sizeof(cp));
    source__copy_init(&cp.c, env, &pg_copy_ops, cp.generation, cp.position);
    cp.a = a;
    struct source_copy_saved_plan sp;
    bool found = false;
    struct source__copy_reader *readers = NULL;
    size_t nreaders = 0;
    PGconn *holder = NULL;
    PGconn *plan_conn = NULL;
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
    if (resume) {
        snprintf(cp.generation, sizeof(cp.generation), "%s", sp.generation);
        snprintf(cp.position, sizeof(cp.position), "%s", sp.position);
    } else {
        source__copy_new_name(cp.generation, sizeof(cp.generation), 0);
    }
    bool create_slot = env->then_stream && !a->slot_exists;
    if (resume && create_slot) {
        /* the slot of the plan is gone: its position means nothing now */
        resume = false;
        cp.position[0] = '\0';
        source__copy_new_name(cp.generation, sizeof(cp.generation), 0);
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
        bool same = sp.ntables == cp.c.ntables;
        for (size_t i = 0; i < cp.c.ntables && same; i++) {
            same = sp.oids[i] == cp.tables[i].oid;
            cp.tables[i].nblocks = sp.nblocks[i];
        }
        if (!same) {
            cdc_log(CDC_LOG_WARN, "copy",
                    "the tables changed since the interrupted copy began: "
                    "copying everything again");
            resume = false;
            source__copy_new_name(cp.generation, sizeof(cp.generation), 0);
        }
    }
    unsigned workers = resume ? sp.workers : env->workers_per_table;
    cp.workers = workers;
    plan_ranges(&cp, workers);
    if (resume)
        rc = source__copy_load_done(&cp.c, err);
    else if (env->truncate_first)
        rc = publish_truncates(&cp, err);
    if (rc == CDC_OK && !resume)
        rc = write_plan(&cp, false, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    source__copy_metrics(&cp.c);

    size_t want = source__copy_readers_wanted(&cp.c);
    source__copy_log_start(&cp.c, want, cp.position);
    readers = cdc_xcalloc(want ? want : 1, sizeof(*readers));
    for (size_t i = 0; i < want && rc == CDC_OK; i++) {
        PGconn *conn = NULL;
        rc = reader_open(&cp, &conn, err);
        readers[i].conn = conn;
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
    rc = source__copy_run(&cp.c, readers, nreaders, err);
    if (rc == CDC_OK) {
        rc = write_plan(&cp, true, &plan_rev, err);
        if (rc == CDC_OK)
            source__copy_log_done(&cp.c, cp.position);
    } else {
        rc = source__copy_stopped(rc, err);
    }
out:
    for (size_t i = 0; i < nreaders; i++)
        PQfinish(readers[i].conn);
    cdc_free(readers);
    if (plan_conn != NULL)
        PQfinish(plan_conn);
    if (holder != NULL)
        PQfinish(holder);
    source_copy_saved_plan_release(&sp);
    copy_release(&cp);
    return rc;
}

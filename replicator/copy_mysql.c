/*
 * copy_mysql.c: the initial copy of the group's tables from MySQL or
 * MariaDB. Each table is split into ranges of its key (the primary key,
 * else the unique NOT NULL key the stream uses): integer keys by their
 * MIN and MAX, others by key values sampled every so many rows. Reader
 * threads, up to --max-copy-workers-per-table on one table, read ranges
 * with keyset conditions, streaming each result (mysql_use_result), and
 * turn rows into packs of COPY events whose values read exactly as the
 * binlog decoder writes the same row; the calling thread publishes the
 * packs (JetStream's client is used from this thread only) and records a
 * range as done in the group's state bucket once JetStream stored it.
 *
 * The snapshot: every reader runs START TRANSACTION WITH CONSISTENT
 * SNAPSHOT. MariaDB tells each session the binlog position of its
 * snapshot (binlog_snapshot_file/position), so one reader needs no lock.
 * Several readers cannot share one snapshot, so they start theirs while
 * FLUSH TABLES WITH READ LOCK holds every commit back, for a few
 * milliseconds; without the privilege for it the copy runs with one
 * reader (and says so). MySQL has no binlog_snapshot_*: there the lock is
 * always taken and SHOW MASTER STATUS read under it (untested here, no
 * MySQL server), and a copy without the lock's privilege fails.
 *
 * The rows carry the snapshot's position less one, so they sort before
 * every change streamed from it. A copy that was interrupted resumes
 * with the ranges not recorded as done, under a new snapshot, keeping
 * the plan's position: streaming from there replays every change since
 * over rows that may be newer, which every sink applies by key, so the
 * target is exact again once the stream has caught up (tables without a
 * key may get rows twice). Messages of each run have msgids of their own:
 * a range read again holds other rows than the same range before, and
 * JetStream must not drop them as duplicates.
 *
 * The reader threads, the publisher and the records of progress are
 * copy_common.c's; this file plans the ranges, takes the snapshot and
 * reads the rows.
 */
#include "replicator/copy_common.h"
#include "replicator/copy_mysql_text.h"
#include "replicator/copy_text.h"
#include "replicator/mysql_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Seconds FLUSH TABLES WITH READ LOCK may wait for running statements:
 * while it waits, writes wait behind it. */
#define LOCK_WAIT_S 10
/* Seconds the server waits for a reader to take more rows: a reader
 * blocks while the publisher is behind, which may take long. */
#define NET_WRITE_TIMEOUT_S 3600
/* Hex of one table's range bounds, and of the whole plan, at most: the
 * plan is one key-value entry, which NATS keeps under max_payload (1 MiB
 * by default). A table whose sampled bounds would pass it gets fewer,
 * larger ranges. */
#define TABLE_BOUNDS_MAX (64 * 1024)
#define PLAN_BOUNDS_MAX (512 * 1024)

_Static_assert(SOURCE_MY_KEY_MAX <= SOURCE_COPY_RANGE_KEY_MAX,
               "a range's key fits the shared copy's buffers");

/* ==== State ==== */

struct ctable {
    size_t index; /* in the plan */
    struct source__my_tabinfo info;
    struct source__my_colkind *kinds;
    char **types;
    enum source__my_lit *lits; /* of the key's columns */
    char *select;              /* "SELECT ... FROM `db`.`t`" */
    char *order;               /* " ORDER BY `k1`, ..." */
    const struct source__my_plan_table *pt;
};

struct copy {
    struct source__copy c; /* c.tables[i].src is &tables[i] */
    const struct source__my_copy_args *a;
    bool mariadb;
    struct ctable *tables;
    struct source__my_plan plan;
    /* the rows' position: the plan's, less one */
    char position[SOURCE_MY_POS_MAX];
};

static void table_free(struct ctable *t)
{
    for (size_t i = 0; t->types != NULL && i < t->info.ncols; i++)
        cdc_free(t->types[i]);
    cdc_free(t->types);
    cdc_free(t->kinds);
    cdc_free(t->lits);
    cdc_free(t->select);
    cdc_free(t->order);
    source__my_tabinfo_free(&t->info);
}

static bool is_mariadb(MYSQL *conn)
{
    const char *v = mysql_get_server_info(conn);
    return v != NULL && strstr(v, "MariaDB") != NULL;
}

/* ==== Tables ==== */

static void append_table_name(struct cdc_buf *b, const struct ctable *t)
{
    source__my_append_ident(b, t->info.schema);
    cdc_buf_append_char(b, '.');
    source__my_append_ident(b, t->info.name);
}

/* How key column k of the table is read, or NULL (a key column that is
 * not among the columns: information_schema changed between queries). */
static const struct source__my_colkind *key_kind(const struct ctable *t,
                                                 size_t k)
{
    for (size_t c = 0; c < t->info.ncols; c++)
        if (strcmp(t->info.cols[c].name, t->info.key[k]) == 0)
            return &t->kinds[c];
    return NULL;
}

/* The columns of a table as information_schema has them, and how each
 * is read. */
static int describe_table(struct copy *cp, MYSQL *co, size_t i,
                          struct cdc_err *err)
{
    const struct source__my_table *src = &cp->a->tables[i];
    struct ctable *t = &cp->tables[i];
    struct source__copy_table *ct = &cp->c.tables[i];
    t->index = i;
    int rc = source__my_tabinfo_read(co, src->schema, src->name, &t->info, err);
    if (rc == CDC_ENOTFOUND)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "table \"%s\".\"%s\" of --tables does not exist on "
                           "the source",
                           src->schema, src->name);
    if (rc != CDC_OK)
        return rc;
    size_t n = t->info.ncols;
    t->kinds = cdc_xcalloc(n, sizeof(*t->kinds));
    t->types = cdc_xcalloc(n, sizeof(*t->types));
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    cdc_buf_append_str(&b, "SELECT ");
    for (size_t k = 0; k < n; k++) {
        const struct source_binlog_colinfo *c = &t->info.cols[k];
        source__my_col_kind(t->info.data_type[k], t->info.column_type[k],
                            c->charset, c->type, &t->kinds[k]);
        t->types[k] = source__my_col_type_name(
            t->info.data_type[k], t->info.column_type[k], c->charset,
            c->is_unsigned, c->type);
        if (k > 0)
            cdc_buf_append_str(&b, ", ");
        source__my_col_select(&t->kinds[k], c->name, &b);
    }
    cdc_buf_append_str(&b, " FROM ");
    append_table_name(&b, t);
    t->select = cdc_buf_detach(&b, NULL);

    t->lits = cdc_xcalloc(t->info.nkey ? t->info.nkey : 1, sizeof(*t->lits));
    cdc_buf_init(&b, 0);
    for (size_t k = 0; k < t->info.nkey; k++) {
        const struct source__my_colkind *kk = key_kind(t, k);
        t->lits[k] = kk != NULL ? kk->lit : SOURCE_MY_LIT_NONE;
        cdc_buf_append_str(&b, k == 0 ? " ORDER BY " : ", ");
        source__my_append_ident(&b, t->info.key[k]);
    }
    t->order = cdc_buf_detach(&b, NULL);
    if (t->order == NULL)
        t->order = cdc_xstrdup("");

    *ct = (struct source__copy_table){
        .schema = t->info.schema,
        .name = t->info.name,
        .id = i,
        .est_bytes = t->info.est_bytes,
        .src = t,
    };
    return source__copy_table_names(&cp->c, ct, err);
}

/* ==== Plan ==== */

/* A single-row query's row into vals and lens (copies); false for no
 * row. */
static int query_row(MYSQL *co, const char *sql, size_t n, char **vals,
                     size_t *lens, bool *found, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    *found = false;
    int rc = source__my_query(co, sql, &res, err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    unsigned long *l = row != NULL ? mysql_fetch_lengths(res) : NULL;
    if (row != NULL && mysql_num_fields(res) == n) {
        *found = true;
        for (size_t i = 0; i < n; i++) {
            if (row[i] == NULL) {
                *found = false;
                break;
            }
        }
        for (size_t i = 0; *found && i < n; i++) {
            vals[i] = cdc_xstrndup(row[i], l[i]);
            lens[i] = l[i];
        }
    }
    mysql_free_result(res);
    return CDC_OK;
}

/* Integer key: bounds from MIN and MAX of its first column, in as many
 * ranges as the rows call for, or the key's width when the estimate is
 * lower (a table loaded since its statistics were taken). */
static int bounds_by_minmax(struct ctable *t, MYSQL *co, unsigned workers,
                            bool is_unsigned, struct source__my_plan_table *pt,
                            struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SELECT MIN(");
    source__my_append_ident(&sql, t->info.key[0]);
    cdc_buf_append_str(&sql, "), MAX(");
    source__my_append_ident(&sql, t->info.key[0]);
    cdc_buf_append_str(&sql, ") FROM ");
    append_table_name(&sql, t);
    char *v[2] = {NULL, NULL};
    size_t l[2] = {0, 0};
    bool found = false;
    int rc = query_row(co, sql.data, 2, v, l, &found, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK || !found)
        return rc;
    uint64_t width = source__my_int_width(v[0], v[1], is_unsigned);
    size_t nranges = source__my_range_count(
        width > t->info.est_rows ? width : t->info.est_rows, workers);
    char(*b)[SOURCE_MY_INT_MAX] = cdc_xcalloc(nranges, sizeof(*b));
    size_t nb =
        source__my_int_bounds(v[0], v[1], is_unsigned, nranges, b, nranges);
    for (size_t i = 0; i < nb; i++) {
        const char *val = b[i];
        size_t len = strlen(b[i]);
        source__my_plan_add_bound(pt, &val, &len);
    }
    cdc_free(b);
    cdc_free(v[0]);
    cdc_free(v[1]);
    return CDC_OK;
}

/* Other keys: the key's value every step rows, each read from just after
 * the one before (so bounds strictly increase, whatever changes meanwhile,
 * and the key's index is read once in all). */
static int bounds_by_sampling(struct ctable *t, MYSQL *co, size_t nranges,
                              struct source__my_plan_table *pt, size_t *bytes,
                              struct cdc_err *err)
{
    size_t n = t->info.nkey;
    uint64_t step = t->info.est_rows / nranges;
    if (step == 0)
        return CDC_OK;
    char **vals = cdc_xcalloc(n, sizeof(*vals));
    size_t *lens = cdc_xcalloc(n, sizeof(*lens));
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    int rc = CDC_OK;
    for (size_t i = 1; i < nranges && rc == CDC_OK; i++) {
        if (cdc_stop_requested) {
            rc = cdc_err_set(err, CDC_ESTOP, 0, "copy stopped while planned");
            break;
        }
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "SELECT ");
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                cdc_buf_append_str(&sql, ", ");
            source__my_append_ident(&sql, t->info.key[k]);
        }
        cdc_buf_append_str(&sql, " FROM ");
        append_table_name(&sql, t);
        if (pt->nbounds > 0) {
            size_t at = (pt->nbounds - 1) * n;
            cdc_buf_append_str(&sql, " WHERE ");
            source__my_range_where((const char *const *)t->info.key, t->lits, n,
                                   (const char *const *)pt->vals + at,
                                   pt->lens + at, NULL, NULL, &sql);
        }
        cdc_buf_printf(&sql, "%s LIMIT 1 OFFSET %" PRIu64, t->order, step - 1);
        bool found = false;
        rc = query_row(co, sql.data, n, vals, lens, &found, err);
        if (rc != CDC_OK || !found)
            break;
        source__my_plan_add_bound(pt, (const char *const *)vals, lens);
        for (size_t k = 0; k < n; k++) {
            *bytes += 2 * lens[k] + 1;
            cdc_free(vals[k]);
            vals[k] = NULL;
        }
        if (*bytes > TABLE_BOUNDS_MAX)
            break;
    }
    cdc_buf_release(&sql);
    cdc_free(vals);
    cdc_free(lens);
    return rc;
}

/* A new plan: each table's bounds, read now (outside any snapshot: the
 * first and last ranges are open, so the ranges cover every row whatever
 * changes later). */
static int plan_new(struct copy *cp, MYSQL *co, struct cdc_err *err)
{
    unsigned workers = cp->c.env->workers_per_table;
    cp->plan.workers = workers ? workers : 1;
    size_t total = 0;
    int rc = CDC_OK;
    for (size_t i = 0; i < cp->c.ntables && rc == CDC_OK; i++) {
        struct ctable *t = &cp->tables[i];
        size_t nranges = source__my_range_count(t->info.est_rows, workers);
        const struct source__my_colkind *first =
            t->info.nkey > 0 ? key_kind(t, 0) : NULL;
        /* an integer key splits on its first column, by its width too
         * (see bounds_by_minmax); other keys on all their columns */
        bool by_int = first != NULL && first->integer;
        bool splittable = by_int || (t->info.nkey > 0 && nranges > 1);
        for (size_t k = 0; splittable && !by_int && k < t->info.nkey; k++)
            splittable = t->lits[k] != SOURCE_MY_LIT_NONE;
        if (total > PLAN_BOUNDS_MAX)
            splittable = false;
        struct source__my_plan_table *pt = source__my_plan_add_table(
            &cp->plan, t->info.schema, t->info.name,
            (const char *const *)t->info.key, t->info.nkey,
            !splittable ? 0
            : by_int    ? 1
                        : t->info.nkey);
        if (by_int && splittable)
            rc = bounds_by_minmax(t, co, workers, first->is_unsigned, pt, err);
        else if (splittable)
            rc = bounds_by_sampling(t, co, nranges, pt, &total, err);
        if (rc != CDC_OK)
            rc =
                cdc_err_prefix(err, "could not split \"%s\".\"%s\" into ranges",
                               t->info.schema, t->info.name);
    }
    return rc;
}

/* Whether a saved plan is one of these tables with these keys. */
static bool plan_fits(const struct copy *cp, const struct source__my_plan *pl)
{
    if (pl->ntables != cp->c.ntables)
        return false;
    for (size_t i = 0; i < pl->ntables; i++) {
        const struct source__my_plan_table *pt = &pl->tables[i];
        const struct source__my_tabinfo *ti = &cp->tables[i].info;
        if (strcmp(pt->schema, ti->schema) != 0 ||
            strcmp(pt->name, ti->name) != 0 || pt->nkey != ti->nkey ||
            pt->nvals > ti->nkey)
            return false;
        for (size_t k = 0; k < pt->nkey; k++)
            if (strcmp(pt->key[k], ti->key[k]) != 0)
                return false;
    }
    return true;
}

static void make_ranges(struct copy *cp)
{
    size_t n = 0;
    for (size_t i = 0; i < cp->c.ntables; i++)
        n += cp->plan.tables[i].nbounds + 1;
    cp->c.ranges = cdc_xcalloc(n ? n : 1, sizeof(*cp->c.ranges));
    for (size_t i = 0; i < cp->c.ntables; i++) {
        struct source__copy_table *ct = &cp->c.tables[i];
        struct ctable *t = &cp->tables[i];
        t->pt = &cp->plan.tables[i];
        ct->nranges = t->pt->nbounds + 1;
        ct->ranges_left = ct->nranges;
        for (size_t k = 0; k < ct->nranges; k++) {
            struct source__copy_range *r = &cp->c.ranges[cp->c.nranges++];
            r->t = ct;
            r->index = k;
            r->id = k;
        }
    }
}

static int read_plan(struct cdc_js_kv *kv, struct source__my_plan *pl,
                     bool *found, uint64_t *rev, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    memset(pl, 0, sizeof(*pl));
    int rc = source__copy_kv_read(kv, SOURCE_MY_PLAN_KEY, &b, found, rev, err);
    if (rc != CDC_OK)
        cdc_err_prefix(err, "could not read the copy plan");
    else if (*found && source__my_plan_parse(b.data != NULL ? b.data : "",
                                             b.len, pl, err) != CDC_OK)
        rc = cdc_err_prefix(err,
                            "the copy plan in the state bucket (key \"%s\") "
                            "cannot be read (delete the key, or run with "
                            "--resync, to copy again)",
                            SOURCE_MY_PLAN_KEY);
    cdc_buf_release(&b);
    return rc;
}

static int write_plan(struct copy *cp, bool done, uint64_t *rev,
                      struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    cp->plan.done = done;
    source__my_plan_format(&cp->plan, &b);
    int rc = source__copy_plan_put(&cp->c, SOURCE_MY_PLAN_KEY, &b, rev, err);
    cdc_buf_release(&b);
    return rc;
}

static void range_key(const struct source__copy_range *r, char *out,
                      size_t outsz)
{
    source__my_range_key((size_t)r->t->id, r->index, out, outsz);
}

/* ==== Readers ==== */

/* The SELECT of range r. */
static void range_sql(const struct source__copy_range *r, struct cdc_buf *sql)
{
    const struct ctable *t = r->t->src;
    const struct source__my_plan_table *pt = t->pt;
    cdc_buf_append_str(sql, t->select);
    if (pt->nbounds == 0)
        return;
    const char *const *lo = NULL;
    const size_t *lo_lens = NULL;
    const char *const *hi = NULL;
    const size_t *hi_lens = NULL;
    if (r->index > 0) {
        lo = (const char *const *)pt->vals + (r->index - 1) * pt->nvals;
        lo_lens = pt->lens + (r->index - 1) * pt->nvals;
    }
    if (r->index < pt->nbounds) {
        hi = (const char *const *)pt->vals + r->index * pt->nvals;
        hi_lens = pt->lens + r->index * pt->nvals;
    }
    cdc_buf_append_str(sql, " WHERE ");
    source__my_range_where((const char *const *)t->info.key, t->lits, pt->nvals,
                           lo, lo_lens, hi, hi_lens, sql);
    cdc_buf_append_str(sql, t->order);
}

/* The failure of the reader's connection as an error. */
static int conn_error(MYSQL *conn, const struct ctable *t, struct cdc_err *err)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s", mysql_error(conn));
    cdc_one_line(msg);
    unsigned code = mysql_errno(conn);
    /* a lost connection or a killed query may pass; a bad statement or a
     * missing privilege will not */
    bool retry = code >= 2000 || code == 1205 || code == 1213 || code == 1927 ||
                 code == 1053;
    return cdc_err_set(err, CDC_EIO, retry ? CDC_ERR_RETRIABLE : 0,
                       "could not copy table \"%s\".\"%s\": %s (error %u)",
                       t->info.schema, t->info.name, msg, code);
}

/* Reads one range and hands its rows on in packs. On a stop or a failure
 * in the middle of the rows the connection is cut (reading the rest
 * would read the whole range), and *broken is set. */
static int read_range(struct source__copy *c, void *conn_arg,
                      struct source__copy_range *r, struct cdc_arena *arena,
                      bool *broken, struct cdc_err *err)
{
    MYSQL *conn = conn_arg;
    const struct ctable *t = r->t->src;
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    range_sql(r, &sql);
    cdc_log(CDC_LOG_DEBUG, "copy", "%s range %zu: %s", r->t->label, r->index,
            sql.data);
    int q = mysql_real_query(conn, sql.data, (unsigned long)sql.len);
    cdc_buf_release(&sql);
    MYSQL_RES *res = q == 0 ? mysql_use_result(conn) : NULL;
    if (res == NULL)
        return conn_error(conn, t, err);

    struct source__copy_pack pk;
    size_t n = t->info.ncols;
    source__copy_pack_init(&pk, c, r, n, (const char **)t->info.key,
                           t->info.nkey);
    for (size_t i = 0; i < n; i++) {
        pk.cols[i].name = t->info.cols[i].name;
        pk.cols[i].type = t->types[i];
    }
    int rc = CDC_OK;
    bool stopped = false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *lens = mysql_fetch_lengths(res);
        for (size_t i = 0; i < n && rc == CDC_OK; i++) {
            pk.cols[i].value = NULL;
            pk.cols[i].value_len = 0;
            if (row[i] != NULL)
                rc = source__my_col_value(&t->kinds[i], row[i], lens[i], arena,
                                          &pk.cols[i].value,
                                          &pk.cols[i].value_len, err);
            if (rc != CDC_OK)
                cdc_err_prefix(
                    err, "cannot read column \"%s\" of \"%s\".\"%s\"",
                    t->info.cols[i].name, t->info.schema, t->info.name);
        }
        if (rc != CDC_OK)
            break;
        bool more = source__copy_pack_add(c, r, &pk, arena);
        cdc_arena_reset(arena);
        if (!more) {
            stopped = true;
            break;
        }
    }
    if (rc == CDC_OK && !stopped && mysql_errno(conn) != 0)
        rc = conn_error(conn, t, err);
    if (row != NULL) {
        /* left in the middle: cut the connection rather than read the
         * rest of the rows */
        mariadb_cancel(conn);
        *broken = true;
    }
    mysql_free_result(res);
    if (rc == CDC_OK && !stopped && !source__copy_pack_end(c, r, &pk))
        stopped = true;
    source__copy_pack_release(&pk);
    cdc_arena_reset(arena);
    if (rc == CDC_OK && stopped)
        rc = CDC_ESTOP;
    return rc;
}

/* A reader's connection, ready to start its snapshot: repeatable read,
 * and no time limit on its statements or on the server's waits for it. */
static int reader_open(struct copy *cp, MYSQL **out, struct cdc_err *err)
{
    MYSQL *conn = NULL;
    int rc = source__my_connect(cp->a->settings, &conn, err);
    if (rc != CDC_OK)
        return rc;
    char sql[160];
    snprintf(sql, sizeof(sql), "SET SESSION net_write_timeout = %d, %s = 0",
             NET_WRITE_TIMEOUT_S,
             cp->mariadb ? "SESSION max_statement_time"
                         : "SESSION max_execution_time");
    rc = source__my_query(conn, sql, NULL, err);
    if (rc == CDC_OK)
        rc = source__my_query(
            conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            NULL, err);
    if (rc != CDC_OK) {
        mysql_close(conn);
        return cdc_err_prefix(err, "could not prepare a copy reader");
    }
    *out = conn;
    return CDC_OK;
}

/* ==== The snapshot ==== */

/* MariaDB: the binlog position of the session's snapshot. */
static int snapshot_status(MYSQL *conn, struct source__my_pos *snap,
                           struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, "SHOW STATUS LIKE 'binlog_snapshot_%'",
                              &res, err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row;
    while (res != NULL && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL || row[1] == NULL)
            continue;
        if (strcasecmp(row[0], "Binlog_snapshot_file") == 0)
            snprintf(snap->file, sizeof(snap->file), "%s", row[1]);
        else if (strcasecmp(row[0], "Binlog_snapshot_position") == 0)
            snap->offset = strtoull(row[1], NULL, 10);
    }
    mysql_free_result(res);
    if (snap->file[0] == '\0' || snap->offset == 0)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "the source has no binlog position for a "
                           "snapshot: is binary logging off? (start it with "
                           "--log-bin)");
    return CDC_OK;
}

/* The GTID state at file:offset (MariaDB), "" without GTIDs. */
static int snapshot_gtid(MYSQL *co, struct source__my_pos *snap,
                         struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SELECT BINLOG_GTID_POS(");
    source__my_append_literal(&sql, co, snap->file);
    cdc_buf_printf(&sql, ", %" PRIu64 ")", snap->offset);
    MYSQL_RES *res = NULL;
    int rc = source__my_query(co, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the snapshot's GTID state");
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    if (row != NULL && row[0] != NULL) {
        if (strlen(row[0]) >= sizeof(snap->gtid))
            rc = cdc_err_set(err, CDC_ETOOBIG, 0,
                             "the snapshot's GTID state is longer than %zu "
                             "bytes",
                             sizeof(snap->gtid) - 1);
        else
            snprintf(snap->gtid, sizeof(snap->gtid), "%s", row[0]);
    }
    mysql_free_result(res);
    return rc;
}

/*
 * Starts every reader's snapshot and reads its binlog position. Several
 * readers (and MySQL) start theirs under FLUSH TABLES WITH READ LOCK on
 * co, held only while they do. Without the lock MariaDB goes on with one
 * reader: *nreaders may shrink (the others are closed).
 */
static int take_snapshot(struct copy *cp, MYSQL *co,
                         struct source__copy_reader *readers, size_t *nreaders,
                         struct source__my_pos *snap, struct cdc_err *err)
{
    memset(snap, 0, sizeof(*snap));
    bool locked = false;
    int rc = CDC_OK;
    if (*nreaders > 1 || !cp->mariadb) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %d",
                 LOCK_WAIT_S);
        rc = source__my_query(co, sql, NULL, err);
        if (rc == CDC_OK)
            rc = source__my_query(co, "FLUSH TABLES WITH READ LOCK", NULL, err);
        if (rc == CDC_OK) {
            locked = true;
        } else if (cp->mariadb) {
            cdc_log(CDC_LOG_WARN, "copy",
                    "could not lock the tables for a moment to give %zu "
                    "readers one snapshot (%s): copying with one reader",
                    *nreaders, err->msg);
            cdc_err_clear(err);
            rc = CDC_OK;
            for (size_t i = 1; i < *nreaders; i++) {
                mysql_close(readers[i].conn);
                readers[i].conn = NULL;
            }
            *nreaders = 1;
        } else {
            return cdc_err_prefix(
                err, "could not lock the tables to read the binlog position "
                     "of the copy's snapshot (MySQL tells it only under FLUSH "
                     "TABLES WITH READ LOCK, which needs the RELOAD "
                     "privilege)");
        }
    }
    for (size_t i = 0; i < *nreaders && rc == CDC_OK; i++)
        rc = source__my_query(readers[i].conn,
                              "START TRANSACTION WITH CONSISTENT SNAPSHOT, "
                              "READ ONLY",
                              NULL, err);
    if (rc == CDC_OK && cp->mariadb)
        rc = snapshot_status(readers[0].conn, snap, err);
    else if (rc == CDC_OK)
        rc = source__my_current_pos(co, snap, err);
    if (locked) {
        /* at once, whatever happened: writes wait while the lock holds */
        struct cdc_err e;
        cdc_err_clear(&e);
        int urc = source__my_query(co, "UNLOCK TABLES", NULL, &e);
        if (urc != CDC_OK && rc == CDC_OK) {
            *err = e;
            rc = urc;
        }
    }
    if (rc == CDC_OK && cp->mariadb)
        rc = snapshot_gtid(co, snap, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not take the copy's snapshot");
    if (locked)
        cdc_log(CDC_LOG_INFO, "copy",
                "%zu readers share one snapshot (the tables were locked "
                "while they started it)",
                *nreaders);
    return CDC_OK;
}

/* ==== The copy ==== */

static const struct source__copy_ops my_copy_ops = {
    .source = "mysql",
    .estimate_help = "size of the table on the source (information_schema "
                     "DATA_LENGTH) when its copy was planned",
    .ranges_done_help = "key ranges of the table copied and stored",
    .ranges_help = "key ranges the table's copy is split into",
    .chunked = true,
    .range_key = range_key,
    .read_range = read_range,
};

static void copy_release(struct copy *cp)
{
    for (size_t i = 0; i < cp->c.ntables; i++)
        table_free(&cp->tables[i]);
    cdc_free(cp->tables);
    source__my_plan_release(&cp->plan);
    source__copy_release(&cp->c);
}

int source__my_copy(const struct source__my_copy_args *a,
                    const struct source_copy_env *env,
                    struct source__my_pos *start, struct cdc_err *err)
{
    struct copy cp;
    memset(&cp, 0, sizeof(cp));
    source__copy_init(&cp.c, env, &my_copy_ops, cp.plan.generation,
                      cp.position);
    cp.a = a;
    memset(start, 0, sizeof(*start));
    struct source__my_plan saved;
    memset(&saved, 0, sizeof(saved));
    bool found = false;
    uint64_t plan_rev = 0;
    MYSQL *co = NULL;
    struct source__copy_reader *readers = NULL;
    size_t nreaders = 0;

    int rc = read_plan(env->kv, &saved, &found, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    if (found && saved.done && env->then_stream) {
        rc = source__my_pos_parse(saved.position, start, err);
        if (rc == CDC_OK)
            cdc_log(CDC_LOG_INFO, "copy",
                    "the initial copy was done before (at %s): streaming",
                    saved.position);
        goto out;
    }
    bool resume = found && !saved.done;

    rc = source__my_connect(a->settings, &co, err);
    if (rc != CDC_OK)
        goto out;
    cp.mariadb = is_mariadb(co);
    cp.tables = cdc_xcalloc(a->ntables ? a->ntables : 1, sizeof(*cp.tables));
    cp.c.tables =
        cdc_xcalloc(a->ntables ? a->ntables : 1, sizeof(*cp.c.tables));
    for (size_t i = 0; i < a->ntables && rc == CDC_OK; i++) {
        rc = describe_table(&cp, co, i, err);
        cp.c.ntables = i + 1;
    }
    if (rc != CDC_OK)
        goto out;
    if (resume && !plan_fits(&cp, &saved)) {
        cdc_log(CDC_LOG_WARN, "copy",
                "the tables or their keys changed since the interrupted copy "
                "began: copying everything again");
        resume = false;
    }
    struct source__my_pos pos;
    if (resume) {
        rc = source__my_pos_parse(saved.position, &pos, err);
        if (rc != CDC_OK) {
            cdc_err_prefix(err, "the copy plan's position");
            goto out;
        }
        cp.plan = saved;
        memset(&saved, 0, sizeof(saved));
    } else {
        source__copy_new_name(cp.plan.generation, sizeof(cp.plan.generation),
                              0);
        rc = plan_new(&cp, co, err);
        if (rc != CDC_OK)
            goto out;
    }
    make_ranges(&cp);
    if (resume) {
        rc = source__copy_load_done(&cp.c, err);
        if (rc != CDC_OK) {
            cdc_err_prefix(err, "could not read the copy's progress");
            goto out;
        }
    }

    size_t want = source__copy_readers_wanted(&cp.c);
    readers = cdc_xcalloc(want ? want : 1, sizeof(*readers));
    for (size_t i = 0; i < want && rc == CDC_OK; i++) {
        MYSQL *conn = NULL;
        rc = reader_open(&cp, &conn, err);
        readers[i].conn = conn;
        if (rc == CDC_OK)
            nreaders++;
    }
    struct source__my_pos snap;
    memset(&snap, 0, sizeof(snap));
    if (rc == CDC_OK && nreaders > 0)
        rc = take_snapshot(&cp, co, readers, &nreaders, &snap, err);
    if (rc != CDC_OK)
        goto out;
    if (!resume) {
        pos = snap;
        char text[SOURCE_MY_POS_MAX];
        source__my_pos_format(&pos, text, sizeof(text));
        cp.plan.position = cdc_xstrdup(text);
    } else if (nreaders > 0) {
        char text[SOURCE_MY_POS_MAX];
        source__my_pos_format(&snap, text, sizeof(text));
        cdc_log(CDC_LOG_INFO, "copy",
                "the ranges left are read as of %s; streaming starts at the "
                "copy's position %s, before them",
                text, cp.plan.position);
    }
    source__my_pos_before(pos.file, pos.offset, cp.position,
                          sizeof(cp.position));
    if (!resume && env->truncate_first)
        rc = source__copy_publish_truncates(&cp.c, cp.position, err);
    if (rc == CDC_OK && !resume)
        rc = write_plan(&cp, false, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    source__copy_metrics(&cp.c);
    source__copy_log_start(&cp.c, nreaders, cp.plan.position);
    /* every reader holds its snapshot: the coordinator is done */
    mysql_close(co);
    co = NULL;
    if (nreaders > 0)
        rc = source__copy_run(&cp.c, readers, nreaders, err);
    if (rc == CDC_OK) {
        rc = write_plan(&cp, true, &plan_rev, err);
        if (rc == CDC_OK) {
            source__copy_log_done(&cp.c, cp.plan.position);
            *start = pos;
        }
    } else {
        rc = source__copy_stopped(rc, err);
    }
out:
    for (size_t i = 0; i < nreaders; i++)
        mysql_close(readers[i].conn);
    cdc_free(readers);
    if (co != NULL)
        mysql_close(co);
    source__my_plan_release(&saved);
    copy_release(&cp);
    return rc;
}

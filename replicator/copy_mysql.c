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
 * Memory is bounded: readers block while QUEUE_MAX packs wait, and the
 * publisher keeps at most PUB_WINDOW messages unacknowledged.
 */
#include "replicator/copy_mysql_text.h"
#include "replicator/copy_text.h"
#include "replicator/mysql_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Rows and bytes of one message, as the PostgreSQL copy and the stream's
 * packs: a worker's batches look alike whatever their origin. */
#define PACK_ROWS 500
#define PACK_BYTES (60 * 1024)
/* Packs waiting for the publisher, at most: with PUB_WINDOW this bounds a
 * copy's memory to a few MiB whatever the tables' sizes. */
#define QUEUE_MAX 64
#define PUB_WINDOW 256
/* Readers in all, at most, whatever the tables and workers per table. */
#define READERS_MAX 32
/* A progress line per table this often. */
#define PROGRESS_MS 5000
/* Seconds FLUSH TABLES WITH READ LOCK may wait for running statements:
 * while it waits, writes wait behind it. */
#define LOCK_WAIT_S 10
/* Seconds the server waits for a reader to take more rows: a reader
 * blocks while the publisher is behind, which may take long. */
#define NET_WRITE_TIMEOUT_S 3600
/* max_payload counts a message's headers too (msgid, chunk header): well
 * under this. */
#define HEADER_OVERHEAD 512
/* Hex of one table's range bounds, and of the whole plan, at most: the
 * plan is one key-value entry, which NATS keeps under max_payload (1 MiB
 * by default). A table whose sampled bounds would pass it gets fewer,
 * larger ranges. */
#define TABLE_BOUNDS_MAX (64 * 1024)
#define PLAN_BOUNDS_MAX (512 * 1024)

/* ==== State ==== */

struct ctable {
    size_t index; /* in the plan */
    struct source__my_tabinfo info;
    struct source__my_colkind *kinds;
    char **types;
    enum source__my_lit *lits; /* of the key's columns */
    char *select;              /* "SELECT ... FROM `db`.`t`" */
    char *order;               /* " ORDER BY `k1`, ..." */
    char *subject;
    char *label; /* schema.name, the metrics' table label */
    const struct source__my_plan_table *pt;
    unsigned active; /* readers on this table now */
    /* progress: stored rows and bytes */
    uint64_t rows;
    uint64_t bytes;
    size_t ranges_left;
    int64_t started_ms;
    int64_t done_ms;
};

struct crange {
    struct ctable *t;
    size_t index;      /* in its table: after bound index - 1, up to index */
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

struct reader {
    struct copy *cp;
    pthread_t th;
    MYSQL *conn;
};

struct copy {
    const struct source__my_copy_args *a;
    const struct source_copy_env *env;
    bool mariadb;
    struct ctable *tables;
    size_t ntables;
    struct crange *ranges;
    size_t nranges;
    struct source__my_plan plan;
    /* the rows' position: the plan's, less one */
    char position[SOURCE_MY_POS_MAX];
    /* names this run's messages (see the file's comment) */
    char run[20];

    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue and range changes */
    struct item queue[QUEUE_MAX];
    size_t qhead, qlen;
    unsigned readers_running;
    bool failed; /* stop everything */
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
        "size of the table on the source (information_schema DATA_LENGTH) "
        "when its copy was planned",
        "table");
    cp->m_ranges_done =
        cdc_metric_gauge("tributary_copy_ranges_done",
                         "key ranges of the table copied and stored", "table");
    cp->m_ranges =
        cdc_metric_gauge("tributary_copy_ranges_total",
                         "key ranges the table's copy is split into", "table");
}

static void copy_gauges(struct copy *cp)
{
    for (size_t i = 0; i < cp->ntables; i++) {
        const struct ctable *t = &cp->tables[i];
        size_t total = t->pt->nbounds + 1;
        cdc_metric_set(cp->m_estimate, t->label, (double)t->info.est_bytes);
        cdc_metric_set(cp->m_ranges, t->label, (double)total);
        cdc_metric_set(cp->m_ranges_done, t->label,
                       (double)(total - t->ranges_left));
    }
}

static void table_free(struct ctable *t)
{
    for (size_t i = 0; t->types != NULL && i < t->info.ncols; i++)
        cdc_free(t->types[i]);
    cdc_free(t->types);
    cdc_free(t->kinds);
    cdc_free(t->lits);
    cdc_free(t->select);
    cdc_free(t->order);
    cdc_free(t->subject);
    cdc_free(t->label);
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

    cdc_buf_init(&b, 0);
    rc = cdc_name_subject(cp->env->group, t->info.schema, t->info.name, &b);
    if (rc != CDC_OK) {
        cdc_buf_release(&b);
        return cdc_err_set(err, rc, 0, "table name \"%s.%s\" is too long",
                           t->info.schema, t->info.name);
    }
    t->subject = cdc_buf_detach(&b, NULL);
    t->label = cdc_xasprintf("%s.%s", t->info.schema, t->info.name);
    return CDC_OK;
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
    unsigned workers = cp->env->workers_per_table;
    cp->plan.workers = workers ? workers : 1;
    size_t total = 0;
    int rc = CDC_OK;
    for (size_t i = 0; i < cp->ntables && rc == CDC_OK; i++) {
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
    if (pl->ntables != cp->ntables)
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
    for (size_t i = 0; i < cp->ntables; i++)
        n += cp->plan.tables[i].nbounds + 1;
    cp->ranges = cdc_xcalloc(n, sizeof(*cp->ranges));
    for (size_t i = 0; i < cp->ntables; i++) {
        struct ctable *t = &cp->tables[i];
        t->pt = &cp->plan.tables[i];
        t->ranges_left = t->pt->nbounds + 1;
        for (size_t k = 0; k <= t->pt->nbounds; k++) {
            struct crange *r = &cp->ranges[cp->nranges++];
            r->t = t;
            r->index = k;
        }
    }
}

static int read_plan(struct cdc_js_kv *kv, struct source__my_plan *pl,
                     bool *found, uint64_t *rev, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    memset(pl, 0, sizeof(*pl));
    *found = false;
    *rev = 0;
    int rc = cdc_js_kv_get(kv, SOURCE_MY_PLAN_KEY, &b, rev, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        rc = CDC_OK;
    } else if (rc == CDC_OK) {
        *found = true;
        if (source__my_plan_parse(b.data != NULL ? b.data : "", b.len, pl,
                                  err) != CDC_OK)
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "the copy plan in the state bucket (key \"%s\") "
                             "cannot be read (%s); delete the key, or run "
                             "with --resync, to copy again",
                             SOURCE_MY_PLAN_KEY, err->msg);
    } else {
        cdc_err_prefix(err, "could not read the copy plan");
    }
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
    int rc = cdc_js_kv_put(cp->env->kv, SOURCE_MY_PLAN_KEY, b.data, b.len, *rev,
                           rev, err);
    cdc_buf_release(&b);
    if (rc != CDC_OK)
        cdc_err_prefix(err, "could not save the copy plan");
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
        char key[SOURCE_MY_KEY_MAX];
        source__my_range_key(r->t->index, r->index, key, sizeof(key));
        rc = cdc_js_kv_get(cp->env->kv, key, &b, NULL, err);
        if (rc == CDC_ENOTFOUND) {
            cdc_err_clear(err);
            rc = CDC_OK;
            continue;
        }
        uint64_t rows = 0;
        if (rc == CDC_OK && b.data != NULL &&
            source_copy_range_done(b.data, cp->plan.generation, &rows)) {
            r->done = true;
            r->t->ranges_left--;
            r->t->rows += rows;
            done++;
        }
    }
    cdc_buf_release(&b);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the copy's progress");
    if (done > 0)
        cdc_log(CDC_LOG_INFO, "copy",
                "resuming the copy: %zu of %zu ranges were done before", done,
                cp->nranges);
    return CDC_OK;
}

static int save_range(struct copy *cp, struct crange *r, struct cdc_err *err)
{
    char key[SOURCE_MY_KEY_MAX];
    char val[SOURCE_COPY_VALUE_MAX];
    source__my_range_key(r->t->index, r->index, key, sizeof(key));
    source_copy_range_value(cp->plan.generation, r->rows, val, sizeof(val));
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
static struct crange *take_range(struct copy *cp)
{
    unsigned per_table = cp->env->workers_per_table;
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

static void pack_row(struct copy *cp, struct crange *r, struct pack *pk)
{
    struct ctable *t = r->t;
    pk->ev.tx_index = (uint32_t)pk->rows;
    if (pk->rows == 0) {
        pk->ev.op = CDC_OP_COPY;
        pk->ev.source = "mysql";
        pk->ev.schema = t->info.schema;
        pk->ev.table = t->info.name;
        pk->ev.cols = pk->cols;
        pk->ev.ncols = t->info.ncols;
        pk->ev.key = (const char **)t->info.key;
        pk->ev.nkey = t->info.nkey;
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

/* The SELECT of range r. */
static void range_sql(const struct crange *r, struct cdc_buf *sql)
{
    const struct ctable *t = r->t;
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
static int read_range(struct copy *cp, MYSQL *conn, struct crange *r,
                      struct cdc_arena *arena, bool *broken,
                      struct cdc_err *err)
{
    struct ctable *t = r->t;
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    range_sql(r, &sql);
    cdc_log(CDC_LOG_DEBUG, "copy", "%s range %zu: %s", t->label, r->index,
            sql.data);
    int q = mysql_real_query(conn, sql.data, (unsigned long)sql.len);
    cdc_buf_release(&sql);
    MYSQL_RES *res = q == 0 ? mysql_use_result(conn) : NULL;
    if (res == NULL)
        return conn_error(conn, t, err);

    struct pack pk;
    memset(&pk, 0, sizeof(pk));
    cdc_buf_init(&pk.buf, 0);
    size_t n = t->info.ncols;
    pk.cols = cdc_xcalloc(n, sizeof(*pk.cols));
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
        pack_row(cp, r, &pk);
        cdc_arena_reset(arena);
        if (pk.rows >= PACK_ROWS || pk.buf.len >= PACK_BYTES) {
            if (!pack_send(cp, r, &pk, false)) {
                stopped = true;
                break;
            }
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
    if (rc == CDC_OK && !stopped && !pack_send(cp, r, &pk, true))
        stopped = true;
    cdc_buf_release(&pk.buf);
    cdc_free(pk.cols);
    cdc_arena_reset(arena);
    if (rc == CDC_OK && stopped)
        rc = CDC_ESTOP;
    return rc;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    struct copy *cp = rd->cp;
    struct cdc_err err;
    struct cdc_arena arena;
    cdc_err_clear(&err);
    cdc_arena_init(&arena);
    int rc = CDC_OK;
    bool broken = false;
    while (!broken) {
        struct crange *r = take_range(cp);
        if (r == NULL)
            break;
        rc = read_range(cp, rd->conn, r, &arena, &broken, &err);
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
    cdc_buf_append_str(&sql, "SELECT BINLOG_GTID_POS(_utf8mb4 X'");
    for (const char *p = snap->file; *p; p++)
        cdc_buf_printf(&sql, "%02X", (unsigned)(unsigned char)*p);
    cdc_buf_printf(&sql, "', %" PRIu64 ")", snap->offset);
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
static int take_snapshot(struct copy *cp, MYSQL *co, struct reader *readers,
                         size_t *nreaders, struct source__my_pos *snap,
                         struct cdc_err *err)
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

/* ==== Publishing ==== */

/* One table's progress line: a log line, or on a terminal one line that
 * is rewritten. A finished table gets a last log line. */
static void progress_table(const struct ctable *t, bool tty)
{
    char line[256];
    bool done = t->ranges_left == 0;
    int64_t end = done ? t->done_ms : cdc_now_ms();
    source_copy_progress_format(
        t->label, t->rows, t->bytes, done ? 0 : t->info.est_bytes,
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

/* Sends one pack, as chunks when it is over the server's max_payload. */
static int send_pack(struct copy *cp, struct cdc_js_pub *pub,
                     const struct crange *r, const struct item *it,
                     uint64_t *seq, struct cdc_err *err)
{
    char msgid[CDC_NAME_MAX + 128];
    snprintf(msgid, sizeof(msgid), "%s/copy:%s:%s:%zu:%zu:%" PRIu64,
             cp->env->group, cp->plan.generation, cp->run, r->t->index,
             r->index, r->chunks);
    int64_t maxp = cdc_js_max_payload(cp->env->js);
    size_t limit = maxp > HEADER_OVERHEAD + 2 * (int64_t)sizeof(msgid)
                       ? (size_t)maxp - HEADER_OVERHEAD - 2 * sizeof(msgid)
                       : 0;
    if (maxp <= 0 || it->len <= limit)
        return cdc_js_pub_send(pub, r->t->subject, msgid, it->data, it->len,
                               NULL, 0, seq, err);
    uint32_t k = 0;
    if (limit < 1024 || cdc_chunk_count(it->len, limit, &k) != CDC_OK)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "copied rows of \"%s\".\"%s\" make a message of "
                           "%zu bytes that the NATS server's max_payload of "
                           "%" PRId64 " bytes cannot carry, even in chunks",
                           r->t->info.schema, r->t->info.name, it->len, maxp);
    for (uint32_t i = 1; i <= k; i++) {
        char chunk[CDC_CHUNK_SUFFIX_MAX];
        char id[sizeof(msgid) + CDC_CHUNK_SUFFIX_MAX];
        size_t off = 0;
        size_t n = 0;
        cdc_chunk_slice(it->len, k, i, &off, &n);
        snprintf(chunk, sizeof(chunk), "%u/%u", (unsigned)i, (unsigned)k);
        snprintf(id, sizeof(id), "%s#%s", msgid, chunk);
        struct cdc_js_hdr h = {CDC_CHUNK_HEADER, chunk};
        int rc = cdc_js_pub_send(pub, r->t->subject, id, it->data + off, n, &h,
                                 1, seq, err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* Records the ranges whose messages are all stored. */
static int save_stored(struct copy *cp, uint64_t floor, bool tty,
                       struct cdc_err *err)
{
    for (size_t i = 0; i < cp->nranges; i++) {
        struct crange *r = &cp->ranges[i];
        if (r->done || !r->all_sent || r->last_seq > floor)
            continue;
        int rc = save_range(cp, r, err);
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
            if (r->t->started_ms == 0)
                r->t->started_ms = r->t->done_ms;
            progress_table(r->t, tty);
        }
    }
    return CDC_OK;
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
    for (;;) {
        struct item it = {0};
        bool have = false;
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
        bool readers_done = cp->readers_running == 0 && cp->qlen == 0;
        bool failed = cp->failed;
        pthread_mutex_unlock(&cp->mu);
        if (failed) {
            cdc_free(it.data);
            *err = cp->first_err;
            return err->code != 0 ? err->code : CDC_EIO;
        }
        if (have) {
            struct crange *r = it.range;
            if (r->t->started_ms == 0)
                r->t->started_ms = cdc_now_ms();
            if (it.data != NULL) {
                rc = send_pack(cp, pub, r, &it, &sent_seq, err);
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
         * is still recorded */
        rc = cdc_js_pub_poll(pub, &floor, err);
        if (rc == CDC_OK)
            rc = save_stored(cp, floor, tty, err);
        if (rc != CDC_OK)
            return rc;
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

/*
 * --resync: before any copied row, a TRUNCATE event of each table, so the
 * targets lose the rows deleted while the group could not capture. They
 * share the rows' position, ordered before every change streamed from
 * the snapshot.
 */
static int publish_truncates(struct copy *cp, struct cdc_err *err)
{
    struct cdc_buf data;
    char msgid[CDC_NAME_MAX + 96];
    cdc_buf_init(&data, 0);
    int rc = CDC_OK;
    for (size_t i = 0; i < cp->ntables && rc == CDC_OK; i++) {
        const struct ctable *t = &cp->tables[i];
        struct cdc_event ev = {
            .op = CDC_OP_TRUNCATE,
            .source = "mysql",
            .schema = t->info.schema,
            .table = t->info.name,
            .position = cp->position,
            .tx_index = (uint32_t)i,
            .tx_end = i + 1 == cp->ntables,
        };
        cdc_buf_reset(&data);
        rc = cdc_event_encode(&ev, &data);
        if (rc != CDC_OK) {
            cdc_err_set(err, rc, 0, "could not encode a TRUNCATE event");
            break;
        }
        snprintf(msgid, sizeof(msgid), "%s/copy:%s:truncate:%zu",
                 cp->env->group, cp->plan.generation, i);
        rc = cdc_js_publish_sync(cp->env->js, t->subject, msgid, data.data,
                                 data.len, NULL, 0, err);
        if (rc == CDC_OK)
            cdc_log(CDC_LOG_INFO, "copy",
                    "%s: its rows on the targets go first (--resync)",
                    t->label);
    }
    cdc_buf_release(&data);
    return rc;
}

/* ==== The copy ==== */

static void new_name(char *out, size_t outsz, unsigned salt)
{
    uint64_t v = (uint64_t)cdc_wall_us() ^ ((uint64_t)getpid() << 40) ^
                 ((uint64_t)salt << 20);
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
    source__my_plan_release(&cp->plan);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
}

/* Readers to start: up to workers_per_table on each table with ranges to
 * do, READERS_MAX in all. */
static size_t readers_wanted(const struct copy *cp)
{
    size_t want = 0;
    for (size_t i = 0; i < cp->ntables; i++) {
        size_t left = cp->tables[i].ranges_left;
        unsigned per =
            cp->env->workers_per_table ? cp->env->workers_per_table : 1;
        want += left < per ? left : per;
    }
    return want > READERS_MAX ? READERS_MAX : want;
}

/* Runs the readers and publishes what they read. */
static int run_readers(struct copy *cp, struct reader *readers, size_t nreaders,
                       struct cdc_err *err)
{
    struct cdc_js_pub *pub = NULL;
    int rc = cdc_js_pub_new(cp->env->js, PUB_WINDOW, cp->env->ack_timeout_ms,
                            &pub, err);
    if (rc != CDC_OK)
        return rc;
    cp->readers_running = (unsigned)nreaders;
    for (size_t i = 0; i < nreaders; i++) {
        readers[i].cp = cp;
        if (pthread_create(&readers[i].th, NULL, reader_main, &readers[i]) != 0)
            CDC_BUG("could not start a copy reader thread");
    }
    rc = publish_all(cp, pub, err);
    if (rc != CDC_OK) {
        struct cdc_err e = *err;
        fail(cp, &e);
    }
    for (size_t i = 0; i < nreaders; i++)
        pthread_join(readers[i].th, NULL);
    cdc_js_pub_free(pub);
    return rc;
}

int source__my_copy(const struct source__my_copy_args *a,
                    const struct source_copy_env *env,
                    struct source__my_pos *start, struct cdc_err *err)
{
    struct copy cp;
    memset(&cp, 0, sizeof(cp));
    cp.a = a;
    cp.env = env;
    pthread_mutex_init(&cp.mu, NULL);
    pthread_cond_init(&cp.cv, NULL);
    memset(start, 0, sizeof(*start));
    struct source__my_plan saved;
    memset(&saved, 0, sizeof(saved));
    bool found = false;
    uint64_t plan_rev = 0;
    MYSQL *co = NULL;
    struct reader *readers = NULL;
    size_t nreaders = 0;
    new_name(cp.run, sizeof(cp.run), 1);

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
    for (size_t i = 0; i < a->ntables && rc == CDC_OK; i++) {
        rc = describe_table(&cp, co, i, err);
        cp.ntables = i + 1;
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
        new_name(cp.plan.generation, sizeof(cp.plan.generation), 0);
        rc = plan_new(&cp, co, err);
        if (rc != CDC_OK)
            goto out;
    }
    make_ranges(&cp);
    if (resume) {
        rc = load_done(&cp, err);
        if (rc != CDC_OK)
            goto out;
    }

    size_t want = readers_wanted(&cp);
    readers = cdc_xcalloc(want ? want : 1, sizeof(*readers));
    for (size_t i = 0; i < want && rc == CDC_OK; i++) {
        rc = reader_open(&cp, &readers[i].conn, err);
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
        rc = publish_truncates(&cp, err);
    if (rc == CDC_OK && !resume)
        rc = write_plan(&cp, false, &plan_rev, err);
    if (rc != CDC_OK)
        goto out;
    copy_metrics(&cp);
    copy_gauges(&cp);

    size_t left = 0;
    for (size_t i = 0; i < cp.nranges; i++)
        left += !cp.ranges[i].done;
    cdc_log(CDC_LOG_INFO, "copy",
            "copying %zu tables in %zu ranges (%zu to do) with %zu readers "
            "at %s",
            cp.ntables, cp.nranges, left, nreaders, cp.plan.position);
    /* every reader holds its snapshot: the coordinator is done */
    mysql_close(co);
    co = NULL;
    if (nreaders > 0)
        rc = run_readers(&cp, readers, nreaders, err);
    if (rc == CDC_OK) {
        rc = write_plan(&cp, true, &plan_rev, err);
        if (rc == CDC_OK) {
            uint64_t rows = 0;
            for (size_t i = 0; i < cp.ntables; i++)
                rows += cp.tables[i].rows;
            cdc_log(CDC_LOG_INFO, "copy",
                    "copied %" PRIu64 " rows of %zu tables (as of %s)", rows,
                    cp.ntables, cp.plan.position);
            *start = pos;
        }
    } else if (rc == CDC_ESTOP || cdc_stop_requested) {
        rc = cdc_err_set(err, CDC_ESTOP, 0,
                         "copy stopped; it resumes with the ranges not done");
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

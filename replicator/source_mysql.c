/*
 * source_mysql.c: the MySQL/MariaDB source. It reads the binlog as a
 * replica would (COM_BINLOG_DUMP through Connector/C's mariadb_rpl, from
 * a binlog file and offset, from a GTID state on MariaDB, or on MySQL
 * from the newest binlog file within a GTID set, passing over the
 * transactions the set has, as the server does for MASTER_AUTO_POSITION
 * replicas), decodes its
 * events with binlog.c and turns the row events of the group's tables
 * into events, TRUNCATE statements into TRUNCATE events and schema changes
 * of those tables into DDL events, in binlog order.
 *
 * A reader thread blocks in mariadb_rpl_fetch and hands each event's
 * bytes over through a bounded queue, so a poll can wait with a timeout
 * and a stop request is seen at once (the thread is woken by shutting its
 * socket down). The server sends a heartbeat when it has nothing else,
 * so a connection that went silent is noticed by the read timeout.
 *
 * Positions (see mysql_int.h): every event of a transaction carries
 * "<file>:<offset>" of the transaction's first event; at the end of each
 * transaction (XID, COMMIT, or a statement standing alone) a checkpoint
 * records where the next one starts, with the GTID state after it. Those
 * are what the state bucket keeps and where a restart resumes.
 */
#include "common/metrics.h"
#include "replicator/mysql_int.h"

#include <errmsg.h>
#include <inttypes.h>
#include <mariadb_rpl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* The connection options share their names (and, in --help, the
 * postgres source's descriptions, which say both sources' defaults). */
static const struct cdc_opt my_options[] = {
    {"host", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source host (default: PGHOST or the local socket; mysql: localhost)"},
    {"port", CDC_OPT_INT, NULL, 1, 65535, 0,
     "source port (default: PGPORT or 5432; mysql: 3306)"},
    {"dbname", CDC_OPT_STRING, NULL, 0, 0, 0,
     "source database (mysql: the database of tables named without one)"},
    {"user", CDC_OPT_STRING, NULL, 0, 0, 0, "source user"},
    {"password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET, "source password"},
    {"tables", CDC_OPT_LIST, NULL, 0, 0, 0,
     "tables to capture (name or schema.name), comma-separated"},
    {"server-id", CDC_OPT_INT, "0", 0, 4294967295LL, 0,
     "mysql: server id the replicator reads the binlog as, unique among "
     "the source's replicas (0: derived from the group's name)"},
    {"gtid", CDC_OPT_BOOL, "true", 0, 0, 0,
     "mysql: resume by GTID when the server has GTIDs (MariaDB, or MySQL "
     "with gtid_mode ON); false: by binlog file and offset"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* Raw events waiting for the poll, at most this many and bytes. */
#define FEED_MAX_EVENTS 8192
#define FEED_MAX_BYTES (8u * 1024 * 1024)
/* The server sends a heartbeat after this long without events; a read
 * that waits READ_TIMEOUT_S finds the connection dead. */
#define HEARTBEAT_NS "5000000000"
#define READ_TIMEOUT_S 30
/* Inside a transaction, or between transactions while the source is busy
 * (the last batch went less than BUSY_MS ago), a poll that has read all
 * there is waits this long once for more (see source_postgres.c). */
#define TX_GATHER_MS 1
#define BUSY_MS 3
/* The binlog's size behind the confirmed position is measured this often
 * while metrics are served. */
#define LAG_INTERVAL_MS 5000
/* Domains of a MariaDB GTID state kept, at most. */
#define GTID_DOMAINS_MAX 64
/* ER_MASTER_FATAL_ERROR_READING_BINLOG: the binlog (or GTID) asked for is
 * not there any more, among other fatal reasons. */
#define ER_BINLOG_FATAL 1236

/* ==== Reader thread ==== */

struct raw_event {
    size_t len;
    uint8_t data[];
};

struct feed {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t more;  /* an event or the end arrived */
    pthread_cond_t space; /* the queue has room */
    struct raw_event **q;
    size_t head;
    size_t n;
    size_t bytes;
    bool stop; /* the poll side wants the thread gone */
    bool ended;
    unsigned end_code; /* server or client error code */
    char end_msg[300];
    MYSQL *conn;
    MARIADB_RPL *rpl;
};

static void *feed_main(void *arg)
{
    struct feed *f = arg;
    MARIADB_RPL_EVENT *ev = NULL;
    for (;;) {
        ev = mariadb_rpl_fetch(f->rpl, ev);
        pthread_mutex_lock(&f->mu);
        if (ev == NULL || f->stop) {
            if (!f->stop) {
                unsigned code = mysql_errno(f->conn);
                const char *msg = mysql_error(f->conn);
                if (code == 0) {
                    code = mariadb_rpl_errno(f->rpl);
                    msg = mariadb_rpl_error(f->rpl);
                }
                f->end_code = code;
                snprintf(f->end_msg, sizeof(f->end_msg), "%s",
                         msg != NULL && *msg ? msg
                                             : "the server ended the binlog "
                                               "dump");
            }
            f->ended = true;
            pthread_cond_signal(&f->more);
            pthread_mutex_unlock(&f->mu);
            break;
        }
        /* the packet's first byte is the OK marker */
        size_t len = ev->raw_data_size > 0 ? ev->raw_data_size - 1 : 0;
        while (!f->stop && (f->n == FEED_MAX_EVENTS ||
                            (f->n > 0 && f->bytes + len > FEED_MAX_BYTES)))
            pthread_cond_wait(&f->space, &f->mu);
        if (f->stop) {
            f->ended = true;
            pthread_cond_signal(&f->more);
            pthread_mutex_unlock(&f->mu);
            break;
        }
        pthread_mutex_unlock(&f->mu);
        struct raw_event *r = cdc_xmalloc(sizeof(*r) + len + 1);
        r->len = len;
        if (len > 0)
            memcpy(r->data, ev->raw_data + 1, len);
        pthread_mutex_lock(&f->mu);
        f->q[(f->head + f->n) % FEED_MAX_EVENTS] = r;
        f->n++;
        f->bytes += len;
        pthread_cond_signal(&f->more);
        pthread_mutex_unlock(&f->mu);
    }
    mariadb_free_rpl_event(ev);
    return NULL;
}

/* Takes the next event, waiting until deadline_ms. NULL with *ended set
 * when the thread stopped and nothing is left; NULL alone on timeout. */
static struct raw_event *feed_take(struct feed *f, int64_t deadline_ms,
                                   bool *ended)
{
    *ended = false;
    pthread_mutex_lock(&f->mu);
    while (f->n == 0 && !f->ended) {
        int64_t left = deadline_ms - cdc_now_ms();
        if (left <= 0 || cdc_stop_requested)
            break;
        if (left > 100)
            left = 100;
        cdc_cond_wait_ms(&f->more, &f->mu, left);
    }
    struct raw_event *r = NULL;
    if (f->n > 0) {
        r = f->q[f->head];
        f->head = (f->head + 1) % FEED_MAX_EVENTS;
        f->n--;
        f->bytes -= r->len;
        pthread_cond_signal(&f->space);
    } else if (f->ended) {
        *ended = true;
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Stops the thread (waking it from its read) and closes the dump. */
static void feed_stop(struct feed *f)
{
    if (f->running) {
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_broadcast(&f->space);
        pthread_mutex_unlock(&f->mu);
        my_socket fd = mysql_get_socket(f->conn);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
        f->running = false;
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->more);
        pthread_cond_destroy(&f->space);
    }
    while (f->n > 0) {
        cdc_free(f->q[f->head]);
        f->head = (f->head + 1) % FEED_MAX_EVENTS;
        f->n--;
    }
    cdc_free(f->q);
    if (f->rpl != NULL)
        mariadb_rpl_close(f->rpl);
    if (f->conn != NULL)
        mysql_close(f->conn);
    memset(f, 0, sizeof(*f));
}

/* ==== GTID state (MariaDB) ==== */

struct gtid {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
};

struct gtid_state {
    struct gtid g[GTID_DOMAINS_MAX];
    size_t n;
};

static void gtid_set(struct gtid_state *st, uint32_t domain, uint32_t server,
                     uint64_t seq)
{
    size_t i = 0;
    while (i < st->n && st->g[i].domain < domain)
        i++;
    if (i < st->n && st->g[i].domain == domain) {
        st->g[i].server = server;
        st->g[i].seq = seq;
        return;
    }
    if (st->n == GTID_DOMAINS_MAX)
        return;
    memmove(&st->g[i + 1], &st->g[i], (st->n - i) * sizeof(st->g[0]));
    st->g[i] = (struct gtid){domain, server, seq};
    st->n++;
}

/* "0-1-17,1-2-5" into st; false for another form. */
static bool gtid_parse(const char *text, struct gtid_state *st)
{
    memset(st, 0, sizeof(*st));
    const char *p = text;
    while (*p == ' ')
        p++;
    while (*p != '\0') {
        unsigned long long v[3];
        for (int k = 0; k < 3; k++) {
            char *end = NULL;
            if (*p < '0' || *p > '9')
                return false;
            v[k] = strtoull(p, &end, 10);
            p = end;
            if (k < 2 && *p++ != '-')
                return false;
        }
        if (v[0] > UINT32_MAX || v[1] > UINT32_MAX)
            return false;
        gtid_set(st, (uint32_t)v[0], (uint32_t)v[1], (uint64_t)v[2]);
        while (*p == ' ' || *p == '\n')
            p++;
        if (*p == ',')
            p++;
        while (*p == ' ' || *p == '\n')
            p++;
    }
    return true;
}

static void gtid_format(const struct gtid_state *st, char *out, size_t outsz)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < st->n && n < outsz; i++) {
        int k = snprintf(out + n, outsz - n,
                         "%s%" PRIu32 "-%" PRIu32 "-%" PRIu64, i > 0 ? "," : "",
                         st->g[i].domain, st->g[i].server, st->g[i].seq);
        if (k < 0)
            break;
        n += (size_t)k;
    }
}

/* ==== The source ==== */

/* A checkpoint handed out and not yet acknowledged. */
struct my_cp {
    uint64_t token;
    char *text; /* the resume position */
};

/* A table of --tables and what information_schema says of it. */
struct my_table {
    struct source__my_table t;
    struct source__my_tabinfo info;
    bool info_read;
    bool supplied; /* columns given to the decoder */
};

struct my_src {
    struct source__my_settings settings;
    struct my_table *tables;
    size_t ntables;
    uint32_t server_id;
    bool use_gtid;
    char group[CDC_NAME_MAX];

    MYSQL *sql; /* catalog queries; NULL when down */
    bool mariadb;
    char version[96];
    enum source_binlog_checksum checksum;
    struct source_binlog *dec;
    struct feed feed;

    struct cdc_arena batch_arena;
    struct cdc_arena hold_arena;
    struct cdc_event *held;

    /* where reading stands */
    char cur_file[SOURCE_MY_FILE_MAX];
    struct gtid_state gtids;            /* MariaDB */
    struct source__my_gtid_set mygtids; /* MySQL */
    bool have_gtids;     /* the server has them: positions carry the state */
    bool gtids_too_long; /* MySQL's set no longer fits a position */
    /* MySQL: the transaction's GTID, added to mygtids at its end; a
     * transaction the set already has (a resume by GTID reads the binlog
     * from the start of a file) is passed over */
    bool tx_gtid;
    uint8_t tx_uuid[16];
    uint64_t tx_gno;
    bool skip_group;
    /* the event group (transaction) being read */
    bool in_group;
    bool began; /* BEGIN seen (or implied): ends with XID or COMMIT */
    char group_pos[SOURCE_MY_FILE_MAX + 24];
    const char *group_pos_arena; /* group_pos in batch_arena, this poll */
    uint32_t tx_index;
    bool has_txid;
    int64_t txid;
    char commit_time[40];

    /* where the next dump starts: the last acknowledged checkpoint */
    struct source__my_pos start;
    bool have_saved;
    bool start_checkpoint; /* the first poll confirms start itself */
    /* MySQL by GTID: where start's set was found to begin when the source
     * opened (resumed.gtid is that set), for the first dump; later dumps
     * look again */
    struct source__my_pos resumed;
    bool have_resumed;

    struct my_cp *cps;
    size_t cps_head;
    size_t cps_n;
    size_t cps_cap;
    uint64_t next_token;
    /* the batch's last checkpoint, replaced while no event follows it */
    bool batch_cp;
    size_t batch_cp_after;

    int64_t last_lag_ms;
    int64_t last_batch_ms; /* when a poll last returned events */
    struct cdc_metric *m_lag;
};

static void pos_text(struct my_src *s, const char *file, uint64_t off,
                     char *out, size_t outsz)
{
    struct source__my_pos p;
    memset(&p, 0, sizeof(p));
    snprintf(p.file, sizeof(p.file), "%s", file);
    p.offset = off;
    if (s->have_gtids && s->mariadb) {
        gtid_format(&s->gtids, p.gtid, sizeof(p.gtid));
    } else if (s->have_gtids && !source__my_gtid_set_format(&s->mygtids, p.gtid,
                                                            sizeof(p.gtid))) {
        /* the position then resumes by file and offset */
        if (!s->gtids_too_long)
            cdc_log(CDC_LOG_WARN, "mysql",
                    "the source's GTID set no longer fits in %zu bytes: "
                    "positions are saved as binlog file and offset only",
                    sizeof(p.gtid) - 1);
        s->gtids_too_long = true;
    }
    source__my_pos_format(&p, out, outsz);
}

/* ==== Checkpoints ==== */

static struct my_cp *cp_at(struct my_src *s, size_t i)
{
    return &s->cps[(s->cps_head + i) % s->cps_cap];
}

static void cp_push(struct my_src *s, struct source_batch *b, const char *text)
{
    /* nothing happened since the batch's last checkpoint: move it on */
    if (s->batch_cp && s->batch_cp_after == b->nevents && s->cps_n > 0) {
        struct my_cp *last = cp_at(s, s->cps_n - 1);
        cdc_free(last->text);
        last->text = cdc_xstrdup(text);
        return;
    }
    if (s->cps_n == s->cps_cap) {
        size_t cap = s->cps_cap ? s->cps_cap * 2 : 256;
        struct my_cp *n = cdc_xcalloc(cap, sizeof(*n));
        for (size_t i = 0; i < s->cps_n; i++)
            n[i] = *cp_at(s, i);
        cdc_free(s->cps);
        s->cps = n;
        s->cps_cap = cap;
        s->cps_head = 0;
    }
    struct my_cp *cp = cp_at(s, s->cps_n);
    cp->token = ++s->next_token;
    cp->text = cdc_xstrdup(text);
    s->cps_n++;
    source_batch_add_checkpoint(b, cp->token);
    s->batch_cp = true;
    s->batch_cp_after = b->nevents;
}

static void cp_drop_all(struct my_src *s)
{
    while (s->cps_n > 0) {
        cdc_free(cp_at(s, 0)->text);
        s->cps_head = (s->cps_head + 1) % s->cps_cap;
        s->cps_n--;
    }
}

/* ==== Catalog ==== */

static int sql_ready(struct my_src *s, struct cdc_err *err)
{
    if (s->sql != NULL && mysql_ping(s->sql) == 0)
        return CDC_OK;
    if (s->sql != NULL) {
        mysql_close(s->sql);
        s->sql = NULL;
    }
    return source__my_connect(&s->settings, &s->sql, err);
}

static struct my_table *find_table(struct my_src *s, const char *schema,
                                   const char *name)
{
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i].t.name, name) == 0 &&
            strcmp(s->tables[i].t.schema, schema) == 0)
            return &s->tables[i];
    return NULL;
}

static int table_info(struct my_src *s, struct my_table *t, struct cdc_err *err)
{
    if (t->info_read)
        return CDC_OK;
    int rc = sql_ready(s, err);
    if (rc == CDC_OK)
        rc = source__my_tabinfo_read(s->sql, t->t.schema, t->t.name, &t->info,
                                     err);
    if (rc == CDC_OK)
        t->info_read = true;
    return rc;
}

static void table_forget(struct my_src *s, struct my_table *t)
{
    source__my_tabinfo_free(&t->info);
    t->info_read = false;
    t->supplied = false;
    source_binlog_forget_columns(s->dec, t->t.schema, t->t.name);
}

/* After a TABLE_MAP of one of the group's tables: gives the decoder what
 * the binlog lacks (column names without binlog_row_metadata=FULL, the
 * json type of MariaDB's JSON columns, a unique key when there is no
 * primary key). Names the binlog has are kept: information_schema
 * describes the table as it is now, the binlog as it was. */
static int supply_columns(struct my_src *s, struct my_table *t,
                          const struct source_binlog_event *e,
                          struct cdc_err *err)
{
    if (t->supplied)
        return CDC_OK;
    int rc = table_info(s, t, err);
    if (rc == CDC_ENOTFOUND) {
        /* dropped since: the binlog's own description has to do */
        cdc_err_clear(err);
        t->supplied = true;
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    bool json = false;
    for (size_t i = 0; i < t->info.ncols; i++)
        if (t->info.cols[i].type != NULL)
            json = true;
    bool need = e->table_map.names_missing || json || t->info.nkey > 0;
    if (need && t->info.ncols == e->table_map.ncols) {
        rc = source_binlog_set_columns(
            s->dec, e->table_map.table_id, t->info.cols, t->info.ncols,
            (const char *const *)t->info.key, t->info.nkey, err);
        if (rc != CDC_OK) {
            cdc_log(CDC_LOG_WARN, "mysql",
                    "the columns of \"%s\".\"%s\" in information_schema do "
                    "not fit its binlog description (%s): using the "
                    "binlog's",
                    t->t.schema, t->t.name, err->msg);
            cdc_err_clear(err);
        }
    } else if (need) {
        cdc_log(CDC_LOG_WARN, "mysql",
                "\"%s\".\"%s\" has %zu columns in the binlog and %zu now: "
                "using the binlog's description",
                t->t.schema, t->t.name, e->table_map.ncols, t->info.ncols);
    }
    t->supplied = true;
    return CDC_OK;
}

/* ==== Events ==== */

static void release_held(struct my_src *s, struct source_batch *b, bool tx_end)
{
    if (s->held == NULL)
        return;
    s->held->tx_end = tx_end;
    source_batch_add_event(b, s->held);
    s->batch_cp = false;
    s->held = NULL;
}

static void hold(struct my_src *s, struct source_batch *b, struct cdc_event *ev)
{
    release_held(s, b, false);
    s->held = ev;
}

static void group_open(struct my_src *s, const struct source_binlog_header *h,
                       bool began)
{
    uint64_t at = h->log_pos >= h->event_size ? h->log_pos - h->event_size : 0;
    snprintf(s->group_pos, sizeof(s->group_pos), "%s:%" PRIu64, s->cur_file,
             at);
    s->group_pos_arena = NULL;
    s->in_group = true;
    s->began = began;
    s->tx_index = 0;
    s->has_txid = false;
    cdc_time_format_us((int64_t)h->timestamp * 1000000, s->commit_time,
                       sizeof(s->commit_time));
}

/* The end of the event group: its last event ends its transaction, and
 * the next group starts where the event h ends. */
static void group_close(struct my_src *s, struct source_batch *b,
                        const struct source_binlog_header *h)
{
    release_held(s, b, true);
    s->in_group = false;
    s->skip_group = false;
    if (s->tx_gtid) {
        source__my_gtid_set_add(&s->mygtids, s->tx_uuid, s->tx_gno);
        s->have_gtids = true;
        s->tx_gtid = false;
    }
    if (h->log_pos == 0)
        return;
    char text[SOURCE_POSITION_MAX];
    pos_text(s, s->cur_file, h->log_pos, text, sizeof(text));
    cp_push(s, b, text);
}

static struct cdc_event *new_event(struct my_src *s, enum cdc_op op,
                                   const char *schema, const char *table)
{
    struct cdc_arena *a = &s->batch_arena;
    if (s->group_pos_arena == NULL)
        s->group_pos_arena = cdc_arena_strdup(a, s->group_pos);
    struct cdc_event *ev = cdc_arena_alloc(a, sizeof(*ev));
    memset(ev, 0, sizeof(*ev));
    ev->op = op;
    ev->source = "mysql";
    ev->schema = schema;
    ev->table = table;
    ev->position = s->group_pos_arena;
    ev->tx_index = s->tx_index++;
    ev->has_txid = s->has_txid;
    ev->txid = s->txid;
    ev->commit_time =
        s->commit_time[0] ? cdc_arena_strdup(a, s->commit_time) : NULL;
    return ev;
}

static int rows_events(struct my_src *s, struct source_batch *b,
                       const struct source_binlog_event *e, struct cdc_err *err)
{
    if (s->skip_group)
        return CDC_OK;
    if (e->rows.absent || e->rows.names_missing)
        return cdc_err_set(
            err, CDC_EPROTO, 0,
            e->rows.absent
                ? "a row event of \"%s\".\"%s\" at %s:%" PRIu32
                  " lacks columns: binlog_row_image must be FULL for every "
                  "session that writes the group's tables"
                : "a row event of \"%s\".\"%s\" at %s:%" PRIu32
                  " has no column names, and information_schema gave none",
            e->rows.schema, e->rows.table, s->cur_file, e->hdr.log_pos);
    for (size_t i = 0; i < e->rows.nrows; i++) {
        const struct source_binlog_row *row = &e->rows.rows[i];
        struct cdc_event *ev =
            new_event(s, e->rows.op, e->rows.schema, e->rows.table);
        if (row->after != NULL) {
            ev->cols = row->after;
            ev->ncols = e->rows.ncols;
        }
        if (row->before != NULL) {
            ev->old = row->before;
            ev->nold = e->rows.ncols;
        }
        ev->key = e->rows.key;
        ev->nkey = e->rows.nkey;
        hold(s, b, ev);
    }
    return CDC_OK;
}

/* A statement of a QUERY event. */
static int query_event(struct my_src *s, struct source_batch *b,
                       const struct source_binlog_event *e, struct cdc_err *err)
{
    (void)err;
    struct source__my_stmt st;
    source__my_stmt_parse(e->query.text, e->query.text_len, e->query.schema,
                          &s->batch_arena, &st);
    switch (st.kind) {
    case SOURCE_MY_STMT_BEGIN:
        if (!s->in_group)
            group_open(s, &e->hdr, true);
        s->began = true;
        return CDC_OK;
    case SOURCE_MY_STMT_COMMIT:
    case SOURCE_MY_STMT_ROLLBACK:
        if (!s->in_group)
            group_open(s, &e->hdr, true);
        group_close(s, b, &e->hdr);
        return CDC_OK;
    case SOURCE_MY_STMT_OTHER:
    case SOURCE_MY_STMT_TRUNCATE:
    case SOURCE_MY_STMT_DDL:
        break;
    }
    if (!s->in_group)
        group_open(s, &e->hdr, false);
    if (st.kind != SOURCE_MY_STMT_OTHER && !st.temporary) {
        for (size_t i = 0; i < st.ntables; i++) {
            struct my_table *t =
                find_table(s, st.tables[i].schema, st.tables[i].name);
            if (t == NULL)
                continue;
            table_forget(s, t);
            if (s->skip_group)
                break;
            struct cdc_event *ev =
                new_event(s,
                          st.kind == SOURCE_MY_STMT_TRUNCATE ? CDC_OP_TRUNCATE
                                                             : CDC_OP_DDL,
                          cdc_arena_strdup(&s->batch_arena, t->t.schema),
                          cdc_arena_strdup(&s->batch_arena, t->t.name));
            if (st.kind == SOURCE_MY_STMT_DDL) {
                ev->ddl = cdc_arena_strndup(&s->batch_arena, e->query.text,
                                            e->query.text_len);
                char obj[CDC_NAME_MAX * 2 + 32];
                snprintf(obj, sizeof(obj), "%s %s.%s", st.tag, t->t.schema,
                         t->t.name);
                ev->object = cdc_arena_strdup(&s->batch_arena, obj);
                ev->search_path =
                    e->query.schema[0]
                        ? cdc_arena_strdup(&s->batch_arena, e->query.schema)
                        : NULL;
                cdc_log(CDC_LOG_INFO, "mysql",
                        "schema change of \"%s\".\"%s\" at %s: %s", t->t.schema,
                        t->t.name, s->group_pos, st.tag);
            }
            hold(s, b, ev);
            /* one event per statement, on the first table it names */
            break;
        }
        /* tables renamed into the group's names: described again */
        for (size_t i = 0; i < st.ntables; i++) {
            struct my_table *t =
                find_table(s, st.tables[i].schema, st.tables[i].name);
            if (t != NULL)
                table_forget(s, t);
        }
    }
    if (!s->began)
        group_close(s, b, &e->hdr);
    return CDC_OK;
}

static int handle_event(struct my_src *s, struct source_batch *b,
                        const struct source_binlog_event *e,
                        struct cdc_err *err)
{
    switch (e->kind) {
    case BINLOG_ROTATE:
        snprintf(s->cur_file, sizeof(s->cur_file), "%s", e->rotate.file);
        return CDC_OK;
    case BINLOG_GTID:
        if (s->in_group) { /* a group cut short: what it had stands */
            release_held(s, b, true);
            if (s->tx_gtid)
                source__my_gtid_set_add(&s->mygtids, s->tx_uuid, s->tx_gno);
        }
        if (e->gtid.mysql) {
            group_open(s, &e->hdr, false);
            s->skip_group = source__my_gtid_set_has(&s->mygtids, e->gtid.uuid,
                                                    e->gtid.seq_no);
            s->tx_gtid = !s->skip_group;
            memcpy(s->tx_uuid, e->gtid.uuid, 16);
            s->tx_gno = e->gtid.seq_no;
        } else {
            group_open(s, &e->hdr,
                       (e->gtid.flags & BINLOG_GTID_STANDALONE) == 0);
            gtid_set(&s->gtids, e->gtid.domain_id, e->gtid.server_id,
                     e->gtid.seq_no);
            s->have_gtids = true;
        }
        s->has_txid = e->gtid.seq_no <= (uint64_t)INT64_MAX;
        s->txid = (int64_t)e->gtid.seq_no;
        return CDC_OK;
    case BINLOG_QUERY:
        return query_event(s, b, e, err);
    case BINLOG_XID:
        if (!s->in_group)
            group_open(s, &e->hdr, true);
        group_close(s, b, &e->hdr);
        return CDC_OK;
    case BINLOG_TABLE_MAP: {
        struct my_table *t =
            find_table(s, e->table_map.schema, e->table_map.table);
        return t != NULL ? supply_columns(s, t, e, err) : CDC_OK;
    }
    case BINLOG_ROWS:
        if (!s->in_group)
            group_open(s, &e->hdr, true);
        if (find_table(s, e->rows.schema, e->rows.table) == NULL)
            return CDC_OK;
        return rows_events(s, b, e, err);
    case BINLOG_INCIDENT:
        return cdc_err_set(err, CDC_ESTATE, 0,
                           "the source logged an incident at %s:%" PRIu32
                           " (code %u: %s): it may have lost changes, and "
                           "replicas must stop; check the source, then run "
                           "with --resync",
                           s->cur_file, e->hdr.log_pos, e->incident.code,
                           e->incident.message ? e->incident.message : "");
    case BINLOG_FORMAT:
    case BINLOG_GTID_LIST:
    case BINLOG_ANNOTATE:
    case BINLOG_HEARTBEAT:
    case BINLOG_OTHER:
        return CDC_OK;
    }
    return CDC_OK;
}

/* ==== Dump ==== */

/* MySQL 8 with binlog_row_value_options=PARTIAL_JSON logs JSON updates
 * as differences to apply to the old value, which this source does not
 * read (a wrong reading would write wrong values): refused at the start
 * rather than stopping at the first one. Servers without the setting
 * (MySQL 5.7) never log them. */
static int check_value_options(struct my_src *s, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    struct cdc_err qerr;
    cdc_err_clear(&qerr);
    if (source__my_query(s->sql, "SELECT @@global.binlog_row_value_options",
                         &res, &qerr) != CDC_OK)
        return CDC_OK;
    MYSQL_ROW row = res != NULL ? mysql_fetch_row(res) : NULL;
    int rc = CDC_OK;
    if (row != NULL && row[0] != NULL && strstr(row[0], "PARTIAL_JSON") != NULL)
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "binlog_row_value_options is %s on the source "
                         "MySQL: JSON updates would be logged as partial "
                         "differences, which are not captured; SET GLOBAL "
                         "binlog_row_value_options = ''",
                         row[0]);
    mysql_free_result(res);
    return rc;
}

static int server_checks(struct my_src *s, struct cdc_err *err)
{
    MYSQL_RES *res = NULL;
    int rc = source__my_query(
        s->sql,
        "SELECT @@version, @@global.log_bin, @@global.binlog_format, "
        "@@global.binlog_row_image, @@global.binlog_checksum",
        &res, err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row == NULL) {
        mysql_free_result(res);
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "source MySQL did not say its settings");
    }
    snprintf(s->version, sizeof(s->version), "%s", row[0] ? row[0] : "");
    s->mariadb = strstr(s->version, "MariaDB") != NULL;
    const char *log_bin = row[1] ? row[1] : "0";
    const char *format = row[2] ? row[2] : "";
    const char *image = row[3] ? row[3] : "";
    const char *checksum = row[4] ? row[4] : "NONE";
    if (strcmp(log_bin, "1") != 0 && strcasecmp(log_bin, "ON") != 0)
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "binary logging is off on the source MySQL: start "
                         "it with --log-bin (and --binlog-format=ROW "
                         "--binlog-row-image=FULL)");
    else if (strcasecmp(format, "ROW") != 0)
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "binlog_format is %s on the source MySQL: row "
                         "changes are captured only with ROW (SET GLOBAL "
                         "binlog_format = 'ROW', or --binlog-format=ROW)",
                         format);
    else if (strcasecmp(image, "FULL") != 0)
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "binlog_row_image is %s on the source MySQL: updates "
                         "and deletes need every column (SET GLOBAL "
                         "binlog_row_image = 'FULL', or "
                         "--binlog-row-image=FULL)",
                         image);
    s->checksum = strcasecmp(checksum, "CRC32") == 0 ? BINLOG_CHECKSUM_CRC32
                                                     : BINLOG_CHECKSUM_NONE;
    mysql_free_result(res);
    if (rc == CDC_OK && !s->mariadb)
        rc = check_value_options(s, err);
    return rc;
}

/* The position to resume from must still be in the binlog: a file that
 * was purged is an error naming the gap, never a silent jump. */
static int check_not_purged(struct my_src *s, struct cdc_err *err)
{
    struct source__my_binlogs bl;
    int rc = sql_ready(s, err);
    if (rc == CDC_OK)
        rc = source__my_binlogs_read(s->sql, &s->start, &bl, NULL, NULL, err);
    if (rc != CDC_OK || bl.has_pos)
        return rc;
    char at[SOURCE_POSITION_MAX];
    source__my_pos_format(&s->start, at, sizeof(at));
    return cdc_err_set(err, CDC_ESTATE, 0,
                       "the binlog the group must resume from is gone: it "
                       "confirmed %s, and the source's oldest binlog is now "
                       "%s, so the changes in between cannot be captured; run "
                       "with --resync to copy the tables again",
                       at, bl.oldest[0] ? bl.oldest : "(none)");
}

static uint32_t derive_server_id(const char *group)
{
    /* FNV-1a of the group's name, in a range servers seldom use */
    uint32_t h = 2166136261u;
    for (const char *p = group; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 16777619u;
    }
    return 0x40000000u | (h & 0x3fffffffu);
}

static int dump_fail(struct my_src *s, unsigned code, const char *what,
                     const char *msg, struct cdc_err *err)
{
    char at[SOURCE_POSITION_MAX];
    source__my_pos_format(&s->start, at, sizeof(at));
    if (code == ER_BINLOG_FATAL)
        return cdc_err_set(err, CDC_ESTATE, 0,
                           "the source cannot send its binlog from %s: %s "
                           "(error %u); if the binlog was purged, run with "
                           "--resync to copy the tables again",
                           at, msg, code);
    return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                       "%s from %s: %s (error %u)", what, at, msg, code);
}

static int start_dump(struct my_src *s, struct cdc_err *err)
{
    struct feed *f = &s->feed;
    struct source__my_settings st = s->settings;
    st.read_timeout_s = READ_TIMEOUT_S;
    int rc = source__my_connect(&st, &f->conn, err);
    if (rc != CDC_OK)
        return rc;
    bool by_gtid = s->use_gtid && s->start.gtid[0] != '\0';
    /* MySQL: from the start of the newest binlog within the saved set */
    struct source__my_pos from = s->start;
    if (by_gtid && !s->mariadb && s->have_resumed &&
        strcmp(s->resumed.gtid, s->start.gtid) == 0) {
        from = s->resumed;
        s->have_resumed = false;
    } else if (by_gtid && !s->mariadb) {
        rc = sql_ready(s, err);
        if (rc == CDC_OK)
            rc = source__my_gtid_resume(s->sql, s->start.gtid, &from, err);
        if (rc != CDC_OK) {
            feed_stop(f);
            return rc;
        }
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SET @master_binlog_checksum = @@global.binlog_checksum, "
             "@mariadb_slave_capability = 4, @master_heartbeat_period = %s",
             HEARTBEAT_NS);
    rc = source__my_query(f->conn, sql, NULL, err);
    if (rc == CDC_OK && by_gtid && s->mariadb) {
        struct cdc_buf set;
        cdc_buf_init(&set, 0);
        cdc_buf_append_str(&set, "SET @slave_connect_state = ");
        source__my_append_literal(&set, f->conn, s->start.gtid);
        cdc_buf_append_str(&set, ", @slave_gtid_strict_mode = 1, "
                                 "@slave_gtid_ignore_duplicates = 0");
        rc = source__my_query(f->conn, set.data, NULL, err);
        cdc_buf_release(&set);
    }
    if (rc != CDC_OK) {
        feed_stop(f);
        return rc;
    }
    f->rpl = mariadb_rpl_init(f->conn);
    if (f->rpl == NULL) {
        feed_stop(f);
        return cdc_err_set(err, CDC_ENOMEM, CDC_ERR_RETRIABLE,
                           "could not set up the binlog dump");
    }
    const char *file = by_gtid && s->mariadb ? "" : from.file;
    unsigned long start =
        by_gtid && s->mariadb ? 4 : (unsigned long)from.offset;
    mariadb_rpl_optionsv(f->rpl, MARIADB_RPL_FILENAME, file, strlen(file));
    mariadb_rpl_optionsv(f->rpl, MARIADB_RPL_START, start);
    mariadb_rpl_optionsv(f->rpl, MARIADB_RPL_SERVER_ID, s->server_id);
    mariadb_rpl_optionsv(f->rpl, MARIADB_RPL_FLAGS, 0);
    if (mariadb_rpl_open(f->rpl) != 0) {
        unsigned code = mysql_errno(f->conn);
        char msg[300];
        snprintf(msg, sizeof(msg), "%s", mysql_error(f->conn));
        feed_stop(f);
        return dump_fail(s, code, "could not start the binlog dump", msg, err);
    }
    f->q = cdc_xcalloc(FEED_MAX_EVENTS, sizeof(*f->q));
    pthread_mutex_init(&f->mu, NULL);
    cdc_cond_init(&f->more);
    pthread_cond_init(&f->space, NULL);
    if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->more);
        pthread_cond_destroy(&f->space);
        feed_stop(f);
        return cdc_err_set(err, CDC_ENOMEM, CDC_ERR_RETRIABLE,
                           "could not start the binlog reader");
    }
    f->running = true;
    /* the decoder and the event group start again with the dump */
    source_binlog_reset(s->dec);
    source_binlog_set_checksum(s->dec, s->checksum);
    snprintf(s->cur_file, sizeof(s->cur_file), "%s", from.file);
    s->in_group = false;
    s->skip_group = false;
    s->tx_gtid = false;
    s->have_gtids = s->start.gtid[0] != '\0';
    if (s->mariadb) {
        gtid_parse(s->start.gtid, &s->gtids);
    } else {
        struct cdc_err perr;
        cdc_err_clear(&perr);
        source__my_gtid_set_free(&s->mygtids);
        if (source__my_gtid_set_parse(s->start.gtid, &s->mygtids, &perr) !=
            CDC_OK)
            s->have_gtids = false; /* checked when the position was read */
    }
    char at[SOURCE_POSITION_MAX];
    source__my_pos_format(&s->start, at, sizeof(at));
    if (by_gtid && !s->mariadb)
        cdc_log(CDC_LOG_INFO, "mysql",
                "streaming the binlog from %s:%" PRIu64
                " (by GTID: the transactions of %s are passed over)",
                from.file, from.offset, at);
    else
        cdc_log(CDC_LOG_INFO, "mysql", "streaming the binlog from %s (by %s)",
                at, by_gtid ? "GTID" : "file and offset");
    return CDC_OK;
}

/* --metrics-addr: the binlog written after the confirmed position. */
static void measure_lag(struct my_src *s, int64_t now)
{
    if (s->m_lag == NULL || now - s->last_lag_ms < LAG_INTERVAL_MS)
        return;
    s->last_lag_ms = now;
    struct cdc_err err;
    cdc_err_clear(&err);
    struct source__my_binlogs bl;
    int rc = sql_ready(s, &err);
    if (rc == CDC_OK)
        rc = source__my_binlogs_read(s->sql, &s->start, &bl, NULL, NULL, &err);
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_DEBUG, "mysql", "could not measure the lag: %s",
                err.msg);
        return;
    }
    cdc_metric_set(s->m_lag, NULL, (double)bl.behind);
}

/* ==== Interface ==== */

static void my_close(void *state);

static int my_open(const struct cdc_conf *cfg, const char *group,
                   const char *saved, void **state, struct cdc_err *err)
{
    *state = NULL;
    struct my_src *s = cdc_xcalloc(1, sizeof(*s));
    snprintf(s->group, sizeof(s->group), "%s", group);
    source__my_settings_init(&s->settings, cfg);
    s->server_id = (uint32_t)cdc_conf_get_int(cfg, "server-id");
    if (s->server_id == 0)
        s->server_id = derive_server_id(group);
    s->use_gtid = cdc_conf_get_bool(cfg, "gtid");
    s->dec = source_binlog_new();
    cdc_arena_init(&s->batch_arena);
    cdc_arena_init(&s->hold_arena);
    if (cdc_conf_get_str(cfg, "metrics-addr") != NULL)
        s->m_lag = cdc_metric_gauge("tributary_replication_lag_bytes",
                                    "binlog the source wrote after the "
                                    "group's confirmed position",
                                    NULL);
    struct source__my_table *tabs = NULL;
    size_t ntabs = 0;
    int rc = source__my_tables_resolve(cfg, &tabs, &ntabs, err);
    if (rc == CDC_OK) {
        s->tables = cdc_xcalloc(ntabs, sizeof(*s->tables));
        for (size_t i = 0; i < ntabs; i++)
            s->tables[i].t = tabs[i];
        s->ntables = ntabs;
        cdc_free(tabs);
    }
    if (rc == CDC_OK && saved != NULL &&
        source__my_pos_parse(saved, &s->start, err) != CDC_OK)
        rc = cdc_err_set(err, CDC_ESTATE, 0,
                         "the group's saved position \"%s\" is not a binlog "
                         "position (was the group capturing another kind "
                         "of source?): run with --resync",
                         saved);
    s->have_saved = rc == CDC_OK && saved != NULL;
    if (rc == CDC_OK)
        rc = source__my_connect(&s->settings, &s->sql, err);
    if (rc == CDC_OK)
        rc = server_checks(s, err);
    if (rc == CDC_OK)
        cdc_log(CDC_LOG_INFO, "mysql", "connected to source %s %s at %s:%u",
                s->mariadb ? "MariaDB" : "MySQL", s->version,
                s->settings.host ? s->settings.host : "localhost",
                s->settings.port ? s->settings.port : 3306);
    for (size_t i = 0; rc == CDC_OK && i < s->ntables; i++) {
        rc = table_info(s, &s->tables[i], err);
        if (rc == CDC_ENOTFOUND)
            rc = cdc_err_set(err, CDC_ECONFIG, 0,
                             "table \"%s\".\"%s\" of --tables does not exist "
                             "on the source",
                             s->tables[i].t.schema, s->tables[i].t.name);
        else if (rc == CDC_OK && s->tables[i].info.nkey == 0)
            cdc_log(CDC_LOG_WARN, "mysql",
                    "\"%s\".\"%s\" has no primary key nor unique NOT NULL "
                    "key: its rows are matched on every column",
                    s->tables[i].t.schema, s->tables[i].t.name);
    }
    if (rc == CDC_OK && s->have_saved && s->use_gtid && !s->mariadb &&
        s->start.gtid[0] != '\0') {
        /* by GTID on MySQL: the file may be another server's; what is
         * found here serves the first dump */
        s->resumed = s->start;
        rc = source__my_gtid_resume(s->sql, s->start.gtid, &s->resumed, err);
        s->have_resumed = rc == CDC_OK;
    } else if (rc == CDC_OK && s->have_saved) {
        rc = check_not_purged(s, err);
    } else if (rc == CDC_OK) {
        rc = source__my_current_pos(s->sql, &s->start, err);
        s->start_checkpoint = true;
    }
    if (rc != CDC_OK) {
        my_close(s);
        return rc;
    }
    *state = s;
    return CDC_OK;
}

static int my_poll(void *state, struct source_batch *b, size_t max,
                   int64_t timeout_ms, struct cdc_err *err)
{
    struct my_src *s = state;
    int rc = CDC_OK;
    int64_t end = cdc_now_ms() + timeout_ms;
    cdc_arena_reset(&s->batch_arena);
    s->group_pos_arena = NULL;
    s->batch_cp = false;
    if (s->held != NULL)
        s->held = cdc_event_copy(s->held, &s->batch_arena);
    if (!s->feed.running) {
        rc = start_dump(s, err);
        if (rc != CDC_OK)
            goto out;
    }
    if (s->start_checkpoint) {
        /* a group streaming for the first time confirms where it starts,
         * so a restart before its first change resumes there */
        char text[SOURCE_POSITION_MAX];
        source__my_pos_format(&s->start, text, sizeof(text));
        cp_push(s, b, text);
        s->start_checkpoint = false;
    }
    bool gathered = false;
    struct cdc_arena *a = &s->batch_arena;
    while (b->nevents < max && !cdc_stop_requested) {
        int64_t now = cdc_now_ms();
        measure_lag(s, now);
        int64_t deadline = end;
        if (b->nevents > 0) {
            /* between transactions the batch goes now, unless the source
             * is busy; inside one, a short wait for the rest */
            bool busy = now - s->last_batch_ms < BUSY_MS;
            if (b->nevents >= max / 4 || gathered || (!s->in_group && !busy))
                deadline = now;
            else
                deadline = now + TX_GATHER_MS;
            gathered = gathered || s->in_group || busy;
        }
        bool ended = false;
        struct raw_event *r = feed_take(&s->feed, deadline, &ended);
        if (r == NULL) {
            if (ended) {
                rc = dump_fail(s, s->feed.end_code, "the binlog dump ended",
                               s->feed.end_msg, err);
                break;
            }
            if (b->nevents > 0 || cdc_now_ms() >= end)
                break;
            continue;
        }
        struct source_binlog_event e;
        rc = source_binlog_decode(s->dec, r->data, r->len, a, &e, err);
        cdc_free(r);
        if (rc == CDC_OK)
            rc = handle_event(s, b, &e, err);
        if (rc != CDC_OK)
            break;
    }
out:
    if (rc != CDC_OK && (err->flags & CDC_ERR_RETRIABLE))
        feed_stop(&s->feed);
    if (b->nevents > 0)
        s->last_batch_ms = cdc_now_ms();
    cdc_arena_reset(&s->hold_arena);
    if (rc == CDC_OK && s->held != NULL)
        s->held = cdc_event_copy(s->held, &s->hold_arena);
    return rc;
}

static int my_ack(void *state, uint64_t token, struct cdc_err *err)
{
    struct my_src *s = state;
    int rc = CDC_OK;
    while (s->cps_n > 0 && cp_at(s, 0)->token <= token) {
        struct my_cp *cp = cp_at(s, 0);
        struct source__my_pos p;
        if (cp->token == token) {
            rc = source__my_pos_parse(cp->text, &p, err);
            if (rc == CDC_OK)
                s->start = p;
        }
        cdc_free(cp->text);
        s->cps_head = (s->cps_head + 1) % s->cps_cap;
        s->cps_n--;
    }
    return rc;
}

static void my_reset(void *state)
{
    struct my_src *s = state;
    feed_stop(&s->feed);
    s->held = NULL;
    s->in_group = false;
    cp_drop_all(s);
    cdc_arena_reset(&s->batch_arena);
    cdc_arena_reset(&s->hold_arena);
}

static void my_format_token(void *state, uint64_t token, char *out,
                            size_t outsz)
{
    struct my_src *s = state;
    for (size_t i = 0; i < s->cps_n; i++) {
        const struct my_cp *cp = cp_at(s, i);
        if (cp->token == token) {
            snprintf(out, outsz, "%s", cp->text);
            return;
        }
    }
    source__my_pos_format(&s->start, out, outsz);
}

static int my_copy(void *state, const struct source_copy_env *env,
                   struct cdc_err *err)
{
    struct my_src *s = state;
    struct source__my_table *tabs =
        cdc_xcalloc(s->ntables ? s->ntables : 1, sizeof(*tabs));
    for (size_t i = 0; i < s->ntables; i++)
        tabs[i] = s->tables[i].t;
    struct source__my_copy_args a = {
        .settings = &s->settings,
        .tables = tabs,
        .ntables = s->ntables,
    };
    struct source__my_pos start;
    memset(&start, 0, sizeof(start));
    int rc = source__my_copy(&a, env, &start, err);
    cdc_free(tabs);
    if (rc == CDC_OK && env->then_stream && !s->have_saved &&
        start.file[0] != '\0') {
        s->start = start;
        s->start_checkpoint = true;
    }
    return rc;
}

static void my_close(void *state)
{
    struct my_src *s = state;
    if (s == NULL)
        return;
    feed_stop(&s->feed);
    if (s->sql != NULL)
        mysql_close(s->sql);
    cp_drop_all(s);
    cdc_free(s->cps);
    for (size_t i = 0; i < s->ntables; i++) {
        source__my_tabinfo_free(&s->tables[i].info);
        cdc_free(s->tables[i].t.schema);
        cdc_free(s->tables[i].t.name);
    }
    cdc_free(s->tables);
    source_binlog_free(s->dec);
    source__my_gtid_set_free(&s->mygtids);
    cdc_arena_release(&s->batch_arena);
    cdc_arena_release(&s->hold_arena);
    cdc_free(s);
}

const struct source_ops source_mysql_ops = {
    .name = "mysql",
    .options = my_options,
    .open = my_open,
    .poll = my_poll,
    .ack = my_ack,
    .reset = my_reset,
    .format_token = my_format_token,
    .copy = my_copy,
    .cleanup = NULL,
    .status = source__my_status,
    .close = my_close,
};

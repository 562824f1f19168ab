/*
 * copy_common.c: the part of the initial copy that does not depend on the
 * source (see copy_common.h). Reader threads take ranges, up to
 * --max-copy-workers-per-table on one table, and hand their rows on in
 * packs of COPY events; the calling thread publishes the packs (JetStream's
 * client is used from this one thread only) and records a range as done
 * in the group's state bucket once JetStream has stored all of its
 * messages. What a range holds and how it is read is the source's.
 *
 * Memory is bounded: readers block while SOURCE_COPY_QUEUE_MAX packs
 * wait, and the publisher keeps at most PUB_WINDOW messages
 * unacknowledged.
 */
#include "replicator/copy_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Rows and bytes of one message: the stream's packs are of this size too,
 * so a worker's batches look alike whatever their origin. */
#define PACK_ROWS 500
#define PACK_BYTES (60 * 1024)
#define PUB_WINDOW 256
/* Readers in all, at most, whatever the tables and workers per table. */
#define READERS_MAX 32
/* A progress line per table this often (a terminal gets one line that is
 * rewritten). */
#define PROGRESS_MS 5000
/* max_payload counts a message's headers too (msgid, chunk header): well
 * under this. */
#define HEADER_OVERHEAD 512
/* a pack's msgid: group, generation, run and three numbers */
#define PACK_MSGID_MAX (CDC_NAME_MAX + 128)
/* How long the publisher waits for a pack before it looks at the
 * acknowledgements again. */
#define WAIT_MS 20

void source__copy_init(struct source__copy *cp,
                       const struct source_copy_env *env,
                       const struct source__copy_ops *ops,
                       const char *generation, const char *position)
{
    memset(cp, 0, sizeof(*cp));
    cp->env = env;
    cp->ops = ops;
    cp->generation = generation;
    cp->position = position;
    source__copy_new_name(cp->run, sizeof(cp->run), 1);
    pthread_mutex_init(&cp->mu, NULL);
    cdc_cond_init(&cp->cv);
}

void source__copy_release(struct source__copy *cp)
{
    for (size_t i = 0; i < cp->ntables; i++) {
        cdc_free(cp->tables[i].subject);
        cdc_free(cp->tables[i].label);
    }
    cdc_free(cp->tables);
    cdc_free(cp->ranges);
    for (size_t i = 0; i < cp->qlen; i++)
        cdc_free(cp->queue[(cp->qhead + i) % SOURCE_COPY_QUEUE_MAX].data);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
}

void source__copy_new_name(char *out, size_t outsz, unsigned salt)
{
    uint64_t v = (uint64_t)cdc_wall_us() ^ ((uint64_t)getpid() << 40) ^
                 ((uint64_t)salt << 20);
    snprintf(out, outsz, "%016" PRIx64, v);
}

int source__copy_table_names(const struct source__copy *cp,
                             struct source__copy_table *t, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    int rc = cdc_name_subject(cp->env->group, t->schema, t->name, &b);
    if (rc != CDC_OK) {
        cdc_buf_release(&b);
        return cdc_err_set(err, rc, 0, "table name \"%s.%s\" is too long",
                           t->schema, t->name);
    }
    t->subject = cdc_buf_detach(&b, NULL);
    t->label = cdc_xasprintf("%s.%s", t->schema, t->name);
    return CDC_OK;
}

/* ==== The state bucket ==== */

int source__copy_kv_read(struct cdc_js_kv *kv, const char *key,
                         struct cdc_buf *val, bool *found, uint64_t *rev,
                         struct cdc_err *err)
{
    *found = false;
    int rc = cdc_js_kv_get(kv, key, val, rev, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        if (rev != NULL)
            *rev = 0;
        return CDC_OK;
    }
    *found = rc == CDC_OK;
    return rc;
}

int source__copy_plan_put(const struct source__copy *cp, const char *key,
                          const struct cdc_buf *text, uint64_t *rev,
                          struct cdc_err *err)
{
    int rc =
        cdc_js_kv_put(cp->env->kv, key, text->data, text->len, *rev, rev, err);
    if (rc != CDC_OK)
        cdc_err_prefix(err, "could not save the copy plan");
    return rc;
}

int source__copy_load_done(struct source__copy *cp, struct cdc_err *err)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 4096);
    int rc = CDC_OK;
    size_t done = 0;
    for (size_t i = 0; i < cp->nranges && rc == CDC_OK; i++) {
        struct source__copy_range *r = &cp->ranges[i];
        char key[SOURCE_COPY_RANGE_KEY_MAX];
        cp->ops->range_key(r, key, sizeof(key));
        bool found = false;
        uint64_t rows = 0;
        rc = source__copy_kv_read(cp->env->kv, key, &b, &found, NULL, err);
        if (rc == CDC_OK && found && b.data != NULL &&
            source_copy_range_done(b.data, cp->generation, &rows)) {
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

static int save_range(struct source__copy *cp, struct source__copy_range *r,
                      struct cdc_err *err)
{
    char key[SOURCE_COPY_RANGE_KEY_MAX];
    char val[SOURCE_COPY_VALUE_MAX];
    cp->ops->range_key(r, key, sizeof(key));
    source_copy_range_value(cp->generation, r->rows, val, sizeof(val));
    struct cdc_buf old;
    cdc_buf_init(&old, 4096);
    uint64_t rev = 0;
    bool found = false;
    int rc = source__copy_kv_read(cp->env->kv, key, &old, &found, &rev, err);
    cdc_buf_release(&old);
    if (rc == CDC_OK)
        rc = cdc_js_kv_put(cp->env->kv, key, val, strlen(val), rev, NULL, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not record copy progress");
    return CDC_OK;
}

/* ==== Readers ==== */

static void fail(struct source__copy *cp, const struct cdc_err *err)
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
static bool enqueue(struct source__copy *cp, const struct source__copy_item *it)
{
    pthread_mutex_lock(&cp->mu);
    while (cp->qlen == SOURCE_COPY_QUEUE_MAX && !cp->failed &&
           !cdc_stop_requested)
        pthread_cond_wait(&cp->cv, &cp->mu);
    bool ok = !cp->failed && !cdc_stop_requested;
    if (ok) {
        cp->queue[(cp->qhead + cp->qlen) % SOURCE_COPY_QUEUE_MAX] = *it;
        cp->qlen++;
        pthread_cond_broadcast(&cp->cv);
    }
    pthread_mutex_unlock(&cp->mu);
    if (!ok)
        cdc_free(it->data);
    return ok;
}

/* The oldest pack waiting, if any, into *it (the caller holds the
 * lock). */
static bool dequeue(struct source__copy *cp, struct source__copy_item *it)
{
    if (cp->qlen == 0)
        return false;
    *it = cp->queue[cp->qhead];
    cp->qhead = (cp->qhead + 1) % SOURCE_COPY_QUEUE_MAX;
    cp->qlen--;
    pthread_cond_broadcast(&cp->cv);
    return true;
}

/* The next range to read: one of a table with room for another reader. */
static struct source__copy_range *take_range(struct source__copy *cp)
{
    unsigned per_table = cp->env->workers_per_table;
    struct source__copy_range *got = NULL;
    pthread_mutex_lock(&cp->mu);
    for (size_t i = 0; i < cp->nranges && !cp->failed; i++) {
        struct source__copy_range *r = &cp->ranges[i];
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

void source__copy_pack_init(struct source__copy_pack *pk,
                            const struct source__copy *cp,
                            const struct source__copy_range *r, size_t ncols,
                            const char **key, size_t nkey)
{
    memset(pk, 0, sizeof(*pk));
    cdc_buf_init(&pk->buf, 0);
    pk->cols = cdc_xcalloc(ncols ? ncols : 1, sizeof(*pk->cols));
    pk->ev = (struct cdc_event){
        .op = CDC_OP_COPY,
        .source = cp->ops->source,
        .schema = r->t->schema,
        .table = r->t->name,
        .cols = pk->cols,
        .ncols = ncols,
        .key = key,
        .nkey = nkey,
        .position = cp->position,
        .tx_end = true,
    };
}

/* How many bytes of a pack one message carries at most, with *maxp the
 * server's max_payload; 0 for no limit (a source whose packs are never
 * chunked: the server refuses one that is too large, loudly). */
static size_t pack_limit(const struct source__copy *cp, int64_t *maxp)
{
    *maxp = cp->ops->chunked ? cdc_js_max_payload(cp->env->js) : 0;
    if (*maxp <= 0)
        return 0;
    int64_t room = *maxp - HEADER_OVERHEAD - 2 * PACK_MSGID_MAX;
    return room > 0 ? (size_t)room : 0;
}

/* With --compress zstd, the pack's text compressed in place of it when
 * that is shorter and fits in one message (a pack cut into chunks goes as
 * it is, like any chunked event). */
static void pack_zip(struct source__copy *cp, struct source__copy_pack *pk,
                     struct source__copy_item *it)
{
    if (!cp->env->zip || it->len < CDC_ZIP_MIN_BYTES)
        return;
    if (pk->zip == NULL)
        pk->zip = cdc_zip_new(cp->env->zip_level);
    struct cdc_buf z;
    struct cdc_err e;
    cdc_buf_init(&z, 0);
    cdc_err_clear(&e);
    int64_t maxp = 0;
    size_t limit = pack_limit(cp, &maxp);
    if (cdc_zip_compress(pk->zip, it->data, it->len, &z, &e) == CDC_OK &&
        z.len < it->len && (maxp <= 0 || z.len <= limit)) {
        cdc_free(it->data);
        it->data = cdc_buf_detach(&z, &it->len);
        it->zipped = true;
    }
    cdc_buf_release(&z);
}

/* Hands the pack on, and starts the next one. */
static bool pack_send(struct source__copy *cp, struct source__copy_range *r,
                      struct source__copy_pack *pk, bool last)
{
    struct source__copy_item it = {.range = r, .last = last, .rows = pk->rows};
    if (pk->rows > 0) {
        cdc_pack_end(true, &pk->buf);
        it.data = cdc_buf_detach(&pk->buf, &it.len);
        it.raw_len = it.len;
        pack_zip(cp, pk, &it);
    }
    pk->rows = 0;
    cdc_buf_init(&pk->buf, 0);
    return enqueue(cp, &it);
}

bool source__copy_pack_add(struct source__copy *cp,
                           struct source__copy_range *r,
                           struct source__copy_pack *pk,
                           struct cdc_arena *arena)
{
    pk->ev.tx_index = (uint32_t)pk->rows;
    if (pk->rows == 0)
        cdc_pack_begin(&pk->ev, &pk->buf);
    cdc_pack_add(&pk->ev, pk->rows == 0, &pk->buf);
    pk->rows++;
    if (pk->rows < PACK_ROWS && pk->buf.len < PACK_BYTES)
        return true;
    if (!pack_send(cp, r, pk, false))
        return false;
    cdc_arena_reset(arena);
    return true;
}

bool source__copy_pack_end(struct source__copy *cp,
                           struct source__copy_range *r,
                           struct source__copy_pack *pk)
{
    return pack_send(cp, r, pk, true);
}

void source__copy_pack_release(struct source__copy_pack *pk)
{
    cdc_buf_release(&pk->buf);
    cdc_zip_free(pk->zip);
    pk->zip = NULL;
    cdc_free(pk->cols);
}

static void *reader_main(void *arg)
{
    struct source__copy_reader *rd = arg;
    struct source__copy *cp = rd->cp;
    struct cdc_err err;
    struct cdc_arena arena;
    cdc_err_clear(&err);
    cdc_arena_init(&arena);
    int rc = CDC_OK;
    bool broken = false;
    while (!broken) {
        struct source__copy_range *r = take_range(cp);
        if (r == NULL)
            break;
        rc = cp->ops->read_range(cp, rd->conn, r, &arena, &broken, &err);
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

/* ==== Progress ==== */

void source__copy_metrics(struct source__copy *cp)
{
    cp->m_rows = cdc_metric_counter(
        "tributary_copy_rows_total",
        "rows of the initial copy sent to JetStream", "table");
    cp->m_bytes = cdc_metric_counter(
        "tributary_copy_bytes_total",
        "bytes of the initial copy's messages sent to JetStream", "table");
    cp->m_estimate = cdc_metric_gauge("tributary_copy_bytes_estimate",
                                      cp->ops->estimate_help, "table");
    cp->m_ranges_done = cdc_metric_gauge("tributary_copy_ranges_done",
                                         cp->ops->ranges_done_help, "table");
    cp->m_ranges = cdc_metric_gauge("tributary_copy_ranges_total",
                                    cp->ops->ranges_help, "table");
    for (size_t i = 0; i < cp->ntables; i++) {
        const struct source__copy_table *t = &cp->tables[i];
        cdc_metric_set(cp->m_estimate, t->label, (double)t->est_bytes);
        cdc_metric_set(cp->m_ranges, t->label, (double)t->nranges);
        cdc_metric_set(cp->m_ranges_done, t->label,
                       (double)(t->nranges - t->ranges_left));
    }
}

/* One table's progress line: a log line, or on a terminal one line that
 * is rewritten. A finished table gets a last log line. */
static void progress_table(const struct source__copy_table *t, bool tty)
{
    char line[256];
    bool done = t->ranges_left == 0;
    int64_t end = done ? t->done_ms : cdc_now_ms();
    source_copy_progress_format(
        t->label, t->rows, t->bytes, done ? 0 : t->est_bytes,
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

static void progress(const struct source__copy *cp, bool tty)
{
    for (size_t i = 0; i < cp->ntables; i++) {
        const struct source__copy_table *t = &cp->tables[i];
        if (t->started_ms != 0 && t->ranges_left > 0)
            progress_table(t, tty);
    }
}

size_t source__copy_readers_wanted(const struct source__copy *cp)
{
    size_t want = 0;
    unsigned per = cp->env->workers_per_table ? cp->env->workers_per_table : 1;
    for (size_t i = 0; i < cp->ntables; i++) {
        size_t left = cp->tables[i].ranges_left;
        want += left < per ? left : per;
    }
    return want > READERS_MAX ? READERS_MAX : want;
}

void source__copy_log_start(const struct source__copy *cp, size_t nreaders,
                            const char *position)
{
    size_t left = 0;
    for (size_t i = 0; i < cp->nranges; i++)
        left += !cp->ranges[i].done;
    cdc_log(CDC_LOG_INFO, "copy",
            "copying %zu tables in %zu ranges (%zu to do) with %zu readers "
            "at %s",
            cp->ntables, cp->nranges, left, nreaders, position);
}

void source__copy_log_done(const struct source__copy *cp, const char *position)
{
    uint64_t rows = 0;
    for (size_t i = 0; i < cp->ntables; i++)
        rows += cp->tables[i].rows;
    cdc_log(CDC_LOG_INFO, "copy",
            "copied %" PRIu64 " rows of %zu tables (as of %s)", rows,
            cp->ntables, position);
}

int source__copy_stopped(int rc, struct cdc_err *err)
{
    if (rc == CDC_ESTOP || cdc_stop_requested)
        return cdc_err_set(err, CDC_ESTOP, 0,
                           "copy stopped; it resumes with the ranges not done");
    return rc;
}

/* ==== Publishing ==== */

/*
 * --resync: before any copied row, a TRUNCATE event of each table, so the
 * targets lose the rows deleted while the group could not capture. They
 * are one transaction at position, which the source chose to sort before
 * every change streamed after the snapshot.
 */
int source__copy_publish_truncates(struct source__copy *cp,
                                   const char *position, struct cdc_err *err)
{
    struct cdc_buf data;
    char msgid[CDC_NAME_MAX + 96];
    cdc_buf_init(&data, 0);
    int rc = CDC_OK;
    for (size_t i = 0; i < cp->ntables && rc == CDC_OK; i++) {
        const struct source__copy_table *t = &cp->tables[i];
        struct cdc_event ev = {
            .op = CDC_OP_TRUNCATE,
            .source = cp->ops->source,
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
        snprintf(msgid, sizeof(msgid), "%s/copy:%s:truncate:%" PRIu64,
                 cp->env->group, cp->generation, t->id);
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

/* Sends one pack; with ops->chunked, as chunks when it is over the
 * server's max_payload. */
static int send_pack(struct source__copy *cp, struct cdc_js_pub *pub,
                     const struct source__copy_range *r,
                     const struct source__copy_item *it, uint64_t *seq,
                     struct cdc_err *err)
{
    char msgid[PACK_MSGID_MAX];
    snprintf(msgid, sizeof(msgid),
             "%s/copy:%s:%s:%" PRIu64 ":%" PRIu64 ":%" PRIu64, cp->env->group,
             cp->generation, cp->run, r->t->id, r->id, r->chunks);
    int64_t maxp = 0;
    size_t limit = pack_limit(cp, &maxp);
    struct cdc_js_hdr zh = {CDC_ZIP_HEADER, CDC_ZIP_ZSTD};
    if (maxp <= 0 || it->len <= limit || it->zipped)
        return cdc_js_pub_send(pub, r->t->subject, msgid, it->data, it->len,
                               it->zipped ? &zh : NULL, it->zipped ? 1 : 0, seq,
                               err);
    uint32_t k = 0;
    if (limit < 1024 || cdc_chunk_count(it->len, limit, &k) != CDC_OK)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "copied rows of \"%s\".\"%s\" make a message of "
                           "%zu bytes that the NATS server's max_payload of "
                           "%" PRId64 " bytes cannot carry, even in chunks",
                           r->t->schema, r->t->name, it->len, maxp);
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

/* Records the ranges whose messages are all stored (floor: the publisher's
 * acknowledged sequence). */
static int save_stored(struct source__copy *cp, uint64_t floor, bool tty,
                       struct cdc_err *err)
{
    for (size_t i = 0; i < cp->nranges; i++) {
        struct source__copy_range *r = &cp->ranges[i];
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
        cdc_metric_set(cp->m_ranges_done, r->t->label,
                       (double)(r->t->nranges - r->t->ranges_left));
        if (r->t->ranges_left == 0) {
            r->t->done_ms = cdc_now_ms();
            if (r->t->started_ms == 0)
                r->t->started_ms = r->t->done_ms;
            progress_table(r->t, tty);
        }
    }
    return CDC_OK;
}

/* Waits a moment for a pack and takes it into *it. Sets *readers_done
 * when no reader runs and no pack waits, *failed when a reader failed. */
static bool next_item(struct source__copy *cp, struct source__copy_item *it,
                      bool *readers_done, bool *failed)
{
    pthread_mutex_lock(&cp->mu);
    if (cp->qlen == 0 && cp->readers_running > 0 && !cp->failed &&
        !cdc_stop_requested) {
        cdc_cond_wait_ms(&cp->cv, &cp->mu, WAIT_MS);
    }
    bool have = dequeue(cp, it);
    *readers_done = cp->readers_running == 0 && cp->qlen == 0;
    *failed = cp->failed;
    pthread_mutex_unlock(&cp->mu);
    return have;
}

/* Publishes one pack of a range and counts it. */
static int publish_item(struct source__copy *cp, struct cdc_js_pub *pub,
                        struct source__copy_item *it, uint64_t *sent_seq,
                        struct cdc_err *err)
{
    struct source__copy_range *r = it->range;
    if (r->t->started_ms == 0)
        r->t->started_ms = cdc_now_ms();
    if (it->data != NULL) {
        int rc = send_pack(cp, pub, r, it, sent_seq, err);
        r->chunks++;
        r->rows += it->rows;
        r->bytes += it->raw_len;
        cdc_metric_add(cp->m_rows, r->t->label, it->rows);
        cdc_metric_add(cp->m_bytes, r->t->label, it->raw_len);
        cdc_free(it->data);
        it->data = NULL;
        if (rc != CDC_OK)
            return rc;
    }
    if (it->last) {
        r->all_sent = true;
        r->last_seq = *sent_seq;
    }
    return CDC_OK;
}

/* Publishes packs until every range is stored, saving each range as it
 * completes. */
static int publish_all(struct source__copy *cp, struct cdc_js_pub *pub,
                       struct cdc_err *err)
{
    bool tty = isatty(STDERR_FILENO) != 0;
    int64_t last_progress = cdc_now_ms();
    uint64_t sent_seq = 0;
    uint64_t floor = 0;
    for (;;) {
        struct source__copy_item it = {0};
        bool readers_done = false;
        bool failed = false;
        bool have = next_item(cp, &it, &readers_done, &failed);
        if (failed) {
            cdc_free(it.data);
            *err = cp->first_err;
            return err->code != 0 ? err->code : CDC_EIO;
        }
        int rc = have ? publish_item(cp, pub, &it, &sent_seq, err) : CDC_OK;
        /* on a stop, readers give up at their next pack; what was sent
         * is still recorded */
        if (rc == CDC_OK)
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

int source__copy_run(struct source__copy *cp,
                     struct source__copy_reader *readers, size_t nreaders,
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

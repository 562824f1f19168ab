/*
 * consume.c: the worker's loop. It fetches the group's events in stream
 * order from a durable consumer, decodes them, skips what the sink already
 * holds (by stream sequence within this process, by source position across
 * restarts), and commits batches that end on a transaction boundary. A
 * batch is acknowledged (cumulatively) only after the sink's write and
 * flush succeeded. What cannot be decoded, or what the sink rejects for
 * good, goes to the group's dead-letter stream with its reason before it is
 * acknowledged; everything else is retried with backoff, never dropped.
 * An event that came as a run of chunks is put together before decoding,
 * and no batch ever ends inside a run: the acknowledgement is cumulative,
 * so a run cut in two would lose its first part to a crash.
 */
#include "worker/worker.h"
#include "worker/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Progress is logged this often while events flow. */
#define PROGRESS_INTERVAL_MS 10000
/* Releasing the sink and the NATS connection after the last commit may
 * take this long before the process exits anyway. */
#define SHUTDOWN_LIMIT_S 10
/* Messages one fetch asks for at most: a message may hold many events
 * (up to about 64 KiB of them), so this bounds what one fetch holds in
 * memory even when messages grow from one event to hundreds at once. */
#define FETCH_MAX 256
/* Messages the first fetch asks for, before the worker knows how many
 * events a message holds. */
#define FIRST_FETCH 16
/* Longest wait of a fetch for more while events are pending. */
#define DRAIN_WAIT_MS 2
/* How long the stream may be quiet before the worker checks that its
 * consumer still exists. */
#define CONSUMER_CHECK_MS 5000
/* The consumer's pending counts are asked for this often while metrics
 * are served. */
#define PENDING_INTERVAL_MS 5000
/* Longest single wait for messages, so signals are seen promptly. */
#define MAX_FETCH_WAIT_MS 1000
/* Copied rows (an initial copy) go in batches of at least this many: a
 * batch costs a target commit that waits for the disk and a few round
 * trips, which at a batch of 1000 rows took more than half of an initial
 * load's time. Each such batch holds a few MiB of events, and while the
 * sink loads one the next is read: 20000 rows doubled the worker's memory
 * for no measurable gain. */
#define COPY_BATCH_ROWS 10000

struct item {
    struct cdc_js_msg *msg;
    struct cdc_event *ev; /* NULL: nothing to write (skipped, dead letter) */
    bool has_tx;          /* tx_end below is meaningful */
    bool tx_end;
    /* a chunk that more chunks of its event follow, or an event that more
     * events of its message follow: a batch may not end here (the
     * message is acknowledged with the last item) */
    bool part;
    /* one event of a message that packs several; shared: a later item
     * owns (frees) the message */
    bool packed;
    bool shared;
    uint64_t seq;
};

struct worker {
    const struct cdc_conf *cfg;
    const struct sink_ops *ops;
    const char *group;
    const struct worker_pipeline *pipe;
    void *snk;
    struct cdc_js *js;
    struct cdc_js_consumer *cons;
    struct sink_mark mark;
    char dlq_subject[CDC_NAME_MAX];
    char stream[CDC_NAME_MAX];
    char durable[CDC_NAME_MAX];
    int64_t consumer_checked_ms;
    struct cdc_js_kv *kv; /* the group's state bucket, for the lease */
    struct lease *lease;  /* on durable: held while the worker runs */
    bool lease_paused;    /* writes wait for the lease to be renewed */

    struct item *items;
    bool *has_tx; /* scratch for worker_batch_cut */
    bool *tx_end;
    size_t nitems;
    /* room in the three arrays above: batch_size, more while a run of
     * chunks does not fit in a batch */
    size_t items_cap;
    size_t batch_size;
    /* the run of chunks being put together: its items are the last
     * nitems - open_run_start() ones (none once rejected) */
    struct cdc_chunk_seq chunk;
    struct cdc_buf chunk_data;
    /* a compressed message's payload (Tributary-Encoding), while it is
     * decoded */
    struct cdc_zip *zip;
    struct cdc_buf unzipped;
    /* the open run is over CDC_CHUNK_MAX_BYTES: its chunks go to the dead
     * letters as they come */
    bool chunk_rejected;
    struct cdc_arena arenas[2];
    int cur; /* arena of the pending events */
    /* the batch being written, its items moved out of items. While the
     * sink writes it in the background (flight_on) the next batch is read
     * into the current arena; the batch's events stay in the other one
     * until it is settled */
    struct item *flight;
    size_t nflight;
    size_t flight_cap;
    struct cdc_batch fl_batch; /* its events and seqs, room for flight_cap */
    size_t *fl_origin;         /* item of each event of fl_batch */
    bool flight_on;
    int64_t flight_started;
    uint64_t max_seq_seen;
    int64_t first_item_ms;
    int64_t last_arrival_ms;

    struct cdc_backoff bo;
    size_t per_msg; /* most events in one message of the last fetch */
    /* messages the consumer had still to deliver after the last one that
     * came: more are on the way, however slowly they come */
    uint64_t behind;
    unsigned reject_attempts; /* --reject-attempts */
    uint64_t reject_seq;      /* the change rejected last, and how often */
    unsigned reject_count;
    uint64_t written;
    uint64_t skipped;
    bool skip_told;    /* a skip from later in the stream was logged */
    uint64_t filtered; /* dropped by a filter rule or a route */
    uint64_t dead;

    struct cdc_metric *m_received;
    struct cdc_metric *m_bytes;
    struct cdc_metric *m_applied;
    struct cdc_metric *m_filtered;
    struct cdc_metric *m_dead;
    struct cdc_metric *m_skipped;
    struct cdc_metric *m_retries;
    struct cdc_metric *m_batch;
    struct cdc_metric *m_latency;
    struct cdc_metric *m_lag;
    struct cdc_metric *m_pending;
    struct cdc_metric *m_ack_pending;
    int64_t pending_ms;
};

static void metrics_register(struct worker *w)
{
    static const double sizes[] = {1, 10, 100, 1000, 10000, 100000};
    static const double secs[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
    w->m_received = cdc_metric_counter(
        "tributary_events_received_total",
        "events taken from the group's stream (redeliveries included)", NULL);
    w->m_bytes =
        cdc_metric_counter("tributary_bytes_received_total",
                           "bytes of messages taken from the stream", NULL);
    w->m_applied = cdc_metric_counter(
        "tributary_events_applied_total",
        "events the sink committed, by table as written", "table");
    w->m_filtered = cdc_metric_counter(
        "tributary_events_filtered_total",
        "events dropped on purpose by a filter rule or a route", "table");
    w->m_dead = cdc_metric_counter(
        "tributary_events_dead_lettered_total",
        "events set aside in the dead letters with their reason", "table");
    w->m_skipped = cdc_metric_counter(
        "tributary_events_skipped_total",
        "events the sink held already (delivered again)", NULL);
    w->m_retries = cdc_metric_counter(
        "tributary_retries_total",
        "failures retried after a wait, by the part that failed", "part");
    w->m_batch = cdc_metric_histogram(
        "tributary_batch_size", "events in each batch the sink committed", NULL,
        sizes, sizeof(sizes) / sizeof(*sizes));
    w->m_latency =
        cdc_metric_histogram("tributary_sink_latency_seconds",
                             "time the sink took to write and commit a batch",
                             NULL, secs, sizeof(secs) / sizeof(*secs));
    w->m_lag = cdc_metric_gauge(
        "tributary_lag_seconds",
        "time from the source's commit of the last applied change to its "
        "commit on the sink (0 once the stream is drained)",
        NULL);
    w->m_pending = cdc_metric_gauge(
        "tributary_consumer_pending",
        "events of the stream not yet delivered to this worker", NULL);
    w->m_ack_pending = cdc_metric_gauge(
        "tributary_consumer_ack_pending",
        "events delivered to this worker and not yet acknowledged", NULL);
}

/* "schema.table" of ev, the metrics' table label. */
static void table_label(const struct cdc_event *ev, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s.%s", ev->schema ? ev->schema : "",
             ev->table ? ev->table : "");
}

/* The table label of a message without a readable event: its subject
 * after "tributary.<group>.", which is schema.table (escaped). */
static void subject_label(const struct worker *w, struct cdc_js_msg *msg,
                          char *out, size_t outsz)
{
    const char *subject = cdc_js_msg_subject(msg);
    size_t glen = strlen(w->group);
    out[0] = '\0';
    if (subject != NULL && strncmp(subject, "tributary.", 10) == 0 &&
        strncmp(subject + 10, w->group, glen) == 0 && subject[10 + glen] == '.')
        snprintf(out, outsz, "%s", subject + 11 + glen);
}

/* The most events the pending batch may hold: --batch-size, or more when
 * it holds copied rows. */
static size_t batch_limit(const struct worker *w)
{
    if (w->batch_size < COPY_BATCH_ROWS && w->nitems > 0 &&
        w->items[0].ev != NULL && w->items[0].ev->op == CDC_OP_COPY)
        return COPY_BATCH_ROWS;
    return w->batch_size;
}

size_t worker_batch_cut(const bool *has_event, const bool *tx_end, size_t n,
                        size_t batch_size, bool idle, bool stopping)
{
    size_t cut = 0;
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (has_event[i])
            open = !tx_end[i];
        if (!open)
            cut = i + 1;
    }
    if (stopping)
        return cut;
    if (n >= batch_size || idle)
        return cut > 0 ? cut : n;
    return cut;
}

/* ==== Dead letters ==== */

/* Stores msg in the dead letters with reason; with ev (one event of a
 * message that packs several) only that event, as its own message. */
static int dead_letter_ev(struct worker *w, struct cdc_js_msg *msg,
                          const struct cdc_event *ev, const char *reason,
                          struct cdc_err *err)
{
    size_t len = 0;
    const void *data = cdc_js_msg_data(msg, &len);
    char seq[24];
    char msgid[CDC_NAME_MAX];
    struct cdc_buf one;
    cdc_buf_init(&one, 0);
    snprintf(seq, sizeof(seq), "%" PRIu64, cdc_js_msg_stream_seq(msg));
    snprintf(msgid, sizeof(msgid), "%s:%s:%s", w->group, w->ops->name, seq);
    if (ev != NULL && cdc_event_encode(ev, &one) == CDC_OK) {
        data = one.data;
        len = one.len;
        /* a message may hold changes of several transactions */
        snprintf(msgid, sizeof(msgid), "%s:%s:%s.%s.%" PRIu32, w->group,
                 w->ops->name, seq, ev->position ? ev->position : "",
                 ev->tx_index);
    }
    const char *subject = cdc_js_msg_subject(msg);
    struct cdc_js_hdr hdrs[5] = {
        {"Tributary-Error", reason},
        {"Tributary-Subject", subject ? subject : ""},
        {"Tributary-Stream-Seq", seq},
    };
    size_t nhdrs = 3;
    /* the message as it came keeps what says how to read it */
    const char *chunk = cdc_js_msg_header(msg, CDC_CHUNK_HEADER);
    const char *zipped = cdc_js_msg_header(msg, CDC_ZIP_HEADER);
    if (chunk != NULL)
        hdrs[nhdrs++] = (struct cdc_js_hdr){CDC_CHUNK_HEADER, chunk};
    if (zipped != NULL && data != one.data)
        hdrs[nhdrs++] = (struct cdc_js_hdr){CDC_ZIP_HEADER, zipped};
    cdc_backoff_reset(&w->bo);
    for (;;) {
        int rc = cdc_js_publish_sync(w->js, w->dlq_subject, msgid, data, len,
                                     hdrs, nhdrs, err);
        if (rc == CDC_OK)
            break;
        if (cdc_stop_requested) {
            cdc_buf_release(&one);
            return rc;
        }
        int64_t wait = cdc_backoff_next(&w->bo);
        cdc_log(CDC_LOG_WARN, "worker",
                "could not store dead letter (stream sequence %s): %s; "
                "retrying in %lld ms",
                seq, err->msg, (long long)wait);
        cdc_sleep_ms(wait);
    }
    w->dead++;
    /* an event that went as a run of chunks counts once, with its first */
    uint32_t ci = 0;
    uint32_t ck = 0;
    if (ev != NULL || chunk == NULL ||
        cdc_chunk_parse(chunk, &ci, &ck) != CDC_OK || ci == 1) {
        char label[CDC_NAME_MAX * 2];
        if (ev != NULL)
            table_label(ev, label, sizeof(label));
        else
            subject_label(w, msg, label, sizeof(label));
        cdc_metric_add(w->m_dead, label, 1);
    }
    cdc_log(CDC_LOG_WARN, "worker",
            "event at stream sequence %s sent to dead letters \"%s\": %s", seq,
            w->dlq_subject, reason);
    cdc_buf_release(&one);
    return CDC_OK;
}

static int dead_letter(struct worker *w, struct cdc_js_msg *msg,
                       const char *reason, struct cdc_err *err)
{
    return dead_letter_ev(w, msg, NULL, reason, err);
}

/* ==== Rules and routing ==== */

/* Runs the rules, then the routing, over ev (changes are allocated from
 * the pending arena); a rejection leaves the event as it came, with the
 * reason in reason. */
enum worker_verdict worker_pipeline_run(const struct worker_pipeline *pipe,
                                        struct cdc_event *ev,
                                        struct cdc_arena *arena, char *reason,
                                        size_t reasonsz)
{
    if (pipe == NULL || (pipe->rules == NULL && pipe->routes == NULL))
        return WORKER_PASS;
    struct cdc_event orig = *ev;
    struct cdc_err perr;
    cdc_err_clear(&perr);
    int rc = RULES_KEEP;
    if (pipe->rules != NULL)
        rc = rules_apply(pipe->rules, ev, arena, &perr);
    if (rc == RULES_KEEP && pipe->routes != NULL) {
        rc = route_apply(pipe->routes, ev, arena, &perr);
        if (rc == ROUTE_KEEP)
            rc = RULES_KEEP;
        else if (rc == ROUTE_DROP)
            rc = RULES_DROP;
    }
    if (rc == RULES_KEEP)
        return WORKER_PASS;
    if (rc == RULES_DROP)
        return WORKER_FILTER;
    *ev = orig;
    snprintf(reason, reasonsz, "%s", perr.msg);
    return WORKER_REJECT;
}

static enum worker_verdict run_pipeline(struct worker *w, struct cdc_event *ev,
                                        char *reason, size_t reasonsz)
{
    /* the source's table, before a route renames it */
    const char *schema = ev->schema;
    const char *table = ev->table;
    enum worker_verdict v =
        worker_pipeline_run(w->pipe, ev, &w->arenas[w->cur], reason, reasonsz);
    if (v == WORKER_FILTER) {
        char label[CDC_NAME_MAX * 2];
        snprintf(label, sizeof(label), "%s.%s", schema ? schema : "",
                 table ? table : "");
        w->filtered++;
        cdc_metric_add(w->m_filtered, label, 1);
    }
    return v;
}

/* ==== Intake ==== */

/* Makes room for n items. */
static void reserve_items(struct worker *w, size_t n)
{
    if (n <= w->items_cap)
        return;
    size_t cap = w->items_cap * 2 > n ? w->items_cap * 2 : n;
    w->items = cdc_xrealloc(w->items, cap * sizeof(*w->items));
    w->has_tx = cdc_xrealloc(w->has_tx, cap * sizeof(*w->has_tx));
    w->tx_end = cdc_xrealloc(w->tx_end, cap * sizeof(*w->tx_end));
    w->items_cap = cap;
}

static void push_item(struct worker *w, const struct item *it)
{
    reserve_items(w, w->nitems + 1);
    if (w->nitems == 0)
        w->first_item_ms = cdc_now_ms();
    w->items[w->nitems++] = *it;
}

/* Index of the first item of the open run of chunks; nitems if no run is
 * open or its chunks were set aside already. */
static size_t open_run_start(const struct worker *w)
{
    size_t i = w->nitems;
    if (!cdc_chunk_seq_open(&w->chunk))
        return i;
    while (i > 0 && w->items[i - 1].part)
        i--;
    return i;
}

/* Forgets the open run of chunks and its bytes (not its items). */
static void reset_run(struct worker *w)
{
    cdc_chunk_seq_init(&w->chunk);
    cdc_buf_release(&w->chunk_data);
    w->chunk_rejected = false;
}

/* Gives up the chunks in items [start, nitems): they stay as items
 * without an event, to be acknowledged with their batch. With a reason
 * they go to the dead letters first; without one they are dropped, their
 * event having come again. */
static int release_run(struct worker *w, size_t start, const char *reason,
                       struct cdc_err *err)
{
    int rc = CDC_OK;
    for (size_t i = start; i < w->nitems; i++) {
        struct item *it = &w->items[i];
        it->part = false;
        it->has_tx = false;
        if (reason != NULL && rc == CDC_OK)
            rc = dead_letter(w, it->msg, reason, err);
    }
    return rc;
}

/*
 * Counts an event skipped as written before (at or below the sink's
 * position). The first one that comes from later in the stream than the
 * event the sink holds is logged: the replicator sent it again (after a
 * crash, past the duplicate window, or into a stream made anew), or the
 * group now reads another source whose positions start lower, whose
 * changes would all be skipped; the log and the progress lines make that
 * case visible.
 */
static void count_skip(struct worker *w, const struct cdc_event *ev,
                       uint64_t seq)
{
    w->skipped++;
    cdc_metric_add(w->m_skipped, NULL, 1);
    if (w->skip_told || seq <= w->mark.stream_seq)
        return;
    w->skip_told = true;
    cdc_log(CDC_LOG_INFO, "worker",
            "skipping the event at stream sequence %" PRIu64
            " (%s position %s), and any other at or below the position the "
            "sink holds (%s, from stream sequence %" PRIu64
            "), as written before: sent again by the replicator; if the "
            "group now reads another source, see \"Starting a group over\" "
            "in the README",
            seq, ev->source, ev->position, w->mark.position,
            w->mark.stream_seq);
}

/* Decodes an event's bus form into it; false with a reason if it cannot
 * be decoded. */
static bool decode_item(struct worker *w, struct item *it, const void *data,
                        size_t len, char *reason, size_t reasonsz)
{
    struct cdc_event *ev = cdc_arena_alloc(&w->arenas[w->cur], sizeof(*ev));
    struct cdc_err derr;
    cdc_err_clear(&derr);
    if (cdc_event_decode(data, len, &w->arenas[w->cur], ev, &derr) != CDC_OK) {
        snprintf(reason, reasonsz, "cannot decode event: %s", derr.msg);
        return false;
    }
    it->has_tx = true;
    it->tx_end = ev->tx_end;
    cdc_metric_add(w->m_received, NULL, 1);
    if (sink_mark_covers(&w->mark, ev)) {
        count_skip(w, ev, it->seq);
        return true;
    }
    enum worker_verdict v = run_pipeline(w, ev, reason, reasonsz);
    if (v == WORKER_PASS)
        it->ev = ev;
    return v != WORKER_REJECT;
}

/*
 * A message that is not a chunk came while a run of chunks was open, so
 * the run will never be whole. If the message is the same event (its
 * msgid is the run's without the chunk suffix: sent again in one message
 * after max_payload was raised) the run is dropped; otherwise its chunks
 * go to the dead letters.
 */
static int end_run_early(struct worker *w, struct cdc_js_msg *msg,
                         struct cdc_err *err)
{
    size_t start = open_run_start(w);
    bool resent = false;
    if (start < w->nitems) {
        const char *run_id =
            cdc_js_msg_header(w->items[start].msg, "Nats-Msg-Id");
        const char *id = cdc_js_msg_header(msg, "Nats-Msg-Id");
        size_t base = 0;
        uint32_t i = 0;
        uint32_t k = 0;
        resent = run_id != NULL && id != NULL &&
                 cdc_chunk_msgid_split(run_id, &base, &i, &k) &&
                 strlen(id) == base && memcmp(run_id, id, base) == 0;
    }
    char reason[128];
    snprintf(reason, sizeof(reason),
             "incomplete event: chunks 1 to %u of %u were followed by a "
             "message that is not a chunk",
             (unsigned)(w->chunk.next - 1), (unsigned)w->chunk.count);
    if (resent)
        cdc_log(CDC_LOG_WARN, "worker",
                "dropping %zu chunks of an incomplete event before stream "
                "sequence %" PRIu64 ": the event came again whole",
                w->nitems - start, cdc_js_msg_stream_seq(msg));
    int rc = release_run(w, start, resent ? NULL : reason, err);
    reset_run(w);
    return rc;
}

/*
 * Takes one chunk (value is its Tributary-Chunk header): adds it to the
 * open run, or completes and decodes the event on the run's last item,
 * or sets it aside. Chunk 1 drops a run that was open (the event is being
 * sent again after a crash); a chunk that does not follow in order, a
 * different k, an unreadable header, or a run over CDC_CHUNK_MAX_BYTES
 * send the run so far and the chunk to the dead letters.
 */
static int take_chunk(struct worker *w, struct item *it, const char *value,
                      struct cdc_err *err)
{
    char reason[CDC_ERR_MSG_MAX + 64];
    size_t start = open_run_start(w);
    uint32_t want = w->chunk.next;
    uint32_t want_k = w->chunk.count;
    uint32_t i = 0;
    uint32_t k = 0;
    uint32_t dropped = 0;
    enum cdc_chunk_step step = CDC_CHUNK_BAD;
    bool parsed = cdc_chunk_parse(value, &i, &k) == CDC_OK;
    if (parsed)
        step = cdc_chunk_seq_step(&w->chunk, i, k, &dropped);

    if (step == CDC_CHUNK_BAD) {
        if (!parsed)
            snprintf(reason, sizeof(reason),
                     "malformed " CDC_CHUNK_HEADER " header \"%.40s\"", value);
        else if (want == 0)
            snprintf(reason, sizeof(reason),
                     "chunk %u/%u without the chunks before it", (unsigned)i,
                     (unsigned)k);
        else
            snprintf(reason, sizeof(reason),
                     "incomplete event: chunk %u/%u came where chunk %u/%u "
                     "was expected",
                     (unsigned)i, (unsigned)k, (unsigned)want,
                     (unsigned)want_k);
        int rc = release_run(w, start, reason, err);
        reset_run(w);
        return rc == CDC_OK ? dead_letter(w, it->msg, reason, err) : rc;
    }
    if (dropped > 0) {
        if (start < w->nitems)
            cdc_log(CDC_LOG_WARN, "worker",
                    "dropping %u chunks of an incomplete event before stream "
                    "sequence %" PRIu64 ": its chunk 1 came again",
                    (unsigned)dropped, it->seq);
        release_run(w, start, NULL, err);
        cdc_buf_reset(&w->chunk_data);
        w->chunk_rejected = false;
    }
    if (i == 1)
        start = w->nitems;

    snprintf(reason, sizeof(reason), "chunk %u/%u of an event over %zu bytes",
             (unsigned)i, (unsigned)k, (size_t)CDC_CHUNK_MAX_BYTES);
    if (w->chunk_rejected) {
        if (step == CDC_CHUNK_LAST)
            reset_run(w);
        return dead_letter(w, it->msg, reason, err);
    }
    size_t len = 0;
    const void *data = cdc_js_msg_data(it->msg, &len);
    if (cdc_buf_append(&w->chunk_data, data, len) != CDC_OK) {
        int rc = release_run(w, start, reason, err);
        if (rc == CDC_OK)
            rc = dead_letter(w, it->msg, reason, err);
        cdc_buf_release(&w->chunk_data);
        /* the rest of the run follows these as it comes */
        w->chunk_rejected = step == CDC_CHUNK_MORE;
        return rc;
    }
    if (step == CDC_CHUNK_MORE) {
        /* open until its last chunk, so no batch ends inside the run */
        it->has_tx = true;
        it->tx_end = false;
        it->part = true;
        return CDC_OK;
    }
    int rc = CDC_OK;
    if (!decode_item(w, it, w->chunk_data.data, w->chunk_data.len, reason,
                     sizeof(reason))) {
        rc = release_run(w, start, reason, err);
        if (rc == CDC_OK)
            rc = dead_letter(w, it->msg, reason, err);
    }
    reset_run(w);
    return rc;
}

/* Takes a message that is not a chunk (compressed or not): one item for a
 * single event, one per event for a pack, all but the last marked so that
 * no batch ends inside the message. */
static int take_events(struct worker *w, struct item *it, const void *data,
                       size_t len, struct cdc_err *err)
{
    struct cdc_event *evs = NULL;
    size_t n = 0;
    struct cdc_err derr;
    cdc_err_clear(&derr);
    if (cdc_zip_open(w->zip, cdc_js_msg_header(it->msg, CDC_ZIP_HEADER), data,
                     len, &w->unzipped, &data, &len, &derr) != CDC_OK ||
        cdc_event_decode_msg(data, len, &w->arenas[w->cur], &evs, &n, &derr) !=
            CDC_OK) {
        char reason[CDC_ERR_MSG_MAX + 32];
        snprintf(reason, sizeof(reason), "cannot decode event: %s", derr.msg);
        int rc = dead_letter(w, it->msg, reason, err);
        if (rc != CDC_OK) {
            cdc_js_msg_free(it->msg);
            return rc;
        }
        push_item(w, it);
        return CDC_OK;
    }
    reserve_items(w, w->nitems + n);
    cdc_metric_add(w->m_received, NULL, n);
    for (size_t i = 0; i < n; i++) {
        struct item e = *it;
        e.packed = n > 1;
        e.has_tx = true;
        e.part = i + 1 < n;
        e.shared = i + 1 < n;
        e.tx_end = !e.part && evs[i].tx_end;
        if (sink_mark_covers(&w->mark, &evs[i])) {
            count_skip(w, &evs[i], it->seq);
        } else {
            char reason[CDC_ERR_MSG_MAX];
            enum worker_verdict v =
                run_pipeline(w, &evs[i], reason, sizeof(reason));
            if (v == WORKER_PASS)
                e.ev = &evs[i];
            if (v == WORKER_REJECT) {
                int rc = dead_letter_ev(w, it->msg, n > 1 ? &evs[i] : NULL,
                                        reason, err);
                if (rc != CDC_OK) {
                    /* the message is owned by the items taken so far */
                    if (i == 0)
                        cdc_js_msg_free(it->msg);
                    else
                        w->items[w->nitems - 1].shared = false;
                    return rc;
                }
            }
        }
        push_item(w, &e);
    }
    return CDC_OK;
}

static int take_message(struct worker *w, struct cdc_js_msg *msg,
                        struct cdc_err *err)
{
    uint64_t seq = cdc_js_msg_stream_seq(msg);
    /* a redelivery of something this process already holds or wrote */
    if (seq != 0 && seq <= w->max_seq_seen) {
        cdc_js_msg_free(msg);
        return CDC_OK;
    }
    w->max_seq_seen = seq;
    size_t bytes = 0;
    cdc_js_msg_data(msg, &bytes);
    cdc_metric_add(w->m_bytes, NULL, bytes);
    struct item it = {.msg = msg, .seq = seq};
    const char *chunk = cdc_js_msg_header(msg, CDC_CHUNK_HEADER);
    int rc = CDC_OK;
    if (chunk != NULL) {
        rc = take_chunk(w, &it, chunk, err);
    } else {
        if (cdc_chunk_seq_open(&w->chunk))
            rc = end_run_early(w, msg, err);
        size_t len = 0;
        const void *data = cdc_js_msg_data(msg, &len);
        if (rc == CDC_OK)
            return take_events(w, &it, data, len, err);
    }
    if (rc != CDC_OK) {
        cdc_js_msg_free(msg);
        return rc;
    }
    push_item(w, &it);
    return CDC_OK;
}

/* ==== Commit ==== */

/* The events of msg (fetched, or read from the stream) into *evs (in
 * arena, a compressed payload opened into unzipped); false when it is a
 * chunk, cannot be read or holds none. */
static bool stored_events(const struct worker *w, struct cdc_js_msg *msg,
                          struct cdc_arena *arena, struct cdc_buf *unzipped,
                          struct cdc_event **evs, size_t *n)
{
    size_t len = 0;
    const void *data = cdc_js_msg_data(msg, &len);
    struct cdc_err err;
    cdc_err_clear(&err);
    *n = 0;
    return cdc_js_msg_header(msg, CDC_CHUNK_HEADER) == NULL &&
           cdc_zip_open(w->zip, cdc_js_msg_header(msg, CDC_ZIP_HEADER), data,
                        len, unzipped, &data, &len, &err) == CDC_OK &&
           cdc_event_decode_msg(data, len, arena, evs, n, &err) == CDC_OK &&
           *n > 0;
}

/* The change ev (one of several in msg, perhaps changed by rules and
 * routing) as it came in msg, so its dead letter can go through rules and
 * routing again when replayed. ev itself if it cannot be found. */
static const struct cdc_event *original_event(struct worker *w,
                                              struct cdc_js_msg *msg,
                                              const struct cdc_event *ev,
                                              struct cdc_arena *arena)
{
    struct cdc_event *evs = NULL;
    size_t n = 0;
    if (!stored_events(w, msg, arena, &w->unzipped, &evs, &n))
        return ev;
    for (size_t i = 0; i < n; i++)
        if (evs[i].tx_index == ev->tx_index && evs[i].position != NULL &&
            ev->position != NULL && strcmp(evs[i].position, ev->position) == 0)
            return &evs[i];
    return ev;
}

/* Counts a committed batch's events by table, and the lag of its last
 * change with a commit time. */
static void count_applied(struct worker *w, const struct cdc_batch *batch)
{
    char label[CDC_NAME_MAX * 2];
    const struct cdc_event *first = NULL; /* of the run of one table */
    uint64_t n = 0;
    const char *commit_time = NULL;
    for (size_t i = 0; i <= batch->n; i++) {
        const struct cdc_event *ev = i < batch->n ? batch->events[i] : NULL;
        bool same = ev != NULL && first != NULL &&
                    strcmp(ev->schema ? ev->schema : "",
                           first->schema ? first->schema : "") == 0 &&
                    strcmp(ev->table ? ev->table : "",
                           first->table ? first->table : "") == 0;
        if (!same && n > 0) {
            table_label(first, label, sizeof(label));
            cdc_metric_add(w->m_applied, label, n);
            n = 0;
        }
        if (ev == NULL)
            break;
        if (!same)
            first = ev;
        n++;
        if (ev->commit_time != NULL)
            commit_time = ev->commit_time;
    }
    int64_t at = 0;
    if (commit_time != NULL && cdc_time_parse_us(commit_time, &at) == CDC_OK) {
        double lag = (double)(cdc_wall_us() - at) / 1e6;
        cdc_metric_set(w->m_lag, NULL, lag > 0 ? lag : 0);
    }
}

enum write_mode {
    WRITE_NOW,    /* write, and retry until done */
    WRITE_DEFER,  /* the first attempt may go on in the background */
    WRITE_SETTLE, /* the sink went on in the background: its outcome first */
};

/*
 * Writes the batch in flight: retries what may pass later, sets aside what
 * the sink rejects for good (its messages to the dead letters) and writes
 * the rest. CDC_PENDING when the sink goes on writing it in the
 * background (WRITE_DEFER), finished by settle_flight.
 */
static int write_batch(struct worker *w, enum write_mode mode,
                       struct cdc_err *err)
{
    struct item *items = w->flight;
    size_t cut = w->nflight;
    struct cdc_batch *batch = &w->fl_batch;
    size_t *origin = w->fl_origin;
    int rc = CDC_OK;
    if (mode != WRITE_SETTLE)
        cdc_backoff_reset(&w->bo);
    for (;;) {
        int64_t started = w->flight_started;
        if (mode == WRITE_SETTLE) {
            /* the batch is as the sink took it */
            cdc_err_clear(err);
            rc = w->ops->settle(w->snk, err);
        } else {
            batch->n = 0;
            for (size_t i = 0; i < cut; i++) {
                if (items[i].ev == NULL)
                    continue;
                origin[batch->n] = i;
                batch->seqs[batch->n] = items[i].seq;
                batch->events[batch->n++] = items[i].ev;
            }
            if (batch->n == 0)
                break;
            cdc_err_clear(err);
            started = cdc_wall_us();
            batch->may_defer = mode == WRITE_DEFER && w->ops->settle != NULL;
            rc = w->ops->write(w->snk, batch, err);
            batch->may_defer = false;
            if (rc == CDC_PENDING) {
                w->flight_started = started;
                return rc;
            }
        }
        mode = WRITE_NOW;
        if (rc == CDC_OK)
            rc = w->ops->flush(w->snk, err);
        cdc_health_report("sink",
                          rc == CDC_OK || !(err->flags & CDC_ERR_RETRIABLE),
                          err->msg);
        if (rc == CDC_OK) {
            cdc_metric_observe(w->m_latency, NULL,
                               (double)(cdc_wall_us() - started) / 1e6);
            cdc_metric_observe(w->m_batch, NULL, (double)batch->n);
            break;
        }
        cdc_metric_add(w->m_retries, "sink", 1);
        if ((err->flags & CDC_ERR_POISON) && err->index < batch->n) {
            size_t at = origin[err->index];
            struct item *bad = &items[at];
            /* a rejection may pass (a row another writer of the target is
             * about to change): try again a few times before setting the
             * change aside */
            if (bad->seq != w->reject_seq) {
                w->reject_seq = bad->seq;
                w->reject_count = 0;
            }
            if (++w->reject_count < w->reject_attempts &&
                !(err->flags & CDC_ERR_FINAL) && !cdc_stop_requested) {
                int64_t wait = cdc_backoff_next(&w->bo);
                cdc_log(CDC_LOG_WARN, "worker",
                        "change at stream sequence %" PRIu64
                        " rejected, attempt %u of %u: %s; retrying in %lld ms",
                        bad->seq, w->reject_count, w->reject_attempts, err->msg,
                        (long long)wait);
                cdc_js_msg_in_progress(items[cut - 1].msg);
                cdc_sleep_ms(wait);
                continue;
            }
            char reason[CDC_ERR_MSG_MAX + 32];
            snprintf(reason, sizeof(reason), "sink \"%s\" rejected event: %s",
                     w->ops->name, err->msg);
            /* a chunked event goes whole: every message of its run; one
             * event of a packed message goes alone */
            size_t first = at;
            while (!bad->packed && first > 0 && items[first - 1].part)
                first--;
            int drc = CDC_OK;
            struct cdc_arena orig_arena;
            cdc_arena_init(&orig_arena);
            const struct cdc_event *orig =
                bad->packed ? original_event(w, bad->msg, bad->ev, &orig_arena)
                            : NULL;
            for (size_t k = first; k <= at && drc == CDC_OK; k++)
                drc = dead_letter_ev(w, items[k].msg, orig, reason, err);
            cdc_arena_release(&orig_arena);
            if (drc != CDC_OK) {
                rc = drc;
                break;
            }
            bad->ev = NULL;
            w->reject_count = 0;
            rc = CDC_OK; /* set aside: an empty rest is done */
            continue;
        }
        if (!(err->flags & CDC_ERR_RETRIABLE) || cdc_stop_requested)
            break;
        int64_t wait = cdc_backoff_next(&w->bo);
        cdc_log(CDC_LOG_WARN, "worker",
                "could not write to sink \"%s\": %s; retrying in %lld ms "
                "(nothing is acknowledged meanwhile)",
                w->ops->name, err->msg, (long long)wait);
        cdc_js_msg_in_progress(items[cut - 1].msg);
        cdc_sleep_ms(wait);
    }
    if (rc == CDC_OK && batch->n > 0) {
        const struct cdc_event *ev = batch->events[batch->n - 1];
        w->mark.set = true;
        w->mark.stream_seq = batch->seqs[batch->n - 1];
        w->mark.tx_index = ev->tx_index;
        snprintf(w->mark.position, sizeof(w->mark.position), "%s",
                 ev->position);
        snprintf(w->mark.source, sizeof(w->mark.source), "%s", ev->source);
        w->written += batch->n;
        count_applied(w, batch);
    }
    return rc;
}

/* Moves items [0, cut) into the flight, the rest to the front. */
static void take_flight(struct worker *w, size_t cut)
{
    if (cut > w->flight_cap) {
        size_t cap = w->flight_cap * 2 > cut ? w->flight_cap * 2 : cut;
        w->flight = cdc_xrealloc(w->flight, cap * sizeof(*w->flight));
        w->fl_batch.events =
            cdc_xrealloc(w->fl_batch.events, cap * sizeof(*w->fl_batch.events));
        w->fl_batch.seqs =
            cdc_xrealloc(w->fl_batch.seqs, cap * sizeof(*w->fl_batch.seqs));
        w->fl_origin = cdc_xrealloc(w->fl_origin, cap * sizeof(*w->fl_origin));
        w->flight_cap = cap;
    }
    memcpy(w->flight, w->items, cut * sizeof(*w->items));
    w->nflight = cut;
    memmove(w->items, w->items + cut, (w->nitems - cut) * sizeof(*w->items));
    w->nitems -= cut;
    if (w->nitems > 0)
        w->first_item_ms = cdc_now_ms();
}

/* Acknowledges the flight (cumulatively: every earlier message too) and
 * lets its messages go. */
static void land_flight(struct worker *w)
{
    struct cdc_err aerr;
    cdc_err_clear(&aerr);
    if (cdc_js_msg_ack(w->flight[w->nflight - 1].msg, &aerr) != CDC_OK)
        cdc_log(CDC_LOG_WARN, "worker",
                "could not acknowledge up to stream sequence %" PRIu64
                ": %s (the events will come again and be skipped)",
                w->flight[w->nflight - 1].seq, aerr.msg);
    for (size_t i = 0; i < w->nflight; i++)
        if (!w->flight[i].shared)
            cdc_js_msg_free(w->flight[i].msg);
    w->nflight = 0;
}

/* Moves the pending items' events into the other arena, which becomes
 * the current one; the old one is rewound unless the flight's events are
 * in it. */
static void switch_arena(struct worker *w, bool keep_old)
{
    int next = 1 - w->cur;
    cdc_arena_reset(&w->arenas[next]);
    for (size_t i = 0; i < w->nitems; i++)
        if (w->items[i].ev != NULL)
            w->items[i].ev = cdc_event_copy(w->items[i].ev, &w->arenas[next]);
    if (!keep_old)
        cdc_arena_reset(&w->arenas[w->cur]);
    w->cur = next;
}

/* Finishes the batch the sink writes in the background, if any. */
static int settle_flight(struct worker *w, struct cdc_err *err)
{
    if (!w->flight_on)
        return CDC_OK;
    w->flight_on = false;
    int rc = write_batch(w, WRITE_SETTLE, err);
    if (rc != CDC_OK)
        return rc;
    land_flight(w);
    /* the flight's arena: nothing else is in it */
    cdc_arena_reset(&w->arenas[1 - w->cur]);
    return CDC_OK;
}

/* Whether the consumer has enough behind the last message it sent to fill
 * the pending batch: a fetch that ended short then only ended before the
 * server sent the rest (as when a large copy is being stored at the same
 * time), and the batch waits for it. A few messages behind, as on a steady
 * stream, are not waited for: the batch goes, so latency stays low. */
static bool more_coming(const struct worker *w)
{
    size_t limit = batch_limit(w);
    size_t room = w->nitems < limit ? limit - w->nitems : 0;
    size_t per = w->per_msg > 0 ? w->per_msg : 1;
    return w->behind > 0 && w->behind >= (room + per - 1) / per;
}

/* Writes items [0, cut) and acknowledges them once written. While more
 * is known to be on the way, a sink may write them in the background:
 * the loop then reads the next batch meanwhile, and this one is settled
 * before the next is written, or before the loop waits for more. */
static int commit(struct worker *w, size_t cut, struct cdc_err *err)
{
    int rc = settle_flight(w, err);
    if (rc != CDC_OK)
        return rc;
    take_flight(w, cut);
    rc = write_batch(w, more_coming(w) ? WRITE_DEFER : WRITE_NOW, err);
    if (rc == CDC_PENDING) {
        w->flight_on = true;
        switch_arena(w, true);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    land_flight(w);
    switch_arena(w, false);
    return CDC_OK;
}

static size_t find_cut(struct worker *w, bool idle, bool stopping)
{
    for (size_t i = 0; i < w->nitems; i++) {
        w->has_tx[i] = w->items[i].has_tx;
        w->tx_end[i] = w->items[i].tx_end;
    }
    /* a fetch of packed messages may bring more than a batch: the batch
     * is cut within its first batch_size items, and the rest of a message
     * or run of chunks that they end inside */
    size_t limit = batch_limit(w);
    size_t n = w->nitems < limit ? w->nitems : limit;
    while (n < w->nitems && w->items[n - 1].part)
        n++;
    size_t wanted =
        worker_batch_cut(w->has_tx, w->tx_end, n, limit, idle, stopping);
    /* a full or idle batch may split a transaction, never a run of
     * chunks or a packed message: the acknowledgement of its end would
     * cover the first part, which a crash would then lose */
    size_t cut = wanted;
    while (cut > 0 && w->items[cut - 1].part)
        cut--;
    if (cut == 0 && wanted > 0 && w->items[0].packed) {
        /* a packed message larger than a batch: it goes whole */
        size_t e = 0;
        while (e < w->nitems && w->items[e].part)
            e++;
        if (e < w->nitems)
            cut = e + 1;
    }
    return cut;
}

/* ==== Setup and loop ==== */

/* The events of a message read from the stream, with what holds them. */
struct stored {
    struct cdc_arena arena;
    struct cdc_buf unzipped;
    struct cdc_event *evs;
    size_t n;
};

/* Reads msg's events into st (st->n is 0 when there are none to read);
 * stored_close releases them either way. */
static void stored_open(const struct worker *w, struct cdc_js_msg *msg,
                        struct stored *st)
{
    cdc_arena_init(&st->arena);
    cdc_buf_init(&st->unzipped, 0);
    st->evs = NULL;
    if (!stored_events(w, msg, &st->arena, &st->unzipped, &st->evs, &st->n))
        st->n = 0;
}

static void stored_close(struct stored *st)
{
    cdc_arena_release(&st->arena);
    cdc_buf_release(&st->unzipped);
}

/* Whether msg, read from the stream, holds the event the sink recorded
 * last: as one of its chunks (whose msgid is the event's own plus
 * "#i/k"), or as one of its events. */
static bool holds_mark(const struct worker *w, struct cdc_js_msg *msg)
{
    const struct sink_mark *mark = &w->mark;
    if (cdc_js_msg_header(msg, CDC_CHUNK_HEADER) != NULL) {
        const char *id = cdc_js_msg_header(msg, "Nats-Msg-Id");
        struct cdc_buf want;
        size_t base = 0;
        uint32_t i = 0;
        uint32_t k = 0;
        cdc_buf_init(&want, 0);
        cdc_event_msgid(&want, w->group, mark->position, mark->tx_index);
        bool same = id != NULL && cdc_chunk_msgid_split(id, &base, &i, &k) &&
                    base == want.len && memcmp(id, want.data, base) == 0;
        cdc_buf_release(&want);
        return same;
    }
    struct stored st;
    bool found = false;
    stored_open(w, msg, &st);
    for (size_t j = 0; j < st.n && !found; j++)
        found = st.evs[j].tx_index == mark->tx_index &&
                st.evs[j].position != NULL && st.evs[j].source != NULL &&
                strcmp(st.evs[j].position, mark->position) == 0 &&
                strcmp(st.evs[j].source, mark->source) == 0;
    stored_close(&st);
    return found;
}

/* Whether the stream's first message (at seq) begins with an event of the
 * sink's source at or below the sink's last one: then the stream is older
 * than what the sink wrote last, not one made anew since. */
static int begins_below_mark(struct worker *w, uint64_t seq, bool *below,
                             struct cdc_err *err)
{
    struct cdc_js_msg *msg = NULL;
    *below = false;
    int rc = cdc_js_stream_msg_get(w->js, w->stream, seq, &msg, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    struct stored st;
    stored_open(w, msg, &st);
    const struct cdc_event *first = st.n > 0 ? &st.evs[0] : NULL;
    *below = first != NULL && first->position != NULL &&
             first->source != NULL &&
             strcmp(first->source, w->mark.source) == 0 &&
             cdc_position_cmp(w->mark.source, first->position, first->tx_index,
                              w->mark.position, w->mark.tx_index) <= 0;
    stored_close(&st);
    cdc_js_msg_free(msg);
    return CDC_OK;
}

/*
 * Where a new consumer starts: at the message of the last event the sink
 * holds, so what it wrote is not read again (a message may pack several
 * events, not all of them written; the position check skips those that
 * are). That message must still be the sink's: a stream deleted and made
 * anew (by --cleanup, by hand, or lost with the server's storage) numbers
 * from 1 again and may have grown past the recorded sequence, and starting
 * there would pass over its first messages. So the consumer starts at the
 * recorded sequence when the message there holds the sink's last event,
 * when the stream no longer reaches back that far, or when the message
 * there is gone but the stream begins at or below the sink's last event
 * (a message removed from the same stream). Otherwise the stream was made
 * anew: the consumer starts at its beginning, and the position check skips
 * what the sink holds. Reading an old stream from its beginning would not
 * do: copied rows are written whenever they come, and would take back
 * their copied values.
 */
static int start_seq(void *arg, uint64_t *start, struct cdc_err *err)
{
    struct worker *w = arg;
    uint64_t seq = w->mark.set ? w->mark.stream_seq : 0;
    *start = 0;
    if (seq == 0)
        return CDC_OK;
    struct cdc_js_stream_state st;
    int rc = cdc_js_stream_info_ex(w->js, w->stream, &st, err);
    if (rc != CDC_OK)
        return rc;
    if (seq > st.last_seq) {
        cdc_log(CDC_LOG_INFO, "worker",
                "stream \"%s\" ends at sequence %" PRIu64
                ", before the sink's last event (sequence %" PRIu64
                "): it was made anew; reading it from its beginning and "
                "skipping what the sink holds",
                w->stream, st.last_seq, seq);
        return CDC_OK;
    }
    if (st.first_seq > seq) {
        /* the messages up to it are gone: the same start either way */
        *start = seq;
        return CDC_OK;
    }
    struct cdc_js_msg *msg = NULL;
    rc = cdc_js_stream_msg_get(w->js, w->stream, seq, &msg, err);
    if (rc != CDC_OK && rc != CDC_ENOTFOUND)
        return rc;
    cdc_err_clear(err);
    bool there = msg != NULL;
    bool ours = there && holds_mark(w, msg);
    cdc_js_msg_free(msg);
    bool older = false;
    if (!there) {
        rc = begins_below_mark(w, st.first_seq, &older, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (ours || older) {
        if (older)
            cdc_log(CDC_LOG_WARN, "worker",
                    "stream \"%s\" has no message at sequence %" PRIu64
                    ", where the sink's last event (%s %s, index %u) was, "
                    "but it begins before that event: the message was "
                    "removed; starting after it",
                    w->stream, seq, w->mark.source, w->mark.position,
                    (unsigned)w->mark.tx_index);
        *start = seq;
        return CDC_OK;
    }
    cdc_log(CDC_LOG_WARN, "worker",
            "stream \"%s\" %s at sequence %" PRIu64 ", where the sink's "
            "last event (%s %s, index %u) was: the stream was made anew; "
            "reading it from its beginning and skipping what the sink "
            "holds by position",
            w->stream, there ? "has another event" : "has no message", seq,
            w->mark.source, w->mark.position, (unsigned)w->mark.tx_index);
    return CDC_OK;
}

/* Binds to the durable consumer, creating it if missing (see start_seq
 * for where a new one starts). */
static int open_consumer(struct worker *w, struct cdc_err *err)
{
    const struct cdc_conf *cfg = w->cfg;
    char subjects[CDC_NAME_MAX];
    cdc_name_stream_subjects(w->group, subjects, sizeof(subjects));
    struct cdc_js_consumer_cfg cc = {
        .stream = w->stream,
        .durable = w->durable,
        .filter_subject = subjects,
        .ack_wait_ms = cdc_conf_get_int(cfg, "ack-wait"),
        /* room for a full batch plus one fetch ahead, plus the longest
         * run of chunks, which is held unacknowledged until it is whole */
        .max_ack_pending =
            (int64_t)w->batch_size * 2 + 16 + CDC_CHUNK_MAX_COUNT,
        .choose_start = start_seq,
        .choose_arg = w,
    };
    return cdc_js_consumer_open(w->js, &cc, &w->cons, err);
}

/* While nothing arrives, checks now and then that the consumer still
 * exists on the server: one deleted under the worker (by hand, or lost
 * with the server's state) is made again from the sink's last applied
 * position, never from the start of the stream. */
static int check_consumer(struct worker *w, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();
    if (now - w->consumer_checked_ms < CONSUMER_CHECK_MS ||
        now - w->last_arrival_ms < CONSUMER_CHECK_MS || w->nitems > 0)
        return CDC_OK;
    w->consumer_checked_ms = now;
    uint64_t pending = 0;
    uint64_t ack_pending = 0;
    int rc = cdc_js_consumer_pending(w->cons, &pending, &ack_pending, err);
    if (rc != CDC_ENOTFOUND)
        return CDC_OK; /* other failures show in the fetches */
    cdc_log(CDC_LOG_WARN, "worker",
            "consumer \"%s\" is gone from the server; making it again from "
            "the sink's last applied event (stream sequence %" PRIu64 ")",
            w->durable, w->mark.set ? w->mark.stream_seq : 0);
    struct cdc_js_consumer *old = w->cons;
    cdc_err_clear(err);
    rc = open_consumer(w, err);
    if (rc != CDC_OK) {
        /* the next quiet spell tries again */
        w->cons = old;
        cdc_log(CDC_LOG_WARN, "worker", "%s", err->msg);
        cdc_err_clear(err);
        return CDC_OK;
    }
    cdc_js_consumer_close(old);
    return CDC_OK;
}

/* While metrics are served: what the consumer has not delivered, and
 * what it delivered and waits to have acknowledged. */
static void measure_pending(struct worker *w, int64_t now)
{
    if (cdc_metrics_port() == 0 || now - w->pending_ms < PENDING_INTERVAL_MS)
        return;
    w->pending_ms = now;
    uint64_t pending = 0;
    uint64_t ack_pending = 0;
    struct cdc_err err;
    cdc_err_clear(&err);
    if (cdc_js_consumer_pending(w->cons, &pending, &ack_pending, &err) !=
        CDC_OK)
        return;
    cdc_metric_set(w->m_pending, NULL, (double)pending);
    cdc_metric_set(w->m_ack_pending, NULL, (double)ack_pending);
}

/*
 * Takes the lease on the durable consumer, as a standby until the worker
 * holding it stops. The sink was opened before (so a bad sink setting
 * shows at once); after a wait it is opened again, since the worker that
 * held the lease moved the sink's record of what it applied.
 */
static int take_lease(struct worker *w, struct cdc_err *err)
{
    char bucket[CDC_NAME_MAX];
    char key[CDC_NAME_MAX + 16];
    cdc_name_kv(w->group, bucket, sizeof(bucket));
    int rc = cdc_js_kv_open(w->js, bucket, &w->kv, err);
    if (rc != CDC_OK)
        return rc;
    cdc_name_lease_key(w->durable, key, sizeof(key));
    bool waited = false;
    rc = lease_acquire(w->kv, key, cdc_conf_get_int(w->cfg, "lease-ttl"),
                       &w->lease, &waited, err);
    if (rc != CDC_OK || !waited)
        return rc;
    w->ops->close(w->snk);
    w->snk = NULL;
    memset(&w->mark, 0, sizeof(w->mark));
    return w->ops->open(w->cfg, w->group, &w->snk, &w->mark, err);
}

/* Whether the batch cut (0: none) may be written now: not while the lease
 * waits to be renewed (NATS out of reach), and never again once another
 * worker took it over (CDC_ESTATE). */
static int lease_check(struct worker *w, size_t *cut, struct cdc_err *err)
{
    int ok = lease_writable(w->lease, err);
    if (ok < 0)
        return CDC_ESTATE;
    if (*cut == 0)
        return CDC_OK;
    if (ok == 0) {
        if (!w->lease_paused)
            cdc_log(CDC_LOG_WARN, "worker",
                    "writes paused: the lease on consumer \"%s\" could not "
                    "be renewed",
                    w->durable);
        w->lease_paused = true;
        *cut = 0;
        cdc_sleep_ms(100);
    } else if (w->lease_paused) {
        cdc_log(CDC_LOG_INFO, "worker", "lease renewed: writes go on");
        w->lease_paused = false;
    }
    return CDC_OK;
}

static int setup(struct worker *w, struct cdc_err *err)
{
    const struct cdc_conf *cfg = w->cfg;
    struct cdc_js_opts jo;
    char name[CDC_NAME_MAX];
    char stream[CDC_NAME_MAX];
    char subjects[CDC_NAME_MAX];
    char dlq[CDC_NAME_MAX];
    char dlq_subjects[CDC_NAME_MAX];

    snprintf(name, sizeof(name), "tributary-worker-%s-%s", w->ops->name,
             w->group);
    cdc_js_opts_from_conf(cfg, name, &jo);
    int rc = cdc_js_open(&jo, &w->js, err);
    if (rc != CDC_OK)
        return rc;
    /* the sink first: a bad sink setting should leave nothing behind */
    rc = w->ops->open(cfg, w->group, &w->snk, &w->mark, err);
    if (rc != CDC_OK)
        return rc;

    /* the stream as the replicator would create it, so a worker may start
     * first; an existing stream is kept as it is */
    cdc_name_stream(w->group, stream, sizeof(stream));
    cdc_name_stream_subjects(w->group, subjects, sizeof(subjects));
    int64_t max_age_ms = 0;
    int64_t dup_window_ms = 0;
    rc = cdc_parse_duration_ms(CDC_STREAM_MAX_AGE_DEFAULT, &max_age_ms);
    if (rc == CDC_OK)
        rc = cdc_parse_duration_ms(CDC_DEDUP_WINDOW_DEFAULT, &dup_window_ms);
    CDC_ASSERT(rc == CDC_OK);
    struct cdc_js_stream_cfg sc = {
        .name = stream,
        .subject = subjects,
        .max_age_ms = max_age_ms,
        .dup_window_ms = dup_window_ms,
    };
    rc = cdc_js_stream_ensure(w->js, &sc, err);
    if (rc != CDC_OK)
        return rc;
    cdc_name_dlq_stream(w->group, dlq, sizeof(dlq));
    snprintf(dlq_subjects, sizeof(dlq_subjects), "tributary_dlq.%s.>",
             w->group);
    struct cdc_js_stream_cfg dc = {
        .name = dlq,
        .subject = dlq_subjects,
        .max_age_ms = 0,
        .dup_window_ms = dup_window_ms,
    };
    rc = cdc_js_stream_ensure(w->js, &dc, err);
    if (rc != CDC_OK)
        return rc;
    cdc_name_dlq_subject(w->group, w->ops->name, w->dlq_subject,
                         sizeof(w->dlq_subject));

    const char *consumer = cdc_conf_get_str(cfg, "consumer");
    if (consumer != NULL)
        snprintf(w->durable, sizeof(w->durable), "%s", consumer);
    else
        snprintf(w->durable, sizeof(w->durable), "%s_%s", w->ops->name,
                 w->group);
    snprintf(w->stream, sizeof(w->stream), "%s", stream);
    rc = take_lease(w, err);
    if (rc != CDC_OK)
        return rc;
    rc = open_consumer(w, err);
    if (rc != CDC_OK)
        return rc;
    cdc_log(CDC_LOG_INFO, "worker",
            "reading stream \"%s\" with consumer \"%s\" into sink \"%s\"",
            stream, w->durable, w->ops->name);
    if (w->pipe != NULL && w->pipe->rules != NULL)
        cdc_log(CDC_LOG_INFO, "worker", "applying %zu rules from \"%s\"",
                rules_count(w->pipe->rules),
                cdc_conf_get_str(cfg, "rules-config"));
    if (w->pipe != NULL && w->pipe->routes != NULL)
        cdc_log(CDC_LOG_INFO, "worker", "applying %zu routes from \"%s\"",
                route_count(w->pipe->routes),
                cdc_conf_get_str(cfg, "routing-config"));
    return CDC_OK;
}

/*
 * How many messages to fetch next (at most batch_size) and how long to
 * wait for them. A run of chunks is fetched whole even past a full batch,
 * since no batch can end inside it; when the run is all that is pending,
 * nothing can be committed before its last chunk, so the fetch asks for
 * just the rest of the run and may wait longer for it.
 */
static size_t fetch_plan(const struct worker *w, int64_t batch_wait,
                         int64_t *wait)
{
    size_t limit = batch_limit(w);
    size_t want = w->nitems < limit ? limit - w->nitems : 0;
    /* messages may pack several events: ask for as many messages as fill
     * the batch if each holds as many as the fullest of the last fetch
     * (FETCH_MAX bounds a sudden change) */
    if (want > 0 && w->per_msg > 1) {
        want /= w->per_msg;
        if (want == 0)
            want = 1;
    } else if (want > FIRST_FETCH && w->per_msg == 0) {
        want = FIRST_FETCH;
    }
    if (want > FETCH_MAX)
        want = FETCH_MAX;
    /* nothing pending: a fetch that finds the consumer empty waits for
     * all it asked for, so ask for the first message alone */
    if (w->nitems == 0 && want > 1 && !more_coming(w))
        want = 1;
    *wait = MAX_FETCH_WAIT_MS;
    if (w->nitems > 0) {
        *wait = w->first_item_ms + batch_wait - cdc_now_ms();
        if (*wait < 1)
            *wait = 1;
        /* with events in hand, an empty consumer means they are all
         * there is: the batch goes (see loop) instead of waiting; when
         * more are known to be there, they are waited for */
        if (*wait > DRAIN_WAIT_MS && !more_coming(w))
            *wait = DRAIN_WAIT_MS;
    }
    if (!cdc_chunk_seq_open(&w->chunk))
        return want;
    size_t rest = (size_t)(w->chunk.count - w->chunk.next) + 1;
    if (rest > w->batch_size)
        rest = w->batch_size;
    if (open_run_start(w) == 0) {
        *wait = MAX_FETCH_WAIT_MS;
        return rest;
    }
    return want > 0 ? want : rest;
}

static int loop(struct worker *w, struct cdc_err *err)
{
    const struct cdc_conf *cfg = w->cfg;
    int64_t batch_wait = cdc_conf_get_int(cfg, "batch-wait");
    int64_t idle_exit = cdc_conf_get_int(cfg, "idle-exit");
    uint64_t max_events = (uint64_t)cdc_conf_get_int(cfg, "max-events");
    int64_t last_progress = cdc_now_ms();
    uint64_t progress_base = 0;
    uint64_t skip_base = 0;
    /* a fetch asks for FETCH_MAX messages at most, a run of chunks for
     * batch_size */
    size_t ngot = w->batch_size > FETCH_MAX ? w->batch_size : FETCH_MAX;
    struct cdc_js_msg **got = cdc_xcalloc(ngot, sizeof(*got));
    int rc = CDC_OK;

    w->last_arrival_ms = cdc_now_ms();
    for (;;) {
        bool stopping = cdc_stop_requested != 0;
        size_t n = 0;
        int64_t wait = MAX_FETCH_WAIT_MS;
        /* a batch in flight is settled before waiting for more, unless
         * enough is known to be on the way (then it is read meanwhile) */
        if (w->flight_on && !more_coming(w)) {
            rc = settle_flight(w, err);
            if (rc != CDC_OK)
                break;
        }
        size_t want = fetch_plan(w, batch_wait, &wait);
        if (!stopping && want > 0) {
            rc = cdc_js_fetch(w->cons, want, wait, got, &n, err);
            cdc_health_report("nats", rc == CDC_OK, err->msg);
            if (rc != CDC_OK) {
                if (!(err->flags & CDC_ERR_RETRIABLE))
                    break;
                cdc_metric_add(w->m_retries, "nats", 1);
                int64_t delay = cdc_backoff_next(&w->bo);
                cdc_log(CDC_LOG_WARN, "worker", "%s; retrying in %lld ms",
                        err->msg, (long long)delay);
                cdc_sleep_ms(delay);
                rc = CDC_OK;
                n = 0;
            }
        }
        int64_t now = cdc_now_ms();
        if (n > 0)
            w->last_arrival_ms = now;
        /* what the consumer still had behind the last message (read
         * before the messages are taken, which may free them) */
        if (n > 0)
            w->behind = cdc_js_msg_pending(got[n - 1]);
        size_t taken = 0;
        size_t most = 0;
        for (; taken < n && rc == CDC_OK; taken++) {
            size_t before = w->nitems;
            rc = take_message(w, got[taken], err);
            if (w->nitems > before + most)
                most = w->nitems - before;
        }
        if (n > 0)
            w->per_msg = most;
        if (rc != CDC_OK) {
            /* the failing message was released by take_message */
            for (size_t i = taken; i < n; i++)
                cdc_js_msg_free(got[i]);
            break;
        }
        bool idle = n == 0 && now - w->last_arrival_ms >= batch_wait;
        /* what was said to be behind never came (expired, purged, or a
         * consumer made again): the stream is taken as read */
        if (idle)
            w->behind = 0;
        if (n == 0 && !stopping) {
            rc = check_consumer(w, err);
            if (rc != CDC_OK)
                break;
            /* nothing more to apply: no change is waiting */
            if (w->nitems == 0)
                cdc_metric_set(w->m_lag, NULL, 0);
        }
        measure_pending(w, now);
        bool due = w->nitems > 0 && now - w->first_item_ms >= batch_wait;
        /* the consumer had no more than this: whole transactions go now
         * (waiting would only add latency); a transaction whose end has
         * not come waits for it up to batch_wait. A fetch may also end
         * short because the rest of its messages are still on the way:
         * the last one says whether more were pending behind it */
        bool drained = n < want && !more_coming(w);
        size_t cut = 0;
        if (w->nitems > 0 &&
            (due || idle || drained || stopping || w->nitems >= batch_limit(w)))
            cut = find_cut(w, idle, stopping);
        rc = lease_check(w, &cut, err);
        if (rc != CDC_OK)
            break;
        if (cut > 0) {
            rc = commit(w, cut, err);
            if (rc != CDC_OK)
                break;
            cdc_backoff_reset(&w->bo);
        }
        if (stopping) {
            rc = settle_flight(w, err);
            break;
        }
        if (max_events > 0 && w->written + w->filtered >= max_events &&
            w->nitems == 0 && !w->flight_on) {
            cdc_log(CDC_LOG_INFO, "worker", "reached --max-events %" PRIu64,
                    max_events);
            break;
        }
        if (idle_exit > 0 && w->nitems == 0 && !w->flight_on &&
            now - w->last_arrival_ms >= idle_exit) {
            cdc_log(CDC_LOG_INFO, "worker", "no events for %lld ms: exiting",
                    (long long)idle_exit);
            break;
        }
        if (now - last_progress >= PROGRESS_INTERVAL_MS) {
            if (w->written != progress_base || w->skipped != skip_base)
                cdc_log(CDC_LOG_INFO, "worker",
                        "%" PRIu64 " events written (%.0f/s), %" PRIu64
                        " filtered, %" PRIu64
                        " skipped as already written, %" PRIu64 " dead letters",
                        w->written,
                        (double)(w->written - progress_base) * 1000.0 /
                            (double)(now - last_progress),
                        w->filtered, w->skipped, w->dead);
            progress_base = w->written;
            skip_base = w->skipped;
            last_progress = now;
        }
    }
    cdc_free(got);
    return rc;
}

int worker_run(const struct cdc_conf *cfg, const struct sink_ops *ops,
               const char *group, const struct worker_pipeline *pipe)
{
    struct worker w;
    struct cdc_err err;
    int code = WORKER_EXIT_OK;
    memset(&w, 0, sizeof(w));
    cdc_err_clear(&err);
    w.cfg = cfg;
    w.ops = ops;
    w.group = group;
    w.pipe = pipe;
    w.batch_size = (size_t)cdc_conf_get_int(cfg, "batch-size");
    w.reject_attempts = (unsigned)cdc_conf_get_int(cfg, "reject-attempts");
    w.items = cdc_xcalloc(w.batch_size, sizeof(*w.items));
    w.has_tx = cdc_xcalloc(w.batch_size, sizeof(bool));
    w.tx_end = cdc_xcalloc(w.batch_size, sizeof(bool));
    w.items_cap = w.batch_size;
    cdc_chunk_seq_init(&w.chunk);
    cdc_buf_init(&w.chunk_data, CDC_CHUNK_MAX_BYTES);
    cdc_buf_init(&w.unzipped, 0);
    w.zip = cdc_zip_new(0);
    cdc_arena_init(&w.arenas[0]);
    cdc_arena_init(&w.arenas[1]);
    cdc_backoff_init(&w.bo, cdc_conf_get_int(cfg, "retry-initial-wait"),
                     cdc_conf_get_int(cfg, "retry-max-wait"));
    metrics_register(&w);

    int rc = setup(&w, &err);
    if (rc == CDC_OK)
        rc = loop(&w, &err);
    if (rc != CDC_OK && rc != CDC_ESTOP) {
        cdc_log(CDC_LOG_ERROR, "worker", "%s", err.msg);
        code = rc == CDC_ECONFIG ? WORKER_EXIT_CONFIG : WORKER_EXIT_RUNTIME;
    } else {
        cdc_log(CDC_LOG_INFO, "worker",
                "stopped after %" PRIu64 " events written, %" PRIu64
                " filtered, %" PRIu64 " skipped, %" PRIu64 " dead letters",
                w.written, w.filtered, w.skipped, w.dead);
    }
    /* everything that matters is done: what follows only releases */
    cdc_shutdown_watchdog(SHUTDOWN_LIMIT_S, code);
    /* pending items were not acknowledged: they come again next time */
    for (size_t i = 0; i < w.nitems; i++)
        if (!w.items[i].shared)
            cdc_js_msg_free(w.items[i].msg);
    /* a batch still in flight is waited for by close, and comes again */
    if (w.snk != NULL)
        ops->close(w.snk);
    for (size_t i = 0; i < w.nflight; i++)
        if (!w.flight[i].shared)
            cdc_js_msg_free(w.flight[i].msg);
    /* given up only once nothing more is written */
    lease_close(w.lease);
    cdc_js_kv_close(w.kv);
    cdc_js_consumer_close(w.cons);
    cdc_js_close(w.js);
    cdc_js_library_close();
    cdc_arena_release(&w.arenas[0]);
    cdc_arena_release(&w.arenas[1]);
    cdc_free(w.items);
    cdc_free(w.flight);
    cdc_free(w.fl_batch.events);
    cdc_free(w.fl_batch.seqs);
    cdc_free(w.fl_origin);
    cdc_free(w.has_tx);
    cdc_free(w.tx_end);
    cdc_buf_release(&w.chunk_data);
    cdc_buf_release(&w.unzipped);
    cdc_zip_free(w.zip);
    return code;
}

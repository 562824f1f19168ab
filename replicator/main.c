/*
 * main.c: the replicator. One process per group: it reads changes from a
 * source, publishes each as one event to the group's JetStream stream with
 * a Nats-Msg-Id, and tells the source it may forget a checkpoint only once
 * JetStream has acknowledged every event before it. On any failure it
 * forgets what was not acknowledged, waits, and resumes from the last
 * acknowledged checkpoint; re-sent events are dropped by JetStream's
 * duplicate detection (and by the sinks' own position checks beyond it).
 * An event over the server's max_payload goes as a run of chunks (see
 * common.h); its checkpoint waits for the last chunk, and a run cut short
 * by a failure is sent again from its first chunk.
 * SIGINT/SIGTERM: stop reading, wait for the acknowledgements, confirm,
 * exit 0.
 */
#include "common/common.h"
#include "replicator/conf.h"
#include "replicator/source.h"
#include "replicator/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                  \
    "usage: replicator --group NAME [--tables T1,T2] [--host H] [--port P]\n"  \
    "                  [--dbname DB] [--user U] [--nats-url URL] [options]\n"  \
    "       replicator status --group NAME [options]   (the group's state)\n"  \
    "Captures changes of a source database (--source postgres, or mysql for\n" \
    "MySQL and MariaDB) into the group's JetStream stream.\n"

/* Progress is logged this often while events flow. */
#define PROGRESS_INTERVAL_MS 10000
/* Messages of other writers looked past, after a failure, to find the
 * stream's last event of ours. */
#define RESYNC_LOOK_BACK 1000
/* The confirmed position goes to the state bucket at most this often. */
#define KV_SAVE_INTERVAL_MS 5000
/* How long one poll may wait for the source before checking acks. */
#define POLL_TIMEOUT_MS 100
/* max_payload counts a message's headers too. Besides the two msgids
 * (counted by their length) they take the status line, the header names,
 * separators and the chunk header: well under this, with room to spare. */
#define HEADER_OVERHEAD 512
/* Consecutive changes of one table within one transaction share a message
 * (a pack, see common/event_pack.c) up to this many events or bytes:
 * JetStream's cost is per message (about 14 us of server CPU here) and
 * per byte, so a bulk change costs a fraction of it per row, while a
 * message stays small enough for a worker to hold many. */
#define PACK_MAX_EVENTS 500
#define PACK_MAX_BYTES (64 * 1024)
/* Chunks smaller than this would mean a server whose max_payload leaves
 * no real room for data: refuse rather than send thousands of slivers. */
#define MIN_CHUNK_BYTES 1024

enum exit_code { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_CONFIG = 2 };

/* A checkpoint waiting for JetStream: once the publisher's floor reaches
 * seq, the source may be told token. */
struct pending_cp {
    uint64_t seq;
    uint64_t token;
};

struct cp_queue {
    struct pending_cp *items;
    size_t head;
    size_t len;
    size_t cap;
};

static void cpq_push(struct cp_queue *q, uint64_t seq, uint64_t token)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        struct pending_cp *items = cdc_xcalloc(cap, sizeof(*items));
        for (size_t i = 0; i < q->len; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        cdc_free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->len) % q->cap] = (struct pending_cp){seq, token};
    q->len++;
}

/* Pops every entry covered by floor and returns the sum of their tokens
 * (the acknowledged messages' events). */
static uint64_t cpq_pop_sum(struct cp_queue *q, uint64_t floor)
{
    uint64_t sum = 0;
    while (q->len > 0 && q->items[q->head].seq <= floor) {
        sum += q->items[q->head].token;
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    return sum;
}

/* Pops every checkpoint covered by floor; returns whether any was. */
static bool cpq_pop_upto(struct cp_queue *q, uint64_t floor, uint64_t *token)
{
    bool any = false;
    while (q->len > 0 && q->items[q->head].seq <= floor) {
        *token = q->items[q->head].token;
        q->head = (q->head + 1) % q->cap;
        q->len--;
        any = true;
    }
    return any;
}

struct repl {
    const struct cdc_conf *cfg;
    const char *group;
    const struct source_ops *ops;
    void *src;
    struct cdc_js *js;
    struct cdc_js_pub *pub;
    int64_t max_payload;
    struct cp_queue cps;
    uint64_t last_seq;
    uint64_t published;
    uint64_t max_events;
    struct cdc_buf payload;
    struct cdc_buf subject;
    struct cdc_buf msgid;
    struct cdc_buf chunk_msgid;
    /* the Nats-Msg-Id of the stream's last message: every event names it
     * as the one it must follow, so JetStream refuses an event whose
     * predecessor was lost, and the stream never holds a gap */
    struct cdc_buf prev_msgid;
    /* --compress zstd: its state, and the payload compressed */
    struct cdc_zip *zip;
    struct cdc_buf zipped;
    bool zip_warned;
    /* the message being built (see flush_msg): its text, objects and
     * events, subject, msgid (its last event's) and the checkpoints that
     * wait for it; the open pack at its end from pack_start, with
     * pack_n events of which the last is pack_last */
    struct cdc_buf msg;
    size_t msg_objs;
    size_t msg_events;
    struct cdc_buf msg_subject;
    struct cdc_buf msg_msgid;
    uint64_t *msg_cps;
    size_t msg_ncps;
    size_t msg_cps_cap;
    size_t pack_start;
    size_t pack_n;
    /* in the source's batch, or (after the batch ended with the pack
     * open) a copy in pack_arena */
    const struct cdc_event *pack_last;
    bool pack_last_copied;
    struct cdc_arena pack_arena;
    bool need_resync;
    /* after a resync: events below the stream's last one are already
     * stored, in order, and are not sent again; so is that one itself
     * unless it is a run of chunks cut short (skip_incl false) */
    bool skip_set;
    bool skip_incl;
    char skip_pos[SOURCE_POSITION_MAX];
    uint32_t skip_idx;
    uint64_t skipped;
    const char *stream;
    /* the confirmed position, also kept in the group's key-value bucket
     * (key replicator.position, written with compare-and-set) for tools
     * that want to see it without asking the source */
    struct cdc_js_kv *kv;
    uint64_t kv_rev;
    char kv_saved[SOURCE_POSITION_MAX];
    int64_t kv_saved_ms;
    char *last_schema;
    char *last_table;
    char confirmed[SOURCE_POSITION_MAX];
    /* metrics: events of each message sent, until JetStream stores it */
    struct cp_queue acks;
    struct cdc_metric *m_read;
    struct cdc_metric *m_published;
    struct cdc_metric *m_acked;
    struct cdc_metric *m_bytes;
    struct cdc_metric *m_retries;
    struct cdc_metric *m_inflight;
};

static void metrics_register(struct repl *r)
{
    r->m_read = cdc_metric_counter("tributary_events_read_total",
                                   "changes read from the source", "table");
    r->m_published =
        cdc_metric_counter("tributary_events_published_total",
                           "events sent to the group's JetStream stream", NULL);
    r->m_acked =
        cdc_metric_counter("tributary_events_acked_total",
                           "events JetStream acknowledged as stored", NULL);
    r->m_bytes =
        cdc_metric_counter("tributary_bytes_published_total",
                           "bytes of messages sent to JetStream", NULL);
    r->m_retries = cdc_metric_counter(
        "tributary_retries_total",
        "failures retried after a wait, by the part that failed", "part");
    r->m_inflight = cdc_metric_gauge(
        "tributary_jetstream_inflight",
        "messages sent to JetStream and not yet acknowledged", NULL);
}

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Counts the batch's changes by table. */
static void count_read(struct repl *r, const struct source_batch *b)
{
    struct cdc_metric_series *series = NULL;
    const struct cdc_event *prev = NULL;
    char name[CDC_NAME_MAX * 2];
    uint64_t n = 0;
    for (size_t i = 0; i <= b->nevents; i++) {
        const struct cdc_event *ev = i < b->nevents ? b->events[i] : NULL;
        bool same = ev != NULL && prev != NULL &&
                    same_str(ev->schema, prev->schema) &&
                    same_str(ev->table, prev->table);
        if (!same && n > 0) {
            cdc_metric_series_add(series, n);
            n = 0;
        }
        if (ev == NULL)
            break;
        if (!same) {
            snprintf(name, sizeof(name), "%s.%s", ev->schema ? ev->schema : "",
                     ev->table ? ev->table : "");
            series = cdc_metric_series(r->m_read, name);
        }
        n++;
        prev = ev;
    }
}

static void build_subject(struct repl *r, const struct cdc_event *ev)
{
    const char *schema = ev->schema ? ev->schema : "";
    const char *table = ev->table ? ev->table : "";
    if (r->last_schema != NULL && strcmp(r->last_schema, schema) == 0 &&
        strcmp(r->last_table, table) == 0)
        return;
    cdc_buf_reset(&r->subject);
    cdc_name_subject(r->group, schema, table, &r->subject);
    cdc_free(r->last_schema);
    cdc_free(r->last_table);
    r->last_schema = cdc_xstrdup(schema);
    r->last_table = cdc_xstrdup(table);
}

/*
 * Sets what a resync skips from the stream's last msgid of ours:
 * "<group>:<position>:<index>" for an event in one message, that plus
 * "#i/k" for a chunk of one. An event whose last chunk is stored is
 * complete and skipped like a plain one; a run of chunks that stopped
 * short is sent again from its first chunk, so only what came before it
 * is skipped. An id that does not parse skips nothing: everything from the
 * source's confirmed position is sent again, and JetStream's duplicate
 * check and the sinks' position checks keep it once.
 */
static void set_skip(struct repl *r, const char *id, size_t prefix_len)
{
    size_t len = strlen(id);
    uint32_t i = 0;
    uint32_t k = 0;
    bool whole = true;
    if (cdc_chunk_msgid_split(id, &len, &i, &k))
        whole = i == k;
    if (len <= prefix_len)
        return;
    /* a position may hold ':' itself: the index follows the last one */
    const char *pos = id + prefix_len;
    const char *end = id + len;
    const char *colon = NULL;
    for (const char *p = pos; p < end; p++) {
        if (*p == ':')
            colon = p;
    }
    if (colon == NULL || colon == pos ||
        (size_t)(colon - pos) >= sizeof(r->skip_pos))
        return;
    char digits[16];
    size_t ndigits = (size_t)(end - colon - 1);
    if (ndigits == 0 || ndigits >= sizeof(digits) ||
        strspn(colon + 1, "0123456789") < ndigits)
        return;
    memcpy(digits, colon + 1, ndigits);
    digits[ndigits] = '\0';
    int64_t idx = 0;
    if (cdc_parse_int(digits, 0, UINT32_MAX, &idx) != CDC_OK)
        return;
    memcpy(r->skip_pos, pos, (size_t)(colon - pos));
    r->skip_pos[colon - pos] = '\0';
    r->skip_idx = (uint32_t)idx;
    r->skip_incl = whole;
    r->skip_set = true;
}

/* Reads what the stream holds last, after a start or a failure. */
static int resync(struct repl *r, struct cdc_err *err)
{
    struct cdc_buf ours;
    char prefix[CDC_NAME_MAX];
    cdc_buf_init(&ours, 0);
    snprintf(prefix, sizeof(prefix), "%s:", r->group);
    int rc = cdc_js_stream_last_msgids(
        r->js, r->stream, prefix, RESYNC_LOOK_BACK, &r->prev_msgid, &ours, err);
    if (rc != CDC_OK) {
        cdc_buf_release(&ours);
        return rc;
    }
    r->skip_set = false;
    const char *id = ours.data ? ours.data : "";
    if (ours.len > 0)
        set_skip(r, id, strlen(prefix));
    r->need_resync = false;
    if (r->skip_set && !r->skip_incl)
        cdc_log(CDC_LOG_INFO, "replicator",
                "the stream's last event of ours \"%s\" is incomplete: "
                "sending it again from its first chunk",
                id);
    else
        cdc_log(CDC_LOG_DEBUG, "replicator",
                "the stream's last event of ours is \"%s\"", id);
    cdc_buf_release(&ours);
    return CDC_OK;
}

/* Reads the id of the stream's last message alone, for the next message
 * to chain to: after a copy, which publishes without chaining; what
 * resync() found of ours before the copy still holds. */
static int last_msgid(struct repl *r, struct cdc_err *err)
{
    struct cdc_buf any;
    cdc_buf_init(&any, 0);
    int rc = cdc_js_stream_last_msgids(r->js, r->stream, "", 0, &r->prev_msgid,
                                       &any, err);
    cdc_buf_release(&any);
    return rc;
}

/* Sends one message chained to the stream's last one (JetStream refuses
 * it if that is not the last) and makes it the last. chunk is the
 * Tributary-Chunk value, or NULL for an event in one message; zipped: data
 * is compressed. */
static int send_chained(struct repl *r, const char *msgid, const void *data,
                        size_t len, const char *chunk, bool zipped,
                        struct cdc_err *err)
{
    struct cdc_js_hdr hdrs[3];
    size_t nhdrs = 0;
    if (r->prev_msgid.len > 0)
        hdrs[nhdrs++] = (struct cdc_js_hdr){"Nats-Expected-Last-Msg-Id",
                                            r->prev_msgid.data};
    if (chunk != NULL)
        hdrs[nhdrs++] = (struct cdc_js_hdr){CDC_CHUNK_HEADER, chunk};
    if (zipped)
        hdrs[nhdrs++] = (struct cdc_js_hdr){CDC_ZIP_HEADER, CDC_ZIP_ZSTD};
    uint64_t seq = 0;
    int rc = cdc_js_pub_send(r->pub, r->subject.data, msgid, data, len, hdrs,
                             nhdrs, &seq, err);
    if (rc != CDC_OK)
        return rc;
    cdc_metric_add(r->m_bytes, NULL, len);
    cdc_buf_reset(&r->prev_msgid);
    cdc_buf_append_str(&r->prev_msgid, msgid);
    r->last_seq = seq;
    return CDC_OK;
}

/* With --compress zstd, compresses data[0..len) into r->zipped if it is
 * long enough to be worth it; true if the result is shorter and at most
 * limit bytes. Chunks always go as they are, so that chunk i/k of an event
 * holds the same bytes whatever the setting of the run that sends it. */
static bool zip(struct repl *r, const void *data, size_t len, size_t limit)
{
    if (r->zip == NULL || len < CDC_ZIP_MIN_BYTES)
        return false;
    struct cdc_err e;
    cdc_err_clear(&e);
    if (cdc_zip_compress(r->zip, data, len, &r->zipped, &e) != CDC_OK) {
        /* the message goes as it is: nothing is lost */
        if (!r->zip_warned)
            cdc_log(CDC_LOG_WARN, "replicator",
                    "%s; sending messages uncompressed", e.msg);
        r->zip_warned = true;
        return false;
    }
    return r->zipped.len < len && r->zipped.len <= limit;
}

/* Sends the encoded event in r->payload as chunks of at most limit bytes,
 * in order; r->last_seq ends at the last chunk, so the event's checkpoint
 * is confirmed only once every chunk is stored. The cut depends on the
 * number of chunks alone (see cdc_chunk_slice): a run sent again after a
 * failure, whose first chunks JetStream may drop as duplicates, joins up
 * with the ones stored before. */
static int publish_chunks(struct repl *r, const struct cdc_event *ev,
                          size_t limit, struct cdc_err *err)
{
    uint32_t k = 0;
    if (limit < MIN_CHUNK_BYTES)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "event of \"%s\".\"%s\" at %s is %zu bytes, over "
                           "the NATS server's max_payload of %" PRId64
                           " bytes, which is too small to carry it in "
                           "chunks: raise max_payload in the server's "
                           "configuration",
                           ev->schema, ev->table, ev->position, r->payload.len,
                           r->max_payload);
    if (cdc_chunk_count(r->payload.len, limit, &k) != CDC_OK)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "event of \"%s\".\"%s\" at %s is %zu bytes, "
                           "more than %d chunks of %zu bytes (or %zu bytes in "
                           "all) can carry",
                           ev->schema, ev->table, ev->position, r->payload.len,
                           CDC_CHUNK_MAX_COUNT, limit,
                           (size_t)CDC_CHUNK_MAX_BYTES);
    cdc_log(CDC_LOG_DEBUG, "replicator",
            "event of \"%s\".\"%s\" at %s is %zu bytes: publishing it as "
            "%u chunks",
            ev->schema, ev->table, ev->position, r->payload.len, (unsigned)k);
    for (uint32_t i = 1; i <= k; i++) {
        char chunk[CDC_CHUNK_SUFFIX_MAX];
        size_t off = 0;
        size_t n = 0;
        cdc_chunk_slice(r->payload.len, k, i, &off, &n);
        snprintf(chunk, sizeof(chunk), "%u/%u", (unsigned)i, (unsigned)k);
        cdc_buf_reset(&r->chunk_msgid);
        cdc_buf_printf(&r->chunk_msgid, "%s#%s", r->msgid.data, chunk);
        int rc = send_chained(r, r->chunk_msgid.data, r->payload.data + off, n,
                              chunk, false, err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* Publishes ev in a message of its own, or as chunks if it is larger
 * than the server's max_payload allows. */
static int publish_alone(struct repl *r, const struct cdc_event *ev,
                         struct cdc_err *err)
{
    cdc_buf_reset(&r->payload);
    int rc = cdc_event_encode(ev, &r->payload);
    if (rc != CDC_OK)
        return cdc_err_set(err, rc, 0,
                           "event of \"%s\".\"%s\" at %s is too big to encode",
                           ev->schema, ev->table, ev->position);
    build_subject(r, ev);
    cdc_event_msgid(&r->msgid, r->group, ev->position, ev->tx_index);
    /* max_payload counts the headers too: allow for the largest any
     * message of this event can have, a chunk's msgid and the previous
     * message's as the expected last one */
    size_t headers = HEADER_OVERHEAD +
                     2 * (r->msgid.len + CDC_CHUNK_SUFFIX_MAX) +
                     r->prev_msgid.len;
    size_t limit = r->max_payload > 0 && (uint64_t)r->max_payload > headers
                       ? (size_t)r->max_payload - headers
                       : 0;
    if (limit > 0 && zip(r, r->payload.data, r->payload.len, limit))
        rc = send_chained(r, r->msgid.data, r->zipped.data, r->zipped.len, NULL,
                          true, err);
    else if (r->payload.len <= limit && limit > 0)
        rc = send_chained(r, r->msgid.data, r->payload.data, r->payload.len,
                          NULL, false, err);
    else
        rc = publish_chunks(r, ev, limit, err);
    if (rc != CDC_OK)
        return rc;
    r->published++;
    cdc_metric_add(r->m_published, NULL, 1);
    cpq_push(&r->acks, r->last_seq, 1);
    return CDC_OK;
}

/*
 * Messages. Events are gathered into one message while they share a
 * subject: each transaction's consecutive rows of one table and shape as a
 * pack, any other change as an event object of its own; one object is
 * sent as it is, several as a JSON array. r->msg holds "[" and the
 * objects so far; the open pack, if any, is its tail from pack_start.
 * Checkpoints of the source that come while a message is being built wait
 * for it: they are confirmed by its acknowledgement.
 */

/* Forgets the message being built and its checkpoints (after a failure
 * their events come again). */
static void drop_msg(struct repl *r)
{
    cdc_buf_reset(&r->msg);
    r->msg_objs = 0;
    r->msg_events = 0;
    r->msg_ncps = 0;
    r->pack_n = 0;
    r->pack_last = NULL;
}

static size_t msg_cap(const struct repl *r)
{
    size_t cap = PACK_MAX_BYTES;
    if (r->max_payload > 0 && (uint64_t)r->max_payload < (uint64_t)cap + 4096)
        cap = r->max_payload > 4096 ? (size_t)r->max_payload - 4096 : 0;
    return cap;
}

/* Makes ev the message's last event (its msgid is the message's). */
static void msg_last(struct repl *r, const struct cdc_event *ev)
{
    cdc_event_msgid(&r->msg_msgid, r->group, ev->position, ev->tx_index);
}

/* Starts the message's text if it has none; its subject is r->subject. */
static void msg_open(struct repl *r)
{
    if (r->msg.len > 0)
        return;
    cdc_buf_append_char(&r->msg, '[');
    cdc_buf_reset(&r->msg_subject);
    cdc_buf_append(&r->msg_subject, r->subject.data, r->subject.len);
}

/* Sends the message being built, if any, and then lets its checkpoints
 * wait for its acknowledgement. The open pack must be closed. */
static int flush_msg(struct repl *r, struct cdc_err *err)
{
    if (r->msg_objs > 0) {
        const char *data = r->msg.data + 1;
        size_t len = r->msg.len - 1;
        if (r->msg_objs > 1) {
            cdc_buf_append_char(&r->msg, ']');
            data = r->msg.data;
            len = r->msg.len;
        }
        /* send_chained publishes on r->subject */
        cdc_buf_reset(&r->subject);
        cdc_buf_append(&r->subject, r->msg_subject.data, r->msg_subject.len);
        cdc_free(r->last_schema);
        cdc_free(r->last_table);
        r->last_schema = NULL;
        r->last_table = NULL;
        bool zipped = zip(r, data, len, len);
        int rc = zipped ? send_chained(r, r->msg_msgid.data, r->zipped.data,
                                       r->zipped.len, NULL, true, err)
                        : send_chained(r, r->msg_msgid.data, data, len, NULL,
                                       false, err);
        if (rc != CDC_OK)
            return rc;
        r->published += r->msg_events;
        cdc_metric_add(r->m_published, NULL, r->msg_events);
        cpq_push(&r->acks, r->last_seq, r->msg_events);
    }
    for (size_t i = 0; i < r->msg_ncps; i++)
        cpq_push(&r->cps, r->last_seq, r->msg_cps[i]);
    drop_msg(r);
    return CDC_OK;
}

/* Adds the encoded event in r->payload (ev) to the message as an object
 * of its own, sending the message first if it does not fit; an event too
 * large for any message goes alone (or as chunks). */
static int msg_add_payload(struct repl *r, const struct cdc_event *ev,
                           struct cdc_err *err)
{
    size_t cap = msg_cap(r);
    if (r->msg_objs > 0 && r->msg.len + 1 + r->payload.len + 1 > cap) {
        int rc = flush_msg(r, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (r->payload.len + 2 > cap) {
        int rc = flush_msg(r, err);
        return rc == CDC_OK ? publish_alone(r, ev, err) : rc;
    }
    msg_open(r);
    if (r->msg_objs > 0)
        cdc_buf_append_char(&r->msg, ',');
    cdc_buf_append(&r->msg, r->payload.data, r->payload.len);
    r->msg_objs++;
    r->msg_events++;
    msg_last(r, ev);
    return CDC_OK;
}

/* Closes the open pack: a pack of one becomes that event's own form. */
static int close_pack(struct repl *r, struct cdc_err *err)
{
    if (r->pack_n == 0)
        return CDC_OK;
    const struct cdc_event *last = r->pack_last;
    size_t n = r->pack_n;
    r->pack_n = 0;
    r->pack_last = NULL;
    if (n == 1) {
        /* the pack's text goes; the event comes back as an object */
        r->msg.len = r->pack_start;
        r->msg.data[r->msg.len] = '\0';
        if (r->msg_objs == 0)
            cdc_buf_reset(&r->msg);
        cdc_buf_reset(&r->payload);
        int rc = cdc_event_encode(last, &r->payload);
        if (rc != CDC_OK)
            return cdc_err_set(err, rc, 0,
                               "event of \"%s\".\"%s\" at %s is too big to "
                               "encode",
                               last->schema, last->table, last->position);
        return msg_add_payload(r, last, err);
    }
    int rc = cdc_pack_end(last->tx_end, &r->msg);
    if (rc != CDC_OK)
        return cdc_err_set(err, rc, 0, "could not encode %zu events", n);
    r->msg_objs++;
    r->msg_events += n;
    msg_last(r, last);
    return CDC_OK;
}

/* Adds ev to the open pack, or starts one with it at the end of the
 * message; false if the message cannot take it (all is as it was). */
static bool pack_add(struct repl *r, const struct cdc_event *ev)
{
    size_t cap = msg_cap(r);
    bool first = r->pack_n == 0;
    if (first)
        msg_open(r);
    size_t was = r->msg.len;
    int rc = CDC_OK;
    if (first) {
        r->pack_start = r->msg.len;
        if (r->msg_objs > 0)
            rc = cdc_buf_append_char(&r->msg, ',');
        if (rc == CDC_OK)
            rc = cdc_pack_begin(ev, &r->msg);
    }
    if (rc == CDC_OK)
        rc = cdc_pack_add(ev, first, &r->msg);
    /* room for the end ("],"tx_end":false}" and the message's "]") */
    if (rc != CDC_OK || r->msg.len + 24 > cap) {
        r->msg.len = was;
        r->msg.data[was] = '\0';
        if (r->msg.len <= 1 && r->msg_objs == 0)
            cdc_buf_reset(&r->msg);
        return false;
    }
    r->pack_n++;
    r->pack_last = ev;
    r->pack_last_copied = false;
    return true;
}

static int publish_event(struct repl *r, const struct cdc_event *ev,
                         struct cdc_err *err)
{
    if (r->skip_set) {
        int cmp = cdc_position_cmp(ev->source, ev->position, ev->tx_index,
                                   r->skip_pos, r->skip_idx);
        if (cmp < 0 || (cmp == 0 && r->skip_incl)) {
            r->skipped++;
            return CDC_OK;
        }
        r->skip_set = false;
    }
    int rc = CDC_OK;
    /* the next row of the open pack */
    if (r->pack_n > 0) {
        if (r->pack_n < PACK_MAX_EVENTS && cdc_pack_follows(r->pack_last, ev) &&
            pack_add(r, ev))
            return ev->tx_end ? close_pack(r, err) : CDC_OK;
        rc = close_pack(r, err);
        if (rc != CDC_OK)
            return rc;
    }
    /* one message holds one subject */
    build_subject(r, ev);
    if (r->msg_objs > 0 &&
        (r->msg_subject.len != r->subject.len ||
         memcmp(r->msg_subject.data, r->subject.data, r->subject.len) != 0)) {
        rc = flush_msg(r, err);
        if (rc != CDC_OK)
            return rc;
        build_subject(r, ev);
    }
    if (cdc_pack_can_start(ev)) {
        bool added = pack_add(r, ev);
        if (!added && r->msg_objs > 0) {
            rc = flush_msg(r, err);
            if (rc != CDC_OK)
                return rc;
            build_subject(r, ev);
            added = pack_add(r, ev);
        }
        if (added)
            return ev->tx_end ? close_pack(r, err) : CDC_OK;
    }
    /* an object of its own */
    cdc_buf_reset(&r->payload);
    rc = cdc_event_encode(ev, &r->payload);
    if (rc != CDC_OK)
        return cdc_err_set(err, rc, 0,
                           "event of \"%s\".\"%s\" at %s is too big to encode",
                           ev->schema, ev->table, ev->position);
    return msg_add_payload(r, ev, err);
}

/* A source checkpoint after everything published so far: confirmed with
 * the message being built, or at once if there is none. */
static void add_checkpoint(struct repl *r, uint64_t token)
{
    if (r->pack_n == 0 && r->msg_objs == 0) {
        cpq_push(&r->cps, r->last_seq, token);
        return;
    }
    if (r->msg_ncps == r->msg_cps_cap) {
        r->msg_cps_cap = r->msg_cps_cap ? r->msg_cps_cap * 2 : 64;
        r->msg_cps =
            cdc_xrealloc(r->msg_cps, r->msg_cps_cap * sizeof(*r->msg_cps));
    }
    r->msg_cps[r->msg_ncps++] = token;
}

static int publish_batch(struct repl *r, const struct source_batch *b,
                         struct cdc_err *err)
{
    size_t cp = 0;
    for (size_t i = 0; i <= b->nevents; i++) {
        while (cp < b->ncps && b->cps[cp].after == i) {
            add_checkpoint(r, b->cps[cp].token);
            cp++;
        }
        if (i == b->nevents)
            break;
        int rc = publish_event(r, b->events[i], err);
        if (rc != CDC_OK)
            return rc;
    }
    /* An open pack's transaction goes on in the next poll (the source
     * holds back each change until it knows whether it ends its
     * transaction): the message stays open, the pack's last event copied
     * out of the batch. Otherwise what was gathered goes now, and so does
     * anything left when a poll brought nothing. */
    if (r->pack_n > 0 && b->nevents > 0 && !r->pack_last->tx_end) {
        if (!r->pack_last_copied) {
            cdc_arena_reset(&r->pack_arena);
            r->pack_last = cdc_event_copy(r->pack_last, &r->pack_arena);
            r->pack_last_copied = true;
        }
        return CDC_OK;
    }
    int rc = close_pack(r, err);
    return rc == CDC_OK ? flush_msg(r, err) : rc;
}

/* Writes the confirmed position to the state bucket (at most every
 * KV_SAVE_INTERVAL_MS unless forced). */
static int save_position(struct repl *r, bool force, struct cdc_err *err)
{
    if (r->kv == NULL || r->confirmed[0] == '\0' ||
        strcmp(r->confirmed, r->kv_saved) == 0)
        return CDC_OK;
    if (!force && cdc_now_ms() - r->kv_saved_ms < KV_SAVE_INTERVAL_MS)
        return CDC_OK;
    char ts[40];
    char val[SOURCE_POSITION_MAX + 96];
    cdc_time_format_us(cdc_wall_us(), ts, sizeof(ts));
    int n = snprintf(val, sizeof(val), "{\"position\":\"%s\",\"time\":\"%s\"}",
                     r->confirmed, ts);
    int rc = cdc_js_kv_put(r->kv, "replicator.position", val, (size_t)n,
                           r->kv_rev, &r->kv_rev, err);
    if (rc == CDC_ESTATE)
        return cdc_err_set(err, CDC_ESTATE, 0,
                           "the position of group \"%s\" was written by "
                           "another process: is a second replicator running "
                           "for this group?",
                           r->group);
    if (rc != CDC_OK)
        return rc;
    snprintf(r->kv_saved, sizeof(r->kv_saved), "%s", r->confirmed);
    r->kv_saved_ms = cdc_now_ms();
    return CDC_OK;
}

/* Passes acknowledged checkpoints to the source. */
static int confirm(struct repl *r, struct cdc_err *err)
{
    uint64_t floor = 0;
    int rc = cdc_js_pub_poll(r->pub, &floor, err);
    if (rc != CDC_OK)
        return rc;
    cdc_metric_add(r->m_acked, NULL, cpq_pop_sum(&r->acks, floor));
    cdc_metric_set(r->m_inflight, NULL, (double)cdc_js_pub_inflight(r->pub));
    uint64_t token = 0;
    if (cpq_pop_upto(&r->cps, floor, &token)) {
        r->ops->format_token(r->src, token, r->confirmed, sizeof(r->confirmed));
        rc = r->ops->ack(r->src, token, err);
    }
    if (rc == CDC_OK)
        rc = save_position(r, false, err);
    return rc;
}

static int shutdown_cleanly(struct repl *r)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    int64_t timeout = cdc_conf_get_int(r->cfg, "ack-timeout");
    /* the stop flag must not cut the drain short */
    cdc_stop_requested = 0;
    int rc = cdc_js_pub_drain(r->pub, timeout, &err);
    if (rc == CDC_OK)
        rc = confirm(r, &err);
    if (rc == CDC_OK)
        rc = save_position(r, true, &err);
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator",
                "could not confirm every event before stopping: %s "
                "(they will be sent again on restart)",
                err.msg);
        return EXIT_RUNTIME;
    }
    cdc_log(CDC_LOG_INFO, "replicator",
            "stopped after %" PRIu64 " events (%" PRIu64
            " already in the stream were not sent again); confirmed position "
            "%s",
            r->published, r->skipped,
            r->confirmed[0] ? r->confirmed : "unchanged");
    return EXIT_OK;
}

static int run(struct repl *r)
{
    struct source_batch batch;
    struct cdc_backoff bo;
    struct cdc_err err;
    int64_t max_attempts = cdc_conf_get_int(r->cfg, "retry-max-attempts");
    int64_t last_progress = cdc_now_ms();
    uint64_t progress_base = 0;
    size_t max_batch = (size_t)cdc_conf_get_int(r->cfg, "max-inflight");
    int code = EXIT_OK;

    source_batch_init(&batch);
    cdc_backoff_init(&bo, cdc_conf_get_int(r->cfg, "retry-initial-wait"),
                     cdc_conf_get_int(r->cfg, "retry-max-wait"));
    while (!cdc_stop_requested) {
        cdc_err_clear(&err);
        source_batch_clear(&batch);
        int rc = r->need_resync ? resync(r, &err) : CDC_OK;
        const char *part = "nats";
        if (rc == CDC_OK) {
            rc = r->ops->poll(r->src, &batch, max_batch, POLL_TIMEOUT_MS, &err);
            if (rc != CDC_ESTOP)
                cdc_health_report("source", rc == CDC_OK, err.msg);
            if (rc == CDC_OK)
                count_read(r, &batch);
            else
                part = "source";
        }
        if (rc == CDC_OK)
            rc = publish_batch(r, &batch, &err);
        if (rc == CDC_OK)
            rc = confirm(r, &err);
        if (rc == CDC_OK || strcmp(part, "nats") == 0)
            cdc_health_report("nats", rc == CDC_OK || rc == CDC_ESTOP, err.msg);
        if (rc == CDC_ESTOP)
            break;
        if (rc != CDC_OK) {
            if (!(err.flags & CDC_ERR_RETRIABLE) ||
                (max_attempts > 0 &&
                 bo.attempt + 1 >= (unsigned)max_attempts)) {
                cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
                code = EXIT_RUNTIME;
                break;
            }
            int64_t wait = cdc_backoff_next(&bo);
            cdc_log(CDC_LOG_WARN, "replicator", "%s; retrying in %lld ms",
                    err.msg, (long long)wait);
            cdc_metric_add(r->m_retries, part, 1);
            cdc_js_pub_reset(r->pub);
            drop_msg(r);
            r->cps.len = 0;
            r->acks.len = 0;
            r->need_resync = true;
            r->ops->reset(r->src);
            cdc_sleep_ms(wait);
            continue;
        }
        if (batch.nevents > 0 || batch.ncps > 0)
            cdc_backoff_reset(&bo);
        if (r->max_events > 0 && r->published >= r->max_events) {
            cdc_log(CDC_LOG_INFO, "replicator", "reached --max-events %" PRIu64,
                    r->max_events);
            break;
        }
        int64_t now = cdc_now_ms();
        if (now - last_progress >= PROGRESS_INTERVAL_MS) {
            if (r->published != progress_base)
                cdc_log(CDC_LOG_INFO, "replicator",
                        "%" PRIu64 " events published (%.0f/s), confirmed "
                        "position %s",
                        r->published,
                        (double)(r->published - progress_base) * 1000.0 /
                            (double)(now - last_progress),
                        r->confirmed[0] ? r->confirmed : "none yet");
            progress_base = r->published;
            last_progress = now;
        }
    }
    source_batch_release(&batch);
    if (code == EXIT_OK)
        code = shutdown_cleanly(r);
    return code;
}

/* The initial copy (--copy, --copy-and-stream); an exit code. */
static int copy(struct repl *r, bool copy_only)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    if (r->ops->copy == NULL) {
        cdc_log(CDC_LOG_ERROR, "replicator",
                "source \"%s\" cannot copy existing rows: use --stream",
                r->ops->name);
        return EXIT_CONFIG;
    }
    struct source_copy_env env = {
        .js = r->js,
        .kv = r->kv,
        .group = r->group,
        .workers_per_table =
            (unsigned)cdc_conf_get_int(r->cfg, "max-copy-workers-per-table"),
        .then_stream = !copy_only,
        .truncate_first = cdc_conf_get_bool(r->cfg, "resync"),
        .ack_timeout_ms = cdc_conf_get_int(r->cfg, "ack-timeout"),
        .zip_level = (int)cdc_conf_get_int(r->cfg, "compress-level"),
        .zip = r->zip != NULL,
    };
    int rc = r->ops->copy(r->src, &env, &err);
    if (rc == CDC_ESTOP) {
        cdc_log(CDC_LOG_INFO, "replicator", "%s", err.msg);
        return EXIT_OK;
    }
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
        return rc == CDC_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    return EXIT_OK;
}

/* A stream setting as text: "7d", "64MiB", "none" for 0. */
static void limit_text(bool size, int64_t v, char *out, size_t outsz)
{
    if (v == 0)
        snprintf(out, outsz, "none");
    else
        cdc_conf_format_amount(size ? CDC_OPT_SIZE : CDC_OPT_DURATION, v, out,
                               outsz);
}

/*
 * Brings the stream settings given explicitly (flag, file or environment)
 * to the group's stream when it exists already: a worker that started
 * first made it with the defaults, or the settings changed since. Settings
 * left at their defaults never change an existing stream. A change that
 * would delete events is refused (CDC_ECONFIG): a maximum age shorter than
 * the age of the oldest event, a size limit below what the stream holds.
 */
static int stream_limits(struct repl *r, const struct cdc_conf *cfg,
                         const struct cdc_js_stream_cfg *sc,
                         struct cdc_err *err)
{
    struct cdc_js_stream_state st;
    int rc = cdc_js_stream_info_ex(r->js, sc->name, &st, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err); /* made later, with these settings */
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    const struct {
        const char *flag;
        unsigned bit;
        int64_t have;
        int64_t want;
    } lim[] = {
        {"stream-max-age", CDC_JS_MAX_AGE, st.max_age_ms, sc->max_age_ms},
        {"stream-max-bytes", CDC_JS_MAX_BYTES, st.max_bytes, sc->max_bytes},
        {"dedup-window", CDC_JS_DUP_WINDOW, st.dup_window_ms,
         sc->dup_window_ms},
    };
    unsigned which = 0;
    char said[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        if (cdc_conf_origin(cfg, lim[i].flag) <= CDC_ORIGIN_DEFAULT ||
            lim[i].have == lim[i].want)
            continue;
        char from[32];
        char to[32];
        bool size = lim[i].bit == CDC_JS_MAX_BYTES;
        limit_text(size, lim[i].have, from, sizeof from);
        limit_text(size, lim[i].want, to, sizeof to);
        int n = snprintf(said + off, sizeof said - off, "%s%s %s -> %s",
                         off > 0 ? ", " : "", lim[i].flag, from, to);
        if (n > 0 && (size_t)n < sizeof said - off)
            off += (size_t)n;
        which |= lim[i].bit;
    }
    if (which == 0)
        return CDC_OK;
    char v[32];
    if ((which & CDC_JS_MAX_AGE) && sc->max_age_ms > 0 && st.msgs > 0 &&
        st.first_time_us > 0 &&
        cdc_wall_us() - st.first_time_us > sc->max_age_ms * 1000) {
        char age[32];
        limit_text(false, sc->max_age_ms, v, sizeof v);
        limit_text(false,
                   (cdc_wall_us() - st.first_time_us) / 1000 / 1000 * 1000, age,
                   sizeof age);
        return cdc_err_set(
            err, CDC_ECONFIG, 0,
            "--stream-max-age %s: stream \"%s\" holds events from %s ago, "
            "which a maximum age of %s would delete at once; leave the "
            "setting out until no worker needs them, or change the stream "
            "by hand (nats stream edit)",
            v, sc->name, age, v);
    }
    if ((which & CDC_JS_MAX_BYTES) && sc->max_bytes > 0 &&
        st.bytes > (uint64_t)sc->max_bytes) {
        limit_text(true, sc->max_bytes, v, sizeof v);
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--stream-max-bytes %s: stream \"%s\" holds %" PRIu64
                           " bytes already, which a limit of %s would cut; "
                           "leave the setting out, or raise it",
                           v, sc->name, st.bytes, v);
    }
    rc = cdc_js_stream_set_limits(r->js, sc, which, err);
    if (rc == CDC_OK)
        cdc_log(CDC_LOG_INFO, "replicator", "stream \"%s\": %s", sc->name,
                said);
    return rc;
}

/* The position the group last confirmed, from its state bucket (opened
 * into r->kv if it exists; a missing bucket is not created here, so a
 * bad setting still leaves nothing behind). *saved stays empty when there
 * is none. */
static int read_saved(struct repl *r, const char *bucket, char *saved,
                      size_t savedsz, struct cdc_err *err)
{
    char kv[CDC_NAME_MAX + 8];
    saved[0] = '\0';
    snprintf(kv, sizeof(kv), "KV_%s", bucket);
    int rc = cdc_js_stream_info(r->js, kv, NULL, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc == CDC_OK)
        rc = cdc_js_kv_open(r->js, bucket, &r->kv, err);
    if (rc != CDC_OK)
        return rc;
    struct cdc_buf val;
    cdc_buf_init(&val, 4096);
    rc = cdc_js_kv_get(r->kv, "replicator.position", &val, &r->kv_rev, err);
    if (rc == CDC_ENOTFOUND) {
        r->kv_rev = 0;
        cdc_err_clear(err);
        rc = CDC_OK;
    } else if (rc == CDC_OK && val.data != NULL) {
        static const char key[] = "\"position\":\"";
        const char *p = strstr(val.data, key);
        if (p != NULL) {
            p += sizeof(key) - 1;
            size_t n = strcspn(p, "\"");
            if (n < savedsz) {
                memcpy(saved, p, n);
                saved[n] = '\0';
            }
        }
    }
    cdc_buf_release(&val);
    return rc;
}

/* --resync: the group's state bucket (saved position, copy plan) goes,
 * after the source dropped its slot. */
static int forget_state(struct repl *r, const char *bucket, struct cdc_err *err)
{
    char kv[CDC_NAME_MAX + 8];
    snprintf(kv, sizeof(kv), "KV_%s", bucket);
    cdc_js_kv_close(r->kv);
    r->kv = NULL;
    int rc = cdc_js_stream_info(r->js, kv, NULL, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc == CDC_OK)
        rc = cdc_js_kv_delete_bucket(r->js, bucket, err);
    if (rc == CDC_OK)
        cdc_log(CDC_LOG_INFO, "replicator",
                "deleted the group's saved position and copy progress to "
                "start over (--resync)");
    return rc;
}

/* Removes one stream of the group's (or says it would); CDC_OK when it is
 * not there. */
static int cleanup_stream(struct cdc_js *js, const char *name, const char *what,
                          bool dry_run, struct cdc_err *err)
{
    uint64_t msgs = 0;
    uint64_t last = 0;
    int rc = cdc_js_stream_info(js, name, &msgs, &last, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    if (dry_run) {
        cdc_log(CDC_LOG_INFO, "replicator",
                "would delete %s \"%s\" (%" PRIu64 " messages)", what, name,
                msgs);
        return CDC_OK;
    }
    rc = cdc_js_stream_delete(js, name, err);
    if (rc == CDC_OK)
        cdc_log(CDC_LOG_INFO, "replicator",
                "deleted %s \"%s\" (%" PRIu64 " messages)", what, name, msgs);
    return rc;
}

/* --cleanup: the source's objects, then the group's streams (with their
 * consumers) and state bucket; an exit code. */
static int cleanup(struct repl *r, const struct cdc_js_opts *jo)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    bool dry_run = !cdc_conf_get_bool(r->cfg, "yes");
    int rc = CDC_OK;
    if (r->ops->cleanup != NULL)
        rc = r->ops->cleanup(r->cfg, r->group, dry_run, &err);
    if (rc == CDC_OK)
        rc = cdc_js_open(jo, &r->js, &err);
    char name[CDC_NAME_MAX];
    char kv[CDC_NAME_MAX + 8];
    if (rc == CDC_OK) {
        cdc_name_stream(r->group, name, sizeof(name));
        rc = cleanup_stream(r->js, name, "stream", dry_run, &err);
    }
    if (rc == CDC_OK) {
        cdc_name_dlq_stream(r->group, name, sizeof(name));
        rc = cleanup_stream(r->js, name, "dead-letter stream", dry_run, &err);
    }
    if (rc == CDC_OK) {
        cdc_name_kv(r->group, name, sizeof(name));
        snprintf(kv, sizeof(kv), "KV_%s", name);
        rc = cleanup_stream(r->js, kv, "state bucket", dry_run, &err);
    }
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator", "cleanup of group \"%s\": %s",
                r->group, err.msg);
        return rc == CDC_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    cdc_log(CDC_LOG_INFO, "replicator", "%s",
            dry_run ? "dry run: nothing was removed (add --yes to remove)"
                    : "cleanup done");
    return EXIT_OK;
}

static int check_modes(const struct cdc_conf *cfg, struct cdc_err *err)
{
    int modes = cdc_conf_get_bool(cfg, "stream") +
                cdc_conf_get_bool(cfg, "copy") +
                cdc_conf_get_bool(cfg, "copy-and-stream");
    if (modes > 1)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "cannot specify multiple modes: use --stream, "
                           "--copy-and-stream, or --copy");
    if (modes > 0 && cdc_conf_get_bool(cfg, "cleanup"))
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--cleanup removes the group: it cannot be "
                           "combined with --stream, --copy-and-stream or "
                           "--copy");
    if (cdc_conf_get_bool(cfg, "yes") && !cdc_conf_get_bool(cfg, "cleanup"))
        return cdc_err_set(err, CDC_ECONFIG, 0, "--yes goes with --cleanup");
    if (cdc_conf_get_bool(cfg, "resync") &&
        (cdc_conf_get_bool(cfg, "stream") || cdc_conf_get_bool(cfg, "copy") ||
         cdc_conf_get_bool(cfg, "cleanup")))
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--resync copies the tables afresh and streams: it "
                           "goes alone or with --copy-and-stream");
    const char *zip = cdc_conf_get_str(cfg, "compress");
    if (strcmp(zip, "none") != 0 && strcmp(zip, CDC_ZIP_ZSTD) != 0)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--compress: unknown compression \"%s\" (none "
                           "or " CDC_ZIP_ZSTD ")",
                           zip);
    if (!cdc_zip_level_ok(cdc_conf_get_int(cfg, "compress-level")))
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--compress-level: %" PRId64
                           " is beyond what this zstd offers",
                           cdc_conf_get_int(cfg, "compress-level"));
    const char *addr = cdc_conf_get_str(cfg, "metrics-addr");
    char host[256];
    int port = 0;
    if (addr != NULL &&
        cdc_metrics_parse_addr(addr, host, sizeof(host), &port, err) != CDC_OK)
        return CDC_ECONFIG;
    return CDC_OK;
}

int main(int argc, char **argv)
{
    struct cdc_err err;
    struct repl r;
    int code = EXIT_OK;
    if (argc > 1 && strcmp(argv[1], "status") == 0)
        return replicator_status_main(argc - 1, argv + 1);
    memset(&r, 0, sizeof(r));
    cdc_err_clear(&err);
    cdc_signals_install();

    struct cdc_conf *cfg = replicator_conf_new("replicator");
    bool done = false;
    if (replicator_conf_load(cfg, argc - 1, argv + 1, USAGE, &done, &err) !=
        CDC_OK) {
        code = EXIT_CONFIG;
        goto out;
    }
    if (done)
        goto out;
    r.cfg = cfg;
    r.group = cdc_conf_get_str(cfg, "group");
    if (cdc_group_validate(r.group, &err) != CDC_OK ||
        check_modes(cfg, &err) != CDC_OK ||
        replicator_conf_source(cfg, &r.ops, &err) != CDC_OK) {
        fprintf(stderr, "replicator: %s\n", err.msg);
        code = EXIT_CONFIG;
        goto out;
    }
    replicator_conf_start(cfg, r.group, &done);
    if (done)
        goto out;
    r.max_events = (uint64_t)cdc_conf_get_int(cfg, "max-events");
    cdc_buf_init(&r.payload, 0);
    cdc_buf_init(&r.subject, 0);
    cdc_buf_init(&r.msgid, 0);
    cdc_buf_init(&r.msg, 0);
    cdc_buf_init(&r.msg_subject, 0);
    cdc_buf_init(&r.msg_msgid, 0);
    cdc_arena_init(&r.pack_arena);
    cdc_buf_init(&r.chunk_msgid, 0);
    cdc_buf_init(&r.prev_msgid, 0);
    cdc_buf_init(&r.zipped, 0);
    if (strcmp(cdc_conf_get_str(cfg, "compress"), CDC_ZIP_ZSTD) == 0)
        r.zip = cdc_zip_new((int)cdc_conf_get_int(cfg, "compress-level"));
    r.need_resync = true;

    struct cdc_js_opts jo;
    char conn_name[CDC_NAME_MAX];
    snprintf(conn_name, sizeof(conn_name), "tributary-replicator-%s", r.group);
    cdc_js_opts_from_conf(cfg, conn_name, &jo);
    char stream[CDC_NAME_MAX];
    char subjects[CDC_NAME_MAX];
    cdc_name_stream(r.group, stream, sizeof(stream));
    r.stream = stream;
    cdc_name_stream_subjects(r.group, subjects, sizeof(subjects));
    struct cdc_js_stream_cfg sc = {
        .name = stream,
        .subject = subjects,
        .max_age_ms = cdc_conf_get_int(cfg, "stream-max-age"),
        .max_bytes = cdc_conf_get_int(cfg, "stream-max-bytes"),
        .dup_window_ms = cdc_conf_get_int(cfg, "dedup-window"),
    };
    if (cdc_conf_get_bool(cfg, "cleanup")) {
        code = cleanup(&r, &jo);
        goto out;
    }
    const char *labels[] = {"group", r.group, NULL};
    cdc_metrics_set_labels(labels);
    metrics_register(&r);
    const char *maddr = cdc_conf_get_str(cfg, "metrics-addr");
    if (maddr != NULL &&
        cdc_metrics_serve(maddr, cdc_conf_get_int(cfg, "health-threshold"),
                          &err) != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
        code = err.code == CDC_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto out;
    }
    /* connect to NATS, then prepare the source (publication, slot), and
     * only then create the stream: a bad setting leaves nothing behind */
    bool resync_all = cdc_conf_get_bool(cfg, "resync");
    char bucket[CDC_NAME_MAX];
    char saved[SOURCE_POSITION_MAX] = "";
    cdc_name_kv(r.group, bucket, sizeof(bucket));
    int rc = cdc_js_open(&jo, &r.js, &err);
    if (rc == CDC_OK)
        rc = stream_limits(&r, cfg, &sc, &err);
    if (rc == CDC_OK && !resync_all)
        rc = read_saved(&r, bucket, saved, sizeof(saved), &err);
    if (rc == CDC_OK)
        rc = r.ops->open(cfg, r.group, saved[0] ? saved : NULL, &r.src, &err);
    if (rc == CDC_OK && resync_all)
        rc = forget_state(&r, bucket, &err);
    if (rc == CDC_OK)
        rc = cdc_js_stream_ensure(r.js, &sc, &err);
    if (rc == CDC_OK)
        rc = cdc_js_pub_new(r.js, (int)cdc_conf_get_int(cfg, "max-inflight"),
                            cdc_conf_get_int(cfg, "ack-timeout"), &r.pub, &err);
    if (rc == CDC_OK)
        r.max_payload = cdc_js_max_payload(r.js);
    if (rc == CDC_OK && r.kv == NULL) {
        r.kv_rev = 0;
        rc = cdc_js_kv_open(r.js, bucket, &r.kv, &err);
    }
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
        code = rc == CDC_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto out;
    }
    bool copy_only = cdc_conf_get_bool(cfg, "copy");
    if (copy_only || resync_all || cdc_conf_get_bool(cfg, "copy-and-stream")) {
        /* what the stream holds of ours is looked up before the copy adds
         * its packs, which the look-back would otherwise read through (up
         * to RESYNC_LOOK_BACK messages of up to 60 KiB); failing that,
         * streaming looks it up when it starts, as after any failure */
        if (!copy_only && resync(&r, &err) != CDC_OK)
            r.need_resync = true;
        code = copy(&r, copy_only);
        if (code != EXIT_OK || copy_only || cdc_stop_requested)
            goto out;
        if (!r.need_resync && last_msgid(&r, &err) != CDC_OK)
            r.need_resync = true;
    }
    cdc_log(CDC_LOG_INFO, "replicator",
            "replicating group \"%s\" from %s into stream \"%s\"", r.group,
            r.ops->name, stream);
    code = run(&r);
out:
    if (r.ops != NULL && r.src != NULL)
        r.ops->close(r.src);
    cdc_js_kv_close(r.kv);
    cdc_js_pub_free(r.pub);
    cdc_js_close(r.js);
    cdc_js_library_close();
    cdc_buf_release(&r.payload);
    cdc_buf_release(&r.subject);
    cdc_buf_release(&r.msgid);
    cdc_buf_release(&r.msg);
    cdc_buf_release(&r.msg_subject);
    cdc_buf_release(&r.msg_msgid);
    cdc_free(r.msg_cps);
    cdc_arena_release(&r.pack_arena);
    cdc_buf_release(&r.chunk_msgid);
    cdc_buf_release(&r.prev_msgid);
    cdc_buf_release(&r.zipped);
    cdc_zip_free(r.zip);
    cdc_free(r.last_schema);
    cdc_free(r.last_table);
    cdc_free(r.cps.items);
    cdc_free(r.acks.items);
    cdc_metrics_reset();
    cdc_conf_free(cfg);
    return code;
}

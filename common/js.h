/*
 * js.h: the JetStream wrapper. The only code that sees nats.c types is
 * js.c; everything else uses these opaque handles. It provides: a
 * connection with reconnects, streams, an asynchronous publisher with a
 * bounded window and an acknowledged floor, synchronous publish with
 * headers, durable pull consumers with cumulative acks, and a key-value
 * bucket with compare-and-set. Included by common.h.
 *
 * Threads: every handle belongs to the thread that created it. The
 * publisher's acknowledgements arrive on a nats.c thread and are only
 * recorded there; the owning thread reads them.
 */
#ifndef CDC_JS_H
#define CDC_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cdc_err;
struct cdc_buf;

struct cdc_js;
struct cdc_js_pub;
struct cdc_js_consumer;
struct cdc_js_msg;
struct cdc_js_kv;

struct cdc_js_opts {
    const char *url;        /* nats://host:port, comma-separated for many */
    const char *name;       /* connection name shown by the server */
    const char *user;       /* optional */
    const char *password;   /* optional, never logged */
    const char *token;      /* optional, never logged */
    const char *creds_file; /* optional NATS credentials (JWT + NKey) */
    const char *nkey_seed_file; /* optional NKey seed file */
    const char *tls_ca;     /* optional CA file: enables TLS */
    const char *tls_cert;   /* optional client certificate */
    const char *tls_key;    /* optional client key */
    int64_t timeout_ms;     /* connect and request timeout */
};

/* Connects (retrying inside nats.c on later disconnects forever). Errors
 * are CDC_EIO and retriable. */
int cdc_js_open(const struct cdc_js_opts *o, struct cdc_js **out,
                struct cdc_err *err);
void cdc_js_close(struct cdc_js *js);
/* Waits (up to a few seconds) until the NATS library's own threads have
 * ended and its memory is released. Call once, last, after every handle is
 * closed: threads still running at exit can stall the process's exit
 * (leak checkers stop every thread). */
void cdc_js_library_close(void);
/* The server's maximum message payload in bytes. */
int64_t cdc_js_max_payload(struct cdc_js *js);
/* True while the connection is up. */
bool cdc_js_connected(struct cdc_js *js);

struct cdc_js_stream_cfg {
    const char *name;
    const char *subject;   /* one subject filter, e.g. "tributary.g.>" */
    int64_t max_age_ms;    /* 0: unlimited */
    int64_t max_bytes;     /* 0: unlimited */
    int64_t dup_window_ms; /* duplicate-detection window for Nats-Msg-Id */
};

/* Creates the stream with file storage and limits retention if it does not
 * exist; an existing stream is kept as it is. */
int cdc_js_stream_ensure(struct cdc_js *js, const struct cdc_js_stream_cfg *sc,
                         struct cdc_err *err);
/* Number of messages in a stream and its last sequence; CDC_ENOTFOUND if
 * it does not exist. */
int cdc_js_stream_info(struct cdc_js *js, const char *name, uint64_t *msgs,
                       uint64_t *last_seq, struct cdc_err *err);
int cdc_js_stream_delete(struct cdc_js *js, const char *name,
                         struct cdc_err *err);

/* What a stream holds now. Times are microseconds since the Unix epoch,
 * 0 when the stream is empty. */
struct cdc_js_stream_state {
    uint64_t msgs;
    uint64_t bytes;
    uint64_t first_seq;
    uint64_t last_seq;
    int64_t first_time_us;
    int64_t last_time_us;
    uint64_t consumers;
    /* its limits, as in struct cdc_js_stream_cfg (0: none) */
    int64_t max_age_ms;
    int64_t max_bytes;
    int64_t dup_window_ms;
};
/* Fills st with the state of stream name; CDC_ENOTFOUND if it does not
 * exist. */
int cdc_js_stream_info_ex(struct cdc_js *js, const char *name,
                          struct cdc_js_stream_state *st, struct cdc_err *err);
/* Sets the limits of stream sc->name that are in which (CDC_JS_MAX_AGE,
 * ...) to sc's, keeping the rest of its configuration. */
enum {
    CDC_JS_MAX_AGE = 1,
    CDC_JS_MAX_BYTES = 2,
    CDC_JS_DUP_WINDOW = 4,
};
int cdc_js_stream_set_limits(struct cdc_js *js,
                             const struct cdc_js_stream_cfg *sc,
                             unsigned which, struct cdc_err *err);

/* One consumer of a stream, as the server reports it. */
struct cdc_js_consumer_state {
    char *name;
    uint64_t pending;       /* messages not yet delivered */
    uint64_t ack_pending;   /* delivered and not yet acknowledged */
    uint64_t delivered_seq; /* stream sequence of the last delivery */
    uint64_t ack_floor_seq; /* everything up to it is acknowledged */
    /* the later of its last delivery and its last acknowledgement, in
     * microseconds since the Unix epoch; 0: neither yet */
    int64_t last_active_us;
};
/* Every consumer of stream, sorted by name, as a new array of *n entries
 * in *out (free it with cdc_js_consumer_states_free; NULL when *n is 0).
 * CDC_ENOTFOUND if the stream does not exist; on failure *out is NULL. */
int cdc_js_stream_consumers(struct cdc_js *js, const char *stream,
                            struct cdc_js_consumer_state **out, size_t *n,
                            struct cdc_err *err);
/* Frees what cdc_js_stream_consumers returned; NULL-safe. */
void cdc_js_consumer_states_free(struct cdc_js_consumer_state *st, size_t n);

/* Removes message seq from the stream. CDC_ENOTFOUND when it is not
 * there. */
int cdc_js_stream_msg_delete(struct cdc_js *js, const char *name, uint64_t seq,
                             struct cdc_err *err);
/* The message at stream sequence seq, as stored, into *out (free it with
 * cdc_js_msg_free; it cannot be acknowledged). CDC_ENOTFOUND when the
 * stream has no message there. */
int cdc_js_stream_msg_get(struct cdc_js *js, const char *name, uint64_t seq,
                          struct cdc_js_msg **out, struct cdc_err *err);
/* The Nats-Msg-Id of the stream's last message into last (empty when the
 * stream is empty or that message has none), and into ours the id of the
 * newest message whose id starts with prefix, looking back at most
 * max_back messages (empty if none). */
int cdc_js_stream_last_msgids(struct cdc_js *js, const char *name,
                              const char *prefix, uint64_t max_back,
                              struct cdc_buf *last, struct cdc_buf *ours,
                              struct cdc_err *err);

/* ==== Asynchronous publisher ==== */

/* A window of at most max_pending unacknowledged messages. Every message
 * sent gets a local sequence number 1, 2, 3...; the acknowledged floor is
 * the highest sequence such that it and everything before it were stored
 * by JetStream. */
int cdc_js_pub_new(struct cdc_js *js, int max_pending, int64_t ack_timeout_ms,
                   struct cdc_js_pub **out, struct cdc_err *err);
void cdc_js_pub_free(struct cdc_js_pub *p);

struct cdc_js_hdr {
    const char *name;
    const char *value;
};

/* Sends one message, waiting while the window is full. Returns the local
 * sequence in *seq. Fails (CDC_EIO, retriable) when an earlier message was
 * rejected, an acknowledgement is overdue, or on stop (CDC_ESTOP); the
 * caller then calls cdc_js_pub_reset and re-sends from its last confirmed
 * position (duplicates are dropped by msgid). */
int cdc_js_pub_send(struct cdc_js_pub *p, const char *subject,
                    const char *msgid, const void *data, size_t len,
                    const struct cdc_js_hdr *hdrs, size_t nhdrs,
                    uint64_t *seq, struct cdc_err *err);
/* Collects acknowledgements that arrived; returns the acknowledged floor,
 * or sets err and returns CDC_EIO (via *floor unchanged) on a failure. */
int cdc_js_pub_poll(struct cdc_js_pub *p, uint64_t *floor,
                    struct cdc_err *err);
/* Waits up to timeout_ms until every sent message is acknowledged.
 * CDC_ETIMEDOUT if not. */
int cdc_js_pub_drain(struct cdc_js_pub *p, int64_t timeout_ms,
                     struct cdc_err *err);
/* Number of sent messages not yet acknowledged. */
uint64_t cdc_js_pub_inflight(struct cdc_js_pub *p);
/* Forgets every unacknowledged message (their acks are ignored when they
 * come) and clears a failure; local sequences continue. */
void cdc_js_pub_reset(struct cdc_js_pub *p);

/* Publishes one message and waits for its acknowledgement. */
int cdc_js_publish_sync(struct cdc_js *js, const char *subject,
                        const char *msgid, const void *data, size_t len,
                        const struct cdc_js_hdr *hdrs, size_t nhdrs,
                        struct cdc_err *err);

/* ==== Durable pull consumer ==== */

struct cdc_js_consumer_cfg {
    const char *stream;
    const char *durable;
    const char *filter_subject;
    int64_t ack_wait_ms;
    int64_t max_ack_pending;
    /* Where a new consumer starts: 0 for the first message of the stream,
     * else this stream sequence. */
    uint64_t start_seq;
    /* Optional: called only when the consumer is made, to choose its
     * start instead of start_seq; its failure fails the open. */
    int (*choose_start)(void *arg, uint64_t *start_seq, struct cdc_err *err);
    void *choose_arg;
};

/*
 * Binds to the durable consumer, creating it if missing. Acks are
 * cumulative (an ack covers every earlier message). If the consumer has
 * messages delivered but not acknowledged (a previous worker died holding
 * them), it is recreated to start right after its acknowledged floor, so
 * those messages come again first and in order: one worker owns a consumer
 * at a time. An existing consumer whose max_ack_pending is below
 * cc->max_ack_pending is updated to it. The subscription buffers whatever
 * a fetch asks for (no client-side limit drops messages).
 */
int cdc_js_consumer_open(struct cdc_js *js,
                         const struct cdc_js_consumer_cfg *cc,
                         struct cdc_js_consumer **out, struct cdc_err *err);
void cdc_js_consumer_close(struct cdc_js_consumer *c);
/* Fetches up to max messages into out: what the consumer has now,
 * without waiting for max to come; if it has nothing, waits up to
 * timeout_ms for max messages. *n is 0 on timeout (not an error). */
int cdc_js_fetch(struct cdc_js_consumer *c, size_t max, int64_t timeout_ms,
                 struct cdc_js_msg **out, size_t *n, struct cdc_err *err);
/* Number of messages not yet delivered and delivered but not acked. */
int cdc_js_consumer_pending(struct cdc_js_consumer *c, uint64_t *pending,
                            uint64_t *ack_pending, struct cdc_err *err);
int cdc_js_consumer_delete(struct cdc_js *js, const char *stream,
                           const char *durable, struct cdc_err *err);

const void *cdc_js_msg_data(const struct cdc_js_msg *m, size_t *len);
const char *cdc_js_msg_subject(const struct cdc_js_msg *m);
/* A header's value (owned by the message), or NULL when absent. */
const char *cdc_js_msg_header(const struct cdc_js_msg *m, const char *name);
uint64_t cdc_js_msg_stream_seq(const struct cdc_js_msg *m);
uint64_t cdc_js_msg_delivered(const struct cdc_js_msg *m);
/* How many messages the consumer still had to deliver after this one
 * when the server sent it (0 if unknown). */
uint64_t cdc_js_msg_pending(const struct cdc_js_msg *m);
/* Reads the delivery count, the stream sequence and the count of messages
 * still pending for the consumer from the reply subject of a JetStream
 * message: "$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer
 * seq>.<time>.<pending>", or the form with a domain and an account hash
 * after "$JS.ACK" (12 tokens or more). false if it is not such a subject;
 * *pending is 0 when it is missing. */
bool cdc_js_reply_meta(const char *reply, uint64_t *delivered,
                       uint64_t *stream_seq, uint64_t *pending);
/* Acknowledges this message and, cumulatively, every earlier one. */
int cdc_js_msg_ack(struct cdc_js_msg *m, struct cdc_err *err);
/* Tells the server the message is still being worked on. */
void cdc_js_msg_in_progress(struct cdc_js_msg *m);
void cdc_js_msg_free(struct cdc_js_msg *m);

/* ==== Key-value bucket ==== */

/* Opens the bucket, creating it (file storage, one history entry) if
 * missing. */
int cdc_js_kv_open(struct cdc_js *js, const char *bucket,
                   struct cdc_js_kv **out, struct cdc_err *err);
void cdc_js_kv_close(struct cdc_js_kv *kv);
/* Replaces val's content with the value. CDC_ENOTFOUND if absent. */
int cdc_js_kv_get(struct cdc_js_kv *kv, const char *key, struct cdc_buf *val,
                  uint64_t *rev, struct cdc_err *err);
/* Compare-and-set: expect_rev 0 means the key must not exist. CDC_ESTATE
 * when another writer got there first. */
int cdc_js_kv_put(struct cdc_js_kv *kv, const char *key, const void *val,
                  size_t len, uint64_t expect_rev, uint64_t *new_rev,
                  struct cdc_err *err);
int cdc_js_kv_delete_bucket(struct cdc_js *js, const char *bucket,
                            struct cdc_err *err);

#endif

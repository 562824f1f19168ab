/*
 * deadletters.c: the group's dead letters of one sink, listed
 * (--list-dead-letters) or applied again (--replay-dead-letters).
 *
 * Both read the dead-letter stream with a consumer of their own, filtered
 * to the sink's subject, from its first message, and delete that consumer
 * when done. A replay runs each change through the rules, the routing and
 * the sink as the worker would, as a replay batch (the sink writes it
 * whatever its record of what it holds says, and leaves that record
 * alone); once the sink has committed a dead letter, it is removed from the
 * stream, so a second replay does not apply it twice. The first dead
 * letter that fails again stops the replay: it stays, with those after it.
 *
 * An event that travelled as chunks is a dead letter of as many messages,
 * one per chunk, stored one after the other: they are joined again and
 * the event is listed or replayed as one (and, replayed, every one of its
 * messages removed). Chunks that cannot be joined (a run cut short or out
 * of order, as the worker found it) are listed one by one with their
 * bytes, and stop a replay like any dead letter that fails.
 */
#include "common/js.h"
#include "worker/worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Dead letters fetched at a time. */
#define FETCH_MAX 64
/* How long the stream may be quiet before everything counts as read. */
#define FETCH_WAIT_MS 1000

struct dl {
    const struct sink_ops *ops;
    const struct worker_pipeline *pipe;
    void *snk;
    const char *stream;
    bool replay;
    uint64_t listed;
    uint64_t replayed;
    uint64_t filtered;
    struct cdc_chunk_seq run;  /* the open run of chunks */
    struct cdc_buf joined;     /* its bytes so far */
    struct cdc_js_msg **parts; /* its messages, owned */
    struct cdc_zip *zip;       /* to open compressed dead letters */
    struct cdc_buf unzipped;
    size_t nparts;
    size_t capparts;
};

/* Appends "dead_letter":{"seq":<msg's>[,"last_seq":<last_seq>] (the last
 * of its messages, for an event that came as chunks), unclosed. */
static void append_seqs(struct cdc_buf *b, struct cdc_js_msg *msg,
                        uint64_t last_seq)
{
    uint64_t seq = cdc_js_msg_stream_seq(msg);
    cdc_buf_printf(b, "\"dead_letter\":{\"seq\":%" PRIu64, seq);
    if (last_seq != seq)
        cdc_buf_printf(b, ",\"last_seq\":%" PRIu64, last_seq);
}

/* Prints the changes of one dead letter. */
static int list_one(struct cdc_js_msg *msg, const struct cdc_event *evs,
                    size_t n, uint64_t last_seq)
{
    const char *reason = cdc_js_msg_header(msg, "Tributary-Error");
    const char *subject = cdc_js_msg_header(msg, "Tributary-Subject");
    struct cdc_buf extra;
    struct cdc_buf line;
    cdc_buf_init(&extra, 0);
    cdc_buf_init(&line, 0);
    append_seqs(&extra, msg, last_seq);
    cdc_buf_append_str(&extra, ",\"error\":");
    const char *r = reason ? reason : "";
    cdc_buf_append_json_str(&extra, r, strlen(r));
    cdc_buf_append_str(&extra, ",\"subject\":");
    const char *sj = subject ? subject : "";
    cdc_buf_append_json_str(&extra, sj, strlen(sj));
    cdc_buf_append_char(&extra, '}');
    int rc = CDC_OK;
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        cdc_buf_reset(&line);
        rc = cdc_event_encode_natural(&evs[i], extra.data, &line);
        if (rc == CDC_OK && fwrite(line.data, 1, line.len, stdout) != line.len)
            rc = CDC_EIO;
        if (rc == CDC_OK && fputc('\n', stdout) == EOF)
            rc = CDC_EIO;
    }
    cdc_buf_release(&extra);
    cdc_buf_release(&line);
    return rc;
}

/* Applies the changes of one dead letter again; CDC_OK once committed. */
static int replay_one(struct dl *d, struct cdc_js_msg *msg,
                      struct cdc_event *evs, size_t n, struct cdc_arena *arena,
                      struct cdc_err *err)
{
    struct cdc_event **pass = cdc_xcalloc(n ? n : 1, sizeof(*pass));
    uint64_t *seqs = cdc_xcalloc(n ? n : 1, sizeof(*seqs));
    size_t np = 0;
    int rc = CDC_OK;
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        char reason[CDC_ERR_MSG_MAX];
        enum worker_verdict v = worker_pipeline_run(d->pipe, &evs[i], arena,
                                                    reason, sizeof(reason));
        if (v == WORKER_FILTER) {
            d->filtered++;
        } else if (v == WORKER_REJECT) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON, "%s", reason);
        } else {
            seqs[np] = cdc_js_msg_stream_seq(msg);
            pass[np++] = &evs[i];
        }
    }
    if (rc == CDC_OK && np > 0) {
        struct cdc_batch batch = {
            .events = pass, .seqs = seqs, .n = np, .replay = true};
        rc = d->ops->write(d->snk, &batch, err);
        if (rc == CDC_OK)
            rc = d->ops->flush(d->snk, err);
    }
    cdc_free(pass);
    cdc_free(seqs);
    return rc;
}

/* Prints a dead letter that holds no event: its bytes as they are, with
 * the reason it was set aside and, for a chunk, why it cannot be joined. */
static int list_raw(struct cdc_js_msg *msg, const void *data, size_t len,
                    uint64_t last_seq, const char *why)
{
    const char *reason = cdc_js_msg_header(msg, "Tributary-Error");
    const char *chunk = cdc_js_msg_header(msg, CDC_CHUNK_HEADER);
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    cdc_buf_append_char(&b, '{');
    append_seqs(&b, msg, last_seq);
    cdc_buf_append_char(&b, '}');
    if (chunk != NULL) {
        cdc_buf_append_str(&b, ",\"chunk\":");
        cdc_buf_append_json_str(&b, chunk, strlen(chunk));
    }
    if (why != NULL) {
        cdc_buf_append_str(&b, ",\"incomplete\":");
        cdc_buf_append_json_str(&b, why, strlen(why));
    }
    cdc_buf_append_str(&b, ",\"undecodable\":");
    cdc_buf_append_json_str(&b, data, len);
    cdc_buf_append_str(&b, ",\"error\":");
    cdc_buf_append_json_str(&b, reason ? reason : "",
                            reason ? strlen(reason) : 0);
    cdc_buf_append_str(&b, "}\n");
    int rc = fwrite(b.data, 1, b.len, stdout) == b.len ? CDC_OK : CDC_EIO;
    cdc_buf_release(&b);
    return rc;
}

/* Lists or replays what the dead letters msgs[0..nmsgs) hold: one
 * message, or the run of chunks of one event, data being their bytes
 * joined (encoding: their Tributary-Encoding header, if any). */
static int take_event(struct dl *d, struct cdc_js *js,
                      struct cdc_js_msg *const *msgs, size_t nmsgs,
                      const char *encoding, const void *data, size_t len,
                      struct cdc_err *err)
{
    struct cdc_js_msg *msg = msgs[0];
    uint64_t seq = cdc_js_msg_stream_seq(msg);
    uint64_t last_seq = cdc_js_msg_stream_seq(msgs[nmsgs - 1]);
    struct cdc_arena arena;
    cdc_arena_init(&arena);
    struct cdc_event *evs = NULL;
    size_t n = 0;
    int rc = cdc_zip_open(d->zip, encoding, data, len, &d->unzipped, &data,
                          &len, err);
    if (rc == CDC_OK)
        rc = cdc_event_decode_msg(data, len, &arena, &evs, &n, err);
    if (rc != CDC_OK && !d->replay) {
        /* what another client wrote: shown as it is */
        rc = list_raw(msg, data, len, last_seq, NULL);
        d->listed++;
        if (rc != CDC_OK)
            cdc_err_set(err, rc, 0, "could not write to stdout");
    } else if (rc != CDC_OK) {
        cdc_err_prefix(err, "dead letter %" PRIu64 " cannot be decoded", seq);
    } else if (!d->replay) {
        rc = list_one(msg, evs, n, last_seq);
        d->listed++;
        if (rc != CDC_OK)
            cdc_err_set(err, rc, 0, "could not write to stdout");
    } else {
        rc = replay_one(d, msg, evs, n, &arena, err);
        if (rc != CDC_OK)
            cdc_err_prefix(err, "dead letter %" PRIu64 " failed again", seq);
        for (size_t i = 0; i < nmsgs && rc == CDC_OK; i++) {
            rc = cdc_js_stream_msg_delete(js, d->stream,
                                          cdc_js_msg_stream_seq(msgs[i]), err);
            if (rc == CDC_ENOTFOUND)
                rc = CDC_OK;
        }
        if (rc == CDC_OK) {
            d->replayed++;
            if (nmsgs > 1)
                cdc_log(CDC_LOG_INFO, "worker",
                        "dead letters %" PRIu64 " to %" PRIu64
                        " (the chunks of one event) applied again and "
                        "removed",
                        seq, last_seq);
            else
                cdc_log(CDC_LOG_INFO, "worker",
                        "dead letter %" PRIu64 " applied again and removed",
                        seq);
        }
    }
    cdc_arena_release(&arena);
    return rc;
}

/* Forgets the open run's messages and bytes (not where the run is). */
static void drop_parts(struct dl *d)
{
    for (size_t i = 0; i < d->nparts; i++)
        cdc_js_msg_free(d->parts[i]);
    d->nparts = 0;
    cdc_buf_reset(&d->joined);
}

/* Adds msg to the open run's messages. */
static void add_part(struct dl *d, struct cdc_js_msg *msg)
{
    if (d->nparts == d->capparts) {
        d->capparts = d->capparts ? d->capparts * 2 : 16;
        d->parts = cdc_xrealloc(d->parts, d->capparts * sizeof(*d->parts));
    }
    d->parts[d->nparts++] = msg;
}

/* The open run's chunks and then msg (if not NULL, also a chunk) cannot
 * be joined into an event, for the reason why: listed one by one, or the
 * replay stops at the first of them. Frees them. */
static int give_up_run(struct dl *d, struct cdc_js_msg *msg, const char *why,
                       struct cdc_err *err)
{
    if (msg != NULL)
        add_part(d, msg);
    int rc = CDC_OK;
    if (d->replay && d->nparts > 0) {
        uint64_t seq = cdc_js_msg_stream_seq(d->parts[0]);
        const char *chunk = cdc_js_msg_header(d->parts[0], CDC_CHUNK_HEADER);
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "dead letter %" PRIu64
                         " (chunk %s) cannot be joined into an event: %s; "
                         "list the dead letters to see it, and delete it "
                         "(nats stream rmm %s %" PRIu64 ") to go on",
                         seq, chunk ? chunk : "?", why, d->stream, seq);
    }
    for (size_t i = 0; i < d->nparts && rc == CDC_OK && !d->replay; i++) {
        struct cdc_js_msg *m = d->parts[i];
        size_t len = 0;
        const void *data = cdc_js_msg_data(m, &len);
        rc = list_raw(m, data, len, cdc_js_msg_stream_seq(m), why);
        d->listed++;
        if (rc != CDC_OK)
            cdc_err_set(err, rc, 0, "could not write to stdout");
    }
    drop_parts(d);
    return rc;
}

/* Takes one dead letter (and owns msg from here). */
static int take(struct dl *d, struct cdc_js *js, struct cdc_js_msg *msg,
                struct cdc_err *err)
{
    size_t len = 0;
    const void *data = cdc_js_msg_data(msg, &len);
    const char *chunk = cdc_js_msg_header(msg, CDC_CHUNK_HEADER);
    int rc = CDC_OK;
    if (chunk == NULL) {
        if (cdc_chunk_seq_open(&d->run)) {
            cdc_chunk_seq_init(&d->run);
            rc = give_up_run(
                d, NULL, "followed by a dead letter that is not a chunk", err);
        }
        if (rc == CDC_OK)
            rc = take_event(d, js, &msg, 1,
                            cdc_js_msg_header(msg, CDC_ZIP_HEADER), data, len,
                            err);
        cdc_js_msg_free(msg);
        return rc;
    }
    uint32_t i = 0;
    uint32_t k = 0;
    uint32_t dropped = 0;
    if (cdc_chunk_parse(chunk, &i, &k) != CDC_OK) {
        cdc_chunk_seq_init(&d->run);
        return give_up_run(d, msg, "malformed " CDC_CHUNK_HEADER " header",
                           err);
    }
    enum cdc_chunk_step step = cdc_chunk_seq_step(&d->run, i, k, &dropped);
    if (step == CDC_CHUNK_BAD)
        return give_up_run(d, msg, "a chunk does not follow the one before it",
                           err);
    if (dropped > 0) {
        /* the run is cut short by the first chunk of another */
        rc = give_up_run(d, NULL, "chunk 1 of an event came after them", err);
        if (rc != CDC_OK) {
            cdc_js_msg_free(msg);
            return rc;
        }
    }
    add_part(d, msg);
    if (cdc_buf_append(&d->joined, data, len) != CDC_OK) {
        cdc_chunk_seq_init(&d->run);
        return give_up_run(d, NULL, "the event would be over 256 MiB", err);
    }
    if (step == CDC_CHUNK_MORE)
        return CDC_OK;
    rc = take_event(d, js, d->parts, d->nparts, NULL, d->joined.data,
                    d->joined.len, err);
    drop_parts(d);
    return rc;
}

int worker_dead_letters(const struct cdc_conf *cfg, const struct sink_ops *ops,
                        const char *group, const struct worker_pipeline *pipe,
                        bool replay)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    char name[CDC_NAME_MAX];
    char stream[CDC_NAME_MAX];
    char subject[CDC_NAME_MAX];
    char durable[CDC_NAME_MAX];
    snprintf(name, sizeof(name), "tributary-deadletters-%s-%s", ops->name,
             group);
    cdc_name_dlq_stream(group, stream, sizeof(stream));
    cdc_name_dlq_subject(group, ops->name, subject, sizeof(subject));
    /* a name of this run's own: a list and a replay may run at once */
    snprintf(durable, sizeof(durable), "deadletters_%s_%s_%ld", ops->name,
             group, (long)getpid());
    for (char *p = durable; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';

    struct dl d = {
        .ops = ops, .pipe = pipe, .stream = stream, .replay = replay};
    cdc_buf_init(&d.joined, 0);
    cdc_buf_init(&d.unzipped, 0);
    d.zip = cdc_zip_new(0);
    struct cdc_js_opts jo;
    struct cdc_js *js = NULL;
    struct cdc_js_consumer *cons = NULL;
    struct sink_mark mark = {0};
    bool made = false;
    struct cdc_js_consumer_cfg cc = {
        .stream = stream,
        .durable = durable,
        .filter_subject = subject,
        .ack_wait_ms = 60000,
        .max_ack_pending = FETCH_MAX * 2,
        .start_seq = 0,
    };
    cdc_js_opts_from_conf(cfg, name, &jo);
    int rc = cdc_js_open(&jo, &js, &err);
    uint64_t msgs = 0;
    if (rc == CDC_OK) {
        rc = cdc_js_stream_info(js, stream, &msgs, NULL, &err);
        if (rc == CDC_ENOTFOUND) {
            cdc_log(CDC_LOG_INFO, "worker", "group \"%s\" has no dead letters",
                    group);
            rc = CDC_OK;
            goto out;
        }
    }
    if (rc == CDC_OK && replay)
        rc = ops->open(cfg, group, &d.snk, &mark, &err);
    if (rc == CDC_OK) {
        rc = cdc_js_consumer_open(js, &cc, &cons, &err);
        made = rc == CDC_OK;
    }
    while (rc == CDC_OK && !cdc_stop_requested) {
        struct cdc_js_msg *got[FETCH_MAX];
        size_t n = 0;
        rc = cdc_js_fetch(cons, FETCH_MAX, FETCH_WAIT_MS, got, &n, &err);
        if (rc != CDC_OK || n == 0)
            break;
        /* acknowledged as read, or the server stops delivering once
         * max_ack_pending are out; the consumer is this run's alone */
        rc = cdc_js_msg_ack(got[n - 1], &err);
        for (size_t i = 0; i < n; i++) {
            if (rc == CDC_OK)
                rc = take(&d, js, got[i], &err);
            else
                cdc_js_msg_free(got[i]);
        }
    }
    if (rc == CDC_OK && !cdc_stop_requested && cdc_chunk_seq_open(&d.run))
        rc = give_up_run(&d, NULL,
                         "the chunks after them are not in the dead letters",
                         &err);
out:
    drop_parts(&d);
    cdc_free(d.parts);
    cdc_buf_release(&d.joined);
    cdc_buf_release(&d.unzipped);
    cdc_zip_free(d.zip);
    if (cons != NULL)
        cdc_js_consumer_close(cons);
    if (made) {
        struct cdc_err e2;
        cdc_err_clear(&e2);
        (void)cdc_js_consumer_delete(js, stream, durable, &e2);
    }
    if (d.snk != NULL)
        ops->close(d.snk);
    cdc_js_close(js);
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "worker", "%s", err.msg);
        return rc == CDC_ECONFIG ? WORKER_EXIT_CONFIG : WORKER_EXIT_RUNTIME;
    }
    if (replay)
        cdc_log(CDC_LOG_INFO, "worker",
                "%" PRIu64 " dead letters applied again (%" PRIu64
                " changes filtered by the rules)",
                d.replayed, d.filtered);
    else
        cdc_log(CDC_LOG_INFO, "worker", "%" PRIu64 " dead letters listed",
                d.listed);
    return WORKER_EXIT_OK;
}

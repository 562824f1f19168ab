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
};

/* Prints the changes of one dead letter. */
static int list_one(struct cdc_js_msg *msg, const struct cdc_event *evs,
                    size_t n)
{
    const char *reason = cdc_js_msg_header(msg, "Tributary-Error");
    const char *subject = cdc_js_msg_header(msg, "Tributary-Subject");
    struct cdc_buf extra;
    struct cdc_buf line;
    cdc_buf_init(&extra, 0);
    cdc_buf_init(&line, 0);
    cdc_buf_printf(&extra, "\"dead_letter\":{\"seq\":%" PRIu64 ",\"error\":",
                   cdc_js_msg_stream_seq(msg));
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

static int take(struct dl *d, struct cdc_js *js, struct cdc_js_msg *msg,
                struct cdc_err *err)
{
    uint64_t seq = cdc_js_msg_stream_seq(msg);
    if (cdc_js_msg_header(msg, CDC_CHUNK_HEADER) != NULL) {
        cdc_log(CDC_LOG_WARN, "worker",
                "dead letter %" PRIu64 " is one chunk of a large event: "
                "chunks are not listed or replayed yet; it stays",
                seq);
        return d->replay ? cdc_err_set(err, CDC_EPROTO, 0,
                                       "dead letter %" PRIu64
                                       " is a chunk of a large event, which "
                                       "cannot be replayed yet",
                                       seq)
                         : CDC_OK;
    }
    size_t len = 0;
    const void *data = cdc_js_msg_data(msg, &len);
    struct cdc_arena arena;
    cdc_arena_init(&arena);
    struct cdc_event *evs = NULL;
    size_t n = 0;
    struct cdc_zip *zip = cdc_zip_new(0);
    struct cdc_buf unzipped;
    cdc_buf_init(&unzipped, 0);
    int rc = cdc_zip_open(zip, cdc_js_msg_header(msg, CDC_ZIP_HEADER), data,
                          len, &unzipped, &data, &len, err);
    if (rc == CDC_OK)
        rc = cdc_event_decode_msg(data, len, &arena, &evs, &n, err);
    if (rc != CDC_OK && !d->replay) {
        /* what another client wrote: shown as it is */
        const char *reason = cdc_js_msg_header(msg, "Tributary-Error");
        printf("{\"dead_letter\":{\"seq\":%" PRIu64 "},\"undecodable\":", seq);
        struct cdc_buf b;
        cdc_buf_init(&b, 0);
        cdc_buf_append_json_str(&b, data, len);
        cdc_buf_append_str(&b, ",\"error\":");
        cdc_buf_append_json_str(&b, reason ? reason : "",
                                reason ? strlen(reason) : 0);
        printf("%.*s}\n", (int)b.len, b.data);
        cdc_buf_release(&b);
        d->listed++;
        rc = CDC_OK;
    } else if (rc != CDC_OK) {
        cdc_err_prefix(err, "dead letter %" PRIu64 " cannot be decoded", seq);
    } else if (!d->replay) {
        rc = list_one(msg, evs, n);
        d->listed++;
        if (rc != CDC_OK)
            cdc_err_set(err, rc, 0, "could not write to stdout");
    } else {
        rc = replay_one(d, msg, evs, n, &arena, err);
        if (rc != CDC_OK) {
            cdc_err_prefix(err, "dead letter %" PRIu64 " failed again", seq);
        } else {
            rc = cdc_js_stream_msg_delete(js, d->stream, seq, err);
            if (rc == CDC_ENOTFOUND)
                rc = CDC_OK;
            if (rc == CDC_OK) {
                d->replayed++;
                cdc_log(CDC_LOG_INFO, "worker",
                        "dead letter %" PRIu64 " applied again and removed",
                        seq);
            }
        }
    }
    cdc_arena_release(&arena);
    cdc_buf_release(&unzipped);
    cdc_zip_free(zip);
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
        for (size_t i = 0; i < n; i++) {
            if (rc == CDC_OK)
                rc = take(&d, js, got[i], &err);
            cdc_js_msg_free(got[i]);
        }
    }
out:
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

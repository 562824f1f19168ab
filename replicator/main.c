/*
 * main.c: the replicator. One process per group: it reads changes from a
 * source, publishes each as one event to the group's JetStream stream with
 * a Nats-Msg-Id, and tells the source it may forget a checkpoint only once
 * JetStream has acknowledged every event before it. On any failure it
 * forgets what was not acknowledged, waits, and resumes from the last
 * acknowledged checkpoint; re-sent events are dropped by JetStream's
 * duplicate detection (and by the sinks' own position checks beyond it).
 * SIGINT/SIGTERM: stop reading, wait for the acknowledgements, confirm,
 * exit 0.
 */
#include "common/common.h"
#include "replicator/source.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                  \
    "usage: replicator --group NAME [--tables T1,T2] [--host H] [--port P]\n" \
    "                  [--dbname DB] [--user U] [--nats-url URL] [options]\n"  \
    "Captures changes of a source database into the group's JetStream "      \
    "stream.\n"

#ifndef TRIBUTARY_VERSION
#define TRIBUTARY_VERSION "0.1.0"
#endif

/* Progress is logged this often while events flow. */
#define PROGRESS_INTERVAL_MS 10000
/* Messages of other writers looked past, after a failure, to find the
 * stream's last event of ours. */
#define RESYNC_LOOK_BACK 1000
/* The confirmed position goes to the state bucket at most this often. */
#define KV_SAVE_INTERVAL_MS 5000
/* How long one poll may wait for the source before checking acks. */
#define POLL_TIMEOUT_MS 100

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
    /* the Nats-Msg-Id of the stream's last message: every event names it
     * as the one it must follow, so JetStream refuses an event whose
     * predecessor was lost, and the stream never holds a gap */
    struct cdc_buf prev_msgid;
    bool need_resync;
    /* after a resync: events at or below the stream's last one are
     * already stored, in order, and are not sent again */
    bool skip_set;
    char skip_pos[128];
    uint32_t skip_idx;
    uint64_t skipped;
    const char *stream;
    /* the confirmed position, also kept in the group's key-value bucket
     * (key replicator.position, written with compare-and-set) for tools
     * that want to see it without asking the source */
    struct cdc_js_kv *kv;
    uint64_t kv_rev;
    char kv_saved[64];
    int64_t kv_saved_ms;
    char *last_schema;
    char *last_table;
    char confirmed[64];
};

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

/* Reads what the stream holds last, after a start or a failure. */
static int resync(struct repl *r, struct cdc_err *err)
{
    struct cdc_buf ours;
    char prefix[CDC_NAME_MAX];
    cdc_buf_init(&ours, 0);
    snprintf(prefix, sizeof(prefix), "%s:", r->group);
    int rc = cdc_js_stream_last_msgids(r->js, r->stream, prefix,
                                       RESYNC_LOOK_BACK, &r->prev_msgid,
                                       &ours, err);
    if (rc != CDC_OK) {
        cdc_buf_release(&ours);
        return rc;
    }
    r->skip_set = false;
    const char *id = ours.data ? ours.data : "";
    if (ours.len > 0) {
        /* "<group>:<position>:<index>"; a position may hold ':' itself */
        const char *pos = id + strlen(prefix);
        const char *colon = strrchr(pos, ':');
        int64_t idx = 0;
        if (colon != NULL && colon > pos &&
            (size_t)(colon - pos) < sizeof(r->skip_pos) &&
            cdc_parse_int(colon + 1, 0, UINT32_MAX, &idx) == CDC_OK) {
            memcpy(r->skip_pos, pos, (size_t)(colon - pos));
            r->skip_pos[colon - pos] = '\0';
            r->skip_idx = (uint32_t)idx;
            r->skip_set = true;
        }
    }
    r->need_resync = false;
    cdc_log(CDC_LOG_DEBUG, "replicator",
            "the stream's last event of ours is \"%s\"", id);
    cdc_buf_release(&ours);
    return CDC_OK;
}

static int publish_event(struct repl *r, const struct cdc_event *ev,
                         struct cdc_err *err)
{
    if (r->skip_set) {
        if (cdc_position_cmp(ev->source, ev->position, ev->tx_index,
                             r->skip_pos, r->skip_idx) <= 0) {
            r->skipped++;
            return CDC_OK;
        }
        r->skip_set = false;
    }
    cdc_buf_reset(&r->payload);
    int rc = cdc_event_encode(ev, &r->payload);
    if (rc != CDC_OK)
        return cdc_err_set(err, rc, 0,
                           "event of \"%s\".\"%s\" at %s is too big to encode",
                           ev->schema, ev->table, ev->position);
    if ((int64_t)r->payload.len > r->max_payload)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "event of \"%s\".\"%s\" at %s is %zu bytes, over "
                           "the NATS server's max_payload of %" PRId64
                           " bytes: raise max_payload in the server's "
                           "configuration",
                           ev->schema, ev->table, ev->position,
                           r->payload.len, r->max_payload);
    build_subject(r, ev);
    cdc_buf_reset(&r->msgid);
    cdc_buf_printf(&r->msgid, "%s:%s:%u", r->group, ev->position,
                   (unsigned)ev->tx_index);
    uint64_t seq = 0;
    struct cdc_js_hdr hdr = {"Nats-Expected-Last-Msg-Id", r->prev_msgid.data};
    rc = cdc_js_pub_send(r->pub, r->subject.data, r->msgid.data,
                         r->payload.data, r->payload.len, &hdr,
                         r->prev_msgid.len > 0 ? 1 : 0, &seq, err);
    if (rc != CDC_OK)
        return rc;
    cdc_buf_reset(&r->prev_msgid);
    cdc_buf_append(&r->prev_msgid, r->msgid.data, r->msgid.len);
    r->last_seq = seq;
    r->published++;
    return CDC_OK;
}

static int publish_batch(struct repl *r, const struct source_batch *b,
                         struct cdc_err *err)
{
    size_t cp = 0;
    for (size_t i = 0; i <= b->nevents; i++) {
        while (cp < b->ncps && b->cps[cp].after == i) {
            cpq_push(&r->cps, r->last_seq, b->cps[cp].token);
            cp++;
        }
        if (i == b->nevents)
            break;
        int rc = publish_event(r, b->events[i], err);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
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
    char val[160];
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
    uint64_t token = 0;
    if (cpq_pop_upto(&r->cps, floor, &token)) {
        r->ops->format_token(token, r->confirmed, sizeof(r->confirmed));
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
        if (rc == CDC_OK)
            rc = r->ops->poll(r->src, &batch, max_batch, POLL_TIMEOUT_MS,
                              &err);
        if (rc == CDC_OK)
            rc = publish_batch(r, &batch, &err);
        if (rc == CDC_OK)
            rc = confirm(r, &err);
        if (rc == CDC_ESTOP)
            break;
        if (rc != CDC_OK) {
            if (!(err.flags & CDC_ERR_RETRIABLE) ||
                (max_attempts > 0 && bo.attempt + 1 >= (unsigned)max_attempts)) {
                cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
                code = EXIT_RUNTIME;
                break;
            }
            int64_t wait = cdc_backoff_next(&bo);
            cdc_log(CDC_LOG_WARN, "replicator", "%s; retrying in %lld ms",
                    err.msg, (long long)wait);
            cdc_js_pub_reset(r->pub);
            r->cps.len = 0;
            r->need_resync = true;
            r->ops->reset(r->src);
            cdc_sleep_ms(wait);
            continue;
        }
        if (batch.nevents > 0 || batch.ncps > 0)
            cdc_backoff_reset(&bo);
        if (r->max_events > 0 && r->published >= r->max_events) {
            cdc_log(CDC_LOG_INFO, "replicator",
                    "reached --max-events %" PRIu64, r->max_events);
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

static void add_source_options(struct cdc_conf *cfg)
{
    for (size_t i = 0; source_all[i] != NULL; i++)
        cdc_conf_add_options(cfg, source_all[i]->options);
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
    if (cdc_conf_get_bool(cfg, "copy") ||
        cdc_conf_get_bool(cfg, "copy-and-stream"))
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--copy and --copy-and-stream are not supported "
                           "yet; only --stream");
    if (cdc_conf_get_bool(cfg, "track-ddl"))
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "--track-ddl is not supported yet");
    return CDC_OK;
}

int main(int argc, char **argv)
{
    struct cdc_err err;
    struct repl r;
    int code = EXIT_OK;
    memset(&r, 0, sizeof(r));
    cdc_err_clear(&err);
    cdc_signals_install();

    struct cdc_conf *cfg = cdc_conf_new("replicator");
    cdc_conf_add_options(cfg, cdc_replicator_options);
    cdc_conf_add_options(cfg, cdc_nats_options);
    add_source_options(cfg);
    cdc_conf_add_known(cfg, cdc_worker_options);
    cdc_conf_add_known(cfg, cdc_sink_known_options);
    cdc_conf_add_known(cfg, cdc_future_options);
    if (cdc_conf_load(cfg, argc - 1, argv + 1, &err) != CDC_OK) {
        code = EXIT_CONFIG;
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "help")) {
        cdc_conf_print_help(cfg, stdout, USAGE);
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "version")) {
        printf("tributary replicator %s\n", TRIBUTARY_VERSION);
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "print-config")) {
        cdc_conf_print(cfg, stdout);
        goto out;
    }
    r.cfg = cfg;
    r.group = cdc_conf_get_str(cfg, "group");
    const char *source = cdc_conf_get_str(cfg, "source");
    r.ops = source_find(source);
    if (cdc_group_validate(r.group, &err) != CDC_OK ||
        check_modes(cfg, &err) != CDC_OK) {
        fprintf(stderr, "replicator: %s\n", err.msg);
        code = EXIT_CONFIG;
        goto out;
    }
    if (r.ops == NULL) {
        fprintf(stderr, "replicator: unknown source \"%s\" (known: postgres)\n",
                source);
        code = EXIT_CONFIG;
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "check-config")) {
        printf("configuration is valid\n");
        goto out;
    }
    cdc_log_setup(cdc_log_level_parse(cdc_conf_get_str(cfg, "log-level")),
                  strcmp(cdc_conf_get_str(cfg, "log-format"), "json") == 0,
                  "replicator", r.group);
    r.max_events = (uint64_t)cdc_conf_get_int(cfg, "max-events");
    cdc_buf_init(&r.payload, 0);
    cdc_buf_init(&r.subject, 0);
    cdc_buf_init(&r.msgid, 0);
    cdc_buf_init(&r.prev_msgid, 0);
    r.need_resync = true;

    struct cdc_js_opts jo;
    char conn_name[CDC_NAME_MAX];
    snprintf(conn_name, sizeof(conn_name), "tributary-replicator-%s",
             r.group);
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
    /* connect to NATS, then prepare the source (publication, slot), and
     * only then create the stream: a bad setting leaves nothing behind */
    int rc = cdc_js_open(&jo, &r.js, &err);
    if (rc == CDC_OK)
        rc = r.ops->open(cfg, r.group, &r.src, &err);
    if (rc == CDC_OK)
        rc = cdc_js_stream_ensure(r.js, &sc, &err);
    if (rc == CDC_OK)
        rc = cdc_js_pub_new(r.js, (int)cdc_conf_get_int(cfg, "max-inflight"),
                            cdc_conf_get_int(cfg, "ack-timeout"), &r.pub,
                            &err);
    if (rc == CDC_OK)
        r.max_payload = cdc_js_max_payload(r.js);
    char bucket[CDC_NAME_MAX];
    cdc_name_kv(r.group, bucket, sizeof(bucket));
    if (rc == CDC_OK)
        rc = cdc_js_kv_open(r.js, bucket, &r.kv, &err);
    if (rc == CDC_OK) {
        struct cdc_buf val;
        cdc_buf_init(&val, 4096);
        rc = cdc_js_kv_get(r.kv, "replicator.position", &val, &r.kv_rev,
                           &err);
        if (rc == CDC_ENOTFOUND) {
            r.kv_rev = 0;
            rc = CDC_OK;
        }
        cdc_buf_release(&val);
    }
    if (rc != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "replicator", "%s", err.msg);
        code = rc == CDC_ECONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
        goto out;
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
    cdc_buf_release(&r.payload);
    cdc_buf_release(&r.subject);
    cdc_buf_release(&r.msgid);
    cdc_buf_release(&r.prev_msgid);
    cdc_free(r.last_schema);
    cdc_free(r.last_table);
    cdc_free(r.cps.items);
    cdc_conf_free(cfg);
    return code;
}

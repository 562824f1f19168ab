/*
 * js.c: the only file that uses nats.c. It keeps nats.c's types and error
 * codes inside and translates every failure into a cdc_err (connection
 * problems are retriable). The asynchronous publisher tracks each message
 * in a ring indexed by its local sequence; acknowledgements arrive on a
 * nats.c thread, are recorded under a mutex, and the owner reads the
 * acknowledged floor. It never resends on its own: after a failure the
 * owner resets and replays from its source, relying on Nats-Msg-Id.
 */
#include "common/common.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cdc_js {
    natsConnection *nc;
    jsCtx *js;
    int64_t timeout_ms;
};

static int nats_fail(struct cdc_err *err, natsStatus s, jsErrCode jerr,
                     const char *what)
{
    const char *last = nats_GetLastError(NULL);
    unsigned flags = 0;
    /* anything that looks like the connection or the server being away is
     * worth retrying; an API error (bad config, limits) is not */
    if (s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED ||
        s == NATS_NO_SERVER || s == NATS_IO_ERROR ||
        s == NATS_STALE_CONNECTION || s == NATS_NO_RESPONDERS ||
        s == NATS_CONNECTION_DISCONNECTED || s == NATS_SLOW_CONSUMER)
        flags = CDC_ERR_RETRIABLE;
    if (jerr != 0)
        return cdc_err_set(err, CDC_EIO, flags, "%s: %s (JetStream error %d)",
                           what, last && *last ? last : natsStatus_GetText(s),
                           (int)jerr);
    return cdc_err_set(err, CDC_EIO, flags, "%s: %s", what,
                       last && *last ? last : natsStatus_GetText(s));
}

/* Set before a deliberate close, so the disconnect it causes is not
 * logged. Process-wide: callbacks may run after the handle is freed, so
 * they must not read it. */
static volatile sig_atomic_t js_closing;

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    if (js_closing)
        return;
    cdc_log(CDC_LOG_WARN, "nats", "disconnected from NATS, reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    cdc_log(CDC_LOG_INFO, "nats", "reconnected to NATS at %s", url);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub,
                           natsStatus s, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    cdc_log_ratelimited(5000, CDC_LOG_WARN, "nats", "NATS error: %s",
                        natsStatus_GetText(s));
}

/* s as the inside of a JSON string (quotes, backslashes and control
 * characters escaped); free with cdc_free. */
static char *json_inner(const char *s)
{
    struct cdc_buf b;
    cdc_buf_init(&b, 0);
    cdc_buf_append_json_str(&b, s, strlen(s));
    /* without the surrounding quotes */
    char *out = cdc_xstrndup(b.data + 1, b.len - 2);
    cdc_buf_release(&b);
    return out;
}

int cdc_js_open(const struct cdc_js_opts *o, struct cdc_js **out,
                struct cdc_err *err)
{
    natsOptions *opts = NULL;
    natsStatus s = NATS_OK;
    struct cdc_js *js = cdc_xcalloc(1, sizeof(*js));
    int rc = CDC_OK;
    *out = NULL;
    js->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;

    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, o->url);
    if (s == NATS_OK && o->name != NULL)
        s = natsOptions_SetName(opts, o->name);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, js->timeout_ms);
    /* reconnect forever: a NATS restart must not end the process */
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 500);
    /* 32 MiB of outgoing data may be buffered while reconnecting */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(opts, 32 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts, on_async_error, NULL);
    /* nats.c writes user, password and token into the CONNECT message's
     * JSON as they are: a '"' or '\\' in them would break it, so they go
     * in JSON-escaped, which the server reads back as given */
    char *user = o->user ? json_inner(o->user) : NULL;
    char *pass = o->password ? json_inner(o->password) : NULL;
    char *token = o->token ? json_inner(o->token) : NULL;
    if (s == NATS_OK && o->user != NULL)
        s = natsOptions_SetUserInfo(opts, user, pass);
    if (s == NATS_OK && o->token != NULL)
        s = natsOptions_SetToken(opts, token);
    cdc_free(user);
    cdc_free(pass);
    cdc_free(token);
    if (s == NATS_OK && o->creds_file != NULL)
        s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds_file, NULL);
    if (s == NATS_OK && o->nkey_seed_file != NULL)
        s = natsOptions_SetNKeyFromSeed(opts, NULL, o->nkey_seed_file);
    if (s == NATS_OK && (o->tls_ca != NULL || o->tls_cert != NULL))
        s = natsOptions_SetSecure(opts, true);
    if (s == NATS_OK && o->tls_ca != NULL)
        s = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
    if (s == NATS_OK && o->tls_cert != NULL)
        s = natsOptions_LoadCertificatesChain(opts, o->tls_cert, o->tls_key);
    if (s != NATS_OK) {
        rc = cdc_err_set(err, CDC_ECONFIG, 0, "invalid NATS options: %s",
                         nats_GetLastError(NULL));
        goto out;
    }
    s = natsConnection_Connect(&js->nc, opts);
    if (s != NATS_OK) {
        char red[512];
        cdc_redact_dsn(o->url, red, sizeof(red));
        rc = nats_fail(err, s, 0, "could not connect to NATS");
        cdc_err_prefix(err, "%s", red);
        goto out;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = js->timeout_ms;
    /* nats.c's own window is kept above ours so that it never stalls a
     * publish call; cdc_js_pub enforces the real bound */
    jo.PublishAsync.MaxPending = 1 << 20;
    s = natsConnection_JetStream(&js->js, js->nc, &jo);
    if (s != NATS_OK) {
        rc = nats_fail(err, s, 0, "could not open JetStream context");
        goto out;
    }
    char url[256] = "";
    if (natsConnection_GetConnectedUrl(js->nc, url, sizeof(url)) != NATS_OK)
        url[0] = '\0';
    cdc_log(CDC_LOG_INFO, "nats", "connected to NATS at %s", url);
out:
    natsOptions_Destroy(opts);
    if (rc != CDC_OK) {
        cdc_js_close(js);
        return rc;
    }
    *out = js;
    return CDC_OK;
}

void cdc_js_close(struct cdc_js *js)
{
    if (js == NULL)
        return;
    jsCtx_Destroy(js->js);
    js_closing = 1;
    if (js->nc != NULL) {
        natsConnection_FlushTimeout(js->nc, 1000);
        natsConnection_Close(js->nc);
        natsConnection_Destroy(js->nc);
    }
    cdc_free(js);
}

/* Long enough for the library's threads to notice their sockets closed. */
#define LIBRARY_CLOSE_WAIT_MS 5000

void cdc_js_library_close(void)
{
    nats_CloseAndWait(LIBRARY_CLOSE_WAIT_MS);
}

int64_t cdc_js_max_payload(struct cdc_js *js)
{
    return natsConnection_GetMaxPayload(js->nc);
}

bool cdc_js_connected(struct cdc_js *js)
{
    return natsConnection_Status(js->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ==== Streams ==== */

static bool is_not_found(natsStatus s, jsErrCode jerr)
{
    return s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr ||
           jerr == JSConsumerNotFoundErr;
}

int cdc_js_stream_ensure(struct cdc_js *js, const struct cdc_js_stream_cfg *sc,
                         struct cdc_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js->js, sc->name, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return CDC_OK;
    }
    if (!is_not_found(s, jerr))
        return nats_fail(err, s, jerr, "could not look up stream");

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {sc->subject};
    cfg.Name = sc->name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.MaxAge = sc->max_age_ms * 1000000;
    cfg.MaxBytes = sc->max_bytes > 0 ? sc->max_bytes : -1;
    cfg.Duplicates = sc->dup_window_ms * 1000000;
    /* never drop old messages to make room: a full stream refuses new
     * ones, so the replicator stops instead of losing data */
    cfg.Discard = js_DiscardNew;
    jerr = 0;
    s = js_AddStream(&si, js->js, &cfg, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr) {
        int rc = nats_fail(err, s, jerr, "could not create stream");
        cdc_err_prefix(err, "stream \"%s\"", sc->name);
        return rc;
    }
    jsStreamInfo_Destroy(si);
    cdc_log(CDC_LOG_INFO, "nats", "created stream \"%s\" for \"%s\"", sc->name,
            sc->subject);
    return CDC_OK;
}

int cdc_js_stream_info(struct cdc_js *js, const char *name, uint64_t *msgs,
                       uint64_t *last_seq, struct cdc_err *err)
{
    struct cdc_js_stream_state st;
    int rc = cdc_js_stream_info_ex(js, name, &st, err);
    if (rc != CDC_OK)
        return rc;
    if (msgs != NULL)
        *msgs = st.msgs;
    if (last_seq != NULL)
        *last_seq = st.last_seq;
    return CDC_OK;
}

int cdc_js_stream_info_ex(struct cdc_js *js, const char *name,
                          struct cdc_js_stream_state *st, struct cdc_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js->js, name, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "stream \"%s\" not found",
                           name);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not look up stream");
    /* the zero time of an empty stream lies before the epoch: none */
    *st = (struct cdc_js_stream_state){
        .msgs = si->State.Msgs,
        .bytes = si->State.Bytes,
        .first_seq = si->State.FirstSeq,
        .last_seq = si->State.LastSeq,
        .first_time_us =
            si->State.FirstTime > 0 ? si->State.FirstTime / 1000 : 0,
        .last_time_us = si->State.LastTime > 0 ? si->State.LastTime / 1000 : 0,
        .consumers =
            si->State.Consumers > 0 ? (uint64_t)si->State.Consumers : 0,
        .max_age_ms = si->Config->MaxAge / 1000000,
        .max_bytes = si->Config->MaxBytes > 0 ? si->Config->MaxBytes : 0,
        .dup_window_ms = si->Config->Duplicates / 1000000,
    };
    jsStreamInfo_Destroy(si);
    return CDC_OK;
}

int cdc_js_stream_set_limits(struct cdc_js *js,
                             const struct cdc_js_stream_cfg *sc, unsigned which,
                             struct cdc_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js->js, sc->name, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "stream \"%s\" not found",
                           sc->name);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not look up stream");
    /* the server's own copy of the configuration, changed where asked */
    jsStreamConfig *cfg = si->Config;
    if (which & CDC_JS_MAX_AGE)
        cfg->MaxAge = sc->max_age_ms * 1000000;
    if (which & CDC_JS_MAX_BYTES)
        cfg->MaxBytes = sc->max_bytes > 0 ? sc->max_bytes : -1;
    if (which & CDC_JS_DUP_WINDOW)
        cfg->Duplicates = sc->dup_window_ms * 1000000;
    jsStreamInfo *updated = NULL;
    jerr = 0;
    s = js_UpdateStream(&updated, js->js, cfg, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    jsStreamInfo_Destroy(updated);
    if (s != NATS_OK) {
        int rc = nats_fail(err, s, jerr, "could not change stream");
        cdc_err_prefix(err, "stream \"%s\"", sc->name);
        return rc;
    }
    return CDC_OK;
}

static int consumer_state_cmp(const void *a, const void *b)
{
    const struct cdc_js_consumer_state *x = a;
    const struct cdc_js_consumer_state *y = b;
    return strcmp(x->name, y->name);
}

int cdc_js_stream_consumers(struct cdc_js *js, const char *stream,
                            struct cdc_js_consumer_state **out, size_t *n,
                            struct cdc_err *err)
{
    jsConsumerInfoList *list = NULL;
    jsErrCode jerr = 0;
    *out = NULL;
    *n = 0;
    natsStatus s = js_Consumers(&list, js->js, stream, NULL, &jerr);
    if (jerr == JSStreamNotFoundErr)
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "stream \"%s\" not found",
                           stream);
    /* nats.c answers a stream without consumers with NATS_NOT_FOUND */
    if (s == NATS_NOT_FOUND)
        return CDC_OK;
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not list consumers");
    size_t count = list->Count > 0 ? (size_t)list->Count : 0;
    struct cdc_js_consumer_state *st =
        cdc_xcalloc(count ? count : 1, sizeof(*st));
    for (size_t i = 0; i < count; i++) {
        const jsConsumerInfo *ci = list->List[i];
        int64_t last = ci->Delivered.Last > ci->AckFloor.Last
                           ? ci->Delivered.Last
                           : ci->AckFloor.Last;
        st[i] = (struct cdc_js_consumer_state){
            .name = cdc_xstrdup(ci->Name != NULL ? ci->Name : ""),
            .pending = ci->NumPending,
            .ack_pending =
                ci->NumAckPending > 0 ? (uint64_t)ci->NumAckPending : 0,
            .delivered_seq = ci->Delivered.Stream,
            .ack_floor_seq = ci->AckFloor.Stream,
            .last_active_us = last > 0 ? last / 1000 : 0,
        };
    }
    jsConsumerInfoList_Destroy(list);
    if (count > 1)
        qsort(st, count, sizeof(*st), consumer_state_cmp);
    if (count == 0) {
        cdc_free(st);
        st = NULL;
    }
    *out = st;
    *n = count;
    return CDC_OK;
}

void cdc_js_consumer_states_free(struct cdc_js_consumer_state *st, size_t n)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        cdc_free(st[i].name);
    cdc_free(st);
}

int cdc_js_stream_delete(struct cdc_js *js, const char *name,
                         struct cdc_err *err)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteStream(js->js, name, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "stream \"%s\" not found",
                           name);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not delete stream");
    return CDC_OK;
}

int cdc_js_stream_msg_delete(struct cdc_js *js, const char *name, uint64_t seq,
                             struct cdc_err *err)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(js->js, name, seq, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0,
                           "message %llu of stream \"%s\" not found",
                           (unsigned long long)seq, name);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not delete a message");
    return CDC_OK;
}

int cdc_js_stream_last_msgids(struct cdc_js *js, const char *name,
                              const char *prefix, uint64_t max_back,
                              struct cdc_buf *last, struct cdc_buf *ours,
                              struct cdc_err *err)
{
    uint64_t last_seq = 0;
    size_t plen = strlen(prefix);
    cdc_buf_reset(last);
    cdc_buf_reset(ours);
    int rc = cdc_js_stream_info(js, name, NULL, &last_seq, err);
    for (uint64_t seq = last_seq;
         rc == CDC_OK && seq > 0 && last_seq - seq <= max_back; seq--) {
        natsMsg *msg = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetMsg(&msg, js->js, name, seq, NULL, &jerr);
        if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
            continue; /* deleted: look further back */
        if (s != NATS_OK)
            return nats_fail(err, s, jerr, "could not read the stream");
        const char *id = NULL;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK)
            id = NULL;
        if (seq == last_seq && id != NULL)
            rc = cdc_buf_append_str(last, id);
        bool mine = id != NULL && strncmp(id, prefix, plen) == 0;
        if (mine && rc == CDC_OK)
            rc = cdc_buf_append_str(ours, id);
        natsMsg_Destroy(msg);
        if (mine)
            break;
    }
    return rc;
}

/* ==== Asynchronous publisher ==== */

enum slot_state { SLOT_FREE = 0, SLOT_SENT, SLOT_ACKED };

struct pub_slot {
    natsMsg *msg; /* identifies the message in the ack callback */
    int64_t sent_ms;
    uint8_t state;
};

struct cdc_js_pub {
    struct cdc_js *js;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pub_slot *ring;
    uint64_t mask;
    uint64_t next_seq; /* next local sequence to hand out */
    uint64_t floor;    /* every sequence <= floor is acknowledged */
    bool failed;
    char fail_msg[CDC_ERR_MSG_MAX];
    int max_pending;
    int64_t ack_timeout_ms;
};

static void pub_ack_handler(jsCtx *jctx, natsMsg *msg, jsPubAck *pa,
                            jsPubAckErr *pae, void *closure)
{
    (void)jctx;
    struct cdc_js_pub *p = closure;
    pthread_mutex_lock(&p->mu);
    for (uint64_t seq = p->floor + 1; seq < p->next_seq; seq++) {
        struct pub_slot *sl = &p->ring[seq & p->mask];
        if (sl->msg != msg || sl->state != SLOT_SENT)
            continue;
        sl->msg = NULL;
        if (pa != NULL && pae == NULL) {
            sl->state = SLOT_ACKED;
        } else if (!p->failed) {
            p->failed = true;
            snprintf(p->fail_msg, sizeof(p->fail_msg),
                     "JetStream refused message: %s",
                     pae && pae->ErrText
                         ? pae->ErrText
                         : natsStatus_GetText(pae ? pae->Err : NATS_ERR));
        }
        break;
    }
    while (p->floor + 1 < p->next_seq &&
           p->ring[(p->floor + 1) & p->mask].state == SLOT_ACKED) {
        p->ring[(p->floor + 1) & p->mask].state = SLOT_FREE;
        p->floor++;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    natsMsg_Destroy(msg);
}

int cdc_js_pub_new(struct cdc_js *js, int max_pending, int64_t ack_timeout_ms,
                   struct cdc_js_pub **out, struct cdc_err *err)
{
    (void)err;
    struct cdc_js_pub *p = cdc_xcalloc(1, sizeof(*p));
    uint64_t cap = 16;
    while (cap < (uint64_t)max_pending)
        cap *= 2;
    p->js = js;
    p->ring = cdc_xcalloc(cap, sizeof(*p->ring));
    p->mask = cap - 1;
    p->next_seq = 1;
    p->floor = 0;
    p->max_pending = max_pending > 0 ? max_pending : 1;
    p->ack_timeout_ms = ack_timeout_ms > 0 ? ack_timeout_ms : 30000;
    pthread_mutex_init(&p->mu, NULL);
    cdc_cond_init(&p->cv);

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = js->timeout_ms;
    jo.PublishAsync.MaxPending = 1 << 20;
    jo.PublishAsync.AckHandler = pub_ack_handler;
    jo.PublishAsync.AckHandlerClosure = p;
    /* a context of its own, so the ack handler closure is this publisher */
    jsCtx *ctx = NULL;
    natsStatus s = natsConnection_JetStream(&ctx, js->nc, &jo);
    if (s != NATS_OK) {
        int rc = nats_fail(err, s, 0, "could not open JetStream context");
        cdc_free(p->ring);
        cdc_free(p);
        return rc;
    }
    /* swap: the publisher owns its context through a private cdc_js */
    struct cdc_js *own = cdc_xcalloc(1, sizeof(*own));
    own->nc = js->nc;
    own->js = ctx;
    own->timeout_ms = js->timeout_ms;
    p->js = own;
    *out = p;
    return CDC_OK;
}

void cdc_js_pub_free(struct cdc_js_pub *p)
{
    if (p == NULL)
        return;
    /* give outstanding acks a moment, then drop the context: nats.c
     * destroys messages still pending when the context goes away */
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 1000;
    js_PublishAsyncComplete(p->js->js, &po);
    jsCtx_Destroy(p->js->js);
    if (cdc_js_pub_inflight(p) > 0) {
        /* acks may still arrive on a nats.c thread with p as closure:
         * keep p alive (the process is about to exit) rather than risk a
         * use after free */
        return;
    }
    cdc_free(p->js);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    cdc_free(p->ring);
    cdc_free(p);
}

/* Called with the mutex held: marks failure when the oldest unacked
 * message waited too long. */
static void check_overdue(struct cdc_js_pub *p)
{
    if (p->failed || p->floor + 1 >= p->next_seq)
        return;
    struct pub_slot *sl = &p->ring[(p->floor + 1) & p->mask];
    if (sl->state == SLOT_SENT &&
        cdc_now_ms() - sl->sent_ms > p->ack_timeout_ms) {
        p->failed = true;
        snprintf(p->fail_msg, sizeof(p->fail_msg),
                 "no acknowledgement from JetStream within %lld ms",
                 (long long)p->ack_timeout_ms);
    }
}

int cdc_js_pub_send(struct cdc_js_pub *p, const char *subject,
                    const char *msgid, const void *data, size_t len,
                    const struct cdc_js_hdr *hdrs, size_t nhdrs, uint64_t *seq,
                    struct cdc_err *err)
{
    natsMsg *msg = NULL;
    int rc = CDC_OK;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, data, (int)len);
    if (s == NATS_OK && msgid != NULL)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msgid);
    for (size_t i = 0; s == NATS_OK && i < nhdrs; i++)
        s = natsMsgHeader_Set(msg, hdrs[i].name, hdrs[i].value);
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return nats_fail(err, s, 0, "could not build message");
    }

    pthread_mutex_lock(&p->mu);
    while (!p->failed &&
           p->next_seq - 1 - p->floor >= (uint64_t)p->max_pending) {
        if (cdc_stop_requested) {
            pthread_mutex_unlock(&p->mu);
            natsMsg_Destroy(msg);
            return cdc_err_set(err, CDC_ESTOP, 0, "stop requested");
        }
        check_overdue(p);
        if (!p->failed)
            cdc_cond_wait_ms(&p->cv, &p->mu, 50);
    }
    if (p->failed) {
        rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE, "%s", p->fail_msg);
        pthread_mutex_unlock(&p->mu);
        natsMsg_Destroy(msg);
        return rc;
    }
    uint64_t my = p->next_seq++;
    struct pub_slot *sl = &p->ring[my & p->mask];
    sl->msg = msg;
    sl->sent_ms = cdc_now_ms();
    sl->state = SLOT_SENT;
    pthread_mutex_unlock(&p->mu);

    natsMsg *keep = msg;
    s = js_PublishMsgAsync(p->js->js, &msg, NULL);
    if (s != NATS_OK) {
        pthread_mutex_lock(&p->mu);
        if (sl->msg == keep && sl->state == SLOT_SENT) {
            sl->msg = NULL;
            if (!p->failed) {
                p->failed = true;
                snprintf(p->fail_msg, sizeof(p->fail_msg),
                         "could not publish to JetStream: %s",
                         natsStatus_GetText(s));
            }
        }
        pthread_mutex_unlock(&p->mu);
        natsMsg_Destroy(msg);
        return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                           "could not publish to JetStream: %s",
                           natsStatus_GetText(s));
    }
    *seq = my;
    return CDC_OK;
}

int cdc_js_pub_poll(struct cdc_js_pub *p, uint64_t *floor, struct cdc_err *err)
{
    int rc = CDC_OK;
    pthread_mutex_lock(&p->mu);
    check_overdue(p);
    if (p->failed)
        rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE, "%s", p->fail_msg);
    *floor = p->floor;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int cdc_js_pub_drain(struct cdc_js_pub *p, int64_t timeout_ms,
                     struct cdc_err *err)
{
    int rc = CDC_OK;
    int64_t end = cdc_now_ms() + timeout_ms;
    pthread_mutex_lock(&p->mu);
    while (!p->failed && p->floor + 1 < p->next_seq) {
        int64_t left = end - cdc_now_ms();
        if (left <= 0) {
            rc = cdc_err_set(err, CDC_ETIMEDOUT, CDC_ERR_RETRIABLE,
                             "%llu messages still unacknowledged by "
                             "JetStream",
                             (unsigned long long)(p->next_seq - 1 - p->floor));
            break;
        }
        check_overdue(p);
        if (!p->failed)
            cdc_cond_wait_ms(&p->cv, &p->mu, left < 50 ? left : 50);
    }
    if (rc == CDC_OK && p->failed)
        rc = cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE, "%s", p->fail_msg);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

uint64_t cdc_js_pub_inflight(struct cdc_js_pub *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->next_seq - 1 - p->floor;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void cdc_js_pub_reset(struct cdc_js_pub *p)
{
    pthread_mutex_lock(&p->mu);
    for (uint64_t seq = p->floor + 1; seq < p->next_seq; seq++) {
        struct pub_slot *sl = &p->ring[seq & p->mask];
        sl->msg = NULL;
        sl->state = SLOT_FREE;
    }
    p->floor = p->next_seq - 1;
    p->failed = false;
    p->fail_msg[0] = '\0';
    pthread_mutex_unlock(&p->mu);
}

int cdc_js_publish_sync(struct cdc_js *js, const char *subject,
                        const char *msgid, const void *data, size_t len,
                        const struct cdc_js_hdr *hdrs, size_t nhdrs,
                        struct cdc_err *err)
{
    natsMsg *msg = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    int rc = CDC_OK;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, data, (int)len);
    if (s == NATS_OK && msgid != NULL)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msgid);
    for (size_t i = 0; s == NATS_OK && i < nhdrs; i++)
        s = natsMsgHeader_Set(msg, hdrs[i].name, hdrs[i].value);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = js->timeout_ms;
        s = js_PublishMsg(&pa, js->js, msg, &po, &jerr);
    }
    if (s != NATS_OK)
        rc = nats_fail(err, s, jerr, "could not publish to JetStream");
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(msg);
    return rc;
}

/* ==== Durable pull consumer ==== */

/*
 * A pull consumer read through our own requests: a plain subscription on
 * an inbox of ours, and "$JS.API.CONSUMER.MSG.NEXT" requests answered into
 * it. Everything that arrives there is taken in order, whichever request
 * it answers, so an answer that comes after its request timed out is a
 * message like any other (nats.c 3.4's own fetch mishandles those: it can
 * write past the end of its array).
 */
struct cdc_js_consumer {
    struct cdc_js *js;
    natsSubscription *sub;
    char *inbox;
    char *next_subject;
    char *stream;
    char *durable;
    /* the request open now: how many messages it may still bring, and
     * when the server lets it expire */
    int64_t req_left;
    int64_t req_end_ms;
};

struct cdc_js_msg {
    natsMsg *m;
    struct cdc_js *js; /* to acknowledge through */
    uint64_t stream_seq;
    uint64_t delivered;
    uint64_t pending;
};

static int consumer_create(struct cdc_js *js,
                           const struct cdc_js_consumer_cfg *cc,
                           uint64_t start_seq, struct cdc_err *err)
{
    jsConsumerConfig cfg;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = cc->durable;
    cfg.AckPolicy = js_AckAll;
    cfg.AckWait = cc->ack_wait_ms * 1000000;
    cfg.MaxAckPending = cc->max_ack_pending;
    cfg.MaxDeliver = -1;
    cfg.FilterSubject = cc->filter_subject;
    if (start_seq > 1) {
        cfg.DeliverPolicy = js_DeliverByStartSequence;
        cfg.OptStartSeq = start_seq;
    } else {
        cfg.DeliverPolicy = js_DeliverAll;
    }
    natsStatus s = js_AddConsumer(&ci, js->js, cc->stream, &cfg, NULL, &jerr);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not create consumer");
    jsConsumerInfo_Destroy(ci);
    return CDC_OK;
}

int cdc_js_stream_msg_get(struct cdc_js *js, const char *name, uint64_t seq,
                          struct cdc_js_msg **out, struct cdc_err *err)
{
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;
    *out = NULL;
    natsStatus s = js_GetMsg(&msg, js->js, name, seq, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr ||
        jerr == JSStreamNotFoundErr)
        return cdc_err_set(err, CDC_ENOTFOUND, 0,
                           "message %llu of stream \"%s\" not found",
                           (unsigned long long)seq, name);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not read the stream");
    struct cdc_js_msg *m = cdc_xcalloc(1, sizeof(*m));
    m->m = msg;
    m->js = js;
    m->stream_seq = seq;
    *out = m;
    return CDC_OK;
}

int cdc_js_consumer_open(struct cdc_js *js,
                         const struct cdc_js_consumer_cfg *cc,
                         struct cdc_js_consumer **out, struct cdc_err *err)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    int rc = CDC_OK;
    *out = NULL;
    natsStatus s =
        js_GetConsumerInfo(&ci, js->js, cc->stream, cc->durable, NULL, &jerr);
    if (is_not_found(s, jerr)) {
        uint64_t start = cc->start_seq;
        if (cc->choose_start != NULL)
            rc = cc->choose_start(cc->choose_arg, &start, err);
        if (rc == CDC_OK)
            rc = consumer_create(js, cc, start, err);
        if (rc != CDC_OK)
            goto out;
        if (start > 1)
            cdc_log(CDC_LOG_INFO, "nats",
                    "created consumer \"%s\" on stream \"%s\" starting at "
                    "stream sequence %llu",
                    cc->durable, cc->stream, (unsigned long long)start);
        else
            cdc_log(CDC_LOG_INFO, "nats",
                    "created consumer \"%s\" on stream \"%s\" starting at "
                    "its beginning",
                    cc->durable, cc->stream);
    } else if (s != NATS_OK) {
        rc = nats_fail(err, s, jerr, "could not look up consumer");
        goto out;
    } else if (ci->NumAckPending > 0) {
        /* a previous owner died holding messages: JetStream would only
         * redeliver them after the ack wait, behind newer ones; restart
         * the consumer right after its acknowledged floor instead */
        uint64_t start = ci->AckFloor.Stream + 1;
        cdc_log(CDC_LOG_INFO, "nats",
                "consumer \"%s\" had %lld unacknowledged messages; "
                "restarting it at stream sequence %llu",
                cc->durable, (long long)ci->NumAckPending,
                (unsigned long long)start);
        jerr = 0;
        s = js_DeleteConsumer(js->js, cc->stream, cc->durable, NULL, &jerr);
        if (s != NATS_OK && !is_not_found(s, jerr)) {
            rc = nats_fail(err, s, jerr, "could not reset consumer");
            goto out;
        }
        rc = consumer_create(js, cc, start, err);
        if (rc != CDC_OK)
            goto out;
    } else if (ci->Config != NULL && ci->Config->MaxAckPending > 0 &&
               ci->Config->MaxAckPending < cc->max_ack_pending) {
        /* made by an older worker with a smaller window, which could stop
         * delivery in the middle of a run of chunks: widen it in place */
        jsConsumerInfo *nci = NULL;
        cdc_log(CDC_LOG_INFO, "nats",
                "consumer \"%s\" allows %lld unacknowledged messages; "
                "raising it to %lld",
                cc->durable, (long long)ci->Config->MaxAckPending,
                (long long)cc->max_ack_pending);
        ci->Config->MaxAckPending = cc->max_ack_pending;
        jerr = 0;
        s = js_UpdateConsumer(&nci, js->js, cc->stream, ci->Config, NULL,
                              &jerr);
        jsConsumerInfo_Destroy(nci);
        if (s != NATS_OK) {
            rc = nats_fail(err, s, jerr, "could not update consumer");
            goto out;
        }
    }

    struct cdc_js_consumer *c = cdc_xcalloc(1, sizeof(*c));
    c->js = js;
    c->stream = cdc_xstrdup(cc->stream);
    c->durable = cdc_xstrdup(cc->durable);
    c->next_subject = cdc_xasprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s",
                                    cc->stream, cc->durable);
    natsInbox *inbox = NULL;
    s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        c->inbox = cdc_xstrdup(inbox);
        natsInbox_Destroy(inbox);
        s = natsConnection_SubscribeSync(&c->sub, js->nc, c->inbox);
    }
    /* nats.c drops what passes its pending limits (64 MiB by default),
     * and a fetch of large messages (chunks of one big event) can; what
     * arrives is bounded by what a fetch asks for, so lift them */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(c->sub, -1, -1);
    if (s != NATS_OK) {
        rc = nats_fail(err, s, jerr, "could not subscribe to consumer");
        cdc_js_consumer_close(c);
        goto out;
    }
    *out = c;
out:
    jsConsumerInfo_Destroy(ci);
    if (rc != CDC_OK)
        cdc_err_prefix(err, "consumer \"%s\"", cc->durable);
    return rc;
}

void cdc_js_consumer_close(struct cdc_js_consumer *c)
{
    if (c == NULL)
        return;
    if (c->sub != NULL)
        natsSubscription_Unsubscribe(c->sub);
    natsSubscription_Destroy(c->sub);
    cdc_free(c->inbox);
    cdc_free(c->next_subject);
    cdc_free(c->stream);
    cdc_free(c->durable);
    cdc_free(c);
}

/* Reads a token of digits into *v. */
static bool token_u64(const char *tok, size_t len, uint64_t *v)
{
    char buf[24];
    int64_t x = 0;
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, tok, len);
    buf[len] = '\0';
    if (cdc_parse_int(buf, 0, INT64_MAX, &x) != CDC_OK)
        return false;
    *v = (uint64_t)x;
    return true;
}

bool cdc_js_reply_meta(const char *reply, uint64_t *delivered,
                       uint64_t *stream_seq, uint64_t *pending)
{
    const char *tok[16];
    size_t len[16];
    size_t n = 0;
    const char *p = reply;
    while (n < 16) {
        const char *dot = strchr(p, '.');
        tok[n] = p;
        len[n] = dot != NULL ? (size_t)(dot - p) : strlen(p);
        n++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (n < 9 || len[0] != 3 || memcmp(tok[0], "$JS", 3) != 0 || len[1] != 3 ||
        memcmp(tok[1], "ACK", 3) != 0)
        return false;
    size_t at = n >= 12 ? 6 : 4; /* the delivery count */
    if (!token_u64(tok[at], len[at], delivered) ||
        !token_u64(tok[at + 1], len[at + 1], stream_seq))
        return false;
    if (!token_u64(tok[at + 4], len[at + 4], pending))
        *pending = 0;
    return true;
}

/* Takes one message from the inbox: a message of the stream goes to out;
 * a status (no messages, request timeout, limits) ends the open request.
 * Returns true when m was a message of the stream. */
static bool take_one(struct cdc_js_consumer *c, natsMsg *m,
                     struct cdc_js_msg **out, size_t *n)
{
    const char *reply = natsMsg_GetReply(m);
    if (reply == NULL || strncmp(reply, "$JS.ACK.", 8) != 0) {
        /* "NATS/1.0 404 No Messages", "408 Request Timeout", "409 ..."
         * and heartbeats: the request is over (or says nothing) */
        const char *status = NULL;
        if (natsMsgHeader_Get(m, "Status", &status) == NATS_OK &&
            status != NULL && strcmp(status, "100") != 0)
            c->req_left = 0;
        natsMsg_Destroy(m);
        return false;
    }
    struct cdc_js_msg *w = cdc_xcalloc(1, sizeof(*w));
    w->m = m;
    w->js = c->js;
    if (!cdc_js_reply_meta(reply, &w->delivered, &w->stream_seq, &w->pending)) {
        w->stream_seq = 0;
        w->delivered = 0;
        w->pending = 0;
    }
    out[(*n)++] = w;
    if (c->req_left > 0)
        c->req_left--;
    return true;
}

/* A failed request or read: a server restarting, a lost connection or a
 * consumer being recreated all pass, so the caller waits and retries. */
static int fetch_failed(natsStatus s, struct cdc_err *err)
{
    nats_fail(err, s, 0, "could not fetch from JetStream");
    err->flags |= CDC_ERR_RETRIABLE;
    return CDC_EIO;
}

/* Takes what the inbox holds now, up to max messages in out. */
static int take_ready(struct cdc_js_consumer *c, size_t max,
                      struct cdc_js_msg **out, size_t *n, struct cdc_err *err)
{
    while (*n < max) {
        int pending = 0;
        if (natsSubscription_GetPending(c->sub, &pending, NULL) != NATS_OK ||
            pending <= 0)
            return CDC_OK;
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, c->sub, 1);
        if (s == NATS_TIMEOUT)
            return CDC_OK;
        if (s != NATS_OK) {
            return fetch_failed(s, err);
        }
        take_one(c, m, out, n);
    }
    return CDC_OK;
}

int cdc_js_fetch(struct cdc_js_consumer *c, size_t max, int64_t timeout_ms,
                 struct cdc_js_msg **out, size_t *n, struct cdc_err *err)
{
    *n = 0;
    if (max == 0)
        return CDC_OK;
    /* what is there now goes at once */
    int rc = take_ready(c, max, out, n, err);
    if (rc != CDC_OK || *n > 0)
        return rc;
    if (timeout_ms < 1)
        timeout_ms = 1;
    int64_t deadline = cdc_now_ms() + timeout_ms;
    /* wait for the first message, at most until this fetch's time is up;
     * a request that ended (its messages came, or it expired) is followed
     * by a new one while there is time */
    while (*n == 0) {
        int64_t now = cdc_now_ms();
        if (now >= deadline)
            break;
        if (c->req_left <= 0 || now >= c->req_end_ms) {
            /* the server sends what it has at once and holds the request
             * open for the rest until it expires */
            char body[96];
            snprintf(body, sizeof(body), "{\"batch\":%zu,\"expires\":%lld}",
                     max, (long long)(deadline - now) * 1000000LL);
            natsStatus s = natsConnection_PublishRequestString(
                c->js->nc, c->next_subject, c->inbox, body);
            if (s != NATS_OK) {
                return fetch_failed(s, err);
            }
            c->req_left = (int64_t)max;
            c->req_end_ms = deadline;
        }
        int64_t until = c->req_end_ms < deadline ? c->req_end_ms : deadline;
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(
            &m, c->sub, until - now > 0 ? until - now : 1);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            return fetch_failed(s, err);
        }
        take_one(c, m, out, n);
    }
    if (*n > 0)
        rc = take_ready(c, max, out, n, err);
    return rc;
}

int cdc_js_consumer_pending(struct cdc_js_consumer *c, uint64_t *pending,
                            uint64_t *ack_pending, struct cdc_err *err)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s =
        js_GetConsumerInfo(&ci, c->js->js, c->stream, c->durable, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "consumer \"%s\" not found",
                           c->durable);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not look up consumer");
    *pending = ci->NumPending;
    *ack_pending = (uint64_t)ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
    return CDC_OK;
}

int cdc_js_consumer_delete(struct cdc_js *js, const char *stream,
                           const char *durable, struct cdc_err *err)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteConsumer(js->js, stream, durable, NULL, &jerr);
    if (is_not_found(s, jerr))
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "consumer \"%s\" not found",
                           durable);
    if (s != NATS_OK)
        return nats_fail(err, s, jerr, "could not delete consumer");
    return CDC_OK;
}

const void *cdc_js_msg_data(const struct cdc_js_msg *m, size_t *len)
{
    *len = (size_t)natsMsg_GetDataLength(m->m);
    return natsMsg_GetData(m->m);
}

const char *cdc_js_msg_subject(const struct cdc_js_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const char *cdc_js_msg_header(const struct cdc_js_msg *m, const char *name)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m->m, name, &v) != NATS_OK)
        return NULL;
    return v;
}

uint64_t cdc_js_msg_stream_seq(const struct cdc_js_msg *m)
{
    return m->stream_seq;
}

uint64_t cdc_js_msg_delivered(const struct cdc_js_msg *m)
{
    return m->delivered;
}

uint64_t cdc_js_msg_pending(const struct cdc_js_msg *m)
{
    return m->pending;
}

int cdc_js_msg_ack(struct cdc_js_msg *m, struct cdc_err *err)
{
    const char *reply = natsMsg_GetReply(m->m);
    if (reply == NULL)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "could not acknowledge message: it has no reply "
                           "subject");
    /* as an acknowledgement that waits for the server's answer, so a
     * batch counts as acknowledged only once JetStream says so */
    natsMsg *answer = NULL;
    natsStatus s = natsConnection_Request(&answer, m->js->nc, reply, "+ACK", 4,
                                          m->js->timeout_ms);
    natsMsg_Destroy(answer);
    if (s != NATS_OK)
        return nats_fail(err, s, 0, "could not acknowledge message");
    return CDC_OK;
}

void cdc_js_msg_in_progress(struct cdc_js_msg *m)
{
    const char *reply = natsMsg_GetReply(m->m);
    if (reply != NULL)
        natsConnection_PublishString(m->js->nc, reply, "+WPI");
}

void cdc_js_msg_free(struct cdc_js_msg *m)
{
    if (m == NULL)
        return;
    natsMsg_Destroy(m->m);
    cdc_free(m);
}

/* ==== Key-value bucket ==== */

struct cdc_js_kv {
    kvStore *kv;
};

int cdc_js_kv_open(struct cdc_js *js, const char *bucket,
                   struct cdc_js_kv **out, struct cdc_err *err)
{
    kvStore *kv = NULL;
    *out = NULL;
    natsStatus s = js_KeyValue(&kv, js->js, bucket);
    if (s == NATS_NOT_FOUND) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = bucket;
        kc.History = 1;
        kc.StorageType = js_FileStorage;
        s = js_CreateKeyValue(&kv, js->js, &kc);
    }
    if (s != NATS_OK) {
        int rc = nats_fail(err, s, 0, "could not open key-value bucket");
        cdc_err_prefix(err, "bucket \"%s\"", bucket);
        return rc;
    }
    struct cdc_js_kv *w = cdc_xcalloc(1, sizeof(*w));
    w->kv = kv;
    *out = w;
    return CDC_OK;
}

void cdc_js_kv_close(struct cdc_js_kv *kv)
{
    if (kv == NULL)
        return;
    kvStore_Destroy(kv->kv);
    cdc_free(kv);
}

int cdc_js_kv_get(struct cdc_js_kv *kv, const char *key, struct cdc_buf *val,
                  uint64_t *rev, struct cdc_err *err)
{
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, kv->kv, key);
    if (s == NATS_NOT_FOUND)
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "key \"%s\" not found", key);
    if (s != NATS_OK)
        return nats_fail(err, s, 0, "could not read key-value entry");
    cdc_buf_reset(val);
    int rc = cdc_buf_append(val, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
    if (rev != NULL)
        *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (rc != CDC_OK)
        return cdc_err_set(err, rc, 0, "key-value entry \"%s\" is too big",
                           key);
    return CDC_OK;
}

int cdc_js_kv_put(struct cdc_js_kv *kv, const char *key, const void *val,
                  size_t len, uint64_t expect_rev, uint64_t *new_rev,
                  struct cdc_err *err)
{
    uint64_t rev = 0;
    natsStatus s;
    if (expect_rev == 0)
        s = kvStore_Create(&rev, kv->kv, key, val, (int)len);
    else
        s = kvStore_Update(&rev, kv->kv, key, val, (int)len, expect_rev);
    if (s != NATS_OK) {
        const char *last = nats_GetLastError(NULL);
        if (last != NULL && (strstr(last, "wrong last sequence") != NULL ||
                             strstr(last, "key exists") != NULL))
            return cdc_err_set(err, CDC_ESTATE, 0,
                               "key \"%s\" was changed by another writer", key);
        return nats_fail(err, s, 0, "could not write key-value entry");
    }
    if (new_rev != NULL)
        *new_rev = rev;
    return CDC_OK;
}

int cdc_js_kv_delete_bucket(struct cdc_js *js, const char *bucket,
                            struct cdc_err *err)
{
    natsStatus s = js_DeleteKeyValue(js->js, bucket);
    if (s == NATS_NOT_FOUND)
        return cdc_err_set(err, CDC_ENOTFOUND, 0, "bucket \"%s\" not found",
                           bucket);
    if (s != NATS_OK)
        return nats_fail(err, s, 0, "could not delete key-value bucket");
    return CDC_OK;
}

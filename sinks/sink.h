/*
 * sink.h: the interface every sink implements, and the registry of sinks
 * (sinks.def). A sink writes batches of events durably; the worker
 * acknowledges a batch to JetStream only after write and flush succeeded.
 * A sink that can remember what it last committed (the file sink from the
 * tail of its output, a database in a table) reports it at open, so the
 * worker skips anything at or below it when events come again.
 */
#ifndef SINK_SINK_H
#define SINK_SINK_H

#include "common/common.h"

/* The last event a sink has durably committed. */
struct sink_mark {
    bool set;
    uint64_t stream_seq;
    uint32_t tx_index;
    char position[128];
    char source[32];
};

struct sink_ops {
    const char *name;              /* the worker's first argument */
    const struct cdc_opt *options; /* options of this sink */
    /* Opens the sink and fills *last if it knows its last committed event
     * (else leaves last->set false). Keeps cfg until close. CDC_ECONFIG
     * for bad settings (exit 2). */
    int (*open)(const struct cdc_conf *cfg, const char *group, void **state,
                struct sink_mark *last, struct cdc_err *err);
    /* Writes every event of the batch, in order. On failure sets
     * err->index to the first event not written and flags the error
     * retriable or poison. Events are borrowed for the call only, unless
     * batch->may_defer: then a sink with settle may start the write in the
     * background and return CDC_PENDING. */
    int (*write)(void *state, const struct cdc_batch *batch,
                 struct cdc_err *err);
    /* Optional. Waits for the write that returned CDC_PENDING and returns
     * what write would have returned for its batch (CDC_OK when it is
     * committed); CDC_OK at once when none is going on. Between that write
     * and settle the caller makes no other call and keeps the batch as it
     * was; meanwhile it can read and decode the next one. */
    int (*settle)(void *state, struct cdc_err *err);
    /* Makes everything written durable. */
    int (*flush)(void *state, struct cdc_err *err);
    /* NULL-safe; never fails. */
    void (*close)(void *state);
};

const struct sink_ops *sink_find(const char *name);

/* True when mark is set, from the same source, and ev is at or below it:
 * the sink already holds ev. Never for a copied row (COPY), which is
 * written again by key when it comes again. */
bool sink_mark_covers(const struct sink_mark *mark, const struct cdc_event *ev);
/* Sets mark to ev, which is at stream sequence seq. */
void sink_mark_set(struct sink_mark *mark, const struct cdc_event *ev,
                   uint64_t seq);
extern const struct sink_ops *const sink_all[];

#define CDC_SINK(n) extern const struct sink_ops sink_##n##_ops;
#include "sinks/sinks.def"
#undef CDC_SINK

#endif

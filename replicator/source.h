/*
 * source.h: the interface every capture source implements, and the
 * registry of sources (sources.def). A source turns its database's change
 * stream into events in commit order, and learns from the replicator which
 * of its checkpoints JetStream has stored, so it can let the database
 * forget them. Sources publish nothing themselves, except the rows of an
 * initial copy (see copy).
 */
#ifndef SOURCE_SOURCE_H
#define SOURCE_SOURCE_H

#include "common/common.h"

/* Room for a position in text (format_token, the saved position), NUL
 * included. */
#define SOURCE_POSITION_MAX 1024

/* A checkpoint: after the first `after` events of the batch are stored in
 * JetStream, the source may be told `token` (for PostgreSQL: the end LSN of
 * a transaction). */
struct source_checkpoint {
    size_t after;
    uint64_t token;
};

/* What one poll returns. Events and their strings stay valid until the
 * next poll or reset. */
struct source_batch {
    struct cdc_event **events;
    size_t nevents;
    size_t cap;
    struct source_checkpoint *cps;
    size_t ncps;
    size_t capcps;
};

void source_batch_init(struct source_batch *b);
void source_batch_release(struct source_batch *b);
void source_batch_clear(struct source_batch *b);
void source_batch_add_event(struct source_batch *b, struct cdc_event *ev);
void source_batch_add_checkpoint(struct source_batch *b, uint64_t token);

/* What a source needs to copy the rows its tables hold now (initial copy):
 * it publishes them itself, many rows to a message, in parallel, since
 * one event at a time through poll() would make a bulk load crawl. */
struct source_copy_env {
    struct cdc_js *js;
    struct cdc_js_kv *kv; /* the group's state bucket: plan and progress */
    const char *group;
    unsigned workers_per_table; /* --max-copy-workers-per-table */
    bool then_stream;           /* --copy-and-stream (else --copy) */
    /* --resync: a TRUNCATE event of each table goes before its copied
     * rows, so rows deleted while the group could not capture go from the
     * targets too */
    bool truncate_first;
    int64_t ack_timeout_ms;
    /* --compress zstd: packs that fit in one message once compressed go
     * compressed, at --compress-level */
    bool zip;
    int zip_level;
};

struct source_ops {
    const char *name;              /* value of --source */
    const struct cdc_opt *options; /* options of this source */
    /* Connects, prepares (publication, slot...) and starts reading.
     * saved is the position the group last confirmed (from its state
     * bucket), NULL for a group that never streamed: a slot missing or
     * lost although the group streamed before is an error naming the
     * gap, never silently made again. Errors: CDC_ECONFIG (bad settings,
     * exit 2), others exit 1. */
    int (*open)(const struct cdc_conf *cfg, const char *group,
                const char *saved, void **state, struct cdc_err *err);
    /* Reads changes for at most timeout_ms or max events into batch.
     * A lost connection is CDC_EIO with CDC_ERR_RETRIABLE: the caller
     * resets, waits and polls again, which reconnects. */
    int (*poll)(void *state, struct source_batch *batch, size_t max,
                int64_t timeout_ms, struct cdc_err *err);
    /* Every event before the checkpoint with this token is stored. */
    int (*ack)(void *state, uint64_t token, struct cdc_err *err);
    /* Forgets everything read but not acknowledged; the next poll
     * reconnects and resumes from the last acknowledged checkpoint. */
    void (*reset)(void *state);
    /* The position a token stands for, as the state bucket keeps it and
     * open() takes it back (also shown in logs). Called for tokens not
     * yet passed to ack. */
    void (*format_token)(void *state, uint64_t token, char *out, size_t outsz);
    /* Optional (NULL: this source cannot copy). Copies the rows of the
     * group's tables as COPY events into the group's stream and returns
     * once JetStream has stored all of them; with then_stream, streaming
     * (poll) then starts exactly where the copy's snapshot ends. Progress
     * is kept in the state bucket, so a copy that was interrupted
     * resumes with what it had not finished. CDC_ESTOP when stopped by a
     * signal. */
    int (*copy)(void *state, const struct source_copy_env *env,
                struct cdc_err *err);
    /* Optional. Removes what the source keeps for the group (for
     * PostgreSQL: slot, publication, event triggers), logging each
     * removal; with dry_run only logs what it would remove. Runs instead
     * of open. */
    int (*cleanup)(const struct cdc_conf *cfg, const char *group, bool dry_run,
                   struct cdc_err *err);
    /* Optional. Appends the source's rows of `replicator status` to out,
     * one per line: cells separated by tabs ("label\tvalue"), a line
     * without a tab being a section title. Reads only; something missing
     * (no slot...) is a row saying so. saved is the group's saved
     * position (NULL: none). CDC_EIO when the source cannot be reached,
     * CDC_ECONFIG for bad settings. */
    int (*status)(const struct cdc_conf *cfg, const char *group,
                  const char *saved, struct cdc_buf *out, struct cdc_err *err);
    /* Says goodbye (final acknowledgement) and frees; NULL-safe. */
    void (*close)(void *state);
};

/* The registry, expanded from sources.def. */
const struct source_ops *source_find(const char *name);
extern const struct source_ops *const source_all[];

#define CDC_SOURCE(n) extern const struct source_ops source_##n##_ops;
#include "replicator/sources.def"
#undef CDC_SOURCE

#endif

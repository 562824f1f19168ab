/*
 * worker.h: the public header of worker/: the consume loop that reads a
 * group's events from its durable JetStream consumer, batches them on
 * transaction boundaries, hands them to a sink and acknowledges only what
 * the sink has committed.
 */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include "common/common.h"
#include "routing/routing.h"
#include "rules/rules.h"
#include "sinks/sink.h"

enum worker_exit {
    WORKER_EXIT_OK = 0,
    WORKER_EXIT_RUNTIME = 1,
    WORKER_EXIT_CONFIG = 2,
};

/* What the worker does to each change before the sink: rules, then
 * routing; either may be NULL (none). */
struct worker_pipeline {
    struct rules_set *rules;
    struct route_set *routes;
};

enum worker_verdict {
    WORKER_PASS,   /* write it (possibly changed) */
    WORKER_FILTER, /* dropped on purpose: acknowledge only */
    WORKER_REJECT, /* cannot be decided or renamed: dead letters */
};

/* Runs the rules, then the routing, over ev (changes allocated from
 * arena); a rejection leaves ev as it came, with the reason in reason. */
enum worker_verdict worker_pipeline_run(const struct worker_pipeline *pipe,
                                        struct cdc_event *ev,
                                        struct cdc_arena *arena, char *reason,
                                        size_t reasonsz);

/* Runs until stopped by a signal, --max-events or --idle-exit, or a
 * failure that retrying cannot mend. Returns an exit code. Keeps cfg, ops
 * and pipe for the call only. */
int worker_run(const struct cdc_conf *cfg, const struct sink_ops *ops,
               const char *group, const struct worker_pipeline *pipe);

/*
 * Where a batch may end: given for each pending item whether it is a
 * change (has_event) and whether it ends its transaction, returns how many
 * items to commit now. A batch ends after the last transaction end; when
 * full (n >= batch_size) or idle with no transaction end in sight, it is
 * cut anyway (a transaction larger than a batch is split). Returns 0 to
 * keep waiting.
 */
size_t worker_batch_cut(const bool *has_event, const bool *tx_end, size_t n,
                        size_t batch_size, bool idle, bool stopping);

/* --list-dead-letters (replay false) prints the group's dead letters of
 * this sink on stdout, one natural JSON line per change with its stream
 * sequence and reason; --replay-dead-letters (replay true) runs them
 * through the rules, routing and sink again, in order, and removes each
 * from the dead-letter stream once the sink has committed it. Returns an
 * exit code. */
int worker_dead_letters(const struct cdc_conf *cfg, const struct sink_ops *ops,
                        const char *group, const struct worker_pipeline *pipe,
                        bool replay);

#endif

/*
 * pg_spool.h: where the changes of large transactions that PostgreSQL
 * streams before they commit (pgoutput protocol 2) wait for their commit.
 * One temporary file per open transaction, unlinked at creation, so
 * memory stays bounded whatever the transaction's size and nothing is
 * left behind by a crash. A rolled-back subtransaction is cut off the end
 * of its file; a committed transaction is read back in order. Private to
 * replicator/.
 */
#ifndef SOURCE_PG_SPOOL_H
#define SOURCE_PG_SPOOL_H

#include "common/common.h"

struct source_spool;

/* The files go under TMPDIR, else /tmp. */
struct source_spool *source_spool_new(void);
void source_spool_free(struct source_spool *sp);

/* Forgets every transaction (after a reconnect the server streams them
 * again from their start). */
void source_spool_clear(struct source_spool *sp);

/* Stream Start of xid: the messages added next belong to it. first: its
 * first block, so anything kept for xid from before is dropped; a later
 * block of an xid never started is CDC_EPROTO. */
int source_spool_start(struct source_spool *sp, uint32_t xid, bool first,
                       struct cdc_err *err);

/* Keeps one message of the current block: its type byte, then body (the
 * message without the xid it carried). subxid: the (sub)transaction it
 * belongs to. */
int source_spool_add(struct source_spool *sp, uint32_t subxid, uint8_t type,
                     const uint8_t *body, size_t len, struct cdc_err *err);

/* Stream Stop. */
void source_spool_stop(struct source_spool *sp);

/* True between Stream Start and Stop. */
bool source_spool_in_block(const struct source_spool *sp);

/* Transactions kept and not yet committed or rolled back. */
size_t source_spool_open_count(const struct source_spool *sp);

/* Stream Abort: subxid == xid drops the transaction; otherwise the
 * messages of subxid and of every subtransaction begun after it (its
 * children) are cut off. An xid with nothing kept is no error. */
int source_spool_abort(struct source_spool *sp, uint32_t xid, uint32_t subxid,
                       struct cdc_err *err);

/* Stream Commit of xid: its messages are read back, in the order they
 * came, by source_spool_next. A transaction with nothing kept reads
 * back empty. */
int source_spool_replay(struct source_spool *sp, uint32_t xid,
                        struct cdc_err *err);

/* The next message of the replay (type byte first, valid until the next
 * call): 1, or 0 when all are read (the transaction is then dropped). */
int source_spool_next(struct source_spool *sp, const uint8_t **msg, size_t *len,
                      struct cdc_err *err);

/* True from source_spool_replay until source_spool_next returns 0 (or
 * the spool is cleared). */
bool source_spool_replaying(const struct source_spool *sp);

#endif

/*
 * pgoutput.h: decoder of PostgreSQL's pgoutput logical replication
 * messages (protocol version 1, and the stream messages of version 2)
 * into change events. Pure logic: no connection, no I/O, so it is
 * unit-tested on captured bytes and fuzzed.
 * Private to replicator/.
 */
#ifndef SOURCE_PGOUTPUT_H
#define SOURCE_PGOUTPUT_H

#include "common/common.h"

enum source_pgo_kind {
    PGO_NONE = 0, /* bookkeeping only (Relation, Type, Origin) */
    PGO_BEGIN,
    PGO_COMMIT,
    PGO_CHANGES,  /* one or more events (Truncate gives one per table) */
    PGO_MESSAGE,  /* a logical decoding message */
};

struct source_pgo_result {
    enum source_pgo_kind kind;
    /* PGO_CHANGES: events allocated in the arena given to decode */
    struct cdc_event *events;
    size_t nevents;
    /* PGO_BEGIN / PGO_COMMIT */
    uint64_t commit_lsn;
    uint64_t end_lsn; /* PGO_COMMIT: where the next transaction starts */
    /* PGO_MESSAGE */
    bool transactional;
    const char *prefix;
    const char *content;
    size_t content_len;
    /* PGO_NONE after a Relation message: the relation's OID, and whether
     * its key could not be read from the message (REPLICA IDENTITY FULL):
     * the caller may supply it with source_pgo_set_key */
    uint32_t relid;
    bool needs_key;
};

struct source_pgo;

struct source_pgo *source_pgo_new(void);
void source_pgo_free(struct source_pgo *d);

/*
 * Decodes one pgoutput message (the payload of an XLogData frame).
 * Events and their strings are allocated in arena and stay valid until it
 * is reset. Position of every change: the commit LSN of its transaction
 * (known from Begin); tx_index counts changes within the transaction.
 * Returns CDC_EPROTO for malformed or unexpected input.
 */
int source_pgo_decode(struct source_pgo *d, const void *msg, size_t len,
                      struct cdc_arena *arena, struct source_pgo_result *res,
                      struct cdc_err *err);

/* Sets the key columns of a relation (e.g. its primary key when its
 * replica identity is FULL). Names are copied. */
void source_pgo_set_key(struct source_pgo *d, uint32_t relid,
                        const char *const *names, size_t n);

/* Name of a type OID: built-in, or learned from Type messages; NULL if
 * unknown. */
const char *source_pgo_type_name(const struct source_pgo *d, uint32_t oid);

/* A new DDL event at the next place of the open transaction (position,
 * tx_index, txid, commit time set; the rest zero), for a transactional
 * message the caller turns into a schema change; NULL outside a
 * transaction. */
struct cdc_event *source_pgo_message_event(struct source_pgo *d,
                                          struct cdc_arena *a);

/* True while between Begin and Commit. */
bool source_pgo_in_tx(const struct source_pgo *d);

/* Forgets the open transaction (after a reconnect, the server resends it
 * whole). Relations are kept: the server resends them before use. */
void source_pgo_reset_tx(struct source_pgo *d);

/* ==== Protocol 2: large transactions streamed before they commit ==== */

enum source_pgo_stream_kind {
    PGO_STREAM_NONE = 0, /* not a stream control message */
    PGO_STREAM_START,    /* 'S': the changes that follow belong to xid */
    PGO_STREAM_STOP,     /* 'E': the end of one block of them */
    PGO_STREAM_COMMIT,   /* 'c': xid committed */
    PGO_STREAM_ABORT,    /* 'A': subxid (xid itself: all of it) rolled back */
};

struct source_pgo_stream {
    enum source_pgo_stream_kind kind;
    uint32_t xid;    /* the top-level transaction */
    uint32_t subxid; /* ABORT: the (sub)transaction rolled back */
    bool first;      /* START: the first block of xid */
    /* COMMIT */
    uint64_t commit_lsn;
    uint64_t end_lsn;
    int64_t commit_time; /* microseconds since 2000-01-01, as sent */
};

/*
 * Reads a stream control message (Stream Start, Stop, Commit, Abort of
 * protocol 2). Any other message gives kind PGO_STREAM_NONE and CDC_OK;
 * a malformed control message CDC_EPROTO.
 */
int source_pgo_stream_parse(const void *msg, size_t len,
                            struct source_pgo_stream *out, struct cdc_err *err);

/*
 * Between Stream Start and Stop, each message (Relation, Type, Insert,
 * Update, Delete, Truncate, Message) carries the xid of its (sub)transaction
 * right after its type byte. Reads that xid; *body and *body_len are the
 * rest of the message after it. CDC_EPROTO for a type that cannot be
 * streamed or a message too short to hold the xid.
 */
int source_pgo_stream_xid(const void *msg, size_t len, uint32_t *xid,
                          const uint8_t **body, size_t *body_len,
                          struct cdc_err *err);

/* Writes the low n bytes of v at p, most significant first (the byte
 * order of the replication protocol). */
void source_pgo_put_be(uint8_t *p, uint64_t v, int n);

/* The protocol 1 Begin and Commit of a streamed transaction that st (a
 * COMMIT) committed: decoded around its replayed changes, they give the
 * events the same positions, times and checkpoint as a transaction sent
 * whole. */
#define SOURCE_PGO_BEGIN_LEN 21
#define SOURCE_PGO_COMMIT_LEN 26
void source_pgo_stream_begin(const struct source_pgo_stream *st,
                             uint8_t out[SOURCE_PGO_BEGIN_LEN]);
void source_pgo_stream_commit(const struct source_pgo_stream *st,
                              uint8_t out[SOURCE_PGO_COMMIT_LEN]);

#endif

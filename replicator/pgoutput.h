/*
 * pgoutput.h: decoder of PostgreSQL's pgoutput logical replication
 * messages (protocol version 1) into change events. Pure logic: no
 * connection, no I/O, so it is unit-tested on captured bytes and fuzzed.
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

#endif

/*
 * replicator_int.h: what the PostgreSQL source's files share and nothing
 * outside replicator/ includes: connecting, running a statement, quoting
 * an identifier (source_postgres.c), and the initial copy
 * (copy_postgres.c).
 */
#ifndef REPLICATOR_REPLICATOR_INT_H
#define REPLICATOR_REPLICATOR_INT_H

#include "replicator/source.h"

#include <libpq-fe.h>

/* Connects with the NULL-terminated libpq keywords kw and values val, the
 * session settings every connection of the source uses, and (replication)
 * a walsender connection. A failure that may pass is CDC_EIO flagged
 * retriable. */
int source__pg_connect(const char *const *kw, const char *const *val,
                       bool replication, const char *app, PGconn **out,
                       struct cdc_err *err);
/* Runs a statement with text parameters; returns the result (the caller
 * PQclears it) or NULL with err set. */
PGresult *source__pg_run(PGconn *conn, const char *sql, int nparams,
                         const char *const *params, struct cdc_err *err);
/* Appends name quoted as an identifier. */
void source__pg_append_ident(struct cdc_buf *b, PGconn *conn, const char *name);

struct source__pg_copy_args {
    const char *const *kw; /* connection keywords and values */
    const char *const *val;
    const char *slot;        /* the group's slot */
    const char *publication; /* its tables are the ones copied */
    bool slot_exists;        /* else created here, with the snapshot */
};

/* The initial copy (see source_ops.copy). */
int source__pg_copy(const struct source__pg_copy_args *a,
                    const struct source_copy_env *env, struct cdc_err *err);

/* The PostgreSQL part of `replicator status` (see source_ops.status;
 * status_postgres.c). */
int source__pg_status(const struct cdc_conf *cfg, const char *group,
                      struct cdc_buf *out, struct cdc_err *err);

/* ==== Schema changes (ddl_postgres.c) ==== */

/* Installs (or brings up to date) the group's event triggers, which send
 * schema changes of the group's tables as logical messages with the slot's
 * name as prefix. Needs a superuser. */
int source__pg_ddl_install(PGconn *conn, const char *slot,
                           struct cdc_err *err);
/* Removes them (dry_run: only logs what it would remove); *removed counts
 * the event triggers found. Unless always, the functions and the schema go
 * only when there was a trigger. */
int source__pg_ddl_remove(PGconn *conn, const char *slot, bool dry_run,
                          bool always, size_t *removed, struct cdc_err *err);

#define SOURCE_PG_DDL_TX_MAX 32

/* What the decoder remembers within one transaction. */
struct source__pg_ddl_tx {
    uint64_t hash[SOURCE_PG_DDL_TX_MAX];
    unsigned count[SOURCE_PG_DDL_TX_MAX];
    size_t n;
};

void source__pg_ddl_tx_reset(struct source__pg_ddl_tx *tx);
/* Fills ev (already carrying its position) as the DDL event of a
 * message of the group's triggers; strings go into arena. CDC_EPROTO for
 * a message of another form. */
int source__pg_ddl_decode(struct source__pg_ddl_tx *tx, const char *content,
                          size_t len, struct cdc_event *ev,
                          struct cdc_arena *arena, struct cdc_err *err);

#endif

/*
 * replicator_int.h: what the PostgreSQL source's files share and nothing
 * outside replicator/ includes: the connection settings and tables of the
 * options, connecting, running a statement, quoting an identifier
 * (source_postgres.c), the initial copy (copy_postgres.c) and the schema
 * change capture (ddl_postgres.c).
 */
#ifndef REPLICATOR_REPLICATOR_INT_H
#define REPLICATOR_REPLICATOR_INT_H

#include "replicator/source.h"

#include <libpq-fe.h>

/* Room for the connection settings' keywords, the final NULL included. */
#define SOURCE_PG_SETTINGS_MAX 6

/*
 * The libpq keywords and values of the source options host, port, user,
 * password and dbname, those that are set, NULL-terminated: how every
 * connection of the source, and `replicator status`, reach the server.
 * dbname comes last, so that a connection string in it may override the
 * others. The values point into cfg, and the port's into the struct
 * itself: cfg must outlive it, and it must not be copied.
 */
struct source__pg_settings {
    const char *kw[SOURCE_PG_SETTINGS_MAX];
    const char *val[SOURCE_PG_SETTINGS_MAX];
    char port[16];
};

/* Fills st from the source options of cfg. Never fails. */
void source__pg_settings_init(struct source__pg_settings *st,
                              const struct cdc_conf *cfg);

/* One table of --tables. */
struct source__pg_table {
    char *schema;
    char *name;
};

/*
 * Reads --tables of cfg into *out (*n tables, none without --tables): a
 * "schema.name" as it is, a bare "name" in --schema. Returns CDC_OK, or
 * CDC_ECONFIG for an item with an empty schema or name, with *out NULL
 * and *n 0. The caller frees *out with source__pg_tables_free.
 */
int source__pg_tables_resolve(const struct cdc_conf *cfg,
                              struct source__pg_table **out, size_t *n,
                              struct cdc_err *err);
/* Frees n tables and t; NULL is fine. */
void source__pg_tables_free(struct source__pg_table *t, size_t n);

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

struct source_copy_range;

/*
 * Reads the state bucket kv's record of range r of the table with OID
 * table_oid into val, and sets *done when it says the copy of generation
 * stored the range, with *rows its rows (else false and 0). A range
 * without a record is not done. Returns CDC_OK or the bucket's error.
 */
int source__pg_copy_range_read(struct cdc_js_kv *kv, uint32_t table_oid,
                               const struct source_copy_range *r,
                               const char *generation, struct cdc_buf *val,
                               bool *done, uint64_t *rows, struct cdc_err *err);

/* The PostgreSQL part of `replicator status` (see source_ops.status;
 * status_postgres.c). */
int source__pg_status(const struct cdc_conf *cfg, const char *group,
                      const char *saved, struct cdc_buf *out,
                      struct cdc_err *err);

/* ==== Schema changes (ddl_postgres.c) ==== */

/* Installs (or brings up to date) the group's event triggers, which send
 * schema changes of the group's tables as logical messages with the slot's
 * name as prefix. Needs a superuser. */
int source__pg_ddl_install(PGconn *conn, const char *slot, struct cdc_err *err);
/* Removes them (dry_run: only logs what it would remove); *removed counts
 * the event triggers found. Unless always, the functions and the schema go
 * only when there was a trigger. */
int source__pg_ddl_remove(PGconn *conn, const char *slot, bool dry_run,
                          bool always, size_t *removed, struct cdc_err *err);

/* The group's event triggers: one per kind (ddl_command_end, sql_drop,
 * ddl_command_start), named "<slot>_ddl_<kind>". */
#define SOURCE_PG_DDL_TRIGGERS 3
/* Room for any name of source__pg_ddl_trigger_name, NUL included. */
#define SOURCE_PG_DDL_NAME_MAX (CDC_NAME_MAX + 16)

/* Writes the name of the group's event trigger of kind i (below
 * SOURCE_PG_DDL_TRIGGERS) to out, truncated to outsz. */
void source__pg_ddl_trigger_name(const char *slot, size_t i, char *out,
                                 size_t outsz);
/* Sets found[i] for each of the group's event triggers that exists and,
 * unless disabled is NULL, disabled[i] for one that is disabled. Returns
 * CDC_OK, or CDC_EIO with err saying why the catalog could not be read. */
int source__pg_ddl_triggers(PGconn *conn, const char *slot,
                            bool found[SOURCE_PG_DDL_TRIGGERS],
                            bool disabled[SOURCE_PG_DDL_TRIGGERS],
                            struct cdc_err *err);

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

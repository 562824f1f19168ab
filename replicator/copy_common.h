/*
 * copy_common.h: what the initial copies of the sources (copy_postgres.c,
 * copy_mysql.c) share. A source describes its tables, splits them into
 * ranges, takes its snapshot and reads rows; the rest is here: the
 * tables' and ranges' progress, the bounded queue of packs from the
 * reader threads to the publisher, the reader threads themselves, the
 * publisher (publish window, acknowledgements, a range recorded as done
 * in the state bucket once JetStream stored all of it), progress lines,
 * metrics and the TRUNCATE events of --resync. No database client here.
 * Private to replicator/.
 */
#ifndef REPLICATOR_COPY_COMMON_H
#define REPLICATOR_COPY_COMMON_H

#include "replicator/copy_text.h"
#include "replicator/source.h"

#include <pthread.h>

/* Packs waiting for the publisher, at most: with the publish window this
 * bounds a copy's memory to a few MiB whatever the tables' sizes. */
#define SOURCE_COPY_QUEUE_MAX 64
/* Room for any range's key in the state bucket, NUL included. */
#define SOURCE_COPY_RANGE_KEY_MAX 64

/*
 * A table of the copy as the shared part sees it. The source fills in
 * schema, name, id, est_bytes, nranges, ranges_left and src;
 * source__copy_table_names fills in subject and label.
 */
struct source__copy_table {
    const char *schema; /* borrowed from the source's description */
    const char *name;
    char *subject;      /* the table's subject in the group's stream */
    char *label;        /* "schema.name": progress lines, the metrics' label */
    uint64_t id;        /* names the table in message ids (OID, or index) */
    uint64_t est_bytes; /* its size on the source when planned; 0: unknown */
    size_t nranges;     /* ranges it is split into */
    void *src;          /* the source's own description of the table */
    unsigned active;    /* readers on it now (under the copy's lock) */
    /* progress, kept by the publisher: stored rows and bytes */
    size_t ranges_left;
    uint64_t rows;
    uint64_t bytes;
    int64_t started_ms;
    int64_t done_ms;
};

/* A range of a table, read by one reader. */
struct source__copy_range {
    struct source__copy_table *t;
    size_t index;      /* in its table, from 0 */
    uint64_t id;       /* names it in message ids (first block, or index) */
    bool done;         /* stored and recorded (or found recorded) */
    bool taken;        /* a reader has it */
    bool all_sent;     /* its last pack went to the publisher */
    uint64_t last_seq; /* local publish sequence of its last message */
    uint64_t chunks;
    uint64_t rows;
    uint64_t bytes;
};

struct source__copy;

/* What differs between the sources' copies. */
struct source__copy_ops {
    const char *source; /* the events' source: "postgres", "mysql" */
    /* help of the metrics tributary_copy_bytes_estimate,
     * tributary_copy_ranges_done and tributary_copy_ranges_total */
    const char *estimate_help;
    const char *ranges_done_help;
    const char *ranges_help;
    /* a pack over the server's max_payload goes in chunks (else as one
     * message, which the server refuses) */
    bool chunked;
    /* Writes the state bucket's key of r to out (outsz is
     * SOURCE_COPY_RANGE_KEY_MAX). */
    void (*range_key)(const struct source__copy_range *r, char *out,
                      size_t outsz);
    /* Reads range r on conn (the reader's connection) and hands its rows
     * on with source__copy_pack_add and source__copy_pack_end. Returns
     * CDC_OK, CDC_ESTOP when the copy is being stopped, or a failure in
     * err; sets *broken when conn cannot be used again. Runs on a reader
     * thread; arena is the reader's. */
    int (*read_range)(struct source__copy *cp, void *conn,
                      struct source__copy_range *r, struct cdc_arena *arena,
                      bool *broken, struct cdc_err *err);
};

/* A pack on its way from a reader to the publisher. */
struct source__copy_item {
    struct source__copy_range *range;
    char *data; /* NULL: only says the range is read whole */
    size_t len;
    size_t raw_len; /* len before compression */
    uint64_t rows;
    bool last;
    bool zipped; /* data is compressed (--compress) */
};

/*
 * One copy. The source owns the struct (usually inside its own) and
 * fills tables and ranges, allocated with cdc_xcalloc: the struct frees
 * them. Readers and the publisher share it: what they both touch is
 * under mu.
 */
struct source__copy {
    const struct source_copy_env *env;
    const struct source__copy_ops *ops;
    struct source__copy_table *tables; /* in the plan's order */
    size_t ntables;
    struct source__copy_range *ranges;
    size_t nranges;
    const char *generation; /* names the plan (borrowed from the source) */
    const char *position;   /* of the copied rows (borrowed too) */
    /* this run's tag in message ids: a range read again after an
     * interruption holds other rows than before (a new snapshot), and its
     * messages must not pass for the earlier run's duplicates */
    char run[SOURCE_COPY_GENERATION_MAX];

    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue and range changes */
    struct source__copy_item queue[SOURCE_COPY_QUEUE_MAX];
    size_t qhead, qlen;
    unsigned readers_running;
    bool failed; /* stop everything */
    struct cdc_err first_err;
    struct cdc_metric *m_rows;
    struct cdc_metric *m_bytes;
    struct cdc_metric *m_estimate;
    struct cdc_metric *m_ranges_done;
    struct cdc_metric *m_ranges;
};

/* A reader thread and its connection (the source's, opened and closed by
 * it). */
struct source__copy_reader {
    struct source__copy *cp;
    pthread_t th;
    void *conn;
};

/* Sets up cp with no tables, and a new run tag. Keeps env, ops,
 * generation and position (strings the source changes in place until the
 * readers start) until source__copy_release. */
void source__copy_init(struct source__copy *cp,
                       const struct source_copy_env *env,
                       const struct source__copy_ops *ops,
                       const char *generation, const char *position);
/* Frees the tables' subjects and labels, tables, ranges and the packs
 * left in the queue. */
void source__copy_release(struct source__copy *cp);

/* Writes a new name (16 hex digits, from the time and the process id;
 * salt tells apart names made at once) to out. */
void source__copy_new_name(char *out, size_t outsz, unsigned salt);

/* Sets t->subject and t->label from t->schema and t->name. CDC_ETOOBIG
 * (no flags) when the names make no subject. */
int source__copy_table_names(const struct source__copy *cp,
                             struct source__copy_table *t, struct cdc_err *err);

/* ==== The state bucket ==== */

/* Reads key of kv into val (and its revision into *rev unless rev is
 * NULL): *found false, *rev 0 and val untouched when there is none.
 * Returns CDC_OK or the bucket's error. */
int source__copy_kv_read(struct cdc_js_kv *kv, const char *key,
                         struct cdc_buf *val, bool *found, uint64_t *rev,
                         struct cdc_err *err);
/* Saves the plan's text under key, expecting revision *rev (0: a new
 * key), and sets *rev to the new one. */
int source__copy_plan_put(const struct source__copy *cp, const char *key,
                          const struct cdc_buf *text, uint64_t *rev,
                          struct cdc_err *err);
/* Marks the ranges that an earlier run of this plan (cp->generation)
 * recorded as done, and counts their rows in their tables. */
int source__copy_load_done(struct source__copy *cp, struct cdc_err *err);

/* ==== Packs (reader threads) ==== */

/* The events of a range being put into packs by a reader. */
struct source__copy_pack {
    struct cdc_buf buf;
    struct cdc_zip *zip; /* --compress: the reader's own, made on first use */
    struct cdc_event ev;
    struct cdc_col *cols; /* the reader sets names, types and each value */
    uint64_t rows;
};

/* Starts the packs of range r: COPY events of ncols columns (cols
 * allocated, names and types left to the caller) with the key's nkey
 * names (kept). */
void source__copy_pack_init(struct source__copy_pack *pk,
                            const struct source__copy *cp,
                            const struct source__copy_range *r, size_t ncols,
                            const char **key, size_t nkey);
/* Adds the row in pk->cols; when the pack is full, hands it to the
 * publisher and resets arena. False when the copy is being stopped. */
bool source__copy_pack_add(struct source__copy *cp,
                           struct source__copy_range *r,
                           struct source__copy_pack *pk,
                           struct cdc_arena *arena);
/* Hands on the last pack of r (none when it is empty: the range is then
 * only marked read whole). False when the copy is being stopped. */
bool source__copy_pack_end(struct source__copy *cp,
                           struct source__copy_range *r,
                           struct source__copy_pack *pk);
void source__copy_pack_release(struct source__copy_pack *pk);

/* ==== Running the copy ==== */

/* The metrics of the copy, and the tables' ranges as gauges. */
void source__copy_metrics(struct source__copy *cp);
/* Readers to start: up to workers_per_table on each table with ranges to
 * do, a fixed number in all. */
size_t source__copy_readers_wanted(const struct source__copy *cp);
/* Logs the tables, ranges and readers of a copy at position. */
void source__copy_log_start(const struct source__copy *cp, size_t nreaders,
                            const char *position);

/* --resync: a TRUNCATE event of each table, one transaction at position,
 * each published and stored before any copied row. */
int source__copy_publish_truncates(struct source__copy *cp,
                                   const char *position, struct cdc_err *err);

/*
 * Starts a thread per reader (readers[i].conn set, each ready to read in
 * the snapshot), publishes what they read from this thread (the only one
 * that uses JetStream) and records each range once JetStream stored all of
 * it. Returns when every range is recorded (CDC_OK), on a stop (CDC_ESTOP
 * with ranges left) or on the first failure of a reader or the publisher;
 * the threads have ended then.
 */
int source__copy_run(struct source__copy *cp,
                     struct source__copy_reader *readers, size_t nreaders,
                     struct cdc_err *err);
/* After a copy that ended with rc other than CDC_OK: a stop, or a failure
 * while stopping, becomes CDC_ESTOP with err saying that the copy resumes;
 * other failures stay as they are. Returns the code. */
int source__copy_stopped(int rc, struct cdc_err *err);
/* Logs the rows copied in all, as of position. */
void source__copy_log_done(const struct source__copy *cp, const char *position);

#endif

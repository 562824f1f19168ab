/*
 * copy_text.h: the pure pieces of the initial copy of a table: parsing
 * the lines of PostgreSQL's COPY text format, splitting a table into
 * block ranges read one by one under a snapshot, the key-value key and
 * value of a range, the text of the copy plan kept in the state bucket,
 * and a progress line for people. No connection, no I/O, so it is
 * unit-tested without a server. Private to replicator/.
 */
#ifndef SOURCE_COPY_TEXT_H
#define SOURCE_COPY_TEXT_H

#include "common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== COPY text format ==== */

/*
 * Splits one data line of COPY ... TO STDOUT (text format, tab
 * delimiter, \N for NULL) into ncols values. line is len bytes as
 * PQgetCopyData returns it, with or without its final '\n'; it need not
 * be NUL-terminated. On success values[i] is the unescaped value,
 * NUL-terminated, in arena memory (lens[i] bytes), or NULL with lens[i] 0
 * for SQL NULL. values and lens hold ncols entries each; a line with no
 * columns at all is empty.
 *
 * Returns CDC_OK, or CDC_EPROTO (no flags) when the line has another
 * number of fields than ncols, ends in a lone backslash, or holds a NUL
 * byte, written or escaped. On failure the contents of values and lens
 * are unspecified and the arena may have grown. The arena must outlive
 * the values. Any thread, with its own arena.
 */
int source_copy_parse_line(const char *line, size_t len, size_t ncols,
                           struct cdc_arena *arena, const char **values,
                           size_t *lens, struct cdc_err *err);

/* ==== Block ranges ==== */

/* About this many ranges per worker, so that a worker that finishes
 * early takes another range instead of idling while one is still on a
 * large one. */
#define SOURCE_COPY_RANGES_PER_WORKER 4
/* 128 blocks of 8 KiB: 1 MiB. Smaller ranges cost a query and a key-value
 * write each for little work. */
#define SOURCE_COPY_MIN_RANGE_BLOCKS 128
/* Room for any key of source_copy_range_key(), NUL included. */
#define SOURCE_COPY_KEY_MAX 32

/*
 * Blocks [first_block, end_block) of a table. When open_end is set the
 * range has no upper bound (it reaches past the table's size as it was
 * read, so rows in blocks added since are read too), and end_block is
 * that size, kept for estimates only.
 */
struct source_copy_range {
    uint32_t first_block;
    uint32_t end_block;
    bool open_end;
};

/*
 * Splits blocks [0, nblocks) (nblocks from pg_relation_size, not from
 * planner statistics) into at most max_out contiguous ranges in order,
 * written to out: about SOURCE_COPY_RANGES_PER_WORKER per worker, none
 * smaller than SOURCE_COPY_MIN_RANGE_BLOCKS unless the whole table is,
 * sizes differing by one block at most. The last range is always open,
 * so together they cover every block the table has now or later; nblocks
 * 0 gives one open range from block 0. workers 0 counts as 1. Returns the
 * number of ranges, 0 only when max_out is 0.
 */
size_t source_copy_plan(uint64_t nblocks, unsigned workers,
                        struct source_copy_range *out, size_t max_out);

/*
 * Appends the condition selecting the rows of r to out, for a WHERE
 * clause: "ctid >= '(a,0)'::tid AND ctid < '(b,0)'::tid", only the lower
 * bound for an open range, and "true" for an open range from block 0.
 * Returns CDC_OK, or what cdc_buf_append returns (CDC_ETOOBIG).
 */
int source_copy_range_where(const struct source_copy_range *r,
                            struct cdc_buf *out);

/*
 * Writes the key-value key of r in the table with OID table_oid to out:
 * "copy.<oid>.<first_block>", which holds only characters NATS allows in
 * a key. The first block names a range within one plan. Truncates to
 * outsz; SOURCE_COPY_KEY_MAX is always enough.
 */
void source_copy_range_key(uint32_t table_oid,
                           const struct source_copy_range *r, char *out,
                           size_t outsz);

/* ==== The plan in the state bucket ==== */

/* The state bucket's key of the copy plan. */
#define SOURCE_COPY_PLAN_KEY "copy.plan"
/* Room for a generation and a position of a plan, NUL included. */
#define SOURCE_COPY_GENERATION_MAX 24
#define SOURCE_COPY_POSITION_MAX 32
/* More workers than --max-copy-workers-per-table allows means the plan is
 * not one the copy wrote; the number only sizes the range split, which
 * it must not make huge. */
#define SOURCE_COPY_PLAN_WORKERS_MAX 1024
/* Room for any value of source_copy_range_value(), NUL included. */
#define SOURCE_COPY_VALUE_MAX 64

/*
 * A copy plan as the state bucket keeps it: the generation that names
 * this copy, the source position of its snapshot, the workers its split
 * was made for, whether the copy finished and, per table, its OID and
 * size in blocks. The ranges follow from these (source_copy_plan again),
 * and a range is done when its key holds this generation.
 */
struct source_copy_saved_plan {
    char generation[SOURCE_COPY_GENERATION_MAX];
    char position[SOURCE_COPY_POSITION_MAX];
    unsigned workers;
    bool done;
    uint32_t *oids; /* ntables of each */
    uint64_t *nblocks;
    size_t ntables;
};

/*
 * Appends pl to out as text, one item per line: "generation G",
 * "position P", "workers W", "done 0|1", then "table OID NBLOCKS" per
 * table. Returns CDC_OK, or what cdc_buf_printf returns (CDC_ETOOBIG).
 */
int source_copy_saved_plan_format(const struct source_copy_saved_plan *pl,
                                  struct cdc_buf *out);

/*
 * Reads the text of source_copy_saved_plan_format back into *pl, which
 * is overwritten. Returns CDC_OK, or CDC_EPROTO (no flags) with *pl
 * empty when a line is none of the plan's, or the generation, the
 * position or the workers (1 to SOURCE_COPY_PLAN_WORKERS_MAX) are
 * missing. On success the caller releases *pl.
 */
int source_copy_saved_plan_parse(const char *text,
                                 struct source_copy_saved_plan *pl,
                                 struct cdc_err *err);

/* Frees the tables of pl and empties it; an empty plan is fine. */
void source_copy_saved_plan_release(struct source_copy_saved_plan *pl);

/*
 * Writes the value recorded under a range's key once its rows are
 * stored, "generation G rows R", to out. Truncates to outsz;
 * SOURCE_COPY_VALUE_MAX is always enough for a generation that fits the
 * plan.
 */
void source_copy_range_value(const char *generation, uint64_t rows, char *out,
                             size_t outsz);

/*
 * Whether value, a range's value from the state bucket, records the
 * range done in the copy of generation; if so, *rows is the rows it
 * stored. A value of another generation (an earlier copy) or of another
 * form is not done.
 */
bool source_copy_range_done(const char *value, const char *generation,
                            uint64_t *rows);

/* ==== Progress ==== */

/*
 * Writes one progress line of the copy of table to out, such as
 * "public.orders: 123456 rows, 24.1 MiB of ~97.7 MiB (24%), 5.2 MiB/s,
 * ETA 14s". The percentage stops at 99% (the estimate is the size read
 * before the copy began); without an estimate (est_bytes 0) or past it,
 * percentage and ETA are left out, and the ETA is also left out while
 * nothing has been read. Line breaks and tabs in table become spaces.
 * Truncates to outsz.
 */
void source_copy_progress_format(const char *table, uint64_t rows,
                                 uint64_t bytes, uint64_t est_bytes,
                                 double elapsed_s, char *out, size_t outsz);

#endif

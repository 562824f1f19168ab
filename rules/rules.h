/*
 * rules.h: the public header of rules/: transform and filter rules read
 * from a rules file (pg_flo's format and more, see rules/README.md),
 * checked whole at load, compiled once, and applied to each change before
 * routing and the sink.
 *
 * A rules set belongs to one thread: applying reuses per-rule scratch
 * (pcre2 match data, a per-table cache).
 */
#ifndef RULES_RULES_H
#define RULES_RULES_H

#include "common/common.h"

struct rules_set;

/*
 * Reads, checks and compiles the rules file at path. Every problem found
 * is appended to problems (if not NULL) as one line
 * "<path>:<line>: <problem>\n", the first one also in err. Returns CDC_OK,
 * or CDC_ECONFIG with *out NULL: nothing is half-loaded.
 */
int rules_load(const char *path, struct rules_set **out,
               struct cdc_buf *problems, struct cdc_err *err);
/* Same, from memory; name stands for the file in messages. */
int rules_parse(const void *data, size_t len, const char *name,
                struct rules_set **out, struct cdc_buf *problems,
                struct cdc_err *err);
void rules_free(struct rules_set *rs); /* NULL-safe */
/* Number of rules in the set (all tables). */
size_t rules_count(const struct rules_set *rs);

enum rules_verdict {
    RULES_KEEP = 0, /* pass the (possibly changed) change on */
    RULES_DROP = 1, /* a filter did not pass: acknowledge, do not write */
};

/*
 * Applies the rules that select ev's table, in file order, stopping at
 * the first filter that does not pass. ev may be changed: whatever changes
 * (arrays of columns, keys, values, names) is allocated anew from arena and
 * never written in place, since arrays may be shared by the events of a
 * pack. Returns RULES_KEEP, RULES_DROP, or a negative status with err
 * flagged CDC_ERR_POISON and a reason naming the table and column (a
 * filter that cannot be decided, a value that cannot be compared): such a
 * change goes to the dead letters.
 */
int rules_apply(struct rules_set *rs, struct cdc_event *ev,
                struct cdc_arena *arena, struct cdc_err *err);

#endif

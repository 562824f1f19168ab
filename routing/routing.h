/*
 * routing.h: the public header of routing/: table and column renames and
 * operation selection, read from a routing file (pg_flo's format, see
 * routing/README.md), checked whole at load, applied to each change after
 * the rules and before the sink.
 *
 * A route set is read-only once loaded; applying it needs no scratch.
 */
#ifndef ROUTING_ROUTING_H
#define ROUTING_ROUTING_H

#include "common/common.h"

struct route_set;

/*
 * Reads and checks the routing file at path. Every problem found is
 * appended to problems (if not NULL) as one line
 * "<path>:<line>: <problem>\n", the first one also in err. Returns CDC_OK,
 * or CDC_ECONFIG with *out NULL: nothing is half-loaded.
 */
int route_load(const char *path, struct route_set **out,
               struct cdc_buf *problems, struct cdc_err *err);
/* Same, from memory; name stands for the file in messages. */
int route_parse(const void *data, size_t len, const char *name,
                struct route_set **out, struct cdc_buf *problems,
                struct cdc_err *err);
void route_free(struct route_set *rs); /* NULL-safe */
/* Number of routes in the set. */
size_t route_count(const struct route_set *rs);

enum route_verdict {
    ROUTE_KEEP = 0, /* pass the (possibly renamed) change on */
    ROUTE_DROP = 1, /* its operation is not selected: acknowledge only */
};

/*
 * Applies the route of ev's table, if any: drops an operation the route
 * does not select, renames the table (and schema, for a qualified
 * destination) and the columns of the new row, the old row, the key and
 * the unchanged list. Whatever changes is allocated anew from arena, never
 * written in place (arrays may be shared by the events of a pack). Returns
 * ROUTE_KEEP, ROUTE_DROP, or a negative status with err flagged
 * CDC_ERR_POISON and a reason naming the table (a mapping that makes two
 * columns of one name).
 */
int route_apply(const struct route_set *rs, struct cdc_event *ev,
                struct cdc_arena *arena, struct cdc_err *err);

#endif

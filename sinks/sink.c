/*
 * sink.c: the registry of sinks, expanded from sinks.def, what the sinks
 * share about their marks, and the small event helpers of the database
 * sinks.
 */
#include "sinks/sink.h"
#include "sinks/sink_int.h"

#include <stdio.h>
#include <string.h>

const struct sink_ops *const sink_all[] = {
#define CDC_SINK(n) &sink_##n##_ops,
#include "sinks/sinks.def"
#undef CDC_SINK
    NULL,
};

const struct sink_ops *sink_find(const char *name)
{
    for (size_t i = 0; sink_all[i] != NULL; i++) {
        if (strcmp(sink_all[i]->name, name) == 0)
            return sink_all[i];
    }
    return NULL;
}

bool sink_mark_covers(const struct sink_mark *mark, const struct cdc_event *ev)
{
    /* copied rows share one position (the copy's snapshot) and are
     * written by key, so a copied row that comes again is simply written
     * again; positions order only the changes of the stream */
    if (!mark->set || ev->op == CDC_OP_COPY ||
        strcmp(mark->source, ev->source) != 0)
        return false;
    return cdc_position_cmp(ev->source, ev->position, ev->tx_index,
                            mark->position, mark->tx_index) <= 0;
}

const struct cdc_col *sink__event_col(const struct cdc_col *cols, size_t n,
                                      const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    return NULL;
}

bool sink__key_unchanged(const struct cdc_event *ev)
{
    if (ev->nold == 0)
        return true;
    for (size_t i = 0; i < ev->nkey; i++) {
        const struct cdc_col *o =
            sink__event_col(ev->old, ev->nold, ev->key[i]);
        const struct cdc_col *n =
            sink__event_col(ev->cols, ev->ncols, ev->key[i]);
        if (o == NULL || n == NULL)
            return false;
        if ((o->value == NULL) != (n->value == NULL))
            return false;
        if (o->value != NULL && (o->value_len != n->value_len ||
                                 memcmp(o->value, n->value, o->value_len)))
            return false;
    }
    return true;
}

/* The events of one message share their names: a pointer compare
 * settles most. */
static bool same_name(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

bool sink__same_shape(const struct cdc_event *a, const struct cdc_event *b)
{
    if (a->ncols != b->ncols || a->nkey != b->nkey ||
        !same_name(a->table, b->table) ||
        (a->schema == NULL) != (b->schema == NULL) ||
        (a->schema != NULL && !same_name(a->schema, b->schema)))
        return false;
    for (size_t i = 0; i < a->ncols; i++)
        if (!same_name(a->cols[i].name, b->cols[i].name))
            return false;
    for (size_t i = 0; i < a->nkey; i++)
        if (!same_name(a->key[i], b->key[i]))
            return false;
    return true;
}

void sink__one_line(const char *in, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", in ? in : "");
    cdc_one_line(out);
}

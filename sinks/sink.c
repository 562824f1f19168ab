/*
 * sink.c: the registry of sinks, expanded from sinks.def, and what the
 * sinks share about their marks.
 */
#include "sinks/sink.h"

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

bool sink_mark_covers(const struct sink_mark *mark,
                      const struct cdc_event *ev)
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

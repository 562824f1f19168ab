/*
 * sink.c: the registry of sinks, expanded from sinks.def.
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

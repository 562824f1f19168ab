/*
 * source.c: the registry of sources, expanded from sources.def, and the
 * batch container the sources fill.
 */
#include "replicator/source.h"

#include <string.h>

const struct source_ops *const source_all[] = {
#define CDC_SOURCE(n) &source_##n##_ops,
#include "replicator/sources.def"
#undef CDC_SOURCE
    NULL,
};

const struct source_ops *source_find(const char *name)
{
    for (size_t i = 0; source_all[i] != NULL; i++) {
        if (strcmp(source_all[i]->name, name) == 0)
            return source_all[i];
    }
    return NULL;
}

void source_batch_init(struct source_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void source_batch_release(struct source_batch *b)
{
    cdc_free(b->events);
    cdc_free(b->cps);
    source_batch_init(b);
}

void source_batch_clear(struct source_batch *b)
{
    b->nevents = 0;
    b->ncps = 0;
}

void source_batch_add_event(struct source_batch *b, struct cdc_event *ev)
{
    if (b->nevents == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->events = cdc_xrealloc(b->events, b->cap * sizeof(*b->events));
    }
    b->events[b->nevents++] = ev;
}

void source_batch_add_checkpoint(struct source_batch *b, uint64_t token)
{
    if (b->ncps == b->capcps) {
        b->capcps = b->capcps ? b->capcps * 2 : 64;
        b->cps = cdc_xrealloc(b->cps, b->capcps * sizeof(*b->cps));
    }
    b->cps[b->ncps].after = b->nevents;
    b->cps[b->ncps].token = token;
    b->ncps++;
}

/*
 * sink.c: the registry of sinks, expanded from sinks.def, what the sinks
 * share about their marks, and the small event helpers of the database
 * sinks.
 */
#include "sinks/sink.h"
#include "sinks/sink_int.h"

#include "common/config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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

void sink_mark_set(struct sink_mark *mark, const struct cdc_event *ev,
                   uint64_t seq)
{
    mark->set = true;
    mark->stream_seq = seq;
    mark->tx_index = ev->tx_index;
    snprintf(mark->position, sizeof(mark->position), "%s", ev->position);
    snprintf(mark->source, sizeof(mark->source), "%s", ev->source);
}

int sink__connect_wait(const char *sink, const struct cdc_conf *cfg,
                       int (*connect)(void *state, struct cdc_err *err),
                       void *state, struct cdc_err *err)
{
    struct cdc_backoff bo;
    cdc_backoff_init(&bo, cdc_conf_get_int(cfg, "retry-initial-wait"),
                     cdc_conf_get_int(cfg, "retry-max-wait"));
    for (;;) {
        int rc = connect(state, err);
        if (rc == CDC_OK)
            return CDC_OK;
        if (!(err->flags & CDC_ERR_RETRIABLE))
            return rc != CDC_ESTOP && err->flags == 0 ? CDC_ECONFIG : rc;
        if (cdc_stop_requested)
            return CDC_ESTOP;
        int64_t wait = cdc_backoff_next(&bo);
        cdc_log(CDC_LOG_WARN, "sink", "sink=%s %s; retrying in %lld ms", sink,
                err->msg, (long long)wait);
        cdc_sleep_ms(wait);
    }
}

/* ==== Unique keys ==== */

void sink__keys_open(struct sink_keys *k)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 4;
        k->cols = cdc_xrealloc(k->cols, k->cap * sizeof(*k->cols));
        k->len = cdc_xrealloc(k->len, k->cap * sizeof(*k->len));
    }
    k->cols[k->n] = NULL;
    k->len[k->n] = 0;
    k->n++;
}

void sink__keys_add(struct sink_keys *k, const char *name)
{
    size_t i = k->n - 1;
    k->cols[i] =
        cdc_xrealloc(k->cols[i], (k->len[i] + 1) * sizeof(*k->cols[i]));
    k->cols[i][k->len[i]++] = cdc_xstrdup(name);
}

void sink__keys_drop(struct sink_keys *k)
{
    if (k->n == 0)
        return;
    k->n--;
    for (size_t j = 0; j < k->len[k->n]; j++)
        cdc_free(k->cols[k->n][j]);
    cdc_free(k->cols[k->n]);
}

bool sink__keys_has(const struct sink_keys *k, const char *const *names,
                    size_t n, bool fold_case)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->len[i] != n)
            continue;
        size_t hit = 0;
        for (size_t j = 0; j < n; j++)
            for (size_t c = 0; c < n; c++)
                if ((fold_case ? strcasecmp(k->cols[i][j], names[c])
                               : strcmp(k->cols[i][j], names[c])) == 0) {
                    hit++;
                    break;
                }
        if (hit == n)
            return true;
    }
    return false;
}

void sink__keys_free(struct sink_keys *k)
{
    while (k->n > 0)
        sink__keys_drop(k);
    cdc_free(k->cols);
    cdc_free(k->len);
    *k = (struct sink_keys){0};
}

/* ==== Blocked tables ==== */

void sink__blocked_clear(struct sink_blocked *b)
{
    for (size_t i = 0; i < b->n; i++)
        cdc_free(b->ents[i]);
    cdc_free(b->ents);
    *b = (struct sink_blocked){0};
}

void sink__blocked_add(struct sink_blocked *b, const char *schema,
                       const char *table)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->ents = cdc_xrealloc(b->ents, b->cap * sizeof(*b->ents));
    }
    size_t ls = strlen(schema);
    size_t lt = strlen(table);
    char *e = cdc_xmalloc(ls + lt + 2);
    memcpy(e, schema, ls + 1);
    memcpy(e + ls + 1, table, lt + 1);
    b->ents[b->n++] = e;
}

bool sink__blocked_has(const struct sink_blocked *b, const char *schema,
                       const char *table)
{
    for (size_t i = 0; i < b->n; i++) {
        const char *e = b->ents[i];
        if (strcmp(e, schema) == 0 && strcmp(e + strlen(e) + 1, table) == 0)
            return true;
    }
    return false;
}

int sink__blocked_error(const struct cdc_event *ev, const char *schema, char q,
                        size_t index, struct cdc_err *err)
{
    cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                "%s of %c%s%c.%c%s%c (position %s) not applied: a schema "
                "change of the table failed on the target earlier (see "
                "tributary.blocked there)",
                cdc_op_name(ev->op), q, schema, q, q, ev->table, q,
                ev->position);
    err->index = index;
    return CDC_EPROTO;
}

int sink__foreign_ddl(const struct cdc_event *ev, const char *target,
                      size_t index, struct cdc_err *err)
{
    char what[96];
    sink__one_line(ev->object ? ev->object : ev->ddl, what, sizeof(what));
    cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON | CDC_ERR_FINAL,
                "schema changes of a %s source are not applied to %s: make "
                "the change on the target by hand (%s, position %s)",
                ev->source ? ev->source : "unknown", target, what,
                ev->position);
    err->index = index;
    return CDC_EPROTO;
}

/* ==== Events ==== */

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

/*
 * event_pack.c: the bus form of a pack, consecutive changes of one table
 * within one transaction that share one message. JetStream's cost is per
 * message and per byte; one event per row repeats its table, position,
 * column names and types each time, and a pack says them once:
 *
 *   {"v":1,"op":"INSERT","source":...,"schema":...,"table":...,
 *    "position":...,"tx_index":<first row's>,"txid":...,"commit_time":...,
 *    "key":[...],"names":[...],"types":[...],"rows":[[...],[...]],
 *    "tx_end":<of the last row>}
 *
 * Row i is the change at tx_index + i; its values line up with names and
 * types (the new row for INSERT, UPDATE and COPY, the old key or row for
 * DELETE). Only changes that carry one row and nothing else travel this
 * way: an UPDATE with an old row or unchanged TOAST columns, TRUNCATE and
 * DDL go as single events. The decoder (event.c) turns a pack back into
 * the events it holds.
 */
#include "common/common.h"

#include <string.h>

static const struct cdc_col *row_of(const struct cdc_event *ev, size_t *n)
{
    if (ev->op == CDC_OP_DELETE) {
        *n = ev->nold;
        return ev->old;
    }
    *n = ev->ncols;
    return ev->cols;
}

bool cdc_pack_can_start(const struct cdc_event *ev)
{
    /* a pack has no place for the fields of a DDL event */
    if (ev->nunchanged > 0 || ev->ddl != NULL || ev->object != NULL ||
        ev->search_path != NULL)
        return false;
    switch (ev->op) {
    case CDC_OP_INSERT:
    case CDC_OP_COPY:
    case CDC_OP_UPDATE:
        return ev->ncols > 0 && ev->nold == 0;
    case CDC_OP_DELETE:
        return ev->nold > 0 && ev->ncols == 0;
    default:
        return false;
    }
}

static bool same_str(const char *a, const char *b)
{
    if (a == b)
        return true;
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool cdc_pack_follows(const struct cdc_event *last, const struct cdc_event *ev)
{
    if (!cdc_pack_can_start(ev) || ev->op != last->op ||
        (uint64_t)ev->tx_index != (uint64_t)last->tx_index + 1 || last->tx_end ||
        ev->has_txid != last->has_txid ||
        (ev->has_txid && ev->txid != last->txid) || ev->nkey != last->nkey)
        return false;
    if (!same_str(ev->position, last->position) ||
        !same_str(ev->table, last->table) ||
        !same_str(ev->schema, last->schema) ||
        !same_str(ev->source, last->source) ||
        !same_str(ev->commit_time, last->commit_time))
        return false;
    for (size_t i = 0; i < ev->nkey; i++) {
        if (!same_str(ev->key[i], last->key[i]))
            return false;
    }
    size_t n = 0;
    size_t m = 0;
    const struct cdc_col *a = row_of(last, &n);
    const struct cdc_col *b = row_of(ev, &m);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!same_str(a[i].name, b[i].name) ||
            !same_str(a[i].type ? a[i].type : "", b[i].type ? b[i].type : ""))
            return false;
    }
    return true;
}

static int put_field(struct cdc_buf *b, const char *key, const char *v)
{
    int rc = cdc_buf_append_str(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append_json_str(b, v, strlen(v));
    return rc;
}

static int put_names(struct cdc_buf *b, const char *key,
                     const struct cdc_col *cols, size_t n, bool types)
{
    int rc = cdc_buf_append_str(b, key);
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        const char *s = types ? cols[i].type : cols[i].name;
        if (s == NULL)
            s = "";
        if (i > 0)
            rc = cdc_buf_append_char(b, ',');
        if (rc == CDC_OK)
            rc = cdc_buf_append_json_str(b, s, strlen(s));
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, ']');
    return rc;
}

int cdc_pack_begin(const struct cdc_event *ev, struct cdc_buf *out)
{
    int rc = cdc_buf_append_str(out, "{\"v\":1,\"op\":\"");
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(out, cdc_op_name(ev->op));
    if (rc == CDC_OK)
        rc = put_field(out, "\",\"source\":", ev->source ? ev->source : "");
    if (rc == CDC_OK && ev->schema != NULL)
        rc = put_field(out, ",\"schema\":", ev->schema);
    if (rc == CDC_OK && ev->table != NULL)
        rc = put_field(out, ",\"table\":", ev->table);
    if (rc == CDC_OK)
        rc = put_field(out, ",\"position\":",
                       ev->position ? ev->position : "");
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(out, ",\"tx_index\":");
    if (rc == CDC_OK)
        rc = cdc_buf_append_uint(out, ev->tx_index);
    if (rc == CDC_OK && ev->has_txid)
        rc = cdc_buf_printf(out, ",\"txid\":%lld", (long long)ev->txid);
    if (rc == CDC_OK && ev->commit_time != NULL)
        rc = put_field(out, ",\"commit_time\":", ev->commit_time);
    if (rc == CDC_OK && ev->nkey > 0) {
        rc = cdc_buf_append_str(out, ",\"key\":[");
        for (size_t i = 0; i < ev->nkey && rc == CDC_OK; i++) {
            if (i > 0)
                rc = cdc_buf_append_char(out, ',');
            if (rc == CDC_OK)
                rc = cdc_buf_append_json_str(out, ev->key[i],
                                             strlen(ev->key[i]));
        }
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(out, ']');
    }
    size_t n = 0;
    const struct cdc_col *cols = row_of(ev, &n);
    if (rc == CDC_OK)
        rc = put_names(out, ",\"names\":[", cols, n, false);
    if (rc == CDC_OK)
        rc = put_names(out, ",\"types\":[", cols, n, true);
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(out, ",\"rows\":[");
    return rc;
}

int cdc_pack_add(const struct cdc_event *ev, bool first, struct cdc_buf *out)
{
    size_t n = 0;
    const struct cdc_col *cols = row_of(ev, &n);
    int rc = cdc_buf_append_str(out, first ? "[" : ",[");
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        if (i > 0)
            rc = cdc_buf_append_char(out, ',');
        if (rc != CDC_OK)
            break;
        if (cols[i].value == NULL)
            rc = cdc_buf_append(out, "null", 4);
        else
            rc = cdc_buf_append_json_str(out, cols[i].value,
                                         cols[i].value_len);
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(out, ']');
    return rc;
}

int cdc_pack_end(bool tx_end, struct cdc_buf *out)
{
    return cdc_buf_append_str(out, tx_end ? "],\"tx_end\":true}"
                                          : "],\"tx_end\":false}");
}

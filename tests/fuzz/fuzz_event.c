/*
 * fuzz_event.c: libFuzzer target of the event JSON decoder (common/event.c
 * and the packs of event_pack.c): the input is one message of the bus,
 * decoded as a single event and as a message of several. Whatever decodes
 * is encoded again, in the bus form (alone and, where events can share
 * one, in packs) and in the natural form: the bus form must decode to the
 * same events and the natural form must be one JSON object. A difference
 * aborts, so libFuzzer keeps the input.
 */
#include "tests/fuzz/fuzz.h"
#include "common/common.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_event: %s: %s\n", what, detail);
    abort();
}

static bool same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool same_cols(const struct cdc_col *a, size_t na,
                      const struct cdc_col *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (!same_str(a[i].name, b[i].name) || !same_str(a[i].type, b[i].type))
            return false;
        if (a[i].value == NULL || b[i].value == NULL) {
            if (a[i].value != b[i].value)
                return false;
            continue;
        }
        if (a[i].value_len != b[i].value_len ||
            memcmp(a[i].value, b[i].value, a[i].value_len) != 0)
            return false;
    }
    return true;
}

static bool same_names(const char *const *a, size_t na, const char *const *b,
                       size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (!same_str(a[i], b[i]))
            return false;
    }
    return true;
}

/* Which field of two events differs, or NULL. */
static const char *differs(const struct cdc_event *a, const struct cdc_event *b)
{
    if (a->op != b->op)
        return "op";
    if (!same_str(a->source, b->source))
        return "source";
    if (!same_str(a->schema, b->schema))
        return "schema";
    if (!same_str(a->table, b->table))
        return "table";
    if (!same_str(a->position, b->position))
        return "position";
    if (a->tx_index != b->tx_index)
        return "tx_index";
    if (a->tx_end != b->tx_end)
        return "tx_end";
    if (a->has_txid != b->has_txid || (a->has_txid && a->txid != b->txid))
        return "txid";
    if (!same_str(a->commit_time, b->commit_time))
        return "commit_time";
    if (!same_str(a->ddl, b->ddl))
        return "ddl";
    if (!same_str(a->object, b->object))
        return "object";
    if (!same_str(a->search_path, b->search_path))
        return "search_path";
    if (!same_cols(a->cols, a->ncols, b->cols, b->ncols))
        return "columns";
    if (!same_cols(a->old, a->nold, b->old, b->nold))
        return "old";
    if (!same_names(a->key, a->nkey, b->key, b->nkey))
        return "key";
    if (!same_names(a->unchanged, a->nunchanged, b->unchanged, b->nunchanged))
        return "unchanged";
    return NULL;
}

/* The bus form of ev decodes to ev; the natural form is one JSON object,
 * with and without extra fields. */
static void round_trip(const struct cdc_event *ev)
{
    struct cdc_event back;
    struct cdc_err err;
    cdc_err_clear(&err);
    cdc_buf_reset(&out);
    if (cdc_event_encode(ev, &out) != CDC_OK)
        fail("cannot encode a decoded event", ev->position);
    if (cdc_event_decode(out.data, out.len, &arena, &back, &err) != CDC_OK)
        fail("the bus form of a decoded event does not decode", err.msg);
    const char *field = differs(ev, &back);
    if (field != NULL)
        fail("the bus form decodes to another event, field", field);

    for (int extra = 0; extra < 2; extra++) {
        cdc_buf_reset(&out);
        if (cdc_event_encode_natural(ev, extra ? "\"seq\":7" : NULL, &out) !=
            CDC_OK)
            fail("cannot encode the natural form", ev->position);
        if (strlen(out.data) != out.len)
            fail("the natural form holds a NUL byte", out.data);
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithOpts(out.data, &end, 1);
        if (j == NULL || !cJSON_IsObject(j))
            fail("the natural form is not one JSON object", out.data);
        cJSON_Delete(j);
    }
}

/* evs[0..n) as one message: packs where the events allow one (a pack of
 * one is the event's own form), an array when there are several
 * objects. It must decode to the same events. */
static void pack_round_trip(const struct cdc_event *evs, size_t n)
{
    size_t objs = 0;
    cdc_buf_reset(&out);
    cdc_buf_append_char(&out, '[');
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        if (cdc_pack_can_start(&evs[i])) {
            while (i + k < n && cdc_pack_follows(&evs[i + k - 1], &evs[i + k]))
                k++;
        }
        if (objs++ > 0)
            cdc_buf_append_char(&out, ',');
        if (k == 1) {
            if (cdc_event_encode(&evs[i], &out) != CDC_OK)
                fail("cannot encode a decoded event", evs[i].position);
        } else {
            int rc = cdc_pack_begin(&evs[i], &out);
            for (size_t r = 0; r < k && rc == CDC_OK; r++)
                rc = cdc_pack_add(&evs[i + r], r == 0, &out);
            if (rc == CDC_OK)
                rc = cdc_pack_end(evs[i + k - 1].tx_end, &out);
            if (rc != CDC_OK)
                fail("cannot encode a pack", evs[i].position);
        }
        i += k;
    }
    cdc_buf_append_char(&out, ']');

    /* One object goes without the brackets, as the replicator sends it. */
    const char *text = objs > 1 ? out.data : out.data + 1;
    size_t len = objs > 1 ? out.len : out.len - 2;
    struct cdc_event *back = NULL;
    size_t nback = 0;
    struct cdc_err err;
    cdc_err_clear(&err);
    if (cdc_event_decode_msg(text, len, &arena, &back, &nback, &err) != CDC_OK)
        fail("the message of decoded events does not decode", err.msg);
    if (nback != n)
        fail("the message decodes to another number of events", text);
    for (size_t i = 0; i < n; i++) {
        const char *field = differs(&evs[i], &back[i]);
        if (field != NULL)
            fail("the message decodes to other events, field", field);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cdc_event ev;
    struct cdc_err err;

    cdc_err_clear(&err);
    if (cdc_event_decode(data, size, &arena, &ev, &err) == CDC_OK)
        round_trip(&ev);

    struct cdc_event *evs = NULL;
    size_t n = 0;
    cdc_err_clear(&err);
    if (cdc_event_decode_msg(data, size, &arena, &evs, &n, &err) == CDC_OK) {
        for (size_t i = 0; i < n; i++)
            round_trip(&evs[i]);
        if (n > 0)
            pack_round_trip(evs, n);
    }
    cdc_arena_reset(&arena);
    return 0;
}

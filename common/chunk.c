/*
 * chunk.c: the pure parts of chunked events: reading and checking the
 * "i/k" of a Tributary-Chunk header or a chunk's msgid suffix, cutting an
 * encoded event into k near-equal slices, and the reader's state machine
 * that accepts chunks only as one unbroken run 1..k. It does no I/O and
 * allocates nothing: the replicator and the worker keep the bytes and the
 * messages. Invariants: the bytes of chunk i/k depend on the event and k
 * alone, so a re-sent chunk always equals the one it duplicates; a run is
 * only ever whole when its chunks came as 1, 2, ... k with the same k, so
 * a reassembled event is exactly what was published.
 */
#include "common/common.h"

#include <inttypes.h>
#include <string.h>

/* Reads the decimal number in [s, end): digits only, no leading zero, at
 * most CDC_CHUNK_MAX_COUNT. */
static bool parse_count(const char *s, const char *end, uint32_t *out)
{
    if (s == end || (*s == '0' && end - s > 1))
        return false;
    uint32_t v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint32_t)(*s - '0');
        /* checked per digit, so v never overflows */
        if (v > CDC_CHUNK_MAX_COUNT)
            return false;
    }
    *out = v;
    return true;
}

int cdc_chunk_parse(const char *s, uint32_t *i, uint32_t *k)
{
    if (s == NULL)
        return CDC_EPROTO;
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return CDC_EPROTO;
    uint32_t a = 0;
    uint32_t b = 0;
    if (!parse_count(s, slash, &a) ||
        !parse_count(slash + 1, slash + 1 + strlen(slash + 1), &b))
        return CDC_EPROTO;
    if (a < 1 || a > b)
        return CDC_EPROTO;
    *i = a;
    *k = b;
    return CDC_OK;
}

int cdc_chunk_count(size_t len, size_t limit, uint32_t *k)
{
    if (len > CDC_CHUNK_MAX_BYTES || limit == 0)
        return CDC_ETOOBIG;
    size_t n = len == 0 ? 1 : len / limit + (len % limit != 0);
    if (n > CDC_CHUNK_MAX_COUNT)
        return CDC_ETOOBIG;
    *k = (uint32_t)n;
    return CDC_OK;
}

void cdc_chunk_slice(size_t len, uint32_t k, uint32_t i, size_t *off, size_t *n)
{
    CDC_ASSERT(i >= 1 && i <= k);
    size_t base = len / k;
    size_t extra = len % k;
    size_t before = (size_t)(i - 1);
    *off = before * base + (before < extra ? before : extra);
    *n = base + (before < extra ? 1 : 0);
}

void cdc_event_msgid(struct cdc_buf *out, const char *group,
                     const char *position, uint32_t index)
{
    cdc_buf_reset(out);
    cdc_buf_printf(out, "%s:%s:%" PRIu32, group, position, index);
}

bool cdc_chunk_msgid_split(const char *msgid, size_t *base_len, uint32_t *i,
                           uint32_t *k)
{
    const char *hash = strrchr(msgid, '#');
    if (hash == NULL || hash == msgid)
        return false;
    uint32_t a = 0;
    uint32_t b = 0;
    if (cdc_chunk_parse(hash + 1, &a, &b) != CDC_OK)
        return false;
    *base_len = (size_t)(hash - msgid);
    *i = a;
    *k = b;
    return true;
}

void cdc_chunk_seq_init(struct cdc_chunk_seq *cs)
{
    cs->next = 0;
    cs->count = 0;
}

bool cdc_chunk_seq_open(const struct cdc_chunk_seq *cs)
{
    return cs->next != 0;
}

enum cdc_chunk_step cdc_chunk_seq_step(struct cdc_chunk_seq *cs, uint32_t i,
                                       uint32_t k, uint32_t *dropped)
{
    uint32_t had = cs->next != 0 ? cs->next - 1 : 0;
    *dropped = 0;
    if (i == 1) {
        *dropped = had;
        cs->next = 2;
        cs->count = k;
    } else if (cs->next == 0 || i != cs->next || k != cs->count) {
        *dropped = had;
        cdc_chunk_seq_init(cs);
        return CDC_CHUNK_BAD;
    } else {
        cs->next++;
    }
    if (i == k) {
        cdc_chunk_seq_init(cs);
        return CDC_CHUNK_LAST;
    }
    return CDC_CHUNK_MORE;
}

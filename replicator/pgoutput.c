/*
 * pgoutput.c: decodes pgoutput protocol 1 messages (Begin, Commit, Origin,
 * Relation, Type, Insert, Update, Delete, Truncate, Message) into change
 * events, and reads the stream messages of protocol 2. Every length is
 * checked against the buffer: the input comes from the network and a
 * malformed message is an error, never a crash. It keeps the relations and
 * types the server described, and the open transaction's commit LSN, time,
 * xid and change counter. It does no I/O.
 */
#include "replicator/pgoutput.h"

#include <stdio.h>
#include <string.h>

/* Seconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_OFFSET_US (INT64_C(946684800) * 1000000)

struct pgo_col {
    char *name;
    uint32_t type_oid;
    bool key;
};

struct pgo_rel {
    uint32_t oid;
    char *nspname;
    char *relname;
    char replident;
    size_t ncols;
    struct pgo_col *cols;
    size_t nkey;
    char **key; /* key column names */
};

struct pgo_type {
    uint32_t oid;
    char *name;
};

struct source_pgo {
    struct pgo_rel *rels;
    size_t nrels;
    size_t caprels;
    struct pgo_type *types;
    size_t ntypes;
    size_t captypes;
    bool in_tx;
    uint64_t commit_lsn;
    char position[32];
    char commit_time[40];
    int64_t xid;
    uint32_t tx_index;
};

static const struct {
    uint32_t oid;
    const char *name;
} builtin_types[] = {
#define PG_TYPE(oid, name) {oid, name},
#include "replicator/pg_types.def"
#undef PG_TYPE
};

/* ==== Reading ==== */

struct rd {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static uint8_t rd_u8(struct rd *r)
{
    if (r->left < 1) {
        r->bad = true;
        return 0;
    }
    r->left--;
    return *r->p++;
}

static uint16_t rd_u16(struct rd *r)
{
    if (r->left < 2) {
        r->bad = true;
        r->left = 0;
        return 0;
    }
    uint16_t v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return v;
}

static uint32_t rd_u32(struct rd *r)
{
    if (r->left < 4) {
        r->bad = true;
        r->left = 0;
        return 0;
    }
    uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
                 ((uint32_t)r->p[2] << 8) | r->p[3];
    r->p += 4;
    r->left -= 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    uint64_t hi = rd_u32(r);
    uint64_t lo = rd_u32(r);
    return (hi << 32) | lo;
}

/* A NUL-terminated string inside the buffer; returns its start. */
static const char *rd_str(struct rd *r, size_t *len)
{
    const uint8_t *nul = r->left ? memchr(r->p, '\0', r->left) : NULL;
    if (nul == NULL) {
        r->bad = true;
        r->left = 0;
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    *len = (size_t)(nul - r->p);
    r->left -= *len + 1;
    r->p = nul + 1;
    return s;
}

static const uint8_t *rd_bytes(struct rd *r, size_t n)
{
    if (r->left < n) {
        r->bad = true;
        r->left = 0;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

/* ==== Lifecycle ==== */

struct source_pgo *source_pgo_new(void)
{
    return cdc_xcalloc(1, sizeof(struct source_pgo));
}

static void rel_release(struct pgo_rel *rel)
{
    cdc_free(rel->nspname);
    cdc_free(rel->relname);
    for (size_t i = 0; i < rel->ncols; i++)
        cdc_free(rel->cols[i].name);
    cdc_free(rel->cols);
    for (size_t i = 0; i < rel->nkey; i++)
        cdc_free(rel->key[i]);
    cdc_free(rel->key);
    memset(rel, 0, sizeof(*rel));
}

void source_pgo_free(struct source_pgo *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nrels; i++)
        rel_release(&d->rels[i]);
    cdc_free(d->rels);
    for (size_t i = 0; i < d->ntypes; i++)
        cdc_free(d->types[i].name);
    cdc_free(d->types);
    cdc_free(d);
}

bool source_pgo_in_tx(const struct source_pgo *d)
{
    return d->in_tx;
}

void source_pgo_reset_tx(struct source_pgo *d)
{
    d->in_tx = false;
    d->tx_index = 0;
}

static struct pgo_rel *find_rel(struct source_pgo *d, uint32_t oid)
{
    for (size_t i = 0; i < d->nrels; i++) {
        if (d->rels[i].oid == oid)
            return &d->rels[i];
    }
    return NULL;
}

const char *source_pgo_type_name(const struct source_pgo *d, uint32_t oid)
{
    for (size_t i = d->ntypes; i > 0; i--) {
        if (d->types[i - 1].oid == oid)
            return d->types[i - 1].name;
    }
    /* the built-in table is sorted by OID */
    size_t lo = 0;
    size_t hi = sizeof(builtin_types) / sizeof(builtin_types[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (builtin_types[mid].oid == oid)
            return builtin_types[mid].name;
        if (builtin_types[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void source_pgo_set_key(struct source_pgo *d, uint32_t relid,
                        const char *const *names, size_t n)
{
    struct pgo_rel *rel = find_rel(d, relid);
    if (rel == NULL)
        return;
    for (size_t i = 0; i < rel->nkey; i++)
        cdc_free(rel->key[i]);
    cdc_free(rel->key);
    rel->key = cdc_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        rel->key[i] = cdc_xstrdup(names[i]);
    rel->nkey = n;
}

/* ==== Messages ==== */

static int bad(struct cdc_err *err, char type)
{
    return cdc_err_set(err, CDC_EPROTO, 0,
                       "malformed pgoutput message '%c': truncated or "
                       "inconsistent",
                       type);
}

static int decode_relation(struct source_pgo *d, struct rd *r,
                           struct source_pgo_result *res, struct cdc_err *err)
{
    size_t nlen = 0;
    size_t rlen = 0;
    uint32_t oid = rd_u32(r);
    const char *nsp = rd_str(r, &nlen);
    const char *rel = rd_str(r, &rlen);
    char replident = (char)rd_u8(r);
    uint16_t ncols = rd_u16(r);
    if (r->bad)
        return bad(err, 'R');

    struct pgo_rel fresh = {0};
    fresh.oid = oid;
    fresh.nspname = cdc_xstrndup(nsp, nlen);
    fresh.relname = cdc_xstrndup(rel, rlen);
    fresh.replident = replident;
    fresh.ncols = ncols;
    fresh.cols = cdc_xcalloc(ncols ? ncols : 1, sizeof(struct pgo_col));
    fresh.key = cdc_xcalloc(ncols ? ncols : 1, sizeof(char *));
    for (uint16_t i = 0; i < ncols; i++) {
        size_t len = 0;
        uint8_t flags = rd_u8(r);
        const char *name = rd_str(r, &len);
        uint32_t type = rd_u32(r);
        (void)rd_u32(r); /* typmod */
        if (r->bad) {
            rel_release(&fresh);
            return bad(err, 'R');
        }
        fresh.cols[i].name = cdc_xstrndup(name, len);
        fresh.cols[i].type_oid = type;
        fresh.cols[i].key = (flags & 1) != 0;
        /* with REPLICA IDENTITY FULL every column is flagged: that is not
         * a key a sink could match on by itself */
        if (fresh.cols[i].key && replident != 'f')
            fresh.key[fresh.nkey++] = cdc_xstrndup(name, len);
    }
    struct pgo_rel *slot = find_rel(d, oid);
    if (slot != NULL) {
        rel_release(slot);
    } else {
        if (d->nrels == d->caprels) {
            d->caprels = d->caprels ? d->caprels * 2 : 16;
            d->rels = cdc_xrealloc(d->rels, d->caprels * sizeof(*d->rels));
        }
        slot = &d->rels[d->nrels++];
    }
    *slot = fresh;
    res->relid = oid;
    res->needs_key = replident == 'f';
    return CDC_OK;
}

static int decode_type(struct source_pgo *d, struct rd *r,
                       struct cdc_err *err)
{
    size_t nlen = 0;
    size_t tlen = 0;
    uint32_t oid = rd_u32(r);
    const char *nsp = rd_str(r, &nlen);
    const char *name = rd_str(r, &tlen);
    if (r->bad)
        return bad(err, 'Y');
    (void)nsp;
    const char *known = source_pgo_type_name(d, oid);
    if (known != NULL && strlen(known) == tlen &&
        memcmp(known, name, tlen) == 0)
        return CDC_OK;
    /* a changed name is appended, never replaced in place: events not yet
     * published may still point at the old one; lookups go newest first */
    if (d->ntypes == d->captypes) {
        d->captypes = d->captypes ? d->captypes * 2 : 16;
        d->types = cdc_xrealloc(d->types, d->captypes * sizeof(*d->types));
    }
    d->types[d->ntypes].oid = oid;
    d->types[d->ntypes].name = cdc_xstrndup(name, tlen);
    d->ntypes++;
    return CDC_OK;
}

/*
 * Reads TupleData into cols (allocated in arena). With key_only, columns
 * not in the relation's key are skipped (an old key tuple carries them as
 * nulls). Unchanged TOAST columns are left out of cols and listed in
 * unchanged (if not NULL).
 */
static int read_tuple(struct source_pgo *d, struct rd *r,
                      const struct pgo_rel *rel, bool key_only,
                      struct cdc_arena *a, struct cdc_col **cols_out,
                      size_t *ncols_out, const char ***unchanged,
                      size_t *nunchanged, char msgtype, struct cdc_err *err)
{
    uint16_t n = rd_u16(r);
    if (r->bad)
        return bad(err, msgtype);
    if (n > rel->ncols)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "pgoutput tuple for \"%s\".\"%s\" has %u columns, "
                           "relation has %zu",
                           rel->nspname, rel->relname, n, rel->ncols);
    struct cdc_col *cols = cdc_arena_alloc(a, sizeof(*cols) * (n ? n : 1));
    size_t k = 0;
    for (uint16_t i = 0; i < n; i++) {
        const struct pgo_col *pc = &rel->cols[i];
        uint8_t kind = rd_u8(r);
        const char *value = NULL;
        size_t vlen = 0;
        if (r->bad)
            return bad(err, msgtype);
        switch (kind) {
        case 'n':
            break;
        case 'u':
            if (unchanged != NULL)
                (*unchanged)[(*nunchanged)++] = cdc_arena_strdup(a, pc->name);
            continue;
        case 't': {
            uint32_t len = rd_u32(r);
            const uint8_t *p = rd_bytes(r, len);
            if (r->bad)
                return bad(err, msgtype);
            value = cdc_arena_strndup(a, (const char *)p, len);
            vlen = len;
            break;
        }
        default:
            return cdc_err_set(err, CDC_EPROTO, 0,
                               "pgoutput column \"%s\" of \"%s\".\"%s\" has "
                               "unsupported kind '%c'",
                               pc->name, rel->nspname, rel->relname,
                               kind >= 32 && kind < 127 ? kind : '?');
        }
        if (key_only && !pc->key)
            continue;
        const char *type = source_pgo_type_name(d, pc->type_oid);
        if (type == NULL) {
            char tmp[24];
            snprintf(tmp, sizeof(tmp), "oid:%u", pc->type_oid);
            type = cdc_arena_strdup(a, tmp);
        }
        cols[k].name = cdc_arena_strdup(a, pc->name);
        cols[k].type = type;
        cols[k].value = value;
        cols[k].value_len = vlen;
        k++;
    }
    *cols_out = cols;
    *ncols_out = k;
    return CDC_OK;
}

/* A new event at the next place of the open transaction: the parts
 * every change of it shares. */
static struct cdc_event *tx_event(struct source_pgo *d, struct cdc_arena *a,
                                  enum cdc_op op)
{
    struct cdc_event *ev = cdc_arena_alloc(a, sizeof(*ev));
    memset(ev, 0, sizeof(*ev));
    ev->op = op;
    ev->source = "postgres";
    ev->position = cdc_arena_strdup(a, d->position);
    ev->tx_index = d->tx_index++;
    ev->has_txid = true;
    ev->txid = d->xid;
    ev->commit_time = cdc_arena_strdup(a, d->commit_time);
    return ev;
}

/* A change of relation rel. */
static struct cdc_event *new_event(struct source_pgo *d, struct cdc_arena *a,
                                   enum cdc_op op, const struct pgo_rel *rel)
{
    struct cdc_event *ev = tx_event(d, a, op);
    /* copies: a Relation message may replace rel before the event is
     * published */
    ev->schema = cdc_arena_strdup(a, rel->nspname);
    ev->table = cdc_arena_strdup(a, rel->relname);
    const char **key = cdc_arena_alloc(a, sizeof(char *) * (rel->nkey + 1));
    for (size_t i = 0; i < rel->nkey; i++)
        key[i] = cdc_arena_strdup(a, rel->key[i]);
    ev->key = key;
    ev->nkey = rel->nkey;
    return ev;
}

struct cdc_event *source_pgo_message_event(struct source_pgo *d,
                                          struct cdc_arena *a)
{
    return d->in_tx ? tx_event(d, a, CDC_OP_DDL) : NULL;
}

static int lookup_rel(struct source_pgo *d, uint32_t relid, char type,
                      struct pgo_rel **rel, struct cdc_err *err)
{
    *rel = find_rel(d, relid);
    if (*rel == NULL)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "pgoutput '%c' message for unknown relation %u",
                           type, relid);
    if (!d->in_tx)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "pgoutput '%c' message outside a transaction",
                           type);
    return CDC_OK;
}

static int decode_change(struct source_pgo *d, char type, struct rd *r,
                         struct cdc_arena *a, struct source_pgo_result *res,
                         struct cdc_err *err)
{
    struct pgo_rel *rel = NULL;
    uint32_t relid = rd_u32(r);
    if (r->bad)
        return bad(err, type);
    int rc = lookup_rel(d, relid, type, &rel, err);
    if (rc != CDC_OK)
        return rc;
    enum cdc_op op = type == 'I'   ? CDC_OP_INSERT
                     : type == 'U' ? CDC_OP_UPDATE
                                   : CDC_OP_DELETE;
    struct cdc_event *ev = new_event(d, a, op, rel);
    uint8_t tag = rd_u8(r);
    if (r->bad)
        return bad(err, type);
    if (tag == 'K' || tag == 'O') {
        if (type == 'I')
            return bad(err, type);
        rc = read_tuple(d, r, rel, tag == 'K', a, &ev->old, &ev->nold, NULL,
                        NULL, type, err);
        if (rc != CDC_OK)
            return rc;
        if (type == 'U')
            tag = rd_u8(r);
    }
    if (type == 'D') {
        if (ev->old == NULL)
            return bad(err, type);
    } else {
        if (tag != 'N' || r->bad)
            return bad(err, type);
        const char **unchanged =
            cdc_arena_alloc(a, sizeof(char *) * (rel->ncols + 1));
        ev->unchanged = unchanged;
        rc = read_tuple(d, r, rel, false, a, &ev->cols, &ev->ncols,
                        &unchanged, &ev->nunchanged, type, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (r->left != 0)
        return bad(err, type);
    res->kind = PGO_CHANGES;
    res->events = ev;
    res->nevents = 1;
    return CDC_OK;
}

static int decode_truncate(struct source_pgo *d, struct rd *r,
                           struct cdc_arena *a, struct source_pgo_result *res,
                           struct cdc_err *err)
{
    uint32_t nrels = rd_u32(r);
    (void)rd_u8(r); /* options: CASCADE, RESTART IDENTITY */
    if (r->bad || (size_t)nrels * 4 != r->left)
        return bad(err, 'T');
    struct cdc_event *evs = cdc_arena_alloc(a, sizeof(*evs) * (nrels + 1));
    for (uint32_t i = 0; i < nrels; i++) {
        struct pgo_rel *rel = NULL;
        int rc = lookup_rel(d, rd_u32(r), 'T', &rel, err);
        if (rc != CDC_OK)
            return rc;
        evs[i] = *new_event(d, a, CDC_OP_TRUNCATE, rel);
    }
    res->kind = PGO_CHANGES;
    res->events = evs;
    res->nevents = nrels;
    return CDC_OK;
}

int source_pgo_decode(struct source_pgo *d, const void *msg, size_t len,
                      struct cdc_arena *arena, struct source_pgo_result *res,
                      struct cdc_err *err)
{
    struct rd r = {.p = msg, .left = len, .bad = false};
    memset(res, 0, sizeof(*res));
    if (len == 0)
        return cdc_err_set(err, CDC_EPROTO, 0, "empty pgoutput message");
    char type = (char)rd_u8(&r);
    switch (type) {
    case 'B': {
        uint64_t final_lsn = rd_u64(&r);
        int64_t ts = (int64_t)rd_u64(&r);
        uint32_t xid = rd_u32(&r);
        /* a commit time past what microseconds since 1970 can hold
         * (PostgreSQL's own end is far before it) */
        if (r.bad || r.left != 0 || ts > INT64_MAX - PG_EPOCH_OFFSET_US)
            return bad(err, type);
        d->in_tx = true;
        d->commit_lsn = final_lsn;
        d->xid = xid;
        d->tx_index = 0;
        cdc_lsn_format(final_lsn, d->position, sizeof(d->position));
        cdc_time_format_us(ts + PG_EPOCH_OFFSET_US, d->commit_time,
                           sizeof(d->commit_time));
        res->kind = PGO_BEGIN;
        res->commit_lsn = final_lsn;
        return CDC_OK;
    }
    case 'C': {
        (void)rd_u8(&r); /* flags */
        uint64_t commit_lsn = rd_u64(&r);
        uint64_t end_lsn = rd_u64(&r);
        (void)rd_u64(&r); /* commit time, known from Begin */
        if (r.bad || r.left != 0)
            return bad(err, type);
        if (!d->in_tx)
            return cdc_err_set(err, CDC_EPROTO, 0,
                               "pgoutput Commit without Begin");
        d->in_tx = false;
        res->kind = PGO_COMMIT;
        res->commit_lsn = commit_lsn;
        res->end_lsn = end_lsn;
        return CDC_OK;
    }
    case 'O': {
        size_t n = 0;
        (void)rd_u64(&r);
        (void)rd_str(&r, &n);
        if (r.bad)
            return bad(err, type);
        res->kind = PGO_NONE;
        return CDC_OK;
    }
    case 'R':
        res->kind = PGO_NONE;
        return decode_relation(d, &r, res, err);
    case 'Y':
        res->kind = PGO_NONE;
        return decode_type(d, &r, err);
    case 'I':
    case 'U':
    case 'D':
        return decode_change(d, type, &r, arena, res, err);
    case 'T':
        return decode_truncate(d, &r, arena, res, err);
    case 'M': {
        size_t plen = 0;
        uint8_t flags = rd_u8(&r);
        (void)rd_u64(&r);
        const char *prefix = rd_str(&r, &plen);
        uint32_t clen = rd_u32(&r);
        const uint8_t *content = rd_bytes(&r, clen);
        if (r.bad || r.left != 0)
            return bad(err, type);
        res->kind = PGO_MESSAGE;
        res->transactional = (flags & 1) != 0;
        res->prefix = cdc_arena_strndup(arena, prefix, plen);
        res->content = cdc_arena_strndup(arena, (const char *)content, clen);
        res->content_len = clen;
        return CDC_OK;
    }
    default:
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "unknown pgoutput message type 0x%02x",
                           (unsigned char)type);
    }
}

/* ==== Protocol 2 streams ==== */

int source_pgo_stream_parse(const void *msg, size_t len,
                            struct source_pgo_stream *out, struct cdc_err *err)
{
    struct rd r = {.p = msg, .left = len, .bad = false};
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return cdc_err_set(err, CDC_EPROTO, 0, "empty pgoutput message");
    char type = (char)rd_u8(&r);
    switch (type) {
    case 'S':
        out->kind = PGO_STREAM_START;
        out->xid = rd_u32(&r);
        out->first = rd_u8(&r) == 1;
        break;
    case 'E':
        out->kind = PGO_STREAM_STOP;
        break;
    case 'c':
        out->kind = PGO_STREAM_COMMIT;
        out->xid = rd_u32(&r);
        (void)rd_u8(&r); /* flags */
        out->commit_lsn = rd_u64(&r);
        out->end_lsn = rd_u64(&r);
        out->commit_time = (int64_t)rd_u64(&r);
        if (out->commit_time > INT64_MAX - PG_EPOCH_OFFSET_US)
            return bad(err, type);
        break;
    case 'A':
        out->kind = PGO_STREAM_ABORT;
        out->xid = rd_u32(&r);
        out->subxid = rd_u32(&r);
        break;
    default:
        return CDC_OK;
    }
    if (r.bad || r.left != 0)
        return bad(err, type);
    return CDC_OK;
}

int source_pgo_stream_xid(const void *msg, size_t len, uint32_t *xid,
                          const uint8_t **body, size_t *body_len,
                          struct cdc_err *err)
{
    struct rd r = {.p = msg, .left = len, .bad = false};
    if (len == 0)
        return cdc_err_set(err, CDC_EPROTO, 0, "empty pgoutput message");
    char type = (char)rd_u8(&r);
    if (strchr("RYIUDTM", type) == NULL || type == '\0')
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "pgoutput message type 0x%02x inside a streamed "
                           "transaction",
                           (unsigned char)type);
    *xid = rd_u32(&r);
    if (r.bad)
        return bad(err, type);
    *body = r.p;
    *body_len = r.left;
    return CDC_OK;
}

void source_pgo_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

void source_pgo_stream_begin(const struct source_pgo_stream *st,
                             uint8_t out[SOURCE_PGO_BEGIN_LEN])
{
    out[0] = 'B';
    source_pgo_put_be(out + 1, st->commit_lsn, 8);
    source_pgo_put_be(out + 9, (uint64_t)st->commit_time, 8);
    source_pgo_put_be(out + 17, st->xid, 4);
}

void source_pgo_stream_commit(const struct source_pgo_stream *st,
                              uint8_t out[SOURCE_PGO_COMMIT_LEN])
{
    out[0] = 'C';
    out[1] = 0;
    source_pgo_put_be(out + 2, st->commit_lsn, 8);
    source_pgo_put_be(out + 10, st->end_lsn, 8);
    source_pgo_put_be(out + 18, (uint64_t)st->commit_time, 8);
}

/*
 * pg_spool.c: the changes of streamed, not yet committed transactions,
 * kept in one unlinked temporary file per transaction. Each message is
 * stored as its length (4 bytes, host order: the file never leaves the
 * process) and its bytes. A subtransaction's first message marks where it
 * starts; subtransactions nest inside one backend, so everything from
 * there on belongs to it or to its children, and its rollback cuts the
 * file there. Relation and Type messages in the cut part are kept: the
 * server sends a relation once per streamed transaction, whichever
 * subtransaction first touched it, and does not send it again.
 */
#include "replicator/pg_spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* stdio buffer of a spool file: large writes, few system calls */
#define SPOOL_IOBUF (256 * 1024)

struct spool_sub {
    uint32_t xid;
    uint64_t off; /* where its first message starts */
};

struct spool_tx {
    uint32_t xid;
    FILE *f;
    char *iobuf;
    uint64_t size;
    struct spool_sub *subs;
    size_t nsubs;
    size_t capsubs;
};

struct source_spool {
    char *dir;
    struct spool_tx **txs;
    size_t ntxs;
    size_t captxs;
    struct spool_tx *cur; /* the block being received */
    /* the transaction being read back (NULL when it kept nothing) */
    bool replaying;
    struct spool_tx *replay;
    uint64_t replay_off;
    uint8_t *rbuf;
    size_t rcap;
};

struct source_spool *source_spool_new(void)
{
    struct source_spool *sp = cdc_xcalloc(1, sizeof(*sp));
    const char *dir = getenv("TMPDIR");
    sp->dir = cdc_xstrdup(dir != NULL && *dir != '\0' ? dir : "/tmp");
    return sp;
}

static void tx_free(struct spool_tx *tx)
{
    if (tx == NULL)
        return;
    if (tx->f != NULL)
        fclose(tx->f);
    cdc_free(tx->iobuf);
    cdc_free(tx->subs);
    cdc_free(tx);
}

void source_spool_clear(struct source_spool *sp)
{
    for (size_t i = 0; i < sp->ntxs; i++)
        tx_free(sp->txs[i]);
    sp->ntxs = 0;
    sp->cur = NULL;
    tx_free(sp->replay);
    sp->replay = NULL;
    sp->replay_off = 0;
    sp->replaying = false;
}

void source_spool_free(struct source_spool *sp)
{
    if (sp == NULL)
        return;
    source_spool_clear(sp);
    cdc_free(sp->txs);
    cdc_free(sp->rbuf);
    cdc_free(sp->dir);
    cdc_free(sp);
}

static size_t find_tx(const struct source_spool *sp, uint32_t xid)
{
    for (size_t i = 0; i < sp->ntxs; i++)
        if (sp->txs[i]->xid == xid)
            return i;
    return SIZE_MAX;
}

/* Takes transaction i out of the list (the caller owns it). */
static struct spool_tx *take_tx(struct source_spool *sp, size_t i)
{
    struct spool_tx *tx = sp->txs[i];
    sp->txs[i] = sp->txs[--sp->ntxs];
    if (sp->cur == tx)
        sp->cur = NULL;
    return tx;
}

static int io_err(const struct source_spool *sp, uint32_t xid, const char *what,
                  struct cdc_err *err)
{
    return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                       "could not %s the changes of streamed transaction %u "
                       "in %s: %s",
                       what, xid, sp->dir, strerror(errno));
}

static int tx_open(struct source_spool *sp, uint32_t xid, struct spool_tx **out,
                   struct cdc_err *err)
{
    char *path = cdc_xasprintf("%s/tributary-tx-XXXXXX", sp->dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        cdc_free(path);
        return io_err(sp, xid, "create a file for", err);
    }
    /* nothing to clean up after a crash: the file lives while open */
    (void)unlink(path);
    cdc_free(path);
    FILE *f = fdopen(fd, "w+b");
    if (f == NULL) {
        close(fd);
        return io_err(sp, xid, "open a file for", err);
    }
    struct spool_tx *tx = cdc_xcalloc(1, sizeof(*tx));
    tx->xid = xid;
    tx->f = f;
    tx->iobuf = cdc_xmalloc(SPOOL_IOBUF);
    setvbuf(f, tx->iobuf, _IOFBF, SPOOL_IOBUF);
    *out = tx;
    return CDC_OK;
}

int source_spool_start(struct source_spool *sp, uint32_t xid, bool first,
                       struct cdc_err *err)
{
    size_t i = find_tx(sp, xid);
    sp->cur = NULL;
    if (i != SIZE_MAX && !first) {
        sp->cur = sp->txs[i];
        return CDC_OK;
    }
    if (!first)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_RETRIABLE,
                           "streamed transaction %u continues a start that "
                           "never came",
                           xid);
    if (i != SIZE_MAX)
        tx_free(take_tx(sp, i));
    struct spool_tx *tx = NULL;
    int rc = tx_open(sp, xid, &tx, err);
    if (rc != CDC_OK)
        return rc;
    if (sp->ntxs == sp->captxs) {
        sp->captxs = sp->captxs ? sp->captxs * 2 : 4;
        sp->txs = cdc_xrealloc(sp->txs, sp->captxs * sizeof(*sp->txs));
    }
    sp->txs[sp->ntxs++] = tx;
    sp->cur = tx;
    return CDC_OK;
}

static int tx_write(struct source_spool *sp, struct spool_tx *tx, uint8_t type,
                    const uint8_t *body, size_t len, struct cdc_err *err)
{
    if (len >= UINT32_MAX)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "streamed message of %zu bytes is too large", len);
    uint32_t n = (uint32_t)len + 1;
    if (fwrite(&n, sizeof(n), 1, tx->f) != 1 ||
        fwrite(&type, 1, 1, tx->f) != 1 ||
        (len > 0 && fwrite(body, len, 1, tx->f) != 1))
        return io_err(sp, tx->xid, "write", err);
    tx->size += sizeof(n) + n;
    return CDC_OK;
}

static void note_sub(struct spool_tx *tx, uint32_t subxid)
{
    if (subxid == tx->xid ||
        (tx->nsubs > 0 && tx->subs[tx->nsubs - 1].xid == subxid))
        return;
    for (size_t i = 0; i < tx->nsubs; i++)
        if (tx->subs[i].xid == subxid)
            return;
    if (tx->nsubs == tx->capsubs) {
        tx->capsubs = tx->capsubs ? tx->capsubs * 2 : 8;
        tx->subs = cdc_xrealloc(tx->subs, tx->capsubs * sizeof(*tx->subs));
    }
    tx->subs[tx->nsubs++] = (struct spool_sub){.xid = subxid, .off = tx->size};
}

int source_spool_add(struct source_spool *sp, uint32_t subxid, uint8_t type,
                     const uint8_t *body, size_t len, struct cdc_err *err)
{
    if (sp->cur == NULL)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "streamed change outside Stream Start and Stop");
    note_sub(sp->cur, subxid);
    return tx_write(sp, sp->cur, type, body, len, err);
}

void source_spool_stop(struct source_spool *sp)
{
    sp->cur = NULL;
}

bool source_spool_in_block(const struct source_spool *sp)
{
    return sp->cur != NULL;
}

size_t source_spool_open_count(const struct source_spool *sp)
{
    return sp->ntxs;
}

/* Reads the message at *off into sp->rbuf; advances *off. */
static int read_msg(struct source_spool *sp, struct spool_tx *tx, uint64_t *off,
                    size_t *len, struct cdc_err *err)
{
    uint32_t n = 0;
    if (fread(&n, sizeof(n), 1, tx->f) != 1 || n == 0 ||
        *off + sizeof(n) + n > tx->size) {
        if (errno == 0)
            errno = EIO;
        return io_err(sp, tx->xid, "read back", err);
    }
    if (n > sp->rcap) {
        sp->rcap = n > 2 * sp->rcap ? n : 2 * sp->rcap;
        sp->rbuf = cdc_xrealloc(sp->rbuf, sp->rcap);
    }
    if (fread(sp->rbuf, n, 1, tx->f) != 1)
        return io_err(sp, tx->xid, "read back", err);
    *off += sizeof(n) + n;
    *len = n;
    return CDC_OK;
}

/* Cuts tx at off, keeping the Relation and Type messages after it. */
static int tx_cut(struct source_spool *sp, struct spool_tx *tx, uint64_t off,
                  struct cdc_err *err)
{
    struct cdc_buf keep;
    cdc_buf_init(&keep, 0);
    errno = 0;
    int rc = CDC_OK;
    if (fflush(tx->f) != 0 || fseeko(tx->f, (off_t)off, SEEK_SET) != 0)
        rc = io_err(sp, tx->xid, "rewind", err);
    for (uint64_t at = off; rc == CDC_OK && at < tx->size;) {
        size_t len = 0;
        rc = read_msg(sp, tx, &at, &len, err);
        if (rc == CDC_OK && (sp->rbuf[0] == 'R' || sp->rbuf[0] == 'Y')) {
            uint32_t n = (uint32_t)len;
            cdc_buf_append(&keep, &n, sizeof(n));
            cdc_buf_append(&keep, sp->rbuf, len);
        }
    }
    if (rc == CDC_OK &&
        (fflush(tx->f) != 0 || ftruncate(fileno(tx->f), (off_t)off) != 0 ||
         fseeko(tx->f, (off_t)off, SEEK_SET) != 0))
        rc = io_err(sp, tx->xid, "cut", err);
    if (rc == CDC_OK) {
        tx->size = off;
        if (keep.len > 0 && fwrite(keep.data, keep.len, 1, tx->f) != 1)
            rc = io_err(sp, tx->xid, "write", err);
        tx->size += keep.len;
    }
    cdc_buf_release(&keep);
    return rc;
}

int source_spool_abort(struct source_spool *sp, uint32_t xid, uint32_t subxid,
                       struct cdc_err *err)
{
    size_t i = find_tx(sp, xid);
    if (i == SIZE_MAX)
        return CDC_OK;
    struct spool_tx *tx = sp->txs[i];
    if (subxid == xid) {
        tx_free(take_tx(sp, i));
        return CDC_OK;
    }
    for (size_t k = 0; k < tx->nsubs; k++) {
        if (tx->subs[k].xid != subxid)
            continue;
        uint64_t off = tx->subs[k].off;
        tx->nsubs = k;
        return tx_cut(sp, tx, off, err);
    }
    return CDC_OK;
}

int source_spool_replay(struct source_spool *sp, uint32_t xid,
                        struct cdc_err *err)
{
    tx_free(sp->replay);
    sp->replay = NULL;
    sp->replay_off = 0;
    sp->replaying = true;
    size_t i = find_tx(sp, xid);
    if (i == SIZE_MAX)
        return CDC_OK;
    struct spool_tx *tx = take_tx(sp, i);
    sp->replay = tx;
    errno = 0;
    if (fflush(tx->f) != 0 || fseeko(tx->f, 0, SEEK_SET) != 0)
        return io_err(sp, xid, "rewind", err);
    return CDC_OK;
}

int source_spool_next(struct source_spool *sp, const uint8_t **msg, size_t *len,
                      struct cdc_err *err)
{
    struct spool_tx *tx = sp->replay;
    if (tx == NULL || sp->replay_off >= tx->size) {
        tx_free(tx);
        sp->replay = NULL;
        sp->replay_off = 0;
        sp->replaying = false;
        return 0;
    }
    errno = 0;
    int rc = read_msg(sp, tx, &sp->replay_off, len, err);
    if (rc != CDC_OK)
        return rc;
    *msg = sp->rbuf;
    return 1;
}

bool source_spool_replaying(const struct source_spool *sp)
{
    return sp->replaying;
}

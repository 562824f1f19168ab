/*
 * compress.c: compressed message payloads (zstd). A message whose payload
 * is compressed says so in its Tributary-Encoding header; its payload is
 * one zstd frame that records the size of what it holds (so a reader
 * allocates once, and refuses a frame that claims more than the largest
 * event can be) and a checksum of it. Contexts are reused from message to
 * message: one per thread that compresses or decompresses.
 */
#include "common/common.h"

#include <zstd.h>

struct cdc_zip {
    int level;
    ZSTD_CCtx *cctx; /* made on first use */
    ZSTD_DCtx *dctx;
};

struct cdc_zip *cdc_zip_new(int level)
{
    struct cdc_zip *z = cdc_xcalloc(1, sizeof(*z));
    z->level = level;
    return z;
}

void cdc_zip_free(struct cdc_zip *z)
{
    if (z == NULL)
        return;
    ZSTD_freeCCtx(z->cctx);
    ZSTD_freeDCtx(z->dctx);
    cdc_free(z);
}

bool cdc_zip_level_ok(int64_t level)
{
    return level >= CDC_ZIP_LEVEL_MIN && level <= ZSTD_maxCLevel();
}

int cdc_zip_compress(struct cdc_zip *z, const void *data, size_t len,
                     struct cdc_buf *out, struct cdc_err *err)
{
    if (z->cctx == NULL) {
        z->cctx = ZSTD_createCCtx();
        if (z->cctx == NULL)
            return cdc_err_set(err, CDC_ENOMEM, 0,
                               "could not make a zstd compression context");
        size_t r =
            ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, z->level);
        /* a frame damaged on the way fails its checksum instead of
         * decoding into other text */
        if (!ZSTD_isError(r))
            r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1);
        if (ZSTD_isError(r))
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "zstd refuses compression level %d: %s",
                               z->level, ZSTD_getErrorName(r));
    }
    size_t bound = ZSTD_compressBound(len);
    cdc_buf_reset(out);
    if (cdc_buf_reserve(out, bound) != CDC_OK)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "no room to compress a payload of %zu bytes", len);
    /* compress2 writes the content size into the frame */
    size_t n = ZSTD_compress2(z->cctx, out->data, bound, data, len);
    if (ZSTD_isError(n))
        return cdc_err_set(err, CDC_EIO, 0, "zstd could not compress: %s",
                           ZSTD_getErrorName(n));
    out->len = n;
    return CDC_OK;
}

int cdc_zip_open(struct cdc_zip *z, const char *encoding, const void *data,
                 size_t len, struct cdc_buf *out, const void **payload,
                 size_t *plen, struct cdc_err *err)
{
    if (encoding == NULL) {
        *payload = data;
        *plen = len;
        return CDC_OK;
    }
    if (strcmp(encoding, CDC_ZIP_ZSTD) != 0)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "unknown payload encoding \"%.32s\" (" CDC_ZIP_HEADER
                           "; this worker reads " CDC_ZIP_ZSTD ")",
                           encoding);
    unsigned long long size = ZSTD_getFrameContentSize(data, len);
    if (size == ZSTD_CONTENTSIZE_ERROR)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "payload marked " CDC_ZIP_ZSTD
                           " is not a zstd frame");
    if (size == ZSTD_CONTENTSIZE_UNKNOWN)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "zstd frame does not record its content size");
    if (size > CDC_CHUNK_MAX_BYTES)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "zstd frame holds %llu bytes, more than an event "
                           "can be (%zu)",
                           size, (size_t)CDC_CHUNK_MAX_BYTES);
    if (z->dctx == NULL) {
        z->dctx = ZSTD_createDCtx();
        if (z->dctx == NULL)
            return cdc_err_set(err, CDC_ENOMEM, 0,
                               "could not make a zstd decompression context");
    }
    cdc_buf_reset(out);
    /* one byte more, so the text can be NUL-terminated */
    if (cdc_buf_reserve(out, (size_t)size + 1) != CDC_OK)
        return cdc_err_set(err, CDC_ETOOBIG, 0,
                           "no room for a payload of %llu bytes", size);
    size_t n = ZSTD_decompressDCtx(z->dctx, out->data, (size_t)size, data, len);
    if (ZSTD_isError(n))
        return cdc_err_set(err, CDC_EPROTO, 0, "zstd payload is damaged: %s",
                           ZSTD_getErrorName(n));
    if (n != size)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "zstd frame holds %zu bytes, not the %llu it "
                           "records",
                           n, size);
    out->len = n;
    out->data[n] = '\0';
    *payload = out->data;
    *plen = n;
    return CDC_OK;
}

/*
 * buf.c: growable byte buffer with a hard size limit. Growth past the
 * limit fails with CDC_ETOOBIG instead of exhausting memory, so an
 * oversized input becomes a poison event, not a crash. The content is kept
 * NUL-terminated so it can be used as a C string.
 */
#include "common/common.h"

#include <stdio.h>
#include <string.h>

void cdc_buf_init(struct cdc_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit ? limit : CDC_BUF_DEFAULT_LIMIT;
}

void cdc_buf_release(struct cdc_buf *b)
{
    cdc_free(b->data);
    cdc_buf_init(b, b->limit);
}

void cdc_buf_reset(struct cdc_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int cdc_buf_reserve(struct cdc_buf *b, size_t extra)
{
    if (extra > b->limit || b->len > b->limit - extra)
        return CDC_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return CDC_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->limit + 1)
        cap = b->limit + 1;
    b->data = cdc_xrealloc(b->data, cap);
    b->cap = cap;
    return CDC_OK;
}

int cdc_buf_append(struct cdc_buf *b, const void *p, size_t len)
{
    int rc = cdc_buf_reserve(b, len);
    if (rc != CDC_OK)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return CDC_OK;
}

int cdc_buf_append_str(struct cdc_buf *b, const char *s)
{
    return cdc_buf_append(b, s, strlen(s));
}

int cdc_buf_append_char(struct cdc_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return CDC_OK;
    }
    return cdc_buf_append(b, &c, 1);
}

int cdc_buf_append_uint(struct cdc_buf *b, uint64_t v)
{
    char digits[24];
    size_t i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    return cdc_buf_append(b, digits + i, sizeof(digits) - i);
}

int cdc_buf_printf(struct cdc_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return CDC_EIO;
    if ((size_t)n < sizeof(small))
        return cdc_buf_append(b, small, (size_t)n);
    int rc = cdc_buf_reserve(b, (size_t)n);
    if (rc != CDC_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CDC_OK;
}

int cdc_buf_append_json_str(struct cdc_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte becomes \u00XX */
    int rc = cdc_buf_reserve(b, len * 6 + 2);
    if (rc != CDC_OK) {
        /* retry exactly for long strings that are mostly plain text */
        rc = cdc_buf_reserve(b, len + 2);
        if (rc != CDC_OK)
            return rc;
    }
    rc = cdc_buf_append_char(b, '"');
    size_t start = 0;
    for (size_t i = 0; rc == CDC_OK; i++) {
        i += cdc_plain_span(s + i, len - i, '"', '\\');
        if (i >= len)
            break;
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            break;
        }
        rc = cdc_buf_append(b, s + start, i - start);
        if (rc == CDC_OK)
            rc = esc ? cdc_buf_append_str(b, esc) : cdc_buf_append(b, u, 6);
        start = i + 1;
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append(b, s + start, len - start);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '"');
    return rc;
}

char *cdc_buf_detach(struct cdc_buf *b, size_t *len)
{
    char *p = b->data;
    if (p == NULL)
        p = cdc_xstrdup("");
    if (len != NULL)
        *len = b->len;
    cdc_buf_init(b, b->limit);
    return p;
}

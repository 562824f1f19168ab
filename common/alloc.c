/*
 * alloc.c: the only file that calls malloc and free. Fixed-size
 * allocations abort with a log line on OOM (callers never check); sizes
 * that come from input go through cdc_try_alloc with a hard limit. Also the
 * per-batch arena, a list of blocks that is rewound once a batch is done.
 */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void oom(size_t n)
{
    /* no allocation on this path: the log itself might need memory */
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cdc_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *cdc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *cdc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *cdc_xstrdup(const char *s)
{
    return cdc_xstrndup(s, strlen(s));
}

char *cdc_xstrndup(const char *s, size_t n)
{
    char *p = cdc_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cdc_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        CDC_BUG("bad format string");
    char *p = cdc_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void *cdc_try_alloc(size_t n, size_t limit)
{
    if (n > limit)
        return NULL;
    return malloc(n ? n : 1);
}

void cdc_free(void *p)
{
    free(p);
}

/* ==== Arena ==== */

/* 64 KiB blocks: a batch of small events fits in a few, and a reset keeps
 * the first one so steady-state batches allocate nothing. */
#define ARENA_BLOCK ((size_t)64 << 10)

struct cdc_arena_block {
    struct cdc_arena_block *next;
    size_t cap;
    size_t used;
    max_align_t data[];
};

void cdc_arena_init(struct cdc_arena *a)
{
    a->head = NULL;
    a->used_total = 0;
}

void cdc_arena_release(struct cdc_arena *a)
{
    struct cdc_arena_block *b = a->head;
    while (b != NULL) {
        struct cdc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    cdc_arena_init(a);
}

void cdc_arena_reset(struct cdc_arena *a)
{
    if (a->head == NULL)
        return;
    /* keep the last block of the chain (the oldest), which is the first
     * one allocated; free the rest */
    struct cdc_arena_block *b = a->head;
    while (b->next != NULL) {
        struct cdc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    if (b->cap > ARENA_BLOCK * 4) {
        free(b);
        a->head = NULL;
    } else {
        b->used = 0;
        a->head = b;
    }
    a->used_total = 0;
}

void *cdc_arena_alloc(struct cdc_arena *a, size_t n)
{
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    struct cdc_arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            oom(cap);
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->used_total += n;
    return p;
}

char *cdc_arena_strndup(struct cdc_arena *a, const char *s, size_t n)
{
    char *p = cdc_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cdc_arena_strdup(struct cdc_arena *a, const char *s)
{
    return cdc_arena_strndup(a, s, strlen(s));
}

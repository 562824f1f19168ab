/*
 * copy_text.c: the pure pieces of the initial copy: the COPY text-format
 * line parser, the block-range planner with each range's WHERE condition
 * and key-value key and value, the text of the copy plan, and the
 * progress line. It does no I/O and knows nothing of connections or
 * snapshots. The parser undoes exactly the
 * escapes PostgreSQL's COPY FROM understands, reads every byte of the line
 * at most a few times with memchr and writes each value once, in one arena
 * block per line; a value never holds a NUL byte. The planner's ranges are
 * contiguous, in order, start at block 0 and end in an open range.
 */
#include "replicator/copy_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ==== COPY text format ==== */

static int nul_error(struct cdc_err *err)
{
    return cdc_err_set(err, CDC_EPROTO, 0, "NUL byte in a COPY value");
}

static bool is_octal(unsigned char c)
{
    return c >= '0' && c <= '7';
}

/* Returns the end of the memchr search, or end when c is not there. */
static const char *find(const char *p, const char *end, char c)
{
    const char *q = memchr(p, c, (size_t)(end - p));
    return q != NULL ? q : end;
}

/*
 * Unescapes the field at *pp into *dstp, up to its delimiter (the first
 * tab not escaped) or end, and advances both. tab is the first tab at or
 * after *pp (or end), bs the first backslash (before tab). Each memchr
 * starts where the previous stopped, so a field with many escapes is still
 * read in one pass. Follows CopyReadAttributesText: 1 to 3 octal digits,
 * \x with 1 or 2 hex digits (a bare \x is "x"), the C letters, and any
 * other escaped byte (a tab included) stands for itself.
 */
static int unescape_field(const char **pp, const char *end, const char *tab,
                          const char *bs, char **dstp, struct cdc_err *err)
{
    const char *p = *pp;
    char *d = *dstp;
    while (bs < tab) {
        memcpy(d, p, (size_t)(bs - p));
        d += bs - p;
        p = bs + 1;
        if (p == end)
            return cdc_err_set(err, CDC_EPROTO, 0,
                               "COPY line ends in a lone backslash");
        unsigned char c = (unsigned char)*p++;
        unsigned val = c;
        switch (c) {
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
            val = c - '0';
            for (int i = 0; i < 2 && p < end && is_octal((unsigned char)*p);
                 i++)
                val = (val << 3) + (unsigned)(*p++ - '0');
            val &= 0xff;
            if (val == 0)
                return nul_error(err);
            break;
        case 'x':
            if (p < end && cdc_hex_digit((unsigned char)*p) >= 0) {
                val = (unsigned)cdc_hex_digit((unsigned char)*p++);
                if (p < end && cdc_hex_digit((unsigned char)*p) >= 0)
                    val = (val << 4) + (unsigned)cdc_hex_digit((unsigned char)*p++);
                if (val == 0)
                    return nul_error(err);
            }
            break;
        case 'b':
            val = '\b';
            break;
        case 'f':
            val = '\f';
            break;
        case 'n':
            val = '\n';
            break;
        case 'r':
            val = '\r';
            break;
        case 't':
            val = '\t';
            break;
        case 'v':
            val = '\v';
            break;
        default:
            break;
        }
        *d++ = (char)val;
        /* An escaped tab is data: the delimiter is further on. */
        if (tab < p)
            tab = find(p, end, '\t');
        bs = find(p, tab, '\\');
    }
    memcpy(d, p, (size_t)(tab - p));
    d += tab - p;
    *pp = tab;
    *dstp = d;
    return CDC_OK;
}

int source_copy_parse_line(const char *line, size_t len, size_t ncols,
                           struct cdc_arena *arena, const char **values,
                           size_t *lens, struct cdc_err *err)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    /* A row of no columns is an empty line; any other line with ncols 0
     * is parsed below only to count its fields for the message. */
    if (ncols == 0 && len == 0)
        return CDC_OK;
    /* PostgreSQL text never holds NUL, and a value is a C string: refuse
     * one written as is here, an escaped one while unescaping. */
    if (memchr(line, '\0', len) != NULL)
        return nul_error(err);

    /* Unescaping never lengthens a field, and each delimiter leaves room
     * for the NUL of the field before it: len + 1 bytes hold every
     * value. */
    char *dst = cdc_arena_alloc(arena, len + 1);
    const char *p = line;
    const char *end = line + len;
    const char *bs = find(p, end, '\\');
    size_t n = 0;
    for (;;) {
        const char *tab = find(p, end, '\t');
        const char *value = dst;
        bool null = false;
        if (bs >= tab) {
            /* No backslash: one copy. */
            memcpy(dst, p, (size_t)(tab - p));
            dst += tab - p;
            p = tab;
        } else if (bs == p && tab - p == 2 && p[1] == 'N') {
            null = true;
            p = tab;
        } else {
            int rc = unescape_field(&p, end, tab, bs, &dst, err);
            if (rc != CDC_OK)
                return rc;
        }
        if (n < ncols) {
            values[n] = null ? NULL : value;
            lens[n] = null ? 0 : (size_t)(dst - value);
        }
        if (!null)
            *dst++ = '\0';
        n++;
        if (p == end)
            break;
        p++; /* the tab */
        if (bs < p)
            bs = find(p, end, '\\');
    }
    if (n != ncols)
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "COPY line has %zu fields, expected %zu", n, ncols);
    return CDC_OK;
}

/* ==== Block ranges ==== */

size_t source_copy_plan(uint64_t nblocks, unsigned workers,
                        struct source_copy_range *out, size_t max_out)
{
    if (max_out == 0)
        return 0;
    if (workers == 0)
        workers = 1;
    /* Block numbers are 32 bits; the open last range covers the rest. */
    if (nblocks > UINT32_MAX)
        nblocks = UINT32_MAX;
    uint64_t count = (uint64_t)workers * SOURCE_COPY_RANGES_PER_WORKER;
    if (count > nblocks / SOURCE_COPY_MIN_RANGE_BLOCKS)
        count = nblocks / SOURCE_COPY_MIN_RANGE_BLOCKS;
    if (count > max_out)
        count = max_out;
    if (count == 0)
        count = 1;
    /* The first nblocks % count ranges take one block more. */
    uint64_t base = nblocks / count;
    uint64_t extra = nblocks % count;
    uint64_t first = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t size = base + (i < extra ? 1 : 0);
        out[i] = (struct source_copy_range){
            .first_block = (uint32_t)first,
            .end_block = (uint32_t)(first + size),
            .open_end = i == count - 1,
        };
        first += size;
    }
    return (size_t)count;
}

int source_copy_range_where(const struct source_copy_range *r,
                            struct cdc_buf *out)
{
    if (r->open_end && r->first_block == 0)
        return cdc_buf_append_str(out, "true");
    if (r->open_end)
        return cdc_buf_printf(out, "ctid >= '(%" PRIu32 ",0)'::tid",
                              r->first_block);
    return cdc_buf_printf(
        out, "ctid >= '(%" PRIu32 ",0)'::tid AND ctid < '(%" PRIu32 ",0)'::tid",
        r->first_block, r->end_block);
}

void source_copy_range_key(uint32_t table_oid,
                           const struct source_copy_range *r, char *out,
                           size_t outsz)
{
    snprintf(out, outsz, "copy.%" PRIu32 ".%" PRIu32, table_oid,
             r->first_block);
}

/* ==== The plan in the state bucket ==== */

int source_copy_saved_plan_format(const struct source_copy_saved_plan *pl,
                                  struct cdc_buf *out)
{
    int rc = cdc_buf_printf(out,
                            "generation %s\nposition %s\nworkers %u\n"
                            "done %d\n",
                            pl->generation, pl->position, pl->workers,
                            pl->done ? 1 : 0);
    for (size_t i = 0; i < pl->ntables && rc == CDC_OK; i++)
        rc = cdc_buf_printf(out, "table %" PRIu32 " %" PRIu64 "\n", pl->oids[i],
                            pl->nblocks[i]);
    return rc;
}

static void add_table(struct source_copy_saved_plan *pl, size_t *cap,
                      uint32_t oid, uint64_t nblocks)
{
    if (pl->ntables == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        pl->oids = cdc_xrealloc(pl->oids, *cap * sizeof(*pl->oids));
        pl->nblocks = cdc_xrealloc(pl->nblocks, *cap * sizeof(*pl->nblocks));
    }
    pl->oids[pl->ntables] = oid;
    pl->nblocks[pl->ntables++] = nblocks;
}

/* Reads one line (len bytes, no line break) into pl; false when it is
 * none of the plan's. The widths below are the sizes of the fields. */
static bool plan_line(const char *p, size_t len,
                      struct source_copy_saved_plan *pl, size_t *cap)
{
    _Static_assert(SOURCE_COPY_GENERATION_MAX == 24, "%23s below");
    _Static_assert(SOURCE_COPY_POSITION_MAX == 32, "%31s below");
    char line[160];
    snprintf(line, sizeof(line), "%.*s", (int)len, p);
    unsigned u = 0;
    int d = 0;
    uint32_t oid = 0;
    uint64_t nb = 0;
    if (sscanf(line, "generation %23s", pl->generation) == 1 ||
        sscanf(line, "position %31s", pl->position) == 1)
        return true;
    if (sscanf(line, "workers %u", &u) == 1) {
        pl->workers = u;
        return true;
    }
    if (sscanf(line, "done %d", &d) == 1) {
        pl->done = d != 0;
        return true;
    }
    if (sscanf(line, "table %" SCNu32 " %" SCNu64, &oid, &nb) == 2) {
        add_table(pl, cap, oid, nb);
        return true;
    }
    return false;
}

int source_copy_saved_plan_parse(const char *text,
                                 struct source_copy_saved_plan *pl,
                                 struct cdc_err *err)
{
    memset(pl, 0, sizeof(*pl));
    size_t cap = 0;
    int rc = CDC_OK;
    const char *p = text;
    while (*p != '\0' && rc == CDC_OK) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (!plan_line(p, len, pl, &cap))
            rc = cdc_err_set(err, CDC_EPROTO, 0,
                             "line \"%.*s\" is not a line of a copy plan",
                             (int)(len < 40 ? len : 40), p);
        p += len + (nl != NULL);
    }
    if (rc == CDC_OK && pl->generation[0] == '\0')
        rc = cdc_err_set(err, CDC_EPROTO, 0, "copy plan without a generation");
    if (rc == CDC_OK && pl->position[0] == '\0')
        rc = cdc_err_set(err, CDC_EPROTO, 0, "copy plan without a position");
    if (rc == CDC_OK &&
        (pl->workers == 0 || pl->workers > SOURCE_COPY_PLAN_WORKERS_MAX))
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "copy plan with %u workers (1 to %d)", pl->workers,
                         SOURCE_COPY_PLAN_WORKERS_MAX);
    if (rc != CDC_OK)
        source_copy_saved_plan_release(pl);
    return rc;
}

void source_copy_saved_plan_release(struct source_copy_saved_plan *pl)
{
    cdc_free(pl->oids);
    cdc_free(pl->nblocks);
    memset(pl, 0, sizeof(*pl));
}

void source_copy_range_value(const char *generation, uint64_t rows, char *out,
                             size_t outsz)
{
    snprintf(out, outsz, "generation %s rows %" PRIu64, generation, rows);
}

bool source_copy_range_done(const char *value, const char *generation,
                            uint64_t *rows)
{
    char gen[SOURCE_COPY_GENERATION_MAX] = "";
    uint64_t r = 0;
    if (sscanf(value, "generation %23s rows %" SCNu64, gen, &r) != 2 ||
        strcmp(gen, generation) != 0)
        return false;
    *rows = r;
    return true;
}

/* ==== Progress ==== */

/* A byte count for people: "512 B", "24.1 MiB". */
static void format_bytes(double v, char *out, size_t outsz)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (v < 1024) {
        snprintf(out, outsz, "%.0f B", v);
        return;
    }
    size_t u = 0;
    v /= 1024;
    /* Move up at 1023.95 so the rounded number never reads 1024.0. */
    while (v >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", v, units[u]);
}

/* "14s", "3m05s", "1h02m". */
static void format_eta(double s, char *out, size_t outsz)
{
    /* About 114 years: past any copy, and far inside uint64_t. */
    if (s > 3.6e9)
        s = 3.6e9;
    uint64_t t = (uint64_t)(s + 0.5);
    if (t < 60)
        snprintf(out, outsz, "%" PRIu64 "s", t);
    else if (t < 3600)
        snprintf(out, outsz, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(out, outsz, "%" PRIu64 "h%02" PRIu64 "m", t / 3600,
                 t / 60 % 60);
}

void source_copy_progress_format(const char *table, uint64_t rows,
                                 uint64_t bytes, uint64_t est_bytes,
                                 double elapsed_s, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    /* Also false for NaN. */
    double rate = elapsed_s > 0 ? (double)bytes / elapsed_s : 0;
    char done[32];
    char est[32];
    char speed[32];
    char eta[32];
    format_bytes((double)bytes, done, sizeof(done));
    format_bytes(rate, speed, sizeof(speed));
    if (est_bytes == 0 || bytes > est_bytes) {
        snprintf(out, outsz, "%s: %" PRIu64 " rows, %s, %s/s", table, rows,
                 done, speed);
    } else {
        /* The estimate is the size before the copy: reaching it does not
         * mean the copy is done. */
        uint64_t pct = (uint64_t)((double)bytes * 100 / (double)est_bytes);
        if (pct > 99)
            pct = 99;
        format_bytes((double)est_bytes, est, sizeof(est));
        int n = snprintf(
            out, outsz, "%s: %" PRIu64 " rows, %s of ~%s (%" PRIu64 "%%), %s/s",
            table, rows, done, est, pct, speed);
        if (rate > 0 && n >= 0 && (size_t)n < outsz) {
            format_eta((double)(est_bytes - bytes) / rate, eta, sizeof(eta));
            snprintf(out + n, outsz - (size_t)n, ", ETA %s", eta);
        }
    }
    cdc_one_line(out);
}

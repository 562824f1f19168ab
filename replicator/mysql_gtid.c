/*
 * mysql_gtid.c: MySQL GTID sets ("uuid:1-5:7,uuid2:3"), as the source
 * keeps them to resume where it stopped on any server of a replication
 * topology (see mysql_int.h), and the choice of the binlog file a resume
 * starts reading from.
 */
#include "replicator/mysql_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MySQL's largest transaction number is 2^63 - 1. */
#define GNO_MAX ((uint64_t)INT64_MAX)

void source__my_gtid_set_init(struct source__my_gtid_set *s)
{
    memset(s, 0, sizeof(*s));
}

void source__my_gtid_set_free(struct source__my_gtid_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        cdc_free(s->sid[i].iv);
    cdc_free(s->sid);
    memset(s, 0, sizeof(*s));
}

/* The entry of uuid, added (with no intervals) when create is set. */
static struct source__my_gtid_sid *sid_find(struct source__my_gtid_set *s,
                                            const uint8_t uuid[16], bool create)
{
    size_t i = 0;
    int c = 1;
    while (i < s->n && (c = memcmp(s->sid[i].uuid, uuid, 16)) < 0)
        i++;
    if (i < s->n && c == 0)
        return &s->sid[i];
    if (!create)
        return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->sid = cdc_xrealloc(s->sid, s->cap * sizeof(*s->sid));
    }
    memmove(&s->sid[i + 1], &s->sid[i], (s->n - i) * sizeof(*s->sid));
    memset(&s->sid[i], 0, sizeof(*s->sid));
    memcpy(s->sid[i].uuid, uuid, 16);
    s->n++;
    return &s->sid[i];
}

static const struct source__my_gtid_sid *
sid_get(const struct source__my_gtid_set *s, const uint8_t uuid[16])
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->sid[i].uuid, uuid, 16) == 0)
            return &s->sid[i];
    return NULL;
}

/* Adds [lo, hi] to d, keeping the intervals sorted, disjoint and apart
 * (neighbours that touch are joined). */
static void sid_add(struct source__my_gtid_sid *d, uint64_t lo, uint64_t hi)
{
    /* the usual case: the next transaction of the last interval */
    if (d->n > 0 && d->iv[d->n - 1].hi + 1 >= lo && d->iv[d->n - 1].lo <= lo) {
        if (hi > d->iv[d->n - 1].hi)
            d->iv[d->n - 1].hi = hi;
        return;
    }
    size_t i = 0;
    while (i < d->n && d->iv[i].hi + 1 < lo)
        i++;
    /* intervals i .. j-1 touch or overlap [lo, hi] */
    size_t j = i;
    while (j < d->n && d->iv[j].lo <= (hi == UINT64_MAX ? hi : hi + 1))
        j++;
    if (j > i) {
        if (d->iv[i].lo < lo)
            lo = d->iv[i].lo;
        if (d->iv[j - 1].hi > hi)
            hi = d->iv[j - 1].hi;
        memmove(&d->iv[i + 1], &d->iv[j], (d->n - j) * sizeof(*d->iv));
        d->n -= j - i - 1;
        d->iv[i].lo = lo;
        d->iv[i].hi = hi;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->iv = cdc_xrealloc(d->iv, d->cap * sizeof(*d->iv));
    }
    memmove(&d->iv[i + 1], &d->iv[i], (d->n - i) * sizeof(*d->iv));
    d->iv[i].lo = lo;
    d->iv[i].hi = hi;
    d->n++;
}

void source__my_gtid_set_add(struct source__my_gtid_set *s,
                             const uint8_t uuid[16], uint64_t gno)
{
    sid_add(sid_find(s, uuid, true), gno, gno);
}

bool source__my_gtid_set_has(const struct source__my_gtid_set *s,
                             const uint8_t uuid[16], uint64_t gno)
{
    const struct source__my_gtid_sid *d = sid_get(s, uuid);
    if (d == NULL)
        return false;
    for (size_t i = 0; i < d->n && d->iv[i].lo <= gno; i++)
        if (gno <= d->iv[i].hi)
            return true;
    return false;
}

bool source__my_gtid_set_subset(const struct source__my_gtid_set *a,
                                const struct source__my_gtid_set *b)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct source__my_gtid_sid *da = &a->sid[i];
        const struct source__my_gtid_sid *db = sid_get(b, da->uuid);
        if (da->n == 0)
            continue;
        if (db == NULL)
            return false;
        /* both sorted and apart: each interval of a lies in one of b */
        size_t k = 0;
        for (size_t j = 0; j < da->n; j++) {
            while (k < db->n && db->iv[k].hi < da->iv[j].lo)
                k++;
            if (k == db->n || db->iv[k].lo > da->iv[j].lo ||
                db->iv[k].hi < da->iv[j].hi)
                return false;
        }
    }
    return true;
}

bool source__my_gtid_set_empty(const struct source__my_gtid_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->sid[i].n > 0)
            return false;
    return true;
}

/* "8-4-4-4-12" hex digits at p into uuid; the characters read, 0 if
 * none such. */
static size_t uuid_read(const char *p, uint8_t uuid[16])
{
    size_t o = 0;
    for (size_t k = 0; k < 16; k++) {
        if (k == 4 || k == 6 || k == 8 || k == 10) {
            if (p[o] != '-')
                return 0;
            o++;
        }
        int h = cdc_hex_digit(p[o]);
        int l = h < 0 ? -1 : cdc_hex_digit(p[o + 1]);
        if (l < 0)
            return 0;
        uuid[k] = (uint8_t)(h << 4 | l);
        o += 2;
    }
    return o;
}

/* A transaction number at *pp (1 .. 2^63-1); false for anything else. */
static bool gno_read(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    if (*p < '0' || *p > '9')
        return false;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        unsigned dgt = (unsigned)(*p - '0');
        if (v > (GNO_MAX - dgt) / 10)
            return false;
        v = v * 10 + dgt;
        p++;
    }
    if (v == 0)
        return false;
    *pp = p;
    *out = v;
    return true;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

int source__my_gtid_set_parse(const char *text, struct source__my_gtid_set *s,
                              struct cdc_err *err)
{
    source__my_gtid_set_init(s);
    const char *p = skip_space(text);
    const char *why = NULL;
    while (*p != '\0' && why == NULL) {
        uint8_t uuid[16];
        size_t n = uuid_read(p, uuid);
        if (n == 0) {
            why = "a server uuid (8-4-4-4-12 hex digits) was expected";
            break;
        }
        p += n;
        struct source__my_gtid_sid *d = sid_find(s, uuid, true);
        if (*p != ':') {
            why = "a ':' and transaction numbers must follow the uuid";
            break;
        }
        while (*p == ':') {
            p++;
            if (isalpha((unsigned char)*p) || *p == '_') {
                why = "tagged GTIDs (uuid:tag:n) are not supported";
                break;
            }
            uint64_t lo = 0;
            uint64_t hi = 0;
            if (!gno_read(&p, &lo)) {
                why = "a transaction number from 1 to 2^63-1 was expected";
                break;
            }
            hi = lo;
            if (*p == '-') {
                p++;
                if (!gno_read(&p, &hi) || hi < lo) {
                    why = "an interval must end at or after its start";
                    break;
                }
            }
            sid_add(d, lo, hi);
        }
        if (why != NULL)
            break;
        p = skip_space(p);
        if (*p == ',')
            p = skip_space(p + 1);
        else if (*p != '\0')
            why = "',' or the end was expected";
    }
    if (why == NULL)
        return CDC_OK;
    int at = (int)(p - text);
    source__my_gtid_set_free(s);
    return cdc_err_set(err, CDC_EPROTO, 0,
                       "\"%.80s%s\" is not a MySQL GTID set: %s (at byte %d)",
                       text, strlen(text) > 80 ? "..." : "", why, at);
}

bool source__my_gtid_set_format(const struct source__my_gtid_set *s, char *out,
                                size_t outsz)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    bool first = true;
    if (outsz == 0)
        return false;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        const struct source__my_gtid_sid *d = &s->sid[i];
        if (d->n == 0)
            continue;
        /* ",", 36 for the uuid, then ":lo-hi" each, and the NUL */
        char buf[48];
        size_t b = 0;
        if (!first)
            buf[b++] = ',';
        first = false;
        for (size_t k = 0; k < 16; k++) {
            if (k == 4 || k == 6 || k == 8 || k == 10)
                buf[b++] = '-';
            buf[b++] = hex[d->uuid[k] >> 4];
            buf[b++] = hex[d->uuid[k] & 15];
        }
        if (o + b >= outsz)
            goto full;
        memcpy(out + o, buf, b);
        o += b;
        for (size_t j = 0; j < d->n; j++) {
            int k = d->iv[j].lo == d->iv[j].hi
                        ? snprintf(out + o, outsz - o, ":%" PRIu64, d->iv[j].lo)
                        : snprintf(out + o, outsz - o, ":%" PRIu64 "-%" PRIu64,
                                   d->iv[j].lo, d->iv[j].hi);
            if (k < 0 || (size_t)k >= outsz - o)
                goto full;
            o += (size_t)k;
        }
    }
    out[o] = '\0';
    return true;
full:
    out[0] = '\0';
    return false;
}

/* The GTID set of a text column; CDC_EPROTO naming what when it is not
 * one. */
static int set_of(const char *text, const char *what,
                  struct source__my_gtid_set *out, struct cdc_err *err)
{
    int rc = source__my_gtid_set_parse(text != NULL ? text : "", out, err);
    return rc == CDC_OK ? rc : cdc_err_prefix(err, "%s", what);
}

/* The GTID set the binlog file starts after (its Previous_gtids event);
 * empty when the file has none. */
static int file_prev(MYSQL *conn, const char *file,
                     struct source__my_gtid_set *out, struct cdc_err *err)
{
    source__my_gtid_set_init(out);
    struct cdc_buf sql;
    cdc_buf_init(&sql, 0);
    cdc_buf_append_str(&sql, "SHOW BINLOG EVENTS IN ");
    source__my_append_literal(&sql, conn, file);
    cdc_buf_append_str(&sql, " LIMIT 4");
    MYSQL_RES *res = NULL;
    int rc = source__my_query(conn, sql.data, &res, err);
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not read the start of binlog %s",
                              file);
    /* Log_name, Pos, Event_type, Server_id, End_log_pos, Info */
    MYSQL_ROW row;
    while (rc == CDC_OK && res != NULL && (row = mysql_fetch_row(res)) != NULL)
        if (mysql_num_fields(res) >= 6 && row[2] != NULL &&
            strcmp(row[2], "Previous_gtids") == 0) {
            rc = set_of(row[5], "the Previous_gtids of a binlog", out, err);
            break;
        }
    mysql_free_result(res);
    return rc;
}

int source__my_gtid_resume(MYSQL *conn, const char *have_text,
                           struct source__my_pos *out, struct cdc_err *err)
{
    struct source__my_gtid_set have;
    struct source__my_gtid_set executed;
    struct source__my_gtid_set purged;
    source__my_gtid_set_init(&executed);
    source__my_gtid_set_init(&purged);
    int rc = set_of(have_text, "the group's saved position", &have, err);
    if (rc != CDC_OK)
        return rc;
    MYSQL_RES *res = NULL;
    rc = source__my_query(conn,
                          "SELECT @@global.gtid_mode, @@global.gtid_executed, "
                          "@@global.gtid_purged",
                          &res, err);
    MYSQL_ROW row = rc == CDC_OK && res != NULL ? mysql_fetch_row(res) : NULL;
    if (rc != CDC_OK)
        cdc_err_prefix(err, "could not read the source's GTID state");
    else if (row == NULL || row[0] == NULL || strcmp(row[0], "ON") != 0)
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "gtid_mode is %s on the source MySQL, and the group "
                         "resumes from a GTID set: turn gtid_mode ON, or run "
                         "with --gtid=false to resume by binlog file and "
                         "offset",
                         row != NULL && row[0] != NULL ? row[0] : "unknown");
    if (rc == CDC_OK)
        rc = set_of(row[1], "the source's gtid_executed", &executed, err);
    if (rc == CDC_OK)
        rc = set_of(row[2], "the source's gtid_purged", &purged, err);
    mysql_free_result(res);
    if (rc == CDC_OK && !source__my_gtid_set_subset(&have, &executed))
        rc = cdc_err_set(err, CDC_ESTATE, 0,
                         "the source has not executed every transaction the "
                         "group captured (the group has %.200s): is it a "
                         "replica behind the server the group read before? "
                         "Point the group at a server that has them, or run "
                         "with --resync",
                         have_text);
    if (rc == CDC_OK && !source__my_gtid_set_subset(&purged, &have)) {
        char gone[256];
        if (!source__my_gtid_set_format(&purged, gone, sizeof(gone)))
            snprintf(gone, sizeof(gone), "longer than this line");
        rc = cdc_err_set(err, CDC_ESTATE, 0,
                         "the source purged transactions the group has not "
                         "captured (gtid_purged is %s, the group has %.200s), "
                         "so the changes in between cannot be captured; run "
                         "with --resync to copy the tables again",
                         gone, have_text);
    }
    /* the newest binlog that starts within what the group has: reading
     * from its start and passing over what the group has misses nothing */
    char **files = NULL;
    size_t nfiles = 0;
    if (rc == CDC_OK)
        rc = source__my_binlogs_read(
            conn, NULL, &(struct source__my_binlogs){0}, &files, &nfiles, err);
    long pick = -1;
    for (size_t i = nfiles; rc == CDC_OK && i-- > 0;) {
        struct source__my_gtid_set prev;
        rc = file_prev(conn, files[i], &prev, err);
        bool within = rc == CDC_OK && source__my_gtid_set_subset(&prev, &have);
        source__my_gtid_set_free(&prev);
        if (within) {
            pick = (long)i;
            break;
        }
    }
    if (rc == CDC_OK && pick < 0)
        rc = cdc_err_set(err, CDC_ESTATE, 0,
                         "no binlog of the source starts within the GTIDs "
                         "the group captured (%.200s): the transactions "
                         "after them were purged; run with --resync to copy "
                         "the tables again",
                         have_text);
    if (rc == CDC_OK) {
        memset(out, 0, sizeof(*out));
        snprintf(out->file, sizeof(out->file), "%s", files[pick]);
        out->offset = 4;
        snprintf(out->gtid, sizeof(out->gtid), "%s", have_text);
    }
    for (size_t i = 0; i < nfiles; i++)
        cdc_free(files[i]);
    cdc_free(files);
    source__my_gtid_set_free(&have);
    source__my_gtid_set_free(&executed);
    source__my_gtid_set_free(&purged);
    return rc;
}

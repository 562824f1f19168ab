/*
 * ops.c: editing a change without touching what it shares, and the field
 * operations of rules files (exclude_column, rename, default, set, concat,
 * copy, uuid, timestamp).
 *
 * Invariants: an array or a string of the event as it came is never
 * written; an array is copied into the batch arena the first time it
 * changes (events of one pack share their arrays), and every new value or
 * name lives in that arena. Nothing here decides which changes a rule
 * selects: rules.c does that before calling in.
 */
#include "rules/rules_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ==== Copy-on-write arrays ==== */

void rules__edit_init(struct rules__edit *ed, struct cdc_event *ev,
                      struct cdc_arena *arena)
{
    *ed = (struct rules__edit){.ev = ev, .arena = arena};
}

/* Room for a few appended columns or names, so that a run of rules adding
 * columns to one change copies its array once, not once per rule. */
#define SLACK 4

struct rowp {
    struct cdc_col **cols;
    size_t *n;
    size_t *cap;
};

static struct rowp rowp(struct rules__edit *ed, enum rules__row row)
{
    if (row == RULES_ROW_NEW)
        return (struct rowp){&ed->ev->cols, &ed->ev->ncols, &ed->cap_cols};
    return (struct rowp){&ed->ev->old, &ed->ev->nold, &ed->cap_old};
}

/* The row's array, owned and with room for extra more columns. */
static struct cdc_col *row_own(struct rules__edit *ed, enum rules__row row,
                               size_t extra)
{
    struct rowp r = rowp(ed, row);
    size_t need = *r.n + extra;
    if (*r.cap != 0 && *r.cap >= need)
        return *r.cols;
    size_t cap = need + SLACK;
    struct cdc_col *a = cdc_arena_alloc(ed->arena, cap * sizeof(*a));
    if (*r.n > 0)
        memcpy(a, *r.cols, *r.n * sizeof(*a));
    *r.cols = a;
    *r.cap = cap;
    return a;
}

struct listp {
    const char ***names;
    size_t *n;
    size_t *cap;
};

static struct listp keyp(struct rules__edit *ed)
{
    return (struct listp){&ed->ev->key, &ed->ev->nkey, &ed->cap_key};
}

static struct listp unchp(struct rules__edit *ed)
{
    return (struct listp){&ed->ev->unchanged, &ed->ev->nunchanged,
                          &ed->cap_unchanged};
}

static const char **list_own(struct rules__edit *ed, struct listp l,
                             size_t extra)
{
    size_t need = *l.n + extra;
    if (*l.cap != 0 && *l.cap >= need)
        return *l.names;
    size_t cap = need + SLACK;
    const char **a = cdc_arena_alloc(ed->arena, cap * sizeof(*a));
    if (*l.n > 0)
        memcpy(a, *l.names, *l.n * sizeof(*a));
    *l.names = a;
    *l.cap = cap;
    return a;
}

static size_t list_find(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return i;
    }
    return RULES_NO_COL;
}

static void list_remove(struct rules__edit *ed, struct listp l,
                        const char *name)
{
    size_t i = list_find(*l.names, *l.n, name);
    while (i != RULES_NO_COL) {
        const char **a = list_own(ed, l, 0);
        memmove(a + i, a + i + 1, (*l.n - i - 1) * sizeof(*a));
        (*l.n)--;
        i = list_find(*l.names, *l.n, name);
    }
}

static void list_add(struct rules__edit *ed, struct listp l, const char *name)
{
    if (list_find(*l.names, *l.n, name) != RULES_NO_COL)
        return;
    const char **a = list_own(ed, l, 1);
    a[(*l.n)++] = cdc_arena_strdup(ed->arena, name);
}

static void list_rename(struct rules__edit *ed, struct listp l,
                        const char *from, const char *to)
{
    size_t i = list_find(*l.names, *l.n, from);
    if (i == RULES_NO_COL)
        return;
    const char **a = list_own(ed, l, 0);
    const char *copy = cdc_arena_strdup(ed->arena, to);
    for (; i < *l.n; i++) {
        if (strcmp(a[i], from) == 0)
            a[i] = copy;
    }
}

/* ==== Columns ==== */

size_t rules__col_find(const struct cdc_event *ev, enum rules__row row,
                       const char *name)
{
    const struct cdc_col *cols = row == RULES_ROW_NEW ? ev->cols : ev->old;
    size_t n = row == RULES_ROW_NEW ? ev->ncols : ev->nold;
    for (size_t i = 0; i < n; i++) {
        if (cols[i].name != NULL && strcmp(cols[i].name, name) == 0)
            return i;
    }
    return RULES_NO_COL;
}

bool rules__is_unchanged(const struct cdc_event *ev, const char *name)
{
    return list_find(ev->unchanged, ev->nunchanged, name) != RULES_NO_COL &&
           rules__col_find(ev, RULES_ROW_NEW, name) == RULES_NO_COL;
}

void rules__col_set(struct rules__edit *ed, enum rules__row row, size_t i,
                    const char *value, size_t len, const char *type)
{
    struct cdc_col *a = row_own(ed, row, 0);
    a[i].value = value;
    a[i].value_len = value == NULL ? 0 : len;
    if (type != NULL)
        a[i].type = type;
}

static void col_append(struct rules__edit *ed, enum rules__row row,
                       const char *name, const char *type, const char *value,
                       size_t len)
{
    struct cdc_col *a = row_own(ed, row, 1);
    struct rowp r = rowp(ed, row);
    a[(*r.n)++] = (struct cdc_col){
        .name = cdc_arena_strdup(ed->arena, name),
        .type = type,
        .value = value,
        .value_len = value == NULL ? 0 : len,
    };
}

static void col_remove(struct rules__edit *ed, enum rules__row row,
                       const char *name)
{
    size_t i = rules__col_find(ed->ev, row, name);
    while (i != RULES_NO_COL) {
        struct cdc_col *a = row_own(ed, row, 0);
        struct rowp r = rowp(ed, row);
        memmove(a + i, a + i + 1, (*r.n - i - 1) * sizeof(*a));
        (*r.n)--;
        i = rules__col_find(ed->ev, row, name);
    }
}

/* Gives the new row's column name the value: replaced where it is (its
 * type kept unless type is given), appended with type (or "text") where it
 * is not; the column is no longer unchanged, since its value is known. */
static void new_put(struct rules__edit *ed, const char *name, const char *value,
                    size_t len, const char *type)
{
    size_t i = rules__col_find(ed->ev, RULES_ROW_NEW, name);
    if (i != RULES_NO_COL)
        rules__col_set(ed, RULES_ROW_NEW, i, value, len, type);
    else
        col_append(ed, RULES_ROW_NEW, name, type != NULL ? type : "text", value,
                   len);
    list_remove(ed, unchp(ed), name);
}

/* The new row's column name becomes unchanged: its value is not known, so
 * a sink must leave it as the target holds it. */
static void new_unchanged(struct rules__edit *ed, const char *name)
{
    col_remove(ed, RULES_ROW_NEW, name);
    list_add(ed, unchp(ed), name);
}

const char *rules__table_name(const struct cdc_event *ev, char *buf,
                              size_t size)
{
    const char *table = ev->table != NULL ? ev->table : "";
    int n;
    if (ev->schema != NULL && ev->schema[0] != '\0')
        n = snprintf(buf, size, "%s.%s", ev->schema, table);
    else
        n = snprintf(buf, size, "%s", table);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}

/* Whether the change has a new row to write values into. */
static bool has_new_row(const struct cdc_event *ev)
{
    return ev->op != CDC_OP_DELETE;
}

/* Whether the change has an old row that must keep matching the target
 * (its key, or the whole row with REPLICA IDENTITY FULL). */
static bool has_old_row(const struct cdc_event *ev)
{
    return ev->op == CDC_OP_UPDATE || ev->op == CDC_OP_DELETE;
}

/* ==== The operations ==== */

static void op_exclude(const struct rules__field *f, struct rules__edit *ed)
{
    for (size_t i = 0; i < f->ncolumns; i++) {
        const char *c = f->columns[i];
        col_remove(ed, RULES_ROW_NEW, c);
        col_remove(ed, RULES_ROW_OLD, c);
        list_remove(ed, keyp(ed), c);
        list_remove(ed, unchp(ed), c);
    }
}

static int op_rename(const struct rules__field *f, struct rules__edit *ed,
                     struct cdc_err *err)
{
    const struct cdc_event *ev = ed->ev;
    if (strcmp(f->column, f->to) == 0)
        return CDC_OK;
    bool new_from =
        rules__col_find(ev, RULES_ROW_NEW, f->column) != RULES_NO_COL ||
        rules__is_unchanged(ev, f->column);
    bool new_to = rules__col_find(ev, RULES_ROW_NEW, f->to) != RULES_NO_COL ||
                  rules__is_unchanged(ev, f->to);
    bool old_from =
        rules__col_find(ev, RULES_ROW_OLD, f->column) != RULES_NO_COL;
    bool old_to = rules__col_find(ev, RULES_ROW_OLD, f->to) != RULES_NO_COL;
    if ((new_from && new_to) || (old_from && old_to)) {
        char tn[128];
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "cannot rename column \"%s\" of table \"%s\" to "
                           "\"%s\": the change already has a column \"%s\"",
                           f->column, rules__table_name(ev, tn, sizeof(tn)),
                           f->to, f->to);
    }
    const char *to = NULL;
    enum rules__row rows[] = {RULES_ROW_NEW, RULES_ROW_OLD};
    for (size_t r = 0; r < 2; r++) {
        size_t i = rules__col_find(ev, rows[r], f->column);
        if (i == RULES_NO_COL)
            continue;
        if (to == NULL)
            to = cdc_arena_strdup(ed->arena, f->to);
        struct cdc_col *a = row_own(ed, rows[r], 0);
        a[i].name = to;
    }
    list_rename(ed, keyp(ed), f->column, f->to);
    list_rename(ed, unchp(ed), f->column, f->to);
    return CDC_OK;
}

/* The rule's constant value, copied into the arena (NULL stays NULL). */
static const char *const_value(const struct rules__field *f,
                               struct rules__edit *ed)
{
    if (f->value == NULL)
        return NULL;
    return cdc_arena_strndup(ed->arena, f->value, f->value_len);
}

static void op_default(const struct rules__field *f, struct rules__edit *ed)
{
    const struct cdc_event *ev = ed->ev;
    const char *v = NULL;
    if (has_new_row(ev) && !rules__is_unchanged(ev, f->column)) {
        size_t i = rules__col_find(ev, RULES_ROW_NEW, f->column);
        if (i == RULES_NO_COL || ev->cols[i].value == NULL) {
            v = const_value(f, ed);
            if (i == RULES_NO_COL)
                col_append(ed, RULES_ROW_NEW, f->column,
                           f->type != NULL ? f->type : "text", v, f->value_len);
            else
                rules__col_set(ed, RULES_ROW_NEW, i, v, f->value_len, NULL);
        }
    }
    if (has_old_row(ev)) {
        size_t i = rules__col_find(ev, RULES_ROW_OLD, f->column);
        if (i != RULES_NO_COL && ev->old[i].value == NULL) {
            if (v == NULL)
                v = const_value(f, ed);
            rules__col_set(ed, RULES_ROW_OLD, i, v, f->value_len, NULL);
        }
    }
}

static void op_set(const struct rules__field *f, struct rules__edit *ed)
{
    const struct cdc_event *ev = ed->ev;
    const char *v = const_value(f, ed);
    if (has_new_row(ev))
        new_put(ed, f->column, v, f->value_len, f->type);
    if (has_old_row(ev)) {
        size_t i = rules__col_find(ev, RULES_ROW_OLD, f->column);
        if (i != RULES_NO_COL)
            rules__col_set(ed, RULES_ROW_OLD, i, v, f->value_len, f->type);
    }
}

/* Joins the non-NULL inputs found in the row with the separator; NULL
 * when there is none. With all_needed, an input the row does not carry
 * makes *ok false (the old row is left alone then). */
static const char *join(const struct rules__field *f, struct rules__edit *ed,
                        enum rules__row row, bool all_needed, size_t *len,
                        bool *ok)
{
    const struct cdc_event *ev = ed->ev;
    const struct cdc_col *cols = row == RULES_ROW_NEW ? ev->cols : ev->old;
    size_t total = 0;
    size_t parts = 0;
    *ok = true;
    for (size_t k = 0; k < f->ncolumns; k++) {
        size_t i = rules__col_find(ev, row, f->columns[k]);
        if (i == RULES_NO_COL) {
            if (all_needed)
                *ok = false;
            continue;
        }
        if (cols[i].value == NULL)
            continue;
        total += cols[i].value_len;
        parts++;
    }
    *len = 0;
    if (!*ok || parts == 0)
        return NULL;
    total += (parts - 1) * f->sep_len;
    char *out = cdc_arena_alloc(ed->arena, total + 1);
    size_t at = 0;
    bool first = true;
    for (size_t k = 0; k < f->ncolumns; k++) {
        size_t i = rules__col_find(ev, row, f->columns[k]);
        if (i == RULES_NO_COL || cols[i].value == NULL)
            continue;
        if (!first) {
            memcpy(out + at, f->sep, f->sep_len);
            at += f->sep_len;
        }
        first = false;
        memcpy(out + at, cols[i].value, cols[i].value_len);
        at += cols[i].value_len;
    }
    out[at] = '\0';
    *len = at;
    return out;
}

static void op_concat(const struct rules__field *f, struct rules__edit *ed)
{
    const struct cdc_event *ev = ed->ev;
    size_t len;
    bool ok;
    if (has_new_row(ev)) {
        bool unsent = false;
        for (size_t k = 0; k < f->ncolumns; k++)
            unsent = unsent || rules__is_unchanged(ev, f->columns[k]);
        if (unsent) {
            new_unchanged(ed, f->column);
        } else {
            const char *v = join(f, ed, RULES_ROW_NEW, false, &len, &ok);
            new_put(ed, f->column, v, len, "text");
        }
    }
    if (has_old_row(ev)) {
        size_t i = rules__col_find(ev, RULES_ROW_OLD, f->column);
        if (i == RULES_NO_COL)
            return;
        const char *v = join(f, ed, RULES_ROW_OLD, true, &len, &ok);
        if (ok)
            rules__col_set(ed, RULES_ROW_OLD, i, v, len, "text");
    }
}

static void op_copy(const struct rules__field *f, struct rules__edit *ed)
{
    const struct cdc_event *ev = ed->ev;
    if (has_new_row(ev)) {
        size_t i = rules__col_find(ev, RULES_ROW_NEW, f->column);
        if (rules__is_unchanged(ev, f->column)) {
            new_unchanged(ed, f->to);
        } else if (i != RULES_NO_COL) {
            struct cdc_col c = ev->cols[i];
            new_put(ed, f->to, c.value, c.value_len,
                    c.type != NULL ? c.type : "text");
        }
    }
    if (has_old_row(ev)) {
        size_t from = rules__col_find(ev, RULES_ROW_OLD, f->column);
        size_t to = rules__col_find(ev, RULES_ROW_OLD, f->to);
        if (from != RULES_NO_COL && to != RULES_NO_COL) {
            struct cdc_col c = ev->old[from];
            rules__col_set(ed, RULES_ROW_OLD, to, c.value, c.value_len,
                           c.type != NULL ? c.type : "text");
        }
    }
}

/* Fills n bytes from the kernel's generator: getrandom(), or /dev/urandom
 * where the system call is missing. */
static int read_random(unsigned char *p, size_t n, struct cdc_err *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return CDC_OK;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdc_err_set(err, CDC_EIO, 0,
                           "could not read random bytes for a uuid: %s",
                           strerror(errno));
    int rc = CDC_OK;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = cdc_err_set(err, CDC_EIO, 0,
                             "could not read random bytes for a uuid: %s",
                             r < 0 ? strerror(errno) : "end of file");
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    return rc;
}

static int op_uuid(const struct rules__field *f, struct rules__edit *ed,
                   struct rules__rand *rnd, struct cdc_err *err)
{
    if (!has_new_row(ed->ev))
        return CDC_OK;
    if (rnd->len - rnd->pos < 16) {
        int rc = read_random(rnd->buf, sizeof(rnd->buf), err);
        if (rc != CDC_OK)
            return rc;
        rnd->pos = 0;
        rnd->len = sizeof(rnd->buf);
    }
    unsigned char b[16];
    memcpy(b, rnd->buf + rnd->pos, sizeof(b));
    rnd->pos += sizeof(b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *s = cdc_arena_alloc(ed->arena, 37);
    size_t at = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s[at++] = '-';
        s[at++] = hex[b[i] >> 4];
        s[at++] = hex[b[i] & 0x0f];
    }
    s[at] = '\0';
    new_put(ed, f->column, s, at, "uuid");
    return CDC_OK;
}

static void op_timestamp(const struct rules__field *f, struct rules__edit *ed)
{
    const struct cdc_event *ev = ed->ev;
    if (!has_new_row(ev))
        return;
    if (f->commit_time && ev->commit_time != NULL) {
        new_put(ed, f->column, cdc_arena_strdup(ed->arena, ev->commit_time),
                strlen(ev->commit_time), "timestamptz");
        return;
    }
    int64_t us = cdc_wall_us();
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    /* 4-digit year, always: room for the largest fields with some left */
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(us % 1000000));
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    new_put(ed, f->column, cdc_arena_strndup(ed->arena, buf, (size_t)n),
            (size_t)n, "timestamptz");
}

int rules__field_apply(const struct rules__field *f, struct rules__edit *ed,
                       struct rules__rand *rnd, struct cdc_err *err)
{
    switch (f->kind) {
    case RULES_F_EXCLUDE:
        op_exclude(f, ed);
        return CDC_OK;
    case RULES_F_RENAME:
        return op_rename(f, ed, err);
    case RULES_F_DEFAULT:
        op_default(f, ed);
        return CDC_OK;
    case RULES_F_SET:
        op_set(f, ed);
        return CDC_OK;
    case RULES_F_CONCAT:
        op_concat(f, ed);
        return CDC_OK;
    case RULES_F_COPY:
        op_copy(f, ed);
        return CDC_OK;
    case RULES_F_UUID:
        return op_uuid(f, ed, rnd, err);
    case RULES_F_TIMESTAMP:
        op_timestamp(f, ed);
        return CDC_OK;
    }
    CDC_BUG("unknown field operation");
}

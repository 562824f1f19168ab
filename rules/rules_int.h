/*
 * rules_int.h: what the files of rules/ share and nothing else includes:
 * typed comparison of values in their source text form, and masking.
 */
#ifndef RULES_RULES_INT_H
#define RULES_RULES_INT_H

#include "rules/rules.h"

/* How values of a column type compare. */
enum rules__kind {
    RULES_KIND_TEXT = 1, /* bytewise, as text */
    RULES_KIND_NUMBER,   /* integers, numeric, floats: by value */
    RULES_KIND_BOOL,     /* by truth value; false < true */
    RULES_KIND_INSTANT,  /* timestamp, timestamptz, date: as instants */
    RULES_KIND_TIME,     /* time, timetz: as time of day */
    RULES_KIND_UUID,     /* by value, case-insensitive */
};

/* The kind for a type name as the source gives it ("int4", "numeric",
 * "timestamptz", "bool", PostgreSQL's long names such as "timestamp with
 * time zone" or "double precision", MySQL's "int unsigned" ...); an
 * unknown or array type is RULES_KIND_TEXT. type may be NULL (text). */
enum rules__kind rules__kind_of(const char *type);

/*
 * Compares a (a column's value, alen bytes) with b (a rule's value, blen
 * bytes) as kind: *cmp is < 0, 0 or > 0. Returns CDC_OK, or CDC_EPROTO
 * when either cannot be read as kind, with err saying which value and what
 * was expected (without table or column: the caller adds them).
 */
int rules__compare(enum rules__kind kind, const char *a, size_t alen,
                   const char *b, size_t blen, int *cmp, struct cdc_err *err);

/* Whether rule value v (len bytes) can be read as kind (the same reading
 * rules__compare does). */
bool rules__valid(enum rules__kind kind, const char *v, size_t len);

/*
 * Masks s (len bytes of UTF-8): keeps the first and the last character and
 * writes mask (mlen bytes, may be several characters) in place of each
 * character between them; a value of one or two characters is unchanged.
 * Counts characters, not bytes (an invalid byte counts as one character).
 * The result is allocated from arena, NUL-terminated, its length in
 * *outlen.
 */
const char *rules__mask(const char *s, size_t len, const char *mask,
                        size_t mlen, struct cdc_arena *arena, size_t *outlen);

/* ==== Editing a change (ops.c) ==== */

/*
 * A change being edited. Its arrays (columns, old row, key, unchanged) may
 * be shared with other events, so each is copied into arena the first time
 * it is written and edited there afterwards; a capacity of 0 means "still
 * shared, copy before writing".
 */
struct rules__edit {
    struct cdc_event *ev;
    struct cdc_arena *arena;
    size_t cap_cols, cap_old, cap_key, cap_unchanged;
};

enum rules__row {
    RULES_ROW_NEW, /* ev->cols */
    RULES_ROW_OLD, /* ev->old */
};

/* Index returned by rules__col_find when the row has no such column. */
#define RULES_NO_COL ((size_t)-1)

void rules__edit_init(struct rules__edit *ed, struct cdc_event *ev,
                      struct cdc_arena *arena);
/* Index of column name in the row, or RULES_NO_COL. */
size_t rules__col_find(const struct cdc_event *ev, enum rules__row row,
                       const char *name);
/* Whether name is listed as unchanged (its value was not sent) and the new
 * row does not carry it. */
bool rules__is_unchanged(const struct cdc_event *ev, const char *name);
/* Gives column i of the row the value (NULL for SQL NULL; kept by
 * pointer, so it must live in the arena or longer) and, if type is not
 * NULL, that type. */
void rules__col_set(struct rules__edit *ed, enum rules__row row, size_t i,
                    const char *value, size_t len, const char *type);
/* "schema.table" (or "table") of ev into buf, for messages. */
const char *rules__table_name(const struct cdc_event *ev, char *buf,
                              size_t size);

/* ==== Field operations (ops.c) ==== */

enum rules__field_kind {
    RULES_F_EXCLUDE = 1, /* drop columns[] */
    RULES_F_RENAME,      /* column -> to */
    RULES_F_DEFAULT,     /* column = value when NULL or missing */
    RULES_F_SET,         /* column = value */
    RULES_F_CONCAT,      /* column = columns[] joined with sep */
    RULES_F_COPY,        /* to = column */
    RULES_F_UUID,        /* column = random version-4 UUID */
    RULES_F_TIMESTAMP,   /* column = now or the commit time */
};

/* One field operation, as loaded; every string belongs to the rules set. */
struct rules__field {
    enum rules__field_kind kind;
    const char *column;
    const char *const *columns; /* exclude: the columns; concat: inputs */
    size_t ncolumns;
    const char *to;    /* rename, copy */
    const char *value; /* default, set; NULL: SQL NULL (set only) */
    size_t value_len;
    const char *type; /* default, set: type of the value, or NULL */
    const char *sep;  /* concat */
    size_t sep_len;
    bool commit_time; /* timestamp: the change's commit time, not now */
};

/* Random bytes drawn from the system in blocks, for UUIDs. */
struct rules__rand {
    unsigned char buf[4096];
    size_t pos, len;
};

/*
 * Applies field operation f to the change being edited (the operation
 * selection was checked by the caller). Returns CDC_OK, or a negative
 * status: CDC_EPROTO flagged CDC_ERR_POISON when the change cannot take
 * the operation (a rename onto a column it already has), CDC_EIO when no
 * random bytes could be read.
 */
int rules__field_apply(const struct rules__field *f, struct rules__edit *ed,
                       struct rules__rand *rnd, struct cdc_err *err);

#endif

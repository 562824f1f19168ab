/*
 * event.c: the change event's two JSON forms. The bus form (version 1) is
 * what the replicator publishes and the worker reads: values are the
 * source's exact text with their type names beside them. The natural form
 * is for people and JSON stores: row and old as name -> value objects,
 * numbers, booleans and JSON values typed where that is lossless. Encoding
 * is hand-written for speed, and json/jsonb values are embedded only after
 * a strict RFC 8259 check of our own. Decoding, the worker's hot path, is
 * hand-written too: one pass over the text straight into an arena, without
 * a tree, rejecting anything malformed with a reason (it comes from the
 * network). Decoding never changes a value: integers that a double cannot
 * hold exactly and strings holding a NUL character are refused instead.
 */
#include "common/common.h"

#include <inttypes.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

static const char *op_names[] = {
    [CDC_OP_INSERT] = "INSERT",     [CDC_OP_UPDATE] = "UPDATE",
    [CDC_OP_DELETE] = "DELETE",     [CDC_OP_TRUNCATE] = "TRUNCATE",
    [CDC_OP_DDL] = "DDL",           [CDC_OP_COPY] = "COPY",
};

const char *cdc_op_name(enum cdc_op op)
{
    if (op < CDC_OP_INSERT || op > CDC_OP_COPY)
        return "UNKNOWN";
    return op_names[op];
}

int cdc_op_parse(const char *s, enum cdc_op *out)
{
    for (int op = CDC_OP_INSERT; op <= CDC_OP_COPY; op++) {
        if (s != NULL && strcmp(s, op_names[op]) == 0) {
            *out = (enum cdc_op)op;
            return CDC_OK;
        }
    }
    return CDC_EPROTO;
}

/* ==== Bus form ==== */

static int put_key(struct cdc_buf *b, const char *key)
{
    int rc = cdc_buf_append_char(b, ',');
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '"');
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append(b, "\":", 2);
    return rc;
}

static int put_str_field(struct cdc_buf *b, const char *key, const char *v)
{
    int rc = put_key(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append_json_str(b, v, strlen(v));
    return rc;
}

static int put_name_list(struct cdc_buf *b, const char *key,
                         const char *const *names, size_t n)
{
    int rc = put_key(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '[');
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        if (i > 0)
            rc = cdc_buf_append_char(b, ',');
        if (rc == CDC_OK)
            rc = cdc_buf_append_json_str(b, names[i], strlen(names[i]));
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, ']');
    return rc;
}

static int put_cols(struct cdc_buf *b, const char *key,
                    const struct cdc_col *cols, size_t n)
{
    int rc = put_key(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '[');
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        const struct cdc_col *c = &cols[i];
        rc = cdc_buf_append_str(b, i > 0 ? ",{\"name\":" : "{\"name\":");
        if (rc == CDC_OK)
            rc = cdc_buf_append_json_str(b, c->name, strlen(c->name));
        if (rc == CDC_OK)
            rc = cdc_buf_append_str(b, ",\"type\":");
        if (rc == CDC_OK)
            rc = cdc_buf_append_json_str(b, c->type ? c->type : "",
                                         c->type ? strlen(c->type) : 0);
        if (rc == CDC_OK)
            rc = cdc_buf_append_str(b, ",\"value\":");
        if (rc == CDC_OK) {
            if (c->value == NULL)
                rc = cdc_buf_append_str(b, "null");
            else
                rc = cdc_buf_append_json_str(b, c->value, c->value_len);
        }
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(b, '}');
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, ']');
    return rc;
}

/* The statement of a DDL event and what goes with it. */
static int put_ddl(const struct cdc_event *ev, struct cdc_buf *b)
{
    int rc = CDC_OK;
    if (ev->ddl != NULL)
        rc = put_str_field(b, "ddl", ev->ddl);
    if (rc == CDC_OK && ev->object != NULL)
        rc = put_str_field(b, "object", ev->object);
    if (rc == CDC_OK && ev->search_path != NULL)
        rc = put_str_field(b, "search_path", ev->search_path);
    return rc;
}

/* Fields common to both forms, after the opening brace. */
static int put_header(const struct cdc_event *ev, struct cdc_buf *b)
{
    int rc = cdc_buf_printf(b, "\"op\":\"%s\"", cdc_op_name(ev->op));
    if (rc == CDC_OK)
        rc = put_str_field(b, "source", ev->source ? ev->source : "");
    if (rc == CDC_OK && ev->schema != NULL)
        rc = put_str_field(b, "schema", ev->schema);
    if (rc == CDC_OK && ev->table != NULL)
        rc = put_str_field(b, "table", ev->table);
    if (rc == CDC_OK)
        rc = put_str_field(b, "position", ev->position ? ev->position : "");
    if (rc == CDC_OK)
        rc = cdc_buf_printf(b, ",\"tx_index\":%u,\"tx_end\":%s",
                            (unsigned)ev->tx_index,
                            ev->tx_end ? "true" : "false");
    if (rc == CDC_OK && ev->has_txid)
        rc = cdc_buf_printf(b, ",\"txid\":%lld", (long long)ev->txid);
    if (rc == CDC_OK && ev->commit_time != NULL)
        rc = put_str_field(b, "commit_time", ev->commit_time);
    if (rc == CDC_OK && ev->nkey > 0)
        rc = put_name_list(b, "key", ev->key, ev->nkey);
    return rc;
}

int cdc_event_encode(const struct cdc_event *ev, struct cdc_buf *out)
{
    int rc = cdc_buf_printf(out, "{\"v\":%d,", CDC_EVENT_VERSION);
    if (rc == CDC_OK)
        rc = put_header(ev, out);
    if (rc == CDC_OK && ev->ncols > 0)
        rc = put_cols(out, "columns", ev->cols, ev->ncols);
    if (rc == CDC_OK && ev->nold > 0)
        rc = put_cols(out, "old", ev->old, ev->nold);
    if (rc == CDC_OK && ev->nunchanged > 0)
        rc = put_name_list(out, "unchanged", ev->unchanged, ev->nunchanged);
    if (rc == CDC_OK)
        rc = put_ddl(ev, out);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(out, '}');
    return rc;
}

/* ==== Strict JSON check ==== */

/* Length of the JSON number at the start of s, or 0 if there is none or it
 * is malformed. Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static size_t json_number_len(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    return i;
}

static bool is_json_number(const char *s, size_t len)
{
    return len > 0 && json_number_len(s, len) == len;
}

/* Containers nested deeper than this make a value "not JSON", so it is
 * written as a string instead: that bounds the recursion below (a few
 * dozen bytes of stack per level), and real documents stay far below it. */
#define JSON_MAX_DEPTH 512

/* A recursive-descent recogniser: it allocates nothing and builds nothing,
 * it only walks p towards end. */
struct json_scan {
    const char *p;
    const char *end;
};

static bool scan_value(struct json_scan *s, int depth);

static void scan_ws(struct json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
                             *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool scan_hex4(struct json_scan *s, unsigned *out)
{
    if (s->end - s->p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *s->p++;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    *out = v;
    return true;
}

/* Bytes are not checked for UTF-8; escapes are. A \u escape of a lone
 * surrogate fits the grammar but many parsers (cJSON among them) refuse
 * it, so it is refused here too. */
static bool scan_string(struct json_scan *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return false;
        c = (unsigned char)*s->p++;
        if (c == 'u') {
            unsigned cp = 0;
            if (!scan_hex4(s, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF))
                return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo = 0;
                if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
                    return false;
                s->p += 2;
                if (!scan_hex4(s, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return false;
            }
        } else if (memchr("\"\\/bfnrt", c, 8) == NULL) {
            return false;
        }
    }
    return false;
}

static bool scan_word(struct json_scan *s, const char *word, size_t len)
{
    if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
        return false;
    s->p += len;
    return true;
}

/* After a member or element: true with *closed set at the closing
 * bracket, true at a comma, false at anything else. */
static bool scan_next(struct json_scan *s, char close, bool *closed)
{
    scan_ws(s);
    if (s->p >= s->end)
        return false;
    char c = *s->p++;
    *closed = c == close;
    if (!*closed && c != ',')
        return false;
    scan_ws(s);
    return true;
}

static bool scan_array(struct json_scan *s, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return false;
    s->p++;
    scan_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return true;
    }
    bool closed = false;
    while (!closed) {
        if (!scan_value(s, depth) || !scan_next(s, ']', &closed))
            return false;
    }
    return true;
}

static bool scan_object(struct json_scan *s, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return false;
    s->p++;
    scan_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return true;
    }
    bool closed = false;
    while (!closed) {
        if (s->p >= s->end || *s->p != '"' || !scan_string(s))
            return false;
        scan_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return false;
        s->p++;
        scan_ws(s);
        if (!scan_value(s, depth) || !scan_next(s, '}', &closed))
            return false;
    }
    return true;
}

static bool scan_value(struct json_scan *s, int depth)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
        return scan_object(s, depth + 1);
    case '[':
        return scan_array(s, depth + 1);
    case '"':
        return scan_string(s);
    case 't':
        return scan_word(s, "true", 4);
    case 'f':
        return scan_word(s, "false", 5);
    case 'n':
        return scan_word(s, "null", 4);
    default: {
        size_t n = json_number_len(s->p, (size_t)(s->end - s->p));
        s->p += n;
        return n > 0;
    }
    }
}

/* True if s is exactly one JSON text as RFC 8259 defines it: one value,
 * optionally surrounded by whitespace, nothing else. */
static bool is_strict_json(const char *s, size_t len)
{
    struct json_scan sc = {.p = s, .end = s + len};
    scan_ws(&sc);
    if (!scan_value(&sc, 0))
        return false;
    scan_ws(&sc);
    return sc.p == sc.end;
}

/* Copies valid JSON text with its line breaks turned into spaces. In valid
 * JSON a raw CR or LF can only be whitespace between tokens, so the value
 * is the same, and a line break would split the natural form, which sinks
 * write as one line per event. */
static int put_json_one_line(struct cdc_buf *b, const char *s, size_t len)
{
    int rc = CDC_OK;
    size_t start = 0;
    for (size_t i = 0; i < len && rc == CDC_OK; i++) {
        if (s[i] == '\n' || s[i] == '\r') {
            rc = cdc_buf_append(b, s + start, i - start);
            if (rc == CDC_OK)
                rc = cdc_buf_append_char(b, ' ');
            start = i + 1;
        }
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append(b, s + start, len - start);
    return rc;
}

/* ==== Natural form ==== */

static bool type_in(const char *type, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(type, *list) == 0)
            return true;
    }
    return false;
}

static int put_natural_value(struct cdc_buf *b, const struct cdc_col *c)
{
    /* integers and binary floats only: a numeric/decimal keeps its exact
     * digits and scale as a string, which a JSON number would not */
    static const char *const numeric_types[] = {
        "int2",   "int4",    "int8",      "oid",   "float4",
        "float8", "smallint", "integer",  "bigint", "real",
        "double precision", "tinyint", "mediumint", "int",  "float",
        "double", "year",    NULL};
    static const char *const bool_types[] = {"bool", "boolean", NULL};
    static const char *const json_types[] = {"json", "jsonb", NULL};

    if (c->value == NULL)
        return cdc_buf_append_str(b, "null");
    const char *type = c->type ? c->type : "";
    if (type_in(type, numeric_types) && is_json_number(c->value, c->value_len))
        return cdc_buf_append(b, c->value, c->value_len);
    if (type_in(type, bool_types)) {
        if (strcmp(c->value, "t") == 0 || strcmp(c->value, "true") == 0)
            return cdc_buf_append_str(b, "true");
        if (strcmp(c->value, "f") == 0 || strcmp(c->value, "false") == 0)
            return cdc_buf_append_str(b, "false");
    }
    /* embed only strictly valid JSON, so one bad value cannot break the
     * line; anything else is kept exactly, as a string */
    if (type_in(type, json_types) && is_strict_json(c->value, c->value_len))
        return put_json_one_line(b, c->value, c->value_len);
    return cdc_buf_append_json_str(b, c->value, c->value_len);
}

static int put_natural_cols(struct cdc_buf *b, const char *key,
                            const struct cdc_col *cols, size_t n)
{
    int rc = put_key(b, key);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '{');
    for (size_t i = 0; i < n && rc == CDC_OK; i++) {
        if (i > 0)
            rc = cdc_buf_append_char(b, ',');
        if (rc == CDC_OK)
            rc = cdc_buf_append_json_str(b, cols[i].name,
                                         strlen(cols[i].name));
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(b, ':');
        if (rc == CDC_OK)
            rc = put_natural_value(b, &cols[i]);
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '}');
    return rc;
}

int cdc_event_encode_natural(const struct cdc_event *ev,
                             const char *extra_json, struct cdc_buf *out)
{
    int rc = cdc_buf_append_char(out, '{');
    if (rc == CDC_OK)
        rc = put_header(ev, out);
    if (rc == CDC_OK && (ev->ncols > 0 || ev->op == CDC_OP_INSERT ||
                         ev->op == CDC_OP_UPDATE || ev->op == CDC_OP_COPY))
        rc = put_natural_cols(out, "row", ev->cols, ev->ncols);
    if (rc == CDC_OK && ev->nold > 0)
        rc = put_natural_cols(out, "old", ev->old, ev->nold);
    if (rc == CDC_OK && ev->nunchanged > 0)
        rc = put_name_list(out, "unchanged", ev->unchanged, ev->nunchanged);
    if (rc == CDC_OK)
        rc = put_ddl(ev, out);
    if (rc == CDC_OK && extra_json != NULL && extra_json[0] != '\0') {
        rc = cdc_buf_append_char(out, ',');
        if (rc == CDC_OK)
            rc = cdc_buf_append_str(out, extra_json);
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(out, '}');
    return rc;
}

/* ==== Decoding ==== */

/*
 * One pass over the message text that builds no tree: keys are matched as
 * they come and strings are unescaped straight into the arena. Errors rank
 * in a fixed order whatever the order of the keys, so while an object is
 * read each field's JSON type (and a list's first bad element, and the
 * first NUL character) is only noted; once the object is closed,
 * check_event() goes through the notes in rank order. A syntax error
 * anywhere in the message outranks them all, so the rest of a message is
 * still checked after an event in it failed.
 *
 * The grammar is the one cJSON (the decoder before this one) accepted, so
 * producers see no change: any byte up to 0x20 is whitespace between
 * tokens, control bytes may stand raw in strings, of duplicate keys the
 * first one counts, and at most NESTING_LIMIT arrays and objects are open
 * at once. Two things are stricter: numbers follow RFC 8259 exactly (of
 * any length), and a \u escape needs four hex digits (cJSON read a bad one
 * as U+0000 and cut the string there).
 */

/* cJSON's CJSON_NESTING_LIMIT: arrays and objects open at once, the
 * outermost one counted, so that deeper input is refused as it was. It
 * also bounds the stack of skip_value(), one byte per level. */
#define NESTING_LIMIT 1000

/* Items of a list kept on the stack before the list moves to the arena:
 * enough for the columns of most rows. */
#define LIST_LOCAL 16

struct dec {
    const char *p; /* next byte to read */
    const char *end;
    struct cdc_arena *arena;
    /* Arena room for the strings still to come, taken at the first one. A
     * string needs at most the bytes of its token (its quotes leave room
     * for the NUL), so the rest of the message bounds them all. */
    char *pool;
    char *pool_end;
    size_t depth; /* arrays and objects open */
    bool nul;     /* a string read since this was cleared holds a NUL */
    bool ws_nul;  /* a NUL byte stood between tokens since it was cleared */
    struct cdc_col col_local[LIST_LOCAL];
    const char *name_local[LIST_LOCAL];
};

/* The fields of an event object, in the order their errors rank. */
enum field {
    F_V,
    F_OP,
    F_SOURCE,
    F_SCHEMA,
    F_TABLE,
    F_POSITION,
    F_COMMIT_TIME,
    F_DDL,
    F_OBJECT,
    F_SEARCH_PATH,
    F_KEY,
    F_UNCHANGED,
    F_COLUMNS,
    F_OLD,
    F_TX_INDEX,
    F_TX_END,
    F_TXID,
    F_NAMES, /* a pack's */
    F_TYPES,
    F_ROWS,
    F_COUNT, /* none of them */
};

static const char *const field_names[F_COUNT] = {
    [F_V] = "v",
    [F_OP] = "op",
    [F_SOURCE] = "source",
    [F_SCHEMA] = "schema",
    [F_TABLE] = "table",
    [F_POSITION] = "position",
    [F_COMMIT_TIME] = "commit_time",
    [F_DDL] = "ddl",
    [F_OBJECT] = "object",
    [F_SEARCH_PATH] = "search_path",
    [F_KEY] = "key",
    [F_UNCHANGED] = "unchanged",
    [F_COLUMNS] = "columns",
    [F_OLD] = "old",
    [F_TX_INDEX] = "tx_index",
    [F_TX_END] = "tx_end",
    [F_TXID] = "txid",
    [F_NAMES] = "names",
    [F_TYPES] = "types",
    [F_ROWS] = "rows",
};

/* A value's JSON type, as its first byte tells it. */
enum jtype {
    J_ABSENT, /* no value (or a byte no value starts with) */
    J_NULL,
    J_BOOL,
    J_NUMBER,
    J_STRING,
    J_ARRAY,
    J_OBJECT,
};

enum col_fault {
    COL_OK,
    COL_NO_NAME,
    COL_BAD_TYPE,
    COL_BAD_VALUE,
};

/* The first bad column of a list. */
struct col_note {
    enum col_fault fault;
    size_t index;
    const char *name;
};

/* Where the first NUL character of an event is. */
enum nul_at {
    NUL_NONE,
    NUL_KEY,       /* in a key of the event object */
    NUL_FIELD,     /* in a field's value */
    NUL_COL_NAME,  /* in a column that has a name */
    NUL_COL_INDEX, /* in a column without a usable name */
    NUL_ROW,       /* in a value of a pack's row */
};

struct nul_note {
    enum nul_at at;
    const char *s; /* the key (before its NUL), or the column's name */
    size_t len;    /* of the key */
    const char *list;
    size_t index;
};

/* What reading an event object noted, for check_event(). */
struct notes {
    unsigned char type[F_COUNT]; /* enum jtype of each field's first */
    double v;
    double tx_index;
    double txid;
    const char *op;
    bool names_bad[2];       /* "key", "unchanged" hold a non-string */
    struct col_note cols[2]; /* "columns", "old" */
    struct nul_note nul;
    bool ws_nul; /* a NUL byte between the event's tokens */
    /* a pack: "names" and "types" (or holds a non-string), and "rows",
     * whose values are all in one list, row after row */
    const char **pk_list[2];
    size_t pk_n[2];
    bool pk_bad[2];
    struct cdc_col *vals;
    size_t nvals;
    size_t *row_len;
    size_t nrows;
    /* the first row that is not a list, or holds a value that is not a
     * string or null (index + 1; 0: none) */
    size_t bad_row;
    size_t bad_val;
};

static void dec_init(struct dec *d, const char *text, size_t len,
                     struct cdc_arena *arena)
{
    d->p = text;
    d->end = text + len;
    d->arena = arena;
    d->pool = NULL;
    d->pool_end = NULL;
    d->depth = 0;
    d->nul = false;
    d->ws_nul = false;
}

/* This, type_at() and dec_span() are inline: they run for every token,
 * and inlining them saves about a tenth of the decoding time. */
static inline void dec_ws(struct dec *d)
{
    while (d->p < d->end && (unsigned char)*d->p <= ' ') {
        if (*d->p == '\0')
            d->ws_nul = true;
        d->p++;
    }
}

static inline enum jtype type_at(const struct dec *d)
{
    if (d->p >= d->end)
        return J_ABSENT;
    switch (*d->p) {
    case 'n':
        return J_NULL;
    case 't':
    case 'f':
        return J_BOOL;
    case '"':
        return J_STRING;
    case '[':
        return J_ARRAY;
    case '{':
        return J_OBJECT;
    case '-':
        return J_NUMBER;
    default:
        return *d->p >= '0' && *d->p <= '9' ? J_NUMBER : J_ABSENT;
    }
}

/* Enters the array or object at d->p, up to its first item; false if that
 * nests too deep. */
static bool dec_open(struct dec *d)
{
    if (d->depth >= NESTING_LIMIT)
        return false;
    d->depth++;
    d->p++;
    dec_ws(d);
    return true;
}

/* Right after dec_open(): true, with the container left, if it is empty. */
static bool dec_empty(struct dec *d, char closer)
{
    if (d->p >= d->end || *d->p != closer)
        return false;
    d->p++;
    d->depth--;
    return true;
}

/* After an item of a container: true with *more set at a comma, true with
 * *more clear (and the container left) at its closer, false otherwise. */
static bool dec_next(struct dec *d, char closer, bool *more)
{
    dec_ws(d);
    if (d->p >= d->end)
        return false;
    char c = *d->p++;
    *more = c == ',';
    if (*more)
        return true;
    if (c != closer)
        return false;
    d->depth--;
    return true;
}

/* Between a key and its value. */
static bool dec_colon(struct dec *d)
{
    dec_ws(d);
    if (d->p >= d->end || *d->p != ':')
        return false;
    d->p++;
    dec_ws(d);
    return true;
}

/* Bytes that end a run of plain bytes in a string. */
static const unsigned char str_stop[256] = {[0] = 1, ['"'] = 1, ['\\'] = 1};

/* Returns the first quote, backslash or NUL byte from s on, or end. Eight
 * bytes are looked at at once: with x the word XOR c repeated, (x - 1) & ~x
 * sets the top bit of each byte equal to c, and of none before the first
 * one (a borrow only marks bytes after it). */
static const char *skip_plain(const char *s, const char *end)
{
    const uint64_t ones = 0x0101010101010101u;
    const uint64_t tops = 0x8080808080808080u;
    while (end - s >= 8) {
        uint64_t w = 0;
        memcpy(&w, s, 8);
        uint64_t q = w ^ (ones * '"');
        uint64_t b = w ^ (ones * '\\');
        uint64_t hit =
            (((w - ones) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & tops;
        if (hit != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return s + __builtin_ctzll(hit) / 8; /* the lowest mark */
#else
            break;
#endif
        }
        s += 8;
    }
    while (s < end && !str_stop[(unsigned char)*s])
        s++;
    return s;
}

/* A string token as it stands in the text. */
struct span {
    const char *s; /* after the opening quote */
    size_t len;    /* up to the closing one */
    bool escaped;  /* holds a backslash */
    bool raw_nul;  /* holds a NUL byte */
};

/* Finds the end of the string token at d->p and moves past it. Escapes
 * are only skipped here; unescape() checks them. */
static inline bool dec_span(struct dec *d, struct span *sp)
{
    const char *s = d->p + 1;
    const char *end = d->end;
    sp->s = s;
    sp->escaped = false;
    sp->raw_nul = false;
    for (;;) {
        s = skip_plain(s, end);
        if (s >= end)
            return false;
        if (*s == '"')
            break;
        if (*s == '\\') {
            if (end - s < 2)
                return false;
            sp->escaped = true;
            s += 2;
        } else {
            sp->raw_nul = true;
            s++;
        }
    }
    sp->len = (size_t)(s - sp->s);
    d->p = s + 1;
    return true;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i];
        int lower = c | 0x20;
        if (c >= '0' && c <= '9')
            v = (v << 4) | (c - '0');
        else if (lower >= 'a' && lower <= 'f')
            v = (v << 4) | (lower - 'a' + 10);
        else
            return -1;
    }
    return v;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/*
 * Unescapes sp into out (room for sp->len bytes), or only checks it if out
 * is NULL; *len is the length written, and *nul is set if a \u0000 was
 * among the escapes. False for an escape JSON does not have, a \u without
 * four hex digits, and a UTF-16 surrogate that is not part of a pair (which
 * cJSON refused too). An escape never writes more bytes than it takes.
 */
static bool unescape(const struct span *sp, char *out, size_t *len, bool *nul)
{
    const char *s = sp->s;
    const char *end = s + sp->len;
    char *o = out;
    while (s < end) {
        const char *bs = memchr(s, '\\', (size_t)(end - s));
        size_t run = (size_t)((bs != NULL ? bs : end) - s);
        if (o != NULL) {
            memcpy(o, s, run);
            o += run;
        }
        s += run;
        if (s == end)
            break;
        /* dec_span() saw a byte after every backslash */
        unsigned cp = 0;
        size_t used = 2;
        switch (s[1]) {
        case '"':
        case '\\':
        case '/':
            cp = (unsigned char)s[1];
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u': {
            int hi = end - s >= 6 ? hex4(s + 2) : -1;
            if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
                return false;
            cp = (unsigned)hi;
            used = 6;
            if (hi >= 0xD800 && hi <= 0xDBFF) {
                int lo = end - s >= 12 && s[6] == '\\' && s[7] == 'u'
                             ? hex4(s + 8)
                             : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                cp = 0x10000 + ((((unsigned)hi & 0x3FF) << 10) |
                                ((unsigned)lo & 0x3FF));
                used = 12;
            }
            break;
        }
        default:
            return false;
        }
        if (cp == 0)
            *nul = true;
        if (o != NULL)
            o = put_utf8(o, cp);
        s += used;
    }
    if (o != NULL)
        *len = (size_t)(o - out);
    return true;
}

/* n bytes of the string pool for the token that starts at from. */
static char *pool_take(struct dec *d, const char *from, size_t n)
{
    if (d->pool == NULL) {
        size_t room = (size_t)(d->end - from);
        d->pool = cdc_arena_alloc(d->arena, room);
        d->pool_end = d->pool + room;
    }
    CDC_ASSERT((size_t)(d->pool_end - d->pool) >= n);
    char *s = d->pool;
    d->pool += n;
    return s;
}

/* Reads the string token at d->p into the arena, unescaped and
 * NUL-terminated, with its length in *len and whether it holds a NUL in
 * *nul (each may be NULL). */
static bool read_str(struct dec *d, const char **out, size_t *len, bool *nul)
{
    struct span sp;
    const char *from = d->p;
    if (!dec_span(d, &sp))
        return false;
    char *s = pool_take(d, from, sp.len + 1);
    size_t n = sp.len;
    bool z = sp.raw_nul;
    if (!sp.escaped)
        memcpy(s, sp.s, n);
    else if (!unescape(&sp, s, &n, &z))
        return false;
    s[n] = '\0';
    if (z)
        d->nul = true;
    *out = s;
    if (len != NULL)
        *len = n;
    if (nul != NULL)
        *nul = z;
    return true;
}

/* A key as it is matched: cJSON ended its keys at a NUL character, so that
 * "v\u0000x" matched "v", and it still does (the event is refused for the
 * NUL, but the version check ranks before that). */
struct key {
    const char *s; /* in the text, or unescaped in the arena */
    size_t len;    /* up to the first NUL */
    bool nul;
};

static bool read_key(struct dec *d, struct key *k)
{
    struct span sp;
    const char *from = d->p;
    if (d->p >= d->end || *d->p != '"' || !dec_span(d, &sp))
        return false;
    k->s = sp.s;
    k->len = sp.len;
    k->nul = sp.raw_nul;
    if (sp.escaped) {
        char *s = pool_take(d, from, sp.len + 1);
        if (!unescape(&sp, s, &k->len, &k->nul))
            return false;
        k->s = s;
    }
    if (k->nul)
        k->len = (size_t)((const char *)memchr(k->s, '\0', k->len) - k->s);
    return true;
}

/* Keys are short: a loop beats a call to memcmp. */
static bool same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

static bool key_is(const struct key *k, const char *name, size_t len)
{
    return k->len == len && same_bytes(k->s, name, len);
}

static enum field field_of(const struct key *k)
{
    enum field f = F_COUNT;
    /* a guess from the length and a letter, confirmed below */
    switch (k->len) {
    case 1:
        f = F_V;
        break;
    case 2:
        f = F_OP;
        break;
    case 3:
        f = k->s[0] == 'd' ? F_DDL : k->s[0] == 'k' ? F_KEY : F_OLD;
        break;
    case 4:
        f = k->s[0] == 'r' ? F_ROWS : F_TXID;
        break;
    case 5:
        f = k->s[0] == 'n' ? F_NAMES : k->s[1] == 'y' ? F_TYPES : F_TABLE;
        break;
    case 6:
        f = k->s[0] == 'o'   ? F_OBJECT
            : k->s[0] != 's' ? F_TX_END
            : k->s[1] == 'o' ? F_SOURCE
                             : F_SCHEMA;
        break;
    case 7:
        f = F_COLUMNS;
        break;
    case 8:
        f = k->s[0] == 'p' ? F_POSITION : F_TX_INDEX;
        break;
    case 9:
        f = F_UNCHANGED;
        break;
    case 11:
        f = k->s[0] == 's' ? F_SEARCH_PATH : F_COMMIT_TIME;
        break;
    default:
        return F_COUNT;
    }
    return same_bytes(k->s, field_names[f], k->len) ? f : F_COUNT;
}

/* Reads a number token into *out as strtod rounds it, which is what
 * cJSON gave. */
static bool read_number(struct dec *d, double *out)
{
    const char *s = d->p;
    size_t n = json_number_len(s, (size_t)(d->end - s));
    if (n == 0)
        return false;
    d->p += n;
    /* the usual case without strtod: an integer of at most 15 digits is
     * exact in a double */
    size_t neg = s[0] == '-';
    if (n - neg <= 15) {
        uint64_t v = 0;
        size_t i = neg;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (uint64_t)(s[i++] - '0');
        if (i == n) {
            *out = neg ? -(double)v : (double)v;
            return true;
        }
    }
    char local[64];
    char *buf = n < sizeof(local) ? local : cdc_arena_alloc(d->arena, n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* strtod reads the decimal point of the current locale */
    char *dot = memchr(buf, '.', n);
    if (dot != NULL)
        *dot = localeconv()->decimal_point[0];
    *out = strtod(buf, NULL);
    return true;
}

/* Checks the string token at d->p without keeping it. */
static bool skip_str(struct dec *d)
{
    struct span sp;
    if (!dec_span(d, &sp))
        return false;
    bool z = sp.raw_nul;
    if (sp.escaped && !unescape(&sp, NULL, NULL, &z))
        return false;
    if (z)
        d->nul = true;
    return true;
}

static bool skip_word(struct dec *d, const char *word, size_t len)
{
    if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len) != 0)
        return false;
    d->p += len;
    return true;
}

static bool skip_scalar(struct dec *d)
{
    switch (type_at(d)) {
    case J_STRING:
        return skip_str(d);
    case J_NULL:
        return skip_word(d, "null", 4);
    case J_BOOL:
        return *d->p == 't' ? skip_word(d, "true", 4)
                            : skip_word(d, "false", 5);
    case J_NUMBER: {
        size_t n = json_number_len(d->p, (size_t)(d->end - d->p));
        d->p += n;
        return n > 0;
    }
    default:
        return false;
    }
}

/* A key and its colon, inside a value being skipped. */
static bool skip_key(struct dec *d)
{
    dec_ws(d);
    if (d->p >= d->end || *d->p != '"' || !skip_str(d))
        return false;
    return dec_colon(d);
}

/* Checks the value at d->p without keeping it, noting NUL characters like
 * read_str(). Containers are followed with a stack of their closers
 * instead of recursion. */
static bool skip_value(struct dec *d)
{
    char closer[NESTING_LIMIT];
    size_t level = 0;
    for (;;) {
        /* at a value */
        dec_ws(d);
        enum jtype t = type_at(d);
        if (t == J_ARRAY || t == J_OBJECT) {
            if (!dec_open(d))
                return false;
            closer[level++] = t == J_OBJECT ? '}' : ']';
            if (!dec_empty(d, closer[level - 1])) {
                if (t == J_OBJECT && !skip_key(d))
                    return false;
                continue;
            }
            level--;
        } else if (!skip_scalar(d)) {
            return false;
        }
        /* after a value: leave what closes here, up to the next item */
        bool more = false;
        while (level > 0 && !more) {
            if (!dec_next(d, closer[level - 1], &more))
                return false;
            if (!more)
                level--;
            else if (closer[level - 1] == '}' && !skip_key(d))
                return false;
        }
        if (level == 0)
            return true;
    }
}

/* A list of items being read: in local storage while they fit, then in
 * the arena, doubling. */
struct list {
    char *items;
    size_t n;
    size_t cap;
    size_t size; /* of one item */
    char *local;
};

static void list_init(struct list *l, void *local, size_t cap, size_t size)
{
    l->items = local;
    l->local = local;
    l->n = 0;
    l->cap = cap;
    l->size = size;
}

/* Room for one more item. */
static void *list_add(struct dec *d, struct list *l)
{
    if (l->n == l->cap) {
        char *grown = cdc_arena_alloc(d->arena, l->cap * 2 * l->size);
        memcpy(grown, l->items, l->n * l->size);
        l->items = grown;
        l->cap *= 2;
    }
    return l->items + l->n++ * l->size;
}

/* The items, in the arena; never NULL, even for an empty list. */
static void *list_done(struct dec *d, struct list *l)
{
    if (l->items != l->local)
        return l->items;
    char *items = cdc_arena_alloc(d->arena, (l->n + 1) * l->size);
    memcpy(items, l->items, l->n * l->size);
    return items;
}

/* A list of names ("key", "unchanged") at d->p. */
static bool read_names(struct dec *d, enum field f, struct cdc_event *ev,
                       struct notes *nt)
{
    bool *bad = f == F_KEY || f == F_UNCHANGED ? &nt->names_bad[f - F_KEY]
                                               : &nt->pk_bad[f - F_NAMES];
    struct list l;
    list_init(&l, d->name_local, LIST_LOCAL, sizeof(d->name_local[0]));
    if (!dec_open(d))
        return false;
    bool more = !dec_empty(d, ']');
    while (more) {
        dec_ws(d);
        if (type_at(d) != J_STRING)
            *bad = true;
        bool ok = *bad ? skip_value(d)
                       : read_str(d, list_add(d, &l), NULL, NULL);
        if (!ok || !dec_next(d, ']', &more))
            return false;
    }
    if (*bad)
        return true;
    if (f == F_KEY) {
        ev->key = list_done(d, &l);
        ev->nkey = l.n;
    } else if (f == F_UNCHANGED) {
        ev->unchanged = list_done(d, &l);
        ev->nunchanged = l.n;
    } else {
        nt->pk_list[f - F_NAMES] = list_done(d, &l);
        nt->pk_n[f - F_NAMES] = l.n;
    }
    return true;
}

/* A list of items straight in the arena (a pack's rows: too many for the
 * stack). */
static void list_init_arena(struct dec *d, struct list *l, size_t cap,
                            size_t size)
{
    l->items = cdc_arena_alloc(d->arena, cap * size);
    l->local = NULL;
    l->n = 0;
    l->cap = cap;
    l->size = size;
}

/* A pack's "rows" at d->p: a list of lists of strings or nulls. */
static bool read_rows(struct dec *d, struct notes *nt)
{
    struct list vals;
    struct list lens;
    list_init_arena(d, &vals, 64, sizeof(struct cdc_col));
    list_init_arena(d, &lens, 16, sizeof(size_t));
    if (!dec_open(d))
        return false;
    bool more = !dec_empty(d, ']');
    for (size_t i = 0; more; i++) {
        dec_ws(d);
        size_t *len = list_add(d, &lens);
        *len = 0;
        bool ok = true;
        if (type_at(d) != J_ARRAY) {
            if (nt->bad_row == 0)
                nt->bad_row = i + 1;
            ok = skip_value(d);
        } else {
            ok = dec_open(d);
            bool vmore = ok && !dec_empty(d, ']');
            while (ok && vmore) {
                dec_ws(d);
                enum jtype t = type_at(d);
                struct cdc_col *c = list_add(d, &vals);
                memset(c, 0, sizeof(*c));
                (*len)++;
                d->nul = false;
                if (t == J_STRING) {
                    ok = read_str(d, &c->value, &c->value_len, NULL);
                } else {
                    if (t != J_NULL && nt->bad_row == 0) {
                        nt->bad_row = i + 1;
                        nt->bad_val = *len;
                    }
                    ok = skip_value(d);
                }
                if (d->nul && nt->nul.at == NUL_NONE)
                    nt->nul = (struct nul_note){.at = NUL_ROW,
                                                .list = "rows",
                                                .index = i};
                d->nul = false;
                if (ok)
                    ok = dec_next(d, ']', &vmore);
            }
        }
        if (!ok || !dec_next(d, ']', &more))
            return false;
    }
    nt->vals = (struct cdc_col *)(void *)vals.items;
    nt->nvals = vals.n;
    nt->row_len = (size_t *)(void *)lens.items;
    nt->nrows = lens.n;
    return true;
}

/* One column object as read. */
struct col_read {
    struct cdc_col c;
    enum jtype name_t;
    enum jtype type_t;
    enum jtype value_t;
    /* The first "name" whose key holds no NUL, which may come after the
     * one that counts (its key cut at a NUL, as cJSON matched it). A
     * column with a NUL character in it is named in the message only if
     * this one is a string as long as the name: cJSON compared the two. */
    bool exact_seen;
    enum jtype exact_t;
    size_t exact_len;
};

static bool read_col(struct dec *d, struct col_read *cr)
{
    if (!dec_open(d))
        return false;
    bool more = !dec_empty(d, '}');
    while (more) {
        struct key k;
        dec_ws(d);
        if (!read_key(d, &k) || !dec_colon(d))
            return false;
        if (k.nul)
            d->nul = true;
        enum jtype t = type_at(d);
        bool ok = false;
        if (key_is(&k, "name", 4) &&
            (cr->name_t == J_ABSENT || (!k.nul && !cr->exact_seen))) {
            const char *name = NULL;
            size_t len = 0;
            ok = t == J_STRING ? read_str(d, &name, &len, NULL)
                               : skip_value(d);
            if (cr->name_t == J_ABSENT) {
                cr->name_t = t;
                cr->c.name = name;
            }
            if (!k.nul && !cr->exact_seen) {
                cr->exact_seen = true;
                cr->exact_t = t;
                cr->exact_len = len;
            }
        } else if (key_is(&k, "type", 4) && cr->type_t == J_ABSENT) {
            cr->type_t = t;
            ok = t == J_STRING ? read_str(d, &cr->c.type, NULL, NULL)
                               : skip_value(d);
        } else if (key_is(&k, "value", 5) && cr->value_t == J_ABSENT) {
            cr->value_t = t;
            ok = t == J_STRING
                     ? read_str(d, &cr->c.value, &cr->c.value_len, NULL)
                     : skip_value(d);
        } else {
            ok = skip_value(d);
        }
        if (!ok || !dec_next(d, '}', &more))
            return false;
    }
    return true;
}

static enum col_fault col_fault(const struct col_read *cr)
{
    if (cr->name_t != J_STRING)
        return COL_NO_NAME;
    if (cr->type_t != J_ABSENT && cr->type_t != J_STRING)
        return COL_BAD_TYPE;
    if (cr->value_t != J_ABSENT && cr->value_t != J_NULL &&
        cr->value_t != J_STRING)
        return COL_BAD_VALUE;
    return COL_OK;
}

/* A list of columns ("columns", "old") at d->p. Without keep (a later
 * duplicate of the field) it is read only to find a NUL character in it,
 * whose message names the column. */
static bool read_cols(struct dec *d, enum field f, bool keep,
                      struct cdc_event *ev, struct notes *nt)
{
    struct col_note *bad = &nt->cols[f - F_COLUMNS];
    struct list l;
    list_init(&l, d->col_local, LIST_LOCAL, sizeof(d->col_local[0]));
    if (!dec_open(d))
        return false;
    bool more = !dec_empty(d, ']');
    for (size_t i = 0; more; i++) {
        struct col_read cr;
        memset(&cr, 0, sizeof(cr));
        dec_ws(d);
        d->nul = false;
        bool ok = type_at(d) == J_OBJECT ? read_col(d, &cr) : skip_value(d);
        if (!ok || !dec_next(d, ']', &more))
            return false;
        if (d->nul && nt->nul.at == NUL_NONE) {
            bool named = cr.name_t == J_STRING && cr.exact_t == J_STRING &&
                         strlen(cr.c.name) == cr.exact_len;
            nt->nul = (struct nul_note){
                .at = named ? NUL_COL_NAME : NUL_COL_INDEX,
                .s = cr.c.name,
                .list = field_names[f],
                .index = i};
        }
        if (!keep || bad->fault != COL_OK)
            continue;
        bad->fault = col_fault(&cr);
        if (bad->fault != COL_OK) {
            bad->index = i;
            bad->name = cr.c.name;
            continue;
        }
        struct cdc_col *c = list_add(d, &l);
        *c = cr.c;
        if (cr.type_t != J_STRING)
            c->type = "";
    }
    d->nul = false; /* noted above, by column */
    if (!keep || bad->fault != COL_OK)
        return true;
    if (f == F_COLUMNS) {
        ev->cols = list_done(d, &l);
        ev->ncols = l.n;
    } else {
        ev->old = list_done(d, &l);
        ev->nold = l.n;
    }
    return true;
}

static const char **str_field(struct cdc_event *ev, struct notes *nt,
                              enum field f)
{
    switch (f) {
    case F_OP:
        return &nt->op;
    case F_SOURCE:
        return &ev->source;
    case F_SCHEMA:
        return &ev->schema;
    case F_TABLE:
        return &ev->table;
    case F_POSITION:
        return &ev->position;
    case F_COMMIT_TIME:
        return &ev->commit_time;
    case F_OBJECT:
        return &ev->object;
    case F_SEARCH_PATH:
        return &ev->search_path;
    default:
        return &ev->ddl;
    }
}

/* The value of the first occurrence of field f, at d->p. */
static bool read_field(struct dec *d, enum field f, struct cdc_event *ev,
                       struct notes *nt)
{
    enum jtype t = type_at(d);
    nt->type[f] = (unsigned char)t;
    switch (f) {
    case F_V:
        if (t == J_NUMBER)
            return read_number(d, &nt->v);
        break;
    case F_TX_INDEX:
        if (t == J_NUMBER)
            return read_number(d, &nt->tx_index);
        break;
    case F_TXID:
        if (t == J_NUMBER)
            return read_number(d, &nt->txid);
        break;
    case F_TX_END:
        if (t == J_BOOL)
            ev->tx_end = *d->p == 't';
        break;
    case F_KEY:
    case F_UNCHANGED:
        if (t == J_ARRAY)
            return read_names(d, f, ev, nt);
        break;
    case F_COLUMNS:
    case F_OLD:
        if (t == J_ARRAY)
            return read_cols(d, f, true, ev, nt);
        break;
    case F_NAMES:
    case F_TYPES:
        if (t == J_ARRAY)
            return read_names(d, f, ev, nt);
        break;
    case F_ROWS:
        if (t == J_ARRAY)
            return read_rows(d, nt);
        break;
    default:
        if (t == J_STRING)
            return read_str(d, str_field(ev, nt, f), NULL, NULL);
        break;
    }
    return skip_value(d);
}

/* Reads the event object at d->p into ev, noting in nt what check_event()
 * needs. False only on a syntax error. */
static bool read_event(struct dec *d, struct cdc_event *ev, struct notes *nt)
{
    memset(ev, 0, sizeof(*ev));
    memset(nt, 0, sizeof(*nt));
    if (!dec_open(d))
        return false;
    bool more = !dec_empty(d, '}');
    while (more) {
        struct key k;
        dec_ws(d);
        if (!read_key(d, &k) || !dec_colon(d))
            return false;
        if (k.nul && nt->nul.at == NUL_NONE)
            nt->nul = (struct nul_note){.at = NUL_KEY, .s = k.s, .len = k.len};
        enum field f = field_of(&k);
        bool ok = false;
        d->nul = false;
        if (f != F_COUNT && nt->type[f] == J_ABSENT)
            ok = read_field(d, f, ev, nt);
        else if ((f == F_COLUMNS || f == F_OLD) && type_at(d) == J_ARRAY)
            ok = read_cols(d, f, false, ev, nt);
        else
            ok = skip_value(d);
        if (!ok || !dec_next(d, '}', &more))
            return false;
        if (d->nul && nt->nul.at == NUL_NONE)
            nt->nul =
                (struct nul_note){.at = NUL_FIELD, .s = k.s, .len = k.len};
    }
    return true;
}

/* Numbers are read into a double, as cJSON did, so an integer is known
 * exactly only while its magnitude is below 2^53: 2^53 + 1 reads as 2^53.
 * Integer fields accept that range or less, and the double is compared
 * with the bounds before it is converted, so NaN, infinities and
 * out-of-range values never reach a conversion (which would be
 * undefined). */
#define JSON_SAFE_INT_MAX 9007199254740991.0 /* 2^53 - 1 */

static bool get_int(double d, double min, double max, int64_t *out)
{
    if (!(d >= min && d <= max))
        return false;
    int64_t v = (int64_t)d;
    if ((double)v != d)
        return false; /* has a fraction */
    *out = v;
    return true;
}

/* Refuses an event that holds a NUL character, naming where: strings end
 * at a NUL in C, so a value would come back cut short. */
static int nul_error(const struct notes *nt, struct cdc_err *err)
{
    static const char why[] = "contains a NUL character, which is not "
                              "supported";
    const struct nul_note *z = &nt->nul;
    int shown = (int)(z->len < 64 ? z->len : 64);
    switch (z->at) {
    case NUL_KEY:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field name starting \"%.*s\" %s", shown,
                           z->s, why);
    case NUL_FIELD:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%.*s\" %s", shown, z->s, why);
    case NUL_COL_NAME:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "column \"%.64s\" of \"%s\" %s", z->s, z->list,
                           why);
    case NUL_COL_INDEX:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "column %zu of \"%s\" %s", z->index, z->list, why);
    case NUL_ROW:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "row %zu of the pack %s", z->index, why);
    default: /* between tokens */
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON, "event %s", why);
    }
}

/* A string field: absent or null is fine unless required. */
static int check_str(const struct notes *nt, enum field f, bool required,
                     struct cdc_err *err)
{
    enum jtype t = nt->type[f];
    if ((t == J_ABSENT || t == J_NULL) && required)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event has no \"%s\"", field_names[f]);
    if (t != J_ABSENT && t != J_NULL && t != J_STRING)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%s\" is not a string",
                           field_names[f]);
    return CDC_OK;
}

/* A list field: absent or null is an empty list. */
static int check_list(const struct notes *nt, enum field f,
                      struct cdc_err *err)
{
    enum jtype t = nt->type[f];
    if (t == J_ABSENT || t == J_NULL)
        return CDC_OK;
    if (t != J_ARRAY)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%s\" is not a list",
                           field_names[f]);
    if (f == F_KEY || f == F_UNCHANGED) {
        if (nt->names_bad[f - F_KEY])
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "event field \"%s\" holds a non-string",
                               field_names[f]);
        return CDC_OK;
    }
    const struct col_note *bad = &nt->cols[f - F_COLUMNS];
    switch (bad->fault) {
    case COL_NO_NAME:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "column %zu of \"%s\" has no name", bad->index,
                           field_names[f]);
    case COL_BAD_TYPE:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "column \"%.64s\" of \"%s\": type is not a "
                           "string",
                           bad->name, field_names[f]);
    case COL_BAD_VALUE:
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "column \"%.64s\" of \"%s\": value is not a "
                           "string or null",
                           bad->name, field_names[f]);
    default:
        return CDC_OK;
    }
}

/* Judges the pack fields of an event read by read_event() (whose other
 * fields passed), and points its row at the pack's first. */
static int check_pack(struct cdc_event *ev, const struct notes *nt,
                      struct cdc_err *err)
{
    if (nt->type[F_ROWS] == J_ABSENT) {
        if (nt->type[F_NAMES] != J_ABSENT || nt->type[F_TYPES] != J_ABSENT)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "event has \"names\" or \"types\" but no "
                               "\"rows\"");
        return CDC_OK;
    }
    if (nt->type[F_ROWS] != J_ARRAY)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"rows\" is not a list");
    for (enum field f = F_NAMES; f <= F_TYPES; f++) {
        if (nt->type[f] != J_ARRAY || nt->pk_bad[f - F_NAMES])
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "pack field \"%s\" is not a list of "
                               "strings",
                               field_names[f]);
    }
    size_t ncol = nt->pk_n[0];
    if (ncol == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "pack has no \"names\"");
    if (nt->pk_n[1] != ncol)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "pack has %zu \"types\" for %zu \"names\"",
                           nt->pk_n[1], ncol);
    if (ev->ncols > 0 || ev->nold > 0 || ev->nunchanged > 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "pack has \"columns\", \"old\" or "
                           "\"unchanged\", which a pack cannot carry");
    if (ev->op != CDC_OP_INSERT && ev->op != CDC_OP_UPDATE &&
        ev->op != CDC_OP_DELETE && ev->op != CDC_OP_COPY)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "%s changes cannot travel in a pack",
                           cdc_op_name(ev->op));
    if (nt->nrows == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "pack has no rows");
    if (nt->bad_row > 0 && nt->bad_val == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "row %zu of the pack is not a list",
                           nt->bad_row - 1);
    if (nt->bad_row > 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "row %zu of the pack: value %zu is not a string "
                           "or null",
                           nt->bad_row - 1, nt->bad_val - 1);
    for (size_t i = 0; i < nt->nrows; i++) {
        if (nt->row_len[i] != ncol)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "row %zu of the pack has %zu values for %zu "
                               "names",
                               i, nt->row_len[i], ncol);
    }
    if ((uint64_t)ev->tx_index + nt->nrows - 1 > UINT32_MAX)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "pack's rows run past the largest tx_index");
    return CDC_OK;
}

/* The events of a pack that passed check_pack(), in the arena: ev with
 * each row in turn. */
static struct cdc_event *expand_pack(const struct cdc_event *ev,
                                     const struct notes *nt,
                                     struct cdc_arena *arena)
{
    size_t ncol = nt->pk_n[0];
    size_t n = nt->nrows;
    struct cdc_event *evs = cdc_arena_alloc(arena, n * sizeof(*evs));
    struct cdc_col *cols = nt->vals; /* values in place, names added */
    for (size_t i = 0; i < n; i++) {
        struct cdc_col *row = cols + i * ncol;
        for (size_t j = 0; j < ncol; j++) {
            row[j].name = nt->pk_list[0][j];
            row[j].type = nt->pk_list[1][j];
        }
        evs[i] = *ev;
        evs[i].tx_index = ev->tx_index + (uint32_t)i;
        evs[i].tx_end = i + 1 == n && ev->tx_end;
        if (ev->op == CDC_OP_DELETE) {
            evs[i].old = row;
            evs[i].nold = ncol;
        } else {
            evs[i].cols = row;
            evs[i].ncols = ncol;
        }
    }
    return evs;
}

/* Judges an event read by read_event(), giving the first error in rank
 * order, and fills in the fields that need it. */
static int check_event(struct cdc_event *ev, const struct notes *nt,
                       struct cdc_err *err)
{
    int rc = CDC_OK;
    if (nt->type[F_V] != J_NUMBER) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event has no version field \"v\"");
        goto out;
    }
    if (nt->v != CDC_EVENT_VERSION) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event version %g is not supported (expected %d)",
                         nt->v, CDC_EVENT_VERSION);
        goto out;
    }
    if (nt->nul.at != NUL_NONE || nt->ws_nul) {
        rc = nul_error(nt, err);
        goto out;
    }
    if (nt->type[F_OP] != J_STRING ||
        cdc_op_parse(nt->op, &ev->op) != CDC_OK) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event has no valid \"op\"");
        goto out;
    }
    bool needs_table = ev->op != CDC_OP_DDL;
    rc = check_str(nt, F_SOURCE, true, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_SCHEMA, needs_table, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_TABLE, needs_table, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_POSITION, true, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_COMMIT_TIME, false, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_DDL, false, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_OBJECT, false, err);
    if (rc == CDC_OK)
        rc = check_str(nt, F_SEARCH_PATH, false, err);
    for (enum field f = F_KEY; f <= F_OLD && rc == CDC_OK; f++)
        rc = check_list(nt, f, err);
    if (rc != CDC_OK)
        goto out;

    if (nt->type[F_TX_INDEX] != J_ABSENT) {
        int64_t n = 0;
        if (nt->type[F_TX_INDEX] != J_NUMBER ||
            !get_int(nt->tx_index, 0, UINT32_MAX, &n)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"tx_index\" is not a valid index: "
                             "it must be an integer from 0 to %" PRIu32,
                             UINT32_MAX);
            goto out;
        }
        ev->tx_index = (uint32_t)n;
    }
    if (nt->type[F_TX_END] != J_ABSENT && nt->type[F_TX_END] != J_BOOL) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event field \"tx_end\" is not a boolean");
        goto out;
    }
    if (nt->type[F_TXID] != J_ABSENT && nt->type[F_TXID] != J_NULL) {
        if (nt->type[F_TXID] != J_NUMBER) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"txid\" is not a number");
            goto out;
        }
        if (!get_int(nt->txid, -JSON_SAFE_INT_MAX, JSON_SAFE_INT_MAX,
                     &ev->txid)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"txid\" is not an integer of at "
                             "most %.0f in magnitude, which is all a JSON "
                             "number carries exactly",
                             JSON_SAFE_INT_MAX);
            goto out;
        }
        ev->has_txid = true;
    }
    rc = check_pack(ev, nt, err);
    if (rc != CDC_OK)
        goto out;
    if ((ev->op == CDC_OP_INSERT || ev->op == CDC_OP_COPY) &&
        ev->ncols == 0 && nt->type[F_ROWS] == J_ABSENT) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "%s event for \"%.64s\".\"%.64s\" has no columns",
                         cdc_op_name(ev->op), ev->schema, ev->table);
        goto out;
    }
    if (ev->op == CDC_OP_DDL && ev->ddl == NULL) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "DDL event has no statement");
        goto out;
    }
out:
    return rc;
}

static bool only_ws(const char *s, const char *end)
{
    for (; s < end; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    }
    return true;
}

/* Decodes the one object of a message into ev (a pack's header and first
 * row) and nt. */
static int decode_object(const char *text, size_t len,
                         struct cdc_arena *arena, struct cdc_event *ev,
                         struct notes *nt, struct cdc_err *err)
{
    struct dec d;
    memset(ev, 0, sizeof(*ev));
    memset(nt, 0, sizeof(*nt));
    if (len == 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message is not a JSON object");
    dec_init(&d, text, len, arena);
    /* as in cJSON, a UTF-8 byte order mark is skipped if more follows */
    if (len >= 5 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        d.p += 3;
    dec_ws(&d);
    if (type_at(&d) != J_OBJECT || !read_event(&d, ev, nt))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message is not a JSON object");
    /* one message is one object: a second one after it would be lost */
    if (!only_ws(d.p, d.end))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message has unexpected data after the event at "
                           "byte %zu",
                           (size_t)(d.p - text));
    nt->ws_nul = d.ws_nul;
    return check_event(ev, nt, err);
}

int cdc_event_decode(const void *data, size_t len, struct cdc_arena *arena,
                     struct cdc_event *ev, struct cdc_err *err)
{
    struct notes nt;
    int rc = decode_object(data, len, arena, ev, &nt, err);
    if (rc != CDC_OK || nt.type[F_ROWS] == J_ABSENT)
        return rc;
    if (nt.nrows != 1)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message packs %zu events where one was expected",
                           nt.nrows);
    *ev = expand_pack(ev, &nt, arena)[0];
    return CDC_OK;
}

/* A message that is a JSON array of objects, each an event or a pack:
 * their events in order, in the arena. */
static int decode_array(const char *text, size_t len, struct cdc_arena *arena,
                        struct cdc_event **evs, size_t *n,
                        struct cdc_err *err)
{
    struct dec d;
    struct list l;
    dec_init(&d, text, len, arena);
    list_init_arena(&d, &l, 16, sizeof(struct cdc_event));
    dec_ws(&d);
    if (!dec_open(&d))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message is not a JSON array of events");
    bool more = !dec_empty(&d, ']');
    if (!more)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message is an empty list of events");
    for (size_t k = 1; more; k++) {
        dec_ws(&d);
        if (d.ws_nul)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "message contains a NUL character, which is "
                               "not supported");
        if (type_at(&d) != J_OBJECT)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "object %zu of the message is not a JSON "
                               "object",
                               k);
        struct cdc_event ev;
        struct notes nt;
        d.ws_nul = false;
        if (!read_event(&d, &ev, &nt))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "message is not a JSON array of events");
        nt.ws_nul = d.ws_nul;
        int rc = check_event(&ev, &nt, err);
        if (rc != CDC_OK) {
            cdc_err_prefix(err, "object %zu of the message", k);
            return rc;
        }
        if (nt.type[F_ROWS] == J_ABSENT) {
            *(struct cdc_event *)list_add(&d, &l) = ev;
        } else {
            const struct cdc_event *rows = expand_pack(&ev, &nt, arena);
            for (size_t i = 0; i < nt.nrows; i++)
                *(struct cdc_event *)list_add(&d, &l) = rows[i];
        }
        d.ws_nul = false;
        if (!dec_next(&d, ']', &more))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "message is not a JSON array of events");
        if (d.ws_nul)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "message contains a NUL character, which is "
                               "not supported");
    }
    if (!only_ws(d.p, d.end))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "message has unexpected data after the events at "
                           "byte %zu",
                           (size_t)(d.p - text));
    *evs = (struct cdc_event *)(void *)l.items;
    *n = l.n;
    return CDC_OK;
}

int cdc_event_decode_msg(const void *data, size_t len, struct cdc_arena *arena,
                         struct cdc_event **evs, size_t *n,
                         struct cdc_err *err)
{
    struct cdc_event ev;
    struct notes nt;
    *evs = NULL;
    *n = 0;
    const char *text = data;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' ||
                       text[i] == '\r'))
        i++;
    if (i < len && text[i] == '[')
        return decode_array(text, len, arena, evs, n, err);
    int rc = decode_object(data, len, arena, &ev, &nt, err);
    if (rc != CDC_OK)
        return rc;
    if (nt.type[F_ROWS] == J_ABSENT) {
        *evs = cdc_arena_alloc(arena, sizeof(ev));
        **evs = ev;
        *n = 1;
        return CDC_OK;
    }
    *evs = expand_pack(&ev, &nt, arena);
    *n = nt.nrows;
    return CDC_OK;
}

static struct cdc_col *copy_cols(const struct cdc_col *src, size_t n,
                                 struct cdc_arena *a)
{
    struct cdc_col *cols = cdc_arena_alloc(a, sizeof(*cols) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        cols[i].name = cdc_arena_strdup(a, src[i].name);
        cols[i].type = src[i].type ? cdc_arena_strdup(a, src[i].type) : NULL;
        cols[i].value = src[i].value ? cdc_arena_strndup(a, src[i].value,
                                                         src[i].value_len)
                                     : NULL;
        cols[i].value_len = src[i].value_len;
    }
    return cols;
}

static const char **copy_names(const char *const *src, size_t n,
                               struct cdc_arena *a)
{
    const char **names = cdc_arena_alloc(a, sizeof(*names) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        names[i] = cdc_arena_strdup(a, src[i]);
    return names;
}

static const char *copy_opt(const char *s, struct cdc_arena *a)
{
    return s ? cdc_arena_strdup(a, s) : NULL;
}

struct cdc_event *cdc_event_copy(const struct cdc_event *ev,
                                 struct cdc_arena *arena)
{
    struct cdc_event *c = cdc_arena_alloc(arena, sizeof(*c));
    *c = *ev;
    c->source = copy_opt(ev->source, arena);
    c->schema = copy_opt(ev->schema, arena);
    c->table = copy_opt(ev->table, arena);
    c->position = copy_opt(ev->position, arena);
    c->commit_time = copy_opt(ev->commit_time, arena);
    c->ddl = copy_opt(ev->ddl, arena);
    c->object = copy_opt(ev->object, arena);
    c->search_path = copy_opt(ev->search_path, arena);
    c->cols = copy_cols(ev->cols, ev->ncols, arena);
    c->old = copy_cols(ev->old, ev->nold, arena);
    c->key = copy_names(ev->key, ev->nkey, arena);
    c->unchanged = copy_names(ev->unchanged, ev->nunchanged, arena);
    return c;
}

/* A binlog position "<file>:<offset>": the file's name and the offset;
 * false for another form. */
static bool binlog_pos_split(const char *p, size_t *file_len, uint64_t *off)
{
    const char *colon = strrchr(p, ':');
    if (colon == NULL || colon == p || colon[1] == '\0')
        return false;
    uint64_t v = 0;
    for (const char *d = colon + 1; *d; d++) {
        if (*d < '0' || *d > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    *file_len = (size_t)(colon - p);
    *off = v;
    return true;
}

/* Binlog files are numbered "base.000001", "base.000002" ... and the
 * number grows a digit past 999999: a longer name is a later file. */
static bool binlog_pos_cmp(const char *a, const char *b, int *c)
{
    size_t la = 0;
    size_t lb = 0;
    uint64_t oa = 0;
    uint64_t ob = 0;
    if (!binlog_pos_split(a, &la, &oa) || !binlog_pos_split(b, &lb, &ob))
        return false;
    if (la != lb)
        *c = la < lb ? -1 : 1;
    else if ((*c = memcmp(a, b, la)) == 0)
        *c = oa < ob ? -1 : oa > ob ? 1 : 0;
    return true;
}

int cdc_position_cmp(const char *source, const char *a, uint32_t a_index,
                     const char *b, uint32_t b_index)
{
    int c = 0;
    uint64_t la = 0;
    uint64_t lb = 0;
    if (source != NULL && strcmp(source, "postgres") == 0 &&
        cdc_lsn_parse(a, &la) == CDC_OK && cdc_lsn_parse(b, &lb) == CDC_OK) {
        c = la < lb ? -1 : la > lb ? 1 : 0;
    } else if (source != NULL && strcmp(source, "mysql") == 0 &&
               binlog_pos_cmp(a, b, &c)) {
        /* binlog file and offset */
    } else {
        c = strcmp(a, b);
    }
    if (c != 0)
        return c < 0 ? -1 : 1;
    return a_index < b_index ? -1 : a_index > b_index ? 1 : 0;
}

/*
 * event.c: the change event's two JSON forms. The bus form (version 1) is
 * what the replicator publishes and the worker reads: values are the
 * source's exact text with their type names beside them. The natural form
 * is for people and JSON stores: row and old as name -> value objects,
 * numbers, booleans and JSON values typed where that is lossless. Encoding
 * is hand-written for speed, and json/jsonb values are embedded only after
 * a strict RFC 8259 check of our own; decoding uses cJSON and copies into
 * an arena, rejecting anything malformed with a reason (it comes from the
 * network). Decoding never changes a value: integers that a double cannot
 * hold exactly and strings holding a NUL character are refused instead.
 */
#include "common/common.h"

#include <cJSON.h>
#include <inttypes.h>
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
    if (rc == CDC_OK && ev->ddl != NULL)
        rc = put_str_field(out, "ddl", ev->ddl);
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
    if (rc == CDC_OK && ev->ddl != NULL)
        rc = put_str_field(out, "ddl", ev->ddl);
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

/* cJSON reads every number into a double, so an integer is known exactly
 * only while its magnitude is below 2^53: 2^53 + 1 reads as 2^53. Integer
 * fields accept that range or less, and the double is compared with the
 * bounds before it is converted, so NaN, infinities and out-of-range values
 * never reach a conversion (which would be undefined). */
#define JSON_SAFE_INT_MAX 9007199254740991.0 /* 2^53 - 1 */

static bool get_int(const cJSON *it, double min, double max, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return false;
    double d = it->valuedouble;
    if (!(d >= min && d <= max))
        return false;
    int64_t v = (int64_t)d;
    if ((double)v != d)
        return false; /* has a fraction */
    *out = v;
    return true;
}

/* True if the message holds a NUL character, as a raw byte or as a \u0000
 * escape. cJSON ends its strings at a NUL, so such a value would come back
 * cut short. Runs for every event: one memchr pass for the raw byte and
 * one over the backslashes, each backslash looked at once. Only valid for
 * text cJSON has parsed, where every backslash is inside a string. */
static bool has_nul(const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return true;
    const char *end = s + len;
    const char *p = s;
    while (p < end) {
        p = memchr(p, '\\', (size_t)(end - p));
        if (p == NULL)
            return false;
        const char *run = p;
        while (p < end && *p == '\\')
            p++;
        /* an even run is escaped backslashes; an odd one ends in an escape */
        if ((p - run) % 2 == 1 && end - p >= 5 && memcmp(p, "u0000", 5) == 0)
            return true;
    }
    return false;
}

/* Replaces, in place, every NUL character of a JSON text (raw, or a \u0000
 * escape) with U+0001, which cJSON keeps. */
static void replace_nul(char *s, size_t len)
{
    char *end = s + len;
    for (char *p = s; p < end; p++) {
        if (*p == '\0') {
            *p = '\1';
        } else if (*p == '\\') {
            char *run = p;
            while (p + 1 < end && p[1] == '\\')
                p++;
            if ((p - run) % 2 == 0 && end - p > 5 &&
                memcmp(p + 1, "u0000", 5) == 0)
                p[5] = '1';
        }
    }
}

/* True if a key or string at or under a was cut at a NUL: b is the same
 * item parsed with the NULs replaced, where it is longer. */
static bool str_cut(const char *a, const char *b)
{
    return a != NULL && b != NULL && strlen(a) != strlen(b);
}

static bool item_cut(const cJSON *a, const cJSON *b)
{
    if (str_cut(a->string, b->string) ||
        (cJSON_IsString(a) && str_cut(a->valuestring, b->valuestring)))
        return true;
    /* recursion is bounded by cJSON's nesting limit */
    for (a = a->child, b = b->child; a != NULL && b != NULL;
         a = a->next, b = b->next) {
        if (item_cut(a, b))
            return true;
    }
    return false;
}

/* Rejects a message that holds a NUL character, naming the field when it
 * can. Rare, so it may be slow: it parses a copy with the NULs replaced
 * and walks both trees side by side (the replacement keeps their shape)
 * to find the string that cJSON cut. */
static int reject_nul(const char *data, size_t len, const cJSON *root,
                      struct cdc_err *err)
{
    static const char why[] = "contains a NUL character, which is not "
                              "supported";
    char *copy = cdc_try_alloc(len, CDC_BUF_DEFAULT_LIMIT);
    cJSON *shadow = NULL;
    int rc = CDC_OK;
    if (copy != NULL) {
        memcpy(copy, data, len);
        replace_nul(copy, len);
        shadow = cJSON_ParseWithLength(copy, len);
    }
    const cJSON *a = root->child;
    const cJSON *b = shadow != NULL ? shadow->child : NULL;
    for (; rc == CDC_OK && a != NULL && b != NULL; a = a->next, b = b->next) {
        if (str_cut(a->string, b->string)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field name starting \"%.64s\" %s",
                             a->string, why);
        } else if (!item_cut(a, b)) {
            continue;
        } else if (cJSON_IsArray(a) && (strcmp(a->string, "columns") == 0 ||
                                        strcmp(a->string, "old") == 0)) {
            const cJSON *ca = a->child;
            const cJSON *cb = b->child;
            size_t i = 0;
            while (ca != NULL && cb != NULL && !item_cut(ca, cb)) {
                ca = ca->next;
                cb = cb->next;
                i++;
            }
            const cJSON *na = cJSON_GetObjectItemCaseSensitive(ca, "name");
            const cJSON *nb = cJSON_GetObjectItemCaseSensitive(cb, "name");
            if (cJSON_IsString(na) && cJSON_IsString(nb) &&
                !str_cut(na->valuestring, nb->valuestring))
                rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                                 "column \"%.64s\" of \"%s\" %s",
                                 na->valuestring, a->string, why);
            else
                rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                                 "column %zu of \"%s\" %s", i, a->string,
                                 why);
        } else {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"%.64s\" %s", a->string, why);
        }
    }
    /* not found (a NUL between tokens), or the copy could not be made */
    if (rc == CDC_OK)
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON, "event %s", why);
    cJSON_Delete(shadow);
    cdc_free(copy);
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

static const char *dup_str(struct cdc_arena *a, const cJSON *item)
{
    return cdc_arena_strdup(a, item->valuestring);
}

/* Reads an optional string field: absent -> NULL; wrong type -> error. */
static int get_str(const cJSON *obj, const char *key, bool required,
                   struct cdc_arena *a, const char **out, struct cdc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (it == NULL || cJSON_IsNull(it)) {
        if (required)
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "event has no \"%s\"", key);
        return CDC_OK;
    }
    if (!cJSON_IsString(it))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%s\" is not a string", key);
    *out = dup_str(a, it);
    return CDC_OK;
}

static int get_names(const cJSON *obj, const char *key, struct cdc_arena *a,
                     const char ***out, size_t *n, struct cdc_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    *n = 0;
    if (arr == NULL || cJSON_IsNull(arr))
        return CDC_OK;
    if (!cJSON_IsArray(arr))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%s\" is not a list", key);
    size_t count = (size_t)cJSON_GetArraySize(arr);
    const char **names = cdc_arena_alloc(a, sizeof(*names) * (count + 1));
    size_t i = 0;
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "event field \"%s\" holds a non-string", key);
        names[i++] = dup_str(a, it);
    }
    *out = names;
    *n = i;
    return CDC_OK;
}

static int get_cols(const cJSON *obj, const char *key, struct cdc_arena *a,
                    struct cdc_col **out, size_t *n, struct cdc_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    *n = 0;
    if (arr == NULL || cJSON_IsNull(arr))
        return CDC_OK;
    if (!cJSON_IsArray(arr))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "event field \"%s\" is not a list", key);
    size_t count = (size_t)cJSON_GetArraySize(arr);
    struct cdc_col *cols = cdc_arena_alloc(a, sizeof(*cols) * (count + 1));
    size_t i = 0;
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!cJSON_IsObject(it) || !cJSON_IsString(name))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "column %zu of \"%s\" has no name", i, key);
        if (type != NULL && !cJSON_IsString(type))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "column \"%.64s\" of \"%s\": type is not a "
                               "string",
                               name->valuestring, key);
        struct cdc_col *c = &cols[i++];
        c->name = dup_str(a, name);
        c->type = type ? dup_str(a, type) : "";
        if (value == NULL || cJSON_IsNull(value)) {
            c->value = NULL;
            c->value_len = 0;
        } else if (cJSON_IsString(value)) {
            c->value_len = strlen(value->valuestring);
            c->value = cdc_arena_strndup(a, value->valuestring, c->value_len);
        } else {
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "column \"%.64s\" of \"%s\": value is not a "
                               "string or null",
                               name->valuestring, key);
        }
    }
    *out = cols;
    *n = i;
    return CDC_OK;
}

int cdc_event_decode(const void *data, size_t len, struct cdc_arena *arena,
                     struct cdc_event *ev, struct cdc_err *err)
{
    int rc = CDC_OK;
    memset(ev, 0, sizeof(*ev));
    const char *text = data;
    const char *rest = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &rest, false);
    if (root == NULL || !cJSON_IsObject(root)) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "message is not a JSON object");
        goto out;
    }
    /* cJSON stops after the first value; one message is one event */
    if (!only_ws(rest, text + len)) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "message has unexpected data after the event at "
                         "byte %zu",
                         (size_t)(rest - text));
        goto out;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsNumber(v)) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event has no version field \"v\"");
        goto out;
    }
    if (v->valuedouble != CDC_EVENT_VERSION) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event version %g is not supported (expected %d)",
                         v->valuedouble, CDC_EVENT_VERSION);
        goto out;
    }
    if (has_nul(text, len)) {
        rc = reject_nul(text, len, root, err);
        goto out;
    }
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!cJSON_IsString(op) || cdc_op_parse(op->valuestring, &ev->op) != 0) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "event has no valid \"op\"");
        goto out;
    }
    bool needs_table = ev->op != CDC_OP_DDL;
    rc = get_str(root, "source", true, arena, &ev->source, err);
    if (rc == CDC_OK)
        rc = get_str(root, "schema", needs_table, arena, &ev->schema, err);
    if (rc == CDC_OK)
        rc = get_str(root, "table", needs_table, arena, &ev->table, err);
    if (rc == CDC_OK)
        rc = get_str(root, "position", true, arena, &ev->position, err);
    if (rc == CDC_OK)
        rc = get_str(root, "commit_time", false, arena, &ev->commit_time,
                     err);
    if (rc == CDC_OK)
        rc = get_str(root, "ddl", false, arena, &ev->ddl, err);
    if (rc == CDC_OK)
        rc = get_names(root, "key", arena, &ev->key, &ev->nkey, err);
    if (rc == CDC_OK)
        rc = get_names(root, "unchanged", arena, &ev->unchanged,
                       &ev->nunchanged, err);
    if (rc == CDC_OK)
        rc = get_cols(root, "columns", arena, &ev->cols, &ev->ncols, err);
    if (rc == CDC_OK)
        rc = get_cols(root, "old", arena, &ev->old, &ev->nold, err);
    if (rc != CDC_OK)
        goto out;

    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(root, "tx_index");
    if (idx != NULL) {
        int64_t n = 0;
        if (!get_int(idx, 0, UINT32_MAX, &n)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"tx_index\" is not a valid index: "
                             "it must be an integer from 0 to %" PRIu32,
                             UINT32_MAX);
            goto out;
        }
        ev->tx_index = (uint32_t)n;
    }
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(root, "tx_end");
    if (end != NULL) {
        if (!cJSON_IsBool(end)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"tx_end\" is not a boolean");
            goto out;
        }
        ev->tx_end = cJSON_IsTrue(end);
    }
    const cJSON *txid = cJSON_GetObjectItemCaseSensitive(root, "txid");
    if (txid != NULL && !cJSON_IsNull(txid)) {
        if (!cJSON_IsNumber(txid)) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"txid\" is not a number");
            goto out;
        }
        if (!get_int(txid, -JSON_SAFE_INT_MAX, JSON_SAFE_INT_MAX,
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
    if ((ev->op == CDC_OP_INSERT || ev->op == CDC_OP_COPY) &&
        ev->ncols == 0) {
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
    cJSON_Delete(root);
    return rc;
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
    c->cols = copy_cols(ev->cols, ev->ncols, arena);
    c->old = copy_cols(ev->old, ev->nold, arena);
    c->key = copy_names(ev->key, ev->nkey, arena);
    c->unchanged = copy_names(ev->unchanged, ev->nunchanged, arena);
    return c;
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
    } else {
        c = strcmp(a, b);
    }
    if (c != 0)
        return c < 0 ? -1 : 1;
    return a_index < b_index ? -1 : a_index > b_index ? 1 : 0;
}

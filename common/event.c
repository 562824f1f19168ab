/*
 * event.c: the change event's two JSON forms. The bus form (version 1) is
 * what the replicator publishes and the worker reads: values are the
 * source's exact text with their type names beside them. The natural form
 * is for people and JSON stores: row and old as name -> value objects,
 * numbers, booleans and JSON values typed where that is lossless. Encoding
 * is hand-written for speed; decoding uses cJSON and copies into an arena,
 * rejecting anything malformed with a reason (it comes from the network).
 */
#include "common/common.h"

#include <cJSON.h>
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

/* ==== Natural form ==== */

static bool type_in(const char *type, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (strcmp(type, *list) == 0)
            return true;
    }
    return false;
}

/* Strict JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == len;
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
    if (type_in(type, json_types)) {
        /* embed only what parses, so one bad value cannot break the line */
        cJSON *j = cJSON_ParseWithLength(c->value, c->value_len);
        if (j != NULL) {
            cJSON_Delete(j);
            return cdc_buf_append(b, c->value, c->value_len);
        }
    }
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
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                         "message is not a JSON object");
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
        if (!cJSON_IsNumber(idx) || idx->valuedouble < 0 ||
            idx->valuedouble > 4294967295.0) {
            rc = cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                             "event field \"tx_index\" is not a valid index");
            goto out;
        }
        ev->tx_index = (uint32_t)idx->valuedouble;
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
        ev->has_txid = true;
        ev->txid = (int64_t)txid->valuedouble;
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

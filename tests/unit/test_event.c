/*
 * test_event.c: unit tests of the change event (common/event.c): the bus
 * form written by cdc_event_encode and read back by cdc_event_decode for
 * every operation, the exact JSON of small events, rejection of malformed
 * input with a reason, the natural form used by sinks for people, deep
 * copies into an arena, the order of positions and the operation names.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "common/common.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Helpers ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so buffers, arenas and heap blocks come from here and teardown
 * releases whatever is left, keeping LeakSanitizer quiet about tests that
 * fail. */
#define POOL 8
#define MAX_MEM 16
static struct {
    struct cdc_buf buf[POOL];
    bool buf_used[POOL];
    struct cdc_arena arena[POOL];
    bool arena_used[POOL];
    void *mem[MAX_MEM];
    cJSON *json[POOL];
} fx;

static struct cdc_buf *new_buf(size_t limit)
{
    for (int i = 0; i < POOL; i++) {
        if (!fx.buf_used[i]) {
            fx.buf_used[i] = true;
            cdc_buf_init(&fx.buf[i], limit);
            return &fx.buf[i];
        }
    }
    fail_msg("%s", "out of test buffers");
    return NULL;
}

static void drop_buf(struct cdc_buf *b)
{
    cdc_buf_release(b);
    fx.buf_used[b - fx.buf] = false;
}

static struct cdc_arena *new_arena(void)
{
    for (int i = 0; i < POOL; i++) {
        if (!fx.arena_used[i]) {
            fx.arena_used[i] = true;
            cdc_arena_init(&fx.arena[i]);
            return &fx.arena[i];
        }
    }
    fail_msg("%s", "out of test arenas");
    return NULL;
}

static void drop_arena(struct cdc_arena *a)
{
    cdc_arena_release(a);
    fx.arena_used[a - fx.arena] = false;
}

/* Takes a heap block (malloc or cdc_buf_detach) for teardown to free. */
static void *keep_mem(void *p)
{
    assert_non_null(p);
    for (int i = 0; i < MAX_MEM; i++) {
        if (fx.mem[i] == NULL) {
            fx.mem[i] = p;
            return p;
        }
    }
    cdc_free(p);
    fail_msg("%s", "out of test memory slots");
    return NULL;
}

static void drop_mem(void *p)
{
    for (int i = 0; i < MAX_MEM; i++) {
        if (fx.mem[i] == p)
            fx.mem[i] = NULL;
    }
    cdc_free(p);
}

static cJSON *keep_json(cJSON *j)
{
    for (int i = 0; i < POOL; i++) {
        if (fx.json[i] == NULL) {
            fx.json[i] = j;
            return j;
        }
    }
    cJSON_Delete(j);
    fail_msg("%s", "out of test JSON slots");
    return NULL;
}

static void drop_json(cJSON *j)
{
    for (int i = 0; i < POOL; i++) {
        if (fx.json[i] == j)
            fx.json[i] = NULL;
    }
    cJSON_Delete(j);
}

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < POOL; i++) {
        if (fx.buf_used[i])
            cdc_buf_release(&fx.buf[i]);
        if (fx.arena_used[i])
            cdc_arena_release(&fx.arena[i]);
        cJSON_Delete(fx.json[i]);
    }
    for (int i = 0; i < MAX_MEM; i++)
        cdc_free(fx.mem[i]);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

static struct cdc_col col(const char *name, const char *type,
                          const char *value)
{
    struct cdc_col c = {.name = name,
                        .type = type,
                        .value = value,
                        .value_len = value ? strlen(value) : 0};
    return c;
}

/* Both NULL, or both set and equal. */
static void assert_opt_str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        assert_null(a);
        assert_null(b);
        return;
    }
    assert_string_equal(a, b);
}

/* A column's type is written as "" when it has none, so NULL and "" are the
 * same thing on the bus. */
static const char *type_or_empty(const char *type)
{
    return type ? type : "";
}

static void assert_cols_equal(const struct cdc_col *a, size_t na,
                              const struct cdc_col *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_non_null(a[i].name);
        assert_non_null(b[i].name);
        assert_string_equal(a[i].name, b[i].name);
        assert_string_equal(type_or_empty(a[i].type),
                            type_or_empty(b[i].type));
        if (a[i].value == NULL || b[i].value == NULL) {
            assert_null(a[i].value);
            assert_null(b[i].value);
            continue;
        }
        assert_int_equal(a[i].value_len, b[i].value_len);
        assert_memory_equal(a[i].value, b[i].value, a[i].value_len);
        /* values are NUL-terminated as well */
        assert_int_equal(b[i].value[b[i].value_len], '\0');
    }
}

static void assert_names_equal(const char *const *a, size_t na,
                               const char *const *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

/* Field by field: every field of the bus form. */
static void assert_events_equal(const struct cdc_event *a,
                                const struct cdc_event *b)
{
    assert_int_equal(a->op, b->op);
    assert_opt_str_equal(a->source, b->source);
    assert_opt_str_equal(a->schema, b->schema);
    assert_opt_str_equal(a->table, b->table);
    assert_cols_equal(a->cols, a->ncols, b->cols, b->ncols);
    assert_cols_equal(a->old, a->nold, b->old, b->nold);
    assert_names_equal(a->key, a->nkey, b->key, b->nkey);
    assert_names_equal(a->unchanged, a->nunchanged, b->unchanged,
                       b->nunchanged);
    assert_opt_str_equal(a->position, b->position);
    assert_int_equal(a->tx_index, b->tx_index);
    assert_int_equal(a->tx_end, b->tx_end);
    assert_int_equal(a->has_txid, b->has_txid);
    if (a->has_txid)
        assert_int_equal(a->txid, b->txid);
    assert_opt_str_equal(a->commit_time, b->commit_time);
    assert_opt_str_equal(a->ddl, b->ddl);
}

static void assert_valid_json(const char *s, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(s, len);
    assert_non_null(j);
    cJSON_Delete(j);
}

/* Encodes ev, checks the output is one valid JSON object, decodes it and
 * compares every field with ev. */
static void roundtrip(const struct cdc_event *ev)
{
    struct cdc_buf *buf = new_buf(0);
    struct cdc_arena *arena = new_arena();
    struct cdc_event back;
    struct cdc_err err = {0};

    assert_int_equal(cdc_event_encode(ev, buf), CDC_OK);
    assert_non_null(buf->data);
    assert_int_equal(strlen(buf->data), buf->len); /* no raw NUL in output */
    assert_int_equal(buf->data[0], '{');
    assert_int_equal(buf->data[buf->len - 1], '}');
    assert_valid_json(buf->data, buf->len);

    int rc = cdc_event_decode(buf->data, buf->len, arena, &back, &err);
    if (rc != CDC_OK)
        fail_msg("decode failed: %s\ninput: %s", err.msg, buf->data);
    assert_events_equal(ev, &back);

    drop_arena(arena);
    drop_buf(buf);
}

/* Decodes a NUL-terminated string, expecting a rejection whose message
 * contains want. The input is copied to an exact-size heap block so that
 * AddressSanitizer sees any read past its end. */
static void expect_reject_len(const char *json, size_t len, const char *want)
{
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    struct cdc_err err = {0};
    char *copy = keep_mem(cdc_xmalloc(len ? len : 1));
    memcpy(copy, json, len);

    int rc = cdc_event_decode(copy, len, arena, &ev, &err);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(err.code, CDC_EPROTO);
    assert_true(err.flags & CDC_ERR_POISON);
    assert_non_null(memchr(err.msg, '\0', sizeof(err.msg)));
    if (want != NULL && strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, want);

    drop_mem(copy);
    drop_arena(arena);
}

static void expect_reject(const char *json, const char *want)
{
    expect_reject_len(json, strlen(json), want);
}

/* Decodes json, which must succeed, into ev backed by arena. */
static void decode_ok(const char *json, struct cdc_arena *arena,
                      struct cdc_event *ev)
{
    struct cdc_err err = {0};
    int rc = cdc_event_decode(json, strlen(json), arena, ev, &err);
    if (rc != CDC_OK)
        fail_msg("decode failed: %s\ninput: %s", err.msg, json);
}

/* Prefix of every valid event used by the rejection tests. */
#define HEAD "\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\"," \
             "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\""
#define COLS "\"columns\":[{\"name\":\"id\",\"type\":\"int4\",\"value\":\"1\"}]"

/* ==== Bus form: exact output ==== */

static void test_encode_insert_exact(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"), col("name", "text", "ann"),
                             col("note", "text", NULL)};
    const char *key[] = {"id"};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "public",
                           .table = "users",
                           .cols = cols,
                           .ncols = NELEMS(cols),
                           .key = key,
                           .nkey = 1,
                           .position = "0/16B3748",
                           .tx_index = 0,
                           .tx_end = true,
                           .has_txid = true,
                           .txid = 735,
                           .commit_time = "2024-05-01T12:00:00.000000Z"};
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode(&ev, buf), CDC_OK);
    assert_string_equal(
        buf->data,
        "{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/16B3748\","
        "\"tx_index\":0,\"tx_end\":true,\"txid\":735,"
        "\"commit_time\":\"2024-05-01T12:00:00.000000Z\",\"key\":[\"id\"],"
        "\"columns\":[{\"name\":\"id\",\"type\":\"int4\",\"value\":\"1\"},"
        "{\"name\":\"name\",\"type\":\"text\",\"value\":\"ann\"},"
        "{\"name\":\"note\",\"type\":\"text\",\"value\":null}]}");
    assert_int_equal(buf->len, strlen(buf->data));
    drop_buf(buf);
}

/* Optional fields left out; type NULL written as ""; escapes in names. */
static void test_encode_minimal_exact(void **state)
{
    (void)state;
    struct cdc_col old[] = {col("a\"b", NULL, "x\\y\n")};
    struct cdc_event ev = {.op = CDC_OP_DELETE,
                           .source = "mysql",
                           .schema = "shop",
                           .table = "t\tab",
                           .old = old,
                           .nold = 1,
                           .position = "binlog.000001:4",
                           .tx_index = 7};
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode(&ev, buf), CDC_OK);
    assert_string_equal(
        buf->data,
        "{\"v\":1,\"op\":\"DELETE\",\"source\":\"mysql\",\"schema\":\"shop\","
        "\"table\":\"t\\tab\",\"position\":\"binlog.000001:4\","
        "\"tx_index\":7,\"tx_end\":false,"
        "\"old\":[{\"name\":\"a\\\"b\",\"type\":\"\",\"value\":\"x\\\\y\\n\"}]}");
    drop_buf(buf);
}

/* An empty string is "", SQL NULL is null, and both come back as such. */
static void test_encode_empty_vs_null(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("e", "text", ""), col("n", "text", NULL)};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "s",
                           .table = "t",
                           .cols = cols,
                           .ncols = 2,
                           .position = "0/1"};
    struct cdc_buf *buf = new_buf(0);
    struct cdc_arena *arena = new_arena();
    struct cdc_event back;
    assert_int_equal(cdc_event_encode(&ev, buf), CDC_OK);
    assert_non_null(strstr(buf->data,
                           "\"columns\":[{\"name\":\"e\",\"type\":\"text\","
                           "\"value\":\"\"},{\"name\":\"n\",\"type\":\"text\","
                           "\"value\":null}]"));
    decode_ok(buf->data, arena, &back);
    assert_int_equal(back.ncols, 2);
    assert_non_null(back.cols[0].value);
    assert_int_equal(back.cols[0].value_len, 0);
    assert_string_equal(back.cols[0].value, "");
    assert_null(back.cols[1].value);
    assert_int_equal(back.cols[1].value_len, 0);
    /* a column without "value" is NULL too */
    struct cdc_event ev2;
    decode_ok("{" HEAD ",\"columns\":[{\"name\":\"x\",\"type\":\"int4\"}]}",
              arena, &ev2);
    assert_int_equal(ev2.ncols, 1);
    assert_null(ev2.cols[0].value);
    drop_arena(arena);
    drop_buf(buf);
}

/* ==== Bus form: round trips ==== */

/* Every control character, quotes, backslashes and multi-byte UTF-8. */
static const char tricky_value[] =
    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
    "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
    " \"quoted\" back\\slash /slash \x7f caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
    "\xf0\x9f\x98\x80 \xe2\x80\xa8";

static void test_roundtrip_insert(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("id", "int8", "9223372036854775807"),
        col("na\"me", "text", tricky_value),
        col("empty", "varchar", ""),
        col("nothing", "text", NULL),
        col("caf\xc3\xa9 \\ \"x\"", "jsonb", "{\"a\": [1, null, \"\\u00e9\"]}"),
        col("n", "numeric", "NaN"),
    };
    const char *key[] = {"id", "na\"me"};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "sch\xc3\xa9ma \"q\"",
                           .table = "t\x01\n",
                           .cols = cols,
                           .ncols = NELEMS(cols),
                           .key = key,
                           .nkey = NELEMS(key),
                           .position = "16/B374D848",
                           .tx_index = 4294967295u,
                           .tx_end = false,
                           .has_txid = true,
                           .txid = 4000000000,
                           .commit_time = "2024-05-01T12:00:00.123456+02:00"};
    roundtrip(&ev);
}

static void test_roundtrip_update(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "42"),
                             col("body", "text", "new \"text\"\n"),
                             col("flag", "bool", "t")};
    struct cdc_col old[] = {col("id", "int4", "41"),
                            col("body", "text", NULL)};
    const char *key[] = {"id"};
    const char *unchanged[] = {"big\"blob", "other"};
    struct cdc_event ev = {.op = CDC_OP_UPDATE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "docs",
                           .cols = cols,
                           .ncols = NELEMS(cols),
                           .old = old,
                           .nold = NELEMS(old),
                           .key = key,
                           .nkey = 1,
                           .unchanged = unchanged,
                           .nunchanged = NELEMS(unchanged),
                           .position = "0/10",
                           .tx_index = 3,
                           .tx_end = true,
                           .has_txid = true,
                           .txid = -5,
                           .commit_time = "2024-05-01 12:00:00+00"};
    roundtrip(&ev);
}

static void test_roundtrip_delete(void **state)
{
    (void)state;
    struct cdc_col old[] = {col("id", "int4", "7"), col("k\\2", "text", "")};
    const char *key[] = {"id", "k\\2"};
    struct cdc_event ev = {.op = CDC_OP_DELETE,
                           .source = "mysql",
                           .schema = "shop",
                           .table = "orders",
                           .old = old,
                           .nold = NELEMS(old),
                           .key = key,
                           .nkey = NELEMS(key),
                           .position = "binlog.000003:1234",
                           .tx_index = 1};
    roundtrip(&ev);
}

static void test_roundtrip_truncate(void **state)
{
    (void)state;
    struct cdc_event ev = {.op = CDC_OP_TRUNCATE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "t\xe2\x82\xac",
                           .position = "0/FFFFFFFF",
                           .tx_end = true,
                           .has_txid = true,
                           .txid = 0};
    roundtrip(&ev);
}

static void test_roundtrip_ddl(void **state)
{
    (void)state;
    struct cdc_event ev = {
        .op = CDC_OP_DDL,
        .source = "mysql",
        .position = "binlog.000001:99",
        .tx_end = true,
        .commit_time = "2024-01-01T00:00:00Z",
        .ddl = "CREATE TABLE \"we\"\"ird\" (\n\tc text DEFAULT 'a\\b'\n)"};
    roundtrip(&ev);
    /* with schema and table too */
    ev.schema = "db";
    ev.table = "t";
    roundtrip(&ev);
}

static void test_roundtrip_copy(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"), col("v", "text", NULL)};
    struct cdc_event ev = {.op = CDC_OP_COPY,
                           .source = "postgres",
                           .schema = "public",
                           .table = "users",
                           .cols = cols,
                           .ncols = NELEMS(cols),
                           .position = "0/0"};
    roundtrip(&ev);
}

/* A decoded event with no optional fields has them empty, not garbage. */
static void test_decode_defaults(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD "," COLS "}", arena, &ev);
    assert_int_equal(ev.op, CDC_OP_INSERT);
    assert_string_equal(ev.source, "postgres");
    assert_string_equal(ev.position, "0/1");
    assert_int_equal(ev.tx_index, 0);
    assert_false(ev.tx_end);
    assert_false(ev.has_txid);
    assert_null(ev.commit_time);
    assert_null(ev.ddl);
    assert_int_equal(ev.nkey, 0);
    assert_int_equal(ev.nunchanged, 0);
    assert_int_equal(ev.nold, 0);
    assert_int_equal(ev.ncols, 1);
    assert_string_equal(ev.cols[0].type, "int4");
    /* null for optional fields means absent; whitespace is fine */
    struct cdc_event ev2;
    decode_ok(" {" HEAD ",\"txid\":null,\"commit_time\":null,\"key\":null,"
              "\"old\":null," COLS "} \n",
              arena, &ev2);
    assert_false(ev2.has_txid);
    assert_null(ev2.commit_time);
    drop_arena(arena);
}

/* ==== Decoding: rejections ==== */

static void test_reject_not_json(void **state)
{
    (void)state;
    expect_reject("hello", "not a JSON object");
    expect_reject("", "not a JSON object");
    expect_reject("{\"v\":1,", "not a JSON object");
}

static void test_reject_json_array(void **state)
{
    (void)state;
    expect_reject("[{" HEAD "," COLS "}]", "not a JSON object");
    expect_reject("\"string\"", "not a JSON object");
    expect_reject("null", "not a JSON object");
    expect_reject("1", "not a JSON object");
}

static void test_reject_missing_version(void **state)
{
    (void)state;
    expect_reject("{\"op\":\"INSERT\",\"source\":\"postgres\",\"schema\":\"s\","
                  "\"table\":\"t\",\"position\":\"0/1\"," COLS "}",
                  "version field \"v\"");
    expect_reject("{\"v\":\"1\",\"op\":\"INSERT\"}", "version field \"v\"");
}

static void test_reject_version_2(void **state)
{
    (void)state;
    expect_reject("{\"v\":2,\"op\":\"INSERT\",\"source\":\"postgres\","
                  "\"schema\":\"s\",\"table\":\"t\",\"position\":\"0/1\"," COLS
                  "}",
                  "event version 2 is not supported (expected 1)");
    expect_reject("{\"v\":0}", "version 0 is not supported");
    expect_reject("{\"v\":1.5}", "version 1.5 is not supported");
}

static void test_reject_unknown_op(void **state)
{
    (void)state;
    expect_reject("{\"v\":1,\"op\":\"UPSERT\",\"source\":\"postgres\","
                  "\"position\":\"0/1\"}",
                  "no valid \"op\"");
    expect_reject("{\"v\":1,\"op\":\"insert\"}", "\"op\"");
    expect_reject("{\"v\":1,\"op\":1}", "\"op\"");
    expect_reject("{\"v\":1}", "\"op\"");
}

static void test_reject_missing_position(void **state)
{
    (void)state;
    expect_reject("{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
                  "\"schema\":\"s\",\"table\":\"t\"," COLS "}",
                  "event has no \"position\"");
    expect_reject("{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
                  "\"schema\":\"s\",\"table\":\"t\",\"position\":5," COLS "}",
                  "\"position\" is not a string");
}

static void test_reject_insert_without_columns(void **state)
{
    (void)state;
    expect_reject("{" HEAD "}",
                  "INSERT event for \"public\".\"users\" has no columns");
    expect_reject("{" HEAD ",\"columns\":[]}", "has no columns");
    expect_reject("{\"v\":1,\"op\":\"COPY\",\"source\":\"postgres\","
                  "\"schema\":\"public\",\"table\":\"users\","
                  "\"position\":\"0/1\"}",
                  "COPY event for \"public\".\"users\" has no columns");
}

static void test_reject_column_value_number(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"columns\":[{\"name\":\"id\",\"type\":\"int4\","
                  "\"value\":1}]}",
                  "column \"id\" of \"columns\": value is not a string or null");
    expect_reject("{" HEAD "," COLS ",\"old\":[{\"name\":\"id\",\"value\":"
                  "true}]}",
                  "column \"id\" of \"old\": value is not a string");
    expect_reject("{" HEAD ",\"columns\":[{\"name\":\"j\",\"value\":{}}]}",
                  "value is not a string");
}

static void test_reject_column_without_name(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"columns\":[{\"type\":\"int4\",\"value\":\"1\"}]}",
                  "column 0 of \"columns\" has no name");
    expect_reject("{" HEAD ",\"columns\":[{\"name\":\"a\",\"value\":\"1\"},"
                  "{\"name\":7,\"value\":\"1\"}]}",
                  "column 1 of \"columns\" has no name");
    expect_reject("{" HEAD ",\"columns\":[\"id\"]}",
                  "column 0 of \"columns\" has no name");
}

static void test_reject_tx_index_negative(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"tx_index\":-1," COLS "}",
                  "\"tx_index\" is not a valid index");
    expect_reject("{" HEAD ",\"tx_index\":4294967296," COLS "}",
                  "\"tx_index\" is not a valid index");
    expect_reject("{" HEAD ",\"tx_index\":\"3\"," COLS "}",
                  "\"tx_index\" is not a valid index");
}

static void test_reject_tx_end_not_bool(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"tx_end\":\"true\"," COLS "}",
                  "\"tx_end\" is not a boolean");
    expect_reject("{" HEAD ",\"tx_end\":1," COLS "}",
                  "\"tx_end\" is not a boolean");
}

static void test_reject_ddl_without_text(void **state)
{
    (void)state;
    expect_reject("{\"v\":1,\"op\":\"DDL\",\"source\":\"mysql\","
                  "\"position\":\"binlog.000001:4\"}",
                  "DDL event has no statement");
    expect_reject("{\"v\":1,\"op\":\"DDL\",\"source\":\"mysql\","
                  "\"position\":\"binlog.000001:4\",\"ddl\":null}",
                  "DDL event has no statement");
    expect_reject("{\"v\":1,\"op\":\"DDL\",\"source\":\"mysql\","
                  "\"position\":\"binlog.000001:4\",\"ddl\":[]}",
                  "\"ddl\" is not a string");
}

/* Other fields of the wrong type, each named in the message. */
static void test_reject_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"{\"v\":1,\"op\":\"INSERT\",\"schema\":\"s\",\"table\":\"t\","
         "\"position\":\"0/1\"," COLS "}",
         "event has no \"source\""},
        {"{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\",\"table\":\"t\","
         "\"position\":\"0/1\"," COLS "}",
         "event has no \"schema\""},
        {"{\"v\":1,\"op\":\"UPDATE\",\"source\":\"postgres\",\"schema\":\"s\","
         "\"position\":\"0/1\"," COLS "}",
         "event has no \"table\""},
        {"{" HEAD ",\"commit_time\":1," COLS "}",
         "\"commit_time\" is not a string"},
        {"{" HEAD ",\"key\":\"id\"," COLS "}", "\"key\" is not a list"},
        {"{" HEAD ",\"key\":[\"id\",1]," COLS "}", "\"key\" holds a non-string"},
        {"{" HEAD ",\"unchanged\":{}," COLS "}", "\"unchanged\" is not a list"},
        {"{" HEAD ",\"columns\":{\"id\":\"1\"}}", "\"columns\" is not a list"},
        {"{" HEAD "," COLS ",\"old\":\"x\"}", "\"old\" is not a list"},
        {"{" HEAD ",\"columns\":[{\"name\":\"id\",\"type\":4,\"value\":\"1\"}]}",
         "column \"id\" of \"columns\": type is not a string"},
        {"{" HEAD ",\"txid\":\"735\"," COLS "}", "\"txid\" is not a number"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++)
        expect_reject(cases[i].json, cases[i].want);
}

static void test_reject_garbage_bytes(void **state)
{
    (void)state;
    static const char garbage[] = "\x00\xff\xfe{\"v\":1}\x80\x01\x02";
    expect_reject_len(garbage, sizeof(garbage) - 1, "not a JSON object");
    /* a NUL inside the given length ends the text */
    static const char nul_inside[] = "{\"v\":\0 1}";
    expect_reject_len(nul_inside, sizeof(nul_inside) - 1, NULL);
    /* pseudo-random bytes never crash and never pass */
    uint32_t x = 2463534242u;
    char buf[512];
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)round * 2 + 1;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (char)(x & 0xff);
        }
        buf[0] = '{';
        expect_reject_len(buf, len, NULL);
    }
}

/* Every strict prefix of a valid event is rejected, without reading past
 * the given length. */
static void test_reject_truncated(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"), col("t", "text", "a\"b")};
    const char *key[] = {"id"};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "public",
                           .table = "users",
                           .cols = cols,
                           .ncols = 2,
                           .key = key,
                           .nkey = 1,
                           .position = "0/1",
                           .has_txid = true,
                           .txid = 9};
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode(&ev, buf), CDC_OK);
    for (size_t len = 0; len < buf->len; len++)
        expect_reject_len(buf->data, len, NULL);
    drop_buf(buf);
}

static char *nested(size_t depth, const char *before, const char *after)
{
    size_t nb = strlen(before);
    size_t na = strlen(after);
    char *s = keep_mem(cdc_xmalloc(nb + depth * 2 + na + 1));
    memcpy(s, before, nb);
    memset(s + nb, '[', depth);
    memset(s + nb + depth, ']', depth);
    memcpy(s + nb + depth * 2, after, na + 1);
    return s;
}

static void test_reject_deep_nesting(void **state)
{
    (void)state;
    char *s = nested(200000, "", "");
    expect_reject(s, "not a JSON object");
    drop_mem(s);
    s = nested(200000, "{\"v\":1,\"x\":", "}");
    expect_reject(s, "not a JSON object");
    drop_mem(s);
    /* deep inside a column value */
    s = nested(5000, "{" HEAD ",\"columns\":[{\"name\":\"a\",\"value\":", "}]}");
    expect_reject(s, NULL);
    drop_mem(s);
    /* objects, unclosed */
    size_t depth = 100000;
    char *o = keep_mem(cdc_xmalloc(depth * 5 + 1));
    for (size_t i = 0; i < depth; i++)
        memcpy(o + i * 5, "{\"a\":", 5);
    o[depth * 5] = '\0';
    expect_reject(o, "not a JSON object");
    drop_mem(o);
}

/* Text after the closing brace is refused: cJSON stops after the first
 * value, so two events concatenated in one message once decoded as the
 * first one and the second was lost silently. */
static void test_reject_trailing_garbage(void **state)
{
    (void)state;
    expect_reject("{" HEAD "," COLS "}garbage",
                  "unexpected data after the event");
    expect_reject("{" HEAD "," COLS "}{" HEAD "," COLS "}",
                  "unexpected data after the event");
    expect_reject("{" HEAD "," COLS "} \n x", "unexpected data");
    static const char nul_after[] = "{" HEAD "," COLS "}\0";
    expect_reject_len(nul_after, sizeof(nul_after), "unexpected data");
    /* whitespace alone is fine */
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD "," COLS "} \t\r\n ", arena, &ev);
    drop_arena(arena);
}

/* Like roundtrip, for values the codec may refuse: the encoder may fail,
 * or the decoder may reject the event with a reason naming want, but what
 * is decoded must equal what was encoded. */
static void roundtrip_or_reject(const struct cdc_event *ev, const char *want)
{
    struct cdc_buf *buf = new_buf(0);
    struct cdc_arena *arena = new_arena();
    struct cdc_event back;
    struct cdc_err err = {0};
    if (cdc_event_encode(ev, buf) == CDC_OK) {
        int rc = cdc_event_decode(buf->data, buf->len, arena, &back, &err);
        if (rc == CDC_OK) {
            assert_events_equal(ev, &back);
        } else {
            assert_int_equal(rc, CDC_EPROTO);
            if (strstr(err.msg, want) == NULL)
                fail_msg("message \"%s\" does not contain \"%s\"", err.msg,
                         want);
        }
    }
    drop_arena(arena);
    drop_buf(buf);
}

/* "txid" is read through a double, so a txid above 2^53 could come back
 * changed (9007199254740993 read as 9007199254740992), and INT64_MAX was
 * converted out of range (undefined behaviour). The encoder writes the
 * exact integer; the decoder must give it back or refuse it by name. */
static void test_roundtrip_txid_exact(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1")};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "mongodb",
                           .schema = "db",
                           .table = "c",
                           .cols = cols,
                           .ncols = 1,
                           .position = "token",
                           .has_txid = true,
                           .txid = ((int64_t)1 << 53) + 1};
    roundtrip_or_reject(&ev, "\"txid\"");
    ev.txid = INT64_MAX;
    roundtrip_or_reject(&ev, "\"txid\"");
    /* below 2^53 every integer comes back */
    ev.txid = ((int64_t)1 << 53) - 1;
    roundtrip(&ev);
    ev.txid = -((int64_t)1 << 53) + 1;
    roundtrip(&ev);
}

/* Same cause: a "txid" outside the range of int64_t was converted with
 * undefined behaviour (1e300 decoded as INT64_MIN on x86-64) instead of
 * being refused. */
static void test_reject_txid_out_of_range(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"txid\":1e300," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":-1e19," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":1e999," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":-1e999," COLS "}", "\"txid\"");
    /* 2^53 is where a double stops telling integers apart */
    expect_reject("{" HEAD ",\"txid\":9007199254740992," COLS "}",
                  "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":9007199254740993," COLS "}",
                  "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":-9007199254740992," COLS "}",
                  "\"txid\"");
}

/* Integer fields refuse numbers with a fraction instead of truncating
 * them, and accept every integer up to their limits exactly. */
static void test_reject_non_integral(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"txid\":1.5," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":-0.25," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"txid\":1e-300," COLS "}", "\"txid\"");
    expect_reject("{" HEAD ",\"tx_index\":1.5," COLS "}",
                  "\"tx_index\" is not a valid index");
    expect_reject("{" HEAD ",\"tx_index\":0.5," COLS "}",
                  "\"tx_index\" is not a valid index");
    expect_reject("{" HEAD ",\"tx_index\":4294967295.5," COLS "}",
                  "\"tx_index\" is not a valid index");
    expect_reject("{" HEAD ",\"tx_index\":1e999," COLS "}",
                  "\"tx_index\" is not a valid index");

    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD ",\"tx_index\":4294967295,\"txid\":9007199254740991,"
              COLS "}",
              arena, &ev);
    assert_int_equal(ev.tx_index, 4294967295u);
    assert_true(ev.has_txid);
    assert_int_equal(ev.txid, ((int64_t)1 << 53) - 1);
    decode_ok("{" HEAD ",\"tx_index\":2.0,\"txid\":-9007199254740991," COLS
              "}",
              arena, &ev);
    assert_int_equal(ev.tx_index, 2);
    assert_int_equal(ev.txid, -((int64_t)1 << 53) + 1);
    drop_arena(arena);
}

/* A value holding a NUL byte (value_len counts past it; MySQL TEXT and
 * MongoDB strings can hold one) is encoded as \u0000, but cJSON ends its
 * strings there, so "a\0b" once came back as "a": the rest of the value
 * was lost silently. It must come back whole or be refused by name. */
static void test_roundtrip_value_with_nul(void **state)
{
    (void)state;
    struct cdc_col cols[] = {{.name = "bin", .type = "text", .value = "a\0b",
                              .value_len = 3}};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "mysql",
                           .schema = "db",
                           .table = "t",
                           .cols = cols,
                           .ncols = 1,
                           .position = "binlog.000001:4"};
    roundtrip_or_reject(&ev, "\"bin\"");
}

/* A NUL character anywhere in a string the decoder reads, escaped or as
 * a raw byte, refuses the event and names the field; an escaped backslash
 * followed by "u0000" is only text. */
static void test_reject_nul_character(void **state)
{
    (void)state;
    expect_reject("{" HEAD ",\"columns\":[{\"name\":\"id\",\"value\":\"1\"},"
                  "{\"name\":\"bin\",\"value\":\"a\\u0000b\"}]}",
                  "column \"bin\" of \"columns\" contains a NUL character, "
                  "which is not supported");
    expect_reject("{" HEAD "," COLS ",\"old\":[{\"value\":\"\\u0000\","
                  "\"name\":\"k\"}]}",
                  "column \"k\" of \"old\" contains a NUL character");
    expect_reject("{" HEAD ",\"columns\":[{\"name\":\"a\\u0000b\","
                  "\"value\":\"1\"}]}",
                  "column 0 of \"columns\" contains a NUL character");
    expect_reject("{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
                  "\"schema\":\"pub\\u0000lic\",\"table\":\"t\","
                  "\"position\":\"0/1\"," COLS "}",
                  "event field \"schema\" contains a NUL character");
    expect_reject("{" HEAD ",\"key\":[\"id\",\"x\\\\\\u0000\"]," COLS "}",
                  "event field \"key\" contains a NUL character");
    expect_reject("{" HEAD ",\"ddl\\u0000x\":\"y\"," COLS "}",
                  "contains a NUL character");
    /* a raw NUL byte in a string: not valid JSON, and cut by cJSON too */
    static const char raw[] = "{" HEAD ",\"columns\":[{\"name\":\"bin\","
                              "\"value\":\"a\0b\"}]}";
    expect_reject_len(raw, sizeof(raw) - 1,
                      "column \"bin\" of \"columns\" contains a NUL");
    static const char raw_ws[] = "{" HEAD ",\0" COLS "}";
    expect_reject_len(raw_ws, sizeof(raw_ws) - 1,
                      "event contains a NUL character");

    /* "\\u0000" is a backslash and five characters */
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD ",\"columns\":[{\"name\":\"t\",\"value\":"
              "\"\\\\u0000\\\\\\\\u0000\"}]}",
              arena, &ev);
    assert_int_equal(ev.cols[0].value_len, 13);
    assert_string_equal(ev.cols[0].value, "\\u0000\\\\u0000");
    decode_ok("{" HEAD ",\"columns\":[{\"name\":\"t\",\"value\":"
              "\"\\u0001 u0000 \\\\\"}]}",
              arena, &ev);
    assert_string_equal(ev.cols[0].value, "\001 u0000 \\");
    drop_arena(arena);
}

/* ==== Natural form ==== */

/* Encodes ev in the natural form, checks that the whole text is one JSON
 * object, and returns it parsed (free with drop_json) and, if out_text is
 * set, the text (free with drop_mem). */
static cJSON *natural(const struct cdc_event *ev, const char *extra,
                      char **out_text)
{
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode_natural(ev, extra, buf), CDC_OK);
    assert_int_equal(strlen(buf->data), buf->len);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf->data, &end, 1);
    if (j == NULL)
        fail_msg("natural form is not valid JSON: %s", buf->data);
    keep_json(j);
    if (!cJSON_IsObject(j))
        fail_msg("natural form is not a JSON object: %s", buf->data);
    if (out_text != NULL)
        *out_text = keep_mem(cdc_buf_detach(buf, NULL));
    drop_buf(buf);
    return j;
}

static const cJSON *row_item(const cJSON *j, const char *obj,
                             const char *name)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, obj);
    assert_true(cJSON_IsObject(o));
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (it == NULL)
        fail_msg("\"%s\" has no \"%s\"", obj, name);
    return it;
}

static void assert_row_number(const cJSON *j, const char *name, double want)
{
    const cJSON *it = row_item(j, "row", name);
    if (!cJSON_IsNumber(it))
        fail_msg("row \"%s\" is not a number", name);
    assert_true(it->valuedouble == want);
}

static void assert_row_string(const cJSON *j, const char *name,
                              const char *want)
{
    const cJSON *it = row_item(j, "row", name);
    if (!cJSON_IsString(it))
        fail_msg("row \"%s\" is not a string", name);
    assert_string_equal(it->valuestring, want);
}

static struct cdc_event insert_of(struct cdc_col *cols, size_t n)
{
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "public",
                           .table = "t",
                           .cols = cols,
                           .ncols = n,
                           .position = "0/1"};
    return ev;
}

static void test_natural_insert_exact(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"), col("name", "text", "ann"),
                             col("ok", "bool", "t"), col("gone", "text", NULL)};
    const char *key[] = {"id"};
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    ev.key = key;
    ev.nkey = 1;
    ev.tx_end = true;
    ev.has_txid = true;
    ev.txid = 735;
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_string_equal(
        text, "{\"op\":\"INSERT\",\"source\":\"postgres\",\"schema\":\"public\","
              "\"table\":\"t\",\"position\":\"0/1\",\"tx_index\":0,"
              "\"tx_end\":true,\"txid\":735,\"key\":[\"id\"],"
              "\"row\":{\"id\":1,\"name\":\"ann\",\"ok\":true,\"gone\":null}}");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "old"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "v"));
    assert_true(cJSON_IsNull(row_item(j, "row", "gone")));
    drop_json(j);
    drop_mem(text);
}

static void test_natural_numbers(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("i4", "int4", "42"),          col("i8", "int8", "-9007199254740993"),
        col("i2", "int2", "-0"),          col("f8", "float8", "1.5e-7"),
        col("f4", "float4", "3.25"),      col("big", "bigint", "1E+5"),
        col("dbl", "double precision", "0.1"),
        col("num", "numeric", "12345678901234567890.1234567890"),
        col("dec", "decimal", "1.50"),
    };
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_row_number(j, "i4", 42);
    assert_row_number(j, "f8", 1.5e-7);
    assert_row_number(j, "f4", 3.25);
    assert_row_number(j, "big", 1e5);
    assert_row_number(j, "dbl", 0.1);
    /* the source text is copied, so no digit is lost */
    assert_non_null(strstr(text, "\"i8\":-9007199254740993,"));
    assert_non_null(strstr(text, "\"big\":1E+5,"));
    /* numeric/decimal keep their exact digits and scale as strings */
    assert_row_string(j, "num", "12345678901234567890.1234567890");
    assert_row_string(j, "dec", "1.50");
    drop_json(j);
    drop_mem(text);
}

static void test_natural_float_special(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("nan", "float8", "NaN"),       col("inf", "float8", "Infinity"),
        col("ninf", "float4", "-Infinity"), col("nz", "float8", "-0"),
        col("z", "float8", "0"),
    };
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_row_string(j, "nan", "NaN");
    assert_row_string(j, "inf", "Infinity");
    assert_row_string(j, "ninf", "-Infinity");
    assert_row_number(j, "nz", 0);
    assert_true(signbit(row_item(j, "row", "nz")->valuedouble));
    assert_non_null(strstr(text, "\"nz\":-0,"));
    assert_row_number(j, "z", 0);
    drop_json(j);
    drop_mem(text);
}

/* Text that a number type holds but that is not a JSON number stays a
 * string, so the line is always valid JSON. */
static void test_natural_not_json_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1.",  ".5",  "+1",   "01",   "1e",  "1e+", "-",  "--1", "0x10",
        " 1",  "1 ",  "",     "1,5",  "1.2.3", "1e5.0", "e5", "-.5", "00",
        "1_000", "\xd9\xa1",
    };
    static const char *const good[] = {"1e5", "-1.5E-3", "0", "0.0", "-0.0e0",
                                       "123456789012345678901234567890"};
    for (size_t i = 0; i < NELEMS(bad); i++) {
        struct cdc_col c[] = {col("x", "float8", bad[i])};
        struct cdc_event ev = insert_of(c, 1);
        cJSON *j = natural(&ev, NULL, NULL);
        assert_row_string(j, "x", bad[i]);
        drop_json(j);
    }
    for (size_t i = 0; i < NELEMS(good); i++) {
        struct cdc_col c[] = {col("x", "int8", good[i])};
        struct cdc_event ev = insert_of(c, 1);
        cJSON *j = natural(&ev, NULL, NULL);
        if (!cJSON_IsNumber(row_item(j, "row", "x")))
            fail_msg("\"%s\" is not a number", good[i]);
        drop_json(j);
    }
}

static void test_natural_bool(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("t", "bool", "t"),        col("f", "bool", "f"),
        col("bt", "boolean", "true"), col("bf", "boolean", "false"),
        col("odd", "bool", "maybe"),  col("txt", "text", "t"),
    };
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_true(cJSON_IsTrue(row_item(j, "row", "t")));
    assert_true(cJSON_IsFalse(row_item(j, "row", "f")));
    assert_true(cJSON_IsTrue(row_item(j, "row", "bt")));
    assert_true(cJSON_IsFalse(row_item(j, "row", "bf")));
    assert_row_string(j, "odd", "maybe");
    assert_row_string(j, "txt", "t");
    assert_non_null(strstr(text, "{\"t\":true,\"f\":false,\"bt\":true,"
                                 "\"bf\":false,\"odd\":\"maybe\","
                                 "\"txt\":\"t\"}"));
    drop_json(j);
    drop_mem(text);
}

static void test_natural_json(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("obj", "jsonb", "{\"a\": [1, 2, {\"b\": null}]}"),
        col("arr", "json", "[1,\"x\"]"),
        col("scalar", "jsonb", "\"s\""),
        col("bad", "json", "{\"a\":"),
        col("word", "jsonb", "not json"),
        col("notjson", "text", "{\"a\":1}"),
    };
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    const cJSON *obj = row_item(j, "row", "obj");
    assert_true(cJSON_IsObject(obj));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "a");
    assert_true(cJSON_IsArray(a));
    assert_int_equal(cJSON_GetArraySize(a), 3);
    const cJSON *arr = row_item(j, "row", "arr");
    assert_true(cJSON_IsArray(arr));
    assert_string_equal(cJSON_GetArrayItem(arr, 1)->valuestring, "x");
    assert_row_string(j, "scalar", "s");
    assert_row_string(j, "bad", "{\"a\":");
    assert_row_string(j, "word", "not json");
    assert_row_string(j, "notjson", "{\"a\":1}");
    /* embedded as the source wrote it */
    assert_non_null(strstr(text, "\"obj\":{\"a\": [1, 2, {\"b\": null}]},"));
    drop_json(j);
    drop_mem(text);
}

/* A json/jsonb value was embedded when cJSON accepted a prefix of it, so
 * text after a valid JSON value ("1 2", "{} x", "[1]]") was copied into
 * the line, which was then not valid JSON. */
static void test_natural_json_trailing_text(void **state)
{
    (void)state;
    static const char *const bad[] = {"1 2", "{} x", "[1]]", "\"a\" \"b\""};
    for (size_t i = 0; i < NELEMS(bad); i++) {
        struct cdc_col c[] = {col("j", "jsonb", bad[i])};
        struct cdc_event ev = insert_of(c, 1);
        cJSON *j = natural(&ev, NULL, NULL);
        assert_row_string(j, "j", bad[i]);
        drop_json(j);
    }
}

/* Same check, second cause: cJSON reads numbers with strtod and accepts
 * "1." and "01", which JSON does not, so such a json/jsonb value was
 * embedded as is and the line was not valid JSON. */
static void test_natural_json_lax_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {"1.", "01", "[1.]", "{\"a\":-01}"};
    for (size_t i = 0; i < NELEMS(bad); i++) {
        struct cdc_col c[] = {col("j", "json", bad[i])};
        struct cdc_event ev = insert_of(c, 1);
        cJSON *j = natural(&ev, NULL, NULL);
        assert_row_string(j, "j", bad[i]);
        drop_json(j);
    }
}

/* Only strictly valid JSON is embedded; everything else is written as a
 * string holding the exact text. */
static void test_natural_json_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "  ",          "NaN",          "-Infinity",
        "[1,]",       "{\"a\":1,}",   "[,1]",         "{\"a\" 1}",
        "{1:2}",      "{\"a\"}",      "'a'",          "\"\\x\"",
        "\"\\u12\"",   "\"\\ud800\"",   "\"\\udc00\"",    "\"\\ud800x\"",
        "\"tab\there\"", "\"open",      "tru",          "nul",
        "True",       "-",           "1e5.",         "0x1",
        "[1 2]",      "\"a\":1",      "[1]\n]",       "+1",
        "{\"a\":[}",   ".5",
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        struct cdc_col c[] = {col("j", "jsonb", bad[i])};
        struct cdc_event ev = insert_of(c, 1);
        cJSON *j = natural(&ev, NULL, NULL);
        assert_row_string(j, "j", bad[i]);
        drop_json(j);
    }
    static const char *const good[] = {
        " {\"a\": [true, false, null, -0.5e+3, 0, 1E9, "
        "\"\\u00e9\\ud83d\\ude00\"]} ",
        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000\"",
        "{}", "[]", "[[],{}]", "{\"\":\"\"}", "-0", "\t\"x\"\t", "\"\xc3\xa9\"",
    };
    for (size_t i = 0; i < NELEMS(good); i++) {
        struct cdc_col c[] = {col("j", "json", good[i])};
        struct cdc_event ev = insert_of(c, 1);
        char *text = NULL;
        cJSON *j = natural(&ev, NULL, &text);
        if (strstr(text, good[i]) == NULL)
            fail_msg("\"%s\" is not embedded: %s", good[i], text);
        drop_json(j);
        drop_mem(text);
    }
    /* nesting: 512 levels are embedded, 513 are not */
    char *deep = keep_mem(cdc_xmalloc(513 * 2 + 1));
    memset(deep, '[', 512);
    memset(deep + 512, ']', 512);
    deep[1024] = '\0';
    struct cdc_col c[] = {col("j", "jsonb", deep)};
    struct cdc_event ev = insert_of(c, 1);
    cJSON *j = natural(&ev, NULL, NULL);
    assert_true(cJSON_IsArray(row_item(j, "row", "j")));
    drop_json(j);
    memset(deep, '[', 513);
    memset(deep + 513, ']', 513);
    deep[1026] = '\0';
    c[0] = col("j", "jsonb", deep);
    j = natural(&ev, NULL, NULL);
    assert_row_string(j, "j", deep);
    drop_json(j);
    drop_mem(deep);
    /* a NUL byte inside value_len is not JSON */
    c[0] = (struct cdc_col){.name = "j", .type = "json", .value = "1\0",
                            .value_len = 2};
    j = natural(&ev, NULL, NULL);
    const cJSON *it = row_item(j, "row", "j");
    assert_true(cJSON_IsString(it));
    drop_json(j);
}

/* A json value with line breaks between its tokens (json keeps the text
 * as written) stays one line: sinks write one event per line. */
static void test_natural_json_line_breaks(void **state)
{
    (void)state;
    struct cdc_col c[] = {col("j", "json", "{\n  \"a\": [1,\r\n 2]\n}\n")};
    struct cdc_event ev = insert_of(c, 1);
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_null(strchr(text, '\n'));
    assert_null(strchr(text, '\r'));
    assert_non_null(strstr(text, "\"j\":{   \"a\": [1,   2] } }"));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(row_item(j, "row", "j"),
                                                      "a");
    assert_int_equal(cJSON_GetArraySize(a), 2);
    drop_json(j);
    drop_mem(text);
}

static void test_natural_text_and_null(void **state)
{
    (void)state;
    struct cdc_col cols[] = {
        col("txt", "text", "123"),
        col("vc", "varchar", "line\n\"q\""),
        col("ts", "timestamptz", "2024-05-01 12:00:00+00"),
        col("notype", NULL, "7"),
        col("nul", "int4", NULL),
        col("nulj", "jsonb", NULL),
        col("nulb", "bool", NULL),
    };
    struct cdc_event ev = insert_of(cols, NELEMS(cols));
    cJSON *j = natural(&ev, NULL, NULL);
    assert_row_string(j, "txt", "123");
    assert_row_string(j, "vc", "line\n\"q\"");
    assert_row_string(j, "ts", "2024-05-01 12:00:00+00");
    assert_row_string(j, "notype", "7");
    assert_true(cJSON_IsNull(row_item(j, "row", "nul")));
    assert_true(cJSON_IsNull(row_item(j, "row", "nulj")));
    assert_true(cJSON_IsNull(row_item(j, "row", "nulb")));
    drop_json(j);
}

static void test_natural_extra_json(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1")};
    struct cdc_event ev = insert_of(cols, 1);
    char *text = NULL;
    cJSON *j = natural(&ev, "\"seq\":7,\"subject\":\"tributary.g.public.t\"",
                       &text);
    const char *tail = ",\"row\":{\"id\":1},\"seq\":7,"
                       "\"subject\":\"tributary.g.public.t\"}";
    size_t tl = strlen(tail);
    assert_true(strlen(text) > tl);
    assert_string_equal(text + strlen(text) - tl, tail);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "seq")->valueint, 7);
    drop_json(j);
    drop_mem(text);
    /* NULL and "" add nothing */
    j = natural(&ev, NULL, &text);
    assert_string_equal(text + strlen(text) - strlen(",\"row\":{\"id\":1}}"),
                        ",\"row\":{\"id\":1}}");
    drop_json(j);
    drop_mem(text);
    j = natural(&ev, "", &text);
    assert_string_equal(text + strlen(text) - strlen(",\"row\":{\"id\":1}}"),
                        ",\"row\":{\"id\":1}}");
    drop_json(j);
    drop_mem(text);
}

static void test_natural_delete_has_old_not_row(void **state)
{
    (void)state;
    struct cdc_col old[] = {col("id", "int4", "7"), col("n", "text", NULL)};
    struct cdc_event ev = {.op = CDC_OP_DELETE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "t",
                           .old = old,
                           .nold = 2,
                           .position = "0/2"};
    char *text = NULL;
    cJSON *j = natural(&ev, NULL, &text);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "row"));
    const cJSON *id = row_item(j, "old", "id");
    assert_true(cJSON_IsNumber(id));
    assert_int_equal(id->valueint, 7);
    assert_true(cJSON_IsNull(row_item(j, "old", "n")));
    assert_string_equal(
        text, "{\"op\":\"DELETE\",\"source\":\"postgres\",\"schema\":\"public\","
              "\"table\":\"t\",\"position\":\"0/2\",\"tx_index\":0,"
              "\"tx_end\":false,\"old\":{\"id\":7,\"n\":null}}");
    drop_json(j);
    drop_mem(text);
}

static void test_natural_update_and_others(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1")};
    struct cdc_col old[] = {col("id", "int4", "2")};
    const char *unchanged[] = {"blob"};
    struct cdc_event ev = {.op = CDC_OP_UPDATE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "t",
                           .cols = cols,
                           .ncols = 1,
                           .old = old,
                           .nold = 1,
                           .unchanged = unchanged,
                           .nunchanged = 1,
                           .position = "0/3"};
    cJSON *j = natural(&ev, NULL, NULL);
    assert_int_equal(row_item(j, "row", "id")->valueint, 1);
    assert_int_equal(row_item(j, "old", "id")->valueint, 2);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "unchanged");
    assert_true(cJSON_IsArray(u));
    assert_string_equal(cJSON_GetArrayItem(u, 0)->valuestring, "blob");
    drop_json(j);

    /* an INSERT without columns still has an (empty) row */
    struct cdc_event ins = insert_of(NULL, 0);
    char *text = NULL;
    j = natural(&ins, NULL, &text);
    assert_non_null(strstr(text, ",\"row\":{}}"));
    drop_json(j);
    drop_mem(text);

    /* TRUNCATE and DDL have neither row nor old */
    struct cdc_event tr = {.op = CDC_OP_TRUNCATE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "t",
                           .position = "0/4"};
    j = natural(&tr, NULL, NULL);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "row"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "old"));
    drop_json(j);
    struct cdc_event ddl = {.op = CDC_OP_DDL,
                            .source = "mysql",
                            .position = "binlog.000001:4",
                            .ddl = "DROP TABLE \"t\""};
    j = natural(&ddl, NULL, NULL);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "row"));
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(j, "ddl")->valuestring,
        "DROP TABLE \"t\"");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "schema"));
    drop_json(j);
}

/* ==== Copy ==== */

static void test_copy_equal_and_independent(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"),
                             col("t", "text", tricky_value),
                             col("n", "text", NULL),
                             {.name = "nul", .type = "bytea", .value = "a\0b",
                              .value_len = 3}};
    struct cdc_col old[] = {col("id", "int4", "0")};
    const char *key[] = {"id"};
    const char *unchanged[] = {"big"};
    struct cdc_event ev = {.op = CDC_OP_UPDATE,
                           .source = "postgres",
                           .schema = "public",
                           .table = "users",
                           .cols = cols,
                           .ncols = NELEMS(cols),
                           .old = old,
                           .nold = 1,
                           .key = key,
                           .nkey = 1,
                           .unchanged = unchanged,
                           .nunchanged = 1,
                           .position = "0/10",
                           .tx_index = 9,
                           .tx_end = true,
                           .has_txid = true,
                           .txid = 77,
                           .commit_time = "2024-05-01T12:00:00Z",
                           .ddl = NULL};
    struct cdc_arena *a1 = new_arena();
    struct cdc_arena *a2 = new_arena();
    struct cdc_event *c1 = cdc_event_copy(&ev, a1);
    assert_non_null(c1);
    assert_events_equal(&ev, c1);
    /* a deep copy: nothing is shared with the original */
    assert_ptr_not_equal(c1->source, ev.source);
    assert_ptr_not_equal(c1->cols, ev.cols);
    assert_ptr_not_equal(c1->cols[1].value, ev.cols[1].value);
    assert_ptr_not_equal(c1->key, ev.key);
    assert_ptr_not_equal(c1->key[0], ev.key[0]);
    /* bytes after a NUL inside a value are copied too */
    assert_int_equal(c1->cols[3].value_len, 3);
    assert_memory_equal(c1->cols[3].value, "a\0b", 4);

    /* a copy of the copy outlives the first arena */
    struct cdc_event *c2 = cdc_event_copy(c1, a2);
    drop_arena(a1);
    assert_events_equal(&ev, c2);
    drop_arena(a2);
}

static void test_copy_of_decoded_outlives_arena(void **state)
{
    (void)state;
    struct cdc_arena *dec = new_arena();
    struct cdc_arena *keep = new_arena();
    struct cdc_event ev;
    decode_ok("{\"v\":1,\"op\":\"DDL\",\"source\":\"mysql\",\"position\":\"p\","
              "\"ddl\":\"ALTER TABLE t ADD c int\",\"tx_end\":true,"
              "\"txid\":12}",
              dec, &ev);
    struct cdc_event *c = cdc_event_copy(&ev, keep);
    /* fill the decoder's arena with other data, then free it */
    for (int i = 0; i < 1000; i++)
        memset(cdc_arena_alloc(dec, 100), 'x', 100);
    drop_arena(dec);
    assert_int_equal(c->op, CDC_OP_DDL);
    assert_string_equal(c->source, "mysql");
    assert_string_equal(c->position, "p");
    assert_string_equal(c->ddl, "ALTER TABLE t ADD c int");
    assert_null(c->schema);
    assert_null(c->table);
    assert_null(c->commit_time);
    assert_int_equal(c->ncols, 0);
    assert_int_equal(c->nold, 0);
    assert_true(c->tx_end);
    assert_true(c->has_txid);
    assert_int_equal(c->txid, 12);
    drop_arena(keep);
}

/* ==== Positions ==== */

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* cmp(a, b) == want and cmp(b, a) == -want */
static void check_cmp(const char *source, const char *a, uint32_t ai,
                      const char *b, uint32_t bi, int want)
{
    int got = cdc_position_cmp(source, a, ai, b, bi);
    if (sign(got) != want)
        fail_msg("cmp(%s, %s/%u, %s/%u) = %d, want %d", source ? source : "-",
                 a, (unsigned)ai, b, (unsigned)bi, got, want);
    got = cdc_position_cmp(source, b, bi, a, ai);
    if (sign(got) != -want)
        fail_msg("cmp(%s, %s/%u, %s/%u) = %d, want %d", source ? source : "-",
                 b, (unsigned)bi, a, (unsigned)ai, got, -want);
}

static void test_position_cmp_postgres(void **state)
{
    (void)state;
    check_cmp("postgres", "0/10", 0, "0/9", 0, 1);
    check_cmp("postgres", "1/0", 0, "0/FFFFFFFF", 0, 1);
    check_cmp("postgres", "0/A", 0, "0/9", 0, 1);
    check_cmp("postgres", "0/ab", 0, "0/AB", 0, 0);
    check_cmp("postgres", "16/B374D848", 0, "16/B374D848", 0, 0);
    check_cmp("postgres", "0/0", 0, "0/1", 0, -1);
    /* same LSN: the index within the transaction decides */
    check_cmp("postgres", "0/10", 1, "0/10", 0, 1);
    check_cmp("postgres", "0/10", 4294967295u, "0/10", 0, 1);
    check_cmp("postgres", "0/10", 3, "0/10", 3, 0);
    /* the LSN decides before the index */
    check_cmp("postgres", "0/10", 0, "0/9", 100, 1);
}

static void test_position_cmp_bytes(void **state)
{
    (void)state;
    /* other sources: opaque text compared by bytes */
    check_cmp("mysql", "0/10", 0, "0/9", 0, -1);
    check_cmp("mysql", "binlog.000002:4", 0, "binlog.000001:900", 0, 1);
    check_cmp("kafka", "b", 0, "a", 9, 1);
    check_cmp("kafka", "a", 0, "ab", 0, -1);
    check_cmp("mongodb", "\xc3\xa9", 0, "z", 0, 1); /* bytes, unsigned */
    check_cmp(NULL, "0/10", 0, "0/9", 0, -1);
    check_cmp("mysql", "x", 2, "x", 1, 1);
    check_cmp("mysql", "x", 1, "x", 1, 0);
    /* postgres positions that are not LSNs fall back to bytes */
    check_cmp("postgres", "snapshot-b", 0, "snapshot-a", 0, 1);
    check_cmp("postgres", "0/10x", 0, "0/9x", 0, -1);
}

/* ==== Operation names ==== */

static void test_op_names(void **state)
{
    (void)state;
    static const struct {
        enum cdc_op op;
        const char *name;
    } ops[] = {{CDC_OP_INSERT, "INSERT"},     {CDC_OP_UPDATE, "UPDATE"},
               {CDC_OP_DELETE, "DELETE"},     {CDC_OP_TRUNCATE, "TRUNCATE"},
               {CDC_OP_DDL, "DDL"},           {CDC_OP_COPY, "COPY"}};
    for (size_t i = 0; i < NELEMS(ops); i++) {
        enum cdc_op back = 0;
        assert_string_equal(cdc_op_name(ops[i].op), ops[i].name);
        assert_int_equal(cdc_op_parse(ops[i].name, &back), CDC_OK);
        assert_int_equal(back, ops[i].op);
    }
}

static void test_op_unknown(void **state)
{
    (void)state;
    assert_string_equal(cdc_op_name((enum cdc_op)0), "UNKNOWN");
    assert_string_equal(cdc_op_name((enum cdc_op)(CDC_OP_COPY + 1)), "UNKNOWN");
    assert_string_equal(cdc_op_name((enum cdc_op)-1), "UNKNOWN");
    static const char *const bad[] = {"", "insert", "UPSERT", "INSERT ",
                                      "UNKNOWN", "DEL"};
    for (size_t i = 0; i < NELEMS(bad); i++) {
        enum cdc_op op = CDC_OP_DDL;
        assert_int_equal(cdc_op_parse(bad[i], &op), CDC_EPROTO);
        assert_int_equal(op, CDC_OP_DDL); /* untouched */
    }
    enum cdc_op op = CDC_OP_DDL;
    assert_int_equal(cdc_op_parse(NULL, &op), CDC_EPROTO);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_encode_insert_exact),
        T(test_encode_minimal_exact),
        T(test_encode_empty_vs_null),
        T(test_roundtrip_insert),
        T(test_roundtrip_update),
        T(test_roundtrip_delete),
        T(test_roundtrip_truncate),
        T(test_roundtrip_ddl),
        T(test_roundtrip_copy),
        T(test_decode_defaults),
        T(test_reject_not_json),
        T(test_reject_json_array),
        T(test_reject_missing_version),
        T(test_reject_version_2),
        T(test_reject_unknown_op),
        T(test_reject_missing_position),
        T(test_reject_insert_without_columns),
        T(test_reject_column_value_number),
        T(test_reject_column_without_name),
        T(test_reject_tx_index_negative),
        T(test_reject_tx_end_not_bool),
        T(test_reject_ddl_without_text),
        T(test_reject_wrong_types),
        T(test_reject_garbage_bytes),
        T(test_reject_truncated),
        T(test_reject_deep_nesting),
        T(test_reject_trailing_garbage),
        T(test_roundtrip_txid_exact),
        T(test_roundtrip_value_with_nul),
        T(test_reject_nul_character),
        T(test_reject_non_integral),
        T(test_natural_insert_exact),
        T(test_natural_numbers),
        T(test_natural_float_special),
        T(test_natural_not_json_numbers),
        T(test_natural_bool),
        T(test_natural_json),
        T(test_natural_json_trailing_text),
        T(test_natural_json_lax_numbers),
        T(test_natural_json_strict),
        T(test_natural_json_line_breaks),
        T(test_natural_text_and_null),
        T(test_natural_extra_json),
        T(test_natural_delete_has_old_not_row),
        T(test_natural_update_and_others),
        T(test_copy_equal_and_independent),
        T(test_copy_of_decoded_outlives_arena),
        T(test_position_cmp_postgres),
        T(test_position_cmp_bytes),
        T(test_op_names),
        T(test_op_unknown),
        T(test_reject_txid_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

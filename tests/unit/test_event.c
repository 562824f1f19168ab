/*
 * test_event.c: unit tests of the change event (common/event.c and
 * common/event_pack.c): the bus form written by cdc_event_encode and read
 * back by cdc_event_decode for every operation, the exact JSON of small
 * events, rejection of malformed input with a reason, the decoder's parser
 * (escapes, key order, unknown and duplicate keys, numbers, nesting), packs
 * (which changes may pack, their exact text, every check of the decoder),
 * messages that list several events and packs (their order, whitespace,
 * every reason one is refused), a round trip of many random events alone,
 * packed and listed, the natural form used by sinks for people, deep
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
    assert_opt_str_equal(a->object, b->object);
    assert_opt_str_equal(a->search_path, b->search_path);
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
    /* and with what a PostgreSQL source adds */
    ev.object = "index db.\"t_a idx\"";
    ev.search_path = "\"$user\", public";
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

/* ==== Decoding: the parser ==== */

/* Every JSON escape comes back as its bytes and \u escapes as UTF-8, a
 * surrogate pair as one 4-byte character; value_len counts bytes. Keys may
 * be escaped too, and control bytes may stand raw in a string. */
static void test_decode_escapes(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD ",\"columns\":[{\"name\":\"e\",\"type\":\"text\","
              "\"value\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"},"
              "{\"name\":\"u\",\"value\":"
              "\"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\\udbff\\udfff\\u0001\"},"
              "{\"name\":\"raw\",\"value\":\"a\tb\x01\xc3\xa9\"}]}",
              arena, &ev);
    assert_int_equal(ev.ncols, 3);
    assert_int_equal(ev.cols[0].value_len, 8);
    assert_memory_equal(ev.cols[0].value, "\"\\/\b\f\n\r\t", 9);
    static const char u[] = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                            "\xf4\x8f\xbf\xbf\x01";
    assert_int_equal(ev.cols[1].value_len, sizeof(u) - 1);
    assert_memory_equal(ev.cols[1].value, u, sizeof(u));
    assert_string_equal(ev.cols[1].type, "");
    assert_int_equal(ev.cols[2].value_len, 6);
    assert_string_equal(ev.cols[2].value, "a\tb\x01\xc3\xa9");

    decode_ok("{\"\\u0076\":1,\"op\":\"IN\\u0053ERT\",\"source\":\"postgres\","
              "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
              "\"col\\u0075mns\":[{\"n\\u0061me\":\"i\\/d\",\"value\":\"1\"}]}",
              arena, &ev);
    assert_int_equal(ev.op, CDC_OP_INSERT);
    assert_int_equal(ev.ncols, 1);
    assert_string_equal(ev.cols[0].name, "i/d");
    drop_arena(arena);
}

/* An escape JSON does not have, a \u without four hex digits, or a UTF-16
 * surrogate outside a pair makes the text malformed, wherever it is. */
static void test_reject_bad_escapes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\\x",        "\\'",          "\\U0041",       "\\u12",
        "\\u12G4",    "\\u 123",      "\\uD800",       "\\uD800x",
        "\\uD800\\n", "\\uD800\\u0041", "\\uDC00",     "\\uDFFF\\uD800",
        "\\uD83D\\uD83D",
    };
    char json[512];
    for (size_t i = 0; i < NELEMS(bad); i++) {
        snprintf(json, sizeof(json),
                 "{" HEAD ",\"columns\":[{\"name\":\"a\",\"value\":\"%s\"}]}",
                 bad[i]);
        expect_reject(json, "message is not a JSON object");
        /* skipped values and keys are checked as well */
        snprintf(json, sizeof(json),
                 "{" HEAD ",\"x\":[{\"y\":\"%s\"}]," COLS "}", bad[i]);
        expect_reject(json, "message is not a JSON object");
        snprintf(json, sizeof(json), "{" HEAD ",\"k%s\":1," COLS "}", bad[i]);
        expect_reject(json, "message is not a JSON object");
    }
    /* a backslash at the very end */
    expect_reject("{" HEAD ",\"x\":\"\\", "message is not a JSON object");
    expect_reject("{" HEAD ",\"x\":\"\\\"", "message is not a JSON object");
}

/* Keys the decoder does not know are skipped, whatever they hold, in the
 * event and in its columns, after being checked as JSON. */
static void test_decode_unknown_keys(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event plain;
    struct cdc_event ev;
    decode_ok("{" HEAD "," COLS "}", arena, &plain);
    decode_ok("{\"x0\":{\"a\":[1,-2.5e+3,true,false,null,\"s\\\"}]\",{}],"
              "\"b\":{\"c\":[[],{\"d\":{}}]}}," HEAD ",\"x1\":[],\"x2\":\"}\","
              "\"x3\":0,\"x4\":null,\"\":\"\",\"columns\":[{\"name\":\"id\","
              "\"extra\":{\"value\":\"no\",\"name\":7},\"type\":\"int4\","
              "\"value\":\"1\",\"more\":[\"name\",{\"type\":1}]}],"
              "\"x5\":{\"columns\":[],\"v\":2} }",
              arena, &ev);
    assert_events_equal(&plain, &ev);
    /* malformed JSON in a skipped value is still malformed */
    expect_reject("{" HEAD ",\"x\":{\"a\" 1}," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":[1,]," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":{\"a\":1,}," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":[1 2]," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":tru," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":nul," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":[}," COLS "}", "not a JSON object");
    expect_reject("{" HEAD ",\"x\":{1:2}," COLS "}", "not a JSON object");
    drop_arena(arena);
}

/* The order of the keys does not matter. */
static void test_decode_key_order(void **state)
{
    (void)state;
    static const char *const members[] = {
        "\"v\":1",
        "\"op\":\"UPDATE\"",
        "\"source\":\"postgres\"",
        "\"schema\":\"public\"",
        "\"table\":\"users\"",
        "\"position\":\"0/A\"",
        "\"tx_index\":7",
        "\"tx_end\":true",
        "\"txid\":42",
        "\"commit_time\":\"2024-05-01T12:00:00Z\"",
        "\"key\":[\"id\",\"k2\"]",
        "\"unchanged\":[\"blob\"]",
        "\"columns\":[{\"value\":\"1\",\"type\":\"int4\",\"name\":\"id\"},"
        "{\"type\":\"text\",\"name\":\"t\",\"value\":null}]",
        "\"old\":[{\"name\":\"id\",\"value\":\"0\",\"type\":\"int4\"}]",
        "\"ddl\":null",
        "\"unknown\":{\"v\":2}",
    };
    struct cdc_arena *arena = new_arena();
    struct cdc_buf *buf = new_buf(0);
    size_t order[NELEMS(members)];
    struct cdc_event ref;
    for (size_t i = 0; i < NELEMS(order); i++)
        order[i] = i;
    uint32_t x = 12345;
    for (int round = 0; round < 60; round++) {
        cdc_buf_reset(buf);
        assert_int_equal(cdc_buf_append_char(buf, '{'), CDC_OK);
        for (size_t i = 0; i < NELEMS(order); i++) {
            if (i > 0)
                assert_int_equal(cdc_buf_append_char(buf, ','), CDC_OK);
            assert_int_equal(cdc_buf_append_str(buf, members[order[i]]),
                             CDC_OK);
        }
        assert_int_equal(cdc_buf_append_char(buf, '}'), CDC_OK);
        struct cdc_event ev;
        decode_ok(buf->data, arena, round == 0 ? &ref : &ev);
        if (round > 0)
            assert_events_equal(&ref, &ev);
        /* the next order: a Fisher-Yates shuffle */
        for (size_t i = NELEMS(order) - 1; i > 0; i--) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t j = x % (i + 1);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    assert_int_equal(ref.op, CDC_OP_UPDATE);
    assert_int_equal(ref.tx_index, 7);
    assert_true(ref.tx_end);
    assert_true(ref.has_txid);
    assert_int_equal(ref.txid, 42);
    assert_int_equal(ref.nkey, 2);
    assert_string_equal(ref.key[1], "k2");
    assert_int_equal(ref.nunchanged, 1);
    assert_int_equal(ref.ncols, 2);
    assert_string_equal(ref.cols[0].name, "id");
    assert_string_equal(ref.cols[0].type, "int4");
    assert_string_equal(ref.cols[0].value, "1");
    assert_null(ref.cols[1].value);
    assert_int_equal(ref.nold, 1);
    assert_null(ref.ddl);
    drop_buf(buf);
    drop_arena(arena);
}

/* Of duplicate keys the first one counts, as cJSON's lookup gave it, in
 * the event and in a column, even when it is the bad one. */
static void test_decode_duplicate_keys_first_wins(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD ",\"op\":\"DELETE\",\"table\":\"other\",\"tx_end\":true,"
              "\"tx_end\":\"no\",\"txid\":5,\"txid\":\"x\",\"v\":2,"
              "\"columns\":[{\"name\":\"a\",\"name\":\"b\",\"value\":\"1\","
              "\"value\":2,\"type\":\"int4\",\"type\":[]}],"
              "\"columns\":[{\"name\":\"z\"},7],\"key\":[\"a\"],\"key\":5}",
              arena, &ev);
    assert_int_equal(ev.op, CDC_OP_INSERT);
    assert_string_equal(ev.table, "users");
    assert_true(ev.tx_end);
    assert_true(ev.has_txid);
    assert_int_equal(ev.txid, 5);
    assert_int_equal(ev.ncols, 1);
    assert_string_equal(ev.cols[0].name, "a");
    assert_string_equal(ev.cols[0].type, "int4");
    assert_string_equal(ev.cols[0].value, "1");
    assert_int_equal(ev.nkey, 1);
    drop_arena(arena);

    expect_reject("{\"v\":2,\"v\":1}", "event version 2 is not supported");
    expect_reject("{" HEAD ",\"tx_end\":1,\"tx_end\":true," COLS "}",
                  "\"tx_end\" is not a boolean");
    expect_reject("{" HEAD ",\"columns\":{},\"columns\":[{\"name\":\"id\","
                  "\"value\":\"1\"}]}",
                  "\"columns\" is not a list");
    expect_reject("{" HEAD ",\"columns\":[{\"name\":1,\"name\":\"id\"}]}",
                  "column 0 of \"columns\" has no name");
    /* a NUL character in a later one still refuses the event */
    expect_reject("{" HEAD "," COLS ",\"columns\":[{\"name\":\"x\","
                  "\"value\":\"\\u0000\"}]}",
                  "column \"x\" of \"columns\" contains a NUL character");
    expect_reject("{" HEAD ",\"schema\":\"a\\u0000\"," COLS "}",
                  "event field \"schema\" contains a NUL character");
}

/* Numbers follow JSON's grammar exactly, wherever they are (cJSON took
 * some of the malformed ones), and may be of any length. */
static void test_decode_numbers(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{\"v\":1.0,\"op\":\"INSERT\",\"source\":\"postgres\","
              "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
              "\"tx_index\":1E1,\"txid\":-0,\"x\":[-0.5e+10,0,1e-3,-1E-0,"
              "1234567890123456789012345678901234567890123456789012345678901234"
              "567890.5]," COLS "}",
              arena, &ev);
    assert_int_equal(ev.tx_index, 10);
    assert_true(ev.has_txid);
    assert_int_equal(ev.txid, 0);
    decode_ok("{\"v\":10e-1,\"op\":\"INSERT\",\"source\":\"postgres\","
              "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
              "\"tx_index\":4294967295.000000000000000000000000000000000000"
              "000000000000000000000000000000000000," COLS "}",
              arena, &ev);
    assert_int_equal(ev.tx_index, 4294967295u);
    drop_arena(arena);

    static const char *const bad[] = {"01",  "1.",    ".5",   "+1",  "-",
                                      "1e",  "1e+",   "0x10", "1.5.2", "--1",
                                      "-01", "Infinity", "NaN", "1.e5", "00"};
    char json[256];
    for (size_t i = 0; i < NELEMS(bad); i++) {
        snprintf(json, sizeof(json), "{" HEAD ",\"x\":%s," COLS "}", bad[i]);
        expect_reject(json, "message is not a JSON object");
        snprintf(json, sizeof(json), "{" HEAD ",\"tx_index\":%s," COLS "}",
                 bad[i]);
        expect_reject(json, "message is not a JSON object");
    }
}

/* Between tokens, any byte up to the space is whitespace, as it was for
 * cJSON; after the event only JSON's own four are. */
static void test_decode_whitespace(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("\x01 {\t\"v\"\r:\n1 ,\x1f\"op\":\"INSERT\"\x02,\"source\":"
              "\"postgres\",\"schema\":\"public\",\"table\":\"users\","
              "\"position\":\"0/1\",\"columns\" : [ { \"name\" : \"id\" , "
              "\"value\" : \"1\" } ] } \r\n",
              arena, &ev);
    assert_int_equal(ev.ncols, 1);
    static const char event[] = "{" HEAD "," COLS "}";
    char want[96];
    snprintf(want, sizeof(want), "unexpected data after the event at byte %zu",
             sizeof(event) - 1);
    expect_reject("{" HEAD "," COLS "}\x01", want);
    expect_reject("{" HEAD "," COLS "}\v", want);
    drop_arena(arena);
}

/* Containers nest at most 1000 deep, the event's own braces counted, as
 * cJSON allowed; deeper is refused cleanly, however deep. */
static void test_reject_deep_nesting_unknown_key(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    char *s = nested(999, "{" HEAD ",\"x\":", "," COLS "}");
    decode_ok(s, arena, &ev);
    assert_int_equal(ev.ncols, 1);
    drop_mem(s);
    s = nested(1000, "{" HEAD ",\"x\":", "," COLS "}");
    expect_reject(s, "message is not a JSON object");
    drop_mem(s);
    s = nested(1000000, "{" HEAD ",\"x\":", "," COLS "}");
    expect_reject(s, "message is not a JSON object");
    drop_mem(s);

    /* objects, closed: 999 in the event's braces pass, 1000 do not */
    static const char before[] = "{" HEAD ",\"x\":";
    static const char after[] = "," COLS "}";
    for (size_t depth = 999; depth <= 1000; depth++) {
        size_t nb = sizeof(before) - 1;
        char *o = keep_mem(cdc_xmalloc(nb + depth * 6 + sizeof(after)));
        memcpy(o, before, nb);
        for (size_t i = 0; i < depth - 1; i++)
            memcpy(o + nb + i * 5, "{\"a\":", 5);
        size_t at = nb + (depth - 1) * 5;
        memcpy(o + at, "{}", 2);
        at += 2;
        memset(o + at, '}', depth - 1);
        at += depth - 1;
        memcpy(o + at, after, sizeof(after));
        if (depth == 999)
            decode_ok(o, arena, &ev);
        else
            expect_reject(o, "message is not a JSON object");
        drop_mem(o);
    }
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

static void test_position_cmp_mysql(void **state)
{
    (void)state;
    check_cmp("mysql", "binlog.000002:4", 0, "binlog.000001:99999", 0, 1);
    check_cmp("mysql", "binlog.000001:100", 0, "binlog.000001:99", 0, 1);
    check_cmp("mysql", "binlog.000001:100", 0, "binlog.000001:100", 0, 0);
    /* the number grows a digit past 999999 */
    check_cmp("mysql", "binlog.1000000:4", 0, "binlog.999999:500", 0, 1);
    /* copied rows sit just before the snapshot's position */
    check_cmp("mysql", "binlog.000003:1233", 9, "binlog.000003:1234", 0, -1);
    check_cmp("mysql", "binlog.000003:1234", 2, "binlog.000003:1234", 1, 1);
    check_cmp("mysql", "b:18446744073709551615", 0, "b:18446744073709551614", 0,
              1);
    /* not a binlog position: by bytes */
    check_cmp("mysql", "b", 0, "a", 0, 1);
}

/* ==== Messages that pack several events ==== */

/* The columns of the packs below, which a pack says once. */
#define NAMES "\"names\":[\"id\",\"t\"],\"types\":[\"int4\",\"text\"]"
#define ROWS2 "\"rows\":[[\"1\",\"a\"],[\"2\",\"b\"]]"

/* Decodes a message of len bytes (it may hold NUL bytes), expecting a
 * rejection whose message contains want. The input is copied to an
 * exact-size heap block so that AddressSanitizer sees any read past its
 * end. */
static void expect_msg_reject_len(const char *json, size_t len,
                                  const char *want)
{
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = NULL;
    size_t n = 0;
    struct cdc_err err = {0};
    char *copy = keep_mem(cdc_xmalloc(len ? len : 1));
    memcpy(copy, json, len);
    int rc = cdc_event_decode_msg(copy, len, arena, &evs, &n, &err);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(err.code, CDC_EPROTO);
    assert_true(err.flags & CDC_ERR_POISON);
    assert_null(evs);
    assert_int_equal(n, 0);
    if (strstr(err.msg, want) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err.msg, want);
    drop_mem(copy);
    drop_arena(arena);
}

static void expect_msg_reject(const char *json, const char *want)
{
    expect_msg_reject_len(json, strlen(json), want);
}

/* The message is refused alike as a message and as one event. */
static void expect_both_reject(const char *json, const char *want)
{
    expect_msg_reject(json, want);
    expect_reject(json, want);
}

/* Decodes a message of len bytes that must hold n events. */
static struct cdc_event *decode_msg_ok_len(const char *json, size_t len,
                                           size_t n, struct cdc_arena *arena)
{
    struct cdc_event *evs = NULL;
    size_t got = 0;
    struct cdc_err err = {0};
    int rc = cdc_event_decode_msg(json, len, arena, &evs, &got, &err);
    if (rc != CDC_OK)
        fail_msg("decode failed: %s\ninput: %.300s", err.msg, json);
    assert_non_null(evs);
    assert_int_equal(got, n);
    return evs;
}

static struct cdc_event *decode_msg_ok(const char *json, size_t n,
                                       struct cdc_arena *arena)
{
    return decode_msg_ok_len(json, strlen(json), n, arena);
}

/* Appends the pack of evs[0..n) to out, as the replicator writes it. */
static void encode_pack(const struct cdc_event *evs, size_t n,
                        struct cdc_buf *out)
{
    assert_true(n > 0);
    assert_int_equal(cdc_pack_begin(&evs[0], out), CDC_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cdc_pack_add(&evs[i], i == 0, out), CDC_OK);
    assert_int_equal(cdc_pack_end(evs[n - 1].tx_end, out), CDC_OK);
}

/* A message holds one event or a pack of several; a pack's header goes to
 * every event it holds. */
static void test_decode_msg_single_and_pack(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok("{" HEAD "," COLS "}", 1, arena);
    assert_int_equal(evs[0].op, CDC_OP_INSERT);
    assert_string_equal(evs[0].table, "users");
    assert_int_equal(evs[0].ncols, 1);
    assert_string_equal(evs[0].cols[0].value, "1");

    evs = decode_msg_ok(" \n{" HEAD ",\"tx_index\":4,\"txid\":77,"
                        "\"commit_time\":\"2024-05-01T12:00:00Z\","
                        "\"key\":[\"id\"]," NAMES "," ROWS2
                        ",\"tx_end\":true} \r\n",
                        2, arena);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(evs[i].op, CDC_OP_INSERT);
        assert_string_equal(evs[i].source, "postgres");
        assert_string_equal(evs[i].schema, "public");
        assert_string_equal(evs[i].table, "users");
        assert_string_equal(evs[i].position, "0/1");
        assert_true(evs[i].has_txid);
        assert_int_equal(evs[i].txid, 77);
        assert_string_equal(evs[i].commit_time, "2024-05-01T12:00:00Z");
        assert_int_equal(evs[i].nkey, 1);
        assert_string_equal(evs[i].key[0], "id");
        assert_int_equal(evs[i].ncols, 2);
        assert_string_equal(evs[i].cols[0].name, "id");
        assert_string_equal(evs[i].cols[0].type, "int4");
        assert_string_equal(evs[i].cols[1].name, "t");
        assert_string_equal(evs[i].cols[1].type, "text");
        assert_int_equal(evs[i].nold, 0);
        assert_int_equal(evs[i].nunchanged, 0);
        assert_null(evs[i].ddl);
        assert_int_equal(evs[i].tx_index, 4 + i);
        assert_int_equal(evs[i].tx_end, i == 1);
    }
    assert_ptr_not_equal(evs[0].cols, evs[1].cols);
    assert_string_equal(evs[0].cols[0].value, "1");
    assert_int_equal(evs[0].cols[0].value_len, 1);
    assert_string_equal(evs[0].cols[1].value, "a");
    assert_string_equal(evs[1].cols[0].value, "2");
    assert_string_equal(evs[1].cols[1].value, "b");

    /* UPDATE and COPY rows are new rows, as for INSERT */
    evs = decode_msg_ok("{\"v\":1,\"op\":\"UPDATE\",\"source\":\"postgres\","
                        "\"schema\":\"public\",\"table\":\"users\","
                        "\"position\":\"0/1\"," NAMES "," ROWS2 "}",
                        2, arena);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(evs[i].op, CDC_OP_UPDATE);
        assert_int_equal(evs[i].ncols, 2);
        assert_int_equal(evs[i].nold, 0);
        assert_null(evs[i].old);
    }
    assert_string_equal(evs[1].cols[1].value, "b");
    evs = decode_msg_ok("{\"v\":1,\"op\":\"COPY\",\"source\":\"postgres\","
                        "\"schema\":\"public\",\"table\":\"users\","
                        "\"position\":\"snapshot\"," NAMES "," ROWS2 "}",
                        2, arena);
    assert_int_equal(evs[1].op, CDC_OP_COPY);
    assert_int_equal(evs[1].ncols, 2);
    assert_int_equal(evs[1].nold, 0);
    assert_string_equal(evs[1].cols[0].value, "2");

    /* the keys of a pack may come in any order, "rows" before "names" */
    evs = decode_msg_ok("{\"rows\":[[\"9\",null]],\"x\":[[1]],"
                        "\"types\":[\"int4\",\"text\"],\"tx_end\":true,"
                        "\"names\":[\"id\",\"t\"]," HEAD "}",
                        1, arena);
    assert_string_equal(evs[0].cols[0].name, "id");
    assert_string_equal(evs[0].cols[0].value, "9");
    assert_string_equal(evs[0].cols[1].type, "text");
    assert_null(evs[0].cols[1].value);
    assert_true(evs[0].tx_end);

    /* of duplicate keys the first one counts, for the pack's too */
    evs = decode_msg_ok("{" HEAD "," NAMES ",\"names\":5,\"types\":[],"
                        "\"rows\":[[\"1\",\"a\"]],\"rows\":[[\"x\"],3]}",
                        1, arena);
    assert_string_equal(evs[0].cols[1].name, "t");
    assert_string_equal(evs[0].cols[1].value, "a");
    expect_msg_reject("{" HEAD ",\"rows\":5," NAMES "," ROWS2 "}",
                      "event field \"rows\" is not a list");
    drop_arena(arena);
}

/* cdc_event_decode takes one object only, so a message that starts with a
 * bracket is not an event to it; cdc_event_decode_msg reads such a message
 * as a list of events and packs (test_decode_msg_list and after). Nothing
 * else but one object is a message. */
static void test_decode_msg_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *msg_want; /* from cdc_event_decode_msg; NULL: decodes */
        size_t n;             /* events if it decodes */
    } lists[] = {
        {"[]", "message is an empty list of events", 0},
        {"[ \n\t]", "message is an empty list of events", 0},
        {"[1]", "object 1 of the message is not a JSON object", 0},
        {"[", "", 0},
        {"[1,}", "object 1 of the message is not a JSON object", 0},
        {"[{" HEAD "," COLS "}]", NULL, 1},
        {" \t\r\n[ {" HEAD "," COLS "} ]\n", NULL, 1},
        {"[{" HEAD "," COLS "},{" HEAD "," COLS "}]", NULL, 2},
        {"[{" HEAD "," NAMES "," ROWS2 "}]", NULL, 2},
        {"[{\"v\":2}]",
         "object 1 of the message: event version 2 is not supported", 0},
    };
    struct cdc_arena *arena = new_arena();
    for (size_t i = 0; i < NELEMS(lists); i++) {
        expect_reject(lists[i].json, "message is not a JSON object");
        if (lists[i].msg_want != NULL)
            expect_msg_reject(lists[i].json, lists[i].msg_want);
        else
            decode_msg_ok(lists[i].json, lists[i].n, arena);
    }
    drop_arena(arena);
    expect_both_reject("not json", "message is not a JSON object");
    expect_both_reject("", "message is not a JSON object");
    expect_both_reject(" \t", "message is not a JSON object");
    expect_both_reject("\"x\"", "message is not a JSON object");
    expect_both_reject("null", "message is not a JSON object");

    /* one object is the whole message, a pack as much as an event */
    static const char pack[] = "{" HEAD "," NAMES "," ROWS2 "}";
    char want[96];
    snprintf(want, sizeof(want),
             "message has unexpected data after the event at byte %zu",
             sizeof(pack) - 1);
    expect_both_reject("{" HEAD "," NAMES "," ROWS2 "} x", want);
    expect_both_reject("{" HEAD "," NAMES "," ROWS2 "}{" HEAD "," COLS "}",
                       want);
    expect_both_reject("{" HEAD "," NAMES "," ROWS2 "},", want);
}

/* A NUL character in a row of a pack names the row (from 0), as a column
 * of an event alone is named; where the event fails before it, or holds a
 * NUL character earlier, that comes first. */
static void test_decode_msg_nul_in_pack(void **state)
{
    (void)state;
    static const char raw[] = "{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                              "[\"2\",\"a\0b\"]]}";
    expect_msg_reject_len(raw, sizeof(raw) - 1,
                          "row 1 of the pack contains a NUL character, which "
                          "is not supported");
    expect_reject_len(raw, sizeof(raw) - 1,
                      "row 1 of the pack contains a NUL character, which is "
                      "not supported");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"\\u0000\",\"a\"],"
                       "[\"2\",\"b\"]]}",
                       "row 0 of the pack contains a NUL character");
    /* the first row with one is named */
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\",\"b\"],[\"3\",\"c\\u0000\"],"
                       "[\"\\u0000\",null]]}",
                       "row 2 of the pack contains a NUL character");
    /* even in a value that is refused for its type: NUL ranks first */
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\",{\"k\":\"\\u0000\"}]]}",
                       "row 1 of the pack contains a NUL character");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\\u0000\"],"
                       "[\"2\",3],\"x\"]}",
                       "row 0 of the pack contains a NUL character");
    /* a row that is not a list is refused, NUL character or not */
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[\"a\\u0000\"]}", "");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[\"a\\u0000\","
                       "[\"1\",\"b\"]]}",
                       "");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"b\"],"
                       "{\"k\":\"\\u0000\"}]}",
                       "");
    /* in the column names or types, the field is named */
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\\u0000\"],"
                       "\"types\":[\"int4\",\"text\"]," ROWS2 "}",
                       "event field \"names\" contains a NUL character");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\"],"
                       "\"types\":[\"in\\u0000t4\",\"text\"]," ROWS2 "}",
                       "event field \"types\" contains a NUL character");
    /* the first one in the text is named */
    expect_both_reject("{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
                       "\"schema\":\"public\",\"table\":\"us\\u0000ers\","
                       "\"position\":\"0/1\"," NAMES ",\"rows\":[[\"1\","
                       "\"\\u0000\"]]}",
                       "event field \"table\" contains a NUL character");
    expect_both_reject("{\"v\":1," NAMES ",\"rows\":[[\"1\",\"\\u0000\"]],"
                       "\"op\":\"INSERT\",\"source\":\"postgres\","
                       "\"schema\":\"public\",\"table\":\"us\\u0000ers\","
                       "\"position\":\"0/1\"}",
                       "row 0 of the pack contains a NUL character");
    /* a NUL byte between the tokens of a row */
    static const char between[] = "{" HEAD "," NAMES ",\"rows\":[[\"1\",\0"
                                  "\"a\"]]}";
    expect_msg_reject_len(between, sizeof(between) - 1,
                          "event contains a NUL character, which is not "
                          "supported");
    /* errors that rank before it */
    expect_both_reject("{\"v\":2,\"op\":\"INSERT\"," NAMES ",\"rows\":"
                       "[[\"1\",\"\\u0000\"]]}",
                       "event version 2 is not supported");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"\\u0000\"]]",
                       "message is not a JSON object");
    /* the same pack without it decodes */
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok(
        "{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],[\"2\",\"a\\u0001b\"]]}",
        2, arena);
    assert_int_equal(evs[1].cols[1].value_len, 3);
    assert_memory_equal(evs[1].cols[1].value, "a\x01" "b", 4);
    drop_arena(arena);
}

/* Every check of a pack, one case each, through both decoders. */
static void test_decode_pack_rejects(void **state)
{
    (void)state;
    expect_both_reject("{" HEAD "," NAMES "," COLS "}",
                       "event has \"names\" or \"types\" but no \"rows\"");
    expect_both_reject("{" HEAD ",\"types\":[\"int4\"]," COLS "}",
                       "event has \"names\" or \"types\" but no \"rows\"");
    expect_both_reject("{" HEAD ",\"names\":null," COLS "}",
                       "event has \"names\" or \"types\" but no \"rows\"");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":{}}",
                       "event field \"rows\" is not a list");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":null}",
                       "event field \"rows\" is not a list");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":\"[]\"}",
                       "event field \"rows\" is not a list");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",1],"
                       "\"types\":[\"int4\",\"text\"]," ROWS2 "}",
                       "pack field \"names\" is not a list of strings");
    expect_both_reject("{" HEAD ",\"types\":[\"int4\",\"text\"]," ROWS2 "}",
                       "pack field \"names\" is not a list of strings");
    expect_both_reject("{" HEAD ",\"names\":\"id\","
                       "\"types\":[\"int4\",\"text\"]," ROWS2 "}",
                       "pack field \"names\" is not a list of strings");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\"],"
                       "\"types\":[\"int4\",null]," ROWS2 "}",
                       "pack field \"types\" is not a list of strings");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\"]," ROWS2 "}",
                       "pack field \"types\" is not a list of strings");
    expect_both_reject("{" HEAD ",\"names\":[],\"types\":[],"
                       "\"rows\":[[]]}",
                       "pack has no \"names\"");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\"],"
                       "\"types\":[\"int4\"]," ROWS2 "}",
                       "pack has 1 \"types\" for 2 \"names\"");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",\"t\"],"
                       "\"types\":[\"int4\",\"text\",\"x\"]," ROWS2 "}",
                       "pack has 3 \"types\" for 2 \"names\"");
    expect_both_reject("{" HEAD "," COLS "," NAMES "," ROWS2 "}",
                       "pack has \"columns\", \"old\" or \"unchanged\", which "
                       "a pack cannot carry");
    expect_both_reject("{" HEAD ",\"old\":[{\"name\":\"id\",\"value\":\"1\"}],"
                       NAMES "," ROWS2 "}",
                       "pack has \"columns\", \"old\" or \"unchanged\"");
    expect_both_reject("{" HEAD ",\"unchanged\":[\"t\"]," NAMES "," ROWS2 "}",
                       "pack has \"columns\", \"old\" or \"unchanged\"");
    expect_both_reject("{\"v\":1,\"op\":\"TRUNCATE\",\"source\":\"postgres\","
                       "\"schema\":\"public\",\"table\":\"users\","
                       "\"position\":\"0/1\"," NAMES "," ROWS2 "}",
                       "TRUNCATE changes cannot travel in a pack");
    expect_both_reject("{\"v\":1,\"op\":\"DDL\",\"source\":\"postgres\","
                       "\"position\":\"0/1\",\"ddl\":\"DROP TABLE t\","
                       NAMES "," ROWS2 "}",
                       "DDL changes cannot travel in a pack");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[]}",
                       "pack has no rows");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],\"x\"]}",
                       "row 1 of the pack is not a list");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[null]}",
                       "row 0 of the pack is not a list");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\",3]]}",
                       "row 1 of the pack: value 1 is not a string or null");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[true,\"a\"]]}",
                       "row 0 of the pack: value 0 is not a string or null");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\",[\"b\"]]]}",
                       "row 1 of the pack: value 1 is not a string or null");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\"]]}",
                       "row 1 of the pack has 1 values for 2 names");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\",null]]}",
                       "row 0 of the pack has 3 values for 2 names");
    expect_both_reject("{" HEAD ",\"tx_index\":4294967295," NAMES "," ROWS2
                       "}",
                       "pack's rows run past the largest tx_index");
}

/* Messages holding a pack: what ranks before the pack's own checks, and
 * which of several faults is given. */
static void test_decode_msg_rejects_more(void **state)
{
    (void)state;
    /* of several faults in the rows, the first row's is given */
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",5],7]}",
                       "row 0 of the pack: value 1 is not a string or null");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[7,[\"1\",5]]}",
                       "row 0 of the pack is not a list");
    /* the event's own fields are judged first */
    expect_both_reject("{\"v\":1,\"op\":\"UPSERT\",\"source\":\"postgres\","
                       "\"schema\":\"public\",\"table\":\"users\","
                       "\"position\":\"0/1\"," NAMES ",\"rows\":[]}",
                       "event has no valid \"op\"");
    expect_both_reject("{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
                       "\"schema\":\"public\",\"position\":\"0/1\"," NAMES
                       "," ROWS2 "}",
                       "event has no \"table\"");
    expect_both_reject("{" HEAD ",\"tx_index\":-1," NAMES "," ROWS2 "}",
                       "event field \"tx_index\" is not a valid index");
    expect_both_reject("{" HEAD ",\"txid\":\"7\"," NAMES "," ROWS2 "}",
                       "event field \"txid\" is not a number");
    expect_both_reject("{" HEAD ",\"tx_end\":1," NAMES "," ROWS2 "}",
                       "event field \"tx_end\" is not a boolean");
    expect_both_reject("{" HEAD ",\"columns\":[{\"value\":\"1\"}]," NAMES
                       "," ROWS2 "}",
                       "column 0 of \"columns\" has no name");
    /* and malformed JSON anywhere outranks them all */
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],]}",
                       "message is not a JSON object");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\" \"a\"]]}",
                       "message is not a JSON object");
    expect_both_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"]}",
                       "message is not a JSON object");
    expect_both_reject("{" HEAD ",\"names\":[\"id\",],\"rows\":[]}",
                       "message is not a JSON object");
    expect_both_reject("{\"v\":2," NAMES ",\"rows\":[[\"\\q\"]]}",
                       "message is not a JSON object");

    /* right at the boundaries it decodes */
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok("{" HEAD ",\"tx_index\":4294967294,"
                                          NAMES "," ROWS2 "}",
                                          2, arena);
    assert_int_equal(evs[1].tx_index, UINT32_MAX);
    evs = decode_msg_ok("{" HEAD ",\"tx_index\":4294967295," NAMES
                        ",\"rows\":[[\"1\",\"a\"]]}",
                        1, arena);
    assert_int_equal(evs[0].tx_index, UINT32_MAX);
    drop_arena(arena);
}

/* A DELETE's rows are old rows: "old" is filled in, "columns" not. */
static void test_decode_pack_delete(void **state)
{
    (void)state;
    static const char del[] =
        "{\"v\":1,\"op\":\"DELETE\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
        "\"key\":[\"id\"],\"names\":[\"id\"],\"types\":[\"int4\"],"
        "\"rows\":[[\"1\"],[\"2\"],[null]],\"tx_end\":true}";
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok(del, 3, arena);
    static const char *const ids[] = {"1", "2", NULL};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(evs[i].op, CDC_OP_DELETE);
        assert_int_equal(evs[i].ncols, 0);
        assert_null(evs[i].cols);
        assert_int_equal(evs[i].nold, 1);
        assert_non_null(evs[i].old);
        assert_string_equal(evs[i].old[0].name, "id");
        assert_string_equal(evs[i].old[0].type, "int4");
        assert_opt_str_equal(evs[i].old[0].value, ids[i]);
        assert_int_equal(evs[i].nkey, 1);
        assert_int_equal(evs[i].tx_end, i == 2);
    }

    /* the natural form shows them as old rows too */
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode_natural(&evs[1], NULL, buf), CDC_OK);
    assert_non_null(strstr(buf->data, "\"old\":{\"id\":2}"));
    assert_null(strstr(buf->data, "\"row\""));

    /* and one row of it is the DELETE event alone */
    struct cdc_col old[] = {col("id", "int4", "2")};
    const char *key[] = {"id"};
    struct cdc_event want = {.op = CDC_OP_DELETE,
                             .source = "postgres",
                             .schema = "public",
                             .table = "users",
                             .old = old,
                             .nold = 1,
                             .key = key,
                             .nkey = 1,
                             .position = "0/1",
                             .tx_index = 1};
    assert_events_equal(&want, &evs[1]);
    drop_buf(buf);
    drop_arena(arena);
}

/* Row i is the change at tx_index + i; only the last carries the pack's
 * tx_end. */
static void test_decode_pack_tx_index_tx_end(void **state)
{
    (void)state;
    static const struct {
        const char *tail; /* after the rows */
        uint32_t first;
        bool end;
    } cases[] = {
        {",\"tx_index\":7,\"tx_end\":true}", 7, true},
        {",\"tx_index\":7,\"tx_end\":false}", 7, false},
        {",\"tx_index\":0}", 0, false},
        {"}", 0, false}, /* neither: from 0, not the end */
        {",\"tx_end\":true,\"tx_index\":4294967292}", 4294967292u, true},
    };
    struct cdc_arena *arena = new_arena();
    char json[512];
    for (size_t c = 0; c < NELEMS(cases); c++) {
        snprintf(json, sizeof(json),
                 "{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],[\"2\",\"b\"],"
                 "[\"3\",\"c\"],[\"4\",\"d\"]]%s",
                 cases[c].tail);
        struct cdc_event *evs = decode_msg_ok(json, 4, arena);
        for (size_t i = 0; i < 4; i++) {
            assert_int_equal(evs[i].tx_index, cases[c].first + i);
            assert_int_equal(evs[i].tx_end, cases[c].end && i == 3);
        }
    }
    drop_arena(arena);
}

/* A null in a row is SQL NULL, anywhere in it; "" is not null. */
static void test_decode_pack_null_values(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok(
        "{" HEAD ",\"names\":[\"a\",\"b\",\"c\"],"
        "\"types\":[\"int4\",\"text\",\"\"],"
        "\"rows\":[[null,\"x\",\"\"],[\"1\",null,null],[null,null,null],"
        "[\"\",\"\\\"q\\\"\",\"\\u00e9\"]]}",
        4, arena);
    assert_null(evs[0].cols[0].value);
    assert_int_equal(evs[0].cols[0].value_len, 0);
    assert_string_equal(evs[0].cols[1].value, "x");
    assert_non_null(evs[0].cols[2].value);
    assert_int_equal(evs[0].cols[2].value_len, 0);
    assert_string_equal(evs[0].cols[2].type, "");
    assert_string_equal(evs[1].cols[0].value, "1");
    assert_null(evs[1].cols[1].value);
    assert_null(evs[1].cols[2].value);
    for (size_t i = 0; i < 3; i++) {
        assert_null(evs[2].cols[i].value);
        assert_int_equal(evs[2].cols[i].value_len, 0);
    }
    assert_string_equal(evs[3].cols[0].value, "");
    assert_int_equal(evs[3].cols[1].value_len, 3);
    assert_string_equal(evs[3].cols[1].value, "\"q\"");
    assert_int_equal(evs[3].cols[2].value_len, 2);
    assert_string_equal(evs[3].cols[2].value, "\xc3\xa9");
    assert_string_equal(evs[3].cols[2].name, "c");

    /* the encoder writes SQL NULL as null and "" as "" */
    struct cdc_col row[] = {col("a", "int4", NULL), col("b", "text", "")};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .schema = "public",
                           .table = "users",
                           .cols = row,
                           .ncols = NELEMS(row),
                           .position = "0/1"};
    struct cdc_buf *buf = new_buf(0);
    encode_pack(&ev, 1, buf);
    assert_non_null(strstr(buf->data, "\"rows\":[[null,\"\"]]"));
    evs = decode_msg_ok(buf->data, 1, arena);
    assert_events_equal(&ev, &evs[0]);
    drop_buf(buf);
    drop_arena(arena);
}

/* cdc_event_decode takes a pack of one row as the event it holds, and
 * refuses a pack of more: they would be lost. */
static void test_decode_one_event_pack(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event ev;
    decode_ok("{" HEAD ",\"tx_index\":3,\"key\":[\"id\"]," NAMES
              ",\"rows\":[[\"1\",null]],\"tx_end\":true}",
              arena, &ev);
    struct cdc_col cols[] = {col("id", "int4", "1"), col("t", "text", NULL)};
    const char *key[] = {"id"};
    struct cdc_event want = {.op = CDC_OP_INSERT,
                             .source = "postgres",
                             .schema = "public",
                             .table = "users",
                             .cols = cols,
                             .ncols = NELEMS(cols),
                             .key = key,
                             .nkey = 1,
                             .position = "0/1",
                             .tx_index = 3,
                             .tx_end = true};
    assert_events_equal(&want, &ev);

    /* the same as the event alone, either way it is decoded */
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_event_encode(&want, buf), CDC_OK);
    struct cdc_event alone;
    decode_ok(buf->data, arena, &alone);
    assert_events_equal(&alone, &ev);
    cdc_buf_reset(buf);
    encode_pack(&want, 1, buf);
    decode_ok(buf->data, arena, &ev);
    assert_events_equal(&want, &ev);
    struct cdc_event *evs = decode_msg_ok(buf->data, 1, arena);
    assert_events_equal(&want, &evs[0]);

    struct cdc_col old[] = {col("id", "int4", "5")};
    decode_ok("{\"v\":1,\"op\":\"DELETE\",\"source\":\"postgres\","
              "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
              "\"names\":[\"id\"],\"types\":[\"int4\"],\"rows\":[[\"5\"]]}",
              arena, &ev);
    assert_int_equal(ev.ncols, 0);
    assert_cols_equal(old, 1, ev.old, ev.nold);

    expect_reject("{" HEAD "," NAMES "," ROWS2 "}",
                  "message packs 2 events where one was expected");
    expect_reject("{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],[\"2\",\"b\"],"
                  "[\"3\",null]],\"tx_end\":true}",
                  "message packs 3 events where one was expected");
    drop_buf(buf);
    drop_arena(arena);
}

/* ==== Lists of events ==== */

/* A valid event alone, for the lists below. */
#define EV "{" HEAD "," COLS "}"

/* Decodes a message of len bytes (it may hold NUL bytes) that starts with
 * a bracket, expecting cdc_event_decode_msg to refuse it with exactly the
 * reason want, and cdc_event_decode to refuse it as not one object. */
static void expect_list_reject_len(const char *json, size_t len,
                                   const char *want)
{
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = NULL;
    size_t n = 0;
    struct cdc_err err = {0};
    char *copy = keep_mem(cdc_xmalloc(len ? len : 1));
    memcpy(copy, json, len);
    int rc = cdc_event_decode_msg(copy, len, arena, &evs, &n, &err);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(err.code, CDC_EPROTO);
    assert_true(err.flags & CDC_ERR_POISON);
    assert_null(evs);
    assert_int_equal(n, 0);
    if (strcmp(err.msg, want) != 0)
        fail_msg("message \"%s\" is not \"%s\"", err.msg, want);
    drop_mem(copy);
    drop_arena(arena);
    expect_reject_len(json, len, "message is not a JSON object");
}

static void expect_list_reject(const char *json, const char *want)
{
    expect_list_reject_len(json, strlen(json), want);
}

/* Appends evs[0..n) to out as one object, as the replicator writes it: a
 * change that may pack as a pack (of one, too), any other alone. */
static void encode_object(const struct cdc_event *evs, size_t n,
                          struct cdc_buf *out)
{
    if (cdc_pack_can_start(&evs[0])) {
        encode_pack(evs, n, out);
        return;
    }
    assert_int_equal(n, 1);
    assert_int_equal(cdc_event_encode(&evs[0], out), CDC_OK);
}

/* A message may list objects, each an event or a pack: their events come
 * out in order, a pack's expanded where it stands, each with its own
 * tx_index and tx_end, columns and old row. */
static void test_decode_msg_list(void **state)
{
    (void)state;
    static const char mix[] =
        "[{" HEAD ",\"txid\":5,\"tx_index\":0," COLS "},"
        "{" HEAD ",\"txid\":5,\"tx_index\":1," NAMES ","
        "\"rows\":[[\"2\",\"b\"],[\"3\",\"c\"]],\"tx_end\":false},"
        "{\"v\":1,\"op\":\"UPDATE\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
        "\"txid\":5,\"tx_index\":3,"
        "\"columns\":[{\"name\":\"id\",\"type\":\"int4\",\"value\":\"3\"},"
        "{\"name\":\"t\",\"type\":\"text\",\"value\":\"z\"}],"
        "\"old\":[{\"name\":\"id\",\"type\":\"int4\",\"value\":\"3\"}],"
        "\"unchanged\":[\"blob\"]},"
        "{\"v\":1,\"op\":\"DELETE\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/1\","
        "\"txid\":5,\"tx_index\":4,\"key\":[\"id\"],\"names\":[\"id\"],"
        "\"types\":[\"int4\"],\"rows\":[[\"4\"],[null]],\"tx_end\":true},"
        "{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/2\","
        "\"txid\":6," NAMES ",\"rows\":[[\"7\",null]],\"tx_end\":true},"
        "{\"v\":1,\"op\":\"DDL\",\"source\":\"postgres\",\"position\":\"0/3\","
        "\"tx_end\":true,\"ddl\":\"ALTER TABLE users ADD c int\"}]";
    struct cdc_col c0[] = {col("id", "int4", "1")};
    struct cdc_col c1[] = {col("id", "int4", "2"), col("t", "text", "b")};
    struct cdc_col c2[] = {col("id", "int4", "3"), col("t", "text", "c")};
    struct cdc_col c3[] = {col("id", "int4", "3"), col("t", "text", "z")};
    struct cdc_col o3[] = {col("id", "int4", "3")};
    struct cdc_col o4[] = {col("id", "int4", "4")};
    struct cdc_col o5[] = {col("id", "int4", NULL)};
    struct cdc_col c6[] = {col("id", "int4", "7"), col("t", "text", NULL)};
    const char *key[] = {"id"};
    const char *unchanged[] = {"blob"};
#define USERS(pos, txid_)                                                      \
    .source = "postgres", .schema = "public", .table = "users",                \
    .position = (pos), .has_txid = true, .txid = (txid_)
    const struct cdc_event want[] = {
        {.op = CDC_OP_INSERT, USERS("0/1", 5), .tx_index = 0, .cols = c0,
         .ncols = NELEMS(c0)},
        {.op = CDC_OP_INSERT, USERS("0/1", 5), .tx_index = 1, .cols = c1,
         .ncols = NELEMS(c1)},
        {.op = CDC_OP_INSERT, USERS("0/1", 5), .tx_index = 2, .cols = c2,
         .ncols = NELEMS(c2)},
        {.op = CDC_OP_UPDATE, USERS("0/1", 5), .tx_index = 3, .cols = c3,
         .ncols = NELEMS(c3), .old = o3, .nold = NELEMS(o3),
         .unchanged = unchanged, .nunchanged = 1},
        {.op = CDC_OP_DELETE, USERS("0/1", 5), .tx_index = 4, .old = o4,
         .nold = 1, .key = key, .nkey = 1},
        {.op = CDC_OP_DELETE, USERS("0/1", 5), .tx_index = 5, .old = o5,
         .nold = 1, .key = key, .nkey = 1, .tx_end = true},
        {.op = CDC_OP_INSERT, USERS("0/2", 6), .tx_index = 0, .cols = c6,
         .ncols = NELEMS(c6), .tx_end = true},
        {.op = CDC_OP_DDL, .source = "postgres", .position = "0/3",
         .tx_end = true, .ddl = "ALTER TABLE users ADD c int"},
    };
#undef USERS
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs = decode_msg_ok(mix, NELEMS(want), arena);
    for (size_t i = 0; i < NELEMS(want); i++)
        assert_events_equal(&want[i], &evs[i]);
    /* spelled out: what the header of each pack gave its rows */
    static const struct {
        uint32_t tx_index;
        bool tx_end;
    } tx[] = {{0, false}, {1, false}, {2, false}, {3, false},
              {4, false}, {5, true},  {0, true},  {0, true}};
    for (size_t i = 0; i < NELEMS(tx); i++) {
        assert_int_equal(evs[i].tx_index, tx[i].tx_index);
        assert_int_equal(evs[i].tx_end, tx[i].tx_end);
    }
    assert_null(evs[4].cols);
    assert_string_equal(evs[4].old[0].value, "4");
    assert_null(evs[5].old[0].value);
    assert_ptr_not_equal(evs[1].cols, evs[2].cols);
    assert_string_equal(evs[2].cols[1].value, "c");

    /* the same events in objects made by the encoders */
    static const size_t starts[] = {0, 1, 3, 4, 6, 7, NELEMS(want)};
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_buf_append_char(buf, '['), CDC_OK);
    for (size_t o = 0; o + 1 < NELEMS(starts); o++) {
        if (o > 0)
            assert_int_equal(cdc_buf_append_char(buf, ','), CDC_OK);
        encode_object(want + starts[o], starts[o + 1] - starts[o], buf);
    }
    assert_int_equal(cdc_buf_append_char(buf, ']'), CDC_OK);
    assert_valid_json(buf->data, buf->len);
    evs = decode_msg_ok(buf->data, NELEMS(want), arena);
    for (size_t i = 0; i < NELEMS(want); i++)
        assert_events_equal(&want[i], &evs[i]);

    /* a list of one object is that object */
    evs = decode_msg_ok("[{" HEAD "," NAMES "," ROWS2 ",\"tx_end\":true}]", 2,
                        arena);
    assert_string_equal(evs[1].cols[0].value, "2");
    assert_false(evs[0].tx_end);
    assert_true(evs[1].tx_end);
    drop_buf(buf);
    drop_arena(arena);
}

/* Many objects in one list, more than the decoder keeps before it grows
 * its list: every event in order. */
static void test_decode_msg_list_long(void **state)
{
    (void)state;
    enum { OBJECTS = 41 };
    struct cdc_buf *buf = new_buf(0);
    struct cdc_arena *arena = new_arena();
    unsigned t = 0;
    assert_int_equal(cdc_buf_append_char(buf, '['), CDC_OK);
    for (size_t o = 0; o < OBJECTS; o++) {
        int rc = CDC_OK;
        if (o % 2 == 0) {
            rc = cdc_buf_printf(buf,
                                "%s{" HEAD ",\"tx_index\":%u,\"columns\":"
                                "[{\"name\":\"id\",\"value\":\"%u\"}]%s}",
                                o > 0 ? "," : "", t, t,
                                o + 1 == OBJECTS ? ",\"tx_end\":true" : "");
            t++;
        } else {
            rc = cdc_buf_printf(buf,
                                ",{" HEAD ",\"tx_index\":%u," NAMES
                                ",\"rows\":[[\"%u\",\"a\"],[\"%u\",\"b\"],"
                                "[\"%u\",null]]}",
                                t, t, t + 1, t + 2);
            t += 3;
        }
        assert_int_equal(rc, CDC_OK);
    }
    assert_int_equal(cdc_buf_append_char(buf, ']'), CDC_OK);
    struct cdc_event *evs = decode_msg_ok(buf->data, t, arena);
    char want[16];
    for (unsigned i = 0; i < t; i++) {
        snprintf(want, sizeof(want), "%u", i);
        assert_int_equal(evs[i].op, CDC_OP_INSERT);
        assert_int_equal(evs[i].tx_index, i);
        assert_int_equal(evs[i].tx_end, i + 1 == t);
        assert_string_equal(evs[i].cols[0].name, "id");
        assert_string_equal(evs[i].cols[0].value, want);
        assert_int_equal(evs[i].ncols, evs[i].cols[0].type[0] == '\0' ? 1 : 2);
    }
    assert_int_equal(t, (OBJECTS + 1) / 2 + OBJECTS / 2 * 3);
    drop_arena(arena);
    drop_buf(buf);
}

/* Whitespace may stand around the list and between all of its tokens; as
 * inside an object, any byte up to the space is whitespace there, and after
 * the list only JSON's own four are. */
static void test_decode_msg_list_whitespace(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_event *evs =
        decode_msg_ok(" \r\n\t[ \n" EV " \t,\r\n{" HEAD "," NAMES "," ROWS2
                      "}\n ] \r\n\t ",
                      3, arena);
    assert_string_equal(evs[0].cols[0].value, "1");
    assert_string_equal(evs[2].cols[1].value, "b");
    evs = decode_msg_ok("[ {\t\"v\"\r:\n1 ,\"op\" : \"INSERT\" , \"source\":"
                        "\"postgres\",\"schema\":\"public\",\"table\":"
                        "\"users\",\"position\":\"0/1\",\"columns\" : [ { "
                        "\"name\" : \"id\" , \"value\" : \"5\" } ] } , { "
                        "\"v\":1,\"op\":\"DELETE\",\"source\":\"postgres\","
                        "\"schema\":\"public\",\"table\":\"users\","
                        "\"position\":\"0/1\" , \"names\" : [ \"id\" ] , "
                        "\"types\" : [ \"int4\" ] , \"rows\" : [ [ \"6\" ] "
                        ", [ null ] ] } ]",
                        3, arena);
    assert_string_equal(evs[0].cols[0].value, "5");
    assert_string_equal(evs[1].old[0].value, "6");
    assert_null(evs[2].old[0].value);
    evs = decode_msg_ok("[\x01" EV "\x1f,\x02" EV "\v]", 2, arena);
    assert_int_equal(evs[1].ncols, 1);

    static const char list[] = "[" EV "," EV "]";
    char want[96];
    snprintf(want, sizeof(want),
             "message has unexpected data after the events at byte %zu",
             sizeof(list) - 1);
    expect_list_reject("[" EV "," EV "]\x01", want);
    expect_list_reject("[" EV "," EV "]\v", want);
    expect_list_reject("[" EV "," EV "] \t\r\n\f", want);
    drop_arena(arena);
}

/* Every reason a list is refused, one case each and some more: the first
 * fault met is given, an object's own reason after the object's number
 * (from 1). */
static void test_decode_msg_list_rejects(void **state)
{
    (void)state;
    /* malformed */
    static const char *const syntax[] = {
        "[" EV,
        "[" EV " " EV "]",
        "[" EV "}",
        "[" EV "," EV,
        "[{" HEAD "," COLS "]",
        "[{" HEAD ",}]",
        "[" EV ",{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],]}]",
        "[" EV ",{\"v\":1,",
        "[" EV ",{\"v\":1,\"x\":\"\\q\"}]",
    };
    for (size_t i = 0; i < NELEMS(syntax); i++)
        expect_list_reject(syntax[i], "message is not a JSON array of events");

    expect_list_reject("[]", "message is an empty list of events");
    expect_list_reject(" [ \r\n\t] ", "message is an empty list of events");

    expect_list_reject("[1]", "object 1 of the message is not a JSON object");
    expect_list_reject("[null," EV "]",
                       "object 1 of the message is not a JSON object");
    expect_list_reject("[" EV ",\"{}\"]",
                       "object 2 of the message is not a JSON object");
    expect_list_reject("[" EV ",[" EV "]]",
                       "object 2 of the message is not a JSON object");
    expect_list_reject("[" EV "," EV ",true]",
                       "object 3 of the message is not a JSON object");

    /* an object's own reason, numbered */
    expect_list_reject("[" EV ",{" HEAD "}]",
                       "object 2 of the message: INSERT event for "
                       "\"public\".\"users\" has no columns");
    expect_list_reject("[" EV ",{\"v\":1,\"op\":\"INSERT\",\"source\":\"pg\","
                       "\"schema\":\"public\",\"table\":\"users\"," COLS
                       "}," EV "]",
                       "object 2 of the message: event has no \"position\"");
    expect_list_reject("[{\"v\":2}," EV "]",
                       "object 1 of the message: event version 2 is not "
                       "supported (expected 1)");
    /* of several bad objects, the first is named */
    expect_list_reject("[" EV ",{\"v\":2},{" HEAD "}]",
                       "object 2 of the message: event version 2 is not "
                       "supported (expected 1)");
    /* a bad pack */
    expect_list_reject("[" EV "," EV ",{" HEAD "," NAMES
                       ",\"rows\":[[\"1\"]]}]",
                       "object 3 of the message: row 0 of the pack has 1 "
                       "values for 2 names");
    expect_list_reject("[{" HEAD "," NAMES "," ROWS2 "},{" HEAD "," NAMES
                       ",\"rows\":[]}]",
                       "object 2 of the message: pack has no rows");
    expect_list_reject("[" EV ",{" HEAD ",\"tx_index\":4294967295," NAMES
                       "," ROWS2 "}]",
                       "object 2 of the message: pack's rows run past the "
                       "largest tx_index");

    /* NUL characters: between the list's tokens, between an object's, and
     * in a string */
    static const char *const nul_between[] = {
        "[\0" EV "]",
        "[" EV ",\0" EV "]",
        "[" EV "\0," EV "]",
        "[" EV "," EV "\0]",
    };
    static const size_t nul_len[] = {
        sizeof("[\0" EV "]") - 1,
        sizeof("[" EV ",\0" EV "]") - 1,
        sizeof("[" EV "\0," EV "]") - 1,
        sizeof("[" EV "," EV "\0]") - 1,
    };
    for (size_t i = 0; i < NELEMS(nul_between); i++)
        expect_list_reject_len(nul_between[i], nul_len[i],
                               "message contains a NUL character, which is "
                               "not supported");
    static const char nul_in_obj[] = "[" EV ",{" HEAD ",\0" COLS "}]";
    expect_list_reject_len(nul_in_obj, sizeof(nul_in_obj) - 1,
                           "object 2 of the message: event contains a NUL "
                           "character, which is not supported");
    static const char nul_in_str[] = "[{" HEAD ",\"columns\":[{\"name\":"
                                     "\"bin\",\"value\":\"a\0b\"}]}," EV "]";
    expect_list_reject_len(nul_in_str, sizeof(nul_in_str) - 1,
                           "object 1 of the message: column \"bin\" of "
                           "\"columns\" contains a NUL character, which is "
                           "not supported");
    expect_list_reject("[" EV ",{" HEAD "," NAMES ",\"rows\":[[\"1\",\"a\"],"
                       "[\"2\",\"\\u0000\"]]}]",
                       "object 2 of the message: row 1 of the pack contains "
                       "a NUL character, which is not supported");

    /* the list is the whole message */
    static const char one[] = "[" EV "]";
    char want[96];
    snprintf(want, sizeof(want),
             "message has unexpected data after the events at byte %zu",
             sizeof(one) - 1);
    expect_list_reject("[" EV "] x", want);
    expect_list_reject("[" EV "][" EV "]", want);
    expect_list_reject("[" EV "]" EV, want);
    expect_list_reject("[" EV "],", want);
    expect_list_reject("[" EV "]]", want);
    static const char nul_after[] = "[" EV "]\0";
    expect_list_reject_len(nul_after, sizeof(nul_after), want);
}

/* Every strict prefix of a valid list is refused, without reading past
 * the given length; containers nest at most 1000 deep, the list counted,
 * and deeper is refused cleanly. */
static void test_decode_msg_list_truncated_and_deep(void **state)
{
    (void)state;
    struct cdc_col cols[] = {col("id", "int4", "1"), col("t", "text", "a\"b")};
    struct cdc_col cols2[] = {col("id", "int4", "2"), col("t", "text", NULL)};
    struct cdc_event evs[] = {
        {.op = CDC_OP_TRUNCATE, .source = "postgres", .schema = "public",
         .table = "users", .position = "0/1"},
        {.op = CDC_OP_INSERT, .source = "postgres", .schema = "public",
         .table = "users", .position = "0/1", .tx_index = 1, .cols = cols,
         .ncols = 2},
        {.op = CDC_OP_INSERT, .source = "postgres", .schema = "public",
         .table = "users", .position = "0/1", .tx_index = 2, .cols = cols2,
         .ncols = 2, .tx_end = true},
    };
    struct cdc_buf *buf = new_buf(0);
    assert_int_equal(cdc_buf_append_char(buf, '['), CDC_OK);
    encode_object(evs, 1, buf);
    assert_int_equal(cdc_buf_append_char(buf, ','), CDC_OK);
    encode_object(evs + 1, 2, buf);
    assert_int_equal(cdc_buf_append_char(buf, ']'), CDC_OK);
    struct cdc_arena *arena = new_arena();
    struct cdc_event *back = decode_msg_ok(buf->data, 3, arena);
    for (size_t i = 0; i < 3; i++)
        assert_events_equal(&evs[i], &back[i]);
    drop_arena(arena);
    for (size_t len = 0; len < buf->len; len++)
        expect_msg_reject_len(buf->data, len, "");
    drop_buf(buf);

    arena = new_arena();
    char *s = nested(998, "[{" HEAD ",\"x\":", "," COLS "}]");
    back = decode_msg_ok(s, 1, arena);
    assert_int_equal(back[0].ncols, 1);
    drop_mem(s);
    s = nested(999, "[{" HEAD ",\"x\":", "," COLS "}]");
    expect_list_reject(s, "message is not a JSON array of events");
    drop_mem(s);
    s = nested(200000, "[" EV ",{" HEAD ",\"x\":", "}]");
    expect_list_reject(s, "message is not a JSON array of events");
    drop_mem(s);
    s = nested(200000, "", "");
    expect_list_reject(s, "object 1 of the message is not a JSON object");
    drop_mem(s);
    drop_arena(arena);
}

/* A change that carries one row and nothing else may travel in a pack. */
static void test_pack_can_start(void **state)
{
    (void)state;
    struct cdc_col row[] = {col("id", "int4", "1")};
    const char *names[] = {"t"};
    const struct cdc_event base = {.op = CDC_OP_INSERT,
                                   .source = "postgres",
                                   .schema = "public",
                                   .table = "users",
                                   .position = "0/1"};
    struct cdc_event ev = base;
    ev.cols = row;
    ev.ncols = 1;
    assert_true(cdc_pack_can_start(&ev));
    ev.op = CDC_OP_COPY;
    assert_true(cdc_pack_can_start(&ev));
    ev.op = CDC_OP_UPDATE;
    assert_true(cdc_pack_can_start(&ev));
    /* an UPDATE with its old row or with unchanged columns travels alone */
    ev.old = row;
    ev.nold = 1;
    assert_false(cdc_pack_can_start(&ev));
    ev.old = NULL;
    ev.nold = 0;
    ev.unchanged = names;
    ev.nunchanged = 1;
    assert_false(cdc_pack_can_start(&ev));
    ev.op = CDC_OP_INSERT; /* however odd */
    assert_false(cdc_pack_can_start(&ev));
    ev.unchanged = NULL;
    ev.nunchanged = 0;
    ev.ddl = "ALTER TABLE users ADD c int";
    assert_false(cdc_pack_can_start(&ev));
    ev.ddl = NULL;
    /* nor the other fields of a DDL event, which a pack would lose */
    ev.object = "table public.users";
    assert_false(cdc_pack_can_start(&ev));
    ev.object = NULL;
    ev.search_path = "";
    assert_false(cdc_pack_can_start(&ev));
    ev.search_path = NULL;
    assert_true(cdc_pack_can_start(&ev));
    ev.ncols = 0;
    assert_false(cdc_pack_can_start(&ev)); /* no row */

    ev = base;
    ev.op = CDC_OP_DELETE;
    assert_false(cdc_pack_can_start(&ev));
    ev.old = row;
    ev.nold = 1;
    assert_true(cdc_pack_can_start(&ev));
    ev.cols = row;
    ev.ncols = 1;
    assert_false(cdc_pack_can_start(&ev)); /* two rows */

    ev = base;
    ev.op = CDC_OP_TRUNCATE;
    assert_false(cdc_pack_can_start(&ev));
    ev.cols = row; /* even with a row */
    ev.ncols = 1;
    assert_false(cdc_pack_can_start(&ev));
    ev = base;
    ev.op = CDC_OP_DDL;
    ev.ddl = "CREATE TABLE t (id int)";
    assert_false(cdc_pack_can_start(&ev));
    ev.cols = row;
    ev.ncols = 1;
    assert_false(cdc_pack_can_start(&ev));
}

/* The next change goes into the pack only if it is the next one of the
 * same transaction and table, with the same operation and columns. */
static void test_pack_follows(void **state)
{
    (void)state;
    struct cdc_col ra[] = {col("id", "int4", "1"), col("t", "text", "a")};
    struct cdc_col rb[] = {col("id", "int4", "2"), col("t", "text", NULL)};
    struct cdc_col renamed[] = {col("id", "int4", "2"), col("u", "text", "b")};
    struct cdc_col retyped[] = {col("id", "int8", "2"), col("t", "text", "b")};
    struct cdc_col untyped[] = {col("id", "int4", "2"), col("t", NULL, "b")};
    struct cdc_col fewer[] = {col("id", "int4", "2")};
    struct cdc_col more[] = {col("id", "int4", "2"), col("t", "text", "b"),
                             col("n", "int4", "3")};
    const char *key[] = {"id"};
    const char *other_key[] = {"t"};
    const struct cdc_event a = {.op = CDC_OP_INSERT,
                                .source = "postgres",
                                .schema = "public",
                                .table = "users",
                                .cols = ra,
                                .ncols = NELEMS(ra),
                                .key = key,
                                .nkey = 1,
                                .position = "0/16B3748",
                                .tx_index = 3,
                                .has_txid = true,
                                .txid = 735,
                                .commit_time = "2024-05-01T12:00:00Z"};
    struct cdc_event b = a;
    b.cols = rb;
    b.tx_index = 4;
    b.tx_end = true; /* the next one's tx_end does not matter */
    assert_true(cdc_pack_follows(&a, &b));

    struct cdc_event c = b;
    c.op = CDC_OP_UPDATE;
    assert_false(cdc_pack_follows(&a, &c));
    c.op = CDC_OP_COPY;
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.table = "orders";
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.schema = "audit";
    assert_false(cdc_pack_follows(&a, &c));
    c.schema = NULL;
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.source = "mysql";
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.position = "0/16B3749";
    assert_false(cdc_pack_follows(&a, &c));
    /* tx_index: only the next one */
    static const uint32_t not_next[] = {5, 3, 2, 0, 100, UINT32_MAX};
    for (size_t i = 0; i < NELEMS(not_next); i++) {
        c = b;
        c.tx_index = not_next[i];
        assert_false(cdc_pack_follows(&a, &c));
    }
    /* nothing follows the last change of a transaction */
    struct cdc_event end = a;
    end.tx_end = true;
    assert_false(cdc_pack_follows(&end, &b));
    /* the columns: names, types and count */
    c = b;
    c.cols = renamed;
    assert_false(cdc_pack_follows(&a, &c));
    c.cols = retyped;
    assert_false(cdc_pack_follows(&a, &c));
    c.cols = untyped;
    assert_false(cdc_pack_follows(&a, &c));
    c.cols = fewer;
    c.ncols = NELEMS(fewer);
    assert_false(cdc_pack_follows(&a, &c));
    c.cols = more;
    c.ncols = NELEMS(more);
    assert_false(cdc_pack_follows(&a, &c));
    /* the rest of the header that the pack says once */
    c = b;
    c.txid = 736;
    assert_false(cdc_pack_follows(&a, &c));
    c.has_txid = false;
    c.txid = 735;
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.commit_time = NULL;
    assert_false(cdc_pack_follows(&a, &c));
    c.commit_time = "2024-05-01T12:00:01Z";
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.nkey = 0;
    assert_false(cdc_pack_follows(&a, &c));
    c.key = other_key;
    c.nkey = 1;
    assert_false(cdc_pack_follows(&a, &c));
    /* a change that cannot start a pack does not join one either */
    c = b;
    c.old = ra;
    c.nold = NELEMS(ra);
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.ddl = "ALTER TABLE users ADD c int";
    assert_false(cdc_pack_follows(&a, &c));
    c = b;
    c.op = CDC_OP_TRUNCATE;
    c.cols = NULL;
    c.ncols = 0;
    assert_false(cdc_pack_follows(&a, &c));

    /* equal strings match, wherever they are stored; a missing type is
     * the empty one, as on the bus */
    char table[] = "users";
    c = b;
    c.table = table;
    assert_true(cdc_pack_follows(&a, &c));
    struct cdc_col empty_type[] = {col("id", "int4", "1"), col("t", "", "a")};
    struct cdc_event e = a;
    e.cols = empty_type;
    c = b;
    c.cols = untyped;
    assert_true(cdc_pack_follows(&e, &c));

    /* DELETE compares the old rows */
    struct cdc_event da = a;
    da.op = CDC_OP_DELETE;
    da.cols = NULL;
    da.ncols = 0;
    da.old = ra;
    da.nold = NELEMS(ra);
    struct cdc_event db = da;
    db.old = rb;
    db.tx_index = 4;
    assert_true(cdc_pack_follows(&da, &db));
    db.old = renamed;
    assert_false(cdc_pack_follows(&da, &db));
    db.old = fewer;
    db.nold = NELEMS(fewer);
    assert_false(cdc_pack_follows(&da, &db));
    /* a DELETE does not follow an INSERT of the same columns */
    db = da;
    db.tx_index = 4;
    assert_false(cdc_pack_follows(&a, &db));
}

/* The exact text of small packs. */
static void test_pack_encode_exact(void **state)
{
    (void)state;
    struct cdc_col r0[] = {col("id", "int4", "1"), col("name", "text", "ann")};
    struct cdc_col r1[] = {col("id", "int4", "2"),
                           col("name", "text", NULL)};
    const char *key[] = {"id"};
    struct cdc_event evs[2] = {{.op = CDC_OP_INSERT,
                                .source = "postgres",
                                .schema = "public",
                                .table = "users",
                                .cols = r0,
                                .ncols = NELEMS(r0),
                                .key = key,
                                .nkey = 1,
                                .position = "0/16B3748",
                                .tx_index = 3,
                                .has_txid = true,
                                .txid = 735,
                                .commit_time = "2024-05-01T12:00:00.000000Z"}};
    evs[1] = evs[0];
    evs[1].cols = r1;
    evs[1].tx_index = 4;
    evs[1].tx_end = true;
    assert_true(cdc_pack_can_start(&evs[0]));
    assert_true(cdc_pack_follows(&evs[0], &evs[1]));
    struct cdc_buf *buf = new_buf(0);
    encode_pack(evs, 2, buf);
    assert_string_equal(
        buf->data,
        "{\"v\":1,\"op\":\"INSERT\",\"source\":\"postgres\","
        "\"schema\":\"public\",\"table\":\"users\",\"position\":\"0/16B3748\","
        "\"tx_index\":3,\"txid\":735,"
        "\"commit_time\":\"2024-05-01T12:00:00.000000Z\",\"key\":[\"id\"],"
        "\"names\":[\"id\",\"name\"],\"types\":[\"int4\",\"text\"],"
        "\"rows\":[[\"1\",\"ann\"],[\"2\",null]],\"tx_end\":true}");
    assert_int_equal(strlen(buf->data), buf->len);
    assert_valid_json(buf->data, buf->len);
    struct cdc_arena *arena = new_arena();
    struct cdc_event *back = decode_msg_ok(buf->data, 2, arena);
    assert_events_equal(&evs[0], &back[0]);
    assert_events_equal(&evs[1], &back[1]);

    /* the least a pack says: no txid, commit time or key; a missing type
     * is ""; values escaped as in an event; the tx_end of the last row */
    struct cdc_col o0[] = {col("k", NULL, "a\"b\\\n")};
    struct cdc_col o1[] = {col("k", NULL, "")};
    struct cdc_event dels[2] = {{.op = CDC_OP_DELETE,
                                 .source = "mysql",
                                 .schema = "db",
                                 .table = "t",
                                 .old = o0,
                                 .nold = 1,
                                 .position = "binlog.000001:4",
                                 .tx_index = 0}};
    dels[1] = dels[0];
    dels[1].old = o1;
    dels[1].tx_index = 1;
    assert_true(cdc_pack_follows(&dels[0], &dels[1]));
    cdc_buf_reset(buf);
    encode_pack(dels, 2, buf);
    assert_string_equal(buf->data,
                        "{\"v\":1,\"op\":\"DELETE\",\"source\":\"mysql\","
                        "\"schema\":\"db\",\"table\":\"t\","
                        "\"position\":\"binlog.000001:4\",\"tx_index\":0,"
                        "\"names\":[\"k\"],\"types\":[\"\"],"
                        "\"rows\":[[\"a\\\"b\\\\\\n\"],[\"\"]],"
                        "\"tx_end\":false}");
    back = decode_msg_ok(buf->data, 2, arena);
    assert_events_equal(&dels[0], &back[0]);
    assert_events_equal(&dels[1], &back[1]);
    drop_arena(arena);
    drop_buf(buf);
}

/* A message whose rows carry a search_path (the input the fuzzer found):
 * decoded, its events may not go back into a pack, which has no place
 * for it and once dropped it; alone each comes back whole. */
static void test_pack_refuses_ddl_fields(void **state)
{
    (void)state;
    struct cdc_arena *arena = new_arena();
    struct cdc_buf *buf = new_buf(0);
    struct cdc_event *evs = decode_msg_ok(
        "[{\"v\":1,\"op\":\"INSERT\",\"source\":\"\",\"schema\":\"\","
        "\"table\":\"\",\"position\":\"\",\"search_path\":\"\","
        "\"names\":[\"\",\"\"],\"types\":[\"\",\"\"],"
        "\"rows\":[[\"\",\"\"],[\"\",null]]}]",
        2, arena);
    assert_string_equal(evs[0].search_path, "");
    assert_string_equal(evs[1].search_path, "");
    assert_false(cdc_pack_can_start(&evs[0]));
    assert_false(cdc_pack_follows(&evs[0], &evs[1]));
    for (size_t i = 0; i < 2; i++) {
        cdc_buf_reset(buf);
        assert_int_equal(cdc_event_encode(&evs[i], buf), CDC_OK);
        struct cdc_event *back = decode_msg_ok(buf->data, 1, arena);
        assert_events_equal(&evs[i], back);
    }
    drop_buf(buf);
    drop_arena(arena);
}

/* A pack of many rows and wide values comes back whole. */
static void test_pack_many_rows(void **state)
{
    (void)state;
    enum { ROWS = 5000, NCOL = 3 };
    struct cdc_arena *gen = new_arena();
    struct cdc_arena *arena = new_arena();
    struct cdc_buf *buf = new_buf(0);
    struct cdc_event *evs = cdc_arena_alloc(gen, sizeof(*evs) * ROWS);
    static const char *const names[NCOL] = {"id", "note", "n"};
    static const char *const types[NCOL] = {"int8", "text", "numeric"};
    for (size_t i = 0; i < ROWS; i++) {
        struct cdc_col *row = cdc_arena_alloc(gen, sizeof(*row) * NCOL);
        char v[64];
        for (size_t j = 0; j < NCOL; j++) {
            row[j].name = names[j];
            row[j].type = types[j];
            row[j].value = NULL;
            row[j].value_len = 0;
        }
        snprintf(v, sizeof(v), "%zu", i);
        row[0].value = cdc_arena_strdup(gen, v);
        row[0].value_len = strlen(v);
        if (i % 7 != 0) {
            size_t len = i % 97;
            char *s = cdc_arena_alloc(gen, len + 1);
            for (size_t k = 0; k < len; k++)
                s[k] = (char)('a' + (i + k) % 26);
            s[len] = '\0';
            row[1].value = s;
            row[1].value_len = len;
        }
        snprintf(v, sizeof(v), "%zu.%02zu", i * 31, i % 100);
        row[2].value = cdc_arena_strdup(gen, v);
        row[2].value_len = strlen(v);
        evs[i] = (struct cdc_event){.op = CDC_OP_COPY,
                                    .source = "postgres",
                                    .schema = "public",
                                    .table = "big",
                                    .cols = row,
                                    .ncols = NCOL,
                                    .position = "snapshot",
                                    .tx_index = (uint32_t)(10 + i),
                                    .tx_end = i + 1 == ROWS};
        if (i > 0)
            assert_true(cdc_pack_follows(&evs[i - 1], &evs[i]));
    }
    encode_pack(evs, ROWS, buf);
    assert_valid_json(buf->data, buf->len);
    struct cdc_event *back = decode_msg_ok(buf->data, ROWS, arena);
    for (size_t i = 0; i < ROWS; i++)
        assert_events_equal(&evs[i], &back[i]);
    drop_buf(buf);
    drop_arena(arena);
    drop_arena(gen);
}

/* ==== Round trip of many events ==== */

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Pseudo-random text of up to max bytes: any byte but NUL, with quotes,
 * backslashes, control bytes and UTF-8 (which the encoder escapes or
 * passes through) often. */
static char *rand_text(struct cdc_arena *a, uint32_t *x, size_t max,
                       size_t *len)
{
    static const char special[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f";
    static const char *const utf8[] = {"\xc3\xa9", "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80", "\xff"};
    size_t n = next_rand(x) % (max + 1);
    char *s = cdc_arena_alloc(a, n + 1);
    size_t i = 0;
    while (i < n) {
        uint32_t r = next_rand(x);
        switch (r % 5) {
        case 0:
            s[i++] = special[(r / 5) % (sizeof(special) - 1)];
            break;
        case 1:
            s[i++] = (char)(1 + (r / 5) % 255);
            break;
        case 2: {
            const char *u = utf8[(r / 5) % NELEMS(utf8)];
            size_t ul = strlen(u);
            if (i + ul > n)
                ul = n - i;
            memcpy(s + i, u, ul);
            i += ul;
            break;
        }
        default:
            s[i++] = (char)('a' + (r / 5) % 26);
            break;
        }
    }
    s[n] = '\0';
    if (len != NULL)
        *len = n;
    return s;
}

static struct cdc_col *rand_cols(struct cdc_arena *a, uint32_t *x, size_t n)
{
    struct cdc_col *cols = cdc_arena_alloc(a, sizeof(*cols) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        cols[i].name = rand_text(a, x, 12, NULL);
        cols[i].type = next_rand(x) % 6 == 0 ? NULL : rand_text(a, x, 10, NULL);
        cols[i].value = NULL;
        cols[i].value_len = 0;
        if (next_rand(x) % 5 != 0)
            cols[i].value = rand_text(a, x, next_rand(x) % 8 == 0 ? 300 : 20,
                                      &cols[i].value_len);
    }
    return cols;
}

static const char **rand_names(struct cdc_arena *a, uint32_t *x, size_t n)
{
    const char **names = cdc_arena_alloc(a, sizeof(*names) * (n + 1));
    for (size_t i = 0; i < n; i++)
        names[i] = rand_text(a, x, 8, NULL);
    return names;
}

static void rand_event(struct cdc_arena *a, uint32_t *x, struct cdc_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->op = (enum cdc_op)(CDC_OP_INSERT + next_rand(x) % 6);
    ev->source = rand_text(a, x, 10, NULL);
    if (ev->op != CDC_OP_DDL || next_rand(x) % 2 == 0) {
        ev->schema = rand_text(a, x, 10, NULL);
        ev->table = rand_text(a, x, 10, NULL);
    }
    ev->position = rand_text(a, x, 20, NULL);
    ev->tx_index = next_rand(x) % 3 == 0 ? UINT32_MAX - next_rand(x) % 2
                                         : next_rand(x);
    ev->tx_end = next_rand(x) % 2 == 0;
    ev->has_txid = next_rand(x) % 3 != 0;
    if (ev->has_txid) {
        int64_t t = ((int64_t)next_rand(x) << 21) ^ next_rand(x);
        ev->txid = next_rand(x) % 2 == 0 ? t : -t;
    }
    if (next_rand(x) % 2 == 0)
        ev->commit_time = rand_text(a, x, 30, NULL);
    bool has_cols = ev->op == CDC_OP_INSERT || ev->op == CDC_OP_COPY ||
                    ev->op == CDC_OP_UPDATE;
    if (has_cols) {
        ev->ncols = 1 + next_rand(x) % 12;
        ev->cols = rand_cols(a, x, ev->ncols);
    }
    if (ev->op == CDC_OP_UPDATE || ev->op == CDC_OP_DELETE) {
        ev->nold = next_rand(x) % 4;
        ev->old = rand_cols(a, x, ev->nold);
    }
    ev->nkey = next_rand(x) % 3;
    ev->key = rand_names(a, x, ev->nkey);
    if (ev->op == CDC_OP_UPDATE) {
        ev->nunchanged = next_rand(x) % 3;
        ev->unchanged = rand_names(a, x, ev->nunchanged);
    }
    if (ev->op == CDC_OP_DDL || next_rand(x) % 8 == 0)
        ev->ddl = rand_text(a, x, 60, NULL);
}

/* The change after prev in a run that may pack: the same header and
 * columns with new values, at the next tx_index. prev's tx_end is mostly
 * cleared so that the run can go on. Now and then one thing differs, which
 * must end the pack: cdc_pack_follows judges it, and the round trip catches
 * a change it lets in wrongly, whose decoded copy would differ. */
static void rand_next_event(struct cdc_arena *a, uint32_t *x,
                            struct cdc_event *prev, struct cdc_event *ev)
{
    assert_true(prev->tx_index < UINT32_MAX);
    prev->tx_end = next_rand(x) % 16 == 0;
    *ev = *prev;
    ev->tx_index = prev->tx_index + 1;
    ev->tx_end = next_rand(x) % 4 == 0;
    bool del = ev->op == CDC_OP_DELETE;
    const struct cdc_col *src = del ? prev->old : prev->cols;
    size_t n = del ? prev->nold : prev->ncols;
    struct cdc_col *row = rand_cols(a, x, n + 1);
    for (size_t i = 0; i < n; i++) {
        row[i].name = src[i].name;
        row[i].type = src[i].type;
    }
    size_t r = next_rand(x) % n;
    switch (next_rand(x) % 40) {
    case 0:
        if (del) {
            ev->op = CDC_OP_INSERT;
            del = false;
            ev->old = NULL;
            ev->nold = 0;
        } else {
            ev->op = ev->op == CDC_OP_INSERT ? CDC_OP_COPY : CDC_OP_INSERT;
        }
        break;
    case 1:
        ev->table = rand_text(a, x, 10, NULL);
        break;
    case 2:
        ev->schema = rand_text(a, x, 10, NULL);
        break;
    case 3:
        ev->position = rand_text(a, x, 20, NULL);
        break;
    case 4:
        ev->source = rand_text(a, x, 10, NULL);
        break;
    case 5:
        ev->commit_time =
            ev->commit_time != NULL ? NULL : rand_text(a, x, 30, NULL);
        break;
    case 6:
        if (ev->has_txid)
            ev->txid ^= 1;
        else
            ev->has_txid = true;
        break;
    case 7:
        ev->nkey = next_rand(x) % 3;
        ev->key = rand_names(a, x, ev->nkey);
        break;
    case 8:
        row[r].name = rand_text(a, x, 12, NULL);
        break;
    case 9:
        row[r].type = next_rand(x) % 3 == 0 ? NULL : rand_text(a, x, 10, NULL);
        break;
    case 10:
        n = n > 1 && next_rand(x) % 2 == 0 ? n - 1 : n + 1;
        break;
    case 11:
        if (prev->tx_index < UINT32_MAX - 4)
            ev->tx_index += 1 + next_rand(x) % 3;
        break;
    case 12:
        ev->ddl = rand_text(a, x, 60, NULL);
        break;
    case 13:
        if (ev->op == CDC_OP_UPDATE) {
            ev->nunchanged = 1 + next_rand(x) % 2;
            ev->unchanged = rand_names(a, x, ev->nunchanged);
        }
        break;
    default:
        break;
    }
    if (del) {
        ev->old = row;
        ev->nold = n;
    } else {
        ev->cols = row;
        ev->ncols = n;
    }
}

/* What must travel alone, as the design says. */
enum lone_kind {
    LONE_UPDATE_OLD,
    LONE_UPDATE_UNCHANGED,
    LONE_TRUNCATE,
    LONE_DDL,
    LONE_KINDS,
};

/* Many events of every kind with pseudo-random contents go through the
 * bus form and come back equal, field by field: each alone, and in the
 * messages the replicator would make of them, where the runs that
 * cdc_pack_follows accepts go as packs built with the pack encoder and the
 * rest as single events, first one object per message and then runs of
 * objects listed in one message. Events that must not pack are refused by
 * cdc_pack_can_start. */
static void test_roundtrip_many(void **state)
{
    (void)state;
    enum { COUNT = 1500 };
    struct cdc_arena *gen = new_arena();
    struct cdc_arena *arena = new_arena();
    struct cdc_buf *msg = new_buf(0);
    struct cdc_event *evs = cdc_arena_alloc(gen, sizeof(*evs) * COUNT);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < COUNT; i++) {
        struct cdc_event *prev = i > 0 ? &evs[i - 1] : NULL;
        if (prev != NULL && cdc_pack_can_start(prev) &&
            prev->tx_index < UINT32_MAX && next_rand(&x) % 5 != 0)
            rand_next_event(gen, &x, prev, &evs[i]);
        else
            rand_event(gen, &x, &evs[i]);
    }

    size_t lone[LONE_KINDS] = {0};
    for (size_t i = 0; i < COUNT; i++) {
        const struct cdc_event *ev = &evs[i];
        int kind = -1;
        if (ev->op == CDC_OP_UPDATE && ev->nold > 0)
            kind = LONE_UPDATE_OLD;
        else if (ev->op == CDC_OP_UPDATE && ev->nunchanged > 0)
            kind = LONE_UPDATE_UNCHANGED;
        else if (ev->op == CDC_OP_TRUNCATE)
            kind = LONE_TRUNCATE;
        else if (ev->op == CDC_OP_DDL)
            kind = LONE_DDL;
        if (kind >= 0) {
            if (cdc_pack_can_start(ev))
                fail_msg("event %zu (%s) may start a pack", i,
                         cdc_op_name(ev->op));
            lone[kind]++;
        }

        cdc_buf_reset(msg);
        assert_int_equal(cdc_event_encode(ev, msg), CDC_OK);
        struct cdc_event back;
        struct cdc_err err = {0};
        int rc = cdc_event_decode(msg->data, msg->len, arena, &back, &err);
        if (rc != CDC_OK)
            fail_msg("event %zu: %s\ninput: %s", i, err.msg, msg->data);
        assert_events_equal(ev, &back);
        cdc_arena_reset(arena);
    }
    for (int k = 0; k < LONE_KINDS; k++) {
        if (lone[k] == 0)
            fail_msg("no event of kind %d that must travel alone", k);
    }

    size_t packs = 0;
    size_t packed = 0;
    size_t longest = 0;
    size_t singles = 0;
    /* where each object's events start, for the lists below */
    size_t *starts = cdc_arena_alloc(gen, sizeof(*starts) * (COUNT + 1));
    size_t nobj = 0;
    for (size_t i = 0; i < COUNT;) {
        size_t end = i + 1;
        cdc_buf_reset(msg);
        starts[nobj++] = i;
        if (cdc_pack_can_start(&evs[i])) {
            while (end < COUNT && cdc_pack_follows(&evs[end - 1], &evs[end]))
                end++;
            encode_pack(evs + i, end - i, msg);
            assert_int_equal(strlen(msg->data), msg->len);
            assert_valid_json(msg->data, msg->len);
            packs++;
            if (end - i > 1)
                packed += end - i;
            if (end - i > longest)
                longest = end - i;
        } else {
            assert_int_equal(cdc_event_encode(&evs[i], msg), CDC_OK);
            singles++;
        }
        size_t n = end - i;
        struct cdc_event *back = NULL;
        size_t got = 0;
        struct cdc_err err = {0};
        int rc = cdc_event_decode_msg(msg->data, msg->len, arena, &back, &got,
                                      &err);
        if (rc != CDC_OK)
            fail_msg("message of events %zu to %zu: %s\ninput: %.500s", i,
                     end - 1, err.msg, msg->data);
        assert_int_equal(got, n);
        for (size_t k = 0; k < n; k++)
            assert_events_equal(&evs[i + k], &back[k]);

        /* one event is decoded alone as well; a pack of more is refused */
        struct cdc_event one;
        memset(&err, 0, sizeof(err));
        rc = cdc_event_decode(msg->data, msg->len, arena, &one, &err);
        if (n == 1) {
            if (rc != CDC_OK)
                fail_msg("event %zu: %s\ninput: %.500s", i, err.msg,
                         msg->data);
            assert_events_equal(&evs[i], &one);
        } else {
            char want[96];
            snprintf(want, sizeof(want),
                     "message packs %zu events where one was expected", n);
            assert_int_equal(rc, CDC_EPROTO);
            assert_string_equal(err.msg, want);
        }
        cdc_arena_reset(arena);
        i = end;
    }
    /* the run is one of many kinds of messages, not only one */
    assert_true(singles >= 100);
    assert_true(packs >= 100);
    assert_true(packed >= COUNT / 3);
    assert_true(longest >= 5);
    starts[nobj] = COUNT;

    /* the same objects, a few at a time in one list, sometimes with
     * whitespace between them: every event of the list comes back */
    size_t lists = 0;
    size_t mixed = 0;
    for (size_t o = 0; o < nobj;) {
        size_t take = 1 + next_rand(&x) % 8;
        if (take > nobj - o)
            take = nobj - o;
        bool spaced = next_rand(&x) % 4 == 0;
        bool has_pack = false;
        bool has_single = false;
        cdc_buf_reset(msg);
        assert_int_equal(cdc_buf_append_str(msg, spaced ? " [\n" : "["),
                         CDC_OK);
        for (size_t k = o; k < o + take; k++) {
            const struct cdc_event *first = &evs[starts[k]];
            if (k > o)
                assert_int_equal(
                    cdc_buf_append_str(msg, spaced ? " ,\r\n\t" : ","),
                    CDC_OK);
            encode_object(first, starts[k + 1] - starts[k], msg);
            if (cdc_pack_can_start(first))
                has_pack = true;
            else
                has_single = true;
        }
        assert_int_equal(cdc_buf_append_str(msg, spaced ? "\n] " : "]"),
                         CDC_OK);
        assert_int_equal(strlen(msg->data), msg->len);
        assert_valid_json(msg->data, msg->len);
        size_t first = starts[o];
        size_t n = starts[o + take] - first;
        struct cdc_event *back = NULL;
        size_t got = 0;
        struct cdc_err err = {0};
        int rc = cdc_event_decode_msg(msg->data, msg->len, arena, &back, &got,
                                      &err);
        if (rc != CDC_OK)
            fail_msg("list of events %zu to %zu: %s\ninput: %.500s", first,
                     first + n - 1, err.msg, msg->data);
        assert_int_equal(got, n);
        for (size_t k = 0; k < n; k++)
            assert_events_equal(&evs[first + k], &back[k]);

        /* a list is never one event */
        struct cdc_event one;
        memset(&err, 0, sizeof(err));
        rc = cdc_event_decode(msg->data, msg->len, arena, &one, &err);
        assert_int_equal(rc, CDC_EPROTO);
        assert_string_equal(err.msg, "message is not a JSON object");
        cdc_arena_reset(arena);
        if (take > 1)
            lists++;
        if (has_pack && has_single)
            mixed++;
        o += take;
    }
    assert_true(lists >= 150);
    assert_true(mixed >= 100);
    drop_buf(msg);
    drop_arena(arena);
    drop_arena(gen);
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
        T(test_position_cmp_mysql),
        T(test_position_cmp_bytes),
        T(test_decode_msg_single_and_pack),
        T(test_decode_msg_rejects),
        T(test_op_names),
        T(test_op_unknown),
        T(test_reject_txid_out_of_range),
        T(test_decode_escapes),
        T(test_reject_bad_escapes),
        T(test_decode_unknown_keys),
        T(test_decode_key_order),
        T(test_decode_duplicate_keys_first_wins),
        T(test_decode_numbers),
        T(test_decode_whitespace),
        T(test_reject_deep_nesting_unknown_key),
        T(test_decode_msg_nul_in_pack),
        T(test_decode_msg_rejects_more),
        T(test_decode_pack_rejects),
        T(test_decode_pack_delete),
        T(test_decode_pack_tx_index_tx_end),
        T(test_decode_pack_null_values),
        T(test_decode_one_event_pack),
        T(test_decode_msg_list),
        T(test_decode_msg_list_long),
        T(test_decode_msg_list_whitespace),
        T(test_decode_msg_list_rejects),
        T(test_decode_msg_list_truncated_and_deep),
        T(test_pack_can_start),
        T(test_pack_follows),
        T(test_pack_encode_exact),
        T(test_pack_refuses_ddl_fields),
        T(test_pack_many_rows),
        T(test_roundtrip_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

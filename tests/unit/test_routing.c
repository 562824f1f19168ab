/*
 * test_routing.c: unit tests of routing/: loading a routing file (pg_flo's
 * format, including its README example) with the exact message and line
 * of every problem, all problems reported at once and nothing loaded;
 * applying routes to events built in memory: plain and qualified keys,
 * operation selection (COPY as INSERT, TRUNCATE and DDL by their own
 * names, everything without a list), table, schema and column renames in
 * the new row, old row, key and unchanged list, that the event's own
 * arrays are never written, and two columns renamed onto one name.
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
#include "routing/routing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define FILE_NAME "routes.yaml"

/* ==== Fixture ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct cdc_buf problems;
    struct cdc_buf text;
    struct cdc_arena arena;
    struct cdc_err err;
    struct route_set *rs;
    char path[256]; /* a temporary file to remove, or "" */
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_buf_init(&fx.problems, 0);
    cdc_buf_init(&fx.text, 0);
    cdc_arena_init(&fx.arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_buf_release(&fx.problems);
    cdc_buf_release(&fx.text);
    cdc_arena_release(&fx.arena);
    route_free(fx.rs);
    if (fx.path[0] != '\0')
        unlink(fx.path);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== Helpers ==== */

/* Loads yaml, which must be valid, into fx.rs. */
static struct route_set *load(const char *yaml)
{
    route_free(fx.rs);
    fx.rs = NULL;
    cdc_buf_reset(&fx.problems);
    int rc = route_parse(yaml, strlen(yaml), FILE_NAME, &fx.rs, &fx.problems,
                         &fx.err);
    if (rc != CDC_OK)
        fail_msg("routing file refused: %s", fx.err.msg);
    assert_non_null(fx.rs);
    assert_int_equal(fx.problems.len, 0);
    return fx.rs;
}

/* Loads yaml, which must be refused with exactly the problem lines want
 * (each "<line>: <problem>", file name added here); err holds the first. */
static void load_bad(const char *yaml, const char *const *want, size_t nwant)
{
    struct route_set *rs = (struct route_set *)&fx; /* must become NULL */
    cdc_buf_reset(&fx.problems);
    cdc_err_clear(&fx.err);
    int rc =
        route_parse(yaml, strlen(yaml), FILE_NAME, &rs, &fx.problems, &fx.err);
    assert_int_equal(rc, CDC_ECONFIG);
    assert_null(rs);
    assert_int_equal(fx.err.code, CDC_ECONFIG);
    cdc_buf_reset(&fx.text);
    for (size_t i = 0; i < nwant; i++)
        assert_int_equal(cdc_buf_printf(&fx.text, FILE_NAME ":%s\n", want[i]),
                         CDC_OK);
    assert_string_equal(fx.problems.data != NULL ? fx.problems.data : "",
                        fx.text.data);
    /* err holds the first line, without its newline */
    size_t first = strcspn(fx.text.data, "\n");
    fx.text.data[first] = '\0';
    assert_string_equal(fx.err.msg, fx.text.data);
}

/* One problem: "<line>: <problem>". */
static void load_bad1(const char *yaml, const char *want)
{
    load_bad(yaml, &want, 1);
}

static struct cdc_event make_ev(enum cdc_op op, const char *schema,
                                const char *table)
{
    return (struct cdc_event){
        .op = op,
        .source = "postgres",
        .schema = schema,
        .table = table,
        .position = "0/16B3748",
    };
}

static int apply(struct cdc_event *ev)
{
    return route_apply(fx.rs, ev, &fx.arena, &fx.err);
}

/* Applies the loaded set to an event with op on schema.table and returns
 * the verdict. */
static int verdict(enum cdc_op op, const char *schema, const char *table)
{
    struct cdc_event ev = make_ev(op, schema, table);
    int rc = apply(&ev);
    assert_true(rc == ROUTE_KEEP || rc == ROUTE_DROP);
    return rc;
}

/* Applies the loaded set to an INSERT of schema.table and checks where it
 * goes. */
static void expect_dest(const char *schema, const char *table,
                        const char *want_schema, const char *want_table)
{
    struct cdc_event ev = make_ev(CDC_OP_INSERT, schema, table);
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    if (want_schema == NULL)
        assert_null(ev.schema);
    else
        assert_string_equal(ev.schema, want_schema);
    assert_string_equal(ev.table, want_table);
}

/* ==== Loading: valid files ==== */

static void test_load_empty(void **state)
{
    (void)state;
    assert_int_equal(route_count(load("")), 0);
    assert_int_equal(route_count(load("# nothing routed yet\n")), 0);
    assert_int_equal(route_count(load("{}\n")), 0);
    assert_int_equal(route_count(load("~\n")), 0);
    assert_int_equal(route_count(NULL), 0);
    /* an empty set keeps everything */
    expect_dest("public", "users", "public", "users");
}

static void test_load_all_keys(void **state)
{
    (void)state;
    load("users:\n"
         "  source_table: users\n"
         "  destination_table: customers\n"
         "  column_mappings:\n"
         "    - source: id\n"
         "      destination: customer_id\n"
         "  operations: [INSERT, UPDATE]\n"
         "orders: {destination_table: transactions}\n");
    assert_int_equal(route_count(fx.rs), 2);
}

static void test_load_plain_and_qualified(void **state)
{
    (void)state;
    load("users: {destination_table: a}\n"
         "app.users: {destination_table: b}\n"
         "crm.users: {destination_table: c}\n");
    assert_int_equal(route_count(fx.rs), 3);
}

static void test_load_source_table_forms(void **state)
{
    (void)state;
    /* a plain source_table names the table of a qualified key */
    load("app.users: {source_table: users}\n"
         "app.orders: {source_table: app.orders}\n"
         "items: {source_table: items}\n");
    assert_int_equal(route_count(fx.rs), 3);
}

static void test_load_operations_forms(void **state)
{
    (void)state;
    /* one scalar is a list of one; case does not matter; duplicates are
     * harmless */
    load("users: {operations: insert}\n"
         "orders:\n"
         "  operations:\n"
         "    - Update\n"
         "    - update\n"
         "    - truncate\n"
         "    - copy\n"
         "    - ddl\n"
         "    - DELETE\n");
    assert_int_equal(route_count(fx.rs), 2);
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "users"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_UPDATE, "public", "users"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "orders"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_UPDATE, "public", "orders"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_DELETE, "public", "orders"), ROUTE_KEEP);
}

static void test_load_empty_mappings(void **state)
{
    (void)state;
    /* no mappings, written two ways: nothing to rename, nothing wrong */
    load("users: {column_mappings: []}\n"
         "orders:\n"
         "  column_mappings:\n");
    assert_int_equal(route_count(fx.rs), 2);
}

static void test_load_file(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx.path, sizeof(fx.path), "%s/test_routing_XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    int fd = mkstemp(fx.path);
    assert_true(fd >= 0);
    static const char yaml[] = "users:\n"
                               "  destination_table: [customers]\n";
    assert_int_equal(write(fd, yaml, sizeof(yaml) - 1),
                     (ssize_t)(sizeof(yaml) - 1));
    assert_int_equal(close(fd), 0);

    struct route_set *rs = NULL;
    assert_int_equal(route_load(fx.path, &rs, &fx.problems, &fx.err),
                     CDC_ECONFIG);
    assert_null(rs);
    char want[512];
    snprintf(want, sizeof(want),
             "%s:2: destination_table of table \"users\" must be a string, "
             "not a list",
             fx.path);
    assert_string_equal(fx.err.msg, want);
    assert_int_equal(cdc_buf_printf(&fx.text, "%s\n", want), CDC_OK);
    assert_string_equal(fx.problems.data, fx.text.data);

    /* a good file */
    FILE *f = fopen(fx.path, "w");
    assert_non_null(f);
    fputs("users: {destination_table: customers}\n", f);
    assert_int_equal(fclose(f), 0);
    cdc_buf_reset(&fx.problems);
    assert_int_equal(route_load(fx.path, &fx.rs, &fx.problems, &fx.err),
                     CDC_OK);
    assert_int_equal(route_count(fx.rs), 1);
    assert_int_equal(fx.problems.len, 0);
}

static void test_load_missing_file(void **state)
{
    (void)state;
    struct route_set *rs = NULL;
    assert_int_equal(
        route_load("/nonexistent/routes.yaml", &rs, &fx.problems, &fx.err),
        CDC_ECONFIG);
    assert_null(rs);
    assert_non_null(strstr(fx.err.msg, "/nonexistent/routes.yaml"));
    /* the one problem is in the report too */
    assert_non_null(fx.problems.data);
    assert_int_equal(strncmp(fx.problems.data, fx.err.msg, strlen(fx.err.msg)),
                     0);
    assert_string_equal(fx.problems.data + strlen(fx.err.msg), "\n");
}

/* ==== Loading: problems ==== */

static void test_load_yaml_syntax(void **state)
{
    (void)state;
    struct route_set *rs = NULL;
    static const char yaml[] = "users:\n"
                               "  destination_table: [customers\n";
    assert_int_equal(route_parse(yaml, sizeof(yaml) - 1, FILE_NAME, &rs,
                                 &fx.problems, &fx.err),
                     CDC_ECONFIG);
    assert_null(rs);
    assert_int_equal(strncmp(fx.err.msg, FILE_NAME ":", strlen(FILE_NAME) + 1),
                     0);
    assert_int_equal(cdc_buf_printf(&fx.text, "%s\n", fx.err.msg), CDC_OK);
    assert_string_equal(fx.problems.data, fx.text.data);
}

static void test_load_top_level(void **state)
{
    (void)state;
    load_bad1("- users\n- orders\n",
              "1: top level must be a mapping of tables to routes, not a "
              "list");
    load_bad1("users\n", "1: top level must be a mapping of tables to routes, "
                         "not a string");
}

static void test_load_route_not_mapping(void **state)
{
    (void)state;
    load_bad1("users: customers\n",
              "1: route of table \"users\" must be a mapping, not a string");
    load_bad1("orders: {}\n"
              "users:\n",
              "2: route of table \"users\" must be a mapping, not null");
    load_bad1("users:\n"
              "  - destination_table: customers\n",
              "2: route of table \"users\" must be a mapping, not a list");
}

static void test_load_key_names(void **state)
{
    (void)state;
    static const char *const want[] = {
        "1: table key \"a.b.c\" has more than one dot",
        "2: table key \".users\" has an empty schema or table name",
        "3: table key \"app.\" has an empty schema or table name",
        "4: route key must name a table, not null",
        "5: route key must name a table, not \"\"",
    };
    load_bad("a.b.c: {}\n"
             ".users: {}\n"
             "app.: {}\n"
             "~: {}\n"
             "\"\": {}\n",
             want, NELEMS(want));
}

static void test_load_unknown_route_key(void **state)
{
    (void)state;
    load_bad1("users:\n"
              "  destination_table: customers\n"
              "  destination: clients\n",
              "3: unknown key \"destination\" in route of table \"users\" "
              "(known: source_table, destination_table, column_mappings, "
              "operations)");
}

static void test_load_source_table(void **state)
{
    (void)state;
    static const char *const want[] = {
        "2: source_table \"orders\" does not match the table key \"users\"",
        "4: source_table \"app.people\" does not match the table key "
        "\"people\"",
        "6: source_table \"users\" does not match the table key "
        "\"app.orders\"",
        "8: source_table \"crm.items\" does not match the table key "
        "\"app.items\"",
        "9: source_table of table \"b\" must be a string, not null",
        "10: source_table of table \"c\" must be a string, not a list",
    };
    load_bad("users:\n"
             "  source_table: orders\n"
             "people:\n"
             "  source_table: app.people\n"
             "app.orders:\n"
             "  source_table: users\n"
             "app.items:\n"
             "  source_table: crm.items\n"
             "b: {source_table: ~}\n"
             "c: {source_table: [c]}\n",
             want, NELEMS(want));
}

static void test_load_destination_table(void **state)
{
    (void)state;
    static const char *const want[] = {
        "2: destination_table of table \"a\" is empty",
        "4: destination_table \"x.y.z\" of table \"b\" has more than one dot",
        "6: destination_table \".t\" of table \"c\" has an empty schema or "
        "table name",
        "7: destination_table \"s.\" of table \"d\" has an empty schema or "
        "table name",
        "9: destination_table of table \"e\" must be a string, not null",
        "10: destination_table of table \"f\" must be a string, not a "
        "mapping",
    };
    load_bad("a:\n"
             "  destination_table: \"\"\n"
             "b:\n"
             "  destination_table: x.y.z\n"
             "c:\n"
             "  destination_table: .t\n"
             "d: {destination_table: s.}\n"
             "e:\n"
             "  destination_table:\n"
             "f: {destination_table: {schema: s}}\n",
             want, NELEMS(want));
}

static void test_load_mappings_not_list(void **state)
{
    (void)state;
    load_bad1("users:\n"
              "  column_mappings:\n"
              "    source: id\n"
              "    destination: customer_id\n",
              "3: column_mappings of table \"users\" must be a list of source "
              "and destination pairs, not a mapping");
    load_bad1("users: {column_mappings: id}\n",
              "1: column_mappings of table \"users\" must be a list of source "
              "and destination pairs, not a string");
}

static void test_load_mapping_entries(void **state)
{
    (void)state;
    static const char *const want[] = {
        "3: column mapping of table \"users\" must be a mapping with source "
        "and destination, not a string",
        "4: column mapping of table \"users\" has no destination",
        "5: column mapping of table \"users\" has no source",
        "7: unknown key \"dest\" in column mapping of table \"users\" "
        "(known: source, destination)",
        "6: column mapping of table \"users\" has no destination",
        "8: source of a column mapping of table \"users\" must be a string, "
        "not null",
        "10: destination of a column mapping of table \"users\" is empty",
        "11: source of a column mapping of table \"users\" must be a string, "
        "not a list",
        "11: destination of a column mapping of table \"users\" must be a "
        "string, not null",
    };
    load_bad("users:\n"
             "  column_mappings:\n"
             "    - id\n"
             "    - source: id\n"
             "    - destination: customer_id\n"
             "    - source: name\n"
             "      dest: customer_name\n"
             "    - source:\n"
             "      destination: x\n"
             "    - {source: email, destination: \"\"}\n"
             "    - {source: [a], destination: ~}\n",
             want, NELEMS(want));
}

static void test_load_mapping_duplicates(void **state)
{
    (void)state;
    static const char *const want[] = {
        "5: column \"id\" of table \"users\" is mapped twice",
        "9: columns \"name\" and \"login\" of table \"users\" are both "
        "mapped to \"customer_name\"",
    };
    load_bad("users:\n"
             "  column_mappings:\n"
             "    - source: id\n"
             "      destination: customer_id\n"
             "    - source: id\n"
             "      destination: uid\n"
             "    - {source: name, destination: customer_name}\n"
             "    - source: login\n"
             "      destination: customer_name\n",
             want, NELEMS(want));
}

static void test_load_operations_bad(void **state)
{
    (void)state;
    static const char *const want[] = {
        "3: unknown operation \"UPSERT\" for table \"a\" (known: INSERT, "
        "UPDATE, DELETE, TRUNCATE, COPY, DDL)",
        "4: unknown operation \"INSERT, UPDATE\" for table \"b\" (known: "
        "INSERT, UPDATE, DELETE, TRUNCATE, COPY, DDL)",
        "6: operations of table \"c\" must be a list of operation names, not "
        "a mapping",
        "8: operations of table \"d\" must be names, not a list",
    };
    load_bad("a:\n"
             "  operations:\n"
             "    - UPSERT\n"
             "b: {operations: \"INSERT, UPDATE\"}\n"
             "c:\n"
             "  operations: {INSERT: true}\n"
             "d:\n"
             "  operations: [INSERT, [UPDATE]]\n",
             want, NELEMS(want));
}

static void test_load_operations_empty(void **state)
{
    (void)state;
    static const char *const want[] = {
        "2: empty operations would drop every change of table \"users\"; "
        "leave operations out to pass all",
        "4: empty operations would drop every change of table \"orders\"; "
        "leave operations out to pass all",
    };
    load_bad("users:\n"
             "  operations: []\n"
             "orders:\n"
             "  operations:\n",
             want, NELEMS(want));
}

static void test_load_reports_every_problem(void **state)
{
    (void)state;
    static const char *const want[] = {
        "2: destination_table \"a.b.c\" of table \"users\" has more than one "
        "dot",
        "3: unknown key \"operation\" in route of table \"users\" (known: "
        "source_table, destination_table, column_mappings, operations)",
        "4: route of table \"orders\" must be a mapping, not a string",
        "8: unknown operation \"MERGE\" for table \"items\" (known: INSERT, "
        "UPDATE, DELETE, TRUNCATE, COPY, DDL)",
    };
    /* good routes among bad ones load nothing either */
    load_bad("users:\n"
             "  destination_table: a.b.c\n"
             "  operation: [INSERT]\n"
             "orders: transactions\n"
             "fine: {destination_table: ok}\n"
             "items:\n"
             "  operations:\n"
             "    - MERGE\n",
             want, NELEMS(want));
}

static void test_load_without_problem_buffer(void **state)
{
    (void)state;
    struct route_set *rs = NULL;
    static const char yaml[] = "users: {operations: []}\n"
                               "orders: {operations: [NOPE]}\n";
    assert_int_equal(
        route_parse(yaml, sizeof(yaml) - 1, FILE_NAME, &rs, NULL, &fx.err),
        CDC_ECONFIG);
    assert_null(rs);
    assert_string_equal(fx.err.msg,
                        FILE_NAME ":1: empty operations would drop every "
                                  "change of table \"users\"; leave "
                                  "operations out to pass all");
    /* and without err either */
    assert_int_equal(
        route_parse(yaml, sizeof(yaml) - 1, FILE_NAME, &rs, NULL, NULL),
        CDC_ECONFIG);
    assert_null(rs);
}

/* ==== Applying: finding the route ==== */

static void test_apply_no_route(void **state)
{
    (void)state;
    load("users:\n"
         "  destination_table: customers\n"
         "  column_mappings: [{source: id, destination: customer_id}]\n"
         "  operations: [INSERT]\n");
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1}};
    struct cdc_event ev = make_ev(CDC_OP_DELETE, "public", "orders");
    ev.cols = cols;
    ev.ncols = 1;
    struct cdc_event before = ev;
    size_t used = fx.arena.used_total;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_memory_equal(&ev, &before, sizeof(ev));
    assert_string_equal(cols[0].name, "id");
    assert_int_equal(fx.arena.used_total, used); /* no allocation */
    /* names are case-sensitive */
    expect_dest("public", "Users", "public", "Users");
    /* an event without a table (DDL of no table) is kept */
    struct cdc_event ddl = make_ev(CDC_OP_DDL, "public", NULL);
    assert_int_equal(apply(&ddl), ROUTE_KEEP);
    assert_null(ddl.table);
}

static void test_apply_plain_any_schema(void **state)
{
    (void)state;
    load("users: {destination_table: customers}\n");
    expect_dest("public", "users", "public", "customers");
    expect_dest("app", "users", "app", "customers");
    expect_dest(NULL, "users", NULL, "customers");
}

static void test_apply_qualified_wins(void **state)
{
    (void)state;
    load("users: {destination_table: plain_users}\n"
         "app.users: {destination_table: app_users}\n"
         "crm.users: {destination_table: crm_users, operations: [DELETE]}\n");
    expect_dest("app", "users", "app", "app_users");
    expect_dest("public", "users", "public", "plain_users");
    expect_dest(NULL, "users", NULL, "plain_users");
    /* the qualified route's operations, not the plain one's */
    assert_int_equal(verdict(CDC_OP_INSERT, "crm", "users"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_DELETE, "crm", "users"), ROUTE_KEEP);
}

static void test_apply_qualified_only(void **state)
{
    (void)state;
    /* the qualified route is written first here: order does not matter */
    load("app.users: {destination_table: app_users}\n"
         "orders: {destination_table: transactions}\n");
    expect_dest("app", "users", "app", "app_users");
    expect_dest("public", "users", "public", "users");
    expect_dest(NULL, "users", NULL, "users");
    expect_dest("app", "orders", "app", "transactions");
}

static void test_apply_many_tables(void **state)
{
    (void)state;
    for (int i = 0; i < 300; i++)
        assert_int_equal(cdc_buf_printf(&fx.text,
                                        "t%d: {destination_table: d%d}\n"
                                        "s%d.t%d: {destination_table: q%d}\n",
                                        i, i, i % 7, i, i),
                         CDC_OK);
    load(fx.text.data);
    assert_int_equal(route_count(fx.rs), 600);
    for (int i = 0; i < 300; i++) {
        char t[32];
        char s[32];
        char d[32];
        char q[32];
        snprintf(t, sizeof(t), "t%d", i);
        snprintf(s, sizeof(s), "s%d", i % 7);
        snprintf(d, sizeof(d), "d%d", i);
        snprintf(q, sizeof(q), "q%d", i);
        expect_dest("public", t, "public", d);
        expect_dest(s, t, s, q);
    }
    expect_dest("public", "t300", "public", "t300");
}

/* ==== Applying: operations ==== */

static void test_apply_operations_select(void **state)
{
    (void)state;
    load("users: {operations: [INSERT, UPDATE]}\n");
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "users"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_UPDATE, "public", "users"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_DELETE, "public", "users"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_TRUNCATE, "public", "users"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_DDL, "public", "users"), ROUTE_DROP);
    /* copied rows count as inserts */
    assert_int_equal(verdict(CDC_OP_COPY, "public", "users"), ROUTE_KEEP);
    /* other tables are not limited */
    assert_int_equal(verdict(CDC_OP_DELETE, "public", "orders"), ROUTE_KEEP);
}

static void test_apply_copy_selection(void **state)
{
    (void)state;
    load("a: {operations: [COPY]}\n"
         "b: {operations: [UPDATE, DELETE]}\n"
         "c: {operations: [copy, insert]}\n");
    assert_int_equal(verdict(CDC_OP_COPY, "public", "a"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "a"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_COPY, "public", "b"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_COPY, "public", "c"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "c"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_UPDATE, "public", "c"), ROUTE_DROP);
}

static void test_apply_truncate_ddl_own_names(void **state)
{
    (void)state;
    load("a: {operations: [INSERT, UPDATE, DELETE, COPY]}\n"
         "b: {operations: [TRUNCATE]}\n"
         "c: {operations: [DDL]}\n");
    assert_int_equal(verdict(CDC_OP_TRUNCATE, "public", "a"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_DDL, "public", "a"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_TRUNCATE, "public", "b"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_DELETE, "public", "b"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_DDL, "public", "c"), ROUTE_KEEP);
    assert_int_equal(verdict(CDC_OP_INSERT, "public", "c"), ROUTE_DROP);
}

static void test_apply_no_operations_all_pass(void **state)
{
    (void)state;
    /* pg_flo drops everything of a route without a list; we pass all */
    load("users: {destination_table: customers}\n");
    static const enum cdc_op ops[] = {CDC_OP_INSERT, CDC_OP_UPDATE,
                                      CDC_OP_DELETE, CDC_OP_TRUNCATE,
                                      CDC_OP_DDL,    CDC_OP_COPY};
    for (size_t i = 0; i < NELEMS(ops); i++) {
        struct cdc_event ev = make_ev(ops[i], "public", "users");
        assert_int_equal(apply(&ev), ROUTE_KEEP);
        assert_string_equal(ev.table, "customers");
    }
}

static void test_apply_drop_leaves_event(void **state)
{
    (void)state;
    load("users:\n"
         "  destination_table: crm.customers\n"
         "  column_mappings: [{source: id, destination: customer_id}]\n"
         "  operations: [INSERT]\n");
    struct cdc_col old[] = {
        {.name = "id", .type = "int4", .value = "7", .value_len = 1}};
    struct cdc_event ev = make_ev(CDC_OP_DELETE, "public", "users");
    ev.old = old;
    ev.nold = 1;
    struct cdc_event before = ev;
    assert_int_equal(apply(&ev), ROUTE_DROP);
    assert_memory_equal(&ev, &before, sizeof(ev));
}

/* ==== Applying: renames ==== */

static void test_apply_table_keeps_schema(void **state)
{
    (void)state;
    load("users: {destination_table: customers}\n"
         "app.orders: {destination_table: transactions}\n");
    expect_dest("public", "users", "public", "customers");
    expect_dest("app", "orders", "app", "transactions");
}

static void test_apply_destination_schema(void **state)
{
    (void)state;
    load("users: {destination_table: crm.customers}\n"
         "app.orders: {destination_table: billing.orders}\n");
    expect_dest("public", "users", "crm", "customers");
    expect_dest(NULL, "users", "crm", "customers");
    expect_dest("app", "orders", "billing", "orders");
    expect_dest("public", "orders", "public", "orders");
}

static void test_apply_columns_everywhere(void **state)
{
    (void)state;
    load("users:\n"
         "  column_mappings:\n"
         "    - {source: id, destination: customer_id}\n"
         "    - {source: username, destination: customer_name}\n"
         "    - {source: bio, destination: about}\n");
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
        {.name = "username", .type = "text", .value = "ann", .value_len = 3},
        {.name = "email", .type = "text", .value = NULL},
    };
    struct cdc_col old[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
    };
    const char *key[] = {"id"};
    const char *unchanged[] = {"bio"};
    struct cdc_event ev = make_ev(CDC_OP_UPDATE, "public", "users");
    ev.cols = cols;
    ev.ncols = NELEMS(cols);
    ev.old = old;
    ev.nold = NELEMS(old);
    ev.key = key;
    ev.nkey = NELEMS(key);
    ev.unchanged = unchanged;
    ev.nunchanged = NELEMS(unchanged);
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_int_equal(ev.ncols, 3);
    assert_string_equal(ev.cols[0].name, "customer_id");
    assert_string_equal(ev.cols[1].name, "customer_name");
    assert_string_equal(ev.cols[2].name, "email");
    /* values, types and NULLs travel as they were */
    assert_string_equal(ev.cols[1].value, "ann");
    assert_int_equal(ev.cols[1].value_len, 3);
    assert_string_equal(ev.cols[0].type, "int4");
    assert_null(ev.cols[2].value);
    assert_string_equal(ev.old[0].name, "customer_id");
    assert_string_equal(ev.old[0].value, "1");
    assert_int_equal(ev.nkey, 1);
    assert_string_equal(ev.key[0], "customer_id");
    assert_int_equal(ev.nunchanged, 1);
    assert_string_equal(ev.unchanged[0], "about");
    /* the table keeps its name */
    assert_string_equal(ev.schema, "public");
    assert_string_equal(ev.table, "users");
    /* and the caller's arrays are as they were */
    assert_string_equal(cols[0].name, "id");
    assert_string_equal(cols[1].name, "username");
    assert_string_equal(old[0].name, "id");
    assert_string_equal(key[0], "id");
    assert_string_equal(unchanged[0], "bio");
}

static void test_apply_shared_arrays_untouched(void **state)
{
    (void)state;
    load("users:\n"
         "  destination_table: customers\n"
         "  column_mappings: [{source: name, destination: customer_name}]\n");
    /* two rows of one pack share the column and key arrays */
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
        {.name = "name", .type = "text", .value = "ann", .value_len = 3},
    };
    const char *key[] = {"id"};
    struct cdc_event a = make_ev(CDC_OP_INSERT, "public", "users");
    a.cols = cols;
    a.ncols = 2;
    a.key = key;
    a.nkey = 1;
    struct cdc_event b = a;
    b.tx_index = 1;

    assert_int_equal(apply(&a), ROUTE_KEEP);
    assert_ptr_not_equal(a.cols, cols);
    assert_string_equal(a.cols[1].name, "customer_name");
    /* the second event still sees the source names */
    assert_ptr_equal(b.cols, cols);
    assert_string_equal(b.cols[1].name, "name");
    assert_string_equal(b.table, "users");

    assert_int_equal(apply(&b), ROUTE_KEEP);
    assert_ptr_not_equal(b.cols, cols);
    assert_ptr_not_equal(b.cols, a.cols);
    assert_string_equal(b.cols[1].name, "customer_name");
    assert_string_equal(b.table, "customers");
    assert_string_equal(cols[0].name, "id");
    assert_string_equal(cols[1].name, "name");
    /* the key had nothing to rename: shared, not copied */
    assert_ptr_equal(a.key, key);
    assert_ptr_equal(b.key, key);
}

static void test_apply_nothing_to_rename(void **state)
{
    (void)state;
    load("users:\n"
         "  column_mappings: [{source: secret, destination: hidden}]\n");
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
    };
    const char *key[] = {"id"};
    struct cdc_event ev = make_ev(CDC_OP_INSERT, "public", "users");
    ev.cols = cols;
    ev.ncols = 1;
    ev.key = key;
    ev.nkey = 1;
    size_t used = fx.arena.used_total;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_ptr_equal(ev.cols, cols);
    assert_ptr_equal(ev.key, key);
    assert_int_equal(fx.arena.used_total, used);
}

static void test_apply_swap_and_chain(void **state)
{
    (void)state;
    load("swap:\n"
         "  column_mappings:\n"
         "    - {source: a, destination: b}\n"
         "    - {source: b, destination: a}\n"
         "chain:\n"
         "  column_mappings:\n"
         "    - {source: a, destination: b}\n"
         "    - {source: b, destination: c}\n");
    struct cdc_col cols[] = {
        {.name = "a", .type = "text", .value = "1", .value_len = 1},
        {.name = "b", .type = "text", .value = "2", .value_len = 1},
    };
    struct cdc_event ev = make_ev(CDC_OP_INSERT, "public", "swap");
    ev.cols = cols;
    ev.ncols = 2;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.cols[0].name, "b");
    assert_string_equal(ev.cols[0].value, "1");
    assert_string_equal(ev.cols[1].name, "a");
    assert_string_equal(ev.cols[1].value, "2");

    ev = make_ev(CDC_OP_INSERT, "public", "chain");
    ev.cols = cols;
    ev.ncols = 2;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.cols[0].name, "b");
    assert_string_equal(ev.cols[1].name, "c");
}

static void test_apply_collision(void **state)
{
    (void)state;
    load("users:\n"
         "  destination_table: customers\n"
         "  column_mappings: [{source: a, destination: b}]\n");
    struct cdc_col cols[] = {
        {.name = "a", .type = "text", .value = "1", .value_len = 1},
        {.name = "b", .type = "text", .value = "2", .value_len = 1},
    };
    struct cdc_event ev = make_ev(CDC_OP_INSERT, "public", "users");
    ev.cols = cols;
    ev.ncols = 2;
    struct cdc_event before = ev;
    int rc = apply(&ev);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(fx.err.code, CDC_EPROTO);
    assert_true(fx.err.flags & CDC_ERR_POISON);
    assert_string_equal(fx.err.msg,
                        "routing of table \"public.users\": columns \"a\" and "
                        "\"b\" both become \"b\"");
    /* the event goes to the dead letters as it came */
    assert_memory_equal(&ev, &before, sizeof(ev));
    assert_string_equal(cols[0].name, "a");

    /* without a schema the table alone is named; the order of the columns
     * does not matter */
    struct cdc_col rev[] = {cols[1], cols[0]};
    ev = make_ev(CDC_OP_COPY, NULL, "users");
    ev.cols = rev;
    ev.ncols = 2;
    assert_int_equal(apply(&ev), CDC_EPROTO);
    assert_string_equal(fx.err.msg,
                        "routing of table \"users\": columns \"a\" and \"b\" "
                        "both become \"b\"");

    /* a row with only one of the two is fine */
    ev = make_ev(CDC_OP_INSERT, "public", "users");
    ev.cols = &cols[1];
    ev.ncols = 1;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.cols[0].name, "b");
    assert_string_equal(ev.table, "customers");
}

static void test_apply_collision_unchanged_and_old(void **state)
{
    (void)state;
    load("users:\n"
         "  column_mappings: [{source: doc, destination: body}]\n");
    /* the source did not send doc (unchanged), but the row has it */
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
        {.name = "body", .type = "text", .value = "x", .value_len = 1},
    };
    const char *unchanged[] = {"doc"};
    struct cdc_event ev = make_ev(CDC_OP_UPDATE, "app", "users");
    ev.cols = cols;
    ev.ncols = 2;
    ev.unchanged = unchanged;
    ev.nunchanged = 1;
    assert_int_equal(apply(&ev), CDC_EPROTO);
    assert_true(fx.err.flags & CDC_ERR_POISON);
    assert_string_equal(fx.err.msg,
                        "routing of table \"app.users\": columns \"doc\" and "
                        "\"body\" both become \"body\"");
    assert_ptr_equal(ev.unchanged, unchanged);
    assert_string_equal(unchanged[0], "doc");

    /* the old row of a delete */
    struct cdc_col old[] = {
        {.name = "body", .type = "text", .value = "x", .value_len = 1},
        {.name = "doc", .type = "text", .value = "y", .value_len = 1},
    };
    ev = make_ev(CDC_OP_DELETE, "app", "users");
    ev.old = old;
    ev.nold = 2;
    cdc_err_clear(&fx.err);
    assert_int_equal(apply(&ev), CDC_EPROTO);
    assert_string_equal(fx.err.msg,
                        "routing of table \"app.users\": columns \"doc\" and "
                        "\"body\" both become \"body\"");
    assert_ptr_equal(ev.old, old);
}

static void test_apply_ddl_and_truncate(void **state)
{
    (void)state;
    load("users:\n"
         "  destination_table: crm.customers\n"
         "  column_mappings: [{source: id, destination: customer_id}]\n");
    /* DDL: the statement names the table as routed; columns stay */
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
    };
    const char *stmt = "ALTER TABLE public.users ADD COLUMN id2 int";
    struct cdc_event ev = make_ev(CDC_OP_DDL, "public", "users");
    ev.ddl = stmt;
    ev.cols = cols;
    ev.ncols = 1;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.schema, "crm");
    assert_string_equal(ev.table, "customers");
    assert_string_equal(ev.ddl,
                        "ALTER TABLE \"crm\".\"customers\" ADD COLUMN id2 int");
    assert_ptr_equal(ev.cols, cols);
    assert_string_equal(ev.cols[0].name, "id");

    /* an index on it, the table named without its schema */
    ev = make_ev(CDC_OP_DDL, "public", "users");
    ev.ddl = "CREATE INDEX CONCURRENTLY users_x ON users (x)";
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.ddl, "CREATE INDEX CONCURRENTLY users_x ON "
                                "\"crm\".\"customers\" (x)");

    /* a statement naming a renamed column is refused, as it came */
    ev = make_ev(CDC_OP_DDL, "public", "users");
    ev.ddl = "ALTER TABLE users ALTER COLUMN id TYPE bigint";
    assert_true(apply(&ev) < 0);
    assert_true(fx.err.flags & CDC_ERR_POISON);
    assert_non_null(strstr(fx.err.msg, "\"id\""));
    assert_non_null(strstr(fx.err.msg, "customer_id"));
    assert_string_equal(ev.table, "users");
    assert_string_equal(ev.ddl, "ALTER TABLE users ALTER COLUMN id TYPE bigint");

    /* and one that cannot be rewritten safely */
    ev = make_ev(CDC_OP_DDL, "public", "users");
    ev.ddl = "ALTER TABLE users RENAME TO people";
    assert_true(apply(&ev) < 0);
    assert_non_null(strstr(fx.err.msg, "\"public\".\"users\""));
    assert_string_equal(ev.ddl, "ALTER TABLE users RENAME TO people");

    /* another source's statement is not rewritten: refused, as it came */
    ev = make_ev(CDC_OP_DDL, "public", "users");
    ev.source = "mysql";
    ev.ddl = "ALTER TABLE `public`.`users` ADD COLUMN n INT";
    cdc_err_clear(&fx.err);
    assert_true(apply(&ev) < 0);
    assert_true(fx.err.flags & CDC_ERR_POISON);
    assert_string_equal(fx.err.msg,
                        "schema change of \"public\".\"users\" not applied: "
                        "routing gives the table another name, and only "
                        "PostgreSQL's statements are rewritten for that (this "
                        "one comes from a mysql source)");
    assert_string_equal(ev.table, "users");
    assert_string_equal(ev.ddl, "ALTER TABLE `public`.`users` ADD COLUMN n INT");

    ev = make_ev(CDC_OP_TRUNCATE, "public", "users");
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.schema, "crm");
    assert_string_equal(ev.table, "customers");
    assert_int_equal(ev.ncols, 0);
}

static void test_apply_strings_outlive_file(void **state)
{
    (void)state;
    /* names given to events belong to the set, not to the text it was
     * read from */
    char yaml[] = "users:\n"
                  "  destination_table: crm.customers\n"
                  "  column_mappings: [{source: id, destination: cid}]\n";
    load(yaml);
    memset(yaml, 'x', sizeof(yaml) - 1);
    struct cdc_col cols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1}};
    struct cdc_event ev = make_ev(CDC_OP_INSERT, "public", "users");
    ev.cols = cols;
    ev.ncols = 1;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.schema, "crm");
    assert_string_equal(ev.table, "customers");
    assert_string_equal(ev.cols[0].name, "cid");
}

/* ==== pg_flo's example ==== */

/* The example of pg_flo's routing README, unchanged. */
static const char pgflo_example[] = "users:\n"
                                    "  source_table: users\n"
                                    "  destination_table: customers\n"
                                    "  column_mappings:\n"
                                    "    - source: id\n"
                                    "      destination: customer_id\n"
                                    "    - source: username\n"
                                    "      destination: customer_name\n"
                                    "  operations:\n"
                                    "    - INSERT\n"
                                    "    - UPDATE\n"
                                    "\n"
                                    "orders:\n"
                                    "  source_table: orders\n"
                                    "  destination_table: transactions\n"
                                    "  column_mappings:\n"
                                    "    - source: id\n"
                                    "      destination: transaction_id\n"
                                    "    - source: total_amount\n"
                                    "      destination: amount\n"
                                    "  operations:\n"
                                    "    - INSERT\n"
                                    "    - UPDATE\n"
                                    "    - DELETE\n";

static void test_pgflo_readme_example(void **state)
{
    (void)state;
    load(pgflo_example);
    assert_int_equal(route_count(fx.rs), 2);

    struct cdc_col ucols[] = {
        {.name = "id", .type = "int4", .value = "1", .value_len = 1},
        {.name = "username", .type = "text", .value = "ann", .value_len = 3},
        {.name = "email", .type = "text", .value = "a@x", .value_len = 3},
    };
    const char *ukey[] = {"id"};
    struct cdc_event ev = make_ev(CDC_OP_INSERT, "public", "users");
    ev.cols = ucols;
    ev.ncols = 3;
    ev.key = ukey;
    ev.nkey = 1;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.schema, "public");
    assert_string_equal(ev.table, "customers");
    assert_string_equal(ev.cols[0].name, "customer_id");
    assert_string_equal(ev.cols[1].name, "customer_name");
    assert_string_equal(ev.cols[2].name, "email");
    assert_string_equal(ev.key[0], "customer_id");

    /* deletes of users are not routed; of orders they are */
    assert_int_equal(verdict(CDC_OP_DELETE, "public", "users"), ROUTE_DROP);
    assert_int_equal(verdict(CDC_OP_UPDATE, "public", "users"), ROUTE_KEEP);

    struct cdc_col oold[] = {
        {.name = "id", .type = "int8", .value = "42", .value_len = 2},
    };
    const char *okey[] = {"id"};
    ev = make_ev(CDC_OP_DELETE, "public", "orders");
    ev.old = oold;
    ev.nold = 1;
    ev.key = okey;
    ev.nkey = 1;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.table, "transactions");
    assert_string_equal(ev.old[0].name, "transaction_id");
    assert_string_equal(ev.old[0].value, "42");
    assert_string_equal(ev.key[0], "transaction_id");

    struct cdc_col ocols[] = {
        {.name = "id", .type = "int8", .value = "42", .value_len = 2},
        {.name = "total_amount",
         .type = "numeric",
         .value = "150.00",
         .value_len = 6},
    };
    ev = make_ev(CDC_OP_COPY, "public", "orders");
    ev.cols = ocols;
    ev.ncols = 2;
    assert_int_equal(apply(&ev), ROUTE_KEEP);
    assert_string_equal(ev.cols[0].name, "transaction_id");
    assert_string_equal(ev.cols[1].name, "amount");
    assert_string_equal(ev.cols[1].value, "150.00");

    /* a table without a route passes as it is */
    expect_dest("public", "products", "public", "products");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_load_empty),
        T(test_load_all_keys),
        T(test_load_plain_and_qualified),
        T(test_load_source_table_forms),
        T(test_load_operations_forms),
        T(test_load_empty_mappings),
        T(test_load_file),
        T(test_load_missing_file),
        T(test_load_yaml_syntax),
        T(test_load_top_level),
        T(test_load_route_not_mapping),
        T(test_load_key_names),
        T(test_load_unknown_route_key),
        T(test_load_source_table),
        T(test_load_destination_table),
        T(test_load_mappings_not_list),
        T(test_load_mapping_entries),
        T(test_load_mapping_duplicates),
        T(test_load_operations_bad),
        T(test_load_operations_empty),
        T(test_load_reports_every_problem),
        T(test_load_without_problem_buffer),
        T(test_apply_no_route),
        T(test_apply_plain_any_schema),
        T(test_apply_qualified_wins),
        T(test_apply_qualified_only),
        T(test_apply_many_tables),
        T(test_apply_operations_select),
        T(test_apply_copy_selection),
        T(test_apply_truncate_ddl_own_names),
        T(test_apply_no_operations_all_pass),
        T(test_apply_drop_leaves_event),
        T(test_apply_table_keeps_schema),
        T(test_apply_destination_schema),
        T(test_apply_columns_everywhere),
        T(test_apply_shared_arrays_untouched),
        T(test_apply_nothing_to_rename),
        T(test_apply_swap_and_chain),
        T(test_apply_collision),
        T(test_apply_collision_unchanged_and_old),
        T(test_apply_ddl_and_truncate),
        T(test_apply_strings_outlive_file),
        T(test_pgflo_readme_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

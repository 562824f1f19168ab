/*
 * test_pg_ddl.c: the messages of the PostgreSQL source's schema change
 * triggers become DDL events holding the one statement that fired them.
 */
#include "replicator/replicator_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
    struct cdc_arena arena;
    struct source__pg_ddl_tx tx;
    struct cdc_buf msg;
};

static int setup(void **state)
{
    struct fixture *f = cdc_xcalloc(1, sizeof(*f));
    cdc_arena_init(&f->arena);
    cdc_buf_init(&f->msg, 0);
    source__pg_ddl_tx_reset(&f->tx);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cdc_arena_release(&f->arena);
    cdc_buf_release(&f->msg);
    cdc_free(f);
    return 0;
}

/* A message as the triggers write it. */
static void build(struct fixture *f, const char *version, const char *tag,
                  const char *table, const char *object, const char *query)
{
    const char *fields[7] = {
        version, tag, "app", table, object, "\"$user\", public", query};
    cdc_buf_reset(&f->msg);
    for (size_t i = 0; i < 7; i++) {
        if (i > 0)
            cdc_buf_append(&f->msg, "", 1);
        cdc_buf_append_str(&f->msg, fields[i]);
    }
}

static int decode(struct fixture *f, struct cdc_event *ev, struct cdc_err *err)
{
    memset(ev, 0, sizeof(*ev));
    ev->position = "0/16B3748";
    cdc_err_clear(err);
    return source__pg_ddl_decode(&f->tx, f->msg.data, f->msg.len, ev, &f->arena,
                                 err);
}

static void test_single_statement(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    build(f, "1", "ALTER TABLE", "t1", "table app.t1",
          "  ALTER TABLE app.t1 ADD COLUMN c int;  -- done\n");
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_int_equal(ev.op, CDC_OP_DDL);
    assert_string_equal(ev.schema, "app");
    assert_string_equal(ev.table, "t1");
    assert_string_equal(ev.object, "table app.t1");
    assert_string_equal(ev.search_path, "\"$user\", public");
    assert_string_equal(ev.ddl, "ALTER TABLE app.t1 ADD COLUMN c int");
}

static void test_picks_the_statement_of_its_table(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    const char *q = "INSERT INTO t1 VALUES (1); ALTER TABLE other ADD x int; "
                    "ALTER TABLE t1 ADD y text; CREATE INDEX i ON t1 (y)";
    build(f, "1", "ALTER TABLE", "t1", "table app.t1", q);
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "ALTER TABLE t1 ADD y text");
    build(f, "1", "CREATE INDEX", "t1", "index app.i", q);
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "CREATE INDEX i ON t1 (y)");
}

static void test_repeated_statements_in_order(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    const char *q = "ALTER TABLE t1 ADD a int; ALTER TABLE t1 ADD b int";
    build(f, "1", "ALTER TABLE", "t1", "table app.t1", q);
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "ALTER TABLE t1 ADD a int");
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "ALTER TABLE t1 ADD b int");
    /* a third message of the same kind cannot be told: the whole text */
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, q);
    /* a new transaction starts counting again */
    source__pg_ddl_tx_reset(&f->tx);
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "ALTER TABLE t1 ADD a int");
}

static void test_no_statement_of_the_tag(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    const char *q = "SELECT 1; DO $$ BEGIN EXECUTE 'ALTER TABLE t1 ADD c int'; "
                    "END $$";
    build(f, "1", "ALTER TABLE", "t1", "table app.t1", q);
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, q);
}

static void test_dollar_quotes_and_semicolons(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    build(f, "1", "ALTER TABLE", "t1", "table app.t1",
          "ALTER TABLE t1 ALTER c SET DEFAULT $x$a;b$x$; SELECT ';'");
    assert_int_equal(decode(f, &ev, &err), CDC_OK);
    assert_string_equal(ev.ddl, "ALTER TABLE t1 ALTER c SET DEFAULT $x$a;b$x$");
}

static void test_unknown_form(void **state)
{
    struct fixture *f = *state;
    struct cdc_event ev;
    struct cdc_err err;
    build(f, "2", "ALTER TABLE", "t1", "table app.t1", "ALTER TABLE t1");
    assert_int_equal(decode(f, &ev, &err), CDC_EPROTO);
    assert_non_null(strstr(err.msg, "0/16B3748"));
    cdc_buf_reset(&f->msg);
    cdc_buf_append_str(&f->msg, "1");
    assert_int_equal(decode(f, &ev, &err), CDC_EPROTO);
    /* every prefix of a good message is handled */
    build(f, "1", "ALTER TABLE", "t1", "table app.t1", "ALTER TABLE t1 x");
    size_t full = f->msg.len;
    for (size_t n = 0; n < full; n++) {
        char *copy = cdc_xmalloc(n ? n : 1);
        memcpy(copy, f->msg.data, n);
        memset(&ev, 0, sizeof(ev));
        ev.position = "0/1";
        cdc_err_clear(&err);
        (void)source__pg_ddl_decode(&f->tx, copy, n, &ev, &f->arena, &err);
        cdc_free(copy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_picks_the_statement_of_its_table,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_statements_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_statement_of_the_tag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dollar_quotes_and_semicolons,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_form, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

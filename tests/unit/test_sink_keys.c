/*
 * test_sink_keys.c: what the database sinks share without a server: a
 * target table's unique keys (built, a key on a column prefix dropped,
 * matched in any order, with or without case), the mark a committed batch
 * leaves, which events it covers, and the list of blocked tables.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "sinks/sink.h"
#include "sinks/sink_int.h"

#include <stdio.h>
#include <string.h>

static void add_key(struct sink_keys *k, const char *const *names, size_t n)
{
    sink__keys_open(k);
    for (size_t i = 0; i < n; i++)
        sink__keys_add(k, names[i]);
}

static void test_keys_match(void **state)
{
    (void)state;
    struct sink_keys k = {0};
    const char *none[] = {"id"};
    assert_false(sink__keys_has(&k, none, 1, false));

    const char *pk[] = {"tenant", "id"};
    const char *email[] = {"Email"};
    const char *wide[] = {"a", "b", "c", "d", "e", "f"};
    add_key(&k, pk, 2);
    add_key(&k, email, 1);
    add_key(&k, wide, 6); /* grows past the first allocation */
    add_key(&k, pk, 1);
    assert_int_equal(k.n, 4);
    assert_int_equal(k.len[0], 2);
    assert_string_equal(k.cols[0][1], "id");
    assert_int_equal(k.len[2], 6);
    assert_string_equal(k.cols[2][5], "f");

    /* the same columns in another order */
    const char *rev[] = {"id", "tenant"};
    assert_true(sink__keys_has(&k, rev, 2, false));
    assert_true(sink__keys_has(&k, pk, 1, false));
    /* a subset or a superset of a key is not that key */
    const char *part[] = {"tenant", "id", "name"};
    assert_false(sink__keys_has(&k, part, 3, false));
    const char *other[] = {"tenant", "name"};
    assert_false(sink__keys_has(&k, other, 2, false));
    /* names that repeat one column do not make up a key */
    const char *twice[] = {"id", "id"};
    assert_false(sink__keys_has(&k, twice, 2, false));
    /* case: exact for PostgreSQL, folded for MySQL */
    const char *lower[] = {"email"};
    assert_false(sink__keys_has(&k, lower, 1, false));
    assert_true(sink__keys_has(&k, lower, 1, true));
    const char *wide_rev[] = {"F", "E", "D", "C", "B", "A"};
    assert_true(sink__keys_has(&k, wide_rev, 6, true));
    sink__keys_free(&k);
    assert_int_equal(k.n, 0);
    assert_null(k.cols);
    assert_false(sink__keys_has(&k, pk, 1, false));
}

static void test_keys_drop(void **state)
{
    (void)state;
    struct sink_keys k = {0};
    sink__keys_drop(&k); /* no key: nothing to drop */
    assert_int_equal(k.n, 0);
    const char *pk[] = {"id"};
    const char *prefix[] = {"title"};
    add_key(&k, pk, 1);
    add_key(&k, prefix, 1);
    sink__keys_drop(&k);
    assert_int_equal(k.n, 1);
    assert_false(sink__keys_has(&k, prefix, 1, true));
    assert_true(sink__keys_has(&k, pk, 1, true));
    /* a key started after a drop has no columns of the dropped one */
    sink__keys_open(&k);
    assert_int_equal(k.len[1], 0);
    sink__keys_add(&k, "slug");
    const char *slug[] = {"slug"};
    assert_true(sink__keys_has(&k, slug, 1, false));
    sink__keys_free(&k);
    sink__keys_free(&k); /* twice is fine */
}

static void test_mark(void **state)
{
    (void)state;
    struct sink_mark m = {0};
    struct cdc_event ev = {.op = CDC_OP_INSERT,
                           .source = "postgres",
                           .position = "0/16B3748",
                           .tx_index = 3};
    assert_false(sink_mark_covers(&m, &ev));
    sink_mark_set(&m, &ev, 42);
    assert_true(m.set);
    assert_int_equal(m.stream_seq, 42);
    assert_int_equal(m.tx_index, 3);
    assert_string_equal(m.position, "0/16B3748");
    assert_string_equal(m.source, "postgres");

    /* the event itself and those before it are covered */
    assert_true(sink_mark_covers(&m, &ev));
    struct cdc_event before = ev;
    before.tx_index = 2;
    assert_true(sink_mark_covers(&m, &before));
    before.position = "0/16B3700";
    before.tx_index = 9;
    assert_true(sink_mark_covers(&m, &before));
    /* what comes after is not, nor a copied row, nor another source */
    struct cdc_event after = ev;
    after.tx_index = 4;
    assert_false(sink_mark_covers(&m, &after));
    after.position = "0/16B3800";
    after.tx_index = 0;
    assert_false(sink_mark_covers(&m, &after));
    struct cdc_event copy = before;
    copy.op = CDC_OP_COPY;
    assert_false(sink_mark_covers(&m, &copy));
    struct cdc_event other = before;
    other.source = "mysql";
    assert_false(sink_mark_covers(&m, &other));

    /* a position longer than the mark holds is cut, never overrun */
    char longpos[300];
    memset(longpos, '7', sizeof(longpos) - 1);
    longpos[sizeof(longpos) - 1] = '\0';
    ev.position = longpos;
    sink_mark_set(&m, &ev, 43);
    assert_int_equal(strlen(m.position), sizeof(m.position) - 1);
}

static void test_blocked(void **state)
{
    (void)state;
    struct sink_blocked b = {0};
    assert_false(sink__blocked_has(&b, "app", "t"));
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        sink__blocked_add(&b, "app", name);
    }
    sink__blocked_add(&b, "", "odd name");
    assert_int_equal(b.n, 10);
    assert_true(sink__blocked_has(&b, "app", "t0"));
    assert_true(sink__blocked_has(&b, "app", "t8"));
    assert_true(sink__blocked_has(&b, "", "odd name"));
    /* schema and table are matched apart, whole and with case */
    assert_false(sink__blocked_has(&b, "app", "T0"));
    assert_false(sink__blocked_has(&b, "ap", "pt0"));
    assert_false(sink__blocked_has(&b, "appt0", ""));
    assert_false(sink__blocked_has(&b, "other", "t0"));

    struct cdc_event ev = {
        .op = CDC_OP_UPDATE, .table = "t3", .position = "mysql-bin.000002:77"};
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(sink__blocked_error(&ev, "app", '`', 5, &err), CDC_EPROTO);
    assert_int_equal(err.index, 5);
    assert_int_equal(err.flags, CDC_ERR_POISON | CDC_ERR_FINAL);
    assert_string_equal(err.msg, "UPDATE of `app`.`t3` (position "
                                 "mysql-bin.000002:77) not applied: a schema "
                                 "change of the table failed on the target "
                                 "earlier (see tributary.blocked there)");
    sink__blocked_clear(&b);
    assert_int_equal(b.n, 0);
    assert_false(sink__blocked_has(&b, "app", "t0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_match),
        cmocka_unit_test(test_keys_drop),
        cmocka_unit_test(test_mark),
        cmocka_unit_test(test_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_worker.c: where the worker cuts batches (transaction boundaries,
 * full batches, idle streams, stopping), and that every option of every
 * source and sink is known to the other binary.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "replicator/source.h"
#include "worker/worker.h"

#include <string.h>

/* items: 'e' change ending its transaction, 'c' change inside one,
 * 'x' no change (a dead letter or an undecodable message) */
static size_t cut_of(const char *items, size_t batch_size, bool idle,
                     bool stopping)
{
    bool has[64];
    bool end[64];
    size_t n = strlen(items);
    for (size_t i = 0; i < n; i++) {
        has[i] = items[i] != 'x';
        end[i] = items[i] == 'e';
    }
    return worker_batch_cut(has, end, n, batch_size, idle, stopping);
}

static void test_cut_at_last_transaction_end(void **state)
{
    (void)state;
    assert_int_equal(cut_of("e", 10, false, false), 1);
    assert_int_equal(cut_of("ccecc", 10, false, false), 3);
    assert_int_equal(cut_of("ccecee", 10, false, false), 6);
    assert_int_equal(cut_of("ccc", 10, false, false), 0);
}

static void test_cut_takes_neutral_items(void **state)
{
    (void)state;
    /* messages without a change after a transaction end go with it */
    assert_int_equal(cut_of("ex", 10, false, false), 2);
    assert_int_equal(cut_of("xx", 10, false, false), 2);
    /* but not when they sit inside an open transaction */
    assert_int_equal(cut_of("ecx", 10, false, false), 1);
}

static void test_cut_full_batch_splits_big_transaction(void **state)
{
    (void)state;
    assert_int_equal(cut_of("cccc", 4, false, false), 4);
    /* a boundary inside a full batch is still preferred */
    assert_int_equal(cut_of("ecccc", 5, false, false), 1);
}

static void test_cut_idle_flushes_partial_transaction(void **state)
{
    (void)state;
    assert_int_equal(cut_of("cc", 10, true, false), 2);
    assert_int_equal(cut_of("ecc", 10, true, false), 1);
}

static void test_cut_stopping_never_splits(void **state)
{
    (void)state;
    assert_int_equal(cut_of("cccc", 4, true, true), 0);
    assert_int_equal(cut_of("ecc", 4, true, true), 1);
}

static bool listed(const struct cdc_opt *list, const char *name)
{
    for (; list->name != NULL; list++) {
        if (strcmp(list->name, name) == 0)
            return true;
    }
    return false;
}

static void test_sink_options_known_to_replicator(void **state)
{
    (void)state;
    for (size_t i = 0; sink_all[i] != NULL; i++) {
        for (const struct cdc_opt *o = sink_all[i]->options; o->name; o++) {
            if (!listed(cdc_sink_known_options, o->name))
                fail_msg("option \"%s\" of sink \"%s\" is missing from "
                         "cdc_sink_known_options",
                         o->name, sink_all[i]->name);
        }
    }
}

static void test_source_options_known_to_worker(void **state)
{
    (void)state;
    for (size_t i = 0; source_all[i] != NULL; i++) {
        for (const struct cdc_opt *o = source_all[i]->options; o->name; o++) {
            if (!listed(cdc_source_known_options, o->name))
                fail_msg("option \"%s\" of source \"%s\" is missing from "
                         "cdc_source_known_options",
                         o->name, source_all[i]->name);
        }
    }
}

static void test_registries(void **state)
{
    (void)state;
    assert_non_null(sink_find("file"));
    assert_non_null(sink_find("stdout"));
    assert_null(sink_find("nosuch"));
    assert_non_null(source_find("postgres"));
    assert_null(source_find("nosuch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_at_last_transaction_end),
        cmocka_unit_test(test_cut_takes_neutral_items),
        cmocka_unit_test(test_cut_full_batch_splits_big_transaction),
        cmocka_unit_test(test_cut_idle_flushes_partial_transaction),
        cmocka_unit_test(test_cut_stopping_never_splits),
        cmocka_unit_test(test_sink_options_known_to_replicator),
        cmocka_unit_test(test_source_options_known_to_worker),
        cmocka_unit_test(test_registries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

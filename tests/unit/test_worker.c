/*
 * test_worker.c: where the worker cuts batches (transaction boundaries,
 * full batches, idle streams, stopping), that every option of every
 * source and sink is known to the other binary, and that every typed option
 * of both programs, the NATS connection, every source and every sink refuses
 * a value of the wrong type, one over its maximum and a missing one, naming
 * itself, and a misspelt name as unknown.
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

#include <stdio.h>
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

/* Loads argv (copied: secrets are scrubbed in place) into a configuration
 * of the options of one table, beside every other table as known, as the
 * programs do; returns the status and the first problem in msg. */
static int load_args(const struct cdc_opt *opts, const char *const *args,
                     char *msg, size_t msgsz)
{
    struct cdc_conf *cfg = cdc_conf_new("test");
    cdc_conf_add_options(cfg, opts);
    char *argv[8];
    int argc = 0;
    for (; args[argc] != NULL; argc++)
        argv[argc] = cdc_xstrdup(args[argc]);
    /* a required --group is given, unless it is the one under test */
    bool needs_group = false;
    for (const struct cdc_opt *o = opts; o->name != NULL; o++)
        needs_group |= strcmp(o->name, "group") == 0;
    if (needs_group && strcmp(args[0], "--group") != 0) {
        argv[argc++] = cdc_xstrdup("--group");
        argv[argc++] = cdc_xstrdup("g");
    }
    argv[argc] = NULL;
    char *envp[] = {NULL};
    struct cdc_err err;
    cdc_err_clear(&err);
    /* the problems go to stderr too: keep the test's output short */
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    int rc = cdc_conf_load_env(cfg, argc, argv, envp, NULL, &err);
    fclose(stderr);
    stderr = saved;
    snprintf(msg, msgsz, "%s", err.msg);
    for (int i = 0; i < argc; i++)
        cdc_free(argv[i]);
    cdc_conf_free(cfg);
    return rc;
}

/* Every typed option of a table refuses a value of the wrong type, one out
 * of its range, and a missing value, naming itself; a misspelt one is
 * unknown. */
static void check_table(const struct cdc_opt *opts, const char *what)
{
    char msg[CDC_ERR_MSG_MAX];
    char flag[128];
    char bad[128];
    for (const struct cdc_opt *o = opts; o->name != NULL; o++) {
        snprintf(flag, sizeof(flag), "--%s", o->name);
        if (o->type != CDC_OPT_STRING && o->type != CDC_OPT_LIST) {
            /* the = form: a boolean flag alone means true */
            snprintf(bad, sizeof(bad), "--%s=not-a-value", o->name);
            const char *args[] = {bad, NULL};
            if (load_args(opts, args, msg, sizeof(msg)) != CDC_ECONFIG ||
                strstr(msg, o->name) == NULL)
                fail_msg("%s: --%s not-a-value: %s", what, o->name, msg);
        }
        if (o->type == CDC_OPT_INT && o->max > 0 && o->max < INT64_MAX) {
            snprintf(bad, sizeof(bad), "%lld", (long long)o->max + 1);
            const char *args[] = {flag, bad, NULL};
            if (load_args(opts, args, msg, sizeof(msg)) != CDC_ECONFIG ||
                strstr(msg, o->name) == NULL)
                fail_msg("%s: --%s %s (over its maximum) was taken: %s", what,
                         o->name, bad, msg);
        }
        if (o->type != CDC_OPT_BOOL) {
            const char *args[] = {flag, NULL};
            if (load_args(opts, args, msg, sizeof(msg)) != CDC_ECONFIG ||
                strstr(msg, o->name) == NULL)
                fail_msg("%s: --%s without a value was taken: %s", what,
                         o->name, msg);
        }
        snprintf(bad, sizeof(bad), "--%sx", o->name);
        const char *args[] = {bad, "1", NULL};
        if (load_args(opts, args, msg, sizeof(msg)) != CDC_ECONFIG ||
            strstr(msg, "unknown option") == NULL)
            fail_msg("%s: %s was taken: %s", what, bad, msg);
    }
}

static void test_every_option_refuses_bad_values(void **state)
{
    (void)state;
    check_table(cdc_replicator_options, "replicator");
    check_table(cdc_worker_options, "worker");
    check_table(cdc_nats_options, "nats");
    for (size_t i = 0; source_all[i] != NULL; i++)
        check_table(source_all[i]->options, source_all[i]->name);
    for (size_t i = 0; sink_all[i] != NULL; i++)
        check_table(sink_all[i]->options, sink_all[i]->name);
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
        cmocka_unit_test(test_every_option_refuses_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

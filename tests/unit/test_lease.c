/*
 * test_lease.c: the worker's lease on its consumer, without a server: the
 * key's value written and read back (and refused when it is not one), when
 * a standby takes over, and how the holder's process is told alive, gone,
 * replaced by another with its pid, or out of sight.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "worker/lease.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void sample(struct cdc_lease_holder *h)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->host, sizeof(h->host), "db-7.example.org");
    snprintf(h->boot, sizeof(h->boot), "0b6e9e4c-57a8-4c31-9d5e-0c2f1f6e1a2b");
    snprintf(h->pidns, sizeof(h->pidns), "4026531836");
    h->pid = 4242;
    h->start = 987654321;
    h->ttl_ms = 10000;
    snprintf(h->since, sizeof(h->since), "2026-11-22T03:14:27.124143Z");
}

static void test_value_round_trip(void **state)
{
    (void)state;
    struct cdc_lease_holder h;
    struct cdc_lease_holder back;
    char text[640];
    sample(&h);
    for (int released = 0; released <= 1; released++) {
        h.released = released != 0;
        int n = cdc_lease_format(&h, text, sizeof(text));
        assert_true(n > 0);
        assert_int_equal(strlen(text), (size_t)n);
        assert_true(cdc_lease_parse(text, (size_t)n, &back));
        assert_string_equal(back.host, h.host);
        assert_string_equal(back.boot, h.boot);
        assert_string_equal(back.pidns, h.pidns);
        assert_string_equal(back.since, h.since);
        assert_int_equal(back.pid, h.pid);
        assert_int_equal(back.start, h.start);
        assert_int_equal(back.ttl_ms, h.ttl_ms);
        assert_int_equal(back.released, h.released);
    }
    /* a host name with what JSON would need escaped is written plain */
    snprintf(h.host, sizeof(h.host), "a\"b\\c d");
    int n = cdc_lease_format(&h, text, sizeof(text));
    assert_true(n > 0);
    assert_true(cdc_lease_parse(text, (size_t)n, &back));
    assert_string_equal(back.host, "a_b_c_d");
    /* no room: refused, not cut */
    assert_int_equal(cdc_lease_format(&h, text, 40), -1);
}

static void test_value_refused(void **state)
{
    (void)state;
    struct cdc_lease_holder h;
    struct cdc_lease_holder back;
    char text[640];
    sample(&h);
    int n = cdc_lease_format(&h, text, sizeof(text));
    assert_true(n > 0);
    /* every shorter prefix lacks a field or its end */
    for (int cut = 0; cut < n - 1; cut++)
        assert_false(cdc_lease_parse(text, (size_t)cut, &back));
    assert_false(cdc_lease_parse("{}", 2, &back));
    assert_false(cdc_lease_parse("not json at all", 15, &back));
    /* a value of another kind where a number or flag goes */
    const char *bad[] = {
        "{\"host\":\"h\",\"boot\":\"b\",\"pidns\":\"1\",\"pid\":\"7\","
        "\"start\":1,\"ttl_ms\":5,\"since\":\"s\",\"released\":false}",
        "{\"host\":\"h\",\"boot\":\"b\",\"pidns\":\"1\",\"pid\":7,"
        "\"start\":1,\"ttl_ms\":-5,\"since\":\"s\",\"released\":false}",
        "{\"host\":\"h\",\"boot\":\"b\",\"pidns\":\"1\",\"pid\":7,"
        "\"start\":1,\"ttl_ms\":5,\"since\":\"s\",\"released\":maybe}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(cdc_lease_parse(bad[i], strlen(bad[i]), &back));
    /* a NUL inside, or more than a value can be */
    char with_nul[640];
    memcpy(with_nul, text, (size_t)n);
    with_nul[5] = '\0';
    assert_false(cdc_lease_parse(with_nul, (size_t)n, &back));
    char big[2048];
    memset(big, ' ', sizeof(big));
    memcpy(big, text, (size_t)n);
    assert_false(cdc_lease_parse(big, sizeof(big), &back));
}

static void test_takeover_rules(void **state)
{
    (void)state;
    struct cdc_lease_holder h;
    sample(&h);
    /* a live or unknown holder keeps it while it renews */
    assert_false(lease_takeover(&h, true, 1, 0, 3000));
    assert_false(lease_takeover(&h, true, -1, 9999, 3000));
    /* its own ttl counts, not the standby's */
    assert_true(lease_takeover(&h, true, -1, 10000, 3000));
    assert_true(lease_takeover(&h, true, 1, 10000, 3000));
    /* gone, or released: at once */
    assert_true(lease_takeover(&h, true, 0, 0, 3000));
    h.released = true;
    assert_true(lease_takeover(&h, true, 1, 0, 3000));
    /* no ttl in the value: the standby's */
    h.released = false;
    h.ttl_ms = 0;
    assert_false(lease_takeover(&h, true, -1, 2999, 3000));
    assert_true(lease_takeover(&h, true, -1, 3000, 3000));
    /* a value that cannot be read is waited out, whatever it seems to say */
    h.released = true;
    assert_false(lease_takeover(&h, false, 0, 2999, 3000));
    assert_true(lease_takeover(&h, false, 0, 3000, 3000));
}

static void test_holder_alive(void **state)
{
    (void)state;
    struct cdc_lease_holder me;
    cdc_lease_me(5000, &me);
    assert_int_equal(me.pid, (int64_t)getpid());
    assert_int_equal(me.ttl_ms, 5000);
    assert_true(me.start > 0);
    assert_true(me.boot[0] != '\0');
    assert_true(me.pidns[0] != '\0');
    assert_true(cdc_lease_same_pids(&me, &me));
    assert_int_equal(cdc_lease_holder_alive(&me), 1);

    /* another process with this pid (a pid used again) is not the holder */
    struct cdc_lease_holder reused = me;
    reused.start = me.start + 1;
    assert_int_equal(cdc_lease_holder_alive(&reused), 0);

    /* a process that ended */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    struct cdc_lease_holder gone = me;
    gone.pid = child;
    assert_int_equal(cdc_lease_holder_alive(&gone), 0);

    /* another machine, or another pid namespace: cannot tell */
    struct cdc_lease_holder far = me;
    snprintf(far.boot, sizeof(far.boot), "another-boot");
    assert_false(cdc_lease_same_pids(&far, &me));
    assert_int_equal(cdc_lease_holder_alive(&far), -1);
    far = me;
    snprintf(far.pidns, sizeof(far.pidns), "1");
    assert_int_equal(cdc_lease_holder_alive(&far), -1);
    far = me;
    far.boot[0] = '\0';
    assert_false(cdc_lease_same_pids(&far, &far));
    assert_int_equal(cdc_lease_holder_alive(&far), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_round_trip),
        cmocka_unit_test(test_value_refused),
        cmocka_unit_test(test_takeover_rules),
        cmocka_unit_test(test_holder_alive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_metrics.c: unit tests of common/metrics.c: the exact Prometheus text
 * of counters, gauges and histograms (constant and own labels, escaping,
 * number forms, cumulative buckets), registration by name, NULL updates,
 * counts from several threads at once, the health of parts over time,
 * --metrics-addr parsing, and the HTTP endpoint on a loopback port.
 *
 * The registry is process-wide: every test starts and ends with
 * cdc_metrics_reset().
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

#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ==== Fixture ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct cdc_buf out;
    struct cdc_buf body;
    int sock;
} fx;

static int setup(void **state)
{
    (void)state;
    cdc_log_level_current = CDC_LOG_ERROR;
    cdc_metrics_reset();
    cdc_buf_init(&fx.out, 0);
    cdc_buf_init(&fx.body, 0);
    fx.sock = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_metrics_reset();
    cdc_buf_release(&fx.out);
    cdc_buf_release(&fx.body);
    if (fx.sock >= 0)
        close(fx.sock);
    fx.sock = -1;
    return 0;
}

/* What every render ends with while no part has reported its health. */
#define HEALTH_TAIL                                                            \
    "# HELP tributary_health_failing_seconds seconds each part of the "        \
    "process has been failing, 0 while it works\n"                             \
    "# TYPE tributary_health_failing_seconds gauge\n"

static const char *render(void)
{
    cdc_buf_reset(&fx.out);
    cdc_metrics_render(&fx.out);
    return fx.out.data ? fx.out.data : "";
}

/* Quiet for tests that make the registry log errors on purpose. */
static void quiet(void)
{
    cdc_log_level_current = -1;
}

/* ==== Rendering ==== */

static void test_render_counters(void **state)
{
    (void)state;
    static const char *const labels[] = {"group", "sales", "sink", "pg", NULL};
    cdc_metrics_set_labels(labels);
    struct cdc_metric *read = cdc_metric_counter("tributary_events_read_total",
                                                 "changes read", "table");
    struct cdc_metric *acked =
        cdc_metric_counter("tributary_events_acked_total", "acked", NULL);
    assert_non_null(read);
    assert_non_null(acked);
    cdc_metric_add(read, "public.orders", 3);
    cdc_metric_add(read, "public.items", 1);
    cdc_metric_add(read, "public.orders", 2);
    cdc_metric_add(acked, NULL, 18446744073709551615u);
    assert_string_equal(
        render(), "# HELP tributary_events_read_total changes read\n"
                  "# TYPE tributary_events_read_total counter\n"
                  "tributary_events_read_total{group=\"sales\",sink=\"pg\","
                  "table=\"public.orders\"} 5\n"
                  "tributary_events_read_total{group=\"sales\",sink=\"pg\","
                  "table=\"public.items\"} 1\n"
                  "# HELP tributary_events_acked_total acked\n"
                  "# TYPE tributary_events_acked_total counter\n"
                  "tributary_events_acked_total{group=\"sales\",sink=\"pg\"} "
                  "18446744073709551615\n" HEALTH_TAIL);
    assert_int_equal(cdc_metric_counter_value(read, "public.orders"), 5);
    assert_int_equal(cdc_metric_counter_value(read, "nope"), 0);
    /* asking did not create the series */
    assert_null(strstr(render(), "nope"));
}

static void test_render_no_labels(void **state)
{
    (void)state;
    struct cdc_metric *c = cdc_metric_counter("a_total", "a", NULL);
    struct cdc_metric *g = cdc_metric_gauge("b", "b", NULL);
    struct cdc_metric *t = cdc_metric_counter("c_total", "c", "table");
    struct cdc_metric *h = cdc_metric_histogram("d", "d", NULL, NULL, 0);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(t);
    assert_non_null(h);
    /* unlabelled families show 0 at once; a labelled one only its type */
    assert_string_equal(render(), "# HELP a_total a\n"
                                  "# TYPE a_total counter\n"
                                  "a_total 0\n"
                                  "# HELP b b\n"
                                  "# TYPE b gauge\n"
                                  "b 0\n"
                                  "# HELP c_total c\n"
                                  "# TYPE c_total counter\n"
                                  "# HELP d d\n"
                                  "# TYPE d histogram\n"
                                  "d_bucket{le=\"+Inf\"} 0\n"
                                  "d_sum 0\n"
                                  "d_count 0\n" HEALTH_TAIL);
}

static void test_render_escaping(void **state)
{
    (void)state;
    static const char *const labels[] = {"group", "a\"b", NULL};
    cdc_metrics_set_labels(labels);
    struct cdc_metric *c =
        cdc_metric_counter("x_total", "line one\nback\\slash \"q\"", "table");
    cdc_metric_add(c, "we\\ird\"na\nme", 7);
    cdc_metric_add(c, NULL, 1);
    assert_string_equal(
        render(), "# HELP x_total line one\\nback\\\\slash \"q\"\n"
                  "# TYPE x_total counter\n"
                  "x_total{group=\"a\\\"b\",table=\"we\\\\ird\\\"na\\nme\"} 7\n"
                  "x_total{group=\"a\\\"b\",table=\"\"} 1\n" HEALTH_TAIL);
}

static void expect_gauge(struct cdc_metric *g, double v, const char *text)
{
    char want[128];
    cdc_metric_set(g, NULL, v);
    snprintf(want, sizeof(want), "# HELP g g\n# TYPE g gauge\ng %s\n", text);
    const char *got = render();
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("gauge set to %.17g rendered as:\n%s", v, got);
}

static void test_render_gauge_values(void **state)
{
    (void)state;
    struct cdc_metric *g = cdc_metric_gauge("g", "g", NULL);
    expect_gauge(g, 0.1, "0.1");
    expect_gauge(g, 1.5, "1.5");
    expect_gauge(g, -42, "-42");
    expect_gauge(g, 1000000, "1000000");
    expect_gauge(g, 1e-7, "1e-07");
    expect_gauge(g, 1e300, "1e+300");
    expect_gauge(g, 0.1 + 0.2, "0.30000000000000004");
    expect_gauge(g, 1.0 / 3.0, "0.3333333333333333");
    expect_gauge(g, 123456789.25, "123456789.25");
    expect_gauge(g, NAN, "NaN");
    expect_gauge(g, INFINITY, "+Inf");
    expect_gauge(g, -INFINITY, "-Inf");
    /* set, then add in both directions */
    expect_gauge(g, 1.5, "1.5");
    struct cdc_metric_series *s = cdc_metric_series(g, NULL);
    cdc_metric_series_gauge_add(s, 2.25);
    cdc_metric_series_gauge_add(s, -0.75);
    cdc_metric_add(g, NULL, 4); /* adds to a gauge too */
    assert_non_null(strstr(render(), "\ng 7\n"));
    cdc_metric_series_set(s, 12.5);
    assert_non_null(strstr(render(), "\ng 12.5\n"));
}

static void test_render_histogram(void **state)
{
    (void)state;
    static const char *const labels[] = {"group", "g1", NULL};
    static const double bounds[] = {0.005, 0.25, 1};
    cdc_metrics_set_labels(labels);
    struct cdc_metric *h =
        cdc_metric_histogram("lat_seconds", "latency", "table", bounds, 3);
    assert_non_null(h);
    /* 0.25 is on a bound: "le" includes it */
    cdc_metric_observe(h, "t", 0.125);
    cdc_metric_observe(h, "t", 0.25);
    cdc_metric_observe(h, "t", 0.5);
    cdc_metric_series_observe(cdc_metric_series(h, "t"), 10);
    cdc_metric_observe(h, "u", 0.001);
    assert_string_equal(render(), "# HELP lat_seconds latency\n"
                                  "# TYPE lat_seconds histogram\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"t\","
                                  "le=\"0.005\"} 0\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"t\","
                                  "le=\"0.25\"} 2\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"t\","
                                  "le=\"1\"} 3\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"t\","
                                  "le=\"+Inf\"} 4\n"
                                  "lat_seconds_sum{group=\"g1\",table=\"t\"} "
                                  "10.875\n"
                                  "lat_seconds_count{group=\"g1\",table=\"t\"} "
                                  "4\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"u\","
                                  "le=\"0.005\"} 1\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"u\","
                                  "le=\"0.25\"} 1\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"u\","
                                  "le=\"1\"} 1\n"
                                  "lat_seconds_bucket{group=\"g1\",table=\"u\","
                                  "le=\"+Inf\"} 1\n"
                                  "lat_seconds_sum{group=\"g1\",table=\"u\"} "
                                  "0.001\n"
                                  "lat_seconds_count{group=\"g1\",table=\"u\"} "
                                  "1\n" HEALTH_TAIL);
}

static void test_histogram_unlabelled(void **state)
{
    (void)state;
    static const double bounds[] = {1, 10, 100, 1000};
    struct cdc_metric *h =
        cdc_metric_histogram("batch_size", "events", NULL, bounds, 4);
    cdc_metric_observe(h, "ignored", 1000);
    cdc_metric_observe(h, NULL, 1001);
    cdc_metric_observe(h, NULL, 1);
    assert_string_equal(render(), "# HELP batch_size events\n"
                                  "# TYPE batch_size histogram\n"
                                  "batch_size_bucket{le=\"1\"} 1\n"
                                  "batch_size_bucket{le=\"10\"} 1\n"
                                  "batch_size_bucket{le=\"100\"} 1\n"
                                  "batch_size_bucket{le=\"1000\"} 2\n"
                                  "batch_size_bucket{le=\"+Inf\"} 3\n"
                                  "batch_size_sum 2002\n"
                                  "batch_size_count 3\n" HEALTH_TAIL);
}

/* ==== Registration ==== */

static void test_register_same_name(void **state)
{
    (void)state;
    static const double b1[] = {1, 2};
    static const double b2[] = {1, 3};
    struct cdc_metric *a = cdc_metric_counter("n_total", "first", "table");
    assert_non_null(a);
    assert_ptr_equal(cdc_metric_counter("n_total", "second", "table"), a);
    struct cdc_metric *h = cdc_metric_histogram("h", "h", NULL, b1, 2);
    assert_ptr_equal(cdc_metric_histogram("h", "h", NULL, b1, 2), h);
    struct cdc_metric *h0 = cdc_metric_histogram("h0", "h0", NULL, NULL, 0);
    assert_ptr_equal(cdc_metric_histogram("h0", "h0", NULL, NULL, 0), h0);
    quiet();
    /* the same name with another type, label or buckets */
    assert_null(cdc_metric_gauge("n_total", "first", "table"));
    assert_null(cdc_metric_counter("n_total", "first", NULL));
    assert_null(cdc_metric_counter("n_total", "first", "part"));
    assert_null(cdc_metric_histogram("h", "h", NULL, b2, 2));
    assert_null(cdc_metric_histogram("h", "h", NULL, b1, 1));
    /* the family is listed once, with its first help */
    const char *out = render();
    assert_non_null(strstr(out, "# HELP n_total first\n"));
    assert_null(strstr(out, "n_total second"));
}

static void test_register_invalid(void **state)
{
    (void)state;
    static const double unordered[] = {1, 1};
    static const double with_inf[] = {1, INFINITY};
    quiet();
    assert_null(cdc_metric_counter(NULL, "h", NULL));
    assert_null(cdc_metric_counter("", "h", NULL));
    assert_null(cdc_metric_counter("9lives", "h", NULL));
    assert_null(cdc_metric_counter("has-dash", "h", NULL));
    assert_null(cdc_metric_counter("ok_total", "h", "bad:label"));
    assert_null(cdc_metric_histogram("h1", "h", NULL, unordered, 2));
    assert_null(cdc_metric_histogram("h2", "h", NULL, with_inf, 2));
    assert_null(cdc_metric_histogram("h3", "h", NULL, NULL, 2));
    assert_non_null(cdc_metric_counter("ns:sub_total", NULL, NULL));
    assert_string_equal(render(), "# HELP ns:sub_total \n"
                                  "# TYPE ns:sub_total counter\n"
                                  "ns:sub_total 0\n" HEALTH_TAIL);
}

static void test_null_safety(void **state)
{
    (void)state;
    cdc_metrics_set_labels(NULL);
    assert_null(cdc_metric_series(NULL, "x"));
    cdc_metric_add(NULL, "x", 1);
    cdc_metric_set(NULL, "x", 1);
    cdc_metric_observe(NULL, "x", 1);
    cdc_metric_series_add(NULL, 1);
    cdc_metric_series_set(NULL, 1);
    cdc_metric_series_gauge_add(NULL, 1);
    cdc_metric_series_observe(NULL, 1);
    assert_int_equal(cdc_metric_counter_value(NULL, "x"), 0);
    cdc_health_report(NULL, false, "x");
    assert_true(cdc_health_check(cdc_now_ms(), 0, NULL));
    cdc_metrics_stop();
    assert_int_equal(cdc_metrics_port(), 0);
    /* calls that do not fit the type change nothing */
    struct cdc_metric *c = cdc_metric_counter("c_total", "c", NULL);
    struct cdc_metric *g = cdc_metric_gauge("g", "g", NULL);
    cdc_metric_set(c, NULL, 5);
    cdc_metric_observe(c, NULL, 5);
    cdc_metric_observe(g, NULL, 5);
    assert_int_equal(cdc_metric_counter_value(c, NULL), 0);
    assert_int_equal(cdc_metric_counter_value(g, NULL), 0);
    assert_string_equal(render(), "# HELP c_total c\n"
                                  "# TYPE c_total counter\n"
                                  "c_total 0\n"
                                  "# HELP g g\n"
                                  "# TYPE g gauge\n"
                                  "g 0\n" HEALTH_TAIL);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct cdc_metric *c = cdc_metric_counter("t_total", "t", "table");
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "t%d", i);
        assert_non_null(cdc_metric_series(c, name));
    }
    quiet();
    assert_null(cdc_metric_series(c, "one_too_many"));
    /* the ones that exist are still found */
    assert_non_null(cdc_metric_series(c, "t9999"));
    cdc_metric_add(c, "t1234", 3);
    assert_int_equal(cdc_metric_counter_value(c, "t1234"), 3);
}

/* ==== Threads ==== */

#define THREADS 4
#define PER_THREAD 100000

static void *bump(void *arg)
{
    struct cdc_metric **ms = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        cdc_metric_add(ms[0], "public.t", 1);
        cdc_metric_add(ms[1], NULL, 2);
        cdc_metric_series_gauge_add(cdc_metric_series(ms[2], NULL), 1.0);
        cdc_metric_observe(ms[3], i % 2 ? "odd" : "even", 1.0);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    static const double bounds[] = {0.5, 2};
    struct cdc_metric *ms[4] = {
        cdc_metric_counter("a_total", "a", "table"),
        cdc_metric_counter("b_total", "b", NULL),
        cdc_metric_gauge("g", "g", NULL),
        cdc_metric_histogram("h", "h", "kind", bounds, 2),
    };
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bump, ms), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(cdc_metric_counter_value(ms[0], "public.t"),
                     THREADS * PER_THREAD);
    assert_int_equal(cdc_metric_counter_value(ms[1], NULL),
                     2 * THREADS * PER_THREAD);
    const char *out = render();
    assert_non_null(strstr(out, "\ng 400000\n"));
    assert_non_null(strstr(out, "h_bucket{kind=\"odd\",le=\"2\"} 200000\n"));
    assert_non_null(strstr(out, "h_count{kind=\"even\"} 200000\n"));
    assert_non_null(strstr(out, "h_sum{kind=\"even\"} 200000\n"));
}

/* ==== Health ==== */

static const char *health_text(int64_t now, int64_t threshold, bool *ok)
{
    cdc_buf_reset(&fx.out);
    *ok = cdc_health_check(now, threshold, &fx.out);
    return fx.out.data ? fx.out.data : "";
}

static void test_health_transitions(void **state)
{
    (void)state;
    bool ok = false;
    assert_string_equal(health_text(cdc_now_ms(), 1000, &ok), "");
    assert_true(ok);

    cdc_health_report("source", true, "ignored");
    int64_t t0 = cdc_now_ms();
    cdc_health_report("nats", false, "connection refused\nby the server\n");
    assert_string_equal(health_text(t0 + 10000, 30000, &ok),
                        "source ok\n"
                        "nats failing for 10.0 s: connection refused by the "
                        "server\n");
    assert_true(ok);

    /* failing longer than the threshold; further failures keep the
     * spell's start and take the newest detail */
    cdc_health_report("nats", false, "timeout");
    assert_string_equal(health_text(t0 + 31500, 30000, &ok),
                        "source ok\nnats failing for 31.5 s: timeout\n");
    assert_false(ok);

    /* the gauge of failing seconds, after the registered families */
    assert_non_null(cdc_metric_counter("x_total", "x", NULL));
    const char *out = render();
    const char *x = strstr(out, "x_total 0\n");
    const char *src = strstr(out, "tributary_health_failing_seconds{part="
                                  "\"source\"} 0\n");
    const char *nats =
        strstr(out, "tributary_health_failing_seconds{part=\"nats\"} ");
    assert_non_null(x);
    assert_non_null(src);
    assert_non_null(nats);
    assert_true(x < src && src < nats);

    /* recovered */
    cdc_health_report("nats", true, NULL);
    assert_string_equal(health_text(t0 + 60000, 30000, &ok),
                        "source ok\nnats ok\n");
    assert_true(ok);
    assert_non_null(strstr(
        render(), "tributary_health_failing_seconds{part=\"nats\"} 0\n"));

    /* a new failure starts a new spell */
    cdc_health_report("sink", false, NULL);
    int64_t t1 = cdc_now_ms();
    assert_true(cdc_health_check(t1 + 1000, 5000, NULL));
    assert_false(cdc_health_check(t1 + 6000, 5000, NULL));
    assert_string_equal(health_text(t1 + 6000, 5000, &ok),
                        "source ok\nnats ok\nsink failing for 6.0 s\n");
}

static void test_health_threshold_edge(void **state)
{
    (void)state;
    int64_t before = cdc_now_ms();
    cdc_health_report("sink", false, "x");
    int64_t after = cdc_now_ms();
    /* the spell started between before and after */
    assert_true(cdc_health_check(before + 100, 100, NULL));
    assert_false(cdc_health_check(after + 101, 100, NULL));
}

static void test_health_detail_cut(void **state)
{
    (void)state;
    char detail[2000];
    memset(detail, 'a', sizeof(detail) - 1);
    detail[sizeof(detail) - 1] = '\0';
    /* a two-byte character across the cut at 512 */
    detail[511] = (char)0xC3;
    detail[512] = (char)0xA9;
    cdc_health_report("sink", false, detail);
    bool ok = true;
    const char *text = health_text(cdc_now_ms(), 1000000, &ok);
    const char *d = strstr(text, ": ");
    assert_non_null(d);
    assert_int_equal(strlen(d + 2), 511 + 1); /* 511 bytes and '\n' */
}

/* ==== --metrics-addr ==== */

static void expect_addr(const char *addr, const char *host, int port)
{
    char h[64] = "";
    int p = -1;
    struct cdc_err err;
    cdc_err_clear(&err);
    if (cdc_metrics_parse_addr(addr, h, sizeof(h), &p, &err) != CDC_OK)
        fail_msg("\"%s\" rejected: %s", addr, err.msg);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

static void expect_addr_bad(const char *addr, const char *msg)
{
    char h[64] = "unchanged";
    int p = -1;
    struct cdc_err err;
    cdc_err_clear(&err);
    int rc = cdc_metrics_parse_addr(addr, h, sizeof(h), &p, &err);
    if (rc != CDC_ECONFIG)
        fail_msg("\"%s\" gave %d, want CDC_ECONFIG", addr ? addr : "(null)",
                 rc);
    assert_int_equal(err.code, CDC_ECONFIG);
    assert_string_equal(err.msg, msg);
    assert_string_equal(h, "unchanged");
    assert_int_equal(p, -1);
}

static void test_parse_addr(void **state)
{
    (void)state;
    expect_addr("9090", "127.0.0.1", 9090);
    expect_addr(":9091", "127.0.0.1", 9091);
    expect_addr("0", "127.0.0.1", 0);
    expect_addr("0.0.0.0:65535", "0.0.0.0", 65535);
    expect_addr("localhost:80", "localhost", 80);
    expect_addr("[::1]:9090", "::1", 9090);
    expect_addr("[::]:0", "::", 0);
    expect_addr("00080", "127.0.0.1", 80);

    expect_addr_bad("", "invalid --metrics-addr \"\": expected [host:]port");
    expect_addr_bad(NULL, "invalid --metrics-addr \"\": expected [host:]port");
    expect_addr_bad("abc",
                    "invalid --metrics-addr \"abc\": expected [host:]port");
    expect_addr_bad("host:", "invalid --metrics-addr \"host:\": expected "
                             "[host:]port");
    expect_addr_bad(":", "invalid --metrics-addr \":\": expected [host:]port");
    expect_addr_bad("90a", "invalid --metrics-addr \"90a\": expected "
                           "[host:]port");
    expect_addr_bad("-1", "invalid --metrics-addr \"-1\": expected "
                          "[host:]port");
    expect_addr_bad("+80", "invalid --metrics-addr \"+80\": expected "
                           "[host:]port");
    expect_addr_bad(" 80", "invalid --metrics-addr \" 80\": expected "
                           "[host:]port");
    expect_addr_bad("65536", "invalid --metrics-addr \"65536\": the port "
                             "must be 0 to 65535");
    expect_addr_bad("h:99999999999999999999",
                    "invalid --metrics-addr \"h:99999999999999999999\": the "
                    "port must be 0 to 65535");
    expect_addr_bad("[::1:9090", "invalid --metrics-addr \"[::1:9090\": "
                                 "missing \"]\" after the IPv6 address");
    expect_addr_bad("[::1]9090", "invalid --metrics-addr \"[::1]9090\": "
                                 "expected [host:]port");
    expect_addr_bad("[]:80", "invalid --metrics-addr \"[]:80\": expected "
                             "[host:]port");
    expect_addr_bad("::1:9090",
                    "invalid --metrics-addr \"::1:9090\": expected "
                    "[host:]port (an IPv6 address goes in brackets: "
                    "[::1]:9090)");

    /* a host that does not fit */
    char small[4];
    int p = 0;
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(
        cdc_metrics_parse_addr("abcd:1", small, sizeof(small), &p, &err),
        CDC_ECONFIG);
    assert_int_equal(
        cdc_metrics_parse_addr("abc:1", small, sizeof(small), &p, &err),
        CDC_OK);
    assert_string_equal(small, "abc");
}

/* ==== HTTP ==== */

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct cdc_buf *b = arg;
    if (cdc_buf_append(b, data, size * n) != CDC_OK)
        return 0;
    return size * n;
}

/* Fetches path from the endpoint into fx.body; returns the status. */
static long fetch(const char *method, const char *path, char *type,
                  size_t typesz)
{
    char url[128];
    long status = 0;
    char *ct = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", cdc_metrics_port(),
             path);
    cdc_buf_reset(&fx.body);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &fx.body);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(curl);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(type, typesz, "%s", ct ? ct : "");
    }
    curl_easy_cleanup(curl);
    if (cc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(cc));
    return status;
}

static const char *body(void)
{
    return fx.body.data ? fx.body.data : "";
}

static void test_http(void **state)
{
    (void)state;
    static const char *const labels[] = {"group", "sales", NULL};
    cdc_metrics_set_labels(labels);
    struct cdc_metric *c =
        cdc_metric_counter("tributary_events_read_total", "read", "table");
    cdc_metric_add(c, "public.t", 42);
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(cdc_metrics_port(), 0);
    int rc = cdc_metrics_serve("127.0.0.1:0", 30000, &err);
    if (rc != CDC_OK)
        fail_msg("serve: %s", err.msg);
    assert_true(cdc_metrics_port() > 0);

    char type[128];
    assert_int_equal(fetch("GET", "/metrics", type, sizeof(type)), 200);
    assert_string_equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(
        body(), "# HELP tributary_events_read_total read\n"
                "# TYPE tributary_events_read_total counter\n"
                "tributary_events_read_total{group=\"sales\",table=\"public."
                "t\"} 42\n" HEALTH_TAIL);

    assert_int_equal(fetch("GET", "/metrics?x=1", type, sizeof(type)), 200);
    assert_int_equal(fetch("HEAD", "/metrics", type, sizeof(type)), 200);
    assert_string_equal(body(), "");

    assert_int_equal(fetch("GET", "/health", type, sizeof(type)), 200);
    assert_string_equal(body(), "ok\n");
    cdc_health_report("source", true, NULL);
    assert_int_equal(fetch("GET", "/health", type, sizeof(type)), 200);
    assert_string_equal(body(), "ok\nsource ok\n");
    assert_string_equal(type, "text/plain; charset=utf-8");

    assert_int_equal(fetch("GET", "/nope", type, sizeof(type)), 404);
    assert_int_equal(fetch("GET", "/", type, sizeof(type)), 404);
    assert_int_equal(fetch("POST", "/metrics", type, sizeof(type)), 405);
    assert_int_equal(fetch("DELETE", "/health", type, sizeof(type)), 405);

    /* a second serve while serving */
    cdc_err_clear(&err);
    assert_int_equal(cdc_metrics_serve("127.0.0.1:0", 30000, &err), CDC_ESTATE);

    cdc_metrics_stop();
    assert_int_equal(cdc_metrics_port(), 0);
    cdc_metrics_stop();
}

static void test_http_health_failing(void **state)
{
    (void)state;
    struct cdc_err err;
    cdc_err_clear(&err);
    int rc = cdc_metrics_serve("127.0.0.1:0", 1, &err);
    if (rc != CDC_OK)
        fail_msg("serve: %s", err.msg);
    cdc_health_report("source", true, NULL);
    cdc_health_report("nats", false, "could not connect to NATS: refused");
    cdc_sleep_ms(5);
    char type[128];
    assert_int_equal(fetch("GET", "/health", type, sizeof(type)), 503);
    assert_string_equal(type, "text/plain; charset=utf-8");
    assert_true(strncmp(body(), "source ok\nnats failing for ", 27) == 0);
    assert_non_null(strstr(body(), " s: could not connect to NATS: refused\n"));
    assert_null(strstr(body(), "ok\nsource"));

    assert_int_equal(fetch("GET", "/metrics", type, sizeof(type)), 200);
    assert_non_null(strstr(
        body(), "tributary_health_failing_seconds{part=\"source\"} 0\n"));
    assert_non_null(
        strstr(body(), "tributary_health_failing_seconds{part=\"nats\"} 0."));

    cdc_health_report("nats", true, NULL);
    assert_int_equal(fetch("GET", "/health", type, sizeof(type)), 200);
    assert_string_equal(body(), "ok\nsource ok\nnats ok\n");
}

static void test_http_port_in_use(void **state)
{
    (void)state;
    fx.sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fx.sock >= 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        .sin_port = 0,
    };
    assert_int_equal(bind(fx.sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fx.sock, 1), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fx.sock, (struct sockaddr *)&sa, &len), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));

    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(cdc_metrics_serve(addr, 1000, &err), CDC_EIO);
    char want[128];
    snprintf(want, sizeof(want), "could not serve metrics on \"%s\": ", addr);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("message: %s", err.msg);
    assert_int_equal(cdc_metrics_port(), 0);

    cdc_err_clear(&err);
    assert_int_equal(cdc_metrics_serve("nosuchhost.invalid:0", 1000, &err),
                     CDC_ECONFIG);
    assert_non_null(strstr(err.msg, "nosuchhost.invalid"));
}

static void test_http_ipv6(void **state)
{
    (void)state;
    struct cdc_err err;
    cdc_err_clear(&err);
    /* a machine without IPv6 on loopback cannot run this */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0)
        skip();
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int b = bind(probe, (struct sockaddr *)&sa, sizeof(sa));
    close(probe);
    if (b != 0)
        skip();
    int rc = cdc_metrics_serve("[::1]:0", 1000, &err);
    if (rc != CDC_OK)
        fail_msg("serve: %s", err.msg);
    char url[128];
    snprintf(url, sizeof(url), "http://[::1]:%d/health", cdc_metrics_port());
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &fx.body);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    assert_int_equal(cc, CURLE_OK);
    assert_int_equal(status, 200);
    assert_string_equal(body(), "ok\n");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_render_counters),
        T(test_render_no_labels),
        T(test_render_escaping),
        T(test_render_gauge_values),
        T(test_render_histogram),
        T(test_histogram_unlabelled),
        T(test_register_same_name),
        T(test_register_invalid),
        T(test_null_safety),
        T(test_series_cap),
        T(test_concurrent),
        T(test_health_transitions),
        T(test_health_threshold_edge),
        T(test_health_detail_cut),
        T(test_parse_addr),
        T(test_http),
        T(test_http_health_failing),
        T(test_http_port_in_use),
        T(test_http_ipv6),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}

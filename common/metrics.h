/*
 * metrics.h: the process's metrics and health, and the HTTP endpoint that
 * serves them (/metrics in the Prometheus text format, /health).
 *
 * One registry per process. Families are registered once by name (a
 * second registration of the same name returns the same family); every
 * series of a family carries the process's constant labels (group, and a
 * worker's sink) and at most one label of its own (such as "table").
 * Updates are cheap and thread-safe: counters and gauges are atomics,
 * a series is found under a lock the first time and can be kept
 * (cdc_metric_series) to skip the lookup on hot paths. Every update
 * function accepts a NULL family or series and then does nothing.
 * Everything here may be called from any thread, except cdc_metrics_serve,
 * cdc_metrics_stop and cdc_metrics_reset, which belong to the main thread.
 *
 * Health: each part of the process (the source connection, NATS, the
 * sink) reports whether its last attempt worked; /health answers 503 when
 * a part has been failing for longer than the threshold, 200 otherwise.
 */
#ifndef CDC_METRICS_H
#define CDC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cdc_buf;
struct cdc_err;

struct cdc_metric;
struct cdc_metric_series;

/* Constant labels of every series, as name/value pairs ending with NULL:
 * {"group", "sales", "sink", "postgres", NULL}. Call once, before the
 * endpoint starts; values are copied. */
void cdc_metrics_set_labels(const char *const *pairs);

/* Families. name is the full metric name (tributary_..._total for a
 * counter), label the name of the series' own label or NULL. A histogram
 * takes its upper bounds in increasing order (+Inf is implied); they are
 * copied. Returns NULL, with an error logged, for an invalid name, label
 * or bounds, or a name registered already with another type, label or
 * bounds (a mistake in the program: the metric is left out, and updates
 * of NULL do nothing). A family without a label of its own has its one
 * series from the start, rendered as 0 until updated. */
struct cdc_metric *cdc_metric_counter(const char *name, const char *help,
                                      const char *label);
struct cdc_metric *cdc_metric_gauge(const char *name, const char *help,
                                    const char *label);
struct cdc_metric *cdc_metric_histogram(const char *name, const char *help,
                                        const char *label, const double *bounds,
                                        size_t nbounds);

/* The series of a family for a label value (NULL or ignored when the
 * family has no label of its own; NULL means "" otherwise); created at
 * first use, valid until cdc_metrics_reset. NULL when m is NULL, or when
 * the family holds 10000 series already (a warning is logged, at most once
 * a minute): label values come from table names, and their number must
 * stay bounded. */
struct cdc_metric_series *cdc_metric_series(struct cdc_metric *m,
                                            const char *value);

/* Counter: adds n. Gauge: sets or adds (may be negative; the _add forms
 * taking n add it to a gauge too). Histogram: records one observation. A
 * call that does not fit the family's type (set on a counter, observe on a
 * gauge) does nothing. */
void cdc_metric_add(struct cdc_metric *m, const char *value, uint64_t n);
void cdc_metric_set(struct cdc_metric *m, const char *value, double v);
void cdc_metric_observe(struct cdc_metric *m, const char *value, double v);
void cdc_metric_series_add(struct cdc_metric_series *s, uint64_t n);
void cdc_metric_series_set(struct cdc_metric_series *s, double v);
void cdc_metric_series_gauge_add(struct cdc_metric_series *s, double v);
void cdc_metric_series_observe(struct cdc_metric_series *s, double v);

/* A counter's current value (tests, progress lines); 0 if absent, or if
 * m is not a counter. Never creates the series. */
uint64_t cdc_metric_counter_value(struct cdc_metric *m, const char *value);

/* Appends every family in the Prometheus text format (version 0.0.4),
 * families in registration order, series in creation order, then the
 * gauge tributary_health_failing_seconds{part} of every part ever
 * reported (0 while it works). */
void cdc_metrics_render(struct cdc_buf *out);

/* Health. part names a part of the process ("source", "nats", "sink");
 * ok false starts (or continues) its failing spell, with detail (no
 * secrets; copied, made one line and cut to 512 bytes; may be NULL) saying
 * why; ok true ends it. detail is ignored when ok. */
void cdc_health_report(const char *part, bool ok, const char *detail);
/* Whether no part has been failing longer than threshold_ms at now_ms
 * (cdc_now_ms clock); appends one line per part, in the order parts were
 * first reported, to text when not NULL: "<part> ok" or "<part> failing
 * for <s> s: <detail>" (seconds with one decimal; no ": <detail>" when
 * the detail is empty). */
bool cdc_health_check(int64_t now_ms, int64_t threshold_ms,
                      struct cdc_buf *text);

/* Parses --metrics-addr: "port", ":port", "host:port" or "[v6]:port"
 * (host defaults to 127.0.0.1, also for ":port"; the port is 0..65535,
 * digits only). host gets the host without brackets. CDC_ECONFIG with a
 * message naming the value when it is not one of those (or the host does
 * not fit in hostsz); host and port are then untouched. */
int cdc_metrics_parse_addr(const char *addr, char *host, size_t hostsz,
                           int *port, struct cdc_err *err);

/* Starts serving /metrics and /health on addr (see above) from a thread of
 * its own; port 0 picks a free port. Logs the URL. /health answers 200
 * ("ok" and the lines of cdc_health_check) or 503 (the lines) when a part
 * has been failing longer than health_threshold_ms. CDC_ECONFIG for a bad
 * or unknown address, CDC_EIO when it cannot be bound (in use) or the name
 * server does not answer (retriable), CDC_ESTATE when serving already. */
int cdc_metrics_serve(const char *addr, int64_t health_threshold_ms,
                      struct cdc_err *err);
/* The port being served, 0 when not serving. */
int cdc_metrics_port(void);
/* Stops serving (NULL-safe to call when not serving). */
void cdc_metrics_stop(void);
/* Stops serving and forgets every family, series, label and health part
 * (tests; the end of main). */
void cdc_metrics_reset(void);

#endif

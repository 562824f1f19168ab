/*
 * metrics.c: the process's one registry of metric families, the health of
 * its parts, the Prometheus text rendering of both, and the HTTP endpoint
 * (libmicrohttpd, the only file that sees its types) that serves them.
 *
 * Invariants: families, series, labels and health parts are only created
 * or freed under reg.lock, and live until cdc_metrics_reset; counter and
 * gauge values are atomics that updates touch without that lock; a
 * histogram's buckets, sum and count change together under the series'
 * own lock, so a scrape never sees a count that its buckets do not add up
 * to. The lock order is reg.lock, then a series' lock.
 *
 * It does not push metrics anywhere, keep history or compute rates: a
 * scraper does that.
 */
#include "common/common.h"

#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* Series of one family, at most. Label values come from table names; a
 * source that creates tables by the thousand (one per tenant or per day)
 * must not grow the registry and every scrape without bound. Updates of
 * the series past the cap are dropped, with a warning. */
#define MAX_SERIES 10000

/* A health detail is an error message: one line, and no longer than what
 * fits on a terminal line or two. */
#define MAX_DETAIL 512

/* The endpoint serves a scraper and a supervisor's probe: a few
 * connections are plenty, and more only cost threads and memory. */
#define HTTP_MAX_CONNECTIONS 16u
/* Seconds a connection may stay idle: a scrape takes milliseconds, and a
 * client that stalls must not hold one of the few connections. */
#define HTTP_IDLE_TIMEOUT_S 5u

#define HEALTH_FAMILY "tributary_health_failing_seconds"

enum kind {
    KIND_COUNTER,
    KIND_GAUGE,
    KIND_HISTOGRAM,
};

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

struct cdc_metric_series {
    struct cdc_metric *m;
    char *value; /* own label value; NULL when the family has none */
    struct cdc_metric_series *next; /* creation order */
    /* counter: the count; gauge: the bits of a double */
    _Atomic uint64_t bits;
    /* histogram only: buckets[i] counts observations in
     * (bounds[i-1], bounds[i]], buckets[nbounds] those above the last */
    pthread_mutex_t lock;
    uint64_t *buckets;
    double sum;
    uint64_t count;
};

struct cdc_metric {
    enum kind kind;
    char *name;
    char *help;
    char *label; /* own label name, or NULL */
    double *bounds;
    size_t nbounds;
    struct cdc_metric_series *first;
    struct cdc_metric_series *last;
    size_t nseries;
    /* open addressing on the label value, a power of two in size */
    struct cdc_metric_series **slots;
    size_t nslots;
    struct cdc_metric *next; /* registration order */
};

struct health_part {
    char *name;
    bool failing;
    int64_t since_ms;
    char *detail; /* while failing */
    struct health_part *next;
};

static struct {
    pthread_mutex_t lock;
    struct cdc_metric *first;
    struct cdc_metric *last;
    char **labels; /* name, value, name, value, ... */
    size_t nlabels;
    struct health_part *parts;
    struct health_part *parts_last;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
    struct MHD_Daemon *daemon;
    _Atomic int port;
    int64_t health_threshold_ms;
} http;

/* ==== Small helpers ==== */

static uint64_t double_bits(double v)
{
    uint64_t u;
    _Static_assert(sizeof(u) == sizeof(v), "double is not 64 bits");
    memcpy(&u, &v, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; no ':' in label names. */
static bool valid_name(const char *s, bool colon)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || (colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* The shortest text that reads back as exactly v, as Prometheus reads
 * it: integers without an exponent, NaN and +Inf/-Inf by name. */
static void format_double(double v, char *out, size_t outsz)
{
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outsz, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* below 2^53 every integer is exact and %.0f prints it in full */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, outsz, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outsz, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void append_double(struct cdc_buf *out, double v)
{
    char num[40];
    format_double(v, num, sizeof(num));
    cdc_buf_append_str(out, num);
}

/* Help text: backslash and line feed escaped. */
static void append_help(struct cdc_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            cdc_buf_append_str(out, "\\\\");
        else if (*s == '\n')
            cdc_buf_append_str(out, "\\n");
        else
            cdc_buf_append_char(out, *s);
    }
}

/* A label value: backslash, double quote and line feed escaped. */
static void append_label_value(struct cdc_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            cdc_buf_append_str(out, "\\\\");
        else if (*s == '"')
            cdc_buf_append_str(out, "\\\"");
        else if (*s == '\n')
            cdc_buf_append_str(out, "\\n");
        else
            cdc_buf_append_char(out, *s);
    }
}

static void append_label(struct cdc_buf *out, bool *first, const char *name,
                         const char *value)
{
    cdc_buf_append_char(out, *first ? '{' : ',');
    *first = false;
    cdc_buf_append_str(out, name);
    cdc_buf_append_str(out, "=\"");
    append_label_value(out, value);
    cdc_buf_append_char(out, '"');
}

/* "{const labels,own=\"value\",le=\"le\"}", or nothing without labels.
 * Called under reg.lock. */
static void append_labels(struct cdc_buf *out, const char *own,
                          const char *value, const char *le)
{
    bool first = true;
    for (size_t i = 0; i + 1 < reg.nlabels; i += 2)
        append_label(out, &first, reg.labels[i], reg.labels[i + 1]);
    if (own != NULL)
        append_label(out, &first, own, value ? value : "");
    if (le != NULL)
        append_label(out, &first, "le", le);
    if (!first)
        cdc_buf_append_char(out, '}');
}

/* ==== Families and series ==== */

static uint64_t hash_str(const char *s)
{
    /* FNV-1a */
    uint64_t h = 14695981039346656037u;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

static void slots_put(struct cdc_metric_series **slots, size_t nslots,
                      struct cdc_metric_series *s)
{
    size_t i = (size_t)hash_str(s->value) & (nslots - 1);
    while (slots[i] != NULL)
        i = (i + 1) & (nslots - 1);
    slots[i] = s;
}

/* Keeps the table at most three quarters full, so probes stay short. */
static void slots_grow(struct cdc_metric *m)
{
    if (m->nslots != 0 && (m->nseries + 1) * 4 <= m->nslots * 3)
        return;
    size_t nslots = m->nslots ? m->nslots * 2 : 16;
    struct cdc_metric_series **slots = cdc_xcalloc(nslots, sizeof(*slots));
    for (size_t i = 0; i < m->nslots; i++) {
        if (m->slots[i] != NULL)
            slots_put(slots, nslots, m->slots[i]);
    }
    cdc_free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
}

static struct cdc_metric_series *slots_find(const struct cdc_metric *m,
                                            const char *value)
{
    if (m->nslots == 0)
        return NULL;
    size_t i = (size_t)hash_str(value) & (m->nslots - 1);
    while (m->slots[i] != NULL) {
        if (strcmp(m->slots[i]->value, value) == 0)
            return m->slots[i];
        i = (i + 1) & (m->nslots - 1);
    }
    return NULL;
}

/* Under reg.lock. value is NULL for a family without a label. */
static struct cdc_metric_series *series_new(struct cdc_metric *m,
                                            const char *value)
{
    struct cdc_metric_series *s = cdc_xcalloc(1, sizeof(*s));
    s->m = m;
    atomic_init(&s->bits, m->kind == KIND_GAUGE ? double_bits(0.0) : 0);
    if (m->kind == KIND_HISTOGRAM) {
        pthread_mutex_init(&s->lock, NULL);
        s->buckets = cdc_xcalloc(m->nbounds + 1, sizeof(*s->buckets));
    }
    if (value != NULL) {
        s->value = cdc_xstrdup(value);
        slots_grow(m);
        slots_put(m->slots, m->nslots, s);
    }
    if (m->last != NULL)
        m->last->next = s;
    else
        m->first = s;
    m->last = s;
    m->nseries++;
    return s;
}

static void series_free(struct cdc_metric_series *s)
{
    if (s == NULL)
        return;
    if (s->m->kind == KIND_HISTOGRAM)
        pthread_mutex_destroy(&s->lock);
    cdc_free(s->buckets);
    cdc_free(s->value);
    cdc_free(s);
}

static void family_free(struct cdc_metric *m)
{
    if (m == NULL)
        return;
    struct cdc_metric_series *s = m->first;
    while (s != NULL) {
        struct cdc_metric_series *next = s->next;
        series_free(s);
        s = next;
    }
    cdc_free(m->slots);
    cdc_free(m->bounds);
    cdc_free(m->label);
    cdc_free(m->help);
    cdc_free(m->name);
    cdc_free(m);
}

static bool same_family(const struct cdc_metric *m, enum kind kind,
                        const char *label, const double *bounds, size_t nbounds)
{
    if (m->kind != kind)
        return false;
    if ((m->label == NULL) != (label == NULL) ||
        (label != NULL && strcmp(m->label, label) != 0))
        return false;
    if (kind != KIND_HISTOGRAM)
        return true;
    return m->nbounds == nbounds &&
           (nbounds == 0 ||
            memcmp(m->bounds, bounds, nbounds * sizeof(*bounds)) == 0);
}

static bool valid_bounds(const double *bounds, size_t nbounds)
{
    if (nbounds > 0 && bounds == NULL)
        return false;
    for (size_t i = 0; i < nbounds; i++) {
        if (isnan(bounds[i]) || isinf(bounds[i]))
            return false;
        if (i > 0 && !(bounds[i] > bounds[i - 1]))
            return false;
    }
    return true;
}

static struct cdc_metric *family_register(enum kind kind, const char *name,
                                          const char *help, const char *label,
                                          const double *bounds, size_t nbounds)
{
    /* a bad definition is a mistake in the program, found the first
     * time it runs; the metric is left out rather than the process
     * stopped, and every update of a NULL family does nothing */
    if (!valid_name(name, true) ||
        (label != NULL && !valid_name(label, false)) ||
        (kind == KIND_HISTOGRAM && !valid_bounds(bounds, nbounds))) {
        cdc_log(CDC_LOG_ERROR, "metrics",
                "cannot register metric \"%s\": invalid name, label or "
                "bucket bounds",
                name ? name : "");
        return NULL;
    }
    struct cdc_metric *m = NULL;
    pthread_mutex_lock(&reg.lock);
    for (m = reg.first; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0)
            break;
    }
    if (m != NULL) {
        if (!same_family(m, kind, label, bounds, nbounds)) {
            cdc_log(CDC_LOG_ERROR, "metrics",
                    "cannot register metric \"%s\" as a %s: it is "
                    "registered already with another type, label or buckets",
                    name, kind_names[kind]);
            m = NULL;
        }
        goto out;
    }
    m = cdc_xcalloc(1, sizeof(*m));
    m->kind = kind;
    m->name = cdc_xstrdup(name);
    m->help = cdc_xstrdup(help ? help : "");
    m->label = label ? cdc_xstrdup(label) : NULL;
    if (kind == KIND_HISTOGRAM && nbounds > 0) {
        m->bounds = cdc_xcalloc(nbounds, sizeof(*m->bounds));
        memcpy(m->bounds, bounds, nbounds * sizeof(*bounds));
        m->nbounds = nbounds;
    }
    /* the one series of an unlabelled family exists from the start, so a
     * scrape shows it (as 0) before anything happened */
    if (label == NULL)
        series_new(m, NULL);
    if (reg.last != NULL)
        reg.last->next = m;
    else
        reg.first = m;
    reg.last = m;
out:
    pthread_mutex_unlock(&reg.lock);
    return m;
}

struct cdc_metric *cdc_metric_counter(const char *name, const char *help,
                                      const char *label)
{
    return family_register(KIND_COUNTER, name, help, label, NULL, 0);
}

struct cdc_metric *cdc_metric_gauge(const char *name, const char *help,
                                    const char *label)
{
    return family_register(KIND_GAUGE, name, help, label, NULL, 0);
}

struct cdc_metric *cdc_metric_histogram(const char *name, const char *help,
                                        const char *label, const double *bounds,
                                        size_t nbounds)
{
    return family_register(KIND_HISTOGRAM, name, help, label, bounds, nbounds);
}

struct cdc_metric_series *cdc_metric_series(struct cdc_metric *m,
                                            const char *value)
{
    if (m == NULL)
        return NULL;
    /* created with the family and never replaced: no lock needed */
    if (m->label == NULL)
        return m->first;
    if (value == NULL)
        value = "";
    struct cdc_metric_series *s = NULL;
    bool full = false;
    pthread_mutex_lock(&reg.lock);
    s = slots_find(m, value);
    if (s == NULL && m->nseries < MAX_SERIES)
        s = series_new(m, value);
    else if (s == NULL)
        full = true;
    pthread_mutex_unlock(&reg.lock);
    if (full)
        cdc_log_ratelimited(60000, CDC_LOG_WARN, "metrics",
                            "metric \"%s\" has %d series already, the most "
                            "it keeps: %s=\"%s\" is not counted",
                            m->name, MAX_SERIES, m->label, value);
    return s;
}

/* ==== Updates ==== */

void cdc_metric_series_add(struct cdc_metric_series *s, uint64_t n)
{
    if (s == NULL)
        return;
    if (s->m->kind == KIND_COUNTER)
        atomic_fetch_add_explicit(&s->bits, n, memory_order_relaxed);
    else if (s->m->kind == KIND_GAUGE)
        cdc_metric_series_gauge_add(s, (double)n);
}

void cdc_metric_series_set(struct cdc_metric_series *s, double v)
{
    if (s == NULL || s->m->kind != KIND_GAUGE)
        return;
    atomic_store_explicit(&s->bits, double_bits(v), memory_order_relaxed);
}

void cdc_metric_series_gauge_add(struct cdc_metric_series *s, double v)
{
    if (s == NULL || s->m->kind != KIND_GAUGE)
        return;
    uint64_t old = atomic_load_explicit(&s->bits, memory_order_relaxed);
    /* on failure old is reloaded with the value that won */
    while (!atomic_compare_exchange_weak_explicit(
        &s->bits, &old, double_bits(bits_double(old) + v), memory_order_relaxed,
        memory_order_relaxed))
        continue;
}

void cdc_metric_series_observe(struct cdc_metric_series *s, double v)
{
    if (s == NULL || s->m->kind != KIND_HISTOGRAM)
        return;
    const struct cdc_metric *m = s->m;
    /* the first bound >= v; NaN compares false everywhere and so lands
     * in +Inf, as in Prometheus' own clients */
    size_t lo = 0;
    size_t hi = m->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= m->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(v))
        lo = m->nbounds;
    pthread_mutex_lock(&s->lock);
    s->buckets[lo]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&s->lock);
}

void cdc_metric_add(struct cdc_metric *m, const char *value, uint64_t n)
{
    cdc_metric_series_add(cdc_metric_series(m, value), n);
}

void cdc_metric_set(struct cdc_metric *m, const char *value, double v)
{
    cdc_metric_series_set(cdc_metric_series(m, value), v);
}

void cdc_metric_observe(struct cdc_metric *m, const char *value, double v)
{
    cdc_metric_series_observe(cdc_metric_series(m, value), v);
}

uint64_t cdc_metric_counter_value(struct cdc_metric *m, const char *value)
{
    if (m == NULL || m->kind != KIND_COUNTER)
        return 0;
    if (m->label == NULL)
        return atomic_load_explicit(&m->first->bits, memory_order_relaxed);
    /* looked up only: asking must not create the series */
    pthread_mutex_lock(&reg.lock);
    const struct cdc_metric_series *s = slots_find(m, value ? value : "");
    uint64_t n = s ? atomic_load_explicit(&s->bits, memory_order_relaxed) : 0;
    pthread_mutex_unlock(&reg.lock);
    return n;
}

void cdc_metrics_set_labels(const char *const *pairs)
{
    size_t n = 0;
    while (pairs != NULL && pairs[n] != NULL && pairs[n + 1] != NULL)
        n += 2;
    char **labels = n ? cdc_xcalloc(n, sizeof(*labels)) : NULL;
    size_t kept = 0;
    for (size_t i = 0; i < n; i += 2) {
        if (!valid_name(pairs[i], false)) {
            cdc_log(CDC_LOG_ERROR, "metrics",
                    "cannot use \"%s\" as a metric label name", pairs[i]);
            continue;
        }
        labels[kept++] = cdc_xstrdup(pairs[i]);
        labels[kept++] = cdc_xstrdup(pairs[i + 1]);
    }
    pthread_mutex_lock(&reg.lock);
    char **old = reg.labels;
    size_t nold = reg.nlabels;
    reg.labels = labels;
    reg.nlabels = kept;
    pthread_mutex_unlock(&reg.lock);
    for (size_t i = 0; i < nold; i++)
        cdc_free(old[i]);
    cdc_free(old);
}

/* ==== Health ==== */

/* Under reg.lock; NULL when absent. */
static struct health_part *part_find(const char *name)
{
    for (struct health_part *p = reg.parts; p != NULL; p = p->next) {
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* A copy of detail on one line, cut to MAX_DETAIL bytes without splitting
 * a UTF-8 sequence. */
static char *detail_copy(const char *detail)
{
    char *d = cdc_xstrdup(detail ? detail : "");
    cdc_one_line(d);
    size_t len = strlen(d);
    if (len > MAX_DETAIL) {
        len = MAX_DETAIL;
        while (len > 0 && ((unsigned char)d[len] & 0xC0) == 0x80)
            len--;
        d[len] = '\0';
    }
    return d;
}

void cdc_health_report(const char *part, bool ok, const char *detail)
{
    if (part == NULL)
        return;
    /* built outside the lock; ok reports, the usual case, need nothing */
    char *copy = ok ? NULL : detail_copy(detail);
    char *drop = NULL;
    int64_t now = cdc_now_ms();
    pthread_mutex_lock(&reg.lock);
    struct health_part *p = part_find(part);
    if (p == NULL) {
        p = cdc_xcalloc(1, sizeof(*p));
        p->name = cdc_xstrdup(part);
        if (reg.parts_last != NULL)
            reg.parts_last->next = p;
        else
            reg.parts = p;
        reg.parts_last = p;
    }
    if (ok) {
        p->failing = false;
        drop = p->detail;
        p->detail = NULL;
    } else {
        if (!p->failing)
            p->since_ms = now;
        p->failing = true;
        drop = p->detail;
        p->detail = copy;
    }
    pthread_mutex_unlock(&reg.lock);
    cdc_free(drop);
}

static int64_t failing_ms(const struct health_part *p, int64_t now_ms)
{
    if (!p->failing || now_ms < p->since_ms)
        return 0;
    return now_ms - p->since_ms;
}

bool cdc_health_check(int64_t now_ms, int64_t threshold_ms,
                      struct cdc_buf *text)
{
    bool ok = true;
    pthread_mutex_lock(&reg.lock);
    for (const struct health_part *p = reg.parts; p != NULL; p = p->next) {
        int64_t ms = failing_ms(p, now_ms);
        if (p->failing && ms > threshold_ms)
            ok = false;
        if (text == NULL)
            continue;
        if (!p->failing) {
            cdc_buf_printf(text, "%s ok\n", p->name);
            continue;
        }
        cdc_buf_printf(text, "%s failing for %.1f s", p->name,
                       (double)ms / 1000.0);
        if (p->detail != NULL && p->detail[0] != '\0')
            cdc_buf_printf(text, ": %s", p->detail);
        cdc_buf_append_char(text, '\n');
    }
    pthread_mutex_unlock(&reg.lock);
    return ok;
}

/* ==== Rendering ==== */

static void render_header(struct cdc_buf *out, const char *name,
                          const char *help, enum kind kind)
{
    cdc_buf_printf(out, "# HELP %s ", name);
    append_help(out, help);
    cdc_buf_printf(out, "\n# TYPE %s %s\n", name, kind_names[kind]);
}

/* Under reg.lock. */
static void render_histogram(struct cdc_buf *out, const struct cdc_metric *m,
                             struct cdc_metric_series *s)
{
    char le[40];
    uint64_t cumulative = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i <= m->nbounds; i++) {
        cumulative += s->buckets[i];
        if (i < m->nbounds)
            format_double(m->bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        cdc_buf_printf(out, "%s_bucket", m->name);
        append_labels(out, m->label, s->value, le);
        cdc_buf_append_char(out, ' ');
        cdc_buf_append_uint(out, cumulative);
        cdc_buf_append_char(out, '\n');
    }
    double sum = s->sum;
    uint64_t count = s->count;
    pthread_mutex_unlock(&s->lock);
    cdc_buf_printf(out, "%s_sum", m->name);
    append_labels(out, m->label, s->value, NULL);
    cdc_buf_append_char(out, ' ');
    append_double(out, sum);
    cdc_buf_printf(out, "\n%s_count", m->name);
    append_labels(out, m->label, s->value, NULL);
    cdc_buf_append_char(out, ' ');
    cdc_buf_append_uint(out, count);
    cdc_buf_append_char(out, '\n');
}

/* Under reg.lock. */
static void render_family(struct cdc_buf *out, const struct cdc_metric *m)
{
    render_header(out, m->name, m->help, m->kind);
    for (struct cdc_metric_series *s = m->first; s != NULL; s = s->next) {
        if (m->kind == KIND_HISTOGRAM) {
            render_histogram(out, m, s);
            continue;
        }
        cdc_buf_append_str(out, m->name);
        append_labels(out, m->label, s->value, NULL);
        cdc_buf_append_char(out, ' ');
        uint64_t bits = atomic_load_explicit(&s->bits, memory_order_relaxed);
        if (m->kind == KIND_COUNTER)
            cdc_buf_append_uint(out, bits);
        else
            append_double(out, bits_double(bits));
        cdc_buf_append_char(out, '\n');
    }
}

/* Under reg.lock. */
static void render_health(struct cdc_buf *out, int64_t now_ms)
{
    render_header(out, HEALTH_FAMILY,
                  "seconds each part of the process has been failing, 0 "
                  "while it works",
                  KIND_GAUGE);
    for (const struct health_part *p = reg.parts; p != NULL; p = p->next) {
        cdc_buf_append_str(out, HEALTH_FAMILY);
        append_labels(out, "part", p->name, NULL);
        cdc_buf_append_char(out, ' ');
        append_double(out, (double)failing_ms(p, now_ms) / 1000.0);
        cdc_buf_append_char(out, '\n');
    }
}

void cdc_metrics_render(struct cdc_buf *out)
{
    int64_t now = cdc_now_ms();
    pthread_mutex_lock(&reg.lock);
    for (const struct cdc_metric *m = reg.first; m != NULL; m = m->next)
        render_family(out, m);
    render_health(out, now);
    pthread_mutex_unlock(&reg.lock);
}

/* ==== Listen address ==== */

static int addr_invalid(const char *addr, const char *why, struct cdc_err *err)
{
    return cdc_err_set(err, CDC_ECONFIG, 0, "invalid --metrics-addr \"%s\": %s",
                       addr, why);
}

int cdc_metrics_parse_addr(const char *addr, char *host, size_t hostsz,
                           int *port, struct cdc_err *err)
{
    if (addr == NULL)
        addr = "";
    const char *h = NULL; /* host, h_len bytes; NULL: the default */
    size_t h_len = 0;
    const char *p = addr; /* the port */
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL)
            return addr_invalid(addr, "missing \"]\" after the IPv6 address",
                                err);
        if (close == addr + 1 || close[1] != ':')
            return addr_invalid(addr, "expected [host:]port", err);
        h = addr + 1;
        h_len = (size_t)(close - h);
        p = close + 2;
    } else {
        const char *colon = strchr(addr, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return addr_invalid(addr,
                                "expected [host:]port (an IPv6 address goes "
                                "in brackets: [::1]:9090)",
                                err);
        if (colon != NULL) {
            h = colon == addr ? NULL : addr;
            h_len = (size_t)(colon - addr);
            p = colon + 1;
        }
    }
    /* digits only: cdc_parse_int would also take signs and spaces */
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || p[digits] != '\0')
        return addr_invalid(addr, "expected [host:]port", err);
    int64_t v = 0;
    if (digits > 5 || cdc_parse_int(p, 0, 65535, &v) != CDC_OK)
        return addr_invalid(addr, "the port must be 0 to 65535", err);
    if (h == NULL) {
        h = "127.0.0.1";
        h_len = strlen(h);
    }
    if (h_len >= hostsz)
        return addr_invalid(addr, "the host name is too long", err);
    memcpy(host, h, h_len);
    host[h_len] = '\0';
    *port = (int)v;
    return CDC_OK;
}

/* ==== HTTP endpoint ==== */

/* libmicrohttpd's own messages. The last one is kept for the error of a
 * daemon that does not start (it says why bind failed); the others are
 * about clients and matter only when debugging. */
static pthread_mutex_t mhd_msg_lock = PTHREAD_MUTEX_INITIALIZER;
static char mhd_msg[CDC_ERR_MSG_MAX];

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[CDC_ERR_MSG_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    cdc_one_line(line);
    pthread_mutex_lock(&mhd_msg_lock);
    memcpy(mhd_msg, line, sizeof(mhd_msg));
    pthread_mutex_unlock(&mhd_msg_lock);
    cdc_log(CDC_LOG_DEBUG, "metrics", "http: %s", line);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status,
                               const char *type, const char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result rc = MHD_add_response_header(resp, "Content-Type", type);
    if (rc == MHD_YES && status == MHD_HTTP_METHOD_NOT_ALLOWED)
        rc = MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (rc == MHD_YES)
        rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    static const char plain[] = "text/plain; charset=utf-8";
    static int seen; /* marks a request whose headers were handled */
    (void)cls;
    (void)version;
    (void)upload_data;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get) {
        /* answered at once: the body, if any, is never read */
        static const char msg[] = "method not allowed\n";
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, plain, msg,
                       sizeof(msg) - 1);
    }
    /* the first call only has the headers; the answer comes once the
     * request (and any body a client sent with a GET) is read */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct cdc_buf body;
    cdc_buf_init(&body, 0);
    unsigned int status = MHD_HTTP_OK;
    const char *type = plain;
    if (strcmp(url, "/metrics") == 0) {
        cdc_metrics_render(&body);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/health") == 0) {
        struct cdc_buf lines;
        cdc_buf_init(&lines, 0);
        bool ok =
            cdc_health_check(cdc_now_ms(), http.health_threshold_ms, &lines);
        if (ok)
            cdc_buf_append_str(&body, "ok\n");
        else
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
        cdc_buf_append(&body, lines.data, lines.len);
        cdc_buf_release(&lines);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        cdc_buf_append_str(&body, "not found: try /metrics or /health\n");
    }
    enum MHD_Result rc = respond(conn, status, type, body.data, body.len);
    cdc_buf_release(&body);
    return rc;
}

/* Starts the daemon on one resolved address; NULL when that fails. */
static struct MHD_Daemon *daemon_start(const struct addrinfo *ai, int port)
{
    /* MHD_USE_AUTO picks epoll or poll: select() cannot watch a socket
     * numbered over FD_SETSIZE, which a busy process reaches easily */
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    /* dual stack so that "[::]:port" takes IPv4 clients as well; it
     * changes nothing for one particular IPv6 address */
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_DUAL_STACK;
    pthread_mutex_lock(&mhd_msg_lock);
    mhd_msg[0] = '\0';
    pthread_mutex_unlock(&mhd_msg_lock);
    /* The address and port come from ai; the port argument only names
     * the port in libmicrohttpd's messages ("Failed to bind to port ...").
     * No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, and a
     * second process on the same port must fail, not share it. */
    return MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, (MHD_LogCallback)mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
}

int cdc_metrics_serve(const char *addr, int64_t health_threshold_ms,
                      struct cdc_err *err)
{
    char host[256];
    char service[16];
    int port = 0;
    struct addrinfo *res = NULL;
    struct MHD_Daemon *d = NULL;
    int rc = cdc_metrics_parse_addr(addr, host, sizeof(host), &port, err);
    if (rc != CDC_OK)
        goto out;
    if (http.daemon != NULL) {
        rc = cdc_err_set(err, CDC_ESTATE, 0,
                         "cannot serve metrics on \"%s\": already serving on "
                         "port %d",
                         addr, atomic_load(&http.port));
        goto out;
    }
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0) {
        /* a name server that does not answer may answer later; a name
         * that does not exist is a mistake in the configuration */
        rc = cdc_err_set(err, gai == EAI_AGAIN ? CDC_EIO : CDC_ECONFIG,
                         gai == EAI_AGAIN ? CDC_ERR_RETRIABLE : 0,
                         "could not resolve metrics address \"%s\": %s", host,
                         gai_strerror(gai));
        goto out;
    }
    http.health_threshold_ms = health_threshold_ms;
    /* a name may give several addresses (::1 and 127.0.0.1 for
     * localhost): the first one that can be bound is served */
    for (const struct addrinfo *ai = res; ai != NULL && d == NULL;
         ai = ai->ai_next) {
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            d = daemon_start(ai, port);
    }
    if (d == NULL) {
        char why[CDC_ERR_MSG_MAX];
        pthread_mutex_lock(&mhd_msg_lock);
        snprintf(why, sizeof(why), "%s",
                 mhd_msg[0] ? mhd_msg : "address in use or not available");
        pthread_mutex_unlock(&mhd_msg_lock);
        rc = cdc_err_set(err, CDC_EIO, 0,
                         "could not serve metrics on \"%s\": %s", addr, why);
        goto out;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info != NULL && info->port != 0)
        port = info->port;
    http.daemon = d;
    atomic_store(&http.port, port);
    cdc_log(CDC_LOG_INFO, "metrics",
            "serving /metrics and /health on http://%s%s%s:%d",
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
            port);
    rc = CDC_OK;
out:
    if (res != NULL)
        freeaddrinfo(res);
    return rc;
}

int cdc_metrics_port(void)
{
    return atomic_load(&http.port);
}

void cdc_metrics_stop(void)
{
    if (http.daemon == NULL)
        return;
    /* waits for the daemon's thread, so no request runs after this */
    MHD_stop_daemon(http.daemon);
    http.daemon = NULL;
    atomic_store(&http.port, 0);
}

void cdc_metrics_reset(void)
{
    cdc_metrics_stop();
    pthread_mutex_lock(&reg.lock);
    struct cdc_metric *m = reg.first;
    struct health_part *p = reg.parts;
    char **labels = reg.labels;
    size_t nlabels = reg.nlabels;
    reg.first = NULL;
    reg.last = NULL;
    reg.parts = NULL;
    reg.parts_last = NULL;
    reg.labels = NULL;
    reg.nlabels = 0;
    pthread_mutex_unlock(&reg.lock);
    while (m != NULL) {
        struct cdc_metric *next = m->next;
        family_free(m);
        m = next;
    }
    while (p != NULL) {
        struct health_part *next = p->next;
        cdc_free(p->detail);
        cdc_free(p->name);
        cdc_free(p);
        p = next;
    }
    for (size_t i = 0; i < nlabels; i++)
        cdc_free(labels[i]);
    cdc_free(labels);
}

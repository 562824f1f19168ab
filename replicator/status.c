/*
 * status.c: `replicator status --group G`. It reads the configuration as
 * the replicator does, connects to NATS, asks the source for its rows
 * (source_ops.status), then adds what JetStream holds for the group: the
 * position the replicator saved in the state bucket, the stream, every
 * consumer of it and the dead letters. It only reads: a missing slot,
 * stream or bucket is a row saying so, and the state bucket is looked up
 * before it is opened, since opening creates it. Everything is gathered
 * before anything is printed, so a failure is one line on stderr and no
 * half table. Rows are "label\tvalue" lines laid out in columns at the
 * end.
 */
#include "replicator/status.h"
#include "common/common.h"
#include "replicator/conf.h"
#include "replicator/source.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STATUS_USAGE                                                           \
    "usage: replicator status --group NAME [--host H] [--port P] "             \
    "[--dbname DB]\n"                                                          \
    "                         [--user U] [--nats-url URL] [options]\n"         \
    "Prints the state of one group: the source's replication slot and "        \
    "publication,\n"                                                           \
    "the saved position, the stream, its consumers and its dead letters.\n"

enum status_exit { STATUS_OK = 0, STATUS_RUNTIME = 1, STATUS_CONFIG = 2 };

/* Space between two columns of the table, and before each row. */
#define COLUMN_GAP 2
#define ROW_INDENT 2

/* ==== Rows ==== */

void replicator_status_cell(struct cdc_buf *out, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        bool space = *p == '\t' || *p == '\n' || *p == '\r';
        cdc_buf_append_char(out, space ? ' ' : *p);
    }
}

void replicator_status_title(struct cdc_buf *out, const char *s)
{
    replicator_status_cell(out, s);
    cdc_buf_append_char(out, '\n');
}

void replicator_status_row(struct cdc_buf *out, const char *label,
                           const char *fmt, ...)
{
    char val[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    replicator_status_cell(out, label);
    cdc_buf_append_char(out, '\t');
    replicator_status_cell(out, val);
    cdc_buf_append_char(out, '\n');
}

/* "2026-11-21T05:44:33Z (12s ago)" */
static void time_text(int64_t us, char *out, size_t outsz)
{
    char ts[40];
    cdc_time_format_us(us, ts, sizeof(ts));
    int64_t s = (cdc_wall_us() - us) / 1000000;
    if (s < 0)
        s = 0;
    const char *unit = "s";
    if (s >= 2 * 86400) {
        s /= 86400;
        unit = "d";
    } else if (s >= 2 * 3600) {
        s /= 3600;
        unit = "h";
    } else if (s >= 2 * 60) {
        s /= 60;
        unit = "m";
    }
    /* whole seconds are enough for people */
    snprintf(out, outsz, "%.19sZ (%lld%s ago)", ts, (long long)s, unit);
}

/* ==== Layout ==== */

struct line {
    const char *p;
    size_t len;
    size_t ncells; /* 0: a section title */
};

/* Width of cell c (0-based) of a line, and where it starts. */
static size_t cell_at(const struct line *l, size_t c, const char **start)
{
    const char *p = l->p;
    const char *end = l->p + l->len;
    for (size_t i = 0; i < c; i++)
        p = (const char *)memchr(p, '\t', (size_t)(end - p)) + 1;
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    *start = p;
    return (size_t)((tab != NULL ? tab : end) - p);
}

/*
 * Prints the rows of text: a line without a tab is a section title, with
 * a blank line before it; the other lines are indented, and lines with
 * the same number of cells share their columns' widths across the whole
 * report, so every "label value" lines up. The last cell is not padded.
 */
static void render(const char *text, size_t len, FILE *f)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    struct line *lines = cdc_xcalloc(n ? n : 1, sizeof(*lines));
    size_t maxcells = 0;
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        struct line *l = &lines[i];
        l->p = p;
        l->len = (size_t)(nl - p);
        for (size_t k = 0; k < l->len; k++)
            l->ncells += p[k] == '\t';
        if (l->ncells > 0)
            l->ncells++;
        if (l->ncells > maxcells)
            maxcells = l->ncells;
        p = nl + 1;
    }
    /* widths[c * (maxcells + 1) + k]: column k of lines with c cells */
    size_t stride = maxcells + 1;
    size_t *widths = cdc_xcalloc(stride * stride, sizeof(*widths));
    for (size_t i = 0; i < n; i++) {
        const struct line *l = &lines[i];
        for (size_t k = 0; k + 1 < l->ncells; k++) {
            const char *s = NULL;
            size_t w = cell_at(l, k, &s);
            size_t *slot = &widths[l->ncells * stride + k];
            if (w > *slot)
                *slot = w;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct line *l = &lines[i];
        if (l->ncells == 0) {
            fprintf(f, "%s%.*s\n", i > 0 ? "\n" : "", (int)l->len, l->p);
            continue;
        }
        fprintf(f, "%*s", ROW_INDENT, "");
        for (size_t k = 0; k < l->ncells; k++) {
            const char *s = NULL;
            size_t w = cell_at(l, k, &s);
            fwrite(s, 1, w, f);
            if (k + 1 < l->ncells)
                fprintf(f, "%*s",
                        (int)(widths[l->ncells * stride + k] - w + COLUMN_GAP),
                        "");
        }
        fputc('\n', f);
    }
    cdc_free(widths);
    cdc_free(lines);
}

/* ==== JetStream ==== */

/* What the state bucket says of the group's position. */
struct saved {
    char bucket[CDC_NAME_MAX];
    bool bucket_exists;
    bool found;
    char position[SOURCE_POSITION_MAX]; /* "" when it cannot be read */
    char when[64];
};

/* The saved position: the key replicator.position of the state bucket,
 * {"position":"...","time":"..."} as main.c writes it. */
/* Opens the group's state bucket into *kv if it exists, else leaves *kv
 * NULL (status creates nothing). */
static int existing_kv(struct cdc_js *js, const char *bucket,
                       struct cdc_js_kv **kv, struct cdc_err *err)
{
    char kvstream[CDC_NAME_MAX + 8];
    *kv = NULL;
    snprintf(kvstream, sizeof(kvstream), "KV_%s", bucket);
    int rc = cdc_js_stream_info(js, kvstream, NULL, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    return rc == CDC_OK ? cdc_js_kv_open(js, bucket, kv, err) : rc;
}

static int read_saved(struct cdc_js *js, const char *group, struct saved *sv,
                      struct cdc_err *err)
{
    struct cdc_js_kv *kv = NULL;
    struct cdc_buf val;
    memset(sv, 0, sizeof(*sv));
    cdc_buf_init(&val, 4096);
    cdc_name_kv(group, sv->bucket, sizeof(sv->bucket));
    int rc = existing_kv(js, sv->bucket, &kv, err);
    if (rc != CDC_OK || kv == NULL)
        goto out;
    sv->bucket_exists = true;
    rc = cdc_js_kv_get(kv, "replicator.position", &val, NULL, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        rc = CDC_OK;
        goto out;
    }
    if (rc != CDC_OK)
        goto out;
    sv->found = true;
    const char *text = val.data != NULL ? val.data : "";
    const char *pos = strstr(text, "\"position\":\"");
    const char *at = strstr(text, "\"time\":\"");
    if (pos != NULL) {
        pos += strlen("\"position\":\"");
        size_t n = strcspn(pos, "\"");
        if (n < sizeof(sv->position)) {
            memcpy(sv->position, pos, n);
            sv->position[n] = '\0';
        }
    }
    if (at != NULL)
        sscanf(at + strlen("\"time\":\""), "%63[^\"]", sv->when);
out:
    cdc_js_kv_close(kv);
    cdc_buf_release(&val);
    return rc;
}

static void saved_rows(const struct saved *sv, struct cdc_buf *out)
{
    replicator_status_title(out, "replicator");
    if (!sv->bucket_exists) {
        replicator_status_row(out, "state bucket", "%s: does not exist",
                              sv->bucket);
        replicator_status_row(out, "saved position", "none");
        return;
    }
    replicator_status_row(out, "state bucket", "%s", sv->bucket);
    int64_t us = 0;
    char ago[96] = "";
    if (sv->when[0] != '\0' && cdc_time_parse_us(sv->when, &us) == CDC_OK)
        time_text(us, ago, sizeof(ago));
    if (!sv->found)
        replicator_status_row(out, "saved position", "none");
    else if (sv->position[0] == '\0')
        replicator_status_row(out, "saved position", "cannot be read");
    else if (ago[0] != '\0')
        replicator_status_row(out, "saved position", "%s at %s", sv->position,
                              ago);
    else
        replicator_status_row(out, "saved position", "%s", sv->position);
}

/* Who holds the lease on consumer: "host pid N", "(released)",
 * "host pid N (gone)" when its process is known to have ended, "none", or
 * "cannot be read". kv NULL: no state bucket. */
static void lease_text(struct cdc_js_kv *kv, const char *consumer, char *out,
                       size_t outsz)
{
    char key[CDC_NAME_MAX + 16];
    struct cdc_buf val;
    struct cdc_err err;
    struct cdc_lease_holder h;
    snprintf(out, outsz, "none");
    if (kv == NULL)
        return;
    cdc_buf_init(&val, 4096);
    cdc_err_clear(&err);
    cdc_name_lease_key(consumer, key, sizeof(key));
    int rc = cdc_js_kv_get(kv, key, &val, NULL, &err);
    if (rc == CDC_OK && !cdc_lease_parse(val.data, val.len, &h))
        snprintf(out, outsz, "cannot be read");
    else if (rc == CDC_OK && h.released)
        snprintf(out, outsz, "(released)");
    else if (rc == CDC_OK)
        snprintf(out, outsz, "%s pid %" PRId64 "%s", h.host, h.pid,
                 cdc_lease_holder_alive(&h) == 0 ? " (gone)" : "");
    else if (rc != CDC_ENOTFOUND)
        snprintf(out, outsz, "cannot be read");
    cdc_buf_release(&val);
}

static void consumer_rows(const struct cdc_js_consumer_state *cs, size_t n,
                          struct cdc_js_kv *kv, struct cdc_buf *out)
{
    if (n == 0) {
        replicator_status_row(out, "consumers", "none");
        return;
    }
    cdc_buf_append_str(out, "CONSUMER\tPENDING\tACK PENDING\tDELIVERED SEQ\t"
                            "ACK FLOOR SEQ\tLAST ACTIVE\tWORKER\n");
    for (size_t i = 0; i < n; i++) {
        char last[96] = "never";
        char holder[200];
        if (cs[i].last_active_us > 0)
            time_text(cs[i].last_active_us, last, sizeof(last));
        lease_text(kv, cs[i].name, holder, sizeof(holder));
        cdc_buf_printf(out,
                       "%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
                       "\t%s\t%s\n",
                       cs[i].name, cs[i].pending, cs[i].ack_pending,
                       cs[i].delivered_seq, cs[i].ack_floor_seq, last, holder);
    }
}

static int stream_rows(struct cdc_js *js, const char *group,
                       struct cdc_buf *out, struct cdc_err *err)
{
    char name[CDC_NAME_MAX];
    struct cdc_js_stream_state st;
    struct cdc_js_consumer_state *cs = NULL;
    size_t ncs = 0;
    cdc_name_stream(group, name, sizeof(name));
    replicator_status_title(out, "stream");
    int rc = cdc_js_stream_info_ex(js, name, &st, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        replicator_status_row(out, "stream", "%s: does not exist", name);
        return CDC_OK;
    }
    if (rc == CDC_OK)
        rc = cdc_js_stream_consumers(js, name, &cs, &ncs, err);
    if (rc == CDC_ENOTFOUND) {
        /* deleted between the two questions */
        cdc_err_clear(err);
        replicator_status_row(out, "stream", "%s: does not exist", name);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    char size[32];
    cdc_size_format(st.bytes, size, sizeof(size));
    replicator_status_row(out, "stream", "%s", name);
    replicator_status_row(out, "messages", "%" PRIu64, st.msgs);
    replicator_status_row(out, "bytes", "%s", size);
    replicator_status_row(out, "first sequence", "%" PRIu64, st.first_seq);
    replicator_status_row(out, "last sequence", "%" PRIu64, st.last_seq);
    if (st.last_time_us > 0) {
        char last[96];
        time_text(st.last_time_us, last, sizeof(last));
        replicator_status_row(out, "last message", "%s", last);
    }
    /* a bucket that cannot be read shows as no lease holders */
    struct cdc_js_kv *kv = NULL;
    if (ncs > 0) {
        char bucket[CDC_NAME_MAX];
        struct cdc_err kv_err;
        cdc_err_clear(&kv_err);
        cdc_name_kv(group, bucket, sizeof(bucket));
        existing_kv(js, bucket, &kv, &kv_err);
    }
    consumer_rows(cs, ncs, kv, out);
    cdc_js_kv_close(kv);
    cdc_js_consumer_states_free(cs, ncs);
    return CDC_OK;
}

static int dead_letter_rows(struct cdc_js *js, const char *group,
                            struct cdc_buf *out, struct cdc_err *err)
{
    char name[CDC_NAME_MAX];
    struct cdc_js_stream_state st;
    cdc_name_dlq_stream(group, name, sizeof(name));
    replicator_status_title(out, "dead letters");
    int rc = cdc_js_stream_info_ex(js, name, &st, err);
    if (rc == CDC_ENOTFOUND) {
        cdc_err_clear(err);
        replicator_status_row(out, "stream",
                              "%s: does not exist (no dead letters yet)", name);
        return CDC_OK;
    }
    if (rc != CDC_OK)
        return rc;
    replicator_status_row(out, "stream", "%s", name);
    replicator_status_row(out, "messages", "%" PRIu64, st.msgs);
    return CDC_OK;
}

/* ==== Command ==== */

/* Everything the report holds, into out; CDC_OK or the first failure. */
static int gather(const struct cdc_conf *cfg, const struct source_ops *ops,
                  const char *group, struct cdc_buf *out, struct cdc_err *err)
{
    struct cdc_js *js = NULL;
    struct cdc_js_opts jo;
    char conn_name[CDC_NAME_MAX];
    char url[512];
    snprintf(conn_name, sizeof(conn_name), "tributary-status-%s", group);
    cdc_js_opts_from_conf(cfg, conn_name, &jo);
    cdc_redact_dsn(jo.url, url, sizeof(url));
    cdc_buf_printf(out, "group %s\n", group);
    replicator_status_row(out, "source", "%s", ops->name);
    replicator_status_row(out, "NATS", "%s", url);
    int rc = cdc_js_open(&jo, &js, err);
    if (rc != CDC_OK)
        goto out;
    struct saved sv;
    rc = read_saved(js, group, &sv, err);
    if (rc != CDC_OK)
        goto out;
    cdc_buf_printf(out, "%s source\n", ops->name);
    if (ops->status != NULL)
        rc = ops->status(cfg, group, sv.position[0] ? sv.position : NULL, out,
                         err);
    else
        replicator_status_row(out, "state", "not available for this source");
    if (rc == CDC_OK)
        saved_rows(&sv, out);
    if (rc == CDC_OK)
        rc = stream_rows(js, group, out, err);
    if (rc == CDC_OK)
        rc = dead_letter_rows(js, group, out, err);
out:
    cdc_js_close(js);
    return rc;
}

int replicator_status_main(int argc, char **argv)
{
    struct cdc_err err;
    struct cdc_buf out;
    int code = STATUS_OK;
    cdc_err_clear(&err);
    cdc_buf_init(&out, 0);
    struct cdc_conf *cfg = replicator_conf_new("replicator status");
    bool done = false;
    if (replicator_conf_load(cfg, argc - 1, argv + 1, STATUS_USAGE, &done,
                             &err) != CDC_OK) {
        code = STATUS_CONFIG;
        goto out;
    }
    if (done)
        goto out;
    const char *group = cdc_conf_get_str(cfg, "group");
    const struct source_ops *ops = NULL;
    if (cdc_group_validate(group, &err) != CDC_OK ||
        replicator_conf_source(cfg, &ops, &err) != CDC_OK) {
        fprintf(stderr, "replicator status: %s\n", err.msg);
        code = STATUS_CONFIG;
        goto out;
    }
    replicator_conf_start(cfg, group, &done);
    if (done)
        goto out;
    int rc = gather(cfg, ops, group, &out, &err);
    if (rc != CDC_OK) {
        fprintf(stderr, "replicator status: %s\n", err.msg);
        code = rc == CDC_ECONFIG ? STATUS_CONFIG : STATUS_RUNTIME;
        goto out;
    }
    render(out.data != NULL ? out.data : "", out.len, stdout);
    fflush(stdout);
out:
    cdc_js_library_close();
    cdc_buf_release(&out);
    cdc_conf_free(cfg);
    return code;
}

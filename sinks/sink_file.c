/*
 * sink_file.c: writes events as JSON lines (natural form plus the stream
 * sequence) into files tributary-<group>-<NNNNNN>-<UTC time>.jsonl in one
 * directory, rotating by size and age between records, never inside one.
 * Flush is fsync. The last complete line tells, after any restart or
 * crash, which event was written last: a torn line at the end is cut off,
 * and events at or below the last one are not written again, however they
 * come back (redelivered by JetStream or re-sent by the replicator).
 */
#include "sinks/sink.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct cdc_opt file_options[] = {
    {"file-output-dir", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_REQUIRED,
     "directory of the output files"},
    {"file-max-bytes", CDC_OPT_SIZE, "100MiB", 1024, INT64_MAX, 0,
     "start a new file when the current one would grow past this size"},
    {"file-max-age", CDC_OPT_DURATION, "1h", 1000, INT64_MAX, 0,
     "start a new file when the current one is older than this"},
    {"file-fsync", CDC_OPT_BOOL, "true", 0, 0, 0,
     "fsync each batch before it is acknowledged"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

/* Data is handed to write(2) in pieces of at most this size. */
#define WRITE_CHUNK ((size_t)1 << 20)
/* Files looked at backwards for a last complete line. */
#define MAX_TAIL_FILES 16

struct file_sink {
    char *dir;
    char *group;
    int64_t max_bytes;
    int64_t max_age_ms;
    bool do_fsync;

    int fd;
    char *path;
    int64_t size;
    int64_t created_ms; /* wall clock, from the file name */
    unsigned long seq;  /* number of the current file */

    struct cdc_buf buf;         /* records not yet handed to write(2) */
    struct sink_mark written;   /* last record handed to write(2) */
    struct sink_mark buffered;  /* last record in buf */
};

/* ==== Names ==== */

/* Parses "tributary-<group>-<seq>-<YYYYmmddTHHMMSSZ>.jsonl". */
static bool parse_name(const char *group, const char *name,
                       unsigned long *seq, int64_t *created_ms)
{
    char prefix[CDC_NAME_MAX];
    snprintf(prefix, sizeof(prefix), "tributary-%s-", group);
    size_t plen = strlen(prefix);
    size_t len = strlen(name);
    if (strncmp(name, prefix, plen) != 0 || len < plen + 6 + 1 + 16 + 6 ||
        strcmp(name + len - 6, ".jsonl") != 0)
        return false;
    const char *p = name + plen;
    unsigned long v = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (unsigned long)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '-')
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int used = 0;
    if (sscanf(p + 1, "%4d%2d%2dT%2d%2d%2dZ%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 16 || strcmp(p + 1 + used, ".jsonl") != 0)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *seq = v;
    *created_ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

static char *make_path(const char *dir, const char *name)
{
    return cdc_xasprintf("%s/%s", dir, name);
}

static void fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static int mkdir_p(const char *dir, struct cdc_err *err)
{
    char *tmp = cdc_xstrdup(dir);
    int rc = CDC_OK;
    for (char *p = tmp + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
            rc = cdc_err_set(err, CDC_EIO, 0,
                             "could not create directory \"%s\": %s", tmp,
                             strerror(errno));
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    cdc_free(tmp);
    return rc;
}

/* ==== Recovery from the tail ==== */

static void mark_from_line(const char *line, size_t len, struct sink_mark *m)
{
    cJSON *j = cJSON_ParseWithLength(line, len);
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(j, "position");
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(j, "tx_index");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(j, "seq");
    if (cJSON_IsString(pos) && cJSON_IsNumber(idx) && cJSON_IsString(src)) {
        m->set = true;
        snprintf(m->position, sizeof(m->position), "%s", pos->valuestring);
        snprintf(m->source, sizeof(m->source), "%s", src->valuestring);
        m->tx_index = (uint32_t)idx->valuedouble;
        m->stream_seq = cJSON_IsNumber(seq) ? (uint64_t)seq->valuedouble : 0;
    }
    cJSON_Delete(j);
}

/*
 * Cuts a torn last line off the file and reads the last complete line
 * into m (if any). Leaves m unset for a file without complete lines.
 */
static int recover_tail(const char *path, struct sink_mark *m,
                        struct cdc_err *err)
{
    int rc = CDC_OK;
    char *line = NULL;
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return cdc_err_set(err, CDC_EIO, 0, "could not open \"%s\": %s",
                           path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = cdc_err_set(err, CDC_EIO, 0, "could not stat \"%s\": %s", path,
                         strerror(errno));
        goto out;
    }
    /* find the last newline, then the one before it, reading backwards */
    char chunk[8192];
    off_t end = st.st_size;
    off_t last_nl = -1;
    off_t prev_nl = -1;
    while (end > 0 && prev_nl < 0) {
        off_t start = end > (off_t)sizeof(chunk) ? end - (off_t)sizeof(chunk)
                                                 : 0;
        ssize_t n = pread(fd, chunk, (size_t)(end - start), start);
        if (n != end - start) {
            rc = cdc_err_set(err, CDC_EIO, 0, "could not read \"%s\": %s",
                             path, n < 0 ? strerror(errno) : "short read");
            goto out;
        }
        for (off_t i = n - 1; i >= 0; i--) {
            if (chunk[i] != '\n')
                continue;
            if (last_nl < 0) {
                last_nl = start + i;
            } else {
                prev_nl = start + i;
                break;
            }
        }
        end = start;
    }
    off_t keep = last_nl + 1;
    if (keep != st.st_size) {
        cdc_log(CDC_LOG_WARN, "file",
                "cutting %lld bytes of an incomplete last line from \"%s\"",
                (long long)(st.st_size - keep), path);
        if (ftruncate(fd, keep) != 0 || fsync(fd) != 0) {
            rc = cdc_err_set(err, CDC_EIO, 0, "could not truncate \"%s\": %s",
                             path, strerror(errno));
            goto out;
        }
    }
    if (last_nl < 0)
        goto out;
    off_t lstart = prev_nl + 1;
    size_t llen = (size_t)(last_nl - lstart);
    line = cdc_try_alloc(llen + 1, CDC_BUF_DEFAULT_LIMIT);
    if (line == NULL) {
        rc = cdc_err_set(err, CDC_ETOOBIG, 0,
                         "last line of \"%s\" is too long", path);
        goto out;
    }
    if (pread(fd, line, llen, lstart) != (ssize_t)llen) {
        rc = cdc_err_set(err, CDC_EIO, 0, "could not read \"%s\"", path);
        goto out;
    }
    mark_from_line(line, llen, m);
    if (!m->set)
        rc = cdc_err_set(err, CDC_EPROTO, 0,
                         "last line of \"%s\" is not an event written by "
                         "tributary; move the file away",
                         path);
out:
    cdc_free(line);
    close(fd);
    return rc;
}

struct found_file {
    unsigned long seq;
    int64_t created_ms;
    char *name;
};

static int cmp_found(const void *a, const void *b)
{
    const struct found_file *x = a;
    const struct found_file *y = b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Lists this group's files, newest first. */
static int list_files(struct file_sink *s, struct found_file **out,
                      size_t *n, struct cdc_err *err)
{
    DIR *d = opendir(s->dir);
    struct found_file *files = NULL;
    size_t cap = 0;
    *n = 0;
    if (d == NULL)
        return cdc_err_set(err, CDC_EIO, 0, "could not open directory "
                           "\"%s\": %s", s->dir, strerror(errno));
    struct dirent *de = NULL;
    while ((de = readdir(d)) != NULL) {
        unsigned long seq = 0;
        int64_t created = 0;
        if (!parse_name(s->group, de->d_name, &seq, &created))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            files = cdc_xrealloc(files, cap * sizeof(*files));
        }
        files[*n].seq = seq;
        files[*n].created_ms = created;
        files[*n].name = cdc_xstrdup(de->d_name);
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(files, *n, sizeof(*files), cmp_found);
    *out = files;
    return CDC_OK;
}

/* ==== Writing ==== */

static int open_new_file(struct file_sink *s, struct cdc_err *err)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    s->seq++;
    char *name = cdc_xasprintf("tributary-%s-%06lu-%s.jsonl", s->group,
                               s->seq, ts);
    cdc_free(s->path);
    s->path = make_path(s->dir, name);
    cdc_free(name);
    s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0)
        return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                           "could not create \"%s\": %s", s->path,
                           strerror(errno));
    fsync_dir(s->dir);
    s->size = 0;
    s->created_ms = (int64_t)now * 1000;
    cdc_log(CDC_LOG_INFO, "file", "writing to \"%s\"", s->path);
    return CDC_OK;
}

static int open_existing(struct file_sink *s, const struct found_file *f,
                         struct cdc_err *err)
{
    cdc_free(s->path);
    s->path = make_path(s->dir, f->name);
    s->seq = f->seq;
    s->created_ms = f->created_ms;
    s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (s->fd < 0)
        return cdc_err_set(err, CDC_EIO, 0, "could not open \"%s\": %s",
                           s->path, strerror(errno));
    struct stat st;
    if (fstat(s->fd, &st) != 0)
        return cdc_err_set(err, CDC_EIO, 0, "could not stat \"%s\": %s",
                           s->path, strerror(errno));
    s->size = st.st_size;
    return CDC_OK;
}

static int close_current(struct file_sink *s, struct cdc_err *err)
{
    int rc = CDC_OK;
    if (s->fd < 0)
        return CDC_OK;
    if (s->do_fsync && fsync(s->fd) != 0)
        rc = cdc_err_set(err, CDC_EIO, 0, "could not fsync \"%s\": %s",
                         s->path, strerror(errno));
    close(s->fd);
    s->fd = -1;
    return rc;
}

/* Hands buf to write(2). On failure the file is cut back to where it was,
 * so no partial record stays, and buf is dropped. */
static int write_out(struct file_sink *s, struct cdc_err *err)
{
    size_t off = 0;
    while (off < s->buf.len) {
        size_t want = s->buf.len - off;
        if (want > WRITE_CHUNK)
            want = WRITE_CHUNK;
        ssize_t n = write(s->fd, s->buf.data + off, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            if (ftruncate(s->fd, s->size) != 0)
                cdc_log(CDC_LOG_ERROR, "file",
                        "could not cut \"%s\" back after a failed write: %s",
                        s->path, strerror(errno));
            cdc_buf_reset(&s->buf);
            return cdc_err_set(err, CDC_EIO, CDC_ERR_RETRIABLE,
                               "could not write to \"%s\": %s", s->path,
                               strerror(e));
        }
        off += (size_t)n;
    }
    s->size += (int64_t)s->buf.len;
    cdc_buf_reset(&s->buf);
    if (s->buffered.set)
        s->written = s->buffered;
    return CDC_OK;
}

static bool needs_rotation(const struct file_sink *s, size_t next_len)
{
    if (s->size + (int64_t)s->buf.len == 0)
        return false;
    if (s->size + (int64_t)s->buf.len + (int64_t)next_len > s->max_bytes)
        return true;
    return cdc_wall_us() / 1000 - s->created_ms >= s->max_age_ms;
}

static int file_write(void *state, const struct cdc_batch *batch,
                      struct cdc_err *err)
{
    struct file_sink *s = state;
    struct cdc_buf line;
    char extra[48];
    int rc = CDC_OK;
    size_t i = 0;
    if (batch->replay) {
        err->index = 0;
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "the file sink cannot take dead letters again (its "
                           "files are in source order, and its resume point "
                           "is their last line): list them with "
                           "--list-dead-letters");
    }
    cdc_buf_init(&line, 0);
    s->buffered = s->written;
    for (i = 0; i < batch->n; i++) {
        const struct cdc_event *ev = batch->events[i];
        if (sink_mark_covers(&s->written, ev))
            continue;
        cdc_buf_reset(&line);
        snprintf(extra, sizeof(extra), "\"seq\":%" PRIu64, batch->seqs[i]);
        rc = cdc_event_encode_natural(ev, extra, &line);
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(&line, '\n');
        if (rc != CDC_OK) {
            rc = cdc_err_set(err, rc, CDC_ERR_POISON,
                             "event of \"%s\".\"%s\" at %s is too big",
                             ev->schema, ev->table, ev->position);
            break;
        }
        if (s->fd >= 0 && needs_rotation(s, line.len)) {
            rc = write_out(s, err);
            if (rc == CDC_OK)
                rc = close_current(s, err);
        }
        if (rc == CDC_OK && s->fd < 0)
            rc = open_new_file(s, err);
        if (rc == CDC_OK && s->buf.len + line.len > WRITE_CHUNK)
            rc = write_out(s, err);
        if (rc == CDC_OK)
            rc = cdc_buf_append(&s->buf, line.data, line.len);
        if (rc != CDC_OK)
            break;
        sink_mark_set(&s->buffered, ev, batch->seqs[i]);
    }
    if (rc == CDC_OK)
        rc = write_out(s, err);
    if (rc != CDC_OK) {
        /* everything up to the written mark is on disk; the caller
         * retries the whole batch and those are skipped */
        cdc_buf_reset(&s->buf);
        err->index = i < batch->n ? i : 0;
    }
    cdc_buf_release(&line);
    return rc;
}

static int file_flush(void *state, struct cdc_err *err)
{
    struct file_sink *s = state;
    /* a failed fsync cannot be retried safely: the kernel may have
     * dropped the pages, so stop and let a restart re-read the tail */
    if (s->fd >= 0 && s->do_fsync && fsync(s->fd) != 0)
        return cdc_err_set(err, CDC_EIO, 0, "could not fsync \"%s\": %s",
                           s->path, strerror(errno));
    return CDC_OK;
}

static void file_close(void *state)
{
    struct file_sink *s = state;
    if (s == NULL)
        return;
    struct cdc_err err;
    if (close_current(s, &err) != CDC_OK)
        cdc_log(CDC_LOG_ERROR, "file", "%s", err.msg);
    cdc_buf_release(&s->buf);
    cdc_free(s->path);
    cdc_free(s->dir);
    cdc_free(s->group);
    cdc_free(s);
}

static int file_open(const struct cdc_conf *cfg, const char *group,
                     void **state, struct sink_mark *last, struct cdc_err *err)
{
    struct found_file *files = NULL;
    size_t nfiles = 0;
    int rc = CDC_OK;
    /* required: the configuration loader made sure it is set */
    const char *dir = cdc_conf_get_str(cfg, "file-output-dir");
    CDC_ASSERT(dir != NULL && *dir != '\0');
    *state = NULL;
    struct file_sink *s = cdc_xcalloc(1, sizeof(*s));
    s->fd = -1;
    s->dir = cdc_xstrdup(dir);
    s->group = cdc_xstrdup(group);
    s->max_bytes = cdc_conf_get_int(cfg, "file-max-bytes");
    s->max_age_ms = cdc_conf_get_int(cfg, "file-max-age");
    s->do_fsync = cdc_conf_get_bool(cfg, "file-fsync");
    cdc_buf_init(&s->buf, 0);

    rc = mkdir_p(s->dir, err);
    if (rc == CDC_OK)
        rc = list_files(s, &files, &nfiles, err);
    for (size_t i = 0; rc == CDC_OK && i < nfiles && i < MAX_TAIL_FILES &&
                       !s->written.set;
         i++) {
        char *path = make_path(s->dir, files[i].name);
        rc = recover_tail(path, &s->written, err);
        cdc_free(path);
    }
    if (rc == CDC_OK && nfiles > 0) {
        s->seq = files[0].seq;
        rc = open_existing(s, &files[0], err);
        if (rc == CDC_OK && needs_rotation(s, 0))
            rc = close_current(s, err);
    }
    for (size_t i = 0; i < nfiles; i++)
        cdc_free(files[i].name);
    cdc_free(files);
    if (rc != CDC_OK) {
        file_close(s);
        return rc;
    }
    if (s->written.set) {
        *last = s->written;
        cdc_log(CDC_LOG_INFO, "file",
                "output ends at position %s index %u: older events are "
                "skipped",
                s->written.position, (unsigned)s->written.tx_index);
    }
    *state = s;
    return CDC_OK;
}

const struct sink_ops sink_file_ops = {
    .name = "file",
    .options = file_options,
    .open = file_open,
    .write = file_write,
    .flush = file_flush,
    .close = file_close,
};

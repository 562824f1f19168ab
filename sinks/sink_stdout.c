/*
 * sink_stdout.c: writes each event as one line of natural JSON on standard
 * output. Flush means the lines reached the pipe or terminal; stdout keeps
 * no memory of what it wrote, so events that come again after a crash are
 * printed again.
 */
#include "sinks/sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct cdc_opt stdout_options[] = {
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

struct stdout_sink {
    struct cdc_buf out;
};

static int stdout_open(const struct cdc_conf *cfg, const char *group,
                       void **state, struct sink_mark *last,
                       struct cdc_err *err)
{
    (void)cfg;
    (void)group;
    (void)last;
    (void)err;
    struct stdout_sink *s = cdc_xcalloc(1, sizeof(*s));
    cdc_buf_init(&s->out, 0);
    *state = s;
    return CDC_OK;
}

static int stdout_write(void *state, const struct cdc_batch *batch,
                        struct cdc_err *err)
{
    struct stdout_sink *s = state;
    for (size_t i = 0; i < batch->n; i++) {
        size_t before = s->out.len;
        int rc = cdc_event_encode_natural(batch->events[i], NULL, &s->out);
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(&s->out, '\n');
        if (rc != CDC_OK) {
            s->out.len = before;
            err->index = i;
            return cdc_err_set(err, rc, CDC_ERR_POISON,
                               "event of \"%s\".\"%s\" at %s is too big",
                               batch->events[i]->schema,
                               batch->events[i]->table,
                               batch->events[i]->position);
        }
    }
    return CDC_OK;
}

static int stdout_flush(void *state, struct cdc_err *err)
{
    struct stdout_sink *s = state;
    size_t off = 0;
    while (off < s->out.len) {
        ssize_t n = write(STDOUT_FILENO, s->out.data + off, s->out.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* a closed pipe or full disk behind stdout: nobody reads us */
            cdc_buf_reset(&s->out);
            return cdc_err_set(err, CDC_EIO, 0,
                               "could not write to standard output: %s",
                               strerror(errno));
        }
        off += (size_t)n;
    }
    cdc_buf_reset(&s->out);
    return CDC_OK;
}

static void stdout_close(void *state)
{
    struct stdout_sink *s = state;
    if (s == NULL)
        return;
    cdc_buf_release(&s->out);
    cdc_free(s);
}

const struct sink_ops sink_stdout_ops = {
    .name = "stdout",
    .options = stdout_options,
    .open = stdout_open,
    .write = stdout_write,
    .flush = stdout_flush,
    .close = stdout_close,
};

/*
 * test_sink_file.c: the file sink on a temporary directory: JSON lines
 * with the stream sequence, the last event read back from the tail at
 * open, a torn last line cut off, events at or below the last one skipped,
 * rotation by size without splitting a line, and a foreign last line
 * refused.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "sinks/sink.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char dir[64];
    struct cdc_conf *cfg;
    struct cdc_arena arena;
};

static int setup(void **state)
{
    struct fx *fx = cdc_xcalloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/tributary-sinkfile.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    cdc_arena_init(&fx->arena);
    cdc_log_level_current = CDC_LOG_ERROR;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *de = NULL;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *p = cdc_xasprintf("%s/%s", fx->dir, de->d_name);
        unlink(p);
        cdc_free(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(fx->dir);
    cdc_conf_free(fx->cfg);
    cdc_arena_release(&fx->arena);
    cdc_free(fx);
    return 0;
}

static void *open_sink(struct fx *fx, const char *max_bytes,
                       struct sink_mark *mark, int expect_rc)
{
    struct cdc_err err;
    char dirflag[128];
    char sizeflag[64];
    snprintf(dirflag, sizeof(dirflag), "--file-output-dir=%s", fx->dir);
    snprintf(sizeflag, sizeof(sizeflag), "--file-max-bytes=%s", max_bytes);
    char *argv[] = {dirflag, sizeflag, NULL};
    char *envp[] = {NULL};
    cdc_conf_free(fx->cfg);
    fx->cfg = cdc_conf_new("worker file");
    cdc_conf_add_options(fx->cfg, sink_file_ops.options);
    assert_int_equal(cdc_conf_load_env(fx->cfg, 2, argv, envp, NULL, &err),
                     CDC_OK);
    void *st = NULL;
    memset(mark, 0, sizeof(*mark));
    cdc_err_clear(&err);
    int rc = sink_file_ops.open(fx->cfg, "g-1", &st, mark, &err);
    if (rc != expect_rc)
        fail_msg("open: %d %s", rc, err.msg);
    return st;
}

/* An insert at LSN 0/<lsn> with the given index. */
static struct cdc_event *event(struct fx *fx, unsigned lsn, uint32_t idx,
                               const char *text)
{
    struct cdc_event *ev = cdc_arena_alloc(&fx->arena, sizeof(*ev));
    struct cdc_col *cols = cdc_arena_alloc(&fx->arena, sizeof(*cols) * 2);
    char pos[32];
    snprintf(pos, sizeof(pos), "0/%X", lsn);
    memset(ev, 0, sizeof(*ev));
    ev->op = CDC_OP_INSERT;
    ev->source = "postgres";
    ev->schema = "public";
    ev->table = "t";
    ev->position = cdc_arena_strdup(&fx->arena, pos);
    ev->tx_index = idx;
    ev->tx_end = true;
    cols[0] = (struct cdc_col){"id", "int4", "1", 1};
    cols[1] = (struct cdc_col){"v", "text", text, strlen(text)};
    ev->cols = cols;
    ev->ncols = 2;
    return ev;
}

static void write_events(void *st, struct cdc_event **evs, uint64_t *seqs,
                         size_t n)
{
    struct cdc_batch b = {.events = evs, .seqs = seqs, .n = n};
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(sink_file_ops.write(st, &b, &err), CDC_OK);
    assert_int_equal(sink_file_ops.flush(st, &err), CDC_OK);
}

/* All lines of all files, in file order, and the number of files. */
static size_t read_all(struct fx *fx, struct cdc_buf *all, size_t *nfiles)
{
    struct dirent **names = NULL;
    int n = scandir(fx->dir, &names, NULL, alphasort);
    size_t lines = 0;
    *nfiles = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char *p = cdc_xasprintf("%s/%s", fx->dir, names[i]->d_name);
            FILE *f = fopen(p, "r");
            int c;
            assert_non_null(f);
            while ((c = fgetc(f)) != EOF) {
                cdc_buf_append_char(all, (char)c);
                if (c == '\n')
                    lines++;
            }
            fclose(f);
            cdc_free(p);
            (*nfiles)++;
        }
        cdc_free(names[i]); /* allocated by scandir */
    }
    cdc_free(names);
    return lines;
}

static void test_write_and_read_back_mark(void **state)
{
    struct fx *fx = *state;
    struct sink_mark mark;
    void *st = open_sink(fx, "100MiB", &mark, CDC_OK);
    assert_false(mark.set);
    struct cdc_event *evs[3] = {event(fx, 0x10, 0, "a"), event(fx, 0x10, 1, "b"),
                                event(fx, 0x20, 0, "c\nd")};
    uint64_t seqs[3] = {1, 2, 3};
    write_events(st, evs, seqs, 3);
    sink_file_ops.close(st);

    struct cdc_buf all;
    size_t nfiles = 0;
    cdc_buf_init(&all, 0);
    assert_int_equal(read_all(fx, &all, &nfiles), 3);
    assert_int_equal(nfiles, 1);
    assert_non_null(strstr(all.data, "\"row\":{\"id\":1,\"v\":\"c\\nd\"},"
                                     "\"seq\":3}\n"));
    cdc_buf_release(&all);

    st = open_sink(fx, "100MiB", &mark, CDC_OK);
    assert_true(mark.set);
    assert_string_equal(mark.position, "0/20");
    assert_int_equal(mark.tx_index, 0);
    assert_int_equal(mark.stream_seq, 3);
    assert_string_equal(mark.source, "postgres");
    sink_file_ops.close(st);
}

static void test_replay_refused(void **state)
{
    struct fx *fx = *state;
    struct sink_mark mark;
    void *st = open_sink(fx, "100MiB", &mark, CDC_OK);
    struct cdc_event *evs[1] = {event(fx, 0x10, 0, "a")};
    uint64_t seqs[1] = {7};
    struct cdc_batch b = {.events = evs, .seqs = seqs, .n = 1, .replay = true};
    struct cdc_err err;
    cdc_err_clear(&err);
    assert_int_equal(sink_file_ops.write(st, &b, &err), CDC_ECONFIG);
    assert_non_null(strstr(err.msg, "--list-dead-letters"));
    sink_file_ops.close(st);
    struct cdc_buf all;
    size_t nfiles = 0;
    cdc_buf_init(&all, 0);
    assert_int_equal(read_all(fx, &all, &nfiles), 0);
    cdc_buf_release(&all);
}

static void test_torn_line_cut_and_old_events_skipped(void **state)
{
    struct fx *fx = *state;
    struct sink_mark mark;
    void *st = open_sink(fx, "100MiB", &mark, CDC_OK);
    struct cdc_event *evs[2] = {event(fx, 0x10, 0, "a"), event(fx, 0x20, 0, "b")};
    uint64_t seqs[2] = {1, 2};
    write_events(st, evs, seqs, 2);
    sink_file_ops.close(st);

    /* a crash in the middle of a line */
    struct dirent **names = NULL;
    int n = scandir(fx->dir, &names, NULL, alphasort);
    char *path = NULL;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.')
            path = cdc_xasprintf("%s/%s", fx->dir, names[i]->d_name);
        cdc_free(names[i]);
    }
    cdc_free(names);
    FILE *f = fopen(path, "a");
    fputs("{\"op\":\"INSERT\",\"source\":\"postgres\",\"posi", f);
    fclose(f);
    cdc_free(path);

    st = open_sink(fx, "100MiB", &mark, CDC_OK);
    assert_string_equal(mark.position, "0/20");
    /* events 0/10 and 0/20 come again, with 0/30 new */
    struct cdc_event *again[3] = {event(fx, 0x10, 0, "a"), event(fx, 0x20, 0, "b"),
                                  event(fx, 0x30, 0, "c")};
    uint64_t seqs2[3] = {7, 8, 9};
    write_events(st, again, seqs2, 3);
    sink_file_ops.close(st);

    struct cdc_buf all;
    size_t nfiles = 0;
    cdc_buf_init(&all, 0);
    assert_int_equal(read_all(fx, &all, &nfiles), 3);
    assert_null(strstr(all.data, "posi\n"));
    assert_non_null(strstr(all.data, "\"position\":\"0/30\""));
    assert_non_null(strstr(all.data, "\"seq\":9}\n"));
    cdc_buf_release(&all);
}

static void test_rotation_by_size(void **state)
{
    struct fx *fx = *state;
    struct sink_mark mark;
    void *st = open_sink(fx, "1024", &mark, CDC_OK);
    struct cdc_event *evs[40];
    uint64_t seqs[40];
    for (size_t i = 0; i < 40; i++) {
        evs[i] = event(fx, 0x100 + (unsigned)i, 0, "some text of a row");
        seqs[i] = i + 1;
    }
    write_events(st, evs, seqs, 40);
    sink_file_ops.close(st);

    struct cdc_buf all;
    size_t nfiles = 0;
    cdc_buf_init(&all, 0);
    assert_int_equal(read_all(fx, &all, &nfiles), 40);
    assert_true(nfiles >= 6); /* about 175 bytes a line, 1024 a file */
    /* every line is whole: it starts with { and ends with } */
    size_t start = 0;
    for (size_t i = 0; i < all.len; i++) {
        if (all.data[i] != '\n')
            continue;
        assert_int_equal(all.data[start], '{');
        assert_int_equal(all.data[i - 1], '}');
        start = i + 1;
    }
    cdc_buf_release(&all);

    /* the mark comes from the newest file */
    st = open_sink(fx, "1024", &mark, CDC_OK);
    assert_int_equal(mark.stream_seq, 40);
    sink_file_ops.close(st);
}

static void test_foreign_last_line_refused(void **state)
{
    struct fx *fx = *state;
    struct sink_mark mark;
    char *p = cdc_xasprintf("%s/tributary-g-1-000001-20260101T000000Z.jsonl",
                            fx->dir);
    FILE *f = fopen(p, "w");
    fputs("hello, I am not an event\n", f);
    fclose(f);
    cdc_free(p);
    void *st = open_sink(fx, "100MiB", &mark, CDC_EPROTO);
    assert_null(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read_back_mark, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_torn_line_cut_and_old_events_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_by_size, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_foreign_last_line_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

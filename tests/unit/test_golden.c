/*
 * test_golden.c: golden tests of rules and routing. Each folder under
 * tests/data/golden/ holds a rules file (rules.yaml) and/or a routing file
 * (routing.yaml), recorded events in their bus form (in.jsonl, one message
 * per line: an event, a pack or an array) and what the worker would do with
 * each event (expected.txt): the event as it goes to the sink in its bus
 * form, "filtered", or "dead letter: <reason>". Any difference fails and
 * is printed as a diff of lines.
 *
 * GOLDEN_UPDATE=1 (make golden-update) writes expected.txt from what the
 * code does instead; read the diff before committing it.
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
#include "routing/routing.h"
#include "rules/rules.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The data folder, next to this file's folder. */
static void golden_dir(char *out, size_t outsz)
{
    const char *self = __FILE__;
    const char *slash = strrchr(self, '/');
    size_t n = slash != NULL ? (size_t)(slash - self) : 0;
    snprintf(out, outsz, "%.*s%s../data/golden", (int)n, self,
             n > 0 ? "/" : "");
}

/* Reads a whole file into b; false if it does not exist. */
static bool read_all(const char *path, struct cdc_buf *b)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno != ENOENT)
            fail_msg("cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(cdc_buf_append(b, chunk, n), CDC_OK);
    fclose(f);
    return true;
}

/* Runs one case folder and appends one result line per event to got. */
static void run_case(const char *dir, struct cdc_buf *got)
{
    char path[1200];
    struct rules_set *rules = NULL;
    struct route_set *routes = NULL;
    struct cdc_err err;
    struct cdc_buf problems;
    struct cdc_buf in;
    struct stat st;
    cdc_err_clear(&err);
    cdc_buf_init(&problems, 0);
    cdc_buf_init(&in, 0);

    snprintf(path, sizeof(path), "%s/rules.yaml", dir);
    if (stat(path, &st) == 0 &&
        rules_load(path, &rules, &problems, &err) != CDC_OK)
        fail_msg("%s", problems.data != NULL ? problems.data : err.msg);
    snprintf(path, sizeof(path), "%s/routing.yaml", dir);
    if (stat(path, &st) == 0 &&
        route_load(path, &routes, &problems, &err) != CDC_OK)
        fail_msg("%s", problems.data != NULL ? problems.data : err.msg);
    snprintf(path, sizeof(path), "%s/in.jsonl", dir);
    if (!read_all(path, &in))
        fail_msg("%s is missing", path);

    struct cdc_arena arena;
    cdc_arena_init(&arena);
    const char *p = in.data;
    const char *end = in.data + in.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0 && p[0] != '#') {
            struct cdc_event *evs = NULL;
            size_t n = 0;
            if (cdc_event_decode_msg(p, len, &arena, &evs, &n, &err) != CDC_OK)
                fail_msg("%s: cannot decode \"%.*s\": %s", dir, (int)len, p,
                         err.msg);
            for (size_t i = 0; i < n; i++) {
                struct cdc_event *ev = &evs[i];
                cdc_err_clear(&err);
                int rc = RULES_KEEP;
                if (rules != NULL)
                    rc = rules_apply(rules, ev, &arena, &err);
                if (rc == RULES_KEEP && routes != NULL) {
                    rc = route_apply(routes, ev, &arena, &err);
                    if (rc == ROUTE_DROP)
                        rc = RULES_DROP;
                }
                if (rc == RULES_KEEP)
                    assert_int_equal(cdc_event_encode(ev, got), CDC_OK);
                else if (rc == RULES_DROP)
                    cdc_buf_append_str(got, "filtered");
                else
                    cdc_buf_printf(got, "dead letter: %s", err.msg);
                cdc_buf_append_char(got, '\n');
            }
        }
        p += len + 1;
    }
    cdc_arena_release(&arena);
    cdc_buf_release(&in);
    cdc_buf_release(&problems);
    rules_free(rules);
    route_free(routes);
}

/* Prints the lines that differ, with their numbers. */
static void print_diff(const char *name, const char *want, const char *got)
{
    size_t line = 1;
    while (*want != '\0' || *got != '\0') {
        const char *wn = strchr(want, '\n');
        const char *gn = strchr(got, '\n');
        size_t wl = wn != NULL ? (size_t)(wn - want) : strlen(want);
        size_t gl = gn != NULL ? (size_t)(gn - got) : strlen(got);
        if (wl != gl || memcmp(want, got, wl) != 0)
            fprintf(stderr, "%s:%zu:\n  expected: %.*s\n  got:      %.*s\n",
                    name, line, (int)wl, want, (int)gl, got);
        want += wl + (wn != NULL);
        got += gl + (gn != NULL);
        line++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One case; state is its folder name. */
static void test_case(void **state)
{
    const char *name = *state;
    char root[512];
    char dir[1024];
    char path[1100];
    golden_dir(root, sizeof(root));
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    snprintf(path, sizeof(path), "%s/expected.txt", dir);
    struct cdc_buf got;
    struct cdc_buf want;
    cdc_buf_init(&got, 0);
    cdc_buf_init(&want, 0);
    run_case(dir, &got);
    if (getenv("GOLDEN_UPDATE") != NULL) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fwrite(got.data != NULL ? got.data : "", 1, got.len, f);
        fclose(f);
        fprintf(stderr, "golden: wrote %s\n", path);
    } else if (!read_all(path, &want)) {
        fail_msg("%s is missing", path);
    } else if (want.len != got.len ||
               memcmp(want.data, got.data, got.len) != 0) {
        print_diff(name, want.data != NULL ? want.data : "",
                   got.data != NULL ? got.data : "");
        fail_msg("%s differs from what the rules and routing give", path);
    }
    cdc_buf_release(&got);
    cdc_buf_release(&want);
}

#define MAX_CASES 256

int main(void)
{
    static char *names[MAX_CASES];
    static struct CMUnitTest tests[MAX_CASES];
    char root[512];
    size_t n = 0;
    golden_dir(root, sizeof(root));
    DIR *d = opendir(root);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", root, strerror(errno));
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < MAX_CASES) {
        if (de->d_name[0] != '.')
            names[n++] = cdc_xstrdup(de->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "no golden cases in %s\n", root);
        return 1;
    }
    qsort(names, n, sizeof(names[0]), by_name);
    for (size_t i = 0; i < n; i++) {
        tests[i].name = names[i];
        tests[i].test_func = test_case;
        tests[i].initial_state = names[i];
    }
    int rc = _cmocka_run_group_tests("golden", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        cdc_free(names[i]);
    return rc;
}

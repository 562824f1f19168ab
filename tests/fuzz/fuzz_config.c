/*
 * fuzz_config.c: libFuzzer target of the YAML readers. Each input is read
 * as a YAML document (common/yaml.c, whose tree is walked whole), as a
 * rules file (rules/), as a routing file (routing/) and as the option file
 * of a command (common/config.c). Rules and routes that load are applied
 * to a few fixed changes. The option loader reads files only: the input
 * goes into one temporary file, made once and unlinked at once, read
 * through /proc/self/fd. Everything loaded is freed before the next input.
 */
#include "common/common.h"
#include "routing/routing.h"
#include "rules/rules.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Options of every type and flag the loader knows, standing for a
 * command's own table and another command's (the file may hold both). */
static const struct cdc_opt own_opts[] = {
    {.name = "group", .type = CDC_OPT_STRING, .help = "group name"},
    {.name = "port",
     .type = CDC_OPT_INT,
     .def = "5432",
     .min = 1,
     .max = 65535,
     .help = "server port"},
    {.name = "enabled", .type = CDC_OPT_BOOL, .def = "true", .help = "on"},
    {.name = "timeout",
     .type = CDC_OPT_DURATION,
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "how long to wait"},
    {.name = "max-bytes",
     .type = CDC_OPT_SIZE,
     .def = "1MiB",
     .min = 1024,
     .max = (int64_t)1 << 30,
     .help = "largest batch"},
    {.name = "tables", .type = CDC_OPT_LIST, .help = "tables"},
    {.name = "password",
     .type = CDC_OPT_STRING,
     .flags = CDC_OPT_SECRET,
     .help = "server password"},
    {.name = NULL},
};

static const struct cdc_opt other_opts[] = {
    {.name = "webhook-url", .type = CDC_OPT_STRING, .help = "url"},
    {.name = "api-key",
     .type = CDC_OPT_STRING,
     .flags = CDC_OPT_SECRET,
     .help = "key"},
    {.name = "webhook-port",
     .type = CDC_OPT_INT,
     .min = 1,
     .max = 65535,
     .help = "port"},
    {.name = NULL},
};

/* The fixed changes: one row holding the columns the seed files name, in
 * the tables they name. */
#define COL(name, type, value)                                                 \
    {                                                                          \
        name, type, value, sizeof(value) - 1                                   \
    }
static const struct cdc_col row[] = {
    COL("id", "int4", "1"),
    COL("email", "text", "john@example.com"),
    COL("phone", "text", "1234567890"),
    COL("age", "int4", "25"),
    COL("price", "numeric", "999.99"),
    COL("at", "timestamptz", "2024-01-02 03:04:05+01"),
    COL("day", "date", "2024-01-02"),
    COL("ok", "bool", "t"),
    COL("code", "uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    COL("tenant_id", "int4", "3"),
    COL("first", "text", "Ada"),
    {"last", "text", NULL, 0},
    COL("data", "jsonb", "{\"a\": [1, 2.5, null]}"),
    COL("username", "varchar", "alice"),
};
#define NROW (sizeof(row) / sizeof(row[0]))

static const char *const key[] = {"id"};
static const char *const unchanged[] = {"body"};
static const char *const tables[][2] = {
    {"public", "users"},    {"app", "orders"},    {"shop", "orders"},
    {"public", "prices"},   {"public", "people"}, {"public", "events"},
    {"public", "products"},
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static int conf_fd = -1;
static char conf_path[64];
static FILE *devnull;
static struct cdc_arena arena;
static struct cdc_buf problems;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char tmpl[] = "/tmp/tributary-fuzz-config.XXXXXX";

    (void)argc;
    (void)argv;
    conf_fd = mkstemp(tmpl);
    if (conf_fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    unlink(tmpl);
    snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL) {
        perror("fuzz_config: /dev/null");
        abort();
    }
    cdc_arena_init(&arena);
    cdc_buf_init(&problems, 0);
    return 0;
}

/* Visits every node, reading every byte of every scalar. */
static size_t walk(const struct cdc_yaml_node *node)
{
    size_t sum = 0;
    if (node == NULL)
        return 0;
    switch (node->kind) {
    case CDC_YAML_SCALAR:
        for (size_t i = 0; i < node->len; i++)
            sum += (unsigned char)node->str[i];
        sum += cdc_yaml_is_null(node);
        break;
    case CDC_YAML_MAP:
        for (size_t i = 0; i < node->n; i++) {
            sum += walk(node->keys[i]);
            if (node->keys[i]->kind == CDC_YAML_SCALAR &&
                cdc_yaml_get(node, node->keys[i]->str) == NULL)
                abort();
        }
        /* fall through */
    case CDC_YAML_SEQ:
        for (size_t i = 0; i < node->n; i++)
            sum += walk(node->items[i]);
        break;
    }
    return sum;
}

static void fuzz_yaml(const uint8_t *data, size_t size)
{
    struct cdc_yaml_doc *doc = NULL;
    struct cdc_err err;
    cdc_err_clear(&err);
    if (cdc_yaml_parse(data, size, "fuzz.yaml", &doc, &err) == CDC_OK)
        (void)walk(cdc_yaml_root(doc));
    cdc_yaml_free(doc);
}

/* The fixed changes, each in every table, run through rs and then routes
 * (either may be NULL). */
static void apply(struct rules_set *rs, const struct route_set *routes)
{
    static const enum cdc_op ops[] = {CDC_OP_INSERT, CDC_OP_UPDATE,
                                      CDC_OP_DELETE, CDC_OP_COPY,
                                      CDC_OP_TRUNCATE};
    for (size_t t = 0; t < NTABLES; t++) {
        for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
            struct cdc_event tmpl = {
                .op = ops[o],
                .source = "postgres",
                .schema = tables[t][0],
                .table = tables[t][1],
                .position = "0/16B3748",
                .tx_index = (uint32_t)o,
                .has_txid = true,
                .txid = 737,
                .commit_time = "2024-05-01 12:00:00.123456+00",
                .key = (const char **)key,
                .nkey = 1,
            };
            if (ops[o] != CDC_OP_DELETE && ops[o] != CDC_OP_TRUNCATE) {
                tmpl.cols = (struct cdc_col *)row;
                tmpl.ncols = NROW;
            }
            if (ops[o] == CDC_OP_UPDATE) {
                /* an old row without the unchanged column */
                tmpl.old = (struct cdc_col *)row;
                tmpl.nold = NROW;
                tmpl.unchanged = (const char **)unchanged;
                tmpl.nunchanged = 1;
            } else if (ops[o] == CDC_OP_DELETE) {
                tmpl.old = (struct cdc_col *)row;
                tmpl.nold = 1;
            }
            struct cdc_event *ev = cdc_event_copy(&tmpl, &arena);
            struct cdc_err err;
            cdc_err_clear(&err);
            int rc = RULES_KEEP;
            if (rs != NULL)
                rc = rules_apply(rs, ev, &arena, &err);
            if (rc == RULES_KEEP && routes != NULL)
                rc = route_apply(routes, ev, &arena, &err);
        }
    }
}

static void fuzz_rules_routing(const uint8_t *data, size_t size)
{
    struct rules_set *rs = NULL;
    struct route_set *routes = NULL;
    struct cdc_err err;

    cdc_err_clear(&err);
    cdc_buf_reset(&problems);
    if (rules_parse(data, size, "rules.yaml", &rs, &problems, &err) == CDC_OK)
        (void)rules_count(rs);
    cdc_err_clear(&err);
    cdc_buf_reset(&problems);
    if (route_parse(data, size, "routing.yaml", &routes, &problems, &err) ==
        CDC_OK)
        (void)route_count(routes);
    if (rs != NULL || routes != NULL)
        apply(rs, routes);
    rules_free(rs);
    route_free(routes);
    cdc_arena_reset(&arena);
}

static void fuzz_options(const uint8_t *data, size_t size)
{
    if (ftruncate(conf_fd, 0) != 0 ||
        pwrite(conf_fd, data, size, 0) != (ssize_t)size) {
        perror("fuzz_config: writing the option file");
        abort();
    }
    /* Writable, as a program's own arguments are. */
    char flag[] = "--config";
    char *argv[] = {flag, conf_path, NULL};
    char *envp[] = {NULL};
    struct cdc_conf *cfg = cdc_conf_new("fuzz");
    struct cdc_err err;
    cdc_conf_add_options(cfg, cdc_common_options);
    cdc_conf_add_options(cfg, own_opts);
    cdc_conf_add_known(cfg, other_opts);
    cdc_err_clear(&err);

    /* The loader prints each problem to stderr, sent to /dev/null here
     * (glibc's stderr is a variable). libFuzzer and the sanitizers write
     * to the descriptor, not through this FILE: their reports still show. */
    FILE *saved = stderr;
    stderr = devnull;
    int rc = cdc_conf_load_env(cfg, 2, argv, envp, NULL, &err);
    stderr = saved;
    if (rc == CDC_OK) {
        const char *const *items = NULL;
        (void)cdc_conf_get_str(cfg, "group");
        (void)cdc_conf_get_int(cfg, "port");
        (void)cdc_conf_get_bool(cfg, "enabled");
        (void)cdc_conf_get_int(cfg, "timeout");
        (void)cdc_conf_get_int(cfg, "max-bytes");
        (void)cdc_conf_get_list(cfg, "tables", &items);
        (void)cdc_conf_get_str(cfg, "password");
        cdc_conf_print(cfg, devnull);
    }
    cdc_conf_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_yaml(data, size);
    fuzz_rules_routing(data, size);
    fuzz_options(data, size);
    return 0;
}

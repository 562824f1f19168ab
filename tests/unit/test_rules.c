/*
 * test_rules.c: unit tests of rules/: loading and checking rules files
 * (every problem with its line), transforms (mask, regex), filters (every
 * operator, every kind of type, NULLs, unchanged TOAST values, values the
 * change does not carry), the field operations, which changes a rule
 * selects (operations, allow_empty_deletes, table keys, file order), and
 * that a change's shared arrays are never written. pg_flo's own scenarios
 * (its internal/scripts/rules.yml and multi-tenant filter) run unchanged.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "rules/rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

/* Resources of the running test. A failed assertion leaves the test by
 * longjmp, so teardown releases whatever the test still holds. */
static struct {
    struct cdc_arena arena;
    struct cdc_buf problems;
    struct rules_set *rs;
    struct cdc_err err;
    char path[64];
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_arena_init(&fx.arena);
    cdc_buf_init(&fx.problems, 0);
    cdc_err_clear(&fx.err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rules_free(fx.rs);
    cdc_buf_release(&fx.problems);
    cdc_arena_release(&fx.arena);
    if (fx.path[0] != '\0')
        unlink(fx.path);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* Loads yaml as "rules.yml" into fx.rs; fails the test on any problem. */
static void load(const char *yaml)
{
    rules_free(fx.rs);
    fx.rs = NULL;
    cdc_buf_reset(&fx.problems);
    int rc = rules_parse(yaml, strlen(yaml), "rules.yml", &fx.rs, &fx.problems,
                         &fx.err);
    if (rc != CDC_OK)
        fail_msg("rules did not load: %s",
                 fx.problems.len > 0 ? fx.problems.data : fx.err.msg);
    assert_non_null(fx.rs);
}

/* Loads yaml, which must fail; the problems are in fx.problems. */
static void load_bad(const char *yaml)
{
    rules_free(fx.rs);
    fx.rs = NULL;
    cdc_buf_reset(&fx.problems);
    cdc_err_clear(&fx.err);
    int rc = rules_parse(yaml, strlen(yaml), "rules.yml", &fx.rs, &fx.problems,
                         &fx.err);
    if (rc != CDC_ECONFIG)
        fail_msg("rules loaded, want a problem:\n%s", yaml);
    assert_null(fx.rs);
    assert_int_equal(fx.err.code, CDC_ECONFIG);
    assert_true(fx.problems.len > 0);
}

/* Whether want is one whole line of the problems. */
static bool has_line(const char *want)
{
    size_t n = strlen(want);
    const char *p = fx.problems.data;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, want, n) == 0)
            return true;
        p = nl != NULL ? nl + 1 : NULL;
    }
    return false;
}

/* The file must fail to load with want among its problems. */
static void expect_problem(const char *yaml, const char *want)
{
    load_bad(yaml);
    if (!has_line(want))
        fail_msg("want problem\n  %s\ngot\n%s", want, fx.problems.data);
}

static size_t count_lines(void)
{
    size_t n = 0;
    for (const char *p = fx.problems.data; p != NULL && *p != '\0'; p++)
        n += *p == '\n';
    return n;
}

/* ==== Changes ==== */

static struct cdc_col C(const char *name, const char *type, const char *value) {
    return (struct cdc_col){
        .name = name,
        .type = type,
        .value = value,
        .value_len = value != NULL ? strlen(value) : 0,
    };
}

static struct cdc_event
change(enum cdc_op op, const char *schema, const char *table)
{
    return (struct cdc_event){
        .op = op,
        .source = "postgres",
        .schema = schema,
        .table = table,
        .position = "0/16B3748",
    };
}

#define SET_NEW(ev, a)                                                         \
    do {                                                                       \
        (ev).cols = (a);                                                       \
        (ev).ncols = NELEMS(a);                                                \
    } while (0)
#define SET_OLD(ev, a)                                                         \
    do {                                                                       \
        (ev).old = (a);                                                        \
        (ev).nold = NELEMS(a);                                                 \
    } while (0)

static int apply(struct cdc_event *ev)
{
    cdc_err_clear(&fx.err);
    return rules_apply(fx.rs, ev, &fx.arena, &fx.err);
}

static void expect_keep(struct cdc_event *ev)
{
    int rc = apply(ev);
    if (rc != RULES_KEEP)
        fail_msg("want RULES_KEEP, got %d (%s)", rc, fx.err.msg);
}

static void expect_drop(struct cdc_event *ev)
{
    int rc = apply(ev);
    if (rc != RULES_DROP)
        fail_msg("want RULES_DROP, got %d (%s)", rc, fx.err.msg);
}

/* The change must be refused as poison, with each of the fragments in
 * its message. */
static void expect_poison(struct cdc_event *ev, const char *frag1,
                          const char *frag2)
{
    int rc = apply(ev);
    if (rc >= 0)
        fail_msg("want a poison error, got %d", rc);
    assert_true(fx.err.flags & CDC_ERR_POISON);
    assert_int_equal(fx.err.code, rc);
    if (frag1 != NULL && strstr(fx.err.msg, frag1) == NULL)
        fail_msg("\"%s\" not in \"%s\"", frag1, fx.err.msg);
    if (frag2 != NULL && strstr(fx.err.msg, frag2) == NULL)
        fail_msg("\"%s\" not in \"%s\"", frag2, fx.err.msg);
}

static const struct cdc_col *find(const struct cdc_col *cols, size_t n,
                                  const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    }
    return NULL;
}

/* The column must be there with that type (unless NULL is given) and
 * value (NULL: SQL NULL), NUL-terminated with the right length. */
static void expect_col(const struct cdc_col *cols, size_t n, const char *name,
                       const char *type, const char *value)
{
    const struct cdc_col *c = find(cols, n, name);
    if (c == NULL)
        fail_msg("column \"%s\" missing", name);
    if (type != NULL)
        assert_string_equal(c->type, type);
    if (value == NULL) {
        if (c->value != NULL)
            fail_msg("column \"%s\" is \"%s\", want NULL", name, c->value);
        return;
    }
    if (c->value == NULL)
        fail_msg("column \"%s\" is NULL, want \"%s\"", name, value);
    assert_string_equal(c->value, value);
    assert_int_equal(c->value_len, strlen(value));
}

#define EXPECT_NEW(ev, name, type, value)                                      \
    expect_col((ev).cols, (ev).ncols, (name), (type), (value))
#define EXPECT_OLD(ev, name, type, value)                                      \
    expect_col((ev).old, (ev).nold, (name), (type), (value))
#define NO_NEW(ev, name) assert_null(find((ev).cols, (ev).ncols, (name)))
#define NO_OLD(ev, name) assert_null(find((ev).old, (ev).nold, (name)))

static bool in_names(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0)
            return true;
    }
    return false;
}

/* ==== Loading ==== */

static void test_load_empty(void **state)
{
    (void)state;
    static const char *const empty[] = {
        "",          "# nothing here\n", "~\n",
        "tables:\n", "tables: {}\n",     "tables:\n  users: []\n",
    };
    for (size_t i = 0; i < NELEMS(empty); i++) {
        load(empty[i]);
        assert_int_equal(rules_count(fx.rs), 0);
        struct cdc_col cols[] = {C("id", "int4", "1")};
        struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
        SET_NEW(ev, cols);
        expect_keep(&ev);
        assert_ptr_equal(ev.cols, cols);
    }
    assert_int_equal(rules_count(NULL), 0);
    rules_free(NULL);
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    assert_int_equal(rules_apply(NULL, &ev, &fx.arena, &fx.err), RULES_KEEP);
}

static void test_load_count(void **state)
{
    (void)state;
    load("tables:\n"
         "  users:\n"
         "    - {type: exclude_column, column: [a, b]}\n"
         "    - {type: uuid, column: id2}\n"
         "  \"*\":\n"
         "    - {type: set, column: x, parameters: {value: 1}}\n"
         "  app.orders:\n"
         "    - {type: filter, column: total, parameters: {operator: gt, "
         "value: 0}}\n"
         "    - {type: timestamp, column: seen}\n");
    assert_int_equal(rules_count(fx.rs), 5);
}

static void test_load_file(void **state)
{
    (void)state;
    snprintf(fx.path, sizeof(fx.path), "/tmp/test_rules_%d.yml", (int)getpid());
    FILE *f = fopen(fx.path, "w");
    assert_non_null(f);
    fputs("tables:\n"
          "  users:\n"
          "    - type: exclude_column\n"
          "      column: password\n",
          f);
    fclose(f);
    assert_int_equal(rules_load(fx.path, &fx.rs, &fx.problems, &fx.err),
                     CDC_OK);
    assert_int_equal(rules_count(fx.rs), 1);
    rules_free(fx.rs);
    fx.rs = NULL;

    /* a problem names the file by its path */
    f = fopen(fx.path, "w");
    assert_non_null(f);
    fputs("tables:\n  users:\n    - type: nope\n      column: a\n", f);
    fclose(f);
    assert_int_equal(rules_load(fx.path, &fx.rs, &fx.problems, &fx.err),
                     CDC_ECONFIG);
    assert_null(fx.rs);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: unknown rule type \"nope\"", fx.path);
    assert_non_null(strstr(fx.problems.data, want));
    assert_non_null(strstr(fx.err.msg, want));

    cdc_buf_reset(&fx.problems);
    assert_int_equal(
        rules_load("/nonexistent/rules.yml", &fx.rs, &fx.problems, &fx.err),
        CDC_ECONFIG);
    assert_null(fx.rs);
    assert_non_null(strstr(fx.err.msg, "could not read"));
    assert_non_null(strstr(fx.problems.data, "/nonexistent/rules.yml"));
}

static void test_load_yaml_syntax(void **state)
{
    (void)state;
    load_bad("tables:\n  users: [\n");
    assert_non_null(strstr(fx.problems.data, "rules.yml:"));
    assert_non_null(strstr(fx.problems.data, "cannot parse YAML"));
    assert_int_equal(count_lines(), 1);
    /* no problems buffer: err alone */
    struct rules_set *rs = NULL;
    assert_int_equal(rules_parse("a: [", 4, "x.yml", &rs, NULL, &fx.err),
                     CDC_ECONFIG);
    assert_null(rs);
    assert_memory_equal(fx.err.msg, "x.yml:", 6);
    assert_non_null(strstr(fx.err.msg, "cannot parse YAML"));
}

/* ==== Load problems ==== */

static void test_err_top_level(void **state)
{
    (void)state;
    expect_problem("users:\n  - type: filter\n",
                   "rules.yml:1: unknown key \"users\" (a rules file has "
                   "only \"tables\")");
    assert_true(has_line("rules.yml:1: a rules file needs the key \"tables\""));
    assert_int_equal(count_lines(), 2);
    expect_problem("- a\n- b\n", "rules.yml:1: a rules file must be a "
                                 "mapping with the key \"tables\", not a "
                                 "list");
    expect_problem("tables:\n  - users\n",
                   "rules.yml:2: tables must be a mapping of table names to "
                   "lists of rules, not a list");
    expect_problem("tables: users\n",
                   "rules.yml:1: tables must be a mapping of table names to "
                   "lists of rules, not a single value");
    expect_problem("tables: {}\nrouting: {}\n",
                   "rules.yml:2: unknown key \"routing\" (a rules file has "
                   "only \"tables\")");
}

static void test_err_table_shape(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    type: filter\n"
                   "    column: age\n",
                   "rules.yml:3: the rules of table \"users\" must be a list, "
                   "not a mapping");
    expect_problem("tables:\n  users:\n",
                   "rules.yml:2: the rules of table \"users\" must be a list, "
                   "not null");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - exclude_column\n",
                   "rules.yml:3: a rule must be a mapping (type, column, "
                   "parameters), not a single value");
    expect_problem("tables:\n  .users: []\n",
                   "rules.yml:2: table \".users\" must be a table name, "
                   "schema.table or \"*\"");
    expect_problem("tables:\n  \"app.\": []\n",
                   "rules.yml:2: table \"app.\" must be a table name, "
                   "schema.table or \"*\"");
    expect_problem("tables:\n  \"\": []\n",
                   "rules.yml:2: table \"\" must be a table name, "
                   "schema.table or \"*\"");
}

static void test_err_rule_type(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: mask\n"
                   "      column: email\n",
                   "rules.yml:3: unknown rule type \"mask\" (known: "
                   "transform, filter, exclude_column, rename, default, set, "
                   "concat, copy, uuid, timestamp)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - column: email\n",
                   "rules.yml:3: a rule needs type, one of: transform, "
                   "filter, exclude_column, rename, default, set, concat, "
                   "copy, uuid, timestamp");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: [filter]\n",
                   "rules.yml:3: a rule needs type, one of: transform, "
                   "filter, exclude_column, rename, default, set, concat, "
                   "copy, uuid, timestamp");
}

static void test_err_column(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      parameters: {operator: eq, value: 1}\n",
                   "rules.yml:3: a filter rule needs column");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: [a, b]\n"
                   "      parameters: {type: mask, mask_char: '*'}\n",
                   "rules.yml:4: column must be a single value, not a list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: uuid\n"
                   "      column: \"\"\n",
                   "rules.yml:4: column must not be empty");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n",
                   "rules.yml:3: an exclude_column rule needs column");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      columns: [b]\n",
                   "rules.yml:5: an exclude_column rule takes column or "
                   "columns, not both");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      columns: []\n",
                   "rules.yml:4: columns must be a column name or a list of "
                   "them, not an empty list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: [a, {b: c}]\n",
                   "rules.yml:4: items of column must be column names, not "
                   "a mapping");
}

static void test_err_unknown_keys(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      colum: age\n"
                   "      column: age\n"
                   "      parameters: {operator: eq, value: 1}\n",
                   "rules.yml:4: unknown key \"colum\" in a filter rule "
                   "(known: type, column, parameters, operations, "
                   "allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      only: b\n",
                   "rules.yml:5: unknown key \"only\" in an exclude_column "
                   "rule (known: type, column, columns, parameters, "
                   "operations, allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: mask\n"
                   "        mask_char: '*'\n"
                   "        pattern: x\n",
                   "rules.yml:8: unknown key \"pattern\" in parameters of a "
                   "mask transform (known: type, mask_char, operations, "
                   "allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: phone\n"
                   "      parameters:\n"
                   "        type: regex\n"
                   "        pattern: x\n"
                   "        replacement: y\n",
                   "rules.yml:8: unknown key \"replacement\" in parameters of "
                   "a regex transform (known: type, pattern, replace, "
                   "operations, allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: age\n"
                   "      parameters:\n"
                   "        operator: in\n"
                   "        values: [1, 2]\n",
                   "rules.yml:7: unknown key \"values\" in parameters of a "
                   "filter \"in\" (known: operator, value, operations, "
                   "allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: rename\n"
                   "      column: a\n"
                   "      parameters: {too: b, to: c}\n",
                   "rules.yml:5: unknown key \"too\" in parameters of a "
                   "rename rule (known: to, operations, "
                   "allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: uuid\n"
                   "      column: a\n"
                   "      parameters: {version: 7}\n",
                   "rules.yml:5: unknown key \"version\" in parameters of a "
                   "uuid rule (known: operations, allow_empty_deletes)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: a\n"
                   "      parameters: [operator, eq]\n",
                   "rules.yml:5: parameters must be a mapping, not a list");
}

static void test_err_missing_params(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        const char *want;
    } cases[] = {
        {"{type: transform, column: a}",
         "a transform needs parameters.type (mask or regex)"},
        {"{type: transform, column: a, parameters: {type: mask}}",
         "a mask transform needs parameters.mask_char"},
        {"{type: transform, column: a, parameters: {type: regex, "
         "replace: x}}",
         "a regex transform needs parameters.pattern"},
        {"{type: transform, column: a, parameters: {type: regex, "
         "pattern: x}}",
         "a regex transform needs parameters.replace"},
        {"{type: filter, column: a}", "a filter needs parameters.operator"},
        {"{type: filter, column: a, parameters: {operator: gte}}",
         "a filter \"gte\" needs parameters.value"},
        {"{type: filter, column: a, parameters: {operator: regex}}",
         "a filter \"regex\" needs parameters.pattern"},
        {"{type: rename, column: a}", "a rename rule needs parameters.to"},
        {"{type: copy, column: a, parameters: {}}",
         "a copy rule needs parameters.to"},
        {"{type: default, column: a}", "a default rule needs parameters.value"},
        {"{type: set, column: a}",
         "a set rule needs parameters.value (null for SQL NULL)"},
        {"{type: concat, column: a}", "a concat rule needs parameters.columns"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        char yaml[256];
        char want[256];
        snprintf(yaml, sizeof(yaml), "tables:\n  users:\n    - %s\n",
                 cases[i].rule);
        snprintf(want, sizeof(want), "rules.yml:3: %s", cases[i].want);
        expect_problem(yaml, want);
        assert_int_equal(count_lines(), 1);
    }
}

static void test_err_transform_type(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: hash\n",
                   "rules.yml:6: unknown transform type \"hash\" (known: "
                   "mask, regex)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: mask\n"
                   "        mask_char: \"\"\n",
                   "rules.yml:7: parameters.mask_char must not be empty");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: mask\n"
                   "        mask_char:\n",
                   "rules.yml:7: parameters.mask_char must not be empty");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: mask\n"
                   "        mask_char: ['*']\n",
                   "rules.yml:7: parameters.mask_char must be a single value, "
                   "not a list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: email\n"
                   "      parameters:\n"
                   "        type: regex\n"
                   "        pattern: a\n"
                   "        replace:\n",
                   "rules.yml:8: parameters.replace must not be empty (write "
                   "\"\" for an empty string)");
}

static void test_err_operator(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: age\n"
                   "      parameters:\n"
                   "        operator: between\n"
                   "        value: 1\n",
                   "rules.yml:6: unknown filter operator \"between\" (known: "
                   "eq, ne, gt, lt, gte, lte, contains, regex, in, not_in, "
                   "is_null, is_not_null)");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: age\n"
                   "      parameters:\n"
                   "        operator: is_null\n"
                   "        value: 1\n",
                   "rules.yml:7: operator \"is_null\" takes no value");
    assert_int_equal(count_lines(), 1);
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: age\n"
                   "      parameters:\n"
                   "        operator: is_not_null\n"
                   "        pattern: x\n"
                   "        other: 1\n",
                   "rules.yml:7: operator \"is_not_null\" takes no pattern");
    assert_true(has_line("rules.yml:8: unknown key \"other\" in parameters of "
                         "a filter \"is_not_null\" (known: operator, "
                         "operations, allow_empty_deletes)"));
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: name\n"
                   "      parameters:\n"
                   "        operator: regex\n"
                   "        value: a\n"
                   "        pattern: b\n",
                   "rules.yml:8: a filter \"regex\" takes its pattern in "
                   "value or in pattern, not both");
}

static void test_err_bad_regex(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: transform\n"
                   "      column: phone\n"
                   "      parameters:\n"
                   "        type: regex\n"
                   "        pattern: \"(a\"\n"
                   "        replace: x\n",
                   "rules.yml:7: invalid regex \"(a\": missing closing "
                   "parenthesis at offset 2");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: filter\n"
                   "      column: name\n"
                   "      parameters: {operator: regex, value: \"[a-\"}\n",
                   "rules.yml:5: invalid regex \"[a-\": missing terminating ] "
                   "for character class at offset 3");
}

static void test_err_replace_groups(void **state)
{
    (void)state;
    static const struct {
        const char *replace;
        const char *want;
    } bad[] = {
        {"($1) $4", "replacement \"($1) $4\" refers to group 4, but the "
                    "pattern has 3 groups"},
        {"${12}", "replacement \"${12}\" refers to group 12, but the pattern "
                  "has 3 groups"},
        {"${area}", "replacement \"${area}\" refers to group \"area\", which "
                    "the pattern does not have"},
        {"$zip-", "replacement \"$zip-\" refers to group \"zip\", which the "
                  "pattern does not have"},
        {"cost: 5$", "invalid replacement \"cost: 5$\": \"$\" at offset 7 is "
                     "not followed by a group number, a group name or \"$\" "
                     "(write \"$$\" for a dollar sign)"},
        {"${1", "invalid replacement \"${1\": \"${\" at offset 0 has no "
                "closing \"}\""},
    };
    for (size_t i = 0; i < NELEMS(bad); i++) {
        char yaml[512];
        char want[512];
        snprintf(yaml, sizeof(yaml),
                 "tables:\n"
                 "  users:\n"
                 "    - type: transform\n"
                 "      column: phone\n"
                 "      parameters:\n"
                 "        type: regex\n"
                 "        pattern: '(\\d{3})(\\d{3})(\\d{4})'\n"
                 "        replace: '%s'\n",
                 bad[i].replace);
        snprintf(want, sizeof(want), "rules.yml:8: %s", bad[i].want);
        expect_problem(yaml, want);
    }
    /* the same syntax, rightly used, loads */
    load("tables:\n"
         "  users:\n"
         "    - type: transform\n"
         "      column: phone\n"
         "      parameters:\n"
         "        type: regex\n"
         "        pattern: '(?<area>\\d{3})(\\d{3})(\\d{4})'\n"
         "        replace: '$$ ${area} $area ${1}${2}$3 $0'\n");
    struct cdc_col cols[] = {C("phone", "text", "1234567890")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "phone", "text", "$ 123 123 1234567890 1234567890");
}

static void test_err_values(void **state)
{
    (void)state;
    static const struct {
        const char *params;
        const char *want;
    } cases[] = {
        {"{operator: eq, value: [1, 2]}",
         "parameters.value of a filter \"eq\" must be a single value, not a "
         "list (use in)"},
        {"{operator: gt, value: {a: 1}}",
         "parameters.value of a filter \"gt\" must be a single value, not a "
         "mapping"},
        {"{operator: eq, value: null}",
         "parameters.value of a filter \"eq\" is null, which nothing matches "
         "(use is_null or is_not_null)"},
        {"{operator: ne, value: ~}",
         "parameters.value of a filter \"ne\" is null, which nothing matches "
         "(use is_null or is_not_null)"},
        {"{operator: in, value: 3}",
         "parameters.value of a filter \"in\" must be a non-empty list of "
         "values, not a single value"},
        {"{operator: not_in, value: []}",
         "parameters.value of a filter \"not_in\" must be a non-empty list "
         "of values, not an empty list"},
        {"{operator: in, value: [1, null]}",
         "items of parameters.value must be single values, not null (use "
         "is_null)"},
        {"{operator: in, value: [1, [2]]}",
         "items of parameters.value must be single values, not a list"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        char yaml[256];
        char want[256];
        snprintf(yaml, sizeof(yaml),
                 "tables:\n"
                 "  users:\n"
                 "    - type: filter\n"
                 "      column: age\n"
                 "      parameters: %s\n",
                 cases[i].params);
        snprintf(want, sizeof(want), "rules.yml:5: %s", cases[i].want);
        expect_problem(yaml, want);
    }
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: default\n"
                   "      column: a\n"
                   "      parameters: {value: null}\n",
                   "rules.yml:5: parameters.value of a default rule is null, "
                   "which changes nothing");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: set\n"
                   "      column: a\n"
                   "      parameters: {value: [1]}\n",
                   "rules.yml:5: parameters.value must be a single value, "
                   "not a list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: concat\n"
                   "      column: a\n"
                   "      parameters: {columns: b}\n",
                   "rules.yml:5: parameters.columns must be a list of column "
                   "names, not a single value");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: concat\n"
                   "      column: a\n"
                   "      parameters: {columns: [], separator: ' '}\n",
                   "rules.yml:5: parameters.columns must be a column name or "
                   "a list of them, not an empty list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: timestamp\n"
                   "      column: a\n"
                   "      parameters: {value: yesterday}\n",
                   "rules.yml:5: parameters.value of a timestamp rule must be "
                   "now or commit_time, not \"yesterday\"");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: default\n"
                   "      column: a\n"
                   "      parameters: {value: 1, type: [int4]}\n",
                   "rules.yml:5: parameters.type must be a single value, not "
                   "a list");
}

static void test_err_allow_empty_deletes(void **state)
{
    (void)state;
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      allow_empty_deletes: maybe\n",
                   "rules.yml:5: allow_empty_deletes must be true or false, "
                   "not \"maybe\"");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      parameters:\n"
                   "        allow_empty_deletes: \"true\"\n",
                   "rules.yml:6: allow_empty_deletes must be true or false, "
                   "not \"true\"");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      allow_empty_deletes: [true]\n",
                   "rules.yml:5: allow_empty_deletes must be true or false, "
                   "not a list");
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      allow_empty_deletes: true\n"
                   "      parameters:\n"
                   "        allow_empty_deletes: false\n",
                   "rules.yml:7: allow_empty_deletes is given beside type and "
                   "in parameters with different values (give it once)");
}

static void test_err_operations(void **state)
{
    (void)state;
    static const struct {
        const char *ops;
        const char *want;
    } cases[] = {
        {"[INSERT, UPSERT]", "unknown operation \"UPSERT\" in operations "
                             "(known: INSERT, UPDATE, DELETE, COPY)"},
        {"[TRUNCATE]", "rules apply to row changes only: \"TRUNCATE\" cannot "
                       "be selected in operations (known: INSERT, UPDATE, "
                       "DELETE, COPY)"},
        {"ddl", "rules apply to row changes only: \"ddl\" cannot be selected "
                "in operations (known: INSERT, UPDATE, DELETE, COPY)"},
        {"[]", "operations must not be empty (leave it out to select every "
               "row change)"},
        {"{INSERT: true}", "operations must be a list of INSERT, UPDATE, "
                           "DELETE, COPY, not a mapping"},
        {"[[INSERT]]", "items of operations must be operation names, not a "
                       "list"},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        char yaml[256];
        char want[256];
        snprintf(yaml, sizeof(yaml),
                 "tables:\n"
                 "  users:\n"
                 "    - type: exclude_column\n"
                 "      column: a\n"
                 "      operations: %s\n",
                 cases[i].ops);
        snprintf(want, sizeof(want), "rules.yml:5: %s", cases[i].want);
        expect_problem(yaml, want);
    }
    expect_problem("tables:\n"
                   "  users:\n"
                   "    - type: exclude_column\n"
                   "      column: a\n"
                   "      operations: [INSERT]\n"
                   "      parameters:\n"
                   "        operations: [INSERT, UPDATE]\n",
                   "rules.yml:7: operations is given beside type and in "
                   "parameters with different values (give it once)");
    /* the same list in both places, in any order or case, is fine */
    load("tables:\n"
         "  users:\n"
         "    - type: exclude_column\n"
         "      column: a\n"
         "      operations: [update, INSERT]\n"
         "      parameters:\n"
         "        operations: [Insert, Update, insert]\n");
    assert_int_equal(rules_count(fx.rs), 1);
}

static void test_err_all_reported(void **state)
{
    (void)state;
    load_bad("tables:\n"
             "  users:\n"
             "    - type: frobnicate\n"
             "      column: a\n"
             "    - type: filter\n"
             "      column: age\n"
             "      parameters: {operator: gte}\n"
             "  orders:\n"
             "    - type: transform\n"
             "      column: x\n"
             "      parameters: {type: regex, pattern: \"(\", replace: y}\n"
             "    - type: rename\n"
             "      column: a\n"
             "      parameters: {to: b}\n");
    assert_int_equal(count_lines(), 3);
    assert_true(has_line("rules.yml:3: unknown rule type \"frobnicate\" "
                         "(known: transform, filter, exclude_column, rename, "
                         "default, set, concat, copy, uuid, timestamp)"));
    assert_true(
        has_line("rules.yml:7: a filter \"gte\" needs parameters.value"));
    assert_true(has_line("rules.yml:11: invalid regex \"(\": missing closing "
                         "parenthesis at offset 1"));
    /* the first problem is also the error */
    const char *nl = strchr(fx.problems.data, '\n');
    assert_non_null(nl);
    assert_int_equal(strlen(fx.err.msg), (size_t)(nl - fx.problems.data));
    assert_memory_equal(fx.err.msg, fx.problems.data, strlen(fx.err.msg));
    assert_int_equal(fx.err.flags, 0);
}

/* ==== pg_flo's scenarios ==== */

/* pg_flo's internal/scripts/rules.yml, as its e2e test uses it:
 * allow_empty_deletes and operations written where pg_flo writes them. */
static const char pgflo_rules_yml[] =
    "tables:\n"
    "  users:\n"
    "    - type: transform\n"
    "      column: email\n"
    "      parameters:\n"
    "        type: mask\n"
    "        mask_char: \"*\"\n"
    "        allow_empty_deletes: true\n"
    "      operations: [INSERT, UPDATE, DELETE]\n"
    "    - type: transform\n"
    "      column: phone\n"
    "      parameters:\n"
    "        type: regex\n"
    "        pattern: \"^(\\\\d{3})(\\\\d{3})(\\\\d{4})$\"\n"
    "        replace: \"($1) $2-$3\"\n"
    "        allow_empty_deletes: true\n"
    "      operations: [INSERT, UPDATE, DELETE]\n"
    "    - type: filter\n"
    "      column: age\n"
    "      parameters:\n"
    "        operator: gte\n"
    "        value: 18\n"
    "        allow_empty_deletes: true\n"
    "      operations: [INSERT, UPDATE, DELETE]\n"
    "    - type: transform\n"
    "      column: ssn\n"
    "      parameters:\n"
    "        type: mask\n"
    "        mask_char: \"X\"\n"
    "        allow_empty_deletes: true\n"
    "      operations: [INSERT, UPDATE, DELETE]\n";

static struct cdc_event user_insert(struct cdc_col *cols, const char *id,
                                    const char *email, const char *phone,
                                    const char *age, const char *ssn)
{
    cols[0] = C("id", "int4", id);
    cols[1] = C("email", "text", email);
    cols[2] = C("phone", "text", phone);
    cols[3] = C("age", "int4", age);
    cols[4] = C("ssn", "text", ssn);
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    ev.cols = cols;
    ev.ncols = 5;
    return ev;
}

static void test_pgflo_transform_filter(void **state)
{
    (void)state;
    load(pgflo_rules_yml);
    assert_int_equal(rules_count(fx.rs), 4);
    struct cdc_col john[5], jane[5], bob[5];
    struct cdc_event ev1 = user_insert(john, "1", "john@example.com",
                                       "1234567890", "25", "123-45-6789");
    struct cdc_event ev2 = user_insert(jane, "2", "jane@example.com",
                                       "0987654321", "17", "987-65-4321");
    struct cdc_event ev3 = user_insert(bob, "3", "bob@example.com",
                                       "5555555555", "30", "555-55-5555");
    expect_keep(&ev1);
    expect_drop(&ev2);
    expect_keep(&ev3);
    EXPECT_NEW(ev1, "email", "text", "j**************m");
    EXPECT_NEW(ev1, "phone", "text", "(123) 456-7890");
    EXPECT_NEW(ev1, "ssn", "text", "1XXXXXXXXX9");
    EXPECT_NEW(ev1, "age", "int4", "25");
    EXPECT_NEW(ev3, "phone", "text", "(555) 555-5555");

    /* UPDATE users SET email = ..., phone = ... WHERE id = 1 */
    struct cdc_col upd[] = {
        C("id", "int4", "1"),
        C("email", "text", "updated@example.com"),
        C("phone", "text", "9876543210"),
        C("age", "int4", "25"),
        C("ssn", "text", "123-45-6789"),
    };
    struct cdc_col key1[] = {C("id", "int4", "1")};
    const char *key[] = {"id"};
    struct cdc_event ev4 = change(CDC_OP_UPDATE, "public", "users");
    SET_NEW(ev4, upd);
    SET_OLD(ev4, key1);
    ev4.key = key;
    ev4.nkey = 1;
    expect_keep(&ev4);
    EXPECT_NEW(ev4, "email", "text", "u*****************m");
    EXPECT_NEW(ev4, "phone", "text", "(987) 654-3210");
    EXPECT_OLD(ev4, "id", "int4", "1");

    /* DELETE ... WHERE age = 30, then age = 17: old rows are keys only */
    struct cdc_col key3[] = {C("id", "int4", "3")};
    struct cdc_col key2[] = {C("id", "int4", "2")};
    struct cdc_event ev5 = change(CDC_OP_DELETE, "public", "users");
    SET_OLD(ev5, key3);
    struct cdc_event ev6 = change(CDC_OP_DELETE, "public", "users");
    SET_OLD(ev6, key2);
    expect_keep(&ev5);
    expect_keep(&ev6);
    assert_ptr_equal(ev5.old, key3);
    assert_ptr_equal(ev6.old, key2);
}

static void test_pgflo_multi_tenant(void **state)
{
    (void)state;
    load("tables:\n"
         "  events:\n"
         "    - type: filter\n"
         "      column: tenant_id\n"
         "      parameters:\n"
         "        operator: eq\n"
         "        value: 3\n");
    static const char *const tenants[] = {"1", "2", "3", "3", "4", "3"};
    size_t kept = 0;
    for (size_t i = 0; i < NELEMS(tenants); i++) {
        struct cdc_col cols[] = {C("id", "int8", "1"),
                                 C("tenant_id", "int4", tenants[i]),
                                 C("payload", "jsonb", "{}")};
        struct cdc_event ev = change(CDC_OP_INSERT, "public", "events");
        SET_NEW(ev, cols);
        int rc = apply(&ev);
        assert_true(rc == RULES_KEEP || rc == RULES_DROP);
        kept += rc == RULES_KEEP;
        assert_int_equal(rc == RULES_KEEP, strcmp(tenants[i], "3") == 0);
    }
    assert_int_equal(kept, 3);
}

/* ==== Transforms ==== */

static void load_mask(const char *column, const char *mask)
{
    char yaml[256];
    snprintf(yaml, sizeof(yaml),
             "tables:\n"
             "  users:\n"
             "    - type: transform\n"
             "      column: %s\n"
             "      parameters:\n"
             "        type: mask\n"
             "        mask_char: \"%s\"\n",
             column, mask);
    load(yaml);
}

static void expect_masked(const char *type, const char *in, const char *out)
{
    struct cdc_col cols[] = {C("id", "int4", "1"), C("v", type, in)};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "v", type, out);
    assert_string_equal(cols[1].value, in); /* the source is untouched */
}

/* What pcre2_substitute makes of subject with the global, unset-empty
 * options: the reference the transform must agree with. */
static void reference_substitute(const char *pattern, const char *replace,
                                 const char *subject, char *out, size_t outsz)
{
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                                   &errcode, &erroff, NULL);
    assert_non_null(re);
    PCRE2_SIZE olen = outsz;
    int rc = pcre2_substitute(
        re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0,
        PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_UNSET_EMPTY, NULL, NULL,
        (PCRE2_SPTR)replace, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out, &olen);
    pcre2_code_free(re);
    assert_true(rc >= 0);
    if (rc == 0)
        snprintf(out, outsz, "%s", subject);
}

/* The transform reads its replacement once at load and runs its own match
 * loop: it must give what pcre2_substitute gives, empty matches, unset
 * groups, named groups, "$$" and UTF-8 included. */
static void test_regex_matches_pcre2(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *replace;
    } cases[] = {
        {"^(\\d{3})(\\d{3})(\\d{4})$", "($1) $2-$3"},
        {"x*", "-"},
        {"(?:)", "<>"},
        {"a|(b)", "[$1]"},
        {"(?<word>\\w+)", "${word}!"},
        {"\\d", "$$"},
        {"(a)(b)?", "$2$1${2}"},
        {"\u00e9", "e"},
        {"(?=b)", "^"},
        {"\\b", "|"},
        {".", "$0$0"},
        {"o", ""},
    };
    static const char *const subjects[] = {
        "1234567890",  "",
        "abc",         "aab",
        "hello world", "caf\u00e9 \u00e9t\u00e9",
        "a1b22c333",   "bob",
        "foo",         "\u00e9",
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "tables:\n"
                 "  t:\n"
                 "    - type: transform\n"
                 "      column: v\n"
                 "      parameters:\n"
                 "        type: regex\n"
                 "        pattern: '%s'\n"
                 "        replace: '%s'\n",
                 cases[i].pattern, cases[i].replace);
        load(yaml);
        for (size_t j = 0; j < NELEMS(subjects); j++) {
            char want[512];
            reference_substitute(cases[i].pattern, cases[i].replace,
                                 subjects[j], want, sizeof(want));
            struct cdc_col cols[] = {C("v", "text", subjects[j])};
            struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
            SET_NEW(ev, cols);
            expect_keep(&ev);
            if (strcmp(ev.cols[0].value, want) != 0 ||
                ev.cols[0].value_len != strlen(want))
                fail_msg("pattern \"%s\" replace \"%s\" on \"%s\": got "
                         "\"%s\", pcre2_substitute gives \"%s\"",
                         cases[i].pattern, cases[i].replace, subjects[j],
                         ev.cols[0].value, want);
        }
    }
}

static void test_mask(void **state)
{
    (void)state;
    load_mask("v", "*");
    expect_masked("text", "john@example.com", "j**************m");
    expect_masked("varchar", "1234567890123456", "1**************6");
    expect_masked("text", "abc", "a*c");
    expect_masked("text", "ab", "ab");
    expect_masked("text", "a", "a");
    expect_masked("text", "", "");
    /* characters, not bytes */
    expect_masked("text", "Zo\xc3\xab \xc3\x9cnal", "Z******l");
    expect_masked("text", "\xc3\xa9t\xc3\xa9", "\xc3\xa9*\xc3\xa9");
    /* any type: the result is text, the type name stays */
    expect_masked("int4", "12345", "1***5");
    expect_masked("uuid", "a0eebc99", "a******9");

    load_mask("v", "X");
    expect_masked("text", "123456789", "1XXXXXXX9");
    expect_masked("text", "123-45-6789", "1XXXXXXXXX9");
    load_mask("v", "<>");
    expect_masked("text", "abcd", "a<><>d");
    load_mask("v", "\xe2\x80\xa2"); /* a bullet, three bytes */
    expect_masked("text", "secret",
                  "s\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
                  "\xe2\x80\xa2t");
}

static void test_mask_null_and_missing(void **state)
{
    (void)state;
    load_mask("email", "*");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("email", "text", NULL)};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    SET_NEW(ev, cols);
    size_t used = fx.arena.used_total;
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, cols);
    assert_int_equal(fx.arena.used_total, used);
    EXPECT_NEW(ev, "email", "text", NULL);

    struct cdc_col other[] = {C("id", "int4", "1")};
    SET_NEW(ev, other);
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, other);
    assert_int_equal(fx.arena.used_total, used);
}

static void load_phone_regex(void)
{
    load("tables:\n"
         "  users:\n"
         "    - type: transform\n"
         "      column: phone\n"
         "      parameters:\n"
         "        type: regex\n"
         "        pattern: \"^(\\\\d{3})(\\\\d{3})(\\\\d{4})$\"\n"
         "        replace: \"($1) $2-$3\"\n");
}

static void test_regex_phone(void **state)
{
    (void)state;
    load_phone_regex();
    struct cdc_col cols[] = {C("phone", "text", "1234567890")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "phone", "text", "(123) 456-7890");
    assert_string_equal(cols[0].value, "1234567890");

    /* no match: the value stays as it is, nothing is copied */
    struct cdc_col odd[] = {C("phone", "text", "+44 20 7946 0958")};
    SET_NEW(ev, odd);
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, odd);
    EXPECT_NEW(ev, "phone", "text", "+44 20 7946 0958");

    /* NULL stays NULL */
    struct cdc_col null[] = {C("phone", "text", NULL)};
    SET_NEW(ev, null);
    expect_keep(&ev);
    EXPECT_NEW(ev, "phone", "text", NULL);
}

static void test_regex_global_and_types(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: v\n"
         "      parameters: {type: regex, pattern: o, replace: \"0\"}\n"
         "    - type: transform\n"
         "      column: n\n"
         "      parameters: {type: regex, pattern: '\\d', replace: '#'}\n"
         "    - type: transform\n"
         "      column: e\n"
         "      parameters: {type: regex, pattern: '^.*$', replace: ''}\n");
    struct cdc_col cols[] = {C("v", "text", "foo boo"),
                             C("n", "numeric", "12.50"),
                             C("e", "text", "gone")};
    struct cdc_event ev = change(CDC_OP_INSERT, "s", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "v", "text", "f00 b00");
    EXPECT_NEW(ev, "n", "numeric", "##.##");
    EXPECT_NEW(ev, "e", "text", "");
}

static void test_regex_large_result(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: v\n"
         "      parameters: {type: regex, pattern: '(.)', replace: "
         "'[$1$1$1$1$1$1$1$1]'}\n");
    enum { N = 3000 };
    char *in = cdc_arena_alloc(&fx.arena, N + 1);
    memset(in, 'a', N);
    in[N] = '\0';
    struct cdc_col cols[] = {C("v", "text", in)};
    struct cdc_event ev = change(CDC_OP_INSERT, "s", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    assert_int_equal(ev.cols[0].value_len, (size_t)N * 10);
    assert_int_equal(strlen(ev.cols[0].value), (size_t)N * 10);
    assert_memory_equal(ev.cols[0].value, "[aaaaaaaa][aaaaaaaa]", 20);
    /* and a second, small one reuses the scratch space */
    struct cdc_col small[] = {C("v", "text", "xy")};
    SET_NEW(ev, small);
    expect_keep(&ev);
    EXPECT_NEW(ev, "v", "text", "[xxxxxxxx][yyyyyyyy]");
}

static void test_regex_invalid_utf8(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: v\n"
         "      parameters: {type: regex, pattern: a, replace: '<$0>'}\n"
         "    - type: filter\n"
         "      column: v\n"
         "      parameters: {operator: regex, value: 'b'}\n");
    struct cdc_col cols[] = {C("v", "bytea",
                               "b\xff"
                               "a\xc3")};
    struct cdc_event ev = change(CDC_OP_INSERT, "s", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "v", "bytea", "b\xff<a>\xc3");
}

static void test_transform_update_and_delete_rows(void **state)
{
    (void)state;
    load_mask("email", "*");
    /* UPDATE: the old row is masked too when it carries the column */
    struct cdc_col cols[] = {C("id", "int4", "1"),
                             C("email", "text", "new@example.com")};
    struct cdc_col old[] = {C("id", "int4", "1"),
                            C("email", "text", "old@example.com")};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "users");
    SET_NEW(ev, cols);
    SET_OLD(ev, old);
    expect_keep(&ev);
    EXPECT_NEW(ev, "email", "text", "n*************m");
    EXPECT_OLD(ev, "email", "text", "o*************m");
    assert_string_equal(old[1].value, "old@example.com");

    /* UPDATE with a key-only old row: the key is left alone */
    struct cdc_col key[] = {C("id", "int4", "1")};
    SET_NEW(ev, cols);
    SET_OLD(ev, key);
    expect_keep(&ev);
    assert_ptr_equal(ev.old, key);

    /* DELETE: the rule looks at the old row */
    struct cdc_event del = change(CDC_OP_DELETE, "public", "users");
    SET_OLD(del, old);
    expect_keep(&del);
    EXPECT_OLD(del, "email", "text", "o*************m");
    assert_null(del.cols);
}

static void test_regex_old_rows(void **state)
{
    (void)state;
    load_phone_regex();
    struct cdc_col cols[] = {C("id", "int4", "1"),
                             C("phone", "text", "1112223333")};
    struct cdc_col old[] = {C("id", "int4", "1"),
                            C("phone", "text", "4445556666")};
    struct cdc_event upd = change(CDC_OP_UPDATE, "public", "users");
    SET_NEW(upd, cols);
    SET_OLD(upd, old);
    expect_keep(&upd);
    EXPECT_NEW(upd, "phone", "text", "(111) 222-3333");
    EXPECT_OLD(upd, "phone", "text", "(444) 555-6666");
    struct cdc_event del = change(CDC_OP_DELETE, "public", "users");
    SET_OLD(del, old);
    expect_keep(&del);
    EXPECT_OLD(del, "phone", "text", "(444) 555-6666");
    assert_string_equal(old[1].value, "4445556666");
}

static void test_transform_unchanged_toast(void **state)
{
    (void)state;
    load_mask("doc", "*");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("n", "int4", "2")};
    const char *unchanged[] = {"doc"};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "users");
    SET_NEW(ev, cols);
    ev.unchanged = unchanged;
    ev.nunchanged = 1;
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, cols);
    assert_int_equal(ev.ncols, 2);
    assert_ptr_equal(ev.unchanged, unchanged);
    NO_NEW(ev, "doc");
}

/* ==== Filters ==== */

static void load_filter(const char *column, const char *op, const char *value)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "tables:\n"
             "  t:\n"
             "    - type: filter\n"
             "      column: %s\n"
             "      parameters:\n"
             "        operator: %s\n"
             "%s%s%s",
             column, op, value != NULL ? "        value: " : "",
             value != NULL ? value : "", value != NULL ? "\n" : "");
    load(yaml);
}

/* Whether an INSERT with column v of that type and value passes. */
static bool passes(const char *type, const char *value)
{
    struct cdc_col cols[] = {C("id", "int4", "1"), C("v", type, value)};
    struct cdc_event ev = change(CDC_OP_INSERT, "s", "t");
    SET_NEW(ev, cols);
    int rc = apply(&ev);
    if (rc < 0)
        fail_msg("filter failed: %s", fx.err.msg);
    assert_ptr_equal(ev.cols, cols); /* filters change nothing */
    return rc == RULES_KEEP;
}

static void test_filter_numbers(void **state)
{
    (void)state;
    /* every ordering operator against 18 */
    static const struct {
        const char *op;
        bool lt, eq, gt; /* passes for 17, 18, 19 */
    } ops[] = {
        {"eq", false, true, false}, {"ne", true, false, true},
        {"gt", false, false, true}, {"lt", true, false, false},
        {"gte", false, true, true}, {"lte", true, true, false},
    };
    for (size_t i = 0; i < NELEMS(ops); i++) {
        load_filter("v", ops[i].op, "18");
        assert_int_equal(passes("int4", "17"), ops[i].lt);
        assert_int_equal(passes("int4", "18"), ops[i].eq);
        assert_int_equal(passes("int4", "19"), ops[i].gt);
        assert_int_equal(passes("int8", "-100"), ops[i].lt);
        assert_int_equal(passes("numeric", "18.000"), ops[i].eq);
        assert_int_equal(passes("float8", "1.8e1"), ops[i].eq);
        assert_int_equal(passes("integer", "100"), ops[i].gt);
    }
    /* numbers as numbers, not as text: 999.99 < 1000 */
    load_filter("v", "lt", "1000");
    assert_true(passes("numeric", "999.99"));
    assert_false(passes("numeric", "1000.00"));
    /* the rule's value as written: 100.0 equals 100 */
    load_filter("v", "eq", "100.0");
    assert_true(passes("int4", "100"));
    assert_true(passes("numeric", "100.00"));
    load_filter("v", "gte", "-1.5");
    assert_true(passes("float4", "-1.5"));
    assert_false(passes("float4", "-1.50001"));
}

static void test_filter_instants(void **state)
{
    (void)state;
    load_filter("v", "eq", "\"2024-01-01T10:00:00Z\"");
    assert_true(passes("timestamptz", "2024-01-01 12:00:00+02"));
    assert_true(passes("timestamptz", "2024-01-01 05:00:00-05"));
    assert_false(passes("timestamptz", "2024-01-01 10:00:00+01"));
    assert_true(passes("timestamp", "2024-01-01 10:00:00"));
    load_filter("v", "gt", "\"2024-01-01 00:00:00+00\"");
    assert_true(passes("timestamptz", "2024-01-01 00:30:00+00"));
    assert_false(passes("timestamptz", "2024-01-01 00:30:00+01"));
    assert_true(passes("timestamp with time zone", "2024-06-01 00:00:00+00"));
    load_filter("v", "lt", "2024-03-01");
    assert_true(passes("date", "2024-02-29"));
    assert_false(passes("date", "2024-03-01"));
    /* text keeps comparing as text */
    load_filter("v", "eq", "\"2024-01-01T10:00:00Z\"");
    assert_false(passes("text", "2024-01-01 12:00:00+02"));
}

static void test_filter_booleans(void **state)
{
    (void)state;
    load_filter("active", "eq", "true");
    struct cdc_col t[] = {C("active", "bool", "t")};
    struct cdc_col f[] = {C("active", "boolean", "f")};
    struct cdc_event ev = change(CDC_OP_INSERT, "s", "t");
    SET_NEW(ev, t);
    expect_keep(&ev);
    SET_NEW(ev, f);
    expect_drop(&ev);
    load_filter("active", "ne", "yes");
    SET_NEW(ev, t);
    expect_drop(&ev);
    SET_NEW(ev, f);
    expect_keep(&ev);
    load_filter("v", "eq", "off");
    assert_true(passes("bool", "false"));
    assert_false(passes("bool", "true"));
}

static void test_filter_uuid(void **state)
{
    (void)state;
    load_filter("v", "eq", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    assert_true(passes("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_false(passes("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"));
    /* text is bytewise: case matters */
    assert_false(passes("text", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    load_filter("v", "in",
                "[a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11, "
                "00000000-0000-0000-0000-000000000000]");
    assert_true(passes("uuid", "00000000-0000-0000-0000-000000000000"));
    assert_false(passes("uuid", "00000000-0000-0000-0000-000000000001"));
}

static void test_filter_text(void **state)
{
    (void)state;
    load_filter("v", "gt", "1000");
    /* bytewise, as pg_flo does for text: "999.99" > "1000" */
    assert_true(passes("text", "999.99"));
    assert_true(passes("varchar", "2"));
    assert_false(passes("text", "0999"));
    load_filter("v", "eq", "abc");
    assert_true(passes("text", "abc"));
    assert_false(passes("text", "ABC"));
    assert_false(passes("text", "abc "));
    assert_true(passes("jsonb", "abc"));
    load_filter("v", "lt", "\"b\"");
    assert_true(passes("text", "a\xc3\xa9"));
    assert_false(passes("text", "\xc3\xa9"));
}

static void test_filter_contains(void **state)
{
    (void)state;
    load_filter("v", "contains", "\"@example.com\"");
    assert_true(passes("text", "john@example.com"));
    assert_false(passes("text", "john@EXAMPLE.com"));
    assert_false(passes("text", "@example.co"));
    load_filter("v", "contains", "234");
    assert_true(passes("int4", "12345")); /* the text form of any type */
    assert_false(passes("int4", "1235"));
    load_filter("v", "contains", "\"\"");
    assert_true(passes("text", ""));
    assert_true(passes("text", "x"));
}

static void test_filter_regex(void **state)
{
    (void)state;
    load_filter("v", "regex", "'\\d{3}'");
    assert_true(passes("text", "abc123def"));
    assert_false(passes("text", "12-34"));
    load_filter("v", "REGEX", "'^a.c$'");
    assert_true(passes("text", "abc"));
    assert_false(passes("text", "xabc"));
    assert_true(passes("text", "a\xc3\xa9"
                               "c")); /* UTF-8: one character */
    load("tables:\n"
         "  t:\n"
         "    - type: filter\n"
         "      column: v\n"
         "      parameters: {operator: regex, pattern: '(?i)^admin'}\n");
    assert_true(passes("text", "Administrator"));
    assert_false(passes("text", "sysadmin"));
    assert_false(passes("int4", "123"));
}

static void test_filter_in(void **state)
{
    (void)state;
    load_filter("v", "in", "[1, 3.0, \"5\"]");
    assert_true(passes("int4", "1"));
    assert_true(passes("int4", "3"));
    assert_true(passes("numeric", "5.00"));
    assert_false(passes("int4", "2"));
    load_filter("v", "not_in", "[1, 3]");
    assert_false(passes("int4", "1"));
    assert_true(passes("int4", "2"));
    load_filter("v", "in", "[red, green]");
    assert_true(passes("text", "green"));
    assert_false(passes("text", "Green"));
    load_filter("v", "in", "[true]");
    assert_true(passes("bool", "t"));
    assert_false(passes("bool", "f"));
}

static void test_filter_null(void **state)
{
    (void)state;
    /* NULL never satisfies a comparison, ne and not_in included */
    static const char *const ops[][2] = {
        {"eq", "1"},          {"ne", "1"},           {"gt", "1"},
        {"lt", "1"},          {"gte", "1"},          {"lte", "1"},
        {"contains", "\"\""}, {"regex", "'.*'"},     {"in", "[1]"},
        {"not_in", "[1]"},    {"is_not_null", NULL},
    };
    for (size_t i = 0; i < NELEMS(ops); i++) {
        load_filter("v", ops[i][0], ops[i][1]);
        if (passes("int4", NULL))
            fail_msg("NULL passed operator %s", ops[i][0]);
    }
    load_filter("v", "is_null", NULL);
    assert_true(passes("int4", NULL));
    assert_false(passes("int4", "0"));
    assert_false(passes("text", ""));
    load_filter("v", "IS_NOT_NULL", NULL);
    assert_true(passes("text", ""));
    assert_true(passes("int4", "0"));
}

static void test_filter_operator_case(void **state)
{
    (void)state;
    load_filter("v", "GTE", "18");
    assert_true(passes("int4", "18"));
    assert_false(passes("int4", "17"));
    load_filter("v", "Eq", "x");
    assert_true(passes("text", "x"));
    load_filter("v", "Not_In", "[x]");
    assert_true(passes("text", "y"));
}

static void test_filter_poison_values(void **state)
{
    (void)state;
    /* the column's value cannot be read as its type */
    load_filter("age", "gt", "18");
    struct cdc_col bad[] = {C("age", "int4", "abc")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    ev.table = "t";
    SET_NEW(ev, bad);
    expect_poison(&ev, "column \"age\" of table \"public.t\"",
                  "\"abc\" is not a number");
    assert_int_equal(fx.err.code, CDC_EPROTO);

    /* the rule's value cannot be read as the column's type */
    load("tables:\n"
         "  t:\n"
         "    - type: filter\n"
         "      column: age\n"
         "      parameters:\n"
         "        operator: gt\n"
         "        value: abc\n");
    struct cdc_col good[] = {C("age", "int4", "20")};
    SET_NEW(ev, good);
    expect_poison(&ev, "column \"age\" of table \"public.t\"",
                  "value \"abc\" of the rule at line 3 is not a number, as "
                  "type \"int4\" needs");
    /* while a text column compares it as text */
    struct cdc_col text[] = {C("age", "text", "abd")};
    SET_NEW(ev, text);
    expect_keep(&ev);
    /* a table without a schema is named alone */
    ev.schema = NULL;
    SET_NEW(ev, good);
    expect_poison(&ev, "of table \"t\":", NULL);
    /* in: every item is read */
    load_filter("v", "in", "[1, two]");
    struct cdc_col v[] = {C("v", "int4", "5")};
    SET_NEW(ev, v);
    expect_poison(&ev, "value \"two\"", NULL);
}

static void test_filter_delete(void **state)
{
    (void)state;
    load_filter("age", "gte", "18");
    /* a key-only old row cannot be decided: never dropped in silence */
    struct cdc_col key[] = {C("id", "int4", "2")};
    struct cdc_event ev = change(CDC_OP_DELETE, "app", "t");
    SET_OLD(ev, key);
    expect_poison(&ev, "cannot filter column \"age\" of table \"app.t\"",
                  "allow_empty_deletes");
    assert_non_null(strstr(fx.err.msg, "REPLICA IDENTITY FULL"));

    /* a full old row (REPLICA IDENTITY FULL) is filtered by its values */
    struct cdc_col full17[] = {C("id", "int4", "2"), C("age", "int4", "17")};
    struct cdc_col full30[] = {C("id", "int4", "3"), C("age", "int4", "30")};
    SET_OLD(ev, full17);
    expect_drop(&ev);
    SET_OLD(ev, full30);
    expect_keep(&ev);

    /* allow_empty_deletes: deletes pass whatever they carry */
    load("tables:\n"
         "  t:\n"
         "    - type: filter\n"
         "      column: age\n"
         "      allow_empty_deletes: true\n"
         "      parameters: {operator: gte, value: 18}\n");
    SET_OLD(ev, key);
    expect_keep(&ev);
    SET_OLD(ev, full17);
    expect_keep(&ev);
}

static void test_filter_update_new_row(void **state)
{
    (void)state;
    load_filter("age", "gte", "18");
    struct cdc_col new20[] = {C("id", "int4", "1"), C("age", "int4", "20")};
    struct cdc_col old10[] = {C("id", "int4", "1"), C("age", "int4", "10")};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(ev, new20);
    SET_OLD(ev, old10);
    expect_keep(&ev);
    SET_NEW(ev, old10);
    SET_OLD(ev, new20);
    expect_drop(&ev);
}

static void test_filter_unchanged_toast(void **state)
{
    (void)state;
    load_filter("doc", "contains", "needle");
    const char *unchanged[] = {"doc"};
    struct cdc_col cols[] = {C("id", "int4", "1"), C("n", "int4", "5")};
    struct cdc_col full[] = {C("id", "int4", "1"),
                             C("doc", "text", "hay needle hay")};
    struct cdc_col full_no[] = {C("id", "int4", "1"),
                                C("doc", "text", "hay hay")};
    struct cdc_col key[] = {C("id", "int4", "1")};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(ev, cols);
    ev.unchanged = unchanged;
    ev.nunchanged = 1;
    /* the old row carries the value that did not change */
    SET_OLD(ev, full);
    expect_keep(&ev);
    SET_OLD(ev, full_no);
    expect_drop(&ev);
    /* nothing carries it: cannot be decided */
    SET_OLD(ev, key);
    expect_poison(&ev, "cannot filter column \"doc\" of table \"public.t\"",
                  "was not sent");
    assert_non_null(strstr(fx.err.msg, "REPLICA IDENTITY FULL"));
    ev.old = NULL;
    ev.nold = 0;
    expect_poison(&ev, "was not sent", NULL);
}

static void test_filter_missing_column(void **state)
{
    (void)state;
    load_filter("age", "gte", "18");
    struct cdc_col cols[] = {C("id", "int4", "1")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_poison(&ev,
                  "cannot filter column \"age\" of table \"public.t\": "
                  "the INSERT does not carry it",
                  NULL);
    ev.op = CDC_OP_COPY;
    expect_poison(&ev, "the COPY does not carry it", NULL);
}

static void test_filter_first_failure_stops(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: set, column: before, parameters: {value: x}}\n"
         "    - type: filter\n"
         "      column: age\n"
         "      parameters: {operator: gte, value: 18}\n"
         "    - type: filter\n"
         "      column: missing\n"
         "      parameters: {operator: eq, value: 1}\n");
    struct cdc_col cols[] = {C("age", "int4", "10")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    /* the second filter would be poison; the first one drops before it */
    expect_drop(&ev);
    struct cdc_col adult[] = {C("age", "int4", "40")};
    SET_NEW(ev, adult);
    expect_poison(&ev, "\"missing\"", NULL);
}

static void test_filter_after_exclude(void **state)
{
    (void)state;
    /* a filter on a column an earlier rule removed cannot be decided */
    load("tables:\n"
         "  \"*\":\n"
         "    - {type: exclude_column, column: age}\n"
         "  t:\n"
         "    - {type: filter, column: age, parameters: {operator: gt, "
         "value: 1}}\n");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("age", "int4", "30")};
    struct cdc_event ev = change(CDC_OP_INSERT, NULL, "t");
    SET_NEW(ev, cols);
    expect_poison(&ev, "cannot filter column \"age\" of table \"t\"",
                  "does not carry it");
    /* the shared array still has it, for the dead letter */
    assert_int_equal(NELEMS(cols), 2);
    assert_string_equal(cols[1].name, "age");
}

/* ==== Which changes a rule selects ==== */

static void test_operations_beside_type(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: filter\n"
         "      column: age\n"
         "      operations: [INSERT]\n"
         "      parameters: {operator: gte, value: 18}\n");
    struct cdc_col young[] = {C("id", "int4", "1"), C("age", "int4", "10")};
    struct cdc_event ins = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ins, young);
    expect_drop(&ins);
    struct cdc_event upd = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(upd, young);
    expect_keep(&upd);
    struct cdc_col key[] = {C("id", "int4", "1")};
    struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
    SET_OLD(del, key);
    expect_keep(&del); /* not selected, so not undecidable either */
}

static void test_operations_in_parameters(void **state)
{
    (void)state;
    /* pg_flo writes it inside parameters (and then ignores it); we honour
     * it there too, and a scalar is a list of one */
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: email\n"
         "      parameters:\n"
         "        type: mask\n"
         "        mask_char: '*'\n"
         "        operations: update\n");
    struct cdc_col cols[] = {C("email", "text", "abcd")};
    struct cdc_event ins = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ins, cols);
    expect_keep(&ins);
    EXPECT_NEW(ins, "email", "text", "abcd");
    struct cdc_event upd = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(upd, cols);
    expect_keep(&upd);
    EXPECT_NEW(upd, "email", "text", "a**d");
}

static void test_operations_copy(void **state)
{
    (void)state;
    static const struct {
        const char *ops;
        bool selects_copy;
    } cases[] = {
        {NULL, true},     {"[INSERT]", true},          {"[COPY]", true},
        {"[copy]", true}, {"[UPDATE, DELETE]", false},
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml),
                 "tables:\n"
                 "  t:\n"
                 "    - type: set\n"
                 "      column: flag\n"
                 "      parameters: {value: on}\n"
                 "%s%s%s",
                 cases[i].ops != NULL ? "      operations: " : "",
                 cases[i].ops != NULL ? cases[i].ops : "",
                 cases[i].ops != NULL ? "\n" : "");
        load(yaml);
        struct cdc_col cols[] = {C("id", "int4", "1")};
        struct cdc_event ev = change(CDC_OP_COPY, "public", "t");
        SET_NEW(ev, cols);
        expect_keep(&ev);
        assert_int_equal(find(ev.cols, ev.ncols, "flag") != NULL,
                         cases[i].selects_copy);
    }
    /* COPY alone does not select inserts */
    load("tables:\n"
         "  t:\n"
         "    - {type: set, column: flag, parameters: {value: on}, "
         "operations: [COPY]}\n");
    struct cdc_col cols[] = {C("id", "int4", "1")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    NO_NEW(ev, "flag");
}

static void test_truncate_and_ddl_pass(void **state)
{
    (void)state;
    load("tables:\n"
         "  \"*\":\n"
         "    - {type: filter, column: age, parameters: {operator: eq, "
         "value: 1}}\n"
         "    - {type: exclude_column, column: id}\n");
    struct cdc_event tr = change(CDC_OP_TRUNCATE, "public", "t");
    expect_keep(&tr);
    struct cdc_event ddl = change(CDC_OP_DDL, "public", "t");
    ddl.ddl = "ALTER TABLE t ADD COLUMN x int";
    size_t used = fx.arena.used_total;
    expect_keep(&ddl);
    assert_int_equal(fx.arena.used_total, used);
    assert_string_equal(ddl.ddl, "ALTER TABLE t ADD COLUMN x int");
}

static void test_allow_empty_deletes_placement(void **state)
{
    (void)state;
    static const char *const files[] = {
        "tables:\n"
        "  t:\n"
        "    - type: transform\n"
        "      column: email\n"
        "      allow_empty_deletes: true\n"
        "      parameters: {type: mask, mask_char: '*'}\n",
        "tables:\n"
        "  t:\n"
        "    - type: transform\n"
        "      column: email\n"
        "      parameters: {type: mask, mask_char: '*', "
        "allow_empty_deletes: yes}\n",
        "tables:\n"
        "  t:\n"
        "    - type: transform\n"
        "      column: email\n"
        "      allow_empty_deletes: True\n"
        "      parameters: {type: mask, mask_char: '*', "
        "allow_empty_deletes: true}\n",
    };
    for (size_t i = 0; i < NELEMS(files); i++) {
        load(files[i]);
        struct cdc_col old[] = {C("id", "int4", "1"),
                                C("email", "text", "abcd")};
        struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
        SET_OLD(del, old);
        expect_keep(&del);
        assert_ptr_equal(del.old, old); /* not masked */
        struct cdc_event ins = change(CDC_OP_INSERT, "public", "t");
        SET_NEW(ins, old);
        expect_keep(&ins);
        EXPECT_NEW(ins, "email", "text", "a**d");
    }
    /* false is the default, and may be written */
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: email\n"
         "      allow_empty_deletes: false\n"
         "      parameters: {type: mask, mask_char: '*'}\n");
    struct cdc_col old[] = {C("email", "text", "abcd")};
    struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
    SET_OLD(del, old);
    expect_keep(&del);
    EXPECT_OLD(del, "email", "text", "a**d");
}

static void test_table_keys(void **state)
{
    (void)state;
    load("tables:\n"
         "  \"*\":\n"
         "    - {type: set, column: any, parameters: {value: 1}}\n"
         "  users:\n"
         "    - {type: set, column: plain, parameters: {value: 1}}\n"
         "  app.users:\n"
         "    - {type: set, column: qualified, parameters: {value: 1}}\n");
    static const struct {
        const char *schema, *table;
        bool any, plain, qualified;
    } cases[] = {
        {"app", "users", true, true, true},
        {"public", "users", true, true, false},
        {"app", "orders", true, false, false},
        {"app", "Users", true, false, false},
        {NULL, "users", true, true, false},
        {"app", "users", true, true, true}, /* again, from the cache */
    };
    for (size_t i = 0; i < NELEMS(cases); i++) {
        struct cdc_col cols[] = {C("id", "int4", "1")};
        struct cdc_event ev =
            change(CDC_OP_INSERT, cases[i].schema, cases[i].table);
        SET_NEW(ev, cols);
        expect_keep(&ev);
        assert_int_equal(find(ev.cols, ev.ncols, "any") != NULL, cases[i].any);
        assert_int_equal(find(ev.cols, ev.ncols, "plain") != NULL,
                         cases[i].plain);
        assert_int_equal(find(ev.cols, ev.ncols, "qualified") != NULL,
                         cases[i].qualified);
    }
}

static void test_file_order(void **state)
{
    (void)state;
    /* a "*" rule written first runs first, whatever the key */
    load("tables:\n"
         "  \"*\":\n"
         "    - {type: set, column: v, parameters: {value: star}}\n"
         "  users:\n"
         "    - {type: copy, column: v, parameters: {to: w}}\n"
         "    - {type: set, column: v, parameters: {value: users}}\n");
    struct cdc_col cols[] = {C("id", "int4", "1")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "users");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "w", "text", "star");
    EXPECT_NEW(ev, "v", "text", "users");

    load("tables:\n"
         "  users:\n"
         "    - {type: copy, column: v, parameters: {to: w}}\n"
         "    - {type: set, column: v, parameters: {value: users}}\n"
         "  \"*\":\n"
         "    - {type: set, column: v, parameters: {value: star}}\n");
    struct cdc_col cols2[] = {C("id", "int4", "1")};
    SET_NEW(ev, cols2);
    expect_keep(&ev);
    NO_NEW(ev, "w"); /* v did not exist yet when it was copied */
    EXPECT_NEW(ev, "v", "text", "star");
}

static void test_many_tables_cache(void **state)
{
    (void)state;
    load("tables:\n"
         "  t7:\n"
         "    - {type: exclude_column, column: secret}\n"
         "  s.t42:\n"
         "    - {type: exclude_column, column: secret}\n");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            char name[16];
            snprintf(name, sizeof(name), "t%d", i);
            struct cdc_col cols[] = {C("id", "int4", "1"),
                                     C("secret", "text", "x")};
            struct cdc_event ev = change(CDC_OP_INSERT, "s", name);
            SET_NEW(ev, cols);
            size_t used = fx.arena.used_total;
            expect_keep(&ev);
            bool excluded = i == 7 || i == 42;
            assert_int_equal(find(ev.cols, ev.ncols, "secret") == NULL,
                             excluded);
            if (!excluded) {
                /* nothing applied: nothing allocated, arrays as they were */
                assert_ptr_equal(ev.cols, cols);
                assert_int_equal(fx.arena.used_total, used);
            }
        }
    }
}

/* ==== Field operations ==== */

static void test_exclude_column(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: exclude_column\n"
         "      column: password\n"
         "    - type: exclude_column\n"
         "      column: [ssn, doc]\n"
         "    - type: exclude_column\n"
         "      columns: [id]\n");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("name", "text", "a"),
                             C("password", "text", "p"), C("ssn", "text", "s")};
    struct cdc_col old[] = {C("id", "int4", "1"), C("password", "text", "q")};
    const char *key[] = {"id"};
    const char *unchanged[] = {"doc"};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(ev, cols);
    SET_OLD(ev, old);
    ev.key = key;
    ev.nkey = 1;
    ev.unchanged = unchanged;
    ev.nunchanged = 1;
    expect_keep(&ev);
    assert_int_equal(ev.ncols, 1);
    EXPECT_NEW(ev, "name", "text", "a");
    assert_int_equal(ev.nold, 0);
    assert_int_equal(ev.nkey, 0);
    assert_int_equal(ev.nunchanged, 0);
    /* the originals are whole */
    assert_string_equal(cols[2].name, "password");
    assert_string_equal(old[1].name, "password");
    assert_string_equal(key[0], "id");
    assert_string_equal(unchanged[0], "doc");

    /* columns the change does not carry: nothing happens */
    struct cdc_col other[] = {C("x", "int4", "1")};
    SET_NEW(ev, other);
    ev.old = NULL;
    ev.nold = 0;
    ev.op = CDC_OP_INSERT;
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, other);
}

static void test_rename(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: rename, column: id, parameters: {to: user_id}}\n"
         "    - {type: rename, column: doc, parameters: {to: body}}\n");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("n", "text", "a")};
    struct cdc_col old[] = {C("id", "int4", "1")};
    const char *key[] = {"id"};
    const char *unchanged[] = {"doc"};
    struct cdc_event ev = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(ev, cols);
    SET_OLD(ev, old);
    ev.key = key;
    ev.nkey = 1;
    ev.unchanged = unchanged;
    ev.nunchanged = 1;
    expect_keep(&ev);
    EXPECT_NEW(ev, "user_id", "int4", "1");
    NO_NEW(ev, "id");
    EXPECT_OLD(ev, "user_id", "int4", "1");
    assert_string_equal(ev.key[0], "user_id");
    assert_string_equal(ev.unchanged[0], "body");
    assert_string_equal(cols[0].name, "id");
    assert_string_equal(key[0], "id");
    assert_string_equal(unchanged[0], "doc");

    /* a DELETE renames its old row */
    struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
    SET_OLD(del, old);
    del.key = key;
    del.nkey = 1;
    expect_keep(&del);
    EXPECT_OLD(del, "user_id", "int4", "1");

    /* onto a column the change already has: cannot be written */
    struct cdc_col both[] = {C("id", "int4", "1"), C("user_id", "int4", "2")};
    struct cdc_event ins = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ins, both);
    expect_poison(&ins,
                  "cannot rename column \"id\" of table \"public.t\" to "
                  "\"user_id\"",
                  "already has a column \"user_id\"");
}

static void test_default(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: default, column: status, parameters: {value: new}}\n"
         "    - type: default\n"
         "      column: score\n"
         "      parameters: {value: 0, type: int4}\n");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("status", "text", NULL)};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "status", "text", "new");
    EXPECT_NEW(ev, "score", "int4", "0"); /* missing: appended */
    assert_int_equal(ev.ncols, 3);
    assert_null(cols[1].value);

    /* a value is kept; a column of its own type keeps its type */
    struct cdc_col full[] = {C("status", "varchar", "old"),
                             C("score", "numeric", NULL)};
    SET_NEW(ev, full);
    expect_keep(&ev);
    EXPECT_NEW(ev, "status", "varchar", "old");
    EXPECT_NEW(ev, "score", "numeric", "0");

    /* unchanged (TOAST) is not NULL: left alone; an UPDATE's old NULL is
     * filled too, a key is never extended */
    const char *unchanged[] = {"status"};
    struct cdc_col upd[] = {C("id", "int4", "1"), C("score", "int4", "5")};
    struct cdc_col old[] = {C("id", "int4", "1"), C("score", "int4", NULL)};
    struct cdc_event u = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(u, upd);
    SET_OLD(u, old);
    u.unchanged = unchanged;
    u.nunchanged = 1;
    expect_keep(&u);
    NO_NEW(u, "status");
    assert_int_equal(u.nunchanged, 1);
    EXPECT_NEW(u, "score", "int4", "5");
    EXPECT_OLD(u, "score", "int4", "0");
    NO_OLD(u, "status");

    struct cdc_col key[] = {C("id", "int4", "1")};
    struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
    SET_OLD(del, key);
    expect_keep(&del);
    assert_ptr_equal(del.old, key);
    assert_null(del.cols);
}

static void test_set(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: set, column: price, parameters: {value: 100.0}}\n"
         "    - {type: set, column: code, parameters: {value: '007', "
         "type: varchar}}\n"
         "    - {type: set, column: note, parameters: {value: null}}\n"
         "    - {type: set, column: flag, parameters: {value: TRUE}}\n");
    struct cdc_col cols[] = {C("id", "int4", "1"),
                             C("price", "numeric", "12.5"),
                             C("code", "int4", "1"), C("note", "text", "x")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "price", "numeric", "100.0"); /* as written */
    EXPECT_NEW(ev, "code", "varchar", "007");
    EXPECT_NEW(ev, "note", "text", NULL);
    EXPECT_NEW(ev, "flag", "text", "TRUE"); /* appended */
    assert_string_equal(cols[1].value, "12.5");

    /* an unchanged column gets a known value; old rows are set too */
    const char *unchanged[] = {"note"};
    struct cdc_col upd[] = {C("id", "int4", "1")};
    struct cdc_col old[] = {C("id", "int4", "1"), C("price", "numeric", "1")};
    struct cdc_event u = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(u, upd);
    SET_OLD(u, old);
    u.unchanged = unchanged;
    u.nunchanged = 1;
    expect_keep(&u);
    EXPECT_NEW(u, "note", "text", NULL);
    assert_int_equal(u.nunchanged, 0);
    EXPECT_OLD(u, "price", "numeric", "100.0");
    NO_OLD(u, "flag");
    assert_string_equal(unchanged[0], "note");
}

static void test_concat(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: concat\n"
         "      column: full_name\n"
         "      parameters:\n"
         "        columns: [first, middle, last]\n"
         "        separator: \" \"\n"
         "    - type: concat\n"
         "      column: code\n"
         "      parameters: {columns: [a, b]}\n");
    struct cdc_col cols[] = {C("first", "text", "Ada"),
                             C("middle", "text", NULL),
                             C("last", "varchar", "Lovelace"),
                             C("code", "int4", "0"),
                             C("a", "int4", "12"),
                             C("b", "text", "x")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "full_name", "text", "Ada Lovelace"); /* appended */
    EXPECT_NEW(ev, "code", "text", "12x");               /* replaced */
    assert_int_equal(ev.ncols, 7);

    /* all parts NULL or missing: NULL */
    struct cdc_col none[] = {C("middle", "text", NULL), C("b", "text", NULL)};
    SET_NEW(ev, none);
    expect_keep(&ev);
    EXPECT_NEW(ev, "full_name", "text", NULL);
    EXPECT_NEW(ev, "code", "text", NULL);

    /* an input not sent (TOAST): the output is not known either */
    const char *unchanged[] = {"last"};
    struct cdc_col upd[] = {C("first", "text", "Ada"),
                            C("full_name", "text", "stale")};
    struct cdc_event u = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(u, upd);
    u.unchanged = unchanged;
    u.nunchanged = 1;
    expect_keep(&u);
    NO_NEW(u, "full_name");
    assert_true(in_names(u.unchanged, u.nunchanged, "full_name"));
    assert_true(in_names(u.unchanged, u.nunchanged, "last"));
    assert_int_equal(u.nunchanged, 2);
    assert_int_equal(unchanged[0][0], 'l');

    /* an old row that carries the output and every input is recomputed */
    struct cdc_col old[] = {C("first", "text", "A"), C("middle", "text", "B"),
                            C("last", "text", "C"),
                            C("full_name", "text", "stale")};
    struct cdc_col upd2[] = {C("first", "text", "Ada")};
    SET_NEW(u, upd2);
    SET_OLD(u, old);
    u.unchanged = NULL;
    u.nunchanged = 0;
    expect_keep(&u);
    EXPECT_OLD(u, "full_name", "text", "A B C");
    EXPECT_NEW(u, "full_name", "text", "Ada");
}

static void test_copy(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: copy, column: id, parameters: {to: id_copy}}\n"
         "    - {type: copy, column: doc, parameters: {to: doc2}}\n");
    struct cdc_col cols[] = {C("id", "int8", "42"), C("doc", "jsonb", NULL),
                             C("doc2", "text", "old")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    expect_keep(&ev);
    EXPECT_NEW(ev, "id_copy", "int8", "42");
    EXPECT_NEW(ev, "doc2", "jsonb", NULL);
    EXPECT_NEW(ev, "id", "int8", "42");

    /* an input that was not sent makes the output unchanged */
    const char *unchanged[] = {"doc"};
    struct cdc_col upd[] = {C("id", "int8", "42"), C("doc2", "text", "x")};
    struct cdc_event u = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(u, upd);
    u.unchanged = unchanged;
    u.nunchanged = 1;
    expect_keep(&u);
    NO_NEW(u, "doc2");
    assert_true(in_names(u.unchanged, u.nunchanged, "doc2"));

    /* an input the change does not carry: nothing */
    struct cdc_col bare[] = {C("other", "text", "1")};
    SET_NEW(ev, bare);
    expect_keep(&ev);
    assert_ptr_equal(ev.cols, bare);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_uuid(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: uuid, column: uid}\n");
    char seen[300][37];
    for (size_t i = 0; i < NELEMS(seen); i++) {
        struct cdc_col cols[] = {C("id", "int4", "1"), C("uid", "text", "x")};
        struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
        SET_NEW(ev, cols);
        expect_keep(&ev);
        const struct cdc_col *u = find(ev.cols, ev.ncols, "uid");
        assert_non_null(u);
        assert_string_equal(u->type, "uuid");
        assert_int_equal(u->value_len, 36);
        assert_int_equal(strlen(u->value), 36);
        for (size_t k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(u->value[k], '-');
            else if (!is_hex(u->value[k]))
                fail_msg("not a lower-case uuid: %s", u->value);
        }
        assert_int_equal(u->value[14], '4'); /* version 4 */
        assert_non_null(strchr("89ab", u->value[19]));
        memcpy(seen[i], u->value, 37);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    /* a delete has no new row to write into */
    struct cdc_col key[] = {C("id", "int4", "1")};
    struct cdc_event del = change(CDC_OP_DELETE, "public", "t");
    SET_OLD(del, key);
    expect_keep(&del);
    assert_ptr_equal(del.old, key);
    assert_null(del.cols);
    /* an update writes the new row only */
    struct cdc_col old[] = {C("id", "int4", "1"), C("uid", "uuid", "u")};
    struct cdc_col cols[] = {C("id", "int4", "1")};
    struct cdc_event upd = change(CDC_OP_UPDATE, "public", "t");
    SET_NEW(upd, cols);
    SET_OLD(upd, old);
    expect_keep(&upd);
    EXPECT_OLD(upd, "uid", "uuid", "u");
    assert_non_null(find(upd.cols, upd.ncols, "uid"));
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static void test_timestamp(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - {type: timestamp, column: seen_at}\n"
         "    - type: timestamp\n"
         "      column: committed_at\n"
         "      parameters: {value: commit_time}\n");
    struct cdc_col cols[] = {C("id", "int4", "1")};
    struct cdc_event ev = change(CDC_OP_INSERT, "public", "t");
    SET_NEW(ev, cols);
    ev.commit_time = "2024-05-06T07:08:09.123456Z";
    int64_t before = cdc_wall_us();
    expect_keep(&ev);
    int64_t after = cdc_wall_us();
    EXPECT_NEW(ev, "committed_at", "timestamptz",
               "2024-05-06T07:08:09.123456Z");
    const struct cdc_col *c = find(ev.cols, ev.ncols, "seen_at");
    assert_non_null(c);
    assert_string_equal(c->type, "timestamptz");
    /* "YYYY-MM-DD HH:MM:SS.ffffff+00" */
    const char *v = c->value;
    assert_int_equal(c->value_len, 29);
    assert_true(digits(v, 4) && v[4] == '-' && digits(v + 5, 2) &&
                v[7] == '-' && digits(v + 8, 2) && v[10] == ' ' &&
                digits(v + 11, 2) && v[13] == ':' && digits(v + 14, 2) &&
                v[16] == ':' && digits(v + 17, 2) && v[19] == '.' &&
                digits(v + 20, 6));
    assert_string_equal(v + 26, "+00");
    /* within the clock's readings around it */
    char lo[32], hi[32];
    time_t t0 = (time_t)(before / 1000000);
    time_t t1 = (time_t)(after / 1000000);
    struct tm tm0, tm1;
    assert_non_null(gmtime_r(&t0, &tm0));
    assert_non_null(gmtime_r(&t1, &tm1));
    assert_int_equal(strftime(lo, sizeof(lo), "%Y-%m-%d %H:%M:%S", &tm0), 19);
    assert_int_equal(strftime(hi, sizeof(hi), "%Y-%m-%d %H:%M:%S", &tm1), 19);
    assert_true(strncmp(v, lo, 19) >= 0 && strncmp(v, hi, 19) <= 0);

    /* no commit time: now */
    struct cdc_col cols2[] = {C("id", "int4", "1")};
    SET_NEW(ev, cols2);
    ev.commit_time = NULL;
    expect_keep(&ev);
    c = find(ev.cols, ev.ncols, "committed_at");
    assert_non_null(c);
    assert_int_equal(c->value_len, 29);
    assert_string_equal(c->value + 26, "+00");
}

/* ==== Shared arrays ==== */

/* Events of one pack share their arrays: each one gets its own result and
 * the shared arrays stay byte for byte as they were. */
static void test_shared_arrays_untouched(void **state)
{
    (void)state;
    load("tables:\n"
         "  t:\n"
         "    - type: transform\n"
         "      column: email\n"
         "      parameters: {type: mask, mask_char: '*'}\n"
         "    - {type: rename, column: id, parameters: {to: uid}}\n"
         "    - {type: exclude_column, column: secret}\n"
         "    - {type: set, column: extra, parameters: {value: e}}\n"
         "    - {type: default, column: nick, parameters: {value: n}}\n"
         "    - {type: concat, column: both, parameters: {columns: [uid, "
         "email], separator: '/'}}\n"
         "    - {type: copy, column: both, parameters: {to: both2}}\n"
         "    - {type: uuid, column: u}\n"
         "    - {type: timestamp, column: ts}\n");
    struct cdc_col cols[] = {C("id", "int4", "1"), C("email", "text", "abcdef"),
                             C("secret", "text", "s"), C("nick", "text", NULL)};
    struct cdc_col old[] = {C("id", "int4", "1"), C("email", "text", "zyxwvu"),
                            C("secret", "text", "s")};
    const char *key[] = {"id", "secret"};
    const char *unchanged[] = {"secret", "doc"};
    struct cdc_col cols_before[NELEMS(cols)];
    struct cdc_col old_before[NELEMS(old)];
    const char *key_before[NELEMS(key)];
    const char *unchanged_before[NELEMS(unchanged)];
    memcpy(cols_before, cols, sizeof(cols));
    memcpy(old_before, old, sizeof(old));
    memcpy(key_before, key, sizeof(key));
    memcpy(unchanged_before, unchanged, sizeof(unchanged));

    struct cdc_event evs[2];
    for (int i = 0; i < 2; i++) {
        evs[i] = change(CDC_OP_UPDATE, "public", "t");
        SET_NEW(evs[i], cols);
        SET_OLD(evs[i], old);
        evs[i].key = key;
        evs[i].nkey = NELEMS(key);
        evs[i].unchanged = unchanged;
        evs[i].nunchanged = NELEMS(unchanged);
    }
    for (int i = 0; i < 2; i++) {
        expect_keep(&evs[i]);
        assert_memory_equal(cols, cols_before, sizeof(cols));
        assert_memory_equal(old, old_before, sizeof(old));
        assert_memory_equal(key, key_before, sizeof(key));
        assert_memory_equal(unchanged, unchanged_before, sizeof(unchanged));
        assert_string_equal(cols[1].value, "abcdef");
        assert_string_equal(old[1].value, "zyxwvu");
        assert_string_equal(cols[0].name, "id");
    }
    for (int i = 0; i < 2; i++) {
        struct cdc_event *ev = &evs[i];
        EXPECT_NEW(*ev, "uid", "int4", "1");
        EXPECT_NEW(*ev, "email", "text", "a****f");
        EXPECT_NEW(*ev, "extra", "text", "e");
        EXPECT_NEW(*ev, "nick", "text", "n");
        EXPECT_NEW(*ev, "both", "text", "1/a****f");
        EXPECT_NEW(*ev, "both2", "text", "1/a****f");
        NO_NEW(*ev, "secret");
        EXPECT_OLD(*ev, "uid", "int4", "1");
        EXPECT_OLD(*ev, "email", "text", "z****u");
        NO_OLD(*ev, "secret");
        assert_int_equal(ev->nkey, 1);
        assert_string_equal(ev->key[0], "uid");
        assert_int_equal(ev->nunchanged, 1);
        assert_string_equal(ev->unchanged[0], "doc");
        assert_true(ev->cols != cols && ev->old != old);
    }
    /* two events, two arrays of their own */
    assert_true(evs[0].cols != evs[1].cols);
    assert_true(evs[0].old != evs[1].old);
    assert_string_not_equal(find(evs[0].cols, evs[0].ncols, "u")->value,
                            find(evs[1].cols, evs[1].ncols, "u")->value);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_load_empty),
        T(test_load_count),
        T(test_load_file),
        T(test_load_yaml_syntax),
        T(test_err_top_level),
        T(test_err_table_shape),
        T(test_err_rule_type),
        T(test_err_column),
        T(test_err_unknown_keys),
        T(test_err_missing_params),
        T(test_err_transform_type),
        T(test_err_operator),
        T(test_err_bad_regex),
        T(test_err_replace_groups),
        T(test_err_values),
        T(test_err_allow_empty_deletes),
        T(test_err_operations),
        T(test_err_all_reported),
        T(test_pgflo_transform_filter),
        T(test_pgflo_multi_tenant),
        T(test_mask),
        T(test_mask_null_and_missing),
        T(test_regex_phone),
        T(test_regex_global_and_types),
        T(test_regex_large_result),
        T(test_regex_invalid_utf8),
        T(test_transform_update_and_delete_rows),
        T(test_regex_old_rows),
        T(test_transform_unchanged_toast),
        T(test_filter_numbers),
        T(test_filter_instants),
        T(test_filter_booleans),
        T(test_filter_uuid),
        T(test_filter_text),
        T(test_filter_contains),
        T(test_filter_regex),
        T(test_filter_in),
        T(test_filter_null),
        T(test_filter_operator_case),
        T(test_filter_poison_values),
        T(test_filter_delete),
        T(test_filter_update_new_row),
        T(test_filter_unchanged_toast),
        T(test_filter_missing_column),
        T(test_filter_first_failure_stops),
        T(test_filter_after_exclude),
        T(test_operations_beside_type),
        T(test_operations_in_parameters),
        T(test_operations_copy),
        T(test_truncate_and_ddl_pass),
        T(test_allow_empty_deletes_placement),
        T(test_table_keys),
        T(test_file_order),
        T(test_many_tables_cache),
        T(test_exclude_column),
        T(test_rename),
        T(test_default),
        T(test_set),
        T(test_concat),
        T(test_copy),
        T(test_uuid),
        T(test_timestamp),
        T(test_shared_arrays_untouched),
        T(test_regex_matches_pcre2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

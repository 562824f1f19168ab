/*
 * test_yaml.c: unit tests of common/yaml.c, the YAML document tree used by
 * the rules and routing files: scalars with their quoting, lists and
 * mappings in file order with line numbers, and every refusal (syntax
 * error, duplicate key, alias, anchor, foreign tag, several documents,
 * deep nesting, unreadable file) as one line with file and line.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cdc_yaml_doc *doc;
static struct cdc_err err;

static int setup(void **state)
{
    (void)state;
    doc = NULL;
    cdc_err_clear(&err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_yaml_free(doc);
    doc = NULL;
    return 0;
}

static const struct cdc_yaml_node *parse_ok(const char *text)
{
    int rc = cdc_yaml_parse(text, strlen(text), "t.yaml", &doc, &err);
    if (rc != CDC_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(doc);
    return cdc_yaml_root(doc);
}

static void parse_bad(const char *text, const char *msg)
{
    assert_int_equal(cdc_yaml_parse(text, strlen(text), "t.yaml", &doc, &err),
                     CDC_ECONFIG);
    assert_null(doc);
    assert_string_equal(err.msg, msg);
}

static void test_empty(void **state)
{
    (void)state;
    assert_null(parse_ok(""));
    cdc_yaml_free(doc);
    doc = NULL;
    assert_null(parse_ok("# only a comment\n"));
    cdc_yaml_free(doc);
    doc = NULL;
    assert_null(parse_ok("~\n"));
    assert_string_equal(cdc_yaml_name(doc), "t.yaml");
}

static void test_tree(void **state)
{
    (void)state;
    const struct cdc_yaml_node *root = parse_ok("tables:\n"
                                                "  users:\n"
                                                "    - type: filter\n"
                                                "      value: 18\n"
                                                "    - type: 'mask'\n"
                                                "  orders: []\n");
    assert_non_null(root);
    assert_int_equal(root->kind, CDC_YAML_MAP);
    assert_int_equal(root->line, 1);
    const struct cdc_yaml_node *tables = cdc_yaml_get(root, "tables");
    assert_non_null(tables);
    assert_int_equal(tables->kind, CDC_YAML_MAP);
    assert_int_equal(tables->n, 2);
    assert_string_equal(tables->keys[0]->str, "users");
    assert_string_equal(tables->keys[1]->str, "orders");
    assert_int_equal(tables->keys[1]->line, 6);
    const struct cdc_yaml_node *users = tables->items[0];
    assert_int_equal(users->kind, CDC_YAML_SEQ);
    assert_int_equal(users->n, 2);
    assert_int_equal(users->items[0]->line, 3);
    assert_int_equal(users->items[1]->line, 5);
    const struct cdc_yaml_node *v = cdc_yaml_get(users->items[0], "value");
    assert_string_equal(v->str, "18");
    assert_int_equal(v->len, 2);
    assert_false(v->quoted);
    assert_int_equal(v->line, 4);
    const struct cdc_yaml_node *t = cdc_yaml_get(users->items[1], "type");
    assert_string_equal(t->str, "mask");
    assert_true(t->quoted);
    assert_int_equal(tables->items[1]->kind, CDC_YAML_SEQ);
    assert_int_equal(tables->items[1]->n, 0);
    assert_null(cdc_yaml_get(root, "missing"));
    assert_null(cdc_yaml_get(users, "type"));
}

static void test_nulls(void **state)
{
    (void)state;
    const struct cdc_yaml_node *root =
        parse_ok("a: ~\nb: null\nc:\nd: 'null'\ne: !!str null\nf: NULL\n"
                 "g: nil\n");
    assert_true(cdc_yaml_is_null(cdc_yaml_get(root, "a")));
    assert_true(cdc_yaml_is_null(cdc_yaml_get(root, "b")));
    assert_true(cdc_yaml_is_null(cdc_yaml_get(root, "c")));
    assert_false(cdc_yaml_is_null(cdc_yaml_get(root, "d")));
    assert_false(cdc_yaml_is_null(cdc_yaml_get(root, "e")));
    assert_true(cdc_yaml_is_null(cdc_yaml_get(root, "f")));
    assert_false(cdc_yaml_is_null(cdc_yaml_get(root, "g")));
    assert_false(cdc_yaml_is_null(root));
    assert_false(cdc_yaml_is_null(NULL));
}

static void test_flow_and_block(void **state)
{
    (void)state;
    const struct cdc_yaml_node *root =
        parse_ok("p: {type: regex, pattern: \"^(\\\\d{3})$\", replace: "
                 "\"($1)\"}\n"
                 "ops: [INSERT, UPDATE]\n"
                 "text: |\n  two\n  lines\n"
                 "unicode: \"\\u00e9t\\u00e9\"\n");
    const struct cdc_yaml_node *p = cdc_yaml_get(root, "p");
    assert_int_equal(p->kind, CDC_YAML_MAP);
    assert_string_equal(cdc_yaml_get(p, "pattern")->str, "^(\\d{3})$");
    assert_string_equal(cdc_yaml_get(p, "replace")->str, "($1)");
    const struct cdc_yaml_node *ops = cdc_yaml_get(root, "ops");
    assert_int_equal(ops->n, 2);
    assert_string_equal(ops->items[1]->str, "UPDATE");
    const struct cdc_yaml_node *text = cdc_yaml_get(root, "text");
    assert_string_equal(text->str, "two\nlines\n");
    assert_true(text->quoted);
    assert_string_equal(cdc_yaml_get(root, "unicode")->str,
                        "\xc3\xa9t\xc3\xa9");
}

static void test_syntax_error(void **state)
{
    (void)state;
    parse_bad("a: 1\nb: [1, 2\nc: 3\n",
              "t.yaml:3: cannot parse YAML: did not find expected ',' or "
              "']'");
}

static void test_late_syntax_error(void **state)
{
    (void)state;
    parse_bad("a: 1\nb: 2\n  c: 3\n",
              "t.yaml:3: cannot parse YAML: mapping values are not allowed "
              "in this context");
}

static void test_bad_utf8(void **state)
{
    (void)state;
    parse_bad("a: 1\nb: \xff\n",
              "t.yaml:2: cannot parse YAML: invalid leading UTF-8 octet");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    parse_bad("tables:\n  users: []\n  users: []\n",
              "t.yaml:3: duplicate key \"users\" (first on line 2)");
}

static void test_alias_anchor(void **state)
{
    (void)state;
    parse_bad("a: &x 1\nb: *x\n", "t.yaml:1: anchors (&name) are not "
                                  "supported");
    parse_bad("a: 1\nb: *x\n", "t.yaml:2: aliases (*name) are not "
                               "supported: write the value out");
}

static void test_foreign_tag(void **state)
{
    (void)state;
    parse_bad("a: !custom 1\n", "t.yaml:1: only the standard tags (!!str, "
                                "!!int, ...) are supported");
    assert_null(doc);
    const struct cdc_yaml_node *root = parse_ok("a: !!str 1\n");
    assert_true(cdc_yaml_get(root, "a")->quoted);
}

static void test_complex_key(void **state)
{
    (void)state;
    parse_bad("? [a, b]\n: 1\n",
              "t.yaml:1: a key must be a plain value, not a list or a "
              "mapping");
}

static void test_several_documents(void **state)
{
    (void)state;
    parse_bad("a: 1\n---\nb: 2\n",
              "t.yaml:2: the file must hold one YAML document, not "
              "several");
}

static void test_nul_byte(void **state)
{
    (void)state;
    parse_bad("a: \"x\\0y\"\n", "t.yaml:1: a value holds a NUL byte");
}

static void test_deep_nesting(void **state)
{
    (void)state;
    char text[400];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        text[n++] = '[';
    for (int i = 0; i < 100; i++)
        text[n++] = ']';
    text[n] = '\0';
    parse_bad(text, "t.yaml:1: nested too deeply");
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_yaml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "x:\n  - 1\n  - 2\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(cdc_yaml_load_file(path, &doc, &err), CDC_OK);
    assert_string_equal(cdc_yaml_name(doc), path);
    const struct cdc_yaml_node *x = cdc_yaml_get(cdc_yaml_root(doc), "x");
    assert_int_equal(x->n, 2);
    assert_int_equal(x->items[1]->line, 3);
    unlink(path);
    cdc_yaml_free(doc);
    doc = NULL;
    assert_int_equal(cdc_yaml_load_file(path, &doc, &err), CDC_ECONFIG);
    assert_null(doc);
    char want[128];
    snprintf(want, sizeof(want),
             "could not read \"%s\": No such file or directory", path);
    assert_string_equal(err.msg, want);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty),        T(test_tree),
        T(test_nulls),        T(test_flow_and_block),
        T(test_syntax_error), T(test_late_syntax_error),
        T(test_bad_utf8),     T(test_duplicate_key),
        T(test_alias_anchor), T(test_foreign_tag),
        T(test_complex_key),  T(test_several_documents),
        T(test_nul_byte),     T(test_deep_nesting),
        T(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * yaml.h: a YAML document read whole into a tree of nodes that remember
 * their line, for files that are not option tables (rules, routing).
 * Included by common.h; include that instead.
 *
 * The tree is read-only once loaded and owned by its document. Anchors and
 * aliases are refused (a rules file has no use for them, and an alias can
 * make a small file expand without bound); so are duplicate keys in one
 * mapping, non-scalar keys and NUL bytes in scalars. Every message starts
 * with "<name>:<line>: ".
 */
#ifndef CDC_YAML_H
#define CDC_YAML_H

#include <stdbool.h>
#include <stddef.h>

struct cdc_err;

enum cdc_yaml_kind {
    CDC_YAML_SCALAR = 1,
    CDC_YAML_SEQ,
    CDC_YAML_MAP,
};

struct cdc_yaml_node {
    enum cdc_yaml_kind kind;
    size_t line; /* 1-based line where the node starts */
    /* SCALAR: the text (NUL-terminated, len bytes); quoted is true for a
     * single- or double-quoted or block scalar, which is always a string
     * (never null, a boolean or a number) */
    const char *str;
    size_t len;
    bool quoted;
    /* SEQ: items[0..n); MAP: keys[i] (scalars) map to items[i], in file
     * order */
    struct cdc_yaml_node **keys;
    struct cdc_yaml_node **items;
    size_t n;
};

struct cdc_yaml_doc;

/* Parses data (len bytes); name is the file name used in messages. An
 * empty document has a NULL root. Returns CDC_OK or CDC_ECONFIG with err
 * "<name>:<line>: <problem>"; *out is NULL on failure. */
int cdc_yaml_parse(const void *data, size_t len, const char *name,
                   struct cdc_yaml_doc **out, struct cdc_err *err);
/* Reads and parses the file at path; a file that cannot be read is
 * CDC_ECONFIG with "could not read \"<path>\": <reason>". */
int cdc_yaml_load_file(const char *path, struct cdc_yaml_doc **out,
                       struct cdc_err *err);
void cdc_yaml_free(struct cdc_yaml_doc *doc);

/* The top node, or NULL for an empty document. */
const struct cdc_yaml_node *cdc_yaml_root(const struct cdc_yaml_doc *doc);
/* The name given to cdc_yaml_parse (the path for cdc_yaml_load_file). */
const char *cdc_yaml_name(const struct cdc_yaml_doc *doc);

/* The value of key in a mapping, or NULL (also when map is not a
 * mapping). */
const struct cdc_yaml_node *cdc_yaml_get(const struct cdc_yaml_node *map,
                                         const char *key);
/* A plain scalar "", "~", "null", "Null" or "NULL". */
bool cdc_yaml_is_null(const struct cdc_yaml_node *node);

#endif

/*
 * yaml.c: reads a whole YAML document into a tree of nodes with line
 * numbers (yaml.h), for files whose shape is not an option table: rules
 * and routing. Option files go through config.c, which reads its keys
 * straight from libyaml's events.
 *
 * The tree is built completely before anyone sees it, so a syntax error
 * late in a file never leaves half of it read. Anchors, aliases and tags
 * other than the core schema's are refused; nesting is bounded so a
 * hostile file cannot exhaust the stack.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* Deeper than any rules or routing file needs, shallow enough for the
 * recursion below to be harmless. */
#define YAML_MAX_DEPTH 64
/* Rules and routing files are small; a larger file is a mistake. */
#define YAML_FILE_MAX ((size_t)4 << 20)

struct cdc_yaml_doc {
    struct cdc_arena arena;
    char *name;
    struct cdc_yaml_node *root;
};

struct reader {
    struct cdc_yaml_doc *doc;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    const unsigned char *data;
    size_t len;
    struct cdc_err *err;
};

static size_t mark_line(const yaml_mark_t *m)
{
    return (size_t)m->line + 1;
}

/* Moves to the next event; false with err set after a parse error. */
static bool next_event(struct reader *r)
{
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = false;
    }
    if (yaml_parser_parse(&r->parser, &r->ev)) {
        r->have_ev = true;
        return true;
    }
    size_t line = mark_line(&r->parser.problem_mark);
    if (r->parser.error == YAML_READER_ERROR) {
        /* the reader reports a byte offset, not a mark */
        line = 1;
        for (size_t i = 0; i < r->parser.problem_offset && i < r->len; i++)
            line += r->data[i] == '\n';
    }
    cdc_err_set(
        r->err, CDC_ECONFIG, 0, "%s:%zu: cannot parse YAML: %s", r->doc->name,
        line, r->parser.problem != NULL ? r->parser.problem : "unknown error");
    return false;
}

static bool refuse(struct reader *r, const char *what)
{
    cdc_err_set(r->err, CDC_ECONFIG, 0, "%s:%zu: %s", r->doc->name,
                mark_line(&r->ev.start_mark), what);
    return false;
}

/* Core-schema tags only: a tag could otherwise make "1" mean anything. */
static bool tag_allowed(const yaml_char_t *tag)
{
    static const char *const ok[] = {
        YAML_STR_TAG,   YAML_NULL_TAG, YAML_BOOL_TAG, YAML_INT_TAG,
        YAML_FLOAT_TAG, YAML_SEQ_TAG,  YAML_MAP_TAG,
    };
    if (tag == NULL)
        return true;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp((const char *)tag, ok[i]) == 0)
            return true;
    }
    return false;
}

static struct cdc_yaml_node *new_node(struct reader *r, enum cdc_yaml_kind kind)
{
    struct cdc_yaml_node *n = cdc_arena_alloc(&r->doc->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->line = mark_line(&r->ev.start_mark);
    return n;
}

/* Appends to a growing array of node pointers (arena storage: the old
 * array is simply left behind). */
static void push(struct reader *r, struct cdc_yaml_node ***arr, size_t n,
                 size_t *cap, struct cdc_yaml_node *node)
{
    if (n == *cap) {
        size_t ncap = *cap == 0 ? 4 : *cap * 2;
        struct cdc_yaml_node **grown =
            cdc_arena_alloc(&r->doc->arena, ncap * sizeof(*grown));
        if (n > 0)
            memcpy(grown, *arr, n * sizeof(*grown));
        *arr = grown;
        *cap = ncap;
    }
    (*arr)[n] = node;
}

static bool read_node(struct reader *r, int depth, struct cdc_yaml_node **out);

static bool read_scalar(struct reader *r, struct cdc_yaml_node **out)
{
    const yaml_event_t *ev = &r->ev;
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (strlen(v) != len)
        return refuse(r, "a value holds a NUL byte");
    struct cdc_yaml_node *n = new_node(r, CDC_YAML_SCALAR);
    n->str = cdc_arena_strndup(&r->doc->arena, v, len);
    n->len = len;
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                (ev->data.scalar.tag != NULL &&
                 strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0);
    *out = n;
    return true;
}

static bool read_seq(struct reader *r, int depth, struct cdc_yaml_node **out)
{
    struct cdc_yaml_node *n = new_node(r, CDC_YAML_SEQ);
    size_t cap = 0;
    for (;;) {
        if (!next_event(r))
            return false;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        struct cdc_yaml_node *item = NULL;
        if (!read_node(r, depth + 1, &item))
            return false;
        push(r, &n->items, n->n, &cap, item);
        n->n++;
    }
    *out = n;
    return true;
}

static bool read_map(struct reader *r, int depth, struct cdc_yaml_node **out)
{
    struct cdc_yaml_node *n = new_node(r, CDC_YAML_MAP);
    size_t kcap = 0;
    size_t vcap = 0;
    for (;;) {
        if (!next_event(r))
            return false;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (r->ev.type != YAML_SCALAR_EVENT && r->ev.type != YAML_ALIAS_EVENT)
            return refuse(r, "a key must be a plain value, not a list or "
                             "a mapping");
        struct cdc_yaml_node *key = NULL;
        if (!read_node(r, depth + 1, &key))
            return false;
        for (size_t i = 0; i < n->n; i++) {
            if (strcmp(n->keys[i]->str, key->str) == 0) {
                cdc_err_set(r->err, CDC_ECONFIG, 0,
                            "%s:%zu: duplicate key \"%s\" (first on line "
                            "%zu)",
                            r->doc->name, key->line, key->str,
                            n->keys[i]->line);
                return false;
            }
        }
        if (!next_event(r))
            return false;
        struct cdc_yaml_node *val = NULL;
        if (!read_node(r, depth + 1, &val))
            return false;
        push(r, &n->keys, n->n, &kcap, key);
        push(r, &n->items, n->n, &vcap, val);
        n->n++;
    }
    *out = n;
    return true;
}

/* Reads the node that starts at the current event. */
static bool read_node(struct reader *r, int depth, struct cdc_yaml_node **out)
{
    if (depth > YAML_MAX_DEPTH)
        return refuse(r, "nested too deeply");
    switch (r->ev.type) {
    case YAML_ALIAS_EVENT:
        return refuse(r, "aliases (*name) are not supported: write the "
                         "value out");
    case YAML_SCALAR_EVENT:
        if (r->ev.data.scalar.anchor != NULL)
            return refuse(r, "anchors (&name) are not supported");
        if (!tag_allowed(r->ev.data.scalar.tag))
            return refuse(r, "only the standard tags (!!str, !!int, ...) "
                             "are supported");
        return read_scalar(r, out);
    case YAML_SEQUENCE_START_EVENT:
        if (r->ev.data.sequence_start.anchor != NULL)
            return refuse(r, "anchors (&name) are not supported");
        if (!tag_allowed(r->ev.data.sequence_start.tag))
            return refuse(r, "only the standard tags (!!seq, ...) are "
                             "supported");
        return read_seq(r, depth, out);
    case YAML_MAPPING_START_EVENT:
        if (r->ev.data.mapping_start.anchor != NULL)
            return refuse(r, "anchors (&name) are not supported");
        if (!tag_allowed(r->ev.data.mapping_start.tag))
            return refuse(r, "only the standard tags (!!map, ...) are "
                             "supported");
        return read_map(r, depth, out);
    default:
        return refuse(r, "unexpected YAML event");
    }
}

/* Reads the stream: nothing, or one document. */
static bool read_stream(struct reader *r)
{
    if (!next_event(r)) /* stream start */
        return false;
    if (!next_event(r))
        return false;
    if (r->ev.type == YAML_STREAM_END_EVENT)
        return true;
    if (!next_event(r)) /* after document start */
        return false;
    struct cdc_yaml_node *root = NULL;
    if (!read_node(r, 0, &root))
        return false;
    if (!next_event(r)) /* document end */
        return false;
    if (!next_event(r))
        return false;
    if (r->ev.type != YAML_STREAM_END_EVENT)
        return refuse(r, "the file must hold one YAML document, not "
                         "several");
    if (!cdc_yaml_is_null(root))
        r->doc->root = root;
    return true;
}

int cdc_yaml_parse(const void *data, size_t len, const char *name,
                   struct cdc_yaml_doc **out, struct cdc_err *err)
{
    struct cdc_yaml_doc *doc = cdc_xcalloc(1, sizeof(*doc));
    cdc_arena_init(&doc->arena);
    doc->name = cdc_xstrdup(name);
    struct reader r = {
        .doc = doc,
        .data = (const unsigned char *)(data != NULL ? data : ""),
        .len = len,
        .err = err,
    };
    int rc = CDC_ECONFIG;
    bool inited = false;
    *out = NULL;
    if (!yaml_parser_initialize(&r.parser)) {
        cdc_err_set(err, CDC_ECONFIG, 0,
                    "%s: could not initialize the YAML parser", name);
        goto out;
    }
    inited = true;
    yaml_parser_set_input_string(&r.parser, r.data, len);
    if (!read_stream(&r))
        goto out;
    rc = CDC_OK;
    *out = doc;
    doc = NULL;
out:
    if (r.have_ev)
        yaml_event_delete(&r.ev);
    if (inited)
        yaml_parser_delete(&r.parser);
    cdc_yaml_free(doc);
    return rc;
}

int cdc_yaml_load_file(const char *path, struct cdc_yaml_doc **out,
                       struct cdc_err *err)
{
    struct cdc_buf b;
    char chunk[4096];
    int rc = CDC_ECONFIG;
    *out = NULL;
    cdc_buf_init(&b, YAML_FILE_MAX);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cdc_err_set(err, CDC_ECONFIG, 0, "could not read \"%s\": %s", path,
                    strerror(errno));
        goto out;
    }
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (cdc_buf_append(&b, chunk, n) != CDC_OK) {
            cdc_err_set(err, CDC_ECONFIG, 0,
                        "could not read \"%s\": larger than %zu MiB", path,
                        YAML_FILE_MAX >> 20);
            goto out;
        }
    }
    if (ferror(f)) {
        cdc_err_set(err, CDC_ECONFIG, 0, "could not read \"%s\": %s", path,
                    strerror(errno));
        goto out;
    }
    rc = cdc_yaml_parse(b.data, b.len, path, out, err);
out:
    if (f != NULL)
        fclose(f);
    cdc_buf_release(&b);
    return rc;
}

void cdc_yaml_free(struct cdc_yaml_doc *doc)
{
    if (doc == NULL)
        return;
    cdc_arena_release(&doc->arena);
    cdc_free(doc->name);
    cdc_free(doc);
}

const struct cdc_yaml_node *cdc_yaml_root(const struct cdc_yaml_doc *doc)
{
    return doc->root;
}

const char *cdc_yaml_name(const struct cdc_yaml_doc *doc)
{
    return doc->name;
}

const struct cdc_yaml_node *cdc_yaml_get(const struct cdc_yaml_node *map,
                                         const char *key)
{
    if (map == NULL || map->kind != CDC_YAML_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->str, key) == 0)
            return map->items[i];
    }
    return NULL;
}

bool cdc_yaml_is_null(const struct cdc_yaml_node *node)
{
    if (node == NULL || node->kind != CDC_YAML_SCALAR || node->quoted)
        return false;
    const char *v = node->str;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

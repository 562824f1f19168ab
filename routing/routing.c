/*
 * routing.c: reads a routing file (pg_flo's format) into a route set, and
 * applies it to changes: operation selection, table and column renames.
 *
 * Loading checks the whole file and reports every problem it finds; a set
 * is either whole or not there. Once built it is never written again, so
 * any number of threads may apply it at once. Applying never writes into
 * the event's arrays or strings (the events of one pack share them): what a
 * rename changes is built anew in the caller's arena, pointing at the set's
 * own names. Routing neither adds nor removes columns, and a change whose
 * table has no route costs one hash lookup and no allocation.
 */
#include "common/sqltext.h"
#include "routing/routing.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ==== The route set ==== */

/*
 * A column name a route knows: the source of a mapping (to: its new name),
 * the destination of one (from: the column renamed onto it), or both (a
 * chain or a swap). Sources are unique and so are destinations, so two
 * columns can only end with one name when an unmapped column already has
 * the name that a mapped one gets: that column's entry has from set and to
 * NULL.
 */
struct name_ent {
    const char *name; /* NULL: empty slot */
    uint32_t hash;
    const char *to;
    const char *from;
};

struct route {
    const char *key;        /* as written: "users" or "app.users" */
    const char *schema;     /* NULL for a plain key */
    const char *table;      /* the table part of the key */
    const char *dst_schema; /* NULL: the event's schema is kept */
    const char *dst_table;  /* NULL: the table keeps its name */
    unsigned ops;           /* bit 1 << op per selected operation; 0: all */
    struct name_ent *names; /* NULL without column mappings */
    size_t names_cap;       /* a power of two, over twice the names */
    struct route *next_qualified; /* the next qualified route, same table */
};

/* The routes of one table name: at most one plain key, and any number of
 * qualified ones (one per schema). */
struct table_slot {
    const char *table; /* NULL: empty slot */
    uint32_t hash;
    struct route *plain;
    struct route *qualified;
};

struct route_set {
    struct cdc_arena arena; /* holds everything below */
    struct route *routes;
    size_t n;
    struct table_slot *slots;
    size_t nslots; /* a power of two, over twice n */
};

/* FNV-1a: short names, one pass, no length needed beforehand. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* The entry of name, or the empty slot where it would go. The tables are
 * never full, so the probe ends. */
static struct name_ent *name_slot(struct name_ent *ents, size_t cap,
                                  const char *name, uint32_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct name_ent *e = &ents[i];
        if (e->name == NULL || (e->hash == hash && strcmp(e->name, name) == 0))
            return e;
    }
}

static struct table_slot *table_slot(struct table_slot *slots, size_t cap,
                                     const char *table, uint32_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct table_slot *s = &slots[i];
        if (s->table == NULL ||
            (s->hash == hash && strcmp(s->table, table) == 0))
            return s;
    }
}

/* The smallest power of two that is at least n (and at least 8). */
static size_t pow2_at_least(size_t n)
{
    size_t cap = 8;
    while (cap < n)
        cap <<= 1;
    return cap;
}

static void *arena_zalloc(struct cdc_arena *a, size_t n)
{
    void *p = cdc_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

size_t route_count(const struct route_set *rs)
{
    return rs != NULL ? rs->n : 0;
}

void route_free(struct route_set *rs)
{
    if (rs == NULL)
        return;
    cdc_arena_release(&rs->arena);
    cdc_free(rs);
}

/* ==== Loading ==== */

struct loader {
    const char *name; /* the file, in messages */
    struct cdc_buf *problems;
    struct cdc_err *err;
    size_t nproblems;
    struct route_set *rs;
};

static void problem(struct loader *ld, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records one problem: a line in problems, and the first one in err. */
static void problem(struct loader *ld, size_t line, const char *fmt, ...)
{
    va_list ap;
    va_list ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (n >= 0) {
        msg = cdc_xmalloc((size_t)n + 1);
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    const char *text = msg != NULL ? msg : "invalid route";
    if (ld->nproblems == 0)
        cdc_err_set(ld->err, CDC_ECONFIG, 0, "%s:%zu: %s", ld->name, line,
                    text);
    /* A report that outgrows its buffer loses lines, not the verdict: the
     * load fails through err all the same. */
    if (ld->problems != NULL)
        (void)cdc_buf_printf(ld->problems, "%s:%zu: %s\n", ld->name, line,
                             text);
    ld->nproblems++;
    cdc_free(msg);
}

static bool is_null(const struct cdc_yaml_node *nd)
{
    return nd == NULL || (nd->kind == CDC_YAML_SCALAR && cdc_yaml_is_null(nd));
}

/* A name-valued setting: any scalar but null. */
static bool is_string(const struct cdc_yaml_node *nd)
{
    return nd != NULL && nd->kind == CDC_YAML_SCALAR && !cdc_yaml_is_null(nd);
}

static const char *kind_name(const struct cdc_yaml_node *nd)
{
    if (is_null(nd))
        return "null";
    if (nd->kind == CDC_YAML_SEQ)
        return "a list";
    if (nd->kind == CDC_YAML_MAP)
        return "a mapping";
    return "a string";
}

/* The line of a problem with a value. A missing value (key with nothing
 * after it) has no place of its own, so its key's line stands for it. */
static size_t value_line(const struct cdc_yaml_node *key,
                         const struct cdc_yaml_node *val)
{
    if (val == NULL ||
        (val->kind == CDC_YAML_SCALAR && !val->quoted && val->len == 0))
        return key->line;
    return val->line;
}

static const char *keep(struct loader *ld, const struct cdc_yaml_node *nd)
{
    return cdc_arena_strndup(&ld->rs->arena, nd->str, nd->len);
}

enum name_problem {
    NAME_OK = 0,
    NAME_EMPTY,
    NAME_DOTS,       /* more than one dot */
    NAME_EMPTY_PART, /* ".t" or "s." */
};

/* Checks "table" or "schema.table"; *dot is the length of the schema part
 * (len when there is none). */
static enum name_problem name_split(const char *s, size_t len, size_t *dot)
{
    if (len == 0)
        return NAME_EMPTY;
    const char *d = memchr(s, '.', len);
    if (d == NULL) {
        *dot = len;
        return NAME_OK;
    }
    size_t at = (size_t)(d - s);
    if (memchr(d + 1, '.', len - at - 1) != NULL)
        return NAME_DOTS;
    if (at == 0 || at == len - 1)
        return NAME_EMPTY_PART;
    *dot = at;
    return NAME_OK;
}

/* One route being read: the table key (for messages) and what is known of
 * the route so far. */
struct route_ctx {
    const struct cdc_yaml_node *key;
    const char *tname;     /* the key as written */
    const char *key_table; /* its table part, NULL if the key is invalid */
    size_t key_table_len;
    struct route rt;
};

static void parse_source_table(struct loader *ld, struct route_ctx *rc,
                               const struct cdc_yaml_node *k,
                               const struct cdc_yaml_node *v)
{
    if (!is_string(v)) {
        problem(ld, value_line(k, v),
                "source_table of table \"%s\" must be a string, not %s",
                rc->tname, kind_name(v));
        return;
    }
    if (strcmp(v->str, rc->tname) == 0)
        return;
    /* a plain source_table names the table of a qualified key */
    if (rc->key_table != NULL && memchr(v->str, '.', v->len) == NULL &&
        v->len == rc->key_table_len &&
        memcmp(v->str, rc->key_table, v->len) == 0)
        return;
    problem(ld, v->line,
            "source_table \"%s\" does not match the table key \"%s\"", v->str,
            rc->tname);
}

static void parse_destination(struct loader *ld, struct route_ctx *rc,
                              const struct cdc_yaml_node *k,
                              const struct cdc_yaml_node *v)
{
    if (!is_string(v)) {
        problem(ld, value_line(k, v),
                "destination_table of table \"%s\" must be a string, not %s",
                rc->tname, kind_name(v));
        return;
    }
    size_t dot = 0;
    switch (name_split(v->str, v->len, &dot)) {
    case NAME_EMPTY:
        problem(ld, v->line, "destination_table of table \"%s\" is empty",
                rc->tname);
        return;
    case NAME_DOTS:
        problem(ld, v->line,
                "destination_table \"%s\" of table \"%s\" has more than one "
                "dot",
                v->str, rc->tname);
        return;
    case NAME_EMPTY_PART:
        problem(ld, v->line,
                "destination_table \"%s\" of table \"%s\" has an empty schema "
                "or table name",
                v->str, rc->tname);
        return;
    case NAME_OK:
        break;
    }
    struct cdc_arena *a = &ld->rs->arena;
    if (dot < v->len) {
        rc->rt.dst_schema = cdc_arena_strndup(a, v->str, dot);
        rc->rt.dst_table = cdc_arena_strdup(a, v->str + dot + 1);
    } else {
        rc->rt.dst_table = keep(ld, v);
    }
}

/* Checks the source or destination of one column mapping. */
static bool check_column(struct loader *ld, const struct route_ctx *rc,
                         const char *what, const struct cdc_yaml_node *entry,
                         const struct cdc_yaml_node *k,
                         const struct cdc_yaml_node *v)
{
    if (k == NULL) {
        problem(ld, entry->line, "column mapping of table \"%s\" has no %s",
                rc->tname, what);
        return false;
    }
    if (!is_string(v)) {
        problem(ld, value_line(k, v),
                "%s of a column mapping of table \"%s\" must be a string, "
                "not %s",
                what, rc->tname, kind_name(v));
        return false;
    }
    if (v->len == 0) {
        problem(ld, v->line, "%s of a column mapping of table \"%s\" is empty",
                what, rc->tname);
        return false;
    }
    return true;
}

static void parse_mapping(struct loader *ld, struct route_ctx *rc,
                          const struct cdc_yaml_node *entry)
{
    if (entry->kind != CDC_YAML_MAP) {
        problem(ld, entry->line,
                "column mapping of table \"%s\" must be a mapping with source "
                "and destination, not %s",
                rc->tname, kind_name(entry));
        return;
    }
    const struct cdc_yaml_node *sk = NULL;
    const struct cdc_yaml_node *sv = NULL;
    const struct cdc_yaml_node *dk = NULL;
    const struct cdc_yaml_node *dv = NULL;
    for (size_t i = 0; i < entry->n; i++) {
        const struct cdc_yaml_node *k = entry->keys[i];
        if (strcmp(k->str, "source") == 0) {
            sk = k;
            sv = entry->items[i];
        } else if (strcmp(k->str, "destination") == 0) {
            dk = k;
            dv = entry->items[i];
        } else {
            problem(ld, k->line,
                    "unknown key \"%s\" in column mapping of table \"%s\" "
                    "(known: source, destination)",
                    k->str, rc->tname);
        }
    }
    bool ok = check_column(ld, rc, "source", entry, sk, sv);
    ok = check_column(ld, rc, "destination", entry, dk, dv) && ok;
    if (!ok)
        return;

    struct route *rt = &rc->rt;
    uint32_t hs = name_hash(sv->str);
    uint32_t hd = name_hash(dv->str);
    struct name_ent *es = name_slot(rt->names, rt->names_cap, sv->str, hs);
    if (es->to != NULL) {
        problem(ld, sv->line, "column \"%s\" of table \"%s\" is mapped twice",
                sv->str, rc->tname);
        return;
    }
    const struct name_ent *ed =
        name_slot(rt->names, rt->names_cap, dv->str, hd);
    if (ed->from != NULL) {
        problem(ld, dv->line,
                "columns \"%s\" and \"%s\" of table \"%s\" are both mapped to "
                "\"%s\"",
                ed->from, sv->str, rc->tname, dv->str);
        return;
    }
    const char *src = keep(ld, sv);
    const char *dst = keep(ld, dv);
    if (es->name == NULL) {
        es->name = src;
        es->hash = hs;
    }
    es->to = dst;
    /* looked up again: the source may have taken the empty slot found for
     * the destination */
    struct name_ent *e = name_slot(rt->names, rt->names_cap, dv->str, hd);
    if (e->name == NULL) {
        e->name = dst;
        e->hash = hd;
    }
    e->from = src;
}

static void parse_mappings(struct loader *ld, struct route_ctx *rc,
                           const struct cdc_yaml_node *k,
                           const struct cdc_yaml_node *v)
{
    if (is_null(v))
        return; /* no mappings, as with [] */
    if (v->kind != CDC_YAML_SEQ) {
        problem(ld, value_line(k, v),
                "column_mappings of table \"%s\" must be a list of source and "
                "destination pairs, not %s",
                rc->tname, kind_name(v));
        return;
    }
    if (v->n == 0)
        return;
    /* each mapping adds at most two names; keep the load under a half */
    rc->rt.names_cap = pow2_at_least(4 * v->n);
    rc->rt.names = arena_zalloc(&ld->rs->arena,
                                rc->rt.names_cap * sizeof(struct name_ent));
    for (size_t i = 0; i < v->n; i++)
        parse_mapping(ld, rc, v->items[i]);
}

static const struct {
    const char *name;
    enum cdc_op op;
} op_table[] = {
    {"INSERT", CDC_OP_INSERT}, {"UPDATE", CDC_OP_UPDATE},
    {"DELETE", CDC_OP_DELETE}, {"TRUNCATE", CDC_OP_TRUNCATE},
    {"COPY", CDC_OP_COPY},     {"DDL", CDC_OP_DDL},
};

#define OP_NAMES "INSERT, UPDATE, DELETE, TRUNCATE, COPY, DDL"

static unsigned op_bit(enum cdc_op op)
{
    return (unsigned)op < 32 ? 1u << (unsigned)op : 0;
}

static void parse_operations(struct loader *ld, struct route_ctx *rc,
                             const struct cdc_yaml_node *k,
                             const struct cdc_yaml_node *v)
{
    size_t n = 0;
    if (is_null(v))
        n = 0;
    else if (v->kind == CDC_YAML_SCALAR)
        n = 1; /* "operations: INSERT" */
    else if (v->kind == CDC_YAML_SEQ)
        n = v->n;
    else {
        problem(ld, value_line(k, v),
                "operations of table \"%s\" must be a list of operation "
                "names, not %s",
                rc->tname, kind_name(v));
        return;
    }
    if (n == 0) {
        /* pg_flo reads a missing or empty list as "drop everything" */
        problem(ld, value_line(k, v),
                "empty operations would drop every change of table \"%s\"; "
                "leave operations out to pass all",
                rc->tname);
        return;
    }
    unsigned ops = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cdc_yaml_node *it =
            v->kind == CDC_YAML_SCALAR ? v : v->items[i];
        if (!is_string(it)) {
            problem(ld, it != NULL ? it->line : k->line,
                    "operations of table \"%s\" must be names, not %s",
                    rc->tname, kind_name(it));
            continue;
        }
        size_t j = 0;
        while (j < sizeof(op_table) / sizeof(op_table[0]) &&
               strcasecmp(it->str, op_table[j].name) != 0)
            j++;
        if (j == sizeof(op_table) / sizeof(op_table[0])) {
            problem(ld, it->line,
                    "unknown operation \"%s\" for table \"%s\" (known: %s)",
                    it->str, rc->tname, OP_NAMES);
            continue;
        }
        ops |= op_bit(op_table[j].op);
    }
    rc->rt.ops = ops;
}

/* Files the route of a table under its table name. */
static void add_route(struct loader *ld, const struct route_ctx *rc)
{
    struct route_set *rs = ld->rs;
    struct route *r = &rs->routes[rs->n];
    *r = rc->rt;
    uint32_t h = name_hash(r->table);
    struct table_slot *s = table_slot(rs->slots, rs->nslots, r->table, h);
    if (s->table == NULL) {
        s->table = r->table;
        s->hash = h;
    }
    /* the YAML reader refuses duplicate keys, so this is only a guard */
    bool twice = r->schema == NULL ? s->plain != NULL : false;
    for (const struct route *q = s->qualified; q != NULL && !twice;
         q = q->next_qualified)
        twice = r->schema != NULL && strcmp(q->schema, r->schema) == 0;
    if (twice) {
        problem(ld, rc->key->line, "table \"%s\" has a second route",
                rc->tname);
        return;
    }
    if (r->schema == NULL) {
        s->plain = r;
    } else {
        r->next_qualified = s->qualified;
        s->qualified = r;
    }
    rs->n++;
}

static void parse_route(struct loader *ld, const struct cdc_yaml_node *key,
                        const struct cdc_yaml_node *val)
{
    size_t before = ld->nproblems;
    struct route_ctx rc = {.key = key, .tname = key->str};
    size_t dot = 0;
    if (cdc_yaml_is_null(key)) {
        problem(ld, key->line, "route key must name a table, not null");
    } else {
        switch (name_split(key->str, key->len, &dot)) {
        case NAME_EMPTY:
            problem(ld, key->line, "route key must name a table, not \"\"");
            break;
        case NAME_DOTS:
            problem(ld, key->line, "table key \"%s\" has more than one dot",
                    key->str);
            break;
        case NAME_EMPTY_PART:
            problem(ld, key->line,
                    "table key \"%s\" has an empty schema or table name",
                    key->str);
            break;
        case NAME_OK:
            rc.key_table = dot < key->len ? key->str + dot + 1 : key->str;
            rc.key_table_len = key->len - (size_t)(rc.key_table - key->str);
            break;
        }
    }
    if (val == NULL || val->kind != CDC_YAML_MAP) {
        problem(ld, value_line(key, val),
                "route of table \"%s\" must be a mapping, not %s", rc.tname,
                kind_name(val));
        return;
    }
    for (size_t i = 0; i < val->n; i++) {
        const struct cdc_yaml_node *k = val->keys[i];
        const struct cdc_yaml_node *v = val->items[i];
        if (strcmp(k->str, "source_table") == 0)
            parse_source_table(ld, &rc, k, v);
        else if (strcmp(k->str, "destination_table") == 0)
            parse_destination(ld, &rc, k, v);
        else if (strcmp(k->str, "column_mappings") == 0)
            parse_mappings(ld, &rc, k, v);
        else if (strcmp(k->str, "operations") == 0)
            parse_operations(ld, &rc, k, v);
        else
            problem(ld, k->line,
                    "unknown key \"%s\" in route of table \"%s\" (known: "
                    "source_table, destination_table, column_mappings, "
                    "operations)",
                    k->str, rc.tname);
    }
    if (ld->nproblems != before)
        return;
    struct cdc_arena *a = &ld->rs->arena;
    rc.rt.key = keep(ld, key);
    if (dot < key->len) {
        rc.rt.schema = cdc_arena_strndup(a, key->str, dot);
        rc.rt.table = cdc_arena_strdup(a, key->str + dot + 1);
    } else {
        rc.rt.table = rc.rt.key;
    }
    add_route(ld, &rc);
}

/* Builds the set from a parsed document; *out stays NULL on failure. */
static int build(const struct cdc_yaml_doc *doc, const char *name,
                 struct route_set **out, struct cdc_buf *problems,
                 struct cdc_err *err)
{
    int rc = CDC_OK;
    struct route_set *rs = cdc_xcalloc(1, sizeof(*rs));
    cdc_arena_init(&rs->arena);
    struct loader ld = {
        .name = name, .problems = problems, .err = err, .rs = rs};
    const struct cdc_yaml_node *root = cdc_yaml_root(doc);
    if (is_null(root))
        goto out; /* an empty file: no routes */
    if (root->kind != CDC_YAML_MAP) {
        problem(&ld, root->line,
                "top level must be a mapping of tables to routes, not %s",
                kind_name(root));
        goto out;
    }
    rs->routes = arena_zalloc(&rs->arena, (root->n + 1) * sizeof(struct route));
    rs->nslots = pow2_at_least(2 * root->n + 1);
    rs->slots =
        arena_zalloc(&rs->arena, rs->nslots * sizeof(struct table_slot));
    for (size_t i = 0; i < root->n; i++)
        parse_route(&ld, root->keys[i], root->items[i]);
out:
    if (ld.nproblems > 0) {
        rc = CDC_ECONFIG;
        route_free(rs);
        rs = NULL;
    }
    *out = rs;
    return rc;
}

/* Parsing failed: the reader's message is the one problem. */
static int yaml_failed(const struct cdc_err *yerr, struct cdc_buf *problems,
                       struct cdc_err *err)
{
    if (problems != NULL)
        (void)cdc_buf_printf(problems, "%s\n", yerr->msg);
    return cdc_err_set(err, yerr->code, yerr->flags, "%s", yerr->msg);
}

int route_parse(const void *data, size_t len, const char *name,
                struct route_set **out, struct cdc_buf *problems,
                struct cdc_err *err)
{
    struct cdc_yaml_doc *doc = NULL;
    struct cdc_err yerr = {0};
    *out = NULL;
    int rc = cdc_yaml_parse(data, len, name, &doc, &yerr);
    if (rc != CDC_OK)
        rc = yaml_failed(&yerr, problems, err);
    else
        rc = build(doc, name, out, problems, err);
    cdc_yaml_free(doc);
    return rc;
}

int route_load(const char *path, struct route_set **out,
               struct cdc_buf *problems, struct cdc_err *err)
{
    struct cdc_yaml_doc *doc = NULL;
    struct cdc_err yerr = {0};
    *out = NULL;
    int rc = cdc_yaml_load_file(path, &doc, &yerr);
    if (rc != CDC_OK)
        rc = yaml_failed(&yerr, problems, err);
    else
        rc = build(doc, path, out, problems, err);
    cdc_yaml_free(doc);
    return rc;
}

/* ==== Applying ==== */

/*
 * No cache of the last (schema, table) pointers: the arena an event lives
 * in is reset and reused, so the same address can hold another table's
 * name in the next batch. A hash of the table name and one comparison
 * cost about as much as checking such a cache would.
 */
static const struct route *route_find(const struct route_set *rs,
                                      const char *schema, const char *table)
{
    uint32_t h = name_hash(table);
    const struct table_slot *s = table_slot(rs->slots, rs->nslots, table, h);
    if (s->table == NULL)
        return NULL;
    if (schema != NULL) {
        for (const struct route *q = s->qualified; q != NULL;
             q = q->next_qualified) {
            if (strcmp(q->schema, schema) == 0)
                return q;
        }
    }
    return s->plain;
}

static bool op_selected(const struct route *rt, enum cdc_op op)
{
    if (rt->ops == 0)
        return true;
    unsigned want = op_bit(op);
    /* rows of the initial copy are inserts to whoever receives them */
    if (op == CDC_OP_COPY)
        want |= op_bit(CDC_OP_INSERT);
    return (rt->ops & want) != 0;
}

static const struct name_ent *name_get(const struct route *rt, const char *name)
{
    const struct name_ent *e =
        name_slot(rt->names, rt->names_cap, name, name_hash(name));
    return e->name != NULL ? e : NULL;
}

/* The names of one row as the source gave them: the columns it sent and,
 * for a new row, those it left out as unchanged. */
struct row {
    const struct cdc_col *cols;
    size_t ncols;
    const char *const *names;
    size_t nnames;
};

static bool row_has(const struct row *r, const char *name)
{
    for (size_t i = 0; i < r->ncols; i++) {
        if (strcmp(r->cols[i].name, name) == 0)
            return true;
    }
    for (size_t i = 0; i < r->nnames; i++) {
        if (strcmp(r->names[i], name) == 0)
            return true;
    }
    return false;
}

/* Two columns that a rename gives one name. */
struct clash {
    const char *from; /* mapped onto to */
    const char *to;   /* unmapped, already called so */
};

/* The new name of a column, or NULL when it keeps its own. */
static const char *new_name(const struct route *rt, const char *name,
                            const struct row *row, struct clash *cl)
{
    const struct name_ent *e = name_get(rt, name);
    if (e == NULL)
        return NULL;
    if (e->to != NULL)
        return e->to;
    if (e->from != NULL && cl->to == NULL && row_has(row, e->from)) {
        cl->from = e->from;
        cl->to = e->name;
    }
    return NULL;
}

static struct cdc_col *rename_cols(const struct route *rt, struct cdc_col *cols,
                                   size_t n, const struct row *row,
                                   struct cdc_arena *arena, struct clash *cl)
{
    struct cdc_col *out = cols;
    for (size_t i = 0; i < n; i++) {
        const char *to = new_name(rt, cols[i].name, row, cl);
        if (to == NULL)
            continue;
        if (out == cols) {
            out = cdc_arena_alloc(arena, n * sizeof(*out));
            memcpy(out, cols, n * sizeof(*out));
        }
        out[i].name = to;
    }
    return out;
}

static const char **rename_names(const struct route *rt, const char **names,
                                 size_t n, const struct row *row,
                                 struct cdc_arena *arena, struct clash *cl)
{
    const char **out = names;
    for (size_t i = 0; i < n; i++) {
        const char *to = new_name(rt, names[i], row, cl);
        if (to == NULL)
            continue;
        if (out == names) {
            out = cdc_arena_alloc(arena, n * sizeof(*out));
            memcpy(out, names, n * sizeof(*out));
        }
        out[i] = to;
    }
    return out;
}

/* A schema change under a route: the statement names the table as the
 * route renames it; a statement that names a renamed column, or names the
 * table where it cannot be rewritten safely, is refused. */
static int route_ddl(const struct route *rt, struct cdc_event *ev,
                     struct cdc_arena *arena, struct cdc_err *err)
{
    const char *sql = ev->ddl;
    size_t len = strlen(sql);
    const char *schema = ev->schema ? ev->schema : "public";
    for (size_t i = 0; rt->names != NULL && i < rt->names_cap; i++) {
        const struct name_ent *e = &rt->names[i];
        if (e->name != NULL && e->to != NULL &&
            cdc_sql_mentions(sql, len, e->name))
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "schema change of \"%s\".\"%s\" not applied: "
                               "it names column \"%s\", which routing "
                               "renames to \"%s\" (statements are not "
                               "rewritten for column renames)",
                               schema, ev->table, e->name, e->to);
    }
    if (rt->dst_schema == NULL && rt->dst_table == NULL)
        return ROUTE_KEEP;
    if (ev->source != NULL && strcmp(ev->source, "postgres") != 0)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "schema change of \"%s\".\"%s\" not applied: "
                           "routing gives the table another name, and only "
                           "PostgreSQL's statements are rewritten for that "
                           "(this one comes from a %s source)",
                           schema, ev->table, ev->source);
    const char *to_schema = rt->dst_schema ? rt->dst_schema : schema;
    const char *to_table = rt->dst_table ? rt->dst_table : ev->table;
    struct cdc_buf out;
    cdc_buf_init(&out, 0);
    int rc = cdc_sql_rewrite_table(sql, len, schema, ev->table, to_schema,
                                   to_table, &out, err);
    if (rc != CDC_OK) {
        cdc_buf_release(&out);
        return cdc_err_prefix(err,
                              "schema change of \"%s\".\"%s\" not applied",
                              schema, ev->table);
    }
    ev->ddl = cdc_arena_strndup(arena, out.data ? out.data : "", out.len);
    cdc_buf_release(&out);
    return ROUTE_KEEP;
}

int route_apply(const struct route_set *rs, struct cdc_event *ev,
                struct cdc_arena *arena, struct cdc_err *err)
{
    if (rs->n == 0 || ev->table == NULL)
        return ROUTE_KEEP;
    const struct route *rt = route_find(rs, ev->schema, ev->table);
    if (rt == NULL)
        return ROUTE_KEEP;
    if (!op_selected(rt, ev->op))
        return ROUTE_DROP;
    if (ev->op == CDC_OP_DDL && ev->ddl != NULL) {
        int rc = route_ddl(rt, ev, arena, err);
        if (rc != ROUTE_KEEP)
            return rc;
    }

    /* everything is worked out before ev changes, so a refused event goes
     * to the dead letters as it came */
    struct cdc_col *cols = ev->cols;
    struct cdc_col *old = ev->old;
    const char **key = ev->key;
    const char **unchanged = ev->unchanged;
    if (rt->names != NULL && ev->op != CDC_OP_DDL) {
        struct row newrow = {ev->cols, ev->ncols, ev->unchanged,
                             ev->nunchanged};
        struct row oldrow = {ev->old, ev->nold, NULL, 0};
        struct row keyrow = {NULL, 0, ev->key, ev->nkey};
        struct clash cl = {0};
        cols = rename_cols(rt, ev->cols, ev->ncols, &newrow, arena, &cl);
        unchanged = rename_names(rt, ev->unchanged, ev->nunchanged, &newrow,
                                 arena, &cl);
        old = rename_cols(rt, ev->old, ev->nold, &oldrow, arena, &cl);
        key = rename_names(rt, ev->key, ev->nkey, &keyrow, arena, &cl);
        if (cl.to != NULL) {
            bool qualified = ev->schema != NULL;
            return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                               "routing of table \"%s%s%s\": columns \"%s\" "
                               "and \"%s\" both become \"%s\"",
                               qualified ? ev->schema : "",
                               qualified ? "." : "", ev->table, cl.from, cl.to,
                               cl.to);
        }
    }
    ev->cols = cols;
    ev->old = old;
    ev->key = key;
    ev->unchanged = unchanged;
    if (rt->dst_schema != NULL)
        ev->schema = rt->dst_schema;
    if (rt->dst_table != NULL)
        ev->table = rt->dst_table;
    return ROUTE_KEEP;
}

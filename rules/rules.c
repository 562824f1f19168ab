/*
 * rules.c: rules files (pg_flo's format and more, see README.md): reading
 * and checking a file whole, compiling its regexes once, choosing the
 * rules of each table once, and applying transforms and filters to each
 * change. Field operations and the copy-on-write editing of a change live
 * in ops.c; typed comparison and masking in compare.c.
 *
 * A loaded set never changes, except for its per-table cache and scratch
 * space (pcre2 match data, a substitution buffer, random bytes): that is
 * why a set belongs to one thread. A filter that cannot be decided is an
 * error for the dead letters, never a silent drop.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "rules/rules_int.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ==== The loaded form ==== */

enum rule_type {
    RT_TRANSFORM,
    RT_FILTER,
    RT_EXCLUDE,
    RT_RENAME,
    RT_DEFAULT,
    RT_SET,
    RT_CONCAT,
    RT_COPY,
    RT_UUID,
    RT_TIMESTAMP,
};

/* Indexed by enum rule_type. */
static const char *const type_names[] = {
    "transform", "filter", "exclude_column", "rename",    "default", "set",
    "concat",    "copy",   "uuid",           "timestamp", NULL,
};

enum fop {
    F_EQ,
    F_NE,
    F_GT,
    F_LT,
    F_GTE,
    F_LTE,
    F_CONTAINS,
    F_REGEX,
    F_IN,
    F_NOT_IN,
    F_IS_NULL,
    F_IS_NOT_NULL,
};

/* Indexed by enum fop. */
static const char *const fop_names[] = {
    "eq",    "ne", "gt",     "lt",      "gte",         "lte", "contains",
    "regex", "in", "not_in", "is_null", "is_not_null", NULL,
};

/* Operations a rule selects. */
enum op_bits {
    OPB_INSERT = 1 << 0,
    OPB_UPDATE = 1 << 1,
    OPB_DELETE = 1 << 2,
    OPB_COPY = 1 << 3,
    OPB_ALL = OPB_INSERT | OPB_UPDATE | OPB_DELETE | OPB_COPY,
};

/* A piece of a replacement: text, or a group of the match. */
struct rseg {
    const char *lit; /* NULL: the group */
    size_t len;
    uint32_t group;
};

/* A filter's value, with the kinds it can be read as (bit 1 << kind),
 * found once at load so a change pays only for its own value. */
struct rvalue {
    const char *s;
    size_t len;
    unsigned valid;
};

struct rule {
    enum rule_type type;
    size_t line;
    const char *schema; /* NULL: any schema */
    const char *table;  /* NULL: any table ("*") */
    unsigned ops;       /* enum op_bits */
    bool skip_deletes;  /* allow_empty_deletes */
    const char *column;
    /* transform */
    bool regex; /* a regex transform; a mask transform otherwise */
    const char *mask;
    size_t mask_len;
    const char *replace;
    size_t replace_len;
    /* the replacement in pieces, read once at load; NULL when it names a
     * (*MARK), which only pcre2_substitute knows */
    struct rseg *segs;
    size_t nsegs;
    /* transform regex and filter regex */
    pcre2_code *re;
    pcre2_match_data *md;
    /* filter */
    enum fop fop;
    struct rvalue *values;
    size_t nvalues;
    /* the field operations */
    struct rules__field field;
    /* what the last change told: the index of the column in its row and
     * the kind of its type (changes of one table come alike, so checking
     * these costs one string compare instead of a search) */
    size_t col_hint;
    char kind_type[48];
    enum rules__kind kind;
};

/* The rules that select one table, in file order: one cache entry. */
struct table_rules {
    const char *schema; /* "" when the change has none */
    const char *table;  /* NULL: a free slot */
    struct rule **rules;
    size_t n;
};

struct rules_set {
    struct cdc_arena arena; /* the rules' strings and the cache's lists */
    struct rule **rules;    /* in file order */
    size_t nrules, cap;
    struct table_rules *slots; /* open addressing; a power of two */
    size_t nslots, nused;
    size_t last; /* slot of the last lookup, or SIZE_MAX */
    struct cdc_buf scratch;
    struct rules__rand rnd;
};

/* pcre2 allocates with malloc; running out of memory ends the process
 * like cdc_xmalloc does. */
static void *need(void *p)
{
    if (p == NULL) {
        cdc_log(CDC_LOG_ERROR, "rules", "out of memory");
        abort();
    }
    return p;
}

/* "a" or "an", for messages that name a rule by its type. */
static const char *article(enum rule_type type)
{
    return type == RT_EXCLUDE ? "an" : "a";
}

/* ==== Loading: reporting ==== */

struct loader {
    const char *name;
    struct cdc_buf *problems;
    struct cdc_err *err;
    size_t nproblems;
    struct rules_set *rs;
};

static void problem(struct loader *ld, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct loader *ld, size_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cdc_one_line(msg);
    if (ld->nproblems == 0)
        cdc_err_set(ld->err, CDC_ECONFIG, 0, "%s:%zu: %s", ld->name, line, msg);
    /* a list of problems too long for its buffer loses its tail only */
    if (ld->problems != NULL)
        (void)cdc_buf_printf(ld->problems, "%s:%zu: %s\n", ld->name, line, msg);
    ld->nproblems++;
}

static const char *what(const struct cdc_yaml_node *n)
{
    if (n->kind == CDC_YAML_SEQ)
        return "a list";
    if (n->kind == CDC_YAML_MAP)
        return "a mapping";
    if (cdc_yaml_is_null(n))
        return "null";
    return "a single value";
}

/* The value of key in map; NULL when absent or when there is no map. */
static const struct cdc_yaml_node *get(const struct cdc_yaml_node *map,
                                       const char *key)
{
    return map == NULL ? NULL : cdc_yaml_get(map, key);
}

static bool is_str(const struct cdc_yaml_node *n)
{
    return n->kind == CDC_YAML_SCALAR && !cdc_yaml_is_null(n);
}

static const char *keep(struct loader *ld, const struct cdc_yaml_node *n)
{
    return cdc_arena_strndup(&ld->rs->arena, n->str, n->len);
}

/* Whether s is in the NULL-terminated list, exactly (keys are). */
static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(s, list[i]) == 0)
            return true;
    }
    return false;
}

/* Index of s in the NULL-terminated list (any case), or -1. */
static int list_index(const char *s, const char *const *list)
{
    for (int i = 0; list[i] != NULL; i++) {
        if (strcasecmp(s, list[i]) == 0)
            return i;
    }
    return -1;
}

static const char *join(const char *const *a, const char *const *b, char *buf,
                        size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    const char *const *lists[] = {a, b};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++) {
            int n = snprintf(buf + at, size - at, "%s%s", at ? ", " : "",
                             lists[l][i]);
            if (n < 0 || (size_t)n >= size - at)
                return buf;
            at += (size_t)n;
        }
    }
    return buf;
}

/* Keys that every rule's parameters may hold (pg_flo writes them there). */
static const char *const param_common[] = {"operations", "allow_empty_deletes",
                                           NULL};

/* Reports each key of map that is not in known, in param_common (for
 * parameters), or in skip (keys reported otherwise). */
static void check_keys(struct loader *ld, const struct cdc_yaml_node *map,
                       const char *const *known, const char *const *skip,
                       bool params, const char *where)
{
    static const char *const none[] = {NULL};
    const char *const *common = params ? param_common : none;
    for (size_t i = 0; i < map->n; i++) {
        const char *key = map->keys[i]->str;
        if (in_list(key, known) || in_list(key, common) ||
            (skip != NULL && in_list(key, skip)))
            continue;
        char buf[256];
        problem(ld, map->keys[i]->line, "unknown key \"%s\" in %s (known: %s)",
                key, where, join(known, common, buf, sizeof(buf)));
    }
}

enum str_flags {
    S_REQUIRED = 1 << 0, /* absent is a problem */
    S_EMPTY_OK = 1 << 1, /* "" is a value (null never is) */
};

/* The scalar at key in map if it holds a usable string; NULL when absent
 * or after a problem. line is where a missing key is reported. */
static const struct cdc_yaml_node *
get_str(struct loader *ld, const struct cdc_yaml_node *map, const char *key,
        const char *label, const char *owner, size_t line, unsigned flags)
{
    const struct cdc_yaml_node *n = get(map, key);
    if (n == NULL) {
        if (flags & S_REQUIRED)
            problem(ld, line, "%s needs %s", owner, label);
        return NULL;
    }
    if (n->kind != CDC_YAML_SCALAR) {
        problem(ld, n->line, "%s must be a single value, not %s", label,
                what(n));
        return NULL;
    }
    if (cdc_yaml_is_null(n)) {
        problem(ld, n->line, "%s must not be empty%s", label,
                (flags & S_EMPTY_OK) ? " (write \"\" for an empty string)"
                                     : "");
        return NULL;
    }
    if (n->len == 0 && !(flags & S_EMPTY_OK)) {
        problem(ld, n->line, "%s must not be empty", label);
        return NULL;
    }
    return n;
}

/* ==== Loading: selection of operations ==== */

static unsigned parse_ops(struct loader *ld, const struct cdc_yaml_node *n)
{
    if (n->kind == CDC_YAML_MAP || cdc_yaml_is_null(n)) {
        problem(ld, n->line,
                "operations must be a list of INSERT, UPDATE, DELETE, COPY, "
                "not %s",
                what(n));
        return 0;
    }
    size_t count = n->kind == CDC_YAML_SEQ ? n->n : 1;
    if (count == 0) {
        problem(ld, n->line,
                "operations must not be empty (leave it out to select every "
                "row change)");
        return 0;
    }
    static const char *const names[] = {"INSERT", "UPDATE", "DELETE", "COPY",
                                        NULL};
    unsigned bits = 0;
    bool bad = false;
    for (size_t i = 0; i < count; i++) {
        const struct cdc_yaml_node *it =
            n->kind == CDC_YAML_SEQ ? n->items[i] : n;
        if (!is_str(it)) {
            problem(ld, it->line,
                    "items of operations must be operation names, not %s",
                    what(it));
            bad = true;
            continue;
        }
        int k = list_index(it->str, names);
        if (k >= 0) {
            bits |= 1u << k;
        } else if (strcasecmp(it->str, "TRUNCATE") == 0 ||
                   strcasecmp(it->str, "DDL") == 0) {
            problem(ld, it->line,
                    "rules apply to row changes only: \"%s\" cannot be "
                    "selected in operations (known: INSERT, UPDATE, DELETE, "
                    "COPY)",
                    it->str);
            bad = true;
        } else {
            problem(ld, it->line,
                    "unknown operation \"%s\" in operations (known: INSERT, "
                    "UPDATE, DELETE, COPY)",
                    it->str);
            bad = true;
        }
    }
    return bad ? 0 : bits;
}

/* allow_empty_deletes: 1 true, 0 false, -1 after a problem. */
static int parse_bool(struct loader *ld, const struct cdc_yaml_node *n)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    if (n->kind == CDC_YAML_SCALAR && !n->quoted &&
        list_index(n->str, yes) >= 0)
        return 1;
    if (n->kind == CDC_YAML_SCALAR && !n->quoted && list_index(n->str, no) >= 0)
        return 0;
    if (n->kind == CDC_YAML_SCALAR && !cdc_yaml_is_null(n))
        problem(ld, n->line,
                "allow_empty_deletes must be true or false, not \"%s\"",
                n->str);
    else
        problem(ld, n->line,
                "allow_empty_deletes must be true or false, not %s", what(n));
    return -1;
}

/* operations and allow_empty_deletes, beside type or inside parameters
 * (where pg_flo reads them); given in both places, they must agree. */
static void parse_selection(struct loader *ld, struct rule *r,
                            const struct cdc_yaml_node *node,
                            const struct cdc_yaml_node *params)
{
    const struct cdc_yaml_node *top = get(node, "operations");
    const struct cdc_yaml_node *in = get(params, "operations");
    unsigned top_ops = top != NULL ? parse_ops(ld, top) : 0;
    unsigned in_ops = in != NULL ? parse_ops(ld, in) : 0;
    if (top != NULL && in != NULL && top_ops != 0 && in_ops != 0 &&
        top_ops != in_ops)
        problem(ld, in->line,
                "operations is given beside type and in parameters with "
                "different values (give it once)");
    r->ops = top != NULL ? top_ops : in != NULL ? in_ops : OPB_ALL;

    top = get(node, "allow_empty_deletes");
    in = get(params, "allow_empty_deletes");
    int top_b = top != NULL ? parse_bool(ld, top) : -1;
    int in_b = in != NULL ? parse_bool(ld, in) : -1;
    if (top_b >= 0 && in_b >= 0 && top_b != in_b)
        problem(ld, in->line,
                "allow_empty_deletes is given beside type and in parameters "
                "with different values (give it once)");
    r->skip_deletes = top_b == 1 || in_b == 1;
}

/* ==== Loading: regexes ==== */

static pcre2_code *compile(struct loader *ld, const struct cdc_yaml_node *n)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)n->str, n->len,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            msg[0] = '\0';
        problem(ld, n->line, "invalid regex \"%s\": %s at offset %zu", n->str,
                (const char *)msg, (size_t)off);
        return NULL;
    }
    /* without JIT (not built in, or no executable memory) the interpreter
     * gives the same results, only slower */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Checks every "$" of a replacement against the pattern's groups, with
 * pcre2's own syntax: $$, $n, ${n}, $name, ${name}, $*MARK, ${*MARK}.
 * pcre2 itself looks at a replacement only when a match is found, which
 * is too late: a change would go to the dead letters. */
static void add_seg(struct loader *ld, struct rule *r, size_t *cap,
                    const char *lit, size_t len, uint32_t group)
{
    if (lit != NULL && len == 0)
        return;
    if (r->nsegs == *cap) {
        size_t ncap = *cap == 0 ? 4 : *cap * 2;
        struct rseg *a = cdc_arena_alloc(&ld->rs->arena, ncap * sizeof(*a));
        if (r->nsegs > 0)
            memcpy(a, r->segs, r->nsegs * sizeof(*a));
        r->segs = a;
        *cap = ncap;
    }
    r->segs[r->nsegs++] = (struct rseg){.lit = lit, .len = len, .group = group};
}

/* Checks every "$" of a replacement against the pattern's groups, with
 * pcre2's own syntax: $$, $n, ${n}, $name, ${name}, $*MARK, ${*MARK}, and
 * keeps the replacement in r as pieces (r->replace must hold its text).
 * pcre2 itself looks at a replacement only when a match is found, which
 * is too late: a change would go to the dead letters. */
static void check_replace(struct loader *ld, struct rule *r,
                          const struct cdc_yaml_node *rep)
{
    const pcre2_code *re = r->re;
    uint32_t ngroups = 0;
    (void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    const char *s = rep->str;
    const char *kept = r->replace;
    size_t n = rep->len;
    size_t i = 0;
    size_t lit = 0;
    size_t cap = 0;
    bool mark = false;
    while (i < n) {
        if (s[i++] != '$')
            continue;
        size_t at = i - 1;
        if (i < n && s[i] == '$') {
            add_seg(ld, r, &cap, kept + lit, i - lit, 0);
            i++;
            lit = i;
            continue;
        }
        add_seg(ld, r, &cap, kept + lit, at - lit, 0);
        bool brace = i < n && s[i] == '{';
        if (brace)
            i++;
        size_t start = i;
        if (i < n && s[i] == '*') {
            for (i++; i < n && word_char(s[i]); i++)
                ;
            mark = true;
        } else if (i < n && s[i] >= '0' && s[i] <= '9') {
            unsigned long group = 0;
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                group = group > 100000 ? group : group * 10 + (s[i] - '0');
            add_seg(ld, r, &cap, NULL, 0, (uint32_t)group);
            if (group > ngroups) {
                problem(ld, rep->line,
                        "replacement \"%s\" refers to group %lu, but the "
                        "pattern has %u group%s",
                        s, group, ngroups, ngroups == 1 ? "" : "s");
                return;
            }
        } else {
            for (; i < n && word_char(s[i]); i++)
                ;
            /* pcre2 limits group names to 32 code units */
            char name[40];
            if (i == start || i - start > 32) {
                problem(ld, rep->line,
                        "invalid replacement \"%s\": \"$\" at offset %zu is "
                        "not followed by a group number, a group name or "
                        "\"$\" (write \"$$\" for a dollar sign)",
                        s, at);
                return;
            }
            memcpy(name, s + start, i - start);
            name[i - start] = '\0';
            int number = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            add_seg(ld, r, &cap, NULL, 0, number > 0 ? (uint32_t)number : 0);
            if (number < 0) {
                problem(ld, rep->line,
                        "replacement \"%s\" refers to group \"%s\", which the "
                        "pattern does not have",
                        s, name);
                return;
            }
        }
        if (brace) {
            if (i >= n || s[i] != '}') {
                problem(ld, rep->line,
                        "invalid replacement \"%s\": \"${\" at offset %zu has "
                        "no closing \"}\"",
                        s, at);
                return;
            }
            i++;
        }
        lit = i;
    }
    add_seg(ld, r, &cap, kept + lit, n - lit, 0);
    if (mark) {
        r->segs = NULL;
        r->nsegs = 0;
    } else if (r->nsegs == 0) {
        /* an empty replacement: one empty piece, so segs is not NULL */
        add_seg(ld, r, &cap, NULL, 0, 0);
        r->segs[0].lit = kept;
    }
}

/* Compiles the pattern into r, with its match data. */
static bool set_regex(struct loader *ld, struct rule *r,
                      const struct cdc_yaml_node *pattern)
{
    r->re = compile(ld, pattern);
    if (r->re == NULL)
        return false;
    r->md = need(pcre2_match_data_create_from_pattern(r->re, NULL));
    return true;
}

/* ==== Loading: rule types ==== */

static void parse_transform(struct loader *ld, struct rule *r,
                            const struct cdc_yaml_node *params, size_t line)
{
    const struct cdc_yaml_node *t =
        get_str(ld, params, "type", "parameters.type (mask or regex)",
                "a transform", line, S_REQUIRED);
    if (t == NULL)
        return;
    if (strcasecmp(t->str, "mask") == 0) {
        static const char *const keys[] = {"type", "mask_char", NULL};
        check_keys(ld, params, keys, NULL, true,
                   "parameters of a mask transform");
        const struct cdc_yaml_node *m =
            get_str(ld, params, "mask_char", "parameters.mask_char",
                    "a mask transform", line, S_REQUIRED);
        if (m != NULL) {
            r->mask = keep(ld, m);
            r->mask_len = m->len;
        }
    } else if (strcasecmp(t->str, "regex") == 0) {
        static const char *const keys[] = {"type", "pattern", "replace", NULL};
        check_keys(ld, params, keys, NULL, true,
                   "parameters of a regex transform");
        r->regex = true;
        const struct cdc_yaml_node *p =
            get_str(ld, params, "pattern", "parameters.pattern",
                    "a regex transform", line, S_REQUIRED);
        const struct cdc_yaml_node *rep =
            get_str(ld, params, "replace", "parameters.replace",
                    "a regex transform", line, S_REQUIRED | S_EMPTY_OK);
        if (rep != NULL) {
            r->replace = keep(ld, rep);
            r->replace_len = rep->len;
        }
        if (p != NULL && set_regex(ld, r, p) && rep != NULL)
            check_replace(ld, r, rep);
    } else {
        problem(ld, t->line,
                "unknown transform type \"%s\" (known: mask, regex)", t->str);
    }
}

static void keep_value(struct loader *ld, struct rvalue *v,
                       const struct cdc_yaml_node *n)
{
    v->s = keep(ld, n);
    v->len = n->len;
    v->valid = 0;
    for (int k = RULES_KIND_TEXT; k <= RULES_KIND_UUID; k++) {
        if (rules__valid((enum rules__kind)k, n->str, n->len))
            v->valid |= 1u << k;
    }
}

static void parse_filter(struct loader *ld, struct rule *r,
                         const struct cdc_yaml_node *params, size_t line)
{
    const struct cdc_yaml_node *o =
        get_str(ld, params, "operator", "parameters.operator", "a filter", line,
                S_REQUIRED);
    if (o == NULL)
        return;
    int k = list_index(o->str, fop_names);
    if (k < 0) {
        char buf[256];
        problem(ld, o->line, "unknown filter operator \"%s\" (known: %s)",
                o->str, join(fop_names, NULL, buf, sizeof(buf)));
        return;
    }
    r->fop = (enum fop)k;
    const char *name = fop_names[k];
    char where[64];
    snprintf(where, sizeof(where), "parameters of a filter \"%s\"", name);
    const struct cdc_yaml_node *v = get(params, "value");
    const struct cdc_yaml_node *pat = get(params, "pattern");

    if (r->fop == F_IS_NULL || r->fop == F_IS_NOT_NULL) {
        static const char *const keys[] = {"operator", NULL};
        static const char *const no_value[] = {"value", "pattern", NULL};
        for (size_t i = 0; i < params->n; i++) {
            const struct cdc_yaml_node *key = params->keys[i];
            if (in_list(key->str, no_value))
                problem(ld, key->line, "operator \"%s\" takes no %s", name,
                        key->str);
        }
        check_keys(ld, params, keys, no_value, true, where);
        return;
    }
    if (r->fop == F_REGEX) {
        static const char *const keys[] = {"operator", "value", "pattern",
                                           NULL};
        check_keys(ld, params, keys, NULL, true, where);
        if (v != NULL && pat != NULL) {
            problem(ld, pat->line,
                    "a filter \"regex\" takes its pattern in value or in "
                    "pattern, not both");
            return;
        }
        const struct cdc_yaml_node *p =
            get_str(ld, params, v != NULL ? "value" : "pattern",
                    v != NULL ? "parameters.value" : "parameters.pattern",
                    "a filter \"regex\"", line, S_REQUIRED | S_EMPTY_OK);
        if (p != NULL)
            (void)set_regex(ld, r, p);
        return;
    }
    static const char *const keys[] = {"operator", "value", NULL};
    check_keys(ld, params, keys, NULL, true, where);
    if (v == NULL) {
        problem(ld, line, "a filter \"%s\" needs parameters.value", name);
        return;
    }
    if (r->fop == F_IN || r->fop == F_NOT_IN) {
        if (v->kind != CDC_YAML_SEQ || v->n == 0) {
            problem(ld, v->line,
                    "parameters.value of a filter \"%s\" must be a non-empty "
                    "list of values, not %s",
                    name, v->kind == CDC_YAML_SEQ ? "an empty list" : what(v));
            return;
        }
        r->values = cdc_arena_alloc(&ld->rs->arena, v->n * sizeof(*r->values));
        for (size_t i = 0; i < v->n; i++) {
            const struct cdc_yaml_node *it = v->items[i];
            if (!is_str(it))
                problem(ld, it->line,
                        "items of parameters.value must be single values, "
                        "not %s%s",
                        what(it),
                        it->kind == CDC_YAML_SCALAR ? " (use is_null)" : "");
            else
                keep_value(ld, &r->values[r->nvalues++], it);
        }
        return;
    }
    if (v->kind != CDC_YAML_SCALAR) {
        problem(ld, v->line,
                "parameters.value of a filter \"%s\" must be a single value, "
                "not %s%s",
                name, what(v), v->kind == CDC_YAML_SEQ ? " (use in)" : "");
        return;
    }
    if (cdc_yaml_is_null(v)) {
        problem(ld, v->line,
                "parameters.value of a filter \"%s\" is null, which nothing "
                "matches (use is_null or is_not_null)",
                name);
        return;
    }
    r->values = cdc_arena_alloc(&ld->rs->arena, sizeof(*r->values));
    keep_value(ld, &r->values[0], v);
    r->nvalues = 1;
}

/* The column names of a concat's columns or of exclude_column's column or
 * columns: one name or a non-empty list of them. */
static void parse_names(struct loader *ld, struct rule *r,
                        const struct cdc_yaml_node *n, const char *label)
{
    size_t count = n->kind == CDC_YAML_SEQ ? n->n : 1;
    if (n->kind == CDC_YAML_MAP || cdc_yaml_is_null(n) || count == 0) {
        problem(ld, n->line,
                "%s must be a column name or a list of them, not %s", label,
                count == 0 ? "an empty list" : what(n));
        return;
    }
    const char **names =
        cdc_arena_alloc(&ld->rs->arena, count * sizeof(*names));
    size_t got = 0;
    for (size_t i = 0; i < count; i++) {
        const struct cdc_yaml_node *it =
            n->kind == CDC_YAML_SEQ ? n->items[i] : n;
        if (!is_str(it) || it->len == 0)
            problem(ld, it->line, "items of %s must be column names, not %s",
                    label, it->len == 0 && is_str(it) ? "empty" : what(it));
        else
            names[got++] = keep(ld, it);
    }
    r->field.columns = names;
    r->field.ncolumns = got;
}

static void parse_field(struct loader *ld, struct rule *r,
                        const struct cdc_yaml_node *params, size_t line)
{
    static const char *const none[] = {NULL};
    static const char *const to_keys[] = {"to", NULL};
    static const char *const value_keys[] = {"value", "type", NULL};
    static const char *const concat_keys[] = {"columns", "separator", NULL};
    static const char *const ts_keys[] = {"value", NULL};
    static const struct {
        enum rules__field_kind kind;
        const char *const *keys;
    } by_type[] = {
        [RT_EXCLUDE] = {RULES_F_EXCLUDE, none},
        [RT_RENAME] = {RULES_F_RENAME, to_keys},
        [RT_DEFAULT] = {RULES_F_DEFAULT, value_keys},
        [RT_SET] = {RULES_F_SET, value_keys},
        [RT_CONCAT] = {RULES_F_CONCAT, concat_keys},
        [RT_COPY] = {RULES_F_COPY, to_keys},
        [RT_UUID] = {RULES_F_UUID, none},
        [RT_TIMESTAMP] = {RULES_F_TIMESTAMP, ts_keys},
    };
    const char *tname = type_names[r->type];
    char owner[64];
    snprintf(owner, sizeof(owner), "%s %s rule", article(r->type), tname);
    char where[96];
    snprintf(where, sizeof(where), "parameters of %s", owner);
    struct rules__field *f = &r->field;
    f->kind = by_type[r->type].kind;
    f->column = r->column;
    if (params != NULL)
        check_keys(ld, params, by_type[r->type].keys, NULL, true, where);
    const struct cdc_yaml_node *n;
    switch (r->type) {
    case RT_RENAME:
    case RT_COPY:
        n = get_str(ld, params, "to", "parameters.to", owner, line, S_REQUIRED);
        if (n != NULL)
            f->to = keep(ld, n);
        break;
    case RT_DEFAULT:
    case RT_SET:
        n = get(params, "value");
        if (n == NULL) {
            problem(ld, line, "%s needs parameters.value%s", owner,
                    r->type == RT_SET ? " (null for SQL NULL)" : "");
        } else if (n->kind != CDC_YAML_SCALAR) {
            problem(ld, n->line,
                    "parameters.value must be a single value, not %s", what(n));
        } else if (cdc_yaml_is_null(n) && r->type == RT_DEFAULT) {
            problem(ld, n->line,
                    "parameters.value of a default rule is null, which "
                    "changes nothing");
        } else if (!cdc_yaml_is_null(n)) {
            f->value = keep(ld, n);
            f->value_len = n->len;
        }
        n = get_str(ld, params, "type", "parameters.type", owner, line, 0);
        if (n != NULL)
            f->type = keep(ld, n);
        break;
    case RT_CONCAT:
        n = get(params, "columns");
        if (n == NULL)
            problem(ld, line, "%s needs parameters.columns", owner);
        else if (n->kind != CDC_YAML_SEQ)
            problem(ld, n->line,
                    "parameters.columns must be a list of column names, not "
                    "%s",
                    what(n));
        else
            parse_names(ld, r, n, "parameters.columns");
        f->column = r->column;
        f->sep = "";
        n = get_str(ld, params, "separator", "parameters.separator", owner,
                    line, S_EMPTY_OK);
        if (n != NULL) {
            f->sep = keep(ld, n);
            f->sep_len = n->len;
        }
        break;
    case RT_TIMESTAMP:
        n = get_str(ld, params, "value", "parameters.value", owner, line, 0);
        if (n != NULL && strcasecmp(n->str, "commit_time") == 0)
            f->commit_time = true;
        else if (n != NULL && strcasecmp(n->str, "now") != 0)
            problem(ld, n->line,
                    "parameters.value of a timestamp rule must be now or "
                    "commit_time, not \"%s\"",
                    n->str);
        break;
    default:
        break;
    }
}

/* column (one name; exclude_column: also a list, or columns). */
static void parse_column(struct loader *ld, struct rule *r,
                         const struct cdc_yaml_node *node)
{
    if (r->type != RT_EXCLUDE) {
        char owner[64];
        snprintf(owner, sizeof(owner), "%s %s rule", article(r->type),
                 type_names[r->type]);
        const struct cdc_yaml_node *n = get_str(ld, node, "column", "column",
                                                owner, node->line, S_REQUIRED);
        if (n != NULL)
            r->column = keep(ld, n);
        return;
    }
    const struct cdc_yaml_node *one = get(node, "column");
    const struct cdc_yaml_node *many = get(node, "columns");
    if (one != NULL && many != NULL)
        problem(ld, many->line,
                "an exclude_column rule takes column or columns, not both");
    else if (one == NULL && many == NULL)
        problem(ld, node->line, "an exclude_column rule needs column");
    else
        parse_names(ld, r, one != NULL ? one : many,
                    one != NULL ? "column" : "columns");
    r->field.kind = RULES_F_EXCLUDE;
}

static void add_rule(struct rules_set *rs, struct rule *r)
{
    if (rs->nrules == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->rules = cdc_xrealloc(rs->rules, rs->cap * sizeof(*rs->rules));
    }
    rs->rules[rs->nrules++] = r;
}

static void parse_rule(struct loader *ld, const char *schema, const char *table,
                       const struct cdc_yaml_node *node)
{
    char buf[256];
    if (node->kind != CDC_YAML_MAP) {
        problem(ld, node->line,
                "a rule must be a mapping (type, column, parameters), not %s",
                what(node));
        return;
    }
    const struct cdc_yaml_node *t = get(node, "type");
    if (t == NULL || !is_str(t)) {
        problem(ld, t != NULL ? t->line : node->line,
                "a rule needs type, one of: %s",
                join(type_names, NULL, buf, sizeof(buf)));
        return;
    }
    int k = list_index(t->str, type_names);
    if (k < 0) {
        problem(ld, t->line, "unknown rule type \"%s\" (known: %s)", t->str,
                join(type_names, NULL, buf, sizeof(buf)));
        return;
    }
    struct rule *r = cdc_arena_alloc(&ld->rs->arena, sizeof(*r));
    *r = (struct rule){
        .type = (enum rule_type)k,
        .line = node->line,
        .schema = schema,
        .table = table,
    };
    add_rule(ld->rs, r);

    static const char *const keys[] = {
        "type", "column", "parameters", "operations", "allow_empty_deletes",
        NULL};
    static const char *const exclude_keys[] = {
        "type",       "column",     "columns",
        "parameters", "operations", "allow_empty_deletes",
        NULL};
    char where[64];
    snprintf(where, sizeof(where), "%s %s rule", article(r->type),
             type_names[k]);
    check_keys(ld, node, r->type == RT_EXCLUDE ? exclude_keys : keys, NULL,
               false, where);

    const struct cdc_yaml_node *params = get(node, "parameters");
    bool params_ok = true;
    if (params != NULL && cdc_yaml_is_null(params)) {
        params = NULL;
    } else if (params != NULL && params->kind != CDC_YAML_MAP) {
        problem(ld, params->line, "parameters must be a mapping, not %s",
                what(params));
        params = NULL;
        params_ok = false;
    }
    parse_column(ld, r, node);
    parse_selection(ld, r, node, params);
    if (!params_ok)
        return;
    if (r->type == RT_TRANSFORM)
        parse_transform(ld, r, params, params ? params->line : node->line);
    else if (r->type == RT_FILTER)
        parse_filter(ld, r, params, params ? params->line : node->line);
    else
        parse_field(ld, r, params, params ? params->line : node->line);
}

/* "table", "schema.table" or "*". */
static bool parse_table_key(struct loader *ld, const struct cdc_yaml_node *key,
                            const char **schema, const char **table)
{
    *schema = NULL;
    *table = NULL;
    if (key->len == 1 && key->str[0] == '*')
        return true;
    const char *dot = memchr(key->str, '.', key->len);
    if (key->len == 0 || dot == key->str || dot == key->str + key->len - 1) {
        problem(ld, key->line,
                "table \"%s\" must be a table name, schema.table or \"*\"",
                key->str);
        return false;
    }
    struct cdc_arena *a = &ld->rs->arena;
    if (dot == NULL) {
        *table = keep(ld, key);
        return true;
    }
    *schema = cdc_arena_strndup(a, key->str, (size_t)(dot - key->str));
    *table = cdc_arena_strdup(a, dot + 1);
    return true;
}

static void parse_tables(struct loader *ld, const struct cdc_yaml_node *root)
{
    if (root == NULL)
        return; /* an empty document: no rules */
    if (root->kind != CDC_YAML_MAP) {
        problem(ld, root->line,
                "a rules file must be a mapping with the key \"tables\", not "
                "%s",
                what(root));
        return;
    }
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->keys[i]->str, "tables") != 0)
            problem(ld, root->keys[i]->line,
                    "unknown key \"%s\" (a rules file has only \"tables\")",
                    root->keys[i]->str);
    }
    const struct cdc_yaml_node *tables = get(root, "tables");
    if (tables == NULL) {
        problem(ld, root->line, "a rules file needs the key \"tables\"");
        return;
    }
    if (cdc_yaml_is_null(tables))
        return; /* "tables:" with nothing under it */
    if (tables->kind != CDC_YAML_MAP) {
        problem(ld, tables->line,
                "tables must be a mapping of table names to lists of rules, "
                "not %s",
                what(tables));
        return;
    }
    for (size_t i = 0; i < tables->n; i++) {
        const struct cdc_yaml_node *key = tables->keys[i];
        const struct cdc_yaml_node *list = tables->items[i];
        const char *schema, *table;
        bool key_ok = parse_table_key(ld, key, &schema, &table);
        if (list->kind != CDC_YAML_SEQ) {
            problem(ld, list->line,
                    "the rules of table \"%s\" must be a list, not %s",
                    key->str, what(list));
            continue;
        }
        if (!key_ok)
            continue;
        for (size_t j = 0; j < list->n; j++)
            parse_rule(ld, schema, table, list->items[j]);
    }
}

static int build(const struct cdc_yaml_doc *doc, const char *name,
                 struct rules_set **out, struct cdc_buf *problems,
                 struct cdc_err *err)
{
    struct rules_set *rs = cdc_xcalloc(1, sizeof(*rs));
    cdc_arena_init(&rs->arena);
    cdc_buf_init(&rs->scratch, 0);
    rs->last = SIZE_MAX;
    struct loader ld = {
        .name = name, .problems = problems, .err = err, .rs = rs};
    parse_tables(&ld, cdc_yaml_root(doc));
    if (ld.nproblems > 0) {
        rules_free(rs);
        return CDC_ECONFIG;
    }
    *out = rs;
    return CDC_OK;
}

/* A file that is not YAML at all has one problem: the parser's. */
static void yaml_failed(struct cdc_buf *problems, struct cdc_err *err)
{
    if (problems != NULL && err != NULL)
        (void)cdc_buf_printf(problems, "%s\n", err->msg);
}

int rules_load(const char *path, struct rules_set **out,
               struct cdc_buf *problems, struct cdc_err *err)
{
    struct cdc_yaml_doc *doc = NULL;
    *out = NULL;
    int rc = cdc_yaml_load_file(path, &doc, err);
    if (rc != CDC_OK) {
        yaml_failed(problems, err);
        rc = CDC_ECONFIG;
        goto out;
    }
    rc = build(doc, cdc_yaml_name(doc), out, problems, err);
out:
    cdc_yaml_free(doc);
    return rc;
}

int rules_parse(const void *data, size_t len, const char *name,
                struct rules_set **out, struct cdc_buf *problems,
                struct cdc_err *err)
{
    struct cdc_yaml_doc *doc = NULL;
    *out = NULL;
    int rc = cdc_yaml_parse(data, len, name, &doc, err);
    if (rc != CDC_OK) {
        yaml_failed(problems, err);
        rc = CDC_ECONFIG;
        goto out;
    }
    rc = build(doc, name, out, problems, err);
out:
    cdc_yaml_free(doc);
    return rc;
}

void rules_free(struct rules_set *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->nrules; i++) {
        pcre2_match_data_free(rs->rules[i]->md);
        pcre2_code_free(rs->rules[i]->re);
    }
    cdc_free(rs->rules);
    cdc_free(rs->slots);
    cdc_buf_release(&rs->scratch);
    cdc_arena_release(&rs->arena);
    cdc_free(rs);
}

size_t rules_count(const struct rules_set *rs)
{
    return rs == NULL ? 0 : rs->nrules;
}

/* ==== Choosing the rules of a table ==== */

static uint64_t hash_name(const char *schema, const char *table)
{
    /* FNV-1a over schema, a zero byte, table */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = schema;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
        if (*p == '\0')
            break;
    }
    for (const char *p = table; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static bool selects(const struct rule *r, const char *schema, const char *table)
{
    return (r->schema == NULL || strcmp(r->schema, schema) == 0) &&
           (r->table == NULL || strcmp(r->table, table) == 0);
}

static void cache_grow(struct rules_set *rs)
{
    size_t n = rs->nslots ? rs->nslots * 2 : 16;
    struct table_rules *slots = cdc_xcalloc(n, sizeof(*slots));
    for (size_t i = 0; i < rs->nslots; i++) {
        struct table_rules *e = &rs->slots[i];
        if (e->table == NULL)
            continue;
        size_t j = hash_name(e->schema, e->table) & (n - 1);
        while (slots[j].table != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = *e;
    }
    cdc_free(rs->slots);
    rs->slots = slots;
    rs->nslots = n;
    rs->last = SIZE_MAX;
}

/* The rules that select schema.table, in file order; found once per table
 * and kept. The last table looked up is tried first: changes come in runs
 * of one table. */
static const struct table_rules *
rules_for(struct rules_set *rs, const char *schema, const char *table)
{
    if (rs->last != SIZE_MAX) {
        const struct table_rules *e = &rs->slots[rs->last];
        if (strcmp(e->table, table) == 0 && strcmp(e->schema, schema) == 0)
            return e;
    }
    if ((rs->nused + 1) * 2 > rs->nslots)
        cache_grow(rs);
    size_t mask = rs->nslots - 1;
    size_t i = hash_name(schema, table) & mask;
    for (; rs->slots[i].table != NULL; i = (i + 1) & mask) {
        const struct table_rules *e = &rs->slots[i];
        if (strcmp(e->table, table) == 0 && strcmp(e->schema, schema) == 0) {
            rs->last = i;
            return e;
        }
    }
    struct table_rules *e = &rs->slots[i];
    e->schema = cdc_arena_strdup(&rs->arena, schema);
    e->table = cdc_arena_strdup(&rs->arena, table);
    size_t n = 0;
    for (size_t k = 0; k < rs->nrules; k++)
        n += selects(rs->rules[k], schema, table);
    if (n > 0) {
        e->rules = cdc_arena_alloc(&rs->arena, n * sizeof(*e->rules));
        for (size_t k = 0; k < rs->nrules; k++) {
            if (selects(rs->rules[k], schema, table))
                e->rules[e->n++] = rs->rules[k];
        }
    }
    rs->nused++;
    rs->last = i;
    return e;
}

/* ==== Filters ==== */

static const char *kind_desc(enum rules__kind kind)
{
    switch (kind) {
    case RULES_KIND_NUMBER:
        return "a number";
    case RULES_KIND_BOOL:
        return "a boolean";
    case RULES_KIND_INSTANT:
        return "a date or time stamp";
    case RULES_KIND_TIME:
        return "a time of day";
    case RULES_KIND_UUID:
        return "a uuid";
    case RULES_KIND_TEXT:
        break;
    }
    return "text";
}

/* Compares the column's value with one of the rule's values by the
 * column's kind. */
static int compare(const struct rule *r, const struct rvalue *rv,
                   const struct cdc_col *c, enum rules__kind kind,
                   const struct cdc_event *ev, int *cmp, struct cdc_err *err)
{
    char tn[128];
    if (!(rv->valid & (1u << kind)))
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "cannot filter column \"%s\" of table \"%s\": "
                           "value \"%.40s\" of the rule at line %zu is not "
                           "%s, as type \"%s\" needs",
                           r->column, rules__table_name(ev, tn, sizeof(tn)),
                           rv->s, r->line, kind_desc(kind),
                           c->type != NULL ? c->type : "");
    int rc =
        rules__compare(kind, c->value, c->value_len, rv->s, rv->len, cmp, err);
    if (rc < 0) {
        cdc_err_prefix(err, "cannot filter column \"%s\" of table \"%s\"",
                       r->column, rules__table_name(ev, tn, sizeof(tn)));
        err->flags |= CDC_ERR_POISON;
    }
    return rc;
}

static bool contains(const char *s, size_t n, const char *sub, size_t m)
{
    if (m == 0)
        return true;
    for (size_t i = 0; i + m <= n; i++) {
        if (s[i] == sub[0] && memcmp(s + i, sub, m) == 0)
            return true;
    }
    return false;
}

static int regex_failed(const struct rule *r, const struct cdc_event *ev,
                        int code, const char *doing, struct cdc_err *err)
{
    PCRE2_UCHAR msg[160];
    char tn[128];
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        msg[0] = '\0';
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                       "cannot %s column \"%s\" of table \"%s\": regex of "
                       "the rule at line %zu: %s",
                       doing, r->column, rules__table_name(ev, tn, sizeof(tn)),
                       r->line, (const char *)msg);
}

/* Whether the value c passes filter r. */
/* The kind of type, from r's memory of the last one when it is the same
 * name. */
static enum rules__kind kind_for(struct rule *r, const char *type)
{
    if (type == NULL)
        return RULES_KIND_TEXT;
    if (r->kind_type[0] != '\0' && strcmp(r->kind_type, type) == 0)
        return r->kind;
    r->kind = rules__kind_of(type);
    size_t n = strlen(type);
    if (n < sizeof(r->kind_type))
        memcpy(r->kind_type, type, n + 1);
    else
        r->kind_type[0] = '\0';
    return r->kind;
}

/* Index of r's column in the row, trying where it was last time first. */
static size_t find_col(struct rule *r, const struct cdc_event *ev,
                       enum rules__row row)
{
    const struct cdc_col *cols = row == RULES_ROW_NEW ? ev->cols : ev->old;
    size_t n = row == RULES_ROW_NEW ? ev->ncols : ev->nold;
    size_t h = r->col_hint;
    if (h < n && cols[h].name != NULL && strcmp(cols[h].name, r->column) == 0)
        return h;
    size_t i = rules__col_find(ev, row, r->column);
    if (i != RULES_NO_COL)
        r->col_hint = i;
    return i;
}

static int test(struct rule *r, const struct cdc_col *c,
                const struct cdc_event *ev, bool *pass, struct cdc_err *err)
{
    *pass = false;
    if (c->value == NULL) {
        *pass = r->fop == F_IS_NULL;
        return CDC_OK;
    }
    enum rules__kind kind = RULES_KIND_TEXT;
    int cmp = 0;
    int rc;
    switch (r->fop) {
    case F_IS_NULL:
        return CDC_OK;
    case F_IS_NOT_NULL:
        *pass = true;
        return CDC_OK;
    case F_CONTAINS:
        *pass =
            contains(c->value, c->value_len, r->values[0].s, r->values[0].len);
        return CDC_OK;
    case F_REGEX:
        rc = pcre2_match(r->re, (PCRE2_SPTR)c->value, c->value_len, 0, 0, r->md,
                         NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            return CDC_OK;
        if (rc < 0)
            return regex_failed(r, ev, rc, "filter", err);
        *pass = true;
        return CDC_OK;
    case F_IN:
    case F_NOT_IN:
        kind = kind_for(r, c->type);
        for (size_t i = 0; i < r->nvalues; i++) {
            rc = compare(r, &r->values[i], c, kind, ev, &cmp, err);
            if (rc < 0)
                return rc;
            if (cmp == 0) {
                *pass = r->fop == F_IN;
                return CDC_OK;
            }
        }
        *pass = r->fop == F_NOT_IN;
        return CDC_OK;
    default:
        break;
    }
    kind = kind_for(r, c->type);
    rc = compare(r, &r->values[0], c, kind, ev, &cmp, err);
    if (rc < 0)
        return rc;
    switch (r->fop) {
    case F_EQ:
        *pass = cmp == 0;
        break;
    case F_NE:
        *pass = cmp != 0;
        break;
    case F_GT:
        *pass = cmp > 0;
        break;
    case F_LT:
        *pass = cmp < 0;
        break;
    case F_GTE:
        *pass = cmp >= 0;
        break;
    case F_LTE:
        *pass = cmp <= 0;
        break;
    default:
        CDC_BUG("filter operator not handled");
    }
    return CDC_OK;
}

/* Finds the value filter r looks at: the new row's, or the old row's for
 * a DELETE or for an UPDATE that did not send the value (unchanged TOAST).
 * A value the change does not carry cannot be decided: that change goes
 * to the dead letters rather than being dropped unseen. */
static int filter(struct rule *r, const struct cdc_event *ev, bool *pass,
                  struct cdc_err *err)
{
    char tn[128];
    bool del = ev->op == CDC_OP_DELETE;
    enum rules__row row = del ? RULES_ROW_OLD : RULES_ROW_NEW;
    size_t i = find_col(r, ev, row);
    if (i != RULES_NO_COL)
        return test(r, del ? &ev->old[i] : &ev->cols[i], ev, pass, err);
    if (!del && rules__is_unchanged(ev, r->column)) {
        i = rules__col_find(ev, RULES_ROW_OLD, r->column);
        if (i != RULES_NO_COL)
            return test(r, &ev->old[i], ev, pass, err);
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "cannot filter column \"%s\" of table \"%s\": its "
                           "value was not sent (unchanged TOAST value); "
                           "REPLICA IDENTITY FULL on the source table sends "
                           "it",
                           r->column, rules__table_name(ev, tn, sizeof(tn)));
    }
    if (del)
        return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                           "cannot filter column \"%s\" of table \"%s\": the "
                           "DELETE does not carry it (set "
                           "allow_empty_deletes: true on the rule at line "
                           "%zu, or REPLICA IDENTITY FULL on the source)",
                           r->column, rules__table_name(ev, tn, sizeof(tn)),
                           r->line);
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON,
                       "cannot filter column \"%s\" of table \"%s\": the %s "
                       "does not carry it",
                       r->column, rules__table_name(ev, tn, sizeof(tn)),
                       cdc_op_name(ev->op));
}

/* ==== Transforms ==== */

static const uint32_t SUBSTITUTE_OPTIONS = PCRE2_SUBSTITUTE_GLOBAL |
                                           PCRE2_SUBSTITUTE_OVERFLOW_LENGTH |
                                           PCRE2_SUBSTITUTE_UNSET_EMPTY;

static int too_big(const struct rule *r, const struct rules__edit *ed,
                   size_t limit, struct cdc_err *err)
{
    char tn[128];
    return cdc_err_set(err, CDC_ETOOBIG, CDC_ERR_POISON,
                       "cannot transform column \"%s\" of table \"%s\": the "
                       "result of the regex is over %zu bytes",
                       r->column, rules__table_name(ed->ev, tn, sizeof(tn)),
                       limit);
}

/* Bytes of the UTF-8 character at s (an invalid byte counts as one). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k = s[0] < 0xC0 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
    }
    return k;
}

/*
 * What pcre2_substitute does with SUBSTITUTE_OPTIONS, with the
 * replacement read once at load instead of at every call (which was most
 * of a regex transform's cost): every match replaced, an empty match
 * retried at the same place as not empty, else one character copied.
 * *out is NULL when nothing matched.
 */
static int replace_all(struct rules_set *rs, const struct rule *r,
                       const char *s, size_t len, struct rules__edit *ed,
                       const char **out, size_t *outlen, struct cdc_err *err)
{
    struct cdc_buf *b = &rs->scratch;
    PCRE2_SPTR subject = (PCRE2_SPTR)s;
    size_t start = 0;
    size_t copied = 0; /* s[0..copied) is in b already */
    uint32_t opts = 0;
    bool matched = false;
    int rc = CDC_OK;
    *out = NULL;
    cdc_buf_reset(b);
    for (;;) {
        int m = pcre2_match(r->re, subject, len, start, opts, r->md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) {
            if (opts == 0 || start >= len)
                break;
            /* the empty match here was taken: move on one character */
            start += utf8_len((const unsigned char *)s + start, len - start);
            opts = 0;
            continue;
        }
        if (m < 0)
            return regex_failed(r, ed->ev, m, "transform", err);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
        if (ov[0] < copied || ov[1] < ov[0])
            /* \K past the start: the meaning is pcre2_substitute's */
            return regex_failed(r, ed->ev, PCRE2_ERROR_BADSUBSPATTERN,
                                "transform", err);
        matched = true;
        rc = cdc_buf_append(b, s + copied, ov[0] - copied);
        for (size_t i = 0; i < r->nsegs && rc == CDC_OK; i++) {
            const struct rseg *g = &r->segs[i];
            if (g->lit != NULL) {
                rc = cdc_buf_append(b, g->lit, g->len);
            } else if (g->group < (uint32_t)m &&
                       ov[2 * g->group] != PCRE2_UNSET) {
                rc = cdc_buf_append(b, s + ov[2 * g->group],
                                    ov[2 * g->group + 1] - ov[2 * g->group]);
            }
        }
        if (rc != CDC_OK)
            return too_big(r, ed, b->limit, err);
        copied = ov[1];
        start = ov[1];
        if (ov[0] == ov[1]) {
            if (start >= len)
                break;
            opts = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
        } else {
            opts = 0;
        }
    }
    if (!matched)
        return CDC_OK;
    if (cdc_buf_append(b, s + copied, len - copied) != CDC_OK)
        return too_big(r, ed, b->limit, err);
    *out = cdc_arena_strndup(ed->arena, b->data != NULL ? b->data : "", b->len);
    *outlen = b->len;
    return CDC_OK;
}

/* Replaces every match in s; *out is NULL when nothing matched (the value
 * stays as it is). */
static int substitute(struct rules_set *rs, const struct rule *r, const char *s,
                      size_t len, struct rules__edit *ed, const char **out,
                      size_t *outlen, struct cdc_err *err)
{
    if (r->segs != NULL)
        return replace_all(rs, r, s, len, ed, out, outlen, err);
    struct cdc_buf *b = &rs->scratch;
    /* most replacements change a value's length by little */
    size_t want = len + len / 2 + 64;
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        cdc_buf_reset(b);
        if (cdc_buf_reserve(b, want) != CDC_OK) {
            char tn[128];
            return cdc_err_set(
                err, CDC_ETOOBIG, CDC_ERR_POISON,
                "cannot transform column \"%s\" of table \"%s\": the result "
                "of the regex is over %zu bytes",
                r->column, rules__table_name(ed->ev, tn, sizeof(tn)), b->limit);
        }
        PCRE2_SIZE olen = b->cap;
        int rc =
            pcre2_substitute(r->re, (PCRE2_SPTR)s, len, 0, SUBSTITUTE_OPTIONS,
                             r->md, NULL, (PCRE2_SPTR)r->replace,
                             r->replace_len, (PCRE2_UCHAR *)b->data, &olen);
        if (rc == 0)
            return CDC_OK;
        if (rc > 0) {
            *out = cdc_arena_strndup(ed->arena, b->data, olen);
            *outlen = olen;
            return CDC_OK;
        }
        if (rc != PCRE2_ERROR_NOMEMORY)
            return regex_failed(r, ed->ev, rc, "transform", err);
        want = olen; /* the size needed, given by OVERFLOW_LENGTH */
    }
    return regex_failed(r, ed->ev, PCRE2_ERROR_NOMEMORY, "transform", err);
}

static int transform_row(struct rules_set *rs, struct rule *r,
                         struct rules__edit *ed, enum rules__row row,
                         struct cdc_err *err)
{
    const struct cdc_event *ev = ed->ev;
    size_t i = find_col(r, ev, row);
    if (i == RULES_NO_COL)
        return CDC_OK;
    const struct cdc_col *c = row == RULES_ROW_NEW ? &ev->cols[i] : &ev->old[i];
    if (c->value == NULL)
        return CDC_OK;
    const char *v;
    size_t len = 0;
    if (!r->regex) {
        v = rules__mask(c->value, c->value_len, r->mask, r->mask_len, ed->arena,
                        &len);
    } else {
        int rc = substitute(rs, r, c->value, c->value_len, ed, &v, &len, err);
        if (rc != CDC_OK || v == NULL)
            return rc;
    }
    rules__col_set(ed, row, i, v, len, NULL);
    return CDC_OK;
}

/* Transforms the row the rule looks at, and an UPDATE's old row too, so
 * that its key still matches what the target holds. */
static int transform(struct rules_set *rs, struct rule *r,
                     struct rules__edit *ed, struct cdc_err *err)
{
    bool del = ed->ev->op == CDC_OP_DELETE;
    int rc = transform_row(rs, r, ed, del ? RULES_ROW_OLD : RULES_ROW_NEW, err);
    if (rc == CDC_OK && ed->ev->op == CDC_OP_UPDATE)
        rc = transform_row(rs, r, ed, RULES_ROW_OLD, err);
    return rc;
}

/* ==== Applying ==== */

/* The operations that select a change; copied rows are treated as
 * inserts, so INSERT selects them too. 0: not a row change. */
static unsigned op_mask(enum cdc_op op)
{
    switch (op) {
    case CDC_OP_INSERT:
        return OPB_INSERT;
    case CDC_OP_UPDATE:
        return OPB_UPDATE;
    case CDC_OP_DELETE:
        return OPB_DELETE;
    case CDC_OP_COPY:
        return OPB_COPY | OPB_INSERT;
    case CDC_OP_TRUNCATE:
    case CDC_OP_DDL:
        break;
    }
    return 0;
}

int rules_apply(struct rules_set *rs, struct cdc_event *ev,
                struct cdc_arena *arena, struct cdc_err *err)
{
    if (rs == NULL || rs->nrules == 0)
        return RULES_KEEP;
    unsigned mask = op_mask(ev->op);
    if (mask == 0)
        return RULES_KEEP;
    const struct table_rules *tr =
        rules_for(rs, ev->schema != NULL ? ev->schema : "",
                  ev->table != NULL ? ev->table : "");
    if (tr->n == 0)
        return RULES_KEEP;
    struct rules__edit ed;
    rules__edit_init(&ed, ev, arena);
    for (size_t i = 0; i < tr->n; i++) {
        struct rule *r = tr->rules[i];
        if (!(r->ops & mask))
            continue;
        if (ev->op == CDC_OP_DELETE && r->skip_deletes)
            continue;
        int rc;
        bool pass = true;
        if (r->type == RT_FILTER)
            rc = filter(r, ev, &pass, err);
        else if (r->type == RT_TRANSFORM)
            rc = transform(rs, r, &ed, err);
        else
            rc = rules__field_apply(&r->field, &ed, &rs->rnd, err);
        if (rc < 0)
            return rc;
        if (!pass)
            return RULES_DROP;
    }
    return RULES_KEEP;
}

/*
 * sqltext.c: a lexer over PostgreSQL statement text (sqltext.h) and the
 * few statement shapes the DDL handling needs on top of it: where
 * statements end, their command tags, which ones must run outside a
 * transaction block, and renaming a table in the forms that name one.
 *
 * It is not a parser: it reads tokens and looks only at the words where a
 * statement's form puts them, and refuses (rather than guesses) anything
 * else that could matter. The lexer never reads s[i] without i < len, so
 * any bytes are safe input; nothing is allocated except the rewrite's
 * output.
 */
#include "common/common.h"
#include "common/sqltext.h"

#include <stdio.h>
#include <string.h>

/* NAMEDATALEN - 1: PostgreSQL cuts identifiers to this many bytes, so a
 * longer one in a statement names the object its first 63 bytes name. */
#define SQL_NAME_MAX 63
/* The most parts of a name looked at here: COMMENT ON COLUMN
 * database.schema.table.column. */
#define NAME_PARTS_MAX 4

/* ==== Lexer ==== */

enum tok_kind {
    TOK_END = 0,
    TOK_WORD,   /* unquoted identifier or keyword */
    TOK_QIDENT, /* "quoted identifier" */
    TOK_UIDENT, /* U&"quoted identifier" */
    TOK_STRING, /* '', E'', B'', X'', N'', U&'' and dollar-quoted strings */
    TOK_NUMBER,
    TOK_PARAM, /* $1 */
    TOK_PUNCT, /* one of . , ( ) [ ] ; : */
    TOK_OP,    /* operator characters, or any other single byte */
};

struct tok {
    enum tok_kind kind;
    size_t start;
    size_t len;
};

/* s[pos, len) is still to be read; nothing at or after len ever is. */
struct lexer {
    const char *s;
    size_t len;
    size_t pos;
};

static unsigned char byte_at(const struct lexer *lx, size_t i)
{
    return (unsigned char)lx->s[i];
}

/* s[i] exists and is ch. */
static bool has(const struct lexer *lx, size_t i, char ch)
{
    return i < lx->len && lx->s[i] == ch;
}

static bool is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' ||
           ch == '\v';
}

static bool is_digit(unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool ident_start(unsigned char ch)
{
    return is_alpha(ch) || ch == '_' || ch >= 0x80;
}

static bool ident_cont(unsigned char ch)
{
    return ident_start(ch) || is_digit(ch) || ch == '$';
}

/* A dollar quote's tag has no '$' of its own. */
static bool tag_cont(unsigned char ch)
{
    return ident_start(ch) || is_digit(ch);
}

static bool op_char(unsigned char ch)
{
    switch (ch) {
    case '~':
    case '!':
    case '@':
    case '#':
    case '^':
    case '&':
    case '|':
    case '`':
    case '?':
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
    case '<':
    case '>':
    case '=':
        return true;
    default:
        return false;
    }
}

static bool punct_char(unsigned char ch)
{
    switch (ch) {
    case '.':
    case ',':
    case '(':
    case ')':
    case '[':
    case ']':
    case ';':
    case ':':
        return true;
    default:
        return false;
    }
}

static char fold(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static char upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

static bool comment_start(const struct lexer *lx, size_t i)
{
    return (has(lx, i, '-') && has(lx, i + 1, '-')) ||
           (has(lx, i, '/') && has(lx, i + 1, '*'));
}

/* From inside a "--" comment: where its line ends (the newline stays). */
static size_t line_comment_end(const struct lexer *lx, size_t i)
{
    while (i < lx->len && lx->s[i] != '\n' && lx->s[i] != '\r')
        i++;
    return i;
}

/* At the start of a block comment: past the end that closes it, counting
 * the nested ones opened inside. */
static size_t block_comment_end(const struct lexer *lx, size_t i)
{
    size_t depth = 0;
    while (i < lx->len) {
        if (lx->s[i] == '/' && has(lx, i + 1, '*')) {
            depth++;
            i += 2;
        } else if (lx->s[i] == '*' && has(lx, i + 1, '/')) {
            i += 2;
            depth--;
            if (depth == 0)
                return i;
        } else {
            i++;
        }
    }
    return lx->len;
}

static void skip_space(struct lexer *lx)
{
    while (lx->pos < lx->len) {
        unsigned char ch = byte_at(lx, lx->pos);
        if (is_space(ch))
            lx->pos++;
        else if (ch == '-' && has(lx, lx->pos + 1, '-'))
            lx->pos = line_comment_end(lx, lx->pos + 2);
        else if (ch == '/' && has(lx, lx->pos + 1, '*'))
            lx->pos = block_comment_end(lx, lx->pos);
        else
            break;
    }
}

/* From just after an opening quote q: past the closing one. A doubled q
 * stands for one; with backslash, '\' escapes the byte after it. */
static size_t quoted_end(const struct lexer *lx, size_t i, char q,
                         bool backslash)
{
    while (i < lx->len) {
        char ch = lx->s[i];
        if (backslash && ch == '\\') {
            i += 2;
        } else if (ch == q) {
            if (!has(lx, i + 1, q))
                return i + 1;
            i += 2;
        } else {
            i++;
        }
    }
    return lx->len;
}

/* PostgreSQL joins 'a'<newline>'b' into one string, the later parts
 * keeping the first one's escapes. If the string that ended at i goes on
 * like that, where its next part's text starts (after the quote); else
 * 0. */
static size_t string_goes_on(const struct lexer *lx, size_t i)
{
    bool newline = false;
    while (i < lx->len) {
        unsigned char ch = byte_at(lx, i);
        if (ch == '\n' || ch == '\r') {
            newline = true;
            i++;
        } else if (is_space(ch)) {
            i++;
        } else if (ch == '-' && has(lx, i + 1, '-')) {
            i = line_comment_end(lx, i + 2);
        } else {
            break;
        }
    }
    return newline && has(lx, i, '\'') ? i + 1 : 0;
}

/* From just after the opening quote of a string: past its end. */
static size_t string_end(const struct lexer *lx, size_t i, bool backslash)
{
    for (;;) {
        i = quoted_end(lx, i, '\'', backslash);
        size_t next = string_goes_on(lx, i);
        if (next == 0)
            return i;
        i = next;
    }
}

/* At '$': the length of the dollar-quote delimiter ($$ or $tag$) that
 * starts here, or 0 when none does ($1, a lone '$'). */
static size_t dollar_delim_len(const struct lexer *lx, size_t i)
{
    size_t j = i + 1;
    if (j < lx->len && ident_start(byte_at(lx, j))) {
        j++;
        while (j < lx->len && tag_cont(byte_at(lx, j)))
            j++;
    }
    return has(lx, j, '$') ? j + 1 - i : 0;
}

/* From i, just after the opening delimiter s[d, d + dlen): past the
 * closing one. A tag holds no '$', so no comparison reads past the next
 * '$', and the search stays linear. */
static size_t dollar_end(const struct lexer *lx, size_t i, size_t d,
                         size_t dlen)
{
    while (i < lx->len) {
        const char *p = memchr(lx->s + i, '$', lx->len - i);
        if (p == NULL)
            break;
        i = (size_t)(p - lx->s);
        if (lx->len - i >= dlen && memcmp(p, lx->s + d, dlen) == 0)
            return i + dlen;
        i++;
    }
    return lx->len;
}

/* From the first byte of a number: past it. Numbers only need to be
 * skipped whole, so 0x1F, 1_000, 1.5e-3 and .5 are all read as one. */
static size_t number_end(const struct lexer *lx, size_t start)
{
    size_t i = start;
    bool dot = false;
    while (i < lx->len) {
        unsigned char ch = byte_at(lx, i);
        if (is_digit(ch) || is_alpha(ch) || ch == '_') {
            i++;
        } else if (ch == '.' && !dot && !has(lx, i + 1, '.')) {
            /* 1..2 is 1 and then "..", as in PostgreSQL */
            dot = true;
            i++;
        } else if ((ch == '+' || ch == '-') && i > start &&
                   fold(lx->s[i - 1]) == 'e' && i + 1 < lx->len &&
                   is_digit(byte_at(lx, i + 1))) {
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* The string prefixes that must touch their quote: E'', B'', X'', N''. */
static bool string_prefix(unsigned char ch)
{
    ch = (unsigned char)fold((char)ch);
    return ch == 'e' || ch == 'b' || ch == 'x' || ch == 'n';
}

/* Reads the next token into t (TOK_END at the end of the text). */
static void lex_next(struct lexer *lx, struct tok *t)
{
    skip_space(lx);
    size_t i = lx->pos;
    t->start = i;
    t->len = 0;
    t->kind = TOK_END;
    if (i >= lx->len)
        return;
    unsigned char ch = byte_at(lx, i);
    bool u_amp = (ch == 'u' || ch == 'U') && has(lx, i + 1, '&');
    size_t end = i + 1;
    if (ch == '\'') {
        t->kind = TOK_STRING;
        end = string_end(lx, i + 1, false);
    } else if (string_prefix(ch) && has(lx, i + 1, '\'')) {
        t->kind = TOK_STRING;
        end = string_end(lx, i + 2, fold((char)ch) == 'e');
    } else if (u_amp && has(lx, i + 2, '\'')) {
        t->kind = TOK_STRING;
        end = string_end(lx, i + 3, false);
    } else if (u_amp && has(lx, i + 2, '"')) {
        t->kind = TOK_UIDENT;
        end = quoted_end(lx, i + 3, '"', false);
    } else if (ch == '"') {
        t->kind = TOK_QIDENT;
        end = quoted_end(lx, i + 1, '"', false);
    } else if (ident_start(ch)) {
        t->kind = TOK_WORD;
        while (end < lx->len && ident_cont(byte_at(lx, end)))
            end++;
    } else if (is_digit(ch) ||
               (ch == '.' && i + 1 < lx->len && is_digit(byte_at(lx, i + 1)))) {
        t->kind = TOK_NUMBER;
        end = number_end(lx, i);
    } else if (ch == '$' && i + 1 < lx->len && is_digit(byte_at(lx, i + 1))) {
        t->kind = TOK_PARAM;
        while (end < lx->len && is_digit(byte_at(lx, end)))
            end++;
    } else if (ch == '$' && dollar_delim_len(lx, i) > 0) {
        size_t dlen = dollar_delim_len(lx, i);
        t->kind = TOK_STRING;
        end = dollar_end(lx, i + dlen, i, dlen);
    } else if (punct_char(ch)) {
        t->kind = TOK_PUNCT;
    } else if (op_char(ch)) {
        /* a comment may start right after an operator: 1+--x */
        t->kind = TOK_OP;
        while (end < lx->len && op_char(byte_at(lx, end)) &&
               !comment_start(lx, end))
            end++;
    } else {
        t->kind = TOK_OP;
    }
    t->len = end - i;
    lx->pos = end;
}

/* ==== Tokens ==== */

static bool is_ident(const struct tok *t)
{
    return t->kind == TOK_WORD || t->kind == TOK_QIDENT ||
           t->kind == TOK_UIDENT;
}

/* t is the unquoted word kw (kwlen bytes, lower case). */
static bool word_eq(const char *s, const struct tok *t, const char *kw,
                    size_t kwlen)
{
    if (t->kind != TOK_WORD || t->len != kwlen)
        return false;
    for (size_t i = 0; i < kwlen; i++) {
        if (fold(s[t->start + i]) != kw[i])
            return false;
    }
    return true;
}

static bool is_word(const char *s, const struct tok *t, const char *kw)
{
    return word_eq(s, t, kw, strlen(kw));
}

static bool is_punct(const char *s, const struct tok *t, char ch)
{
    return t->kind == TOK_PUNCT && s[t->start] == ch;
}

/* The name an identifier token stands for, as PostgreSQL keeps it:
 * unquoted ones folded, quoted ones with "" as ", both cut to
 * SQL_NAME_MAX bytes at a UTF-8 character boundary. Returns its length. */
static size_t ident_value(const char *s, const struct tok *t,
                          char out[SQL_NAME_MAX + 1])
{
    size_t n = 0;
    size_t end = t->start + t->len;
    if (t->kind == TOK_WORD) {
        for (size_t i = t->start; i < end && n <= SQL_NAME_MAX; i++)
            out[n++] = fold(s[i]);
    } else {
        size_t i = t->start + (t->kind == TOK_UIDENT ? 3 : 1);
        while (i < end && n <= SQL_NAME_MAX) {
            if (s[i] == '"') {
                if (i + 1 >= end || s[i + 1] != '"')
                    break;
                i++;
            }
            out[n++] = s[i++];
        }
    }
    if (n > SQL_NAME_MAX) {
        /* out[n] is the first byte cut off: back up to where a
         * character starts */
        n = SQL_NAME_MAX;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

enum match {
    MATCH_NO = 0,
    MATCH_YES,
    MATCH_MAYBE, /* a U&"" identifier that could spell anything */
};

/* A U&"" identifier is taken at its word only without escapes: with a
 * '\' or a UESCAPE clause it could stand for any name. */
static bool uident_uncertain(const struct lexer *lx, const struct tok *t)
{
    if (memchr(lx->s + t->start, '\\', t->len) != NULL)
        return true;
    struct lexer after = {lx->s, lx->len, t->start + t->len};
    struct tok next;
    lex_next(&after, &next);
    return is_word(lx->s, &next, "uescape");
}

/* Whether token t (of the text lx reads) is the identifier name. */
static enum match ident_match(const struct lexer *lx, const struct tok *t,
                              const char *name)
{
    if (!is_ident(t) || name[0] == '\0')
        return MATCH_NO;
    if (t->kind == TOK_UIDENT && uident_uncertain(lx, t))
        return MATCH_MAYBE;
    char v[SQL_NAME_MAX + 1];
    size_t n = ident_value(lx->s, t, v);
    return strlen(name) == n && memcmp(v, name, n) == 0 ? MATCH_YES : MATCH_NO;
}

/* How many identifier tokens of sql[0, len) are or may be name. */
static size_t count_mentions(const char *sql, size_t len, const char *name,
                             bool first_only)
{
    struct lexer lx = {sql, len, 0};
    struct tok t;
    size_t n = 0;
    for (;;) {
        lex_next(&lx, &t);
        if (t.kind == TOK_END)
            break;
        if (ident_match(&lx, &t, name) != MATCH_NO) {
            n++;
            if (first_only)
                break;
        }
    }
    return n;
}

/* ==== Statements ==== */

/*
 * Finds the statement that starts at lx->pos: true with its extent in *st
 * and lx past its ';' (or at the end), false when only whitespace,
 * comments and empty statements remain. As psql does, BEGIN ATOMIC opens
 * a body that the matching END closes, and CASE inside such a body also
 * ends with an END.
 */
static bool next_stmt(struct lexer *lx, struct cdc_sql_stmt *st)
{
    size_t depth = 0;  /* open parentheses */
    size_t atomic = 0; /* open BEGIN ATOMIC bodies and CASEs inside them */
    bool after_begin = false;
    bool found = false;
    size_t end = 0;
    struct tok t;
    for (;;) {
        lex_next(lx, &t);
        if (t.kind == TOK_END)
            break;
        if (is_punct(lx->s, &t, ';') && depth == 0 && atomic == 0) {
            if (found)
                break;
            continue;
        }
        if (!found) {
            st->start = t.start;
            found = true;
        }
        end = t.start + t.len;
        if (is_punct(lx->s, &t, '(')) {
            depth++;
        } else if (is_punct(lx->s, &t, ')')) {
            if (depth > 0)
                depth--;
        } else if (after_begin && is_word(lx->s, &t, "atomic")) {
            atomic++;
        } else if (atomic > 0 && is_word(lx->s, &t, "case")) {
            atomic++;
        } else if (atomic > 0 && is_word(lx->s, &t, "end")) {
            atomic--;
        }
        after_begin = is_word(lx->s, &t, "begin");
    }
    if (found)
        st->len = end - st->start;
    return found;
}

size_t cdc_sql_split(const char *sql, size_t len, struct cdc_sql_stmt *out,
                     size_t max)
{
    struct lexer lx = {sql, len, 0};
    struct cdc_sql_stmt st;
    size_t n = 0;
    while (next_stmt(&lx, &st)) {
        if (n < max)
            out[n] = st;
        n++;
    }
    return n;
}

/* ==== Reading a statement word by word ==== */

/* The current token t of one statement. */
struct cur {
    struct lexer lx;
    struct tok t;
};

static void cur_init(struct cur *c, const char *sql,
                     const struct cdc_sql_stmt *st)
{
    c->lx.s = sql;
    c->lx.len = st->start + st->len;
    c->lx.pos = st->start;
    lex_next(&c->lx, &c->t);
}

static void cur_next(struct cur *c)
{
    lex_next(&c->lx, &c->t);
}

static bool cur_is(const struct cur *c, const char *kw)
{
    return is_word(c->lx.s, &c->t, kw);
}

static bool cur_punct(const struct cur *c, char ch)
{
    return is_punct(c->lx.s, &c->t, ch);
}

static bool cur_accept(struct cur *c, const char *kw)
{
    if (!cur_is(c, kw))
        return false;
    cur_next(c);
    return true;
}

/* The token after the current one is kw. */
static bool cur_peek(const struct cur *c, const char *kw)
{
    struct cur ahead = *c;
    cur_next(&ahead);
    return cur_is(&ahead, kw);
}

/* Moves past words ("if not exists": lower case, single spaces) if they
 * come next; otherwise leaves c alone. Returns how many words that was. */
static size_t cur_accept_words(struct cur *c, const char *words)
{
    struct cur ahead = *c;
    size_t n = 0;
    while (*words != '\0') {
        size_t wl = strcspn(words, " ");
        if (!word_eq(ahead.lx.s, &ahead.t, words, wl))
            return 0;
        cur_next(&ahead);
        n++;
        words += wl;
        if (*words == ' ')
            words++;
    }
    *c = ahead;
    return n;
}

/* At '(': past the matching ')' (to the end if there is none). */
static void cur_skip_parens(struct cur *c)
{
    size_t depth = 0;
    while (c->t.kind != TOK_END) {
        if (cur_punct(c, '('))
            depth++;
        else if (cur_punct(c, ')'))
            depth--;
        cur_next(c);
        if (depth == 0)
            return;
    }
}

/* Moves c past the next kw1 (followed by kw2 unless NULL) outside
 * parentheses; false, with c at the end, when there is none. */
static bool cur_find(struct cur *c, const char *kw1, const char *kw2)
{
    size_t depth = 0;
    bool after_kw1 = false;
    while (c->t.kind != TOK_END) {
        if (cur_punct(c, '(')) {
            depth++;
        } else if (cur_punct(c, ')')) {
            if (depth > 0)
                depth--;
        } else if (depth == 0 && (kw2 == NULL ? cur_is(c, kw1)
                                              : after_kw1 && cur_is(c, kw2))) {
            cur_next(c);
            return true;
        }
        after_kw1 = depth == 0 && cur_is(c, kw1);
        cur_next(c);
    }
    return false;
}

/* Words and the tag they stand for. */
struct form {
    const char *words;
    const char *tag;
};

/* The object types of CREATE, ALTER and DROP, with PostgreSQL's names for
 * them in command tags. */
static const struct form object_types[] = {
    {"access method", "ACCESS METHOD"},
    {"aggregate", "AGGREGATE"},
    {"cast", "CAST"},
    {"collation", "COLLATION"},
    {"constraint trigger", "TRIGGER"},
    {"conversion", "CONVERSION"},
    {"database", "DATABASE"},
    {"default conversion", "CONVERSION"},
    {"default privileges", "DEFAULT PRIVILEGES"},
    {"domain", "DOMAIN"},
    {"event trigger", "EVENT TRIGGER"},
    {"extension", "EXTENSION"},
    {"foreign data wrapper", "FOREIGN DATA WRAPPER"},
    {"foreign table", "FOREIGN TABLE"},
    {"function", "FUNCTION"},
    {"group", "ROLE"},
    {"index", "INDEX"},
    {"language", "LANGUAGE"},
    {"large object", "LARGE OBJECT"},
    {"materialized view", "MATERIALIZED VIEW"},
    {"operator", "OPERATOR"},
    {"operator class", "OPERATOR CLASS"},
    {"operator family", "OPERATOR FAMILY"},
    {"owned", "OWNED"},
    {"policy", "POLICY"},
    {"procedural language", "LANGUAGE"},
    {"procedure", "PROCEDURE"},
    {"publication", "PUBLICATION"},
    {"role", "ROLE"},
    {"routine", "ROUTINE"},
    {"rule", "RULE"},
    {"schema", "SCHEMA"},
    {"sequence", "SEQUENCE"},
    {"server", "SERVER"},
    {"statistics", "STATISTICS"},
    {"subscription", "SUBSCRIPTION"},
    {"system", "SYSTEM"},
    {"table", "TABLE"},
    {"tablespace", "TABLESPACE"},
    {"text search configuration", "TEXT SEARCH CONFIGURATION"},
    {"text search dictionary", "TEXT SEARCH DICTIONARY"},
    {"text search parser", "TEXT SEARCH PARSER"},
    {"text search template", "TEXT SEARCH TEMPLATE"},
    {"transform", "TRANSFORM"},
    {"trigger", "TRIGGER"},
    {"type", "TYPE"},
    {"user", "ROLE"},
    {"user mapping", "USER MAPPING"},
    {"view", "VIEW"},
};

/* Statements whose tag is not their first word alone. */
static const struct form lead_forms[] = {
    {"import foreign schema", "IMPORT FOREIGN SCHEMA"},
    {"refresh materialized view", "REFRESH MATERIALIZED VIEW"},
    {"security label", "SECURITY LABEL"},
    {"start transaction", "START TRANSACTION"},
    {"truncate", "TRUNCATE TABLE"},
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Moves past the longest of forms[0, n) that comes next and returns it;
 * NULL, with c unmoved, when none does. */
static const struct form *cur_match(struct cur *c, const struct form *forms,
                                    size_t n)
{
    const struct form *best = NULL;
    size_t best_words = 0;
    struct cur best_after = *c;
    for (size_t i = 0; i < n; i++) {
        struct cur after = *c;
        size_t words = cur_accept_words(&after, forms[i].words);
        if (words > best_words) {
            best = &forms[i];
            best_words = words;
            best_after = after;
        }
    }
    *c = best_after;
    return best;
}

static bool form_is(const struct form *f, const char *tag)
{
    return f != NULL && strcmp(f->tag, tag) == 0;
}

/* Skips the words CREATE may have before the object type; true when one
 * of them makes it temporary. */
static bool cur_skip_create_words(struct cur *c)
{
    static const char *const optional[] = {
        "global", "local", "unlogged", "unique", "recursive", "trusted",
    };
    bool temp = false;
    for (;;) {
        if (cur_accept_words(c, "or replace") > 0)
            continue;
        if (cur_accept(c, "temp") || cur_accept(c, "temporary")) {
            temp = true;
            continue;
        }
        bool skipped = false;
        for (size_t i = 0; i < NELEMS(optional) && !skipped; i++)
            skipped = cur_accept(c, optional[i]);
        if (!skipped)
            return temp;
    }
}

/* ==== Command tags ==== */

static bool stmt_tag(const char *sql, const struct cdc_sql_stmt *st, char *tag,
                     size_t tagsz)
{
    struct cur c;
    cur_init(&c, sql, st);
    if (c.t.kind != TOK_WORD)
        return false;
    struct tok first = c.t;
    const struct form *lead = cur_match(&c, lead_forms, NELEMS(lead_forms));
    if (lead != NULL) {
        snprintf(tag, tagsz, "%s", lead->tag);
        return true;
    }
    const char *verb = NULL;
    bool create = cur_is(&c, "create");
    if (create)
        verb = "CREATE";
    else if (cur_is(&c, "alter"))
        verb = "ALTER";
    else if (cur_is(&c, "drop"))
        verb = "DROP";
    if (verb != NULL) {
        cur_next(&c);
        if (create)
            cur_skip_create_words(&c);
        const struct form *obj =
            cur_match(&c, object_types, NELEMS(object_types));
        if (obj == NULL)
            snprintf(tag, tagsz, "%s", verb);
        else if (create && form_is(obj, "TABLE") && cur_find(&c, "as", NULL))
            snprintf(tag, tagsz, "CREATE TABLE AS");
        else
            snprintf(tag, tagsz, "%s %s", verb, obj->tag);
        return true;
    }
    if (cur_is(&c, "select") && cur_find(&c, "into", NULL)) {
        /* SELECT ... INTO creates a table */
        snprintf(tag, tagsz, "SELECT INTO");
        return true;
    }
    if (tagsz == 0)
        return true;
    size_t n = first.len < tagsz - 1 ? first.len : tagsz - 1;
    for (size_t i = 0; i < n; i++)
        tag[i] = upper(sql[first.start + i]);
    tag[n] = '\0';
    return true;
}

bool cdc_sql_tag(const char *sql, size_t len, char *tag, size_t tagsz)
{
    if (tagsz > 0)
        tag[0] = '\0';
    struct lexer lx = {sql, len, 0};
    struct cdc_sql_stmt st;
    if (!next_stmt(&lx, &st))
        return false;
    return stmt_tag(sql, &st, tag, tagsz);
}

/* ==== Statements outside transaction blocks ==== */

static bool create_drop_no_tx(struct cur *c)
{
    const struct form *obj = cur_match(c, object_types, NELEMS(object_types));
    if (form_is(obj, "INDEX"))
        return cur_is(c, "concurrently");
    return form_is(obj, "DATABASE") || form_is(obj, "TABLESPACE") ||
           form_is(obj, "SUBSCRIPTION");
}

static bool alter_no_tx(struct cur *c)
{
    const struct form *obj = cur_match(c, object_types, NELEMS(object_types));
    if (form_is(obj, "SYSTEM"))
        return true;
    if (form_is(obj, "TABLE"))
        return cur_find(c, "detach", "partition") &&
               cur_find(c, "concurrently", NULL);
    if (form_is(obj, "DATABASE"))
        return cur_find(c, "set", "tablespace");
    if (form_is(obj, "SUBSCRIPTION"))
        return cur_find(c, "publication", NULL);
    return false;
}

static bool reindex_no_tx(struct cur *c)
{
    struct cur scan = *c;
    for (; scan.t.kind != TOK_END; cur_next(&scan)) {
        if (cur_is(&scan, "concurrently"))
            return true;
    }
    if (cur_punct(c, '('))
        cur_skip_parens(c);
    return cur_is(c, "schema") || cur_is(c, "system") || cur_is(c, "database");
}

static bool stmt_no_tx(const char *sql, const struct cdc_sql_stmt *st)
{
    struct cur c;
    cur_init(&c, sql, st);
    if (cur_accept(&c, "vacuum"))
        return true;
    if (cur_accept(&c, "create")) {
        cur_skip_create_words(&c);
        return create_drop_no_tx(&c);
    }
    if (cur_accept(&c, "drop"))
        return create_drop_no_tx(&c);
    if (cur_accept(&c, "alter"))
        return alter_no_tx(&c);
    if (cur_accept(&c, "reindex"))
        return reindex_no_tx(&c);
    if (cur_accept(&c, "cluster")) {
        /* all tables the user owns, each in a transaction of its own */
        if (cur_punct(&c, '('))
            cur_skip_parens(&c);
        cur_accept(&c, "verbose");
        return c.t.kind == TOK_END;
    }
    if (cur_accept(&c, "discard"))
        return cur_is(&c, "all");
    if (cur_accept(&c, "commit") || cur_accept(&c, "rollback"))
        return cur_is(&c, "prepared");
    return false;
}

bool cdc_sql_no_transaction(const char *sql, size_t len)
{
    struct lexer lx = {sql, len, 0};
    struct cdc_sql_stmt st;
    while (next_stmt(&lx, &st)) {
        if (stmt_no_tx(sql, &st))
            return true;
    }
    return false;
}

bool cdc_sql_mentions(const char *sql, size_t len, const char *name)
{
    return count_mentions(sql, len, name, true) > 0;
}

/* ==== Renaming a statement's table ==== */

#define REFUSED "cannot rewrite the statement for routing: "

/* A possibly qualified name: parts separated by '.'. */
struct name {
    size_t start;
    size_t nparts; /* may pass NAME_PARTS_MAX: then parts has the first */
    struct tok parts[NAME_PARTS_MAX];
};

/* Reads the name at c, if there is one. */
static bool cur_name(struct cur *c, struct name *nm)
{
    if (!is_ident(&c->t))
        return false;
    nm->start = c->t.start;
    nm->nparts = 0;
    for (;;) {
        if (nm->nparts < NAME_PARTS_MAX)
            nm->parts[nm->nparts] = c->t;
        nm->nparts++;
        cur_next(c);
        if (!cur_punct(c, '.'))
            return true;
        struct cur ahead = *c;
        cur_next(&ahead);
        if (!is_ident(&ahead.t))
            return true;
        *c = ahead;
    }
}

struct rw {
    const char *sql;
    size_t len;
    const char *schema;
    const char *table;
    const char *new_schema;
    const char *new_table;
    struct cdc_buf *buf; /* the rewritten text so far */
    size_t copied;       /* sql[0, copied) is in buf */
    size_t replaced;     /* tokens that are table in the replaced names */
    struct cdc_err *err;
};

static int refuse(struct cdc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int refuse(struct cdc_err *err, const char *fmt, ...)
{
    char why[CDC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON, REFUSED "%s", why);
}

static int refuse_position(const struct rw *rw)
{
    return refuse(rw->err, "the table it is about is not \"%s\".\"%s\"",
                  rw->schema, rw->table);
}

/* The first n parts of nm are a name of the table. */
static bool names_table(const struct rw *rw, const struct lexer *lx,
                        const struct name *nm, size_t n)
{
    if (n < 1 || n > 3 || n > nm->nparts)
        return false;
    if (ident_match(lx, &nm->parts[n - 1], rw->table) != MATCH_YES)
        return false;
    return n == 1 ||
           ident_match(lx, &nm->parts[n - 2], rw->schema) == MATCH_YES;
}

static int append_ident(struct cdc_buf *b, const char *s)
{
    int rc = cdc_buf_append_char(b, '"');
    for (; *s != '\0' && rc == CDC_OK; s++) {
        if (*s == '"')
            rc = cdc_buf_append_char(b, '"');
        if (rc == CDC_OK)
            rc = cdc_buf_append_char(b, *s);
    }
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(b, '"');
    return rc;
}

/* Replaces the first n parts of nm (a name of the table) by the new
 * name. */
static int replace_name(struct rw *rw, const struct lexer *lx,
                        const struct name *nm, size_t n)
{
    const struct tok *last = &nm->parts[n - 1];
    int rc =
        cdc_buf_append(rw->buf, rw->sql + rw->copied, nm->start - rw->copied);
    if (rc == CDC_OK)
        rc = append_ident(rw->buf, rw->new_schema);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(rw->buf, '.');
    if (rc == CDC_OK)
        rc = append_ident(rw->buf, rw->new_table);
    rw->copied = last->start + last->len;
    for (size_t i = 0; i < n; i++) {
        if (ident_match(lx, &nm->parts[i], rw->table) != MATCH_NO)
            rw->replaced++;
    }
    return rc;
}

/* Reads a name that must be the table's, and replaces it. */
static int expect_table(struct rw *rw, struct cur *c)
{
    struct name nm;
    if (!cur_name(c, &nm) || !names_table(rw, &c->lx, &nm, nm.nparts))
        return refuse_position(rw);
    return replace_name(rw, &c->lx, &nm, nm.nparts);
}

/* ALTER TABLE [IF EXISTS] [ONLY] <t> ..., c after TABLE. */
static int rw_alter_table(struct rw *rw, struct cur *c)
{
    if (cur_is(c, "all") && cur_peek(c, "in"))
        return refuse(rw->err, "ALTER TABLE ALL IN TABLESPACE is not "
                               "supported");
    cur_accept_words(c, "if exists");
    cur_accept(c, "only");
    int rc = expect_table(rw, c);
    if (rc != CDC_OK)
        return rc;
    struct cur rest = *c;
    if (cur_find(&rest, "rename", "to"))
        return refuse(rw->err, "it renames table \"%s\".\"%s\"", rw->schema,
                      rw->table);
    rest = *c;
    if (cur_find(&rest, "set", "schema"))
        return refuse(rw->err, "it moves table \"%s\".\"%s\" to another schema",
                      rw->schema, rw->table);
    return CDC_OK;
}

/* CREATE [...] TABLE [IF NOT EXISTS] <t> ..., c after TABLE. */
static int rw_create_table(struct rw *rw, struct cur *c, bool temp)
{
    cur_accept_words(c, "if not exists");
    int rc = expect_table(rw, c);
    if (rc == CDC_OK && temp)
        rc = refuse(rw->err, "it creates a temporary table");
    return rc;
}

/* CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] <index>] ON [ONLY]
 * <t> ..., c after INDEX. */
static int rw_create_index(struct rw *rw, struct cur *c)
{
    cur_accept(c, "concurrently");
    if (cur_accept_words(c, "if not exists") > 0 || !cur_is(c, "on")) {
        struct name idx;
        if (!cur_name(c, &idx))
            return refuse_position(rw);
    }
    if (!cur_accept(c, "on"))
        return refuse_position(rw);
    cur_accept(c, "only");
    return expect_table(rw, c);
}

/* A list of names, each the table's or another's: DROP TABLE [IF EXISTS]
 * <t> [, ...] (c after TABLE) and TRUNCATE [TABLE] [ONLY] <t> [*] [, ...]
 * (c after TRUNCATE). */
static int rw_table_list(struct rw *rw, struct cur *c, bool truncate)
{
    bool found = false;
    if (truncate)
        cur_accept(c, "table");
    else
        cur_accept_words(c, "if exists");
    for (;;) {
        if (truncate)
            cur_accept(c, "only");
        struct name nm;
        if (!cur_name(c, &nm))
            break;
        if (names_table(rw, &c->lx, &nm, nm.nparts)) {
            int rc = replace_name(rw, &c->lx, &nm, nm.nparts);
            if (rc != CDC_OK)
                return rc;
            found = true;
        }
        if (truncate && c->t.kind == TOK_OP && c->t.len == 1 &&
            rw->sql[c->t.start] == '*')
            cur_next(c);
        if (!cur_punct(c, ','))
            break;
        cur_next(c);
    }
    return found ? CDC_OK : refuse_position(rw);
}

/* COMMENT ON TABLE <t> IS ... and COMMENT ON COLUMN <t>.<column> IS ...,
 * c after ON. */
static int rw_comment(struct rw *rw, struct cur *c)
{
    if (cur_accept(c, "table"))
        return expect_table(rw, c);
    if (!cur_accept(c, "column"))
        return refuse(rw->err, "COMMENT on anything but a table or a column "
                               "is not supported");
    struct name nm;
    if (!cur_name(c, &nm) || nm.nparts < 2 ||
        !names_table(rw, &c->lx, &nm, nm.nparts - 1))
        return refuse_position(rw);
    return replace_name(rw, &c->lx, &nm, nm.nparts - 1);
}

static int refuse_form(struct rw *rw, const struct cdc_sql_stmt *st)
{
    char tag[64];
    if (!stmt_tag(rw->sql, st, tag, sizeof(tag)))
        return refuse(rw->err, "a statement that does not start with a "
                               "keyword is not supported");
    return refuse(rw->err, "%s is not supported", tag);
}

/* Rewrites the statement st into rw->buf, or sets *unchanged when it is
 * one that names no table. */
static int rw_stmt(struct rw *rw, const struct cdc_sql_stmt *st,
                   bool *unchanged)
{
    struct cur c;
    cur_init(&c, rw->sql, st);
    if (cur_accept(&c, "alter")) {
        if (cur_accept(&c, "table"))
            return rw_alter_table(rw, &c);
        *unchanged = cur_is(&c, "index");
    } else if (cur_accept(&c, "create")) {
        bool temp = cur_skip_create_words(&c);
        if (cur_accept(&c, "table"))
            return rw_create_table(rw, &c, temp);
        if (cur_accept(&c, "index"))
            return rw_create_index(rw, &c);
    } else if (cur_accept(&c, "drop")) {
        if (cur_accept(&c, "table"))
            return rw_table_list(rw, &c, false);
        *unchanged = cur_is(&c, "index");
    } else if (cur_accept(&c, "truncate")) {
        return rw_table_list(rw, &c, true);
    } else if (cur_accept_words(&c, "comment on") > 0) {
        return rw_comment(rw, &c);
    } else if (cur_accept(&c, "reindex")) {
        if (cur_punct(&c, '('))
            cur_skip_parens(&c);
        *unchanged = cur_is(&c, "index");
    }
    return *unchanged ? CDC_OK : refuse_form(rw, st);
}

/* The rewritten text into buf (all of it), or an error. */
static int rewrite(struct rw *rw)
{
    struct cdc_sql_stmt st[2];
    size_t n = cdc_sql_split(rw->sql, rw->len, st, NELEMS(st));
    if (rw->new_schema[0] == '\0' || rw->new_table[0] == '\0')
        return refuse(rw->err, "the new schema or table name is empty");
    if (n == 0)
        return refuse(rw->err, "the text holds no statement");
    if (n > 1)
        return refuse(rw->err, "the text holds %zu statements", n);
    bool unchanged = false;
    int rc = rw_stmt(rw, &st[0], &unchanged);
    if (rc != CDC_OK)
        return rc;
    if (!unchanged &&
        count_mentions(rw->sql, rw->len, rw->table, false) > rw->replaced)
        return refuse(rw->err,
                      "table \"%s\".\"%s\" is also named elsewhere in it",
                      rw->schema, rw->table);
    return cdc_buf_append(rw->buf, rw->sql + rw->copied, rw->len - rw->copied);
}

int cdc_sql_rewrite_table(const char *sql, size_t len, const char *schema,
                          const char *table, const char *new_schema,
                          const char *new_table, struct cdc_buf *out,
                          struct cdc_err *err)
{
    struct cdc_buf tmp;
    cdc_buf_init(&tmp, out->limit);
    struct rw rw = {
        .sql = sql,
        .len = len,
        .schema = schema,
        .table = table,
        .new_schema = new_schema,
        .new_table = new_table,
        .buf = &tmp,
        .err = err,
    };
    int rc = rewrite(&rw);
    if (rc == CDC_OK)
        rc = cdc_buf_append(out, tmp.data, tmp.len);
    if (rc == CDC_ETOOBIG)
        rc = cdc_err_set(err, rc, CDC_ERR_POISON,
                         REFUSED "the result is over the limit of %zu bytes",
                         out->limit);
    cdc_buf_release(&tmp);
    return rc;
}

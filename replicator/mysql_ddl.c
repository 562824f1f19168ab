/*
 * mysql_ddl.c: classifies the statement of a binlog QUERY event: the
 * transaction boundaries (BEGIN, COMMIT, ROLLBACK), TRUNCATE, and the
 * schema changes of tables (ALTER, CREATE and DROP TABLE, RENAME TABLE,
 * CREATE and DROP INDEX) with the tables they name. It is a small lexer
 * and a few hand-written rules, not a SQL parser: it reads only as far
 * as it needs, trusts the server to have logged valid statements, and
 * calls anything it does not recognise SOURCE_MY_STMT_OTHER.
 *
 * Pure: no I/O and no global state. It reads no byte outside (sql, len)
 * and never relies on a NUL; an unterminated comment, string or quoted
 * identifier runs to the end of the text.
 */
#include "replicator/mysql_int.h"

#include <string.h>

/* ==== Lexer ==== */

enum tok_kind {
    TOK_END,
    TOK_WORD,    /* keyword, plain identifier or number */
    TOK_BQUOTED, /* `identifier` */
    TOK_DQUOTED, /* "string", or an identifier under ANSI_QUOTES */
    TOK_STRING,  /* 'string' */
    TOK_PUNCT,   /* any other byte, alone */
};

struct tok {
    enum tok_kind kind;
    const char *p; /* the token's bytes, quotes included */
    size_t len;
    bool open; /* a quoted token the text ends inside */
};

struct lexer {
    const char *sql;
    size_t len;
    size_t pos;
    /* inside an executable comment: its content is statement text, and
     * its end is only a separator */
    bool in_exec;
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Letters, digits, '_', '$' and every byte of a multibyte UTF-8
 * character, as MySQL's unquoted identifiers have them. */
static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80;
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static void skip_line(struct lexer *lx)
{
    while (lx->pos < lx->len && lx->sql[lx->pos] != '\n')
        lx->pos++;
}

/* Skips a comment from its opening slash and star to its end (comments do
 * not nest in MySQL). */
static void skip_comment(struct lexer *lx)
{
    lx->pos += 2;
    while (lx->pos < lx->len) {
        if (lx->sql[lx->pos] == '*' && lx->len - lx->pos >= 2 &&
            lx->sql[lx->pos + 1] == '/') {
            lx->pos += 2;
            return;
        }
        lx->pos++;
    }
}

/* Length of the opening of an executable comment at s: slash, star and
 * '!' (MySQL and MariaDB) or slash, star, 'M' and '!' (MariaDB only); 0
 * when s opens none. */
static size_t exec_marker(const char *s, size_t left)
{
    if (left >= 3 && s[2] == '!')
        return 3;
    if (left >= 4 && s[2] == 'M' && s[3] == '!')
        return 4;
    return 0;
}

/* Skips whitespace and comments. The content of an executable comment is
 * read as statement text whatever its version number says: the server
 * that logged the statement ran it. */
static void skip_blank(struct lexer *lx)
{
    while (lx->pos < lx->len) {
        const char *s = lx->sql + lx->pos;
        size_t left = lx->len - lx->pos;
        unsigned char c = (unsigned char)s[0];
        if (is_space(c)) {
            lx->pos++;
        } else if (c == '#') {
            skip_line(lx);
        } else if (c == '-' && left >= 2 && s[1] == '-' &&
                   (left == 2 || is_space((unsigned char)s[2]) ||
                    (unsigned char)s[2] < 0x20)) {
            /* MySQL wants a space or control character after "--" */
            skip_line(lx);
        } else if (c == '/' && left >= 2 && s[1] == '*') {
            size_t marker = exec_marker(s, left);
            if (marker == 0 || lx->in_exec) {
                skip_comment(lx);
                continue;
            }
            lx->pos += marker;
            /* the version: 5 digits, or 6 for MariaDB's and newer MySQL's */
            size_t n = 0;
            while (n < 6 && lx->pos + n < lx->len &&
                   is_digit((unsigned char)lx->sql[lx->pos + n]))
                n++;
            if (n >= 5)
                lx->pos += n;
            lx->in_exec = true;
        } else if (c == '*' && lx->in_exec && left >= 2 && s[1] == '/') {
            lx->pos += 2;
            lx->in_exec = false;
        } else {
            return;
        }
    }
}

/* A token quoted by q that starts at lx->pos: a doubled q stands for
 * itself; a backslash escapes the next byte in strings, not in
 * backtick-quoted identifiers. */
static void lex_quoted(struct lexer *lx, char q, struct tok *t)
{
    size_t i = lx->pos + 1;
    t->open = true;
    while (i < lx->len) {
        char c = lx->sql[i];
        if (c == '\\' && q != '`') {
            i += 2;
            continue;
        }
        if (c == q) {
            if (i + 1 < lx->len && lx->sql[i + 1] == q) {
                i += 2;
                continue;
            }
            i++;
            t->open = false;
            break;
        }
        i++;
    }
    if (i > lx->len)
        i = lx->len;
    t->len = i - lx->pos;
    lx->pos = i;
}

static void next(struct lexer *lx, struct tok *t)
{
    skip_blank(lx);
    *t = (struct tok){.kind = TOK_END, .p = lx->sql + lx->pos};
    if (lx->pos >= lx->len)
        return;
    unsigned char c = (unsigned char)lx->sql[lx->pos];
    if (is_word(c)) {
        size_t start = lx->pos;
        while (lx->pos < lx->len && is_word((unsigned char)lx->sql[lx->pos]))
            lx->pos++;
        t->kind = TOK_WORD;
        t->len = lx->pos - start;
    } else if (c == '`' || c == '"' || c == '\'') {
        t->kind = c == '`' ? TOK_BQUOTED : c == '"' ? TOK_DQUOTED : TOK_STRING;
        lex_quoted(lx, (char)c, t);
    } else {
        t->kind = TOK_PUNCT;
        t->len = 1;
        lx->pos++;
    }
}

/* Whether t is the keyword kw (upper case), compared without case. */
static bool is_kw(const struct tok *t, const char *kw)
{
    if (t->kind != TOK_WORD || strlen(kw) != t->len)
        return false;
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->p[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        if (c != (unsigned char)kw[i])
            return false;
    }
    return true;
}

static bool is_punct(const struct tok *t, char c)
{
    return t->kind == TOK_PUNCT && t->p[0] == c;
}

/* Takes the keyword kw if it comes next; leaves the lexer alone if not. */
static bool accept(struct lexer *lx, const char *kw)
{
    struct lexer save = *lx;
    struct tok t;
    next(lx, &t);
    if (is_kw(&t, kw))
        return true;
    *lx = save;
    return false;
}

/* Takes "IF EXISTS" or "IF NOT EXISTS" (not_too) if it comes next. */
static void accept_if_exists(struct lexer *lx, bool not_too)
{
    struct lexer save = *lx;
    if (accept(lx, "IF") && (!not_too || accept(lx, "NOT")) &&
        accept(lx, "EXISTS"))
        return;
    *lx = save;
}

/* Whether the statement ends after what has been read (a ';' ends it). */
static bool at_end(struct lexer *lx)
{
    struct lexer save = *lx;
    struct tok t;
    next(lx, &t);
    *lx = save;
    return t.kind == TOK_END || is_punct(&t, ';');
}

/* ==== Names ==== */

/* Reserved words that the statements below put where a name may be; as
 * unquoted names they would be syntax errors, so a text cut short (as in
 * "DROP TABLE IF") does not name a table "IF". */
static const char *const RESERVED[] = {
    "AS", "EXISTS", "IF",    "INDEX", "LIKE", "NOT",
    "ON", "SELECT", "TABLE", "TO",    "WITH",
};

/* Whether t can be one part of a name; after a dot reserved words can
 * (MySQL reads them as identifiers there). */
static bool is_ident(const struct tok *t, bool after_dot)
{
    if (t->kind == TOK_WORD) {
        if (after_dot)
            return true;
        for (size_t i = 0; i < sizeof(RESERVED) / sizeof(RESERVED[0]); i++) {
            if (is_kw(t, RESERVED[i]))
                return false;
        }
        return true;
    }
    /* Double quotes: where only a name can stand, they quote one
     * (sql_mode ANSI_QUOTES), as a string would be a syntax error. MySQL
     * refuses the empty name and a NUL in a name, and a NUL would cut the
     * C string short. */
    return (t->kind == TOK_BQUOTED || t->kind == TOK_DQUOTED) && !t->open &&
           t->len > 2 && memchr(t->p, '\0', t->len) == NULL;
}

/* The identifier of t in arena: unquoted, a doubled quote made single. */
static const char *ident_dup(struct cdc_arena *arena, const struct tok *t)
{
    if (t->kind == TOK_WORD)
        return cdc_arena_strndup(arena, t->p, t->len);
    char q = t->p[0];
    char *s = cdc_arena_alloc(arena, t->len - 1);
    size_t n = 0;
    for (size_t i = 1; i + 1 < t->len; i++) {
        s[n++] = t->p[i];
        if (t->p[i] == q && i + 2 < t->len && t->p[i + 1] == q)
            i++;
    }
    s[n] = '\0';
    return s;
}

/* A table name: [db.]name, with blanks allowed around the dot. */
struct name {
    struct tok db; /* TOK_END when the statement gives none */
    struct tok table;
};

/* Reads a name; false, with the lexer anywhere, when none comes next. */
static bool read_name(struct lexer *lx, struct name *nm)
{
    struct tok a;
    next(lx, &a);
    if (!is_ident(&a, false))
        return false;
    struct lexer save = *lx;
    struct tok dot;
    next(lx, &dot);
    if (!is_punct(&dot, '.')) {
        *lx = save;
        nm->db = (struct tok){.kind = TOK_END};
        nm->table = a;
        return true;
    }
    struct tok b;
    next(lx, &b);
    if (!is_ident(&b, true))
        return false;
    nm->db = a;
    nm->table = b;
    return true;
}

struct parse {
    struct lexer lx;
    const char *default_db;
    const char *default_copy; /* default_db in the arena, once needed */
    struct cdc_arena *arena;
    struct source__my_stmt *out;
};

/* Adds nm to the statement's tables; false when they are full (and
 * `more` is set). */
static bool add_table(struct parse *ps, const struct name *nm)
{
    struct source__my_stmt *out = ps->out;
    if (out->ntables == SOURCE_MY_STMT_TABLES_MAX) {
        out->more = true;
        return false;
    }
    struct source__my_stmt_table *t = &out->tables[out->ntables++];
    if (nm->db.kind != TOK_END) {
        t->schema = ident_dup(ps->arena, &nm->db);
    } else {
        if (ps->default_copy == NULL)
            ps->default_copy = cdc_arena_strdup(
                ps->arena, ps->default_db != NULL ? ps->default_db : "");
        t->schema = ps->default_copy;
    }
    t->name = ident_dup(ps->arena, &nm->table);
    return true;
}

/* Reads a name and adds it; false when there is none or no more room. */
static bool take_table(struct parse *ps)
{
    struct name nm;
    return read_name(&ps->lx, &nm) && add_table(ps, &nm);
}

/* Moves the lexer past the keyword kw found outside parentheses; false
 * when the statement ends first. */
static bool skip_to(struct lexer *lx, const char *kw)
{
    int depth = 0;
    for (;;) {
        struct tok t;
        next(lx, &t);
        if (t.kind == TOK_END || (depth == 0 && is_punct(&t, ';')))
            return false;
        if (is_punct(&t, '('))
            depth++;
        else if (is_punct(&t, ')') && depth > 0)
            depth--;
        else if (depth == 0 && is_kw(&t, kw))
            return true;
    }
}

/* ==== Statements ==== */

/* BEGIN [WORK]; anything else after BEGIN is MariaDB's compound
 * statement "BEGIN NOT ATOMIC ... END". */
static enum source__my_stmt_kind parse_begin(struct parse *ps)
{
    (void)accept(&ps->lx, "WORK");
    return at_end(&ps->lx) ? SOURCE_MY_STMT_BEGIN : SOURCE_MY_STMT_OTHER;
}

/* COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE] */
static enum source__my_stmt_kind parse_commit(struct parse *ps)
{
    if (accept(&ps->lx, "WORK") || at_end(&ps->lx))
        return SOURCE_MY_STMT_COMMIT;
    struct lexer save = ps->lx;
    if (accept(&ps->lx, "AND") || accept(&ps->lx, "NO") ||
        accept(&ps->lx, "RELEASE"))
        return SOURCE_MY_STMT_COMMIT;
    ps->lx = save;
    return SOURCE_MY_STMT_OTHER;
}

/* ROLLBACK [WORK], but not ROLLBACK [WORK] TO [SAVEPOINT] sp, which ends
 * no transaction. */
static enum source__my_stmt_kind parse_rollback(struct parse *ps)
{
    (void)accept(&ps->lx, "WORK");
    return accept(&ps->lx, "TO") ? SOURCE_MY_STMT_OTHER
                                 : SOURCE_MY_STMT_ROLLBACK;
}

/* TRUNCATE [TABLE] t */
static enum source__my_stmt_kind parse_truncate(struct parse *ps)
{
    (void)accept(&ps->lx, "TABLE");
    ps->out->tag = "TRUNCATE TABLE";
    (void)take_table(ps);
    return SOURCE_MY_STMT_TRUNCATE;
}

/*
 * After "ALTER TABLE t": the other tables the statement changes, named
 * outside parentheses by
 *   RENAME [TO|AS] new (but not RENAME COLUMN, INDEX, KEY, CONSTRAINT),
 *   EXCHANGE PARTITION p WITH TABLE other,
 *   CONVERT PARTITION p TO TABLE new, CONVERT TABLE other TO PARTITION
 *   (MariaDB).
 * TABLE is reserved, so unquoted it is always the keyword, and is followed
 * by a table's name in each of these.
 */
static void alter_other_tables(struct parse *ps)
{
    int depth = 0;
    for (;;) {
        struct tok t;
        next(&ps->lx, &t);
        if (t.kind == TOK_END || (depth == 0 && is_punct(&t, ';')))
            return;
        if (is_punct(&t, '(')) {
            depth++;
        } else if (is_punct(&t, ')')) {
            if (depth > 0)
                depth--;
        } else if (depth > 0) {
            continue;
        } else if (is_kw(&t, "RENAME")) {
            struct lexer save = ps->lx;
            struct tok what;
            next(&ps->lx, &what);
            if (is_kw(&what, "COLUMN") || is_kw(&what, "INDEX") ||
                is_kw(&what, "KEY") || is_kw(&what, "CONSTRAINT"))
                continue;
            if (!is_kw(&what, "TO") && !is_kw(&what, "AS"))
                ps->lx = save;
            if (!take_table(ps))
                return;
        } else if (is_kw(&t, "TABLE")) {
            if (!take_table(ps))
                return;
        }
    }
}

/* ALTER [ONLINE|OFFLINE] [IGNORE] TABLE [IF EXISTS] t ... */
static enum source__my_stmt_kind parse_alter(struct parse *ps)
{
    while (accept(&ps->lx, "ONLINE") || accept(&ps->lx, "OFFLINE") ||
           accept(&ps->lx, "IGNORE"))
        continue;
    if (!accept(&ps->lx, "TABLE"))
        return SOURCE_MY_STMT_OTHER;
    accept_if_exists(&ps->lx, false);
    ps->out->tag = "ALTER TABLE";
    if (take_table(ps))
        alter_other_tables(ps);
    return SOURCE_MY_STMT_DDL;
}

/*
 * CREATE [OR REPLACE] [TEMPORARY] TABLE [IF NOT EXISTS] t ...: only t
 * (not the u of "LIKE u" or "SELECT ... FROM u").
 * CREATE [OR REPLACE] [ONLINE|OFFLINE] [UNIQUE|FULLTEXT|SPATIAL] INDEX
 * [IF NOT EXISTS] i [USING type] ON t ...
 */
static enum source__my_stmt_kind parse_create(struct parse *ps)
{
    bool temporary = false;
    bool index_only = false;
    for (;;) {
        if (accept(&ps->lx, "OR")) {
            if (!accept(&ps->lx, "REPLACE"))
                return SOURCE_MY_STMT_OTHER;
        } else if (accept(&ps->lx, "TEMPORARY")) {
            temporary = true;
        } else if (accept(&ps->lx, "ONLINE") || accept(&ps->lx, "OFFLINE") ||
                   accept(&ps->lx, "UNIQUE") || accept(&ps->lx, "FULLTEXT") ||
                   accept(&ps->lx, "SPATIAL")) {
            index_only = true;
        } else {
            break;
        }
    }
    if (!index_only && accept(&ps->lx, "TABLE")) {
        accept_if_exists(&ps->lx, true);
        ps->out->tag = "CREATE TABLE";
        ps->out->temporary = temporary;
        (void)take_table(ps);
        return SOURCE_MY_STMT_DDL;
    }
    if (!temporary && accept(&ps->lx, "INDEX") && skip_to(&ps->lx, "ON")) {
        ps->out->tag = "CREATE INDEX";
        (void)take_table(ps);
        return SOURCE_MY_STMT_DDL;
    }
    return SOURCE_MY_STMT_OTHER;
}

/*
 * DROP [TEMPORARY] TABLE[S] [IF EXISTS] t1 [, t2 ...] [WAIT n|NOWAIT]
 * [RESTRICT|CASCADE]
 * DROP [ONLINE|OFFLINE] INDEX [IF EXISTS] i ON t ...
 */
static enum source__my_stmt_kind parse_drop(struct parse *ps)
{
    bool temporary = false;
    bool index_only = false;
    for (;;) {
        if (accept(&ps->lx, "TEMPORARY"))
            temporary = true;
        else if (accept(&ps->lx, "ONLINE") || accept(&ps->lx, "OFFLINE"))
            index_only = true;
        else
            break;
    }
    if (!index_only &&
        (accept(&ps->lx, "TABLE") || accept(&ps->lx, "TABLES"))) {
        accept_if_exists(&ps->lx, false);
        ps->out->tag = "DROP TABLE";
        ps->out->temporary = temporary;
        while (take_table(ps)) {
            struct tok t;
            next(&ps->lx, &t);
            if (!is_punct(&t, ','))
                break;
        }
        return SOURCE_MY_STMT_DDL;
    }
    if (!temporary && accept(&ps->lx, "INDEX") && skip_to(&ps->lx, "ON")) {
        ps->out->tag = "DROP INDEX";
        (void)take_table(ps);
        return SOURCE_MY_STMT_DDL;
    }
    return SOURCE_MY_STMT_OTHER;
}

/* RENAME TABLE[S] [IF EXISTS] a [WAIT n|NOWAIT] TO b [, c TO d ...]: the
 * old and the new name of each pair, in order. */
static enum source__my_stmt_kind parse_rename(struct parse *ps)
{
    if (!accept(&ps->lx, "TABLE") && !accept(&ps->lx, "TABLES"))
        return SOURCE_MY_STMT_OTHER;
    accept_if_exists(&ps->lx, false);
    ps->out->tag = "RENAME TABLE";
    for (;;) {
        if (!take_table(ps) || !skip_to(&ps->lx, "TO") || !take_table(ps))
            break;
        struct tok t;
        next(&ps->lx, &t);
        if (!is_punct(&t, ','))
            break;
    }
    return SOURCE_MY_STMT_DDL;
}

void source__my_stmt_parse(const char *sql, size_t len, const char *default_db,
                           struct cdc_arena *arena, struct source__my_stmt *out)
{
    memset(out, 0, sizeof(*out));
    struct parse ps = {
        .lx = {.sql = sql, .len = len},
        .default_db = default_db,
        .arena = arena,
        .out = out,
    };
    struct tok t;
    next(&ps.lx, &t);
    enum source__my_stmt_kind kind = SOURCE_MY_STMT_OTHER;
    if (is_kw(&t, "BEGIN"))
        kind = parse_begin(&ps);
    else if (is_kw(&t, "START"))
        kind = accept(&ps.lx, "TRANSACTION") ? SOURCE_MY_STMT_BEGIN
                                             : SOURCE_MY_STMT_OTHER;
    else if (is_kw(&t, "COMMIT"))
        kind = parse_commit(&ps);
    else if (is_kw(&t, "ROLLBACK"))
        kind = parse_rollback(&ps);
    else if (is_kw(&t, "TRUNCATE"))
        kind = parse_truncate(&ps);
    else if (is_kw(&t, "ALTER"))
        kind = parse_alter(&ps);
    else if (is_kw(&t, "CREATE"))
        kind = parse_create(&ps);
    else if (is_kw(&t, "DROP"))
        kind = parse_drop(&ps);
    else if (is_kw(&t, "RENAME"))
        kind = parse_rename(&ps);

    /* A change of tables none of which could be read is nothing to act
     * on (only a text cut short or not understood gets here). */
    bool names_tables =
        kind == SOURCE_MY_STMT_TRUNCATE || kind == SOURCE_MY_STMT_DDL;
    if (kind == SOURCE_MY_STMT_OTHER || (names_tables && out->ntables == 0)) {
        memset(out, 0, sizeof(*out));
        return;
    }
    out->kind = kind;
}

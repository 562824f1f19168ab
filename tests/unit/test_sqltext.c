/*
 * test_sqltext.c: unit tests of common/sqltext.c, the lexer over
 * PostgreSQL statement text: splitting at ';' around strings, E'' escapes,
 * dollar quotes, nested comments, quoted identifiers, parentheses and
 * BEGIN ATOMIC bodies; command tags with their optional words; statements
 * that cannot run in a transaction block; identifier mentions with
 * quoting, case and truncation; renaming a table in every form that names
 * one and every refusal. Every function also runs over every prefix of
 * tricky texts and over random ones, each in an exactly sized heap block
 * so that AddressSanitizer catches a read past its end.
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
#include "common/sqltext.h"

#include <stdio.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define REFUSED "cannot rewrite the statement for routing: "

/* A copy of s[0, len) in a heap block of exactly len bytes, no NUL. */
static char *exact_copy(const char *s, size_t len)
{
    char *p = cdc_xmalloc(len ? len : 1);
    if (len > 0)
        memcpy(p, s, len);
    return p;
}

/* ==== Splitting ==== */

static void split_is(const char *sql, const char *const *want, size_t nwant)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    struct cdc_sql_stmt st[16];
    size_t n = cdc_sql_split(copy, len, st, NELEMS(st));
    cdc_free(copy);
    if (n != nwant)
        fail_msg("\"%s\": %zu statements, want %zu", sql, n, nwant);
    for (size_t i = 0; i < n; i++) {
        if (st[i].len != strlen(want[i]) ||
            memcmp(sql + st[i].start, want[i], st[i].len) != 0)
            fail_msg("statement %zu of \"%s\" is \"%.*s\", want \"%s\"", i, sql,
                     (int)st[i].len, sql + st[i].start, want[i]);
    }
}

#define SPLIT(sql, ...)                                                        \
    split_is(sql, (const char *const[]){__VA_ARGS__},                          \
             NELEMS(((const char *const[]){__VA_ARGS__})))

static void split_none(const char *sql)
{
    assert_int_equal(cdc_sql_split(sql, strlen(sql), NULL, 0), 0);
}

static void test_split_plain(void **state)
{
    (void)state;
    SPLIT("SELECT 1", "SELECT 1");
    SPLIT("SELECT 1; SELECT 2", "SELECT 1", "SELECT 2");
    SPLIT("  SELECT 1 ;\n\tSELECT 2;\n", "SELECT 1", "SELECT 2");
    SPLIT("-- lead\n/* lead */ SELECT 1 /* trail */ -- trail\n; -- end",
          "SELECT 1");
    SPLIT(";;SELECT 1;;; ;\n;SELECT 2;", "SELECT 1", "SELECT 2");
    SPLIT("SELECT 1; -- only a comment\n; /* and another */;", "SELECT 1");
    SPLIT("a;b", "a", "b");
    split_none("");
    split_none(" \n\t ");
    split_none(";");
    split_none(" ; ; -- x\n /* y */ ;");
    split_none("/* unterminated ; comment");
    split_none("-- ; SELECT 1");
}

static void test_split_strings(void **state)
{
    (void)state;
    SPLIT("SELECT 'a;b'; SELECT 2", "SELECT 'a;b'", "SELECT 2");
    SPLIT("SELECT 'it''s; fine'; x", "SELECT 'it''s; fine'", "x");
    SPLIT("SELECT ''';'; x", "SELECT ''';'", "x");
    /* a backslash only escapes inside E'' */
    SPLIT("SELECT '\\'; x", "SELECT '\\'", "x");
    SPLIT("SELECT E'\\'; x'; y", "SELECT E'\\'; x'", "y");
    SPLIT("SELECT e'\\\\'; x", "SELECT e'\\\\'", "x");
    SPLIT("SELECT E'a''b;'; x", "SELECT E'a''b;'", "x");
    /* E must touch its quote and be a word of its own */
    SPLIT("SELECT E '\\'; x", "SELECT E '\\'", "x");
    SPLIT("SELECT fe'\\'; x", "SELECT fe'\\'", "x");
    /* a string goes on after a newline, keeping E's escapes */
    SPLIT("SELECT E'a'\n'\\'; x'; y", "SELECT E'a'\n'\\'; x'", "y");
    SPLIT("SELECT E'a' -- c\n  '\\';'; y", "SELECT E'a' -- c\n  '\\';'", "y");
    /* ... but not after spaces alone */
    SPLIT("SELECT E'a' '\\'; x", "SELECT E'a' '\\'", "x");
    SPLIT("SELECT B'01', X'1F', N'n;'; x", "SELECT B'01', X'1F', N'n;'", "x");
    SPLIT("SELECT U&'d\\0061t;a'; x", "SELECT U&'d\\0061t;a'", "x");
    SPLIT("SELECT 'unterminated; x", "SELECT 'unterminated; x");
    SPLIT("SELECT E'\\", "SELECT E'\\");
}

static void test_split_dollar(void **state)
{
    (void)state;
    SPLIT("SELECT $$a;b$$; x", "SELECT $$a;b$$", "x");
    SPLIT("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ ; $x$ "
          "$body$ LANGUAGE sql; SELECT 2",
          "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $$ ; $x$ "
          "$body$ LANGUAGE sql",
          "SELECT 2");
    SPLIT("SELECT $a$ $A$; $ab$; $a$; x", "SELECT $a$ $A$; $ab$; $a$", "x");
    SPLIT("SELECT $_1$;$_1$; x", "SELECT $_1$;$_1$", "x");
    SPLIT("SELECT $é$;$é$; x", "SELECT $é$;$é$", "x");
    /* $1 is a parameter and a$b$ an identifier, not dollar quotes */
    SPLIT("SELECT $1; SELECT $2", "SELECT $1", "SELECT $2");
    SPLIT("SELECT a$b$; SELECT 2$", "SELECT a$b$", "SELECT 2$");
    SPLIT("SELECT $; x", "SELECT $", "x");
    SPLIT("SELECT $1a$; x", "SELECT $1a$", "x");
    SPLIT("SELECT $tag$ unterminated; x", "SELECT $tag$ unterminated; x");
}

static void test_split_comments_idents(void **state)
{
    (void)state;
    SPLIT("SELECT /* a /* b; */ c; */ 1; x", "SELECT /* a /* b; */ c; */ 1",
          "x");
    SPLIT("SELECT 1 -- a; b\n + 2; x", "SELECT 1 -- a; b\n + 2", "x");
    SPLIT("SELECT 1 --a\r; x", "SELECT 1", "x");
    SPLIT("SELECT 1+--a;\n2; x", "SELECT 1+--a;\n2", "x");
    SPLIT("SELECT 1*/*a;*/2; x", "SELECT 1*/*a;*/2", "x");
    SPLIT("SELECT \"a;b\" FROM \"we\"\"ird;\"; x",
          "SELECT \"a;b\" FROM \"we\"\"ird;\"", "x");
    SPLIT("SELECT U&\"a;\\0062\"; x", "SELECT U&\"a;\\0062\"", "x");
    SPLIT("SELECT \"unterminated; x", "SELECT \"unterminated; x");
}

static void test_split_nesting(void **state)
{
    (void)state;
    SPLIT("SELECT (1; 2); x", "SELECT (1; 2)", "x");
    SPLIT("SELECT f((';'), (2;3)); x", "SELECT f((';'), (2;3))", "x");
    SPLIT("SELECT 1); x", "SELECT 1)", "x");
    SPLIT("SELECT (1; x", "SELECT (1; x");
    SPLIT("CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
          "BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3",
          "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
          "BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND",
          "SELECT 3");
    SPLIT("create procedure p() begin /* c */ atomic select case when true "
          "then 1 else 2 end; select 3; end; x",
          "create procedure p() begin /* c */ atomic select case when true "
          "then 1 else 2 end; select 3; end",
          "x");
    SPLIT("CREATE FUNCTION f() BEGIN ATOMIC SELECT (CASE WHEN a THEN b END);"
          " END; x",
          "CREATE FUNCTION f() BEGIN ATOMIC SELECT (CASE WHEN a THEN b END);"
          " END",
          "x");
    /* a transaction's BEGIN opens nothing; neither does a quoted atomic */
    SPLIT("BEGIN; SELECT 1; END;", "BEGIN", "SELECT 1", "END");
    SPLIT("BEGIN \"atomic\"; SELECT 1", "BEGIN \"atomic\"", "SELECT 1");
    SPLIT("SELECT CASE WHEN a THEN 1 END; x", "SELECT CASE WHEN a THEN 1 END",
          "x");
    SPLIT("BEGIN ATOMIC SELECT 1; x", "BEGIN ATOMIC SELECT 1; x");
}

static void test_split_max(void **state)
{
    (void)state;
    const char *sql = "a; b; c; d";
    struct cdc_sql_stmt st[2] = {{99, 99}, {99, 99}};
    assert_int_equal(cdc_sql_split(sql, strlen(sql), st, 1), 4);
    assert_int_equal(st[0].start, 0);
    assert_int_equal(st[0].len, 1);
    assert_int_equal(st[1].start, 99);
    assert_int_equal(cdc_sql_split(sql, strlen(sql), NULL, 0), 4);
    /* the length bounds the text, whatever follows it */
    assert_int_equal(cdc_sql_split(sql, 4, st, 2), 2);
    assert_int_equal(st[1].start, 3);
    assert_int_equal(st[1].len, 1);
    assert_int_equal(cdc_sql_split(NULL, 0, NULL, 0), 0);
}

/* ==== Command tags ==== */

static void tag_is(const char *sql, const char *want)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    char tag[64];
    memset(tag, 'x', sizeof(tag));
    bool ok = cdc_sql_tag(copy, len, tag, sizeof(tag));
    cdc_free(copy);
    if (!ok)
        fail_msg("\"%s\": no tag, want \"%s\"", sql, want);
    if (strcmp(tag, want) != 0)
        fail_msg("\"%s\": tag \"%s\", want \"%s\"", sql, tag, want);
}

static void no_tag(const char *sql)
{
    char tag[64];
    memset(tag, 'x', sizeof(tag));
    assert_false(cdc_sql_tag(sql, strlen(sql), tag, sizeof(tag)));
    assert_string_equal(tag, "");
}

static void test_tag_tables(void **state)
{
    (void)state;
    tag_is("CREATE TABLE t (a int)", "CREATE TABLE");
    tag_is("cReAtE tAbLe t (a int)", "CREATE TABLE");
    tag_is("CREATE GLOBAL TEMPORARY TABLE t (a int)", "CREATE TABLE");
    tag_is("CREATE LOCAL TEMP TABLE t (a int)", "CREATE TABLE");
    tag_is("create temp table t (a int)", "CREATE TABLE");
    tag_is("CREATE UNLOGGED TABLE t (a int)", "CREATE TABLE");
    tag_is("CREATE OR REPLACE TABLE t (a int)", "CREATE TABLE");
    tag_is("CREATE TABLE t (a int GENERATED ALWAYS AS (a * 2) STORED)",
           "CREATE TABLE");
    tag_is("CREATE TABLE t AS SELECT 1", "CREATE TABLE AS");
    tag_is("CREATE TEMP TABLE IF NOT EXISTS t (a, b) WITH (fillfactor = 70) "
           "AS SELECT 1, 2",
           "CREATE TABLE AS");
    tag_is("CREATE FOREIGN TABLE t (a int) SERVER s", "CREATE FOREIGN TABLE");
    tag_is("ALTER TABLE t ADD c int", "ALTER TABLE");
    tag_is("DROP TABLE t", "DROP TABLE");
    tag_is("TRUNCATE t", "TRUNCATE TABLE");
    tag_is("truncate table only t", "TRUNCATE TABLE");
    tag_is("COMMENT ON TABLE t IS 'x'", "COMMENT");
}

static void test_tag_other_objects(void **state)
{
    (void)state;
    tag_is("CREATE INDEX ON t (a)", "CREATE INDEX");
    tag_is("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX");
    tag_is("DROP INDEX CONCURRENTLY i", "DROP INDEX");
    tag_is("ALTER INDEX i RENAME TO j", "ALTER INDEX");
    tag_is("CREATE SEQUENCE s", "CREATE SEQUENCE");
    tag_is("CREATE TEMP SEQUENCE s", "CREATE SEQUENCE");
    tag_is("ALTER SEQUENCE s RESTART", "ALTER SEQUENCE");
    tag_is("DROP SEQUENCE s", "DROP SEQUENCE");
    tag_is("CREATE TYPE e AS ENUM ('a')", "CREATE TYPE");
    tag_is("ALTER TYPE e ADD VALUE 'b'", "ALTER TYPE");
    tag_is("DROP TYPE e", "DROP TYPE");
    tag_is("CREATE VIEW v AS SELECT 1", "CREATE VIEW");
    tag_is("CREATE OR REPLACE TEMP RECURSIVE VIEW v (n) AS SELECT 1",
           "CREATE VIEW");
    tag_is("CREATE MATERIALIZED VIEW m AS SELECT 1",
           "CREATE MATERIALIZED VIEW");
    tag_is("DROP VIEW v", "DROP VIEW");
    tag_is("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
           "CREATE FUNCTION");
    tag_is("CREATE OR REPLACE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1;"
           " END",
           "CREATE FUNCTION");
    tag_is("CREATE OR REPLACE PROCEDURE p() AS $$ $$ LANGUAGE sql",
           "CREATE PROCEDURE");
    tag_is("CREATE SCHEMA s", "CREATE SCHEMA");
    tag_is("DROP SCHEMA s CASCADE", "DROP SCHEMA");
    tag_is("CREATE EXTENSION IF NOT EXISTS pgcrypto", "CREATE EXTENSION");
    tag_is("CREATE DOMAIN d AS int", "CREATE DOMAIN");
    tag_is("ALTER DOMAIN d SET NOT NULL", "ALTER DOMAIN");
    tag_is("DROP DOMAIN d", "DROP DOMAIN");
    tag_is("CREATE CONSTRAINT TRIGGER tr AFTER INSERT ON t FOR EACH ROW "
           "EXECUTE FUNCTION f()",
           "CREATE TRIGGER");
    tag_is("CREATE OR REPLACE TRIGGER tr BEFORE INSERT ON t", "CREATE TRIGGER");
    tag_is("CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION f()",
           "CREATE EVENT TRIGGER");
    tag_is("CREATE USER u", "CREATE ROLE");
    tag_is("DROP GROUP g", "DROP ROLE");
    tag_is("CREATE USER MAPPING FOR u SERVER s", "CREATE USER MAPPING");
    tag_is("CREATE TEXT SEARCH CONFIGURATION c (COPY = english)",
           "CREATE TEXT SEARCH CONFIGURATION");
    tag_is("CREATE FOREIGN DATA WRAPPER w", "CREATE FOREIGN DATA WRAPPER");
    tag_is("CREATE TRUSTED PROCEDURAL LANGUAGE l", "CREATE LANGUAGE");
    tag_is("CREATE OPERATOR CLASS c FOR TYPE int USING btree AS OPERATOR 1 <",
           "CREATE OPERATOR CLASS");
    tag_is("CREATE OPERATOR === (FUNCTION = f)", "CREATE OPERATOR");
    tag_is("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO u",
           "ALTER DEFAULT PRIVILEGES");
    tag_is("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM");
    tag_is("DROP OWNED BY u", "DROP OWNED");
    /* an object type not known here leaves the verb alone */
    tag_is("CREATE WIDGET w", "CREATE");
    tag_is("CREATE TEMP", "CREATE");
    tag_is("DROP", "DROP");
}

static void test_tag_first_keyword(void **state)
{
    (void)state;
    tag_is("GRANT SELECT ON t TO u", "GRANT");
    tag_is("REVOKE ALL ON t FROM u", "REVOKE");
    tag_is("REINDEX TABLE CONCURRENTLY t", "REINDEX");
    tag_is("insert into t values (1)", "INSERT");
    tag_is("select 1", "SELECT");
    tag_is("SELECT a, b INTO new_t FROM t", "SELECT INTO");
    tag_is("SELECT (SELECT 1 INTO x) FROM t", "SELECT");
    tag_is("SELECT 'into' \"into\"", "SELECT");
    tag_is("INSERT INTO t VALUES (1)", "INSERT");
    tag_is("WITH x AS (SELECT 1) SELECT * FROM x", "WITH");
    tag_is("SECURITY LABEL ON TABLE t IS 'x'", "SECURITY LABEL");
    tag_is("REFRESH MATERIALIZED VIEW CONCURRENTLY m",
           "REFRESH MATERIALIZED VIEW");
    tag_is("IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y",
           "IMPORT FOREIGN SCHEMA");
    tag_is("START TRANSACTION", "START TRANSACTION");
    tag_is("start", "START");
    tag_is("-- a comment\n /* and /* another */ */ VACUUM", "VACUUM");
    tag_is(";; ;ALTER TABLE t ADD c int; DROP TABLE t", "ALTER TABLE");
    no_tag("");
    no_tag("  -- nothing\n");
    no_tag("\"select\" 1");
    no_tag("(SELECT 1)");
    no_tag("'x'");
    no_tag("1");
}

static void test_tag_small_buffer(void **state)
{
    (void)state;
    const char *sql = "CREATE UNIQUE INDEX i ON t (a)";
    char tag[8];
    assert_true(cdc_sql_tag(sql, strlen(sql), tag, 7));
    assert_string_equal(tag, "CREATE");
    assert_true(cdc_sql_tag(sql, strlen(sql), tag, 1));
    assert_string_equal(tag, "");
    assert_true(cdc_sql_tag(sql, strlen(sql), NULL, 0));
    sql = "select 1";
    assert_true(cdc_sql_tag(sql, strlen(sql), tag, 4));
    assert_string_equal(tag, "SEL");
    assert_false(cdc_sql_tag("(", 1, NULL, 0));
}

/* ==== Outside a transaction block ==== */

static void no_tx(const char *sql, bool want)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    bool got = cdc_sql_no_transaction(copy, len);
    cdc_free(copy);
    if (got != want)
        fail_msg("\"%s\": %s, want %s", sql, got ? "true" : "false",
                 want ? "true" : "false");
}

static void test_no_transaction_concurrently(void **state)
{
    (void)state;
    no_tx("CREATE INDEX CONCURRENTLY i ON t (a)", true);
    no_tx("create unique index concurrently if not exists i on t (a)", true);
    no_tx("CREATE INDEX CONCURRENTLY ON t (a)", true);
    no_tx("DROP INDEX CONCURRENTLY IF EXISTS i", true);
    no_tx("REINDEX INDEX CONCURRENTLY i", true);
    no_tx("REINDEX TABLE CONCURRENTLY app.t", true);
    no_tx("REINDEX (VERBOSE) TABLE CONCURRENTLY t", true);
    no_tx("REINDEX (CONCURRENTLY) TABLE t", true);
    no_tx("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", true);
    no_tx("ALTER TABLE IF EXISTS ONLY p DETACH PARTITION app.c CONCURRENTLY;",
          true);

    no_tx("CREATE INDEX i ON t (a)", false);
    no_tx("CREATE UNIQUE INDEX i ON t (a)", false);
    no_tx("CREATE INDEX i ON t (\"concurrently\")", false);
    no_tx("CREATE INDEX /* CONCURRENTLY */ i ON t (a)", false);
    no_tx("CREATE INDEX -- CONCURRENTLY\n i ON t (a)", false);
    no_tx("CREATE INDEX i ON t (a) WHERE b = 'concurrently'", false);
    no_tx("CREATE INDEX i ON t USING btree (a) INCLUDE (concurrently)", false);
    no_tx("COMMENT ON INDEX i IS 'CREATE INDEX CONCURRENTLY'", false);
    no_tx("DROP INDEX i", false);
    no_tx("DROP INDEX \"concurrently\"", false);
    no_tx("REINDEX TABLE t", false);
    no_tx("REINDEX INDEX \"concurrently\"", false);
    no_tx("REINDEX (VERBOSE) INDEX i", false);
    no_tx("ALTER TABLE p DETACH PARTITION c", false);
    no_tx("ALTER TABLE p DETACH PARTITION c FINALIZE", false);
    no_tx("ALTER TABLE t ADD \"concurrently\" int", false);
    no_tx("ALTER TABLE t ADD c int DEFAULT 'DETACH PARTITION CONCURRENTLY'",
          false);
    no_tx("ALTER INDEX i ATTACH PARTITION j", false);
    no_tx("SELECT 'concurrently'", false);
}

static void test_no_transaction_statements(void **state)
{
    (void)state;
    no_tx("VACUUM", true);
    no_tx("vacuum (analyze, verbose) t", true);
    no_tx("CREATE DATABASE d", true);
    no_tx("DROP DATABASE IF EXISTS d WITH (FORCE)", true);
    no_tx("ALTER DATABASE d SET TABLESPACE ts", true);
    no_tx("CREATE TABLESPACE ts LOCATION '/x'", true);
    no_tx("DROP TABLESPACE ts", true);
    no_tx("ALTER SYSTEM SET work_mem = '64MB'", true);
    no_tx("REINDEX DATABASE d", true);
    no_tx("REINDEX (VERBOSE) SCHEMA s", true);
    no_tx("REINDEX SYSTEM", true);
    no_tx("CLUSTER", true);
    no_tx("CLUSTER VERBOSE", true);
    no_tx("CLUSTER (VERBOSE)", true);
    no_tx("DISCARD ALL", true);
    no_tx("COMMIT PREPARED 'x'", true);
    no_tx("ROLLBACK PREPARED 'x'", true);
    no_tx("CREATE SUBSCRIPTION s CONNECTION 'c' PUBLICATION p", true);
    no_tx("DROP SUBSCRIPTION s", true);
    no_tx("ALTER SUBSCRIPTION s REFRESH PUBLICATION", true);
    no_tx("CREATE TABLE t (a int); CREATE INDEX CONCURRENTLY i ON t (a)", true);

    no_tx("", false);
    no_tx("ANALYZE t", false);
    no_tx("CREATE TABLE vacuum_log (vacuum int)", false);
    no_tx("ALTER DATABASE d SET work_mem = '1MB'", false);
    no_tx("ALTER DATABASE d RENAME TO e", false);
    no_tx("ALTER TABLE t SET TABLESPACE ts", false);
    no_tx("ALTER SUBSCRIPTION s ENABLE", false);
    no_tx("CREATE PUBLICATION p FOR TABLE t", false);
    no_tx("CLUSTER t", false);
    no_tx("CLUSTER VERBOSE t USING i", false);
    no_tx("DISCARD PLANS", false);
    no_tx("COMMIT", false);
    no_tx("ROLLBACK", false);
    no_tx("SELECT 'VACUUM'", false);
    no_tx("\"vacuum\"", false);
    no_tx("-- VACUUM\nSELECT 1", false);
    no_tx("/* CREATE DATABASE d */ CREATE SCHEMA s", false);
    no_tx("CREATE TABLE t (a int); ALTER TABLE t ADD b int", false);
}

/* ==== Mentions ==== */

static bool mentions(const char *sql, const char *name)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    bool got = cdc_sql_mentions(copy, len, name);
    cdc_free(copy);
    return got;
}

static void test_mentions(void **state)
{
    (void)state;
    assert_true(mentions("SELECT email FROM t", "email"));
    assert_true(mentions("SELECT EMAIL FROM t", "email"));
    assert_true(mentions("SELECT \"email\" FROM t", "email"));
    assert_true(mentions("SELECT t.eMail FROM t", "email"));
    assert_false(mentions("SELECT \"Email\" FROM t", "email"));
    assert_true(mentions("SELECT \"Email\" FROM t", "Email"));
    assert_false(mentions("SELECT Email FROM t", "Email"));
    assert_true(mentions("SELECT \"we\"\"ird\" FROM t", "we\"ird"));
    assert_true(mentions("SELECT \"my col\" FROM t", "my col"));
    assert_true(mentions("SELECT a$b$c FROM t", "a$b$c"));
    /* keywords are identifiers too */
    assert_true(mentions("ALTER TABLE t ADD c date", "date"));
    assert_true(mentions("ALTER TABLE t ADD c int", "table"));
    assert_false(mentions("ALTER TABLE t ADD c int", "tab"));
    assert_false(mentions("ALTER TABLE t ADD c int", ""));
    assert_false(mentions("", "t"));
}

static void test_mentions_not_in_strings(void **state)
{
    (void)state;
    assert_false(mentions("SELECT 'email'", "email"));
    assert_false(mentions("SELECT E'\\'email'", "email"));
    assert_false(mentions("SELECT 1 -- email", "email"));
    assert_false(mentions("SELECT /* x /* email */ */ 1", "email"));
    assert_false(mentions("SELECT $$email$$", "email"));
    assert_false(mentions("SELECT $e$ email $e$", "email"));
    assert_false(mentions("SELECT $e$ email", "email"));
    assert_false(mentions("SELECT 'unterminated email", "email"));
    assert_false(mentions("SELECT \"unterminated email", "email"));
    assert_true(mentions("SELECT \"unterminated email", "unterminated email"));
    /* string prefixes are not identifiers; a lone letter is */
    assert_false(mentions("SELECT E'x', B'1', X'f', N'n', U&'u'", "e"));
    assert_false(mentions("SELECT E'x', B'1', X'f', N'n', U&'u'", "b"));
    assert_false(mentions("SELECT E'x', B'1', X'f', N'n', U&'u'", "u"));
    assert_true(mentions("SELECT e FROM t", "e"));
    assert_true(mentions("SELECT $1 FROM t", "t"));
    assert_false(mentions("SELECT $1 FROM x", "1"));
}

static void test_mentions_unicode_and_length(void **state)
{
    (void)state;
    /* U&"" is taken at its word unless escapes could make it anything */
    assert_true(mentions("SELECT U&\"t\" FROM x", "t"));
    assert_false(mentions("SELECT U&\"s\" FROM x", "t"));
    assert_true(mentions("SELECT U&\"\\0074\" FROM x", "t"));
    assert_true(mentions("SELECT U&\"!0074\" UESCAPE '!' FROM x", "t"));
    assert_true(mentions("SELECT \"é\" FROM x", "é"));

    /* identifiers are cut to 63 bytes, at a character boundary */
    char name[64];
    memset(name, 'a', 63);
    name[63] = '\0';
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT %sbbbbbbb", name);
    assert_true(mentions(sql, name));
    snprintf(sql, sizeof(sql), "SELECT \"%sbbbbbbb\"", name);
    assert_true(mentions(sql, name));
    snprintf(sql, sizeof(sql), "SELECT %s", name + 1);
    assert_false(mentions(sql, name));
    /* 62 bytes and a two-byte character: the character goes whole */
    snprintf(sql, sizeof(sql), "SELECT \"%s\xc3\xa9\"", name + 1);
    assert_true(mentions(sql, name + 1));
    assert_false(mentions(sql, name));
}

/* ==== Rewriting ==== */

static void rewrite_as(const char *sql, const char *schema, const char *table,
                       const char *new_schema, const char *new_table,
                       const char *want)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    struct cdc_buf out;
    cdc_buf_init(&out, 0);
    cdc_buf_append_str(&out, ">");
    struct cdc_err err = {0};
    int rc = cdc_sql_rewrite_table(copy, len, schema, table, new_schema,
                                   new_table, &out, &err);
    cdc_free(copy);
    if (rc != CDC_OK)
        fail_msg("\"%s\": %s", sql, err.msg);
    if (strcmp(out.data + 1, want) != 0 || out.data[0] != '>')
        fail_msg("\"%s\" became\n\"%s\", want\n\">%s\"", sql, out.data, want);
    assert_int_equal(out.len, strlen(want) + 1);
    cdc_buf_release(&out);
}

/* Rewrites table app.t as dst.t2. */
static void rewrite(const char *sql, const char *want)
{
    rewrite_as(sql, "app", "t", "dst", "t2", want);
}

/* Copies a statement that names no table unchanged. */
static void rewrite_same(const char *sql)
{
    rewrite(sql, sql);
}

static void refused_as(const char *sql, const char *schema, const char *table,
                       const char *new_schema, const char *new_table,
                       const char *why)
{
    size_t len = strlen(sql);
    char *copy = exact_copy(sql, len);
    struct cdc_buf out;
    cdc_buf_init(&out, 0);
    cdc_buf_append_str(&out, "keep");
    struct cdc_err err = {0};
    int rc = cdc_sql_rewrite_table(copy, len, schema, table, new_schema,
                                   new_table, &out, &err);
    cdc_free(copy);
    if (rc == CDC_OK)
        fail_msg("\"%s\" was rewritten as \"%s\"", sql, out.data);
    assert_int_equal(rc, CDC_EPROTO);
    assert_int_equal(err.code, CDC_EPROTO);
    assert_true(err.flags & CDC_ERR_POISON);
    char want[CDC_ERR_MSG_MAX];
    snprintf(want, sizeof(want), REFUSED "%s", why);
    if (strcmp(err.msg, want) != 0)
        fail_msg("\"%s\": message\n\"%s\", want\n\"%s\"", sql, err.msg, want);
    assert_int_equal(out.len, 4);
    assert_string_equal(out.data, "keep");
    cdc_buf_release(&out);
}

static void refused(const char *sql, const char *why)
{
    refused_as(sql, "app", "t", "dst", "t2", why);
}

#define NOT_T "the table it is about is not \"app\".\"t\""
#define ELSEWHERE "table \"app\".\"t\" is also named elsewhere in it"

static void test_rewrite_alter_table(void **state)
{
    (void)state;
    rewrite("ALTER TABLE t ADD c int", "ALTER TABLE \"dst\".\"t2\" ADD c int");
    rewrite("alter table APP.T add column c int;",
            "alter table \"dst\".\"t2\" add column c int;");
    rewrite("ALTER TABLE IF EXISTS ONLY \"app\" . \"t\" * DROP COLUMN c "
            "-- bye\n",
            "ALTER TABLE IF EXISTS ONLY \"dst\".\"t2\" * DROP COLUMN c "
            "-- bye\n");
    rewrite("/* lead */ ALTER TABLE db.app.t ALTER c SET NOT NULL ; ",
            "/* lead */ ALTER TABLE \"dst\".\"t2\" ALTER c SET NOT NULL ; ");
    rewrite("ALTER TABLE U&\"t\" ADD c int",
            "ALTER TABLE \"dst\".\"t2\" ADD c int");
    /* renaming columns and constraints is fine */
    rewrite("ALTER TABLE t RENAME COLUMN a TO b",
            "ALTER TABLE \"dst\".\"t2\" RENAME COLUMN a TO b");
    rewrite("ALTER TABLE t RENAME a TO b",
            "ALTER TABLE \"dst\".\"t2\" RENAME a TO b");
    rewrite("ALTER TABLE t RENAME CONSTRAINT c TO d",
            "ALTER TABLE \"dst\".\"t2\" RENAME CONSTRAINT c TO d");
    /* names in strings and comments are not names */
    rewrite("ALTER TABLE t ADD c regclass DEFAULT 't' /* t */",
            "ALTER TABLE \"dst\".\"t2\" ADD c regclass DEFAULT 't' /* t */");
    rewrite("ALTER TABLE t ADD c int REFERENCES other (t_id)",
            "ALTER TABLE \"dst\".\"t2\" ADD c int REFERENCES other (t_id)");
    /* the schema may be named elsewhere */
    rewrite("ALTER TABLE app.t ADD c int REFERENCES app.u (id)",
            "ALTER TABLE \"dst\".\"t2\" ADD c int REFERENCES app.u (id)");
}

static void test_rewrite_quoted_names(void **state)
{
    (void)state;
    rewrite_as("ALTER TABLE \"my schema\".\"we\"\"ird t\" ADD c int",
               "my schema", "we\"ird t", "new \"s", "t 2",
               "ALTER TABLE \"new \"\"s\".\"t 2\" ADD c int");
    rewrite_as("ALTER TABLE \"Users\" ADD c int", "public", "Users", "p",
               "People", "ALTER TABLE \"p\".\"People\" ADD c int");
    refused_as("ALTER TABLE Users ADD c int", "public", "Users", "p", "People",
               "the table it is about is not \"public\".\"Users\"");
    /* a table whose name is its schema's */
    rewrite_as("ALTER TABLE app.app ADD c int", "app", "app", "x", "y",
               "ALTER TABLE \"x\".\"y\" ADD c int");
}

static void test_rewrite_alter_table_refused(void **state)
{
    (void)state;
    refused("ALTER TABLE t RENAME TO t2", "it renames table \"app\".\"t\"");
    refused("ALTER TABLE IF EXISTS app.t RENAME TO \"x\"",
            "it renames table \"app\".\"t\"");
    refused("ALTER TABLE app.t SET SCHEMA other",
            "it moves table \"app\".\"t\" to another schema");
    refused_as("ALTER TABLE app.t1 ADD c int REFERENCES t1 (id)", "app", "t1",
               "dst", "t2",
               "table \"app\".\"t1\" is also named elsewhere in it");
    refused("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES "
            "\"t\" (id)",
            ELSEWHERE);
    refused("ALTER TABLE t ADD U&\"\\0074\" int", ELSEWHERE);
    refused("ALTER TABLE t RENAME CONSTRAINT c TO \"t\"", ELSEWHERE);
    refused_as("ALTER TABLE date ADD c date", "app", "date", "dst", "d2",
               "table \"app\".\"date\" is also named elsewhere in it");
    refused("ALTER TABLE other.t ADD c int", NOT_T);
    refused("ALTER TABLE u ADD c int REFERENCES t (id)", NOT_T);
    refused("ALTER TABLE \"T\" ADD c int", NOT_T);
    refused("ALTER TABLE a.b.c.t ADD c int", NOT_T);
    refused("ALTER TABLE", NOT_T);
    refused("ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b",
            "ALTER TABLE ALL IN TABLESPACE is not supported");
}

static void test_rewrite_create_table(void **state)
{
    (void)state;
    rewrite("CREATE TABLE t (id int PRIMARY KEY, \"t \" text)",
            "CREATE TABLE \"dst\".\"t2\" (id int PRIMARY KEY, \"t \" text)");
    rewrite("CREATE UNLOGGED TABLE IF NOT EXISTS app.\"t\" (a int);",
            "CREATE UNLOGGED TABLE IF NOT EXISTS \"dst\".\"t2\" (a int);");
    rewrite("CREATE TABLE t AS SELECT * FROM src",
            "CREATE TABLE \"dst\".\"t2\" AS SELECT * FROM src");
    rewrite("CREATE TABLE t (LIKE t_template INCLUDING ALL)",
            "CREATE TABLE \"dst\".\"t2\" (LIKE t_template INCLUDING ALL)");
    refused("CREATE TEMP TABLE t (a int)", "it creates a temporary table");
    refused("CREATE GLOBAL TEMPORARY TABLE t (a int)",
            "it creates a temporary table");
    refused("CREATE TABLE t2 PARTITION OF t FOR VALUES IN (1)", NOT_T);
    refused("CREATE TABLE t (a int REFERENCES t (id))", ELSEWHERE);
    refused("CREATE TABLE IF NOT EXISTS (a int)", NOT_T);
}

static void test_rewrite_drop_table(void **state)
{
    (void)state;
    rewrite("DROP TABLE t", "DROP TABLE \"dst\".\"t2\"");
    rewrite("DROP TABLE IF EXISTS a, app.t, b CASCADE",
            "DROP TABLE IF EXISTS a, \"dst\".\"t2\", b CASCADE");
    rewrite("DROP TABLE t, T", "DROP TABLE \"dst\".\"t2\", \"dst\".\"t2\"");
    refused("DROP TABLE a, b", NOT_T);
    refused("DROP TABLE other.t, t", ELSEWHERE);
}

static void test_rewrite_create_index(void **state)
{
    (void)state;
    rewrite("CREATE INDEX ON t (a)", "CREATE INDEX ON \"dst\".\"t2\" (a)");
    rewrite("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON ONLY "
            "app.t USING btree (a) WHERE a > 0",
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON ONLY "
            "\"dst\".\"t2\" USING btree (a) WHERE a > 0");
    rewrite("create index \"T\" on t (lower(a))",
            "create index \"T\" on \"dst\".\"t2\" (lower(a))");
    rewrite("CREATE INDEX CONCURRENTLY ON t (a)",
            "CREATE INDEX CONCURRENTLY ON \"dst\".\"t2\" (a)");
    refused("CREATE INDEX t ON t (a)", ELSEWHERE);
    refused("CREATE INDEX i ON t (t)", ELSEWHERE);
    refused("CREATE INDEX i ON other (a)", NOT_T);
    refused("CREATE INDEX i (a)", NOT_T);
    refused("CREATE INDEX IF NOT EXISTS ON t (a)", NOT_T);
}

static void test_rewrite_truncate(void **state)
{
    (void)state;
    rewrite("TRUNCATE t", "TRUNCATE \"dst\".\"t2\"");
    rewrite("TRUNCATE TABLE ONLY app.t *, other RESTART IDENTITY CASCADE",
            "TRUNCATE TABLE ONLY \"dst\".\"t2\" *, other RESTART IDENTITY "
            "CASCADE");
    rewrite("TRUNCATE other, ONLY t", "TRUNCATE other, ONLY \"dst\".\"t2\"");
    refused("TRUNCATE a", NOT_T);
    refused("TRUNCATE", NOT_T);
}

static void test_rewrite_comment(void **state)
{
    (void)state;
    rewrite("COMMENT ON TABLE app.t IS 'the t table'",
            "COMMENT ON TABLE \"dst\".\"t2\" IS 'the t table'");
    rewrite("COMMENT ON COLUMN t.c IS 'x'",
            "COMMENT ON COLUMN \"dst\".\"t2\".c IS 'x'");
    rewrite("COMMENT ON COLUMN app.\"t\".\"C\" IS NULL",
            "COMMENT ON COLUMN \"dst\".\"t2\".\"C\" IS NULL");
    rewrite("COMMENT ON COLUMN db.app.t.c IS NULL",
            "COMMENT ON COLUMN \"dst\".\"t2\".c IS NULL");
    refused("COMMENT ON COLUMN other.t.c IS 'x'", NOT_T);
    refused("COMMENT ON COLUMN t IS 'x'", NOT_T);
    refused("COMMENT ON COLUMN t.t IS 'x'", ELSEWHERE);
    refused("COMMENT ON INDEX i IS 'x'",
            "COMMENT on anything but a table or a column is not supported");
}

static void test_rewrite_unchanged(void **state)
{
    (void)state;
    rewrite_same("DROP INDEX app.t_idx");
    rewrite_same("DROP INDEX CONCURRENTLY IF EXISTS i;");
    rewrite_same("ALTER INDEX i RENAME TO t");
    rewrite_same("REINDEX INDEX CONCURRENTLY i");
    rewrite_same("REINDEX (VERBOSE) INDEX i -- done\n");
}

static void test_rewrite_refused_forms(void **state)
{
    (void)state;
    refused("DROP VIEW v", "DROP VIEW is not supported");
    refused("REINDEX TABLE t", "REINDEX is not supported");
    refused("CREATE FOREIGN TABLE t () SERVER s",
            "CREATE FOREIGN TABLE is not supported");
    refused("ALTER FOREIGN TABLE t ADD c int",
            "ALTER FOREIGN TABLE is not supported");
    refused("CREATE SCHEMA s CREATE TABLE t (a int)",
            "CREATE SCHEMA is not supported");
    refused("(SELECT 1)", "a statement that does not start with a keyword "
                          "is not supported");
    refused("ALTER TABLE t ADD c int; ALTER TABLE t DROP d",
            "the text holds 2 statements");
    refused("  -- nothing\n;", "the text holds no statement");
    refused("", "the text holds no statement");
    refused_as("ALTER TABLE t ADD c int", "app", "t", "", "t2",
               "the new schema or table name is empty");
    refused_as("ALTER TABLE t ADD c int", "app", "t", "dst", "",
               "the new schema or table name is empty");
}

static void test_rewrite_limit(void **state)
{
    (void)state;
    const char *sql = "ALTER TABLE t ADD c int";
    struct cdc_buf out;
    cdc_buf_init(&out, 16);
    struct cdc_err err = {0};
    assert_int_equal(cdc_sql_rewrite_table(sql, strlen(sql), "app", "t", "dst",
                                           "t2", &out, &err),
                     CDC_ETOOBIG);
    assert_int_equal(err.code, CDC_ETOOBIG);
    assert_int_equal(out.len, 0);
    cdc_buf_release(&out);

    /* what out held stays, and counts against its limit */
    cdc_buf_init(&out, 40);
    cdc_buf_append_str(&out, "0123456789");
    assert_int_equal(cdc_sql_rewrite_table(sql, strlen(sql), "app", "t", "dst",
                                           "t2", &out, &err),
                     CDC_ETOOBIG);
    assert_int_equal(out.len, 10);
    assert_string_equal(out.data, "0123456789");
    cdc_buf_release(&out);
}

/* ==== Any input ==== */

/* Runs every function over sql[0, len), which sits at the very end of its
 * heap block, and checks what must hold whatever the text. */
static void run_all(const char *sql, size_t len)
{
    struct cdc_sql_stmt st[4];
    size_t n = cdc_sql_split(sql, len, st, NELEMS(st));
    assert_int_equal(cdc_sql_split(sql, len, NULL, 0), n);
    size_t prev_end = 0;
    for (size_t i = 0; i < n && i < NELEMS(st); i++) {
        assert_true(st[i].len > 0);
        assert_true(st[i].start >= prev_end);
        assert_true(st[i].start + st[i].len <= len);
        prev_end = st[i].start + st[i].len;
    }

    char tag[64];
    char small[3];
    bool has_tag = cdc_sql_tag(sql, len, tag, sizeof(tag));
    assert_int_equal(cdc_sql_tag(sql, len, small, sizeof(small)), has_tag);
    assert_int_equal(cdc_sql_tag(sql, len, NULL, 0), has_tag);
    assert_true(strlen(tag) < sizeof(tag));
    assert_int_equal(has_tag, tag[0] != '\0');

    (void)cdc_sql_no_transaction(sql, len);
    (void)cdc_sql_mentions(sql, len, "t");
    (void)cdc_sql_mentions(sql, len, "concurrently");

    struct cdc_buf out;
    cdc_buf_init(&out, 0);
    struct cdc_err err = {0};
    int rc =
        cdc_sql_rewrite_table(sql, len, "app", "t", "dst", "t2", &out, &err);
    if (rc == CDC_OK) {
        assert_true(out.len > 0);
    } else {
        assert_int_equal(rc, CDC_EPROTO);
        assert_int_equal(out.len, 0);
        assert_true(strncmp(err.msg, REFUSED, strlen(REFUSED)) == 0);
    }
    cdc_buf_release(&out);
}

/* Runs run_all over every prefix of s[0, len). */
static void run_prefixes(const char *s, size_t len)
{
    for (size_t n = 0; n <= len; n++) {
        char *block = cdc_xmalloc(n ? n : 1);
        if (n > 0)
            memcpy(block, s, n);
        /* an empty text points just past its block: any read is caught */
        run_all(n > 0 ? block : block + 1, n);
        cdc_free(block);
    }
}

struct text {
    const char *s;
    size_t len;
};

#define TEXT(lit)                                                              \
    {                                                                          \
        lit, sizeof(lit) - 1                                                   \
    }

static const struct text tricky[] = {
    TEXT("'unterminated"),
    TEXT("'it''s'"),
    TEXT("E'"),
    TEXT("E'\\"),
    TEXT("e'a\\'b'"),
    TEXT("'a'\n'b"),
    TEXT("'a' -- c\n 'b' --"),
    TEXT("B'"),
    TEXT("x'"),
    TEXT("N'"),
    TEXT("U&"),
    TEXT("U&'"),
    TEXT("U&\""),
    TEXT("u&\"x\\"),
    TEXT("U&\"t\" UESCAPE '!'"),
    TEXT("$"),
    TEXT("$a"),
    TEXT("$a$"),
    TEXT("$a$ body $a"),
    TEXT("$a$ body $a$"),
    TEXT("$$"),
    TEXT("$$$"),
    TEXT("$1"),
    TEXT("a$b$"),
    TEXT("\""),
    TEXT("\"ab\"\""),
    TEXT("\"\""),
    TEXT("/*"),
    TEXT("/* /* */"),
    TEXT("/*/"),
    TEXT("--"),
    TEXT("-"),
    TEXT("1.5e+3 .5 1..2 0x1F"),
    TEXT("a.b.c.d.e.f"),
    TEXT("(("),
    TEXT("))"),
    TEXT("\xff\x80\xc3"),
    TEXT("a\0b; 'c\0'"),
    TEXT("BEGIN ATOMIC CASE END END END;"),
    TEXT("CREATE FUNCTION f() BEGIN ATOMIC SELECT CASE WHEN 1 THEN 2 END; "
         "END; SELECT 1"),
    TEXT("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON ONLY app.t "
         "(a)"),
    TEXT("CREATE TEMP TABLE IF NOT EXISTS app.t AS SELECT 1"),
    TEXT("ALTER TABLE IF EXISTS ONLY app.t * ADD c int REFERENCES t(id); --"),
    TEXT("ALTER TABLE p DETACH PARTITION c CONCURRENTLY"),
    TEXT("ALTER TABLE ALL IN"),
    TEXT("DROP TABLE IF EXISTS a, app.t, b CASCADE;"),
    TEXT("TRUNCATE TABLE ONLY app.t *, b"),
    TEXT("COMMENT ON COLUMN app.t.c IS 'x'"),
    TEXT("REINDEX (VERBOSE) INDEX CONCURRENTLY i"),
    TEXT("REINDEX ("),
    TEXT("CLUSTER ("),
    TEXT("CREATE TEXT SEARCH"),
};

static void test_every_prefix(void **state)
{
    (void)state;
    for (size_t i = 0; i < NELEMS(tricky); i++)
        run_prefixes(tricky[i].s, tricky[i].len);
}

/* Texts put together at random from pieces that start and end strings,
 * comments and quotes, and keywords of the forms. */
static void test_random_texts(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "'",         "\"",
        "$",         "$a$",
        "$$",        "E'",
        "U&\"",      "\\",
        "/*",        "*/",
        "--",        "\n",
        ";",         "(",
        ")",         " ",
        "t",         "app",
        ".",         ",",
        "*",         "1",
        "e",         "CREATE",
        "TABLE",     "INDEX",
        "ALTER",     "DROP",
        "BEGIN",     "ATOMIC",
        "CASE",      "END",
        "ON",        "ONLY",
        "IF",        "EXISTS",
        "NOT",       "CONCURRENTLY",
        "RENAME",    "TO",
        "SET",       "SCHEMA",
        "COMMENT",   "COLUMN",
        "IS",        "TRUNCATE",
        "REINDEX",   "DETACH",
        "PARTITION", "TEMP",
        "UESCAPE",   "\xc3",
        "\0",
    };
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char text[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t npieces = (size_t)(seed >> 33) % 24 + 1;
        for (size_t i = 0; i < npieces; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            const char *p = pieces[(seed >> 33) % NELEMS(pieces)];
            size_t plen = p[0] == '\0' ? 1 : strlen(p);
            if (len + plen + 1 > sizeof(text))
                break;
            memcpy(text + len, p, plen);
            len += plen;
            if ((seed >> 20) % 3 == 0)
                text[len++] = ' ';
        }
        char *block = exact_copy(text, len);
        run_all(block, len);
        cdc_free(block);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_plain),
        cmocka_unit_test(test_split_strings),
        cmocka_unit_test(test_split_dollar),
        cmocka_unit_test(test_split_comments_idents),
        cmocka_unit_test(test_split_nesting),
        cmocka_unit_test(test_split_max),
        cmocka_unit_test(test_tag_tables),
        cmocka_unit_test(test_tag_other_objects),
        cmocka_unit_test(test_tag_first_keyword),
        cmocka_unit_test(test_tag_small_buffer),
        cmocka_unit_test(test_no_transaction_concurrently),
        cmocka_unit_test(test_no_transaction_statements),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_mentions_not_in_strings),
        cmocka_unit_test(test_mentions_unicode_and_length),
        cmocka_unit_test(test_rewrite_alter_table),
        cmocka_unit_test(test_rewrite_quoted_names),
        cmocka_unit_test(test_rewrite_alter_table_refused),
        cmocka_unit_test(test_rewrite_create_table),
        cmocka_unit_test(test_rewrite_drop_table),
        cmocka_unit_test(test_rewrite_create_index),
        cmocka_unit_test(test_rewrite_truncate),
        cmocka_unit_test(test_rewrite_comment),
        cmocka_unit_test(test_rewrite_unchanged),
        cmocka_unit_test(test_rewrite_refused_forms),
        cmocka_unit_test(test_rewrite_limit),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_random_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_mysql_ddl.c: unit tests of replicator/mysql_ddl.c, the classifier
 * of the statements of binlog QUERY events: transaction boundaries,
 * TRUNCATE, each schema change form and the tables it names (quoting,
 * database prefixes, the default database, unicode), comments and
 * executable comments, the table limit, statements that are something
 * else, and texts cut short or followed by bytes that are not theirs.
 * Every text is parsed from a heap copy of exactly its length, so that
 * AddressSanitizer catches a read past it.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "replicator/mysql_int.h"

#include <stdio.h>
#include <string.h>

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ==== Fixture ==== */

static struct {
    struct cdc_arena arena;
    struct source__my_stmt st;
} fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    cdc_arena_init(&fx.arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cdc_arena_release(&fx.arena);
    memset(&fx, 0, sizeof(fx));
    return 0;
}

/* ==== Helpers ==== */

/* Parses len bytes of sql from a heap copy of that size, into fx.st
 * first filled with garbage (the parser must zero it). */
static void parse_n(const char *sql, size_t len, const char *db)
{
    char *copy = cdc_xmalloc(len > 0 ? len : 1);
    memcpy(copy, sql, len);
    memset(&fx.st, 0xA5, sizeof(fx.st));
    source__my_stmt_parse(copy, len, db, &fx.arena, &fx.st);
    cdc_free(copy);
}

static void parse_db(const char *sql, const char *db)
{
    parse_n(sql, strlen(sql), db);
}

static const char *kind_name(enum source__my_stmt_kind k)
{
    switch (k) {
    case SOURCE_MY_STMT_OTHER:
        return "OTHER";
    case SOURCE_MY_STMT_BEGIN:
        return "BEGIN";
    case SOURCE_MY_STMT_COMMIT:
        return "COMMIT";
    case SOURCE_MY_STMT_ROLLBACK:
        return "ROLLBACK";
    case SOURCE_MY_STMT_TRUNCATE:
        return "TRUNCATE";
    case SOURCE_MY_STMT_DDL:
        return "DDL";
    }
    return "?";
}

/* The statement parsed last is `kind` and nothing else: no tag, no
 * tables, every byte of the result zero. */
static void check_plain(const char *sql, enum source__my_stmt_kind kind)
{
    struct source__my_stmt want;
    memset(&want, 0, sizeof(want));
    want.kind = kind;
    if (memcmp(&fx.st, &want, sizeof(want)) != 0)
        fail_msg("\"%s\": got %s with %zu tables, want plain %s", sql,
                 kind_name(fx.st.kind), fx.st.ntables, kind_name(kind));
}

static void expect_other(const char *sql)
{
    parse_db(sql, "app");
    check_plain(sql, SOURCE_MY_STMT_OTHER);
}

static void expect_kind(const char *sql, enum source__my_stmt_kind kind)
{
    parse_db(sql, "app");
    check_plain(sql, kind);
}

/* Checks fx.st against kind, tag and the tables that follow as schema,
 * name pairs up to a NULL; `more` must be clear. */
static void check_tables(const char *sql, enum source__my_stmt_kind kind,
                         const char *tag, va_list ap)
{
    if (fx.st.kind != kind)
        fail_msg("\"%s\": got %s, want %s", sql, kind_name(fx.st.kind),
                 kind_name(kind));
    if (fx.st.tag == NULL || strcmp(fx.st.tag, tag) != 0)
        fail_msg("\"%s\": tag \"%s\", want \"%s\"", sql,
                 fx.st.tag ? fx.st.tag : "(null)", tag);
    size_t n = 0;
    for (;;) {
        const char *schema = va_arg(ap, const char *);
        if (schema == NULL)
            break;
        const char *name = va_arg(ap, const char *);
        if (n >= fx.st.ntables)
            fail_msg("\"%s\": %zu tables, want more", sql, fx.st.ntables);
        const struct source__my_stmt_table *t = &fx.st.tables[n];
        if (t->schema == NULL || t->name == NULL ||
            strcmp(t->schema, schema) != 0 || strcmp(t->name, name) != 0)
            fail_msg("\"%s\": table %zu is \"%s\".\"%s\", want \"%s\".\"%s\"",
                     sql, n, t->schema ? t->schema : "(null)",
                     t->name ? t->name : "(null)", schema, name);
        n++;
    }
    if (fx.st.ntables != n)
        fail_msg("\"%s\": %zu tables, want %zu", sql, fx.st.ntables, n);
    if (fx.st.more)
        fail_msg("\"%s\": more set", sql);
}

/* Parses sql with default database db and checks the result as
 * check_tables does. */
static void expect_db(const char *sql, const char *db,
                      enum source__my_stmt_kind kind, const char *tag, ...)
{
    parse_db(sql, db);
    va_list ap;
    va_start(ap, tag);
    check_tables(sql, kind, tag, ap);
    va_end(ap);
}

/* The same with the default database "app". */
static void expect(const char *sql, enum source__my_stmt_kind kind,
                   const char *tag, ...)
{
    parse_db(sql, "app");
    va_list ap;
    va_start(ap, tag);
    check_tables(sql, kind, tag, ap);
    va_end(ap);
}

#define DDL SOURCE_MY_STMT_DDL

/* ==== Empty and transaction statements ==== */

static void test_empty_and_blank(void **state)
{
    (void)state;
    memset(&fx.st, 0xA5, sizeof(fx.st));
    source__my_stmt_parse(NULL, 0, "app", &fx.arena, &fx.st);
    check_plain("(NULL)", SOURCE_MY_STMT_OTHER);
    const char *texts[] = {
        "",       " ",       " \t\r\n\f\v", "/* only a comment */",
        "/**/",   "-- line", "# line\n",    "/* unterminated",
        ";",      "/*!*/",   "/*!40000 */", "--",
        "-- \n#", "`BEGIN`", "'BEGIN'",     "\"COMMIT\"",
        "(BEGIN)"};
    for (size_t i = 0; i < NELEMS(texts); i++)
        expect_other(texts[i]);
}

static void test_begin(void **state)
{
    (void)state;
    const char *yes[] = {"BEGIN",
                         "begin",
                         "BeGiN",
                         "  BEGIN  ",
                         "BEGIN;",
                         "BEGIN WORK",
                         "begin work ;",
                         "/* x */ BEGIN /* y */",
                         "START TRANSACTION",
                         "start   transaction",
                         "START TRANSACTION WITH CONSISTENT SNAPSHOT",
                         "START TRANSACTION READ ONLY",
                         "START\nTRANSACTION",
                         "/*!40101 BEGIN */"};
    for (size_t i = 0; i < NELEMS(yes); i++)
        expect_kind(yes[i], SOURCE_MY_STMT_BEGIN);
    const char *no[] = {"BEGINNING",       "BEGIN NOT ATOMIC SELECT 1; END",
                        "BEGIN x",         "START",
                        "START SLAVE",     "START REPLICA",
                        "XA START 'x'",    "XA BEGIN 'x'",
                        "STARTTRANSACTION"};
    for (size_t i = 0; i < NELEMS(no); i++)
        expect_other(no[i]);
}

static void test_commit(void **state)
{
    (void)state;
    const char *yes[] = {"COMMIT",
                         "commit",
                         "Commit Work",
                         "COMMIT;",
                         "COMMIT /* implicit, from Xid_log_event */",
                         "COMMIT AND NO CHAIN",
                         "COMMIT AND CHAIN",
                         "COMMIT RELEASE",
                         "COMMIT NO RELEASE",
                         "COMMIT WORK AND CHAIN NO RELEASE",
                         "# comment\nCOMMIT"};
    for (size_t i = 0; i < NELEMS(yes); i++)
        expect_kind(yes[i], SOURCE_MY_STMT_COMMIT);
    const char *no[] = {"COMMITTED", "XA COMMIT 'x'", "XA COMMIT 'x' ONE PHASE",
                        "COMMIT x", "COMMIT 1"};
    for (size_t i = 0; i < NELEMS(no); i++)
        expect_other(no[i]);
}

static void test_rollback(void **state)
{
    (void)state;
    const char *yes[] = {"ROLLBACK",
                         "rollback",
                         "ROLLBACK WORK",
                         "ROLLBACK;",
                         "ROLLBACK AND NO CHAIN",
                         "ROLLBACK /* c */"};
    for (size_t i = 0; i < NELEMS(yes); i++)
        expect_kind(yes[i], SOURCE_MY_STMT_ROLLBACK);
    const char *no[] = {"ROLLBACK TO SAVEPOINT sp",
                        "ROLLBACK TO sp",
                        "rollback to `sp`",
                        "ROLLBACK WORK TO SAVEPOINT sp",
                        "ROLLBACK /* c */ TO sp",
                        "SAVEPOINT sp",
                        "RELEASE SAVEPOINT sp",
                        "XA ROLLBACK 'x'",
                        "XA END 'x'",
                        "XA PREPARE 'x'",
                        "ROLLBACKS"};
    for (size_t i = 0; i < NELEMS(no); i++)
        expect_other(no[i]);
}

/* ==== TRUNCATE ==== */

static void test_truncate(void **state)
{
    (void)state;
    const enum source__my_stmt_kind tr = SOURCE_MY_STMT_TRUNCATE;
    expect("TRUNCATE TABLE t", tr, "TRUNCATE TABLE", "app", "t", NULL);
    expect("truncate table `Orders`", tr, "TRUNCATE TABLE", "app", "Orders",
           NULL);
    expect("TRUNCATE t", tr, "TRUNCATE TABLE", "app", "t", NULL);
    expect("Truncate Table shop.items;", tr, "TRUNCATE TABLE", "shop", "items",
           NULL);
    expect("TRUNCATE `shop`.`line items` WAIT 5", tr, "TRUNCATE TABLE", "shop",
           "line items", NULL);
    expect("TRUNCATE TABLE `table`", tr, "TRUNCATE TABLE", "app", "table",
           NULL);
    expect_other("TRUNCATE");
    expect_other("TRUNCATE TABLE");
    expect_other("TRUNCATE TABLE ;");
    expect_other("TRUNCATE TABLE shop.");
    expect_other("TRUNCATED t");
}

/* ==== ALTER TABLE ==== */

static void test_alter_table(void **state)
{
    (void)state;
    expect("ALTER TABLE t ADD COLUMN c INT", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("alter table shop.t drop column c", DDL, "ALTER TABLE", "shop", "t",
           NULL);
    expect("ALTER ONLINE TABLE t ADD INDEX (a)", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER ONLINE IGNORE TABLE t ENGINE=InnoDB", DDL, "ALTER TABLE",
           "app", "t", NULL);
    expect("ALTER IGNORE TABLE t ADD UNIQUE (a)", DDL, "ALTER TABLE", "app",
           "t", NULL);
    expect("ALTER OFFLINE TABLE t FORCE", DDL, "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE IF EXISTS t ADD c INT", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER TABLE t", DDL, "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE t ADD FOREIGN KEY (a) REFERENCES u (id)", DDL,
           "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE t PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS "
           "THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE)",
           DDL, "ALTER TABLE", "app", "t", NULL);
    assert_false(fx.st.temporary);
    expect_other("ALTER TABLE");
    expect_other("ALTER TABLE IF EXISTS");
    expect_other("ALTER TABLE ;");
    expect_other("ALTER DATABASE d CHARACTER SET utf8mb4");
    expect_other("ALTER VIEW v AS SELECT 1");
    expect_other("ALTER USER u IDENTIFIED BY 'x'");
    expect_other("ALTER SEQUENCE s RESTART");
    expect_other("ALTER EVENT e DISABLE");
    expect_other("ALTER ONLINE");
}

static void test_alter_rename(void **state)
{
    (void)state;
    expect("ALTER TABLE t RENAME TO u", DDL, "ALTER TABLE", "app", "t", "app",
           "u", NULL);
    expect("ALTER TABLE t RENAME AS shop.u", DDL, "ALTER TABLE", "app", "t",
           "shop", "u", NULL);
    expect("ALTER TABLE shop.t RENAME u", DDL, "ALTER TABLE", "shop", "t",
           "app", "u", NULL);
    expect("alter table `t` add c int, rename to `u`", DDL, "ALTER TABLE",
           "app", "t", "app", "u", NULL);
    expect("ALTER TABLE t ALGORITHM=INPLACE, LOCK=NONE, RENAME `to`", DDL,
           "ALTER TABLE", "app", "t", "app", "to", NULL);
    expect("ALTER TABLE t RENAME /* new */ TO /* name */ u", DDL, "ALTER TABLE",
           "app", "t", "app", "u", NULL);
    /* columns, indexes and constraints are not tables */
    expect("ALTER TABLE t RENAME COLUMN a TO b", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER TABLE t RENAME INDEX i TO j", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER TABLE t RENAME KEY i TO j", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER TABLE t RENAME CONSTRAINT c TO d", DDL, "ALTER TABLE", "app",
           "t", NULL);
    expect("ALTER TABLE t RENAME COLUMN a TO b, RENAME TO u", DDL,
           "ALTER TABLE", "app", "t", "app", "u", NULL);
    /* nor RENAME inside strings, quotes or parentheses */
    expect("ALTER TABLE t COMMENT 'it''s RENAME TO x'", DDL, "ALTER TABLE",
           "app", "t", NULL);
    expect("ALTER TABLE t COMMENT 'a\\' RENAME TO x'", DDL, "ALTER TABLE",
           "app", "t", NULL);
    expect("ALTER TABLE t COMMENT \"RENAME TO x\"", DDL, "ALTER TABLE", "app",
           "t", NULL);
    expect("ALTER TABLE t ADD `RENAME` INT", DDL, "ALTER TABLE", "app", "t",
           NULL);
    expect("ALTER TABLE t ADD CHECK (x IN (SELECT 1 FROM `u`)) -- RENAME x\n",
           DDL, "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE t ADD c INT /* RENAME TO x */", DDL, "ALTER TABLE",
           "app", "t", NULL);
    /* cut short */
    expect("ALTER TABLE t RENAME TO", DDL, "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE t RENAME", DDL, "ALTER TABLE", "app", "t", NULL);
    expect("ALTER TABLE t RENAME TO shop.", DDL, "ALTER TABLE", "app", "t",
           NULL);
}

static void test_alter_partition_tables(void **state)
{
    (void)state;
    expect("ALTER TABLE p EXCHANGE PARTITION p0 WITH TABLE n", DDL,
           "ALTER TABLE", "app", "p", "app", "n", NULL);
    expect("ALTER TABLE shop.p EXCHANGE PARTITION p0 WITH TABLE shop.n "
           "WITHOUT VALIDATION",
           DDL, "ALTER TABLE", "shop", "p", "shop", "n", NULL);
    expect("ALTER TABLE p CONVERT PARTITION p0 TO TABLE n", DDL, "ALTER TABLE",
           "app", "p", "app", "n", NULL);
    expect("ALTER TABLE p CONVERT TABLE n TO PARTITION p9 VALUES LESS THAN "
           "(100)",
           DDL, "ALTER TABLE", "app", "p", "app", "n", NULL);
    expect("ALTER TABLE p TRUNCATE PARTITION p0", DDL, "ALTER TABLE", "app",
           "p", NULL);
}

/* ==== CREATE TABLE and CREATE INDEX ==== */

static void test_create_table(void **state)
{
    (void)state;
    expect("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", DDL, "CREATE TABLE",
           "app", "t", NULL);
    assert_false(fx.st.temporary);
    expect("create table if not exists shop.t (a int)", DDL, "CREATE TABLE",
           "shop", "t", NULL);
    expect("CREATE OR REPLACE TABLE t (a INT)", DDL, "CREATE TABLE", "app", "t",
           NULL);
    expect("CREATE TABLE `t`(a INT) ENGINE=InnoDB /*!50100 PARTITION BY HASH "
           "(a) */",
           DDL, "CREATE TABLE", "app", "t", NULL);
    /* only the table made */
    expect("CREATE TABLE t LIKE u", DDL, "CREATE TABLE", "app", "t", NULL);
    expect("CREATE TABLE t (LIKE shop.u)", DDL, "CREATE TABLE", "app", "t",
           NULL);
    expect("CREATE TABLE t SELECT * FROM u", DDL, "CREATE TABLE", "app", "t",
           NULL);
    expect("CREATE TABLE t (a INT) START TRANSACTION", DDL, "CREATE TABLE",
           "app", "t", NULL);
    expect("CREATE TABLE t(a INT REFERENCES u (id))", DDL, "CREATE TABLE",
           "app", "t", NULL);
    expect_other("CREATE TABLE");
    expect_other("CREATE TABLE IF NOT EXISTS");
    expect_other("CREATE TABLE IF NOT EXISTS (a INT)");
    expect_other("CREATE TABLE (a INT)");
    expect_other("CREATE OR TABLE t (a INT)");
    expect_other("CREATE DATABASE d");
    expect_other("CREATE SCHEMA IF NOT EXISTS d");
    expect_other("CREATE VIEW v AS SELECT * FROM t");
    expect_other("CREATE OR REPLACE VIEW v AS SELECT 1");
    expect_other("CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT "
                 "ON t FOR EACH ROW SET NEW.a = 1");
    expect_other("CREATE USER u");
    expect_other("CREATE SEQUENCE s");
    expect_other("CREATE UNIQUE TABLE t (a INT)");
    expect_other("CREATE");
}

static void test_create_temporary(void **state)
{
    (void)state;
    expect("CREATE TEMPORARY TABLE t (a INT)", DDL, "CREATE TABLE", "app", "t",
           NULL);
    assert_true(fx.st.temporary);
    expect("create or replace temporary table if not exists `tmp` (a int)", DDL,
           "CREATE TABLE", "app", "tmp", NULL);
    assert_true(fx.st.temporary);
    expect("CREATE /*!40005 TEMPORARY */ TABLE t LIKE u", DDL, "CREATE TABLE",
           "app", "t", NULL);
    assert_true(fx.st.temporary);
    expect_other("CREATE TEMPORARY INDEX i ON t (a)");
    expect_other("CREATE TEMPORARY TABLE");
}

static void test_create_index(void **state)
{
    (void)state;
    expect("CREATE INDEX i ON t (a)", DDL, "CREATE INDEX", "app", "t", NULL);
    expect("create unique index `i` using btree on shop.t (a, b)", DDL,
           "CREATE INDEX", "shop", "t", NULL);
    expect("CREATE ONLINE FULLTEXT INDEX IF NOT EXISTS i ON t(a)", DDL,
           "CREATE INDEX", "app", "t", NULL);
    expect("CREATE SPATIAL INDEX i ON `g`.`geo` (pt)", DDL, "CREATE INDEX", "g",
           "geo", NULL);
    expect("CREATE OR REPLACE INDEX i ON t (a)", DDL, "CREATE INDEX", "app",
           "t", NULL);
    expect("CREATE OFFLINE INDEX i ON t (a) ALGORITHM=COPY", DDL,
           "CREATE INDEX", "app", "t", NULL);
    expect("CREATE INDEX `on` ON t (a)", DDL, "CREATE INDEX", "app", "t", NULL);
    expect("CREATE INDEX i ON t ((a + 1))", DDL, "CREATE INDEX", "app", "t",
           NULL);
    assert_false(fx.st.temporary);
    expect_other("CREATE INDEX");
    expect_other("CREATE INDEX i");
    expect_other("CREATE INDEX i ON");
    expect_other("CREATE INDEX i ON (a)");
    expect_other("CREATE UNIQUE");
}

/* ==== DROP TABLE and DROP INDEX ==== */

static void test_drop_table(void **state)
{
    (void)state;
    expect("DROP TABLE t", DDL, "DROP TABLE", "app", "t", NULL);
    assert_false(fx.st.temporary);
    expect("drop table if exists `a`,`b` /* generated by server */", DDL,
           "DROP TABLE", "app", "a", "app", "b", NULL);
    expect("DROP TABLE IF EXISTS `shop`.`a`, b, other.`c` /* generated by "
           "server */",
           DDL, "DROP TABLE", "shop", "a", "app", "b", "other", "c", NULL);
    expect("DROP TABLES a , b", DDL, "DROP TABLE", "app", "a", "app", "b",
           NULL);
    expect("DROP TABLE a, b CASCADE", DDL, "DROP TABLE", "app", "a", "app", "b",
           NULL);
    expect("DROP TABLE IF EXISTS /* c */ a WAIT 3 RESTRICT", DDL, "DROP TABLE",
           "app", "a", NULL);
    expect("DROP TABLE a /* generated by server */ /* xid=25 */", DDL,
           "DROP TABLE", "app", "a", NULL);
    /* a list cut short keeps what it has */
    expect("DROP TABLE a, ", DDL, "DROP TABLE", "app", "a", NULL);
    expect_other("DROP TABLE");
    expect_other("DROP TABLE IF EXISTS");
    expect_other("DROP TABLE IF EXISTS /* generated by server */");
    expect_other("DROP TABLE IF");
    expect_other("DROP DATABASE d");
    expect_other("DROP VIEW v");
    expect_other("DROP USER u");
    expect_other("DROP TRIGGER tr");
    expect_other("DROP");
}

static void test_drop_temporary(void **state)
{
    (void)state;
    expect("DROP TEMPORARY TABLE IF EXISTS t", DDL, "DROP TABLE", "app", "t",
           NULL);
    assert_true(fx.st.temporary);
    expect("DROP /*!40005 TEMPORARY */ TABLE IF EXISTS `t1`,`t2`", DDL,
           "DROP TABLE", "app", "t1", "app", "t2", NULL);
    assert_true(fx.st.temporary);
    expect_other("DROP TEMPORARY INDEX i ON t");
}

static void test_drop_index(void **state)
{
    (void)state;
    expect("DROP INDEX i ON t", DDL, "DROP INDEX", "app", "t", NULL);
    expect("drop index if exists `PRIMARY` on shop.t algorithm=inplace", DDL,
           "DROP INDEX", "shop", "t", NULL);
    expect("DROP ONLINE INDEX i ON t", DDL, "DROP INDEX", "app", "t", NULL);
    expect("DROP INDEX i ON `t` WAIT 10", DDL, "DROP INDEX", "app", "t", NULL);
    expect_other("DROP INDEX i");
    expect_other("DROP INDEX i ON");
    expect_other("DROP INDEX");
    expect_other("DROP ONLINE TABLE t");
}

/* 20 tables: the first SOURCE_MY_STMT_TABLES_MAX and `more`. */
static void test_drop_many(void **state)
{
    (void)state;
    char sql[512];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS");
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s `t%d`",
                              i ? "," : "", i);
    parse_db(sql, "app");
    assert_int_equal(fx.st.kind, SOURCE_MY_STMT_DDL);
    assert_string_equal(fx.st.tag, "DROP TABLE");
    assert_int_equal(fx.st.ntables, SOURCE_MY_STMT_TABLES_MAX);
    assert_true(fx.st.more);
    for (size_t i = 0; i < SOURCE_MY_STMT_TABLES_MAX; i++) {
        char want[16];
        snprintf(want, sizeof(want), "t%zu", i);
        assert_string_equal(fx.st.tables[i].schema, "app");
        assert_string_equal(fx.st.tables[i].name, want);
    }

    /* exactly as many as fit: no `more` */
    n = (size_t)snprintf(sql, sizeof(sql), "DROP TABLE");
    for (int i = 0; i < SOURCE_MY_STMT_TABLES_MAX; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s d.t%d",
                              i ? "," : "", i);
    parse_db(sql, "app");
    assert_int_equal(fx.st.ntables, SOURCE_MY_STMT_TABLES_MAX);
    assert_false(fx.st.more);
    assert_string_equal(fx.st.tables[15].schema, "d");
    assert_string_equal(fx.st.tables[15].name, "t15");
}

/* ==== RENAME TABLE ==== */

static void test_rename_table(void **state)
{
    (void)state;
    expect("RENAME TABLE a TO b", DDL, "RENAME TABLE", "app", "a", "app", "b",
           NULL);
    expect("rename table shop.a to archive.a, `c` TO `d`, x.y to z", DDL,
           "RENAME TABLE", "shop", "a", "archive", "a", "app", "c", "app", "d",
           "x", "y", "app", "z", NULL);
    expect("RENAME TABLES IF EXISTS a WAIT 3 TO b", DDL, "RENAME TABLE", "app",
           "a", "app", "b", NULL);
    expect("RENAME TABLE a NOWAIT TO b , c TO d;", DDL, "RENAME TABLE", "app",
           "a", "app", "b", "app", "c", "app", "d", NULL);
    expect("RENAME TABLE a /* x */ TO /* y */ b", DDL, "RENAME TABLE", "app",
           "a", "app", "b", NULL);
    /* cut short: the names read */
    expect("RENAME TABLE a TO", DDL, "RENAME TABLE", "app", "a", NULL);
    expect("RENAME TABLE a", DDL, "RENAME TABLE", "app", "a", NULL);
    expect("RENAME TABLE a TO b,", DDL, "RENAME TABLE", "app", "a", "app", "b",
           NULL);
    expect_other("RENAME TABLE");
    expect_other("RENAME TABLE IF EXISTS");
    expect_other("RENAME USER a TO b");
    expect_other("RENAME a TO b");
    expect_other("RENAME");
}

/* Nine pairs: eight fit, then `more`. */
static void test_rename_many(void **state)
{
    (void)state;
    char sql[512];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "RENAME TABLE");
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s o%d TO n%d",
                              i ? "," : "", i, i);
    parse_db(sql, "app");
    assert_int_equal(fx.st.kind, SOURCE_MY_STMT_DDL);
    assert_string_equal(fx.st.tag, "RENAME TABLE");
    assert_int_equal(fx.st.ntables, SOURCE_MY_STMT_TABLES_MAX);
    assert_true(fx.st.more);
    for (size_t i = 0; i < SOURCE_MY_STMT_TABLES_MAX / 2; i++) {
        char o[16];
        char nn[16];
        snprintf(o, sizeof(o), "o%zu", i);
        snprintf(nn, sizeof(nn), "n%zu", i);
        assert_string_equal(fx.st.tables[2 * i].name, o);
        assert_string_equal(fx.st.tables[2 * i + 1].name, nn);
    }
}

/* ==== Names ==== */

static void test_quoted_names(void **state)
{
    (void)state;
    expect("DROP TABLE `we``ird`", DDL, "DROP TABLE", "app", "we`ird", NULL);
    expect("DROP TABLE ````", DDL, "DROP TABLE", "app", "`", NULL);
    expect("DROP TABLE `a.b`.`c.d`", DDL, "DROP TABLE", "a.b", "c.d", NULL);
    expect("DROP TABLE `db`.t", DDL, "DROP TABLE", "db", "t", NULL);
    expect("DROP TABLE db.`t`", DDL, "DROP TABLE", "db", "t", NULL);
    expect("DROP TABLE db . t", DDL, "DROP TABLE", "db", "t", NULL);
    expect("DROP TABLE `db` /* a */ . /* b */ `t`", DDL, "DROP TABLE", "db",
           "t", NULL);
    expect("DROP TABLE `with space`, `with,comma`", DDL, "DROP TABLE", "app",
           "with space", "app", "with,comma", NULL);
    expect("DROP TABLE `it's`, `a\\b`, `/* no comment */`", DDL, "DROP TABLE",
           "app", "it's", "app", "a\\b", "app", "/* no comment */", NULL);
    expect("DROP TABLE `select`, db.select", DDL, "DROP TABLE", "app", "select",
           "db", "select", NULL);
    expect("DROP TABLE $t, _t, t$1, 1t", DDL, "DROP TABLE", "app", "$t", "app",
           "_t", "app", "t$1", "app", "1t", NULL);
    /* names keep their case */
    expect("dRoP tAbLe Shop.MyTable", DDL, "DROP TABLE", "Shop", "MyTable",
           NULL);
    /* double quotes under sql_mode ANSI_QUOTES */
    expect("ALTER TABLE \"s\".\"t\"\"q\" ADD c INT", DDL, "ALTER TABLE", "s",
           "t\"q", NULL);
    /* not names */
    expect_other("DROP TABLE ``");
    expect_other("DROP TABLE `unterminated");
    expect_other("DROP TABLE `db`.`unterminated");
    expect_other("DROP TABLE 'string'");
    expect_other("DROP TABLE db.");
    expect_other("DROP TABLE db.``");
    expect_other("DROP TABLE select");
    /* a NUL byte is in no name (and a plain name ends before it) */
    const char nul[] = "DROP TABLE `a\0b`, \"\0\"";
    parse_n(nul, sizeof(nul) - 1, "app");
    check_plain("DROP TABLE `a\\0b`", SOURCE_MY_STMT_OTHER);
    const char nul2[] = "DROP TABLE a\0b";
    parse_n(nul2, sizeof(nul2) - 1, "app");
    assert_int_equal(fx.st.ntables, 1);
    assert_string_equal(fx.st.tables[0].name, "a");
    /* found by fuzz_mysql_stmt: a table named by an empty C string */
    const char crash[] = "/*M!100100 DROP TABLE \"\0\1.\"y\" */ -- end";
    parse_n(crash, sizeof(crash) - 1, "app");
    check_plain("DROP TABLE \"\\0\\1.\"y\"", SOURCE_MY_STMT_OTHER);
}

static void test_unicode_names(void **state)
{
    (void)state;
    expect("ALTER TABLE `données`.tâble ADD c INT", DDL, "ALTER TABLE",
           "données", "tâble", NULL);
    expect("DROP TABLE заказы, 注文", DDL, "DROP TABLE", "app", "заказы", "app",
           "注文", NULL);
    expect("RENAME TABLE `ö` TO `🙂`", DDL, "RENAME TABLE", "app", "ö",
           "app", "🙂", NULL);
    expect_db("TRUNCATE t", "база", SOURCE_MY_STMT_TRUNCATE, "TRUNCATE TABLE",
              "база", "t", NULL);
}

static void test_default_db(void **state)
{
    (void)state;
    expect_db("DROP TABLE t, x.u", NULL, DDL, "DROP TABLE", "", "t", "x", "u",
              NULL);
    expect_db("DROP TABLE t, x.u", "", DDL, "DROP TABLE", "", "t", "x", "u",
              NULL);
    expect_db("DROP TABLE t, x.u", "shop", DDL, "DROP TABLE", "shop", "t", "x",
              "u", NULL);
    /* copied: the caller's string may go away */
    char db[8] = "shop";
    parse_db("DROP TABLE t", db);
    assert_ptr_not_equal(fx.st.tables[0].schema, db);
    memset(db, 'x', sizeof(db) - 1);
    assert_string_equal(fx.st.tables[0].schema, "shop");
}

/* ==== Comments ==== */

static void test_comments(void **state)
{
    (void)state;
    expect("/* x */ -- y\n # z\n ALTER /* a */ TABLE /* b */ t -- c", DDL,
           "ALTER TABLE", "app", "t", NULL);
    expect("--\tx\nDROP TABLE t", DDL, "DROP TABLE", "app", "t", NULL);
    expect_kind("-- \nBEGIN", SOURCE_MY_STMT_BEGIN);
    expect_kind("-- x\nBEGIN", SOURCE_MY_STMT_BEGIN);
    expect_kind("#x\r\nCOMMIT", SOURCE_MY_STMT_COMMIT);
    expect_kind("/* BEGIN */ COMMIT", SOURCE_MY_STMT_COMMIT);
    expect_kind("/*/ COMMIT */ ROLLBACK", SOURCE_MY_STMT_ROLLBACK);
    /* "--" without a space after it is not a comment */
    expect_other("--x\nBEGIN");
    /* a comment ends a word */
    expect("DROP/**/TABLE/**/t/**/,/**/u", DDL, "DROP TABLE", "app", "t", "app",
           "u", NULL);
    /* an unterminated comment runs to the end */
    expect("DROP TABLE t /* , u", DDL, "DROP TABLE", "app", "t", NULL);
    expect_other("/* DROP TABLE t");
}

static void test_executable_comments(void **state)
{
    (void)state;
    expect("/*!40000 ALTER TABLE `t` DISABLE KEYS */", DDL, "ALTER TABLE",
           "app", "t", NULL);
    expect("/*!40000 ALTER TABLE `t` DISABLE KEYS */;", DDL, "ALTER TABLE",
           "app", "t", NULL);
    expect("/*M!100100 DROP TABLE t */", DDL, "DROP TABLE", "app", "t", NULL);
    expect("/*!DROP TABLE t*/", DDL, "DROP TABLE", "app", "t", NULL);
    expect("/*!80013 DROP TABLE t, u*/", DDL, "DROP TABLE", "app", "t", "app",
           "u", NULL);
    expect("DROP /*!40005 TEMPORARY */ TABLE /*!32312 IF EXISTS*/ t", DDL,
           "DROP TABLE", "app", "t", NULL);
    expect("CREATE TABLE /*!32312 IF NOT EXISTS*/ t (a INT)", DDL,
           "CREATE TABLE", "app", "t", NULL);
    expect("/*!40101 /* inner */ DROP TABLE t */", DDL, "DROP TABLE", "app",
           "t", NULL);
    expect_kind("/*!40101 BEGIN */", SOURCE_MY_STMT_BEGIN);
    expect_kind("/*!999999 COMMIT */", SOURCE_MY_STMT_COMMIT);
    /* "M" without "!" is an ordinary comment */
    expect_other("/*M DROP TABLE t */");
    /* a star and slash outside an executable comment are not blank */
    expect_other("*/ BEGIN");
    /* the executable part runs to the end when unterminated */
    expect("/*!50000 DROP TABLE t", DDL, "DROP TABLE", "app", "t", NULL);
}

/* ==== Texts that are not theirs alone ==== */

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char text[] = "DROP TABLE t1XYZ, garbage";
    parse_n(text, strlen("DROP TABLE t1"), "app");
    assert_int_equal(fx.st.kind, SOURCE_MY_STMT_DDL);
    assert_int_equal(fx.st.ntables, 1);
    assert_string_equal(fx.st.tables[0].name, "t1");

    const char q[] = "ALTER TABLE `ab`cd` RENAME TO x";
    parse_n(q, strlen("ALTER TABLE `ab"), "app");
    check_plain("ALTER TABLE `ab", SOURCE_MY_STMT_OTHER);
    parse_n(q, strlen("ALTER TABLE `ab`"), "app");
    assert_int_equal(fx.st.ntables, 1);
    assert_string_equal(fx.st.tables[0].name, "ab");

    const char b[] = "BEGIN WORK";
    parse_n(b, 3, "app");
    check_plain("BEG", SOURCE_MY_STMT_OTHER);
    parse_n(b, 5, "app");
    check_plain("BEGIN", SOURCE_MY_STMT_BEGIN);

    const char c[] = "ALTER TABLE t RENAME TO u";
    parse_n(c, strlen(c) - 1, "app");
    assert_int_equal(fx.st.ntables, 1);
    parse_n(c, strlen(c), "app");
    assert_int_equal(fx.st.ntables, 2);

    /* quotes, comments and escapes that end at the last byte */
    const char *cuts[] = {
        "DROP TABLE `a``",  "DROP TABLE t /*", "DROP TABLE t /*!",
        "DROP TABLE t /*M", "DROP TABLE t -",  "ALTER TABLE t COMMENT 'a\\",
        "/*!4000",          "/*M!10",          "DROP TABLE \"x\\",
    };
    for (size_t i = 0; i < NELEMS(cuts); i++)
        parse_db(cuts[i], "app");
}

/* Every prefix of statements, parsed from exact-size copies: no read past
 * the end, and the result always consistent. */
static void test_every_prefix(void **state)
{
    (void)state;
    const char *texts[] = {
        "DROP /*!40005 TEMPORARY */ TABLE IF EXISTS `a``b`.`c`, d.e /* "
        "generated by server */",
        "ALTER ONLINE IGNORE TABLE IF EXISTS \"s\".t COMMENT 'x\\'y', RENAME "
        "AS `n`",
        "RENAME TABLES a WAIT 1 TO b, `c` NOWAIT TO d.e",
        "CREATE OR REPLACE UNIQUE INDEX IF NOT EXISTS i USING HASH ON x.y (a)",
        "/*M!100100 TRUNCATE TABLE t */ -- end\n",
        "ROLLBACK WORK TO SAVEPOINT `s`",
    };
    for (size_t i = 0; i < NELEMS(texts); i++) {
        size_t len = strlen(texts[i]);
        for (size_t n = 0; n <= len; n++) {
            parse_n(texts[i], n, i % 2 ? NULL : "app");
            bool tables = fx.st.kind == SOURCE_MY_STMT_DDL ||
                          fx.st.kind == SOURCE_MY_STMT_TRUNCATE;
            assert_true(fx.st.ntables <= SOURCE_MY_STMT_TABLES_MAX);
            assert_true(tables == (fx.st.ntables > 0));
            assert_true(tables == (fx.st.tag != NULL));
            for (size_t k = 0; k < fx.st.ntables; k++) {
                assert_non_null(fx.st.tables[k].schema);
                assert_non_null(fx.st.tables[k].name);
                assert_true(strlen(fx.st.tables[k].name) > 0);
            }
        }
    }
}

/* ==== Other statements ==== */

static void test_other_statements(void **state)
{
    (void)state;
    const char *texts[] = {
        "INSERT INTO t VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "REPLACE INTO t VALUES (1)",
        "insert into t select * from u",
        "CREATE DATABASE d",
        "CREATE VIEW v AS SELECT * FROM t",
        "GRANT SELECT ON d.* TO u",
        "REVOKE ALL ON *.* FROM u",
        "FLUSH TABLES",
        "FLUSH PRIVILEGES",
        "SET @a = 1",
        "SET TIMESTAMP=1700000000",
        "use d",
        "LOCK TABLES t WRITE",
        "UNLOCK TABLES",
        "ANALYZE TABLE t",
        "OPTIMIZE TABLE t",
        "REPAIR TABLE t",
        "LOAD DATA INFILE 'x' INTO TABLE t",
        "CALL p()",
        "DO 1",
        "XA START X'01',X'',1",
        "XA END X'01',X'',1",
        "SELECT 1",
        "SHOW TABLES",
        "DROP PROCEDURE p",
        "DROP FUNCTION IF EXISTS f",
        "CREATE FUNCTION f() RETURNS INT RETURN 1",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
        "ALTER SERVER s OPTIONS (HOST 'h')",
        "DROP SEQUENCE s",
        "TRUNCATED",
    };
    for (size_t i = 0; i < NELEMS(texts); i++)
        expect_other(texts[i]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_and_blank),
        T(test_begin),
        T(test_commit),
        T(test_rollback),
        T(test_truncate),
        T(test_alter_table),
        T(test_alter_rename),
        T(test_alter_partition_tables),
        T(test_create_table),
        T(test_create_temporary),
        T(test_create_index),
        T(test_drop_table),
        T(test_drop_temporary),
        T(test_drop_index),
        T(test_drop_many),
        T(test_rename_table),
        T(test_rename_many),
        T(test_quoted_names),
        T(test_unicode_names),
        T(test_default_db),
        T(test_comments),
        T(test_executable_comments),
        T(test_not_nul_terminated),
        T(test_every_prefix),
        T(test_other_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

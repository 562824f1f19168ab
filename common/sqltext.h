/*
 * sqltext.h: a small lexer over PostgreSQL statement text, for the schema
 * changes (DDL) captured on a source and replayed on a target: splitting a
 * text into statements, the command tag of a statement, whether it must
 * run outside a transaction block, whether it names an identifier, and
 * renaming the table a statement is about for routing.
 *
 * Not included by common.h: include "common/sqltext.h" where it is used.
 *
 * Everything here is pure (no I/O, no libpq, no global state), so any
 * thread may call it. Every function takes the text as (sql, len), reads
 * no byte outside it and never relies on a NUL inside or after it; any
 * input is accepted, and an unterminated string, comment or quoted
 * identifier simply runs to the end of the text. The rules are
 * PostgreSQL's with standard_conforming_strings on (its default): '' in a
 * string, "" in a quoted identifier, backslash escapes only in E'...',
 * nested block comments, $tag$ quoting. Identifiers are cut to 63 bytes
 * (at a UTF-8 character boundary) as PostgreSQL does, and unquoted ones
 * fold ASCII letters to lower case.
 */
#ifndef CDC_SQLTEXT_H
#define CDC_SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>

struct cdc_buf;
struct cdc_err;

/* One statement inside a text: byte offset and length, without its
 * terminating ';' and without leading/trailing whitespace and comments. */
struct cdc_sql_stmt {
    size_t start;
    size_t len;
};

/*
 * Splits sql into statements at top-level ';': not inside strings, quoted
 * identifiers, comments, dollar quotes or parentheses, nor inside a
 * BEGIN ATOMIC ... END body of CREATE FUNCTION or PROCEDURE (where CASE ...
 * END nests as well). Statements holding only whitespace and comments are
 * skipped. Fills at most max entries of out, in text order (out may be
 * NULL when max is 0), and returns how many statements there are in all.
 */
size_t cdc_sql_split(const char *sql, size_t len, struct cdc_sql_stmt *out,
                     size_t max);

/*
 * Writes the command tag PostgreSQL gives the first statement of sql into
 * tag (upper case, words separated by single spaces, NUL-terminated, cut to
 * tagsz - 1 bytes; tag may be NULL when tagsz is 0).
 *
 * CREATE, ALTER and DROP take the object type as PostgreSQL does: "CREATE
 * TABLE", "ALTER TABLE", "DROP TABLE", "CREATE INDEX", "CREATE SEQUENCE",
 * "CREATE TYPE", "CREATE VIEW", "CREATE MATERIALIZED VIEW", "CREATE FOREIGN
 * TABLE", "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE SCHEMA", "CREATE
 * EXTENSION", "CREATE DOMAIN", "CREATE TRIGGER", "DROP ROLE", ... The
 * optional words before the type are skipped: OR REPLACE, GLOBAL, LOCAL,
 * TEMP, TEMPORARY, UNLOGGED, UNIQUE, RECURSIVE, TRUSTED (so CREATE UNIQUE
 * INDEX CONCURRENTLY is "CREATE INDEX"); CREATE USER and CREATE GROUP are
 * "CREATE ROLE" and CREATE CONSTRAINT TRIGGER is "CREATE TRIGGER", as in
 * PostgreSQL. CREATE TABLE ... AS (a top-level AS after the name) is
 * "CREATE TABLE AS", PostgreSQL's tag for it. An object type not known
 * here leaves the first word alone ("CREATE").
 *
 * Also "COMMENT", "TRUNCATE TABLE" (for TRUNCATE with or without TABLE),
 * "SECURITY LABEL", "REFRESH MATERIALIZED VIEW", "IMPORT FOREIGN SCHEMA",
 * "START TRANSACTION" and "SELECT INTO" (a SELECT with INTO outside
 * parentheses, which creates a table). Any other statement gets its first
 * keyword upper-cased ("GRANT", "REVOKE", "REINDEX", "INSERT", "SELECT",
 * "WITH").
 *
 * Returns false, with tag empty, when the statement does not start with a
 * keyword (a quoted identifier, a parenthesis, nothing at all).
 */
bool cdc_sql_tag(const char *sql, size_t len, char *tag, size_t tagsz);

/*
 * True when a statement of sql cannot run inside a transaction block
 * (when sql holds several, true when any of them cannot):
 *   - CONCURRENTLY: CREATE [UNIQUE] INDEX CONCURRENTLY, DROP INDEX
 *     CONCURRENTLY, any REINDEX with the word (REINDEX (options) ...
 *     CONCURRENTLY too), ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY;
 *   - statements that never run in one: VACUUM, CREATE DATABASE, DROP
 *     DATABASE, ALTER DATABASE ... SET TABLESPACE, CREATE TABLESPACE, DROP
 *     TABLESPACE, ALTER SYSTEM, REINDEX SCHEMA, SYSTEM or DATABASE, CLUSTER
 *     without a table, DISCARD ALL, COMMIT PREPARED, ROLLBACK PREPARED;
 *   - conservatively, CREATE SUBSCRIPTION, DROP SUBSCRIPTION and ALTER
 *     SUBSCRIPTION ... PUBLICATION, which cannot when they create, drop or
 *     refresh a replication slot or tables (their default).
 * Only keyword tokens count: a string, a comment or a quoted identifier
 * "concurrently" does not.
 */
bool cdc_sql_no_transaction(const char *sql, size_t len);

/*
 * True when name occurs in sql as an identifier token. An unquoted token
 * is compared after folding it to lower case, name as given: "email"
 * matches email, EMAIL and "email" but not "Email", which only matches
 * "Email". Keywords count as identifiers too (a column named "date"
 * matches the type date), since callers use this to be conservative; so
 * does a U&"..." identifier that holds escapes or is followed by UESCAPE,
 * which could spell any name. Strings, dollar quotes (function bodies) and
 * comments are not looked into. An empty name never matches.
 */
bool cdc_sql_mentions(const char *sql, size_t len, const char *name);

/*
 * Renames the table a statement is about, for routing schema changes:
 * appends sql to out with each name of table schema.table that one of
 * these forms gives at its table's position replaced by
 * "new_schema"."new_table" (always both parts, each quoted with any '"'
 * doubled); every other byte is copied as it is.
 *   ALTER TABLE [IF EXISTS] [ONLY] <t> ...
 *   CREATE [GLOBAL|LOCAL] [UNLOGGED] TABLE [IF NOT EXISTS] <t> ...
 *   DROP TABLE [IF EXISTS] <t> [, ...]   (each listed name that is the table)
 *   CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] <index>] ON [ONLY]
 *       <t> ...
 *   TRUNCATE [TABLE] [ONLY] <t> [*] [, ...]
 *   COMMENT ON TABLE <t> IS ...;  COMMENT ON COLUMN <t>.<column> IS ...
 * <t> is a name of one to three parts (database, schema, table), each
 * quoted or not; it is the table when its last part equals table and, if
 * qualified, the part before equals schema (compared as in
 * cdc_sql_mentions). DROP INDEX, ALTER INDEX and REINDEX [(...)] INDEX name
 * no table: they are copied unchanged with CDC_OK (a schema-qualified
 * index name stays as it is).
 *
 * sql must hold exactly one statement (a final ';' and comments may
 * follow it). schema, table, new_schema and new_table are NUL-terminated
 * and not NULL. Returns CDC_OK; CDC_ETOOBIG when out would pass its limit;
 * or CDC_EPROTO flagged CDC_ERR_POISON when the rewrite would not be safe,
 * with err a one line reason starting "cannot rewrite the statement for
 * routing: ":
 *   - sql holds no statement or more than one;
 *   - new_schema or new_table is empty;
 *   - the statement is not one of the forms above;
 *   - the form's table position does not name the table;
 *   - the table's name also occurs elsewhere in the statement as an
 *     identifier (ALTER TABLE t ADD c int REFERENCES t (id)), even as a
 *     keyword or as another schema's table of that name;
 *   - ALTER TABLE ... RENAME TO (a rename of the table itself), ALTER TABLE
 *     ... SET SCHEMA, ALTER TABLE ALL IN TABLESPACE;
 *   - CREATE TEMP or TEMPORARY TABLE (a temporary table cannot be put in a
 *     schema).
 * Names inside strings (a 't'::regclass, a function body) are not seen.
 * On any error out is left as it was.
 */
int cdc_sql_rewrite_table(const char *sql, size_t len, const char *schema,
                          const char *table, const char *new_schema,
                          const char *new_table, struct cdc_buf *out,
                          struct cdc_err *err);

#endif

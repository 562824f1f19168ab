/*
 * pg_schema.c: builds the SQL that recreates a source publication's tables
 * on a PostgreSQL target (--target-sync-schema): the schemas, the
 * extensions that own column types, the user-defined types the columns
 * need (in dependency order), then each table with its primary key, its
 * unique constraints and indexes and its replica identity. One catalog
 * query on the source writes nearly all of the text; this file connects,
 * checks the publication and wraps statements in their guards.
 *
 * Deliberately left out: foreign keys, triggers, policies, CHECK and
 * exclusion constraints of tables, non-unique indexes, sequences, grants
 * and comments. The sink applies rows in source order and the source has
 * already enforced its constraints on every row it sends; foreign keys
 * across tables are a concern of the target (--target-disable-foreign-keys
 * exists for loading), and other indexes are for the target's own queries.
 * Unique indexes are kept so that ON CONFLICT can use them.
 *
 * Invariant: every statement can run again without changing anything and
 * without privileges on what exists already: each runs only when a guard
 * query finds its object missing (an extension: IF NOT EXISTS). Names are
 * quoted and schema-qualified, so the result does not depend on the
 * target's search_path. An existing object is left as it is, even when it
 * differs from the source.
 */
#include "sinks/sink_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* ==== The catalog query ==== */

/*
 * The query runs with an empty search_path, so format_type, pg_get_expr,
 * pg_get_constraintdef and pg_get_indexdef qualify every name outside
 * pg_catalog, and the unqualified catalog names below can only mean
 * pg_catalog's. Objects with an OID below 16384 (FirstNormalObjectId) were
 * made by initdb and exist on every target.
 *
 * Each part is one common table expression; the pieces that depend on the
 * server version are filled in by build_query.
 *
 * pt: the published tables. A partition is published as itself (unless
 * publish_via_partition_root) and is created as a plain table of its own,
 * not as its parent; a partitioned root, when published, becomes a plain
 * table too. Keeping partitioning is the target's choice.
 */
static const char sql_pt_head[] =
    "WITH RECURSIVE\n"
    "pt AS (\n"
    "    SELECT c.oid AS relid, n.nspname, c.relname, c.relkind,\n"
    "           c.relreplident, ";
/* then the published column names, or NULL for all columns */
static const char sql_pt_tail[] =
    " AS attnames\n"
    "    FROM pg_publication_tables p\n"
    "    JOIN pg_namespace n ON n.nspname = p.schemaname\n"
    "    JOIN pg_class c ON c.relnamespace = n.oid\n"
    "                   AND c.relname = p.tablename\n"
    "    WHERE p.pubname = $1\n"
    "),\n"
    "allcols AS (\n"
    "    SELECT pt.relid, a.attnum, a.attname, a.atttypid, a.atttypmod,\n"
    "           a.attnotnull, a.attcollation, ";
/* then the generated-column kind */

/*
 * tcols: the columns to create. With a column list (PostgreSQL 15) only
 * the published ones, plus generated columns computed from published ones
 * only (a column list cannot name a generated column, and the target must
 * compute it). The columns an expression uses are recorded as dependencies
 * of its pg_attrdef row, or of the column itself in some versions.
 *
 * tdefs: defaults and generation expressions. "portable" is true when the
 * expression refers to nothing user-made but types (which are created
 * here) and its own table. That leaves out serial columns: their
 * nextval() needs a sequence that the target does not have and does not
 * need, because every event carries the value the source assigned. It
 * also leaves out defaults calling user functions, which the target may
 * lack. Identity columns have no default here and become plain columns for
 * the same reason.
 */
static const char sql_cols[] =
    " AS gen\n"
    "    FROM pt JOIN pg_attribute a ON a.attrelid = pt.relid\n"
    "    WHERE a.attnum > 0 AND NOT a.attisdropped\n"
    "),\n"
    "tcols AS (\n"
    "    SELECT c.* FROM allcols c JOIN pt ON pt.relid = c.relid\n"
    "    WHERE pt.attnames IS NULL OR c.attname = ANY (pt.attnames)\n"
    "       OR (c.gen <> '' AND NOT EXISTS (\n"
    "           SELECT FROM pg_depend d\n"
    "           JOIN allcols o ON o.relid = d.refobjid\n"
    "                         AND o.attnum = d.refobjsubid\n"
    "           WHERE d.refclassid = 'pg_class'::regclass\n"
    "             AND o.attnum <> c.attnum\n"
    "             AND o.attname <> ALL (pt.attnames)\n"
    "             AND ((d.classid = 'pg_class'::regclass\n"
    "                   AND d.objid = c.relid AND d.objsubid = c.attnum)\n"
    "                  OR (d.classid = 'pg_attrdef'::regclass\n"
    "                      AND d.objid IN (\n"
    "                          SELECT ad.oid FROM pg_attrdef ad\n"
    "                          WHERE ad.adrelid = c.relid\n"
    "                            AND ad.adnum = c.attnum)))))\n"
    "),\n"
    "tdefs AS (\n"
    "    SELECT ad.adrelid AS relid, ad.adnum AS attnum, ad.oid AS defid,\n"
    "           c.gen, pg_get_expr(ad.adbin, ad.adrelid) AS expr,\n"
    "           NOT EXISTS (\n"
    "               SELECT FROM pg_depend d\n"
    "               WHERE d.classid = 'pg_attrdef'::regclass\n"
    "                 AND d.objid = ad.oid AND d.refobjid >= 16384\n"
    "                 AND d.refclassid <> 'pg_type'::regclass\n"
    "                 AND NOT (d.refclassid = 'pg_class'::regclass\n"
    "                          AND d.refobjid = ad.adrelid)) AS portable\n"
    "    FROM tcols c\n"
    "    JOIN pg_attrdef ad ON ad.adrelid = c.relid AND ad.adnum = c.attnum\n"
    "),\n"
    "mr AS (";
/* then (range, multirange) pairs */

/*
 * walk: every type the columns (and the kept defaults) use, with its
 * distance from a column. Arrays lead to their element, domains to their
 * base type, composite types to their attributes, ranges to their subtype
 * and multiranges to their range. The walk stops at built-in types and at
 * types owned by an extension, and at depth 64 in case of a cycle.
 *
 * utypes: the types to create: enums, domains, composite types (not the
 * row types of tables) and ranges. A type is created before everything
 * that uses it because it is always further from the columns than they
 * are: ordering by the largest distance, descending, is a dependency order.
 *
 * exts: the extensions owning a walked type (hstore, citext, ...).
 *
 * uidx: unique indexes to recreate: those of the primary key and unique
 * constraints (written as constraints) and other valid unique indexes,
 * only when every column they use is created, and, for a bare index, when
 * its expressions call no user-made function or operator.
 */
static const char sql_types[] =
    "),\n"
    "colls AS (\n"
    "    SELECT co.oid, format('%I.%I', n.nspname, co.collname) AS qname\n"
    "    FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace\n"
    "),\n"
    "ext_member AS (\n"
    "    SELECT d.objid AS typid, d.refobjid AS extid FROM pg_depend d\n"
    "    WHERE d.classid = 'pg_type'::regclass\n"
    "      AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'\n"
    "),\n"
    "walk(typid, depth) AS (\n"
    "    SELECT atttypid, 0 FROM tcols\n"
    "    UNION\n"
    "    SELECT d.refobjid, 0 FROM tdefs f\n"
    "    JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass\n"
    "                    AND d.objid = f.defid\n"
    "                    AND d.refclassid = 'pg_type'::regclass\n"
    "    WHERE f.portable OR f.gen <> ''\n"
    "    UNION\n"
    "    SELECT ch.typid, w.depth + 1\n"
    "    FROM walk w JOIN pg_type t ON t.oid = w.typid\n"
    "    CROSS JOIN LATERAL (\n"
    "        SELECT t.typelem WHERE t.typelem <> 0 AND t.typlen = -1\n"
    "        UNION ALL\n"
    "        SELECT t.typbasetype WHERE t.typtype = 'd'\n"
    "        UNION ALL\n"
    "        SELECT a.atttypid FROM pg_class rc\n"
    "        JOIN pg_attribute a ON a.attrelid = rc.oid\n"
    "        WHERE t.typtype = 'c' AND rc.oid = t.typrelid\n"
    "          AND rc.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped\n"
    "        UNION ALL\n"
    "        SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid\n"
    "        UNION ALL\n"
    "        SELECT m.rngtypid FROM mr m WHERE m.multitypid = t.oid\n"
    "    ) ch(typid)\n"
    "    WHERE w.depth < 64 AND t.oid >= 16384\n"
    "      AND t.oid NOT IN (SELECT typid FROM ext_member)\n"
    "),\n"
    "utypes AS (\n"
    "    SELECT t.oid, n.nspname, t.typname, max(w.depth) AS depth\n"
    "    FROM walk w JOIN pg_type t ON t.oid = w.typid\n"
    "    JOIN pg_namespace n ON n.oid = t.typnamespace\n"
    "    WHERE t.oid >= 16384 AND t.typtype IN ('e', 'd', 'c', 'r')\n"
    "      AND (t.typtype <> 'c' OR EXISTS (\n"
    "           SELECT FROM pg_class rc\n"
    "           WHERE rc.oid = t.typrelid AND rc.relkind = 'c'))\n"
    "      AND t.oid NOT IN (SELECT typid FROM ext_member)\n"
    "    GROUP BY t.oid, n.nspname, t.typname\n"
    "),\n"
    "exts AS (\n"
    "    SELECT DISTINCT e.extname, n.nspname\n"
    "    FROM walk w JOIN ext_member m ON m.typid = w.typid\n"
    "    JOIN pg_extension e ON e.oid = m.extid\n"
    "    JOIN pg_namespace n ON n.oid = e.extnamespace\n"
    "),\n"
    "uidx AS (\n"
    "    SELECT pt.relid, i.indexrelid, ic.relname AS idxname,\n"
    "           co.oid AS conid, i.indisreplident\n"
    "    FROM pt\n"
    "    JOIN pg_index i ON i.indrelid = pt.relid\n"
    "    JOIN pg_class ic ON ic.oid = i.indexrelid\n"
    "    LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid\n"
    "                              AND co.conrelid = pt.relid\n"
    "                              AND co.contype IN ('p', 'u')\n"
    "    WHERE i.indisunique AND i.indisvalid\n"
    "      AND NOT EXISTS (\n"
    "          SELECT FROM pg_depend d\n"
    "          WHERE d.classid = 'pg_class'::regclass\n"
    "            AND d.objid = i.indexrelid\n"
    "            AND d.refclassid = 'pg_class'::regclass\n"
    "            AND d.refobjid = pt.relid AND d.refobjsubid > 0\n"
    "            AND NOT EXISTS (\n"
    "                SELECT FROM tcols c\n"
    "                WHERE c.relid = pt.relid AND c.attnum = d.refobjsubid))\n"
    "      AND (co.oid IS NOT NULL OR NOT EXISTS (\n"
    "          SELECT FROM pg_depend d\n"
    "          WHERE d.classid = 'pg_class'::regclass\n"
    "            AND d.objid = i.indexrelid AND d.refobjid >= 16384\n"
    "            AND d.refclassid IN ('pg_proc'::regclass,\n"
    "                                 'pg_operator'::regclass)))\n"
    ")\n";

/*
 * The statements, one row each, sorted into the order they must run:
 * schemas, extensions, types (furthest from the columns first), then per
 * table its CREATE TABLE, its bare unique indexes and its replica
 * identity. "guard" is a query that finds the object by name (or the
 * replica identity already set); the statement runs only when it finds
 * nothing.
 *
 * Guards are there even where the statement has IF NOT EXISTS: PostgreSQL
 * checks privileges first (CREATE on the database for a schema, on the
 * schema for a table, ownership of the table for an index), so a target
 * user allowed to write to existing tables could not run the script
 * again. A replica identity that is already right is not set again, which
 * would lock the table. CREATE EXTENSION IF NOT EXISTS looks for the
 * extension first and needs no guard; CASCADE installs what it requires.
 * pg_* schema names are left out: PostgreSQL reserves them.
 *
 * Domains keep their NOT NULL, validated CHECK constraints and a default
 * that calls no user-made function or sequence. Ranges name their subtype
 * and, only when built-in, a non-default operator class, a collation other
 * than the subtype's and a subtype_diff function; a canonical function
 * (written in C) is left out. A multirange name is given only when it is
 * not the one PostgreSQL would choose.
 *
 * Generated columns are always created STORED, which every version with
 * generated columns accepts and which gives the same values.
 */
static const char sql_select[] =
    "SELECT stmt, guard FROM (\n"
    "SELECT 1 AS sec, 0 AS depth, s.nspname::text AS k1, ''::text AS k2,\n"
    "       0 AS sub, ''::text AS k3,\n"
    "       format('CREATE SCHEMA IF NOT EXISTS %I', s.nspname) AS stmt,\n"
    "       format('SELECT FROM pg_catalog.pg_namespace WHERE nspname = %L',\n"
    "              s.nspname) AS guard\n"
    "FROM (SELECT nspname FROM pt UNION SELECT nspname FROM utypes\n"
    "      UNION SELECT nspname FROM exts) s\n"
    "WHERE left(s.nspname, 3) <> 'pg_'\n"
    "UNION ALL\n"
    "SELECT 2, 0, x.extname, '', 0, '',\n"
    "       format('CREATE EXTENSION IF NOT EXISTS %I'\n"
    "              ' WITH SCHEMA %I CASCADE',\n"
    "              x.extname, x.nspname), NULL\n"
    "FROM exts x\n"
    "UNION ALL\n";
static const char sql_select_types[] =
    "SELECT 3, -u.depth, u.nspname, u.typname, 0, '',\n"
    "  CASE t.typtype\n"
    "  WHEN 'e' THEN format('CREATE TYPE %I.%I AS ENUM (%s)',\n"
    "    u.nspname, u.typname,\n"
    "    (SELECT string_agg(quote_literal(e.enumlabel), ', '\n"
    "                       ORDER BY e.enumsortorder)\n"
    "     FROM pg_enum e WHERE e.enumtypid = t.oid))\n"
    "  WHEN 'd' THEN format('CREATE DOMAIN %I.%I AS %s%s%s%s%s',\n"
    "    u.nspname, u.typname, format_type(t.typbasetype, t.typtypmod),\n"
    "    (SELECT ' COLLATE ' || cl.qname FROM colls cl\n"
    "     WHERE cl.oid = t.typcollation AND cl.oid <> (\n"
    "         SELECT b.typcollation FROM pg_type b\n"
    "         WHERE b.oid = t.typbasetype)),\n"
    "    CASE WHEN t.typdefaultbin IS NOT NULL AND NOT EXISTS (\n"
    "        SELECT FROM pg_depend d\n"
    "        WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid\n"
    "          AND d.refobjid >= 16384\n"
    "          AND d.refclassid IN ('pg_class'::regclass,\n"
    "                               'pg_proc'::regclass,\n"
    "                               'pg_operator'::regclass))\n"
    "      THEN ' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0) END,\n"
    "    CASE WHEN t.typnotnull THEN ' NOT NULL' END,\n"
    "    (SELECT string_agg(format(' CONSTRAINT %I %s', co.conname,\n"
    "                              pg_get_constraintdef(co.oid)), ''\n"
    "                       ORDER BY co.conname)\n"
    "     FROM pg_constraint co\n"
    "     WHERE co.contypid = t.oid AND co.contype = 'c'\n"
    "       AND co.convalidated))\n"
    "  WHEN 'c' THEN format('CREATE TYPE %I.%I AS (%s)',\n"
    "    u.nspname, u.typname,\n"
    "    (SELECT string_agg(format('%I %s%s', a.attname,\n"
    "              format_type(a.atttypid, a.atttypmod),\n"
    "              (SELECT ' COLLATE ' || cl.qname FROM colls cl\n"
    "               WHERE cl.oid = a.attcollation AND cl.oid <> (\n"
    "                   SELECT b.typcollation FROM pg_type b\n"
    "                   WHERE b.oid = a.atttypid))), ', '\n"
    "              ORDER BY a.attnum)\n"
    "     FROM pg_attribute a\n"
    "     WHERE a.attrelid = t.typrelid AND a.attnum > 0\n"
    "       AND NOT a.attisdropped))\n"
    "  ELSE format('CREATE TYPE %I.%I AS RANGE (SUBTYPE = %s%s%s%s%s)',\n"
    "    u.nspname, u.typname, format_type(r.rngsubtype, NULL),\n"
    "    (SELECT format(', SUBTYPE_OPCLASS = %I.%I', n.nspname, oc.opcname)\n"
    "     FROM pg_opclass oc JOIN pg_namespace n ON n.oid = oc.opcnamespace\n"
    "     WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault\n"
    "       AND oc.oid < 16384),\n"
    "    (SELECT ', COLLATION = ' || cl.qname FROM colls cl\n"
    "     WHERE cl.oid = r.rngcollation AND cl.oid < 16384 AND cl.oid <> (\n"
    "         SELECT b.typcollation FROM pg_type b\n"
    "         WHERE b.oid = r.rngsubtype)),\n"
    "    (SELECT format(', SUBTYPE_DIFF = %I.%I', n.nspname, p.proname)\n"
    "     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace\n"
    "     WHERE p.oid = r.rngsubdiff AND p.oid < 16384),\n"
    "    (SELECT format(', MULTIRANGE_TYPE_NAME = %I.%I', n.nspname,\n"
    "                   mt.typname)\n"
    "     FROM mr m JOIN pg_type mt ON mt.oid = m.multitypid\n"
    "     JOIN pg_namespace n ON n.oid = mt.typnamespace\n"
    "     WHERE m.rngtypid = t.oid\n"
    "       AND (mt.typnamespace <> t.typnamespace\n"
    "            OR mt.typname::text <> CASE\n"
    "                WHEN strpos(t.typname, 'range') > 0\n"
    "                THEN regexp_replace(t.typname, 'range', 'multirange')\n"
    "                ELSE t.typname || '_multirange' END)))\n"
    "  END,\n"
    "  format('SELECT FROM pg_catalog.pg_type t'\n"
    "         ' JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace'\n"
    "         ' WHERE n.nspname = %L AND t.typname = %L',\n"
    "         u.nspname, u.typname)\n"
    "FROM utypes u JOIN pg_type t ON t.oid = u.oid\n"
    "LEFT JOIN pg_range r ON r.rngtypid = t.oid\n"
    "UNION ALL\n";
static const char sql_select_tables[] =
    "SELECT 4, 0, pt.nspname, pt.relname, 0, '',\n"
    "  format('CREATE TABLE IF NOT EXISTS %I.%I (%s)',\n"
    "    pt.nspname, pt.relname,\n"
    "    concat_ws(', ',\n"
    "      (SELECT string_agg(format('%I %s%s%s%s', c.attname,\n"
    "                format_type(c.atttypid, c.atttypmod),\n"
    "                (SELECT ' COLLATE ' || cl.qname FROM colls cl\n"
    "                 WHERE cl.oid = c.attcollation AND cl.oid <> (\n"
    "                     SELECT b.typcollation FROM pg_type b\n"
    "                     WHERE b.oid = c.atttypid)),\n"
    "                CASE WHEN c.gen <> ''\n"
    "                  THEN format(' GENERATED ALWAYS AS (%s) STORED',\n"
    "                              f.expr)\n"
    "                  WHEN f.portable THEN ' DEFAULT ' || f.expr END,\n"
    "                CASE WHEN c.attnotnull THEN ' NOT NULL' END), ', '\n"
    "                ORDER BY c.attnum)\n"
    "       FROM tcols c\n"
    "       LEFT JOIN tdefs f ON f.relid = c.relid AND f.attnum = c.attnum\n"
    "       WHERE c.relid = pt.relid),\n"
    "      (SELECT string_agg(format('CONSTRAINT %I %s', co.conname,\n"
    "                                pg_get_constraintdef(co.oid)), ', '\n"
    "                         ORDER BY co.contype, co.conname)\n"
    "       FROM uidx u JOIN pg_constraint co ON co.oid = u.conid\n"
    "       WHERE u.relid = pt.relid))),\n"
    "  format('SELECT FROM pg_catalog.pg_class c'\n"
    "         ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'\n"
    "         ' WHERE n.nspname = %L AND c.relname = %L',\n"
    "         pt.nspname, pt.relname)\n"
    "FROM pt\n"
    "UNION ALL\n"
    /* pg_get_indexdef always starts so for a unique index; "ON ONLY",
     * which it writes for a partitioned table, is accepted on a plain
     * one */
    "SELECT 4, 0, pt.nspname, pt.relname, 1, u.idxname,\n"
    "  regexp_replace(pg_get_indexdef(u.indexrelid),\n"
    "                 '^CREATE UNIQUE INDEX ',\n"
    "                 'CREATE UNIQUE INDEX IF NOT EXISTS '),\n"
    "  format('SELECT FROM pg_catalog.pg_class c'\n"
    "         ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'\n"
    "         ' WHERE n.nspname = %L AND c.relname = %L',\n"
    "         pt.nspname, u.idxname)\n"
    "FROM uidx u JOIN pt ON pt.relid = u.relid\n"
    "WHERE u.conid IS NULL\n"
    "UNION ALL\n"
    "SELECT 4, 0, pt.nspname, pt.relname, 2, '',\n"
    "  format('ALTER TABLE %I.%I REPLICA IDENTITY %s', pt.nspname,\n"
    "    pt.relname, CASE pt.relreplident WHEN 'f' THEN 'FULL'\n"
    "                WHEN 'n' THEN 'NOTHING'\n"
    "                ELSE format('USING INDEX %I', u.idxname) END),\n"
    "  CASE WHEN pt.relreplident = 'i'\n"
    "  THEN format('SELECT FROM pg_catalog.pg_index i'\n"
    "         ' JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid'\n"
    "         ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'\n"
    "         ' WHERE n.nspname = %L AND c.relname = %L'\n"
    "         ' AND i.indisreplident', pt.nspname, u.idxname)\n"
    "  ELSE format('SELECT FROM pg_catalog.pg_class c'\n"
    "         ' JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace'\n"
    "         ' WHERE n.nspname = %L AND c.relname = %L'\n"
    "         ' AND c.relreplident = %L', pt.nspname, pt.relname,\n"
    "         pt.relreplident) END\n"
    "FROM pt LEFT JOIN uidx u ON u.relid = pt.relid AND u.indisreplident\n"
    "WHERE pt.relreplident IN ('f', 'n')\n"
    "   OR (pt.relreplident = 'i' AND u.idxname IS NOT NULL)\n"
    ") x\n"
    "ORDER BY sec, depth, k1 COLLATE \"C\", k2 COLLATE \"C\", sub,\n"
    "         k3 COLLATE \"C\"";

/* Assembles the query for a server of the given version (PQserverVersion).
 * Column lists came with 15, generated columns with 12, multiranges with
 * 14; older servers get stand-ins that select nothing. */
static int build_query(int version, struct cdc_buf *sql)
{
    const char *parts[] = {
        sql_pt_head,
        version >= 150000 ? "p.attnames" : "NULL::name[]",
        sql_pt_tail,
        version >= 120000 ? "a.attgenerated" : "''::\"char\"",
        sql_cols,
        version >= 140000
            ? "SELECT rngtypid, rngmultitypid AS multitypid FROM pg_range"
            : "SELECT 0::oid AS rngtypid, 0::oid AS multitypid WHERE false",
        sql_types,
        sql_select,
        sql_select_types,
        sql_select_tables,
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        int rc = cdc_buf_append_str(sql, parts[i]);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

/* ==== Connection and queries ==== */

static int connect_source(const char *const *kw, const char *const *val,
                          PGconn **out, struct cdc_err *err)
{
    size_t n = 0;
    while (kw[n] != NULL)
        n++;
    const char **k = cdc_xcalloc(n + 2, sizeof(*k));
    const char **v = cdc_xcalloc(n + 2, sizeof(*v));
    /* first, so that an application_name of the caller's (or of a
     * connection string in dbname) wins */
    k[0] = "fallback_application_name";
    v[0] = "tributary-schema";
    memcpy(k + 1, kw, n * sizeof(*k));
    memcpy(v + 1, val, n * sizeof(*v));
    /* expand_dbname: dbname may be a whole connection string or URI */
    PGconn *conn = PQconnectdbParams(k, v, 1);
    cdc_free(k);
    cdc_free(v);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        bool retriable = cdc_db_connect_retriable(msg);
        PQfinish(conn);
        return cdc_err_set(err, CDC_EIO, retriable ? CDC_ERR_RETRIABLE : 0,
                           "could not connect to source PostgreSQL: %s", msg);
    }
    *out = conn;
    return CDC_OK;
}

/* Whether an error of this SQLSTATE may pass: a lost connection (class 08),
 * a cancel or shutdown (57), lack of resources (53) or a conflict (40).
 * Anything else is a fault of the query or of the permissions. */
static bool state_retriable(const char *state)
{
    static const char *const classes[] = {"08", "57", "53", "40"};
    for (size_t i = 0;
         state != NULL && i < sizeof(classes) / sizeof(classes[0]); i++)
        if (strncmp(state, classes[i], 2) == 0)
            return true;
    return false;
}

/* Runs sql with publication as $1 (if not NULL); returns the result, which
 * the caller PQclears, or NULL with err set. */
static PGresult *run(PGconn *conn, const char *sql, const char *publication,
                     struct cdc_err *err)
{
    const char *params[1] = {publication};
    PGresult *res = PQexecParams(conn, sql, publication ? 1 : 0, NULL, params,
                                 NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    bool retriable = PQstatus(conn) == CONNECTION_BAD ||
                     state_retriable(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    cdc_err_set(err, CDC_EIO, retriable ? CDC_ERR_RETRIABLE : 0, "%s",
                PQerrorMessage(conn));
    PQclear(res);
    return NULL;
}

/* ==== Output ==== */

/* Appends stmt, run only when guard (a query) finds nothing, as a DO
 * block. The dollar-quote tag is one that occurs in neither. */
static int append_guarded(struct cdc_buf *out, const char *stmt,
                          const char *guard)
{
    char tag[32] = "$tributary$";
    for (int i = 1; strstr(stmt, tag) != NULL || strstr(guard, tag) != NULL;
         i++)
        snprintf(tag, sizeof(tag), "$tributary_%d$", i);
    const char *parts[] = {
        "DO ",
        tag,
        "\nBEGIN\n    IF NOT EXISTS (",
        guard,
        ") THEN\n        ",
        stmt,
        ";\n    END IF;\nEND\n",
        tag,
        ";\n",
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        int rc = cdc_buf_append_str(out, parts[i]);
        if (rc != CDC_OK)
            return rc;
    }
    return CDC_OK;
}

static int append_statement(struct cdc_buf *out, const char *stmt)
{
    int rc = cdc_buf_append_str(out, stmt);
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(out, ";\n");
    return rc;
}

/* ==== Entry point ==== */

int sink__pg_schema_ddl(const char *const *kw, const char *const *val,
                        const char *publication, struct cdc_buf *out,
                        struct cdc_err *err)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    struct cdc_buf sql;
    size_t start = out->len;
    cdc_buf_init(&sql, 0);

    int rc = connect_source(kw, val, &conn, err);
    if (rc != CDC_OK)
        goto out;
    int version = PQserverVersion(conn);
    if (version < 100000) {
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "cannot read publication \"%s\": the source runs "
                         "PostgreSQL %d.%d, which has no publications",
                         publication, version / 10000, version / 100 % 100);
        goto out;
    }
    /* see the catalog query: names outside pg_catalog come out qualified */
    res = run(conn, "SELECT pg_catalog.set_config('search_path', '', false)",
              NULL, err);
    if (res == NULL) {
        rc = cdc_err_prefix(err, "could not read publication \"%s\"",
                            publication);
        goto out;
    }
    PQclear(res);
    res = run(conn, "SELECT FROM pg_catalog.pg_publication WHERE pubname = $1",
              publication, err);
    if (res == NULL) {
        rc = cdc_err_prefix(err, "could not read publication \"%s\"",
                            publication);
        goto out;
    }
    if (PQntuples(res) == 0) {
        rc = cdc_err_set(err, CDC_ECONFIG, 0,
                         "publication \"%s\" does not exist on the source",
                         publication);
        goto out;
    }
    PQclear(res);
    res = NULL;
    rc = build_query(version, &sql);
    if (rc != CDC_OK) {
        cdc_err_set(err, rc, 0, "could not build the catalog query");
        goto out;
    }
    res = run(conn, sql.data, publication, err);
    if (res == NULL) {
        rc = cdc_err_prefix(err,
                            "could not read the definitions of the tables "
                            "of publication \"%s\"",
                            publication);
        goto out;
    }
    for (int i = 0; i < PQntuples(res) && rc == CDC_OK; i++) {
        if (PQgetisnull(res, i, 0))
            continue;
        const char *stmt = PQgetvalue(res, i, 0);
        if (PQgetisnull(res, i, 1))
            rc = append_statement(out, stmt);
        else
            rc = append_guarded(out, stmt, PQgetvalue(res, i, 1));
    }
    if (rc != CDC_OK)
        cdc_err_set(err, rc, 0,
                    "cannot append the schema of publication \"%s\": %s",
                    publication, cdc_status_str(rc));

out:
    if (rc != CDC_OK && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    PQclear(res);
    PQfinish(conn);
    cdc_buf_release(&sql);
    return rc;
}

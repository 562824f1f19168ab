/*
 * ddl_postgres.c: schema changes of a PostgreSQL group's tables
 * (--track-ddl). Event triggers on ddl_command_end and sql_drop write each
 * statement that touches one of the group's tables into the WAL as a
 * transactional logical message (prefix: the group's slot name), so it
 * arrives in the replication stream exactly between the row changes
 * before and after it. A ddl_command_start trigger on DROP INDEX notes the
 * group's indexes first, since once an index is dropped nothing tells
 * which table it belonged to. A table is the group's when the group's
 * publication holds it, by name or by schema; so a table created in a
 * schema the group covers whole is the group's from its creation.
 *
 * The trigger sees the whole query string of its statement, which may
 * hold several statements; the decoder here picks out the one that fired
 * it (by command tag and the table it names), and leaves the text whole
 * when that is ambiguous, for the sink to refuse.
 *
 * The message: fields separated by NUL bytes: "1", command tag, schema,
 * table, object ("index app.t_a_idx"), search_path, query.
 */
#include "common/sqltext.h"
#include "replicator/replicator_int.h"

#include <stdio.h>
#include <string.h>

/* Statements of one query string looked at, at most. */
#define MAX_STMTS 256

/* ==== Installed objects ==== */

/* The names the group's objects take: functions in schema tributary and
 * event triggers, all "<slot>_ddl_<what>". */
static const char *const TRIGGER_KINDS[SOURCE_PG_DDL_TRIGGERS] = {"end", "drop",
                                                                  "start"};
static const char *const HELPER_KINDS[] = {"member", "emit"};

/* Appends tributary."<slot>_ddl_<what>". */
static void fn_name(struct cdc_buf *b, PGconn *conn, const char *slot,
                    const char *what)
{
    char name[CDC_NAME_MAX + 16];
    snprintf(name, sizeof(name), "%s_ddl_%s", slot, what);
    cdc_buf_append_str(b, "tributary.");
    source__pg_append_ident(b, conn, name);
}

static void append_literal(struct cdc_buf *b, PGconn *conn, const char *s)
{
    char *q = PQescapeLiteral(conn, s, strlen(s));
    cdc_buf_append_str(b, q ? q : "''");
    PQfreemem(q);
}

/* Replaces every "@name@" in tmpl: @PUB@ (the publication as a literal),
 * @PREFIX@ (the message prefix as a literal), @MEMBER@, @EMIT@ and
 * @GUC@ (the setting that holds the group's indexes, as a literal). */
static void expand(struct cdc_buf *b, PGconn *conn, const char *slot,
                   const char *tmpl)
{
    char guc[CDC_NAME_MAX + 24];
    snprintf(guc, sizeof(guc), "tributary.%s_indexes", slot);
    const char *p = tmpl;
    while (*p != '\0') {
        const char *at = strchr(p, '@');
        if (at == NULL) {
            cdc_buf_append_str(b, p);
            break;
        }
        cdc_buf_append(b, p, (size_t)(at - p));
        const char *end = strchr(at + 1, '@');
        CDC_ASSERT(end != NULL);
        size_t n = (size_t)(end - at - 1);
        if (n == 3 && memcmp(at + 1, "PUB", 3) == 0)
            append_literal(b, conn, slot);
        else if (n == 6 && memcmp(at + 1, "PREFIX", 6) == 0)
            append_literal(b, conn, slot);
        else if (n == 6 && memcmp(at + 1, "MEMBER", 6) == 0)
            fn_name(b, conn, slot, "member");
        else if (n == 4 && memcmp(at + 1, "EMIT", 4) == 0)
            fn_name(b, conn, slot, "emit");
        else if (n == 3 && memcmp(at + 1, "GUC", 3) == 0)
            append_literal(b, conn, guc);
        else
            CDC_BUG("unknown placeholder in a DDL trigger template");
        p = end + 1;
    }
}

/* Whether relation rel (a table) is in the group's publication. Every
 * name is qualified: the functions run with the search_path of the
 * session whose statement fired them, which they report. */
static const char *const MEMBER_BODY =
    "(rel oid) RETURNS boolean LANGUAGE sql STABLE AS $f$"
    " SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_publication p"
    " WHERE p.pubname = @PUB@ AND (EXISTS (SELECT 1 FROM"
    " pg_catalog.pg_publication_rel pr WHERE pr.prpubid = p.oid AND"
    " pr.prrelid = rel) OR EXISTS (SELECT 1 FROM"
    " pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_class c"
    " ON c.relnamespace = pn.pnnspid WHERE pn.pnpubid = p.oid AND"
    " c.oid = rel AND c.relkind IN ('r', 'p'))))"
    " $f$";

static const char *const EMIT_BODY =
    "(tag text, sch text, tbl text, obj text) RETURNS void"
    " LANGUAGE plpgsql AS $f$"
    " DECLARE z bytea := pg_catalog.decode('00', 'hex');"
    " BEGIN PERFORM pg_catalog.pg_logical_emit_message(true, @PREFIX@,"
    " pg_catalog.convert_to('1', 'UTF8') || z"
    " || pg_catalog.convert_to(tag, 'UTF8') || z"
    " || pg_catalog.convert_to(sch, 'UTF8') || z"
    " || pg_catalog.convert_to(tbl, 'UTF8') || z"
    " || pg_catalog.convert_to(obj, 'UTF8') || z"
    " || pg_catalog.convert_to(pg_catalog.current_setting('search_path'),"
    " 'UTF8') || z"
    " || pg_catalog.convert_to(pg_catalog.current_query(), 'UTF8'));"
    " END $f$";

/* ddl_command_end: the first command of the statement on a table of the
 * group (or an index or constraint of one) sends the statement, once. */
static const char *const END_BODY =
    "() RETURNS event_trigger LANGUAGE plpgsql AS $f$"
    " DECLARE r record; rel oid; sch text; tbl text;"
    " BEGIN"
    " FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands()"
    " LOOP rel := NULL;"
    " IF r.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN"
    " SELECT CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid"
    " ELSE c.oid END INTO rel FROM pg_catalog.pg_class c LEFT JOIN"
    " pg_catalog.pg_index i ON i.indexrelid = c.oid WHERE c.oid = r.objid;"
    " ELSIF r.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass"
    " THEN SELECT conrelid INTO rel FROM pg_catalog.pg_constraint"
    " WHERE oid = r.objid;"
    " END IF;"
    " IF rel IS NOT NULL AND rel <> 0 AND @MEMBER@(rel) THEN"
    " SELECT n.nspname, c.relname INTO sch, tbl FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.oid = rel;"
    " PERFORM @EMIT@(tg_tag, sch, tbl,"
    " r.object_type || ' ' || r.object_identity);"
    " RETURN; END IF;"
    " END LOOP; END $f$";

/* sql_drop: a dropped table of the group (its publication entry went
 * with it, or its schema is the group's), or one of the indexes noted at
 * the start of the statement. */
static const char *const DROP_BODY =
    "() RETURNS event_trigger LANGUAGE plpgsql AS $f$"
    " DECLARE r record; v pg_catalog.json;"
    " BEGIN"
    " FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()"
    " WHERE original AND object_type IN ('table', 'index') LOOP"
    " IF r.object_type = 'table' THEN"
    " IF EXISTS (SELECT 1 FROM"
    " pg_catalog.pg_event_trigger_dropped_objects() d WHERE"
    " d.object_type = 'publication relation' AND d.address_args[1] = @PUB@"
    " AND d.address_names = r.address_names) OR EXISTS (SELECT 1 FROM"
    " pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_namespace"
    " pn ON pn.pnpubid = p.oid JOIN pg_catalog.pg_namespace n ON"
    " n.oid = pn.pnnspid WHERE p.pubname = @PUB@ AND"
    " n.nspname = r.schema_name) THEN"
    " PERFORM @EMIT@(tg_tag, r.schema_name, r.object_name,"
    " 'table ' || r.object_identity); RETURN; END IF;"
    " ELSE"
    " v := NULLIF(pg_catalog.current_setting(@GUC@, true), '')"
    "::pg_catalog.json -> r.object_identity;"
    " IF v IS NOT NULL THEN"
    " PERFORM @EMIT@(tg_tag, v->>0, v->>1, 'index ' || r.object_identity);"
    " RETURN; END IF;"
    " END IF; END LOOP; END $f$";

/* ddl_command_start of DROP INDEX: the group's indexes and their tables,
 * kept in a setting of the session (a DROP INDEX CONCURRENTLY commits
 * between its start and its drop) */
static const char *const START_BODY =
    "() RETURNS event_trigger LANGUAGE plpgsql AS $f$"
    " BEGIN PERFORM pg_catalog.set_config(@GUC@, coalesce((SELECT"
    " pg_catalog.json_object_agg(pg_catalog.quote_ident(ni.nspname) || '.'"
    " || pg_catalog.quote_ident(ic.relname),"
    " pg_catalog.json_build_array(nt.nspname, tc.relname))::text"
    " FROM pg_catalog.pg_index i"
    " JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
    " JOIN pg_catalog.pg_namespace ni ON ni.oid = ic.relnamespace"
    " JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid"
    " JOIN pg_catalog.pg_namespace nt ON nt.oid = tc.relnamespace"
    " WHERE @MEMBER@(tc.oid)), ''), false); END $f$";

static const char *const TRIGGER_EVENTS[SOURCE_PG_DDL_TRIGGERS] = {
    "ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', "
    "'CREATE INDEX', 'ALTER INDEX', 'COMMENT')",
    "sql_drop WHEN TAG IN ('DROP TABLE', 'DROP INDEX')",
    "ddl_command_start WHEN TAG IN ('DROP INDEX')",
};

static int run(PGconn *conn, const char *sql, struct cdc_err *err)
{
    PGresult *res = source__pg_run(conn, sql, 0, NULL, err);
    if (res == NULL)
        return CDC_EIO;
    PQclear(res);
    return CDC_OK;
}

void source__pg_ddl_trigger_name(const char *slot, size_t i, char *out,
                                 size_t outsz)
{
    CDC_ASSERT(i < SOURCE_PG_DDL_TRIGGERS);
    snprintf(out, outsz, "%s_ddl_%s", slot, TRIGGER_KINDS[i]);
}

int source__pg_ddl_triggers(PGconn *conn, const char *slot,
                            bool found[SOURCE_PG_DDL_TRIGGERS],
                            bool disabled[SOURCE_PG_DDL_TRIGGERS],
                            struct cdc_err *err)
{
    char like[CDC_NAME_MAX + 8];
    snprintf(like, sizeof(like), "%s_ddl_", slot);
    const char *p[1] = {like};
    PGresult *res = source__pg_run(conn,
                                   "SELECT substr(evtname, length($1) + 1), "
                                   "evtenabled "
                                   "FROM pg_catalog.pg_event_trigger "
                                   "WHERE left(evtname, length($1)) = $1",
                                   1, p, err);
    if (res == NULL)
        return CDC_EIO;
    for (size_t i = 0; i < SOURCE_PG_DDL_TRIGGERS; i++) {
        found[i] = false;
        if (disabled != NULL)
            disabled[i] = false;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        for (size_t i = 0; i < SOURCE_PG_DDL_TRIGGERS; i++) {
            if (strcmp(PQgetvalue(res, r, 0), TRIGGER_KINDS[i]) != 0)
                continue;
            found[i] = true;
            if (disabled != NULL)
                disabled[i] = PQgetvalue(res, r, 1)[0] == 'D';
        }
    }
    PQclear(res);
    return CDC_OK;
}

int source__pg_ddl_install(PGconn *conn, const char *slot, struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 4096);
    bool found[SOURCE_PG_DDL_TRIGGERS];
    int rc = source__pg_ddl_triggers(conn, slot, found, NULL, err);
    if (rc == CDC_OK)
        rc = run(conn, "BEGIN", err);
    if (rc == CDC_OK)
        rc = run(conn, "CREATE SCHEMA IF NOT EXISTS tributary", err);
    const char *const helpers[] = {MEMBER_BODY, EMIT_BODY};
    for (size_t i = 0; i < 2 && rc == CDC_OK; i++) {
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "CREATE OR REPLACE FUNCTION ");
        fn_name(&sql, conn, slot, HELPER_KINDS[i]);
        expand(&sql, conn, slot, helpers[i]);
        rc = run(conn, sql.data, err);
    }
    const char *const bodies[SOURCE_PG_DDL_TRIGGERS] = {END_BODY, DROP_BODY,
                                                        START_BODY};
    for (size_t i = 0; i < SOURCE_PG_DDL_TRIGGERS && rc == CDC_OK; i++) {
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "CREATE OR REPLACE FUNCTION ");
        fn_name(&sql, conn, slot, TRIGGER_KINDS[i]);
        expand(&sql, conn, slot, bodies[i]);
        rc = run(conn, sql.data, err);
        if (rc != CDC_OK || found[i])
            continue;
        char name[SOURCE_PG_DDL_NAME_MAX];
        source__pg_ddl_trigger_name(slot, i, name, sizeof(name));
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "CREATE EVENT TRIGGER ");
        source__pg_append_ident(&sql, conn, name);
        cdc_buf_printf(&sql, " ON %s EXECUTE FUNCTION ", TRIGGER_EVENTS[i]);
        fn_name(&sql, conn, slot, TRIGGER_KINDS[i]);
        cdc_buf_append_str(&sql, "()");
        rc = run(conn, sql.data, err);
    }
    if (rc == CDC_OK)
        rc = run(conn, "COMMIT", err);
    else
        PQclear(PQexec(conn, "ROLLBACK"));
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err,
                              "could not install the schema change capture "
                              "(--track-ddl needs a superuser)");
    if (!found[0] || !found[1] || !found[2])
        cdc_log(CDC_LOG_INFO, "postgres",
                "installed event triggers \"%s_ddl_end\", \"%s_ddl_drop\" and "
                "\"%s_ddl_start\" to capture schema changes",
                slot, slot, slot);
    return CDC_OK;
}

int source__pg_ddl_remove(PGconn *conn, const char *slot, bool dry_run,
                          bool always, size_t *removed, struct cdc_err *err)
{
    struct cdc_buf sql;
    cdc_buf_init(&sql, 256);
    bool found[SOURCE_PG_DDL_TRIGGERS];
    *removed = 0;
    int rc = source__pg_ddl_triggers(conn, slot, found, NULL, err);
    for (size_t i = 0; i < SOURCE_PG_DDL_TRIGGERS && rc == CDC_OK; i++) {
        if (!found[i])
            continue;
        char name[SOURCE_PG_DDL_NAME_MAX];
        source__pg_ddl_trigger_name(slot, i, name, sizeof(name));
        (*removed)++;
        if (dry_run) {
            cdc_log(CDC_LOG_INFO, "postgres", "would drop event trigger \"%s\"",
                    name);
            continue;
        }
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "DROP EVENT TRIGGER IF EXISTS ");
        source__pg_append_ident(&sql, conn, name);
        rc = run(conn, sql.data, err);
        if (rc == CDC_OK)
            cdc_log(CDC_LOG_INFO, "postgres", "dropped event trigger \"%s\"",
                    name);
    }
    /* the functions (and the schema) go with the triggers, or always */
    bool drop_functions = !dry_run && (always || *removed > 0);
    for (size_t i = 0; i < 5 && rc == CDC_OK && drop_functions; i++) {
        cdc_buf_reset(&sql);
        cdc_buf_append_str(&sql, "DROP FUNCTION IF EXISTS ");
        fn_name(&sql, conn, slot,
                i < 3 ? TRIGGER_KINDS[i] : HELPER_KINDS[i - 3]);
        rc = run(conn, sql.data, err);
    }
    if (rc == CDC_OK && drop_functions) {
        /* the schema goes with the last group's functions */
        PGresult *res = PQexec(conn, "DROP SCHEMA IF EXISTS tributary");
        PQclear(res);
    }
    cdc_buf_release(&sql);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "could not remove the schema change "
                                   "capture");
    return CDC_OK;
}

/* ==== Messages ==== */

void source__pg_ddl_tx_reset(struct source__pg_ddl_tx *tx)
{
    tx->n = 0;
}

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* How many earlier messages of this transaction had the same query,
 * tag and table (the n-th such message is the n-th such statement). */
static unsigned seen_before(struct source__pg_ddl_tx *tx, const char *query,
                            size_t qlen, const char *tag, const char *table)
{
    uint64_t h = hash_bytes(UINT64_C(14695981039346656037), query, qlen);
    h = hash_bytes(h, tag, strlen(tag) + 1);
    h = hash_bytes(h, table, strlen(table) + 1);
    for (size_t i = 0; i < tx->n; i++)
        if (tx->hash[i] == h)
            return tx->count[i]++;
    if (tx->n < SOURCE_PG_DDL_TX_MAX) {
        tx->hash[tx->n] = h;
        tx->count[tx->n++] = 1;
    }
    return 0;
}

/* Picks the statement of query that the trigger reported: *out is it, or
 * the whole text when it cannot be told. */
static void isolate(struct source__pg_ddl_tx *tx, const char *query,
                    size_t qlen, const char *tag, const char *table,
                    struct cdc_sql_stmt *out)
{
    struct cdc_sql_stmt stmts[MAX_STMTS];
    size_t n = cdc_sql_split(query, qlen, stmts, MAX_STMTS);
    unsigned nth = seen_before(tx, query, qlen, tag, table);
    out->start = 0;
    out->len = qlen;
    if (n == 1) {
        *out = stmts[0];
        return;
    }
    if (n == 0 || n > MAX_STMTS)
        return;
    /* those of the tag, and of them the ones naming the table */
    size_t cand[MAX_STMTS];
    size_t ncand = 0;
    size_t named[MAX_STMTS];
    size_t nnamed = 0;
    for (size_t i = 0; i < n; i++) {
        char t[64];
        const char *s = query + stmts[i].start;
        if (!cdc_sql_tag(s, stmts[i].len, t, sizeof(t)) || strcmp(t, tag) != 0)
            continue;
        cand[ncand++] = i;
        if (cdc_sql_mentions(s, stmts[i].len, table))
            named[nnamed++] = i;
    }
    if (nnamed > nth)
        *out = stmts[named[nth]];
    else if (nnamed == 0 && ncand > nth)
        *out = stmts[cand[nth]];
}

int source__pg_ddl_decode(struct source__pg_ddl_tx *tx, const char *content,
                          size_t len, struct cdc_event *ev,
                          struct cdc_arena *arena, struct cdc_err *err)
{
    const char *field[7];
    size_t flen[7];
    size_t nf = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len && nf < 7; i++) {
        if (i == len || content[i] == '\0') {
            field[nf] = content + start;
            flen[nf++] = i - start;
            start = i + 1;
        }
    }
    /* the last field (the query) runs to the end */
    if (nf == 7)
        flen[6] = len - (size_t)(field[6] - content);
    if (nf < 7 || flen[0] != 1 || field[0][0] != '1')
        return cdc_err_set(err, CDC_EPROTO, 0,
                           "schema change message of an unknown form at %s "
                           "(the group's event triggers are of another "
                           "version: restart the replicator with "
                           "--track-ddl to replace them)",
                           ev->position);
    char *tag = cdc_arena_strndup(arena, field[1], flen[1]);
    ev->op = CDC_OP_DDL;
    ev->schema = cdc_arena_strndup(arena, field[2], flen[2]);
    ev->table = cdc_arena_strndup(arena, field[3], flen[3]);
    ev->object = cdc_arena_strndup(arena, field[4], flen[4]);
    ev->search_path = cdc_arena_strndup(arena, field[5], flen[5]);
    struct cdc_sql_stmt st;
    isolate(tx, field[6], flen[6], tag, ev->table, &st);
    ev->ddl = cdc_arena_strndup(arena, field[6] + st.start, st.len);
    return CDC_OK;
}

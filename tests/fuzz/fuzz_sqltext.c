/*
 * fuzz_sqltext.c: libFuzzer target of the SQL lexer (common/sqltext.c) and
 * of the PostgreSQL source's schema change messages
 * (source__pg_ddl_decode in replicator/ddl_postgres.c). The input is read
 * both ways: as SQL text, split into statements, each tagged, searched for
 * a few names and renamed for routing; and as a message of the event
 * triggers ("1", tag, schema, table, object, search_path, query, separated
 * by NUL bytes), decoded three times in one transaction (the n-th message
 * of a kind picks the n-th statement), whose statement is then renamed as
 * routing does. The functions must accept any bytes.
 */
#include "tests/fuzz/fuzz.h"
#include "common/common.h"
#include "common/sqltext.h"
#include "replicator/replicator_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The names searched for: plain, upper case, mixed case (only quoted
 * matches), holding a quote, non-ASCII, longer than PostgreSQL's 63 bytes
 * (cut when compared), a keyword, and empty (never matches). */
static const char *const names[] = {
    "t",
    "T",
    "Email",
    "a\"b",
    "caf\xc3\xa9",
    "a_name_that_is_longer_than_the_sixty_three_bytes_postgres_keeps_xx",
    "concurrently",
    "",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* Statements looked at one by one; a text may hold more. */
#define MAX_STMTS 16

static void rewrite(const char *sql, size_t len, const char *schema,
                    const char *table, const char *new_schema,
                    const char *new_table)
{
    struct cdc_err err;
    cdc_err_clear(&err);
    cdc_buf_reset(&out);
    (void)cdc_sql_rewrite_table(sql, len, schema, table, new_schema, new_table,
                                &out, &err);
}

static void fuzz_text(const char *sql, size_t len)
{
    struct cdc_sql_stmt st[MAX_STMTS];
    char tag[64];

    size_t n = cdc_sql_split(sql, len, st, MAX_STMTS);
    (void)cdc_sql_split(sql, len, NULL, 0);
    (void)cdc_sql_tag(sql, len, tag, sizeof(tag));
    (void)cdc_sql_tag(sql, len, tag, 4);
    (void)cdc_sql_tag(sql, len, NULL, 0);
    (void)cdc_sql_no_transaction(sql, len);
    for (size_t k = 0; k < NNAMES; k++)
        (void)cdc_sql_mentions(sql, len, names[k]);
    rewrite(sql, len, "app", "t", "dst", "t2");
    for (size_t i = 0; i < n && i < MAX_STMTS; i++) {
        const char *s = sql + st[i].start;
        if (st[i].start > len || st[i].len > len - st[i].start)
            abort();
        (void)cdc_sql_tag(s, st[i].len, tag, sizeof(tag));
        (void)cdc_sql_no_transaction(s, st[i].len);
        for (size_t k = 0; k < NNAMES; k++)
            (void)cdc_sql_mentions(s, st[i].len, names[k]);
        rewrite(s, st[i].len, "app", "t", "dst", "t2");
        rewrite(s, st[i].len, "public", "users", "crm", "Users \"x\"");
    }
}

static void fuzz_message(const char *msg, size_t len)
{
    struct source__pg_ddl_tx tx;
    source__pg_ddl_tx_reset(&tx);
    for (int i = 0; i < 3; i++) {
        struct cdc_event ev;
        struct cdc_err err;
        memset(&ev, 0, sizeof(ev));
        ev.position = "0/16B3748";
        cdc_err_clear(&err);
        if (source__pg_ddl_decode(&tx, msg, len, &ev, &arena, &err) != CDC_OK)
            break;
        rewrite(ev.ddl, strlen(ev.ddl), ev.schema, ev.table, "dst", "t2");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_text((const char *)data, size);
    fuzz_message((const char *)data, size);
    cdc_arena_reset(&arena);
    return 0;
}

/*
 * fuzz_mysql_stmt.c: libFuzzer target of the classifier of the statements
 * of binlog QUERY events (source__my_stmt_parse, replicator/mysql_ddl.c).
 * The first byte picks the default database (bits 0-1: NULL, "", "app" or
 * a UTF-8 name); the rest is the statement, copied into an allocation of
 * exactly its size so that a read past it is caught. The result must hang
 * together: a change of tables names at least one, everything else none,
 * and every name is a string. The arena is reset after each input.
 */
#include "tests/fuzz/fuzz.h"
#include "replicator/mysql_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const DEFAULT_DBS[4] = {NULL, "", "app",
                                           "d\xc3\xa9p\xc3\xb4t"};

static void check(const struct source__my_stmt *st)
{
    bool tables =
        st->kind == SOURCE_MY_STMT_DDL || st->kind == SOURCE_MY_STMT_TRUNCATE;
    if (st->ntables > SOURCE_MY_STMT_TABLES_MAX)
        abort();
    if (tables != (st->ntables > 0) || tables != (st->tag != NULL))
        abort();
    if (st->more && st->ntables != SOURCE_MY_STMT_TABLES_MAX)
        abort();
    if (!tables && (st->more || st->temporary))
        abort();
    for (size_t i = 0; i < st->ntables; i++) {
        if (st->tables[i].schema == NULL || st->tables[i].name == NULL)
            abort();
        /* read them whole */
        if (strlen(st->tables[i].name) == 0)
            abort();
        (void)strlen(st->tables[i].schema);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *db = DEFAULT_DBS[data[0] & 3];
    size_t len = size - 1;
    char *sql = cdc_xmalloc(len > 0 ? len : 1);
    if (len > 0)
        memcpy(sql, data + 1, len);
    struct source__my_stmt st;
    source__my_stmt_parse(sql, len, db, &arena, &st);
    check(&st);
    cdc_free(sql);
    cdc_arena_reset(&arena);
    return 0;
}

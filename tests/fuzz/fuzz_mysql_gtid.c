/*
 * fuzz_mysql_gtid.c: libFuzzer target of MySQL GTID sets in text
 * (source__my_gtid_set_parse, replicator/mysql_gtid.c), the form a
 * source's gtid_executed, gtid_purged, Previous_gtids and a group's saved
 * position take. The input is copied into an allocation of exactly its
 * size plus the NUL. A set that is read must write back into a form that
 * reads as the same set (a subset of each other, written the same), hold
 * what is added to it and stay a subset of itself with more added.
 */
#include "tests/fuzz/fuzz.h"
#include "replicator/mysql_int.h"

#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > TEXT_MAX)
        return 0;
    char *text = cdc_xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct source__my_gtid_set a;
    struct cdc_err err;
    cdc_err_clear(&err);
    if (source__my_gtid_set_parse(text, &a, &err) != CDC_OK) {
        if (a.n != 0 || err.msg[0] == '\0')
            abort();
        cdc_free(text);
        return 0;
    }
    /* every interval the text names costs at least 2 bytes */
    char *wrote = cdc_xmalloc(size * 24 + 64);
    if (!source__my_gtid_set_format(&a, wrote, size * 24 + 64))
        abort();
    struct source__my_gtid_set b;
    if (source__my_gtid_set_parse(wrote, &b, &err) != CDC_OK)
        abort();
    if (!source__my_gtid_set_subset(&a, &b) ||
        !source__my_gtid_set_subset(&b, &a))
        abort();
    char *again = cdc_xmalloc(size * 24 + 64);
    if (!source__my_gtid_set_format(&b, again, size * 24 + 64) ||
        strcmp(wrote, again) != 0)
        abort();
    if (a.n > 0) {
        uint8_t uuid[16];
        memcpy(uuid, a.sid[0].uuid, 16);
        uint64_t g = a.sid[0].n > 0 ? a.sid[0].iv[0].hi + 1 : 1;
        if (g > (uint64_t)INT64_MAX)
            g = 1;
        source__my_gtid_set_add(&b, uuid, g);
        if (!source__my_gtid_set_has(&b, uuid, g) ||
            !source__my_gtid_set_subset(&a, &b))
            abort();
    }
    cdc_free(again);
    cdc_free(wrote);
    cdc_free(text);
    source__my_gtid_set_free(&a);
    source__my_gtid_set_free(&b);
    return 0;
}

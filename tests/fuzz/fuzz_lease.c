/*
 * fuzz_lease.c: libFuzzer target of a worker's lease value
 * (cdc_lease_parse, common/lease.c), which anyone who can write to the
 * group's state bucket could have written. The input goes as it is, with
 * its length. What reads must write into a value that reads again and
 * writes the same text: the written form is a fixed point.
 */
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cdc_lease_holder a;
    struct cdc_lease_holder b;
    char first[640];
    char second[640];
    if (!cdc_lease_parse(data, size, &a))
        return 0;
    int n = cdc_lease_format(&a, first, sizeof(first));
    if (n <= 0 || !cdc_lease_parse(first, (size_t)n, &b))
        abort();
    int m = cdc_lease_format(&b, second, sizeof(second));
    if (m != n || memcmp(first, second, (size_t)n) != 0)
        abort();
    if (a.pid != b.pid || a.start != b.start || a.ttl_ms != b.ttl_ms ||
        a.released != b.released)
        abort();
    return 0;
}

/*
 * fuzz.h: what the fuzz targets share: the libFuzzer entry points'
 * declarations, and a scratch arena and buffer made once per process
 * (each target resets them after every input).
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include "common/common.h"

#include <stdint.h>

static struct cdc_arena arena;
static struct cdc_buf out;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cdc_arena_init(&arena);
    cdc_buf_init(&out, 0);
    return 0;
}

#endif

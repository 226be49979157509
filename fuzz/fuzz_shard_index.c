/* libFuzzer target: a sharded checkpoint directory. The input is split at
 * the first 0xFF byte: the part before is model.safetensors.index.json, the
 * part after is written as shard "s.safetensors"; then sc_checkpoint_open
 * runs on the directory. Files go to a private temporary directory. */
#include "io/checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const uint8_t *d, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sc_fuzz_index_XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t n1 = sep ? (size_t)(sep - data) : size;
    write_file("model.safetensors.index.json", data, n1);
    if (sep) write_file("s.safetensors", sep + 1, size - n1 - 1);
    else write_file("s.safetensors", (const uint8_t *)"", 0);
    sc_checkpoint *ck = NULL;
    sc_error err;
    if (sc_checkpoint_open(dir, -1, &ck, &err) == SC_OK) {
        for (size_t i = 0; i < sc_checkpoint_count(ck); i++)
            sc_checkpoint_find(ck, sc_checkpoint_at(ck, i)->name);
    }
    sc_checkpoint_close(ck);
    return 0;
}

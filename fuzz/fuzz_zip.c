/* libFuzzer target: the zip directory reader; every entry's bytes are read. */
#include "io/zip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    sc_zip z;
    sc_error err;
    if (sc_zip_open(copy, size, "fuzz.zip", &z, &err) == SC_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < z.n; i++) {
            const sc_zip_entry *e = &z.entries[i];
            for (size_t k = 0; k < e->name_len; k++) sink ^= (uint8_t)e->name[k];
            for (size_t k = 0; k < e->size; k++) sink ^= copy[e->data_offset + k];
            sc_zip_find(&z, e->name, e->name_len);
        }
        (void)sink;
    }
    sc_zip_close(&z);
    free(copy);
    return 0;
}

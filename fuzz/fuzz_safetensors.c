/* libFuzzer target: a whole safetensors file; every entry's data is read
 * so that a view outside the buffer is caught by ASan. */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a heap copy of exactly `size` bytes, so ASan sees reads past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    sc_tensor_list *l = NULL;
    sc_error err;
    if (sc_safetensors_parse(copy, size, "fuzz.safetensors", &l, &err) == SC_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
            const sc_tensor_entry *e = sc_tensor_list_at(l, i);
            const uint8_t *p = e->view.data;
            for (size_t k = 0; k < e->nbytes; k++) sink ^= p[k];
            sc_tensor_list_find(l, e->name);
        }
        (void)sink;
    }
    sc_tensor_list_free(l);
    free(copy);
    return 0;
}

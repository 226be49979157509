/* libFuzzer target: the safetensors buffer parser (header length, JSON
 * header, record validation, overlap check, misaligned copies). Every
 * accepted list is walked so its views are read. */
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_tensor_list *l = NULL;
    sc_error err;
    if (sc_safetensors_parse(data, size, "fuzz.safetensors", &l, &err) != SC_OK) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
        const sc_tensor_entry *e = sc_tensor_list_at(l, i);
        if (sc_tensor_list_find(l, e->name) != e) __builtin_trap();
        if (e->nbytes) sink ^= ((const uint8_t *)e->view.data)[e->nbytes - 1];
    }
    (void)sink;
    sc_tensor_list_free(l);
    return 0;
}

/* libFuzzer target: a torch zip checkpoint (zip + restricted unpickler).
 * Inputs that are a bare pickle are also wrapped into a one-entry stored
 * zip as archive/data.pkl next to a small archive/data/0, so the fuzzer
 * reaches the unpickler without having to discover the zip format. */
#include "io/torchbin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t put(uint8_t *p, uint64_t v, int k) {
    for (int i = 0; i < k; i++) p[i] = (uint8_t)(v >> (8 * i));
    return (size_t)k;
}

/* stored zip of two entries; returns its size */
static size_t wrap(uint8_t *out, const uint8_t *pkl, size_t n) {
    static const uint8_t storage[64];
    const char *names[2] = {"archive/data.pkl", "archive/data/0"};
    const uint8_t *datas[2] = {pkl, storage};
    size_t sizes[2] = {n, sizeof storage}, offs[2], o = 0;
    for (int i = 0; i < 2; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = o;
        o += put(out + o, 0x04034b50, 4);
        o += put(out + o, 20, 2);
        o += put(out + o, 0, 2);
        o += put(out + o, 0, 2);
        o += put(out + o, 0, 4);
        o += put(out + o, 0, 4);
        o += put(out + o, sizes[i], 4);
        o += put(out + o, sizes[i], 4);
        o += put(out + o, nl, 2);
        o += put(out + o, 0, 2);
        memcpy(out + o, names[i], nl);
        o += nl;
        memcpy(out + o, datas[i], sizes[i]);
        o += sizes[i];
    }
    size_t cd = o;
    for (int i = 0; i < 2; i++) {
        size_t nl = strlen(names[i]);
        o += put(out + o, 0x02014b50, 4);
        o += put(out + o, 20, 2);
        o += put(out + o, 20, 2);
        o += put(out + o, 0, 2);
        o += put(out + o, 0, 2);
        o += put(out + o, 0, 4);
        o += put(out + o, 0, 4);
        o += put(out + o, sizes[i], 4);
        o += put(out + o, sizes[i], 4);
        o += put(out + o, nl, 2);
        o += put(out + o, 0, 6);
        o += put(out + o, 0, 4);
        o += put(out + o, 0, 4);
        o += put(out + o, offs[i], 4);
        memcpy(out + o, names[i], nl);
        o += nl;
    }
    size_t cd_size = o - cd;
    o += put(out + o, 0x06054b50, 4);
    o += put(out + o, 0, 4);
    o += put(out + o, 2, 2);
    o += put(out + o, 2, 2);
    o += put(out + o, cd_size, 4);
    o += put(out + o, cd, 4);
    o += put(out + o, 0, 2);
    return o;
}

static void parse(const uint8_t *buf, size_t n) {
    sc_tensor_list *l = NULL;
    sc_error err;
    if (sc_torchbin_parse(buf, n, "fuzz.bin", &l, &err) == SC_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
            const sc_tensor_entry *e = sc_tensor_list_at(l, i);
            const uint8_t *p = e->view.data;
            for (size_t k = 0; k < e->nbytes; k++) sink ^= p[k];
        }
        (void)sink;
    }
    sc_tensor_list_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    parse(copy, size);
    free(copy);
    if (size < (1u << 20) && (size == 0 || data[0] == 0x80)) {
        uint8_t *z = malloc(size + 512);
        if (!z) return 0;
        size_t n = wrap(z, data, size);
        uint8_t *exact = malloc(n);
        if (exact) {
            memcpy(exact, z, n);
            parse(exact, n);
        }
        free(exact);
        free(z);
    }
    return 0;
}

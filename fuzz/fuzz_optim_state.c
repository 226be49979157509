/* libFuzzer target: the optimizer-state reader (sc_optim_load_buffer) on
 * arbitrary bytes, into an AdamW and an Adafactor (with first moment)
 * optimizer over a fixed set of parameters (a matrix, a vector, a 3-dim
 * tensor). Anything accepted is stepped once, so state that passed the
 * validation but would misbehave is exercised too. */
#include "train/optim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const sc_optim_tensor TS[3] = {{"enc.w", 2, {3, 5}, false}, {"enc.ln", 1, {5}, true},
                                      {"dec.e", 3, {2, 3, 4}, false}};

static void try_kind(sc_optim_kind kind, const uint8_t *data, size_t size) {
    sc_optim_params p = sc_optim_default_params(kind);
    if (kind == SC_OPTIM_ADAFACTOR) {
        p.adafactor.use_beta1 = true;
        p.adafactor.beta1 = 0.9;
    }
    sc_optim *o = NULL;
    sc_error err;
    if (sc_optim_new(&p, TS, 3, &o, &err) != SC_OK) return;
    if (sc_optim_load_buffer(o, data, size, "fuzz.safetensors", &err) == SC_OK) {
        float w[24] = {0}, g[24];
        for (int i = 0; i < 24; i++) g[i] = 0.01f * (float)i;
        for (size_t i = 0; i < 3; i++) sc_optim_step_tensor(o, i, w, g, 1e-3, NULL, &err);
    }
    sc_optim_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a heap copy of exactly `size` bytes, so ASan sees reads past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    try_kind(SC_OPTIM_ADAMW, copy, size);
    try_kind(SC_OPTIM_ADAFACTOR, copy, size);
    free(copy);
    return 0;
}

/* Expert store, all-resident version: every expert's views point into the
 * mapped checkpoint (or into its own converted buffers), so "fetching" an
 * expert is a lookup. */
#include "model/expert_store.h"
#include "core/checked.h"
#include "core/error.h"
#include "model/model.h"
#include "model/weights_convert.h"

#include <stdio.h>
#include <stdlib.h>

struct sc_expert_store {
    int64_t n_layers, n_experts;
    sc_ffn_weights *w; /* [n_layers * n_experts] */
    sc_owned_list owned; /* converted expert buffers */
};

sc_status sc_expert_store_new(int64_t n_layers, int64_t n_experts, sc_expert_store **out,
                              sc_error *err) {
    size_t n;
    if (n_layers < 0 || n_experts < 0 || !sc_mul_size((size_t)n_layers, (size_t)n_experts, &n))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "expert store: %lld x %lld experts is too many",
                       (long long)n_layers, (long long)n_experts);
    sc_expert_store *s = calloc(1, sizeof *s);
    sc_ffn_weights *w = n ? calloc(n, sizeof *w) : NULL;
    if (!s || (n && !w)) {
        free(s);
        free(w);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "expert store: out of memory");
    }
    s->n_layers = n_layers;
    s->n_experts = n_experts;
    s->w = w;
    *out = s;
    return SC_OK;
}

void sc_expert_store_free(sc_expert_store *s) {
    if (!s) return;
    sc_owned_list_free(&s->owned);
    free(s->w);
    free(s);
}

void sc_expert_store_set(sc_expert_store *s, int64_t layer, int64_t e, const sc_ffn_weights *w) {
    s->w[layer * s->n_experts + e] = *w;
}

const sc_ffn_weights *sc_expert_store_get(const sc_expert_store *s, int64_t layer, int64_t e) {
    return &s->w[layer * s->n_experts + e];
}

sc_status sc_expert_store_convert(sc_expert_store *s, int64_t layer, int64_t e, sc_dtype to,
                                  const sc_kernels *k, sc_error *err) {
    sc_ffn_weights *w = &s->w[layer * s->n_experts + e];
    sc_tensor *mats[3] = {&w->wi, &w->wi1, &w->wo};
    for (int i = 0; i < 3; i++) {
        if (!mats[i]->data) continue;
        char name[96];
        snprintf(name, sizeof name, "sparse layer %lld expert %lld matrix %d", (long long)layer,
                 (long long)e, i);
        void *owned;
        sc_tensor conv;
        sc_status st = sc_weights_convert(&conv, &owned, mats[i], to, k, name, err);
        if (st) return st;
        size_t bytes = 0;
        if (owned) sc_weights_converted_bytes(conv.shape[0], conv.shape[1], to, &bytes);
        if ((st = sc_owned_push(&s->owned, owned, bytes, err))) return st;
        *mats[i] = conv;
    }
    return SC_OK;
}

size_t sc_expert_store_owned_bytes(const sc_expert_store *s) { return s ? s->owned.bytes : 0; }

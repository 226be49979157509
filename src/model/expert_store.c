/* Expert store, all-resident version: every expert's views point into the
 * mapped checkpoint, so "fetching" an expert is a lookup. */
#include "model/expert_store.h"
#include "core/checked.h"
#include "core/error.h"
#include "model/model.h"

#include <stdlib.h>

struct sc_expert_store {
    int64_t n_layers, n_experts;
    sc_ffn_weights *w; /* [n_layers * n_experts] */
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
    free(s->w);
    free(s);
}

void sc_expert_store_set(sc_expert_store *s, int64_t layer, int64_t e, const sc_ffn_weights *w) {
    s->w[layer * s->n_experts + e] = *w;
}

const sc_ffn_weights *sc_expert_store_get(const sc_expert_store *s, int64_t layer, int64_t e) {
    return &s->w[layer * s->n_experts + e];
}

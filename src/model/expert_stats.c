/* Per-session expert statistics; see expert_stats.h. Counting happens in
 * moe.c (tokens, drops) and expert_store.c (residency). */
#include "model/expert_stats.h"
#include "core/checked.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

sc_status sc_expert_stats_init(sc_expert_stats *st, int64_t n_layers, int64_t n_experts, sc_error *err) {
    memset(st, 0, sizeof *st);
    size_t n;
    if (n_layers < 0 || n_experts < 0 || !sc_mul_size((size_t)n_layers, (size_t)n_experts, &n))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "expert stats: too many experts");
    st->layers = n_layers ? calloc((size_t)n_layers, sizeof *st->layers) : NULL;
    st->counts = n ? calloc(n, sizeof *st->counts) : NULL;
    if ((n_layers && !st->layers) || (n && !st->counts)) {
        sc_expert_stats_free(st);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "expert stats: out of memory");
    }
    st->n_layers = n_layers;
    st->n_experts = n_experts;
    for (int64_t l = 0; l < n_layers; l++) {
        st->layers[l].n_experts = n_experts;
        st->layers[l].tokens_per_expert = st->counts + l * n_experts;
    }
    return SC_OK;
}

void sc_expert_stats_free(sc_expert_stats *st) {
    if (!st) return;
    free(st->layers);
    free(st->counts);
    memset(st, 0, sizeof *st);
}

void sc_expert_stats_reset(sc_expert_stats *st) {
    if (!st) return;
    for (int64_t l = 0; l < st->n_layers; l++) {
        sc_expert_layer_stats *s = &st->layers[l];
        s->tokens = s->dropped = s->hits = s->misses = s->evictions = s->bytes_read = 0;
    }
    if (st->counts) memset(st->counts, 0, (size_t)(st->n_layers * st->n_experts) * sizeof *st->counts);
}

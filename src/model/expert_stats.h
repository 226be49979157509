/* Per-session expert statistics, one record per sparse layer (the layer's
 * index in the expert store): tokens routed to each expert, tokens dropped by
 * capacity, expert cache hits/misses, bytes made resident, evictions. The MoE
 * layer and the expert store count into the session's record; the public
 * struct is sc_expert_layer_stats (switchc.h). */
#ifndef SC_MODEL_EXPERT_STATS_H
#define SC_MODEL_EXPERT_STATS_H

#include "switchc.h"

typedef struct sc_expert_stats {
    int64_t n_layers, n_experts;
    sc_expert_layer_stats *layers; /* [n_layers]; tokens_per_expert points into counts */
    uint64_t *counts;              /* [n_layers * n_experts] */
} sc_expert_stats;

/* Zeroed stats for n_layers x n_experts. */
sc_status sc_expert_stats_init(sc_expert_stats *st, int64_t n_layers, int64_t n_experts, sc_error *err);
void sc_expert_stats_free(sc_expert_stats *st);
/* Zeroes every counter; keeps the layers' names (decoder, block). */
void sc_expert_stats_reset(sc_expert_stats *st);

#endif

/* The sparse FF layer (HF SwitchTransformersSparseMLP with its Top1Router):
 * route -> capacity -> dispatch -> grouped expert GEMMs -> combine.
 * N = rows * T tokens, E experts, D d_model, F d_ff. */
#ifndef SC_MODEL_MOE_H
#define SC_MODEL_MOE_H

#include "model/expert_stats.h"
#include "model/model.h"
#include "model/workspace.h"

/* Router decisions of one call, for tracing and the router losses. */
typedef struct sc_route_info {
    float *logits;        /* [N, E] router logits */
    int32_t *expert;      /* [N] HF expert_index: top-1 expert, 0 when dropped */
    int32_t *kept;        /* [N] 1 dispatched, 0 dropped by capacity */
    float *prob_max;      /* [N] top-1 router probability */
} sc_route_info;

/* Top-1 routing with the capacity rule: capacity is counted per row over its
 * T positions in order; a token is kept iff its rank for its expert is
 * <= capacity (HF 4.x cumsum rule), or always under SC_DROP_NONE.
 * logits must already hold the router logits [rows*T, E]. */
void sc_route_top1(const float *logits, int64_t rows, int64_t T, int64_t E, int64_t capacity,
                   sc_drop_policy policy, int32_t *expert_hf, int32_t *kept, int32_t *top1,
                   float *prob_max, int64_t *counts /* [E] scratch */);

/* out[N, D] = the sparse FF output for normed input x[N, D] (without the
 * residual). If info is not NULL its arrays receive the router decisions;
 * stats (may be NULL) counts tokens, drops and expert residency. */
sc_status sc_moe_forward(const sc_model *m, const sc_block_weights *b, const float *x,
                         int64_t rows, int64_t T, sc_drop_policy policy, float *out,
                         sc_workspace *ws, sc_pool *pool, const sc_route_info *info,
                         sc_expert_stats *stats, sc_error *err);

/* out[N, D] = wo(act(wi(x))) (gated: wo(act(wi_0 x) * wi_1 x)), the dense FF
 * and the expert computation; h/h1 are [N, F] scratch. */
void sc_ffn_forward(const sc_model *m, const sc_ffn_weights *w, const float *x, int64_t N,
                    float *out, float *h, float *h1, sc_pool *pool);

#endif

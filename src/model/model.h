/* The model: config, weight views bound through the HF name table, the
 * kernels table and the context (the thread pool). Immutable after sc_model_load; shared
 * by every session.
 *
 * Dimension letters: D d_model, I num_heads*d_kv (attention inner size),
 * F d_ff, V vocab, E experts, R relative-attention buckets, H heads. */
#ifndef SC_MODEL_MODEL_H
#define SC_MODEL_MODEL_H

#include "io/checkpoint.h"
#include "io/config.h"
#include "kernels/kernels.h"
#include "model/expert_store.h"
#include "model/weights_convert.h"

typedef struct sc_attn_weights {
    sc_tensor q, k, v; /* [I, D] */
    sc_tensor o;       /* [D, I] */
} sc_attn_weights;

typedef struct sc_ffn_weights {
    sc_tensor wi;  /* [F, D] (wi, or wi_0 when gated) */
    sc_tensor wi1; /* [F, D] gated only: the linear branch wi_1; data NULL otherwise */
    sc_tensor wo;  /* [D, F] */
} sc_ffn_weights;

typedef struct sc_block_weights {
    const float *ln_self;      /* [D] layer.0.layer_norm */
    sc_attn_weights self;
    const float *ln_cross;     /* [D] decoder layer.1.layer_norm */
    sc_attn_weights cross;     /* decoder only */
    const float *ln_ff;        /* [D] */
    bool sparse;
    sc_ffn_weights ff;         /* dense blocks */
    const float *router_w;     /* [E, D] fp32, sparse blocks */
    const float *router_b;     /* [E] or NULL */
    int64_t moe_index;         /* this sparse layer's index in the expert store */
} sc_block_weights;

typedef struct sc_stack_weights {
    bool decoder;
    int64_t n_blocks;
    sc_block_weights *blocks;  /* [n_blocks] */
    const float *rel_bias;     /* [R, H] from block 0, reused by every block */
    const float *final_ln;     /* [D] */
} sc_stack_weights;

struct sc_model {
    sc_config cfg;
    sc_generation_config gen;
    sc_model_params params;
    char *dir;
    sc_checkpoint *ck;          /* owns the mapped files the views point into */
    sc_tensor shared;           /* [V, D] */
    sc_tensor lm_head;          /* [V, D] (= shared when tied) */
    float lm_scale;             /* d_model^-0.5 when tied (HF), else 1 */
    sc_stack_weights enc, dec;
    sc_expert_store *experts;
    const sc_kernels *kern;
    float *f32_copies;          /* owned fp32 copies (norms, router, bias) */
    sc_owned_list converted;    /* owned matrices converted to params.dtype (experts: in the store) */
    size_t n_unexpected;        /* checkpoint tensors not in the name table */
    sc_context *ctx;            /* the pool the sessions share (a reference) */
};

/* sc_model_load with the tensors of `ck` (taken: closed with the model, or
 * on failure) in place of the directory's weight files; config.json and
 * generation_config.json still come from `dir`. For a model over tensors in
 * memory (sc_checkpoint_from_list), e.g. a trainer's parameters: matrices
 * stored as F32 are used in place, so they must outlive the model; norms,
 * routers and the position bias are copied at load. */
sc_status sc_model_load_checkpoint(const char *dir, sc_checkpoint *ck, const sc_model_params *params,
                                   sc_model **out, sc_error *err);

#endif

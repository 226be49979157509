/* The one table that maps Hugging Face Switch Transformers state-dict names
 * to the model's weights. Every loader binds through it, and every writer
 * (convert, init, training checkpoints) names tensors through it, so the
 * schema lives in exactly one place.
 *
 * Dimension letters: D d_model, I num_heads*d_kv, F d_ff, V vocab, E experts,
 * R relative-attention buckets, H heads. */
#ifndef SC_MODEL_HF_NAMES_H
#define SC_MODEL_HF_NAMES_H

#include "io/config.h"

typedef enum sc_weight_kind {
    SC_W_SHARED,       /* shared.weight                         [V, D] */
    SC_W_LM_HEAD,      /* lm_head.weight (untied models only)   [V, D] */
    SC_W_FINAL_LN,     /* {S}.final_layer_norm.weight           [D]    */
    SC_W_REL_BIAS,     /* {S}.block.0...relative_attention_bias [R, H] */
    SC_W_SA_LN,        /* {S}.block.{b}.layer.0.layer_norm      [D]    */
    SC_W_SA_Q,         /* ...SelfAttention.q.weight             [I, D] */
    SC_W_SA_K,
    SC_W_SA_V,
    SC_W_SA_O,         /* ...SelfAttention.o.weight             [D, I] */
    SC_W_CA_LN,        /* decoder: layer.1.layer_norm           [D]    */
    SC_W_CA_Q,         /* decoder: layer.1.EncDecAttention.q    [I, D] */
    SC_W_CA_K,
    SC_W_CA_V,
    SC_W_CA_O,         /*                                        [D, I] */
    SC_W_FF_LN,        /* layer.{1|2}.layer_norm                [D]    */
    SC_W_FF_WI,        /* dense: mlp.wi.weight                  [F, D] */
    SC_W_FF_WI0,       /* dense gated: mlp.wi_0.weight          [F, D] */
    SC_W_FF_WI1,       /* dense gated: mlp.wi_1.weight          [F, D] */
    SC_W_FF_WO,        /* dense: mlp.wo.weight                  [D, F] */
    SC_W_ROUTER_W,     /* sparse: mlp.router.classifier.weight  [E, D] */
    SC_W_ROUTER_B,     /* sparse, router_bias: ...classifier.bias [E]  */
    SC_W_EXPERT_WI,    /* sparse: mlp.experts.expert_{e}.wi     [F, D] */
    SC_W_EXPERT_WI0,   /* sparse gated: ...wi_0                 [F, D] */
    SC_W_EXPERT_WI1,   /* sparse gated: ...wi_1                 [F, D] */
    SC_W_EXPERT_WO,    /*                                        [D, F] */
    SC_W_KIND_COUNT
} sc_weight_kind;

/* One expected tensor of a checkpoint. */
typedef struct sc_weight_ref {
    sc_weight_kind kind;
    int decoder;     /* 0 encoder, 1 decoder (unused for shared/lm_head) */
    int64_t block;   /* -1 when not per block */
    int64_t expert;  /* -1 when not per expert */
    int ndim;
    int64_t shape[2];
} sc_weight_ref;

/* Writes the HF name of `ref` into buf (cap bytes); false if it does not fit. */
bool sc_hf_name(const sc_weight_ref *ref, char *buf, size_t cap);

/* Calls fn for every tensor a checkpoint of config c must hold, in a stable
 * order (embeddings, then encoder blocks, then decoder blocks). Stops and
 * returns false as soon as fn returns false. */
bool sc_hf_for_each(const sc_config *c, bool (*fn)(void *ctx, const sc_weight_ref *ref), void *ctx);

/* Names that a .bin state dict may hold besides the expected ones (tied
 * aliases of shared.weight); binding ignores them silently. */
bool sc_hf_is_alias(const sc_config *c, const char *name);

#endif

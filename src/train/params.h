/* The trainable parameter set of a Switch Transformers model: every entry of
 * Hugging Face's `model.named_parameters()`, in that order and under those
 * names (shared.weight; encoder blocks; encoder.final_layer_norm; decoder
 * blocks; decoder.final_layer_norm; lm_head.weight only when untied), each an
 * owned fp32 copy of the weight beside a same-shaped fp32 gradient.
 *
 * This is the trainer's mutable copy: the immutable sc_model is never
 * touched. Optimizer state lives elsewhere. Tied aliases
 * (encoder/decoder.embed_tokens, a tied lm_head) are not separate entries:
 * their gradients all land in shared.weight, as in PyTorch.
 *
 * Left out: gated feed-forward layers (SwitchTransformers has only the
 * DenseActDense FF; a gated config is refused), writing back to disk (see
 * model/model_write.h). */
#ifndef SC_TRAIN_PARAMS_H
#define SC_TRAIN_PARAMS_H

#include "io/config.h"
#include "model/hf_names.h"

/* One parameter tensor. */
typedef struct sc_train_param {
    char name[160];    /* HF name, e.g. "encoder.block.0.layer.0.SelfAttention.q.weight" */
    sc_weight_ref ref; /* kind, stack, block, expert, shape */
    int ndim;          /* 1 or 2 */
    int64_t shape[2];
    size_t numel;
    float *w; /* [numel] the weight (owned) */
    float *g; /* [numel] its gradient (owned, zeroed at creation) */
} sc_train_param;

/* Indices into sc_train_params.p of one block's tensors (-1: absent). */
typedef struct sc_train_block_idx {
    int sa_q, sa_k, sa_v, sa_o, sa_ln;
    int ca_q, ca_k, ca_v, ca_o, ca_ln; /* decoder only */
    int ff_ln;
    bool sparse;
    int ff_wi, ff_wo;       /* dense FF */
    int router_w, router_b; /* sparse FF (router_b -1 without router_bias) */
    int *ex_wi, *ex_wo;     /* sparse FF: [num_experts] each */
} sc_train_block_idx;

typedef struct sc_train_params {
    sc_config cfg;
    size_t count;                  /* number of parameter tensors */
    sc_train_param *p;             /* [count], HF named_parameters() order */
    int shared;                    /* shared.weight */
    int lm_head;                   /* lm_head.weight, -1 when tied */
    int rel_bias[2];               /* relative attention bias of block 0, encoder/decoder */
    int final_ln[2];               /* final_layer_norm, encoder/decoder */
    int64_t n_blocks[2];           /* encoder / decoder block counts */
    sc_train_block_idx *blocks[2]; /* [n_blocks[s]] */
} sc_train_params;

/* Reads config.json and the checkpoint in `dir` (any format io/checkpoint.h
 * opens; f32, f16 or bf16 tensors, widened to fp32) into a new parameter
 * set with zero gradients. Errors name the tensor (missing, wrong shape,
 * non-float dtype) or the config key. */
sc_status sc_train_params_load(const char *dir, sc_train_params **out, sc_error *err);

/* A parameter set for config `c` with every weight zero (tests and `init`
 * style callers fill the weights). */
sc_status sc_train_params_new(const sc_config *c, sc_train_params **out, sc_error *err);

/* NULL is a no-op. */
void sc_train_params_free(sc_train_params *tp);

/* Sets every gradient to zero. */
void sc_train_params_zero_grad(sc_train_params *tp);

/* The parameter named `name`, or NULL. */
sc_train_param *sc_train_params_find(sc_train_params *tp, const char *name);

/* Total number of scalar parameters. */
size_t sc_train_params_numel(const sc_train_params *tp);

#endif

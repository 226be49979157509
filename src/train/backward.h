/* The training forward and backward of a Switch Transformers model over a
 * trainable parameter set (train/params.h), reference path, faithful to
 * Hugging Face transformers 4.41.2 in train() mode:
 *
 *   loss = CE(mean over labels != -100)
 *        + router_z_loss_coef   * (encoder_z + decoder_z)
 *        + router_aux_loss_coef * (encoder_aux + decoder_aux)
 *
 * where a stack's z / aux losses are 0 (and give no gradient) when its
 * sparse step is <= 1 (HF's `encoder_sparse_step > 1` test) or it has no
 * sparse block; both run over ALL positions, padding included, with the
 * stack's sparse blocks concatenated along the sequence; aux counts a
 * capacity-dropped token as expert 0 and its expert-fraction factor is a
 * constant (no gradient).
 *
 * sc_train_forward runs the model and returns a tape holding what the
 * backward needs (every op's inputs, softmax probabilities, dropout masks,
 * jitter multipliers, router choices); sc_train_backward accumulates the
 * gradient of a weighted loss into the parameters' gradients. The tape keeps
 * a pointer to the parameters: they must not change between the two calls.
 *
 * Dropout (rate p, inverted scaling 1/(1-p)) is applied, as in HF 4.41.2
 * SwitchTransformers, at: the embedding output of each stack; the attention
 * probabilities after the softmax (self and cross); the output of every
 * self-attention, cross-attention and feed-forward sub-layer before its
 * residual add; the hidden layer of every DenseActDense (dense FF and each
 * expert) after the activation; the output of each stack's final RMSNorm.
 * Router jitter multiplies the sparse layer's input in place (train_moe.h).
 * Both draw from one generator seeded by the caller, in forward order; both
 * are off by default, which makes the forward equal to the eval forward.
 *
 * Every op runs either as its plain-C reference (the default) or through
 * the fast path of train/train_fast.h (opts.fast: the kernels table and a
 * thread pool); the walk through the model is the same for both.
 *
 * Left out: a preplanned arena (every buffer here is its own allocation),
 * bf16/f16 compute, gated FF. */
#ifndef SC_TRAIN_BACKWARD_H
#define SC_TRAIN_BACKWARD_H

#include "core/pool.h"
#include "train/params.h"
#include "train/train_moe.h"

/* The inputs of one step. */
typedef struct sc_train_batch {
    const int32_t *input_ids;         /* [B,S] */
    const int32_t *attention_mask;    /* [B,S] 1 = token, 0 = padding; NULL = all ones */
    const int32_t *labels;            /* [B,T] -100 = ignored; NULL only with decoder_input_ids
                                         (then there is no CE term) */
    const int32_t *decoder_input_ids; /* [B,T]; NULL = HF shift_right(labels):
                                         [decoder_start, labels[:-1]] with -100 -> pad */
    int64_t B, S, T;
} sc_train_batch;

/* How the forward runs. */
typedef struct sc_train_opts {
    double dropout_rate;        /* 0 (default): no dropout. A trainer passes config dropout_rate. */
    double router_jitter;       /* 0 (default): no jitter. A trainer passes router_jitter_noise. */
    uint64_t seed;              /* seeds the generator of dropout masks and jitter */
    sc_drop_policy drop_policy; /* SC_DROP_HF4 */
    bool fast;                  /* false (default): the reference ops; true: the fast path of
                                   train/train_fast.h (kernels table, threads), same masks and
                                   draws, gradients within 3e-5 normwise of the reference */
    sc_pool *pool;              /* the fast path's threads (NULL: the calling thread); the tape
                                   keeps it for sc_train_backward, so it must outlive the tape */
} sc_train_opts;

sc_train_opts sc_train_default_opts(void);

/* The loss and its parts, as HF returns them (z / aux already 0 for a
 * stack whose sparse step is <= 1). */
typedef struct sc_train_losses {
    double loss; /* ce + z_coef*(enc_z+dec_z) + aux_coef*(enc_aux+dec_aux); NaN when ce is */
    double ce;   /* NaN without labels or when every label is -100 */
    double encoder_z, encoder_aux, decoder_z, decoder_aux;
    int64_t tokens; /* labels != -100 */
} sc_train_losses;

/* The weight of each loss term in the gradient sc_train_backward computes:
 * d(ce_w*ce + z_w*(enc_z+dec_z) + aux_w*(enc_aux+dec_aux)). The defaults are
 * (1, router_z_loss_coef, router_aux_loss_coef): the gradient of `loss`. */
typedef struct sc_train_loss_weights {
    double ce, z, aux;
} sc_train_loss_weights;

sc_train_loss_weights sc_train_default_weights(const sc_config *c);

typedef struct sc_train_tape sc_train_tape;

/* Runs the training forward. opts NULL = defaults. On success *tape owns the
 * saved activations (free with sc_train_tape_free) and *losses (may be NULL)
 * receives the loss parts. Ids must lie in [0, vocab), labels be -100 or in
 * [0, vocab), B, S, T > 0. */
sc_status sc_train_forward(const sc_train_params *tp, const sc_train_batch *batch, const sc_train_opts *opts,
                           sc_train_tape **tape, sc_train_losses *losses, sc_error *err);

/* Accumulates (+=) into tp's gradients the gradient of the weighted loss
 * (w NULL = defaults) for the forward recorded in tape. tp must be the set
 * the tape was made from, unchanged. */
sc_status sc_train_backward(sc_train_params *tp, const sc_train_tape *tape, const sc_train_loss_weights *w,
                            sc_error *err);

/* NULL is a no-op. */
void sc_train_tape_free(sc_train_tape *t);

/* Logits [B,T,V] of the forward (owned by the tape). */
const float *sc_train_tape_logits(const sc_train_tape *t, int64_t *B, int64_t *T, int64_t *V);

/* Hidden states of stack `decoder` (0 encoder, 1 decoder) as HF's
 * output_hidden_states lists them, [B,L,D]: i = 0 the embeddings (after
 * dropout), 1 <= i < n_blocks the output of block i-1, i = n_blocks the final
 * RMSNorm output (after dropout; for the encoder, what the decoder attends
 * to). NULL when i is out of range. */
const float *sc_train_tape_hidden(const sc_train_tape *t, int decoder, int64_t i);

/* How many uniforms the forward drew for dropout masks and jitter (0 with
 * both off): one per element of every dropout site listed above (an
 * expert's hidden layer only for the tokens it processed) and per element
 * of each sparse layer's input under jitter. Lets a test account for every
 * site. */
size_t sc_train_tape_random_draws(const sc_train_tape *t);

/* The router record of block `block` of a stack, NULL when it is dense. */
const sc_tr_moe_save *sc_train_tape_router(const sc_train_tape *t, int decoder, int64_t block);

#endif

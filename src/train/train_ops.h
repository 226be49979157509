/* Training ops of the reference path: each forward beside its backward,
 * plain C, fp32 storage with double accumulators in dot products and row
 * reductions (no less faithful than PyTorch's fp32 BLAS). Backward functions
 * ACCUMULATE (+=) into their gradient outputs; a NULL gradient output is
 * skipped. Single-threaded; their fast twins (kernels table, threads) are in
 * train_fast.h, and tests/test_train_fast.c compares the two.
 *
 * Dimension letters: N rows (tokens), D d_model, F d_ff, H heads, K d_kv,
 * I = H*K, B batch, Lq / Lk query / key lengths, R relative buckets,
 * V vocabulary, E experts. */
#ifndef SC_TRAIN_TRAIN_OPS_H
#define SC_TRAIN_TRAIN_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "io/config.h"           /* sc_act */

/* torch.nn.Linear without bias: out[N,O] = x[N,In] W[O,In]^T. */
void sc_tr_linear_fwd(float *out, const float *x, const float *W, int64_t N, int64_t In, int64_t O);
/* dx[N,In] += dout[N,O] W; dW[O,In] += dout^T x. */
void sc_tr_linear_bwd(float *dx, float *dW, const float *dout, const float *x, const float *W, int64_t N,
                      int64_t In, int64_t O);

/* T5 RMSNorm: out = w * (x * rsqrt(mean(x^2) + eps)), no mean, no bias;
 * rstd[N] keeps rsqrt(mean(x^2) + eps) for the backward. */
void sc_tr_rmsnorm_fwd(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t D,
                       double eps);
void sc_tr_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int64_t N, int64_t D);

/* out[n] = act(pre[n]) (relu, gelu_new tanh form, exact gelu); out may alias pre
 * in the forward. The backward needs the pre-activation. */
void sc_tr_act_fwd(float *out, const float *pre, size_t n, sc_act act);
void sc_tr_act_bwd(float *dpre, const float *dout, const float *pre, size_t n, sc_act act);

/* Inverted dropout: mask[n] = 0 with probability p, else 1/(1-p) (all 0 when
 * p >= 1). Draws n uniforms from r in index order. */
void sc_tr_dropout_mask(float *mask, size_t n, double p, sc_rng *r);
/* x[n] *= mask[n] (forward), dx[n] = dout[n] * mask[n] (backward; may alias). */
void sc_tr_mul(float *x, const float *mask, size_t n);

/* Relative position bias [H,Lq,Lk] from table[R,H]: bias[h,i,j] =
 * table[bucket(j - i), h] with HF's buckets (bidirectional in the encoder,
 * causal in the decoder). */
void sc_tr_position_bias_fwd(float *bias, const float *table, int64_t H, int64_t Lq, int64_t Lk,
                             bool bidirectional, int64_t num_buckets, int64_t max_distance);
/* dtable[R,H] += the dbias[H,Lq,Lk] entries of each bucket. */
void sc_tr_position_bias_bwd(float *dtable, const float *dbias, int64_t H, int64_t Lq, int64_t Lk,
                             bool bidirectional, int64_t num_buckets, int64_t max_distance);

/* T5 attention (no 1/sqrt(K) scaling) for B sequences: per head,
 * p = softmax(q k^T + bias + mask), ctx = (p * pd) v.
 *   q [B,Lq,I], k, v [B,Lk,I] (head h in columns h*K..h*K+K-1),
 *   bias [H,Lq,Lk] shared by the batch or NULL,
 *   kmask [B,Lk] (nonzero = attend) or NULL, causal: key j > query i masked,
 *   p [B,H,Lq,Lk] receives the softmax before dropout,
 *   pd [B,H,Lq,Lk] attention-dropout scales or NULL (none).
 * A masked key gets probability 0, as HF's finfo.min does. A query row whose
 * keys are all masked gets HF's result for that case: finfo.min swamps the
 * scores, so the row is uniform over all keys. */
void sc_tr_attention_fwd(float *ctx, float *p, const float *q, const float *k, const float *v,
                         const float *bias, const int32_t *kmask, bool causal, const float *pd, int64_t B,
                         int64_t H, int64_t Lq, int64_t Lk, int64_t K);
/* dq [B,Lq,I], dk, dv [B,Lk,I], dbias [H,Lq,Lk] += gradients of dctx [B,Lq,I]. */
void sc_tr_attention_bwd(float *dq, float *dk, float *dv, float *dbias, const float *dctx, const float *q,
                         const float *k, const float *v, const float *p, const float *pd, int64_t B,
                         int64_t H, int64_t Lq, int64_t Lk, int64_t K);

/* Cross-entropy with ignore index -100, mean over the counted rows (torch's
 * CrossEntropyLoss): returns the loss (NaN when no label counts) and sets
 * *count. When dlogits is not NULL, dlogits[N,V] += weight * dloss/dlogits. */
double sc_tr_cross_entropy(float *dlogits, const float *logits, const int32_t *labels, int64_t N, int64_t V,
                           double weight, int64_t *count);

/* softmax over the last axis of x[N,E] into p (fp32, like torch). */
void sc_tr_softmax_rows(float *p, const float *x, int64_t N, int64_t E);

#endif

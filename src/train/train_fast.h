/* The fast path of the training ops: the same ops as train_ops.h and
 * train_moe.h (same arguments, same semantics, same random draws in the same
 * order), run through the kernels table and split over a thread pool.
 *
 * Each op takes an execution choice `x`: NULL, or x->fast false, runs the
 * reference op of train_ops.c / train_moe.c unchanged, so one model walk
 * (backward.c) serves both paths and the tests compare them. With x->fast,
 *  - every GEMM goes through the kernels table's fp32 matmul
 *    (sc_kernels_exact(): y = x W^T, fp32 fused multiply-adds): the
 *    backward's dX = dY W and dW += dY^T X run as that matmul on transposed
 *    operands (train_gemm.c), with the transposes split over the pool;
 *  - attention runs one head per task (every batch row of that head, so
 *    each head's bias gradient has one writer), fp32 sums in loops the
 *    compiler vectorizes;
 *  - the sparse layer gathers each expert's kept tokens and runs one GEMM
 *    per expert (DESIGN decision 4), the experts one after another, each
 *    GEMM over the whole pool;
 *  - norms, activations, dropout products, residual adds and the
 *    cross-entropy split their rows over the pool.
 * Fidelity: fp32 sums where the reference sums in double; the gradients of
 * the whole model agree with the reference within 3e-5 normwise
 * (tests/test_train_fast.c checks 3e-5). Dropout masks and jitter are drawn
 * serially in the reference order, so the same seed gives the same masks.
 * Router logits are fp32 sums here, as in HF: a token whose two best experts
 * tie to within fp32 rounding may be routed otherwise than by the reference.
 * Out of memory for scratch makes an op fall back to its reference twin
 * (slower, same result); only the sparse layer's saved buffers can fail
 * (SC_ERR_NOMEM, as in the reference).
 *
 * Left out: a native NN / TN GEMM micro-kernel (the transposes cost one pass
 * over W and dY per call), experts run side by side, bf16 compute. */
#ifndef SC_TRAIN_TRAIN_FAST_H
#define SC_TRAIN_TRAIN_FAST_H

#include "core/pool.h"
#include "kernels/kernels.h"
#include "train/train_moe.h"
#include "train/train_ops.h"

/* How an op runs: fast (kernels table + pool) or the reference. */
typedef struct sc_trx {
    bool fast;
    sc_pool *pool;       /* NULL: the calling thread only */
    const sc_kernels *k; /* the fp32 matmul; NULL = sc_kernels_exact() */
} sc_trx;

/* Runs fn(ctx, lo, hi) over [0, n) split into at most pool-size ranges of at
 * least `grain` items (serially when n is small or pool NULL). */
void sc_trx_for(sc_pool *pool, int64_t n, int64_t grain, void (*fn)(void *ctx, int64_t lo, int64_t hi),
                void *ctx);

/* dst[C,R] = src[R,C]^T where row r of src starts at src + r*ld (ld >= C). */
void sc_trx_transpose(float *dst, const float *src, int64_t R, int64_t C, int64_t ld, sc_pool *pool);

/* GEMMs (train_gemm.c), the fast twins of sc_tr_linear_fwd / _bwd:
 * out[N,O] = x[N,In] W[O,In]^T; dx[N,In] += dout[N,O] W; dW[O,In] += dout^T x
 * (NULL dx / dW skipped). */
void sc_trx_linear_fwd(const sc_trx *x, float *out, const float *in, const float *W, int64_t N, int64_t In,
                       int64_t O);
void sc_trx_linear_bwd(const sc_trx *x, float *dx, float *dW, const float *dout, const float *in,
                       const float *W, int64_t N, int64_t In, int64_t O);
/* The two backward products alone (fast path whatever x->fast says; for the
 * kernel tests): dx[N,In] += dout[N,O] W[O,In]; dW[O,In] += dout^T in. */
void sc_trx_gemm_dx(const sc_trx *x, float *dx, const float *dout, const float *W, int64_t N, int64_t In,
                    int64_t O);
void sc_trx_gemm_dw(const sc_trx *x, float *dW, const float *dout, const float *in, int64_t N, int64_t In,
                    int64_t O);

/* Elementwise and row ops (train_fast.c). */
void sc_trx_rmsnorm_fwd(const sc_trx *x, float *out, float *rstd, const float *in, const float *w, int64_t N,
                        int64_t D, double eps);
void sc_trx_rmsnorm_bwd(const sc_trx *x, float *dx, float *dw, const float *dout, const float *in,
                        const float *w, const float *rstd, int64_t N, int64_t D);
void sc_trx_act_fwd(const sc_trx *x, float *out, const float *pre, size_t n, sc_act act);
void sc_trx_act_bwd(const sc_trx *x, float *dpre, const float *dout, const float *pre, size_t n, sc_act act);
void sc_trx_mul(const sc_trx *x, float *v, const float *mask, size_t n);
/* out[n] = a[n] + b[n] (out may alias either). */
void sc_trx_add(const sc_trx *x, float *out, const float *a, const float *b, size_t n);

void sc_trx_attention_fwd(const sc_trx *x, float *ctx, float *p, const float *q, const float *k,
                          const float *v, const float *bias, const int32_t *kmask, bool causal,
                          const float *pd, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t K);
void sc_trx_attention_bwd(const sc_trx *x, float *dq, float *dk, float *dv, float *dbias, const float *dctx,
                          const float *q, const float *k, const float *v, const float *p, const float *pd,
                          int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t K);

double sc_trx_cross_entropy(const sc_trx *x, float *dlogits, const float *logits, const int32_t *labels,
                            int64_t N, int64_t V, double weight, int64_t *count);

/* The sparse layer (train_fast.c): as sc_tr_moe_fwd / sc_tr_moe_bwd. */
sc_status sc_trx_moe_fwd(const sc_trx *x, float *out, float *in, const sc_tr_moe_weights *w, int64_t B,
                         int64_t L, int64_t D, int64_t F, int64_t E, sc_act act, int64_t capacity,
                         sc_drop_policy policy, double jitter, double dropout, sc_rng *r, sc_tr_moe_save *s,
                         sc_error *err);
sc_status sc_trx_moe_bwd(const sc_trx *x, float *dx, const sc_tr_moe_grads *g, const float *dout,
                         const float *dlogits_extra, const sc_tr_moe_weights *w, const sc_tr_moe_save *s,
                         sc_error *err);

#endif

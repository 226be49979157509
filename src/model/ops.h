/* Small row-wise ops of the T5 stack, in fp32 as HF computes them.
 * Dimension letters: N rows, D features. */
#ifndef SC_MODEL_OPS_H
#define SC_MODEL_OPS_H

#include "core/pool.h"
#include "core/tensor.h"
#include "io/config.h"

/* The ops below split large inputs over `pool` (NULL: the calling thread);
 * each value is computed the same way whatever the split. */

/* T5 RMS norm: y = w * x / sqrt(mean(x^2) + eps); no mean, no bias. y may alias x. */
void sc_rmsnorm(float *y, const float *x, const float *w, int64_t N, int64_t D, float eps, sc_pool *pool);

/* y[i] += x[i] over n values (the residual connection). */
void sc_add_inplace(float *y, const float *x, int64_t n, sc_pool *pool);

/* Rows of an embedding table (any float dtype) for ids[N] into y[N, D]. */
void sc_embed_rows(float *y, const sc_tensor *table, const int32_t *ids, int64_t N);

/* In-place activation over n values. */
void sc_activate(float *x, int64_t n, sc_act act, sc_pool *pool);

/* In-place softmax over n values; returns nothing. */
void sc_softmax(float *x, int64_t n);

#endif

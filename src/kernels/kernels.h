/* The kernels table: every numeric op of the model goes through it. The
 * table is chosen once (at model load) from the CPU's features; `kernels/ref`
 * holds the plain-C reference twin of every op, which the tests compare each
 * fast kernel with.
 *
 * Dimension letters: M rows of activations (tokens), K input features,
 * N output features. Weights use the Hugging Face nn.Linear layout W[N, K]
 * (out, in), in any dtype the tensor view carries (F32, F16, BF16, and I8
 * with per-row fp32 scales). Activations and outputs are fp32. */
#ifndef SC_KERNELS_KERNELS_H
#define SC_KERNELS_KERNELS_H

#include "core/tensor.h"

typedef struct sc_pool sc_pool; /* thread pool; NULL = run on the calling thread */

typedef struct sc_kernels {
    const char *name; /* e.g. "ref", "avx512" — shown by `switchc info` */
    /* y[M,N] = x[M,K] @ W[N,K]^T. x rows are contiguous with stride K, y with stride N. */
    void (*matmul)(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
} sc_kernels;

/* The plain-C reference table. */
const sc_kernels *sc_kernels_ref(void);
/* The best table for this CPU (falls back to ref). */
const sc_kernels *sc_kernels_best(void);

/* Reference ops (also used directly by tests). */
void sc_matmul_ref(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);

#endif

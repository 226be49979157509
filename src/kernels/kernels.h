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

#include <stdbool.h>
#include <stddef.h>

typedef struct sc_pool sc_pool; /* thread pool; NULL = run on the calling thread */

typedef struct sc_kernels {
    const char *name; /* e.g. "ref", "avx512" — shown by `switchc info` */
    /* y[M,N] = x[M,K] @ W[N,K]^T. x rows are contiguous with stride K, y with stride N.
     * Work is split over `pool` (NULL: the calling thread). y must not alias x or W.
     * Row invariance: for F32 and I8 weights, in every table, y[m,:] depends only on
     * x[m,:] and W, bit for bit, never on M, on the other rows or on the pool (the
     * order of each sum is fixed by K; docs/batching.md). BF16/F16 weights get that
     * only from the reference table. */
    void (*matmul)(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
    /* Optional (NULL if the table has none): y_p[M,N] = x[M,K] @ W_p[N,K]^T
     * for p < n (n <= 3, e.g. attention's q, k, v; every W_p of one dtype
     * and shape) in one call that prepares x once. Returns false, nothing
     * written, when it does not take the call; the caller then runs n
     * matmul calls, which give the same y_p bit for bit. */
    bool (*matmul_n)(float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                     sc_pool *pool);
    /* Optional (NULL if the table has none): the relu FF block
     * y[M,D] = relu(x[M,D] @ Wi[F,D]^T) @ Wo[D,F]^T in one call, the hidden
     * values never stored in fp32; h is scratch of h_bytes (M * F floats
     * suffice from M = 8 on). Returns false, y untouched, when it does not
     * take the call (dtypes, shapes, M, h too small); the caller then runs
     * matmul, relu, matmul, which give the same y bit for bit. */
    bool (*ffn_relu)(float *y, const float *x, const sc_tensor *Wi, const sc_tensor *Wo, int64_t M, void *h,
                     size_t h_bytes, sc_pool *pool);
    /* Weight conversion to I8: per output row n, scales[n] = max|w[n,:]| / 127 and
     * q[n,k] = round(w[n,k] / scales[n]) in [-127, 127] (an all-zero row gets scale 0).
     * q is [N,K], scales [N], w fp32 [N,K]. */
    void (*quantize_rows_q8)(int8_t *q, float *scales, const float *w, int64_t N, int64_t K);
    /* What matmul runs for each weight dtype (indexed by sc_dtype; NULL = unsupported),
     * e.g. "avx512 fp32 14x32 packed", for `switchc info`. */
    const char *matmul_impl[SC_DTYPE_COUNT];
} sc_kernels;

/* Up to this many x rows (decode, up to 4 beams) the bf16-compute tables
 * ("amx", "avx512-bf16", "ref-bf16") keep BF16 weights fp32-exact. */
#define SC_EXACT_BF16_MAX_M 4

/* The plain-C reference table. */
const sc_kernels *sc_kernels_ref(void);
/* The fastest table for this CPU (falls back to ref). With AMX that is "amx",
 * which computes BF16 weights in bf16 (x rounded to bf16) for M > 4 (decode,
 * M <= 4, stays fp32-exact) and quantizes x for I8 weights (AMX for M > 1,
 * VNNI at M = 1, bit-identical); F32 and F16 weights stay fp32-exact.
 * Without AMX but with AVX512-BF16 and VNNI, on a core that issues
 * vdpbf16ps at the fp32 FMA rate (cpu_features.h: fast_bf16_dot), it is
 * "avx512-bf16": the same split with vdpbf16ps for BF16 weights (M > 4) and
 * VNNI for I8. Otherwise it is the same as sc_kernels_exact() (on Intel
 * cores vdpbf16ps has half that rate, and widening bf16 to fp32 FMAs was
 * faster: bench/README.md). */
const sc_kernels *sc_kernels_best(void);
/* The fastest table whose F32, BF16 and F16 paths are fp32 compute (16-bit
 * weights widened exactly, x never rounded): for fidelity checks against
 * fp32 references. Only I8 weights quantize x. */
const sc_kernels *sc_kernels_exact(void);
/* A table by name: "ref", "ref-bf16" (the reference of bf16 compute: BF16
 * weights with x rounded to bf16 for M > 4, on every CPU), "avx512",
 * "avx512-vnni", "avx512-bf16" (BF16 weights via vdpbf16ps for M > 4: x
 * rounded to bf16, less exact), "amx" (AMX tiles for BF16 weights when
 * M > 4, bf16 compute, and for I8 weights), or the aliases "best" and
 * "exact". NULL if the name is unknown or this CPU lacks what the table
 * needs. The environment variable SWITCHC_NO_AMX=1 hides AMX (see
 * cpu_features.h). */
const sc_kernels *sc_kernels_select(const char *name);
/* Names of all tables, NULL-terminated (for `switchc info` and tests); the
 * aliases "best" and "exact" are not listed. */
const char *const *sc_kernels_names(void);

/* y_p = x @ W_p^T for p < n through table t: its matmul_n where it takes
 * the call, else n matmul calls (the same results). */
void sc_matmul_n(const sc_kernels *t, float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                 sc_pool *pool);

/* Reference ops (also used directly by tests). */
void sc_matmul_ref(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* sc_matmul_ref, except BF16 weights for M > SC_EXACT_BF16_MAX_M: x rounded
 * to bf16 (nearest even), fp32 sums ("ref-bf16"'s matmul). */
void sc_matmul_bf16x_ref(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
void sc_quantize_rows_q8_ref(int8_t *q, float *scales, const float *w, int64_t N, int64_t K);

#endif

/* Internal declarations shared by the fast CPU kernels (kernels/cpu/) and
 * the dispatch table. Dimension letters as in kernels.h: M activation rows,
 * K input features, N output features; W is [N, K]. */
#ifndef SC_KERNELS_CPU_CPU_KERNELS_H
#define SC_KERNELS_CPU_CPU_KERNELS_H

#include "core/pool.h"
#include "kernels/kernels.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
#define SC_HAVE_X86_KERNELS 1
#define SC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define SC_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512vnni")))
#define SC_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))
/* AMX kernels also use AVX512-BF16 (x -> bf16) and VNNI-era AVX-512. */
#define SC_TARGET_AMX                                                                          \
    __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,"   \
                          "avx512bf16,avx512vnni,fma")))
#define SC_AI __attribute__((always_inline)) inline

/* F32, BF16, F16 weights; fp32 arithmetic (16-bit weights widened exactly). */
void sc_matmul_f32_avx512(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* I8 weights + per-row scales; activations quantized per row to int8 (VNNI). */
void sc_matmul_q8_vnni(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* BF16 weights; activations rounded to bf16, vdpbf16ps (bf16-compute path). */
void sc_matmul_bf16_dot(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* The same two as packed register tiles (packed_tiles.h), correct for any
 * M, faster than the dot forms from about 9 (int8) or 16 (bf16) rows: the
 * int8 one is bit-identical to sc_matmul_q8_vnni, the bf16 one rounds x as
 * sc_matmul_bf16_dot does (same error bound). */
void sc_matmul_q8_packed(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
void sc_matmul_bf16_packed(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* I8 weights, M <= 48 and K % 4 == 0 (else it calls sc_matmul_q8_packed):
 * W read in place, y^T tiles; bit-identical to sc_matmul_q8_vnni. */
void sc_matmul_q8_fewrows(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* BF16 weights on AMX tiles (tdpbf16ps): x rounded to bf16, fp32 sums. Any
 * M >= 1 is correct, but it pays off only for M > 4 (the caller routes
 * decode elsewhere). Needs AMX-TILE/BF16 (permission granted) and AVX512-BF16. */
void sc_matmul_bf16_amx(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
/* y_p = x @ W_p^T for p < n (n <= 3; the W_p all BF16, or all I8 with
 * scales, of one [N, K] shape, N a multiple of 32 when n > 1) as one AMX
 * call: x is prepared once and the products share the tasks. Bit-identical
 * to n calls of sc_matmul_bf16_amx / sc_matmul_q8_amx. Returns false,
 * nothing written, for other weights or out of memory. */
bool sc_matmul_parts_amx(float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                         sc_pool *pool);
/* The relu FF block y = relu(x @ wi^T) @ wo^T for BF16 wi [F, D] and wo
 * [D, F] (D, F multiples of 32) on AMX tiles, bit-identical to
 * sc_matmul_bf16_amx, relu, sc_matmul_bf16_amx: the hidden values go from
 * the first product's tiles, relu'd and rounded to bf16, straight into the
 * second's packed x, in h (h_bytes >= 2 * F * M rounded up to 16). Returns
 * false, y untouched, for other dtypes or shapes, too small an h, or out
 * of memory. */
bool sc_ffn_relu_bf16_amx(float *y, const float *x, const sc_tensor *wi, const sc_tensor *wo, int64_t M,
                          void *h, size_t h_bytes, sc_pool *pool);
/* I8 weights + per-row scales on AMX tiles (tdpbssd); x quantized per row as
 * sc_matmul_q8_vnni does. Needs AMX-TILE/INT8 and AVX512-VNNI. */
void sc_matmul_q8_amx(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool);
#endif

/* Scratch for one kernel call (packed or quantized x): the pool's buffer,
 * or with a NULL pool a fresh 64-byte aligned allocation that *owned then
 * holds and the caller frees. NULL when out of memory. */
static inline void *sc_kernel_scratch(sc_pool *pool, size_t bytes, void **owned) {
    *owned = NULL;
    if (pool) return sc_pool_scratch(pool, bytes);
    if (bytes > SIZE_MAX - 63) return NULL;
    return *owned = aligned_alloc(64, bytes ? (bytes + 63) / 64 * 64 : 64);
}

/* Threads worth waking for an M x N x K product: below ~64K multiply-adds
 * waking the pool costs more than it saves, so 1 (the calling thread). */
static inline int sc_kernel_threads(const sc_pool *pool, int64_t M, int64_t N, int64_t K) {
    return (double)M * (double)N * (double)K < 65536.0 ? 1 : sc_pool_size(pool);
}

/* Shapes with nothing to multiply: M or N empty (y untouched) or K empty
 * (y = 0). Returns true when it handled y. */
static inline bool sc_matmul_degenerate(float *y, int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0) return true;
    if (K > 0) return false;
    for (int64_t i = 0; i < M * N; i++) y[i] = 0.0f;
    return true;
}

/* Splits [0, total) into n_tasks pieces aligned to `align`; piece `task`. */
static inline void sc_split_range(int64_t total, int64_t align, int task, int n_tasks, int64_t *lo,
                                  int64_t *hi) {
    int64_t units = (total + align - 1) / align;
    int64_t per = units / n_tasks, extra = units % n_tasks;
    int64_t u0 = task * per + (task < extra ? task : extra);
    int64_t u1 = u0 + per + (task < extra ? 1 : 0);
    *lo = u0 * align < total ? u0 * align : total;
    *hi = u1 * align < total ? u1 * align : total;
}

#endif

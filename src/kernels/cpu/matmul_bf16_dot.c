/* AVX512-BF16 matmul for BF16 weights with vdpbf16ps: a bf16-compute path.
 * x is rounded to bf16 per element (round to nearest even) before the dot
 * products, which accumulate in fp32. Error vs the fp32 reference (x exact):
 * |y - y_ref| <= 2^-8 * sum_k |x[m,k] * w[n,k]|  (+ fp32 rounding), i.e. what
 * PyTorch gives when the whole model runs in bf16. The "avx512-bf16" table
 * (the default without AMX) runs it for 5 to 15 rows; from 16 rows on, the
 * packed tiles of matmul_bf16_packed.c are faster.
 *
 * Same dot-form blocking as the int8 kernel (4 W rows x 4 x rows, 32 K per
 * step). Leaves out AMX-BF16. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dot_tiles.h"
#include "kernels/cpu/quantize_x.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>


typedef struct {
    float *y;
    const float *x;
    const uint16_t *w;
    uint16_t *xb; /* [M, Kp] bf16, zero padded */
    int64_t M, N, K, Kp;
} job;

static SC_TARGET_BF16 void convert_task_body(const job *j, int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++)
        for (int64_t k = 0; k < j->Kp; k += 32)
            _mm512_store_ps((float *)(j->xb + m * j->Kp + k), sc_bf16_round32(j->x + m * j->K + k, j->K - k));
}

static void convert_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    int64_t m0, m1;
    sc_split_range(j->M, 1, task, n_tasks, &m0, &m1);
    convert_task_body(j, m0, m1);
}

static SC_AI SC_TARGET_BF16 void dot_block(const job *j, int64_t m0, int64_t n, int64_t rs, int NB, int MB) {
    const int64_t K = j->K, Kp = j->Kp;
    __m512 acc[4][4];
    for (int i = 0; i < MB; i++)
        for (int c = 0; c < NB; c++) acc[i][c] = _mm512_setzero_ps();
    const int pf = SC_DOT_PREFETCHES(m0);
    for (int64_t k = 0; k < Kp; k += 32) {
        int64_t left = K - k;
        __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
        __m512bh wv[4];
        if (pf)
            for (int c = 0; c < NB; c++) _mm_prefetch((const char *)(j->w + (n + c * rs) * K + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
        for (int c = 0; c < NB; c++) wv[c] = (__m512bh)_mm512_maskz_loadu_epi16(m, j->w + (n + c * rs) * K + k);
        for (int i = 0; i < MB; i++) {
            __m512bh xv = (__m512bh)_mm512_load_si512((const void *)(j->xb + (m0 + i) * Kp + k));
            for (int c = 0; c < NB; c++) acc[i][c] = _mm512_dpbf16_ps(acc[i][c], wv[c], xv);
        }
    }
    for (int i = 0; i < MB; i++)
        for (int c = 0; c < NB; c++) j->y[(m0 + i) * j->N + n + c * rs] = _mm512_reduce_add_ps(acc[i][c]);
}

SC_DOT_TILE_DRIVER(SC_TARGET_BF16)

void sc_matmul_bf16_dot(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (M <= 0 || N <= 0) return;
    int64_t Kp = (K + 31) / 32 * 32;
    void *owned;
    uint16_t *xb = sc_kernel_scratch(pool, (size_t)M * (size_t)Kp * 2, &owned);
    if (!xb) { /* out of memory: the reference still gives a (more exact) answer */
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    job j = {y, x, W->data, xb, M, N, K, Kp};
    sc_dot_launch(pool, &j, M, N, K, convert_task, gemm_task);
    free(owned);
}
#endif

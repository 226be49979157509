/* AVX512-VNNI matmul for I8 weights with per-row fp32 scales:
 * y[m,n] = sx[m] * sw[n] * sum_k qx[m,k] * w[n,k].
 *
 * Activations are quantized per row on the fly, symmetric:
 * sx[m] = max|x[m,:]| / 127, qx = round(x / sx) in [-127, 127]. vpdpbusd
 * multiplies unsigned by signed bytes, so W is offset instead of x:
 * (w + 128) is a valid u8, and sum (w+128)*qx = dot + 128 * sum qx[m,:],
 * the correction computed once per x row. Accumulation is exact in int32
 * (no overflow for K < 2^31 / (255 * 127 / 16 lanes) ~ 1e6).
 *
 * Error vs the fp32 reference (which uses x unquantized):
 * |y - y_ref| <= sw[n] * (sx[m] / 2) * sum_k |w[n,k]|   (+ fp32 rounding).
 *
 * Blocking: dot form, 4 W rows x 4 x rows of accumulators, 64 bytes of K per
 * step; a task owns a block of N and walks x in chunks of 32 rows so the W
 * rows (4 x K bytes) stay in L1 and the x chunk in L2. W is read in place,
 * which is what makes it the faster form below 9 rows; from there
 * matmul_q8_packed.c and matmul_q8_fewrows.c win (same bits). Leaves out
 * AMX-INT8. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dot_tiles.h"
#include "kernels/cpu/quantize_x.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>


typedef struct {
    float *y;
    const float *x;
    const int8_t *w;
    const float *sw;
    int8_t *qx;      /* [M, Kp], zero padded */
    float *sx;       /* [M] */
    int32_t *corr;   /* [M]: 128 * sum qx[m,:] */
    int64_t M, N, K, Kp;
} job;

static SC_TARGET_VNNI void quantize_row(int8_t *q, float *s, int32_t *corr, const float *x, int64_t K,
                                        int64_t Kp) {
    float inv;
    *s = sc_q8_row_scale(x, K, &inv);
    __m512 vinv = _mm512_set1_ps(inv);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t k = 0; k < Kp; k += 16) {
        __m512i v = sc_q8_quantize16(x + k, sc_mask16(K - k), vinv);
        sum = _mm512_add_epi32(sum, v);
        _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtepi32_epi8(v));
    }
    *corr = 128 * _mm512_reduce_add_epi32(sum);
}

static void quantize_task(void *vctx, int task, int n_tasks) {
    job *j = vctx;
    int64_t m0, m1;
    sc_split_range(j->M, 1, task, n_tasks, &m0, &m1);
    for (int64_t m = m0; m < m1; m++)
        quantize_row(j->qx + m * j->Kp, &j->sx[m], &j->corr[m], j->x + m * j->K, j->K, j->Kp);
}

static SC_AI SC_TARGET_VNNI void dot_block(const job *j, int64_t m0, int64_t n, int64_t rs, int NB, int MB) {
    const int64_t K = j->K, Kp = j->Kp;
    __m512i acc[4][4];
    for (int i = 0; i < MB; i++)
        for (int c = 0; c < NB; c++) acc[i][c] = _mm512_setzero_si512();
    const __m512i off = _mm512_set1_epi8((char)0x80);
    const int pf = SC_DOT_PREFETCHES(m0);
    for (int64_t k = 0; k < Kp; k += 64) {
        int64_t left = K - k;
        __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
        __m512i wv[4];
        if (pf)
            for (int c = 0; c < NB; c++) _mm_prefetch((const char *)(j->w + (n + c * rs) * K + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
        for (int c = 0; c < NB; c++)
            wv[c] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, j->w + (n + c * rs) * K + k), off);
        for (int i = 0; i < MB; i++) {
            __m512i xv = _mm512_load_si512((const void *)(j->qx + (m0 + i) * Kp + k));
            for (int c = 0; c < NB; c++) acc[i][c] = _mm512_dpbusd_epi32(acc[i][c], wv[c], xv);
        }
    }
    for (int i = 0; i < MB; i++) {
        int64_t m = m0 + i;
        for (int c = 0; c < NB; c++) {
            int32_t dot = _mm512_reduce_add_epi32(acc[i][c]) - j->corr[m];
            j->y[m * j->N + n + c * rs] = j->sx[m] * j->sw[n + c * rs] * (float)dot;
        }
    }
}

SC_DOT_TILE_DRIVER(SC_TARGET_VNNI)

void sc_matmul_q8_vnni(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (M <= 0 || N <= 0) return;
    int64_t Kp = (K + 63) / 64 * 64;
    /* one block: qx [M, Kp] (64-aligned rows), then sx, corr */
    size_t qbytes = (size_t)M * (size_t)Kp, bytes = qbytes + (size_t)M * (sizeof(float) + sizeof(int32_t));
    void *owned;
    uint8_t *buf = sc_kernel_scratch(pool, bytes, &owned);
    if (!buf) { /* out of memory: the reference still gives a (more exact) answer */
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    job j = {y, x, W->data, W->scales, (int8_t *)buf, (float *)(buf + qbytes),
             (int32_t *)(buf + qbytes + (size_t)M * sizeof(float)), M, N, K, Kp};
    sc_dot_launch(pool, &j, M, N, K, quantize_task, gemm_task);
    free(owned);
}
#endif

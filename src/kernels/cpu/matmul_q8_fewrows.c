/* AVX512-VNNI matmul for I8 weights with per-row scales when x has few rows
 * (M <= 48: an expert's share of a batch): W read in place, nothing of it
 * packed. Bit-identical to matmul_q8_vnni.c and matmul_q8_packed.c (same
 * quantized x, exact int32 sums, y = (sx[m] * sw[n]) * (float)dot).
 *
 * Packing W costs a pass over it per call, a third of the packed kernel's
 * time at M = 32. Here the roles are swapped: the tile computes y^T, R rows
 * of W against P x 16 rows of x. x^T is packed once per call as the
 * unsigned operand, [step][16 P] words holding qx + 128 (XOR 0x80) of 4
 * k; W's 4-byte quads are the signed broadcast operand, read from the W
 * rows themselves (R streams). So each sum is dot + 128 * sum_k w[n,k], and
 * that per-row correction comes from a pass over the R rows just before
 * their tile (vpdpbusd with ones; it also brings the rows into cache). The
 * y^T tile is scaled, then transposed 16 x 16 in registers into y.
 * P = 1, 2, 3 (M <= 16, 32, 48), R = 28, 14, 9: 28 or 27 accumulators.
 *
 * While a tile runs, the next tile's rows are prefetched into L2. With W
 * from memory (the expert GEMMs), one thread, M = 32: 1.2x the packed
 * kernel; M = 16 and 48: 1.1x; below 16 rows the packed and dot forms win.
 *
 * Needs K % 4 == 0 (a broadcast reads whole quads; past K they would be
 * the next row's bytes, or past the end of W); other K, and more rows, go
 * to the packed kernel. Tasks split N in whole tiles. Leaves out: K
 * blocking (x^T of K = 3072 is 96 KiB and streams from L2). */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/quantize_x.h"
#include "kernels/cpu/transpose16.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FEW_M 48

/* int32 lanes, not __m512i: GCC keeps arrays of __m512i sums on the stack. */
typedef int32_t v16si __attribute__((vector_size(64)));

typedef struct {
    float *y;
    const float *x;
    const int8_t *w;
    const float *sw;
    uint8_t *xt; /* [steps][16 P] words: qx + 128 of rows 0 .. 16 P, 0 past M */
    float *sx;   /* [16 P] */
    int64_t M, N, K, steps;
    int P, R;
} job;

/* x rows 16 h .. 16 h + 16: scales, quantized, + 128, transposed into
 * words 16 h .. 16 h + 16 of every step of xt. */
static SC_TARGET_VNNI void prep_task(void *vctx, int h, int n_tasks) {
    job *j = vctx;
    const int64_t K = j->K, m0 = 16 * (int64_t)h, rows = j->M - m0 < 16 ? j->M - m0 : 16, ld = 16 * j->P;
    __m512 vinv[16];
    sc_q8_scales16(j->x + m0 * K, K, rows, j->sx + m0, vinv);
    for (int64_t i = rows; i < 16; i++) j->sx[m0 + i] = 0.0f;
    const __m512 x80 = _mm512_castsi512_ps(_mm512_set1_epi8((char)0x80));
    for (int64_t s = 0; s < j->steps; s += 16) {
        const int64_t k = 4 * s;
        __m512 r[16];
        sc_q8_rows16(r, j->x + m0 * K, K, k, rows, vinv);
        for (int64_t i = 0; i < rows; i++) r[i] = _mm512_xor_ps(r[i], x80); /* + 128: vpdpbusd's unsigned operand */
        sc_transpose16(r); /* r[p]: step s + p, word i = row i */
        const int64_t sn = j->steps - s < 16 ? j->steps - s : 16;
        for (int64_t p = 0; p < sn; p++) _mm512_storeu_ps((float *)(j->xt + ((s + p) * ld + 16 * h) * 4), r[p]);
    }
}

/* 128 * sum_k w[n, k] for rows n0 .. n0 + r. */
static SC_AI SC_TARGET_VNNI void row_corr(const job *j, int64_t n0, int r, int32_t *corr) {
    const __m512i ones = _mm512_set1_epi8(1);
    const int64_t K = j->K;
    for (int i = 0; i < r; i++) {
        const int8_t *row = j->w + (n0 + i) * K;
        __m512i s = _mm512_setzero_si512();
        for (int64_t k = 0; k < K; k += 64) {
            const int64_t left = K - k;
            const __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
            s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(m, row + k));
        }
        corr[i] = 128 * _mm512_reduce_add_epi32(s);
    }
}

/* y[0..M, n0..n0+RR] for compile-time P and RR <= R; meanwhile rows
 * n0 + RR .. n1 (the next tile's, one contiguous block) are prefetched into
 * L2, so the next row pass does not wait for memory. */
static SC_AI SC_TARGET_VNNI void tile(const job *j, int P, int RR, int64_t n0, int64_t n1) {
    const int64_t K = j->K, ld = 16 * P;
    _Alignas(64) int32_t corr[28];
    row_corr(j, n0, RR, corr);
    v16si acc[28][3];
    for (int r = 0; r < RR; r++)
        for (int c = 0; c < P; c++) acc[r][c] = (v16si)_mm512_setzero_si512();
    const int8_t *w = j->w + n0 * K;
    const int64_t next = n0 + RR + RR < n1 ? RR : n1 - n0 - RR; /* rows of the next tile */
    const char *pf = (const char *)(w + RR * K);
    const int64_t lines = next > 0 ? (next * K + 63) / 64 : 0, per = (lines + j->steps - 1) / j->steps;
    for (int64_t s = 0; s < j->steps; s++) {
        for (int64_t l = s * per; l < s * per + per && l < lines; l++) _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
        __m512i xv[3];
        for (int c = 0; c < P; c++) xv[c] = _mm512_loadu_si512((const void *)(j->xt + (s * ld + 16 * c) * 4));
#pragma GCC unroll 28 /* all sums in registers: without it GCC keeps them in memory */
        for (int r = 0; r < RR; r++) {
            int32_t q;
            memcpy(&q, w + r * K + 4 * s, 4);
            const __m512i b = _mm512_set1_epi32(q);
            for (int c = 0; c < P; c++) acc[r][c] = (v16si)_mm512_dpbusd_epi32((__m512i)acc[r][c], xv[c], b);
        }
    }
    /* y^T -> y: per 16 rows of W and 16 rows of x, scale, transpose, store */
    for (int g = 0; g < RR; g += 16) {
        const int gn = RR - g < 16 ? RR - g : 16;
        const __mmask16 nm = (__mmask16)((1u << gn) - 1);
        for (int c = 0; c < P; c++) {
            const int64_t m0 = 16 * c;
            if (m0 >= j->M) break;
            const __m512 sx = _mm512_loadu_ps(j->sx + m0);
            __m512 t[16];
            for (int i = 0; i < 16; i++) {
                if (i >= gn) {
                    t[i] = _mm512_setzero_ps();
                    continue;
                }
                const int r = g + i;
                __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32((__m512i)acc[r][c], _mm512_set1_epi32(corr[r])));
                t[i] = _mm512_mul_ps(_mm512_mul_ps(sx, _mm512_set1_ps(j->sw[n0 + r])), v);
            }
            sc_transpose16(t); /* t[i]: x row m0 + i, 16 columns */
            const int64_t mm = j->M - m0 < 16 ? j->M - m0 : 16;
            for (int64_t i = 0; i < mm; i++) _mm512_mask_storeu_ps(j->y + (m0 + i) * j->N + n0 + g, nm, t[i]);
        }
    }
}

/* Rows n0 .. n1 of W in tiles of R (and one shorter tile). */
#define T(RR) case RR: tile(j, P, RR, n, n1); break;
#define ROWS(PP, R, TAILS)                                                                   \
    static SC_TARGET_VNNI void rows_##PP(const job *j, int64_t n0, int64_t n1) {              \
        const int P = PP;                                                                    \
        int64_t n = n0;                                                                      \
        for (; n + R <= n1; n += R) tile(j, P, R, n, n1);                                    \
        switch ((int)(n1 - n)) { TAILS default: break; }                                     \
    }
ROWS(1, 28, T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13) T(14) T(15) T(16) T(17)
                T(18) T(19) T(20) T(21) T(22) T(23) T(24) T(25) T(26) T(27))
ROWS(2, 14, T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13))
ROWS(3, 9, T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8))
#undef ROWS
#undef T

static void gemm_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    int64_t n0, n1;
    sc_split_range(j->N, j->R, task, n_tasks, &n0, &n1);
    if (n0 >= n1) return;
    if (j->P == 1) rows_1(j, n0, n1);
    else if (j->P == 2) rows_2(j, n0, n1);
    else rows_3(j, n0, n1);
}

void sc_matmul_q8_fewrows(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (W->dtype != SC_DTYPE_I8 || !W->scales || M > FEW_M || K % 4 != 0 || K <= 0) {
        sc_matmul_q8_packed(y, x, W, M, pool);
        return;
    }
    if (M <= 0 || N <= 0) return;
    job j = {.y = y, .x = x, .w = W->data, .sw = W->scales, .M = M, .N = N, .K = K, .steps = K / 4};
    j.P = (int)((M + 15) / 16);
    j.R = j.P == 1 ? 28 : j.P == 2 ? 14 : 9;
    /* scratch: xt | sx */
    const size_t xt_bytes = ((size_t)j.steps * (size_t)(16 * j.P) * 4 + 63) / 64 * 64;
    void *owned;
    uint8_t *buf = sc_kernel_scratch(pool, xt_bytes + 64 * sizeof(float), &owned);
    if (!buf) { /* out of memory: the dot kernel needs less and gives the same bits */
        sc_matmul_q8_vnni(y, x, W, M, pool);
        return;
    }
    j.xt = buf;
    j.sx = (float *)(buf + xt_bytes);
    int threads = sc_kernel_threads(pool, M, N, K);
    sc_pool *p = threads > 1 ? pool : NULL;
    sc_pool_run(p && j.P > 1 ? p : NULL, prep_task, &j, j.P);
    int64_t tasks = (N + 4 * j.R - 1) / (4 * j.R);
    if (tasks > 4 * threads) tasks = 4 * threads;
    sc_pool_run(p, gemm_task, &j, p ? (int)tasks : 1);
    free(owned);
}
#endif

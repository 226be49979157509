/* AVX512-VNNI matmul for I8 weights with per-row fp32 scales, packed
 * outer-product form (the blocking of packed_tiles.h): a 14-row x 32-column
 * register tile of int32 sums, x quads broadcast, W packed per call.
 *
 * Results are bit-identical to matmul_q8_vnni.c (and so to the AMX int8
 * kernel): x is quantized per row by the same code (quantize_x.h), the
 * int32 dot products are exact, and y = sx[m] * sw[n] * dot is evaluated
 * in the same order, (sx * sw) * (float)dot. vpdpbusd multiplies unsigned
 * by signed bytes: here W is packed as w + 128 (XOR 0x80) and the quantized
 * x is the signed broadcast operand, so each sum is dot + 128 * sum_k qx,
 * and the same correction 128 * sum_k qx[m,:] as the dot kernel's comes
 * off (int32 wrap-around is exact modulo 2^32 in both kernels). Between K
 * chunks the raw int32 sums are parked in y's memory; the last chunk
 * scales them.
 *
 * Error vs the fp32 reference: that of matmul_q8_vnni.c. Leaves out what
 * packed_tiles.h leaves out. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/packed_tiles.h"
#include "kernels/cpu/quantize_x.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define MR SC_PK_MR
#define NR SC_PK_NR

/* Accumulators as a vector of int32 rather than __m512i (a vector of
 * int64): with __m512i, GCC kept the 28 sums on the stack (a load and a
 * store around every vpdpbusd, a third of the speed). */
typedef int32_t v16si __attribute__((vector_size(64)));

typedef struct {
    sc_pk_job pk; /* first: the driver's part */
    float *y;
    const float *x;
    const float *sw;
    float *sx;      /* [M] */
    int32_t *corr;  /* [M]: 128 * sum qx[m,:] */
} job;

/* Quantizes the rows of tile t (quantize_x.h, as matmul_q8_vnni.c does)
 * straight into its packed layout; also sx and corr of those rows. */
static SC_TARGET_VNNI void prep_tile(job *j, int64_t t) {
    const int64_t K = j->pk.plan.K, steps = j->pk.plan.steps;
    int64_t m0;
    int mr;
    sc_pk_tile_rows(&j->pk.plan, t, &m0, &mr);
    int32_t *xp = j->pk.xp + t * steps * MR;
    __m512 vinv[16];
    sc_q8_scales16(j->x + m0 * K, K, mr, j->sx + m0, vinv);
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i sum = _mm512_setzero_si512(); /* lane i: sum of row i's quantized values */
    for (int64_t s = 0; s < steps; s += 16) {
        const int64_t k = 4 * s;
        __m512 r[16];
        sc_q8_rows16(r, j->x + m0 * K, K, k, mr, vinv);
        sc_transpose16(r); /* r[p]: step s + p of every row */
        for (int p = 0; p < 16; p++) sum = _mm512_dpbusd_epi32(sum, ones, _mm512_castps_si512(r[p]));
        sc_pk_store_x(xp, s, steps - s < 16 ? steps - s : 16, r);
    }
    _Alignas(64) int32_t sums[16];
    _mm512_store_si512((void *)sums, sum);
    for (int i = 0; i < mr; i++) j->corr[m0 + i] = 128 * sums[i];
}

static void prep_task(void *vctx, int task, int n_tasks) {
    job *j = vctx;
    int64_t t0, t1;
    sc_split_range(j->pk.plan.tiles, 1, task, n_tasks, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) prep_tile(j, t);
}

/* Tile rows m0 .. m0+MRc, panel columns n .. n+32 (masks c0m, c1m), steps
 * of one K chunk. first: sums start at 0, else from y (parked int32);
 * last: scaled into y, else parked. */
static SC_AI SC_TARGET_VNNI void tile(int MRc, int64_t kc, const int32_t *xp, const uint8_t *panel, const job *j,
                                      int64_t m0, int64_t n, int first, int last, __mmask16 c0m, __mmask16 c1m,
                                      const char *pf, int64_t npf) {
    const int64_t ldy = j->pk.plan.N;
    float *y = j->y + m0 * ldy + n;
    v16si c0[MR], c1[MR];
    for (int i = 0; i < MRc; i++) {
        c0[i] = first ? (v16si)_mm512_setzero_si512() : (v16si)_mm512_maskz_loadu_epi32(c0m, y + i * ldy);
        c1[i] = first ? (v16si)_mm512_setzero_si512() : (v16si)_mm512_maskz_loadu_epi32(c1m, y + i * ldy + 16);
    }
    const int32_t *p = (const int32_t *)panel;
    for (int64_t k = 0; k < kc; k++) {
        if (k < npf) _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
        __m512i b0 = _mm512_load_si512((const void *)(p + k * NR)), b1 = _mm512_load_si512((const void *)(p + k * NR + 16));
        for (int i = 0; i < MRc; i++) {
            __m512i a = _mm512_set1_epi32(xp[k * MR + i]);
            c0[i] = (v16si)_mm512_dpbusd_epi32((__m512i)c0[i], b0, a);
            c1[i] = (v16si)_mm512_dpbusd_epi32((__m512i)c1[i], b1, a);
        }
    }
    if (!last) {
        for (int i = 0; i < MRc; i++) {
            _mm512_mask_storeu_epi32(y + i * ldy, c0m, (__m512i)c0[i]);
            _mm512_mask_storeu_epi32(y + i * ldy + 16, c1m, (__m512i)c1[i]);
        }
        return;
    }
    const __m512 sw0 = _mm512_maskz_loadu_ps(c0m, j->sw + n), sw1 = _mm512_maskz_loadu_ps(c1m, j->sw + n + 16);
    for (int i = 0; i < MRc; i++) {
        const __m512i corr = _mm512_set1_epi32(j->corr[m0 + i]);
        const __m512 sx = _mm512_set1_ps(j->sx[m0 + i]);
        __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32((__m512i)c0[i], corr));
        __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32((__m512i)c1[i], corr));
        _mm512_mask_storeu_ps(y + i * ldy, c0m, _mm512_mul_ps(_mm512_mul_ps(sx, sw0), v0));
        _mm512_mask_storeu_ps(y + i * ldy + 16, c1m, _mm512_mul_ps(_mm512_mul_ps(sx, sw1), v1));
    }
}

static SC_TARGET_VNNI void tile_any(const sc_pk_job *pk, int mr, int64_t kc, const int32_t *xp, const uint8_t *panel,
                                    int64_t m0, int64_t n, int first, int last, const char *pf, int64_t npf) {
    const job *j = (const job *)pk;
    __mmask16 c0m, c1m;
    sc_pk_col_masks(pk->plan.N, n, &c0m, &c1m);
    switch (mr) {
#define T(R) case R: tile(R, kc, xp, panel, j, m0, n, first, last, c0m, c1m, pf, npf); break;
        T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13)
#undef T
    default: tile(MR, kc, xp, panel, j, m0, n, first, last, c0m, c1m, pf, npf); break;
    }
}

void sc_matmul_q8_packed(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (W->dtype != SC_DTYPE_I8 || !W->scales) {
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    if (sc_matmul_degenerate(y, M, N, K)) return;
    const int threads = sc_kernel_threads(pool, M, N, K);
    job j = {.pk = {.w = W->data, .es = 1, .flip = 1, .tile = tile_any}, .y = y, .x = x, .sw = W->scales};
    sc_pk_plan *plan = &j.pk.plan;
    sc_pk_plan_init(plan, M, N, K, 1, threads);
    /* scratch: xp | sx | corr | W slots, each 64-byte aligned */
    const size_t xp_bytes = ((size_t)plan->tiles * (size_t)plan->steps * MR * 4 + 63) / 64 * 64;
    const size_t row_bytes = ((size_t)M * 4 + 63) / 64 * 64;
    const size_t bytes = xp_bytes + 2 * row_bytes + (size_t)plan->workers * SC_PK_SLOT_BYTES;
    void *owned;
    uint8_t *buf = (double)M * (double)K < 1e15 ? sc_kernel_scratch(pool, bytes, &owned) : NULL;
    if (!buf) { /* out of memory: the dot kernel needs less and gives the same bits */
        sc_matmul_q8_vnni(y, x, W, M, pool);
        return;
    }
    j.pk.xp = (int32_t *)buf;
    j.sx = (float *)(buf + xp_bytes);
    j.corr = (int32_t *)(buf + xp_bytes + row_bytes);
    j.pk.slots = buf + xp_bytes + 2 * row_bytes;
    sc_pk_launch(threads > 1 ? pool : NULL, &j, prep_task, &j.pk);
    free(owned);
}
#endif

/* AVX512-BF16 matmul for BF16 weights, packed outer-product form (the
 * blocking of packed_tiles.h): a 14-row x 32-column register tile of fp32
 * sums, x bf16 pairs broadcast, W packed per call, vdpbf16ps.
 *
 * x is rounded to bf16 to nearest even (vcvtne2ps2bf16, as
 * matmul_bf16_dot.c converts it) while it is packed, so the error bound of
 * that file holds: |y - y_ref| <= 2^-8 * sum_k |x[m,k] * w[n,k]| (+ fp32
 * rounding); only the fp32 summation order differs. Between K chunks the
 * partial sums are kept in y.
 *
 * Meant for M > 4: decode is memory-bound and the exact fp32 kernel is as
 * fast there. Leaves out what packed_tiles.h leaves out. */
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

typedef struct {
    sc_pk_job pk; /* first: the driver's part */
    float *y;
    const float *x;
} job;

/* Rounds the rows of tile t to bf16 straight into its packed layout. */
static SC_TARGET_BF16 void prep_tile(job *j, int64_t t) {
    const int64_t K = j->pk.plan.K, steps = j->pk.plan.steps;
    int64_t m0;
    int mr;
    sc_pk_tile_rows(&j->pk.plan, t, &m0, &mr);
    int32_t *xp = j->pk.xp + t * steps * MR;
    for (int64_t s = 0; s < steps; s += 16) {
        const int64_t k = 2 * s;
        __m512 r[16];
        sc_bf16_rows16(r, j->x + m0 * K, K, k, mr); /* word p: (x[k+2p], x[k+2p+1]) */
        sc_transpose16(r); /* r[p]: step s + p of every row */
        sc_pk_store_x(xp, s, steps - s < 16 ? steps - s : 16, r);
    }
}

static void prep_task(void *vctx, int task, int n_tasks) {
    job *j = vctx;
    int64_t t0, t1;
    sc_split_range(j->pk.plan.tiles, 1, task, n_tasks, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) prep_tile(j, t);
}

/* Tile rows m0 .. m0+MRc, panel columns n .. n+32 (masks c0m, c1m), steps
 * of one K chunk; sums start at 0 (first) or from y, and go to y. Also
 * prefetches min(kc, npf) lines at pf, one per step. */
static SC_AI SC_TARGET_BF16 void tile(int MRc, int64_t kc, const int32_t *xp, const uint8_t *panel, float *y,
                                      int64_t ldy, int first, __mmask16 c0m, __mmask16 c1m, const char *pf,
                                      int64_t npf) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MRc; i++) {
        c0[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(c0m, y + i * ldy);
        c1[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(c1m, y + i * ldy + 16);
    }
    const int32_t *p = (const int32_t *)panel;
    for (int64_t k = 0; k < kc; k++) {
        if (k < npf) _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(p + k * NR));
        __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(p + k * NR + 16));
        for (int i = 0; i < MRc; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32(xp[k * MR + i]);
            c0[i] = _mm512_dpbf16_ps(c0[i], b0, a);
            c1[i] = _mm512_dpbf16_ps(c1[i], b1, a);
        }
    }
    for (int i = 0; i < MRc; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, c0m, c0[i]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, c1m, c1[i]);
    }
}

static SC_TARGET_BF16 void tile_any(const sc_pk_job *pk, int mr, int64_t kc, const int32_t *xp, const uint8_t *panel,
                                    int64_t m0, int64_t n, int first, int last, const char *pf, int64_t npf) {
    const job *j = (const job *)pk;
    const int64_t N = pk->plan.N;
    float *y = j->y + m0 * N + n;
    __mmask16 c0m, c1m;
    sc_pk_col_masks(N, n, &c0m, &c1m);
    switch (mr) {
#define T(R) case R: tile(R, kc, xp, panel, y, N, first, c0m, c1m, pf, npf); break;
        T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13)
#undef T
    default: tile(MR, kc, xp, panel, y, N, first, c0m, c1m, pf, npf); break;
    }
}

void sc_matmul_bf16_packed(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (W->dtype != SC_DTYPE_BF16) {
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    if (sc_matmul_degenerate(y, M, N, K)) return;
    const int threads = sc_kernel_threads(pool, M, N, K);
    job j = {.pk = {.w = W->data, .es = 2, .flip = 0, .tile = tile_any}, .y = y, .x = x};
    sc_pk_plan *plan = &j.pk.plan;
    sc_pk_plan_init(plan, M, N, K, 2, threads);
    /* scratch: xp | W slots, 64-byte aligned */
    const size_t xp_bytes = ((size_t)plan->tiles * (size_t)plan->steps * MR * 4 + 63) / 64 * 64;
    void *owned;
    uint8_t *buf = (double)M * (double)K < 1e15
                       ? sc_kernel_scratch(pool, xp_bytes + (size_t)plan->workers * SC_PK_SLOT_BYTES, &owned)
                       : NULL;
    if (!buf) { /* out of memory: the dot kernel needs less (same rounding of x) */
        sc_matmul_bf16_dot(y, x, W, M, pool);
        return;
    }
    j.pk.xp = (int32_t *)buf;
    j.pk.slots = buf + xp_bytes;
    sc_pk_launch(threads > 1 ? pool : NULL, &j, prep_task, &j.pk);
    free(owned);
}
#endif

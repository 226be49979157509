/* AVX-512 matmul y[M,N] = x[M,K] @ W[N,K]^T for F32, BF16 and F16 weights,
 * all in fp32 arithmetic: 16-bit weights are widened exactly, so the result
 * equals the reference up to summation order (no bf16 rounding of x).
 *
 * Summation order (F32 weights): every path computes y[m, n] as one fused
 * multiply-add chain over k = 0, 1, ..., K - 1 starting from 0 (partial
 * sums parked in y between K blocks are picked up again, not added), and
 * threads split only M and N, never K. So a row's output does not depend
 * on M, on the other rows, on the row's place in the batch or on the
 * thread count: a prompt gives the same bits alone or in any batch
 * (docs/batching.md), and an expert the same bits whatever number of
 * tokens it gets. 16-bit weights keep a faster decode form in another
 * order (below), so theirs do depend on M (<= 4 or not).
 *
 * Three paths:
 *  - M <= DECODE_M (decode, an expert's few tokens): memory-bound. Each W
 *    row is streamed once for all x rows. F32: blocks of 16 W rows x 16 k
 *    are transposed in registers so that x can be broadcast against 16
 *    rows' weights (the chain order); BF16/F16: 4 W rows dotted with x in
 *    16 k lanes, reduced at the end. Threads split N.
 *  - XT_MIN <= M <= XT_MAX (16-192 rows) with F32 W (an expert's tokens, one
 *    sequence): W read in place against x^T, see small_rows below.
 *  - otherwise (encoder batches; 16-bit W): compute-bound. W is packed per
 *    call and per W block (widened, transposed 16x16 in registers) into
 *    panels [kc][32]; a 14x32 register tile (28 zmm accumulators) broadcasts
 *    x and streams the panel. Partial sums live in y between K blocks.
 *
 * Why the blocking is what it is (measured on a 2-core Xeon, L1d 48 KiB,
 * L2 2 MiB, two 512-bit FMA ports): the tile alone runs at ~90% of the FMA
 * peak with its panel streamed from L2, so what decides the speed is what
 * happens around it. A core with two FMA ports needs twice the data per
 * cycle of one with a single (double-pumped) 512-bit FMA, and the 16x16
 * transposes that pack W and x run on the shuffle port, which here is one
 * of the two FMA ports: packing, partial sums in y and scattered stores
 * that a single-FMA core hid behind its FMAs cost their full time here.
 *
 * Leaves out: weights packed once at load (each call re-packs, which costs
 * a pass over W), AMX. Built with target attributes so the library compiles
 * without -march; dispatch.c calls it only when the CPU has AVX-512
 * F/BW/VL/DQ and FMA. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/transpose16.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define DECODE_M 4
#define MR 14
#define NR 32

enum { DT_F32, DT_BF16, DT_F16 };

/* 16 weights at w[idx..] (masked) widened to fp32. */
static SC_AI SC_TARGET_AVX512 __m512 load_w(const void *w, int dt, int64_t idx, __mmask16 m) {
    if (dt == DT_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + idx);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + idx);
    if (dt == DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* The same, all 16. */
static SC_AI SC_TARGET_AVX512 __m512 load_w16(const void *w, int dt, int64_t idx) {
    if (dt == DT_F32) return _mm512_loadu_ps((const float *)w + idx);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + idx));
    if (dt == DT_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

static SC_AI SC_TARGET_AVX512 __mmask16 tail_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* ---- decode path ---- */

/* Prefetch distance of the 16-bit decode path, per W row stream (see dot_rows). */
#define DECODE_PF_BYTES 2048

/* y[m0..m0+MB, n + j * rs] for the NB rows j < NB (compile-time MB, NB):
 * 16-bit weights at decode. Each dot sums in 16 k lanes, reduced at the end:
 * one FMA per 16 weights and no transposes, which keeps up with the memory
 * (the chain form below ran bf16 decode at about half the speed), but in
 * another order than the tiles. */
static SC_AI SC_TARGET_AVX512 void dot_block(float *y, const float *x, const void *w, int dt, int64_t K,
                                             int64_t N, int64_t n, int64_t rs, int NB, int MB) {
    __m512 acc[4][4];
    for (int i = 0; i < MB; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 m = tail_mask(K - k);
        __m512 wv[4];
        if (((k * 2) & 63) == 0)
            for (int j = 0; j < NB; j++)
                _mm_prefetch((const char *)w + ((n + j * rs) * K + k) * 2 + DECODE_PF_BYTES, _MM_HINT_T0);
        for (int j = 0; j < NB; j++) wv[j] = load_w(w, dt, (n + j * rs) * K + k, m);
        for (int i = 0; i < MB; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(m, x + i * K + k);
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MB; i++)
        for (int j = 0; j < NB; j++) y[i * N + n + j * rs] = _mm512_reduce_add_ps(acc[i][j]);
}

/* Rows n0..n1-1 of 16-bit W against M (<= 4) x rows, each W row streamed
 * once. The range is cut in four quarters of q rows and a block takes one
 * row from each (n, n + q, n + 2q, n + 3q): four streams that each run
 * forward through a contiguous part of W, each with a software prefetch
 * DECODE_PF_BYTES ahead; the rows left over (fewer than 4) go one at a
 * time. Four neighbouring rows at once instead (rows 1.5 KiB apart for an
 * expert's 3072 x 768 bf16 W) jump back and forth inside the same pages,
 * which the hardware prefetchers follow poorly: an expert's first product
 * at M = 4 ran at 23 GB/s that way and at 31 this way (2 threads,
 * bench/README.md). */
static SC_AI SC_TARGET_AVX512 void dot_rows(float *y, const float *x, const void *w, int dt, int64_t K,
                                            int64_t N, int64_t M, int64_t n0, int64_t n1) {
#define DOT_ALL_MB(n, rs, NB)                                                  \
    switch (M) {                                                               \
    case 1: dot_block(y, x, w, dt, K, N, n, rs, NB, 1); break;                 \
    case 2: dot_block(y, x, w, dt, K, N, n, rs, NB, 2); break;                 \
    case 3: dot_block(y, x, w, dt, K, N, n, rs, NB, 3); break;                 \
    default: dot_block(y, x, w, dt, K, N, n, rs, NB, 4); break;                \
    }
    const int64_t q = (n1 - n0) / 4;
    for (int64_t n = n0; n < n0 + q; n++) DOT_ALL_MB(n, q, 4)
    for (int64_t n = n0 + 4 * q; n < n1; n++) DOT_ALL_MB(n, 0, 1)
#undef DOT_ALL_MB
}

/* r[k] = column k of the 16 x 16 F32 block at w (rows K apart): lane j of
 * r[k] is w[j * K + k]. Half the transpose is done by the loads: each
 * register gathers 4 rows' 4 values (128-bit loads merged by masked
 * broadcasts), so only the 4 x 4 transposes inside 128-bit lanes are left
 * (32 shuffles instead of sc_transpose16's 64: the shuffles bound this
 * path when W comes from cache, and the 32128 x 768 head at M = 1 went
 * from 23.6 to 26.4 GB/s from memory). */
static SC_AI SC_TARGET_AVX512 void load_t16(__m512 r[16], const float *w, int64_t K) {
    for (int c = 0; c < 4; c++) {
        __m512 R[4];
        for (int p = 0; p < 4; p++) { /* lane L of R[p]: w[4L + p][4c .. 4c + 4) */
            __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(w + p * K + 4 * c));
            v = _mm512_mask_broadcast_f32x4(v, 0x00f0, _mm_loadu_ps(w + (4 + p) * K + 4 * c));
            v = _mm512_mask_broadcast_f32x4(v, 0x0f00, _mm_loadu_ps(w + (8 + p) * K + 4 * c));
            R[p] = _mm512_mask_broadcast_f32x4(v, 0xf000, _mm_loadu_ps(w + (12 + p) * K + 4 * c));
        }
        __m512 t0 = _mm512_unpacklo_ps(R[0], R[1]), t1 = _mm512_unpackhi_ps(R[0], R[1]);
        __m512 t2 = _mm512_unpacklo_ps(R[2], R[3]), t3 = _mm512_unpackhi_ps(R[2], R[3]);
        r[4 * c + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        r[4 * c + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        r[4 * c + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        r[4 * c + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    }
}

/* y[m0..m0+MB, n..n+nr) for nr <= 16 W rows from n: the 16 x 16 blocks of W
 * (rows n.., 16 k) are transposed in registers so that a vector holds one k
 * of 16 rows, and each x value is broadcast against it. Each output is then
 * one fused multiply-add chain over k = 0, 1, ..., K - 1 from 0, the order
 * of the tiles below (see "Summation order"), whatever M is. */
static SC_AI SC_TARGET_AVX512 void chain_block(float *y, const float *x, const void *w, int dt, int64_t K,
                                               int64_t N, int64_t n, int nr, int MB, const char *pf,
                                               int64_t pf_bytes) {
    __m512 acc[4];
    for (int i = 0; i < MB; i++) acc[i] = _mm512_setzero_ps();
    /* rows a multiple of 4 KiB apart share their L1 sets: there the four
     * 16-byte loads per line of load_t16 ran 25% slower than whole-line
     * loads and sc_transpose16 (K = 3072, one thread, W from memory) */
    const bool split_loads = (K * 4) % 4096 != 0;
    for (int64_t k = 0; k < K; k += 16) {
        const __mmask16 m = tail_mask(K - k);
        const int kn = K - k < 16 ? (int)(K - k) : 16;
        __m512 r[16];
        /* the next block's rows, one contiguous region, in address order:
         * 16 row streams at once are more than the hardware prefetchers
         * follow well */
        for (int64_t b = k * pf_bytes / K; b < (k + 16) * pf_bytes / K; b += 64) _mm_prefetch(pf + b, _MM_HINT_T1);
        if (dt == DT_F32 && nr == 16 && kn == 16 && split_loads) {
            load_t16(r, (const float *)w + n * K + k, K);
        } else {
            if (nr == 16 && kn == 16)
                for (int j = 0; j < 16; j++) r[j] = load_w16(w, dt, (n + j) * K + k);
            else
                for (int j = 0; j < 16; j++) r[j] = j < nr ? load_w(w, dt, (n + j) * K + k, m) : _mm512_setzero_ps();
            sc_transpose16(r);
        }
        for (int c = 0; c < kn; c++)
            for (int i = 0; i < MB; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(x[i * K + k + c]), r[c], acc[i]);
    }
    const __mmask16 ym = tail_mask(nr);
    for (int i = 0; i < MB; i++) _mm512_mask_storeu_ps(y + i * N + n, ym, acc[i]);
}

/* Rows n0..n1-1 of W against all M x rows (any M; 4 at a time, so W is
 * streamed once per 4 rows), 16 W rows per block; while a block runs, the
 * next one (16 rows: one contiguous region) is prefetched into L2 in
 * address order. Before the summation order was fixed, F32 took dot_rows
 * too: one FMA per 16 weights instead of a transpose's shuffles, but in
 * another order than the tiles, so a token's outputs changed with the
 * number of rows it came with. Measured on the 2-core Zen 4 (one thread,
 * W from memory, best of 3; bench/README.md): M = 1 about as fast (26
 * GB/s both), M = 4 faster (23 GB/s against 15-16). */
static SC_AI SC_TARGET_AVX512 void decode_rows(float *y, const float *x, const void *w, int dt, int64_t K,
                                               int64_t N, int64_t M, int64_t n0, int64_t n1) {
    const int64_t es = dt == DT_F32 ? 4 : 2;
    for (int64_t m0 = 0; m0 < M; m0 += 4) {
        const float *xm = x + m0 * K;
        float *ym = y + m0 * N;
        for (int64_t n = n0; n < n1; n += 16) {
            const int nr = n1 - n < 16 ? (int)(n1 - n) : 16;
            /* prefetch: the next 16 rows (none past n1) */
            const int64_t next = n1 - n - nr < 16 ? n1 - n - nr : 16;
            const char *pf = (const char *)w + (n + nr) * K * es;
            const int64_t pfb = next * K * es;
            switch (M - m0) {
            case 1: chain_block(ym, xm, w, dt, K, N, n, nr, 1, pf, pfb); break;
            case 2: chain_block(ym, xm, w, dt, K, N, n, nr, 2, pf, pfb); break;
            case 3: chain_block(ym, xm, w, dt, K, N, n, nr, 3, pf, pfb); break;
            default: chain_block(ym, xm, w, dt, K, N, n, nr, 4, pf, pfb); break;
            }
        }
    }
}

static SC_TARGET_AVX512 void decode_f32(float *y, const float *x, const void *w, int64_t K, int64_t N,
                                        int64_t M, int64_t n0, int64_t n1) {
    decode_rows(y, x, w, DT_F32, K, N, M, n0, n1);
}
static SC_TARGET_AVX512 void decode_bf16(float *y, const float *x, const void *w, int64_t K, int64_t N,
                                         int64_t M, int64_t n0, int64_t n1) {
    dot_rows(y, x, w, DT_BF16, K, N, M, n0, n1);
}
static SC_TARGET_AVX512 void decode_f16(float *y, const float *x, const void *w, int64_t K, int64_t N,
                                        int64_t M, int64_t n0, int64_t n1) {
    dot_rows(y, x, w, DT_F16, K, N, M, n0, n1);
}
static SC_TARGET_AVX512 void chain_bf16(float *y, const float *x, const void *w, int64_t K, int64_t N,
                                        int64_t M) {
    decode_rows(y, x, w, DT_BF16, K, N, M, 0, N);
}
static SC_TARGET_AVX512 void chain_f16(float *y, const float *x, const void *w, int64_t K, int64_t N, int64_t M) {
    decode_rows(y, x, w, DT_F16, K, N, M, 0, N);
}

/* The decode path's rows over all of y: the fallback when a path's scratch
 * cannot be allocated (no scratch, and the same sums as every path). */
static void rows_all(float *y, const float *x, const void *w, int dt, int64_t K, int64_t N, int64_t M) {
    if (dt == DT_F32) decode_f32(y, x, w, K, N, M, 0, N);
    else if (dt == DT_BF16) chain_bf16(y, x, w, K, N, M);
    else chain_f16(y, x, w, K, N, M);
}

/* ---- packed path ---- */

/* Packs W[n0..n0+32, k0..k0+kc] (rows >= N as zeros) into dst[kc][32]. */
static SC_AI SC_TARGET_AVX512 void pack_panel(float *dst, const void *w, int dt, int64_t N, int64_t K,
                                              int64_t n0, int64_t k0, int64_t kc) {
    int64_t k = 0;
    if (n0 + NR <= N) /* whole 16 x 16 blocks: no masks, no row checks (at M = 128 packing is ~10%) */
        for (; k + 16 <= kc; k += 16)
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
                for (int i = 0; i < 16; i++) r[i] = load_w16(w, dt, (n0 + 16 * h + i) * K + k0 + k);
                sc_transpose16(r);
                for (int c = 0; c < 16; c++) _mm512_store_ps(dst + (k + c) * NR + 16 * h, r[c]);
            }
    for (; k < kc; k += 16) {
        __mmask16 m = tail_mask(kc - k);
        int64_t kn = kc - k < 16 ? kc - k : 16;
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int64_t n = n0 + 16 * h + i;
                r[i] = n < N ? load_w(w, dt, n * K + k0 + k, m) : _mm512_setzero_ps();
            }
            sc_transpose16(r);
            for (int64_t c = 0; c < kn; c++) _mm512_store_ps(dst + (k + c) * NR + 16 * h, r[c]);
        }
    }
}

/* C[MRc x 32] (+)= xp[kc][MR] @ panel[kc, 32]; y columns masked by m0, m1.
 * xp is the x block packed k-major (see pack_x), so the 14 broadcasts of one
 * k come from one 56-byte run. */
static SC_AI SC_TARGET_AVX512 void tile(int MRc, int64_t kc, const float *xp, const float *p, float *y,
                                        int64_t ldy, int first, __mmask16 m0, __mmask16 m1) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MRc; i++) {
        c0[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + i * ldy);
        c1[i] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + i * ldy + 16);
    }
#pragma GCC unroll 2 /* 2-4% faster than not unrolled; 4 is no better */
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(p + k * NR), b1 = _mm512_load_ps(p + k * NR + 16);
        for (int i = 0; i < MRc; i++) {
            __m512 a = _mm512_set1_ps(xp[k * MR + i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    for (int i = 0; i < MRc; i++) {
        _mm512_mask_storeu_ps(y + i * ldy, m0, c0[i]);
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, c1[i]);
    }
}

/* xp[k][i] = x[i, k] for i < mr, k < kc (rows i >= mr: zero). x rows are K
 * floats apart; when K is a multiple of 1024 bytes' worth every row maps to
 * the same L1 set, so reading the 14 rows directly in the tile thrashed L1
 * (K = 2048, 3072, 4096 ran at 60% of the K = 768 speed). Transposed 16 k at
 * a time in registers (a scalar copy cost a quarter of the tile's time). */
static SC_TARGET_AVX512 void pack_x(float *xp, const float *x, int64_t ldx, int mr, int64_t kc) {
    for (int64_t k = 0; k < kc; k += 16) {
        __mmask16 m = tail_mask(kc - k);
        int64_t kn = kc - k < 16 ? kc - k : 16;
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < mr ? _mm512_maskz_loadu_ps(m, x + i * ldx + k) : _mm512_setzero_ps();
        sc_transpose16(r);
        for (int64_t c = 0; c < kn; c++) _mm512_mask_storeu_ps(xp + (k + c) * MR, (__mmask16)((1u << MR) - 1), r[c]);
    }
}

static SC_TARGET_AVX512 void tile_any(int mr, int64_t kc, const float *xp, const float *p, float *y,
                                      int64_t ldy, int first, __mmask16 m0, __mmask16 m1) {
    switch (mr) {
#define T(R) case R: tile(R, kc, xp, p, y, ldy, first, m0, m1); break;
        T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9) T(10) T(11) T(12) T(13)
#undef T
    default: tile(MR, kc, xp, p, y, ldy, first, m0, m1); break;
    }
}

static SC_TARGET_AVX512 void pack_any(float *dst, const void *w, int dt, int64_t N, int64_t K, int64_t n0,
                                      int64_t k0, int64_t kc) {
    if (dt == DT_F32) pack_panel(dst, w, DT_F32, N, K, n0, k0, kc);
    else if (dt == DT_BF16) pack_panel(dst, w, DT_BF16, N, K, n0, k0, kc);
    else pack_panel(dst, w, DT_F16, N, K, n0, k0, kc);
}

/* Packed path. Work items (a block of nc columns of W x a range of row
 * tiles) are taken from a shared counter by one task per thread, each with
 * its own scratch. Per item and K block of kc: the W block (nc x kc, at most
 * WB_FLOATS: it stays in L2) is packed into panels, then each row tile packs
 * its x block (14 x kc: in L1) and runs over every panel, which stream from
 * L2. Partial sums live in y between K blocks.
 *
 * Blocking, measured one thread: the x block is re-packed once per W block,
 * so a wide W block pays: 768 columns x 256 of K ran M = 1024 4-7% faster
 * than 256 x 256 (x was packed 3-12 times per call). At M = 1024, taller W
 * blocks (all of K for fewer columns, y written once) or x packed once per
 * call into a shared buffer did not beat it: x then streams from L3 at the
 * tile's pace instead of being packed from 14 rows in parallel. Up to
 * M_TALL rows both do help (see gemm_packed). Software prefetch of y, of the
 * next x block or of the next W rows did not help; unrolling the tile's k
 * loop by 2 did (2-4%). */
#define WB_FLOATS (192 * 1024) /* packed W per thread: 768 KiB */
#define NC_MAX 768
#define KC 256

/* One call's operands (y = x @ W^T, W of dtype dt), shared by the packed
 * path's and the in-place / decode paths' jobs. */
typedef struct {
    float *y;
    const float *x;
    const void *w;
    int dt;
    int64_t M, N, K;
} mm_call;

typedef struct {
    mm_call c;
    int64_t tiles, nc, kc, n_blocks, m_chunks;
    float *scratch; /* per task: WB_FLOATS of W panels, then MR x kc of x */
    float *xp;      /* NULL, or x packed once per call: tile t, K block at k0 at (tiles * k0 + t * kc) * MR */
    _Atomic int64_t next; /* next work item */
} gemm_job;

#define KC_TALL 768 /* K block when M <= M_TALL */
#define M_TALL 256
#define TASK_FLOATS (WB_FLOATS + MR * KC_TALL)

/* first row of row tile t: balanced tiles (M = 32: 11+11+10, not 14+14+4),
 * since a short tile runs its FMAs at a fraction of the full tile's rate */
static int64_t tile_row(const gemm_job *j, int64_t t) { return t * j->c.M / j->tiles; }

static SC_TARGET_AVX512 void gemm_item(const gemm_job *j, float *wb, float *xb, int64_t nblk, int64_t t0,
                                       int64_t t1) {
    const int64_t N = j->c.N, K = j->c.K, na = nblk * j->nc, nb = na + j->nc < N ? na + j->nc : N;
    const int64_t panels = (nb - na + NR - 1) / NR;
    for (int64_t k0 = 0; k0 < K; k0 += j->kc) {
        int64_t kc = K - k0 < j->kc ? K - k0 : j->kc;
        for (int64_t p = 0; p < panels; p++) pack_any(wb + p * kc * NR, j->c.w, j->c.dt, N, K, na + p * NR, k0, kc);
        for (int64_t t = t0; t < t1; t++) {
            int64_t m = tile_row(j, t);
            int mr = (int)(tile_row(j, t + 1) - m);
            const float *xt = j->xp ? j->xp + (j->tiles * k0 + t * kc) * MR : xb;
            if (!j->xp) pack_x(xb, j->c.x + m * K + k0, K, mr, kc);
            for (int64_t p = 0; p < panels; p++) {
                int64_t n = na + p * NR, cols = nb - n;
                __mmask16 m0 = tail_mask(cols), m1 = tail_mask(cols > 16 ? cols - 16 : 0);
                tile_any(mr, kc, xt, wb + p * kc * NR, j->c.y + m * N + n, N, k0 == 0, m0, m1);
            }
        }
    }
}

static void pack_x_task(void *vctx, int task, int n_tasks) {
    const gemm_job *j = vctx;
    int64_t t0, t1;
    sc_split_range(j->tiles, 1, task, n_tasks, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        int64_t m = tile_row(j, t);
        for (int64_t k0 = 0; k0 < j->c.K; k0 += j->kc) {
            int64_t kc = j->c.K - k0 < j->kc ? j->c.K - k0 : j->kc;
            pack_x(j->xp + (j->tiles * k0 + t * kc) * MR, j->c.x + m * j->c.K + k0, j->c.K,
                   (int)(tile_row(j, t + 1) - m), kc);
        }
    }
}

static void gemm_task(void *vctx, int task, int n_tasks) {
    (void)n_tasks;
    gemm_job *j = vctx;
    float *wb = j->scratch + (int64_t)task * TASK_FLOATS, *xb = wb + WB_FLOATS;
    const int64_t items = j->n_blocks * j->m_chunks;
    for (int64_t it; (it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < items;) {
        int64_t t0, t1;
        sc_split_range(j->tiles, 1, (int)(it / j->n_blocks), (int)j->m_chunks, &t0, &t1);
        if (t0 < t1) gemm_item(j, wb, xb, it % j->n_blocks, t0, t1);
    }
}

static void gemm_packed(const mm_call *c, sc_pool *pool, int threads) {
    const int64_t M = c->M, N = c->N, K = c->K;
    gemm_job j = {.c = *c};
    j.tiles = (M + MR - 1) / MR;
    /* items: W blocks of up to NC_MAX columns, narrower (not below 64) to give
     * each thread 2; row ranges too when N is still short of that */
    int64_t want = threads > 1 ? 2 * threads : 1, nc = (N + want - 1) / want, nc_max = NC_MAX;
    j.kc = KC;
    if (M <= M_TALL) { /* few rows: taller W blocks of fewer columns, each W row read in longer
                        * runs (M = 64-128: 4-7% faster; y's partial sums then stay in L2) */
        j.kc = K < KC_TALL ? K : KC_TALL;
        nc_max = WB_FLOATS / j.kc / NR * NR;
    }
    nc = nc > nc_max ? nc_max : nc < 64 ? 64 : nc;
    /* many rows: rather split them (each item packs the W block, instead of
     * x being packed once per narrower block; M = 1024, N = 768, 2 threads:
     * 4-8% faster), in chunks of at least 256 rows */
    int64_t m_most = M > M_TALL ? M / 256 : 0;
    if (m_most >= threads) nc = N < nc_max ? N : nc_max;
    j.nc = (nc + NR - 1) / NR * NR;
    j.n_blocks = (N + j.nc - 1) / j.nc;
    j.m_chunks = 1;
    if (j.n_blocks < want) {
        int64_t mc = (want + j.n_blocks - 1) / j.n_blocks;
        if (m_most >= threads && mc > m_most) mc = m_most;
        j.m_chunks = mc < j.tiles ? mc : j.tiles;
    }
    /* up to M_TALL rows, x is packed once per call (it stays in L2; 2-5% faster
     * than packing it per W block); for more it would stream from L3 at the
     * tile's pace (M = 1024: 5% slower) */
    size_t xp_floats = M <= M_TALL ? ((size_t)j.tiles * (size_t)K * MR + 15) / 16 * 16 : 0;
    void *owned = NULL;
    j.scratch = sc_kernel_scratch(pool, sizeof(float) * ((size_t)threads * TASK_FLOATS + xp_floats), &owned);
    if (!j.scratch) { /* out of memory: the row path needs none and sums in the same order */
        rows_all(c->y, c->x, c->w, c->dt, K, N, M);
        return;
    }
    if (xp_floats) {
        j.xp = j.scratch + (size_t)threads * TASK_FLOATS;
        int64_t tasks = j.tiles < 2 * threads ? j.tiles : 2 * threads;
        sc_pool_run(threads > 1 ? pool : NULL, pack_x_task, &j, threads > 1 ? (int)tasks : 1);
    }
    atomic_init(&j.next, 0);
    sc_pool_run(threads > 1 ? pool : NULL, gemm_task, &j, threads);
    free(owned);
}

/* ---- F32 W, 16 to 192 rows of x: W read in place ----
 * Here W is not packed: a tile broadcasts W[n, k] for 10 (or 8) rows n
 * straight from memory against x^T [k][32 or 48], computing y^T (10 x 32 or
 * 8 x 48 outputs, 20 or 24 accumulators). At most 10 rows keeps the
 * broadcast streams within L1's ways even when the row stride is a multiple
 * of 4 KiB. x is transposed once per call (a first pool run) in up to 4 row
 * blocks of 48 or 32 (whichever wastes fewer lanes: M = 112 is 48 + 32 +
 * 32). Per K chunk (x^T of the chunk at most 576 KiB, so it stays in L2: all
 * of K up to 3072 for one block of 48), W rows are taken in groups of ~256
 * KiB: a group is read from memory by the first block and from L2 by the
 * others. Over K chunks the chain goes on from y (read back into the
 * accumulators through a transpose, so the order is the same as one chunk's). The y^T tile is
 * transposed in registers and stored with one masked store per row of y.
 *
 * Measured on a 2-core Xeon (one thread): the packed path below spends
 * ~12% of its time at M = 128 packing W (transposes on the shuffle port,
 * which is also an FMA port on that core) and reads partial sums back from
 * y; this path beat it by 0-19% from M = 64 to 192 with W hot in cache
 * (2-35% with W from memory), but not at M = 1024 (5-11% slower, W then read
 * once per 192 rows). Earlier steps: the whole of K per chunk for one block
 * (each W row read in one pass; 512-value chunks made M = 32, (N, K) =
 * (3072, 768) 20-27% slower) and the transposed y stores (scattered scalars
 * thrashed L1 when N * 4 is a multiple of 4 KiB, the 32 y rows sharing one
 * set: 25-38% slower). */
#define XT_MIN 16 /* below, the 32-wide x^T panel wastes most FMAs: packed W wins */
#define SB_BLOCKS 4
#define XT_MAX (48 * SB_BLOCKS)
#define XT_L2_FLOATS (144 * 1024) /* x^T of one K chunk: 576 KiB */
#define WG_FLOATS (64 * 1024)     /* W rows per group: 256 KiB */

/* y^T[n..n+R, 0..16P) over one K chunk; P = 2 (M <= 32, R <= 10) or 3
 * (M <= 48, R <= 8): 2R or 3R accumulators. */
static SC_AI SC_TARGET_AVX512 void small_tile(int P, int R, float *y, const float *xt, const float *w, int64_t K,
                                              int64_t N, int64_t M, int64_t n, int64_t k0, int64_t kc) {
    __m512 acc[10][3];
    const __mmask16 rm = (__mmask16)((1u << R) - 1);
    if (k0 == 0) {
        for (int r = 0; r < R; r++)
            for (int c = 0; c < P; c++) acc[r][c] = _mm512_setzero_ps();
    } else { /* the chain goes on from the earlier chunks' sums in y (transposed back) */
        for (int c = 0; c < P; c++) {
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = 16 * c + i < M ? _mm512_maskz_loadu_ps(rm, y + (16 * c + i) * N + n) : _mm512_setzero_ps();
            sc_transpose16(v);
            for (int r = 0; r < R; r++) acc[r][c] = v[r];
        }
    }
    const float *wr = w + n * K + k0;
    /* the next tile's rows: short runs (K = 768) end before the hardware
     * prefetcher ramps up (W from memory: 25% faster with this); runs of two
     * pages or more it streams better alone (K = 3072: 5-10% faster without) */
    const int pf = kc < 2048;
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; k++) {
        if (pf && (k & 15) == 0)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(wr + (R + r) * K + k), _MM_HINT_T0);
        __m512 xv[3];
        for (int c = 0; c < P; c++) xv[c] = _mm512_load_ps(xt + k * 16 * P + 16 * c);
        for (int r = 0; r < R; r++) {
            __m512 b = _mm512_set1_ps(wr[r * K + k]);
            for (int c = 0; c < P; c++) acc[r][c] = _mm512_fmadd_ps(b, xv[c], acc[r][c]);
        }
    }
    /* y[m, n..n+R) for each m: the accumulators transposed 16 x 16 */
    for (int c = 0; c < P; c++) {
        __m512 v[16];
        for (int r = 0; r < 16; r++) v[r] = r < R ? acc[r][c] : _mm512_setzero_ps();
        sc_transpose16(v);
        for (int i = 0; i < 16 && 16 * c + i < M; i++) {
            _mm512_mask_storeu_ps(y + (16 * c + i) * N + n, rm, v[i]);
        }
    }
}

/* xt[k][16P] = x^T of M <= 16P rows over all of K (rows >= M: zero), 16 k x
 * 16 m per transpose. */
static SC_TARGET_AVX512 void small_pack_xt(float *xt, const float *x, int64_t K, int64_t M, int P) {
    for (int64_t k = 0; k < K; k += 16) {
        __mmask16 km = tail_mask(K - k);
        int64_t kn = K - k < 16 ? K - k : 16;
        for (int h = 0; h < P; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                int64_t m = 16 * h + i;
                r[i] = m < M ? _mm512_maskz_loadu_ps(km, x + m * K + k) : _mm512_setzero_ps();
            }
            sc_transpose16(r);
            for (int64_t c = 0; c < kn; c++) _mm512_store_ps(xt + (k + c) * 16 * P + 16 * h, r[c]);
        }
    }
}

/* y^T over W rows [n0, n1) and the K chunk [k0, k0 + kc) for one row block
 * (M <= 16P rows; xt: its x^T at k0). */
static SC_AI SC_TARGET_AVX512 void small_rows_p(int P, float *y, const float *xt, const float *w, int64_t K,
                                                int64_t N, int64_t M, int64_t n0, int64_t n1, int64_t k0,
                                                int64_t kc) {
    const int R = P == 2 ? 10 : 8;
    int64_t n = n0;
    for (; n + R <= n1; n += R) small_tile(P, R, y, xt, w, K, N, M, n, k0, kc);
    switch (n1 - n) {
#define T(RR) case RR: small_tile(P, RR, y, xt, w, K, N, M, n, k0, kc); break;
        T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8) T(9)
#undef T
    default: break;
    }
}

static SC_TARGET_AVX512 void small_rows(int P, float *y, const float *xt, const float *w, int64_t K, int64_t N,
                                        int64_t M, int64_t n0, int64_t n1, int64_t k0, int64_t kc) {
    if (P == 2) small_rows_p(2, y, xt, w, K, N, M, n0, n1, k0, kc);
    else small_rows_p(3, y, xt, w, K, N, M, n0, n1, k0, kc);
}

/* The row blocks: block b has rows row[b]..row[b+1], x^T 16 * p[b] wide at
 * xt + off[b] * (K rounded up to 16). */
typedef struct {
    int64_t blocks, lanes, row[SB_BLOCKS + 1], off[SB_BLOCKS];
    int p[SB_BLOCKS];
} sb_split;

/* Rows M <= XT_MAX into blocks of 48 and 32 with the fewest lanes (ties:
 * fewer blocks), rows in proportion to the widths. */
static void sb_blocks(sb_split *s, int64_t M) {
    int64_t best = 0, ba = 0, bb = 0;
    for (int64_t a = 0; a <= SB_BLOCKS; a++)
        for (int64_t b = 0; a + b <= SB_BLOCKS; b++) {
            int64_t lanes = 48 * a + 32 * b;
            if (lanes >= M && (!best || lanes < best || (lanes == best && a + b < ba + bb))) {
                best = lanes;
                ba = a;
                bb = b;
            }
        }
    s->blocks = ba + bb;
    s->lanes = best;
    for (int64_t i = 0, cap = 0; i <= s->blocks; i++) {
        s->row[i] = cap * M / best;
        if (i < s->blocks) {
            s->off[i] = cap;
            cap += i < ba ? 48 : 32;
        }
    }
    for (int64_t i = 0; i < s->blocks; i++) s->p[i] = s->row[i + 1] - s->row[i] <= 32 ? 2 : 3;
}

typedef struct {
    mm_call c;
    float *xt;  /* in-place path: x^T */
    int64_t kp; /* K rounded up to 16 */
    sb_split sp;
} job;

static void xt_pack_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    const sb_split *sp = &j->sp;
    for (int64_t b = task; b < sp->blocks; b += n_tasks)
        small_pack_xt(j->xt + sp->off[b] * j->kp, j->c.x + sp->row[b] * j->c.K, j->c.K, sp->row[b + 1] - sp->row[b],
                      sp->p[b]);
}

static void xt_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    const sb_split *sp = &j->sp;
    int64_t n0, n1;
    sc_split_range(j->c.N, 40, task, n_tasks, &n0, &n1); /* whole tiles of 10 or 8 rows */
    int64_t kcs = XT_L2_FLOATS / sp->lanes / 16 * 16;
    for (int64_t k0 = 0; k0 < j->c.K; k0 += kcs) {
        int64_t kc = j->c.K - k0 < kcs ? j->c.K - k0 : kcs;
        int64_t group = WG_FLOATS / kc / 40 * 40;
        if (group < 40) group = 40;
        for (int64_t g = n0; g < n1; g += group) {
            int64_t g1 = g + group < n1 ? g + group : n1;
            for (int64_t b = 0; b < sp->blocks; b++)
                small_rows(sp->p[b], j->c.y + sp->row[b] * j->c.N, j->xt + sp->off[b] * j->kp + k0 * 16 * sp->p[b],
                           j->c.w, j->c.K, j->c.N, sp->row[b + 1] - sp->row[b], g, g1, k0, kc);
        }
    }
}

static void decode_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    int64_t n0, n1;
    sc_split_range(j->c.N, 16, task, n_tasks, &n0, &n1); /* whole blocks of 16 W rows */
    if (n0 >= n1) return;
    if (j->c.dt == DT_F32) decode_f32(j->c.y, j->c.x, j->c.w, j->c.K, j->c.N, j->c.M, n0, n1);
    else if (j->c.dt == DT_BF16) decode_bf16(j->c.y, j->c.x, j->c.w, j->c.K, j->c.N, j->c.M, n0, n1);
    else decode_f16(j->c.y, j->c.x, j->c.w, j->c.K, j->c.N, j->c.M, n0, n1);
}

void sc_matmul_f32_avx512(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (M <= 0 || N <= 0) return;
    job j = {.c = {.y = y, .x = x, .w = W->data, .M = M, .N = N, .K = K}};
    if (W->dtype == SC_DTYPE_F32) j.c.dt = DT_F32;
    else if (W->dtype == SC_DTYPE_BF16) j.c.dt = DT_BF16;
    else if (W->dtype == SC_DTYPE_F16) j.c.dt = DT_F16;
    else {
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    if (sc_matmul_degenerate(y, M, N, K)) return;
    int threads = sc_kernel_threads(pool, M, N, K);
    if (M <= DECODE_M) {
        int64_t tasks = (N + 63) / 64;
        if (tasks > 4 * threads) tasks = 4 * threads;
        if (threads == 1) tasks = 1;
        sc_pool_run(threads > 1 ? pool : NULL, decode_task, &j, (int)tasks);
        return;
    }
    if (M >= XT_MIN && M <= XT_MAX && j.c.dt == DT_F32) {
        j.kp = (K + 15) / 16 * 16;
        sb_blocks(&j.sp, M);
        void *owned = NULL;
        j.xt = sc_kernel_scratch(pool, sizeof(float) * (size_t)j.sp.lanes * (size_t)j.kp, &owned);
        if (j.xt) {
            int64_t tasks = (N + 79) / 80; /* 2 threads, N = 768: 9-14% faster than 160-row tasks */
            sc_pool_run(threads > 1 && j.sp.blocks > 1 ? pool : NULL, xt_pack_task, &j,
                        threads > 1 ? (int)j.sp.blocks : 1);
            if (tasks > 4 * threads) tasks = 4 * threads;
            sc_pool_run(threads > 1 ? pool : NULL, xt_task, &j, threads > 1 ? (int)tasks : 1);
            free(owned);
            return;
        } /* out of memory: the packed path (or the row path) */
    }
    gemm_packed(&j.c, pool, threads);
}
#endif

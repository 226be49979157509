/* AMX matmul y[M,N] = x[M,K] @ W[N,K]^T for BF16 weights (tdpbf16ps: x
 * rounded to bf16 to nearest even, fp32 sums; the bf16-compute error bound
 * of matmul_bf16_dot.c) and I8 weights with per-row scales (tdpbssd: x
 * quantized per row exactly as matmul_q8_vnni.c does, exact int32 sums,
 * y = sx[m] * sw[n] * dot, the same expression as the VNNI kernel).
 *
 * A tile product takes A as 16 rows x 64 bytes of k (32 bf16 or 64 int8)
 * and B in "VNNI" order: B row r holds, for each of 16 columns, the 4
 * bytes of k 2r, 2r+1 (bf16 pairs) or 4r .. 4r+3 (int8 quads), i.e. a
 * 32-bit 16x16 transpose of 16 rows of k. Two operand layouts:
 *  - M < 256 (W used by few x rows, streamed once): W is the A operand, in
 *    place (tile rows one W row apart, no copy), and x^T the B operand,
 *    packed per call (16 x rows transposed per k-step). The C tile is y^T
 *    (16 n x 16 m), transposed in registers when stored.
 *  - M >= 256: W is packed once per call as the B operand (its rows
 *    transposed per k-step, contiguous 2 KiB k-steps of 32 rows, which the
 *    prefetchers stream far better than rows K apart) and x, packed as
 *    plain rows, is the A operand. The C tile is then a tile of y, stored
 *    straight into y (bf16; int8 is scaled on the way). Together 10-30%
 *    faster than the first layout at M = 1024, slower at M = 128.
 * Tile registers: C 0-3, A 4-5, B 6-7; one k-step is 2 A and 2 B loads for
 * 4 tile products (32 x 32).
 *
 * Blocking (see gemm_range): the x block's K chunk stays in L1 while 4 W
 * blocks stream past it from L2; C tiles are parked in an L1 buffer between
 * K chunks, and each finished m-block's tiles are written to y one at a
 * time between the tile products of the next (the stores, often cache
 * misses, then overlap the AMX work). In the x-as-A mode each 32 x 32 y
 * block's lines are also fetched for writing (prefetchw) during its last
 * K chunk but one, so its stores, straight from the tiles for bf16, do not
 * wait for read-for-ownership misses (M = 1024, N = K = 768: 3-5% faster
 * than without). Up to FULLK_MAX_M x rows (an
 * expert's tokens) there are no K chunks: C stays in tiles over all of K.
 * W used in place is read from memory once per call, and a tile load of it
 * waits for 16 lines of 16 rows at once. Each k-step therefore prefetches
 * (to L1) the same rows' lines PF_STEPS k-steps on, running into the next
 * block at the end of one, so a few k-steps of lines are always on the
 * way. Expert GEMMs (bf16, 768 x 3072 pairs, 2 threads each on its own
 * experts) went from 18.6 to 22-23.5 GB/s at M = 32 and from 22 to 27
 * GB/s at M = 8; 2 k-steps ahead was slower than none. An earlier scheme,
 * the next n-chunk prefetched to L2 in address order, lost to no prefetch
 * at all on this machine (probably because those prefetches held the line
 * fill buffers that the tile loads needed).
 *
 * Edges: x rows past M are packed as zeros and their y rows not stored; the
 * last partial k-step of each in-place 32-row W block comes from a
 * zero-padded 32 x 64-byte copy; the rows past the last multiple of 32 of
 * N are copied once per call into a zero-padded panel (packed W is zero
 * padded itself). No load reads past W or x.
 *
 * Threads: one pool run; tasks split N into chunks of 4 W blocks (and M
 * too when N is small). x blocks (and W blocks when packed) are packed on
 * demand by the first task that needs them: an atomic claim per block; a
 * task that needs a block someone else is packing packs its own later
 * blocks while it waits. Packing then overlaps the other threads' tile
 * work, with no separate pass. Each task configures the tiles once and
 * releases them at its end.
 *
 * One call can also multiply x with several weights of one shape (q, k,
 * v: their rows concatenated, each part's outputs its own y), packing x
 * once, and can run a relu FF block (fused FF below): the first product's
 * C tiles are relu'd, rounded to bf16 and written straight into the packed
 * x of the second, so the hidden values are never stored in fp32, passed
 * over by the activation, or packed. Both give the separate calls' results
 * bit for bit: each output sums the same tile products in the same order.
 *
 * Scratch (packed x, x scales, claims, the N-tail panel or packed W) comes
 * from the pool (sc_pool_scratch) or, with a NULL pool, one allocation per
 * call; out of memory falls back to the reference. Leaves out: weights
 * packed once at load (packing per call costs a pass over W), AMX-FP16,
 * tiles of fewer than 16 rows for the edges. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/quantize_x.h"
#include "kernels/cpu/transpose16.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define TILE_BYTES 1024 /* 16 rows x 64 bytes */
#define KC_STEPS 8      /* k-steps per K chunk (see gemm_range) */
#define NCH 4           /* 32-row W blocks per n-chunk */
#define WPACK_MIN_MBLOCKS 8 /* pack W per call from this many 32-row x blocks on */
#define FULLK_MAX_M 128     /* up to this many x rows C stays in tiles over all of K */
#define PF_STEPS 4          /* W in place: its rows are prefetched this many k-steps ahead */

/* Tile instructions as inline asm with explicit memory effects (the
 * compiler's own intrinsics do not tell it that a tile load reads memory). */
#define TLOAD(t, p, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"(p), "r"((int64_t)(stride)) : "memory")
#define TSTORE(t, p, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"(p), "r"((int64_t)(stride)) : "memory")
#define TZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
#define TDP_BF16(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#define TDP_I8(c, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Tiles 0-7 all 16 rows x 64 bytes. */
static void tiles_configure(void) {
    tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.colsb[t] = 64;
        c.rows[t] = 16;
    }
    __asm__ volatile("ldtilecfg %0" ::"m"(c));
}

static void tiles_release(void) { __asm__ volatile("tilerelease" ::: "memory"); }

#define MAX_PARTS 3 /* weights one call multiplies x with (q, k, v) */

typedef struct {
    /* y = x @ W^T where W is the row concatenation of parts of Np rows each
     * (one part: Np = N): part p's rows are w[p] ([Np, K], es bytes per
     * value; I8: scales sw[p]), its outputs y[p] ([M, Np]). */
    float *y[MAX_PARTS];
    const float *x;
    const uint8_t *w[MAX_PARTS];
    const float *sw[MAX_PARTS];
    int64_t Np;
    uint8_t *xp;       /* packed x: Mp / 16 blocks of blk_bytes */
    float *sx;         /* I8: [Mp] x row scales */
    uint8_t *tail;     /* W rows ntail..N-1, 32 x Kp values, zero padded; NULL if none */
    uint8_t *wp;       /* M >= 256: W packed per 32-row block, 2 KiB per k-step (see pack_w); else NULL */
    uint8_t *hp;       /* fused FF, first product: y goes here (relu, bf16, packed as x of the second); else NULL */
    const uint8_t *xpre; /* fused FF, second product: x already packed (the first's hp); else NULL */
    _Atomic int *ready; /* x blocks, the tail panel, W blocks: 0 to do, 1 being made, 2 done */
    int64_t M, N, K;
    int64_t Mp, Kp;    /* M rounded up to 16, K to kstep */
    int64_t es, kstep; /* bytes per W value; k values per 64-byte tile row */
    int64_t blk_bytes; /* packed bytes per 16 x rows */
    int64_t ntail;     /* N rounded down to 32 */
    size_t xp_bytes, sx_bytes, ready_bytes, w_bytes; /* the scratch layout (job_plan) */
    int i8;
    int xa;            /* x is the A operand and W^T the B operand (with wp); else W is A */
    int n_chunks, m_chunks;
} job;

/* W row n (of the concatenation), its scale, and y[m, n]. */
static inline const uint8_t *w_row(const job *j, int64_t n) {
    return j->w[n / j->Np] + (n % j->Np) * j->K * j->es;
}
static inline const float *sw_at(const job *j, int64_t n) { return j->sw[n / j->Np] + n % j->Np; }
static inline float *y_at(const job *j, int64_t m, int64_t n) { return j->y[n / j->Np] + m * j->Np + n % j->Np; }

/* ---- packing x (per 16-row block, 1 KiB per k-step: the rows themselves
 * as the A operand, their VNNI transpose as the B operand) ---- */

static SC_TARGET_AMX void pack_bf16(const job *j, int64_t b) {
    const int64_t K = j->K, m0 = 16 * b, rows = j->M - m0 < 16 ? j->M - m0 : 16;
    uint8_t *dst = j->xp + b * j->blk_bytes;
    for (int64_t k = 0; k < j->Kp; k += 32, dst += TILE_BYTES) {
        __m512 r[16];
        sc_bf16_rows16(r, j->x + m0 * K, K, k, rows); /* 16 words of (x[2p], x[2p+1]) */
        if (!j->xa) sc_transpose16(r); /* as A operand the rows are the tile rows */
        for (int p = 0; p < 16; p++) _mm512_store_ps((float *)(dst + 64 * p), r[p]);
    }
}

static SC_TARGET_AMX void pack_i8(const job *j, int64_t b) {
    const int64_t K = j->K, m0 = 16 * b, rows = j->M - m0 < 16 ? j->M - m0 : 16;
    uint8_t *dst = j->xp + b * j->blk_bytes;
    __m512 vinv[16];
    sc_q8_scales16(j->x + m0 * K, K, rows, j->sx + m0, vinv);
    for (int64_t i = rows; i < 16; i++) j->sx[m0 + i] = 0.0f;
    for (int64_t k = 0; k < j->Kp; k += 64, dst += TILE_BYTES) {
        __m512 r[16];
        sc_q8_rows16(r, j->x + m0 * K, K, k, rows, vinv); /* 16 words of qx[4p .. 4p+3] */
        if (!j->xa) sc_transpose16(r); /* as A operand the rows are the tile rows */
        for (int p = 0; p < 16; p++) _mm512_store_ps((float *)(dst + 64 * p), r[p]);
    }
}

/* W rows ntail..N-1 into the 32 x Kp tail panel, zero padded. */
static void copy_tail(const job *j) {
    const int64_t row = j->Kp * j->es;
    memset(j->tail, 0, (size_t)(32 * row));
    for (int64_t n = j->ntail; n < j->N; n++)
        memcpy(j->tail + (n - j->ntail) * row, w_row(j, n), (size_t)(j->K * j->es));
}

/* W block nb (rows 32 nb ..) into wp as the B operand of the x-as-A mode
 * (the only one that packs W), 2 KiB per k-step: two 1 KiB tiles of 16
 * rows each in VNNI order, each a 32-bit 16x16 transpose. The tiles of a
 * k-step are contiguous, which the hardware prefetchers stream (W rows K
 * apart they follow poorly). Rows past N and values past K are zeros. */
static SC_TARGET_AMX void pack_w(const job *j, int64_t nb) {
    const int64_t rowb = j->K * j->es, steps = j->Kp / j->kstep;
    uint8_t *dst = j->wp + nb * steps * 2048;
    for (int64_t s = 0; s < steps; s++)
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const int64_t n = 32 * nb + 16 * h + i, left = n < j->N ? rowb - 64 * s : 0;
                __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
                r[i] = _mm512_castsi512_ps(_mm512_maskz_loadu_epi8(m, left ? w_row(j, n) + 64 * s : j->w[0]));
            }
            sc_transpose16(r);
            for (int p = 0; p < 16; p++) _mm512_store_ps((float *)(dst + s * 2048 + h * 1024 + 64 * p), r[p]);
        }
}

/* Units of work made on demand: x block u < Mp / 16, then the tail panel,
 * then W block u - Mp / 16 - 1. Claims and makes unit u if nobody has;
 * returns whether it did. */
static SC_TARGET_AMX int try_make(const job *j, int64_t u) {
    _Atomic int *st = &j->ready[u];
    int expect = 0;
    if (atomic_load_explicit(st, memory_order_relaxed) != 0 ||
        !atomic_compare_exchange_strong_explicit(st, &expect, 1, memory_order_acquire, memory_order_relaxed))
        return 0;
    if (u > j->Mp / 16) pack_w(j, u - j->Mp / 16 - 1);
    else if (u == j->Mp / 16) copy_tail(j);
    else if (j->i8) pack_i8(j, u);
    else pack_bf16(j, u);
    atomic_store_explicit(st, 2, memory_order_release);
    return 1;
}

/* Makes sure units u0 .. u1-1 are ready: makes the unclaimed ones, then
 * waits for those others are making, meanwhile making units of the task's
 * own later work (*ahead .. ahead_end) rather than spinning. */
static SC_TARGET_AMX void ensure_ready(const job *j, int64_t u0, int64_t u1, int64_t *ahead, int64_t ahead_end) {
    for (int64_t u = u0; u < u1; u++) try_make(j, u);
    for (int64_t u = u0; u < u1; u++)
        while (atomic_load_explicit(&j->ready[u], memory_order_acquire) != 2) {
            while (*ahead < ahead_end && atomic_load_explicit(&j->ready[*ahead], memory_order_relaxed) != 0) ++*ahead;
            if (*ahead < ahead_end) try_make(j, (*ahead)++);
            else _mm_pause();
        }
}

/* ---- tiles ---- */

/* The fused FF's first product: C tiles become the second product's packed
 * x (see pack_bf16) directly: relu (x > 0 ? x : 0, as the activation op: a
 * NaN gives 0, -0 gives +0; vmaxps returns its second operand for both),
 * then bf16 to nearest even (the rounding pack_bf16 applies). All 16 rows
 * or columns are written, the padding ones too (0: their x rows are 0). */
static SC_AI SC_TARGET_AMX __m512 relu16(__m512 v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }

/* C tile y^T (16 n x 16 m, in buf) of the W-as-A mode: rows n of a B
 * operand tile hold pairs (n, n + 1) for each m, so C rows 2p and 2p + 1
 * interleave into tile row p. */
static SC_TARGET_AMX void store_tile_h(const job *j, const float *buf, int64_t n0, int64_t m0) {
    uint8_t *dst = j->hp + (m0 / 16) * (j->N / 32) * TILE_BYTES + (n0 / 32) * TILE_BYTES + 64 * ((n0 % 32) / 2);
    const __m512i pairs = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                           22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int p = 0; p < 8; p++) {
        __m512bh v = _mm512_cvtne2ps_pbh(relu16(_mm512_load_ps(buf + 32 * p + 16)), relu16(_mm512_load_ps(buf + 32 * p)));
        _mm512_storeu_si512((void *)(dst + 64 * p), _mm512_permutexvar_epi16(pairs, (__m512i)v));
    }
}

/* C tile y (16 m x 16 n, in buf) of the x-as-A mode: each m row's 16
 * values are half of its 32-value A tile row. */
static SC_TARGET_AMX void store_tile_xa_h(const job *j, const float *buf, int64_t n0, int64_t m0) {
    uint8_t *dst = j->hp + (m0 / 16) * (j->N / 32) * TILE_BYTES + (n0 / 32) * TILE_BYTES + 2 * (n0 % 32);
    for (int m = 0; m < 16; m++)
        _mm256_storeu_si256((__m256i *)(dst + 64 * m), (__m256i)_mm512_cvtneps_pbh(relu16(_mm512_load_ps(buf + 16 * m))));
}

/* C tile (16 n x 16 m, in buf) into y[m0.., n0..], scaled for I8. */
static SC_TARGET_AMX void store_tile(const job *j, const void *buf, int64_t n0, int64_t m0) {
    if (j->hp) {
        store_tile_h(j, buf, n0, m0);
        return;
    }
    const int64_t nn = j->N - n0, mm = j->M - m0 < 16 ? j->M - m0 : 16;
    if (nn <= 0 || mm <= 0) return;
    __m512 r[16];
    for (int i = 0; i < 16; i++)
        r[i] = j->i8 ? _mm512_cvtepi32_ps(_mm512_load_si512((const char *)buf + 64 * i))
                     : _mm512_load_ps((const float *)buf + 16 * i);
    sc_transpose16(r);
    __mmask16 mask = sc_mask16(nn);
    __m512 sw = j->i8 ? _mm512_maskz_loadu_ps(mask, sw_at(j, n0)) : _mm512_setzero_ps();
    for (int64_t m = 0; m < mm; m++) {
        __m512 v = r[m];
        if (j->i8) v = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(j->sx[m0 + m]), sw), v);
        _mm512_mask_storeu_ps(y_at(j, m0 + m, n0), mask, v);
    }
}

/* C tile of the x-as-A mode (16 m x 16 n, in buf) into y[m0.., n0..]. */
static SC_TARGET_AMX void store_tile_xa(const job *j, const void *buf, int64_t n0, int64_t m0) {
    if (j->hp) {
        store_tile_xa_h(j, buf, n0, m0);
        return;
    }
    const int64_t nn = j->N - n0, mm = j->M - m0 < 16 ? j->M - m0 : 16;
    if (nn <= 0 || mm <= 0) return;
    __mmask16 mask = sc_mask16(nn);
    __m512 sw = j->i8 ? _mm512_maskz_loadu_ps(mask, sw_at(j, n0)) : _mm512_setzero_ps();
    for (int64_t m = 0; m < mm; m++) {
        __m512 v = j->i8 ? _mm512_cvtepi32_ps(_mm512_load_si512((const char *)buf + 64 * m))
                         : _mm512_load_ps((const float *)buf + 16 * m);
        if (j->i8) v = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(j->sx[m0 + m]), sw), v);
        _mm512_mask_storeu_ps(y_at(j, m0 + m, n0), mask, v);
    }
}

/* One k-step: NB A tiles (at a0 and a1, rows lda apart) times MB B tiles. */
static SC_AI SC_TARGET_AMX void step(int NB, int MB, int i8, const uint8_t *a, const uint8_t *a1, int64_t lda,
                                     const uint8_t *b0, const uint8_t *b1) {
    TLOAD(4, a, lda);
    TLOAD(6, b0, 64);
    if (MB == 2) TLOAD(7, b1, 64);
    if (NB == 2) TLOAD(5, a1, lda);
    if (i8) {
        TDP_I8(0, 4, 6);
        if (MB == 2) TDP_I8(1, 4, 7);
        if (NB == 2) TDP_I8(2, 5, 6);
        if (NB == 2 && MB == 2) TDP_I8(3, 5, 7);
    } else {
        TDP_BF16(0, 4, 6);
        if (MB == 2) TDP_BF16(1, 4, 7);
        if (NB == 2) TDP_BF16(2, 5, 6);
        if (NB == 2 && MB == 2) TDP_BF16(3, 5, 7);
    }
}

/* Where one 32-row W block's A tiles come from: `full` k-steps from a
 * (rows lda apart, sstep bytes per k-step: W in place or packed), then (if
 * K has a tail) one step from the zero-padded copy `at` (stride 64).
 * nb: 1 or 2 A tiles (16 or 32 rows). */
typedef struct {
    const uint8_t *a, *at;
    int64_t lda, sstep, full, n0;
    int nb;
    int in_place;      /* a is W itself (rows lda apart): its rows are prefetched */
    int next_in_place; /* the 32 rows after it are W in place too */
} wblock;

/* C tiles of the last finished m-block, still in the C buffer (NCH W
 * blocks x 4 tiles of 1 KiB: (n0,m0), (n0,m0+16), (n0+16,m0), (n0+16,m0+16)),
 * waiting to be written to y. */
typedef struct {
    const job *j;
    const float *buf;
    int64_t n0[NCH], m;
    int nb[NCH], nblk, mb, next; /* next: tile index 4 * block + t still to store */
} pending; /* (x-as-A mode: tiles (m0,n0), (m0,n0+16), (m0+16,n0), (m0+16,n0+16)) */

static void drain_one(pending *p) {
    while (p->next < 4 * p->nblk) {
        const int i = p->next / 4, t = p->next % 4, xa = p->j->xa;
        const int dn = xa ? t & 1 : t >= 2, dm = xa ? t >= 2 : t & 1;
        p->next++;
        if (!p->nb[i] || (dn && p->nb[i] < 2) || (dm && p->mb < 2)) continue;
        if (xa) store_tile_xa(p->j, p->buf + 1024 * i + 256 * t, p->n0[i] + 16 * dn, p->m + 16 * dm);
        else store_tile(p->j, p->buf + 1024 * i + 256 * t, p->n0[i] + 16 * dn, p->m + 16 * dm);
        return;
    }
}

/* Stores the pending tiles of W blocks below `blocks`. */
static void drain_until(pending *p, int blocks) {
    int end = 4 * (blocks < p->nblk ? blocks : p->nblk);
    while (p->next < end) drain_one(p);
}

/* Where a chunk's B tiles come from: b and b + b1 at k-step 0, bstep bytes
 * per k-step, rows 64 bytes apart. */
typedef struct {
    const uint8_t *b;
    int64_t b1, bstep;
} bsrc;

/* k-steps s0..s1 of W block i (in the x-as-A mode: of the x block): NB A
 * tiles from w (A1 at a1 bytes after A0) against MB B tiles from bs. C
 * tiles start at zero (first) or from cb, and go back to cb. Between steps
 * one pending tile goes to y; the ones that share cb are stored before cb
 * is overwritten (one per step keeps ahead of that unless the chunks are
 * very short). */
static SC_AI SC_TARGET_AMX void chunk(int NB, int MB, int i8, const wblock *w, int64_t a1, int i, int64_t s0,
                                      int64_t s1, const bsrc *bs, float *cb, int first, pending *pend, float *yd,
                                      int64_t ldy, const char *ypf, int64_t ypf_ld) {
    const uint8_t *b = bs->b;
    const int64_t b1 = bs->b1, bstep = bs->bstep;
    if (first) {
        TZERO(0);
        if (MB == 2) TZERO(1);
        if (NB == 2) TZERO(2);
        if (NB == 2 && MB == 2) TZERO(3);
    } else {
        TLOAD(0, cb, 64);
        if (MB == 2) TLOAD(1, cb + 256, 64);
        if (NB == 2) TLOAD(2, cb + 512, 64);
        if (NB == 2 && MB == 2) TLOAD(3, cb + 768, 64);
    }
    const int64_t se = s1 < w->full ? s1 : w->full;
    for (int64_t s = s0; s < se; s++) {
        const uint8_t *a = w->a + w->sstep * s;
        if (w->in_place) { /* the A rows' line PF_STEPS k-steps on (into the next block at the end) */
            const int64_t sp = s + PF_STEPS;
            const uint8_t *pa = sp < w->full                                  ? a + 64 * PF_STEPS
                                : w->next_in_place && sp - w->full < w->full ? w->a + 32 * w->lda + 64 * (sp - w->full)
                                                                              : NULL;
            if (pa)
                for (int r = 0; r < 16 * NB; r++) _mm_prefetch((const char *)pa + r * w->lda, _MM_HINT_T0);
        }
        step(NB, MB, i8, a, a + a1, w->lda, b + s * bstep, b + b1 + s * bstep);
        if (ypf) { /* the 32 y rows (128 bytes each) of this block, stored after the next K chunk */
            const int64_t r0 = (s - s0) * 32 / (se - s0), r1 = (s - s0 + 1) * 32 / (se - s0);
            for (int64_t r = r0; r < r1; r++) {
                _mm_prefetch(ypf + r * ypf_ld, _MM_HINT_ET0);
                _mm_prefetch(ypf + r * ypf_ld + 64, _MM_HINT_ET0);
            }
        }
        if (pend->next < 4 * pend->nblk) drain_one(pend);
    }
    if (s1 > se) step(NB, MB, i8, w->at, w->at + 1024, 64, b + se * bstep, b + b1 + se * bstep);
    if (yd) { /* final full tiles of the x-as-A mode: straight into y */
        TSTORE(0, yd, ldy);
        TSTORE(1, yd + 16, ldy);
        TSTORE(2, yd + ldy / 4 * 16, ldy);
        TSTORE(3, yd + ldy / 4 * 16 + 16, ldy);
        return;
    }
    drain_until(pend, i + 1);
    TSTORE(0, cb, 64);
    if (MB == 2) TSTORE(1, cb + 256, 64);
    if (NB == 2) TSTORE(2, cb + 512, 64);
    if (NB == 2 && MB == 2) TSTORE(3, cb + 768, 64);
}

/* Loop nest of one task (n range and m range in multiples of 32):
 *   m-chunks of mc_rows x rows (their packed x, <= ~1 MiB, stays in L2)
 *     n-chunks of NCH W blocks (their rows stay in L2 across m-blocks)
 *       m-blocks of 32 x rows (packed on first use)
 *         K chunks of KC_STEPS k-steps (the x block's 16 KiB chunk stays in L1)
 *           the n-chunk's W blocks: C tiles from / to cbuf (16 KiB, L1)
 *       the m-block's tiles go to y during the next m-block.
 * W streams from L2 at 2 KiB per k-step; x and C come from L1. With a
 * single x block (M <= 32) there is nothing to reuse: whole W rows are
 * streamed in one K chunk. */
static SC_AI SC_TARGET_AMX void gemm_range(const job *j, int i8, int64_t n_lo, int64_t n_hi, int64_t m_lo,
                                           int64_t m_hi) {
    const int64_t lda = j->K * j->es, full = j->K / j->kstep, ktail = j->K - full * j->kstep;
    const int64_t steps = j->Kp / j->kstep;
    int64_t mc_rows = ((int64_t)1 << 20) / (j->Kp * j->es) / 32 * 32;
    if (mc_rows < 32) mc_rows = 32;
    const int64_t kc = j->Mp <= FULLK_MAX_M ? steps : KC_STEPS;
    const int direct = j->xa && !i8 && !j->hp; /* bf16 y tiles need no scaling */
    _Alignas(64) float cbuf[NCH][1024];
    _Alignas(64) uint8_t kt[NCH][32 * 64];
    pending pend = {.j = j, .buf = cbuf[0]};
    int64_t x_ahead = m_lo / 16, w_ahead = j->Mp / 16 + 1 + n_lo / 32; /* own later units */
    tiles_configure();
    for (int64_t mc = m_lo; mc < m_hi; mc += mc_rows) {
        const int64_t mc_end = mc + mc_rows < m_hi ? mc + mc_rows : m_hi;
        for (int64_t nc = n_lo; nc < n_hi; nc += 32 * NCH) {
            wblock wb[NCH];
            int nblk = 0;
            for (int64_t n = nc; n < n_hi && nblk < NCH; n += 32, nblk++) {
                wblock *w = &wb[nblk];
                w->n0 = n;
                w->at = NULL;
                w->in_place = w->next_in_place = 0;
                w->sstep = 64;
                if (j->wp) {
                    const int64_t wu = j->Mp / 16 + 1 + n / 32;
                    ensure_ready(j, wu, wu + 1, &w_ahead, j->Mp / 16 + 1 + (n_hi + 31) / 32);
                    w->a = j->wp + (n / 32) * steps * 2048;
                    w->lda = 64;
                    w->sstep = 2048;
                    w->full = steps;
                    w->nb = j->N - n > 16 ? 2 : 1;
                } else if (n + 32 <= j->N) {
                    w->a = w_row(j, n);
                    w->lda = lda;
                    w->full = full;
                    w->nb = 2;
                    w->in_place = 1;
                    w->next_in_place = n + 64 <= j->ntail && (n + 32) / j->Np == n / j->Np;
                    if (ktail) {
                        uint8_t *t = kt[nblk];
                        memset(t, 0, 32 * 64);
                        for (int r = 0; r < 32; r++) memcpy(t + 64 * r, w->a + r * lda + 64 * full, (size_t)(ktail * j->es));
                        w->at = t;
                    }
                } else {
                    ensure_ready(j, j->Mp / 16, j->Mp / 16 + 1, &x_ahead, (m_hi + 15) / 16);
                    w->a = j->tail;
                    w->lda = j->Kp * j->es;
                    w->full = steps;
                    w->nb = j->N - n > 16 ? 2 : 1;
                }
            }
            for (int64_t m = mc; m < mc_end; m += 32) {
                const int MB = j->Mp - m >= 32 ? 2 : 1;
                ensure_ready(j, m / 16, m / 16 + MB, &x_ahead, (m_hi + 15) / 16);
                const uint8_t *xb = j->xp + (m / 16) * j->blk_bytes;
                /* x as B: its two blocks blk_bytes apart, 1 KiB per k-step; as A the same,
                 * with W's packed 2 KiB k-steps as B */
                const wblock xw = {.a = xb, .lda = 64, .sstep = TILE_BYTES, .full = steps};
                int pend_skip = 0; /* W blocks whose tiles went straight to y */
                const bsrc xs = {xb, j->blk_bytes, TILE_BYTES};
                for (int64_t s0 = 0; s0 < steps; s0 += kc) {
                    const int64_t s1 = s0 + kc < steps ? s0 + kc : steps;
                    for (int i = 0; i < nblk; i++) {
                        const wblock *w = &wb[i];
                        float *cb = cbuf[i];
                        const int first = s0 == 0;
                        if (j->xa) {
                            const bsrc ws = {w->a, 1024, 2048};
                            float *yd = direct && s1 == steps && w->nb == 2 && MB == 2 && w->n0 + 32 <= j->N &&
                                                m + 32 <= j->M
                                            ? y_at(j, m, w->n0)
                                            : NULL;
                            if (yd) pend_skip |= 1 << i;
                            const int before_last = !j->hp && s1 < steps && s1 + kc >= steps && w->nb == 2 &&
                                                    MB == 2 && w->n0 + 32 <= j->N && m + 32 <= j->M;
                            const char *ypf = before_last ? (const char *)y_at(j, m, w->n0) : NULL;
                            if (w->nb == 2 && MB == 2) chunk(2, 2, i8, &xw, j->blk_bytes, i, s0, s1, &ws, cb, first, &pend, yd, 4 * j->Np, ypf, 4 * j->Np);
                            else if (w->nb == 2) chunk(1, 2, i8, &xw, j->blk_bytes, i, s0, s1, &ws, cb, first, &pend, NULL, 0, NULL, 0);
                            else if (MB == 2) chunk(2, 1, i8, &xw, j->blk_bytes, i, s0, s1, &ws, cb, first, &pend, NULL, 0, NULL, 0);
                            else chunk(1, 1, i8, &xw, j->blk_bytes, i, s0, s1, &ws, cb, first, &pend, NULL, 0, NULL, 0);
                        } else {
                            const int64_t a1 = 16 * w->lda;
                            if (w->nb == 2 && MB == 2) chunk(2, 2, i8, w, a1, i, s0, s1, &xs, cb, first, &pend, NULL, 0, NULL, 0);
                            else if (w->nb == 2) chunk(2, 1, i8, w, a1, i, s0, s1, &xs, cb, first, &pend, NULL, 0, NULL, 0);
                            else if (MB == 2) chunk(1, 2, i8, w, a1, i, s0, s1, &xs, cb, first, &pend, NULL, 0, NULL, 0);
                            else chunk(1, 1, i8, w, a1, i, s0, s1, &xs, cb, first, &pend, NULL, 0, NULL, 0);
                        }
                    }
                }
                drain_until(&pend, NCH); /* normally already done during this m-block */
                pend.m = m;
                pend.mb = MB;
                pend.nblk = nblk;
                pend.next = 0;
                for (int i = 0; i < nblk; i++) {
                    pend.n0[i] = wb[i].n0;
                    pend.nb[i] = pend_skip >> i & 1 ? 0 : wb[i].nb;
                }
            }
        }
    }
    drain_until(&pend, NCH);
    tiles_release();
}

static SC_TARGET_AMX void gemm_bf16(const job *j, int64_t n0, int64_t n1, int64_t m0, int64_t m1) {
    gemm_range(j, 0, n0, n1, m0, m1);
}
static SC_TARGET_AMX void gemm_i8(const job *j, int64_t n0, int64_t n1, int64_t m0, int64_t m1) {
    gemm_range(j, 1, n0, n1, m0, m1);
}

static void gemm_task(void *vctx, int task, int n_tasks) {
    const job *j = vctx;
    int nt = task % j->n_chunks, mt = task / j->n_chunks;
    int64_t n0, n1, m0, m1;
    sc_split_range(j->N, 32 * NCH, nt, j->n_chunks, &n0, &n1);
    sc_split_range(j->Mp, 32, mt, j->m_chunks, &m0, &m1);
    if (n0 >= n1 || m0 >= m1) return;
    if (j->i8) gemm_i8(j, n0, n1, m0, m1);
    else gemm_bf16(j, n0, n1, m0, m1);
}

/* Sets j's derived fields (from M, N, K, i8, xpre) and its scratch layout:
 * packed x (none with xpre) | x scales | claims | N-tail panel or packed W,
 * each 64-byte aligned. Returns the scratch bytes, 0 when the sizes are out
 * of range. */
static size_t job_plan(job *j) {
    const int64_t N = j->N;
    j->es = j->i8 ? 1 : 2;
    j->kstep = 64 / j->es;
    j->Mp = (j->M + 15) / 16 * 16;
    j->Kp = (j->K + j->kstep - 1) / j->kstep * j->kstep;
    j->blk_bytes = j->Kp / j->kstep * TILE_BYTES;
    j->ntail = N / 32 * 32;
    /* W is packed (once per call) when enough x blocks reuse it */
    j->xa = j->Mp >= 32 * WPACK_MIN_MBLOCKS;
    const int64_t nblocks = (N + 31) / 32;
    if (!(((double)j->Mp + (double)nblocks * 32 + 32) * (double)j->Kp < 1e15)) return 0;
    const size_t units = (size_t)(j->Mp / 16) + 1 + (size_t)nblocks;
    j->xp_bytes = j->xpre ? 0 : (size_t)(j->Mp / 16) * (size_t)j->blk_bytes;
    j->sx_bytes = j->i8 ? ((size_t)j->Mp * sizeof(float) + 63) / 64 * 64 : 0;
    j->ready_bytes = (units * sizeof(_Atomic int) + 63) / 64 * 64;
    j->w_bytes = j->xa ? (size_t)nblocks * (size_t)(j->Kp / j->kstep) * 2048
                 : j->ntail < N ? (size_t)32 * (size_t)(j->Kp * j->es) : 0;
    return j->xp_bytes + j->sx_bytes + j->ready_bytes + j->w_bytes;
}

/* Runs a planned job with its scratch buf. */
static void job_run(job *j, uint8_t *buf, sc_pool *pool) {
    const int64_t N = j->N, xblocks = j->Mp / 16;
    const size_t units = (size_t)xblocks + 1 + (size_t)((N + 31) / 32);
    j->xp = j->xpre ? (uint8_t *)j->xpre : buf;
    j->sx = j->i8 ? (float *)(buf + j->xp_bytes) : NULL;
    j->ready = (_Atomic int *)(buf + j->xp_bytes + j->sx_bytes);
    for (size_t u = 0; u < units; u++) atomic_init(&j->ready[u], j->xpre && (int64_t)u < xblocks ? 2 : 0);
    uint8_t *wbuf = buf + j->xp_bytes + j->sx_bytes + j->ready_bytes;
    if (j->xa) j->wp = wbuf;
    else j->tail = j->w_bytes ? wbuf : NULL;

    int threads = sc_kernel_threads(pool, j->M, N, j->K);
    sc_pool *p = threads > 1 ? pool : NULL;
    /* tasks: whole n-chunks (NCH W blocks), up to 4 per thread; fewer n-chunks
     * than that (small N) are split over M as well */
    int64_t nchunks = (N + 32 * NCH - 1) / (32 * NCH), mblocks = (j->Mp + 31) / 32;
    int64_t n_chunks = nchunks < 4 * threads ? nchunks : 4 * threads, m_chunks = 1;
    if (threads > 1 && n_chunks < 4 * threads) {
        int64_t want = (4 * threads + n_chunks - 1) / n_chunks;
        m_chunks = want < mblocks ? want : mblocks;
    }
    j->n_chunks = (int)n_chunks;
    j->m_chunks = (int)m_chunks;
    sc_pool_run(p, gemm_task, j, (int)(n_chunks * m_chunks));
}

/* Plans and runs j with scratch of its own; false (nothing done) when the
 * sizes are out of range or memory is short. */
static bool plan_and_run(job *j, sc_pool *pool) {
    const size_t bytes = job_plan(j);
    void *owned = NULL;
    uint8_t *buf = bytes ? sc_kernel_scratch(pool, bytes, &owned) : NULL;
    if (!buf) return false;
    job_run(j, buf, pool);
    free(owned);
    return true;
}

static void run(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool, int i8) {
    const int64_t N = W->shape[0], K = W->shape[1];
    if (sc_matmul_degenerate(y, M, N, K)) return;
    job j = {.y = {y}, .x = x, .w = {W->data}, .sw = {W->scales}, .Np = N, .M = M, .N = N, .K = K, .i8 = i8};
    /* out of memory: the reference gives a (more exact) answer */
    if (!plan_and_run(&j, pool)) sc_matmul_ref(y, x, W, M, pool);
}

bool sc_matmul_parts_amx(float *const *ys, const float *x, const sc_tensor *const *Ws, int n, int64_t M,
                         sc_pool *pool) {
    if (n < 1 || n > MAX_PARTS || M <= 0) return false;
    const sc_tensor *W0 = Ws[0];
    const int64_t Np = W0->shape[0], K = W0->shape[1];
    const int i8 = W0->dtype == SC_DTYPE_I8;
    if ((W0->dtype != SC_DTYPE_BF16 && !(i8 && W0->scales && K <= 131072)) || Np <= 0 || K <= 0 ||
        (n > 1 && Np % 32))
        return false;
    job j = {.x = x, .Np = Np, .M = M, .N = n * Np, .K = K, .i8 = i8};
    for (int p = 0; p < n; p++) {
        const sc_tensor *W = Ws[p];
        if (W->dtype != W0->dtype || W->shape[0] != Np || W->shape[1] != K || (i8 && !W->scales)) return false;
        j.w[p] = W->data;
        j.sw[p] = W->scales;
        j.y[p] = ys[p];
    }
    return plan_and_run(&j, pool);
}

bool sc_ffn_relu_bf16_amx(float *y, const float *x, const sc_tensor *wi, const sc_tensor *wo, int64_t M,
                          void *h, size_t h_bytes, sc_pool *pool) {
    const int64_t D = wi->shape[1], F = wi->shape[0];
    if (wi->dtype != SC_DTYPE_BF16 || wo->dtype != SC_DTYPE_BF16 || wo->shape[0] != D || wo->shape[1] != F ||
        M <= 0 || D <= 0 || F <= 0 || D % 32 || F % 32)
        return false;
    job a = {.x = x, .w = {wi->data}, .Np = F, .M = M, .N = F, .K = D};
    job b = {.y = {y}, .w = {wo->data}, .Np = D, .M = M, .N = D, .K = F};
    const size_t ba = job_plan(&a);
    a.hp = h;
    b.xpre = h;
    const size_t bb = job_plan(&b);
    /* the second product's packed x, M rounded up to 16 rows */
    if (!ba || !bb || (double)b.Mp * (double)F * 2.0 > (double)h_bytes) return false;
    void *owned = NULL;
    uint8_t *buf = sc_kernel_scratch(pool, ba > bb ? ba : bb, &owned);
    if (!buf) return false;
    job_run(&a, buf, pool);
    job_run(&b, buf, pool);
    free(owned);
    return true;
}

void sc_matmul_bf16_amx(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    if (W->dtype != SC_DTYPE_BF16) {
        sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    run(y, x, W, M, pool, 0);
}

void sc_matmul_q8_amx(float *y, const float *x, const sc_tensor *W, int64_t M, sc_pool *pool) {
    /* int32 sums: K * 127 * 127 must stay below 2^31 */
    if (W->dtype != SC_DTYPE_I8 || !W->scales || W->shape[1] > 131072) {
        if (W->dtype == SC_DTYPE_I8 && W->scales) sc_matmul_q8_vnni(y, x, W, M, pool);
        else sc_matmul_ref(y, x, W, M, pool);
        return;
    }
    run(y, x, W, M, pool, 1);
}
#endif

/* The blocking shared by the packed outer-product kernels for 16-bit and
 * 8-bit weights without AMX (matmul_bf16_packed.c: vdpbf16ps,
 * matmul_q8_packed.c: vpdpbusd), and their common driver. Both
 * instructions add, per 32-bit lane, a short dot product of 4 bytes: a bf16
 * pair (k 2p, 2p+1) or an int8 quad (k 4p .. 4p+3). A "k-step" is those 4
 * bytes of k.
 *
 * Layouts (built per call):
 *  - x: per tile of up to MR rows, k-step-major: xp[tile][step][MR] 32-bit
 *    words, row i's 4 bytes of the step in word i (rows past the tile: 0;
 *    k past K: 0). A tile's step is one 56-byte run to broadcast from.
 *    Made once per call by the kernel's prep pass (rounding or quantizing x).
 *  - W: per work item and K chunk, panels of NR = 32 columns, each
 *    [kc steps][32 words]: the step's 4 bytes of W row n0 + c in word c
 *    (rows past N: 0; k past K: 0). Packed by the work item itself
 *    (sc_pk_pack_w) into its worker's slot, 256 KiB, which stays in L2.
 *  - A register tile is MR rows x 32 columns: 28 zmm accumulators; per step
 *    2 panel loads and MR broadcasts feed 2 MR dot instructions.
 *
 * Work: items are (a block of up to NC columns, a range of x tiles): blocks
 * narrow to 128 or 64 columns while N has fewer than 2 per thread, then M is
 * split too (W is then packed once per M range). The pool runs one task per
 * worker; a worker claims items from an atomic counter (so a slow core
 * takes fewer) and owns W slot `task`. It claims its next item before
 * working on the current one and prefetches the next item's W rows (one
 * contiguous block) into L2 during the current item's tiles, one line per
 * k-step: the expert GEMMs (M ~ 32) read W from memory, and the packing
 * would otherwise wait for it. Rows are split into balanced tiles (M = 32:
 * 11 + 11 + 10, not 14 + 14 + 4): a short tile runs its dot instructions
 * at a fraction of the full tile's rate.
 *
 * A kernel file makes its job struct start with an sc_pk_job, fills it
 * (plan, W, packed x, slots, its tile function), runs its prep pass on the
 * pool, then sc_pool_run(pool, sc_pk_gemm_task, job, plan.workers).
 *
 * Leaves out: W packed once at load (each call re-packs, a pass over W per
 * M range), a different tile for M < MR. */
#ifndef SC_KERNELS_CPU_PACKED_TILES_H
#define SC_KERNELS_CPU_PACKED_TILES_H

#include "kernels/cpu/cpu_kernels.h"

#if SC_HAVE_X86_KERNELS
#include "core/pool.h"
#include "kernels/cpu/transpose16.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>

#define SC_PK_MR 14
#define SC_PK_NR 32
#define SC_PK_KCS 256 /* k-steps per K chunk: a 32 KiB panel, a 14 KiB x tile chunk */
#define SC_PK_NC 256  /* columns per work item: 8 panels */
#define SC_PK_PANEL_BYTES ((int64_t)SC_PK_KCS * SC_PK_NR * 4)
#define SC_PK_SLOT_BYTES ((int64_t)(SC_PK_NC / SC_PK_NR) * SC_PK_PANEL_BYTES)

/* The split of one call. */
typedef struct {
    int64_t M, N, K;
    int64_t steps;   /* k-steps: ceil(K * bytes per value / 4) */
    int64_t tiles;   /* x tiles: ceil(M / MR) */
    int64_t nc;      /* columns per item: NC, 128 or 64 */
    int64_t n_items; /* column blocks of nc */
    int64_t m_items; /* tile ranges per column block */
    int workers;     /* pool tasks (threads that take part) */
    _Atomic int64_t next; /* next item to claim */
} sc_pk_plan;

/* Rows of tile t: balanced, the first M % tiles tiles one row longer. */
static inline void sc_pk_tile_rows(const sc_pk_plan *p, int64_t t, int64_t *m0, int *mr) {
    int64_t base = p->M / p->tiles, extra = p->M % p->tiles;
    *m0 = t * base + (t < extra ? t : extra);
    *mr = (int)(base + (t < extra ? 1 : 0));
}

/* Fills the plan for M x N x K with bytes_per_value 1 or 2 on `threads`. */
static inline void sc_pk_plan_init(sc_pk_plan *p, int64_t M, int64_t N, int64_t K, int64_t es, int threads) {
    p->M = M;
    p->N = N;
    p->K = K;
    p->steps = (K * es + 3) / 4;
    p->tiles = (M + SC_PK_MR - 1) / SC_PK_MR;
    p->nc = SC_PK_NC;
    while (threads > 1 && p->nc > 64 && (N + p->nc - 1) / p->nc < 2 * threads) p->nc /= 2;
    p->n_items = (N + p->nc - 1) / p->nc;
    p->m_items = 1;
    if (threads > 1 && p->n_items < 2 * threads) {
        int64_t want = (2 * threads + p->n_items - 1) / p->n_items;
        p->m_items = want < p->tiles ? want : p->tiles;
    }
    int64_t items = p->n_items * p->m_items;
    p->workers = items < threads ? (int)items : threads;
    atomic_init(&p->next, 0);
}

/* Claims the next item: its columns [*n0, *n1) and tiles [*t0, *t1).
 * Returns 0 when none are left. */
static inline int sc_pk_claim(sc_pk_plan *p, int64_t *n0, int64_t *n1, int64_t *t0, int64_t *t1) {
    int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= p->n_items * p->m_items) return 0;
    int64_t nt = i % p->n_items, mt = i / p->n_items;
    *n0 = nt * p->nc;
    *n1 = *n0 + p->nc < p->N ? *n0 + p->nc : p->N;
    sc_split_range(p->tiles, 1, (int)mt, (int)p->m_items, t0, t1);
    return 1;
}

/* Packs W rows n0 .. n0+32 (bytes per value es), k-steps s0 .. s0+kc, into
 * one panel dst[kc][32] of 32-bit words (see the header); with flip, every
 * byte is XORed with 0x80 (int8 w -> unsigned w + 128). 16 rows x 16 steps
 * at a time: 16 masked 64-byte row loads and a 16x16 transpose. The rows
 * of the next panel are prefetched meanwhile: W comes from memory once per
 * call, and 32 rows read 64 bytes at a time are too many short streams for
 * the hardware prefetchers (M = 32, W from memory, one thread: 1.2x). */
static SC_AI SC_TARGET_AVX512 void sc_pk_pack_w(uint8_t *dst, const uint8_t *w, int64_t es, int flip, int64_t N,
                                                int64_t K, int64_t n0, int64_t s0, int64_t kc) {
    const int64_t rowb = K * es;
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    for (int64_t s = 0; s < kc; s += 16) {
        const int64_t b0 = 4 * (s0 + s), left = rowb - b0;
        const __mmask64 m = left >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << left) - 1;
        const int64_t sn = kc - s < 16 ? kc - s : 16;
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) {
                const int64_t n = n0 + 16 * h + i;
                if (n + SC_PK_NR < N) _mm_prefetch((const char *)(w + (n + SC_PK_NR) * rowb + b0), _MM_HINT_T0);
                __m512i v = n < N ? _mm512_maskz_loadu_epi8(m, w + n * rowb + b0) : _mm512_setzero_si512();
                if (flip) v = _mm512_xor_si512(v, x80);
                r[i] = _mm512_castsi512_ps(v);
            }
            sc_transpose16(r);
            for (int64_t p = 0; p < sn; p++) _mm512_store_ps((float *)(dst + ((s + p) * SC_PK_NR + 16 * h) * 4), r[p]);
        }
    }
}

/* The part of a kernel's job the driver uses (the first member of it). */
typedef struct sc_pk_job sc_pk_job;
struct sc_pk_job {
    sc_pk_plan plan;
    const uint8_t *w; /* W [N, K], es bytes per value */
    int64_t es;
    int flip;         /* pack W bytes XOR 0x80 */
    int32_t *xp;      /* packed x */
    uint8_t *slots;   /* plan.workers x SC_PK_SLOT_BYTES */
    /* One register tile: rows m0 .. m0+mr against the panel of columns
     * n .. n+32, kc steps of the K chunk whose x is at xp; first / last: the
     * chunk is K's first / last. Prefetches (T1) min(kc, npf) lines at pf. */
    void (*tile)(const sc_pk_job *j, int mr, int64_t kc, const int32_t *xp, const uint8_t *panel, int64_t m0,
                 int64_t n, int first, int last, const char *pf, int64_t npf);
};

static SC_TARGET_AVX512 void sc_pk_pack(const sc_pk_job *j, uint8_t *dst, int64_t n0, int64_t s0, int64_t kc) {
    if (j->flip) sc_pk_pack_w(dst, j->w, j->es, 1, j->plan.N, j->plan.K, n0, s0, kc);
    else sc_pk_pack_w(dst, j->w, j->es, 0, j->plan.N, j->plan.K, n0, s0, kc);
}

/* One item (columns n0..n1, tiles t0..t1): for each K chunk, its panels
 * into the slot, then every tile against every panel (the tile's chunk of
 * x stays in L1); rows nx0..nx1 of W (the next item) are prefetched. */
static inline void sc_pk_gemm_item(const sc_pk_job *j, uint8_t *slot, int64_t n0, int64_t n1, int64_t t0,
                                   int64_t t1, int64_t nx0, int64_t nx1) {
    const int64_t steps = j->plan.steps, panels = (n1 - n0 + SC_PK_NR - 1) / SC_PK_NR;
    const int64_t rowb = j->plan.K * j->es;
    const char *pf = (const char *)j->w + nx0 * rowb;
    int64_t npf = ((nx1 - nx0) * rowb + 63) / 64;
    for (int64_t s0 = 0; s0 < steps; s0 += SC_PK_KCS) {
        const int64_t kc = steps - s0 < SC_PK_KCS ? steps - s0 : SC_PK_KCS;
        for (int64_t p = 0; p < panels; p++) sc_pk_pack(j, slot + p * SC_PK_PANEL_BYTES, n0 + p * SC_PK_NR, s0, kc);
        for (int64_t t = t0; t < t1; t++) {
            int64_t m0;
            int mr;
            sc_pk_tile_rows(&j->plan, t, &m0, &mr);
            const int32_t *xp = j->xp + (t * steps + s0) * SC_PK_MR;
            for (int64_t p = 0; p < panels; p++) {
                j->tile(j, mr, kc, xp, slot + p * SC_PK_PANEL_BYTES, m0, n0 + p * SC_PK_NR, s0 == 0,
                        s0 + kc == steps, pf, npf);
                const int64_t done = npf < kc ? npf : kc;
                pf += 64 * done;
                npf -= done;
            }
        }
    }
}

/* The pool entry point: worker `task` with slot `task`. */
static void sc_pk_gemm_task(void *vctx, int task, int n_tasks) {
    sc_pk_job *j = vctx;
    uint8_t *slot = j->slots + (int64_t)task * SC_PK_SLOT_BYTES;
    int64_t n0, n1, t0, t1, nx0 = 0, nx1 = 0, tx0, tx1;
    int have = sc_pk_claim(&j->plan, &n0, &n1, &t0, &t1);
    while (have) {
        int have_next = sc_pk_claim(&j->plan, &nx0, &nx1, &tx0, &tx1);
        if (t0 < t1) sc_pk_gemm_item(j, slot, n0, n1, t0, t1, nx0, have_next ? nx1 : nx0);
        n0 = nx0, n1 = nx1, t0 = tx0, t1 = tx1, have = have_next;
    }
}

/* Runs a packed kernel on `pool` (NULL: the calling thread): its prep pass
 * (x into pk->xp, split over the tiles), then the tiles, one task per worker.
 * `job` is the kernel's job, which starts with *pk. */
static inline void sc_pk_launch(sc_pool *pool, void *job, void (*prep)(void *, int, int), sc_pk_job *pk) {
    const int threads = sc_pool_size(pool);
    const int prep_tasks = pk->plan.tiles < threads ? (int)pk->plan.tiles : threads;
    sc_pool_run(pool, prep, job, prep_tasks);
    sc_pool_run(pool, sc_pk_gemm_task, pk, pool ? pk->plan.workers : 1);
}

/* Stores 16 transposed rows of a tile's steps s .. s + sn (r[p]: step s + p,
 * word i = row i) into the tile's xp, keeping MR words per step. */
static SC_AI SC_TARGET_AVX512 void sc_pk_store_x(int32_t *xp, int64_t s, int64_t sn, const __m512 r[16]) {
    for (int64_t p = 0; p < sn; p++)
        _mm512_mask_storeu_ps((float *)(xp + (s + p) * SC_PK_MR), (__mmask16)((1u << SC_PK_MR) - 1), r[p]);
}

/* Column masks of a 32-column panel at n with N columns in all. */
static SC_AI SC_TARGET_AVX512 void sc_pk_col_masks(int64_t N, int64_t n, __mmask16 *m0, __mmask16 *m1) {
    int64_t c = N - n;
    *m0 = c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << c) - 1);
    c -= 16;
    *m1 = c >= 16 ? (__mmask16)0xffff : c <= 0 ? (__mmask16)0 : (__mmask16)((1u << c) - 1);
}
#endif

#endif

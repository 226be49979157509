/* The blocking shared by the dot-product kernels (matmul_bf16_dot.c,
 * matmul_q8_vnni.c): tasks split N in multiples of 4 W rows; each task walks
 * x in chunks of SC_DOT_XCHUNK rows and calls the file's register-blocked
 * dot_block(j, m0, n, rs, NB, MB) on tiles of NB W rows (n, n + rs, ..;
 * NB 4 or 1) x up to 4 x rows (MB), NB and MB compile-time constants after
 * inlining.
 *
 * A task's W rows are taken as 4 streams: the range is cut in quarters of q
 * rows and a 4-row tile takes row n of each (rs = q), so each stream runs
 * forward through its own contiguous part of W (the rows left over, fewer
 * than 4, go one at a time). Four neighbouring rows instead jump back and
 * forth inside the same pages, which the hardware prefetchers follow
 * poorly (matmul_avx512.c's decode path has the measurements). The tile's
 * W rows stay in L1 while the chunk's x rows pass over them; dot_block
 * prefetches each stream SC_DOT_PF_BYTES ahead on the chunk's first x rows.
 *
 * A kernel file defines its `job` (with int64_t fields M and N) and
 * `static SC_AI TARGET void dot_block(const job *j, int64_t m0, int64_t n,
 * int64_t rs, int NB, int MB)`, then expands SC_DOT_TILE_DRIVER(TARGET) to
 * get rows_block() and gemm_task() (the sc_pool_run entry point). */
#ifndef SC_KERNELS_CPU_DOT_TILES_H
#define SC_KERNELS_CPU_DOT_TILES_H

#include "core/pool.h"

#include <stdint.h>

#define SC_DOT_XCHUNK 32
#define SC_DOT_PF_BYTES 2048

/* Whether dot_block at x row m0 prefetches W: on the first x rows of a chunk. */
#define SC_DOT_PREFETCHES(m0) ((m0) % SC_DOT_XCHUNK == 0)

/* Runs a dot kernel: prep (converting or quantizing x rows; split over rows
 * when M >= 8) and then gemm (split over N), on the pool when the work is
 * worth waking threads for. */
static inline void sc_dot_launch(sc_pool *pool, void *job, int64_t M, int64_t N, int64_t K,
                                 void (*prep)(void *, int, int), void (*gemm)(void *, int, int)) {
    const int threads = sc_kernel_threads(pool, M, N, K);
    sc_pool *p = threads > 1 ? pool : NULL;
    sc_pool_run(p && M >= 8 ? p : NULL, prep, job, (int)(M < threads ? M : threads));
    int64_t tasks = (N + 31) / 32;
    if (tasks > 4 * threads) tasks = 4 * threads;
    sc_pool_run(p, gemm, job, p ? (int)tasks : 1);
}

#define SC_DOT_ALL_MB(NB)                                                                 \
    switch (mb) {                                                                         \
    case 1: dot_block(j, m0, n, rs, NB, 1); break;                                        \
    case 2: dot_block(j, m0, n, rs, NB, 2); break;                                        \
    case 3: dot_block(j, m0, n, rs, NB, 3); break;                                        \
    default: dot_block(j, m0, n, rs, NB, 4); break;                                       \
    }

#define SC_DOT_TILE_DRIVER(TARGET)                                                        \
    static TARGET void rows_block(const job *j, int64_t m0, int64_t mb, int64_t n,        \
                                  int64_t rs, int four) {                                 \
        if (four) SC_DOT_ALL_MB(4)                                                        \
        else SC_DOT_ALL_MB(1)                                                             \
    }                                                                                     \
    static void gemm_task(void *vctx, int task, int n_tasks) {                            \
        const job *j = vctx;                                                              \
        int64_t n0, n1;                                                                   \
        sc_split_range(j->N, 4, task, n_tasks, &n0, &n1);                                 \
        const int64_t q = (n1 - n0) / 4, tiles = q + (n1 - n0 - 4 * q);                   \
        for (int64_t mc = 0; mc < j->M; mc += SC_DOT_XCHUNK) {                            \
            int64_t mce = mc + SC_DOT_XCHUNK < j->M ? mc + SC_DOT_XCHUNK : j->M;          \
            for (int64_t t = 0; t < tiles; t++) {                                         \
                const int64_t n = t < q ? n0 + t : n0 + 3 * q + t;                        \
                for (int64_t m = mc; m < mce; m += 4)                                     \
                    rows_block(j, m, mce - m < 4 ? mce - m : 4, n, q, t < q);             \
            }                                                                             \
        }                                                                                 \
    }

#endif

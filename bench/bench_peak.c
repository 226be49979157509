/* Register-bound peaks of one core and memory read bandwidth, as JSON:
 * fp32 FMA (vfmadd231ps), AVX512-BF16 dot (vdpbf16ps, 64 flop each),
 * VNNI int8 dot (vpdpbusd, 128 op each), AMX bf16 and int8 tiles, and read
 * bandwidth of a 256 MiB buffer with 1 and 2 threads (and of L3- and
 * L2-sized buffers). Instructions the CPU lacks report null. The peak loops
 * are the library's (src/kernels/peak.h). */
#include "core/pool.h"
#include "kernels/cpu_features.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peak_loops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define now peak_now

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sums[64];
} read_ctx;

/* Sums a slice with 512-bit loads and 4 accumulators (so neither the adds
 * nor the load issue limit it), 8 lines in flight per iteration. */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static uint64_t sum_slice(const uint64_t *p, size_t n) {
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_add_epi64(s0, _mm512_loadu_si512((const void *)(p + i)));
        s1 = _mm512_add_epi64(s1, _mm512_loadu_si512((const void *)(p + i + 8)));
        s2 = _mm512_add_epi64(s2, _mm512_loadu_si512((const void *)(p + i + 16)));
        s3 = _mm512_add_epi64(s3, _mm512_loadu_si512((const void *)(p + i + 24)));
    }
    uint64_t r = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    for (; i < n; i++) r += p[i];
    return r;
}
#else
static uint64_t sum_slice(const uint64_t *p, size_t n) {
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) r += p[i];
    return r;
}
#endif

static void read_task(void *vctx, int task, int n_tasks) {
    read_ctx *c = vctx;
    size_t lo = c->n * (size_t)task / (size_t)n_tasks, hi = c->n * (size_t)(task + 1) / (size_t)n_tasks;
    c->sums[task] = sum_slice(c->buf + lo, hi - lo);
}

/* Best of `reps` passes over buf[0..n) (bytes per second). */
static double read_bw(sc_pool *pool, const uint64_t *buf, size_t n, int reps) {
    read_ctx c = {buf, n, {0}};
    double best = 0;
    for (int rep = 0; rep < reps; rep++) {
        double t = now();
        sc_pool_run(pool, read_task, &c, sc_pool_size(pool));
        t = now() - t;
        double bw = (double)n * 8 / t;
        if (bw > best) best = bw;
    }
    return best;
}

int main(void) {
    const sc_cpu_features *f = sc_cpu_features_get();
    char feat[256];
    sc_cpu_features_string(f, feat, sizeof feat);
    double fp32 = peak_core(SC_PEAK_FP32_FMA), bf16 = peak_core(SC_PEAK_BF16_DOT), vnni = peak_core(SC_PEAK_INT8_VNNI);
    double amx_bf16 = peak_core(SC_PEAK_AMX_BF16), amx_int8 = peak_core(SC_PEAK_AMX_INT8);
    size_t n = (size_t)256 << 20 >> 3;
    uint64_t *buf = malloc(n * 8);
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = i;
    sc_pool *p2 = sc_pool_create(2);
    /* DRAM: 256 MiB, far over the L3. L3: 16 MiB (one 768x3072 fp32 matrix
     * is 9 MiB). L2: 512 KiB per thread. The first pass of each warms it. */
    double bw1 = read_bw(NULL, buf, n, 4), bw2 = read_bw(p2, buf, n, 4);
    double l3_1 = read_bw(NULL, buf, (size_t)16 << 20 >> 3, 20), l3_2 = read_bw(p2, buf, (size_t)16 << 20 >> 3, 20);
    double l2_1 = read_bw(NULL, buf, (size_t)512 << 10 >> 3, 400), l2_2 = read_bw(p2, buf, (size_t)1 << 20 >> 3, 400);
    sc_pool_free(p2);
    free(buf);
    printf("{\"features\": \"%s\", \"fp32_fma_gflops_per_core\": %.1f, ", feat, fp32 / 1e9);
    if (bf16 > 0) printf("\"avx512_bf16_gflops_per_core\": %.1f, ", bf16 / 1e9);
    else printf("\"avx512_bf16_gflops_per_core\": null, ");
    if (vnni > 0) printf("\"vnni_int8_gops_per_core\": %.1f, ", vnni / 1e9);
    else printf("\"vnni_int8_gops_per_core\": null, ");
    if (amx_bf16 > 0) printf("\"amx_bf16_gflops_per_core\": %.1f, ", amx_bf16 / 1e9);
    else printf("\"amx_bf16_gflops_per_core\": null, ");
    if (amx_int8 > 0) printf("\"amx_int8_gops_per_core\": %.1f, ", amx_int8 / 1e9);
    else printf("\"amx_int8_gops_per_core\": null, ");
    printf("\"read_gbs_1thread\": %.2f, \"read_gbs_2threads\": %.2f, \"l3_read_gbs_1thread\": %.2f, "
           "\"l3_read_gbs_2threads\": %.2f, \"l2_read_gbs_1thread\": %.2f, \"l2_read_gbs_2threads\": %.2f}\n",
           bw1 / 1e9, bw2 / 1e9, l3_1 / 1e9, l3_2 / 1e9, l2_1 / 1e9, l2_2 / 1e9);
    return 0;
}

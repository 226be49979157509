/* Register-bound peaks of one core and memory read bandwidth, as JSON:
 * fp32 FMA (vfmadd231ps), AVX512-BF16 dot (vdpbf16ps, 64 flop each),
 * VNNI int8 dot (vpdpbusd, 128 op each), and read bandwidth of a 256 MiB
 * buffer with 1 and 2 threads. Instructions the CPU lacks report null. */
#include "core/pool.h"
#include "kernels/cpu_features.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define ITERS 20000000L

#if defined(__x86_64__)
#include <immintrin.h>
/* 12 independent chains: enough to cover FMA latency x ports. */
#define CHAINS(OP)                                                                   \
    for (long i = 0; i < ITERS; i++) {                                               \
        OP(a0); OP(a1); OP(a2); OP(a3); OP(a4); OP(a5);                              \
        OP(a6); OP(a7); OP(a8); OP(a9); OP(a10); OP(a11);                            \
    }

__attribute__((target("avx512f,fma"))) static double peak_fp32(void) {
    __m512 a0 = _mm512_set1_ps(0.1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
           a8 = a0, a9 = a0, a10 = a0, a11 = a0, b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    double t = now();
#define F(a) a = _mm512_fmadd_ps(a, b, c); __asm__("" : "+v"(a))
    CHAINS(F)
#undef F
    t = now() - t;
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 12.0 * ITERS * 32 / t;
}

__attribute__((target("avx512f,avx512bf16"))) static double peak_bf16(void) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
           a9 = a0, a10 = a0, a11 = a0;
    __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3a80);
    double t = now();
#define F(a) a = _mm512_dpbf16_ps(a, b, c); __asm__("" : "+v"(a))
    CHAINS(F)
#undef F
    t = now() - t;
    volatile float sink = _mm512_reduce_add_ps(_mm512_add_ps(a0, a11));
    (void)sink;
    return 12.0 * ITERS * 64 / t;
}

__attribute__((target("avx512f,avx512vnni"))) static double peak_vnni(void) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
            a9 = a0, a10 = a0, a11 = a0;
    __m512i b = _mm512_set1_epi8(1), c = _mm512_set1_epi8(1);
    double t = now();
#define F(a) a = _mm512_dpbusd_epi32(a, b, c); __asm__("" : "+v"(a))
    CHAINS(F)
#undef F
    t = now() - t;
    volatile int sink = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a11));
    (void)sink;
    return 12.0 * ITERS * 128 / t;
}
#endif

typedef struct {
    const uint64_t *buf;
    size_t n;
    uint64_t sums[64];
} read_ctx;

static void read_task(void *vctx, int task, int n_tasks) {
    read_ctx *c = vctx;
    size_t lo = c->n * (size_t)task / (size_t)n_tasks, hi = c->n * (size_t)(task + 1) / (size_t)n_tasks;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = lo; i + 4 <= hi; i += 4) {
        s0 += c->buf[i];
        s1 += c->buf[i + 1];
        s2 += c->buf[i + 2];
        s3 += c->buf[i + 3];
    }
    c->sums[task] = s0 + s1 + s2 + s3;
}

static double read_bw(sc_pool *pool, const uint64_t *buf, size_t n) {
    read_ctx c = {buf, n, {0}};
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
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
    double fp32 = 0, bf16 = 0, vnni = 0;
#if defined(__x86_64__)
    if (f->avx512f && f->fma) fp32 = peak_fp32();
    if (f->avx512_bf16) bf16 = peak_bf16();
    if (f->avx512_vnni) vnni = peak_vnni();
#endif
    size_t n = (size_t)256 << 20 >> 3;
    uint64_t *buf = malloc(n * 8);
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = i;
    sc_pool *p2 = sc_pool_create(2);
    double bw1 = read_bw(NULL, buf, n), bw2 = read_bw(p2, buf, n);
    sc_pool_free(p2);
    free(buf);
    printf("{\"features\": \"%s\", \"fp32_fma_gflops_per_core\": %.1f, ", feat, fp32 / 1e9);
    if (bf16 > 0) printf("\"avx512_bf16_gflops_per_core\": %.1f, ", bf16 / 1e9);
    else printf("\"avx512_bf16_gflops_per_core\": null, ");
    if (vnni > 0) printf("\"vnni_int8_gops_per_core\": %.1f, ", vnni / 1e9);
    else printf("\"vnni_int8_gops_per_core\": null, ");
    printf("\"read_gbs_1thread\": %.2f, \"read_gbs_2threads\": %.2f}\n", bw1 / 1e9, bw2 / 1e9);
    return 0;
}

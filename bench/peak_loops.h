/* Register-bound peak loops shared by the benchmarks (header only: every
 * bench/bench_*.c is its own executable).
 *
 * Each loop runs CHAINS independent accumulator chains of one instruction.
 * Two traps an earlier version fell into, and how these loops avoid them:
 *  - chains whose result is never read are dead code: the compiler deleted
 *    them (an earlier loop summed only 2 or 3 of its 12 chains, so it ran 2-3
 *    instructions per iteration while counting 12, and reported 3-6x the true
 *    peak). Here every chain goes through a volatile asm barrier and all are
 *    summed into the result.
 *  - chains started from equal values with the same operands are identical
 *    and may be merged; each chain starts from a different value.
 * 16 chains cover latency x throughput (4-5 cycles x 1-2 per cycle) on
 * current cores. Results are operations per second on the calling thread. */
#ifndef SC_BENCH_PEAK_LOOPS_H
#define SC_BENCH_PEAK_LOOPS_H

#include <stdint.h>
#include <time.h>

static inline double peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define PEAK_CHAINS 16
/* Named variables, not an array: with an array the compiler kept the chains
 * on the stack (a store and reload per instruction, 40% of the peak). */
#define PEAK_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define PEAK_DECL(c) T a##c = INIT(c);
#define PEAK_STEP(c) a##c = OP(a##c); __asm__ volatile("" : "+v"(a##c));
#define PEAK_SUM(c) s = SUM(s, a##c);
#define PEAK_BODY(FLOPS, iters)                                                               \
    PEAK_EACH(PEAK_DECL)                                                                      \
    double t = peak_now();                                                                    \
    for (long i = 0; i < (iters); i++) { PEAK_EACH(PEAK_STEP) }                               \
    t = peak_now() - t;                                                                       \
    T s = INIT(0);                                                                            \
    PEAK_EACH(PEAK_SUM)                                                                       \
    volatile T sink = s;                                                                      \
    (void)sink;                                                                               \
    return (double)PEAK_CHAINS * (double)(iters) * (FLOPS) / t;

/* vfmadd231ps zmm: 32 flop each. */
__attribute__((target("avx512f,fma"), unused)) static double peak_fp32_fma(long iters) {
    const __m512 b = _mm512_set1_ps(0.999f), cc = _mm512_set1_ps(0.001f);
#define T __m512
#define INIT(c) _mm512_set1_ps(0.1f + 0.01f * (float)(c))
#define OP(x) _mm512_fmadd_ps(x, b, cc)
#define SUM(x, y) _mm512_add_ps(x, y)
    PEAK_BODY(32.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}

/* vdpbf16ps zmm: 32 lanes x 2 products = 64 flop each. */
__attribute__((target("avx512f,avx512bf16"), unused)) static double peak_bf16_dot(long iters) {
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), cc = (__m512bh)_mm512_set1_epi16(0x3a80);
#define T __m512
#define INIT(c) _mm512_set1_ps((float)(c))
#define OP(x) _mm512_dpbf16_ps(x, b, cc)
#define SUM(x, y) _mm512_add_ps(x, y)
    PEAK_BODY(64.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}

/* vpdpbusd zmm: 64 byte products + adds = 128 op each. */
__attribute__((target("avx512f,avx512vnni"), unused)) static double peak_vnni_int8(long iters) {
    const __m512i b = _mm512_set1_epi8(1), cc = _mm512_set1_epi8(1);
#define T __m512i
#define INIT(c) _mm512_set1_epi32(c)
#define OP(x) _mm512_dpbusd_epi32(x, b, cc)
#define SUM(x, y) _mm512_add_epi32(x, y)
    PEAK_BODY(128.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}
#undef PEAK_BODY

/* Best of `bursts` short runs: on a shared machine one long run averages in
 * the time another process held the core (a 0.4 s run under load read half
 * the true peak); the fastest burst is the core's own speed. */
static inline double peak_best(double (*fn)(long), long iters, int bursts) {
    double best = 0;
    for (int i = 0; i < bursts; i++) {
        double v = fn(iters);
        if (v > best) best = v;
    }
    return best;
}
#undef PEAK_EACH
#undef PEAK_DECL
#undef PEAK_STEP
#undef PEAK_SUM
#endif

#endif

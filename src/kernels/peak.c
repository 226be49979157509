/* Instruction peak loops; see peak.h. */
#include "kernels/peak.h"
#include "core/clock.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dot_tiles.h"
#include "kernels/cpu_features.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *sc_peak_name(sc_peak_kind k) {
    static const char *const names[SC_PEAK_COUNT] = {"fp32-fma", "bf16-dot", "int8-vnni", "amx-bf16", "amx-int8"};
    return k >= 0 && k < SC_PEAK_COUNT ? names[k] : "?";
}

#define BURSTS 20

#if SC_HAVE_X86_KERNELS
#include <immintrin.h>

/* Named variables, not an array: with an array the compiler kept the chains
 * on the stack (a store and reload per instruction). */
#define EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define DECL(c) T a##c = INIT(c);
#define STEP(c) a##c = OP(a##c); __asm__ volatile("" : "+v"(a##c));
#define SUM_ONE(c) s = SUM(s, a##c);
#define BODY(OPS, iters)                                                                      \
    EACH(DECL)                                                                                \
    double t = sc_clock_seconds();                                                            \
    for (long i = 0; i < (iters); i++) { EACH(STEP) }                                         \
    t = sc_clock_seconds() - t;                                                               \
    T s = INIT(0);                                                                            \
    EACH(SUM_ONE)                                                                             \
    volatile T sink = s;                                                                      \
    (void)sink;                                                                               \
    return 16.0 * (double)(iters) * (OPS) / t;

static SC_TARGET_AVX512 double loop_fp32(long iters) {
    const __m512 b = _mm512_set1_ps(0.999999f), cc = _mm512_set1_ps(1e-7f);
#define T __m512
#define INIT(c) _mm512_set1_ps(0.1f + 0.01f * (float)(c))
#define OP(x) _mm512_fmadd_ps(x, b, cc)
#define SUM(x, y) _mm512_add_ps(x, y)
    BODY(32.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}

static SC_TARGET_BF16 double loop_bf16(long iters) {
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), cc = (__m512bh)_mm512_set1_epi16(0x3f80);
#define T __m512
#define INIT(c) _mm512_set1_ps((float)(c))
#define OP(x) _mm512_dpbf16_ps(x, b, cc)
#define SUM(x, y) _mm512_add_ps(x, y)
    BODY(64.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}

static SC_TARGET_VNNI double loop_vnni(long iters) {
    const __m512i b = _mm512_set1_epi8(1), cc = _mm512_set1_epi8(1);
#define T __m512i
#define INIT(c) _mm512_set1_epi32(c)
#define OP(x) _mm512_dpbusd_epi32(x, b, cc)
#define SUM(x, y) _mm512_add_epi32(x, y)
    BODY(128.0, iters)
#undef T
#undef INIT
#undef OP
#undef SUM
}

/* 4 C tiles from 2 A and 2 B tiles held in registers. */
static SC_TARGET_AMX double loop_amx(int i8, long iters) {
    struct {
        uint8_t palette, start_row, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _Alignas(64) uint8_t src[1024];
    memset(src, 0, sizeof src);
    __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm4\n\ttileloadd (%0,%1,1), %%tmm5\n\t"
                     "tileloadd (%0,%1,1), %%tmm6\n\ttileloadd (%0,%1,1), %%tmm7\n\t"
                     "tilezero %%tmm0\n\ttilezero %%tmm1\n\ttilezero %%tmm2\n\ttilezero %%tmm3" ::"r"(src),
                     "r"((int64_t)64)
                     : "memory");
    double t = sc_clock_seconds();
    if (i8)
        for (long i = 0; i < iters; i++)
            __asm__ volatile("tdpbssd %tmm6, %tmm4, %tmm0\n\ttdpbssd %tmm7, %tmm4, %tmm1\n\t"
                             "tdpbssd %tmm6, %tmm5, %tmm2\n\ttdpbssd %tmm7, %tmm5, %tmm3");
    else
        for (long i = 0; i < iters; i++)
            __asm__ volatile("tdpbf16ps %tmm6, %tmm4, %tmm0\n\ttdpbf16ps %tmm7, %tmm4, %tmm1\n\t"
                             "tdpbf16ps %tmm6, %tmm5, %tmm2\n\ttdpbf16ps %tmm7, %tmm5, %tmm3");
    t = sc_clock_seconds() - t;
    __asm__ volatile("tilerelease" ::: "memory");
    return 4.0 * 16 * 16 * (i8 ? 64 : 32) * 2 * (double)iters / t;
}

static double loop_amx_bf16(long iters) { return loop_amx(0, iters); }
static double loop_amx_int8(long iters) { return loop_amx(1, iters); }

/* The loop and its iterations per burst (0.25-1 ms), or NULL if unsupported. */
static double (*loop_for(sc_peak_kind k, long *iters))(long) {
    const sc_cpu_features *f = sc_cpu_features_get();
    if (!sc_cpu_has_avx512(f)) return NULL;
    switch (k) {
    case SC_PEAK_FP32_FMA: *iters = 100000; return loop_fp32;
    case SC_PEAK_BF16_DOT: *iters = 100000; return f->avx512_bf16 ? loop_bf16 : NULL;
    case SC_PEAK_INT8_VNNI: *iters = 100000; return f->avx512_vnni ? loop_vnni : NULL;
    case SC_PEAK_AMX_BF16: *iters = 20000; return f->amx_tile && f->amx_bf16 ? loop_amx_bf16 : NULL;
    case SC_PEAK_AMX_INT8: *iters = 20000; return f->amx_tile && f->amx_int8 ? loop_amx_int8 : NULL;
    default: return NULL;
    }
}
#else
static double (*loop_for(sc_peak_kind k, long *iters))(long) {
    (void)k;
    (void)iters;
    return NULL;
}
#endif

typedef struct {
    double (*fn)(long);
    long iters;
    double best;
} burst_arg;

static void *bursts(void *v) {
    burst_arg *a = v;
    a->best = 0;
    for (int i = 0; i < BURSTS; i++) {
        double r = a->fn(a->iters);
        if (r > a->best) a->best = r;
    }
    return NULL;
}

double sc_peak_measure(sc_peak_kind k, int threads) {
    long iters = 0;
    double (*fn)(long) = loop_for(k, &iters);
    if (!fn) return 0;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    burst_arg a[64];
    pthread_t th[64];
    bool running[64] = {false};
    /* the caller is thread 0; AMX permission is per process, granted by
     * sc_cpu_features_get before these threads start */
    for (int i = 0; i < threads; i++) a[i] = (burst_arg){fn, iters, 0};
    for (int i = 1; i < threads; i++) running[i] = pthread_create(&th[i], NULL, bursts, &a[i]) == 0;
    bursts(&a[0]);
    double total = a[0].best;
    for (int i = 1; i < threads; i++)
        if (running[i]) {
            pthread_join(th[i], NULL);
            total += a[i].best;
        }
    return total;
}

/* ---- read bandwidth */

typedef struct {
    const float *p;
    size_t n;
    int reps; /* times over the slice */
    int tasks; /* rows pattern: the slice is this many tasks of 4 streams; 0: one forward stream */
    double sum;
} read_arg;

/* 512-bit loads into 4 accumulators: a scalar sum is bound by the add
 * latency (about 9 GB/s on one core), not by memory. */
#if SC_HAVE_X86_KERNELS
static SC_TARGET_AVX512 double sum_avx512(const float *p, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(p + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(p + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(p + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(p + i + 48));
    }
    double r = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) r += p[i];
    return r;
}
#endif

static double sum_floats(const float *p, size_t n) {
#if SC_HAVE_X86_KERNELS
    if (sc_cpu_has_avx512(sc_cpu_features_get())) return sum_avx512(p, n);
#endif
    float s[8] = {0};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += p[i + l];
    return (double)(s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7]);
}

/* The decode kernels' reading of W (kernels/cpu/dot_tiles.h,
 * matmul_avx512.c's decode path): rows of ROW_FLOATS (an expert's K = 768
 * in fp32) cut into 4 quarters of q rows, one row of each quarter at a
 * time, each of the 4 streams prefetched SC_DOT_PF_BYTES ahead once per
 * cache line. */
#define ROW_FLOATS 768
#if SC_HAVE_X86_KERNELS
static SC_TARGET_AVX512 double sum_rows4_avx512(const float *p, size_t rows) {
    const size_t q = rows / 4;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t r = 0; r < q; r++) {
        const float *w0 = p + r * ROW_FLOATS, *w1 = w0 + q * ROW_FLOATS, *w2 = w1 + q * ROW_FLOATS,
                    *w3 = w2 + q * ROW_FLOATS;
        for (size_t k = 0; k < ROW_FLOATS; k += 16) {
            _mm_prefetch((const char *)(w0 + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(w1 + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(w2 + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
            _mm_prefetch((const char *)(w3 + k) + SC_DOT_PF_BYTES, _MM_HINT_T0);
            s0 = _mm512_add_ps(s0, _mm512_loadu_ps(w0 + k));
            s1 = _mm512_add_ps(s1, _mm512_loadu_ps(w1 + k));
            s2 = _mm512_add_ps(s2, _mm512_loadu_ps(w2 + k));
            s3 = _mm512_add_ps(s3, _mm512_loadu_ps(w3 + k));
        }
    }
    double r = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    /* the rows left over (fewer than 4) go one at a time, as in the kernels */
    return r + sum_avx512(p + 4 * q * ROW_FLOATS, (rows - 4 * q) * ROW_FLOATS);
}
#endif

static double sum_rows4(const float *p, size_t rows) {
#if SC_HAVE_X86_KERNELS
    if (sc_cpu_has_avx512(sc_cpu_features_get())) return sum_rows4_avx512(p, rows);
#endif
    const size_t q = rows / 4;
    float s[4] = {0};
    for (size_t r = 0; r < q; r++)
        for (size_t k = 0; k < ROW_FLOATS; k++)
            for (int j = 0; j < 4; j++) s[j] += p[(r + (size_t)j * q) * ROW_FLOATS + k];
    return (double)(s[0] + s[1] + s[2] + s[3]) + sum_floats(p + 4 * q * ROW_FLOATS, (rows - 4 * q) * ROW_FLOATS);
}

static void *read_slice(void *v) {
    read_arg *a = v;
    for (int r = 0; r < a->reps; r++) {
        if (!a->tasks) {
            a->sum += sum_floats(a->p, a->n);
            continue;
        }
        /* the slice's rows split into `tasks` ranges as the kernels split N */
        const int64_t rows = (int64_t)(a->n / ROW_FLOATS);
        for (int t = 0; t < a->tasks; t++) {
            int64_t r0, r1;
            sc_split_range(rows, 4, t, a->tasks, &r0, &r1);
            if (r1 > r0) a->sum += sum_rows4(a->p + (size_t)r0 * ROW_FLOATS, (size_t)(r1 - r0));
        }
    }
    return NULL;
}

static double read_bw(size_t bytes, int threads, int passes, int tasks_per_thread);

double sc_read_bw_measure(size_t bytes, int threads, int passes) { return read_bw(bytes, threads, passes, 0); }

double sc_read_bw_measure_rows(size_t bytes, int threads, int passes) {
    return read_bw(bytes, threads, passes, 4);
}

static double read_bw(size_t bytes, int threads, int passes, int tasks_per_thread) {
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    /* the rows pattern reads whole rows: each thread's slice is whole rows */
    const size_t unit = tasks_per_thread ? ROW_FLOATS : 1;
    const size_t n = bytes / sizeof(float), per = n / unit / (size_t)threads * unit;
    float *buf = n ? malloc(n * sizeof(float)) : NULL;
    if (!buf || !per) {
        free(buf);
        return 0;
    }
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    /* a cache-sized buffer is read several times per pass, so that a pass
     * (at least 64 MiB) outlasts starting the threads */
    const size_t floor_bytes = (size_t)64 << 20;
    const int reps = bytes < floor_bytes ? (int)((floor_bytes + bytes - 1) / bytes) : 1;
    read_arg a[64];
    pthread_t th[64];
    double best = 0;
    for (int pass = 0; pass < passes; pass++) {
        bool running[64] = {false};
        for (int i = 0; i < threads; i++)
            a[i] = (read_arg){buf + (size_t)i * per, per, reps, tasks_per_thread, 0};
        double t = sc_clock_seconds();
        for (int i = 1; i < threads; i++) running[i] = pthread_create(&th[i], NULL, read_slice, &a[i]) == 0;
        read_slice(&a[0]);
        size_t done = per;
        for (int i = 1; i < threads; i++)
            if (running[i]) {
                pthread_join(th[i], NULL);
                done += per;
            }
        t = sc_clock_seconds() - t;
        volatile double sink = a[0].sum;
        (void)sink;
        const double bw = (double)(done * sizeof(float)) * reps / t;
        if (bw > best) best = bw;
    }
    free(buf);
    return best;
}

sc_peak_kind sc_peak_of_table(const sc_kernels *t, sc_dtype dt) {
    const char *n = t ? t->name : "";
    if (dt == SC_DTYPE_BF16) {
        if (!strcmp(n, "amx")) return SC_PEAK_AMX_BF16;
        if (!strcmp(n, "avx512-bf16")) return SC_PEAK_BF16_DOT;
    }
    if (dt == SC_DTYPE_I8) {
        if (!strcmp(n, "amx")) return SC_PEAK_AMX_INT8;
        if (strcmp(n, "ref") && strcmp(n, "avx512")) return SC_PEAK_INT8_VNNI;
    }
    return SC_PEAK_FP32_FMA;
}

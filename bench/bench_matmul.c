/* Matmul throughput of the kernel tables on the model's shapes, one JSON
 * object per line: M=1..4 decode (GB/s of weight streaming), M=8..32 (a
 * switch-base expert's share of 1024 tokens over 32 experts), M=128 and
 * M=1024 encoder (GFLOP/s and % of the instruction peak of what the case
 * runs, measured here: the fp32 FMA peak for the fp32-compute kernels,
 * vdpbf16ps for the AVX512-BF16 ones, vpdpbusd for the VNNI ones, the AMX
 * tile peak (tdpbf16ps / tdpbssd in registers) for the AMX ones; all x
 * threads). Besides the tables, the non-AMX bf16 and int8 kernels are timed
 * directly in both forms (dot: bf16dot, i8dot; packed tiles: bf16pk,
 * i8pk), and the int8 kernel for few rows (i8few: W in place, M <= 48,
 * packed tiles above), whatever M the tables give them. Best of several
 * runs.
 * Usage: bench_matmul [--threads N] [--quick] [--only LABEL] [--compare
 * previous.jsonl] (--only runs one case label, e.g. bf16amx; --compare prints
 * the speed ratio to the earlier run of the same case). With
 * -DSC_BENCH_OPENBLAS and -lopenblas it also times cblas_sgemm on the fp32
 * shapes (not part of the normal build). */
#include "core/dtype.h"
#include "core/pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#ifdef SC_BENCH_OPENBLAS
#include <cblas.h>
#endif

#include "peak_loops.h"

/* Calls are timed in CPU time of the process when one thread runs them (the
 * kernels then run on the calling thread), so time the shared machine gives
 * to other jobs is not counted; with more threads, the library's monotonic
 * clock. */
static int cpu_clock;
static double now(void) {
    if (!cpu_clock) return sc_clock_seconds();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double fp32_peak(void) { return peak_core(SC_PEAK_FP32_FMA); }
static double bf16dot_peak(void) { return peak_core(SC_PEAK_BF16_DOT); }
static double vnni_peak(void) { return peak_core(SC_PEAK_INT8_VNNI); }
static double amx_peak(int i8) { return peak_core(i8 ? SC_PEAK_AMX_INT8 : SC_PEAK_AMX_BF16); }

static double lookup(const char *file, const char *name) {
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) return 0;
    char line[1024], key[300];
    snprintf(key, sizeof key, "\"name\": \"%s\"", name);
    double v = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, key), *q = strstr(line, "\"seconds\": ");
        if (p && q) v = atof(q + 11);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv) {
    int threads = 2, quick = 0;
    const char *compare = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--compare") && i + 1 < argc) compare = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    cpu_clock = threads == 1;
    sc_pool *pool = sc_pool_create(threads); /* also with 1 thread: the kernels keep their scratch */
    double peak = fp32_peak() * threads, peak_bf16 = amx_peak(0) * threads, peak_i8 = amx_peak(1) * threads;
    double peak_dpbf16 = bf16dot_peak() * threads, peak_vnni = vnni_peak() * threads;
    printf("{\"fp32_peak_gflops\": %.1f, \"vdpbf16ps_peak_gflops\": %.1f, \"vpdpbusd_peak_gops\": %.1f, "
           "\"amx_bf16_peak_gflops\": %.1f, \"amx_int8_peak_gops\": %.1f, \"threads\": %d}\n",
           peak / 1e9, peak_dpbf16 / 1e9, peak_vnni / 1e9, peak_bf16 / 1e9, peak_i8 / 1e9, threads);
    /* (M, N, K): decode, the expert GEMMs of 1024 tokens over 32 experts, encoder */
    const int64_t shapes[][3] = {
        {1, 768, 768},     {1, 3072, 768},   {1, 768, 3072},   {2, 3072, 768},     {3, 3072, 768},
        {4, 3072, 768},    {4, 768, 3072},   {8, 3072, 768},   {16, 3072, 768},    {32, 768, 768},
        {32, 3072, 768},   {32, 768, 3072},  {128, 768, 768},  {128, 3072, 768},   {128, 768, 3072},
        {1024, 768, 768},  {1024, 3072, 768}, {1024, 768, 3072},
    };
    typedef void (*matmul_fn)(float *, const float *, const sc_tensor *, int64_t, sc_pool *);
    /* table, or NULL and a kernel called directly (needs avx512-bf16's features) */
    struct { const char *table; matmul_fn fn; sc_dtype dt; const char *label; } cases[] = {
        {"exact", NULL, SC_DTYPE_F32, "f32"},        {"exact", NULL, SC_DTYPE_BF16, "bf16"},
        {"exact", NULL, SC_DTYPE_F16, "f16"},        {"exact", NULL, SC_DTYPE_I8, "i8"},
        {"avx512-bf16", NULL, SC_DTYPE_BF16, "bf16fast"},
#if defined(__x86_64__)
        {NULL, sc_matmul_bf16_dot, SC_DTYPE_BF16, "bf16dot"}, {NULL, sc_matmul_bf16_packed, SC_DTYPE_BF16, "bf16pk"},
        {NULL, sc_matmul_q8_vnni, SC_DTYPE_I8, "i8dot"},      {NULL, sc_matmul_q8_packed, SC_DTYPE_I8, "i8pk"},
        {NULL, sc_matmul_q8_fewrows, SC_DTYPE_I8, "i8few"},
#endif
        {"amx", NULL, SC_DTYPE_BF16, "bf16amx"},     {"amx", NULL, SC_DTYPE_I8, "i8amx"},
        {"ref", NULL, SC_DTYPE_F32, "openblas"},
    };
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        if (quick && M == 1024) continue;
        float *x = malloc(sizeof(float) * (size_t)(M * K)), *y = malloc(sizeof(float) * (size_t)(M * N));
        float *wf = malloc(sizeof(float) * (size_t)(N * K)), *scales = malloc(sizeof(float) * (size_t)N);
        void *wd = malloc(sizeof(float) * (size_t)(N * K));
        for (int64_t i = 0; i < M * K; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        for (int64_t i = 0; i < N * K; i++) wf[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            const sc_kernels *t = sc_kernels_select(cases[c].table ? cases[c].table : "avx512-bf16");
            int blas = !strcmp(cases[c].label, "openblas");
#ifndef SC_BENCH_OPENBLAS
            if (blas) continue;
#endif
            if (!t || (only && strcmp(only, cases[c].label))) continue;
            sc_dtype dt = cases[c].dt;
            size_t esize = dt == SC_DTYPE_F32 ? 4 : dt == SC_DTYPE_I8 ? 1 : 2;
            for (int64_t i = 0; i < N * K; i++) {
                if (dt == SC_DTYPE_F32) ((float *)wd)[i] = wf[i];
                else if (dt == SC_DTYPE_BF16) ((uint16_t *)wd)[i] = sc_f32_to_bf16(wf[i]);
                else if (dt == SC_DTYPE_F16) ((uint16_t *)wd)[i] = sc_f32_to_f16(wf[i]);
            }
            if (dt == SC_DTYPE_I8) t->quantize_rows_q8(wd, scales, wf, N, K);
            sc_tensor W = {.dtype = dt, .ndim = 2, .shape = {N, K}, .data = wd, .scales = scales};
            double best = 1e30;
            int reps = M <= 32 ? 50 : M == 128 ? 10 : 4;
            for (int r = 0; r < reps + 1; r++) {
                double t0 = now();
#ifdef SC_BENCH_OPENBLAS
                if (blas)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K,
                                wf, (int)K, 0.0f, y, (int)N);
                else
#endif
                if (cases[c].fn)
                    cases[c].fn(y, x, &W, M, pool);
                else
                    t->matmul(y, x, &W, M, pool);
                double dt_s = now() - t0;
                if (r > 0 && dt_s < best) best = dt_s; /* first run warms caches and pages */
            }
            char name[200];
            snprintf(name, sizeof name, "%s M=%lld N=%lld K=%lld", cases[c].label, (long long)M, (long long)N,
                     (long long)K);
            double flops = 2.0 * M * N * K;
            /* the instruction peak of what runs (tables: of their bulk path) */
            const char *tname = cases[c].table ? cases[c].table : "avx512-bf16";
            int amx = !strcmp(tname, "amx"), fast = !strcmp(tname, "avx512-bf16");
            const char *pk = "fp32";
            double own = peak;
            if (amx) {
                pk = dt == SC_DTYPE_I8 ? "amx_int8" : "amx_bf16";
                own = dt == SC_DTYPE_I8 ? peak_i8 : peak_bf16;
            } else if (dt == SC_DTYPE_I8) {
                pk = "vpdpbusd";
                own = peak_vnni;
            } else if (dt == SC_DTYPE_BF16 && fast) {
                pk = "vdpbf16ps";
                own = peak_dpbf16;
            }
            printf("{\"name\": \"%s\", \"table\": \"%s\", \"seconds\": %.6f, \"gflops\": %.1f, "
                   "\"pct_peak\": %.1f, \"peak\": \"%s\", \"weight_gbs\": %.2f",
                   name, blas ? "openblas" : cases[c].fn ? "direct" : t->name, best, flops / best / 1e9,
                   own > 0 ? 100.0 * flops / best / own : 0.0, pk, (double)N * K * esize / best / 1e9);
            double prev = lookup(compare, name);
            if (prev > 0) printf(", \"speedup_vs_compare\": %.3f", prev / best);
            printf("}\n");
            fflush(stdout);
        }
        free(x); free(y); free(wf); free(scales); free(wd);
    }
    sc_pool_free(pool);
    return 0;
}

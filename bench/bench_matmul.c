/* Matmul throughput of the kernel tables on the model's shapes, one JSON
 * object per line: M=1 decode (GB/s of weight streaming), M=128 and 1024
 * encoder (GFLOP/s and % of the fp32 FMA peak per core x threads, measured
 * here for 0.2 s). Usage: bench_matmul [--threads N] [--quick]
 * [--compare previous.jsonl] (prints the speed ratio to the earlier run of
 * the same case). With -DSC_BENCH_OPENBLAS and -lopenblas it also times
 * cblas_sgemm on the fp32 shapes (not part of the normal build). */
#include "core/dtype.h"
#include "core/pool.h"
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

#define now peak_now

#if defined(__x86_64__)
static double fp32_peak(void) { return peak_best(peak_fp32_fma, 1000000, 20); }
#else
static double fp32_peak(void) { return 0; }
#endif

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
    const char *compare = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--compare") && i + 1 < argc) compare = argv[++i];
    }
    sc_pool *pool = threads > 1 ? sc_pool_create(threads) : NULL;
    double peak = fp32_peak() * threads;
    printf("{\"fp32_peak_gflops\": %.1f, \"threads\": %d}\n", peak / 1e9, threads);
    const int64_t NK[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {4096, 1024}, {1024, 4096}, {2048, 2048}};
    const int64_t Ms[] = {1, 128, 1024};
    struct { const char *table; sc_dtype dt; const char *label; } cases[] = {
        {"best", SC_DTYPE_F32, "f32"}, {"best", SC_DTYPE_BF16, "bf16"}, {"best", SC_DTYPE_F16, "f16"},
        {"best", SC_DTYPE_I8, "i8"}, {"avx512-bf16", SC_DTYPE_BF16, "bf16dot"}, {"ref", SC_DTYPE_F32, "openblas"},
    };
    for (size_t mi = 0; mi < 3; mi++)
        for (size_t s = 0; s < sizeof NK / sizeof *NK; s++) {
            int64_t M = Ms[mi], N = NK[s][0], K = NK[s][1];
            if (M == 1024 && s > 2) continue; /* keep the run short */
            if (quick && M == 1024) continue;
            float *x = malloc(sizeof(float) * (size_t)(M * K)), *y = malloc(sizeof(float) * (size_t)(M * N));
            float *wf = malloc(sizeof(float) * (size_t)(N * K)), *scales = malloc(sizeof(float) * (size_t)N);
            void *wd = malloc(sizeof(float) * (size_t)(N * K));
            for (int64_t i = 0; i < M * K; i++) x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
            for (int64_t i = 0; i < N * K; i++) wf[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
            for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
                const sc_kernels *t = sc_kernels_select(cases[c].table);
                int blas = !strcmp(cases[c].label, "openblas");
#ifndef SC_BENCH_OPENBLAS
                if (blas) continue;
#endif
                if (!t) continue;
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
                int reps = M == 1 ? 50 : M == 128 ? 5 : 2;
                for (int r = 0; r < reps + 1; r++) {
                    double t0 = now();
#ifdef SC_BENCH_OPENBLAS
                    if (blas)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K,
                                    wf, (int)K, 0.0f, y, (int)N);
                    else
#endif
                        t->matmul(y, x, &W, M, pool);
                    double dt_s = now() - t0;
                    if (r > 0 && dt_s < best) best = dt_s; /* first run warms caches and pages */
                }
                char name[200];
                snprintf(name, sizeof name, "%s M=%lld N=%lld K=%lld", cases[c].label, (long long)M, (long long)N,
                         (long long)K);
                double flops = 2.0 * M * N * K;
                printf("{\"name\": \"%s\", \"table\": \"%s\", \"seconds\": %.6f, \"gflops\": %.1f, "
                       "\"pct_fp32_peak\": %.1f, \"weight_gbs\": %.2f",
                       name, blas ? "openblas" : t->name, best, flops / best / 1e9, 100.0 * flops / best / peak,
                       (double)N * K * esize / best / 1e9);
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

/* Model-sized matmul sequences per weight dtype, as JSON lines, with the
 * roofline each is held to:
 *  - encoder: 12 layers x (4 attention projections 768x768 on all tokens,
 *    then a top-1 expert FF (wi 3072x768, wo 768x3072) where the tokens are
 *    spread evenly over --experts experts), for 8 sequences x 128 tokens.
 *    Reported: seconds, tokens/s, GFLOP/s and % of the fp32 FMA peak of
 *    `threads` cores (and of the dtype's own instruction peak for the
 *    bf16-dot and int8 kernels).
 *  - decode: M = 1 and 4 rows, 12 layers x (6 projections 768x768: self q,
 *    k, v, o and cross q, o; cross k/v are cached) + one expert FF, every
 *    layer its own weights (about 400 MB in fp32), so W streams from DRAM
 *    as in a real decode step. Reported: steps/s (tokens/s per row), weight
 *    GB/s and % of the DRAM read bandwidth measured in the decode kernels'
 *    own pattern (sc_read_bw_measure_rows; the plain one-stream read is
 *    printed beside it as read_gbs).
 * Attention itself (softmax, p*V) and norms are not in it: see
 * bench/README.md for their measured share.
 * Usage: bench_model [--threads N] [--experts E] [--quick] */
#include "core/dtype.h"
#include "core/pool.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peak_loops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define LAYERS 12
#define D 768
#define DFF 3072

typedef struct {
    sc_tensor W;
    void *data;
    float *scales;
} mat;

static uint32_t hash32(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

static int mat_init(mat *m, const sc_kernels *t, sc_dtype dt, int64_t N, int64_t K, uint64_t seed) {
    size_t n = (size_t)(N * K), es = dt == SC_DTYPE_F32 ? 4 : dt == SC_DTYPE_I8 ? 1 : 2;
    float *wf = malloc(n * sizeof(float));
    m->data = malloc(n * es);
    m->scales = dt == SC_DTYPE_I8 ? malloc(sizeof(float) * (size_t)N) : NULL;
    if (!wf || !m->data || (dt == SC_DTYPE_I8 && !m->scales)) {
        free(wf);
        return 0;
    }
    for (size_t i = 0; i < n; i++) wf[i] = (float)(hash32(seed * 0x9e3779b97f4a7c15ULL + i) >> 8) / 16777216.0f - 0.5f;
    for (size_t i = 0; i < n; i++) {
        if (dt == SC_DTYPE_F32) ((float *)m->data)[i] = wf[i];
        else if (dt == SC_DTYPE_BF16) ((uint16_t *)m->data)[i] = sc_f32_to_bf16(wf[i]);
        else if (dt == SC_DTYPE_F16) ((uint16_t *)m->data)[i] = sc_f32_to_f16(wf[i]);
    }
    if (dt == SC_DTYPE_I8) t->quantize_rows_q8(m->data, m->scales, wf, N, K);
    free(wf);
    m->W = (sc_tensor){.dtype = dt, .ndim = 2, .shape = {N, K}, .data = m->data, .scales = m->scales};
    return 1;
}

static void mat_free(mat *m) {
    free(m->data);
    free(m->scales);
}


int main(int argc, char **argv) {
    int threads = 2, experts = 8, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--experts") && i + 1 < argc) experts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
    }
    if (threads < 1) threads = 1;
    if (experts < 1 || experts > 64) experts = 8;
    sc_pool *pool = threads > 1 ? sc_pool_create(threads) : NULL;
    const sc_cpu_features *f = sc_cpu_features_get();
    double fp32 = 0, bf16 = 0, vnni = 0;
    (void)f;
    fp32 = peak_core(SC_PEAK_FP32_FMA) * threads;
    bf16 = peak_core(SC_PEAK_BF16_DOT) * threads;
    vnni = peak_core(SC_PEAK_INT8_VNNI) * threads;
    /* the DRAM roofline: a plain one-stream read, and the decode kernels'
     * own pattern (4 prefetched forward streams per task), which decode's
     * pct_read_bw is of */
    double bw_plain = sc_read_bw_measure((size_t)256 << 20, threads, 4);
    double bw = sc_read_bw_measure_rows((size_t)256 << 20, threads, 4);
    printf("{\"threads\": %d, \"experts\": %d, \"fp32_peak_gflops\": %.1f, \"bf16_dot_peak_gflops\": %.1f, "
           "\"vnni_peak_gops\": %.1f, \"read_gbs\": %.2f, \"read_rows_gbs\": %.2f}\n",
           threads, experts, fp32 / 1e9, bf16 / 1e9, vnni / 1e9, bw_plain / 1e9, bw / 1e9);
    fflush(stdout);

    struct { const char *table; sc_dtype dt; const char *label; } cases[] = {
        {"best", SC_DTYPE_F32, "f32"}, {"best", SC_DTYPE_BF16, "bf16"}, {"best", SC_DTYPE_I8, "i8"},
        {"avx512-bf16", SC_DTYPE_BF16, "bf16dot"},
    };
    const int64_t T = 8 * 128;
    float *x = malloc(sizeof(float) * (size_t)(T * DFF)), *h = malloc(sizeof(float) * (size_t)(T * DFF));
    if (!x || !h) return 1;
    for (int64_t i = 0; i < T * DFF; i++) x[i] = (float)(hash32((uint64_t)i) >> 8) / 16777216.0f - 0.5f;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const sc_kernels *t = sc_kernels_select(cases[c].table);
        if (!t) continue;
        sc_dtype dt = cases[c].dt;
        double es = dt == SC_DTYPE_F32 ? 4 : dt == SC_DTYPE_I8 ? 1 : 2;
        double ipeak = !strcmp(cases[c].label, "bf16dot") ? bf16 : dt == SC_DTYPE_I8 ? vnni : fp32;

        /* encoder: one layer's weights (4 projections + E experts), reused by all 12 layers */
        mat attn[4], *ex = calloc((size_t)experts * 2, sizeof(mat));
        int ok = ex != NULL;
        for (int i = 0; i < 4 && ok; i++) ok = mat_init(&attn[i], t, dt, D, D, (uint64_t)(100 + i));
        for (int e = 0; e < experts && ok; e++)
            ok = mat_init(&ex[2 * e], t, dt, DFF, D, (uint64_t)(200 + e)) &&
                 mat_init(&ex[2 * e + 1], t, dt, D, DFF, (uint64_t)(300 + e));
        if (!ok) return 1;
        int reps = quick ? 1 : 3;
        double best = 1e30;
        for (int r = 0; r <= reps; r++) {
            double t0 = sc_clock_seconds();
            for (int l = 0; l < LAYERS; l++) {
                for (int i = 0; i < 4; i++) t->matmul(h, x, &attn[i].W, T, pool);
                for (int e = 0; e < experts; e++) {
                    int64_t lo = T * e / experts, hi = T * (e + 1) / experts;
                    t->matmul(h + lo * DFF, x + lo * D, &ex[2 * e].W, hi - lo, pool);
                    t->matmul(h + lo * D, x + lo * DFF, &ex[2 * e + 1].W, hi - lo, pool);
                }
            }
            double s = sc_clock_seconds() - t0;
            if (r > 0 && s < best) best = s;
        }
        double flops = (double)LAYERS * (4.0 * 2 * T * D * D + 2.0 * 2 * T * D * DFF);
        printf("{\"name\": \"encoder %s\", \"table\": \"%s\", \"tokens\": %lld, \"seconds\": %.4f, "
               "\"tokens_per_s\": %.0f, \"gflops\": %.1f, \"pct_fp32_peak\": %.1f, \"pct_instr_peak\": %.1f}\n",
               cases[c].label, t->name, (long long)T, best, (double)T / best, flops / best / 1e9,
               fp32 > 0 ? 100.0 * flops / best / fp32 : 0.0, ipeak > 0 ? 100.0 * flops / best / ipeak : 0.0);
        fflush(stdout);
        for (int i = 0; i < 4; i++) mat_free(&attn[i]);
        for (int e = 0; e < 2 * experts; e++) mat_free(&ex[e]);
        free(ex);

        /* decode: every layer its own 6 projections + expert pair */
        mat *dl = calloc(LAYERS * 8, sizeof(mat));
        ok = dl != NULL;
        for (int l = 0; l < LAYERS && ok; l++) {
            for (int i = 0; i < 6 && ok; i++) ok = mat_init(&dl[l * 8 + i], t, dt, D, D, (uint64_t)(1000 + l * 8 + i));
            ok = ok && mat_init(&dl[l * 8 + 6], t, dt, DFF, D, (uint64_t)(1006 + l * 8)) &&
                 mat_init(&dl[l * 8 + 7], t, dt, D, DFF, (uint64_t)(1007 + l * 8));
        }
        if (!ok) return 1;
        double bytes = (double)LAYERS * (6.0 * D * D + 2.0 * D * DFF) * es;
        const int64_t Ms[] = {1, 4};
        for (int mi = 0; mi < 2; mi++) {
            int64_t M = Ms[mi];
            best = 1e30;
            for (int r = 0; r <= (quick ? 2 : 8); r++) {
                double t0 = sc_clock_seconds();
                for (int l = 0; l < LAYERS; l++)
                    for (int i = 0; i < 8; i++) t->matmul(h, x, &dl[l * 8 + i].W, M, pool);
                double s = sc_clock_seconds() - t0;
                if (r > 0 && s < best) best = s;
            }
            printf("{\"name\": \"decode %s M=%lld\", \"table\": \"%s\", \"seconds_per_step\": %.6f, "
                   "\"steps_per_s\": %.1f, \"weight_mb\": %.1f, \"weight_gbs\": %.2f, \"pct_read_bw\": %.1f}\n",
                   cases[c].label, (long long)M, t->name, best, 1.0 / best, bytes / 1e6, bytes / best / 1e9,
                   bw > 0 ? 100.0 * bytes / best / bw : 0.0);
            fflush(stdout);
        }
        for (int i = 0; i < LAYERS * 8; i++) mat_free(&dl[i]);
        free(dl);
    }
    free(x);
    free(h);
    sc_pool_free(pool);
    return 0;
}

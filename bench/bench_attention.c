/* Fused T5 attention (sc_attention) on the switch-base shapes, one JSON
 * object per line: encoder self-attention (Tq = Tk = 128, 12 heads, d_kv 64,
 * relative bias, key mask), cross-attention (no bias), causal decoder
 * self-attention over a whole target (Tq = Tk = 128) and one decode step
 * (Tq = 1 over 128 cached keys), each on 1 and 2 threads.
 *
 * flop = 4 * Tq * Tk * Dh * H (q k^T and p v; the causal case counts the
 * full square, so its GFLOP/s is nominal). A "pass" is 8 calls (8 sequences,
 * the encoder batch of the model benchmark); the figure is the best of
 * --reps passes after one warm-up pass, because the machine may be shared.
 * % of peak is against the fp32 FMA peak measured here x threads.
 * Usage: bench_attention [--reps N] [--threads N] [--only NAME] (--threads:
 * only that thread count; --only: one case, e.g. encoder). */
#include "core/alloc.h"
#include "core/pool.h"
#include "model/attention.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peak_loops.h"

static double fp32_peak(void) { return peak_core(SC_PEAK_FP32_FMA); }

#define SEQS 8

typedef struct {
    const char *name;
    int64_t Tq, Tk;
    int bias, causal;
} bench_case;

int main(int argc, char **argv) {
    int reps = 200, only_threads = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) only_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    }
    if (reps < 1) reps = 1;
    const int64_t H = 12, Dh = 64, I = H * Dh, T = 128, R = 32;
    const bench_case cases[] = {
        {"encoder", T, T, 1, 0},
        {"cross", T, T, 0, 0},
        {"decoder_causal", T, T, 1, 1},
        {"decode_step", 1, T, 1, 1},
    };
    /* 64-byte aligned like the model's workspace */
    const size_t act = sizeof(float) * (size_t)(SEQS * T * I);
    float *q = sc_alloc_aligned(act), *k = sc_alloc_aligned(act), *v = sc_alloc_aligned(act), *ctx = sc_alloc_aligned(act);
    float *table = malloc(sizeof(float) * (size_t)(R * H));
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)T), *buckets = malloc(sizeof(int32_t) * (size_t)(4 * T + 1));
    if (!q || !k || !v || !ctx || !table || !mask || !buckets) return 1;
    for (int64_t i = 0; i < SEQS * T * I; i++) {
        q[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        k[i] = (float)((i * 53) % 97) / 97.0f - 0.5f;
        v[i] = (float)((i * 29) % 89) / 89.0f - 0.5f;
    }
    for (int64_t i = 0; i < R * H; i++) table[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int64_t j = 0; j < T; j++) mask[j] = 1;
    for (int64_t i = 0; i < 4 * T + 1; i++) buckets[i] = (int32_t)(i % R);
    double peak1 = fp32_peak();
    printf("{\"fp32_peak_gflops_per_thread\": %.1f, \"seqs_per_pass\": %d, \"reps\": %d}\n", peak1 / 1e9, SEQS,
           reps);
    for (int threads = 1; threads <= 2; threads++) {
        if (only_threads && threads != only_threads) continue;
        sc_pool *pool = sc_pool_create(threads);
        const int64_t rows = sc_attention_scratch_rows(pool);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            const bench_case *bc = &cases[c];
            if (only && strcmp(only, bc->name)) continue;
            const int64_t slot = sc_attention_task_floats(bc->Tq, bc->Tk, Dh);
            float *scratch = sc_alloc_aligned(sizeof(float) * (size_t)(rows * slot));
            if (!scratch) return 1;
            double best = 1e30;
            for (int r = 0; r < reps + 1; r++) {
                double t0 = sc_clock_seconds();
                for (int64_t s = 0; s < SEQS; s++) {
                    sc_attn_args a = {.q = q + s * T * I, .k = k + s * T * I, .v = v + s * T * I,
                                      .ctx = ctx + s * T * I, .Tq = bc->Tq, .Tk = bc->Tk, .H = H, .Dh = Dh,
                                      .scratch = scratch, .scratch_rows = rows, .pool = pool};
                    a.causal = bc->causal;
                    a.q_pos0 = bc->causal ? bc->Tk - bc->Tq : 0;
                    if (!bc->causal) a.key_mask = mask;
                    if (bc->bias) {
                        a.bias_table = table;
                        a.bucket_of = buckets;
                        a.bucket_off = 2 * T;
                    }
                    sc_attention(&a);
                }
                double dt = sc_clock_seconds() - t0;
                if (r > 0 && dt < best) best = dt;
            }
            double flops = 4.0 * (double)bc->Tq * (double)bc->Tk * (double)Dh * (double)H * SEQS;
            printf("{\"name\": \"%s Tq=%lld Tk=%lld H=%lld Dh=%lld\", \"threads\": %d, \"ms_per_pass\": %.4f, "
                   "\"gflops\": %.1f, \"pct_fp32_peak\": %.1f}\n",
                   bc->name, (long long)bc->Tq, (long long)bc->Tk, (long long)H, (long long)Dh, threads,
                   best * 1e3, flops / best / 1e9, peak1 > 0 ? 100.0 * flops / best / (peak1 * threads) : 0.0);
            fflush(stdout);
            sc_free_aligned(scratch);
        }
        sc_pool_free(pool);
    }
    sc_free_aligned(q); sc_free_aligned(k); sc_free_aligned(v); sc_free_aligned(ctx);
    free(table); free(mask); free(buckets);
    return 0;
}

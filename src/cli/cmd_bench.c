/* switchc bench: load time, encoder throughput (1x128 and 8x128 random
 * ids), greedy decode ms/token (64-token prompt, 32 new tokens, decode steps
 * only), peak RSS, achieved GFLOP/s and decode GB/s, the latter two as a
 * share of this machine's peaks measured after the run in about a second:
 * the peak of the instruction the encoder's matmuls ran on (kernels/peak.h:
 * AMX tiles, vdpbf16ps, vpdpbusd or fp32 FMA, N threads) and read bandwidth
 * (N threads summing a 256 MiB buffer). */
#include "cli/args.h"
#include "cli/bench_records.h"
#include "cli/commands.h"
#include "core/pool.h"
#include "kernels/peak.h"
#include "model/model.h"
#include "model/session.h"
#include "model/weights_convert.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f, "usage: switchc bench -m DIR [--dtype f32|bf16|f16|q8] [-t N] [--kernels NAME] [--no-mmap]\n"
               "                     [--json] [--compare FILE [--tolerance PCT]]\n\n"
               "Measures load time, encoder tokens/s (1x128, 8x128), greedy decode ms/token (64-token\n"
               "prompt, 32 new tokens, decode steps only), each the best of 2 runs, peak RSS, GFLOP/s and\n"
               "GB/s, and these as %% of the peak of the instruction the encoder ran on (AMX tiles,\n"
               "vdpbf16ps, vpdpbusd or fp32 FMA) and of the read bandwidth, both measured after the run.\n\n"
               "--no-mmap       read the weights into memory at load instead of mapping them (load_s\n"
               "                then counts the read; \"mmap\": false in --json)\n"
               "--compare FILE  compare with the last run FILE records for these weights, kernels and\n"
               "                threads (FILE: `--json` outputs, one a line); exit 3 if load, an encoder\n"
               "                figure, decode or peak RSS is worse by more than --tolerance (10%%)\n");
}

/* ---- model arithmetic */

static size_t mat_bytes(const sc_tensor *t) {
    if (!t->data) return 0;
    size_t n = (size_t)t->shape[0] * (size_t)sc_tensor_cols(t);
    return n * sc_dtype_size(t->dtype) + (t->scales ? (size_t)t->shape[0] * sizeof(float) : 0);
}
static double mat_params(const sc_tensor *t) {
    return t->data ? (double)t->shape[0] * (double)sc_tensor_cols(t) : 0.0;
}

/* Matmul flops of the encoder on S tokens per row (top-1 routing: one
 * expert per token), attention score/value products included. */
static double encoder_flops(const sc_model *m, double tokens, double S) {
    double per_tok = 0;
    for (int64_t i = 0; i < m->enc.n_blocks; i++) {
        const sc_block_weights *b = &m->enc.blocks[i];
        per_tok += mat_params(&b->self.q) + mat_params(&b->self.k) + mat_params(&b->self.v) + mat_params(&b->self.o);
        per_tok += 2.0 * S * (double)(m->cfg.num_heads * m->cfg.d_kv);
        if (b->sparse) {
            const sc_ffn_weights *e = sc_expert_store_get(m->experts, b->moe_index, 0);
            per_tok += mat_params(&e->wi) + mat_params(&e->wi1) + mat_params(&e->wo) +
                       (double)(m->cfg.num_experts * m->cfg.d_model);
        } else {
            per_tok += mat_params(&b->ff.wi) + mat_params(&b->ff.wi1) + mat_params(&b->ff.wo);
        }
    }
    return 2.0 * tokens * per_tok;
}

/* Weight bytes one decode step reads for one row (cross K/V are cached;
 * one expert per sparse layer; the lm head). */
static double decode_bytes(const sc_model *m) {
    double b = (double)mat_bytes(&m->lm_head);
    for (int64_t i = 0; i < m->dec.n_blocks; i++) {
        const sc_block_weights *k = &m->dec.blocks[i];
        b += (double)(mat_bytes(&k->self.q) + mat_bytes(&k->self.k) + mat_bytes(&k->self.v) + mat_bytes(&k->self.o) +
                      mat_bytes(&k->cross.q) + mat_bytes(&k->cross.o));
        if (k->sparse) {
            const sc_ffn_weights *e = sc_expert_store_get(m->experts, k->moe_index, 0);
            b += (double)(mat_bytes(&e->wi) + mat_bytes(&e->wi1) + mat_bytes(&e->wo));
        } else {
            b += (double)(mat_bytes(&k->ff.wi) + mat_bytes(&k->ff.wi1) + mat_bytes(&k->ff.wo));
        }
    }
    return b;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_ids(int32_t *ids, size_t n, int64_t vocab, uint64_t *s) {
    for (size_t i = 0; i < n; i++) ids[i] = 2 + (int32_t)(rng_next(s) % (uint64_t)(vocab > 3 ? vocab - 2 : 1));
}

/* Best of `reps` encodes of B x S random ids: tokens/s. */
static double bench_encoder(sc_session *s, int64_t B, int64_t S, int reps, double *secs, sc_error *err) {
    int32_t *ids = malloc((size_t)(B * S) * sizeof(int32_t));
    if (!ids) return -1;
    uint64_t rs = 0x12345678u + (uint64_t)B;
    random_ids(ids, (size_t)(B * S), sc_model_vocab_size(s->m), &rs);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (sc_session_encode(s, ids, NULL, B, S, err)) {
            free(ids);
            return -1;
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(ids);
    *secs = best;
    return (double)(B * S) / best;
}

/* ms per greedy decode step after a 64-token prompt, 32 steps, the best of
 * reps runs (the first one also pages in decoder weights the encoder runs
 * did not touch, when they are not in memory yet). */
static double bench_decode(sc_session *s, int reps, sc_error *err) {
    const int64_t P = 64, N = 32, V = sc_model_vocab_size(s->m);
    int32_t ids[64];
    uint64_t rs = 99;
    random_ids(ids, (size_t)P, V, &rs);
    float *logits = malloc((size_t)V * sizeof(float));
    if (!logits) return -1;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        if (sc_session_encode(s, ids, NULL, 1, P, err)) {
            free(logits);
            return -1;
        }
        int32_t tok = sc_model_decoder_start_id(s->m);
        double total = 0;
        for (int64_t i = 0; i < N; i++) {
            double t0 = now();
            if (sc_session_decode_step(s, &tok, logits, err)) {
                free(logits);
                return -1;
            }
            total += now() - t0;
            int32_t top = 0;
            for (int64_t v = 1; v < V; v++)
                if (logits[v] > logits[top]) top = (int32_t)v;
            tok = top;
        }
        if (total < best) best = total;
    }
    free(logits);
    return 1e3 * best / (double)N;
}

typedef struct bench_opts {
    const char *dir, *dtype, *kernels, *compare;
    int64_t threads;
    double tolerance;
    bool json, no_mmap;
} bench_opts;

#define AT(field) .off = offsetof(bench_opts, field)
static const args_opt bench_options[] = {
    {"-m", "--model", ARGS_STRING, AT(dir)},
    {NULL, "--dtype", ARGS_STRING, AT(dtype)},
    {NULL, "--kernels", ARGS_STRING, AT(kernels)},
    {"-t", "--threads", ARGS_INT, AT(threads), .ilo = 1, .ihi = 64, .label = "-t"},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--no-mmap", ARGS_FLAG, AT(no_mmap)},
    {NULL, "--compare", ARGS_STRING, AT(compare)},
    {NULL, "--tolerance", ARGS_DOUBLE, AT(tolerance), .dlo = 0, .dhi = 1000},
    {0},
};
#undef AT
static const args_spec bench_args = {
    .cmd = "bench", .usage = usage, .opts = bench_options, .unknown = ARGS_SAY_ARGUMENT, .pos = ARGS_POS_NONE};

int cmd_bench(int argc, char **argv) {
    bench_opts opt = {.tolerance = 10};
    int rc = args_parse(&bench_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    sc_model_params p = sc_model_default_params();
    if (opt.dtype && !sc_weights_dtype_parse(opt.dtype, &p.dtype)) {
        fprintf(stderr, "switchc bench: --dtype takes f32, bf16, f16 or q8\n");
        return SC_EXIT_USAGE;
    }
    if (!opt.dir) {
        fprintf(stderr, "switchc bench: needs -m DIR\n");
        return SC_EXIT_USAGE;
    }
    p.n_threads = (int)opt.threads;
    p.kernels = opt.kernels;
    p.no_mmap = opt.no_mmap;
    int nt = opt.threads ? (int)opt.threads : sc_pool_default_threads();

    sc_error err;
    bench_records recorded = {0};
    if (opt.compare && bench_records_read(opt.compare, &recorded, &err)) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    sc_model *m = NULL;
    sc_session *s = NULL;
    double t0 = now();
    if (sc_model_load(opt.dir, &p, &m, &err)) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        bench_records_free(&recorded);
        return SC_EXIT_FAIL;
    }
    double load_s = now() - t0;
    const sc_dtype wdt = m->enc.blocks[0].self.q.dtype;
    const char *dl = sc_weights_dtype_label(m->params.dtype == SC_DTYPE_AS_STORED ? wdt : m->params.dtype);
    const bench_run *rec = opt.compare ? bench_records_find(&recorded, dl, m->kern->name, nt, !opt.no_mmap) : NULL;
    if (opt.compare && !rec) {
        fprintf(stderr, "switchc bench: %s: no recorded run for %s weights, kernels %s, %d threads%s\n", opt.compare,
                dl, m->kern->name, nt, opt.no_mmap ? ", --no-mmap" : "");
        bench_records_free(&recorded);
        sc_model_free(m);
        return SC_EXIT_FAIL;
    }
    if (sc_session_new(m, &s, &err)) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        bench_records_free(&recorded);
        sc_model_free(m);
        return SC_EXIT_FAIL;
    }
    double s1 = 0, s8 = 0;
    double tok1 = bench_encoder(s, 1, 128, 2, &s1, &err);
    double tok8 = tok1 >= 0 ? bench_encoder(s, 8, 128, 2, &s8, &err) : -1;
    double ms = tok8 >= 0 ? bench_decode(s, 2, &err) : -1;
    if (ms < 0) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        sc_session_free(s);
        sc_model_free(m);
        bench_records_free(&recorded);
        return SC_EXIT_FAIL;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t rss = (size_t)ru.ru_maxrss * 1024;
    /* after the RSS reading: the bandwidth buffer must not count */
    /* the peak of the instruction the encoder's matmuls ran on (AMX tiles,
     * vdpbf16ps, vpdpbusd or fp32 FMA), and the fp32 FMA peak for reference */
    const sc_peak_kind pk = sc_peak_of_table(m->kern, wdt);
    double fma_peak = sc_peak_measure(SC_PEAK_FP32_FMA, nt);
    double peak = pk == SC_PEAK_FP32_FMA ? fma_peak : sc_peak_measure(pk, nt);
    double bw_peak = sc_read_bw_measure((size_t)256 << 20, nt, 3);
    double gflops = encoder_flops(m, 8 * 128.0, 128.0) / s8 / 1e9;
    double gbs = decode_bytes(m) / (ms * 1e-3) / 1e9;
    double pct_flops = peak > 0 ? 100.0 * gflops * 1e9 / peak : -1;
    double pct_bw = bw_peak > 0 ? 100.0 * gbs * 1e9 / bw_peak : -1;
    const char *impl = m->kern->matmul_impl[wdt];
    bench_run run = {.threads = nt, .mmap = !opt.no_mmap, .v = {load_s, tok1, tok8, ms, (double)rss}};
    snprintf(run.dtype, sizeof run.dtype, "%s", dl);
    snprintf(run.table, sizeof run.table, "%s", m->kern->name);
    int worse = 0;
    if (opt.json) {
        printf("{\"dtype\": \"%s\", \"threads\": %d, \"mmap\": %s, \"load_s\": %.4f, \"encoder_1x128_tok_s\": %.2f, "
               "\"encoder_8x128_tok_s\": %.2f, \"decode_ms_per_token\": %.3f, \"peak_rss_bytes\": %zu, "
               "\"encoder_gflop_s\": %.2f, \"decode_gb_s\": %.3f, \"compute_peak\": \"%s\", "
               "\"compute_peak_gflop_s\": %.1f, \"fma_peak_gflop_s\": %.1f, "
               "\"read_bw_gb_s\": %.2f, \"encoder_pct_of_peak\": %.2f, \"decode_pct_of_bandwidth\": %.2f, "
               "\"peak_source\": \"measured after the run\", \"kernels\": {\"table\": \"%s\", \"matmul\": \"%s\"}",
               dl, nt, opt.no_mmap ? "false" : "true", load_s, tok1, tok8, ms, rss, gflops, gbs, sc_peak_name(pk),
               peak / 1e9, fma_peak / 1e9, bw_peak / 1e9, pct_flops, pct_bw, m->kern->name, impl ? impl : "?");
        if (rec) {
            fputs(", \"compare\": ", stdout);
            worse = bench_compare(stdout, &run, rec, opt.compare, opt.tolerance, true);
        }
        fputs("}\n", stdout);
    } else {
        printf("model        %s (%s weights, kernels %s: %s)\n", opt.dir, dl, m->kern->name, impl ? impl : "?");
        printf("threads      %d\nload         %.3f s (%s)\n", nt, load_s,
               opt.no_mmap ? "weights read into memory" : "weights mapped");
        printf("encoder 1x128  %.1f tok/s\nencoder 8x128  %.1f tok/s  (%.2f GFLOP/s, %.1f%% of %.1f GFLOP/s %s peak)\n",
               tok1, tok8, gflops, pct_flops, peak / 1e9, sc_peak_name(pk));
        printf("decode       %.2f ms/token  (%.2f GB/s of weights, %.1f%% of %.2f GB/s read bandwidth)\n", ms, gbs,
               pct_bw, bw_peak / 1e9);
        printf("peak RSS     %.1f MB\n", (double)rss / 1e6);
        if (rec) worse = bench_compare(stdout, &run, rec, opt.compare, opt.tolerance, false);
    }
    sc_session_free(s);
    sc_model_free(m);
    bench_records_free(&recorded);
    return worse ? SC_EXIT_WORSE : SC_EXIT_OK;
}

/* switchc bench: load time, encoder throughput (1x128 and 8x128 random
 * ids), greedy decode ms/token (64-token prompt, 32 new tokens, decode steps
 * only), peak RSS, achieved GFLOP/s and decode GB/s, the latter two as a
 * share of this machine's peaks measured after the run in about a second:
 * the peak of the instruction the encoder's matmuls ran on (sc_peak_ops:
 * AMX tiles, vdpbf16ps, vpdpbusd or fp32 FMA, N threads) and the read
 * bandwidth of N threads reading as many bytes as a decode step's weights
 * the way the decode kernels read them (4 forward streams per task,
 * prefetched: sc_read_bandwidth). The timings themselves are in
 * bench_figures.c. */
#include "args.h"
#include "bench_figures.h"
#include "bench_records.h"
#include "cli_model.h"
#include "commands.h"
#include "switchc.h"
#include "util/clock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void usage(FILE *f) {
    fprintf(f, "usage: switchc bench -m DIR [--dtype f32|bf16|f16|q8] [-t N] [--kernels NAME] [--no-mmap]\n"
               "                     [--json] [--compare FILE [--tolerance PCT]]\n\n"
               "Measures load time, encoder tokens/s (1x128, 8x128), greedy decode ms/token (64-token\n"
               "prompt, 32 new tokens, decode steps only), each the best of 2 runs, peak RSS, GFLOP/s and\n"
               "GB/s, and these as %% of the peak of the instruction the encoder ran on (AMX tiles,\n"
               "vdpbf16ps, vpdpbusd or fp32 FMA) and of the read bandwidth (a decode step's bytes read\n"
               "the way its kernels read them), both measured after the run.\n\n"
               "-m DIR          checkpoint directory, or a Hugging Face repo id ORG/NAME found in the\n"
               "                local cache (docs/models.md); --revision REF: its branch, tag or commit\n"
               "--no-mmap       read the weights into memory at load instead of mapping them (load_s\n"
               "                then counts the read; \"mmap\": false in --json)\n"
               "--compare FILE  compare with the last run FILE records for these weights, kernels and\n"
               "                threads (FILE: `--json` outputs, one a line); exit 3 if load, an encoder\n"
               "                figure, decode or peak RSS is worse by more than --tolerance (10%%)\n");
}

typedef struct bench_opts {
    const char *dir, *revision, *dtype, *kernels, *compare;
    int64_t threads;
    double tolerance;
    bool json, no_mmap;
} bench_opts;

#define AT(field) .off = offsetof(bench_opts, field)
static const args_opt bench_options[] = {
    {"-m", "--model", ARGS_STRING, AT(dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
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
    if (opt.dtype && !sc_dtype_from_label(opt.dtype, &p.dtype)) {
        fprintf(stderr, "switchc bench: --dtype takes f32, bf16, f16 or q8\n");
        return SC_EXIT_USAGE;
    }
    if (!opt.dir) {
        fprintf(stderr, "switchc bench: needs -m DIR\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("bench", &opt.dir, opt.revision)) return SC_EXIT_FAIL;
    p.n_threads = (int)opt.threads;
    p.kernels = opt.kernels;
    p.no_mmap = opt.no_mmap;
    int nt = opt.threads ? (int)opt.threads : sc_default_threads();

    sc_error err = {.code = SC_OK, .offset = SC_NO_OFFSET};
    bench_records recorded = {0};
    if (opt.compare && bench_records_read(opt.compare, &recorded, &err)) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    sc_model *m = NULL;
    sc_session *s = NULL;
    double t0 = sc_clock_seconds();
    if (sc_model_load(opt.dir, &p, &m, &err)) {
        fprintf(stderr, "switchc bench: %s\n", err.msg);
        bench_records_free(&recorded);
        return SC_EXIT_FAIL;
    }
    double load_s = sc_clock_seconds() - t0;
    const sc_dtype wdt = sc_model_matrix_dtype(m);
    const char *dl = sc_dtype_label(sc_model_compute_dtype(m));
    const char *table = sc_model_kernel_table(m);
    const bench_run *rec = opt.compare ? bench_records_find(&recorded, dl, table, nt, !opt.no_mmap) : NULL;
    if (opt.compare && !rec) {
        fprintf(stderr, "switchc bench: %s: no recorded run for %s weights, kernels %s, %d threads%s\n", opt.compare,
                dl, table, nt, opt.no_mmap ? ", --no-mmap" : "");
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
    double s1 = 0, s8 = 0, tok1 = 0, tok8 = 0, ms = 0;
    sc_status st = bench_encoder(s, 1, 128, 2, &tok1, &s1, &err);
    if (!st) st = bench_encoder(s, 8, 128, 2, &tok8, &s8, &err);
    if (!st) st = bench_decode(s, 2, &ms, &err);
    if (st) {
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
    const char *pk = sc_model_compute_peak(m);
    double fma_peak = sc_peak_ops("fp32-fma", nt);
    double peak = !strcmp(pk, "fp32-fma") ? fma_peak : sc_peak_ops(pk, nt);
    /* the decode's own bytes (1 MiB to 1 GiB) in the decode kernels'
     * pattern, so the caches hold as much of it as of the weights, and the
     * share compares like with like (a plain one-stream loop read slower
     * than the kernels' 4 streams: decode read above "100%" of it) */
    const double dbytes = sc_model_decode_bytes(m);
    const size_t bw_bytes = dbytes < (double)(1u << 20) ? (size_t)1 << 20
                            : dbytes > (double)(1u << 30) ? (size_t)1 << 30
                                                          : (size_t)dbytes;
    /* best of passes over ~2 GiB in all (3 to 20): like the decode's best
     * of 2 x 32 steps, enough tries to catch a quiet moment of the machine */
    const size_t bw_passes = ((size_t)2 << 30) / bw_bytes;
    const int passes = bw_passes < 3 ? 3 : bw_passes > 20 ? 20 : (int)bw_passes;
    double bw_peak = sc_read_bandwidth(bw_bytes, nt, passes);
    double gflops = sc_model_encoder_flops(m, 8 * 128.0, 128.0) / s8 / 1e9;
    double gbs = dbytes / (ms * 1e-3) / 1e9;
    double pct_flops = peak > 0 ? 100.0 * gflops * 1e9 / peak : -1;
    double pct_bw = bw_peak > 0 ? 100.0 * gbs * 1e9 / bw_peak : -1;
    const char *impl = sc_kernel_table_matmul(table, wdt);
    bench_run run = {.threads = nt, .mmap = !opt.no_mmap, .v = {load_s, tok1, tok8, ms, (double)rss}};
    snprintf(run.dtype, sizeof run.dtype, "%s", dl);
    snprintf(run.table, sizeof run.table, "%s", table);
    int worse = 0;
    if (opt.json) {
        printf("{\"dtype\": \"%s\", \"threads\": %d, \"mmap\": %s, \"load_s\": %.4f, \"encoder_1x128_tok_s\": %.2f, "
               "\"encoder_8x128_tok_s\": %.2f, \"decode_ms_per_token\": %.3f, \"peak_rss_bytes\": %zu, "
               "\"encoder_gflop_s\": %.2f, \"decode_gb_s\": %.3f, \"compute_peak\": \"%s\", "
               "\"compute_peak_gflop_s\": %.1f, \"fma_peak_gflop_s\": %.1f, "
               "\"read_bw_gb_s\": %.2f, \"encoder_pct_of_peak\": %.2f, \"decode_pct_of_bandwidth\": %.2f, "
               "\"peak_source\": \"measured after the run\", \"kernels\": {\"table\": \"%s\", \"matmul\": \"%s\"}",
               dl, nt, opt.no_mmap ? "false" : "true", load_s, tok1, tok8, ms, rss, gflops, gbs, pk,
               peak / 1e9, fma_peak / 1e9, bw_peak / 1e9, pct_flops, pct_bw, table, impl ? impl : "?");
        if (rec) {
            fputs(", \"compare\": ", stdout);
            worse = bench_compare(stdout, &run, rec, opt.compare, opt.tolerance, true);
        }
        fputs("}\n", stdout);
    } else {
        printf("model        %s (%s weights, kernels %s: %s)\n", opt.dir, dl, table, impl ? impl : "?");
        printf("threads      %d\nload         %.3f s (%s)\n", nt, load_s,
               opt.no_mmap ? "weights read into memory" : "weights mapped");
        printf("encoder 1x128  %.1f tok/s\nencoder 8x128  %.1f tok/s  (%.2f GFLOP/s, %.1f%% of %.1f GFLOP/s %s peak)\n",
               tok1, tok8, gflops, pct_flops, peak / 1e9, pk);
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

/* Training throughput through the public trainer (sc_trainer_*): a random
 * batch of B sequences of S source and T target tokens (no padding), AdamW,
 * fp32, the config's dropout and router jitter, `--warmup` steps untimed and
 * then `--steps` timed ones. Prints one JSON line per run: tokens/s (source
 * + target tokens per second, padding excluded), seconds per step (forward,
 * backward and the optimizer update), the process's peak RSS and the CPU
 * (lscpu's model name); --record FILE appends the line to FILE.
 *
 * The model is a checkpoint directory; a random one of any shape comes from
 * `switchc init` (bench/README.md, "Training" gives the switch-base-8 line).
 *
 * `--gemms` instead times the GEMMs of one step's shapes alone (no model):
 * the forward out = x W^T and the backward's dX = dY W and dW += dY^T X, each
 * as GFLOP/s (best of 5), one JSON line per shape.
 *
 * Usage: bench_train --model DIR [--name NAME] [--threads N] [--batch B]
 *        [--src S] [--tgt T] [--steps N] [--warmup N] [--reference]
 *        [--record FILE]
 *        bench_train --gemms [--threads N] */
#include "switchc.h"

#include "core/pool.h"
#include "train/train_fast.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* lscpu's "Model name" (the first "model name" line of /proc/cpuinfo). */
static void cpu_name(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            break;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(buf, cap, "%s", v);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
}

/* Copies s into a JSON string body (quotes and backslashes escaped, controls dropped). */
static void json_str(char *out, size_t cap, const char *s) {
    size_t k = 0;
    for (; *s && k + 2 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[k++] = '\\';
        if ((unsigned char)*s >= 0x20)
            out[k++] = *s;
    }
    out[k] = 0;
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Best of 5 runs after a warm-up one, in seconds. */
static double best5(void (*fn)(void *), void *ctx) {
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t0 = now();
        fn(ctx);
        double t = now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    return best;
}

typedef struct gemm_case {
    sc_trx x;
    float *in, *W, *out, *dy, *dx, *dW;
    int64_t N, In, O;
} gemm_case;

static void run_fwd(void *c) {
    gemm_case *g = c;
    sc_trx_linear_fwd(&g->x, g->out, g->in, g->W, g->N, g->In, g->O);
}
static void run_dx(void *c) {
    gemm_case *g = c;
    sc_trx_gemm_dx(&g->x, g->dx, g->dy, g->W, g->N, g->In, g->O);
}
static void run_dw(void *c) {
    gemm_case *g = c;
    sc_trx_gemm_dw(&g->x, g->dW, g->dy, g->in, g->N, g->In, g->O);
}

/* One line per GEMM shape of a switch-base-8 step at batch 8 x (128, 32). */
static int gemms(int threads) {
    static const struct {
        const char *what;
        int64_t N, In, O;
    } cases[] = {
        {"encoder q/k/v/o 1024x768x768", 1024, 768, 768}, {"encoder FF wi 1024x768x3072", 1024, 768, 3072},
        {"encoder FF wo 1024x3072x768", 1024, 3072, 768}, {"expert wi 128x768x3072", 128, 768, 3072},
        {"decoder q/o 256x768x768", 256, 768, 768},       {"lm_head 256x768x32128", 256, 768, 32128}};
    sc_pool *pool = sc_pool_create(threads);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gemm_case g = {
            .x = {.fast = true, .pool = pool}, .N = cases[i].N, .In = cases[i].In, .O = cases[i].O};
        size_t nx = (size_t)(g.N * g.In), nw = (size_t)(g.O * g.In), ny = (size_t)(g.N * g.O);
        g.in = calloc(nx, 4), g.dx = calloc(nx, 4), g.W = calloc(nw, 4), g.dW = calloc(nw, 4);
        g.out = calloc(ny, 4), g.dy = calloc(ny, 4);
        if (!g.in || !g.dx || !g.W || !g.dW || !g.out || !g.dy)
            return 1;
        for (size_t k = 0; k < nx; k++)
            g.in[k] = (float)(k % 13) * 0.01f;
        for (size_t k = 0; k < nw; k++)
            g.W[k] = (float)(k % 7) * 0.01f;
        for (size_t k = 0; k < ny; k++)
            g.dy[k] = (float)(k % 5) * 0.01f;
        double fl = 2.0 * (double)g.N * (double)g.In * (double)g.O;
        double tf = best5(run_fwd, &g), tx = best5(run_dx, &g), tw = best5(run_dw, &g);
        printf("{\"bench\": \"train_gemm\", \"shape\": \"%s\", \"threads\": %d, \"fwd_gflops\": %.1f, "
               "\"dx_gflops\": %.1f, \"dw_gflops\": %.1f}\n",
               cases[i].what, sc_pool_size(pool), fl / tf / 1e9, fl / tx / 1e9, fl / tw / 1e9);
        free(g.in), free(g.dx), free(g.W), free(g.dW), free(g.out), free(g.dy);
    }
    sc_pool_free(pool);
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: bench_train --model DIR [--name NAME] [--threads N] [--batch B] [--src S] [--tgt T]\n"
            "                   [--steps N] [--warmup N] [--reference] [--record FILE]\n"
            "       bench_train --gemms [--threads N]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *model = NULL, *name = NULL, *record = NULL;
    int threads = 0, steps = 3, warmup = 1, reference = 0, gemm_mode = 0;
    long B = 8, S = 128, T = 32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--reference")) {
            reference = 1;
            continue;
        }
        if (!strcmp(a, "--gemms")) {
            gemm_mode = 1;
            continue;
        }
        if (!v)
            return usage();
        if (!strcmp(a, "--model"))
            model = v;
        else if (!strcmp(a, "--name"))
            name = v;
        else if (!strcmp(a, "--record"))
            record = v;
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--batch"))
            B = atol(v);
        else if (!strcmp(a, "--src"))
            S = atol(v);
        else if (!strcmp(a, "--tgt"))
            T = atol(v);
        else if (!strcmp(a, "--steps"))
            steps = atoi(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atoi(v);
        else
            return usage();
        i++;
    }
    if (gemm_mode)
        return gemms(threads);
    if (!model || B < 1 || S < 1 || T < 1 || steps < 1 || warmup < 0 || B > 4096 || S > 65536 || T > 65536)
        return usage();
    if (!name) {
        name = strrchr(model, '/');
        name = name && name[1] ? name + 1 : model;
    }
    sc_trainer_params p = sc_trainer_default_params();
    p.optimizer = SC_OPTIMIZER_ADAMW;
    p.lr = 1e-5;
    p.reference_kernels = reference != 0;
    sc_trainer *t = NULL;
    sc_error err;
    sc_context *ctx = NULL;
    if (sc_context_new(&(sc_context_params){.n_threads = threads}, &ctx, &err) != SC_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    p.context = ctx;
    threads = reference ? 1 : sc_context_threads(ctx); /* the reference runs on the calling thread */
    if (sc_trainer_new(model, &p, &t, &err) != SC_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * S)),
            *labels = malloc(sizeof(int32_t) * (size_t)(B * T));
    if (!ids || !labels)
        return 1;
    uint64_t rs = 0x9e3779b97f4a7c15ULL;
    /* Ids from a range every vocabulary of a Switch checkpoint has (>= 32000 entries). */
    for (long i = 0; i < B * S; i++)
        ids[i] = 2 + (int32_t)(next(&rs) % 31000);
    for (long i = 0; i < B * T; i++)
        labels[i] = 2 + (int32_t)(next(&rs) % 31000);
    double t0 = 0, loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup)
            t0 = now();
        sc_train_step_info info;
        if (sc_trainer_step(t, ids, NULL, B, S, labels, T, &info, &err) != SC_OK) {
            fprintf(stderr, "bench_train: step %d: %s\n", s, err.msg);
            return 1;
        }
        loss = info.losses.loss;
    }
    double step_s = (now() - t0) / steps;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char cpu[256], cpu_j[512], name_j[512];
    cpu_name(cpu, sizeof cpu);
    json_str(cpu_j, sizeof cpu_j, cpu);
    json_str(name_j, sizeof name_j, name);
    char line[2048];
    snprintf(line, sizeof line,
             "{\"bench\": \"train\", \"impl\": \"switchc%s\", \"cpu\": \"%s\", \"threads\": %d, \"model\": "
             "\"%s\", "
             "\"batch\": %ld, \"src_len\": %ld, \"tgt_len\": %ld, \"tokens_per_s\": %.1f, \"step_s\": %.3f, "
             "\"peak_rss_mb\": %.0f, \"dtype\": \"f32\", \"optimizer\": \"adamw\", \"steps\": %d, "
             "\"warmup\": %d, \"loss\": %.4f, \"trainable\": %lld}",
             reference ? "-reference" : "", cpu_j, threads, name_j, B, S, T, (double)(B * (S + T)) / step_s,
             step_s, (double)ru.ru_maxrss / 1024.0, steps, warmup, loss, (long long)sc_trainer_trainable(t));
    puts(line);
    if (record) {
        FILE *f = fopen(record, "a");
        if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench_train: cannot append to %s\n", record);
            return 1;
        }
    }
    sc_trainer_free(t);
    sc_context_free(ctx);
    free(ids);
    free(labels);
    return 0;
}

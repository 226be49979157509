/* switchc init: a randomly initialised model for any config.json, with
 * Hugging Face's SwitchTransformersPreTrainedModel._init_weights scales
 * (factor = initializer_factor):
 *   shared, lm_head (untied), router classifier  N(0, factor)
 *   layer norms                                   factor (constant)
 *   attention q  N(0, factor*(d_model*d_kv)^-0.5), k, v N(0, factor*d_model^-0.5),
 *             o  N(0, factor*(num_heads*d_kv)^-0.5), relative bias N(0, factor*d_model^-0.5)
 *   dense wi/wi_0/wi_1 N(0, factor*d_model^-0.5), wo N(0, factor*d_ff^-0.5)
 *   experts wi/wi_0/wi_1 and wo N(0, factor*d_model^-0.5) (HF uses d_model for wo too)
 *   router bias 0 (HF leaves torch's default there).
 * Every row of every tensor has its own random stream derived from (seed,
 * tensor, row), so the writer can stream (and re-read rows for q8 scales)
 * and the files are identical for a seed. Not torch's numbers.
 * Output is staged and renamed into place when complete (io/staged_dir.h);
 * a directory that already holds a checkpoint is refused without --force. */
#include "cli/args.h"
#include "cli/cli_files.h"
#include "cli/commands.h"
#include "core/mapfile.h"
#include "io/config.h"
#include "model/model_write.h"
#include "model/weights_convert.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: switchc init --config config.json -o DIR [--seed N] [--dtype f32|bf16|f16|q8]\n"
               "                    [--tokenizer TOKDIR] [--force] [--json]\n\n"
               "Writes DIR/model.safetensors with random weights (HF init scales), DIR/config.json\n"
               "and DIR/generation_config.json. Same seed, same files.\n"
               "  --tokenizer TOKDIR  copy the tokenizer files of TOKDIR (spiece.model and/or\n"
               "                  tokenizer.json, tokenizer_config.json, special_tokens_map.json,\n"
               "                  added_tokens.json) so that DIR is ready to generate\n"
               "  --force         replace the checkpoint DIR already holds (config.json or weights);\n"
               "                  without it such a DIR is refused\n"
               "  --embed-std X   std of the shared embedding instead of initializer_factor\n"
               "                  (for tests of large activations)\n"
               "  --shard-size S  shard above this size (default 5G)\n"
               "Files are written to DIR/.tmp-XXXXXX and moved into DIR only when all are complete:\n"
               "a failure leaves DIR as it was.\n"
               "Exit status: 0 ok, 1 failure (DIR refused included), 2 bad usage.\n");
}

typedef struct init_ctx {
    const sc_config *c;
    uint64_t seed;
    double embed_std; /* < 0: factor */
} init_ctx;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return ((double)(splitmix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double init_std(const init_ctx *c, sc_weight_kind k) {
    const sc_config *g = c->c;
    double f = g->initializer_factor, D = (double)g->d_model;
    switch (k) {
    case SC_W_SHARED: return c->embed_std >= 0 ? c->embed_std : f;
    case SC_W_LM_HEAD:
    case SC_W_ROUTER_W: return f;
    case SC_W_SA_Q:
    case SC_W_CA_Q: return f / sqrt(D * (double)g->d_kv);
    case SC_W_SA_O:
    case SC_W_CA_O: return f / sqrt((double)g->num_heads * (double)g->d_kv);
    case SC_W_FF_WO: return f / sqrt((double)g->d_ff);
    default: return f / sqrt(D); /* k, v, rel bias, dense wi, every expert matrix */
    }
}

static sc_status init_rows(void *vctx, const sc_weight_ref *ref, size_t index, int64_t r0, int64_t n, float *dst,
                           sc_error *err) {
    (void)err;
    init_ctx *c = vctx;
    int64_t cols = ref->ndim == 2 ? ref->shape[1] : ref->shape[0];
    switch (ref->kind) {
    case SC_W_FINAL_LN:
    case SC_W_SA_LN:
    case SC_W_CA_LN:
    case SC_W_FF_LN:
        for (int64_t i = 0; i < n * cols; i++) dst[i] = (float)c->c->initializer_factor;
        return SC_OK;
    case SC_W_ROUTER_B:
        memset(dst, 0, (size_t)(n * cols) * sizeof(float));
        return SC_OK;
    default: break;
    }
    double std = init_std(c, ref->kind);
    for (int64_t r = 0; r < n; r++) {
        uint64_t s = c->seed * 0xD1B54A32D192ED03ull ^ ((uint64_t)index << 32) ^ (uint64_t)(r0 + r);
        splitmix(&s);
        float *row = dst + r * cols;
        for (int64_t i = 0; i < cols; i += 2) { /* Box-Muller, two normals per draw */
            double u1 = uniform01(&s), u2 = uniform01(&s);
            double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
            row[i] = (float)(std * rad * cos(th));
            if (i + 1 < cols) row[i + 1] = (float)(std * rad * sin(th));
        }
    }
    return SC_OK;
}

static const char *const tokenizer_files[] = {"spiece.model", "tokenizer.json", "tokenizer_config.json",
                                              "special_tokens_map.json", "added_tokens.json", NULL};

static bool tokenizer_present(const char *dir) {
    bool ok = false;
    for (int i = 0; i < 2 && !ok; i++) {
        char *p = sc_path_join(dir, tokenizer_files[i]);
        ok = sc_path_is_file(p);
        free(p);
    }
    return ok;
}

typedef struct init_opts {
    const char *config, *out, *dtype, *tokenizer;
    int64_t seed;
    double embed_std;
    size_t shard;
    bool json, force;
} init_opts;

#define AT(field) .off = offsetof(init_opts, field)
static const args_opt init_options[] = {
    {"-c", "--config", ARGS_STRING, AT(config)},
    {"-o", "--output", ARGS_STRING, AT(out)},
    {NULL, "--dtype", ARGS_STRING, AT(dtype)},
    {NULL, "--seed", ARGS_INT, AT(seed), .ilo = 0, .ihi = INT64_MAX},
    {NULL, "--embed-std", ARGS_DOUBLE, AT(embed_std), .dlo = 0, .dhi = 1e30},
    {NULL, "--shard-size", ARGS_CALL, AT(shard), .call = cli_shard_size_arg},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--tokenizer", ARGS_STRING, AT(tokenizer)},
    {NULL, "--force", ARGS_FLAG, AT(force)},
    {0},
};
#undef AT
static const args_spec init_args = {
    .cmd = "init", .usage = usage, .opts = init_options, .unknown = ARGS_SAY_ARGUMENT, .pos = ARGS_POS_NONE};

int cmd_init(int argc, char **argv) {
    init_opts opt = {.dtype = "f32", .embed_std = -1, .shard = 5000000000u};
    int rc = args_parse(&init_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    sc_dtype t;
    if (!opt.config || !opt.out || !sc_weights_dtype_parse(opt.dtype, &t)) {
        fprintf(stderr, "switchc init: needs --config FILE and -o DIR (--dtype f32|bf16|f16|q8)\n");
        return SC_EXIT_USAGE;
    }
    sc_config cfg;
    sc_error err;
    char *text = NULL;
    size_t len = 0;
    if (sc_config_load(opt.config, &cfg, &err) || sc_file_read(opt.config, 16u << 20, &text, &len, &err)) {
        fprintf(stderr, "switchc init: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    /* the tokenizer is checked before any work: a model without one cannot generate */
    if (opt.tokenizer && !tokenizer_present(opt.tokenizer)) {
        fprintf(stderr, "switchc init: --tokenizer %s: no spiece.model or tokenizer.json there\n",
                opt.tokenizer);
        free(text);
        return SC_EXIT_FAIL;
    }
    sc_staged_dir *stage = NULL;
    if (!cli_output_check("init", opt.out, NULL, opt.force) || !(stage = cli_stage("init", opt.out))) {
        free(text);
        return SC_EXIT_FAIL;
    }
    bool ok = cli_write_text("init", stage, "config.json", text, len);
    free(text);
    char gen[256];
    int gl = snprintf(gen, sizeof gen,
                      "{\n  \"decoder_start_token_id\": %lld,\n  \"eos_token_id\": %lld,\n  \"pad_token_id\": %lld,\n"
                      "  \"transformers_version\": \"4.41.2\"\n}\n",
                      (long long)cfg.decoder_start_token_id, (long long)cfg.eos_token_id, (long long)cfg.pad_token_id);
    ok = ok && cli_write_text("init", stage, "generation_config.json", gen, (size_t)gl);
    for (int i = 0; ok && opt.tokenizer && tokenizer_files[i]; i++)
        ok = cli_copy_file("init", opt.tokenizer, stage, tokenizer_files[i]) >= 0;
    init_ctx ctx = {.c = &cfg, .seed = (uint64_t)opt.seed, .embed_std = opt.embed_std};
    sc_write_opts o = {.dtype = t, .shard_bytes = opt.shard, .rows = init_rows, .ctx = &ctx, .progress = cli_progress,
                       .kern = sc_kernels_ref()};
    sc_write_summary sum;
    if (ok && sc_model_write(stage, &cfg, &o, &sum, &err)) {
        fprintf(stderr, "switchc init: %s\n", err.msg);
        ok = false;
    }
    if (!ok) {
        sc_staged_dir_abort(stage);
        return SC_EXIT_FAIL;
    }
    /* weights, index, then the side files, config.json last */
    const char *side[sizeof tokenizer_files / sizeof tokenizer_files[0] + 2];
    size_t ns = 0;
    side[ns++] = "generation_config.json";
    for (int i = 0; tokenizer_files[i]; i++) side[ns++] = tokenizer_files[i];
    side[ns++] = "config.json";
    side[ns] = NULL;
    if (sc_model_write_commit(stage, &sum, side, &err)) {
        fprintf(stderr, "switchc init: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    if (opt.json)
        printf("{\"dtype\": \"%s\", \"seed\": %lld, \"tensors\": %zu, \"shards\": %zu, \"output_bytes\": %zu}\n",
               sc_weights_dtype_label(t), (long long)opt.seed, sum.n_tensors, sum.n_shards, sum.file_bytes);
    else
        fprintf(stderr, "switchc init: %zu tensors, %zu shard(s), %.1f MB (%s, seed %lld)\n", sum.n_tensors,
                sum.n_shards, (double)sum.file_bytes / 1e6, sc_weights_dtype_label(t), (long long)opt.seed);
    return SC_EXIT_OK;
}

/* switchc init: a randomly initialised model for any config.json, through
 * sc_init_checkpoint (switchc.h: Hugging Face's initialisation scales, one
 * random stream per (seed, tensor, row), so the same seed gives the same
 * files). Output is staged and renamed into place when complete; a
 * directory that already holds a checkpoint is refused without --force.
 * This parses the options and reports. */
#include "args.h"
#include "cli_files.h"
#include "commands.h"
#include "switchc.h"

#include <stdio.h>

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
    sc_write_params p = sc_write_default_params();
    if (!opt.config || !opt.out || !sc_dtype_from_label(opt.dtype, &p.dtype)) {
        fprintf(stderr, "switchc init: needs --config FILE and -o DIR (--dtype f32|bf16|f16|q8)\n");
        return SC_EXIT_USAGE;
    }
    p.seed = (uint64_t)opt.seed;
    p.embed_std = opt.embed_std;
    p.shard_bytes = opt.shard;
    p.tokenizer_dir = opt.tokenizer;
    p.force = opt.force;
    p.progress = cli_progress;
    sc_write_result res;
    sc_error err;
    if (sc_init_checkpoint(opt.config, opt.out, &p, &res, &err)) {
        fprintf(stderr, "switchc init: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    if (opt.json)
        printf("{\"dtype\": \"%s\", \"seed\": %lld, \"tensors\": %zu, \"shards\": %zu, \"output_bytes\": %zu}\n",
               sc_dtype_label(p.dtype), (long long)opt.seed, res.tensors, res.shards, res.output_bytes);
    else
        fprintf(stderr, "switchc init: %zu tensors, %zu shard(s), %.1f MB (%s, seed %lld)\n", res.tensors,
                res.shards, (double)res.output_bytes / 1e6, sc_dtype_label(p.dtype), (long long)opt.seed);
    return SC_EXIT_OK;
}

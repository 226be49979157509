/* switchc convert: a checkpoint directory (any format the loader reads) to
 * safetensors with matrices in f32, bf16, f16 or q8 (docs/q8-format.md),
 * through sc_convert (switchc.h), which streams tensor by tensor, copies
 * config (q8: adds a "quantization" entry), generation config and tokenizer
 * files, and stages every output file, renamed into place only after all
 * were written, so OUT may be IN. This parses the options, resolves a
 * Hugging Face repo id and reports. Leaves out writing .bin checkpoints. */
#include "args.h"
#include "cli_files.h"
#include "cli_model.h"
#include "commands.h"
#include "util/clock.h"
#include "switchc.h"

#include <stdio.h>

static void usage(FILE *f) {
    fprintf(f, "usage: switchc convert -m IN -o OUT --dtype f32|bf16|f16|q8 [--shard-size 5G] [--force]\n"
               "                       [--json]\n\n"
               "Writes OUT/model.safetensors (or shards + model.safetensors.index.json when larger\n"
               "than --shard-size) with the matrices in DTYPE and norms/router/relative bias in F32;\n"
               "copies config.json, generation_config.json and the tokenizer files.\n"
               "Files are written to OUT/.tmp-XXXXXX and moved into OUT only when all are complete:\n"
               "a failure leaves OUT as it was. OUT may be IN (the checkpoint is converted in place);\n"
               "safetensors weights of another layout in OUT (model.safetensors against shards +\n"
               "index) are removed, so OUT loads what was written.\n"
               "IN may be a Hugging Face repo id ORG/NAME found in the local cache (docs/models.md);\n"
               "--revision REF picks its branch, tag or commit (default: main).\n"
               "  --force  replace a checkpoint OUT already holds (other than IN); without it, refused\n"
               "  --json   print a summary object on stdout\n"
               "Exit status: 0 ok, 1 failure (OUT refused included), 2 bad usage.\n");
}

typedef struct convert_opts {
    const char *in, *revision, *out, *dtype;
    size_t shard;
    bool json, force;
} convert_opts;

#define AT(field) .off = offsetof(convert_opts, field)
static const args_opt convert_options[] = {
    {"-m", "--model", ARGS_STRING, AT(in)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {"-o", "--output", ARGS_STRING, AT(out)},
    {NULL, "--dtype", ARGS_STRING, AT(dtype)},
    {NULL, "--shard-size", ARGS_CALL, AT(shard), .call = cli_shard_size_arg},
    {NULL, "--json", ARGS_FLAG, AT(json)},
    {NULL, "--force", ARGS_FLAG, AT(force)},
    {0},
};
#undef AT
static const args_spec convert_args = {
    .cmd = "convert", .usage = usage, .opts = convert_options, .unknown = ARGS_SAY_ARGUMENT, .pos = ARGS_POS_NONE};

int cmd_convert(int argc, char **argv) {
    convert_opts opt = {.shard = 5000000000u};
    int rc = args_parse(&convert_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    sc_write_params p = sc_write_default_params();
    if (!opt.in || !opt.out || !opt.dtype || !sc_dtype_from_label(opt.dtype, &p.dtype)) {
        fprintf(stderr, "switchc convert: needs -m IN, -o OUT and --dtype f32|bf16|f16|q8\n");
        return SC_EXIT_USAGE;
    }
    if (!cli_model_resolve("convert", &opt.in, opt.revision)) return SC_EXIT_FAIL;
    double t0 = sc_clock_seconds();
    p.shard_bytes = opt.shard;
    p.force = opt.force;
    p.progress = cli_progress;
    sc_write_result res;
    sc_error err;
    if (sc_convert(opt.in, opt.out, &p, &res, &err)) {
        fprintf(stderr, "switchc convert: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    double secs = sc_clock_seconds() - t0;
    if (opt.json)
        printf("{\"dtype\": \"%s\", \"tensors\": %zu, \"shards\": %zu, \"input_bytes\": %zu, "
               "\"output_bytes\": %zu, \"files_copied\": %d, \"seconds\": %.3f}\n",
               sc_dtype_label(p.dtype), res.tensors, res.shards, res.input_bytes, res.output_bytes,
               res.files_copied, secs);
    else
        fprintf(stderr, "switchc convert: %zu tensors, %zu shard(s), %.1f MB -> %.1f MB (%s) in %.1fs\n",
                res.tensors, res.shards, (double)res.input_bytes / 1e6, (double)res.output_bytes / 1e6,
                sc_dtype_label(p.dtype), secs);
    return SC_EXIT_OK;
}

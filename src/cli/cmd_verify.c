/* switchc verify CASE_DIR [-m MODEL_DIR]: runs a reference case in the
 * fixture format (manifest.json + raw arrays) and checks every output array
 * the manifest lists. One line per array, exactly
 *     <name> max_abs=<x> max_rel=<y> PASS|FAIL
 * or  <name> SKIP <reason>
 * (a FAIL that has no numbers reads max_abs=inf max_rel=inf FAIL (<why>): a
 * wrong shape, or the bf16 compute path failed), then a summary line.
 * Exit 0 only if nothing failed or was skipped.
 * max_rel is normwise: max|ours - ref| / max|ref|. */
#include "args.h"
#include "cli_model.h"
#include "commands.h"
#include "verify_case.h"
#include "switchc.h"
#include "util/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc verify CASE_DIR [-m MODEL_DIR] [--reference | --kernels NAME]\n"
            "                      [--bf16-kernels NAME]\n\n"
            "Runs the reference case in CASE_DIR (manifest.json + arrays/) on the model in\n"
            "MODEL_DIR (default: CASE_DIR) and compares every output array the manifest lists.\n"
            "Prints '<name> max_abs=<x> max_rel=<y> PASS|FAIL' or '<name> SKIP <reason>' per array.\n"
            "Training cases (grad.*, grad_part.*, adamw_step1.*, adafactor_step1.*/step2.* arrays) run\n"
            "the trainer: a gradient passes within 1e-4 of its tensor's largest value, a parameter\n"
            "after a recorded optimizer step within 1e-6 (docs/training.md says where more).\n"
            "  -m DIR          model directory (default: CASE_DIR), or a Hugging Face repo id\n"
            "                  ORG/NAME in the local cache (--revision REF: branch, tag, commit)\n"
            "  --reference     use the plain-C reference kernels\n"
            "  --kernels NAME  kernel table for the fp32 arrays (default: exact, the fastest\n"
            "                  fp32-compute table)\n"
            "  --bf16-kernels NAME  kernel table for the bf16_compute.* arrays (default: amx,\n"
            "                  else avx512-bf16, else ref-bf16); if it cannot load, those\n"
            "                  arrays FAIL with the reason\n"
            "  --format F      weights to load: safetensors | bin (default: safetensors when present)\n"
            "Exit status: 0 all passed, 1 something failed or was skipped, 2 bad usage.\n");
}

typedef struct verify_opts {
    const char *case_dir, *model_dir, *revision, *kernels, *bf16_kernels;
    bool reference;
    int format;
} verify_opts;

#define AT(field) .off = offsetof(verify_opts, field)
static const args_opt verify_options[] = {
    {"-m", "--model", ARGS_STRING, AT(model_dir)},
    {NULL, "--revision", ARGS_STRING, AT(revision)},
    {NULL, "--format", ARGS_FORMAT, AT(format)},
    {NULL, "--reference", ARGS_FLAG, AT(reference)},
    {NULL, "--kernels", ARGS_STRING, AT(kernels)},
    {NULL, "--bf16-kernels", ARGS_STRING, AT(bf16_kernels)},
    {0},
};
#undef AT
static const args_spec verify_args = {
    .cmd = "verify", .usage = usage, .opts = verify_options, .unknown = ARGS_SAY_OPTION_USAGE,
    .pos = ARGS_POS_ONE, .dash = ARGS_DASHED, .pos_off = offsetof(verify_opts, case_dir),
    .pos_extra = "more than one CASE_DIR",
};

int cmd_verify(int argc, char **argv) {
    verify_opts opt = {.format = -1};
    int rc = args_parse(&verify_args, argc, argv, &opt);
    if (rc != ARGS_GO) return rc;
    if (!opt.case_dir) {
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    sc_verify_counts counts = {0};
    sc_error err;
    sc_error_clear(&err);
    if (opt.reference && opt.kernels) {
        fprintf(stderr, "switchc verify: --reference and --kernels exclude each other\n");
        return SC_EXIT_USAGE;
    }
    if (opt.model_dir && !cli_model_resolve("verify", &opt.model_dir, opt.revision)) return SC_EXIT_FAIL;
    const char *kernels = opt.reference ? "ref" : opt.kernels;
    sc_status st = sc_verify_case(opt.case_dir, opt.model_dir ? opt.model_dir : opt.case_dir, kernels,
                                  opt.bf16_kernels, opt.format, stdout, &counts, &err);
    if (st) {
        fprintf(stderr, "switchc verify: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    printf("verify: %d passed, %d failed, %d skipped\n", counts.passed, counts.failed, counts.skipped);
    return counts.failed || counts.skipped ? SC_EXIT_FAIL : SC_EXIT_OK;
}

/* switchc verify CASE_DIR [-m MODEL_DIR]: runs a reference case in the
 * fixture format (manifest.json + raw arrays) and checks every output array
 * the manifest lists. One line per array, exactly
 *     <name> max_abs=<x> max_rel=<y> PASS|FAIL
 * or  <name> SKIP <reason>
 * then a summary line. Exit 0 only if nothing failed or was skipped.
 * max_rel is normwise: max|ours - ref| / max|ref|. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/verify_case.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "model/forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: switchc verify CASE_DIR [-m MODEL_DIR] [--reference | --kernels NAME]\n\n"
            "Runs the reference case in CASE_DIR (manifest.json + arrays/) on the model in\n"
            "MODEL_DIR (default: CASE_DIR) and compares every output array the manifest lists.\n"
            "Prints '<name> max_abs=<x> max_rel=<y> PASS|FAIL' or '<name> SKIP <reason>' per array.\n"
            "  -m DIR          model directory (default: CASE_DIR)\n"
            "  --reference     use the plain-C reference kernels\n"
            "  --kernels NAME  kernel table for the fp32 arrays (default: exact, the fastest\n"
            "                  fp32-compute table; bf16_compute.* arrays always run the\n"
            "                  bf16-compute kernels: amx, else avx512-bf16)\n"
            "  --format F      weights to load: safetensors | bin (default: safetensors when present)\n"
            "Exit status: 0 all passed, 1 something failed or was skipped, 2 bad usage.\n");
}

int cmd_verify(int argc, char **argv) {
    const char *case_dir = NULL, *model_dir = NULL, *kernels = NULL;
    bool reference = false;
    int format = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return SC_EXIT_OK;
        } else if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(model_dir = arg_value(argc, argv, &i, "verify"))) return SC_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--format")) {
            const char *v = arg_value(argc, argv, &i, "verify");
            if (!v || !arg_format("verify", v, &format)) return SC_EXIT_USAGE;
        } else if (!strcmp(argv[i], "--reference")) {
            reference = true;
        } else if (!strcmp(argv[i], "--kernels")) {
            if (!(kernels = arg_value(argc, argv, &i, "verify"))) return SC_EXIT_USAGE;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "switchc verify: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return SC_EXIT_USAGE;
        } else if (!case_dir) {
            case_dir = argv[i];
        } else {
            fprintf(stderr, "switchc verify: more than one CASE_DIR\n");
            return SC_EXIT_USAGE;
        }
    }
    if (!case_dir) {
        usage(stderr);
        return SC_EXIT_USAGE;
    }
    sc_verify_counts counts = {0};
    sc_error err;
    sc_error_clear(&err);
    if (reference && kernels) {
        fprintf(stderr, "switchc verify: --reference and --kernels exclude each other\n");
        return SC_EXIT_USAGE;
    }
    sc_status st = sc_verify_case(case_dir, model_dir ? model_dir : case_dir, reference ? "ref" : kernels, format,
                                  stdout, &counts, &err);
    if (st) {
        fprintf(stderr, "switchc verify: %s\n", err.msg);
        return SC_EXIT_FAIL;
    }
    printf("verify: %d passed, %d failed, %d skipped\n", counts.passed, counts.failed, counts.skipped);
    return counts.failed || counts.skipped ? SC_EXIT_FAIL : SC_EXIT_OK;
}

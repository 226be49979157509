/* Running one fixture case (manifest.json + arrays/) and comparing our
 * outputs with the recorded Hugging Face arrays. */
#ifndef SC_CLI_VERIFY_CASE_H
#define SC_CLI_VERIFY_CASE_H

#include "switchc.h"
#include <stdio.h>

typedef struct sc_verify_counts {
    int passed, failed, skipped;
} sc_verify_counts;

/* Prints one line per array to `out`; returns an error only when the case
 * itself cannot be run (bad manifest, missing model, unknown kernels).
 * `kernels` names the table for the fp32 arrays (NULL: "exact", fp32 compute,
 * which the 1e-4 tolerances assume); the bf16_compute.* arrays always run
 * the bf16-compute kernels ("amx", else "avx512-bf16"). */
sc_status sc_verify_case(const char *case_dir, const char *model_dir, const char *kernels, int format, FILE *out,
                         sc_verify_counts *counts, sc_error *err);

#endif

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
 * which the 1e-4 tolerances assume); the bf16_compute.* arrays run the
 * bf16-compute table `bf16_kernels` (NULL: "amx", else "avx512-bf16", else
 * "ref-bf16"). An array fails when its shape differs from the manifest's
 * (step logits may have more steps than recorded), and the bf16_compute.*
 * arrays fail, with the message, when the bf16 path cannot load or run; SKIP
 * is only for an array this engine does not produce. */
sc_status sc_verify_case(const char *case_dir, const char *model_dir, const char *kernels,
                         const char *bf16_kernels, int format, FILE *out, sc_verify_counts *counts, sc_error *err);

#endif

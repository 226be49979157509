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
 * itself cannot be run (bad manifest, missing model). */
sc_status sc_verify_case(const char *case_dir, const char *model_dir, bool reference, int format, FILE *out,
                         sc_verify_counts *counts, sc_error *err);

#endif

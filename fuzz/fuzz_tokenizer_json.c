/* libFuzzer target: arbitrary bytes as a tokenizer.json (HF fast-tokenizer
 * Unigram). The input is written to a private temporary directory and loaded
 * with sc_tokenizer_load; a tokenizer that loads encodes and decodes a short
 * text. */
#include "switchc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sc_fuzz_tokjson_XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
    sc_tokenizer *t = NULL;
    sc_error err;
    if (sc_tokenizer_load(path, &t, &err) == SC_OK) {
        static const char text[] = "A <extra_id_0> walks \xff into \xe4\xb8\xad a bar";
        int32_t ids[256];
        size_t n = 0;
        if (sc_tokenizer_encode(t, text, sizeof text - 1, true, ids, 256, &n, &err) == SC_OK) {
            char out[4096];
            size_t len;
            sc_tokenizer_decode(t, ids, n, 0, out, sizeof out, &len, &err);
        }
    }
    sc_tokenizer_free(t);
    return 0;
}

/* libFuzzer target: the training-data reader (sc_data_open_buffer) on
 * arbitrary bytes with the real T5 tokenizer (tests/fixtures/tokenizer, or
 * $SC_FUZZ_TOKENIZER). The first byte picks the kind (bit 0: JSON lines or
 * text documents), the batch size (bits 1-2), the maximum lengths (bits
 * 3-5) and shuffle/drop_last (bits 6-7); the rest is the file. What is
 * accepted is batched for a little over an epoch, and every batch is checked:
 * padding only after the tokens, -100 only after the labels, decoder inputs
 * the labels shifted right, inputs within the maximum source length. */
#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_FUZZ_TOKENIZER_DIR
#define SC_FUZZ_TOKENIZER_DIR "tests/fixtures/tokenizer"
#endif

static sc_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *dir = getenv("SC_FUZZ_TOKENIZER");
    sc_error err;
    if (sc_tokenizer_load(dir ? dir : SC_FUZZ_TOKENIZER_DIR, &tok, &err)) {
        fprintf(stderr, "fuzz_train_data: %s (set SC_FUZZ_TOKENIZER)\n", err.msg);
        abort();
    }
    return 0;
}

static void check_batch(const sc_data_batch *b, int64_t max_src) {
    if (b->B < 1 || b->S < 1 || b->T < 1) abort();
    if (max_src > 0 && b->S > max_src) abort();
    for (int64_t r = 0; r < b->B; r++) {
        const int32_t *m = b->attention_mask + r * b->S, *lab = b->labels + r * b->T;
        const int32_t *dec = b->decoder_input_ids + r * b->T;
        if (m[0] != 1) abort();
        for (int64_t s = 1; s < b->S; s++)
            if (m[s] > m[s - 1]) abort();
        if (lab[0] == -100) abort();
        for (int64_t t = 1; t < b->T; t++) {
            if (lab[t] != -100 && lab[t - 1] == -100) abort();
            if (dec[t] != (lab[t - 1] == -100 ? 0 : lab[t - 1])) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t c = data[0];
    sc_data_params p = sc_data_default_params();
    p.kind = (c & 1) ? SC_DATA_TEXT : SC_DATA_SEQ2SEQ;
    p.batch_size = 1 + ((c >> 1) & 3);
    static const int64_t lens[8] = {0, 4, 5, 8, 16, 33, 64, 512};
    p.max_source_len = lens[(c >> 3) & 7];
    p.max_target_len = lens[7 - ((c >> 3) & 7)];
    if (p.kind == SC_DATA_TEXT && p.max_source_len == 0) p.max_source_len = 16;
    p.shuffle = (c >> 6) & 1;
    p.drop_last = (c >> 7) & 1;
    /* a heap copy of exactly the file's bytes, so ASan sees reads past the end */
    size_t n = size - 1;
    char *copy = malloc(n ? n : 1);
    if (!copy) return 0;
    if (n) memcpy(copy, data + 1, n);
    sc_data *d = NULL;
    sc_error err;
    if (sc_data_open_buffer(copy, n, "fuzz.jsonl", tok, &p, &d, &err) == SC_OK) {
        sc_data_batch b = {0};
        int64_t batches = sc_data_batches_per_epoch(d) + 2;
        if (batches > 64) batches = 64;
        for (int64_t i = 0; i < batches; i++) {
            if (sc_data_next(d, &b, &err) != SC_OK) abort();
            check_batch(&b, p.max_source_len);
        }
        sc_data_batch_free(&b);
        sc_data_free(d);
    }
    free(copy);
    return 0;
}

/* libFuzzer target: arbitrary bytes as text for the real T5 tokenizer
 * (tests/fixtures/tokenizer, or $SC_FUZZ_TOKENIZER). Encoding must succeed
 * (invalid UTF-8 included), every id must decode, and tokenize must agree
 * with encode. */
#include "switchc.h"

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
        fprintf(stderr, "fuzz_tokenizer_encode: %s (set SC_FUZZ_TOKENIZER)\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_error err;
    size_t n = 0;
    size_t cap = size * 2 + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 0;
    if (sc_tokenizer_encode(tok, (const char *)data, size, true, ids, cap, &n, &err) != SC_OK) abort();
    size_t len = 0;
    sc_status st = sc_tokenizer_decode(tok, ids, n, 0, NULL, 0, &len, &err);
    if (st != SC_ERR_BUFFER_TOO_SMALL) abort();
    char *buf = malloc(len + 1);
    if (buf && sc_tokenizer_decode(tok, ids, n, SC_DECODE_SKIP_SPECIAL, buf, len + 1, &len, &err) != SC_OK)
        abort();
    free(buf);
    /* tokenize gives the same ids (without the eos) */
    size_t plen = 0, np = 0;
    sc_tokenizer_tokenize(tok, (const char *)data, size, NULL, 0, &plen, NULL, 0, &np, &err);
    char *pb = malloc(plen + 1);
    sc_token_piece *tp = malloc((np + 1) * sizeof *tp);
    if (pb && tp &&
        sc_tokenizer_tokenize(tok, (const char *)data, size, pb, plen + 1, &plen, tp, np + 1, &np, &err) == SC_OK) {
        for (size_t i = 0; i < np; i++)
            if (i >= n || tp[i].id != ids[i]) abort();
    }
    free(pb);
    free(tp);
    free(ids);
    return 0;
}

/* Tokenizer throughput: encodes every line of a corpus with
 * sc_tokenizer_encode (T5 layer, </s> appended), best of N passes, and
 * decodes the ids back; prints one JSON object.
 * Usage: bench_tokenizer TOKENIZER_DIR CORPUS [PASSES] */
#define _POSIX_C_SOURCE 200809L
#include "core/clock.h"
#include "switchc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_DIR CORPUS [PASSES]\n", argv[0]);
        return 2;
    }
    sc_error err;
    sc_tokenizer *t;
    if (sc_tokenizer_load(argv[1], &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    char **lines = NULL;
    size_t *lens = NULL, n = 0, cap = 0, bytes = 0, maxlen = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ln;
    while ((ln = getline(&line, &lcap, f)) > 0) {
        if (line[ln - 1] == '\n') ln--;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = realloc(lines, cap * sizeof *lines);
            lens = realloc(lens, cap * sizeof *lens);
            if (!lines || !lens) return 1;
        }
        lines[n] = malloc((size_t)ln + 1);
        memcpy(lines[n], line, (size_t)ln);
        lens[n] = (size_t)ln;
        bytes += (size_t)ln;
        if ((size_t)ln > maxlen) maxlen = (size_t)ln;
        n++;
    }
    free(line);
    fclose(f);
    int passes = argc > 3 ? atoi(argv[3]) : 3;
    size_t icap = maxlen * 2 + 8;
    int32_t *ids = malloc(icap * sizeof *ids);
    size_t dcap = maxlen * 8 + 64;
    char *dbuf = malloc(dcap);
    double best = 1e30, best_dec = 1e30;
    size_t tokens = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = sc_clock_seconds(), dec = 0;
        tokens = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k;
            if (sc_tokenizer_encode(t, lines[i], lens[i], true, ids, icap, &k, &err)) {
                fprintf(stderr, "line %zu: %s\n", i + 1, err.msg);
                return 1;
            }
            tokens += k;
        }
        double dt = sc_clock_seconds() - t0;
        if (dt < best) best = dt;
        t0 = sc_clock_seconds();
        for (size_t i = 0; i < n; i++) {
            size_t k, dl;
            sc_tokenizer_encode(t, lines[i], lens[i], true, ids, icap, &k, &err);
            double d0 = sc_clock_seconds();
            sc_tokenizer_decode(t, ids, k, 0, dbuf, dcap, &dl, &err);
            dec += sc_clock_seconds() - d0;
        }
        if (dec < best_dec) best_dec = dec;
    }
    printf("{\"impl\": \"switchc\", \"corpus\": \"%s\", \"lines\": %zu, \"bytes\": %zu, \"tokens\": %zu, "
           "\"passes\": %d, \"encode_seconds\": %.6f, \"encode_mb_per_s\": %.3f, \"encode_tokens_per_s\": %.0f, "
           "\"decode_seconds\": %.6f, \"decode_mb_per_s\": %.3f}\n",
           argv[2], n, bytes, tokens, passes, best, (double)bytes / best / 1e6, (double)tokens / best,
           best_dec, (double)bytes / best_dec / 1e6);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    free(lens);
    free(ids);
    free(dbuf);
    sc_tokenizer_free(t);
    return 0;
}

/* The timings of `switchc bench`; see bench_figures.h. */
#include "bench_figures.h"
#include "util/checked.h"
#include "util/clock.h"
#include "util/error.h"

#include <stdlib.h>

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_ids(int32_t *ids, size_t n, int64_t vocab, uint64_t *s) {
    for (size_t i = 0; i < n; i++) ids[i] = 2 + (int32_t)(rng_next(s) % (uint64_t)(vocab > 3 ? vocab - 2 : 1));
}

sc_status bench_encoder(sc_session *s, int64_t B, int64_t S, int reps, double *tok_s, double *secs,
                        sc_error *err) {
    size_t n, bytes;
    if (B < 1 || S < 1 || !sc_mul_size((size_t)B, (size_t)S, &n) || !sc_mul_size(n, sizeof(int32_t), &bytes))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "bench: encoder batch %lld x %lld is out of range",
                       (long long)B, (long long)S);
    int32_t *ids = malloc(bytes);
    if (!ids)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "bench: out of memory for %lld x %lld encoder ids",
                       (long long)B, (long long)S);
    uint64_t rs = 0x12345678u + (uint64_t)B;
    random_ids(ids, n, sc_model_vocab_size(sc_session_model(s)), &rs);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = sc_clock_seconds();
        sc_status st = sc_session_encode(s, ids, NULL, B, S, err);
        if (st) {
            free(ids);
            return st;
        }
        double t = sc_clock_seconds() - t0;
        if (t < best) best = t;
    }
    free(ids);
    *secs = best;
    *tok_s = (double)n / best;
    return SC_OK;
}

sc_status bench_decode(sc_session *s, int reps, double *ms, sc_error *err) {
    const int64_t P = 64, N = 32, V = sc_model_vocab_size(sc_session_model(s));
    int32_t ids[64];
    uint64_t rs = 99;
    random_ids(ids, (size_t)P, V, &rs);
    float *logits = malloc((size_t)V * sizeof(float));
    if (!logits)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "bench: out of memory for %lld decode logits", (long long)V);
    double best = 1e30;
    sc_status st = SC_OK;
    for (int r = 0; r < reps && !st; r++) {
        st = sc_session_encode(s, ids, NULL, 1, P, err);
        int32_t tok = sc_model_decoder_start_id(sc_session_model(s));
        double total = 0;
        for (int64_t i = 0; i < N && !st; i++) {
            double t0 = sc_clock_seconds();
            st = sc_session_decode_step(s, &tok, logits, err);
            total += sc_clock_seconds() - t0;
            int32_t top = 0;
            for (int64_t v = 1; v < V; v++)
                if (logits[v] > logits[top]) top = (int32_t)v;
            tok = top;
        }
        if (total < best) best = total;
    }
    free(logits);
    if (!st) *ms = 1e3 * best / (double)N;
    return st;
}

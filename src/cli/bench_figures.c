/* The measurements and model arithmetic of `switchc bench`; see
 * bench_figures.h. */
#include "cli/bench_figures.h"
#include "core/checked.h"
#include "core/clock.h"
#include "core/error.h"
#include "model/model.h"
#include "model/session.h"

#include <stdlib.h>

static size_t mat_bytes(const sc_tensor *t) {
    if (!t->data) return 0;
    size_t n = (size_t)t->shape[0] * (size_t)sc_tensor_cols(t);
    return n * sc_dtype_size(t->dtype) + (t->scales ? (size_t)t->shape[0] * sizeof(float) : 0);
}
static double mat_params(const sc_tensor *t) {
    return t->data ? (double)t->shape[0] * (double)sc_tensor_cols(t) : 0.0;
}

double bench_encoder_flops(const sc_model *m, double tokens, double S) {
    double per_tok = 0;
    for (int64_t i = 0; i < m->enc.n_blocks; i++) {
        const sc_block_weights *b = &m->enc.blocks[i];
        per_tok += mat_params(&b->self.q) + mat_params(&b->self.k) + mat_params(&b->self.v) + mat_params(&b->self.o);
        per_tok += 2.0 * S * (double)(m->cfg.num_heads * m->cfg.d_kv);
        if (b->sparse) {
            /* shapes only: the same whether or not the expert is converted */
            const sc_ffn_weights *e = sc_expert_store_get(m->experts, b->moe_index, 0);
            per_tok += mat_params(&e->wi) + mat_params(&e->wi1) + mat_params(&e->wo) +
                       (double)(m->cfg.num_experts * m->cfg.d_model);
        } else {
            per_tok += mat_params(&b->ff.wi) + mat_params(&b->ff.wi1) + mat_params(&b->ff.wo);
        }
    }
    return 2.0 * tokens * per_tok;
}

double bench_decode_bytes(const sc_model *m) {
    double b = (double)mat_bytes(&m->lm_head);
    for (int64_t i = 0; i < m->dec.n_blocks; i++) {
        const sc_block_weights *k = &m->dec.blocks[i];
        b += (double)(mat_bytes(&k->self.q) + mat_bytes(&k->self.k) + mat_bytes(&k->self.v) + mat_bytes(&k->self.o) +
                      mat_bytes(&k->cross.q) + mat_bytes(&k->cross.o));
        /* An expert's views are as stored until it is first used, and the
         * converted copy after; the store's own count is the converted size
         * either way (with --dtype), which is what the decode reads. */
        if (k->sparse) b += (double)sc_expert_store_expert_bytes(m->experts, k->moe_index, 0);
        else b += (double)(mat_bytes(&k->ff.wi) + mat_bytes(&k->ff.wi1) + mat_bytes(&k->ff.wo));
    }
    return b;
}

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
    random_ids(ids, n, sc_model_vocab_size(s->m), &rs);
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
    const int64_t P = 64, N = 32, V = sc_model_vocab_size(s->m);
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
        int32_t tok = sc_model_decoder_start_id(s->m);
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

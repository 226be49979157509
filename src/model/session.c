/* Sessions: the encoder, the cached incremental decoder and row selection
 * for beam search, over an immutable model. This is the reference model
 * path: every op goes through the model's kernels table, and the numerics
 * follow HF transformers 4.41 (see tests/fixtures/README.md).
 *
 * Dimension letters: B/rows batch rows, S encoder length, T new decoder
 * tokens, L cached decoder length, D d_model, I heads*d_kv, V vocab. */
#include "model/session.h"
#include "core/alloc.h"
#include "core/checked.h"
#include "core/context.h"
#include "core/error.h"
#include "core/pool.h"
#include "model/attention.h"
#include "model/moe.h"
#include "model/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sc_status sc_session_new(const sc_model *m, sc_session **out, sc_error *err) {
    if (!m || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_session_new: NULL argument");
    sc_session *s = calloc(1, sizeof *s);
    if (s) s->layers = calloc((size_t)(m->cfg.num_decoder_layers ? m->cfg.num_decoder_layers : 1), sizeof *s->layers);
    if (!s || !s->layers) {
        free(s);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "session: out of memory");
    }
    s->m = m;
    s->policy = m->params.drop_policy;
    int64_t n_sparse = 0;
    const sc_stack_weights *stacks[2] = {&m->enc, &m->dec};
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < stacks[k]->n_blocks; i++) n_sparse += stacks[k]->blocks[i].sparse;
    sc_status st = sc_expert_stats_init(&s->stats, n_sparse, m->cfg.num_experts, err);
    if (st) {
        free(s->layers);
        free(s);
        return st;
    }
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < stacks[k]->n_blocks; i++) {
            const sc_block_weights *b = &stacks[k]->blocks[i];
            if (!b->sparse || b->moe_index >= n_sparse) continue;
            s->stats.layers[b->moe_index].decoder = k == 1;
            s->stats.layers[b->moe_index].block = i;
        }
    *out = s;
    return SC_OK;
}

/* Forgets the decoder: its self-attention cache is freed, the encoder-side
 * buffers (enc_out, enc_mask, cross K/V) are kept for the next encode. */
static void reset_decoder(sc_session *s) {
    for (int64_t l = 0; l < s->m->cfg.num_decoder_layers; l++) {
        sc_layer_cache *c = &s->layers[l];
        sc_free_aligned(c->k);
        sc_free_aligned(c->v);
        c->k = c->v = NULL;
    }
    s->rows = s->S = s->cap = s->len = 0;
    s->cross_ready = false;
}

static void free_cross(sc_session *s) {
    for (int64_t l = 0; l < s->m->cfg.num_decoder_layers; l++) {
        sc_layer_cache *c = &s->layers[l];
        sc_free_aligned(c->ck);
        sc_free_aligned(c->cv);
        c->ck = c->cv = NULL;
    }
    s->cross_cap = 0;
    s->cross_ready = false;
}

static void free_state(sc_session *s) {
    reset_decoder(s);
    sc_free_aligned(s->enc_out);
    free(s->enc_mask);
    s->enc_out = NULL;
    s->enc_mask = NULL;
    free_cross(s);
    s->enc_cap = 0;
}

void sc_session_free(sc_session *s) {
    if (!s) return;
    free_state(s);
    free(s->layers);
    sc_ws_free(&s->ws);
    sc_expert_stats_free(&s->stats);
    free(s);
}

void sc_session_hold(sc_session *s) {
    if (s->hold++ == 0) s->pool = sc_context_acquire(s->m->ctx);
}

void sc_session_release(sc_session *s) {
    if (--s->hold > 0) return;
    s->pool = NULL;
    sc_context_release(s->m->ctx);
}

void sc_session_set_trace(sc_session *s, sc_trace_fn fn, void *ctx) {
    s->trace = fn;
    s->trace_ctx = ctx;
}

void sc_session_set_drop_policy(sc_session *s, sc_drop_policy p) { s->policy = p; }

const float *sc_session_encoder_output(const sc_session *s, int64_t *B, int64_t *S) {
    if (B) *B = s->rows;
    if (S) *S = s->S;
    return s->enc_out;
}

int64_t sc_session_expert_stats_count(const sc_session *s) { return s ? s->stats.n_layers : 0; }

sc_status sc_session_expert_stats(const sc_session *s, int64_t i, sc_expert_layer_stats *out, sc_error *err) {
    if (!s || !out || i < 0 || i >= s->stats.n_layers)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_session_expert_stats: no sparse layer %lld",
                       (long long)i);
    *out = s->stats.layers[i];
    return SC_OK;
}

void sc_session_expert_stats_reset(sc_session *s) {
    if (s) sc_expert_stats_reset(&s->stats);
}

int64_t sc_session_decoded_len(const sc_session *s) { return s->len; }
int64_t sc_session_rows(const sc_session *s) { return s->rows; }
const sc_model *sc_session_model(const sc_session *s) { return s->m; }

/* ----------------------------------------------------------------- tracing */

static void trace3(sc_session *s, const char *name, sc_dtype t, const void *data, int64_t a,
                   int64_t b, int64_t c) {
    if (!s->trace) return;
    int64_t shape[3] = {a, b, c};
    s->trace(s->trace_ctx, name, t, data, c ? 3 : 2, shape);
}

static void trace_hidden(sc_session *s, bool dec, int64_t k, const float *h, int64_t rows, int64_t T) {
    if (!s->trace) return;
    char name[64];
    snprintf(name, sizeof name, "%s_hidden_states.%lld", dec ? "decoder" : "encoder", (long long)k);
    trace3(s, name, SC_DTYPE_F32, h, rows, T, s->m->cfg.d_model);
}

/* ------------------------------------------------------------ sub-layers */

static float *ws_f32(sc_session *s, int slot, int64_t a, int64_t b) {
    size_t n;
    if (!sc_mul_size((size_t)a, (size_t)b, &n)) return NULL;
    return sc_ws_array(&s->ws, slot, n, sizeof(float));
}

/* Fills the bucket table for relative positions key - query in
 * [-(span-1) .. (bidirectional ? span-1 : 0)], indexed by rel + span - 1. */
static int32_t *bucket_table(sc_session *s, int64_t span, bool bidirectional) {
    int32_t *b = sc_ws_array(&s->ws, SC_WS_BUCKETS, (size_t)(2 * span), sizeof(int32_t));
    if (!b) return NULL;
    const sc_config *c = &s->m->cfg;
    int64_t hi = bidirectional ? span - 1 : 0;
    for (int64_t rel = -(span - 1); rel <= hi; rel++)
        b[rel + span - 1] = sc_relative_bucket(rel, bidirectional, c->relative_attention_num_buckets,
                                               c->relative_attention_max_distance);
    return b;
}

/* h[rows*T, D] += FF(norm(h)), dense or sparse; traces the router. */
static sc_status ff_sublayer(sc_session *s, bool dec, int64_t bi, const sc_block_weights *b,
                             float *h, int64_t rows, int64_t T, sc_error *err) {
    const sc_model *m = s->m;
    const int64_t N = rows * T, D = m->cfg.d_model, F = m->cfg.d_ff, E = m->cfg.num_experts;
    float *x = ws_f32(s, SC_WS_X, N, D), *out = ws_f32(s, SC_WS_OUT, N, D);
    if (!x || !out) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_rmsnorm(x, h, b->ln_ff, N, D, (float)m->cfg.layer_norm_epsilon, s->pool);
    if (b->sparse) {
        sc_route_info info = {0};
        void *buf = NULL;
        if (s->trace) {
            buf = malloc((size_t)N * (size_t)(E + 3) * 4);
            if (!buf) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
            info.logits = buf;
            info.expert = (int32_t *)(info.logits + N * E);
            info.kept = info.expert + N;
            info.prob_max = (float *)(info.kept + N);
        }
        sc_status st = sc_moe_forward(m, b, x, rows, T, s->policy, out, &s->ws, s->pool, s->trace ? &info : NULL,
                                       &s->stats, err);
        if (st) {
            free(buf);
            return st;
        }
        if (s->trace) {
            char name[96];
            const char *stack = dec ? "decoder" : "encoder";
            snprintf(name, sizeof name, "%s.block.%lld.router_logits", stack, (long long)bi);
            trace3(s, name, SC_DTYPE_F32, info.logits, rows, T, E);
            snprintf(name, sizeof name, "%s.block.%lld.expert_index", stack, (long long)bi);
            trace3(s, name, SC_DTYPE_I32, info.expert, rows, T, 0);
            snprintf(name, sizeof name, "%s.block.%lld.kept", stack, (long long)bi);
            trace3(s, name, SC_DTYPE_I32, info.kept, rows, T, 0);
            snprintf(name, sizeof name, "%s.block.%lld.router_prob_max", stack, (long long)bi);
            trace3(s, name, SC_DTYPE_F32, info.prob_max, rows, T, 0);
            free(buf);
        }
    } else {
        float *hh = ws_f32(s, SC_WS_FF, N, F);
        float *h1 = m->cfg.gated ? ws_f32(s, SC_WS_FF1, N, F) : NULL;
        if (!hh || (m->cfg.gated && !h1)) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        sc_ffn_forward(m, &b->ff, x, N, out, hh, h1, s->pool);
    }
    sc_add_inplace(h, out, N * D, s->pool);
    return SC_OK;
}

/* h += o(attention(norm(h))): encoder self-attention (bidirectional, padding
 * mask), decoder self-attention (causal, through the cache) or decoder
 * cross-attention (cross == true). */
static sc_status attn_sublayer(sc_session *s, const sc_stack_weights *st, int64_t bi, float *h,
                               int64_t rows, int64_t T, bool cross, const int32_t *buckets,
                               int64_t bucket_off, sc_error *err) {
    const sc_model *m = s->m;
    const sc_block_weights *b = &st->blocks[bi];
    const sc_attn_weights *w = cross ? &b->cross : &b->self;
    const int64_t N = rows * T, D = m->cfg.d_model, H = m->cfg.num_heads, Dh = m->cfg.d_kv, I = H * Dh;
    const bool dec = st->decoder;
    const int64_t Tk = cross ? s->S : (dec ? s->len + T : T);
    float *x = ws_f32(s, SC_WS_X, N, D), *q = ws_f32(s, SC_WS_Q, N, I), *ctx = ws_f32(s, SC_WS_CTX, N, I);
    const int64_t rows_scratch = sc_attention_scratch_rows(s->pool);
    float *out = ws_f32(s, SC_WS_OUT, N, D), *row = ws_f32(s, SC_WS_ROW, sc_attention_task_floats(T, Tk, Dh), rows_scratch);
    float *k = NULL, *v = NULL;
    if (!cross) {
        k = ws_f32(s, SC_WS_K, N, I);
        v = ws_f32(s, SC_WS_V, N, I);
    }
    if (!x || !q || !ctx || !out || !row || (!cross && (!k || !v)))
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_rmsnorm(x, h, cross ? b->ln_cross : b->ln_self, N, D, (float)m->cfg.layer_norm_epsilon, s->pool);
    float *qkv[3] = {q, k, v};
    const sc_tensor *wqkv[3] = {&w->q, &w->k, &w->v};
    sc_matmul_n(m->kern, qkv, x, wqkv, cross ? 1 : 3, N, s->pool);
    sc_layer_cache *lc = dec ? &s->layers[bi] : NULL;
    if (dec && !cross) { /* append the new keys/values to the cache */
        for (int64_t r = 0; r < rows; r++) {
            memcpy(lc->k + (r * s->cap + s->len) * I, k + r * T * I, (size_t)(T * I) * sizeof(float));
            memcpy(lc->v + (r * s->cap + s->len) * I, v + r * T * I, (size_t)(T * I) * sizeof(float));
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        sc_attn_args a = {
            .q = q + r * T * I, .ctx = ctx + r * T * I, .Tq = T, .Tk = Tk, .H = H, .Dh = Dh,
            .scratch = row, .scratch_rows = rows_scratch, .pool = s->pool,
        };
        if (cross) {
            a.k = lc->ck + r * s->S * I;
            a.v = lc->cv + r * s->S * I;
            a.key_mask = s->enc_mask + r * s->S;
        } else if (dec) {
            a.k = lc->k + r * s->cap * I;
            a.v = lc->v + r * s->cap * I;
            a.causal = true;
            a.q_pos0 = s->len;
        } else {
            a.k = k + r * T * I;
            a.v = v + r * T * I;
            a.key_mask = s->enc_mask + r * s->S;
        }
        if (!cross) {
            a.bias_table = st->rel_bias;
            a.bucket_of = buckets;
            a.bucket_off = bucket_off;
        }
        sc_attention(&a);
    }
    m->kern->matmul(out, ctx, &w->o, N, s->pool);
    sc_add_inplace(h, out, N * D, s->pool);
    return SC_OK;
}

/* ------------------------------------------------------------------ encode */

static sc_status check_ids(const sc_model *m, const int32_t *ids, int64_t n, const char *what,
                           sc_error *err) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "%s: token id %d at position %lld is outside the vocabulary [0, %lld)", what,
                           ids[i], (long long)i, (long long)m->cfg.vocab_size);
    return SC_OK;
}

static sc_status encode_held(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                             sc_error *err) {
    if (!s || !ids || B <= 0 || S <= 0)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "encode: empty or NULL input");
    const sc_model *m = s->m;
    const sc_config *c = &m->cfg;
    const int64_t D = c->d_model, I = c->num_heads * c->d_kv;
    size_t n_tok, n_hid, n_kv;
    if (!sc_mul_size((size_t)B, (size_t)S, &n_tok) || !sc_mul_size(n_tok, (size_t)D, &n_hid) ||
        !sc_mul_size(n_tok, (size_t)I, &n_kv) || n_hid > ((size_t)1 << 40) || n_kv > ((size_t)1 << 40))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "encode: batch %lld x %lld is too large",
                       (long long)B, (long long)S);
    sc_status st = check_ids(m, ids, B * S, "encode", err);
    if (st) return st;

    /* The encoder-side buffers (and the cross K/V, see ensure_cross) are
     * reused while they are large enough: a fresh 80 MB of cross K/V per
     * request (base models, 8 x 128 tokens) would be page-faulted in again
     * on every request. */
    if ((int64_t)n_tok <= s->enc_cap) {
        reset_decoder(s);
    } else {
        free_state(s);
        s->enc_out = sc_alloc_aligned(n_hid * sizeof(float));
        s->enc_mask = malloc(n_tok * sizeof(int32_t));
        bool ok = s->enc_out && s->enc_mask;
        if (!ok) {
            free_state(s);
            return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "encode: out of memory");
        }
        s->enc_cap = (int64_t)n_tok;
    }
    s->rows = B;
    s->S = S;
    for (size_t i = 0; i < n_tok; i++) s->enc_mask[i] = mask ? (mask[i] != 0) : 1;

    float *h = s->enc_out;
    sc_embed_rows(h, &m->shared, ids, B * S);
    trace_hidden(s, false, 0, h, B, S);
    int32_t *buckets = bucket_table(s, S, true);
    if (!buckets) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    const sc_stack_weights *enc = &m->enc;
    for (int64_t bi = 0; bi < enc->n_blocks; bi++) {
        if ((st = attn_sublayer(s, enc, bi, h, B, S, false, buckets, S - 1, err))) return st;
        if ((st = ff_sublayer(s, false, bi, &enc->blocks[bi], h, B, S, err))) return st;
        if (bi + 1 < enc->n_blocks) trace_hidden(s, false, bi + 1, h, B, S);
    }
    sc_rmsnorm(h, h, enc->final_ln, B * S, D, (float)c->layer_norm_epsilon, s->pool);
    trace_hidden(s, false, enc->n_blocks, h, B, S);
    trace3(s, "encoder_last_hidden_state", SC_DTYPE_F32, h, B, S, D);
    return SC_OK;
}

sc_status sc_session_encode(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                            int64_t S, sc_error *err) {
    if (!s || !ids || B <= 0 || S <= 0)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "encode: empty or NULL input");
    sc_session_hold(s);
    sc_status st = encode_held(s, ids, mask, B, S, err);
    sc_session_release(s);
    return st;
}

/* Cross-attention K/V of the encoded rows, computed once per input, by the
 * first decode or row selection that needs them. (HF computes them in the
 * first decoder step as well; the encoder alone, e.g. `switchc encode`,
 * never needs them.) */
static sc_status ensure_cross(sc_session *s, sc_error *err) {
    if (s->cross_ready) return SC_OK;
    const sc_model *m = s->m;
    const int64_t n_tok = s->rows * s->S, I = m->cfg.num_heads * m->cfg.d_kv;
    if (n_tok > s->cross_cap) {
        free_cross(s);
        const size_t bytes = (size_t)n_tok * (size_t)I * sizeof(float); /* bounded by encode's check */
        for (int64_t l = 0; l < m->dec.n_blocks; l++) {
            s->layers[l].ck = sc_alloc_aligned(bytes);
            s->layers[l].cv = sc_alloc_aligned(bytes);
            if (!s->layers[l].ck || !s->layers[l].cv) {
                free_cross(s);
                return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "cross-attention keys/values: out of memory");
            }
        }
        s->cross_cap = n_tok;
    }
    for (int64_t l = 0; l < m->dec.n_blocks; l++) {
        float *kv[2] = {s->layers[l].ck, s->layers[l].cv};
        const sc_tensor *w[2] = {&m->dec.blocks[l].cross.k, &m->dec.blocks[l].cross.v};
        sc_matmul_n(m->kern, kv, s->enc_out, w, 2, n_tok, s->pool);
    }
    s->cross_ready = true;
    return SC_OK;
}

/* ------------------------------------------------------------------ decode */

/* Makes room for `need` cached positions per row (geometric growth, so the
 * per-token path allocates only O(log n) times). */
static sc_status reserve_cache(sc_session *s, int64_t need, sc_error *err) {
    if (need <= s->cap) return SC_OK;
    const int64_t I = s->m->cfg.num_heads * s->m->cfg.d_kv;
    int64_t cap = s->cap ? s->cap : 16;
    while (cap < need) cap *= 2;
    size_t n;
    if (!sc_mul3_size((size_t)s->rows, (size_t)cap, (size_t)I, &n) || !sc_mul_size(n, sizeof(float), &n))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "decoder cache of %lld positions is too large",
                       (long long)cap);
    for (int64_t l = 0; l < s->m->cfg.num_decoder_layers; l++) {
        sc_layer_cache *c = &s->layers[l];
        float *k = sc_alloc_aligned(n), *v = sc_alloc_aligned(n);
        if (!k || !v) {
            sc_free_aligned(k);
            sc_free_aligned(v);
            return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "decoder cache: out of memory");
        }
        for (int64_t r = 0; r < s->rows && s->len > 0; r++) {
            memcpy(k + r * cap * I, c->k + r * s->cap * I, (size_t)(s->len * I) * sizeof(float));
            memcpy(v + r * cap * I, c->v + r * s->cap * I, (size_t)(s->len * I) * sizeof(float));
        }
        sc_free_aligned(c->k);
        sc_free_aligned(c->v);
        c->k = k;
        c->v = v;
    }
    s->cap = cap;
    return SC_OK;
}

static sc_status decode_held(sc_session *s, const int32_t *tokens, int64_t T, float *logits, float *hidden,
                             sc_error *err) {
    if (!s->enc_out)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "decode: no encoder output (call encode first)");
    const sc_model *m = s->m;
    const sc_config *c = &m->cfg;
    const int64_t rows = s->rows, N = rows * T, D = c->d_model;
    sc_status st = check_ids(m, tokens, N, "decode", err);
    if (st) return st;
    if ((st = ensure_cross(s, err))) return st;
    if ((st = reserve_cache(s, s->len + T, err))) return st;
    float *h = ws_f32(s, SC_WS_HIDDEN, N, D);
    if (!h) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_embed_rows(h, &m->shared, tokens, N);
    trace_hidden(s, true, 0, h, rows, T);
    const int64_t span = s->len + T;
    int32_t *buckets = bucket_table(s, span, false);
    if (!buckets) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    const sc_stack_weights *dec = &m->dec;
    for (int64_t bi = 0; bi < dec->n_blocks; bi++) {
        if ((st = attn_sublayer(s, dec, bi, h, rows, T, false, buckets, span - 1, err))) return st;
        if ((st = attn_sublayer(s, dec, bi, h, rows, T, true, NULL, 0, err))) return st;
        if ((st = ff_sublayer(s, true, bi, &dec->blocks[bi], h, rows, T, err))) return st;
        if (bi + 1 < dec->n_blocks) trace_hidden(s, true, bi + 1, h, rows, T);
    }
    sc_rmsnorm(h, h, dec->final_ln, N, D, (float)c->layer_norm_epsilon, s->pool);
    trace_hidden(s, true, dec->n_blocks, h, rows, T);
    s->len += T;
    if (hidden) memcpy(hidden, h, (size_t)(N * D) * sizeof(float));
    if (logits) {
        if (m->lm_scale != 1.0f)
            for (int64_t i = 0; i < N * D; i++) h[i] *= m->lm_scale;
        m->kern->matmul(logits, h, &m->lm_head, N, s->pool);
    }
    return SC_OK;
}

sc_status sc_session_decode(sc_session *s, const int32_t *tokens, int64_t T, float *logits,
                            float *hidden, sc_error *err) {
    if (!s || !tokens || T <= 0)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "decode: empty or NULL input");
    sc_session_hold(s);
    sc_status st = decode_held(s, tokens, T, logits, hidden, err);
    sc_session_release(s);
    return st;
}

sc_status sc_session_decode_step(sc_session *s, const int32_t *tokens, float *logits, sc_error *err) {
    return sc_session_decode(s, tokens, 1, logits, NULL, err);
}

/* ------------------------------------------------------------ select rows */

static void *gather_rows(const void *src, size_t row_bytes, const int32_t *idx, int64_t n, bool aligned) {
    size_t total;
    if (!sc_mul_size(row_bytes, (size_t)n, &total)) return NULL;
    unsigned char *dst = aligned ? sc_alloc_aligned(total) : malloc(total ? total : 1);
    if (!dst) return NULL;
    for (int64_t r = 0; r < n; r++)
        memcpy(dst + (size_t)r * row_bytes, (const unsigned char *)src + (size_t)idx[r] * row_bytes, row_bytes);
    return dst;
}

/* Beam reordering (same row count): permute every per-row array in place
 * through one reused scratch buffer, so a beam step allocates nothing. */
static bool permute(sc_session *s, void *base, size_t row_bytes, const int32_t *src) {
    const size_t rows = (size_t)s->rows;
    unsigned char *a = base, *tmp = sc_ws_array(&s->ws, SC_WS_SELECT, rows, row_bytes);
    if (!tmp) return false;
    memcpy(tmp, a, rows * row_bytes);
    for (size_t r = 0; r < rows; r++)
        if ((size_t)src[r] != r) memcpy(a + r * row_bytes, tmp + (size_t)src[r] * row_bytes, row_bytes);
    return true;
}

static sc_status reorder_rows(sc_session *s, const int32_t *src, sc_error *err) {
    bool identity = true;
    for (int64_t r = 0; r < s->rows; r++) identity &= src[r] == r;
    if (identity) return SC_OK;
    const sc_config *c = &s->m->cfg;
    const size_t S = (size_t)s->S, D = (size_t)c->d_model, I = (size_t)(c->num_heads * c->d_kv);
    /* Reserve the largest scratch first: after that no step can fail half-way. */
    size_t big = S * D > S * I ? S * D : S * I;
    if ((size_t)s->cap * I > big) big = (size_t)s->cap * I;
    if (!sc_ws_array(&s->ws, SC_WS_SELECT, (size_t)s->rows, big * sizeof(float)))
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "select_rows: out of memory");
    permute(s, s->enc_out, S * D * sizeof(float), src);
    permute(s, s->enc_mask, S * sizeof(int32_t), src);
    for (int64_t l = 0; l < c->num_decoder_layers; l++) {
        sc_layer_cache *lc = &s->layers[l];
        permute(s, lc->ck, S * I * sizeof(float), src);
        permute(s, lc->cv, S * I * sizeof(float), src);
        if (s->cap) {
            permute(s, lc->k, (size_t)s->cap * I * sizeof(float), src);
            permute(s, lc->v, (size_t)s->cap * I * sizeof(float), src);
        }
    }
    return SC_OK;
}

static sc_status select_rows_held(sc_session *s, const int32_t *src, int64_t n, sc_error *err) {
    if (!s->enc_out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "select_rows: nothing encoded yet");
    for (int64_t r = 0; r < n; r++)
        if (src[r] < 0 || src[r] >= s->rows)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "select_rows: source row %d out of range [0, %lld)",
                           src[r], (long long)s->rows);
    const sc_config *c = &s->m->cfg;
    const int64_t D = c->d_model, I = c->num_heads * c->d_kv, L = c->num_decoder_layers;
    const size_t S = (size_t)s->S;
    /* rows are selected once their cross K/V exist: a beam search expands
     * B rows to B x beams before its first step, and the projections of the
     * B rows are cheaper to copy than to recompute */
    sc_status st = ensure_cross(s, err);
    if (st) return st;
    if (n == s->rows) return reorder_rows(s, src, err);
    /* Build every new buffer first so a failure leaves the session as it was. */
    size_t nbuf = 2 + 4 * (size_t)L;
    void **nb = calloc(nbuf, sizeof *nb);
    if (!nb) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "select_rows: out of memory");
    bool ok = true;
    nb[0] = gather_rows(s->enc_out, S * (size_t)D * sizeof(float), src, n, true);
    nb[1] = gather_rows(s->enc_mask, S * sizeof(int32_t), src, n, false);
    ok = nb[0] && nb[1];
    for (int64_t l = 0; ok && l < L; l++) {
        sc_layer_cache *lc = &s->layers[l];
        nb[2 + 4 * l] = gather_rows(lc->ck, S * (size_t)I * sizeof(float), src, n, true);
        nb[3 + 4 * l] = gather_rows(lc->cv, S * (size_t)I * sizeof(float), src, n, true);
        if (s->cap) {
            nb[4 + 4 * l] = gather_rows(lc->k, (size_t)(s->cap * I) * sizeof(float), src, n, true);
            nb[5 + 4 * l] = gather_rows(lc->v, (size_t)(s->cap * I) * sizeof(float), src, n, true);
            ok = nb[4 + 4 * l] && nb[5 + 4 * l];
        }
        ok = ok && nb[2 + 4 * l] && nb[3 + 4 * l];
    }
    if (!ok) {
        sc_free_aligned(nb[0]);
        free(nb[1]);
        for (size_t i = 2; i < nbuf; i++) sc_free_aligned(nb[i]);
        free(nb);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "select_rows: out of memory");
    }
    sc_free_aligned(s->enc_out);
    free(s->enc_mask);
    s->enc_out = nb[0];
    s->enc_mask = nb[1];
    for (int64_t l = 0; l < L; l++) {
        sc_layer_cache *lc = &s->layers[l];
        sc_free_aligned(lc->ck);
        sc_free_aligned(lc->cv);
        lc->ck = nb[2 + 4 * l];
        lc->cv = nb[3 + 4 * l];
        if (s->cap) {
            sc_free_aligned(lc->k);
            sc_free_aligned(lc->v);
            lc->k = nb[4 + 4 * l];
            lc->v = nb[5 + 4 * l];
        }
    }
    free(nb);
    s->rows = n;
    s->enc_cap = s->cross_cap = n * s->S;
    return SC_OK;
}

sc_status sc_session_select_rows(sc_session *s, const int32_t *src, int64_t n, sc_error *err) {
    if (!s || !src || n <= 0) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "select_rows: empty or NULL input");
    sc_session_hold(s);
    sc_status st = select_rows_held(s, src, n, err);
    sc_session_release(s);
    return st;
}

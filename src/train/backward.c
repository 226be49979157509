/* The training forward and backward of the whole model (see backward.h):
 * the stacks, the LM head, the losses, and the walk back through them. The
 * per-op work is in train_ops.c and train_moe.c.
 *
 * Dimension letters: B batch, S source length, T target length, L the
 * length of the stack at hand (S or T), N = B*L rows, D d_model, I inner
 * (heads * d_kv), F d_ff, H heads, K d_kv, E experts, V vocabulary. */
#include "train/backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "train/train_fast.h"

/* One attention sub-layer: x_in -> x_in + drop(o(attn(LN(x_in)))). */
typedef struct attn_rec {
    const float *x_in; /* [N,D] residual input (not owned) */
    float *ln, *rstd;  /* [N,D], [N] */
    float *q;          /* [N,I] */
    float *k, *v;      /* [B*Lk,I] */
    float *p, *pd;     /* [B,H,L,Lk] softmax, attention-dropout scales (or NULL) */
    float *ctx;        /* [N,I] */
    float *rmask;      /* [N,D] sub-layer output dropout (or NULL) */
} attn_rec;

/* One feed-forward sub-layer: x_in -> x_in + drop(FF(LN(x_in))). */
typedef struct ff_rec {
    const float *x_in;
    float *ln, *rstd;
    float *pre, *h, *hmask; /* dense: [N,F] pre-activation, hidden, dropout scales (or NULL) */
    sc_tr_moe_save moe;     /* sparse */
    bool sparse;
    float *rmask;
} ff_rec;

typedef struct block_rec {
    attn_rec sa, ca; /* ca: decoder only */
    ff_rec ff;
} block_rec;

typedef struct stack_rec {
    int64_t L;         /* sequence length */
    int32_t *ids;      /* [B,L] */
    float *emb_mask;   /* [N,D] embedding dropout (or NULL) */
    float **h;         /* [n_blocks+1] residual stream: h[0] embeddings, h[i+1] block i output */
    block_rec *blocks; /* [n_blocks] */
    float *pos_bias;   /* [H,L,L] */
    float *fin_ln, *fin_rstd, *fin_mask; /* final RMSNorm output [N,D], [N], dropout (or NULL) */
    float *out;                          /* [N,D] stack output (after dropout) */
    int64_t n_sparse;                    /* sparse blocks */
    bool losses_on;                      /* HF: router losses only when sparse_step > 1 */
    double *frac;                        /* [B,E] aux expert fraction (constant), when losses_on */
} stack_rec;

typedef struct alloc_list {
    void **p;
    size_t n, cap;
    bool failed;
} alloc_list;

struct sc_train_tape {
    const sc_train_params *tp;
    sc_train_opts opts;
    int64_t B, S, T;
    int32_t *enc_mask; /* [B,S] */
    int32_t *labels;   /* [B,T] or NULL */
    stack_rec st[2];
    float *lm_in;  /* [B*T,D] input of the LM head (scaled when tied) */
    float *logits; /* [B*T,V] */
    size_t draws;  /* uniforms drawn for dropout masks and jitter */
    alloc_list mem;
};

/* Every buffer of the tape goes through here (zeroed), so one list frees them. */
static void *tape_alloc(sc_train_tape *t, size_t n, size_t size) {
    alloc_list *m = &t->mem;
    size_t bytes;
    if (m->failed || !sc_mul_size(n ? n : 1, size, &bytes)) {
        m->failed = true;
        return NULL;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 256;
        void **np = realloc(m->p, nc * sizeof *np);
        if (!np) {
            m->failed = true;
            return NULL;
        }
        m->p = np;
        m->cap = nc;
    }
    void *p = calloc(1, bytes);
    if (!p) {
        m->failed = true;
        return NULL;
    }
    m->p[m->n++] = p;
    return p;
}

static float *falloc(sc_train_tape *t, size_t n) { return tape_alloc(t, n, sizeof(float)); }

void sc_train_tape_free(sc_train_tape *t) {
    if (!t) return;
    for (int s = 0; s < 2; s++)
        if (t->st[s].blocks)
            for (int64_t i = 0; i < t->tp->n_blocks[s]; i++) sc_tr_moe_save_free(&t->st[s].blocks[i].ff.moe);
    for (size_t i = 0; i < t->mem.n; i++) free(t->mem.p[i]);
    free(t->mem.p);
    free(t);
}

sc_train_opts sc_train_default_opts(void) {
    return (sc_train_opts){.dropout_rate = 0.0, .router_jitter = 0.0, .seed = 0, .drop_policy = SC_DROP_HF4,
                           .fast = false, .pool = NULL};
}

sc_train_loss_weights sc_train_default_weights(const sc_config *c) {
    return (sc_train_loss_weights){1.0, c->router_z_loss_coef, c->router_aux_loss_coef};
}

const float *sc_train_tape_logits(const sc_train_tape *t, int64_t *B, int64_t *T, int64_t *V) {
    if (B) *B = t->B;
    if (T) *T = t->T;
    if (V) *V = t->tp->cfg.vocab_size;
    return t->logits;
}

const float *sc_train_tape_hidden(const sc_train_tape *t, int decoder, int64_t i) {
    const stack_rec *s = &t->st[decoder ? 1 : 0];
    int64_t n = t->tp->n_blocks[decoder ? 1 : 0];
    if (i < 0 || i > n) return NULL;
    return i == n ? s->out : s->h[i];
}

size_t sc_train_tape_random_draws(const sc_train_tape *t) { return t->draws; }

const sc_tr_moe_save *sc_train_tape_router(const sc_train_tape *t, int decoder, int64_t block) {
    int s = decoder ? 1 : 0;
    if (block < 0 || block >= t->tp->n_blocks[s] || !t->st[s].blocks[block].ff.sparse) return NULL;
    return &t->st[s].blocks[block].ff.moe;
}

/* ------------------------------------------------------------------ forward */

typedef struct fwd_ctx {
    sc_train_tape *t;
    const sc_train_params *tp;
    const sc_config *c;
    sc_rng rng;
    double p_drop;
    sc_trx x; /* fast path or reference (opts.fast) */
    float *branch; /* [Nmax,D] a sub-layer's output before its residual add (not kept: the backward
                      needs only the sub-layer's input and its saved internals) */
} fwd_ctx;

static const float *W(const sc_train_params *tp, int idx) { return tp->p[idx].w; }

/* A dropout mask of n entries, or NULL when dropout is off. */
static float *drop_mask(fwd_ctx *f, size_t n) {
    if (f->p_drop <= 0.0) return NULL;
    float *m = falloc(f->t, n);
    if (m) sc_tr_dropout_mask(m, n, f->p_drop, &f->rng);
    f->t->draws += n;
    return m;
}

/* out = x_in + drop(attention sub-layer(LN(x_in))); kv = NULL for self-attention. */
static void attn_fwd(fwd_ctx *f, attn_rec *a, float *out, const float *x_in, int64_t L, const float *kv,
                     int64_t Lk, const float *bias, const int32_t *kmask, bool causal, int iq, int ik, int iv,
                     int io, int iln) {
    sc_train_tape *t = f->t;
    const int64_t B = t->B, D = f->c->d_model, H = f->c->num_heads, K = f->c->d_kv, I = H * K;
    const size_t N = (size_t)(B * L), NK = (size_t)(B * Lk), P = (size_t)(B * H) * (size_t)(L * Lk);
    a->x_in = x_in;
    a->ln = falloc(t, N * D);
    a->rstd = falloc(t, N);
    a->q = falloc(t, N * I);
    a->k = falloc(t, NK * I);
    a->v = falloc(t, NK * I);
    a->p = falloc(t, P);
    a->ctx = falloc(t, N * I);
    float *o = f->branch;
    if (t->mem.failed) return;
    sc_trx_rmsnorm_fwd(&f->x, a->ln, a->rstd, x_in, W(f->tp, iln), (int64_t)N, D, f->c->layer_norm_epsilon);
    const float *src = kv ? kv : a->ln;
    sc_trx_linear_fwd(&f->x, a->q, a->ln, W(f->tp, iq), (int64_t)N, D, I);
    sc_trx_linear_fwd(&f->x, a->k, src, W(f->tp, ik), (int64_t)NK, D, I);
    sc_trx_linear_fwd(&f->x, a->v, src, W(f->tp, iv), (int64_t)NK, D, I);
    a->pd = drop_mask(f, P);
    a->rmask = NULL;
    if (t->mem.failed) return;
    sc_trx_attention_fwd(&f->x, a->ctx, a->p, a->q, a->k, a->v, bias, kmask, causal, a->pd, B, H, L, Lk, K);
    sc_trx_linear_fwd(&f->x, o, a->ctx, W(f->tp, io), (int64_t)N, I, D);
    a->rmask = drop_mask(f, N * D);
    if (t->mem.failed) return;
    if (a->rmask) sc_trx_mul(&f->x, o, a->rmask, N * D);
    sc_trx_add(&f->x, out, x_in, o, N * D);
}

static sc_status ff_fwd(fwd_ctx *f, ff_rec *r, float *out, const float *x_in, int64_t L,
                        const sc_train_block_idx *bi, sc_error *err) {
    sc_train_tape *t = f->t;
    const sc_config *c = f->c;
    const int64_t B = t->B, D = c->d_model, F = c->d_ff, E = c->num_experts;
    const size_t N = (size_t)(B * L);
    r->x_in = x_in;
    r->sparse = bi->sparse;
    r->ln = falloc(t, N * D);
    r->rstd = falloc(t, N);
    float *y = f->branch;
    if (t->mem.failed) return SC_ERR_NOMEM;
    sc_trx_rmsnorm_fwd(&f->x, r->ln, r->rstd, x_in, W(f->tp, bi->ff_ln), (int64_t)N, D,
                       c->layer_norm_epsilon);
    if (bi->sparse) {
        const float **wi = malloc(sizeof(float *) * 2 * (size_t)E);
        if (!wi) return sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory");
        const float **wo = wi + E;
        for (int64_t e = 0; e < E; e++) {
            wi[e] = W(f->tp, bi->ex_wi[e]);
            wo[e] = W(f->tp, bi->ex_wo[e]);
        }
        sc_tr_moe_weights mw = {W(f->tp, bi->router_w), bi->router_b >= 0 ? W(f->tp, bi->router_b) : NULL, wi,
                                wo};
        sc_status st =
            sc_trx_moe_fwd(&f->x, y, r->ln, &mw, B, L, D, F, E, c->act, c->expert_capacity,
                           t->opts.drop_policy, t->opts.router_jitter, f->p_drop, &f->rng, &r->moe, err);
        free(wi);
        if (st != SC_OK) return st;
        if (r->moe.jit) t->draws += N * (size_t)D;
        for (size_t n = 0; r->moe.hmask && n < N; n++) t->draws += r->moe.kept[n] ? (size_t)F : 0;
    } else {
        r->pre = falloc(t, N * F);
        r->h = falloc(t, N * F);
        if (t->mem.failed) return SC_ERR_NOMEM;
        sc_trx_linear_fwd(&f->x, r->pre, r->ln, W(f->tp, bi->ff_wi), (int64_t)N, D, F);
        sc_trx_act_fwd(&f->x, r->h, r->pre, N * F, c->act);
        r->hmask = drop_mask(f, N * F);
        if (t->mem.failed) return SC_ERR_NOMEM;
        if (r->hmask) sc_trx_mul(&f->x, r->h, r->hmask, N * F);
        sc_trx_linear_fwd(&f->x, y, r->h, W(f->tp, bi->ff_wo), (int64_t)N, F, D);
    }
    r->rmask = drop_mask(f, N * D);
    if (t->mem.failed) return SC_ERR_NOMEM;
    if (r->rmask) sc_trx_mul(&f->x, y, r->rmask, N * D);
    sc_trx_add(&f->x, out, x_in, y, N * D);
    return SC_OK;
}

/* Runs stack s (0 encoder, 1 decoder) on st->ids; enc_out is the encoder
 * output for the decoder's cross-attention. */
static sc_status stack_fwd(fwd_ctx *f, int s, const float *enc_out, sc_error *err) {
    sc_train_tape *t = f->t;
    const sc_train_params *tp = f->tp;
    const sc_config *c = f->c;
    stack_rec *st = &t->st[s];
    const int64_t B = t->B, L = st->L, D = c->d_model, H = c->num_heads, nb = tp->n_blocks[s];
    const size_t N = (size_t)(B * L);
    const int64_t V = c->vocab_size;
    st->h = tape_alloc(t, (size_t)nb + 1, sizeof(float *));
    st->blocks = tape_alloc(t, (size_t)nb ? (size_t)nb : 1, sizeof(block_rec));
    st->pos_bias = falloc(t, (size_t)H * (size_t)(L * L));
    if (t->mem.failed) goto nomem;
    for (int64_t i = 0; i <= nb; i++)
        if (!(st->h[i] = falloc(t, N * D))) goto nomem;
    /* Embedding, then its dropout. */
    const float *emb = W(tp, tp->shared);
    for (size_t n = 0; n < N; n++) {
        int32_t id = st->ids[n];
        if (id < 0 || id >= V)
            return sc_fail(err, SC_ERR_INVALID_ARG, n,
                           "training forward: %s id %d at %zu is not in [0, %lld)",
                           s ? "decoder input" : "input", id, n, (long long)V);
        memcpy(st->h[0] + n * D, emb + (size_t)id * D, sizeof(float) * (size_t)D);
    }
    st->emb_mask = drop_mask(f, N * D);
    if (t->mem.failed) goto nomem;
    if (st->emb_mask) sc_trx_mul(&f->x, st->h[0], st->emb_mask, N * D);
    sc_tr_position_bias_fwd(st->pos_bias, W(tp, tp->rel_bias[s]), H, L, L, s == 0,
                            c->relative_attention_num_buckets, c->relative_attention_max_distance);
    /* Sub-layer outputs other than a block's last are kept by the tape (the next sub-layer's
     * input, which its backward needs). */
    for (int64_t i = 0; i < nb; i++) {
        const sc_train_block_idx *bi = &tp->blocks[s][i];
        block_rec *br = &st->blocks[i];
        float *x1 = falloc(t, N * D);
        if (!x1) goto nomem;
        attn_fwd(f, &br->sa, x1, st->h[i], L, NULL, L, st->pos_bias, s ? NULL : t->enc_mask, s == 1, bi->sa_q,
                 bi->sa_k, bi->sa_v, bi->sa_o, bi->sa_ln);
        if (t->mem.failed) goto nomem;
        const float *ff_in = x1;
        if (s == 1) {
            float *x2 = falloc(t, N * D);
            if (!x2) goto nomem;
            attn_fwd(f, &br->ca, x2, x1, L, enc_out, t->S, NULL, t->enc_mask, false, bi->ca_q, bi->ca_k,
                     bi->ca_v, bi->ca_o, bi->ca_ln);
            if (t->mem.failed) goto nomem;
            ff_in = x2;
        }
        sc_status stt = ff_fwd(f, &br->ff, st->h[i + 1], ff_in, L, bi, err);
        if (stt == SC_ERR_NOMEM && t->mem.failed) goto nomem;
        if (stt != SC_OK) return stt;
        if (bi->sparse) st->n_sparse++;
    }
    st->fin_ln = falloc(t, N * D);
    st->fin_rstd = falloc(t, N);
    st->out = falloc(t, N * D);
    if (t->mem.failed) goto nomem;
    sc_trx_rmsnorm_fwd(&f->x, st->fin_ln, st->fin_rstd, st->h[nb], W(tp, tp->final_ln[s]), (int64_t)N, D,
                       c->layer_norm_epsilon);
    memcpy(st->out, st->fin_ln, sizeof(float) * N * D);
    st->fin_mask = drop_mask(f, N * D);
    if (t->mem.failed) goto nomem;
    if (st->fin_mask) sc_trx_mul(&f->x, st->out, st->fin_mask, N * D);
    return SC_OK;
nomem:
    return sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory in the %s",
                   s ? "decoder" : "encoder");
}

/* z and aux losses of stack s (HF router_z_loss_func and
 * load_balancing_loss_func on its sparse blocks concatenated along the
 * sequence); fills st->frac. */
static bool router_losses(sc_train_tape *t, int s, double *z, double *aux) {
    stack_rec *st = &t->st[s];
    *z = *aux = 0.0;
    if (!st->losses_on) return true;
    const sc_tr_moe_save **layers = tape_alloc(t, (size_t)st->n_sparse, sizeof *layers);
    if (!layers) return false;
    int64_t k = 0;
    for (int64_t i = 0; i < t->tp->n_blocks[s]; i++)
        if (st->blocks[i].ff.sparse) layers[k++] = &st->blocks[i].ff.moe;
    sc_tr_router_losses(layers, k, z, aux, st->frac);
    return true;
}

/* Checks every product the forward and backward allocate: rows times the
 * widest row (with room for the backward's six scratch arrays), attention
 * probabilities B*H*Lmax*Lmax, logits. */
static bool sizes_ok(const sc_config *c, int64_t B, int64_t S, int64_t T, size_t *NS, size_t *NT,
                     size_t *NTV) {
    int64_t wide = c->d_model;
    if (c->d_ff > wide) wide = c->d_ff;
    if (c->num_heads * c->d_kv > wide) wide = c->num_heads * c->d_kv;
    if (c->num_experts > wide) wide = c->num_experts;
    size_t Lmax = (size_t)(S > T ? S : T), Nmax, NH, tmp;
    return sc_mul_size((size_t)B, (size_t)S, NS) && sc_mul_size((size_t)B, (size_t)T, NT) &&
           sc_mul_size(*NT, (size_t)c->vocab_size, NTV) && sc_mul_size((size_t)B, Lmax, &Nmax) &&
           sc_mul3_size(Nmax, (size_t)wide, 8 * sizeof(float), &tmp) &&
           sc_mul_size(Nmax, (size_t)c->num_heads, &NH) && sc_mul3_size(NH, Lmax, 2 * sizeof(float), &tmp) &&
           sc_mul_size(*NTV, 2 * sizeof(float), &tmp);
}

sc_status sc_train_forward(const sc_train_params *tp, const sc_train_batch *bt, const sc_train_opts *opts,
                           sc_train_tape **out, sc_train_losses *losses, sc_error *err) {
    if (!tp || !bt || !out || !bt->input_ids || (!bt->labels && !bt->decoder_input_ids))
        return sc_fail(err, SC_ERR_INVALID_ARG, 0, "training forward: NULL argument");
    const sc_config *c = &tp->cfg;
    sc_train_opts o = opts ? *opts : sc_train_default_opts();
    if (!(o.dropout_rate >= 0.0 && o.dropout_rate <= 1.0) ||
        !(o.router_jitter >= 0.0 && o.router_jitter < 1.0))
        return sc_fail(err, SC_ERR_INVALID_ARG, 0,
                       "training forward: dropout_rate must be in [0, 1] and router_jitter in [0, 1)");
    const int64_t B = bt->B, S = bt->S, T = bt->T, D = c->d_model, V = c->vocab_size;
    size_t NS, NT, NTV;
    if (B <= 0 || S <= 0 || T <= 0 || !sizes_ok(c, B, S, T, &NS, &NT, &NTV))
        return sc_fail(err, SC_ERR_INVALID_ARG, 0,
                       "training forward: B, S, T must be > 0 and their buffers fit in memory sizes");
    if (bt->labels)
        for (size_t i = 0; i < NT; i++)
            if (bt->labels[i] != -100 && (bt->labels[i] < 0 || bt->labels[i] >= V))
                return sc_fail(err, SC_ERR_INVALID_ARG, i,
                               "training forward: label %d at %zu is not -100 or in [0, %lld)", bt->labels[i],
                               i, (long long)V);
    sc_train_tape *t = calloc(1, sizeof *t);
    if (!t) return sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory");
    t->tp = tp;
    t->opts = o;
    t->B = B;
    t->S = S;
    t->T = T;
    t->st[0].L = S;
    t->st[1].L = T;
    t->st[0].ids = tape_alloc(t, NS, sizeof(int32_t));
    t->st[1].ids = tape_alloc(t, NT, sizeof(int32_t));
    t->enc_mask = tape_alloc(t, NS, sizeof(int32_t));
    if (bt->labels) t->labels = tape_alloc(t, NT, sizeof(int32_t));
    t->lm_in = falloc(t, NT * (size_t)D);
    t->logits = falloc(t, NTV);
    sc_status st = SC_OK;
    float *branch = NULL;
    if (t->mem.failed) {
        st = sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory");
        goto fail;
    }
    memcpy(t->st[0].ids, bt->input_ids, NS * sizeof(int32_t));
    for (size_t i = 0; i < NS; i++) t->enc_mask[i] = bt->attention_mask ? (bt->attention_mask[i] != 0) : 1;
    if (bt->labels) memcpy(t->labels, bt->labels, NT * sizeof(int32_t));
    if (bt->decoder_input_ids) {
        memcpy(t->st[1].ids, bt->decoder_input_ids, NT * sizeof(int32_t));
    } else {
        /* HF _shift_right: [decoder_start, labels[:-1]], -100 replaced by pad. */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < T; j++) {
                int32_t v = j == 0 ? (int32_t)c->decoder_start_token_id : bt->labels[b * T + j - 1];
                t->st[1].ids[b * T + j] = v == -100 ? (int32_t)c->pad_token_id : v;
            }
    }
    fwd_ctx f = {.t = t, .tp = tp, .c = c, .p_drop = o.dropout_rate, .x = {.fast = o.fast, .pool = o.pool}};
    sc_rng_seed(&f.rng, o.seed, 0);
    f.branch = branch = malloc((NS > NT ? NS : NT) * (size_t)D * sizeof(float)); /* sizes_ok checked it */
    if (!branch) {
        st = sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory");
        goto fail;
    }
    if ((st = stack_fwd(&f, 0, NULL, err)) != SC_OK) goto fail;
    if ((st = stack_fwd(&f, 1, t->st[0].out, err)) != SC_OK) goto fail;
    /* LM head: tied models scale the decoder output by d_model^-0.5 first. */
    memcpy(t->lm_in, t->st[1].out, NT * (size_t)D * sizeof(float));
    if (c->tie_word_embeddings) {
        float sc = (float)pow((double)D, -0.5);
        for (size_t i = 0; i < NT * (size_t)D; i++) t->lm_in[i] *= sc;
    }
    const float *lm = W(tp, c->tie_word_embeddings ? tp->shared : tp->lm_head);
    sc_trx_linear_fwd(&f.x, t->logits, t->lm_in, lm, (int64_t)NT, D, V);
    sc_train_losses ls = {0};
    ls.ce =
        bt->labels ? sc_trx_cross_entropy(&f.x, NULL, t->logits, t->labels, (int64_t)NT, V, 0.0, &ls.tokens)
                   : NAN;
    for (int s = 0; s < 2; s++) {
        stack_rec *sr = &t->st[s];
        int64_t step = s ? c->decoder_sparse_step : c->encoder_sparse_step;
        sr->losses_on = step > 1 && sr->n_sparse > 0;
        if (sr->losses_on) sr->frac = tape_alloc(t, (size_t)(B + 1) * (size_t)c->num_experts, sizeof(double));
        if ((sr->losses_on && !sr->frac) ||
            !router_losses(t, s, s ? &ls.decoder_z : &ls.encoder_z, s ? &ls.decoder_aux : &ls.encoder_aux)) {
            st = sc_fail(err, SC_ERR_NOMEM, 0, "training forward: out of memory");
            goto fail;
        }
    }
    ls.loss = ls.ce + c->router_z_loss_coef * (ls.encoder_z + ls.decoder_z) +
              c->router_aux_loss_coef * (ls.encoder_aux + ls.decoder_aux);
    if (losses) *losses = ls;
    free(branch);
    *out = t;
    return SC_OK;
fail:
    free(branch);
    sc_train_tape_free(t);
    return st;
}

/* ----------------------------------------------------------------- backward */

static float *G(sc_train_params *tp, int idx) { return idx >= 0 ? tp->p[idx].g : NULL; }

/* Scratch for one backward, allocated once for the largest sub-layer. */
typedef struct bwd_ctx {
    sc_train_params *tp;
    const sc_train_tape *t;
    const sc_config *c;
    sc_train_loss_weights w;
    sc_trx x; /* fast path or reference (the tape's opts.fast) */
    float *a, *b2, *dq, *dk, *dv, *dctx; /* [Nmax*max(D,F,I)] each */
    float *dbias;                        /* [H,L,L] of the stack at hand */
    float *dlog;                         /* [Nmax,E] router logit gradient */
} bwd_ctx;

/* dx_in += d/dx_in of the attention sub-layer, given dout (the residual
 * gradient, also its own pass-through, which the caller adds). dkv: where
 * the key/value source gradient goes (NULL for self-attention: to dln). */
static void attn_bwd(bwd_ctx *g, const attn_rec *a, float *dx_in, const float *dout, int64_t L,
                     const float *kv, float *dkv, int64_t Lk, float *dbias, int iq, int ik, int iv, int io,
                     int iln) {
    const sc_config *c = g->c;
    sc_train_params *tp = g->tp;
    const int64_t B = g->t->B, D = c->d_model, H = c->num_heads, K = c->d_kv, I = H * K;
    const size_t N = (size_t)(B * L), NK = (size_t)(B * Lk);
    float *dO = g->a, *dln = g->b2;
    memcpy(dO, dout, N * D * sizeof(float));
    if (a->rmask) sc_trx_mul(&g->x, dO, a->rmask, N * D);
    memset(g->dctx, 0, N * I * sizeof(float));
    sc_trx_linear_bwd(&g->x, g->dctx, G(tp, io), dO, a->ctx, W(tp, io), (int64_t)N, I, D);
    memset(g->dq, 0, N * I * sizeof(float));
    memset(g->dk, 0, NK * I * sizeof(float));
    memset(g->dv, 0, NK * I * sizeof(float));
    sc_trx_attention_bwd(&g->x, g->dq, g->dk, g->dv, dbias, g->dctx, a->q, a->k, a->v, a->p, a->pd, B, H, L,
                         Lk, K);
    memset(dln, 0, N * D * sizeof(float));
    const float *src = kv ? kv : a->ln;
    float *dsrc = kv ? dkv : dln;
    sc_trx_linear_bwd(&g->x, dln, G(tp, iq), g->dq, a->ln, W(tp, iq), (int64_t)N, D, I);
    sc_trx_linear_bwd(&g->x, dsrc, G(tp, ik), g->dk, src, W(tp, ik), (int64_t)NK, D, I);
    sc_trx_linear_bwd(&g->x, dsrc, G(tp, iv), g->dv, src, W(tp, iv), (int64_t)NK, D, I);
    sc_trx_rmsnorm_bwd(&g->x, dx_in, G(tp, iln), dln, a->x_in, W(tp, iln), a->rstd, (int64_t)N, D);
}

/* The gradient reaching one sparse block's router logits from the z and aux
 * losses of its stack (weights g->w.z, g->w.aux). */
static void router_loss_grad(bwd_ctx *g, const stack_rec *st, const sc_tr_moe_save *m) {
    if (!st->losses_on) {
        memset(g->dlog, 0, sizeof(float) * (size_t)(m->B * m->L * m->E));
        return;
    }
    sc_tr_router_loss_grad(g->dlog, m, st->n_sparse, st->frac, g->w.z, g->w.aux);
}

static sc_status ff_bwd(bwd_ctx *g, const stack_rec *st, const ff_rec *r, float *dx_in, const float *dout,
                        int64_t L, const sc_train_block_idx *bi, sc_error *err) {
    const sc_config *c = g->c;
    sc_train_params *tp = g->tp;
    const int64_t B = g->t->B, D = c->d_model, F = c->d_ff, E = c->num_experts;
    const size_t N = (size_t)(B * L);
    float *dy = g->a, *dln = g->b2;
    memcpy(dy, dout, N * D * sizeof(float));
    if (r->rmask) sc_trx_mul(&g->x, dy, r->rmask, N * D);
    memset(dln, 0, N * D * sizeof(float));
    if (r->sparse) {
        const float **wi = malloc(sizeof(float *) * 2 * (size_t)E);
        float **gwi = malloc(sizeof(float *) * 2 * (size_t)E);
        if (!wi || !gwi) {
            free(wi);
            free(gwi);
            return sc_fail(err, SC_ERR_NOMEM, 0, "training backward: out of memory");
        }
        const float **wo = wi + E;
        float **gwo = gwi + E;
        for (int64_t e = 0; e < E; e++) {
            wi[e] = W(tp, bi->ex_wi[e]);
            wo[e] = W(tp, bi->ex_wo[e]);
            gwi[e] = G(tp, bi->ex_wi[e]);
            gwo[e] = G(tp, bi->ex_wo[e]);
        }
        sc_tr_moe_weights mw = {W(tp, bi->router_w), bi->router_b >= 0 ? W(tp, bi->router_b) : NULL, wi, wo};
        sc_tr_moe_grads mg = {G(tp, bi->router_w), G(tp, bi->router_b), gwi, gwo};
        router_loss_grad(g, st, &r->moe);
        sc_status s = sc_trx_moe_bwd(&g->x, dln, &mg, dy, g->dlog, &mw, &r->moe, err);
        free(wi);
        free(gwi);
        if (s != SC_OK) return s;
    } else {
        float *dh = g->dq; /* [N,F] */
        memset(dh, 0, N * F * sizeof(float));
        sc_trx_linear_bwd(&g->x, dh, G(tp, bi->ff_wo), dy, r->h, W(tp, bi->ff_wo), (int64_t)N, F, D);
        if (r->hmask) sc_trx_mul(&g->x, dh, r->hmask, N * F);
        float *dpre = g->dk;
        memset(dpre, 0, N * F * sizeof(float));
        sc_trx_act_bwd(&g->x, dpre, dh, r->pre, N * F, c->act);
        sc_trx_linear_bwd(&g->x, dln, G(tp, bi->ff_wi), dpre, r->ln, W(tp, bi->ff_wi), (int64_t)N, D, F);
    }
    sc_trx_rmsnorm_bwd(&g->x, dx_in, G(tp, bi->ff_ln), dln, r->x_in, W(tp, bi->ff_ln), r->rstd, (int64_t)N,
                       D);
    return SC_OK;
}

/* Backward through stack s given dout [N,D], the gradient of its output;
 * denc [B*S,D] (decoder only) accumulates the encoder-output gradient. */
static sc_status stack_bwd(bwd_ctx *g, int s, const float *dout, float *denc, sc_error *err) {
    const sc_train_tape *t = g->t;
    const stack_rec *st = &t->st[s];
    sc_train_params *tp = g->tp;
    const sc_config *c = g->c;
    const int64_t B = t->B, L = st->L, D = c->d_model, H = c->num_heads, nb = tp->n_blocks[s];
    const size_t N = (size_t)(B * L), ND = N * (size_t)D;
    float *dh = malloc(ND * sizeof(float)), *dtmp = malloc(ND * sizeof(float));
    if (!dh || !dtmp) {
        free(dh);
        free(dtmp);
        return sc_fail(err, SC_ERR_NOMEM, 0, "training backward: out of memory");
    }
    /* Final RMSNorm and its dropout. */
    memcpy(dtmp, dout, ND * sizeof(float));
    if (st->fin_mask) sc_trx_mul(&g->x, dtmp, st->fin_mask, ND);
    memset(dh, 0, ND * sizeof(float));
    sc_trx_rmsnorm_bwd(&g->x, dh, G(tp, tp->final_ln[s]), dtmp, st->h[nb], W(tp, tp->final_ln[s]),
                       st->fin_rstd, (int64_t)N, D);
    memset(g->dbias, 0, sizeof(float) * (size_t)H * (size_t)(L * L));
    sc_status rc = SC_OK;
    for (int64_t i = nb - 1; i >= 0 && rc == SC_OK; i--) {
        const sc_train_block_idx *bi = &tp->blocks[s][i];
        const block_rec *br = &st->blocks[i];
        /* dh is the gradient of the block output; each sub-layer adds its branch to the residual. */
        memcpy(dtmp, dh, ND * sizeof(float));
        rc = ff_bwd(g, st, &br->ff, dtmp, dh, L, bi, err);
        if (rc != SC_OK) break;
        if (s == 1) {
            memcpy(dh, dtmp, ND * sizeof(float));
            attn_bwd(g, &br->ca, dtmp, dh, L, t->st[0].out, denc, t->S, NULL, bi->ca_q, bi->ca_k, bi->ca_v,
                     bi->ca_o, bi->ca_ln);
        }
        memcpy(dh, dtmp, ND * sizeof(float));
        attn_bwd(g, &br->sa, dtmp, dh, L, NULL, NULL, L, g->dbias, bi->sa_q, bi->sa_k, bi->sa_v, bi->sa_o,
                 bi->sa_ln);
        memcpy(dh, dtmp, ND * sizeof(float));
    }
    if (rc == SC_OK) {
        sc_tr_position_bias_bwd(G(tp, tp->rel_bias[s]), g->dbias, H, L, L, s == 0,
                                c->relative_attention_num_buckets, c->relative_attention_max_distance);
        if (st->emb_mask) sc_trx_mul(&g->x, dh, st->emb_mask, ND);
        float *gs = G(tp, tp->shared);
        for (size_t n = 0; n < N; n++) {
            float *row = gs + (size_t)st->ids[n] * D;
            for (int64_t d = 0; d < D; d++) row[d] += dh[n * D + d];
        }
    }
    free(dh);
    free(dtmp);
    return rc;
}

sc_status sc_train_backward(sc_train_params *tp, const sc_train_tape *t, const sc_train_loss_weights *w,
                            sc_error *err) {
    if (!tp || !t || t->tp != tp)
        return sc_fail(err, SC_ERR_INVALID_ARG, 0, "training backward: NULL or mismatched parameters / tape");
    const sc_config *c = &tp->cfg;
    bwd_ctx g = {.tp = tp, .t = t, .c = c, .w = w ? *w : sc_train_default_weights(c),
                 .x = {.fast = t->opts.fast, .pool = t->opts.pool}};
    const int64_t B = t->B, S = t->S, T = t->T, D = c->d_model, V = c->vocab_size, H = c->num_heads;
    const int64_t I = H * c->d_kv, Lmax = S > T ? S : T;
    int64_t wide = D > c->d_ff ? D : c->d_ff;
    wide = wide > I ? wide : I;
    const size_t NT = (size_t)(B * T), NS = (size_t)(B * S), Nmax = (size_t)(B * Lmax);
    const size_t big = Nmax * (size_t)wide; /* sizes were checked by the forward */
    float *pool =
        calloc(6 * big + (size_t)H * (size_t)(Lmax * Lmax) + Nmax * (size_t)c->num_experts, sizeof(float));
    float *dlogits = calloc(NT * (size_t)V, sizeof(float));
    float *ddec = calloc(NT * (size_t)D, sizeof(float));
    float *denc = calloc(NS * (size_t)D, sizeof(float));
    sc_status st = SC_OK;
    if (!pool || !dlogits || !ddec || !denc) {
        st = sc_fail(err, SC_ERR_NOMEM, 0, "training backward: out of memory");
        goto done;
    }
    g.a = pool;
    g.b2 = g.a + big;
    g.dq = g.b2 + big;
    g.dk = g.dq + big;
    g.dv = g.dk + big;
    g.dctx = g.dv + big;
    g.dbias = g.dctx + big;
    g.dlog = g.dbias + (size_t)H * (size_t)(Lmax * Lmax);
    /* CE -> logits -> LM head -> decoder output. */
    if (t->labels && g.w.ce != 0.0)
        sc_trx_cross_entropy(&g.x, dlogits, t->logits, t->labels, (int64_t)NT, V, g.w.ce, NULL);
    int lm = c->tie_word_embeddings ? tp->shared : tp->lm_head;
    sc_trx_linear_bwd(&g.x, ddec, G(tp, lm), dlogits, t->lm_in, W(tp, lm), (int64_t)NT, D, V);
    if (c->tie_word_embeddings) {
        float sc = (float)pow((double)D, -0.5);
        for (size_t i = 0; i < NT * (size_t)D; i++) ddec[i] *= sc;
    }
    if ((st = stack_bwd(&g, 1, ddec, denc, err)) != SC_OK) goto done;
    st = stack_bwd(&g, 0, denc, NULL, err);
done:
    free(pool);
    free(dlogits);
    free(ddec);
    free(denc);
    return st;
}

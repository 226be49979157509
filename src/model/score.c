/* The public teacher-forced forward (sc_session_forward: HF's loss, its
 * parts, logits, and on request the encoder output and every sparse layer's
 * routing) and pair scoring (sc_score_pairs: each pair run alone as a batch
 * of one). The numbers come from sc_forward_run; this file only keeps what
 * the caller asked for. Left out: gradients, decoder attention masks (HF
 * passes none when labels are given), and batching pairs together (their
 * router losses would then be batch means, not the pair's own). */
#include "core/checked.h"
#include "core/error.h"
#include "model/forward.h"
#include "switchc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sc_forward_result {
    sc_forward_losses losses;
    float *logits; /* [B,T,V] */
    int64_t B, S, T, V, D;
    float *enc; /* [B,S,D] or NULL */
    sc_router_output *router;
    int64_t n_router, cap_router;
    void **owned; /* the router arrays, freed with the result */
    int64_t n_owned;
    bool oom;
};

sc_forward_params sc_forward_default_params(void) {
    sc_forward_params p = {.decoder_input_ids = NULL, .keep_encoder_output = false, .keep_router = false};
    return p;
}

/* Captures each sparse layer's router_logits, expert_index and kept as the
 * session traces them ("encoder.block.3.router_logits", ...), passing every
 * traced tensor on to the trace that was set before. */
typedef struct capture {
    sc_forward_result *r;
    sc_trace_fn prev;
    void *prev_ctx;
} capture;

static void *keep_copy(sc_forward_result *r, const void *data, size_t bytes) {
    void **owned = realloc(r->owned, (size_t)(r->n_owned + 1) * sizeof *owned);
    void *copy = malloc(bytes ? bytes : 1);
    if (owned) r->owned = owned;
    if (!owned || !copy) {
        free(copy);
        r->oom = true;
        return NULL;
    }
    memcpy(copy, data, bytes);
    r->owned[r->n_owned++] = copy;
    return copy;
}

static void capture_trace(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                          const int64_t *shape) {
    capture *c = ctx;
    if (c->prev) c->prev(c->prev_ctx, name, dtype, data, ndim, shape);
    sc_forward_result *r = c->r;
    bool dec = !strncmp(name, "decoder.block.", 14);
    if (r->oom || (!dec && strncmp(name, "encoder.block.", 14))) return;
    char *end = NULL;
    long long block = strtoll(name + 14, &end, 10);
    if (!end || *end != '.' || ndim < 2) return;
    const char *what = end + 1;
    int kind = !strcmp(what, "router_logits") ? 0
               : !strcmp(what, "expert_index") ? 1
               : !strcmp(what, "kept")         ? 2
                                               : -1;
    if (kind < 0) return;
    const size_t n = (size_t)shape[0] * (size_t)shape[1];
    if (kind == 0) {
        /* router_logits opens a new layer; expert_index and kept follow it */
        if (r->n_router == r->cap_router) {
            int64_t cap = r->cap_router ? 2 * r->cap_router : 8;
            sc_router_output *v = realloc(r->router, (size_t)cap * sizeof *v);
            if (!v) {
                r->oom = true;
                return;
            }
            r->router = v;
            r->cap_router = cap;
        }
        sc_router_output *o = &r->router[r->n_router++];
        memset(o, 0, sizeof *o);
        o->decoder = dec;
        o->block = block;
        o->B = shape[0];
        o->len = shape[1];
        o->E = ndim > 2 ? shape[2] : 1;
        o->logits = keep_copy(r, data, n * (size_t)o->E * sizeof(float));
        return;
    }
    if (!r->n_router) return;
    sc_router_output *o = &r->router[r->n_router - 1];
    if (o->decoder != dec || o->block != block) return;
    const int32_t *copy = keep_copy(r, data, n * sizeof(int32_t));
    if (kind == 1) o->expert_index = copy;
    else o->kept = copy;
}

void sc_forward_result_free(sc_forward_result *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n_owned; i++) free(r->owned[i]);
    free(r->owned);
    free(r->router);
    free(r->logits);
    free(r->enc);
    free(r);
}

static int64_t count_tokens(const int32_t *labels, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; labels && i < n; i++) k += labels[i] != -100;
    return k;
}

static sc_forward_losses to_public(const sc_losses *L, int64_t tokens) {
    sc_forward_losses o = {.loss = L->loss, .ce = L->loss_lm, .encoder_z_loss = L->enc_z,
                           .encoder_aux_loss = L->enc_aux, .decoder_z_loss = L->dec_z,
                           .decoder_aux_loss = L->dec_aux, .tokens = tokens};
    return o;
}

sc_status sc_session_forward(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                             const int32_t *labels, int64_t T, const sc_forward_params *p,
                             sc_forward_result **out, sc_error *err) {
    sc_forward_params dp = sc_forward_default_params();
    if (!p) p = &dp;
    if (!s || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "forward: no session or result");
    const int64_t V = s->m->cfg.vocab_size, D = s->m->cfg.d_model;
    size_t n_logits, n_enc;
    if (B <= 0 || S <= 0 || T <= 0 || !sc_mul3_size((size_t)B, (size_t)T, (size_t)V, &n_logits) ||
        !sc_mul3_size((size_t)B, (size_t)S, (size_t)D, &n_enc) || n_logits > SIZE_MAX / sizeof(float) ||
        n_enc > SIZE_MAX / sizeof(float))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "forward: B=%lld, S=%lld, T=%lld: each must be > 0 and the arrays addressable",
                       (long long)B, (long long)S, (long long)T);
    sc_forward_result *r = calloc(1, sizeof *r);
    if (r) r->logits = malloc(n_logits * sizeof(float));
    if (!r || !r->logits) {
        sc_forward_result_free(r);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "forward: out of memory for logits [%lld,%lld,%lld]",
                       (long long)B, (long long)T, (long long)V);
    }
    r->B = B;
    r->S = S;
    r->T = T;
    r->V = V;
    r->D = D;
    capture c = {.r = r, .prev = s->trace, .prev_ctx = s->trace_ctx};
    if (p->keep_router) sc_session_set_trace(s, capture_trace, &c);
    sc_losses L;
    sc_status st = sc_forward_run(s, ids, mask, B, S, labels, p->decoder_input_ids, T, r->logits, &L, err);
    if (p->keep_router) sc_session_set_trace(s, c.prev, c.prev_ctx);
    if (!st && r->oom)
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "forward: out of memory for router outputs");
    if (!st && p->keep_encoder_output) {
        r->enc = malloc(n_enc * sizeof(float));
        if (!r->enc) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "forward: out of memory for encoder output");
        else memcpy(r->enc, sc_session_encoder_output(s, NULL, NULL), n_enc * sizeof(float));
    }
    if (st) {
        sc_forward_result_free(r);
        return st;
    }
    r->losses = to_public(&L, count_tokens(labels, (size_t)(B * T)));
    *out = r;
    return SC_OK;
}

sc_forward_losses sc_forward_result_loss(const sc_forward_result *r) {
    sc_forward_losses none = {.loss = NAN, .ce = NAN};
    return r ? r->losses : none;
}

const float *sc_forward_result_logits(const sc_forward_result *r, int64_t *B, int64_t *T, int64_t *V) {
    if (!r) return NULL;
    if (B) *B = r->B;
    if (T) *T = r->T;
    if (V) *V = r->V;
    return r->logits;
}

const float *sc_forward_result_encoder_output(const sc_forward_result *r, int64_t *B, int64_t *S,
                                              int64_t *D) {
    if (!r || !r->enc) return NULL;
    if (B) *B = r->B;
    if (S) *S = r->S;
    if (D) *D = r->D;
    return r->enc;
}

int64_t sc_forward_result_router_count(const sc_forward_result *r) { return r ? r->n_router : 0; }

sc_status sc_forward_result_router(const sc_forward_result *r, int64_t i, sc_router_output *out,
                                   sc_error *err) {
    if (!r || !out || i < 0 || i >= r->n_router)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "forward result: router layer %lld of %lld",
                       (long long)i, (long long)(r ? r->n_router : 0));
    *out = r->router[i];
    return SC_OK;
}

/* log p(label) per position of one row from its logits [T, V]. */
static void token_logprobs(const float *logits, const int32_t *labels, int64_t T, int64_t V, float *out) {
    for (int64_t t = 0; t < T; t++) {
        if (labels[t] == -100) {
            out[t] = NAN;
            continue;
        }
        const float *l = logits + t * V;
        double mx = -INFINITY, z = 0.0;
        for (int64_t v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        for (int64_t v = 0; v < V; v++) z += exp(l[v] - mx);
        out[t] = (float)(l[labels[t]] - mx - log(z));
    }
}

sc_status sc_score_pairs(sc_session *s, const sc_score_pair *pairs, int64_t n, sc_score *scores,
                         sc_error *err) {
    if (!s || n < 0 || (n > 0 && (!pairs || !scores)))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "score: no session, pairs or scores");
    const int64_t V = s->m->cfg.vocab_size;
    float *logits = NULL;
    size_t logits_cap = 0;
    sc_status st = SC_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        const sc_score_pair *pr = &pairs[i];
        size_t need;
        if (!pr->input || !pr->target || pr->input_len <= 0 || pr->target_len <= 0) {
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                         "score: pair %lld: input and target need at least one token each (have %lld and %lld)",
                         (long long)i, (long long)pr->input_len, (long long)pr->target_len);
            break;
        }
        if (!sc_mul_size((size_t)pr->target_len, (size_t)V, &need) || need > SIZE_MAX / sizeof(float)) {
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                         "score: pair %lld: target of %lld tokens is too long", (long long)i,
                         (long long)pr->target_len);
            break;
        }
        if (need > logits_cap) {
            float *nl = realloc(logits, need * sizeof(float));
            if (!nl) {
                st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "score: pair %lld: out of memory", (long long)i);
                break;
            }
            logits = nl;
            logits_cap = need;
        }
        const int64_t tokens = count_tokens(pr->target, (size_t)pr->target_len);
        if (tokens == 0) {
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                         "score: pair %lld: every target position is -100: nothing to score", (long long)i);
            break;
        }
        sc_losses L;
        sc_error inner;
        st = sc_forward_run(s, pr->input, NULL, 1, pr->input_len, pr->target, NULL, pr->target_len, logits, &L,
                            &inner);
        if (st) {
            sc_fail(err, st, inner.offset, "score: pair %lld: %s", (long long)i, inner.msg);
            break;
        }
        scores[i] = to_public(&L, tokens);
        if (pr->token_logprobs) token_logprobs(logits, pr->target, pr->target_len, V, pr->token_logprobs);
    }
    free(logits);
    return st;
}

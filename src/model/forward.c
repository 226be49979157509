/* Teacher-forced forward with labels and HF's loss combination; see forward.h. */
#include "model/forward.h"
#include "core/checked.h"
#include "core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sc_shift_right(int32_t *dec_in, const int32_t *labels, int64_t B, int64_t T, int32_t start,
                    int32_t pad) {
    for (int64_t b = 0; b < B; b++) {
        dec_in[b * T] = start;
        for (int64_t t = 1; t < T; t++) {
            int32_t l = labels[b * T + t - 1];
            dec_in[b * T + t] = l == -100 ? pad : l;
        }
    }
}

double sc_router_z_loss(const float *logits, int64_t B, int64_t P, int64_t E) {
    double sum = 0.0;
    for (int64_t i = 0; i < B * P; i++) {
        const float *l = logits + i * E;
        double mx = -INFINITY;
        for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
        double z = 0.0;
        for (int64_t e = 0; e < E; e++) z += exp(l[e] - mx);
        double lse = mx + log(z);
        sum += lse * lse;
    }
    return sum / (double)(B * P);
}

double sc_router_aux_loss(const float *logits, const int32_t *expert, int64_t B, int64_t P, int64_t E) {
    double total = 0.0;
    double *tok = calloc((size_t)E * 2, sizeof(double));
    if (!tok) return NAN;
    double *prob = tok + E;
    for (int64_t b = 0; b < B; b++) {
        memset(tok, 0, (size_t)E * 2 * sizeof(double));
        for (int64_t p = 0; p < P; p++) {
            const float *l = logits + (b * P + p) * E;
            double mx = -INFINITY, z = 0.0;
            for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            for (int64_t e = 0; e < E; e++) z += exp(l[e] - mx);
            for (int64_t e = 0; e < E; e++) prob[e] += exp(l[e] - mx) / z;
            tok[expert[b * P + p]] += 1.0;
        }
        for (int64_t e = 0; e < E; e++) total += (tok[e] / (double)P) * (prob[e] / (double)P);
    }
    free(tok);
    /* mean over (batch, expert), times E^2 */
    return total / (double)(B * E) * (double)(E * E);
}

/* Collects the router outputs of each stack (all sparse layers, in order)
 * while forwarding every traced tensor to the caller's trace. */
typedef struct collect {
    sc_trace_fn user;
    void *user_ctx;
    int64_t B, E;
    float *logits[2];   /* [B, P, E] growing along P */
    int32_t *expert[2]; /* [B, P] */
    int64_t P[2];
    float *pending;     /* router logits of the layer being traced */
    bool failed;
} collect;

static void append(collect *c, int st, const float *lg, const int32_t *ex, int64_t T) {
    int64_t B = c->B, E = c->E, P = c->P[st];
    float *nl = malloc((size_t)(B * (P + T) * E) * sizeof(float));
    int32_t *ne = malloc((size_t)(B * (P + T)) * sizeof(int32_t));
    if (!nl || !ne) {
        free(nl);
        free(ne);
        c->failed = true;
        return;
    }
    for (int64_t b = 0; b < B; b++) {
        if (P) {
            memcpy(nl + b * (P + T) * E, c->logits[st] + b * P * E, (size_t)(P * E) * sizeof(float));
            memcpy(ne + b * (P + T), c->expert[st] + b * P, (size_t)P * sizeof(int32_t));
        }
        memcpy(nl + (b * (P + T) + P) * E, lg + b * T * E, (size_t)(T * E) * sizeof(float));
        memcpy(ne + b * (P + T) + P, ex + b * T, (size_t)T * sizeof(int32_t));
    }
    free(c->logits[st]);
    free(c->expert[st]);
    c->logits[st] = nl;
    c->expert[st] = ne;
    c->P[st] = P + T;
}

static void collect_trace(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                          const int64_t *shape) {
    collect *c = ctx;
    if (c->user) c->user(c->user_ctx, name, dtype, data, ndim, shape);
    const char *suffix = strrchr(name, '.');
    if (!suffix || c->failed) return;
    const size_t n = (size_t)shape[0] * (size_t)shape[1];
    if (!strcmp(suffix, ".router_logits")) {
        /* the layer's expert_index follows right after: keep a copy */
        free(c->pending);
        c->pending = malloc(n * (size_t)c->E * sizeof(float));
        if (!c->pending) c->failed = true;
        else memcpy(c->pending, data, n * (size_t)c->E * sizeof(float));
    } else if (!strcmp(suffix, ".expert_index") && c->pending) {
        append(c, !strncmp(name, "decoder.", 8), c->pending, data, shape[1]);
        free(c->pending);
        c->pending = NULL;
    }
}

static double lm_loss(const float *logits, const int32_t *labels, int64_t N, int64_t V) {
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        if (labels[i] == -100) continue;
        const float *l = logits + i * V;
        double mx = -INFINITY, z = 0.0;
        for (int64_t v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        for (int64_t v = 0; v < V; v++) z += exp(l[v] - mx);
        sum += mx + log(z) - l[labels[i]];
        count++;
    }
    return count ? sum / (double)count : NAN; /* torch: mean over nothing is nan */
}

sc_status sc_forward_labels(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B,
                            int64_t S, const int32_t *labels, int64_t T, float *logits,
                            sc_losses *out, sc_error *err) {
    return sc_forward_run(s, ids, mask, B, S, labels, NULL, T, logits, out, err);
}

sc_status sc_forward_run(sc_session *s, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                         const int32_t *labels, const int32_t *dec_given, int64_t T, float *logits,
                         sc_losses *out, sc_error *err) {
    const sc_model *m = s->m;
    const sc_config *cfg = &m->cfg;
    const int64_t V = cfg->vocab_size;
    size_t bt, btv;
    if (B <= 0 || T <= 0 || S <= 0 || !ids || (!labels && !dec_given) ||
        !sc_mul_size((size_t)B, (size_t)T, &bt) || !sc_mul_size(bt, (size_t)V, &btv) ||
        btv > SIZE_MAX / sizeof(float))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "forward: needs ids [B,S] and labels or decoder ids [B,T] with B, S, T > 0");
    for (int64_t i = 0; labels && i < B * T; i++)
        if (labels[i] != -100 && (labels[i] < 0 || labels[i] >= V))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "label %d at %lld is outside [0, %lld)",
                           labels[i], (long long)i, (long long)V);
    for (int64_t i = 0; dec_given && i < B * T; i++)
        if (dec_given[i] < 0 || dec_given[i] >= V)
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "decoder input id %d at %lld is outside [0, %lld)", dec_given[i], (long long)i,
                           (long long)V);
    int32_t *dec_in = malloc(bt * sizeof(int32_t));
    float *lg = logits ? logits : malloc(btv * sizeof(float));
    if (!dec_in || !lg) {
        free(dec_in);
        if (!logits) free(lg);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "forward: out of memory");
    }
    if (dec_given)
        memcpy(dec_in, dec_given, bt * sizeof(int32_t));
    else
        sc_shift_right(dec_in, labels, B, T, (int32_t)cfg->decoder_start_token_id, (int32_t)cfg->pad_token_id);
    collect c = {.user = s->trace, .user_ctx = s->trace_ctx, .B = B, .E = cfg->num_experts};
    sc_session_set_trace(s, collect_trace, &c);
    sc_session_hold(s); /* the encoder and the decoder pass as one unit of work */
    sc_status st = sc_session_encode(s, ids, mask, B, S, err);
    if (!st) st = sc_session_decode(s, dec_in, T, lg, NULL, err);
    sc_session_release(s);
    sc_session_set_trace(s, c.user, c.user_ctx);
    if (!st && c.failed) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "forward: out of memory");
    if (!st && out) {
        memset(out, 0, sizeof *out);
        out->loss_lm = labels ? lm_loss(lg, labels, B * T, V) : NAN;
        /* HF computes a stack's router losses only when its sparse step > 1. */
        if (cfg->encoder_sparse_step > 1 && c.P[0]) {
            out->enc_z = sc_router_z_loss(c.logits[0], B, c.P[0], c.E);
            out->enc_aux = sc_router_aux_loss(c.logits[0], c.expert[0], B, c.P[0], c.E);
        }
        if (cfg->decoder_sparse_step > 1 && c.P[1]) {
            out->dec_z = sc_router_z_loss(c.logits[1], B, c.P[1], c.E);
            out->dec_aux = sc_router_aux_loss(c.logits[1], c.expert[1], B, c.P[1], c.E);
        }
        out->loss = out->loss_lm + cfg->router_z_loss_coef * (out->enc_z + out->dec_z) +
                    cfg->router_aux_loss_coef * (out->enc_aux + out->dec_aux);
    }
    for (int i = 0; i < 2; i++) {
        free(c.logits[i]);
        free(c.expert[i]);
    }
    free(c.pending);
    free(dec_in);
    if (!logits) free(lg);
    return st;
}

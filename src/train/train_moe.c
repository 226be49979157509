/* The sparse feed-forward layer for training (see train_moe.h). */
#include "train/train_moe.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

void sc_tr_moe_save_free(sc_tr_moe_save *s) {
    if (!s) return;
    free(s->jit);
    free(s->logits);
    free(s->probs);
    free(s->top);
    free(s->kept);
    free(s->pmax);
    free(s->pre);
    free(s->h);
    free(s->hmask);
    free(s->y);
    memset(s, 0, sizeof *s);
}

static void *zalloc(size_t n, size_t size, bool *ok) {
    if (!*ok) return NULL;
    void *p = calloc(n ? n : 1, size);
    if (!p) *ok = false;
    return p;
}

sc_status sc_tr_moe_begin(sc_tr_moe_save *s, float *x, int64_t B, int64_t L, int64_t D, int64_t F, int64_t E,
                          sc_act act, int64_t capacity, sc_drop_policy policy, double jitter, double dropout,
                          sc_rng *r, sc_error *err) {
    memset(s, 0, sizeof *s);
    size_t N, ND, NF, NE;
    if (B <= 0 || L <= 0 || D <= 0 || F <= 0 || E <= 0 || !sc_mul_size((size_t)B, (size_t)L, &N) ||
        !sc_mul_size(N, (size_t)D, &ND) || !sc_mul_size(N, (size_t)F, &NF) || !sc_mul_size(N, (size_t)E, &NE))
        return sc_fail(err, SC_ERR_LIMIT, 0, "sparse layer: bad or overflowing sizes");
    if ((jitter > 0.0 || dropout > 0.0) && !r)
        return sc_fail(err, SC_ERR_INVALID_ARG, 0, "sparse layer: jitter or dropout without a generator");
    *s = (sc_tr_moe_save){
        .B = B, .L = L, .D = D, .F = F, .E = E, .capacity = capacity, .act = act, .policy = policy, .x = x};
    bool ok = true;
    if (jitter > 0.0) s->jit = zalloc(ND, sizeof(float), &ok);
    s->logits = zalloc(NE, sizeof(float), &ok);
    s->probs = zalloc(NE, sizeof(float), &ok);
    s->top = zalloc(N, sizeof(int32_t), &ok);
    s->kept = zalloc(N, sizeof(int32_t), &ok);
    s->pmax = zalloc(N, sizeof(float), &ok);
    s->pre = zalloc(NF, sizeof(float), &ok);
    s->h = zalloc(NF, sizeof(float), &ok);
    if (dropout > 0.0) s->hmask = zalloc(NF, sizeof(float), &ok);
    s->y = zalloc(ND, sizeof(float), &ok);
    if (!ok) {
        sc_tr_moe_save_free(s);
        return sc_fail(err, SC_ERR_NOMEM, 0, "sparse layer: out of memory for %zu tokens", N);
    }
    /* HF: hidden_states *= uniform_(1 - eps, 1 + eps), in place (router_dtype = fp32). */
    if (s->jit) {
        for (size_t i = 0; i < ND; i++) {
            s->jit[i] = (float)((1.0 - jitter) + 2.0 * jitter * sc_rng_uniform(r));
            x[i] *= s->jit[i];
        }
    }
    return SC_OK;
}

sc_status sc_tr_moe_route(sc_tr_moe_save *s, sc_error *err) {
    const int64_t B = s->B, L = s->L, E = s->E, capacity = s->capacity;
    const sc_drop_policy policy = s->policy;
    int64_t *count = malloc((size_t)E * sizeof *count);
    if (!count) {
        sc_tr_moe_save_free(s);
        return sc_fail(err, SC_ERR_NOMEM, 0, "sparse layer: out of memory for the routing");
    }
    sc_tr_softmax_rows(s->probs, s->logits, B * L, E);
    for (int64_t b = 0; b < B; b++) {
        memset(count, 0, (size_t)E * sizeof *count);
        for (int64_t l = 0; l < L; l++) {
            int64_t n = b * L + l;
            const float *p = s->probs + n * E;
            int32_t a = 0;
            for (int64_t e = 1; e < E; e++)
                if (p[e] > p[a]) a = (int32_t)e; /* torch.argmax: the first maximum */
            s->top[n] = a;
            s->pmax[n] = p[a];
            count[a]++;
            s->kept[n] = policy == SC_DROP_NONE || count[a] <= capacity;
        }
    }
    free(count);
    return SC_OK;
}

sc_status sc_tr_moe_fwd(float *out, float *x, const sc_tr_moe_weights *w, int64_t B, int64_t L, int64_t D,
                        int64_t F, int64_t E, sc_act act, int64_t capacity, sc_drop_policy policy,
                        double jitter, double dropout, sc_rng *r, sc_tr_moe_save *s, sc_error *err) {
    sc_status st = sc_tr_moe_begin(s, x, B, L, D, F, E, act, capacity, policy, jitter, dropout, r, err);
    if (st) return st;
    const size_t N = (size_t)(B * L);
    for (int64_t n = 0; n < (int64_t)N; n++) {
        float *lg = s->logits + n * E;
        sc_tr_linear_fwd(lg, x + n * D, w->router_w, 1, D, E);
        if (w->router_b)
            for (int64_t e = 0; e < E; e++) lg[e] += w->router_b[e];
    }
    if ((st = sc_tr_moe_route(s, err))) return st;
    for (int64_t n = 0; n < (int64_t)N; n++) {
        float *o = out + n * D;
        const float *xn = x + n * D;
        if (!s->kept[n]) {
            for (int64_t d = 0; d < D; d++) o[d] = policy == SC_DROP_HF4 ? s->pmax[n] * xn[d] : 0.0f;
            continue;
        }
        int32_t a = s->top[n];
        float *pre = s->pre + n * F, *h = s->h + n * F, *y = s->y + n * D;
        sc_tr_linear_fwd(pre, xn, w->wi[a], 1, D, F);
        sc_tr_act_fwd(h, pre, (size_t)F, act);
        if (s->hmask) {
            sc_tr_dropout_mask(s->hmask + n * F, (size_t)F, dropout, r);
            sc_tr_mul(h, s->hmask + n * F, (size_t)F);
        }
        sc_tr_linear_fwd(y, h, w->wo[a], 1, F, D);
        for (int64_t d = 0; d < D; d++) o[d] = s->pmax[n] * y[d];
    }
    return SC_OK;
}

sc_status sc_tr_moe_bwd(float *dx, const sc_tr_moe_grads *g, const float *dout, const float *dlogits_extra,
                        const sc_tr_moe_weights *w, const sc_tr_moe_save *s, sc_error *err) {
    const int64_t N = s->B * s->L, D = s->D, F = s->F, E = s->E;
    /* One scratch block: dxj[D], dy[D], dh[F], dpre[F], dl[E] (sizes were checked by the forward);
     * per-expert token counts of the current sequence. */
    float *scratch = malloc(sizeof(float) * (size_t)(2 * D + 2 * F + E));
    int64_t *count = calloc((size_t)E, sizeof(int64_t));
    if (!scratch || !count) {
        free(scratch);
        free(count);
        return sc_fail(err, SC_ERR_NOMEM, 0, "sparse layer backward: out of memory");
    }
    float *dxj = scratch, *dy = dxj + D, *dh = dy + D, *dpre = dh + F, *dl = dpre + F;
    for (int64_t n = 0; n < N; n++) {
        const float *gn = dout + n * D, *xn = s->x + n * D;
        const float *p = s->probs + n * E;
        int32_t a = s->top[n];
        /* Capacity and drops from the saved top-1 indices (HF's cumsum over the sequence), never by
         * routing again. */
        if (n % s->L == 0) memset(count, 0, sizeof(int64_t) * (size_t)E);
        bool kept = s->policy == SC_DROP_NONE || ++count[a] <= s->capacity;
        assert(kept == (s->kept[n] != 0));
        memset(dxj, 0, sizeof(float) * (size_t)D);
        double dpm = 0.0;
        if (kept) {
            const float *y = s->y + n * D;
            for (int64_t d = 0; d < D; d++) {
                dpm += (double)gn[d] * y[d];
                dy[d] = s->pmax[n] * gn[d];
            }
            memset(dh, 0, sizeof(float) * (size_t)F);
            memset(dpre, 0, sizeof(float) * (size_t)F);
            sc_tr_linear_bwd(dh, g->wo ? g->wo[a] : NULL, dy, s->h + n * F, w->wo[a], 1, F, D);
            if (s->hmask) sc_tr_mul(dh, s->hmask + n * F, (size_t)F);
            sc_tr_act_bwd(dpre, dh, s->pre + n * F, (size_t)F, s->act);
            sc_tr_linear_bwd(dxj, g->wi ? g->wi[a] : NULL, dpre, xn, w->wi[a], 1, D, F);
        } else if (s->policy == SC_DROP_HF4) {
            for (int64_t d = 0; d < D; d++) {
                dpm += (double)gn[d] * xn[d];
                dxj[d] += s->pmax[n] * gn[d];
            }
        }
        /* pmax = softmax(logits)[a]: d pmax / d logit_e = p_a (delta_ae - p_e). */
        for (int64_t e = 0; e < E; e++) {
            double v = dpm * p[a] * ((e == a ? 1.0 : 0.0) - p[e]);
            if (dlogits_extra) v += dlogits_extra[n * E + e];
            dl[e] = (float)v;
        }
        sc_tr_linear_bwd(dxj, g->router_w, dl, xn, w->router_w, 1, D, E);
        if (g->router_b)
            for (int64_t e = 0; e < E; e++) g->router_b[e] += dl[e];
        /* x_jittered = x * m: the gradient reaching the un-jittered input is scaled by m. */
        for (int64_t d = 0; d < D; d++) dx[n * D + d] += s->jit ? dxj[d] * s->jit[n * D + d] : dxj[d];
    }
    free(scratch);
    free(count);
    return SC_OK;
}

/* logsumexp of one row, in double. */
static double row_lse(const float *lg, int64_t E) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t e = 0; e < E; e++) mx = lg[e] > mx ? lg[e] : mx;
    for (int64_t e = 0; e < E; e++) sum += exp(lg[e] - mx);
    return mx + log(sum);
}

void sc_tr_router_losses(const sc_tr_moe_save *const *layers, int64_t n, double *z, double *aux,
                         double *frac) {
    *z = *aux = 0.0;
    if (n <= 0) return;
    const int64_t B = layers[0]->B, L = layers[0]->L, E = layers[0]->E;
    const double Ltot = (double)(L * n);
    double zs = 0.0, acc = 0.0;
    double *pm = frac + B * E; /* the spare row */
    for (int64_t b = 0; b < B; b++) {
        double *fr = frac + b * E;
        for (int64_t e = 0; e < E; e++) fr[e] = pm[e] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const sc_tr_moe_save *m = layers[i];
            for (int64_t l = 0; l < L; l++) {
                int64_t t = b * L + l;
                double lse = row_lse(m->logits + t * E, E);
                zs += lse * lse;
                fr[sc_tr_moe_hf_index(m, t)] += 1.0;
                for (int64_t e = 0; e < E; e++) pm[e] += m->probs[t * E + e];
            }
        }
        for (int64_t e = 0; e < E; e++) {
            fr[e] /= Ltot;
            acc += fr[e] * (pm[e] / Ltot);
        }
    }
    *z = zs / ((double)B * Ltot);
    *aux = acc / (double)(B * E) * (double)(E * E);
}

void sc_tr_router_loss_grad(float *dlogits, const sc_tr_moe_save *m, int64_t n, const double *frac, double wz,
                            double waux) {
    const int64_t B = m->B, L = m->L, E = m->E;
    const double Ltot = (double)(L * n);
    /* z: d(lse^2)/dl_e = 2 lse p_e. aux: d/dp_{b,l,e} = E^2/(B*E) frac[b,e] / Ltot, then through
     * the softmax, dl_e = p_e (dp_e - sum_k p_k dp_k). */
    const double zc = wz * 2.0 / ((double)B * Ltot);
    const double ac = waux * (double)(E * E) / (double)(B * E) / Ltot;
    for (int64_t b = 0; b < B; b++)
        for (int64_t l = 0; l < L; l++) {
            int64_t t = b * L + l;
            const float *lg = m->logits + t * E, *p = m->probs + t * E;
            const double *fr = frac + b * E;
            double lse = row_lse(lg, E), dot = 0.0;
            for (int64_t e = 0; e < E; e++) dot += p[e] * fr[e];
            for (int64_t e = 0; e < E; e++)
                dlogits[t * E + e] = (float)(zc * lse * exp(lg[e] - lse) + ac * p[e] * (fr[e] - dot));
        }
}

/* The sparse feed-forward layer for training (reference path): HF 4.x's
 * SwitchTransformersTop1Router + SwitchTransformersSparseMLP forward, with
 * the backward beside it. Routing is computed once in the forward and saved
 * (top-1 expert, kept flag, router probabilities); the backward recomputes
 * capacity and drops from the saved top-1 indices, never by routing again.
 *
 * Per token, in token order within each sequence (HF's cumsum over the
 * sequence axis): expert a = argmax softmax(x Wr^T + b) (first maximum), kept
 * while fewer than `capacity` earlier tokens of the same sequence chose a.
 * Output = pmax * expert_a(x) when kept; a dropped token outputs pmax * x
 * (SC_DROP_HF4, transformers 4.x) or 0 (SC_DROP_ZERO); SC_DROP_NONE keeps
 * every token. With jitter eps > 0 (training only in HF) x is first
 * multiplied IN PLACE by uniform [1-eps, 1+eps] noise, so the experts and the
 * pass-through see the jittered x too. Each expert is DenseActDense (wi, act,
 * dropout, wo).
 *
 * Left out: the grouped dispatch of DESIGN decision 4 (tokens are run one at
 * a time here; the fast path groups them by expert), threads, gated experts. */
#ifndef SC_TRAIN_TRAIN_MOE_H
#define SC_TRAIN_TRAIN_MOE_H

#include "switchc.h"
#include "train/train_ops.h"

/* The weights of one sparse layer (fp32 views; experts may be any pointers). */
typedef struct sc_tr_moe_weights {
    const float *router_w;  /* [E,D] */
    const float *router_b;  /* [E] or NULL */
    const float *const *wi; /* [E] pointers to [F,D] */
    const float *const *wo; /* [E] pointers to [D,F] */
} sc_tr_moe_weights;

/* Its gradients (same layout; NULL entries are skipped). */
typedef struct sc_tr_moe_grads {
    float *router_w, *router_b;
    float *const *wi;
    float *const *wo;
} sc_tr_moe_grads;

/* What the forward saves for the backward (N = B*L tokens). */
typedef struct sc_tr_moe_save {
    int64_t B, L, D, F, E;
    int64_t capacity; /* expert capacity per sequence (the backward recomputes the drops from top) */
    sc_act act;
    sc_drop_policy policy;
    float *x;      /* [N,D] the layer input (jittered in place when jitter is on; not owned) */
    float *jit;    /* [N,D] jitter multipliers, NULL without jitter */
    float *logits; /* [N,E] router logits */
    float *probs;  /* [N,E] softmax(logits) */
    int32_t *top;  /* [N] argmax expert of every token (kept or not) */
    int32_t *kept; /* [N] 1 = processed by its expert, 0 = over capacity */
    float *pmax;   /* [N] router_prob_max */
    float *pre;    /* [N,F] expert pre-activation (kept tokens) */
    float *h;      /* [N,F] expert hidden after act and dropout (kept tokens) */
    float *hmask;  /* [N,F] expert dropout scales, NULL without dropout */
    float *y;      /* [N,D] expert output before the pmax scaling (kept tokens) */
} sc_tr_moe_save;

/* What both twins of the sparse layer's forward do first: checks the sizes,
 * fills *s with its shape and allocates every saved array (zeroed), then
 * applies the jitter to x in place, drawn from r in element order. On
 * failure *s holds nothing. */
sc_status sc_tr_moe_begin(sc_tr_moe_save *s, float *x, int64_t B, int64_t L, int64_t D, int64_t F, int64_t E,
                          sc_act act, int64_t capacity, sc_drop_policy policy, double jitter, double dropout,
                          sc_rng *r, sc_error *err);

/* The routing both twins share, from the router logits in s (bias added):
 * probabilities, the top-1 expert (torch.argmax: the first maximum), its
 * probability, and which tokens the per-sequence capacity keeps (in token
 * order; every one under SC_DROP_NONE). On failure s is freed. */
sc_status sc_tr_moe_route(sc_tr_moe_save *s, sc_error *err);

/* out[N,D] = the sparse layer of x[N,D] (modified in place by jitter). Fills
 * *s (free with sc_tr_moe_save_free). jitter / dropout draw from r in token
 * order (r may be NULL when both are 0). capacity < 1 with SC_DROP_NONE is
 * fine; with other policies capacity counts as given. */
sc_status sc_tr_moe_fwd(float *out, float *x, const sc_tr_moe_weights *w, int64_t B, int64_t L, int64_t D,
                        int64_t F, int64_t E, sc_act act, int64_t capacity, sc_drop_policy policy,
                        double jitter, double dropout, sc_rng *r, sc_tr_moe_save *s, sc_error *err);

/* HF's expert_index of token n: its expert when kept, 0 when dropped (the
 * argmax of an all-zero router mask row). */
static inline int32_t sc_tr_moe_hf_index(const sc_tr_moe_save *s, int64_t n) {
    return s->kept[n] ? s->top[n] : 0;
}

/* dx[N,D] += the input gradient; g receives the weight gradients. dout[N,D]
 * is the gradient of the layer output; dlogits_extra[N,E] (or NULL) is the
 * gradient reaching the router logits from other terms (z-loss, aux loss). */
sc_status sc_tr_moe_bwd(float *dx, const sc_tr_moe_grads *g, const float *dout, const float *dlogits_extra,
                        const sc_tr_moe_weights *w, const sc_tr_moe_save *s, sc_error *err);

void sc_tr_moe_save_free(sc_tr_moe_save *s);

/* HF's router losses of one stack whose n sparse layers (same B, L, E) are
 * concatenated along the sequence (Ltot = n*L positions per row, padding
 * included):
 *   z   = sum over all positions of logsumexp(logits)^2 / (B*Ltot)
 *   aux = E^2 * mean_{b,e}(frac[b,e] * mean_l probs[b,l,e])
 * with frac[b,e] the share of row b's positions whose HF expert index
 * (sc_tr_moe_hf_index: a dropped token counts as expert 0) is e. frac
 * [(B+1)*E] receives frac in its first B*E entries (the last row is scratch);
 * it is a constant of the aux loss (no gradient flows through it). */
void sc_tr_router_losses(const sc_tr_moe_save *const *layers, int64_t n, double *z, double *aux,
                         double *frac);

/* dlogits[N,E] = wz * d z / d logits + waux * d aux / d logits of one of the
 * n layers (frac from sc_tr_router_losses). Overwrites dlogits. */
void sc_tr_router_loss_grad(float *dlogits, const sc_tr_moe_save *m, int64_t n, const double *frac, double wz,
                            double waux);

#endif

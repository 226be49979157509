/* The fast training ops other than the plain GEMMs (train_fast.h): norms,
 * activations, dropout products and residual adds split by rows over the
 * pool; attention one head per task; the cross-entropy one row per item;
 * the sparse layer grouped by expert. Loops are written so the compiler
 * vectorizes them (axpy forms over contiguous rows, no reductions in the
 * innermost loop where that can be avoided).
 *
 * Dimension letters as in train_ops.h. Left out: fused kernels (a norm with
 * the GEMM after it, softmax with its product), experts side by side. */
#include "train/train_fast.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

static bool fast(const sc_trx *x) { return x && x->fast; }
static sc_pool *pool_of(const sc_trx *x) { return x ? x->pool : NULL; }

/* Rows below this many floats of work per task are not worth a wake-up. */
#define GRAIN_FLOATS 16384

static int64_t grain_rows(int64_t width) { return width >= GRAIN_FLOATS ? 1 : GRAIN_FLOATS / width; }

/* ------------------------------------------------------------------ rmsnorm */

typedef struct norm_ctx {
    float *out, *rstd, *dx, **dw_part;
    const float *in, *w, *dout, *rstd_in;
    int64_t D;
    double eps;
    int64_t n, parts;
} norm_ctx;

static void norm_fwd_rows(void *c, int64_t lo, int64_t hi) {
    norm_ctx *t = c;
    sc_tr_rmsnorm_fwd(t->out + lo * t->D, t->rstd + lo, t->in + lo * t->D, t->w, hi - lo, t->D, t->eps);
}

void sc_trx_rmsnorm_fwd(const sc_trx *x, float *out, float *rstd, const float *in, const float *w, int64_t N,
                        int64_t D, double eps) {
    if (!fast(x)) {
        sc_tr_rmsnorm_fwd(out, rstd, in, w, N, D, eps);
        return;
    }
    norm_ctx t = {.out = out, .rstd = rstd, .in = in, .w = w, .D = D, .eps = eps};
    sc_trx_for(pool_of(x), N, grain_rows(D), norm_fwd_rows, &t);
}

/* Part p of the rows: [N*p/P, N*(p+1)/P), each with its own dw partial sum
 * (the sum of the parts is added to dw in part order afterwards). */
static void norm_bwd_part(void *c, int p, int np) {
    norm_ctx *t = c;
    (void)np;
    int64_t lo = t->n * p / t->parts, hi = t->n * (p + 1) / t->parts;
    if (lo >= hi)
        return;
    sc_tr_rmsnorm_bwd(t->dx ? t->dx + lo * t->D : NULL, t->dw_part ? t->dw_part[p] : NULL,
                      t->dout + lo * t->D, t->in + lo * t->D, t->w, t->rstd_in + lo, hi - lo, t->D);
}

void sc_trx_rmsnorm_bwd(const sc_trx *x, float *dx, float *dw, const float *dout, const float *in,
                        const float *w, const float *rstd, int64_t N, int64_t D) {
    int64_t P = fast(x) ? sc_pool_size(pool_of(x)) : 1;
    if (P > N / grain_rows(D))
        P = N / grain_rows(D);
    if (P <= 1) {
        sc_tr_rmsnorm_bwd(dx, dw, dout, in, w, rstd, N, D);
        return;
    }
    float *part = dw ? calloc((size_t)P * (size_t)D, sizeof(float)) : NULL;
    float **parts = dw ? malloc((size_t)P * sizeof(float *)) : NULL;
    if (dw && (!part || !parts)) {
        free(part);
        free(parts);
        sc_tr_rmsnorm_bwd(dx, dw, dout, in, w, rstd, N, D);
        return;
    }
    for (int64_t p = 0; dw && p < P; p++)
        parts[p] = part + p * D;
    norm_ctx t = {.dx = dx,
                  .dw_part = parts,
                  .in = in,
                  .w = w,
                  .dout = dout,
                  .rstd_in = rstd,
                  .D = D,
                  .n = N,
                  .parts = P};
    sc_pool_run(pool_of(x), norm_bwd_part, &t, (int)P);
    for (int64_t p = 0; dw && p < P; p++)
        for (int64_t d = 0; d < D; d++)
            dw[d] += parts[p][d];
    free(part);
    free(parts);
}

/* ------------------------------------------------------- elementwise ops */

typedef struct ew_ctx {
    float *out;
    const float *a, *b;
    sc_act act;
} ew_ctx;

static void act_fwd_r(void *c, int64_t lo, int64_t hi) {
    ew_ctx *t = c;
    sc_tr_act_fwd(t->out + lo, t->a + lo, (size_t)(hi - lo), t->act);
}
static void act_bwd_r(void *c, int64_t lo, int64_t hi) {
    ew_ctx *t = c;
    sc_tr_act_bwd(t->out + lo, t->a + lo, t->b + lo, (size_t)(hi - lo), t->act);
}
static void mul_r(void *c, int64_t lo, int64_t hi) {
    ew_ctx *t = c;
    sc_tr_mul(t->out + lo, t->a + lo, (size_t)(hi - lo));
}
static void add_r(void *c, int64_t lo, int64_t hi) {
    ew_ctx *t = c;
    for (int64_t i = lo; i < hi; i++)
        t->out[i] = t->a[i] + t->b[i];
}

void sc_trx_act_fwd(const sc_trx *x, float *out, const float *pre, size_t n, sc_act act) {
    ew_ctx t = {out, pre, NULL, act};
    sc_trx_for(fast(x) ? x->pool : NULL, (int64_t)n, GRAIN_FLOATS, act_fwd_r, &t);
}

void sc_trx_act_bwd(const sc_trx *x, float *dpre, const float *dout, const float *pre, size_t n, sc_act act) {
    ew_ctx t = {dpre, dout, pre, act};
    sc_trx_for(fast(x) ? x->pool : NULL, (int64_t)n, GRAIN_FLOATS, act_bwd_r, &t);
}

void sc_trx_mul(const sc_trx *x, float *v, const float *mask, size_t n) {
    ew_ctx t = {v, mask, NULL, SC_ACT_RELU};
    sc_trx_for(fast(x) ? x->pool : NULL, (int64_t)n, GRAIN_FLOATS, mul_r, &t);
}

void sc_trx_add(const sc_trx *x, float *out, const float *a, const float *b, size_t n) {
    ew_ctx t = {out, a, b, SC_ACT_RELU};
    sc_trx_for(fast(x) ? x->pool : NULL, (int64_t)n, GRAIN_FLOATS, add_r, &t);
}

/* --------------------------------------------------------------- attention */

typedef struct att_ctx {
    float *ctx, *p, *dq, *dk, *dv, *dbias;
    const float *q, *k, *v, *bias, *pd, *dctx, *pin;
    const int32_t *kmask;
    bool causal;
    int64_t B, H, Lq, Lk, K;
    float *scratch; /* per task: [K*Lk] transposed keys / values + [Lk] row */
    size_t per_task;
    bool failed;
} att_ctx;

/* kt[d*Lk + j] = m[(b*Lk + j)*I + h*K + d]: head h of sequence b, transposed. */
static void head_t(float *kt, const float *m, int64_t b, int64_t h, int64_t Lk, int64_t K, int64_t I) {
    for (int64_t j = 0; j < Lk; j++) {
        const float *r = m + (b * Lk + j) * I + h * K;
        for (int64_t d = 0; d < K; d++)
            kt[d * Lk + j] = r[d];
    }
}

/* Heads [lo, hi) for every sequence: scores as axpy rows over the
 * transposed keys, the reference's masking and softmax, then ctx as axpy
 * rows over the values. */
static void att_fwd_heads(att_ctx *a, float *kt, float *s, int64_t h) {
    const int64_t B = a->B, Lq = a->Lq, Lk = a->Lk, K = a->K, H = a->H, I = H * K;
    for (int64_t b = 0; b < B; b++) {
        head_t(kt, a->k, b, h, Lk, K, I);
        const int32_t *km = a->kmask ? a->kmask + b * Lk : NULL;
        for (int64_t i = 0; i < Lq; i++) {
            float *pr = a->p + ((b * H + h) * Lq + i) * Lk;
            const float *qi = a->q + (b * Lq + i) * I + h * K;
            for (int64_t j = 0; j < Lk; j++)
                s[j] = 0.0f;
            for (int64_t d = 0; d < K; d++) {
                const float qd = qi[d], *kr = kt + d * Lk;
                for (int64_t j = 0; j < Lk; j++)
                    s[j] += qd * kr[j];
            }
            int64_t open = 0;
            for (int64_t j = 0; j < Lk; j++)
                if (!(a->causal && j > i) && !(km && !km[j]))
                    open++;
            float mx = -INFINITY;
            const float *br = a->bias ? a->bias + (h * Lq + i) * Lk : NULL;
            for (int64_t j = 0; j < Lk; j++) {
                bool masked = open && ((a->causal && j > i) || (km && !km[j]));
                if (masked) {
                    pr[j] = -INFINITY;
                    continue;
                }
                float v = s[j];
                if (br)
                    v += br[j];
                if (!open)
                    v = 0.0f; /* every key masked: uniform, as the reference */
                pr[j] = v;
                if (v > mx)
                    mx = v;
            }
            double sum = 0.0;
            for (int64_t j = 0; j < Lk; j++) {
                float e = pr[j] == -INFINITY ? 0.0f : expf(pr[j] - mx);
                pr[j] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < Lk; j++)
                pr[j] *= inv;
            const float *pdr = a->pd ? a->pd + ((b * H + h) * Lq + i) * Lk : NULL;
            float *ci = a->ctx + (b * Lq + i) * I + h * K;
            for (int64_t d = 0; d < K; d++)
                ci[d] = 0.0f;
            for (int64_t j = 0; j < Lk; j++) {
                float w = pdr ? pr[j] * pdr[j] : pr[j];
                if (w == 0.0f)
                    continue;
                const float *vj = a->v + (b * Lk + j) * I + h * K;
                for (int64_t d = 0; d < K; d++)
                    ci[d] += w * vj[d];
            }
        }
    }
}

/* The backward of one head for every sequence (so dbias[h] has one writer). */
static void att_bwd_heads(att_ctx *a, float *vt, float *dp, int64_t h) {
    const int64_t B = a->B, Lq = a->Lq, Lk = a->Lk, K = a->K, H = a->H, I = H * K;
    for (int64_t b = 0; b < B; b++) {
        head_t(vt, a->v, b, h, Lk, K, I);
        for (int64_t i = 0; i < Lq; i++) {
            const float *pr = a->pin + ((b * H + h) * Lq + i) * Lk;
            const float *pdr = a->pd ? a->pd + ((b * H + h) * Lq + i) * Lk : NULL;
            const float *gi = a->dctx + (b * Lq + i) * I + h * K;
            const float *qi = a->q + (b * Lq + i) * I + h * K;
            /* dp_j = (dctx_i . v_j) pd_j, as axpy rows over v^T. */
            for (int64_t j = 0; j < Lk; j++)
                dp[j] = 0.0f;
            for (int64_t d = 0; d < K; d++) {
                const float g = gi[d], *vr = vt + d * Lk;
                for (int64_t j = 0; j < Lk; j++)
                    dp[j] += g * vr[j];
            }
            if (pdr)
                for (int64_t j = 0; j < Lk; j++)
                    dp[j] *= pdr[j];
            double s = 0.0;
            for (int64_t j = 0; j < Lk; j++)
                s += (double)pr[j] * dp[j];
            float *dqi = a->dq ? a->dq + (b * Lq + i) * I + h * K : NULL;
            for (int64_t j = 0; j < Lk; j++) {
                if (pr[j] == 0.0f)
                    continue; /* masked key: no gradient */
                if (a->dv) {
                    float w = pdr ? pr[j] * pdr[j] : pr[j];
                    float *dvj = a->dv + (b * Lk + j) * I + h * K;
                    for (int64_t d = 0; d < K; d++)
                        dvj[d] += w * gi[d];
                }
                float ds = (float)(pr[j] * ((double)dp[j] - s));
                if (a->dbias)
                    a->dbias[(h * Lq + i) * Lk + j] += ds;
                if (dqi) {
                    const float *kj = a->k + (b * Lk + j) * I + h * K;
                    for (int64_t d = 0; d < K; d++)
                        dqi[d] += ds * kj[d];
                }
                if (a->dk) {
                    float *dkj = a->dk + (b * Lk + j) * I + h * K;
                    for (int64_t d = 0; d < K; d++)
                        dkj[d] += ds * qi[d];
                }
            }
        }
    }
}

static void att_task(void *c, int t, int nt, bool bwd) {
    att_ctx *a = c;
    float *kt = a->scratch + (size_t)t * a->per_task, *row = kt + a->K * a->Lk;
    for (int64_t h = t; h < a->H; h += nt) {
        if (bwd)
            att_bwd_heads(a, kt, row, h);
        else
            att_fwd_heads(a, kt, row, h);
    }
}
static void att_fwd_task(void *c, int t, int nt) { att_task(c, t, nt, false); }
static void att_bwd_task(void *c, int t, int nt) { att_task(c, t, nt, true); }

/* Scratch for n tasks of [K*Lk + Lk] floats; NULL on overflow or no memory. */
static float *att_scratch(att_ctx *a, int n) {
    size_t per, all;
    if (!sc_mul_size((size_t)a->K + 1, (size_t)a->Lk, &per) || !sc_mul_size(per, (size_t)n, &all) ||
        all > SIZE_MAX / sizeof(float))
        return NULL;
    a->per_task = per;
    return a->scratch = malloc(all * sizeof(float));
}

static int att_tasks(const sc_trx *x, int64_t H) {
    int n = sc_pool_size(x->pool);
    return H < n ? (int)H : n;
}

void sc_trx_attention_fwd(const sc_trx *x, float *ctx, float *p, const float *q, const float *k,
                          const float *v, const float *bias, const int32_t *kmask, bool causal,
                          const float *pd, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t K) {
    att_ctx a = {.ctx = ctx,
                 .p = p,
                 .q = q,
                 .k = k,
                 .v = v,
                 .bias = bias,
                 .kmask = kmask,
                 .causal = causal,
                 .pd = pd,
                 .B = B,
                 .H = H,
                 .Lq = Lq,
                 .Lk = Lk,
                 .K = K};
    int n = fast(x) ? att_tasks(x, H) : 0;
    if (!fast(x) || !att_scratch(&a, n)) {
        sc_tr_attention_fwd(ctx, p, q, k, v, bias, kmask, causal, pd, B, H, Lq, Lk, K);
        return;
    }
    if (n > 1)
        sc_pool_run(x->pool, att_fwd_task, &a, n);
    else
        att_fwd_task(&a, 0, 1);
    free(a.scratch);
}

void sc_trx_attention_bwd(const sc_trx *x, float *dq, float *dk, float *dv, float *dbias, const float *dctx,
                          const float *q, const float *k, const float *v, const float *p, const float *pd,
                          int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t K) {
    att_ctx a = {.dq = dq,
                 .dk = dk,
                 .dv = dv,
                 .dbias = dbias,
                 .dctx = dctx,
                 .q = q,
                 .k = k,
                 .v = v,
                 .pin = p,
                 .pd = pd,
                 .B = B,
                 .H = H,
                 .Lq = Lq,
                 .Lk = Lk,
                 .K = K};
    int n = fast(x) ? att_tasks(x, H) : 0;
    if (!fast(x) || !att_scratch(&a, n)) {
        sc_tr_attention_bwd(dq, dk, dv, dbias, dctx, q, k, v, p, pd, B, H, Lq, Lk, K);
        return;
    }
    if (n > 1)
        sc_pool_run(x->pool, att_bwd_task, &a, n);
    else
        att_bwd_task(&a, 0, 1);
    free(a.scratch);
}

/* ------------------------------------------------------------ cross-entropy */

typedef struct ce_ctx {
    float *dlogits;
    const float *logits;
    const int32_t *labels;
    int64_t V;
    double sc;
    double *row_loss;
} ce_ctx;

/* Rows [lo, hi): the reference's per-row arithmetic, so the loss and the
 * gradient are the reference's bit for bit. */
static void ce_rows(void *c, int64_t lo, int64_t hi) {
    ce_ctx *t = c;
    const int64_t V = t->V;
    for (int64_t n = lo; n < hi; n++) {
        t->row_loss[n] = 0.0;
        if (t->labels[n] == -100)
            continue;
        const float *x = t->logits + n * V;
        double mx = -INFINITY;
        for (int64_t v = 0; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int64_t v = 0; v < V; v++)
            sum += exp(x[v] - mx);
        double lse = mx + log(sum);
        t->row_loss[n] = lse - x[t->labels[n]];
        if (t->dlogits) {
            float *g = t->dlogits + n * V;
            for (int64_t v = 0; v < V; v++)
                g[v] += (float)(t->sc * exp(x[v] - lse));
            g[t->labels[n]] -= (float)t->sc;
        }
    }
}

double sc_trx_cross_entropy(const sc_trx *x, float *dlogits, const float *logits, const int32_t *labels,
                            int64_t N, int64_t V, double weight, int64_t *count) {
    double *rl = fast(x) ? malloc((size_t)N * sizeof(double)) : NULL;
    if (!rl)
        return sc_tr_cross_entropy(dlogits, logits, labels, N, V, weight, count);
    int64_t cnt = 0;
    for (int64_t n = 0; n < N; n++)
        if (labels[n] != -100)
            cnt++;
    if (count)
        *count = cnt;
    if (cnt == 0) {
        free(rl);
        return NAN;
    }
    ce_ctx t = {dlogits, logits, labels, V, weight / (double)cnt, rl};
    sc_trx_for(x->pool, N, 1, ce_rows, &t);
    double total = 0.0;
    for (int64_t n = 0; n < N; n++)
        total += rl[n];
    free(rl);
    return total / (double)cnt;
}

/* ---------------------------------------------------------------- sparse */

/* Tokens grouped by expert: the kept tokens of expert e, in token order,
 * are idx[start[e] .. start[e+1]). */
typedef struct groups {
    int64_t *start; /* [E+1] */
    int64_t *idx;   /* [N] */
} groups;

static bool group_tokens(groups *g, const sc_tr_moe_save *s) {
    const int64_t N = s->B * s->L, E = s->E;
    g->start = calloc((size_t)E + 1, sizeof(int64_t));
    g->idx = malloc((size_t)N * sizeof(int64_t));
    if (!g->start || !g->idx)
        return false;
    for (int64_t n = 0; n < N; n++)
        if (s->kept[n])
            g->start[s->top[n] + 1]++;
    for (int64_t e = 0; e < E; e++)
        g->start[e + 1] += g->start[e];
    int64_t *fill = malloc((size_t)E * sizeof(int64_t));
    if (!fill)
        return false;
    memcpy(fill, g->start, (size_t)E * sizeof(int64_t));
    for (int64_t n = 0; n < N; n++)
        if (s->kept[n])
            g->idx[fill[s->top[n]]++] = n;
    free(fill);
    return true;
}

static void groups_free(groups *g) {
    free(g->start);
    free(g->idx);
}

typedef struct rows_ctx {
    float *dst;
    const float *src;
    const int64_t *idx;
    int64_t W;
    const float *scale; /* per source row, or NULL */
    bool scatter, accumulate;
} rows_ctx;

/* Gather dst[i] = src[idx[i]] (* scale[idx[i]]), or scatter dst[idx[i]] (+)= src[i]. */
static void rows_run(void *c, int64_t lo, int64_t hi) {
    const rows_ctx *t = c;
    for (int64_t i = lo; i < hi; i++) {
        int64_t n = t->idx[i];
        if (t->scatter) {
            float *d = t->dst + n * t->W;
            const float *s = t->src + i * t->W;
            if (t->accumulate)
                for (int64_t k = 0; k < t->W; k++)
                    d[k] += s[k];
            else
                memcpy(d, s, (size_t)t->W * sizeof(float));
        } else {
            float *d = t->dst + i * t->W;
            const float *s = t->src + n * t->W;
            if (t->scale) {
                float m = t->scale[n];
                for (int64_t k = 0; k < t->W; k++)
                    d[k] = m * s[k];
            } else {
                memcpy(d, s, (size_t)t->W * sizeof(float));
            }
        }
    }
}

static void gather(sc_pool *p, float *dst, const float *src, const int64_t *idx, int64_t n, int64_t W,
                   const float *scale) {
    rows_ctx t = {dst, src, idx, W, scale, false, false};
    sc_trx_for(p, n, grain_rows(W), rows_run, &t);
}

static void scatter(sc_pool *p, float *dst, const float *src, const int64_t *idx, int64_t n, int64_t W,
                    bool accumulate) {
    rows_ctx t = {dst, src, idx, W, NULL, true, accumulate};
    sc_trx_for(p, n, grain_rows(W), rows_run, &t);
}


sc_status sc_trx_moe_fwd(const sc_trx *x, float *out, float *in, const sc_tr_moe_weights *w, int64_t B,
                         int64_t L, int64_t D, int64_t F, int64_t E, sc_act act, int64_t capacity,
                         sc_drop_policy policy, double jitter, double dropout, sc_rng *r, sc_tr_moe_save *s,
                         sc_error *err) {
    if (!fast(x))
        return sc_tr_moe_fwd(out, in, w, B, L, D, F, E, act, capacity, policy, jitter, dropout, r, s, err);
    sc_status st0 = sc_tr_moe_begin(s, in, B, L, D, F, E, act, capacity, policy, jitter, dropout, r, err);
    if (st0) return st0;
    const size_t N = (size_t)(B * L);
    groups gr = {0};
    float *xe = NULL, *he = NULL;
    sc_pool *pool = x->pool;
    sc_trx_linear_fwd(x, s->logits, in, w->router_w, (int64_t)N, D, E);
    if (w->router_b)
        for (size_t n = 0; n < N; n++)
            for (int64_t e = 0; e < E; e++)
                s->logits[n * E + e] += w->router_b[e];
    if ((st0 = sc_tr_moe_route(s, err))) return st0;
    /* The experts' dropout masks in token order (the reference draws them token by token). */
    if (s->hmask)
        for (size_t n = 0; n < N; n++)
            if (s->kept[n])
                sc_tr_dropout_mask(s->hmask + n * F, (size_t)F, dropout, r);
    int64_t maxn = 0;
    if (!group_tokens(&gr, s))
        goto nomem;
    for (int64_t e = 0; e < E; e++)
        if (gr.start[e + 1] - gr.start[e] > maxn)
            maxn = gr.start[e + 1] - gr.start[e];
    xe = malloc((size_t)(maxn ? maxn : 1) * (size_t)(D > F ? D : F) * sizeof(float));
    he = malloc((size_t)(maxn ? maxn : 1) * (size_t)F * sizeof(float));
    if (!xe || !he)
        goto nomem;
    for (int64_t e = 0; e < E; e++) {
        const int64_t *idx = gr.idx + gr.start[e], ne = gr.start[e + 1] - gr.start[e];
        if (ne == 0)
            continue;
        gather(pool, xe, in, idx, ne, D, NULL);
        sc_trx_linear_fwd(x, he, xe, w->wi[e], ne, D, F); /* pre [ne,F] */
        scatter(pool, s->pre, he, idx, ne, F, false);
        sc_trx_act_fwd(x, he, he, (size_t)(ne * F), act);
        if (s->hmask) {
            gather(pool, xe, s->hmask, idx, ne, F, NULL);
            sc_trx_mul(x, he, xe, (size_t)(ne * F));
        }
        scatter(pool, s->h, he, idx, ne, F, false);
        sc_trx_linear_fwd(x, xe, he, w->wo[e], ne, F, D); /* y [ne,D] */
        scatter(pool, s->y, xe, idx, ne, D, false);
    }
    for (size_t n = 0; n < N; n++) {
        float *o = out + n * D;
        const float *src = s->kept[n] ? s->y + n * D : in + n * D;
        float m = s->kept[n] || policy == SC_DROP_HF4 ? s->pmax[n] : 0.0f;
        for (int64_t d = 0; d < D; d++)
            o[d] = m * src[d];
    }
    groups_free(&gr);
    free(xe);
    free(he);
    return SC_OK;
nomem:
    groups_free(&gr);
    free(xe);
    free(he);
    sc_tr_moe_save_free(s);
    return sc_fail(err, SC_ERR_NOMEM, 0, "sparse layer: out of memory for %zu tokens", N);
}

sc_status sc_trx_moe_bwd(const sc_trx *x, float *dx, const sc_tr_moe_grads *g, const float *dout,
                         const float *dlogits_extra, const sc_tr_moe_weights *w, const sc_tr_moe_save *s,
                         sc_error *err) {
    if (!fast(x))
        return sc_tr_moe_bwd(dx, g, dout, dlogits_extra, w, s, err);
    const int64_t N = s->B * s->L, D = s->D, F = s->F, E = s->E;
    sc_pool *pool = x->pool;
    groups gr = {0};
    int64_t *count = calloc((size_t)E, sizeof(int64_t));
    float *dxj = calloc((size_t)N * (size_t)D, sizeof(float));
    float *dl = malloc((size_t)N * (size_t)E * sizeof(float));
    float *a = NULL, *bb = NULL, *c = NULL;
    if (!count || !dxj || !dl || !group_tokens(&gr, s))
        goto nomem;
    int64_t maxn = 0;
    for (int64_t e = 0; e < E; e++)
        if (gr.start[e + 1] - gr.start[e] > maxn)
            maxn = gr.start[e + 1] - gr.start[e];
    size_t wide = (size_t)(maxn ? maxn : 1) * (size_t)(D > F ? D : F);
    a = malloc(wide * sizeof(float));
    bb = malloc(wide * sizeof(float));
    c = malloc(wide * sizeof(float));
    if (!a || !bb || !c)
        goto nomem;
    /* Capacity and drops from the saved top-1 indices, never by routing again. */
    for (int64_t n = 0; n < N; n++) {
        if (n % s->L == 0)
            memset(count, 0, sizeof(int64_t) * (size_t)E);
        bool kept = s->policy == SC_DROP_NONE || ++count[s->top[n]] <= s->capacity;
        assert(kept == (s->kept[n] != 0));
        (void)kept;
    }
    /* Each expert on its gathered tokens: dy = pmax * dout; dh = dy Wo; dWo += dy^T h; dh *= mask;
     * dpre = act'(pre) dh; dxe = dpre Wi; dWi += dpre^T xe. */
    for (int64_t e = 0; e < E; e++) {
        const int64_t *idx = gr.idx + gr.start[e], ne = gr.start[e + 1] - gr.start[e];
        if (ne == 0)
            continue;
        gather(pool, a, dout, idx, ne, D, s->pmax); /* dy [ne,D] */
        gather(pool, bb, s->h, idx, ne, F, NULL);   /* h [ne,F] */
        memset(c, 0, (size_t)(ne * F) * sizeof(float));
        sc_trx_linear_bwd(x, c, g->wo ? g->wo[e] : NULL, a, bb, w->wo[e], ne, F, D); /* dh in c */
        if (s->hmask) {
            gather(pool, bb, s->hmask, idx, ne, F, NULL);
            sc_trx_mul(x, c, bb, (size_t)(ne * F));
        }
        gather(pool, bb, s->pre, idx, ne, F, NULL);
        memset(a, 0, (size_t)(ne * F) * sizeof(float));
        sc_trx_act_bwd(x, a, c, bb, (size_t)(ne * F), s->act); /* dpre in a */
        gather(pool, bb, s->x, idx, ne, D, NULL);              /* xe */
        memset(c, 0, (size_t)(ne * D) * sizeof(float));
        sc_trx_linear_bwd(x, c, g->wi ? g->wi[e] : NULL, a, bb, w->wi[e], ne, D, F);
        scatter(pool, dxj, c, idx, ne, D, true);
    }
    /* The router: pmax = softmax(logits)[a], its gradient from dout . y (kept) or dout . x (HF4 drop). */
    for (int64_t n = 0; n < N; n++) {
        const float *gn = dout + n * D, *p = s->probs + n * E;
        int32_t at = s->top[n];
        double dpm = 0.0;
        if (s->kept[n]) {
            const float *y = s->y + n * D;
            for (int64_t d = 0; d < D; d++)
                dpm += (double)gn[d] * y[d];
        } else if (s->policy == SC_DROP_HF4) {
            const float *xn = s->x + n * D;
            float *dj = dxj + n * D;
            for (int64_t d = 0; d < D; d++) {
                dpm += (double)gn[d] * xn[d];
                dj[d] += s->pmax[n] * gn[d];
            }
        }
        for (int64_t k = 0; k < E; k++) {
            double v = dpm * p[at] * ((k == at ? 1.0 : 0.0) - p[k]);
            if (dlogits_extra)
                v += dlogits_extra[n * E + k];
            dl[n * E + k] = (float)v;
        }
    }
    sc_trx_linear_bwd(x, dxj, g->router_w, dl, s->x, w->router_w, N, D, E);
    if (g->router_b)
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < E; k++)
                g->router_b[k] += dl[n * E + k];
    /* x_jittered = x * m: the gradient reaching the un-jittered input is scaled by m. */
    if (s->jit)
        sc_trx_mul(x, dxj, s->jit, (size_t)(N * D));
    sc_trx_add(x, dx, dx, dxj, (size_t)(N * D));
    groups_free(&gr);
    free(count);
    free(dxj);
    free(dl);
    free(a);
    free(bb);
    free(c);
    return SC_OK;
nomem:
    groups_free(&gr);
    free(count);
    free(dxj);
    free(dl);
    free(a);
    free(bb);
    free(c);
    return sc_fail(err, SC_ERR_NOMEM, 0, "sparse layer backward: out of memory");
}

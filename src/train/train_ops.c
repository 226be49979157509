/* Training ops of the reference path (see train_ops.h): each forward with
 * its backward right below it. What is left out: threads and SIMD (the fast
 * twins are in train_fast.c and train_gemm.c, checked against these), bf16/f16
 * compute. */
#include "train/train_ops.h"

#include <math.h>
#include <string.h>

#include "model/attention.h" /* sc_relative_bucket: the inference engine's HF bucket rule */

/* ------------------------------------------------------------------ linear */

void sc_tr_linear_fwd(float *out, const float *x, const float *W, int64_t N, int64_t In, int64_t O) {
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * In;
        for (int64_t o = 0; o < O; o++) {
            const float *wo = W + o * In;
            double acc = 0.0;
            for (int64_t i = 0; i < In; i++) acc += (double)xn[i] * wo[i];
            out[n * O + o] = (float)acc;
        }
    }
}

void sc_tr_linear_bwd(float *dx, float *dW, const float *dout, const float *x, const float *W, int64_t N,
                      int64_t In, int64_t O) {
    if (dx) {
        for (int64_t n = 0; n < N; n++) {
            const float *g = dout + n * O;
            for (int64_t i = 0; i < In; i++) {
                double acc = 0.0;
                for (int64_t o = 0; o < O; o++) acc += (double)g[o] * W[o * In + i];
                dx[n * In + i] += (float)acc;
            }
        }
    }
    if (dW) {
        for (int64_t o = 0; o < O; o++) {
            for (int64_t i = 0; i < In; i++) {
                double acc = 0.0;
                for (int64_t n = 0; n < N; n++) acc += (double)dout[n * O + o] * x[n * In + i];
                dW[o * In + i] += (float)acc;
            }
        }
    }
}

/* ----------------------------------------------------------------- rmsnorm */

void sc_tr_rmsnorm_fwd(float *out, float *rstd, const float *x, const float *w, int64_t N, int64_t D,
                       double eps) {
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * D;
        double ss = 0.0;
        for (int64_t d = 0; d < D; d++) ss += (double)xn[d] * xn[d];
        /* HF: variance in fp32, hidden = x * rsqrt(var + eps), then weight * hidden. */
        float var = (float)(ss / (double)D);
        float r = 1.0f / sqrtf(var + (float)eps);
        rstd[n] = r;
        for (int64_t d = 0; d < D; d++) out[n * D + d] = w[d] * (xn[d] * r);
    }
}

void sc_tr_rmsnorm_bwd(float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int64_t N, int64_t D) {
    for (int64_t n = 0; n < N; n++) {
        const float *xn = x + n * D, *g = dout + n * D;
        double r = rstd[n];
        if (dw)
            for (int64_t d = 0; d < D; d++) dw[d] += (float)((double)g[d] * xn[d] * r);
        if (!dx) continue;
        /* y_d = w_d x_d r with r = (mean(x^2) + eps)^-1/2, dr/dx_d = -r^3 x_d / D. */
        double dot = 0.0;
        for (int64_t d = 0; d < D; d++) dot += (double)g[d] * w[d] * xn[d];
        double c = dot * r * r * r / (double)D;
        for (int64_t d = 0; d < D; d++) dx[n * D + d] += (float)((double)g[d] * w[d] * r - xn[d] * c);
    }
}

/* -------------------------------------------------------------- activation */

void sc_tr_act_fwd(float *out, const float *pre, size_t n, sc_act act) {
    for (size_t i = 0; i < n; i++) {
        float v = pre[i];
        switch (act) {
        case SC_ACT_RELU: out[i] = v > 0.0f ? v : 0.0f; break;
        case SC_ACT_GELU_NEW: /* HF NewGELUActivation: the tanh approximation */
            out[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
            break;
        case SC_ACT_GELU: out[i] = 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)); break;
        }
    }
}

void sc_tr_act_bwd(float *dpre, const float *dout, const float *pre, size_t n, sc_act act) {
    for (size_t i = 0; i < n; i++) {
        double v = pre[i], d;
        switch (act) {
        case SC_ACT_RELU: d = v > 0.0 ? 1.0 : 0.0; break; /* torch: relu'(0) = 0 */
        case SC_ACT_GELU_NEW: {
            double c = 0.7978845608028654, u = c * (v + 0.044715 * v * v * v);
            double t = tanh(u);
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * v * v);
            break;
        }
        default: /* exact GELU: Phi(v) + v phi(v) */
            d = 0.5 * (1.0 + erf(v * 0.7071067811865476)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
            break;
        }
        dpre[i] += (float)(dout[i] * d);
    }
}

/* ----------------------------------------------------------------- dropout */

void sc_tr_dropout_mask(float *mask, size_t n, double p, sc_rng *r) {
    float keep = p >= 1.0 ? 0.0f : (float)(1.0 / (1.0 - p));
    for (size_t i = 0; i < n; i++) mask[i] = sc_rng_uniform(r) < p ? 0.0f : keep;
}

void sc_tr_mul(float *x, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= mask[i];
}

/* ----------------------------------------------------- relative position bias */

void sc_tr_position_bias_fwd(float *bias, const float *table, int64_t H, int64_t Lq, int64_t Lk,
                             bool bidirectional, int64_t num_buckets, int64_t max_distance) {
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t j = 0; j < Lk; j++) {
            int64_t bk = sc_relative_bucket(j - i, bidirectional, num_buckets, max_distance);
            for (int64_t h = 0; h < H; h++) bias[(h * Lq + i) * Lk + j] = table[bk * H + h];
        }
}

void sc_tr_position_bias_bwd(float *dtable, const float *dbias, int64_t H, int64_t Lq, int64_t Lk,
                             bool bidirectional, int64_t num_buckets, int64_t max_distance) {
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t j = 0; j < Lk; j++) {
            int64_t bk = sc_relative_bucket(j - i, bidirectional, num_buckets, max_distance);
            for (int64_t h = 0; h < H; h++) dtable[bk * H + h] += dbias[(h * Lq + i) * Lk + j];
        }
}

/* --------------------------------------------------------------- attention */

void sc_tr_attention_fwd(float *ctx, float *p, const float *q, const float *k, const float *v,
                         const float *bias, const int32_t *kmask, bool causal, const float *pd, int64_t B,
                         int64_t H, int64_t Lq, int64_t Lk, int64_t K) {
    const int64_t I = H * K;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                float *pr = p + ((b * H + h) * Lq + i) * Lk;
                const float *qi = q + (b * Lq + i) * I + h * K;
                int64_t open = 0;
                for (int64_t j = 0; j < Lk; j++)
                    if (!(causal && j > i) && !(kmask && !kmask[b * Lk + j])) open++;
                float mx = -INFINITY;
                for (int64_t j = 0; j < Lk; j++) {
                    bool masked = open && ((causal && j > i) || (kmask && !kmask[b * Lk + j]));
                    if (masked) {
                        pr[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = k + (b * Lk + j) * I + h * K;
                    double acc = 0.0;
                    for (int64_t d = 0; d < K; d++) acc += (double)qi[d] * kj[d];
                    float s = (float)acc;
                    if (bias) s += bias[(h * Lq + i) * Lk + j];
                    if (!open) s = 0.0f; /* every key masked: equal scores (see the header) */
                    pr[j] = s;
                    if (s > mx) mx = s;
                }
                double sum = 0.0;
                for (int64_t j = 0; j < Lk; j++) {
                    float e = pr[j] == -INFINITY ? 0.0f : expf(pr[j] - mx);
                    pr[j] = e;
                    sum += e;
                }
                float inv = (float)(1.0 / sum);
                for (int64_t j = 0; j < Lk; j++) pr[j] *= inv;
                const float *pdr = pd ? pd + ((b * H + h) * Lq + i) * Lk : NULL;
                float *ci = ctx + (b * Lq + i) * I + h * K;
                for (int64_t d = 0; d < K; d++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < Lk; j++) {
                        double pj = pdr ? (double)(pr[j] * pdr[j]) : pr[j];
                        acc += pj * v[(b * Lk + j) * I + h * K + d];
                    }
                    ci[d] = (float)acc;
                }
            }
}

static double dot_v(const float *a, const float *b, int64_t n) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) acc += (double)a[i] * b[i];
    return acc;
}

void sc_tr_attention_bwd(float *dq, float *dk, float *dv, float *dbias, const float *dctx, const float *q,
                         const float *k, const float *v, const float *p, const float *pd, int64_t B,
                         int64_t H, int64_t Lq, int64_t Lk, int64_t K) {
    const int64_t I = H * K;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                const float *pr = p + ((b * H + h) * Lq + i) * Lk;
                const float *pdr = pd ? pd + ((b * H + h) * Lq + i) * Lk : NULL;
                const float *gi = dctx + (b * Lq + i) * I + h * K;
                const float *qi = q + (b * Lq + i) * I + h * K;
                /* dp_j = (dctx_i . v_j) * pd_j, recomputed in the second pass rather than kept
                 * in a [Lk] buffer; dv_j += p_j pd_j dctx_i. */
                double s = 0.0;
                for (int64_t j = 0; j < Lk; j++) {
                    if (pr[j] == 0.0f) continue;
                    double dp = dot_v(gi, v + (b * Lk + j) * I + h * K, K) * (pdr ? pdr[j] : 1.0);
                    s += pr[j] * dp;
                    if (dv) {
                        float w = pdr ? pr[j] * pdr[j] : pr[j];
                        float *dvj = dv + (b * Lk + j) * I + h * K;
                        for (int64_t d = 0; d < K; d++) dvj[d] += w * gi[d];
                    }
                }
                for (int64_t j = 0; j < Lk; j++) {
                    if (pr[j] == 0.0f) continue; /* masked key: no gradient */
                    double dp = dot_v(gi, v + (b * Lk + j) * I + h * K, K) * (pdr ? pdr[j] : 1.0);
                    double ds = pr[j] * (dp - s); /* softmax backward */
                    if (dbias) dbias[(h * Lq + i) * Lk + j] += (float)ds;
                    const float *kj = k + (b * Lk + j) * I + h * K;
                    if (dq) {
                        float *dqi = dq + (b * Lq + i) * I + h * K;
                        for (int64_t d = 0; d < K; d++) dqi[d] += (float)(ds * kj[d]);
                    }
                    if (dk) {
                        float *dkj = dk + (b * Lk + j) * I + h * K;
                        for (int64_t d = 0; d < K; d++) dkj[d] += (float)(ds * qi[d]);
                    }
                }
            }
}

/* ------------------------------------------------------------ softmax / CE */

void sc_tr_softmax_rows(float *p, const float *x, int64_t N, int64_t E) {
    for (int64_t n = 0; n < N; n++) {
        const float *xr = x + n * E;
        float *pr = p + n * E;
        float mx = -INFINITY;
        for (int64_t e = 0; e < E; e++) mx = xr[e] > mx ? xr[e] : mx;
        double sum = 0.0;
        for (int64_t e = 0; e < E; e++) {
            pr[e] = expf(xr[e] - mx);
            sum += pr[e];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t e = 0; e < E; e++) pr[e] *= inv;
    }
}

double sc_tr_cross_entropy(float *dlogits, const float *logits, const int32_t *labels, int64_t N, int64_t V,
                           double weight, int64_t *count) {
    int64_t cnt = 0;
    for (int64_t n = 0; n < N; n++)
        if (labels[n] != -100) cnt++;
    if (count) *count = cnt;
    if (cnt == 0) return NAN;
    double total = 0.0;
    for (int64_t n = 0; n < N; n++) {
        if (labels[n] == -100) continue;
        const float *x = logits + n * V;
        double mx = -INFINITY;
        for (int64_t v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int64_t v = 0; v < V; v++) sum += exp(x[v] - mx);
        double lse = mx + log(sum);
        total += lse - x[labels[n]];
        if (dlogits) {
            double sc = weight / (double)cnt;
            float *g = dlogits + n * V;
            for (int64_t v = 0; v < V; v++) g[v] += (float)(sc * exp(x[v] - lse));
            g[labels[n]] -= (float)sc;
        }
    }
    return total / (double)cnt;
}

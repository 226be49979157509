/* The training ops (src/train) on tiny random inputs:
 *   - finite-difference checks of every backward: rmsnorm, linear,
 *     activations, the dense FF with dropout, attention with relative
 *     position bias (bidirectional + key mask + attention dropout, and
 *     causal), the sparse layer with capacity drops (HF 4.x pass-through and
 *     zero policy, router bias, jitter, expert dropout), cross-entropy, the
 *     z-loss and the aux loss; central differences in fp32 against the
 *     analytic gradient, normwise (max|fd-an| / max|an|);
 *   - dropout and jitter: a seeded forward equals a recomputation by hand
 *     with the recorded masks / multipliers; rate 0 equals no dropout;
 *   - a whole random model (dropped tokens, router losses on, tied
 *     embeddings): finite differences of the loss, of the CE term, of the z
 *     term and of the aux term against sc_train_backward with those weights,
 *     with dropout and jitter on at a fixed seed as well as off.
 * Prints the worst normwise error of each check. */
#include "test_util.h"

#include "train/backward.h"

static sc_rng g_rng;

static double randn(void) {
    double u1 = sc_rng_uniform(&g_rng), u2 = sc_rng_uniform(&g_rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void fill(float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * randn());
}

static double dot_r(const float *a, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

/* A scalar function of the op's inputs (the op's output dotted with fixed
 * random weights); NAN when the perturbation changed a discrete choice. */
typedef double (*loss_fn)(void *ctx);

/* Central differences of f over x[n] against the analytic gradient an[n];
 * returns the normwise error. */
static double fd_check(const char *what, float *x, const float *an, size_t n, loss_fn f, void *ctx, float h,
                       double tol) {
    double md = 0, ma = 0;
    int skipped = 0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double lp = f(ctx);
        x[i] = x0 - h;
        double lm = f(ctx);
        x[i] = x0;
        double hh = (double)(x0 + h) - (double)(x0 - h);
        if (isnan(lp) || isnan(lm)) {
            skipped++;
            continue;
        }
        double fd = (lp - lm) / hh;
        if (fabs(fd - an[i]) > md || isnan(an[i])) md = isnan(an[i]) ? INFINITY : fabs(fd - an[i]);
        if (fabs(an[i]) > ma) ma = fabs(an[i]);
    }
    double e = ma > 0 ? md / ma : md;
    printf("  %-44s normwise %.2e (max|grad| %.2e%s)\n", what, e, ma,
           skipped ? ", some entries skipped" : "");
    CHECKF(e <= tol && skipped * 4 < (int)n + 1,
           "%s: finite differences off by %.3g (tolerance %.3g), %d skipped", what, e, tol, skipped);
    CHECKF(ma > 0 || n == 0, "%s: the gradient is not all zero", what);
    return e;
}

/* ---------------------------------------------------------------- rmsnorm */

typedef struct {
    float *x, *w, *r, *out, *rstd;
    int64_t N, D;
} rms_ctx;

static double rms_loss(void *p) {
    rms_ctx *c = p;
    sc_tr_rmsnorm_fwd(c->out, c->rstd, c->x, c->w, c->N, c->D, 1e-6);
    return dot_r(c->out, c->r, (size_t)(c->N * c->D));
}

static void test_rmsnorm(void) {
    enum { N = 3, D = 7 };
    float x[N * D], w[D], r[N * D], out[N * D], rstd[N], dx[N * D] = {0}, dw[D] = {0};
    fill(x, N * D, 1.0);
    fill(w, D, 0.5);
    fill(r, N * D, 1.0);
    rms_ctx c = {x, w, r, out, rstd, N, D};
    rms_loss(&c);
    sc_tr_rmsnorm_bwd(dx, dw, r, x, w, rstd, N, D);
    fd_check("rmsnorm dx", x, dx, N * D, rms_loss, &c, 1e-2f, 2e-3);
    fd_check("rmsnorm dw", w, dw, D, rms_loss, &c, 1e-2f, 2e-3);
}

/* ------------------------------------------------------------ linear, act */

typedef struct {
    float *x, *W, *r, *out;
    int64_t N, In, O;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    sc_tr_linear_fwd(c->out, c->x, c->W, c->N, c->In, c->O);
    return dot_r(c->out, c->r, (size_t)(c->N * c->O));
}

static void test_linear(void) {
    enum { N = 3, In = 5, O = 4 };
    float x[N * In], Wt[O * In], r[N * O], out[N * O], dx[N * In] = {0}, dW[O * In] = {0};
    fill(x, N * In, 1.0);
    fill(Wt, O * In, 1.0);
    fill(r, N * O, 1.0);
    lin_ctx c = {x, Wt, r, out, N, In, O};
    sc_tr_linear_bwd(dx, dW, r, x, Wt, N, In, O);
    fd_check("linear dx", x, dx, N * In, lin_loss, &c, 1e-2f, 1e-3);
    fd_check("linear dW", Wt, dW, O * In, lin_loss, &c, 1e-2f, 1e-3);
}

typedef struct {
    float *x, *r, *out;
    size_t n;
    sc_act act;
} act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    sc_tr_act_fwd(c->out, c->x, c->n, c->act);
    return dot_r(c->out, c->r, c->n);
}

static void test_act(void) {
    enum { n = 24 };
    const char *names[] = {"relu", "gelu_new", "gelu"};
    for (int a = 0; a < 3; a++) {
        float x[n], r[n], out[n], dx[n] = {0};
        fill(x, n, 1.5);
        for (int i = 0; i < n; i++)
            if (fabsf(x[i]) < 0.05f) x[i] = 0.3f; /* away from relu's kink */
        fill(r, n, 1.0);
        act_ctx c = {x, r, out, n, (sc_act)a};
        sc_tr_act_bwd(dx, r, x, n, (sc_act)a);
        char what[64];
        snprintf(what, sizeof what, "activation %s", names[a]);
        fd_check(what, x, dx, n, act_loss, &c, 1e-2f, 2e-3);
    }
}

/* -------------------------------------------------- dense FF with dropout */

typedef struct {
    float *x, *wi, *wo, *mask, *r, *pre, *h, *out;
    int64_t N, D, F;
} ff_ctx;

static double ff_loss(void *p) {
    ff_ctx *c = p;
    sc_tr_linear_fwd(c->pre, c->x, c->wi, c->N, c->D, c->F);
    sc_tr_act_fwd(c->h, c->pre, (size_t)(c->N * c->F), SC_ACT_GELU_NEW);
    sc_tr_mul(c->h, c->mask, (size_t)(c->N * c->F));
    sc_tr_linear_fwd(c->out, c->h, c->wo, c->N, c->F, c->D);
    return dot_r(c->out, c->r, (size_t)(c->N * c->D));
}

static void test_ffn(void) {
    enum { N = 4, D = 5, F = 6 };
    float x[N * D], wi[F * D], wo[D * F], mask[N * F], r[N * D], pre[N * F], h[N * F], out[N * D];
    float dx[N * D] = {0}, dwi[F * D] = {0}, dwo[D * F] = {0}, dh[N * F] = {0}, dpre[N * F] = {0};
    fill(x, N * D, 1.0);
    fill(wi, F * D, 0.5);
    fill(wo, D * F, 0.5);
    fill(r, N * D, 1.0);
    sc_rng mr;
    sc_rng_seed(&mr, 5, 0);
    sc_tr_dropout_mask(mask, N * F, 0.25, &mr);
    ff_ctx c = {x, wi, wo, mask, r, pre, h, out, N, D, F};
    ff_loss(&c);
    sc_tr_linear_bwd(dh, dwo, r, h, wo, N, F, D);
    sc_tr_mul(dh, mask, N * F);
    sc_tr_act_bwd(dpre, dh, pre, N * F, SC_ACT_GELU_NEW);
    sc_tr_linear_bwd(dx, dwi, dpre, x, wi, N, D, F);
    fd_check("dense FF (gelu_new, dropout) dx", x, dx, N * D, ff_loss, &c, 1e-2f, 2e-3);
    fd_check("dense FF dwi", wi, dwi, F * D, ff_loss, &c, 1e-2f, 2e-3);
    fd_check("dense FF dwo", wo, dwo, D * F, ff_loss, &c, 1e-2f, 2e-3);
}

/* ------------------------------------------------ attention + position bias */

enum { AB = 2, AH = 2, AK = 3, AL = 4, AR = 8 };
typedef struct {
    float q[AB * AL * AH * AK], k[AB * AL * AH * AK], v[AB * AL * AH * AK], table[AR * AH];
    float bias[AH * AL * AL], p[AB * AH * AL * AL], pd[AB * AH * AL * AL], ctx[AB * AL * AH * AK],
        r[AB * AL * AH * AK];
    int32_t kmask[AB * AL];
    bool causal, use_pd;
} att_ctx;

static double att_loss(void *pp) {
    att_ctx *c = pp;
    sc_tr_position_bias_fwd(c->bias, c->table, AH, AL, AL, !c->causal, AR, 20);
    sc_tr_attention_fwd(c->ctx, c->p, c->q, c->k, c->v, c->bias, c->causal ? NULL : c->kmask, c->causal,
                        c->use_pd ? c->pd : NULL, AB, AH, AL, AL, AK);
    return dot_r(c->ctx, c->r, AB * AL * AH * AK);
}

static void test_attention(bool causal) {
    att_ctx c;
    memset(&c, 0, sizeof c);
    const size_t n = AB * AL * AH * AK;
    fill(c.q, n, 1.0);
    fill(c.k, n, 1.0);
    fill(c.v, n, 1.0);
    fill(c.table, AR * AH, 0.7);
    fill(c.r, n, 1.0);
    for (int i = 0; i < AB * AL; i++) c.kmask[i] = 1;
    c.kmask[1 * AL + 3] = 0; /* the second sequence has one padded key */
    c.causal = causal;
    c.use_pd = !causal;
    sc_rng mr;
    sc_rng_seed(&mr, 9, 0);
    sc_tr_dropout_mask(c.pd, AB * AH * AL * AL, 0.2, &mr);
    att_loss(&c);
    float dq[n], dk[n], dv[n], dbias[AH * AL * AL], dtable[AR * AH];
    memset(dq, 0, sizeof dq);
    memset(dk, 0, sizeof dk);
    memset(dv, 0, sizeof dv);
    memset(dbias, 0, sizeof dbias);
    memset(dtable, 0, sizeof dtable);
    sc_tr_attention_bwd(dq, dk, dv, dbias, c.r, c.q, c.k, c.v, c.p, c.use_pd ? c.pd : NULL, AB, AH, AL, AL,
                        AK);
    sc_tr_position_bias_bwd(dtable, dbias, AH, AL, AL, !causal, AR, 20);
    const char *tag = causal ? "attention causal" : "attention bidir+mask+dropout";
    char what[96];
    snprintf(what, sizeof what, "%s dq", tag);
    fd_check(what, c.q, dq, n, att_loss, &c, 1e-2f, 2e-3);
    snprintf(what, sizeof what, "%s dk", tag);
    fd_check(what, c.k, dk, n, att_loss, &c, 1e-2f, 2e-3);
    snprintf(what, sizeof what, "%s dv", tag);
    fd_check(what, c.v, dv, n, att_loss, &c, 1e-2f, 2e-3);
    snprintf(what, sizeof what, "%s position bias table", tag);
    fd_check(what, c.table, dtable, AR * AH, att_loss, &c, 1e-2f, 2e-3);
    /* A masked key gets no probability and no gradient. */
    if (!causal) {
        double pm = 0, gk = 0;
        for (int h = 0; h < AH; h++)
            for (int i = 0; i < AL; i++) pm += c.p[((1 * AH + h) * AL + i) * AL + 3];
        for (int d = 0; d < AH * AK; d++)
            gk += fabsf(dk[(1 * AL + 3) * AH * AK + d]) + fabsf(dv[(1 * AL + 3) * AH * AK + d]);
        CHECKF(pm == 0 && gk == 0, "masked key: probability %g, gradient %g", pm, gk);
    }
}

/* A query whose keys are all masked: HF adds finfo.min to every score, which
 * swamps them, so its softmax is uniform (and gradients still flow). */
static void test_attention_all_masked(void) {
    enum { L = 3, K = 2 };
    float q[L * K], k[L * K], v[L * K], p[L * L], ctx[L * K], dq[L * K] = {0};
    int32_t km[L] = {0, 0, 0};
    fill(q, L * K, 1.0);
    fill(k, L * K, 1.0);
    fill(v, L * K, 1.0);
    sc_tr_attention_fwd(ctx, p, q, k, v, NULL, km, false, NULL, 1, 1, L, L, K);
    int bad = 0;
    for (int i = 0; i < L * L; i++) bad += fabsf(p[i] - 1.0f / L) > 1e-7f;
    float g[L * K];
    fill(g, L * K, 1.0);
    sc_tr_attention_bwd(dq, NULL, NULL, NULL, g, q, k, v, p, NULL, 1, 1, L, L, K);
    double gq = 0;
    for (int i = 0; i < L * K; i++) gq += fabsf(dq[i]);
    CHECKF(bad == 0 && gq > 0, "all keys masked: %d non-uniform probabilities, |dq| %g", bad, gq);
}

/* ------------------------------------------------------------- sparse layer */

enum { MB = 2, ML = 5, MD = 4, MF = 6, ME = 3 };
typedef struct {
    float x[MB * ML * MD], xw[MB * ML * MD], wr[ME * MD], br[ME], wi[ME][MF * MD], wo[ME][MD * MF];
    float r[MB * ML * MD], out[MB * ML * MD];
    sc_drop_policy policy;
    double jitter, dropout;
    int32_t top0[MB * ML], kept0[MB * ML];
    bool have_route;
    sc_tr_moe_save s;
} moe_ctx;

static sc_tr_moe_weights moe_w(moe_ctx *c, const float **wi, const float **wo) {
    for (int e = 0; e < ME; e++) {
        wi[e] = c->wi[e];
        wo[e] = c->wo[e];
    }
    return (sc_tr_moe_weights){c->wr, c->br, wi, wo};
}

static double moe_loss(void *pp) {
    moe_ctx *c = pp;
    const float *wi[ME], *wo[ME];
    sc_tr_moe_weights w = moe_w(c, wi, wo);
    memcpy(c->xw, c->x, sizeof c->x); /* the layer jitters its input in place */
    sc_rng r;
    sc_rng_seed(&r, 77, 0);
    sc_tr_moe_save_free(&c->s);
    sc_status st = sc_tr_moe_fwd(c->out, c->xw, &w, MB, ML, MD, MF, ME, SC_ACT_RELU, 2, c->policy, c->jitter,
                                 c->dropout, &r, &c->s, NULL);
    if (st != SC_OK) return NAN;
    if (c->have_route &&
        (memcmp(c->top0, c->s.top, sizeof c->top0) || memcmp(c->kept0, c->s.kept, sizeof c->kept0)))
        return NAN;
    return dot_r(c->out, c->r, MB * ML * MD);
}

static void test_moe(sc_drop_policy policy, double jitter, double dropout, const char *tag) {
    moe_ctx *c = calloc(1, sizeof *c);
    c->policy = policy;
    c->jitter = jitter;
    c->dropout = dropout;
    fill(c->x, sizeof c->x / 4, 1.0);
    fill(c->wr, ME * MD, 1.0);
    fill(c->br, ME, 0.5);
    for (int e = 0; e < ME; e++) {
        fill(c->wi[e], MF * MD, 0.6);
        fill(c->wo[e], MD * MF, 0.6);
    }
    fill(c->r, sizeof c->r / 4, 1.0);
    moe_loss(c);
    memcpy(c->top0, c->s.top, sizeof c->top0);
    memcpy(c->kept0, c->s.kept, sizeof c->kept0);
    c->have_route = true;
    int dropped = 0;
    for (int i = 0; i < MB * ML; i++) dropped += !c->s.kept[i];
    CHECKF(dropped > 0, "%s: capacity 2 drops tokens (%d dropped)", tag, dropped);
    float dx[MB * ML * MD] = {0}, dwr[ME * MD] = {0}, dbr[ME] = {0}, dwi[ME][MF * MD], dwo[ME][MD * MF];
    memset(dwi, 0, sizeof dwi);
    memset(dwo, 0, sizeof dwo);
    float *gwi[ME], *gwo[ME];
    for (int e = 0; e < ME; e++) {
        gwi[e] = dwi[e];
        gwo[e] = dwo[e];
    }
    sc_tr_moe_grads g = {dwr, dbr, gwi, gwo};
    const float *wi[ME], *wo[ME];
    sc_tr_moe_weights w = moe_w(c, wi, wo);
    CHECK(sc_tr_moe_bwd(dx, &g, c->r, NULL, &w, &c->s, NULL) == SC_OK);
    char what[128];
    snprintf(what, sizeof what, "sparse %s dx", tag);
    fd_check(what, c->x, dx, MB * ML * MD, moe_loss, c, 1e-3f, 5e-3);
    snprintf(what, sizeof what, "sparse %s router weight", tag);
    fd_check(what, c->wr, dwr, ME * MD, moe_loss, c, 1e-3f, 5e-3);
    snprintf(what, sizeof what, "sparse %s router bias", tag);
    fd_check(what, c->br, dbr, ME, moe_loss, c, 1e-3f, 5e-3);
    for (int e = 0; e < ME; e++) {
        bool used = false;
        for (int i = 0; i < MB * ML; i++) used |= c->top0[i] == e && c->kept0[i];
        if (!used) continue;
        snprintf(what, sizeof what, "sparse %s expert %d wi", tag, e);
        fd_check(what, c->wi[e], dwi[e], MF * MD, moe_loss, c, 1e-3f, 5e-3);
        snprintf(what, sizeof what, "sparse %s expert %d wo", tag, e);
        fd_check(what, c->wo[e], dwo[e], MD * MF, moe_loss, c, 1e-3f, 5e-3);
    }
    sc_tr_moe_save_free(&c->s);
    free(c);
}

/* Dropout + jitter in the sparse layer: the output equals a recomputation by
 * hand from the recorded multipliers and expert dropout masks. */
static void test_moe_by_hand(void) {
    moe_ctx *c = calloc(1, sizeof *c);
    c->policy = SC_DROP_HF4;
    c->jitter = 0.05;
    c->dropout = 0.3;
    fill(c->x, sizeof c->x / 4, 1.0);
    fill(c->wr, ME * MD, 1.0);
    fill(c->br, ME, 0.5);
    for (int e = 0; e < ME; e++) {
        fill(c->wi[e], MF * MD, 0.6);
        fill(c->wo[e], MD * MF, 0.6);
    }
    moe_loss(c);
    const sc_tr_moe_save *s = &c->s;
    CHECK(s->jit && s->hmask);
    double worst = 0;
    int bad_range = 0, bad_mask = 0, bad_route = 0, zeros = 0;
    for (int n = 0; n < MB * ML; n++) {
        float xj[MD], lg[ME], h[MF];
        for (int d = 0; d < MD; d++) {
            float m = s->jit[n * MD + d];
            bad_range += !(m >= 1.0f - 0.05f && m <= 1.0f + 0.05f);
            xj[d] = c->x[n * MD + d] * m;
            worst = fmax(worst, fabs(xj[d] - c->xw[n * MD + d])); /* jitter is in place */
        }
        for (int e = 0; e < ME; e++) {
            double a = c->br[e];
            for (int d = 0; d < MD; d++) a += (double)xj[d] * c->wr[e * MD + d];
            lg[e] = (float)a;
        }
        float p[ME];
        sc_tr_softmax_rows(p, lg, 1, ME);
        int top = 0;
        for (int e = 1; e < ME; e++)
            if (p[e] > p[top]) top = e;
        bad_route += top != s->top[n];
        for (int d = 0; d < MD; d++) {
            double want;
            if (!s->kept[n]) {
                want = p[top] * xj[d];
            } else {
                double y = 0;
                for (int f = 0; f < MF; f++) {
                    double a = 0;
                    for (int k = 0; k < MD; k++) a += (double)xj[k] * c->wi[top][f * MD + k];
                    float mk = s->hmask[n * MF + f];
                    bad_mask += !(mk == 0.0f || fabsf(mk - 1.0f / 0.7f) < 1e-6f);
                    zeros += mk == 0.0f;
                    h[f] = (float)(a > 0 ? a : 0) * mk;
                    y += (double)h[f] * c->wo[top][d * MF + f];
                }
                want = p[top] * y;
            }
            worst = fmax(worst, fabs(want - c->out[n * MD + d]) / (1.0 + fabs(want)));
        }
    }
    printf("  sparse layer with jitter + dropout vs by hand: worst %.2e\n", worst);
    CHECKF(worst < 1e-5 && !bad_range && !bad_mask && !bad_route && zeros > 0,
           "jitter/dropout by hand: worst %g, %d multipliers out of range, %d bad masks, %d routes", worst,
           bad_range, bad_mask, bad_route);
    sc_tr_moe_save_free(&c->s);
    free(c);
}

static void test_dropout_mask(void) {
    enum { n = 20000 };
    static float a[n], b[n];
    sc_rng r1, r2;
    sc_rng_seed(&r1, 42, 0);
    sc_rng_seed(&r2, 42, 0);
    sc_tr_dropout_mask(a, n, 0.3, &r1);
    sc_tr_dropout_mask(b, n, 0.3, &r2);
    CHECK(!memcmp(a, b, sizeof a));
    int z = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        z += a[i] == 0.0f;
        bad += !(a[i] == 0.0f || a[i] == (float)(1.0 / 0.7));
    }
    CHECKF(!bad && fabs(z / (double)n - 0.3) < 0.02, "dropout mask: %d zeros of %d, %d bad values", z, n,
           bad);
    sc_rng_seed(&r1, 42, 0);
    sc_tr_dropout_mask(a, n, 0.0, &r1);
    for (int i = 0; i < n; i++) bad += a[i] != 1.0f;
    CHECKF(!bad, "rate 0 keeps everything");
}

/* -------------------------------------------------------------- CE, z, aux */

enum { CN = 4, CV = 6 };
typedef struct {
    float logits[CN * CV];
    int32_t labels[CN];
} ce_ctx;

static double ce_loss(void *p) {
    ce_ctx *c = p;
    return sc_tr_cross_entropy(NULL, c->logits, c->labels, CN, CV, 0, NULL);
}

static void test_ce(void) {
    ce_ctx c = {.labels = {2, -100, 5, 0}};
    fill(c.logits, CN * CV, 2.0);
    float g[CN * CV] = {0};
    int64_t cnt;
    sc_tr_cross_entropy(g, c.logits, c.labels, CN, CV, 1.0, &cnt);
    CHECK(cnt == 3);
    fd_check("cross-entropy (ignore -100)", c.logits, g, CN * CV, ce_loss, &c, 1e-2f, 1e-3);
    int32_t none[CN] = {-100, -100, -100, -100};
    CHECK(isnan(sc_tr_cross_entropy(NULL, c.logits, none, CN, CV, 0, &cnt)) && cnt == 0);
}

enum { RB = 2, RL = 4, RE = 3, RN = 2 };
typedef struct {
    float logits[RN][RB * RL * RE], probs[RN][RB * RL * RE];
    int32_t top[RN][RB * RL], kept[RN][RB * RL];
    sc_tr_moe_save s[RN];
    double frac[(RB + 1) * RE];
    bool aux;
} rl_ctx;

static double rl_loss(void *p) {
    rl_ctx *c = p;
    const sc_tr_moe_save *ls[RN];
    for (int i = 0; i < RN; i++) {
        sc_tr_softmax_rows(c->probs[i], c->logits[i], RB * RL, RE);
        ls[i] = &c->s[i];
    }
    double z, aux;
    sc_tr_router_losses(ls, RN, &z, &aux, c->frac);
    return c->aux ? aux : z;
}

static void test_router_losses(bool aux) {
    rl_ctx *c = calloc(1, sizeof *c);
    c->aux = aux;
    for (int i = 0; i < RN; i++) {
        fill(c->logits[i], RB * RL * RE, 1.5);
        c->s[i] = (sc_tr_moe_save){.B = RB,
                                   .L = RL,
                                   .E = RE,
                                   .logits = c->logits[i],
                                   .probs = c->probs[i],
                                   .top = c->top[i],
                                   .kept = c->kept[i]};
        for (int t = 0; t < RB * RL; t++) {
            int a = 0;
            for (int e = 1; e < RE; e++)
                if (c->logits[i][t * RE + e] > c->logits[i][t * RE + a]) a = e;
            c->top[i][t] = a;
            c->kept[i][t] = (t % 3) != 2; /* some dropped tokens (counted as expert 0) */
        }
    }
    rl_loss(c);
    float g[RN][RB * RL * RE];
    for (int i = 0; i < RN; i++)
        sc_tr_router_loss_grad(g[i], &c->s[i], RN, c->frac, aux ? 0 : 1, aux ? 1 : 0);
    for (int i = 0; i < RN; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s loss, layer %d logits", aux ? "aux" : "z", i);
        fd_check(what, c->logits[i], g[i], RB * RL * RE, rl_loss, c, 1e-2f, 2e-3);
    }
    free(c);
}

/* ------------------------------------------------------- a whole random model */

typedef struct {
    sc_train_params *tp;
    sc_train_batch bt;
    sc_train_opts o;
    double wce, wz, waux;
    int32_t top0[64][4];
    int ntop;
} model_ctx;

static void record_routes(model_ctx *m, sc_train_tape *t, bool compare, bool *same) {
    int k = 0;
    for (int dec = 0; dec < 2; dec++)
        for (int64_t i = 0; i < m->tp->n_blocks[dec]; i++) {
            const sc_tr_moe_save *s = sc_train_tape_router(t, dec, i);
            if (!s) continue;
            for (int64_t n = 0; n < s->B * s->L && n < 64; n++) {
                int32_t v = s->top[n] * 2 + s->kept[n];
                if (compare && m->top0[n][k] != v) *same = false;
                m->top0[n][k] = v;
            }
            k++;
        }
    m->ntop = k;
}

static double model_loss(void *p) {
    model_ctx *m = p;
    sc_train_tape *t = NULL;
    sc_train_losses L;
    if (sc_train_forward(m->tp, &m->bt, &m->o, &t, &L, NULL) != SC_OK) return NAN;
    bool same = true;
    model_ctx tmp = *m;
    record_routes(&tmp, t, true, &same);
    sc_train_tape_free(t);
    if (!same) return NAN;
    return m->wce * L.ce + m->wz * (L.encoder_z + L.decoder_z) + m->waux * (L.encoder_aux + L.decoder_aux);
}

static sc_train_params *random_model(void) {
    sc_config c;
    sc_config_defaults(&c);
    c.vocab_size = 16;
    c.d_model = 8;
    c.d_kv = 4;
    c.num_heads = 2;
    c.d_ff = 12;
    c.num_layers = c.num_decoder_layers = 2;
    c.num_sparse_encoder_layers = c.num_sparse_decoder_layers = 1;
    c.encoder_sparse_step = c.decoder_sparse_step = 2;
    c.num_experts = 3;
    c.expert_capacity = 2;
    c.router_bias = true;
    c.act = SC_ACT_GELU_NEW; /* smooth, so that finite differences see no relu kink */
    c.relative_attention_num_buckets = 8;
    c.relative_attention_max_distance = 20;
    c.tie_word_embeddings = true;
    c.router_z_loss_coef = c.router_aux_loss_coef = 0.001;
    sc_train_params *tp = NULL;
    sc_error err;
    sc_status st = sc_train_params_new(&c, &tp, &err);
    CHECKF(st == SC_OK, "random model: %s", err.msg);
    if (st) return NULL;
    for (size_t i = 0; i < tp->count; i++) {
        sc_train_param *p = &tp->p[i];
        switch (p->ref.kind) {
        case SC_W_SA_LN:
        case SC_W_CA_LN:
        case SC_W_FF_LN:
        case SC_W_FINAL_LN:
            fill(p->w, p->numel, 0.2);
            for (size_t j = 0; j < p->numel; j++) p->w[j] += 1.0f;
            break;
        case SC_W_SHARED: fill(p->w, p->numel, 1.0); break;
        case SC_W_REL_BIAS: fill(p->w, p->numel, 0.7); break;
        case SC_W_ROUTER_W:
        case SC_W_ROUTER_B: fill(p->w, p->numel, 0.8); break;
        default: fill(p->w, p->numel, 0.4); break;
        }
    }
    return tp;
}

/* Finite differences on the largest-gradient entries of every parameter
 * tensor; returns the worst normwise error (relative to max|grad| of the
 * tensor). */
static double model_fd(model_ctx *m, const char *tag, double tol) {
    sc_train_tape *t = NULL;
    sc_error err;
    CHECK(sc_train_forward(m->tp, &m->bt, &m->o, &t, NULL, &err) == SC_OK);
    if (!t) return INFINITY;
    bool same = true;
    record_routes(m, t, false, &same);
    sc_train_params_zero_grad(m->tp);
    sc_train_loss_weights w = {m->wce, m->wz, m->waux};
    CHECK(sc_train_backward(m->tp, t, &w, &err) == SC_OK);
    sc_train_tape_free(t);
    double worst = 0;
    const char *worst_name = "-";
    int checked = 0;
    for (size_t i = 0; i < m->tp->count; i++) {
        sc_train_param *p = &m->tp->p[i];
        double gmax = 0;
        size_t best[2] = {0, 0};
        for (size_t j = 0; j < p->numel; j++)
            if (fabsf(p->g[j]) > gmax) {
                gmax = fabsf(p->g[j]);
                best[1] = best[0];
                best[0] = j;
            }
        if (gmax == 0) continue;
        for (int b = 0; b < 2; b++) {
            size_t j = best[b];
            float x0 = p->w[j], h = 3e-3f;
            p->w[j] = x0 + h;
            double lp = model_loss(m);
            p->w[j] = x0 - h;
            double lm = model_loss(m);
            p->w[j] = x0;
            if (isnan(lp) || isnan(lm)) continue; /* the step changed a route */
            double fd = (lp - lm) / ((double)(x0 + h) - (double)(x0 - h));
            double e = fabs(fd - p->g[j]) / gmax;
            checked++;
            if (!(e <= worst)) {
                worst = e;
                worst_name = p->name;
            }
        }
    }
    printf("  model %-36s worst %.2e over %d entries (%s)\n", tag, worst, checked, worst_name);
    CHECKF(worst <= tol && checked > 20, "model %s: finite differences off by %.3g at %s (%d checked)", tag,
           worst, worst_name, checked);
    return worst;
}

static void test_model(void) {
    sc_train_params *tp = random_model();
    if (!tp) return;
    enum { B = 2, S = 6, T = 5 };
    int32_t ids[B * S] = {3, 7, 9, 2, 11, 1, 5, 4, 1, 0, 0, 0};
    int32_t mask[B * S] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    int32_t labels[B * T] = {6, 8, 12, 15, 1, 9, 3, 1, -100, -100};
    model_ctx m = {.tp = tp, .bt = {ids, mask, labels, NULL, B, S, T}, .o = sc_train_default_opts()};
    /* Dropped tokens and router losses are present. */
    sc_train_tape *t = NULL;
    sc_train_losses L0;
    CHECK(sc_train_forward(tp, &m.bt, NULL, &t, &L0, NULL) == SC_OK);
    int dropped = 0;
    for (int dec = 0; dec < 2 && t; dec++) {
        const sc_tr_moe_save *s = sc_train_tape_router(t, dec, 1);
        CHECK(s && !sc_train_tape_router(t, dec, 0));
        for (int64_t n = 0; s && n < s->B * s->L; n++) dropped += !s->kept[n];
    }
    CHECKF(dropped > 0 && L0.encoder_z > 0 && L0.encoder_aux > 0 && L0.decoder_z > 0 && L0.decoder_aux > 0,
           "random model: %d dropped tokens, router losses %g %g %g %g", dropped, L0.encoder_z,
           L0.encoder_aux, L0.decoder_z, L0.decoder_aux);
    CHECK(fabs(L0.loss - (L0.ce + 0.001 * (L0.encoder_z + L0.decoder_z + L0.encoder_aux + L0.decoder_aux))) <
          1e-12);
    sc_train_tape_free(t);
    /* Rate 0 with any seed is the eval forward, bit for bit. */
    sc_train_opts o = sc_train_default_opts();
    o.seed = 1234;
    sc_train_losses L1, L2, L3;
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, &L1, NULL) == SC_OK);
    CHECK(L1.loss == L0.loss);
    sc_train_tape_free(t);
    /* Dropout and jitter: a seed gives one result; another seed another. */
    o.dropout_rate = 0.1;
    o.router_jitter = 0.01;
    o.seed = 7;
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, &L1, NULL) == SC_OK);
    sc_train_tape_free(t);
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, &L2, NULL) == SC_OK);
    sc_train_tape_free(t);
    o.seed = 8;
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, &L3, NULL) == SC_OK);
    sc_train_tape_free(t);
    /* Every dropout site draws one uniform per element; jitter one per sparse-layer input element. */
    o.seed = 7;
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, NULL, NULL) == SC_OK);
    if (t) {
        const sc_config *c = &tp->cfg;
        const size_t D = (size_t)c->d_model, H = (size_t)c->num_heads, F = (size_t)c->d_ff;
        size_t want = 0;
        for (int dec = 0; dec < 2; dec++) {
            size_t L = dec ? T : S, N = B * L;
            want += 2 * N * D; /* embeddings, final RMSNorm */
            for (int64_t i = 0; i < tp->n_blocks[dec]; i++) {
                want += B * H * L * L + N * D;          /* self-attention probabilities, sub-layer output */
                if (dec) want += B * H * T * S + N * D; /* cross-attention */
                want += N * D;                          /* feed-forward sub-layer output */
                const sc_tr_moe_save *s = sc_train_tape_router(t, dec, i);
                if (!s) want += N * F;                                                /* dense hidden layer */
                for (size_t n = 0; s && n < N; n++) want += D + (s->kept[n] ? F : 0); /* jitter, expert */
            }
        }
        CHECKF(sc_train_tape_random_draws(t) == want, "random draws %zu, expected %zu",
               sc_train_tape_random_draws(t), want);
        sc_train_tape_free(t);
    }
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, NULL, &t, NULL, NULL) == SC_OK);
    CHECK(t && sc_train_tape_random_draws(t) == 0);
    sc_train_tape_free(t);
    CHECKF(L1.loss == L2.loss && L1.loss != L3.loss && L1.loss != L0.loss,
           "seeded dropout: %.9g %.9g %.9g (eval %.9g)", L1.loss, L2.loss, L3.loss, L0.loss);
    /* Bad arguments. */
    sc_error err;
    o.dropout_rate = 1.5;
    t = NULL;
    CHECK(sc_train_forward(tp, &m.bt, &o, &t, NULL, &err) == SC_ERR_INVALID_ARG && !t);
    int32_t bad[B * T];
    memcpy(bad, labels, sizeof bad);
    bad[2] = 16;
    sc_train_batch bb = m.bt;
    bb.labels = bad;
    CHECK(sc_train_forward(tp, &bb, NULL, &t, NULL, &err) == SC_ERR_INVALID_ARG && !t);
    /* Finite differences of the whole model, each loss term alone, then all. */
    struct {
        const char *tag;
        double ce, z, aux;
    } terms[] = {
        {"CE term", 1, 0, 0}, {"z term", 0, 1, 0}, {"aux term", 0, 0, 1}, {"HF loss", 1, 0.001, 0.001}};
    for (size_t i = 0; i < 4; i++) {
        m.wce = terms[i].ce;
        m.wz = terms[i].z;
        m.waux = terms[i].aux;
        model_fd(&m, terms[i].tag, 1e-2);
    }
    m.o.dropout_rate = 0.1;
    m.o.router_jitter = 0.01;
    m.o.seed = 3;
    m.wce = 1;
    m.wz = m.waux = 0.001;
    model_fd(&m, "HF loss, dropout 0.1 + jitter", 1e-2);
    sc_train_params_free(tp);
}

int main(void) {
    sc_rng_seed(&g_rng, 2024, 0);
    test_rmsnorm();
    test_linear();
    test_act();
    test_ffn();
    test_attention(false);
    test_attention(true);
    test_attention_all_masked();
    test_moe(SC_DROP_HF4, 0, 0, "HF4 drops");
    test_moe(SC_DROP_ZERO, 0, 0, "zero drops");
    test_moe(SC_DROP_HF4, 0.05, 0.3, "HF4 + jitter + dropout");
    test_moe_by_hand();
    test_dropout_mask();
    test_ce();
    test_router_losses(false);
    test_router_losses(true);
    test_model();
    TEST_MAIN_END();
}

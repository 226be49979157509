/* Optimizers against Hugging Face / torch: one AdamW and one Adafactor step
 * on the training fixtures' recorded gradients, Adafactor's later steps and
 * options against an independent double-precision computation, gradient
 * clipping, lr schedules, accumulation bookkeeping, and the saved optimizer
 * state (round trip with bit-identical continuation, and every error). */
#include "fixture_arrays.h"
#include "test_util.h"

#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors_write.h"
#include "train/optim.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture steps */

typedef struct fx_param {
    char name[200];
    sc_optim_tensor t;
    size_t numel;
    float *p0;  /* starting values */
    float *g;   /* recorded gradient */
} fx_param;

typedef struct fx_case {
    char dir[1024];
    sc_json_doc *manifest;
    const sc_json *arrays;
    fx_param *p;
    size_t n;
} fx_case;

static bool fx_open(fx_case *c, const char *name) {
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s/models/%s", SC_FIXTURES_DIR, name);
    char *mpath = sc_path_join(c->dir, "manifest.json");
    sc_error err;
    sc_status st = sc_json_parse_file(mpath, (size_t)64 << 20, &c->manifest, &err);
    free(mpath);
    CHECKF(st == SC_OK, "%s: %s", name, err.msg);
    if (st) return false;
    const sc_json *root = sc_json_root(c->manifest);
    c->arrays = sc_json_get(root, "arrays");
    const sc_json *params = sc_json_get(root, "parameters");
    c->n = sc_json_len(params);
    c->p = calloc(c->n, sizeof *c->p);
    sc_checkpoint *ck = NULL;
    st = sc_checkpoint_open(c->dir, -1, &ck, &err);
    CHECKF(st == SC_OK, "%s: %s", name, err.msg);
    if (st) return false;
    bool ok = c->n > 0;
    for (size_t i = 0; i < c->n && ok; i++) {
        fx_param *p = &c->p[i];
        const sc_json *e = sc_json_at(params, i);
        snprintf(p->name, sizeof p->name, "%s", sc_json_string(sc_json_get(e, "name"), NULL));
        const sc_json *shape = sc_json_get(e, "shape");
        p->t.name = p->name;
        p->t.ndim = (int)sc_json_len(shape);
        p->numel = 1;
        for (int d = 0; d < p->t.ndim; d++) {
            sc_json_int(sc_json_at(shape, (size_t)d), &p->t.shape[d]);
            p->numel *= (size_t)p->t.shape[d];
        }
        const sc_tensor_entry *te = sc_checkpoint_find(ck, p->name);
        ok = te && te->view.dtype == SC_DTYPE_F32 && te->nbytes == p->numel * 4;
        CHECKF(ok, "%s: parameter %s not in the checkpoint as F32", name, p->name);
        if (!ok) break;
        p->p0 = malloc(p->numel * 4);
        memcpy(p->p0, te->view.data, p->numel * 4);
        char an[256];
        snprintf(an, sizeof an, "grad.%s", p->name);
        arr a;
        ok = load_array(c->dir, c->arrays, an, &a) && a.n == p->numel;
        CHECKF(ok, "%s: array %s", name, an);
        p->g = a.data;
    }
    sc_checkpoint_close(ck);
    return ok;
}

static void fx_close(fx_case *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->p[i].p0);
        free(c->p[i].g);
    }
    free(c->p);
    sc_json_free(c->manifest);
}

/* One step of `params` on every parameter; compares (new - p0) with
 * (ref - p0) for the arrays `prefix.<name>`, absolute tolerance tol. */
static void fx_check_step(fx_case *c, const sc_optim_params *op, double lr, const char *prefix, double tol) {
    sc_optim_tensor *ts = calloc(c->n, sizeof *ts);
    for (size_t i = 0; i < c->n; i++) ts[i] = c->p[i].t;
    sc_optim *o = NULL;
    sc_error err;
    CHECKF(sc_optim_new(op, ts, c->n, &o, &err) == SC_OK, "%s", err.msg);
    double worst = 0;
    const char *worst_name = "";
    size_t compared = 0;
    for (size_t i = 0; o && i < c->n; i++) {
        fx_param *p = &c->p[i];
        float *x = malloc(p->numel * 4);
        memcpy(x, p->p0, p->numel * 4);
        CHECK(sc_optim_step_tensor(o, i, x, p->g, lr, NULL, &err) == SC_OK);
        char an[256];
        snprintf(an, sizeof an, "%s.%s", prefix, p->name);
        arr ref;
        bool have = load_array(c->dir, c->arrays, an, &ref) && ref.n == p->numel;
        CHECKF(have, "%s: missing %s", c->dir, an);
        if (have) {
            const float *r = ref.data;
            double md = 0;
            for (size_t k = 0; k < p->numel; k++) {
                double d = fabs(((double)x[k] - p->p0[k]) - ((double)r[k] - p->p0[k]));
                if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
            }
            CHECKF(md <= tol, "%s %s: max |update diff| %.3g > %.3g", prefix, p->name, md, tol);
            if (md > worst) {
                worst = md;
                worst_name = p->name;
            }
            compared++;
            CHECK(sc_optim_tensor_steps(o, i) == 1);
        }
        free(ref.data);
        free(x);
    }
    printf("%s %s: %zu tensors, max |update - HF| = %.3g (%s)\n", strrchr(c->dir, '/') + 1, prefix, compared,
           worst, worst_name);
    CHECK(compared == c->n);
    sc_optim_free(o);
    free(ts);
}

static void test_fixture_steps(void) {
    static const char *cases[] = {"train_e4_step1_untied_nodrop", "train_e4_step2_bias_overflow"};
    for (size_t k = 0; k < 2; k++) {
        fx_case c;
        if (!fx_open(&c, cases[k])) {
            fx_close(&c);
            continue;
        }
        sc_optim_params aw = sc_optim_default_params(SC_OPTIM_ADAMW);
        aw.adamw.weight_decay = 0.01;
        fx_check_step(&c, &aw, 1e-3, "adamw_step1", 1e-6);
        sc_optim_params af = sc_optim_default_params(SC_OPTIM_ADAFACTOR);
        fx_check_step(&c, &af, 0.0, "adafactor_step1", 1e-6);
        fx_close(&c);
    }
}

/* ------------------------------------------- independent Adafactor oracle */

/* HF Adafactor in double, written from the formulas, for [R, C] or [n]. */
typedef struct ref_af {
    double row[8], col[8], v[16], m[16];
    int step;
} ref_af;

static void ref_adafactor(ref_af *s, const sc_adafactor_params *f, double *p, const double *g, int rows, int cols,
                          bool factored, double ext_lr) {
    int n = rows * cols;
    s->step++;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += p[i] * p[i];
    double rms = sqrt(ss / n);
    double rel = ext_lr;
    if (f->relative_step) rel = fmin(f->warmup_init ? 1e-6 * s->step : 1e-2, 1.0 / sqrt((double)s->step));
    double scale = f->scale_parameter ? fmax(f->eps2, rms) : 1.0;
    double lr = scale * rel;
    double b2 = 1.0 - pow(s->step, f->decay_rate);
    double u[16], upd[16];
    for (int i = 0; i < n; i++) u[i] = g[i] * g[i] + f->eps1;
    if (factored) {
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int c = 0; c < cols; c++) m += u[r * cols + c] / cols;
            s->row[r] = b2 * s->row[r] + (1 - b2) * m;
        }
        for (int c = 0; c < cols; c++) {
            double m = 0;
            for (int r = 0; r < rows; r++) m += u[r * cols + c] / rows;
            s->col[c] = b2 * s->col[c] + (1 - b2) * m;
        }
        double rmean = 0;
        for (int r = 0; r < rows; r++) rmean += s->row[r] / rows;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                upd[r * cols + c] = g[r * cols + c] / sqrt(s->row[r] / rmean) / sqrt(s->col[c]);
    } else {
        for (int i = 0; i < n; i++) {
            s->v[i] = b2 * s->v[i] + (1 - b2) * u[i];
            upd[i] = g[i] / sqrt(s->v[i]);
        }
    }
    double us = 0;
    for (int i = 0; i < n; i++) us += upd[i] * upd[i];
    double clip = fmax(1.0, sqrt(us / n) / f->clip_threshold);
    for (int i = 0; i < n; i++) upd[i] = upd[i] / clip * lr;
    if (f->use_beta1)
        for (int i = 0; i < n; i++) upd[i] = s->m[i] = f->beta1 * s->m[i] + (1 - f->beta1) * upd[i];
    if (f->weight_decay != 0)
        for (int i = 0; i < n; i++) p[i] -= f->weight_decay * lr * p[i];
    for (int i = 0; i < n; i++) p[i] -= upd[i];
}

static void check_adafactor_variant(const char *label, sc_adafactor_params f, double ext_lr, int steps) {
    /* a [3,4] matrix and a [5] vector; gradients change every step */
    sc_optim_params op = sc_optim_default_params(SC_OPTIM_ADAFACTOR);
    op.adafactor = f;
    sc_optim_tensor ts[2] = {{"w", 2, {3, 4}, false}, {"b", 1, {5}, false}};
    sc_optim *o = NULL;
    sc_error err;
    CHECKF(sc_optim_new(&op, ts, 2, &o, &err) == SC_OK, "%s: %s", label, err.msg);
    if (!o) return;
    float pw[12], pb[5];
    double dw[12], db[5];
    for (int i = 0; i < 12; i++) dw[i] = pw[i] = (float)(0.05 * (i - 5.5) + 0.01 * (i % 3));
    for (int i = 0; i < 5; i++) db[i] = pb[i] = (float)(1.0 + 0.1 * i);
    ref_af rw, rb;
    memset(&rw, 0, sizeof rw);
    memset(&rb, 0, sizeof rb);
    double worst = 0;
    for (int s = 1; s <= steps; s++) {
        float gw[12], gb[5];
        double gwd[12], gbd[5];
        for (int i = 0; i < 12; i++) gwd[i] = gw[i] = (float)(0.3 * sin(1.7 * i + s) + 0.05 * s);
        for (int i = 0; i < 5; i++) gbd[i] = gb[i] = (float)(0.2 * cos(0.9 * i * s) - 0.01);
        /* the oracle starts each step from the C side's (float) parameters
         * so that rounding does not compound over the steps */
        for (int i = 0; i < 12; i++) dw[i] = pw[i];
        for (int i = 0; i < 5; i++) db[i] = pb[i];
        double lr_used = -1;
        CHECK(sc_optim_step_tensor(o, 0, pw, gw, ext_lr, &lr_used, &err) == SC_OK);
        CHECK(sc_optim_step_tensor(o, 1, pb, gb, ext_lr, NULL, &err) == SC_OK);
        CHECK(lr_used > 0);
        ref_adafactor(&rw, &f, dw, gwd, 3, 4, true, ext_lr);
        ref_adafactor(&rb, &f, db, gbd, 1, 5, false, ext_lr);
        for (int i = 0; i < 12; i++) worst = fmax(worst, fabs(dw[i] - pw[i]));
        for (int i = 0; i < 5; i++) worst = fmax(worst, fabs(db[i] - pb[i]));
    }
    CHECKF(worst < 1e-6, "%s: max |C - oracle| = %.3g", label, worst);
    printf("adafactor %-28s %d steps: max |C - oracle| = %.3g\n", label, steps, worst);
    CHECK(sc_optim_tensor_steps(o, 0) == steps && sc_optim_tensor_steps(o, 1) == steps);
    sc_optim_free(o);
}

static void test_adafactor_oracle(void) {
    sc_adafactor_params d = sc_optim_default_params(SC_OPTIM_ADAFACTOR).adafactor;
    check_adafactor_variant("relative_step (HF default)", d, 0.0, 4);
    sc_adafactor_params w = d;
    w.warmup_init = true;
    check_adafactor_variant("warmup_init", w, 0.0, 4);
    sc_adafactor_params e = d;
    e.relative_step = false;
    e.scale_parameter = false;
    check_adafactor_variant("explicit lr (Trainer)", e, 1e-3, 4);
    sc_adafactor_params b = e;
    b.use_beta1 = true;
    b.beta1 = 0.9;
    b.weight_decay = 0.01;
    check_adafactor_variant("beta1 + weight decay", b, 3e-3, 4);
    sc_adafactor_params c = d;
    c.clip_threshold = 0.05; /* the update clip is active */
    check_adafactor_variant("tight clip", c, 0.0, 3);

    /* step 2 by hand for one 1-dim entry: p = [2], g1 = [1], g2 = [0.5].
     * t=1: lr = 0.01*2 = 0.02, beta2t = 0, V = 1 + 1e-30, upd = 1 -> p = 1.98.
     * t=2: lr = 0.01*1.98 = 0.0198 (min(1e-2, 1/sqrt 2)), beta2t = 1 - 2^-0.8,
     * V = beta2t*1 + (1-beta2t)*0.25, upd = 0.5/sqrt(V) (rms = |upd| > 1 -> 1
     * only when > 1). */
    sc_optim_params op = sc_optim_default_params(SC_OPTIM_ADAFACTOR);
    sc_optim_tensor t1 = {"x", 1, {1}, false};
    sc_optim *o = NULL;
    sc_error err;
    CHECK(sc_optim_new(&op, &t1, 1, &o, &err) == SC_OK);
    float p = 2.0f, g1 = 1.0f, g2 = 0.5f;
    CHECK(sc_optim_step_tensor(o, 0, &p, &g1, 0, NULL, &err) == SC_OK);
    CHECKF(fabsf(p - 1.98f) < 1e-7f, "step 1: %.9g", p);
    CHECK(sc_optim_step_tensor(o, 0, &p, &g2, 0, NULL, &err) == SC_OK);
    double b2 = 1.0 - pow(2.0, -0.8);
    double v = b2 * 1.0 + (1 - b2) * 0.25;
    double upd = 0.5 / sqrt(v);
    double clip = fmax(1.0, fabs(upd)); /* rms of one element is |upd| */
    double want = 1.98 - 0.0198 * upd / clip;
    CHECKF(fabs(p - want) < 1e-6, "step 2: %.9g want %.9g", p, want);
    sc_optim_free(o);
}

/* AdamW step 2 and 3 by the torch formula, one element, no decay switch. */
static void test_adamw_hand(void) {
    sc_optim_params op = sc_optim_default_params(SC_OPTIM_ADAMW);
    op.adamw.weight_decay = 0.1;
    sc_optim_tensor ts[2] = {{"a", 1, {1}, false}, {"n", 1, {1}, true}};
    sc_optim *o = NULL;
    sc_error err;
    CHECK(sc_optim_new(&op, ts, 2, &o, &err) == SC_OK);
    float pa = 1.0f, pn = 1.0f;
    double ra = 1.0, rn = 1.0, m = 0, v = 0;
    const double gs[3] = {0.5, -0.25, 2.0};
    for (int s = 1; s <= 3; s++) {
        float g = (float)gs[s - 1];
        double lr = 1e-2 * s;
        CHECK(sc_optim_step_tensor(o, 0, &pa, &g, lr, NULL, &err) == SC_OK);
        CHECK(sc_optim_step_tensor(o, 1, &pn, &g, lr, NULL, &err) == SC_OK);
        m = 0.9 * m + 0.1 * gs[s - 1];
        v = 0.999 * v + 0.001 * gs[s - 1] * gs[s - 1];
        double upd = (lr / (1 - pow(0.9, s))) * m / (sqrt(v) / sqrt(1 - pow(0.999, s)) + 1e-8);
        ra = ra * (1 - lr * 0.1) - upd;
        rn = rn - upd;
        CHECKF(fabs(pa - ra) < 1e-6, "adamw step %d: %.9g want %.9g", s, pa, ra);
        CHECKF(fabs(pn - rn) < 1e-6, "adamw no-decay step %d: %.9g want %.9g", s, pn, rn);
    }
    /* a NULL gradient skips the tensor and does not count a step */
    CHECK(sc_optim_step_tensor(o, 0, &pa, NULL, 1e-2, NULL, &err) == SC_OK);
    CHECK(sc_optim_tensor_steps(o, 0) == 3);
    CHECK(sc_optim_step_tensor(o, 2, &pa, &pa, 1e-2, NULL, &err) == SC_ERR_INVALID_ARG);
    CHECK(sc_optim_step_tensor(o, 0, &pa, &pa, NAN, NULL, &err) == SC_ERR_INVALID_ARG);
    sc_optim_free(o);
}

static void test_new_errors(void) {
    sc_optim *o = NULL;
    sc_error err;
    sc_optim_params op = sc_optim_default_params(SC_OPTIM_ADAFACTOR);
    op.adafactor.relative_step = false;
    op.adafactor.warmup_init = true;
    sc_optim_tensor t = {"x", 1, {4}, false};
    CHECK(sc_optim_new(&op, &t, 1, &o, &err) == SC_ERR_INVALID_ARG && !o);
    CHECK(strstr(err.msg, "warmup_init") != NULL);
    op = sc_optim_default_params(SC_OPTIM_ADAMW);
    op.adamw.beta1 = 1.0;
    CHECK(sc_optim_new(&op, &t, 1, &o, &err) == SC_ERR_INVALID_ARG);
    op = sc_optim_default_params(SC_OPTIM_ADAMW);
    sc_optim_tensor dup[2] = {{"x", 1, {4}, false}, {"x", 1, {4}, false}};
    CHECK(sc_optim_new(&op, dup, 2, &o, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "'x'"));
    sc_optim_tensor bad = {"y", 2, {4, -1}, false};
    CHECK(sc_optim_new(&op, &bad, 1, &o, &err) == SC_ERR_INVALID_ARG && strstr(err.msg, "'y'"));
    sc_optim_tensor huge = {"z", 4, {INT64_MAX, 2, 2, 2}, false};
    CHECK(sc_optim_new(&op, &huge, 1, &o, &err) == SC_ERR_INVALID_ARG);
    sc_optim_free(NULL);
    /* HF Trainer's weight-decay rule */
    CHECK(sc_optim_hf_decays("encoder.block.0.layer.0.SelfAttention.q.weight"));
    CHECK(sc_optim_hf_decays("shared.weight"));
    CHECK(!sc_optim_hf_decays("encoder.block.0.layer.0.layer_norm.weight"));
    CHECK(!sc_optim_hf_decays("decoder.final_layer_norm.weight"));
    CHECK(!sc_optim_hf_decays("encoder.block.1.layer.1.mlp.router.classifier.bias"));
    CHECK(!sc_optim_hf_decays("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
}

/* ------------------------------------------------------------- clipping */

static void test_clip(void) {
    float a[2] = {3, 4}, b[1] = {12};
    float *gs[3] = {a, NULL, b};
    size_t ns[3] = {2, 7, 1};
    float total = sc_clip_grad_norm(gs, ns, 3, 1.0);
    CHECKF(fabsf(total - 13.0f) < 1e-6f, "total %g", total);
    float coef = (float)(1.0 / (13.0 + 1e-6));
    CHECKF(fabsf(a[0] - 3 * coef) < 1e-7f && fabsf(a[1] - 4 * coef) < 1e-7f && fabsf(b[0] - 12 * coef) < 1e-7f,
           "clipped %g %g %g", a[0], a[1], b[0]);
    /* under the limit: unchanged, and the norm still returned */
    float c[2] = {0.3f, 0.4f};
    float *g2[1] = {c};
    size_t n2[1] = {2};
    total = sc_clip_grad_norm(g2, n2, 1, 1.0);
    CHECK(fabsf(total - 0.5f) < 1e-7f && c[0] == 0.3f && c[1] == 0.4f);
    /* exactly at the limit: torch's clamp(max_norm / (total + 1e-6), max=1) is < 1 */
    float d[1] = {1.0f};
    float *g3[1] = {d};
    size_t n3[1] = {1};
    total = sc_clip_grad_norm(g3, n3, 1, 1.0);
    CHECK(total == 1.0f && d[0] < 1.0f && d[0] > 0.999998f);
    /* non-finite: propagates */
    float e[2] = {INFINITY, 1};
    float *g4[1] = {e};
    total = sc_clip_grad_norm(g4, n2, 1, 1.0);
    CHECK(isinf(total));
}

/* ------------------------------------------------------------- schedules */

static void test_schedules(void) {
    sc_lr_schedule s = {SC_LR_LINEAR, 1e-3, 10, 110, 0};
    CHECK(sc_lr_at(&s, 0) == 0.0);                   /* warmup starts at 0 */
    CHECK(fabs(sc_lr_at(&s, 5) - 5e-4) < 1e-15);
    CHECK(fabs(sc_lr_at(&s, 10) - 1e-3) < 1e-15);    /* (110-10)/100 */
    CHECK(fabs(sc_lr_at(&s, 60) - 5e-4) < 1e-15);    /* (110-60)/100 */
    CHECK(fabs(sc_lr_at(&s, 109) - 1e-5) < 1e-15);
    CHECK(sc_lr_at(&s, 110) == 0.0 && sc_lr_at(&s, 500) == 0.0);
    s = (sc_lr_schedule){SC_LR_LINEAR, 2.0, 0, 4, 0};
    CHECK(sc_lr_at(&s, 0) == 2.0 && sc_lr_at(&s, 1) == 1.5 && sc_lr_at(&s, 3) == 0.5);
    s = (sc_lr_schedule){SC_LR_CONSTANT, 3e-4, 100, 1000, 0};
    CHECK(sc_lr_at(&s, 0) == 3e-4 && sc_lr_at(&s, 999) == 3e-4);
    s = (sc_lr_schedule){SC_LR_CONSTANT_WITH_WARMUP, 1.0, 4, 0, 0};
    CHECK(sc_lr_at(&s, 0) == 0 && sc_lr_at(&s, 1) == 0.25 && sc_lr_at(&s, 3) == 0.75 && sc_lr_at(&s, 4) == 1.0 &&
          sc_lr_at(&s, 1000) == 1.0);
    /* inverse_sqrt, warmup 4, timescale defaults to 4: step 4 -> 1,
     * step 16 -> 1/sqrt(16/4) = 0.5; no warmup: timescale 10000 */
    s = (sc_lr_schedule){SC_LR_INVERSE_SQRT, 1.0, 4, 0, 0};
    CHECK(sc_lr_at(&s, 2) == 0.5 && sc_lr_at(&s, 4) == 1.0 && fabs(sc_lr_at(&s, 16) - 0.5) < 1e-15);
    s = (sc_lr_schedule){SC_LR_INVERSE_SQRT, 1.0, 0, 0, 0};
    CHECK(sc_lr_at(&s, 0) == 1.0 && fabs(sc_lr_at(&s, 30000) - 0.5) < 1e-15);
    s = (sc_lr_schedule){SC_LR_INVERSE_SQRT, 1.0, 10, 0, 40}; /* explicit timescale: shift 30 */
    CHECK(fabs(sc_lr_at(&s, 130) - 0.5) < 1e-15);
    sc_lr_schedule_kind k;
    sc_error err;
    CHECK(sc_lr_schedule_parse("inverse_sqrt", &k, &err) == SC_OK && k == SC_LR_INVERSE_SQRT);
    CHECK(sc_lr_schedule_parse("linear", &k, &err) == SC_OK && k == SC_LR_LINEAR);
    CHECK(sc_lr_schedule_parse("cosine", &k, &err) == SC_ERR_UNSUPPORTED && strstr(err.msg, "cosine"));
    CHECK(sc_lr_warmup_steps(7, 0.5, 100) == 7);
    CHECK(sc_lr_warmup_steps(0, 0.1, 95) == 10); /* ceil(9.5) */
    CHECK(sc_lr_warmup_steps(0, 0, 95) == 0);
}

static void test_accumulation(void) {
    CHECK(sc_grad_accum_scale(4) == 0.25f && sc_grad_accum_scale(0) == 1.0f);
    CHECK(sc_grad_accum_scale(3) == 1.0f / 3);
    /* 10 batches per epoch, A = 4: updates after global micro-batches 4, 8,
     * 12 (the 2nd of epoch 2: the leftover 2 of epoch 1 carried over) */
    int updates = 0, total = 0;
    int64_t at[8];
    for (int ep = 0; ep < 2; ep++)
        for (int i = 0; i < 10; i++) {
            total++;
            if (sc_grad_accum_is_update(total, i, 10, 4)) at[updates++] = total;
        }
    CHECK(updates == 5 && at[0] == 4 && at[1] == 8 && at[2] == 12 && at[4] == 20);
    /* an epoch no longer than A steps at its end */
    CHECK(sc_grad_accum_is_update(3, 2, 3, 4));
    CHECK(!sc_grad_accum_is_update(2, 1, 3, 4));
}

/* --------------------------------------------------------- saved state */

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/optim_%d_%s", SC_TMP_DIR, (int)getpid(), name);
}

static sc_optim *make(sc_optim_kind kind, bool beta1, const sc_optim_tensor *ts, size_t n) {
    sc_optim_params op = sc_optim_default_params(kind);
    if (beta1) {
        op.adafactor.use_beta1 = true;
        op.adafactor.beta1 = 0.9;
    }
    sc_optim *o = NULL;
    sc_error err;
    CHECKF(sc_optim_new(&op, ts, n, &o, &err) == SC_OK, "%s", err.msg);
    return o;
}

static void fill_grad(float *g, size_t n, int step, int salt) {
    for (size_t i = 0; i < n; i++) g[i] = (float)(0.1 * sin(0.37 * (double)i + step * 1.3 + salt) + 0.01 * step);
}

static const sc_optim_tensor STATE_TS[3] = {{"enc.w", 2, {3, 5}, false}, {"enc.ln", 1, {5}, true},
                                            {"dec.e", 3, {2, 3, 4}, false}};

static void run_steps(sc_optim *o, float *ps[3], int from, int to) {
    sc_error err;
    float g[24];
    for (int s = from; s < to; s++)
        for (int i = 0; i < 3; i++) {
            size_t n = i == 0 ? 15 : i == 1 ? 5 : 24;
            fill_grad(g, n, s, i);
            CHECK(sc_optim_step_tensor(o, (size_t)i, ps[i], g, 1e-3, NULL, &err) == SC_OK);
        }
}

static void check_roundtrip(sc_optim_kind kind, bool beta1) {
    char path[1024];
    tmp_path(path, sizeof path, "state.safetensors");
    float a[3][24], b[3][24];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 24; k++) a[i][k] = b[i][k] = (float)(0.2 + 0.03 * k - 0.1 * i);
    float *pa[3] = {a[0], a[1], a[2]}, *pb[3] = {b[0], b[1], b[2]};
    sc_optim *o1 = make(kind, beta1, STATE_TS, 3);
    sc_optim *o2 = make(kind, beta1, STATE_TS, 3);
    if (!o1 || !o2) return;
    sc_error err;
    run_steps(o1, pa, 0, 3);
    CHECKF(sc_optim_save(o1, path, &err) == SC_OK, "%s", err.msg);
    /* save again over the old file: replaced in place, no temporary left */
    CHECKF(sc_optim_save(o1, path, &err) == SC_OK, "%s", err.msg);
    CHECKF(sc_optim_load(o2, path, &err) == SC_OK, "%s", err.msg);
    CHECK(sc_optim_tensor_steps(o2, 0) == 3 && sc_optim_tensor_steps(o2, 2) == 3);
    memcpy(b, a, sizeof a);
    run_steps(o1, pa, 3, 6);
    run_steps(o2, pb, 3, 6);
    CHECKF(memcmp(a, b, sizeof a) == 0, "%s%s: continuation after load is not bit-identical",
           kind == SC_OPTIM_ADAMW ? "adamw" : "adafactor", beta1 ? "+beta1" : "");
    /* and a fresh optimizer that did not load differs (the test can fail) */
    sc_optim *o3 = make(kind, beta1, STATE_TS, 3);
    float c[3][24];
    memcpy(c, b, sizeof c);
    float *pc[3] = {c[0], c[1], c[2]};
    run_steps(o2, pb, 6, 7);
    run_steps(o3, pc, 6, 7);
    CHECK(memcmp(b, c, sizeof b) != 0);
    sc_optim_free(o1);
    sc_optim_free(o2);
    sc_optim_free(o3);
    unlink(path);
}

/* Loading path into a fresh AdamW optimizer over STATE_TS: the status, and
 * the message must contain `want`; the optimizer's state is untouched. */
static void expect_load_error(const char *path, sc_optim_kind kind, sc_status code, const char *want) {
    sc_optim *o = make(kind, false, STATE_TS, 3);
    if (!o) return;
    sc_error err;
    memset(&err, 0, sizeof err);
    sc_status st = sc_optim_load(o, path, &err);
    CHECKF(st == code, "%s: got %s (%s), want %s", want, sc_status_name(st), err.msg, sc_status_name(code));
    CHECKF(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECKF(strstr(err.msg, path) != NULL, "message '%s' does not name the file", err.msg);
    CHECK(sc_optim_tensor_steps(o, 0) == 0 && sc_optim_tensor_steps(o, 2) == 0);
    sc_optim_free(o);
}

/* Writes a safetensors file with the given metadata and tensors (data
 * from `fill` bytes). */
static void write_st(const char *path, const sc_st_desc *d, size_t n, const char *const *meta, const void *data,
                     size_t nbytes) {
    unlink(path);
    sc_st_writer *w = NULL;
    sc_error err;
    CHECKF(sc_st_writer_open(path, d, n, meta, &w, &err) == SC_OK, "%s", err.msg);
    if (!w) return;
    CHECK(sc_st_writer_write(w, data, nbytes, &err) == SC_OK);
    CHECK(sc_st_writer_close(w, &err) == SC_OK);
}

static void test_state_errors(void) {
    char good[1024], bad[1024];
    tmp_path(good, sizeof good, "good.safetensors");
    tmp_path(bad, sizeof bad, "bad.safetensors");
    sc_optim *o = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
    float a[3][24] = {{0}};
    float *pa[3] = {a[0], a[1], a[2]};
    run_steps(o, pa, 0, 2);
    sc_error err;
    CHECK(sc_optim_save(o, good, &err) == SC_OK);
    sc_optim_free(o);

    /* a file that does not exist */
    tmp_path(bad, sizeof bad, "missing.safetensors");
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_MISSING, "missing.safetensors");
    tmp_path(bad, sizeof bad, "bad.safetensors");

    /* truncated at several points */
    char *buf = NULL;
    size_t len = 0;
    CHECK(sc_file_read(good, 1 << 20, &buf, &len, &err) == SC_OK);
    size_t cuts[3] = {4, 40, len - 3};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(bad, "wb");
        fwrite(buf, 1, cuts[i], f);
        fclose(f);
        sc_optim *x = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
        sc_status st = sc_optim_load(x, bad, &err);
        CHECKF(st == SC_ERR_FORMAT || st == SC_ERR_LIMIT, "cut at %zu: %s", cuts[i], sc_status_name(st));
        CHECKF(strstr(err.msg, bad) != NULL, "cut at %zu: '%s'", cuts[i], err.msg);
        CHECK(sc_optim_tensor_steps(x, 0) == 0);
        sc_optim_free(x);
    }
    /* a hostile header length (2^63) */
    {
        unsigned char hostile[16];
        memset(hostile, 0, sizeof hostile);
        hostile[7] = 0x80;
        FILE *f = fopen(bad, "wb");
        fwrite(hostile, 1, sizeof hostile, f);
        fclose(f);
        sc_optim *h = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
        sc_status st = sc_optim_load(h, bad, &err);
        CHECKF((st == SC_ERR_FORMAT || st == SC_ERR_LIMIT) && strstr(err.msg, bad), "hostile: %s", err.msg);
        sc_optim_free(h);
    }
    /* the same bytes through the buffer entry point */
    sc_optim *x = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
    CHECK(sc_optim_load_buffer(x, buf, len, "mem", &err) == SC_OK && sc_optim_tensor_steps(x, 1) == 2);
    sc_optim_free(x);
    free(buf);

    /* another optimizer's state */
    expect_load_error(good, SC_OPTIM_ADAFACTOR, SC_ERR_FORMAT, "\"adamw\", not adafactor");

    /* a parameter the optimizer does not have / lacks one it has */
    sc_optim_tensor more[4] = {STATE_TS[0], STATE_TS[1], STATE_TS[2], {"extra.w", 1, {2}, false}};
    o = make(SC_OPTIM_ADAMW, false, more, 4);
    CHECK(sc_optim_save(o, bad, &err) == SC_OK);
    sc_optim_free(o);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "'extra.w.");
    o = make(SC_OPTIM_ADAMW, false, STATE_TS, 2);
    CHECK(sc_optim_save(o, bad, &err) == SC_OK);
    sc_optim_free(o);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "'dec.e.step' is missing");

    /* a shape that differs */
    sc_optim_tensor other[3] = {STATE_TS[0], STATE_TS[1], {"dec.e", 3, {2, 4, 3}, false}};
    o = make(SC_OPTIM_ADAMW, false, other, 3);
    CHECK(sc_optim_save(o, bad, &err) == SC_OK);
    sc_optim_free(o);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_SHAPE, "'dec.e.exp_avg' is F32 [2,4,3], the optimizer expects "
                                                         "F32 [2,3,4]");

    /* hand-made files: not a state file, a future version, a negative step,
     * a negative second moment, a NaN moment, a wrong dtype */
    const char *meta_none[] = {"format", "something-else", NULL};
    const char *meta_v2[] = {"format", "switchc-optimizer-state", "version", "2", "optimizer", "adamw", NULL};
    const char *meta_ok[] = {"format", "switchc-optimizer-state", "version", "1", "optimizer", "adamw", NULL};
    sc_st_desc one = {"x", SC_DTYPE_F32, 1, {1}};
    float zero = 0;
    write_st(bad, &one, 1, meta_none, &zero, 4);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "not an optimizer state file");
    write_st(bad, &one, 1, NULL, &zero, 4);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "not an optimizer state file");
    write_st(bad, &one, 1, meta_v2, &zero, 4);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_UNSUPPORTED, "version \"2\"");

    /* the full AdamW layout, corrupted one value at a time */
    sc_st_desc d[9] = {{"enc.w.step", SC_DTYPE_I64, 1, {1}},
                       {"enc.ln.step", SC_DTYPE_I64, 1, {1}},
                       {"dec.e.step", SC_DTYPE_I64, 1, {1}},
                       {"enc.w.exp_avg", SC_DTYPE_F32, 2, {3, 5}},
                       {"enc.w.exp_avg_sq", SC_DTYPE_F32, 2, {3, 5}},
                       {"enc.ln.exp_avg", SC_DTYPE_F32, 1, {5}},
                       {"enc.ln.exp_avg_sq", SC_DTYPE_F32, 1, {5}},
                       {"dec.e.exp_avg", SC_DTYPE_F32, 3, {2, 3, 4}},
                       {"dec.e.exp_avg_sq", SC_DTYPE_F32, 3, {2, 3, 4}}};
    unsigned char data[3 * 8 + 4 * (15 * 2 + 5 * 2 + 24 * 2)];
    memset(data, 0, sizeof data);
    write_st(bad, d, 9, meta_ok, data, sizeof data);
    o = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
    CHECKF(sc_optim_load(o, bad, &err) == SC_OK, "hand-made valid file: %s", err.msg);
    sc_optim_free(o);
    int64_t neg = -1;
    memcpy(data + 8, &neg, 8);
    write_st(bad, d, 9, meta_ok, data, sizeof data);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "'enc.ln.step' is negative");
    memset(data, 0, sizeof data);
    float negv = -1e-3f, nanv = NAN;
    memcpy(data + 24 + 4 * 15 + 4 * 2, &negv, 4); /* enc.w.exp_avg_sq[2] */
    write_st(bad, d, 9, meta_ok, data, sizeof data);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "'enc.w.exp_avg_sq' element 2");
    memset(data, 0, sizeof data);
    memcpy(data + 24 + 4 * 3, &nanv, 4); /* enc.w.exp_avg[3] */
    write_st(bad, d, 9, meta_ok, data, sizeof data);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_FORMAT, "not finite");
    memset(data, 0, sizeof data);
    d[1].dtype = SC_DTYPE_F64;
    write_st(bad, d, 9, meta_ok, data, sizeof data);
    expect_load_error(bad, SC_OPTIM_ADAMW, SC_ERR_SHAPE, "'enc.ln.step' is F64 [1]");

    /* a model checkpoint is not a state file */
    expect_load_error(fixture_path("models/train_e4_step1_untied_nodrop/model.safetensors"), SC_OPTIM_ADAMW,
                      SC_ERR_FORMAT, "not an optimizer state file");

    /* saving into a directory that does not exist fails cleanly */
    o = make(SC_OPTIM_ADAMW, false, STATE_TS, 3);
    char nodir[1100];
    snprintf(nodir, sizeof nodir, "%s/no-such-dir-%d/state.safetensors", SC_TMP_DIR, (int)getpid());
    CHECK(sc_optim_save(o, nodir, &err) == SC_ERR_IO && strstr(err.msg, "no-such-dir"));
    sc_optim_free(o);
    unlink(good);
    unlink(bad);
}

int main(void) {
    mkdir(SC_TMP_DIR, 0777);
    test_fixture_steps();
    test_adafactor_oracle();
    test_adamw_hand();
    test_new_errors();
    test_clip();
    test_schedules();
    test_accumulation();
    check_roundtrip(SC_OPTIM_ADAMW, false);
    check_roundtrip(SC_OPTIM_ADAFACTOR, false);
    check_roundtrip(SC_OPTIM_ADAFACTOR, true);
    test_state_errors();
    TEST_MAIN_END();
}

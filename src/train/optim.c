/* AdamW and Adafactor on fp32 tensors, their saved state, gradient clipping,
 * learning-rate schedules and gradient-accumulation bookkeeping (see
 * optim.h). The formulas follow torch 1.13 and transformers 4.41.2 line by
 * line, including where each scalar is rounded to fp32: torch applies a
 * Python float to an fp32 tensor as an fp32 value, so `(float)` casts below
 * mark those points. Leaves out multithreading (the tensors are small next
 * to a forward/backward pass) and amsgrad. */
#include "train/optim.h"

#include "core/checked.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/safetensors_write.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_FORMAT "switchc-optimizer-state"
#define STATE_VERSION "1"

/* One parameter's state. Factored (Adafactor, >= 2 dims) tensors are seen as
 * nb matrices [nr, nc]: nb = prod(shape[:-2]), nr = shape[-2], nc = shape[-1]. */
typedef struct otensor {
    char *name;
    int ndim;
    int64_t shape[4];
    size_t numel;
    size_t nb, nr, nc;
    bool factored, no_decay;
    int64_t step;
    float *m;   /* [numel] exp_avg: AdamW, Adafactor with beta1; else NULL */
    float *v;   /* [numel] exp_avg_sq: AdamW, unfactored Adafactor; else NULL */
    float *row; /* [nb*nr] exp_avg_sq_row: factored Adafactor */
    float *col; /* [nb*nc] exp_avg_sq_col: factored Adafactor */
} otensor;

struct sc_optim {
    sc_optim_params p;
    otensor *t;
    size_t n;
    float *scratch;   /* [max numel] the Adafactor update */
    float *scratch2;  /* [max nb*nr] row factors */
};

sc_optim_params sc_optim_default_params(sc_optim_kind kind) {
    sc_optim_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.adamw.beta1 = 0.9;
    p.adamw.beta2 = 0.999;
    p.adamw.eps = 1e-8;
    p.adamw.weight_decay = 0.01;
    p.adafactor.eps1 = 1e-30;
    p.adafactor.eps2 = 1e-3;
    p.adafactor.clip_threshold = 1.0;
    p.adafactor.decay_rate = -0.8;
    p.adafactor.use_beta1 = false;
    p.adafactor.beta1 = 0.0;
    p.adafactor.weight_decay = 0.0;
    p.adafactor.scale_parameter = true;
    p.adafactor.relative_step = true;
    p.adafactor.warmup_init = false;
    return p;
}

bool sc_optim_hf_decays(const char *name) {
    if (!name) return false;
    if (strstr(name, "bias")) return false; /* HF: `"bias" not in name` */
    static const char ln[] = "layer_norm.weight";
    size_t n = strlen(name), k = sizeof ln - 1;
    return !(n >= k && strcmp(name + n - k, ln) == 0);
}

static void free_tensor(otensor *t) {
    free(t->name);
    free(t->m);
    free(t->v);
    free(t->row);
    free(t->col);
}

void sc_optim_free(sc_optim *o) {
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) free_tensor(&o->t[i]);
    free(o->t);
    free(o->scratch);
    free(o->scratch2);
    free(o);
}

static bool finite_pos(double x) { return isfinite(x) && x > 0; }

static sc_status check_params(const sc_optim_params *p, sc_error *err) {
    if (p->kind == SC_OPTIM_ADAMW) {
        const sc_adamw_params *a = &p->adamw;
        /* torch's constructor checks */
        if (!(a->beta1 >= 0 && a->beta1 < 1) || !(a->beta2 >= 0 && a->beta2 < 1))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "AdamW: betas must be in [0, 1) (got %g, %g)", a->beta1, a->beta2);
        if (!(a->eps >= 0) || !(a->weight_decay >= 0) || !isfinite(a->weight_decay))
            return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                           "AdamW: eps and weight_decay must be >= 0 (got %g, %g)", a->eps, a->weight_decay);
        return SC_OK;
    }
    if (p->kind != SC_OPTIM_ADAFACTOR)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "unknown optimizer kind %d", (int)p->kind);
    const sc_adafactor_params *f = &p->adafactor;
    if (f->warmup_init && !f->relative_step)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "Adafactor: warmup_init requires relative_step");
    if (!(f->eps1 >= 0) || !(f->eps2 >= 0) || !finite_pos(f->clip_threshold) || !isfinite(f->decay_rate) ||
        !(f->weight_decay >= 0) || !isfinite(f->weight_decay))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "Adafactor: eps must be >= 0, clip_threshold > 0, weight_decay >= 0");
    if (f->use_beta1 && !(f->beta1 >= 0 && f->beta1 < 1))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "Adafactor: beta1 must be in [0, 1) (got %g)",
                       f->beta1);
    return SC_OK;
}

static float *zalloc_f(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

sc_status sc_optim_new(const sc_optim_params *p, const sc_optim_tensor *tensors, size_t n, sc_optim **out,
                       sc_error *err) {
    if (!p || !out || (n && !tensors))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_optim_new: NULL argument");
    sc_status st = check_params(p, err);
    if (st) return st;
    sc_optim *o = calloc(1, sizeof *o);
    if (!o) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "optimizer: out of memory");
    o->p = *p;
    o->t = calloc(n ? n : 1, sizeof(otensor));
    if (!o->t) {
        free(o);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "optimizer: out of memory");
    }
    bool adafactor = p->kind == SC_OPTIM_ADAFACTOR;
    size_t max_numel = 1, max_rows = 1;
    for (size_t i = 0; i < n; i++, o->n++) {
        const sc_optim_tensor *s = &tensors[i];
        otensor *t = &o->t[i];
        if (!s->name || !s->name[0]) {
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer: tensor %zu has no name", i);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->t[j].name, s->name) == 0) {
                st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer: tensor '%s' is given twice",
                             s->name);
                goto fail;
            }
        if (s->ndim < 1 || s->ndim > 4 || !sc_numel(s->shape, s->ndim, &t->numel) || t->numel == 0 ||
            !sc_mul_size(t->numel, sizeof(float), &(size_t){0})) {
            st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                         "optimizer: tensor '%s' has a bad shape (ndim %d, or a zero/negative/huge dim)",
                         s->name, s->ndim);
            goto fail;
        }
        t->name = strdup(s->name);
        if (!t->name) goto oom;
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        t->no_decay = s->no_decay;
        t->factored = adafactor && s->ndim >= 2;
        t->nc = (size_t)s->shape[s->ndim - 1];
        t->nr = s->ndim >= 2 ? (size_t)s->shape[s->ndim - 2] : 1;
        t->nb = t->numel / (t->nr * t->nc);
        if (t->numel > max_numel) max_numel = t->numel;
        if (t->nb * t->nr > max_rows) max_rows = t->nb * t->nr;
        if (!adafactor || p->adafactor.use_beta1) {
            if (!(t->m = zalloc_f(t->numel))) goto oom;
        }
        if (t->factored) {
            if (!(t->row = zalloc_f(t->nb * t->nr)) || !(t->col = zalloc_f(t->nb * t->nc))) goto oom;
        } else if (!(t->v = zalloc_f(t->numel))) {
            goto oom;
        }
    }
    if (adafactor) {
        if (!(o->scratch = zalloc_f(max_numel)) || !(o->scratch2 = zalloc_f(max_rows))) goto oom;
    }
    *out = o;
    return SC_OK;
oom:
    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "optimizer: out of memory for the state of %zu tensors", n);
fail:
    o->n = n; /* entries not reached are still zeroed, which free_tensor takes */
    sc_optim_free(o);
    return st;
}

size_t sc_optim_count(const sc_optim *o) { return o ? o->n : 0; }
const sc_optim_params *sc_optim_get_params(const sc_optim *o) { return o ? &o->p : NULL; }
int64_t sc_optim_tensor_steps(const sc_optim *o, size_t i) { return o && i < o->n ? o->t[i].step : -1; }

/* torch's tensor.norm(2) on fp32: a float result; accumulated here in double. */
static float norm_f(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return (float)sqrt(s);
}

/* HF Adafactor._rms: x.norm(2) / numel**0.5 (the divisor an fp32 scalar). */
static float rms_f(const float *x, size_t n) { return norm_f(x, n) / (float)sqrt((double)n); }

static void adamw_step(const sc_adamw_params *a, otensor *t, float *p, const float *g, double lr) {
    size_t n = t->numel;
    t->step++;
    /* torch 1.13 _single_tensor_adamw */
    float decay = (float)(1.0 - lr * (t->no_decay ? 0.0 : a->weight_decay));
    float b1 = (float)a->beta1, one_b1 = (float)(1.0 - a->beta1);
    float b2 = (float)a->beta2, one_b2 = (float)(1.0 - a->beta2);
    double bc1 = 1.0 - pow(a->beta1, (double)t->step);
    double bc2 = 1.0 - pow(a->beta2, (double)t->step);
    float neg_step_size = (float)(-(lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float eps = (float)a->eps;
    for (size_t i = 0; i < n; i++) {
        p[i] *= decay;
        float m = t->m[i] * b1;
        m = m + one_b1 * g[i];
        float v = t->v[i] * b2;
        v = v + one_b2 * g[i] * g[i];
        t->m[i] = m;
        t->v[i] = v;
        float denom = sqrtf(v) / bc2_sqrt + eps;
        p[i] = p[i] + neg_step_size * (m / denom);
    }
}

/* mean of n floats, as fp32 */
static float mean_f(const float *x, size_t n, size_t stride) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i * stride];
    return (float)(s / (double)n);
}

static double adafactor_step(sc_optim *o, otensor *t, float *p, const float *g, double ext_lr) {
    const sc_adafactor_params *f = &o->p.adafactor;
    size_t n = t->numel;
    t->step++;
    /* HF: state["RMS"] = _rms(p) before anything changes p; then _get_lr */
    float rms_p = rms_f(p, n);
    double rel = ext_lr;
    if (f->relative_step) {
        double min_step = f->warmup_init ? 1e-6 * (double)t->step : 1e-2;
        rel = fmin(min_step, 1.0 / sqrt((double)t->step));
    }
    /* param_scale is either the fp32 tensor RMS (then lr is an fp32 tensor) or
     * a Python float (then lr stays a double until applied as fp32) */
    float lr_f;
    if (f->scale_parameter && (double)rms_p > f->eps2) /* Python max(eps2, RMS) */
        lr_f = rms_p * (float)rel;
    else
        lr_f = (float)((f->scale_parameter ? f->eps2 : 1.0) * rel);

    double beta2t = 1.0 - pow((double)t->step, f->decay_rate);
    float b2 = (float)beta2t, one_b2 = (float)(1.0 - beta2t);
    float eps1 = (float)f->eps1;
    float *upd = o->scratch;
    if (t->factored) {
        size_t nr = t->nr, nc = t->nc;
        float *rf = o->scratch2;
        for (size_t b = 0; b < t->nb; b++) {
            const float *gb = g + b * nr * nc;
            float *row = t->row + b * nr, *col = t->col + b * nc;
            /* u = g^2 + eps1; row stats: mean over the last dim */
            for (size_t r = 0; r < nr; r++) {
                double s = 0;
                for (size_t c = 0; c < nc; c++) {
                    float u = gb[r * nc + c] * gb[r * nc + c] + eps1;
                    s += u;
                }
                float mu = (float)(s / (double)nc);
                row[r] = row[r] * b2;
                row[r] = row[r] + one_b2 * mu;
            }
            /* column stats: mean over dim -2 */
            for (size_t c = 0; c < nc; c++) {
                double s = 0;
                for (size_t r = 0; r < nr; r++) {
                    float u = gb[r * nc + c] * gb[r * nc + c] + eps1;
                    s += u;
                }
                float mu = (float)(s / (double)nr);
                col[c] = col[c] * b2;
                col[c] = col[c] + one_b2 * mu;
            }
            /* _approx_sq_grad: rsqrt(row / mean(row)) [:, None] * rsqrt(col) [None, :] */
            float rmean = mean_f(row, nr, 1);
            for (size_t r = 0; r < nr; r++) rf[r] = 1.0f / sqrtf(row[r] / rmean);
            for (size_t r = 0; r < nr; r++) {
                float *ub = upd + b * nr * nc + r * nc;
                for (size_t c = 0; c < nc; c++) {
                    float cf = 1.0f / sqrtf(col[c]);
                    ub[c] = (rf[r] * cf) * gb[r * nc + c];
                }
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float u = g[i] * g[i] + eps1;
            float v = t->v[i] * b2;
            v = v + one_b2 * u;
            t->v[i] = v;
            upd[i] = (1.0f / sqrtf(v)) * g[i];
        }
    }
    /* update /= max(1, rms(update) / clip_threshold); update *= lr */
    float clip = rms_f(upd, n) / (float)f->clip_threshold;
    if (!(clip >= 1.0f) && !isnan(clip)) clip = 1.0f;
    for (size_t i = 0; i < n; i++) upd[i] = (upd[i] / clip) * lr_f;
    if (f->use_beta1) {
        float b1 = (float)f->beta1, one_b1 = (float)(1.0 - f->beta1);
        for (size_t i = 0; i < n; i++) {
            float m = t->m[i] * b1;
            t->m[i] = m + one_b1 * upd[i];
            upd[i] = t->m[i];
        }
    }
    if (f->weight_decay != 0 && !t->no_decay) {
        float alpha = (float)(-f->weight_decay) * lr_f;
        for (size_t i = 0; i < n; i++) p[i] = p[i] + alpha * p[i];
    }
    for (size_t i = 0; i < n; i++) p[i] = p[i] + (-upd[i]);
    return (double)lr_f;
}

sc_status sc_optim_step_tensor(sc_optim *o, size_t i, float *param, const float *grad, double lr,
                               double *lr_used, sc_error *err) {
    if (!o || i >= o->n)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer step: tensor index %zu out of range", i);
    if (!grad) return SC_OK;
    if (!param)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer step: '%s' has no parameter data",
                       o->t[i].name);
    bool uses_lr = o->p.kind == SC_OPTIM_ADAMW || !o->p.adafactor.relative_step;
    if (uses_lr && !(lr >= 0 && isfinite(lr)))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer step: bad learning rate %g", lr);
    double used = lr;
    if (o->p.kind == SC_OPTIM_ADAMW)
        adamw_step(&o->p.adamw, &o->t[i], param, grad, lr);
    else
        used = adafactor_step(o, &o->t[i], param, grad, lr);
    if (lr_used) *lr_used = used;
    return SC_OK;
}

sc_status sc_optim_step(sc_optim *o, float *const *params, const float *const *grads, double lr,
                        sc_error *err) {
    if (!o || (o->n && (!params || !grads)))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "optimizer step: NULL argument");
    for (size_t i = 0; i < o->n; i++) {
        sc_status st = sc_optim_step_tensor(o, i, params[i], grads[i], lr, NULL, err);
        if (st) return st;
    }
    return SC_OK;
}

/* ------------------------------------------------------------ saved state */

/* The state tensors of one parameter, in file order after the steps. */
typedef struct slot {
    const char *suffix;
    float *data;
    size_t numel;
    int ndim;
    int64_t shape[4];
    bool nonneg; /* a second moment: must be >= 0 */
} slot;

static int tensor_slots(const otensor *t, slot s[3]) {
    int k = 0;
    if (t->m) {
        s[k] = (slot){"exp_avg", t->m, t->numel, t->ndim, {0}, false};
        memcpy(s[k].shape, t->shape, sizeof s[k].shape);
        k++;
    }
    if (t->v) {
        s[k] = (slot){"exp_avg_sq", t->v, t->numel, t->ndim, {0}, true};
        memcpy(s[k].shape, t->shape, sizeof s[k].shape);
        k++;
    }
    if (t->factored) {
        /* row: shape[:-1]; col: shape[:-2] + shape[-1:] */
        s[k] = (slot){"exp_avg_sq_row", t->row, t->nb * t->nr, t->ndim - 1, {0}, true};
        memcpy(s[k].shape, t->shape, sizeof s[k].shape);
        k++;
        s[k] = (slot){"exp_avg_sq_col", t->col, t->nb * t->nc, t->ndim - 1, {0}, true};
        memcpy(s[k].shape, t->shape, sizeof s[k].shape);
        s[k].shape[t->ndim - 2] = t->shape[t->ndim - 1];
        k++;
    }
    return k;
}

static const char *kind_name(sc_optim_kind k) { return k == SC_OPTIM_ADAMW ? "adamw" : "adafactor"; }

static char *join_name(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '.';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static sc_status fsync_path(const char *path, int flags, sc_error *err) {
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot open to flush: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some filesystems cannot sync a directory */
        return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: fsync failed: %s", path, strerror(e));
    return SC_OK;
}

sc_status sc_optim_save(const sc_optim *o, const char *path, sc_error *err) {
    if (!o || !path || !path[0])
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "saving optimizer state: NULL argument");
    size_t per = 4, nd = 0, cap;
    if (!sc_mul_size(o->n, per, &cap))
        return sc_fail(err, SC_ERR_LIMIT, SC_NO_OFFSET, "%s: too many tensors", path);
    sc_st_desc *d = calloc(cap ? cap : 1, sizeof *d);
    char **names = calloc(cap ? cap : 1, sizeof *names);
    char *tmp = NULL;
    sc_st_writer *w = NULL;
    sc_status st = SC_OK;
    if (!d || !names) goto oom;
    /* I64 steps first: the writer wants wider elements before narrower ones */
    for (size_t i = 0; i < o->n; i++, nd++) {
        if (!(names[nd] = join_name(o->t[i].name, "step"))) goto oom;
        d[nd] = (sc_st_desc){names[nd], SC_DTYPE_I64, 1, {1}};
    }
    for (size_t i = 0; i < o->n; i++) {
        slot s[3];
        int k = tensor_slots(&o->t[i], s);
        for (int j = 0; j < k; j++, nd++) {
            if (!(names[nd] = join_name(o->t[i].name, s[j].suffix))) goto oom;
            d[nd] = (sc_st_desc){names[nd], SC_DTYPE_F32, s[j].ndim, {0}};
            memcpy(d[nd].shape, s[j].shape, sizeof d[nd].shape);
        }
    }
    const char *meta[] = {"format", STATE_FORMAT, "version", STATE_VERSION, "optimizer",
                          kind_name(o->p.kind), NULL};
    /* a fresh name beside the target, so the final rename stays on one
     * filesystem; mkstemp reserves it, the writer then creates it anew */
    size_t lp = strlen(path);
    tmp = malloc(lp + 16);
    if (!tmp) goto oom;
    memcpy(tmp, path, lp);
    memcpy(tmp + lp, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot create a temporary file: %s", path,
                     strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    close(fd);
    unlink(tmp);
    if ((st = sc_st_writer_open(tmp, d, nd, meta, &w, err))) goto done;
    for (size_t i = 0; i < o->n && !st; i++) st = sc_st_writer_write(w, &o->t[i].step, sizeof(int64_t), err);
    for (size_t i = 0; i < o->n && !st; i++) {
        slot s[3];
        int k = tensor_slots(&o->t[i], s);
        for (int j = 0; j < k && !st; j++) st = sc_st_writer_write(w, s[j].data, s[j].numel * sizeof(float), err);
    }
    if (st) {
        sc_st_writer_abort(w);
        w = NULL;
        goto done;
    }
    st = sc_st_writer_close(w, err);
    w = NULL;
    if (st) goto done;
    if ((st = fsync_path(tmp, O_RDONLY, err))) goto done;
    if (rename(tmp, path) != 0) {
        st = sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "%s: cannot rename %s into place: %s", path, tmp,
                     strerror(errno));
        goto done;
    }
    free(tmp);
    tmp = NULL;
    {
        /* make the rename itself durable */
        char *dir = strdup(path);
        if (!dir) goto oom;
        char *slash = strrchr(dir, '/');
        if (slash == dir) slash[1] = '\0';
        else if (slash) *slash = '\0';
        else strcpy(dir, ".");
        st = fsync_path(dir, O_RDONLY | O_DIRECTORY, err);
        free(dir);
    }
    goto done;
oom:
    st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "%s: out of memory", path);
done:
    if (tmp) unlink(tmp);
    free(tmp);
    if (names)
        for (size_t i = 0; i < nd; i++) free(names[i]);
    free(names);
    free(d);
    return st;
}

/* The __metadata__ strings of a safetensors buffer that sc_safetensors_parse
 * already accepted (so the header length is valid). */
static sc_status check_metadata(const sc_optim *o, const uint8_t *data, size_t size, const char *src,
                                sc_error *err) {
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)data[i] << (8 * i);
    if (hl > size - 8) return sc_fail(err, SC_ERR_FORMAT, 0, "%s: bad header length", src);
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse((const char *)data + 8, (size_t)hl, src, &doc, err);
    if (st) return st;
    const sc_json *meta = sc_json_get(sc_json_root(doc), "__metadata__");
    const char *fmt = sc_json_string(sc_json_get(meta, "format"), NULL);
    const char *ver = sc_json_string(sc_json_get(meta, "version"), NULL);
    const char *kind = sc_json_string(sc_json_get(meta, "optimizer"), NULL);
    if (!fmt || strcmp(fmt, STATE_FORMAT) != 0)
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                     "%s: not an optimizer state file (__metadata__ format is not \"" STATE_FORMAT "\")", src);
    else if (!ver || strcmp(ver, STATE_VERSION) != 0)
        st = sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                     "%s: optimizer state version \"%.40s\" is not supported (this build reads \"" STATE_VERSION
                     "\")", src, ver ? ver : "(none)");
    else if (!kind || strcmp(kind, kind_name(o->p.kind)) != 0)
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: the state is for optimizer \"%.40s\", not %s", src,
                     kind ? kind : "(none)", kind_name(o->p.kind));
    sc_json_free(doc);
    return st;
}

static sc_status check_entry(const sc_tensor_entry *e, const char *want, sc_dtype dt, int ndim,
                             const int64_t *shape, const char *src, sc_error *err) {
    if (!e) return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: tensor '%s' is missing", src, want);
    bool ok = e->view.dtype == dt && e->view.ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = e->view.shape[d] == shape[d];
    if (!ok) {
        char got[96] = "", exp[96] = "";
        size_t g = 0, x = 0;
        for (int d = 0; d < e->view.ndim && g < sizeof got; d++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%lld", d ? "," : "", (long long)e->view.shape[d]);
        for (int d = 0; d < ndim && x < sizeof exp; d++)
            x += (size_t)snprintf(exp + x, sizeof exp - x, "%s%lld", d ? "," : "", (long long)shape[d]);
        return sc_fail(err, SC_ERR_SHAPE, e->file_offset,
                       "%s: tensor '%s' is %s [%s], the optimizer expects %s [%s]", src, want,
                       sc_dtype_name(e->view.dtype), got, sc_dtype_name(dt), exp);
    }
    return SC_OK;
}

sc_status sc_optim_load_buffer(sc_optim *o, const void *data, size_t size, const char *source,
                               sc_error *err) {
    const char *src = source ? source : "optimizer state";
    if (!o || (!data && size))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "%s: NULL argument", src);
    sc_tensor_list *l = NULL;
    sc_status st = sc_safetensors_parse(data, size, src, &l, err);
    if (st) return st;
    if ((st = check_metadata(o, data, size, src, err))) goto done;
    size_t expected = 0;
    char name[1024];
    /* pass 1: every expected tensor is present with the right dtype and
     * shape, and its values are sane; nothing is copied yet */
    for (size_t i = 0; i < o->n && !st; i++) {
        const otensor *t = &o->t[i];
        snprintf(name, sizeof name, "%s.step", t->name);
        const sc_tensor_entry *e = sc_tensor_list_find(l, name);
        int64_t one = 1;
        if ((st = check_entry(e, name, SC_DTYPE_I64, 1, &one, src, err))) break;
        int64_t step;
        memcpy(&step, e->view.data, sizeof step);
        if (step < 0) {
            st = sc_fail(err, SC_ERR_FORMAT, e->file_offset, "%s: tensor '%s' is negative (%lld)", src, name,
                         (long long)step);
            break;
        }
        expected++;
        slot s[3];
        int k = tensor_slots(t, s);
        for (int j = 0; j < k && !st; j++, expected++) {
            snprintf(name, sizeof name, "%s.%s", t->name, s[j].suffix);
            e = sc_tensor_list_find(l, name);
            if ((st = check_entry(e, name, SC_DTYPE_F32, s[j].ndim, s[j].shape, src, err))) break;
            const float *x = e->view.data;
            for (size_t q = 0; q < s[j].numel; q++) {
                if (!isfinite(x[q]) || (s[j].nonneg && x[q] < 0)) {
                    st = sc_fail(err, SC_ERR_FORMAT, e->file_offset + q * sizeof(float),
                                 "%s: tensor '%s' element %zu is %g (%s)", src, name, q, (double)x[q],
                                 isfinite(x[q]) ? "a second moment cannot be negative" : "not finite");
                    break;
                }
            }
        }
    }
    if (st) goto done;
    if (sc_tensor_list_count(l) != expected) {
        /* name the first tensor that belongs to no parameter */
        const char *extra = "?";
        for (size_t i = 0; i < sc_tensor_list_count(l); i++) {
            const char *en = sc_tensor_list_at(l, i)->name;
            bool known = false;
            for (size_t p = 0; p < o->n && !known; p++) {
                size_t ln = strlen(o->t[p].name);
                if (strncmp(en, o->t[p].name, ln) != 0 || en[ln] != '.') continue;
                const char *suf = en + ln + 1;
                slot s[3];
                int k = tensor_slots(&o->t[p], s);
                known = strcmp(suf, "step") == 0;
                for (int j = 0; j < k && !known; j++) known = strcmp(suf, s[j].suffix) == 0;
            }
            if (!known) {
                extra = en;
                break;
            }
        }
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                     "%s: holds %zu tensors, the optimizer expects %zu: '%.200s' belongs to no parameter "
                     "(was the state saved for another model or optimizer?)",
                     src, sc_tensor_list_count(l), expected, extra);
        goto done;
    }
    /* pass 2: copy */
    for (size_t i = 0; i < o->n; i++) {
        otensor *t = &o->t[i];
        snprintf(name, sizeof name, "%s.step", t->name);
        memcpy(&t->step, sc_tensor_list_find(l, name)->view.data, sizeof t->step);
        slot s[3];
        int k = tensor_slots(t, s);
        for (int j = 0; j < k; j++) {
            snprintf(name, sizeof name, "%s.%s", t->name, s[j].suffix);
            memcpy(s[j].data, sc_tensor_list_find(l, name)->view.data, s[j].numel * sizeof(float));
        }
    }
done:
    sc_tensor_list_free(l);
    return st;
}

sc_status sc_optim_load(sc_optim *o, const char *path, sc_error *err) {
    if (!o || !path)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "loading optimizer state: NULL argument");
    sc_mapped_file f;
    sc_status st = sc_file_map(path, &f, err);
    if (st) return st;
    st = sc_optim_load_buffer(o, f.data, f.size, path, err);
    sc_file_unmap(&f);
    return st;
}

/* --------------------------------------------------------- gradient clipping */

float sc_clip_grad_norm(float *const *grads, const size_t *numel, size_t n, double max_norm) {
    /* torch: total = norm(stack([norm(g) for g])) in fp32 */
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!grads[i]) continue;
        float ni = norm_f(grads[i], numel[i]);
        s += (double)ni * (double)ni;
    }
    float total = (float)sqrt(s);
    /* clip_coef = max_norm / (total + 1e-6): Python's scalar / tensor is
     * tensor.reciprocal() * scalar */
    float denom = total + (float)1e-6;
    float coef = (1.0f / denom) * (float)max_norm;
    if (coef > 1.0f) coef = 1.0f; /* clamp(max=1.0); NaN stays NaN */
    for (size_t i = 0; i < n; i++) {
        if (!grads[i]) continue;
        for (size_t k = 0; k < numel[i]; k++) grads[i][k] *= coef;
    }
    return total;
}

/* ------------------------------------------------------------- lr schedules */

static double warmup_factor(int64_t step, int64_t warmup) {
    return (double)step / (double)(warmup > 1 ? warmup : 1);
}

double sc_lr_at(const sc_lr_schedule *s, int64_t step) {
    if (!s) return 0;
    if (step < 0) step = 0;
    double f = 1.0;
    switch (s->kind) {
    case SC_LR_CONSTANT:
        f = 1.0;
        break;
    case SC_LR_CONSTANT_WITH_WARMUP:
        f = step < s->warmup_steps ? warmup_factor(step, s->warmup_steps) : 1.0;
        break;
    case SC_LR_LINEAR:
        if (step < s->warmup_steps) {
            f = warmup_factor(step, s->warmup_steps);
        } else {
            int64_t span = s->total_steps - s->warmup_steps;
            f = (double)(s->total_steps - step) / (double)(span > 1 ? span : 1);
            if (f < 0) f = 0;
        }
        break;
    case SC_LR_INVERSE_SQRT: {
        int64_t ts = s->timescale > 0 ? s->timescale : (s->warmup_steps > 0 ? s->warmup_steps : 10000);
        if (step < s->warmup_steps) {
            f = warmup_factor(step, s->warmup_steps);
        } else {
            int64_t shift = ts - s->warmup_steps;
            f = 1.0 / sqrt((double)(step + shift) / (double)ts);
        }
        break;
    }
    default:
        f = 1.0;
    }
    return s->base_lr * f;
}

sc_status sc_lr_schedule_parse(const char *name, sc_lr_schedule_kind *out, sc_error *err) {
    static const struct {
        const char *name;
        sc_lr_schedule_kind kind;
    } tab[] = {{"constant", SC_LR_CONSTANT},
               {"constant_with_warmup", SC_LR_CONSTANT_WITH_WARMUP},
               {"linear", SC_LR_LINEAR},
               {"inverse_sqrt", SC_LR_INVERSE_SQRT}};
    for (size_t i = 0; name && i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(name, tab[i].name) == 0) {
            *out = tab[i].kind;
            return SC_OK;
        }
    return sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                   "unknown learning-rate schedule '%.60s' (known: constant, constant_with_warmup, linear, "
                   "inverse_sqrt)",
                   name ? name : "(null)");
}

int64_t sc_lr_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
    if (warmup_steps > 0) return warmup_steps;
    if (!(warmup_ratio > 0) || total_steps <= 0) return 0;
    return (int64_t)ceil((double)total_steps * warmup_ratio);
}

/* -------------------------------------------------- gradient accumulation */

float sc_grad_accum_scale(int64_t accumulation_steps) {
    if (accumulation_steps < 1) accumulation_steps = 1;
    return 1.0f / (float)accumulation_steps;
}

bool sc_grad_accum_is_update(int64_t micro_batches_total, int64_t index_in_epoch, int64_t batches_per_epoch,
                             int64_t accumulation_steps) {
    if (accumulation_steps < 1) accumulation_steps = 1;
    if (micro_batches_total % accumulation_steps == 0) return true;
    return batches_per_epoch <= accumulation_steps && index_in_epoch + 1 == batches_per_epoch;
}

/* The public trainer (switchc.h, sc_trainer_*): the training forward and
 * backward of train/backward.h over a trainable parameter set, the
 * optimizers and schedules of train/optim.h, gradient accumulation and
 * clipping as HF's Trainer 4.41 does them, evaluation through the library's
 * scoring path on an in-memory model over the parameters, and saving /
 * resuming through a staged directory.
 *
 * Steps run the fast path of train/train_fast.h on the pool of the trainer's
 * context (sc_trainer_params.context / n_threads), taken for the whole
 * forward and backward; reference_kernels runs the plain-C reference ops.
 *
 * Left out: mixed precision; the optimizer update runs on one thread. */
#include "switchc.h"
#include "core/context.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/mapfile.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/staged_dir.h"
#include "io/tensor_list.h"
#include "model/model.h"
#include "model/model_write.h"
#include "train/backward.h"
#include "train/optim.h"
#include "train/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FILE "trainer_state.json"
#define OPTIM_FILE "optimizer.safetensors"
#define STATE_FORMAT "switchc-trainer-state"
#define MAX_STATE_BYTES (64u << 20)

struct sc_trainer {
    char *dir;              /* where the parameters came from: config, tokenizer */
    sc_trainer_params p;
    sc_train_params *tp;
    sc_optim *opt;
    size_t n_train;         /* trainable tensors, the optimizer's */
    size_t *param_of;       /* [n_train] index into tp->p */
    float **w, **g;         /* [n_train] their weights and gradients */
    size_t *numel;          /* [n_train] */
    int64_t trainable;      /* scalars */
    sc_lr_schedule sched;
    int64_t step, micro, pending;
    double last_lr, last_norm;
    sc_context *ctx;        /* the pool of the steps (a reference held) */
};

sc_trainer_params sc_trainer_default_params(void) {
    sc_trainer_params p;
    memset(&p, 0, sizeof p);
    p.optimizer = SC_OPTIMIZER_ADAFACTOR;
    p.schedule = SC_SCHEDULE_CONSTANT;
    p.adam_beta1 = 0.9;
    p.adam_beta2 = 0.999;
    p.adam_epsilon = 1e-8;
    p.max_grad_norm = 1.0;
    p.grad_accum = 1;
    p.dropout_rate = -1;
    p.router_jitter_noise = -1;
    p.drop_policy = SC_DROP_HF4;
    p.ce_weight = 1;
    p.router_z_loss_coef = -1;
    p.router_aux_loss_coef = -1;
    return p;
}

sc_trainer_save_params sc_trainer_save_default_params(void) {
    sc_trainer_save_params p;
    memset(&p, 0, sizeof p);
    p.dtype = SC_DTYPE_F32;
    return p;
}

static bool frozen(unsigned freeze, sc_weight_kind k) {
    if (k == SC_W_ROUTER_W || k == SC_W_ROUTER_B) return freeze & SC_FREEZE_ROUTER;
    if (k == SC_W_EXPERT_WI || k == SC_W_EXPERT_WI0 || k == SC_W_EXPERT_WI1 || k == SC_W_EXPERT_WO)
        return freeze & SC_FREEZE_EXPERTS;
    return freeze & SC_FREEZE_DENSE;
}

static sc_status check_params(const sc_trainer_params *p, sc_error *err) {
    const char *bad = NULL;
    if (p->optimizer != SC_OPTIMIZER_ADAFACTOR && p->optimizer != SC_OPTIMIZER_ADAMW) bad = "optimizer is unknown";
    else if (!(p->lr >= 0) || !isfinite(p->lr)) bad = "lr must be >= 0";
    else if (p->optimizer == SC_OPTIMIZER_ADAMW && p->lr <= 0) bad = "AdamW needs lr > 0";
    else if (p->schedule < SC_SCHEDULE_CONSTANT || p->schedule > SC_SCHEDULE_INVERSE_SQRT) bad = "schedule is unknown";
    else if (p->schedule == SC_SCHEDULE_LINEAR && p->lr > 0 && p->total_steps <= 0)
        bad = "the linear schedule needs total_steps > 0";
    else if (p->warmup_steps < 0 || p->total_steps < 0) bad = "warmup_steps and total_steps must be >= 0";
    else if (!(p->weight_decay >= 0)) bad = "weight_decay must be >= 0";
    else if (!(p->adam_beta1 >= 0 && p->adam_beta1 < 1 && p->adam_beta2 >= 0 && p->adam_beta2 < 1))
        bad = "Adam betas must lie in [0, 1)";
    else if (!(p->adam_epsilon >= 0)) bad = "adam_epsilon must be >= 0";
    else if (!(p->max_grad_norm >= 0)) bad = "max_grad_norm must be >= 0";
    else if (p->grad_accum < 1) bad = "grad_accum must be >= 1";
    else if (!(p->dropout_rate < 1) || (p->dropout_rate < 0 && p->dropout_rate != -1))
        bad = "dropout_rate must be -1 (the config's) or in [0, 1)";
    else if (!(p->router_jitter_noise < 1) || (p->router_jitter_noise < 0 && p->router_jitter_noise != -1))
        bad = "router_jitter_noise must be -1 (the config's) or in [0, 1)";
    else if (p->freeze & ~(SC_FREEZE_ROUTER | SC_FREEZE_EXPERTS | SC_FREEZE_DENSE)) bad = "freeze has unknown flags";
    else if (!(p->ce_weight >= 0) || !isfinite(p->ce_weight)) bad = "ce_weight must be >= 0";
    else if (!(p->router_z_loss_coef >= 0 || p->router_z_loss_coef == -1) ||
             !(p->router_aux_loss_coef >= 0 || p->router_aux_loss_coef == -1))
        bad = "router_z_loss_coef and router_aux_loss_coef must be -1 (the config's) or >= 0";
    return bad ? sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "trainer: %s", bad) : SC_OK;
}

void sc_trainer_free(sc_trainer *t) {
    if (!t) return;
    sc_optim_free(t->opt);
    sc_train_params_free(t->tp);
    free(t->param_of);
    free(t->w);
    free(t->g);
    free(t->numel);
    free(t->dir);
    sc_context_free(t->ctx);
    free(t);
}

sc_status sc_trainer_new(const char *dir, const sc_trainer_params *params, sc_trainer **out, sc_error *err) {
    if (!dir || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_new: NULL argument");
    sc_trainer_params p = params ? *params : sc_trainer_default_params();
    sc_status st = check_params(&p, err);
    if (st) return st;
    sc_trainer *t = calloc(1, sizeof *t);
    if (!t || !(t->dir = strdup(dir))) {
        free(t);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "trainer: out of memory");
    }
    t->p = p;
    t->last_norm = NAN;
    if (p.context) {
        t->ctx = sc_context_ref(p.context);
    } else {
        sc_context_params cp = sc_context_default_params();
        cp.n_threads = p.n_threads;
        if ((st = sc_context_new(&cp, &t->ctx, err))) goto fail;
    }
    if ((st = sc_train_params_load(dir, &t->tp, err))) goto fail;
    const sc_train_params *tp = t->tp;
    t->param_of = calloc(tp->count ? tp->count : 1, sizeof *t->param_of);
    t->w = calloc(tp->count ? tp->count : 1, sizeof *t->w);
    t->g = calloc(tp->count ? tp->count : 1, sizeof *t->g);
    t->numel = calloc(tp->count ? tp->count : 1, sizeof *t->numel);
    sc_optim_tensor *ot = calloc(tp->count ? tp->count : 1, sizeof *ot);
    if (!t->param_of || !t->w || !t->g || !t->numel || !ot) {
        free(ot);
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "trainer: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < tp->count; i++) {
        const sc_train_param *q = &tp->p[i];
        if (frozen(p.freeze, q->ref.kind)) continue;
        size_t k = t->n_train++;
        t->param_of[k] = i;
        t->w[k] = q->w;
        t->g[k] = q->g;
        t->numel[k] = q->numel;
        t->trainable += (int64_t)q->numel;
        ot[k] = (sc_optim_tensor){.name = q->name, .ndim = q->ndim, .no_decay = !p.decay_all && !sc_optim_hf_decays(q->name)};
        for (int d = 0; d < q->ndim; d++) ot[k].shape[d] = q->shape[d];
    }
    sc_optim_params op = sc_optim_default_params(p.optimizer == SC_OPTIMIZER_ADAMW ? SC_OPTIM_ADAMW
                                                                                  : SC_OPTIM_ADAFACTOR);
    if (p.optimizer == SC_OPTIMIZER_ADAMW) {
        op.adamw.beta1 = p.adam_beta1;
        op.adamw.beta2 = p.adam_beta2;
        op.adamw.eps = p.adam_epsilon;
        op.adamw.weight_decay = p.weight_decay;
    } else {
        op.adafactor.weight_decay = p.weight_decay;
        /* an explicit lr: HF Trainer's Adafactor (no relative step, no parameter scaling) */
        op.adafactor.relative_step = op.adafactor.scale_parameter = p.lr == 0;
    }
    st = sc_optim_new(&op, ot, t->n_train, &t->opt, err);
    free(ot);
    if (st) goto fail;
    static const sc_lr_schedule_kind kinds[] = {SC_LR_CONSTANT, SC_LR_CONSTANT_WITH_WARMUP, SC_LR_LINEAR,
                                                 SC_LR_INVERSE_SQRT};
    t->sched = (sc_lr_schedule){.kind = kinds[p.schedule], .base_lr = p.lr, .warmup_steps = p.warmup_steps,
                                .total_steps = p.total_steps};
    *out = t;
    return SC_OK;
fail:
    sc_trainer_free(t);
    return st;
}

static void zero_grads(sc_trainer *t) { sc_train_params_zero_grad(t->tp); }

/* AdamW's update, tensor by tensor over the pool: the tensors' states are
 * independent (Adafactor's share a scratch buffer, so it stays serial). */
typedef struct optim_run {
    sc_trainer *t;
    double lr;
    sc_status st[256];
    sc_error err[256];
} optim_run;

static void optim_task(void *c, int task, int n) {
    optim_run *o = c;
    for (size_t i = (size_t)task; i < o->t->n_train && !o->st[task]; i += (size_t)n)
        o->st[task] = sc_optim_step_tensor(o->t->opt, i, o->t->w[i], o->t->g[i], o->lr, NULL, &o->err[task]);
}

static sc_status optim_step(sc_trainer *t, double lr, sc_error *err) {
    if (t->p.optimizer != SC_OPTIMIZER_ADAMW)
        return sc_optim_step(t->opt, t->w, (const float *const *)t->g, lr, err);
    optim_run *o = calloc(1, sizeof *o);
    if (!o) return sc_optim_step(t->opt, t->w, (const float *const *)t->g, lr, err);
    o->t = t;
    o->lr = lr;
    sc_pool *pool = sc_context_acquire(t->ctx);
    int n = sc_pool_size(pool);
    n = n > 256 ? 256 : n;
    sc_pool_run(pool, optim_task, o, n);
    sc_context_release(t->ctx);
    sc_status st = SC_OK;
    for (int k = 0; k < n && !st; k++)
        if ((st = o->st[k]) && err) *err = o->err[k];
    free(o);
    return st;
}

static void fill_info(const sc_trainer *t, sc_train_step_info *info, bool updated) {
    if (!info) return;
    info->updated = updated;
    info->step = t->step;
    info->micro_batches = t->micro;
    info->lr = t->last_lr;
    info->grad_norm = t->last_norm;
}

sc_status sc_trainer_update(sc_trainer *t, sc_train_step_info *info, sc_error *err) {
    if (!t) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_update: NULL trainer");
    if (t->pending == 0) {
        fill_info(t, info, false);
        return SC_OK;
    }
    /* torch's clip_grad_norm_ with an infinite bound scales by 1: the norm is
     * reported either way, as HF's Trainer logs it */
    double norm = sc_clip_grad_norm(t->g, t->numel, t->n_train, t->p.max_grad_norm > 0 ? t->p.max_grad_norm : INFINITY);
    double lr = t->p.lr > 0 ? sc_lr_at(&t->sched, t->step) : 0;
    sc_status st = optim_step(t, lr, err);
    zero_grads(t);
    t->pending = 0;
    if (st) return st;
    t->step++;
    t->last_norm = norm;
    t->last_lr = t->p.lr > 0 ? lr : fmin(1e-2, 1.0 / sqrt((double)t->step));
    fill_info(t, info, true);
    return SC_OK;
}

/* The seed of micro-batch k's dropout and jitter: a stream per (seed, k). */
static uint64_t micro_seed(uint64_t seed, int64_t k) {
    sc_rng r;
    sc_rng_seed(&r, seed, (uint64_t)k);
    return sc_rng_next(&r);
}

sc_status sc_trainer_step(sc_trainer *t, const int32_t *ids, const int32_t *mask, int64_t B, int64_t S,
                          const int32_t *labels, int64_t T, sc_train_step_info *info, sc_error *err) {
    if (!t || !ids || !labels)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_step: NULL argument");
    const sc_config *c = &t->tp->cfg;
    sc_train_opts o = sc_train_default_opts();
    o.dropout_rate = t->p.dropout_rate >= 0 ? t->p.dropout_rate : c->dropout_rate;
    o.router_jitter = t->p.router_jitter_noise >= 0 ? t->p.router_jitter_noise : c->router_jitter_noise;
    o.seed = micro_seed(t->p.seed, t->micro);
    o.drop_policy = t->p.drop_policy;
    const sc_train_batch b = {.input_ids = ids, .attention_mask = mask, .labels = labels, .B = B, .S = S, .T = T};
    sc_train_tape *tape = NULL;
    sc_train_losses L;
    o.fast = !t->p.reference_kernels;
    o.pool = sc_context_acquire(t->ctx); /* held until the tape is freed */
    sc_status st = sc_train_forward(t->tp, &b, &o, &tape, &L, err);
    if (!st) {
        sc_train_loss_weights w = sc_train_default_weights(c);
        w.ce = t->p.ce_weight;
        if (t->p.router_z_loss_coef >= 0) w.z = t->p.router_z_loss_coef;
        if (t->p.router_aux_loss_coef >= 0) w.aux = t->p.router_aux_loss_coef;
        const double scale = sc_grad_accum_scale(t->p.grad_accum);
        w.ce *= scale;
        w.z *= scale;
        w.aux *= scale;
        st = sc_train_backward(t->tp, tape, &w, err);
        if (st) { /* a part of this gradient may be in: drop the group */
            zero_grads(t);
            t->pending = 0;
        }
    }
    sc_train_tape_free(tape);
    sc_context_release(t->ctx);
    if (st) return st;
    t->micro++;
    t->pending++;
    if (info) {
        info->losses = (sc_forward_losses){.loss = L.loss, .ce = L.ce, .encoder_z_loss = L.encoder_z,
                                           .encoder_aux_loss = L.encoder_aux, .decoder_z_loss = L.decoder_z,
                                           .decoder_aux_loss = L.decoder_aux, .tokens = L.tokens};
    }
    if (!t->p.manual_update && t->pending >= t->p.grad_accum) return sc_trainer_update(t, info, err);
    fill_info(t, info, false);
    return SC_OK;
}

sc_status sc_trainer_model(sc_trainer *t, const sc_model_params *mp, sc_model **out, sc_error *err) {
    if (!t || !out) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_model: NULL argument");
    sc_tensor_list *l = sc_tensor_list_new();
    const char *file = l ? sc_tensor_list_file(l, "(trainer parameters)") : NULL;
    sc_status st = file ? SC_OK : sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "trainer: out of memory");
    for (size_t i = 0; !st && i < t->tp->count; i++) {
        const sc_train_param *q = &t->tp->p[i];
        sc_tensor v;
        memset(&v, 0, sizeof v);
        v.dtype = SC_DTYPE_F32;
        v.ndim = q->ndim;
        for (int d = 0; d < q->ndim; d++) v.shape[d] = q->shape[d];
        v.data = q->w;
        st = sc_tensor_list_add(l, q->name, strlen(q->name), &v, q->numel * sizeof(float), file, 0, err);
    }
    sc_checkpoint *ck = NULL;
    if (!st) st = sc_tensor_list_index(l, err);
    if (st) {
        sc_tensor_list_free(l);
        return st;
    }
    if ((st = sc_checkpoint_from_list(l, &ck, err))) return st;
    sc_model_params p = mp ? *mp : sc_model_default_params();
    p.drop_policy = t->p.drop_policy;
    return sc_model_load_checkpoint(t->dir, ck, &p, out, err);
}

sc_status sc_trainer_score(sc_trainer *t, const sc_score_pair *pairs, int64_t n, sc_score *scores, sc_error *err) {
    sc_model_params p = sc_model_default_params();
    p.kernels = "exact";
    sc_model *m = NULL;
    sc_status st = sc_trainer_model(t, &p, &m, err);
    sc_session *s = NULL;
    if (!st) st = sc_session_new(m, &s, err);
    if (!st) st = sc_score_pairs(s, pairs, n, scores, err);
    sc_session_free(s);
    sc_model_free(m);
    return st;
}

int64_t sc_trainer_tensor_count(const sc_trainer *t) { return t ? (int64_t)t->tp->count : 0; }

static void tensor_view(const sc_train_param *q, sc_trainer_tensor *out) {
    *out = (sc_trainer_tensor){.name = q->name, .ndim = q->ndim, .numel = q->numel, .weight = q->w, .grad = q->g};
    for (int d = 0; d < q->ndim && d < 2; d++) out->shape[d] = q->shape[d];
}

sc_status sc_trainer_tensor_at(const sc_trainer *t, int64_t i, sc_trainer_tensor *out, sc_error *err) {
    if (!t || !out || i < 0 || i >= (int64_t)t->tp->count)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_tensor_at: no parameter %lld", (long long)i);
    tensor_view(&t->tp->p[i], out);
    return SC_OK;
}

sc_status sc_trainer_tensor_get(const sc_trainer *t, const char *name, sc_trainer_tensor *out, sc_error *err) {
    sc_train_param *q = t && name && out ? sc_train_params_find(t->tp, name) : NULL;
    if (!q) return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "trainer: no parameter '%s'", name ? name : "(null)");
    tensor_view(q, out);
    return SC_OK;
}

int64_t sc_trainer_steps(const sc_trainer *t) { return t ? t->step : 0; }
int64_t sc_trainer_micro_batches(const sc_trainer *t) { return t ? t->micro : 0; }
int64_t sc_trainer_trainable(const sc_trainer *t) { return t ? t->trainable : 0; }

/* ------------------------------------------------------------------ saving */

typedef struct rows_ctx {
    sc_trainer *t;
} rows_ctx;

static sc_status param_rows(void *vctx, const sc_weight_ref *ref, size_t index, int64_t r0, int64_t n, float *dst,
                            sc_error *err) {
    (void)index;
    rows_ctx *c = vctx;
    char name[256];
    sc_train_param *q = sc_hf_name(ref, name, sizeof name) ? sc_train_params_find(c->t->tp, name) : NULL;
    if (!q) return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "trainer: no parameter '%s'", name);
    const size_t cols = q->ndim > 1 ? (size_t)q->shape[1] : q->numel;
    memcpy(dst, q->w + (size_t)r0 * cols, (size_t)n * cols * sizeof(float));
    return SC_OK;
}

static const char *const copied_files[] = {"generation_config.json", "spiece.model", "tokenizer.json",
                                           "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"};

static sc_status write_state(sc_trainer *t, sc_staged_dir *stage, const char *user_state, sc_error *err) {
    FILE *f = sc_staged_dir_fopen(stage, STATE_FILE, err);
    if (!f) return err ? err->code : SC_ERR_IO;
    static const char *const opt_names[] = {"adafactor", "adamw"};
    fprintf(f, "{\"format\": \"%s\", \"version\": 1, \"optimizer\": \"%s\", \"step\": %lld, "
               "\"micro_batches\": %lld, \"pending\": %lld, \"freeze\": %u",
            STATE_FORMAT, opt_names[t->p.optimizer], (long long)t->step, (long long)t->micro,
            (long long)t->pending, t->p.freeze);
    if (user_state) {
        fputs(", \"user_state\": ", f);
        sc_json_write_string(f, user_state, strlen(user_state));
    }
    fputs("}\n", f);
    if (fclose(f) != 0) return sc_fail(err, SC_ERR_IO, SC_NO_OFFSET, "writing %s failed", STATE_FILE);
    return SC_OK;
}

sc_status sc_trainer_save(sc_trainer *t, const char *dir, const sc_trainer_save_params *sp, sc_error *err) {
    if (!t || !dir) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_save: NULL argument");
    sc_trainer_save_params p = sp ? *sp : sc_trainer_save_default_params();
    if (p.dtype != SC_DTYPE_F32 && p.dtype != SC_DTYPE_BF16 && p.dtype != SC_DTYPE_F16)
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "trainer save: dtype must be F32, BF16 or F16");
    /* a directory holding a checkpoint is only replaced when it is one of ours */
    char found[256];
    char *state_path = sc_path_join(dir, STATE_FILE);
    const bool ours = state_path && sc_path_is_file(state_path);
    free(state_path);
    if (!p.force && !ours && sc_model_dir_has_checkpoint(dir, found, sizeof found))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                       "%s already holds a checkpoint (%s) this training did not write; choose another "
                       "directory or force",
                       dir, found);
    sc_staged_dir *stage = NULL;
    sc_status st = sc_staged_dir_open(dir, &stage, err);
    if (st) return st;
    rows_ctx rc = {t};
    const sc_write_opts wo = {.dtype = p.dtype, .rows = param_rows, .ctx = &rc};
    sc_write_summary sum;
    st = sc_model_write(stage, &t->tp->cfg, &wo, &sum, err);
    bool copied;
    if (!st) st = sc_staged_dir_copy(stage, t->dir, "config.json", &copied, err);
    if (!st && !copied)
        st = sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: config.json is gone", t->dir);
    const char *tok_dir = p.tokenizer ? p.tokenizer : t->dir;
    for (size_t i = 0; !st && i < sizeof copied_files / sizeof *copied_files; i++)
        st = sc_staged_dir_copy(stage, i == 0 ? t->dir : tok_dir, copied_files[i], &copied, err);
    if (!st && p.with_state) {
        char *path = sc_staged_dir_path(stage, OPTIM_FILE);
        st = path ? sc_optim_save(t->opt, path, err) : sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
        free(path);
        if (!st) st = write_state(t, stage, p.user_state, err);
    }
    if (st) {
        sc_staged_dir_abort(stage);
        return st;
    }
    /* the state last: a directory with trainer_state.json has all the rest */
    static const char *const side[] = {"generation_config.json", "spiece.model", "tokenizer.json",
                                       "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                       OPTIM_FILE, "config.json", STATE_FILE, NULL};
    return sc_model_write_commit(stage, &sum, side, err);
}

sc_status sc_trainer_resume(sc_trainer *t, const char *dir, char **user_state, sc_error *err) {
    if (user_state) *user_state = NULL;
    if (!t || !dir) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_trainer_resume: NULL argument");
    char *path = sc_path_join(dir, STATE_FILE);
    if (!path) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_json_doc *doc = NULL;
    sc_status st = sc_json_parse_file(path, MAX_STATE_BYTES, &doc, err);
    const sc_json *root = doc ? sc_json_root(doc) : NULL;
    static const char *const opt_names[] = {"adafactor", "adamw"};
    const char *fmt = root ? sc_json_string(sc_json_get(root, "format"), NULL) : NULL;
    const char *opt = root ? sc_json_string(sc_json_get(root, "optimizer"), NULL) : NULL;
    int64_t version = 0, step = -1, micro = -1, pending = -1, freeze = -1;
    if (!st && (!fmt || strcmp(fmt, STATE_FORMAT) != 0 || !sc_json_int(sc_json_get(root, "version"), &version) ||
                version != 1))
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: not a switchc trainer state (format %s, version 1)",
                     path, STATE_FORMAT);
    if (!st && (!sc_json_int(sc_json_get(root, "step"), &step) ||
                !sc_json_int(sc_json_get(root, "micro_batches"), &micro) ||
                !sc_json_int(sc_json_get(root, "pending"), &pending) ||
                !sc_json_int(sc_json_get(root, "freeze"), &freeze) || step < 0 || micro < step || pending < 0 ||
                pending > micro))
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET,
                     "%s: step, micro_batches, pending and freeze must be counts with step <= micro_batches",
                     path);
    if (!st && (!opt || strcmp(opt, opt_names[t->p.optimizer]) != 0 || freeze != (int64_t)t->p.freeze))
        st = sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET,
                     "%s: saved with optimizer %s and freeze flags %lld; this run has %s and %u", path,
                     opt ? opt : "(none)", (long long)freeze, opt_names[t->p.optimizer], t->p.freeze);
    if (!st && pending > 0)
        st = sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                     "%s: saved in the middle of a gradient accumulation group (its gradient is not saved)",
                     path);
    const sc_json *us = root ? sc_json_get(root, "user_state") : NULL;
    size_t us_len = 0;
    const char *us_text = us ? sc_json_string(us, &us_len) : NULL;
    if (!st && us && !us_text)
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: user_state must be a string", path);
    char *us_copy = NULL;
    if (!st && us_text && user_state && !(us_copy = malloc(us_len + 1)))
        st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    if (us_copy) memcpy(us_copy, us_text, us_len + 1);
    sc_json_free(doc);
    free(path);
    char *opath = st ? NULL : sc_path_join(dir, OPTIM_FILE);
    if (!st && !opath) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    if (!st) st = sc_optim_load(t->opt, opath, err);
    free(opath);
    if (st) {
        free(us_copy);
        return st;
    }
    zero_grads(t);
    t->step = step;
    t->micro = micro;
    t->pending = 0;
    if (user_state) *user_state = us_copy;
    return SC_OK;
}

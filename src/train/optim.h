/* Optimizers for training, on plain fp32 tensors: AdamW as torch 1.13's
 * torch.optim.AdamW (single-tensor path, amsgrad off), Adafactor as
 * transformers 4.41.2's transformers.optimization.Adafactor; gradient
 * clipping by global norm (torch.nn.utils.clip_grad_norm_); the learning-rate
 * schedules of HF's Trainer; gradient-accumulation bookkeeping as HF Trainer
 * 4.41 does it; saving and restoring the optimizer state for resuming.
 *
 * The optimizer owns its state (moments, factored statistics, step counts),
 * apart from the parameters: the caller passes each parameter and its
 * gradient at every step. Elementwise arithmetic is done in fp32 in torch's
 * order; reductions (norms, means) are accumulated in double and rounded to
 * fp32, which matches torch to about one unit in the last place.
 *
 * Leaves out: amsgrad, maximize, fp16/bf16 parameters, parameter groups
 * (a per-tensor weight-decay switch covers what HF's Trainer uses groups
 * for), sparse gradients. */
#ifndef SC_TRAIN_OPTIM_H
#define SC_TRAIN_OPTIM_H

#include "switchc.h"

typedef enum sc_optim_kind {
    SC_OPTIM_ADAMW = 0,
    SC_OPTIM_ADAFACTOR = 1
} sc_optim_kind;

/* torch.optim.AdamW's arguments (lr comes with each step). */
typedef struct sc_adamw_params {
    double beta1, beta2, eps, weight_decay;
} sc_adamw_params;

/* transformers.optimization.Adafactor's arguments. With relative_step the
 * step size is min(1e-2, 1/sqrt(t)) (warmup_init: min(1e-6*t, 1/sqrt(t))) and
 * the lr passed to the step is ignored; without it the step size is that lr.
 * HF's Trainer (--optim adafactor) uses relative_step = scale_parameter =
 * false with its scheduled lr. */
typedef struct sc_adafactor_params {
    double eps1;           /* added to g^2 (1e-30) */
    double eps2;           /* floor of the parameter RMS for scale_parameter (1e-3) */
    double clip_threshold; /* the update's RMS is clipped to this (1.0) */
    double decay_rate;     /* beta2_t = 1 - t^decay_rate (-0.8) */
    bool use_beta1;        /* false: no first moment (HF beta1=None) */
    double beta1;
    double weight_decay;   /* p -= weight_decay * lr_t * p before the update */
    bool scale_parameter, relative_step, warmup_init;
} sc_adafactor_params;

typedef struct sc_optim_params {
    sc_optim_kind kind;
    sc_adamw_params adamw;
    sc_adafactor_params adafactor;
} sc_optim_params;

/* The defaults of torch.optim.AdamW (betas (0.9, 0.999), eps 1e-8,
 * weight_decay 0.01) or of HF's Adafactor (relative_step, scale_parameter,
 * eps (1e-30, 1e-3), clip 1.0, decay -0.8, no beta1, no weight decay). */
sc_optim_params sc_optim_default_params(sc_optim_kind kind);

/* One parameter tensor the optimizer updates. */
typedef struct sc_optim_tensor {
    const char *name; /* HF parameter name; unique; names the state in files */
    int ndim;         /* 1..4 */
    int64_t shape[4];
    bool no_decay;    /* true: weight decay is not applied to this tensor */
} sc_optim_tensor;

/* HF Trainer's rule for which parameters get weight decay
 * (get_decay_parameter_names): none for LayerNorm-type modules' parameters
 * (T5/Switch RMSNorm: names ending in "layer_norm.weight") and none for any
 * name containing "bias" -- which includes relative_attention_bias.weight and
 * the router classifier bias. Returns true when `name` is decayed. */
bool sc_optim_hf_decays(const char *name);

typedef struct sc_optim sc_optim;

/* Creates an optimizer for n tensors with zeroed state (step 0). Errors:
 * SC_ERR_INVALID_ARG for a bad hyperparameter (HF's checks: no
 * warmup_init without relative_step), a bad shape, an empty or duplicate
 * name; SC_ERR_LIMIT / SC_ERR_NOMEM for sizes. */
sc_status sc_optim_new(const sc_optim_params *p, const sc_optim_tensor *tensors, size_t n, sc_optim **out,
                       sc_error *err);
void sc_optim_free(sc_optim *o); /* NULL is a no-op */

size_t sc_optim_count(const sc_optim *o);
const sc_optim_params *sc_optim_get_params(const sc_optim *o);
/* Updates taken so far by tensor i (a tensor whose gradient was NULL at a
 * step is not counted, as torch counts per parameter); -1 if i is out of
 * range. */
int64_t sc_optim_tensor_steps(const sc_optim *o, size_t i);

/* One update of tensor i: param[numel] in place from grad[numel]. lr is the
 * scheduled learning rate (AdamW; Adafactor without relative_step). A NULL
 * grad skips the tensor (its step count stays), as torch skips p.grad None.
 * When lr_used is not NULL it receives the step size applied (Adafactor's
 * lr_t, the value HF's AdafactorSchedule reports). */
sc_status sc_optim_step_tensor(sc_optim *o, size_t i, float *param, const float *grad, double lr,
                               double *lr_used, sc_error *err);
/* sc_optim_step_tensor for every tensor: params[n], grads[n] (entries may
 * be NULL to skip). */
sc_status sc_optim_step(sc_optim *o, float *const *params, const float *const *grads, double lr,
                        sc_error *err);

/* Saving the state for resuming: a safetensors file with
 * __metadata__ {"format": "switchc-optimizer-state", "version": "1",
 * "optimizer": "adamw" | "adafactor"} and, for each parameter NAME, the
 * tensors torch's state_dict holds: NAME.step (I64 [1]) and, in F32,
 * NAME.exp_avg + NAME.exp_avg_sq (AdamW), NAME.exp_avg_sq_row +
 * NAME.exp_avg_sq_col (Adafactor, >= 2 dims: shape[:-1] and
 * shape[:-2] + shape[-1:]) or NAME.exp_avg_sq (Adafactor, 1 dim), and
 * NAME.exp_avg (Adafactor with beta1). Written to a temporary file in the
 * same directory, flushed to disk, then renamed over `path`, so a crash
 * never leaves a partial file under the name. Hyperparameters are not saved:
 * the caller rebuilds the optimizer with its settings and then loads. */
sc_status sc_optim_save(const sc_optim *o, const char *path, sc_error *err);

/* Restores the state saved by sc_optim_save into o, which must have been
 * created with the same kind, tensor names and shapes (and, for Adafactor,
 * the same use_beta1). Everything is validated before anything is copied:
 * on any error o is unchanged. Errors name the file and the tensor:
 * SC_ERR_IO (cannot read), SC_ERR_FORMAT (not a safetensors file, wrong
 * format / version / optimizer, a missing or extra tensor, a negative step
 * or second moment, a non-finite value), SC_ERR_SHAPE (a tensor's dtype or
 * shape differs). */
sc_status sc_optim_load(sc_optim *o, const char *path, sc_error *err);
/* The same from a whole file already in memory; `source` names it in
 * errors. */
sc_status sc_optim_load_buffer(sc_optim *o, const void *data, size_t size, const char *source,
                               sc_error *err);

/* --------------------------------------------------------- gradient clipping */

/* torch.nn.utils.clip_grad_norm_ (torch 1.13, norm_type 2): total =
 * 2-norm of the per-tensor 2-norms; every gradient is multiplied by
 * min(1, max_norm / (total + 1e-6)) (computed as torch does, in fp32). Returns
 * the total norm before clipping; a NaN/inf norm propagates into the
 * gradients as in torch (error_if_nonfinite=False). NULL grads are skipped. */
float sc_clip_grad_norm(float *const *grads, const size_t *numel, size_t n, double max_norm);

/* ------------------------------------------------------------- lr schedules */

typedef enum sc_lr_schedule_kind {
    SC_LR_CONSTANT = 0,             /* HF "constant" */
    SC_LR_CONSTANT_WITH_WARMUP = 1, /* HF "constant_with_warmup" */
    SC_LR_LINEAR = 2,               /* HF "linear" (the Trainer's default) */
    SC_LR_INVERSE_SQRT = 3          /* HF "inverse_sqrt" */
} sc_lr_schedule_kind;

typedef struct sc_lr_schedule {
    sc_lr_schedule_kind kind;
    double base_lr;       /* the optimizer's lr */
    int64_t warmup_steps; /* >= 0 */
    int64_t total_steps;  /* linear: the step at which lr reaches 0 */
    int64_t timescale;    /* inverse_sqrt: 0 = HF's default (warmup_steps, or 10000 when 0) */
} sc_lr_schedule;

/* The learning rate of the update with index `step` (0 for the first
 * optimizer step: HF's LambdaLR gives the first update lr_lambda(0), so a
 * warmup starts at 0). Formulas of transformers 4.41.2 optimization.py:
 *   constant_with_warmup: step < W ? step / max(1, W) : 1
 *   linear:               step < W ? step / max(1, W) : max(0, (N - step) / max(1, N - W))
 *   inverse_sqrt:         step < W ? step / max(1, W) : 1 / sqrt((step + T - W) / T)
 * times base_lr. */
double sc_lr_at(const sc_lr_schedule *s, int64_t step);

/* Parses HF's scheduler names ("constant", "constant_with_warmup", "linear",
 * "inverse_sqrt"); SC_ERR_UNSUPPORTED naming the others. */
sc_status sc_lr_schedule_parse(const char *name, sc_lr_schedule_kind *out, sc_error *err);

/* HF TrainingArguments.get_warmup_steps: warmup_steps when > 0, else
 * ceil(total_steps * warmup_ratio). */
int64_t sc_lr_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

/* -------------------------------------------------- gradient accumulation */

/* HF Trainer 4.41 with gradient_accumulation_steps = A: every micro-batch's
 * loss (the mean over its own non-padding labels, plus the router losses)
 * is divided by A before backward (accelerate's backward), and the
 * gradients of the micro-batches are summed. So the update uses the mean of
 * the micro-batches' mean losses, not the mean over all their tokens; a
 * short last group at the end of training is still divided by A. This
 * returns the factor 1/A (as fp32, the value torch's `loss / A` seeds the
 * backward with); the trainer multiplies the backward's seed gradient (and
 * the logged loss) by it. A < 1 is treated as 1. */
float sc_grad_accum_scale(int64_t accumulation_steps);

/* Whether the micro-batch just done ends an accumulation group, i.e. the
 * optimizer steps now. HF 4.41's rule: micro_batches_total (counted over
 * all epochs, starting at 1 for the first micro-batch) is a multiple of A,
 * or the epoch has no more than A micro-batches and this was its last one
 * (index_in_epoch + 1 == batches_per_epoch). So with more than A batches
 * per epoch a leftover partial group carries over into the next epoch. */
bool sc_grad_accum_is_update(int64_t micro_batches_total, int64_t index_in_epoch, int64_t batches_per_epoch,
                             int64_t accumulation_steps);

#endif

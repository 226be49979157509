/* One fixture case against our engine, through the public header; see
 * verify_case.h. The forward pass is traced (sc_session_set_trace: every
 * named intermediate copied), run on a model loaded with each dropped-token
 * policy the manifest needs, and each listed array is compared. */
#include "verify_case.h"
#include "switchc.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/path.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct named_array {
    char *name;
    sc_dtype dtype; /* F32 or I32 */
    int ndim;
    int64_t shape[4];
    size_t n;
    void *data;
} named_array;

typedef struct array_set {
    named_array *v;
    size_t n, cap;
    bool oom;
} array_set;

static named_array *set_find(array_set *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) return &s->v[i];
    return NULL;
}

static void set_put(array_set *s, const char *name, sc_dtype t, const void *data, int ndim,
                    const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    named_array *a = set_find(s, name);
    if (!a) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 64;
            named_array *v = realloc(s->v, cap * sizeof *v);
            if (!v) {
                s->oom = true;
                return;
            }
            s->v = v;
            s->cap = cap;
        }
        a = &s->v[s->n++];
        memset(a, 0, sizeof *a);
        a->name = strdup(name);
    }
    free(a->data);
    a->data = malloc(n ? n * 4 : 1);
    if (!a->name || !a->data) {
        s->oom = true;
        return;
    }
    memcpy(a->data, data, n * 4);
    a->dtype = t;
    a->ndim = ndim;
    a->n = n;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
}

static void set_free(array_set *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].data);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void trace_into(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                       const int64_t *shape) {
    set_put(ctx, name, dtype, data, ndim, shape);
}

/* The last index k of "<prefix>.0" ... "<prefix>.<k>", -1 for none. */
static long long last_index(array_set *s, const char *prefix) {
    char name[96];
    long long k = 0;
    for (;; k++) {
        snprintf(name, sizeof name, "%s.%lld", prefix, k);
        if (!set_find(s, name)) break;
    }
    return k - 1;
}

/* Stacks "<prefix>.0" ... "<prefix>.<k>" into one [k+1, ...] array. */
static void stack_hidden(array_set *s, const char *prefix) {
    char name[96];
    const size_t k = (size_t)(last_index(s, prefix) + 1);
    if (k == 0) return;
    snprintf(name, sizeof name, "%s.0", prefix);
    named_array *first = set_find(s, name);
    size_t per = first->n;
    float *all = malloc(per * k * sizeof(float));
    if (!all) {
        s->oom = true;
        return;
    }
    for (size_t i = 0; i < k; i++) {
        snprintf(name, sizeof name, "%s.%zu", prefix, i);
        memcpy(all + i * per, set_find(s, name)->data, per * sizeof(float));
    }
    int64_t shape[4] = {(int64_t)k, first->shape[0], first->shape[1], first->shape[2]};
    set_put(s, prefix, SC_DTYPE_F32, all, 4, shape);
    free(all);
}

static void put_scalar(array_set *s, const char *name, double v) {
    float f = (float)v;
    int64_t shape[1] = {1};
    set_put(s, name, SC_DTYPE_F32, &f, 1, shape);
}

/* Runs the traced forward pass (under the dropped-token policy the
 * session's model was loaded with); names get `prefix` ("" or
 * "zero_drop."). */
static sc_status run_forward(sc_session *sess, const named_array *ids, const named_array *mask,
                             const named_array *labels, const char *prefix, array_set *out, sc_error *err) {
    array_set local = {0};
    const int64_t B = ids->shape[0], S = ids->shape[1], T = labels->shape[1];
    const sc_model *m = sc_session_model(sess);
    sc_forward_result *r = NULL;
    sc_session_set_trace(sess, trace_into, &local);
    sc_status st = sc_session_forward(sess, ids->data, mask ? mask->data : NULL, B, S, labels->data, T, NULL, &r,
                                      err);
    sc_session_set_trace(sess, NULL, NULL);
    if (!st) {
        int64_t shp[3];
        const float *logits = sc_forward_result_logits(r, &shp[0], &shp[1], &shp[2]);
        set_put(&local, "logits", SC_DTYPE_F32, logits, 3, shp);
        sc_forward_losses L = sc_forward_result_loss(r);
        put_scalar(&local, "loss", L.loss);
        put_scalar(&local, "loss_lm_only", L.ce);
        put_scalar(&local, "encoder_z_loss", L.encoder_z_loss);
        put_scalar(&local, "encoder_aux_loss", L.encoder_aux_loss);
        put_scalar(&local, "decoder_z_loss", L.decoder_z_loss);
        put_scalar(&local, "decoder_aux_loss", L.decoder_aux_loss);
        stack_hidden(&local, "encoder_hidden_states");
        stack_hidden(&local, "decoder_hidden_states");
        named_array *enc = set_find(&local, "encoder_last_hidden_state");
        if (enc) set_put(&local, "encoder_model.last_hidden_state", enc->dtype, enc->data, enc->ndim, enc->shape);
        /* the decoder's last hidden state: the final norm's output */
        char name[64];
        snprintf(name, sizeof name, "decoder_hidden_states.%lld", last_index(&local, "decoder_hidden_states"));
        named_array *dl = set_find(&local, name);
        if (dl) set_put(&local, "base_model.last_hidden_state", dl->dtype, dl->data, dl->ndim, dl->shape);
        int32_t *dec_in = malloc((size_t)(B * T) * sizeof(int32_t));
        if (dec_in) {
            sc_shift_right(dec_in, labels->data, B, T, sc_model_decoder_start_id(m), sc_model_pad_id(m));
            int64_t s2[2] = {B, T};
            set_put(&local, "decoder_input_ids", SC_DTYPE_I32, dec_in, 2, s2);
            free(dec_in);
        } else {
            local.oom = true;
        }
        for (size_t i = 0; i < local.n; i++) {
            char full[160];
            snprintf(full, sizeof full, "%s%s", prefix, local.v[i].name);
            set_put(out, full, local.v[i].dtype, local.v[i].data, local.v[i].ndim, local.v[i].shape);
        }
        if (local.oom || out->oom) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    }
    sc_forward_result_free(r);
    set_free(&local);
    return st;
}

/* Generation as the fixtures recorded it: generate(max_new_tokens=20),
 * greedy (with every step's logits) and num_beams=4, from the checkpoint's
 * generation defaults. Names get `prefix`. */
static sc_status run_generation(sc_session *sess, const char *model_dir, const named_array *ids,
                                const named_array *mask, const char *prefix, array_set *out,
                                sc_error *err) {
    const int64_t B = ids->shape[0], S = ids->shape[1];
    sc_generate_params p;
    sc_status st = sc_generate_params_from_dir(model_dir, &p, err);
    if (st) return st;
    p.max_new_tokens = 20;
    char name[96];
    for (int beam = 0; beam < 2 && !st; beam++) {
        p.num_beams = beam ? 4 : 1;
        p.record_logits = !beam;
        sc_generate_result *r = NULL;
        st = sc_generate(sess, ids->data, mask ? mask->data : NULL, B, S, &p, &r, err);
        if (st) break;
        int64_t rows, len, steps, drows, vocab;
        const int32_t *seq = sc_generate_result_sequences(r, &rows, &len);
        int64_t shape[3] = {rows, len, 0};
        snprintf(name, sizeof name, "%sgenerate_%s", prefix, beam ? "beam4" : "greedy");
        set_put(out, name, SC_DTYPE_I32, seq, 2, shape);
        if (beam) {
            const float *scores = sc_generate_result_scores(r, &rows);
            snprintf(name, sizeof name, "%sgenerate_beam4_scores", prefix);
            if (scores) set_put(out, name, SC_DTYPE_F32, scores, 1, shape);
        } else {
            const float *lg = sc_generate_result_step_logits(r, &steps, &drows, &vocab);
            int64_t s3[3] = {steps, drows, vocab};
            snprintf(name, sizeof name, "%sgenerate_greedy_step_logits", prefix);
            if (lg) set_put(out, name, SC_DTYPE_F32, lg, 3, s3);
        }
        sc_generate_result_free(r);
    }
    if (!st && out->oom) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    return st;
}

/* The bf16 compute path (activations rounded to bf16 in the matmuls with
 * bf16 weights: AMX tiles, else vdpbf16ps, else the reference of both, on
 * any CPU) for the bf16_compute.* loose references. A failure here is the
 * bf16 path's (returned in err, the caller fails those arrays with it); the
 * fp32 arrays are compared all the same. */
static sc_status run_bf16(const char *model_dir, int format, const char *kernels, const named_array *ids,
                          const named_array *mask, const named_array *labels, array_set *out,
                          sc_error *err) {
    sc_model_params p = sc_model_default_params();
    p.format = format;
    p.kernels = kernels                                   ? kernels
                : sc_kernel_table_supported("amx")         ? "amx"
                : sc_kernel_table_supported("avx512-bf16") ? "avx512-bf16"
                                                           : "ref-bf16";
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_status st = sc_model_load(model_dir, &p, &m, err);
    if (!st) st = sc_session_new(m, &s, err);
    if (!st) st = run_forward(s, ids, mask, labels, "bf16_compute.", out, err);
    sc_session_free(s);
    sc_model_free(m);
    return st;
}

/* ------------------------------------------------------------ training cases */

/* Arrays a training case records (tests/fixtures/README-training.md): the
 * gradients of HF's loss, their CE/z/aux parts for the routers, parameters
 * after one AdamW step and two Adafactor steps, and the losses around them. */
static bool is_training_array(const char *name) {
    return !strncmp(name, "grad.", 5) || !strncmp(name, "grad_part.", 10) || !strncmp(name, "adamw_step1", 11) ||
           !strncmp(name, "adafactor_step", 14);
}

/* A trainer over the case's model that never updates on its own (the
 * gradient stays readable), without clipping, dropout or jitter: what the
 * fixtures recorded. */
static bool train_reference; /* --kernels ref: the trainer's reference ops too */

static sc_status train_once(const char *model_dir, const sc_trainer_params *base, const named_array *ids,
                            const named_array *mask, const named_array *labels, sc_trainer **out,
                            sc_train_step_info *info, sc_error *err) {
    sc_trainer_params p = *base;
    p.max_grad_norm = 0;
    p.dropout_rate = 0;
    p.router_jitter_noise = 0;
    p.reference_kernels = train_reference;
    sc_status st = sc_trainer_new(model_dir, &p, out, err);
    if (!st)
        st = sc_trainer_step(*out, ids->data, mask ? mask->data : NULL, ids->shape[0], ids->shape[1], labels->data,
                             labels->shape[1], info, err);
    return st;
}

/* Puts "<prefix><param>" for every parameter the manifest lists under
 * `prefix`: the gradient (grads) or the weight. */
static void put_params(sc_trainer *t, const named_array *refs, size_t na, const char *prefix, bool grads,
                       array_set *out) {
    const size_t pl = strlen(prefix);
    for (size_t i = 0; i < na; i++) {
        if (strncmp(refs[i].name, prefix, pl) != 0) continue;
        sc_trainer_tensor v;
        if (sc_trainer_tensor_get(t, refs[i].name + pl, &v, NULL) != SC_OK) continue; /* SKIP: not ours */
        set_put(out, refs[i].name, SC_DTYPE_F32, grads ? v.grad : v.weight, v.ndim, v.shape);
    }
}

/* The loss of the trainer's current weights on the case's batch (eval mode). */
static sc_status loss_now(sc_trainer *t, const named_array *ids, const named_array *mask,
                          const named_array *labels, double *loss, sc_error *err) {
    sc_model_params mp = sc_model_default_params();
    mp.kernels = "exact";
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_forward_result *r = NULL;
    sc_status st = sc_trainer_model(t, &mp, &m, err);
    if (!st) st = sc_session_new(m, &s, err);
    if (!st)
        st = sc_session_forward(s, ids->data, mask ? mask->data : NULL, ids->shape[0], ids->shape[1], labels->data,
                                labels->shape[1], NULL, &r, err);
    if (!st) *loss = sc_forward_result_loss(r).loss;
    sc_forward_result_free(r);
    sc_session_free(s);
    sc_model_free(m);
    return st;
}

static bool any_prefix(const named_array *refs, size_t na, const char *prefix) {
    for (size_t i = 0; i < na; i++)
        if (!strncmp(refs[i].name, prefix, strlen(prefix))) return true;
    return false;
}

/* Runs what the training arrays of a case need, in our trainer. AdamW's
 * settings come from the manifest (torch's optimizer over every parameter:
 * decay on all of them); Adafactor runs HF's defaults (relative step). */
static sc_status run_training(const char *model_dir, const sc_json *manifest, const named_array *refs, size_t na,
                              const named_array *ids, const named_array *mask, const named_array *labels,
                              array_set *out, sc_error *err) {
    sc_status st = SC_OK;
    sc_trainer *t = NULL;
    sc_train_step_info info;
    sc_trainer_params p = sc_trainer_default_params();
    p.manual_update = true; /* no update: the gradient stays readable */
    if (any_prefix(refs, na, "grad.")) {
        st = train_once(model_dir, &p, ids, mask, labels, &t, &info, err);
        if (!st) put_params(t, refs, na, "grad.", true, out);
        sc_trainer_free(t);
        t = NULL;
    }
    static const char *const parts[3] = {"grad_part.ce.", "grad_part.z.", "grad_part.aux."};
    for (int k = 0; k < 3 && !st; k++) {
        if (!any_prefix(refs, na, parts[k])) continue;
        sc_trainer_params q = p;
        q.ce_weight = k == 0 ? 1 : 0;
        q.router_z_loss_coef = k == 1 ? -1 : 0;
        q.router_aux_loss_coef = k == 2 ? -1 : 0;
        st = train_once(model_dir, &q, ids, mask, labels, &t, &info, err);
        if (!st) put_params(t, refs, na, parts[k], true, out);
        sc_trainer_free(t);
        t = NULL;
    }
    if (!st && any_prefix(refs, na, "adamw_step1")) {
        const sc_json *kw = sc_json_get(sc_json_get(manifest, "adamw"), "constructor_kwargs");
        const sc_json *betas = sc_json_get(kw, "betas");
        sc_trainer_params q = sc_trainer_default_params();
        q.optimizer = SC_OPTIMIZER_ADAMW;
        q.decay_all = true;
        if (!sc_json_number(sc_json_get(kw, "lr"), &q.lr) ||
            !sc_json_number(sc_json_get(kw, "weight_decay"), &q.weight_decay) ||
            !sc_json_number(sc_json_get(kw, "eps"), &q.adam_epsilon) ||
            !sc_json_number(sc_json_at(betas, 0), &q.adam_beta1) || !sc_json_number(sc_json_at(betas, 1), &q.adam_beta2))
            st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "manifest.json: adamw.constructor_kwargs is incomplete");
        if (!st) st = train_once(model_dir, &q, ids, mask, labels, &t, &info, err);
        double after = NAN;
        if (!st) put_params(t, refs, na, "adamw_step1.", false, out);
        if (!st) st = loss_now(t, ids, mask, labels, &after, err);
        if (!st) put_scalar(out, "adamw_step1_loss_after", after);
        sc_trainer_free(t);
        t = NULL;
    }
    if (!st && any_prefix(refs, na, "adafactor_step")) {
        sc_trainer_params q = sc_trainer_default_params();
        q.manual_update = true; /* the weights before the step, for compare() */
        st = train_once(model_dir, &q, ids, mask, labels, &t, &info, err);
        for (int64_t i = 0; !st && i < sc_trainer_tensor_count(t); i++) {
            sc_trainer_tensor v;
            char name[300];
            if (sc_trainer_tensor_at(t, i, &v, NULL)) continue;
            snprintf(name, sizeof name, "initial.%s", v.name);
            set_put(out, name, SC_DTYPE_F32, v.weight, v.ndim, v.shape);
        }
        if (!st) st = sc_trainer_update(t, &info, err);
        if (!st) put_params(t, refs, na, "adafactor_step1.", false, out);
        if (!st)
            st = sc_trainer_step(t, ids->data, mask ? mask->data : NULL, ids->shape[0], ids->shape[1], labels->data,
                                 labels->shape[1], &info, err);
        double after = NAN;
        if (!st) put_scalar(out, "adafactor_step2_loss_before", info.losses.loss);
        if (!st) st = sc_trainer_update(t, &info, err);
        if (!st) {
            put_params(t, refs, na, "adafactor_step2.", false, out);
            st = loss_now(t, ids, mask, labels, &after, err);
        }
        if (!st) put_scalar(out, "adafactor_step2_loss_after", after);
        sc_trainer_free(t);
    }
    if (!st && out->oom) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    return st;
}

/* Reads manifest array `a` (name, file, dtype, shape) from case_dir. */
static sc_status read_array(const char *case_dir, const sc_json *a, named_array *out, sc_error *err) {
    const char *name = sc_json_string(sc_json_get(a, "name"), NULL);
    const char *file = sc_json_string(sc_json_get(a, "file"), NULL);
    const char *dtype = sc_json_string(sc_json_get(a, "dtype"), NULL);
    const sc_json *shape = sc_json_get(a, "shape");
    if (!name || !file || !dtype || !shape || sc_json_type_of(shape) != SC_JSON_ARRAY ||
        sc_json_len(shape) > 4 || strstr(file, ".."))
        return sc_fail(err, SC_ERR_FORMAT, sc_json_offset(a), "%s/manifest.json: malformed array entry", case_dir);
    memset(out, 0, sizeof *out);
    out->ndim = (int)sc_json_len(shape);
    for (int i = 0; i < out->ndim; i++)
        if (!sc_json_int(sc_json_at(shape, (size_t)i), &out->shape[i]) || out->shape[i] < 0)
            return sc_fail(err, SC_ERR_FORMAT, sc_json_offset(a), "%s/manifest.json: bad shape of '%s'", case_dir, name);
    if (!strcmp(dtype, "float32")) out->dtype = SC_DTYPE_F32;
    else if (!strcmp(dtype, "int32")) out->dtype = SC_DTYPE_I32;
    else return sc_fail(err, SC_ERR_UNSUPPORTED, sc_json_offset(a), "%s/manifest.json: dtype '%s' of '%s'", case_dir, dtype, name);
    if (!sc_numel(out->shape, out->ndim, &out->n) || out->n > ((size_t)1 << 32))
        return sc_fail(err, SC_ERR_LIMIT, sc_json_offset(a), "%s/manifest.json: '%s' is too large", case_dir, name);
    char *path = sc_path_join(case_dir, file);
    if (!path) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    char *buf = NULL;
    size_t len = 0;
    sc_status st = sc_read_file(path, out->n * 4 + 1, &buf, &len, err);
    if (!st && len != out->n * 4)
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s: %zu bytes, expected %zu for shape of '%s'", path, len,
                     out->n * 4, name);
    free(path);
    if (st) {
        free(buf);
        return st;
    }
    out->data = buf;
    out->name = strdup(name);
    if (!out->name) {
        free(buf);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    }
    return SC_OK;
}

static bool is_input(const char *name) {
    return !strcmp(name, "input_ids") || !strcmp(name, "attention_mask") || !strcmp(name, "labels");
}

/* "[3,8,384]" into buf. */
static const char *shape_str(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? "," : "[", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "%s", ndim ? "]" : "[]");
    return buf;
}

/* Whether ours has ref's shape. Step logits are the one allowance: the
 * fixture may keep only the first steps of [steps, rows, vocab], and those
 * are compared. */
static bool same_shape(const named_array *ref, const named_array *ours) {
    if (ours->ndim != ref->ndim) return false;
    for (int i = 0; i < ref->ndim; i++) {
        if (ours->shape[i] == ref->shape[i]) continue;
        if (!(i == 0 && ref->ndim == 3 && ours->shape[0] > ref->shape[0])) return false;
    }
    return true;
}

/* Prints the line for one array; returns true if it passed. `bf16_error`:
 * the bf16 compute path failed with this message (bf16_compute.* fail).
 * Training arrays (README-training.md's tolerances): a gradient passes when
 * max|a-b| <= 1e-4 max|b| (1e-7 for an all-zero one); parameters after an
 * optimizer step within 1e-6 absolute, except where AdamW's first step saw a
 * gradient below 1e-6 (`grad`, the recorded gradient of the same tensor):
 * lr * g / (|g| + eps) turns rounding-level differences of such g into
 * visible ones, so there the step only has to stay within its bound lr.
 * Adafactor divides by row and column means of g^2, which magnifies the
 * rounding of small rows and columns alike: its steps pass within 1e-6 or
 * 0.5% of the step taken (`initial`: the weights before the first step). */
static bool compare(FILE *out, const named_array *ref, const named_array *ours, const char *bf16_error,
                    const named_array *grad, double adam_lr, const named_array *initial) {
    if (bf16_error && !strncmp(ref->name, "bf16_compute.", 13)) {
        fprintf(out, "%s max_abs=inf max_rel=inf FAIL (bf16 compute path: %s)\n", ref->name, bf16_error);
        return false;
    }
    if (!ours) {
        fprintf(out, "%s SKIP not produced by this engine\n", ref->name);
        return false;
    }
    if (!same_shape(ref, ours)) {
        char a[96], b[96];
        fprintf(out, "%s max_abs=inf max_rel=inf FAIL (shape %s, expected %s)\n", ref->name,
                shape_str(a, sizeof a, ours->shape, ours->ndim), shape_str(b, sizeof b, ref->shape, ref->ndim));
        return false;
    }
    bool is_loss = strstr(ref->name, "loss") != NULL;
    const bool is_grad = !strncmp(ref->name, "grad.", 5) || !strncmp(ref->name, "grad_part.", 10);
    const bool is_step = !strncmp(ref->name, "adamw_step1.", 12) || !strncmp(ref->name, "adafactor_step1.", 16) ||
                         !strncmp(ref->name, "adafactor_step2.", 16);
    /* bf16_compute.*: HF run natively in bf16, a loose reference; our bf16
     * compute path passes when its cosine similarity to it is >= 0.995 (HF's
     * own fp32 and bf16 runs of the fixture agree to 0.9986-0.9993). */
    bool loose = !strncmp(ref->name, "bf16_compute.", 13);
    double dot = 0.0, na = 0.0, nb = 0.0;
    double max_abs = 0.0, max_ref = 0.0;
    bool ok = true;
    for (size_t i = 0; i < ref->n; i++) {
        double a, b;
        if (ref->dtype == SC_DTYPE_I32) {
            b = ((const int32_t *)ref->data)[i];
            a = ours->dtype == SC_DTYPE_I32 ? ((const int32_t *)ours->data)[i] : ((const float *)ours->data)[i];
        } else {
            b = ((const float *)ref->data)[i];
            a = ours->dtype == SC_DTYPE_F32 ? ((const float *)ours->data)[i] : ((const int32_t *)ours->data)[i];
        }
        double d = fabs(a - b);
        dot += a * b;
        na += a * a;
        nb += b * b;
        if (!(d <= max_abs)) max_abs = d; /* also catches NaN */
        if (fabs(b) > max_ref) max_ref = fabs(b);
        double tol = ref->dtype == SC_DTYPE_I32 ? 0.0 : is_loss ? 1e-5 * fabs(b) + 1e-7 : 1e-4 + 1e-4 * fabs(b);
        if (is_step) tol = grad && grad->n == ref->n && fabsf(((const float *)grad->data)[i]) < 1e-6f ? 2 * adam_lr : 1e-6;
        if (is_step && initial && initial->n == ref->n)
            tol = fmax(tol, 5e-3 * fabs(b - ((const float *)initial->data)[i]));
        if (!loose && !is_grad && !(d <= tol)) ok = false;
    }
    if (loose) ok = na > 0 && nb > 0 && dot / sqrt(na * nb) >= 0.995;
    if (is_grad) ok = max_abs <= (max_ref > 0 ? 1e-4 * max_ref : 1e-7);
    double max_rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    fprintf(out, "%s max_abs=%.3e max_rel=%.3e %s\n", ref->name, max_abs, max_rel, ok ? "PASS" : "FAIL");
    return ok;
}

sc_status sc_verify_case(const char *case_dir, const char *model_dir, const char *kernels,
                         const char *bf16_kernels, int format, FILE *out, sc_verify_counts *counts, sc_error *err) {
    char *mpath = sc_path_join(case_dir, "manifest.json");
    if (!mpath) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    sc_json_doc *doc = NULL;
    char *text = NULL;
    size_t text_len = 0;
    sc_status st = sc_read_file(mpath, (size_t)64 << 20, &text, &text_len, err);
    if (!st) st = sc_json_parse(text, text_len, mpath, &doc, err);
    free(text);
    free(mpath);
    if (st) return st;
    const sc_json *arrays = sc_json_get(sc_json_root(doc), "arrays");
    if (!arrays || sc_json_type_of(arrays) != SC_JSON_ARRAY) {
        sc_json_free(doc);
        return sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s/manifest.json: no 'arrays' list", case_dir);
    }
    size_t na = sc_json_len(arrays);
    named_array *refs = calloc(na ? na : 1, sizeof *refs);
    sc_model *model = NULL, *model_zero = NULL;
    sc_session *sess = NULL, *sess_zero = NULL;
    array_set ours = {0};
    if (!refs) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    for (size_t i = 0; !st && i < na; i++) st = read_array(case_dir, sc_json_at(arrays, i), &refs[i], err);
    named_array *ids = NULL, *mask = NULL, *labels = NULL;
    bool want_zero = false;
    for (size_t i = 0; !st && i < na; i++) {
        if (!strcmp(refs[i].name, "input_ids")) ids = &refs[i];
        if (!strcmp(refs[i].name, "attention_mask")) mask = &refs[i];
        if (!strcmp(refs[i].name, "labels")) labels = &refs[i];
        if (!strncmp(refs[i].name, "zero_drop.", 10)) want_zero = true;
    }
    if (!st && (!ids || !labels || ids->ndim != 2 || labels->ndim != 2 || labels->shape[0] != ids->shape[0] ||
                (mask && mask->n != ids->n)))
        st = sc_fail(err, SC_ERR_FORMAT, SC_NO_OFFSET, "%s/manifest.json: needs input_ids [B,S] and labels [B,T]", case_dir);
    sc_model_params p = sc_model_default_params();
    p.kernels = kernels ? kernels : "exact";
    p.format = format;
    if (!st) st = sc_model_load(model_dir, &p, &model, err);
    if (!st) st = sc_session_new(model, &sess, err);
    if (!st) st = run_forward(sess, ids, mask, labels, "", &ours, err);
    if (!st) st = run_generation(sess, model_dir, ids, mask, "", &ours, err);
    /* zero_drop.*: the same case on the model loaded with the other policy */
    p.drop_policy = SC_DROP_ZERO;
    if (!st && want_zero) st = sc_model_load(model_dir, &p, &model_zero, err);
    if (!st && want_zero) st = sc_session_new(model_zero, &sess_zero, err);
    if (!st && want_zero) st = run_forward(sess_zero, ids, mask, labels, "zero_drop.", &ours, err);
    if (!st && want_zero) st = run_generation(sess_zero, model_dir, ids, mask, "zero_drop.", &ours, err);
    /* no_jitter.*: the jitter case's forward without jitter, i.e. eval mode */
    bool want_nj = false, want_train = false;
    for (size_t i = 0; i < na && refs; i++) {
        want_nj |= !strncmp(refs[i].name, "no_jitter.", 10) && strcmp(refs[i].name + 10, "input_ids") != 0;
        want_train |= is_training_array(refs[i].name);
    }
    if (!st && want_nj) st = run_forward(sess, ids, mask, labels, "no_jitter.", &ours, err);
    train_reference = kernels && !strcmp(kernels, "ref");
    if (!st && want_train)
        st = run_training(model_dir, sc_json_root(doc), refs, na, ids, mask, labels, &ours, err);
    bool want_bf16 = false;
    for (size_t i = 0; !st && i < na; i++) want_bf16 |= !strncmp(refs[i].name, "bf16_compute.", 13);
    sc_error bf16_err;
    sc_error_clear(&bf16_err);
    bool bf16_failed =
        !st && want_bf16 && run_bf16(model_dir, format, bf16_kernels, ids, mask, labels, &ours, &bf16_err) != SC_OK;
    for (size_t i = 0; !st && i < na; i++) {
        if (is_input(refs[i].name)) continue;
        named_array *mine = set_find(&ours, refs[i].name);
        /* AdamW's step: the recorded gradient of the same tensor, and the lr */
        const named_array *grad = NULL;
        double adam_lr = 0;
        if (!strncmp(refs[i].name, "adamw_step1.", 12)) {
            char gname[300];
            snprintf(gname, sizeof gname, "grad.%s", refs[i].name + 12);
            for (size_t j = 0; j < na && !grad; j++)
                if (!strcmp(refs[j].name, gname)) grad = &refs[j];
            sc_json_number(sc_json_get(sc_json_get(sc_json_get(sc_json_root(doc), "adamw"), "constructor_kwargs"), "lr"),
                           &adam_lr);
        }
        const named_array *initial = NULL;
        if (!strncmp(refs[i].name, "adafactor_step", 14) && strchr(refs[i].name, '.')) {
            char iname[300];
            snprintf(iname, sizeof iname, "initial%s", strchr(refs[i].name, '.'));
            initial = set_find(&ours, iname);
        }
        bool ok = compare(out, &refs[i], mine, bf16_failed ? bf16_err.msg : NULL, grad, adam_lr, initial);
        if (!ok && bf16_failed && !strncmp(refs[i].name, "bf16_compute.", 13)) counts->failed++;
        else if (!mine) counts->skipped++;
        else if (ok) counts->passed++;
        else counts->failed++;
    }
    for (size_t i = 0; refs && i < na; i++) {
        free(refs[i].name);
        free(refs[i].data);
    }
    free(refs);
    set_free(&ours);
    sc_session_free(sess);
    sc_session_free(sess_zero);
    sc_model_free(model);
    sc_model_free(model_zero);
    sc_json_free(doc);
    return st;
}

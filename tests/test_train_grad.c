/* The training forward and backward (src/train) against Hugging Face
 * transformers 4.41.2 in train() mode, on the train_* fixtures:
 *   1. logits, hidden states, router outputs and the loss parts equal the
 *      fixture (|a-b| <= 1e-4 + 1e-4|b|) and the inference engine's
 *      sc_session_forward on the same inputs;
 *   2. every grad.<param> matches normwise (max|a-b| / max|b| <= 1e-4; an
 *      all-zero reference gradient must be zero to 1e-7), and so do the CE,
 *      z and aux parts of the router gradients, each from a backward with
 *      only that loss term weighted;
 *   3. the parameter list is HF's named_parameters() in order and shape;
 *   4. router jitter reproduces HF's recorded statistics (multiplier range,
 *      loss and gradient-norm mean and spread, router-logit movement);
 *   5. the training forward without dropout and jitter equals every
 *      inference fixture (eval mode): f16 / bf16 / sharded / .bin weights,
 *      heads*d_kv != d_model, a decoder without sparse blocks, the real
 *      vocabulary, and the zero drop policy where recorded.
 * Prints the worst normwise gradient error of each case. */
#include "fixture_arrays.h"

#include "train/backward.h"

static double worst_tol(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (1e-4 + 1e-4 * fabs((double)b[i]));
        if (!(d <= w)) w = d; /* NaN counts as worst */
    }
    return w; /* <= 1 passes */
}

/* max|a-b| / max|b| (or max|a-b| when b is all zero, *zero set). */
static double normwise(const float *a, const float *b, size_t n, bool *zero) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) md = d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    *zero = mb == 0.0;
    return mb == 0.0 ? md : md / mb;
}

static double scalar(const char *dir, const sc_json *arrays, const char *name) {
    arr a;
    if (!load_array(dir, arrays, name, &a)) return NAN;
    double v = ((float *)a.data)[0];
    free(a.data);
    return v;
}

static bool close_loss(double got, double want) { return fabs(got - want) <= 1e-6 + 1e-4 * fabs(want); }

static void check_router(const char *dir, const sc_json *arrays, const char *pre, const sc_train_tape *tape,
                         int dec, int64_t blk) {
    const sc_tr_moe_save *m = sc_train_tape_router(tape, dec, blk);
    char name[128];
    const char *stack = dec ? "decoder" : "encoder";
    snprintf(name, sizeof name, "%s%s.block.%lld.router_logits", pre, stack, (long long)blk);
    arr lg, ex, kept, pm;
    bool have = load_array(dir, arrays, name, &lg);
    CHECKF(have == (m != NULL), "%s: %s present in the fixture iff the block is sparse", dir, name);
    if (!have || !m) {
        free(lg.data);
        return;
    }
    snprintf(name, sizeof name, "%s%s.block.%lld.expert_index", pre, stack, (long long)blk);
    bool ok = load_array(dir, arrays, name, &ex);
    snprintf(name, sizeof name, "%s%s.block.%lld.kept", pre, stack, (long long)blk);
    ok = load_array(dir, arrays, name, &kept) && ok;
    snprintf(name, sizeof name, "%s%s.block.%lld.router_prob_max", pre, stack, (long long)blk);
    ok = load_array(dir, arrays, name, &pm) && ok;
    size_t n = (size_t)(m->B * m->L);
    CHECKF(ok && lg.n == n * (size_t)m->E && ex.n == n, "%s: router arrays of %s.block.%lld", dir, stack,
           (long long)blk);
    if (ok && lg.n == n * (size_t)m->E && ex.n == n) {
        CHECKF(worst_tol(m->logits, lg.data, lg.n) <= 1, "%s: %s.block.%lld router logits", dir, stack,
               (long long)blk);
        CHECKF(worst_tol(m->pmax, pm.data, n) <= 1, "%s: %s.block.%lld router_prob_max", dir, stack,
               (long long)blk);
        int bad_idx = 0, bad_kept = 0;
        for (size_t i = 0; i < n; i++) {
            bad_idx += sc_tr_moe_hf_index(m, (int64_t)i) != ((int32_t *)ex.data)[i];
            bad_kept += m->kept[i] != ((int32_t *)kept.data)[i];
        }
        CHECKF(bad_idx == 0 && bad_kept == 0, "%s: %s.block.%lld: %d expert indices, %d kept flags differ",
               dir, stack, (long long)blk, bad_idx, bad_kept);
    }
    free(lg.data);
    free(ex.data);
    free(kept.data);
    free(pm.data);
}

/* Hidden states [n+1,B,L,D] of a stack against the tape. */
static void check_hidden(const char *dir, const sc_json *arrays, const char *pre, const sc_train_tape *tape,
                         const sc_train_params *tp, int dec, int64_t B, int64_t L) {
    arr hs;
    char name[96];
    snprintf(name, sizeof name, "%s%s", pre, dec ? "decoder_hidden_states" : "encoder_hidden_states");
    bool have = load_array(dir, arrays, name, &hs);
    const int64_t nb = tp->n_blocks[dec], D = tp->cfg.d_model;
    size_t per = (size_t)(B * L * D);
    CHECKF(have && hs.n == per * (size_t)(nb + 1), "%s: %s shape", dir, name);
    if (have && hs.n == per * (size_t)(nb + 1))
        for (int64_t i = 0; i <= nb; i++) {
            double w = worst_tol(sc_train_tape_hidden(tape, dec, i), (float *)hs.data + per * (size_t)i, per);
            CHECKF(w <= 1, "%s: %s[%lld] off (%.3g of the tolerance)", dir, name, (long long)i, w);
        }
    free(hs.data);
}

/* The forward of the inference engine (exact fp32 kernels) on the same inputs. */
static void check_engine(const char *dir, const arr *ids, const arr *mask, const arr *labels,
                         const float *logits, const sc_train_losses *L) {
    sc_model_params mp = sc_model_default_params();
    mp.kernels = "exact";
    mp.n_threads = 1;
    sc_model *m = NULL;
    sc_session *s = NULL;
    sc_error err;
    sc_status st = sc_model_load(dir, &mp, &m, &err);
    if (st == SC_OK) st = sc_session_new(m, &s, &err);
    CHECKF(st == SC_OK, "%s: engine load: %s", dir, err.msg);
    sc_forward_result *r = NULL;
    if (st == SC_OK) {
        st = sc_session_forward(s, ids->data, mask->data, ids->shape[0], ids->shape[1], labels->data,
                                labels->shape[1], NULL, &r, &err);
        CHECKF(st == SC_OK, "%s: engine forward: %s", dir, err.msg);
    }
    if (r) {
        int64_t B, T, V;
        const float *el = sc_forward_result_logits(r, &B, &T, &V);
        double w = worst_tol(logits, el, (size_t)(B * T * V));
        CHECKF(w <= 1, "%s: training logits vs sc_session_forward (%.3g of the tolerance)", dir, w);
        sc_forward_losses e = sc_forward_result_loss(r);
        CHECKF(close_loss(L->loss, e.loss) && close_loss(L->ce, e.ce) &&
                   close_loss(L->encoder_z, e.encoder_z_loss) &&
                   close_loss(L->encoder_aux, e.encoder_aux_loss) &&
                   close_loss(L->decoder_z, e.decoder_z_loss) &&
                   close_loss(L->decoder_aux, e.decoder_aux_loss) && L->tokens == e.tokens,
               "%s: losses vs sc_session_forward: %.8g/%.8g ce %.8g/%.8g", dir, L->loss, e.loss, L->ce, e.ce);
        sc_forward_result_free(r);
    }
    sc_session_free(s);
    sc_model_free(m);
}

/* Compares the gradients of the router parameters with grad_part.<part>.*;
 * returns the worst normwise error. */
static double check_parts(const char *dir, const sc_json *arrays, sc_train_params *tp,
                          const sc_train_tape *tape, const char *part, sc_train_loss_weights w) {
    sc_train_params_zero_grad(tp);
    sc_error err;
    sc_status st = sc_train_backward(tp, tape, &w, &err);
    CHECKF(st == SC_OK, "%s: backward (%s part): %s", dir, part, err.msg);
    double worst = 0;
    int found = 0;
    for (size_t i = 0; i < tp->count; i++) {
        sc_train_param *p = &tp->p[i];
        if (p->ref.kind != SC_W_ROUTER_W && p->ref.kind != SC_W_ROUTER_B) continue;
        char name[224];
        snprintf(name, sizeof name, "grad_part.%s.%s", part, p->name);
        arr a;
        if (!load_array(dir, arrays, name, &a)) {
            CHECKF(false, "%s: no %s in the fixture", dir, name);
            continue;
        }
        found++;
        bool zero = false;
        double e = a.n == p->numel ? normwise(p->g, a.data, a.n, &zero) : INFINITY;
        CHECKF(zero ? e <= 1e-7 : e <= 1e-4, "%s: %s normwise error %.3g%s", dir, name, e,
               zero ? " (zero ref)" : "");
        if (!zero && !(e <= worst)) worst = e;
        free(a.data);
    }
    CHECKF(found > 0, "%s: router gradient parts found", dir);
    return worst;
}

static void prefixed(char *buf, size_t cap, const char *pre, const char *name) {
    snprintf(buf, cap, "%s%s", pre, name);
}

/* Runs the training forward (dropout and jitter off) and compares every
 * forward array named with `pre` (""; "zero_drop." for the zero drop policy;
 * "no_jitter.") with the fixture, and the engine's sc_session_forward when
 * `engine`. Returns the tape (NULL on failure). */
static sc_train_tape *check_forward(const char *dir, const sc_json *arrays, const sc_train_params *tp,
                                    const char *pre, sc_drop_policy policy, bool engine) {
    arr ids, mask, labels, logits, enc_last;
    char nm[128];
    bool ok = load_array(dir, arrays, "input_ids", &ids) &&
              load_array(dir, arrays, "attention_mask", &mask) && load_array(dir, arrays, "labels", &labels);
    prefixed(nm, sizeof nm, pre, "logits");
    ok = load_array(dir, arrays, nm, &logits) && ok;
    prefixed(nm, sizeof nm, pre, "encoder_last_hidden_state");
    ok = load_array(dir, arrays, nm, &enc_last) && ok;
    CHECKF(ok, "%s: %sarrays", dir, pre);
    sc_train_tape *tape = NULL;
    if (ok) {
        const int64_t B = ids.shape[0], S = ids.shape[1], T = labels.shape[1];
        sc_train_batch bt = {ids.data, mask.data, labels.data, NULL, B, S, T};
        sc_train_opts o = sc_train_default_opts();
        o.drop_policy = policy;
        o.seed = 99; /* any seed: with dropout and jitter off it must not matter */
        sc_train_losses L;
        sc_error err;
        sc_status st = sc_train_forward(tp, &bt, &o, &tape, &L, &err);
        CHECKF(st == SC_OK, "%s: forward: %s", dir, err.msg);
        if (st == SC_OK) {
            int64_t b, t, v;
            const float *lg = sc_train_tape_logits(tape, &b, &t, &v);
            double w = logits.n == (size_t)(b * t * v) ? worst_tol(lg, logits.data, logits.n) : INFINITY;
            CHECKF(w <= 1, "%s: %slogits (%.3g of the tolerance)", dir, pre, w);
            CHECKF(worst_tol(sc_train_tape_hidden(tape, 0, tp->n_blocks[0]), enc_last.data, enc_last.n) <= 1,
                   "%s: %sencoder_last_hidden_state", dir, pre);
            check_hidden(dir, arrays, pre, tape, tp, 0, B, S);
            check_hidden(dir, arrays, pre, tape, tp, 1, B, T);
            struct {
                const char *name;
                double got;
            } parts[] = {{"loss", L.loss},
                         {"loss_lm_only", L.ce},
                         {"encoder_z_loss", L.encoder_z},
                         {"encoder_aux_loss", L.encoder_aux},
                         {"decoder_z_loss", L.decoder_z},
                         {"decoder_aux_loss", L.decoder_aux}};
            for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
                prefixed(nm, sizeof nm, pre, parts[i].name);
                double want = scalar(dir, arrays, nm);
                CHECKF(close_loss(parts[i].got, want), "%s: %s %.9g, HF %.9g", dir, nm, parts[i].got, want);
            }
            for (int dec = 0; dec < 2; dec++)
                for (int64_t i = 0; i < tp->n_blocks[dec]; i++) check_router(dir, arrays, pre, tape, dec, i);
            if (engine) check_engine(dir, &ids, &mask, &labels, lg, &L);
        }
    }
    free(ids.data);
    free(mask.data);
    free(labels.data);
    free(logits.data);
    free(enc_last.data);
    return tape;
}

static sc_json_doc *open_case(const char *rel, char *dir, size_t cap, const sc_json **arrays,
                              sc_train_params **tp) {
    snprintf(dir, cap, "%s", fixture_path(rel));
    char *mpath = sc_path_join(dir, "manifest.json");
    sc_json_doc *doc = NULL;
    sc_error err;
    sc_status st = sc_json_parse_file(mpath, (size_t)1 << 26, &doc, &err);
    free(mpath);
    CHECKF(st == SC_OK, "%s", err.msg);
    if (st) return NULL;
    *arrays = sc_json_get(sc_json_root(doc), "arrays");
    st = sc_train_params_load(dir, tp, &err);
    CHECKF(st == SC_OK, "%s: params: %s", dir, err.msg);
    if (st) {
        sc_json_free(doc);
        return NULL;
    }
    return doc;
}

/* The inference fixtures (eval mode, which the training forward without
 * dropout and jitter equals): every format and dtype (f16 / bf16 weights
 * are widened as HF upcasts them), and the zero drop policy where recorded. */
static void run_forward_case(const char *rel) {
    char dir[4096];
    const sc_json *arrays = NULL;
    sc_train_params *tp = NULL;
    sc_json_doc *doc = open_case(rel, dir, sizeof dir, &arrays, &tp);
    if (!doc) return;
    sc_train_tape_free(check_forward(dir, arrays, tp, "", SC_DROP_HF4, false));
    arr z;
    bool zero_drop = load_array(dir, arrays, "zero_drop.logits", &z);
    free(z.data);
    if (zero_drop) sc_train_tape_free(check_forward(dir, arrays, tp, "zero_drop.", SC_DROP_ZERO, false));
    printf("%s: training forward checked%s\n", rel, zero_drop ? " (HF 4.x and zero drop policies)" : "");
    sc_train_params_free(tp);
    sc_json_free(doc);
}

static double json_num(const sc_json *o, const char *key) {
    double v = NAN;
    sc_json_number(sc_json_get(o, key), &v);
    return v;
}

/* Router jitter against HF's statistics for the same weights and inputs
 * (32 samples each; the generators differ, so only the distributions can
 * agree): the multipliers stay in [1-eps, 1+eps], the loss and gradient-norm
 * spreads match HF's within a factor of 2, their means within 3 standard
 * errors, and the router logits move by HF's order of magnitude. */
static void check_jitter_stats(void) {
    char dir[4096];
    const sc_json *arrays = NULL;
    sc_train_params *tp = NULL;
    sc_json_doc *doc = open_case("models/train_e4_step2_jitter_stats", dir, sizeof dir, &arrays, &tp);
    if (!doc) return;
    const sc_json *js = sc_json_get(sc_json_root(doc), "jitter_statistics");
    arr ids, mask, labels;
    bool ok = load_array(dir, arrays, "input_ids", &ids) &&
              load_array(dir, arrays, "attention_mask", &mask) &&
              load_array(dir, arrays, "labels", &labels) && js;
    CHECKF(ok, "%s: jitter statistics and inputs", dir);
    if (ok) {
        sc_train_batch bt = {ids.data,     mask.data,    labels.data,    NULL,
                             ids.shape[0], ids.shape[1], labels.shape[1]};
        sc_train_tape *t0 = NULL;
        CHECK(sc_train_forward(tp, &bt, NULL, &t0, NULL, NULL) == SC_OK);
        const sc_tr_moe_save *r0 = t0 ? sc_train_tape_router(t0, 0, 1) : NULL;
        enum { n = 32 };
        double loss[n], gn[n], mmin = 2, mmax = 0, dlog_max = 0;
        int bad = 0;
        for (int k = 0; k < n && r0; k++) {
            sc_train_opts o = sc_train_default_opts();
            o.router_jitter = tp->cfg.router_jitter_noise;
            o.seed = 10000 + (uint64_t)k;
            sc_train_tape *t = NULL;
            sc_train_losses L;
            if (sc_train_forward(tp, &bt, &o, &t, &L, NULL) != SC_OK) {
                bad++;
                continue;
            }
            sc_train_params_zero_grad(tp);
            bad += sc_train_backward(tp, t, NULL, NULL) != SC_OK;
            double ss = 0;
            for (size_t i = 0; i < tp->count; i++)
                for (size_t j = 0; j < tp->p[i].numel; j++) ss += (double)tp->p[i].g[j] * tp->p[i].g[j];
            loss[k] = L.loss;
            gn[k] = sqrt(ss);
            for (int dec = 0; dec < 2; dec++) {
                const sc_tr_moe_save *m = sc_train_tape_router(t, dec, 1);
                const sc_tr_moe_save *m0 = sc_train_tape_router(t0, dec, 1);
                for (int64_t i = 0; m && m->jit && i < m->B * m->L * m->D; i++) {
                    mmin = fmin(mmin, m->jit[i]);
                    mmax = fmax(mmax, m->jit[i]);
                }
                for (int64_t i = 0; m && i < m->B * m->L * m->E; i++)
                    dlog_max = fmax(dlog_max, fabs(m->logits[i] - m0->logits[i]));
            }
            sc_train_tape_free(t);
        }
        double lm = 0, ls = 0, gm = 0, gs = 0;
        for (int k = 0; k < n; k++) {
            lm += loss[k] / n;
            gm += gn[k] / n;
        }
        for (int k = 0; k < n; k++) {
            ls += (loss[k] - lm) * (loss[k] - lm) / (n - 1);
            gs += (gn[k] - gm) * (gn[k] - gm) / (n - 1);
        }
        ls = sqrt(ls);
        gs = sqrt(gs);
        double hl = json_num(js, "loss_mean"), hls = json_num(js, "loss_std");
        double hg = json_num(js, "grad_norm_mean"), hgs = json_num(js, "grad_norm_std");
        double hd = json_num(js, "max_abs_router_logit_change_max_over_samples");
        printf(
            "jitter 0.01, %d samples: loss mean %.7f std %.2e (HF %.7f, %.2e); grad norm mean %.5f std %.2e "
            "(HF %.5f, %.2e); multipliers [%.6f, %.6f]; max router logit change %.3f (HF %.3f)\n",
            n, lm, ls, hl, hls, gm, gs, hg, hgs, mmin, mmax, dlog_max, hd);
        double eps = tp->cfg.router_jitter_noise;
        CHECKF(!bad && mmin >= 1 - eps && mmax <= 1 + eps && mmin < 1 - 0.9 * eps && mmax > 1 + 0.9 * eps,
               "jitter multipliers [%g, %g], %d failed steps", mmin, mmax, bad);
        CHECKF(ls > hls / 2 && ls < hls * 2 && gs > hgs / 2 && gs < hgs * 2,
               "jitter spreads: loss %g (HF %g), grad norm %g (HF %g)", ls, hls, gs, hgs);
        double se_l = 3 * sqrt(ls * ls / n + hls * hls / n), se_g = 3 * sqrt(gs * gs / n + hgs * hgs / n);
        CHECKF(fabs(lm - hl) < se_l && fabs(gm - hg) < se_g,
               "jitter means: loss %g (HF %g), grad norm %g (HF %g)", lm, hl, gm, hg);
        CHECKF(dlog_max > hd / 4 && dlog_max < hd * 4, "router logit change %g (HF %g)", dlog_max, hd);
        sc_train_tape_free(t0);
    }
    free(ids.data);
    free(mask.data);
    free(labels.data);
    sc_train_params_free(tp);
    sc_json_free(doc);
}

static void run_case(const char *rel) {
    char dir[4096];
    const sc_json *arrays = NULL;
    sc_train_params *tp = NULL;
    sc_json_doc *doc = open_case(rel, dir, sizeof dir, &arrays, &tp);
    if (!doc) return;
    const sc_json *root = sc_json_root(doc);
    sc_error err;
    sc_status st = SC_OK;
    /* 3. HF's parameter list, in order. */
    const sc_json *plist = sc_json_get(root, "parameters");
    CHECKF(sc_json_len(plist) == tp->count, "%s: %zu parameters, HF has %zu", dir, tp->count,
           sc_json_len(plist));
    for (size_t i = 0; i < sc_json_len(plist) && i < tp->count; i++) {
        const char *nm = sc_json_string(sc_json_get(sc_json_at(plist, i), "name"), NULL);
        CHECKF(nm && !strcmp(nm, tp->p[i].name), "%s: parameter %zu is %s, HF has %s", dir, i, tp->p[i].name,
               nm ? nm : "?");
    }
    /* 1. Forward. */
    sc_train_tape *tape = check_forward(dir, arrays, tp, "", SC_DROP_HF4, true);
    if (!tape) st = SC_ERR_INVALID_ARG;
    /* 2. Backward: every gradient, then the router gradient parts. */
    double worst = 0;
    const char *worst_name = "-";
    int zero_refs = 0;
    if (st == SC_OK) {
        sc_train_params_zero_grad(tp);
        st = sc_train_backward(tp, tape, NULL, &err);
        CHECKF(st == SC_OK, "%s: backward: %s", dir, err.msg);
        for (size_t i = 0; i < tp->count && st == SC_OK; i++) {
            sc_train_param *p = &tp->p[i];
            char name[224];
            snprintf(name, sizeof name, "grad.%s", p->name);
            arr a;
            if (!load_array(dir, arrays, name, &a)) {
                CHECKF(false, "%s: no %s in the fixture", dir, name);
                continue;
            }
            bool zero = false;
            double e = a.n == p->numel ? normwise(p->g, a.data, a.n, &zero) : INFINITY;
            CHECKF(zero ? e <= 1e-7 : e <= 1e-4, "%s: %s normwise error %.3g%s", dir, name, e,
                   zero ? " (zero ref)" : "");
            zero_refs += zero;
            if (!zero && !(e <= worst)) {
                worst = e;
                worst_name = p->name;
            }
            free(a.data);
        }
        printf("%s: worst normwise gradient error %.3g (%s); %d all-zero reference gradients matched\n", rel,
               worst, worst_name, zero_refs);
        const sc_config *c = &tp->cfg;
        double wce = check_parts(dir, arrays, tp, tape, "ce", (sc_train_loss_weights){1, 0, 0});
        double wz =
            check_parts(dir, arrays, tp, tape, "z", (sc_train_loss_weights){0, c->router_z_loss_coef, 0});
        double wa =
            check_parts(dir, arrays, tp, tape, "aux", (sc_train_loss_weights){0, 0, c->router_aux_loss_coef});
        printf("%s: router gradient parts, worst normwise error: ce %.3g, z %.3g, aux %.3g\n", rel, wce, wz,
               wa);
    }
    sc_train_tape_free(tape);
    sc_train_params_free(tp);
    sc_json_free(doc);
}

int main(void) {
    run_case("models/train_e4_step1_untied_nodrop");
    run_case("models/train_e4_step2_bias_overflow");
    /* Same weights as bias_overflow with router_jitter_noise 0.01 in its config: the
     * jitter-free arrays (jitter is an option of the forward, off by default). */
    {
        char dir[4096];
        const sc_json *arrays = NULL;
        sc_train_params *tp = NULL;
        sc_json_doc *doc = open_case("models/train_e4_step2_jitter_stats", dir, sizeof dir, &arrays, &tp);
        if (doc) {
            CHECK(tp->cfg.router_jitter_noise == 0.01);
            sc_train_tape_free(check_forward(dir, arrays, tp, "no_jitter.", SC_DROP_HF4, false));
            sc_train_params_free(tp);
            sc_json_free(doc);
        }
    }
    check_jitter_stats();
    const char *eval_cases[] = {"models/e4_step1_tied_bias_overflow",
                                "models/e4_step1_tied_bias_overflow_fp16",
                                "models/e4_untied_eos_early",
                                "models/e8_step2_untied_heads_ne_dmodel",
                                "models/e8_step2_untied_heads_ne_dmodel_bf16",
                                "models/e8_step3_enc_dec0sparse_defaults",
                                "models/e8_step3_enc_dec0sparse_defaults_sharded",
                                "models/t5vocab_e4_step2"};
    for (size_t i = 0; i < sizeof eval_cases / sizeof eval_cases[0]; i++) run_forward_case(eval_cases[i]);
    TEST_MAIN_END();
}

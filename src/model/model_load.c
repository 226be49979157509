/* sc_model_load: config + checkpoint + binding every expected tensor through
 * the HF name table. Matrices stay views into the mapped checkpoint in the
 * file's dtype (I8 ones with their "<name>.scale" tensor) unless
 * params.dtype asks for another, then they are converted into owned buffers;
 * the small vectors that HF computes in fp32 (layer norms, router, relative
 * attention bias) get fp32 copies. */
#include "core/alloc.h"
#include "core/checked.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/mapfile.h"
#include "core/context.h"
#include "core/pool.h"
#include "model/hf_names.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sc_model_params sc_model_default_params(void) {
    sc_model_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.drop_policy = SC_DROP_HF4;
    p.format = SC_FORMAT_AUTO;
    p.reference_kernels = false;
    p.dtype = SC_DTYPE_AS_STORED;
    return p;
}

typedef struct bind_ctx {
    sc_model *m;
    sc_error *err;
    sc_status status;
    size_t f32_needed; /* pass 1: floats of fp32 copies */
    size_t f32_used;   /* pass 2 */
    bool counting;
    size_t found;
    int64_t sparse_seen;
} bind_ctx;

static bool is_vector_kind(sc_weight_kind k) {
    return k == SC_W_FINAL_LN || k == SC_W_SA_LN || k == SC_W_CA_LN || k == SC_W_FF_LN ||
           k == SC_W_REL_BIAS || k == SC_W_ROUTER_W || k == SC_W_ROUTER_B;
}

static bool is_float_dtype(sc_dtype t) {
    return t == SC_DTYPE_F32 || t == SC_DTYPE_F16 || t == SC_DTYPE_BF16;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = 0;
    n += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static bool bind_q8_scales(bind_ctx *c, const char *name, const sc_tensor_entry *e, sc_tensor *out) {
    char sname[280];
    snprintf(sname, sizeof sname, "%s.scale", name);
    const sc_tensor_entry *s = sc_checkpoint_find(c->m->ck, sname);
    if (!s) {
        c->status = sc_fail(c->err, SC_ERR_MISSING, e->file_offset,
                            "%s: I8 tensor '%s' has no scales tensor '%s'", e->file, name, sname);
        return false;
    }
    if (s->view.dtype != SC_DTYPE_F32 || s->view.ndim != 1 || s->view.shape[0] != e->view.shape[0]) {
        c->status = sc_fail(c->err, SC_ERR_SHAPE, s->file_offset,
                            "%s: scales tensor '%s' must be F32 [%lld]", s->file, sname,
                            (long long)e->view.shape[0]);
        return false;
    }
    c->found++;
    *out = e->view;
    out->scales = s->view.data;
    return true;
}

static bool bind_one(void *vctx, const sc_weight_ref *ref) {
    bind_ctx *c = vctx;
    size_t numel = (size_t)ref->shape[0] * (size_t)(ref->ndim > 1 ? ref->shape[1] : 1);
    if (c->counting) {
        if (is_vector_kind(ref->kind)) c->f32_needed += numel;
        return true;
    }
    sc_model *m = c->m;
    char name[256];
    if (!sc_hf_name(ref, name, sizeof name)) {
        c->status = sc_fail(c->err, SC_ERR_LIMIT, SC_NO_OFFSET, "tensor name too long");
        return false;
    }
    const sc_tensor_entry *e = sc_checkpoint_find(m->ck, name);
    if (!e) {
        c->status = sc_fail(c->err, SC_ERR_MISSING, SC_NO_OFFSET,
                            "%s: checkpoint has no tensor '%s'", m->dir, name);
        return false;
    }
    c->found++;
    sc_tensor q8view;
    const sc_tensor *v = &e->view;
    bool shape_ok = v->ndim == ref->ndim && v->shape[0] == ref->shape[0] &&
                    (ref->ndim == 1 || v->shape[1] == ref->shape[1]);
    if (shape_ok && v->dtype == SC_DTYPE_I8 && !is_vector_kind(ref->kind)) {
        /* q8 (docs/q8-format.md): the per-row scales are "<name>.scale", F32 [N]. */
        if (!bind_q8_scales(c, name, e, &q8view)) return false;
        v = &q8view;
    } else if (!shape_ok || !is_float_dtype(v->dtype)) {
        char got[64], want[64];
        format_shape(got, sizeof got, v->ndim, v->shape);
        format_shape(want, sizeof want, ref->ndim, ref->shape);
        c->status = sc_fail(c->err, SC_ERR_SHAPE, e->file_offset,
                            "%s: tensor '%s' is %s %s, expected a float tensor %s", e->file, name,
                            sc_dtype_name(v->dtype), got, want);
        return false;
    }
    const float *copy = NULL;
    if (is_vector_kind(ref->kind)) {
        float *dst = m->f32_copies + c->f32_used;
        sc_convert_to_f32(dst, v->data, v->dtype, numel);
        c->f32_used += numel;
        copy = dst;
    }
    sc_stack_weights *st = ref->decoder ? &m->dec : &m->enc;
    sc_block_weights *b = ref->block >= 0 ? &st->blocks[ref->block] : NULL;
    sc_ffn_weights ew;
    switch (ref->kind) {
    case SC_W_SHARED: m->shared = *v; break;
    case SC_W_LM_HEAD: m->lm_head = *v; break;
    case SC_W_FINAL_LN: st->final_ln = copy; break;
    case SC_W_REL_BIAS: st->rel_bias = copy; break;
    case SC_W_SA_LN: b->ln_self = copy; break;
    case SC_W_SA_Q: b->self.q = *v; break;
    case SC_W_SA_K: b->self.k = *v; break;
    case SC_W_SA_V: b->self.v = *v; break;
    case SC_W_SA_O: b->self.o = *v; break;
    case SC_W_CA_LN: b->ln_cross = copy; break;
    case SC_W_CA_Q: b->cross.q = *v; break;
    case SC_W_CA_K: b->cross.k = *v; break;
    case SC_W_CA_V: b->cross.v = *v; break;
    case SC_W_CA_O: b->cross.o = *v; break;
    case SC_W_FF_LN: b->ln_ff = copy; break;
    case SC_W_FF_WI:
    case SC_W_FF_WI0: b->ff.wi = *v; break;
    case SC_W_FF_WI1: b->ff.wi1 = *v; break;
    case SC_W_FF_WO: b->ff.wo = *v; break;
    case SC_W_ROUTER_W:
        b->sparse = true;
        b->router_w = copy;
        b->moe_index = c->sparse_seen++;
        break;
    case SC_W_ROUTER_B: b->router_b = copy; break;
    case SC_W_EXPERT_WI:
    case SC_W_EXPERT_WI0:
    case SC_W_EXPERT_WI1:
    case SC_W_EXPERT_WO:
        ew = *sc_expert_store_get(m->experts, b->moe_index, ref->expert);
        if (ref->kind == SC_W_EXPERT_WO) ew.wo = *v;
        else if (ref->kind == SC_W_EXPERT_WI1) ew.wi1 = *v;
        else ew.wi = *v;
        sc_expert_store_set(m->experts, b->moe_index, ref->expert, &ew);
        break;
    default: break;
    }
    return true;
}

static int64_t count_sparse(const sc_config *c, bool dec) {
    int64_t n = dec ? c->num_decoder_layers : c->num_layers, k = 0;
    for (int64_t i = 0; i < n; i++) k += sc_config_block_is_sparse(c, dec, i);
    return k;
}

static sc_status alloc_stack(sc_stack_weights *st, bool dec, int64_t n, sc_error *err) {
    st->decoder = dec;
    st->n_blocks = n;
    st->blocks = n ? calloc((size_t)n, sizeof *st->blocks) : NULL;
    if (n && !st->blocks) return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    return SC_OK;
}

static sc_status bind_weights(sc_model *m, sc_error *err) {
    const sc_config *cfg = &m->cfg;
    sc_status st;
    if ((st = alloc_stack(&m->enc, false, cfg->num_layers, err)) ||
        (st = alloc_stack(&m->dec, true, cfg->num_decoder_layers, err)))
        return st;
    int64_t n_sparse = count_sparse(cfg, false) + count_sparse(cfg, true);
    /* Each config size passes its own limit, yet layers x experts can still
     * ask for terabytes of bookkeeping: every expected tensor must be in the
     * checkpoint, so more expected tensors than it holds fails here, before
     * anything is sized by the config. */
    uint64_t want = (uint64_t)n_sparse * (uint64_t)cfg->num_experts * (cfg->gated ? 3u : 2u) +
                    (uint64_t)(cfg->num_layers + cfg->num_decoder_layers) * 6u;
    size_t have = sc_checkpoint_count(m->ck);
    if (want > have)
        return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET,
                       "%s: config.json expects at least %llu tensors (num_experts %lld in %lld sparse "
                       "blocks, %lld+%lld blocks) but the checkpoint holds %zu",
                       m->dir, (unsigned long long)want, (long long)cfg->num_experts,
                       (long long)n_sparse, (long long)cfg->num_layers,
                       (long long)cfg->num_decoder_layers, have);
    if ((st = sc_expert_store_new(n_sparse, cfg->num_experts, &m->experts, err))) return st;

    bind_ctx c = {.m = m, .err = err, .counting = true};
    sc_hf_for_each(cfg, bind_one, &c);
    m->f32_copies = sc_alloc_aligned(c.f32_needed * sizeof(float));
    if (c.f32_needed && !m->f32_copies)
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory for %zu floats", c.f32_needed);
    c.counting = false;
    c.status = SC_OK;
    if (!sc_hf_for_each(cfg, bind_one, &c)) return c.status;

    if (cfg->tie_word_embeddings) m->lm_head = m->shared;
    /* HF: tied embeddings rescale the decoder output by d_model^-0.5 (a Python
     * float applied to a float32 tensor). */
    m->lm_scale = cfg->tie_word_embeddings ? (float)pow((double)cfg->d_model, -0.5) : 1.0f;

    size_t aliases = 0, total = sc_checkpoint_count(m->ck);
    for (size_t i = 0; i < total; i++)
        if (sc_hf_is_alias(cfg, sc_checkpoint_at(m->ck, i)->name)) aliases++;
    m->n_unexpected = total - c.found - aliases;
    return SC_OK;
}

static sc_status convert_one(sc_model *m, sc_tensor *t, sc_dtype to, const char *what, sc_error *err) {
    if (!t->data) return SC_OK;
    void *owned;
    sc_tensor conv;
    sc_status st = sc_weights_convert(&conv, &owned, t, to, m->kern, what, err);
    if (st) return st;
    size_t bytes = 0;
    if (owned) sc_weights_converted_bytes(conv.shape[0], conv.shape[1], to, &bytes);
    if ((st = sc_owned_push(&m->converted, owned, bytes, err))) return st;
    /* The source is not read again (the embedding lookup refaults the rows
     * it needs when it shares them): without this its mapped pages stayed
     * in the resident set next to the copy. */
    if (owned)
        sc_checkpoint_drop_pages(m->ck, t->data,
                                 (size_t)t->shape[0] * (size_t)sc_tensor_cols(t) * sc_dtype_size(t->dtype));
    *t = conv;
    return SC_OK;
}

/* --dtype: every dense matrix to params.dtype now; experts are converted by
 * the store on first use (sc_expert_store_configure). The embedding lookup reads `shared` row by row, so it stays as
 * stored unless stored as I8, which the lookup cannot read: then it gets an
 * fp32 dequantized copy (the lm_head keeps the I8 view when tied). */
static sc_status convert_weights(sc_model *m, sc_error *err) {
    sc_status st;
    const sc_dtype to = m->params.dtype;
    if (m->shared.dtype == SC_DTYPE_I8 && (st = convert_one(m, &m->shared, SC_DTYPE_F32, "shared.weight", err)))
        return st;
    if (to == SC_DTYPE_AS_STORED) return SC_OK;
    if (!sc_weights_dtype_ok(to))
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "weights dtype %d is not one of f32, bf16, f16, q8",
                       (int)to);
    if ((st = convert_one(m, &m->lm_head, to, "lm_head", err))) return st;
    sc_stack_weights *stacks[2] = {&m->enc, &m->dec};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < stacks[s]->n_blocks; i++) {
            sc_block_weights *b = &stacks[s]->blocks[i];
            sc_tensor *mats[] = {&b->self.q,  &b->self.k,  &b->self.v, &b->self.o, &b->cross.q,
                                 &b->cross.k, &b->cross.v, &b->cross.o, &b->ff.wi, &b->ff.wi1, &b->ff.wo};
            for (size_t j = 0; j < sizeof mats / sizeof mats[0]; j++)
                if ((st = convert_one(m, mats[j], to, "attention/dense matrix", err))) return st;
        }
    return SC_OK;
}

/* sc_model_load, with the tensors of `given` (taken) instead of the weight
 * files when it is not NULL. */
static sc_status load(const char *dir, sc_checkpoint *given, const sc_model_params *params, sc_model **out,
                      sc_error *err) {
    if (!dir || !out) {
        sc_checkpoint_close(given);
        return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_model_load: NULL argument");
    }
    if (!sc_path_is_dir(dir)) {
        sc_checkpoint_close(given);
        return sc_fail(err, SC_ERR_MISSING, SC_NO_OFFSET, "%s: no such model directory", dir);
    }
    sc_model *m = calloc(1, sizeof *m);
    if (!m) {
        sc_checkpoint_close(given);
        return sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    }
    m->ck = given;
    m->params = params ? *params : sc_model_default_params();
    m->dir = strdup(dir);
    char *cfg_path = sc_path_join(dir, "config.json");
    char *gen_path = sc_path_join(dir, "generation_config.json");
    sc_status st = SC_OK;
    if (!m->dir || !cfg_path || !gen_path) st = sc_fail(err, SC_ERR_NOMEM, SC_NO_OFFSET, "out of memory");
    if (!st) st = sc_config_load(cfg_path, &m->cfg, err);
    if (!st) st = sc_generation_config_load(gen_path, &m->cfg, &m->gen, err);
    const int readers = m->params.context        ? sc_context_threads(m->params.context)
                        : m->params.n_threads > 0 ? m->params.n_threads
                                                  : sc_pool_default_threads();
    const sc_checkpoint_read how = {m->params.no_mmap, readers, m->params.progress, m->params.progress_ctx};
    if (!st && !m->ck) st = sc_checkpoint_open_read(dir, m->params.format, &how, &m->ck, err);
    m->params.progress = NULL; /* the caller's context is not kept past the load */
    m->params.progress_ctx = NULL;
    if (!st) st = bind_weights(m, err);
    if (!st && m->params.context) {
        m->ctx = sc_context_ref(m->params.context);
    } else if (!st) {
        sc_context_params cp = sc_context_default_params();
        cp.n_threads = m->params.n_threads;
        st = sc_context_new(&cp, &m->ctx, err);
    }
    m->params.context = NULL; /* m->ctx holds it */
    free(cfg_path);
    free(gen_path);
    if (st) {
        sc_model_free(m);
        return st;
    }
    m->kern = m->params.reference_kernels ? sc_kernels_ref()
              : m->params.kernels         ? sc_kernels_select(m->params.kernels)
                                          : sc_kernels_best();
    if (!m->kern) {
        sc_status bad = sc_fail(err, SC_ERR_UNSUPPORTED, SC_NO_OFFSET,
                                "kernels '%s' are unknown or not supported by this CPU", m->params.kernels);
        sc_model_free(m);
        return bad;
    }
    m->params.kernels = NULL; /* the caller's string is not kept */
    if ((st = convert_weights(m, err)) ||
        (st = sc_expert_store_configure(m->experts, m->params.dtype, m->kern, m->params.max_memory, err))) {
        sc_model_free(m);
        return st;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_model_load(const char *dir, const sc_model_params *params, sc_model **out, sc_error *err) {
    return load(dir, NULL, params, out, err);
}

sc_status sc_model_load_checkpoint(const char *dir, sc_checkpoint *ck, const sc_model_params *params,
                                   sc_model **out, sc_error *err) {
    if (!ck) return sc_fail(err, SC_ERR_INVALID_ARG, SC_NO_OFFSET, "sc_model_load_checkpoint: no checkpoint");
    return load(dir, ck, params, out, err);
}

void sc_model_free(sc_model *m) {
    if (!m) return;
    sc_expert_store_free(m->experts);
    sc_owned_list_free(&m->converted);
    free(m->enc.blocks);
    free(m->dec.blocks);
    sc_free_aligned(m->f32_copies);
    sc_checkpoint_close(m->ck);
    sc_context_free(m->ctx);
    free(m->dir);
    free(m);
}

size_t sc_model_expert_resident_bytes(const sc_model *m) { return sc_expert_store_resident_bytes(m->experts); }
size_t sc_model_expert_peak_bytes(const sc_model *m) { return sc_expert_store_peak_bytes(m->experts); }

int64_t sc_model_vocab_size(const sc_model *m) { return m->cfg.vocab_size; }
int64_t sc_model_d_model(const sc_model *m) { return m->cfg.d_model; }
int32_t sc_model_pad_id(const sc_model *m) { return (int32_t)m->cfg.pad_token_id; }
int32_t sc_model_eos_id(const sc_model *m) { return (int32_t)m->cfg.eos_token_id; }
int32_t sc_model_decoder_start_id(const sc_model *m) { return (int32_t)m->cfg.decoder_start_token_id; }
sc_context *sc_model_context(const sc_model *m) { return m ? m->ctx : NULL; }

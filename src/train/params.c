/* The trainable parameter set (see params.h): building the list in Hugging
 * Face's named_parameters() order, reading it from a checkpoint, zeroing
 * gradients. PyTorch registers a block's sub-modules in construction order,
 * so attention weights come before their layer_norm and the router before
 * the experts, unlike the loader's table order in model/hf_names.c. */
#include "train/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/dtype.h"
#include "core/error.h"
#include "io/checkpoint.h"

typedef struct builder {
    sc_train_params *tp;
    size_t cap;
    bool nomem;
} builder;

/* Appends one tensor; returns its index (or -1 after an allocation failure,
 * which is reported once at the end). */
static int add(builder *b, sc_weight_kind kind, int dec, int64_t block, int64_t expert, int ndim, int64_t d0,
               int64_t d1) {
    if (b->nomem) return -1;
    sc_train_params *tp = b->tp;
    if (tp->count == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 64;
        sc_train_param *np = realloc(tp->p, nc * sizeof *np);
        if (!np) {
            b->nomem = true;
            return -1;
        }
        tp->p = np;
        b->cap = nc;
    }
    sc_train_param *p = &tp->p[tp->count];
    memset(p, 0, sizeof *p);
    p->ref = (sc_weight_ref){kind, dec, block, expert, ndim, {d0, ndim > 1 ? d1 : 0}};
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    int64_t dims[2] = {d0, d1};
    if (!sc_hf_name(&p->ref, p->name, sizeof p->name) || !sc_numel(dims, ndim, &p->numel)) {
        b->nomem = true;
        return -1;
    }
    p->w = calloc(p->numel ? p->numel : 1, sizeof(float));
    p->g = calloc(p->numel ? p->numel : 1, sizeof(float));
    tp->count++; /* counted before the check so that free() releases a half-made entry */
    if (!p->w || !p->g) {
        b->nomem = true;
        return -1;
    }
    return (int)(tp->count - 1);
}

static void add_block(builder *b, int dec, int64_t i, sc_train_block_idx *bi) {
    const sc_config *c = &b->tp->cfg;
    const int64_t D = c->d_model, I = c->num_heads * c->d_kv, F = c->d_ff, E = c->num_experts;
    bi->ca_q = bi->ca_k = bi->ca_v = bi->ca_o = bi->ca_ln = -1;
    bi->ff_wi = bi->ff_wo = bi->router_w = bi->router_b = -1;
    bi->sa_q = add(b, SC_W_SA_Q, dec, i, -1, 2, I, D);
    bi->sa_k = add(b, SC_W_SA_K, dec, i, -1, 2, I, D);
    bi->sa_v = add(b, SC_W_SA_V, dec, i, -1, 2, I, D);
    bi->sa_o = add(b, SC_W_SA_O, dec, i, -1, 2, D, I);
    if (i == 0)
        b->tp->rel_bias[dec] =
            add(b, SC_W_REL_BIAS, dec, i, -1, 2, c->relative_attention_num_buckets, c->num_heads);
    bi->sa_ln = add(b, SC_W_SA_LN, dec, i, -1, 1, D, 0);
    if (dec) {
        bi->ca_q = add(b, SC_W_CA_Q, dec, i, -1, 2, I, D);
        bi->ca_k = add(b, SC_W_CA_K, dec, i, -1, 2, I, D);
        bi->ca_v = add(b, SC_W_CA_V, dec, i, -1, 2, I, D);
        bi->ca_o = add(b, SC_W_CA_O, dec, i, -1, 2, D, I);
        bi->ca_ln = add(b, SC_W_CA_LN, dec, i, -1, 1, D, 0);
    }
    bi->sparse = sc_config_block_is_sparse(c, dec, i);
    if (bi->sparse) {
        bi->router_w = add(b, SC_W_ROUTER_W, dec, i, -1, 2, E, D);
        if (c->router_bias) bi->router_b = add(b, SC_W_ROUTER_B, dec, i, -1, 1, E, 0);
        bi->ex_wi = malloc((size_t)E * sizeof(int));
        bi->ex_wo = malloc((size_t)E * sizeof(int));
        if (!bi->ex_wi || !bi->ex_wo) {
            b->nomem = true;
            return;
        }
        for (int64_t e = 0; e < E; e++) {
            bi->ex_wi[e] = add(b, SC_W_EXPERT_WI, dec, i, e, 2, F, D);
            bi->ex_wo[e] = add(b, SC_W_EXPERT_WO, dec, i, e, 2, D, F);
        }
    } else {
        bi->ff_wi = add(b, SC_W_FF_WI, dec, i, -1, 2, F, D);
        bi->ff_wo = add(b, SC_W_FF_WO, dec, i, -1, 2, D, F);
    }
    bi->ff_ln = add(b, SC_W_FF_LN, dec, i, -1, 1, D, 0);
}

sc_status sc_train_params_new(const sc_config *c, sc_train_params **out, sc_error *err) {
    if (!c || !out) return sc_fail(err, SC_ERR_INVALID_ARG, 0, "train params: NULL argument");
    if (c->gated)
        return sc_fail(err, SC_ERR_UNSUPPORTED, 0,
                       "train params: gated feed-forward layers are not supported for training");
    sc_train_params *tp = calloc(1, sizeof *tp);
    if (!tp) return sc_fail(err, SC_ERR_NOMEM, 0, "train params: out of memory");
    tp->cfg = *c;
    tp->lm_head = -1;
    tp->rel_bias[0] = tp->rel_bias[1] = -1;
    builder b = {tp, 0, false};
    tp->shared = add(&b, SC_W_SHARED, 0, -1, -1, 2, c->vocab_size, c->d_model);
    for (int dec = 0; dec < 2 && !b.nomem; dec++) {
        tp->n_blocks[dec] = dec ? c->num_decoder_layers : c->num_layers;
        tp->blocks[dec] = calloc((size_t)tp->n_blocks[dec] + 1, sizeof(sc_train_block_idx));
        if (!tp->blocks[dec]) {
            b.nomem = true;
            break;
        }
        for (int64_t i = 0; i < tp->n_blocks[dec] && !b.nomem; i++)
            add_block(&b, dec, i, &tp->blocks[dec][i]);
        tp->final_ln[dec] = add(&b, SC_W_FINAL_LN, dec, -1, -1, 1, c->d_model, 0);
    }
    if (!c->tie_word_embeddings) tp->lm_head = add(&b, SC_W_LM_HEAD, 1, -1, -1, 2, c->vocab_size, c->d_model);
    if (b.nomem) {
        sc_train_params_free(tp);
        return sc_fail(err, SC_ERR_NOMEM, 0, "train params: out of memory (or a name too long)");
    }
    *out = tp;
    return SC_OK;
}

void sc_train_params_free(sc_train_params *tp) {
    if (!tp) return;
    for (size_t i = 0; i < tp->count; i++) {
        free(tp->p[i].w);
        free(tp->p[i].g);
    }
    free(tp->p);
    for (int s = 0; s < 2; s++) {
        if (!tp->blocks[s]) continue;
        for (int64_t i = 0; i < tp->n_blocks[s]; i++) {
            free(tp->blocks[s][i].ex_wi);
            free(tp->blocks[s][i].ex_wo);
        }
        free(tp->blocks[s]);
    }
    free(tp);
}

void sc_train_params_zero_grad(sc_train_params *tp) {
    for (size_t i = 0; i < tp->count; i++) memset(tp->p[i].g, 0, tp->p[i].numel * sizeof(float));
}

sc_train_param *sc_train_params_find(sc_train_params *tp, const char *name) {
    for (size_t i = 0; i < tp->count; i++)
        if (!strcmp(tp->p[i].name, name)) return &tp->p[i];
    return NULL;
}

size_t sc_train_params_numel(const sc_train_params *tp) {
    size_t n = 0;
    for (size_t i = 0; i < tp->count; i++) n += tp->p[i].numel;
    return n;
}

/* The stored tensor for `name`; a checkpoint may hold shared.weight only under
 * a tied alias (a .bin written from encoder.embed_tokens). */
static const sc_tensor_entry *find_entry(const sc_checkpoint *ck, const char *name) {
    const sc_tensor_entry *e = sc_checkpoint_find(ck, name);
    if (e || strcmp(name, "shared.weight") != 0) return e;
    e = sc_checkpoint_find(ck, "encoder.embed_tokens.weight");
    return e ? e : sc_checkpoint_find(ck, "decoder.embed_tokens.weight");
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

sc_status sc_train_params_load(const char *dir, sc_train_params **out, sc_error *err) {
    if (!dir || !out) return sc_fail(err, SC_ERR_INVALID_ARG, 0, "train params: NULL argument");
    size_t dl = strlen(dir);
    char *cfg_path = malloc(dl + sizeof "/config.json");
    if (!cfg_path) return sc_fail(err, SC_ERR_NOMEM, 0, "train params: out of memory");
    memcpy(cfg_path, dir, dl);
    memcpy(cfg_path + dl, "/config.json", sizeof "/config.json");
    sc_config c;
    sc_status st = sc_config_load(cfg_path, &c, err);
    free(cfg_path);
    if (st != SC_OK) return st;
    sc_train_params *tp = NULL;
    if ((st = sc_train_params_new(&c, &tp, err)) != SC_OK) return st;
    sc_checkpoint *ck = NULL;
    if ((st = sc_checkpoint_open(dir, -1, &ck, err)) != SC_OK) {
        sc_train_params_free(tp);
        return st;
    }
    for (size_t i = 0; i < tp->count && st == SC_OK; i++) {
        sc_train_param *p = &tp->p[i];
        const sc_tensor_entry *e = find_entry(ck, p->name);
        if (!e) {
            st = sc_fail(err, SC_ERR_MISSING, 0, "%s: tensor %s is missing", dir, p->name);
            break;
        }
        const sc_tensor *v = &e->view;
        bool shape_ok =
            v->ndim == p->ndim && v->shape[0] == p->shape[0] && (p->ndim == 1 || v->shape[1] == p->shape[1]);
        if (!shape_ok) {
            char have[64], want[64];
            shape_str(have, sizeof have, v->ndim, v->shape);
            shape_str(want, sizeof want, p->ndim, p->shape);
            st = sc_fail(err, SC_ERR_SHAPE, e->file_offset, "%s: tensor %s has shape %s, want %s", e->file,
                         p->name, have, want);
            break;
        }
        if (v->dtype != SC_DTYPE_F32 && v->dtype != SC_DTYPE_F16 && v->dtype != SC_DTYPE_BF16) {
            st = sc_fail(err, SC_ERR_SHAPE, e->file_offset,
                         "%s: tensor %s is not f32, f16 or bf16; training needs float weights", e->file,
                         p->name);
            break;
        }
        sc_convert_to_f32(p->w, v->data, v->dtype, p->numel);
    }
    sc_checkpoint_close(ck);
    if (st != SC_OK) {
        sc_train_params_free(tp);
        return st;
    }
    *out = tp;
    return SC_OK;
}

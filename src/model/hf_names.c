/* The Hugging Face name table (see hf_names.h). Templates use {S} for the
 * stack ("encoder"/"decoder"), {B} block, {L} the feed-forward sub-layer
 * index (1 in encoder blocks, 2 in decoder blocks), {E} expert. */
#include "model/hf_names.h"

#include <stdio.h>
#include <string.h>

static const char *const templates[SC_W_KIND_COUNT] = {
    [SC_W_SHARED] = "shared.weight",
    [SC_W_LM_HEAD] = "lm_head.weight",
    [SC_W_FINAL_LN] = "{S}.final_layer_norm.weight",
    [SC_W_REL_BIAS] = "{S}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
    [SC_W_SA_LN] = "{S}.block.{B}.layer.0.layer_norm.weight",
    [SC_W_SA_Q] = "{S}.block.{B}.layer.0.SelfAttention.q.weight",
    [SC_W_SA_K] = "{S}.block.{B}.layer.0.SelfAttention.k.weight",
    [SC_W_SA_V] = "{S}.block.{B}.layer.0.SelfAttention.v.weight",
    [SC_W_SA_O] = "{S}.block.{B}.layer.0.SelfAttention.o.weight",
    [SC_W_CA_LN] = "{S}.block.{B}.layer.1.layer_norm.weight",
    [SC_W_CA_Q] = "{S}.block.{B}.layer.1.EncDecAttention.q.weight",
    [SC_W_CA_K] = "{S}.block.{B}.layer.1.EncDecAttention.k.weight",
    [SC_W_CA_V] = "{S}.block.{B}.layer.1.EncDecAttention.v.weight",
    [SC_W_CA_O] = "{S}.block.{B}.layer.1.EncDecAttention.o.weight",
    [SC_W_FF_LN] = "{S}.block.{B}.layer.{L}.layer_norm.weight",
    [SC_W_FF_WI] = "{S}.block.{B}.layer.{L}.mlp.wi.weight",
    [SC_W_FF_WI0] = "{S}.block.{B}.layer.{L}.mlp.wi_0.weight",
    [SC_W_FF_WI1] = "{S}.block.{B}.layer.{L}.mlp.wi_1.weight",
    [SC_W_FF_WO] = "{S}.block.{B}.layer.{L}.mlp.wo.weight",
    [SC_W_ROUTER_W] = "{S}.block.{B}.layer.{L}.mlp.router.classifier.weight",
    [SC_W_ROUTER_B] = "{S}.block.{B}.layer.{L}.mlp.router.classifier.bias",
    [SC_W_EXPERT_WI] = "{S}.block.{B}.layer.{L}.mlp.experts.expert_{E}.wi.weight",
    [SC_W_EXPERT_WI0] = "{S}.block.{B}.layer.{L}.mlp.experts.expert_{E}.wi_0.weight",
    [SC_W_EXPERT_WI1] = "{S}.block.{B}.layer.{L}.mlp.experts.expert_{E}.wi_1.weight",
    [SC_W_EXPERT_WO] = "{S}.block.{B}.layer.{L}.mlp.experts.expert_{E}.wo.weight",
};

bool sc_hf_name(const sc_weight_ref *ref, char *buf, size_t cap) {
    if ((unsigned)ref->kind >= SC_W_KIND_COUNT || cap == 0) return false;
    const char *t = templates[ref->kind];
    size_t n = 0;
    while (*t) {
        char piece[32];
        const char *s = piece;
        if (t[0] == '{' && t[1] && t[2] == '}') {
            switch (t[1]) {
            case 'S': s = ref->decoder ? "decoder" : "encoder"; break;
            case 'B': snprintf(piece, sizeof piece, "%lld", (long long)ref->block); break;
            case 'L': s = ref->decoder ? "2" : "1"; break;
            case 'E': snprintf(piece, sizeof piece, "%lld", (long long)ref->expert); break;
            default: return false;
            }
            t += 3;
        } else {
            piece[0] = *t++;
            piece[1] = '\0';
        }
        size_t len = strlen(s);
        if (n + len >= cap) return false;
        memcpy(buf + n, s, len);
        n += len;
    }
    buf[n] = '\0';
    return true;
}

static bool emit(bool (*fn)(void *, const sc_weight_ref *), void *ctx, sc_weight_kind kind,
                 int decoder, int64_t block, int64_t expert, int ndim, int64_t d0, int64_t d1) {
    sc_weight_ref r = {kind, decoder, block, expert, ndim, {d0, d1}};
    return fn(ctx, &r);
}

static bool for_each_block(const sc_config *c, int dec, int64_t b,
                           bool (*fn)(void *, const sc_weight_ref *), void *ctx) {
    const int64_t D = c->d_model, I = c->num_heads * c->d_kv, F = c->d_ff, E = c->num_experts;
#define EMIT(kind, e, nd, a, bb) \
    if (!emit(fn, ctx, kind, dec, b, e, nd, a, bb)) return false
    EMIT(SC_W_SA_LN, -1, 1, D, 0);
    EMIT(SC_W_SA_Q, -1, 2, I, D);
    EMIT(SC_W_SA_K, -1, 2, I, D);
    EMIT(SC_W_SA_V, -1, 2, I, D);
    EMIT(SC_W_SA_O, -1, 2, D, I);
    if (b == 0) EMIT(SC_W_REL_BIAS, -1, 2, c->relative_attention_num_buckets, c->num_heads);
    if (dec) {
        EMIT(SC_W_CA_LN, -1, 1, D, 0);
        EMIT(SC_W_CA_Q, -1, 2, I, D);
        EMIT(SC_W_CA_K, -1, 2, I, D);
        EMIT(SC_W_CA_V, -1, 2, I, D);
        EMIT(SC_W_CA_O, -1, 2, D, I);
    }
    EMIT(SC_W_FF_LN, -1, 1, D, 0);
    if (sc_config_block_is_sparse(c, dec, b)) {
        EMIT(SC_W_ROUTER_W, -1, 2, E, D);
        if (c->router_bias) EMIT(SC_W_ROUTER_B, -1, 1, E, 0);
        for (int64_t e = 0; e < E; e++) {
            if (c->gated) {
                EMIT(SC_W_EXPERT_WI0, e, 2, F, D);
                EMIT(SC_W_EXPERT_WI1, e, 2, F, D);
            } else {
                EMIT(SC_W_EXPERT_WI, e, 2, F, D);
            }
            EMIT(SC_W_EXPERT_WO, e, 2, D, F);
        }
    } else {
        if (c->gated) {
            EMIT(SC_W_FF_WI0, -1, 2, F, D);
            EMIT(SC_W_FF_WI1, -1, 2, F, D);
        } else {
            EMIT(SC_W_FF_WI, -1, 2, F, D);
        }
        EMIT(SC_W_FF_WO, -1, 2, D, F);
    }
#undef EMIT
    return true;
}

bool sc_hf_for_each(const sc_config *c, bool (*fn)(void *ctx, const sc_weight_ref *ref), void *ctx) {
    if (!emit(fn, ctx, SC_W_SHARED, 0, -1, -1, 2, c->vocab_size, c->d_model)) return false;
    if (!c->tie_word_embeddings &&
        !emit(fn, ctx, SC_W_LM_HEAD, 1, -1, -1, 2, c->vocab_size, c->d_model))
        return false;
    for (int dec = 0; dec < 2; dec++) {
        int64_t n = dec ? c->num_decoder_layers : c->num_layers;
        for (int64_t b = 0; b < n; b++)
            if (!for_each_block(c, dec, b, fn, ctx)) return false;
        if (!emit(fn, ctx, SC_W_FINAL_LN, dec, -1, -1, 1, c->d_model, 0)) return false;
    }
    return true;
}

bool sc_hf_is_alias(const sc_config *c, const char *name) {
    if (!strcmp(name, "encoder.embed_tokens.weight") || !strcmp(name, "decoder.embed_tokens.weight"))
        return true;
    return c->tie_word_embeddings && !strcmp(name, "lm_head.weight");
}

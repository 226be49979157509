/* Session internals: per-request state over an immutable model, and the
 * hooks the verify tool and the loss computation use. */
#ifndef SC_MODEL_SESSION_H
#define SC_MODEL_SESSION_H

#include "model/expert_stats.h"
#include "model/model.h"
#include "model/workspace.h"

/* Called with every named intermediate of a forward pass (HF names:
 * "encoder_hidden_states.3", "decoder.block.1.router_logits", ...). The data
 * is only valid during the call. */
typedef void (*sc_trace_fn)(void *ctx, const char *name, sc_dtype dtype, const void *data, int ndim,
                            const int64_t *shape);

typedef struct sc_layer_cache {
    float *k, *v;             /* self-attention [rows, cap, I] */
    float *ck, *cv;           /* cross-attention [rows, S, I] */
} sc_layer_cache;

struct sc_session {
    const sc_model *m;
    sc_drop_policy policy;
    int64_t rows, S;          /* batch rows and encoder length */
    float *enc_out;           /* [rows, S, D] */
    int32_t *enc_mask;        /* [rows, S] */
    int64_t enc_cap;          /* tokens (rows x S) enc_out and enc_mask hold */
    int64_t cross_cap;        /* tokens each layer's ck/cv hold */
    bool cross_ready;         /* ck/cv are the projections of this enc_out (made by the first
                                 decode or row selection after an encode, not by the encode:
                                 an encode-only caller never pays for them) */
    sc_layer_cache *layers;   /* [num_decoder_layers] */
    int64_t cap, len;         /* self-attention cache capacity and fill */
    sc_workspace ws;
    sc_pool *pool;            /* the context's pool while held (sc_session_hold), else NULL */
    int hold;                 /* nesting depth of sc_session_hold */
    sc_trace_fn trace;
    void *trace_ctx;
    sc_expert_stats stats;    /* per sparse layer, since creation or reset */
};

/* Takes the model context's pool for a unit of work (s->pool is set while
 * held). Calls nest: only the outermost takes and gives back the pool, so a
 * public call may run others (a forward runs an encode and a decode). Every
 * entry point that reaches the kernels holds the session. */
void sc_session_hold(sc_session *s);
void sc_session_release(sc_session *s);

void sc_session_set_trace(sc_session *s, sc_trace_fn fn, void *ctx);
void sc_session_set_drop_policy(sc_session *s, sc_drop_policy p);

/* Runs the decoder on T new tokens per row (tokens[rows, T]) after what the
 * cache holds, appending them to the cache. Causal self-attention; the
 * capacity rule sees the T tokens of each row as one group (HF's teacher-
 * forced call when the cache is empty, one token per step when generating).
 * logits[rows, T, V] and/or hidden[rows, T, D] (final-norm output) may be NULL. */
sc_status sc_session_decode(sc_session *s, const int32_t *tokens, int64_t T, float *logits,
                            float *hidden, sc_error *err);

#endif

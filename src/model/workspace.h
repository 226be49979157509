/* A session's scratch: a few named slots that grow to the largest size ever
 * asked and are then reused, so steady-state decoding allocates nothing. */
#ifndef SC_MODEL_WORKSPACE_H
#define SC_MODEL_WORKSPACE_H

#include <stddef.h>

enum {
    SC_WS_X,       /* normed activations            [N, D] */
    SC_WS_Q,       /* queries                       [N, I] */
    SC_WS_K,       /* keys (encoder self-attention) [N, I] */
    SC_WS_V,       /* values                        [N, I] */
    SC_WS_CTX,     /* attention context             [N, I] */
    SC_WS_OUT,     /* sub-layer output              [N, D] */
    SC_WS_ROW,     /* attention score row           [Tk] */
    SC_WS_FF,      /* dense FF hidden               [N, F] */
    SC_WS_FF1,     /* gated FF linear branch        [N, F] */
    SC_WS_LOGITS,  /* router logits / probs         [N, E] */
    SC_WS_ROUTE,   /* router decisions              [N] ints */
    SC_WS_ORDER,   /* tokens sorted by expert       [N + E + 1] ints */
    SC_WS_GATHER,  /* an expert's gathered tokens   [N, D] */
    SC_WS_EXPOUT,  /* an expert's outputs           [N, D] */
    SC_WS_BUCKETS, /* relative bucket per distance  ints */
    SC_WS_HIDDEN,  /* decoder residual stream       [N, D] */
    SC_WS_PMAX,    /* top-1 router probability      [N] */
    SC_WS_COUNTS,  /* per-expert counters           [E] ints */
    SC_WS_SELECT,  /* row reordering (beam search)  one cache array */
    SC_WS_COUNT
};

typedef struct sc_workspace {
    void *slot[SC_WS_COUNT];
    size_t cap[SC_WS_COUNT];
} sc_workspace;

/* At least `bytes` bytes in slot i (contents not preserved on growth);
 * NULL on overflow/OOM. */
void *sc_ws_get(sc_workspace *ws, int i, size_t bytes);
/* Overflow-checked n * elem_size variant. */
void *sc_ws_array(sc_workspace *ws, int i, size_t n, size_t elem_size);
void sc_ws_free(sc_workspace *ws);

#endif

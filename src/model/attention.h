/* T5 attention: relative position buckets and the fused per-head attention
 * (scores + relative bias + mask + softmax + V) without 1/sqrt(d) scaling.
 *
 * Dimension letters: Tq query positions, Tk key positions, H heads,
 * Dh d_kv, I = H*Dh (row stride of q/k/v/ctx). */
#ifndef SC_MODEL_ATTENTION_H
#define SC_MODEL_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

/* HF T5Attention._relative_position_bucket for relative = key - query. */
int32_t sc_relative_bucket(int64_t relative, bool bidirectional, int64_t num_buckets,
                           int64_t max_distance);

typedef struct sc_attn_args {
    const float *q;        /* [Tq, I] */
    const float *k;        /* [Tk, I] */
    const float *v;        /* [Tk, I] */
    float *ctx;            /* [Tq, I] output */
    int64_t Tq, Tk, H, Dh;
    const int32_t *key_mask; /* [Tk] 1 = attend, 0 = masked; NULL = all */
    /* Relative bias: bias_table[R, H] indexed by bucket_of[key - query + bucket_off],
     * NULL for cross-attention. */
    const float *bias_table;
    const int32_t *bucket_of;
    int64_t bucket_off;
    int64_t q_pos0;        /* absolute position of query 0 */
    bool causal;           /* keys after the query's position are masked */
    float *scratch;        /* [Tk] */
} sc_attn_args;

void sc_attention(const sc_attn_args *a);

#endif

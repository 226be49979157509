/* T5 attention: relative position buckets and the fused per-head attention
 * (scores + relative bias + mask + softmax + V) without 1/sqrt(d) scaling.
 *
 * Dimension letters: Tq query positions, Tk key positions, H heads,
 * Dh d_kv, I = H*Dh (row stride of q/k/v/ctx). */
#ifndef SC_MODEL_ATTENTION_H
#define SC_MODEL_ATTENTION_H

#include "core/pool.h"

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
    /* scratch_rows slots of sc_attention_task_floats(Tq, Tk, Dh) floats (0
     * counts as 1): one slot per task, so sc_attention runs at most
     * scratch_rows tasks at once. */
    float *scratch;
    int64_t scratch_rows;
    /* Pool to split heads x query rows over; NULL = the calling thread. Only
     * used when scratch_rows >= 2. */
    sc_pool *pool;
} sc_attn_args;

/* Scratch slots sc_attention can use with `pool` (its thread count; 1 for
 * NULL): give it sc_attention_scratch_rows(pool) * sc_attention_task_floats()
 * floats and set scratch_rows to that number. */
int64_t sc_attention_scratch_rows(const sc_pool *pool);
/* Floats of one slot (at least Tk; more for the query-block kernel). */
int64_t sc_attention_task_floats(int64_t Tq, int64_t Tk, int64_t Dh);

/* ctx = softmax(q k^T + bias + mask) v per head, split over a->pool with
 * vectorized dot products where the CPU has AVX-512. Equals
 * sc_attention_ref up to summation order (tested at 1e-5 relative). */
void sc_attention(const sc_attn_args *a);
/* The scalar reference: one task, the first Tk floats of scratch, pool ignored. */
void sc_attention_ref(const sc_attn_args *a);

#endif

/* T5 attention (see attention.h). One query row at a time per head: scores
 * are formed, biased, masked and soft-maxed in a [Tk] scratch row, then used
 * to mix V; no [H, Tq, Tk] temporary. */
#include "model/attention.h"

#include <math.h>

int32_t sc_relative_bucket(int64_t relative, bool bidirectional, int64_t num_buckets,
                           int64_t max_distance) {
    int64_t bucket = 0;
    int64_t nb = num_buckets;
    int64_t rp;
    if (bidirectional) {
        nb /= 2;
        if (relative > 0) bucket += nb;
        rp = relative < 0 ? -relative : relative;
    } else {
        rp = relative < 0 ? -relative : 0;
    }
    int64_t max_exact = nb / 2;
    if (rp < max_exact) return (int32_t)(bucket + rp);
    /* HF computes this in float32: log(rp / max_exact) / log(max_distance / max_exact)
     * * (nb - max_exact), truncated toward zero, then clamped to nb - 1. */
    float ratio = (float)rp / (float)max_exact;
    float denom = (float)log((double)max_distance / (double)max_exact);
    float val = logf(ratio) / denom * (float)(nb - max_exact);
    int64_t large = max_exact + (int64_t)val;
    if (large > nb - 1) large = nb - 1;
    return (int32_t)(bucket + large);
}

void sc_attention(const sc_attn_args *a) {
    const int64_t I = a->H * a->Dh;
    float *s = a->scratch;
    for (int64_t h = 0; h < a->H; h++) {
        for (int64_t i = 0; i < a->Tq; i++) {
            const float *qi = a->q + i * I + h * a->Dh;
            const int64_t qpos = a->q_pos0 + i;
            int64_t kend = a->causal ? (qpos + 1 < a->Tk ? qpos + 1 : a->Tk) : a->Tk;
            float mx = -INFINITY;
            for (int64_t j = 0; j < kend; j++) {
                if (a->key_mask && !a->key_mask[j]) {
                    s[j] = -INFINITY;
                    continue;
                }
                const float *kj = a->k + j * I + h * a->Dh;
                float dot = 0.0f;
                for (int64_t d = 0; d < a->Dh; d++) dot += qi[d] * kj[d];
                if (a->bias_table)
                    dot += a->bias_table[(int64_t)a->bucket_of[j - qpos + a->bucket_off] * a->H + h];
                s[j] = dot;
                if (dot > mx) mx = dot;
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < kend; j++) {
                float e = s[j] == -INFINITY ? 0.0f : expf(s[j] - mx);
                s[j] = e;
                sum += e;
            }
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            float *out = a->ctx + i * I + h * a->Dh;
            for (int64_t d = 0; d < a->Dh; d++) out[d] = 0.0f;
            for (int64_t j = 0; j < kend; j++) {
                float p = s[j] * inv;
                if (p == 0.0f) continue;
                const float *vj = a->v + j * I + h * a->Dh;
                for (int64_t d = 0; d < a->Dh; d++) out[d] += p * vj[d];
            }
        }
    }
}
